# test_project_archive.sh: shelf project archive|unarchive|archives, the
# schedules' archive kind and the daemon running it.  A project with a
# patch, samples of its own, a sample another project uses, a sample a
# patch outside it uses and a managed (copied) sample, with file names of
# every kind Linux allows: archived to a folder, only what nothing else
# uses is freed, the project and its samples stay searchable as archived,
# unarchive brings back the same bytes (and times); both projects archived
# free the shared sample; a failure before the check at the target leaves
# everything local; a copy at the target that is not the export is refused
# and frees nothing; a damaged archive is not brought back; a medium that
# cannot delete keeps its files; kill -9 at random points, then the next
# run finishes; the same against s3rver; a schedule archives projects
# unused for N days by the test clock; the daemon killed mid-archive
# finishes it at its next start.
. "$(dirname "$0")/lib.sh"

export TZ=UTC HOME="$T/home" XDG_CONFIG_HOME="$T/cfg"
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
unset AWS_SESSION_TOKEN AWS_PROFILE SHELF_PASSWORD
mkdir -p "$HOME"
test_seed
db() { sqlite3 "$T/lib/shelf.db" "$1"; }
# state ID: the project's archive state ("" when none)
state() { db "SELECT state FROM project_archives WHERE project_id = $1"; }
# sums DIR: "hash name" lines of every file under DIR, sorted
sums() { (cd "$1" && find . -type f ! -name '*.sfz' -print0 | sort -z | xargs -0 sha256sum); }
nfiles() { find "$1" -type f -name '*.wav' -printf x | wc -c; }

S="$T/samples"
mkdir -p "$S/kit" "$S/more" "$T/managed"
NL='line
break'
BAD=$(printf 'bad\377byte')
"$SHELF_TG" --seed 1 "$S/kit/Kick é 1.wav" "$S/kit/スネア 2.wav"
"$SHELF_TG" --seed 3 "$S/more/shared 🥁.wav" "$S/more/$NL.wav" "$S/more/$BAD.wav" "$S/more/only patch.wav"
"$SHELF_TG" --seed 9 "$T/managed/copied pad.wav"
cat >"$S/kit/kit.sfz" <<'EOF'
<region> sample=Kick é 1.wav lokey=36 hikey=36
<region> sample=スネア 2.wav lokey=38 hikey=38
EOF
cat >"$S/more/lone.sfz" <<'EOF'
<region> sample=only patch.wav lokey=40 hikey=40
EOF
expect 0 "init" "$SHELF" init
expect 0 "import the samples" "$SHELF" import "$S"
expect 0 "import a managed sample" "$SHELF" import --copy "$T/managed"
rm "$T/managed/copied pad.wav"
expect 0 "the kit patch" "$SHELF" --json patch import "$S/kit/kit.sfz"
KIT=$(json 'j[0]["id"]')
expect 0 "a patch in no project" "$SHELF" --json patch import "$S/more/lone.sfz"
expect 0 "project one" "$SHELF" project new "Song à 🎵"
expect 0 "project two" "$SHELF" project new "Other"
MANAGED=$(sample_id "$T/lib" "copied pad")
expect 0 "project one uses the kit, three samples and the managed one" \
    "$SHELF" project add 1 "patch:$KIT" "$S/more/shared 🥁.wav" "$S/more/$NL.wav" "$S/more/$BAD.wav" \
    "$S/more/only patch.wav" "$MANAGED"
expect 0 "project two shares one" "$SHELF" project add 2 "$S/more/shared 🥁.wav"
sums "$S" >"$T/sums.before"
BLOB=$(db "SELECT blob FROM samples WHERE id = $MANAGED")
check "the managed sample is in the store" -f "$T/lib/objects/${BLOB:0:2}/${BLOB:2:2}/$BLOB"
MTIME_BEFORE=$(stat -c %Y "$S/kit/Kick é 1.wav")

# ---- archive to a folder ----
TGT="$T/target folder"
expect 0 "archive project one" "$SHELF" --json project archive 1 --to "$TGT"
check "it holds 7 samples" "$(json 'j[0]["samples"]')" = 7
check "it frees 5 (shared and patch-used ones stay)" "$(json 'j[0]["freed"]')" = 5
NAME=$(json 'j[0]["archive"]')
check "the archive is in the target" -f "$TGT/archives/$NAME"
check "with its parity" -f "$TGT/archives/$NAME.par2"
check "the kit's files are gone" "$(ls "$S/kit" | grep -c wav)" = 0
check "the newline and bad-byte names are gone" "$(nfiles "$S/more")" = 2
check "the shared sample stays" -f "$S/more/shared 🥁.wav"
check "the sample a patch outside uses stays" -f "$S/more/only patch.wav"
check "the managed blob is freed" ! -e "$T/lib/objects/${BLOB:0:2}/${BLOB:2:2}/$BLOB"
check "the run's folder is gone" "$(ls "$T/lib/project-archive")" = "1.lock"
check "state archived" "$(state 1)" = archived
expect 0 "project ls" "$SHELF" project ls
contains "project ls marks it archived" "$(echo "$out" | grep 'Song')" "[archived]"
expect 0 "project ls --json" "$SHELF" --json project ls
check "with the time it was archived" "$(json '[p["archived"] is not None for p in j]')" = "[False, True]"
expect 0 "search archived:yes" "$SHELF" --json search archived:yes
check "the 5 freed samples are found as archived" "$(json 'j["total"]')" = 5
expect 0 "search missing:yes" "$SHELF" --json search missing:yes
check "archived is not missing" "$(json 'j["total"]')" = 0
expect 0 "the archived sample is still searchable by name" "$SHELF" --json search Kick
check "found, flagged archived" "$(json '[r["archived"] for r in j["results"]]')" = "[True]"
expect 0 "ls" "$SHELF" ls
check "ls marks 5 archived" "$(echo "$out" | grep -c '\[archived\]')" = 5
expect 0 "verify does not count archived samples as missing" "$SHELF" verify
expect 0 "status: nothing to say about a finished archive" "$SHELF" --json status --offline
check "no archive alert" "$(json '[a["key"] for a in j["alerts"] if a["key"].startswith("archive")]')" = "[]"
expect 1 "project rm of an archived project is refused" "$SHELF" project rm 1
contains "it says why and what to do" "$err" "only in its archive: shelf project unarchive 1 first"
expect 0 "project archives --json" "$SHELF" --json project archives
check "archives lists it" "$(json '[(a["project"], a["state"], a["freed"]) for a in j]')" = "[(1, 'archived', 5)]"
expect 0 "the archive verifies with shelf archive verify" "$SHELF" archive verify "$TGT/archives/$NAME"
expect 1 "archiving it again is refused" "$SHELF" project archive 1 --to "$TGT"
contains "it says where it is" "$err" "archived already, in $TGT as $NAME"
check "that is one line" "$(echo "$err" | wc -l)" = 1

# ---- unarchive: the same bytes, at the same paths, with their times ----
expect 0 "unarchive project one" "$SHELF" --json project unarchive 1
check "5 brought back" "$(json 'j[0]["restored"]')" = 5
sums "$S" >"$T/sums.after"
check "identical hashes and names after unarchive" "$(cmp -s "$T/sums.before" "$T/sums.after" && echo same)" = same
check "the modification time is back too" "$(stat -c %Y "$S/kit/Kick é 1.wav")" = "$MTIME_BEFORE"
check "the managed blob is back" -f "$T/lib/objects/${BLOB:0:2}/${BLOB:2:2}/$BLOB"
check "no longer archived" "$(state 1)" = ""
expect 0 "search archived:yes after" "$SHELF" --json search archived:yes
check "nothing archived" "$(json 'j["total"]')" = 0
expect 0 "import finds nothing changed" "$SHELF" --json import "$S"
check "no file re-read" "$(json 'j["imported"] + j["updated"]')" = 0
expect 0 "verify after unarchive" "$SHELF" verify
expect 3 "unarchive of a project not archived (exit 3)" "$SHELF" project unarchive 1
contains "it says so" "$err" "project 1 is not archived"

# ---- both projects archived: the shared sample goes with the second ----
expect 0 "archive one again" "$SHELF" project archive 1 --to "$TGT"
expect 0 "archive two" "$SHELF" --json project archive 2 --to "$TGT"
check "the shared sample is freed with the second" "$(json 'j[0]["freed"]')" = 1
check "it is gone" ! -e "$S/more/shared 🥁.wav"
expect 0 "unarchive two only" "$SHELF" --json project unarchive 2
check "the shared sample is back" -f "$S/more/shared 🥁.wav"
check "one still archived" "$(state 1)" = archived
check "its samples stay freed" "$(ls "$S/kit" | grep -c wav)" = 0
expect 0 "unarchive one" "$SHELF" project unarchive 1
sums "$S" >"$T/sums.after"
check "identical hashes after both" "$(cmp -s "$T/sums.before" "$T/sums.after" && echo same)" = same

# ---- a failure before the check leaves everything local ----
expect 3 "a target that cannot be made (exit 3)" "$SHELF" project archive 1 --to /dev/null/nowhere
check "the message is one line" "$(echo "$err" | wc -l)" = 1
check "nothing recorded" "$(state 1)" = ""
check "no file freed" "$(nfiles "$S")" = 6

# A run stopped after it sent a file that is not what this run exports
# (other bytes under the recorded name): the next run replaces it, checks
# the new copy, and only then frees.
mkdir -p "$TGT/archives"
FAKE="shelf-fake-project-1.tar.zst"
head -c 5000 /dev/urandom >"$TGT/archives/$FAKE"
db "INSERT INTO project_archives(project_id, state, target, name, started) VALUES(1, 'exporting', '$TGT', '$FAKE', 1)"
expect 11 "status: an unfinished archive is a warning (exit 11)" "$SHELF" --json status --offline
check "the alert names the project" "$(json '[a["key"] for a in j["alerts"] if a["key"].startswith("archive")]')" = "['archive-unfinished:1']"
check "with what to do" "$(json '[a["action"] for a in j["alerts"] if a["key"].startswith("archive")]')" = "['shelf project archive 1']"
FAKESUM=$(sha256sum <"$TGT/archives/$FAKE")
expect 0 "the next run finishes onto other bytes at the target" "$SHELF" project archive 1
contains "it says it finished an earlier run" "$out" "finishing an earlier run"
check "the stale copy was replaced" "$(sha256sum <"$TGT/archives/$FAKE")" != "$FAKESUM"
expect 0 "the replaced archive verifies" "$SHELF" archive verify "$TGT/archives/$FAKE"
check "its parity came too" -f "$TGT/archives/$FAKE.par2"
expect 0 "and it brings the samples back" "$SHELF" project unarchive 1
sums "$S" >"$T/sums.after"
check "identical hashes" "$(cmp -s "$T/sums.before" "$T/sums.after" && echo same)" = same

# ---- a damaged archive is not brought back ----
expect 0 "archive one" "$SHELF" --json project archive 1 --to "$TGT"
NAME=$(json 'j[0]["archive"]')
cp "$TGT/archives/$NAME" "$T/good.tar.zst"
SIZE=$(stat -c %s "$T/good.tar.zst")
head -c $((SIZE / 2)) "$T/good.tar.zst" >"$TGT/archives/$NAME"
expect 1 "unarchive of an archive cut in half fails" "$SHELF" project unarchive 1
contains "it says it is damaged beyond its parity" "$err" "damaged beyond what its parity mends"
check "that is one line" "$(echo "$err" | wc -l)" = 1
check "nothing written" "$(ls "$S/kit" | grep -c wav)" = 0
check "still archived" "$(state 1)" = archived
cp "$T/good.tar.zst" "$TGT/archives/$NAME"
damage "$TGT/archives/$NAME" 600 40
expect 0 "a little damage is mended from the parity" "$SHELF" --json project unarchive 1
check "it says it mended it" "$(json 'j[0]["repaired"]')" = True
sums "$S" >"$T/sums.after"
check "identical hashes" "$(cmp -s "$T/sums.before" "$T/sums.after" && echo same)" = same

# A file put at an archived sample's path meanwhile is never overwritten.
expect 0 "archive one" "$SHELF" project archive 1 --to "$TGT"
echo "not the sample" >"$S/kit/Kick é 1.wav"
expect 1 "unarchive over another file is refused" "$SHELF" project unarchive 1
contains "it names the file" "$err" "Kick é 1.wav' is there and holds other bytes"
check "the stranger's file is untouched" "$(cat "$S/kit/Kick é 1.wav")" = "not the sample"
rm "$S/kit/Kick é 1.wav"
expect 0 "moved away, unarchive goes on" "$SHELF" project unarchive 1
sums "$S" >"$T/sums.after"
check "identical hashes" "$(cmp -s "$T/sums.before" "$T/sums.after" && echo same)" = same

# ---- a medium that cannot delete keeps its files ----
if [ "$(id -u)" = 0 ] && mount --bind "$S/kit" "$S/kit" 2>/dev/null; then
    if mount -o remount,bind,ro "$S/kit" 2>/dev/null; then
        expect 0 "archive with the kit on a read-only medium" "$SHELF" --json project archive 1 --to "$TGT"
        check "the kit's 2 are kept" "$(json 'j[0]["kept"]')" = 2
        check "the other 3 freed" "$(json 'j[0]["freed"]')" = 3
        check "the kit's files are there" "$(ls "$S/kit" | grep -c wav)" = 2
        expect 0 "search archived:yes" "$SHELF" --json search archived:yes
        check "kept ones are not archived" "$(json 'j["total"]')" = 3
        umount "$S/kit"
        expect 0 "unarchive" "$SHELF" project unarchive 1
    else
        umount "$S/kit"
        skip "read-only medium" "cannot remount read-only here"
    fi
else
    skip "read-only medium" "needs root and bind mounts"
fi
sums "$S" >"$T/sums.after"
check "identical hashes" "$(cmp -s "$T/sums.before" "$T/sums.after" && echo same)" = same

# ---- kill -9 at random points: the next run finishes ----
# Bigger samples so a run takes long enough to be killed inside.
"$SHELF_TG" --seed 20 --frames 1500000 "$S/kit/long a.wav" "$S/kit/long b.wav"
expect 0 "import the long ones" "$SHELF" import "$S"
expect 0 "project one uses them" "$SHELF" project add 1 "$S/kit/long a.wav" "$S/kit/long b.wav"
sums "$S" >"$T/sums.before"
# How long a whole run takes here, so the kills land inside one.
t0=$(date +%s%N)
expect 0 "a whole run, timed" "$SHELF" project archive 1 --to "$TGT"
dur=$((($(date +%s%N) - t0) / 1000000))
echo "an archive run takes $dur ms"
expect 0 "unarchive it" "$SHELF" project unarchive 1
kills=0
for round in 1 2 3 4 5 6; do
    ms=$((5 + RANDOM % (dur > 10 ? dur : 10)))
    kill_after "$ms" "$SHELF" project archive 1 --to "$TGT"
    echo "round $round: killed after $ms ms ($how), state '$(state 1)'"
    [ "$killed" = 1 ] && kills=$((kills + 1))
    if [ "$killed" = 1 ] && [ -n "$(state 1)" ] && [ "$(state 1)" != archived ]; then
        expect 11 "round $round: status warns of the unfinished archive" "$SHELF" --json status --offline
        check "round $round: the alert" "$(json '[a["key"] for a in j["alerts"] if a["key"].startswith("archive")]')" = "['archive-unfinished:1']"
    fi
    if [ "$(state 1)" != archived ]; then
        expect 0 "round $round: the next run finishes" "$SHELF" project archive 1 --to "$TGT"
    fi
    check "round $round: archived" "$(state 1)" = archived
    check "round $round: the long ones are freed" ! -e "$S/kit/long a.wav"
    check "round $round: no run folder left" ! -e "$T/lib/project-archive/1"
    expect 0 "round $round: unarchive" "$SHELF" project unarchive 1
    sums "$S" >"$T/sums.after"
    check "round $round: identical hashes" "$(cmp -s "$T/sums.before" "$T/sums.after" && echo same)" = same
done

check "most rounds were killed inside a run" "$kills" -ge 3

# ---- the same against s3rver ----
if start_s3rver; then
    expect 0 "s3: archive" "$SHELF" --json project archive 1 --to "$S3"
    check "s3: freed" "$(json 'j[0]["freed"]')" = 7
    expect 0 "s3: project archives" "$SHELF" --json project archives 1
    check "s3: the target is recorded" "$(json 'j[0]["target"]')" = "$S3"
    expect 0 "s3: unarchive" "$SHELF" project unarchive 1
    sums "$S" >"$T/sums.after"
    check "s3: identical hashes" "$(cmp -s "$T/sums.before" "$T/sums.after" && echo same)" = same
    expect 0 "s3: an archive schedule" "$SHELF" schedule add archive monthly --target "$S3" --unused-days 0 --name s3old
    expect 0 "s3: run it" "$SHELF" --json schedule run s3old
    check "s3: the run archived both projects" "$(json '[len(r["detail"]["archived"]) for r in j]')" = "[2]"
    expect 0 "s3: unarchive both" "$SHELF" project unarchive 1 2
    sums "$S" >"$T/sums.after"
    check "s3: identical hashes after the schedule's" "$(cmp -s "$T/sums.before" "$T/sums.after" && echo same)" = same
    expect 0 "s3: remove that schedule" "$SHELF" schedule rm s3old
else
    [ $? = 2 ] && skip "s3rver" "node or s3rver not installed (scripts/install-deps)"
fi

# ---- a schedule: projects unused for N days, by the test clock ----
CLOCK="$T/clock"
export SHELF_TEST_CLOCK="$CLOCK"
NOW=$(date +%s)
echo "$NOW" >"$CLOCK"
expect 2 "a parity over 100 is refused" "$SHELF" schedule add archive weekly --target "$TGT" --parity 200
expect 0 "an archive schedule" "$SHELF" schedule add archive daily 04:00 --target "$TGT" --unused-days 30 --name old
expect 0 "run it now: nothing is 30 days old" "$SHELF" --json schedule run old
expect 0 "its log" "$SHELF" --json schedule log old
check "none archived" "$(json 'len(j[-1]["detail"]["archived"])')" = 0
echo $((NOW + 40 * 86400)) >"$CLOCK"
expect 0 "40 days on, the run archives both" "$SHELF" --json schedule run old
expect 0 "its log" "$SHELF" --json schedule log old
check "two archived" "$(json 'sorted(a["project"] for a in j[-1]["detail"]["archived"])')" = "[1, 2]"
check "the log says it" "$(json 'j[-1]["message"]')" = "2 projects unused for 30 days archived to '$TGT', 8 samples freed ($(json 'j[-1]["detail"]["freed_bytes"]') bytes)"
check "all but the sample of the patch in no project is freed" "$(nfiles "$S")" = 1
expect 0 "unarchive both" "$SHELF" project unarchive 1 2
sums "$S" >"$T/sums.after"
check "identical hashes after the schedule's" "$(cmp -s "$T/sums.before" "$T/sums.after" && echo same)" = same

# An archive schedule's target is watched for space like a backup's.
SMALL="$T/small card"
mkdir -p "$SMALL"
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=4m tmpfs "$SMALL" 2>/dev/null; then
    head -c 3900000 /dev/zero >"$SMALL/filler"
    expect 0 "an archive schedule to a nearly full card" "$SHELF" schedule add archive weekly --target "$SMALL" --name tocard
    "$SHELF" --json status >"$T/out" 2>"$T/err"
    out=$(cat "$T/out")
    check "status: the card's space is an alert" "$(json '[a["key"] for a in j["alerts"] if a["key"].startswith("space:")]')" = "['space:$SMALL']"
    expect 0 "status --offline asks no target" "$SHELF" --json status --offline
    check "no space alert offline" "$(json '[a["key"] for a in j["alerts"] if a["key"].startswith("space:")]')" = "[]"
    expect 0 "remove that schedule" "$SHELF" schedule rm tocard
    umount "$SMALL"
else
    skip "space of an archive target" "needs root and tmpfs"
fi

# ---- the daemon killed mid-archive finishes it at its next start ----
db "UPDATE projects SET last_used = NULL, modified = NULL, created = 1"
db "DELETE FROM schedule_runs"
"$SHELF" daemon --no-watch --no-space --no-notify --log "$T/daemon.log" &
DPID=$!
bg_pids="$bg_pids $DPID"
for _ in $(seq 1500); do [ -n "$(state 1)" ] && break; sleep 0.02; done
check "the daemon began the archive" -n "$(state 1)"
kill -KILL "$DPID"
wait "$DPID" 2>/dev/null
echo "daemon killed with project 1 '$(state 1)', project 2 '$(state 2)'"
"$SHELF" daemon --no-watch --no-space --no-notify --log "$T/daemon.log" &
DPID=$!
bg_pids="$bg_pids $DPID"
# last: the newest run's status
last() { "$SHELF" --json schedule log old | python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["state"])'; }
for _ in $(seq 600); do
    [ "$(state 1)" = archived ] && [ "$(state 2)" = archived ] && [ "$(last)" = ok ] && break
    sleep 0.1
done
check "the next start finishes project one" "$(state 1)" = archived
check "and two" "$(state 2)" = archived
kill -TERM "$DPID"
wait "$DPID"
expect 0 "the schedule's log" "$SHELF" --json schedule log old
check "the killed run is recorded interrupted, the next ok" "$(json '[r["state"] for r in j]')" = "['interrupted', 'ok']"
check "all but the sample of the patch in no project is freed" "$(nfiles "$S")" = 1
expect 0 "unarchive both" "$SHELF" project unarchive 1 2
sums "$S" >"$T/sums.after"
check "identical hashes after the daemon's archive" "$(cmp -s "$T/sums.before" "$T/sums.after" && echo same)" = same

# ---- the daemon killed mid-backup finishes it at its next start ----
db "DELETE FROM schedules"
db "DELETE FROM schedule_runs"
R="$T/repo"
expect 0 "a backup repository" "$SHELF" backup init --no-encryption "$R"
expect 0 "a backup schedule, due at once" "$SHELF" schedule add backup hourly --target "$R" --name nightly
db "UPDATE schedules SET created = created - 86400"
# runrow: the newest run's state, "" when none
runrow() { db "SELECT status FROM schedule_runs ORDER BY id DESC LIMIT 1"; }
for attempt in 1 2 3; do
    db "DELETE FROM schedule_runs"
    "$SHELF" daemon --no-watch --no-space --no-notify --log "$T/daemon.log" &
    DPID=$!
    bg_pids="$bg_pids $DPID"
    for _ in $(seq 500); do [ -n "$(runrow)" ] && break; sleep 0.01; done
    kill -KILL "$DPID"
    wait "$DPID" 2>/dev/null
    echo "attempt $attempt: daemon killed with the backup '$(runrow)'"
    [ "$(runrow)" = running ] && break
done
check "the daemon was killed mid-backup" "$(runrow)" = running
"$SHELF" daemon --no-watch --no-space --no-notify --log "$T/daemon.log" &
DPID=$!
bg_pids="$bg_pids $DPID"
for _ in $(seq 600); do [ "$(runrow)" = ok ] && break; sleep 0.1; done
kill -TERM "$DPID"
wait "$DPID"
expect 0 "the schedule's log" "$SHELF" --json schedule log nightly
check "the killed backup is recorded interrupted, the next start's ok" "$(json '[r["state"] for r in j]')" = "['interrupted', 'ok']"
expect 0 "the repository checks" "$SHELF" backup check "$R"
expect 0 "it holds the snapshot" "$SHELF" --json backup list "$R"
check "at least one snapshot" "$(json 'len(j) >= 1')" = True

finish
