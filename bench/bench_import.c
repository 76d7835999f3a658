/*
 * bench_import.c: the import benchmark (a program, not a test; ctest never
 * runs it).  It builds a synthetic sample library of short WAV files, times
 * the floor (one process SHA-256-hashing every file), then times a full
 * import, an unchanged rescan and a copying import through the public API,
 * and prints a table; with --markdown also a block for doc/benchmarks.md.
 * It owns its scratch folder: the sample tree and the libraries it creates,
 * removed at the end unless --keep (a folder named with --dir keeps its
 * sample tree, so reruns measure the same files).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <sndfile.h>

#include "shelf/shelf.h"
#include "bench_util.h"

#define DEFAULT_FILES 20000u
#define MAX_FILES 10000000u
#define DEFAULT_RUNS 3
#define MAX_RUNS 10
#define NPACKS 40u
#define CHUNK_BYTES (1u << 20)         /* floor reads in 1 MiB chunks */
#define MAX_RATE 48000
#define MAX_SECONDS 0.5
#define MAX_FRAMES ((size_t)(MAX_RATE * MAX_SECONDS) + 1)
#define MAX_CHANNELS 2
#define MB 1e6                          /* MB here means 10^6 bytes */
#define MAX_REASONS 5                   /* failure reasons printed per run */

/* The aims doc/benchmarks.md states. */
#define AIM_RATIO 1.5
#define AIM_RESCAN_FILES 20000.0
#define AIM_RESCAN_SECONDS 1.0

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* 10 x 4 = NPACKS distinct pack names. */
static const char *const pack_style[] = {
    "Analog", "Vinyl", "Urban", "Deep", "Neon",
    "Dusty", "Modular", "Tape", "Studio", "Future"
};
static const char *const pack_kind[] = { "Drums", "House", "Trap Kit", "Essentials" };

static const struct category {
    const char *folder;
    const char *prefix;
    int loops;                  /* 1: files go one folder deeper, by tempo */
} categories[] = {
    { "Kicks", "Kick", 0 },      { "Snares", "Snare", 0 },  { "Claps", "Clap", 0 },
    { "Hats", "Hat", 0 },        { "Percussion", "Perc", 0 }, { "Toms", "Tom", 0 },
    { "Cymbals", "Cymbal", 0 },  { "Loops", "Loop", 1 },    { "Pads", "Pad", 0 },
    { "Bass", "Bass", 0 },       { "Leads", "Lead", 0 },    { "FX", "FX", 0 },
    { "Vocals", "Vox", 0 },      { "Keys", "Keys", 0 }
};

static const char *const adjectives[] = {
    "Deep", "Punchy", "Dry", "Wet", "Vinyl", "Tight", "Dusty", "Bright",
    "Dark", "Warm", "Crisp", "Lofi", "Hard", "Soft", "Analog", "Gritty"
};

static const int loop_tempos[] = { 90, 120, 124, 128, 140, 174 };

typedef struct bench_opts {
    uint64_t files;
    const char *dir;            /* NULL: a fresh folder under /tmp */
    int runs;
    int keep;
    int markdown;
    int copy;
} bench_opts;

/* One timed call of shelf_import, with its open and close around it. */
typedef struct import_run {
    double open_s, import_s, close_s;
    shelf_import_stats stats;
    int rc;
} import_run;

/* Counts failures that on_file reports during one import. */
typedef struct fail_log {
    uint64_t failed;
    const char *label;
} fail_log;

typedef struct floor_ctx {
    EVP_MD_CTX *md;
    EVP_MD *sha256;
    unsigned char *buf;
    uint64_t files, bytes;
    unsigned char sink;         /* keeps the digests observable */
} floor_ctx;

typedef int (*walk_fn)(void *ud, const char *path);

/* ------------------------------------------------------------------ */
/* Small helpers                                                      */

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double best_of(const double *v, int n)
{
    double best = v[0];

    for (int i = 1; i < n; i++)
        if (v[i] < best)
            best = v[i];
    return best;
}


static double rng_unit(uint64_t *s)
{
    *s = bench_mix64(*s);
    return (double)(*s >> 11) * 0x1.0p-53;
}


static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);

    return n >= m && strcmp(s + n - m, suffix) == 0;
}




/*
 * Call fn for every regular *.wav file under dir, depth first.  Hidden
 * entries are skipped.  Returns 0, or the first non-zero value of fn, or -1
 * when a folder cannot be read.
 */
static int walk_tree(const char *dir, walk_fn fn, void *ud)
{
    int rc = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[PATH_MAX];

    if (!d) {
        fprintf(stderr, "bench_import: cannot open '%s': %s\n", dir, strerror(errno));
        return -1;
    }
    while (rc == 0 && (e = readdir(d)) != NULL) {
        int is_dir = e->d_type == DT_DIR, is_reg = e->d_type == DT_REG;
        struct stat st;

        if (e->d_name[0] == '.')
            continue;
        if ((rc = bench_join_path(path, sizeof path, dir, e->d_name)) != 0)
            break;
        if (e->d_type == DT_UNKNOWN) {
            if (lstat(path, &st) != 0)
                continue;
            is_dir = S_ISDIR(st.st_mode);
            is_reg = S_ISREG(st.st_mode);
        }
        if (is_dir)
            rc = walk_tree(path, fn, ud);
        else if (is_reg && has_suffix(e->d_name, ".wav"))
            rc = fn(ud, path);
    }
    closedir(d);
    return rc;
}

/* ------------------------------------------------------------------ */
/* The synthetic sample tree                                          */

/* Audio parameters of file i: all derived from i, so reruns agree. */
typedef struct wav_params {
    int rate, channels, bits;
    sf_count_t frames;
    double freq, noise;         /* triangle tone and how much noise over it */
    uint64_t seed;
} wav_params;

static void sample_params(uint64_t i, wav_params *wp)
{
    uint64_t s = bench_mix64(i ^ 0x5ee1f5ee1f5ee1fu);
    uint64_t bits = bench_mix64(s + 1);
    double dur;

    wp->rate = (bits & 1) ? 48000 : 44100;
    wp->channels = (bits & 2) ? 2 : 1;
    wp->bits = (bits & 4) ? 24 : 16;
    dur = 0.1 + 0.4 * rng_unit(&s);
    wp->frames = (sf_count_t)(dur * wp->rate);
    wp->freq = 30.0 + 1800.0 * rng_unit(&s);
    wp->noise = rng_unit(&s);
    wp->seed = s;
}

/*
 * The folder and full path of file i.  Files go round-robin over the packs,
 * then over the categories, so every folder fills evenly; k numbers the
 * files within one pack's category and keeps names unique.
 */
static int sample_path(const char *tree, uint64_t i, char *dir, size_t dsize,
                       char *path, size_t psize)
{
    uint64_t pack = i % NPACKS, j = i / NPACKS;
    const struct category *cat = &categories[j % ARRAY_LEN(categories)];
    uint64_t k = j / ARRAY_LEN(categories);
    const char *adj = adjectives[bench_mix64(i) % ARRAY_LEN(adjectives)];
    const char *style = pack_style[pack % ARRAY_LEN(pack_style)];
    const char *kind = pack_kind[pack / ARRAY_LEN(pack_style)];
    int n;

    if (cat->loops) {
        int bpm = loop_tempos[k % ARRAY_LEN(loop_tempos)];

        n = snprintf(dir, dsize, "%s/%s %s/%s/%d BPM", tree, style, kind, cat->folder, bpm);
        if (n < 0 || (size_t)n >= dsize)
            goto too_long;
        n = snprintf(path, psize, "%s/%s_%s_%d_%03" PRIu64 ".wav", dir, cat->prefix, adj,
                     bpm, k + 1);
    } else {
        n = snprintf(dir, dsize, "%s/%s %s/%s", tree, style, kind, cat->folder);
        if (n < 0 || (size_t)n >= dsize)
            goto too_long;
        n = snprintf(path, psize, "%s/%s_%s_%03" PRIu64 ".wav", dir, cat->prefix, adj, k + 1);
    }
    if (n < 0 || (size_t)n >= psize)
        goto too_long;
    return 0;
too_long:
    fprintf(stderr, "bench_import: path too long under '%s'\n", tree);
    return -1;
}

static uint32_t xorshift32(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

/*
 * Write file i: a decaying triangle tone with seeded noise over it, so no
 * two files share content.  Written to path.part and renamed, so an
 * interrupted generation never leaves a truncated WAV under a final name.
 */
static int write_wav(const char *path, uint64_t i, short *s16, int *s32)
{
    wav_params wp;
    SF_INFO info;
    SNDFILE *sf = NULL;
    char tmp[PATH_MAX];
    uint32_t x;
    double phase = 0.0, inc;
    sf_count_t written;
    int n, rc = -1;

    sample_params(i, &wp);
    x = (uint32_t)(wp.seed >> 32) | 1u;
    inc = wp.freq / wp.rate;
    n = snprintf(tmp, sizeof tmp, "%s.part", path);
    if (n < 0 || (size_t)n >= sizeof tmp) {
        fprintf(stderr, "bench_import: path too long: '%s'\n", path);
        return -1;
    }
    for (sf_count_t f = 0; f < wp.frames; f++) {
        double t = (double)f / (double)wp.frames, env = (1.0 - t) * (1.0 - t);
        double tri = phase < 0.5 ? 4.0 * phase - 1.0 : 3.0 - 4.0 * phase;

        phase += inc;
        if (phase >= 1.0)
            phase -= 1.0;
        for (int c = 0; c < wp.channels; c++) {
            double noise = (double)xorshift32(&x) / 2147483648.0 - 1.0;
            double v = 0.8 * env * ((1.0 - wp.noise) * tri + wp.noise * noise);
            size_t at = (size_t)f * (size_t)wp.channels + (size_t)c;

            if (wp.bits == 16)
                s16[at] = (short)(v * 32767.0);
            else
                s32[at] = (int)(v * 2147483647.0);
        }
    }

    memset(&info, 0, sizeof info);
    info.samplerate = wp.rate;
    info.channels = wp.channels;
    info.format = SF_FORMAT_WAV | (wp.bits == 16 ? SF_FORMAT_PCM_16 : SF_FORMAT_PCM_24);
    if (!(sf = sf_open(tmp, SFM_WRITE, &info))) {
        fprintf(stderr, "bench_import: cannot write '%s': %s\n", tmp, sf_strerror(NULL));
        goto out;
    }
    written = wp.bits == 16 ? sf_writef_short(sf, s16, wp.frames)
                            : sf_writef_int(sf, s32, wp.frames);
    if (written != wp.frames) {
        fprintf(stderr, "bench_import: cannot write '%s': %s\n", tmp, sf_strerror(sf));
        goto out;
    }
    if (sf_close(sf) != 0) {
        sf = NULL;
        fprintf(stderr, "bench_import: cannot close '%s'\n", tmp);
        goto out;
    }
    sf = NULL;
    if (rename(tmp, path) != 0) {
        fprintf(stderr, "bench_import: cannot rename '%s': %s\n", tmp, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    if (sf)
        sf_close(sf);
    if (rc != 0)
        unlink(tmp);
    return rc;
}

/* A non-audio file per pack, as real packs have; import counts it as ignored. */
static int write_readme(const char *tree, uint64_t pack)
{
    char path[PATH_MAX];
    struct stat st;
    FILE *f;
    int n = snprintf(path, sizeof path, "%s/%s %s/Read Me.txt", tree,
                     pack_style[pack % ARRAY_LEN(pack_style)],
                     pack_kind[pack / ARRAY_LEN(pack_style)]);

    if (n < 0 || (size_t)n >= sizeof path)
        return -1;
    if (stat(path, &st) == 0)
        return 0;
    if (!(f = fopen(path, "w"))) {
        fprintf(stderr, "bench_import: cannot write '%s': %s\n", path, strerror(errno));
        return -1;
    }
    fprintf(f, "Synthetic sample pack %" PRIu64 " written by bench_import.\n"
               "Royalty free for benchmarking.\n", pack + 1);
    return fclose(f) == 0 ? 0 : -1;
}

/*
 * Make sure the tree holds files 0..n-1, writing those that are missing.
 * Returns 0 and the totals, or -1.
 */
static int generate_tree(const char *tree, uint64_t n, uint64_t *bytes_out)
{
    short *s16 = malloc(MAX_FRAMES * MAX_CHANNELS * sizeof *s16);
    int *s32 = malloc(MAX_FRAMES * MAX_CHANNELS * sizeof *s32);
    char dir[PATH_MAX], path[PATH_MAX];
    uint64_t made = 0, reused = 0, bytes = 0;
    double t0 = now_s();
    int rc = -1;

    *bytes_out = 0;
    if (!s16 || !s32) {
        fprintf(stderr, "bench_import: out of memory\n");
        goto out;
    }
    for (uint64_t i = 0; i < n; i++) {
        struct stat st;

        if (sample_path(tree, i, dir, sizeof dir, path, sizeof path) != 0)
            goto out;
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
            reused++;
        } else {
            if (bench_mkdir_p(dir) != 0 || write_wav(path, i, s16, s32) != 0)
                goto out;
            if (stat(path, &st) != 0) {
                fprintf(stderr, "bench_import: cannot stat '%s': %s\n", path,
                        strerror(errno));
                goto out;
            }
            if (++made % 2000 == 0)
                fprintf(stderr, "  generated %" PRIu64 " files...\n", made);
        }
        bytes += (uint64_t)st.st_size;
        /* Files 0..NPACKS-1 are the first of each pack, so the pack folder exists. */
        if (i < NPACKS && write_readme(tree, i) != 0)
            goto out;
    }
    fprintf(stderr, "sample tree: %" PRIu64 " files (%" PRIu64 " written, %" PRIu64
            " already there), %.1f MB, %.1f s\n", n, made, reused, (double)bytes / MB,
            now_s() - t0);
    *bytes_out = bytes;
    rc = 0;
out:
    free(s16);
    free(s32);
    return rc;
}

/* ------------------------------------------------------------------ */
/* The floor: SHA-256 of every file, one process, 1 MiB reads         */

static int floor_file(void *ud, const char *path)
{
    floor_ctx *fc = ud;
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    ssize_t got;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        fprintf(stderr, "bench_import: cannot open '%s': %s\n", path, strerror(errno));
        return -1;
    }
    if (!EVP_DigestInit_ex(fc->md, fc->sha256, NULL))
        goto fail;
    while ((got = read(fd, fc->buf, CHUNK_BYTES)) != 0) {
        if (got < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "bench_import: cannot read '%s': %s\n", path, strerror(errno));
            close(fd);
            return -1;
        }
        if (!EVP_DigestUpdate(fc->md, fc->buf, (size_t)got))
            goto fail;
        fc->bytes += (uint64_t)got;
    }
    if (!EVP_DigestFinal_ex(fc->md, digest, &dlen))
        goto fail;
    close(fd);
    fc->sink ^= digest[0];
    fc->files++;
    return 0;
fail:
    fprintf(stderr, "bench_import: sha-256 failed on '%s'\n", path);
    close(fd);
    return -1;
}

/* Hash the tree once; returns seconds, or a negative value on failure. */
static double floor_run(floor_ctx *fc, const char *tree)
{
    double t0;

    fc->files = fc->bytes = 0;
    t0 = now_s();
    if (walk_tree(tree, floor_file, fc) != 0)
        return -1.0;
    return now_s() - t0;
}

/* ------------------------------------------------------------------ */
/* Imports through the public API                                     */

/* Runs on the importing thread; prints the first few failures. */
static void on_file(void *ud, int status, const char *path, int64_t id, const char *reason)
{
    fail_log *fl = ud;

    (void)id;
    if (status != SHELF_FILE_FAILED)
        return;
    if (fl->failed++ < MAX_REASONS)
        fprintf(stderr, "  %s: failed: '%s': %s\n", fl->label, path, reason ? reason : "?");
}

/*
 * Open the library in libdir, import tree with flags, close.  The three
 * steps are timed apart; the table uses the import call alone.
 */
static int run_import(const char *libdir, int open_flags, const char *tree, unsigned flags,
                      const char *label, import_run *out)
{
    shelf_library *lib = NULL;
    shelf_import_opts opts;
    fail_log fl = { 0, label };
    const char *paths[1] = { tree };
    char *err = NULL;
    double t0, t1, t2, t3;

    memset(out, 0, sizeof *out);
    memset(&opts, 0, sizeof opts);
    opts.size = sizeof opts;
    opts.flags = flags;
    opts.on_file = on_file;
    opts.ud = &fl;

    t0 = now_s();
    out->rc = shelf_library_open(libdir, open_flags, &lib, &err);
    t1 = now_s();
    if (out->rc != SHELF_OK) {
        fprintf(stderr, "FAIL %s: cannot open library '%s': %s\n", label, libdir,
                err ? err : shelf_strerror(out->rc));
        shelf_free(err);
        return out->rc;
    }
    out->stats.size = sizeof out->stats;
    out->rc = shelf_import(lib, paths, 1, &opts, &out->stats);
    t2 = now_s();
    if (out->rc != SHELF_OK)
        fprintf(stderr, "FAIL %s: shelf_import returned %d (%s): %s\n", label, out->rc,
                shelf_strerror(out->rc), shelf_errmsg(lib));
    shelf_library_close(lib);
    t3 = now_s();
    out->open_s = t1 - t0;
    out->import_s = t2 - t1;
    out->close_s = t3 - t2;
    return out->rc;
}

static void print_run(const char *label, int k, const import_run *r)
{
    const shelf_import_stats *s = &r->stats;

    fprintf(stderr, "  %s run %d: import %.3f s (open %.3f s, close %.3f s); found %" PRIu64
            ", imported %" PRIu64 ", updated %" PRIu64 ", unchanged %" PRIu64 ", moved %" PRIu64
            ", missing %" PRIu64 ", failed %" PRIu64 ", ignored %" PRIu64 "\n",
            label, k, r->import_s, r->open_s, r->close_s, s->files_total, s->imported,
            s->updated, s->unchanged, s->moved, s->missing, s->failed, s->ignored);
}

/* A full import must take in every file, new, and fail none. */
static int check_full_import(const char *label, const import_run *r, uint64_t n)
{
    const shelf_import_stats *s = &r->stats;

    if (r->rc == SHELF_OK && s->imported == n && s->failed == 0)
        return 0;
    printf("FAIL %s: expected imported == %" PRIu64 " and failed == 0, got rc %d, imported %"
           PRIu64 ", failed %" PRIu64 ", found %" PRIu64 "\n",
           label, n, r->rc, s->imported, s->failed, s->files_total);
    return -1;
}

/* ------------------------------------------------------------------ */
/* The machine                                                        */


/* ------------------------------------------------------------------ */
/* Options                                                            */

static void usage(FILE *f)
{
    fprintf(f,
        "usage: bench_import [--files N] [--dir D] [--runs R] [--keep] [--no-copy] [--markdown]\n"
        "  --files N   number of WAV files in the synthetic library (default %u)\n"
        "  --dir D     work folder; its sample tree is reused by later runs\n"
        "              (default: a fresh folder under /tmp, removed at the end)\n"
        "  --runs R    timed runs of the floor, import and rescan (default %d, best counts)\n"
        "  --keep      keep the work folder and the libraries made in it\n"
        "  --no-copy   skip the --copy import (which fsyncs every blob)\n"
        "  --markdown  also print a block for doc/benchmarks.md\n",
        DEFAULT_FILES, DEFAULT_RUNS);
}


/* Returns 0 to go on, 1 to exit successfully (--help), -1 on a bad option. */
static int parse_args(int argc, char **argv, bench_opts *o)
{
    memset(o, 0, sizeof *o);
    o->files = DEFAULT_FILES;
    o->runs = DEFAULT_RUNS;
    o->copy = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        uint64_t v;

        if (strcmp(a, "--files") == 0) {
            if (bench_parse_u64(i + 1 < argc ? argv[++i] : NULL, 1, MAX_FILES, &o->files) != 0) {
                fprintf(stderr, "bench_import: --files wants a number from 1 to %u\n",
                        MAX_FILES);
                return -1;
            }
        } else if (strcmp(a, "--runs") == 0) {
            if (bench_parse_u64(i + 1 < argc ? argv[++i] : NULL, 1, MAX_RUNS, &v) != 0) {
                fprintf(stderr, "bench_import: --runs wants a number from 1 to %d\n", MAX_RUNS);
                return -1;
            }
            o->runs = (int)v;
        } else if (strcmp(a, "--dir") == 0) {
            if (i + 1 >= argc || argv[i + 1][0] == '\0') {
                fprintf(stderr, "bench_import: --dir wants a folder\n");
                return -1;
            }
            o->dir = argv[++i];
        } else if (strcmp(a, "--keep") == 0) {
            o->keep = 1;
        } else if (strcmp(a, "--no-copy") == 0) {
            o->copy = 0;
        } else if (strcmp(a, "--markdown") == 0) {
            o->markdown = 1;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 1;
        } else {
            fprintf(stderr, "bench_import: unknown option '%s'\n", a);
            usage(stderr);
            return -1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Report                                                             */

static void fmt_runs(char *out, size_t size, const double *v, int n)
{
    size_t used = 0;

    out[0] = '\0';
    for (int i = 0; i < n && used < size; i++) {
        int w = snprintf(out + used, size - used, "%s%.3f", i ? " " : "", v[i]);

        if (w < 0)
            break;
        used += (size_t)w;
    }
}

typedef struct results {
    uint64_t files, bytes;
    int runs;
    double floor_s[MAX_RUNS], import_s[MAX_RUNS], rescan_s[MAX_RUNS];
    int import_runs, rescan_runs;
    double copy_s;              /* < 0: not run */
} results;

static void print_table(const results *r, const char *machine, const char *tree)
{
    double floor_b = best_of(r->floor_s, r->runs);
    double import_b = r->import_runs ? best_of(r->import_s, r->import_runs) : -1.0;
    double rescan_b = r->rescan_runs ? best_of(r->rescan_s, r->rescan_runs) : -1.0;
    double mbytes = (double)r->bytes / MB;
    char runs[128];

    printf("\nshelf import benchmark (shelf %s)\n", shelf_version());
    printf("  tree     %s\n", tree);
    printf("  files    %" PRIu64 " WAV, %.1f MB (MB = 10^6 bytes)\n", r->files, mbytes);
    printf("  machine  %s\n\n", machine);
    printf("  %-22s %9s  %-24s %10s %9s %8s\n", "phase", "best s", "runs s", "files/s",
           "MB/s", "x floor");

    fmt_runs(runs, sizeof runs, r->floor_s, r->runs);
    printf("  %-22s %9.3f  %-24s %10.0f %9.1f %8.2f\n", "floor (SHA-256, 1 pr.)", floor_b,
           runs, (double)r->files / floor_b, mbytes / floor_b, 1.0);

    if (import_b > 0) {
        double ratio = import_b / floor_b;

        fmt_runs(runs, sizeof runs, r->import_s, r->import_runs);
        printf("  %-22s %9.3f  %-24s %10.0f %9.1f %8.2f   aim: within %.1fx of the floor: %s\n",
               "full import", import_b, runs, (double)r->files / import_b, mbytes / import_b,
               ratio, AIM_RATIO, ratio <= AIM_RATIO ? "met" : "NOT met");
    }
    if (rescan_b > 0) {
        double scaled = rescan_b * AIM_RESCAN_FILES / (double)r->files;

        fmt_runs(runs, sizeof runs, r->rescan_s, r->rescan_runs);
        printf("  %-22s %9.3f  %-24s %10.0f %9s %8.2f   aim: unchanged rescan of 20,000 files"
               " under 1 s: %s", "unchanged rescan", rescan_b, runs,
               (double)r->files / rescan_b, "-", rescan_b / floor_b,
               scaled < AIM_RESCAN_SECONDS ? "met" : "NOT met");
        if ((double)r->files != AIM_RESCAN_FILES)
            printf(" (scaled to 20,000: %.3f s)", scaled);
        printf("\n");
    }
    if (r->copy_s > 0) {
        printf("  %-22s %9.3f  %-24s %10.0f %9.1f %8.2f   informational: fsyncs every blob\n",
               "copy import (--copy)", r->copy_s, "1 run", (double)r->files / r->copy_s,
               mbytes / r->copy_s, r->copy_s / floor_b);
    }
    printf("\n");
}

static void print_markdown(const results *r, const char *machine)
{
    double floor_b = best_of(r->floor_s, r->runs);
    double import_b = r->import_runs ? best_of(r->import_s, r->import_runs) : -1.0;
    double rescan_b = r->rescan_runs ? best_of(r->rescan_s, r->rescan_runs) : -1.0;
    double mbytes = (double)r->bytes / MB;
    char date[32] = "?", copy[32] = "-";
    time_t t = time(NULL);
    struct tm tm;

    if (gmtime_r(&t, &tm))
        strftime(date, sizeof date, "%Y-%m-%d %H:%M", &tm);
    if (r->copy_s > 0)
        snprintf(copy, sizeof copy, "%.2f (%.1fx)", r->copy_s, r->copy_s / floor_b);

    printf("<!-- bench_import --markdown, shelf %s; best of %d run%s; MB = 10^6 bytes -->\n",
           shelf_version(), r->runs, r->runs == 1 ? "" : "s");
    printf("| Date (UTC) | Machine | Files | MB | Floor s | Import s | Ratio | Files/s | MB/s"
           " | Rescan s | Copy import s |\n");
    printf("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
    printf("| %s | %s | %" PRIu64 " | %.1f | %.3f | ", date, machine, r->files, mbytes, floor_b);
    if (import_b > 0)
        printf("%.3f | %.2f | %.0f | %.1f | ", import_b, import_b / floor_b,
               (double)r->files / import_b, mbytes / import_b);
    else
        printf("- | - | - | - | ");
    if (rescan_b > 0)
        printf("%.3f | %s |\n", rescan_b, copy);
    else
        printf("- | %s |\n", copy);
    printf("\n");
    if (import_b > 0)
        printf("- Aim: full import within %.1fx of the hashing floor: %.2fx, %s.\n", AIM_RATIO,
               import_b / floor_b, import_b / floor_b <= AIM_RATIO ? "met" : "not met");
    if (rescan_b > 0) {
        double scaled = rescan_b * AIM_RESCAN_FILES / (double)r->files;

        printf("- Aim: unchanged rescan of 20,000 files under 1 s: %.3f s", rescan_b);
        if ((double)r->files != AIM_RESCAN_FILES)
            printf(" for %" PRIu64 " files (%.3f s scaled to 20,000)", r->files, scaled);
        printf(", %s.\n", scaled < AIM_RESCAN_SECONDS ? "met" : "not met");
    }
    if (r->copy_s > 0)
        printf("- Copy import (SHELF_IMPORT_COPY, one run, fsync per blob) is informational.\n");
}

/* ------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    bench_opts o;
    results res;
    floor_ctx fc;
    import_run run;
    char work[PATH_MAX], tree[PATH_MAX], libs[PATH_MAX], libdir[PATH_MAX];
    char machine[512], name[64];
    int made_work = 0, failed = 0, status = 1, k;

    bench_name = "bench_import";
    memset(&res, 0, sizeof res);
    memset(&fc, 0, sizeof fc);
    res.copy_s = -1.0;
    if ((k = parse_args(argc, argv, &o)) != 0)
        return k > 0 ? 0 : 2;
    res.files = o.files;
    res.runs = o.runs;

    /* The work folder: given, or fresh under /tmp. */
    if (o.dir) {
        if (bench_mkdir_p(o.dir) != 0)
            return 1;
        if (!realpath(o.dir, work)) {
            fprintf(stderr, "bench_import: cannot resolve '%s': %s\n", o.dir, strerror(errno));
            return 1;
        }
    } else {
        snprintf(work, sizeof work, "/tmp/shelf-bench-XXXXXX");
        if (!mkdtemp(work)) {
            fprintf(stderr, "bench_import: cannot create a folder in /tmp: %s\n",
                    strerror(errno));
            return 1;
        }
        made_work = 1;
    }
    /* Named by N, so a smaller run never walks a bigger run's extra files. */
    snprintf(name, sizeof name, "samples-%" PRIu64, o.files);
    if (bench_join_path(tree, sizeof tree, work, name) != 0 ||
        bench_join_path(libs, sizeof libs, work, "bench-libs") != 0)
        goto out;
    bench_rm_rf(libs);
    if (bench_mkdir_p(tree) != 0 || bench_mkdir_p(libs) != 0)
        goto out;

    /* 1. The sample tree. */
    fprintf(stderr, "bench_import: %" PRIu64 " files in %s\n", o.files, tree);
    if (generate_tree(tree, o.files, &res.bytes) != 0)
        goto out;
    bench_machine_desc(tree, machine, sizeof machine);

    /* 2. The floor: once to warm the page cache, then timed. */
    fc.md = EVP_MD_CTX_new();
    fc.sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    fc.buf = malloc(CHUNK_BYTES);
    if (!fc.md || !fc.sha256 || !fc.buf) {
        fprintf(stderr, "bench_import: cannot set up SHA-256\n");
        goto out;
    }
    if (floor_run(&fc, tree) < 0)
        goto out;
    if (fc.files != o.files || fc.bytes != res.bytes) {
        printf("FAIL floor: walked %" PRIu64 " files, %" PRIu64 " bytes; expected %" PRIu64
               " files, %" PRIu64 " bytes\n", fc.files, fc.bytes, o.files, res.bytes);
        goto out;
    }
    for (k = 0; k < o.runs; k++) {
        if ((res.floor_s[k] = floor_run(&fc, tree)) < 0)
            goto out;
        fprintf(stderr, "  floor run %d: %.3f s\n", k + 1, res.floor_s[k]);
    }

    /* 3. Full imports, each into a fresh library. */
    for (k = 0; k < o.runs; k++) {
        snprintf(name, sizeof name, "import-%d", k + 1);
        if (bench_join_path(libdir, sizeof libdir, libs, name) != 0)
            goto out;
        bench_rm_rf(libdir);
        if (run_import(libdir, SHELF_OPEN_CREATE, tree, 0, "import", &run) != SHELF_OK) {
            print_run("import", k + 1, &run);
            failed = 1;
            break;
        }
        print_run("import", k + 1, &run);
        if (check_full_import("import", &run, o.files) != 0)
            failed = 1;
        res.import_s[res.import_runs++] = run.import_s;
        /* Keep the last one for the rescan. */
        if (k + 1 < o.runs && !o.keep)
            bench_rm_rf(libdir);
    }

    /* 4. Unchanged rescans of the last library. */
    for (k = 0; res.import_runs > 0 && k < o.runs; k++) {
        if (run_import(libdir, 0, tree, 0, "rescan", &run) != SHELF_OK) {
            print_run("rescan", k + 1, &run);
            failed = 1;
            break;
        }
        print_run("rescan", k + 1, &run);
        if (run.stats.unchanged != o.files || run.stats.failed != 0) {
            printf("FAIL rescan run %d: expected unchanged == %" PRIu64 ", got unchanged %"
                   PRIu64 " (imported %" PRIu64 ", updated %" PRIu64 ", moved %" PRIu64
                   ", missing %" PRIu64 ", failed %" PRIu64 ")\n", k + 1, o.files,
                   run.stats.unchanged, run.stats.imported, run.stats.updated,
                   run.stats.moved, run.stats.missing, run.stats.failed);
            failed = 1;
        }
        res.rescan_s[res.rescan_runs++] = run.import_s;
    }

    /* 5. One copying import into a fresh library (informational). */
    if (o.copy) {
        if (bench_join_path(libdir, sizeof libdir, libs, "copy") != 0)
            goto out;
        bench_rm_rf(libdir);
        if (run_import(libdir, SHELF_OPEN_CREATE, tree, SHELF_IMPORT_COPY, "copy import",
                       &run) == SHELF_OK) {
            print_run("copy import", 1, &run);
            if (check_full_import("copy import", &run, o.files) != 0)
                failed = 1;
            res.copy_s = run.import_s;
        } else {
            print_run("copy import", 1, &run);
            failed = 1;
        }
        if (!o.keep)
            bench_rm_rf(libdir);
    }

    /* 6. The report. */
    print_table(&res, machine, tree);
    if (o.markdown)
        print_markdown(&res, machine);
    status = failed ? 1 : 0;
    if (failed)
        printf("FAIL: see the lines above\n");
out:
    EVP_MD_free(fc.sha256);
    EVP_MD_CTX_free(fc.md);
    free(fc.buf);
    if (o.keep)
        fprintf(stderr, "bench_import: kept %s\n", work);
    else if (made_work)
        bench_rm_rf(work);
    else
        bench_rm_rf(libs);
    return status;
}
