# test_import_hints.sh: `shelf import` says how many presets it passed over
# and what imports them, and explains a WAV file whose audio is compressed
# in a codec shelf cannot decode (Ogg Vorbis or MP3 inside a WAV).
. "$(dirname "$0")/lib.sh"

P="$T/presets"
mkdir -p "$P/synth" "$P/.hidden"
"$SHELF_TG" --seed 1 "$P/c4.wav"
printf '<region> sample=c4.wav\n' > "$P/piano.sfz"
printf '<region> sample=c4.wav\n' > "$P/synth/pad.SFZ"
: > "$P/synth/bass.xiz"
: > "$P/synth/lead.xpf"
: > "$P/.hidden/x.sfz"
echo "not a preset" > "$P/readme.txt"
expect 0 "init" "$SHELF" init
expect 0 "import a folder with presets" "$SHELF" import "$P"
contains "the sample imported" "$out" "1 imported"
contains "presets counted" "$out" "4 presets (SFZ, ZynAddSubFX, LMMS, Decent Sampler) not imported"
contains "what imports them" "$out" "'shelf patch import PATH...' imports them"
expect 0 "import --json" "$SHELF" --json import "$P"
check "presets in JSON" "$(json 'j["presets"]')" = 4
expect 0 "import without presets" "$SHELF" import "$P/c4.wav"
case "$out" in *preset*) fail "no presets, no note: $out" ;; *) ok "no presets, no note" ;; esac
expect 0 "patch import takes them" "$SHELF" --json patch import "$P/piano.sfz"

# A WAV whose 'fmt ' chunk says Ogg Vorbis (format tag 0x6771), as in some
# packs Debian ships, and one with MP3 inside (0x0055).
W="$T/wav"
mkdir -p "$W"
"$SHELF_TG" --seed 2 "$W/vorbis.wav" "$W/mpeg.wav"
python3 - "$W/vorbis.wav" 0x6771 "$W/mpeg.wav" 0x0055 <<'EOF'
import struct, sys
for path, tag in zip(sys.argv[1::2], sys.argv[2::2]):
    b = bytearray(open(path, "rb").read())
    i = b.find(b"fmt ")
    b[i + 8:i + 10] = struct.pack("<H", int(tag, 16))
    open(path, "wb").write(b)
EOF
expect 4 "import of WAV files with Ogg and MP3 audio" "$SHELF" import "$W"
contains "Ogg explained" "$err" "cannot import '$W/vorbis.wav': a WAV file whose audio is compressed as Ogg Vorbis (format 0x6771), which shelf cannot play; convert it to a plain WAV or FLAC"
contains "MP3 explained" "$err" "cannot import '$W/mpeg.wav': a WAV file whose audio is compressed as MP3 (format 0x0055)"
expect 4 "the same with --json" "$SHELF" --json import "$W"
check "reason in JSON" "$(json '"Ogg Vorbis" in " ".join(f["reason"] for f in j["failures"])')" = True
finish
