# test_schedule.sh: shelf schedule add|ls|rm|pause|resume|run|log|suggest
# against folder repositories (and s3rver for backup and copy), with the
# clock moved by $SHELF_TEST_CLOCK: every kind runs once; runs missed
# while the clock jumped days run once at the next 'run --due'; pause and
# resume; retention forgets old snapshots per keep-daily as days pass; the
# check reads its slices in turn; a second run while one runs is refused
# (exit 5); a run killed with kill -9 mid-backup is recorded interrupted
# and the next run completes; the log keeps results; bad specs are one
# line with their column; --json everywhere.
. "$(dirname "$0")/lib.sh"

export TZ=UTC HOME="$T/home" XDG_CONFIG_HOME="$T/cfg"
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
unset AWS_SESSION_TOKEN AWS_PROFILE SHELF_PASSWORD SHELF_DST_PASSWORD
mkdir -p "$HOME"
CLOCK="$T/clock"
export SHELF_TEST_CLOCK="$CLOCK"
NOW=1765000000          # 2025-12-06 05:46:40 UTC
echo "$NOW" >"$CLOCK"
# at DAYS: move the clock to NOW + DAYS days
at() { echo $((NOW + $1 * 86400)) >"$CLOCK"; }
# runs NAME: how many runs of NAME the log keeps
runs() { "$SHELF" --json schedule log "$1" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
# snaps REPO: how many snapshots REPO holds
snaps() { "$SHELF" --json backup list --password-file "$PW" "$1" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }

S="$T/samples"
M="$T/managed"
mkdir -p "$S" "$M"
for i in 1 2 3 4; do "$SHELF_TG" --seed "$i" "$S/s$i.wav"; done
"$SHELF_TG" --seed 9 "$M/m1.wav"
PW="$T/pw"
echo "schedule pw" >"$PW"
R="$T/repo one"
R2="$T/repo two"
HUB="$T/hub"
"$SHELF" init >/dev/null && "$SHELF" import "$S" >/dev/null && "$SHELF" import --copy "$M" >/dev/null ||
    fail "set up the library"
"$SHELF" backup init --kdf-cost 10 --password-file "$PW" "$R" >/dev/null &&
    "$SHELF" backup init --kdf-cost 10 --password-file "$PW" "$R2" >/dev/null || fail "set up the repositories"

# ---- a new library has none ----
expect 0 "ls --json of a new library" "$SHELF" --json schedule ls
check "no schedules by default" "$out" = "[]"
expect 0 "run --due with none" "$SHELF" schedule run --due
contains "nothing due" "$out" "no schedule is due"

# ---- bad input ----
expect 2 "a misspelt spec" "$SHELF" schedule add backup dayly 03:00 --target "$R"
contains "the spec's error names its column" "$(echo "$err" | head -1)" "at column 1: expected hourly, daily"
check "the message is one line (and the caret under it)" "$(echo "$err" | grep -c '^shelf:')" = 1
expect 2 "a bad time" "$SHELF" schedule add backup daily 25:00 --target "$R"
contains "column of the time" "$err" "'daily 25:00' at column 7: expected a time HH:MM"
expect 2 "a bad day" "$SHELF" schedule add backup monthly 31 --target "$R"
contains "day of the month" "$err" "at column 9"
expect 2 "an unknown kind" "$SHELF" schedule add backups daily --target "$R"
contains "unknown kind" "$err" "unknown schedule kind 'backups'"
expect 2 "an archive option on a backup schedule is refused" "$SHELF" schedule add backup daily --target "$R" --unused-days 30
contains "it names the option" "$err" "a backup schedule has no option 'unused_days'"
expect 2 "no target" "$SHELF" schedule add backup daily
expect 2 "a bad strategy" "$SHELF" schedule add backup daily --target "$R" --strategy sometimes
contains "strategy named" "$err" "unknown strategy 'sometimes'"
expect 2 "copy without --to" "$SHELF" schedule add copy daily --target "$R"
expect 2 "a bad --read-all-within" "$SHELF" schedule add check daily --target "$R" --read-all-within 3x
expect 0 "nothing was added" "$SHELF" --json schedule ls
check "still none" "$out" = "[]"

# ---- every kind, added and run once ----
expect 0 "add backup" "$SHELF" schedule add backup daily 03:00 --target "$R" --name nightly \
    --password-file "$PW" --keep-daily 2
contains "first run told" "$out" "first run 2025-12-07 03:00"
expect 0 "add copy (--json)" "$SHELF" --json schedule add copy daily 04:00 --target "$R" --to "$R2" \
    --password-file "$PW" --to-password-file "$PW"
check "copy's name made" "$(json 'j["name"]')" = "copy-1"
check "copy's next due" "$(json 'j["next_due"]')" = "$((NOW + 80000))"
expect 0 "add check" "$SHELF" schedule add check daily 05:00 --target "$R" --password-file "$PW" \
    --read-all-within 3d
expect 0 "add test-restore" "$SHELF" schedule add test-restore weekly sun --target "$R" \
    --password-file "$PW" --samples 3
expect 0 "add sync through a folder hub" "$SHELF" schedule add sync hourly --target "$HUB"
expect 1 "a name taken" "$SHELF" schedule add backup daily --target "$R" --name nightly
contains "name taken" "$err" "a schedule named 'nightly' exists already"
expect 0 "ls" "$SHELF" schedule ls
contains "ls shows the backup" "$out" "nightly          backup       daily 03:00          2025-12-07 03:00"

expect 0 "run the backup" "$SHELF" schedule run nightly
contains "backup result" "$out" "nightly: ok: snapshot"
check "one snapshot" "$(snaps "$R")" = 1
expect 0 "run the copy" "$SHELF" schedule run copy-1
contains "copy result" "$out" "1 snapshot copied"
check "the copy is in the second repository" "$(snaps "$R2")" = 1
expect 0 "run the check" "$SHELF" --json schedule run check-1
check "check reads slice 1 of 3" "$(json 'j[0]["detail"]["slice"], j[0]["detail"]["slices"], j[0]["state"]')" = "0 3 ok"
mkdir -p "$T/tmp"
expect 0 "run the test restore" env TMPDIR="$T/tmp" "$SHELF" --json schedule run test-restore-1
check "test restore compares hashes" "$(json 'j[0]["detail"]["restored"], j[0]["detail"]["matched"], j[0]["detail"]["mismatched"]')" = "3 3 []"
contains "and says so" "$(json 'j[0]["message"]')" "3 samples restored, all match the catalog"
check "test restore cleans up its folder" -z "$(ls -A "$T/tmp")"
expect 0 "run the sync" "$SHELF" schedule run sync-1
contains "sync result" "$out" "sync-1: ok: hub"
check "the hub was written" -d "$HUB"
expect 3 "run an unknown schedule" "$SHELF" schedule run nope
contains "unknown named" "$err" "no schedule 'nope'"

# ---- missed runs: the machine was off for five days ----
for n in nightly copy-1 check-1 test-restore-1 sync-1; do eval "before_$(echo $n | tr -- - _)=$(runs $n)"; done
at 5
expect 0 "ls after five days off" "$SHELF" --json schedule ls
check "all five are due" "$(json 'sum(1 for s in j if s["due"])')" = 5
expect 0 "run --due after five days" "$SHELF" schedule run --due
for n in nightly copy-1 check-1 test-restore-1 sync-1; do
    b=$(eval echo "\$before_$(echo $n | tr -- - _)")
    check "$n ran once for five missed days" "$(runs $n)" = $((b + 1))
done
expect 0 "run --due again" "$SHELF" schedule run --due
contains "nothing left due" "$out" "no schedule is due"

# ---- retention: keep-daily 2 as days pass ----
for d in 6 7 8; do
    at $d
    expect 0 "backup on day $d" "$SHELF" schedule run nightly
done
check "keep-daily 2 leaves two snapshots" "$(snaps "$R")" = 2
contains "the run says what it forgot" "$out" "old snapshot"
expect 0 "backup check after forget and prune" "$SHELF" backup check --password-file "$PW" "$R"

# ---- the check reads its slices in turn ----
expect 0 "check log" "$SHELF" --json schedule log check-1
check "slices 1, 2, 3, 1 ..." "$(json '[r["detail"]["slice"] for r in j]')" = "[0, 1]"
at 9
expect 0 "third check" "$SHELF" --json schedule run check-1
check "third slice" "$(json 'j[0]["detail"]["slice"]')" = 2
at 10
expect 0 "fourth check" "$SHELF" --json schedule run check-1
check "back to the first slice" "$(json 'j[0]["detail"]["slice"]')" = 0

# ---- pause and resume ----
expect 0 "pause" "$SHELF" schedule pause nightly
expect 0 "ls shows paused" "$SHELF" schedule ls
contains "paused in ls" "$out" "paused"
b=$(runs nightly)
at 20
expect 0 "run --due while paused" "$SHELF" schedule run --due
check "a paused schedule does not run" "$(runs nightly)" = "$b"
expect 0 "resume (--json)" "$SHELF" --json schedule resume nightly
check "resumed" "$(json 'j["done"]')" = resumed
expect 0 "run --due after resume" "$SHELF" schedule run --due
check "resumed: it runs" "$(runs nightly)" = $((b + 1))
expect 3 "pause an unknown one" "$SHELF" schedule pause nope

# ---- a failed run is kept, exits 1 ----
expect 0 "add a backup to nowhere" "$SHELF" schedule add backup every 1h --target "$T/no repo" --name lost
expect 1 "its run fails" "$SHELF" schedule run lost
contains "failure in one line" "$err" "shelf: schedule 'lost' failed: cannot open the repository '$T/no repo'"
expect 0 "log keeps the failure" "$SHELF" --json schedule ls
check "ls shows it failed" "$(json '[s["last_state"] for s in j if s["name"] == "lost"][0]')" = failed
expect 0 "rm" "$SHELF" schedule rm lost
expect 3 "rm again" "$SHELF" schedule rm lost

# ---- a big library: a second run is refused, kill -9 mid-backup ----
BIG="$T/big"
mkdir -p "$BIG"
for i in 1 2 3 4 5 6 7 8; do "$SHELF_TG" --seed $((i + 20)) --frames 15000000 "$BIG/b$i.wav"; done
export SHELF_LIBRARY="$T/biglib"
RB="$T/repo big"
"$SHELF" init >/dev/null && "$SHELF" import "$BIG" >/dev/null &&
    "$SHELF" backup init --kdf-cost 10 --password-file "$PW" "$RB" >/dev/null || fail "set up the big library"
expect 0 "add a full backup of it" "$SHELF" schedule add backup daily --target "$RB" --name big \
    --strategy full --password-file "$PW"
# wait_running: until 'schedule ls' says big is running (5 s at most)
wait_running() {
    local i
    for i in $(seq 250); do
        "$SHELF" --json schedule ls | python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)[0]["running"] else 1)' &&
            return 0
        kill -0 "$1" 2>/dev/null || return 1
        sleep 0.02
    done
    return 1
}
"$SHELF" schedule run big >"$T/bg.out" 2>&1 &
BGPID=$!
bg_pids="$bg_pids $BGPID"
if wait_running $BGPID; then
    expect 5 "a second run while one runs" "$SHELF" schedule run big
    contains "refused in one line" "$err" "schedule 'big' is running already (pid $BGPID"
    wait $BGPID
    check "the first run completes" "$?" = 0
else
    fail "the big backup was over before a second run could try (see $T/bg.out)"
fi
# kill -9 while it runs: the row stays without an end
"$SHELF" schedule run big >/dev/null 2>&1 &
KPID=$!
bg_pids="$bg_pids $KPID"
if wait_running $KPID && kill -9 $KPID 2>/dev/null; then
    wait $KPID 2>/dev/null
    expect 0 "ls after kill -9" "$SHELF" --json schedule ls
    check "seen as interrupted" "$(json 'j[0]["last_state"], j[0]["running"], j[0]["due"]')" = "interrupted False True"
    expect 0 "the next start runs it again" "$SHELF" schedule run --due
    contains "and it completes" "$out" "big: ok: snapshot"
    expect 0 "log" "$SHELF" --json schedule log big
    check "the log records the killed run" "$(json '[r["state"] for r in j]')" = "['ok', 'interrupted', 'ok']"
    check "the interrupted run has an end" "$(json 'j[1]["ended"] > 0')" = True
    expect 0 "the repository checks" "$SHELF" backup check --password-file "$PW" "$RB"
    check "two snapshots (the killed one left none)" "$(snaps "$RB")" = 2
else
    fail "the backup to kill was over before the kill"
fi
# SIGINT (the daemon's SIGTERM does the same through its callback): the
# run is cancelled, recorded so, and due again at once
"$SHELF" schedule run big >/dev/null 2>"$T/int.err" &
IPID=$!
bg_pids="$bg_pids $IPID"
if wait_running $IPID && kill -INT $IPID 2>/dev/null; then
    wait $IPID
    check "an interrupted run exits 130" "$?" = 130
    contains "cancelled in one line" "$(cat "$T/int.err")" "schedule 'big' cancelled: backup to '$RB' cancelled"
    expect 0 "ls after the interrupt" "$SHELF" --json schedule ls
    check "recorded cancelled, due at once" "$(json 'j[0]["last_state"], j[0]["due"]')" = "cancelled True"
    expect 0 "and it runs again" "$SHELF" schedule run --due
    contains "to the end" "$out" "big: ok: snapshot"
else
    fail "the backup to interrupt was over before the signal"
fi
export SHELF_LIBRARY="$T/lib"

# ---- the log ----
expect 0 "log of all" "$SHELF" schedule log
contains "log lines name schedule and state" "$out" "nightly          ok"
expect 0 "log --limit" "$SHELF" --json schedule log nightly --limit 2
check "limit 2" "$(json 'len(j)')" = 2
expect 3 "log of an unknown one" "$SHELF" schedule log nope

# ---- suggest: a plan, nothing changed ----
export SHELF_LIBRARY="$T/fresh"
"$SHELF" init >/dev/null
expect 0 "suggest without remotes" "$SHELF" schedule suggest
contains "suggests a backup to a drive" "$out" "shelf schedule add backup daily 02:00 --target /media/BACKUP/shelf"
mkdir -p "$T/remote a" "$T/remote b"
expect 0 "remote add a" "$SHELF" remote add ra "$T/remote a"
expect 0 "remote add b" "$SHELF" remote add rb "$T/remote b"
expect 0 "suggest with two remotes (--json)" "$SHELF" --json schedule suggest
contains "backup to the first remote" "$out" "shelf schedule add backup daily 02:00 --target ra"
contains "copy to the second" "$out" "shelf schedule add copy daily 04:00 --target ra --to rb"
contains "a check" "$out" "shelf schedule add check weekly sun 04:00 --target ra --read-all-within 4w"
expect 0 "suggest changed nothing" "$SHELF" --json schedule ls
check "still no schedules" "$out" = "[]"
# a folder given relative to here is kept absolute (the daemon runs elsewhere);
# a named remote and a URL as given
expect 0 "add with a relative folder" sh -c 'cd "$1" && "$SHELF" --json schedule add copy daily --target "rel repo" --to ra' - "$T"
check "kept absolute, the remote by name" "$(json 'j["target"]')" = "$T/rel repo"
expect 0 "ls" "$SHELF" --json schedule ls
check "--to a remote kept by name" "$(json 'j[0]["options"]["to"]')" = ra
expect 0 "rm it" "$SHELF" schedule rm copy-1
export SHELF_LIBRARY="$T/lib"

# ---- S3 (s3rver): backup and copy ----
if start_s3rver; then
    expect 0 "s3 repository" "$SHELF" backup init --kdf-cost 10 --password-file "$PW" "$S3/sched"
    expect 0 "add a backup to s3" "$SHELF" schedule add backup daily --target "$S3/sched" --name s3b \
        --password-file "$PW"
    expect 0 "add a copy to s3" "$SHELF" schedule add copy daily --target "$R" --to "$S3/sched" \
        --name s3c --password-file "$PW" --to-password-file "$PW"
    expect 0 "backup to s3 runs" "$SHELF" schedule run s3b
    contains "s3 backup ok" "$out" "s3b: ok: snapshot"
    expect 0 "copy to s3 runs" "$SHELF" schedule run s3c
    contains "s3 copy ok" "$out" "s3c: ok:"
    check "s3 holds the backup and the copies" "$(snaps "$S3/sched")" -ge 3
    s3rver_stop
else
    skip "s3" "node or @20minutes/s3rver missing (tests/servers: npm ci)"
fi

finish
