#!/bin/bash
# bench_export_all.sh: shelf export-all beside what a person would do by
# hand to get the same data out: copy the sample files (cp -r) and dump the
# catalog (sqlite3 .dump), and the same packed in one tar.  export-all does
# more (both manifests, per-sample JSON, histories, every table as CSV and
# JSON), so the ratio is what the rest costs.
#
# Library: N samples of 1 s (44.1 kHz mono 16-bit, made with shelf-tg)
# imported in place, a tag on every tenth.  Three runs each, the median;
# peak RSS of export-all.
#
# Usage: bench/bench_export_all.sh [BUILD_DIR] [N]
set -u
build=${1:-build/release}
n=${2:-2000}
shelf=$build/cli/shelf
dir=${TMPDIR:-/tmp}/shelf-bench-export-all
. "$(dirname "$0")/bench_lib.sh"
rm -rf "$dir"
mkdir -p "$dir/pack"
trap 'rm -rf "$dir"' EXIT

echo "making $n samples..." >&2
for i in $(seq 1 "$n"); do
    "$build/tests/shelf-tg" --frames 44100 --seed "$i" "$dir/pack/sample $i.wav" || exit 1
done
L=$dir/lib
"$shelf" -L "$L" init >/dev/null || exit 1
"$shelf" -L "$L" import "$dir/pack" >/dev/null || exit 1
sqlite3 "$L/shelf.db" "INSERT INTO tags(name) VALUES('bench');
  INSERT INTO tag_items(tag_id, kind, item_id) SELECT (SELECT id FROM tags WHERE name = 'bench'), 1, id
    FROM samples WHERE id % 10 = 1;" || exit 1
bytes=$(du -sb "$dir/pack" | cut -f1)

for r in 1 2 3; do
    rm -f "$dir/out.tar"
    bench_time "$shelf" -L "$L" export-all "$dir/out.tar" --no-sign
done >"$dir/t.shelf"
for r in 1 2 3; do
    rm -rf "$dir/copy"
    bench_time sh -c "mkdir '$dir/copy' && cp -r '$dir/pack' '$dir/copy/' && sqlite3 '$L/shelf.db' .dump >'$dir/copy/catalog.sql'"
done >"$dir/t.cp"
for r in 1 2 3; do
    rm -f "$dir/copy.tar"
    bench_time tar -cf "$dir/copy.tar" -C "$dir" pack -C "$dir/copy" catalog.sql
done >"$dir/t.tar"
rm -f "$dir/out.tar"
rss=$(/usr/bin/time -f %M "$shelf" -L "$L" export-all "$dir/out.tar" --no-sign 2>&1 >/dev/null | tail -1)
ts=$(median <"$dir/t.shelf") tc=$(median <"$dir/t.cp") tt=$(median <"$dir/t.tar")
mb() { python3 -c "print('%.0f' % ($1 / 1e6))"; }

printf 'library: %d samples, %s MB of audio\n' "$n" "$(mb "$bytes")"
printf '%-28s %8s %8s\n' step seconds MB/s
printf '%-28s %8s %8s\n' "shelf export-all" "$ts" "$(python3 -c "print('%.0f' % ($bytes / 1e6 / $ts))")"
printf '%-28s %8s %8s\n' "cp -r + sqlite3 .dump" "$tc" "$(python3 -c "print('%.0f' % ($bytes / 1e6 / $tc))")"
printf '%-28s %8s %8s\n' "tar of the same" "$tt" "$(python3 -c "print('%.0f' % ($bytes / 1e6 / $tt))")"
printf 'export-all / (cp + dump): %.2fx\n' "$(python3 -c "print($ts / $tc)")"
printf 'export-all / tar:         %.2fx\n' "$(python3 -c "print($ts / $tt)")"
printf 'export-all peak RSS: %d MB; bag %s MB\n' $((rss / 1024)) "$(mb "$(stat -c %s "$dir/out.tar")")"
