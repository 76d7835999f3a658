#!/bin/sh
# lighttpd.sh: lighttpd with mod_webdav for the tests, on 127.0.0.1,
# everything under one folder the caller gives.
#
#   lighttpd.sh start DIR [https|http]   prints "ready PORT USER PASSWORD CAFILE"
#   lighttpd.sh stop DIR                 stops the server (DIR is left)
#
# WebDAV at "/" (files in DIR/data; properties and locks in an SQLite file
# under DIR/lock), Basic auth (mod_auth + mod_authn_file) against
# DIR/htpasswd (user "shelf", a random password), HTTPS (default, through
# mod_openssl) with a certificate for 127.0.0.1 signed by a CA made here
# (CAFILE), on a random free port (tried again when taken).  Needs Debian's
# lighttpd-mod-webdav (and lighttpd-mod-openssl for https).  With
# SHELF_SERVER_OWNER=PID the server stops by itself once that process is
# gone.
set -eu
. "$(dirname "$0")/dav_common.sh"

start() {
    d=$1 scheme=${2:-https}
    [ -x /usr/sbin/lighttpd ] || die "lighttpd is not installed"
    [ -f /usr/lib/lighttpd/mod_webdav.so ] || die "lighttpd's mod_webdav is not installed (lighttpd-mod-webdav)"
    mkdir -p "$d/data" "$d/lock" "$d/run" "$d/log" "$d/upload"
    d=$(cd "$d" && pwd)
    pw=$(dav_make_certs "$d" shelf)
    ssl=""
    if [ "$scheme" = https ]; then
        [ -f /usr/lib/lighttpd/mod_openssl.so ] || die "lighttpd's mod_openssl is not installed (lighttpd-mod-openssl)"
        ssl="server.modules += (\"mod_openssl\")
ssl.engine = \"enable\"
ssl.pemfile = \"$d/server.pem\"
ssl.privkey = \"$d/server.key\""
    fi
    dav_run lighttpd "$d/run/lighttpd.pid" "$scheme" "$d" write_conf /usr/sbin/lighttpd -f "$d/lighttpd.conf"
    echo "ready $port shelf $pw $d/ca.pem"
}

write_conf() {
    cat >"$d/lighttpd.conf" <<CONF
server.document-root = "$d/data"
server.bind = "127.0.0.1"
server.port = $port
server.pid-file = "$d/run/lighttpd.pid"
server.errorlog = "$d/log/error.log"
server.upload-dirs = ( "$d/upload" )
server.max-request-size = 0
server.modules = ( "mod_webdav", "mod_auth", "mod_authn_file" )
$ssl
webdav.activate = "enable"
webdav.is-readonly = "disable"
webdav.sqlite-db-name = "$d/lock/webdav.sqlite"
auth.backend = "htpasswd"
auth.backend.htpasswd.userfile = "$d/htpasswd"
auth.require = ( "" => ( "method" => "basic", "realm" => "shelf test", "require" => "valid-user" ) )
CONF
}

case "${1:-}" in
start) [ $# -ge 2 ] || die "usage: lighttpd.sh start DIR [https|http]"; start "$2" "${3:-https}" ;;
stop) [ $# -ge 2 ] || die "usage: lighttpd.sh stop DIR"; kill_pidfile "$2/run/lighttpd.pid" ;;
*) die "usage: lighttpd.sh start|stop DIR" ;;
esac
