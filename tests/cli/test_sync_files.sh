# test_sync_files.sh: sample files through shelf sync between shelf
# processes on 127.0.0.1 (doc/sync.md, "Sample files"): a device that has
# never seen a library gets a row for every sample at once, the copies of
# managed samples into its store (byte for byte; shelf check agrees), and
# with --files all the referenced files too, into the sync folder under
# their paths (names with accents, emoji, a newline, bytes that are not UTF-8);
# --files none moves records only; a file the peer lacks is counted as
# waiting; what it sends is checked against the sample's hash.
. "$(dirname "$0")/lib.sh"

M="$T/managed é"
R="$T/referenced 🎹"
mkdir -p "$M/kit 舞台" "$R"
"$SHELF_TG" --frames 4410 "$M/kit 舞台/kick é.wav"
"$SHELF_TG" --frames 8820 "$M/$(printf 'pad\nline \377').wav"
"$SHELF_TG" --frames 2205 "$R/snare 🥁.wav"
A="$T/stage"
B="$T/laptop"
C="$T/spare"
for L in "$A" "$B" "$C"; do
    "$SHELF" -L "$L" init >/dev/null || fail "init $L"
done
expect 0 "import with --copy" "$SHELF" -L "$A" import --copy "$M"
expect 0 "import in place" "$SHELF" -L "$A" import "$R"
IA=$("$SHELF" -q -L "$A" device id)
for L in "$B" "$C"; do
    "$SHELF" -L "$A" device add "$("$SHELF" -q -L "$L" device id)" >/dev/null &&
        "$SHELF" -L "$L" device add "$IA" >/dev/null || fail "pair $L"
done

rows() {
    "$SHELF" -L "$1" --json ls | python3 -c '
import json, sys
for r in sorted(json.load(sys.stdin), key=lambda r: r["sha256"]):
    print(r["sha256"][:12], "managed" if r["blob"] else "referenced",
          "missing" if r["missing"] else "here")'
}

sync_listen "$A" --address 127.0.0.1:0 --once
expect 0 "the laptop syncs with stage" "$SHELF" -L "$B" --json sync "127.0.0.1:$LPORT"
check "two managed files came" "$(json 'j["files_in"]')" = 2
check "none waiting" "$(json 'j["files_waiting"]')" = 0
wait "$LPID"
contains "the listener counts them" "$(cat "$T/listen.out")" "files sent 2, received 0"
check "a row for each sample" "$(rows "$B" | wc -l)" = 3
check "the referenced one has no bytes here" "$(rows "$B" | grep -c 'referenced missing')" = 1
check "the managed ones are here" "$(rows "$B" | grep -c 'managed here')" = 2
expect 17 "verify on the laptop" "$SHELF" -L "$B" --json verify
check "check: the copies are good, one file missing" \
    "$(json 'j["ok"] == 2 and j["missing"] == 1 and j["corrupt"] == 0')" = True
for f in "$A"/objects/*/*/*; do
    cmp -s "$f" "$B/objects/${f#"$A"/objects/}" || fail "copy ${f##*/} differs"
done
ok "the copies are byte for byte"

# --files all: the referenced file too, into the sync folder
sync_listen "$A" --address 127.0.0.1:0 --once
expect 0 "files too" "$SHELF" -L "$B" --json sync "127.0.0.1:$LPORT" --files all
check "one file came" "$(json 'j["files_in"]')" = 1
wait "$LPID"
check "nothing missing now" "$(rows "$B" | grep -c missing)" = 0
cmp -s "$R/snare 🥁.wav" "$B/synced/snare 🥁.wav" && ok "the file is byte for byte" ||
    fail "the referenced file differs or is not there: $(find "$B/synced" | head)"

# --files none: records only
sync_listen "$A" --address 127.0.0.1:0 --once
expect 0 "records only" "$SHELF" -L "$C" --json sync "127.0.0.1:$LPORT" --files none
check "no files" "$(json 'j["files_in"]')" = 0
wait "$LPID"
check "three rows, all missing" "$(rows "$C" | grep -c missing)" = 3

# c asks for what stage does not hold: waiting; b (which has them) serves
rm -f "$A"/objects/*/*/*
sync_listen "$A" --address 127.0.0.1:0 --once
expect 0 "stage has lost its copies" "$SHELF" -L "$C" --json sync "127.0.0.1:$LPORT"
check "two files waiting" "$(json 'j["files_waiting"]')" = 2
wait "$LPID"
"$SHELF" -L "$B" device add "$("$SHELF" -q -L "$C" device id)" >/dev/null
"$SHELF" -L "$C" device add "$("$SHELF" -q -L "$B" device id)" >/dev/null
sync_listen "$B" --address 127.0.0.1:0 --once
expect 0 "the laptop serves them" "$SHELF" -L "$C" --json sync "127.0.0.1:$LPORT"
check "two files from the laptop" "$(json 'j["files_in"]')" = 2
wait "$LPID"
# and stage gets its copies back from the laptop
expect 17 "stage: verify finds its copies gone" "$SHELF" -L "$A" --json verify
check "two missing" "$(json 'j["missing"]')" = 2
sync_listen "$B" --address 127.0.0.1:0 --once
expect 0 "stage repairs from the laptop" "$SHELF" -L "$A" --json sync "127.0.0.1:$LPORT"
check "its two copies came back" "$(json 'j["files_in"]')" = 2
wait "$LPID"
expect 0 "verify on stage" "$SHELF" -L "$A" verify

expect 2 "a bad --files" "$SHELF" -L "$B" sync 127.0.0.1:1 --files some
contains "says which" "$err" "invalid --files 'some'"
finish
