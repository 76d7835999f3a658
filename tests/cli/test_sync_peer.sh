# test_sync_peer.sh: shelf sync listen and shelf sync DEVICE|ADDRESS between
# shelf processes on 127.0.0.1: tags, ratings and favourites made on two
# devices arrive on both (TLS 1.3, ids pinned); a device by its name at the
# address it was last reached; a stranger and a removed device refused on
# both sides with one line; a client killed with SIGKILL mid-exchange
# leaves both libraries whole and the next exchange completes it; a
# silent peer times out (--io-timeout), a busy one sends wait frames.
. "$(dirname "$0")/lib.sh"

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
"$SHELF" -L "$A" device name stage >/dev/null
"$SHELF" -L "$B" device name "laptop é" >/dev/null
IDA=$("$SHELF" -q -L "$A" device id)
IDB=$("$SHELF" -q -L "$B" device id)
IDC=$("$SHELF" -q -L "$C" device id)
expect 0 "stage pairs with the laptop" "$SHELF" -L "$A" device add "$IDB"
expect 0 "the laptop pairs with stage" "$SHELF" -L "$B" device add "$IDA" --name stage

# state LIB: "name tags rating favourite" per sample, sorted
state() {
    "$SHELF" -L "$1" --json ls | python3 -c '
import json, sys
for r in sorted(json.load(sys.stdin), key=lambda r: r["name"]):
    print(r["name"], ",".join(sorted(r["tags"])), r["rating"], r["favourite"])'
}

expect 0 "tag on stage" "$SHELF" -L "$A" tag add "$(sample_id "$A" kick)" live
expect 0 "rating on the laptop" "$SHELF" -L "$B" rate "$(sample_id "$B" snare)" 4
expect 0 "favourite on the laptop" "$SHELF" -L "$B" fav "$(sample_id "$B" hat)"

sync_listen "$A" --address 127.0.0.1:0 --once
expect 0 "the laptop syncs with stage" "$SHELF" -L "$B" --json sync "127.0.0.1:$LPORT"
check "json: the peer is stage" "$(json 'j["peer"]')" = "$IDA"
check "json: its name" "$(json 'j["peer_name"]')" = stage
check "json: records both ways" "$(json 'j["sent"] > 0 and j["received"] > 0 and j["applied"] >= 1')" = True
wait "$LPID"
check "the listener ends after one exchange, status 0" "$?" = 0
contains "the listener says with whom" "$(cat "$T/listen.out")" "synced with laptop é ("
check "both hold the same" "$(state "$A")" = "$(state "$B")"
contains "the tag arrived" "$(state "$B")" "kick é live 0"
contains "the rating arrived" "$(state "$A")" "snare 🥁  4"
contains "the favourite arrived" "$(state "$A")" "hat %FF  0 True"

# by name, at the address last reached: nothing new to send
sync_listen "$A" --address "127.0.0.1:$LPORT" --once
expect 0 "sync by device name" "$SHELF" -L "$B" --json sync stage
check "nothing new" "$(json 'j["applied"]')" = 0
wait "$LPID"
expect 0 "device ls knows the address" "$SHELF" -L "$B" --json device ls
check "address kept" "$(json 'j[0]["address"]')" = "127.0.0.1:$LPORT"

# a stranger is refused, on both sides (it knows stage; stage does not know it)
expect 0 "the stranger pairs with stage" "$SHELF" -L "$C" device add "$IDA"
sync_listen "$A" --address 127.0.0.1:0 --once
expect 1 "a stranger is refused" "$SHELF" -L "$C" sync "127.0.0.1:$LPORT"
contains "it is told why" "$err" "the peer refused: device $IDC is not paired with this device"
wait "$LPID"
check "the listener fails too" "$?" = 1
contains "and says why" "$(cat "$T/listen.err")" "device $IDC is not paired with this device"
check "one line each" "$(wc -l <"$T/listen.err")" = 1

# connecting to a stranger: refused by this side
sync_listen "$C" --address 127.0.0.1:0 --once
expect 1 "a listener that is not paired" "$SHELF" -L "$B" sync "127.0.0.1:$LPORT"
contains "names it" "$err" "is not the paired device expected"
wait "$LPID"

# a removed device
expect 0 "stage removes the laptop" "$SHELF" -L "$A" device rm "$IDB"
sync_listen "$A" --address 127.0.0.1:0 --once
expect 1 "a removed device is refused" "$SHELF" -L "$B" sync "127.0.0.1:$LPORT"
contains "it is told" "$err" "device $IDB was removed from this device"
wait "$LPID"
expect 0 "paired again" "$SHELF" -L "$A" device add "$IDB"

# many records, the sender killed mid-exchange: both stay whole, the next
# exchange completes it
sqlite3 "$B/shelf.db" "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 30000)
  INSERT INTO collections(name, query, created) SELECT 'bulk ' || i, 'kick', 0 FROM n;" ||
    fail "bulk collections"
expect 0 "the bulk is logged" "$SHELF" -L "$B" -q sync status
sync_listen "$A" --address 127.0.0.1:0
kill_after 700 "$SHELF" -L "$B" sync "127.0.0.1:$LPORT"
echo "    the sender: $how"
HAVE=$(sqlite3 "$A/shelf.db" "SELECT count(*) FROM changes WHERE device = '$IDB'")
echo "    stage holds $HAVE of the laptop's records after the kill"
check "stage's catalog is whole" "$(sqlite3 "$A/shelf.db" 'PRAGMA integrity_check')" = ok
check "the laptop's catalog is whole" "$(sqlite3 "$B/shelf.db" 'PRAGMA integrity_check')" = ok
check "stage holds a prefix of the records, without gaps" \
    "$(sqlite3 "$A/shelf.db" "SELECT count(*) = coalesce(max(counter), 0) FROM changes WHERE device = '$IDB'")" = 1
expect 0 "the next exchange" "$SHELF" -L "$B" --json sync "127.0.0.1:$LPORT"
check "stage holds all the bulk collections" \
    "$(sqlite3 "$A/shelf.db" "SELECT count(*) FROM collections WHERE name LIKE 'bulk %'")" = 30000
check "in frames: more than 1 MiB went" "$(json 'j["bytes_out"] + j["bytes_in"] > 1048576 or j["sent"] < 30000')" = True
kill "$LPID" 2>/dev/null
wait "$LPID"
check "an interrupted listener exits 130" "$?" = 130

# a silent peer times out (--io-timeout); a busy one says it is there:
# stage waits 1 s at most, the laptop applies 8,000 new samples for longer
sync_listen "$A" --address 127.0.0.1:0 --once --io-timeout 1
python3 -c 'import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
time.sleep(6)' "$LPORT" &
QPID=$!
wait "$LPID"
check "a silent peer: the listener fails" "$?" = 1
contains "nothing moved for 1 s" "$(cat "$T/listen.err")" "nothing moved for 1 s"
check "in one line" "$(wc -l <"$T/listen.err")" = 1
kill "$QPID" 2>/dev/null
wait "$QPID" 2>/dev/null
expect 2 "a bad --io-timeout" "$SHELF" -L "$B" sync --io-timeout 0 stage
contains "says so" "$err" "invalid --io-timeout '0'"
bulk_samples "$A/shelf.db" 8000 || fail "bulk samples"
expect 0 "the bulk samples are logged" "$SHELF" -L "$A" -q sync status
sync_listen "$A" --address 127.0.0.1:0 --once --io-timeout 1
t0=$(date +%s%N)
expect 0 "the laptop applies 8,000 samples" "$SHELF" -L "$B" --json sync "127.0.0.1:$LPORT"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "    the exchange took $ms ms"
check "longer than stage's timeout" "$([ "$ms" -gt 1000 ] && echo yes)" = yes
check "all of them arrived" "$(json 'j["received"] >= 8000')" = True
check "the laptop sent wait frames" "$(json 'j["waits"] >= 1')" = True
wait "$LPID"
check "stage did not time out" "$?" = 0
check "the laptop holds them" "$(sqlite3 "$B/shelf.db" "SELECT count(*) FROM samples WHERE category = 'bulk'")" = 8000

expect 2 "a bad address" "$SHELF" -L "$B" sync "127.0.0.1:port"
contains "one line" "$err" "invalid address '127.0.0.1:port'"
expect 2 "listen: extra argument" "$SHELF" -L "$B" sync listen extra
finish
