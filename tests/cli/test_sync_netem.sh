# test_sync_netem.sh: a sync between two hosts of their own (network
# namespaces, lib.sh's netns_pair) through a link that loses 10% of its
# packets and delays each by 20 ms (tc netem): it completes and both
# converge.  Skipped where the kernel has no sch_netem.
. "$(dirname "$0")/lib.sh"

cleanup() {
    bg_stop
    netns_stop
    rm -rf "$T"
}
trap cleanup EXIT
netns_pair || { fail "cannot make the two hosts (ip netns, veth)"; finish; }
if ! inA tc qdisc add dev "$VA" root netem loss 10% delay 20ms 2>"$T/tc.err"; then
    echo "skip: this kernel has no sch_netem ($(head -1 "$T/tc.err"))"
    exit 77
fi

S="$T/samples"
mkdir -p "$S"
for i in 1 2 3 4 5 6; do "$SHELF_TG" --seed "$i" "$S/s$i é.wav"; done
A="$T/stage" B="$T/laptop"
for L in "$A" "$B"; do
    "$SHELF" -L "$L" init >/dev/null && "$SHELF" -L "$L" import "$S" >/dev/null || fail "set up $L"
done
"$SHELF" -L "$A" device add "$("$SHELF" -q -L "$B" device id)" --name laptop >/dev/null
"$SHELF" -L "$B" device add "$("$SHELF" -q -L "$A" device id)" --name stage >/dev/null
for i in 1 2 3; do "$SHELF" -L "$A" tag add "$i" "lossy$i" >/dev/null; done
"$SHELF" -L "$B" rate 4 5 >/dev/null
sync_listen inA "$A" --address "$NET.1:0" --once --no-announce
expect 0 "sync through 10% loss and 20 ms delay" inB "$SHELF" -L "$B" sync "$NET.1:$LPORT"
wait "$LPID"
check "the listener's side ended well" "$?" = 0
state() { "$SHELF" -L "$1" --json ls | python3 -c '
import json, sys
print(sorted((r["name"], sorted(r["tags"]), r["rating"]) for r in json.load(sys.stdin)))'; }
check "both hold the same" "$(state "$A")" = "$(state "$B")"
finish
