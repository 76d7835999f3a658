/*
 * test_changelog.c: the change log (lib/sync/changelog.c, the triggers of
 * schema 6 in lib/catalog/schema.c).  Every change to what syncs becomes
 * one record, in its own transaction or not at all; items are named by
 * content; changes made behind shelf's back (the sqlite3 shell) are logged
 * with the time they were made; the clock never goes back.
 */
#include <sndfile.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <time.h>
#include "test.h"
#include "audiogen.h"
#include "libs.h"
#include "shelf/catalog.h"
#include "shelf/import.h"
#include "shelf/search.h"
#include "shelf/sync.h"
#include "catalog/catalog_int.h"
#include "sync/sync_int.h"

#define MAXREC 64

typedef struct rec {
    char device[SHELF_DEVICE_ID_LEN + 1];
    int64_t counter;
    uint64_t hlc;
    char item[80], field[80], value[2048];
} rec;

typedef struct recs {
    rec r[MAXREC];
    int n;
} recs;

static int collect(void *ud, const shelf_change *c)
{
    recs *l = ud;
    rec *r;

    ASSERT(l->n < MAXREC);
    ASSERT_EQ_INT(c->size, sizeof *c);
    r = &l->r[l->n++];
    snprintf(r->device, sizeof r->device, "%s", c->device);
    r->counter = c->counter;
    r->hlc = c->hlc;
    ASSERT_EQ_INT(c->time_ms, (int64_t)(c->hlc >> 16));
    snprintf(r->item, sizeof r->item, "%s", c->item);
    snprintf(r->field, sizeof r->field, "%s", c->field);
    snprintf(r->value, sizeof r->value, "%s", c->value ? c->value : "(null)");
    return 0;
}

static void log_of(shelf_library *lib, recs *l)
{
    memset(l, 0, sizeof *l);
    ASSERT_OKL(lib, shelf_sync_log(lib, NULL, 0, collect, l));
}

/* The index of the record (item, field), -1 when there is none. */
static int find(const recs *l, const char *item, const char *field)
{
    int i;

    for (i = 0; i < l->n; i++)
        if (!strcmp(l->r[i].item, item) && !strcmp(l->r[i].field, field))
            return i;
    return -1;
}

/* DIR/src with three short sine waves (one under a name that is not
 * UTF-8), imported into a new library at DIR/lib; ids 1..3 in file order. */
static shelf_library *lib_with_samples(const char *dir)
{
    static const char *const names[] = { "kick é.wav", "snare 🥁.wav", "hat \xff.wav" };
    const char *paths[1];
    char src[PATH_MAX], p[PATH_MAX];
    shelf_library *lib;
    size_t i;

    test_pathf(src, sizeof src, "%s/src", dir);
    ASSERT(mkdir(src, 0777) == 0);
    for (i = 0; i < 3; i++) {
        test_pathf(p, sizeof p, "%s/%s", src, names[i]);
        ASSERT_EQ_INT(tg_write_simple(p, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 44100, 1, 441,
                                      (unsigned)i + 1), 0);
    }
    test_pathf(p, sizeof p, "%s/lib", dir);
    lib = test_lib_open(p, SHELF_OPEN_CREATE);
    paths[0] = src;
    ASSERT_OKL(lib, shelf_import(lib, paths, 1, NULL, NULL));
    return lib;
}

/* "s:" and the sha256 of sample id. */
static void item_of(shelf_library *lib, int64_t id, char out[80])
{
    shelf_cursor *cur;
    const shelf_sample *row;

    ASSERT_OKL(lib, shelf_catalog_get(lib, id, &cur, &row));
    snprintf(out, 80, "s:%s", row->sha256);
    shelf_cursor_free(cur);
}

static void me(shelf_library *lib, char id[SHELF_DEVICE_ID_LEN + 1])
{
    shelf_device_info d = { .size = sizeof d };

    ASSERT_OKL(lib, shelf_device_self(lib, &d));
    memcpy(id, d.id, sizeof d.id);
}

/* The catalog file of a library, for sqlite3 as another writer. */
static sqlite3 *shell(const char *libdir)
{
    char p[PATH_MAX];
    sqlite3 *db = NULL;

    test_pathf(p, sizeof p, "%s/shelf.db", libdir);
    ASSERT_EQ_INT(sqlite3_open_v2(p, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    ASSERT_EQ_INT(sqlite3_busy_timeout(db, 5000), SQLITE_OK);
    return db;
}

static int64_t sql_int(shelf_library *lib, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t v;

    ASSERT_EQ_INT(sqlite3_prepare_v2(lib->db, sql, -1, &st, NULL), SQLITE_OK);
    ASSERT_EQ_INT(sqlite3_step(st), SQLITE_ROW);
    v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* The id of the sample at DIR/src/NAME. */
static int64_t id_at(shelf_library *lib, const char *dir, const char *name)
{
    char p[PATH_MAX];
    int64_t id = 0;

    test_pathf(p, sizeof p, "%s/src/%s", dir, name);
    ASSERT_OKL(lib, shelf_catalog_find_path(lib, p, &id));
    return id;
}

/* Imports, tags, a rating, a favourite and a collection: one record each,
 * numbered 1.. by this device, clocks strictly rising, items by content. */
TEST(every_change_is_one_record)
{
    char self[SHELF_DEVICE_ID_LEN + 1], kick[80], snare[80], hat[80], sub[96], dir[PATH_MAX];
    shelf_library *lib;
    int64_t k1, s2, h3;
    recs l;
    int i, k;

    test_pathf(dir, sizeof dir, "%s", test_tmpdir());
    lib = lib_with_samples(dir);
    me(lib, self);
    item_of(lib, k1 = id_at(lib, dir, "kick é.wav"), kick);
    item_of(lib, s2 = id_at(lib, dir, "snare 🥁.wav"), snare);
    item_of(lib, h3 = id_at(lib, dir, "hat \xff.wav"), hat);
    ASSERT_OKL(lib, shelf_tag_add(lib, k1, "drums"));
    ASSERT_OKL(lib, shelf_tag_add(lib, k1, "808☢"));
    ASSERT_OKL(lib, shelf_tag_remove(lib, k1, "drums"));
    ASSERT_OKL(lib, shelf_rate(lib, s2, 4));
    ASSERT_OKL(lib, shelf_rate(lib, s2, 5));
    ASSERT_OKL(lib, shelf_rate(lib, s2, 0));
    ASSERT_OKL(lib, shelf_favourite(lib, h3, 1));
    ASSERT_OKL(lib, shelf_touch(lib, h3));              /* not synced: no record */
    ASSERT_OKL(lib, shelf_collection_new(lib, "Live set", NULL));
    ASSERT_OKL(lib, shelf_collection_add(lib, "Live set", h3, -1));
    log_of(lib, &l);
    ASSERT_EQ_INT(l.n, 3 + 3 + 3 + 1 + 2);
    for (i = 0; i < l.n; i++) {
        ASSERT_EQ_STR(l.r[i].device, self);
        ASSERT_EQ_INT(l.r[i].counter, i + 1);
        ASSERT(i == 0 || l.r[i].hlc > l.r[i - 1].hlc);
        /* the wall time of the change: within a minute of now */
        ASSERT((int64_t)(l.r[i].hlc >> 16) / 1000 > (int64_t)time(NULL) - 60);
    }
    /* the three imports carry the sample: name, fields, and its tags,
     * rating and favourite as they were when the log read them (the
     * records after say when each came) */
    for (i = 0; i < 3; i++) {
        ASSERT_EQ_STR(l.r[i].field, ".");
        ASSERT(strstr(l.r[i].value, "\"rate\":44100"));
    }
    ASSERT((k = find(&l, kick, ".")) >= 0 && strstr(l.r[k].value, "\"name\":\"kick é\""));
    ASSERT(strstr(l.r[k].value, "\"tags\":[\"808☢\"]"));
    ASSERT((k = find(&l, snare, ".")) >= 0 && strstr(l.r[k].value, "\"tags\":[]"));
    ASSERT(strstr(l.r[k].value, "\"rating\":null"));
    ASSERT((k = find(&l, hat, ".")) >= 0 && strstr(l.r[k].value, "\"favourite\":true"));
    ASSERT(strcmp(kick, snare) != 0 && strcmp(snare, hat) != 0 && strcmp(kick, hat) != 0);
    ASSERT_EQ_STR(l.r[3].item, kick);
    ASSERT_EQ_STR(l.r[3].field, "tag:drums");
    ASSERT_EQ_STR(l.r[3].value, "true");
    ASSERT_EQ_STR(l.r[4].field, "tag:808☢");
    ASSERT_EQ_STR(l.r[5].field, "tag:drums");
    ASSERT_EQ_STR(l.r[5].value, "null");
    ASSERT_EQ_STR(l.r[6].item, snare);
    ASSERT_EQ_STR(l.r[6].field, "rating");
    ASSERT_EQ_STR(l.r[6].value, "4");
    ASSERT_EQ_STR(l.r[7].value, "5");
    ASSERT_EQ_STR(l.r[8].value, "null");
    ASSERT_EQ_STR(l.r[9].item, hat);
    ASSERT_EQ_STR(l.r[9].field, "favourite");
    ASSERT_EQ_STR(l.r[10].item, "c:Live set");
    ASSERT_EQ_STR(l.r[10].field, ".");
    ASSERT_EQ_STR(l.r[10].value, "{\"query\":null}");
    snprintf(sub, sizeof sub, "has:%s", hat);
    ASSERT_EQ_STR(l.r[11].field, sub);
    /* logged once: a second read finds the same records and no queue */
    log_of(lib, &l);
    ASSERT_EQ_INT(l.n, 12);
    ASSERT_EQ_INT(sql_int(lib, "SELECT count(*) FROM change_queue"), 0);
    shelf_library_close(lib);
}

/* Importing the same files again changes nothing, so logs nothing; a
 * change rolled back is not logged. */
TEST(no_change_no_record)
{
    char dir[PATH_MAX], src[PATH_MAX];
    const char *paths[1] = { src };
    shelf_library *lib;
    recs l;

    test_pathf(dir, sizeof dir, "%s", test_tmpdir());
    lib = lib_with_samples(dir);
    log_of(lib, &l);
    ASSERT_EQ_INT(l.n, 3);
    test_pathf(src, sizeof src, "%s/src", dir);
    ASSERT_OKL(lib, shelf_import(lib, paths, 1, NULL, NULL));
    ASSERT_OKL(lib, shelf__begin(lib));
    ASSERT_OKL(lib, shelf_tag_add(lib, 2, "gone"));
    ASSERT_OKL(lib, shelf_rate(lib, 2, 3));
    ASSERT_EQ_INT(sql_int(lib, "SELECT count(*) FROM change_queue"), 2);
    shelf__rollback(lib);
    ASSERT_EQ_INT(sql_int(lib, "SELECT count(*) FROM change_queue"), 0);
    log_of(lib, &l);
    ASSERT_EQ_INT(l.n, 3);
    shelf_library_close(lib);
}

/* Another writer (the sqlite3 shell, an old shelf) changes the catalog:
 * the triggers queue it, and the next read logs it with the time of the
 * change, not of the read. */
TEST(changes_behind_shelfs_back_are_logged)
{
    char dir[PATH_MAX], libdir[PATH_MAX], kick[80];
    shelf_library *lib;
    sqlite3 *db;
    recs l;
    int k;

    test_pathf(dir, sizeof dir, "%s", test_tmpdir());
    lib = lib_with_samples(dir);
    item_of(lib, 1, kick);
    log_of(lib, &l);
    ASSERT_EQ_INT(l.n, 3);
    shelf_library_close(lib);

    test_pathf(libdir, sizeof libdir, "%s/lib", dir);
    db = shell(libdir);
    /* an hour ago by its own clock: the shell's write carries "now", so
     * move the queued time back to prove the record keeps it */
    ASSERT_EQ_INT(sqlite3_exec(db, "UPDATE samples SET category = 'bass', title = 'Deep' WHERE id = 1;"
                                   "INSERT INTO tags(name) VALUES('shell');"
                                   "INSERT INTO tag_items(tag_id, kind, item_id) SELECT id, 1, 1 "
                                   "FROM tags WHERE name = 'shell';"
                                   "UPDATE change_queue SET ms = ms - 3600000;",
                                   NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    lib = test_lib_open(libdir, 0);
    log_of(lib, &l);
    ASSERT_EQ_INT(l.n, 6);
    ASSERT((k = find(&l, kick, "category")) >= 0);
    ASSERT_EQ_STR(l.r[k].value, "\"bass\"");
    ASSERT((k = find(&l, kick, "title")) >= 0);
    ASSERT_EQ_STR(l.r[k].value, "\"Deep\"");
    ASSERT((k = find(&l, kick, "tag:shell")) >= 0);
    /* counters follow the queue's order; the clock keeps the change's own
     * time when it is ahead of the log's clock... which an hour ago is
     * not: the log never goes back, so the records follow the imports */
    ASSERT(l.r[3].hlc > l.r[2].hlc && l.r[4].hlc > l.r[3].hlc);
    ASSERT_EQ_INT(l.r[5].counter, 6);
    shelf_library_close(lib);
}

/* Removing a sample leaves a tombstone, unless another row holds the
 * same bytes; new bytes under a path are a new item and a tombstone. */
TEST(tombstones)
{
    char dir[PATH_MAX], p[PATH_MAX], src[PATH_MAX], snare[80], kick[80], kick2[80], hat[80];
    const char *paths[1] = { src };
    shelf_library *lib;
    sqlite3_stmt *st;
    int64_t id;
    recs l;
    int k;

    test_pathf(dir, sizeof dir, "%s", test_tmpdir());
    test_pathf(src, sizeof src, "%s/src", dir);
    lib = lib_with_samples(dir);
    item_of(lib, id_at(lib, dir, "snare 🥁.wav"), snare);
    item_of(lib, id_at(lib, dir, "kick é.wav"), kick);
    item_of(lib, id = id_at(lib, dir, "hat \xff.wav"), hat);
    log_of(lib, &l);
    ASSERT_EQ_INT(l.n, 3);
    /* a name that is not UTF-8 is in the record, escaped (names.h) */
    ASSERT((k = find(&l, hat, ".")) >= 0 && strstr(l.r[k].value, "\"name\":\"hat %FF\""));

    ASSERT_OKL(lib, shelf_catalog_remove(lib, id_at(lib, dir, "snare 🥁.wav"), 0));
    log_of(lib, &l);
    ASSERT_EQ_INT(l.n, 4);
    ASSERT_EQ_STR(l.r[3].item, snare);
    ASSERT_EQ_STR(l.r[3].field, ".");
    ASSERT_EQ_STR(l.r[3].value, "null");

    /* new bytes in a file: a new item, and the old one's tombstone */
    test_pathf(p, sizeof p, "%s/kick é.wav", src);
    ASSERT_EQ_INT(tg_write_simple(p, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 44100, 1, 882, 9), 0);
    ASSERT_OKL(lib, shelf_import(lib, paths, 1, NULL, NULL));
    item_of(lib, id_at(lib, dir, "kick é.wav"), kick2);
    ASSERT(strcmp(kick, kick2) != 0);
    log_of(lib, &l);
    /* (the import also finds the removed snare's file again: added back) */
    ASSERT_EQ_INT(l.n, 7);
    ASSERT_EQ_STR(l.r[4].item, snare);
    ASSERT(strstr(l.r[4].value, "\"name\":\"snare 🥁\""));
    ASSERT_EQ_STR(l.r[5].item, kick);
    ASSERT_EQ_STR(l.r[5].value, "null");
    ASSERT_EQ_STR(l.r[6].item, kick2);
    ASSERT_EQ_STR(l.r[6].field, ".");
    ASSERT(strstr(l.r[6].value, "\"frames\":882"));

    /* two rows with one sha: removing one is no tombstone */
    ASSERT_EQ_INT(sqlite3_prepare_v2(lib->db,
                                     "INSERT INTO samples(name, root_id, relpath, size, mtime_ns, "
                                     "sha256, created) SELECT 'copy', root_id, 'copy.wav', size, 0, "
                                     "sha256, 0 FROM samples WHERE id = ?1 RETURNING id", -1, &st,
                                     NULL), SQLITE_OK);
    ASSERT_EQ_INT(sqlite3_bind_int64(st, 1, id), SQLITE_OK);
    ASSERT_EQ_INT(sqlite3_step(st), SQLITE_ROW);
    sqlite3_finalize(st);
    ASSERT_OKL(lib, shelf_catalog_remove(lib, id, 0));
    log_of(lib, &l);
    ASSERT_EQ_INT(l.n, 8);      /* the copy's own "." record, no tombstone */
    ASSERT_EQ_STR(l.r[7].item, hat);
    ASSERT(strstr(l.r[7].value, "\"name\":\"copy\""));
    shelf_library_close(lib);
}

/* The clock is kept in the catalog: a log whose clock is ahead of the
 * wall clock (a device whose clock went back) stamps new records after
 * it. */
TEST(clock_never_goes_back)
{
    shelf_library *lib = lib_with_samples(test_tmpdir());
    uint64_t ahead = shelf__hlc_pack((uint64_t)time(NULL) * 1000 + 3600 * 1000, 7);
    char sql[128];
    recs l;

    log_of(lib, &l);
    snprintf(sql, sizeof sql, "UPDATE sync_clock SET hlc = %llu", (unsigned long long)ahead);
    ASSERT_EQ_INT(sqlite3_exec(lib->db, sql, NULL, NULL, NULL), SQLITE_OK);
    ASSERT_OKL(lib, shelf_tag_add(lib, 1, "later"));
    log_of(lib, &l);
    ASSERT_EQ_INT(l.n, 4);
    ASSERT_EQ_INT(l.r[3].hlc, ahead + 1);
    ASSERT_EQ_INT(sql_int(lib, "SELECT hlc FROM sync_clock"), (int64_t)ahead + 1);
    shelf_library_close(lib);
}

static int vec_one(void *ud, const char *device, int64_t counter)
{
    recs *l = ud;

    ASSERT(l->n < MAXREC);
    snprintf(l->r[l->n].device, sizeof l->r[l->n].device, "%s", device);
    l->r[l->n++].counter = counter;
    return 0;
}

/* The version vector; one device's records after a counter; a read-only
 * library reads its log as it stands. */
TEST(vector_filter_and_read_only)
{
    char dir[PATH_MAX], libdir[PATH_MAX], self[SHELF_DEVICE_ID_LEN + 1];
    shelf_library *lib;
    recs l;

    test_pathf(dir, sizeof dir, "%s", test_tmpdir());
    lib = lib_with_samples(dir);
    me(lib, self);
    ASSERT_OKL(lib, shelf_tag_add(lib, 1, "a"));
    memset(&l, 0, sizeof l);
    ASSERT_OKL(lib, shelf_sync_vector(lib, vec_one, &l));
    ASSERT_EQ_INT(l.n, 1);
    ASSERT_EQ_STR(l.r[0].device, self);
    ASSERT_EQ_INT(l.r[0].counter, 4);
    memset(&l, 0, sizeof l);
    ASSERT_OKL(lib, shelf_sync_log(lib, self, 2, collect, &l));
    ASSERT_EQ_INT(l.n, 2);
    ASSERT_EQ_INT(l.r[0].counter, 3);
    ASSERT_RC(SHELF_EINVAL, shelf_sync_log(lib, "not-an-id", 0, collect, &l));
    ASSERT(strstr(shelf_errmsg(lib), "invalid device id 'not-an-id'"));
    ASSERT_OKL(lib, shelf_tag_add(lib, 1, "queued"));
    shelf_library_close(lib);

    test_pathf(libdir, sizeof libdir, "%s/lib", dir);
    lib = test_lib_open(libdir, SHELF_OPEN_READONLY);
    log_of(lib, &l);
    ASSERT_EQ_INT(l.n, 4);      /* the queued tag waits for a writer */
    shelf_library_close(lib);
    lib = test_lib_open(libdir, 0);
    log_of(lib, &l);
    ASSERT_EQ_INT(l.n, 5);
    shelf_library_close(lib);
}

int main(int argc, char **argv)
{
    static const test_case tests[] = {
        TEST_ENTRY(every_change_is_one_record),
        TEST_ENTRY(no_change_no_record),
        TEST_ENTRY(changes_behind_shelfs_back_are_logged),
        TEST_ENTRY(tombstones),
        TEST_ENTRY(clock_never_goes_back),
        TEST_ENTRY(vector_filter_and_read_only),
        TEST_END
    };

    return test_run(argc, argv, tests);
}
