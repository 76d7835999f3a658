# test_archive_safety.sh: what real libraries do to archives: renamed and
# copied archives checked against their PAR2 set by content, imported
# samples' origin, kill -9 during an import, projects with missing samples,
# full disks.
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || { echo "skipped: python3 not installed (scripts/install-deps)"; exit 77; }

S="$T/s"
mkdir -p "$S"
for i in 1 2 3; do "$SHELF_TG" --seed "$i" "$S/hit$i.wav"; done
expect 0 "init" "$SHELF" init
expect 0 "import samples" "$SHELF" import "$S"
expect 0 "tag" "$SHELF" tag add "$S/hit3.wav" crunchy
expect 0 "rate" "$SHELF" rate "$S/hit3.wav" 4
expect 0 "favourite" "$SHELF" fav "$S/hit2.wav"

# ---- the file given is the file checked, matched to its PAR2 set by content
A="$T/a"
mkdir -p "$A"
expect 0 "export with parity" "$SHELF" archive export --all "$A/old.tar" --parity 10
expect 0 "another archive" "$SHELF" archive export --query hit1 "$A/other.tar" --parity 10
# Renamed with its parity; another archive now under the old name.
mv "$A/old.tar" "$A/new.tar"
for f in "$A"/old.tar*.par2; do b=${f##*/}; mv "$f" "$A/new${b#old}"; done
cp "$A/other.tar" "$A/old.tar"
python3 - "$A/new.tar" <<'PY'
import sys
f = open(sys.argv[1], 'r+b'); f.seek(3000); f.write(b'\xff' * 40); f.close()
PY
expect 28 "renamed: verify checks the file given (16 + 4 corrupt + 8 repairable)" "$SHELF" archive verify "$A/new.tar"
contains "renamed: its damage named" "$out" "repairable new.tar: parity: 2 of"
"$SHELF" -L "$T/lib-ren" init >/dev/null
expect 0 "renamed: import repairs the file given" "$SHELF" -L "$T/lib-ren" --json archive import "$A/new.tar"
check "renamed: repaired" "$(json 'j["repaired"]')" = True
check "renamed: all three samples" "$(json 'j["created"]')" = 3
# A copy without its parity files: the set beside it is found by content.
cp "$A/new.tar" "$A/copy.tar"
expect 28 "copy: verify finds the set of the original by content" "$SHELF" archive verify "$A/copy.tar"
contains "copy: parity used" "$out" "repairable copy.tar"
"$SHELF" -L "$T/lib-copy" init >/dev/null
expect 0 "copy: import repairs it from that set" "$SHELF" -L "$T/lib-copy" --json archive import "$A/copy.tar"
check "copy: repaired" "$(json 'j["repaired"]')" = True
check "copy: the original set untouched" "$(cmp -s "$A/new.tar" "$A/copy.tar" && echo same)" = same
# The file of the old name is the other archive, intact with its own set.
expect 0 "old name: verify checks that file, not the set's recorded file" "$SHELF" archive verify "$A/old.tar"
contains "old name: parity intact" "$out" "2 files, 9.3 kB checked against SHA-256 and SHA-512; parity intact"

# ---- imported samples keep the archive and member path as their origin
expect 0 "origin: ls" "$SHELF" -L "$T/lib-ren" --json ls
check "origin: the archive is the root" "$(json 'sorted(set(s["root"] for s in j))')" = "['$A/new.tar']"
check "origin: the member path" "$(json 'sorted(s["path"] for s in j)[0].startswith("data/samples/")')" = True
check "origin: no staging folder in the catalog" "$(sqlite3 "$T/lib-ren/shelf.db" "SELECT count(*) FROM roots WHERE path LIKE '%.archive-%'")" = 0
expect 0 "origin: keep both" "$SHELF" -L "$T/lib-ren" archive import --on-conflict keep-both "$A/new.tar"
expect 0 "origin: ls again" "$SHELF" -L "$T/lib-ren" --json ls
check "origin: a second copy is told apart" "$(json 'sum(s["path"].endswith("#2") for s in j)')" = 3

# ---- kill -9 during an import: nothing of the archive or all of it
K="$T/k"
mkdir -p "$K"
for i in $(seq 1 16); do "$SHELF_TG" --seed $((100 + i)) "$K/k$i.wav"; done
cat > "$K/kit.sfz" <<'SFZ'
<region> sample=k1.wav lokey=36 hikey=36
<region> sample=k2.wav lokey=38 hikey=38
SFZ
export SHELF_LIBRARY="$T/lib-k"
expect 0 "kill: source library" "$SHELF" init
expect 0 "kill: import" "$SHELF" import "$K"
expect 0 "kill: patch" "$SHELF" patch import "$K/kit.sfz"
for i in $(seq 1 16); do "$SHELF" tag add "$K/k$i.wav" "kt$i" >/dev/null || fail "tag k$i"; done
expect 0 "kill: rate" "$SHELF" rate "$K/k7.wav" 5
expect 0 "kill: favourite" "$SHELF" fav "$K/k9.wav"
expect 0 "kill: export" "$SHELF" archive export --all "$T/k.tar"
unset SHELF_LIBRARY
want_tags=$(python3 -c 'print(sorted("kt%d" % i for i in range(1, 17)))')

# Time one import, then kill at random moments within it.
"$SHELF" -L "$T/lib-time" init >/dev/null
t0=$(date +%s%N)
"$SHELF" -L "$T/lib-time" archive import "$T/k.tar" >/dev/null || fail "kill: timed import"
dur=$(( ($(date +%s%N) - t0) / 1000000 ))
# kill_after tells SIGKILL from an exit status of 137 and from a finish.
kill_after 500 sh -c 'exit 137'
check "kill_after: exit 137 is not a kill ($how)" "$killed:$how" = "0:exit 137"
kill_after 50 sleep 5
check "kill_after: SIGKILL seen ($how)" "$killed:$st" = "1:137"
kill_after 500 true
check "kill_after: a finish ($how)" "$killed:$how" = "0:exit 0"
echo "kill -9: one import takes $dur ms"
test_seed
nkilled=0 partial=0
for round in $(seq 1 ${SHELF_KILL_ROUNDS:-12}); do
    L="$T/lib-kill"
    rm -rf "$L"
    "$SHELF" -L "$L" init >/dev/null
    ms=$(( RANDOM % (dur + 20) ))
    kill_after "$ms" "$SHELF" -L "$L" archive import "$T/k.tar"
    # Killed by SIGKILL, or it finished first (exit 0); anything else fails.
    if [ "$killed" -eq 1 ]; then
        nkilled=$((nkilled + 1))
    elif [ "$how" != "exit 0" ]; then
        fail "kill round $round (seed $seed): $how"
    fi
    ns=$(sqlite3 "$L/shelf.db" "SELECT count(*) FROM samples")
    np=$(sqlite3 "$L/shelf.db" "SELECT count(*) FROM patches")
    if ! { [ "$ns" -eq 0 ] && [ "$np" -eq 0 ]; } && ! { [ "$ns" -eq 16 ] && [ "$np" -eq 1 ]; }; then
        partial=$((partial + 1))
        echo "kill round $round (seed $seed, after $ms ms, $how): $ns samples and $np patches" >&2
    fi
    # A re-run completes it, tags, rating and favourite included.
    "$SHELF" -L "$L" archive import "$T/k.tar" >/dev/null 2>&1 || fail "kill round $round: re-run"
    out=$("$SHELF" -L "$L" --json ls)
    got=$(json 'sorted(t for s in j for t in s["tags"])')
    [ "$got" = "$want_tags" ] || fail "kill round $round: tags after the re-run: $got"
    [ "$(json '[s["name"] for s in j if s["rating"] == 5]')" = "['k7']" ] || fail "kill round $round: rating"
    [ "$(json '[s["name"] for s in j if s["favourite"]]')" = "['k9']" ] || fail "kill round $round: favourite"
done
check "kill: every library had nothing of the archive or all of it" "$partial" -eq 0
check "kill: some imports died of SIGKILL (seed $seed)" "$nkilled" -ge 1

# ---- a project archive never silently leaves out a sample it references
export SHELF_LIBRARY="$T/lib-m"
M="$T/m"
mkdir -p "$M/ref" "$M/copy"
for i in 1 2 3; do "$SHELF_TG" --seed $((200 + i)) "$M/ref/m$i.wav"; done
cp "$M/ref/m3.wav" "$M/copy/m3-copy.wav"
expect 0 "missing: init" "$SHELF" init
expect 0 "missing: import in place" "$SHELF" import "$M/ref"
expect 0 "missing: the same bytes as a managed copy" "$SHELF" import --copy "$M/copy"
expect 0 "missing: project" "$SHELF" project new "Gig"
expect 0 "missing: project uses all three" "$SHELF" project add 1 "$M/ref/m1.wav" "$M/ref/m2.wav" "$M/ref/m3.wav"
id1=$("$SHELF" --json info "$M/ref/m1.wav" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
expect 0 "missing: a sample removed from the catalog" "$SHELF" rm --force "$id1"
rm "$M/ref/m2.wav" "$M/ref/m3.wav"
expect 3 "missing: refused (exit 3)" "$SHELF" archive export --project 1 "$T/gig.tar"
contains "missing: the removed sample listed" "$out" "missing    sample $id1: used by project 1 'Gig'"
contains "missing: the deleted file listed" "$out" "'m2': '$M/ref/m2.wav' is not on disk, and the store has no copy"
contains "missing: the count" "$err" "2 referenced samples are missing"
check "missing: no archive written" ! -e "$T/gig.tar"
check "missing: m3 was not listed (its bytes are in the store)" "$(printf '%s\n' "$out" | grep -c m3)" -eq 0
expect 0 "missing: --allow-missing" "$SHELF" --json archive export --project 1 "$T/gig.tar" --allow-missing
check "missing: m3 went in from the store" "$(json 'j["samples"]')" = 1
check "missing: both listed in --json" "$(json 'len(j["missing"])')" = 2
expect 0 "missing: the archive verifies" "$SHELF" archive verify "$T/gig.tar"
unset SHELF_LIBRARY

# ---- full disks: "no space left on device" with the path; nothing half done
F="$T/full"
mkdir -p "$F/s" "$F/mnt"
for i in 1 2 3 4; do "$SHELF_TG" --seed $((300 + i)) --frames 200000 "$F/s/b$i.wav"; done
export SHELF_LIBRARY="$T/lib-f"
expect 0 "full: init" "$SHELF" init
expect 0 "full: import" "$SHELF" import "$F/s"
expect 0 "full: export (1.6 MB)" "$SHELF" archive export --all "$F/big.tar"
unset SHELF_LIBRARY
if mount -t tmpfs -o size=2m tmpfs "$F/mnt" 2>/dev/null; then
    "$SHELF" -L "$F/mnt/lib" init >/dev/null
    expect 1 "full: import into a small disk fails" "$SHELF" -L "$F/mnt/lib" archive import "$F/big.tar"
    contains "full: import says no space and names the library" "$err" "into '$F/mnt/lib': no space left on device"
    check "full: not called unsafe" "$(printf '%s' "$err" | grep -c unsafe)" -eq 0
    check "full: no staging left" -z "$(ls -A "$F/mnt/lib" | grep archive-)"
    umount "$F/mnt"
    mount -t tmpfs -o size=2m tmpfs "$F/mnt"
    expect 1 "full: export whose parity does not fit" "$SHELF" -L "$T/lib-f" archive export --all "$F/mnt/out.tar" --parity 50
    contains "full: parity: no space, with the path" "$err" "cannot write '$F/mnt/out.tar.vol"
    contains "full: parity: no space left on device" "$err" "no space left on device"
    check "full: parity: nothing left behind" -z "$(ls -A "$F/mnt")"
    umount "$F/mnt"
    mount -t tmpfs -o size=1m tmpfs "$F/mnt"
    expect 1 "full: export that does not fit" "$SHELF" -L "$T/lib-f" archive export --all "$F/mnt/out.tar"
    contains "full: export: no space, with the path" "$err" "cannot write '$F/mnt/out.tar': no space left on device"
    check "full: export: nothing left behind" -z "$(ls -A "$F/mnt")"
    umount "$F/mnt"
else
    skip "full disks" "cannot mount a tmpfs (not root)"
fi
finish
