/*
 * repo.c: the repository: config, opening with a key, lock leases, packs
 * (blobs + an encrypted header at the end), index files, and the local
 * index cache (an SQLite file in the library folder, rebuilt from the
 * repository's index files) that answers "where is blob X" without holding
 * the index in memory.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <zstd.h>
#include "backup_int.h"
#include "../catalog/catalog_int.h"

#define REPO_FORMAT 2   /* 1: no copies of config and key files (still read) */

/* Index files (doc/formats.md): "SHIX", version 1, pack count (le32); per
 * pack its id, run and blob count (le32), then that many entries of flags,
 * id, off, len, raw (le32). */
#define INDEX_MAGIC "SHIX"
#define INDEX_MAGIC_BYTES 4
#define INDEX_VERSION 1
#define INDEX_COUNT_BYTES 4
#define INDEX_HEADER_BYTES (INDEX_MAGIC_BYTES + 1 + INDEX_COUNT_BYTES)
#define INDEX_PACK_BYTES (SHELF_HASH_BYTES + SHELF__RUN_BYTES + INDEX_COUNT_BYTES)
enum { IDXE_FLAGS = 0, IDXE_ID = 1, IDXE_OFF = IDXE_ID + SHELF_HASH_BYTES, IDXE_LEN = IDXE_OFF + 4,
       IDXE_RAW = IDXE_LEN + 4 };
_Static_assert(IDXE_RAW + 4 == SHELF__INDEX_ENTRY, "index entry layout");

/* Packs: the sealed blobs, then the sealed header ("SHPK", version 1, one
 * entry of flags, len, raw (le32), id per blob), then the sealed header's
 * length (le32). */
#define PACK_MAGIC "SHPK\1"
#define PACK_MAGIC_BYTES 5
#define PACK_TRAILER_BYTES 4
enum { PKE_FLAGS = 0, PKE_LEN = 1, PKE_RAW = PKE_LEN + 4, PKE_ID = PKE_RAW + 4 };
_Static_assert(PKE_ID + SHELF_HASH_BYTES == SHELF__PACK_ENTRY, "pack header entry layout");

/* Lock file names: locks/<LOCK_ID_BYTES random bytes in hex>. */
#define LOCK_ID_BYTES 8
static const uint8_t zero_pack[SHELF_HASH_BYTES];

void shelf__pack_name(const uint8_t id[SHELF_HASH_BYTES], char name[SHELF__NAME_MAX])
{
    char hex[SHELF_HASH_HEX];

    shelf__hex(id, SHELF_HASH_BYTES, hex);
    snprintf(name, 80, "data/%.2s/%s", hex, hex);
}

static int be_fail(shelf_repo *r, int rc)
{
    return shelf__seterr(&r->err, rc, "%s", r->be->err.msg);
}

static void set_errmsg(char **errmsg, const shelf__err *e)
{
    if (errmsg)
        *errmsg = shelf__strdup(e->msg);
}

/* ---- the local index cache ---- */

/* "backup index cache: WHAT: cannot write 'PATH': no space left on device":
 * the file and the cause, not SQLite's text. */
int shelf__cache_err(shelf_repo *r, const char *what)
{
    return shelf__seterr_sqlite(&r->err, r->cache, r->cache_path, "backup index cache: %s", what);
}

int shelf__cache_exec(shelf_repo *r, const char *sql)
{
    int rc;

    if (sqlite3_exec(r->cache, sql, NULL, NULL, NULL) == SQLITE_OK)
        return SHELF_OK;
    rc = shelf__cache_err(r, "cannot update it");
    /* "BEGIN; ...; COMMIT" that failed halfway: not left open */
    if (!strncmp(sql, "BEGIN;", 6) && !sqlite3_get_autocommit(r->cache))
        (void)sqlite3_exec(r->cache, "ROLLBACK", NULL, NULL, NULL);   /* after the failure */
    return rc;
}

int shelf__cache_step(shelf_repo *r, sqlite3_stmt *st, const char *what)
{
    int s = sqlite3_step(st);

    if (s != SQLITE_DONE && s != SQLITE_ROW)
        return shelf__cache_err(r, what);
    return SHELF_OK;
}

static int cache_open(shelf_repo *r, const char *dir)
{
    static const char schema[] =
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-8192;\n"
        "CREATE TABLE IF NOT EXISTS packs(pack BLOB PRIMARY KEY, run BLOB NOT NULL, idx TEXT,\n"
        "  size INTEGER NOT NULL) WITHOUT ROWID;\n"
        "CREATE TABLE IF NOT EXISTS blobs(id BLOB NOT NULL, pack BLOB NOT NULL, off INTEGER NOT NULL,\n"
        "  len INTEGER NOT NULL, raw INTEGER NOT NULL, flags INTEGER NOT NULL,\n"
        "  PRIMARY KEY(id, pack)) WITHOUT ROWID;\n"
        "CREATE INDEX IF NOT EXISTS blobs_pack ON blobs(pack);\n"
        "CREATE TABLE IF NOT EXISTS indexes(name TEXT PRIMARY KEY) WITHOUT ROWID;\n";
    int e;

    if (dir) {
        if ((e = shelf__mkdirs(dir, 0777)) != 0)
            return shelf__seterr_errno(&r->err, e, "cannot create '%s'", dir);
        r->cache_path = shelf__asprintf("%s/backup-%s.db", dir, r->id);
    } else {
        const char *t = getenv("TMPDIR");
        int fd;

        r->cache_path = shelf__asprintf("%s/shelf-backup-cache-XXXXXX", t && *t ? t : "/tmp");
        if (r->cache_path) {
            if ((fd = mkstemp(r->cache_path)) < 0)
                return shelf__seterr_errno(&r->err, errno, "cannot create '%s'", r->cache_path);
            close(fd);
            r->cache_temp = 1;
        }
    }
    if (!r->cache_path)
        return shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
    if (sqlite3_open_v2(r->cache_path, &r->cache, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                        NULL) != SQLITE_OK)
        return shelf__seterr_sqlite(&r->err, r->cache, r->cache_path,
                                    "cannot open the backup index cache '%s'", r->cache_path);
    sqlite3_busy_timeout(r->cache, 30000);
    if ((e = shelf__cache_exec(r, schema)) != SHELF_OK)
        return e;
    if (sqlite3_prepare_v2(r->cache,
            "SELECT b.pack, b.off, b.len, b.raw, b.flags, p.run FROM blobs b\n"
            " LEFT JOIN packs p ON p.pack = b.pack WHERE b.id = ?1", -1, &r->st_find, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(r->cache,
            "INSERT OR IGNORE INTO blobs(id, pack, off, len, raw, flags) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
            -1, &r->st_add, NULL) != SQLITE_OK)
        return shelf__cache_err(r, "cannot prepare");
    return SHELF_OK;
}

int shelf__index_find(shelf_repo *r, const uint8_t id[SHELF_HASH_BYTES],
                      const uint8_t (*runs)[SHELF__RUN_BYTES], size_t nruns,
                      shelf__blobloc *loc)
{
    sqlite3_stmt *st = r->st_find;
    int rc = SHELF_ENOTFOUND, s;

    sqlite3_reset(st);
    sqlite3_bind_blob(st, 1, id, SHELF_HASH_BYTES, SQLITE_STATIC);
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        const void *pack = sqlite3_column_blob(st, 0), *run = sqlite3_column_blob(st, 5);
        int open_pack;
        size_t i;

        if (sqlite3_column_bytes(st, 0) != SHELF_HASH_BYTES)
            continue;
        open_pack = !memcmp(pack, zero_pack, SHELF_HASH_BYTES);
        if (open_pack)
            run = r->run;
        else if (!run || sqlite3_column_bytes(st, 5) != SHELF__RUN_BYTES)
            continue;
        for (i = 0; i < nruns; i++)
            if (!memcmp(runs[i], run, SHELF__RUN_BYTES))
                break;
        if (runs && i == nruns)
            continue;
        memcpy(loc->pack, pack, SHELF_HASH_BYTES);
        memcpy(loc->run, run, SHELF__RUN_BYTES);
        loc->off = (uint32_t)sqlite3_column_int64(st, 1);
        loc->len = (uint32_t)sqlite3_column_int64(st, 2);
        loc->raw = (uint32_t)sqlite3_column_int64(st, 3);
        loc->flags = sqlite3_column_int(st, 4);
        rc = SHELF_OK;
        if (!open_pack)
            break;      /* prefer a saved pack, but take the open one */
    }
    if (s != SQLITE_ROW && s != SQLITE_DONE)
        rc = shelf__cache_err(r, "cannot look up a blob");
    sqlite3_reset(st);
    return rc;
}

/* ---- index files ---- */

int shelf__index_parse(const uint8_t *p, size_t n, shelf__index_cb cb, void *ud)
{
    size_t pos = INDEX_HEADER_BYTES;
    uint32_t npacks, i, k;
    int rc;

    if (n < INDEX_HEADER_BYTES || memcmp(p, INDEX_MAGIC, INDEX_MAGIC_BYTES) != 0 ||
        p[INDEX_MAGIC_BYTES] != INDEX_VERSION)
        return SHELF_EFORMAT;
    npacks = shelf__get_le32(p + INDEX_MAGIC_BYTES + 1);
    for (i = 0; i < npacks; i++) {
        const uint8_t *pack, *run;
        uint32_t nblobs;

        if (n - pos < INDEX_PACK_BYTES)
            return SHELF_EFORMAT;
        pack = p + pos;
        run = pack + SHELF_HASH_BYTES;
        nblobs = shelf__get_le32(run + SHELF__RUN_BYTES);
        pos += INDEX_PACK_BYTES;
        if ((n - pos) / SHELF__INDEX_ENTRY < nblobs)
            return SHELF_EFORMAT;
        for (k = 0; k < nblobs; k++, pos += SHELF__INDEX_ENTRY) {
            shelf__packent e;
            const uint8_t *q = p + pos;

            e.flags = q[IDXE_FLAGS];
            memcpy(e.id, q + IDXE_ID, SHELF_HASH_BYTES);
            e.off = shelf__get_le32(q + IDXE_OFF);
            e.len = shelf__get_le32(q + IDXE_LEN);
            e.raw = shelf__get_le32(q + IDXE_RAW);
            if ((e.flags & 0x7f) != SHELF__BLOB_DATA && (e.flags & 0x7f) != SHELF__BLOB_TREE)
                return SHELF_EFORMAT;
            if (e.raw > SHELF__CHUNK_MAX || e.len > SHELF__CHUNK_MAX + SHELF__CHUNK_MAX / 64 + 4096 ||
                (uint64_t)e.off + e.len > UINT32_MAX)
                return SHELF_EFORMAT;
            if ((rc = cb(ud, pack, run, &e)) != 0)
                return rc;
        }
    }
    return pos == n ? SHELF_OK : SHELF_EFORMAT;
}

typedef struct load_ctx {
    shelf_repo *r;
    const char *name;
    uint8_t last[SHELF_HASH_BYTES];
    int have_last;
} load_ctx;

static int load_entry(void *ud, const uint8_t pack[SHELF_HASH_BYTES],
                      const uint8_t run[SHELF__RUN_BYTES], const shelf__packent *e)
{
    load_ctx *lc = ud;
    shelf_repo *r = lc->r;
    sqlite3_stmt *st;

    if (!lc->have_last || memcmp(lc->last, pack, SHELF_HASH_BYTES) != 0) {
        if (sqlite3_prepare_v2(r->cache,
                "INSERT INTO packs(pack, run, idx, size) VALUES(?1, ?2, ?3, 0)\n"
                " ON CONFLICT(pack) DO UPDATE SET idx = excluded.idx, run = excluded.run",
                -1, &st, NULL) != SQLITE_OK)
            return shelf__cache_err(r, "cannot prepare");
        sqlite3_bind_blob(st, 1, pack, SHELF_HASH_BYTES, SQLITE_TRANSIENT);
        sqlite3_bind_blob(st, 2, run, SHELF__RUN_BYTES, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, lc->name, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(st) != SQLITE_DONE) {
            sqlite3_finalize(st);
            return shelf__cache_err(r, "cannot add a pack");
        }
        sqlite3_finalize(st);
        memcpy(lc->last, pack, SHELF_HASH_BYTES);
        lc->have_last = 1;
    }
    st = r->st_add;
    sqlite3_reset(st);
    sqlite3_bind_blob(st, 1, e->id, SHELF_HASH_BYTES, SQLITE_TRANSIENT);
    sqlite3_bind_blob(st, 2, pack, SHELF_HASH_BYTES, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, e->off);
    sqlite3_bind_int64(st, 4, e->len);
    sqlite3_bind_int64(st, 5, e->raw);
    sqlite3_bind_int(st, 6, e->flags);
    if (sqlite3_step(st) != SQLITE_DONE)
        return shelf__cache_err(r, "cannot add a blob");
    sqlite3_reset(st);
    return 0;
}

/* Load one index file into the cache. */
static int cache_load_index(shelf_repo *r, const char *name)
{
    shelf__buf raw = SHELF__BUF_INIT, plain = SHELF__BUF_INIT;
    load_ctx lc;
    sqlite3_stmt *st = NULL;
    int rc;

    memset(&lc, 0, sizeof lc);
    lc.r = r;
    lc.name = name;
    if ((rc = shelf__be_load(r->be, name, 0, 0, &raw)) != SHELF_OK) {
        be_fail(r, rc);
        goto out;
    }
    if (shelf__open_sealed(r, raw.buf, raw.len, &plain) != SHELF_OK) {
        rc = shelf__seterr(&r->err, SHELF_ECORRUPT, "index file '%s' is damaged", name);
        goto out;
    }
    if ((rc = shelf__cache_exec(r, "BEGIN")) != SHELF_OK)
        goto out;
    rc = shelf__index_parse((uint8_t *)plain.buf, plain.len, load_entry, &lc);
    if (rc == SHELF_EFORMAT)
        rc = shelf__seterr(&r->err, SHELF_ECORRUPT, "index file '%s' is damaged", name);
    if (rc == SHELF_OK) {
        if (sqlite3_prepare_v2(r->cache, "INSERT OR IGNORE INTO indexes(name) VALUES(?1)", -1, &st,
                               NULL) != SQLITE_OK)
            rc = shelf__cache_err(r, "cannot prepare");
        else {
            sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
            if (sqlite3_step(st) != SQLITE_DONE)
                rc = shelf__cache_err(r, "cannot record an index file");
        }
    }
    if (rc == SHELF_OK)
        rc = shelf__cache_exec(r, "COMMIT");
    else
        (void)sqlite3_exec(r->cache, "ROLLBACK", NULL, NULL, NULL);   /* after the failure */
out:
    sqlite3_finalize(st);
    shelf__buf_release(&raw);
    shelf__buf_release(&plain);
    return rc;
}

typedef struct name_list {
    char **v;
    size_t n, cap;
} name_list;

static int collect_name(void *ud, const char *name, uint64_t size)
{
    name_list *l = ud;

    (void)size;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 32;
        char **v = shelf__realloc(l->v, cap * sizeof *v);

        if (!v)
            return SHELF_ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    if (!(l->v[l->n] = shelf__strdup(name)))
        return SHELF_ENOMEM;
    l->n++;
    return 0;
}

static void names_free(name_list *l)
{
    size_t i;

    for (i = 0; i < l->n; i++)
        shelf_free(l->v[i]);
    shelf_free(l->v);
    memset(l, 0, sizeof *l);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Drop a pack (its id as an SQLite value) and its blobs from the cache. */
static int forget_pack(shelf_repo *r, sqlite3_value *pack)
{
    static const char *const sql[] = { "DELETE FROM blobs WHERE pack = ?1",
                                       "DELETE FROM packs WHERE pack = ?1" };
    sqlite3_stmt *del = NULL;
    size_t i;
    int rc = SHELF_OK;

    for (i = 0; i < sizeof sql / sizeof *sql && rc == SHELF_OK; i++) {
        if (sqlite3_prepare_v2(r->cache, sql[i], -1, &del, NULL) != SQLITE_OK)
            rc = shelf__cache_err(r, "cannot prepare");
        else if (sqlite3_bind_value(del, 1, pack) != SQLITE_OK || sqlite3_step(del) != SQLITE_DONE)
            rc = shelf__cache_err(r, "cannot forget a lost pack");
        sqlite3_finalize(del);
        del = NULL;
    }
    return rc;
}

int shelf__index_sync(shelf_repo *r)
{
    name_list repo = { NULL, 0, 0 };
    sqlite3_stmt *st = NULL;
    int rc, s, rebuild = 0;
    size_t i;

    if ((rc = shelf__be_list(r->be, "index", collect_name, &repo)) != SHELF_OK) {
        if (rc == SHELF_ENOMEM)
            shelf__seterr(&r->err, rc, "out of memory");
        else
            be_fail(r, rc);
        goto out;
    }
    if (repo.n > 1)
        qsort(repo.v, repo.n, sizeof *repo.v, cmp_str);
    r->index_damaged = 0;
    if ((rc = shelf__index_drop_headers(r)) != SHELF_OK)
        goto out;
    /* An index file the cache has that the repository lost (prune replaced
     * it): start again from the repository's. */
    if (sqlite3_prepare_v2(r->cache, "SELECT name FROM indexes", -1, &st, NULL) != SQLITE_OK) {
        rc = shelf__cache_err(r, "cannot prepare");
        goto out;
    }
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);

        if (repo.n == 0 || !bsearch(&name, repo.v, repo.n, sizeof *repo.v, cmp_str))
            rebuild = 1;
    }
    if (s != SQLITE_DONE) {
        rc = shelf__cache_err(r, "cannot list index files");
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (rebuild && (rc = shelf__cache_exec(r,
            "BEGIN; DELETE FROM blobs WHERE pack IN (SELECT pack FROM packs WHERE idx IS NOT NULL);\n"
            "DELETE FROM packs WHERE idx IS NOT NULL; DELETE FROM indexes; COMMIT")) != SHELF_OK)
        goto out;
    /* Rows of a pack that was never saved (a crash mid-pack). */
    if ((rc = shelf__cache_exec(r, "DELETE FROM blobs WHERE pack = zeroblob(32)")) != SHELF_OK)
        goto out;
    if (sqlite3_prepare_v2(r->cache, "SELECT 1 FROM indexes WHERE name = ?1", -1, &st, NULL) !=
        SQLITE_OK) {
        rc = shelf__cache_err(r, "cannot prepare");
        goto out;
    }
    for (i = 0; i < repo.n; i++) {
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, repo.v[i], -1, SQLITE_STATIC);
        if ((s = sqlite3_step(st)) == SQLITE_ROW)
            continue;
        if (s != SQLITE_DONE) {
            rc = shelf__cache_err(r, "cannot look up an index file");
            goto out;
        }
        sqlite3_reset(st);
        /* A damaged index file is left out (check reports it): what the
         * others list stays restorable, and restore reads pack headers. */
        if ((rc = cache_load_index(r, repo.v[i])) != SHELF_OK && rc != SHELF_ECORRUPT &&
            rc != SHELF_ENOTFOUND)
            goto out;
        if (rc == SHELF_ECORRUPT && r->index_damaged++ == 0)
            snprintf(r->index_damaged_name, sizeof r->index_damaged_name, "%s", repo.v[i]);
    }
    sqlite3_finalize(st);
    st = NULL;
    /* Packs an interrupted run saved but never indexed: keep those still
     * in the repository (the next index adopts them), forget the others. */
    if (sqlite3_prepare_v2(r->cache, "SELECT pack FROM packs WHERE idx IS NULL", -1, &st, NULL) !=
        SQLITE_OK) {
        rc = shelf__cache_err(r, "cannot prepare");
        goto out;
    }
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        char name[SHELF__NAME_MAX];
        uint64_t size;

        if (sqlite3_column_bytes(st, 0) != SHELF_HASH_BYTES)
            continue;
        shelf__pack_name(sqlite3_column_blob(st, 0), name);
        if (shelf__be_stat(r->be, name, &size) == SHELF_ENOTFOUND) {
            if ((rc = forget_pack(r, sqlite3_column_value(st, 0))) != SHELF_OK)
                goto out;
            sqlite3_reset(st);  /* rows changed under the cursor: start over */
        }
    }
    if (s != SQLITE_DONE) {
        rc = shelf__cache_err(r, "cannot list unindexed packs");
        goto out;
    }
    rc = SHELF_OK;
out:
    sqlite3_finalize(st);
    names_free(&repo);
    return rc;
}

static int add_row(shelf_repo *r, const uint8_t id[SHELF_HASH_BYTES], const uint8_t *pack,
                   const shelf__packent *e);

int shelf__index_drop_headers(shelf_repo *r)
{
    return shelf__cache_exec(r, "BEGIN; DELETE FROM blobs WHERE pack IN (SELECT pack FROM packs WHERE idx = '*headers*');\n"
                             "DELETE FROM packs WHERE idx = '*headers*'; COMMIT");
}

typedef struct hdr_scan {
    shelf_repo *r;
    sqlite3_stmt *has, *addp;
    uint64_t n;
    int cache_failed;           /* the stop came from the cache (r->err says why) */
} hdr_scan;

static int index_header(void *ud, const char *name, uint64_t size)
{
    hdr_scan *h = ud;
    shelf_repo *r = h->r;
    const char *slash = strrchr(name, '/');
    uint8_t id[SHELF_HASH_BYTES];
    shelf__packent *ents = NULL;
    size_t n = 0, k;
    int s, rc = SHELF_OK;

    if (!slash || strlen(slash + 1) != SHELF_HASH_HEX - 1 || shelf__unhex(slash + 1, id, sizeof id) != SHELF_OK)
        return 0;
    sqlite3_reset(h->has);
    sqlite3_bind_blob(h->has, 1, id, sizeof id, SQLITE_TRANSIENT);
    if ((s = sqlite3_step(h->has)) == SQLITE_ROW)
        return 0;
    if (s != SQLITE_DONE) {
        rc = shelf__cache_err(r, "cannot look up a pack");
        goto out;
    }
    if (shelf__pack_read_header(r, name, size, &ents, &n) != SHELF_OK)
        return 0;   /* a damaged header: check names it */
    sqlite3_reset(h->addp);
    sqlite3_bind_blob(h->addp, 1, id, sizeof id, SQLITE_TRANSIENT);
    sqlite3_bind_int64(h->addp, 2, (sqlite3_int64)size);
    if ((rc = shelf__cache_step(r, h->addp, "cannot add a pack")) != SHELF_OK)
        goto out;
    for (k = 0; k < n && rc == SHELF_OK; k++)
        rc = add_row(r, ents[k].id, id, &ents[k]);
    if (rc == SHELF_OK)
        h->n++;
out:
    shelf_free(ents);
    h->cache_failed = rc != SHELF_OK;
    return rc;
}

int shelf__index_from_headers(shelf_repo *r, uint64_t *npacks)
{
    hdr_scan h;
    int rc;

    memset(&h, 0, sizeof h);
    h.r = r;
    *npacks = 0;
    if (sqlite3_prepare_v2(r->cache, "SELECT 1 FROM packs WHERE pack = ?1", -1, &h.has, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(r->cache, "INSERT OR IGNORE INTO packs(pack, run, idx, size)\n"
                           " VALUES(?1, zeroblob(16), '*headers*', ?2)", -1, &h.addp, NULL) != SQLITE_OK) {
        rc = shelf__cache_err(r, "cannot prepare");
        goto out;
    }
    if ((rc = shelf__cache_exec(r, "BEGIN")) != SHELF_OK)
        goto out;
    rc = shelf__be_list(r->be, "data", index_header, &h);
    if (rc != SHELF_OK) {
        if (!h.cache_failed)
            be_fail(r, rc);
        (void)sqlite3_exec(r->cache, "ROLLBACK", NULL, NULL, NULL);   /* after the failure */
        goto out;
    }
    if ((rc = shelf__cache_exec(r, "COMMIT")) != SHELF_OK)
        goto out;
    *npacks = h.n;
out:
    sqlite3_finalize(h.has);
    sqlite3_finalize(h.addp);
    return rc;
}

/* ---- packs ---- */

static int txn_begin(shelf_repo *r)
{
    int rc;

    if (!r->in_txn) {
        if ((rc = shelf__cache_exec(r, "BEGIN")) != SHELF_OK)
            return rc;
        r->in_txn = 1;
    }
    return SHELF_OK;
}

static int add_row(shelf_repo *r, const uint8_t id[SHELF_HASH_BYTES], const uint8_t *pack,
                   const shelf__packent *e)
{
    sqlite3_stmt *st = r->st_add;

    sqlite3_reset(st);
    sqlite3_bind_blob(st, 1, id, SHELF_HASH_BYTES, SQLITE_TRANSIENT);
    sqlite3_bind_blob(st, 2, pack, SHELF_HASH_BYTES, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, e ? e->off : 0);
    sqlite3_bind_int64(st, 4, e ? e->len : 0);
    sqlite3_bind_int64(st, 5, e ? e->raw : 0);
    sqlite3_bind_int(st, 6, e ? e->flags : 0);
    if (sqlite3_step(st) != SQLITE_DONE)
        return shelf__cache_err(r, "cannot add a blob");
    sqlite3_reset(st);
    return SHELF_OK;
}

int shelf__pack_add_sealed(shelf_repo *r, const uint8_t id[SHELF_HASH_BYTES], int flags,
                           const void *sealed, size_t len, size_t raw)
{
    shelf__packent *e;
    int rc;

    if ((rc = txn_begin(r)) != SHELF_OK)
        return rc;
    if (r->nents == r->capents) {
        size_t cap = r->capents ? 2 * r->capents : 64;

        if (!(e = shelf__realloc(r->ents, cap * sizeof *e)))
            return shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
        r->ents = e;
        r->capents = cap;
    }
    e = &r->ents[r->nents];
    memcpy(e->id, id, SHELF_HASH_BYTES);
    e->off = (uint32_t)r->pack.len;
    e->len = (uint32_t)len;
    e->raw = (uint32_t)raw;
    e->flags = flags;
    if (shelf__buf_add(&r->pack, sealed, len) != SHELF_OK)
        return shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
    r->nents++;
    r->stored_bytes += len;
    if ((rc = add_row(r, id, zero_pack, e)) != SHELF_OK)
        return rc;
    if (r->pack.len >= SHELF__PACK_TARGET)
        return shelf__pack_flush(r);
    return SHELF_OK;
}

int shelf__pack_add(shelf_repo *r, const uint8_t id[SHELF_HASH_BYTES], int type,
                    const void *data, size_t n, int compress, uint64_t *stored)
{
    const void *src = data;
    size_t srclen = n, before = r->pack.len;
    shelf__packent *e;
    int flags = type, rc;

    if (n > SHELF__CHUNK_MAX)
        return shelf__seterr(&r->err, SHELF_EINVAL, "chunk too large");
    if ((rc = txn_begin(r)) != SHELF_OK)
        return rc;
    if (compress && n >= 64) {
        size_t bound = ZSTD_compressBound(n), z;

        shelf__buf_reset(&r->tmp);
        if (shelf__buf_grow(&r->tmp, bound) != SHELF_OK)
            return shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
        z = ZSTD_compressCCtx(r->zc, r->tmp.buf, bound, data, n, r->zstd_level);
        if (!ZSTD_isError(z) && z < n - n / 32) {
            src = r->tmp.buf;
            srclen = z;
            flags |= SHELF__BLOB_ZSTD;
        }
    }
    if ((rc = shelf__seal(r, src, srclen, &r->pack)) != SHELF_OK)
        return rc;
    if (r->nents == r->capents) {
        size_t cap = r->capents ? 2 * r->capents : 64;

        if (!(e = shelf__realloc(r->ents, cap * sizeof *e)))
            return shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
        r->ents = e;
        r->capents = cap;
    }
    e = &r->ents[r->nents++];
    memcpy(e->id, id, SHELF_HASH_BYTES);
    e->off = (uint32_t)before;
    e->len = (uint32_t)(r->pack.len - before);
    e->raw = (uint32_t)n;
    e->flags = flags;
    r->stored_bytes += e->len;
    if (stored)
        *stored = e->len;
    if ((rc = add_row(r, id, zero_pack, e)) != SHELF_OK)
        return rc;
    if (r->pack.len >= SHELF__PACK_TARGET)
        return shelf__pack_flush(r);
    return SHELF_OK;
}

static void pack_reset(shelf_repo *r)
{
    shelf__buf_reset(&r->pack);
    r->nents = 0;
    if (r->in_txn) {
        /* a pack not saved: its rows go (cleanup, nothing to report) */
        (void)sqlite3_exec(r->cache, "ROLLBACK", NULL, NULL, NULL);
        r->in_txn = 0;
    }
}

int shelf__pack_flush(shelf_repo *r)
{
    uint8_t *hdr = NULL, id[SHELF_HASH_BYTES], len4[PACK_TRAILER_BYTES];
    size_t hdrlen, i, before, size;
    sqlite3_stmt *st = NULL;
    char name[SHELF__NAME_MAX];
    int rc;

    if (r->nents == 0) {
        pack_reset(r);
        return SHELF_OK;
    }
    /* Chunks the workers finished were recorded outside a transaction
     * when the previous pack had just been committed. */
    if ((rc = txn_begin(r)) != SHELF_OK)
        goto out;
    hdrlen = PACK_MAGIC_BYTES + r->nents * SHELF__PACK_ENTRY;
    if (!(hdr = shelf__malloc(hdrlen))) {
        rc = shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    memcpy(hdr, PACK_MAGIC, PACK_MAGIC_BYTES);
    for (i = 0; i < r->nents; i++) {
        uint8_t *q = hdr + PACK_MAGIC_BYTES + i * SHELF__PACK_ENTRY;

        q[PKE_FLAGS] = (uint8_t)r->ents[i].flags;
        shelf__put_le32(q + PKE_LEN, r->ents[i].len);
        shelf__put_le32(q + PKE_RAW, r->ents[i].raw);
        memcpy(q + PKE_ID, r->ents[i].id, SHELF_HASH_BYTES);
    }
    before = r->pack.len;
    if ((rc = shelf__seal(r, hdr, hdrlen, &r->pack)) != SHELF_OK)
        goto out;
    shelf__put_le32(len4, (uint32_t)(r->pack.len - before));
    if (shelf__buf_add(&r->pack, len4, sizeof len4) != SHELF_OK) {
        rc = shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    shelf__sha256_mem(r->pack.buf, r->pack.len, id);
    shelf__pack_name(id, name);
    size = r->pack.len;
    if (r->pipe) {
        /* Saved on the writer thread while the next pack fills.  The rows
         * below may be committed first: a pack that never arrived is
         * dropped from the cache on the next open, and no index file
         * names a pack before every save has finished. */
        if ((rc = shelf__pipe_hand_pack(r->pipe, name, &r->pack)) != SHELF_OK)
            goto out;
    } else {
        rc = shelf__be_save(r->be, name, r->pack.buf, r->pack.len);
        if (rc != SHELF_OK && rc != SHELF_EEXIST) {
            be_fail(r, rc);
            goto out;
        }
    }
    if (sqlite3_prepare_v2(r->cache, r->reindex_same
                               ? "INSERT INTO packs(pack, run, idx, size) VALUES(?1, ?2, NULL, ?3)\n"
                                 " ON CONFLICT(pack) DO UPDATE SET idx = NULL"
                               : "INSERT OR IGNORE INTO packs(pack, run, idx, size) VALUES(?1, ?2, NULL, ?3)",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = shelf__cache_err(r, "cannot prepare");
        goto out;
    }
    sqlite3_bind_blob(st, 1, id, SHELF_HASH_BYTES, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, r->run, SHELF__RUN_BYTES, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)size);
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = shelf__cache_err(r, "cannot add a pack");
        goto out;
    }
    sqlite3_finalize(st);
    if (sqlite3_prepare_v2(r->cache, "UPDATE OR IGNORE blobs SET pack = ?1 WHERE pack = zeroblob(32)",
                           -1, &st, NULL) != SQLITE_OK) {
        st = NULL;
        rc = shelf__cache_err(r, "cannot prepare");
        goto out;
    }
    sqlite3_bind_blob(st, 1, id, SHELF_HASH_BYTES, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = shelf__cache_err(r, "cannot record a pack");
        goto out;
    }
    if ((rc = shelf__cache_exec(r, "DELETE FROM blobs WHERE pack = zeroblob(32); COMMIT")) != SHELF_OK)
        goto out;
    r->in_txn = 0;
    rc = SHELF_OK;
out:
    sqlite3_finalize(st);
    shelf_free(hdr);
    pack_reset(r);
    return rc;
}

/* Statements of an index write. */
typedef struct index_writer {
    sqlite3_stmt *packs, *blobs, *mark, *ins;
} index_writer;

/* Append pack's index entry (the pack row at w->packs) to plain: its id,
 * run, blob count and blobs.  *nb: how many. */
static int index_add_pack(shelf_repo *r, index_writer *w, shelf__buf *plain, uint32_t *nb)
{
    size_t countpos;
    int s;

    *nb = 0;
    if (shelf__buf_add(plain, sqlite3_column_blob(w->packs, 0), SHELF_HASH_BYTES) != SHELF_OK ||
        shelf__buf_add(plain, sqlite3_column_blob(w->packs, 1), SHELF__RUN_BYTES) != SHELF_OK)
        return shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
    countpos = plain->len;
    if (shelf__buf_add(plain, "\0\0\0\0", INDEX_COUNT_BYTES) != SHELF_OK)
        return shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
    sqlite3_reset(w->blobs);
    sqlite3_bind_blob(w->blobs, 1, sqlite3_column_blob(w->packs, 0), SHELF_HASH_BYTES,
                      SQLITE_TRANSIENT);
    while ((s = sqlite3_step(w->blobs)) == SQLITE_ROW) {
        uint8_t e[SHELF__INDEX_ENTRY];

        if (sqlite3_column_bytes(w->blobs, 0) != SHELF_HASH_BYTES)
            continue;
        e[IDXE_FLAGS] = (uint8_t)sqlite3_column_int(w->blobs, 4);
        memcpy(e + IDXE_ID, sqlite3_column_blob(w->blobs, 0), SHELF_HASH_BYTES);
        shelf__put_le32(e + IDXE_OFF, (uint32_t)sqlite3_column_int64(w->blobs, 1));
        shelf__put_le32(e + IDXE_LEN, (uint32_t)sqlite3_column_int64(w->blobs, 2));
        shelf__put_le32(e + IDXE_RAW, (uint32_t)sqlite3_column_int64(w->blobs, 3));
        if (shelf__buf_add(plain, e, sizeof e) != SHELF_OK)
            return shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
        (*nb)++;
    }
    if (s != SQLITE_DONE)
        return shelf__cache_err(r, "cannot list the blobs of a pack");
    shelf__put_le32((uint8_t *)plain->buf + countpos, *nb);
    return SHELF_OK;
}

/* Build one index file in plain from the packs no index lists yet, up to
 * SHELF__INDEX_MAX_BLOBS blobs; their ids go to packids.  *more: packs
 * are left for another file. */
static int index_build(shelf_repo *r, index_writer *w, shelf__buf *plain, shelf__buf *packids,
                       int *more)
{
    uint32_t npacks = 0, nblobs_total = 0, nb;
    int s, rc = SHELF_OK;

    *more = 0;
    shelf__buf_reset(plain);
    shelf__buf_reset(packids);
    if (shelf__buf_add(plain, INDEX_MAGIC "\1\0\0\0\0", INDEX_HEADER_BYTES) != SHELF_OK)
        return shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
    sqlite3_reset(w->packs);
    while ((s = sqlite3_step(w->packs)) == SQLITE_ROW) {
        if (sqlite3_column_bytes(w->packs, 0) != SHELF_HASH_BYTES ||
            sqlite3_column_bytes(w->packs, 1) != SHELF__RUN_BYTES)
            continue;
        if (nblobs_total >= SHELF__INDEX_MAX_BLOBS) {
            *more = 1;
            break;
        }
        if (shelf__buf_add(packids, sqlite3_column_blob(w->packs, 0), SHELF_HASH_BYTES) != SHELF_OK) {
            rc = shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
            break;
        }
        if ((rc = index_add_pack(r, w, plain, &nb)) != SHELF_OK)
            break;
        nblobs_total += nb;
        npacks++;
    }
    if (rc == SHELF_OK && s != SQLITE_ROW && s != SQLITE_DONE)
        rc = shelf__cache_err(r, "cannot list unindexed packs");
    sqlite3_reset(w->packs);
    if (rc == SHELF_OK)
        shelf__put_le32((uint8_t *)plain->buf + INDEX_MAGIC_BYTES + 1, npacks);
    return rc;
}

/* Record in the cache that index file name lists packids. */
static int index_record(shelf_repo *r, index_writer *w, const char *name, const shelf__buf *packids)
{
    size_t i;
    int rc;

    if ((rc = shelf__cache_exec(r, "BEGIN")) != SHELF_OK)
        return rc;
    for (i = 0; i + SHELF_HASH_BYTES <= packids->len && rc == SHELF_OK; i += SHELF_HASH_BYTES) {
        sqlite3_reset(w->mark);
        sqlite3_bind_blob(w->mark, 1, packids->buf + i, SHELF_HASH_BYTES, SQLITE_STATIC);
        sqlite3_bind_text(w->mark, 2, name, -1, SQLITE_STATIC);
        rc = shelf__cache_step(r, w->mark, "cannot record an index file");
    }
    sqlite3_reset(w->mark);
    if (rc == SHELF_OK) {
        sqlite3_reset(w->ins);
        sqlite3_bind_text(w->ins, 1, name, -1, SQLITE_STATIC);
        rc = shelf__cache_step(r, w->ins, "cannot record an index file");
        sqlite3_reset(w->ins);
    }
    if (rc == SHELF_OK)
        return shelf__cache_exec(r, "COMMIT");
    (void)sqlite3_exec(r->cache, "ROLLBACK", NULL, NULL, NULL);   /* after the failure */
    return rc;
}

int shelf__index_write(shelf_repo *r)
{
    shelf__buf plain = SHELF__BUF_INIT, sealed = SHELF__BUF_INIT, packids = SHELF__BUF_INIT;
    index_writer w = { NULL, NULL, NULL, NULL };
    uint8_t hash[SHELF_HASH_BYTES];
    char hex[SHELF_HASH_HEX], name[SHELF__NAME_MAX];
    int rc = SHELF_OK, more = 1;

    if (r->in_run) {
        /* An interrupted run's packs become this run's. */
        if (sqlite3_prepare_v2(r->cache, "UPDATE packs SET run = ?1 WHERE idx IS NULL", -1, &w.mark,
                               NULL) != SQLITE_OK) {
            rc = shelf__cache_err(r, "cannot prepare");
            goto out;
        }
        sqlite3_bind_blob(w.mark, 1, r->run, SHELF__RUN_BYTES, SQLITE_STATIC);
        if ((rc = shelf__cache_step(r, w.mark, "cannot adopt the packs of an interrupted run")) != SHELF_OK)
            goto out;
        sqlite3_finalize(w.mark);
        w.mark = NULL;
    }
    if (sqlite3_prepare_v2(r->cache, "SELECT pack, run FROM packs WHERE idx IS NULL ORDER BY pack",
                           -1, &w.packs, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(r->cache, "SELECT id, off, len, raw, flags FROM blobs WHERE pack = ?1 ORDER BY off",
                           -1, &w.blobs, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(r->cache, "UPDATE packs SET idx = ?2 WHERE pack = ?1", -1, &w.mark,
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(r->cache, "INSERT OR IGNORE INTO indexes(name) VALUES(?1)", -1, &w.ins,
                           NULL) != SQLITE_OK) {
        rc = shelf__cache_err(r, "cannot prepare");
        goto out;
    }
    while (more) {
        if ((rc = index_build(r, &w, &plain, &packids, &more)) != SHELF_OK)
            goto out;
        if (packids.len == 0)
            break;
        shelf__buf_reset(&sealed);
        if ((rc = shelf__seal(r, plain.buf, plain.len, &sealed)) != SHELF_OK)
            goto out;
        shelf__sha256_mem(sealed.buf, sealed.len, hash);
        shelf__hex(hash, sizeof hash, hex);
        snprintf(name, sizeof name, "index/%s", hex);
        rc = shelf__be_save(r->be, name, sealed.buf, sealed.len);
        if (rc != SHELF_OK && rc != SHELF_EEXIST) {
            be_fail(r, rc);
            goto out;
        }
        if ((rc = index_record(r, &w, name, &packids)) != SHELF_OK)
            goto out;
    }
    rc = SHELF_OK;
out:
    sqlite3_finalize(w.packs);
    sqlite3_finalize(w.blobs);
    sqlite3_finalize(w.mark);
    sqlite3_finalize(w.ins);
    shelf__buf_release(&plain);
    shelf__buf_release(&sealed);
    shelf__buf_release(&packids);
    return rc;
}

int shelf__pack_header_parse(const uint8_t *p, size_t n, uint64_t pack_size,
                             shelf__packent **ents, size_t *nents)
{
    size_t count, i;
    uint64_t off = 0;
    shelf__packent *v;

    *ents = NULL;
    *nents = 0;
    if (n < PACK_MAGIC_BYTES || memcmp(p, PACK_MAGIC, PACK_MAGIC_BYTES) != 0 ||
        (n - PACK_MAGIC_BYTES) % SHELF__PACK_ENTRY != 0)
        return SHELF_EFORMAT;
    count = (n - PACK_MAGIC_BYTES) / SHELF__PACK_ENTRY;
    if (!(v = shelf__calloc(count ? count : 1, sizeof *v)))
        return SHELF_ENOMEM;
    for (i = 0; i < count; i++) {
        const uint8_t *q = p + PACK_MAGIC_BYTES + i * SHELF__PACK_ENTRY;

        v[i].flags = q[PKE_FLAGS];
        v[i].len = shelf__get_le32(q + PKE_LEN);
        v[i].raw = shelf__get_le32(q + PKE_RAW);
        memcpy(v[i].id, q + PKE_ID, SHELF_HASH_BYTES);
        v[i].off = (uint32_t)off;
        off += v[i].len;
        if (((v[i].flags & 0x7f) != SHELF__BLOB_DATA && (v[i].flags & 0x7f) != SHELF__BLOB_TREE) ||
            v[i].raw > SHELF__CHUNK_MAX || off > pack_size || off > UINT32_MAX) {
            shelf_free(v);
            return SHELF_EFORMAT;
        }
    }
    *ents = v;
    *nents = count;
    return SHELF_OK;
}

int shelf__pack_read_header(shelf_repo *r, const char *name, uint64_t size,
                            shelf__packent **ents, size_t *nents)
{
    shelf__buf raw = SHELF__BUF_INIT, plain = SHELF__BUF_INIT;
    uint32_t hlen;
    int rc;

    *ents = NULL;
    *nents = 0;
    if (size < PACK_TRAILER_BYTES) {
        rc = shelf__seterr(&r->err, SHELF_ECORRUPT, "pack '%s' is damaged: too short", name);
        goto out;
    }
    if ((rc = shelf__be_load(r->be, name, size - PACK_TRAILER_BYTES, PACK_TRAILER_BYTES, &raw)) !=
        SHELF_OK) {
        be_fail(r, rc);
        goto out;
    }
    hlen = shelf__get_le32((uint8_t *)raw.buf);
    if (hlen > size - PACK_TRAILER_BYTES) {
        rc = shelf__seterr(&r->err, SHELF_ECORRUPT, "pack '%s' is damaged: bad header length", name);
        goto out;
    }
    if ((rc = shelf__be_load(r->be, name, size - PACK_TRAILER_BYTES - hlen, hlen, &raw)) != SHELF_OK) {
        be_fail(r, rc);
        goto out;
    }
    if (shelf__open_sealed(r, raw.buf, raw.len, &plain) != SHELF_OK ||
        shelf__pack_header_parse((uint8_t *)plain.buf, plain.len, size - PACK_TRAILER_BYTES - hlen, ents,
                                 nents) != SHELF_OK) {
        rc = shelf__seterr(&r->err, SHELF_ECORRUPT, "pack '%s' is damaged: bad header", name);
        goto out;
    }
out:
    shelf__buf_release(&raw);
    shelf__buf_release(&plain);
    return rc;
}

int shelf__pack_header_of(shelf_repo *r, void *cipher, const uint8_t *p, size_t n,
                          shelf__packent **ents, size_t *nents)
{
    shelf__buf plain = SHELF__BUF_INIT;
    uint32_t hlen;
    int rc = SHELF_ECORRUPT;

    *ents = NULL;
    *nents = 0;
    if (n < PACK_TRAILER_BYTES)
        return SHELF_ECORRUPT;
    hlen = shelf__get_le32(p + n - PACK_TRAILER_BYTES);
    if (hlen > n - PACK_TRAILER_BYTES)
        return SHELF_ECORRUPT;
    if (shelf__open_sealed_with(r, cipher, p + n - PACK_TRAILER_BYTES - hlen, hlen, &plain) ==
            SHELF_OK &&
        shelf__pack_header_parse((uint8_t *)plain.buf, plain.len, n - PACK_TRAILER_BYTES - hlen,
                                 ents, nents) == SHELF_OK)
        rc = SHELF_OK;
    shelf__buf_release(&plain);
    return rc;
}

int shelf__blob_read(shelf_repo *r, const uint8_t id[SHELF_HASH_BYTES], shelf__buf *out)
{
    shelf__blobloc loc;
    uint8_t got[SHELF_HASH_BYTES];
    char name[SHELF__NAME_MAX], hex[SHELF_HASH_HEX];
    int rc;

    memset(&loc, 0, sizeof loc);
    shelf__hex(id, SHELF_HASH_BYTES, hex);
    if ((rc = shelf__index_find(r, id, NULL, 0, &loc)) != SHELF_OK) {
        if (rc == SHELF_ENOTFOUND)
            shelf__seterr(&r->err, SHELF_ECORRUPT, "blob %.16s is in no index", hex);
        return rc == SHELF_ENOTFOUND ? SHELF_ECORRUPT : rc;
    }
    if (!memcmp(loc.pack, zero_pack, SHELF_HASH_BYTES))
        return shelf__seterr(&r->err, SHELF_EINVAL, "blob %.16s is not saved yet", hex);
    shelf__pack_name(loc.pack, name);
    if ((rc = shelf__be_load(r->be, name, loc.off, loc.len, &r->tmp)) != SHELF_OK)
        return be_fail(r, rc == SHELF_ENOTFOUND ? SHELF_ECORRUPT : rc);
    if ((rc = shelf__open_sealed(r, r->tmp.buf, r->tmp.len, out)) != SHELF_OK)
        return rc == SHELF_ENOMEM ? shelf__seterr(&r->err, rc, "out of memory")
                                  : shelf__seterr(&r->err, SHELF_ECORRUPT, "blob %.16s in '%s' is damaged", hex, name);
    if (loc.flags & SHELF__BLOB_ZSTD) {
        size_t z;

        shelf__buf_reset(&r->tmp);
        if (shelf__buf_grow(&r->tmp, loc.raw) != SHELF_OK)
            return shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
        z = ZSTD_decompressDCtx(r->zd, r->tmp.buf, loc.raw, out->buf, out->len);
        if (ZSTD_isError(z) || z != loc.raw)
            return shelf__seterr(&r->err, SHELF_ECORRUPT, "blob %.16s in '%s' is damaged", hex,
                                 name);
        shelf__buf_reset(out);
        if (shelf__buf_add(out, r->tmp.buf, z) != SHELF_OK)
            return shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
    }
    shelf__sha256_mem(out->buf, out->len, got);
    if (memcmp(got, id, SHELF_HASH_BYTES) != 0 || out->len != loc.raw)
        return shelf__seterr(&r->err, SHELF_ECORRUPT, "blob %.16s in '%s' is damaged", hex, name);
    return SHELF_OK;
}

/* ---- the backup's pipe: r is its sink ---- */

static int sink_store(void *owner, const uint8_t id[SHELF_HASH_BYTES], int flags, const void *sealed,
                      size_t len, size_t raw)
{
    return shelf__pack_add_sealed(owner, id, flags, sealed, len, raw);
}

static int sink_seal(void *owner, void *cipher, const void *in, size_t n, shelf__buf *out,
                     shelf__err *err)
{
    return shelf__seal_with(owner, cipher, in, n, out, err);
}

/* On a pool thread.  Connection 0 is r's own backend, which the calling
 * thread uses otherwise, so the sink lock guards it (shelf__pipe_be_lock);
 * the others are handles of their own (dup). */
static int sink_save(void *owner, int conn, const char *name, const void *data, size_t n,
                     shelf__err *err)
{
    shelf_repo *r = owner;
    shelf__backend *be = conn > 0 && conn < r->nconns ? r->conns[conn] : r->be;
    int rc = shelf__be_save(be, name, data, n);

    if (rc == SHELF_EEXIST)
        return SHELF_OK;
    if (rc != SHELF_OK)
        *err = be->err;
    return rc;
}

int shelf__repo_dups(shelf_repo *r, shelf__backend **out, int want)
{
    int n = 0;

    if (want > SHELF__MAX_CONNECTIONS)
        want = SHELF__MAX_CONNECTIONS;
    while (r->be->ops->dup && n < want && shelf__be_dup(r->be, &out[n]) == SHELF_OK)
        n++;
    return n;
}

void shelf__repo_dups_close(shelf__backend **be, int n)
{
    int i;

    for (i = 0; i < n; i++) {
        shelf__be_close(be[i]);
        be[i] = NULL;
    }
}

void shelf__readers_open(shelf_repo *r, shelf__readers *rd, int workers)
{
    int i, conns = r->connections > 0 ? r->connections : 1;

    memset(rd, 0, sizeof *rd);
    for (i = 0; i < SHELF__MAX_CONNECTIONS; i++)
        pthread_mutex_init(&rd->mu[i], NULL);
    rd->n = shelf__repo_dups(r, rd->be, workers < conns ? workers : conns);
    r->read_conns = rd->n > 0 ? rd->n : 1;
}

int shelf__readers_load(shelf__readers *rd, int worker, const char *name, uint64_t off,
                        uint64_t len, shelf__buf *out, char *err, size_t errsize)
{
    int b = worker % rd->n, now, peak, rc;

    pthread_mutex_lock(&rd->mu[b]);
    now = atomic_fetch_add(&rd->inflight, 1) + 1;
    peak = atomic_load(&rd->peak);
    while (now > peak && !atomic_compare_exchange_weak(&rd->peak, &peak, now))
        ;
    rc = shelf__be_load(rd->be[b], name, off, len, out);
    atomic_fetch_sub(&rd->inflight, 1);
    if (rc != SHELF_OK)
        snprintf(err, errsize, "%s", rd->be[b]->err.msg);
    pthread_mutex_unlock(&rd->mu[b]);
    return rc;
}

void shelf__readers_close(shelf_repo *r, shelf__readers *rd)
{
    int i;

    shelf__repo_dups_close(rd->be, rd->n);
    r->read_peak = rd->n > 0 ? atomic_load(&rd->peak) : 1;
    rd->n = 0;
    for (i = 0; i < SHELF__MAX_CONNECTIONS; i++)
        pthread_mutex_destroy(&rd->mu[i]);
}

/* Another handle on the backend per extra connection, as many as the
 * backend gives (none without dup: one connection). */
static void conns_open(shelf_repo *r)
{
    int want = r->connections > 0 ? r->connections : 1;

    if (want > SHELF__MAX_CONNECTIONS)
        want = SHELF__MAX_CONNECTIONS;
    r->conns[0] = NULL;
    r->nconns = 1 + shelf__repo_dups(r, &r->conns[1], want - 1);
}

static void conns_close(shelf_repo *r)
{
    if (r->nconns > 1)
        shelf__repo_dups_close(&r->conns[1], r->nconns - 1);
    r->nconns = 0;
}

int shelf__pipe_start(shelf_repo *r, shelf__pipe_cb cb, void *ud)
{
    shelf__pipe_sink s;
    int rc;

    memset(&s, 0, sizeof s);
    s.want = cb;
    s.ud = ud;
    s.store = sink_store;
    s.seal = sink_seal;
    s.save = sink_save;
    conns_open(r);
    s.connections = r->conns_used = r->nconns;
    s.owner = r;
    s.err = &r->err;
    s.zstd_level = r->zstd_level;
    if ((rc = shelf__pipe_new(&s, &r->pipe)) != SHELF_OK)
        conns_close(r);
    return rc;
}

int shelf__pipe_submit(shelf_repo *r, void *tag, int type, const void *data, size_t n,
                       int compress)
{
    return shelf__pipe_queue(r->pipe, tag, type, data, n, compress);
}

void shelf__pipe_be_lock(shelf_repo *r, int lock)
{
    shelf__pipe_lock_sink(r->pipe, lock);
}

int shelf__pipe_drain(shelf_repo *r)
{
    return shelf__pipe_finish(r->pipe);
}

void shelf__pipe_stop(shelf_repo *r)
{
    shelf__pipe_free(r->pipe);
    r->pipe = NULL;
    conns_close(r);
}

/* ---- locks ---- */

typedef struct lock_scan {
    shelf_repo *r;
    int exclusive;
    int conflict;
    int live;                   /* live locks of others */
    char who[512];
    int all;                    /* unlock: remove live locks of others too */
    shelf_lock_cb cb;
    void *ud;
} lock_scan;

/* "2026-12-04 05:00:00 UTC": a lock may come from another host's zone. */
static const char *utc_time(int64_t t, char buf[40])
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (!gmtime_r(&tt, &tm) || !strftime(buf, 40, "%Y-%m-%d %H:%M:%S UTC", &tm))
        snprintf(buf, 40, "%lld", (long long)t);
    return buf;
}

static int lock_visit(void *ud, const char *name, uint64_t size)
{
    lock_scan *ls = ud;
    shelf_repo *r = ls->r;
    shelf__buf b = SHELF__BUF_INIT;
    json_t *o = NULL;
    json_int_t expires = 0, pid = 0, time = 0;
    int excl = 0, stale = 0, rc;
    const char *host = "";
    char me[256] = "";
    json_error_t jerr;

    (void)size;
    if (r->lock_name && !strcmp(name, r->lock_name))
        return 0;
    if ((rc = shelf__be_load(r->be, name, 0, 0, &b)) != SHELF_OK)
        return rc == SHELF_ENOMEM ? rc : 0;   /* else gone meanwhile */
    /* Out of memory is not an unreadable lock: a live one would be removed. */
    rc = shelf__json_parse(NULL, SHELF_ECORRUPT, name, b.buf, b.len, 0, &o);
    if (rc == SHELF_OK &&
        json_unpack_ex(o, &jerr, 0, "{s:I, s:I, s:b, s:s, s:I}", "time", &time, "expires", &expires,
                       "exclusive", &excl, "host", &host, "pid", &pid) != 0)
        rc = SHELF__JSON_NOMEM(&jerr) ? SHELF_ENOMEM : SHELF_ECORRUPT;
    if (rc == SHELF_ENOMEM) {
        json_decref(o);
        shelf__buf_release(&b);
        return rc;
    }
    if (rc != SHELF_OK) {
        stale = 1;  /* unreadable: treat as a crashed writer's */
    } else {
        gethostname(me, sizeof me - 1);
        if (expires < shelf__now())
            stale = 1;
        else if (!strcmp(host, me) && pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH)
            stale = 1;
    }
    if (!stale)
        ls->live++;
    if (ls->cb) {
        /* shelf_repo_unlock: report each, remove stale ones (all: every one) */
        shelf_lockinfo li;

        memset(&li, 0, sizeof li);
        li.size = sizeof li;
        li.name = name;
        li.host = host;
        li.pid = (int64_t)pid;
        li.time = (int64_t)time;
        li.expires = (int64_t)expires;
        li.exclusive = excl;
        li.stale = stale;
        li.removed = (stale || ls->all) && shelf__be_remove(r->be, name) == SHELF_OK;
        ls->cb(ls->ud, &li);
    } else if (stale) {
        shelf__be_remove(r->be, name);
    } else if (ls->exclusive || excl) {
        char t1[40], t2[40];

        ls->conflict = 1;
        snprintf(ls->who, sizeof ls->who, "%s lock of %s (pid %lld) taken %s, its lease runs until %s "
                 "(if that run is gone: 'shelf backup unlock --all')",
                 excl ? "an exclusive" : "a", host, (long long)pid, utc_time(time, t1), utc_time(expires, t2));
    }
    json_decref(o);
    shelf__buf_release(&b);
    return 0;
}

static int lock_save(shelf_repo *r, int exclusive)
{
    uint8_t rnd[LOCK_ID_BYTES];
    char hex[2 * LOCK_ID_BYTES + 1], host[256] = "", *text = NULL, *name;
    json_t *o;
    int64_t now = shelf__now();
    int rc;

    shelf__random(rnd, sizeof rnd);
    shelf__hex(rnd, sizeof rnd, hex);
    gethostname(host, sizeof host - 1);
    if (!(name = shelf__asprintf("locks/%s", hex)))
        return shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
    o = json_pack("{s:I, s:I, s:b, s:s, s:I}", "time", (json_int_t)now, "expires",
                  (json_int_t)now + r->lease_seconds, "exclusive", exclusive, "host", host,
                  "pid", (json_int_t)getpid());
    if (!o || !(text = shelf__json_dumps(o, JSON_SORT_KEYS))) {
        rc = shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = shelf__be_save(r->be, name, text, strlen(text))) != SHELF_OK) {
        be_fail(r, rc);
        goto out;
    }
    if (r->lock_name)
        shelf__be_remove(r->be, r->lock_name);
    shelf_free(r->lock_name);
    r->lock_name = name;
    name = NULL;
    r->lock_expires = now + r->lease_seconds;
    r->lock_exclusive = exclusive;
out:
    json_decref(o);
    free(text);
    shelf_free(name);
    return rc;
}

int shelf__repo_lock(shelf_repo *r, int exclusive)
{
    lock_scan ls;
    int rc, pass;

    for (pass = 0; pass < 2; pass++) {
        memset(&ls, 0, sizeof ls);
        ls.r = r;
        ls.exclusive = exclusive;
        if ((rc = shelf__be_list(r->be, "locks", lock_visit, &ls)) != SHELF_OK)
            return rc == SHELF_ENOMEM ? shelf__seterr(&r->err, rc, "out of memory") : be_fail(r, rc);
        if (ls.conflict) {
            shelf__repo_unlock(r);
            return shelf__seterr(&r->err, SHELF_EBUSY, "repository is in use: %s", ls.who);
        }
        /* Save, then look again: of two that raced, both see the other. */
        if (pass == 0 && (rc = lock_save(r, exclusive)) != SHELF_OK)
            return rc;
    }
    r->others_live = ls.live;
    return SHELF_OK;
}

int shelf_repo_unlock(shelf_repo *r, int all, shelf_lock_cb cb, void *ud)
{
    lock_scan ls;
    int rc;

    memset(&ls, 0, sizeof ls);
    ls.r = r;
    ls.all = all;
    ls.cb = cb;
    ls.ud = ud;
    if (!cb)
        return shelf__seterr(&r->err, SHELF_EINVAL, "shelf_repo_unlock needs a callback");
    if ((rc = shelf__be_list(r->be, "locks", lock_visit, &ls)) != SHELF_OK)
        return rc == SHELF_ENOMEM ? shelf__seterr(&r->err, rc, "out of memory") : be_fail(r, rc);
    return SHELF_OK;
}

void shelf__repo_sweep(shelf_repo *r)
{
    char *dir, *slash;

    /* A save in progress has its temp file: only when no other run is
     * there (a backup of another library shares the repository). */
    if (r->lock_name && r->others_live == 0)
        shelf__be_sweep(r->be);
    if (r->cache_temp || !r->cache_path || !(dir = shelf__strdup(r->cache_path)))
        return;
    if ((slash = strrchr(dir, '/')) != NULL) {
        *slash = '\0';
        shelf__cache_sweep(dir, 0);
    }
    shelf_free(dir);
}

int shelf__repo_lock_read(shelf_repo *r)
{
    int rc = shelf__repo_lock(r, 0);

    /* A read-only medium takes no lock file; nobody prunes it meanwhile. */
    if (rc == SHELF_EPERM) {
        r->err.rc = SHELF_OK;
        r->err.msg[0] = '\0';
        return SHELF_OK;
    }
    return rc;
}

int shelf__repo_lock_refresh(shelf_repo *r)
{
    int rc;

    if (!r->lock_name || shelf__now() < r->lock_expires - r->lease_seconds / 2)
        return SHELF_OK;
    shelf__pipe_be_lock(r, 1);
    rc = lock_save(r, r->lock_exclusive);
    shelf__pipe_be_lock(r, 0);
    return rc;
}

void shelf__repo_unlock(shelf_repo *r)
{
    if (r->lock_name)
        shelf__be_remove(r->be, r->lock_name);
    shelf_free(r->lock_name);
    r->lock_name = NULL;
}

/* ---- copies of config and key files (format 2) ---- */

int shelf__load_checked_or_copy(shelf_repo *r, const char *name, json_t **out, int *used_copy)
{
    shelf__buf b = SHELF__BUF_INIT;
    char copy[SHELF__COPY_NAME_MAX];
    int rc;

    *out = NULL;
    *used_copy = 0;
    /* A file that cannot be loaded is as good as damaged, unless memory ran out. */
    if ((rc = shelf__be_load(r->be, name, 0, 0, &b)) == SHELF_OK)
        rc = shelf__json_checked_parse(b.buf, b.len, out);
    if (rc != SHELF_OK && rc != SHELF_ENOMEM) {
        shelf__copy_name(name, copy);
        if ((rc = shelf__be_load(r->be, copy, 0, 0, &b)) == SHELF_OK &&
            (rc = shelf__json_checked_parse(b.buf, b.len, out)) == SHELF_OK)
            *used_copy = 1;
        else if (rc != SHELF_ENOMEM)
            rc = SHELF_ECORRUPT;
    }
    shelf__buf_release(&b);
    return rc == SHELF_ENOMEM ? shelf__seterr(&r->err, rc, "out of memory") : rc;
}

/* Save text as name and its copy (after removing a damaged or missing
 * one); n counts the files written again. */
static int put_again(shelf_repo *r, const char *name, const char *text, uint64_t *n)
{
    shelf__buf b = SHELF__BUF_INIT;
    char copy[SHELF__COPY_NAME_MAX];
    const char *which[2];
    int i, rc = SHELF_OK;

    shelf__copy_name(name, copy);
    which[0] = name;
    which[1] = copy;
    for (i = 0; i < 2 && rc == SHELF_OK; i++) {
        int load = shelf__be_load(r->be, which[i], 0, 0, &b);

        if (load == SHELF_OK && b.len == strlen(text) && !memcmp(b.buf, text, b.len))
            continue;
        if (load == SHELF_OK)
            shelf__be_remove(r->be, which[i]);
        if ((rc = shelf__be_save(r->be, which[i], text, strlen(text))) != SHELF_OK)
            be_fail(r, rc);
        else
            (*n)++;
    }
    shelf__buf_release(&b);
    return rc;
}

/* Format 2: config and every key file again from whichever copy is good. */
int shelf__repair_copies(shelf_repo *r, uint64_t *n)
{
    name_list l = { NULL, 0, 0 };
    size_t i;
    int rc = SHELF_OK, used;

    *n = 0;
    if (r->format < 2)
        return SHELF_OK;
    if ((rc = shelf__be_list(r->be, "keys", collect_name, &l)) != SHELF_OK ||
        (rc = shelf__be_list(r->be, "keys-copy", collect_name, &l)) != SHELF_OK ||
        (rc = collect_name(&l, "config", 0)) != SHELF_OK)
        goto out;
    for (i = 0; i < l.n && rc == SHELF_OK; i++) {
        char name[SHELF__COPY_NAME_MAX], *text = NULL;
        json_t *o;

        if (!strncmp(l.v[i], "keys-copy/", 10))
            snprintf(name, sizeof name, "keys/%s", l.v[i] + 10);
        else
            snprintf(name, sizeof name, "%s", l.v[i]);
        if ((rc = shelf__load_checked_or_copy(r, name, &o, &used)) == SHELF_ECORRUPT) {
            rc = SHELF_OK;
            continue;   /* both damaged: nothing to repair from */
        }
        if (rc != SHELF_OK)
            break;
        if ((text = shelf__json_checked_dump(o)) != NULL)
            rc = put_again(r, name, text, n);
        else
            rc = shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
        free(text);
        json_decref(o);
    }
out:
    names_free(&l);
    return rc;
}

/* ---- init, open, close ---- */

static int setup(shelf_repo *r)
{
    shelf__gear_init(r->gear, r->chunk_key);
    if (!(r->zc = ZSTD_createCCtx()) || !(r->zd = ZSTD_createDCtx()) ||
        !(r->cipher = EVP_CIPHER_CTX_new()))
        return shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
    return SHELF_OK;
}

static shelf_repo *repo_new(shelf__backend *be, const shelf_repo_opts *o)
{
    shelf_repo *r = shelf__calloc(1, sizeof *r);

    if (!r)
        return NULL;
    r->be = be;
    r->zstd_level = 3;
    r->lease_seconds = o && o->lease_seconds > 0 ? o->lease_seconds : 300;
    r->connections = o && o->size >= offsetof(shelf_repo_opts, connections) + sizeof(int) &&
                             o->connections > 0 ? o->connections : SHELF__DEFAULT_CONNECTIONS;
    return r;
}

int shelf__repo_init_be(shelf__backend *be, const shelf_repo_opts *o, char **errmsg)
{
    shelf_repo *r = repo_new(be, o);
    uint8_t rid[16];
    char hex[65], *text = NULL;
    json_t *cfg = NULL;
    uint64_t size;
    int rc = SHELF_OK, plain = o && (o->flags & SHELF_REPO_NO_ENCRYPTION);

    if (errmsg)
        *errmsg = NULL;
    if (!r) {
        shelf__be_close(be);
        return SHELF_ENOMEM;
    }
    if (shelf__be_stat(be, "config", &size) == SHELF_OK) {
        rc = shelf__seterr(&r->err, SHELF_EEXIST, "a repository is already at '%s'", be->location);
        goto out;
    }
    if (!plain && (!o || !o->password || !*o->password)) {
        rc = shelf__seterr(&r->err, SHELF_EAUTH,
                           "a password is needed (or --no-encryption for plain media)");
        goto out;
    }
    if (shelf__random(rid, sizeof rid) != SHELF_OK || shelf__random(r->master, sizeof r->master) ||
        shelf__random(r->chunk_key, sizeof r->chunk_key)) {
        rc = shelf__seterr(&r->err, SHELF_EIO, "cannot get random bytes");
        goto out;
    }
    shelf__hex(rid, sizeof rid, r->id);
    r->encrypted = !plain;
    r->format = REPO_FORMAT;
    cfg = json_pack("{s:i, s:s, s:I, s:s, s:s, s:i, s:i, s:i}", "shelf_backup", REPO_FORMAT,
                    "id", r->id, "created", (json_int_t)shelf__now(), "encryption",
                    plain ? "none" : "aes-256-gcm", "chunker", "fastcdc", "chunk_min",
                    SHELF__CHUNK_MIN, "chunk_avg", SHELF__CHUNK_AVG, "chunk_max", SHELF__CHUNK_MAX);
    if (cfg && plain) {
        shelf__hex(r->chunk_key, sizeof r->chunk_key, hex);
        if (json_object_set_new(cfg, "chunker_key", json_string(hex)) != 0) {
            json_decref(cfg);
            cfg = NULL;
        }
    }
    if (!cfg || !(text = shelf__json_checked_dump(cfg))) {
        rc = shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    /* The key first: a config without a key would be a repository no one
     * can open. */
    if (!plain && (rc = shelf__key_write(r, o->password, o->kdf_log2n, r->key_id)) != SHELF_OK)
        goto out;
    if ((rc = shelf__be_save(be, "config", text, strlen(text))) != SHELF_OK ||
        (rc = shelf__be_save(be, "config-copy", text, strlen(text))) != SHELF_OK) {
        be_fail(r, rc);
        goto out;
    }
out:
    if (rc != SHELF_OK)
        set_errmsg(errmsg, &r->err);
    json_decref(cfg);
    free(text);
    shelf_repo_close(r);
    return rc;
}

typedef struct key_try {
    shelf_repo *r;
    const char *password;
    uint8_t secret[2 * SHELF__KEY_BYTES];
    int found, auth_failed;
    char foreign[33], foreign_key[SHELF__COPY_NAME_MAX];   /* a key file of another repository */
    shelf__err err;
} key_try;

static int try_key(void *ud, const char *name, uint64_t size)
{
    key_try *kt = ud;
    const char *repo = NULL;
    char *text = NULL, keyname[SHELF__COPY_NAME_MAX];
    json_error_t jerr;
    json_t *o;
    int rc, used;

    (void)size;
    if (kt->found)
        return 0;
    /* keys-copy/<id>: tried only when keys/<id> is gone */
    if (!strncmp(name, "keys-copy/", 10)) {
        uint64_t sz;

        snprintf(keyname, sizeof keyname, "keys/%s", name + 10);
        if (shelf__be_stat(kt->r->be, keyname, &sz) == SHELF_OK)
            return 0;
    } else {
        snprintf(keyname, sizeof keyname, "%s", name);
    }
    if ((rc = shelf__load_checked_or_copy(kt->r, keyname, &o, &used)) != SHELF_OK)
        return rc == SHELF_ENOMEM ? rc : 0;
    if (json_unpack_ex(o, &jerr, 0, "{s:s}", "repo", &repo) != 0 && SHELF__JSON_NOMEM(&jerr)) {
        json_decref(o);
        return SHELF_ENOMEM;
    }
    if (repo && strcmp(repo, kt->r->id) != 0) {
        snprintf(kt->foreign, sizeof kt->foreign, "%s", repo);
        snprintf(kt->foreign_key, sizeof kt->foreign_key, "%s", keyname);
        json_decref(o);
        return 0;
    }
    text = shelf__json_checked_dump(o);
    json_decref(o);
    if (!text)
        return SHELF_ENOMEM;
    rc = shelf__key_unwrap(text, strlen(text), kt->password, kt->secret, &kt->err);
    name = keyname;
    if (rc == SHELF_OK) {
        kt->found = 1;
        snprintf(kt->r->key_id, sizeof kt->r->key_id, "%.16s", name + 5);
    } else if (rc == SHELF_EAUTH) {
        kt->auth_failed = 1;
    }
    free(text);
    return rc == SHELF_ENOMEM ? rc : 0;
}

/* config and config-copy that both read but name different repositories:
 * one was copied from another repository (not damage, and not to guess). */
static int config_pair(shelf_repo *r, json_t *cfg)
{
    shelf__buf b = SHELF__BUF_INIT;
    const char *a = json_string_value(json_object_get(cfg, "id")), *c;
    json_t *o = NULL;
    int rc = SHELF_OK;

    if (a && (rc = shelf__be_load(r->be, "config-copy", 0, 0, &b)) == SHELF_OK)
        rc = shelf__json_checked_parse(b.buf, b.len, &o);
    if (rc != SHELF_ENOMEM)
        rc = SHELF_OK;      /* a damaged or missing copy is check's to report */
    if (rc == SHELF_ENOMEM)
        rc = shelf__seterr(&r->err, rc, "out of memory");
    else if (a && (c = json_string_value(json_object_get(o, "id"))) != NULL && strcmp(a, c) != 0)
        rc = shelf__seterr(&r->err, SHELF_EFORMAT, "config names repository %s but config-copy names "
                           "repository %s at '%s': one of them was copied from another repository",
                           a, c, r->be->location);
    json_decref(o);
    shelf__buf_release(&b);
    return rc;
}

int shelf__repo_open_be(shelf__backend *be, const shelf_repo_opts *o, shelf_repo **out,
                        char **errmsg)
{
    shelf_repo *r = repo_new(be, o);
    shelf__buf b = SHELF__BUF_INIT;
    json_t *cfg = NULL;
    json_int_t format = 0;
    const char *enc = NULL, *id = NULL, *ck = NULL;
    json_error_t jerr;
    key_try kt;
    int rc = SHELF_OK, got;

    *out = NULL;
    if (errmsg)
        *errmsg = NULL;
    memset(&kt, 0, sizeof kt);
    if (!r) {
        shelf__be_close(be);
        return SHELF_ENOMEM;
    }
    if ((got = shelf__be_load(be, "config", 0, 0, &b)) != SHELF_OK &&
        (got != SHELF_ENOTFOUND || shelf__be_load(be, "config-copy", 0, 0, &b) != SHELF_OK)) {
        rc = got;
        if (rc == SHELF_ENOTFOUND)
            shelf__seterr(&r->err, rc, "no repository at '%s' (create one with 'shelf backup init')",
                          be->location);
        else
            be_fail(r, rc);
        goto out;
    }
    {
        /* A flipped bit in config: its copy (format 2) opens the repository. */
        int used;

        /* config was loaded above (read once); its copy only when it is damaged */
        rc = got == SHELF_OK ? shelf__json_checked_parse(b.buf, b.len, &cfg) : SHELF_ECORRUPT;
        if (rc == SHELF_ENOMEM) {
            rc = shelf__seterr(&r->err, rc, "out of memory");
            goto out;
        }
        if ((rc != SHELF_OK && (rc = shelf__load_checked_or_copy(r, "config", &cfg, &used)) == SHELF_ENOMEM) ||
            (rc = config_pair(r, cfg)) != SHELF_OK)
            goto out;
    }
    if (cfg && json_unpack_ex(cfg, &jerr, 0, "{s:I, s:s, s:s}", "shelf_backup", &format, "id", &id,
                              "encryption", &enc) != 0 && SHELF__JSON_NOMEM(&jerr)) {
        rc = shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    if (!cfg || !id || !enc || strlen(id) != 32) {
        rc = shelf__seterr(&r->err, SHELF_EFORMAT, "repository config at '%s' is not in a format shelf reads",
                           be->location);
        goto out;
    }
    if (format > REPO_FORMAT) {
        rc = shelf__seterr(&r->err, SHELF_EVERSION, "repository at '%s' was written by a newer shelf",
                           be->location);
        goto out;
    }
    snprintf(r->id, sizeof r->id, "%s", id);
    r->format = (int)format;
    if (!strcmp(enc, "none")) {
        ck = json_string_value(json_object_get(cfg, "chunker_key"));
        if (!ck || shelf__unhex(ck, r->chunk_key, sizeof r->chunk_key) != SHELF_OK) {
            rc = shelf__seterr(&r->err, SHELF_EFORMAT, "repository config has no chunker key");
            goto out;
        }
    } else if (!strcmp(enc, "aes-256-gcm")) {
        r->encrypted = 1;
        kt.r = r;
        kt.password = o ? o->password : NULL;
        if (!kt.password) {
            rc = shelf__seterr(&r->err, SHELF_EAUTH,
                               "the repository is encrypted: a password is needed");
            goto out;
        }
        if ((rc = shelf__be_list(be, "keys", try_key, &kt)) != SHELF_OK ||
            (!kt.found && (rc = shelf__be_list(be, "keys-copy", try_key, &kt)) != SHELF_OK)) {
            if (rc == SHELF_ENOMEM)
                shelf__seterr(&r->err, rc, "out of memory");
            else
                be_fail(r, rc);
            goto out;
        }
        if (!kt.found && kt.foreign[0]) {
            rc = shelf__seterr(&r->err, SHELF_EFORMAT, "key file '%s' belongs to repository %s, not to this "
                               "one (%s): it was copied from another repository%s", kt.foreign_key,
                               kt.foreign, r->id, kt.auth_failed ? ", and the password opens no key of this one" : "");
            goto out;
        }
        if (!kt.found) {
            rc = shelf__seterr(&r->err, SHELF_EAUTH, kt.auth_failed ? "wrong password" :
                               "the repository has no key file that shelf reads");
            goto out;
        }
        memcpy(r->master, kt.secret, SHELF__KEY_BYTES);
        memcpy(r->chunk_key, kt.secret + SHELF__KEY_BYTES, SHELF__KEY_BYTES);
    } else {
        rc = shelf__seterr(&r->err, SHELF_EVERSION, "repository encryption '%s' is unknown", enc);
        goto out;
    }
    if ((rc = setup(r)) != SHELF_OK || (rc = cache_open(r, o ? o->cache_dir : NULL)) != SHELF_OK ||
        (rc = shelf__index_sync(r)) != SHELF_OK)
        goto out;
    *out = r;
    r = NULL;
out:
    OPENSSL_cleanse(kt.secret, sizeof kt.secret);
    if (r) {
        set_errmsg(errmsg, &r->err);
        shelf_repo_close(r);
    }
    json_decref(cfg);
    shelf__buf_release(&b);
    return rc;
}

/* Check the caller's options (backup.h's size rule) into oo, and open
 * target's backend with them. */
static int open_target(const char *target, const shelf_repo_opts *o, int create,
                       shelf_repo_opts *oo, shelf__backend **be, shelf__err *err)
{
    shelf__be_opts bo;
    int rc;

    *be = NULL;
    if ((rc = shelf__opts_check(err, oo, sizeof *oo, o, offsetof(shelf_repo_opts, ca_file),
                                "shelf_repo_opts")) != SHELF_OK)
        return rc;
    if (oo->connections < 0 || oo->connections > SHELF__MAX_CONNECTIONS) {
        shelf__seterr(err, SHELF_EINVAL, "connections must be 1 to %d, not %d",
                      SHELF__MAX_CONNECTIONS, oo->connections);
        return SHELF_EINVAL;
    }
    memset(&bo, 0, sizeof bo);
    bo.create = create;
    bo.ca_file = oo->ca_file;
    bo.limit_up = oo->limit_upload;
    bo.limit_down = oo->limit_download;
    bo.connections = oo->connections;
    return shelf__be_open_target(target, &bo, be, err);
}

int shelf_repo_init(const char *target, const shelf_repo_opts *o, char **errmsg)
{
    shelf__backend *be;
    shelf__err err = { 0, "" };
    shelf_repo_opts oo;
    int rc;

    if (errmsg)
        *errmsg = NULL;
    if ((rc = open_target(target, o, 1, &oo, &be, &err)) != SHELF_OK) {
        set_errmsg(errmsg, &err);
        return rc;
    }
    return shelf__repo_init_be(be, &oo, errmsg);
}

int shelf_repo_open(const char *target, const shelf_repo_opts *o, shelf_repo **out,
                    char **errmsg)
{
    shelf__backend *be;
    shelf__err err = { 0, "" };
    shelf_repo_opts oo;
    int rc;

    *out = NULL;
    if (errmsg)
        *errmsg = NULL;
    if ((rc = open_target(target, o, 0, &oo, &be, &err)) != SHELF_OK) {
        if (rc == SHELF_ENOTFOUND)
            shelf__seterr(&err, rc, "no repository at '%s'", target);
        set_errmsg(errmsg, &err);
        return rc;
    }
    return shelf__repo_open_be(be, &oo, out, errmsg);
}

void shelf_repo_close(shelf_repo *r)
{
    if (!r)
        return;
    shelf__pipe_stop(r);
    pack_reset(r);
    shelf__repo_unlock(r);
    sqlite3_finalize(r->st_find);
    sqlite3_finalize(r->st_add);
    if (r->cache)
        sqlite3_close(r->cache);
    if (r->cache_temp && r->cache_path) {
        char *p;

        unlink(r->cache_path);
        if ((p = shelf__asprintf("%s-wal", r->cache_path)) != NULL)
            unlink(p);
        shelf_free(p);
        if ((p = shelf__asprintf("%s-shm", r->cache_path)) != NULL)
            unlink(p);
        shelf_free(p);
    }
    shelf_free(r->cache_path);
    json_decref(r->snaps_damaged);
    shelf__be_close(r->be);
    ZSTD_freeCCtx(r->zc);
    ZSTD_freeDCtx(r->zd);
    EVP_CIPHER_CTX_free(r->cipher);
    shelf__buf_release(&r->pack);
    shelf__buf_release(&r->tmp);
    shelf_free(r->ents);
    OPENSSL_cleanse(r->master, sizeof r->master);
    OPENSSL_cleanse(r->chunk_key, sizeof r->chunk_key);
    shelf_free(r);
}

const char *shelf_repo_errmsg(const shelf_repo *r)
{
    return r && r->err.msg[0] ? r->err.msg : "no error";
}

const char *shelf_repo_warning(const shelf_repo *r)
{
    return r ? r->warn : "";
}

const char *shelf_repo_id(const shelf_repo *r)
{
    return r->id;
}

int shelf_repo_encrypted(const shelf_repo *r)
{
    return r->encrypted;
}

/* ---- keys ---- */

int shelf_repo_key_add(shelf_repo *r, const char *password, int kdf_log2n, char id[17])
{
    if (!r->encrypted)
        return shelf__seterr(&r->err, SHELF_EINVAL, "the repository is not encrypted");
    return shelf__key_write(r, password, kdf_log2n, id);
}

int shelf_repo_key_list(shelf_repo *r, shelf_key_cb cb, void *ud)
{
    name_list l = { NULL, 0, 0 };
    shelf__buf b = SHELF__BUF_INIT;
    size_t i;
    int rc;

    if ((rc = shelf__be_list(r->be, "keys", collect_name, &l)) != SHELF_OK) {
        be_fail(r, rc);
        goto out;
    }
    if (l.n > 1)
        qsort(l.v, l.n, sizeof *l.v, cmp_str);
    for (i = 0; i < l.n; i++) {
        shelf_keyinfo k;
        json_t *o;
        json_int_t created = 0, log2n = 0;
        const char *host = "";
        json_error_t jerr;
        int used;

        /* A key file neither copy of which reads is listed without details. */
        if (shelf__load_checked_or_copy(r, l.v[i], &o, &used) == SHELF_ENOMEM ||
            (o && json_unpack_ex(o, &jerr, 0, "{s?I, s?I, s?s}", "created", &created, "log2n",
                                 &log2n, "host", &host) != 0 && SHELF__JSON_NOMEM(&jerr))) {
            json_decref(o);
            rc = shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
            goto out;
        }
        memset(&k, 0, sizeof k);
        k.size = sizeof k;
        k.id = l.v[i] + 5;
        k.created = created;
        k.host = host;
        k.log2n = (int)log2n;
        k.current = !strcmp(k.id, r->key_id);
        rc = cb(ud, &k);
        json_decref(o);
        if (rc != 0)
            break;
    }
out:
    shelf__buf_release(&b);
    names_free(&l);
    return rc;
}

int shelf_repo_key_remove(shelf_repo *r, const char *id)
{
    name_list l = { NULL, 0, 0 };
    const char *hit = NULL;
    size_t i, n = strlen(id), nmatch = 0;
    int rc;

    if ((rc = shelf__be_list(r->be, "keys", collect_name, &l)) != SHELF_OK) {
        be_fail(r, rc);
        goto out;
    }
    for (i = 0; i < l.n; i++)
        if (n > 0 && !strncmp(l.v[i] + 5, id, n)) {
            hit = l.v[i];
            nmatch++;
        }
    if (nmatch != 1) {
        rc = shelf__seterr(&r->err, nmatch ? SHELF_EINVAL : SHELF_ENOTFOUND,
                           nmatch ? "key id '%s' is ambiguous" : "no key '%s'", id);
        goto out;
    }
    if (!strcmp(hit + 5, r->key_id) || l.n == 1) {
        rc = shelf__seterr(&r->err, SHELF_EINUSE,
                           "cannot remove key '%s': it is the one in use (open with another password)",
                           hit + 5);
        goto out;
    }
    if ((rc = shelf__be_remove(r->be, hit)) != SHELF_OK)
        be_fail(r, rc);
    else {
        char copy[SHELF__COPY_NAME_MAX];

        shelf__copy_name(hit, copy);
        shelf__be_remove(r->be, copy);
    }
out:
    names_free(&l);
    return rc;
}

int shelf__repo_read_workers(const shelf_repo *r)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int n = ncpu > 4 ? 4 : ncpu > 1 ? (int)ncpu : 1;
    int conns = r->connections > 0 ? r->connections : 1;

    if (conns > SHELF__MAX_CONNECTIONS)
        conns = SHELF__MAX_CONNECTIONS;
    return conns > n ? conns : n;
}
