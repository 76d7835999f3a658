# test_sync_lan.sh: two devices on two hosts of their own (network
# namespaces joined by a veth pair, made here; CI runs as root):
# - a listening device announces itself and `sync discover` on the other
#   host hears it; `sync DEVICE` with no address known finds it that way;
# - `--no-announce` keeps it quiet;
# - a partition (the link down): the sync fails with one line, nothing
#   changes, work goes on offline, and after the link is back one sync
#   converges both;
# - a link that drops for two seconds in the middle of a large exchange:
#   the exchange rides it out (TCP), both converge.
# Loss and delay (tc netem): test_sync_netem.sh.
. "$(dirname "$0")/lib.sh"

cleanup() {
    bg_stop
    netns_stop
    rm -rf "$T"
}
trap cleanup EXIT
netns_pair || { fail "cannot make the two hosts (ip netns, veth)"; finish; }

S="$T/samples 舞台"
mkdir -p "$S"
"$SHELF_TG" --frames 441 "$S/kick é.wav"
"$SHELF_TG" --frames 882 "$S/snare 🥁.wav"
A="$T/stage" B="$T/laptop é"
for L in "$A" "$B"; do
    "$SHELF" -L "$L" init >/dev/null && "$SHELF" -L "$L" import "$S" >/dev/null || fail "set up $L"
done
"$SHELF" -L "$A" device name stage >/dev/null
IDA=$("$SHELF" -q -L "$A" device id)
IDB=$("$SHELF" -q -L "$B" device id)
"$SHELF" -L "$A" device add "$IDB" --name laptop >/dev/null
"$SHELF" -L "$B" device add "$IDA" --name stage >/dev/null

# held LIB: the version vector as "device=count ..."
held() {
    "$SHELF" -L "$1" --json sync status | python3 -c '
import json, sys
print(" ".join("%s=%d" % (d["device"], d["changes"]) for d in json.load(sys.stdin)["devices"]))'
}
# listen ARGS...: stage listens on its host; $LPID, $LPORT
listen() { sync_listen inA "$A" --address 0.0.0.0:0 --announce-interval 0.5 "$@"; }

# ---- discovery ----
listen --no-announce
expect 0 "a quiet listener is not heard" inB "$SHELF" -L "$B" sync discover --timeout 1.5
contains "says so" "$out" "no device heard"
bg_stop
listen
expect 0 "discover from the other host" inB "$SHELF" -L "$B" --json sync discover --timeout 2
check "stage is heard, paired, at its address" \
    "$(json '[(d["name"], d["paired"], d["address"]) for d in j]')" = \
    "[('stage', True, '$NET.1:$LPORT')]"
expect 0 "tag on stage" "$SHELF" -L "$A" tag add "$(sample_id "$A" kick)" live
expect 0 "sync by name with no address known: found by its announcement" \
    inB "$SHELF" -L "$B" --json sync stage
check "json: the peer is stage" "$(json 'j["peer"]')" = "$IDA"
contains "the tag arrived" "$("$SHELF" -L "$B" --json ls)" '"live"'
expect 0 "the address is kept" "$SHELF" -L "$B" --json device ls
contains "at stage's host" "$out" "\"$NET.1:$LPORT\""

# ---- a partition ----
inA ip link set "$VA" down
expect 0 "the laptop works offline" "$SHELF" -L "$B" tag add "$(sample_id "$B" snare)" offline
before_a=$(held "$A") before_b=$(held "$B")
expect 1 "sync across the partition fails" inB "$SHELF" -L "$B" sync stage
check "one line" "$(printf '%s\n' "$err" | wc -l)" = 1
contains "that says so" "$err" "cannot connect"
check "stage unchanged" "$(held "$A")" = "$before_a"
check "the laptop unchanged" "$(held "$B")" = "$before_b"
inA ip link set "$VA" up
sleep 1
expect 0 "after the partition, one sync" inB "$SHELF" -L "$B" --json sync stage
check "both hold the same" "$(held "$A")" = "$(held "$B")"
contains "the offline tag arrived" "$("$SHELF" -L "$A" --json ls)" '"offline"'

# ---- a link that drops in the middle of a large exchange ----
if command -v sqlite3 >/dev/null; then
    bulk_samples "$A/shelf.db" 4000 || fail "bulk rows"
    "$SHELF" -L "$A" -q sync status >/dev/null
    inB "$SHELF" -L "$B" --json sync stage >"$T/bulk.out" 2>"$T/bulk.err" &
    SPID=$!
    sleep 0.3
    if kill -0 "$SPID" 2>/dev/null; then
        inA ip link set "$VA" down
        sleep 2
        inA ip link set "$VA" up
        wait "$SPID"
        st=$?
        check "the exchange rode out a 2 s drop" "$st" = 0
        [ "$st" = 0 ] || { sed 's/^/    bulk: /' "$T/bulk.err"; sed 's/^/    stage: /' "$T/listen.err"; } >&2
        check "both hold the same" "$(held "$A")" = "$(held "$B")"
        # frames are compressed (a record is about 650 bytes of JSON)
        check "compressed: under 200 bytes a record" "$(python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
print(j["received"] >= 4000 and j["bytes_in"] < 200 * j["received"])' "$T/bulk.out")" = True
    else
        wait "$SPID"
        skip "drop mid-exchange" "the exchange ended within 0.3 s, before the link went down"
    fi
else
    fail "sqlite3 is not installed (scripts/install-deps installs it)"
fi

finish
