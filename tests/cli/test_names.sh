# test_names.sh: every command on samples named with any bytes Linux
# allows (accents, CJK, emoji, spaces, quotes, a newline, a backslash, a
# literal "%41", bytes that are not UTF-8), in the C locale and in a UTF-8
# one: import, ls/search/info (text and --json: a name that is not UTF-8 is
# shown as its text, %XX, and that text, the raw bytes or the id address
# it), backup and restore, archive export/verify/import in tar, tar.zst and
# zip into a second library, export-media --fat, patch export (SFZ and
# JSON) and stream render.  Contents are compared with cmp and names byte
# for byte (doc/formats.md, "Names that are not UTF-8").
. "$(dirname "$0")/lib.sh"

for tool in python3 bsdtar; do
    command -v "$tool" >/dev/null || { echo "skipped: $tool not installed (scripts/install-deps)"; exit 77; }
done

# The names, as bytes.  NL: the one with a newline (SFZ and note scripts
# are lines: it is left out of those, or written as its text).
NAMES=(
    "dossier é/café.wav"
    "鼓 キック.wav"
    "🥁 emoji.wav"
    "it's \"quoted\".wav"
    $'new\nline.wav'
    $'bad\xff\xfe.wav'
    $'latin1 caf\xe9.wav'
    "pct%41 back\\slash.wav"
)
N=${#NAMES[@]}

# jbytes EXPR: like json, but EXPR yields a list of texts; prints each
# decoded to bytes, NUL-separated and sorted (to compare with names).
jbytes() {
    printf '%s' "$out" | python3 -c '
import json, re, sys
j = json.load(sys.stdin)
v = eval(sys.argv[1])
dec = lambda t: re.sub(rb"%([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), t.encode())
sys.stdout.buffer.write(b"\0".join(sorted(dec(t) for t in v)))' "$1"
}

# want_names: the sample names (file names without folder and .wav),
# NUL-separated and sorted, as the library should show them.
want_names() {
    local n
    for n in "${NAMES[@]}"; do
        n=${n##*/}
        printf '%s\0' "${n%.wav}"
    done | python3 -c 'import sys; sys.stdout.buffer.write(b"\0".join(sorted(x for x in sys.stdin.buffer.read().split(b"\0") if x)))'
}
WANT_NAMES=$(want_names | od -An -tx1 | tr -d ' \n')
sorted0() { python3 -c 'import sys; sys.stdout.buffer.write(b"\0".join(sorted(x for x in sys.stdin.buffer.read().split(b"\0") if x)))'; }
WANT_PATHS=$(printf '%s\0' "${NAMES[@]}" | sorted0 | od -An -tx1 | tr -d ' \n')
WANT_BASES=$(for n in "${NAMES[@]}"; do printf '%s\0' "${n##*/}"; done | sorted0 | od -An -tx1 | tr -d ' \n')

C_UTF8=$(locale -a 2>/dev/null | grep -ix 'c\.utf-\?8' | head -1)
LOCALES="C"
if [ -n "$C_UTF8" ]; then LOCALES="C $C_UTF8"; else skip "utf-8 locale" "C.UTF-8 is not installed (locales)"; fi

for loc in $LOCALES; do
    export LC_ALL=$loc LANG=$loc
    P="[$loc]"
    R="$T/src-$loc"
    export SHELF_LIBRARY="$T/lib-$loc"
    mkdir -p "$R/dossier é"
    i=0
    for n in "${NAMES[@]}"; do
        i=$((i + 1))
        "$SHELF_TG" --seed "$i" "$R/$n" || fail "$P write '$n'"
    done

    # ---- import, ls, search, info -------------------------------------------
    expect 0 "$P init" "$SHELF" init
    expect 0 "$P import -v" "$SHELF" import -v "$R"
    contains "$P all imported" "$out" "$N imported"
    check "$P import -v: one line per file" "$(printf '%s\n' "$out" | grep -c '^imported')" = "$N"
    check "$P import -v: the newline escaped" "$(printf '%s\n' "$out" | grep -c '^line\.wav')" = 0
    contains "$P import -v: the text" "$out" "bad%FF%FE.wav"
    expect 0 "$P ls --json" "$SHELF" --json ls
    check "$P every sample has a name and path" "$(json "sum(1 for s in j if isinstance(s.get('name'), str) and isinstance(s.get('path'), str))")" = "$N"
    check "$P names decode to the file names" "$(jbytes '[s["name"] for s in j]' | od -An -tx1 | tr -d ' \n')" = "$WANT_NAMES"
    check "$P paths decode to the files' bytes" \
        "$(jbytes '[s["path"] for s in j]' | od -An -tx1 | tr -d ' \n')" = \
        "$WANT_PATHS"
    BADTEXT=$(json '[s["path"] for s in j if s["name"].startswith("bad")][0]')
    check "$P invalid bytes shown as %XX" "$BADTEXT" = "bad%FF%FE.wav"
    check "$P literal %41 shown as %2541" "$(json '[s["path"] for s in j if s["name"].startswith("pct")][0]')" = 'pct%2541 back\slash.wav'
    BADID=$(json '[s["id"] for s in j if s["name"].startswith("bad")][0]')
    expect 0 "$P ls" "$SHELF" ls
    check "$P ls: one line per sample (the newline escaped)" "$(printf '%s\n' "$out" | wc -l)" = "$N"
    contains "$P ls: newline as %0A" "$out" "new%0Aline.wav"
    contains "$P ls: CJK as is" "$out" "鼓 キック.wav"
    expect 0 "$P search CJK" "$SHELF" --json search "キック"
    check "$P search finds it" "$(json 'len(j["results"]) if isinstance(j, dict) else len(j)')" = 1
    expect 0 "$P search latin1" "$SHELF" --json search latin1
    check "$P search finds the latin-1 name" "$(jbytes '[s["name"] for s in (j["results"] if isinstance(j, dict) else j)]' | od -An -tx1 | tr -d ' \n')" = \
        "$(printf 'latin1 caf\xe9' | od -An -tx1 | tr -d ' \n')"
    expect 0 "$P info by raw bytes" "$SHELF" --json info "$R/"$'bad\xff\xfe.wav'
    check "$P info: the right sample" "$(json 'j["id"] if isinstance(j, dict) else j[0]["id"]')" = "$BADID"
    expect 0 "$P info by the text shown" "$SHELF" --json info "$R/$BADTEXT"
    check "$P info by text: the right sample" "$(json 'j["id"] if isinstance(j, dict) else j[0]["id"]')" = "$BADID"
    expect 0 "$P info by id" "$SHELF" info "$BADID"
    contains "$P info text shows %XX" "$out" "bad%FF%FE.wav"
    expect 0 "$P info with a newline" "$SHELF" info "$R/"$'new\nline.wav'
    contains "$P info: newline escaped" "$out" "new%0Aline"
    mv "$R/"$'bad\xff\xfe.wav' "$T/saved.wav"
    expect 17 "$P verify finds the missing file" "$SHELF" --json verify
    check "$P verify: the problem names it" "$(json '[p["path"] for p in j["problems"]]')" = "['$R/bad%FF%FE.wav']"
    mv "$T/saved.wav" "$R/"$'bad\xff\xfe.wav'
    expect 0 "$P a rescan finds it again" "$SHELF" --json import "$R"
    expect 0 "$P nothing missing" "$SHELF" --json ls
    check "$P nothing missing" "$(json 'sum(s["missing"] for s in j)')" = 0
    expect 0 "$P tag by text" "$SHELF" tag add "$R/$BADTEXT" crunchy
    expect 3 "$P an unknown text is not found" "$SHELF" info "$R/bad%FF%FD.wav"

    # ---- backup and restore ---------------------------------------------------
    # In the C locale only (and patches and stream below): the locale
    # changes nothing there (time: 2 cores shared); archives and what the
    # program prints are checked in both.
    if [ "$loc" = C ]; then
    B="$T/repo-$loc"
    expect 0 "$P backup init" "$SHELF" backup init --no-encryption "$B"
    expect 0 "$P backup" "$SHELF" backup "$B"
    expect 0 "$P backup show --json" "$SHELF" --json backup show "$B" latest
    check "$P snapshot has every sample" "$(json 'sum(1 for i in j["items"] if i["kind"] == "sample")')" = "$N"
    check "$P snapshot paths are text that decodes to the files" \
        "$(jbytes '[i["path"].rsplit("/", 1)[1] for i in j["items"] if i["kind"] == "sample"]' | od -An -tx1 | tr -d ' \n')" = \
        "$WANT_BASES"
    expect 0 "$P backup again (incremental)" "$SHELF" --json backup "$B"
    check "$P unchanged samples not read again" "$(json 'j["items_read"]')" -le 2
    RT="$T/rt-$loc"
    expect 0 "$P restore --to" "$SHELF" restore "$B" latest --to "$RT"
    for n in "${NAMES[@]}"; do
        if cmp -s "$R/$n" "$RT/files$R/$n"; then ok "$P restored byte for byte: $(printf '%q' "$n")"
        else fail "$P restored byte for byte: $(printf '%q' "$n")"; fi
    done
    # A live restore writes the sample back under its own bytes.
    mv "$R/"$'bad\xff\xfe.wav' "$T/saved.wav"
    expect 0 "$P restore one sample in place" "$SHELF" restore "$B" latest "$BADID"
    expect 0 "$P restored file there" cmp "$T/saved.wav" "$R/"$'bad\xff\xfe.wav'
    rm -f "$T/saved.wav"
    fi

    # ---- archives -------------------------------------------------------------------
    for ext in tar tar.zst zip; do
        arc="$T/arc-$loc.$ext"
        if [ "$ext" = tar.zst ] && ! command -v zstd >/dev/null; then
            skip "$P tar.zst: member names" "zstd not installed (scripts/install-deps)"
            members=
        else
            members=1
        fi
        expect 0 "$P $ext: export" "$SHELF" archive export --all "$arc"
        contains "$P $ext: every sample" "$out" "$N samples"
        expect 0 "$P $ext: verify" "$SHELF" archive verify "$arc"
        contains "$P $ext: intact" "$out" "intact"
        # Member names: UTF-8 (strict), no control or backslash, and they
        # decode to the file names.
        [ -n "$members" ] && MEMBERS=$(python3 - "$arc" <<'EOF'
import sys, tarfile, zipfile, re, subprocess
p = sys.argv[1]
if p.endswith(".zip"):
    z = zipfile.ZipFile(p)
    for i in z.infolist():
        if any(ord(c) > 127 for c in i.filename) and not i.flag_bits & 0x800:
            print("NOFLAG", i.filename)
    names = [i.filename for i in z.infolist()]
else:
    import io
    data = open(p, "rb").read()
    if p.endswith(".zst"):
        data = subprocess.run(["zstd", "-dc", p], capture_output=True, check=True).stdout
    t = tarfile.open(fileobj=io.BytesIO(data), encoding="utf-8", errors="strict")
    names = [m.name for m in t.getmembers()]
    for m in t.getmembers():
        if m.pax_headers.get("hdrcharset"):
            print("HDRCHARSET", m.name)
for n in names:
    if re.search(r"[\x00-\x1f\x7f\\]", n):
        print("UNSAFE", repr(n))
dec = lambda t: re.sub(rb"%([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), t.encode())
print("\n".join(sorted(dec(n.rsplit("/", 1)[1]).hex() for n in names if "/data/samples/" in n)))
EOF
)
        [ -n "$members" ] && check "$P $ext: member names UTF-8, safe, flagged" -z "$(printf '%s\n' "$MEMBERS" | grep -E '^(NOFLAG|UNSAFE|HDRCHARSET)')"
        [ -n "$members" ] && check "$P $ext: member names decode to the file names" "$(printf '%s\n' "$MEMBERS" | grep -vE '^(NOFLAG|UNSAFE|HDRCHARSET)')" = \
            "$(for n in "${NAMES[@]}"; do printf '%s' "${n##*/}" | od -An -tx1 | tr -d ' \n'; echo; done | sort)"
        # bsdtar itself needs a UTF-8 locale to show such names.
        [ -n "$C_UTF8" ] && expect 0 "$P $ext: bsdtar lists it" env LC_ALL="$C_UTF8" bsdtar -tf "$arc"
        L2="$T/lib2-$loc-$ext"
        "$SHELF" -L "$L2" init >/dev/null
        expect 0 "$P $ext: import into a second library" "$SHELF" -L "$L2" archive import "$arc"
        contains "$P $ext: all created" "$out" "$N created"
        expect 0 "$P $ext: second library ls" "$SHELF" -L "$L2" --json ls
        check "$P $ext: names byte for byte" "$(jbytes '[s["name"] for s in j]' | od -An -tx1 | tr -d ' \n')" = "$WANT_NAMES"
        check "$P $ext: file names byte for byte" "$(jbytes '[s["path"].rsplit("/", 1)[-1] for s in j]' | od -An -tx1 | tr -d ' \n')" = \
            "$WANT_BASES"
        # Contents: each original against the second library's managed copy.
        bad=0
        for n in "${NAMES[@]}"; do
            h=$(sha256sum < "$R/$n" | cut -c1-64)
            cmp -s "$R/$n" "$L2/objects/${h:0:2}/${h:2:2}/$h" || bad=$((bad + 1))
        done
        check "$P $ext: contents byte for byte (cmp)" "$bad" = 0
        expect 0 "$P $ext: tags kept" "$SHELF" -L "$L2" --json search tag:crunchy
        check "$P $ext: the tagged one is the bad name" "$(jbytes '[s["name"] for s in (j["results"] if isinstance(j, dict) else j)]' | od -An -tx1 | tr -d ' \n')" = "$(printf 'bad\xff\xfe' | od -An -tx1 | tr -d ' \n')"
    done

    # ---- export-media --fat -----------------------------------------------------------
    M="$T/card-$loc"
    expect 0 "$P export-media --fat" "$SHELF" export-media "$M" --fat
    FILES=$(cd "$M" && find . -type f ! -name index -printf '%P\0' | python3 -c '
import sys, re
bad = 0
for p in sys.stdin.buffer.read().split(b"\0"):
    if not p: continue
    try: s = p.decode("utf-8", "strict")
    except UnicodeDecodeError: bad += 1; continue
    if re.search(r"[\x00-\x1f\x7f\"*:<>?\\|]", s) or s.endswith((" ", ".")): bad += 1
print(bad)')
    check "$P fat: every card name is UTF-8 and FAT-safe" "$FILES" = 0
    check "$P fat: every sample on the card" "$(find "$M" -type f ! -name index | wc -l)" = "$N"
    bad=0
    for n in "${NAMES[@]}"; do
        h=$(sha256sum < "$R/$n" | cut -c1-64)
        f=$(grep -aF "$h" "$M/index" | cut -f1)
        cmp -s "$R/$n" "$M/$f" || bad=$((bad + 1))
    done
    check "$P fat: contents byte for byte (cmp)" "$bad" = 0
    if command -v mkfs.vfat >/dev/null && [ "$(id -u)" = 0 ]; then
        truncate -s 32M "$T/fat.img" && mkfs.vfat "$T/fat.img" >/dev/null
        mkdir -p "$T/fatmnt"
        if mount -o loop,utf8 "$T/fat.img" "$T/fatmnt" 2>/dev/null; then
            expect 0 "$P fat: onto a real FAT file system" "$SHELF" export-media "$T/fatmnt/card" --fat
            check "$P fat: all there" "$(find "$T/fatmnt/card" -type f ! -name index | wc -l)" = "$N"
            umount "$T/fatmnt"
        fi
        rm -f "$T/fat.img"
    fi

    [ "$loc" = C ] || continue

    # ---- patch export (SFZ and JSON) ---------------------------------------------------
    # SFZ is lines, and reads '\' as a folder separator: those two names stay out.
    K="$R/kit.sfz"
    { i=0; for n in "${NAMES[@]}"; do
        i=$((i + 1)); case "$n" in *$'\n'* | *\\*) continue ;; esac
        printf '<region> sample=%s lokey=%d hikey=%d\n' "$n" $((35 + i)) $((35 + i))
    done; } > "$K"
    expect 0 "$P patch import" "$SHELF" --json patch import "$K"
    PID=$(json 'j[0]["id"]')
    O="$T/pexp-$loc"
    mkdir -p "$O"
    expect 0 "$P patch export sfz" "$SHELF" patch export "$PID" "$O/kit.sfz"
    # Every copy is one of the samples, byte for byte; the SFZ names the
    # copies with the samples' own bytes (a '"' becomes '_': SFZ's rule).
    bad=0; cnt=0
    for n in "${NAMES[@]}"; do
        case "$n" in *$'\n'* | *\\*) continue ;; esac
        cnt=$((cnt + 1))
        f="$O/kit samples/$(printf '%s' "${n##*/}" | tr '"' _)"
        grep -qaF "sample=kit samples/$(printf '%s' "${n##*/}" | tr '"' _)" "$O/kit.sfz" && cmp -s "$R/$n" "$f" ||
            bad=$((bad + 1))
    done
    check "$P sfz: every sample copied under its own bytes (cmp)" "$bad" = 0
    "$SHELF" -L "$T/lib3-$loc" init >/dev/null
    expect 0 "$P sfz: the export imports into another library" "$SHELF" -L "$T/lib3-$loc" --json patch import "$O/kit.sfz"
    expect 0 "$P sfz: its samples" "$SHELF" -L "$T/lib3-$loc" --json ls
    check "$P sfz: every sample imported" "$(json 'len(j)')" = "$cnt"
    expect 0 "$P patch export json" "$SHELF" patch export "$PID" "$O/kit.json"
    check "$P json: the history is JSON" "$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(len(j["versions"]))' "$O/kit.json")" = 1
    contains "$P json: the name's text" "$(cat "$O/kit.json")" "bad%FF%FE.wav"
    expect 0 "$P json: imports into another library" "$SHELF" -L "$T/lib3-$loc" patch import "$O/kit.json"

    # ---- stream render -------------------------------------------------------------------
    {
        printf 'shelf-notes 1\n'
        printf 'sample %s\n' "src-$loc/"$'bad\xff\xfe.wav' "src-$loc/new%0Aline.wav" "src-$loc/鼓 キック.wav" \
            "src-$loc/dossier é/café.wav" "#$BADID"
        printf 'note %d %d\n' 0 0 10 1 20 2 30 3 40 4
    } > "$T/notes-$loc.txt"
    expect 0 "$P stream render --check" "$SHELF" stream render --check "$T/notes-$loc.txt" "$T/r-$loc.wav"
    contains "$P render: bit-identical" "$out" "bit-identical"
    expect 0 "$P stream render --json" "$SHELF" --json stream render "$T/notes-$loc.txt" "$T/r2-$loc.wav"
    check "$P render: five voices" "$(json 'j["voices"]')" = 5
done

finish
