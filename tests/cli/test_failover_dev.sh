# test_failover_dev.sh: failover and hot swap on real block devices.  The
# primary and the mirror are ext4 filesystems on two loop devices (in a
# mount namespace of this test only).  Mid-run the primary's filesystem is
# shut down (EXT4_IOC_SHUTDOWN: every read fails with EIO, as when a card
# is pulled) and lazily unmounted; two seconds later the same image comes
# back on a new loop device at the same mount point (a card plugged in
# again).  With a mirror: no underrun, no lost chunk, no dropped voice; the
# engine switches to the mirror, and when the medium is back reopens the
# files (same size and mtime) and reads from it again, without a restart.
# Without a mirror: the voices whose chunks are lost fade out, and once
# the medium is back streaming resumes from it (reads and no errors in the
# last seconds).  Device-mapper (dmsetup error/delay targets) is not used:
# this kernel may lack it; the shutdown ioctl fails reads at the same
# place, below the engine.  Needs root, losetup, mkfs.ext4, unshare and
# python3; skipped (77) otherwise.
if [ -z "${SHELF_FO_NS:-}" ] && [ "$(id -u)" = 0 ] && command -v unshare >/dev/null &&
    unshare -m --propagation private true 2>/dev/null; then
    SHELF_FO_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
. "$(dirname "$0")/lib.sh"

if [ -z "${SHELF_FO_NS:-}" ]; then
    skip "loop devices" "needs root and a mount namespace (unshare -m)"
    finish
    exit $?
fi
for tool in losetup mkfs.ext4 python3; do
    if ! command -v "$tool" >/dev/null; then
        skip "loop devices" "no $tool"
        finish
        exit $?
    fi
done

LOOPS=""
devs_cleanup() {
    umount "$T/P" 2>/dev/null
    umount "$T/M" 2>/dev/null
    for d in $LOOPS; do losetup -d "$d" 2>/dev/null; done
    LOOPS=""
}
trap 'devs_cleanup; bg_stop; rm -rf "$T"' EXIT

# attach IMG: a new loop device for IMG, in $DEV (and in $LOOPS, to detach).
attach() {
    DEV=$(losetup -f --show "$1") || return 1
    LOOPS="$LOOPS $DEV"
}

truncate -s 96M "$T/p.img" "$T/m.img"
mkfs.ext4 -q -F "$T/p.img" && mkfs.ext4 -q -F "$T/m.img" || { fail "mkfs.ext4"; finish; exit $?; }
mkdir -p "$T/P" "$T/M"
if ! attach "$T/p.img" || ! mount "$DEV" "$T/P" || ! attach "$T/m.img" ||
    ! mount "$DEV" "$T/M"; then
    skip "loop devices" "cannot attach or mount a loop device"
    finish
    exit $?
fi
mkdir -p "$T/P/kit"
"$SHELF_TG" --format wav24 --channels 2 --frames 960000 --seed 1 "$T/P/kit/a.wav" "$T/P/kit/b.wav" "$T/P/c.wav"
"$SHELF_TG" --format wav16 --channels 2 --frames 960000 --seed 4 "$T/P/kit/d.wav"
cp -pr "$T/P/." "$T/M/"
sync

# pull_and_replug: at 2 s shut the primary down and unmount it lazily; at
# 4 s attach its image to a new loop device and mount it back.
pull_and_replug() {
    sleep 2
    python3 -c '
import fcntl, os, struct, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
fcntl.ioctl(fd, 0x8004587d, struct.pack("I", 1))   # EXT4_IOC_SHUTDOWN, LOGFLUSH
os.close(fd)' "$T/P" || return 1
    umount -l "$T/P" || return 1
    sleep 2
    attach "$T/p.img" && mount "$DEV" "$T/P"
}

# run NAME ARGS...: shelf stream stress on the primary for 9 s while the
# medium is pulled and plugged again; $out, $err as expect leaves them.
run() {
    local name=$1 rc
    shift
    "$SHELF" --json stream stress --dir "$T/P" --voices 6 --duration 9 --chunk 32 --head 100 \
        --recheck 200 "$@" >"$T/out" 2>"$T/err" &
    local pid=$!
    # Not in a subshell: attach records the new device in $LOOPS.
    if pull_and_replug; then ok "$name: medium pulled and plugged again"; else fail "$name: pull and replug"; fi
    wait "$pid"
    rc=$?
    out=$(cat "$T/out")
    err=$(cat "$T/err")
    check "$name: exit 0" "$rc" = 0
}

run "mirror" --mirror "$T/M" --out "$T/with"
check "mirror: no underrun" "$(json 'j["underruns"]')" = 0
check "mirror: no note started late" "$(json 'j["not_ready"]')" = 0
check "mirror: no chunk lost" "$(json 'j["chunks_lost"]')" = 0
check "mirror: no voice dropped" "$(json 'j["dropped"]')" = 0
check "mirror: real read errors" "$(json 'j["read_errors"] > 0')" = True
check "mirror: reads served by the mirror" "$(json 'j["failovers"] > 0')" = True
check "mirror: samples switched" "$(json 'j["failover_switches"] >= 1')" = True
check "mirror: the medium came back for them" "$(json '1 <= j["failover_returns"] <= j["failover_switches"]')" = True
contains "mirror: switch logged" "$err" "Input/output error: reading its mirror"
contains "mirror: return logged" "$err" "is back: reading it again"
python3 - "$T/with/stress.csv" <<'PY' && ok "mirror: reads from the primary again at the end, no errors" || fail "mirror: the end"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
tail = rows[-2:]
assert all(int(r["reads"]) > 0 and int(r["read_errors"]) == 0 and int(r["failovers"]) == 0 for r in tail), tail
PY
printf '%s\n' "$out" | sed 's/^/    /'

run "no mirror" --out "$T/without"
check "no mirror: chunks lost" "$(json 'j["chunks_lost"] > 0')" = True
check "no mirror: voices faded out" "$(json 'j["dropped"] > 0')" = True
check "no mirror: the medium came back" "$(json 'j["failover_returns"] >= 1')" = True
contains "no mirror: return logged" "$err" "is back: reading it again"
python3 - "$T/without/stress.csv" <<'PY' && ok "no mirror: streaming resumed without a restart" || fail "no mirror: the end"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
tail = rows[-2:]
assert all(int(r["reads"]) > 0 and int(r["read_errors"]) == 0 and int(r["chunks_lost"]) == 0 for r in tail), tail
PY
printf '%s\n' "$out" | sed 's/^/    /'

finish
