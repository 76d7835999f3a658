#!/bin/bash
# bench_remote.sh: shelf backup to network storage on 127.0.0.1 beside
# restic, same data, same servers, one run (issue 13's benchmark):
#
#   S3      Ceph's RADOS Gateway (tests/servers/radosgw.sh): shelf's s3
#           backend vs restic's s3 backend;
#   WebDAV  Apache httpd with mod_dav_fs (tests/servers/apache.sh): shelf's
#           webdav backend vs restic's rest backend through
#           `rclone serve restic` in front of the same Apache;
#
# each through bench_backup's steps (a) first backup, (b) 1% changed,
# (c) unchanged, (d) full restore (bench_backup --remote), on its 1 GiB
# library by default.  Then one `curl -T` of a single file of the library's
# size to the same server: the link's limit here; shelf's (a) upload rate
# is printed as a fraction of it.
#
#   bench/bench_remote.sh [--size GIB] [--dir DIR] [--runs N] [--only s3|webdav]
#
# Needs root (Ceph), radosgw/ceph-mon/ceph-osd, apache2, rclone, restic,
# curl and a release build (SHELF_BUILD, default build/release).  radosgw's
# memstore OSD keeps objects in RAM: about (2 + runs) times the library's
# size.  Prints bench_backup's tables (--markdown) and the ratios.
set -u

here=$(cd "$(dirname "$0")" && pwd)
src=$(dirname "$here")
build=${SHELF_BUILD:-$src/build/release}
size=1 dir=${TMPDIR:-/tmp}/shelf-bench-remote runs=1 only=""
while [ $# -gt 0 ]; do
    case "$1" in
    --size) size=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    *) echo "usage: $0 [--size GIB] [--dir DIR] [--runs N] [--only s3|webdav]" >&2; exit 2 ;;
    esac
done
for p in curl restic rclone; do
    command -v $p >/dev/null 2>&1 || { echo "bench_remote: $p not found" >&2; exit 1; }
done
[ -x "$build/bench/bench_backup" ] || { echo "bench_remote: no $build/bench/bench_backup" >&2; exit 1; }
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
chmod 755 "$dir"
rgw="$dir/rgw" dav="$dir/dav" rclone_pid="" apache_dir=""

cleanup() {
    "$src/tests/servers/radosgw.sh" stop "$rgw" >/dev/null 2>&1
    [ -z "$rclone_pid" ] || kill "$rclone_pid" 2>/dev/null
    [ -z "$apache_dir" ] || "$src/tests/servers/apache.sh" stop "$apache_dir" >/dev/null 2>&1
    rm -rf "$dav" "$dir/one.bin"
}
trap cleanup EXIT

free_port() {
    /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The single file for curl -T: as large as the library, incompressible.
bytes=$((size * 1024 * 1024 * 1024))
head -c "$bytes" /dev/urandom >"$dir/one.bin"

# curl_rate NAME CURL-ARGS...: upload one.bin, print and return MB/s in $rate.
curl_rate() {
    local name=$1 t
    shift
    sync
    t=$(curl -sS -f -o /dev/null -w '%{time_total}' -T "$dir/one.bin" "$@") || {
        echo "bench_remote: curl -T to $name failed" >&2
        rate=""
        return 1
    }
    rate=$(awk -v b="$bytes" -v t="$t" 'BEGIN { printf "%.1f", b / 1048576 / t }')
    echo "curl -T of one ${size} GiB file to $name: ${t} s, ${rate} MB/s"
}

# ratios NAME OUTPUT: shelf's (a) upload rate against the curl rate, and
# restic's times against shelf's.
ratios() {
    local name=$1 out=$2
    awk -v name="$name" -v curl="$rate" -v gib="$size" '
        $1 == "shelf" && $2 ~ /s$/ { sa = $2 + 0; sb = $3 + 0; sc = $4 + 0; sd = $5 + 0 }
        $1 == "restic" && $2 ~ /s$/ { ra = $2 + 0; rb = $3 + 0; rc = $4 + 0; rd = $5 + 0 }
        END {
            if (sa > 0) {
                up = gib * 1024 / sa
                printf "%s: shelf (a) moved the library at %.1f MB/s", name, up
                if (curl > 0) printf " = %.0f%% of curl -T (%.1f MB/s)", 100 * up / curl, curl
                printf "\n"
            }
            if (sa > 0 && ra > 0)
                printf "%s: restic/shelf time: (a) %.2fx (b) %.2fx (c) %.2fx (d) %.2fx\n",
                       name, ra / sa, rb / sb, rc / sc, rd / sd
        }' "$out"
}

bench() {
    "$build/bench/bench_backup" --size "$size" --dir "$dir/work" --runs "$runs" --keep \
        --markdown --tools shelf,restic "$@"
}

if [ -z "$only" ] || [ "$only" = s3 ]; then
    export RGW_MEM_BYTES=$(((runs + 3) * bytes + (1 << 30)))
    line=$("$src/tests/servers/radosgw.sh" start "$rgw" bench) || exit 1
    read -r _ port access secret <<EOF
$line
EOF
    export AWS_ACCESS_KEY_ID=$access AWS_SECRET_ACCESS_KEY=$secret
    url="http://127.0.0.1:$port"
    echo "== S3: radosgw on $url"
    bench --remote "shelf=s3:$url/bench/shelf" --remote "restic=s3:$url/bench/restic" |
        tee "$dir/s3.out"
    curl_rate radosgw -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
        --aws-sigv4 'aws:amz:us-east-1:s3' --user "$access:$secret" "$url/bench/one.bin"
    ratios S3 "$dir/s3.out"
    "$src/tests/servers/radosgw.sh" stop "$rgw"
fi

if [ -z "$only" ] || [ "$only" = webdav ]; then
    # Plain http on 127.0.0.1 for all three (shelf allows it on loopback):
    # TLS would cost every client the same CPU.
    line=$("$src/tests/servers/apache.sh" start "$dav" http) || exit 1
    read -r _ aport user pw _ <<EOF
$line
EOF
    apache_dir=$dav
    export SHELF_WEBDAV_USER=$user SHELF_WEBDAV_PASSWORD=$pw
    # rclone makes each repository's folder, not the one above it
    curl -sS -f -o /dev/null -X MKCOL --user "$user:$pw" "http://127.0.0.1:$aport/restic" || exit 1
    rport=$(free_port)
    rclone serve restic --addr "127.0.0.1:$rport" \
        ":webdav,url='http://127.0.0.1:$aport/restic',user=$user,pass=$(rclone obscure "$pw"):" \
        >"$dir/rclone.log" 2>&1 &
    rclone_pid=$!
    for _ in $(seq 50); do
        curl -s -o /dev/null "http://127.0.0.1:$rport/" && break
        sleep 0.1
    done
    echo "== WebDAV: Apache on 127.0.0.1:$aport, rclone serve restic on 127.0.0.1:$rport"
    bench --remote "shelf=webdav:http://127.0.0.1:$aport/shelf" \
        --remote "restic=rest:http://127.0.0.1:$rport" | tee "$dir/webdav.out"
    curl_rate Apache --user "$user:$pw" "http://127.0.0.1:$aport/one.bin"
    ratios WebDAV "$dir/webdav.out"
fi
