/*
 * bench_stream.c: the streaming benchmark.  Builds a sample set larger than
 * the engine's cache budget (24-bit stereo 48 kHz WAV files), measures the
 * device with fio (random O_DIRECT reads at the engine's chunk size and
 * queue depth) to get the physical voice limit (bandwidth / 288 kB/s), then
 * finds, with the caches dropped before every step, the highest polyphony
 * that plays clean for shelf's engine (stress ramp, then one confirming run
 * of --confirm seconds) and for a naive baseline that does one synchronous
 * read per voice per block on the audio thread.  Ends with the table of
 * doc/benchmarks.md exactly as published there (markdown rows; --markdown
 * is accepted and changes nothing), and writes the confirming run's plot.
 *
 * --feed measures the storage side alone (doc/benchmarks.md, "Feed
 * capacity"): the worst-case note script (each voice its own sample, a
 * seeded random start, so no two voices share a read), cold, with the
 * feed-only consumer (shelf_stream_feed: the callback copies the rings'
 * data out, no interpolation or mix), against fio's limit at the
 * engine's chunk size (its best of four queue depths, the engine's
 * among them, and again at the engine's depth just before and after the
 * confirming run: the disk's rate at the time); then the whole engine
 * with its mix on the same script, judged on its streams and its
 * callback's CPU (JUDGE_CPU), to say which limit binds.  Each run
 * has its own seed, and a ramp step that fails runs once more
 * (feed_step).  Beside fio, the engine's own read pattern without the
 * engine (run_pattern): whether the disk serves it as fast as fio's.
 *
 *   bench_stream [--dir D] [--files N] [--seconds S] [--cache MB] [--step S]
 *                [--confirm S] [--max V] [--no-fio] [--plot FILE] [--markdown]
 *                [--feed [--seed N] [--preroll S] [--no-mix] [--pattern N] [--queue Q]]
 *
 * --feed --pattern N runs only fio at the engine's depth and the engine's
 * reads without the engine for N streams (10 s each, fio again after).
 * --feed reads at fio's best queue depth (of 16, 32, 64, 128), or at Q.
 * The stress runs reserve the voices' RAM first (shelf_stream_reserve).
 * Both --feed runs first measure how late a real-time thread wakes on the
 * machine (wake_jitter): a VM's host can hold one for tens of ms.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <liburing.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "shelf/shelf.h"

#define RATE 48000
#define BLOCK 128
#define BPF 6                /* 24-bit stereo */
#define VOICE_BPS 288000.0   /* 48 kHz * 2 ch * 3 bytes */
#define ENGINE_QD 32         /* the engine's default queue depth */

/* The engine's queue depth in --feed: fio's best (a depth is a setting of
 * the medium, and the engine is held to fio at its best), or --queue. */
static int engine_qd = ENGINE_QD, qd_set;

static char **paths;
static int npaths;
static int64_t file_frames;

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8), p[2] = (unsigned char)(v >> 16),
    p[3] = (unsigned char)(v >> 24);
}

/* A 24-bit stereo WAV of noise shaped by a sine; skipped when present. */
static int make_file(const char *path, int64_t frames, unsigned seed)
{
    unsigned char hdr[44], *buf;
    uint64_t bytes = (uint64_t)frames * BPF, x = seed * 2654435761u + 1;
    struct stat st;
    int64_t i;
    FILE *f;
    /* The sine by rotation (sin() per sample is slow for long files). */
    double w = 0.05 * (1 + seed % 7), cw = cos(w), sw = sin(w), sn = 0, cs = 1;

    if (stat(path, &st) == 0 && (uint64_t)st.st_size == bytes + 44)
        return 0;
    if (!(f = fopen(path, "wb")) || !(buf = malloc(BPF * 4800)))
        return -1;
    memcpy(hdr, "RIFF", 4);
    put32(hdr + 4, (uint32_t)(36 + bytes));
    memcpy(hdr + 8, "WAVEfmt ", 8);
    put32(hdr + 16, 16);
    put32(hdr + 20, 1 | 2 << 16);
    put32(hdr + 24, RATE);
    put32(hdr + 28, RATE * BPF);
    put32(hdr + 32, BPF | 24 << 16);
    memcpy(hdr + 36, "data", 4);
    put32(hdr + 40, (uint32_t)bytes);
    fwrite(hdr, 1, 44, f);
    for (i = 0; i < frames; i += 4800) {
        int64_t n = frames - i < 4800 ? frames - i : 4800, j;
        for (j = 0; j < n * 2; j++) {
            int32_t v;
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            v = (int32_t)(sn * 3000000.0) + (int32_t)(x % 200000) - 100000;
            if (j & 1) {
                double t = sn * cw + cs * sw;
                cs = cs * cw - sn * sw;
                sn = t;
            }
            buf[3 * j] = (unsigned char)v;
            buf[3 * j + 1] = (unsigned char)(v >> 8);
            buf[3 * j + 2] = (unsigned char)(v >> 16);
        }
        fwrite(buf, BPF, (size_t)n, f);
    }
    free(buf);
    return fclose(f);
}

static void drop_page_cache(void)
{
    int i;

    for (i = 0; i < npaths; i++) {
        int fd = open(paths[i], O_RDONLY);
        if (fd >= 0) {
            posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
            close(fd);
        }
    }
}

/* ---- fio --------------------------------------------------------------------- */

/* fio's read bandwidth (bytes/s) over the set's files (all of them with
 * whole_dir, through --opendir; else the first that fit in its names). */
static double run_fio(const char *dir, int seconds, int qd, int chunk_kib, double *p99_ms,
                      int whole_dir)
{
    char cmd[1 << 16];
    size_t n = 0, cap = 1 << 20;
    char *out = malloc(cap);
    json_t *j, *rd;
    json_error_t err;
    double bw = 0;
    FILE *p;
    int i, len;

    len = snprintf(cmd, sizeof cmd,
                   "fio --name=stream --rw=randread --bs=%dk --iodepth=%d --ioengine=io_uring "
                   "--direct=1 --runtime=%d --time_based --group_reporting --output-format=json "
                   "%s=%s%s",
                   chunk_kib, qd, seconds, whole_dir ? "--opendir" : "--directory", dir,
                   whole_dir ? "" : " --filename=");
    /* fio takes at most 4096 bytes of names: the set's first files. */
    for (i = 0; !whole_dir && i < npaths && strlen(cmd) < 3900 + 300 + strlen(dir); i++) {
        const char *base = strrchr(paths[i], '/');
        len += snprintf(cmd + len, sizeof cmd - (size_t)len, "%s%s", i ? ":" : "", base ? base + 1 : paths[i]);
    }
    snprintf(cmd + len, sizeof cmd - (size_t)len, " 2>/dev/null");
    if (!out || !(p = popen(cmd, "r"))) {
        free(out);
        return 0;
    }
    while (n < cap - 1 && (len = (int)fread(out + n, 1, cap - 1 - n, p)) > 0)
        n += (size_t)len;
    out[n] = 0;
    pclose(p);
    /* --opendir says "added N files" before the JSON. */
    if ((j = json_loads(strchr(out, '{') ? strchr(out, '{') : out, 0, &err)) &&
        (rd = json_object_get(json_array_get(json_object_get(j, "jobs"), 0), "read"))) {
        bw = json_number_value(json_object_get(rd, "bw_bytes"));
        *p99_ms = json_number_value(json_object_get(
                      json_object_get(json_object_get(rd, "clat_ns"), "percentile"), "99.000000")) / 1e6;
    }
    json_decref(j);
    free(out);
    return bw;
}

/*
 * The engine's reads without the engine: streams sequential streams, each
 * from a random chunk of the set's file (stream i reads file i % files),
 * reading the engine's chunks (21,845 frames, 131,070 bytes at 44 +
 * k * 131,070, rounded out to 4 KiB: 132-136 KiB) one after the other,
 * wrapping at the file's end; O_DIRECT, io_uring, qd reads kept in flight
 * (closed loop: a read is sent the moment one comes back, to the next
 * stream in turn).  Bytes/s; *mean_ms the mean time a read took.  Says
 * whether the disk serves the engine's pattern as fast as fio's random
 * reads: a gap between this and the engine is the engine's.
 */
static double run_pattern(int streams, int qd, double seconds, double *mean_ms)
{
    const uint64_t chunk = 131070;
    const size_t stride = (chunk + 8192 + 4095) / 4096 * 4096;   /* O_DIRECT: aligned buffers */
    uint64_t nchunks = (uint64_t)file_frames * BPF / chunk, rng = 0x9e3779b97f4a7c15ull;
    uint64_t *next = calloc((size_t)streams, sizeof *next);
    int *fds = calloc((size_t)npaths, sizeof *fds), *freeb = calloc((size_t)qd, sizeof *freeb);
    unsigned char *bufs = NULL;
    double *sent = calloc((size_t)qd, sizeof *sent), t0, lat = 0, bytes = 0;
    struct io_uring ring;
    int i, nfree = 0, turn = 0, ok = 0;
    long n = 0, failed = 0;

    if (!next || !fds || !freeb || !sent || nchunks < 2 ||
        posix_memalign((void **)&bufs, 4096, (size_t)qd * stride) != 0)
        goto out;
    for (i = 0; i < npaths; i++)
        fds[i] = -1;
    for (i = 0; i < npaths && i < streams; i++)
        if ((fds[i] = open(paths[i], O_RDONLY | O_DIRECT)) < 0)
            goto out;
    for (i = 0; i < streams; i++) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        next[i] = rng % (nchunks - 1);
    }
    drop_page_cache();
    if (io_uring_queue_init((unsigned)qd, &ring, 0) != 0)
        goto out;
    for (i = 0; i < qd; i++)
        freeb[nfree++] = i;
    t0 = now_s();
    for (;;) {
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        while (nfree > 0) {
            struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
            int b = freeb[--nfree], s = turn;
            uint64_t a0 = (44 + next[s] * chunk) / 4096 * 4096;
            uint64_t a1 = (44 + (next[s] + 1) * chunk + 4095) / 4096 * 4096;
            turn = (turn + 1) % streams;
            next[s] = next[s] + 2 < nchunks ? next[s] + 1 : 0;
            io_uring_prep_read(sqe, fds[s % npaths], bufs + (size_t)b * stride,
                               (unsigned)(a1 - a0), a0);
            io_uring_sqe_set_data(sqe, (void *)(intptr_t)b);
            sent[b] = now_s();
        }
        io_uring_submit(&ring);
        if (io_uring_wait_cqe(&ring, &cqe) != 0)
            break;
        io_uring_for_each_cqe(&ring, head, cqe) {
            int b = (int)(intptr_t)io_uring_cqe_get_data(cqe);
            if (cqe->res > 0)
                bytes += cqe->res;
            else
                failed++;
            lat += now_s() - sent[b];
            n++;
            freeb[nfree++] = b;
            seen++;
        }
        io_uring_cq_advance(&ring, seen);
        if (now_s() - t0 >= seconds)
            break;
    }
    *mean_ms = n ? lat / (double)n * 1e3 : 0;
    bytes /= now_s() - t0;
    while (nfree < qd) {            /* the reads still out write into bufs */
        struct io_uring_cqe *cqe;
        if (io_uring_wait_cqe(&ring, &cqe) != 0)
            break;
        io_uring_cqe_seen(&ring, cqe);
        nfree++;
    }
    io_uring_queue_exit(&ring);
    ok = nfree == qd && failed == 0;
    if (failed)
        fprintf(stderr, "bench_stream: the pattern reader: %ld of %ld reads failed\n", failed, n);
    if (nfree < qd)
        bufs = NULL;                /* may still be written into: kept */
out:
    for (i = 0; fds && i < npaths; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(next);
    free(fds);
    free(freeb);
    free(sent);
    free(bufs);
    return ok ? bytes : 0;
}

/* fio at the engine's depth for 10 s, over every file, said as `when`
 * (before or after something); bytes/s. */
static double fio_at_engine_depth(const char *dir, const char *when)
{
    double p99 = 0, bw = run_fio(dir, 10, engine_qd, 128, &p99, 1);

    printf("fio %s, queue depth %d: %.0f MB/s, p99 %.2f ms\n", when, engine_qd, bw / 1e6, p99);
    return bw;
}

/* ---- the naive baseline --------------------------------------------------------- */

typedef struct nvoice {
    int fd;
    int64_t pos, end;
} nvoice;

typedef struct naive {
    int voices;
    double seconds;
    nvoice *v;
    uint64_t late, blocks, rng;
    double bytes;
} naive;

static void naive_start(naive *nv, nvoice *v)
{
    int64_t len;

    nv->rng ^= nv->rng << 13, nv->rng ^= nv->rng >> 7, nv->rng ^= nv->rng << 17;
    if (v->fd >= 0)
        close(v->fd);
    v->fd = open(paths[nv->rng % (uint64_t)npaths], O_RDONLY);
    len = (int64_t)(2 + (nv->rng >> 8) % 7) * RATE;
    v->pos = 0;
    v->end = len < file_frames ? len : file_frames;
}

/* One synchronous read per voice per block, on the audio thread. */
static void *naive_main(void *arg)
{
    naive *nv = arg;
    int64_t period = (int64_t)BLOCK * 1000000000 / RATE, next_ns, t_end;
    unsigned char raw[BLOCK * BPF];
    float mix[2 * BLOCK];
    struct timespec ts;
    struct sched_param sp = { 0 };
    int i;

    sp.sched_priority = sched_get_priority_min(SCHED_FIFO) + 10;
    pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
    for (i = 0; i < nv->voices; i++) {
        nv->v[i].fd = -1;
        naive_start(nv, &nv->v[i]);
        nv->v[i].pos = -(int64_t)(i * (RATE / 2) / nv->voices);   /* spread the starts */
    }
    clock_gettime(CLOCK_MONOTONIC, &ts);
    next_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    t_end = next_ns + (int64_t)(nv->seconds * 1e9);
    while (next_ns < t_end) {
        int64_t t1;
        next_ns += period;
        ts.tv_sec = next_ns / 1000000000;
        ts.tv_nsec = next_ns % 1000000000;
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
        memset(mix, 0, sizeof mix);
        for (i = 0; i < nv->voices; i++) {
            nvoice *v = &nv->v[i];
            int f;
            if (v->pos < 0) {
                v->pos += BLOCK;
                continue;
            }
            if (pread(v->fd, raw, sizeof raw, 44 + v->pos * BPF) != (ssize_t)sizeof raw) {
                naive_start(nv, v);
                continue;
            }
            nv->bytes += sizeof raw;
            for (f = 0; f < 2 * BLOCK; f++) {
                int32_t s = (int32_t)((uint32_t)raw[3 * f] << 8 | (uint32_t)raw[3 * f + 1] << 16 |
                                      (uint32_t)raw[3 * f + 2] << 24);
                mix[f] += (float)s * (1.0f / 2147483648.0f) * (1.0f / 16);
            }
            v->pos += BLOCK;
            if (v->pos >= v->end)
                naive_start(nv, v);
        }
        nv->blocks++;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        t1 = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
        if (t1 > next_ns + period) {   /* the block came too late: an underrun */
            nv->late++;
            if (t1 > next_ns + 8 * period)
                next_ns = t1;
        }
    }
    for (i = 0; i < nv->voices; i++)
        close(nv->v[i].fd);
    return NULL;
}

static int naive_clean(int voices, double seconds, double *mbps)
{
    naive nv = { voices, seconds, calloc((size_t)voices, sizeof(nvoice)), 0, 0, 12345, 0 };
    pthread_t t;

    drop_page_cache();
    pthread_create(&t, NULL, naive_main, &nv);
    pthread_join(t, NULL);
    free(nv.v);
    *mbps = nv.bytes / seconds / 1e6;
    printf("  naive %5d voices: %llu late blocks of %llu%s\n", voices, (unsigned long long)nv.late,
           (unsigned long long)nv.blocks, nv.late ? "" : " (clean)");
    (void)fflush(stdout);
    return nv.late == 0;
}

/* The highest voices (from start, doubling, then bisecting to 1/32) for
 * which clean(ud, voices) says 1; -1 from it (a run that could not be
 * made) ends the ramp with -1. */
static int ramp(int start, int max, int (*clean)(void *ud, int voices), void *ud)
{
    int lo = 0, hi = max + 1, v = start, c;

    while (v > lo && v < hi) {
        if ((c = clean(ud, v)) < 0)
            return -1;
        if (c)
            lo = v;
        else
            hi = v;
        v = hi > max ? (2 * lo > max ? max : 2 * lo) : lo + (hi - lo) / 2;
        if (hi <= max && hi - lo <= (lo / 32 > 1 ? lo / 32 : 1))
            break;
    }
    return lo;
}

static int naive_step(void *ud, int voices)
{
    double mb;

    return naive_clean(voices, *(const double *)ud, &mb);
}

/* ---- shelf ------------------------------------------------------------------------ */

static void on_step(void *ud, int voices, const shelf_stress_result *r)
{
    double mb = 0, p99 = 0;
    size_t i;

    (void)ud;
    for (i = 0; i < r->nrows; i++) {
        mb += r->rows[i].mb_per_s;
        if (r->rows[i].lat_p99_us > p99)
            p99 = r->rows[i].lat_p99_us;
    }
    printf("  shelf %5d voices: %llu underruns, %llu not ready, %llu dropped, %llu late "
           "callbacks (%llu over a period of CPU), %.0f MB/s, p99 %.1f ms%s\n",
           voices, (unsigned long long)r->stats.underruns, (unsigned long long)r->stats.not_ready,
           (unsigned long long)r->stats.voices_dropped, (unsigned long long)r->late,
           (unsigned long long)r->late_cpu, r->nrows ? mb / (double)r->nrows : 0, p99 / 1000.0,
           r->clean ? " (clean)" : "");
    if (r->noffsets)
        printf("        %s, callback %.0f us on average (%.0f%% of a core; CPU %.0f%%, the scheduler "
               "thread %.0f%%), %llu of %llu blocks "
               "played, %llu frames copied / %llu interpolated, %llu merged reads, %llu of %llu "
               "reads O_DIRECT, pre-roll %llu not ready\n",
               r->stats.feed_frames ? "feed only" : "mixed", r->cb_avg_us,
               r->cb_avg_us / (BLOCK * 1e6 / RATE) * 100, r->audio_cpu_pct, r->sched_cpu_pct,
               (unsigned long long)r->stats.blocks,
               (unsigned long long)r->blocks_due, (unsigned long long)r->stats.feed_frames,
               (unsigned long long)r->stats.mix_frames, (unsigned long long)r->stats.merged,
               (unsigned long long)r->stats.reads_direct, (unsigned long long)r->stats.reads,
               (unsigned long long)r->preroll.not_ready);
    (void)fflush(stdout);
}

/*
 * How a run is judged.  JUDGE_CLEAN: as shelf_stress_run judges (clean:
 * no miss, and no late callback either, which a VM's host makes at any
 * load).  JUDGE_STREAMS: the streams alone (streams_clean).  JUDGE_CPU:
 * the streams, and the callback's own CPU over the run: at most
 * CPU_HEADROOM % of a core, the rest left for the blocks that take
 * longer.  Not late_cpu (callbacks over a period of CPU): on this VM the
 * thread's CPU clock runs on through the host's steal and the interrupts
 * of the reads' completions, and a 10 s step at 2,000-4,000 voices, its
 * callback at 24-53% of a core on average, counted 6-21 of them
 * (2026-12-07, 16:10).  The mix is judged on JUDGE_CPU: its CPU is what a
 * faster mix changes; late_cpu is printed beside it.
 */
#define CPU_HEADROOM 80
enum { JUDGE_CLEAN, JUDGE_STREAMS, JUDGE_CPU };

static int streams_clean(const shelf_stress_result *r);

static int judged(const shelf_stress_result *r, int judge)
{
    int ok;

    if (judge == JUDGE_CLEAN)
        return r->clean;
    ok = streams_clean(r);
    if (judge == JUDGE_CPU) {
        int kept = r->audio_cpu_pct <= CPU_HEADROOM;
        printf("        the callback's CPU %.0f%% of a core: %s %d%% (%llu callbacks over a period of "
               "CPU)\n", r->audio_cpu_pct, kept ? "the mix keeps up, at most" : "the mix cannot keep up, over",
               CPU_HEADROOM, (unsigned long long)r->late_cpu);
        ok = ok && kept;
    }
    return ok;
}

/*
 * Play so (its voices set here) for seconds, from `from` voices down by
 * `down` percent at a time (at most 6 tries) until a run passes judge;
 * plot that run.  Returns the voices confirmed (0: none), -1 on failure.
 */
static int confirm_run(const char *const *p, size_t n, const shelf_stream_opts *eo,
                       shelf_stress_opts *so, int from, double seconds, int down,
                       const char *plot, const char *what, int judge)
{
    shelf_stress_result *r = NULL;
    char *msg = NULL;
    int v, i;

    for (v = from, i = 0; v > 0 && i < 6; i++, v = v * (100 - down) / 100) {
        so->voices = v;
        so->duration = seconds;
        printf("%s: confirming %d voices for %.0f s, seed %llu\n", what, v, seconds,
               (unsigned long long)so->seed);
        if (shelf_stress_run(p, n, eo, so, &r, &msg) != SHELF_OK) {
            fprintf(stderr, "bench_stream: %s\n", msg ? msg : "stress failed");
            free(msg);
            return -1;
        }
        on_step(NULL, v, r);
        if (judged(r, judge)) {
            char title[128];
            snprintf(title, sizeof title, "%s, %d voices, cold, %.0f s", what, v, seconds);
            shelf_stress_plot(r, title, plot);
            if (r->noffsets > 1)
                printf("  starts (seed %llu): voice 0 at %.3f s, voice 1 at %.3f s, voice %zu at "
                       "%.3f s in its sample\n", (unsigned long long)so->seed,
                       (double)r->offsets[0] / RATE, (double)r->offsets[1] / RATE,
                       r->noffsets - 1, (double)r->offsets[r->noffsets - 1] / RATE);
            shelf_stress_free(r);
            so->seed++;
            return v;
        }
        shelf_stress_free(r);
        so->seed++;     /* each try starts its voices afresh */
    }
    return 0;
}

/* The 1-minute load average as text ("?" when unknown): a loaded machine
 * gives lower figures, and the table says so. */
static const char *loadavg(char *buf, size_t n)
{
    double l[1];

    if (getloadavg(l, 1) == 1)
        snprintf(buf, n, "%.1f", l[0]);
    else
        snprintf(buf, n, "?");
    return buf;
}

/* "48%" of the physical limit, or "-" when fio did not measure it. */
static const char *pct(char *buf, size_t n, double voices, double physical)
{
    if (physical > 0)
        snprintf(buf, n, "%.0f%%", 100.0 * voices / physical);
    else
        snprintf(buf, n, "-");
    return buf;
}

/*
 * The table of doc/benchmarks.md, as published there (paste it as it is):
 * a line saying when, where and how it ran, then the markdown rows.
 */
static void print_table(int argc, char **argv, double secs, double bw, double physical,
                        double step, int ramp_best, double confirm, int confirmed, int naive_best)
{
    char when[64], p[16];
    time_t t = time(NULL);
    struct tm tm;
    int i;

    strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", gmtime_r(&t, &tm));
    printf("\n%s, %ld cores, load average %s, `bench_stream", when, sysconf(_SC_NPROCESSORS_ONLN),
           loadavg(p, sizeof p));
    for (i = 1; i < argc; i++)
        printf(" %s", argv[i]);
    printf("`, %.0f s:\n\n", secs);
    printf("| what | voices | of physical |\n|---|---:|---:|\n");
    if (physical > 0)
        printf("| physical limit: fio %.0f MB/s / 288 kB/s | %.0f | 100%% |\n", bw / 1e6, physical);
    else
        printf("| physical limit: not measured (no fio) | - | - |\n");
    printf("| shelf, clean for %.0f s (ramp) | %d | %s |\n", step, ramp_best,
           pct(p, sizeof p, ramp_best, physical));
    printf("| shelf, clean for %.0f s, cold (confirming run) | %d | %s |\n", confirm, confirmed,
           pct(p, sizeof p, confirmed, physical));
    printf("| naive baseline, clean for %.0f s | %d | %s |\n", step, naive_best,
           pct(p, sizeof p, naive_best, physical));
    printf("\nshelf (confirmed) = %.1fx the naive baseline\n",
           naive_best ? (double)confirmed / naive_best : 0);
}

/* ---- feed capacity (--feed) ------------------------------------------------------ */

/*
 * A step of the --feed ramps.  feed: the storage side alone, judged as
 * shelf_stress_run judges (clean).  streams: the whole engine judged on
 * its streams alone: no underrun, not-ready start, read error, lost
 * chunk or dropped voice, and the callback kept time on the whole (98%
 * of the blocks played); its late callbacks are counted, not judged (the
 * callback's mean says what share of a core the mix took).
 *
 * Every run has a seed of its own (seed, seed + 1, ...): a step with the
 * seed of the one before would start its voices where that step's did,
 * at offsets the host may still cache for the VM.  A step that fails is
 * run once more, with the next seed, before it counts as failed: the
 * disk's rate swings by a fifth within minutes here, and one slow patch
 * of it fails a 10 s step that runs clean a minute later.  The
 * confirming run judges once.
 */
typedef struct feed_ramp {
    const char *const *paths;
    size_t n;
    const shelf_stream_opts *eo;
    shelf_stress_opts so;
    int judge;          /* JUDGE_... */
} feed_ramp;

static int streams_clean(const shelf_stress_result *r)
{
    /* A callback that cannot keep time plays fewer blocks, and its voices
     * ask less of the disk: it must have played 98% of them. */
    int kept = (double)r->stats.blocks >= 0.98 * (double)r->blocks_due;
    int clean = kept && r->stats.underruns == 0 && r->stats.not_ready == 0 &&
                r->stats.underrun_frames == 0 && r->stats.read_errors == 0 &&
                r->stats.chunks_lost == 0 && r->stats.voices_dropped == 0;

    printf("        streams %s, %llu blocks of %llu\n",
           clean ? "clean (late callbacks not judged)" : kept ? "not clean" : "the mix fell behind",
           (unsigned long long)r->stats.blocks, (unsigned long long)r->blocks_due);
    return clean;
}

static int feed_step(void *ud, int voices)
{
    feed_ramp *fr = ud;
    int try, clean = 0;

    for (try = 0; try < 2 && !clean; try++) {
        shelf_stress_result *r = NULL;
        char *msg = NULL;

        fr->so.voices = voices;
        if (shelf_stress_run(fr->paths, fr->n, fr->eo, &fr->so, &r, &msg) != SHELF_OK) {
            fprintf(stderr, "bench_stream: %s\n", msg ? msg : "stress failed");
            free(msg);
            return -1;
        }
        on_step(NULL, voices, r);
        clean = judged(r, fr->judge);
        shelf_stress_free(r);
        fr->so.seed++;
        if (!clean && try == 0)
            printf("        not clean: once more, seed %llu\n", (unsigned long long)fr->so.seed);
    }
    return clean;
}

/* How late a thread like the audio callback's wakes on this machine:
 * SCHED_FIFO (as the stress test's), woken every block (128 frames at 48
 * kHz) for secs, the rest idle.  A VM's host can hold it for tens of ms;
 * a player loses those blocks, a feed-only run catches up on them. */
typedef struct jitter {
    double secs;             /* in: how long to run */
    int rt;
    long n, over1, over5, over20;
    double max_ms;
} jitter;

static void *jitter_main(void *arg)
{
    jitter *j = arg;
    struct sched_param sp;
    struct timespec ts;
    int64_t period = (int64_t)BLOCK * 1000000000 / RATE, next, end, late;

    memset(&sp, 0, sizeof sp);
    sp.sched_priority = sched_get_priority_min(SCHED_FIFO) + 10;
    j->rt = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp) == 0;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    next = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    end = next + (int64_t)(j->secs * 1e9);
    while (next < end) {
        next += period;
        ts.tv_sec = (time_t)(next / 1000000000);
        ts.tv_nsec = (long)(next % 1000000000);
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
            ;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        late = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec - next;
        j->n++;
        j->over1 += late > 1000000;
        j->over5 += late > 5000000;
        j->over20 += late > 20000000;
        if (late / 1e6 > j->max_ms)
            j->max_ms = late / 1e6;
    }
    return NULL;
}

/* Measure and print the machine's wake-up jitter for 10 s (j->n stays 0
 * when the thread cannot start). */
static void wake_jitter(jitter *j)
{
    pthread_t th;

    memset(j, 0, sizeof *j);
    j->secs = 10;
    if (pthread_create(&th, NULL, jitter_main, j) != 0)
        return;
    pthread_join(th, NULL);
    printf("a real-time thread woken every %d frames for 10 s, idle otherwise%s: %ld wakeups, %ld "
           "more than 1 ms late, %ld more than 5 ms, %ld more than 20 ms, at most %.1f ms\n", BLOCK,
           j->rt ? " (SCHED_FIFO)" : " (no SCHED_FIFO)", j->n, j->over1, j->over5, j->over20,
           j->max_ms);
}

/*
 * The storage side alone.  fio first (random reads of the engine's chunk
 * size over every file of the set, O_DIRECT, io_uring) at 16, the
 * engine's queue depth, 64 and 128; the best is the limit; then the
 * feed-only ramp and its confirming run on the worst-case script, fio at
 * the engine's depth just before and just after that run (the disk's rate
 * at the time), then the same with the mix.  vpaths: a
 * sample per voice, the set's files in turn (each voice its own sample
 * in the engine and its own random start, so no read serves two voices).
 */
static int feed_main(int argc, char **argv, const char *dir, double step, double confirm,
                     int maxv, const char *plot, uint64_t seed, int use_fio, int mix, double t0,
                     double preroll)
{
    static const int qds[] = { 16, ENGINE_QD, 64, 128 };
    double bw[4] = { 0 }, p99[4] = { 0 }, limit = 0, best_bw = 0, secs = (double)file_frames / RATE;
    double around[2] = { 0 }, at_time = 0, pat_bw = 0, pat_ms = 0;
    int pat_streams = 0;
    int i, qi, best_qd = ENGINE_QD, ramp_feed = 0, feed_ok = 0, ramp_mix = 0, mix_ok = 0, mix_streams = 0;
    feed_ramp fr;
    jitter jit;
    const char **vp = calloc((size_t)maxv, sizeof *vp);
    char mixplot[4096], when[64], p[16];
    shelf_stream_opts eo;
    shelf_stress_opts so;
    time_t t;
    struct tm tm;

    if (!vp)
        return 1;
    for (i = 0; i < maxv; i++)
        vp[i] = paths[i % npaths];
    wake_jitter(&jit);
    memset(&eo, 0, sizeof eo);
    eo.size = sizeof eo;        /* the engine's defaults (128 KiB chunks) but the depth */
    if (use_fio) {
        for (qi = 0; qi < 4; qi++) {
            bw[qi] = run_fio(dir, 10, qds[qi], 128, &p99[qi], 1);
            printf("fio: random 128 KiB reads over the %d files, queue depth %d, O_DIRECT, io_uring: "
                   "%.0f MB/s, p99 %.2f ms = %.0f voices\n", npaths, qds[qi], bw[qi] / 1e6, p99[qi],
                   bw[qi] / VOICE_BPS);
            if (bw[qi] > best_bw)
                best_bw = bw[qi], best_qd = qds[qi];
        }
        /* The disk's limit: fio at its best depth, where the engine
         * reads too (unless --queue said). */
        limit = best_bw / VOICE_BPS;
        if (!qd_set && limit > 0)
            engine_qd = best_qd;
        if (!(limit > 0))
            printf("fio: not available or failed (install it: scripts/install-deps --tools)\n");
    }
    eo.queue_depth = engine_qd;
    printf("the engine's queue depth: %d%s\n", engine_qd,
           qd_set ? " (--queue)" : limit > 0 ? " (fio's best)" : " (its default)");
    memset(&so, 0, sizeof so);
    so.size = sizeof so;
    so.voices = 128;
    so.duration = step;
    so.cold = 1;
    so.seed = seed;
    so.script = SHELF_STRESS_WORST;
    so.feed_only = 1;
    so.preroll = preroll;
    printf("feed only: ramp, worst case (a sample per voice, random starts, seeds from %llu), %.0f "
           "s a step after a %.0f s pre-roll, caches dropped before each; a step that fails runs "
           "once more\n", (unsigned long long)seed, step, preroll);
    fr.paths = vp;
    fr.n = (size_t)maxv;
    fr.eo = &eo;
    fr.so = so;
    fr.judge = JUDGE_CLEAN;
    if ((ramp_feed = ramp(128, maxv, feed_step, &fr)) < 0)
        return 1;
    so.seed = fr.so.seed;
    if (limit > 0)
        around[0] = fio_at_engine_depth(dir, "just before the confirming run");
    if ((feed_ok = confirm_run(vp, (size_t)maxv, &eo, &so, ramp_feed, confirm, 5, plot, "feed only",
                               JUDGE_CLEAN)) < 0)
        return 1;
    if (limit > 0) {
        around[1] = fio_at_engine_depth(dir, "just after the confirming run");
        at_time = (around[0] + around[1]) / 2 / VOICE_BPS;
    }
    /* The engine's read pattern at the count it reached, without it. */
    pat_streams = feed_ok > 0 ? feed_ok : ramp_feed > 0 ? ramp_feed : 128;
    pat_bw = run_pattern(pat_streams, engine_qd, 10, &pat_ms);
    printf("the engine's reads without the engine: %d streams, queue depth %d, closed loop: %.0f "
           "MB/s, a read %.2f ms on average = %.0f voices\n", pat_streams, engine_qd, pat_bw / 1e6,
           pat_ms, pat_bw / VOICE_BPS);
    if (mix) {
        const char *dot = strrchr(plot, '.');
        snprintf(mixplot, sizeof mixplot, "%.*s-mix.png", dot ? (int)(dot - plot) : (int)strlen(plot),
                 plot);
        so.feed_only = 0;
        so.duration = step;
        fr.so = so;
        printf("whole engine (mix): ramp, the same script, judged on its streams and its "
               "callback's CPU\n");
        fr.judge = JUDGE_CPU;
        if ((ramp_mix = ramp(128, maxv, feed_step, &fr)) < 0)
            return 1;
        so.seed = fr.so.seed;
        if ((mix_ok = confirm_run(vp, (size_t)maxv, &eo, &so, ramp_mix, confirm, 5, mixplot,
                                  "whole engine", JUDGE_CPU)) < 0)
            return 1;
        /* How far its streams alone go: the same steps, CPU not judged. */
        printf("whole engine (mix), streams alone: ramp, the same script\n");
        so.duration = step;
        fr.so = so;
        fr.judge = JUDGE_STREAMS;
        if ((mix_streams = ramp(128, maxv, feed_step, &fr)) < 0)
            return 1;
    }
    /* The table of doc/benchmarks.md, "Feed capacity", ready to paste. */
    t = time(NULL);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", gmtime_r(&t, &tm));
    {
        double l[1] = { 0 };
        int loaded = getloadavg(l, 1) == 1 && l[0] > 1.0;
        printf("\n%s, %ld cores, load average %s%s, `bench_stream", when,
               sysconf(_SC_NPROCESSORS_ONLN), loadavg(p, sizeof p), loaded ? " (loaded)" : "");
    }
    for (i = 1; i < argc; i++)
        printf(" %s", argv[i]);
    printf("`, %.0f s; %d files of %.0f s, 24-bit stereo 48 kHz (288 kB/s a voice):\n\n",
           now_s() - t0, npaths, secs);
    printf("| what | voices | of the fio limit |\n|---|---:|---:|\n");
    if (limit > 0) {
        printf("| fio limit: random 128 KiB reads, O_DIRECT, io_uring, its best queue depth (%d): "
               "%.0f MB/s | %.0f | 100%% |\n", best_qd, best_bw / 1e6, limit);
        if (best_qd != ENGINE_QD)
            printf("| fio at the engine's default queue depth (%d): %.0f MB/s | %.0f | %s |\n",
                   ENGINE_QD, bw[1] / 1e6, bw[1] / VOICE_BPS,
                   pct(p, sizeof p, bw[1] / VOICE_BPS, limit));
        printf("| fio at the engine's depth, 10 s just before and just after the confirming run: "
               "%.0f and %.0f MB/s | %.0f | %s |\n", around[0] / 1e6, around[1] / 1e6, at_time,
               pct(p, sizeof p, at_time, limit));
    } else {
        printf("| fio limit: not measured (no fio) | - | - |\n");
    }
    if (jit.n > 0)
        printf("| the machine: a real-time thread woken every block for 10 s, idle otherwise: "
               "%ld of %ld wakeups more than 5 ms late, %ld more than 20 ms, at most %.1f ms | - | "
               "- |\n", jit.over5, jit.n, jit.over20, jit.max_ms);
    printf("| feed capacity, clean for %.0f s (ramp) | %d | %s |\n", step, ramp_feed,
           pct(p, sizeof p, ramp_feed, limit));
    printf("| **feed capacity, clean for %.0f s, cold (confirming run)** | **%d** | **%s** |\n",
           confirm, feed_ok, pct(p, sizeof p, feed_ok, limit));
    if (at_time > 0)
        printf("| feed capacity (confirming run) against fio around it | %d | %s of %.0f |\n",
               feed_ok, pct(p, sizeof p, feed_ok, at_time), at_time);
    if (pat_bw > 0)
        printf("| the engine's reads without the engine (%d sequential streams from random "
               "starts, its chunks, depth %d, closed loop, 10 s): %.0f MB/s | %.0f | %s |\n",
               pat_streams, engine_qd, pat_bw / 1e6, pat_bw / VOICE_BPS,
               pct(p, sizeof p, pat_bw / VOICE_BPS, limit));
    if (mix) {
        printf("| whole engine with its mix, streams clean and its callback at most %d%% of a core, "
               "for %.0f s (ramp) | %d | %s |\n", CPU_HEADROOM, step, ramp_mix,
               pct(p, sizeof p, ramp_mix, limit));
        printf("| **whole engine with its mix, the same for %.0f s, cold (confirming run)** | **%d** | "
               "**%s** |\n", confirm, mix_ok, pct(p, sizeof p, mix_ok, limit));
        printf("| whole engine with its mix, streams clean for %.0f s, CPU not judged (ramp) | %d | "
               "%s |\n", step, mix_streams, pct(p, sizeof p, mix_streams, limit));
        /* Ramps against ramps (the same 10 s steps): a minute the feed
         * could not confirm does not make the mix's limit the disk's. */
        printf("\nbinds: %s (whole engine %d voices for %.0f s, %d for %.0f s, its streams alone %d "
               "for %.0f s; feed %d for %.0f s, %d for %.0f s)\n",
               ramp_mix >= ramp_feed ? "the storage side: the whole engine holds as many voices as "
                                       "the feed in the same steps"
               : mix_streams < ramp_feed ? "the mix: its CPU, and its streams stay clean to fewer "
                                           "voices than the feed's in the same steps"
                                         : "the mix: its CPU, not its streams",
               ramp_mix, step, mix_ok, confirm, mix_streams, step, ramp_feed, step, feed_ok, confirm);
    }
    printf("plots: %s%s%s\n", feed_ok > 0 ? plot : "none", mix_ok > 0 ? ", " : "",
           mix_ok > 0 ? mixplot : "");
    free(vp);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "dir", required_argument, NULL, 'd' }, { "files", required_argument, NULL, 'f' },
        { "seconds", required_argument, NULL, 's' }, { "cache", required_argument, NULL, 'c' },
        { "step", required_argument, NULL, 't' }, { "confirm", required_argument, NULL, 'C' },
        { "max", required_argument, NULL, 'm' }, { "no-fio", no_argument, NULL, 'n' },
        { "plot", required_argument, NULL, 'p' }, { "markdown", no_argument, NULL, 'M' },
        { "feed", no_argument, NULL, 'F' }, { "seed", required_argument, NULL, 'S' },
        { "no-mix", no_argument, NULL, 'X' }, { "preroll", required_argument, NULL, 'P' },
        { "pattern", required_argument, NULL, 'R' }, { "queue", required_argument, NULL, 'Q' },
        { NULL, 0, NULL, 0 }
    };
    const char *dir = NULL, *plot = NULL;
    int files = 0, seconds = 0, cache_mb = 64, maxv = 0, use_fio = 1;
    double step = 0, confirm = 60, bw = 0, fio_p99 = 0, physical = 0, t0 = now_s();
    shelf_stream_opts eo;
    shelf_stress_opts so;
    int opt, i, best = 0, confirmed = 0, feed = 0, mix = 1, pattern = 0;
    uint64_t seed = 1;
    /* --feed: voices start over the first half of it; 5 s lets the rings
     * of a few thousand random starts fill before the measured run. */
    double preroll = 5;
    char *msg = NULL;

    setvbuf(stdout, NULL, _IOLBF, 0);   /* progress as it goes, into a log too */
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (opt) {
        case 'd': dir = optarg; break;
        case 'f': files = (int)strtol(optarg, NULL, 10); break;
        case 's': seconds = (int)strtol(optarg, NULL, 10); break;
        case 'c': cache_mb = (int)strtol(optarg, NULL, 10); break;
        case 't': step = strtod(optarg, NULL); break;
        case 'C': confirm = strtod(optarg, NULL); break;
        case 'm': maxv = (int)strtol(optarg, NULL, 10); break;
        case 'n': use_fio = 0; break;
        case 'p': plot = optarg; break;
        case 'M': break;      /* the table is always markdown */
        case 'F': feed = 1; break;
        case 'S': seed = strtoull(optarg, NULL, 10); break;
        case 'X': mix = 0; break;
        case 'P': preroll = strtod(optarg, NULL); break;
        case 'R': pattern = (int)strtol(optarg, NULL, 10); break;
        case 'Q': engine_qd = (int)strtol(optarg, NULL, 10), qd_set = 1; break;
        default: return 2;
        }
    }
    /* --feed has its own set: files long enough for a random start plus
     * the pre-roll and the confirming run. */
    if (!dir) dir = feed ? "/var/tmp/shelf-bench-feed" : "/var/tmp/shelf-bench-stream";
    if (!plot) plot = feed ? "stream-feed.png" : "stream-bench.png";
    if (!files) files = feed ? 512 : 256;
    if (!seconds) seconds = feed ? 90 : 10;
    if (!(step > 0)) step = feed ? 10 : 8;
    if (!maxv) maxv = feed ? 8000 : 3000;
    if (engine_qd < 1 || engine_qd > 4096) {
        fprintf(stderr, "bench_stream: --queue wants 1-4096\n");
        return 2;
    }
    if (files < 1 || seconds < 3 || cache_mb < 1 || step < 1 || confirm < 1 || maxv < 2 ||
        pattern < 0 || pattern > 100000 || (pattern && !feed) ||
        !(preroll >= 0.1 && preroll <= 60))
        return 2;
    (void)mkdir(dir, 0777);
    file_frames = (int64_t)seconds * RATE;
    npaths = files;
    paths = calloc((size_t)files, sizeof *paths);
    printf("sample set: %d files of %d s (24-bit stereo 48 kHz), %.0f MB, in %s; cache budget %d MB%s\n",
           files, seconds, (double)files * (double)file_frames * BPF / 1e6, dir,
           feed ? 256 : cache_mb, feed ? " (the engine's default)" : "");
    for (i = 0; i < files; i++) {
        char p[4096];
        snprintf(p, sizeof p, "%s/s%04d.wav", dir, i);
        paths[i] = strdup(p);
        if (make_file(p, file_frames, (unsigned)i + 1) != 0) {
            fprintf(stderr, "bench_stream: cannot write '%s': %s\n", p, strerror(errno));
            return 1;
        }
    }
    /* The set's pages on their way to the disk would slow every read
     * measured below: write them back first. */
    sync();
    if (feed) {
        int rc;
        if (pattern) {      /* only the pattern reader, between two fio runs */
            double ms = 0, pb;
            jitter jit;
            wake_jitter(&jit);
            fio_at_engine_depth(dir, "before");
            pb = run_pattern(pattern, engine_qd, 10, &ms);
            printf("the engine's reads without the engine, %d streams: %.0f MB/s, a read %.2f ms "
                   "on average\n", pattern, pb / 1e6, ms);
            fio_at_engine_depth(dir, "after");
            rc = pb > 0 ? 0 : 1;
        } else {
            rc = feed_main(argc, argv, dir, step, confirm, maxv, plot, seed, use_fio, mix, t0,
                           preroll);
        }
        for (i = 0; i < files; i++)
            free(paths[i]);
        free(paths);
        return rc;
    }
    if (use_fio) {
        bw = run_fio(dir, 15, 16, 128, &fio_p99, 0);
        if (bw > 0) {
            physical = bw / VOICE_BPS;
            printf("fio: random 128 KiB reads, queue depth 16, O_DIRECT: %.0f MB/s, p99 %.2f ms "
                   "-> physical limit %.0f voices\n", bw / 1e6, fio_p99, physical);
        } else {
            printf("fio: not available or failed (install it: scripts/install-deps --tools)\n");
        }
    }
    memset(&eo, 0, sizeof eo);
    eo.size = sizeof eo;
    eo.cache_bytes = (uint64_t)cache_mb << 20;
    memset(&so, 0, sizeof so);
    so.size = sizeof so;
    so.voices = 64;
    so.duration = step;
    so.cold = 1;
    printf("shelf: ramp, %.0f s a step, caches dropped before each\n", step);
    if (shelf_stress_ramp((const char *const *)paths, (size_t)files, &eo, &so, maxv, &best, on_step,
                          NULL, &msg) != SHELF_OK) {
        fprintf(stderr, "bench_stream: %s\n", msg ? msg : "stress failed");
        return 1;
    }
    /* Confirm for the long run; step down 15 % at a time if it fails. */
    if ((confirmed = confirm_run((const char *const *)paths, (size_t)files, &eo, &so, best, confirm,
                                 15, plot, "shelf", JUDGE_CLEAN)) < 0)
        return 1;
    printf("naive: ramp, %.0f s a step, caches dropped before each\n", step);
    {
        int naive_best = ramp(16, maxv, naive_step, &step);
        print_table(argc, argv, now_s() - t0, bw, physical, step, best, confirm, confirmed,
                    naive_best);
        printf("plot of the confirming run: %s\n", plot);
    }
    for (i = 0; i < files; i++)
        free(paths[i]);
    free(paths);
    free(msg);
    return 0;
}
