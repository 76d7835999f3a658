# test_device.sh: shelf device id|name: the id (text, --json, the QR code on
# a terminal and as a PNG that zbarimg reads back), the same id on every
# call, names in any script, a read-only library, a damaged key, and the
# exit statuses.
. "$(dirname "$0")/lib.sh"

L="$T/lib é 舞台"
export SHELF_LIBRARY="$L"
expect 0 "init" "$SHELF" init

expect 0 "device id" "$SHELF" device id
ID=$(printf '%s\n' "$out" | head -1)
check "id: 8 groups of 7" "$(printf '%s' "$ID" | grep -cE '^([A-Z2-7]{7}-){7}[A-Z2-7]{7}$')" = 1
contains "id: the name" "$out" "name: "
check "a pipe gets no QR code" "$(printf '%s' "$out" | grep -c '▀\|▄\|█')" = 0
check "the key is 0600" "$(stat -c %a "$L/device/key.pem")" = 600

expect 0 "device id again" "$SHELF" -q device id
check "the same id, and only it with -q" "$out" = "$ID"

expect 0 "device id --qr" "$SHELF" device id --qr
check "--qr: half blocks" "$(printf '%s\n' "$out" | grep -c '█')" -gt 10

# on a terminal (script(1) gives it one) the QR code comes by itself
if command -v script >/dev/null; then
    script -qec "\"$SHELF\" device id" /dev/null >"$T/tty.out" 2>&1
    check "a terminal gets the QR code" "$(grep -c '█' "$T/tty.out")" -gt 10
else
    skip "terminal QR code" "script(1) is not installed"
fi

PNG="$T/qr é 🎹.png"
expect 0 "device id --json --png" "$SHELF" --json device id --png "$PNG"
check "json: id" "$(json 'j["id"]')" = "$ID"
check "json: key type" "$(json 'j["key_type"]')" = ed25519
check "json: png" "$(json 'j["png"]')" = "$PNG"
if command -v zbarimg >/dev/null; then
    check "zbarimg reads the id from the PNG" "$(zbarimg -q --raw "$PNG" 2>/dev/null)" = "$ID"
else
    skip "zbarimg reads the PNG" "zbarimg is not installed (scripts/install-deps installs zbar-tools)"
fi
expect 1 "png into a missing folder" "$SHELF" device id --png "$T/no/such/dir/x.png"
contains "png error names the file" "$err" "cannot write '$T/no/such/dir/x.png'"
check "png error is one line" "$(printf '%s\n' "$err" | wc -l)" = 1

# names in any script
expect 0 "device name (show)" "$SHELF" device name
expect 0 "device name: rename" "$SHELF" device name "Stage rig 🎹 舞台"
check "renamed" "$out" = "Stage rig 🎹 舞台"
expect 0 "device id --json after rename" "$SHELF" --json device id
check "json: name" "$(json 'j["name"]')" = "Stage rig 🎹 舞台"
check "rename keeps the id" "$(json 'j["id"]')" = "$ID"
expect 2 "a name with a newline" "$SHELF" device name "$(printf 'two\nlines')"
contains "bad name says why" "$err" "invalid device name"
expect 2 "a name that is not UTF-8" "$SHELF" device name "$(printf 'bad\377')"
expect 2 "unknown subcommand" "$SHELF" device frobnicate
expect 2 "device without subcommand" "$SHELF" device
expect 2 "device id with an argument" "$SHELF" device id extra

# pairing the Syncthing way: each side adds the other's id
LB="$T/laptop"
"$SHELF" -L "$LB" init >/dev/null
IB=$("$SHELF" -L "$LB" -q device id)
typed=$(printf '%s' "$IB" | tr -d '-' | tr 'A-Z' 'a-z')
expect 0 "device add (typed lower case, no dashes)" "$SHELF" device add "$typed" --name "Laptop 💻"
check "add prints the canonical id" "$out" = "paired with $IB"
expect 0 "the other side adds this one" "$SHELF" -L "$LB" device add "$ID" --name "Stage"
expect 0 "device ls" "$SHELF" device ls
check "ls: id and name" "$out" = "$IB  Laptop 💻"
expect 1 "add again" "$SHELF" device add "$IB"
contains "add again says already paired" "$err" "already paired"
expect 2 "add own id" "$SHELF" device add "$ID"
contains "own id refused" "$err" "it is this device"
expect 2 "add a typo (check character)" "$SHELF" device add "${IB%?}$( [ "${IB#"${IB%?}"}" = A ] && echo B || echo A)"
contains "typo says invalid device id" "$err" "invalid device id"
expect 0 "device rename" "$SHELF" device rename "$IB" "Home laptop"
expect 0 "device ls --json" "$SHELF" --json device ls
check "json: name" "$(json 'j[0]["name"]')" = "Home laptop"
check "json: id" "$(json 'j[0]["id"]')" = "$IB"
check "json: not revoked" "$(json 'j[0]["revoked"]')" = None
expect 0 "device rm" "$SHELF" --json device rm "$IB"
check "rm json" "$(json 'j["action"]+" "+j["id"]')" = "rm $IB"
expect 0 "ls after rm" "$SHELF" device ls
check "ls after rm: empty" "$out" = ""
expect 0 "ls --all" "$SHELF" device ls --all
contains "ls --all shows it removed" "$out" "(removed)"
expect 3 "rm again" "$SHELF" device rm "$IB"
contains "rm again: not paired" "$err" "no paired device"
expect 0 "paired again" "$SHELF" device add "$IB"
expect 2 "rename without a name" "$SHELF" device rename "$IB"
expect 2 "add with an unknown option" "$SHELF" device add "$IB" --colour red

# a library that does not exist
expect 3 "no library" "$SHELF" -L "$T/none" device id

# a read-only library (a read-only bind mount in a namespace of its own):
# the id of one made before; none made on a new one
L2="$T/lib2"
"$SHELF" -L "$L2" init >/dev/null
rm -f "$L/lock" "$L2/lock"
romount() {
    local dir=$1
    shift
    unshare -m sh -c 'mount --bind -o ro "$0" "$0" && exec "$@"' "$dir" "$@"
}
if unshare -m true 2>/dev/null; then
    expect 0 "read-only library: the id it has" romount "$L" "$SHELF" -L "$L" -q device id
    check "read-only: same id" "$out" = "$ID"
    expect 1 "read-only library without an identity" romount "$L2" "$SHELF" -L "$L2" device id
    contains "read-only says so" "$err" "read-only"
    check "nothing made" "$(ls "$L2" | grep -c device)" = 0
    expect 1 "read-only: rename refused" romount "$L" "$SHELF" -L "$L" device name other
else
    skip "read-only bind mount" "unshare -m needs root"
fi

# a damaged key: one line naming the file, exit 1
printf 'garbage\n' >"$L/device/key.pem"
expect 1 "damaged key" "$SHELF" device id
contains "damaged key names key.pem" "$err" "key.pem"
check "damaged key: one line" "$(printf '%s\n' "$err" | wc -l)" = 1

finish
