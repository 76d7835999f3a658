/*
 * purge.c: removing every row of an item from a catalog (doc/design.md,
 * "Purge").  A sample is named by its bytes (every row with the same
 * SHA-256 goes), a document by its name across devices ("p:" or "j:" and
 * the hash of its first version).  What goes: the rows, their tags,
 * ratings, favourites, collection places and links, every version of a
 * document, the audit rows that name the item (by id, hash, path or
 * name), the sync bookkeeping (queued changes dropped, logged ones
 * redacted: their counters stay so other devices see no gap), and tags no
 * other item wears.  The same code runs on the live catalog and on the
 * catalog copy inside a backup snapshot (SHELF__PURGE_COPY: an older
 * schema may lack tables, and no tombstone is queued).
 */
#include <string.h>
#include <sqlite3.h>
#include "catalog_int.h"

/* Temp tables: the purged samples' hashes, the documents' names, the
 * (kind, id) pairs they have here, the tags they wore. */
static const char setup_sql[] =
    "CREATE TEMP TABLE IF NOT EXISTS purge_s(sha TEXT PRIMARY KEY);\n"
    "CREATE TEMP TABLE IF NOT EXISTS purge_d(item TEXT PRIMARY KEY);\n"
    "CREATE TEMP TABLE IF NOT EXISTS purge_ids(kind INTEGER, id INTEGER, PRIMARY KEY(kind, id));\n"
    "CREATE TEMP TABLE IF NOT EXISTS purge_names(item TEXT PRIMARY KEY);\n"
    "CREATE TEMP TABLE IF NOT EXISTS purge_text(t TEXT PRIMARY KEY);\n"
    "CREATE TEMP TABLE IF NOT EXISTS purge_tags(id INTEGER PRIMARY KEY);\n"
    "DELETE FROM purge_s; DELETE FROM purge_d; DELETE FROM purge_ids; DELETE FROM purge_names;\n"
    "DELETE FROM purge_text; DELETE FROM purge_tags;";

/* Each step; in a copy, one that names a table or column the copy's
 * schema lacks is skipped.  Order matters: ids and texts are found before
 * the rows that hold them go. */
static const char *const steps[] = {
    "INSERT OR IGNORE INTO purge_ids SELECT " SHELF__KIND_SAMPLE_SQL ", id FROM samples\n"
    "  WHERE sha256 IN (SELECT sha FROM purge_s)",
    /* a document by the hash of its first version; one removed earlier
     * and parked for undo (its kind negated) too */
    "INSERT OR IGNORE INTO purge_ids SELECT v.kind, v.item_id FROM doc_versions v JOIN purge_d d\n"
    "  ON v.hash = substr(d.item, 3) AND abs(v.kind) = iif(d.item LIKE 'p:%', "
    SHELF__KIND_PATCH_SQL ", " SHELF__KIND_PROJECT_SQL ")\n"
    "  WHERE v.seq = (SELECT min(seq) FROM doc_versions w WHERE w.kind = v.kind AND\n"
    "                 w.item_id = v.item_id)",
    "INSERT OR IGNORE INTO purge_names SELECT 's:' || sha FROM purge_s",
    "INSERT OR IGNORE INTO purge_names SELECT item FROM purge_d",
    /* what the audit log may quote: hashes, paths, names (a short name
     * would match too much) */
    "INSERT OR IGNORE INTO purge_text SELECT sha FROM purge_s",
    "INSERT OR IGNORE INTO purge_text SELECT substr(item, 3) FROM purge_d",
    "INSERT OR IGNORE INTO purge_text SELECT relpath FROM samples WHERE id IN\n"
    "  (SELECT id FROM purge_ids WHERE kind = " SHELF__KIND_SAMPLE_SQL ")",
    "INSERT OR IGNORE INTO purge_text SELECT name FROM samples WHERE length(name) >= 4 AND id IN\n"
    "  (SELECT id FROM purge_ids WHERE kind = " SHELF__KIND_SAMPLE_SQL ")",
    "INSERT OR IGNORE INTO purge_text SELECT name FROM patches WHERE length(name) >= 4 AND id IN\n"
    "  (SELECT id FROM purge_ids WHERE kind = " SHELF__KIND_PATCH_SQL ")",
    "INSERT OR IGNORE INTO purge_text SELECT name FROM projects WHERE length(name) >= 4 AND id IN\n"
    "  (SELECT id FROM purge_ids WHERE kind = " SHELF__KIND_PROJECT_SQL ")",
    "INSERT OR IGNORE INTO purge_text SELECT hash FROM doc_versions WHERE (kind, item_id) IN\n"
    "  (SELECT kind, id FROM purge_ids)",
    "INSERT OR IGNORE INTO purge_tags SELECT tag_id FROM tag_items WHERE (kind, item_id) IN\n"
    "  (SELECT kind, id FROM purge_ids)",
    "DELETE FROM audit_log WHERE (kind, item_id) IN (SELECT kind, id FROM purge_ids) OR\n"
    "  EXISTS (SELECT 1 FROM purge_text WHERE instr(audit_log.detail, t) > 0)",
    "DELETE FROM patch_samples WHERE sample_id IN (SELECT id FROM purge_ids WHERE kind = "
    SHELF__KIND_SAMPLE_SQL ") OR\n"
    "  patch_id IN (SELECT id FROM purge_ids WHERE kind = " SHELF__KIND_PATCH_SQL ")",
    "DELETE FROM project_samples WHERE sample_id IN (SELECT id FROM purge_ids WHERE kind = "
    SHELF__KIND_SAMPLE_SQL ") OR\n"
    "  project_id IN (SELECT id FROM purge_ids WHERE kind = " SHELF__KIND_PROJECT_SQL ")",
    "DELETE FROM project_patches WHERE patch_id IN (SELECT id FROM purge_ids WHERE kind = "
    SHELF__KIND_PATCH_SQL ") OR\n"
    "  project_id IN (SELECT id FROM purge_ids WHERE kind = " SHELF__KIND_PROJECT_SQL ")",
    "DELETE FROM collection_items WHERE sample_id IN (SELECT id FROM purge_ids WHERE kind = "
    SHELF__KIND_SAMPLE_SQL ")",
    "DELETE FROM automation WHERE project_id IN (SELECT id FROM purge_ids WHERE kind = "
    SHELF__KIND_PROJECT_SQL ")",
    "DELETE FROM tag_items WHERE (kind, item_id) IN (SELECT kind, id FROM purge_ids)",
    "DELETE FROM ratings WHERE (kind, item_id) IN (SELECT kind, id FROM purge_ids)",
    "DELETE FROM favourites WHERE (kind, item_id) IN (SELECT kind, id FROM purge_ids)",
    "DELETE FROM doc_conflicts WHERE (kind, item_id) IN (SELECT kind, id FROM purge_ids)",
    "DELETE FROM doc_versions WHERE (kind, item_id) IN (SELECT kind, id FROM purge_ids)",
    "DELETE FROM samples WHERE id IN (SELECT id FROM purge_ids WHERE kind = "
    SHELF__KIND_SAMPLE_SQL ")",
    "DELETE FROM patches WHERE id IN (SELECT id FROM purge_ids WHERE kind = "
    SHELF__KIND_PATCH_SQL ")",
    "DELETE FROM projects WHERE id IN (SELECT id FROM purge_ids WHERE kind = "
    SHELF__KIND_PROJECT_SQL ")",
    "DELETE FROM tags WHERE id IN (SELECT id FROM purge_tags) AND\n"
    "  NOT EXISTS (SELECT 1 FROM tag_items WHERE tag_id = tags.id)",
    /* sync: what the triggers queued (the removals above too) is dropped;
     * logged records keep their device and counter but lose what they
     * said; the registers go */
    "DELETE FROM change_queue WHERE field != '!' AND (item IN (SELECT item FROM purge_names) OR\n"
    "  field IN (SELECT 'has:' || item FROM purge_names))",
    "INSERT INTO sync_emptied(device, counter) SELECT device, counter FROM changes\n"
    "  WHERE field NOT IN ('!', '-') AND (item IN (SELECT item FROM purge_names) OR\n"
    "  field IN (SELECT 'has:' || item FROM purge_names)) ORDER BY device, counter",
    "UPDATE changes SET field = '-', value = 'null' WHERE field != '!' AND\n"
    "  (item IN (SELECT item FROM purge_names) OR field IN (SELECT 'has:' || item FROM purge_names))",
    "DELETE FROM sync_state WHERE field != '!' AND (item IN (SELECT item FROM purge_names) OR\n"
    "  field IN (SELECT 'has:' || item FROM purge_names))",
};

/* The tombstone: one record per item that makes other devices purge it
 * too (doc/sync.md, "Purge"), and the audit row, which counts and never
 * names. */
static const char *const live_steps[] = {
    "INSERT INTO change_queue(ms, item, field, value) SELECT "
    "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER), item, '!', '{\"purged\":true}'\n"
    "  FROM purge_names",
    "INSERT INTO audit_log(time, action, detail) SELECT unixepoch(), 'purge',\n"
    "  json_object('samples', (SELECT count(*) FROM purge_s), 'documents',\n"
    "              (SELECT count(*) FROM purge_d))",
};

/* A statement a copy of an older schema cannot run (a table or column it
 * lacks). */
static int missing_in_copy(sqlite3 *db)
{
    const char *m = sqlite3_errmsg(db);

    return sqlite3_errcode(db) == SQLITE_ERROR &&
           (strstr(m, "no such table") || strstr(m, "no such column"));
}

static int fill(sqlite3 *db, const char *sql, const char *const *v, size_t n, shelf__err *err)
{
    sqlite3_stmt *st = NULL;
    size_t i;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return shelf__seterr_sqlite(err, db, NULL, "cannot purge");
    for (i = 0; i < n; i++)
        if (sqlite3_reset(st) != SQLITE_OK ||
            sqlite3_bind_text(st, 1, v[i], -1, SQLITE_STATIC) != SQLITE_OK ||
            sqlite3_step(st) != SQLITE_DONE) {
            int rc = shelf__seterr_sqlite(err, db, NULL, "cannot purge");

            sqlite3_finalize(st);
            return rc;
        }
    sqlite3_finalize(st);
    return SHELF_OK;
}

int shelf__purge_rows(sqlite3 *db, const shelf__purge_set *set, unsigned flags, int64_t *rows,
                      shelf__err *err)
{
    size_t i;
    int64_t n = 0;

    if (rows)
        *rows = 0;
    for (i = 0; i < set->n_samples; i++)
        if (!shelf__is_hash_hex(set->samples[i]))
            return shelf__seterr(err, SHELF_EINVAL, "cannot purge: invalid sample hash '%.70s'",
                                 set->samples[i]);
    for (i = 0; i < set->n_docs; i++)
        if ((strncmp(set->docs[i], "p:", 2) != 0 && strncmp(set->docs[i], "j:", 2) != 0) ||
            !shelf__is_hash_hex(set->docs[i] + 2))
            return shelf__seterr(err, SHELF_EINVAL, "cannot purge: invalid document name '%.70s'",
                                 set->docs[i]);
    if (sqlite3_exec(db, setup_sql, NULL, NULL, NULL) != SQLITE_OK)
        return shelf__seterr_sqlite(err, db, NULL, "cannot purge");
    if (fill(db, "INSERT OR IGNORE INTO purge_s(sha) VALUES(?1)", set->samples, set->n_samples,
             err) != SHELF_OK ||
        fill(db, "INSERT OR IGNORE INTO purge_d(item) VALUES(?1)", set->docs, set->n_docs, err) !=
            SHELF_OK)
        return err->rc;
    for (i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        int64_t before = sqlite3_total_changes64(db);

        if (sqlite3_exec(db, steps[i], NULL, NULL, NULL) != SQLITE_OK) {
            if ((flags & SHELF__PURGE_COPY) && missing_in_copy(db))
                continue;
            return shelf__seterr_sqlite(err, db, NULL, "cannot purge");
        }
        if (!strncmp(steps[i], "DELETE FROM ", 12) || !strncmp(steps[i], "UPDATE ", 7))
            n += sqlite3_total_changes64(db) - before;
    }
    if (!(flags & SHELF__PURGE_COPY))
        for (i = 0; i < sizeof live_steps / sizeof live_steps[0]; i++)
            if (sqlite3_exec(db, live_steps[i], NULL, NULL, NULL) != SQLITE_OK)
                return shelf__seterr_sqlite(err, db, NULL, "cannot purge");
    if (rows)
        *rows = n;
    return SHELF_OK;
}

int shelf__purge_scrub(sqlite3 *db, shelf__err *err)
{
    sqlite3_stmt *st = NULL;
    int busy, rc = sqlite3_exec(db, "INSERT INTO samples_fts(samples_fts) VALUES('optimize')", NULL,
                          NULL, NULL);

    if (rc != SQLITE_OK && !missing_in_copy(db))
        return shelf__seterr_sqlite(err, db, NULL, "cannot purge the search index");
    /* Pages written before the purge may still be in the write-ahead log:
     * it is copied into the database and cut to nothing.  A reader in
     * another process holding an older snapshot stops that. */
    if (sqlite3_prepare_v2(db, "PRAGMA wal_checkpoint(TRUNCATE)", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        rc = shelf__seterr_sqlite(err, db, NULL, "cannot purge the write-ahead log");
        sqlite3_finalize(st);
        return rc;
    }
    busy = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (busy)
        return shelf__seterr(err, SHELF_EBUSY, "the items are purged, but the catalog's "
                             "write-ahead log still holds old pages: another process is reading "
                             "it; run 'shelf vacuum' when it is done");
    return SHELF_OK;
}

int shelf__audit_export(shelf_library *lib, const char *what, const char *path)
{
    char *abs = shelf__path_abs(path), *detail = NULL;
    sqlite3_stmt *st = NULL;
    int rc = SHELF_OK;

    /* a read-only library exports without a record: nothing to purge
     * there either */
    if (lib->readonly) {
        shelf_free(abs);
        return SHELF_OK;
    }
    if (!abs || !(detail = shelf__asprintf("%s %s", what, abs)))
        rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    else if (!(st = shelf__prepare(lib, "INSERT INTO audit_log(time, action, detail) "
                                        "VALUES(unixepoch(), 'export', ?1)")))
        rc = lib->err.rc;
    else if (sqlite3_bind_text(st, 1, detail, -1, SQLITE_STATIC) != SQLITE_OK ||
             sqlite3_step(st) != SQLITE_DONE)
        rc = shelf__dberr(lib, "cannot write the audit log");
    sqlite3_finalize(st);
    shelf_free(abs);
    shelf_free(detail);
    return rc;
}
