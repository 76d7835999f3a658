#!/bin/bash
# bench_serve.sh: `shelf serve` at a million samples, in Debian's chromium
# (a benchmark, not a test: ctest never runs it; doc/benchmarks.md, "The
# page at a million samples").
#
#   bench/bench_serve.sh SHELF BENCH_SEARCH SHELF_TG [DIR]     (BENCH_ENTRIES=N for another size)
#
# DIR (default /var/tmp/shelf-bench-serve) keeps the library bench_search
# generates (1,000,000 samples; reused when there) and its keystrokes
# (keys.csv).  200 real WAV files are imported beside the generated rows
# (named "benchwav N"), so clicks can play something.  Then: the time from
# `shelf serve` starting to the first search answered, and
# bench/serve_api.py: every bench_search keystroke against the API alone
# (time to first byte, from a one-threaded Python client); then
# bench/serve_browser.js: the same from Node, the same keystrokes typed into
# the page (keystroke to results painted), clicks to audio playing, and a
# tag edit to the next search that finds it.  Prints a Markdown table for
# doc/benchmarks.md; SHELF_BENCH_RAW=FILE also keeps every measurement
# (FILE, and FILE.api for the Python client's).
set -eu

SHELF=$(realpath "$1")
BENCH_SEARCH=$(realpath "$2")
TG=$(realpath "$3")
DIR=${4:-/var/tmp/shelf-bench-serve}
SRC=$(cd "$(dirname "$0")/.." && pwd)
N=${BENCH_ENTRIES:-1000000}   # fewer for a quick look
LIB="$DIR/library-$N"

[ -x /usr/bin/chromium ] && [ -d "$SRC/tests/servers/node_modules/playwright-core" ] || {
    echo "bench_serve: needs /usr/bin/chromium and playwright-core (scripts/install-deps)" >&2
    exit 2
}
mkdir -p "$DIR"
if [ ! -f "$LIB/shelf.db" ] || [ ! -s "$DIR/keys.csv" ]; then
    echo "bench_serve: generating $N samples (bench_search)" >&2
    "$BENCH_SEARCH" --entries "$N" --dir "$DIR" --keep --no-baseline --csv "$DIR/keys.csv" >"$DIR/bench_search.log"
fi
if [ ! -d "$DIR/wav" ]; then
    mkdir -p "$DIR/wav.tmp"
    for i in $(seq 200); do
        "$TG" --seed "$i" --frames 44100 "$DIR/wav.tmp/benchwav $i.wav"
    done
    mv "$DIR/wav.tmp" "$DIR/wav"
fi
"$SHELF" -L "$LIB" import "$DIR/wav" >/dev/null

# Start the server; the first search it answers, timed from the start.
out="$DIR/serve.out"
t0=$(date +%s.%N)
"$SHELF" -L "$LIB" serve --port 0 --json >"$out" 2>"$DIR/serve.err" &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
url=""
for _ in $(seq 600); do
    url=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["url"])' "$out" 2>/dev/null) && break
    sleep 0.05
done
[ -n "$url" ] || { echo "bench_serve: the server did not start" >&2; cat "$DIR/serve.err" >&2; exit 1; }
first=$(python3 - "$url" "$t0" <<'EOF'
import sys, time, urllib.parse, urllib.request
u = urllib.parse.urlsplit(sys.argv[1])
tok = urllib.parse.parse_qs(u.query)["token"][0]
r = urllib.request.Request("http://%s/api/search?q=kick" % u.netloc, headers={"X-Shelf-Token": tok})
urllib.request.urlopen(r).read()
print("%.2f" % (time.time() - float(sys.argv[2])))
EOF
)
rss=$(awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$pid/status")
# the API alone (one-threaded client), then the page in chromium
api=$(python3 "$SRC/bench/serve_api.py" "$url" "$DIR/keys.csv" ${SHELF_BENCH_RAW:+"$SHELF_BENCH_RAW.api"})
res=$(SHELF_URL="$url" SHELF_KEYS="$DIR/keys.csv" SHELF_AUDIO_QUERY="benchwav" SHELF_SRC="$SRC" \
      node "$SRC/bench/serve_browser.js")
rss_after=$(awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$pid/status")
kill "$pid"
wait "$pid" 2>/dev/null || true

python3 - "$res" "$api" "$first" "$rss" "$rss_after" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'EOF'
import json, sys, time
r = json.loads(sys.argv[1])
a = json.loads(sys.argv[2])
first, rss, rss_after, cpus, load = sys.argv[3:8]
def row(name, s, aim=""):
    f = lambda v: "-" if v is None else "%.1f" % v
    return "| %s | %d | %s | %s | %s | %s | %s |" % (name, s["n"], f(s["p50"]), f(s["p95"]), f(s["p99"]),
                                                   f(s["max"]), aim)
print("%s UTC, %s cores, load average %s; %d typed sequences, %d keystrokes (bench_search's: %d)" %
      (time.strftime("%Y-%m-%d %H:%M", time.gmtime()), cpus, load, r["sequences"], r["keystrokes"],
       r["csv_keystrokes"]))
print()
print("| what | n | p50 ms | p95 ms | p99 ms | max ms | aim |")
print("|---|--:|--:|--:|--:|--:|---|")
print(row("keystroke to results painted, in chromium", r["browser"], "p95 <= 60, p99 <= 120"))
print(row("the same keystrokes, API alone: first byte", a["api_ttfb"], "p99 <= 5"))
print(row("the same keystrokes, API alone: whole answer", a["api_whole"]))
print(row("the same keystrokes, in the server (`ms`)", a["server_ms"]))
print(row("the same keystrokes from Node: first byte", r["api_ttfb"]))
print(row("the same keystrokes from Node, in the server (`ms`)", r["server_ms"]))
print(row("click to audio playing", r["audio"], "p95 <= 100"))
print(row("tag edit to the next search finding it", r["edit_search"], "<= 10"))
print()
print("first search answered %s s after `shelf serve` started (aim 2 s); server RSS %s MB after it, %s MB at the end"
      % (first, rss, rss_after))
EOF
