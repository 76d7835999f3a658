# test_patch.sh: patches and projects from the command line: import (SFZ
# written here), show, set with types, history, diff, revert, branch and
# merge with conflicts, undo, refs, rm --force, export to SFZ and back,
# projects and automation.
. "$(dirname "$0")/lib.sh"

S="$T/s"
mkdir -p "$S/piano/samples"
"$SHELF_TG" --seed 1 "$S/piano/samples/c4.wav"
"$SHELF_TG" --seed 2 "$S/piano/samples/e4.wav"
cat > "$S/piano/grand.sfz" <<'EOF'
// a small piano
<control> default_path=samples/
<global> volume=-6 ampeg_release=0.5
<group> lovel=0 hivel=127
<region> sample=c4.wav lokey=c4 hikey=d#4 pitch_keycenter=c4
<region> sample=e4.wav lokey=e4 hikey=g4 pitch_keycenter=64 loop_mode=loop_continuous loop_start=10 loop_end=2000
EOF
expect 0 "init" "$SHELF" init

# Import: the patch and the samples it names.
expect 0 "patch import" "$SHELF" --json patch import "$S/piano/grand.sfz"
P=$(json 'j[0]["id"]')
expect 0 "patch ls" "$SHELF" --json patch ls
check "one patch" "$(json 'len(j)')" = 1
check "its format" "$(json 'j[0]["format"]')" = sfz
check "it uses two samples" "$(json 'j[0]["refs"]')" = 2
expect 0 "samples imported with it" "$SHELF" --json ls
check "two samples" "$(json 'len(j)')" = 2
expect 0 "patch show --json" "$SHELF" --json patch show "$P"
check "two zones" "$(json 'len(j["zones"])')" = 2
check "key range from note names" "$(json 'sorted(z["key"] for z in j["zones"].values())' | tr -d ' ')" = "[[60,63],[64,67]]"
check "zones point at catalog samples" "$(json 'all("id" in z["sample"] and len(z["sample"]["sha256"])==64 for z in j["zones"].values())')" = True
check "sample paths relative to the patch" "$(json 'sorted(z["sample"]["path"] for z in j["zones"].values())' | tr -d ' ')" = "['samples/c4.wav','samples/e4.wav']"
expect 0 "patch show" "$SHELF" patch show "$P"
contains "show names the patch" "$out" "grand"
contains "show lists zones" "$out" "zones (2)"

# Edits make versions.
expect 0 "set a value" "$SHELF" patch set "$P" params/filter/cutoff=1200 -m "brighter"
expect 0 "set a tag and rating" "$SHELF" patch set "$P" tags+=piano rating=4
expect 0 "set several at once" "$SHELF" patch set "$P" params/filter/cutoff=900 comment="warm"
expect 0 "history" "$SHELF" --json patch history "$P"
check "four versions" "$(json 'len(j)')" = 4
check "newest is the head" "$(json 'j[0]["head"]')" = True
check "message kept" "$(json 'j[2]["message"]')" = brighter
check "parents chain" "$(json '[v["parent"] for v in j]' | tr -d ' ')" = "[3,2,1,None]"
expect 0 "diff of the head" "$SHELF" patch diff "$P"
contains "diff shows the change" "$out" "params/filter/cutoff: 1200 -> 900"
contains "diff shows an added value" "$out" "+ comment: warm"
expect 0 "diff two versions --json" "$SHELF" --json patch diff "$P@1" 4
check "diff lists the tag" "$(json '[o["path"] for o in j if o["path"].startswith("tags/")]')" = "['tags/piano']"
expect 0 "show an old version" "$SHELF" --json patch show "$P@2"
check "old version has the old value" "$(json 'j["params"]["filter"]["cutoff"]')" = 1200
HASH=$("$SHELF" --json patch history "$P" | python3 -c 'import json,sys; print(json.load(sys.stdin)[2]["hash"][:8])')
expect 0 "show by hash prefix" "$SHELF" --json patch show "$P@$HASH"
check "hash prefix names version 2" "$(json 'j["params"]["filter"]["cutoff"]')" = 1200
expect 2 "a number where a number was" "$SHELF" patch set "$P" params/filter/cutoff=bright
contains "type kept" "$err" "is a number"
expect 2 "a rating out of range" "$SHELF" patch set "$P" rating=9
expect 3 "no such patch" "$SHELF" patch show 999
expect 3 "no such version" "$SHELF" patch show "$P@77"
expect 0 "set with no change" "$SHELF" patch set "$P" params/filter/cutoff=900
contains "no change" "$out" "no change"

# Revert and undo.
expect 0 "revert" "$SHELF" patch revert "$P" 1
expect 0 "reverted" "$SHELF" --json patch show "$P"
check "revert brings back version 1" "$(json '"params" in j and "filter" in j["params"]')" = False
expect 0 "undo the revert" "$SHELF" undo
contains "undo says what" "$out" "undid version 5"
expect 0 "after undo" "$SHELF" --json patch show "$P"
check "undo restores 900" "$(json 'j["params"]["filter"]["cutoff"]')" = 900
expect 0 "undo again goes further back" "$SHELF" undo
contains "undid version 4" "$out" "undid version 4"

# Branch from version 2, change the same value and another one, then merge.
"$SHELF" --json patch show "$P@2" > "$T/v2.json"
python3 - "$T/v2.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["params"]["filter"]["cutoff"] = 3000
d["params"]["amp"] = {"pan": 10}
d["tags"] = ["bright"]
json.dump(d, open(sys.argv[1], "w"))
PY
expect 0 "branch from version 2" "$SHELF" patch edit "$P@2" --file "$T/v2.json" -m branch
BR=$("$SHELF" --json patch history "$P" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["version"])')
# ... and continue the main line from version 7 with another cutoff.
"$SHELF" --json patch show "$P@7" > "$T/v7.json"
python3 - "$T/v7.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["params"]["filter"]["cutoff"] = 1500
json.dump(d, open(sys.argv[1], "w"))
PY
expect 0 "continue the main line" "$SHELF" patch edit "$P@7" --file "$T/v7.json" -m main
expect 7 "merge with a conflict" "$SHELF" patch merge "$P" "$BR"
contains "conflict listed" "$err" "conflict params/filter/cutoff"
contains "theirs shown" "$err" "theirs: 3000"
expect 0 "nothing changed by a failed merge" "$SHELF" --json patch history "$P"
check "no merge version" "$(json 'j[0]["parent2"]')" = None
expect 0 "merge --preview" "$SHELF" patch merge "$P" "$BR" --preview
contains "preview shows the conflict" "$err" "conflict params/filter/cutoff"
expect 0 "merge resolving with --set" "$SHELF" patch merge "$P" "$BR" --set params/filter/cutoff=2000
expect 0 "merged document" "$SHELF" --json patch show "$P"
check "resolved value" "$(json 'j["params"]["filter"]["cutoff"]')" = 2000
check "their other change merged" "$(json 'j["params"]["amp"]["pan"]')" = 10
check "tags merged as a set" "$(json 'sorted(j["tags"])')" = "['bright', 'piano']"
check "rating kept from ours" "$(json 'j["rating"]')" = 4
expect 0 "merge has two parents" "$SHELF" --json patch history "$P"
check "two parents" "$(json 'j[0]["parent2"]')" = "$BR"
expect 0 "merging again is a no-op" "$SHELF" patch merge "$P" "$BR"
contains "already merged" "$out" "already part of the head"

# References and removal.
C4=$("$SHELF" info --json "$S/piano/samples/c4.wav" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
expect 0 "refs of a sample" "$SHELF" --json refs "$C4"
check "used by the patch" "$(json '[(r["kind"], r["id"]) for r in j]' | tr -d ' ')" = "[('patch',$P)]"
expect 0 "refs of a patch" "$SHELF" --json refs "patch:$P"
check "patch uses two samples" "$(json 'len([r for r in j if r["relation"]=="uses"])')" = 2
expect 1 "rm a used sample" "$SHELF" rm "$C4"
contains "says who uses it" "$err" "used by patch $P"
contains "points at --force" "$err" "--force"

# Export to SFZ and import the export again.
expect 0 "export" "$SHELF" patch export "$P" "$T/exp/grand2.sfz"
check "sfz written" -f "$T/exp/grand2.sfz"
check "samples copied" "$(ls "$T/exp/grand2 samples" | wc -l)" = 2
expect 0 "import the export" "$SHELF" --json patch import "$T/exp/grand2.sfz"
P2=$(json 'j[0]["id"]')
expect 0 "exported zones" "$SHELF" --json patch show "$P2"
check "same key ranges after a round trip" "$(json 'sorted(z["key"] for z in j["zones"].values())' | tr -d ' ')" = "[[60,63],[64,67]]"
check "same sample hashes" "$(json 'len(set(z["sample"]["sha256"] for z in j["zones"].values()))')" = 2

# The whole history leaves as JSON and comes back into another library
# with every version, hash and parent.
expect 0 "export history" "$SHELF" patch export "$P" "$T/hist.json"
"$SHELF" --json patch history "$P" > "$T/h1.json"
expect 0 "second library" "$SHELF" -L "$T/lib2" init
expect 0 "its samples" "$SHELF" -L "$T/lib2" import "$S/piano/samples"
expect 0 "import history" "$SHELF" -L "$T/lib2" --json patch import "$T/hist.json"
Q=$(json 'j[0]["id"]')
"$SHELF" -L "$T/lib2" --json patch history "$Q" > "$T/h2.json"
check "same versions, hashes, parents, messages" "$(python3 -c '
import json,sys
a=json.load(open(sys.argv[1])); b=json.load(open(sys.argv[2]))
key=lambda v:(v["version"],v["hash"],v["parent"],v["parent2"],v["time"],v["device"],v["message"],v["head"])
print([key(v) for v in a]==[key(v) for v in b])' "$T/h1.json" "$T/h2.json")" = True
expect 0 "samples found by hash" "$SHELF" -L "$T/lib2" --json refs "patch:$Q"
check "two samples linked" "$(json 'len(j)')" = 2
sed 's/"cutoff": *2000/"cutoff":2001/' "$T/hist.json" > "$T/hist-bad.json"
expect 1 "a history that lies" "$SHELF" -L "$T/lib2" patch import "$T/hist-bad.json"
contains "hash mismatch named" "$err" "does not match its hash"
expect 0 "nothing half-imported" "$SHELF" -L "$T/lib2" --json patch ls
check "still one patch" "$(json 'len(j)')" = 1

# Projects and automation.
expect 0 "project new" "$SHELF" --json project new "Live set" --tempo 124
J=$(json 'j["id"]')
expect 0 "project add" "$SHELF" project add "$J" "patch:$P" "$C4"
expect 0 "automation add" "$SHELF" automation add "$J" "patch:$P/params/filter/cutoff" 0:200 8:4000 16:200
expect 0 "automation show" "$SHELF" --json automation show "$J"
check "one lane" "$(json 'len(j)')" = 1
check "three points" "$(json 'len(j["a0001"]["points"])')" = 3
expect 0 "project show" "$SHELF" project show "$J"
contains "tempo shown" "$out" "124 bpm"
expect 0 "refs of a project" "$SHELF" --json refs "project:$J"
check "project uses a patch and a sample" "$(json 'sorted(r["kind"] for r in j)')" = "['patch', 'sample']"
expect 0 "project touch" "$SHELF" project touch "$J"
expect 0 "project ls after touch" "$SHELF" --json project ls
check "last_used recorded" "$(json 'j[0]["last_used"] is not None')" = True
expect 0 "project drop" "$SHELF" project drop "$J" "$C4"
expect 0 "project ls" "$SHELF" --json project ls
check "one item left" "$(json 'j[0]["refs"]')" = 1

# Bad input: a broken SFZ names its line; nothing is created.
printf '<region> sample=c4.wav\n<regoin> sample=e4.wav\n' > "$S/piano/bad.sfz"
expect 1 "broken sfz" "$SHELF" patch import "$S/piano/bad.sfz"
contains "error names file and line" "$err" "bad.sfz:2"
printf '<region> sample=nothere.wav\n' > "$S/piano/missing.sfz"
expect 3 "missing sample" "$SHELF" patch import "$S/piano/missing.sfz"
contains "names the sample" "$err" "nothere.wav"
expect 0 "missing allowed" "$SHELF" patch import --allow-missing "$S/piano/missing.sfz"
expect 0 "patch count" "$SHELF" --json patch ls
check "no half-imported patch" "$(json 'len(j)')" = 3
printf '{"shelf_patch": 1, "name": 5}' > "$T/bad.json"
expect 1 "bad json document" "$SHELF" patch new --file "$T/bad.json"
contains "names the member" "$err" "name"
expect 0 "rm --force a used sample" "$SHELF" rm --force "$C4"
expect 0 "patch rm" "$SHELF" patch rm "$P2"
expect 0 "patch ls after rm" "$SHELF" --json patch ls
check "two patches left" "$(json 'len(j)')" = 2
finish
