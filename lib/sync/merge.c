/*
 * merge.c: applying records of other devices (doc/sync.md, "Merge
 * rules"): each device's records must come in counter order without gaps
 * (held ones are skipped), their clocks are taken in (a clock more than a
 * day ahead is refused), each is written to the change log and to the
 * registers (state.c), and a batch runs in one transaction after this
 * device's queue is drained: all of it or none of it.
 */
#include <string.h>
#include <sqlite3.h>
#include "sync_int.h"

#define DAY_MS (24ull * 3600 * 1000)

/* The highest counter of device held here (0: none). */
static int held(shelf_library *lib, sqlite3_stmt *st, const char *device, int64_t *out)
{
    if (sqlite3_reset(st) != SQLITE_OK ||
        sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW)
        return shelf__dberr(lib, "cannot read the change log");
    *out = sqlite3_column_int64(st, 0);
    return SHELF_OK;
}

typedef struct apply_ctx {
    shelf_library *lib;
    const char *self;
    shelf__hlc clock;
    sqlite3_stmt *max, *ins;
    shelf__regs r;
    int (*tick)(void *ud);      /* before each record (shelf__merge_apply) */
    void *ud;
} apply_ctx;

static int apply_one(apply_ctx *a, const shelf__change *c)
{
    shelf_library *lib = a->lib;
    unsigned char sha[32];
    char canon[SHELF_DEVICE_ID_LEN + 1];
    int64_t have = 0;
    uint64_t now = (uint64_t)shelf__now() * 1000;
    int rc;

    if (!c->device || shelf_device_id_parse(c->device, sha) != SHELF_OK ||
        (shelf_device_id_format(sha, canon), strcmp(canon, c->device) != 0) || !c->item ||
        !c->field || !c->value || c->counter < 1)
        return shelf__seterr(&lib->err, SHELF_EFORMAT, "invalid change record (device %.63s, "
                             "counter %lld)", c->device ? c->device : "?", (long long)c->counter);
    if ((rc = held(lib, a->max, c->device, &have)) != SHELF_OK)
        return rc;
    if (c->counter <= have) {
        a->r.st->skipped++;
        return SHELF_OK;        /* held already: applying twice is applying once */
    }
    if (c->counter != have + 1)
        return shelf__seterr(&lib->err, SHELF_EFORMAT, "changes of device %.7s jump from %lld to "
                             "%lld: a part is missing", c->device, (long long)have,
                             (long long)c->counter);
    if (!strcmp(c->device, a->self))
        return shelf__seterr(&lib->err, SHELF_EFORMAT, "change %lld of this device came back but "
                             "was never made here", (long long)c->counter);
    if (shelf__hlc_recv(&a->clock, c->hlc, now, DAY_MS, NULL) != SHELF_OK)
        return shelf__seterr(&lib->err, SHELF_EPERM, "device %.7s's clock is %llu s ahead of "
                             "this one's; its changes are refused", c->device,
                             (unsigned long long)((shelf__hlc_ms(c->hlc) - now) / 1000));
    if (sqlite3_reset(a->ins) != SQLITE_OK ||
        sqlite3_bind_text(a->ins, 1, c->device, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(a->ins, 2, c->counter) != SQLITE_OK ||
        sqlite3_bind_int64(a->ins, 3, (int64_t)c->hlc) != SQLITE_OK ||
        sqlite3_bind_text(a->ins, 4, c->item, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(a->ins, 5, c->field, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(a->ins, 6, c->value, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_step(a->ins) != SQLITE_DONE)
        return shelf__dberr(lib, "cannot write the change log");
    a->r.c = c;
    return shelf__regs_put(&a->r);
}

static int apply_all(apply_ctx *a, const shelf__change *recs, size_t n)
{
    shelf_library *lib = a->lib;
    int64_t v, seq0;
    size_t i;
    int rc;

    if ((rc = shelf__query_int(lib, "SELECT hlc FROM sync_clock WHERE id = 1", NULL, &v)) != SHELF_OK ||
        (rc = shelf__query_int(lib, "SELECT coalesce(max(seq), 0) FROM change_queue", NULL, &seq0)) !=
            SHELF_OK)
        return rc;
    a->clock.last = (uint64_t)v;
    a->max = shelf__prepare(lib, "SELECT coalesce(max(counter), 0) FROM changes WHERE device = ?1");
    a->ins = a->max ? shelf__prepare(lib, "INSERT INTO changes(device, counter, hlc, item, field, "
                                          "value) VALUES(?1, ?2, ?3, ?4, ?5, ?6)") : NULL;
    if (!a->ins || (rc = shelf__regs_prepare(&a->r)) != SHELF_OK)
        return a->ins ? rc : lib->err.rc;
    for (i = 0; i < n; i++)
        if ((a->tick && (rc = a->tick(a->ud)) != SHELF_OK) ||
            (rc = apply_one(a, &recs[i])) != SHELF_OK)
            return rc;
    /* the catalog's triggers queued what applying wrote: those are not
     * this device's changes */
    {
        char sql[96];

        snprintf(sql, sizeof sql, "DELETE FROM change_queue WHERE seq > %lld; UPDATE sync_clock "
                 "SET hlc = %lld WHERE id = 1", (long long)seq0, (long long)a->clock.last);
        if ((rc = shelf__exec(lib, sql)) != SHELF_OK)
            return rc;
    }
    /* documents that got versions: their heads merged (docs.c); a merge
     * made here stays queued, this device's change like any edit */
    return shelf__docsync_settle(lib);
}

int shelf__merge_apply(shelf_library *lib, const char *self, const shelf__change *recs, size_t n,
                       shelf__merge_stats *st, int (*tick)(void *ud), void *ud)
{
    shelf__merge_stats local;
    apply_ctx a;
    int rc;

    if (!st)
        st = &local;
    memset(st, 0, sizeof *st);
    /* this device's changes first, stamped before any received clock */
    if ((rc = shelf__changes_drain(lib, self, NULL)) != SHELF_OK)
        return rc;
    memset(&a, 0, sizeof a);
    a.lib = lib;
    a.self = self;
    a.tick = tick;
    a.ud = ud;
    a.r.lib = lib;
    a.r.st = st;
    if ((rc = shelf__begin(lib)) != SHELF_OK)
        return rc;
    rc = apply_all(&a, recs, n);
    sqlite3_finalize(a.max);
    sqlite3_finalize(a.ins);
    shelf__regs_finish(&a.r);
    if (rc != SHELF_OK)
        shelf__rollback(lib);
    else if ((rc = shelf__commit(lib)) == SHELF_OK)
        return shelf__purge_settle(lib, &a.r.purged);   /* tombstones applied: blobs, scrub */
    /* a failed commit rolled back itself */
    a.r.purged.count = 0;
    (void)shelf__purge_settle(lib, &a.r.purged);
    (void)shelf__exec(lib, "PRAGMA secure_delete=OFF");
    memset(st, 0, sizeof *st);
    return rc;
}
