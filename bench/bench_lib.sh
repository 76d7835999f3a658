# bench_lib.sh: what the shell benchmarks share (sourced).

now() { date +%s.%N; }
median() { sort -n | sed -n 2p; }   # of three numbers, one a line

# bench_rows DB N: make the catalog DB hold N sample rows in all, the
# 1,000 real samples it has plus rows inserted with sqlite3 (referenced
# files under /srv/samples that are not there).
bench_rows() {
    sqlite3 "$1" "
      INSERT INTO roots(path) VALUES('/srv/samples');
      WITH RECURSIVE i(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM i WHERE k < $2 - 1000)
      INSERT INTO samples(name, root_id, relpath, size, mtime_ns, sha256, format, rate,
                          channels, frames, duration, bits, category, created)
        SELECT 'sample ' || k, (SELECT id FROM roots WHERE path = '/srv/samples'),
               'pack ' || (k % 200) || '/sample ' || k || '.wav',
               100000 + k, 0, lower(hex(sha3(k, 256))), 'WAV', 44100, 2, 22050 + k % 1000,
               0.5, 16, 'kick', 1700000000 FROM i;"
}

# bench_time CMD...: run CMD (its output dropped; a failure ends the
# benchmark with its message) and print the seconds it took.
bench_time() {
    local t0 err
    err=$(mktemp)
    t0=$(now)
    "$@" >/dev/null 2>"$err" || { echo "failed: $*" >&2; cat "$err" >&2; rm -f "$err"; exit 1; }
    rm -f "$err"
    python3 -c "import sys; print('%.3f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$t0" "$(now)"
}

# bench_library BUILD DIR FRAMES N: DIR/pack, 1,000 samples of FRAMES
# frames made with BUILD's shelf-tg, and the library DIR/lib holding them
# as managed copies and bench_rows up to N rows in all.
bench_library() {
    local i
    echo "making 1000 samples..." >&2
    mkdir -p "$2/pack"
    for i in $(seq 1 1000); do
        "$1/tests/shelf-tg" --frames "$3" --seed "$i" "$2/pack/s$i.wav" || exit 1
    done
    "$1/cli/shelf" -L "$2/lib" init >/dev/null || exit 1
    "$1/cli/shelf" -L "$2/lib" import --copy "$2/pack" >/dev/null || exit 1
    bench_rows "$2/lib/shelf.db" "$4" || exit 1
}
