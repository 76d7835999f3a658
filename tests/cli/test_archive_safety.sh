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
finish
