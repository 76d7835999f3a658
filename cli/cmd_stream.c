/*
 * cmd_stream.c: the streaming commands: `shelf stream stress|render|monitor`
 * (the stress test with its CSV and plot, which publishes the engine's
 * health when it plays a library's samples; the offline render of a note
 * script; the live health of the engine running on a library),
 * `shelf cache pin|unpin|stats` (the performance set kept in RAM,
 * stored in DIR/cache-pins) and `shelf store frag|optimize` (fragmentation
 * of sample files and rewriting them contiguously).
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sndfile.h>
#include "cli.h"

#if defined(__SANITIZE_ADDRESS__)
/* cairo's text goes through fontconfig, whose caches live until exit by
 * design; LeakSanitizer is told so (a sanitizer hook, only in ASan builds). */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libfontconfig\nleak:libcairo\n";
}
#endif

/* ---- a list of owned strings ----------------------------------------------- */

typedef struct strs {
    char **v;
    size_t n, cap;
} strs;

static int strs_add(strs *s, const char *p)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        char **v = realloc(s->v, cap * sizeof *v);
        if (!v)
            return -1;
        s->v = v;
        s->cap = cap;
    }
    if (!(s->v[s->n] = strdup(p)))
        return -1;
    s->n++;
    return 0;
}

static void strs_free(strs *s)
{
    size_t i;

    for (i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof *s);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "ID<tab>RELPATH" of a sample, for --mirror. */
static int rel_add(strs *rel, const shelf_sample *s)
{
    char buf[PATH_MAX + 32];

    if (snprintf(buf, sizeof buf, "%lld\t%s", (long long)s->id, s->relpath ? s->relpath : "") >=
        (int)sizeof buf)
        return -1;
    return strs_add(rel, buf);
}

/* The file of a catalogued sample (shelf_catalog_path) in buf. */
static int sample_path(shelf_library *lib, const shelf_sample *s, char *buf, size_t size)
{
    char *path = NULL;
    int n = -1;

    if (shelf_catalog_path(lib, s, &path) == SHELF_OK)
        n = snprintf(buf, size, "%s", path);
    shelf_free(path);
    return n > 0 && (size_t)n < size ? 0 : -1;
}

/* Add the files of ids (or paths) to out, and when rel is not NULL
 * "ID<tab>PATH" to rel, PATH the file's path under its root (for --mirror);
 * prints errors; returns exit status. */
static int add_samples(shelf_library *lib, char **args, int n, strs *out, strs *rel)
{
    int i, ex;

    for (i = 0; i < n; i++) {
        const shelf_sample *s;
        shelf_cursor *cur;
        char path[PATH_MAX];
        int64_t id;
        int rc;

        if ((ex = cli_resolve(lib, args[i], &id)) != EXIT_OK)
            return ex;
        if ((rc = shelf_catalog_get(lib, id, &cur, &s)) != SHELF_OK)
            return cli_fail(lib, rc);
        rc = sample_path(lib, s, path, sizeof path) == 0 && !s->missing ? strs_add(out, path) : 1;
        if (!rc && rel)
            rc = rel_add(rel, s);
        shelf_cursor_free(cur);
        if (rc) {
            cli_error("sample %lld has no file to play", (long long)id);
            return EXIT_NOTFOUND;
        }
    }
    return EXIT_OK;
}

/* Every sample a query (or, with NULL, the whole library) finds. */
static int add_query(shelf_library *lib, const char *query, strs *out, strs *rel)
{
    shelf_search_opts so;
    shelf_cursor *cur;
    const shelf_sample *s;
    int rc;

    memset(&so, 0, sizeof so);
    so.size = sizeof so;
    so.limit = -1;
    rc = query ? shelf_search(lib, query, &so, &cur, NULL, NULL) : shelf_catalog_list(lib, NULL, &cur);
    if (rc != SHELF_OK)
        return cli_fail(lib, rc);
    while ((rc = shelf_cursor_next(cur, &s)) == SHELF_ROW) {
        char path[PATH_MAX];
        if (!s->missing && sample_path(lib, s, path, sizeof path) == 0 &&
            (strs_add(out, path) || (rel && rel_add(rel, s)))) {
            shelf_cursor_free(cur);
            cli_error("out of memory");
            return EXIT_FAIL;
        }
    }
    shelf_cursor_free(cur);
    if (rc != SHELF_DONE)
        return cli_fail(lib, rc);
    return EXIT_OK;
}

/* Audio files directly in dir (and below), sorted so runs repeat. */
static int add_dir(const char *dir, strs *out, int depth)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t first = out->n;

    if (!d) {
        cli_error("cannot open '%s': %s", dir, strerror(errno));
        return EXIT_NOTFOUND;
    }
    while ((e = readdir(d))) {
        char path[PATH_MAX];
        struct stat st;
        const char *dot = strrchr(e->d_name, '.');

        if (e->d_name[0] == '.')
            continue;
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path || stat(path, &st))
            continue;
        if (S_ISDIR(st.st_mode) && depth < 8) {
            add_dir(path, out, depth + 1);
        } else if (S_ISREG(st.st_mode) && dot &&
                   (!strcasecmp(dot, ".wav") || !strcasecmp(dot, ".flac") || !strcasecmp(dot, ".ogg") ||
                    !strcasecmp(dot, ".aif") || !strcasecmp(dot, ".aiff"))) {
            if (strs_add(out, path)) {
                closedir(d);
                return EXIT_FAIL;
            }
        }
    }
    closedir(d);
    if (out->n > first)
        qsort(out->v + first, out->n - first, sizeof *out->v, cmp_str);
    return EXIT_OK;
}

/* ---- the pin list (libshelf keeps it: shelf_cache_pins_get/set) ---------- */

/* Files of the pinned samples into out (missing ones are skipped). */
static int pinned_files(shelf_library *lib, strs *out)
{
    int64_t *ids = NULL;
    size_t i, n = 0;
    int rc;

    if ((rc = shelf_cache_pins_get(lib, &ids, &n)) != SHELF_OK)
        return cli_fail(lib, rc);
    for (i = 0; i < n; i++) {
        const shelf_sample *s;
        shelf_cursor *cur;
        char path[PATH_MAX];
        if (shelf_catalog_get(lib, ids[i], &cur, &s) != SHELF_OK)
            continue;
        if (!s->missing && sample_path(lib, s, path, sizeof path) == 0)
            strs_add(out, path);
        shelf_cursor_free(cur);
    }
    shelf_free(ids);
    return EXIT_OK;
}

/* ---- numbers ------------------------------------------------------------------ */

static int num_d(const char *what, const char *s, double lo, double hi, double *out)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (!*s || *end || errno || !(v >= lo && v <= hi)) {
        /* %.15g: whole bounds print whole (3600000, not 3.6e+06) */
        cli_error("invalid %s '%s': a number from %.15g to %.15g", what, s, lo, hi);
        return EXIT_USAGE;
    }
    *out = v;
    return EXIT_OK;
}

static int num_i(const char *what, const char *s, long lo, long hi, long *out)
{
    double d;

    if (num_d(what, s, (double)lo, (double)hi, &d) != EXIT_OK)
        return EXIT_USAGE;
    if (d != (double)(long)d) {
        cli_error("invalid %s '%s': a whole number", what, s);
        return EXIT_USAGE;
    }
    *out = (long)d;
    return EXIT_OK;
}

/* ---- stream stress ------------------------------------------------------------- */

/* The engine's health for the rest of shelf (DIR/stream/health.json). */
typedef struct health_pub {
    shelf_library *lib;
    int warned;
} health_pub;

/* Once a second on the stress run's calling thread, and at its end. */
static void publish_health(void *ud, shelf_stream *s, int last)
{
    health_pub *h = ud;
    int rc = shelf_stream_health_publish(s, h->lib, last);

    if (rc != SHELF_OK && !h->warned) {
        cli_error("warning: cannot publish the engine's health: %s", shelf_errmsg(h->lib));
        h->warned = 1;
    }
}

typedef struct ramp_ctx {
    const cli *c;
    const char *out;
    int best;
    FILE *csv;
} ramp_ctx;

static void print_result(const cli *c, const char *what, const shelf_stress_result *r)
{
    const shelf_stream_stats *t = &r->stats;
    double p99 = 0, late = 0, cbmax = 0, mb = 0;
    size_t i;

    for (i = 0; i < r->nrows; i++) {
        if (r->rows[i].lat_p99_us > p99)
            p99 = r->rows[i].lat_p99_us;
        if (r->rows[i].cb_max_us > cbmax)
            cbmax = r->rows[i].cb_max_us;
        late += (double)r->rows[i].late;
        mb += r->rows[i].mb_per_s;
    }
    if (c->quiet)
        return;
    printf("%s: %s: %llu underruns, %llu not ready, %llu read errors (%llu chunks lost), "
           "%llu voices dropped, %llu late callbacks, %llu latency spikes\n",
           what, r->clean ? "clean" : "NOT clean", (unsigned long long)t->underruns,
           (unsigned long long)t->not_ready, (unsigned long long)t->read_errors,
           (unsigned long long)t->chunks_lost, (unsigned long long)t->voices_dropped,
           (unsigned long long)r->late, (unsigned long long)t->latency_spikes);
    printf("  %llu reads (%.1f MB/s), worst p99 latency %.2f ms, cache %llu hits / %llu misses / "
           "%llu evictions, %llu merged; callback mean %.0f us, max %.0f us, %.0f late; io_uring %s, "
           "O_DIRECT %s, fixed buffers %s, SCHED_FIFO %s\n",
           (unsigned long long)t->reads, r->nrows ? mb / (double)r->nrows : 0, p99 / 1000.0,
           (unsigned long long)t->cache_hits, (unsigned long long)t->cache_misses,
           (unsigned long long)t->cache_evictions, (unsigned long long)t->merged, r->cb_avg_us, cbmax,
           late,
           t->uring ? "yes" : "no", t->direct ? "yes" : "no", t->reads_fixed ? "yes" : "no",
           r->rt ? "yes" : "no");
    printf("  CPU: the scheduler thread %.0f%% of a core, the audio thread %.0f%%; %llu late callbacks "
           "took more CPU than a block's period%s\n", r->sched_cpu_pct, r->audio_cpu_pct,
           (unsigned long long)r->late_cpu,
           !t->mix_run_frames ? "" : t->mix_simd_frames ? "; vector mix yes" : "; vector mix no");
    if (t->feed_frames || r->noffsets)
        printf("  feed: %llu frames copied out, %llu missing, %llu interpolated; pre-roll: %llu not "
               "ready; %llu of %llu blocks played\n", (unsigned long long)t->feed_frames,
               (unsigned long long)t->underrun_frames, (unsigned long long)t->mix_frames,
               (unsigned long long)r->preroll.not_ready, (unsigned long long)t->blocks,
               (unsigned long long)r->blocks_due);
    if (t->failovers || t->failover_switches || t->failover_hedged)
        printf("  failover: %llu reads from the mirror (%llu switches, %llu back to the primary, "
               "%llu hedged); primary failing to mirror serving %.1f ms on average, %.1f ms at most\n",
               (unsigned long long)t->failovers, (unsigned long long)t->failover_switches,
               (unsigned long long)t->failover_returns, (unsigned long long)t->failover_hedged,
               t->failover_avg_us / 1000.0, t->failover_max_us / 1000.0);
    if (t->mirror_down || t->mirror_fallbacks)
        printf("  mirrors: %llu failed (%llu back), %llu reads handed back to the primary\n",
               (unsigned long long)t->mirror_down, (unsigned long long)t->mirror_returns,
               (unsigned long long)t->mirror_fallbacks);
}

/* The engine's failover lines (its scheduler thread): to stderr. */
static void stream_log(void *ud, const char *line)
{
    (void)ud;
    fprintf(stderr, "shelf: %s\n", line);
}

/* FROM[:TO] seconds of --fail-primary / --slow-primary. */
static int fail_window(const char *arg, double *from, double *until)
{
    char buf[64], *colon;

    snprintf(buf, sizeof buf, "%s", arg);
    *until = 0;
    if ((colon = strchr(buf, ':'))) {
        *colon = 0;
        if (num_d("end of the failure", colon + 1, 0.001, 86400, until))
            return 1;
    }
    if (num_d("start of the failure", buf, 0.001, 86400, from))
        return 1;
    if (*until && *until <= *from) {
        cli_error("invalid failure window '%s': it ends before it starts", arg);
        return 1;
    }
    return 0;
}

/* One file of an export-media index (a card, a set list's medium). */
typedef struct idx_ent {
    int64_t id;
    char *path;
} idx_ent;

static int cmp_idx(const void *a, const void *b)
{
    const idx_ent *x = a, *y = b;

    return x->id < y->id ? -1 : x->id > y->id;
}

/* In place: the index's escapes \\, \t, \n, \r (doc/formats.md). */
static void unescape_field(char *p)
{
    char *w = p;

    for (; *p; p++) {
        if (*p == '\\' && p[1]) {
            p++;
            *w++ = *p == 't' ? '\t' : *p == 'n' ? '\n' : *p == 'r' ? '\r' : *p;
        } else {
            *w++ = *p;
        }
    }
    *w = 0;
}

/*
 * DIR/index when DIR is an export-media card or a set list's medium
 * (doc/formats.md, "export-media index"): the files by sample id, sorted.
 * -1 when DIR has no index, 0 when read, an exit status on errors (printed).
 */
static int load_index(const char *dir, idx_ent **out, size_t *n)
{
    static const char magic[] = "# shelf export-media index 1";
    char path[PATH_MAX], *line = NULL;
    size_t cap = 0, have = 0;
    ssize_t len;
    idx_ent *v = NULL;
    FILE *f;
    int ex = 0, first = 1;

    *out = NULL;
    *n = 0;
    if (snprintf(path, sizeof path, "%s/index", dir) >= (int)sizeof path || !(f = fopen(path, "r")))
        return -1;
    while ((len = getline(&line, &cap, f)) >= 0) {
        char *fld[4], *p = line;
        int k;
        if (len > 0 && line[len - 1] == '\n')
            line[--len] = 0;
        if (first) {
            first = 0;
            if (strcmp(line, magic) != 0) {
                cli_error("'%s' is not an export-media index (its first line is not '%s')", path, magic);
                ex = EXIT_FAIL;
                break;
            }
            continue;
        }
        if (line[0] == '#')
            continue;
        for (k = 0; k < 4 && p; k++) {
            fld[k] = p;
            if ((p = strchr(p, '\t')))
                *p++ = 0;
        }
        /* path, size, sha256, id; a file not written yet has an all-zero hash. */
        if (k < 4 || strspn(fld[2], "0") == strlen(fld[2]))
            continue;
        if (*n == have) {
            size_t nc = have ? 2 * have : 256;
            idx_ent *g = realloc(v, nc * sizeof *g);
            if (!g) {
                ex = EXIT_FAIL;
                break;
            }
            v = g;
            have = nc;
        }
        unescape_field(fld[0]);
        v[*n].id = strtoll(fld[3], NULL, 10);
        if (!(v[*n].path = strdup(fld[0]))) {
            ex = EXIT_FAIL;
            break;
        }
        (*n)++;
    }
    free(line);
    (void)fclose(f);            /* read only: nothing to lose */
    if (ex == 0 && first) {
        cli_error("'%s' is empty", path);
        ex = EXIT_FAIL;
    }
    if (ex) {
        while (*n > 0)
            free(v[--*n].path);
        free(v);
        return ex;
    }
    if (v)
        qsort(v, *n, sizeof *v, cmp_idx);
    *out = v;
    return 0;
}

/*
 * The mirror of each file into out ("" for none), shared by `stream stress
 * --mirror` and `stream render --mirror`.  rels->v[i] is "ID<tab>PATH" of
 * files->v[i]: ID 0 for a file given by path (--dir, a note script's
 * sample), PATH its path under --dir or the script's folder ("" for none:
 * no copy); for a library's sample, the file of its id in MIRROR/index when
 * MIRROR is a card or a set list's medium (`shelf setlist mirror`, `shelf
 * export-media`), else MIRROR plus PATH, its path under its root.
 */
static int mirror_paths(const char *mirror, const strs *files, const strs *rels, strs *out)
{
    size_t i, j, nidx = 0, none = 0;
    idx_ent *idx = NULL;
    int ex = EXIT_OK, by_index = 0;

    for (i = 0; i < rels->n && strtoll(rels->v[i], NULL, 10) <= 0; i++)
        ;
    if (i < rels->n) {          /* a library's samples: by id when indexed */
        if ((ex = load_index(mirror, &idx, &nidx)) > 0)
            return ex;
        by_index = ex == 0;
        ex = EXIT_OK;
    }
    for (i = 0; i < files->n && ex == EXIT_OK; i++) {
        char path[PATH_MAX];
        int64_t id = strtoll(rels->v[i], NULL, 10);
        const char *rel = strchr(rels->v[i], '\t') + 1;
        if (by_index && id > 0) {
            idx_ent key = { id, NULL }, *e;
            e = idx ? bsearch(&key, idx, nidx, sizeof *idx, cmp_idx) : NULL;
            rel = e ? e->path : "";
        }
        while (*rel == '/')
            rel++;
        if (!*rel)
            none++;
        if (*rel && snprintf(path, sizeof path, "%s/%s", mirror, rel) >= (int)sizeof path) {
            cli_error("no mirror path for '%s'", files->v[i]);
            ex = EXIT_USAGE;
        } else if (strs_add(out, *rel ? path : "")) {
            cli_error("out of memory");
            ex = EXIT_FAIL;
        }
    }
    if (ex == EXIT_OK && none)
        cli_error("warning: %zu of %zu samples have no copy on '%s'", none, files->n, mirror);
    for (j = 0; idx && j < nidx; j++)
        free(idx[j].path);
    free(idx);
    return ex;
}

/* "0<tab>PATH" for a file given by path: PATH is file under base ("" when
 * it is not below base), for mirror_paths. */
static int rel_add_under(strs *rel, const char *file, const char *base)
{
    size_t bl = strlen(base);
    const char *under = "";
    char buf[PATH_MAX + 8];

    while (bl > 1 && base[bl - 1] == '/')
        bl--;
    if (!strncmp(file, base, bl) && file[bl] == '/')
        under = file + bl + 1;
    if (snprintf(buf, sizeof buf, "0\t%s", under) >= (int)sizeof buf)
        return -1;
    return strs_add(rel, buf);
}

/* The mirrors of files as an array for the options (NULL for a file with
 * none), or NULL out of memory (said). */
static const char **mirror_array(const strs *mirrors)
{
    const char **v = calloc(mirrors->n + 1, sizeof *v);
    size_t i;

    if (!v) {
        cli_error("out of memory");
        return NULL;
    }
    for (i = 0; i < mirrors->n; i++)
        v[i] = mirrors->v[i][0] ? mirrors->v[i] : NULL;
    return v;
}

static int write_outputs(const char *dir, const char *stem, const shelf_stress_result *r,
                         const char *title)
{
    char path[PATH_MAX];

    snprintf(path, sizeof path, "%s/%s.csv", dir, stem);
    if (shelf_stress_write_csv(r, path) != SHELF_OK) {
        cli_error("cannot write '%s'", path);
        return EXIT_FAIL;
    }
    snprintf(path, sizeof path, "%s/%s.png", dir, stem);
    if (shelf_stress_plot(r, title, path) != SHELF_OK) {
        cli_error("cannot write '%s'", path);
        return EXIT_FAIL;
    }
    return EXIT_OK;
}

static void on_step(void *ud, int voices, const shelf_stress_result *r)
{
    ramp_ctx *rc = ud;
    char what[64], title[96];

    snprintf(what, sizeof what, "%d voices", voices);
    print_result(rc->c, what, r);
    if (rc->csv)
        fprintf(rc->csv, "%d,%d,%llu,%llu,%llu,%llu\n", voices, r->clean,
                (unsigned long long)r->stats.underruns, (unsigned long long)r->stats.not_ready,
                (unsigned long long)r->stats.read_errors, (unsigned long long)r->stats.voices_dropped);
    if (rc->out && r->clean && voices > rc->best) {
        snprintf(title, sizeof title, "%d voices", voices);
        write_outputs(rc->out, "stress", r, title);
    }
    if (r->clean && voices > rc->best)
        rc->best = voices;
    (void)fflush(stdout);
}

static int stream_stress(const cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "voices", required_argument, NULL, 'v' }, { "ramp", no_argument, NULL, 'R' },
        { "duration", required_argument, NULL, 'd' }, { "block", required_argument, NULL, 'b' },
        { "rate", required_argument, NULL, 'r' }, { "cold", no_argument, NULL, 'C' },
        { "inject-errors", required_argument, NULL, 'e' },
        { "inject-latency", required_argument, NULL, 'l' }, { "out", required_argument, NULL, 'o' },
        { "dir", required_argument, NULL, 'D' }, { "query", required_argument, NULL, 'Q' },
        { "seed", required_argument, NULL, 's' }, { "cache", required_argument, NULL, 'c' },
        { "chunk", required_argument, NULL, 'k' }, { "queue", required_argument, NULL, 'q' },
        { "head", required_argument, NULL, 'H' }, { "max-voices", required_argument, NULL, 'M' },
        { "no-direct", no_argument, NULL, 'N' }, { "no-uring", no_argument, NULL, 'U' },
        { "no-fixed", no_argument, NULL, 'B' }, { "no-simd", no_argument, NULL, 'V' },
        { "mirror", required_argument, NULL, 'm' },
        { "fail-primary", required_argument, NULL, 'F' },
        { "slow-primary", required_argument, NULL, 'S' },
        { "failover", required_argument, NULL, 'f' }, { "recheck", required_argument, NULL, 'K' },
        { "feed", no_argument, NULL, 'P' }, { "worst", no_argument, NULL, 'W' },
        { "preroll", required_argument, NULL, 'p' }, { "no-reserve", no_argument, NULL, 'X' },
        { NULL, 0, NULL, 0 }
    };
    shelf_stream_opts eo;
    shelf_stress_opts so;
    shelf_library *lib = NULL;
    strs files = { 0 }, pins = { 0 }, rels = { 0 }, mirrors = { 0 };
    const char *dir = NULL, *query = NULL, *out = NULL, *mirror = NULL;
    const char **mirror_v = NULL;
    size_t i;
    health_pub pub = { NULL, 0 };
    int opt, ramp = 0, ex = EXIT_OK, rc;
    long maxv = 2000, l;
    double d;
    char *msg = NULL;

    memset(&eo, 0, sizeof eo);
    eo.size = sizeof eo;
    memset(&so, 0, sizeof so);
    so.size = sizeof so;
    so.duration = 10;
    FOR_OPTS(opt, argc, argv, "", longopts) {
        switch (opt) {
        case 'v': if (num_i("voice count", optarg, 1, 8000, &l)) return EXIT_USAGE; so.voices = (int)l; break;
        case 'R': ramp = 1; break;
        case 'd': if (num_d("duration", optarg, 1, 86400, &so.duration)) return EXIT_USAGE; break;
        case 'b': if (num_i("block", optarg, 16, 8192, &l)) return EXIT_USAGE; so.block = (uint32_t)l; break;
        case 'r': if (num_i("rate", optarg, 8000, 384000, &l)) return EXIT_USAGE; eo.rate = (int)l; break;
        case 'C': so.cold = 1; break;
        case 'e': if (num_d("error rate", optarg, 0, 1, &eo.fault_error_rate)) return EXIT_USAGE; break;
        case 'l': {
            char *at = strchr(optarg, '@');
            if (!at) {
                cli_error("invalid latency '%s': want MS@RATE, e.g. 40@0.01", optarg);
                return EXIT_USAGE;
            }
            *at = 0;
            if (num_i("latency", optarg, 1, 60000, &l) || num_d("latency rate", at + 1, 0, 1, &d))
                return EXIT_USAGE;
            eo.fault_delay_ms = (uint32_t)l;
            eo.fault_delay_rate = d;
            break;
        }
        case 'o': out = optarg; break;
        case 'D': dir = optarg; break;
        case 'Q': query = optarg; break;
        case 's': if (num_i("seed", optarg, 1, LONG_MAX, &l)) return EXIT_USAGE; so.seed = (uint64_t)l; eo.fault_seed = (uint64_t)l; break;
        case 'c': if (num_i("cache size (MB)", optarg, 1, 1 << 20, &l)) return EXIT_USAGE; eo.cache_bytes = (uint64_t)l << 20; break;
        case 'k': if (num_i("chunk size (KiB)", optarg, 4, 16384, &l)) return EXIT_USAGE; eo.chunk_bytes = (uint32_t)l << 10; break;
        case 'q': if (num_i("queue depth", optarg, 1, 4096, &l)) return EXIT_USAGE; eo.queue_depth = (int)l; break;
        case 'H': if (num_i("head (ms)", optarg, 1, 60000, &l)) return EXIT_USAGE; eo.head_ms = (uint32_t)l; break;
        case 'M': if (num_i("max voices", optarg, 1, 8000, &l)) return EXIT_USAGE; maxv = l; break;
        case 'N': eo.flags |= SHELF_STREAM_NO_DIRECT; break;
        case 'U': eo.flags |= SHELF_STREAM_NO_URING; break;
        case 'B': eo.flags |= SHELF_STREAM_NO_FIXED; break;
        case 'V': eo.flags |= SHELF_STREAM_NO_SIMD; break;
        case 'm': mirror = optarg; break;
        case 'F': if (fail_window(optarg, &so.fail_at, &so.fail_until)) return EXIT_USAGE; break;
        case 'S': {
            char *at = strchr(optarg, '@');
            if (!at) {
                cli_error("invalid slow primary '%s': want MS@FROM[:TO], e.g. 300@2:5", optarg);
                return EXIT_USAGE;
            }
            *at = 0;
            if (num_i("slow primary (ms)", optarg, 1, 60000, &l) ||
                fail_window(at + 1, &so.fail_at, &so.fail_until))
                return EXIT_USAGE;
            so.fail_slow_ms = (uint32_t)l;
            break;
        }
        case 'f': if (num_i("failover deadline (ms)", optarg, 1, 60000, &l)) return EXIT_USAGE; eo.failover_ms = (uint32_t)l; break;
        case 'K': if (num_i("recheck (ms)", optarg, 1, 3600000, &l)) return EXIT_USAGE; eo.recheck_ms = (uint32_t)l; break;
        case 'P': so.feed_only = 1; break;
        case 'W': so.script = SHELF_STRESS_WORST; break;
        case 'p': if (num_d("pre-roll", optarg, 0.1, 60, &so.preroll)) return EXIT_USAGE; break;
        case 'X': so.no_reserve = 1; break;
        default: return EXIT_USAGE;
        }
    }
    eo.log = stream_log;
    if (ramp && so.voices == 0)
        so.voices = 16;
    if (dir) {
        if ((ex = add_dir(dir, &files, 0)) != EXIT_OK)
            goto out;
    } else {
        if ((ex = cli_open(c, SHELF_OPEN_READONLY, &lib)) != EXIT_OK)
            goto out;
        if (optind + 1 < argc)
            ex = add_samples(lib, argv + optind + 1, argc - optind - 1, &files, &rels);
        else
            ex = add_query(lib, query, &files, &rels);
        if (ex == EXIT_OK)
            ex = pinned_files(lib, &pins);
        if (ex != EXIT_OK)
            goto out;
    }
    if (files.n == 0) {
        cli_error("no sample files to play (use --dir, a --query, or sample ids)");
        ex = EXIT_NOTFOUND;
        goto out;
    }
    /* The worst case gives each voice a file of its own. */
    if (so.script == SHELF_STRESS_WORST && (long)files.n < (ramp ? 1 : so.voices ? so.voices : 64)) {
        cli_error("--worst needs a sample file per voice: %zu files for %d voices", files.n,
                  so.voices ? so.voices : 64);
        ex = EXIT_USAGE;
        goto out;
    }
    if (so.script == SHELF_STRESS_WORST && maxv > (long)files.n)
        maxv = (long)files.n;
    if (ramp && so.voices > maxv)
        so.voices = (int)maxv;
    if (mirror) {
        for (i = 0; dir && i < files.n; i++)
            if (rel_add_under(&rels, files.v[i], dir)) {
                cli_error("out of memory");
                ex = EXIT_FAIL;
                goto out;
            }
        if ((ex = mirror_paths(mirror, &files, &rels, &mirrors)) != EXIT_OK)
            goto out;
        if (!(mirror_v = mirror_array(&mirrors))) {
            ex = EXIT_FAIL;
            goto out;
        }
        so.mirrors = mirror_v;
    }
    so.pins = (const char *const *)pins.v;
    so.npins = pins.n;
    so.stop = &cli_interrupted;
    if (lib) {
        pub.lib = lib;
        so.tick = publish_health;
        so.tick_ud = &pub;
    }
    cli_catch_signals();
    if (out && cli_mkdirs(out) != 0) {
        cli_error("cannot create '%s': %s", out, strerror(errno));
        ex = EXIT_FAIL;
        goto out;
    }
    if (!c->quiet && !c->json)
        printf("%zu sample files%s\n", files.n, pins.n ? ", some pinned" : "");
    if (ramp) {
        ramp_ctx rx = { c, out, 0, NULL };
        int best = 0;
        char path[PATH_MAX];
        if (out) {
            snprintf(path, sizeof path, "%s/ramp.csv", out);
            if ((rx.csv = fopen(path, "w")))
                fprintf(rx.csv, "voices,clean,underruns,not_ready,read_errors,dropped\n");
        }
        rc = shelf_stress_ramp((const char *const *)files.v, files.n, &eo, &so, (int)maxv, &best,
                               on_step, &rx, &msg);
        if (rx.csv && fclose(rx.csv) != 0 && rc == SHELF_OK) {
            cli_error("cannot write '%s': %s", path, strerror(errno));
            ex = EXIT_FAIL;
            goto out;
        }
        if (rc != SHELF_OK) {
            cli_error("%s", msg ? msg : shelf_strerror(rc));
            ex = cli_exit_for(rc);
            goto out;
        }
        if (c->json)
            cli_print_json(json_pack("{s:i}", "best_clean_voices", best));
        else
            printf("highest clean polyphony: %d voices\n", best);
    } else {
        shelf_stress_result *r = NULL;
        char title[96];
        if ((rc = shelf_stress_run((const char *const *)files.v, files.n, &eo, &so, &r, &msg)) != SHELF_OK) {
            cli_error("%s", msg ? msg : shelf_strerror(rc));
            ex = cli_exit_for(rc);
            goto out;
        }
        snprintf(title, sizeof title, "%d voices", so.voices ? so.voices : 64);
        if (c->json) {
            const shelf_stream_stats *t = &r->stats;
            json_t *j = json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
                                     "s:I, s:I, s:I, s:I, s:f, s:f}",
                                     "clean", r->clean, "late", (json_int_t)r->late,
                                     "underruns", (json_int_t)t->underruns,
                                     "not_ready", (json_int_t)t->not_ready,
                                     "read_errors", (json_int_t)t->read_errors,
                                     "chunks_lost", (json_int_t)t->chunks_lost,
                                     "dropped", (json_int_t)t->voices_dropped,
                                     "spikes", (json_int_t)t->latency_spikes,
                                     "reads", (json_int_t)t->reads,
                                     "cache_hits", (json_int_t)t->cache_hits,
                                     "cache_misses", (json_int_t)t->cache_misses,
                                     "seconds", (json_int_t)r->nrows,
                                     "failovers", (json_int_t)t->failovers,
                                     "failover_switches", (json_int_t)t->failover_switches,
                                     "failover_returns", (json_int_t)t->failover_returns,
                                     "failover_hedged", (json_int_t)t->failover_hedged,
                                     "failover_avg_ms", t->failover_avg_us / 1000.0,
                                     "failover_max_ms", t->failover_max_us / 1000.0);
            /* The mirrors' own failures, and what loops hold in RAM. */
            if (j && (json_object_set_new(j, "mirror_down", json_integer((json_int_t)t->mirror_down)) ||
                      json_object_set_new(j, "mirror_returns", json_integer((json_int_t)t->mirror_returns)) ||
                      json_object_set_new(j, "mirror_fallbacks",
                                          json_integer((json_int_t)t->mirror_fallbacks)) ||
                      json_object_set_new(j, "loop_ram_bytes", json_integer((json_int_t)t->loop_ram_bytes)))) {
                json_decref(j);
                j = NULL;
            }
            /* The feed figures. */
            if (j && (json_object_set_new(j, "feed_only", json_boolean(so.feed_only)) ||
                      json_object_set_new(j, "feed_frames", json_integer((json_int_t)t->feed_frames)) ||
                      json_object_set_new(j, "mix_frames", json_integer((json_int_t)t->mix_frames)) ||
                      json_object_set_new(j, "mix_run_frames", json_integer((json_int_t)t->mix_run_frames)) ||
                      json_object_set_new(j, "merged", json_integer((json_int_t)t->merged)) ||
                      json_object_set_new(j, "inflight_max", json_integer((json_int_t)t->inflight_max)) ||
                      json_object_set_new(j, "uring_submits", json_integer((json_int_t)t->uring_submits)) ||
                      json_object_set_new(j, "buffers_reused",
                                          json_integer((json_int_t)t->buffers_reused)) ||
                      json_object_set_new(j, "reads_early", json_integer((json_int_t)t->reads_early)) ||
                      json_object_set_new(j, "buffers_fresh",
                                          json_integer((json_int_t)t->buffers_fresh)) ||
                      json_object_set_new(j, "reserve_bytes",
                                          json_integer((json_int_t)t->reserve_bytes)) ||
                      json_object_set_new(j, "reserve_used", json_integer((json_int_t)t->reserve_used)) ||
                      json_object_set_new(j, "chunks_delivered",
                                          json_integer((json_int_t)t->chunks_delivered)) ||
                      json_object_set_new(j, "reads_fixed", json_integer((json_int_t)t->reads_fixed)) ||
                      json_object_set_new(j, "mix_simd_frames",
                                          json_integer((json_int_t)t->mix_simd_frames)) ||
                      json_object_set_new(j, "sched_cpu_pct", json_real(r->sched_cpu_pct)) ||
                      json_object_set_new(j, "audio_cpu_pct", json_real(r->audio_cpu_pct)) ||
                      json_object_set_new(j, "late_cpu", json_integer((json_int_t)r->late_cpu)) ||
                      json_object_set_new(j, "blocks", json_integer((json_int_t)t->blocks)) ||
                      json_object_set_new(j, "blocks_due", json_integer((json_int_t)r->blocks_due)) ||
                      json_object_set_new(j, "preroll_not_ready",
                                          json_integer((json_int_t)r->preroll.not_ready)))) {
                json_decref(j);
                j = NULL;
            }
            cli_print_json(j);
        } else {
            print_result(c, title, r);
        }
        if (out)
            ex = write_outputs(out, "stress", r, title);
        shelf_stress_free(r);
    }
    if (cli_interrupted)
        ex = EXIT_INTERRUPTED;
out:
    free(msg);
    strs_free(&files);
    strs_free(&pins);
    strs_free(&rels);
    strs_free(&mirrors);
    free(mirror_v);
    shelf_library_close(lib);
    return ex;
}

/* ---- stream render -------------------------------------------------------------- */

static int write_wav(const char *path, const float *pcm, int64_t frames, int rate)
{
    SF_INFO info;
    SNDFILE *sf;
    sf_count_t got;

    memset(&info, 0, sizeof info);
    info.samplerate = rate;
    info.channels = 2;
    info.format = SF_FORMAT_WAV | SF_FORMAT_FLOAT;
    if (!(sf = sf_open(path, SFM_WRITE, &info))) {
        cli_error("cannot write '%s': %s", path, sf_strerror(NULL));
        return EXIT_FAIL;
    }
    sf_command(sf, SFC_SET_NORM_FLOAT, NULL, SF_FALSE);
    /* No PEAK chunk: it carries a time stamp, and equal renders should
     * give equal files. */
    sf_command(sf, SFC_SET_ADD_PEAK_CHUNK, NULL, SF_FALSE);
    got = sf_writef_float(sf, pcm, frames);
    if (sf_close(sf) != 0 || got != frames) {
        cli_error("cannot write '%s': disk full?", path);
        return EXIT_FAIL;
    }
    return EXIT_OK;
}

static int stream_render(const cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "ram", no_argument, NULL, 'r' }, { "check", no_argument, NULL, 'c' },
        { "block", required_argument, NULL, 'b' }, { "chunk", required_argument, NULL, 'k' },
        { "head", required_argument, NULL, 'H' }, { "mirror", required_argument, NULL, 'm' },
        { "fail-primary", no_argument, NULL, 'F' }, { "loop-ram", required_argument, NULL, 'L' },
        { "recheck", required_argument, NULL, 'K' }, { NULL, 0, NULL, 0 }
    };
    shelf_stream_opts eo;
    shelf_stream_stats st;
    shelf_notes *n = NULL;
    shelf_library *lib = NULL;
    strs paths = { 0 }, rels = { 0 }, mirrors = { 0 };
    const char *mirror = NULL, **mirror_v = NULL;
    float *pcm = NULL, *ref = NULL;
    int64_t frames = 0, rframes = 0;
    char *text = NULL, *msg = NULL, scriptdir[PATH_MAX], *slash;
    int opt, ram = 0, check = 0, fail = 0, ex = EXIT_OK, rc;
    long block = 128, l;
    size_t i, len = 0;
    FILE *f;

    memset(&eo, 0, sizeof eo);
    eo.size = sizeof eo;
    FOR_OPTS(opt, argc, argv, "", longopts) {
        switch (opt) {
        case 'r': ram = 1; break;
        case 'c': check = 1; break;
        case 'b': if (num_i("block", optarg, 1, 8192, &block)) return EXIT_USAGE; break;
        case 'k': if (num_i("chunk size (KiB)", optarg, 4, 16384, &l)) return EXIT_USAGE; eo.chunk_bytes = (uint32_t)l << 10; break;
        case 'H': if (num_i("head (ms)", optarg, 1, 60000, &l)) return EXIT_USAGE; eo.head_ms = (uint32_t)l; break;
        case 'm': mirror = optarg; break;
        case 'F': fail = 1; break;
        case 'K': if (num_i("recheck (ms)", optarg, 1, 3600000, &l)) return EXIT_USAGE; eo.recheck_ms = (uint32_t)l; break;
        case 'L':
            if (num_i("loop RAM (MB)", optarg, 1, 1 << 20, &l))
                return EXIT_USAGE;
            /* The cache holds the loops: room for them and the rest. */
            eo.loop_ram_max = (uint64_t)l << 20;
            eo.cache_bytes = eo.loop_ram_max + (256u << 20);
            break;
        default: return EXIT_USAGE;
        }
    }
    if (argc - optind != 3) {
        cli_error("usage: shelf stream render [--ram] [--check] [--mirror DIR] [--fail-primary] "
                  "[--recheck MS] [--loop-ram MB] SCRIPT OUT.wav");
        return EXIT_USAGE;
    }
    if (!(f = fopen(argv[optind + 1], "rb"))) {
        cli_error("cannot open '%s': %s", argv[optind + 1], strerror(errno));
        return errno == ENOENT ? EXIT_NOTFOUND : EXIT_FAIL;
    }
    if (!(text = malloc(16 << 20))) {
        (void)fclose(f);
        cli_error("out of memory");
        return EXIT_FAIL;
    }
    len = fread(text, 1, 16 << 20, f);
    if (ferror(f) || len == 16 << 20) {
        (void)fclose(f);
        free(text);
        cli_error("cannot read '%s': %s", argv[optind + 1], len ? "larger than 16 MB" : "read error");
        return EXIT_FAIL;
    }
    (void)fclose(f);      /* read only: everything was read */
    if ((rc = shelf_notes_parse(text, len, &n, &msg)) != SHELF_OK) {
        cli_error("%s: %s", argv[optind + 1], msg ? msg : shelf_strerror(rc));
        ex = rc == SHELF_EFORMAT ? EXIT_USAGE : EXIT_FAIL;
        goto out;
    }
    snprintf(scriptdir, sizeof scriptdir, "%s", argv[optind + 1]);
    if ((slash = strrchr(scriptdir, '/')))
        *slash = 0;
    else
        snprintf(scriptdir, sizeof scriptdir, ".");
    /* Sample paths: relative to the script, or a catalog id as "#ID". */
    for (i = 0; i < n->nsamples; i++) {
        const char *p = n->samples[i];
        char path[2 * PATH_MAX];
        if (p[0] == '#') {
            char *one[1] = { (char *)p + 1 };
            if (!lib && (ex = cli_open(c, SHELF_OPEN_READONLY, &lib)) != EXIT_OK)
                goto out;
            if ((ex = add_samples(lib, one, 1, &paths, &rels)) != EXIT_OK)
                goto out;
            continue;
        }
        if (p[0] == '/')
            snprintf(path, sizeof path, "%s", p);
        else
            snprintf(path, sizeof path, "%s/%s", scriptdir, p);
        /* No such file: the path may be written as its text (%XX for a
         * byte, %0A for a newline a line cannot hold; shelf_name_escape). */
        if (access(path, F_OK) != 0 && shelf_name_needs_escape(p, 0)) {
            char *raw = NULL;

            if (shelf_name_unescape(path, &raw) == SHELF_OK && access(raw, F_OK) == 0)
                snprintf(path, sizeof path, "%s", raw);
            shelf_free(raw);
        }
        if (strs_add(&paths, path) || rel_add_under(&rels, path, scriptdir)) {
            cli_error("out of memory");
            ex = EXIT_FAIL;
            goto out;
        }
    }
    if (mirror) {
        if ((ex = mirror_paths(mirror, &paths, &rels, &mirrors)) != EXIT_OK)
            goto out;
        if (!(mirror_v = mirror_array(&mirrors))) {
            ex = EXIT_FAIL;
            goto out;
        }
        eo.mirrors = mirror_v;
    }
    if (fail) {
        /* Every read of the primaries fails (the engine's fault layer):
         * what a mirror is for.  A RAM render reads none of them. */
        eo.fault_error_rate = 1;
        eo.fault_medium = SHELF_STREAM_PRIMARY;
    }
    if (ram || check)
        eo.flags = SHELF_STREAM_RAM;
    if ((rc = shelf_notes_render(n, (const char *const *)paths.v, &eo, (uint32_t)block, &pcm, &frames,
                                 &st, &msg)) != SHELF_OK) {
        cli_error("%s", msg ? msg : shelf_strerror(rc));
        ex = cli_exit_for(rc);
        goto out;
    }
    if (check) {
        shelf_stream_stats st2;
        free(msg);
        msg = NULL;
        eo.flags = 0;
        ref = pcm;
        rframes = frames;
        pcm = NULL;
        if ((rc = shelf_notes_render(n, (const char *const *)paths.v, &eo, (uint32_t)block, &pcm,
                                     &frames, &st2, &msg)) != SHELF_OK) {
            cli_error("%s", msg ? msg : shelf_strerror(rc));
            ex = cli_exit_for(rc);
            goto out;
        }
        st = st2;
        if (rframes != frames || memcmp(ref, pcm, (size_t)frames * 2 * sizeof(float)) != 0) {
            cli_error("the streamed render differs from the RAM render");
            ex = EXIT_FAIL;
        } else if (!c->quiet && !c->json) {
            printf("streamed render is bit-identical to the RAM render\n");
        }
    }
    if (ex == EXIT_OK)
        ex = write_wav(argv[optind + 2], pcm, frames, n->rate);
    if (ex == EXIT_OK && c->json)
        cli_print_json(json_pack("{s:I, s:i, s:I, s:I, s:I, s:b, s:I, s:I, s:I, s:I}", "frames",
                                 (json_int_t)frames, "rate", n->rate,
                                 "voices", (json_int_t)st.voices_started,
                                 "reads", (json_int_t)st.reads, "underruns", (json_int_t)st.underruns,
                                 "identical", check, "read_errors", (json_int_t)st.read_errors,
                                 "chunks_lost", (json_int_t)st.chunks_lost,
                                 "failovers", (json_int_t)st.failovers,
                                 "failover_switches", (json_int_t)st.failover_switches));
    else if (ex == EXIT_OK && !c->quiet) {
        printf("%lld frames, %llu notes, %llu reads -> %s\n", (long long)frames,
               (unsigned long long)st.voices_started, (unsigned long long)st.reads, argv[optind + 2]);
        if (mirror || st.read_errors)
            printf("  %llu read errors, %llu chunks lost; %llu reads from mirrors (%llu switches)\n",
                   (unsigned long long)st.read_errors, (unsigned long long)st.chunks_lost,
                   (unsigned long long)st.failovers, (unsigned long long)st.failover_switches);
    }
out:
    free(text);
    free(msg);
    free(pcm);
    free(ref);
    shelf_notes_free(n);
    strs_free(&paths);
    strs_free(&rels);
    strs_free(&mirrors);
    free(mirror_v);
    shelf_library_close(lib);
    return ex;
}

/* ---- stream monitor ------------------------------------------------------------- */

static void print_health(const shelf_stream_report *r, int64_t now)
{
    const shelf_stream_health *h = &r->health;
    size_t i;

    printf("streaming engine: pid %ld on %s, up %.0f s, updated %lld s ago\n", r->pid, r->host, h->uptime,
           (long long)(now - r->updated));
    printf("last %.0f s: %llu underruns (%.1f a minute), %llu voices dropped, %llu not ready, "
           "%llu read errors, %llu failovers\n",
           h->window, (unsigned long long)h->recent_underruns, h->underruns_per_min,
           (unsigned long long)h->recent_dropped, (unsigned long long)h->recent_not_ready,
           (unsigned long long)h->recent_read_errors, (unsigned long long)h->recent_failovers);
    printf("  lowest ring fill %.1f%% (a ring holds %.1f ms); reads %.2f ms p50, %.2f ms p99, %.2f ms max\n",
           h->min_fill_pct, h->ring_ms, h->lat_p50_us / 1000.0, h->lat_p99_us / 1000.0,
           h->lat_max_us / 1000.0);
    printf("  %.2f MB/s read, medium busy %.0f%%; voices %d now, %.1f on average, %d at most\n", h->mb_per_s,
           h->busy * 100.0, h->voices, h->voices_avg, h->voices_peak);
    printf("since the start: %llu underruns, %llu voices dropped, %llu read errors, %llu failovers, "
           "%llu reads\n",
           (unsigned long long)h->underruns, (unsigned long long)h->voices_dropped,
           (unsigned long long)h->read_errors, (unsigned long long)h->failovers,
           (unsigned long long)h->reads);
    if (h->failover_switches || h->mirror_down || h->mirror_fallbacks)
        printf("mirrors: %llu samples switched to theirs (%llu in the last %.0f s), %llu came back; "
               "%llu mirror failures (%llu in the last %.0f s), %llu came back, %llu reads handed back\n",
               (unsigned long long)h->failover_switches, (unsigned long long)h->recent_switches,
               h->window, (unsigned long long)h->failover_returns, (unsigned long long)h->mirror_down,
               (unsigned long long)h->recent_mirror_down, h->window,
               (unsigned long long)h->mirror_returns, (unsigned long long)h->mirror_fallbacks);
    if (h->recent_underruns == 0 && h->recent_dropped == 0) {
        printf("keeping up\n");
        return;
    }
    printf("cannot keep up; from the measured figures:\n");
    for (i = 0; i < r->nsuggestions; i++)
        printf("  - %s\n    %s\n", r->suggestions[i].action, r->suggestions[i].text);
}

/* One JSON line: the health file's object and its age in seconds. */
static int print_health_json(const shelf_stream_report *r, int64_t now)
{
    json_t *o = json_loads(r->json, 0, NULL);
    char *text;

    if (!o || json_object_set_new(o, "age", json_integer((json_int_t)(now - r->updated))) != 0 ||
        !(text = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(12)))) {
        json_decref(o);
        cli_error("out of memory");
        return EXIT_FAIL;
    }
    printf("%s\n", text);
    free(text);
    json_decref(o);
    return EXIT_OK;
}

static int stream_monitor(const cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "once", no_argument, NULL, 'o' }, { "interval", required_argument, NULL, 'i' },
        { NULL, 0, NULL, 0 }
    };
    shelf_library *lib = NULL;
    int opt, once = 0, ex = EXIT_OK, shown = 0, tty;
    double interval = 1.0;

    FOR_OPTS(opt, argc, argv, "", longopts) {
        switch (opt) {
        case 'o': once = 1; break;
        case 'i': if (num_d("interval", optarg, 0.1, 3600, &interval)) return EXIT_USAGE; break;
        default: return EXIT_USAGE;
        }
    }
    if (optind + 1 < argc) {
        cli_error("usage: shelf stream monitor [--once] [--interval S]");
        return EXIT_USAGE;
    }
    if ((ex = cli_open(c, SHELF_OPEN_READONLY, &lib)) != EXIT_OK)
        return ex;
    tty = !once && !c->json && isatty(STDOUT_FILENO);
    cli_catch_signals();
    while (!cli_interrupted) {
        shelf_stream_report *r = NULL;
        int64_t now = shelf_clock_now();
        int rc = shelf_stream_health_read(lib, now, &r);
        double until;

        if (rc == SHELF_ENOTFOUND) {
            cli_error("no streaming engine runs on this library: none has published its health here");
            ex = EXIT_NOTFOUND;
            break;
        }
        if (rc != SHELF_OK) {
            ex = cli_fail(lib, rc);
            break;
        }
        if (r->state == SHELF_STREAM_ENDED) {
            if (shown && !c->json)
                printf("the streaming engine (pid %ld) ended\n", r->pid);
            else if (!shown)
                cli_error("no streaming engine runs on this library: the last one (pid %ld) ended %lld s ago",
                          r->pid, (long long)(now - r->updated));
            ex = shown ? EXIT_OK : EXIT_NOTFOUND;
            shelf_stream_report_free(r);
            break;
        }
        if (r->state == SHELF_STREAM_STALE) {
            if (r->updated - now > SHELF_STREAM_STALE_S)
                cli_error("no streaming engine runs on this library: its health is stale (pid %ld dated it "
                          "%lld s ahead of this clock)",
                          r->pid, (long long)(r->updated - now));
            else
                cli_error("no streaming engine runs on this library: its health is stale (pid %ld wrote it "
                          "%lld s ago and is %s)",
                          r->pid, (long long)(now - r->updated),
                          now - r->updated > SHELF_STREAM_STALE_S ? "not writing it" : "gone");
            ex = EXIT_NOTFOUND;
            shelf_stream_report_free(r);
            break;
        }
        if (tty)
            printf("\033[H\033[2J");
        if (c->json)
            ex = print_health_json(r, now);
        else if (!c->quiet)
            print_health(r, now);
        shelf_stream_report_free(r);
        (void)fflush(stdout);
        shown = 1;
        if (once || ex != EXIT_OK)
            break;
        /* Sleep in short steps so SIGINT ends the wait at once. */
        for (until = cli_now() + interval; !cli_interrupted && cli_now() < until;)
            usleep(50000);
        if (!tty && !c->json && !c->quiet && !cli_interrupted)
            printf("\n");
    }
    shelf_library_close(lib);
    return ex;
}

int cmd_stream(const cli *c, int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "stress"))
        return stream_stress(c, argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "render"))
        return stream_render(c, argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "monitor"))
        return stream_monitor(c, argc, argv);
    cli_error("usage: shelf stream stress|render|monitor ...");
    return EXIT_USAGE;
}

/* ---- cache -------------------------------------------------------------------- */

static int cache_pin(const cli *c, int argc, char **argv, int on)
{
    shelf_library *lib;
    int64_t *want = NULL, *ids = NULL;
    size_t i, n = 0;
    int ex, a, rc;

    if (argc < 3) {
        cli_error("usage: shelf cache %s ID|PATH...", on ? "pin" : "unpin");
        return EXIT_USAGE;
    }
    if ((ex = cli_open(c, 0, &lib)) != EXIT_OK)
        return ex;
    if (!(want = calloc((size_t)argc, sizeof *want))) {
        cli_error("out of memory");
        ex = EXIT_FAIL;
        goto out;
    }
    for (a = 2; a < argc; a++)
        if ((ex = cli_resolve(lib, argv[a], &want[a - 2])) != EXIT_OK)
            goto out;
    if ((rc = shelf_cache_pins_set(lib, want, (size_t)argc - 2, on)) != SHELF_OK ||
        (c->json && (rc = shelf_cache_pins_get(lib, &ids, &n)) != SHELF_OK)) {
        ex = cli_fail(lib, rc);
        goto out;
    }
    if (c->json) {
        json_t *arr = json_array();
        for (i = 0; arr && i < n; i++)
            if (json_array_append_new(arr, json_integer(ids[i])) != 0)
                break;
        cli_print_json(json_pack("{s:o}", "pinned", arr));
    }
out:
    free(want);
    shelf_free(ids);
    shelf_library_close(lib);
    return ex;
}

static int cache_stats(const cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "budget", required_argument, NULL, 'b' }, { "load", no_argument, NULL, 'l' },
        { NULL, 0, NULL, 0 }
    };
    shelf_library *lib;
    json_t *v, *items = NULL;
    int64_t *ids = NULL;
    uint64_t bytes = 0, budget = 256u << 20;
    size_t i, n = 0;
    uint64_t decoded;
    int ex, opt, load = 0, missing = 0, rc;
    long l;

    FOR_OPTS(opt, argc, argv, "", longopts) {
        switch (opt) {
        case 'b': if (num_i("budget (MB)", optarg, 1, 1 << 20, &l)) return EXIT_USAGE; budget = (uint64_t)l << 20; break;
        case 'l': load = 1; break;
        default: return EXIT_USAGE;
        }
    }
    if ((ex = cli_open(c, SHELF_OPEN_READONLY, &lib)) != EXIT_OK)
        return ex;
    items = json_array();
    if ((rc = shelf_cache_pins_get(lib, &ids, &n)) != SHELF_OK) {
        ex = cli_fail(lib, rc);
        goto out;
    }
    for (i = 0; i < n; i++) {
        const shelf_sample *s;
        shelf_cursor *cur;
        if (shelf_catalog_get(lib, ids[i], &cur, &s) != SHELF_OK) {
            missing++;
            continue;
        }
        /* Decoded: float32 frames at the sample's channel count. */
        decoded = (uint64_t)s->frames * (uint64_t)s->channels * 4;
        bytes += decoded;
        rc = json_array_append_new(items, json_pack("{s:I, s:o, s:I}", "id", (json_int_t)s->id, "name",
                                                    tool_json_name(s->name), "decoded_bytes",
                                                    (json_int_t)decoded));
        shelf_cursor_free(cur);
        if (rc != 0) {
            cli_error("out of memory");
            ex = EXIT_FAIL;
            goto out;
        }
    }
    if (load) {
        /* Load the set into an engine's cache, as a performance would. */
        shelf_stream_opts eo;
        shelf_stream *s = NULL;
        shelf_stream_stats st;
        strs files = { 0 };
        char *msg = NULL;
        int id;

        memset(&eo, 0, sizeof eo);
        eo.size = sizeof eo;
        eo.cache_bytes = budget;
        pinned_files(lib, &files);
        if (shelf_stream_new(&eo, &s, &msg) != SHELF_OK) {
            cli_error("%s", msg);
            free(msg);
            strs_free(&files);
            ex = EXIT_FAIL;
            goto out;
        }
        for (i = 0; i < files.n; i++) {
            if (shelf_stream_add(s, files.v[i], &id) != SHELF_OK ||
                shelf_stream_pin(s, id) != SHELF_OK) {
                cli_error("%s", shelf_stream_errmsg(s));
                ex = EXIT_FAIL;
                break;
            }
        }
        st.size = sizeof st;
        shelf_stream_get_stats(s, &st);
        shelf_stream_free(s);
        strs_free(&files);
        bytes = st.cache_pinned_bytes;
        if (!c->json && !c->quiet)
            printf("loaded: %llu bytes in the cache, %llu pinned\n",
                   (unsigned long long)st.cache_bytes, (unsigned long long)st.cache_pinned_bytes);
    }
    if (c->json) {
        cli_print_json(json_pack("{s:I, s:I, s:I, s:b, s:i, s:O}", "pins", (json_int_t)json_array_size(items),
                                 "pinned_bytes", (json_int_t)bytes, "budget", (json_int_t)budget,
                                 "fits", bytes <= budget, "missing", missing, "samples", items));
    } else if (!c->quiet) {
        char b1[32], b2[32];
        printf("%zu pinned samples, %s decoded, budget %s%s\n", json_array_size(items),
               cli_bytes(bytes, b1), cli_bytes(budget, b2),
               bytes > budget ? " (pins alone exceed the budget)" : "");
        json_array_foreach(items, i, v)
            printf("  %lld  %s  %s\n", (long long)json_integer_value(json_object_get(v, "id")),
                   json_string_value(json_object_get(v, "name")),
                   cli_bytes((uint64_t)json_integer_value(json_object_get(v, "decoded_bytes")), b1));
        if (missing)
            printf("  (%d pinned ids are no longer in the catalog)\n", missing);
    }
out:
    shelf_free(ids);
    json_decref(items);
    shelf_library_close(lib);
    return ex;
}

int cmd_cache(const cli *c, int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "pin"))
        return cache_pin(c, argc, argv, 1);
    if (argc >= 2 && !strcmp(argv[1], "unpin"))
        return cache_pin(c, argc, argv, 0);
    if (argc >= 2 && !strcmp(argv[1], "stats"))
        return cache_stats(c, argc, argv);
    cli_error("usage: shelf cache pin|unpin|stats ...");
    return EXIT_USAGE;
}

/* ---- store frag / optimize ------------------------------------------------------ */

static int store_frag(const cli *c, int argc, char **argv, int optimize)
{
    static const struct option longopts[] = {
        { "min", required_argument, NULL, 'm' }, { "dry-run", no_argument, NULL, 'n' },
        { NULL, 0, NULL, 0 }
    };
    shelf_library *lib = NULL;
    strs files = { 0 };
    json_t *arr = NULL;
    long min = 2;
    int opt, ex = EXIT_OK, dry = 0, fragmented = 0, fixed = 0, failed = 0, unsupported = 0;
    uint64_t total_frag = 0;
    size_t i;

    FOR_OPTS(opt, argc, argv, "", longopts) {
        switch (opt) {
        case 'm': if (num_i("fragment count", optarg, 2, 1000000, &min)) return EXIT_USAGE; break;
        case 'n': dry = 1; break;
        default: return EXIT_USAGE;
        }
    }
    optind++;               /* past "frag" or "optimize" */
    arr = json_array();
    if ((ex = cli_open(c, 0, &lib)) != EXIT_OK)
        goto out;
    ex = optind < argc ? add_samples(lib, argv + optind, argc - optind, &files, NULL)
                       : add_query(lib, NULL, &files, NULL);
    if (ex != EXIT_OK)
        goto out;
    for (i = 0; i < files.n; i++) {
        shelf_frag_info fi, after;
        char *msg = NULL;
        int rc = shelf_frag_file(files.v[i], &fi, &msg), did = 0;

        if (rc != SHELF_OK) {
            cli_error("%s", msg ? msg : shelf_strerror(rc));
            free(msg);
            failed++;
            continue;
        }
        if (!fi.supported) {
            unsupported++;
            continue;
        }
        total_frag += fi.fragments;
        memset(&after, 0, sizeof after);
        if (fi.fragments >= (uint32_t)min) {
            fragmented++;
            if (optimize && !dry) {
                if ((rc = shelf_frag_optimize(files.v[i], &after, &msg)) != SHELF_OK) {
                    cli_error("%s", msg ? msg : shelf_strerror(rc));
                    failed++;
                } else {
                    did = 1;
                    fixed++;
                }
                free(msg);
            }
        }
        if (c->json) {
            json_t *o = json_pack("{s:o, s:I, s:i, s:i}", "path", tool_json_name(files.v[i]),
                                  "size", (json_int_t)fi.size,
                                  "extents", (int)fi.extents, "fragments", (int)fi.fragments);
            if (o && did && json_object_set_new(o, "fragments_after", json_integer(after.fragments)) != 0) {
                json_decref(o);
                o = NULL;
            }
            if (!o || json_array_append_new(arr, o) != 0) {
                cli_error("out of memory");
                ex = EXIT_FAIL;
                goto out;
            }
        } else if (!c->quiet && (!optimize || fi.fragments >= (uint32_t)min)) {
            if (did)
                printf("%6u -> %u fragments  %s\n", fi.fragments, after.fragments, files.v[i]);
            else
                printf("%6u fragments (%u extents)  %s\n", fi.fragments, fi.extents, files.v[i]);
        }
    }
    if (c->json) {
        cli_print_json(arr);
        arr = NULL;
    } else if (!c->quiet) {
        printf("%zu files, %d with %ld or more fragments (%.2f per file)%s", files.n, fragmented, min,
               files.n ? (double)total_frag / (double)files.n : 0.0,
               unsupported ? "; some on a filesystem without FIEMAP" : "");
        if (optimize)
            printf("; %d rewritten%s", fixed, dry ? " (dry run: none)" : "");
        printf("\n");
    }
    if (failed)
        ex = EXIT_PARTIAL;
out:
    json_decref(arr);
    strs_free(&files);
    shelf_library_close(lib);
    return ex;
}

int cmd_store(const cli *c, int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "frag"))
        return store_frag(c, argc, argv, 0);
    if (argc >= 2 && !strcmp(argv[1], "optimize"))
        return store_frag(c, argc, argv, 1);
    cli_error("usage: shelf store frag|optimize [ID|PATH...]");
    return EXIT_USAGE;
}
