# test_backup.sh: backup repositories from the command line: init, backup
# strategies, list/show/diff, restore with preview and conflicts, log,
# check, forget/prune, keys, wrong password; then doc/disaster-recovery.md
# followed step by step after "losing" the library and its samples.
. "$(dirname "$0")/lib.sh"

S="$T/samples"
M="$T/managed"
R="$T/repo"
PWF="$T/pw"
mkdir -p "$S" "$M"
printf 'long secret phrase\n' >"$PWF"
export SHELF_PASSWORD="long secret phrase"
"$SHELF_TG" --seed 1 "$S/a.wav" "$S/b.wav" "$S/c.wav"
"$SHELF_TG" --seed 9 --frames 400000 "$S/long.wav"
"$SHELF_TG" --seed 50 "$M/m1.wav"
expect 0 "init" "$SHELF" init
expect 0 "import referenced" "$SHELF" import "$S"
expect 0 "import managed" "$SHELF" import --copy "$M"
expect 0 "a patch" "$SHELF" --json patch new Lead --author me
expect 0 "tag" "$SHELF" tag add 1 drums
expect 0 "a project" "$SHELF" --json project new Song --tempo 120
expect 0 "project uses a sample" "$SHELF" project add 1 sample:2

# init: encrypted by default; no password and no terminal exits 8 (missing password)
expect 8 "init without a password" env -u SHELF_PASSWORD "$SHELF" backup init "$R" </dev/null
expect 0 "init" "$SHELF" backup init --kdf-cost 10 --password-file "$PWF" "$R"
contains "init says where" "$out" "repository ready at $R"
expect 1 "init twice" "$SHELF" backup init --kdf-cost 10 "$R"
check "config written" -f "$R/config"
expect 8 "wrong password: its own status" env SHELF_PASSWORD=nope "$SHELF" backup list "$R"
contains "wrong password message" "$err" "wrong password"

expect 0 "backup (incremental)" "$SHELF" --json backup --tag first "$R"
SNAP1=$(json 'j["snapshot"]')
check "items" "$(json 'j["items"]')" = 7
expect 0 "backup again: nothing new but the catalog" "$SHELF" --json backup "$R"
check "read only the catalog and config" "$(json 'j["items_read"]')" = 2
expect 0 "full" "$SHELF" --json backup --full "$R"
FULL=$(json 'j["snapshot"]')
"$SHELF_TG" --seed 3 --frames 9000 "$S/b.wav"
expect 0 "re-import b" "$SHELF" import "$S"
expect 0 "differential" "$SHELF" --json backup --differential "$R"
DIFF=$(json 'j["snapshot"]')
expect 0 "list --json" "$SHELF" --json backup list "$R"
check "four snapshots" "$(json 'len(j)')" = 4
check "differential reads its full and itself" \
    "$(json "sorted(j[3]['depends'].split()) == sorted(['$FULL', '$DIFF'])")" = True
check "full reads itself" "$(json "j[2]['depends']")" = "$FULL"
check "differential's base" "$(json "j[3]['full']")" = "$FULL"
expect 0 "list" "$SHELF" backup list "$R"
contains "list shows types" "$out" "differential"
expect 0 "show" "$SHELF" backup show "$R" "${DIFF:0:10}"
contains "show lists samples" "$out" "$S/long.wav"
expect 0 "diff" "$SHELF" backup diff "$R" "$SNAP1" "$DIFF"
contains "diff names the changed file" "$out" "changed"
contains "diff names b" "$out" "$S/b.wav"
expect 3 "no such snapshot" "$SHELF" backup show "$R" ffffffff

# restore into the live library: preview, conflicts, log
rm "$S/a.wav"
expect 0 "restore preview" "$SHELF" --json restore "$R" "$SNAP1" 1 2 --preview
check "preview writes nothing" ! -e "$S/a.wav"
check "preview: b conflicts" "$(json "[i['action'] for i in j['items'] if i['kind']=='sample' and i['path'].endswith('/b.wav')][0]")" = skip
expect 0 "restore, skip conflicts" "$SHELF" restore --on-conflict skip "$R" "$SNAP1" 1 2 3 4
check "a is back" -f "$S/a.wav"
expect 0 "restore, keep both" "$SHELF" --json restore --on-conflict keep-both "$R" "$SNAP1" 1 2 3 4
check "keep-both made a copy" "$(ls "$S" | grep -c 'restored 1')" = 1
expect 0 "log" "$SHELF" --json log
check "restores logged" "$(json "len([e for e in j if e['action']=='restore']) >= 2")" = True
expect 0 "restore by query" "$SHELF" --json restore "$R" "$SNAP1" --query 'tag:drums' --preview
check "query found the tagged sample" "$(json "len([i for i in j['items'] if i['kind']=='sample'])")" = 1
expect 2 "bad conflict policy" "$SHELF" restore --on-conflict maybe "$R" latest
# tags, rating, favourite given since the snapshot are a difference too:
# shown in --preview, kept by default, put back by overwrite
expect 0 "rate since the snapshot" "$SHELF" rate 1 4
expect 0 "fav since the snapshot" "$SHELF" fav 1
expect 0 "restore preview: metadata" "$SHELF" --json restore "$R" "$SNAP1" 1 --preview
check "preview: a metadata conflict" "$(json "[i['action'] for i in j['items'] if i['kind']=='sample' and i['id']==1][0]")" = skip
contains "preview: it says what differs" "$out" "tags, rating or favourite differ"
expect 0 "restore: skip keeps the rating" "$SHELF" restore "$R" "$SNAP1" 1
expect 0 "info after skip" "$SHELF" --json info 1
contains "rating kept" "$out" '"rating": 4'
expect 0 "restore: overwrite" "$SHELF" --json restore --on-conflict overwrite "$R" "$SNAP1" 1
check "metadata overwritten" "$(json "[i['action'] for i in j['items'] if i['kind']=='sample' and i['id']==1][0]")" = overwrite
expect 0 "info after overwrite" "$SHELF" --json info 1
contains "rating back" "$out" '"rating": 0'
contains "favourite back" "$out" '"favourite": false'
# a project brings its samples; a changed one is overwritten as a new version
expect 0 "project changes" "$SHELF" project set 1 tempo=90
expect 0 "restore the project" "$SHELF" --json restore --on-conflict overwrite "$R" "$SNAP1" project:1
check "project overwritten" "$(json "[i['action'] for i in j['items'] if i['kind']=='project'][0]")" = overwrite
check "its sample came along" "$(json "len([i for i in j['items'] if i['kind']=='sample' and i['id']==2])")" = 1
expect 0 "project history kept" "$SHELF" --json project history 1
check "four versions: new, add, set, restore" "$(json 'len(j)')" = 4

# check, keys, forget, prune, test-restore
expect 0 "check --read-data" "$SHELF" --json backup check --read-data "$R"
check "no problems" "$(json 'j["errors"]')" = 0
expect 0 "key add" env SHELF_NEW_PASSWORD=second "$SHELF" backup key add --kdf-cost 10 "$R"
expect 0 "second password works" env SHELF_PASSWORD=second "$SHELF" backup list "$R"
expect 0 "key list" "$SHELF" --json backup key list "$R"
check "two keys" "$(json 'len(j)')" = 2
expect 0 "forget --keep-last 2 --prune" "$SHELF" --json backup forget --keep-last 2 --prune "$R"
check "two kept" "$(json 'len([x for x in j["snapshots"] if x["kept"]])')" = 2
check "pruned" "$(json 'j["prune"]["packs_removed"] + j["prune"]["packs_rewritten"] >= 1')" = True
expect 0 "test-restore" "$SHELF" --json backup test-restore "$R"
check "test-restore all match" "$(json 'j["ok"]')" = True
expect 0 "check a subset" "$SHELF" --json backup check --read-data-subset 50% "$R"
# a damaged index file: check names it, repair-index rebuilds from the packs
IDX=$(find "$R/index" -type f | head -1)
cp "$IDX" "$T/idx.bak"
chmod u+w "$IDX"
damage "$IDX" 20
expect 1 "check finds the index damage" "$SHELF" backup check "$R"
contains "index named" "$out" "index file is damaged"
expect 0 "repair-index" "$SHELF" --json backup repair-index "$R"
check "a damaged index removed" "$(json 'j["index_removed"]')" = 1
expect 0 "check after repair" "$SHELF" backup check --read-data "$R"
# a flipped bit in a pack is found and named
PACK=$(find "$R/data" -type f | head -1)
chmod u+w "$PACK"
damage "$PACK" 100
expect 1 "check finds damage" "$SHELF" backup check --read-data "$R"
contains "damage named" "$out" "damaged"

# a sample that cannot be read (a folder where its file was: read() fails,
# also for root) does not stop the backup: it is named, exit status 9
R9="$T/repo9"
expect 0 "repository for the unreadable sample" "$SHELF" backup init --kdf-cost 10 "$R9"
mv "$S/c.wav" "$T/c.wav.keep"
mkdir "$S/c.wav"
expect 9 "unreadable sample: exit status 9" "$SHELF" backup "$R9"
contains "unreadable sample named" "$err" "cannot read '$S/c.wav'"
contains "unreadable samples counted" "$err" "1 sample could not be read"
contains "the snapshot was still written" "$out" "snapshot "
expect 9 "unreadable sample --json" "$SHELF" --json backup "$R9"
check "--json counts it" "$(json 'j["items_unreadable"]')" = 1
check "--json names it" "$(json 'j["unreadable"][0]["path"]')" = "$S/c.wav"
SNAP9=$(json 'j["snapshot"]')
rmdir "$S/c.wav"
mv "$T/c.wav.keep" "$S/c.wav"
expect 0 "readable again: exit status 0" "$SHELF" --json backup "$R9"
check "--json: none unreadable" "$(json 'j["items_unreadable"]')" = 0
SNAP9B=$(json 'j["snapshot"]')
# restore --to onto a full disk: the message names it, and the same restore
# run again (after making room) finishes in that folder
SMALL="$T/small"
mkdir "$SMALL"
if mount -t tmpfs -o size=300k tmpfs "$SMALL" 2>/dev/null; then
    expect 1 "restore --to a full disk" "$SHELF" restore "$R9" "$SNAP9B" --to "$SMALL/lib"
    contains "full disk named" "$err" "no space left on device"
    contains "full disk: the file named" "$err" "$SMALL/lib/files"
    contains "full disk: how to go on" "$err" "run the same restore again"
    mount -o remount,size=8m "$SMALL"
    expect 0 "restore --to resumed in the same folder" "$SHELF" restore "$R9" "$SNAP9B" --to "$SMALL/lib"
    contains "resumed: what was there is kept" "$out" "unchanged"
    expect 0 "the resumed library verifies" "$SHELF" -L "$SMALL/lib" verify
    umount "$SMALL"
else
    skip "restore --to a full disk" "cannot mount a tmpfs here"
fi
# test-restore: a sample missing (or unreadable) when the backup ran is not
# a problem of the backup; it is listed apart
expect 0 "test-restore: the unreadable one is not a problem" "$SHELF" backup test-restore "$R9" "$SNAP9"
mv "$S/c.wav" "$T/c.wav.keep"
expect 0 "backup with a sample missing" "$SHELF" backup "$R9"
expect 0 "test-restore: a missing sample is not a problem" "$SHELF" backup test-restore "$R9"
contains "test-restore lists it apart" "$out" "absent"
contains "test-restore names it" "$out" "$S/c.wav"
contains "test-restore passes" "$out" "all match"
expect 0 "test-restore --json" "$SHELF" --json backup test-restore "$R9"
check "--json: ok" "$(json 'j["ok"]')" = True
check "--json: not in the snapshot" "$(json 'j["absent"][0]["path"]')" = "$S/c.wav"
mv "$T/c.wav.keep" "$S/c.wav"
# every problem is listed: a damaged pack fails the sample it holds
R10="$T/repo10"
expect 0 "repository for test-restore problems" "$SHELF" backup init --kdf-cost 10 "$R10"
expect 0 "full backup" "$SHELF" backup --full "$R10"
PACK=$(find "$R10/data" -type f -size +100k | head -1)
chmod u+w "$PACK"
damage "$PACK" $(($(stat -c %s "$PACK") / 2))
expect 1 "test-restore of a damaged pack" "$SHELF" backup test-restore "$R10"
contains "test-restore names the failed sample" "$out" "long.wav"
contains "test-restore lists it as failed" "$out" "failed"
contains "test-restore counts the problems" "$out" "1 problem (listed above)"
expect 1 "test-restore of a damaged pack --json" "$SHELF" --json backup test-restore "$R10"
check "--json lists the problem" "$(json '[p["problem"] for p in j["problems"]]')" = "['failed']"
expect 0 "help" "$SHELF" help
contains "help lists exit status 9" "$out" "9    a backup finished, but some samples could not be read"

# ---- doc/disaster-recovery.md, "After the loss" ----
R2="$T/repo2"
expect 0 "fresh repository" "$SHELF" backup init --kdf-cost 10 "$R2"
expect 0 "backup before the loss" "$SHELF" backup "$R2"
expect 0 "patches before" "$SHELF" --json patch ls
PATCHES_BEFORE=$(json 'len(j)')
rm -rf "$SHELF_LIBRARY" "$S" "$M"
NEW="$T/newlib"
# step 3: the password comes from the environment (set above)
# step 4: see the snapshots
expect 0 "step 4: list" "$SHELF" backup list "$R2"
contains "step 4: latest is there" "$out" "incremental"
# step 5: check
expect 0 "step 5: check" "$SHELF" backup check --read-data "$R2"
# step 6: restore the library into an empty folder (preview first)
expect 0 "step 6: preview" "$SHELF" restore "$R2" latest --to "$NEW" --preview
check "step 6: preview wrote nothing" ! -e "$NEW"
expect 0 "step 6: restore" "$SHELF" restore "$R2" latest --to "$NEW"
# step 7: verify, stats, log, patches
expect 0 "step 7: verify" "$SHELF" -L "$NEW" verify
expect 0 "step 7: stats" "$SHELF" -L "$NEW" --json stats
expect 0 "step 7: log" "$SHELF" -L "$NEW" log
contains "step 7: restore logged" "$out" "whole library from snapshot"
expect 0 "step 7: patches" "$SHELF" -L "$NEW" --json patch ls
check "step 7: patches back" "$(json 'len(j)')" = "$PATCHES_BEFORE"
# step 8: use it; step 9: back up again to a new medium
export SHELF_LIBRARY="$NEW"
expect 0 "step 9: new medium" "$SHELF" backup init --kdf-cost 10 "$T/repo3"
expect 0 "step 9: full backup" "$SHELF" backup --full "$T/repo3"
expect 0 "step 9: test-restore" "$SHELF" backup test-restore "$T/repo3"

# ---- repositories that lie, and what a killed run leaves ----
R4="$T/repo4"
expect 0 "lie: a repository" "$SHELF" backup init --kdf-cost 10 "$R4"
expect 0 "lie: first backup" "$SHELF" --json backup "$R4"
FIRST4=$(json 'j["snapshot"]')
expect 0 "lie: second backup" "$SHELF" --json backup --full "$R4"
SECOND4=$(json 'j["snapshot"]')
# a damaged newest snapshot: shown, and 'latest' refused instead of the previous one
cp "$R4/snapshots/$SECOND4" "$T/snap.bak"
chmod u+w "$R4/snapshots/$SECOND4"
damage "$R4/snapshots/$SECOND4" 30
expect 0 "lie: list" "$SHELF" backup list "$R4"
contains "lie: list shows the damaged snapshot" "$out" "${SECOND4:0:12}  DAMAGED"
expect 0 "lie: list --json" "$SHELF" --json backup list "$R4"
check "lie: damaged in json" "$(json "[x['id'] for x in j if x.get('damaged')]")" = "['$SECOND4']"
expect 1 "lie: restore latest refused" "$SHELF" restore "$R4" latest --to "$T/lie1"
contains "lie: says which is damaged" "$err" "snapshot ${SECOND4:0:12} is damaged"
contains "lie: names the newest readable" "$err" "newest readable is ${FIRST4:0:12}"
check "lie: nothing restored" ! -e "$T/lie1"
expect 1 "lie: test-restore refused" "$SHELF" backup test-restore "$R4"
expect 0 "lie: the readable one, named" "$SHELF" restore "$R4" "${FIRST4:0:12}" --to "$T/lie1"
cp "$T/snap.bak" "$R4/snapshots/$SECOND4"
# a damaged index file: a restore on a new machine reads pack headers and says so
IDX4=$(find "$R4/index" -type f | head -1)
chmod u+w "$IDX4"
damage "$IDX4" 40
expect 0 "lie: restore despite a damaged index" env SHELF_LIBRARY="$T/none" "$SHELF" restore "$R4" latest --to "$T/lie2"
contains "lie: restore says so" "$err" "read the headers of"
expect 0 "lie: the restored library verifies" "$SHELF" -L "$T/lie2" verify
expect 0 "lie: repair-index" "$SHELF" backup repair-index "$R4"
# a lock of another host: readable, and unlock breaks it
mkdir -p "$R4/locks"
NOW=$(date +%s)
printf '{"exclusive": true, "expires": %d, "host": "elsewhere", "pid": 4242, "time": %d}' \
    $((NOW + 600)) "$NOW" >"$R4/locks/00000000000000aa"
expect 5 "lie: a live lock of another host" "$SHELF" backup "$R4"
contains "lie: lock time readable" "$err" "$(date -u -d "@$NOW" '+%Y-%m-%d %H:%M:%S') UTC"
contains "lie: lock names unlock" "$err" "shelf backup unlock"
expect 0 "lie: unlock keeps a live lock" "$SHELF" --json backup unlock "$R4"
check "lie: reported, kept" "$(json '[x["removed"] for x in j if x["host"] == "elsewhere"]')" = "[False]"
expect 0 "lie: unlock --all" "$SHELF" backup unlock --all "$R4"
contains "lie: removed" "$out" "removed"
check "lie: lock gone" ! -e "$R4/locks/00000000000000aa"
# a symlinked folder inside the repository: nothing lands at its target
mkdir -p "$T/elsewhere"
rm -rf "$R4/locks"
ln -s "$T/elsewhere" "$R4/locks"
expect 1 "lie: symlinked locks/ refused" "$SHELF" backup "$R4"
contains "lie: says why" "$err" "symbolic link"
check "lie: nothing written there" -z "$(ls -A "$T/elsewhere")"
rm "$R4/locks"
# kill -9 during backups: the next backup removes what they left
"$SHELF_TG" --seed 77 --frames 15000000 "$NEW/files/big.wav"
expect 0 "lie: a big sample" "$SHELF" import "$NEW/files/big.wav"
echo "kill -9 during backups"
test_seed
# how long a full backup takes here, so the kills land inside one
t0=$(date +%s%N)
"$SHELF" backup --full "$R4" >/dev/null 2>&1
dur=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "a full backup takes $dur ms"
nkilled=0
for round in 1 2 3 4; do
    kill_after "$(( 5 + RANDOM % (dur > 10 ? dur : 10) ))" "$SHELF" backup --full "$R4"
    if [ "$killed" -eq 1 ]; then
        nkilled=$((nkilled + 1))
    elif [ "$how" != "exit 0" ]; then
        fail "lie: kill round $round (seed $seed): $how"
    else
        echo "round $round (seed $seed): the backup finished before the kill"
    fi
done
check "lie: the backups died of SIGKILL (seed $seed)" "$nkilled" -ge 1
touch "$NEW/cache/backup-catalog-999999999.db" "$R4/index/.tmp-leftover"
expect 0 "lie: next backup" "$SHELF" backup "$R4"
check "lie: no catalog copies left" -z "$(ls "$NEW/cache" | grep backup-catalog-)"
check "lie: no temp files left in the repository" -z "$(find "$R4" -name '.tmp-*')"
expect 0 "lie: check after the kills" "$SHELF" --json backup check "$R4"
check "lie: no problems" "$(json 'j["errors"]')" = 0

finish
