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
 *   bench_stream [--dir D] [--files N] [--seconds S] [--cache MB] [--step S]
 *                [--confirm S] [--max V] [--no-fio] [--plot FILE] [--markdown]
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
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
            v = (int32_t)(sin((double)(i + j / 2) * 0.05 * (1 + seed % 7)) * 3000000.0) +
                (int32_t)(x % 200000) - 100000;
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

static double run_fio(const char *dir, int seconds, int qd, int chunk_kib, double *p99_ms)
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
                   "--directory=%s --filename=",
                   chunk_kib, qd, seconds, dir);
    /* fio takes at most 4096 bytes of names: the set's first files. */
    for (i = 0; i < npaths && strlen(cmd) < 3900 + 300 + strlen(dir); i++) {
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
    if ((j = json_loads(out, 0, &err)) &&
        (rd = json_object_get(json_array_get(json_object_get(j, "jobs"), 0), "read"))) {
        bw = json_number_value(json_object_get(rd, "bw_bytes"));
        *p99_ms = json_number_value(json_object_get(
                      json_object_get(json_object_get(rd, "clat_ns"), "percentile"), "99.000000")) / 1e6;
    }
    json_decref(j);
    free(out);
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
    fflush(stdout);
    return nv.late == 0;
}

static int naive_ramp(int start, int max, double seconds)
{
    int lo = 0, hi = max + 1, v = start;
    double mb;

    while (v > lo && v < hi) {
        if (naive_clean(v, seconds, &mb))
            lo = v;
        else
            hi = v;
        v = hi > max ? (2 * lo > max ? max : 2 * lo) : lo + (hi - lo) / 2;
        if (hi <= max && hi - lo <= (lo / 32 > 1 ? lo / 32 : 1))
            break;
    }
    return lo;
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
           "callbacks, %.0f MB/s, p99 %.1f ms%s\n",
           voices, (unsigned long long)r->stats.underruns, (unsigned long long)r->stats.not_ready,
           (unsigned long long)r->stats.voices_dropped, (unsigned long long)r->late,
           r->nrows ? mb / (double)r->nrows : 0, p99 / 1000.0, r->clean ? " (clean)" : "");
    fflush(stdout);
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

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "dir", required_argument, NULL, 'd' }, { "files", required_argument, NULL, 'f' },
        { "seconds", required_argument, NULL, 's' }, { "cache", required_argument, NULL, 'c' },
        { "step", required_argument, NULL, 't' }, { "confirm", required_argument, NULL, 'C' },
        { "max", required_argument, NULL, 'm' }, { "no-fio", no_argument, NULL, 'n' },
        { "plot", required_argument, NULL, 'p' }, { "markdown", no_argument, NULL, 'M' },
        { NULL, 0, NULL, 0 }
    };
    const char *dir = "/var/tmp/shelf-bench-stream", *plot = "stream-bench.png";
    int files = 256, seconds = 10, cache_mb = 64, maxv = 3000, use_fio = 1;
    double step = 8, confirm = 60, bw = 0, fio_p99 = 0, physical = 0, t0 = now_s();
    shelf_stream_opts eo;
    shelf_stress_opts so;
    shelf_stress_result *r = NULL;
    int opt, i, best = 0, confirmed = 0, nbest;
    char *msg = NULL;

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
        default: return 2;
        }
    }
    if (files < 1 || seconds < 3 || cache_mb < 1 || step < 1 || confirm < 1 || maxv < 2)
        return 2;
    mkdir(dir, 0777);
    file_frames = (int64_t)seconds * RATE;
    npaths = files;
    paths = calloc((size_t)files, sizeof *paths);
    printf("sample set: %d files of %d s (24-bit stereo 48 kHz), %.0f MB, in %s; cache budget %d MB\n",
           files, seconds, (double)files * (double)file_frames * BPF / 1e6, dir, cache_mb);
    for (i = 0; i < files; i++) {
        char p[4096];
        snprintf(p, sizeof p, "%s/s%04d.wav", dir, i);
        paths[i] = strdup(p);
        if (make_file(p, file_frames, (unsigned)i + 1) != 0) {
            fprintf(stderr, "bench_stream: cannot write '%s': %s\n", p, strerror(errno));
            return 1;
        }
    }
    if (use_fio) {
        bw = run_fio(dir, 15, 16, 128, &fio_p99);
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
    for (nbest = best, i = 0; nbest > 0 && i < 6; i++, nbest = nbest * 85 / 100) {
        so.voices = nbest;
        so.duration = confirm;
        printf("shelf: confirming %d voices for %.0f s\n", nbest, confirm);
        if (shelf_stress_run((const char *const *)paths, (size_t)files, &eo, &so, &r, &msg) != SHELF_OK) {
            fprintf(stderr, "bench_stream: %s\n", msg ? msg : "stress failed");
            return 1;
        }
        on_step(NULL, nbest, r);
        if (r->clean) {
            char title[128];
            confirmed = nbest;
            snprintf(title, sizeof title, "shelf, %d voices, cold, %.0f s", nbest, confirm);
            shelf_stress_plot(r, title, plot);
            shelf_stress_free(r);
            break;
        }
        shelf_stress_free(r);
    }
    printf("naive: ramp, %.0f s a step, caches dropped before each\n", step);
    {
        int naive_best = naive_ramp(16, maxv, step);
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
