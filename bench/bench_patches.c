/*
 * bench_patches.c: the benchmark of patch documents and their versions (a
 * program, not a test; ctest never runs it).  Through the public API in a
 * scratch library it measures (1) version storage: a ~20 kB patch shaped
 * like a ZynAddSubFX instrument (groups of about 20 parameters, zones),
 * then single-parameter edits with shelf_doc_set, and the bytes on disk per
 * version (growth of shelf.db + WAL after a checkpoint) beside the naive
 * baseline of a whole canonical copy per version, as text and as zstd level
 * 3; (2) the latency of shelf_doc_history on that patch, of
 * shelf_doc_diff_versions between random versions and of shelf_doc_get of a
 * random version; (3) import throughput of shelf_patch_import over the patch
 * files Debian ships (zynaddsubfx-data .xiz, lmms-common .xpf, hydrogen
 * drumkit.xml), skipped with a note when absent.  --markdown prints a block
 * for doc/benchmarks.md.  It owns its scratch folder, removed unless --keep.
 */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>
#include <zstd.h>

#include "shelf/shelf.h"
#include "bench_util.h"

#define DEFAULT_EDITS 1000u
#define DEFAULT_RUNS 100u
#define TARGET_BYTES 20000u

typedef struct opts {
    uint64_t edits, runs;
    const char *dir;
    int markdown, keep, no_import;
} opts;

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* Percentile p (0..100) of v[0..n), sorted in place. */
static double pct(double *v, size_t n, double p)
{
    size_t i;

    qsort(v, n, sizeof *v, cmp_double);
    i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

/* ---- a growable string ------------------------------------------------------- */

typedef struct sbuf {
    char *p;
    size_t len, cap;
} sbuf;

__attribute__((format(printf, 2, 3)))
static void sb_addf(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            fprintf(stderr, "%s: formatting failed\n", bench_name);
            exit(1);
        }
        if (b->p && (size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        b->cap = (b->cap ? b->cap * 2 : 4096) + (size_t)n;
        if (!(b->p = realloc(b->p, b->cap))) {
            fprintf(stderr, "%s: out of memory\n", bench_name);
            exit(1);
        }
    }
}

/* ---- the patch ------------------------------------------------------------------ */

/* Parameter names of one group, after ZynAddSubFX's ADnote/SUBnote/PADnote
 * parameters (20 each). */
static const char *const group_names[] = {
    "global", "amp_env", "amp_lfo", "filter", "filter_env", "filter_lfo", "freq_env", "freq_lfo",
    "voice01", "voice02", "voice03", "voice04", "voice05", "voice06", "voice07", "voice08",
    "voice01_mod", "voice02_mod", "voice03_mod", "voice04_mod", "subnote", "padnote",
    "reverb", "echo", "chorus", "eq", "distortion", "phaser",
};
static const char *const param_names[] = {
    "volume", "panning", "velocity_sense", "detune", "coarse_detune", "octave", "fine_detune",
    "attack", "decay", "sustain", "release", "stretch", "cutoff", "resonance", "gain",
    "frequency", "depth", "delay", "start_phase", "randomness",
};
#define NGROUPS (sizeof group_names / sizeof group_names[0])
#define NPARAMS (sizeof param_names / sizeof param_names[0])
#define MAX_GROUPS (2 * NGROUPS)

/* The name of group g: the names above, then again with a suffix (a second
 * part, as a multi-part instrument has). */
static void group_name(size_t g, char *out, size_t size)
{
    snprintf(out, size, "%s%s", group_names[g % NGROUPS], g >= NGROUPS ? "_part2" : "");
}

/*
 * The patch as JSON with groups of 20 parameters (numbers, with units in
 * "types" for some, a few booleans and enums), 16 zones; groups are added
 * until the canonical text reaches TARGET_BYTES.  *ngroups receives how
 * many groups, *canonical_bytes the canonical size.
 */
static char *make_patch(size_t *ngroups, size_t *canonical_bytes)
{
    sbuf b = { NULL, 0, 0 };
    size_t g, p, ng;
    char gname[64];

    for (ng = 1; ng <= MAX_GROUPS; ng++) {
        uint64_t r = 1;
        char *c = NULL;

        free(b.p);
        memset(&b, 0, sizeof b);
        sb_addf(&b, "{\"shelf_patch\":1,\"name\":\"Bench Pad\",\"author\":\"bench_patches\","
                    "\"category\":\"Pad\",\"tags\":[\"pad\",\"warm\",\"zyn\"],\"rating\":3,"
                    "\"source\":{\"format\":\"zyn\",\"file\":\"Bench Pad.xiz\"},\"params\":{");
        for (g = 0; g < ng; g++) {
            group_name(g, gname, sizeof gname);
            sb_addf(&b, "%s\"%s\":{", g ? "," : "", gname);
            for (p = 0; p < NPARAMS; p++) {
                r = bench_mix64(r);
                sb_addf(&b, "%s\"%s\":%.4f", p ? "," : "", param_names[p],
                        (double)(r % 100000) / 1000.0 - 20.0);
                if (p == 0 && g % 4 == 0)
                    sb_addf(&b, ",\"enabled\":%s", r & 1 ? "true" : "false");
                if (p == 1 && g % 5 == 1)
                    sb_addf(&b, ",\"shape\":\"%s\"", r & 1 ? "sine" : "saw");
            }
            sb_addf(&b, "}");
        }
        sb_addf(&b, "},\"types\":{");
        for (g = 0; g < ng; g++) {
            group_name(g, gname, sizeof gname);
            sb_addf(&b, "%s\"params/%s/volume\":{\"type\":\"number\",\"unit\":\"dB\","
                        "\"min\":-100,\"max\":100}", g ? "," : "", gname);
        }
        sb_addf(&b, "},\"zones\":{");
        for (g = 0; g < 16; g++)
            sb_addf(&b, "%s\"z%04zu\":{\"sample\":{\"path\":\"samples/pad_%02zu.wav\"},"
                        "\"key\":[%zu,%zu],\"root\":%zu,\"vel\":[0,127]}", g ? "," : "", g + 1, g,
                    g * 8, g * 8 + 7, g * 8 + 4);
        sb_addf(&b, "}}");
        if (shelf_doc_canonical(b.p, b.len, SHELF_DOC_PATCH, &c, NULL, NULL) != SHELF_OK) {
            fprintf(stderr, "%s: the generated patch is not valid\n", bench_name);
            exit(1);
        }
        *canonical_bytes = strlen(c);
        shelf_free(c);
        if (*canonical_bytes >= TARGET_BYTES)
            break;
    }
    *ngroups = ng > MAX_GROUPS ? MAX_GROUPS : ng;
    return b.p;
}

/* ---- the database's size --------------------------------------------------------- */

static int64_t file_size(const char *dir, const char *name)
{
    char p[PATH_MAX];
    struct stat sb;

    if (bench_join_path(p, sizeof p, dir, name) != 0 || stat(p, &sb) != 0)
        return 0;
    return (int64_t)sb.st_size;
}

/* Checkpoint the WAL into shelf.db (a separate connection) and return the
 * bytes of shelf.db + shelf.db-wal; -1 on failure. */
static int64_t db_bytes(const char *libdir)
{
    char p[PATH_MAX];
    sqlite3 *db = NULL;
    char *err = NULL;

    if (bench_join_path(p, sizeof p, libdir, "shelf.db") != 0)
        return -1;
    if (sqlite3_open_v2(p, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
        sqlite3_busy_timeout(db, 10000) != SQLITE_OK ||
        sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "%s: cannot checkpoint '%s': %s\n", bench_name, p,
                err ? err : sqlite3_errmsg(db));
        sqlite3_free(err);
        sqlite3_close(db);
        return -1;
    }
    sqlite3_close(db);
    return file_size(libdir, "shelf.db") + file_size(libdir, "shelf.db-wal");
}

/* sum(length(data)) of the patch's versions: what the rows hold. */
static int64_t rows_bytes(const char *libdir)
{
    char p[PATH_MAX];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int64_t v = -1;

    if (bench_join_path(p, sizeof p, libdir, "shelf.db") != 0)
        return -1;
    if (sqlite3_open_v2(p, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, "SELECT sum(length(data)) FROM doc_versions", -1, &st, NULL) ==
            SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* ---- storage and latency ------------------------------------------------------------ */

typedef struct results {
    size_t doc_bytes, groups, params;
    uint64_t edits;
    double edit_s;
    int64_t disk_growth, rows;
    double naive_text, naive_zstd;      /* bytes, summed over the edited versions */
    double hist_p50, hist_p99, diff_p50, diff_p99, get_p50, get_p99;
    uint64_t runs;
} results;

static int count_version(void *ud, const shelf_docversion *v)
{
    (*(size_t *)ud)++;
    (void)v;
    return 0;
}

static int bench_versions(const opts *o, const char *libdir, results *res)
{
    shelf_library *lib = NULL;
    char *doc = NULL, *msg = NULL, *head = NULL;
    double *lat = NULL, t0;
    int64_t id = 0, seq = 0, before, after;
    uint64_t i, r = 7;
    int rc, ret = -1;
    size_t zcap = 0;
    void *zbuf = NULL;

    if ((rc = shelf_library_open(libdir, SHELF_OPEN_CREATE, &lib, &msg)) != SHELF_OK) {
        fprintf(stderr, "%s: cannot open '%s': %s\n", bench_name, libdir, msg ? msg : "");
        shelf_free(msg);
        return -1;
    }
    doc = make_patch(&res->groups, &res->doc_bytes);
    res->params = res->groups * NPARAMS;
    if ((rc = shelf_doc_create(lib, SHELF_DOC_PATCH, doc, NULL, &id)) != SHELF_OK ||
        (rc = shelf_doc_get(lib, SHELF_DOC_PATCH, id, 0, &head)) != SHELF_OK) {
        fprintf(stderr, "%s: cannot create the patch: %s\n", bench_name, shelf_errmsg(lib));
        goto out;
    }
    res->doc_bytes = strlen(head);
    shelf_free(head);
    head = NULL;
    if ((before = db_bytes(libdir)) < 0)
        goto out;
    zcap = ZSTD_compressBound(res->doc_bytes * 2);
    if (!(zbuf = malloc(zcap)) || !(lat = calloc(o->runs > o->edits ? o->runs : o->edits,
                                                   sizeof *lat))) {
        fprintf(stderr, "%s: out of memory\n", bench_name);
        goto out;
    }
    /* Single-parameter edits; each makes a version. */
    t0 = now_s();
    for (i = 0; i < o->edits; i++) {
        char path[160], value[32], gname[64];
        size_t z, len;

        r = bench_mix64(r);
        group_name(r % res->groups, gname, sizeof gname);
        snprintf(path, sizeof path, "params/%s/%s", gname, param_names[(r >> 8) % NPARAMS]);
        snprintf(value, sizeof value, "%.4f", (double)((r >> 16) % 100000) / 1000.0 - 20.0 +
                                              (double)(i % 7) * 1e-4);
        rc = shelf_doc_set(lib, SHELF_DOC_PATCH, id, path, value, NULL, &seq);
        if (rc == SHELF_DONE) {
            i--;
            continue;
        }
        if (rc != SHELF_OK) {
            fprintf(stderr, "%s: set %s=%s: %s\n", bench_name, path, value, shelf_errmsg(lib));
            goto out;
        }
        /* The baseline: the whole canonical document, as text and zstd -3. */
        if ((rc = shelf_doc_get(lib, SHELF_DOC_PATCH, id, 0, &head)) != SHELF_OK) {
            fprintf(stderr, "%s: get: %s\n", bench_name, shelf_errmsg(lib));
            goto out;
        }
        len = strlen(head);
        z = ZSTD_compress(zbuf, zcap, head, len, 3);
        if (ZSTD_isError(z)) {
            fprintf(stderr, "%s: zstd: %s\n", bench_name, ZSTD_getErrorName(z));
            goto out;
        }
        res->naive_text += (double)len;
        res->naive_zstd += (double)z;
        shelf_free(head);
        head = NULL;
    }
    res->edit_s = now_s() - t0;
    res->edits = o->edits;
    if ((after = db_bytes(libdir)) < 0)
        goto out;
    res->disk_growth = after - before;
    res->rows = rows_bytes(libdir);

    /* History of the whole patch. */
    res->runs = o->runs;
    for (i = 0; i < o->runs; i++) {
        size_t n = 0;

        t0 = now_s();
        rc = shelf_doc_history(lib, SHELF_DOC_PATCH, id, count_version, &n);
        lat[i] = (now_s() - t0) * 1e3;
        if (rc != SHELF_OK || n != o->edits + 1) {
            fprintf(stderr, "%s: history: %s (%zu versions)\n", bench_name, shelf_errmsg(lib), n);
            goto out;
        }
    }
    res->hist_p50 = pct(lat, o->runs, 50);
    res->hist_p99 = pct(lat, o->runs, 99);
    /* Diffs of random pairs of versions. */
    for (i = 0; i < o->runs; i++) {
        char *d = NULL;
        int64_t a, b;

        r = bench_mix64(r);
        a = 1 + (int64_t)(r % (o->edits + 1));
        b = 1 + (int64_t)((r >> 20) % (o->edits + 1));
        t0 = now_s();
        rc = shelf_doc_diff_versions(lib, SHELF_DOC_PATCH, id, a, b, &d);
        lat[i] = (now_s() - t0) * 1e3;
        shelf_free(d);
        if (rc != SHELF_OK) {
            fprintf(stderr, "%s: diff %lld %lld: %s\n", bench_name, (long long)a, (long long)b,
                    shelf_errmsg(lib));
            goto out;
        }
    }
    res->diff_p50 = pct(lat, o->runs, 50);
    res->diff_p99 = pct(lat, o->runs, 99);
    /* A random version. */
    for (i = 0; i < o->runs; i++) {
        int64_t a;

        r = bench_mix64(r);
        a = 1 + (int64_t)(r % (o->edits + 1));
        t0 = now_s();
        rc = shelf_doc_get(lib, SHELF_DOC_PATCH, id, a, &head);
        lat[i] = (now_s() - t0) * 1e3;
        shelf_free(head);
        head = NULL;
        if (rc != SHELF_OK) {
            fprintf(stderr, "%s: get %lld: %s\n", bench_name, (long long)a, shelf_errmsg(lib));
            goto out;
        }
    }
    res->get_p50 = pct(lat, o->runs, 50);
    res->get_p99 = pct(lat, o->runs, 99);
    ret = 0;
out:
    free(lat);
    free(zbuf);
    free(doc);
    shelf_free(head);
    shelf_library_close(lib);
    return ret;
}

/* ---- import throughput ---------------------------------------------------------------- */

typedef struct fileset {
    char **v;
    size_t n, cap;
    int (*want)(const char *path);
} fileset;

static fileset *walk_set;

static int want_xiz(const char *p)
{
    size_t n = strlen(p);

    return n > 4 && !strcmp(p + n - 4, ".xiz");
}

static int want_xpf(const char *p)
{
    size_t n = strlen(p);

    return n > 4 && !strcmp(p + n - 4, ".xpf");
}

static int want_drumkit(const char *p)
{
    const char *s = strrchr(p, '/');

    return s && !strcmp(s + 1, "drumkit.xml");
}

static int on_walk(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    if (flag != FTW_F || !walk_set->want(path))
        return 0;
    if (walk_set->n == walk_set->cap) {
        walk_set->cap = walk_set->cap ? walk_set->cap * 2 : 256;
        if (!(walk_set->v = realloc(walk_set->v, walk_set->cap * sizeof *walk_set->v)))
            return -1;
    }
    if (!(walk_set->v[walk_set->n] = strdup(path)))
        return -1;
    walk_set->n++;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

typedef struct imp {
    const char *format, *root;
    int (*want)(const char *);
    int fmt;
    size_t files, ok, failed;
    double seconds;
    int skipped;
    char first_error[256];
} imp;

/* The library folder of one format's import; 0, or -1 when too long. */
static int import_dir(char *out, size_t size, const char *scratch, const char *format)
{
    int n = snprintf(out, size, "%s/import-%s", scratch, format);

    if (n < 0 || (size_t)n >= size) {
        fprintf(stderr, "%s: path too long: '%s'\n", bench_name, scratch);
        return -1;
    }
    return 0;
}

static void bench_import(const char *scratch, imp *im)
{
    fileset fs = { NULL, 0, 0, im->want };
    shelf_library *lib = NULL;
    char libdir[PATH_MAX], *msg = NULL;
    struct stat sb;
    double t0;
    size_t i;

    if (stat(im->root, &sb) != 0) {
        im->skipped = 1;
        return;
    }
    walk_set = &fs;
    if (nftw(im->root, on_walk, 32, FTW_PHYS) != 0 || fs.n == 0) {
        im->skipped = 1;
        goto out;
    }
    qsort(fs.v, fs.n, sizeof *fs.v, cmp_str);
    im->files = fs.n;
    if (import_dir(libdir, sizeof libdir, scratch, im->format) != 0) {
        im->skipped = 1;
        goto out;
    }
    if (shelf_library_open(libdir, SHELF_OPEN_CREATE, &lib, &msg) != SHELF_OK) {
        fprintf(stderr, "%s: cannot open '%s': %s\n", bench_name, libdir, msg ? msg : "");
        shelf_free(msg);
        im->skipped = 1;
        goto out;
    }
    t0 = now_s();
    for (i = 0; i < fs.n; i++) {
        int64_t id = 0;
        int rc = shelf_patch_import(lib, fs.v[i], im->fmt, SHELF_PIMPORT_ALLOW_MISSING, &id);

        if (rc == SHELF_OK || rc == SHELF_DONE) {   /* DONE: a file Debian ships twice */
            im->ok++;
        } else {
            if (!im->failed)
                snprintf(im->first_error, sizeof im->first_error, "%s", shelf_errmsg(lib));
            im->failed++;
        }
    }
    im->seconds = now_s() - t0;
    shelf_library_close(lib);
out:
    for (i = 0; i < fs.n; i++)
        free(fs.v[i]);
    free(fs.v);
}

/* ---- main ------------------------------------------------------------------------------ */

static void usage(void)
{
    fprintf(stderr,
            "usage: bench_patches [--edits N] [--runs N] [--dir DIR] [--keep] [--no-import]"
            " [--markdown]\n");
}

int main(int argc, char **argv)
{
    opts o = { DEFAULT_EDITS, DEFAULT_RUNS, NULL, 0, 0, 0 };
    imp imps[] = {
        { "xiz", "/usr/share/zynaddsubfx/banks", want_xiz, SHELF_PATCHFMT_ZYN, 0, 0, 0, 0, 0, "" },
        { "xpf", "/usr/share/lmms/presets", want_xpf, SHELF_PATCHFMT_LMMS, 0, 0, 0, 0, 0, "" },
        { "drumkit.xml", "/usr/share/hydrogen/data/drumkits", want_drumkit, SHELF_PATCHFMT_HYDROGEN,
          0, 0, 0, 0, 0, "" },
    };
    char scratch[PATH_MAX], libdir[PATH_MAX], machine[256], date[32];
    results res;
    time_t tt = time(NULL);
    struct tm tm;
    size_t k;
    int i;

    bench_name = "bench_patches";
    memset(&res, 0, sizeof res);
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--edits") && i + 1 < argc) {
            if (bench_parse_u64(argv[++i], 1, 1000000, &o.edits) != 0)
                return 2;
        } else if (!strcmp(argv[i], "--runs") && i + 1 < argc) {
            if (bench_parse_u64(argv[++i], 1, 1000000, &o.runs) != 0)
                return 2;
        } else if (!strcmp(argv[i], "--dir") && i + 1 < argc) {
            o.dir = argv[++i];
        } else if (!strcmp(argv[i], "--keep")) {
            o.keep = 1;
        } else if (!strcmp(argv[i], "--no-import")) {
            o.no_import = 1;
        } else if (!strcmp(argv[i], "--markdown")) {
            o.markdown = 1;
        } else {
            usage();
            return 2;
        }
    }
    if (o.dir) {
        snprintf(scratch, sizeof scratch, "%s", o.dir);
        if (bench_mkdir_p(scratch) != 0)
            return 1;
    } else {
        snprintf(scratch, sizeof scratch, "/tmp/bench_patches-XXXXXX");
        if (!mkdtemp(scratch)) {
            fprintf(stderr, "%s: cannot create a scratch folder: %s\n", bench_name, strerror(errno));
            return 1;
        }
    }
    if (bench_join_path(libdir, sizeof libdir, scratch, "versions") != 0)
        return 1;
    bench_rm_rf(libdir);
    bench_machine_desc(scratch, machine, sizeof machine);
    gmtime_r(&tt, &tm);
    strftime(date, sizeof date, "%Y-%m-%d %H:%M", &tm);

    if (bench_versions(&o, libdir, &res) != 0) {
        if (!o.keep)
            bench_rm_rf(scratch);
        return 1;
    }
    if (!o.no_import)
        for (k = 0; k < sizeof imps / sizeof imps[0]; k++) {
            char dir[PATH_MAX];

            if (import_dir(dir, sizeof dir, scratch, imps[k].format) != 0)
                return 1;
            bench_rm_rf(dir);
            bench_import(scratch, &imps[k]);
        }

    printf("machine: %s\n", machine);
    printf("patch: %zu bytes canonical, %zu groups, %zu parameters, 16 zones\n", res.doc_bytes,
           res.groups, res.params);
    printf("%" PRIu64 " single-parameter edits with shelf_doc_set: %.2f s (%.2f ms each,"
           " plus a shelf_doc_get for the baseline)\n", res.edits, res.edit_s,
           res.edit_s * 1e3 / (double)res.edits);
    printf("bytes per version: on disk %.0f (shelf.db + WAL after a checkpoint), in rows %.0f;"
           " naive whole copies: text %.0f, zstd -3 %.0f\n",
           (double)res.disk_growth / (double)res.edits, (double)res.rows / (double)(res.edits + 1),
           res.naive_text / (double)res.edits, res.naive_zstd / (double)res.edits);
    printf("naive / shelf on disk: text %.1fx, zstd %.1fx\n",
           res.naive_text / (double)res.disk_growth, res.naive_zstd / (double)res.disk_growth);
    printf("latency over %" PRIu64 " runs (ms): history p50 %.3f p99 %.3f; diff of random"
           " versions p50 %.3f p99 %.3f; get of a random version p50 %.3f p99 %.3f\n",
           res.runs, res.hist_p50, res.hist_p99, res.diff_p50, res.diff_p99, res.get_p50,
           res.get_p99);
    for (k = 0; k < sizeof imps / sizeof imps[0]; k++) {
        imp *im = &imps[k];

        if (o.no_import || im->skipped)
            printf("import %s: skipped (%s)\n", im->format,
                   o.no_import ? "--no-import" : "no files under that folder");
        else
            printf("import %s: %zu files, %zu imported, %zu failed in %.2f s: %.1f patches/s%s%s\n",
                   im->format, im->files, im->ok, im->failed, im->seconds,
                   im->seconds > 0 ? (double)im->ok / im->seconds : 0.0,
                   im->failed ? "; first failure: " : "", im->failed ? im->first_error : "");
    }
    if (o.markdown) {
        printf("\n| Date (UTC) | Patch bytes | Versions | shelf B/version (disk) | naive text B/version"
               " | naive zstd B/version | x text | x zstd | history p50/p99 ms | diff p50/p99 ms |"
               " get p50/p99 ms |\n");
        printf("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
        printf("| %s | %zu | %" PRIu64 " | %.0f | %.0f | %.0f | %.1f | %.1f | %.2f / %.2f |"
               " %.2f / %.2f | %.2f / %.2f |\n",
               date, res.doc_bytes, res.edits + 1, (double)res.disk_growth / (double)res.edits,
               res.naive_text / (double)res.edits, res.naive_zstd / (double)res.edits,
               res.naive_text / (double)res.disk_growth, res.naive_zstd / (double)res.disk_growth,
               res.hist_p50, res.hist_p99, res.diff_p50, res.diff_p99, res.get_p50, res.get_p99);
        printf("\n| Format | Files | Imported | Failed | Seconds | Patches/s |\n");
        printf("|---|--:|--:|--:|--:|--:|\n");
        for (k = 0; k < sizeof imps / sizeof imps[0]; k++) {
            imp *im = &imps[k];

            if (o.no_import || im->skipped)
                printf("| %s | - | - | - | - | skipped |\n", im->format);
            else
                printf("| %s | %zu | %zu | %zu | %.2f | %.1f |\n", im->format, im->files, im->ok,
                       im->failed, im->seconds,
                       im->seconds > 0 ? (double)im->ok / im->seconds : 0.0);
        }
        printf("\nMachine: %s.\n", machine);
    }
    if (!o.keep)
        bench_rm_rf(scratch);
    else
        printf("kept %s\n", scratch);
    return 0;
}
