# test_json.sh: every command honours --json (one JSON value on standard
# output, also when it fails after starting), option errors start with
# "shelf:", and arguments are parsed as documented (a query word '-Lofi' is
# not the library option).
. "$(dirname "$0")/lib.sh"

# js STATUS NAME CMD...: run CMD with --json and check the status; its
# standard output is kept, and check_json (one Python for all) checks that
# each is one JSON value.
mkdir -p "$T/json"
njs=0
js() {
    local want=$1 name=$2
    shift 2
    expect "$want" "$name" "$SHELF" --json "$@"
    njs=$((njs + 1))
    printf '%s' "$name" > "$T/json/$njs.name"
    cp "$T/out" "$T/json/$njs.out"
}
check_json() {
    local bad
    bad=$(python3 - "$T/json" <<'EOF'
import glob, json, os, sys
for f in sorted(glob.glob(os.path.join(sys.argv[1], "*.out"))):
    name = open(f[:-4] + ".name").read()
    try:
        json.loads(open(f).read())
    except ValueError:
        print(name)
EOF
)
    check "$njs commands printed JSON${bad:+; not: $bad}" -z "$bad"
    rm -f "$T"/json/*
}

S="$T/s"
mkdir -p "$S/kit" "$S/piano"
"$SHELF_TG" --seed 1 "$S/kit/kick.wav"
"$SHELF_TG" --seed 2 "$S/kit/snare.wav"
"$SHELF_TG" --seed 3 "$S/kit/lofi-hat.wav"
"$SHELF_TG" --seed 4 "$S/piano/c4.wav"
cat > "$S/piano/grand.sfz" <<'EOF'
<region> sample=c4.wav lokey=c4 hikey=d#4 pitch_keycenter=c4
EOF

# ---- the library and its samples ----------------------------------------------
js 0 "init" init
js 0 "import" import "$S/kit"
js 0 "stats" stats
js 0 "ls" ls
js 0 "search" search kick
js 0 "info" info 1
js 0 "tag add" tag add 1 Dark
check "tag add names the sample" "$(json 'j["ids"]')" = "[1]"
js 0 "tag rm" tag rm 1 Dark
js 0 "rate" rate 1 4
js 0 "fav" fav 1 2
js 0 "touch" touch 1
js 3 "fav of a missing sample" fav 99
check "failed fav lists nothing" "$(json 'j["ids"]')" = "[]"
js 0 "collection new" collection new live
js 0 "collection add" collection add live 1 2
js 0 "collection show" collection show live
js 0 "collection rm" collection rm live 2
js 0 "collection ls" collection ls
js 0 "collection delete" collection delete live
js 0 "synonyms add" synonyms add kick bd
js 0 "synonyms ls" synonyms ls
js 0 "synonyms rm" synonyms rm bd
js 0 "dupes" dupes
js 0 "refs" refs 1
js 0 "verify" verify
js 0 "gc" gc
js 0 "vacuum" vacuum
js 0 "db-backup" db-backup "$T/copy.db"
js 0 "help" help
js 0 "version" version

# ---- patches and projects ---------------------------------------------------------
js 0 "patch import" patch import "$S/piano/grand.sfz"
P=$(json 'j[0]["id"]')
js 0 "patch new" patch new Lead
js 0 "patch show" patch show "$P"
js 0 "patch set" patch set "$P" params/filter/cutoff=1200
js 0 "patch set again" patch set "$P" params/filter/cutoff=900
js 0 "patch ls" patch ls
js 0 "patch history" patch history "$P"
js 0 "patch diff" patch diff "$P"
js 0 "patch touch" patch touch "$P"
js 0 "patch revert" patch revert "$P" 2
check "revert names the new version" "$(json 'j["version"]')" = 4
js 0 "patch revert to the head" patch revert "$P" 4
js 0 "patch export sfz" patch export "$P" "$T/out.sfz"
js 0 "patch export json" patch export "$P" "$T/out.json"
"$SHELF" --json patch show "$P" | sed 's/"cutoff": 1200/"cutoff": 700/' > "$T/doc.json"
js 0 "patch edit --file" patch edit "$P" --file "$T/doc.json" -m edit
check "edit made a version" "$(json 'j["changed"]')" = True
js 0 "patch edit without a change" patch edit "$P" --file "$T/doc.json"
check "no change said in JSON" "$(json 'j["changed"]')" = False
js 0 "patch merge --preview" patch merge "$P" 2 --preview
js 0 "patch merge (nothing to merge)" patch merge "$P" 1
js 0 "undo" undo
js 0 "project new" project new Song --tempo 120
J=$(json 'j["id"]')
js 0 "project add" project add "$J" "patch:$P" 1
js 0 "project drop" project drop "$J" 1
js 0 "automation add" automation add "$J" "patch:$P/params/filter/cutoff" 0:200 8:4000
js 0 "automation show" automation show "$J"
js 0 "project export" project export "$J" "$T/song.json"
js 0 "project import" project import "$T/song.json"
js 0 "patch rm" patch rm 2

# ---- streaming ---------------------------------------------------------------------
js 0 "cache pin" cache pin 1
js 0 "cache stats" cache stats
js 0 "cache unpin" cache unpin 1
js 0 "store frag" store frag 1
js 0 "store optimize --dry-run" store optimize --dry-run 1

# ---- archive, export-media, backup ---------------------------------------------------
js 0 "archive export" archive export --all "$T/a.tar"
js 0 "archive verify" archive verify "$T/a.tar"
js 0 "archive import --preview" archive import --preview "$T/a.tar"
js 0 "export-media" export-media "$T/card"
export SHELF_PASSWORD=secret
js 0 "backup init" backup init --kdf-cost 10 "$T/repo"
js 0 "backup" backup "$T/repo"
SNAP=$(json 'j["id"]' 2>/dev/null || echo latest)
js 0 "backup list" backup list "$T/repo"
js 0 "backup show" backup show "$T/repo" latest
js 0 "backup diff" backup diff "$T/repo" latest latest
js 0 "backup check" backup check "$T/repo"
js 0 "backup repair-index" backup repair-index "$T/repo"
js 0 "backup forget" backup forget --keep-last 5 "$T/repo"
js 0 "backup prune" backup prune --dry-run "$T/repo"
js 0 "backup test-restore" backup test-restore "$T/repo"
js 0 "backup key list" backup key list "$T/repo"
js 0 "restore --preview" restore "$T/repo" latest 1 --preview
js 0 "log" log
js 0 "schedule add" schedule add backup daily 03:00 --target "$T/repo" --keep-last 3
js 0 "schedule ls" schedule ls
js 0 "schedule run" schedule run backup-1
js 0 "schedule run --due" schedule run --due
js 0 "schedule log" schedule log
js 0 "schedule pause" schedule pause backup-1
js 0 "schedule resume" schedule resume backup-1
js 0 "schedule add (to nowhere)" schedule add check hourly --target "$T/no repo" --name lost
js 1 "schedule run (a failed run)" schedule run lost
js 0 "schedule suggest" schedule suggest
js 0 "schedule rm" schedule rm backup-1
unset SHELF_PASSWORD
js 0 "rm" rm --force 3
check_json

# ---- option errors and the global options ---------------------------------------------
for cmd in "ls --bogus" "search --limit" "import --batch" "patch import --bogus x" "backup --bogus x" \
           "archive export --bogus" "stream render --bogus" "store frag --bogus" "fav --on 1" \
           "gc --dry-run=1" "ls -x" "schedule add --bogus" "schedule add backup" "schedule bogus"; do
    # shellcheck disable=SC2086
    expect 2 "option error: $cmd" "$SHELF" $cmd
    case "$err" in
        shelf:*) ok "prefixed: $cmd" ;;
        *) fail "prefixed: $cmd: $err" ;;
    esac
    check "one line: $cmd" "$(printf '%s\n' "$err" | wc -l)" = 1
done

# '-Lofi' after the command is a query word (a negation), not -L ofi.
# "kit" names their folder: a word of their paths once the kit's root
# folds into $S (where a root lives is not words).
"$SHELF" import "$S" >/dev/null 2>&1
expect 0 "search kit" "$SHELF" --json search kit
check "three in the kit" "$(json 'sorted(r["name"] for r in j["results"])')" = "['kick', 'lofi-hat', 'snare']"
cd "$T" || exit 1
expect 0 "search '-Lofi'" "$SHELF" --json search kit -Lofi
check "the library stayed" ! -e "$T/ofi"
check "lofi excluded" "$(json 'sorted(r["name"] for r in j["results"])')" = "['kick', 'snare']"
expect 0 "search -- -Lofi" "$SHELF" --json search -- kit -Lofi
check "lofi excluded after --" "$(json 'sorted(r["name"] for r in j["results"])')" = "['kick', 'snare']"
expect 0 "search -snare is a negation, not --sort nare" "$SHELF" --json search kit -snare
check "snare excluded" "$(json 'sorted(r["name"] for r in j["results"])')" = "['kick', 'lofi-hat']"
expect 0 "-LDIR before the command still names the library" "$SHELF" "-L$SHELF_LIBRARY" --json stats
expect 0 "search -r and --limit stay options" "$SHELF" --json search kit -r --limit 1
check "one result" "$(json 'len(j["results"])')" = 1

# fav ID --off unmarks (options may follow the arguments, as the man page says).
expect 0 "fav ID --off" "$SHELF" fav 1 --off
expect 0 "favourites" "$SHELF" --json ls --fav
check "1 is no favourite now" "$(json '[r["id"] for r in j]')" = "[2]"
expect 3 "rm ID --force takes --force as the option" "$SHELF" rm 99 --force
contains "not a path named --force" "$err" "no sample with id 99"

finish
