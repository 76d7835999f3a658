/*
 * state.c: the registers of the change log (doc/sync.md, "Merge rules";
 * the table sync_state).  Every record is split into registers (item,
 * field); a register holds the value of the record with the highest clock
 * (ties: the higher device id).  A record that wins a register changes the
 * catalog; one that loses changes nothing and, when its value differed,
 * goes to the audit log.  A sample's "." record (the whole sample) counts
 * as a write of each field, tag, rating and favourite it carries.  Used by
 * the log (changelog.c: this device's records, already in the catalog) and
 * by merging (merge.c: other devices' records).
 */
#include <string.h>
#include <sqlite3.h>
#include "shelf/names.h"
#include "shelf/patch.h"
#include "sync_int.h"

/* The catalog columns a sample's records may set. */
static const char *const sample_cols[] = {
    "name", "category", "title", "author", "comment", "genre", "kit",
    "instrument", "tempo", "root_key", "loop_start", "loop_end", "loop_mode", NULL
};

/* The local ids an item stands for, by kind: ?2 is the item's key (the
 * text after "s:", "p:" or "j:"). */
#define SAMPLES_OF "SELECT id FROM samples WHERE sha256 = ?2"
#define DOCS_OF(k) \
    "SELECT item_id FROM doc_versions d WHERE kind = " k " AND hash = ?2 AND seq = " \
    "(SELECT min(seq) FROM doc_versions WHERE kind = " k " AND item_id = d.item_id)"

typedef struct target {
    const char *kind;       /* SHELF__KIND_*_SQL */
    const char *ids;        /* SAMPLES_OF or DOCS_OF(kind) */
} target;

static int sample_col(const char *field)
{
    int i;

    for (i = 0; sample_cols[i]; i++)
        if (!strcmp(sample_cols[i], field))
            return 1;
    return 0;
}

/* Run sql with ?1 = a (text or NULL), ?2 = key, ?3 = v (a JSON scalar
 * bound as its SQL value; NULL: none), ?4 = now. */
static int run(shelf_library *lib, const char *sql, const char *a, const char *key, json_t *v)
{
    sqlite3_stmt *st = shelf__prepare_kept(lib, sql);
    int rc = SQLITE_OK, n;

    if (!st)
        return lib->err.rc;
    n = sqlite3_bind_parameter_count(st);
    if (n >= 1)
        rc = a ? sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC) : sqlite3_bind_null(st, 1);
    if (rc == SQLITE_OK && n >= 2)
        rc = sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK && n >= 3) {
        if (json_is_integer(v))
            rc = sqlite3_bind_int64(st, 3, json_integer_value(v));
        else if (json_is_real(v))
            rc = sqlite3_bind_double(st, 3, json_real_value(v));
        else if (json_is_string(v))
            rc = sqlite3_bind_text(st, 3, json_string_value(v), -1, SQLITE_STATIC);
        else
            rc = sqlite3_bind_null(st, 3);
    }
    if (rc == SQLITE_OK && n >= 4)
        rc = sqlite3_bind_int64(st, 4, shelf__now());
    if (rc != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE)
        rc = shelf__dberr(lib, "cannot apply a change");
    else
        rc = SHELF_OK;
    sqlite3_reset(st);
    return rc;
}

/* Names arrive escaped (names.h): the bytes of a JSON string, owned. */
static int unescaped(shelf_library *lib, const char *text, char **out)
{
    int rc = shelf_name_unescape(text, out);

    if (rc == SHELF_EINVAL)
        return shelf__seterr(&lib->err, SHELF_EFORMAT, "invalid name '%.80s' in a change", text);
    if (rc != SHELF_OK)
        return shelf__seterr(&lib->err, rc, "out of memory");
    return SHELF_OK;
}

/* A document's removal won: it goes here too, its history parked as a
 * local removal parks it (shelf_undo brings it back); a patch that a
 * project here uses stays. */
static int remove_doc(shelf_library *lib, const target *t, const char *key)
{
    char sql[512];
    int64_t id = 0;
    int kind = !strcmp(t->kind, SHELF__KIND_PATCH_SQL) ? SHELF_DOC_PATCH : SHELF_DOC_PROJECT, rc;

    snprintf(sql, sizeof sql, "SELECT coalesce((SELECT item_id FROM doc_versions d WHERE kind = %s "
             "AND hash = ?1 AND seq = (SELECT min(seq) FROM doc_versions WHERE kind = %s AND "
             "item_id = d.item_id)), 0)", t->kind, t->kind);
    if ((rc = shelf__query_int(lib, sql, key, &id)) != SHELF_OK || !id)
        return rc;
    rc = shelf_doc_remove(lib, kind, id, 0);
    if (rc == SHELF_EINUSE) {
        lib->err.rc = SHELF_OK;     /* used here: kept, as samples that patches use are */
        return SHELF_OK;
    }
    return rc;
}

/* A won register of a sample or document: the catalog follows it (obj:
 * the whole sample, when a "." record is being put; *added, when not
 * NULL, set when that made the sample's row). */
static int apply_item(shelf_library *lib, const target *t, const char *key, const char *field,
                      json_t *v, json_t *obj, int *added)
{
    char sql[1024], *bytes = NULL;
    json_t *b = NULL;
    int on = !json_is_false(v) && !shelf__is_removal(v), rc;

    if (!strcmp(field, ".")) {
        if (strcmp(t->ids, SAMPLES_OF) != 0)
            return on ? SHELF_OK : remove_doc(lib, t, key);   /* they come with their histories */
        if (on)                 /* a sample learnt of: its row, bytes to come */
            return json_is_object(obj) ? shelf__sample_row(lib, key, obj, added) : SHELF_OK;
        /* a removed sample: its rows go, unless a patch or project uses them */
        if ((rc = run(lib, "DELETE FROM samples WHERE sha256 = ?2 AND id NOT IN "
                           "(SELECT sample_id FROM patch_samples UNION SELECT sample_id FROM "
                           "project_samples)", NULL, key, NULL)) != SHELF_OK)
            return rc;
        return shelf__sync_guard(lib, sqlite3_changes(lib->db));
    }
    if (!strncmp(field, "tag:", 4)) {
        if ((rc = unescaped(lib, field + 4, &bytes)) != SHELF_OK)
            return rc;
        if (on) {
            rc = run(lib, "INSERT OR IGNORE INTO tags(name) VALUES(?1)", bytes, key, NULL);
            snprintf(sql, sizeof sql, "INSERT OR IGNORE INTO tag_items(tag_id, kind, item_id) "
                     "SELECT (SELECT id FROM tags WHERE name = ?1), %s, id FROM (%s)", t->kind,
                     t->ids);
        } else {
            rc = SHELF_OK;
            snprintf(sql, sizeof sql, "DELETE FROM tag_items WHERE tag_id = (SELECT id FROM tags "
                     "WHERE name = ?1) AND kind = %s AND item_id IN (%s)", t->kind, t->ids);
        }
        if (rc == SHELF_OK)
            rc = run(lib, sql, bytes, key, NULL);
        shelf_free(bytes);
        return rc;
    }
    if (!strcmp(field, "rating")) {
        if (json_is_integer(v) && json_integer_value(v) >= 1 && json_integer_value(v) <= 5)
            snprintf(sql, sizeof sql, "INSERT OR REPLACE INTO ratings(kind, item_id, rating) "
                     "SELECT %s, id, ?3 FROM (%s)", t->kind, t->ids);
        else if (json_is_null(v))
            snprintf(sql, sizeof sql, "DELETE FROM ratings WHERE kind = %s AND item_id IN (%s)",
                     t->kind, t->ids);
        else
            return shelf__seterr(&lib->err, SHELF_EFORMAT, "invalid rating in a change");
        return run(lib, sql, NULL, key, v);
    }
    if (!strcmp(field, "favourite")) {
        snprintf(sql, sizeof sql, on ? "INSERT OR IGNORE INTO favourites(kind, item_id, added) "
                                       "SELECT %s, id, ?4 FROM (%s)"
                                     : "DELETE FROM favourites WHERE kind = %s AND item_id IN (%s)",
                 t->kind, t->ids);
        /* ?3 unused: bound as NULL by run when the statement has it */
        return run(lib, sql, NULL, key, NULL);
    }
    if (strcmp(t->ids, SAMPLES_OF) != 0 || !sample_col(field))
        return SHELF_OK;        /* a field this version does not know: kept in the log */
    if (json_is_string(v)) {
        if ((rc = unescaped(lib, json_string_value(v), &bytes)) != SHELF_OK)
            return rc;
        if (!(b = json_string_nocheck(bytes))) {
            shelf_free(bytes);
            return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        }
        shelf_free(bytes);
        v = b;
    }
    snprintf(sql, sizeof sql, "UPDATE samples SET %s = ?3 WHERE sha256 = ?2", field);
    rc = run(lib, sql, NULL, key, v);
    json_decref(b);
    return rc;
}

/* A won register of a collection. */
static int apply_collection(shelf_library *lib, const char *name, const char *field, json_t *v)
{
    char *bytes = NULL;
    int on = !json_is_null(v) && !json_is_false(v), rc;

    if ((rc = unescaped(lib, name, &bytes)) != SHELF_OK)
        return rc;
    if (!strcmp(field, ".")) {
        json_t *q = json_object_get(v, "query");

        rc = on ? run(lib, "INSERT INTO collections(name, query, created) VALUES(?1, ?3, ?4) "
                           "ON CONFLICT(name) DO UPDATE SET query = excluded.query", bytes, "",
                      json_is_string(q) ? q : NULL)
                : run(lib, "DELETE FROM collections WHERE name = ?1", bytes, "", NULL);
    } else if (!strncmp(field, "has:s:", 6)) {
        rc = on ? run(lib, "INSERT OR IGNORE INTO collection_items(collection_id, sample_id, position) "
                           "SELECT c.id, s.id, (SELECT count(*) FROM collection_items WHERE "
                           "collection_id = c.id) FROM collections c, samples s WHERE c.name = ?1 "
                           "AND s.sha256 = ?2", bytes, field + 6, NULL)
                : run(lib, "DELETE FROM collection_items WHERE collection_id = (SELECT id FROM "
                           "collections WHERE name = ?1) AND sample_id IN (SELECT id FROM samples "
                           "WHERE sha256 = ?2)", bytes, field + 6, NULL);
    }
    shelf_free(bytes);
    return rc;
}

/* A won register of the synonyms: the table becomes its groups. */
static int apply_synonyms(shelf_library *lib, json_t *v)
{
    sqlite3_stmt *st;
    json_t *g, *w;
    size_t i, k;
    int rc;

    if (!json_is_array(v))
        return shelf__seterr(&lib->err, SHELF_EFORMAT, "invalid synonyms in a change");
    json_array_foreach(v, i, g) {
        if (!json_is_array(g))
            return shelf__seterr(&lib->err, SHELF_EFORMAT, "invalid synonyms in a change");
        json_array_foreach(g, k, w)
            if (!json_is_string(w))
                return shelf__seterr(&lib->err, SHELF_EFORMAT, "invalid synonyms in a change");
    }
    if ((rc = shelf__exec(lib, "DELETE FROM synonyms")) != SHELF_OK)
        return rc;
    if (!(st = shelf__prepare(lib, "INSERT OR REPLACE INTO synonyms(word, grp) VALUES(?1, ?2)")))
        return lib->err.rc;
    json_array_foreach(v, i, g) {
        json_array_foreach(g, k, w) {
            char *word = NULL;

            if ((rc = unescaped(lib, json_string_value(w), &word)) != SHELF_OK)
                break;
            if (sqlite3_reset(st) != SQLITE_OK ||
                sqlite3_bind_text(st, 1, word, -1, SQLITE_STATIC) != SQLITE_OK ||
                sqlite3_bind_int64(st, 2, (int64_t)i + 1) != SQLITE_OK ||
                sqlite3_step(st) != SQLITE_DONE)
                rc = shelf__dberr(lib, "cannot apply the synonyms");
            shelf_free(word);
            if (rc != SHELF_OK)
                break;
        }
        if (rc != SHELF_OK)
            break;
    }
    sqlite3_finalize(st);
    return rc;
}

static int apply_register(shelf_library *lib, const char *item, const char *field, json_t *v,
                          json_t *obj, int *added)
{
    static const target sample = { SHELF__KIND_SAMPLE_SQL, SAMPLES_OF };
    static const target patch = { SHELF__KIND_PATCH_SQL, DOCS_OF(SHELF__KIND_PATCH_SQL) };
    static const target project = { SHELF__KIND_PROJECT_SQL, DOCS_OF(SHELF__KIND_PROJECT_SQL) };

    if (!strncmp(item, "s:", 2))
        return apply_item(lib, &sample, item + 2, field, v, obj, added);
    if (!strncmp(item, "p:", 2))
        return apply_item(lib, &patch, item + 2, field, v, NULL, NULL);
    if (!strncmp(item, "j:", 2))
        return apply_item(lib, &project, item + 2, field, v, NULL, NULL);
    if (!strncmp(item, "c:", 2))
        return apply_collection(lib, item + 2, field, v);
    if (!strcmp(item, "y:") && !strcmp(field, "."))
        return apply_synonyms(lib, v);
    return SHELF_OK;            /* an item this version does not know: kept in the log */
}

/* Whether (hlc, device) is later than the register's holder. */
static int later(uint64_t hlc, const char *dev, uint64_t h, const char *d)
{
    return hlc > h || (hlc == h && strcmp(dev, d) > 0);
}

/* A line of the audit log. */
static int audit(shelf_library *lib, const char *action, const char *detail)
{
    sqlite3_stmt *st;
    int rc;

    if (!(st = shelf__prepare(lib, "INSERT INTO audit_log(time, action, detail) VALUES(?1, ?2, ?3)")))
        return lib->err.rc;
    if (sqlite3_bind_int64(st, 1, shelf__now()) != SQLITE_OK ||
        sqlite3_bind_text(st, 2, action, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(st, 3, detail, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_DONE)
        rc = shelf__dberr(lib, "cannot write the audit log");
    else
        rc = SHELF_OK;
    sqlite3_finalize(st);
    return rc;
}

static int audit_loss(shelf__regs *r, const char *field, const char *kept, const char *lost,
                      const char *holder)
{
    char *detail = shelf__asprintf("%s %s: kept %.200s (from %.7s) over %.200s (from %.7s)",
                                   r->c->item, field, kept ? kept : "null", holder,
                                   lost ? lost : "null", r->c->device);
    int rc;

    if (!detail)
        return shelf__seterr(&r->lib->err, SHELF_ENOMEM, "out of memory");
    rc = audit(r->lib, "sync-lost", detail);
    shelf_free(detail);
    return rc;
}

/* Apply every register of item but "." to the catalog (a row just made
 * again takes the item's state). */
static int apply_all_registers(shelf_library *lib, const char *item)
{
    sqlite3_stmt *st = shelf__prepare(lib, "SELECT field, value FROM sync_state WHERE item = ?1 "
                                           "AND field != '.'");
    int rc = SHELF_OK, step = SQLITE_DONE;

    if (!st)
        return lib->err.rc;
    if (sqlite3_bind_text(st, 1, item, -1, SQLITE_STATIC) != SQLITE_OK)
        rc = shelf__dberr(lib, "cannot read the sync state");
    while (rc == SHELF_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *text = (const char *)sqlite3_column_text(st, 1);
        json_t *v = NULL;

        if ((rc = shelf__json_parse(&lib->err, SHELF_EFORMAT, "a change", text, strlen(text),
                                    JSON_DECODE_ANY, &v)) == SHELF_OK)
            rc = apply_register(lib, item, (const char *)sqlite3_column_text(st, 0), v, NULL, NULL);
        json_decref(v);
    }
    if (rc == SHELF_OK && step != SQLITE_DONE)
        rc = shelf__dberr(lib, "cannot read the sync state");
    sqlite3_finalize(st);
    return rc;
}

/* The sample r->c names comes back: its removal (by remover) had not seen
 * r->c.  The "." register goes back to the newest record of the whole
 * sample, the row is made from it, and every register of the item is
 * applied to the row. */
static int restore_sample(shelf__regs *r, const char *remover)
{
    shelf_library *lib = r->lib;
    const char *item = r->c->item;
    sqlite3_stmt *st, *up = NULL;
    json_t *o = NULL;
    char *detail = NULL;
    int rc = SHELF_OK, step;

    if (!(st = shelf__prepare(lib, "SELECT hlc, device, value FROM changes WHERE item = ?1 AND "
                                   "field = '.' AND value LIKE '{%' AND json_extract(value, "
                                   "'$.removed') IS NULL ORDER BY hlc DESC, device DESC LIMIT 1")))
        return lib->err.rc;
    if (sqlite3_bind_text(st, 1, item, -1, SQLITE_STATIC) != SQLITE_OK ||
        ((step = sqlite3_step(st)) != SQLITE_ROW && step != SQLITE_DONE)) {
        rc = shelf__dberr(lib, "cannot read the change log");
        goto out;
    }
    if (step == SQLITE_DONE)
        goto out;               /* never known whole here: nothing to make a row of */
    if ((rc = shelf__json_parse(&lib->err, SHELF_EFORMAT, "a change",
                                (const char *)sqlite3_column_text(st, 2),
                                (size_t)sqlite3_column_bytes(st, 2), 0, &o)) != SHELF_OK)
        goto out;
    if (!(up = shelf__prepare(lib, "UPDATE sync_state SET value = 'true', hlc = ?1, device = ?2 "
                                   "WHERE item = ?3 AND field = '.'"))) {
        rc = lib->err.rc;
        goto out;
    }
    if (sqlite3_bind_int64(up, 1, sqlite3_column_int64(st, 0)) != SQLITE_OK ||
        sqlite3_bind_text(up, 2, (const char *)sqlite3_column_text(st, 1), -1,
                          SQLITE_TRANSIENT) != SQLITE_OK ||
        sqlite3_bind_text(up, 3, item, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_step(up) != SQLITE_DONE) {
        rc = shelf__dberr(lib, "cannot write the sync state");
        goto out;
    }
    if ((rc = shelf__sample_row(lib, item + 2, o, NULL)) != SHELF_OK ||
        (rc = apply_all_registers(lib, item)) != SHELF_OK)
        goto out;
    r->st->applied++;
    if (!(detail = shelf__asprintf("%s came back: a change from %.7s that its remover %.7s had "
                                   "not seen when it removed it", item, r->c->device, remover)))
        rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    else
        rc = audit(lib, "sync-restored", detail);
out:
    shelf_free(detail);
    sqlite3_finalize(st);
    sqlite3_finalize(up);
    json_decref(o);
    return rc;
}

/* After r->c won a register of its sample: when the sample's "." register
 * holds a removal that had not seen r->c, the sample comes back (*back). */
static int removed_unseen(shelf__regs *r, int *back)
{
    const shelf__change *c = r->c;
    char remover[SHELF_DEVICE_ID_LEN + 1];
    uint64_t rhlc;
    json_t *rv = NULL;
    const char *text;
    int step, rc;

    *back = 0;
    if (sqlite3_reset(r->get) != SQLITE_OK ||
        sqlite3_bind_text(r->get, 1, c->item, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(r->get, 2, ".", -1, SQLITE_STATIC) != SQLITE_OK)
        return shelf__dberr(r->lib, "cannot read the sync state");
    if ((step = sqlite3_step(r->get)) == SQLITE_DONE)
        return SHELF_OK;
    if (step != SQLITE_ROW)
        return shelf__dberr(r->lib, "cannot read the sync state");
    text = (const char *)sqlite3_column_text(r->get, 2);
    if (!text || !strcmp(text, "true"))
        return SHELF_OK;
    rhlc = (uint64_t)sqlite3_column_int64(r->get, 0);
    snprintf(remover, sizeof remover, "%s", (const char *)sqlite3_column_text(r->get, 1));
    if ((rc = shelf__json_parse(&r->lib->err, SHELF_EFORMAT, "a change", text, strlen(text),
                                JSON_DECODE_ANY, &rv)) != SHELF_OK)
        return rc;
    *back = shelf__is_removal(rv) && !shelf__seen_by(c->hlc, c->device, rhlc, remover, rv);
    json_decref(rv);
    return *back ? restore_sample(r, remover) : SHELF_OK;
}

/* The device of a version of r->c's document that the removal r->c (its
 * value rv) had not seen, into by ("" when it had seen them all). */
static int version_unseen(shelf__regs *r, json_t *rv, char by[SHELF_DEVICE_ID_LEN + 1])
{
    const shelf__change *c = r->c;
    sqlite3_stmt *st = shelf__prepare(r->lib, "SELECT hlc, device FROM changes WHERE item = ?1 AND "
                                              "field LIKE 'v:%'");
    int step = SQLITE_DONE, rc = SHELF_OK;

    by[0] = '\0';
    if (!st)
        return r->lib->err.rc;
    if (sqlite3_bind_text(st, 1, c->item, -1, SQLITE_STATIC) != SQLITE_OK)
        rc = shelf__dberr(r->lib, "cannot read the change log");
    while (rc == SHELF_OK && !by[0] && (step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *dev = (const char *)sqlite3_column_text(st, 1);

        if (!shelf__seen_by((uint64_t)sqlite3_column_int64(st, 0), dev ? dev : "", c->hlc, c->device, rv))
            snprintf(by, SHELF_DEVICE_ID_LEN + 1, "%s", dev ? dev : "?");
    }
    if (rc == SHELF_OK && !by[0] && step != SQLITE_DONE)
        rc = shelf__dberr(r->lib, "cannot read the change log");
    sqlite3_finalize(st);
    return rc;
}

/* One register write: (r->c's item, field) = v (its JSON text vtext). */
static int put_register(shelf__regs *r, const char *field, json_t *v, const char *vtext)
{
    shelf_library *lib = r->lib;
    const shelf__change *c = r->c;
    int step, rc, win = 1, same = 0;

    if (sqlite3_reset(r->get) != SQLITE_OK ||
        sqlite3_bind_text(r->get, 1, c->item, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(r->get, 2, field, -1, SQLITE_STATIC) != SQLITE_OK)
        return shelf__dberr(lib, "cannot read the sync state");
    step = sqlite3_step(r->get);
    if (step == SQLITE_ROW) {
        uint64_t h = (uint64_t)sqlite3_column_int64(r->get, 0);
        const char *d = (const char *)sqlite3_column_text(r->get, 1);
        const char *old = (const char *)sqlite3_column_text(r->get, 2);

        if (h == c->hlc && d && !strcmp(d, c->device))
            return SHELF_OK;                    /* this very record */
        same = old && vtext && !strcmp(old, vtext);
        if (!later(c->hlc, c->device, h, d ? d : "")) {
            win = 0;
            /* an older write of the same value is no loss */
            if (!same && !r->local) {
                r->st->lost++;
                if ((rc = audit_loss(r, field, old, vtext, d ? d : "")) != SHELF_OK)
                    return rc;
            }
        }
    } else if (step != SQLITE_DONE) {
        return shelf__dberr(lib, "cannot read the sync state");
    }
    if (!win)
        return SHELF_OK;
    /* a removal loses to any register of the item its device had not
     * seen when it removed it: a change made elsewhere meanwhile (or
     * after) keeps the item */
    if (!strcmp(field, ".") && shelf__is_removal(v)) {
        char by[SHELF_DEVICE_ID_LEN + 1] = "";

        if (sqlite3_reset(r->fields) != SQLITE_OK ||
            sqlite3_bind_text(r->fields, 1, c->item, -1, SQLITE_STATIC) != SQLITE_OK)
            return shelf__dberr(lib, "cannot read the sync state");
        while (!by[0] && (step = sqlite3_step(r->fields)) == SQLITE_ROW) {
            const char *dev = (const char *)sqlite3_column_text(r->fields, 1);

            if (!shelf__seen_by((uint64_t)sqlite3_column_int64(r->fields, 0), dev ? dev : "", c->hlc,
                         c->device, v))
                snprintf(by, sizeof by, "%s", dev ? dev : "?");
        }
        if (!by[0] && step != SQLITE_DONE)
            return shelf__dberr(lib, "cannot read the sync state");
        /* a document: also every version of it in the log */
        if (!by[0] && (!strncmp(c->item, "p:", 2) || !strncmp(c->item, "j:", 2)) &&
            (rc = version_unseen(r, v, by)) != SHELF_OK)
            return rc;
        if (by[0]) {
            if (r->local)
                return SHELF_OK;
            r->st->lost++;
            return audit_loss(r, field, "a change it had not seen", "the removal", by);
        }
    }
    if (sqlite3_reset(r->put) != SQLITE_OK ||
        sqlite3_bind_text(r->put, 1, c->item, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(r->put, 2, field, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(r->put, 3, (int64_t)c->hlc) != SQLITE_OK ||
        sqlite3_bind_text(r->put, 4, c->device, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(r->put, 5, vtext, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_step(r->put) != SQLITE_DONE)
        return shelf__dberr(lib, "cannot write the sync state");
    if (!r->local && strcmp(field, ".") != 0 && !strncmp(c->item, "s:", 2)) {
        int back = 0;

        if ((rc = removed_unseen(r, &back)) != SHELF_OK || back)
            return rc;
    }
    if (r->local || same)
        return SHELF_OK;        /* the catalog holds this value already */
    r->st->applied++;
    /* the row the sample's "." record made holds the record's fields:
     * an UPDATE each would only cost (a first sync brings 100,000) */
    if (r->added && sample_col(field))
        return SHELF_OK;
    return apply_register(lib, c->item, field, v, r->obj, &r->added);
}

/* A sample's "." record: the sample, then each field, tag, rating and
 * favourite it carries, as writes at its clock. */
static int put_sample(shelf__regs *r, json_t *o)
{
    json_t *t, *v, *yes = json_true();
    const char *k;
    size_t i;
    char *text, *field;
    int rc;

    if ((rc = put_register(r, ".", yes, "true")) != SHELF_OK)
        return rc;
    json_object_foreach(o, k, v) {
        if (!sample_col(k))
            continue;
        if (!(text = shelf__json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT)))
            return shelf__seterr(&r->lib->err, SHELF_ENOMEM, "out of memory");
        rc = put_register(r, k, v, text);
        free(text);
        if (rc != SHELF_OK)
            return rc;
    }
    json_array_foreach(json_object_get(o, "tags"), i, t) {
        if (!json_is_string(t))
            continue;
        if (!(field = shelf__asprintf("tag:%s", json_string_value(t))))
            return shelf__seterr(&r->lib->err, SHELF_ENOMEM, "out of memory");
        rc = put_register(r, field, yes, "true");
        shelf_free(field);
        if (rc != SHELF_OK)
            return rc;
    }
    v = json_object_get(o, "rating");
    if (json_is_integer(v)) {
        char num[8];

        snprintf(num, sizeof num, "%d", (int)json_integer_value(v));
        if ((rc = put_register(r, "rating", v, num)) != SHELF_OK)
            return rc;
    }
    if (json_is_true(json_object_get(o, "favourite")))
        return put_register(r, "favourite", yes, "true");
    return SHELF_OK;
}

int shelf__regs_put(shelf__regs *r)
{
    const shelf__change *c = r->c;
    json_t *v = NULL;
    int rc;

    /* a record a purge emptied says nothing; a purged item takes no more */
    if (!strcmp(c->field, "-")) {
        r->st->skipped++;
        return SHELF_OK;
    }
    if (!r->local) {
        int gone = 0;

        if ((rc = shelf__purge_gone(r->lib, c, &gone)) != SHELF_OK)
            return rc;
        if (gone) {
            r->st->skipped++;
            return SHELF_OK;
        }
        if (!strcmp(c->field, "!")) {
            int64_t removed = 0;

            /* a purge counts against --max-delete like a removal */
            if ((rc = shelf__purge_received(r->lib, c, &r->purged, &removed)) != SHELF_OK ||
                (rc = shelf__sync_guard(r->lib, removed)) != SHELF_OK)
                return rc;
            r->st->applied++;
        }
    }
    if (!strcmp(c->field, "!")) {
        /* the tombstone's register: whoever purged, it stays purged */
        if (sqlite3_reset(r->put) != SQLITE_OK ||
            sqlite3_bind_text(r->put, 1, c->item, -1, SQLITE_STATIC) != SQLITE_OK ||
            sqlite3_bind_text(r->put, 2, "!", -1, SQLITE_STATIC) != SQLITE_OK ||
            sqlite3_bind_int64(r->put, 3, (int64_t)c->hlc) != SQLITE_OK ||
            sqlite3_bind_text(r->put, 4, c->device, -1, SQLITE_STATIC) != SQLITE_OK ||
            sqlite3_bind_text(r->put, 5, c->value, -1, SQLITE_STATIC) != SQLITE_OK ||
            sqlite3_step(r->put) != SQLITE_DONE)
            return shelf__dberr(r->lib, "cannot write the sync state");
        return SHELF_OK;
    }
    /* a document's version: histories are unions, not registers */
    if (shelf__docsync_is_version(c->item, c->field))
        return r->local ? SHELF_OK : shelf__docsync_put(r->lib, c, r->st);
    if ((rc = shelf__json_parse(&r->lib->err, SHELF_EFORMAT, "a change", c->value, strlen(c->value),
                                JSON_DECODE_ANY, &v)) != SHELF_OK)
        return rc;
    if (!strcmp(c->field, ".") && json_is_object(v) && !shelf__is_removal(v) &&
        !strncmp(c->item, "s:", 2)) {
        r->obj = v;
        r->added = 0;
        rc = put_sample(r, v);
        r->obj = NULL;
        r->added = 0;
    }
    else
        rc = put_register(r, c->field, v, c->value);
    json_decref(v);
    return rc;
}

int shelf__regs_prepare(shelf__regs *r)
{
    r->get = shelf__prepare(r->lib, "SELECT hlc, device, value FROM sync_state "
                                    "WHERE item = ?1 AND field = ?2");
    r->put = r->get ? shelf__prepare(r->lib, "INSERT OR REPLACE INTO sync_state(item, field, hlc, "
                                             "device, value) VALUES(?1, ?2, ?3, ?4, ?5)") : NULL;
    r->fields = r->put ? shelf__prepare(r->lib, "SELECT hlc, device FROM sync_state WHERE item = ?1 "
                                                "AND field != '.'") : NULL;
    return r->fields ? SHELF_OK : r->lib->err.rc;
}

void shelf__regs_finish(shelf__regs *r)
{
    sqlite3_finalize(r->get);
    sqlite3_finalize(r->put);
    sqlite3_finalize(r->fields);
}


void shelf__sync_run_begin(shelf_library *lib)
{
    int64_t n = 0;

    lib->sync_deleted = 0;
    lib->sync_samples = shelf__query_int(lib, "SELECT count(*) FROM samples", NULL, &n) == SHELF_OK
                            ? n : 0;
}

int shelf__sync_guard(shelf_library *lib, int64_t removed)
{
    int pct = lib->sync_max_delete ? lib->sync_max_delete : SHELF_SYNC_MAX_DELETE;

    lib->sync_deleted += removed;
    /* a few removals always pass: a library of three samples may lose two */
    if (pct >= 100 || lib->sync_deleted <= 10 ||
        lib->sync_deleted * 100 <= (int64_t)pct * lib->sync_samples)
        return SHELF_OK;
    return shelf__seterr(&lib->err, SHELF_EPERM, "this sync would remove %lld of the %lld "
                         "samples here, more than %d%%; nothing of the last batch was applied "
                         "(to allow it, sync again with --max-delete %d or more)",
                         (long long)lib->sync_deleted, (long long)lib->sync_samples, pct,
                         (int)((lib->sync_deleted * 100 + lib->sync_samples - 1) /
                               (lib->sync_samples ? lib->sync_samples : 1)));
}

int shelf_sync_set_io_timeout(shelf_library *lib, int seconds)
{
    if (!lib)
        return SHELF_EINVAL;
    if (seconds < 1 || seconds > 3600)
        return shelf__seterr(&lib->err, SHELF_EINVAL, "invalid I/O timeout: %d s (1 to 3600)",
                             seconds);
    lib->sync_io_timeout = seconds;
    return SHELF_OK;
}

int shelf_sync_set_max_delete(shelf_library *lib, int percent)
{
    if (!lib)
        return SHELF_EINVAL;
    if (percent < 1 || percent > 100)
        return shelf__seterr(&lib->err, SHELF_EINVAL, "invalid share of samples to remove: %d "
                             "(1 to 100 percent)", percent);
    lib->sync_max_delete = percent;
    return SHELF_OK;
}
