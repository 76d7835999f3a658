#!/bin/bash
# bench_sync_files.sh: the initial sync of a library's sample files between
# two devices on 127.0.0.1, beside cp and rsync of the same bytes, in one
# run (issue 14: "initial sync of a 1 GiB library limited by disk or
# loopback, not by shelf: at least 80% of cp/rsync").
#
#   shelf       library A holds SIZE MiB of managed samples (imported with
#               --copy: its store), B is new and paired; `shelf sync` from B
#               with A listening: every row, then every copy into B's store
#               (TLS 1.3 on loopback, each file hashed on arrival, written
#               and fsynced);
#   shelf hub   A pushes to a folder, a third device C pulls it all; the
#               same through s3rver (S3 on 127.0.0.1, when installed);
#   cp          cp -r of A's objects/ folder, then the same followed by sync;
#   rsync       rsync -a of the same folder (local).
#
#   bench/bench_sync_files.sh [--mib SIZE] [--dir DIR]
#
# The files are made once (sine waves, 4 MiB each); every copy reads them
# from the page cache.  Prints a markdown table with MB/s and the ratio of
# each to cp.
set -u

here=$(cd "$(dirname "$0")" && pwd)
src=$(dirname "$here")
build=${SHELF_BUILD:-$src/build/release}
shelf=$build/cli/shelf
tg=$build/tests/shelf-tg
mib=1024 dir=${TMPDIR:-/tmp}/shelf-bench-sync-files
while [ $# -gt 0 ]; do
    case "$1" in
    --mib) mib=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    *) echo "usage: $0 [--mib SIZE] [--dir DIR]" >&2; exit 2 ;;
    esac
done
for p in python3 rsync; do
    command -v $p >/dev/null 2>&1 || { echo "bench_sync_files: $p not found (install-deps --tools)" >&2; exit 1; }
done
[ -x "$shelf" ] && [ -x "$tg" ] || { echo "bench_sync_files: no $shelf or $tg (make build)" >&2; exit 1; }

rm -rf "$dir"
mkdir -p "$dir/pack"
lpid=""
trap '[ -n "$lpid" ] && kill $lpid 2>/dev/null; wait 2>/dev/null' EXIT

now() { date +%s.%N; }
since() { python3 -c "import sys; print('%.3f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$1" "$(now)"; }
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

files=$((mib / 4))
echo "making $files files of 4 MiB..." >&2
for i in $(seq 1 $files); do
    "$tg" --frames 2097152 --seed "$i" "$dir/pack/sample $i.wav" || exit 1
done
bytes=$(du -sb "$dir/pack" | cut -f1)

A=$dir/a B=$dir/b C=$dir/c
for L in "$A" "$B" "$C"; do "$shelf" -L "$L" init >/dev/null || exit 1; done
"$shelf" -L "$A" import --copy "$dir/pack" >/dev/null || exit 1
ia=$("$shelf" -q -L "$A" device id)
for L in "$B" "$C"; do
    "$shelf" -L "$A" device add "$("$shelf" -q -L "$L" device id)" >/dev/null
    "$shelf" -L "$L" device add "$ia" >/dev/null
done
sync

# shelf peer to peer
p=$(port)
"$shelf" -L "$A" sync listen --address "127.0.0.1:$p" --once --no-announce >"$dir/listen.out" 2>&1 &
lpid=$!
sleep 0.5
t0=$(now)
"$shelf" -L "$B" --json sync "127.0.0.1:$p" >"$dir/peer.json" || exit 1
t_peer=$(since "$t0")
wait "$lpid"; lpid=""
got=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["files_in"])' "$dir/peer.json")
[ "$got" = "$files" ] || { echo "bench_sync_files: $got files came, not $files" >&2; exit 1; }

# hub_round HUB LIB: A pushes to HUB (timed: $t_push), LIB (a device that
# has never met A) pulls it all (timed: $t_pull).  LIB's first pull only
# publishes its key-exchange key; A's next push wraps the library key for
# it.
hub_round() {
    local t0
    t0=$(now)
    "$shelf" -L "$A" sync push "$1" >/dev/null || exit 1
    t_push=$(since "$t0")
    "$shelf" -L "$2" sync pull "$1" >/dev/null 2>&1
    "$shelf" -L "$A" sync push "$1" >/dev/null || exit 1
    t0=$(now)
    "$shelf" -L "$2" sync pull "$1" >/dev/null || exit 1
    t_pull=$(since "$t0")
}
hub_round "$dir/hub" "$C"

# shelf through S3 (s3rver, when installed): push, then a fourth device pulls
t_s3push="" t_s3pull=""
if command -v node >/dev/null && [ -d "$src/tests/servers/node_modules/@20minutes/s3rver" ]; then
    mkdir -p "$dir/s3rver"
    NODE_OPTIONS=--openssl-legacy-provider node "$src/tests/servers/s3rver.js" "$dir/s3rver" 0 shelf \
        >"$dir/s3rver.out" 2>&1 &
    s3pid=$!
    for _ in $(seq 100); do
        s3port=$(sed -n 's/^ready \([0-9]*\)$/\1/p' "$dir/s3rver.out")
        [ -n "$s3port" ] && break
        sleep 0.1
    done
    export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
    H3=s3:http://127.0.0.1:$s3port/shelf/hub
    D=$dir/d
    "$shelf" -L "$D" init >/dev/null
    "$shelf" -L "$A" device add "$("$shelf" -q -L "$D" device id)" >/dev/null
    "$shelf" -L "$D" device add "$ia" >/dev/null
    t_dirpush=$t_push t_dirpull=$t_pull
    hub_round "$H3" "$D"
    t_s3push=$t_push t_s3pull=$t_pull t_push=$t_dirpush t_pull=$t_dirpull
    kill "$s3pid" 2>/dev/null
fi

# cp, cp + sync, rsync of the same store
t0=$(now); cp -r "$A/objects" "$dir/cp1"; t_cp=$(since "$t0")
t0=$(now); cp -r "$A/objects" "$dir/cp2"; sync; t_cps=$(since "$t0")
t0=$(now); rsync -a "$A/objects/" "$dir/rsync/"; t_rsync=$(since "$t0")

row() { # NAME SECONDS
    python3 -c "
import sys
name, t, b, cp = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
print('| %s | %.2f | %.0f | %.2f |' % (name, t, b / t / 1e6, cp / t))" "$1" "$2" "$bytes" "$t_cp"
}
echo
echo "$files files, $((bytes / 1048576)) MiB, $(nproc) cores, $(date -u +%F)"
echo
echo "| copy | seconds | MB/s | speed vs cp |"
echo "|---|---|---|---|"
row "cp -r" "$t_cp"
row "cp -r; sync" "$t_cps"
row "rsync -a (local)" "$t_rsync"
row "shelf sync (peer, TLS, hashed, fsynced)" "$t_peer"
row "shelf sync push (hub folder, sealed)" "$t_push"
row "shelf sync pull (new device, hub folder)" "$t_pull"
[ -n "$t_s3push" ] && row "shelf sync push (s3rver on 127.0.0.1)" "$t_s3push"
[ -n "$t_s3pull" ] && row "shelf sync pull (new device, s3rver)" "$t_s3pull"
exit 0
