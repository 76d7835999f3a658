# test_s3_interop.sh: shelf's S3 backend against two real servers started
# here on 127.0.0.1, Ceph's RADOS Gateway (the reference: radosgw.sh) and
# @20minutes/s3rver (s3rver.js), checked from the outside with awscli:
#  - backup init / backup / check --read-data / restore --to on
#    s3:http://127.0.0.1:PORT/BUCKET/PREFIX, credentials in
#    AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY;
#  - `aws s3 ls --recursive` lists what shelf uploaded, and a pack that
#    `aws s3 cp` downloads hashes to its own name (packs are named by the
#    SHA-256 of their bytes);
#  - shelf reads a repository that awscli uploaded (a folder repository
#    copied with `aws s3 cp --recursive`): check --read-data and restore;
#  - on radosgw, kill -9 during uploads and during prunes (the seed is
#    printed; SHELF_TEST_SEED replays it), then check passes and the next
#    run completes.
# Needs root (Ceph), radosgw and ceph-mon/ceph-osd, node, awscli; exits 77
# when one is missing.
. "$(dirname "$0")/lib.sh"

SRV="$SHELF_SRC/tests/servers"
missing=""
[ "$(id -u)" = 0 ] || missing="$missing root"
for p in radosgw ceph-mon ceph-osd radosgw-admin node aws; do
    command -v "$p" >/dev/null 2>&1 || missing="$missing $p"
done
[ -d "$SRV/node_modules/@20minutes/s3rver" ] || missing="$missing @20minutes/s3rver"
if [ -n "$missing" ]; then
    echo "skip: not installed:$missing (scripts/install-deps)"
    exit 77
fi

RGW="$T/rgw"
cleanup() {
    "$SRV/radosgw.sh" stop "$RGW" >/dev/null 2>&1
    s3rver_stop
    chmod -R u+w "$T" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT

# awscli sees only the credentials given here, never ~/.aws.
export AWS_CONFIG_FILE="$T/aws-config" AWS_SHARED_CREDENTIALS_FILE="$T/aws-credentials"
export AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true AWS_PAGER=""
: >"$AWS_CONFIG_FILE"
: >"$AWS_SHARED_CREDENTIALS_FILE"
export SHELF_PASSWORD="long secret phrase"

# ---- the servers ------------------------------------------------------------
if ! line=$("$SRV/radosgw.sh" start "$RGW" shelf 2>"$T/rgw.err"); then
    cat "$T/rgw.err" >&2
    for f in "$RGW"/log/*.log; do [ -f "$f" ] && tail -5 "$f" | sed "s|^|    $(basename "$f"): |" >&2; done
    fail "radosgw started"
    check "no folder was made for an s3: target" ! -e "$T/s3:http:"
finish
    exit
fi
read -r _ RGW_PORT RGW_ACCESS RGW_SECRET <<EOF
$line
EOF
ok "radosgw started on port $RGW_PORT"

s3rver_start "$T/s3rver"
check "s3rver started" -n "$S3RVER_PORT"

# A target shelf took for a folder would appear here.
cd "$T" || exit 1

# ---- a library to back up ---------------------------------------------------
S="$T/samples"
mkdir -p "$S" "$T/sub dir"
"$SHELF_TG" --seed 1 "$S/a.wav" "$S/b.wav"
"$SHELF_TG" --seed 2 --frames 300000 "$S/long.wav"
"$SHELF_TG" --seed 3 "$T/sub dir/名前 🎹.wav"
expect 0 "library" "$SHELF" init
expect 0 "import" "$SHELF" import "$S" "$T/sub dir"

# restored_same LABEL DIR: every sample restored under DIR/files is its original.
restored_same() {
    local f bad=0
    for f in "$S/a.wav" "$S/b.wav" "$S/long.wav" "$T/sub dir/名前 🎹.wav"; do
        cmp -s "$f" "$2/files$f" || { bad=1; echo "    differs or missing: $f" >&2; }
    done
    check "$1: restored byte for byte" "$bad" = 0
}

# interop NAME PORT ACCESS SECRET: the round trip and the awscli checks.
interop() {
    local n=$1 url="http://127.0.0.1:$2" pfx="repo-$1/x" R pack sum snap
    export AWS_ACCESS_KEY_ID=$3 AWS_SECRET_ACCESS_KEY=$4
    R="s3:$url/shelf/$pfx"
    expect 0 "$n: backup init" "$SHELF" backup init --kdf-cost 10 "$R"
    expect 0 "$n: backup" "$SHELF" --json backup "$R"
    snap=$(json 'j["snapshot"]')
    expect 0 "$n: backup again" "$SHELF" --json backup "$R"
    check "$n: second backup read only the catalog and config" "$(json 'j["items_read"]')" -le 2
    expect 0 "$n: list" "$SHELF" --json backup list "$R"
    check "$n: two snapshots" "$(json 'len(j)')" = 2
    expect 0 "$n: check --read-data" "$SHELF" --json backup check --read-data "$R"
    check "$n: check found no problems" "$(json 'j["errors"]')" = 0
    expect 0 "$n: restore --to" "$SHELF" restore "$R" "$snap" --to "$T/rt-$n"
    restored_same "$n" "$T/rt-$n"

    # awscli sees what shelf uploaded
    expect 0 "$n: aws s3 ls --recursive" aws --endpoint-url "$url" s3 ls --recursive "s3://shelf/$pfx/"
    printf '%s\n' "$out" >"$T/lsl-$n"
    awk '{ print $4 }' "$T/lsl-$n" >"$T/ls-$n"
    check "$n: aws lists the config" "$(grep -c "^$pfx/config\$" "$T/ls-$n")" = 1
    check "$n: aws lists a key" "$(grep -c "^$pfx/keys/" "$T/ls-$n")" -ge 1
    check "$n: aws lists two snapshots" "$(grep -c "^$pfx/snapshots/" "$T/ls-$n")" = 2
    check "$n: aws lists an index" "$(grep -c "^$pfx/index/" "$T/ls-$n")" -ge 1
    check "$n: aws lists no temp objects" "$(grep -c '\.tmp' "$T/ls-$n")" = 0
    pack=$(grep "^$pfx/data/" "$T/ls-$n" | head -1)
    if [ -n "$pack" ]; then
        ok "$n: aws lists packs"
        expect 0 "$n: aws s3 cp a pack" aws --endpoint-url "$url" s3 cp "s3://shelf/$pack" "$T/pack-$n"
        sum=$(sha256sum "$T/pack-$n" | cut -d' ' -f1)
        check "$n: the pack's bytes hash to its name" "x$sum" = "x${pack##*/}"
        check "$n: the pack's size is the listed one" "x$(stat -c %s "$T/pack-$n")" = \
            "x$(awk -v k="$pack" '$4 == k { print $3 }' "$T/lsl-$n")"
    else
        fail "$n: aws lists packs"
    fi

    # shelf reads what awscli uploaded: a folder repository copied to S3
    expect 0 "$n: a folder repository" "$SHELF" backup init --kdf-cost 10 "$T/dir-$n"
    expect 0 "$n: backup to the folder" "$SHELF" --json backup "$T/dir-$n"
    snap=$(json 'j["snapshot"]')
    expect 0 "$n: aws s3 cp --recursive the folder" \
        aws --endpoint-url "$url" s3 cp --recursive "$T/dir-$n" "s3://shelf/from-aws-$n/"
    R="s3:$url/shelf/from-aws-$n"
    expect 0 "$n: list what awscli uploaded" "$SHELF" --json backup list "$R"
    check "$n: its snapshot is there" "$(json 'j[0]["id"]')" = "$snap"
    expect 0 "$n: check --read-data what awscli uploaded" "$SHELF" --json backup check --read-data "$R"
    check "$n: no problems in what awscli uploaded" "$(json 'j["errors"]')" = 0
    expect 0 "$n: restore from what awscli uploaded" "$SHELF" restore "$R" latest --to "$T/rta-$n"
    restored_same "$n (from awscli's upload)" "$T/rta-$n"
}

# killed NAME PORT ACCESS SECRET: kill -9 during uploads and during prunes.
killed() {
    local n=$1 url="http://127.0.0.1:$2" R round pid st k=0 kp=0 ms
    export AWS_ACCESS_KEY_ID=$3 AWS_SECRET_ACCESS_KEY=$4
    R="s3:$url/shelf/kill-$n"
    expect 0 "$n kill: init" "$SHELF" backup init --kdf-cost 10 "$R"
    expect 0 "$n kill: first backup" "$SHELF" backup "$R"
    echo "kill -9 seed $SEED"
    RANDOM=$SEED
    for round in 1 2 3 4; do
        "$SHELF" backup --full "$R" >/dev/null 2>&1 &
        pid=$!
        ms=$((RANDOM % 1500 + 200))
        sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
        kill -9 "$pid" 2>/dev/null
        { wait "$pid"; } 2>/dev/null
        st=$?
        if [ "$st" -eq 137 ]; then
            k=$((k + 1))
        else
            echo "    $n round $round (seed $SEED, ${ms} ms): the backup ended with $st before the kill"
        fi
    done
    check "$n kill: uploads killed by SIGKILL (137; seed $SEED)" "$k" -ge 1
    expect 0 "$n kill: check after the killed uploads" "$SHELF" --json backup check "$R"
    check "$n kill: no problems after the killed uploads" "$(json 'j["errors"]')" = 0
    expect 0 "$n kill: the next backup completes" "$SHELF" --json backup --full "$R"
    for round in 1 2 3 4; do
        "$SHELF" backup --full "$R" >/dev/null 2>&1 ||
            echo "    $n: backup before prune round $round failed"
        "$SHELF" backup forget --keep-last 1 "$R" >/dev/null 2>&1 ||
            echo "    $n: forget before prune round $round failed"
        "$SHELF" backup prune "$R" >/dev/null 2>&1 &
        pid=$!
        ms=$((RANDOM % 800 + 50))
        sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
        kill -9 "$pid" 2>/dev/null
        { wait "$pid"; } 2>/dev/null
        st=$?
        if [ "$st" -eq 137 ]; then
            kp=$((kp + 1))
        else
            echo "    $n prune round $round (seed $SEED, ${ms} ms): the prune ended with $st before the kill"
        fi
    done
    check "$n kill: prunes killed by SIGKILL (137; seed $SEED)" "$kp" -ge 1
    expect 0 "$n kill: check --read-data after the killed prunes" "$SHELF" --json backup check --read-data "$R"
    check "$n kill: no problems after the killed prunes" "$(json 'j["errors"]')" = 0
    expect 0 "$n kill: prune completes" "$SHELF" backup prune "$R"
    expect 0 "$n kill: the next backup completes" "$SHELF" backup "$R"
    expect 0 "$n kill: test-restore" "$SHELF" --json backup test-restore "$R"
    check "$n kill: test-restore all match" "$(json 'j["ok"]')" = True
}

SEED=${SHELF_TEST_SEED:-$(date +%s)}
interop radosgw "$RGW_PORT" "$RGW_ACCESS" "$RGW_SECRET"
[ -z "$S3RVER_PORT" ] || interop s3rver "$S3RVER_PORT" S3RVER S3RVER
# a sample big enough that a full backup is still uploading when killed
"$SHELF_TG" --seed 4 --frames 30000000 "$S/big.wav"
expect 0 "import a big sample" "$SHELF" import "$S"
killed radosgw "$RGW_PORT" "$RGW_ACCESS" "$RGW_SECRET"

check "no folder was made for an s3: target" ! -e "$T/s3:http:"
finish
