# test_sync_watch.sh: shelf sync watch keeps a library in step with a hub
# (a folder) and a peer by itself: a change is pushed soon after it is made
# (debounced: a burst of changes is one push), what another device pushes
# is pulled at the next interval, an unreachable hub is reported and tried
# again (the changes wait), and SIGINT ends it with status 130.
. "$(dirname "$0")/lib.sh"

S="$T/samples"
mkdir -p "$S"
for i in 1 2 3; do "$SHELF_TG" --seed "$i" "$S/s$i é.wav"; done
A="$T/stage" B="$T/laptop"
for L in "$A" "$B"; do
    "$SHELF" -L "$L" init >/dev/null && "$SHELF" -L "$L" import "$S" >/dev/null || fail "set up $L"
done
IDA=$("$SHELF" -q -L "$A" device id)
"$SHELF" -L "$A" device add "$("$SHELF" -q -L "$B" device id)" --name laptop >/dev/null
"$SHELF" -L "$B" device add "$IDA" --name stage >/dev/null
H="$T/hub 🎛"
# the library key reaches the laptop through the hub (doc/sync.md)
"$SHELF" -L "$A" sync push "$H" >/dev/null || fail "first push"
"$SHELF" -L "$B" sync pull "$H" >/dev/null 2>&1
"$SHELF" -L "$A" sync push "$H" >/dev/null || fail "second push"
expect 0 "the laptop has the key" "$SHELF" -L "$B" sync pull "$H"

tags() { "$SHELF" -L "$1" --json ls | python3 -c '
import json, sys
print(sorted(t for r in json.load(sys.stdin) for t in r["tags"]))'; }
segments() { ls "$H/devices/$IDA/log" 2>/dev/null | wc -l; }

"$SHELF" -L "$A" --json sync watch --hub "$H" --hub webdav:http://127.0.0.1:1/gone --debounce 1.5 --interval 1 \
    >"$T/watch.out" 2>"$T/watch.err" &
# (a debounce of 1.5 s: three tag edits under ASan on a loaded machine
# take up to about half a second each, and the burst must stay one push)
WPID=$!
bg_pids="$bg_pids $WPID"
sleep 1.5
before=$(segments)
for t in one two three; do "$SHELF" -L "$A" tag add 1 "$t" >/dev/null; sleep 0.1; done
for _ in $(seq 100); do [ "$(segments)" -gt "$before" ] && break; sleep 0.1; done
check "the burst was pushed" "$(segments)" -gt "$before"
sleep 1
check "as one segment" "$(segments)" = $((before + 1))
expect 0 "the laptop pulls it" "$SHELF" -L "$B" sync pull "$H"
check "the laptop has the tags" "$(tags "$B")" = "['one', 'three', 'two']"
expect 0 "the laptop tags and pushes" "$SHELF" -L "$B" tag add 2 laptop
expect 0 "and pushes" "$SHELF" -L "$B" sync push "$H"
for _ in $(seq 100); do [ "$(tags "$A")" = "$(tags "$B")" ] && break; sleep 0.1; done
check "the watcher pulled it" "$(tags "$A")" = "$(tags "$B")"
kill -INT "$WPID"
wait "$WPID"
check "SIGINT ends it with 130" "$?" = 130
contains "the unreachable hub was reported" "$(cat "$T/watch.err")" "127.0.0.1:1"
check "each line of output is JSON" "$(python3 -c '
import json, sys
n = 0
for line in open(sys.argv[1]):
    o = json.loads(line)
    assert o["action"] in ("pull", "push", "sync")
    n += 1
print(n > 3)' "$T/watch.out")" = True
contains "pushes and pulls were logged" "$(cat "$T/watch.out")" '"action":"push"'

expect 2 "watch needs a hub or a peer" "$SHELF" -L "$A" sync watch
expect 2 "a bad --debounce" "$SHELF" -L "$A" sync watch --hub "$H" --debounce x
finish
