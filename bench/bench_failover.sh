#!/bin/bash
# bench_failover.sh: failover figures of the streaming engine (doc/
# benchmarks.md, "Failover").  `shelf stream stress` with the primary
# failing mid-run, with and without a mirror, three ways:
#   eio    the engine's fault layer fails every primary read (EIO) 3-6 s
#   slow   the fault layer makes every primary read SLOW ms longer 3-6 s
#   pull   (root) the primary is an ext4 filesystem on a loop device: at 3 s
#          it is shut down (EXT4_IOC_SHUTDOWN, reads fail with EIO) and
#          lazily unmounted, at 6 s its image comes back on a new loop
#          device at the same mount point
# One row per run: underruns, notes started late, chunks lost, voices
# dropped, reads the mirror served, switches and returns, and the time
# from the primary read that failed (or was late) to the mirror's copy
# being ready (mean and max).
# Usage: bench/bench_failover.sh SHELF SHELF_TG [VOICES] [SECONDS] [SLOW_MS]
# Run as root in a mount namespace for the pull rows: unshare -m --propagation private.
set -u
SHELF=${1:?shelf binary}
TG=${2:?shelf-tg binary}
VOICES=${3:-16}
SECS=${4:-10}
SLOW=${5:-500}
W=$(mktemp -d /tmp/bench-failover.XXXXXX)
LOOPS=""
cleanup() {
    umount "$W/P" "$W/M" 2>/dev/null
    for d in $LOOPS; do losetup -d "$d" 2>/dev/null; done
    rm -rf "$W"
}
trap cleanup EXIT
attach() { DEV=$(losetup -f --show "$1") && LOOPS="$LOOPS $DEV"; }

mkdir -p "$W/P" "$W/M"
real=0
if [ "$(id -u)" = 0 ] && command -v mkfs.ext4 >/dev/null; then
    truncate -s 256M "$W/p.img" "$W/m.img"
    if mkfs.ext4 -q -F "$W/p.img" && mkfs.ext4 -q -F "$W/m.img" && attach "$W/p.img" &&
        mount "$DEV" "$W/P" && attach "$W/m.img" && mount "$DEV" "$W/M"; then
        real=1
    fi
fi
# 16 samples of 20 s, 24-bit stereo 48 kHz (5.8 MB each).
for i in $(seq 1 16); do
    "$TG" --format wav24 --channels 2 --frames 960000 --seed "$i" "$W/P/s$i.wav" >/dev/null
done
cp -p "$W"/P/*.wav "$W/M/"
sync

COMMON=(--json stream stress --dir "$W/P" --voices "$VOICES" --duration "$SECS" --chunk 32
        --head 100 --recheck 200 --cold)
row() {
    python3 -c '
import json, sys
j = json.loads(sys.stdin.read())
print("| %s | %s | %d | %d | %d | %d | %d | %d / %d / %d | %.2f | %.2f |" % (sys.argv[1], sys.argv[2],
      j["underruns"], j["not_ready"], j["chunks_lost"], j["dropped"], j["failovers"],
      j["failover_switches"], j["failover_returns"], j["failover_hedged"],
      j["failover_avg_ms"], j["failover_max_ms"]))' "$1" "$2"
}
pull() {
    sleep 3
    python3 -c '
import fcntl, os, struct, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
fcntl.ioctl(fd, 0x8004587d, struct.pack("I", 1))
os.close(fd)' "$W/P"
    umount -l "$W/P"
    sleep 3
    attach "$W/p.img" && mount "$DEV" "$W/P"
}

echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(uname -r), $VOICES voices, $SECS s, 32 KiB chunks, head 100 ms"
echo "| fault | mirror | underruns | not ready | chunks lost | dropped | mirror reads | switches / returns / hedged | failover mean ms | max ms |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for m in yes no; do
    mir=()
    [ "$m" = yes ] && mir=(--mirror "$W/M")
    "$SHELF" "${COMMON[@]}" "${mir[@]}" --fail-primary 3:6 2>/dev/null | row "EIO 3-6 s (fault layer)" "$m"
done
for m in yes no; do
    mir=()
    [ "$m" = yes ] && mir=(--mirror "$W/M")
    "$SHELF" "${COMMON[@]}" "${mir[@]}" --slow-primary "$SLOW@3:6" 2>/dev/null | row "+$SLOW ms 3-6 s (fault layer)" "$m"
done
if [ "$real" = 1 ]; then
    for m in yes no; do
        mir=()
        [ "$m" = yes ] && mir=(--mirror "$W/M")
        "$SHELF" "${COMMON[@]}" "${mir[@]}" >"$W/out" 2>/dev/null &
        pid=$!
        pull
        wait "$pid"
        row "ext4 shut down at 3 s, back at 6 s (loop devices)" "$m" <"$W/out"
    done
else
    echo "(pull rows skipped: need root, mkfs.ext4 and loop devices)"
fi
