#!/bin/bash
# bench_project_archive.sh: auto-archive of a project (issue 16), one run:
#
#   a project of N samples (200) of F frames each (1,323,000: 30 s of
#   44.1 kHz mono 16-bit, 2.6 MB; 530 MB in all), referenced in place;
#   the target a folder on the same disk.  Measured, median of three:
#   (a) `shelf project archive ID --to DIR`: export as a .tar.zst bag with
#       10% parity, copy to the target, fetch back, compare, check the bag,
#       free the samples;
#   (b) `shelf project unarchive ID`: fetch, check, put every sample back;
#   (c) the same job done by hand with the standard tools, as a careful
#       person would: tar | zstd -3, par2 create -r10, cp to the target, cp
#       back, cmp, par2 verify, zstd -t, sha256sum -c of every sample, rm;
#       and back: cp, par2 verify, tar -x, sha256sum -c.
#
#   bench/bench_project_archive.sh [--samples N] [--frames F] [--dir DIR]
#
# Needs python3, zstd, par2 and a release build (SHELF_BUILD, default
# build/release).  Prints a markdown table.
set -u

here=$(cd "$(dirname "$0")" && pwd)
src=$(dirname "$here")
build=${SHELF_BUILD:-$src/build/release}
shelf=$build/cli/shelf
. "$here/bench_lib.sh"
n=200 frames=1323000 dir=${TMPDIR:-/tmp}/shelf-bench-parchive
while [ $# -gt 0 ]; do
    case "$1" in
    --samples) n=$2; shift 2 ;;
    --frames) frames=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    *) echo "usage: $0 [--samples N] [--frames F] [--dir DIR]" >&2; exit 2 ;;
    esac
done
for tool in python3 zstd par2 sha256sum; do
    command -v "$tool" >/dev/null 2>&1 || { echo "bench_project_archive: $tool not found" >&2; exit 1; }
done
[ -x "$shelf" ] || { echo "bench_project_archive: no $shelf (make build)" >&2; exit 1; }

rm -rf "$dir"
mkdir -p "$dir/pack"
echo "making $n samples..." >&2
for i in $(seq 1 "$n"); do
    "$build/tests/shelf-tg" --frames "$frames" --seed "$i" "$dir/pack/s$i.wav" || exit 1
done
export SHELF_LIBRARY="$dir/lib"
"$shelf" init >/dev/null && "$shelf" import "$dir/pack" >/dev/null || exit 1
"$shelf" project new bench >/dev/null || exit 1
ids=$("$shelf" --json ls | python3 -c 'import json,sys; print(" ".join(str(r["id"]) for r in json.load(sys.stdin)))')
# shellcheck disable=SC2086
"$shelf" project add 1 $ids >/dev/null || exit 1
bytes=$(du -sb "$dir/pack" | cut -f1)
(cd "$dir/pack" && sha256sum ./*.wav >"$dir/sums")

shelf_run() {
    local a u
    rm -rf "$dir/target"
    sync
    a=$(bench_time "$shelf" project archive 1 --to "$dir/target")
    [ "$(ls "$dir/pack" | wc -l)" = 0 ] || { echo "archive freed nothing" >&2; exit 1; }
    u=$(bench_time "$shelf" project unarchive 1)
    (cd "$dir/pack" && sha256sum -c --quiet "$dir/sums") || { echo "unarchive lost bytes" >&2; exit 1; }
    echo "$a $u"
}

by_hand_out() {
    local t="$dir/hand"
    rm -rf "$t" "$dir/back" && mkdir -p "$t" "$dir/back"
    (cd "$dir" && tar -cf - pack | zstd -3 -q -T1 -o "$dir/p.tar.zst") &&
        par2 create -q -q -r10 "$dir/p.tar.zst" &&
        cp "$dir"/p.tar.zst* "$t/" &&
        cp "$t"/p.tar.zst* "$dir/back/" &&
        cmp -s "$dir/p.tar.zst" "$dir/back/p.tar.zst" &&
        par2 verify -q -q "$dir/back/p.tar.zst.par2" &&
        zstd -t -q "$dir/back/p.tar.zst" &&
        (cd "$dir/pack" && sha256sum -c --quiet "$dir/sums") &&
        rm -f "$dir"/pack/*.wav "$dir"/p.tar.zst* && rm -rf "$dir/back"
}

by_hand_back() {
    mkdir -p "$dir/back" &&
        cp "$dir"/hand/p.tar.zst* "$dir/back/" &&
        par2 verify -q -q "$dir/back/p.tar.zst.par2" &&
        (cd "$dir" && zstd -d -q -c "$dir/back/p.tar.zst" | tar -xf -) &&
        (cd "$dir/pack" && sha256sum -c --quiet "$dir/sums") && rm -rf "$dir/back"
}

s_out=() s_back=() h_out=() h_back=()
for r in 1 2 3; do
    echo "round $r..." >&2
    read -r a u <<<"$(shelf_run)"
    s_out+=("$a") s_back+=("$u")
    sync
    h_out+=("$(bench_time by_hand_out)")
    h_back+=("$(bench_time by_hand_back)")
done
med() { printf '%s\n' "$@" | median; }
so=$(med "${s_out[@]}") sb=$(med "${s_back[@]}") ho=$(med "${h_out[@]}") hb=$(med "${h_back[@]}")
abytes=$(du -sb "$dir/target/archives" | cut -f1)
python3 - "$n" "$bytes" "$abytes" "$so" "$sb" "$ho" "$hb" <<'EOF'
import sys
n, b, ab = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
so, sb, ho, hb = map(float, sys.argv[4:8])
mb = b / 1e6
print("%d samples, %.0f MB; at the target %.0f MB (archive and parity)\n" % (n, mb, ab / 1e6))
print("| step | seconds | MB/s | shelf / by hand |")
print("|---|---|---|---|")
print("| `shelf project archive` (export, parity, send, fetch back, compare, check, free) | %.2f | %.0f | %.2fx |" % (so, mb / so, so / ho))
print("| by hand: tar, zstd -3, par2 -r10, cp there and back, cmp, par2 verify, zstd -t, sha256sum -c, rm | %.2f | %.0f | |" % (ho, mb / ho))
print("| `shelf project unarchive` (fetch, check, put back, hash) | %.2f | %.0f | %.2fx |" % (sb, mb / sb, sb / hb))
print("| by hand: cp, par2 verify, zstd -d, tar -x, sha256sum -c | %.2f | %.0f | |" % (hb, mb / hb))
EOF
rm -rf "$dir"
