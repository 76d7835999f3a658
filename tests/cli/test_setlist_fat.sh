# test_setlist_fat.sh: a set list mirrored onto a real FAT file system (an
# image made with mkfs.vfat, mounted through a loop device as root), with
# names FAT refuses or folds (':', '?', case, accents, CJK, emoji), then
# checked there, and checked again after the card is mounted read-only.
# Skipped where the kernel cannot mount vfat (a container) or without root.
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || { echo "skipped: needs root to mount a FAT image"; exit 77; }
command -v mkfs.vfat >/dev/null || { echo "skipped: no mkfs.vfat (dosfstools; scripts/install-deps)"; exit 77; }
truncate -s 64M "$T/card.img" && mkfs.vfat "$T/card.img" >/dev/null || { echo "mkfs.vfat failed"; exit 1; }
mkdir -p "$T/card"
mount -o loop,utf8 "$T/card.img" "$T/card" 2>"$T/mount.err" ||
    { echo "skipped: this kernel does not mount vfat: $(head -1 "$T/mount.err")"; exit 77; }
trap 'umount "$T/card" 2>/dev/null; rm -rf "$T"' EXIT

S="$T/samples"
mkdir -p "$S"
"$SHELF_TG" --seed 1 "$S/Kick é.wav" "$S/kick É.wav" "$S/Snare: 2?.wav" "$S/pad 🎹 パッド.wav"
expect 0 "init" "$SHELF" init
expect 0 "import" "$SHELF" import "$S"
expect 0 "a project" "$SHELF" project new "Set"
expect 0 "it uses them all" "$SHELF" project add 1 "$S/Kick é.wav" "$S/kick É.wav" "$S/Snare: 2?.wav" "$S/pad 🎹 パッド.wav"
expect 0 "a set list" "$SHELF" setlist new "Tour: 2027"
expect 0 "the project in it" "$SHELF" setlist add "Tour: 2027" project:1
expect 0 "mirror onto FAT" "$SHELF" --json setlist mirror "Tour: 2027" "$T/card"
check "4 samples" "$(json 'j[0]["samples"]')" = 4
check "4 files on the card (names equal but for case kept apart)" "$(find "$T/card" -name '*.wav' | wc -l)" = 4
expect 0 "check on FAT" "$SHELF" --json setlist check "Tour: 2027" "$T/card"
check "intact" "$(json '(j[0]["intact"], j[0]["needed"])')" = "(4, 4)"
mount -o remount,ro "$T/card"
expect 0 "check the card mounted read-only" "$SHELF" --json setlist check "Tour: 2027" "$T/card"
check "intact read-only" "$(json 'j[0]["intact"]')" = 4
finish
