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
    sqlite3_stmt *st = shelf__prepare_kept(lib, "INSERT INTO roots(path) VALUES(?1) ON CONFLICT"
                                                "(path) DO UPDATE SET path = path RETURNING id");
    int rc = SHELF_OK;

    if (!st)
        return lib->err.rc;
    if (sqlite3_bind_text(st, 1, folder, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW)
        rc = shelf__dberr(lib, "cannot add the sync folder to the catalog");
    else
        *id = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
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

int shelf__sample_row(shelf_library *lib, const char *key, json_t *o, int *added)
{
    char sql[1024], *folder = NULL, *rel = NULL, *name = NULL, *at = NULL;
    sqlite3_stmt *st = NULL;
    int64_t root = 0, have = 0;
    size_t i, len;
    int rc = SHELF_OK, alt;

    if (added)
        *added = 0;
    if (!shelf__is_hash_hex(key))
        return shelf__seterr(&lib->err, SHELF_EFORMAT, "invalid sample '%.80s' in a change", key);
    if (!(st = shelf__prepare_kept(lib, "SELECT EXISTS (SELECT 1 FROM samples WHERE sha256 = ?1)")))
        return lib->err.rc;
    if (sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW)
        rc = shelf__dberr(lib, "cannot read the catalog");
    else
        have = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    st = NULL;
    if (rc != SHELF_OK || have)
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
    if (!(st = shelf__prepare_kept(lib, sql))) {
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
        if (sqlite3_changes(lib->db) == 1) {
            if (added)
                *added = 1;
            goto out;
        }
    }
    rc = shelf__seterr(&lib->err, SHELF_EEXIST, "no free name in '%s' for sample %.16s",
                       folder, key);
out:
    sqlite3_reset(st);          /* kept by the library */
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
    st = shelf__prepare(lib, "SELECT s.id, s.sha256 FROM samples s WHERE s.missing = 1 AND s.id > ?1 "
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

int shelf__sfile_source(shelf_library *lib, const char *sha, int files, char **path)
{
    sqlite3_stmt *st;
    int rc = SHELF_ENOTFOUND, step;

    *path = NULL;
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
            *path = shelf__store_path(&lib->store, (const char *)sqlite3_column_text(st, 0));
        else if (files)
            *path = shelf__sample_abspath((const char *)sqlite3_column_text(st, 1),
                                          (const char *)sqlite3_column_text(st, 2));
        if (*path)
            rc = SHELF_OK;
        else if (sqlite3_column_type(st, 0) != SQLITE_NULL || files)
            rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    } else if (step != SQLITE_DONE) {
        rc = shelf__dberr(lib, "cannot read the catalog");
    }
    sqlite3_finalize(st);
    return rc;
}

int shelf__sfile_load(shelf__err *e, const char *path, shelf__buf *out)
{
    /* not checked here: whoever receives the bytes checks them */
    int rc = shelf__read_file(e, path, SHELF__BLOB_MAX, out);

    if (rc == SHELF_ENOTFOUND || rc == SHELF_EINVAL || rc == SHELF_EIO) {
        e->rc = SHELF_OK;
        e->msg[0] = '\0';
        return SHELF_ENOTFOUND;     /* gone or changed since: not to be had here */
    }
    return rc;
}

int shelf__sfile_read(shelf_library *lib, const char *sha, int files, shelf__buf *out)
{
    char *path = NULL;
    shelf__err e;
    int rc;

    if ((rc = shelf__sfile_source(lib, sha, files, &path)) != SHELF_OK)
        return rc;
    memset(&e, 0, sizeof e);
    if ((rc = shelf__sfile_load(&e, path, out)) != SHELF_OK && rc != SHELF_ENOTFOUND)
        lib->err = e;
    shelf_free(path);
    return rc;
}

/* The file of a referenced row under the sync folder: written whole.
 * Runs on a pool thread: messages go to e. */
static int take_file(shelf__err *e, const char *root, const char *rel, const void *data, size_t n,
                     int64_t *mtime_ns)
{
    char *path = shelf__sample_abspath(root, rel), *dir = NULL, *slash;
    struct stat sb;
    int rc, en;

    if (!path || !(dir = shelf__strdup(path))) {
        shelf_free(path);
        return shelf__seterr(e, SHELF_ENOMEM, "out of memory");
    }
    if ((slash = strrchr(dir, '/')))
        *slash = '\0';
    if ((en = shelf__mkdirs(root, 0777)) != 0 || (en = shelf__mkdirs_beneath(root, dir, 0777)) != 0)
        rc = shelf__seterr_errno(e, en, "cannot make the folder '%s' for a synced sample", dir);
    else if ((rc = shelf__write_file_atomic(e, path, data, n, 0666)) == SHELF_OK)
        *mtime_ns = stat(path, &sb) == 0 ? (int64_t)sb.st_mtim.tv_sec * 1000000000 +
                                               sb.st_mtim.tv_nsec
                                         : 0;
    shelf_free(dir);
    shelf_free(path);
    return rc;
}

/* ---- keeping what arrives ---- */

void shelf__sfile_plan_clear(shelf__sfile_plan *p)
{
    size_t i;

    for (i = 0; i < p->nrows; i++)
        shelf_free(p->paths[i]);
    p->nrows = 0;
}

void shelf__sfile_plan_release(shelf__sfile_plan *p)
{
    shelf__sfile_plan_clear(p);
    shelf_free(p->rows);
    shelf_free(p->paths);
    memset(p, 0, sizeof *p);
}

int shelf__sfile_lookup(shelf_library *lib, const char *sha, shelf__sfile_plan *p)
{
    sqlite3_stmt *st;
    char *folder;
    int rc = SHELF_OK, step = SQLITE_DONE;

    shelf__sfile_plan_clear(p);
    snprintf(p->sha, sizeof p->sha, "%s", sha);
    if (!(folder = sync_folder(lib)))
        return lib->err.rc;
    if (!(st = shelf__prepare(lib, "SELECT s.id, s.blob IS NOT NULL, r.path, s.relpath FROM "
                                   "samples s JOIN roots r ON r.id = s.root_id WHERE s.sha256 = ?1 "
                                   "AND s.missing = 1 AND (s.blob IS NOT NULL OR r.path = ?2)"))) {
        shelf_free(folder);
        return lib->err.rc;
    }
    if (sqlite3_bind_text(st, 1, sha, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(st, 2, folder, -1, SQLITE_STATIC) != SQLITE_OK)
        rc = shelf__dberr(lib, "cannot read the catalog");
    while (rc == SHELF_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *root = (const char *)sqlite3_column_text(st, 2);
        const char *rel = (const char *)sqlite3_column_text(st, 3);

        if (p->nrows == p->cap) {
            size_t cap = p->cap ? 2 * p->cap : 4;
            shelf__sfile_row *r = shelf__realloc(p->rows, cap * sizeof *r);
            char **v = r ? shelf__realloc(p->paths, cap * sizeof *v) : NULL;

            if (r)
                p->rows = r;
            if (!v) {
                rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
                break;
            }
            p->paths = v;
            p->cap = cap;
        }
        /* root, NUL, path: whoever keeps the bytes reads no statement */
        if (!(p->paths[p->nrows] = shelf__asprintf("%s%c%s", root ? root : "", '\0',
                                                    rel ? rel : ""))) {
            rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
            break;
        }
        p->rows[p->nrows].id = sqlite3_column_int64(st, 0);
        p->rows[p->nrows].size = 0;
        p->rows[p->nrows].mtime = 0;
        p->rows[p->nrows++].managed = sqlite3_column_int(st, 1);
    }
    if (rc == SHELF_OK && step != SQLITE_DONE)
        rc = shelf__dberr(lib, "cannot read the catalog");
    sqlite3_finalize(st);
    shelf_free(folder);
    return rc;
}

int shelf__sfile_keep(const shelf__store *store, shelf__sfile_plan *p, const void *data,
                      size_t n, shelf__err *e)
{
    shelf__store st = *store;
    uint8_t raw[SHELF_HASH_BYTES];
    char hex[SHELF_HASH_HEX];
    int stored = 0, rc = SHELF_OK;
    size_t i;

    st.err = e;
    shelf__sha256_mem(data, n, raw);
    shelf__hex(raw, sizeof raw, hex);
    if (strcmp(hex, p->sha) != 0)
        return shelf__seterr(e, SHELF_ECORRUPT, "the bytes sent as sample %.16s are another's "
                             "(%.16s): not kept", p->sha, hex);
    for (i = 0; i < p->nrows && rc == SHELF_OK; i++) {
        p->rows[i].size = (int64_t)n;
        /* managed: into the store without waiting for the disk, which the
         * batch's commit does once */
        if (p->rows[i].managed && !stored)
            stored = (rc = shelf__store_put_hashed(&st, p->sha, data, n, 1)) == SHELF_OK;
        else if (!p->rows[i].managed)
            rc = take_file(e, p->paths[i], p->paths[i] + strlen(p->paths[i]) + 1, data, n,
                           &p->rows[i].mtime);
    }
    return rc;
}

int shelf__sfile_batch_add(shelf_library *lib, shelf__sfile_batch *b, const shelf__sfile_plan *p)
{
    size_t i;

    for (i = 0; i < p->nrows; i++) {
        if (b->n == b->cap) {
            size_t cap = b->cap ? 2 * b->cap : 64;
            shelf__sfile_row *v = shelf__realloc(b->rows, cap * sizeof *v);

            if (!v)
                return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
            b->rows = v;
            b->cap = cap;
        }
        b->rows[b->n++] = p->rows[i];
        b->managed |= p->rows[i].managed;
    }
    return SHELF_OK;
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

int shelf__sfile_batch_commit(shelf_library *lib, shelf__sfile_batch *b, int was)
{
    shelf__err keep;

    if (was == SHELF_OK)
        return commit_rows(lib, b);
    /* what arrived whole is kept; the first failure is the one to tell */
    keep = lib->err;
    (void)commit_rows(lib, b);
    lib->err = keep;
    return was;
}

void shelf__sfile_batch_release(shelf__sfile_batch *b)
{
    shelf_free(b->rows);
    memset(b, 0, sizeof *b);
}

/*
 * Receiving a stream (a peer's): while one file is checked and kept on a
 * pool thread, the next arrives into the other slot.  The catalog is read
 * and written on the caller's thread only: a slot's rows are looked up
 * before its job starts, and go into the batch after it ends.
 */
#define SLOTS 2

typedef struct rx_slot {
    shelf__buf data;
    size_t n;
    shelf__sfile_plan plan;
    const shelf__store *store;
    uint64_t ticket;
    int busy;
    shelf__err err;
    int rc;
} rx_slot;

struct shelf__sfile_rx {
    shelf_library *lib;
    shelf__pool *pool;
    rx_slot slot[SLOTS];
    int next;
    shelf__sfile_batch batch;
};

int shelf__sfile_rx_new(shelf_library *lib, shelf__sfile_rx **out)
{
    shelf__sfile_rx *rx = shelf__calloc(1, sizeof *rx);
    int i;

    *out = NULL;
    if (!rx || !(rx->pool = shelf__pool_new(1, SLOTS))) {
        shelf_free(rx);
        return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    }
    rx->lib = lib;
    for (i = 0; i < SLOTS; i++)
        rx->slot[i].store = &lib->store;
    *out = rx;
    return SHELF_OK;
}

static void slot_job(void *arg, size_t item, int worker)
{
    rx_slot *sl = arg;

    (void)item;
    (void)worker;
    sl->rc = shelf__sfile_keep(sl->store, &sl->plan, sl->data.buf, sl->n, &sl->err);
}

/* A slot's job is over: its rows go into the batch, or its failure is
 * the caller's. */
static int slot_end(shelf__sfile_rx *rx, rx_slot *sl)
{
    int rc;

    if (!sl->busy)
        return SHELF_OK;
    shelf__pool_wait(rx->pool, sl->ticket);
    sl->busy = 0;
    if (sl->rc != SHELF_OK) {
        rx->lib->err = sl->err;
        rc = sl->rc;
    } else {
        rc = shelf__sfile_batch_add(rx->lib, &rx->batch, &sl->plan);
    }
    shelf__sfile_plan_clear(&sl->plan);
    return rc;
}

int shelf__sfile_rx_buffer(shelf__sfile_rx *rx, size_t n, void **buf)
{
    rx_slot *sl = &rx->slot[rx->next];
    int rc;

    if ((rc = slot_end(rx, sl)) != SHELF_OK)
        return rc;
    if (shelf__buf_grow(&sl->data, n + 1) != SHELF_OK)
        return shelf__seterr(&rx->lib->err, SHELF_ENOMEM, "out of memory");
    *buf = sl->data.buf;
    return SHELF_OK;
}

int shelf__sfile_rx_take(shelf__sfile_rx *rx, const char *sha, size_t n)
{
    rx_slot *sl = &rx->slot[rx->next];
    int rc;

    sl->n = n;
    if ((rc = shelf__sfile_lookup(rx->lib, sha, &sl->plan)) != SHELF_OK) {
        shelf__sfile_plan_clear(&sl->plan);
        return rc;
    }
    memset(&sl->err, 0, sizeof sl->err);
    sl->rc = SHELF_OK;
    sl->busy = 1;
    sl->ticket = shelf__pool_submit(rx->pool, slot_job, sl, 1);
    rx->next = (rx->next + 1) % SLOTS;
    return SHELF_OK;
}

int shelf__sfile_rx_commit(shelf__sfile_rx *rx, int was)
{
    int i, r;

    /* every job ends first, also after a failure: none may outlive this */
    for (i = 0; i < SLOTS; i++)
        if ((r = slot_end(rx, &rx->slot[i])) != SHELF_OK && was == SHELF_OK)
            was = r;
    return shelf__sfile_batch_commit(rx->lib, &rx->batch, was);
}

void shelf__sfile_rx_free(shelf__sfile_rx *rx)
{
    int i;

    if (!rx)
        return;
    shelf__pool_free(rx->pool);     /* waits for what still runs */
    for (i = 0; i < SLOTS; i++) {
        shelf__buf_release(&rx->slot[i].data);
        shelf__sfile_plan_release(&rx->slot[i].plan);
    }
    shelf__sfile_batch_release(&rx->batch);
    shelf_free(rx);
}
