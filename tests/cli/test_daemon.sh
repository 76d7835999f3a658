# test_daemon.sh: `shelf daemon` and `shelf status`: one daemon per library
# (a second is refused, one killed with -9 leaves nothing in the way),
# alerts found, logged once, sent once as a desktop notification and
# cleared when their condition ends, the log as text and as JSON, --serve
# hosting the web server, --hub running sync watch, due schedules run
# and the roots watched on threads of their own, SIGTERM stopping it with exit 0, and the systemd
# unit of --install-unit read by systemd, for a library with an odd path.
. "$(dirname "$0")/lib.sh"
json_count() { python3 -c 'import json, sys; print(json.load(sys.stdin)["total"])'; }

# The clock the schedules and alerts read (SHELF_TEST_CLOCK: a file).
export TZ=UTC HOME="$T/home" XDG_CONFIG_HOME="$T/cfg"
unset SHELF_PASSWORD
mkdir -p "$HOME"
CLOCK="$T/clock"
export SHELF_TEST_CLOCK="$CLOCK"
NOW=$(date +%s)
echo "$NOW" >"$CLOCK"
at() { echo $((NOW + $1)) >"$CLOCK"; }     # at SECONDS: the clock that far on

S="$T/samples"
mkdir -p "$S"
"$SHELF_TG" "$S/Kick Deep.wav" "$S/Snare Tight.wav"
expect 0 "import" "$SHELF" import "$S"

# status: a library with no backup scheduled says so, for information.
expect 0 "status of a new library" "$SHELF" status --offline
contains "status says no backup is scheduled" "$out" "no backup is scheduled"
contains "and what to do" "$out" "-> shelf schedule suggest"
contains "status says no daemon runs" "$out" "daemon   not running"
R="$T/repo"
expect 0 "a backup repository" "$SHELF" backup init --no-encryption "$R"
expect 0 "a nightly backup" "$SHELF" schedule add backup daily 03:00 --target "$R" --name nightly
expect 0 "status when all is well" "$SHELF" status --offline
contains "status says all is well" "$out" "none: all is well"

# A sample goes missing: an alert for information, exit still 0.
mv "$S/Kick Deep.wav" "$T/kick-away.wav"
expect 0 "rescan" "$SHELF" import "$S"
expect 0 "status with a missing sample" "$SHELF" --json status --offline
check "the alert is there, info" "$(json '[(a["key"], a["severity"]) for a in j["alerts"]]')" = "[('samples-missing', 'info')]"
check "worst is info" "$(json 'j["worst"]')" = info

# A paired device that never synced and was paired long ago (the row's
# time set back 30 days): a warning, exit 11.
expect 0 "a second library" "$SHELF" -L "$T/other" init
OTHER=$("$SHELF" -L "$T/other" --json device id | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
expect 0 "pair it" "$SHELF" device add "$OTHER" --name "stage rig"
expect 0 "status: a new pairing is no alert" "$SHELF" status --offline
sqlite3 "$T/lib/shelf.db" "UPDATE devices SET added = added - 30*86400"
expect 11 "status: a device silent for 30 days is a warning (exit 11)" "$SHELF" status --offline
contains "it names the device" "$out" "paired device 'stage rig' has never synced"
contains "it says what to do" "$out" "-> shelf sync status"
expect 0 "--device-days 40 waits longer" "$SHELF" status --offline --device-days 40
expect 2 "a bad --device-days is usage" "$SHELF" status --device-days 0
sqlite3 "$T/lib/shelf.db" "UPDATE devices SET added = added + 30*86400"

# The daemon: a fake notify-send (first on PATH) records what it is sent;
# a session bus address makes the daemon use it.
mkdir -p "$T/bin"
cat >"$T/bin/notify-send" <<EOS
#!/bin/sh
printf '%s|' "\$@" >>"$T/notified"
echo >>"$T/notified"
EOS
chmod +x "$T/bin/notify-send"
PATH="$T/bin:$PATH" DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent \
    "$SHELF" --json daemon --alert-every 1 --no-space --serve --port 0 >"$T/d.out" 2>"$T/d.err" &
DPID=$!
bg_pids="$bg_pids $DPID"
for _ in $(seq 100); do
    grep -q '"event":"alert"' "$T/d.out" 2>/dev/null && grep -q '"event":"serve"' "$T/d.out" && break
    sleep 0.1
done
contains "the daemon says it started" "$(cat "$T/d.out")" '"event":"start"'
contains "it logs the alert" "$(cat "$T/d.out")" '"key":"samples-missing"'
expect 5 "a second daemon is refused (exit 5)" "$SHELF" daemon --no-space
contains "it names the first one's pid" "$err" "a daemon already runs for $T/lib (pid $DPID)"
expect 0 "status sees the daemon" "$SHELF" --json status --offline
check "status: running, with its pid" "$(json '(j["daemon"]["running"], j["daemon"]["pid"])')" = "(True, $DPID)"

# --serve: the logged address answers with the library's session.
URL=$(python3 -c '
import json, sys
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e["event"] == "serve":
        print(e["url"])' "$T/d.out")
check "the server's address is logged" -n "$URL"
BASE=${URL%%/?token=*}
TOKEN=${URL##*token=}
expect 0 "the hosted server answers" curl -sf -H "X-Shelf-Token: $TOKEN" "$BASE/api/session"
contains "it serves this library" "$out" '"samples":2'

# Several looks later the alert was notified once; the file comes back,
# the alert is cleared.
sleep 2.5
check "one notification for one alert" "$(grep -c 'samples are missing' "$T/notified" 2>/dev/null)" = 1
contains "the notification says how urgent" "$(cat "$T/notified")" "--urgency=low|"
mv "$T/kick-away.wav" "$S/Kick Deep.wav"
expect 0 "the file comes back" "$SHELF" import "$S"
for _ in $(seq 50); do
    grep -q '"event":"cleared"' "$T/d.out" && break
    sleep 0.1
done
contains "the ended alert is logged as cleared" "$(grep '"event":"cleared"' "$T/d.out")" '"key":"samples-missing"'
check "each alert is logged once" "$(grep -c '"event":"alert"' "$T/d.out")" = 1

kill -TERM "$DPID"
wait "$DPID"
check "SIGTERM stops the daemon with exit 0" "$?" = 0
contains "it says it stopped" "$(tail -1 "$T/d.out")" '"event":"stopped"'
expect 0 "status: no daemon now" "$SHELF" --json status --offline
check "status: not running" "$(json 'j["daemon"]["running"]')" = False
expect 7 "the hosted server is gone (curl: cannot connect)" curl -sf -H "X-Shelf-Token: $TOKEN" "$BASE/api/session"

# kill -9 leaves the claim to the next daemon; text log to a file.
"$SHELF" daemon --no-space --no-notify --log "$T/daemon.log" &
DPID=$!
bg_pids="$bg_pids $DPID"
for _ in $(seq 50); do grep -q "start: " "$T/daemon.log" 2>/dev/null && break; sleep 0.1; done
kill -KILL "$DPID"
wait "$DPID" 2>/dev/null
"$SHELF" daemon --no-space --no-notify --log "$T/daemon.log" &
DPID=$!
bg_pids="$bg_pids $DPID"
for _ in $(seq 50); do [ "$(grep -c "start: " "$T/daemon.log")" = 2 ] && break; sleep 0.1; done
check "after kill -9 the next daemon starts" "$(grep -c "start: shelf daemon .* (pid $DPID)" "$T/daemon.log")" = 1
check "the log's lines carry the time" -n "$(grep -E '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z start: ' "$T/daemon.log")"
kill -INT "$DPID"
wait "$DPID"
check "SIGINT stops it with exit 0" "$?" = 0
expect 2 "a bad --alert-every is usage" "$SHELF" daemon --alert-every 0
expect 2 "--unit-dir alone is usage" "$SHELF" daemon --unit-dir "$T"

# --hub: the daemon runs sync watch on a thread of its own: a tag made
# here reaches a paired laptop through a hub (a folder) with no command.
B="$T/laptop"
expect 0 "a laptop library" "$SHELF" -L "$B" init
expect 0 "the laptop imports the same files" "$SHELF" -L "$B" import "$S"
IDA=$("$SHELF" -q device id)
expect 0 "pair here with the laptop" "$SHELF" device add "$("$SHELF" -q -L "$B" device id)" --name laptop
expect 0 "pair the laptop with here" "$SHELF" -L "$B" device add "$IDA" --name stage
H="$T/hub 🎛"
"$SHELF" sync push "$H" >/dev/null || fail "first push"
"$SHELF" -L "$B" sync pull "$H" >/dev/null 2>&1
"$SHELF" sync push "$H" >/dev/null || fail "second push"
expect 0 "the laptop has the library key" "$SHELF" -L "$B" sync pull "$H"
"$SHELF" --json daemon --no-space --no-notify --hub "$H" --sync-debounce 0.3 --sync-interval 1 >"$T/s.out" 2>"$T/s.err" &
DPID=$!
bg_pids="$bg_pids $DPID"
for _ in $(seq 50); do grep -q '"event":"sync"' "$T/s.out" 2>/dev/null && break; sleep 0.1; done
expect 0 "a tag here" "$SHELF" tag add "$(sample_id "$T/lib" Snare)" "from-the-stage"
found=0
for _ in $(seq 100); do
    "$SHELF" -L "$B" sync pull "$H" >/dev/null 2>&1
    [ "$("$SHELF" -L "$B" --json search tag:from-the-stage | json_count)" = 1 ] && { found=1; break; }
    sleep 0.2
done
check "the daemon pushed it: the laptop finds the tag" "$found" = 1
contains "the daemon logs its pushes" "$(cat "$T/s.out")" '"action":"push"'
kill -TERM "$DPID"
wait "$DPID"
check "SIGTERM stops the daemon and its sync thread, exit 0" "$?" = 0
expect 2 "a bad --sync-interval is usage" "$SHELF" daemon --hub "$H" --sync-interval 0

# Schedules and watch folders in the daemon: a day later both schedules
# are due and run on the scheduler's thread; the one that fails is an
# error alert; a file written into a root is imported by the watcher.
expect 0 "a schedule that will fail" "$SHELF" schedule add backup daily 03:00 --target "$T/no repository" --name broken
"$SHELF_TG" --seed 8 "$S/Clap Before.wav"     # written while no daemon runs
"$SHELF" --json daemon --no-space --no-notify --no-scan --alert-every 1 >"$T/c.out" 2>"$T/c.err" &
DPID=$!
bg_pids="$bg_pids $DPID"
for _ in $(seq 50); do grep -q '"event":"start"' "$T/c.out" 2>/dev/null && break; sleep 0.1; done
at 86400
ran() { python3 -c '
import json, sys
print(sorted((e["schedule"], e["state"]) for e in map(json.loads, open(sys.argv[1]))
             if e["event"] == "schedule" and e["state"] != "running"))' "$T/c.out"; }
for _ in $(seq 150); do [ "$(ran)" = "[('broken', 'failed'), ('nightly', 'ok')]" ] && break; sleep 0.1; done
check "the daemon ran both due schedules" "$(ran)" = "[('broken', 'failed'), ('nightly', 'ok')]"
expect 0 "the backup is in the repository" "$SHELF" --json backup list "$R"
check "one snapshot" "$(json 'len(j)')" = 1
for _ in $(seq 50); do grep -q '"key":"failed:broken"' "$T/c.out" && break; sleep 0.1; done
contains "the failed run is an error alert" "$(grep '"key":"failed:broken"' "$T/c.out")" '"severity":"error"'
expect 12 "status: an error needs you (exit 12)" "$SHELF" status --offline
contains "status names the failed schedule" "$out" "backup 'broken' failed"
"$SHELF_TG" --seed 7 "$S/Hat New.wav"
for _ in $(seq 100); do grep -q '"event":"watch".*Hat New' "$T/c.out" && break; sleep 0.1; done
contains "the daemon's watcher imported a new file" "$(grep '"event":"watch"' "$T/c.out")" '"action":"imported"'
expect 0 "search finds it" "$SHELF" --json search hat
check "one hit" "$(json 'j["total"]')" = 1
expect 0 "search for the file written before it started" "$SHELF" --json search clap
check "--no-scan: it waits for a rescan" "$(json 'j["total"]')" = 0
kill -TERM "$DPID"
wait "$DPID"
check "SIGTERM stops the daemon with its threads, exit 0" "$?" = 0
expect 0 "remove the broken schedule" "$SHELF" schedule rm broken
at $((6 * 86400))
expect 12 "five days without a backup is an error" "$SHELF" --json status --offline
check "the late backup's alert" "$(json '[a["key"] for a in j["alerts"] if a["severity"] == "error"]')" = "['backup-late:nightly']"
expect 0 "run it" "$SHELF" schedule run nightly
expect 0 "then all is well again" "$SHELF" status --offline

# --listen: the daemon syncs with a paired device that connects to it.
B="$T/second rig"
expect 0 "a second rig" "$SHELF" -L "$B" init
IDA=$("$SHELF" -q device id)
IDB=$("$SHELF" -q -L "$B" device id)
expect 0 "the library pairs with the rig" "$SHELF" device add "$IDB" --name rig
expect 0 "the rig pairs with it" "$SHELF" -L "$B" device add "$IDA" --name stage
expect 0 "a tag here" "$SHELF" tag add "$(sample_id "$T/lib" Snare)" from-stage
"$SHELF" --json daemon --no-watch --no-schedules --no-space --no-notify --listen=127.0.0.1:0 --no-announce \
    >"$T/l.out" 2>"$T/l.err" &
DPID=$!
bg_pids="$bg_pids $DPID"
for _ in $(seq 100); do grep -q '"event":"listen"' "$T/l.out" 2>/dev/null && break; sleep 0.1; done
LADDR=$(python3 -c '
import json, sys
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e["event"] == "listen" and "address" in e:
        print(e["address"])' "$T/l.out")
check "the daemon logs where it listens" -n "$LADDR"
expect 0 "the rig syncs with the daemon" "$SHELF" -L "$B" --json sync "$LADDR"
check "records came" "$(json 'j["received"] > 0')" = True
for _ in $(seq 50); do grep -q '"action":"listen"' "$T/l.out" && break; sleep 0.1; done
contains "the daemon logs the exchange" "$(grep '"event":"sync"' "$T/l.out")" '"peer":"'"$IDB"'"'
expect 0 "the tag reached the rig" "$SHELF" -L "$B" --json search tag:from-stage
check "one sample" "$(json 'j["total"]')" = 1
kill -TERM "$DPID"
wait "$DPID"
check "SIGTERM stops the listener too, exit 0" "$?" = 0

# The unit, for a library whose path has a space, %, $, a quote, a
# backslash, a newline and a byte that is not UTF-8: systemd reads it.
ODD="$T/lib odd %h \$HOME \"q\" back\\slash
nl $(printf '\377')"
expect 0 "a library with an odd path" "$SHELF" -L "$ODD" init
expect 0 "--install-unit" "$SHELF" -L "$ODD" --json daemon --install-unit --unit-dir "$T/units" --serve --alert-every 60
UNIT=$(json 'j["path"]')
check "the unit is written" -f "$UNIT"
contains "it is named by the library id" "$UNIT" "/shelf-daemon-"
contains "it keeps the options" "$(cat "$UNIT")" 'daemon "--serve" "--alert-every" "60"'
contains "the path's % is not a specifier" "$(cat "$UNIT")" '%%h'
contains "the path's \$ is not a variable" "$(cat "$UNIT")" '$$HOME'
contains "the newline and the byte are escaped" "$(cat "$UNIT")" '\x0anl \xff"'
expect 0 "systemd reads the unit" systemd-analyze verify --man=no "$UNIT"
finish
