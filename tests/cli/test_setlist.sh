# test_setlist.sh: shelf setlist new|add|drop|rm|ls|show|mirror|check|pin.
# A set of a project and patches whose samples have names of every kind
# Linux allows; the order kept through add --at and drop; a mirror on a
# card and a stick (folders; test_setlist_fat.sh mirrors onto a real FAT
# file system), each file checked; check finds a file deleted (missing), a file damaged
# (corrupt), a sample changed since (stale) and an order changed, and
# mirroring again mends each; check works on a medium mounted read-only;
# pin puts the samples in the cache pins in the set's order; an item
# removed from the catalog leaves its set lists; an archived sample is
# refused by name; --json everywhere.
. "$(dirname "$0")/lib.sh"

export HOME="$T/home" XDG_CONFIG_HOME="$T/cfg"
mkdir -p "$HOME"
S="$T/samples"
mkdir -p "$S/kit"
NL='new
line'
BAD=$(printf 'bad\377byte')
"$SHELF_TG" --seed 1 "$S/kit/Kick é.wav" "$S/kit/Snare: 2?.wav" "$S/pad 🎹 パッド.wav" "$S/$NL.wav" \
    "$S/$BAD.wav" "$S/lead.wav"
printf '<region> sample=Kick é.wav lokey=36 hikey=36\n<region> sample=Snare: 2?.wav lokey=38 hikey=38\n' \
    >"$S/kit/kit.sfz"
printf '<region> sample=lead.wav\n' >"$S/lead.sfz"
expect 0 "init" "$SHELF" init
expect 0 "import" "$SHELF" import "$S"
expect 0 "the kit" "$SHELF" --json patch import "$S/kit/kit.sfz"
KIT=$(json 'j[0]["id"]')
expect 0 "the lead" "$SHELF" --json patch import "$S/lead.sfz"
LEAD=$(json 'j[0]["id"]')
expect 0 "a project" "$SHELF" project new "Opener à"
expect 0 "it uses the kit and three odd names" "$SHELF" project add 1 "patch:$KIT" "$S/pad 🎹 パッド.wav" \
    "$S/$NL.wav" "$S/$BAD.wav"
SET="Gig: Friday / Köln"

# ---- the list ----
expect 0 "new" "$SHELF" --json setlist new "$SET"
check "json: its name" "$(json 'j["name"]')" = "$SET"
expect 1 "a second of the same name (without case) is refused" "$SHELF" setlist new "gig: friday / köln"
contains "it says so" "$err" "exists already"
expect 0 "add the project and the lead" "$SHELF" setlist add "$SET" project:1 "patch:$LEAD"
expect 0 "the kit first" "$SHELF" setlist add "$SET" "patch:$KIT" --at 1
expect 0 "show --json" "$SHELF" --json setlist show "$SET"
check "the order" "$(json '[(i["position"], i["kind"], i["id"]) for i in j]')" = "[(1, 'patch', $KIT), (2, 'project', 1), (3, 'patch', $LEAD)]"
check "what each uses" "$(json '[i["samples"] for i in j]')" = "[2, 5, 1]"
expect 0 "drop the first" "$SHELF" setlist drop "$SET" 1
expect 0 "show" "$SHELF" --json setlist show "$SET"
check "the rest moved up" "$(json '[(i["position"], i["kind"]) for i in j]')" = "[(1, 'project'), (2, 'patch')]"
expect 0 "ls --json" "$SHELF" --json setlist ls
check "one set list, two items" "$(json '[(s["name"], s["items"]) for s in j]')" = "[('$SET', 2)]"
expect 2 "an item that is not one" "$SHELF" setlist add "$SET" sample:1
contains "it says what an item is" "$err" "project:ID or patch:ID"
expect 3 "an item that does not exist (exit 3)" "$SHELF" setlist add "$SET" project:99
contains "it names it" "$err" "no project 99"
expect 3 "a set list that does not exist (exit 3)" "$SHELF" setlist show nope
contains "it names it" "$err" "no set list 'nope'"
expect 2 "a position past the end" "$SHELF" setlist add "$SET" project:1 --at 9
expect 3 "drop at a position that is empty" "$SHELF" setlist drop "$SET" 7

# ---- mirror onto a card and a stick (test_setlist_fat.sh: onto real FAT) ----
FAT="$T/card"
mkdir -p "$FAT"
D2="$T/stick two"
expect 0 "mirror to the card and a stick" "$SHELF" --json setlist mirror "$SET" "$FAT" "$D2"
check "both ok, 6 samples each" "$(json '[(m["status"], m["samples"]) for m in j]')" = "[('ok', 6), ('ok', 6)]"
check "the patches as SFZ" "$(json '[m["patches"] >= 2 for m in j]')" = "[True, True]"
SD="$FAT/Gig_ Friday _ Köln"
check "the set's folder, FAT-safe" -d "$SD"
check "its index" -f "$SD/index"
check "its setlist.json" -f "$SD/setlist.json"
check "6 sample files on the card" "$(find "$SD" -name '*.wav' | wc -l)" = 6
check "setlist.json holds the order" "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print([(i["kind"], len(i["files"])) for i in d["items"]])' "$SD/setlist.json")" = "[('project', 5), ('patch', 1)]"
expect 0 "check both: intact" "$SHELF" --json setlist check "$SET" "$FAT" "$D2"
check "intact, 6 of 6, the order current" "$(json '[(m["status"], m["intact"], m["needed"], m["order"]) for m in j]')" = "[('intact', 6, 6, True), ('intact', 6, 6, True)]"
expect 0 "a second mirror writes nothing" "$SHELF" --json setlist mirror "$SET" "$D2"
check "all unchanged" "$(json '[(m["written"], m["unchanged"]) for m in j]')" = "[(0, 6)]"

# ---- check finds what is wrong; mirror mends it ----
F1=$(find "$SD" -name 'Kick*.wav')
rm "$F1"
F2=$(find "$D2" -name 'lead*.wav')
damage "$F2" 100 4
expect 1 "check: damage is exit 1" "$SHELF" --json setlist check "$SET" "$FAT" "$D2"
check "the card misses one, the stick has one corrupt" "$(json '[(m["status"], m["missing"], m["corrupt"]) for m in j]')" = "[('damaged', 1, 0), ('damaged', 0, 1)]"
check "each problem named" "$(json '[[(p["problem"], p["name"]) for p in m["problems"]] for m in j]')" = "[[('missing', 'Kick é')], [('corrupt', 'lead')]]"
expect 1 "check as text" "$SHELF" setlist check "$SET" "$D2"
contains "text: what is wrong and where" "$out" "corrupt  sample"
contains "text: what mends it" "$out" "shelf setlist mirror mends it"
"$SHELF_TG" --seed 77 "$S/lead.wav"
expect 0 "the lead changes here" "$SHELF" import "$S"
expect 1 "check: the changed sample is stale on the card" "$SHELF" --json setlist check "$SET" "$FAT"
check "stale 1, missing 1" "$(json '[(m["stale"], m["missing"]) for m in j]')" = "[(1, 1)]"
expect 0 "reorder the set" "$SHELF" setlist add "$SET" "patch:$LEAD" --at 1
expect 1 "check: the order on it is old" "$SHELF" --json setlist check "$SET" "$FAT"
check "order false" "$(json 'j[0]["order"]')" = False
expect 0 "mirror again mends both" "$SHELF" setlist mirror "$SET" "$FAT" "$D2"
expect 0 "check: intact again" "$SHELF" --json setlist check "$SET" "$FAT" "$D2"
check "all intact, order current" "$(json '[(m["intact"], m["order"]) for m in j]')" = "[(6, True), (6, True)]"

# ---- a card mounted read-only is checked as it is ----
mountpoint -q "$FAT" || { [ "$(id -u)" = 0 ] && mount --bind "$FAT" "$FAT" 2>/dev/null; }
if mountpoint -q "$FAT" && mount -o remount,bind,ro "$FAT" 2>/dev/null; then
    expect 0 "check a read-only card" "$SHELF" --json setlist check "$SET" "$FAT"
    check "intact" "$(json 'j[0]["intact"]')" = 6
    expect 1 "mirror onto it fails in one line" "$SHELF" setlist mirror "$SET" "$FAT"
    check "one line" "$(echo "$err" | wc -l)" = 1
    mount -o remount,bind,rw "$FAT"
else
    skip "read-only card" "needs the FAT card mounted"
fi
expect 3 "a medium with no mirror (exit 3)" "$SHELF" setlist check "$SET" "$T"
contains "it says so" "$err" "holds no mirror of set list"

# ---- pin: the cache pins in the set's order ----
expect 0 "pin" "$SHELF" --json setlist pin "$SET"
check "6 pinned" "$(json 'j["samples"]')" = 6
WANT=$("$SHELF" --json setlist show "$SET" >/dev/null; sqlite3 "$T/lib/shelf.db" "SELECT sample_id FROM patch_samples WHERE patch_id = $LEAD" | head -1)
check "the first pin is the first item's sample" "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pins"][0])' "$T/lib/cache-pins")" = "$WANT"
expect 0 "cache stats sees them" "$SHELF" --json cache stats
expect 0 "unpin" "$SHELF" setlist pin "$SET" --off
check "none pinned" "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["pins"]))' "$T/lib/cache-pins")" = 0

# ---- the catalog moves under it ----
expect 0 "archive the project" "$SHELF" project archive 1 --to "$T/archive target"
expect 3 "mirror: an archived sample is refused by name (exit 3)" "$SHELF" setlist mirror "$SET" "$D2"
contains "it names it and what to do" "$err" "is archived (shelf project unarchive)"
expect 0 "unarchive" "$SHELF" project unarchive 1
expect 0 "remove the lead patch from the catalog" "$SHELF" patch rm --force "$LEAD"
expect 0 "show" "$SHELF" --json setlist show "$SET"
check "it left the set" "$(json '[i["kind"] for i in j]')" = "['project']"
expect 0 "rm" "$SHELF" setlist rm "$SET"
expect 0 "ls" "$SHELF" --json setlist ls
check "no set lists" "$out" = "[]"
mountpoint -q "$FAT" && umount "$FAT"
finish
