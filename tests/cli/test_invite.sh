# test_invite.sh: shelf device invite / accept between shelf processes on
# 127.0.0.1: an invitation (text, and a file as on a USB stick) pairs both
# ways in one step and hands over the library key (byte-identical
# sync_keys), then sync works; a reused, expired, wrong-secret,
# tampered-id or unreachable invitation is refused with one line and
# pairs nothing on either side; device rm rotates the key, the remaining
# device gets the new generation at its next sync, the removed one is
# refused.  Names with accents, emoji and spaces.
. "$(dirname "$0")/lib.sh"

A="$T/stage é"
B="$T/laptop 🎧"
C="$T/tablet"
D="$T/other"
for L in "$A" "$B" "$C" "$D"; do
    "$SHELF" -L "$L" init >/dev/null || fail "set up $L"
done
"$SHELF" -L "$A" device name "stage é 🎹" >/dev/null
IDA=$("$SHELF" -q -L "$A" device id)
IDB=$("$SHELF" -q -L "$B" device id)
IDC=$("$SHELF" -q -L "$C" device id)
IDD=$("$SHELF" -q -L "$D" device id)

# the listener runs through the whole test; its bound port from its output
sync_listen "$A" --address 127.0.0.1:0

# sql LIB QUERY: rows of the catalog, one a line, fields joined by ':'
sql() { python3 -c '
import sqlite3, sys
for r in sqlite3.connect(sys.argv[1]).execute(sys.argv[2]):
    print(":".join(str(v) for v in r))' "$1/shelf.db" "$2"; }
keys() { sql "$1" "SELECT gen, hex(key) FROM sync_keys ORDER BY gen"; }
peers() { "$SHELF" -L "$1" --json device ls | python3 -c '
import json, sys
print(" ".join(sorted(d["id"] + "=" + d["name"] for d in json.load(sys.stdin))))'; }
invite() { "$SHELF" -L "$A" device invite --no-qr --address "127.0.0.1:$LPORT" "$@"; }

# ---- an invitation on a USB stick: B accepts it ----
mkdir -p "$T/usb stick"
expect 0 "stage invites" invite --name "laptop ✓ 🎧" --out "$T/usb stick/invite é.txt"
INV=$out
contains "the text is versioned" "$INV" "shelf-invite:1:$IDA:"
check "the file holds the same line" "$(cat "$T/usb stick/invite é.txt")" = "$INV"
check "the file is 0600" "$(stat -c %a "$T/usb stick/invite é.txt")" = 600
SECRET=$(printf '%s' "$INV" | cut -d: -f4)
check "the secret is 160 bits" "${#SECRET}" = 40
HASH=$(python3 -c 'import hashlib, sys; print(hashlib.sha256(bytes.fromhex(sys.argv[1])).hexdigest())' "$SECRET")
check "only its SHA-256 is kept" "$(sql "$A" "SELECT lower(secret) FROM invitations")" = "$HASH"
check "the secret itself is not in the catalog" \
    "$(sql "$A" "SELECT count(*) FROM invitations WHERE secret LIKE '%$SECRET%'")" = 0

expect 0 "the laptop accepts the file" "$SHELF" -L "$B" --json device accept "$T/usb stick/invite é.txt"
check "json: the inviter" "$(json 'j["id"]')" = "$IDA"
check "json: its name" "$(json 'j["name"]')" = "stage é 🎹"
check "json: key generation 1" "$(json 'j["keygen"]')" = 1
check "stage lists the laptop by the invitation's name" "$(peers "$A")" = "$IDB=laptop ✓ 🎧"
check "the laptop lists stage" "$(peers "$B")" = "$IDA=stage é 🎹"
check "stage holds a key" "$(keys "$A" | wc -l)" = 1
check "both hold byte-identical keys" "$(keys "$A")" = "$(keys "$B")"
check "the invitation is spent by the laptop" \
    "$(sql "$A" "SELECT used_by FROM invitations WHERE used IS NOT NULL")" = "$IDB"
expect 0 "then sync works" "$SHELF" -L "$B" --json sync "127.0.0.1:$LPORT"
check "json: with stage" "$(json 'j["peer"]')" = "$IDA"

# ---- refusals: nothing is paired on either side ----
nothing_changed() {
    check "$1: the tablet is paired with nobody" "$(peers "$C")" = ""
    check "$1: stage still lists the laptop only" "$(peers "$A")" = "$IDB=laptop ✓ 🎧"
    check "$1: the tablet got no key" "$(keys "$C")" = ""
}
expect 1 "a reused invitation is refused" "$SHELF" -L "$C" device accept "$INV"
contains "it says so" "$err" "the peer refused: invitation refused: it was used already"
check "in one line" "$(printf '%s\n' "$err" | wc -l)" = 1
nothing_changed reused
contains "the listener says it too" "$(cat "$T/listen.err")" "device $IDC: invitation refused: it was used already"

expect 0 "a short invitation" invite --expires 1s
OLD=$out
sleep 2
expect 1 "an expired invitation is refused" "$SHELF" -L "$C" device accept "$OLD"
contains "expired" "$err" "invitation refused: it has expired"
# its expiry edited: the inviter keeps its own
TAMP=$(printf '%s' "$OLD" | awk -F: 'BEGIN { OFS = ":" } { $5 = "9999999999"; print }')
expect 1 "an expired invitation with a later date written in is refused" \
    "$SHELF" -L "$C" device accept "$TAMP"
contains "by the inviter" "$err" "the peer refused: invitation refused: it has expired"
nothing_changed expired

expect 0 "a new invitation" invite
GOOD=$out
S=$(printf '%s' "$GOOD" | cut -d: -f4)
case "$S" in 0*) W="1${S#?}" ;; *) W="0${S#?}" ;; esac
WRONG=$(printf '%s' "$GOOD" | sed "s/$S/$W/")
expect 1 "a wrong secret is refused" "$SHELF" -L "$C" device accept "$WRONG"
contains "wrong secret" "$err" "invitation refused: wrong secret"
nothing_changed "wrong secret"
OTHER=$(printf '%s' "$GOOD" | sed "s/$IDA/$IDD/")
expect 1 "an invitation naming another device is refused" "$SHELF" -L "$C" device accept "$OTHER"
contains "not the device it names" "$err" "device $IDA is not the device the invitation names"
nothing_changed "tampered id"
expect 1 "an unreachable inviter" "$SHELF" -L "$C" device accept \
    "$(printf '%s' "$GOOD" | sed "s/127.0.0.1%3A$LPORT/127.0.0.1%3A1/")"
contains "cannot reach" "$err" "cannot reach the inviter: 127.0.0.1:1: cannot connect"
expect 1 "not an invitation" "$SHELF" -L "$C" device accept "shelf-invite:1:nonsense"
contains "invalid" "$err" "invalid invitation"
nothing_changed "bad text"
check "the refused ones left the invitation unused" \
    "$(sql "$A" "SELECT count(*) FROM invitations WHERE used IS NULL")" = 2

# the same invitation, unharmed, still works
expect 0 "the tablet accepts the right one" "$SHELF" -L "$C" device accept "$GOOD" --name "stage ✓"
check "the tablet lists stage under its --name" "$(peers "$C")" = "$IDA=stage ✓"
check "the tablet holds the same keys" "$(keys "$C")" = "$(keys "$A")"

# an acceptor with a library key of its own, paired with others: it
# refuses the inviter's key, and neither side is left paired
expect 0 "the other device pairs with someone" "$SHELF" -L "$D" device add "$IDC"
expect 0 "and makes its own library key" "$SHELF" -L "$D" sync push "$T/d-hub"
expect 0 "stage invites it" invite
expect 1 "it refuses the inviter's key" "$SHELF" -L "$D" device accept "$out"
contains "says why" "$err" "library key differs"
# the listener reads the refusal after the acceptor has gone: give it time
end=$((SECONDS + 60))
while [ "$SECONDS" -lt "$end" ]; do
    case "$(peers "$A")" in *"$IDD"*) sleep 0.1 ;; *) break ;; esac
done
case "$(peers "$A")" in
*"$IDD"*) fail "stage still lists the device that refused" ;;
*) ok "stage does not list the device that refused" ;;
esac
case "$(peers "$D")" in
*"$IDA"*) fail "the device that refused lists stage" ;;
*) ok "the device that refused does not list stage" ;;
esac

# ---- revoking: the key rotates ----
expect 0 "stage removes the tablet" "$SHELF" -L "$A" device rm "$IDC"
contains "it says the key rotated" "$out" "library key rotated to generation 2"
check "stage holds generation 2" "$(keys "$A" | wc -l)" = 2
check "the laptop does not yet" "$(keys "$B" | wc -l)" = 1
expect 0 "the laptop syncs with stage" "$SHELF" -L "$B" sync "127.0.0.1:$LPORT"
check "now it holds both generations, the same bytes" "$(keys "$B")" = "$(keys "$A")"
expect 1 "the removed tablet is refused" "$SHELF" -L "$C" sync "127.0.0.1:$LPORT"
contains "why" "$err" "was removed from this device"
check "the tablet got nothing new" "$(keys "$C" | wc -l)" = 1

finish
