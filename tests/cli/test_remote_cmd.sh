# test_remote_cmd.sh: shelf remote add|ls|rm|test|terms with --json and
# their exit statuses; secrets never in remotes.json, never in the
# arguments or environment of a running shelf (ps, /proc/PID/environ), never
# in the library folder (every byte of it grepped); the keyring store
# against gnome-keyring-daemon on a private session bus.
. "$(dirname "$0")/lib.sh"

export XDG_CONFIG_HOME="$T/cfg" HOME="$T/home"
mkdir -p "$HOME" "$T/usb"
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE AWS_REGION \
    AWS_DEFAULT_REGION SHELF_WEBDAV_USER SHELF_WEBDAV_PASSWORD SHELF_CREDENTIALS_PASSWORD \
    DBUS_SESSION_BUS_ADDRESS
export XDG_RUNTIME_DIR="$T/run"
mkdir -m 700 "$XDG_RUNTIME_DIR"
AK=S3RVER
SK=S3RVER
WP=webdav-PASSWORD-a91b
CP="credentials passphrase"

# An S3 server (s3rver checks SigV4; its access key and secret are S3RVER),
# so the s3 remotes below are reachable and remote test does a round trip.
SRV="$SHELF_SRC/tests/servers"
start_s3rver
trap 's3rver_stop; sh "$SRV/apache.sh" stop "$T/apache" >/dev/null 2>&1; chmod -R u+w "$T" 2>/dev/null; rm -rf "$T"' EXIT

# no terminal to ask on: setsid detaches from any controlling terminal
nt() { setsid -w "$@" </dev/null; }

# ---- add: bad input ----
expect 2 "bad name" nt "$SHELF" remote add "no/slash" s3:http://127.0.0.1:9/b
expect 2 "name starting with a dot" nt "$SHELF" remote add ".x" s3:http://127.0.0.1:9/b
expect 2 "unknown scheme" nt "$SHELF" remote add x ftp://host/path
expect 2 "restic's b2: form" nt "$SHELF" remote add x b2:bucket/path
expect 2 "password in the URL" nt "$SHELF" remote add x webdav:https://u:pw@host/dav
contains "says no password in a URL" "$err" "password in a URL"
expect 2 "bad budget" nt "$SHELF" remote add x s3:http://127.0.0.1:9/b --budget 12Q
expect 2 "bad store" nt "$SHELF" remote add x s3:http://127.0.0.1:9/b --store-secret paper
expect 2 "keyring asked, none runs" env AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK \
    setsid -w "$SHELF" remote add x s3:http://127.0.0.1:9/b --store-secret keyring </dev/null
contains "says no Secret Service" "$err" "no Secret Service"
expect 8 "no secret and no terminal" nt "$SHELF" remote add x s3:http://127.0.0.1:9/b \
    --store-secret file
contains "names the variables" "$err" "AWS_SECRET_ACCESS_KEY"
check "nothing written" ! -e "$XDG_CONFIG_HOME/shelf/remotes.json"

# ---- add to the credential file ----
expect 0 "add s3 (file)" env AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK \
    SHELF_CREDENTIALS_PASSWORD="$CP" setsid -w "$SHELF" --json remote add s3a \
    "$S3/pre" --region eu-west-3 --budget 10G --store-secret file </dev/null
check "add json name" "$(json 'j["name"]')" = s3a
check "terms: provider sees no names" "$(json '"no file names" in j["terms"]["visible"]')" = True
check "terms: 5 GiB per PUT" "$(json '"5 GiB" in j["terms"]["limits"]')" = True
check "terms: budget" "$(json 'j["terms"]["budget"]')" = 10737418240
expect 0 "add webdav (file)" env SHELF_WEBDAV_USER=anna SHELF_WEBDAV_PASSWORD=$WP \
    SHELF_CREDENTIALS_PASSWORD="$CP" setsid -w "$SHELF" remote add nas \
    "webdav:http://127.0.0.1:$PORT/dav" --ca-file /etc/ssl/certs/ca-certificates.crt \
    --store-secret file </dev/null
contains "add prints what the provider sees" "$out" "what the provider can see:"
contains "add prints limits" "$out" "known limits:"
expect 1 "add again" env AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK \
    SHELF_CREDENTIALS_PASSWORD="$CP" setsid -w "$SHELF" remote add s3a \
    s3:http://127.0.0.1:9/b --store-secret file </dev/null
contains "add again says exists" "$err" "exists"
expect 8 "wrong passphrase" env AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK \
    SHELF_CREDENTIALS_PASSWORD="not it" setsid -w "$SHELF" remote add s3b \
    s3:http://127.0.0.1:9/b --store-secret file </dev/null
contains "wrong passphrase said" "$err" "wrong passphrase"

# a folder remote needs no secret; a relative folder becomes absolute
cd "$T" || exit 1
expect 0 "add folder" "$SHELF" --json remote add usb "dir:usb"
cd - >/dev/null || exit 1
check "folder remote has no secret store" "$(json 'j["name"]')" = usb

R="$XDG_CONFIG_HOME/shelf/remotes.json"
C="$XDG_CONFIG_HOME/shelf/credentials"
check "credentials file is 0600" "$(stat -c %a "$C")" = 600
check "remotes.json holds no access key" "$(grep -c -- "$AK" "$R")" = 0
check "remotes.json holds no secret" "$(grep -c -- "$SK" "$R")" = 0
check "remotes.json holds no password" "$(grep -c -- "$WP" "$R")" = 0
check "credentials file holds no secret" "$(grep -c -a -- "$SK" "$C")" = 0
check "remotes.json is versioned" "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$R")" = 1

# ---- ls ----
expect 0 "ls --json" "$SHELF" --json remote ls
check "ls: three" "$(json 'len(j)')" = 3
check "ls: sorted" "$(json '",".join(r["name"] for r in j)')" = "nas,s3a,usb"
check "ls: where the secret is" "$(json '",".join(r["secret"] for r in j)')" = "file,file,none"
check "ls: region" "$(json 'j[1]["region"]')" = eu-west-3
check "ls: folder made absolute" "$(json 'j[2]["url"]')" = "dir:$T/usb"
expect 0 "ls text" "$SHELF" remote ls
contains "ls text names the store" "$out" "secret: file"

# ---- test: a folder remote by name and by URL ----
expect 0 "test folder remote" "$SHELF" --json remote test usb
check "test ok" "$(json 'j["ok"]')" = True
check "probe removed" "$(find "$T/usb" -type f | wc -l)" = 0
expect 0 "test a folder by path" "$SHELF" remote test "$T/usb"
check "the probe leaves no folder behind" ! -e "$T/usb/shelf-probe"
contains "test says ok" "$out" "ok: save, stat, load, list and remove"
expect 3 "test a missing folder" "$SHELF" --json remote test "$T/nothere"
check "test json says not ok" "$(json 'j["ok"]')" = False
expect 3 "remote:NAME must exist" "$SHELF" remote test remote:nosuch
expect 0 "terms of a folder" "$SHELF" --json remote terms usb
check "terms kind" "$(json 'j["kind"]')" = dir

# ---- a network remote by NAME: the secret comes from the credential file ----
expect 0 "test the s3 remote by name" env SHELF_CREDENTIALS_PASSWORD="$CP" \
    "$SHELF" --json remote test s3a
check "s3 round trip ok" "$(json 'j["ok"]')" = True
expect 0 "terms of the s3 remote" env SHELF_CREDENTIALS_PASSWORD="$CP" \
    "$SHELF" --json remote terms s3a
check "s3 terms: budget counted" "$(json 'j["budget"]')" = 10737418240
expect 8 "no passphrase: no credentials" nt "$SHELF" remote test s3a
expect 3 "remote test of a name nobody defined" "$SHELF" remote test remote:none

# ---- the secret stays out of a running shelf's arguments and environment ----
# shelf waits on the terminal for the credential file's passphrase while
# AWS_SECRET_ACCESS_KEY was in its starting environment.
env AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK \
    script -qfec "$SHELF remote add s3w $S3/w --store-secret file" \
    /dev/null >"$T/script.out" 2>&1 </dev/null &
spid=$!
pid=
for _ in $(seq 1 100); do
    for p in $(pgrep -x shelf); do
        tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q "remote add s3w" && pid=$p
    done
    [ -n "$pid" ] && grep -q "passphrase" "$T/script.out" 2>/dev/null && break
    sleep 0.1
done
if [ -n "$pid" ] && [ -r "/proc/$pid/environ" ]; then
    ok "a shelf waits on the terminal (pid $pid)"
    ps -eo pid,args >"$T/ps.out"
    check "secret not in ps output" "$(grep -c -- "$SK" "$T/ps.out")" = 0
    check "its line is in ps output" "$(grep -c "^ *$pid .*remote add s3w" "$T/ps.out")" = 1
    check "secret not in its /proc environ" "$(tr '\0' '\n' <"/proc/$pid/environ" | grep -c -- "$SK")" = 0
    check "key id not in its /proc environ" "$(tr '\0' '\n' <"/proc/$pid/environ" | grep -c -- "$AK")" = 0
    check "variable name gone too" "$(tr '\0' '\n' <"/proc/$pid/environ" | grep -c AWS_SECRET)" = 0
    kill "$pid" 2>/dev/null
else
    fail "no shelf waiting for a passphrase: $(cat "$T/script.out")"
fi
kill "$spid" 2>/dev/null
wait "$spid" 2>/dev/null

# ---- the library folder never sees a secret ----
mkdir -p "$T/samples"
"$SHELF_TG" --seed 3 "$T/samples/a.wav"
expect 0 "init a library" env AWS_SECRET_ACCESS_KEY=$SK SHELF_WEBDAV_PASSWORD=$WP "$SHELF" init
expect 0 "import with secrets in the environment" env AWS_SECRET_ACCESS_KEY=$SK \
    SHELF_WEBDAV_PASSWORD=$WP AWS_ACCESS_KEY_ID=$AK "$SHELF" import --copy "$T/samples"
expect 0 "backup to the folder remote" env AWS_SECRET_ACCESS_KEY=$SK SHELF_WEBDAV_PASSWORD=$WP \
    AWS_ACCESS_KEY_ID=$AK SHELF_PASSWORD=repo-pw "$SHELF" backup init --kdf-cost 10 "$T/usb/repo"
expect 0 "a snapshot" env AWS_SECRET_ACCESS_KEY=$SK SHELF_WEBDAV_PASSWORD=$WP \
    AWS_ACCESS_KEY_ID=$AK SHELF_PASSWORD=repo-pw "$SHELF" backup "$T/usb/repo"
mkdir -p "$T/samples2"
"$SHELF_TG" --seed 4 "$T/samples2/b.wav"
expect 0 "import more" "$SHELF" import "$T/samples2"
expect 0 "backup init on the s3 remote by name" env SHELF_CREDENTIALS_PASSWORD="$CP" \
    SHELF_PASSWORD=repo-pw "$SHELF" backup init --kdf-cost 10 s3a
expect 0 "backup to it" env SHELF_CREDENTIALS_PASSWORD="$CP" SHELF_PASSWORD=repo-pw \
    "$SHELF" backup s3a
for s in "$SK" "$WP" "$AK" "$CP"; do
    check "no '${s%%-*}...' in any byte of the library" \
        "$(grep -r -a -l -F -- "$s" "$SHELF_LIBRARY" "$T/usb" "$R" "$T/s3rver/shelf" | wc -l)" = 0
done

# ---- rm ----
expect 3 "rm unknown" "$SHELF" remote rm nosuch
expect 0 "rm s3a" env SHELF_CREDENTIALS_PASSWORD="$CP" "$SHELF" --json remote rm s3a
check "rm json" "$(json 'j["removed"]')" = True
expect 0 "ls after rm" "$SHELF" --json remote ls
check "ls: two left" "$(json '",".join(r["name"] for r in j)')" = "nas,usb"
expect 0 "rm usb" "$SHELF" remote rm usb
expect 0 "rm nas" env SHELF_CREDENTIALS_PASSWORD="$CP" "$SHELF" remote rm nas
# re-adding s3a finds no old secret: the file holds only what is new
expect 0 "add s3a again" env AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK \
    SHELF_CREDENTIALS_PASSWORD="$CP" setsid -w "$SHELF" remote add s3a \
    "$S3/b" --store-secret file </dev/null
check "credentials file still 0600" "$(stat -c %a "$C")" = 600
chmod 644 "$C"
expect 1 "a credentials file others can read is refused" env SHELF_CREDENTIALS_PASSWORD="$CP" \
    "$SHELF" remote rm s3a
contains "refusal says chmod" "$err" "chmod 600"
chmod 600 "$C"
expect 0 "rm s3a again" env SHELF_CREDENTIALS_PASSWORD="$CP" "$SHELF" remote rm s3a

# ---- the keyring, on a session bus of our own with an unlocked login keyring ----
cat >"$T/kr.sh" <<EOF
printf 'login password' | gnome-keyring-daemon --foreground --unlock --components=secrets >/dev/null 2>&1 &
k=\$!
for i in \$(seq 1 50); do
    dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \\
        org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null |
        grep -q "boolean true" && break
    sleep 0.1
done
AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK "$SHELF" --json remote add kr $S3/kr >"$T/kr.add" 2>&1
echo "add \$?"
"$SHELF" --json remote ls >"$T/kr.ls" 2>&1
secret-tool lookup remote kr >"$T/kr.lookup" 2>/dev/null
echo "lookup \$?"
"$SHELF" remote rm kr >/dev/null 2>&1
echo "rm \$?"
secret-tool lookup remote kr >/dev/null 2>&1
echo "lookup-after \$?"
kill \$k 2>/dev/null
wait \$k 2>/dev/null
EOF
rm -f "$R"
env HOME="$T/home" XDG_DATA_HOME="$T/kdata" dbus-run-session -- sh "$T/kr.sh" >"$T/kr.out" 2>"$T/kr.err"
kr=$(tr '\n' ' ' <"$T/kr.out")
check "keyring: add (auto picks the keyring)" "$(echo "$kr" | grep -c 'add 0')" = 1
out=$(cat "$T/kr.ls")
check "keyring: ls says keyring" "$(json 'j[0]["secret"]' 2>/dev/null)" = keyring
check "keyring: the item holds the secret" "$(grep -c -- "secret_key=$SK" "$T/kr.lookup")" = 1
check "keyring: rm 0" "$(echo "$kr" | grep -c 'rm 0')" = 1
check "keyring: rm deleted the item" "$(echo "$kr" | grep -c 'lookup-after 1')" = 1
check "keyring: remotes.json holds no secret" "$(grep -c -- "$SK" "$R")" = 0


# ---- an unreachable server: remote add answers at once (one attempt, no retries) ----
t0=$(date +%s%N)
expect 0 "add a remote whose server is down" env AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK \
    SHELF_CREDENTIALS_PASSWORD="$CP" setsid -w "$SHELF" remote add down s3:http://127.0.0.1:9/b \
    --store-secret file
took=$(( ($(date +%s%N) - t0) / 1000000 ))
check "down: answered in under 5 s (no retries; was 14 s)" "$took" -lt 5000
contains "down: space unknown, saying why" "$out" "space: unknown (127.0.0.1"
check "down: that is one line" "$(printf '%s\n' "$out" | grep -c 'space: unknown')" = 1
expect 0 "rm down" env SHELF_CREDENTIALS_PASSWORD="$CP" "$SHELF" remote rm down

# ---- a named remote's ca_file reaches remote test and remote terms ----
# Apache over https with a certificate from a CA made for the test: only
# the remote's ca_file makes it trusted.
mkdir -p "$T/apache"
if SHELF_SERVER_OWNER=$$ sh "$SRV/apache.sh" start "$T/apache" https >"$T/apache.out" 2>"$T/apache.err"; then
    read -r _ APORT AUSER APASS ACA <"$T/apache.out"
    expect 0 "add the https remote with its CA" env SHELF_WEBDAV_USER="$AUSER" \
        SHELF_WEBDAV_PASSWORD="$APASS" SHELF_CREDENTIALS_PASSWORD="$CP" setsid -w "$SHELF" \
        remote add dav "webdav:https://127.0.0.1:$APORT/" --ca-file "$ACA" --store-secret file
    expect 0 "add it again without the CA" env SHELF_WEBDAV_USER="$AUSER" \
        SHELF_WEBDAV_PASSWORD="$APASS" SHELF_CREDENTIALS_PASSWORD="$CP" setsid -w "$SHELF" \
        remote add davnoca "webdav:https://127.0.0.1:$APORT/" --store-secret file
    expect 0 "remote test uses the remote's ca_file" env SHELF_CREDENTIALS_PASSWORD="$CP" \
        "$SHELF" --json remote test dav
    check "https round trip ok" "$(json 'j["ok"]')" = True
    expect 0 "remote terms uses the remote's ca_file" env SHELF_CREDENTIALS_PASSWORD="$CP" \
        "$SHELF" --json remote terms dav
    check "terms: no certificate error" "$(json '"certificate" in j.get("space_error", "")')" = False
    expect 1 "without the CA the certificate is refused" env SHELF_CREDENTIALS_PASSWORD="$CP" \
        "$SHELF" remote test davnoca
    contains "the refusal names the host" "$err" "127.0.0.1:$APORT"
    contains "the refusal says certificate" "$err" "certificate verification failed"
    expect 0 "terms without the CA" env SHELF_CREDENTIALS_PASSWORD="$CP" \
        "$SHELF" --json remote terms davnoca
    check "terms without the CA: the certificate failed" \
        "$(json '"certificate" in j["space_error"]')" = True
    sh "$SRV/apache.sh" stop "$T/apache" >/dev/null 2>&1
else
    fail "apache did not start: $(cat "$T/apache.err")"
fi

finish
