# test_output.sh: output that cannot be written is a failure.  A command
# whose stdout is a full device (/dev/full) exits 1 and says why, instead of
# succeeding with a listing cut off: search, ls, --json, help, version.
. "$(dirname "$0")/lib.sh"

"$SHELF_TG" --seed 1 "$T/kick.wav"
expect 0 "init" "$SHELF" init
expect 0 "import" "$SHELF" import "$T/kick.wav"
expect 0 "search to a pipe" "$SHELF" search kick
contains "search finds the sample" "$out" "kick"

if [ ! -w /dev/full ]; then
    skip "full stdout" "no /dev/full"
    finish
    exit $?
fi
expect 1 "search to /dev/full fails" sh -c '"$SHELF" search kick >/dev/full'
contains "search says why" "$err" "shelf: cannot write the results: no space left on device"
expect 1 "ls to /dev/full fails" sh -c '"$SHELF" ls >/dev/full'
contains "ls says why" "$err" "cannot write to standard output: no space left on device"
expect 1 "ls --json to /dev/full fails" sh -c '"$SHELF" --json ls >/dev/full'
contains "ls --json says why" "$err" "cannot write to standard output: no space left on device"
expect 1 "help to /dev/full fails" sh -c '"$SHELF" help >/dev/full'
expect 1 "version to /dev/full fails" sh -c '"$SHELF" version >/dev/full'
# a command that failed keeps its own status and message
expect 3 "info of a missing id keeps exit 3" sh -c '"$SHELF" info 999 >/dev/full'
finish
