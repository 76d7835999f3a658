#!/bin/sh
# apache.sh: Apache httpd (Debian apache2) with mod_dav_fs for the tests and
# benchmarks, on 127.0.0.1, everything under one folder the caller gives.
#
#   apache.sh start DIR [https|http]   prints "ready PORT USER PASSWORD CAFILE"
#   apache.sh start DIR https badcerts as above, and also listens on three
#                                      more ports whose certificates a client
#                                      must refuse (dav_common.sh's
#                                      make_bad_certs); DIR/badcert-ports
#                                      holds "expired PORT", "wronghost PORT"
#                                      and "selfsigned PORT" lines
#   apache.sh stop DIR                 stops the server (DIR is left)
#
# WebDAV at "/" (files in DIR/data), Basic auth against DIR/htpasswd (user
# "shelf", a random password), HTTPS (default) with a certificate for
# 127.0.0.1 signed by a CA made here (CAFILE, DIR/ca.pem, for the client's
# ca_file), mpm_event, on a random free port (tried again when taken).  No
# request body limit (LimitRequestBody 0).  As root the workers run as
# nobody, who owns DIR/data and DIR/lock.  With SHELF_SERVER_OWNER=PID
# the server stops by itself once that process is gone.
set -eu
. "$(dirname "$0")/dav_common.sh"

MODS=/usr/lib/apache2/modules

start() {
    d=$1 scheme=${2:-https} bad=${3:-}
    [ -x /usr/sbin/apache2 ] || die "apache2 is not installed"
    mkdir -p "$d/data" "$d/lock" "$d/run" "$d/log"
    d=$(cd "$d" && pwd)
    pw=$(dav_make_certs "$d" shelf)
    [ "$bad" != badcerts ] || [ "$scheme" != https ] || make_bad_certs "$d"
    userline=""
    if [ "$(id -u)" = 0 ]; then
        open_path "$d"
        chmod 755 "$d" "$d/run" "$d/log"
        chown -R nobody:nogroup "$d/data" "$d/lock"
        userline="User nobody
Group nogroup"
    fi
    ssl=""
    if [ "$scheme" = https ]; then
        ssl="LoadModule ssl_module $MODS/mod_ssl.so
LoadModule socache_shmcb_module $MODS/mod_socache_shmcb.so
SSLEngine on
SSLCertificateFile $d/server.pem
SSLCertificateKeyFile $d/server.key
SSLSessionCache shmcb:$d/run/ssl_scache(512000)
SSLRandomSeed startup builtin"
    fi
    dav_run apache2 "$d/run/httpd.pid" "$scheme" "$d" write_conf /usr/sbin/apache2 -f "$d/httpd.conf" -k start
    printf '%s' "$ports" >"$d/badcert-ports"
    echo "ready $port shelf $pw $d/ca.pem"
}

# The config for $port (dav_run calls it before each try); with badcerts,
# three more ports whose certificates a client must refuse ($ports lists them).
write_conf() {
    vhosts="" ports=""
    if [ "$bad" = badcerts ] && [ "$scheme" = https ]; then
        for c in expired wronghost selfsigned; do
            p=$(free_port)
            ports="$ports$c $p
"
            vhosts="$vhosts
Listen 127.0.0.1:$p
<VirtualHost 127.0.0.1:$p>
SSLEngine on
SSLCertificateFile $d/$c.pem
SSLCertificateKeyFile $d/server.key
</VirtualHost>"
        done
    fi
    cat >"$d/httpd.conf" <<CONF
ServerRoot "$d"
ServerName 127.0.0.1
Listen 127.0.0.1:$port
PidFile "$d/run/httpd.pid"
DefaultRuntimeDir "$d/run"
ErrorLog "$d/log/error.log"
LogLevel warn
$userline
LoadModule mpm_event_module $MODS/mod_mpm_event.so
LoadModule authn_core_module $MODS/mod_authn_core.so
LoadModule authn_file_module $MODS/mod_authn_file.so
LoadModule authz_core_module $MODS/mod_authz_core.so
LoadModule authz_user_module $MODS/mod_authz_user.so
LoadModule auth_basic_module $MODS/mod_auth_basic.so
LoadModule dav_module $MODS/mod_dav.so
LoadModule dav_fs_module $MODS/mod_dav_fs.so
$ssl
StartServers 1
ServerLimit 4
ThreadsPerChild 16
MaxRequestWorkers 64
KeepAlive On
MaxKeepAliveRequests 0
KeepAliveTimeout 30
Timeout 60
LimitRequestBody 0
DavLockDB "$d/lock/DavLock"
DocumentRoot "$d/data"
<Directory "$d/data">
    Dav On
    AuthType Basic
    AuthName "shelf test"
    AuthBasicProvider file
    AuthUserFile "$d/htpasswd"
    Require valid-user
</Directory>
$vhosts
CONF
}

case "${1:-}" in
start) [ $# -ge 2 ] || die "usage: apache.sh start DIR [https|http] [badcerts]"; start "$2" "${3:-https}" "${4:-}" ;;
stop) [ $# -ge 2 ] || die "usage: apache.sh stop DIR"; kill_pidfile "$2/run/httpd.pid" ;;
*) die "usage: apache.sh start|stop DIR" ;;
esac
