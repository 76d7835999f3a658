# test_remote_where.sh: where the copies of each snapshot live
# (shelf remote ls --snapshots): folder remotes and an S3 one (s3rver), a
# copy of a copy still counted as the same backup, a repository that
# cannot be opened reported on one line while the others still print
# (exit 4), and backup init on S3 printing the terms as remote add does.
. "$(dirname "$0")/lib.sh"

export XDG_CONFIG_HOME="$T/cfg" HOME="$T/home" SHELF_PASSWORD="where pw"
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
unset AWS_SESSION_TOKEN AWS_PROFILE SHELF_DST_PASSWORD DBUS_SESSION_BUS_ADDRESS
export SHELF_CREDENTIALS_PASSWORD="credentials pw"
mkdir -p "$HOME" "$T/src"
"$SHELF_TG" --seed 3 "$T/src/kick é.wav"
expect 0 "init" "$SHELF" init
expect 0 "import" "$SHELF" import "$T/src"

USB="$T/usb 🎹"
NAS="$T/nas"
expect 0 "init usb" "$SHELF" backup init --kdf-cost 10 "$USB"
contains "a folder gets no terms" "$out" "repository ready"
check "a folder: no provider text" "$(printf '%s' "$out" | grep -c 'provider can see')" = 0
expect 0 "init nas" "$SHELF" backup init --kdf-cost 10 "$NAS"
expect 0 "remote add usb" "$SHELF" remote add usb "$USB"
expect 0 "remote add nas" "$SHELF" remote add nas "$NAS"
expect 0 "backup 1" "$SHELF" backup usb
sleep 1
"$SHELF_TG" --seed 4 "$T/src/snare.wav"
expect 0 "import more" "$SHELF" import "$T/src"
expect 0 "backup 2" "$SHELF" backup usb

start_s3rver
s3=$?
if [ $s3 = 0 ]; then
    expect 0 "backup init on s3" "$SHELF" backup init --kdf-cost 10 "$S3/where"
    contains "init on s3 prints what the provider sees" "$out" "what the provider can see"
    contains "init on s3 prints the limits" "$out" "known limits"
    expect 0 "backup init --json on s3" "$SHELF" --json backup init --kdf-cost 10 "$S3/where2"
    check "json: terms kind" "$(json 'j["terms"]["kind"]')" = s3
    expect 0 "remote add s3" "$SHELF" remote add cloud "$S3/where"
fi

# usb -> nas (both snapshots), nas -> cloud (the first only: a copy of a copy)
expect 0 "copy usb -> nas" "$SHELF" backup copy usb nas
FIRST=$("$SHELF" --json backup list usb | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
NFIRST=$("$SHELF" --json backup list nas | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
if [ $s3 = 0 ]; then
    expect 0 "copy nas -> cloud (one snapshot)" "$SHELF" backup copy nas cloud "$NFIRST"
    expect 0 "copy usb -> cloud: the copy of a copy counts" "$SHELF" --json backup copy usb cloud
    check "copy usb -> cloud: one new, one already there" "$(json '"%d %d" % (j["snapshots"], j["skipped"])')" = "1 1"
fi

expect 0 "remote ls --snapshots" "$SHELF" remote ls --snapshots
check "two backups, a line each" "$(printf '%s\n' "$out" | grep -c '^20')" = 2
contains "the first snapshot under usb" "$out" "$(printf '%.8s' "$FIRST")"
contains "its copy under nas" "$out" "$(printf '%.8s' "$NFIRST")"

expect 0 "remote ls --snapshots --json" "$SHELF" --json remote ls --snapshots
check "json: two runs" "$(json 'len(j["snapshots"])')" = 2
check "json: first on usb" "$(json 'j["snapshots"][0]["copies"]["usb"]')" = "$FIRST"
check "json: first on nas" "$(json 'j["snapshots"][0]["copies"]["nas"]')" = "$NFIRST"
check "json: nothing missing" "$(json 'sum(len(s["missing"]) for s in j["snapshots"])')" = 0
if [ $s3 = 0 ]; then
    check "json: first on cloud too" "$(json '"cloud" in j["snapshots"][0]["copies"]')" = True
fi

# a repository with only the first backup: the second is missing there
LONE="$T/lone"
expect 0 "init lone" "$SHELF" backup init --kdf-cost 10 "$LONE"
expect 0 "copy one snapshot to lone" "$SHELF" backup copy usb "$LONE" "$FIRST"
expect 0 "--repo adds a repository" "$SHELF" --json remote ls --snapshots --repo "$LONE"
check "json: the second is missing on lone" "$(json 'j["snapshots"][1]["missing"]')" = "['$LONE']"
check "json: the first is there" "$(json 'j["snapshots"][0]["missing"]')" = "[]"

# one that cannot be opened: one line, the rest still printed, exit 4
expect 4 "a repository that is not one" "$SHELF" remote ls --snapshots --repo "$T/nothing here"
contains "it is named" "$err" "nothing here"
check "one line for it" "$(printf '%s\n' "$err" | wc -l)" = 1
check "the others still print" "$(printf '%s\n' "$out" | grep -c '^20')" = 2
expect 4 "a wrong password" env SHELF_PASSWORD=wrong "$SHELF" remote ls --snapshots
expect 2 "ls with --repo but no --snapshots" "$SHELF" remote ls --repo "$LONE"

finish
