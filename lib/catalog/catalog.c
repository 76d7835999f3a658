/*
 * catalog.c: reading and editing samples and their user metadata: cursors,
 * listing, search (FTS5), tags, ratings, favourites, removal, and the root
 * folders that paths are relative to.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include "memindex_int.h"

struct shelf_cursor {
    shelf_library *lib;
    sqlite3_stmt *st;
    int kept;                 /* st is lib->page_st: reset, not finalized */
    shelf_sample row;
};

static const char *text_or_null(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

static int64_t int_or(sqlite3_stmt *st, int i, int64_t dflt)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? dflt : sqlite3_column_int64(st, i);
}

static void fill_row(sqlite3_stmt *st, shelf_sample *s)
{
    s->id = sqlite3_column_int64(st, 0);
    s->name = text_or_null(st, 1);
    s->root = text_or_null(st, 2);
    s->relpath = text_or_null(st, 3);
    s->blob = text_or_null(st, 4);
    s->sha256 = text_or_null(st, 5);
    s->size = (uint64_t)sqlite3_column_int64(st, 6);
    s->mtime_ns = sqlite3_column_int64(st, 7);
    s->format = text_or_null(st, 8);
    s->subtype = text_or_null(st, 9);
    s->rate = (int)int_or(st, 10, 0);
    s->channels = (int)int_or(st, 11, 0);
    s->frames = int_or(st, 12, 0);
    s->duration = sqlite3_column_double(st, 13);
    s->bits = (int)int_or(st, 14, 0);
    s->root_key = (int)int_or(st, 15, -1);
    s->loop_start = int_or(st, 16, -1);
    s->loop_end = int_or(st, 17, -1);
    s->loop_mode = (int)int_or(st, 18, 0);
    s->tempo = sqlite3_column_double(st, 19);
    s->beats = (int)int_or(st, 20, 0);
    s->category = text_or_null(st, 21);
    s->created = sqlite3_column_int64(st, 22);
    s->last_used = int_or(st, 23, 0);
    s->missing = sqlite3_column_int(st, 24);
    s->rating = sqlite3_column_int(st, 25);
    s->favourite = sqlite3_column_int(st, 26);
    s->tags = text_or_null(st, 27);
    s->title = text_or_null(st, 28);
    s->author = text_or_null(st, 29);
    s->comment = text_or_null(st, 30);
    s->genre = text_or_null(st, 31);
    s->kit = text_or_null(st, 32);
    s->instrument = text_or_null(st, 33);
}

/* Give st back: the library's page statement is reset for the next page. */
static void stmt_done(shelf_library *lib, sqlite3_stmt *st, int kept)
{
    if (!kept) {
        sqlite3_finalize(st);
        return;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    lib->page_busy = 0;
}

static int cursor_make(shelf_library *lib, sqlite3_stmt *st, int kept, shelf_cursor **out)
{
    shelf_cursor *c = shelf__calloc(1, sizeof *c);

    if (!c) {
        stmt_done(lib, st, kept);
        *out = NULL;
        (void)shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        return SHELF_ENOMEM;
    }
    c->lib = lib;
    c->st = st;
    c->kept = kept;
    *out = c;
    return SHELF_OK;
}

int shelf__cursor_new(shelf_library *lib, sqlite3_stmt *st, shelf_cursor **out)
{
    return cursor_make(lib, st, 0, out);
}

/* Preparing this for every page was a tenth of a search's time at a
 * million samples; a second cursor open at once prepares its own. */
int shelf__cursor_ids(shelf_library *lib, const char *ids, shelf_cursor **out)
{
    static const char sql[] = "SELECT " SAMPLE_COLUMNS " FROM json_each(?1) j JOIN samples s ON "
                              "s.id = j.value" SAMPLE_JOINS " ORDER BY j.key";
    int kept = !lib->page_busy;
    sqlite3_stmt *st;

    *out = NULL;
    if (kept && !lib->page_st)
        lib->page_st = shelf__prepare(lib, sql);
    if (!(st = kept ? lib->page_st : shelf__prepare(lib, sql)))
        return lib->err.rc;
    lib->page_busy = 1;
    if (sqlite3_bind_text(st, 1, ids, -1, SQLITE_TRANSIENT) != SQLITE_OK) {
        int rc = shelf__dberr(lib, "search");

        stmt_done(lib, st, kept);
        return rc;
    }
    return cursor_make(lib, st, kept, out);
}

int shelf_cursor_next(shelf_cursor *cur, const shelf_sample **row)
{
    int r = sqlite3_step(cur->st);

    *row = NULL;
    if (r == SQLITE_DONE)
        return SHELF_DONE;
    if (r != SQLITE_ROW)
        return shelf__dberr(cur->lib, "catalog");
    fill_row(cur->st, &cur->row);
    *row = &cur->row;
    return SHELF_ROW;
}

void shelf_cursor_free(shelf_cursor *cur)
{
    if (!cur)
        return;
    stmt_done(cur->lib, cur->st, cur->kept);
    shelf_free(cur);
}

void shelf__order_by(int sort, int descending, char *buf, size_t size)
{
    const char *dir = descending ? " DESC" : "";

    /* Ties are broken by id so paging is stable. */
    if (sort == SHELF_SORT_PATH)
        snprintf(buf, size, "r.path%s, s.relpath%s, s.id", dir, dir);
    else
        snprintf(buf, size, "%s%s, s.id%s", shelf__sort_sql(sort), dir, dir);
}

const char *shelf__sort_sql(int sort)
{
    static const char *const order[] = {
        [SHELF_SORT_DEFAULT] = "s.id",
        [SHELF_SORT_ID] = "s.id",
        [SHELF_SORT_NAME] = "s.name COLLATE NOCASE",
        [SHELF_SORT_PATH] = "r.path, s.relpath",
        [SHELF_SORT_SIZE] = "s.size",
        [SHELF_SORT_DURATION] = "s.duration",
        [SHELF_SORT_RATE] = "s.rate",
        [SHELF_SORT_KEY] = "s.root_key",
        [SHELF_SORT_TEMPO] = "s.tempo",
        [SHELF_SORT_ADDED] = "s.created",
        [SHELF_SORT_USED] = "s.last_used",
        [SHELF_SORT_RATING] = "coalesce(rt.rating, 0)",
    };

    if (sort < 0 || sort >= (int)(sizeof order / sizeof order[0]))
        return NULL;
    return order[sort];
}

int shelf_catalog_list(shelf_library *lib, const shelf_list_opts *opts, shelf_cursor **out)
{
    shelf_list_opts o;
    shelf__buf sql = SHELF__BUF_INIT;
    char orderby[128];
    sqlite3_stmt *st;

    *out = NULL;
    if (shelf__opts_check(&lib->err, &o, sizeof o, opts, sizeof o, "shelf_list_opts") != SHELF_OK)
        return lib->err.rc;
    if (!shelf__sort_sql(o.sort))
        return shelf__seterr(&lib->err, SHELF_EINVAL, "unknown sort key %d", o.sort);
    shelf__order_by(o.sort, o.descending, orderby, sizeof orderby);
    if (shelf__buf_addf(&sql, "SELECT " SAMPLE_COLUMNS " FROM samples s" SAMPLE_JOINS
                              " WHERE 1%s%s ORDER BY %s LIMIT %lld OFFSET %lld",
                        o.only_missing ? " AND s.missing = 1" : "",
                        o.only_favourites ? " AND fv.item_id IS NOT NULL" : "", orderby,
                        o.limit > 0 ? (long long)o.limit : -1LL,
                        o.offset > 0 ? (long long)o.offset : 0LL) != SHELF_OK) {
        shelf__buf_release(&sql);
        return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    }
    st = shelf__prepare(lib, sql.buf);
    shelf__buf_release(&sql);
    if (!st)
        return lib->err.rc;
    return shelf__cursor_new(lib, st, out);
}

int shelf_catalog_get(shelf_library *lib, int64_t id, shelf_cursor **out, const shelf_sample **row)
{
    sqlite3_stmt *st;
    int rc;

    *out = NULL;
    *row = NULL;
    if (!(st = shelf__prepare(lib, "SELECT " SAMPLE_COLUMNS " FROM samples s" SAMPLE_JOINS
                                   " WHERE s.id = ?1")))
        return lib->err.rc;
    sqlite3_bind_int64(st, 1, id);
    if ((rc = shelf__cursor_new(lib, st, out)) != SHELF_OK)
        return rc;
    rc = shelf_cursor_next(*out, row);
    if (rc == SHELF_ROW)
        return SHELF_OK;
    shelf_cursor_free(*out);
    *out = NULL;
    if (rc == SHELF_DONE)
        return shelf__seterr(&lib->err, SHELF_ENOTFOUND, "no sample with id %lld", (long long)id);
    return rc;
}

int shelf__root_find(shelf_library *lib, const char *abs_path, int64_t *root_id, const char **rel)
{
    sqlite3_stmt *st = shelf__prepare(lib, "SELECT id, path FROM roots");
    int r, rc = SHELF_ENOTFOUND;

    *root_id = 0;
    *rel = NULL;
    if (!st)
        return lib->err.rc;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        const char *under = shelf__path_under(abs_path, (const char *)sqlite3_column_text(st, 1));

        if (under) {
            *root_id = sqlite3_column_int64(st, 0);
            *rel = under;
            rc = SHELF_OK;
            break;
        }
    }
    if (r != SQLITE_ROW && r != SQLITE_DONE)
        rc = shelf__dberr(lib, "catalog roots");
    sqlite3_finalize(st);
    return rc;
}

int shelf__root_for_import(shelf_library *lib, const char *abs_dir, int64_t *root_id,
                           const char **rel)
{
    sqlite3_stmt *st = NULL;
    int rc = shelf__root_find(lib, abs_dir, root_id, rel);

    if (rc != SHELF_ENOTFOUND)
        return rc;
    if (!(st = shelf__prepare(lib, "INSERT INTO roots(path) VALUES(?1)")))
        return lib->err.rc;
    sqlite3_bind_text(st, 1, abs_dir, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = shelf__dberr(lib, "cannot add root folder");
        sqlite3_finalize(st);
        return rc;
    }
    sqlite3_finalize(st);
    *root_id = sqlite3_last_insert_rowid(lib->db);
    *rel = abs_dir + strlen(abs_dir);

    /* Fold roots inside the new one into it: their samples keep their ids
     * and get paths relative to the new root. */
    st = shelf__prepare(lib,
        "UPDATE samples SET root_id = ?1,\n"
        "  relpath = substr((SELECT path FROM roots WHERE id = samples.root_id), length(?2) + 2)\n"
        "    || '/' || relpath\n"
        "WHERE root_id IN (SELECT id FROM roots WHERE id != ?1 AND substr(path, 1, length(?2) + 1) = ?2 || '/')");
    if (!st)
        return lib->err.rc;
    sqlite3_bind_int64(st, 1, *root_id);
    sqlite3_bind_text(st, 2, abs_dir, -1, SQLITE_STATIC);
    rc = sqlite3_step(st) == SQLITE_DONE ? SHELF_OK : shelf__dberr(lib, "cannot fold root folders");
    sqlite3_finalize(st);
    if (rc != SHELF_OK)
        return rc;
    if (!(st = shelf__prepare(lib, "DELETE FROM roots WHERE id != ?1 AND "
                                   "substr(path, 1, length(?2) + 1) = ?2 || '/'")))
        return lib->err.rc;
    sqlite3_bind_int64(st, 1, *root_id);
    sqlite3_bind_text(st, 2, abs_dir, -1, SQLITE_STATIC);
    rc = sqlite3_step(st) == SQLITE_DONE ? SHELF_OK : shelf__dberr(lib, "cannot fold root folders");
    sqlite3_finalize(st);
    return rc;
}

char *shelf__sample_abspath(const char *root, const char *relpath)
{
    return shelf__path_join(root, relpath);
}

int shelf_catalog_find_path(shelf_library *lib, const char *path, int64_t *id)
{
    sqlite3_stmt *st = NULL;
    char *abs = shelf__path_abs(path);
    const char *rel;
    int64_t root;
    int rc;

    *id = 0;
    if (!abs)
        return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    if ((rc = shelf__root_find(lib, abs, &root, &rel)) != SHELF_OK)
        goto out;
    if (!(st = shelf__prepare(lib, "SELECT id FROM samples WHERE root_id = ?1 AND relpath = ?2"))) {
        rc = lib->err.rc;
        goto out;
    }
    sqlite3_bind_int64(st, 1, root);
    sqlite3_bind_text(st, 2, rel, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        *id = sqlite3_column_int64(st, 0);
    else
        rc = SHELF_ENOTFOUND;
out:
    if (rc == SHELF_ENOTFOUND)
        shelf__seterr(&lib->err, rc, "'%s' is not in the catalog", path);
    sqlite3_finalize(st);
    shelf_free(abs);
    return rc;
}

int shelf_catalog_path(shelf_library *lib, const shelf_sample *s, char **out)
{
    *out = NULL;
    if (s->blob) {
        /* the name is a path component: 64 hex digits and nothing else */
        if (!shelf__is_hash_hex(s->blob))
            return shelf__seterr(&lib->err, SHELF_EINVAL, "sample %lld: bad copy name",
                                 (long long)s->id);
        *out = shelf__store_path(&lib->store, s->blob);
    } else if (s->root && s->relpath) {
        *out = shelf__sample_abspath(s->root, s->relpath);
    } else {
        return shelf__seterr(&lib->err, SHELF_EINVAL, "sample %lld has no file", (long long)s->id);
    }
    return *out ? SHELF_OK : shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
}

int shelf_catalog_count(shelf_library *lib, int64_t *total, int64_t *missing)
{
    sqlite3_stmt *st = shelf__prepare(lib, "SELECT count(*), count(*) FILTER (WHERE missing = 1) "
                                           "FROM samples");
    int rc = SHELF_OK;

    if (!st)
        return lib->err.rc;
    if (sqlite3_step(st) == SQLITE_ROW) {
        if (total)
            *total = sqlite3_column_int64(st, 0);
        if (missing)
            *missing = sqlite3_column_int64(st, 1);
    } else {
        rc = shelf__dberr(lib, "catalog");
    }
    sqlite3_finalize(st);
    return rc;
}

/* Run a one-statement edit of sample id, after checking the sample exists. */
static int edit_sample(shelf_library *lib, int64_t id, const char *sql, const char *text,
                       int64_t num)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if ((rc = shelf__begin(lib)) != SHELF_OK)
        return rc;
    if (!(st = shelf__prepare(lib, "SELECT 1 FROM samples WHERE id = ?1"))) {
        rc = lib->err.rc;
        goto fail;
    }
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) != SQLITE_ROW) {
        rc = shelf__seterr(&lib->err, SHELF_ENOTFOUND, "no sample with id %lld", (long long)id);
        goto fail;
    }
    sqlite3_finalize(st);
    if (!(st = shelf__prepare(lib, sql))) {
        rc = lib->err.rc;
        goto fail;
    }
    sqlite3_bind_int64(st, 1, id);
    if (text)
        sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
    else
        sqlite3_bind_int64(st, 2, num);
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = shelf__dberr(lib, "catalog");
        goto fail;
    }
    sqlite3_finalize(st);
    return shelf__commit(lib);
fail:
    sqlite3_finalize(st);
    shelf__rollback(lib);
    return rc;
}

static int check_tag(shelf_library *lib, const char *tag)
{
    size_t n = tag ? strlen(tag) : 0, i;

    if (n == 0 || n > 64)
        return shelf__seterr(&lib->err, SHELF_EINVAL, "invalid tag '%s': 1 to 64 bytes",
                             tag ? tag : "");
    for (i = 0; i < n; i++)
        if ((unsigned char)tag[i] <= ' ' || tag[i] == 0x7f)
            return shelf__seterr(&lib->err, SHELF_EINVAL,
                                 "invalid tag '%s': no spaces or control characters", tag);
    return SHELF_OK;
}

int shelf_tag_add(shelf_library *lib, int64_t id, const char *tag)
{
    int rc = check_tag(lib, tag);

    if (rc != SHELF_OK)
        return rc;
    /* The tag row first (a no-op when it exists), then the link. */
    if ((rc = edit_sample(lib, id, "INSERT OR IGNORE INTO tags(name) VALUES(?2)", tag, 0)) != SHELF_OK)
        return rc;
    return edit_sample(lib, id,
        "INSERT OR IGNORE INTO tag_items(tag_id, kind, item_id)\n"
        "  SELECT id, " SHELF__KIND_SAMPLE_SQL ", ?1 FROM tags WHERE name = ?2", tag, 0);
}

int shelf_tag_remove(shelf_library *lib, int64_t id, const char *tag)
{
    int rc = check_tag(lib, tag);

    if (rc != SHELF_OK)
        return rc;
    return edit_sample(lib, id,
        "DELETE FROM tag_items WHERE kind = " SHELF__KIND_SAMPLE_SQL " AND item_id = ?1 AND\n"
        "  tag_id = (SELECT id FROM tags WHERE name = ?2)", tag, 0);
}

int shelf_rate(shelf_library *lib, int64_t id, int rating)
{
    if (rating < 0 || rating > 5)
        return shelf__seterr(&lib->err, SHELF_EINVAL, "invalid rating %d: 0 to 5", rating);
    return rating == 0
        ? edit_sample(lib, id, "DELETE FROM ratings WHERE kind = " SHELF__KIND_SAMPLE_SQL
                               " AND item_id = ?1 AND ?2 = 0",
                      NULL, 0)
        : edit_sample(lib, id, "INSERT OR REPLACE INTO ratings(kind, item_id, rating) "
                               "VALUES(" SHELF__KIND_SAMPLE_SQL ", ?1, ?2)", NULL, rating);
}

int shelf_favourite(shelf_library *lib, int64_t id, int on)
{
    return on ? edit_sample(lib, id, "INSERT OR IGNORE INTO favourites(kind, item_id, added) "
                                     "VALUES(" SHELF__KIND_SAMPLE_SQL ", ?1, ?2)",
                                     NULL, shelf__now())
              : edit_sample(lib, id, "DELETE FROM favourites WHERE kind = " SHELF__KIND_SAMPLE_SQL
                                     " AND item_id = ?1 AND ?2 = 0", NULL, 0);
}

int shelf_touch(shelf_library *lib, int64_t id)
{
    return edit_sample(lib, id, "UPDATE samples SET last_used = ?2 WHERE id = ?1", NULL,
                       shelf__now());
}

int shelf__blob_release(shelf_library *lib, const char *hex)
{
    sqlite3_stmt *st;
    int used, rc, had = lib->lock_mode;

    /* Deleting a blob needs the exclusive lock: an importer may have just
     * stored the same bytes for a row it has not committed yet.  When the
     * library is busy the blob stays, and gc removes it later. */
    if (had != SHELF_LOCK_EXCLUSIVE) {
        if (had != 0)
            return SHELF_OK;
        if ((rc = shelf_library_lock(lib, SHELF_LOCK_EXCLUSIVE, 0)) != SHELF_OK)
            return rc == SHELF_EBUSY ? SHELF_OK : rc;
    }
    if (!(st = shelf__prepare(lib, "SELECT 1 FROM samples WHERE blob = ?1\n"
                                   "UNION ALL SELECT 1 FROM patches WHERE blob = ?1\n"
                                   "UNION ALL SELECT 1 FROM projects WHERE blob = ?1 LIMIT 1"))) {
        rc = lib->err.rc;
    } else {
        sqlite3_bind_text(st, 1, hex, -1, SQLITE_STATIC);
        used = sqlite3_step(st) == SQLITE_ROW;
        sqlite3_finalize(st);
        rc = used ? SHELF_OK : shelf__store_remove(&lib->store, hex);
    }
    if (had == 0)
        shelf_library_unlock(lib);
    return rc;
}

/* Delete sample id's row inside the caller's transaction: documents that
 * used it keep the reference by hash, and the log says so (an import of the
 * same bytes links them up again: the hash ends the detail, docs_relink in
 * lib/patch/versions.c reads it).  *blob (owned, or NULL) is its managed
 * copy, for the caller to release once committed: a crash in between then
 * leaves an orphan for gc rather than a dangling row. */
int shelf__sample_delete(shelf_library *lib, int64_t id, char **blob)
{
    sqlite3_stmt *st;
    int rc = SHELF_OK;

    *blob = NULL;
    if (!(st = shelf__prepare(lib,
            "INSERT INTO audit_log(time, action, kind, item_id, detail)\n"
            "  SELECT unixepoch(), 'unlink', " SHELF__KIND_PATCH_SQL ", patch_id,\n"
            "    'sample ' || ?1 || ' removed; sha256 ' || (SELECT sha256 FROM samples WHERE id = ?1)\n"
            "  FROM patch_samples WHERE sample_id = ?1\n"
            "  UNION ALL SELECT unixepoch(), 'unlink', " SHELF__KIND_PROJECT_SQL ", project_id,\n"
            "    'sample ' || ?1 || ' removed; sha256 ' || (SELECT sha256 FROM samples WHERE id = ?1)\n"
            "  FROM project_samples WHERE sample_id = ?1")))
        return lib->err.rc;
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = shelf__dberr(lib, "cannot remove sample");
    sqlite3_finalize(st);
    if (rc != SHELF_OK)
        return rc;
    if (!(st = shelf__prepare(lib, "DELETE FROM samples WHERE id = ?1 RETURNING blob")))
        return lib->err.rc;
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) != SQLITE_ROW) {
        rc = sqlite3_errcode(lib->db) == SQLITE_DONE || sqlite3_errcode(lib->db) == SQLITE_OK
                 ? shelf__seterr(&lib->err, SHELF_ENOTFOUND, "no sample with id %lld", (long long)id)
                 : shelf__dberr(lib, "cannot remove sample");
    } else if (sqlite3_column_type(st, 0) != SQLITE_NULL &&
               !(*blob = shelf__strdup((const char *)sqlite3_column_text(st, 0)))) {
        rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    } else if (sqlite3_step(st) != SQLITE_DONE) {
        rc = shelf__dberr(lib, "cannot remove sample");
    }
    sqlite3_finalize(st);
    if (rc != SHELF_OK) {
        shelf_free(*blob);
        *blob = NULL;
    }
    return rc;
}

int shelf_catalog_remove(shelf_library *lib, int64_t id, int flags)
{
    sqlite3_stmt *st = NULL;
    char *blob = NULL;
    int rc;

    if ((rc = shelf__begin(lib)) != SHELF_OK)
        return rc;
    if (!(flags & SHELF_REMOVE_FORCE)) {
        int64_t patches, projects;

        if (!(st = shelf__prepare(lib,
                "SELECT (SELECT count(*) FROM patch_samples WHERE sample_id = ?1),\n"
                "       (SELECT count(*) FROM project_samples WHERE sample_id = ?1)"))) {
            rc = lib->err.rc;
            goto fail;
        }
        sqlite3_bind_int64(st, 1, id);
        if (sqlite3_step(st) != SQLITE_ROW) {
            rc = shelf__dberr(lib, "cannot remove sample");
            goto fail;
        }
        patches = sqlite3_column_int64(st, 0);
        projects = sqlite3_column_int64(st, 1);
        sqlite3_finalize(st);
        st = NULL;
        if (patches || projects) {
            rc = shelf__seterr(&lib->err, SHELF_EINUSE,
                               "sample %lld is used by %lld patch%s and %lld project%s",
                               (long long)id, (long long)patches, patches == 1 ? "" : "es",
                               (long long)projects, projects == 1 ? "" : "s");
            goto fail;
        }
    }
    if ((rc = shelf__sample_delete(lib, id, &blob)) != SHELF_OK ||
        (rc = shelf__commit(lib)) != SHELF_OK)
        goto fail;
    /* The row is gone for good; now its managed copy. */
    if (blob)
        rc = shelf__blob_release(lib, blob);
    shelf_free(blob);
    return rc;
fail:
    sqlite3_finalize(st);
    shelf__rollback(lib);
    shelf_free(blob);
    return rc;
}
