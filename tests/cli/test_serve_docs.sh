# test_serve_docs.sh: patches and projects in the API of `shelf serve`:
# tests/cli/test_serve_docs.py (Python's standard library only) makes a
# library with a history in this test's temp folder, starts the server and
# checks list and search, documents, history, diff, revert, undo and merge
# as a preview and its apply, with the rules of changes (401, 403, 409).
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || { echo "skipped: python3 not installed (scripts/install-deps)"; exit 77; }
python3 "$(dirname "$0")/test_serve_docs.py" "$T"
