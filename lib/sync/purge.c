/*
 * purge.c: purge on request (doc/design.md, "Purge"; doc/sync.md,
 * "Purge").  The items are named across devices, what they own is listed
 * (rows, managed copies, the user's files left in place, exports that may
 * hold them), then under the exclusive lock the catalog's rows go
 * (lib/catalog/purge.c, which also queues the tombstone), the managed
 * copies after the commit, and the search index and write-ahead log are
 * scrubbed.  Lives in lib/sync because a tombstone received from another
 * device purges through the same steps (shelf__purge_received).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sqlite3.h>
#include "sync_int.h"

typedef struct purge_run {
    shelf_library *lib;
    shelf_purge_opts o;
    shelf_purge_stats st;
    json_t *names;              /* a set (object keys): "s:SHA", "p:HASH", "j:HASH" */
    json_t *blobs;              /* a set of blob names */
} purge_run;

/* Add s to the set (a JSON object's keys); *added: it was new (may be
 * NULL). */
static int set_add(shelf_library *lib, json_t *set, const char *s, int *added)
{
    if (added)
        *added = !json_object_get(set, s);
    if (json_object_set_new(set, s, json_true()) != 0)
        return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    return SHELF_OK;
}

static int report(purge_run *p, const char *what, const char *name, const char *detail,
                  int64_t id)
{
    shelf_purge_entry e;

    if (!p->o.cb)
        return SHELF_OK;
    memset(&e, 0, sizeof e);
    e.size = sizeof e;
    e.what = what;
    e.name = name;
    e.detail = detail;
    e.id = id;
    if (p->o.cb(p->o.ud, &e) != 0)
        return shelf__seterr(&p->lib->err, SHELF_ECANCELED, "purge stopped");
    return SHELF_OK;
}

/* The name across devices of item (kind, id), into p->names. */
static int name_item(purge_run *p, int kind, int64_t id)
{
    shelf_library *lib = p->lib;
    sqlite3_stmt *st;
    char *name = NULL;
    int rc = SHELF_OK;

    if (kind == SHELF_PURGE_SAMPLE)
        st = shelf__prepare(lib, "SELECT 's:' || sha256 FROM samples WHERE id = ?1");
    else if (kind == SHELF_DOC_PATCH || kind == SHELF_DOC_PROJECT)
        st = shelf__prepare(lib, "SELECT iif(kind = " SHELF__KIND_PATCH_SQL ", 'p:', 'j:') || hash "
                                 "FROM doc_versions WHERE kind = ?2 AND item_id = ?1 ORDER BY seq "
                                 "LIMIT 1");
    else
        return shelf__seterr(&lib->err, SHELF_EINVAL, "cannot purge: unknown kind of item %d",
                             kind);
    if (!st)
        return lib->err.rc;
    sqlite3_bind_int64(st, 1, id);
    if (kind != SHELF_PURGE_SAMPLE)
        sqlite3_bind_int(st, 2, kind);
    if (sqlite3_step(st) == SQLITE_ROW) {
        if (!(name = shelf__strdup((const char *)sqlite3_column_text(st, 0))))
            rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    } else
        rc = shelf__seterr(&lib->err, SHELF_ENOTFOUND, "cannot purge: no %s with id %lld",
                           kind == SHELF_PURGE_SAMPLE ? "sample" : kind == SHELF_DOC_PATCH
                           ? "patch" : "project", (long long)id);
    sqlite3_finalize(st);
    if (rc != SHELF_OK)
        return rc;
    rc = set_add(lib, p->names, name, NULL);
    shelf_free(name);
    return rc;
}

/* Fill the temp table purge_list(name) for the queries below. */
static int fill_list(purge_run *p)
{
    shelf_library *lib = p->lib;
    sqlite3_stmt *st;
    const char *name;
    json_t *v;
    int rc;

    if ((rc = shelf__exec(lib, "CREATE TEMP TABLE IF NOT EXISTS purge_list(name TEXT PRIMARY KEY);"
                               "DELETE FROM purge_list")) != SHELF_OK)
        return rc;
    if (!(st = shelf__prepare(lib, "INSERT OR IGNORE INTO purge_list(name) VALUES(?1)")))
        return lib->err.rc;
    json_object_foreach(p->names, name, v)
        if (sqlite3_reset(st) != SQLITE_OK ||
            sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC) != SQLITE_OK ||
            sqlite3_step(st) != SQLITE_DONE) {
            sqlite3_finalize(st);
            return shelf__dberr(lib, "cannot purge");
        }
    sqlite3_finalize(st);
    return SHELF_OK;
}

/* Samples that documents outside the purge use: SHELF_EINUSE. */
static int check_used(purge_run *p)
{
    shelf_library *lib = p->lib;
    sqlite3_stmt *st = shelf__prepare(lib,
        "SELECT s.id, d.kind, d.name FROM samples s JOIN (\n"
        "  SELECT ps.sample_id AS sid, " SHELF__KIND_PATCH_SQL " AS kind, x.id AS did, x.name AS name\n"
        "    FROM patch_samples ps JOIN patches x ON x.id = ps.patch_id\n"
        "  UNION ALL SELECT js.sample_id, " SHELF__KIND_PROJECT_SQL ", x.id, x.name\n"
        "    FROM project_samples js JOIN projects x ON x.id = js.project_id) d ON d.sid = s.id\n"
        "WHERE 's:' || s.sha256 IN (SELECT name FROM purge_list)\n"
        "  AND NOT EXISTS (SELECT 1 FROM doc_versions v WHERE v.kind = d.kind AND v.item_id = d.did\n"
        "    AND iif(v.kind = " SHELF__KIND_PATCH_SQL ", 'p:', 'j:') || v.hash IN\n"
        "      (SELECT name FROM purge_list))\n"
        "LIMIT 1");
    int rc = SHELF_OK;

    if (!st)
        return lib->err.rc;
    if (sqlite3_step(st) == SQLITE_ROW)
        rc = shelf__seterr(&lib->err, SHELF_EINUSE, "cannot purge sample %lld: %s '%s' uses it "
                           "(purge that too, or purge with --force and it keeps the reference "
                           "by hash)", (long long)sqlite3_column_int64(st, 0),
                           sqlite3_column_int(st, 1) == SHELF__KIND_PATCH ? "patch" : "project",
                           (const char *)sqlite3_column_text(st, 2));
    sqlite3_finalize(st);
    return rc;
}

/* Report what the purge reaches and what it cannot; collect blobs. */
static int survey(purge_run *p)
{
    shelf_library *lib = p->lib;
    sqlite3_stmt *st = shelf__prepare(lib,
        "SELECT 's:' || s.sha256, s.id, r.path, s.relpath, s.blob, s.created FROM samples s\n"
        "  JOIN roots r ON r.id = s.root_id WHERE 's:' || s.sha256 IN (SELECT name FROM purge_list)\n"
        "  ORDER BY s.id");
    int64_t first = INT64_MAX;
    int rc = SHELF_OK, step, added;

    if (!st)
        return lib->err.rc;
    while (rc == SHELF_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        const char *root = (const char *)sqlite3_column_text(st, 2);
        const char *rel = (const char *)sqlite3_column_text(st, 3);
        const char *blob = (const char *)sqlite3_column_text(st, 4);
        char *abs = shelf__sample_abspath(root, rel);

        if (!abs)
            rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        else if ((rc = report(p, "sample", name, abs, sqlite3_column_int64(st, 1))) == SHELF_OK) {
            p->st.samples++;
            if (sqlite3_column_int64(st, 5) < first)
                first = sqlite3_column_int64(st, 5);
            if (blob && (rc = set_add(lib, p->blobs, blob, &added)) == SHELF_OK && added)
                rc = report(p, "blob", NULL, blob, 0);
            /* the referenced file, or a managed copy's origin: the user's */
            if (rc == SHELF_OK && access(abs, F_OK) == 0) {
                p->st.files_left++;
                rc = report(p, "file", NULL, abs, 0);
            }
        }
        shelf_free(abs);
    }
    if (rc == SHELF_OK && step != SQLITE_DONE)
        rc = shelf__dberr(lib, "cannot purge");
    sqlite3_finalize(st);
    if (rc != SHELF_OK)
        return rc;
    if (!(st = shelf__prepare(lib,
            "SELECT iif(v.kind = " SHELF__KIND_PATCH_SQL ", 'p:', 'j:') || v.hash, v.kind, v.item_id,\n"
            "  coalesce(pa.name, pr.name), coalesce(pa.blob, pr.blob), v.time\n"
            "FROM doc_versions v LEFT JOIN patches pa ON v.kind = " SHELF__KIND_PATCH_SQL
            " AND pa.id = v.item_id\n"
            "  LEFT JOIN projects pr ON v.kind = " SHELF__KIND_PROJECT_SQL " AND pr.id = v.item_id\n"
            "WHERE v.seq = (SELECT min(seq) FROM doc_versions w WHERE w.kind = v.kind AND\n"
            "  w.item_id = v.item_id) AND iif(v.kind = " SHELF__KIND_PATCH_SQL ", 'p:', 'j:') || "
            "v.hash IN (SELECT name FROM purge_list)")))
        return lib->err.rc;
    while (rc == SHELF_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *blob = (const char *)sqlite3_column_text(st, 4);
        const char *dname = (const char *)sqlite3_column_text(st, 3);

        rc = report(p, sqlite3_column_int(st, 1) == SHELF__KIND_PATCH ? "patch" : "project",
                    (const char *)sqlite3_column_text(st, 0), dname ? dname : "",
                    sqlite3_column_int64(st, 2));
        p->st.documents++;
        if (sqlite3_column_int64(st, 5) < first)
            first = sqlite3_column_int64(st, 5);
        if (rc == SHELF_OK && blob && (rc = set_add(lib, p->blobs, blob, &added)) == SHELF_OK &&
            added)
            rc = report(p, "blob", NULL, blob, 0);
    }
    if (rc == SHELF_OK && step != SQLITE_DONE)
        rc = shelf__dberr(lib, "cannot purge");
    sqlite3_finalize(st);
    if (rc != SHELF_OK)
        return rc;
    /* Exports written since the first item came may hold them. */
    if (!(st = shelf__prepare(lib, "SELECT detail, time FROM audit_log WHERE action = 'export' "
                                   "AND time >= ?1 ORDER BY time")))
        return lib->err.rc;
    sqlite3_bind_int64(st, 1, first == INT64_MAX ? 0 : first);
    while (rc == SHELF_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
        p->st.exports++;
        rc = report(p, "export", NULL, (const char *)sqlite3_column_text(st, 0), 0);
    }
    if (rc == SHELF_OK && step != SQLITE_DONE)
        rc = shelf__dberr(lib, "cannot purge");
    sqlite3_finalize(st);
    return rc;
}

/* The names as the catalog's purge takes them. */
static int purge_set(purge_run *p, shelf__purge_set *set, const char ***sv, const char ***dv)
{
    size_t n = json_object_size(p->names) + 1;
    const char *name;
    json_t *v;

    memset(set, 0, sizeof *set);
    *sv = shelf__malloc(n * sizeof **sv);
    *dv = shelf__malloc(n * sizeof **dv);
    if (!*sv || !*dv)
        return shelf__seterr(&p->lib->err, SHELF_ENOMEM, "out of memory");
    json_object_foreach(p->names, name, v) {
        if (!strncmp(name, "s:", 2))
            (*sv)[set->n_samples++] = name + 2;
        else
            (*dv)[set->n_docs++] = name;
    }
    set->samples = *sv;
    set->docs = *dv;
    return SHELF_OK;
}

static int purge_apply(purge_run *p)
{
    shelf_library *lib = p->lib;
    shelf__purge_set set;
    const char **sv = NULL, **dv = NULL, *blob;
    int64_t rows = 0;
    json_t *v;
    int rc;

    if ((rc = purge_set(p, &set, &sv, &dv)) != SHELF_OK)
        goto out;
    if ((rc = shelf__exec(lib, "PRAGMA secure_delete=ON")) != SHELF_OK ||
        (rc = shelf__begin(lib)) != SHELF_OK)
        goto out;
    if ((rc = shelf__purge_rows(lib->db, &set, 0, &rows, &lib->err)) != SHELF_OK) {
        shelf__rollback(lib);
        goto out;
    }
    if ((rc = shelf__commit(lib)) != SHELF_OK)
        goto out;
    p->st.rows = rows;
    /* the rows are gone for good; the copies after them (a crash in
     * between leaves orphans for gc, never a row without its blob) */
    json_object_foreach(p->blobs, blob, v) {
        if (!shelf__store_has(&lib->store, blob))
            continue;
        if ((rc = shelf__blob_release(lib, blob)) != SHELF_OK)
            break;
        if (!shelf__store_has(&lib->store, blob))
            p->st.blobs++;
    }
    if (rc == SHELF_OK)
        rc = shelf__purge_scrub(lib->db, &lib->err);
out:
    (void)shelf__exec(lib, "PRAGMA secure_delete=OFF");
    shelf_free(sv);
    shelf_free(dv);
    return rc;
}

int shelf_purge(shelf_library *lib, const int *kinds, const int64_t *ids, size_t n,
                const shelf_purge_opts *o, shelf_purge_stats *st)
{
    purge_run p;
    size_t i;
    int rc, had;

    if (!lib || (n && (!kinds || !ids)))
        return SHELF_EINVAL;
    memset(&p, 0, sizeof p);
    p.lib = lib;
    p.st.size = sizeof p.st;
    if (!(p.names = json_object()) || !(p.blobs = json_object())) {
        json_decref(p.names);
        return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    }
    if ((rc = shelf__opts_check(&lib->err, &p.o, sizeof p.o, o, sizeof p.o,
                                "shelf_purge_opts")) != SHELF_OK)
        goto out;
    if (!n) {
        rc = shelf__seterr(&lib->err, SHELF_EINVAL, "nothing to purge");
        goto out;
    }
    had = lib->lock_mode;
    if (!p.o.preview &&
        ((rc = shelf__writable(lib)) != SHELF_OK ||
         (had != SHELF_LOCK_EXCLUSIVE &&
          (rc = shelf_library_lock(lib, SHELF_LOCK_EXCLUSIVE, p.o.wait)) != SHELF_OK)))
        goto out;
    for (i = 0, rc = SHELF_OK; i < n && rc == SHELF_OK; i++)
        rc = name_item(&p, kinds[i], ids[i]);
    if (rc == SHELF_OK)
        rc = fill_list(&p);
    if (rc == SHELF_OK && !p.o.force)
        rc = check_used(&p);
    if (rc == SHELF_OK)
        rc = survey(&p);
    if (rc == SHELF_OK && !p.o.preview)
        rc = purge_apply(&p);
    else if (rc == SHELF_OK)
        p.st.blobs = (int64_t)json_object_size(p.blobs);
    (void)shelf__exec(lib, "DROP TABLE IF EXISTS temp.purge_list");
    if (!p.o.preview && had != SHELF_LOCK_EXCLUSIVE) {
        shelf_library_unlock(lib);
        if (had == SHELF_LOCK_SHARED)
            shelf_library_lock(lib, SHELF_LOCK_SHARED, 1);
    }
    if (rc == SHELF_OK)
        shelf__out_fill(st, &p.st, sizeof p.st);
out:
    json_decref(p.names);
    json_decref(p.blobs);
    return rc;
}

/* ---- a tombstone from another device ------------------------------------ */

int shelf__purge_gone(shelf_library *lib, const shelf__change *c, int *gone)
{
    const char *other = !strncmp(c->field, "has:", 4) ? c->field + 4 : "";
    sqlite3_stmt *st;
    int step;

    *gone = 0;
    if (!strcmp(c->field, "!"))
        return SHELF_OK;        /* another device's tombstone of it: kept */
    /* once a record received: kept prepared */
    if (!(st = shelf__prepare_kept(lib, "SELECT 1 FROM sync_state WHERE field = '!' AND "
                                        "(item = ?1 OR item = ?2)")))
        return lib->err.rc;
    if (sqlite3_bind_text(st, 1, c->item, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(st, 2, other, -1, SQLITE_STATIC) != SQLITE_OK ||
        ((step = sqlite3_step(st)) != SQLITE_ROW && step != SQLITE_DONE)) {
        int rc = shelf__dberr(lib, "cannot read the sync state");

        sqlite3_reset(st);
        return rc;
    }
    *gone = step == SQLITE_ROW;
    sqlite3_reset(st);
    if (!*gone)
        return SHELF_OK;
    /* a record about an item purged here: kept for its counter, emptied
     * (another device's: its own pushes rewrite its hub segments) */
    if (!(st = shelf__prepare(lib, "UPDATE changes SET field = '-', value = 'null' WHERE device = ?1 "
                                   "AND counter = ?2")))
        return lib->err.rc;
    if (sqlite3_bind_text(st, 1, c->device, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(st, 2, c->counter) != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE) {
        sqlite3_finalize(st);
        return shelf__dberr(lib, "cannot write the change log");
    }
    sqlite3_finalize(st);
    return SHELF_OK;
}

int shelf__purge_received(shelf_library *lib, const shelf__change *c, shelf__purged *pg,
                          int64_t *removed)
{
    shelf__purge_set set;
    const char *one[1] = { NULL };
    sqlite3_stmt *st;
    int64_t rows = 0, samples = 0;
    int rc = SHELF_OK, step;

    memset(&set, 0, sizeof set);
    *removed = 0;
    if (!pg->blobs && !(pg->blobs = json_object()))
        return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    if (!strncmp(c->item, "s:", 2)) {
        one[0] = c->item + 2;
        set.samples = one;
        set.n_samples = 1;
    } else if (!strncmp(c->item, "p:", 2) || !strncmp(c->item, "j:", 2)) {
        one[0] = c->item;
        set.docs = one;
        set.n_docs = 1;
    } else {
        return SHELF_OK;        /* nothing this version purges: kept in the log */
    }
    /* the managed copies, released after the commit */
    if (!(st = shelf__prepare(lib, "SELECT blob FROM samples WHERE sha256 = ?1 AND blob IS NOT "
                                   "NULL UNION ALL SELECT d.blob FROM doc_versions v JOIN "
                                   "(SELECT id, blob, " SHELF__KIND_PATCH_SQL " AS kind FROM patches "
                                   "UNION ALL SELECT id, blob, " SHELF__KIND_PROJECT_SQL " FROM "
                                   "projects) d ON d.kind = v.kind AND d.id = v.item_id WHERE "
                                   "v.seq = 1 AND iif(v.kind = " SHELF__KIND_PATCH_SQL ", 'p:', "
                                   "'j:') || v.hash = ?2 AND d.blob IS NOT NULL")))
        return lib->err.rc;
    sqlite3_bind_text(st, 1, one[0], -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, c->item, -1, SQLITE_STATIC);
    while (rc == SHELF_OK && (step = sqlite3_step(st)) == SQLITE_ROW)
        rc = set_add(lib, pg->blobs, (const char *)sqlite3_column_text(st, 0), NULL);
    if (rc == SHELF_OK && step != SQLITE_DONE)
        rc = shelf__dberr(lib, "cannot read the catalog");
    sqlite3_finalize(st);
    if (rc != SHELF_OK ||
        (rc = shelf__query_int(lib, "SELECT count(*) FROM samples WHERE sha256 = ?1", one[0],
                               &samples)) != SHELF_OK)
        return rc;
    if (!strncmp(c->item, "s:", 2))
        *removed = samples;
    if ((rc = shelf__exec(lib, "PRAGMA secure_delete=ON")) != SHELF_OK ||
        (rc = shelf__purge_rows(lib->db, &set, 0, &rows, &lib->err)) != SHELF_OK)
        return rc;
    pg->count++;
    return SHELF_OK;
}

int shelf__purge_settle(shelf_library *lib, shelf__purged *pg)
{
    const char *blob;
    json_t *v;
    int rc = SHELF_OK;

    if (pg->count) {
        json_object_foreach(pg->blobs, blob, v)
            if ((rc = shelf__blob_release(lib, blob)) != SHELF_OK)
                break;
        /* the index and the log are scrubbed when nobody else reads; a
         * reader in another process leaves that to the next purge or
         * vacuum */
        if (rc == SHELF_OK && sqlite3_get_autocommit(lib->db) &&
            shelf__purge_scrub(lib->db, &lib->err) == SHELF_EBUSY)
            lib->err.rc = SHELF_OK;
        (void)shelf__exec(lib, "PRAGMA secure_delete=OFF");
    }
    json_decref(pg->blobs);
    memset(pg, 0, sizeof *pg);
    return rc;
}
