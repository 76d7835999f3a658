/*
 * test_catalog.c: unit tests of the library folder and the catalog through
 * the public API: open/create/reopen and their refusals, tags, ratings,
 * favourites, listing, search, find_path, removal (with managed blobs),
 * read-only use, migration of a version-1 catalog (tests/data/schema-v1.sql),
 * allocation failures and the statements the library keeps prepared.  The database is checked with sqlite3 directly.
 */
#include <sndfile.h>
#include <sqlite3.h>
#include <time.h>
#include "catalog/catalog_int.h"
#include "test.h"
#include "alloc_fault.h"
#include "audiogen.h"
#include "opts_size.h"
#include "common/common_int.h"

#ifndef SHELF_TEST_DATA
#error "SHELF_TEST_DATA must name tests/data (see tests/CMakeLists.txt)"
#endif

/* ---- helpers ---------------------------------------------------------------- */

/* The audio files of the test corpus, under DIR/src. */
typedef struct corpus_file {
    const char *rel;
    int format, rate, channels;
    int64_t frames;
    int root_key;
} corpus_file;

static const corpus_file corpus[] = {
    { "Drums/Kick_01.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 44100, 1, 4410, 36 },
    { "Drums/Snare_Hard.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_24, 48000, 2, 9600, -1 },
    { "Drums/BD_Tight.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 22050, 1, 2205, 35 },
    { "Pads/Warm.flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 48000, 2, 48000, -1 },
    { "Loops/Funk Break 95bpm.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 44100, 2, 8820, -1 },
    { "Vintage/Tom_1.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 32000, 1, 3200, 45 },
    { "Claps/Vintage_Clap.aiff", SF_FORMAT_AIFF | SF_FORMAT_PCM_16, 44100, 1, 1000, 64 },
};
#define NCORPUS ((int)(sizeof corpus / sizeof corpus[0]))

/* Indexes into corpus, for readability. */
enum { KICK, SNARE, BD, WARM, BREAK, TOM, CLAP };

typedef struct fixture {
    char dir[PATH_MAX];         /* the library folder */
    char src[PATH_MAX];         /* the imported folder */
    shelf_library *lib;
    int64_t id[NCORPUS];        /* ids of the corpus files */
} fixture;

/* Open (or with flags, create) the library at dir; fail the test if not. */
static shelf_library *open_lib(const char *dir, int flags)
{
    shelf_library *lib = NULL;
    char *msg = NULL;
    int rc = shelf_library_open(dir, flags, &lib, &msg);

    if (rc != SHELF_OK)
        test__fail(__FILE__, __LINE__, "cannot open library '%s': %s: %s", dir,
                   shelf_strerror(rc), msg ? msg : "(no message)");
    ASSERT(lib != NULL);
    ASSERT(msg == NULL);
    return lib;
}

/* Open must fail with rc, *out NULL and a message. */
static void open_fails(const char *dir, int flags, int rc)
{
    shelf_library *lib = (shelf_library *)&lib;
    char *msg = NULL;

    ASSERT_RC(rc, shelf_library_open(dir, flags, &lib, &msg));
    ASSERT(lib == NULL);
    ASSERT(msg != NULL && *msg);
    ASSERT(strchr(msg, '\n') == NULL);
    shelf_free(msg);
}

/* Write the corpus under base/src (plus one file that is not audio). */
static void write_corpus(const char *base, char src[PATH_MAX])
{
    static const char *const dirs[] = { "Drums", "Pads", "Loops", "Vintage", "Claps" };
    char p[PATH_MAX];
    size_t i;
    int k;

    test_pathf(src, PATH_MAX, "%s/src", base);
    ASSERT(mkdir(src, 0777) == 0);
    for (i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        test_pathf(p, sizeof p, "%s/%s", src, dirs[i]);
        ASSERT(mkdir(p, 0777) == 0);
    }
    for (k = 0; k < NCORPUS; k++) {
        tg_spec s = TG_SPEC_INIT(corpus[k].format, corpus[k].rate, corpus[k].channels,
                                 corpus[k].frames);

        s.root_key = corpus[k].root_key;
        s.seed = (unsigned)k + 1;
        test_pathf(p, sizeof p, "%s/%s", src, corpus[k].rel);
        ASSERT_EQ_INT(tg_write(p, &s), 0);
    }
    test_pathf(p, sizeof p, "%s/Drums/readme.txt", src);
    test_write_file(p, "not audio\n", 10);
}

/* Import paths; fail the test unless the import itself succeeded. */
static void import(shelf_library *lib, const char *const *paths, size_t n, unsigned flags,
                   shelf_import_stats *st)
{
    shelf_import_opts o;

    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.flags = flags;
    ASSERT_OKL(lib, shelf_import(lib, paths, n, &o, st));
}

/* A new library in a fresh temporary folder with the corpus imported. */
static void setup(fixture *fx)
{
    const char *base = test_tmpdir();
    const char *paths[1];
    shelf_import_stats st = { .size = sizeof st };
    char p[PATH_MAX];
    int k;

    memset(fx, 0, sizeof *fx);
    test_pathf(fx->dir, sizeof fx->dir, "%s/lib", base);
    write_corpus(base, fx->src);
    fx->lib = open_lib(fx->dir, SHELF_OPEN_CREATE);
    paths[0] = fx->src;
    import(fx->lib, paths, 1, 0, &st);
    ASSERT_EQ_INT(st.imported, NCORPUS);
    ASSERT_EQ_INT(st.failed, 0);
    ASSERT_EQ_INT(st.ignored, 1);
    for (k = 0; k < NCORPUS; k++) {
        test_pathf(p, sizeof p, "%s/%s", fx->src, corpus[k].rel);
        ASSERT_OKL(fx->lib, shelf_catalog_find_path(fx->lib, p, &fx->id[k]));
        ASSERT(fx->id[k] > 0);
    }
}

static void teardown(fixture *fx)
{
    shelf_library_close(fx->lib);
    fx->lib = NULL;
}

/* Step cur to its end, store up to max ids, free it; returns the row count. */
static int collect(shelf_library *lib, shelf_cursor *cur, int64_t *ids, int max)
{
    const shelf_sample *row;
    int n = 0, rc;

    while ((rc = shelf_cursor_next(cur, &row)) == SHELF_ROW) {
        ASSERT(row != NULL);
        if (n < max)
            ids[n] = row->id;
        n++;
    }
    ASSERT_RC(SHELF_DONE, rc);
    ASSERT(row == NULL);
    (void)lib;
    shelf_cursor_free(cur);
    return n;
}

/* Search text; the ids found in order, and their number. */
static int search(shelf_library *lib, const char *text, int64_t *ids, int max)
{
    shelf_cursor *cur = NULL;
    int64_t count = -1;
    int n;

    ASSERT_OKL(lib, shelf_catalog_search(lib, text, 0, 0, &cur));
    ASSERT(cur != NULL);
    n = collect(lib, cur, ids, max);
    ASSERT_OKL(lib, shelf_catalog_search_count(lib, text, &count));
    ASSERT_EQ_INT(count, n);
    return n;
}

/* 1 when id is among ids[0..n). */
static int has_id(const int64_t *ids, int n, int64_t id)
{
    int i;

    for (i = 0; i < n; i++)
        if (ids[i] == id)
            return 1;
    return 0;
}

/* The tags of sample id as the catalog reports them (copied into buf). */
static const char *tags_of(shelf_library *lib, int64_t id, char *buf, size_t size)
{
    const shelf_sample *row;
    shelf_cursor *cur;

    ASSERT_OKL(lib, shelf_catalog_get(lib, id, &cur, &row));
    ASSERT(row->tags != NULL);
    test_pathf(buf, size, "%s", row->tags);
    shelf_cursor_free(cur);
    return buf;
}

/* Open DIR/shelf.db with sqlite3 directly. */
static sqlite3 *db_open(const char *dir, int flags)
{
    char p[PATH_MAX];
    sqlite3 *db = NULL;

    test_pathf(p, sizeof p, "%s/shelf.db", dir);
    if (sqlite3_open_v2(p, &db, flags, NULL) != SQLITE_OK)
        test__fail(__FILE__, __LINE__, "cannot open '%s': %s", p,
                   db ? sqlite3_errmsg(db) : "out of memory");
    sqlite3_busy_timeout(db, 5000);
    return db;
}

/* The one integer that sql on DIR/shelf.db returns. */
static int64_t db_int(const char *dir, const char *sql)
{
    sqlite3 *db = db_open(dir, SQLITE_OPEN_READONLY);
    sqlite3_stmt *st = NULL;
    int64_t v;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        test__fail(__FILE__, __LINE__, "%s: %s", sql, sqlite3_errmsg(db));
    ASSERT_EQ_INT(sqlite3_step(st), SQLITE_ROW);
    v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* Run sql on DIR/shelf.db. */
static void db_exec(const char *dir, const char *sql)
{
    sqlite3 *db = db_open(dir, SQLITE_OPEN_READWRITE);
    char *err = NULL;

    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
        test__fail(__FILE__, __LINE__, "%s: %s", sql, err ? err : "?");
    sqlite3_close(db);
}

/* ---- the library folder ------------------------------------------------------ */

TEST(open_creates)
{
    char dir[PATH_MAX], p[PATH_MAX], *cfg;
    shelf_library *lib;
    struct stat sb;

    /* Missing parents are created too. */
    test_pathf(dir, sizeof dir, "%s/a/b/lib", test_tmpdir());
    lib = open_lib(dir, SHELF_OPEN_CREATE);
    ASSERT_EQ_STR(shelf_library_path(lib), dir);
    test_pathf(p, sizeof p, "%s/shelf.db", dir);
    ASSERT(stat(p, &sb) == 0 && S_ISREG(sb.st_mode));
    test_pathf(p, sizeof p, "%s/objects", dir);
    ASSERT(stat(p, &sb) == 0 && S_ISDIR(sb.st_mode));
    test_pathf(p, sizeof p, "%s/config", dir);
    ASSERT(stat(p, &sb) == 0 && S_ISREG(sb.st_mode));
    cfg = test_read_file(p, NULL);
    ASSERT(strstr(cfg, "\"format\": 1") != NULL);
    ASSERT(strstr(cfg, "\"library_id\": \"") != NULL);
    ASSERT(strstr(cfg, "\"created\": ") != NULL);
    free(cfg);
    ASSERT_EQ_INT(db_int(dir, "PRAGMA user_version"), SHELF__SCHEMA_VERSION);
    ASSERT_EQ_INT(db_int(dir, "SELECT count(*) FROM samples"), 0);
    shelf_library_close(lib);

    /* Again, without CREATE; then with CREATE on the existing library. */
    lib = open_lib(dir, 0);
    shelf_library_close(lib);
    lib = open_lib(dir, SHELF_OPEN_CREATE);
    shelf_library_close(lib);
    ASSERT_EQ_INT(db_int(dir, "PRAGMA user_version"), SHELF__SCHEMA_VERSION);
    shelf_library_close(NULL);
}

/* The config is written once: reopening keeps the library id. */
TEST(reopen_keeps_config)
{
    char dir[PATH_MAX], p[PATH_MAX], *a, *b;
    shelf_library *lib;

    test_pathf(dir, sizeof dir, "%s/lib", test_tmpdir());
    lib = open_lib(dir, SHELF_OPEN_CREATE);
    shelf_library_close(lib);
    test_pathf(p, sizeof p, "%s/config", dir);
    a = test_read_file(p, NULL);
    lib = open_lib(dir, SHELF_OPEN_CREATE);
    shelf_library_close(lib);
    b = test_read_file(p, NULL);
    ASSERT_EQ_STR(a, b);
    free(a);
    free(b);
}

TEST(open_refusals)
{
    static const char newer[] = "{\"format\": 99, \"library_id\": \"00\", \"created\": 0}\n";
    const char *base = test_tmpdir();
    char dir[PATH_MAX], p[PATH_MAX];
    shelf_library *lib;

    /* A folder that is not a library, and one that does not exist. */
    open_fails(base, 0, SHELF_ENOTFOUND);
    open_fails(base, SHELF_OPEN_READONLY, SHELF_ENOTFOUND);
    test_pathf(dir, sizeof dir, "%s/none", base);
    open_fails(dir, 0, SHELF_ENOTFOUND);
    ASSERT(!test_exists(dir));
    /* Read-only cannot create. */
    open_fails(dir, SHELF_OPEN_CREATE | SHELF_OPEN_READONLY, SHELF_EINVAL);

    /* A config from a newer shelf. */
    test_pathf(dir, sizeof dir, "%s/lib", base);
    lib = open_lib(dir, SHELF_OPEN_CREATE);
    shelf_library_close(lib);
    test_pathf(p, sizeof p, "%s/config", dir);
    test_write_file(p, newer, strlen(newer));
    open_fails(dir, 0, SHELF_EVERSION);
    open_fails(dir, SHELF_OPEN_READONLY, SHELF_EVERSION);
    open_fails(dir, SHELF_OPEN_CREATE, SHELF_EVERSION);
}

TEST(open_newer_catalog)
{
    char dir[PATH_MAX];
    shelf_library *lib;

    test_pathf(dir, sizeof dir, "%s/lib", test_tmpdir());
    lib = open_lib(dir, SHELF_OPEN_CREATE);
    shelf_library_close(lib);
    db_exec(dir, "PRAGMA user_version = 99");
    open_fails(dir, 0, SHELF_EVERSION);
    open_fails(dir, SHELF_OPEN_READONLY, SHELF_EVERSION);
    /* Refusing did not touch it. */
    ASSERT_EQ_INT(db_int(dir, "PRAGMA user_version"), 99);
}

/* ---- tags, ratings, favourites, touch --------------------------------------- */

TEST(tags)
{
    char buf[512], long_tag[66];
    fixture fx;
    int64_t kick, n;

    setup(&fx);
    kick = fx.id[KICK];
    ASSERT_EQ_STR(tags_of(fx.lib, kick, buf, sizeof buf), "");
    ASSERT_OKL(fx.lib, shelf_tag_add(fx.lib, kick, "punchy"));
    ASSERT_EQ_STR(tags_of(fx.lib, kick, buf, sizeof buf), "punchy");
    /* Again, and in other case: no-ops. */
    ASSERT_OKL(fx.lib, shelf_tag_add(fx.lib, kick, "punchy"));
    ASSERT_OKL(fx.lib, shelf_tag_add(fx.lib, kick, "PUNCHY"));
    ASSERT_EQ_STR(tags_of(fx.lib, kick, buf, sizeof buf), "punchy");
    ASSERT_EQ_INT(db_int(fx.dir, "SELECT count(*) FROM tags"), 1);
    /* Tags come sorted; the same tag on another sample is one tag. */
    ASSERT_OKL(fx.lib, shelf_tag_add(fx.lib, kick, "acoustic"));
    ASSERT_OKL(fx.lib, shelf_tag_add(fx.lib, fx.id[SNARE], "Punchy"));
    ASSERT_EQ_STR(tags_of(fx.lib, kick, buf, sizeof buf), "acoustic punchy");
    ASSERT_EQ_STR(tags_of(fx.lib, fx.id[SNARE], buf, sizeof buf), "punchy");
    ASSERT_EQ_INT(db_int(fx.dir, "SELECT count(*) FROM tags"), 2);
    /* UTF-8 is fine. */
    ASSERT_OKL(fx.lib, shelf_tag_add(fx.lib, kick, "w\xc3\xa4rme"));
    ASSERT_OKL(fx.lib, shelf_tag_remove(fx.lib, kick, "w\xc3\xa4rme"));

    /* Remove without regard to case; removing what is not there is fine. */
    ASSERT_OKL(fx.lib, shelf_tag_remove(fx.lib, kick, "PunChy"));
    ASSERT_EQ_STR(tags_of(fx.lib, kick, buf, sizeof buf), "acoustic");
    ASSERT_EQ_STR(tags_of(fx.lib, fx.id[SNARE], buf, sizeof buf), "punchy");
    ASSERT_OKL(fx.lib, shelf_tag_remove(fx.lib, kick, "punchy"));
    ASSERT_OKL(fx.lib, shelf_tag_remove(fx.lib, kick, "never-added"));

    /* Invalid tags. */
    ASSERT_RC(SHELF_EINVAL, shelf_tag_add(fx.lib, kick, "two words"));
    ASSERT(strlen(shelf_errmsg(fx.lib)) > 0);
    ASSERT_RC(SHELF_EINVAL, shelf_tag_add(fx.lib, kick, ""));
    ASSERT_RC(SHELF_EINVAL, shelf_tag_add(fx.lib, kick, NULL));
    ASSERT_RC(SHELF_EINVAL, shelf_tag_add(fx.lib, kick, "tab\there"));
    ASSERT_RC(SHELF_EINVAL, shelf_tag_add(fx.lib, kick, "new\nline"));
    ASSERT_RC(SHELF_EINVAL, shelf_tag_remove(fx.lib, kick, "two words"));
    memset(long_tag, 'a', 64);
    long_tag[64] = '\0';
    ASSERT_OKL(fx.lib, shelf_tag_add(fx.lib, kick, long_tag));
    long_tag[64] = 'a';
    long_tag[65] = '\0';
    ASSERT_RC(SHELF_EINVAL, shelf_tag_add(fx.lib, kick, long_tag));

    /* No such sample. */
    ASSERT_RC(SHELF_ENOTFOUND, shelf_tag_add(fx.lib, 999999, "punchy"));
    ASSERT_RC(SHELF_ENOTFOUND, shelf_tag_remove(fx.lib, 999999, "punchy"));
    n = db_int(fx.dir, "SELECT count(*) FROM tag_items WHERE item_id = 999999");
    ASSERT_EQ_INT(n, 0);
    teardown(&fx);
}

static int rating_of(shelf_library *lib, int64_t id, int *favourite, int64_t *last_used)
{
    const shelf_sample *row;
    shelf_cursor *cur;
    int r;

    ASSERT_OKL(lib, shelf_catalog_get(lib, id, &cur, &row));
    r = row->rating;
    if (favourite)
        *favourite = row->favourite;
    if (last_used)
        *last_used = row->last_used;
    shelf_cursor_free(cur);
    return r;
}

TEST(rating)
{
    fixture fx;
    int r;

    setup(&fx);
    ASSERT_EQ_INT(rating_of(fx.lib, fx.id[KICK], NULL, NULL), 0);
    for (r = 1; r <= 5; r++) {
        ASSERT_OKL(fx.lib, shelf_rate(fx.lib, fx.id[KICK], r));
        ASSERT_EQ_INT(rating_of(fx.lib, fx.id[KICK], NULL, NULL), r);
    }
    ASSERT_RC(SHELF_EINVAL, shelf_rate(fx.lib, fx.id[KICK], 6));
    ASSERT_RC(SHELF_EINVAL, shelf_rate(fx.lib, fx.id[KICK], -1));
    ASSERT_EQ_INT(rating_of(fx.lib, fx.id[KICK], NULL, NULL), 5);
    ASSERT_OKL(fx.lib, shelf_rate(fx.lib, fx.id[KICK], 0));
    ASSERT_EQ_INT(rating_of(fx.lib, fx.id[KICK], NULL, NULL), 0);
    ASSERT_EQ_INT(db_int(fx.dir, "SELECT count(*) FROM ratings"), 0);
    ASSERT_OKL(fx.lib, shelf_rate(fx.lib, fx.id[KICK], 0));   /* clearing twice */
    ASSERT_RC(SHELF_ENOTFOUND, shelf_rate(fx.lib, 999999, 3));
    ASSERT_RC(SHELF_ENOTFOUND, shelf_rate(fx.lib, 999999, 0));
    teardown(&fx);
}

TEST(favourite_and_touch)
{
    int64_t used = -1, before, after;
    fixture fx;
    int fav = -1;

    setup(&fx);
    rating_of(fx.lib, fx.id[WARM], &fav, &used);
    ASSERT_EQ_INT(fav, 0);
    ASSERT_EQ_INT(used, 0);
    ASSERT_OKL(fx.lib, shelf_favourite(fx.lib, fx.id[WARM], 1));
    ASSERT_OKL(fx.lib, shelf_favourite(fx.lib, fx.id[WARM], 1));
    rating_of(fx.lib, fx.id[WARM], &fav, NULL);
    ASSERT_EQ_INT(fav, 1);
    ASSERT_EQ_INT(db_int(fx.dir, "SELECT count(*) FROM favourites"), 1);
    ASSERT_OKL(fx.lib, shelf_favourite(fx.lib, fx.id[WARM], 0));
    rating_of(fx.lib, fx.id[WARM], &fav, NULL);
    ASSERT_EQ_INT(fav, 0);
    ASSERT_OKL(fx.lib, shelf_favourite(fx.lib, fx.id[WARM], 0));
    ASSERT_RC(SHELF_ENOTFOUND, shelf_favourite(fx.lib, 999999, 1));

    before = (int64_t)time(NULL);
    ASSERT_OKL(fx.lib, shelf_touch(fx.lib, fx.id[WARM]));
    after = (int64_t)time(NULL);
    rating_of(fx.lib, fx.id[WARM], NULL, &used);
    ASSERT(used >= before && used <= after);
    rating_of(fx.lib, fx.id[KICK], NULL, &used);
    ASSERT_EQ_INT(used, 0);
    ASSERT_RC(SHELF_ENOTFOUND, shelf_touch(fx.lib, 999999));
    teardown(&fx);
}

/* What an import recorded for a corpus file. */
TEST(get_row)
{
    const shelf_sample *row;
    shelf_cursor *cur = (shelf_cursor *)&cur;
    fixture fx;

    setup(&fx);
    ASSERT_OKL(fx.lib, shelf_catalog_get(fx.lib, fx.id[KICK], &cur, &row));
    ASSERT_EQ_INT(row->id, fx.id[KICK]);
    ASSERT_EQ_STR(row->name, "Kick_01");
    ASSERT_EQ_STR(row->root, fx.src);
    ASSERT_EQ_STR(row->relpath, "Drums/Kick_01.wav");
    ASSERT(row->blob == NULL);
    ASSERT(row->sha256 != NULL && strlen(row->sha256) == 64);
    ASSERT_EQ_STR(row->format, "WAV");
    ASSERT_EQ_STR(row->subtype, "PCM_16");
    ASSERT_EQ_INT(row->rate, 44100);
    ASSERT_EQ_INT(row->channels, 1);
    ASSERT_EQ_INT(row->frames, 4410);
    ASSERT_EQ_INT(row->bits, 16);
    ASSERT_EQ_INT(row->root_key, 36);
    ASSERT_EQ_STR(row->category, "kick");
    ASSERT_EQ_INT(row->missing, 0);
    ASSERT_EQ_STR(row->tags, "");
    shelf_cursor_free(cur);
    ASSERT_OKL(fx.lib, shelf_catalog_get(fx.lib, fx.id[BREAK], &cur, &row));
    ASSERT(row->tempo == 95);
    ASSERT_EQ_STR(row->category, "loop");
    ASSERT_EQ_INT(row->root_key, -1);
    ASSERT_EQ_INT(row->loop_start, -1);
    shelf_cursor_free(cur);
    ASSERT_RC(SHELF_ENOTFOUND, shelf_catalog_get(fx.lib, 999999, &cur, &row));
    ASSERT(cur == NULL && row == NULL);
    teardown(&fx);
}

/* ---- listing --------------------------------------------------------------------- */

/* The fields a listing sorts by, copied out of a row. */
typedef struct snap {
    int64_t id;
    char name[64], relpath[128];
    uint64_t size;
    double duration, tempo;
    int rate, root_key, rating;
    int64_t created, last_used;
} snap;

static int list(shelf_library *lib, const shelf_list_opts *o, snap *out, int max)
{
    const shelf_sample *row;
    shelf_cursor *cur = NULL;
    int n = 0, rc;

    ASSERT_OKL(lib, shelf_catalog_list(lib, o, &cur));
    while ((rc = shelf_cursor_next(cur, &row)) == SHELF_ROW) {
        ASSERT(n < max);
        out[n].id = row->id;
        test_pathf(out[n].name, sizeof out[n].name, "%s", row->name);
        test_pathf(out[n].relpath, sizeof out[n].relpath, "%s", row->relpath);
        out[n].size = row->size;
        out[n].duration = row->duration;
        out[n].tempo = row->tempo;
        out[n].rate = row->rate;
        out[n].root_key = row->root_key;
        out[n].rating = row->rating;
        out[n].created = row->created;
        out[n].last_used = row->last_used;
        n++;
    }
    ASSERT_RC(SHELF_DONE, rc);
    shelf_cursor_free(cur);
    return n;
}

static int cmp_num(double a, double b)
{
    return a < b ? -1 : a > b;
}

/* Compare two rows by sort key (without the id tie-break). */
static int cmp_key(const snap *a, const snap *b, int key)
{
    switch (key) {
    case SHELF_SORT_ID: return cmp_num((double)a->id, (double)b->id);
    case SHELF_SORT_NAME: return strcasecmp(a->name, b->name);
    case SHELF_SORT_PATH: return strcmp(a->relpath, b->relpath);
    case SHELF_SORT_SIZE: return cmp_num((double)a->size, (double)b->size);
    case SHELF_SORT_DURATION: return cmp_num(a->duration, b->duration);
    case SHELF_SORT_RATE: return cmp_num(a->rate, b->rate);
    case SHELF_SORT_KEY: return cmp_num(a->root_key, b->root_key);
    case SHELF_SORT_TEMPO: return cmp_num(a->tempo, b->tempo);
    case SHELF_SORT_ADDED: return cmp_num((double)a->created, (double)b->created);
    case SHELF_SORT_USED: return cmp_num((double)a->last_used, (double)b->last_used);
    case SHELF_SORT_RATING: return cmp_num(a->rating, b->rating);
    }
    test__fail(__FILE__, __LINE__, "no sort key %d", key);
}

TEST(list_sorts)
{
    snap up[NCORPUS + 1], down[NCORPUS + 1];
    shelf_list_opts o;
    fixture fx;
    int key, i, n;

    setup(&fx);
    /* Give ratings and last_used some spread. */
    ASSERT_OKL(fx.lib, shelf_rate(fx.lib, fx.id[KICK], 5));
    ASSERT_OKL(fx.lib, shelf_rate(fx.lib, fx.id[SNARE], 2));
    ASSERT_OKL(fx.lib, shelf_rate(fx.lib, fx.id[WARM], 4));
    ASSERT_OKL(fx.lib, shelf_touch(fx.lib, fx.id[TOM]));

    /* NULL options: all, by id. */
    {
        shelf_cursor *cur;
        int64_t ids[NCORPUS + 1];

        ASSERT_OKL(fx.lib, shelf_catalog_list(fx.lib, NULL, &cur));
        ASSERT_EQ_INT(collect(fx.lib, cur, ids, NCORPUS + 1), NCORPUS);
        for (i = 1; i < NCORPUS; i++)
            ASSERT(ids[i - 1] < ids[i]);
    }
    for (key = SHELF_SORT_ID; key <= SHELF_SORT_RATING; key++) {
        memset(&o, 0, sizeof o);
        o.size = sizeof o;
        o.sort = key;
        n = list(fx.lib, &o, up, NCORPUS + 1);
        ASSERT_EQ_INT(n, NCORPUS);
        for (i = 1; i < n; i++) {
            int c = cmp_key(&up[i - 1], &up[i], key);

            if (c > 0 || (c == 0 && up[i - 1].id > up[i].id))
                test__fail(__FILE__, __LINE__, "sort key %d: '%s' before '%s'", key,
                           up[i - 1].name, up[i].name);
        }
        o.descending = 1;
        ASSERT_EQ_INT(list(fx.lib, &o, down, NCORPUS + 1), NCORPUS);
        for (i = 0; i < n; i++)
            ASSERT_EQ_INT(down[i].id, up[n - 1 - i].id);
    }
    /* A few orders known in full. */
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.sort = SHELF_SORT_NAME;
    ASSERT_EQ_INT(list(fx.lib, &o, up, NCORPUS + 1), NCORPUS);
    ASSERT_EQ_STR(up[0].name, "BD_Tight");
    ASSERT_EQ_STR(up[NCORPUS - 1].name, "Warm");
    o.sort = SHELF_SORT_RATING;
    o.descending = 1;
    ASSERT_EQ_INT(list(fx.lib, &o, up, NCORPUS + 1), NCORPUS);
    ASSERT_EQ_INT(up[0].id, fx.id[KICK]);
    ASSERT_EQ_INT(up[1].id, fx.id[WARM]);
    ASSERT_EQ_INT(up[2].id, fx.id[SNARE]);
    o.sort = SHELF_SORT_USED;
    ASSERT_EQ_INT(list(fx.lib, &o, up, NCORPUS + 1), NCORPUS);
    ASSERT_EQ_INT(up[0].id, fx.id[TOM]);
    o.sort = SHELF_SORT_DURATION;
    ASSERT_EQ_INT(list(fx.lib, &o, up, NCORPUS + 1), NCORPUS);
    ASSERT_EQ_INT(up[0].id, fx.id[WARM]);         /* 1 s */
    o.sort = SHELF_SORT_TEMPO;
    ASSERT_EQ_INT(list(fx.lib, &o, up, NCORPUS + 1), NCORPUS);
    ASSERT_EQ_INT(up[0].id, fx.id[BREAK]);        /* the only tempo */

    /* Unknown sort keys and old option structs. */
    {
        shelf_cursor *cur = (shelf_cursor *)&cur;

        o.sort = SHELF_SORT_RATING + 1;
        ASSERT_RC(SHELF_EINVAL, shelf_catalog_list(fx.lib, &o, &cur));
        ASSERT(cur == NULL);
        o.sort = -1;
        ASSERT_RC(SHELF_EINVAL, shelf_catalog_list(fx.lib, &o, &cur));
        o.sort = 0;
        o.size = sizeof o - 1;
        ASSERT_RC(SHELF_EINVAL, shelf_catalog_list(fx.lib, &o, &cur));
    }
    teardown(&fx);
}

static int list_once(shelf_library *lib, const shelf_list_opts *o)
{
    shelf_cursor *cur = NULL;
    int rc = shelf_catalog_list(lib, o, &cur);

    shelf_cursor_free(cur);
    return rc;
}

static int search_once(shelf_library *lib, const shelf_search_opts *o)
{
    shelf_cursor *cur = NULL;
    int rc = shelf_search(lib, "kick", o, &cur, NULL, NULL);

    shelf_cursor_free(cur);
    return rc;
}

/* The size rule of shelf.h on list and search options (no older versions:
 * their first size is sizeof). */
TEST(opts_size_list_search)
{
    shelf_list_opts lo;
    shelf_search_opts so;
    fixture fx;

    setup(&fx);
    memset(&lo, 0, sizeof lo);
    memset(&so, 0, sizeof so);
    TEST_OPTS_SIZE(shelf_list_opts, lo, sizeof lo, SHELF_OK, list_once(fx.lib, p_));
    TEST_OPTS_SIZE(shelf_search_opts, so, sizeof so, SHELF_OK, search_once(fx.lib, p_));
    ASSERT_OKL(fx.lib, search_once(fx.lib, NULL));
    lo.size = 1;
    ASSERT_RC(SHELF_EINVAL, list_once(fx.lib, &lo));
    ASSERT(strstr(shelf_errmsg(fx.lib), "invalid shelf_list_opts: size 1") != NULL);
    teardown(&fx);
}

TEST(list_paging_and_filters)
{
    snap all[NCORPUS + 1], page[NCORPUS + 1];
    const char *paths[1];
    shelf_import_stats st = { .size = sizeof st };
    int64_t total = -1, missing = -1;
    shelf_list_opts o;
    char p[PATH_MAX];
    fixture fx;

    setup(&fx);
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    ASSERT_EQ_INT(list(fx.lib, &o, all, NCORPUS + 1), NCORPUS);
    o.limit = 2;
    o.offset = 1;
    ASSERT_EQ_INT(list(fx.lib, &o, page, NCORPUS + 1), 2);
    ASSERT_EQ_INT(page[0].id, all[1].id);
    ASSERT_EQ_INT(page[1].id, all[2].id);
    o.limit = 0;
    o.offset = NCORPUS - 1;
    ASSERT_EQ_INT(list(fx.lib, &o, page, NCORPUS + 1), 1);
    ASSERT_EQ_INT(page[0].id, all[NCORPUS - 1].id);
    o.offset = NCORPUS;
    ASSERT_EQ_INT(list(fx.lib, &o, page, NCORPUS + 1), 0);
    o.offset = 0;
    o.limit = 3;
    o.descending = 1;
    ASSERT_EQ_INT(list(fx.lib, &o, page, NCORPUS + 1), 3);
    ASSERT_EQ_INT(page[0].id, all[NCORPUS - 1].id);

    /* Favourites only. */
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.only_favourites = 1;
    ASSERT_EQ_INT(list(fx.lib, &o, page, NCORPUS + 1), 0);
    ASSERT_OKL(fx.lib, shelf_favourite(fx.lib, fx.id[SNARE], 1));
    ASSERT_OKL(fx.lib, shelf_favourite(fx.lib, fx.id[CLAP], 1));
    ASSERT_EQ_INT(list(fx.lib, &o, page, NCORPUS + 1), 2);
    ASSERT(page[0].id == (fx.id[SNARE] < fx.id[CLAP] ? fx.id[SNARE] : fx.id[CLAP]));

    /* Missing only: a file gone from a folder imported again. */
    o.only_favourites = 0;
    o.only_missing = 1;
    ASSERT_EQ_INT(list(fx.lib, &o, page, NCORPUS + 1), 0);
    test_pathf(p, sizeof p, "%s/%s", fx.src, corpus[CLAP].rel);
    ASSERT(unlink(p) == 0);
    paths[0] = fx.src;
    import(fx.lib, paths, 1, 0, &st);
    ASSERT_EQ_INT(st.missing, 1);
    ASSERT_EQ_INT(list(fx.lib, &o, page, NCORPUS + 1), 1);
    ASSERT_EQ_INT(page[0].id, fx.id[CLAP]);
    o.only_favourites = 1;          /* both filters: missing favourites */
    ASSERT_EQ_INT(list(fx.lib, &o, page, NCORPUS + 1), 1);
    ASSERT_OKL(fx.lib, shelf_catalog_count(fx.lib, &total, &missing));
    ASSERT_EQ_INT(total, NCORPUS);
    ASSERT_EQ_INT(missing, 1);
    teardown(&fx);
}

/* ---- search ------------------------------------------------------------------------ */

TEST(search)
{
    int64_t ids[NCORPUS + 1], count;
    shelf_cursor *cur;
    fixture fx;
    int n;

    setup(&fx);
    /* A prefix of the name. */
    n = search(fx.lib, "kic", ids, NCORPUS + 1);
    ASSERT(n >= 1);
    ASSERT(has_id(ids, n, fx.id[KICK]));
    /* "kick" is also BD_Tight's category (from "bd"), and "bd" a synonym
     * of it: shelf_catalog_search ranks as shelf_search does, so BD_Tight,
     * found in its name and its category, may come first. */
    n = search(fx.lib, "kick", ids, NCORPUS + 1);
    ASSERT_EQ_INT(n, 2);
    ASSERT(has_id(ids, n, fx.id[KICK]) && has_id(ids, n, fx.id[BD]));
    /* Case does not matter. */
    ASSERT_EQ_INT(search(fx.lib, "KICK", ids, NCORPUS + 1), 2);
    /* Every word must match (AND), in any column. */
    n = search(fx.lib, "snare hard", ids, NCORPUS + 1);
    ASSERT_EQ_INT(n, 1);
    ASSERT_EQ_INT(ids[0], fx.id[SNARE]);
    ASSERT_EQ_INT(search(fx.lib, "hard snare", ids, NCORPUS + 1), 1);
    ASSERT_EQ_INT(search(fx.lib, "kick hard", ids, NCORPUS + 1), 0);
    n = search(fx.lib, "drums kick", ids, NCORPUS + 1);
    ASSERT_EQ_INT(n, 2);                /* folder word and category */
    /* Folder words. */
    n = search(fx.lib, "drums", ids, NCORPUS + 1);
    ASSERT_EQ_INT(n, 3);
    ASSERT(has_id(ids, n, fx.id[KICK]) && has_id(ids, n, fx.id[SNARE]) &&
           has_id(ids, n, fx.id[BD]));
    /* Category only: "Warm" in "Pads" is a pad; "loop" for the break. */
    n = search(fx.lib, "loop", ids, NCORPUS + 1);
    ASSERT_EQ_INT(n, 1);
    ASSERT_EQ_INT(ids[0], fx.id[BREAK]);
    /* Tags. */
    ASSERT_EQ_INT(search(fx.lib, "dreamy", ids, NCORPUS + 1), 0);
    ASSERT_OKL(fx.lib, shelf_tag_add(fx.lib, fx.id[WARM], "dreamy"));
    n = search(fx.lib, "dreamy", ids, NCORPUS + 1);
    ASSERT_EQ_INT(n, 1);
    ASSERT_EQ_INT(ids[0], fx.id[WARM]);
    ASSERT_EQ_INT(search(fx.lib, "drea warm", ids, NCORPUS + 1), 1);
    ASSERT_OKL(fx.lib, shelf_tag_remove(fx.lib, fx.id[WARM], "dreamy"));
    ASSERT_EQ_INT(search(fx.lib, "dreamy", ids, NCORPUS + 1), 0);
    /* Words inside names split at punctuation and digits: "95bpm" is one
     * word to the tokenizer, "Break" another. */
    n = search(fx.lib, "funk break", ids, NCORPUS + 1);
    ASSERT_EQ_INT(n, 1);
    ASSERT_EQ_INT(ids[0], fx.id[BREAK]);

    /* No match: done at once. */
    {
        const shelf_sample *row = (const shelf_sample *)&row;

        ASSERT_OKL(fx.lib, shelf_catalog_search(fx.lib, "zqxjv", 0, 0, &cur));
        ASSERT_RC(SHELF_DONE, shelf_cursor_next(cur, &row));
        ASSERT(row == NULL);
        shelf_cursor_free(cur);
    }
    /* Nothing to search for matches nothing. */
    ASSERT_EQ_INT(search(fx.lib, "", ids, NCORPUS + 1), 0);
    ASSERT_EQ_INT(search(fx.lib, "   ", ids, NCORPUS + 1), 0);
    ASSERT_EQ_INT(search(fx.lib, "-- !! ..", ids, NCORPUS + 1), 0);
    ASSERT_OKL(fx.lib, shelf_catalog_search(fx.lib, NULL, 0, 0, &cur));
    ASSERT_EQ_INT(collect(fx.lib, cur, ids, NCORPUS + 1), 0);
    ASSERT_OKL(fx.lib, shelf_catalog_search_count(fx.lib, NULL, &count));
    ASSERT_EQ_INT(count, 0);

    /* FTS5 syntax in the text is just punctuation. */
    ASSERT_EQ_INT(search(fx.lib, "\"kick", ids, NCORPUS + 1), 2);
    ASSERT_EQ_INT(search(fx.lib, "kick\"", ids, NCORPUS + 1), 2);
    ASSERT_EQ_INT(search(fx.lib, "kick*", ids, NCORPUS + 1), 2);
    ASSERT_EQ_INT(search(fx.lib, "(kick)", ids, NCORPUS + 1), 2);
    ASSERT_EQ_INT(search(fx.lib, "name:kick", ids, NCORPUS + 1), 0);
    ASSERT_EQ_INT(search(fx.lib, "kick OR snare", ids, NCORPUS + 1), 0);
    search(fx.lib, "kick AND (", ids, NCORPUS + 1);
    search(fx.lib, "NEAR(kick snare)", ids, NCORPUS + 1);
    search(fx.lib, "'; DROP TABLE samples; --", ids, NCORPUS + 1);
    search(fx.lib, "^kick + -snare {a b}", ids, NCORPUS + 1);
    search(fx.lib, "\xff\xfe kick \xc3", ids, NCORPUS + 1);
    ASSERT_EQ_INT(db_int(fx.dir, "SELECT count(*) FROM samples"), NCORPUS);

    /* Limit and offset. */
    ASSERT_OKL(fx.lib, shelf_catalog_search(fx.lib, "drums", 2, 0, &cur));
    ASSERT_EQ_INT(collect(fx.lib, cur, ids, NCORPUS + 1), 2);
    ASSERT_OKL(fx.lib, shelf_catalog_search(fx.lib, "drums", 2, 2, &cur));
    ASSERT_EQ_INT(collect(fx.lib, cur, ids, NCORPUS + 1), 1);
    ASSERT_OKL(fx.lib, shelf_catalog_search_count(fx.lib, "drums", &count));
    ASSERT_EQ_INT(count, 3);
    teardown(&fx);
}

/*
 * A sample whose name matches ranks above one where only a folder does,
 * even when the folder match is older (lower id).  The tom is imported
 * alone first (its root is then its folder, whose name is not a word of
 * its path), then the whole folder: the tom's root folds into it, keeps
 * its id, and "Vintage" becomes a word of its path under the new root.
 * Where the root lives is never words: the temporary folder's own names
 * find nothing.
 */
TEST(search_ranking)
{
    const char *base = test_tmpdir(), *paths[2];
    char dir[PATH_MAX], src[PATH_MAX], a[PATH_MAX], b[PATH_MAX];
    int64_t ids[NCORPUS + 1], ida, idb;
    shelf_library *lib;
    int n;

    test_pathf(dir, sizeof dir, "%s/lib", base);
    write_corpus(base, src);
    test_pathf(a, sizeof a, "%s/%s", src, corpus[CLAP].rel);    /* Claps/Vintage_Clap */
    test_pathf(b, sizeof b, "%s/%s", src, corpus[TOM].rel);     /* Vintage/Tom_1 */
    lib = open_lib(dir, SHELF_OPEN_CREATE);
    paths[0] = b;
    import(lib, paths, 1, 0, NULL);
    ASSERT_EQ_INT(search(lib, "vintage", ids, NCORPUS + 1), 0);
    ASSERT_EQ_INT(search(lib, "tom", ids, NCORPUS + 1), 1);
    paths[0] = src;
    import(lib, paths, 1, 0, NULL);
    ASSERT_OKL(lib, shelf_catalog_find_path(lib, a, &ida));
    ASSERT_OKL(lib, shelf_catalog_find_path(lib, b, &idb));
    ASSERT(idb < ida);
    {
        /* the last name of the folder above the imported one */
        char up[PATH_MAX], *slash;

        snprintf(up, sizeof up, "%s", src);
        if ((slash = strrchr(up, '/')))
            *slash = '\0';
        if ((slash = strrchr(up, '/')) && slash[1])
            ASSERT_EQ_INT(search(lib, slash + 1, ids, NCORPUS + 1), 0);
    }
    n = search(lib, "vintage", ids, NCORPUS + 1);
    ASSERT_EQ_INT(n, 2);
    ASSERT_EQ_INT(ids[0], ida);
    ASSERT_EQ_INT(ids[1], idb);
    n = search(lib, "vint", ids, NCORPUS + 1);
    ASSERT_EQ_INT(n, 2);
    ASSERT_EQ_INT(ids[0], ida);
    shelf_library_close(lib);
}

/* ---- find_path and count -------------------------------------------------------- */

TEST(find_path)
{
    char p[PATH_MAX], link[PATH_MAX], cwd[PATH_MAX];
    int64_t id = -1, total = -1, missing = -1;
    fixture fx;

    setup(&fx);
    test_pathf(p, sizeof p, "%s/%s", fx.src, corpus[SNARE].rel);
    ASSERT_OKL(fx.lib, shelf_catalog_find_path(fx.lib, p, &id));
    ASSERT_EQ_INT(id, fx.id[SNARE]);
    /* With dots and doubled slashes. */
    test_pathf(p, sizeof p, "%s/Pads/..//Drums/./Snare_Hard.wav", fx.src);
    ASSERT_OKL(fx.lib, shelf_catalog_find_path(fx.lib, p, &id));
    ASSERT_EQ_INT(id, fx.id[SNARE]);
    /* Relative to the working folder. */
    ASSERT(getcwd(cwd, sizeof cwd) != NULL);
    test_pathf(p, sizeof p, "%s/Drums", fx.src);
    ASSERT(chdir(p) == 0);
    id = -1;
    ASSERT_OKL(fx.lib, shelf_catalog_find_path(fx.lib, "Snare_Hard.wav", &id));
    ASSERT_EQ_INT(id, fx.id[SNARE]);
    ASSERT_OKL(fx.lib, shelf_catalog_find_path(fx.lib, "../Pads/Warm.flac", &id));
    ASSERT_EQ_INT(id, fx.id[WARM]);
    ASSERT(chdir(fx.src) == 0);
    ASSERT_OKL(fx.lib, shelf_catalog_find_path(fx.lib, corpus[TOM].rel, &id));
    ASSERT_EQ_INT(id, fx.id[TOM]);
    ASSERT(chdir(cwd) == 0);
    /* Through a symlink to the folder. */
    test_pathf(link, sizeof link, "%s/link", fx.dir);
    ASSERT(symlink(fx.src, link) == 0);
    test_pathf(p, sizeof p, "%s/%s", link, corpus[KICK].rel);
    ASSERT_OKL(fx.lib, shelf_catalog_find_path(fx.lib, p, &id));
    ASSERT_EQ_INT(id, fx.id[KICK]);

    /* Not found: inside a root, outside every root, the root itself. */
    test_pathf(p, sizeof p, "%s/Drums/none.wav", fx.src);
    id = -1;
    ASSERT_RC(SHELF_ENOTFOUND, shelf_catalog_find_path(fx.lib, p, &id));
    ASSERT_EQ_INT(id, 0);
    ASSERT(strstr(shelf_errmsg(fx.lib), "none.wav") != NULL);
    test_pathf(p, sizeof p, "%s/Drums/readme.txt", fx.src);
    ASSERT_RC(SHELF_ENOTFOUND, shelf_catalog_find_path(fx.lib, p, &id));
    ASSERT_RC(SHELF_ENOTFOUND, shelf_catalog_find_path(fx.lib, "/nonexistent/x.wav", &id));
    ASSERT_RC(SHELF_ENOTFOUND, shelf_catalog_find_path(fx.lib, fx.src, &id));

    ASSERT_OKL(fx.lib, shelf_catalog_count(fx.lib, &total, &missing));
    ASSERT_EQ_INT(total, NCORPUS);
    ASSERT_EQ_INT(missing, 0);
    ASSERT_OKL(fx.lib, shelf_catalog_count(fx.lib, NULL, NULL));
    teardown(&fx);
}

/* ---- the file of a sample ------------------------------------------------------------- */

TEST(sample_path)
{
    const char *paths[1];
    char p[PATH_MAX], copy[PATH_MAX], *path = NULL;
    shelf_sample fake;
    const shelf_sample *row;
    shelf_cursor *cur;
    shelf_library *lib;
    fixture fx;
    int64_t id;

    /* A referenced sample: root/relpath, absolute. */
    setup(&fx);
    ASSERT_OKL(fx.lib, shelf_catalog_get(fx.lib, fx.id[SNARE], &cur, &row));
    ASSERT_OKL(fx.lib, shelf_catalog_path(fx.lib, row, &path));
    test_pathf(p, sizeof p, "%s/%s", fx.src, corpus[SNARE].rel);
    ASSERT_EQ_STR(path, p);
    shelf_free(path);
    shelf_cursor_free(cur);
    /* A row with no file, and a copy name that is not a hash, are refused. */
    memset(&fake, 0, sizeof fake);
    fake.id = 7;
    path = (char *)1;
    ASSERT_RC(SHELF_EINVAL, shelf_catalog_path(fx.lib, &fake, &path));
    ASSERT(path == NULL);
    fake.blob = "../../../../etc/passwd";
    ASSERT_RC(SHELF_EINVAL, shelf_catalog_path(fx.lib, &fake, &path));
    ASSERT(path == NULL);
    teardown(&fx);

    /* A managed sample: its copy in the store, which has the file's bytes
     * and stays the sample's file when the original goes. */
    test_pathf(p, sizeof p, "%s/copied", test_tmpdir());
    ASSERT(mkdir(p, 0777) == 0);
    write_corpus(p, copy);
    test_pathf(p, sizeof p, "%s/lib2", test_tmpdir());
    lib = open_lib(p, SHELF_OPEN_CREATE);
    paths[0] = copy;
    import(lib, paths, 1, SHELF_IMPORT_COPY, NULL);
    test_pathf(p, sizeof p, "%s/%s", copy, corpus[KICK].rel);
    ASSERT_OKL(lib, shelf_catalog_find_path(lib, p, &id));
    ASSERT_OKL(lib, shelf_catalog_get(lib, id, &cur, &row));
    ASSERT(row->blob != NULL);
    ASSERT_OKL(lib, shelf_catalog_path(lib, row, &path));
    test_pathf(copy, sizeof copy, "%s/objects/%.2s/%.2s/%s", shelf_library_path(lib), row->blob,
               row->blob + 2, row->blob);
    ASSERT_EQ_STR(path, copy);
    ASSERT(test_exists(path));
    ASSERT(unlink(p) == 0);
    ASSERT(test_exists(path));
    shelf_free(path);
    shelf_cursor_free(cur);
    shelf_library_close(lib);
}

/* ---- removal ------------------------------------------------------------------------ */

TEST(remove)
{
    const shelf_sample *row;
    int64_t ids[NCORPUS + 1], total = -1;
    shelf_cursor *cur;
    char p[PATH_MAX];
    fixture fx;

    setup(&fx);
    ASSERT_OKL(fx.lib, shelf_tag_add(fx.lib, fx.id[KICK], "punchy"));
    ASSERT_OKL(fx.lib, shelf_rate(fx.lib, fx.id[KICK], 4));
    ASSERT_OKL(fx.lib, shelf_favourite(fx.lib, fx.id[KICK], 1));
    ASSERT_OKL(fx.lib, shelf_catalog_remove(fx.lib, fx.id[KICK], 0));
    ASSERT_RC(SHELF_ENOTFOUND, shelf_catalog_get(fx.lib, fx.id[KICK], &cur, &row));
    ASSERT_RC(SHELF_ENOTFOUND, shelf_catalog_remove(fx.lib, fx.id[KICK], 0));
    ASSERT_RC(SHELF_ENOTFOUND, shelf_catalog_remove(fx.lib, 999999, 0));
    ASSERT_OKL(fx.lib, shelf_catalog_count(fx.lib, &total, NULL));
    ASSERT_EQ_INT(total, NCORPUS - 1);
    /* User metadata went with the row; the tag name may stay. */
    ASSERT_EQ_INT(db_int(fx.dir, "SELECT count(*) FROM tag_items"), 0);
    ASSERT_EQ_INT(db_int(fx.dir, "SELECT count(*) FROM ratings"), 0);
    ASSERT_EQ_INT(db_int(fx.dir, "SELECT count(*) FROM favourites"), 0);
    /* Search no longer finds it; the referenced file is left alone. */
    ASSERT_EQ_INT(search(fx.lib, "punchy", ids, NCORPUS + 1), 0);
    ASSERT_EQ_INT(search(fx.lib, "kick", ids, NCORPUS + 1), 1);
    ASSERT_EQ_INT(ids[0], fx.id[BD]);
    test_pathf(p, sizeof p, "%s/%s", fx.src, corpus[KICK].rel);
    ASSERT(test_exists(p));
    /* Ids are never reused. */
    {
        const char *paths[1] = { p };
        int64_t id;

        import(fx.lib, paths, 1, 0, NULL);
        ASSERT_OKL(fx.lib, shelf_catalog_find_path(fx.lib, p, &id));
        ASSERT(id > fx.id[KICK] && id != fx.id[KICK]);
        for (int k = 0; k < NCORPUS; k++)
            ASSERT(id != fx.id[k]);
    }
    teardown(&fx);
}

/* A managed blob goes with the last row that uses it. */
TEST(remove_shared_blob)
{
    const char *base = test_tmpdir(), *paths[1];
    char dir[PATH_MAX], src[PATH_MAX], p[PATH_MAX], blob[PATH_MAX], hex[SHELF_HASH_HEX];
    tg_spec s = TG_SPEC_INIT(SF_FORMAT_WAV | SF_FORMAT_PCM_16, 44100, 1, 2000);
    const shelf_sample *row;
    shelf_import_stats st = { .size = sizeof st };
    shelf_library *lib;
    shelf_cursor *cur;
    int64_t ida, idb;

    test_pathf(dir, sizeof dir, "%s/lib", base);
    test_pathf(src, sizeof src, "%s/copy", base);
    ASSERT(mkdir(src, 0777) == 0);
    s.seed = 42;
    test_pathf(p, sizeof p, "%s/a.wav", src);
    ASSERT_EQ_INT(tg_write(p, &s), 0);
    test_pathf(p, sizeof p, "%s/b.wav", src);
    ASSERT_EQ_INT(tg_write(p, &s), 0);
    lib = open_lib(dir, SHELF_OPEN_CREATE);
    paths[0] = src;
    import(lib, paths, 1, SHELF_IMPORT_COPY, &st);
    ASSERT_EQ_INT(st.imported, 2);

    test_pathf(p, sizeof p, "%s/a.wav", src);
    ASSERT_OKL(lib, shelf_catalog_find_path(lib, p, &ida));
    test_pathf(p, sizeof p, "%s/b.wav", src);
    ASSERT_OKL(lib, shelf_catalog_find_path(lib, p, &idb));
    ASSERT_OKL(lib, shelf_catalog_get(lib, ida, &cur, &row));
    ASSERT(row->blob != NULL);
    ASSERT_EQ_STR(row->blob, row->sha256);
    test_pathf(hex, sizeof hex, "%s", row->blob);
    shelf_cursor_free(cur);
    ASSERT_OKL(lib, shelf_catalog_get(lib, idb, &cur, &row));
    ASSERT_EQ_STR(row->blob, hex);
    shelf_cursor_free(cur);
    test_pathf(blob, sizeof blob, "%s/objects/%.2s/%.2s/%s", dir, hex, hex + 2, hex);
    ASSERT(test_exists(blob));

    ASSERT_OKL(lib, shelf_catalog_remove(lib, ida, 0));
    ASSERT(test_exists(blob));
    ASSERT_OKL(lib, shelf_catalog_remove(lib, idb, 0));
    ASSERT(!test_exists(blob));
    /* The referenced originals are not the library's to delete. */
    ASSERT(test_exists(p));
    shelf_library_close(lib);
}

/* ---- read-only use ------------------------------------------------------------------- */

TEST(readonly)
{
    const shelf_sample *row;
    shelf_library *ro;
    int64_t ids[NCORPUS + 1], total = -1;
    shelf_cursor *cur;
    const char *paths[1];
    fixture fx;
    int rc;

    setup(&fx);
    ASSERT_OKL(fx.lib, shelf_tag_add(fx.lib, fx.id[KICK], "punchy"));
    teardown(&fx);
    ro = open_lib(fx.dir, SHELF_OPEN_READONLY);
    ASSERT_OKL(ro, shelf_catalog_list(ro, NULL, &cur));
    ASSERT_EQ_INT(collect(ro, cur, ids, NCORPUS + 1), NCORPUS);
    ASSERT_EQ_INT(search(ro, "punchy", ids, NCORPUS + 1), 1);
    ASSERT_OKL(ro, shelf_catalog_count(ro, &total, NULL));
    ASSERT_EQ_INT(total, NCORPUS);
    ASSERT_OKL(ro, shelf_catalog_get(ro, fx.id[KICK], &cur, &row));
    ASSERT_EQ_STR(row->tags, "punchy");
    shelf_cursor_free(cur);

    rc = shelf_tag_add(ro, fx.id[KICK], "other");
    ASSERT(rc < 0);
    ASSERT_RC(SHELF_EPERM, rc);
    ASSERT(strlen(shelf_errmsg(ro)) > 0);
    ASSERT(shelf_rate(ro, fx.id[KICK], 3) < 0);
    ASSERT(shelf_catalog_remove(ro, fx.id[KICK], 0) < 0);
    paths[0] = fx.src;
    ASSERT_RC(SHELF_EPERM, shelf_import(ro, paths, 1, NULL, NULL));
    shelf_library_close(ro);
    ASSERT_EQ_INT(db_int(fx.dir, "SELECT count(*) FROM tag_items"), 1);
    ASSERT_EQ_INT(db_int(fx.dir, "SELECT count(*) FROM ratings"), 0);
    ASSERT_EQ_INT(db_int(fx.dir, "SELECT count(*) FROM samples"), NCORPUS);
}

/* ---- migration of a version-1 catalog ----------------------------------------------- */

/* Make dir a library whose catalog is the version-1 fixture. */
static void make_v1_library(const char *dir)
{
    static const char config[] = "{\n  \"created\": 1600000000,\n  \"format\": 1,\n"
                                 "  \"library_id\": \"0123456789abcdef0123456789abcdef\"\n}\n";
    char p[PATH_MAX], *sql, *err = NULL;
    sqlite3 *db;

    ASSERT(mkdir(dir, 0777) == 0);
    test_pathf(p, sizeof p, "%s/schema-v1.sql", SHELF_TEST_DATA);
    sql = test_read_file(p, NULL);
    db = db_open(dir, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
        test__fail(__FILE__, __LINE__, "schema-v1.sql: %s", err ? err : "?");
    sqlite3_close(db);
    free(sql);
    test_pathf(p, sizeof p, "%s/config", dir);
    test_write_file(p, config, strlen(config));
    test_pathf(p, sizeof p, "%s/objects", dir);
    ASSERT(mkdir(p, 0777) == 0);
    ASSERT_EQ_INT(db_int(dir, "PRAGMA user_version"), 1);
}

TEST(migrate_v1)
{
    const shelf_sample *row;
    char dir[PATH_MAX], buf[256];
    int64_t ids[8], total = -1;
    shelf_library *lib;
    shelf_cursor *cur;

    test_pathf(dir, sizeof dir, "%s/old", test_tmpdir());
    make_v1_library(dir);
    /* Read-only cannot migrate, and must not. */
    open_fails(dir, SHELF_OPEN_READONLY, SHELF_EDB);
    ASSERT_EQ_INT(db_int(dir, "PRAGMA user_version"), 1);

    lib = open_lib(dir, 0);
    ASSERT_EQ_INT(db_int(dir, "PRAGMA user_version"), SHELF__SCHEMA_VERSION);
    ASSERT_OKL(lib, shelf_catalog_count(lib, &total, NULL));
    ASSERT_EQ_INT(total, 2);
    /* migration 6 queued both samples for the change log, at their times */
    ASSERT_EQ_INT(db_int(dir, "SELECT count(*) FROM change_queue WHERE field = '.' AND row IN (1, 2)"
                              " AND ms = 1000 * (SELECT created FROM samples WHERE id = row)"), 2);
    ASSERT_OKL(lib, shelf_catalog_get(lib, 1, &cur, &row));
    ASSERT_EQ_STR(row->name, "Kick_Vintage");
    ASSERT_EQ_STR(row->root, "/srv/old-library/samples");
    ASSERT_EQ_STR(row->relpath, "Drums/Kick_Vintage.wav");
    ASSERT_EQ_STR(row->tags, "analog");
    ASSERT_EQ_STR(row->category, "kick");
    ASSERT_EQ_INT(row->root_key, 36);
    ASSERT_EQ_INT(row->loop_start, -1);
    ASSERT_EQ_INT(row->created, 1600000000);
    shelf_cursor_free(cur);
    ASSERT_OKL(lib, shelf_catalog_get(lib, 2, &cur, &row));
    ASSERT_EQ_STR(row->name, "Warm_Strings");
    ASSERT_EQ_STR(row->tags, "");
    ASSERT_EQ_STR(row->format, "FLAC");
    ASSERT_EQ_INT(row->frames, 96000);
    ASSERT_EQ_INT(row->loop_start, 1000);
    ASSERT_EQ_INT(row->loop_end, 90000);
    ASSERT_EQ_INT(row->loop_mode, SHELF_LOOP_FORWARD);
    ASSERT(row->tempo == 90.0);
    ASSERT_EQ_INT(row->last_used, 1600000100);
    shelf_cursor_free(cur);

    /* The search index was built from the old rows. */
    ASSERT_EQ_INT(search(lib, "kick", ids, 8), 1);
    ASSERT_EQ_INT(ids[0], 1);
    ASSERT_EQ_INT(search(lib, "vint", ids, 8), 1);
    ASSERT_EQ_INT(ids[0], 1);
    ASSERT_EQ_INT(search(lib, "analog", ids, 8), 1);
    ASSERT_EQ_INT(ids[0], 1);
    ASSERT_EQ_INT(search(lib, "warm strings", ids, 8), 1);
    ASSERT_EQ_INT(ids[0], 2);
    ASSERT_EQ_INT(search(lib, "pads", ids, 8), 1);          /* folder word */
    ASSERT_EQ_INT(ids[0], 2);
    ASSERT_EQ_INT(search(lib, "pad", ids, 8), 1);           /* category */
    /* the root's path is not words (migration 15): the v1 catalog's root
     * is "/old library/..." */
    ASSERT_EQ_INT(search(lib, "old library", ids, 8), 0);
    ASSERT_EQ_INT(search(lib, "strings", ids, 8), 1);
    /* ... and is kept current from now on. */
    ASSERT_OKL(lib, shelf_tag_add(lib, 2, "lush"));
    ASSERT_EQ_INT(search(lib, "lush", ids, 8), 1);
    ASSERT_EQ_INT(ids[0], 2);
    ASSERT_OKL(lib, shelf_tag_remove(lib, 1, "analog"));
    ASSERT_EQ_INT(search(lib, "analog", ids, 8), 0);
    ASSERT_EQ_STR(tags_of(lib, 1, buf, sizeof buf), "");
    ASSERT_OKL(lib, shelf_catalog_remove(lib, 1, 0));
    ASSERT_EQ_INT(search(lib, "kick", ids, 8), 0);
    shelf_library_close(lib);

    /* Opening again is a no-op; read-only works now. */
    lib = open_lib(dir, 0);
    shelf_library_close(lib);
    lib = open_lib(dir, SHELF_OPEN_READONLY);
    ASSERT_EQ_INT(search(lib, "lush", ids, 8), 1);
    shelf_library_close(lib);
    ASSERT_EQ_INT(db_int(dir, "PRAGMA user_version"), SHELF__SCHEMA_VERSION);
}

/* An upgrade tells how far it is: every step in order, migration 15's
 * samples a batch at a time, the end; an open with nothing to upgrade and
 * a new library tell nothing. */
typedef struct watch_log {
    int calls, from, to, last_step, steps_in_order, fts_done[8], nfts;
    int64_t fts_total;
    double seconds;
} watch_log;

static void on_watch(void *ud, const shelf_open_progress *p)
{
    watch_log *w = ud;

    w->calls++;
    w->from = p->from;
    w->to = p->to;
    w->steps_in_order &= p->step >= w->last_step && p->step > p->from && p->step <= p->to;
    w->last_step = p->step;
    w->seconds = p->seconds;
    if (p->step == 15 && p->total && w->nfts < 8) {
        w->fts_total = p->total;
        w->fts_done[w->nfts++] = (int)p->done;
    }
}

TEST(migrate_tells_progress)
{
    char dir[PATH_MAX], fresh[PATH_MAX], *msg = NULL;
    watch_log w = { .steps_in_order = 1 };
    shelf_library *lib;
    int64_t ids[8];

    test_pathf(dir, sizeof dir, "%s/old", test_tmpdir());
    make_v1_library(dir);
    shelf__migrate_batch = 1;
    ASSERT_OK(shelf_library_open_cb(dir, 0, on_watch, &w, &lib, &msg));
    shelf__migrate_batch = 20000;
    ASSERT_EQ_INT(w.from, 1);
    ASSERT_EQ_INT(w.to, SHELF__SCHEMA_VERSION);
    ASSERT(w.steps_in_order);
    ASSERT_EQ_INT(w.last_step, SHELF__SCHEMA_VERSION);
    ASSERT(w.calls >= SHELF__SCHEMA_VERSION - 1 + 2);   /* each step, two batches, the end */
    ASSERT(w.seconds >= 0);
    /* migration 15: its two samples one batch each */
    ASSERT_EQ_INT(w.fts_total, 2);
    ASSERT(w.nfts >= 2);
    ASSERT_EQ_INT(w.fts_done[0], 1);
    ASSERT_EQ_INT(w.fts_done[w.nfts - 1], 2);
    ASSERT_EQ_INT(search(lib, "strings", ids, 8), 1);     /* filled in batches, all there */
    ASSERT_EQ_INT(search(lib, "kick", ids, 8), 1);
    shelf_library_close(lib);
    memset(&w, 0, sizeof w);
    ASSERT_OK(shelf_library_open_cb(dir, 0, on_watch, &w, &lib, &msg));
    shelf_library_close(lib);
    ASSERT_EQ_INT(w.calls, 0);
    test_pathf(fresh, sizeof fresh, "%s/new", test_tmpdir());
    ASSERT_OK(shelf_library_open_cb(fresh, SHELF_OPEN_CREATE, on_watch, &w, &lib, &msg));
    shelf_library_close(lib);
    ASSERT_EQ_INT(w.calls, 0);
}

/* ---- allocation failures ------------------------------------------------------------ */

/*
 * Each loop below makes allocation n fail for n = 1, 2, ... until the
 * operation runs without reaching its nth allocation.  Every attempt must
 * either fail with SHELF_ENOMEM or succeed with exactly the right result.
 * A wrong attempt is recorded and the loop goes on (so every n runs, for
 * ASan); the test fails at the end with the first one.
 */
#define ALLOC_TRIES 10000


typedef struct alloc_report {
    int bad;
    char first[512];
} alloc_report;

__attribute__((format(printf, 2, 3)))
static void alloc_bad(alloc_report *r, const char *fmt, ...)
{
    va_list ap;

    if (r->bad++)
        return;
    va_start(ap, fmt);
    vsnprintf(r->first, sizeof r->first, fmt, ap);
    va_end(ap);
}

#define ALLOC_REPORT_CHECK(r, n)                                                    \
    do {                                                                            \
        ASSERT((n) < ALLOC_TRIES);                                                  \
        if ((r).bad)                                                                \
            test__fail(__FILE__, __LINE__, "%d problems in %ld attempts; first: %s", \
                       (r).bad, (n), (r).first);                                    \
    } while (0)

/* jansson allocates through the hook, so the loops below reach it. */
TEST(alloc_hook_reaches_jansson_and_sqlite)
{
    char *p;

    shelf__global_init();
    shelf__alloc_fail_after(1);
    ASSERT(json_object() == NULL);
    shelf__alloc_fail_after(0);
    /* SQLite: SHELF_SQLITE_ALLOC_HOOK in lib/common/alloc.c, not built yet. */
    ASSERT((p = sqlite3_malloc(10)) != NULL);
    sqlite3_free(p);
}

TEST(alloc_fail_open)
{
    alloc_report rep = { 0, "" };
    char dir[PATH_MAX];
    shelf_library *lib;
    long n;

    test_pathf(dir, sizeof dir, "%s/lib", test_tmpdir());
    lib = open_lib(dir, SHELF_OPEN_CREATE);
    shelf_library_close(lib);
    for (n = 1; n < ALLOC_TRIES; n++) {
        char *msg = NULL;
        int rc, hit;

        lib = (shelf_library *)&lib;
        shelf__alloc_fail_after(n);
        rc = shelf_library_open(dir, 0, &lib, &msg);
        hit = fault_hit(n);
        shelf__alloc_fail_after(0);
        if (rc == SHELF_OK) {
            if (!lib || msg)
                alloc_bad(&rep, "allocation %ld: OK without a handle or with a message", n);
            shelf_library_close(lib);
        } else {
            if (rc != SHELF_ENOMEM)
                alloc_bad(&rep, "allocation %ld: %s: %s", n, shelf_strerror(rc),
                          msg ? msg : "(no message)");
            if (lib)
                alloc_bad(&rep, "allocation %ld: failed but *out is set", n);
            shelf_free(msg);
        }
        if (!hit) {
            if (rc != SHELF_OK)
                alloc_bad(&rep, "no failure injected, yet: %s", shelf_strerror(rc));
            break;
        }
    }
    ASSERT(n > 1);
    ALLOC_REPORT_CHECK(rep, n);
    /* Still a good library. */
    lib = open_lib(dir, 0);
    shelf_library_close(lib);
}

/*
 * A search under allocation failure.  "hard drums" finds Snare_Hard only;
 * a query that lost a word would find more.
 * Regression test, fixed: (lib/catalog/catalog.c, fts_query): the results of shelf__buf_adds/
 * shelf__buf_addf are ignored, so a failed allocation drops a word from the
 * query (or, for a one-word query, turns it into "no words"), and
 * shelf_catalog_search/_search_count return SHELF_OK with wrong results.
 */
TEST(alloc_fail_search)
{
    int64_t want[NCORPUS + 1], got[NCORPUS + 1];
    alloc_report rep = { 0, "" };
    fixture fx;
    int nwant;
    long n;

    setup(&fx);
    nwant = search(fx.lib, "hard drums", want, NCORPUS + 1);
    ASSERT_EQ_INT(nwant, 1);
    for (n = 1; n < ALLOC_TRIES; n++) {
        shelf_cursor *cur = (shelf_cursor *)&cur;
        int rc, i, ngot, hit;

        shelf__alloc_fail_after(n);
        rc = shelf_catalog_search(fx.lib, "hard drums", 0, 0, &cur);
        hit = fault_hit(n);
        shelf__alloc_fail_after(0);
        if (rc != SHELF_OK) {
            if (rc != SHELF_ENOMEM)
                alloc_bad(&rep, "allocation %ld: %s: %s", n, shelf_strerror(rc),
                          shelf_errmsg(fx.lib));
            if (cur)
                alloc_bad(&rep, "allocation %ld: failed but *out is set", n);
        } else {
            ngot = collect(fx.lib, cur, got, NCORPUS + 1);
            if (ngot != nwant)
                alloc_bad(&rep, "allocation %ld: search returned OK with %d rows, not %d", n,
                          ngot, nwant);
            for (i = 0; i < ngot && i < nwant; i++)
                if (got[i] != want[i])
                    alloc_bad(&rep, "allocation %ld: row %d is id %lld, not %lld", n, i,
                              (long long)got[i], (long long)want[i]);
        }
        if (!hit)
            break;
    }
    ALLOC_REPORT_CHECK(rep, n);
    teardown(&fx);
}

/* search_count under allocation failure: ENOMEM or the right count (same
 * regression test as alloc_fail_search). */
TEST(alloc_fail_search_count)
{
    alloc_report rep = { 0, "" };
    fixture fx;
    long n;

    setup(&fx);
    for (n = 1; n < ALLOC_TRIES; n++) {
        int64_t count = -1;
        int rc, hit;

        shelf__alloc_fail_after(n);
        rc = shelf_catalog_search_count(fx.lib, "hard drums", &count);
        hit = fault_hit(n);
        shelf__alloc_fail_after(0);
        if (rc == SHELF_OK && count != 1)
            alloc_bad(&rep, "allocation %ld: search_count returned OK with %lld, not 1", n,
                      (long long)count);
        if (rc != SHELF_OK && rc != SHELF_ENOMEM)
            alloc_bad(&rep, "allocation %ld: %s: %s", n, shelf_strerror(rc),
                      shelf_errmsg(fx.lib));
        if (!hit)
            break;
    }
    ALLOC_REPORT_CHECK(rep, n);
    teardown(&fx);
}

/*
 * A listing under allocation failure: ENOMEM or exactly the right rows.
 * Regression test, fixed: (lib/catalog/catalog.c, shelf_catalog_list): the shelf__buf_adds/
 * shelf__buf_addf results are ignored and only sql.buf == NULL is checked,
 * so a failed first append followed by successful ones prepares a partial
 * statement (SHELF_EDB "syntax error"), and a failed later append would
 * silently drop a filter, the ORDER BY or the LIMIT.
 */
TEST(alloc_fail_list)
{
    snap want[NCORPUS + 1];
    alloc_report rep = { 0, "" };
    shelf_list_opts o;
    fixture fx;
    int nwant;
    long n;

    setup(&fx);
    ASSERT_OKL(fx.lib, shelf_favourite(fx.lib, fx.id[KICK], 1));
    ASSERT_OKL(fx.lib, shelf_favourite(fx.lib, fx.id[SNARE], 1));
    ASSERT_OKL(fx.lib, shelf_favourite(fx.lib, fx.id[WARM], 1));
    ASSERT_OKL(fx.lib, shelf_favourite(fx.lib, fx.id[TOM], 1));
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.sort = SHELF_SORT_NAME;
    o.descending = 1;
    o.limit = 2;
    o.offset = 1;
    o.only_favourites = 1;
    nwant = list(fx.lib, &o, want, NCORPUS + 1);
    ASSERT_EQ_INT(nwant, 2);
    ASSERT_EQ_INT(want[0].id, fx.id[TOM]);
    ASSERT_EQ_INT(want[1].id, fx.id[SNARE]);
    for (n = 1; n < ALLOC_TRIES; n++) {
        shelf_cursor *cur = (shelf_cursor *)&cur;
        const shelf_sample *row;
        int rc, ngot = 0, hit;

        shelf__alloc_fail_after(n);
        rc = shelf_catalog_list(fx.lib, &o, &cur);
        hit = fault_hit(n);
        shelf__alloc_fail_after(0);
        if (rc != SHELF_OK) {
            if (rc != SHELF_ENOMEM)
                alloc_bad(&rep, "allocation %ld: %s: %s", n, shelf_strerror(rc),
                          shelf_errmsg(fx.lib));
            if (cur)
                alloc_bad(&rep, "allocation %ld: failed but *out is set", n);
        } else {
            while ((rc = shelf_cursor_next(cur, &row)) == SHELF_ROW) {
                if (ngot < nwant && row->id != want[ngot].id)
                    alloc_bad(&rep, "allocation %ld: row %d is id %lld, not %lld", n, ngot,
                              (long long)row->id, (long long)want[ngot].id);
                ngot++;
            }
            ASSERT_RC(SHELF_DONE, rc);
            shelf_cursor_free(cur);
            if (ngot != nwant)
                alloc_bad(&rep, "allocation %ld: list returned OK with %d rows, not %d", n,
                          ngot, nwant);
        }
        if (!hit)
            break;
    }
    ALLOC_REPORT_CHECK(rep, n);
    teardown(&fx);
}

/* Kept statements: the same SQL gives the same statement, reset and
 * unbound; past SHELF__KEPT kinds the oldest idle one goes, never one
 * that is running; closing the library finalizes them all. */
TEST(kept_statements)
{
    char dir[PATH_MAX], sql[64];
    shelf_library *lib;
    sqlite3_stmt *a, *b, *run;
    int i;

    test_pathf(dir, sizeof dir, "%s/kept", test_tmpdir());
    lib = open_lib(dir, SHELF_OPEN_CREATE);
    a = shelf__prepare_kept(lib, "SELECT ?1");
    ASSERT(a);
    ASSERT_EQ_INT(sqlite3_bind_int(a, 1, 7), SQLITE_OK);
    ASSERT_EQ_INT(sqlite3_step(a), SQLITE_ROW);
    ASSERT_EQ_INT(sqlite3_column_int(a, 0), 7);
    /* asked again while it is mid-row: the same one, reset, unbound */
    b = shelf__prepare_kept(lib, "SELECT ?1");
    ASSERT(a == b);
    ASSERT_EQ_INT(sqlite3_stmt_busy(b), 0);
    ASSERT_EQ_INT(sqlite3_step(b), SQLITE_ROW);
    ASSERT_EQ_INT(sqlite3_column_type(b, 0), SQLITE_NULL);
    /* one left running while 2 * SHELF__KEPT others come and go */
    run = shelf__prepare_kept(lib, "SELECT 1 UNION ALL SELECT 2");
    ASSERT(run);
    ASSERT_EQ_INT(sqlite3_step(run), SQLITE_ROW);
    for (i = 0; i < 2 * SHELF__KEPT; i++) {
        sqlite3_stmt *st;

        snprintf(sql, sizeof sql, "SELECT %d", i);
        st = shelf__prepare_kept(lib, sql);
        ASSERT(st && st != run);
        ASSERT_EQ_INT(sqlite3_step(st), SQLITE_ROW);
        ASSERT_EQ_INT(sqlite3_column_int(st, 0), i);
        sqlite3_reset(st);
    }
    /* the running one survived: it still steps to its second row */
    ASSERT_EQ_INT(sqlite3_stmt_busy(run), 1);
    ASSERT_EQ_INT(sqlite3_step(run), SQLITE_ROW);
    ASSERT_EQ_INT(sqlite3_column_int(run, 0), 2);
    sqlite3_reset(run);
    /* the first was evicted and comes back prepared anew */
    a = shelf__prepare_kept(lib, "SELECT ?1");
    ASSERT(a);
    ASSERT_EQ_INT(sqlite3_step(a), SQLITE_ROW);
    sqlite3_reset(a);
    /* bad SQL: NULL, the error said */
    ASSERT(shelf__prepare_kept(lib, "SELEKT") == NULL);
    ASSERT(strstr(shelf_errmsg(lib), "syntax error") != NULL);
    shelf_library_close(lib);       /* ASan: nothing leaks, nothing freed twice */
}

/* Peaks: decoded once, then from the cache by the bytes' hash (a file gone
 * since keeps them); gc removes the peaks of bytes no sample has. */
TEST(peaks_cached_and_collected)
{
    const char *d = test_tmpdir();
    char libdir[4096], root[4096], path[4096];
    const char *roots[1] = { root };
    float lo[64], hi[64], lo2[64], hi2[64];
    shelf_import_opts io;
    shelf_gc_stats gs = { .size = sizeof gs };
    shelf_library *lib;
    int64_t id;
    int cached = -1, i;

    test_pathf(libdir, sizeof libdir, "%s/lib", d);
    test_pathf(root, sizeof root, "%s/s", d);
    ASSERT(mkdir(root, 0777) == 0);
    test_pathf(path, sizeof path, "%s/tone é.wav", root);
    ASSERT_EQ_INT(tg_write_simple(path, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 44100, 2, 20000, 3), 0);
    ASSERT_OK(shelf_library_open(libdir, SHELF_OPEN_CREATE, &lib, NULL));
    memset(&io, 0, sizeof io);
    io.size = sizeof io;
    ASSERT_OKL(lib, shelf_import(lib, roots, 1, &io, NULL));
    ASSERT_OKL(lib, shelf_catalog_find_path(lib, path, &id));
    ASSERT_RC(SHELF_EINVAL, shelf_sample_peaks(lib, id, 8, lo, hi, NULL));
    ASSERT_OKL(lib, shelf_sample_peaks(lib, id, 64, lo, hi, &cached));
    ASSERT_EQ_INT(cached, 0);
    for (i = 0; i < 64; i++)
        ASSERT(lo[i] >= -1 && lo[i] <= hi[i] && hi[i] <= 1);
    ASSERT(hi[10] > 0.05f);                 /* not silence */
    ASSERT_OKL(lib, shelf_sample_peaks(lib, id, 64, lo2, hi2, &cached));
    ASSERT_EQ_INT(cached, 1);
    ASSERT(!memcmp(lo, lo2, sizeof lo) && !memcmp(hi, hi2, sizeof hi));
    ASSERT(unlink(path) == 0);
    ASSERT_OKL(lib, shelf_sample_peaks(lib, id, 64, lo2, hi2, &cached));
    ASSERT(cached == 1 && !memcmp(hi, hi2, sizeof hi));
    ASSERT_RC(SHELF_ENOTFOUND, shelf_sample_peaks(lib, id, 65, lo2, hi2, NULL));
    ASSERT_OKL(lib, shelf_gc(lib, 1, 0, &gs));
    ASSERT_EQ_INT(gs.peaks_removed, 0);     /* the sample still has those bytes */
    ASSERT_OKL(lib, shelf_catalog_remove(lib, id, 0));
    ASSERT_OKL(lib, shelf_gc(lib, 1, 1, &gs));
    ASSERT_EQ_INT(gs.peaks_removed, 1);     /* dry run: counted */
    ASSERT_OKL(lib, shelf_gc(lib, 1, 0, &gs));
    ASSERT_EQ_INT(gs.peaks_removed, 1);
    ASSERT_OKL(lib, shelf_gc(lib, 1, 0, &gs));
    ASSERT_EQ_INT(gs.peaks_removed, 0);
    shelf_library_close(lib);
}

int main(int argc, char **argv)
{
    static const test_case tests[] = {
        TEST_ENTRY(open_creates),
        TEST_ENTRY(reopen_keeps_config),
        TEST_ENTRY(open_refusals),
        TEST_ENTRY(open_newer_catalog),
        TEST_ENTRY(tags),
        TEST_ENTRY(rating),
        TEST_ENTRY(favourite_and_touch),
        TEST_ENTRY(get_row),
        TEST_ENTRY(list_sorts),
        TEST_ENTRY(opts_size_list_search),
        TEST_ENTRY(list_paging_and_filters),
        TEST_ENTRY(search),
        TEST_ENTRY(search_ranking),
        TEST_ENTRY(find_path), TEST_ENTRY(sample_path),
        TEST_ENTRY(remove),
        TEST_ENTRY(remove_shared_blob),
        TEST_ENTRY(readonly),
        TEST_ENTRY(migrate_v1),
        TEST_ENTRY(migrate_tells_progress),
        TEST_ENTRY(alloc_hook_reaches_jansson_and_sqlite),
        TEST_ENTRY(alloc_fail_open),
        TEST_ENTRY(alloc_fail_search),
        TEST_ENTRY(alloc_fail_search_count),
        TEST_ENTRY(alloc_fail_list),
        TEST_ENTRY(kept_statements),
        TEST_ENTRY(peaks_cached_and_collected),
        TEST_END
    };

    return test_run(argc, argv, tests);
}
