/*
 * bench_mix.c: the mix alone, on one core: the CPU time of
 * shelf_stream_render per voice per block with every sample in RAM
 * (SHELF_STREAM_RAM, so no read and no scheduler is on the way), for the
 * vector kernel beside the plain C one (SHELF_STREAM_NO_SIMD) in one run,
 * at rising voice counts, mono and stereo.  Every voice plays its own
 * part of a file (64 files, random offsets) at its own pitch, spread
 * evenly over an octave down to an octave up, so no two voices read the
 * same memory.  Both kernels' outputs are hashed block by block: the run
 * fails unless they are the same bits.  Prints markdown rows for
 * doc/benchmarks.md ("The mix: a block's counts once a block, and AVX2").
 *
 *   bench_mix [--dir D] [--files N] [--seconds S] [--blocks B] [--block F]
 *             [--voices N,N,...] [--seed N] [--only c|vector]
 *
 * --only runs one kernel (for a profiler: perf record bench_mix --only
 * vector); nothing is compared then.
 *
 * The files (16-bit WAV of noise, written once) stay in D
 * (/var/tmp/shelf-bench-mix) for the next run.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "bench_util.h"
#include "shelf/shelf.h"

#define RATE 48000
#define MAXV 16384

static int nfiles = 64, seconds = 20, blocks = 400, block = 128;
static uint64_t seed = 1;
static int only = -1;   /* -1 both kernels, 0 the C one, 1 the vector one */

static double cpu_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A WAV of ch channels of noise, seconds long; kept when present. */
static int make_file(const char *path, int ch, unsigned n)
{
    SF_INFO info = { 0 };
    struct stat st;
    short *buf;
    SNDFILE *f;
    uint64_t x = bench_mix64(n + 1);
    int64_t frames = (int64_t)seconds * RATE, i;

    if (stat(path, &st) == 0 && st.st_size > frames * ch * 2)
        return 0;
    info.samplerate = RATE;
    info.channels = ch;
    info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
    if (!(f = sf_open(path, SFM_WRITE, &info))) {
        fprintf(stderr, "%s: cannot write '%s': %s\n", bench_name, path, sf_strerror(NULL));
        return -1;
    }
    if (!(buf = malloc((size_t)RATE * (size_t)ch * sizeof *buf))) {
        sf_close(f);
        return -1;
    }
    for (i = 0; i < frames; i += RATE) {
        int j;
        for (j = 0; j < RATE * ch; j++) {
            x = bench_mix64(x);
            buf[j] = (short)(x >> 50) - 8192;
        }
        if (sf_writef_short(f, buf, RATE) != RATE) {
            fprintf(stderr, "%s: cannot write '%s': %s\n", bench_name, path, sf_strerror(f));
            free(buf);
            sf_close(f);
            remove(path);
            return -1;
        }
    }
    free(buf);
    return sf_close(f);
}

typedef struct {
    double ns_voice;   /* CPU ns per voice per block */
    double pct;        /* of a block's period, one core */
    uint64_t hash;     /* of every output block */
    uint64_t run, simd, mixed;
} result;

static uint64_t hash_block(uint64_t h, const float *out, size_t n)
{
    const unsigned char *p = (const unsigned char *)out;
    size_t i;

    for (i = 0; i < n * sizeof *out; i++)
        h = (h ^ p[i]) * 1099511628211u;
    return h;
}

/* Start voices on s (ids: its samples, frames long) and time blocks of
 * them; then end them. */
static int measure(shelf_stream *s, const int *ids, int voices, int64_t frames, result *r)
{
    float *out = malloc((size_t)block * 2 * sizeof *out);
    int *handles = malloc((size_t)voices * sizeof *handles);
    shelf_stream_stats a = { .size = sizeof a }, b = { .size = sizeof b };
    int64_t room = frames - (int64_t)blocks * block * 2 - 64;
    double cpu = 0;
    int i, warm = 20;

    if (!out || !handles || room <= 0) {
        free(out);
        free(handles);
        return -1;
    }
    for (i = 0; i < voices; i++) {
        uint64_t x = bench_mix64(seed * 1000003u + (uint64_t)i);
        /* an even spread of pitches, an octave each way */
        double pitch = pow(2.0, ((double)(x % 2401) - 1200.0) / 1200.0);
        handles[i] = shelf_stream_voice_start(s, ids[(x >> 12) % (uint64_t)nfiles],
                                              (int64_t)((x >> 24) % (uint64_t)room), pitch, 0.05f, 0);
        if (handles[i] < 0) {
            fprintf(stderr, "%s: voice %d did not start: %s\n", bench_name, i, shelf_stream_errmsg(s));
            free(out);
            free(handles);
            return -1;
        }
    }
    for (i = 0; i < warm; i++)
        shelf_stream_render(s, (uint32_t)block, out);
    shelf_stream_get_stats(s, &a);
    r->hash = 1469598103934665603u;
    for (i = 0; i < blocks; i++) {
        double t0 = cpu_now();
        shelf_stream_render(s, (uint32_t)block, out);
        cpu += cpu_now() - t0;
        r->hash = hash_block(r->hash, out, (size_t)block * 2);
    }
    shelf_stream_get_stats(s, &b);
    r->ns_voice = cpu * 1e9 / blocks / voices;
    r->pct = cpu / blocks / ((double)block / RATE) * 100.0;
    r->mixed = b.mix_frames - a.mix_frames;
    r->run = b.mix_run_frames - a.mix_run_frames;
    r->simd = b.mix_simd_frames - a.mix_simd_frames;
    for (i = 0; i < voices; i++)
        shelf_stream_voice_release(s, handles[i], 1);
    for (i = 0; i < 3; i++)
        shelf_stream_render(s, (uint32_t)block, out);
    free(out);
    free(handles);
    return 0;
}

static shelf_stream *engine(int flags, char **paths, int *ids)
{
    shelf_stream_opts o = { .size = sizeof o };
    shelf_stream *s = NULL;
    char *msg = NULL;
    int i;

    o.rate = RATE;
    o.max_voices = MAXV;
    o.cache_bytes = (uint64_t)4 << 30;
    o.flags = SHELF_STREAM_RAM | flags;
    if (shelf_stream_new(&o, &s, &msg) != SHELF_OK) {
        fprintf(stderr, "%s: engine: %s\n", bench_name, msg ? msg : "?");
        free(msg);
        return NULL;
    }
    for (i = 0; i < nfiles; i++)
        if (shelf_stream_add(s, paths[i], &ids[i]) != SHELF_OK) {
            fprintf(stderr, "%s: %s: %s\n", bench_name, paths[i], shelf_stream_errmsg(s));
            shelf_stream_free(s);
            return NULL;
        }
    return s;
}

/*
 * Every step of voices (nv of them) on files of ch channels in dir, with
 * the kernels --only asks for.  0; 1 when the kernels differ or the C
 * engine did not mix as it should; -1 on failure (said).
 */
static int run_channels(const char *dir, int ch, const int *voices, int nv)
{
    char **paths = calloc((size_t)nfiles, sizeof *paths);
    int *ids = calloc((size_t)nfiles, sizeof *ids);
    shelf_stream *sc = NULL, *sv = NULL;
    int64_t fr = (int64_t)seconds * RATE;
    int i, k, rc = 0;

    if (!paths || !ids) {
        fprintf(stderr, "%s: out of memory\n", bench_name);
        rc = -1;
        goto out;
    }
    for (i = 0; i < nfiles; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s%04d.wav", ch == 1 ? "m" : "s", i);
        if (!(paths[i] = malloc(4096)) || bench_join_path(paths[i], 4096, dir, name) != 0 ||
            make_file(paths[i], ch, (unsigned)(i + 100 * ch)) != 0) {
            rc = -1;
            goto out;
        }
    }
    /* one engine a kernel, its samples decoded once */
    if ((only != 1 && !(sc = engine(SHELF_STREAM_NO_SIMD, paths, ids))) ||
        (only != 0 && !(sv = engine(0, paths, ids)))) {
        rc = -1;
        goto out;
    }
    for (k = 0; k < nv; k++) {
        result c = { 0 }, v = { 0 };
        /* alternate which runs first, so neither always meets a warm cache */
        if (k & 1 ? (sv && measure(sv, ids, voices[k], fr, &v)) || (sc && measure(sc, ids, voices[k], fr, &c))
                  : (sc && measure(sc, ids, voices[k], fr, &c)) || (sv && measure(sv, ids, voices[k], fr, &v))) {
            rc = -1;
            goto out;
        }
        if (only >= 0) {
            result *o = only ? &v : &c;
            printf("| %s | %d | %s: %.0f ns per voice per block, %.1f%% of a core |\n",
                   ch == 1 ? "mono" : "stereo", voices[k], only ? "vector" : "C", o->ns_voice, o->pct);
            continue;
        }
        printf("| %s | %d | %.0f | %.1f | %.0f | %.1f | %.2f | %s |\n", ch == 1 ? "mono" : "stereo",
               voices[k], c.ns_voice, c.pct, v.ns_voice, v.pct, c.ns_voice / v.ns_voice,
               c.hash == v.hash ? "yes" : "NO");
        (void)fflush(stdout);
        if (c.hash != v.hash) {
            fprintf(stderr, "%s: the two kernels' outputs differ\n", bench_name);
            rc = 1;
        }
        if (v.simd == 0)
            fprintf(stderr, "%s: the vector kernel did not run (no AVX2 here?)\n", bench_name);
        if (c.simd != 0 || c.run < c.mixed / 2) {
            fprintf(stderr, "%s: the C engine mixed %" PRIu64 " of %" PRIu64 " frames in runs, %" PRIu64
                    " by the vector kernel\n", bench_name, c.run, c.mixed, c.simd);
            rc = 1;
        }
    }
out:
    shelf_stream_free(sc);
    shelf_stream_free(sv);
    for (i = 0; paths && i < nfiles; i++)
        free(paths[i]);
    free(paths);
    free(ids);
    return rc;
}

int main(int argc, char **argv)
{
    const char *dir = "/var/tmp/shelf-bench-mix", *vlist = "500,1000,2000,4000,6000,8000";
    int voices[32], nv = 0, i, ch, fail = 0;
    char machine[256], when[64];
    time_t now = time(NULL);

    bench_name = "bench_mix";
    for (i = 1; i < argc; i++) {
        uint64_t u;
        if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            dir = argv[++i];
        else if (!strcmp(argv[i], "--voices") && i + 1 < argc)
            vlist = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--files") && !bench_parse_u64(argv[i + 1], 1, 4096, &u))
            nfiles = (int)u, i++;
        else if (i + 1 < argc && !strcmp(argv[i], "--seconds") && !bench_parse_u64(argv[i + 1], 2, 600, &u))
            seconds = (int)u, i++;
        else if (i + 1 < argc && !strcmp(argv[i], "--blocks") && !bench_parse_u64(argv[i + 1], 1, 100000, &u))
            blocks = (int)u, i++;
        else if (i + 1 < argc && !strcmp(argv[i], "--block") && !bench_parse_u64(argv[i + 1], 8, 8192, &u))
            block = (int)u, i++;
        else if (i + 1 < argc && !strcmp(argv[i], "--seed") && !bench_parse_u64(argv[i + 1], 0, UINT64_MAX, &u))
            seed = u, i++;
        else if (i + 1 < argc && !strcmp(argv[i], "--only") &&
                 (!strcmp(argv[i + 1], "c") || !strcmp(argv[i + 1], "vector")))
            only = !strcmp(argv[++i], "vector");
        else {
            fprintf(stderr,
                    "usage: bench_mix [--dir D] [--files N] [--seconds S] [--blocks B] [--block F]\n"
                    "                 [--voices N,N,...] [--seed N] [--only c|vector]\n");
            return 2;
        }
    }
    for (const char *p = vlist; *p && nv < 32;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 1 || v > MAXV) {
            fprintf(stderr, "%s: bad --voices '%s' (numbers 1-%d, by commas)\n", bench_name, vlist, MAXV);
            return 2;
        }
        voices[nv++] = (int)v;
        p = *end == ',' ? end + 1 : end;
    }
    if ((int64_t)blocks * block * 2 + 64 >= (int64_t)seconds * RATE) {
        fprintf(stderr, "%s: --blocks of --block frames at pitch 2 need files longer than %d s\n",
                bench_name, seconds);
        return 2;
    }
    if (bench_mkdir_p(dir) != 0)
        return 1;
    bench_machine_desc(dir, machine, sizeof machine);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", gmtime(&now));
    printf("bench_mix, %s, %s; %d files of %d s each, %d blocks of %d frames at %d Hz (%.2f ms) per step\n\n",
           when, machine, nfiles, seconds, blocks, block, RATE, 1000.0 * block / RATE);
    printf("| channels | voices | C: ns per voice per block | C: %% of a core | vector: ns per voice per block "
           "| vector: %% of a core | C / vector | same bits |\n|---|--:|--:|--:|--:|--:|--:|---|\n");
    (void)fflush(stdout);
    for (ch = 1; ch <= 2 && fail == 0; ch++)
        fail = run_channels(dir, ch, voices, nv);
    return fail != 0;
}
