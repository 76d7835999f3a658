# test_sync_log.sh: shelf sync log|status: every change to what syncs is
# one record (text and --json), names in any script and bytes that are
# not UTF-8 are in the log escaped, a write by the sqlite3 shell is logged,
# bad options exit 2 (a read-only library: tests/unit/test_changelog.c).
. "$(dirname "$0")/lib.sh"

S="$T/samples é"
mkdir -p "$S"
"$SHELF_TG" --frames 441 "$S/kick 舞台.wav"
"$SHELF_TG" --frames 882 "$S/snare 🥁.wav"
"$SHELF_TG" --frames 1323 "$S/$(printf 'hat \377')
line.wav"
expect 0 "init" "$SHELF" init
expect 0 "import" "$SHELF" import "$S"

expect 0 "sync log: three samples" "$SHELF" --json sync log
check "three records" "$(json 'len(j)')" = 3
check "all added, counters 1..3" "$(json '",".join(str(r["counter"]) for r in j if r["field"] == ".")')" = "1,2,3"
check "items by content" "$(json 'sum(1 for r in j if r["item"].startswith("s:") and len(r["item"]) == 66)')" = 3
check "a name that is not UTF-8, escaped" "$(json 'sum(1 for r in j if r["value"]["name"] == "hat %FF\nline")')" = 1
ID=$(json 'j[0]["device"]')

expect 0 "device id" "$SHELF" -q device id
check "the records are this device's" "$out" = "$ID"

KICK=$("$SHELF" --json search kick | python3 -c 'import json,sys; print(json.load(sys.stdin)["results"][0]["id"])')
expect 0 "tag" "$SHELF" tag add "$KICK" live
expect 0 "rate" "$SHELF" rate "$KICK" 5
expect 0 "touch (not synced)" "$SHELF" touch "$KICK"
expect 0 "sync log text" "$SHELF" sync log
check "five lines" "$(printf '%s\n' "$out" | wc -l)" = 5
contains "text: the tag" "$out" "tag:live = true"
contains "text: the rating" "$out" "rating = 5"
contains "text: added, by name" "$out" "added kick 舞台"
contains "text: control characters escaped" "$out" "added hat %FF%0Aline"

# the sqlite3 shell writes behind shelf's back: logged on the next read
if command -v sqlite3 >/dev/null; then
    sqlite3 "$T/lib/shelf.db" "UPDATE samples SET category = 'perc' WHERE id = $KICK" ||
        fail "sqlite3 write"
    expect 0 "sync log after a shell write" "$SHELF" --json sync log --device "$ID" --after 5
    check "one record" "$(json 'len(j)')" = 1
    check "the category" "$(json 'j[0]["field"] + "=" + j[0]["value"]')" = "category=perc"
else
    fail "sqlite3 is not installed (scripts/install-deps installs it)"
fi

expect 0 "sync status" "$SHELF" --json sync status
check "one device, six changes" "$(json 'len(j["devices"]) == 1 and j["devices"][0]["changes"] == 6 and j["devices"][0]["self"] and j["hubs"] == [] and j["conflicts"] == 0')" = True
expect 0 "sync log --limit" "$SHELF" --json sync log --limit 2
check "two records" "$(json 'len(j)')" = 2

expect 2 "--after without --device" "$SHELF" sync log --after 3
contains "usage" "$err" "usage: shelf sync log"
expect 2 "--limit not a number" "$SHELF" sync log --limit x
contains "one line" "$err" "invalid --limit 'x'"
expect 2 "bad device id" "$SHELF" sync log --device nope
contains "names it" "$err" "invalid device id 'nope'"
expect 3 "not a paired device nor an address" "$SHELF" sync frobnicate
contains "says so" "$err" "no paired device 'frobnicate'"
finish
