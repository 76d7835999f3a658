# test_basic.sh: init, import, browse and edit through the shelf program.
. "$(dirname "$0")/lib.sh"

S="$T/samples"
mkdir -p "$S/Drums Ünïcode/Kicks" "$S/Drums Ünïcode/Snares" "$S/Loops"
"$SHELF_TG" --frames 4410 "$S/Drums Ünïcode/Kicks/Kick Hard.wav" "$S/Drums Ünïcode/Kicks/Kick Soft.wav"
"$SHELF_TG" --format flac "$S/Drums Ünïcode/Snares/Snare_01.flac"
"$SHELF_TG" --format aiff --root-key 48 --loop 100:4000 "$S/Loops/Pad C2.aiff"
"$SHELF_TG" --format ogg --seed 9 "$S/Loops/Texture.ogg"
"$SHELF_TG" --tempo 120 --beats 8 --frames 44100 "$S/Loops/Break.wav"
"$SHELF_TG" --format opus --rate 48000 "$S/Loops/Voice.opus"
"$SHELF_TG" --format mp3 "$S/Loops/Bass Line.mp3"
echo "not audio" > "$S/notes.txt"

expect 0 "help lists exit statuses" "$SHELF" help
contains "help names exit 16+" "$out" "16+"
expect 0 "version" "$SHELF" version
contains "version string" "$out" "shelf 0."
expect 2 "unknown command" "$SHELF" frobnicate
contains "unknown command message" "$err" "unknown command 'frobnicate'"

expect 3 "ls without a library" "$SHELF" ls
contains "no library message" "$err" "no library at"
expect 0 "init" "$SHELF" init
check "init made shelf.db" -f "$SHELF_LIBRARY/shelf.db"
check "init made objects/" -d "$SHELF_LIBRARY/objects"
check "init made config" -f "$SHELF_LIBRARY/config"
expect 0 "init twice is fine" "$SHELF" init

expect 0 "import a folder" "$SHELF" import "$S"
contains "summary counts" "$out" "8 imported"
contains "summary ignored" "$out" "1 other files ignored"
check "no progress when not a terminal" -z "$err"
# On a terminal the progress line shows files/s and MB/s (script(1) gives a tty).
script -qec "'$SHELF' import '$S'" /dev/null > "$T/tty.out" 2>&1
contains "progress on a terminal" "$(cat "$T/tty.out")" "files/s"
expect 0 "rescan" "$SHELF" --json import "$S"
check "rescan: all unchanged" "$(json 'j["unchanged"]')" = 8
check "rescan: nothing read" "$(json 'j["bytes_read"]')" = 0

expect 0 "ls --json" "$SHELF" ls --json
check "ls has 8 rows" "$(json 'len(j)')" = 8
expect 0 "ls --sort name" "$SHELF" ls --sort name
check "first by name is Bass Line" "$(printf '%s\n' "$out" | head -1 | grep -c "Bass Line")" = 1
expect 0 "ls --sort -name" "$SHELF" ls --sort -name --limit 1 --json
check "last by name is Voice" "$(json 'j[0]["name"]')" = Voice
expect 2 "ls bad sort key" "$SHELF" ls --sort colour

expect 0 "search prefix" "$SHELF" search --json kic
check "search kic finds 2" "$(json 'j["total"]')" = 2
expect 0 "search two words" "$SHELF" search --json kick har
check "kick har finds Kick Hard" "$(json 'j["results"][0]["name"]')" = "Kick Hard"
expect 0 "search unicode folder" "$SHELF" search --json unicode
check "diacritics folded" "$(json 'j["total"]')" = 3
expect 0 "options after the words" "$SHELF" search kick --limit 1 --json
check "limit after words applies" "$(json 'len(j["results"])')" = 1
expect 0 "search nothing" "$SHELF" search --json zzzzqqq
check "no match" "$(json 'j["total"]')" = 0
expect 2 "a bad query is a usage error" "$SHELF" search '"kick' 'AND' '('
contains "the error names the column" "$err" "invalid query at column 1: missing closing '\"'"
contains "a caret marks the column" "$err" "  ^"
expect 0 "punctuation alone is no word" "$SHELF" search --json '&&' kick
check "punctuation ignored" "$(json 'j["total"]')" = 2
expect 0 "synonyms: bd finds kicks" "$SHELF" search --json bd
check "bd = kick" "$(json 'j["total"]')" = 2
expect 0 "filters" "$SHELF" search --json 'format:flac OR format:aiff'
check "flac or aiff" "$(json 'j["total"]')" = 2
expect 0 "negation" "$SHELF" search --json 'kick -hard'
check "kick but not hard" "$(json 'j["results"][0]["name"]')" = "Kick Soft"
expect 0 "numeric filter" "$SHELF" search --json 'len:>=1s'
check "one long sample" "$(json 'j["total"]')" = 1
expect 0 "check only" "$SHELF" search --check 'bpm:120..128 -tag:loop'

# Metadata the files carry is shown and searchable.
mkdir -p "$T/meta"
"$SHELF_TG" --title "Big Room Kick" --artist "DJ Tëster" --comment "recorded at midnight" \
    --genre techno "$T/meta/k1.wav"
"$SHELF_TG" --format flac --artist "Vorbis Person" "$T/meta/f1.flac"
expect 0 "import files with metadata" "$SHELF" import "$T/meta"
expect 0 "info shows RIFF INFO" "$SHELF" info --json "$T/meta/k1.wav"
check "title" "$(json 'j["title"]')" = "Big Room Kick"
check "artist" "$(json 'j["author"]')" = "DJ Tëster"
check "comment" "$(json 'j["comment"]')" = "recorded at midnight"
check "genre" "$(json 'j["genre"]')" = techno
expect 0 "comment words are searchable" "$SHELF" search --json midnight
check "found by comment" "$(json 'j["results"][0]["name"]')" = k1
expect 0 "author: filter, Vorbis comment" "$SHELF" search --json author:person
check "found by FLAC artist" "$(json 'j["results"][0]["name"]')" = f1

# A Hydrogen kit names its samples' kit, instruments and author.
mkdir -p "$T/kits/My Kit"
"$SHELF_TG" "$T/kits/My Kit/k 1.wav" "$T/kits/My Kit/sn.wav"
cat > "$T/kits/My Kit/drumkit.xml" <<'XML'
<?xml version="1.0" encoding="UTF-8"?>
<drumkit_info xmlns="http://www.hydrogen-music.org/drumkit">
 <name>Zebra Heavy Kit</name>
 <author>Kit Maker</author>
 <instrumentList>
  <instrument><id>0</id><name>Thunder Kick</name>
   <instrumentComponent><layer><filename>k 1.wav</filename></layer></instrumentComponent>
  </instrument>
  <instrument><id>1</id><name>Crack Snare</name><filename>sn.wav</filename></instrument>
 </instrumentList>
</drumkit_info>
XML
expect 0 "import a kit" "$SHELF" --json import "$T/kits"
check "drumkit.xml is not an ignored file" "$(json 'j["ignored"]')" = 0
expect 0 "kit metadata" "$SHELF" info --json "$T/kits/My Kit/k 1.wav"
check "kit name" "$(json 'j["kit"]')" = "Zebra Heavy Kit"
check "instrument" "$(json 'j["instrument"]')" = "Thunder Kick"
check "kit author" "$(json 'j["author"]')" = "Kit Maker"
expect 0 "kit and instrument names are searchable" "$SHELF" search --json zebra thunder
check "found by kit + instrument" "$(json 'j["total"]')" = 1
echo "<drumkit_info><name>broken" > "$T/kits/My Kit/drumkit.xml"
touch "$T/kits/My Kit/sn.wav"
expect 4 "a broken drumkit.xml is reported" "$SHELF" import "$T/kits"
contains "its reason" "$err" "drumkit.xml: XML error at line"

expect 0 "info of opus" "$SHELF" info --json "$S/Loops/Voice.opus"
check "opus format" "$(json 'j["format"], j["subtype"], j["rate"]')" = "OGG OPUS 48000"
expect 0 "info of mp3" "$SHELF" info --json "$S/Loops/Bass Line.mp3"
check "mp3 format" "$(json 'j["format"], j["category"]')" = "MP3 bass"
expect 0 "info by path" "$SHELF" info --json "$S/Loops/Pad C2.aiff"
check "aiff root key" "$(json 'j["root_key"]')" = 48
check "aiff loop" "$(json 'j["loop"]["start"], j["loop"]["end"]')" = "100 4000"
check "aiff note name" "$(json 'j["root_note"]')" = C3
ID=$(json 'j["id"]')
expect 0 "info of acid wav" "$SHELF" info --json "$S/Loops/Break.wav"
check "acid tempo" "$(json 'int(j["tempo"])')" = 120
check "acid beats" "$(json 'j["beats"]')" = 8
check "category from name" "$(json 'j["category"]')" = loop
expect 0 "info by id, human" "$SHELF" info "$ID"
contains "info shows loop" "$out" "loop:      100..4000 forward"
expect 3 "info unknown id" "$SHELF" info 99999
contains "info unknown id message" "$err" "no sample with id 99999"
expect 3 "info unknown path" "$SHELF" info "$T/nowhere.wav"

expect 0 "tag add" "$SHELF" tag add "$ID" pad warm
expect 0 "search by tag" "$SHELF" search --json warm
check "tag is searchable" "$(json 'j["results"][0]["id"]')" = "$ID"
expect 0 "tag rm" "$SHELF" tag rm "$ID" warm
expect 0 "tag gone from search" "$SHELF" search --json warm
check "tag removed" "$(json 'j["total"]')" = 0
expect 2 "tag with a space" "$SHELF" tag add "$ID" "two words"
expect 0 "rate" "$SHELF" rate "$ID" 4
expect 2 "rate 6" "$SHELF" rate "$ID" 6
expect 0 "fav" "$SHELF" fav "$ID"
expect 0 "touch" "$SHELF" touch "$ID"
expect 0 "info after edits" "$SHELF" info --json "$ID"
check "rating stored" "$(json 'j["rating"]')" = 4
check "favourite stored" "$(json 'j["favourite"]')" = True
check "last_used set" "$(json 'j["last_used"] is not None')" = True
expect 0 "ls --fav" "$SHELF" ls --fav --json
check "one favourite" "$(json 'len(j)')" = 1
expect 0 "ls --sort rating" "$SHELF" ls --sort -rating --limit 1 --json
check "highest rated first" "$(json 'j[0]["id"]')" = "$ID"
expect 0 "fav --off" "$SHELF" fav --off "$ID"

# Moves keep ids and user data; vanished files are marked missing.
mv "$S/Loops/Pad C2.aiff" "$S/Pad moved.aiff"
rm "$S/Loops/Texture.ogg"
expect 0 "rescan after move" "$SHELF" --json import "$S"
check "one moved" "$(json 'j["moved"]')" = 1
check "one missing" "$(json 'j["missing"]')" = 1
expect 0 "moved keeps id and rating" "$SHELF" info --json "$S/Pad moved.aiff"
check "same id after move" "$(json 'j["id"]')" = "$ID"
check "rating kept after move" "$(json 'j["rating"]')" = 4
expect 0 "ls --missing" "$SHELF" ls --missing --json
check "missing listed" "$(json 'j[0]["name"]')" = Texture

# -L works anywhere, and a second library is separate.
expect 0 "init with -L" "$SHELF" -L "$T/lib2" init
expect 0 "import --copy" "$SHELF" import --copy "$S/Loops" -L "$T/lib2"
expect 0 "stats --json" "$SHELF" -L "$T/lib2" stats --json
check "copies are managed" "$(json 'j["managed"]')" = 3
check "lib2 has 3 samples" "$(json 'j["samples"]')" = 3

expect 0 "rm" "$SHELF" rm "$ID"
expect 3 "rm again" "$SHELF" rm "$ID"
finish
