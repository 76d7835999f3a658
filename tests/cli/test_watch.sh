# test_watch.sh: shelf watch keeps the catalog in step with the roots by
# itself (doc/service.md, "Background indexing"): a file written in pieces
# is imported once, after it is closed; folders made with mkdir -p, copied
# with cp -r and moved in are imported with their files; moves within the
# roots keep the id, tags and rating; moving out marks missing and back in
# takes the same id; deletes mark missing; odd names pass; a root imported
# by another process meanwhile is watched; an unmounted root is waited for
# (its samples left alone) and rescanned when it is back, also when a copy
# of the volume in another mount namespace keeps IN_UNMOUNT from coming; a
# volume mounted
# on a root is a rescan of it; a queue overflow
# rescans; the watch limit falls back to a periodic rescan.  Each fallback
# is proved by its note, the catalog's rows and the ids.
. "$(dirname "$0")/lib.sh"

S="$T/samples"
CARD="$T/card"
OUT="$T/watch.out"
QUEUED=""
restore() {
    [ -z "$QUEUED" ] || echo "$QUEUED" >/proc/sys/fs/inotify/max_queued_events
    QUEUED=""
}
trap 'restore; s3rver_stop; bg_stop; umount "$CARD" 2>/dev/null; umount "$T/plain" 2>/dev/null; chmod -R u+w "$T" 2>/dev/null; rm -rf "$T"' EXIT

mkdir -p "$S/kicks" "$T/outside"
for i in 1 2 3 4; do "$SHELF_TG" --seed "$i" "$S/kicks/k$i.wav"; done
"$SHELF" init >/dev/null && "$SHELF" import "$S" >/dev/null || fail "set up"

# row PATH: "ID MISSING" of the sample at PATH, empty when there is none
# (read from the catalog, bytes as they are).
row() {
    python3 - "$SHELF_LIBRARY/shelf.db" "$1" <<'EOF'
import os, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.text_factory = bytes
want = os.fsencode(sys.argv[2])
for i, root, rel, miss in db.execute(
        "SELECT s.id, r.path, s.relpath, s.missing FROM samples s JOIN roots r ON r.id = s.root_id"):
    if root + b"/" + rel == want:
        print(i, miss)
EOF
}
# wait_row PATH WANT: wait (up to 10 s) until row PATH is WANT.
wait_row() {
    local _
    for _ in $(seq 100); do [ "$(row "$1")" = "$2" ] && return 0; sleep 0.1; done
    return 1
}
# wait_in PATH: wait (up to 10 s) until PATH has a row that is not missing.
wait_in() {
    local _
    for _ in $(seq 100); do case "$(row "$1")" in *" 0") return 0 ;; esac; sleep 0.1; done
    return 1
}
# wait_out TEXT [FILE]: wait (up to 15 s) for TEXT in the watcher's output.
wait_out() {
    local _
    for _ in $(seq 150); do grep -qF -- "$1" "${2:-$OUT}" 2>/dev/null && return 0; sleep 0.1; done
    return 1
}
# start_watch FILE ARGS...: shelf --json watch in the background; $WPID.
start_watch() {
    local f=$1
    shift
    "$SHELF" --json watch "$@" >"$f" 2>"$f.err" &
    WPID=$!
    bg_pids="$bg_pids $WPID"
    wait_out '"note":"watching' "$f" || fail "the watcher did not start: $(cat "$f.err")"
}
stop_watch() {
    kill -INT "$WPID"
    wait "$WPID"
    check "SIGINT ends it with 0" "$?" = 0
}
count() { grep -cF -- "$1" "$OUT"; }

start_watch "$OUT" --debounce 200
contains "it says what it watches" "$(cat "$OUT")" '"note":"watching 2 folders in 1 root"'

# --- a file written in pieces: one import, after close ------------------
"$SHELF_TG" --seed 10 "$T/outside/piece.wav"
python3 - "$T/outside/piece.wav" "$S/kicks/piece.wav" <<'EOF'
import sys, time
data = open(sys.argv[1], "rb").read()
with open(sys.argv[2], "wb") as f:
    for k in range(4):
        f.write(data[k * len(data) // 4:(k + 1) * len(data) // 4])
        f.flush()
        time.sleep(0.4)     # longer than the debounce: nothing is read yet
EOF
wait_in "$S/kicks/piece.wav"
wait_out "$S/kicks/piece.wav" || fail "piece.wav was not imported"
sleep 0.5
check "written in pieces: imported once" "$(count "\"path\":\"$S/kicks/piece.wav\"")" = 1
contains "as imported" "$(grep -F piece.wav "$OUT")" '"action":"imported"'
check "never read half written" "$(count '"action":"failed"')" = 0

# --- new folders: mkdir -p, cp -r, moved in with files inside -----------
mkdir -p "$S/new/deep/er"
"$SHELF_TG" --seed 11 "$S/new/deep/er/n1.wav"
"$SHELF_TG" --seed 12 "$S/new/n2.wav"
mkdir -p "$T/outside/kit/sub"
"$SHELF_TG" --seed 13 "$T/outside/kit/c1.wav"
"$SHELF_TG" --seed 14 "$T/outside/kit/sub/c2.wav"
cp -r "$T/outside/kit" "$S/copied"
mkdir -p "$T/outside/pack/a/b"
"$SHELF_TG" --seed 15 "$T/outside/pack/a/b/m1.wav"
"$SHELF_TG" --seed 16 "$T/outside/pack/m2.wav"
mv "$T/outside/pack" "$S/pack"
for f in new/deep/er/n1 new/n2 copied/c1 copied/sub/c2 pack/a/b/m1 pack/m2; do
    wait_in "$S/$f.wav" && ok "new folder: $f imported" || fail "new folder: $f not imported"
done
# a file written later in a folder made by mkdir -p is watched too
"$SHELF_TG" --seed 17 "$S/new/deep/er/n3.wav"
wait_out "$S/new/deep/er/n3.wav" && ok "a folder made meanwhile is watched" || fail "n3 not imported"
"$SHELF_TG" --seed 18 "$S/pack/a/b/m3.wav"
wait_out "$S/pack/a/b/m3.wav" && ok "a folder moved in is watched" || fail "m3 not imported"

# --- moves within the roots keep id, tags and rating ------------------------
ID1=$(row "$S/kicks/k1.wav" | cut -d' ' -f1)
"$SHELF" tag add "$ID1" punchy >/dev/null && "$SHELF" rate "$ID1" 4 >/dev/null || fail "tag and rate"
mv "$S/kicks/k1.wav" "$S/new/k1 renamed.wav"
wait_row "$S/new/k1 renamed.wav" "$ID1 0" && ok "a move keeps the id" || fail "move: $(row "$S/new/k1 renamed.wav")"
check "the old path is gone from the catalog" -z "$(row "$S/kicks/k1.wav")"
expect 0 "info of the moved sample" "$SHELF" --json info "$ID1"
check "tag and rating kept" "$(json '(j["tags"], j["rating"])')" = "(['punchy'], 4)"
contains "reported as moved" "$(grep -F 'k1 renamed' "$OUT")" '"action":"moved"'
ID2=$(row "$S/kicks/k2.wav" | cut -d' ' -f1)
mv "$S/kicks" "$S/drums"
wait_row "$S/drums/k2.wav" "$ID2 0" && ok "a folder renamed keeps the ids" || fail "rename: $(row "$S/drums/k2.wav")"
"$SHELF_TG" --seed 19 "$S/drums/k9.wav"
wait_out "$S/drums/k9.wav" && ok "a renamed folder is watched at its new path" || fail "k9 not imported"

# --- out of the roots and back ---------------------------------------------
mv "$S/drums/k2.wav" "$T/outside/k2.wav"
wait_row "$S/drums/k2.wav" "$ID2 1" && ok "moved out: missing" || fail "moved out: $(row "$S/drums/k2.wav")"
mv "$T/outside/k2.wav" "$S/new/k2.wav"
wait_row "$S/new/k2.wav" "$ID2 0" && ok "moved back in: the same id" || fail "back in: $(row "$S/new/k2.wav")"
mv "$S/pack" "$T/outside/pack"
wait_row "$S/pack/m2.wav" "$(row "$S/pack/m2.wav" | cut -d' ' -f1) 1" &&
    check "a folder moved out: its samples missing" "$(row "$S/pack/a/b/m1.wav" | cut -d' ' -f2)" = 1 ||
    fail "folder moved out: $(row "$S/pack/m2.wav")"
# ... and the watches it took along are gone: writing there changes nothing
"$SHELF_TG" --seed 20 "$T/outside/pack/m4.wav"
sleep 1
check "nothing outside the roots is imported" "$(count m4.wav)" = 0

# --- deletes ----------------------------------------------------------------
ID3=$(row "$S/drums/k3.wav" | cut -d' ' -f1)
rm "$S/drums/k3.wav"
wait_row "$S/drums/k3.wav" "$ID3 1" && ok "deleted: missing" || fail "deleted: $(row "$S/drums/k3.wav")"
rm -r "$S/copied"
wait_row "$S/copied/sub/c2.wav" "$(row "$S/copied/sub/c2.wav" | cut -d' ' -f1) 1" && ok "a folder deleted: missing" ||
    fail "folder deleted: $(row "$S/copied/sub/c2.wav")"

# --- dot files, temp files, odd names ---------------------------------------
"$SHELF_TG" --seed 21 "$S/new/.hidden.wav"
"$SHELF_TG" --seed 22 "$S/new/draft.wav.swp"
"$SHELF_TG" --seed 23 "$S/new/draft.wav~"
names=("é à ü.wav" "鼓 キック.wav" "🥁 kick.wav" "two  spaces .wav" $'new\nline.wav' $'bad\xff\xfe.wav')
i=30
for n in "${names[@]}"; do "$SHELF_TG" --seed $i "$S/new/$n"; i=$((i + 1)); done
for n in "${names[@]}"; do
    wait_in "$S/new/$n" && ok "odd name imported: $(printf '%q' "$n")" ||
        fail "odd name not imported: $(printf '%q' "$n")"
done
check "dot and temp files are ignored" "$(count hidden)$(count draft)" = 00
check "each line is JSON" "$(python3 -c '
import json, sys
for line in open(sys.argv[1], encoding="utf-8"):
    o = json.loads(line)
    assert "note" in o or o["action"] in ("imported", "updated", "moved", "missing"), o
print("yes")' "$OUT")" = yes

# --- a root imported by another process, unmounted and mounted again --------
if [ "$(id -u)" -eq 0 ] && mkdir -p "$CARD" && mount -t tmpfs -o size=8m shelfcard "$CARD"; then
    "$SHELF_TG" --seed 40 "$CARD/c1.wav"
    "$SHELF_TG" --seed 41 "$CARD/c2.wav"
    expect 0 "import the card" "$SHELF" import "$CARD"
    wait_out "\"note\":\"new root $CARD: watching it\"" && ok "a new root is watched" || fail "new root not seen"
    "$SHELF_TG" --seed 42 "$CARD/c3.wav"
    wait_in "$CARD/c3.wav" && ok "a file on the new root is imported" || fail "c3 not imported"
    C1=$(row "$CARD/c1.wav" | cut -d' ' -f1)
    umount "$CARD" || fail "umount"
    wait_out "\"note\":\"root $CARD is unmounted: waiting for it\"" && ok "unmount: said once" || fail "unmount not seen"
    sleep 2.5
    check "while unmounted its samples are left alone" "$(row "$CARD/c1.wav")" = "$C1 0"
    check "said once" "$(count "is unmounted")" = 1
    mount -t tmpfs -o size=8m shelfcard "$CARD" || fail "mount again"
    "$SHELF_TG" --seed 40 "$CARD/c1.wav"
    "$SHELF_TG" --seed 43 "$CARD/c4.wav"
    wait_out "\"note\":\"root $CARD is back: rescanning it\"" && ok "mounted again: rescanned" || fail "not back"
    wait_in "$CARD/c4.wav" && ok "a new file on the card is imported" || fail "c4 not imported"
    check "the card's sample kept its id" "$(row "$CARD/c1.wav")" = "$C1 0"
    check "what is not on the card any more is missing" "$(row "$CARD/c2.wav" | cut -d' ' -f2)" = 1
    # unmounted while a copy of the volume lives on in another mount
    # namespace (a process that unshared meanwhile): no IN_UNMOUNT comes,
    # the root is seen to be a plain folder now
    PIN_READY="$T/pin.ready"
    unshare -m --propagation private sh -c 'touch "$1"; exec sleep 60' sh "$PIN_READY" &
    PIN=$!
    bg_pids="$bg_pids $PIN"
    for _ in $(seq 100); do [ -e "$PIN_READY" ] && break; sleep 0.1; done
    check "the volume is held in another namespace" \
        "$(grep -c " $CARD " "/proc/$PIN/mounts" 2>/dev/null)" = 1
    umount "$CARD" || fail "umount (held)"
    check "and there it stays mounted" "$(grep -c " $CARD " "/proc/$PIN/mounts" 2>/dev/null)" = 1
    for _ in $(seq 150); do [ "$(count "is unmounted")" = 2 ] && break; sleep 0.1; done
    check "unmounted, the volume held elsewhere: said" "$(count "is unmounted")" = 2
    sleep 2.5
    check "held elsewhere: its samples are left alone" "$(row "$CARD/c1.wav")" = "$C1 0"
    check "no rescan of the mount point" "$(count "is another folder now")" = 0
    kill "$PIN" 2>/dev/null
    wait "$PIN" 2>/dev/null
    mount -t tmpfs -o size=8m shelfcard "$CARD" || fail "mount again (after held)"
    "$SHELF_TG" --seed 40 "$CARD/c1.wav"
    for _ in $(seq 150); do [ "$(count "is back: rescanning")" = 2 ] && break; sleep 0.1; done
    [ "$(count "is back: rescanning")" = 2 ] && ok "mounted again after held: rescanned" ||
        fail "not back after held: $(grep -F '"note"' "$OUT" | tail -3)"
    wait_row "$CARD/c4.wav" "$(row "$CARD/c4.wav" | cut -d' ' -f1) 1" && ok "held: what went is missing" ||
        fail "held: c4 $(row "$CARD/c4.wav")"
    check "held: the card's sample kept its id" "$(row "$CARD/c1.wav")" = "$C1 0"
    # a volume mounted over a watched root: the root is another folder now
    PLAIN="$T/plain"
    mkdir -p "$PLAIN"
    "$SHELF_TG" --seed 44 "$PLAIN/p1.wav"
    expect 0 "import a plain folder" "$SHELF" import "$PLAIN"
    wait_out "\"note\":\"new root $PLAIN: watching it\"" || fail "plain root not seen"
    mkdir -p "$T/outside/over"
    "$SHELF_TG" --seed 45 "$T/outside/over/o1.wav"
    mount -t tmpfs -o size=8m shelfover "$PLAIN" && cp "$T/outside/over/o1.wav" "$PLAIN/o1.wav" || fail "mount over"
    wait_out "\"note\":\"root $PLAIN is another folder now" && ok "mounted over: said" || fail "mount over not seen"
    wait_in "$PLAIN/o1.wav" && ok "mounted over: rescanned" || fail "o1 not imported"
    umount "$PLAIN"
else
    skip "unmounted root" "needs root to mount a tmpfs"
fi
stop_watch

# --- queue overflow: a queue of 64 events, the watcher stopped meanwhile ----
if [ "$(id -u)" -eq 0 ] && QUEUED=$(cat /proc/sys/fs/inotify/max_queued_events) &&
   echo 64 >/proc/sys/fs/inotify/max_queued_events; then
    OUT="$T/overflow.out"
    mkdir -p "$S/flood"     # watched from the start: its files' events fill the queue
    start_watch "$OUT" --debounce 200 --no-scan
    restore     # the queue's size is fixed when the watcher starts
    kill -STOP "$WPID"
    for i in $(seq 100); do "$SHELF_TG" --seed $((100 + i)) "$S/flood/f$i.wav"; done
    kill -CONT "$WPID"
    wait_out '"note":"queue overflow: rescanning' && ok "overflow: said" || fail "no overflow note"
    for _ in $(seq 100); do
        [ "$(sqlite3 "$SHELF_LIBRARY/shelf.db" "SELECT count(*) FROM samples WHERE relpath LIKE 'flood/%' AND missing = 0")" = 100 ] && break
        sleep 0.1
    done
    check "overflow: the rescan found all 100 files" \
        "$(sqlite3 "$SHELF_LIBRARY/shelf.db" "SELECT count(*) FROM samples WHERE relpath LIKE 'flood/%' AND missing = 0")" = 100
    check "said once" "$(count 'queue overflow')" = 1
    stop_watch
else
    skip "queue overflow" "needs root to lower fs.inotify.max_queued_events"
fi

# --- the watch limit: 3 watches in a user namespace of its own ------------
if unshare -U -r true 2>/dev/null; then
    OUT="$T/limit.out"
    mkdir -p "$T/deep/a/b/c/d/e"
    "$SHELF_TG" --seed 50 "$T/deep/a/b/c/d/e/d1.wav"
    expect 0 "import a deep folder" "$SHELF" import "$T/deep"
    unshare -U -r sh -c 'echo 3 >/proc/sys/user/max_inotify_watches && exec "$0" --json watch --debounce 200 --poll 1000' \
        "$SHELF" >"$OUT" 2>"$OUT.err" &
    WPID=$!
    bg_pids="$bg_pids $WPID"
    wait_out "\"note\":\"watch limit reached under $T/deep" && ok "watch limit: said" ||
        fail "no watch limit note: $(cat "$OUT" "$OUT.err")"
    contains "with the sysctl to raise" "$(cat "$OUT")" "(user.max_inotify_watches = 3): rescanning it every 1 s; raise it with: sysctl user.max_inotify_watches=12"
    "$SHELF_TG" --seed 51 "$T/deep/a/b/c/d/e/d2.wav"
    wait_in "$T/deep/a/b/c/d/e/d2.wav" && ok "an unwatched folder is rescanned" || fail "d2 not imported"
    check "said once" "$(count "watch limit reached under $T/deep ")" = 1
    stop_watch
else
    skip "watch limit" "cannot make a user namespace here"
fi

expect 2 "a bad --debounce" "$SHELF" watch --debounce x
expect 2 "no arguments" "$SHELF" watch extra
expect 3 "no library" "$SHELF" -L "$T/none" watch
finish
