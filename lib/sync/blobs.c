/*
 * blobs.c: the samples a device learns of from others, and their bytes
 * (doc/sync.md, "Sample files").  A sample's record makes a catalog row
 * here at once, under the sync folder and marked missing; a managed one
 * names its blob, whose copy is not in the store yet.  Its bytes come
 * later, from a peer (peer.c) or a hub (hub.c): both ask this file what is
 * wanted, read what is asked of them here, and hand over what arrives,
 * which is checked against the sample's hash before anything keeps it.
 */
#include <string.h>
#include <sys/stat.h>
#include <sqlite3.h>
#include "shelf/names.h"
#include "../store/store_int.h"
#include "sync_int.h"

/* The catalog columns a row takes from the record, beyond its place. */
static const char *const row_cols[] = {
    "name", "size", "format", "subtype", "rate", "channels", "frames", "duration", "bits",
    "root_key", "loop_start", "loop_end", "loop_mode", "tempo", "beats", "category", "title",
    "author", "comment", "genre", "kit", "instrument", NULL
};
#define NCOLS (sizeof row_cols / sizeof row_cols[0] - 1)

int shelf_sync_set_files(shelf_library *lib, int mode)
{
    if (!lib)
        return SHELF_EINVAL;
    if (mode != SHELF_SYNC_FILES_MANAGED && mode != SHELF_SYNC_FILES_ALL &&
        mode != SHELF_SYNC_FILES_NONE)
        return shelf__seterr(&lib->err, SHELF_EINVAL, "unknown sync files mode %d", mode);
    lib->sync_files = mode;
    return SHELF_OK;
}

/* The sync folder (owned). */
static char *sync_folder(shelf_library *lib)
{
    char *f = shelf__path_join(lib->path, "synced");

    if (!f)
        shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    return f;
}

/* The id of the sync folder's root, made when new. */
static int folder_root(shelf_library *lib, const char *folder, int64_t *id)
{
    sqlite3_stmt *st = shelf__prepare(lib, "INSERT INTO roots(path) VALUES(?1) ON CONFLICT(path) "
                                           "DO UPDATE SET path = path RETURNING id");
    int rc = SHELF_OK;

    if (!st)
        return lib->err.rc;
    if (sqlite3_bind_text(st, 1, folder, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW)
        rc = shelf__dberr(lib, "cannot add the sync folder to the catalog");
    else
        *id = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc;
}

/* A record's string, unescaped (names.h): owned, or NULL when absent. */
static int text_of(shelf_library *lib, json_t *v, char **out)
{
    int rc;

    *out = NULL;
    if (!json_is_string(v))
        return SHELF_OK;
    rc = shelf_name_unescape(json_string_value(v), out);
    if (rc == SHELF_EINVAL)
        return shelf__seterr(&lib->err, SHELF_EFORMAT, "invalid name '%.80s' in a change",
                             json_string_value(v));
    return rc == SHELF_OK ? SHELF_OK : shelf__seterr(&lib->err, rc, "out of memory");
}

/* The extension of a file name, with its dot ("" when none, or too long
 * to be one). */
static const char *ext_of(const char *name)
{
    const char *base = strrchr(name, '/'), *dot;

    base = base ? base + 1 : name;
    dot = strrchr(base, '.');
    return dot && dot != base && strlen(dot) <= 16 ? dot : base + strlen(base);
}

/* Where the row of sample key goes in the sync folder: its path in the
 * record when that is a plain relative path, else its hash and the name's
 * extension; with " (hash)" before the extension when alt is set (two
 * samples with one name and different bytes; the whole hash in place of
 * its start for the other).  Owned. */
static char *row_path(const char *rel, const char *name, const char *key, int alt)
{
    const char *ext;

    if (!rel || !shelf__path_rel_ok(rel))
        return shelf__asprintf("%.*s%s", alt ? 64 : 16, key, ext_of(name ? name : ""));
    if (!alt)
        return shelf__strdup(rel);
    ext = ext_of(rel);
    return shelf__asprintf("%.*s (%.8s)%s", (int)(ext - rel), rel, key, ext);
}

/* Bind the record's value of column i (strings unescaped) to st at k. */
static int bind_col(shelf_library *lib, sqlite3_stmt *st, int k, json_t *v, const char *col)
{
    char *text = NULL;
    int rc;

    if (json_is_integer(v))
        rc = sqlite3_bind_int64(st, k, json_integer_value(v));
    else if (json_is_real(v))
        rc = sqlite3_bind_double(st, k, json_real_value(v));
    else if (json_is_string(v)) {
        if ((rc = text_of(lib, v, &text)) != SHELF_OK)
            return rc;
        rc = sqlite3_bind_text(st, k, text, -1, shelf_free);
    } else if (!strcmp(col, "size"))
        rc = sqlite3_bind_int64(st, k, 0);
    else
        rc = sqlite3_bind_null(st, k);
    return rc == SQLITE_OK ? SHELF_OK : shelf__dberr(lib, "cannot add a synced sample");
}

int shelf__sample_row(shelf_library *lib, const char *key, json_t *o)
{
    char sql[1024], *folder = NULL, *rel = NULL, *name = NULL, *at = NULL;
    sqlite3_stmt *st = NULL;
    int64_t root = 0, have = 0;
    size_t i, len;
    int rc, alt;

    if (!shelf__is_hash_hex(key))
        return shelf__seterr(&lib->err, SHELF_EFORMAT, "invalid sample '%.80s' in a change", key);
    if ((rc = shelf__query_int(lib, "SELECT EXISTS (SELECT 1 FROM samples WHERE sha256 = ?1)", key,
                               &have)) != SHELF_OK || have)
        return rc;
    if (!(folder = sync_folder(lib)))
        return lib->err.rc;
    if ((rc = folder_root(lib, folder, &root)) != SHELF_OK ||
        (rc = text_of(lib, json_object_get(o, "relpath"), &rel)) != SHELF_OK ||
        (rc = text_of(lib, json_object_get(o, "name"), &name)) != SHELF_OK)
        goto out;
    len = (size_t)snprintf(sql, sizeof sql, "INSERT OR IGNORE INTO samples(root_id, relpath, blob, "
                           "mtime_ns, sha256, created, missing");
    for (i = 0; row_cols[i]; i++)
        len += (size_t)snprintf(sql + len, sizeof sql - len, ", %s", row_cols[i]);
    len += (size_t)snprintf(sql + len, sizeof sql - len, ") VALUES(?1, ?2, ?3, 0, ?4, ?5, 1");
    for (i = 0; row_cols[i]; i++)
        len += (size_t)snprintf(sql + len, sizeof sql - len, ", ?%zu", i + 6);
    snprintf(sql + len, sizeof sql - len, ")");
    if (!(st = shelf__prepare(lib, sql))) {
        rc = lib->err.rc;
        goto out;
    }
    for (i = 0; row_cols[i]; i++) {
        json_t *v = json_object_get(o, row_cols[i]);

        /* a row needs a name: the record's, else its file's */
        if (!strcmp(row_cols[i], "name") && !json_is_string(v)) {
            const char *b = rel ? strrchr(rel, '/') : NULL;

            rc = sqlite3_bind_text(st, (int)i + 6, b ? b + 1 : rel ? rel : key, -1,
                                   SQLITE_TRANSIENT) == SQLITE_OK
                     ? SHELF_OK : shelf__dberr(lib, "cannot add a synced sample");
        } else {
            rc = bind_col(lib, st, (int)i + 6, v, row_cols[i]);
        }
        if (rc != SHELF_OK)
            goto out;
    }
    if (sqlite3_bind_int64(st, 1, root) != SQLITE_OK ||
        (json_is_true(json_object_get(o, "managed"))
             ? sqlite3_bind_text(st, 3, key, -1, SQLITE_STATIC)
             : sqlite3_bind_null(st, 3)) != SQLITE_OK ||
        sqlite3_bind_text(st, 4, key, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(st, 5, shelf__now()) != SQLITE_OK) {
        rc = shelf__dberr(lib, "cannot add a synced sample");
        goto out;
    }
    /* its path, or (taken by a sample with other bytes) a second name */
    for (alt = 0; alt < 2; alt++) {
        shelf_free(at);
        if (!(at = row_path(rel, name, key, alt))) {
            rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
            goto out;
        }
        if (sqlite3_reset(st) != SQLITE_OK ||
            sqlite3_bind_text(st, 2, at, -1, SQLITE_STATIC) != SQLITE_OK ||
            sqlite3_step(st) != SQLITE_DONE) {
            rc = shelf__dberr(lib, "cannot add a synced sample");
            goto out;
        }
        if (sqlite3_changes(lib->db) == 1)
            goto out;
    }
    rc = shelf__seterr(&lib->err, SHELF_EEXIST, "no free name in '%s' for sample %.16s",
                       folder, key);
out:
    sqlite3_finalize(st);
    shelf_free(at);
    shelf_free(rel);
    shelf_free(name);
    shelf_free(folder);
    return rc;
}

int shelf__sfile_wants(shelf_library *lib, int files, int64_t *cursor, size_t max, json_t *out)
{
    sqlite3_stmt *st;
    char *folder = NULL;
    int rc = SHELF_OK, step = SQLITE_DONE;

    if (files && !(folder = sync_folder(lib)))
        return lib->err.rc;
    st = shelf__prepare(lib, "SELECT s.id, s.sha256 FROM samples s WHERE s.missing AND s.id > ?1 "
                             "AND (s.blob IS NOT NULL OR s.root_id = (SELECT id FROM roots WHERE "
                             "path = ?2)) ORDER BY s.id LIMIT ?3");
    if (!st) {
        shelf_free(folder);
        return lib->err.rc;
    }
    if ((folder ? sqlite3_bind_text(st, 2, folder, -1, SQLITE_STATIC) : SQLITE_OK) != SQLITE_OK ||
        sqlite3_bind_int64(st, 1, *cursor) != SQLITE_OK ||
        sqlite3_bind_int64(st, 3, (int64_t)max) != SQLITE_OK)
        rc = shelf__dberr(lib, "cannot read the catalog");
    while (rc == SHELF_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
        *cursor = sqlite3_column_int64(st, 0);
        if (json_array_append_new(out, json_string((const char *)sqlite3_column_text(st, 1))) != 0)
            rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    }
    if (rc == SHELF_OK && step != SQLITE_DONE)
        rc = shelf__dberr(lib, "cannot read the catalog");
    sqlite3_finalize(st);
    shelf_free(folder);
    return rc;
}

int shelf__sfile_read(shelf_library *lib, const char *sha, int files, shelf__buf *out)
{
    sqlite3_stmt *st;
    char *path = NULL;
    int rc = SHELF_ENOTFOUND, step;

    if (!shelf__is_hash_hex(sha))
        return shelf__seterr(&lib->err, SHELF_EFORMAT, "invalid sample hash '%.80s'", sha);
    if (!(st = shelf__prepare(lib, "SELECT s.blob, r.path, s.relpath FROM samples s JOIN roots r "
                                   "ON r.id = s.root_id WHERE s.sha256 = ?1 AND NOT s.missing "
                                   "ORDER BY s.blob IS NULL LIMIT 1")))
        return lib->err.rc;
    if (sqlite3_bind_text(st, 1, sha, -1, SQLITE_STATIC) != SQLITE_OK)
        rc = shelf__dberr(lib, "cannot read the catalog");
    else if ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (sqlite3_column_type(st, 0) != SQLITE_NULL)
            path = shelf__store_path(&lib->store, (const char *)sqlite3_column_text(st, 0));
        else if (files)
            path = shelf__sample_abspath((const char *)sqlite3_column_text(st, 1),
                                         (const char *)sqlite3_column_text(st, 2));
        else
            rc = SHELF_ENOTFOUND;
        if ((sqlite3_column_type(st, 0) != SQLITE_NULL || files) && !path)
            rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    } else if (step != SQLITE_DONE) {
        rc = shelf__dberr(lib, "cannot read the catalog");
    }
    sqlite3_finalize(st);
    if (path) {
        shelf__err e;

        /* not checked here: whoever receives the bytes checks them */
        memset(&e, 0, sizeof e);
        rc = shelf__read_file(&e, path, SHELF__BLOB_MAX, out);
        if (rc == SHELF_EINVAL || rc == SHELF_EIO)
            rc = SHELF_ENOTFOUND;       /* gone or changed since: not to be had here */
        shelf_free(path);
    }
    return rc;
}

/* The file of a referenced row under the sync folder: written whole. */
static int take_file(shelf_library *lib, const char *root, const char *rel, const void *data,
                     size_t n, int64_t *mtime_ns)
{
    char *path = shelf__sample_abspath(root, rel), *dir = NULL, *slash;
    struct stat sb;
    int rc, en;

    if (!path || !(dir = shelf__strdup(path))) {
        shelf_free(path);
        return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    }
    if ((slash = strrchr(dir, '/')))
        *slash = '\0';
    if ((en = shelf__mkdirs(root, 0777)) != 0 || (en = shelf__mkdirs_beneath(root, dir, 0777)) != 0)
        rc = shelf__seterr_errno(&lib->err, en, "cannot make the folder '%s' for a synced sample",
                                 dir);
    else if ((rc = shelf__write_file_atomic(&lib->err, path, data, n, 0666)) == SHELF_OK) {
        *mtime_ns = stat(path, &sb) == 0 ? (int64_t)sb.st_mtim.tv_sec * 1000000000 +
                                               sb.st_mtim.tv_nsec
                                         : 0;
    }
    shelf_free(dir);
    shelf_free(path);
    return rc;
}

int shelf__sfile_take(shelf_library *lib, shelf__sfile_batch *b, const char *sha,
                      const void *data, size_t n, int *kept)
{
    sqlite3_stmt *st;
    uint8_t raw[SHELF_HASH_BYTES];
    char hex[SHELF_HASH_HEX], *folder;
    int rc = SHELF_OK, step = SQLITE_DONE, stored = 0;

    *kept = 0;
    shelf__sha256_mem(data, n, raw);
    shelf__hex(raw, sizeof raw, hex);
    if (strcmp(hex, sha) != 0)
        return shelf__seterr(&lib->err, SHELF_ECORRUPT, "the bytes sent as sample %.16s are "
                             "another's (%.16s): not kept", sha, hex);
    if (!(folder = sync_folder(lib)))
        return lib->err.rc;
    if (!(st = shelf__prepare(lib, "SELECT s.id, s.blob IS NOT NULL, r.path, s.relpath FROM "
                                   "samples s JOIN roots r ON r.id = s.root_id WHERE s.sha256 = ?1 "
                                   "AND s.missing AND (s.blob IS NOT NULL OR r.path = ?2)"))) {
        shelf_free(folder);
        return lib->err.rc;
    }
    if (sqlite3_bind_text(st, 1, sha, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(st, 2, folder, -1, SQLITE_STATIC) != SQLITE_OK)
        rc = shelf__dberr(lib, "cannot read the catalog");
    while (rc == SHELF_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
        shelf__sfile_row row = { sqlite3_column_int64(st, 0), (int64_t)n, 0,
                                 sqlite3_column_int(st, 1) };

        /* managed: into the store without waiting for the disk, which
         * shelf__sfile_commit does once for the batch */
        if (row.managed && !stored)
            stored = (rc = shelf__store_put_hashed(&lib->store, sha, data, n, 1)) == SHELF_OK;
        else if (!row.managed)
            rc = take_file(lib, (const char *)sqlite3_column_text(st, 2),
                           (const char *)sqlite3_column_text(st, 3), data, n, &row.mtime);
        if (rc == SHELF_OK && b->n == b->cap) {
            size_t cap = b->cap ? 2 * b->cap : 64;
            shelf__sfile_row *v = shelf__realloc(b->rows, cap * sizeof *v);

            if (!v)
                rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
            else
                b->rows = v, b->cap = cap;
        }
        if (rc == SHELF_OK) {
            b->rows[b->n++] = row;
            b->managed |= row.managed;
            (*kept)++;
        }
    }
    if (rc == SHELF_OK && step != SQLITE_DONE)
        rc = shelf__dberr(lib, "cannot read the catalog");
    sqlite3_finalize(st);
    shelf_free(folder);
    return rc;
}

static int commit_rows(shelf_library *lib, shelf__sfile_batch *b)
{
    sqlite3_stmt *up;
    size_t i;
    int rc;

    if (!b->n)
        return SHELF_OK;
    /* on disk first: a row says its bytes are here only once they are */
    if (b->managed && (rc = shelf__store_sync(&lib->store)) != SHELF_OK)
        return rc;
    if (!(up = shelf__prepare(lib, "UPDATE samples SET missing = 0, size = ?2, mtime_ns = "
                                   "coalesce(?3, mtime_ns) WHERE id = ?1")))
        return lib->err.rc;
    if ((rc = shelf__begin(lib)) == SHELF_OK) {
        for (i = 0; i < b->n && rc == SHELF_OK; i++)
            if (sqlite3_reset(up) != SQLITE_OK ||
                sqlite3_bind_int64(up, 1, b->rows[i].id) != SQLITE_OK ||
                sqlite3_bind_int64(up, 2, b->rows[i].size) != SQLITE_OK ||
                (b->rows[i].managed ? sqlite3_bind_null(up, 3)
                                    : sqlite3_bind_int64(up, 3, b->rows[i].mtime)) != SQLITE_OK ||
                sqlite3_step(up) != SQLITE_DONE)
                rc = shelf__dberr(lib, "cannot update a synced sample");
        rc = rc == SHELF_OK ? shelf__commit(lib) : (shelf__rollback(lib), rc);
    }
    sqlite3_finalize(up);
    b->n = 0;
    b->managed = 0;
    return rc;
}

int shelf__sfile_commit(shelf_library *lib, shelf__sfile_batch *b, int was)
{
    shelf__err keep = lib->err;
    int rc = commit_rows(lib, b);

    if (was == SHELF_OK)
        return rc;
    lib->err = keep;            /* the first failure is the one to tell */
    return was;
}

void shelf__sfile_release(shelf__sfile_batch *b)
{
    shelf_free(b->rows);
    memset(b, 0, sizeof *b);
}
