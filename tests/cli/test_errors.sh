# test_errors.sh: bad input gets a one-line error, a documented exit status,
# and leaves the library consistent.
. "$(dirname "$0")/lib.sh"

S="$T/samples"
mkdir -p "$S"
"$SHELF_TG" "$S/good1.wav" "$S/good2.wav"
: > "$S/empty.wav"
echo "RIFF but not really" > "$S/fake.wav"
head -c 30 "$S/good1.wav" > "$S/truncated.wav"
head -c 3000 /dev/urandom > "$S/noise.flac"

expect 0 "init" "$SHELF" init
expect 3 "import of a missing path" "$SHELF" import "$T/does-not-exist"
contains "missing path named" "$err" "cannot import '$T/does-not-exist': no such file or directory"
check "one line" "$(printf '%s\n' "$err" | wc -l)" = 1
expect 0 "nothing written by the failed import" "$SHELF" stats --json
check "still empty" "$(json 'j["samples"]')" = 0

expect 4 "import with bad files exits 4" "$SHELF" import "$S"
contains "good files imported" "$out" "2 imported"
contains "empty file reported" "$err" "cannot import '$S/empty.wav': empty file"
contains "fake reported" "$err" "cannot import '$S/fake.wav': "
contains "truncated reported" "$err" "cannot import '$S/truncated.wav': "
contains "noise reported" "$err" "cannot import '$S/noise.flac': "
check "one line per bad file" "$(printf '%s\n' "$err" | wc -l)" = 4
expect 4 "json lists failures" "$SHELF" --json import "$S"
check "four failures with reasons" "$(json 'len([f for f in j["failures"] if f["reason"]])')" = 4
expect 0 "catalog holds only good rows" "$SHELF" stats --json
check "two samples" "$(json 'j["samples"]')" = 2

expect 2 "import without paths" "$SHELF" import
expect 2 "bad batch size" "$SHELF" import --batch 0 "$S"
expect 2 "rate without value" "$SHELF" rate 1
expect 2 "unknown option" "$SHELF" ls --bogus

# Locks: gc and vacuum refuse while another process holds the library.
flock -s "$SHELF_LIBRARY/lock" sleep 3 &
sleep 0.3
expect 5 "gc while busy" "$SHELF" gc
contains "busy message" "$err" "is in use by another process"
expect 5 "vacuum while busy" "$SHELF" vacuum
wait
expect 0 "gc after the lock is gone" "$SHELF" gc

# A library from the future is refused, untouched.
mkdir -p "$T/future"
"$SHELF" -L "$T/future" init >/dev/null
sqlite3 "$T/future/shelf.db" "PRAGMA user_version=99"
expect 6 "newer catalog refused" "$SHELF" -L "$T/future" ls
contains "newer catalog message" "$err" "schema 99"
check "version left as it was" "$(sqlite3 "$T/future/shelf.db" 'PRAGMA user_version')" = 99
printf '{"format": 7}\n' > "$T/future/config"
expect 6 "newer config refused" "$SHELF" -L "$T/future" ls

# A folder that is not a library, and one whose config is broken.
mkdir -p "$T/plain"
expect 3 "plain folder is not a library" "$SHELF" -L "$T/plain" ls
"$SHELF" -L "$T/broken" init >/dev/null
echo "{ not json" > "$T/broken/config"
expect 1 "broken config" "$SHELF" -L "$T/broken" ls
contains "broken config named" "$err" "$T/broken/config"
finish
