# dav_common.sh: what apache.sh and lighttpd.sh share (sourced, not run):
# a free port, a CA and a server certificate for 127.0.0.1, an htpasswd
# file with a random password, and waiting for a server to answer.

die() { echo "${0##*/}: $*" >&2; exit 1; }

free_port() {
    /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# dav_make_certs DIR USER: DIR/ca.pem (the CA the client trusts),
# DIR/server.pem and DIR/server.key (for 127.0.0.1 and localhost, signed by
# the CA), and DIR/htpasswd for USER with a random password (printed).
dav_make_certs() {
    make_certs "$1"
    make_htpasswd "$1/htpasswd" "$2"
}

# make_certs DIR: the certificates of dav_make_certs.
make_certs() {
    d=$1
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=shelf test CA" \
        -keyout "$d/ca.key" -out "$d/ca.pem" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" >/dev/null 2>&1 ||
        die "cannot make the test CA"
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
        -keyout "$d/server.key" -out "$d/server.csr" >/dev/null 2>&1 ||
        die "cannot make the server key"
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
        >"$d/server.ext"
    openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
        -CAcreateserial -days 2 -extfile "$d/server.ext" -out "$d/server.pem" >/dev/null 2>&1 ||
        die "cannot sign the server certificate"
    cat "$d/server.pem" "$d/server.key" >"$d/server-both.pem"
    chmod 600 "$d/server.key" "$d/server-both.pem" "$d/ca.key"
}

# make_bad_certs DIR (after make_certs): certificates a client must refuse,
# all with DIR/server.key: DIR/expired.pem (from the CA, for 127.0.0.1, its
# notAfter a day before its notBefore: "-days -1"), DIR/wronghost.pem (from
# the CA, for wrong.example only) and DIR/selfsigned.pem (for 127.0.0.1,
# signed by itself).
make_bad_certs() {
    d=$1
    openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
        -CAcreateserial -days -1 -extfile "$d/server.ext" -out "$d/expired.pem" >/dev/null 2>&1 ||
        die "cannot sign the expired certificate"
    printf 'subjectAltName=DNS:wrong.example\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
        >"$d/wronghost.ext"
    openssl req -new -key "$d/server.key" -subj "/CN=wrong.example" -out "$d/wronghost.csr" \
        >/dev/null 2>&1 || die "cannot make the wrong-host request"
    openssl x509 -req -in "$d/wronghost.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
        -CAcreateserial -days 2 -extfile "$d/wronghost.ext" -out "$d/wronghost.pem" >/dev/null 2>&1 ||
        die "cannot sign the wrong-host certificate"
    openssl req -x509 -key "$d/server.key" -days 2 -subj "/CN=127.0.0.1" \
        -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" -out "$d/selfsigned.pem" \
        >/dev/null 2>&1 || die "cannot make the self-signed certificate"
}

# make_htpasswd FILE USER: a random password (printed) in an APR1-MD5
# htpasswd file (cheap to check on every request, unlike bcrypt).
make_htpasswd() {
    pw=$(openssl rand -hex 12)
    hash=$(printf '%s' "$pw" | openssl passwd -apr1 -stdin) || die "cannot hash the password"
    printf '%s:%s\n' "$2" "$hash" >"$1"
    chmod 644 "$1"
    echo "$pw"
}

# dav_run NAME PIDFILE SCHEME DIR WRITE_CONF CMD...: start a daemon on a
# fresh free port ($port, for WRITE_CONF, a function that writes its
# config) with CMD, until it answers within 10 s (5 tries; a taken port is
# tried again), then stop it with its test (watch_owner).
dav_run() {
    name=$1 pidf=$2 scheme=$3 d=$4 conf=$5
    shift 5
    tries=0
    while :; do
        port=$(free_port)
        "$conf"
        rm -f "$pidf"
        if "$@" 2>"$d/log/start.log" &&
            wait_http 10 "$scheme://127.0.0.1:$port/" "$d/ca.pem"; then
            break
        fi
        kill_pidfile "$pidf"
        tries=$((tries + 1))
        [ $tries -lt 5 ] || die "$name did not start: $(cat "$d/log/start.log" "$d/log/error.log" 2>/dev/null | tail -3)"
    done
    watch_owner "$pidf"
}

# wait_http SECONDS URL CAFILE: until the server answers anything at all.
wait_http() {
    n=$(($1 * 10))
    while [ $n -gt 0 ]; do
        code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$3" "$2" 2>/dev/null || true)
        case "$code" in 000|'') ;; *) return 0 ;; esac
        sleep 0.1
        n=$((n - 1))
    done
    return 1
}

# A daemon that drops to another user needs to reach DIR: make DIR's
# ancestors searchable (x only) by others.
open_path() {
    p=$1
    while [ "$p" != "/" ] && [ -n "$p" ]; do
        chmod o+x "$p" 2>/dev/null || true
        p=$(dirname "$p")
    done
}

# kill_pidfile FILE: TERM the daemon, wait up to 5 s, then KILL it.
kill_pidfile() {
    [ -f "$1" ] || return 0
    p=$(cat "$1" 2>/dev/null || true)
    case "$p" in ''|*[!0-9]*) return 0 ;; esac
    kill "$p" 2>/dev/null || return 0
    i=0
    while kill -0 "$p" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    kill -9 "$p" 2>/dev/null || true
}

# watch_owner PIDFILE: when SHELF_SERVER_OWNER names a process (the test
# that started the server), stop the server once that process is gone, so
# a test killed by a timeout leaves no daemon behind.
watch_owner() {
    owner=${SHELF_SERVER_OWNER:-}
    case "$owner" in ''|*[!0-9]*) return 0 ;; esac
    (
        while kill -0 "$owner" 2>/dev/null && [ -f "$1" ]; do sleep 1; done
        kill_pidfile "$1"
    ) </dev/null >/dev/null 2>&1 &
}
