#!/bin/bash
# test_serve_dupes.sh: the duplicates view and sync conflicts in `shelf
# serve`.  A library holds five copies of one kick (names with accents,
# CJK, an emoji, a newline and a byte that is not UTF-8; one used by a
# patch), two of a hat, a pad as WAV and as FLAC (the same audio, the FLAC
# used by the patch) and two snares of one name; a second library paired
# with it makes a sync conflict on a patch.  First `shelf dupes fold` from
# the command line, then tests/cli/test_serve_dupes.py checks the API
# (GET /api/dupes, POST /api/dupes/fold, GET /api/conflicts and their
# rules), then tests/browser/dupes.js in Debian's chromium (headless,
# playwright-core): the view by keyboard, audition, keep and fold with
# its dialog, and the sync conflict resolved in the merge dialog.
# Screenshots go to build/*/test-artifacts/serve_dupes/.
. "$(dirname "$0")/lib.sh"

S="$T/samples"
mkdir -p "$S/copy" "$S/kit" "$S/a" "$S/b"
KICK="$S/Kick Café 鼓 🥁.wav"
"$SHELF_TG" --seed 1 --frames 22050 "$KICK"
cp "$KICK" "$S/copy/Kick Café 鼓 🥁.wav"
cp "$KICK" "$S/line"$'\n'"break.wav"
cp "$KICK" "$S/"$'\xff'"raw kick.wav"
cp "$KICK" "$S/kit/k.wav"
"$SHELF_TG" --seed 2 --frames 8000 "$S/hat.wav"
cp "$S/hat.wav" "$S/copy/hat Ünï.wav"
"$SHELF_TG" --seed 3 --frames 30000 "$S/pad é.wav"
"$SHELF_TG" --seed 3 --frames 30000 --format flac "$S/kit/pad é.flac"
"$SHELF_TG" --seed 4 --frames 6000 "$S/a/Snare.wav"
"$SHELF_TG" --seed 5 --frames 6000 "$S/b/Snare.wav"
cat >"$S/kit/kit.sfz" <<'EOF'
<region> sample=k.wav lokey=c4 hikey=c4 pitch_keycenter=c4
<region> sample=pad é.flac lokey=d4 hikey=d4 pitch_keycenter=d4
EOF

L="$T/lib"
expect 0 "init" "$SHELF" -L "$L" init
expect 0 "import" "$SHELF" -L "$L" import "$S"
expect 0 "the patch" "$SHELF" -L "$L" --json patch import "$S/kit/kit.sfz"
KIT=$(json 'j[0]["id"]')
# id_of PATH: the id of the sample at PATH under $S (as --json shows paths)
id_of() {
    "$SHELF" -L "$L" --json ls | python3 -c '
import json, sys
print(" ".join(str(s["id"]) for s in json.load(sys.stdin) if s["path"] == sys.argv[1]))' "$1"
}
K1=$(id_of "Kick Café 鼓 🥁.wav")
KC=$(id_of "copy/Kick Café 鼓 🥁.wav")
KK=$(id_of "kit/k.wav")
H1=$(id_of "hat.wav")
H2=$(id_of "copy/hat Ünï.wav")
check "the samples have ids" -n "$K1$KC$KK$H1$H2"
check "five kicks, two hats, two pads, two snares" \
    "$("$SHELF" -L "$L" --json ls | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 11

# ---- shelf dupes fold, from the command line ----------------------------------
expect 0 "tags on a copy" "$SHELF" -L "$L" tag add "$KC" "warm" "鼓-tag"
expect 0 "a rating on a copy" "$SHELF" -L "$L" rate "$KC" 4
expect 0 "a rating on the first" "$SHELF" -L "$L" rate "$K1" 2
expect 0 "a favourite" "$SHELF" -L "$L" fav "$KC"
expect 0 "a collection" "$SHELF" -L "$L" collection new live
expect 0 "the copy in it" "$SHELF" -L "$L" collection add live "$KC"
expect 0 "fold the copy into the first" "$SHELF" -L "$L" --json dupes fold "$K1" "$KC"
check "one folded" "$(json 'j["folded"]')" = 1
check "two tags gained" "$(json 'j["tags"]')" = 2
expect 0 "the first" "$SHELF" -L "$L" --json info "$K1"
check "has the tags" "$(json '" ".join(sorted(j["tags"]))')" = "warm 鼓-tag"
check "the higher rating" "$(json 'j["rating"]')" = 4
check "the favourite" "$(json 'j["favourite"]')" = True
expect 0 "collection ls" "$SHELF" -L "$L" --json collection show live
check "it took the copy's place in the collection" "$(json '[s["id"] for s in j]')" = "[$K1]"
expect 3 "the copy is gone from the catalog" "$SHELF" -L "$L" info "$KC"
check "its file stays" -f "$S/copy/Kick Café 鼓 🥁.wav"
expect 0 "the audit log" "$SHELF" -L "$L" log
contains "says so" "$out" "sample $KC folded into $K1"
expect 0 "fold the kit's copy: the patch follows" "$SHELF" -L "$L" --json dupes fold "$K1" "$KK"
check "one use moved" "$(json 'j["links"]')" = 1
expect 0 "patch show" "$SHELF" -L "$L" --json patch show "$KIT"
expect 0 "the kit uses the first kick now" "$SHELF" -L "$L" --json refs "$K1"
contains "listed" "$out" "\"id\": $KIT"
expect 2 "not a duplicate" "$SHELF" -L "$L" dupes fold "$H1" "$K1"
contains "says which" "$err" "sample $K1 is no duplicate of $H1"
expect 3 "an id that is not there" "$SHELF" -L "$L" dupes fold "$H1" 9999
contains "says which" "$err" "no sample with id 9999"
expect 2 "no duplicate named" "$SHELF" -L "$L" dupes fold "$H1"
expect 0 "dupes still finds the rest" "$SHELF" -L "$L" --json dupes --bytes
check "kicks and hats" "$(json '[len(g) for g in j["bytes"]]')" = "[3, 2]"

# ---- a sync conflict on a patch --------------------------------------------------
B="$T/laptop é"
expect 0 "a second device" "$SHELF" -L "$B" init
IDA=$("$SHELF" -q -L "$L" device id)
IDB=$("$SHELF" -q -L "$B" device id)
expect 0 "pair" "$SHELF" -L "$L" device add "$IDB" --name laptop
expect 0 "pair back" "$SHELF" -L "$B" device add "$IDA" --name stage
cat >"$T/pad.json" <<'JSON'
{"shelf_patch":1,"name":"Pad é 🎹 鼓 warm","params":{"cutoff":1000,"res":0.5}}
JSON
expect 0 "a patch to disagree on" "$SHELF" -L "$L" --json patch new --file "$T/pad.json"
PA=$(json 'j["id"]')
exchange() {
    sync_listen "$B" --address 127.0.0.1:0 --once
    expect 0 "$1" "$SHELF" -L "$L" --json sync "127.0.0.1:$LPORT"
    wait "$LPID" || fail "$1: the listener failed: $(cat "$T/listen.err")"
}
exchange "first exchange"
PB=$("$SHELF" -L "$B" --json patch ls | python3 -c 'import json,sys; print([p["id"] for p in json.load(sys.stdin) if p["name"].startswith("Pad")][0])')
expect 0 "cutoff here" "$SHELF" -L "$L" patch set "$PA" params/cutoff=1500
expect 0 "cutoff there" "$SHELF" -L "$B" patch set "$PB" params/cutoff=900
exchange "the edits cross"
expect 7 "a conflict here" "$SHELF" -L "$L" --json conflicts

# ---- the API --------------------------------------------------------------------
export SHELF_DUPES_H1="$H1" SHELF_DUPES_H2="$H2" SHELF_DUPES_K1="$K1" SHELF_DUPES_PATCH="$PA"
if python3 "$(dirname "$0")/test_serve_dupes.py" "$L" "$S" >"$T/py.out" 2>"$T/py.err"; then
    ok "the API ($(grep -c '^ok' "$T/py.out") checks)"
else
    fail "the API"
fi
sed 's/^/    /' "$T/py.out"
sed 's/^/    /' "$T/py.err" >&2

# ---- the page, in chromium --------------------------------------------------------
PW="$SHELF_SRC/tests/servers/node_modules/playwright-core"
if [ ! -x /usr/bin/chromium ] || [ ! -d "$PW" ] || ! command -v node >/dev/null; then
    skip "the page in chromium" "needs /usr/bin/chromium, node and playwright-core (scripts/install-deps)"
    finish
    exit $?
fi
serve_start -L "$L"
browser_run serve_dupes dupes.js "duplicates and sync conflicts in chromium" \
    SHELF_PATCH_ID="$PA"
bg_stop
expect 0 "no conflict left" "$SHELF" -L "$L" conflicts
expect 0 "dupes after the page" "$SHELF" -L "$L" --json dupes --bytes
check "no identical files left" "$(json 'len(j.get("bytes", []))')" = 0
expect 0 "the kick that stayed" "$SHELF" -L "$L" --json search tag:warm
check "has the tags, rating and favourite" "$(json '[(s["path"], sorted(s["tags"]), s["rating"], s["favourite"]) for s in j["results"]]')" \
    = "[('line\\nbreak.wav', ['warm', '鼓-tag'], 4, True)]"
for f in "$S/line"$'\n'"break.wav" "$S/"$'\xff'"raw kick.wav" "$S/kit/k.wav" "$S/copy/hat Ünï.wav"; do
    check "a folded file stays on disk" -f "$f"
done
finish
