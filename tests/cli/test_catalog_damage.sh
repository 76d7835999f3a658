# test_catalog_damage.sh: single-bit flips in the index pages of a real
# shelf.db.  verify finds every one PRAGMA integrity_check finds (quick_check
# misses most of them), says how to repair it, and verify --repair rebuilds
# the indexes; damage in a table is reported as needing a restore.
. "$(dirname "$0")/lib.sh"

S="$T/s"
mkdir -p "$S"
for i in $(seq 1 300); do echo "$S/Kick_$i.wav"; done | xargs "$SHELF_TG" --frames 100
expect 0 "init" "$SHELF" init
expect 0 "import 300" "$SHELF" import "$S"
for i in $(seq 1 30); do "$SHELF" tag add "$i" "t$i" drums >/dev/null; done
expect 0 "sound catalog verifies" "$SHELF" verify
cp "$SHELF_LIBRARY/shelf.db" "$T/good.db"

# 15 copies, each with one flipped bit in an index page that integrity_check
# reports; FLIPS lists "file quick_check_result".
python3 - "$T/good.db" "$T/flip" > "$T/flips" <<'EOF'
import random, shutil, sqlite3, sys
src, out = sys.argv[1], sys.argv[2]
c = sqlite3.connect(src)
ps = c.execute("PRAGMA page_size").fetchone()[0]
idx = {n for (n,) in c.execute("SELECT name FROM sqlite_schema WHERE type = 'index'")}
pages = sorted(p for n, p in c.execute("SELECT name, pageno FROM dbstat") if n in idx)
c.close()

def check(db, pragma):
    try:
        d = sqlite3.connect(db)
        r = [x[0] for x in d.execute("PRAGMA " + pragma)]
        d.close()
        return "ok" if r == ["ok"] else "damaged"
    except sqlite3.DatabaseError:
        return "damaged"

rnd = random.Random(11)
n = 0
while n < 15:
    db = "%s%02d.db" % (out, n)
    shutil.copy(src, db)
    off = (rnd.choice(pages) - 1) * ps + rnd.randrange(ps)
    with open(db, "r+b") as f:
        f.seek(off)
        b = f.read(1)[0]
        f.seek(off)
        f.write(bytes([b ^ (1 << rnd.randrange(8))]))
    if check(db, "integrity_check") == "ok":
        continue
    print(db, check(db, "quick_check"))
    n += 1
EOF
check "15 damaged copies" "$(wc -l < "$T/flips")" = 15
missed=$(grep -c ' ok$' "$T/flips")
check "quick_check misses some of them ($missed)" "$missed" -gt 0

# put DB: make DB the library's catalog (no log of an earlier one beside it).
put() {
    rm -f "$SHELF_LIBRARY/shelf.db-wal" "$SHELF_LIBRARY/shelf.db-shm"
    cp "$1" "$SHELF_LIBRARY/shelf.db"
}
integrity() {
    python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("PRAGMA integrity_check").fetchone()[0])' "$1" 2>&1
}
repaired=0
while read -r db quick; do
    n=$(basename "$db" .db)
    put "$db"
    # 16 + 4 (corrupt); a damaged index can also hide a row from verify's
    # walk, so 1 (missing) or 2 (changed) may come with it
    "$SHELF" verify >"$T/out" 2>"$T/err"
    st=$?
    out=$(cat "$T/out")
    err=$(cat "$T/err")
    check "$n (quick_check $quick): verify finds it (exit $st)" "$st" -ge 20 -a "$st" -le 23
    contains "$n: reported as the catalog" "$out" "corrupt        0  $SHELF_LIBRARY/shelf.db"
    contains "$n: says how to repair" "$err" "shelf verify --repair"
    "$SHELF" verify --repair > "$T/out" 2> "$T/err"
    case $? in
    0)  repaired=$((repaired + 1))
        contains "$n: indexes rebuilt" "$(cat "$T/out")" "rebuilt the indexes"
        check "$n: integrity_check passes after" "$(integrity "$SHELF_LIBRARY/shelf.db")" = ok
        expect 0 "$n: search works after" "$SHELF" --json search kick
        check "$n: all 300 found" "$(json 'j["total"]')" = 300 ;;
    20) contains "$n: cannot rebuild: says restore" "$(cat "$T/err")" "restore it from a copy" ;;
    *)  fail "$n: verify --repair: exit $?" ;;
    esac
done < "$T/flips"
check "REINDEX repaired most ($repaired of 15)" "$repaired" -ge 12

# --repair on a sound catalog changes nothing.
put "$T/good.db"
expect 0 "repair of a sound catalog" "$SHELF" verify --repair
check "nothing rebuilt" -z "$(printf '%s' "$out" | grep rebuilt)"

# Damage in a table (a leaf page of samples made invalid): REINDEX cannot
# mend it, so --repair says to restore, exit 20.
python3 - "$SHELF_LIBRARY/shelf.db" <<'EOF'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
ps = c.execute("PRAGMA page_size").fetchone()[0]
p = [p for n, p, t in c.execute("SELECT name, pageno, pagetype FROM dbstat") if n == "samples" and t == "leaf"][1]
c.close()
with open(sys.argv[1], "r+b") as f:
    f.seek((p - 1) * ps)
    f.write(b"\x00")
EOF
expect 20 "table damage: verify" "$SHELF" verify
contains "table damage: reported" "$out" "corrupt        0  $SHELF_LIBRARY/shelf.db"
expect 20 "table damage: verify --repair" "$SHELF" verify --repair
contains "table damage: says restore" "$err" "restore it from a copy"
check "table damage: one line" "$(printf '%s\n' "$err" | wc -l)" = 1
finish
