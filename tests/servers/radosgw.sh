#!/bin/sh
# radosgw.sh: a one-node Ceph cluster with the RADOS Gateway (S3) for the
# tests, on 127.0.0.1, everything under one folder the caller gives.
#
#   radosgw.sh start DIR [BUCKET...]   prints "ready PORT ACCESS SECRET"
#   radosgw.sh stop DIR                kills the daemons and removes DIR
#
# One ceph-mon (msgr2 only, on a random free port), one ceph-osd on memstore
# (objects in RAM; RGW_MEM_BYTES caps it, default 8 GiB), no cephx, pools of
# size 1 with 8 placement groups, and radosgw's beast frontend on another
# random free port.  No manager daemon: radosgw does not need one.  A user
# with the access and secret key printed is made with radosgw-admin, and the
# buckets named (default: "shelf") are created with a signed request.  The
# fsid, ports and folders are the instance's own, so several clusters can run
# at once.  Runs as root (CI does); about 3 s and 150 MB to start.
set -eu

die() { echo "radosgw.sh: $*" >&2; exit 1; }

free_port() {
    /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# kill_pids DIR: kill every daemon recorded in DIR/run (SIGKILL: the data
# lives in memory and is thrown away) and wait until they are gone.
kill_pids() {
    pids=""
    for f in "$1"/run/*.pid; do
        [ -f "$f" ] || continue
        p=$(cat "$f" 2>/dev/null || true)
        case "$p" in ''|*[!0-9]*) continue ;; esac
        kill -9 "$p" 2>/dev/null && pids="$pids $p"
    done
    i=0
    while [ $i -lt 50 ]; do
        alive=""
        for p in $pids; do
            kill -0 "$p" 2>/dev/null && alive="$alive $p"
        done
        [ -n "$alive" ] || return 0
        sleep 0.1
        i=$((i + 1))
    done
}

# wait_for SECONDS CMD...: run CMD every 0.2 s until it succeeds.
wait_for() {
    n=$(($1 * 5)); shift
    while [ $n -gt 0 ]; do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.2
        n=$((n - 1))
    done
    return 1
}

# s3_put_bucket PORT ACCESS SECRET BUCKET: create a bucket with a SigV4
# request (curl's --aws-sigv4 with the payload hash S3 wants).
s3_put_bucket() {
    curl -sS -f -o /dev/null -X PUT \
        -H 'x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' \
        --aws-sigv4 'aws:amz:us-east-1:s3' --user "$2:$3" \
        "http://127.0.0.1:$1/$4"
}

# s3_list_bucket PORT ACCESS SECRET BUCKET: a signed ListObjectsV2.
s3_list_bucket() {
    curl -sS -f -o /dev/null \
        -H 'x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' \
        --aws-sigv4 'aws:amz:us-east-1:s3' --user "$2:$3" \
        "http://127.0.0.1:$1/$4?list-type=2"
}

start() {
    dir=$1; shift
    [ "$(id -u)" = 0 ] || die "must run as root"
    for p in ceph-mon ceph-osd radosgw radosgw-admin monmaptool ceph curl; do
        command -v $p >/dev/null 2>&1 || die "$p not found (scripts/install-deps)"
    done
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    [ ! -e "$dir/ceph.conf" ] || die "$dir holds a cluster already"
    trap 'kill_pids "$dir"; echo "radosgw.sh: start failed; logs in $dir/log" >&2' EXIT
    mkdir -p "$dir/run" "$dir/log" "$dir/mon/a" "$dir/osd/0" "$dir/rgw"
    fsid=$(cat /proc/sys/kernel/random/uuid)
    osd_uuid=$(cat /proc/sys/kernel/random/uuid)
    mon_port=$(free_port)
    rgw_port=$(free_port)
    while [ "$rgw_port" = "$mon_port" ]; do rgw_port=$(free_port); done
    access=SHELFTESTACCESS$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n' | tr a-f A-F)
    secret=$(od -An -N20 -tx1 /dev/urandom | tr -d ' \n')

    cat >"$dir/ceph.conf" <<EOF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$mon_port
public addr = 127.0.0.1
ms bind msgr1 = false
auth cluster required = none
auth service required = none
auth client required = none
run dir = $dir/run
admin socket = $dir/run/\$name.asok
pid file = $dir/run/\$name.pid
log file = $dir/log/\$name.log
keyring = $dir/keyring
crash dir = $dir/crash
log to stderr = false
err to stderr = false
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon data avail warn = 1
mon data avail crit = 0
mon max pg per osd = 1000
paxos propose interval = 0.05
paxos min wait = 0.01
mon osd reporter subtree level = osd
mon osd down out interval = 0
osd crush chooseleaf type = 0
[mon]
mon data = $dir/mon/\$id
mon cluster log file = $dir/log/cluster.log
[osd]
osd data = $dir/osd/\$id
osd objectstore = memstore
memstore device bytes = ${RGW_MEM_BYTES:-8589934592}
osd memory target = 268435456
osd op num shards = 1
osd op num threads per shard = 2
osd max object name len = 460
osd max object namespace len = 64
[client]
# radosgw asks for msgr2's secure mode, which needs cephx
ms mon client mode = crc
client mount timeout = 30
rgw data = $dir/rgw
rgw frontends = beast endpoint=127.0.0.1:$rgw_port
rgw thread pool size = 64
rgw enable usage log = false
rgw dns name = s3.localhost
EOF

    monmaptool --create --enable-all-features --fsid "$fsid" \
        --addv a "[v2:127.0.0.1:$mon_port]" "$dir/monmap" >"$dir/log/setup.log" 2>&1 \
        || die "monmaptool failed; see $dir/log/setup.log"
    ceph-mon -c "$dir/ceph.conf" --mkfs -i a --monmap "$dir/monmap" \
        >>"$dir/log/setup.log" 2>&1 || die "ceph-mon --mkfs failed; see $dir/log/setup.log"
    ceph-mon -c "$dir/ceph.conf" -i a >>"$dir/log/setup.log" 2>&1 \
        || die "ceph-mon did not start; see $dir/log"
    id=$(ceph -c "$dir/ceph.conf" --connect-timeout 20 osd new "$osd_uuid" 2>>"$dir/log/setup.log") \
        || die "ceph osd new failed; see $dir/log"
    [ "$id" = 0 ] || die "ceph osd new gave id '$id'"
    ceph-osd -c "$dir/ceph.conf" -i 0 --mkfs --osd-uuid "$osd_uuid" \
        >>"$dir/log/setup.log" 2>&1 || die "ceph-osd --mkfs failed; see $dir/log"
    ceph-osd -c "$dir/ceph.conf" -i 0 >>"$dir/log/setup.log" 2>&1 \
        || die "ceph-osd did not start; see $dir/log"
    radosgw -c "$dir/ceph.conf" -n client.rgw >>"$dir/log/setup.log" 2>&1 \
        || die "radosgw did not start; see $dir/log"
    # radosgw answers once it has made its pools; an anonymous GET / is a
    # ListAllMyBuckets with no buckets.
    wait_for 90 curl -sS -f -o /dev/null "http://127.0.0.1:$rgw_port/" \
        || die "radosgw did not answer on port $rgw_port; see $dir/log"
    radosgw-admin -c "$dir/ceph.conf" -n client.admin user create --uid=shelf \
        --display-name=shelf --access-key="$access" --secret-key="$secret" \
        >>"$dir/log/setup.log" 2>&1 || die "radosgw-admin user create failed; see $dir/log"
    [ $# -gt 0 ] || set -- shelf
    for b in "$@"; do
        wait_for 10 s3_put_bucket "$rgw_port" "$access" "$secret" "$b" \
            || die "cannot create bucket '$b'"
        # ready means a signed list answers too (once, under load, the
        # first list after the bucket was made was refused)
        wait_for 10 s3_list_bucket "$rgw_port" "$access" "$secret" "$b" \
            || die "cannot list bucket '$b'"
    done
    printf '%s %s %s\n' "$rgw_port" "$access" "$secret" >"$dir/ready"
    trap - EXIT
    echo "ready $rgw_port $access $secret"
}

stop() {
    dir=$1
    [ -d "$dir" ] || return 0
    [ -f "$dir/ceph.conf" ] || die "$dir is not a radosgw.sh cluster"
    kill_pids "$dir"
    rm -rf "$dir"
}

[ $# -ge 2 ] || die "usage: radosgw.sh start DIR [BUCKET...] | stop DIR"
case "$1" in
start) shift; start "$@" ;;
stop) stop "$2" ;;
*) die "usage: radosgw.sh start DIR [BUCKET...] | stop DIR" ;;
esac
