# test_sync_docs.sh: patch histories between shelf processes on 127.0.0.1
# (shelf sync listen / shelf sync ADDRESS): a patch named with an accent,
# an emoji and spaces made on one device arrives whole; the same value set
# on both devices is a conflict on both (shelf conflicts --json, exit 7);
# shelf patch merge on one device resolves it, and after the next exchange
# both show the same head and no conflict (exit 0); the history names the
# device that made a version (the library its hello said); a 3 MB patch (more
# than a frame's worth) travels whole, peer to peer and through a hub.
. "$(dirname "$0")/lib.sh"

A="$T/stage"
B="$T/laptop é"
for L in "$A" "$B"; do
    "$SHELF" -L "$L" init >/dev/null || fail "set up $L"
done
IDA=$("$SHELF" -q -L "$A" device id)
IDB=$("$SHELF" -q -L "$B" device id)
expect 0 "stage pairs with the laptop" "$SHELF" -L "$A" device add "$IDB"
expect 0 "the laptop pairs with stage" "$SHELF" -L "$B" device add "$IDA" --name stage


exchange() {
    sync_listen "$A" --address 127.0.0.1:0 --once
    expect 0 "$1" "$SHELF" -L "$B" --json sync "127.0.0.1:$LPORT"
    wait "$LPID" || fail "$1: the listener failed: $(cat "$T/listen.err")"
}

NAME="Pad é 🎹 warm"
cat >"$T/pad.json" <<JSON
{"shelf_patch":1,"name":"$NAME","params":{"cutoff":1000,"res":0.5}}
JSON
expect 0 "a patch on stage" "$SHELF" -L "$A" patch new --file "$T/pad.json"
PA=$("$SHELF" -L "$A" --json patch ls | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
exchange "first exchange"
expect 0 "the laptop lists it" "$SHELF" -L "$B" --json patch ls
check "its name arrived intact" "$(json 'j[0]["name"]')" = "$NAME"
PB=$(json 'j[0]["id"]')

# who made a version: the history names the paired device by the library
# its hello said (schema 16), this library as such
LIBA=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["library_id"])' "$A/config")
expect 0 "the laptop's devices" "$SHELF" -L "$B" --json device ls
check "stage's library id, as its hello said" "$(json 'j[0]["library"]')" = "$LIBA"
expect 0 "the laptop's history of the patch" "$SHELF" -L "$B" --json patch history "$PB"
check "made on stage: the device's name" "$(json 'j[0]["who"] + " " + j[0]["device"]')" = "stage $LIBA"
expect 0 "the same as text" "$SHELF" -L "$B" patch history "$PB"
contains "with the name in brackets" "$out" "[stage] "
expect 0 "stage's own history" "$SHELF" -L "$A" --json patch history "$PA"
check "made here: this library" "$(json 'j[0]["who"]')" = "this library"

expect 0 "cutoff on stage" "$SHELF" -L "$A" patch set "$PA" params/cutoff=1500
expect 0 "cutoff on the laptop" "$SHELF" -L "$B" patch set "$PB" params/cutoff=900
exchange "the edits cross"
expect 7 "a conflict on stage: exit 7" "$SHELF" -L "$A" --json conflicts
check "one conflict" "$(json 'len(j)')" = 1
check "its name" "$(json 'j[0]["name"]')" = "$NAME"
check "two heads" "$(json 'j[0]["head"] != j[0]["other"] and len(j[0]["other_vid"]) == 64')" = True
OTHER=$(json 'j[0]["other"]')
expect 7 "a conflict on the laptop too" "$SHELF" -L "$B" --json conflicts
check "the same heads on both" "$(json 'sorted([j[0]["head_vid"], j[0]["other_vid"]])')" = \
    "$("$SHELF" -L "$A" --json conflicts | python3 -c 'import json,sys; j=json.load(sys.stdin); print(sorted([j[0]["head_vid"], j[0]["other_vid"]]))')"
expect 0 "sync status counts it" "$SHELF" -L "$B" --json sync status
check "one open conflict" "$(json 'j["conflicts"]')" = 1

expect 0 "merged on stage" "$SHELF" -L "$A" patch merge "$PA" "$OTHER" --ours
expect 0 "no conflict on stage" "$SHELF" -L "$A" conflicts
contains "says so" "$out" "no conflicts"
exchange "the merge travels"
expect 0 "no conflict on the laptop" "$SHELF" -L "$B" --json conflicts
check "an empty list" "$(json 'len(j)')" = 0
expect 0 "stage's head" "$SHELF" -L "$A" --json patch show "$PA"
HA=$out
expect 0 "the laptop's head" "$SHELF" -L "$B" --json patch show "$PB"
check "the same document on both" "$out" = "$HA"
expect 2 "conflicts takes no argument" "$SHELF" -L "$A" conflicts x

# a large patch (3 MB of params: more than a frame of records) travels
# whole, peer to peer and through a hub
python3 - "$T/big.json" <<'EOF2'
import json, sys
params = {"p%05d" % i: "x" * 290 for i in range(10000)}
json.dump({"shelf_patch": 1, "name": "Big é", "params": params}, open(sys.argv[1], "w"))
EOF2
expect 0 "a large patch on stage" "$SHELF" -L "$A" --json patch new --file "$T/big.json"
PBIG=$(json 'j["id"]')
exchange "it travels"
expect 0 "the laptop has it" "$SHELF" -L "$B" --json patch ls
BIG=$(json '[p["id"] for p in j if p["name"] == "Big é"][0]')
expect 0 "whole" "$SHELF" -L "$B" --json patch show "$BIG"
check "every param" "$(json 'len(j["params"])')" = 10000
expect 0 "a change to it on the laptop" "$SHELF" -L "$B" patch set "$BIG" params/p00001=y
expect 0 "the laptop pushes to a hub (making the library key)" "$SHELF" -L "$B" sync push "$T/hub"
expect 1 "stage waits for the key" "$SHELF" -L "$A" sync pull "$T/hub"
expect 0 "the laptop wraps it for stage" "$SHELF" -L "$B" sync push "$T/hub"
expect 0 "stage pulls it" "$SHELF" -L "$A" --json sync pull "$T/hub"
expect 0 "stage's copy" "$SHELF" -L "$A" --json patch show "$PBIG"
check "has the change" "$(json 'j["params"]["p00001"]')" = y
finish
