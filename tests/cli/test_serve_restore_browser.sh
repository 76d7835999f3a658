#!/bin/bash
# test_serve_restore_browser: the restore dialog in the page of `shelf serve`,
# in Debian's chromium driven headless by playwright-core
# (tests/browser/restore.js): the repositories (an encrypted one unlocked
# with a password typed into the page), a snapshot chosen, browsed and
# filtered, items chosen, the preview, the conflict dialog per item with
# "apply to all", a stale apply and the preview again, the progress to done,
# the files after it and the audit log, by keyboard, with names in accents,
# CJK, emoji, a newline and bytes that are not UTF-8.  Screenshots go to
# build/*/test-artifacts/serve_restore_browser/.
. "$(dirname "$0")/lib.sh"

PW="$SHELF_SRC/tests/servers/node_modules/playwright-core"
if [ ! -x /usr/bin/chromium ] || [ ! -d "$PW" ] || ! command -v node >/dev/null; then
    echo "skip: needs /usr/bin/chromium, node and playwright-core (scripts/install-deps)"
    exit 77
fi
unset SHELF_PASSWORD SHELF_DST_PASSWORD SHELF_REPOSITORY

S="$T/src"
mkdir -p "$S/dossier é"
"$SHELF_TG" --seed 1 "$S/dossier é/café.wav"
"$SHELF_TG" --seed 2 "$S/鼓 キック 🥁.wav"
"$SHELF_TG" --seed 3 "$S/new
line.wav"
"$SHELF_TG" --seed 4 "$S/$(printf 'bad\377.wav')"
"$SHELF_TG" --seed 5 "$S/ow take.wav"
"$SHELF_TG" --seed 6 "$S/kb take.wav"
"$SHELF_TG" --seed 7 "$S/steady.wav"
ORIG_OW=$(sha256sum "$S/ow take.wav" | cut -d' ' -f1)
ORIG_KB=$(sha256sum "$S/kb take.wav" | cut -d' ' -f1)
ORIG_CAFE=$(sha256sum "$S/dossier é/café.wav" | cut -d' ' -f1)
PATCH="Ça 鼓 🥁 pad"
PASS="geheim 秘密 🔑 $$"
expect 0 "init" "$SHELF" init
expect 0 "import" "$SHELF" import "$S"
expect 0 "a patch" "$SHELF" --json patch new "$PATCH"
P=$(json 'j["id"]')
PLAIN="$T/plain repo"
ENC="$T/vault 🔒"
expect 0 "plain repository" "$SHELF" backup init --no-encryption "$PLAIN"
expect 0 "backup" "$SHELF" backup "$PLAIN"
expect 0 "encrypted repository" env SHELF_PASSWORD="$PASS" "$SHELF" backup init --kdf-cost 10 "$ENC"
expect 0 "backup, encrypted" env SHELF_PASSWORD="$PASS" "$SHELF" backup "$ENC"
expect 0 "a schedule names it" "$SHELF" schedule add backup daily --target "$ENC" --name nightly
# changes since: two files edited (conflicts), one gone (comes back), the patch edited (a conflict)
"$SHELF_TG" --seed 55 "$S/ow take.wav"
"$SHELF_TG" --seed 66 "$S/kb take.wav"
EDIT_KB=$(sha256sum "$S/kb take.wav" | cut -d' ' -f1)
rm "$S/dossier é/café.wav"
expect 0 "patch edited" "$SHELF" patch set "$P" comment=later -m later
OW=$(sample_id "$SHELF_LIBRARY" "ow take")
KB=$(sample_id "$SHELF_LIBRARY" "kb take")
CAFE=$(sample_id "$SHELF_LIBRARY" "café")

serve_start -- --repo "$PLAIN"
if [ -z "$url" ]; then
    finish
    exit $?
fi
browser_run serve_restore_browser restore.js "the restore dialog in chromium" \
    SHELF_LIB="$SHELF_LIBRARY" SHELF_SRCDIR="$S" SHELF_PASS="$PASS" SHELF_P="$P" \
    SHELF_PATCH_NAME="$PATCH" SHELF_OW="$OW" SHELF_KB="$KB" SHELF_CAFE="$CAFE" SHELF_ORIG_OW="$ORIG_OW" \
    SHELF_ORIG_KB="$ORIG_KB" SHELF_EDIT_KB="$EDIT_KB" SHELF_ORIG_CAFE="$ORIG_CAFE"
bg_stop
if grep -q "$PASS" "$T/serve.err" "$T/serve.out"; then
    fail "the password is in the server's output"
else
    ok "the password is in no output of the server"
fi
finish
