# test_browse.sh: collections, synonyms and duplicates from the command line.
. "$(dirname "$0")/lib.sh"

S="$T/s"
mkdir -p "$S/a" "$S/b"
"$SHELF_TG" --seed 1 "$S/a/Kick One.wav" "$S/a/Kick Two.wav" "$S/a/Pad Dark.wav"
"$SHELF_TG" --seed 1 --format flac "$S/b/Kick One.flac"   # the same audio as Kick One.wav
cp "$S/a/Kick Two.wav" "$S/b/Kick Two copy.wav"            # the same bytes
"$SHELF_TG" --seed 9 "$S/b/Pad Dark.wav"                     # the same name, other sound
expect 0 "import" "$SHELF" import "$S"
id() { "$SHELF" info --json "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'; }
K1=$(id "$S/a/Kick One.wav"); K2=$(id "$S/a/Kick Two.wav"); P=$(id "$S/a/Pad Dark.wav")

expect 0 "collection new" "$SHELF" collection new live
expect 1 "collection new twice" "$SHELF" collection new live
contains "duplicate collection named" "$err" "collection 'live' already exists"
expect 0 "collection add" "$SHELF" collection add live "$K2" "$P"
expect 0 "collection add --at 0" "$SHELF" collection add --at 0 live "$S/a/Kick One.wav"
expect 0 "collection show" "$SHELF" --json collection show live
check "order kept" "$(json '[r["id"] for r in j]' | tr -d ' ')" = "[$K1,$K2,$P]"
expect 0 "collection rm" "$SHELF" collection rm live "$K2"
expect 0 "search in a collection" "$SHELF" search --json 'in:live kick'
check "in:live kick" "$(json 'j["total"]')" = 1
expect 0 "saved search" "$SHELF" collection new pads 'pad -name:one'
expect 0 "collection ls" "$SHELF" --json collection ls
check "two collections" "$(json 'len(j)')" = 2
check "saved search counts its matches" "$(json '[c["count"] for c in j if c["name"]=="pads"][0]')" = 2
expect 2 "saved search with a bad query" "$SHELF" collection new bad 'tag:'
contains "bad saved query column" "$err" "^"
expect 2 "add to a saved search" "$SHELF" collection add pads "$K1"
expect 0 "collection delete" "$SHELF" collection delete live
expect 2 "in: a deleted collection" "$SHELF" search 'in:live'
contains "no such collection" "$err" "no collection 'live'"

expect 0 "synonyms ls" "$SHELF" synonyms
contains "kick = bd" "$out" "bassdrum = bd"
expect 0 "synonyms add" "$SHELF" synonyms add pad atmo
expect 0 "a new synonym finds" "$SHELF" search --json atmo
check "atmo finds pads" "$(json 'j["total"]')" = 2
expect 0 "synonyms rm" "$SHELF" synonyms rm atmo
expect 0 "removed synonym no longer finds" "$SHELF" search --json atmo
check "atmo finds nothing" "$(json 'j["total"]')" = 0
expect 2 "synonyms add one word" "$SHELF" synonyms add lonely

# Facets: each value's filter, added to the query, finds its count.
expect 0 "search --facets kick" "$SHELF" --json search --facets kick
facets="$out"
check "kick: the formats" "$(json 'sorted(v["value"] for v in j["facets"]["format"])')" = "['flac', 'wav']"
n=0
while IFS=$'\t' read -r want filter; do
    "$SHELF" --json search --count-limit 0 "(kick) $filter" >"$T/fout" 2>&1
    got=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["total"])' "$T/fout")
    [ "$got" = "$want" ] || fail "facet $filter: counted $want, the search finds $got"
    n=$((n + 1))
done < <(printf '%s' "$facets" | python3 -c 'import json,sys; j=json.load(sys.stdin)
for vs in j["facets"].values():
    for v in vs: print("%d\t%s" % (v["count"], v["filter"]))')
check "every facet value of kick checked by its search ($n)" "$n" -gt 8
expect 0 "search --facets with no query counts all" "$SHELF" --json search --facets --max-values 0
check "every sample in the rating facet" "$(json 'sum(v["count"] for v in j["facets"]["rating"])')" = "$("$SHELF" --json stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["samples"])')"
expect 0 "search --facets text" "$SHELF" search --facets kick
contains "facets as lines" "$out" "format:wav"
expect 2 "search --facets with a bad query" "$SHELF" search --facets 'kick ('
contains "bad query column" "$err" "column 7"

expect 0 "dupes" "$SHELF" --json dupes
check "same bytes" "$(json 'sorted(r["name"] for r in j["bytes"][0])' )" = "['Kick Two', 'Kick Two copy']"
check "same audio in WAV and FLAC" "$(json 'sorted(set(r["format"] for g in j["audio"] for r in g if r["name"]=="Kick One"))')" = "['FLAC', 'WAV']"
check "same name, other sound" "$(json 'sorted(r["path"] for r in j["name"][0])')" = "['a/Pad Dark.wav', 'b/Pad Dark.wav']"
expect 0 "dupes --bytes only" "$SHELF" dupes --bytes
contains "heading" "$out" "identical files"
finish
