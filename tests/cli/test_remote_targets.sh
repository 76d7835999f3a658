# test_remote_targets.sh: targets on the command line (a mistyped URL is
# refused and makes no folder, a password in a URL is refused and never
# printed), the transfer options (--connections, --limit-upload ...) on the
# repository commands, and archive export --to / verify --from / import
# --from with a folder target whose name has spaces, CJK and an emoji
# (s3 and webdav targets run the same code through shelf__be_open_target).
. "$(dirname "$0")/lib.sh"

command -v par2 >/dev/null || { echo "skipped: par2 not installed (scripts/install-deps)"; exit 77; }
export SHELF_PASSWORD="remote targets pw"

# Mistyped and unknown targets: refused, exit 2, nothing made.
mkdir -p "$T/cwd"
cd "$T/cwd" || exit 1
for t in "s3:ftp://host/bucket" "ftp://host/x" "b2:bucket" "https://host/x"; do
    expect 2 "init '$t' refused" "$SHELF" backup init --no-encryption "$t"
    contains "'$t': names the known forms" "$err" "s3:http"
done
check "no folder made by a mistyped URL" -z "$(ls -A "$T/cwd")"
expect 2 "password in a URL refused" "$SHELF" backup init --no-encryption "webdav:https://me:hunter2@dav.example/x"
contains "says where credentials go" "$err" "shelf remote add"
check "the password is not printed" -z "$(printf '%s%s' "$out" "$err" | grep hunter2)"
check "no folder made" -z "$(ls -A "$T/cwd")"
cd "$T" || exit 1

# The transfer options on every repository command.
R="$T/repo $(printf '\xe9\x9f\xb3') $(printf '\xf0\x9f\x8e\xb9')"
expect 2 "--connections 0 refused" "$SHELF" backup init --connections 0 "$R"
contains "connections range" "$err" "1 to 32"
expect 2 "bad rate refused" "$SHELF" backup init --limit-upload 10Q "$R"
contains "rate example" "$err" "10M"
S="$T/s"
mkdir -p "$S"
for i in 1 2 3; do "$SHELF_TG" --seed "$i" "$S/hit$i.wav"; done
expect 0 "init" "$SHELF" init
expect 0 "import" "$SHELF" import "$S"
expect 0 "backup init with options" "$SHELF" backup init --connections 8 --limit-upload 100M "dir:$R"
expect 0 "backup with options" "$SHELF" backup --connections 3 --limit-download 5M "$R"
expect 0 "list" "$SHELF" --json backup list --connections 2 "$R"
check "one snapshot" "$(json 'len(j)')" = 1
expect 0 "check --read-data" "$SHELF" backup check --read-data --connections 4 "$R"
expect 0 "restore --preview" "$SHELF" restore --connections 2 "$R" latest --preview

# backup copy to another target (another password), resumable and idempotent.
R2="$T/copy $(printf '\xf0\x9f\x8e\xb9')"
SHELF_PASSWORD="second pw" "$SHELF" backup init "$R2" >/dev/null
expect 0 "backup copy" env SHELF_DST_PASSWORD="second pw" "$SHELF" --json backup copy --connections 2 "$R" "$R2"
check "one snapshot copied" "$(json 'j["snapshots"]')" = 1
check "every blob sent" "$(json 'j["blobs_new"] == j["blobs"] and j["blobs"] > 0')" = True
expect 0 "copy again" env SHELF_DST_PASSWORD="second pw" "$SHELF" --json backup copy "$R" "$R2" latest
check "nothing sent again" "$(json '(j["snapshots"], j["skipped"], j["blobs_new"])')" = "(0, 1, 0)"
expect 0 "the copy checks" env SHELF_PASSWORD="second pw" "$SHELF" backup check --read-data "$R2"
expect 0 "the copy lists" env SHELF_PASSWORD="second pw" "$SHELF" --json backup list "$R2"
check "one snapshot there" "$(json 'len(j)')" = 1
expect 8 "a wrong destination password" env SHELF_DST_PASSWORD="wrong" "$SHELF" backup copy "$R" "$R2" </dev/null
expect 2 "copy needs two targets" "$SHELF" backup copy "$R"
expect 2 "copy to a mistyped URL" "$SHELF" backup copy "$R" "s3:ftp://x/b"

# Archives to and from a target.
D="$T/dest $(printf '\xe6\xa5\xbd')"
expect 0 "export --to a folder target" "$SHELF" archive export --all live.tar --parity 10 --to "dir:$D" --connections 2
contains "uploaded the archive and its parity" "$out" "to dir:$D"
check "archive in the target" -f "$D/archives/live.tar"
check "parity in the target" -f "$D/archives/live.tar.par2"
check "volumes travel with - for +" -n "$(ls "$D/archives" | grep "^live.tar.vol[0-9]*-[0-9]*.par2$")"
check "no temporary folder left" -z "$(ls -d "${TMPDIR:-/tmp}"/shelf-archive-* 2>/dev/null | xargs -r -n1 sh -c 'test -f "$0/live.tar" && echo "$0"')"
expect 0 "par2 verifies what was sent (the index file alone)" par2 verify "$D/archives/live.tar.par2"
expect 1 "export --to refuses an existing name" "$SHELF" archive export --all live.tar --to "$D"
contains "says it exists" "$err" "exists"
expect 2 "export --to takes a name, not a path" "$SHELF" archive export --all sub/live.tar --to "$D"
expect 0 "verify --from" "$SHELF" archive verify live.tar --from "$D"
contains "intact with parity" "$out" "parity intact"
expect 3 "verify --from of a missing archive" "$SHELF" archive verify gone.tar --from "$D"
contains "names it" "$err" "no archive 'gone.tar'"
L2="$T/lib2"
"$SHELF" -L "$L2" init >/dev/null
expect 0 "import --from" "$SHELF" -L "$L2" archive import live.tar --from "$D"
contains "created" "$out" "created"
expect 0 "samples there" "$SHELF" -L "$L2" --json ls
check "three samples" "$(json 'len(j)')" = 3
# damage in the target is found after the download: a byte of a sample
# in the payload (the middle of the tar may be a tag file or padding)
python3 - "$D/archives/live.tar" <<'EOF'
import sys, tarfile
p = sys.argv[1]
with tarfile.open(p) as t:
    m = next(m for m in t.getmembers() if m.isfile() and "/data/" in m.name and m.size > 100)
b = bytearray(open(p, "rb").read())
b[m.offset_data + m.size // 2] ^= 1
open(p, "wb").write(bytes(b))
EOF
expect 28 "verify --from: the damage, repairable from the parity (16 + 4 + 8)" "$SHELF" archive verify live.tar --from "$D"
"$SHELF" -L "$T/lib3" init >/dev/null
expect 0 "import --from repairs from the parity" "$SHELF" -L "$T/lib3" archive import live.tar --from "$D" --preview

# The same on S3 (s3rver, started here on a free port of 127.0.0.1):
# backup copy folder -> s3 -> folder, and an archive there and back.
start_s3rver
s3=$?
if [ $s3 = 0 ]; then
    export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
    S3="s3:http://127.0.0.1:$PORT/shelf/copies"
    expect 0 "s3: init" env SHELF_PASSWORD="s3 pw" "$SHELF" backup init --kdf-cost 10 "$S3"
    expect 0 "s3: copy a folder repository to S3" env SHELF_DST_PASSWORD="s3 pw" "$SHELF" --json backup copy --connections 4 "$R" "$S3"
    check "s3: one snapshot copied" "$(json 'j["snapshots"]')" = 1
    expect 0 "s3: check --read-data" env SHELF_PASSWORD="s3 pw" "$SHELF" backup check --read-data "$S3"
    R3="$T/back from s3"
    "$SHELF" backup init "$R3" >/dev/null
    expect 0 "s3: copy back to a folder" env SHELF_PASSWORD="s3 pw" SHELF_DST_PASSWORD="$SHELF_PASSWORD" "$SHELF" --json backup copy "$S3" "$R3"
    check "s3: one snapshot back" "$(json 'j["snapshots"]')" = 1
    expect 0 "s3: restore the round trip" "$SHELF" -L "$T/lib4" init
    expect 0 "s3: restore" "$SHELF" -L "$T/lib4" restore "$R3" latest --on-conflict overwrite
    expect 0 "s3: archive export --to" "$SHELF" archive export --all s3live.tar --parity 5 --to "s3:http://127.0.0.1:$PORT/shelf/arch"
    expect 0 "s3: archive verify --from" "$SHELF" archive verify s3live.tar --from "s3:http://127.0.0.1:$PORT/shelf/arch"
    contains "s3: parity came back too" "$out" "parity intact"
elif [ $s3 = 2 ]; then
    skip "s3" "node or @20minutes/s3rver missing"
fi
finish
