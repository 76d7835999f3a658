# test_stream.sh: the streaming commands end to end: stream render (the
# streamed render is bit-identical to the RAM render), stream stress with
# its CSV and PNG (from a folder, from catalog ids, with injected errors),
# a backward loop's crossfade, held in RAM or streamed (--loop-ram),
# cache pin/unpin/stats, store frag/optimize (files keep bytes and mtime, so
# verify still finds nothing changed), and usage errors.
. "$(dirname "$0")/lib.sh"

S="$T/samples"
M="$T/managed"
mkdir -p "$S" "$M"
"$SHELF_TG" --format wav24 --channels 2 --frames 150000 --seed 1 "$S/a.wav" "$S/b.wav"
"$SHELF_TG" --format flac --channels 2 --frames 100000 --seed 5 "$S/c.flac"
"$SHELF_TG" --format wav16 --channels 1 --frames 90000 --seed 9 "$M/m.wav"
expect 0 "init" "$SHELF" init
expect 0 "import" "$SHELF" import "$S"
expect 0 "import managed" "$SHELF" import --copy "$M"

# ---- render ------------------------------------------------------------------
cat > "$T/notes.txt" <<'NOTES'
shelf-notes 1
# two WAV files, a FLAC file and a managed sample by catalog id
sample samples/a.wav
sample samples/b.wav
sample samples/c.flac
sample #4
note 0 0
note 64 1 pitch=1.5 gain=0.5
note 1000 2 offset=20000 len=30000 release=300
note 5000 3 pitch=0.75
note 40000 0 offset=90000 pitch=2
NOTES
expect 0 "render --check" "$SHELF" stream render --check --chunk 16 --head 20 "$T/notes.txt" "$T/check.wav"
contains "bit-identical" "$out" "bit-identical"
expect 0 "render streamed" "$SHELF" stream render --chunk 16 --head 20 "$T/notes.txt" "$T/disk.wav"
expect 0 "render from RAM" "$SHELF" stream render --ram "$T/notes.txt" "$T/ram.wav"
if cmp -s "$T/disk.wav" "$T/ram.wav"; then ok "streamed file equals RAM file"; else fail "streamed file differs"; fi
expect 0 "render --json" "$SHELF" --json stream render --chunk 16 --head 20 "$T/notes.txt" "$T/j.wav"
check "render: five voices" "$(json 'j["voices"]')" = 5
check "render: it read from disk" "$(json 'j["reads"] > 10')" = True
check "render: no underruns" "$(json 'j["underruns"]')" = 0
python3 - "$T/disk.wav" <<'PY' && ok "render output: float stereo, not silent" || fail "render output"
import struct, sys
d = open(sys.argv[1], 'rb').read()
assert d[:4] == b'RIFF' and d[8:12] == b'WAVE'
i = d.index(b'fmt ')
tag, ch, rate = struct.unpack('<HHI', d[i + 8:i + 16])
assert tag == 3 and ch == 2 and rate == 48000, (tag, ch, rate)
j = d.index(b'data')
n = struct.unpack('<I', d[j + 4:j + 8])[0] // 4
v = struct.unpack('<%df' % n, d[j + 8:j + 8 + 4 * n])
assert sum(1 for x in v if x != 0) > n // 2
PY
# A backward loop with a crossfade: 1.15 MB with it.  Under a 2 MB bound
# (--loop-ram) it is held whole in RAM; over a 1 MB one its walk streams
# (its turns in RAM).  Both are bit-identical to the render from RAM, and
# the streamed walk reads the loop again on every lap.
printf 'shelf-notes 1\nsample samples/a.wav\nloop 0 1000 140000 mode=backward xfade=5000\nnote 0 0 pitch=3 len=200000\n' > "$T/back.txt"
expect 0 "render: the loop under --loop-ram 2" "$SHELF" stream render --check --chunk 16 --head 20 \
    --loop-ram 2 "$T/back.txt" "$T/x.wav"
contains "backward crossfaded loop: bit-identical" "$out" "bit-identical"
expect 0 "render: held, --json" "$SHELF" --json stream render --check --chunk 16 --head 20 \
    --loop-ram 2 "$T/back.txt" "$T/x.wav"
held_reads=$(json 'j["reads"]')
expect 0 "render: the loop over --loop-ram 1 streams" "$SHELF" --json stream render --check \
    --chunk 16 --head 20 --loop-ram 1 "$T/back.txt" "$T/x.wav"
check "streamed walk: bit-identical" "$(json 'j["identical"]')" = True
check "streamed walk: no underruns" "$(json 'j["underruns"]')" = 0
check "streamed walk: reads the loop on each lap ($(json 'j["reads"]') reads, $held_reads held)" \
    "$(json "j['reads'] > 2 * $held_reads")" = True
printf 'shelf-notes 1\nsample samples/a.wav\nnote 0 3\n' > "$T/bad.txt"
expect 2 "render: bad script" "$SHELF" stream render "$T/bad.txt" "$T/x.wav"
contains "line number in the message" "$err" "line 3"
expect 3 "render: no script" "$SHELF" stream render "$T/nothing.txt" "$T/x.wav"
expect 2 "render: wrong arguments" "$SHELF" stream render "$T/notes.txt"

# ---- stress ------------------------------------------------------------------
expect 0 "stress from a folder" "$SHELF" stream stress --dir "$S" --voices 4 --duration 2 --out "$T/plots"
# Not "clean": a late callback on a loaded test machine is timing, not a bug.
contains "stress summary" "$out" "4 voices: "
contains "stress: no stream failures" "$out" "0 underruns, 0 not ready, 0 read errors (0 chunks lost), 0 voices dropped"
check "csv written" -s "$T/plots/stress.csv"
check "csv: header and two rows" "$(wc -l < "$T/plots/stress.csv")" -eq 3
contains "csv columns" "$(head -1 "$T/plots/stress.csv")" "t,voices,underruns,not_ready,read_errors"
check "png written" "$(head -c 4 "$T/plots/stress.png" | od -An -c | tr -d ' ')" = '211PNG'
expect 0 "stress from catalog ids with errors" "$SHELF" --json stream stress --voices 3 --duration 1 \
    --inject-errors 0.5 --chunk 16 --head 20 1 2
check "injected errors counted" "$(json 'j["read_errors"] > 0')" = True
check "not clean" "$(json 'j["clean"]')" = False
expect 0 "stress: whole library, latency injected" "$SHELF" --json stream stress --voices 2 --duration 1 \
    --inject-latency 80@0.5 --chunk 16 --head 200
check "spikes counted" "$(json 'j["spikes"] > 0')" = True
# Feed only on the worst-case script: each of the three files its own voice
# from a random start; frames copied out, none interpolated.
expect 0 "stress --feed --worst" "$SHELF" --json stream stress --dir "$S" --feed --worst --voices 3 \
    --duration 1 --preroll 0.5
check "feed: frames copied" "$(json 'j["feed_frames"] > 40000')" = True
check "feed: no mix" "$(json 'j["mix_frames"]')" = 0
check "feed: no read served two voices" "$(json 'j["merged"]')" = 0
# The voices' RAM reserved first (a ring and its read each: 4 slots of
# 192 KiB for the 128 KiB chunks of 24-bit WAVs, of 256 KiB for the
# FLAC's), and the reads decoded into it.
check "feed: RAM reserved" "$(json 'j["reserve_bytes"] >= 3 * 4 * 196608')" = True
check "feed: reads in the reserve" "$(json '0 < j["reserve_used"] <= j["reserve_bytes"]')" = True
check "feed: chunks went to their voices" "$(json 'j["chunks_delivered"] > 0')" = True
check "feed: threads' CPU measured" "$(json '0 < j["sched_cpu_pct"] < 200 and 0 < j["audio_cpu_pct"] < 200')" = True
check "feed: late callbacks over a period of CPU among the late" "$(json '0 <= j["late_cpu"] <= j["late"]')" = True
# A mix that cannot keep up: 600 voices in blocks of 16 frames at 384 kHz
# (42 us a block) take more CPU than a block's period, and those late
# callbacks are counted as the engine's (late_cpu), not the machine's.
expect 0 "stress: a period too short for the mix" "$SHELF" --json stream stress --dir "$S" --voices 600 \
    --max-voices 1024 --block 16 --rate 384000 --duration 1
check "late callbacks over a period of CPU" "$(json '0 < j["late_cpu"] <= j["late"]')" = True
expect 0 "stress --feed --worst --no-reserve" "$SHELF" --json stream stress --dir "$S" --feed --worst \
    --voices 3 --duration 1 --preroll 0.5 --no-reserve
check "no reserve" "$(json 'j["reserve_bytes"] == 0 and j["feed_frames"] > 40000')" = True
# Reads into plain buffers, not the ones registered with the ring (the
# comparison doc/benchmarks.md makes; test_stream uring_fixed_buffers
# checks that reads go READ_FIXED otherwise).
expect 0 "stress --feed --worst --no-fixed" "$SHELF" --json stream stress --dir "$S" --feed --worst \
    --voices 3 --duration 1 --preroll 0.5 --no-fixed
check "no fixed buffers" "$(json 'j["reads_fixed"] == 0 and j["feed_frames"] > 40000')" = True
expect 0 "stress --worst mixed" "$SHELF" --json stream stress --dir "$S" --worst --voices 3 --duration 1 \
    --preroll 0.5
check "mixed: interpolated" "$(json 'j["mix_frames"] > 40000 and j["feed_frames"] == 0')" = True
# The mix's vector kernel ran where the processor has AVX2 (test_stream
# mix_kernels_bitexact checks it gives the C kernel's bits); --no-simd:
# never.
if [ "$(uname -m)" = x86_64 ] && grep -qw avx2 /proc/cpuinfo; then
    simd='j["mix_simd_frames"] == j["mix_run_frames"] > 0'
else
    simd='j["mix_simd_frames"] == 0'
fi
check "mixed: the vector kernel where there is one" "$(json "$simd")" = True
expect 0 "stress --worst --no-simd" "$SHELF" --json stream stress --dir "$S" --worst --voices 3 \
    --duration 1 --preroll 0.5 --no-simd
check "no vector mix" "$(json 'j["mix_simd_frames"] == 0 and j["mix_run_frames"] > 0')" = True
# The process stopped for 0.3 s mid-run (a stall of the thread that is
# not the storage side's): a player loses the blocks it fell behind by,
# a feed-only run catches up on them, so its voices keep the real-time rate.
mkdir -p "$T/long"
"$SHELF_TG" --format wav24 --channels 2 --frames 300000 --seed 3 "$T/long/l1.wav" "$T/long/l2.wav" \
    "$T/long/l3.wav"
stalled() {
    "$SHELF" --json stream stress --dir "$T/long" --worst --voices 3 --duration 4 --preroll 0.5 "$@" \
        >"$T/stall.json" 2>"$T/stall.err" &
    local pid=$!
    sleep 2
    kill -STOP "$pid"
    sleep 0.3
    kill -CONT "$pid"
    wait "$pid"
}
stalled --feed || fail "feed-only stalled run: $(cat "$T/stall.err")"
out=$(cat "$T/stall.json")
check "stalled feed-only run: late" "$(json 'j["late"] > 0')" = True
check "stalled feed-only run: caught up" "$(json 'j["blocks"] >= j["blocks_due"] - 2')" = True
stalled || fail "mixed stalled run: $(cat "$T/stall.err")"
out=$(cat "$T/stall.json")
check "stalled mixed run: blocks lost" "$(json 'j["late"] > 0 and j["blocks"] <= j["blocks_due"] - 50')" = True
expect 2 "stress --worst: a file per voice" "$SHELF" stream stress --dir "$S" --worst --voices 4
contains "worst: says why" "$err" "--worst needs a sample file per voice: 3 files for 4 voices"
expect 2 "stress: bad latency" "$SHELF" stream stress --inject-latency 30 --dir "$S"
expect 2 "stress: bad voices" "$SHELF" stream stress --voices 0 --dir "$S"
expect 3 "stress: no such folder" "$SHELF" stream stress --dir "$T/none"
expect 2 "stream: no subcommand" "$SHELF" stream

# ---- cache -------------------------------------------------------------------
expect 0 "cache pin" "$SHELF" cache pin 1 "$S/c.flac"
check "pin list stored" -s "$SHELF_LIBRARY/cache-pins"
expect 0 "cache stats" "$SHELF" --json cache stats
check "two pins" "$(json 'j["pins"]')" = 2
check "decoded bytes" "$(json 'j["pinned_bytes"]')" = $((150000 * 2 * 4 + 100000 * 2 * 4))
expect 0 "cache stats --load" "$SHELF" cache stats --load
contains "loaded into a cache" "$out" "pinned"
expect 0 "pinned samples in a stress run" "$SHELF" stream stress --voices 2 --duration 1 1 2
contains "some pinned" "$out" "some pinned"
expect 0 "cache unpin" "$SHELF" cache unpin 1
expect 0 "cache stats after unpin" "$SHELF" --json cache stats
check "one pin" "$(json 'j["pins"]')" = 1
expect 3 "cache pin: no such sample" "$SHELF" cache pin 2 999
expect 0 "pin list after a failed pin" "$SHELF" --json cache pin 3
check "failed pin changed nothing" "$(json '2 not in j["pinned"] and 3 in j["pinned"]')" = True
check "pin list: version 1" "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$SHELF_LIBRARY/cache-pins")" = 1
expect 0 "cache unpin 3" "$SHELF" cache unpin 3
cp "$SHELF_LIBRARY/cache-pins" "$T/pins.bak"
echo '{"version": 1, "pins": ["x"]}' >"$SHELF_LIBRARY/cache-pins"
expect 1 "cache stats: damaged pin list" "$SHELF" cache stats
contains "damaged pin list named" "$err" "cannot read '$SHELF_LIBRARY/cache-pins'"
cp "$T/pins.bak" "$SHELF_LIBRARY/cache-pins"

# ---- store -------------------------------------------------------------------
expect 0 "store frag" "$SHELF" store frag
contains "frag summary" "$out" "4 files"
expect 0 "store frag --json" "$SHELF" --json store frag 1
check "frag: extents listed" "$(json 'j[0]["extents"] >= 1')" = True
before=$(stat -c %Y.%y "$S/a.wav")
sum_before=$(sha256sum < "$S/a.wav")
# Grow a fragmented copy in turns with another file, each write synced.
python3 - "$S/frag.wav" "$S/a.wav" "$T/other.bin" <<'PY'
import os, sys
src = open(sys.argv[2], 'rb').read()
a = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)
b = os.open(sys.argv[3], os.O_WRONLY | os.O_CREAT, 0o644)
for i in range(0, len(src), 16384):
    os.write(a, src[i:i + 16384]); os.fsync(a)
    os.write(b, b'x' * 16384); os.fsync(b)
PY
expect 0 "import the fragmented file" "$SHELF" import "$S"
expect 0 "optimize" "$SHELF" store optimize
check "a.wav untouched" "$(stat -c %Y.%y "$S/a.wav")" = "$before"
check "a.wav same bytes" "$(sha256sum < "$S/a.wav")" = "$sum_before"
expect 0 "verify after optimize: nothing changed" "$SHELF" verify
expect 0 "optimize --dry-run" "$SHELF" store optimize --dry-run
expect 2 "store: bad option" "$SHELF" store optimize --min 1
expect 2 "store: no subcommand" "$SHELF" store
finish
