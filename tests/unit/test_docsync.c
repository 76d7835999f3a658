/*
 * test_docsync.c: document histories sync (lib/sync/docs.c, migration 8):
 * every version is a record; two libraries that exchange records end with
 * the same versions (same hashes, same version ids); edits of different
 * values on two devices merge by themselves into the same version on both
 * and a further exchange moves nothing; edits of the same value are a
 * conflict on both, both heads kept, until one device merges them; a
 * version whose parent is missing changes nothing.
 */
#include <sqlite3.h>
#include <stdlib.h>
#include "test.h"
#include "libs.h"
#include "exchange.h"
#include "shelf/patch.h"
#include "shelf/maint.h"
#include "shelf/sync.h"
#include "catalog/catalog_int.h"
#include "sync/sync_int.h"

#define PATCH SHELF_DOC_PATCH
#define PROJECT SHELF_DOC_PROJECT

/* A patch named with an accent, an emoji and spaces. */
#define NAME "Pad é 🎹 x"
#define PATCH_DOC \
    "{\"shelf_patch\":1,\"name\":\"" NAME "\",\"params\":{\"cutoff\":1000,\"res\":0.5}}"
#define PATCH_DOC2 "{\"shelf_patch\":1,\"name\":\"Lead ☆\",\"params\":{\"res\":0.2}}"

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

/* The text of a one-value query (owned), "" when NULL. */
static char *sql_text(shelf_library *lib, const char *sql)
{
    sqlite3_stmt *st = NULL;
    char *v;

    ASSERT_EQ_INT(sqlite3_prepare_v2(lib->db, sql, -1, &st, NULL), SQLITE_OK);
    ASSERT_EQ_INT(sqlite3_step(st), SQLITE_ROW);
    v = strdup(sqlite3_column_text(st, 0) ? (const char *)sqlite3_column_text(st, 0) : "");
    ASSERT(v != NULL);
    sqlite3_finalize(st);
    return v;
}

static size_t sync2(shelf_library *a, shelf_library *b)
{
    size_t n = test_exchange(b, a, NULL);

    return n + test_exchange(a, b, NULL);
}

static shelf_library *device(const char *name)
{
    char p[PATH_MAX];

    test_pathf(p, sizeof p, "%s/%s", test_tmpdir(), name);
    return test_lib_open(p, SHELF_OPEN_CREATE);
}

/* The local id of the patch named NAME. */
static int64_t patch_id(shelf_library *lib)
{
    return sql_int(lib, "SELECT id FROM patches WHERE name = '" NAME "'");
}

/* The head document (canonical text, owned). */
static char *head_doc(shelf_library *lib, int kind, int64_t id)
{
    char *json = NULL, *copy;

    ASSERT_OKL(lib, shelf_doc_get(lib, kind, id, 0, &json));
    copy = strdup(json);
    ASSERT(copy != NULL);
    shelf_free(json);
    return copy;
}

static char *head_vid(shelf_library *lib, const char *table)
{
    char sql[256];

    snprintf(sql, sizeof sql, "SELECT d.vid FROM %s p JOIN doc_versions d ON d.kind = %d AND "
             "d.item_id = p.id AND d.seq = p.version", table,
             !strcmp(table, "patches") ? PATCH : PROJECT);
    return sql_text(lib, sql);
}

static int count_conflict(void *ud, const shelf_conflict *c)
{
    shelf_conflict *out = ud;

    *out = *c;
    out->name = NULL;
    out->size++;                /* counts, after the struct's size */
    return 0;
}

static size_t conflicts(shelf_library *lib, shelf_conflict *last)
{
    shelf_conflict c;

    memset(&c, 0, sizeof c);
    ASSERT_OKL(lib, shelf_sync_conflicts(lib, count_conflict, &c));
    if (last)
        *last = c;
    return c.size ? c.size - sizeof c : 0;
}

/* A new patch on one device appears whole on the other: every version,
 * same hashes, same version ids; its name's bytes intact. */
TEST(new_patch_travels_whole)
{
    shelf_library *a = device("a"), *b = device("b");
    char *ha, *hb, *va, *vb;
    int64_t id, seq;
    char val[32];
    int i;

    ASSERT_OKL(a, shelf_doc_create(a, PATCH, PATCH_DOC, NULL, &id));
    for (i = 0; i < 4; i++) {
        snprintf(val, sizeof val, "%d", 2000 + i);
        ASSERT_OKL(a, shelf_doc_set(a, PATCH, id, "params/cutoff", val, NULL, &seq));
    }
    ASSERT(sync2(a, b) >= 5);
    ASSERT_EQ_INT(sql_int(b, "SELECT count(*) FROM doc_versions WHERE kind = 2"), 5);
    ha = sql_text(a, "SELECT group_concat(hash || vid, ',') FROM (SELECT hash, vid FROM "
                     "doc_versions ORDER BY seq)");
    hb = sql_text(b, "SELECT group_concat(hash || vid, ',') FROM (SELECT hash, vid FROM "
                     "doc_versions ORDER BY seq)");
    ASSERT_EQ_STR(ha, hb);
    va = head_doc(a, PATCH, id);
    vb = head_doc(b, PATCH, patch_id(b));
    ASSERT_EQ_STR(va, vb);
    ASSERT(strstr(vb, "2003") != NULL);
    free(ha);
    free(hb);
    free(va);
    free(vb);
    /* nothing new: nothing moves */
    ASSERT_EQ_INT(sync2(a, b), 0);
    shelf_library_close(a);
    shelf_library_close(b);
}

/* Different values of one patch edited on two devices: merged by
 * themselves into the same version on both; a further exchange moves
 * nothing; no conflict; the merge is in the audit log. */
TEST(different_params_merge)
{
    shelf_library *a = device("a"), *b = device("b");
    char *da, *db, *va, *vb;
    int64_t ida, idb, seq;

    ASSERT_OKL(a, shelf_doc_create(a, PATCH, PATCH_DOC, NULL, &ida));
    sync2(a, b);
    idb = patch_id(b);
    ASSERT_OKL(a, shelf_doc_set(a, PATCH, ida, "params/cutoff", "1500", NULL, &seq));
    ASSERT_OKL(b, shelf_doc_set(b, PATCH, idb, "params/res", "0.25", NULL, &seq));
    ASSERT(sync2(a, b) > 0);
    da = head_doc(a, PATCH, ida);
    db = head_doc(b, PATCH, idb);
    ASSERT_EQ_STR(da, db);
    ASSERT(strstr(da, "\"cutoff\":1500") != NULL);
    ASSERT(strstr(da, "\"res\":0.25") != NULL);
    va = head_vid(a, "patches");
    vb = head_vid(b, "patches");
    ASSERT_EQ_STR(va, vb);
    ASSERT_EQ_INT(conflicts(a, NULL), 0);
    ASSERT_EQ_INT(conflicts(b, NULL), 0);
    ASSERT(sql_int(b, "SELECT count(*) FROM audit_log WHERE action = 'sync-merge'") +
           sql_int(a, "SELECT count(*) FROM audit_log WHERE action = 'sync-merge'") >= 1);
    /* the merge one device made and the one the other made are one
     * version: after one more round, nothing moves */
    sync2(a, b);
    ASSERT_EQ_INT(sync2(a, b), 0);
    ASSERT_EQ_INT(sql_int(a, "SELECT count(*) FROM doc_versions"),
                  sql_int(b, "SELECT count(*) FROM doc_versions"));
    free(da);
    free(db);
    free(va);
    free(vb);
    shelf_library_close(a);
    shelf_library_close(b);
}

/* The same value edited on both: a conflict on both, both heads kept;
 * merged on one device, the conflict is gone on both and they agree. */
TEST(same_param_conflicts)
{
    shelf_library *a = device("a"), *b = device("b");
    shelf_conflict c;
    shelf_merge *m = NULL;
    char *da, *db, *va, *vb;
    int64_t ida, idb, seq, base;

    ASSERT_OKL(a, shelf_doc_create(a, PATCH, PATCH_DOC, NULL, &ida));
    sync2(a, b);
    idb = patch_id(b);
    ASSERT_OKL(a, shelf_doc_set(a, PATCH, ida, "params/cutoff", "1500", NULL, &seq));
    ASSERT_OKL(b, shelf_doc_set(b, PATCH, idb, "params/cutoff", "900", NULL, &seq));
    sync2(a, b);
    ASSERT_EQ_INT(conflicts(a, &c), 1);
    ASSERT_EQ_INT(c.id, ida);
    ASSERT(c.head != c.other && c.other > 0);
    ASSERT_EQ_INT(strlen(c.head_vid), 64);
    ASSERT_EQ_INT(conflicts(b, NULL), 1);
    ASSERT_EQ_INT(sql_int(a, "SELECT count(*) FROM doc_versions"), 3);
    ASSERT_EQ_INT(sql_int(b, "SELECT count(*) FROM doc_versions"), 3);
    ASSERT_EQ_INT(sql_int(a, "SELECT count(*) FROM audit_log WHERE action = 'sync-conflict'"), 1);
    /* both show the same head */
    va = head_vid(a, "patches");
    vb = head_vid(b, "patches");
    ASSERT_EQ_STR(va, vb);
    free(va);
    free(vb);
    /* resolved on a: its merge syncs out, the conflict is gone on b too */
    ASSERT_OKL(a, shelf_doc_merge_prepare(a, PATCH, ida, c.other, &m, &base));
    ASSERT_EQ_INT(shelf_merge_conflicts(m), 1);
    ASSERT_OKL(a, shelf_merge_resolve(m, (size_t)-1, SHELF_MERGE_OURS, NULL));
    ASSERT_OKL(a, shelf_doc_merge_commit(a, PATCH, ida, c.other, m, NULL, &seq));
    shelf_merge_free(m);
    ASSERT_EQ_INT(conflicts(a, NULL), 0);
    ASSERT(sync2(a, b) > 0);
    ASSERT_EQ_INT(conflicts(b, NULL), 0);
    ASSERT_EQ_INT(sql_int(b, "SELECT count(*) FROM doc_conflicts"), 0);
    da = head_doc(a, PATCH, ida);
    db = head_doc(b, PATCH, idb);
    ASSERT_EQ_STR(da, db);
    va = head_vid(a, "patches");
    vb = head_vid(b, "patches");
    ASSERT_EQ_STR(va, vb);
    ASSERT_EQ_INT(sync2(a, b), 0);
    free(da);
    free(db);
    free(va);
    free(vb);
    shelf_library_close(a);
    shelf_library_close(b);
}

/* A project with automation is versioned the same way. */
TEST(project_with_automation)
{
    shelf_library *a = device("a"), *b = device("b");
    int64_t ida, idb, seq;
    char *da, *db;

    ASSERT_OKL(a, shelf_doc_create(a, PROJECT,
        "{\"shelf_project\":1,\"name\":\"Set 🎛\",\"tempo\":120,\"automation\":{\"a1\":"
        "{\"type\":\"points\",\"target\":\"patch:1/cutoff\",\"points\":[[0,0.5],[4,1]]}}}",
        NULL, &ida));
    sync2(a, b);
    idb = sql_int(b, "SELECT id FROM projects WHERE name = 'Set 🎛'");
    ASSERT_OKL(a, shelf_doc_set(a, PROJECT, ida, "tempo", "128", NULL, &seq));
    ASSERT_OKL(b, shelf_doc_set(b, PROJECT, idb, "name", "\"Set 🎛 live\"", NULL, &seq));
    sync2(a, b);
    da = head_doc(a, PROJECT, ida);
    db = head_doc(b, PROJECT, idb);
    ASSERT_EQ_STR(da, db);
    ASSERT(strstr(da, "\"tempo\":128") != NULL && strstr(da, "live") != NULL);
    ASSERT(strstr(da, "\"points\"") != NULL);
    sync2(a, b);
    ASSERT_EQ_INT(sync2(a, b), 0);
    free(da);
    free(db);
    shelf_library_close(a);
    shelf_library_close(b);
}

/* A patch removed on one device and changed on the other: the change
 * wins, the patch comes back whole (its history from the log; the removed
 * one stays parked for shelf undo). */
TEST(modify_beats_delete)
{
    shelf_library *a = device("a"), *b = device("b");
    int64_t ida, seq;
    char *da, *db, *ha, *hb;

    ASSERT_OKL(a, shelf_doc_create(a, PATCH, PATCH_DOC, NULL, &ida));
    ASSERT_OKL(a, shelf_doc_set(a, PATCH, ida, "params/res", "0.75", NULL, &seq));
    sync2(a, b);
    ASSERT_OKL(b, shelf_doc_remove(b, PATCH, patch_id(b), 0));
    ASSERT_EQ_INT(sql_int(b, "SELECT count(*) FROM patches"), 0);
    ASSERT_EQ_INT(sql_int(b, "SELECT count(*) FROM doc_versions WHERE kind > 0"), 0);
    ASSERT_OKL(a, shelf_doc_set(a, PATCH, ida, "params/cutoff", "1234", NULL, &seq));
    ASSERT(test_exchange(b, a, NULL) > 0);
    ASSERT_EQ_INT(sql_int(b, "SELECT count(*) FROM patches"), 1);
    ASSERT_EQ_INT(sql_int(b, "SELECT count(*) FROM doc_versions WHERE kind > 0"), 3);
    da = head_doc(a, PATCH, ida);
    db = head_doc(b, PATCH, patch_id(b));
    ASSERT_EQ_STR(da, db);
    ha = sql_text(a, "SELECT group_concat(vid, ',') FROM (SELECT vid FROM doc_versions WHERE kind > 0 ORDER BY vid)");
    hb = sql_text(b, "SELECT group_concat(vid, ',') FROM (SELECT vid FROM doc_versions WHERE kind > 0 ORDER BY vid)");
    ASSERT_EQ_STR(ha, hb);
    test_exchange(a, b, NULL);
    ASSERT_EQ_INT(sync2(a, b), 0);
    free(da);
    free(db);
    free(ha);
    free(hb);
    shelf_library_close(a);
    shelf_library_close(b);
}

/* A removal travels: a patch removed on one device goes on the other,
 * parked there as a local removal is (undo brings it back); a version
 * that came round by a third device after the removal, which its remover
 * had seen, keeps it removed; an edit its remover had not seen brings it
 * back on both. */
TEST(removal_travels)
{
    shelf_library *a = device("a"), *b = device("b"), *c = device("c");
    int64_t ida, seq;
    char *what = NULL;

    ASSERT_OKL(a, shelf_doc_create(a, PATCH, PATCH_DOC, NULL, &ida));
    ASSERT_OKL(a, shelf_doc_set(a, PATCH, ida, "params/res", "0.75", NULL, &seq));
    sync2(a, b);
    sync2(b, c);
    ASSERT_EQ_INT(sql_int(c, "SELECT count(*) FROM patches"), 1);
    /* a edits, b sees it, then a removes; c hears of the removal from a
     * first and of the edit (relayed by b) after it */
    ASSERT_OKL(a, shelf_doc_set(a, PATCH, ida, "params/cutoff", "99", NULL, &seq));
    sync2(a, b);
    ASSERT_OKL(a, shelf_doc_remove(a, PATCH, ida, 0));
    test_exchange(c, a, NULL);
    ASSERT_EQ_INT(sql_int(c, "SELECT count(*) FROM patches"), 0);
    test_exchange(c, b, NULL);
    ASSERT_EQ_INT(sql_int(c, "SELECT count(*) FROM patches"), 0);
    sync2(a, b);
    ASSERT_EQ_INT(sql_int(b, "SELECT count(*) FROM patches"), 0);
    ASSERT_EQ_INT(sql_int(b, "SELECT count(*) FROM audit_log WHERE action = 'remove'"), 1);
    /* parked: undo on b brings it back, as after a removal made there */
    ASSERT_OKL(b, shelf_undo(b, &what));
    shelf_free(what);
    ASSERT_EQ_INT(sql_int(b, "SELECT count(*) FROM patches"), 1);
    ASSERT_OKL(b, shelf_doc_remove(b, PATCH, patch_id(b), 0));

    /* a new patch; b edits it while a (not knowing) removes it */
    ASSERT_OKL(a, shelf_doc_create(a, PATCH, PATCH_DOC2, NULL, &ida));
    sync2(a, b);
    ASSERT_OKL(b, shelf_doc_set(b, PATCH, sql_int(b, "SELECT id FROM patches WHERE name = "
                                                      "'Lead ☆'"), "params/res", "0.1", NULL, &seq));
    usleep(5000);
    ASSERT_OKL(a, shelf_doc_remove(a, PATCH, ida, 0));
    sync2(a, b);
    ASSERT_EQ_INT(sql_int(a, "SELECT count(*) FROM patches"), 1);
    ASSERT_EQ_INT(sql_int(b, "SELECT count(*) FROM patches"), 1);
    ASSERT_EQ_INT(sync2(a, b), 0);
    shelf_library_close(a);
    shelf_library_close(b);
    shelf_library_close(c);
}

/* A purged patch goes from every device, every version of it, also the
 * copy a device had removed and parked for undo, and an edit made
 * meanwhile does not bring it back (a purge beats every change). */
TEST(purge_travels)
{
    shelf_library *a = device("a"), *b = device("b"), *c = device("c");
    shelf_purge_opts o = { .size = sizeof o };
    int kind = PATCH;
    int64_t ida, seq;

    ASSERT_OKL(a, shelf_doc_create(a, PATCH, PATCH_DOC, NULL, &ida));
    ASSERT_OKL(a, shelf_doc_set(a, PATCH, ida, "params/res", "0.75", NULL, &seq));
    sync2(a, b);
    sync2(b, c);
    /* b removes it (parked), c edits it, a purges it */
    ASSERT_OKL(b, shelf_doc_remove(b, PATCH, patch_id(b), 0));
    ASSERT(sql_int(b, "SELECT count(*) FROM doc_versions WHERE kind < 0") >= 2);
    ASSERT_OKL(c, shelf_doc_set(c, PATCH, patch_id(c), "params/cutoff", "12", NULL, &seq));
    ASSERT_OKL(a, shelf_purge(a, &kind, &ida, 1, &o, NULL));
    sync2(a, b);
    sync2(b, c);
    sync2(a, c);
    ASSERT_EQ_INT(sql_int(a, "SELECT count(*) FROM patches"), 0);
    ASSERT_EQ_INT(sql_int(b, "SELECT count(*) FROM patches"), 0);
    ASSERT_EQ_INT(sql_int(c, "SELECT count(*) FROM patches"), 0);
    ASSERT_EQ_INT(sql_int(a, "SELECT count(*) FROM doc_versions"), 0);
    ASSERT_EQ_INT(sql_int(b, "SELECT count(*) FROM doc_versions"), 0);
    ASSERT_EQ_INT(sql_int(c, "SELECT count(*) FROM doc_versions"), 0);
    ASSERT_EQ_INT(sql_int(c, "SELECT count(*) FROM audit_log WHERE action = 'purge'"), 1);
    /* nothing more moves, and undo on b has nothing to bring back */
    ASSERT_EQ_INT(sync2(a, b), 0);
    ASSERT_EQ_INT(sync2(b, c), 0);
    shelf_library_close(a);
    shelf_library_close(b);
    shelf_library_close(c);
}

/* A version whose parent is not held: SHELF_EFORMAT, nothing changes. */
TEST(missing_parent_changes_nothing)
{
    shelf_library *a = device("a"), *b = device("b");
    char self[SHELF_DEVICE_ID_LEN + 1], fake[SHELF_DEVICE_ID_LEN + 1];
    unsigned char sha[32];
    test_batch bt;
    int64_t id, seq;
    size_t i;

    ASSERT_OKL(a, shelf_doc_create(a, PATCH, PATCH_DOC, NULL, &id));
    ASSERT_OKL(a, shelf_doc_set(a, PATCH, id, "params/cutoff", "1", NULL, &seq));
    test_batch_for(b, a, &bt);
    /* the second version alone, as the first record of another device */
    for (i = 0; i < bt.n; i++)
        if (!strncmp(bt.c[i].field, "v:", 2) && strstr(bt.c[i].value, "\"parents\":[\""))
            break;
    ASSERT(i < bt.n);
    memset(sha, 7, sizeof sha);
    shelf_device_id_format(sha, fake);
    test_device_id(b, self);
    {
        shelf__change one = bt.c[i];

        one.device = fake;
        one.counter = 1;
        ASSERT_RC(SHELF_EFORMAT, shelf__merge_apply(b, self, &one, 1, NULL, NULL, NULL));
    }
    ASSERT(strstr(shelf_errmsg(b), "missing") != NULL);
    ASSERT_EQ_INT(sql_int(b, "SELECT count(*) FROM doc_versions"), 0);
    ASSERT_EQ_INT(sql_int(b, "SELECT count(*) FROM patches"), 0);
    ASSERT_EQ_INT(sql_int(b, "SELECT count(*) FROM changes"), 0);
    test_batch_free(&bt);
    shelf_library_close(a);
    shelf_library_close(b);
}

static int count_one(void *ud, const shelf_change *c)
{
    (void)c;
    ++*(size_t *)ud;
    return 0;
}

/* A version whose record would not fit half a frame: the log says so in
 * one line and logs nothing of it. */
TEST(too_big_fails_clearly)
{
    shelf_library *a = device("a");
    size_t n = (8u << 20) + 100, off;
    char *doc = malloc(n + 100);
    size_t logged = 0;
    int64_t id;

    ASSERT(doc != NULL);
    off = (size_t)snprintf(doc, 100, "{\"shelf_patch\":1,\"name\":\"Big\",\"params\":{\"x\":\"");
    memset(doc + off, 'a', n);
    snprintf(doc + off + n, 100, "\"}}");
    ASSERT_OKL(a, shelf_doc_create(a, PATCH, doc, NULL, &id));
    ASSERT_RC(SHELF_EINVAL, shelf_sync_log(a, NULL, 0, count_one, &logged));
    ASSERT(strstr(shelf_errmsg(a), "too big to sync") != NULL);
    ASSERT_EQ_INT(logged, 0);
    ASSERT_EQ_INT(sql_int(a, "SELECT count(*) FROM changes"), 0);
    free(doc);
    shelf_library_close(a);
}

/* Figures: records and bytes of a 50-version history. */
TEST(fifty_versions_figures)
{
    shelf_library *a = device("a"), *b = device("b");
    char self[SHELF_DEVICE_ID_LEN + 1], val[32];
    test_batch bt;
    int64_t id, seq;
    int i;

    ASSERT_OKL(a, shelf_doc_create(a, PATCH, PATCH_DOC, NULL, &id));
    for (i = 1; i < 50; i++) {
        snprintf(val, sizeof val, "%d", 100 + i);
        ASSERT_OKL(a, shelf_doc_set(a, PATCH, id, "params/cutoff", val, NULL, &seq));
    }
    test_batch_for(b, a, &bt);
    ASSERT_EQ_INT(bt.n, 50);
    printf("# 50 versions: %zu records, %zu bytes\n", bt.n, bt.bytes);
    test_device_id(b, self);
    ASSERT_OKL(b, shelf__merge_apply(b, self, bt.c, bt.n, NULL, NULL, NULL));
    ASSERT_EQ_INT(sql_int(b, "SELECT count(*) FROM doc_versions"), 50);
    test_batch_free(&bt);
    shelf_library_close(a);
    shelf_library_close(b);
}

int main(int argc, char **argv)
{
    static const test_case tests[] = {
        TEST_ENTRY(new_patch_travels_whole),
        TEST_ENTRY(different_params_merge),
        TEST_ENTRY(same_param_conflicts),
        TEST_ENTRY(project_with_automation),
        TEST_ENTRY(modify_beats_delete),
        TEST_ENTRY(removal_travels),
        TEST_ENTRY(purge_travels),
        TEST_ENTRY(missing_parent_changes_nothing),
        TEST_ENTRY(too_big_fails_clearly),
        TEST_ENTRY(fifty_versions_figures),
        TEST_END
    };

    return test_run(argc, argv, tests);
}
