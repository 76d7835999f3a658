# test_fulldisk.sh: a library on a full disk (a small tmpfs).  Every
# command that writes says "no space left on device" and names the file it
# could not write, whether SQLite, the store or a copy ran out; reading
# still works; once there is room again the library works as before.
. "$(dirname "$0")/lib.sh"

F="$T/full"
mkdir -p "$F"
if ! mount -t tmpfs -o size=2m tmpfs "$F" 2>/dev/null; then
    skip "full disk" "mounting a tmpfs needs root"
    finish
    exit $?
fi
trap 'umount "$F" 2>/dev/null; rm -rf "$T"' EXIT
export SHELF_LIBRARY="$F/lib"
L="$SHELF_LIBRARY"
S="$T/s"
mkdir -p "$S/big"
"$SHELF_TG" --seed 1 "$S/kick.wav"
"$SHELF_TG" --seed 2 "$S/snare.wav"
for i in 1 2 3 4 5 6; do "$SHELF_TG" --seed "1$i" --frames 100000 "$S/big/b$i.wav"; done
printf '<region> sample=kick.wav lokey=c4 hikey=d#4 pitch_keycenter=c4\n' > "$S/p.sfz"
expect 0 "init" "$SHELF" init
expect 0 "import" "$SHELF" import "$S/kick.wav" "$S/snare.wav"
expect 0 "patch import" "$SHELF" --json patch import "$S/p.sfz"
P=$(json 'j[0]["id"]')
"$SHELF" --json patch show "$P" > "$T/p.json"
# A version too big for the space left, that does not compress.
python3 -c "
import base64, json, os, sys
d = json.load(open(sys.argv[1]))
d.setdefault('params', {})['noise'] = base64.b64encode(os.urandom(200000)).decode()
json.dump(d, open(sys.argv[2], 'w'))" "$T/p.json" "$T/big.json"

# fill KB: leave about KB kilobytes free on the tmpfs.
fill() {
    rm -f "$F/fill"
    local avail
    avail=$(df -B1 --output=avail "$F" | tail -1)
    if [ "$1" -gt 0 ]; then
        dd if=/dev/zero of="$F/fill" bs=4096 count=$(( (avail - $1 * 1024) / 4096 )) 2>/dev/null
    else
        dd if=/dev/zero of="$F/fill" bs=4096 2>/dev/null
    fi
}
# full NAME FILE: the last command failed (exit 1) saying the disk is full,
# in one line that names FILE.
full() {
    contains "$1 says the disk is full" "$err" "no space left on device"
    contains "$1 names the file" "$err" "'$2"
    check "$1 in one line" "$(printf '%s\n' "$err" | wc -l)" = 1
}

# Some room left: the catalog opens, the write itself runs out.
fill 96
expect 1 "import --copy" "$SHELF" import --copy "$S/big"
full "import --copy" "$L/objects/"
expect 1 "patch edit" "$SHELF" patch edit "$P" --file "$T/big.json"
full "patch edit" "$L/shelf.db"
expect 1 "db-backup" "$SHELF" db-backup "$F/copy.db"
full "db-backup" "$F/copy.db"
check "no half-written copy" -z "$(ls "$F" | grep copy)"
expect 1 "vacuum" "$SHELF" vacuum
full "vacuum" "$L/shelf.db"

# No room at all: SQLite cannot set up its log; reading still works.
fill 0
expect 0 "ls on a full disk" "$SHELF" --json ls
check "ls lists 2" "$(json 'len(j)')" = 2
expect 0 "patch show on a full disk" "$SHELF" --json patch show "$P"
for c in "tag add 1 foo" "rate 1 3" "fav 1" "patch set $P params/cutoff=900" "vacuum" \
         "import $S/kick.wav"; do
    # shellcheck disable=SC2086
    expect 1 "$c" "$SHELF" $c
    full "$c" "$L/shelf.db"
done

# Room again: everything works, nothing was damaged.
rm -f "$F/fill"
expect 0 "tag after freeing space" "$SHELF" tag add 1 foo
expect 0 "patch edit after freeing space" "$SHELF" patch edit "$P" --file "$T/big.json"
expect 0 "verify" "$SHELF" verify
expect 0 "tag is there" "$SHELF" --json ls
check "kick tagged" "$(json 'j[0]["tags"][0]')" = "foo"
finish
