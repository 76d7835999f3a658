# test_maintenance.sh: verify, gc, vacuum and db-backup from the command line.
. "$(dirname "$0")/lib.sh"

S="$T/samples"
M="$T/managed"
mkdir -p "$S" "$M"
"$SHELF_TG" --seed 1 "$S/a.wav" "$S/b.wav" "$S/c.wav"
"$SHELF_TG" --seed 50 "$M/m1.wav" "$M/m2.wav"
expect 0 "init" "$SHELF" init
expect 0 "import referenced" "$SHELF" import "$S"
expect 0 "import managed" "$SHELF" import --copy "$M"

expect 0 "verify clean library" "$SHELF" verify
contains "verify summary" "$out" "checked 5 files"
expect 0 "verify --json" "$SHELF" verify --json
check "all ok" "$(json 'j["ok"]')" = 5

rm "$S/a.wav"
expect 17 "verify: missing = 16+1" "$SHELF" verify
contains "missing file named" "$out" "$S/a.wav"
"$SHELF_TG" --seed 77 "$S/b.wav"
expect 19 "verify: missing+changed = 16+1+2" "$SHELF" verify
BLOB=$(find "$SHELF_LIBRARY/objects" -type f -name '[0-9a-f]*' | head -1)
chmod u+w "$BLOB"
damage "$BLOB" 200
expect 23 "verify: all three = 16+1+2+4" "$SHELF" verify --json
check "one corrupt" "$(json 'j["corrupt"]')" = 1
check "problems listed" "$(json 'len(j["problems"])')" = 3

# rm of a managed sample deletes its blob; gc removes orphans and leftovers.
BLOBS_BEFORE=$(find "$SHELF_LIBRARY/objects" -type f | wc -l)
expect 0 "rm managed sample" "$SHELF" rm "$M/m2.wav"
check "its blob went with it" "$(find "$SHELF_LIBRARY/objects" -type f | wc -l)" = $((BLOBS_BEFORE - 1))
mkdir -p "$SHELF_LIBRARY/objects/aa/bb"
echo orphan > "$SHELF_LIBRARY/objects/aa/bb/aabb$(printf '%060d' 0)"
echo partial > "$SHELF_LIBRARY/objects/aa/bb/.tmp-aabb-XXXXXX"
# What a killed archive import leaves: its staging folder.
mkdir -p "$SHELF_LIBRARY/.archive-import-Ab12Cd/data/samples"
echo half > "$SHELF_LIBRARY/.archive-import-Ab12Cd/data/samples/x.wav"
expect 0 "gc --dry-run" "$SHELF" gc --dry-run --json
check "would remove one blob" "$(json 'j["blobs_removed"]')" = 1
check "would remove a temp and a staging folder" "$(json 'j["temps_removed"]')" = 2
check "dry run keeps files" -f "$SHELF_LIBRARY/objects/aa/bb/.tmp-aabb-XXXXXX"
check "dry run keeps the staging folder" -d "$SHELF_LIBRARY/.archive-import-Ab12Cd"
expect 0 "gc" "$SHELF" gc
contains "gc summary" "$out" "removed 1 unreferenced blobs"
check "orphan gone" ! -e "$SHELF_LIBRARY/objects/aa/bb/aabb$(printf '%060d' 0)"
check "temp gone" ! -e "$SHELF_LIBRARY/objects/aa/bb/.tmp-aabb-XXXXXX"
check "staging folder gone" ! -e "$SHELF_LIBRARY/.archive-import-Ab12Cd"
check "live blob kept" -f "$BLOB"

expect 0 "vacuum" "$SHELF" vacuum --json
check "vacuum reports sizes" "$(json 'j["after"] > 0')" = True
expect 0 "db-backup" "$SHELF" db-backup "$T/catalog-copy.db"
check "backup is a sound database" "$(sqlite3 "$T/catalog-copy.db" 'PRAGMA integrity_check')" = ok
check "backup has the rows" "$(sqlite3 "$T/catalog-copy.db" 'SELECT count(*) FROM samples')" = 4
check "no temp left beside it" "$(ls "$T" | grep -c 'catalog-copy.db.tmp')" = 0
expect 1 "db-backup into a missing folder" "$SHELF" db-backup "$T/no/such/dir/x.db"
contains "backup error names the file" "$err" "$T/no/such/dir/x.db"
finish
