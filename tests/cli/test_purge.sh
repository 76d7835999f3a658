# test_purge.sh: shelf purge from the command line: a library with
# everything in it (awkward names, managed copies, tags, a rating, a
# favourite, a collection, a patch with three versions that uses a sample),
# --preview changes nothing, a sample a patch uses needs the patch or
# --force, then a purge, and a search of every place: the catalog, the
# search index's shadow tables, blobs, and the raw bytes of every file of
# the library.  The user's own files stay and are listed.
. "$(dirname "$0")/lib.sh"

S="$T/s"
mkdir -p "$S/kit"
# WAVs whose sample data hold a marker (so a copy of the bytes is found)
python3 - "$S/kit" <<'EOF'
import os, sys, wave
d = sys.argv[1].encode()
files = {
    b"kick \xc3\xa9 ZQXNAMEA.wav": b"ZQXDATAA",
    "雪 🥁 ZQXNAMEB.wav".encode(): b"ZQXDATAB",
    b"hat \xff\nZQXNAMEC.wav": b"ZQXDATAC",
    b"snare.wav": b"KEEPDATA",
}
for name, marker in files.items():
    w = wave.open(os.path.join(d, name).decode("utf-8", "surrogateescape"), "wb")
    w.setnchannels(1); w.setsampwidth(2); w.setframerate(44100)
    w.writeframes((marker * 64) + bytes(range(256)) * 8)
    w.close()
EOF
# the same bytes under another name: a sample is its bytes, both rows go
mkdir "$S/other"
cp "$S/kit/雪 🥁 ZQXNAMEB.wav" "$S/other/copy ZQXNAMED.wav"
cat > "$S/kit/ZQXPATCHNAME.sfz" <<'EOF'
<region> sample=kick é ZQXNAMEA.wav lokey=36 hikey=36
<region> sample=snare.wav lokey=38 hikey=38
EOF
expect 0 "init" "$SHELF" init
expect 0 "import managed copies" "$SHELF" import --copy "$S"
A=$(sample_id "$T/lib" "kick")
B=$(sample_id "$T/lib" "雪")
C=$(sample_id "$T/lib" "hat")
K=$(sample_id "$T/lib" "snare")
expect 0 "tag" "$SHELF" tag add "$A" zqxtagsecret
expect 0 "tag the other too" "$SHELF" tag add "$K" keeptag
expect 0 "rate" "$SHELF" rate "$A" 4
expect 0 "fav" "$SHELF" fav "$B"
expect 0 "collection" "$SHELF" collection new "ZQXCOLL ☆"
expect 0 "collection add" "$SHELF" collection add "ZQXCOLL ☆" "$A" "$K"
expect 0 "patch import" "$SHELF" --json patch import "$S/kit/ZQXPATCHNAME.sfz"
P=$(json 'j[0]["id"]')
expect 0 "patch version 2" "$SHELF" patch set "$P" comment="ZQXCOMMENT one"
expect 0 "patch version 3" "$SHELF" patch set "$P" comment="ZQXCOMMENT two"
expect 0 "history of three" "$SHELF" --json patch history "$P"
check "three versions" "$(json 'len(j)')" = 3

# an archive of the patch: shelf cannot reach it, the purge names it
expect 0 "archive export" "$SHELF" archive export --patch "$P" "$T/out ☆.tar" --no-sign

# two backups made before the purge: the purge names one (--backup), the
# other is left as it was (a restore from it must not bring items back)
expect 0 "backup init" "$SHELF" backup init --no-encryption "$T/repo"
expect 0 "backup" "$SHELF" backup "$T/repo"
expect 0 "backup init (kept)" "$SHELF" backup init --no-encryption "$T/repo2"
expect 0 "backup (kept)" "$SHELF" backup "$T/repo2"

# the search below finds what is there: every marker is in the library now
"$SHELF" vacuum >/dev/null 2>&1
for m in ZQXNAMEA ZQXDATAA zqxtagsecret ZQXCOMMENT ZQXPATCHNAME; do
    check "before: $m is in the library" -n "$(grep -rla "$m" "$T/lib" | head -1)"
done

# --preview: lists, changes nothing
expect 0 "preview" "$SHELF" --json purge --preview "$A" "patch:$P"
check "preview: the sample" "$(json '[i["id"] for i in j["items"] if i["what"] == "sample"]')" = "[$A]"
check "preview: the patch" "$(json '[i["id"] for i in j["items"] if i["what"] == "patch"]')" = "[$P]"
check "preview: a name across devices" "$(json '[i["name"][:2] for i in j["items"] if i["what"] == "patch"]')" = "['p:']"
check "preview: the user's file is left" "$(json 'len([i for i in j["left"] if i["what"] == "file"])')" = 1
check "preview: nothing changed" "$(json 'j["rows"]')" = 0
check "preview: the archive is named" "$(json '[i["detail"] for i in j["left"] if i["what"] == "export"]')" = "['archive $T/out ☆.tar']"
expect 0 "still there after a preview" "$SHELF" --json ls
check "five samples" "$(json 'len(j)')" = 5

# a sample the patch uses: the patch too, or --force
expect 1 "a used sample is refused" "$SHELF" purge "$A"
contains "the refusal names the patch" "$err" "ZQXPATCHNAME"
check "one line" "$(printf '%s\n' "$err" | wc -l)" = 1
expect 3 "an unknown id" "$SHELF" purge 999
expect 3 "an unknown patch" "$SHELF" purge patch:999

# the purge
expect 0 "purge" "$SHELF" --json purge "$A" "$B" "$C" "patch:$P" --backup "$T/repo"
check "four sample rows (one a copy of the same bytes)" "$(json 'j["samples"]')" = 4
check "one document" "$(json 'j["documents"]')" = 1
check "three managed copies" "$(json 'j["blobs"]')" = 3
check "the user's files are listed" "$(json 'j["files_left"]')" = 4
check "the archive is listed" "$(json 'j["exports"]')" = 1
check "the backup's snapshot rewritten" "$(json 'j["backups"][0]["snapshots_rewritten"]')" = 1
check "its packs rewritten" "$(json 'j["backups"][0]["packs_rewritten"] >= 1')" = True
expect 0 "ls" "$SHELF" --json ls
check "only the snare is left" "$(json '[r["name"] for r in j]')" = "['snare']"
check "its tag is kept" "$(json 'j[0]["tags"]')" = "['keeptag']"
expect 0 "patch ls" "$SHELF" --json patch ls
check "no patch" "$(json 'len(j)')" = 0
expect 0 "search finds nothing" "$SHELF" --json search ZQXNAMEA
check "no hit" "$(json "j['total']")" = 0
Q() { sqlite3 "$T/lib/shelf.db" "$1"; }
check "no sample rows" "$(Q "SELECT count(*) FROM samples WHERE name LIKE '%ZQX%'")" = 0
check "the search index has no such term" "$(Q "SELECT count(*) FROM samples_fts WHERE samples_fts MATCH 'zqxnamea OR zqxtagsecret'")" = 0
check "no shadow row holds it" "$(Q "SELECT count(*) FROM samples_fts_content WHERE c1 LIKE '%ZQX%' OR c2 LIKE '%ZQX%'")" = 0
check "no version rows" "$(Q "SELECT count(*) FROM doc_versions")" = 0
check "the tag only it wore is gone" "$(Q "SELECT count(*) FROM tags WHERE name = 'zqxtagsecret'")" = 0
check "the collection keeps the snare" "$(Q "SELECT count(*) FROM collection_items")" = 1
check "one audit row, counts only" "$(Q "SELECT detail FROM audit_log WHERE action = 'purge'")" = '{"samples":3,"documents":1}'
check "a tombstone per item" "$(Q "SELECT count(*) FROM change_queue WHERE field = '!'")" = 4
check "no blob left" "$(find "$T/lib/objects" -type f | wc -l)" = 1
for m in ZQXNAMEA ZQXNAMEB ZQXNAMEC ZQXNAMED ZQXDATAA ZQXDATAB ZQXDATAC zqxtagsecret ZQXCOMMENT ZQXPATCHNAME; do
    hit=$(grep -rla "$m" "$T/lib" "$T/repo" | head -3)
    # (the archive is outside the library: listed, not touched)
    check "after: no file of the library or the backup holds $m${hit:+ ($hit)}" -z "$hit"
done
check "the snare's bytes are kept" -n "$(grep -rla KEEPDATA "$T/lib" | head -1)"
check "the search would find them: the other backup holds a name" -n "$(grep -rla ZQXDATAA "$T/repo2" | head -1)"
expect 0 "the purged backup checks" "$SHELF" backup check --read-data "$T/repo"
check "the user's own file stays" -f "$S/kit/snare.wav"

# a restore of the old snapshot into the library does not bring them back
expect 0 "restore the old snapshot" "$SHELF" --json restore --on-conflict overwrite "$T/repo2" latest
check "the purged items are skipped as purged" "$(json 'len([i for i in j["items"] if i.get("detail") == "purged here"])')" = 5
expect 0 "ls after the restore" "$SHELF" --json ls
check "still only the snare" "$(json '[r["name"] for r in j]')" = "['snare']"
expect 0 "patch ls after the restore" "$SHELF" --json patch ls
check "still no patch" "$(json 'len(j)')" = 0
check "the purged one's file stays (yours)" -f "$S/kit/kick é ZQXNAMEA.wav"

# a reader in another process (an sqlite3 shell) keeps old pages in the
# write-ahead log: the purge says so (exit 5) and vacuum finishes the job
expect 0 "import again" "$SHELF" import "$S"
R=$(sample_id "$T/lib" "雪")
python3 - "$T/lib/shelf.db" >"$T/reader.out" <<'EOF2' &
import sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("BEGIN")
con.execute("SELECT count(*) FROM samples").fetchall()
print("ready", flush=True)
time.sleep(60)
EOF2
READER=$!
for i in $(seq 50); do grep -q ready "$T/reader.out" && break; sleep 0.1; done
expect 5 "a reader holds the log: exit 5" "$SHELF" purge "$R"
contains "it says to vacuum" "$err" "shelf vacuum"
expect 0 "the sample is purged all the same" "$SHELF" --json ls
check "three samples" "$(json 'len(j)')" = 3
kill "$READER"; wait "$READER" 2>/dev/null
expect 0 "vacuum" "$SHELF" vacuum
check "after vacuum: no file holds ZQXNAMEB" -z "$(grep -rla ZQXNAMEB "$T/lib" | head -1)"

# read-only library: refused in one line, nothing changed
R=$(sample_id "$T/lib" "kick")
chmod -R a-w "$T/lib"
if [ "$(id -u)" -eq 0 ]; then
    # root writes anyway: a read-only bind mount makes it real
    mkdir "$T/ro"
    if mount --bind -o ro "$T/lib" "$T/ro" 2>/dev/null || { mount --bind "$T/lib" "$T/ro" && mount -o remount,bind,ro "$T/ro"; }; then
        expect 1 "read-only: refused" "$SHELF" -L "$T/ro" purge "$R"
        check "read-only: one line" "$(printf '%s\n' "$err" | wc -l)" = 1
        umount "$T/ro"
    else
        skip "read-only" "cannot bind-mount read-only here"
    fi
else
    expect 1 "read-only: refused" "$SHELF" purge "$R"
fi
chmod -R u+w "$T/lib"
expect 0 "still there" "$SHELF" --json ls
check "the re-imported samples stay" "$(json 'len(j)')" = 3

finish
