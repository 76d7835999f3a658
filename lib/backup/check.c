/*
 * check.c: check (structure, and optionally the data of some or all
 * packs, naming the snapshots and items a damaged file affects), forget
 * (retention policy per device) and prune (remove data no snapshot uses,
 * in a crash-safe order).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <zstd.h>
#include "backup_int.h"

typedef struct chk {
    shelf_repo *r;
    shelf_check_cb cb;
    void *ud;
    shelf_check_stats *st;
} chk;

static void problem(chk *c, const char *file, const char *what, const char *snap, const char *item)
{
    c->st->errors++;
    if (c->cb)
        c->cb(c->ud, file, what, snap, item);
}

typedef struct list_item {
    char *name;
    uint64_t size;
} list_item;

typedef struct flist {
    list_item *v;
    size_t n, cap;
} flist;

static int flist_add(void *ud, const char *name, uint64_t size)
{
    flist *l = ud;

    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        list_item *v = shelf__realloc(l->v, cap * sizeof *v);

        if (!v)
            return SHELF_ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    if (!(l->v[l->n].name = shelf__strdup(name)))
        return SHELF_ENOMEM;
    l->v[l->n++].size = size;
    return 0;
}

static void flist_free(flist *l)
{
    size_t i;

    for (i = 0; i < l->n; i++)
        shelf_free(l->v[i].name);
    shelf_free(l->v);
    memset(l, 0, sizeof *l);
}

/* Pack id from "data/ab/<hex>"; 0 when the name is not one. */
static int pack_id_of(const char *name, uint8_t id[SHELF_HASH_BYTES])
{
    const char *slash = strrchr(name, '/');

    return slash && strlen(slash + 1) == 64 && shelf__unhex(slash + 1, id, SHELF_HASH_BYTES) == SHELF_OK;
}

static int noop_entry(void *ud, const uint8_t pack[SHELF_HASH_BYTES],
                      const uint8_t run[SHELF__RUN_BYTES], const shelf__packent *e)
{
    (void)pack;
    (void)run;
    (void)e;
    (*(uint64_t *)ud)++;
    return 0;
}

static int no_prefetch(void *ud, const char *name, uint64_t size)
{
    (void)ud;
    (void)name;
    (void)size;
    return 0;
}

/* Check every blob the index places in pack id (its bytes in raw): it
 * decrypts, decompresses and has its hash.  Damaged ones go into the
 * badblob table.  The number of blobs checked, or -1 when the cache
 * failed. */
static long check_blobs(chk *c, const char *name, const uint8_t id[SHELF_HASH_BYTES], const shelf__buf *raw)
{
    shelf_repo *r = c->r;
    shelf__buf plain = SHELF__BUF_INIT, out = SHELF__BUF_INIT;
    sqlite3_stmt *q = NULL, *ins = NULL;
    long n = 0;
    int s;

    if (shelf__cache_exec(r, "CREATE TEMP TABLE IF NOT EXISTS badblob(id BLOB, pack BLOB, PRIMARY KEY(id, pack)) WITHOUT ROWID") != SHELF_OK ||
        sqlite3_prepare_v2(r->cache, "SELECT id, off, len, raw, flags FROM blobs WHERE pack = ?1", -1, &q, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(r->cache, "INSERT OR IGNORE INTO badblob(id, pack) VALUES(?1, ?2)", -1, &ins, NULL) != SQLITE_OK) {
        (void)shelf__cache_err(r, "cannot prepare");
        n = -1;
        goto out;
    }
    sqlite3_bind_blob(q, 1, id, SHELF_HASH_BYTES, SQLITE_TRANSIENT);
    while ((s = sqlite3_step(q)) == SQLITE_ROW) {
        uint64_t off = (uint64_t)sqlite3_column_int64(q, 1), len = (uint64_t)sqlite3_column_int64(q, 2);
        size_t want = (size_t)sqlite3_column_int64(q, 3);
        int flags = sqlite3_column_int(q, 4), ok = 0;
        uint8_t got[SHELF_HASH_BYTES];
        char hex[SHELF_HASH_HEX], what[160];

        if (sqlite3_column_bytes(q, 0) != SHELF_HASH_BYTES)
            continue;
        n++;
        if (off + len <= raw->len &&
            shelf__open_sealed(r, raw->buf + off, (size_t)len, &plain) == SHELF_OK) {
            const shelf__buf *data = &plain;

            if (flags & SHELF__BLOB_ZSTD) {
                size_t z;

                shelf__buf_reset(&out);
                z = shelf__buf_grow(&out, want) == SHELF_OK
                    ? ZSTD_decompress(out.buf, want, plain.buf, plain.len) : (size_t)-1;
                out.len = ZSTD_isError(z) ? 0 : z;
                data = ZSTD_isError(z) ? NULL : &out;
            }
            if (data && data->len == want) {
                shelf__sha256_mem(data->buf, data->len, got);
                ok = !memcmp(got, sqlite3_column_blob(q, 0), SHELF_HASH_BYTES);
            }
        }
        if (ok)
            continue;
        shelf__hex(sqlite3_column_blob(q, 0), SHELF_HASH_BYTES, hex);
        snprintf(what, sizeof what, "blob %.16s in the pack is damaged", hex);
        problem(c, name, what, NULL, NULL);
        sqlite3_reset(ins);
        sqlite3_bind_blob(ins, 1, sqlite3_column_blob(q, 0), SHELF_HASH_BYTES, SQLITE_TRANSIENT);
        sqlite3_bind_blob(ins, 2, id, SHELF_HASH_BYTES, SQLITE_TRANSIENT);
        if (shelf__cache_step(r, ins, "cannot record a damaged blob") != SHELF_OK) {
            n = -1;
            goto out;
        }
    }
    if (s != SQLITE_DONE) {
        (void)shelf__cache_err(r, "cannot list the blobs of a pack");
        n = -1;
    }
out:
    sqlite3_finalize(q);
    sqlite3_finalize(ins);
    shelf__buf_release(&plain);
    shelf__buf_release(&out);
    return n;
}

/*
 * check --read-data reads whole packs on pool workers, each worker on its
 * own backend handle (dup), so up to shelf_repo_opts.connections packs
 * arrive at once; a worker also hashes the pack and reads its header.  The
 * calling thread takes the results in list order and does what touches
 * the index cache (check_blobs, the damaged table) and the lock.  A
 * backend without dup loads on the calling thread instead.
 */
#define CJOBS (SHELF__MAX_CONNECTIONS + 1)

typedef struct cpool cpool;

typedef struct cjob {
    cpool *p;
    const list_item *item;
    uint8_t id[SHELF_HASH_BYTES];
    int load, loaded, name_ok, header_ok;
    uint64_t ticket;
    shelf__buf raw;
} cjob;

struct cpool {
    chk *c;
    shelf__pool *pool;
    int nw;
    EVP_CIPHER_CTX **ctx;
    shelf__readers rd;
    int started;                /* rd is open */
    size_t window;
    cjob jobs[CJOBS];
    size_t head, tail;
};

/* A pool item (on a pool thread): load pack j (when asked), check that its
 * content has its name and that its header reads. */
static void cjob_run(void *arg, size_t item, int worker)
{
    cjob *j = arg;
    cpool *p = j->p;
    uint8_t got[SHELF_HASH_BYTES];
    shelf__packent *ents = NULL;
    size_t n = 0;
    char err[256];

    (void)item;
    if (j->load)
        j->loaded = shelf__readers_load(&p->rd, worker, j->item->name, 0, 0, &j->raw, err,
                                        sizeof err) == SHELF_OK;
    if (!j->loaded)
        return;
    shelf__sha256_mem(j->raw.buf, j->raw.len, got);
    j->name_ok = !memcmp(got, j->id, sizeof got);
    j->header_ok = p->ctx[worker] &&
                   shelf__pack_header_of(p->c->r, p->ctx[worker], (const uint8_t *)j->raw.buf,
                                         j->raw.len, &ents, &n) == SHELF_OK;
    shelf_free(ents);
}

/* Take the oldest pack's result, waiting for it: report what is wrong,
 * find which blobs the damage hits, record a damaged pack (mark).
 * SHELF_OK, or the cache's failure. */
static int cpool_complete(cpool *p, sqlite3_stmt *mark)
{
    cjob *j = &p->jobs[p->head % p->window];
    chk *c = p->c;
    shelf_repo *r = c->r;
    long checked = 0;
    int bad = 0, rc = SHELF_OK;

    shelf__pool_wait(p->pool, j->ticket);
    p->head++;
    c->st->packs_read++;
    if (!j->loaded) {
        problem(c, j->item->name, "cannot read the pack", NULL, NULL);
        bad = 1;
    } else {
        c->st->bytes_read += j->raw.len;
        if (!j->name_ok) {
            problem(c, j->item->name, "pack is damaged: its content does not match its name", NULL,
                    NULL);
            bad = 1;
        }
        if (!j->header_ok) {
            problem(c, j->item->name, "pack header is damaged", NULL, NULL);
            bad = 1;
        }
    }
    /* Which blobs the damage hits: each indexed blob of the pack is checked
     * where the index says it is (where restore reads it); only those
     * damaged are lost, the rest of the pack still restores. */
    if (bad && j->loaded && (checked = check_blobs(c, j->item->name, j->id, &j->raw)) > 0)
        bad = 0;
    if (checked < 0)
        rc = r->err.rc;
    else if (bad) {
        sqlite3_reset(mark);
        sqlite3_bind_blob(mark, 1, j->id, SHELF_HASH_BYTES, SQLITE_TRANSIENT);
        rc = shelf__cache_step(r, mark, "cannot record a damaged pack");
        sqlite3_reset(mark);
    }
    shelf__buf_reset(&j->raw);
    shelf__repo_lock_refresh(r);
    return rc;
}

/* Queue pack it (a content-named pack) to be read and checked; the oldest
 * result is taken first when the window is full. */
static int cpool_submit(cpool *p, const list_item *it, const uint8_t id[SHELF_HASH_BYTES],
                        sqlite3_stmt *mark)
{
    cjob *j;
    int rc;

    if (p->tail - p->head == p->window && (rc = cpool_complete(p, mark)) != SHELF_OK)
        return rc;
    j = &p->jobs[p->tail % p->window];
    j->p = p;
    j->item = it;
    memcpy(j->id, id, SHELF_HASH_BYTES);
    j->load = p->rd.n > 0;
    j->loaded = j->name_ok = j->header_ok = 0;
    if (!j->load)
        j->loaded = shelf__be_load(p->c->r->be, it->name, 0, 0, &j->raw) == SHELF_OK;
    j->ticket = shelf__pool_submit(p->pool, cjob_run, j, 1);
    p->tail++;
    return SHELF_OK;
}

static void cpool_stop(cpool *p)
{
    int i;

    shelf__pool_free(p->pool);
    p->pool = NULL;
    if (p->started)
        shelf__readers_close(p->c->r, &p->rd);
    p->started = 0;
    for (i = 0; p->ctx && i < p->nw; i++)
        EVP_CIPHER_CTX_free(p->ctx[i]);
    shelf_free(p->ctx);
    p->ctx = NULL;
    for (i = 0; i < CJOBS; i++)
        shelf__buf_release(&p->jobs[i].raw);
}

/* Workers: at least one per CPU (at most 4) and one per connection; as
 * many packs in flight as workers, and one more queued. */
static int cpool_start(cpool *p, chk *c)
{
    shelf_repo *r = c->r;
    int i, n = shelf__repo_read_workers(r);

    memset(p, 0, sizeof *p);
    p->c = c;
    p->window = (size_t)n + 1 < CJOBS ? (size_t)n + 1 : CJOBS;
    if (!(p->pool = shelf__pool_new(n, (int)p->window)))
        goto nomem;
    p->nw = shelf__pool_threads(p->pool);
    shelf__readers_open(r, &p->rd, p->nw);
    p->started = 1;
    if (!(p->ctx = shelf__calloc((size_t)p->nw, sizeof(EVP_CIPHER_CTX *))))
        goto nomem;
    for (i = 0; i < p->nw; i++)
        p->ctx[i] = EVP_CIPHER_CTX_new();
    return SHELF_OK;
nomem:
    cpool_stop(p);
    return shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
}

/* Which packs a check reads whole: read_percent of them (a random
 * share; 100: all), or with nslices > 0 slice number slice of nslices
 * (by the first two bytes of the pack id, so the slices together are
 * every pack). */
typedef struct readsel {
    int read_percent;
    unsigned slice, nslices;
} readsel;

static int read_packs(chk *c, const flist *packs, const readsel *sel, sqlite3_stmt *mark)
{
    cpool p;
    size_t i;
    int rc;

    if ((rc = cpool_start(&p, c)) != SHELF_OK)
        return rc;
    for (i = 0; i < packs->n && rc == SHELF_OK; i++) {
        uint8_t id[SHELF_HASH_BYTES], pick;

        if (!pack_id_of(packs->v[i].name, id))
            continue;
        if (sel->nslices > 0) {
            if ((((unsigned)id[0] << 8 | id[1]) * sel->nslices) >> 16 != sel->slice)
                continue;
        } else if (sel->read_percent < 100) {
            shelf__random(&pick, 1);
            if ((unsigned)pick * 100u / 256u >= (unsigned)sel->read_percent)
                continue;
        }
        rc = cpool_submit(&p, &packs->v[i], id, mark);
    }
    while (p.head != p.tail) {
        int r2 = cpool_complete(&p, mark);

        if (rc == SHELF_OK)
            rc = r2;
    }
    cpool_stop(&p);
    return rc;
}

/* Content-named files (index, snapshots): the name is the hash. */
static int name_matches(shelf_repo *r, const char *name)
{
    shelf__buf raw = SHELF__BUF_INIT;
    uint8_t want[SHELF_HASH_BYTES], got[SHELF_HASH_BYTES];
    int ok = 0;

    if (pack_id_of(name, want) && shelf__be_load(r->be, name, 0, 0, &raw) == SHELF_OK) {
        shelf__sha256_mem(raw.buf, raw.len, got);
        ok = !memcmp(want, got, sizeof got);
    }
    shelf__buf_release(&raw);
    return ok;
}

/* One plain JSON file and (format 2) its copy: each must read, name this
 * repository, and the two must be equal.  A file of another repository is
 * named as such, not as damage. */
/* SHELF_OK, or SHELF_ENOMEM: a file that did not read for want of memory is
 * not reported damaged. */
static int check_pair(chk *c, const char *name, const char *what)
{
    shelf_repo *r = c->r;
    shelf__buf b = SHELF__BUF_INIT;
    char copy[SHELF__COPY_NAME_MAX], msg[256];
    const char *which[2];
    json_t *o[2] = { NULL, NULL };
    int i, n = r->format >= 2 ? 2 : 1, rc = SHELF_OK;

    shelf__copy_name(name, copy);
    which[0] = name;
    which[1] = copy;
    for (i = 0; i < n; i++) {
        int load = shelf__be_load(r->be, which[i], 0, 0, &b);
        const char *repo = NULL;
        json_error_t jerr;

        if (load == SHELF_OK)
            load = shelf__json_checked_parse(b.buf, b.len, &o[i]);
        if (o[i] && json_unpack_ex(o[i], &jerr, 0, "{s:s}", !strcmp(name, "config") ? "id" : "repo",
                                   &repo) != 0 && SHELF__JSON_NOMEM(&jerr))
            load = SHELF_ENOMEM;
        if (load == SHELF_ENOMEM) {
            rc = shelf__seterr(&r->err, load, "out of memory");
            break;
        }
        if (repo && strcmp(repo, r->id) != 0) {
            snprintf(msg, sizeof msg, "%s belongs to repository %s, not to this one (%s): it was copied "
                     "from another repository", what, repo, r->id);
            problem(c, which[i], msg, NULL, NULL);
            json_decref(o[i]);
            o[i] = json_null();     /* reported */
            continue;
        }
        if (!o[i]) {
            snprintf(msg, sizeof msg, "%s is %s%s", what, load == SHELF_ENOTFOUND ? "missing" : "damaged",
                     n == 2 ? " (its other copy is kept: 'shelf backup repair-index' writes it again)" : "");
            problem(c, which[i], msg, NULL, NULL);
        }
    }
    if (rc == SHELF_OK && n == 2 && json_is_object(o[0]) && json_is_object(o[1]) &&
        !json_equal(o[0], o[1])) {
        snprintf(msg, sizeof msg, "%s and its copy differ", what);
        problem(c, copy, msg, NULL, NULL);
    }
    json_decref(o[0]);
    json_decref(o[1]);
    shelf__buf_release(&b);
    return rc;
}

static int check_key(void *ud, const char *name, uint64_t size)
{
    chk *c = ud;

    (void)size;
    return check_pair(c, name, "key file");
}

/* A key copy whose key file is gone (format 2). */
static int check_key_copy(void *ud, const char *name, uint64_t size)
{
    chk *c = ud;
    char key[SHELF__COPY_NAME_MAX];

    snprintf(key, sizeof key, "keys/%.40s", name + 10);
    if (shelf__be_stat(c->r->be, key, &size) == SHELF_ENOTFOUND)
        return check_pair(c, key, "key file");
    return 0;
}

/* 1 when index file name reads: named by its hash, decrypts, parses. */
static int index_file_ok(shelf_repo *r, const char *name, shelf__buf *raw, shelf__buf *plain)
{
    uint8_t want[SHELF_HASH_BYTES], got[SHELF_HASH_BYTES];
    uint64_t nblobs = 0;

    shelf__sha256_mem(raw->buf, raw->len, got);
    return pack_id_of(name, want) && !memcmp(want, got, sizeof got) &&
           shelf__open_sealed(r, raw->buf, raw->len, plain) == SHELF_OK &&
           shelf__index_parse((uint8_t *)plain->buf, plain->len, noop_entry, &nblobs) == SHELF_OK;
}

/* Snapshots: readable, tree readable, every chunk indexed (lost: the
 * statement that finds a chunk's copy) and in a pack not found damaged. */
static int check_snaps(chk *c, const flist *snaps, sqlite3_stmt *lost)
{
    shelf_repo *r = c->r;
    size_t i;

    for (i = 0; i < snaps->n; i++) {
        const char *sid = strrchr(snaps->v[i].name, '/') + 1;
        json_t *snap = NULL, *tree = NULL, *it, *v;
        size_t k, j;

        c->st->snapshots++;
        if (!name_matches(r, snaps->v[i].name) || shelf__snap_load(r, sid, &snap) != SHELF_OK) {
            problem(c, snaps->v[i].name, "snapshot is damaged", sid, NULL);
            continue;
        }
        if (shelf__tree_load(r, snap, &tree) != SHELF_OK) {
            problem(c, snaps->v[i].name, r->err.msg, sid, "(the item list)");
            json_decref(snap);
            continue;
        }
        json_array_foreach(json_object_get(tree, "items"), k, it) {
            const char *path = json_string_value(json_object_get(it, "path"));

            json_array_foreach(json_object_get(it, "chunks"), j, v) {
                uint8_t id[SHELF_HASH_BYTES];
                int s;

                c->st->blobs++;
                shelf__unhex(json_string_value(v), id, sizeof id);
                sqlite3_reset(lost);
                sqlite3_bind_blob(lost, 1, id, sizeof id, SQLITE_TRANSIENT);
                s = sqlite3_step(lost);
                if (s != SQLITE_ROW && s != SQLITE_DONE) {
                    json_decref(tree);
                    json_decref(snap);
                    return shelf__cache_err(r, "cannot look up a blob");
                }
                if (s != SQLITE_ROW) {
                    problem(c, NULL, "data is in no index", sid, path);
                    break;
                }
                if (sqlite3_column_int(lost, 0)) {
                    char pname[SHELF__NAME_MAX] = "";

                    if (sqlite3_column_bytes(lost, 1) == SHELF_HASH_BYTES)
                        shelf__pack_name(sqlite3_column_blob(lost, 1), pname);
                    problem(c, *pname ? pname : NULL, "data is in a damaged or missing pack", sid, path);
                    break;
                }
            }
        }
        json_decref(tree);
        json_decref(snap);
    }
    return SHELF_OK;
}

/* Indexed packs that are gone (into the damaged table, through mark), and
 * how many present packs no index lists. */
static int check_missing(chk *c, sqlite3_stmt *mark)
{
    shelf_repo *r = c->r;
    sqlite3_stmt *q = NULL;
    int s, rc = SHELF_OK;

    if (sqlite3_prepare_v2(r->cache, "SELECT pack FROM packs WHERE idx IS NOT NULL AND pack NOT IN (SELECT pack FROM present)",
                           -1, &q, NULL) != SQLITE_OK) {
        rc = shelf__cache_err(r, "cannot prepare");
        goto out;
    }
    while ((s = sqlite3_step(q)) == SQLITE_ROW) {
        char name[SHELF__NAME_MAX];

        if (sqlite3_column_bytes(q, 0) != SHELF_HASH_BYTES)
            continue;
        shelf__pack_name(sqlite3_column_blob(q, 0), name);
        problem(c, name, "pack is missing", NULL, NULL);
        sqlite3_reset(mark);
        sqlite3_bind_blob(mark, 1, sqlite3_column_blob(q, 0), SHELF_HASH_BYTES, SQLITE_TRANSIENT);
        if ((rc = shelf__cache_step(r, mark, "cannot record a missing pack")) != SHELF_OK)
            goto out;
    }
    if (s != SQLITE_DONE) {
        rc = shelf__cache_err(r, "cannot list the packs");
        goto out;
    }
    sqlite3_finalize(q);
    q = NULL;
    if (sqlite3_prepare_v2(r->cache, "SELECT count(*) FROM present WHERE pack NOT IN (SELECT pack FROM packs WHERE idx IS NOT NULL)",
                           -1, &q, NULL) != SQLITE_OK) {
        rc = shelf__cache_err(r, "cannot prepare");
        goto out;
    }
    if (sqlite3_step(q) != SQLITE_ROW) {
        rc = shelf__cache_err(r, "cannot count the packs");
        goto out;
    }
    c->st->unindexed = (uint64_t)sqlite3_column_int64(q, 0);
out:
    sqlite3_finalize(q);
    return rc;
}

static int repo_check(shelf_repo *r, const readsel *sel, shelf_check_cb cb, void *ud,
                      shelf_check_stats *st)
{
    flist idx = { NULL, 0, 0 }, packs = { NULL, 0, 0 }, snaps = { NULL, 0, 0 };
    shelf__buf raw = SHELF__BUF_INIT, plain = SHELF__BUF_INIT;
    sqlite3_stmt *q = NULL, *mark = NULL, *lost = NULL;
    chk c;
    size_t i;
    int rc;

    memset(st, 0, sizeof *st);
    c.r = r;
    c.cb = cb;
    c.ud = ud;
    c.st = st;
    if ((rc = shelf__repo_lock_read(r)) != SHELF_OK)
        return rc;
    if ((rc = shelf__index_sync(r)) != SHELF_OK)
        goto out;
    if ((rc = shelf__be_list(r->be, "index", flist_add, &idx)) != SHELF_OK ||
        (rc = shelf__be_list(r->be, "data", flist_add, &packs)) != SHELF_OK ||
        (rc = shelf__be_list(r->be, "snapshots", flist_add, &snaps)) != SHELF_OK) {
        shelf__seterr(&r->err, rc, "%s", rc == SHELF_ENOMEM ? "out of memory" : r->be->err.msg);
        goto out;
    }
    (void)no_prefetch;
    /* A folder that does not list shows in the rest; out of memory stops. */
    if ((rc = check_pair(&c, "config", "config")) == SHELF_ENOMEM ||
        (rc = shelf__be_list(r->be, "keys", check_key, &c)) == SHELF_ENOMEM ||
        (r->format >= 2 && (rc = shelf__be_list(r->be, "keys-copy", check_key_copy, &c)) == SHELF_ENOMEM)) {
        shelf__seterr(&r->err, rc, "out of memory");
        goto out;
    }
    /* Index files: named by their hash, decrypt, parse. */
    for (i = 0; i < idx.n; i++) {
        st->indexes++;
        if (shelf__be_load(r->be, idx.v[i].name, 0, 0, &raw) != SHELF_OK) {
            problem(&c, idx.v[i].name, "cannot read the index file", NULL, NULL);
            continue;
        }
        if (!index_file_ok(r, idx.v[i].name, &raw, &plain))
            problem(&c, idx.v[i].name, "index file is damaged (run 'shelf backup repair-index')",
                    NULL, NULL);
    }
    if ((rc = shelf__cache_exec(r, "CREATE TEMP TABLE IF NOT EXISTS damaged(pack BLOB PRIMARY KEY) WITHOUT ROWID;\n"
                          "DELETE FROM damaged;\n"
                          "CREATE TEMP TABLE IF NOT EXISTS present(pack BLOB PRIMARY KEY, size INTEGER) WITHOUT ROWID;\n"
                          "DELETE FROM present")) != SHELF_OK)
        goto out;
    if (sqlite3_prepare_v2(r->cache, "INSERT OR IGNORE INTO damaged(pack) VALUES(?1)", -1, &mark, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(r->cache, "INSERT OR IGNORE INTO present(pack, size) VALUES(?1, ?2)", -1, &q, NULL) != SQLITE_OK) {
        rc = shelf__cache_err(r, "cannot prepare");
        goto out;
    }
    for (i = 0; i < packs.n; i++) {
        uint8_t id[SHELF_HASH_BYTES];

        if (!pack_id_of(packs.v[i].name, id))
            continue;
        st->packs++;
        sqlite3_reset(q);
        sqlite3_bind_blob(q, 1, id, sizeof id, SQLITE_TRANSIENT);
        sqlite3_bind_int64(q, 2, (sqlite3_int64)packs.v[i].size);
        if ((rc = shelf__cache_step(r, q, "cannot list the packs")) != SHELF_OK)
            goto out;
    }
    sqlite3_finalize(q);
    q = NULL;
    if ((rc = check_missing(&c, mark)) != SHELF_OK)
        goto out;
    /* Read data: a share of the packs, whole (below, with the snapshots). */
    /* Snapshots: readable, tree readable, every chunk indexed and in a
     * pack not found damaged. */
    if ((rc = shelf__cache_exec(r, "CREATE TEMP TABLE IF NOT EXISTS badblob(id BLOB, pack BLOB, PRIMARY KEY(id, pack)) WITHOUT ROWID;\n"
                                  "DELETE FROM badblob")) != SHELF_OK)
        goto out;
    if ((sel->read_percent > 0 || sel->nslices > 0) &&
        (rc = read_packs(&c, &packs, sel, mark)) != SHELF_OK)
        goto out;
    /* A chunk is lost when every copy is in a damaged or missing pack, or
     * is itself damaged; the problem names the pack of one copy. */
    if (sqlite3_prepare_v2(r->cache,
            "SELECT b.pack IN (SELECT pack FROM damaged) OR EXISTS (SELECT 1 FROM badblob x\n"
            "  WHERE x.id = b.id AND x.pack = b.pack), b.pack FROM blobs b JOIN packs p ON p.pack = b.pack\n"
            " WHERE b.id = ?1 ORDER BY 1 LIMIT 1", -1, &lost, NULL) != SQLITE_OK) {
        rc = shelf__cache_err(r, "cannot prepare");
        goto out;
    }
    if ((rc = check_snaps(&c, &snaps, lost)) != SHELF_OK)
        goto out;
    rc = st->errors ? shelf__seterr(&r->err, SHELF_ECORRUPT, "check found %llu problem%s",
                                    (unsigned long long)st->errors, st->errors == 1 ? "" : "s")
                    : SHELF_OK;
out:
    shelf__repo_unlock(r);
    sqlite3_finalize(q);
    sqlite3_finalize(mark);
    sqlite3_finalize(lost);
    flist_free(&idx);
    flist_free(&packs);
    flist_free(&snaps);
    shelf__buf_release(&raw);
    shelf__buf_release(&plain);
    return rc;
}

int shelf_repo_check(shelf_repo *r, int read_percent, shelf_check_cb cb, void *ud,
                     shelf_check_stats *st)
{
    shelf_check_stats full = { .size = sizeof full };
    readsel sel = { read_percent, 0, 0 };
    int rc = repo_check(r, &sel, cb, ud, &full);

    shelf__out_fill(st, &full, sizeof full);
    return rc;
}

int shelf__repo_check_slice(shelf_repo *r, unsigned slice, unsigned nslices, shelf_check_cb cb,
                            void *ud, shelf_check_stats *st)
{
    shelf_check_stats full = { .size = sizeof full };
    readsel sel = { 0, slice, nslices };
    int rc;

    if (nslices == 0 || nslices > 65536 || slice >= nslices)
        return shelf__seterr(&r->err, SHELF_EINVAL, "no slice %u of %u", slice, nslices);
    rc = repo_check(r, &sel, cb, ud, &full);
    shelf__out_fill(st, &full, sizeof full);
    return rc;
}

/* ---- forget ---- */

static void bucket(int64_t t, const char *fmt, char *out, size_t n)
{
    time_t tt = (time_t)t;
    struct tm tm;

    localtime_r(&tt, &tm);
    strftime(out, n, fmt, &tm);
}

int shelf_repo_forget(shelf_repo *r, const shelf_forget_opts *o, shelf_forget_cb cb, void *ud)
{
    shelf_forget_opts fo;
    json_t *all = NULL, *devices = NULL, *s, *dev;
    const char *d;
    size_t i;
    int rc;

    if ((rc = shelf__opts_check(&r->err, &fo, sizeof fo, o, sizeof fo, "shelf_forget_opts")) != SHELF_OK)
        return rc;
    o = &fo;
    if ((o->keep_last <= 0 && o->keep_daily <= 0 && o->keep_weekly <= 0 && o->keep_monthly <= 0))
        return shelf__seterr(&r->err, SHELF_EINVAL, "forget needs a policy: --keep-last, --keep-daily, "
                             "--keep-weekly or --keep-monthly");
    if (!o->dry_run && (rc = shelf__repo_lock(r, 1)) != SHELF_OK)
        return rc;
    if ((rc = shelf__snap_all(r, &all)) != SHELF_OK)
        goto out;
    if (!(devices = json_object())) {
        rc = shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    json_array_foreach(all, i, s) {
        const char *dv = json_string_value(json_object_get(s, "device"));

        if ((!json_object_get(devices, dv) && json_object_set_new(devices, dv ? dv : "", json_array()) != 0) ||
            json_array_append(json_object_get(devices, dv ? dv : ""), s) != 0) {
            rc = shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
            goto out;
        }
    }
    json_object_foreach(devices, d, dev) {
        static const char *const fmts[] = { "%Y-%m-%d", "%G-%V", "%Y-%m" };
        char last[3][32] = { "", "", "" };
        int left[3] = { o->keep_daily, o->keep_weekly, o->keep_monthly }, nlast = 0, k;

        /* Newest first. */
        for (i = json_array_size(dev); i-- > 0;) {
            const char *reason = NULL;
            int64_t t;

            s = json_array_get(dev, i);
            t = json_integer_value(json_object_get(s, "time"));
            if (nlast < o->keep_last) {
                nlast++;
                reason = "last";
            }
            for (k = 0; k < 3; k++) {
                char b[32];

                bucket(t, fmts[k], b, sizeof b);
                if (left[k] > 0 && strcmp(b, last[k]) != 0) {
                    snprintf(last[k], sizeof last[k], "%s", b);
                    left[k]--;
                    if (!reason)
                        reason = k == 0 ? "daily" : k == 1 ? "weekly" : "monthly";
                }
            }
            if (reason && json_object_set_new(s, "keep", json_string(reason)) != 0) {
                rc = shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
                goto out;
            }
        }
        /* A kept differential keeps its full: it restores from the two. */
        for (i = 0; i < json_array_size(dev); i++) {
            const char *full;
            json_t *f;
            size_t m;

            s = json_array_get(dev, i);
            if (!json_object_get(s, "keep") ||
                !(full = json_string_value(json_object_get(s, "full"))))
                continue;
            json_array_foreach(dev, m, f)
                if (!strcmp(json_string_value(json_object_get(f, "id")), full) &&
                    !json_object_get(f, "keep") &&
                    json_object_set_new(f, "keep", json_string("full of a kept differential")) != 0) {
                    rc = shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
                    goto out;
                }
        }
        for (i = json_array_size(dev); i-- > 0;) {
            const char *id, *reason;

            s = json_array_get(dev, i);
            id = json_string_value(json_object_get(s, "id"));
            reason = json_string_value(json_object_get(s, "keep"));
            if (!reason && !o->dry_run) {
                char name[SHELF__NAME_MAX];

                snprintf(name, sizeof name, "snapshots/%s", id);
                if ((rc = shelf__be_remove(r->be, name)) != SHELF_OK && rc != SHELF_ENOTFOUND) {
                    shelf__seterr(&r->err, rc, "%s", r->be->err.msg);
                    goto out;
                }
            }
            if (cb)
                cb(ud, id, json_integer_value(json_object_get(s, "time")), reason != NULL,
                   reason ? reason : "");
        }
    }
    rc = SHELF_OK;
out:
    if (!o->dry_run)
        shelf__repo_unlock(r);
    json_decref(all);
    json_decref(devices);
    return rc;
}

/* ---- prune ---- */

/* Every snapshot must be readable, or what it needs is unknown. */
static int prune_snaps_readable(shelf_repo *r, json_t *all)
{
    flist sn = { NULL, 0, 0 };
    size_t nsnap;
    int rc;

    if ((rc = shelf__be_list(r->be, "snapshots", flist_add, &sn)) != SHELF_OK) {
        flist_free(&sn);
        return shelf__seterr(&r->err, rc, "%s", rc == SHELF_ENOMEM ? "out of memory" : r->be->err.msg);
    }
    nsnap = sn.n;
    flist_free(&sn);
    if (nsnap != json_array_size(all))
        return shelf__seterr(&r->err, SHELF_ECORRUPT,
                             "a snapshot is damaged: prune would not know what it needs (run check)");
    return SHELF_OK;
}

/* Add the blob of hex id v to the used table (through ins). */
static int prune_use(shelf_repo *r, sqlite3_stmt *ins, json_t *v)
{
    uint8_t id[SHELF_HASH_BYTES];

    shelf__unhex(json_string_value(v), id, sizeof id);
    sqlite3_reset(ins);
    sqlite3_bind_blob(ins, 1, id, sizeof id, SQLITE_TRANSIENT);
    return shelf__cache_step(r, ins, "cannot record a used blob");
}

/* The liveruns table (runs of the snapshots that exist) and the used
 * table (every blob a snapshot needs: its tree and its chunks). */
static int prune_mark_used(shelf_repo *r, json_t *all)
{
    sqlite3_stmt *ins = NULL, *q = NULL;
    json_t *s, *tree = NULL, *it, *v;
    size_t i, k, j;
    int rc;

    if ((rc = shelf__cache_exec(r, "CREATE TEMP TABLE IF NOT EXISTS used(id BLOB PRIMARY KEY) WITHOUT ROWID; DELETE FROM used;\n"
                                  "CREATE TEMP TABLE IF NOT EXISTS liveruns(run BLOB PRIMARY KEY) WITHOUT ROWID;\n"
                                  "DELETE FROM liveruns")) != SHELF_OK)
        return rc;
    if (sqlite3_prepare_v2(r->cache, "INSERT OR IGNORE INTO liveruns(run) VALUES(?1)", -1, &q, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(r->cache, "INSERT OR IGNORE INTO used(id) VALUES(?1)", -1, &ins, NULL) != SQLITE_OK) {
        rc = shelf__cache_err(r, "cannot prepare");
        goto out;
    }
    json_array_foreach(all, i, s) {
        uint8_t run[SHELF__RUN_BYTES];

        shelf__unhex(json_string_value(json_object_get(s, "run")), run, sizeof run);
        sqlite3_reset(q);
        sqlite3_bind_blob(q, 1, run, sizeof run, SQLITE_TRANSIENT);
        if ((rc = shelf__cache_step(r, q, "cannot record a run")) != SHELF_OK)
            goto out;
    }
    json_array_foreach(all, i, s) {
        json_array_foreach(json_object_get(s, "tree"), k, v)
            if ((rc = prune_use(r, ins, v)) != SHELF_OK)
                goto out;
        if ((rc = shelf__tree_load(r, s, &tree)) != SHELF_OK) {
            shelf__seterr(&r->err, rc, "cannot read snapshot %.12s: %s; prune stopped (run check)",
                          json_string_value(json_object_get(s, "id")), r->err.msg);
            goto out;
        }
        json_array_foreach(json_object_get(tree, "items"), k, it)
            json_array_foreach(json_object_get(it, "chunks"), j, v)
                if ((rc = prune_use(r, ins, v)) != SHELF_OK)
                    goto out;
        json_decref(tree);
        tree = NULL;
    }
out:
    json_decref(tree);
    sqlite3_finalize(q);
    sqlite3_finalize(ins);
    return rc;
}

/* The plan table: per pack, used and total blobs and bytes and what to do
 * (0 keep, 1 remove, 2 rewrite); st counts it.  A pack is rewritten when
 * more than a fifth of it is unused, or with every_unused (purge) when
 * any blob of it is. */
static int prune_plan(shelf_repo *r, int every_unused, shelf_prune_stats *st)
{
    sqlite3_stmt *q = NULL;
    int rc, s;

    /* A blob used by a kept snapshot is kept in one pack (the first); its
     * other copies go. */
    if ((rc = shelf__cache_exec(r,
            "CREATE TEMP TABLE IF NOT EXISTS keepcopy(id BLOB, run BLOB, pack BLOB, PRIMARY KEY(id, run)) WITHOUT ROWID;\n"
            "DELETE FROM keepcopy;\n"
            /* one copy per run of a snapshot that still exists (a full keeps its own) ... */
            "INSERT OR IGNORE INTO keepcopy SELECT b.id, p.run, b.pack FROM blobs b JOIN packs p ON p.pack = b.pack\n"
            "  WHERE p.idx IS NOT NULL AND b.id IN (SELECT id FROM used) AND p.run IN (SELECT run FROM liveruns)\n"
            "  ORDER BY b.pack;\n"
            /* ... and one copy of what only other runs hold */
            "INSERT OR IGNORE INTO keepcopy SELECT b.id, p.run, min(b.pack) FROM blobs b JOIN packs p ON p.pack = b.pack\n"
            "  WHERE p.idx IS NOT NULL AND b.id IN (SELECT id FROM used) AND b.id NOT IN (SELECT id FROM keepcopy)\n"
            "  GROUP BY b.id;\n"
            "CREATE TEMP TABLE IF NOT EXISTS plan(pack BLOB PRIMARY KEY, run BLOB, used INTEGER, total INTEGER,\n"
            "  used_bytes INTEGER, bytes INTEGER, action INTEGER) WITHOUT ROWID; DELETE FROM plan;\n"
            "INSERT INTO plan SELECT p.pack, p.run,\n"
            "  (SELECT count(*) FROM blobs b WHERE b.pack = p.pack AND EXISTS (SELECT 1 FROM keepcopy k WHERE k.id = b.id AND k.pack = p.pack)),\n"
            "  (SELECT count(*) FROM blobs b WHERE b.pack = p.pack),\n"
            "  (SELECT coalesce(sum(len), 0) FROM blobs b WHERE b.pack = p.pack AND EXISTS (SELECT 1 FROM keepcopy k WHERE k.id = b.id AND k.pack = p.pack)),\n"
            "  (SELECT coalesce(sum(len), 0) FROM blobs b WHERE b.pack = p.pack), 0\n"
            "  FROM packs p WHERE p.idx IS NOT NULL;\n"
            /* 0 keep, 1 remove, 2 rewrite (more than a fifth unused) */
            "UPDATE plan SET action = CASE WHEN used = 0 THEN 1 WHEN used = total THEN 0\n"
            "  WHEN (bytes - used_bytes) * 5 > bytes THEN 2 ELSE 0 END;")) != SHELF_OK ||
        (every_unused && (rc = shelf__cache_exec(r, "UPDATE plan SET action = 2 WHERE action = 0 AND used < total")) !=
                             SHELF_OK))
        return rc;
    if (sqlite3_prepare_v2(r->cache, "SELECT action, count(*), sum(used), sum(total) - sum(used), sum(bytes - used_bytes)\n"
                           " FROM plan GROUP BY action", -1, &q, NULL) != SQLITE_OK) {
        rc = shelf__cache_err(r, "cannot prepare");
        goto out;
    }
    while ((s = sqlite3_step(q)) == SQLITE_ROW) {
        int a = sqlite3_column_int(q, 0);
        uint64_t n = (uint64_t)sqlite3_column_int64(q, 1);

        if (a == 0)
            st->packs_kept += n;
        else if (a == 1)
            st->packs_removed += n;
        else
            st->packs_rewritten += n;
        st->blobs_kept += (uint64_t)sqlite3_column_int64(q, 2);
        st->blobs_removed += (uint64_t)sqlite3_column_int64(q, 3);
        st->bytes_removed += (uint64_t)sqlite3_column_int64(q, 4);
    }
    if (s != SQLITE_DONE) {
        rc = shelf__cache_err(r, "cannot read the plan");
        goto out;
    }
    sqlite3_finalize(q);
    q = NULL;
    /* Packs an interrupted run saved but never indexed go too (in step 4):
     * no snapshot can use them, and no backup runs meanwhile. */
    if (sqlite3_prepare_v2(r->cache, "SELECT count(*) FROM packs WHERE idx IS NULL", -1, &q, NULL) != SQLITE_OK) {
        rc = shelf__cache_err(r, "cannot prepare");
        goto out;
    }
    if (sqlite3_step(q) != SQLITE_ROW) {
        rc = shelf__cache_err(r, "cannot count unindexed packs");
        goto out;
    }
    st->packs_removed += (uint64_t)sqlite3_column_int64(q, 0);
out:
    sqlite3_finalize(q);
    return rc;
}

/* Step 1: the used blobs of thinned packs into new packs (same run). */
static int prune_rewrite(shelf_repo *r)
{
    sqlite3_stmt *bl = NULL;
    shelf__buf blob = SHELF__BUF_INIT;
    json_t *todo = NULL, *v;
    size_t i;
    int rc = SHELF_OK, s;

    if (sqlite3_prepare_v2(r->cache,
            "SELECT b.id, b.flags, p.run FROM plan p JOIN blobs b ON b.pack = p.pack\n"
            " WHERE p.action = 2 AND EXISTS (SELECT 1 FROM keepcopy k WHERE k.id = b.id AND k.pack = p.pack)\n"
            " ORDER BY p.run, p.pack, b.off", -1, &bl, NULL) != SQLITE_OK) {
        rc = shelf__cache_err(r, "cannot prepare");
        goto out;
    }
    if (!(todo = json_array())) {
        rc = shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    /* Collect first: adding blobs changes the tables under the cursor. */
    while ((s = sqlite3_step(bl)) == SQLITE_ROW) {
        char idh[SHELF_HASH_HEX], runh[2 * SHELF__RUN_BYTES + 1];

        shelf__hex(sqlite3_column_blob(bl, 0), SHELF_HASH_BYTES, idh);
        shelf__hex(sqlite3_column_blob(bl, 2), SHELF__RUN_BYTES, runh);
        if (json_array_append_new(todo, json_pack("{s:s, s:i, s:s}", "id", idh, "flags",
                                                  sqlite3_column_int(bl, 1), "run", runh)) != 0) {
            rc = shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
            goto out;
        }
    }
    if (s != SQLITE_DONE) {
        rc = shelf__cache_err(r, "cannot list the blobs to keep");
        goto out;
    }
    json_array_foreach(todo, i, v) {
        uint8_t id[SHELF_HASH_BYTES], run[SHELF__RUN_BYTES];
        int flags = (int)json_integer_value(json_object_get(v, "flags"));

        shelf__unhex(json_string_value(json_object_get(v, "id")), id, sizeof id);
        shelf__unhex(json_string_value(json_object_get(v, "run")), run, sizeof run);
        if (memcmp(run, r->run, sizeof run) != 0) {
            if ((rc = shelf__pack_flush(r)) != SHELF_OK)
                goto out;
            memcpy(r->run, run, sizeof run);
        }
        if ((rc = shelf__blob_read(r, id, &blob)) != SHELF_OK ||
            (rc = shelf__pack_add(r, id, flags & 0x7f, blob.buf, blob.len,
                                  (flags & SHELF__BLOB_ZSTD) != 0, NULL)) != SHELF_OK)
            goto out;
        shelf__repo_lock_refresh(r);
    }
    rc = shelf__pack_flush(r);
out:
    sqlite3_finalize(bl);
    json_decref(todo);
    shelf__buf_release(&blob);
    return rc;
}

/* Remove each file of l whose name sql (one ?1: the name, or with
 * by_id the pack id) does not find in the cache. */
static int prune_remove_unlisted(shelf_repo *r, const flist *l, const char *sql, int by_id)
{
    sqlite3_stmt *q = NULL;
    size_t i;
    int rc = SHELF_OK, s;

    if (sqlite3_prepare_v2(r->cache, sql, -1, &q, NULL) != SQLITE_OK) {
        rc = shelf__cache_err(r, "cannot prepare");
        goto out;
    }
    for (i = 0; i < l->n; i++) {
        uint8_t id[SHELF_HASH_BYTES];

        sqlite3_reset(q);
        if (by_id) {
            if (!pack_id_of(l->v[i].name, id))
                continue;
            sqlite3_bind_blob(q, 1, id, sizeof id, SQLITE_TRANSIENT);
        } else {
            sqlite3_bind_text(q, 1, l->v[i].name, -1, SQLITE_STATIC);
        }
        if ((s = sqlite3_step(q)) == SQLITE_ROW)
            continue;   /* still listed (an index file: written again with the same content) */
        if (s != SQLITE_DONE) {
            rc = shelf__cache_err(r, "cannot look up a file");
            goto out;
        }
        if ((rc = shelf__be_remove(r->be, l->v[i].name)) != SHELF_OK && rc != SHELF_ENOTFOUND) {
            shelf__seterr(&r->err, rc, "%s", r->be->err.msg);
            goto out;
        }
        rc = SHELF_OK;
        shelf__repo_lock_refresh(r);
    }
out:
    sqlite3_finalize(q);
    return rc;
}

int shelf__repo_prune(shelf_repo *r, int dry_run, unsigned flags, shelf_prune_stats *st)
{
    json_t *all = NULL;
    flist idx = { NULL, 0, 0 }, packs = { NULL, 0, 0 };
    int rc;

    memset(st, 0, sizeof *st);
    st->size = sizeof *st;
    if (!(flags & SHELF__PRUNE_LOCKED) && (rc = shelf__repo_lock(r, 1)) != SHELF_OK)
        return rc;
    if (!dry_run)
        shelf__repo_sweep(r);
    if ((rc = shelf__index_sync(r)) != SHELF_OK || (rc = shelf__snap_all(r, &all)) != SHELF_OK)
        goto out;
    if (r->index_damaged) {
        /* Its packs would look unindexed, and step 4 would delete them. */
        rc = shelf__seterr(&r->err, SHELF_ECORRUPT, "index file '%s' is damaged: prune would not know what "
                           "its packs hold (run 'shelf backup repair-index' first)", r->index_damaged_name);
        goto out;
    }
    if ((rc = shelf__be_list(r->be, "index", flist_add, &idx)) != SHELF_OK ||
        (rc = shelf__be_list(r->be, "data", flist_add, &packs)) != SHELF_OK) {
        shelf__seterr(&r->err, rc, "%s", rc == SHELF_ENOMEM ? "out of memory" : r->be->err.msg);
        goto out;
    }
    if ((rc = prune_snaps_readable(r, all)) != SHELF_OK || (rc = prune_mark_used(r, all)) != SHELF_OK ||
        (rc = prune_plan(r, (flags & SHELF__PRUNE_EVERY_UNUSED) != 0, st)) != SHELF_OK || dry_run)
        goto out;
    if ((rc = shelf__cache_exec(r, "BEGIN; DELETE FROM blobs WHERE pack IN (SELECT pack FROM packs WHERE idx IS NULL);\n"
                                  "DELETE FROM packs WHERE idx IS NULL; COMMIT")) != SHELF_OK)
        goto out;
    /* 1. Rewrite the thinned packs.  In a plain repository a rewritten
     * pack can have the bytes, so the name, of a pack the plan removes
     * (what a stopped prune wrote): it is then kept and indexed again. */
    r->reindex_same = 1;
    rc = prune_rewrite(r);
    r->reindex_same = 0;
    if (rc != SHELF_OK ||
        (rc = shelf__cache_exec(r, "DELETE FROM plan WHERE pack IN (SELECT pack FROM packs WHERE idx IS NULL)")) !=
            SHELF_OK)
        goto out;
    /* 2. A new index of every pack that stays. */
    if ((rc = shelf__cache_exec(r,
            "BEGIN;\n"
            "DELETE FROM blobs WHERE pack IN (SELECT pack FROM plan WHERE action != 0);\n"
            "DELETE FROM packs WHERE pack IN (SELECT pack FROM plan WHERE action != 0);\n"
            "DELETE FROM blobs WHERE NOT EXISTS (SELECT 1 FROM keepcopy k WHERE k.id = blobs.id AND k.pack = blobs.pack)\n"
            "  AND pack IN (SELECT pack FROM plan WHERE action = 0);\n"
            "UPDATE packs SET idx = NULL; DELETE FROM indexes;\n"
            "COMMIT")) != SHELF_OK)
        goto out;
    r->in_run = 0;
    if ((rc = shelf__index_write(r)) != SHELF_OK)
        goto out;
    /* 3. The old index files; 4. packs no index lists any more (and those
     * interrupted runs left). */
    if ((rc = prune_remove_unlisted(r, &idx, "SELECT 1 FROM indexes WHERE name = ?1", 0)) != SHELF_OK ||
        (rc = prune_remove_unlisted(r, &packs, "SELECT 1 FROM packs WHERE pack = ?1", 1)) != SHELF_OK)
        goto out;
    rc = SHELF_OK;
out:
    json_decref(all);
    flist_free(&idx);
    flist_free(&packs);
    if (!(flags & SHELF__PRUNE_LOCKED))
        shelf__repo_unlock(r);
    return rc;
}

int shelf_repo_prune(shelf_repo *r, int dry_run, shelf_prune_stats *st)
{
    shelf_prune_stats full = { .size = sizeof full };
    int rc = shelf__repo_prune(r, dry_run, 0, &full);

    shelf__out_fill(st, &full, sizeof full);
    return rc;
}

/* ---- repair-index ---- */

/* Forget what damaged index files told the cache (it may have read them
 * before they were damaged): their packs are indexed again from headers. */
static int repair_forget_damaged(shelf_repo *r, const flist *idx)
{
    static const char *const sql[] = {
        "DELETE FROM blobs WHERE pack IN (SELECT pack FROM packs WHERE idx = ?1)",
        "DELETE FROM packs WHERE idx = ?1",
        "DELETE FROM indexes WHERE name = ?1" };
    shelf__buf raw = SHELF__BUF_INIT, plain = SHELF__BUF_INIT;
    sqlite3_stmt *del = NULL;
    size_t i, k;
    int rc = SHELF_OK;

    for (i = 0; i < idx->n && rc == SHELF_OK; i++) {
        if (shelf__be_load(r->be, idx->v[i].name, 0, 0, &raw) != SHELF_OK ||
            index_file_ok(r, idx->v[i].name, &raw, &plain))
            continue;
        for (k = 0; k < sizeof sql / sizeof *sql && rc == SHELF_OK; k++) {
            if (sqlite3_prepare_v2(r->cache, sql[k], -1, &del, NULL) != SQLITE_OK) {
                rc = shelf__cache_err(r, "cannot prepare");
                break;
            }
            sqlite3_bind_text(del, 1, idx->v[i].name, -1, SQLITE_STATIC);
            rc = shelf__cache_step(r, del, "cannot forget a damaged index file");
            sqlite3_finalize(del);
            del = NULL;
        }
    }
    shelf__buf_release(&raw);
    shelf__buf_release(&plain);
    return rc;
}

/* Statements that add a pack and its blobs to the cache. */
typedef struct repair_st {
    sqlite3_stmt *has, *addp, *addb;
} repair_st;

/* Add pack id (size bytes) and its header's blobs ents[0..n) to the cache,
 * in one transaction, as a pack of run r->run no index lists yet. */
static int repair_add_pack(shelf_repo *r, repair_st *q, const uint8_t id[SHELF_HASH_BYTES],
                           uint64_t size, const shelf__packent *ents, size_t n)
{
    size_t k;
    int rc;

    if ((rc = shelf__cache_exec(r, "BEGIN")) != SHELF_OK)
        return rc;
    sqlite3_reset(q->addp);
    sqlite3_bind_blob(q->addp, 1, id, SHELF_HASH_BYTES, SQLITE_TRANSIENT);
    sqlite3_bind_blob(q->addp, 2, r->run, sizeof r->run, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q->addp, 3, (sqlite3_int64)size);
    rc = shelf__cache_step(r, q->addp, "cannot add a pack");
    for (k = 0; k < n && rc == SHELF_OK; k++) {
        sqlite3_reset(q->addb);
        sqlite3_bind_blob(q->addb, 1, ents[k].id, SHELF_HASH_BYTES, SQLITE_TRANSIENT);
        sqlite3_bind_blob(q->addb, 2, id, SHELF_HASH_BYTES, SQLITE_TRANSIENT);
        sqlite3_bind_int64(q->addb, 3, ents[k].off);
        sqlite3_bind_int64(q->addb, 4, ents[k].len);
        sqlite3_bind_int64(q->addb, 5, ents[k].raw);
        sqlite3_bind_int(q->addb, 6, ents[k].flags);
        rc = shelf__cache_step(r, q->addb, "cannot add a blob");
    }
    if (rc == SHELF_OK)
        return shelf__cache_exec(r, "COMMIT");
    (void)sqlite3_exec(r->cache, "ROLLBACK", NULL, NULL, NULL);   /* after the failure */
    return rc;
}

/* Packs no readable index lists: their own headers say what is in them.
 * *added counts the packs added to the cache. */
static int repair_add_headers(shelf_repo *r, const flist *packs, uint64_t *added)
{
    repair_st q = { NULL, NULL, NULL };
    size_t i;
    int rc = SHELF_OK, s;

    if (sqlite3_prepare_v2(r->cache, "SELECT 1 FROM packs WHERE pack = ?1", -1, &q.has, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(r->cache, "INSERT OR IGNORE INTO packs(pack, run, idx, size) VALUES(?1, ?2, NULL, ?3)",
                           -1, &q.addp, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(r->cache, "INSERT OR IGNORE INTO blobs(id, pack, off, len, raw, flags) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
                           -1, &q.addb, NULL) != SQLITE_OK) {
        rc = shelf__cache_err(r, "cannot prepare");
        goto out;
    }
    for (i = 0; i < packs->n && rc == SHELF_OK; i++) {
        uint8_t id[SHELF_HASH_BYTES];
        shelf__packent *ents = NULL;
        size_t n = 0;

        if (!pack_id_of(packs->v[i].name, id))
            continue;
        sqlite3_reset(q.has);
        sqlite3_bind_blob(q.has, 1, id, sizeof id, SQLITE_TRANSIENT);
        if ((s = sqlite3_step(q.has)) == SQLITE_ROW)
            continue;
        if (s != SQLITE_DONE) {
            rc = shelf__cache_err(r, "cannot look up a pack");
            break;
        }
        if (shelf__pack_read_header(r, packs->v[i].name, packs->v[i].size, &ents, &n) != SHELF_OK)
            continue;   /* damaged header: nothing to recover from it here */
        if ((rc = repair_add_pack(r, &q, id, packs->v[i].size, ents, n)) == SHELF_OK)
            (*added)++;
        shelf_free(ents);
    }
out:
    sqlite3_finalize(q.has);
    sqlite3_finalize(q.addp);
    sqlite3_finalize(q.addb);
    return rc;
}

int shelf_repo_repair_index(shelf_repo *r, uint64_t *packs_indexed, uint64_t *index_removed)
{
    flist idx = { NULL, 0, 0 }, packs = { NULL, 0, 0 };
    shelf__buf raw = SHELF__BUF_INIT, plain = SHELF__BUF_INIT;
    uint64_t added = 0, removed = 0, fixed = 0;
    size_t i;
    int rc;

    if ((rc = shelf__repo_lock(r, 1)) != SHELF_OK)
        return rc;
    if ((rc = shelf__index_sync(r)) != SHELF_OK)
        goto out;
    if ((rc = shelf__be_list(r->be, "index", flist_add, &idx)) != SHELF_OK ||
        (rc = shelf__be_list(r->be, "data", flist_add, &packs)) != SHELF_OK) {
        shelf__seterr(&r->err, rc, "%s", rc == SHELF_ENOMEM ? "out of memory" : r->be->err.msg);
        goto out;
    }
    if (shelf__random(r->run, sizeof r->run) != SHELF_OK) {
        rc = shelf__seterr(&r->err, SHELF_EIO, "cannot get random bytes");
        goto out;
    }
    if ((rc = repair_forget_damaged(r, &idx)) != SHELF_OK ||
        (rc = repair_add_headers(r, &packs, &added)) != SHELF_OK)
        goto out;
    r->in_run = 0;
    if ((rc = shelf__index_write(r)) != SHELF_OK)
        goto out;
    /* config and key files from their good copies (format 2) */
    if ((rc = shelf__repair_copies(r, &fixed)) != SHELF_OK)
        goto out;
    /* Then the damaged index files go (only now that a new index lists
     * their packs). */
    for (i = 0; i < idx.n; i++) {
        if (shelf__be_load(r->be, idx.v[i].name, 0, 0, &raw) != SHELF_OK ||
            index_file_ok(r, idx.v[i].name, &raw, &plain))
            continue;
        if (shelf__be_remove(r->be, idx.v[i].name) == SHELF_OK)
            removed++;
    }
    rc = SHELF_OK;
out:
    if (packs_indexed)
        *packs_indexed = added;
    if (index_removed)
        *index_removed = removed;
    flist_free(&idx);
    flist_free(&packs);
    shelf__buf_release(&raw);
    shelf__buf_release(&plain);
    shelf__repo_unlock(r);
    return rc;
}
