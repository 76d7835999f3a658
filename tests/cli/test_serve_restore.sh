# test_serve_restore.sh: restore in the API of `shelf serve`:
# tests/cli/test_serve_restore.py (Python's standard library only) makes a
# library with names in accents, CJK, emoji, spaces, a newline and bytes that
# are not UTF-8, backs it up into a plain and an encrypted repository, changes
# the library, starts the server and checks repositories, snapshots, items,
# the preview with its exact counts, the apply with a choice per conflict,
# the files and the catalog after it, progress, the audit log, the rules of
# changes (401, 403, 409) and that a password given through the page is
# never sent back.
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || { echo "skipped: python3 not installed (scripts/install-deps)"; exit 77; }
python3 "$(dirname "$0")/test_serve_restore.py" "$T"
