#!/bin/bash
# bench_backup_purge.sh: what `shelf backup purge` costs on a repository
# of a large library, beside the same repository's other whole-repository
# steps (no outside backup tool purges an item out of its snapshots' own
# catalogs, so the references are shelf's own):
#
#   dry-run    backup purge --dry-run of one managed sample with a tag
#              (every snapshot's catalog copy restored and purged in a
#              transaction that is rolled back)
#   purge      backup purge of it (each snapshot's catalog copy purged,
#              vacuumed and stored again, its tree without the blob, then
#              every pack holding an unused blob rewritten)
#   backup     an incremental backup with nothing changed
#   prune      backup prune with nothing to remove
#
# Library: $n sample rows (1,000 real managed samples, the rest rows
# inserted with sqlite3 as bench_purge.sh does); three snapshots (a full,
# two incrementals), an encrypted repository.  Three runs of each on a
# fresh copy of the repository, the median; peak RSS of the purge.
#
# Usage: bench/bench_backup_purge.sh [BUILD_DIR] [N]
set -u
build=${1:-build/release}
n=${2:-20000}
shelf=$build/cli/shelf
dir=${TMPDIR:-/tmp}/shelf-bench-bpurge
rm -rf "$dir"
mkdir -p "$dir/pack"
trap 'rm -rf "$dir"' EXIT
export SHELF_PASSWORD="bench password"

. "$(dirname "$0")/bench_lib.sh"

bench_library "$build" "$dir" 44100 "$n"
L=$dir/lib
"$shelf" -L "$L" tag add 10 zqxbenchsecret >/dev/null || exit 1
R=$dir/repo
"$shelf" -L "$L" backup init --kdf-cost 10 "$R" >/dev/null || exit 1
"$shelf" -L "$L" backup --full "$R" >/dev/null || exit 1
"$shelf" -L "$L" tag add 11 later >/dev/null || exit 1
"$shelf" -L "$L" backup "$R" >/dev/null || exit 1
"$shelf" -L "$L" tag add 12 later >/dev/null || exit 1
"$shelf" -L "$L" backup "$R" >/dev/null || exit 1
name=$("$shelf" -L "$L" --json purge --preview --force 10 |
       python3 -c 'import json, sys; print([i["name"] for i in json.load(sys.stdin)["items"] if i["what"] == "sample"][0])')
rsize=$(du -sm "$R" | cut -f1)
csize=$(du -sm "$L/shelf.db" | cut -f1)

run() {     # run CMD...: on a fresh copy of the repository, seconds
    rm -rf "$dir/run"
    cp -a "$R" "$dir/run"
    bench_time "$@"
}

declare -A t
for what in dry-run purge backup prune; do
    for r in 1 2 3; do
        case $what in
            dry-run) run "$shelf" -L "$L" backup purge --dry-run --sample "$name" "$dir/run" ;;
            purge) run "$shelf" -L "$L" backup purge --sample "$name" "$dir/run" ;;
            backup) run "$shelf" -L "$L" backup "$dir/run" ;;
            prune) run "$shelf" -L "$L" backup prune "$dir/run" ;;
        esac
    done >"$dir/t.$what"
    t[$what]=$(median <"$dir/t.$what")
done
rm -rf "$dir/run"
cp -a "$R" "$dir/run"
rss=$(/usr/bin/time -f %M "$shelf" -L "$L" backup purge --sample "$name" "$dir/run" 2>&1 >/dev/null | tail -1)
packs=$("$shelf" -L "$L" --json backup purge --sample "$name" "$dir/run" |
        python3 -c 'import json, sys; j = json.load(sys.stdin); print(j["snapshots_rewritten"])')

printf 'library: %d sample rows, catalog %d MB; repository %d MB, 3 snapshots\n' "$n" "$csize" "$rsize"
printf '%-10s %8s\n' step seconds
for what in dry-run purge backup prune; do printf '%-10s %8s\n' "$what" "${t[$what]}"; done
printf 'purge / backup: %.1fx\n' "$(python3 -c "print(${t[purge]} / ${t[backup]})")"
printf 'purge / prune:  %.1fx\n' "$(python3 -c "print(${t[purge]} / ${t[prune]})")"
printf 'purge peak RSS: %d MB\n' $((rss / 1024))
printf 'snapshots still holding it after the purge: %s\n' "$packs"
