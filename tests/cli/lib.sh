# lib.sh: helpers for the end-to-end tests of the shelf program.  Each
# test_*.sh sources this file, runs checks, and calls finish.
#
# $SHELF, $SHELF_TG (audio generator) and $SHELF_EMBED come from ctest.
set -u
: "${SHELF:?run through ctest}" "${SHELF_TG:?}"

# Digits only after a fixed word: the path is searchable text (a library
# indexes its roots' paths), and random letters could start like a word a
# test searches for.
T="${TMPDIR:-/tmp}/shelf-cli-$$-$(date +%s%N)"
mkdir -m 700 "$T" || exit 1
trap 's3rver_stop; bg_stop; chmod -R u+w "$T" 2>/dev/null; rm -rf "$T"' EXIT
export SHELF_LIBRARY="$T/lib"
unset XDG_DATA_HOME
passed=0
failed=0
skipped=0

ok()   { passed=$((passed + 1)); echo "ok   $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1" >&2; }
# skip NAME WHY: a check that could not run here; the script then exits 77
# (ctest reports it as skipped) unless another check failed.
skip() { skipped=$((skipped + 1)); echo "skip $1: $2"; }

# expect STATUS NAME CMD...: run CMD, check its exit status; output in $out, $err.
expect() {
    local want=$1 name=$2 got
    shift 2
    "$@" >"$T/out" 2>"$T/err"
    got=$?
    out=$(cat "$T/out")
    err=$(cat "$T/err")
    if [ "$got" -eq "$want" ]; then
        ok "$name"
    else
        fail "$name: exit $got, wanted $want"
        sed 's/^/    stdout: /' "$T/out" | head -20 >&2
        sed 's/^/    stderr: /' "$T/err" | head -20 >&2
    fi
}

# check NAME CONDITION...: a test(1) condition.
check() {
    local name=$1
    shift
    if [ "$@" ]; then ok "$name"; else fail "$name: [ $* ]"; fi
}

# contains NAME HAYSTACK NEEDLE
contains() {
    case "$2" in
        *"$3"*) ok "$1" ;;
        *) fail "$1: '$3' not in output"; printf '%s\n' "$2" | head -20 | sed 's/^/    /' >&2 ;;
    esac
}

# json EXPR: evaluate a Python expression on the JSON in $out (as j).
json() {
    printf '%s' "$out" | python3 -c "import json,sys; j=json.load(sys.stdin); print($1)"
}

# kill_after MS CMD...: start CMD (output discarded), SIGKILL it after MS
# milliseconds.  How it ended, from its wait status (a program that calls
# exit(137) is not taken for a killed one):
#   $killed  1 when SIGKILL ended it (WIFSIGNALED, WTERMSIG 9), else 0
#   $st      the shell's status: 128 + the signal when a signal ended it,
#            else its exit status (0: it finished before the kill)
#   $how     "signal 9", "signal N" or "exit N", for messages
kill_after() {
    local ms=$1 res
    shift
    res=$(python3 -c '
import signal, subprocess, sys, time
p = subprocess.Popen(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
time.sleep(int(sys.argv[1]) / 1000.0)
if p.poll() is None:
    p.send_signal(signal.SIGKILL)
rc = p.wait()
print("signal %d" % -rc if rc < 0 else "exit %d" % rc)
' "$ms" "$@") || res="exit 255"
    how=$res
    case $res in
        "signal 9") killed=1; st=137 ;;
        "signal "*) killed=0; st=$((128 + ${res#signal })) ;;
        *) killed=0; st=${res#exit } ;;
    esac
}

# s3rver_start DIR: s3rver (tests/servers/s3rver.js, bucket "shelf",
# access key and secret S3RVER) on a free port of 127.0.0.1, its files in
# DIR, its output in DIR.out and DIR.err.  $S3RVER_PID is set at once (for
# the caller's trap: s3rver_stop); $S3RVER_PORT once it is ready (empty
# when it did not start within 10 s).
s3rver_start() {
    mkdir -p "$1"
    # s3rver's list continuation tokens need OpenSSL's legacy provider (node 20).
    NODE_OPTIONS=--openssl-legacy-provider node "$SHELF_SRC/tests/servers/s3rver.js" "$1" 0 shelf \
        >"$1.out" 2>"$1.err" &
    S3RVER_PID=$!
    S3RVER_PORT=""
    for _ in $(seq 100); do
        S3RVER_PORT=$(sed -n 's/^ready \([0-9]*\)$/\1/p' "$1.out")
        [ -n "$S3RVER_PORT" ] && break
        kill -0 "$S3RVER_PID" 2>/dev/null || break
        sleep 0.1
    done
}

# s3rver_stop: stop the s3rver of s3rver_start, if any (for traps).
s3rver_stop() {
    [ -z "${S3RVER_PID:-}" ] || { kill "$S3RVER_PID" 2>/dev/null; wait "$S3RVER_PID" 2>/dev/null; }
    S3RVER_PID=""
}

# bg_pids: background processes a test started (add with bg_pids="$bg_pids $!");
# bg_stop (run by the exit trap) kills those still running.
bg_pids=""
bg_stop() {
    local p
    for p in $bg_pids; do
        kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
    done
    bg_pids=""
}

# netns_pair: two hosts of the test's own, network namespaces $NSA and $NSB
# joined by a veth pair ($VA in A, $VB in B) on $NET.0/24 (A is $NET.1, B
# $NET.2); run a command on one with inA/inB.  Exits 77 (skipped) when not
# root or without iproute2; the caller's exit trap calls netns_stop.
netns_pair() {
    if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null; then
        echo "skip: needs root and iproute2 for network namespaces"
        exit 77
    fi
    NSA="shelf-$$-a" NSB="shelf-$$-b" VA="sa$$" VB="sb$$"
    NET="10.$(( $$ % 200 + 20 )).$(( ($$ / 200) % 250 + 1 ))"
    ip netns add "$NSA" && ip netns add "$NSB" &&
        ip link add "$VA" type veth peer name "$VB" &&
        ip link set "$VA" netns "$NSA" && ip link set "$VB" netns "$NSB" &&
        ip -n "$NSA" addr add "$NET.1/24" broadcast "$NET.255" dev "$VA" &&
        ip -n "$NSB" addr add "$NET.2/24" broadcast "$NET.255" dev "$VB" &&
        ip -n "$NSA" link set lo up && ip -n "$NSB" link set lo up &&
        ip -n "$NSA" link set "$VA" up && ip -n "$NSB" link set "$VB" up
}
netns_stop() {
    local ns
    for ns in "$NSA" "$NSB"; do
        # what still runs there would outlive the namespace
        ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null
        ip netns del "$ns" 2>/dev/null
    done
}
inA() { ip netns exec "$NSA" "$@"; }
inB() { ip netns exec "$NSB" "$@"; }

# sync_listen [inA|inB] LIB ARGS...: `shelf -L LIB sync listen ARGS` in the
# background (on host A or B of netns_pair when asked); $LPID at once, and
# $LPORT, the port it says it listens on (the test fails when it does not
# within 10 s).  Its output in $T/listen.out and $T/listen.err.
sync_listen() {
    local run=""
    # not through the inA/inB functions: a function run with & is a
    # subshell, and $LPID would be that shell, not shelf
    case $1 in
    inA) run="ip netns exec $NSA"; shift ;;
    inB) run="ip netns exec $NSB"; shift ;;
    esac
    local lib=$1
    shift
    $run "$SHELF" -L "$lib" sync listen "$@" >"$T/listen.out" 2>"$T/listen.err" &
    LPID=$!
    bg_pids="$bg_pids $LPID"
    LPORT=""
    for _ in $(seq 200); do
        LPORT=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$T/listen.out")
        [ -n "$LPORT" ] && break
        kill -0 "$LPID" 2>/dev/null || break
        sleep 0.05
    done
    [ -n "$LPORT" ] || fail "listener did not start: $(cat "$T/listen.err")"
}

# serve_start [-L LIB] [-- OPTION...]: start `shelf serve --port 0 --json
# OPTION...` in the background (stopped by bg_stop); its address with the
# token in $url, "" (after printing its standard error) when it did not start.
serve_start() {
    local pre=()
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do
        pre+=("$1")
        shift
    done
    [ $# -gt 0 ] && shift
    "$SHELF" "${pre[@]}" serve --json --port 0 "$@" >"$T/serve.out" 2>"$T/serve.err" &
    bg_pids="$bg_pids $!"
    url=""
    for _ in $(seq 100); do
        url=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["url"])' \
              "$T/serve.out" 2>/dev/null)
        [ -n "$url" ] && break
        sleep 0.1
    done
    check "shelf serve prints its address" -n "$url"
    [ -n "$url" ] || sed 's/^/    serve: /' "$T/serve.err" >&2
}

# browser_run NAME SCRIPT WHAT [VAR=VALUE...]: run tests/browser/SCRIPT with
# node against the server serve_start started ($url), VAR=VALUE... in its
# environment, its screenshots in $SHELF_BUILD/test-artifacts/NAME; one
# check, WHAT, with the number of checks the script passed; then its lines.
browser_run() {
    local art="$SHELF_BUILD/test-artifacts/$1" script=$2 what=$3
    shift 3
    rm -rf "$art"
    if [ -n "$url" ] && env SHELF_URL="$url" SHELF_ARTIFACTS="$art" "$@" node "$SHELF_SRC/tests/browser/$script" \
            >"$T/node.out" 2>"$T/node.err"; then
        ok "$what ($(grep -c '^ok' "$T/node.out") checks)"
    else
        fail "$what"
    fi
    sed 's/^/    /' "$T/node.out"
    sed 's/^/    /' "$T/node.err" >&2
}

# sample_id LIB NAME: the id of the sample whose name starts with NAME.
sample_id() {
    "$SHELF" -L "$1" --json ls | python3 -c '
import json, sys
print([r["id"] for r in json.load(sys.stdin) if r["name"].startswith(sys.argv[1])][0])' "$2"
}

# bulk_samples DB N: N catalog rows "bulk 1".."bulk N" (category bulk,
# under root 1, no files) written straight into the catalog DB, as a large
# library has them; sqlite3's sha3() makes their hashes.
bulk_samples() {
    sqlite3 "$1" "
      WITH RECURSIVE i(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM i WHERE k < $2)
      INSERT INTO samples(name, root_id, relpath, size, mtime_ns, sha256, format, rate, channels,
                          frames, duration, bits, category, created)
        SELECT 'bulk ' || k, 1, 'bulk/' || k || '.wav', 1000 + k, 0, lower(hex(sha3(k, 256))),
               'WAV', 44100, 1, 100, 0.01, 16, 'bulk', 1700000000 FROM i;"
}

# damage FILE OFFSET [COUNT]: flip COUNT bytes (1 by default) of FILE
# from OFFSET, so they always change (writing a fixed byte leaves the
# file as it was when that byte was already there).
damage() {
    python3 -c '
import sys
p, off, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(p, "r+b") as f:
    f.seek(off)
    b = f.read(n)
    assert len(b) == n, "damage: %s is shorter than %d" % (p, off + n)
    f.seek(off)
    f.write(bytes(x ^ 0xFF for x in b))' "$1" "$2" "${3:-1}"
}

# test_seed: the seed of a test's random choices in $seed: SHELF_TEST_SEED
# replays a run (SHELF_KILL_SEED, its older name, too), else the time.
# Prints it so a failure can be replayed.
test_seed() {
    seed=${SHELF_TEST_SEED:-${SHELF_KILL_SEED:-$(date +%s)}}
    echo "seed $seed (replay with SHELF_TEST_SEED=$seed)"
    RANDOM=$seed
}

# start_s3rver: s3rver_start "$T/s3rver" for a test that needs one S3
# server: sets S3PID, PORT and S3 (s3:http://127.0.0.1:PORT/shelf) and
# checks it started; lib.sh's exit trap stops it.  Returns 2 when node or
# s3rver is not installed, 1 (after a failed check) when it did not start.
start_s3rver() {
    command -v node >/dev/null && [ -d "$SHELF_SRC/tests/servers/node_modules/@20minutes/s3rver" ] || return 2
    s3rver_start "$T/s3rver"
    S3PID=$S3RVER_PID
    PORT=$S3RVER_PORT
    check "s3rver started" -n "$PORT"
    [ -n "$PORT" ] || { sed 's/^/    s3rver: /' "$T/s3rver.err" | head -20 >&2; return 1; }
    S3="s3:http://127.0.0.1:$PORT/shelf"
}

finish() {
    if [ "$skipped" -gt 0 ]; then
        echo "$passed passed, $failed failed, $skipped skipped"
    else
        echo "$passed passed, $failed failed"
    fi
    [ "$failed" -eq 0 ] || return 1
    [ "$skipped" -eq 0 ] || return 77
}
