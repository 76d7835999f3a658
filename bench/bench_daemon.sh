#!/bin/bash
# bench_daemon.sh: what `shelf daemon` costs while nothing happens, on a
# library of N catalog entries (issue 16's benchmark: idle CPU under 0.5%,
# memory within 50 MB of the preloaded index), side by side with
# `shelf serve` alone on the same library (the daemon hosts the same server;
# the difference is what the daemon adds: its claim, its alerts, its watch
# of the roots, its schedules):
#
#   for each of  shelf serve --port 0
#                shelf daemon --serve --port 0 --no-space --no-notify
#   start it, wait until it answers (index preloaded), let it settle
#   SETTLE s, then over IDLE s read its CPU time (utime + stime of
#   /proc/PID/stat) and its resident memory (VmRSS, VmHWM).
#
#   bench/bench_daemon.sh [--samples N] [--library DIR] [--idle S] [--settle S]
#
# --library uses an existing library (bench_search's library-1000000, say)
# instead of making one: N rows written straight into the catalog with
# sqlite3 (its sha3()), as lib.sh's bulk_samples does.  No baseline tool
# does this job; the comparison is with shelf serve and the preload size.
# Prints a markdown table.
set -u

here=$(cd "$(dirname "$0")" && pwd)
src=$(dirname "$here")
build=${SHELF_BUILD:-$src/build/release}
shelf=$build/cli/shelf
n=1000000 lib="" idle=30 settle=5
while [ $# -gt 0 ]; do
    case $1 in
        --samples) n=$2; shift 2 ;;
        --library) lib=$2; shift 2 ;;
        --idle) idle=$2; shift 2 ;;
        --settle) settle=$2; shift 2 ;;
        *) echo "usage: bench_daemon.sh [--samples N] [--library DIR] [--idle S] [--settle S]" >&2; exit 2 ;;
    esac
done
[ -x "$shelf" ] || { echo "bench_daemon: no $shelf: build first (cmake --build build/release)" >&2; exit 1; }
T=$(mktemp -d "${TMPDIR:-/tmp}/shelf-bench-daemon.XXXXXX")
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$T"' EXIT

if [ -z "$lib" ]; then
    lib=$T/lib
    mkdir -p "$T/samples"
    "$build/tests/shelf-tg" "$T/samples/seed.wav" || exit 1
    "$shelf" -L "$lib" import "$T/samples" >/dev/null || exit 1
    echo "writing $n catalog rows..." >&2
    sqlite3 "$lib/shelf.db" "
      WITH RECURSIVE i(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM i WHERE k < $n)
      INSERT INTO samples(name, root_id, relpath, size, mtime_ns, sha256, format, rate, channels,
                          frames, duration, bits, category, created)
        SELECT 'bulk ' || k, 1, 'bulk/' || k || '.wav', 1000 + k, 0, lower(hex(sha3(k, 256))),
               'WAV', 44100, 1, 100, 0.01, 16, 'bulk', 1700000000 FROM i;" || exit 1
fi
total=$("$shelf" -L "$lib" --json stats 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["samples"])' 2>/dev/null || echo "?")
hz=$(getconf CLK_TCK)

# measure NAME CMD...: start CMD (its first JSON line with "url" says it
# answers), settle, then CPU and memory over the idle time.
measure() {
    local name=$1 url="" t0 t1 c0 c1 k
    shift
    "$@" >"$T/out" 2>"$T/err" &
    pid=$!
    t0=$(date +%s.%N)
    for k in $(seq 6000); do
        url=$(python3 -c '
import json, sys
for l in open(sys.argv[1]):
    try:
        e = json.loads(l)
    except ValueError:
        continue
    if "url" in e:
        print(e["url"]); break' "$T/out" 2>/dev/null)
        [ -n "$url" ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    t1=$(date +%s.%N)
    if [ -z "$url" ]; then
        echo "bench_daemon: $name did not start:" >&2
        sed 's/^/    /' "$T/err" >&2
        exit 1
    fi
    base=${url%%/?token=*}
    token=${url##*token=}
    preload=$(curl -sf -H "X-Shelf-Token: $token" "$base/api/session" |
              python3 -c 'import json,sys; print(json.load(sys.stdin)["preload_bytes"])')
    sleep "$settle"
    c0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    sleep "$idle"
    c1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
    hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")
    kill -TERM "$pid"
    wait "$pid"
    pid=""
    python3 - "$name" "$t0" "$t1" "$c0" "$c1" "$hz" "$idle" "$rss" "$hwm" "$preload" <<'EOF'
import sys
name, t0, t1, c0, c1, hz, idle, rss, hwm, pre = sys.argv[1:]
cpu = (int(c1) - int(c0)) / int(hz) / float(idle) * 100
print(f"| {name} | {float(t1) - float(t0):.1f} s | {cpu:.3f} % | {int(rss) / 1024:.1f} MiB | "
      f"{int(hwm) / 1024:.1f} MiB | {int(pre) / 2**20:.1f} MiB |")
EOF
}

echo "library: $total catalog entries ($lib); idle $idle s after $settle s; $(nproc) cores"
echo
echo "| process | ready in | idle CPU | RSS | peak RSS | preloaded index |"
echo "|---|---|---|---|---|---|"
measure "shelf serve" "$shelf" -L "$lib" --json serve --port 0
measure "shelf daemon --serve" "$shelf" -L "$lib" --json daemon --serve --port 0 --no-space --no-notify
