/*
 * test_sync.c: the change log (lib/sync/changelog.c, the triggers of
 * schema 6 in lib/catalog/schema.c).  Every change to what syncs becomes
 * one record, in its own transaction or not at all; items are named by
 * content; changes made behind shelf's back (the sqlite3 shell) are logged
 * with the time they were made; the clock never goes back.  And merging
 * (lib/sync/merge.c): records of one library applied to another, the rules
 * of doc/sync.md one scenario each, and a property test of three devices
 * that change and exchange at random and end the same.
 */
#include <sndfile.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "test.h"
#include "audiogen.h"
#include "libs.h"
#include "exchange.h"
#include "shelf/catalog.h"
#include "shelf/import.h"
#include "shelf/search.h"
#include "shelf/sync.h"
#include "shelf/maint.h"
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

/* The library of a test with one device: DIR/lib. */
static shelf_library *lib_with_samples(const char *dir)
{
    return test_device_at(dir, "lib");
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
    test_device_id(lib, self);
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
    /* a removal says what its device had seen of the others (none here) */
    ASSERT_EQ_STR(l.r[3].value, "{\"removed\":true,\"seen\":{}}");

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
    ASSERT_EQ_STR(l.r[5].value, "{\"removed\":true,\"seen\":{}}");
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
    test_device_id(lib, self);
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

/* ---- merging ------------------------------------------------------------ */

/* Log what is queued now (its clock is read now). */
static void drain(shelf_library *lib)
{
    recs *v = calloc(1, sizeof *v);

    ASSERT(v != NULL);
    ASSERT_OKL(lib, shelf_sync_vector(lib, vec_one, v));
    free(v);
}

static void sync2(shelf_library *a, shelf_library *b)
{
    test_exchange(b, a, NULL);
    test_exchange(a, b, NULL);
}

/* A sample's synced state: "tags|rating|favourite" of the row with the
 * file NAME of DIR/src, or "gone". */
static void state_of_id(shelf_library *lib, int64_t id, char *out, size_t n)
{
    const shelf_sample *row;
    shelf_cursor *cur;

    if (!id) {
        snprintf(out, n, "gone");
        return;
    }
    ASSERT_OKL(lib, shelf_catalog_get(lib, id, &cur, &row));
    snprintf(out, n, "%s|%d|%d|%s", row->tags ? row->tags : "", row->rating, row->favourite,
             row->category ? row->category : "");
    shelf_cursor_free(cur);
}

static void state_of(shelf_library *lib, const char *dir, const char *name, char *out, size_t n)
{
    char p[PATH_MAX];
    int64_t id = 0;

    test_pathf(p, sizeof p, "%s/src/%s", dir, name);
    if (shelf_catalog_find_path(lib, p, &id) != SHELF_OK)
        id = 0;
    state_of_id(lib, id, out, n);
}

#define ASSERT_STATE(lib, dir, name, want)                                     \
    do {                                                                      \
        char got_[512];                                                       \
        state_of((lib), (dir), (name), got_, sizeof got_);                    \
        ASSERT_EQ_STR(got_, (want));                                          \
    } while (0)

/* Tags merge as sets: an add on one device and the removal of another
 * tag on the other both hold. */
TEST(tags_merge_as_sets)
{
    const char *dir = test_tmpdir();
    shelf_library *a = test_device_at(dir, "a"), *b = test_device_at(dir, "b");
    shelf__merge_stats st;

    ASSERT_OKL(a, shelf_tag_add(a, id_at(a, dir, "kick é.wav"), "old"));
    sync2(a, b);
    ASSERT_STATE(b, dir, "kick é.wav", "old|0|0|kick");
    ASSERT_OKL(a, shelf_tag_add(a, id_at(a, dir, "kick é.wav"), "live"));
    ASSERT_OKL(b, shelf_tag_remove(b, id_at(b, dir, "kick é.wav"), "old"));
    ASSERT_OKL(b, shelf_tag_add(b, id_at(b, dir, "kick é.wav"), "dark"));
    test_exchange(b, a, &st);
    ASSERT(st.applied >= 1);
    test_exchange(a, b, NULL);
    ASSERT_STATE(a, dir, "kick é.wav", "dark live|0|0|kick");
    ASSERT_STATE(b, dir, "kick é.wav", "dark live|0|0|kick");
    /* nothing new: an exchange changes nothing */
    test_exchange(b, a, &st);
    ASSERT_EQ_INT(st.applied, 0);
    shelf_library_close(a);
    shelf_library_close(b);
}

/* A rating set on both devices: the later one wins on both, the earlier
 * is in the audit log of the device where it lost. */
TEST(later_rating_wins)
{
    const char *dir = test_tmpdir();
    shelf_library *a = test_device_at(dir, "a"), *b = test_device_at(dir, "b");
    shelf__merge_stats st;

    sync2(a, b);
    ASSERT_OKL(a, shelf_rate(a, id_at(a, dir, "snare 🥁.wav"), 2));
    drain(a);
    usleep(5000);
    ASSERT_OKL(b, shelf_rate(b, id_at(b, dir, "snare 🥁.wav"), 5));
    test_exchange(b, a, &st);
    ASSERT_EQ_INT(st.lost, 1);
    ASSERT_EQ_INT(st.applied, 0);
    test_exchange(a, b, &st);
    ASSERT_EQ_INT(st.applied, 1);
    ASSERT_STATE(a, dir, "snare 🥁.wav", "|5|0|snare");
    ASSERT_STATE(b, dir, "snare 🥁.wav", "|5|0|snare");
    ASSERT_EQ_INT(sql_int(b, "SELECT count(*) FROM audit_log WHERE action = 'sync-lost' AND "
                             "detail LIKE '%rating: kept 5 %over 2 %'"), 1);
    shelf_library_close(a);
    shelf_library_close(b);
}

/* A field changed and the sample renamed on one device (by the sqlite3
 * shell even) and a tag on the other meet on one item: all hold. */
TEST(field_and_tag_on_one_sample)
{
    const char *dir = test_tmpdir();
    shelf_library *a = test_device_at(dir, "a"), *b = test_device_at(dir, "b");

    sync2(a, b);
    ASSERT_EQ_INT(sqlite3_exec(a->db, "UPDATE samples SET category = 'perc', name = 'hat "
                                      "renamed ☆' WHERE relpath = 'hat \xff.wav'", NULL, NULL,
                                      NULL), SQLITE_OK);
    ASSERT_OKL(b, shelf_tag_add(b, id_at(b, dir, "hat \xff.wav"), "metal"));
    ASSERT_OKL(b, shelf_favourite(b, id_at(b, dir, "hat \xff.wav"), 1));
    sync2(a, b);
    ASSERT_STATE(a, dir, "hat \xff.wav", "metal|0|1|perc");
    ASSERT_STATE(b, dir, "hat \xff.wav", "metal|0|1|perc");
    /* renamed on one, tagged on the other: both hold */
    ASSERT_EQ_INT(sql_int(b, "SELECT count(*) FROM samples WHERE name = 'hat renamed ☆'"), 1);
    shelf_library_close(a);
    shelf_library_close(b);
}

/* Delete against modify: a change made after the removal brings the
 * sample back on both (on the remover, a row made from its record, with
 * the change); a removal made after every change removes it everywhere. */
TEST(delete_and_modify)
{
    const char *dir = test_tmpdir();
    shelf_library *a = test_device_at(dir, "a"), *b = test_device_at(dir, "b");

    sync2(a, b);
    /* a removes the kick, then b (not knowing) tags it */
    ASSERT_OKL(a, shelf_catalog_remove(a, id_at(a, dir, "kick é.wav"), 0));
    drain(a);
    usleep(5000);
    ASSERT_OKL(b, shelf_tag_add(b, id_at(b, dir, "kick é.wav"), "keep"));
    sync2(a, b);
    ASSERT_STATE(b, dir, "kick é.wav", "keep|0|0|kick");
    ASSERT_EQ_INT(sql_int(b, "SELECT count(*) FROM audit_log WHERE action = 'sync-lost'"), 1);
    ASSERT_EQ_INT(sql_int(a, "SELECT count(*) FROM audit_log WHERE action = 'sync-restored'"), 1);
    ASSERT_EQ_INT(sql_int(a, "SELECT count(*) FROM samples s JOIN tag_items ti ON ti.item_id = "
                             "s.id JOIN tags t ON t.id = ti.tag_id WHERE t.name = 'keep' AND "
                             "s.name = 'kick é'"), 1);

    /* b removes the snare after everything it knew: gone on both */
    ASSERT_OKL(b, shelf_catalog_remove(b, id_at(b, dir, "snare 🥁.wav"), 0));
    sync2(a, b);
    ASSERT_STATE(a, dir, "snare 🥁.wav", "gone");
    ASSERT_STATE(b, dir, "snare 🥁.wav", "gone");
    shelf_library_close(a);
    shelf_library_close(b);
}

/* A change the remover had not seen beats the removal even when its
 * clock is earlier (it was made meanwhile, offline); one it had seen
 * does not. */
TEST(concurrent_modify_beats_delete)
{
    const char *dir = test_tmpdir();
    shelf_library *a = test_device_at(dir, "a"), *b = test_device_at(dir, "b");

    sync2(a, b);
    /* b tags the kick first; a, not knowing, removes it later */
    ASSERT_OKL(b, shelf_tag_add(b, id_at(b, dir, "kick é.wav"), "offline"));
    drain(b);
    usleep(5000);
    ASSERT_OKL(a, shelf_catalog_remove(a, id_at(a, dir, "kick é.wav"), 0));
    drain(a);
    sync2(a, b);
    ASSERT_STATE(b, dir, "kick é.wav", "offline|0|0|kick");
    ASSERT_EQ_INT(sql_int(a, "SELECT count(*) FROM samples WHERE name = 'kick é'"), 1);
    ASSERT_EQ_INT(sql_int(a, "SELECT count(*) FROM audit_log WHERE action = 'sync-restored'"), 1);
    /* converged: a second exchange moves nothing and both agree */
    sync2(a, b);
    ASSERT_EQ_INT(sql_int(a, "SELECT count(*) FROM samples WHERE name = 'kick é'"), 1);
    ASSERT_EQ_INT(sql_int(b, "SELECT count(*) FROM samples WHERE name = 'kick é'"), 1);

    /* b tags the snare, a sees it, then removes it: gone on both */
    ASSERT_OKL(b, shelf_tag_add(b, id_at(b, dir, "snare 🥁.wav"), "seen"));
    sync2(a, b);
    ASSERT_OKL(a, shelf_catalog_remove(a, id_at(a, dir, "snare 🥁.wav"), 0));
    sync2(a, b);
    ASSERT_STATE(a, dir, "snare 🥁.wav", "gone");
    ASSERT_STATE(b, dir, "snare 🥁.wav", "gone");
    shelf_library_close(a);
    shelf_library_close(b);
}

/* The synonyms travel as one table: a group added on one device reaches
 * the other; of two edits made meanwhile on both, the later holds whole
 * and the other is in the audit log. */
TEST(synonyms_travel)
{
    const char *dir = test_tmpdir();
    shelf_library *a = test_device_at(dir, "a"), *b = test_device_at(dir, "b");
    const char *const w1[] = { "tr808", "kick" }, *const w2[] = { "ride", "cymbal" };

    ASSERT_OKL(a, shelf_synonyms_add(a, w1, 2));
    sync2(a, b);
    ASSERT_EQ_INT(sql_int(b, "SELECT count(*) FROM synonyms s JOIN synonyms k ON k.grp = s.grp "
                             "WHERE s.word = 'tr808' AND k.word = 'bassdrum'"), 1);
    ASSERT_EQ_INT(sql_int(a, "SELECT count(*) FROM synonyms"),
                  sql_int(b, "SELECT count(*) FROM synonyms"));
    /* a adds a group, then b (not knowing) removes a word: b's is later */
    ASSERT_OKL(a, shelf_synonyms_add(a, w2, 2));
    drain(a);
    usleep(5000);
    ASSERT_OKL(b, shelf_synonyms_remove(b, "hh"));
    sync2(a, b);
    ASSERT_EQ_INT(sql_int(a, "SELECT count(*) FROM synonyms WHERE word = 'hh'"), 0);
    ASSERT_EQ_INT(sql_int(a, "SELECT count(*) FROM synonyms WHERE word = 'ride'"), 0);
    ASSERT_EQ_INT(sql_int(a, "SELECT count(*) FROM synonyms"),
                  sql_int(b, "SELECT count(*) FROM synonyms"));
    ASSERT(sql_int(a, "SELECT count(*) FROM audit_log WHERE action = 'sync-lost' AND detail "
                      "LIKE 'y: .%'") + sql_int(b, "SELECT count(*) FROM audit_log WHERE action "
                      "= 'sync-lost' AND detail LIKE 'y: .%'") >= 1);
    ASSERT_EQ_INT(sql_int(b, "SELECT count(*) FROM synonyms WHERE word = 'tr808'"), 1);
    shelf_library_close(a);
    shelf_library_close(b);
}

/* A collection made on one device arrives with its members; removed, it
 * goes. */
TEST(collections_travel)
{
    const char *dir = test_tmpdir();
    shelf_library *a = test_device_at(dir, "a"), *b = test_device_at(dir, "b");

    ASSERT_OKL(a, shelf_collection_new(a, "Set ☆ 1", NULL));
    ASSERT_OKL(a, shelf_collection_add(a, "Set ☆ 1", id_at(a, dir, "hat \xff.wav"), -1));
    ASSERT_OKL(a, shelf_collection_new(a, "Saved", "kick"));
    sync2(a, b);
    ASSERT_EQ_INT(sql_int(b, "SELECT count(*) FROM collection_items ci JOIN collections c ON "
                             "c.id = ci.collection_id WHERE c.name = 'Set ☆ 1'"), 1);
    ASSERT_EQ_INT(sql_int(b, "SELECT count(*) FROM collections WHERE name = 'Saved' AND "
                             "query = 'kick'"), 1);
    ASSERT_OKL(b, shelf_collection_delete(b, "Saved"));
    sync2(a, b);
    ASSERT_EQ_INT(sql_int(a, "SELECT count(*) FROM collections"), 1);
    shelf_library_close(a);
    shelf_library_close(b);
}

/* Applying is idempotent and all-or-nothing: a batch applied twice is
 * applied once; a batch with a gap, a forged record or a clock two days
 * ahead changes nothing and says why. */
TEST(bad_batches_change_nothing)
{
    const char *dir = test_tmpdir();
    shelf_library *a = test_device_at(dir, "a"), *b = test_device_at(dir, "b");
    char self[SHELF_DEVICE_ID_LEN + 1];
    shelf__merge_stats st;
    shelf__change keep;
    test_batch x;
    int64_t before;

    test_device_id(b, self);
    ASSERT_OKL(a, shelf_tag_add(a, id_at(a, dir, "kick é.wav"), "t1"));
    test_batch_for(b, a, &x);
    ASSERT_EQ_INT(x.n, 4);
    before = sql_int(b, "SELECT count(*) FROM changes");

    /* a gap: the second record missing */
    keep = x.c[1];
    x.c[1] = x.c[2];
    x.c[2] = x.c[3];
    ASSERT_RC(SHELF_EFORMAT, shelf__merge_apply(b, self, x.c, 3, &st, NULL, NULL));
    ASSERT(strstr(shelf_errmsg(b), "jump from 1 to 3"));
    ASSERT_EQ_INT(sql_int(b, "SELECT count(*) FROM changes"), before);
    x.c[3] = x.c[2];
    x.c[2] = x.c[1];
    x.c[1] = keep;

    /* a clock two days ahead */
    keep = x.c[3];
    x.c[3].hlc = shelf__hlc_pack((uint64_t)time(NULL) * 1000 + 2 * 86400000ull, 0);
    ASSERT_RC(SHELF_EPERM, shelf__merge_apply(b, self, x.c, 4, &st, NULL, NULL));
    ASSERT(strstr(shelf_errmsg(b), "ahead of this one's"));
    x.c[3] = keep;

    /* a value that is not JSON */
    x.c[3].value = "{not json";
    ASSERT_RC(SHELF_EFORMAT, shelf__merge_apply(b, self, x.c, 4, &st, NULL, NULL));
    x.c[3] = keep;
    ASSERT_EQ_INT(sql_int(b, "SELECT count(*) FROM changes"), before);
    ASSERT_STATE(b, dir, "kick é.wav", "|0|0|kick");

    ASSERT_OKL(b, shelf__merge_apply(b, self, x.c, 4, &st, NULL, NULL));
    ASSERT_STATE(b, dir, "kick é.wav", "t1|0|0|kick");
    ASSERT_OKL(b, shelf__merge_apply(b, self, x.c, 4, &st, NULL, NULL));
    ASSERT_EQ_INT(st.skipped, 4);
    ASSERT_EQ_INT(st.applied, 0);
    /* applying queued nothing of b's own */
    {
        recs l;

        memset(&l, 0, sizeof l);
        ASSERT_OKL(b, shelf_sync_log(b, self, 0, collect, &l));
        ASSERT_EQ_INT(l.n, 3);          /* its three imports, not a's tag again */
    }
    test_batch_free(&x);
    shelf_library_close(a);
    shelf_library_close(b);
}

/* The id of the row holding sample sha on lib, 0 when none. */
static int64_t id_of_sha(shelf_library *lib, const char *sha)
{
    int64_t id = 0;

    if (shelf__query_int(lib, "SELECT coalesce(min(id), 0) FROM samples WHERE sha256 = ?1", sha,
                         &id) != SHELF_OK)
        test__fail(__FILE__, __LINE__, "cannot look up %s: %s", sha, shelf_errmsg(lib));
    return id;
}

/* Three devices change the same samples at random, remove them now and
 * then, and exchange in random order, pairs at a time; after a last full
 * round all three hold the same samples with the same tags, ratings and
 * favourites (a removal holds unless a change its device had not seen
 * meets it: then the sample is back on all three). */
TEST(three_devices_converge)
{
    static const char *const files[] = { "kick é.wav", "snare 🥁.wav", "hat \xff.wav" };
    static const char *const tags[] = { "a", "b", "c" };
    const char *dir = test_tmpdir();
    shelf_library *d[3];
    unsigned seed = (unsigned)time(NULL);
    char want[512], got[512], sha[3][SHELF_HASH_HEX];
    int i, j, step, removed = 0;

    if (getenv("SHELF_TEST_SEED"))
        seed = (unsigned)strtoul(getenv("SHELF_TEST_SEED"), NULL, 10);
    printf("three_devices_converge: seed %u (SHELF_TEST_SEED replays)\n", seed);
    srand(seed);
    d[0] = test_device_at(dir, "d0");
    d[1] = test_device_at(dir, "d1");
    d[2] = test_device_at(dir, "d2");
    for (i = 0; i < 3; i++) {
        const shelf_sample *row;
        shelf_cursor *cur;

        ASSERT_OKL(d[0], shelf_catalog_get(d[0], id_at(d[0], dir, files[i]), &cur, &row));
        snprintf(sha[i], sizeof sha[i], "%s", row->sha256);
        shelf_cursor_free(cur);
    }
    for (step = 0; step < 160; step++) {
        int who = rand() % 3, what = rand() % 13;
        int64_t id = id_of_sha(d[who], sha[rand() % 3]);
        const char *tag = tags[rand() % 3];

        if (!id && what < 6)
            continue;           /* removed here: nothing to change */
        switch (what) {
        case 0: case 1: ASSERT_OKL(d[who], shelf_tag_add(d[who], id, tag)); break;
        case 2: ASSERT_OKL(d[who], shelf_tag_remove(d[who], id, tag)); break;
        case 3: ASSERT_OKL(d[who], shelf_rate(d[who], id, rand() % 6)); break;
        case 4: ASSERT_OKL(d[who], shelf_favourite(d[who], id, rand() % 2)); break;
        case 5:
            ASSERT_OKL(d[who], shelf_catalog_remove(d[who], id, 0));
            removed++;
            break;
        default: {
            int other = (who + 1 + rand() % 2) % 3;

            test_exchange(d[who], d[other], NULL);
            break;
        }
        }
    }
    for (i = 0; i < 2; i++)
        for (j = 0; j < 3; j++)
            test_exchange(d[j], d[(j + 1) % 3], NULL), test_exchange(d[j], d[(j + 2) % 3], NULL);
    printf("three_devices_converge: %d removals\n", removed);
    for (i = 0; i < 3; i++) {
        state_of_id(d[0], id_of_sha(d[0], sha[i]), want, sizeof want);
        for (j = 1; j < 3; j++) {
            state_of_id(d[j], id_of_sha(d[j], sha[i]), got, sizeof got);
            if (strcmp(want, got) != 0)
                test__fail(__FILE__, __LINE__, "seed %u: %s is '%s' on device 0, '%s' on %d",
                           seed, files[i], want, got, j);
        }
    }
    /* one state table on all three */
    ASSERT_EQ_INT(sql_int(d[0], "SELECT count(*) FROM sync_state"),
                  sql_int(d[1], "SELECT count(*) FROM sync_state"));
    for (i = 0; i < 3; i++)
        shelf_library_close(d[i]);
}

/* Whether the bytes of file path hold s. */
static int file_holds(const char *path, const char *s)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;
    int found;

    if (!f)
        return 0;
    ASSERT(fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0);
    ASSERT((buf = malloc((size_t)n + 1)) != NULL);
    ASSERT(fread(buf, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    found = memmem(buf, (size_t)n, s, strlen(s)) != NULL;
    free(buf);
    return found;
}

/* A purge on one device travels: the others purge the item too, even one
 * that changed it meanwhile (a purge beats every change), records of it
 * that arrive later are emptied, and no device's catalog file (nor its
 * write-ahead log) holds the tag only it wore. */
TEST(purge_travels)
{
    const char *dir = test_tmpdir();
    shelf_library *d[3];
    const char *const names[] = { "a", "b", "c" };
    int kind = SHELF_PURGE_SAMPLE, i;
    int64_t id;
    char p[PATH_MAX];
    shelf_purge_opts o = { .size = sizeof o };
    shelf_purge_stats st = { .size = sizeof st };

    for (i = 0; i < 3; i++)
        d[i] = test_device_at(dir, names[i]);
    ASSERT_OKL(d[0], shelf_tag_add(d[0], id_at(d[0], dir, "kick é.wav"), "zqx-secret-tag"));
    sync2(d[0], d[1]);
    sync2(d[1], d[2]);
    ASSERT_STATE(d[2], dir, "kick é.wav", "zqx-secret-tag|0|0|kick");
    /* the search below finds what is there */
    for (i = 0; i < 3; i++) {
        char w[PATH_MAX];

        test_pathf(p, sizeof p, "%s/%s/shelf.db", dir, names[i]);
        test_pathf(w, sizeof w, "%s/%s/shelf.db-wal", dir, names[i]);
        ASSERT(file_holds(p, "zqx-secret-tag") || file_holds(w, "zqx-secret-tag"));
    }
    /* c changes it, not knowing; a purges it */
    ASSERT_OKL(d[2], shelf_rate(d[2], id_at(d[2], dir, "kick é.wav"), 5));
    drain(d[2]);
    id = id_at(d[0], dir, "kick é.wav");
    ASSERT_OKL(d[0], shelf_purge(d[0], &kind, &id, 1, &o, &st));
    ASSERT_EQ_INT(st.samples, 1);
    sync2(d[0], d[1]);
    sync2(d[1], d[2]);
    sync2(d[0], d[2]);
    sync2(d[0], d[1]);
    for (i = 0; i < 3; i++) {
        ASSERT_STATE(d[i], dir, "kick é.wav", "gone");
        ASSERT_STATE(d[i], dir, "snare 🥁.wav", "|0|0|snare");
        ASSERT_EQ_INT(sql_int(d[i], "SELECT count(*) FROM tags WHERE name = 'zqx-secret-tag'"), 0);
        ASSERT_EQ_INT(sql_int(d[i], "SELECT count(*) FROM audit_log WHERE action = 'purge'"), 1);
        /* of the kick, only tombstones and emptied records are left */
        ASSERT_EQ_INT(sql_int(d[i], "SELECT count(*) FROM changes c JOIN changes t ON t.item = "
                                    "c.item AND t.field = '!' WHERE c.field NOT IN ('!', '-')"), 0);
        ASSERT_EQ_INT(sql_int(d[i], "SELECT count(*) FROM sync_state s JOIN sync_state t ON "
                                    "t.item = s.item AND t.field = '!' WHERE s.field != '!'"), 0);
        ASSERT(sql_int(d[i], "SELECT count(*) FROM changes WHERE field = '!'") >= 1);
        test_pathf(p, sizeof p, "%s/%s/shelf.db", dir, names[i]);
        ASSERT(!file_holds(p, "zqx-secret-tag"));
        test_pathf(p, sizeof p, "%s/%s/shelf.db-wal", dir, names[i]);
        ASSERT(!file_holds(p, "zqx-secret-tag"));
    }
    /* c's rating, made before it heard of the purge, did not bring it back */
    ASSERT(sql_int(d[2], "SELECT count(*) FROM changes WHERE field = '-'") >= 1);
    for (i = 0; i < 3; i++)
        shelf_library_close(d[i]);
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
        TEST_ENTRY(tags_merge_as_sets),
        TEST_ENTRY(later_rating_wins),
        TEST_ENTRY(field_and_tag_on_one_sample),
        TEST_ENTRY(delete_and_modify),
        TEST_ENTRY(concurrent_modify_beats_delete),
        TEST_ENTRY(collections_travel),
        TEST_ENTRY(synonyms_travel),
        TEST_ENTRY(bad_batches_change_nothing),
        TEST_ENTRY(three_devices_converge),
        TEST_ENTRY(purge_travels),
        TEST_END
    };

    return test_run(argc, argv, tests);
}
