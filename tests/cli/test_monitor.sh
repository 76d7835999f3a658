# test_monitor.sh: the streaming engine's health end to end.  `shelf stream
# stress` on a library's samples publishes DIR/stream/health.json every
# second; with every read delayed past what a voice's ring holds the engine
# really underruns, and the file, `shelf stream monitor --once --json` and
# `shelf status --json` (the stream-underruns alert with its suggested
# action) show it while it runs; when it ends the alert clears.  A healthy
# run (its samples pinned, so nothing waits on the disk) shows no alert.  A
# file whose process is gone (stale), one from the future, a damaged one,
# and none at all are told apart; the refreshing output prints a reading a
# second.
. "$(dirname "$0")/lib.sh"

S="$T/samples"
H="$SHELF_LIBRARY/stream/health.json"
mkdir -p "$S"
"$SHELF_TG" --format wav24 --channels 2 --frames 480000 --seed 1 "$S/a.wav" "$S/b.wav" "$S/c.wav"
expect 0 "init" "$SHELF" init
expect 0 "import" "$SHELF" import "$S"

# wait_health PYTHON-CONDITION: up to 10 s for the health file to hold (as j).
wait_health() {
    for _ in $(seq 200); do
        [ -s "$H" ] && python3 -c "import json,sys; j=json.load(open(sys.argv[1])); sys.exit(0 if ($1) else 1)" \
            "$H" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# ---- no engine ------------------------------------------------------------------
expect 3 "monitor: no engine has run here" "$SHELF" stream monitor --once
contains "monitor: says so" "$err" "no streaming engine runs on this library"
expect 2 "monitor: bad interval" "$SHELF" stream monitor --interval 0
expect 2 "monitor: extra argument" "$SHELF" stream monitor now

# ---- an engine that cannot keep up ------------------------------------------------
# 16 KiB chunks: a ring of 3 holds 170 ms; every read takes 400 ms.  It
# runs 25 s: the refreshing view below must find it still running, and
# on a loaded machine the checks before it took more than 15 s.
"$SHELF" stream stress --voices 6 --duration 25 --chunk 16 --head 20 --inject-latency 400@1 \
    >"$T/slow.out" 2>"$T/slow.err" &
slow=$!
bg_pids="$bg_pids $slow"
if wait_health 'j["state"] == "running" and j["last_minute"]["underruns"] > 0'; then
    ok "health file: the engine underran"
else
    fail "health file: no underrun within 10 s"; cat "$H" >&2 2>/dev/null
fi
expect 0 "monitor --once --json" "$SHELF" --json stream monitor --once
check "monitor: one line" "$(printf '%s\n' "$out" | wc -l)" -eq 1
check "monitor: version 1" "$(json 'j["version"]')" = 1
check "monitor: the engine's pid" "$(json 'j["pid"]')" = "$slow"
check "monitor: running" "$(json 'j["state"]')" = running
check "monitor: fresh" "$(json 'j["age"] <= 3')" = True
check "monitor: underruns in the last minute" "$(json 'j["last_minute"]["underruns"] > 0')" = True
check "monitor: per minute" "$(json 'j["last_minute"]["underruns_per_min"] > 0')" = True
check "monitor: ring ran dry" "$(json 'j["last_minute"]["min_fill_pct"] < 50')" = True
check "monitor: reads p99 at the delay" "$(json 'j["last_minute"]["lat_p99_us"] >= 300000')" = True
check "monitor: failovers kept at 0" "$(json 'j["totals"]["failovers"]')" = 0
check "monitor: the samples that underran" "$(json 'len(j["samples"]) > 0 and all(s["id"] for s in j["samples"])')" = True
check "monitor: a faster medium first" "$(json 'j["suggestions"][0]["kind"]')" = medium
check "monitor: samples to pin, with their RAM" \
    "$(json '[s["action"] for s in j["suggestions"] if s["kind"] == "pin"][0].startswith("shelf cache pin ")')" = True
contains "monitor: RAM of the pins" "$(json '[s["action"] for s in j["suggestions"] if s["kind"] == "pin"][0]')" "MB of RAM"
expect 0 "monitor --once (text)" "$SHELF" stream monitor --once
contains "monitor text: underruns" "$out" "underruns ("
contains "monitor text: cannot keep up" "$out" "cannot keep up"
contains "monitor text: suggestion" "$out" "a faster medium"
# status: the alert, with the action; exit status 11 or 12 (warning, error)
"$SHELF" --json status --offline >"$T/out" 2>"$T/err"
st=$?
out=$(cat "$T/out")
check "status: exit says an alert (11 or 12)" "$st" -ge 11 -a "$st" -le 12
check "status: stream-underruns" "$(json '[a["key"] for a in j["alerts"]].count("stream-underruns")')" = 1
check "status: severity" "$(json '[a["severity"] for a in j["alerts"] if a["key"] == "stream-underruns"][0] in ("warning", "error")')" = True
contains "status: the suggested action" "$(json '[a["action"] for a in j["alerts"] if a["key"] == "stream-underruns"][0]')" "a faster medium"
contains "status: says what" "$(json '[a["what"] for a in j["alerts"] if a["key"] == "stream-underruns"][0]')" "cannot keep up"
# the refreshing view: a JSON line a second until SIGINT (exit 0)
timeout --preserve-status -s INT 2.5 "$SHELF" --json stream monitor --interval 0.5 >"$T/lines" 2>"$T/err"
check "monitor: SIGINT ends it (exit 0)" $? -eq 0
check "monitor: a line per interval" "$(wc -l < "$T/lines")" -ge 3
wait "$slow"
check "stress: finished" $? -eq 0
bg_pids=""
contains "stress: it underran" "$(cat "$T/slow.out")" "NOT clean"
check "health file: ended" "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["state"])' "$H")" = ended
expect 3 "monitor: the engine ended" "$SHELF" stream monitor --once
contains "monitor: says it ended" "$err" "ended"
expect 0 "status: the alert cleared" "$SHELF" --json status --offline
check "status: no stream-underruns" "$(json '[a["key"] for a in j["alerts"]].count("stream-underruns")')" = 0

# ---- stale: the process is gone, or the file is old ----------------------------------
python3 - "$H" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
j["state"] = "running"
j["pid"] = 2 ** 22 + 7          # above pid_max's default: no such process
json.dump(j, open(sys.argv[1], "w"))
PY
expect 3 "monitor: stale (no such process)" "$SHELF" stream monitor --once
contains "monitor: says stale" "$err" "stale"
expect 0 "status: no alert from a stale file" "$SHELF" --json status --offline
check "status: stale, no stream-underruns" "$(json '[a["key"] for a in j["alerts"]].count("stream-underruns")')" = 0
echo $(( $(date +%s) + 3600 )) > "$T/clock"
python3 - "$H" <<'PY'
import json, os, sys
j = json.load(open(sys.argv[1]))
j["pid"] = os.getppid()         # the test's shell: alive
json.dump(j, open(sys.argv[1], "w"))
PY
SHELF_TEST_CLOCK="$T/clock" expect 3 "monitor: stale (an hour old)" "$SHELF" stream monitor --once
contains "monitor: not writing" "$err" "not writing it"
printf '{"version": 1, "state": "running"' > "$H"
expect 1 "monitor: damaged file" "$SHELF" stream monitor --once
contains "monitor: names the file" "$err" "health.json"
expect 0 "status: a damaged file is no alert" "$SHELF" --json status --offline
printf '{"version": 7}' > "$H"
expect 6 "monitor: newer file" "$SHELF" stream monitor --once

# ---- a healthy engine ----------------------------------------------------------------
expect 0 "pin every sample" "$SHELF" cache pin 1 2 3
"$SHELF" stream stress --voices 3 --duration 10 >"$T/fast.out" 2>"$T/fast.err" &
fast=$!
bg_pids="$bg_pids $fast"
if wait_health "j['state'] == 'running' and j['pid'] == $fast and j['last_minute']['seconds'] >= 1.5"; then
    ok "health file: the healthy engine publishes"
else
    fail "health file: not published"
fi
expect 0 "monitor: healthy" "$SHELF" --json stream monitor --once
check "healthy: no underruns" "$(json 'j["last_minute"]["underruns"] + j["last_minute"]["voices_dropped"]')" = 0
check "healthy: voices play" "$(json 'j["last_minute"]["voices_peak"] > 0')" = True
check "healthy: nothing to suggest" "$(json 'len(j["suggestions"])')" = 0
"$SHELF" --json status --offline >"$T/out" 2>"$T/err"
out=$(cat "$T/out")
check "status: healthy engine, no stream-underruns" "$(json '[a["key"] for a in j["alerts"]].count("stream-underruns")')" = 0
expect 0 "monitor text: keeping up" "$SHELF" stream monitor --once
contains "monitor text: keeping up" "$out" "keeping up"
wait "$fast"
bg_pids=""

# ---- a primary that fails, with a mirror: the switches are in the health -----------------
M="$T/mirror"
mkdir -p "$M"
cp -p "$S"/*.wav "$M/"
expect 0 "unpin" "$SHELF" cache unpin 1 2 3
rm -f "$H"
"$SHELF" stream stress --mirror "$M" --voices 3 --duration 8 --chunk 32 --head 100 \
    --fail-primary 1 --recheck 200 >"$T/mir.out" 2>"$T/mir.err" &
mir=$!
bg_pids="$bg_pids $mir"
if wait_health "j['state'] == 'running' and j['pid'] == $mir and j['totals'].get('failover_switches', 0) > 0"; then
    ok "health file: the switches to the mirror"
else
    fail "health file: no switch within 10 s"; cat "$H" >&2 2>/dev/null
fi
expect 0 "monitor: mirrored engine" "$SHELF" --json stream monitor --once
check "mirrored: switches in the totals" "$(json 'j["totals"]["failover_switches"] > 0')" = True
check "mirrored: and in the last minute" "$(json 'j["last_minute"]["failover_switches"] > 0')" = True
check "mirrored: the mirror served" "$(json 'j["totals"]["failovers"] > 0')" = True
check "mirrored: the mirror never failed" "$(json 'j["totals"]["mirror_down"], j["totals"]["mirror_fallbacks"]')" = "0 0"
expect 0 "monitor text: mirrored" "$SHELF" stream monitor --once
contains "monitor text: a mirrors line" "$out" "mirrors: "
wait "$mir"
bg_pids=""
# a file written before these counts were added still reads (0)
python3 - "$H" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
for k in ("failover_switches", "failover_returns", "mirror_down", "mirror_returns", "mirror_fallbacks"):
    j["totals"].pop(k, None)
for k in ("failover_switches", "mirror_down"):
    j["last_minute"].pop(k, None)
json.dump(j, open(sys.argv[1], "w"))
PY
# (the run ended: exit 3 and says so; a file it could not read would be 1)
expect 3 "monitor: an older file without the mirror counts" "$SHELF" stream monitor --once
contains "older file: read, the engine ended" "$err" "ended"

# --dir plays files outside any library: nothing is published
rm -f "$H"
expect 0 "stress --dir" "$SHELF" stream stress --dir "$S" --voices 2 --duration 1
check "stress --dir: no health file" ! -e "$H"
finish
