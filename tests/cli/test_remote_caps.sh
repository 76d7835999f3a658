# test_remote_caps.sh: the bandwidth caps end to end against s3rver.  A
# backup of a 4 MiB sample with --limit-upload 1M, and its restore with
# --limit-download 1M, each take at least 3 s (a lower bound: the cap
# works), while the same transfers without a cap (or with only the other
# cap) are at least 1.5 s faster; the restored file is the original.
. "$(dirname "$0")/lib.sh"

SRV="$SHELF_SRC/tests/servers"
command -v node >/dev/null || { echo "skipped: node is not installed (scripts/install-deps)"; exit 77; }
[ -d "$SRV/node_modules/@20minutes/s3rver" ] || { echo "skipped: s3rver is not installed in tests/servers"; exit 77; }
export SHELF_PASSWORD="caps pw" AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
unset AWS_SESSION_TOKEN AWS_PROFILE
export HOME="$T/home"
mkdir -p "$HOME" "$T/s3rver"

start_s3rver

S="$T/samples"
mkdir -p "$S"
# 700,000 stereo 24-bit frames: 4.2 MB of noise-like audio (does not compress)
"$SHELF_TG" --seed 7 --frames 700000 --channels 2 --format wav24 "$S/big $(printf '\xf0\x9f\x8e\xb9').wav"
check "the sample is over 4 MiB" "$(stat -c %s "$S"/*.wav)" -gt 4194304
expect 0 "library" "$SHELF" init
expect 0 "import" "$SHELF" import "$S"

ms() { echo $(( $(date +%s%N) / 1000000 )); }

# timed NAME CMD...: expect 0, the time it took in $took (ms).
timed() {
    local name=$1 t0
    shift
    t0=$(ms)
    expect 0 "$name" "$@"
    took=$(( $(ms) - t0 ))
    echo "     $name: $took ms"
}

FREE="s3:http://127.0.0.1:$PORT/shelf/free"
CAP="s3:http://127.0.0.1:$PORT/shelf/capped"
expect 0 "init" "$SHELF" backup init --kdf-cost 10 "$FREE"
expect 0 "init (capped)" "$SHELF" backup init --kdf-cost 10 "$CAP"

timed "backup without a cap" "$SHELF" --json backup "$FREE"
free_up=$took
timed "backup --limit-upload 1M" "$SHELF" --json backup --limit-upload 1M "$CAP"
cap_up=$took
snap=$(json 'j["snapshot"]')
check "4 MiB at 1 MB/s takes 3 s or more ($cap_up ms)" "$cap_up" -ge 3000
check "without the cap it is 1.5 s faster or more ($free_up ms)" $((free_up + 1500)) -lt "$cap_up"

timed "restore without a cap" "$SHELF" restore "$CAP" "$snap" --to "$T/rt-free"
free_down=$took
timed "restore --limit-download 1M" "$SHELF" restore --limit-download 1M "$CAP" "$snap" --to "$T/rt-cap"
cap_down=$took
check "4 MiB down at 1 MB/s takes 3 s or more ($cap_down ms)" "$cap_down" -ge 3000
check "without the cap it is 1.5 s faster or more ($free_down ms)" $((free_down + 1500)) -lt "$cap_down"
for d in rt-free rt-cap; do
    bad=0
    for f in "$S"/*.wav; do cmp -s "$f" "$T/$d/files$f" || bad=1; done
    check "$d: restored byte for byte" "$bad" = 0
done
# A download cap leaves uploads alone.
FREE2="s3:http://127.0.0.1:$PORT/shelf/free2"
expect 0 "init (another)" "$SHELF" backup init --kdf-cost 10 "$FREE2"
timed "backup --limit-download 1M" "$SHELF" --json backup --limit-download 1M "$FREE2"
check "a download cap leaves the upload alone ($took ms)" $((took + 1500)) -lt "$cap_up"

finish
