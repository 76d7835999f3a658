#!/bin/bash
# bench_sync.sh: sync between two devices on 127.0.0.1 beside Syncthing,
# one run (issue 14's benchmark):
#
#   shelf       two libraries of N samples (metadata; the same rows on
#               both, as two devices that imported one sample pack; 1,000
#               of them managed, with their copies) and 2,000 patches (SFZ,
#               imported on both), paired;
#               (a) the first exchange of their change logs; (b) 10 changes
#               on one (5 tags, 3 ratings, 2 favourites) then one
#               `shelf sync`: time, and bytes on the wire (a counting relay
#               between the two, TLS included); (c) a new device (an empty
#               library) syncs with the first: every record, a row per
#               sample, the managed copies;
#   Syncthing   two instances sharing the first library's folder (started
#               identical), the same 10 changes made with shelf in one,
#               a scan asked for: time until the other is in sync, and the
#               bytes Syncthing counted on its connection.
#   shelf hub   through a folder and through S3 (s3rver, when node and
#               tests/servers/node_modules are there): the first push of
#               the whole log, a third device that joins and pulls it all,
#               then 10 more changes pushed and pulled (time of push + pull,
#               object bytes written + read).
#
#   bench/bench_sync.sh [--samples N] [--dir DIR]
#
#   Unison      the same with Unison 2.52 between two copies of a library
#               folder, over its socket protocol through the counting relay
#               (when unison is installed: install-deps --tools).
#
# Needs sqlite3 (its sha3()), python3, curl, syncthing and a release build
# (SHELF_BUILD, default build/release).  Prints a markdown table.
set -u

here=$(cd "$(dirname "$0")" && pwd)
src=$(dirname "$here")
build=${SHELF_BUILD:-$src/build/release}
shelf=$build/cli/shelf
n=100000 dir=${TMPDIR:-/tmp}/shelf-bench-sync
while [ $# -gt 0 ]; do
    case "$1" in
    --samples) n=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    *) echo "usage: $0 [--samples N] [--dir DIR]" >&2; exit 2 ;;
    esac
done
for p in sqlite3 python3 curl syncthing; do
    command -v $p >/dev/null 2>&1 || { echo "bench_sync: $p not found" >&2; exit 1; }
done
[ -x "$shelf" ] || { echo "bench_sync: no $shelf (make build)" >&2; exit 1; }

rm -rf "$dir"
mkdir -p "$dir"
pids=""
trap 'for p in $pids; do kill $p 2>/dev/null; done; wait 2>/dev/null' EXIT

. "$(dirname "$0")/bench_lib.sh"
since() { python3 -c "import sys; print('%.3f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$1" "$(now)"; }

# a free TCP port of 127.0.0.1
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# relay LISTEN_PORT TARGET_PORT COUNT_FILE: a TCP relay on 127.0.0.1 that
# counts the bytes both ways (TLS included) into COUNT_FILE, in the
# background (its pid joins $pids)
relay() {
    python3 - "$1" "$2" "$3" <<'EOF' &
import os, socket, sys, threading, time
lp, tp, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", lp))
srv.listen(4)
total = [0]
lock = threading.Lock()
def pump(a, b):
    while True:
        try:
            d = a.recv(65536)
        except OSError:
            d = b""
        if not d:
            break
        with lock:
            total[0] += len(d)
        try:
            b.sendall(d)
        except OSError:
            break
    try:
        b.shutdown(socket.SHUT_WR)
    except OSError:
        pass
def serve():
    while True:
        c, _ = srv.accept()
        t = socket.create_connection(("127.0.0.1", tp))
        threading.Thread(target=pump, args=(c, t), daemon=True).start()
        threading.Thread(target=pump, args=(t, c), daemon=True).start()
threading.Thread(target=serve, daemon=True).start()
while True:
    with lock:
        n = total[0]
    with open(out + ".tmp", "w") as f:
        f.write(str(n))
    os.replace(out + ".tmp", out)
    time.sleep(0.1)
EOF
    pids="$pids $!"
}

# the files every library holds besides its rows: 1,000 managed samples
# (blobs) and 2,000 patches (SFZ) that use them, made once
pack=$dir/pack
mkdir -p "$pack"
echo "making 1000 samples and 2000 patches..." >&2
for i in $(seq 1 1000); do
    "$build/tests/shelf-tg" --frames 4410 --seed "$i" "$pack/s$i.wav" || exit 1
done
for i in $(seq 1 2000); do
    printf '<region> sample=s%d.wav lokey=%d hikey=%d\n<region> sample=s%d.wav volume=-%d\n' \
        $(( (i % 1000) + 1 )) $(( i % 100 )) $(( i % 100 + 20 )) $(( (i * 7 % 1000) + 1 )) $(( i % 12 )) \
        >"$pack/patch $i.sfz"
done

# library DIR: a library of $n sample rows, the 1,000 samples of $pack
# copied in and its 2,000 patches: the same on every call
library() {
    "$shelf" -L "$1" init >/dev/null || exit 1
    "$shelf" -L "$1" import --copy "$pack" >/dev/null || exit 1
    "$shelf" -L "$1" patch import "$pack" >/dev/null 2>&1 || exit 1
    bench_rows "$1/shelf.db" "$n" || exit 1
}

# ten changes through shelf on library DIR
ten_changes() {
    local i
    for i in 11 22 33 44 55; do "$shelf" -L "$1" tag add $i bench >/dev/null; done
    for i in 66 77 88; do "$shelf" -L "$1" rate $i 4 >/dev/null; done
    for i in 99 111; do "$shelf" -L "$1" fav $i >/dev/null; done
}

# ---- shelf ----
A=$dir/a B=$dir/b
library "$A"
library "$B"
"$shelf" -L "$A" device add "$("$shelf" -q -L "$B" device id)" --name laptop >/dev/null
"$shelf" -L "$B" device add "$("$shelf" -q -L "$A" device id)" --name stage >/dev/null
"$shelf" -L "$A" -q sync status >/dev/null     # the logs of both, once, before timing
"$shelf" -L "$B" -q sync status >/dev/null

lport=$(port) rport=$(port)
"$shelf" -L "$A" sync listen --address "127.0.0.1:$lport" >"$dir/listen.out" 2>&1 &
pids="$pids $!"
relay "$rport" "$lport" "$dir/relay.count"
sleep 1

wire() { sleep 0.7; cat "$dir/relay.count" 2>/dev/null || echo 0; }

t0=$(now)
"$shelf" -L "$B" --json sync "127.0.0.1:$rport" >"$dir/first.json" || exit 1
first_t=$(since "$t0")
first_b=$(wire)

ten_changes "$A"
before=$first_b
t0=$(now)
"$shelf" -L "$B" --json sync "127.0.0.1:$rport" >"$dir/steady.json" || exit 1
steady_t=$(since "$t0")
steady_b=$(( $(wire) - before ))
applied=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["received"])' "$dir/steady.json")

# a new device (an empty library) paired with stage: its first sync gets
# every record (a catalog row per sample) and the 1,000 managed copies
C=$dir/c
"$shelf" -L "$C" init >/dev/null || exit 1
"$shelf" -L "$A" device add "$("$shelf" -q -L "$C" device id)" --name new >/dev/null
"$shelf" -L "$C" device add "$("$shelf" -q -L "$A" device id)" --name stage >/dev/null
before=$(wire)
t0=$(now)
"$shelf" -L "$C" --json sync "127.0.0.1:$rport" >"$dir/new.json" || exit 1
new_t=$(since "$t0")
new_b=$(( $(wire) - before ))

# ---- Syncthing ----
SA=$dir/st-a SB=$dir/st-b FA=$dir/st-lib-a FB=$dir/st-lib-b
rm -rf "$FA" "$FB"
library "$FA"
cp -a "$FA" "$FB"
for h in "$SA" "$SB"; do syncthing generate --home="$h" --no-default-folder >/dev/null 2>&1 || exit 1; done
ida=$(sed -n 's/.*<device id="\([^"]*\)".*/\1/p' "$SA/config.xml" | head -1)
idb=$(sed -n 's/.*<device id="\([^"]*\)".*/\1/p' "$SB/config.xml" | head -1)
pa=$(port) pb=$(port) ga=$(port) gb=$(port)
setup() { # HOME LISTEN GUI OTHER_ID OTHER_PORT FOLDER
    python3 - "$@" <<'EOF'
import sys, xml.etree.ElementTree as ET
home, listen, gui, other, oport, folder = sys.argv[1:7]
p = home + "/config.xml"
t = ET.parse(p); r = t.getroot()
me = r.find("device").get("id")
g = r.find("gui"); g.find("address").text = "127.0.0.1:" + gui
k = g.find("apikey")
if k is None: k = ET.SubElement(g, "apikey")
k.text = "bench"
o = r.find("options")
def opt(name, val):
    e = o.find(name)
    if e is None: e = ET.SubElement(o, name)
    e.text = val
for e in o.findall("listenAddress"): o.remove(e)
ET.SubElement(o, "listenAddress").text = "tcp://127.0.0.1:" + listen
for name, val in (("globalAnnounceEnabled", "false"), ("localAnnounceEnabled", "false"),
                  ("relaysEnabled", "false"), ("natEnabled", "false"), ("urAccepted", "-1"),
                  ("autoUpgradeIntervalH", "0"), ("crashReportingEnabled", "false"),
                  ("startBrowser", "false")):
    opt(name, val)
d = ET.SubElement(r, "device", id=other, name="other", compression="metadata", introducer="false")
ET.SubElement(d, "address").text = "tcp://127.0.0.1:" + oport
f = ET.Element("folder", id="lib", label="lib", path=folder, type="sendreceive",
               rescanIntervalS="3600", fsWatcherEnabled="false")
ET.SubElement(f, "device", id=me)
ET.SubElement(f, "device", id=other)
r.insert(0, f)
t.write(p)
EOF
}
setup "$SA" "$pa" "$ga" "$idb" "$pb" "$FA"
setup "$SB" "$pb" "$gb" "$ida" "$pa" "$FB"
syncthing serve --home="$SA" --no-browser --no-restart >"$dir/st-a.log" 2>&1 &
pids="$pids $!"
syncthing serve --home="$SB" --no-browser --no-restart >"$dir/st-b.log" 2>&1 &
pids="$pids $!"
api() { curl -s -H "X-API-Key: bench" "http://127.0.0.1:$1$2" "${@:3}"; }
# both up, connected and in sync
for _ in $(seq 600); do
    c=$(api "$ga" "/rest/db/completion?folder=lib&device=$idb" | python3 -c 'import json,sys
try: print(json.load(sys.stdin)["completion"])
except Exception: print(0)')
    conn=$(api "$ga" /rest/system/connections | python3 -c 'import json,sys
try: print(int(any(v["connected"] for v in json.load(sys.stdin)["connections"].values())))
except Exception: print(0)')
    # and both done with their first scan (a library with a store is
    # thousands of files): a change made during it is not a change
    sa=$(api "$ga" "/rest/db/status?folder=lib" | python3 -c 'import json,sys
try: print(json.load(sys.stdin)["state"])
except Exception: print("")')
    sb=$(api "$gb" "/rest/db/status?folder=lib" | python3 -c 'import json,sys
try: print(json.load(sys.stdin)["state"])
except Exception: print("")')
    [ "$c" = 100 ] && [ "$conn" = 1 ] && [ "$sa" = idle ] && [ "$sb" = idle ] && break
    sleep 0.2
done
bytes() { api "$ga" /rest/system/connections | python3 -c 'import json,sys
t = json.load(sys.stdin)["total"]; print(t["inBytesTotal"] + t["outBytesTotal"])'; }
b0=$(bytes)
ten_changes "$FA"
t0=$(now)
api "$ga" "/rest/db/scan?folder=lib" -X POST >/dev/null
sleep 0.05
for k in $(seq 3000); do
    # a scan again now and then, in case the first came before the write
    [ $((k % 40)) = 0 ] && api "$ga" "/rest/db/scan?folder=lib" -X POST >/dev/null
    st=$(api "$gb" "/rest/db/status?folder=lib" | python3 -c 'import json,sys
s = json.load(sys.stdin); print(s["needFiles"] + s["needDeletes"], s["state"])')
    ca=$(api "$ga" "/rest/db/completion?folder=lib&device=$idb" | python3 -c 'import json,sys; print(json.load(sys.stdin)["completion"])')
    sa=$(api "$ga" "/rest/db/status?folder=lib" | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')
    [ "$st" = "0 idle" ] && [ "$ca" = 100 ] && [ "$sa" = idle ] &&
        cmp -s "$FA/shelf.db" "$FB/shelf.db" && break
    sleep 0.05
done
st_t=$(since "$t0")
st_b=$(( $(bytes) - b0 ))
same=$(cmp -s "$FA/shelf.db" "$FB/shelf.db" && echo yes || echo no)

# ---- Unison ----
un_t="" un_b=""
if command -v unison >/dev/null; then
    UA=$dir/un-a UB=$dir/un-b
    rm -rf "$UA" "$UB"
    library "$UA"
    cp -a "$UA" "$UB"
    export UNISON=$dir/unison-home
    mkdir -p "$UNISON"
    up=$(port) urp=$(port)
    (cd "$dir" && unison -socket "$up" >"$dir/unison-server.log" 2>&1) &
    pids="$pids $!"
    relay "$urp" "$up" "$dir/unison.count"
    sleep 1
    unopts="-batch -auto -silent -times -confirmbigdel=false"
    # the first run makes Unison's archives of two identical folders
    unison "$UA" "socket://127.0.0.1:$urp/$UB" $unopts >"$dir/unison-1.log" 2>&1 || true
    sleep 0.7
    ub0=$(cat "$dir/unison.count")
    ten_changes "$UA"
    t0=$(now)
    unison "$UA" "socket://127.0.0.1:$urp/$UB" $unopts >"$dir/unison-2.log" 2>&1 || true
    un_t=$(since "$t0")
    sleep 0.7
    un_b=$(( $(cat "$dir/unison.count") - ub0 ))
    un_same=$(cmp -s "$UA/shelf.db" "$UB/shelf.db" && echo yes || echo no)
fi

# ---- shelf through a hub ----
# ten other changes (tags, ratings and favourites not made yet)
ten_more() {
    local i
    for i in 12 23 34 45 56; do "$shelf" -L "$1" tag add $i "hub$2" >/dev/null; done
    for i in 67 78 89; do "$shelf" -L "$1" rate $i $((2 + $2)) >/dev/null; done
    for i in 1${2}3 1${2}4; do "$shelf" -L "$1" fav $i >/dev/null; done
}
jget() { python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$@"; }
hubs="dir"
if command -v node >/dev/null && [ -d "$src/tests/servers/node_modules/@20minutes/s3rver" ]; then
    mkdir -p "$dir/s3rver"
    NODE_OPTIONS=--openssl-legacy-provider node "$src/tests/servers/s3rver.js" "$dir/s3rver" 0 shelf \
        >"$dir/s3rver.out" 2>&1 &
    pids="$pids $!"
    for _ in $(seq 100); do
        s3port=$(sed -n 's/^ready \([0-9]*\)$/\1/p' "$dir/s3rver.out")
        [ -n "$s3port" ] && break
        sleep 0.1
    done
    [ -n "$s3port" ] && hubs="$hubs s3"
fi
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
hub_rows=""
k=0
for h in $hubs; do
    k=$((k + 1))
    case $h in
    dir) H=$dir/hub ;;
    s3) H=s3:http://127.0.0.1:$s3port/shelf/hub ;;
    esac
    C=$dir/c-$h
    library "$C"
    "$shelf" -L "$A" device add "$("$shelf" -q -L "$C" device id)" --name "c-$h" >/dev/null 2>&1
    "$shelf" -L "$C" device add "$("$shelf" -q -L "$A" device id)" --name stage >/dev/null
    "$shelf" -L "$C" -q sync status >/dev/null
    t0=$(now)
    "$shelf" -L "$A" --json sync push "$H" >"$dir/push1.json" || exit 1
    push1_t=$(since "$t0")
    push1_b=$(jget "$dir/push1.json" 'j["push"]["bytes_out"]')
    push1_n=$(jget "$dir/push1.json" 'j["push"]["pushed"]')
    key=$(sqlite3 "$A/shelf.db" "SELECT hex(key) FROM sync_keys WHERE gen = 1")
    sqlite3 "$C/shelf.db" "INSERT OR IGNORE INTO sync_keys(gen, key, created) VALUES(1, X'$key', 0)"
    t0=$(now)
    "$shelf" -L "$C" --json sync pull "$H" >"$dir/pull1.json" || exit 1
    pull1_t=$(since "$t0")
    pull1_b=$(jget "$dir/pull1.json" 'j["pull"]["bytes_in"]')
    ten_more "$A" $k
    t0=$(now)
    "$shelf" -L "$A" --json sync push "$H" >"$dir/push2.json" || exit 1
    "$shelf" -L "$C" --json sync pull "$H" >"$dir/pull2.json" || exit 1
    hub_t=$(since "$t0")
    hub_b=$(( $(jget "$dir/push2.json" 'j["push"]["bytes_out"]') + $(jget "$dir/pull2.json" 'j["pull"]["bytes_in"]') ))
    hub_n=$(jget "$dir/pull2.json" 'j["pull"]["pulled"]')
    hub_rows="$hub_rows
| shelf through a hub ($h): first push of the log ($push1_n records) | $push1_t | $push1_b B written |
| shelf through a hub ($h): a new device pulls it all | $pull1_t | $pull1_b B read |
| shelf through a hub ($h): 10 changes ($hub_n records), push + pull | $hub_t | $hub_b B written + read |"
done

kb() { python3 -c "import sys; print('%.1f' % (int(sys.argv[1]) / 1000))" "$1"; }
echo
echo "| $n samples (1,000 managed), 2,000 patches, 10 changes | time (s) | bytes on the wire |"
echo "|---|---:|---:|"
first_n=$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["sent"] + j["received"])' "$dir/first.json")
echo "| shelf, first exchange of the two logs ($first_n records) | $first_t | $(kb "$first_b") kB |"
echo "| shelf, 10 changes ($applied records) | $steady_t | $(kb "$steady_b") kB |"
echo "| shelf, a new device's first sync ($(jget "$dir/new.json" 'j["received"]') records, $(jget "$dir/new.json" 'j["files_in"]') files) | $new_t | $(kb "$new_b") kB |"
echo "| Syncthing, the same 10 changes to the library folder (catalog identical after: $same) | $st_t | $(kb "$st_b") kB |"
[ -n "$un_t" ] && echo "| Unison 2.52, the same 10 changes to the library folder (socket, catalog identical after: $un_same) | $un_t | $(kb "$un_b") kB |"
echo "${hub_rows#?}"
python3 -c "import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); print('shelf / Syncthing: time %.2f, bytes %.3f' % (a / b, int(sys.argv[3]) / max(1, int(sys.argv[4]))))" "$steady_t" "$st_t" "$steady_b" "$st_b"
