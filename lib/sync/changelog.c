/*
 * changelog.c: the change log (doc/sync.md, "The change log"; tables in
 * doc/formats.md, "Migration 6").  The catalog's triggers put every change
 * to what syncs into change_queue, in the change's own transaction; this
 * file turns the queue into records numbered by this device's counter and
 * stamped by its hybrid logical clock, and reads records back.
 *
 * Draining happens whenever sync code reads the log, so a change made by
 * any writer (an old shelf, the sqlite3 shell) is logged; the queue keeps
 * each change's wall time, so a late drain stamps it with the time it was
 * made, not the time it was drained.
 */
#include <string.h>
#include <sqlite3.h>
#include "shelf/names.h"
#include "sync_int.h"

/* A sample's record: its fields, tags, rating and favourite as JSON, when
 * row ?1 still holds the bytes ?2 names ("s:<sha256>"). */
#define SAMPLE_JSON \
    "SELECT json_object('name', name, 'relpath', relpath, 'size', size, 'format', format,\n" \
    "  'subtype', subtype, 'rate', rate, 'channels', channels, 'frames', frames,\n" \
    "  'duration', duration, 'bits', bits, 'category', category, 'title', title,\n" \
    "  'author', author, 'comment', comment, 'genre', genre, 'kit', kit,\n" \
    "  'instrument', instrument, 'tempo', tempo, 'beats', beats, 'root_key', root_key,\n" \
    "  'loop_start', loop_start, 'loop_end', loop_end, 'loop_mode', loop_mode,\n" \
    "  'managed', json(CASE WHEN blob IS NULL THEN 'false' ELSE 'true' END),\n" \
    "  'tags', json((SELECT json_group_array(n) FROM (SELECT t.name AS n FROM tag_items ti\n" \
    "    JOIN tags t ON t.id = ti.tag_id WHERE ti.kind = " SHELF__KIND_SAMPLE_SQL "\n" \
    "    AND ti.item_id = s.id ORDER BY t.name))),\n" \
    "  'rating', (SELECT rating FROM ratings WHERE kind = " SHELF__KIND_SAMPLE_SQL "\n" \
    "    AND item_id = s.id),\n" \
    "  'favourite', json(CASE WHEN EXISTS (SELECT 1 FROM favourites WHERE kind = " \
    SHELF__KIND_SAMPLE_SQL "\n" \
    "    AND item_id = s.id) THEN 'true' ELSE 'false' END))\n" \
    "FROM samples s WHERE id = ?1 AND 's:' || sha256 = ?2"

/* A removal (a sample's, a document's): what this device had seen of every other device
 * when it removed it (the clock of the newest record it held of each), so
 * that a receiver can tell a change the remover had seen (the removal
 * wins) from one it had not (the change wins: doc/sync.md). */
#define REMOVAL_JSON \
    "SELECT json_object('removed', json('true'), 'seen', json((SELECT json_group_object(v.device,\n" \
    "  (SELECT c.hlc FROM changes c WHERE c.device = v.device AND c.counter = v.counter))\n" \
    "  FROM sync_vector v WHERE v.device != ?1)))"

/* The synonyms as one record: their groups, each a sorted array of words,
 * in the order of their first words. */
#define SYNONYMS_JSON \
    "SELECT json_group_array(json(g)) FROM (SELECT json_group_array(word) AS g, min(word) AS f\n" \
    "  FROM (SELECT word, grp FROM synonyms ORDER BY grp, word) GROUP BY grp ORDER BY f)"

typedef struct drain_ctx {
    shelf_library *lib;
    const char *self;
    sqlite3_stmt *queue, *snap, *put, *removal;
    char *synonyms;                 /* the last synonyms record of this drain */
    shelf__regs regs;               /* the registers of this device's records */
    shelf__merge_stats stats;
    shelf__hlc clock;
    int64_t counter;
    int64_t last_seq;
    int64_t logged;
} drain_ctx;

/* The value of a queued sample that is to be read from its row: the JSON
 * into *json (owned), or NULL when the row no longer holds those bytes (a
 * later queued change says what became of them). */
static int sample_value(drain_ctx *d, int64_t row, const char *item, char **json)
{
    int step;

    *json = NULL;
    if (sqlite3_reset(d->snap) != SQLITE_OK || sqlite3_bind_int64(d->snap, 1, row) != SQLITE_OK ||
        sqlite3_bind_text(d->snap, 2, item, -1, SQLITE_STATIC) != SQLITE_OK)
        return shelf__dberr(d->lib, "cannot read a sample for the change log");
    step = sqlite3_step(d->snap);
    if (step == SQLITE_DONE)
        return SHELF_OK;
    if (step != SQLITE_ROW)
        return shelf__dberr(d->lib, "cannot read a sample for the change log");
    if (!(*json = shelf__strdup((const char *)sqlite3_column_text(d->snap, 0))))
        return shelf__seterr(&d->lib->err, SHELF_ENOMEM, "out of memory");
    return SHELF_OK;
}

/* The value of a sample's removal (REMOVAL_JSON), owned. */
static int removal_value(drain_ctx *d, char **json)
{
    if (sqlite3_reset(d->removal) != SQLITE_OK ||
        sqlite3_bind_text(d->removal, 1, d->self, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_step(d->removal) != SQLITE_ROW)
        return shelf__dberr(d->lib, "cannot read the version vector for the change log");
    if (!(*json = shelf__strdup((const char *)sqlite3_column_text(d->removal, 0))))
        return shelf__seterr(&d->lib->err, SHELF_ENOMEM, "out of memory");
    return SHELF_OK;
}

/* Log one record (texts as they go in the log). */
static int put_record(drain_ctx *d, int64_t ms, const char *item, const char *field,
                      const char *value)
{
    uint64_t hlc = shelf__hlc_send(&d->clock, ms > 0 ? (uint64_t)ms : 0);
    shelf__change c = { d->self, d->counter + 1, hlc, item, field, value };

    if (sqlite3_reset(d->put) != SQLITE_OK ||
        sqlite3_bind_text(d->put, 1, d->self, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(d->put, 2, d->counter + 1) != SQLITE_OK ||
        sqlite3_bind_int64(d->put, 3, (int64_t)hlc) != SQLITE_OK ||
        sqlite3_bind_text(d->put, 4, item, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(d->put, 5, field, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(d->put, 6, value, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_step(d->put) != SQLITE_DONE)
        return shelf__dberr(d->lib, "cannot write the change log");
    d->counter++, d->logged++;
    d->regs.c = &c;
    return shelf__regs_put(&d->regs);
}

/* A document version queued with its row (docs.c makes the record: field
 * and value are UTF-8 already, no name escaping). */
static int drain_version(drain_ctx *d, int64_t ms, const char *item, int64_t row)
{
    char *field = NULL, *value = NULL;
    int rc;

    if ((rc = shelf__docsync_value(d->lib, row, &field, &value)) != SHELF_OK || !field)
        return rc;
    rc = put_record(d, ms, item, field, value);
    shelf_free(field);
    free(value);
    return rc;
}

/* Log the queued change the queue statement stands on. */
static int drain_one(drain_ctx *d)
{
    sqlite3_stmt *q = d->queue;
    int64_t ms = sqlite3_column_int64(q, 1);
    const char *item = (const char *)sqlite3_column_text(q, 2);
    const char *field = (const char *)sqlite3_column_text(q, 3);
    const char *value = (const char *)sqlite3_column_text(q, 4);
    char *json = NULL, *eitem = NULL, *efield = NULL, *evalue = NULL;
    int rc = SHELF_OK;

    d->last_seq = sqlite3_column_int64(q, 0);
    if (!item || !field)
        return shelf__seterr(&d->lib->err, SHELF_ECORRUPT, "change queue entry %lld has no item",
                             (long long)d->last_seq);
    if (!value && !strcmp(field, "v") && sqlite3_column_type(q, 5) == SQLITE_INTEGER)
        return drain_version(d, ms, item, sqlite3_column_int64(q, 5));
    if (!value && sqlite3_column_type(q, 5) == SQLITE_INTEGER) {
        if ((rc = sample_value(d, sqlite3_column_int64(q, 5), item, &json)) != SHELF_OK)
            return rc;
        if (!json)
            return SHELF_OK;
        value = json;
    } else if (!value && !strcmp(item, "y:")) {
        if ((rc = shelf__query_text(d->lib, SYNONYMS_JSON, &json)) != SHELF_OK)
            return rc;
        /* a group of changes in one drain is one record */
        if (d->synonyms && !strcmp(d->synonyms, json)) {
            shelf_free(json);
            return SHELF_OK;
        }
        shelf_free(d->synonyms);
        if (!(d->synonyms = shelf__strdup(json))) {
            shelf_free(json);
            return shelf__seterr(&d->lib->err, SHELF_ENOMEM, "out of memory");
        }
        value = json;
    } else if (value && !strcmp(value, "null") && !strcmp(field, ".") &&
               (!strncmp(item, "s:", 2) || !strncmp(item, "p:", 2) || !strncmp(item, "j:", 2))) {
        if ((rc = removal_value(d, &json)) != SHELF_OK)
            return rc;
        value = json;
    }
    /* Names are bytes (a file's name, its metadata): the record holds
     * them in names.h's escaping, so it is UTF-8 whatever they were. */
    if (!(eitem = shelf_name_escape(item, 0)) || !(efield = shelf_name_escape(field, 0)) ||
        (value && !(evalue = shelf_name_escape(value, 0)))) {
        rc = shelf__seterr(&d->lib->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    rc = put_record(d, ms, eitem, efield, evalue);
out:
    shelf_free(eitem);
    shelf_free(efield);
    shelf_free(evalue);
    shelf_free(json);
    return rc;
}

static int drain_all(drain_ctx *d)
{
    shelf_library *lib = d->lib;
    int64_t hlc;
    int rc, step;

    if ((rc = shelf__query_int(lib, "SELECT hlc FROM sync_clock WHERE id = 1", NULL, &hlc)) !=
            SHELF_OK ||
        (rc = shelf__query_int(lib, "SELECT max(counter) FROM changes WHERE device = ?1", d->self,
                        &d->counter)) != SHELF_OK)
        return rc;
    d->clock.last = (uint64_t)hlc;
    d->queue = shelf__prepare(lib, "SELECT seq, ms, item, field, value, row FROM change_queue "
                                   "ORDER BY seq");
    d->snap = d->queue ? shelf__prepare(lib, SAMPLE_JSON) : NULL;
    d->put = d->snap ? shelf__prepare(lib, "INSERT INTO changes(device, counter, hlc, item, field, "
                                           "value) VALUES(?1, ?2, ?3, ?4, ?5, ?6)") : NULL;
    d->removal = d->put ? shelf__prepare(lib, REMOVAL_JSON) : NULL;
    if (!d->removal)
        return lib->err.rc;
    d->regs.lib = lib;
    d->regs.local = 1;
    d->regs.st = &d->stats;
    if ((rc = shelf__regs_prepare(&d->regs)) != SHELF_OK)
        return rc;
    while ((step = sqlite3_step(d->queue)) == SQLITE_ROW)
        if ((rc = drain_one(d)) != SHELF_OK)
            return rc;
    if (step != SQLITE_DONE)
        return shelf__dberr(lib, "cannot read the change queue");
    if (d->last_seq == 0)
        return SHELF_OK;
    {
        sqlite3_stmt *st = shelf__prepare(lib, "DELETE FROM change_queue WHERE seq <= ?1");
        sqlite3_stmt *clk = st ? shelf__prepare(lib, "UPDATE sync_clock SET hlc = ?1 WHERE id = 1")
                               : NULL;

        rc = SHELF_OK;
        if (!clk)
            rc = lib->err.rc;
        else if (sqlite3_bind_int64(st, 1, d->last_seq) != SQLITE_OK ||
                 sqlite3_step(st) != SQLITE_DONE ||
                 sqlite3_bind_int64(clk, 1, (int64_t)d->clock.last) != SQLITE_OK ||
                 sqlite3_step(clk) != SQLITE_DONE)
            rc = shelf__dberr(lib, "cannot write the change log");
        sqlite3_finalize(st);
        sqlite3_finalize(clk);
    }
    return rc;
}

int shelf__changes_drain(shelf_library *lib, const char *self, int64_t *logged)
{
    drain_ctx d;
    int64_t queued;
    int rc;

    memset(&d, 0, sizeof d);
    d.lib = lib;
    d.self = self;
    if (logged)
        *logged = 0;
    /* nothing queued (the common case): no write transaction */
    if ((rc = shelf__query_int(lib, "SELECT EXISTS (SELECT 1 FROM change_queue)", NULL, &queued)) !=
            SHELF_OK || !queued)
        return rc;
    if ((rc = shelf__begin(lib)) != SHELF_OK)
        return rc;
    rc = drain_all(&d);
    sqlite3_finalize(d.queue);
    sqlite3_finalize(d.snap);
    sqlite3_finalize(d.put);
    sqlite3_finalize(d.removal);
    shelf_free(d.synonyms);
    shelf__regs_finish(&d.regs);
    if (rc == SHELF_OK)
        rc = shelf__commit(lib);
    else
        shelf__rollback(lib);
    if (rc == SHELF_OK && logged)
        *logged = d.logged;
    return rc;
}

/* Drain the queue under this device's id, unless the library is read-only
 * (then the log is read as it stands). */
static int drain_self(shelf_library *lib)
{
    shelf_device_info me;
    int rc;

    if (lib->readonly)
        return SHELF_OK;
    memset(&me, 0, sizeof me);
    me.size = sizeof me;
    if ((rc = shelf_device_self(lib, &me)) != SHELF_OK)
        return rc;
    return shelf__changes_drain(lib, me.id, NULL);
}

/* Records of device (canonical; NULL: all, by clock) above after, to fn,
 * without draining first.  One device's come by its primary key. */
int shelf__log_each(shelf_library *lib, const char *device, int64_t after,
                    int (*fn)(void *ud, const shelf_change *c), void *ud)
{
    sqlite3_stmt *st;
    shelf_change c;
    int rc, step = SQLITE_DONE;

    st = shelf__prepare(lib, device ? "SELECT device, counter, hlc, item, field, value FROM changes\n"
                                      "WHERE device = ?1 AND counter > ?2 ORDER BY counter"
                                    : "SELECT device, counter, hlc, item, field, value FROM changes\n"
                                      "WHERE counter > ?2 ORDER BY hlc, device, counter");
    if (!st)
        return lib->err.rc;
    if ((device && sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC) != SQLITE_OK) ||
        sqlite3_bind_int64(st, 2, after) != SQLITE_OK) {
        sqlite3_finalize(st);
        return shelf__dberr(lib, "cannot read the change log");
    }
    rc = SHELF_OK;
    while (rc == SHELF_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
        memset(&c, 0, sizeof c);
        c.size = sizeof c;
        snprintf(c.device, sizeof c.device, "%s", (const char *)sqlite3_column_text(st, 0));
        c.counter = sqlite3_column_int64(st, 1);
        c.hlc = (uint64_t)sqlite3_column_int64(st, 2);
        c.time_ms = (int64_t)shelf__hlc_ms(c.hlc);
        c.item = (const char *)sqlite3_column_text(st, 3);
        c.field = (const char *)sqlite3_column_text(st, 4);
        c.value = (const char *)sqlite3_column_text(st, 5);
        if (!c.item || !c.field) {
            rc = shelf__dberr(lib, "cannot read the change log");
            break;
        }
        rc = fn(ud, &c);
    }
    if (rc == SHELF_OK && step != SQLITE_DONE)
        rc = shelf__dberr(lib, "cannot read the change log");
    sqlite3_finalize(st);
    return rc;
}

int shelf_sync_log(shelf_library *lib, const char *device, int64_t after,
                   int (*fn)(void *ud, const shelf_change *c), void *ud)
{
    char id[SHELF_DEVICE_ID_LEN + 1] = "";
    unsigned char sha[32];
    int rc;

    if (!lib || !fn)
        return SHELF_EINVAL;
    if (device) {
        if (shelf_device_id_parse(device, sha) != SHELF_OK)
            return shelf__seterr(&lib->err, SHELF_EINVAL, "invalid device id '%.80s'", device);
        shelf_device_id_format(sha, id);
    }
    if ((rc = drain_self(lib)) != SHELF_OK)
        return rc;
    return shelf__log_each(lib, device ? id : NULL, after, fn, ud);
}

int shelf__vector_each(shelf_library *lib, int (*fn)(void *ud, const char *device, int64_t counter),
                       void *ud)
{
    sqlite3_stmt *st = shelf__prepare(lib, "SELECT device, counter FROM sync_vector ORDER BY device");
    int rc = SHELF_OK, step = SQLITE_DONE;

    if (!st)
        return lib->err.rc;
    while (rc == SHELF_OK && (step = sqlite3_step(st)) == SQLITE_ROW)
        rc = fn(ud, (const char *)sqlite3_column_text(st, 0), sqlite3_column_int64(st, 1));
    if (rc == SHELF_OK && step != SQLITE_DONE)
        rc = shelf__dberr(lib, "cannot read the change log");
    sqlite3_finalize(st);
    return rc;
}

int shelf_sync_vector(shelf_library *lib, int (*fn)(void *ud, const char *device, int64_t counter),
                      void *ud)
{
    int rc;

    if (!lib || !fn)
        return SHELF_EINVAL;
    if ((rc = drain_self(lib)) != SHELF_OK)
        return rc;
    return shelf__vector_each(lib, fn, ud);
}
