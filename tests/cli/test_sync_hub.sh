# test_sync_hub.sh: shelf sync push, pull and sync HUB between shelf
# processes that never meet, through a folder (a USB stick), S3 (s3rver,
# which checks signatures) and WebDAV (lighttpd's mod_webdav): tags and
# ratings made on two devices arrive on both, and a managed sample's row
# and copy (byte for byte); sync status shows the hub;
# a segment changed on the hub is refused with one line and nothing
# changes; the folder of a device not paired here is ignored; bad hubs
# are one line with their exit status; the library key reaches a device
# paired the Syncthing way through the hub (wrapped for it).
. "$(dirname "$0")/lib.sh"

SRV="$SHELF_SRC/tests/servers"
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
unset AWS_SESSION_TOKEN AWS_PROFILE SHELF_WEBDAV_USER SHELF_WEBDAV_PASSWORD
export HOME="$T/home" XDG_CONFIG_HOME="$T/cfg"
mkdir -p "$HOME"

S="$T/samples 舞台"
mkdir -p "$S"
"$SHELF_TG" --frames 441 "$S/kick é.wav"
"$SHELF_TG" --frames 882 "$S/snare 🥁.wav"
"$SHELF_TG" --frames 1323 "$S/$(printf 'hat \377').wav"
A="$T/stage"
B="$T/laptop é"
C="$T/stranger"
for L in "$A" "$B" "$C"; do
    "$SHELF" -L "$L" init >/dev/null && "$SHELF" -L "$L" import "$S" >/dev/null || fail "set up $L"
done
IDA=$("$SHELF" -q -L "$A" device id)
IDB=$("$SHELF" -q -L "$B" device id)
expect 0 "stage pairs with the laptop" "$SHELF" -L "$A" device add "$IDB" --name laptop
expect 0 "the laptop pairs with stage" "$SHELF" -L "$B" device add "$IDA" --name stage

# The library key: stage's first push makes it; the laptop, paired the
# Syncthing way, gets it through the hub: its first pull cannot read
# stage's segments but publishes its key-exchange key; stage's next push
# wraps the key for it; its next pull takes it.
W="$T/warm-up"
expect 0 "the first push makes the library key" "$SHELF" -L "$A" sync push "$W"
expect 1 "the laptop cannot read it yet" "$SHELF" -L "$B" sync pull "$W"
contains "and says what happens next" "$err" "wraps it for this one at its next push"
expect 0 "stage wraps the key for the laptop" "$SHELF" -L "$A" --json sync push "$W"
check "json: one key wrapped" "$(json 'j["push"]["keys_out"]')" = 1
expect 0 "the laptop takes it" "$SHELF" -L "$B" --json sync pull "$W"
check "json: one key unwrapped, stage's records read" "$(json 'j["pull"]["keys_in"] == 1 and j["pull"]["pulled"] > 0')" = True

state() {
    "$SHELF" -L "$1" --json ls | python3 -c '
import json, sys
for r in sorted(json.load(sys.stdin), key=lambda r: r["name"]):
    print(r["name"], ",".join(sorted(r["tags"])), r["rating"], r["favourite"])'
}

hubs="dir"
if start_s3rver; then
    hubs="$hubs s3"
else
    fail "s3rver is not installed (scripts/install-deps installs it)"
fi
LT="$T/lighttpd"
trap 's3rver_stop; sh "$SRV/lighttpd.sh" stop "$LT" >/dev/null 2>&1; rm -rf "$T"' EXIT
if ready=$(SHELF_SERVER_OWNER=$$ sh "$SRV/lighttpd.sh" start "$LT" http 2>"$T/lighttpd.err"); then
    set -- $ready
    LPORT=$2
    export SHELF_WEBDAV_USER=$3 SHELF_WEBDAV_PASSWORD=$4
    hubs="$hubs webdav"
else
    fail "lighttpd did not start: $(head -3 "$T/lighttpd.err")"
fi

n=0
for k in $hubs; do
    n=$((n + 1))
    P="[$k]"
    case $k in
    dir) H="$T/stick 🎹" ;;
    s3) H="$S3/hub" ;;
    webdav) H="webdav:http://127.0.0.1:$LPORT/hub" ;;
    esac
    expect 0 "$P tag on stage" "$SHELF" -L "$A" tag add "$(sample_id "$A" kick)" "live$n"
    expect 0 "$P stage pushes" "$SHELF" -L "$A" --json sync push "$H"
    check "$P json: records and one segment" "$(json 'j["push"]["pushed"] > 0 and j["push"]["segments_out"] == 1')" = True
    expect 0 "$P the laptop pulls and pushes" "$SHELF" -L "$B" --json sync "$H"
    check "$P json: stage's records applied" "$(json 'j["pull"]["devices"] == 1 and j["pull"]["applied"] >= 1')" = True
    contains "$P the tag arrived" "$(state "$B")" "live$n"
    expect 0 "$P rating on the laptop" "$SHELF" -L "$B" rate "$(sample_id "$B" snare)" $((n + 1))
    expect 0 "$P the laptop pushes" "$SHELF" -L "$B" sync push "$H"
    contains "$P says what it did" "$out" "pushed "
    expect 0 "$P stage pulls" "$SHELF" -L "$A" sync pull "$H"
    contains "$P says what it did" "$out" "pulled "
    check "$P both hold the same" "$(state "$A")" = "$(state "$B")"
    contains "$P the rating arrived" "$(state "$A")" "snare 🥁  $((n + 1))"
    # a managed sample new on stage: its row and its copy reach the laptop
    mkdir -p "$T/new $n"
    "$SHELF_TG" --frames $((2000 + n)) "$T/new $n/pad $n $(printf '\377').wav"
    expect 0 "$P stage imports a copy" "$SHELF" -L "$A" import --copy "$T/new $n"
    expect 0 "$P stage pushes it" "$SHELF" -L "$A" --json sync push "$H"
    check "$P json: one sample file written" "$(json 'j["push"]["files_out"]')" = 1
    expect 0 "$P the laptop pulls it" "$SHELF" -L "$B" --json sync pull "$H"
    check "$P json: one sample file read" "$(json 'j["pull"]["files_in"]')" = 1
    sha=$("$SHELF" -L "$A" --json ls | python3 -c '
import json, sys
print([r["sha256"] for r in json.load(sys.stdin) if r["name"].startswith("pad %d" % int(sys.argv[1]))][0])' "$n")
    cmp -s "$T/new $n/pad $n $(printf '\377').wav" "$B/objects/${sha:0:2}/${sha:2:2}/$sha" &&
        ok "$P the copy is byte for byte" || fail "$P the laptop's copy differs or is not there"
    expect 0 "$P the laptop pushes its records" "$SHELF" -L "$B" sync push "$H"
    expect 0 "$P stage takes them" "$SHELF" -L "$A" sync pull "$H"
    expect 0 "$P nothing new" "$SHELF" -L "$A" --json sync "$H"
    check "$P json: nothing read or written" "$(json 'j["pull"]["pulled"] + j["push"]["pushed"]')" = 0
    expect 0 "$P sync status" "$SHELF" -L "$A" --json sync status
    check "$P the hub with nothing waiting" "$(printf '%s' "$out" | python3 -c '
import json, sys
j = json.load(sys.stdin)
print([h["waiting"] for h in j["hubs"] if h["target"] == sys.argv[1]] == [0])' "$H")" = True
done

# A device not paired here pushes to the stick: ignored.
H="$T/stick 🎹"
expect 0 "a stranger pushes" "$SHELF" -L "$C" sync push "$H"
expect 0 "stage pulls" "$SHELF" -L "$A" --json sync pull "$H"
check "json: one folder ignored" "$(json 'j["pull"]["strangers"]')" = 1

# A segment changed on the hub: refused, nothing applied.
expect 0 "tag on stage" "$SHELF" -L "$A" tag add "$(sample_id "$A" hat)" tampered
expect 0 "stage pushes" "$SHELF" -L "$A" sync push "$H"
SEG=$(ls "$H/devices/$IDA/log/" | sort | tail -1)
python3 - "$H/devices/$IDA/log/$SEG" <<'EOF'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[len(b) // 2] ^= 1
open(p, "wb").write(bytes(b))
EOF
before=$(state "$B")
expect 1 "a changed segment is refused" "$SHELF" -L "$B" sync pull "$H"
contains "one line that says why" "$err" "is not signed by its device"
check "one line" "$(printf '%s\n' "$err" | wc -l)" = 1
check "nothing changed" "$(state "$B")" = "$before"
expect 0 "sync status shows the error" "$SHELF" -L "$B" sync status
contains "last error" "$out" "last error: hub object"

expect 2 "a bad --max-delete" "$SHELF" -L "$A" sync pull "$H" --max-delete 0
contains "says why" "$err" "invalid --max-delete '0'"
expect 0 "--max-delete in range" "$SHELF" -L "$A" sync pull "$H" --max-delete 100
expect 2 "a hub of an unknown kind" "$SHELF" -L "$A" sync pull "ftp://example.com/x"
check "one line" "$(printf '%s\n' "$err" | wc -l)" = 1
expect 3 "a hub folder that is not there" "$SHELF" -L "$A" sync pull "$T/nowhere"
check "one line" "$(printf '%s\n' "$err" | wc -l)" = 1
finish
