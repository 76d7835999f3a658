# test_identity.sh: content identity from the command line: a managed copy
# outlives a changed original (reported, --replace takes it) and is
# repaired from an intact one; moves into a folder imported first; patches
# and histories imported twice are "unchanged" (--as-new copies); a used
# patch needs rm --force and undo brings it back; project add and
# automation add refuse what does not exist; references link up again by
# hash after rm --force and a re-import of the same file.
. "$(dirname "$0")/lib.sh"

S="$T/s"
mkdir -p "$S/m" "$S/kit/samples" "$S/other"
"$SHELF_TG" --seed 1 "$S/m/pad.wav"
"$SHELF_TG" --seed 2 "$S/kit/samples/c4.wav" "$S/kit/samples/e4.wav"
cat > "$S/kit/kit.sfz" <<'EOF'
<control> default_path=samples/
<region> sample=c4.wav lokey=60 hikey=63 pitch_keycenter=60
<region> sample=e4.wav lokey=64 hikey=67 pitch_keycenter=64
EOF
expect 0 "init" "$SHELF" init

# A managed copy is the sample: a changed original is reported, not taken.
expect 0 "import --copy" "$SHELF" import --copy "$S/m"
expect 0 "info" "$SHELF" --json info "$S/m/pad.wav"
SHA=$(json 'j[0]["sha256"] if isinstance(j, list) else j["sha256"]')
"$SHELF_TG" --seed 7 --frames 9000 "$S/m/pad.wav"
expect 4 "changed original: exit 4" "$SHELF" import "$S/m"
contains "reported as differing" "$err" "original differs from the managed copy"
contains "names the file" "$err" "pad.wav"
expect 4 "with --copy too" "$SHELF" --json import --copy "$S/m"
check "counted" "$(json 'j["differs"]')" = 1
expect 0 "info after" "$SHELF" --json info 1
check "hash kept" "$(json 'j[0]["sha256"] if isinstance(j, list) else j["sha256"]')" = "$SHA"
expect 0 "gc keeps the copy" "$SHELF" gc
expect 0 "verify: the copy is whole" "$SHELF" verify
expect 0 "--replace takes the original" "$SHELF" import --replace "$S/m"
expect 0 "info replaced" "$SHELF" --json info 1
check "new hash" "$(json 'j[0]["sha256"] if isinstance(j, list) else j["sha256"]')" != "$SHA"

# A damaged copy is repaired from an intact original named on its own.
expect 0 "info blob" "$SHELF" --json info 1
BLOB=$(json 'j[0]["blob"] if isinstance(j, list) else j["blob"]')
B="$SHELF_LIBRARY/objects/$(printf %s "$BLOB" | cut -c1-2)/$(printf %s "$BLOB" | cut -c3-4)/$BLOB"
chmod u+w "$B"
damage "$B" 100 4
expect 20 "verify finds the damage" "$SHELF" verify
expect 0 "import --copy repairs it" "$SHELF" --json import --copy "$S/m/pad.wav"
check "read to repair" "$(json 'j["updated"]')" = 1
expect 0 "verify: repaired" "$SHELF" verify
expect 0 "again: nothing read" "$SHELF" --json import --copy "$S/m"
check "nothing read or copied" "$(json 'j["bytes_read"]')" = 0

# A file moved into a folder imported first keeps its id.
"$SHELF_TG" --seed 30 "$S/kit/loose.wav"
expect 0 "import a folder" "$SHELF" import "$S/kit"
expect 0 "tag it" "$SHELF" tag add "$S/kit/loose.wav" keeper
expect 0 "its id" "$SHELF" --json info "$S/kit/loose.wav"
LID=$(json 'j[0]["id"] if isinstance(j, list) else j["id"]')
mv "$S/kit/loose.wav" "$S/other/loose.wav"
expect 0 "import the new folder first" "$SHELF" --json import "$S/other"
check "a move" "$(json 'j["moved"]')" = 1
expect 0 "same id there" "$SHELF" --json info "$S/other/loose.wav"
check "id kept" "$(json 'j[0]["id"] if isinstance(j, list) else j["id"]')" = "$LID"
contains "tag kept" "$out" "keeper"

# The same patch file twice: one patch; --as-new makes a copy.
expect 0 "patch import" "$SHELF" --json patch import "$S/kit/kit.sfz"
P=$(json 'j[0]["id"]')
expect 0 "patch import again" "$SHELF" --json patch import "$S/kit/kit.sfz"
check "the same patch" "$(json 'j[0]["id"]')" = "$P"
check "reported unchanged" "$(json 'j[0]["unchanged"]')" = True
expect 0 "text says so" "$SHELF" patch import "$S/kit/kit.sfz"
contains "unchanged in text" "$out" "(unchanged)"
expect 0 "patch ls" "$SHELF" --json patch ls
check "one patch" "$(json 'len(j)')" = 1
expect 0 "export history" "$SHELF" patch export "$P" "$T/h.json"
expect 0 "history import" "$SHELF" --json patch import "$T/h.json"
check "history: the same patch" "$(json 'j[0]["id"]')" = "$P"
expect 0 "--as-new" "$SHELF" --json patch import --as-new "$S/kit/kit.sfz"
P2=$(json 'j[0]["id"]')
check "a new patch on purpose" "$P2" != "$P"
expect 0 "patch ls after --as-new" "$SHELF" --json patch ls
check "two patches" "$(json 'len(j)')" = 2

# Projects name only what exists; lanes are sorted, durations derived.
expect 0 "project new" "$SHELF" --json project new "Set"
J=$(json 'j["id"]')
expect 3 "add a patch that is not there" "$SHELF" project add "$J" patch:999
check "one line" "$(printf '%s\n' "$err" | wc -l)" = 1
contains "names it" "$err" "no patch with id 999"
expect 3 "add a sample that is not there" "$SHELF" project add "$J" 999
contains "names the sample" "$err" "no sample with id 999"
expect 0 "add what is there" "$SHELF" project add "$J" "patch:$P" "$S/kit/samples/c4.wav"
expect 3 "automation of a missing patch" "$SHELF" automation add "$J" "patch:999/params/x" 0:1
check "one line (patch)" "$(printf '%s\n' "$err" | wc -l)" = 1
expect 3 "automation of a missing parameter" "$SHELF" automation add "$J" "patch:$P/params/nothere" 0:1
contains "names the parameter" "$err" "no parameter 'params/nothere'"
expect 0 "patch show" "$SHELF" --json patch show "$P"
PARAM=$(json '"zones/" + sorted(j["zones"])[0] + "/key"')
expect 0 "automation add, points out of order" "$SHELF" automation add "$J" "patch:$P/$PARAM" 8:2 0:1 4:3
expect 0 "automation show" "$SHELF" --json automation show "$J"
check "points sorted" "$(json '[p[0] for p in j["a0001"]["points"]]')" = "[0.0, 4.0, 8.0]"
check "duration derived" "$(json 'j["a0001"]["duration"]')" = 8.0

# A used patch goes only with --force; undo brings it back.
expect 1 "patch rm of a used patch" "$SHELF" patch rm "$P"
contains "says who uses it" "$err" "used by project $J"
contains "suggests --force" "$err" "--force"
expect 0 "patch rm --force" "$SHELF" patch rm --force "$P"
expect 3 "gone" "$SHELF" patch show "$P"
expect 0 "undo" "$SHELF" undo
contains "removal undone" "$out" "removal undone"
expect 0 "back" "$SHELF" patch show "$P"
expect 0 "the project uses it again" "$SHELF" --json refs "project:$J"
check "patch and sample" "$(json 'sorted(r["kind"] for r in j)')" = "['patch', 'sample']"

# rm --force of a used sample, the same file again elsewhere: links by hash.
expect 0 "sample id" "$SHELF" --json info "$S/kit/samples/c4.wav"
C4=$(json 'j[0]["id"] if isinstance(j, list) else j["id"]')
expect 0 "rm --force" "$SHELF" rm --force "$C4"
expect 0 "refs of the patch" "$SHELF" --json refs "patch:$P"
check "one sample left" "$(json 'len([r for r in j if r["kind"] == "sample"])')" = 1
mkdir -p "$S/again"
cp "$S/kit/samples/c4.wav" "$S/again/renamed.wav"
expect 0 "import the same bytes" "$SHELF" import "$S/again"
expect 0 "new id" "$SHELF" --json info "$S/again/renamed.wav"
NEW=$(json 'j[0]["id"] if isinstance(j, list) else j["id"]')
check "a new id" "$NEW" != "$C4"
expect 0 "patch refs again" "$SHELF" --json refs "patch:$P"
check "two samples again" "$(json 'len([r for r in j if r["kind"] == "sample"])')" = 2
check "the new one" "$(json "$NEW in [r['id'] for r in j]")" = True
expect 0 "project refs again" "$SHELF" --json refs "project:$J"
check "the project's sample" "$(json "$NEW in [r['id'] for r in j if r['kind'] == 'sample']")" = True
expect 0 "sample refs" "$SHELF" --json refs "$NEW"
check "used by both" "$(json 'len(j)')" = 3
mkdir -p "$T/exp"
expect 0 "export to sfz" "$SHELF" patch export "$P" "$T/exp/kit.sfz"
check "sample written" -s "$T/exp/kit.sfz"
expect 0 "log says so" "$SHELF" log
contains "relinked" "$out" "relink"
finish
