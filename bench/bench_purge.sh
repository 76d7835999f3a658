#!/bin/bash
# bench_purge.sh: what a purge costs on a large library, beside what the
# same library's other whole-catalog steps cost (there is no outside tool
# that purges a catalog; the references are shelf's own):
#
#   purge      shelf purge of one managed sample with a tag (rows, history,
#              audit rows, sync log emptied, secure_delete, FTS optimize,
#              WAL checkpoint)
#   preview    shelf purge --preview of the same
#   rm         shelf rm of a comparable sample (the plain removal)
#   vacuum     shelf vacuum (rewrites the whole catalog)
#
# Library: $n sample rows (1,000 real managed samples, the rest rows
# inserted with sqlite3 as bench_sync.sh does), the change log drained.
# Three runs of each on a fresh copy, the median; peak RSS of the purge.
#
# Usage: bench/bench_purge.sh [BUILD_DIR] [N]
set -u
build=${1:-build/release}
n=${2:-100000}
shelf=$build/cli/shelf
dir=${TMPDIR:-/tmp}/shelf-bench-purge
rm -rf "$dir"
mkdir -p "$dir/pack"
trap 'rm -rf "$dir"' EXIT

. "$(dirname "$0")/bench_lib.sh"

bench_library "$build" "$dir" 4410 "$n"
L=$dir/lib
"$shelf" -L "$L" -q sync status >/dev/null || exit 1     # the change log drained
"$shelf" -L "$L" tag add 10 zqxbenchsecret >/dev/null || exit 1
"$shelf" -L "$L" vacuum >/dev/null || exit 1
size=$(du -sm "$L/shelf.db" | cut -f1)

run() {     # run CMD...: on a fresh copy, seconds
    rm -rf "$dir/run"
    cp -a "$L" "$dir/run"
    bench_time "$@"
}

declare -A t
for what in preview purge rm vacuum; do
    for r in 1 2 3; do
        case $what in
            preview) run "$shelf" -L "$dir/run" purge --preview 10 ;;
            purge) run "$shelf" -L "$dir/run" purge 10 ;;
            rm) run "$shelf" -L "$dir/run" rm 11 ;;
            vacuum) run "$shelf" -L "$dir/run" vacuum ;;
        esac
    done >"$dir/t.$what"
    t[$what]=$(median <"$dir/t.$what")
done
rm -rf "$dir/run"
cp -a "$L" "$dir/run"
rss=$(/usr/bin/time -f %M "$shelf" -L "$dir/run" purge 10 2>&1 >/dev/null | tail -1)
# and nothing of it is left
left=$(grep -rla zqxbenchsecret "$dir/run" | wc -l)

printf 'library: %d sample rows, catalog %d MB\n' "$n" "$size"
printf '%-10s %8s\n' step seconds
for what in preview purge rm vacuum; do printf '%-10s %8s\n' "$what" "${t[$what]}"; done
printf 'purge / rm:     %.1fx\n' "$(python3 -c "print(${t[purge]} / ${t[rm]})")"
printf 'purge / vacuum: %.2fx\n' "$(python3 -c "print(${t[purge]} / ${t[vacuum]})")"
printf 'purge peak RSS: %d MB\n' $((rss / 1024))
printf 'files still holding the tag after the purge: %d\n' "$left"
