# test_concurrency.sh: several shelf processes started together, many times.
# Two imports into a library that does not exist yet both succeed and agree
# on one library; a folder and its subfolder imported at the same moment
# both succeed (no "FOREIGN KEY constraint failed") and every file is
# cataloged once.
. "$(dirname "$0")/lib.sh"

S="$T/s"
mkdir -p "$S/a" "$S/b/sub"
for i in $(seq 1 20); do echo "$S/a/A_$i.wav"; echo "$S/b/B_$i.wav"; done | xargs "$SHELF_TG" --frames 200
for i in $(seq 1 40); do echo "$S/b/sub/C_$i.wav"; done | xargs "$SHELF_TG" --frames 200
# (fewer under the sanitizers, whose processes start slowly)
ROUNDS=${SHELF_RACE_ROUNDS:-$([ -n "${SHELF_TEST_CFLAGS:-}" ] && echo 10 || echo 20)}

# together NAME CMD1 -- CMD2: start both at once (released by one fifo),
# wait for both; $st1/$st2 their exit statuses, $T/e1 $T/e2 their stderr.
together() {
    local name=$1 c1=() c2=()
    shift
    while [ "$1" != -- ]; do c1+=("$1"); shift; done
    shift
    c2=("$@")
    rm -f "$T/go"
    mkfifo "$T/go"
    exec 3<>"$T/go"     # held open: a reader never waits for a writer
    (read -r _ < "$T/go"; exec "${c1[@]}") > /dev/null 2> "$T/e1" &
    local p1=$!
    (read -r _ < "$T/go"; exec "${c2[@]}") > /dev/null 2> "$T/e2" &
    local p2=$!
    printf 'go\ngo\n' >&3   # one line each (read takes a pipe byte by byte)
    wait "$p1"; st1=$?
    wait "$p2"; st2=$?
    exec 3>&-
}

bad=0
for r in $(seq 1 "$ROUNDS"); do
    L="$T/new$r"
    together "new library" "$SHELF" -L "$L" import "$S/a" -- "$SHELF" -L "$L" import "$S/b"
    if [ "$st1" != 0 ] || [ "$st2" != 0 ]; then
        bad=$((bad + 1))
        [ "$bad" = 1 ] && fail "new library round $r: exits $st1 $st2: $(cat "$T/e1" "$T/e2")"
        continue
    fi
    n=$("$SHELF" -L "$L" --json stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["samples"])')
    if [ "$n" != 80 ]; then
        bad=$((bad + 1))
        [ "$bad" = 1 ] && fail "new library round $r: $n samples, wanted 80"
    fi
done
check "two imports into a new library: $ROUNDS rounds, all succeeded" "$bad" = 0
check "one config, one library id" "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["library_id"]))' "$T/new1/config")" = 32
check "no temp config left" -z "$(ls "$T/new1" | grep tmp)"

bad=0
for r in $(seq 1 "$ROUNDS"); do
    L="$T/nest$r"
    "$SHELF" -L "$L" init > /dev/null
    if [ $((r % 2)) = 0 ]; then
        together "nested" "$SHELF" -L "$L" import "$S/b" -- "$SHELF" -L "$L" import "$S/b/sub"
    else
        together "nested" "$SHELF" -L "$L" import "$S/b/sub" -- "$SHELF" -L "$L" import "$S/b"
    fi
    if [ "$st1" != 0 ] || [ "$st2" != 0 ]; then
        bad=$((bad + 1))
        [ "$bad" = 1 ] && fail "nested round $r: exits $st1 $st2: $(cat "$T/e1" "$T/e2")"
        continue
    fi
    "$SHELF" -L "$L" --json ls > "$T/ls.json"
    got=$(python3 -c '
import json, sys
rows = json.load(open(sys.argv[1]))
paths = [r["root"] + "/" + r["path"] for r in rows]
print(len(rows), len(set(paths)), sum(1 for r in rows if r["missing"]))' "$T/ls.json")
    if [ "$got" != "60 60 0" ]; then
        bad=$((bad + 1))
        [ "$bad" = 1 ] && fail "nested round $r: rows, distinct paths, missing = $got, wanted 60 60 0"
    fi
done
check "a folder and its subfolder at once: $ROUNDS rounds, all succeeded" "$bad" = 0
expect 0 "the last library verifies" "$SHELF" -L "$T/nest$ROUNDS" verify
finish
