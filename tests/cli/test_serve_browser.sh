#!/bin/bash
# test_serve_browser: the page of `shelf serve` in Debian's chromium, driven
# headless by playwright-core (tests/browser/browse.js): type-ahead that drops
# a late answer, keyboard navigation that auditions, edits by key that the API
# sees, the keys overlay, a bad query, an odd file name, a click in the
# waveform, the status view with an alert.  Screenshots go to build/test-artifacts/serve_browser/.
. "$(dirname "$0")/lib.sh"

PW="$SHELF_SRC/tests/servers/node_modules/playwright-core"
if [ ! -x /usr/bin/chromium ] || [ ! -d "$PW" ] || ! command -v node >/dev/null; then
    echo "skip: needs /usr/bin/chromium, node and playwright-core (scripts/install-deps)"
    exit 77
fi

S="$T/src"
mkdir -p "$S"
ODD="Ça 鼓 🥁 clap"
"$SHELF_TG" --seed 1 --frames 88200 "$S/Kick One.wav"
"$SHELF_TG" --seed 5 --frames 88200 "$S/Kick Two.wav"
"$SHELF_TG" --seed 2 --frames 88200 "$S/Kick Deep.wav"
"$SHELF_TG" --seed 3 "$S/Snare Tight.wav" "$S/Pad Dark.wav"
"$SHELF_TG" --seed 4 --frames 88200 "$S/$ODD.wav"
"$SHELF_TG" --seed 6 "$S/Hat Gone.wav"
expect 0 "import" "$SHELF" import "$S"
rm "$S/Hat Gone.wav"
expect 0 "a sample goes missing (an alert for the status view)" "$SHELF" import "$S"
expect 0 "tag the odd name" "$SHELF" tag add "$S/$ODD.wav" odd
expect 0 "tag a kick" "$SHELF" tag add "$S/Kick One.wav" punchy
expect 0 "a saved search" "$SHELF" collection new kicks kick
expect 0 "a collection" "$SHELF" collection new "my set"
expect 0 "in the collection" "$SHELF" collection add "my set" "$S/Snare Tight.wav"

serve_start
if [ -z "$url" ]; then
    finish
    exit $?
fi

browser_run serve_browser browse.js "the page in chromium" \
    SHELF_ODD_NAME="$ODD"
bg_stop
finish
