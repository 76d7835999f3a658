# test_media.sh: shelf export-media: balanced shards, FAT-safe names, the
# index, byte-exact copies and re-runs that touch only what changed.
. "$(dirname "$0")/lib.sh"

S="$T/s"
mkdir -p "$S"
i=0
# Plain names over the alphabet, names equal but for case, characters FAT
# refuses, reserved DOS device names and a long name.
long=$(printf "Long%.0s" $(seq 1 60))
for n in Apple Avocado Banana Bass Cello Clap Drum Dub Echo Fx Gong Hat Kick kick KICK \
         con "AUX.take" "lpt1" "a:b" "q?x" 'star*' 'pipe|' "Lead" Mallet Noise Organ Pad Perc \
         Riser Snare Tom Vox Zap "$long"; do
    i=$((i + 1))
    "$SHELF_TG" --seed "$i" "$S/$n.wav" || fail "generate $n"
done
"$SHELF_TG" --seed 99 "$S/trail .wav"
nsrc=$(ls "$S" | wc -l)
expect 0 "import" "$SHELF" import "$S"
expect 0 "tag" "$SHELF" tag add "$S/Kick.wav" drums punchy

D="$T/card"
expect 0 "export-media --fat" "$SHELF" --json export-media --fat --max-per-dir 5 "$D"
check "every sample written" "$(json 'j["written"]')" = "$nsrc"
check "nothing unchanged on a first run" "$(json 'j["unchanged"]')" = 0

# Shards: at most N files each, sizes within 2 of each other, as many as needed.
sizes=$(for d in "$D"/*/; do ls -A "$d" | wc -l; done | sort -n)
max=$(echo "$sizes" | tail -1); min=$(echo "$sizes" | head -1)
nd=$(echo "$sizes" | wc -l)
check "no folder over 5" "$max" -le 5
check "shards even" $((max - min)) -le 2
check "ceil(n/5) shards" "$nd" -eq $(((nsrc + 4) / 5))
check "files in shards" "$(find "$D" -mindepth 2 -type f | wc -l)" -eq "$nsrc"
check "shard names look like A-C" "$(ls "$D" | grep -v '^index$' | grep -cvE '^[A-Z0-9_]+(-[A-Z0-9_]+)?$')" -eq 0

# FAT-safe names.
names=$(find "$D" -mindepth 2 -type f -printf '%f\n')
check "no FAT-illegal characters" "$(printf '%s\n' "$names" | grep -c '[":*?<>|\\]')" -eq 0
check "no reserved device names" "$(printf '%s\n' "$names" | grep -ciE '^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\.|$)')" -eq 0
check "no trailing dot or space" "$(printf '%s\n' "$names" | grep -cE '[. ]$')" -eq 0
check "no names equal but for case" "$(printf '%s\n' "$names" | tr 'A-Z' 'a-z' | sort | uniq -d | wc -l)" -eq 0
check "case collisions got a suffix" "$(printf '%s\n' "$names" | grep -ciE '^kick( \([0-9]\))?\.wav$')" -eq 3
check "names at most 200 characters" "$(printf '%s\n' "$names" | awk 'length($0) > 200' | wc -l)" -eq 0
check "long name kept its extension" "$(printf '%s\n' "$names" | grep -c '^LongLong.*\.wav$')" -eq 1

# The index: every file, its tags, the same bytes as the sources.
check "index header" "$(head -1 "$D/index")" = "# shelf export-media index 1"
check "index lists every file" "$(grep -vc '^#' "$D/index")" -eq "$nsrc"
check "index paths exist" "$(grep -v '^#' "$D/index" | cut -f1 | while read -r p; do [ -f "$D/$p" ] || echo "$p"; done | wc -l)" -eq 0
check "index carries tags" "$(awk -F'\t' '$5 == "Kick" { print $7 }' "$D/index")" = "drums punchy"
bad=$(grep -v '^#' "$D/index" | while IFS=$'\t' read -r p size sha rest; do
    [ "$(sha256sum < "$D/$p" | cut -d' ' -f1)" = "$sha" ] && [ "$(stat -c %s "$D/$p")" = "$size" ] || echo "$p"
done | wc -l)
check "files match the index" "$bad" -eq 0
check "bytes equal the sources" "$(cd "$S" && sha256sum -- *.wav | cut -d' ' -f1 | sort | sha256sum)" = \
    "$(find "$D" -mindepth 2 -type f -exec sha256sum {} + | cut -d' ' -f1 | sort | sha256sum)"

# A re-run with nothing changed writes nothing.
before=$(stat -c '%i %Y' "$D"/*/* | sha256sum)
expect 0 "re-run" "$SHELF" --json export-media --fat --max-per-dir 5 "$D"
check "re-run writes nothing" "$(json 'j["written"]')" = 0
check "re-run: all unchanged" "$(json 'j["unchanged"]')" = "$nsrc"
check "re-run: files untouched" "$(stat -c '%i %Y' "$D"/*/* | sha256sum)" = "$before"

# A changed sample is rewritten, a removed one deleted.
"$SHELF_TG" --seed 1234 --frames 5000 "$S/Banana.wav"
expect 0 "re-import the changed sample" "$SHELF" import "$S"
expect 0 "rm a sample" "$SHELF" rm "$S/Zap.wav"
expect 0 "export after changes" "$SHELF" --json export-media --fat --max-per-dir 5 "$D"
check "one written" "$(json 'j["written"]')" = 1
check "one removed" "$(json 'j["removed"]')" = 1
check "the rest unchanged or moved" "$(json 'j["unchanged"] + j["moved"]')" = $((nsrc - 2))
check "Zap is gone" "$(find "$D" -name 'Zap.wav' | wc -l)" -eq 0
check "index without Zap" "$(grep -c 'Zap' "$D/index")" -eq 0
bp=$(awk -F'\t' '$5 == "Banana" { print $1 }' "$D/index")
check "Banana has the new bytes" "$(sha256sum < "$D/$bp" | cut -d' ' -f1)" = "$(sha256sum < "$S/Banana.wav" | cut -d' ' -f1)"
check "still no leftovers" "$(find "$D" -name '*.tmp' -o -name '.shelf-staging' | wc -l)" -eq 0
check "files in shards after changes" "$(find "$D" -mindepth 2 -type f | wc -l)" -eq $((nsrc - 1))

# A smaller N reshuffles by renaming, not copying.
expect 0 "smaller shards" "$SHELF" --json export-media --fat --max-per-dir 3 "$D"
check "reshuffle writes nothing" "$(json 'j["written"]')" = 0
check "reshuffle moves" "$(json 'j["moved"]')" -gt 0
sizes=$(for d in "$D"/*/; do ls -A "$d" | wc -l; done | sort -n)
check "no folder over 3" "$(echo "$sizes" | tail -1)" -le 3
check "no empty folders left" "$(echo "$sizes" | head -1)" -ge 1

# --query selects; without --fat the names stay as they were.
expect 0 "query" "$SHELF" --json export-media --query 'tag:drums' "$T/q"
check "query: one file" "$(json 'j["files"]')" = 1
expect 0 "plain names" "$SHELF" export-media "$T/plain"
check "colon kept without --fat" "$(find "$T/plain" -name 'a:b.wav' | wc -l)" -eq 1

# Cuts move to letter boundaries near the ideal ones: 100 names, N = 40,
# ideal cuts at 33 and 67, letters change at 32 and 68.
B="$T/b"
mkdir -p "$B"
for spec in A:16 B:16 C:18 D:18 E:32; do
    l=${spec%%:*}; c=${spec#*:}
    for k in $(seq -w 0 $((c - 1))); do
        "$SHELF_TG" --seed $((i += 1)) --frames 64 "$B/$l$k.wav" || fail "generate $l$k"
    done
done
export SHELF_LIBRARY="$T/lib2"
expect 0 "import 100" "$SHELF" import "$B"
expect 0 "export 100 by 40" "$SHELF" export-media --max-per-dir 40 "$T/b100"
check "folders at letter boundaries" "$(ls "$T/b100" | grep -v '^index$' | tr '\n' ' ')" = "A-B C-D E "
check "their sizes" "$(for d in A-B C-D E; do ls "$T/b100/$d" | wc -l; done | tr '\n' ' ')" = "32 36 32 "
export SHELF_LIBRARY="$T/lib"

# Refusals.
mkdir -p "$T/other"; echo "my notes" > "$T/other/index"
expect 1 "foreign index refused" "$SHELF" export-media "$T/other"
contains "foreign index message" "$err" "not an export-media index"
expect 2 "bad --max-per-dir" "$SHELF" export-media --max-per-dir 0 "$T/x"
expect 2 "bad query" "$SHELF" export-media --query 'tag:' "$T/x"
expect 2 "empty selection refused" "$SHELF" export-media --query 'nosuchwordanywhere' "$T/q"
contains "empty selection message" "$err" "selection is empty"
check "card kept after an empty selection" "$(grep -vc '^#' "$T/q/index")" -eq 1
# Patches: an SFZ patch whose samples are on the card is written as
# PATCHES/NAME.sfz referring to the shard files; a removed one goes away.
mkdir -p "$S/kit"
printf '<region> sample=../Kick.wav key=36\n<region> sample=../Snare.wav key=38\n' > "$S/kit/drums.sfz"
expect 0 "patch import" "$SHELF" --json patch import "$S/kit/drums.sfz"
PID=$(json 'j[0]["id"]')
P="$T/card2"
expect 0 "export-media --patches" "$SHELF" --json export-media --patches "$P"
check "one patch written" "$(json 'j["patches"]')" = 1
check "sfz there" -f "$P/PATCHES/drums.sfz"
n=0; good=0
for p in $(sed -n 's/^sample=//p' "$P/PATCHES/drums.sfz"); do
    n=$((n + 1)); [ -f "$P/PATCHES/$p" ] && good=$((good + 1))
done
check "both regions point at files on the card" "$good/$n" = "2/2"
check "paths go into a shard" "$(sed -n 's/^sample=//p' "$P/PATCHES/drums.sfz" | grep -c '^\.\./[^/]*/[^/]*$')" -eq 2
expect 0 "patch rm" "$SHELF" patch rm "$PID"
expect 0 "export-media --patches again" "$SHELF" --json export-media --patches "$P"
check "no patch now" "$(json 'j["patches"]')" = 0
check "stale sfz removed" ! -e "$P/PATCHES/drums.sfz"
check "samples unchanged on the re-run" "$(json 'j["written"]')" = 0

# A run that fails halfway (a bad sample; kill -9 at random moments) leaves
# nothing outside the index, and a clean run leaves exactly the indexed
# files: no stray copies, no temporary files, no PATCHES without --patches.
export SHELF_LIBRARY="$T/lib-h"
H="$T/h"
mkdir -p "$H/s"
for i in $(seq 1 30); do "$SHELF_TG" --seed $((400 + i)) --frames 60000 "$H/s/h$i.wav"; done
printf '<region> sample=h1.wav key=36\n<region> sample=h2.wav key=38\n' > "$H/s/kit.sfz"
expect 0 "halfway: init" "$SHELF" init
expect 0 "halfway: import" "$SHELF" import "$H/s"
expect 0 "halfway: patch" "$SHELF" patch import "$H/s/kit.sfz"
C="$T/card-h"
# exactly: the files on the card (but the index) are the index's paths
exactly() {
    local want got
    want=$(grep -v '^#' "$C/index" | cut -f1 | sort)
    got=$(cd "$C" && find . -type f ! -name index | sed 's|^\./||' | sort)
    if [ "$want" = "$got" ]; then ok "$1"; else
        fail "$1"; diff <(echo "$want") <(echo "$got") | head -10 >&2; fi
}
# within: no file on the card outside the index (temporary names aside)
within() {
    local stray
    stray=$(cd "$C" && find . -type f ! -name index ! -name index.tmp ! -name '.shelf-*.tmp' \
            ! -path './.shelf-staging/*' ! -path './PATCHES/*' | sed 's|^\./||' | sort |
            comm -23 - <(grep -v '^#' "$C/index" | cut -f1 | sort))
    if [ -z "$stray" ]; then ok "$1"; else fail "$1: $(echo $stray | head -c 300)"; fi
}
expect 0 "halfway: first run with --patches" "$SHELF" export-media --patches --max-per-dir 4 "$C"
check "halfway: PATCHES written" -f "$C/PATCHES/kit.sfz"
# A sample changed behind the catalog's back, in the middle of the order,
# and ten copies gone from the card, so that the next run writes them.
find "$C" -name 'h1?.wav' -delete
cp "$H/s/h17.wav" "$H/h17.orig"
python3 -c 'import sys; f = open(sys.argv[1], "r+b"); f.seek(5000); f.write(b"\x7f" * 64)' "$H/s/h17.wav"
expect 1 "halfway: a bad sample stops the run" "$SHELF" export-media --max-per-dir 3 "$C"
contains "halfway: it says which" "$err" "h17.wav"
within "halfway: after the failure nothing is outside the index"
cp "$H/h17.orig" "$H/s/h17.wav"
expect 0 "halfway: clean run without --patches" "$SHELF" export-media --max-per-dir 7 "$C"
exactly "halfway: exactly the indexed files"
check "halfway: PATCHES removed without --patches" ! -e "$C/PATCHES"
# kill -9 at random moments, alternating shard sizes (so files move).
"$SHELF" export-media --patches --max-per-dir 2 "$T/card-time" >/dev/null
t0=$(date +%s%N)
"$SHELF" export-media --sync --patches --max-per-dir 5 "$T/card-time" >/dev/null
dur=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "kill -9: one run takes $dur ms"
test_seed
nkilled=0
for round in $(seq 1 8); do
    ms=$(( RANDOM % (dur + 10) ))
    kill_after "$ms" "$SHELF" export-media --sync --patches --max-per-dir $((2 + round % 4)) "$C"
    if [ "$killed" -eq 1 ]; then
        nkilled=$((nkilled + 1))
    elif [ "$how" != "exit 0" ]; then
        fail "kill round $round (seed $seed): $how"
    fi
    within "kill round $round (seed $seed, after $ms ms, $how): nothing outside the index"
done
check "kill: some runs died of SIGKILL (seed $seed)" "$nkilled" -ge 1
expect 0 "kill: a clean run" "$SHELF" export-media --max-per-dir 9 "$C"
exactly "kill: exactly the indexed files after the clean run"
check "kill: no PATCHES" ! -e "$C/PATCHES"
unset SHELF_LIBRARY
finish
