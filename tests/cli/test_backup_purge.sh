# test_backup_purge.sh: shelf backup purge from the command line on a plain
# repository (so the raw bytes can be searched): two snapshots of a library
# with awkward names whose audio, name and tag hold markers; --dry-run
# lists both snapshots and changes nothing; the purge rewrites them, and no
# file of the repository holds the sample's bytes any more (noise is stored
# as it is, so grep finds it before); both snapshots still restore.
. "$(dirname "$0")/lib.sh"

S="$T/s"
R="$T/repo ☆"
mkdir -p "$S"
python3 - "$S" <<'EOF'
import os, sys, wave
d = sys.argv[1].encode()
rnd = os.urandom
for name, marker in {b"kick \xc3\xa9 \xe9\x9b\xaa \xf0\x9f\xa5\x81 ZQXNAME.wav": b"ZQXDATAPURGED123",
                     b"hat \xff\nkeep.wav": b"KEEPDATAKEEP1234"}.items():
    w = wave.open(os.path.join(d, name).decode("utf-8", "surrogateescape"), "wb")
    w.setnchannels(1); w.setsampwidth(2); w.setframerate(44100)
    w.writeframes(rnd(5000) + marker + rnd(60000))
    w.close()
EOF
expect 0 "init" "$SHELF" init
expect 0 "import" "$SHELF" import "$S"
A=$(sample_id "$T/lib" "kick")
expect 0 "tag" "$SHELF" tag add "$A" zqxtagsecret
expect 0 "repo init" "$SHELF" backup init --no-encryption "$R"
expect 0 "full" "$SHELF" backup --full "$R"
expect 0 "tag the other" "$SHELF" tag add "$(sample_id "$T/lib" "hat")" later
expect 0 "incremental" "$SHELF" backup "$R"
check "before: the sample's bytes are in the repository" -n "$(grep -rla ZQXDATAPURGED123 "$R" | head -1)"
expect 0 "the name across devices" "$SHELF" --json purge --preview --force "$A"
N=$(json '[i["name"] for i in j["items"] if i["what"] == "sample"][0]')
check "a sample name" "${N:0:2}" = "s:"

expect 2 "nothing to purge" "$SHELF" backup purge "$R"
expect 2 "a bad name" "$SHELF" backup purge --sample nothex "$R"
check "one line" "$(printf '%s\n' "$err" | wc -l)" = 1
expect 0 "dry run" "$SHELF" --json backup purge --dry-run --sample "$N" "$R"
check "dry run: both snapshots" "$(json 'j["snapshots_rewritten"]')" = 2
check "dry run: listed" "$(json 'len(j["snapshots"])')" = 2
check "dry run: still there" -n "$(grep -rla ZQXDATAPURGED123 "$R" | head -1)"

expect 0 "another device's snapshots only" "$SHELF" --json backup purge --dry-run --device nosuchdevice --sample "$N" "$R"
check "none of them" "$(json 'j["snapshots_seen"]')" = 0
expect 0 "purge" "$SHELF" --json backup purge --sample "$N" "$R"
check "two snapshots rewritten" "$(json 'j["snapshots_rewritten"]')" = 2
check "packs rewritten or removed" "$(json 'j["packs_rewritten"] + j["packs_removed"] > 0')" = True
check "after: no file of the repository holds the bytes" -z "$(grep -rla ZQXDATAPURGED123 "$R")"
check "after: the other sample is there" -n "$(grep -rla KEEPDATAKEEP1234 "$R" | head -1)"
expect 0 "check" "$SHELF" backup check --read-data "$R"
expect 0 "list" "$SHELF" --json backup list "$R"
check "two snapshots" "$(json 'len(j)')" = 2
FIRST=$(json 'j[0]["id"]')
expect 0 "restore the full" "$SHELF" restore "$R" "$FIRST" --to "$T/back"
check "restored: the sample is not there" -z "$(grep -rla ZQXDATAPURGED123 "$T/back")"
check "restored: the other is" -n "$(grep -rla KEEPDATAKEEP1234 "$T/back" | head -1)"
check "restored: the tag is gone" -z "$(grep -rla zqxtagsecret "$T/back")"
expect 0 "human output" "$SHELF" backup purge --sample "$N" "$R"
contains "nothing left" "$out" "0 of 2 snapshots"
finish
