# test_remote_tls.sh: TLS from the command line against Apache httpd
# (tests/servers/apache.sh with its "badcerts" ports).  --ca-file with the
# test's private CA carries backup init, backup, list, check --read-data and
# restore --to end to end over https; without it, and against an expired, a
# wrong-host and a self-signed certificate, every command fails with exit
# status 1 ("failed", README's exit statuses) and one line that names the
# host and port and says why; nothing is written on the server.
. "$(dirname "$0")/lib.sh"

SRV="$SHELF_SRC/tests/servers"
[ -x /usr/sbin/apache2 ] || { echo "skipped: apache2 is not installed (scripts/install-deps)"; exit 77; }
command -v openssl >/dev/null || { echo "skipped: openssl is not installed"; exit 77; }
export SHELF_PASSWORD="tls pw"
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY SHELF_WEBDAV_USER SHELF_WEBDAV_PASSWORD
export HOME="$T/home"
mkdir -p "$HOME"

A="$T/apache"
trap 'sh "$SRV/apache.sh" stop "$A" >/dev/null 2>&1; chmod -R u+w "$T" 2>/dev/null; rm -rf "$T"' EXIT
ready=$(SHELF_SERVER_OWNER=$$ sh "$SRV/apache.sh" start "$A" https badcerts) || {
    fail "apache.sh start"
    finish
    exit 1
}
# "ready PORT USER PASSWORD CAFILE"
set -- $ready
PORT=$2
export SHELF_WEBDAV_USER=$3 SHELF_WEBDAV_PASSWORD=$4
CA=$5
check "apache started" "$1" = ready
port_of() { awk -v c="$1" '$1 == c { print $2 }' "$A/badcert-ports"; }
for c in expired wronghost selfsigned; do
    check "a port for the $c certificate" -n "$(port_of $c)"
done

S="$T/samples"
mkdir -p "$S"
for i in 1 2; do "$SHELF_TG" --seed "$i" "$S/tls $i $(printf '\xe9\x9f\xb3').wav"; done
expect 0 "library" "$SHELF" init
expect 0 "import" "$SHELF" import "$S"

# The private CA: everything works over https.
R="webdav:https://127.0.0.1:$PORT/repo"
expect 0 "init --ca-file" "$SHELF" backup init --kdf-cost 10 --ca-file "$CA" "$R"
expect 0 "backup --ca-file" "$SHELF" --json backup --ca-file "$CA" "$R"
snap=$(json 'j["snapshot"]')
expect 0 "list --ca-file" "$SHELF" --json backup list --ca-file "$CA" "$R"
check "one snapshot" "$(json 'len(j)')" = 1
expect 0 "check --read-data --ca-file" "$SHELF" --json backup check --read-data --ca-file "$CA" "$R"
check "check found no problems" "$(json 'j["errors"]')" = 0
expect 0 "restore --ca-file" "$SHELF" restore --ca-file "$CA" "$R" "$snap" --to "$T/rt"
bad=0
for f in "$S"/*.wav; do cmp -s "$f" "$T/rt/files$f" || { bad=1; echo "    differs: $f" >&2; }; done
check "restored byte for byte over https" "$bad" = 0
check "the repository is on the server" -f "$A/data/repo/config"

# one_line NAME: stderr is exactly one line.
one_line() { check "$1: one line" "$(printf '%s\n' "$err" | wc -l)" = 1; }

# Without the CA the system's trust store does not know the server.
expect 1 "no --ca-file: refused" "$SHELF" backup list "$R"
one_line "no --ca-file"
contains "no --ca-file: names the host" "$err" "https://127.0.0.1:$PORT"
contains "no --ca-file: says why" "$err" "certificate verification failed: unable to get local issuer certificate"

# bad NAME PORT WHY: every command fails the same way against PORT.
bad() {
    local n=$1 p=$2 why=$3 r="webdav:https://127.0.0.1:$2/r$1"
    expect 1 "$n: init refused" "$SHELF" backup init --ca-file "$CA" "$r"
    one_line "$n: init"
    contains "$n: init names the host and port" "$err" "https://127.0.0.1:$p"
    contains "$n: init says why" "$err" "certificate verification failed: $why"
    printf '%s\n' "$err"
    check "$n: nothing made on the server" ! -e "$A/data/r$n"
    expect 1 "$n: backup refused" "$SHELF" backup --ca-file "$CA" "webdav:https://127.0.0.1:$p/repo"
    one_line "$n: backup"
    contains "$n: backup says why" "$err" "127.0.0.1:$p/repo: "
    contains "$n: backup says why" "$err" "certificate verification failed: $why"
    expect 1 "$n: restore refused" "$SHELF" restore --ca-file "$CA" "webdav:https://127.0.0.1:$p/repo" "$snap" --to "$T/rt-$n"
    one_line "$n: restore"
    contains "$n: restore says why" "$err" "certificate verification failed: $why"
    check "$n: nothing restored" ! -e "$T/rt-$n/files"
}
bad expired "$(port_of expired)" "certificate has expired"
bad wronghost "$(port_of wronghost)" "certificate is for another host name"
bad selfsigned "$(port_of selfsigned)" "self-signed certificate"
expect 0 "the repository is unchanged" "$SHELF" --json backup list --ca-file "$CA" "$R"
check "still one snapshot" "$(json 'len(j)')" = 1

# A --ca-file that is not there or not a certificate.
expect 1 "missing --ca-file" "$SHELF" backup list --ca-file "$T/nonexistent.pem" "$R"
one_line "missing --ca-file"
contains "missing --ca-file: names it" "$err" "$T/nonexistent.pem"
printf 'not a certificate\n' >"$T/junk.pem"
expect 1 "junk --ca-file" "$SHELF" backup list --ca-file "$T/junk.pem" "$R"
one_line "junk --ca-file"
contains "junk --ca-file: names the host" "$err" "https://127.0.0.1:$PORT"

finish
