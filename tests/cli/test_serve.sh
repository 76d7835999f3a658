# test_serve.sh: `shelf serve`, the local web UI's server and JSON API, end
# to end: tests/cli/test_serve.py (Python's standard library only) makes a
# library in this test's temp folder, starts the server and checks its
# security rules, every endpoint, audio, peaks, start-up and stop.
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || { echo "skipped: python3 not installed (scripts/install-deps)"; exit 77; }
python3 "$(dirname "$0")/test_serve.py" "$T"
