#!/bin/bash
# bench_watch.sh: background indexing (issue 16's benchmark), one run:
#
#   a root of N small WAV files (100,000: 1,000 folders of 100, each file
#   different, 100 frames) imported into a library; `shelf watch` (its
#   default debounce, 500 ms; --no-scan) watching it:
#   (a) the watcher's start: time until it says it watches every folder;
#   (b) latency: M files (200) written one at a time into folders of the
#       root, each after the one before is in the catalog and a random
#       pause (0-200 ms); latency is from the file's close to its row in
#       the catalog (shelf.db polled every 5 ms by a reader of its own),
#       p50, p99, max;
#   (c) idle: the watcher's CPU over 10 s with nothing changing
#       (/proc/PID/stat utime + stime) and its RSS (VmRSS, VmHWM).
#
#   bench/bench_watch.sh [--files N] [--writes M] [--dir DIR]
#
# No other tool is measured beside it: none does what it does (import on
# change into a catalog of samples with moves kept).  Needs python3 and a
# release build (SHELF_BUILD, default build/release).  Prints a markdown
# table.
set -u

here=$(cd "$(dirname "$0")" && pwd)
src=$(dirname "$here")
build=${SHELF_BUILD:-$src/build/release}
shelf=$build/cli/shelf
n=100000 m=200 dir=${TMPDIR:-/tmp}/shelf-bench-watch
while [ $# -gt 0 ]; do
    case "$1" in
    --files) n=$2; shift 2 ;;
    --writes) m=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    *) echo "usage: $0 [--files N] [--writes M] [--dir DIR]" >&2; exit 2 ;;
    esac
done
command -v python3 >/dev/null 2>&1 || { echo "bench_watch: python3 not found" >&2; exit 1; }
[ -x "$shelf" ] || { echo "bench_watch: no $shelf (make build)" >&2; exit 1; }

rm -rf "$dir"
mkdir -p "$dir/root"
wpid=""
trap '[ -z "$wpid" ] || { kill -INT $wpid 2>/dev/null; wait $wpid 2>/dev/null; }; rm -rf "$dir"' EXIT
. "$(dirname "$0")/bench_lib.sh"
export SHELF_LIBRARY=$dir/lib

# N distinct little WAVs (mono, 16-bit, 100 frames), 100 to a folder.
wavs() {
    python3 - "$1" "$2" "$3" <<'EOF'
import os, struct, sys
root, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def wav(i):
    data = struct.pack("<100h", *[((i * 7919 + k * 31) % 65536) - 32768 for k in range(100)])
    return (b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt " +
            struct.pack("<IHHIIHH", 16, 1, 1, 44100, 88200, 2, 16) + b"data" +
            struct.pack("<I", len(data)) + data)
for i in range(first, first + count):
    d = os.path.join(root, "pack %d" % (i // 100))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "sample %d.wav" % i), "wb") as f:
        f.write(wav(i))
EOF
}

echo "making $n files..." >&2
wavs "$dir/root" 0 "$n"
"$shelf" init >/dev/null || exit 1
echo "importing them..." >&2
t_import=$(bench_time "$shelf" import "$dir/root")

echo "starting the watcher..." >&2
t0=$(now)
"$shelf" --json watch --no-scan >"$dir/watch.out" 2>"$dir/watch.err" &
wpid=$!
for _ in $(seq 600); do grep -q '"note":"watching' "$dir/watch.out" && break; sleep 0.05; done
t_start=$(python3 -c "import sys; print('%.3f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$t0" "$(now)")
watching=$(sed -n 's/.*"note":"\(watching [^"]*\)".*/\1/p' "$dir/watch.out")
[ -n "$watching" ] || { echo "bench_watch: the watcher did not start: $(cat "$dir/watch.err")" >&2; exit 1; }

echo "writing $m files one at a time..." >&2
lat=$(python3 - "$dir/lib/shelf.db" "$dir/root" "$n" "$m" <<'EOF'
import os, random, sqlite3, struct, sys, time
db_path, root, n, m = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
db = sqlite3.connect("file:%s?mode=ro" % db_path, uri=True)
random.seed(16)
def wav(i):
    data = struct.pack("<100h", *[((i * 7919 + k * 31) % 65536) - 32768 for k in range(100)])
    return (b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt " +
            struct.pack("<IHHIIHH", 16, 1, 1, 44100, 88200, 2, 16) + b"data" +
            struct.pack("<I", len(data)) + data)
lat = []
for j in range(m):
    i = n + j
    folder = "pack %d" % random.randrange(n // 100)
    rel = "%s/new %d.wav" % (folder, i)
    time.sleep(random.random() * 0.2)
    with open(os.path.join(root, rel), "wb") as f:
        f.write(wav(i))
    t0 = time.monotonic()
    while True:
        if db.execute("SELECT 1 FROM samples WHERE relpath = ? AND missing = 0", (rel,)).fetchone():
            break
        if time.monotonic() - t0 > 30:
            sys.exit("not in the catalog after 30 s: " + rel)
        time.sleep(0.005)
    lat.append(time.monotonic() - t0)
lat.sort()
pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
print("%.3f %.3f %.3f" % (pick(0.5), pick(0.99), lat[-1]))
EOF
) || exit 1
read -r p50 p99 pmax <<<"$lat"

echo "idle for 10 s..." >&2
sleep 2
ticks() { awk '{ print $14 + $15 }' "/proc/$wpid/stat"; }
c0=$(ticks)
sleep 10
c1=$(ticks)
hz=$(getconf CLK_TCK)
cpu=$(python3 -c "import sys; print('%.2f' % ((int(sys.argv[2]) - int(sys.argv[1])) * 100.0 / int(sys.argv[3]) / 10))" "$c0" "$c1" "$hz")
rss=$(awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$wpid/status")
hwm=$(awk '/^VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$wpid/status")
imported=$(grep -c '"action":"imported"' "$dir/watch.out")

echo "| what | figure |"
echo "|---|---|"
echo "| files watched | $n ($watching) |"
echo "| shelf import of them (first) | $t_import s |"
echo "| watcher start (every folder watched) | $t_start s |"
echo "| latency, file closed -> in the catalog ($m files, one at a time) | p50 $p50 s, p99 $p99 s, max $pmax s |"
echo "| files the watcher reported imported | $imported of $m |"
echo "| idle CPU over 10 s | $cpu % |"
echo "| RSS (peak) | $rss MB ($hwm MB) |"
