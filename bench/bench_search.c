/*
 * bench_search.c: the type-ahead search benchmark (a program, not a test;
 * ctest never runs it).  It generates a catalog of N synthetic samples
 * (default 1,000,000) with realistic names, folders, tags and typed fields,
 * straight into the library's shelf.db; then replays a fixed list of typed
 * queries, every prefix as typed, through shelf_search on one long-lived
 * library handle, and the same keystrokes the way other sample browsers
 * search (LIKE '%word%' over one joined text column, ordered by name) on a
 * second SQLite connection to the same file.  It reports latency
 * percentiles of both, their ratio, memory and catalog size, and with
 * --markdown a block for doc/benchmarks.md.
 *
 * It owns its work folder: DIR/library-N (the library, with a marker file
 * recording N so a later run with --dir reuses it) and nothing else.  The
 * generator runs in a child process, so the memory figures of the search
 * phases are the searching process's own.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "shelf/shelf.h"
#include "bench_util.h"
#include "words.h"

#define DEFAULT_ENTRIES 1000000u
#define MIN_ENTRIES 100u
#define MAX_ENTRIES 50000000u
#define MAX_ROOTS 300u
#define ENTRIES_PER_ROOT 100u       /* fewer roots for small catalogs */
#define BATCH 50000u                /* rows per generator transaction */
#define PROGRESS 100000u
#define PAGE 50                     /* first page, as a browser shows it */
#define GEN_VERSION 2               /* bump when the generator changes */
#define MARKER_NAME "bench-search.marker"
#define YEAR_S (365 * 86400)
#define DAY_S 86400
#define MAX_TERMS 16                /* LIKE terms per baseline query */
#define MAX_PATTERN 256
#define SLOWEST 10
#define MAX_EXAMPLES 5              /* parse errors shown */
#define MB 1e6                      /* MB here means 10^6 bytes */
#define READ_CHUNK (1u << 20)

/* The aims of the search issue (doc/benchmarks.md). */
#define AIM_P99_MS 5.0
#define AIM_ENTRIES 1000000u
#define AIM_RATIO 50.0

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Kinds beyond words.h's, for the breakdown: a one-character query. */
#define KIND_LETTER QK_COUNT
#define NKINDS (QK_COUNT + 1)

typedef struct bench_opts {
    uint64_t entries;
    const char *dir;            /* NULL: a fresh folder under /tmp */
    int keep;
    int markdown;
    int exact;                  /* also a pass with exact counts */
    int preload;                /* shelf_library_preload before the main pass */
    int sql;                    /* also a pass on the SQL engine (no preload) */
    int baseline;               /* run the LIKE baseline */
    unsigned baseline_every;    /* baseline on every k-th keystroke */
    const char *csv;            /* per-keystroke CSV, or NULL */
    int edits;                  /* 1: also edits and imports in place; 2: only those */
} bench_opts;

/* What generation produced; written to and read from the marker file. */
typedef struct gen_info {
    int64_t version, entries, roots, now;
    int64_t catalog_bytes;      /* shelf.db + WAL after a checkpoint, before bench_like */
    int64_t total_bytes;        /* the same with the baseline table */
    int64_t samples_bytes;      /* samples and its indexes */
    int64_t fts_bytes;          /* samples_fts and its shadow tables */
    int64_t meta_bytes;         /* tags, tag_items, ratings, favourites */
    int64_t like_bytes;         /* bench_like and its index */
    int64_t tagged, tag_items, rated, favourites, with_key, with_author, missing;
    int64_t gen_ms, like_ms, maxrss_kb;
    int reused;
} gen_info;

/* One keystroke: the query text so far and what each side made of it. */
typedef struct keystroke {
    char *text;
    int kind;                   /* QK_... or KIND_LETTER */
    int seq;                    /* index in bench_queries */
    double shelf_ms, exact_ms, sql_ms, like_ms;     /* < 0: not run */
    double facets_ms;           /* shelf_search_facets; < 0: not run */
    int shelf_rc;
    int64_t shelf_rows, shelf_total, exact_total, sql_total, like_rows, like_total;
    int shelf_exact;
} keystroke;

typedef struct stats {
    size_t n;
    double p50, p99, max, mean;
} stats;

typedef struct mem_snap {
    const char *label;
    long rss_kb, hwm_kb;
} mem_snap;

/* A LIKE term of the baseline: its pattern, bound as ?N in order. */
typedef struct like_term {
    char pat[MAX_PATTERN];
    int neg;
} like_term;

typedef struct like_query {
    like_term t[MAX_TERMS];
    int n;
} like_query;

/* ------------------------------------------------------------------ */
/* Small helpers                                                      */

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}


static uint64_t rng_next(uint64_t *s)
{
    *s = bench_mix64(*s);
    return *s;
}

static double rng_unit(uint64_t *s)
{
    return (double)(rng_next(s) >> 11) * 0x1.0p-53;
}

/* A number in 0..n-1; n > 0. */
static unsigned rng_below(uint64_t *s, unsigned n)
{
    unsigned v = (unsigned)(rng_unit(s) * n);

    return v < n ? v : n - 1;
}

static int chance(uint64_t *s, double p)
{
    return rng_unit(s) < p;
}





static int64_t file_size(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 ? (int64_t)st.st_size : 0;
}

/* shelf.db plus its WAL, in bytes. */
static int64_t catalog_size(const char *dbpath)
{
    char wal[PATH_MAX];
    int n = snprintf(wal, sizeof wal, "%s-wal", dbpath);

    return file_size(dbpath) + (n > 0 && (size_t)n < sizeof wal ? file_size(wal) : 0);
}

/* Read a file once, so the runs start with the page cache warm. */
static void warm_file(const char *path)
{
    char *buf = malloc(READ_CHUNK);
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (buf && fd >= 0)
        while (read(fd, buf, READ_CHUNK) > 0)
            ;
    if (fd >= 0)
        close(fd);
    free(buf);
}

/* VmRSS and VmHWM of this process, in kB (0 when unknown). */
static void read_mem(long *rss_kb, long *hwm_kb)
{
    char line[256];
    FILE *f = fopen("/proc/self/status", "r");

    *rss_kb = *hwm_kb = 0;
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmRSS:", 6) == 0)
            *rss_kb = strtol(line + 6, NULL, 10);
        else if (strncmp(line, "VmHWM:", 6) == 0)
            *hwm_kb = strtol(line + 6, NULL, 10);
    }
    fclose(f);
}

static void snap_mem(mem_snap *s, const char *label)
{
    s->label = label;
    read_mem(&s->rss_kb, &s->hwm_kb);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v[0..n), n > 0. */
static double pct(const double *v, size_t n, double p)
{
    size_t k = (size_t)ceil(p * (double)n);

    if (k < 1)
        k = 1;
    if (k > n)
        k = n;
    return v[k - 1];
}

/* Statistics of v[0..n) (sorted in place); all 0 when n == 0. */
static void stats_of(double *v, size_t n, stats *out)
{
    double sum = 0.0;

    memset(out, 0, sizeof *out);
    out->n = n;
    if (n == 0)
        return;
    qsort(v, n, sizeof *v, cmp_double);
    for (size_t i = 0; i < n; i++)
        sum += v[i];
    out->p50 = pct(v, n, 0.50);
    out->p99 = pct(v, n, 0.99);
    out->max = v[n - 1];
    out->mean = sum / (double)n;
}

/* ------------------------------------------------------------------ */
/* The machine                                                        */


/* ------------------------------------------------------------------ */
/* The marker file: what a generated library holds                    */

static const struct marker_field {
    const char *key;
    size_t off;
} marker_fields[] = {
    { "version", offsetof(gen_info, version) },
    { "entries", offsetof(gen_info, entries) },
    { "roots", offsetof(gen_info, roots) },
    { "now", offsetof(gen_info, now) },
    { "catalog_bytes", offsetof(gen_info, catalog_bytes) },
    { "total_bytes", offsetof(gen_info, total_bytes) },
    { "samples_bytes", offsetof(gen_info, samples_bytes) },
    { "fts_bytes", offsetof(gen_info, fts_bytes) },
    { "meta_bytes", offsetof(gen_info, meta_bytes) },
    { "like_bytes", offsetof(gen_info, like_bytes) },
    { "tagged", offsetof(gen_info, tagged) },
    { "tag_items", offsetof(gen_info, tag_items) },
    { "rated", offsetof(gen_info, rated) },
    { "favourites", offsetof(gen_info, favourites) },
    { "with_key", offsetof(gen_info, with_key) },
    { "with_author", offsetof(gen_info, with_author) },
    { "missing", offsetof(gen_info, missing) },
    { "gen_ms", offsetof(gen_info, gen_ms) },
    { "like_ms", offsetof(gen_info, like_ms) },
    { "maxrss_kb", offsetof(gen_info, maxrss_kb) },
};

static int64_t *marker_slot(gen_info *g, size_t i)
{
    return (int64_t *)(void *)((char *)g + marker_fields[i].off);
}

static int write_marker(const char *libdir, gen_info *g)
{
    char path[PATH_MAX], tmp[PATH_MAX];
    FILE *f;

    if (bench_join_path(path, sizeof path, libdir, MARKER_NAME) != 0 ||
        bench_join_path(tmp, sizeof tmp, libdir, MARKER_NAME ".tmp") != 0)
        return -1;
    if (!(f = fopen(tmp, "w"))) {
        fprintf(stderr, "bench_search: cannot write '%s': %s\n", tmp, strerror(errno));
        return -1;
    }
    fprintf(f, "# bench_search: the library in this folder was generated with these figures\n");
    for (size_t i = 0; i < ARRAY_LEN(marker_fields); i++)
        fprintf(f, "%s %" PRId64 "\n", marker_fields[i].key, *marker_slot(g, i));
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        fprintf(stderr, "bench_search: cannot write '%s': %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Returns 0 when libdir holds a finished library of the generator's version. */
static int read_marker(const char *libdir, gen_info *g)
{
    char path[PATH_MAX], line[256], *space, *end;
    long long v;
    FILE *f;

    memset(g, 0, sizeof *g);
    if (bench_join_path(path, sizeof path, libdir, MARKER_NAME) != 0 || !(f = fopen(path, "r")))
        return -1;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || !(space = strchr(line, ' ')))
            continue;
        *space = '\0';
        errno = 0;
        v = strtoll(space + 1, &end, 10);
        if (errno != 0 || end == space + 1 || (*end != '\n' && *end != '\0'))
            continue;
        for (size_t i = 0; i < ARRAY_LEN(marker_fields); i++)
            if (strcmp(line, marker_fields[i].key) == 0)
                *marker_slot(g, i) = (int64_t)v;
    }
    fclose(f);
    if (bench_join_path(path, sizeof path, libdir, "shelf.db") != 0 || file_size(path) == 0)
        return -1;
    return g->version == GEN_VERSION ? 0 : -1;
}

/* ------------------------------------------------------------------ */
/* The generator                                                      */

typedef struct gen_root {
    char path[160];             /* the pack's folder under the one root */
    char abbrev[16];            /* "VEH2" for "Vengeance Essential House Vol 2" */
    int genre;                  /* index in bench_genres, -1 for a mixed pack */
} gen_root;

/* One sample row before it is bound. */
typedef struct gen_sample {
    char name[160], relpath[480], sha[65];
    const char *format, *subtype, *ext, *category, *author, *genre;
    int rate, channels, bits, root_key, beats, is_loop, missing;
    int64_t frames, size, mtime_ns, created, last_used;
    double duration, tempo;
    int ntags, tags[3];
    int rating, fav;
    int64_t fav_added;
} gen_sample;

typedef struct gen_ctx {
    sqlite3 *db;
    sqlite3_stmt *ins_sample, *ins_tag, *ins_rating, *ins_fav;
    gen_root *roots;
    unsigned nroots;
    int instr_total;            /* sum of the weights */
    int64_t now;
    gen_info *info;
} gen_ctx;

static int db_fail(sqlite3 *db, const char *what)
{
    fprintf(stderr, "bench_search: %s: %s\n", what, sqlite3_errmsg(db));
    return -1;
}

static int db_exec(sqlite3 *db, const char *sql)
{
    char *err = NULL;

    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "bench_search: '%s': %s\n", sql, err ? err : sqlite3_errmsg(db));
        sqlite3_free(err);
        return -1;
    }
    return 0;
}

/* Root r: one pack folder.  7919 is prime to 16 x 20 x 4, so r -> j is one-to-one. */
static void make_root(unsigned r, gen_root *out)
{
    unsigned nv = ARRAY_LEN(bench_vendors), ns = ARRAY_LEN(bench_styles);
    unsigned j = (unsigned)(((uint64_t)r * 7919u) % (nv * ns * BENCH_VOLUMES));
    const char *vendor = bench_vendors[j / (ns * BENCH_VOLUMES)];
    unsigned style = (j / BENCH_VOLUMES) % ns;
    unsigned vol = j % BENCH_VOLUMES + 1;
    char words[128];
    size_t k = 0;

    snprintf(out->path, sizeof out->path, "%s %s Vol %u", vendor, bench_styles[style], vol);
    snprintf(words, sizeof words, "%s %s", vendor, bench_styles[style]);
    for (const char *p = words; *p && k + 2 < sizeof out->abbrev; p++)
        if (p == words || p[-1] == ' ')
            out->abbrev[k++] = *p >= 'a' && *p <= 'z' ? (char)(*p - 'a' + 'A') : *p;
    snprintf(out->abbrev + k, sizeof out->abbrev - k, "%u", vol);
    /* The first ten styles are one genre each, in bench_genres' order. */
    out->genre = style < ARRAY_LEN(bench_genres) ? (int)style : -1;
}

static unsigned pick_instrument(uint64_t *s, int total)
{
    int x = (int)rng_below(s, (unsigned)total);

    for (unsigned i = 0; i < ARRAY_LEN(bench_instruments); i++) {
        if (x < bench_instruments[i].weight)
            return i;
        x -= bench_instruments[i].weight;
    }
    return 0;
}

static void note_name(int key, char *out, size_t size)
{
    snprintf(out, size, "%s%d", bench_notes[key % 12], key / 12 - 1);
}

/*
 * Sample i of the catalog, the k-th of its instrument in its root.  Every
 * choice comes from a seed derived from i, so reruns generate the same rows.
 */
static void make_sample(const gen_ctx *g, uint64_t i, const gen_root *root, unsigned ins,
                        unsigned k, gen_sample *out)
{
    const bench_instr *in = &bench_instruments[ins];
    uint64_t s = bench_mix64(i ^ 0x5eac4b3c4b3c5eacu);
    unsigned nchar = ARRAY_LEN(bench_characters), c1 = rng_below(&s, nchar);
    const char *ch1 = bench_characters[c1];
    const char *ch2 = bench_characters[(c1 + 1 + rng_below(&s, nchar - 1)) % nchar];
    int genre = root->genre >= 0 && chance(&s, 0.7) ? root->genre
                : (int)rng_below(&s, ARRAY_LEN(bench_genres));
    const bench_genre *gn = &bench_genres[genre];
    unsigned tmpl = rng_below(&s, 5);
    double u = rng_unit(&s), fmt = rng_unit(&s), rate = rng_unit(&s);
    char note[8] = "";

    memset(out, 0, sizeof *out);
    out->category = in->word;
    out->is_loop = in->loop;
    out->root_key = -1;
    if (chance(&s, in->tonal ? 0.9 : 0.17)) {
        out->root_key = in->tonal ? 24 + (int)rng_below(&s, 48) : 36 + (int)rng_below(&s, 36);
        note_name(out->root_key, note, sizeof note);
    }

    if (fmt < 0.45) {
        out->format = "WAV", out->subtype = "PCM_16", out->ext = "wav", out->bits = 16;
    } else if (fmt < 0.75) {
        out->format = "WAV", out->subtype = "PCM_24", out->ext = "wav", out->bits = 24;
    } else if (fmt < 0.85) {
        out->format = "FLAC", out->subtype = "PCM_16", out->ext = "flac", out->bits = 16;
    } else if (fmt < 0.95) {
        out->format = "AIFF", out->subtype = "PCM_16", out->ext = "aif", out->bits = 16;
    } else {
        out->format = "OGG", out->subtype = "VORBIS", out->ext = "ogg", out->bits = 0;
    }
    out->rate = rate < 0.6 ? 44100 : rate < 0.95 ? 48000 : 96000;
    out->channels = in->drum ? (chance(&s, 0.6) ? 1 : 2) : (chance(&s, 0.8) ? 2 : 1);

    if (in->loop) {
        static const int beats[] = { 4, 8, 16, 32 };

        out->tempo = gn->bpm_lo + (int)rng_below(&s, (unsigned)(gn->bpm_hi - gn->bpm_lo + 1));
        out->beats = beats[rng_below(&s, ARRAY_LEN(beats))];
        out->duration = out->beats * 60.0 / out->tempo;
        out->genre = gn->display;
        if (tmpl < 2)
            snprintf(out->name, sizeof out->name, "%s %s %s %d BPM %02u", gn->display,
                     in->display, ch1, (int)out->tempo, k);
        else if (tmpl < 4)
            snprintf(out->name, sizeof out->name, "%s_%s_%s_%d_%02u", root->abbrev, gn->display,
                     in->display, (int)out->tempo, k);
        else
            snprintf(out->name, sizeof out->name, "%s %s %s %02u", ch1, gn->display,
                     in->display, k);
        snprintf(out->relpath, sizeof out->relpath, "%s/Loops/%d BPM/%s.%s", root->path,
                 (int)out->tempo, out->name, out->ext);
    } else {
        /* Skewed short: most one-shots last well under a second. */
        if (in->drum)
            out->duration = 0.05 + 4.95 * u * u * u * u;
        else if (in->tonal)
            out->duration = 0.2 + 29.8 * u * u * u * u;
        else
            out->duration = 0.3 + 29.7 * u * u * u;
        switch (tmpl) {
        case 0:
            snprintf(out->name, sizeof out->name, "%s %s %02u", ch1, in->display, k);
            break;
        case 1:
            snprintf(out->name, sizeof out->name, "%s %s %s %02u", ch1, ch2, in->display, k);
            break;
        case 2:
            if (note[0]) {
                snprintf(out->name, sizeof out->name, "%s %s %s %s %02u", ch1, in->display,
                         ch2, note, k);
                break;
            }
            /* fall through */
        case 3:
            snprintf(out->name, sizeof out->name, "%s %s %02u", gn->display, in->display, k);
            out->genre = gn->display;
            break;
        default:
            snprintf(out->name, sizeof out->name, "%s_%s_%s_%02u", root->abbrev, in->display,
                     ch1, k);
            break;
        }
        snprintf(out->relpath, sizeof out->relpath, "%s/One Shots/%s/%s.%s", root->path,
                 in->folder, out->name, out->ext);
    }
    out->frames = (int64_t)(out->duration * out->rate);
    out->size = out->bits ? 44 + out->frames * out->channels * (out->bits / 8)
                          : 4096 + out->frames * out->channels / 8;
    for (int w = 0; w < 4; w++)
        snprintf(out->sha + 16 * w, sizeof out->sha - (size_t)(16 * w), "%016" PRIx64,
                 rng_next(&s));
    out->created = g->now - (int64_t)(rng_unit(&s) * 2 * YEAR_S);
    out->mtime_ns = (out->created - (int64_t)(rng_unit(&s) * YEAR_S)) * 1000000000;
    out->last_used = 0;
    if (chance(&s, 0.3)) {
        out->last_used = g->now - (int64_t)(rng_unit(&s) * 30 * DAY_S);
        if (out->last_used < out->created)
            out->last_used = out->created;
    }
    out->missing = chance(&s, 0.01);
    out->author = chance(&s, 0.2) ? bench_authors[rng_below(&s, ARRAY_LEN(bench_authors))]
                                  : NULL;
    if (chance(&s, 0.3)) {
        out->ntags = 1 + (int)rng_below(&s, 3);
        for (int t = 0; t < out->ntags; t++) {
            int tag, dup;

            do {
                tag = (int)rng_below(&s, ARRAY_LEN(bench_tags));
                if (t == 0 && in->loop && chance(&s, 0.6))
                    tag = 4;            /* "loop" */
                dup = 0;
                for (int q = 0; q < t; q++)
                    dup |= out->tags[q] == tag;
            } while (dup);
            out->tags[t] = tag;
        }
    }
    if (chance(&s, 0.15)) {
        static const int weights[] = { 10, 15, 30, 30, 15 };
        int x = (int)rng_below(&s, 100);

        out->rating = 1;
        while (out->rating < 5 && x >= weights[out->rating - 1])
            x -= weights[out->rating++ - 1];
    }
    if (chance(&s, 0.05)) {
        out->fav = 1;
        out->fav_added = out->created + (int64_t)(rng_unit(&s) * (double)(g->now - out->created));
    }
}

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

static int insert_sample(gen_ctx *g, int64_t id, int64_t root_id, const gen_sample *x)
{
    sqlite3_stmt *st = g->ins_sample;

    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, x->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, root_id);
    sqlite3_bind_text(st, 4, x->relpath, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, x->size);
    sqlite3_bind_int64(st, 6, x->mtime_ns);
    sqlite3_bind_text(st, 7, x->sha, 64, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, x->format, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 9, x->subtype, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 10, x->rate);
    sqlite3_bind_int(st, 11, x->channels);
    sqlite3_bind_int64(st, 12, x->frames);
    sqlite3_bind_double(st, 13, x->duration);
    if (x->bits)
        sqlite3_bind_int(st, 14, x->bits);
    else
        sqlite3_bind_null(st, 14);
    if (x->root_key >= 0)
        sqlite3_bind_int(st, 15, x->root_key);
    else
        sqlite3_bind_null(st, 15);
    if (x->is_loop) {
        sqlite3_bind_int64(st, 16, 0);
        sqlite3_bind_int64(st, 17, x->frames);
        sqlite3_bind_int(st, 18, SHELF_LOOP_FORWARD);
        sqlite3_bind_double(st, 19, x->tempo);
        sqlite3_bind_int(st, 20, x->beats);
    } else {
        for (int c = 16; c <= 20; c++)
            sqlite3_bind_null(st, c);
    }
    sqlite3_bind_text(st, 21, x->category, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 22, x->created);
    if (x->last_used)
        sqlite3_bind_int64(st, 23, x->last_used);
    else
        sqlite3_bind_null(st, 23);
    sqlite3_bind_int(st, 24, x->missing);
    bind_text_or_null(st, 25, x->author);
    bind_text_or_null(st, 26, x->genre);
    if (sqlite3_step(st) != SQLITE_DONE)
        return db_fail(g->db, x->relpath);

    for (int t = 0; t < x->ntags; t++) {
        sqlite3_reset(g->ins_tag);
        sqlite3_bind_int(g->ins_tag, 1, x->tags[t] + 1);
        sqlite3_bind_int64(g->ins_tag, 2, id);
        if (sqlite3_step(g->ins_tag) != SQLITE_DONE)
            return db_fail(g->db, "insert tag_items");
    }
    if (x->rating) {
        sqlite3_reset(g->ins_rating);
        sqlite3_bind_int64(g->ins_rating, 1, id);
        sqlite3_bind_int(g->ins_rating, 2, x->rating);
        if (sqlite3_step(g->ins_rating) != SQLITE_DONE)
            return db_fail(g->db, "insert ratings");
    }
    if (x->fav) {
        sqlite3_reset(g->ins_fav);
        sqlite3_bind_int64(g->ins_fav, 1, id);
        sqlite3_bind_int64(g->ins_fav, 2, x->fav_added);
        if (sqlite3_step(g->ins_fav) != SQLITE_DONE)
            return db_fail(g->db, "insert favourites");
    }
    g->info->tagged += x->ntags > 0;
    g->info->tag_items += x->ntags;
    g->info->rated += x->rating > 0;
    g->info->favourites += x->fav;
    g->info->with_key += x->root_key >= 0;
    g->info->with_author += x->author != NULL;
    g->info->missing += x->missing;
    return 0;
}

/* Sizes of the catalog's parts, from the dbstat virtual table (when built in). */
static void measure_tables(sqlite3 *db, gen_info *info)
{
    sqlite3_stmt *st = NULL;

    info->samples_bytes = info->fts_bytes = info->meta_bytes = info->like_bytes = 0;
    if (sqlite3_prepare_v2(db, "SELECT name, sum(pgsize) FROM dbstat GROUP BY name", -1, &st,
                           NULL) != SQLITE_OK) {
        fprintf(stderr, "bench_search: no table sizes (dbstat): %s\n", sqlite3_errmsg(db));
        return;
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        int64_t bytes = sqlite3_column_int64(st, 1);

        if (!name)
            continue;
        if (strncmp(name, "samples_fts", 11) == 0)
            info->fts_bytes += bytes;
        else if (strcmp(name, "samples") == 0 || strncmp(name, "samples_", 8) == 0 ||
                 strncmp(name, "sqlite_autoindex_samples", 24) == 0)
            info->samples_bytes += bytes;
        else if (strncmp(name, "bench_like", 10) == 0)
            info->like_bytes += bytes;
        else if (strncmp(name, "tag", 3) == 0 || strncmp(name, "rating", 6) == 0 ||
                 strncmp(name, "favourite", 9) == 0 || strncmp(name, "sqlite_autoindex_tag", 20) == 0)
            info->meta_bytes += bytes;
    }
    sqlite3_finalize(st);
}

/* The baseline's table: one lowercased text column per sample, as naive browsers keep. */
static const char like_sql[] =
    "CREATE TABLE bench_like(id INTEGER PRIMARY KEY, name TEXT, text TEXT);\n"
    "INSERT INTO bench_like(id, name, text)\n"
    "  SELECT s.id, s.name, lower(s.name || ' ' || r.path || '/' || s.relpath || ' ' ||\n"
    "    coalesce((SELECT group_concat(t.name, ' ') FROM tag_items ti JOIN tags t\n"
    "              ON t.id = ti.tag_id WHERE ti.kind = 1 AND ti.item_id = s.id), '') || ' ' ||\n"
    "    coalesce(s.category, '') || ' ' || coalesce(s.author, ''))\n"
    "  FROM samples s JOIN roots r ON r.id = s.root_id ORDER BY s.id;\n"
    "CREATE INDEX bench_like_name ON bench_like(name);\n";

/* The generator proper, in the child process.  Returns 0 or -1. */
static int generate(const char *libdir, uint64_t n, gen_info *info)
{
    gen_ctx g;
    shelf_library *lib = NULL;
    char dbpath[PATH_MAX], *err = NULL;
    unsigned *counts = NULL, cur_root = UINT_MAX;
    double t0 = now_ms(), t1;
    struct rusage ru;
    int rc = -1;

    memset(&g, 0, sizeof g);
    memset(info, 0, sizeof *info);
    info->version = GEN_VERSION;
    info->entries = (int64_t)n;
    info->now = (int64_t)time(NULL);
    g.info = info;
    g.now = info->now;

    /* The library and its schema come from shelf itself. */
    if ((rc = shelf_library_open(libdir, SHELF_OPEN_CREATE, &lib, &err)) != SHELF_OK) {
        fprintf(stderr, "bench_search: cannot create library '%s': %s\n", libdir,
                err ? err : shelf_strerror(rc));
        shelf_free(err);
        return -1;
    }
    shelf_library_close(lib);
    rc = -1;

    if (bench_join_path(dbpath, sizeof dbpath, libdir, "shelf.db") != 0)
        return -1;
    if (sqlite3_open_v2(dbpath, &g.db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        db_fail(g.db, dbpath);
        goto out;
    }
    sqlite3_busy_timeout(g.db, 10000);
    if (db_exec(g.db, "PRAGMA synchronous=OFF; PRAGMA cache_size=-1048576;"
                      " PRAGMA temp_store=MEMORY") != 0)
        goto out;

    g.nroots = (unsigned)(n / ENTRIES_PER_ROOT);
    if (g.nroots > MAX_ROOTS)
        g.nroots = MAX_ROOTS;
    if (g.nroots < 1)
        g.nroots = 1;
    info->roots = g.nroots;
    g.roots = calloc(g.nroots, sizeof *g.roots);
    counts = calloc(ARRAY_LEN(bench_instruments), sizeof *counts);
    if (!g.roots || !counts) {
        fprintf(stderr, "bench_search: out of memory\n");
        goto out;
    }
    for (unsigned i = 0; i < ARRAY_LEN(bench_instruments); i++)
        g.instr_total += bench_instruments[i].weight;

    if (db_exec(g.db, "BEGIN") != 0)
        goto out;
    {
        sqlite3_stmt *st = NULL;

        if (sqlite3_prepare_v2(g.db, "INSERT INTO roots(id, path) VALUES(?1, ?2)", -1, &st,
                               NULL) != SQLITE_OK) {
            db_fail(g.db, "prepare roots");
            goto out;
        }
        /* One root, as a musician's ~/Samples; the packs are folders in it
         * (where the root lives is not words, so "home" finds nothing). */
        for (unsigned r = 0; r < g.nroots; r++)
            make_root(r, &g.roots[r]);
        sqlite3_bind_int64(st, 1, 1);
        sqlite3_bind_text(st, 2, "/home/user/Samples", -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) {
            db_fail(g.db, "/home/user/Samples");
            sqlite3_finalize(st);
            goto out;
        }
        sqlite3_finalize(st);
        if (sqlite3_prepare_v2(g.db, "INSERT INTO tags(id, name) VALUES(?1, ?2)", -1, &st,
                               NULL) != SQLITE_OK) {
            db_fail(g.db, "prepare tags");
            goto out;
        }
        for (unsigned t = 0; t < ARRAY_LEN(bench_tags); t++) {
            sqlite3_reset(st);
            sqlite3_bind_int(st, 1, (int)t + 1);
            sqlite3_bind_text(st, 2, bench_tags[t], -1, SQLITE_STATIC);
            if (sqlite3_step(st) != SQLITE_DONE) {
                db_fail(g.db, bench_tags[t]);
                sqlite3_finalize(st);
                goto out;
            }
        }
        sqlite3_finalize(st);
    }
    if (sqlite3_prepare_v2(g.db,
            "INSERT INTO samples(id, name, root_id, relpath, size, mtime_ns, sha256, format,"
            " subtype, rate, channels, frames, duration, bits, root_key, loop_start, loop_end,"
            " loop_mode, tempo, beats, category, created, last_used, missing, author, genre)"
            " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,"
            " ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26)",
            -1, &g.ins_sample, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(g.db, "INSERT INTO tag_items(tag_id, kind, item_id) VALUES(?1, 1, ?2)",
                           -1, &g.ins_tag, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(g.db, "INSERT INTO ratings(kind, item_id, rating) VALUES(1, ?1, ?2)",
                           -1, &g.ins_rating, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(g.db, "INSERT INTO favourites(kind, item_id, added) VALUES(1, ?1, ?2)",
                           -1, &g.ins_fav, NULL) != SQLITE_OK) {
        db_fail(g.db, "prepare inserts");
        goto out;
    }

    /* Samples pack by pack, as an import walks folders: ids cluster by root. */
    for (uint64_t i = 0; i < n; i++) {
        unsigned r = (unsigned)(i * g.nroots / n), ins;
        uint64_t s = bench_mix64(i);
        gen_sample x;

        if (r != cur_root) {
            memset(counts, 0, ARRAY_LEN(bench_instruments) * sizeof *counts);
            cur_root = r;
        }
        ins = pick_instrument(&s, g.instr_total);
        make_sample(&g, i, &g.roots[r], ins, ++counts[ins], &x);
        if (insert_sample(&g, (int64_t)i + 1, 1, &x) != 0)
            goto out;
        if ((i + 1) % BATCH == 0 && (db_exec(g.db, "COMMIT") != 0 || db_exec(g.db, "BEGIN") != 0))
            goto out;
        if ((i + 1) % PROGRESS == 0)
            fprintf(stderr, "  generated %" PRIu64 " of %" PRIu64 " entries (%.1f s)\n", i + 1,
                    n, (now_ms() - t0) / 1e3);
    }
    if (db_exec(g.db, "COMMIT") != 0 || db_exec(g.db, "PRAGMA wal_checkpoint(TRUNCATE)") != 0)
        goto out;
    t1 = now_ms();
    info->gen_ms = (int64_t)(t1 - t0);
    info->catalog_bytes = catalog_size(dbpath);
    fprintf(stderr, "  catalog: %" PRIu64 " entries in %.1f s, %.1f MB\n", n,
            (t1 - t0) / 1e3, (double)info->catalog_bytes / MB);

    /* The baseline's table, after the catalog is measured. */
    if (db_exec(g.db, like_sql) != 0 || db_exec(g.db, "PRAGMA wal_checkpoint(TRUNCATE)") != 0)
        goto out;
    info->like_ms = (int64_t)(now_ms() - t1);
    info->total_bytes = catalog_size(dbpath);
    fprintf(stderr, "  baseline table bench_like: %.1f s, file now %.1f MB\n",
            (double)info->like_ms / 1e3, (double)info->total_bytes / MB);
    measure_tables(g.db, info);
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        info->maxrss_kb = ru.ru_maxrss;
    rc = write_marker(libdir, info);
out:
    sqlite3_finalize(g.ins_sample);
    sqlite3_finalize(g.ins_tag);
    sqlite3_finalize(g.ins_rating);
    sqlite3_finalize(g.ins_fav);
    if (g.db && sqlite3_close(g.db) != SQLITE_OK)
        fprintf(stderr, "bench_search: cannot close the catalog: %s\n", sqlite3_errmsg(g.db));
    free(g.roots);
    free(counts);
    return rc;
}

/* Generate in a child process, so its 1 GB page cache stays out of our figures. */
static int generate_child(const char *libdir, uint64_t n)
{
    gen_info info;
    pid_t pid;
    int status = 0;

    fflush(stdout);
    fflush(stderr);
    if ((pid = fork()) < 0) {
        fprintf(stderr, "bench_search: cannot fork: %s\n", strerror(errno));
        return -1;
    }
    if (pid == 0)
        _exit(generate(libdir, n, &info) == 0 ? 0 : 1);
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) {
            fprintf(stderr, "bench_search: waitpid: %s\n", strerror(errno));
            return -1;
        }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "bench_search: generating the catalog failed\n");
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Keystrokes                                                         */

/* Every prefix of every query in the list: what a type-ahead box sends. */
static keystroke *make_keystrokes(size_t *count)
{
    size_t n = 0, k = 0;
    keystroke *ks;

    for (size_t q = 0; q < ARRAY_LEN(bench_queries); q++)
        n += strlen(bench_queries[q].text);
    if (!(ks = calloc(n, sizeof *ks)))
        return NULL;
    for (size_t q = 0; q < ARRAY_LEN(bench_queries); q++) {
        const char *t = bench_queries[q].text;
        size_t len = strlen(t);

        for (size_t l = 1; l <= len; l++, k++) {
            if (!(ks[k].text = malloc(l + 1))) {
                for (size_t j = 0; j < k; j++)
                    free(ks[j].text);
                free(ks);
                return NULL;
            }
            memcpy(ks[k].text, t, l);
            ks[k].text[l] = '\0';
            ks[k].kind = l == 1 ? KIND_LETTER : bench_queries[q].kind;
            ks[k].seq = (int)q;
            ks[k].shelf_ms = ks[k].exact_ms = ks[k].sql_ms = ks[k].like_ms = ks[k].facets_ms = -1.0;
        }
    }
    *count = n;
    return ks;
}

static void free_keystrokes(keystroke *ks, size_t n)
{
    if (!ks)
        return;
    for (size_t i = 0; i < n; i++)
        free(ks[i].text);
    free(ks);
}

/* ------------------------------------------------------------------ */
/* shelf's side                                                       */

typedef struct shelf_result {
    int rc;
    int64_t rows, total;
    int exact;
} shelf_result;

/* One keystroke: the query, the whole first page, free.  Returns milliseconds. */
static double shelf_one(shelf_library *lib, const char *q, int64_t count_limit,
                        shelf_result *res)
{
    shelf_search_opts opts;
    shelf_cursor *cur = NULL;
    const shelf_sample *row;
    double t0, t1;
    int step;

    memset(&opts, 0, sizeof opts);
    opts.size = sizeof opts;
    opts.limit = PAGE;
    opts.count_limit = count_limit;
    memset(res, 0, sizeof *res);
    t0 = now_ms();
    res->rc = shelf_search(lib, q, &opts, &cur, &res->total, &res->exact);
    if (res->rc == SHELF_OK) {
        while ((step = shelf_cursor_next(cur, &row)) == SHELF_ROW)
            res->rows += row->id > 0;
        if (step != SHELF_DONE)
            res->rc = step;
        shelf_cursor_free(cur);
    }
    t1 = now_ms();
    return t1 - t0;
}

typedef struct shelf_pass {
    size_t failed_parse, failed_other;
    char examples[MAX_EXAMPLES][320];
    size_t nexamples;
} shelf_pass;

/* Passes over the keystrokes: the measured one, then informational ones. */
enum { PASS_MAIN, PASS_EXACT, PASS_SQL, PASS_FACETS };

static const char *const pass_names[] = { "", " (exact counts)", " (SQL engine)", " (facets)" };

static void count_facet(void *ud, const shelf_facet *f)
{
    *(int64_t *)ud += f->count > 0;
}

/* One keystroke's facets (20 values a facet).  Returns milliseconds. */
static double facets_one(shelf_library *lib, const char *q, shelf_result *res)
{
    double t0 = now_ms();

    memset(res, 0, sizeof *res);
    res->rc = shelf_search_facets(lib, q, 0, count_facet, &res->rows);
    return now_ms() - t0;
}

/* Run every keystroke once through shelf_search; mode selects the fields filled. */
static int run_shelf(shelf_library *lib, keystroke *ks, size_t n, int mode, shelf_pass *pass)
{
    double t0 = now_ms();

    memset(pass, 0, sizeof *pass);
    for (size_t i = 0; i < n; i++) {
        shelf_result res;
        double ms = mode == PASS_FACETS ? facets_one(lib, ks[i].text, &res)
                    : shelf_one(lib, ks[i].text, mode == PASS_EXACT ? -1 : 0, &res);

        if (mode == PASS_FACETS) {
            ks[i].facets_ms = ms;
        } else if (mode == PASS_EXACT) {
            ks[i].exact_ms = ms;
            ks[i].exact_total = res.total;
        } else if (mode == PASS_SQL) {
            ks[i].sql_ms = ms;
            ks[i].sql_total = res.total;
        } else {
            ks[i].shelf_ms = ms;
            ks[i].shelf_rc = res.rc;
            ks[i].shelf_rows = res.rows;
            ks[i].shelf_total = res.total;
            ks[i].shelf_exact = res.exact;
        }
        if (res.rc == SHELF_EINVAL) {
            pass->failed_parse++;
            if (mode == PASS_MAIN && pass->nexamples < MAX_EXAMPLES)
                snprintf(pass->examples[pass->nexamples++], sizeof pass->examples[0],
                         "'%s': %s (column %d)", ks[i].text, shelf_errmsg(lib),
                         shelf_query_errpos(lib));
        } else if (res.rc != SHELF_OK) {
            if (pass->failed_other++ < MAX_EXAMPLES)
                fprintf(stderr, "FAIL shelf_search('%s'): %s: %s\n", ks[i].text,
                        shelf_strerror(res.rc), shelf_errmsg(lib));
        }
    }
    fprintf(stderr, "  shelf%s: %zu keystrokes in %.1f s\n", pass_names[mode], n,
            (now_ms() - t0) / 1e3);
    return pass->failed_other ? -1 : 0;
}

/* ------------------------------------------------------------------ */
/* The LIKE baseline                                                  */

static int is_sep(char c)
{
    return c == ' ' || c == '(' || c == ')' || c == '"' || c == '\0';
}

/* '%' + word with LIKE's wildcards escaped + '%', lowercased. */
static void make_pattern(const char *w, size_t n, char *out, size_t size)
{
    size_t k = 0;

    out[k++] = '%';
    for (size_t i = 0; i < n && k + 3 < size; i++) {
        char c = w[i];

        if (c == '%' || c == '_' || c == '\\')
            out[k++] = '\\';
        out[k++] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
    }
    out[k++] = '%';
    out[k] = '\0';
}

/*
 * The baseline's reading of a query, in the shelf grammar's shape (OR binds
 * looser than AND, parentheses group, - and NOT negate) so both sides answer
 * the same question: every free word is a LIKE '%word%' term and "a phrase"
 * one term.  field:value filters are read as true, that is dropped (which
 * favours the baseline: it does less work than was asked).  Partial syntax
 * as typed is read leniently: a missing operand is skipped, an unclosed
 * parenthesis or quote closes at the end.
 */
enum { LT_END, LT_LP, LT_RP, LT_OR, LT_AND, LT_NOT, LT_TERM, LT_FILTER };

typedef struct like_tok {
    int kind;
    const char *w;              /* LT_TERM: the word or phrase */
    size_t wn;
    int neg;                    /* LT_TERM, LT_FILTER: written with a leading '-' */
} like_tok;

typedef struct like_parser {
    const char *p;
    like_query *lq;
    int depth;
} like_parser;

/* Results of the parse functions. */
#define LIKE_COND 1             /* wrote a condition */
#define LIKE_TRUE 0             /* only filters: nothing to test */
#define LIKE_NONE (-1)          /* no operand at all */
#define LIKE_MAX_DEPTH 8
#define LIKE_SQL 2048

static void like_next(like_parser *ps, like_tok *t)
{
    const char *p = ps->p;

    memset(t, 0, sizeof *t);
    while (*p == ' ')
        p++;
    if (*p == '\0') {
        t->kind = LT_END;
    } else if (*p == '(' || *p == ')') {
        t->kind = *p++ == '(' ? LT_LP : LT_RP;
    } else {
        if (*p == '-') {
            t->neg = 1;
            p++;
        }
        if (*p == '"') {
            const char *end = strchr(++p, '"');

            t->w = p;
            t->wn = end ? (size_t)(end - p) : strlen(p);
            p += t->wn + (end ? 1 : 0);
            while (t->wn && t->w[0] == ' ')
                t->w++, t->wn--;
            while (t->wn && t->w[t->wn - 1] == ' ')
                t->wn--;
            t->kind = LT_TERM;
        } else {
            t->w = p;
            while (!is_sep(*p))
                p++;
            t->wn = (size_t)(p - t->w);
            t->kind = memchr(t->w, ':', t->wn) ? LT_FILTER : LT_TERM;
            if (!t->neg && t->wn == 2 && memcmp(t->w, "OR", 2) == 0)
                t->kind = LT_OR;
            else if (!t->neg && t->wn == 3 && memcmp(t->w, "AND", 3) == 0)
                t->kind = LT_AND;
            else if (!t->neg && t->wn == 3 && memcmp(t->w, "NOT", 3) == 0)
                t->kind = LT_NOT;
        }
        if (t->kind == LT_TERM && t->wn == 0)
            t->kind = LT_FILTER;        /* a lone '-' or '""': nothing to test */
    }
    ps->p = p;
}

static int like_peek(like_parser *ps)
{
    const char *save = ps->p;
    like_tok t;

    like_next(ps, &t);
    ps->p = save;
    return t.kind;
}

/* Append "a" + sep + "b" style pieces; returns -1 when out is full. */
static int like_cat(char *out, size_t size, const char *a, const char *b)
{
    size_t n = strlen(out);
    int w = snprintf(out + n, size - n, "%s%s", a, b);

    return w < 0 || (size_t)w >= size - n ? -1 : 0;
}

static int like_or(like_parser *ps, char *out, size_t size);

static int like_unary(like_parser *ps, char *out, size_t size)
{
    char sub[LIKE_SQL] = "";
    like_tok t;
    int r, k = like_peek(ps);

    out[0] = '\0';
    if (k == LT_END || k == LT_RP || k == LT_OR)
        return LIKE_NONE;
    like_next(ps, &t);
    switch (t.kind) {
    case LT_NOT:
        r = like_unary(ps, sub, sizeof sub);
        if (r == LIKE_COND && snprintf(out, size, "NOT (%s)", sub) >= (int)size)
            return LIKE_TRUE;
        return r;
    case LT_LP:
        if (ps->depth >= LIKE_MAX_DEPTH)
            return LIKE_TRUE;
        ps->depth++;
        r = like_or(ps, sub, sizeof sub);
        ps->depth--;
        if (like_peek(ps) == LT_RP)
            like_next(ps, &t);
        if (r == LIKE_COND && snprintf(out, size, "(%s)", sub) >= (int)size)
            return LIKE_TRUE;
        return r;
    case LT_TERM: {
        like_term *lt;

        if (ps->lq->n == MAX_TERMS)
            return LIKE_TRUE;
        lt = &ps->lq->t[ps->lq->n++];
        make_pattern(t.w, t.wn, lt->pat, sizeof lt->pat);
        lt->neg = t.neg;
        snprintf(out, size, "text %sLIKE ?%d ESCAPE '\\'", t.neg ? "NOT " : "", ps->lq->n);
        return LIKE_COND;
    }
    default:                    /* LT_FILTER, LT_AND */
        return LIKE_TRUE;
    }
}

static int like_and(like_parser *ps, char *out, size_t size)
{
    char part[LIKE_SQL];
    int any = LIKE_NONE, r;

    out[0] = '\0';
    while ((r = like_unary(ps, part, sizeof part)) != LIKE_NONE) {
        if (r == LIKE_COND) {
            if (like_cat(out, size, any == LIKE_COND ? " AND " : "", part) != 0)
                return any;
            any = LIKE_COND;
        } else if (any == LIKE_NONE) {
            any = LIKE_TRUE;
        }
    }
    return any;
}

static int like_or(like_parser *ps, char *out, size_t size)
{
    char part[LIKE_SQL];
    int res = like_and(ps, out, size), r;
    like_tok t;

    while (like_peek(ps) == LT_OR) {
        like_next(ps, &t);
        r = like_and(ps, part, sizeof part);
        if (r == LIKE_NONE)
            continue;                   /* "kick OR" as typed */
        if (res == LIKE_NONE) {
            snprintf(out, size, "%s", part);
            res = r;
        } else if (res == LIKE_TRUE || r == LIKE_TRUE) {
            res = LIKE_TRUE;            /* x OR true is true */
            out[0] = '\0';
        } else if (like_cat(out, size, " OR ", part) != 0) {
            res = LIKE_TRUE;
            out[0] = '\0';
        }
    }
    return res;
}

/* The WHERE clause for query q (" WHERE ...", or "" when there is nothing to test). */
static int like_build(const char *q, like_query *lq, char *out, size_t size)
{
    like_parser ps = { q, lq, 0 };
    char cond[LIKE_SQL] = "", part[LIKE_SQL];
    like_tok t;
    int any = LIKE_NONE;

    lq->n = 0;
    out[0] = '\0';
    /* Top level: or-expressions; a stray ')' is skipped. */
    while (like_peek(&ps) != LT_END) {
        int r = like_or(&ps, part, sizeof part);

        if (r == LIKE_COND) {
            if (like_cat(cond, sizeof cond, any == LIKE_COND ? " AND " : "", part) != 0)
                return -1;
            any = LIKE_COND;
        }
        if (r == LIKE_NONE)
            like_next(&ps, &t);
    }
    if (any == LIKE_COND) {
        int n = snprintf(out, size, " WHERE %s", cond);

        if (n < 0 || (size_t)n >= size)
            return -1;
    }
    return 0;
}

static int like_prepare(sqlite3 *db, const char *sql, const like_query *lq, sqlite3_stmt **st)
{
    if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK)
        return db_fail(db, sql);
    for (int i = 0; i < lq->n; i++)
        sqlite3_bind_text(*st, i + 1, lq->t[i].pat, -1, SQLITE_STATIC);
    return 0;
}

/* One keystroke the naive way: the first page by name, then the count. */
static double like_one(sqlite3 *db, const char *q, int64_t *rows, int64_t *total)
{
    like_query lq;
    char where[LIKE_SQL + 16], sql[LIKE_SQL + 128];
    sqlite3_stmt *st = NULL;
    double t0 = now_ms(), t1;
    int rc;

    *rows = *total = 0;
    if (like_build(q, &lq, where, sizeof where) != 0)
        return -1.0;
    snprintf(sql, sizeof sql, "SELECT id, name FROM bench_like%s ORDER BY name LIMIT %d", where,
             PAGE);
    if (like_prepare(db, sql, &lq, &st) != 0)
        return -1.0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        *rows += sqlite3_column_int64(st, 0) > 0 && sqlite3_column_text(st, 1);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return db_fail(db, sql);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM bench_like%s", where);
    if (like_prepare(db, sql, &lq, &st) != 0)
        return -1.0;
    if ((rc = sqlite3_step(st)) == SQLITE_ROW)
        *total = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW)
        return db_fail(db, sql);
    t1 = now_ms();
    return t1 - t0;
}

static int run_like(sqlite3 *db, keystroke *ks, size_t n, unsigned every)
{
    double t0 = now_ms();
    size_t done = 0;

    for (size_t i = 0; i < n; i += every) {
        double ms = like_one(db, ks[i].text, &ks[i].like_rows, &ks[i].like_total);

        if (ms < 0) {
            fprintf(stderr, "FAIL LIKE baseline on '%s'\n", ks[i].text);
            return -1;
        }
        ks[i].like_ms = ms;
        if (++done % 200 == 0)
            fprintf(stderr, "  LIKE baseline: %zu of %zu keystrokes (%.1f s)\n", done,
                    (n + every - 1) / every, (now_ms() - t0) / 1e3);
    }
    fprintf(stderr, "  LIKE baseline: %zu keystrokes in %.1f s\n", done, (now_ms() - t0) / 1e3);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Options                                                            */

static void usage(FILE *f)
{
    fprintf(f,
        "usage: bench_search [--entries N] [--dir D] [--keep] [--markdown] [--no-preload]\n"
        "                    [--sql] [--no-exact] [--no-baseline] [--baseline-every K]\n"
        "                    [--csv FILE] [--edits] [--edits-only]\n"
        "  --entries N         catalog entries (default %u)\n"
        "  --dir D             work folder; its library-N is kept and reused by later\n"
        "                      runs with the same N (default: a fresh folder under /tmp,\n"
        "                      removed at the end unless --keep)\n"
        "  --keep              keep the fresh work folder\n"
        "  --markdown          also print a block for doc/benchmarks.md\n"
        "  --no-preload        measure shelf without shelf_library_preload (SQL engine)\n"
        "  --sql               also an informational pass on the SQL engine, on a\n"
        "                      second handle without preload (slow at 1M entries)\n"
        "  --no-exact          skip the informational pass with exact counts\n"
        "  --no-baseline       skip the LIKE baseline\n"
        "  --baseline-every K  run the baseline on every K-th keystroke only (default 1)\n"
        "  --csv FILE          write every keystroke's figures to FILE\n"
        "  --edits             also: tag edits and imports of new files (through the\n"
        "                      handle and a second one), each timed to the next query\n"
        "                      that sees it, applied in place; every change is undone\n"
        "  --edits-only        the preload and --edits, no keystroke passes\n",
        DEFAULT_ENTRIES);
}


/* Returns 0 to go on, 1 to exit successfully (--help), -1 on a bad option. */
static int parse_args(int argc, char **argv, bench_opts *o)
{
    memset(o, 0, sizeof *o);
    o->entries = DEFAULT_ENTRIES;
    o->exact = 1;
    o->preload = 1;
    o->baseline = 1;
    o->baseline_every = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        uint64_t v;

        if (strcmp(a, "--entries") == 0) {
            if (bench_parse_u64(i + 1 < argc ? argv[++i] : NULL, MIN_ENTRIES, MAX_ENTRIES,
                          &o->entries) != 0) {
                fprintf(stderr, "bench_search: --entries wants a number from %u to %u\n",
                        MIN_ENTRIES, MAX_ENTRIES);
                return -1;
            }
        } else if (strcmp(a, "--baseline-every") == 0) {
            if (bench_parse_u64(i + 1 < argc ? argv[++i] : NULL, 1, 1000, &v) != 0) {
                fprintf(stderr, "bench_search: --baseline-every wants a number from 1 to 1000\n");
                return -1;
            }
            o->baseline_every = (unsigned)v;
        } else if (strcmp(a, "--dir") == 0 || strcmp(a, "--csv") == 0) {
            if (i + 1 >= argc || argv[i + 1][0] == '\0') {
                fprintf(stderr, "bench_search: %s wants a path\n", a);
                return -1;
            }
            if (a[2] == 'd')
                o->dir = argv[++i];
            else
                o->csv = argv[++i];
        } else if (strcmp(a, "--keep") == 0) {
            o->keep = 1;
        } else if (strcmp(a, "--markdown") == 0) {
            o->markdown = 1;
        } else if (strcmp(a, "--no-preload") == 0) {
            o->preload = 0;
        } else if (strcmp(a, "--sql") == 0) {
            o->sql = 1;
        } else if (strcmp(a, "--no-exact") == 0) {
            o->exact = 0;
        } else if (strcmp(a, "--edits") == 0 || strcmp(a, "--edits-only") == 0) {
            o->edits = a[7] == '-' ? 2 : 1;
        } else if (strcmp(a, "--no-baseline") == 0) {
            o->baseline = 0;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 1;
        } else {
            fprintf(stderr, "bench_search: unknown option '%s'\n", a);
            usage(stderr);
            return -1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* In place: edits and imports seen by the next query                  */

#define EDITS 200               /* tag edits each way */
#define IMPORT_FILES 100        /* files per import round */
#define IMPORT_ROUNDS 5

typedef struct edit_results {
    stats tag_same, tag_same_query;     /* edit + next query; next query alone */
    stats again;                        /* that query once more, nothing changed */
    stats tag_other, tag_other_query;   /* the edit by a second handle */
    stats untag_other;                  /* the tag removed by a second handle, + next query */
    stats import_ms, import_query;      /* IMPORT_FILES new files; the next query */
    stats rm_query;                     /* those removed again; the next query */
    shelf_index_stats ix;               /* after all of it */
    double rebuild_ms;                  /* a whole build, as every edit cost before */
    int ran;
} edit_results;

/* A 16-bit mono WAV of frames frames of a ramp from seed. */
static int write_wav(const char *path, unsigned frames, unsigned seed)
{
    unsigned char h[44];
    uint32_t data = frames * 2, riff = 36 + data;
    FILE *f = fopen(path, "wb");
    unsigned i;

    if (!f)
        return -1;
    memcpy(h, "RIFF", 4);
    for (i = 0; i < 4; i++)
        h[4 + i] = (unsigned char)(riff >> (8 * i));
    memcpy(h + 8, "WAVEfmt ", 8);
    memcpy(h + 16, "\x10\0\0\0\x01\0\x01\0\x44\xac\0\0\x88\x58\x01\0\x02\0\x10\0", 20);
    memcpy(h + 36, "data", 4);
    for (i = 0; i < 4; i++)
        h[40 + i] = (unsigned char)(data >> (8 * i));
    fwrite(h, 1, sizeof h, f);
    for (i = 0; i < frames; i++) {
        int16_t v = (int16_t)((i * (seed + 7) * 37) & 0x7fff);
        unsigned char b[2] = { (unsigned char)v, (unsigned char)(v >> 8) };

        fwrite(b, 1, 2, f);
    }
    return fclose(f) == 0 ? 0 : -1;
}

/* The next query q on lib: its time; *total its count; -1 on failure. */
static double query_total(shelf_library *lib, const char *q, int64_t *total)
{
    shelf_result r;
    double ms = shelf_one(lib, q, -1, &r);

    *total = r.total;
    if (r.rc != SHELF_OK) {
        printf("FAIL query '%s': %s\n", q, shelf_errmsg(lib));
        return -1;
    }
    return ms;
}

/*
 * lib is preloaded.  Tag edits through lib and through a second handle (a
 * CLI beside `shelf serve`), each followed by the query that must see it;
 * imports of IMPORT_FILES new files by the second handle, then the query
 * that finds them, then their removal.  Every change is undone, so the
 * library can be reused.
 */
static int run_edits(shelf_library *lib, const char *libdir, const char *work, uint64_t entries,
                     edit_results *er)
{
    double *a = calloc(EDITS, sizeof *a), *b = calloc(EDITS, sizeof *b);
    double *c = calloc(EDITS, sizeof *c), *d = calloc(EDITS, sizeof *d);
    double *e = calloc(EDITS, sizeof *e);
    int64_t *ids = calloc(EDITS, sizeof *ids), total;
    shelf_library *other = NULL;
    uint64_t seed = 0x5eed;
    char *err = NULL, tag[64], q[96], dir[PATH_MAX], path[PATH_MAX + 64];
    int k, r, rc = -1;

    if (!a || !b || !c || !d || !e || !ids)
        goto out;
    if ((r = shelf_library_open(libdir, 0, &other, &err)) != SHELF_OK) {
        printf("FAIL cannot open library '%s': %s\n", libdir, err ? err : shelf_strerror(r));
        shelf_free(err);
        goto out;
    }
    /* tags through the preloaded handle (the server's own edit) */
    for (k = 0; k < EDITS; k++) {
        double t0, t1, t2;

        ids[k] = 1 + (int64_t)rng_below(&seed, (unsigned)entries);
        snprintf(tag, sizeof tag, "benchsame%d", k);
        snprintf(q, sizeof q, "tag:%s", tag);
        t0 = now_ms();
        if ((r = shelf_tag_add(lib, ids[k], tag)) != SHELF_OK) {
            printf("FAIL tag add %lld: %s\n", (long long)ids[k], shelf_errmsg(lib));
            goto out;
        }
        t1 = now_ms();
        if (query_total(lib, q, &total) < 0 || total != 1) {
            printf("FAIL '%s' found %lld, not 1\n", q, (long long)total);
            goto out;
        }
        t2 = now_ms();
        a[k] = t2 - t0;
        b[k] = t2 - t1;
        if ((e[k] = query_total(lib, q, &total)) < 0)
            goto out;
    }
    stats_of(e, EDITS, &er->again);
    /* tags through a second handle (the CLI beside the server) */
    for (k = 0; k < EDITS; k++) {
        double t0, t1, t2;

        snprintf(tag, sizeof tag, "benchother%d", k);
        snprintf(q, sizeof q, "tag:%s", tag);
        t0 = now_ms();
        if ((r = shelf_tag_add(other, ids[k], tag)) != SHELF_OK) {
            printf("FAIL tag add %lld: %s\n", (long long)ids[k], shelf_errmsg(other));
            goto out;
        }
        t1 = now_ms();
        if (query_total(lib, q, &total) < 0 || total != 1) {
            printf("FAIL '%s' found %lld, not 1\n", q, (long long)total);
            goto out;
        }
        t2 = now_ms();
        c[k] = t2 - t0;
        d[k] = t2 - t1;
    }
    /* and removed by the second handle (undoes both) */
    for (k = 0; k < EDITS; k++) {
        double t0 = now_ms();

        snprintf(tag, sizeof tag, "benchsame%d", k);
        if (shelf_tag_remove(other, ids[k], tag) != SHELF_OK)
            goto out;
        snprintf(tag, sizeof tag, "benchother%d", k);
        if (shelf_tag_remove(other, ids[k], tag) != SHELF_OK)
            goto out;
        snprintf(q, sizeof q, "tag:%s", tag);
        if (query_total(lib, q, &total) < 0 || total != 0) {
            printf("FAIL '%s' found %lld after its removal\n", q, (long long)total);
            goto out;
        }
        e[k] = now_ms() - t0;
    }
    stats_of(a, EDITS, &er->tag_same);
    stats_of(b, EDITS, &er->tag_same_query);
    stats_of(c, EDITS, &er->tag_other);
    stats_of(d, EDITS, &er->tag_other_query);
    stats_of(e, EDITS, &er->untag_other);
    /* imports of new files by the second handle, found by the next query,
     * then removed */
    for (k = 0; k < IMPORT_ROUNDS; k++) {
        const char *paths[1] = { dir };
        int64_t got = 0;
        double t0, t1, t2;
        int f;

        snprintf(dir, sizeof dir, "%s/import-%d-%d", work, (int)getpid(), k);
        if (bench_mkdir_p(dir) != 0)
            goto out;
        for (f = 0; f < IMPORT_FILES; f++) {
            snprintf(path, sizeof path, "%s/benchimport%d hit %d.wav", dir, k, f);
            if (write_wav(path, 2000, (unsigned)(k * IMPORT_FILES + f)) != 0) {
                printf("FAIL cannot write '%s'\n", path);
                goto out;
            }
        }
        snprintf(q, sizeof q, "benchimport%d", k);
        t0 = now_ms();
        if (shelf_import(other, paths, 1, NULL, NULL) != SHELF_OK) {
            printf("FAIL import '%s': %s\n", dir, shelf_errmsg(other));
            goto out;
        }
        t1 = now_ms();
        if (query_total(lib, q, &got) < 0 || got != IMPORT_FILES) {
            printf("FAIL '%s' found %lld, not %d\n", q, (long long)got, IMPORT_FILES);
            goto out;
        }
        t2 = now_ms();
        a[k] = t1 - t0;
        b[k] = t2 - t1;
        /* removed again: the ids from the query */
        {
            shelf_search_opts o;
            shelf_cursor *cur;
            const shelf_sample *s;
            int64_t rm[IMPORT_FILES], n = 0, i;

            memset(&o, 0, sizeof o);
            o.size = sizeof o;
            o.limit = IMPORT_FILES;
            if (shelf_search(lib, q, &o, &cur, &got, &r) != SHELF_OK)
                goto out;
            while (n < IMPORT_FILES && shelf_cursor_next(cur, &s) == SHELF_ROW)
                rm[n++] = s->id;
            shelf_cursor_free(cur);
            for (i = 0; i < n; i++)
                if (shelf_catalog_remove(other, rm[i], SHELF_REMOVE_FORCE) != SHELF_OK)
                    goto out;
            t0 = now_ms();
            if (query_total(lib, q, &got) < 0 || got != 0) {
                printf("FAIL '%s' found %lld after their removal\n", q, (long long)got);
                goto out;
            }
            c[k] = now_ms() - t0;
        }
        bench_rm_rf(dir);
    }
    stats_of(a, IMPORT_ROUNDS, &er->import_ms);
    stats_of(b, IMPORT_ROUNDS, &er->import_query);
    stats_of(c, IMPORT_ROUNDS, &er->rm_query);
    er->ix.size = sizeof er->ix;
    shelf_library_index_stats(lib, &er->ix);
    er->ran = 1;
    rc = er->ix.fallbacks == 0 && er->ix.builds == 1 ? 0 : -1;
    if (rc != 0)
        printf("FAIL the index was rebuilt %llu times: %s\n",
               (unsigned long long)er->ix.fallbacks, er->ix.fallback_why);
out:
    shelf_library_close(other);
    free(a);
    free(b);
    free(c);
    free(d);
    free(e);
    free(ids);
    return rc;
}

static void print_edits(const edit_results *er, int markdown)
{
    static const char *const row = "| %s | %zu | %.2f | %.2f | %.2f |\n";

    if (!er->ran)
        return;
    printf("\nIn place (the next query after a change; whole build %.0f ms)%s\n",
           er->rebuild_ms, markdown ? ":\n" : "");
    printf("| What | n | p50 ms | p99 ms | max ms |\n|---|--:|--:|--:|--:|\n");
    printf(row, "tag added by the handle, + next query", er->tag_same.n, er->tag_same.p50,
           er->tag_same.p99, er->tag_same.max);
    printf(row, "  the next query alone", er->tag_same_query.n, er->tag_same_query.p50,
           er->tag_same_query.p99, er->tag_same_query.max);
    printf(row, "  the same query again, nothing changed", er->again.n, er->again.p50,
           er->again.p99, er->again.max);
    printf(row, "tag added by a second handle, + next query", er->tag_other.n, er->tag_other.p50,
           er->tag_other.p99, er->tag_other.max);
    printf(row, "  the next query alone", er->tag_other_query.n, er->tag_other_query.p50,
           er->tag_other_query.p99, er->tag_other_query.max);
    printf(row, "two tags removed by a second handle, + next query", er->untag_other.n,
           er->untag_other.p50, er->untag_other.p99, er->untag_other.max);
    printf(row, "import of 100 new files (second handle)", er->import_ms.n, er->import_ms.p50,
           er->import_ms.p99, er->import_ms.max);
    printf(row, "  the next query, finding the 100", er->import_query.n, er->import_query.p50,
           er->import_query.p99, er->import_query.max);
    printf(row, "  after removing them, the next query", er->rm_query.n, er->rm_query.p50,
           er->rm_query.p99, er->rm_query.max);
    printf("\nIndex: %llu build, %llu fallback rebuilds, %llu in-place applies of %llu samples.\n",
           (unsigned long long)er->ix.builds, (unsigned long long)er->ix.fallbacks,
           (unsigned long long)er->ix.applies, (unsigned long long)er->ix.applied);
}

/* ------------------------------------------------------------------ */
/* Report                                                             */

typedef struct results {
    const bench_opts *o;
    gen_info gen;
    keystroke *ks;
    size_t nks;
    shelf_pass pass, exact_pass, sql_pass;
    stats shelf, exact, sql, like;      /* over all keystrokes each side ran */
    stats facets;                       /* shelf_search_facets, preloaded */
    shelf_pass facets_pass;
    double preload_ms;                  /* < 0: no preload */
    uint64_t preload_bytes;
    stats shelf_sub, like_sub;          /* over the keystrokes both sides ran */
    double ratio_p50, ratio_p99;
    mem_snap mem[8];
    int nmem;
    const char *libdir;
    char machine[512];
} results;

/* Statistics of one field of the keystrokes that pass the filter. */
enum { F_SHELF, F_EXACT, F_SQL, F_LIKE, F_FACETS };

static double ks_field(const keystroke *k, int f)
{
    return f == F_SHELF ? k->shelf_ms : f == F_EXACT ? k->exact_ms
           : f == F_SQL ? k->sql_ms : f == F_FACETS ? k->facets_ms : k->like_ms;
}

/* kind < 0: every kind; need_like: only keystrokes the baseline ran. */
static void ks_stats(const keystroke *ks, size_t n, int f, int kind, int need_like, stats *out)
{
    double *v = malloc((n ? n : 1) * sizeof *v);
    size_t m = 0;

    memset(out, 0, sizeof *out);
    if (!v)
        return;
    for (size_t i = 0; i < n; i++) {
        double x = ks_field(&ks[i], f);

        if (x < 0 || (kind >= 0 && ks[i].kind != kind) || (need_like && ks[i].like_ms < 0))
            continue;
        v[m++] = x;
    }
    stats_of(v, m, out);
    free(v);
}

static void print_stats_row(const char *label, const stats *s, const char *extra)
{
    if (s->n == 0) {
        printf("  %-40s %8s\n", label, "not run");
        return;
    }
    printf("  %-40s %8.3f %8.3f %8.3f %8.3f %6zu  %s\n", label, s->p50, s->p99, s->max, s->mean,
           s->n, extra);
}

/* Slowest first. */
static int cmp_slow(const void *a, const void *b)
{
    const keystroke *x = a, *y = b;

    return x->shelf_ms > y->shelf_ms ? -1 : x->shelf_ms < y->shelf_ms;
}

static void fmt_total(char *out, size_t size, int64_t total, int exact)
{
    snprintf(out, size, "%" PRId64 "%s", total, exact ? "" : "+");
}

static int aim_p99_met(const results *r)
{
    return r->shelf.n > 0 && r->shelf.p99 <= AIM_P99_MS;
}

static int aim_ratio_met(const results *r)
{
    return r->like_sub.n > 0 && r->ratio_p99 >= AIM_RATIO;
}

static void print_report(results *r)
{
    const gen_info *g = &r->gen;
    char extra[128];
    keystroke *slow;
    size_t ok = 0;

    printf("\nshelf search benchmark (shelf %s, SQLite %s)\n", shelf_version(),
           sqlite3_libversion());
    printf("  library   %s (%s)\n", r->libdir, g->reused ? "reused" : "generated now");
    printf("  machine   %s\n", r->machine);
    printf("  entries   %" PRId64 " samples in %" PRId64 " pack folders; %" PRId64
           " tagged (%" PRId64 " tag links), %" PRId64 " rated, %" PRId64
           " favourites, %" PRId64 " with a root key, %" PRId64 " with an author, %" PRId64
           " missing\n", g->entries, g->roots, g->tagged, g->tag_items, g->rated, g->favourites,
           g->with_key, g->with_author, g->missing);
    printf("  generate  %.1f s (FTS triggers on), baseline table %.1f s, generator max RSS"
           " %.1f MB\n", (double)g->gen_ms / 1e3, (double)g->like_ms / 1e3,
           (double)g->maxrss_kb / 1024.0);
    printf("  catalog   %.1f MB (shelf.db + WAL after a checkpoint, without the baseline's"
           " table)\n", (double)g->catalog_bytes / MB);
    if (g->samples_bytes)
        printf("            samples + indexes %.1f MB, samples_fts %.1f MB, tags/ratings/"
               "favourites %.1f MB; baseline table bench_like + index %.1f MB\n",
               (double)g->samples_bytes / MB, (double)g->fts_bytes / MB,
               (double)g->meta_bytes / MB, (double)g->like_bytes / MB);
    if (r->preload_ms >= 0)
        printf("  preload   shelf_library_preload %.1f ms, index %.1f MB"
               " (shelf_library_preload_bytes)\n", r->preload_ms, (double)r->preload_bytes / MB);
    else
        printf("  preload   none (--no-preload): shelf answers from SQL (FTS5)\n");
    printf("  queries   %zu sequences, %zu keystrokes (every prefix as typed); page of %d,"
           " page cache warm\n\n", ARRAY_LEN(bench_queries), r->nks, PAGE);

    printf("  %-40s %8s %8s %8s %8s %6s\n", "latency per keystroke (ms)", "p50", "p99", "max",
           "mean", "n");
    snprintf(extra, sizeof extra, "%zu failed to parse", r->pass.failed_parse);
    print_stats_row(r->preload_ms >= 0 ? "shelf_search (preloaded)" : "shelf_search (SQL engine)",
                    &r->shelf, extra);
    if (r->o->exact)
        print_stats_row("shelf_search, count_limit -1", &r->exact, "informational");
    if (r->sql.n)
        print_stats_row("shelf_search, SQL engine (no preload)", &r->sql, "informational");
    if (r->facets.n)
        print_stats_row("shelf_search_facets (13 facets)", &r->facets, "");
    if (r->o->baseline) {
        print_stats_row("LIKE '%word%' ORDER BY name + count(*)", &r->like, "filters ignored");
        if (r->o->baseline_every > 1)
            print_stats_row("shelf_search, same keystrokes", &r->shelf_sub, "");
        if (r->like_sub.n)
            printf("  %-40s %8.1fx %7.1fx\n", "ratio LIKE / shelf", r->ratio_p50, r->ratio_p99);
    }

    printf("\n  %-22s %6s %9s %9s %9s   %9s %9s\n", "by kind (shelf, ms)", "n", "p50", "p99",
           "max", "LIKE p50", "LIKE p99");
    for (int kind = 0; kind < NKINDS; kind++) {
        stats s, l;

        ks_stats(r->ks, r->nks, F_SHELF, kind, 0, &s);
        ks_stats(r->ks, r->nks, F_LIKE, kind, 0, &l);
        if (s.n == 0)
            continue;
        printf("  %-22s %6zu %9.3f %9.3f %9.3f   ", kind == KIND_LETTER ? "first letter"
               : bench_kind_names[kind], s.n, s.p50, s.p99, s.max);
        if (l.n)
            printf("%9.2f %9.2f\n", l.p50, l.p99);
        else
            printf("%9s %9s\n", "-", "-");
    }

    printf("\n  memory (this process; MB)   VmRSS    VmHWM\n");
    for (int i = 0; i < r->nmem; i++)
        printf("    %-24s %8.1f %8.1f\n", r->mem[i].label, (double)r->mem[i].rss_kb / 1024.0,
               (double)r->mem[i].hwm_kb / 1024.0);

    printf("\n  aims\n");
    printf("    p99 at most %.0f ms at 1,000,000 entries: %.3f ms, %s%s\n", AIM_P99_MS,
           r->shelf.p99, aim_p99_met(r) ? "met" : "NOT met",
           g->entries == AIM_ENTRIES ? "" : " (this run is not at 1,000,000 entries)");
    if (r->like_sub.n)
        printf("    at least %.0fx faster than LIKE at p99: %.1fx, %s\n", AIM_RATIO, r->ratio_p99,
               aim_ratio_met(r) ? "met" : "NOT met");
    else
        printf("    at least %.0fx faster than LIKE at p99: baseline not run\n", AIM_RATIO);

    printf("\n  parse failures: %zu of %zu keystrokes (partial syntax as typed)%s\n",
           r->pass.failed_parse, r->nks, r->pass.nexamples ? ", e.g.:" : "");
    for (size_t i = 0; i < r->pass.nexamples; i++)
        printf("    %s\n", r->pass.examples[i]);

    /* A shallow copy, sorted: the texts stay owned by r->ks. */
    if ((slow = malloc(r->nks * sizeof *slow)) != NULL) {
        for (size_t i = 0; i < r->nks; i++)
            if (r->ks[i].shelf_ms >= 0)
                slow[ok++] = r->ks[i];
        qsort(slow, ok, sizeof *slow, cmp_slow);
        printf("\n  %d slowest shelf queries (distinct texts; x: times typed in the list)\n"
               "  %9s %5s %9s %9s %9s %10s %4s  %s\n", SLOWEST, "ms", "rows", "total",
               "exact ms", "SQL ms", "LIKE ms", "x", "query");
        for (size_t i = 0, shown = 0; i < ok && shown < SLOWEST; i++) {
            const keystroke *k = &slow[i];
            char tot[32], lk[32], ex[32], sq[32];
            size_t times = 0, seen = 0;

            for (size_t j = 0; j < i; j++)
                seen |= strcmp(slow[j].text, k->text) == 0;
            if (seen)
                continue;
            shown++;
            for (size_t j = 0; j < r->nks; j++)
                times += strcmp(r->ks[j].text, k->text) == 0;

            if (k->shelf_rc == SHELF_OK)
                fmt_total(tot, sizeof tot, k->shelf_total, k->shelf_exact);
            else
                snprintf(tot, sizeof tot, "%s", k->shelf_rc == SHELF_EINVAL ? "(parse)" : "(error)");
            if (k->like_ms >= 0)
                snprintf(lk, sizeof lk, "%.2f", k->like_ms);
            else
                snprintf(lk, sizeof lk, "-");
            if (k->exact_ms >= 0)
                snprintf(ex, sizeof ex, "%.3f", k->exact_ms);
            else
                snprintf(ex, sizeof ex, "-");
            if (k->sql_ms >= 0)
                snprintf(sq, sizeof sq, "%.2f", k->sql_ms);
            else
                snprintf(sq, sizeof sq, "-");
            printf("  %9.3f %5" PRId64 " %9s %9s %9s %10s %4zu  '%s'\n", k->shelf_ms,
                   k->shelf_rows, tot, ex, sq, lk, times, k->text);
        }
        free(slow);
    }
    printf("\n");
}

static void print_markdown(const results *r)
{
    const gen_info *g = &r->gen;
    char date[32] = "?";
    time_t t = time(NULL);
    struct tm tm;
    long hwm = r->nmem ? r->mem[r->nmem - 1].hwm_kb : 0;

    if (gmtime_r(&t, &tm))
        strftime(date, sizeof date, "%Y-%m-%d %H:%M", &tm);
    printf("<!-- bench_search --markdown, shelf %s, SQLite %s; %zu sequences, %zu keystrokes;"
           " MB = 10^6 bytes -->\n", shelf_version(), sqlite3_libversion(),
           ARRAY_LEN(bench_queries), r->nks);
    printf("| Date (UTC) | Machine | Entries | Catalog MB | FTS MB | shelf p50 ms | shelf p99 ms"
           " | shelf max ms | LIKE p50 ms | LIKE p99 ms | LIKE max ms | x p50 | x p99 |\n");
    printf("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
    printf("| %s | %s | %" PRId64 " | %.1f | %.1f | %.3f | %.3f | %.3f | ", date, r->machine,
           g->entries, (double)g->catalog_bytes / MB, (double)g->fts_bytes / MB, r->shelf.p50,
           r->shelf.p99, r->shelf.max);
    if (r->like_sub.n)
        printf("%.1f | %.1f | %.1f | %.1f | %.1f |\n", r->like.p50, r->like.p99, r->like.max,
               r->ratio_p50, r->ratio_p99);
    else
        printf("- | - | - | - | - |\n");
    printf("\n");
    printf("- Aim: p99 at most %.0f ms at 1,000,000 entries: **%.3f ms, %s**%s.\n", AIM_P99_MS,
           r->shelf.p99, aim_p99_met(r) ? "met" : "not met",
           g->entries == AIM_ENTRIES ? "" : " (this run is not at 1,000,000 entries)");
    if (r->like_sub.n)
        printf("- Aim: at least %.0fx faster than `LIKE '%%word%%'` at p99: **%.1fx, %s**.\n",
               AIM_RATIO, r->ratio_p99, aim_ratio_met(r) ? "met" : "not met");
    printf("- shelf: `shelf_search` on one long-lived handle%s, a page of %d (every row stepped)"
           " and the count (default `count_limit`); %zu of %zu keystrokes failed to parse (partial"
           " syntax as typed; counted with their time).\n",
           r->preload_ms >= 0 ? " after `shelf_library_preload`" : " (SQL engine, no preload)",
           PAGE, r->pass.failed_parse, r->nks);
    if (r->preload_ms >= 0)
        printf("- Preload: %.0f ms, index %.1f MB (`shelf_library_preload_bytes`).\n",
               r->preload_ms, (double)r->preload_bytes / MB);
    if (r->sql.n)
        printf("- SQL engine without preload (informational): p50 %.3f ms, p99 %.3f ms, max %.3f"
               " ms.\n", r->sql.p50, r->sql.p99, r->sql.max);
    if (r->o->exact && r->exact.n)
        printf("- shelf with exact counts (`count_limit = -1`, informational): p50 %.3f ms, p99"
               " %.3f ms, max %.3f ms.\n", r->exact.p50, r->exact.p99, r->exact.max);
    if (r->facets.n)
        printf("- Facets (`shelf_search_facets`, 13 facets, 20 values each, the same keystrokes):"
               " p50 %.3f ms, p99 %.3f ms, max %.3f ms.\n", r->facets.p50, r->facets.p99,
               r->facets.max);
    printf("- Baseline: one table `bench_like(id, name, text)`, text = lower(name, full path,"
           " tags, category, author), index on name; per keystroke `SELECT id, name ... WHERE"
           " text LIKE '%%w%%' AND ... ORDER BY name LIMIT %d` and `SELECT count(*)` with the same"
           " WHERE, on a second connection (cache_size as shelf's). Free words only (-word as NOT"
           " LIKE, OR as OR, a phrase as one pattern); field filters ignored, which favours the"
           " baseline.%s\n", PAGE, r->o->baseline_every > 1 ? " Run on every k-th keystroke;"
           " the ratio compares the same keystrokes." : "");
    printf("- Catalog %.1f MB (shelf.db after a checkpoint): samples + indexes %.1f MB, samples_fts"
           " %.1f MB; generated in %.1f s with the FTS triggers on. Process peak RSS (VmHWM)"
           " %.1f MB.\n", (double)g->catalog_bytes / MB, (double)g->samples_bytes / MB,
           (double)g->fts_bytes / MB, (double)g->gen_ms / 1e3, (double)hwm / 1024.0);
}

static void write_csv(const char *path, const keystroke *ks, size_t n)
{
    FILE *f = fopen(path, "w");

    if (!f) {
        fprintf(stderr, "bench_search: cannot write '%s': %s\n", path, strerror(errno));
        return;
    }
    fprintf(f, "seq,kind,shelf_ms,shelf_rc,shelf_rows,shelf_total,shelf_exact,exact_ms,"
               "exact_total,sql_ms,sql_total,like_ms,like_rows,like_total,query\n");
    for (size_t i = 0; i < n; i++) {
        const keystroke *k = &ks[i];

        fprintf(f, "%d,%d,%.4f,%d,%" PRId64 ",%" PRId64 ",%d,%.4f,%" PRId64 ",%.4f,%" PRId64
                ",%.4f,%" PRId64 ",%" PRId64 ",\"", k->seq, k->kind, k->shelf_ms, k->shelf_rc,
                k->shelf_rows, k->shelf_total, k->shelf_exact, k->exact_ms, k->exact_total,
                k->sql_ms, k->sql_total, k->like_ms, k->like_rows, k->like_total);
        for (const char *c = k->text; *c; c++) {
            if (*c == '"')
                fputc('"', f);
            fputc(*c, f);
        }
        fprintf(f, "\"\n");
    }
    if (fclose(f) != 0)
        fprintf(stderr, "bench_search: cannot write '%s'\n", path);
}

/* ------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    bench_opts o;
    results res;
    edit_results edits;
    shelf_library *lib = NULL;
    sqlite3 *like_db = NULL;
    char work[PATH_MAX], libdir[PATH_MAX], dbpath[PATH_MAX], wal[PATH_MAX], name[64];
    char *err = NULL;
    int made_work = 0, failed = 0, status = 1, k;
    shelf_result probe;

    bench_name = "bench_search";
    memset(&res, 0, sizeof res);
    memset(&edits, 0, sizeof edits);
    if ((k = parse_args(argc, argv, &o)) != 0)
        return k > 0 ? 0 : 2;
    res.o = &o;

    /* The work folder: given, or fresh under /tmp. */
    if (o.dir) {
        if (bench_mkdir_p(o.dir) != 0)
            return 1;
        if (!realpath(o.dir, work)) {
            fprintf(stderr, "bench_search: cannot resolve '%s': %s\n", o.dir, strerror(errno));
            return 1;
        }
    } else {
        snprintf(work, sizeof work, "/tmp/shelf-bench-search-XXXXXX");
        if (!mkdtemp(work)) {
            fprintf(stderr, "bench_search: cannot create a folder in /tmp: %s\n",
                    strerror(errno));
            return 1;
        }
        made_work = 1;
    }
    snprintf(name, sizeof name, "library-%" PRIu64, o.entries);
    if (bench_join_path(libdir, sizeof libdir, work, name) != 0 ||
        bench_join_path(dbpath, sizeof dbpath, libdir, "shelf.db") != 0 ||
        bench_join_path(wal, sizeof wal, libdir, "shelf.db-wal") != 0)
        goto out;
    res.libdir = libdir;
    snap_mem(&res.mem[res.nmem++], "start");

    /* 1. The catalog: reused when the marker says it holds N entries. */
    if (read_marker(libdir, &res.gen) == 0 && res.gen.entries == (int64_t)o.entries) {
        res.gen.reused = 1;
        fprintf(stderr, "bench_search: reusing %s (%" PRIu64 " entries)\n", libdir, o.entries);
    } else {
        bench_rm_rf(libdir);
        fprintf(stderr, "bench_search: generating %" PRIu64 " entries in %s\n", o.entries,
                libdir);
        if (generate_child(libdir, o.entries) != 0 || read_marker(libdir, &res.gen) != 0) {
            failed = 1;
            goto out;
        }
    }
    bench_machine_desc(libdir, res.machine, sizeof res.machine);

    /* 2. The keystrokes, and a warm page cache for both sides. */
    if (!(res.ks = make_keystrokes(&res.nks))) {
        fprintf(stderr, "bench_search: out of memory\n");
        goto out;
    }
    warm_file(dbpath);
    warm_file(wal);

    /* 3. shelf: one long-lived handle, as a browser keeps. */
    if ((k = shelf_library_open(libdir, 0, &lib, &err)) != SHELF_OK) {
        fprintf(stderr, "FAIL cannot open library '%s': %s\n", libdir,
                err ? err : shelf_strerror(k));
        shelf_free(err);
        failed = 1;
        goto out;
    }
    snap_mem(&res.mem[res.nmem++], "library open");
    /* Informational: the SQL engine, on a handle of its own that is closed
     * before the preload, so the memory figures stay apart. */
    if (o.sql && o.preload) {
        shelf_library *sql_lib = NULL;

        if ((k = shelf_library_open(libdir, 0, &sql_lib, &err)) != SHELF_OK) {
            fprintf(stderr, "FAIL cannot open library '%s': %s\n", libdir,
                    err ? err : shelf_strerror(k));
            shelf_free(err);
            failed = 1;
            goto out;
        }
        shelf_one(sql_lib, "kick", 0, &probe);
        if (run_shelf(sql_lib, res.ks, res.nks, PASS_SQL, &res.sql_pass) != 0)
            failed = 1;
        shelf_library_close(sql_lib);
        snap_mem(&res.mem[res.nmem++], "after SQL engine pass");
    }
    res.preload_ms = -1.0;
    if (o.preload) {
        double t0 = now_ms();

        if ((k = shelf_library_preload(lib)) != SHELF_OK) {
            printf("FAIL shelf_library_preload: %s: %s\n", shelf_strerror(k), shelf_errmsg(lib));
            failed = 1;
            goto out;
        }
        res.preload_ms = now_ms() - t0;
        res.preload_bytes = shelf_library_preload_bytes(lib);
        snap_mem(&res.mem[res.nmem++], "after preload");
    }
    /* Not timed: the first query loads the schema; it must find rows, or
     * shelf_search is still a stub. */
    shelf_one(lib, "kick", 0, &probe);
    if (probe.rc != SHELF_OK || probe.rows == 0) {
        printf("FAIL shelf_search('kick') gave %s, %" PRId64 " rows (%s): is it implemented?\n",
               shelf_strerror(probe.rc), probe.rows, shelf_errmsg(lib));
        failed = 1;
        goto out;
    }
    if (o.edits == 2) {
        if (!o.preload || run_edits(lib, libdir, work, o.entries, &edits) != 0)
            failed = 1;
        edits.rebuild_ms = res.preload_ms;
        print_edits(&edits, o.markdown);
        status = failed ? 1 : 0;
        goto out;
    }
    if (run_shelf(lib, res.ks, res.nks, PASS_MAIN, &res.pass) != 0)
        failed = 1;
    snap_mem(&res.mem[res.nmem++], "after shelf");
    if (o.edits && o.preload) {
        if (run_edits(lib, libdir, work, o.entries, &edits) != 0)
            failed = 1;
        edits.rebuild_ms = res.preload_ms;
    }
    if (o.exact) {
        if (run_shelf(lib, res.ks, res.nks, PASS_EXACT, &res.exact_pass) != 0)
            failed = 1;
        snap_mem(&res.mem[res.nmem++], "after shelf (exact)");
    }
    if (o.preload) {
        if (run_shelf(lib, res.ks, res.nks, PASS_FACETS, &res.facets_pass) != 0)
            failed = 1;
        snap_mem(&res.mem[res.nmem++], "after facets");
    }

    /* 4. The baseline: a second connection to the same file. */
    if (o.baseline) {
        int64_t rows, total;

        if (sqlite3_open_v2(dbpath, &like_db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
            db_fail(like_db, dbpath);
            failed = 1;
            goto out;
        }
        sqlite3_busy_timeout(like_db, 10000);
        /* The same page cache as shelf's connection (lib/catalog/library.c). */
        if (db_exec(like_db, "PRAGMA cache_size=-16384; PRAGMA temp_store=MEMORY") != 0 ||
            like_one(like_db, "kick", &rows, &total) < 0 || run_like(like_db, res.ks, res.nks,
                                                                      o.baseline_every) != 0) {
            failed = 1;
            goto out;
        }
        snap_mem(&res.mem[res.nmem++], "after LIKE baseline");
    }

    /* 5. The figures. */
    ks_stats(res.ks, res.nks, F_SHELF, -1, 0, &res.shelf);
    ks_stats(res.ks, res.nks, F_EXACT, -1, 0, &res.exact);
    ks_stats(res.ks, res.nks, F_FACETS, -1, 0, &res.facets);
    ks_stats(res.ks, res.nks, F_SQL, -1, 0, &res.sql);
    ks_stats(res.ks, res.nks, F_LIKE, -1, 0, &res.like);
    ks_stats(res.ks, res.nks, F_SHELF, -1, 1, &res.shelf_sub);
    ks_stats(res.ks, res.nks, F_LIKE, -1, 1, &res.like_sub);
    if (res.like_sub.n && res.shelf_sub.p50 > 0 && res.shelf_sub.p99 > 0) {
        res.ratio_p50 = res.like_sub.p50 / res.shelf_sub.p50;
        res.ratio_p99 = res.like_sub.p99 / res.shelf_sub.p99;
    }
    print_report(&res);
    if (o.markdown)
        print_markdown(&res);
    if (o.csv)
        write_csv(o.csv, res.ks, res.nks);
    print_edits(&edits, o.markdown);
    status = failed ? 1 : 0;
out:
    if (failed)
        printf("FAIL: see the lines above\n");
    if (like_db)
        sqlite3_close(like_db);
    shelf_library_close(lib);
    free_keystrokes(res.ks, res.nks);
    fflush(stdout);
    if (made_work && !o.keep)
        bench_rm_rf(work);
    else
        fprintf(stderr, "bench_search: kept %s\n", libdir);
    return status;
}
