# test_remote_matrix.sh: the backup round trip on every kind of remote:
# a folder, S3 (s3rver), WebDAV (Apache mod_dav_fs over https with the
# test's CA) and rclone (a "local" rclone remote, served by rclone serve
# webdav).  On each: full, incremental and differential backups; restore
# into a folder (byte for byte) and into the live library with each
# conflict policy (skip, overwrite, keep-both); check --read-data; forget
# and prune (the incremental goes; the differential keeps its full), then
# check and restore again.
. "$(dirname "$0")/lib.sh"

SRV="$SHELF_SRC/tests/servers"
export HOME="$T/home" XDG_CONFIG_HOME="$T/cfg" SHELF_PASSWORD="matrix pw"
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
unset AWS_SESSION_TOKEN AWS_PROFILE SHELF_WEBDAV_USER SHELF_WEBDAV_PASSWORD
mkdir -p "$HOME"

targets=""
targets="$targets dir"
if start_s3rver; then
    targets="$targets s3"
else
    skip "s3" "node or @20minutes/s3rver missing"
fi
A="$T/apache"
if [ -x /usr/sbin/apache2 ] && ready=$(SHELF_SERVER_OWNER=$$ sh "$SRV/apache.sh" start "$A" https); then
    set -- $ready
    APORT=$2
    export SHELF_WEBDAV_USER=$3 SHELF_WEBDAV_PASSWORD=$4
    CA=$5
    targets="$targets webdav"
else
    skip "webdav" "apache2 is not installed or did not start"
fi
if command -v rclone >/dev/null; then
    printf '[loc]\ntype = local\n' >"$T/rclone.conf"
    export RCLONE_CONFIG="$T/rclone.conf"
    targets="$targets rclone"
else
    skip "rclone" "rclone is not installed"
fi
trap 's3rver_stop; sh "$SRV/apache.sh" stop "$A" >/dev/null 2>&1; chmod -R u+w "$T" 2>/dev/null; rm -rf "$T"' EXIT

for k in $targets; do
    P="[$k]"
    net=""
    case $k in
    dir) R="$T/repo dir 🎹" ;;
    s3) R="$S3/matrix" ;;
    webdav) R="webdav:https://127.0.0.1:$APORT/matrix"; net="--ca-file $CA" ;;
    rclone) R="rclone:loc:$T/rclone repo" ;;
    esac
    L="$T/lib-$k"
    S="$T/samples-$k"
    mkdir -p "$S"
    for i in 1 2 3; do "$SHELF_TG" --seed "$i" "$S/s$i é.wav"; done
    export SHELF_LIBRARY="$L"
    expect 0 "$P init library" "$SHELF" init
    expect 0 "$P import" "$SHELF" import "$S"
    expect 0 "$P backup init" "$SHELF" backup init --kdf-cost 10 $net "$R"

    expect 0 "$P full" "$SHELF" --json backup --full $net "$R"
    FULL=$(json 'j["snapshot"]')
    cp "$S/s1 é.wav" "$T/s1-orig-$k.wav"
    "$SHELF_TG" --seed 11 --frames 7000 "$S/s1 é.wav"
    "$SHELF_TG" --seed 12 "$S/s4 新.wav"
    expect 0 "$P import changes" "$SHELF" import "$S"
    expect 0 "$P incremental" "$SHELF" --json backup --incremental $net "$R"
    "$SHELF_TG" --seed 13 --frames 8000 "$S/s2 é.wav"
    expect 0 "$P import more" "$SHELF" import "$S"
    expect 0 "$P differential" "$SHELF" --json backup --differential $net "$R"
    DIFF=$(json 'j["snapshot"]')
    expect 0 "$P list" "$SHELF" --json backup list $net "$R"
    check "$P three snapshots, one of each" "$(json '" ".join(s["strategy"] for s in j)')" = "full incremental differential"

    expect 0 "$P check --read-data" "$SHELF" --json backup check --read-data $net "$R"
    check "$P check: no problems" "$(json 'j["errors"]')" = 0

    # into a folder: the newest snapshot byte for byte
    expect 0 "$P restore --to" "$SHELF" restore $net "$R" "$DIFF" --to "$T/rt-$k"
    bad=0
    for f in "$S"/*.wav; do cmp -s "$f" "$T/rt-$k/files$f" || { bad=1; echo "    differs: $f" >&2; }; done
    check "$P restored byte for byte" "$bad" = 0

    # into the live library, from the full: s1 changed since, a conflict
    expect 0 "$P restore --on-conflict skip" "$SHELF" --json restore --on-conflict skip $net "$R" "$FULL"
    check "$P skip left the changed file" "$(cmp -s "$S/s1 é.wav" "$T/s1-orig-$k.wav" && echo same || echo changed)" = changed
    expect 0 "$P restore --on-conflict keep-both" "$SHELF" --json restore --on-conflict keep-both $net "$R" "$FULL"
    check "$P keep-both made a copy beside it" "$(ls "$S" | grep -c 'restored')" -ge 1
    expect 0 "$P restore --on-conflict overwrite" "$SHELF" --json restore --on-conflict overwrite $net "$R" "$FULL"
    check "$P overwrite put the full's bytes back" "$(cmp -s "$S/s1 é.wav" "$T/s1-orig-$k.wav" && echo same || echo changed)" = same

    # forget all but the newest, prune, and it still checks and restores
    expect 0 "$P forget --keep-last 1 --prune" "$SHELF" --json backup forget --keep-last 1 --prune $net "$R"
    expect 0 "$P list after prune" "$SHELF" --json backup list $net "$R"
    # the differential is kept, and the full it is restored from with it
    check "$P the differential and its full left" "$(json '" ".join(s["strategy"] for s in j)')" = "full differential"
    expect 0 "$P check --read-data after prune" "$SHELF" --json backup check --read-data $net "$R"
    check "$P check after prune: no problems" "$(json 'j["errors"]')" = 0
    expect 0 "$P restore after prune" "$SHELF" restore $net "$R" "$DIFF" --to "$T/rt2-$k"
    check "$P s2 after prune" "$(cmp -s "$T/rt-$k/files$S/s2 é.wav" "$T/rt2-$k/files$S/s2 é.wav" && echo same)" = same
done
check "every kind of remote ran" "$(echo $targets | wc -w)" -ge 1

finish
