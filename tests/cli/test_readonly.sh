# test_readonly.sh: a library on read-only media (a read-only bind mount in
# a private mount namespace) and in a folder owned by another user (a child
# dropped to uid 65534) is browsable, backed up and exported without a byte
# written into it; commands that write say "library is read-only" (exit 1).
. "$(dirname "$0")/lib.sh"

S="$T/s"
mkdir -p "$S/piano"
"$SHELF_TG" --seed 1 "$S/piano/c4.wav"
"$SHELF_TG" --seed 2 "$S/piano/e4.wav"
"$SHELF_TG" --seed 3 --format flac "$S/kick.flac"
cat > "$S/piano/grand.sfz" <<'EOF'
<region> sample=c4.wav lokey=c4 hikey=d#4 pitch_keycenter=c4
<region> sample=e4.wav lokey=e4 hikey=g4 pitch_keycenter=64
EOF
echo secret > "$T/pw"
L="$SHELF_LIBRARY"
expect 0 "init" "$SHELF" init
expect 0 "import" "$SHELF" import --copy "$S"
expect 0 "patch import" "$SHELF" --json patch import "$S/piano/grand.sfz"
P=$(json 'j[0]["id"]')
expect 0 "tag" "$SHELF" tag add 1 warm
# What the library folder holds, byte for byte, before the read-only runs.
snapshot() { (cd "$L" && find . -printf '%p %s %T@\n' | sort && find . -type f -exec sha256sum {} + | sort); }

# reads NAME RUN: every read-only command through RUN (a wrapper), each
# checked for its result, not just its exit status.
reads() {
    local n=$1 run=$2
    expect 0 "$n: ls" $run "$SHELF" --json ls
    check "$n: ls lists 3" "$(json 'len(j)')" = 3
    expect 0 "$n: search" $run "$SHELF" --json search kick
    check "$n: search finds kick" "$(json 'j["results"][0]["name"]')" = kick
    expect 0 "$n: info" $run "$SHELF" info 1
    contains "$n: info shows the tag" "$out" "warm"
    expect 0 "$n: stats" $run "$SHELF" stats
    contains "$n: stats counts" "$out" "samples:  3"
    expect 0 "$n: verify" $run "$SHELF" verify
    contains "$n: verify checked" "$out" "3 ok"
    expect 0 "$n: patch ls" $run "$SHELF" --json patch ls
    check "$n: one patch" "$(json 'len(j)')" = 1
    expect 0 "$n: patch show" $run "$SHELF" --json patch show "$P"
    contains "$n: patch show has regions" "$out" "c4"
    expect 0 "$n: db-backup out of it" $run "$SHELF" db-backup "$T/out-$n/cat.db"
    check "$n: copy written" -s "$T/out-$n/cat.db"
    expect 0 "$n: archive export" $run "$SHELF" archive export --all "$T/out-$n/all.zip"
    check "$n: archive written" -s "$T/out-$n/all.zip"
    expect 0 "$n: backup init" "$SHELF" backup init --kdf-cost 10 --password-file "$T/pw" "$T/out-$n/repo"
    chmod -R a+rwX "$T/out-$n/repo"
    expect 0 "$n: backup" $run env XDG_CACHE_HOME="$T/out-$n/cache" \
        "$SHELF" backup --password-file "$T/pw" "$T/out-$n/repo"
    contains "$n: backup made a snapshot" "$out" "snapshot"
    check "$n: index cache outside the library" -n "$(ls "$T/out-$n/cache/shelf" 2>/dev/null)"
}

# writes NAME RUN: commands that must write refuse in one line, exit 1.
writes() {
    local n=$1 run=$2 c
    for c in "tag add 1 cold" "rate 1 3" "fav 1" "rm 1" "import $S" "gc" "vacuum" \
             "patch touch $P" "patch set $P params/cutoff=900"; do
        # shellcheck disable=SC2086
        expect 1 "$n: $c refused" $run "$SHELF" $c
        contains "$n: $c says read-only" "$err" "library is read-only"
        check "$n: $c in one line" "$(printf '%s\n' "$err" | wc -l)" = 1
    done
}

# One folder the other user can read but not write.
chmod 755 "$T"
mkdir -p "$T/out-ro" "$T/out-uid"
chmod 777 "$T/out-uid"
rm -f "$L/lock"   # no lock file: a reader cannot create one there
before=$(snapshot)

# Read-only bind mount of the library on itself, in a private namespace.
romount() {
    unshare -m sh -c 'mount --bind -o ro "$0" "$0" && exec "$@"' "$L" "$@"
}
if unshare -m sh -c "mount --bind -o ro '$L' '$L' && touch '$L/probe'" 2>/dev/null; then
    fail "read-only bind mount: the probe was written"
elif unshare -m true 2>/dev/null; then
    expect 0 "mount is read-only" romount sh -c 'touch "$0/x" 2>/dev/null && exit 1; exit 0' "$L"
    reads ro romount
    writes ro romount
    # The browser's server on read-only media: it searches and plays; an
    # edit is refused (403) in one line and changes nothing.
    # not through the function: a function run with & is a subshell, and
    # $! would be that shell, which kill leaves the server behind
    unshare -m sh -c 'mount --bind -o ro "$0" "$0" && exec "$@"' "$L" "$SHELF" -L "$L" serve --json --port 0 \
        >"$T/serve.out" 2>"$T/serve.err" &
    serve_pid=$!
    bg_pids="$bg_pids $serve_pid"
    for _ in $(seq 100); do [ -s "$T/serve.out" ] && break; sleep 0.1; done
    expect 0 "ro: shelf serve answers" python3 - "$T/serve.out" <<'PY'
import http.client, json, sys
j = json.loads(open(sys.argv[1]).readline())
host = "127.0.0.1:%d" % j["port"]
c = http.client.HTTPConnection("127.0.0.1", j["port"])
h = {"X-Shelf-Token": j["token"], "Host": host}
c.request("GET", "/api/search?q=", headers=h)
r = c.getresponse()
v = json.loads(r.read())
assert r.status == 200 and v["total"] > 0, (r.status, v)
sid = v["items"][0]["id"]
c.request("GET", "/api/samples/%d/audio" % sid, headers=h)
r = c.getresponse()
assert r.status == 200 and len(r.read()) > 44, r.status
c.request("POST", "/api/samples/%d/rating" % sid, body='{"rating": 3}',
          headers=dict(h, Origin="http://" + host, **{"Content-Type": "application/json"}))
r = c.getresponse()
e = json.loads(r.read())
assert r.status == 403 and "read-only" in e["error"] and "\n" not in e["error"], (r.status, e)
print("ok")
PY
    kill "$serve_pid" 2>/dev/null
    wait "$serve_pid" 2>/dev/null
else
    skip "read-only bind mount" "unshare -m needs root"
fi
check "ro: library unchanged" "$(snapshot)" = "$before"

# Another user: uid 65534 on a folder owned by this one (mode 755).
asnobody() {
    setpriv --reuid 65534 --regid 65534 --clear-groups "$@"
}
if [ "$(id -u)" = 0 ]; then
    expect 1 "nobody cannot write there" asnobody touch "$L/x"
    reads uid asnobody
    writes uid asnobody
    # With a lock file the owner made, the reader takes it shared.
    expect 0 "lock file" "$SHELF" import "$S"
    check "lock file exists" -f "$L/lock"
    before=$(snapshot)
    expect 0 "uid: ls with a lock file" asnobody "$SHELF" --json ls
    check "uid: still 3" "$(json 'len(j)')" = 3
else
    skip "another user" "setpriv needs root"
fi
check "uid: library unchanged" "$(snapshot)" = "$before"

# A library opened read-only whose folder is writable keeps the old path.
expect 0 "writable library still writes" "$SHELF" rate 1 4
finish
