# test_parallel_read.sh: restore and check --read-data read packs on
# several connections at once (shelf_repo_opts.connections), against
# @20minutes/s3rver started here on 127.0.0.1 (s3rver.js).  The server
# counts (S3RVER_STATS): connections accepted and peak_get, the most GET
# requests it was answering at once, so "more than one connection" is
# seen from the outside.
#  - restore --to with --connections 4: peak_get above 1, more than one
#    connection, every file byte for byte; with --connections 1: peak_get 1;
#  - a byte flipped in a pack on s3rver's disk: check --read-data with
#    --connections 4 names that pack (and only it), with peak_get above 1;
#    check --read-data --connections 1 finds the same.
# Needs node and s3rver in tests/servers/node_modules; exits 77 without.
. "$(dirname "$0")/lib.sh"

SRV="$SHELF_SRC/tests/servers"
command -v node >/dev/null 2>&1 && [ -d "$SRV/node_modules/@20minutes/s3rver" ] || {
    echo "skip: node or @20minutes/s3rver not installed (scripts/install-deps)"
    exit 77
}

STATS="$T/stats"
S3RVER_STATS="$STATS" start_s3rver || { finish; exit; }
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
export AWS_CONFIG_FILE="$T/aws-config" AWS_SHARED_CREDENTIALS_FILE="$T/aws-credentials"
: >"$AWS_CONFIG_FILE"
: >"$AWS_SHARED_CREDENTIALS_FILE"
export SHELF_PASSWORD="long secret phrase"
R="s3:http://127.0.0.1:$PORT/shelf/par"

# count NAME: the server's count NAME since the stats file was last removed.
count() {
    awk -v k="$1" '$1 == k { print $2; f = 1 } END { if (!f) print 0 }' "$STATS" 2>/dev/null || echo 0
}

# ---- a library of several files, backed up in three runs (three packs) ----
S="$T/samples"
mkdir -p "$S/sub dir"
"$SHELF_TG" --seed 1 --frames 2000000 "$S/a.wav"
"$SHELF_TG" --seed 2 --frames 1500000 "$S/sub dir/名前 🎹.wav"
"$SHELF_TG" --seed 3 --frames 1500000 "$S/c.wav"
"$SHELF_TG" --seed 4 --frames 1500000 "$S/d.wav"
expect 0 "library" "$SHELF" init
expect 0 "backup init" "$SHELF" backup init --kdf-cost 10 "$R"
expect 0 "import a" "$SHELF" import "$S/a.wav" "$S/sub dir"
expect 0 "backup 1" "$SHELF" backup "$R"
expect 0 "import c" "$SHELF" import "$S/c.wav"
expect 0 "backup 2" "$SHELF" backup "$R"
expect 0 "import d" "$SHELF" import "$S/d.wav"
expect 0 "backup 3" "$SHELF" --json backup "$R"
snap=$(json 'j["snapshot"]')

restored_same() {
    local f bad=0
    for f in "$S/a.wav" "$S/sub dir/名前 🎹.wav" "$S/c.wav" "$S/d.wav"; do
        cmp -s "$f" "$2/files$f" || { bad=1; echo "    differs or missing: $f" >&2; }
    done
    check "$1: restored byte for byte" "$bad" = 0
}

# ---- restore ---------------------------------------------------------------
rm -f "$STATS"
expect 0 "restore --connections 4" "$SHELF" restore --connections 4 "$R" "$snap" --to "$T/r4"
restored_same "restore --connections 4" "$T/r4"
echo "    restore, 4 connections: $(tr '\n' ' ' <"$STATS")"
check "restore --connections 4: GETs in flight at once" "$(count peak_get)" -ge 2
check "restore --connections 4: on more than one connection" "$(count connections)" -ge 2

rm -f "$STATS"
expect 0 "restore --connections 1" "$SHELF" restore --connections 1 "$R" "$snap" --to "$T/r1"
restored_same "restore --connections 1" "$T/r1"
echo "    restore, 1 connection: $(tr '\n' ' ' <"$STATS")"
check "restore --connections 1: one GET at a time" "$(count peak_get)" = 1

# ---- check --read-data finds a damaged pack ------------------------------
rm -f "$STATS"
expect 0 "check --read-data --connections 4 (good)" "$SHELF" --json backup check --read-data \
    --connections 4 "$R"
check "check: no problems" "$(json 'j["errors"]')" = 0
check "check: read at least three packs" "$(json 'j["packs_read"]')" -ge 3
echo "    check, 4 connections: $(tr '\n' ' ' <"$STATS")"
check "check --connections 4: packs read at once" "$(count peak_get)" -ge 2

# s3rver keeps each object in a file of its own: flip a byte in the middle
# of the largest pack.
pack=$(find "$T/s3rver/shelf/par/data" -type f -name '*._S3rver_object' -printf '%s %p\n' |
       sort -n | tail -1 | cut -d' ' -f2-)
check "a pack on s3rver's disk" -n "$pack"
if [ -n "$pack" ]; then
    name=$(basename "$pack" ._S3rver_object)
    python3 - "$pack" <<'EOF'
import os, sys
with open(sys.argv[1], "r+b") as f:
    f.seek(os.path.getsize(sys.argv[1]) // 2)
    b = f.read(1)
    f.seek(-1, 1)
    f.write(bytes([b[0] ^ 0x40]))
EOF
    for n in 4 1; do
        rm -f "$STATS"
        expect 1 "check --read-data --connections $n (damaged)" "$SHELF" backup check --read-data \
            --connections "$n" "$R"
        contains "check --connections $n: names the damaged pack" "$out$err" "$name"
        check "check --connections $n: one pack damaged" \
            "$(printf '%s\n' "$out$err" | grep -c 'pack is damaged: its content does not match')" = 1
        [ "$n" = 4 ] && check "check --connections 4 (damaged): packs read at once" "$(count peak_get)" -ge 2
    done
fi
finish
