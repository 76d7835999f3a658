/*
 * restore.c: restore a snapshot into an empty folder (a whole library) or
 * into the open library (everything, or chosen samples, patches and
 * projects), with a preview, conflict policies and the audit log.
 *
 * Live restores read the snapshot's catalog from a temporary library in
 * LIBRARY/cache/restore-PID/ (attached to the live catalog as "snap" to copy
 * rows).  Files are written to a temp file beside the target, checked
 * against their SHA-256, then renamed into place; each item's catalog
 * changes and its audit entry are one transaction.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <zstd.h>
#include "backup_int.h"
#include "../catalog/catalog_int.h"

typedef struct rst {
    shelf_repo *r;
    shelf_library *lib;        /* live library, or NULL with to */
    shelf_library *snaplib;    /* the snapshot's catalog as a library */
    const shelf_restore_opts *o;
    shelf_restore_stats *st;
    json_t *snap, *tree;
    json_t *by_path;           /* path -> tree item */
    char snapid[65];
    int policy;                /* current conflict policy */
    int first_rc;
    char *cols;                /* samples columns except id, root_id */
    int nospace;               /* restore --to: the target filled up; stop */
    int resume;                /* restore --to: finishing a restore that stopped */
} rst;

static void report(rst *s, int action, int kind, int64_t id, const char *name, const char *path,
                   uint64_t size, const char *detail)
{
    shelf_restore_item it;

    switch (action) {
    case SHELF_RESTORE_CREATE: s->st->created++; break;
    case SHELF_RESTORE_OVERWRITE: s->st->overwritten++; break;
    case SHELF_RESTORE_KEEP_BOTH: s->st->kept_both++; break;
    case SHELF_RESTORE_SKIP: s->st->skipped++; break;
    case SHELF_RESTORE_SAME: s->st->same++; break;
    default: s->st->failed++; break;
    }
    if (action == SHELF_RESTORE_CREATE || action == SHELF_RESTORE_OVERWRITE ||
        action == SHELF_RESTORE_KEEP_BOTH)
        s->st->bytes += size;
    if (!s->o->on_item)
        return;
    it.action = action;
    it.kind = kind;
    it.id = id;
    it.name = name ? name : "";
    it.path = path ? path : "";
    it.size = size;
    it.detail = detail ? detail : "";
    /* the conflicts' details are this file's own (conflict_detail and
     * the two beside it), all "conflict: ..." */
    it.conflict = !strncmp(it.detail, "conflict:", 9);
    s->o->on_item(s->o->ud, &it);
}

static void fail_item(rst *s, int rc, int kind, int64_t id, const char *name, const char *path)
{
    if (s->first_rc == SHELF_OK)
        s->first_rc = rc;
    report(s, SHELF_RESTORE_FAILED, kind, id, name, path, 0, s->r->err.msg);
}

/* Write the file of tree item it to path: temp file beside it, chunks
 * checked (each chunk against its id, the whole against its size), mtime
 * set, renamed into place (replace: may replace an existing file).  sync:
 * fsync the file and its folder (else the caller syncs once at the end).
 * Sets r->err on failure. */
static int write_item(shelf_repo *r, json_t *it, const char *path, int replace, int mode, int sync)
{
    shelf__buf blob = SHELF__BUF_INIT;
    char *tmp = NULL, *dir = NULL, *slash;
    uint8_t id[SHELF_HASH_BYTES];
    uint64_t total = 0;
    int fd = -1, rc = SHELF_OK, e;
    json_t *v;
    size_t i;

    if (!(dir = shelf__strdup(path)) || !(slash = strrchr(dir, '/'))) {
        rc = shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    *slash = '\0';
    if (*dir && (e = shelf__mkdirs(dir, 0777)) != 0) {
        rc = shelf__seterr_errno(&r->err, e, "cannot create '%s'", dir);
        goto out;
    }
    if (!(tmp = shelf__asprintf("%s/.shelf-restore-XXXXXX", *dir ? dir : "/"))) {
        rc = shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    if ((fd = mkstemp(tmp)) < 0) {
        rc = shelf__seterr_errno(&r->err, errno, "cannot write to '%s'", dir);
        tmp[0] = '\0';
        goto out;
    }
    json_array_foreach(json_object_get(it, "chunks"), i, v) {
        if (shelf__unhex(json_string_value(v), id, sizeof id) != SHELF_OK) {
            rc = shelf__seterr(&r->err, SHELF_ECORRUPT, "snapshot tree is damaged");
            goto out;
        }
        if ((rc = shelf__blob_read(r, id, &blob)) != SHELF_OK)
            goto out;
        total += blob.len;
        if ((e = shelf__write_all(fd, blob.buf, blob.len)) != 0) {
            rc = shelf__seterr_errno(&r->err, e, "cannot write '%s'", path);
            goto out;
        }
    }
    /* Each chunk matched its id, and the tree (authenticated) lists them:
     * the file is what was backed up when its size is. */
    if (total != (uint64_t)json_integer_value(json_object_get(it, "size"))) {
        rc = shelf__seterr(&r->err, SHELF_ECORRUPT, "restored '%s' does not have its size", path);
        goto out;
    }
    if (json_object_get(it, "mtime_ns")) {
        json_int_t ns = json_integer_value(json_object_get(it, "mtime_ns"));
        struct timespec ts[2];

        ts[0].tv_sec = 0;
        ts[0].tv_nsec = UTIME_OMIT;
        ts[1].tv_sec = (time_t)(ns / 1000000000);
        ts[1].tv_nsec = (long)(ns % 1000000000);
        if (futimens(fd, ts) != 0) {
            rc = shelf__seterr_errno(&r->err, errno, "cannot set the time of '%s'", path);
            goto out;
        }
    }
    if (fchmod(fd, (mode_t)mode) != 0) {
        rc = shelf__seterr_errno(&r->err, errno, "cannot set the mode of '%s'", path);
        goto out;
    }
    if ((sync && fsync(fd) != 0) || close(fd) != 0) {
        fd = -1;
        rc = shelf__seterr_errno(&r->err, errno, "cannot write '%s'", path);
        goto out;
    }
    fd = -1;
    if (replace ? rename(tmp, path) != 0
                : renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) != 0) {
        rc = shelf__seterr_errno(&r->err, errno, "cannot create '%s'", path);
        goto out;
    }
    tmp[0] = '\0';
    if (sync && (e = shelf__fsync_dir(*dir ? dir : "/")) != 0)
        rc = shelf__seterr_errno(&r->err, e, "cannot write '%s'", *dir ? dir : "/");
out:
    if (fd >= 0)
        close(fd);
    if (tmp && tmp[0])
        unlink(tmp);
    shelf_free(tmp);
    shelf_free(dir);
    shelf__buf_release(&blob);
    return rc;
}

/* Create the folders of dest's parent inside base without following a
 * symbolic link below base, so nothing a snapshot names is written outside
 * it (base NULL: a sample going back to its original path).  Sets r->err. */
static int make_parent(shelf_repo *r, const char *base, const char *dest)
{
    char *dir = shelf__strdup(dest), *slash;
    int e = 0;

    if (!dir)
        return shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
    if (base && (slash = strrchr(dir, '/')) != NULL) {
        struct stat sb;

        *slash = '\0';
        if (stat(base, &sb) != 0 && errno == ENOENT)
            e = shelf__mkdirs(base, 0777);     /* a sample folder that was lost */
        if (!e)
            e = shelf__mkdirs_beneath(base, dir, 0777);
    }
    shelf_free(dir);
    if (e == ELOOP || e == ENOTDIR)
        return shelf__seterr(&r->err, SHELF_EPERM,
                             "cannot restore '%s': a folder on its way is a symbolic link or a file", dest);
    if (e == EXDEV || e == EINVAL)
        return shelf__seterr(&r->err, SHELF_ECORRUPT, "cannot restore '%s': it is not inside '%s'", dest, base);
    if (e)
        return shelf__seterr_errno(&r->err, e, "cannot create the folder of '%s'", dest);
    return SHELF_OK;
}

/* ---- whole library into an empty folder ---- */

static int dir_empty(const char *path)
{
    struct stat sb;
    struct dirent *de;
    int empty = 1;
    DIR *d;

    if (stat(path, &sb) != 0)
        return errno == ENOENT;
    if (!S_ISDIR(sb.st_mode) || !(d = opendir(path)))
        return 0;
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            empty = 0;
    closedir(d);
    return empty;
}

static int audit(shelf_library *lib, int kind, int64_t id, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int audit(shelf_library *lib, int kind, int64_t id, const char *fmt, ...)
{
    sqlite3_stmt *st = shelf__prepare(lib,
        "INSERT INTO main.audit_log(time, action, kind, item_id, detail) VALUES(?1, 'restore', ?2, ?3, ?4)");
    char detail[1024];
    va_list ap;
    int rc = SHELF_OK;

    if (!st)
        return SHELF_EDB;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    sqlite3_bind_int64(st, 1, shelf__now());
    if (kind)
        sqlite3_bind_int(st, 2, kind);
    if (id)
        sqlite3_bind_int64(st, 3, id);
    sqlite3_bind_text(st, 4, detail, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = shelf__dberr(lib, "cannot write the audit log");
    sqlite3_finalize(st);
    return rc;
}

/*
 * Restore into a folder with worker threads: the calling thread looks
 * chunks up and groups those that lie one after the other in one pack (up
 * to GROUP_BYTES) into one job, so a group is one ranged read; workers load
 * the group (on the worker's own backend handle, so up to
 * shelf_repo_opts.connections reads are in flight at once), decrypt,
 * decompress and check each chunk; the calling thread writes the chunks in
 * order and finishes each file when its last chunk is written.  A backend
 * without dup loads on the calling thread instead (one read at a time).
 */
#define RJOBS 64                    /* the most slots the ring uses */
#define GMAX 32                     /* chunks in one job */
#define GROUP_BYTES (2u << 20)      /* a job's read, unless one chunk is larger */

typedef struct rfile {
    json_t *it;
    char *dest, *tmp;
    int fd, kind, mode, replace, action, rc;
    int64_t id;
    uint64_t size, total;
    size_t remaining;
    char err[512];
} rfile;

typedef struct rpool rpool;

/* One chunk of a job: where it is in the pack, and its bytes in the job's
 * plain buffer once checked. */
typedef struct rchunk {
    rfile *f;
    uint8_t id[SHELF_HASH_BYTES];
    uint32_t off, len, raw;
    int flags, rc;
    size_t poff, plen;
} rchunk;

typedef struct rjob {
    rpool *p;
    char name[SHELF__NAME_MAX];     /* the pack */
    uint32_t off, len;              /* the range read: the chunks, one after the other */
    int n, rc, load, lookup_failed;
    uint64_t ticket;
    rchunk c[GMAX];
    shelf__buf sealed, plain;
    char err[256];                  /* why the load failed */
} rjob;

/* Per worker: decrypt and decompress contexts and their buffers. */
typedef struct rworker {
    EVP_CIPHER_CTX *ctx;
    ZSTD_DCtx *zd;
    shelf__buf dec, unz;
} rworker;

/* Up to window jobs in flight through the common pool, finished in order
 * by the calling thread; job open (not yet queued) takes the next chunks
 * that continue it.  Workers load on their own backend handles (rd). */
struct rpool {
    rst *s;
    shelf__pool *pool;
    int nw;
    rworker *w;
    shelf__readers rd;
    int started;                    /* rd is open */
    size_t window, ring;            /* jobs queued at most; slots used (window + 1) */
    rjob jobs[RJOBS];
    size_t head, tail;              /* queued jobs: [head, tail) */
    rjob *open;                     /* jobs[tail % ring] while it takes chunks, or NULL */
};

/* Decrypt, decompress and check chunk c of job j into j->plain. */
static int rchunk_work(rpool *p, rjob *j, rchunk *c, rworker *w)
{
    shelf_repo *r = p->s->r;
    const shelf__buf *data = &w->dec;
    uint8_t got[SHELF_HASH_BYTES];

    if (shelf__open_sealed_with(r, w->ctx, (uint8_t *)j->sealed.buf + (c->off - j->off), c->len,
                                &w->dec) != SHELF_OK)
        return SHELF_ECORRUPT;
    if (c->flags & SHELF__BLOB_ZSTD) {
        size_t z;

        shelf__buf_reset(&w->unz);
        if (shelf__buf_grow(&w->unz, c->raw) != SHELF_OK)
            return SHELF_ENOMEM;
        z = ZSTD_decompressDCtx(w->zd, w->unz.buf, c->raw, w->dec.buf, w->dec.len);
        if (ZSTD_isError(z) || z != c->raw)
            return SHELF_ECORRUPT;
        w->unz.len = z;
        data = &w->unz;
    }
    shelf__sha256_mem(data->buf, data->len, got);
    if (memcmp(got, c->id, SHELF_HASH_BYTES) != 0 || data->len != c->raw)
        return SHELF_ECORRUPT;
    c->poff = j->plain.len;
    c->plen = data->len;
    return shelf__buf_add(&j->plain, data->buf, data->len);
}

/* A pool item (on a pool thread): load job j (when asked), then decrypt,
 * decompress and check each of its chunks. */
static void rjob_run(void *arg, size_t item, int worker)
{
    rjob *j = arg;
    rpool *p = j->p;
    rworker *w = &p->w[worker];
    int i;

    (void)item;
    if (j->rc != SHELF_OK)
        return;     /* failed before it was queued */
    if (j->load && (j->rc = shelf__readers_load(&p->rd, worker, j->name, j->off, j->len, &j->sealed,
                                                j->err, sizeof j->err)) != SHELF_OK) {
        if (j->rc == SHELF_ENOTFOUND)
            j->rc = SHELF_ECORRUPT;
        return;
    }
    if (!w->ctx || !w->zd) {
        j->rc = SHELF_ENOMEM;
        return;
    }
    if (j->sealed.len != j->len) {
        j->rc = SHELF_ECORRUPT;
        return;
    }
    shelf__buf_reset(&j->plain);
    for (i = 0; i < j->n; i++)
        j->c[i].rc = rchunk_work(p, j, &j->c[i], w);
}

/* Close f: check its size, set its time and mode, rename it into place. */
static void rfile_finish(rst *s, rfile *f)
{
    const char *path = json_string_value(json_object_get(f->it, "path"));

    if (f->rc == SHELF_OK && f->total != f->size) {
        f->rc = SHELF_ECORRUPT;
        snprintf(f->err, sizeof f->err, "restored '%s' does not have its size", f->dest);
    }
    if (f->fd >= 0) {
        if (json_object_get(f->it, "mtime_ns")) {
            json_int_t ns = json_integer_value(json_object_get(f->it, "mtime_ns"));
            struct timespec ts[2];

            ts[0].tv_sec = 0;
            ts[0].tv_nsec = UTIME_OMIT;
            ts[1].tv_sec = (time_t)(ns / 1000000000);
            ts[1].tv_nsec = (long)(ns % 1000000000);
            if (futimens(f->fd, ts) != 0 && f->rc == SHELF_OK) {
                f->rc = shelf__errno_rc(errno);
                snprintf(f->err, sizeof f->err, "cannot set the time of '%s': %s", f->dest,
                         shelf__errno_str(errno));
            }
        }
        if (fchmod(f->fd, (mode_t)f->mode) != 0 && f->rc == SHELF_OK) {
            f->rc = shelf__errno_rc(errno);
            snprintf(f->err, sizeof f->err, "cannot set the mode of '%s': %s", f->dest, shelf__errno_str(errno));
        }
        if (close(f->fd) != 0 && f->rc == SHELF_OK) {
            if (errno == ENOSPC || errno == EDQUOT)
                s->nospace = 1;
            f->rc = shelf__errno_rc(errno);
            snprintf(f->err, sizeof f->err, "cannot write '%s': %s", f->dest, shelf__errno_str(errno));
        }
        f->fd = -1;
    }
    if (f->rc == SHELF_OK && (f->replace ? rename(f->tmp, f->dest) != 0
                              : renameat2(AT_FDCWD, f->tmp, AT_FDCWD, f->dest, RENAME_NOREPLACE) != 0)) {
        f->rc = shelf__errno_rc(errno);
        snprintf(f->err, sizeof f->err, "cannot create '%s': %s", f->dest, shelf__errno_str(errno));
    }
    if (f->rc != SHELF_OK) {
        if (f->tmp)
            unlink(f->tmp);
        shelf__seterr(&s->r->err, f->rc, "%s", f->err);
        fail_item(s, f->rc, f->kind, f->id, path, f->dest);
    } else {
        report(s, f->action, f->kind, f->id, path, f->dest, f->size, NULL);
    }
    shelf_free(f->dest);
    shelf_free(f->tmp);
    shelf_free(f);
}

/* Write the oldest job's chunks, waiting for it. */
static void rpool_complete(rpool *p)
{
    rjob *j = &p->jobs[p->head % p->ring];
    int i;

    shelf__pool_wait(p->pool, j->ticket);
    p->head++;
    for (i = 0; i < j->n; i++) {
        rchunk *c = &j->c[i];
        rfile *f = c->f;
        int rc = j->rc != SHELF_OK ? j->rc : c->rc;

        if (f->rc == SHELF_OK && rc != SHELF_OK) {
            f->rc = rc;
            if (rc == SHELF_ECORRUPT || !j->err[0])
                snprintf(f->err, sizeof f->err, "a chunk of '%s' is damaged", f->dest);
            else
                snprintf(f->err, sizeof f->err, "cannot read a chunk of '%s': %s", f->dest, j->err);
        }
        if (f->rc == SHELF_OK) {
            int e = shelf__write_all(f->fd, (uint8_t *)j->plain.buf + c->poff, c->plen);

            if (e != 0) {
                if (e == ENOSPC || e == EDQUOT)
                    p->s->nospace = 1;
                f->rc = shelf__errno_rc(e);
                snprintf(f->err, sizeof f->err, "cannot write '%s': %s", f->dest, shelf__errno_str(e));
            } else {
                f->total += c->plen;
            }
        }
        if (--f->remaining == 0)
            rfile_finish(p->s, f);
    }
}

/* Queue the open job: a worker loads it, or (no handles of its own) it is
 * loaded here. */
static void rpool_flush(rpool *p)
{
    rjob *j = p->open;

    if (!j)
        return;
    p->open = NULL;
    if (j->rc == SHELF_OK && !j->load) {
        int rc = shelf__be_load(p->s->r->be, j->name, j->off, j->len, &j->sealed);

        if (rc != SHELF_OK) {
            snprintf(j->err, sizeof j->err, "%.255s", p->s->r->be->err.msg);
            j->rc = rc == SHELF_ENOTFOUND ? SHELF_ECORRUPT : rc;
        }
    }
    j->ticket = shelf__pool_submit(p->pool, rjob_run, j, 1);
    p->tail++;
}

/* Add one chunk of f: to the open job when it continues it in the same
 * pack, else to a new one. */
static void rpool_submit(rpool *p, rfile *f, const uint8_t id[SHELF_HASH_BYTES])
{
    shelf__blobloc loc;
    char name[SHELF__NAME_MAX];
    rjob *j = p->open;
    rchunk *c;
    int rc;

    memset(&loc, 0, sizeof loc);
    name[0] = '\0';
    if ((rc = shelf__index_find(p->s->r, id, NULL, 0, &loc)) == SHELF_OK)
        shelf__pack_name(loc.pack, name);
    if (j && (rc != SHELF_OK || j->lookup_failed || j->n == GMAX || strcmp(j->name, name) != 0 ||
              loc.off != j->off + j->len || j->len + (uint64_t)loc.len > GROUP_BYTES)) {
        rpool_flush(p);
        j = NULL;
    }
    if (!j) {
        if (p->tail - p->head == p->window)
            rpool_complete(p);
        j = p->open = &p->jobs[p->tail % p->ring];
        j->p = p;
        j->n = 0;
        j->rc = SHELF_OK;
        j->load = p->rd.n > 0;
        j->lookup_failed = rc != SHELF_OK;
        j->err[0] = '\0';
        snprintf(j->name, sizeof j->name, "%s", name);
        j->off = loc.off;
        j->len = 0;
        shelf__buf_reset(&j->sealed);
        if (rc != SHELF_OK) {
            j->rc = rc == SHELF_ENOTFOUND ? SHELF_ECORRUPT : rc;
            j->load = 0;
        }
    }
    c = &j->c[j->n++];
    c->f = f;
    memcpy(c->id, id, SHELF_HASH_BYTES);
    c->off = loc.off;
    c->len = loc.len;
    c->raw = loc.raw;
    c->flags = loc.flags;
    c->rc = SHELF_OK;
    c->poff = c->plen = 0;
    j->len += loc.len;
}

static void rpool_stop(rpool *p);

/* Workers: one per CPU (at most 4) for decrypting, and at least one per
 * connection (shelf_repo_opts.connections) for loading. */
static int rpool_start(rpool *p, rst *s)
{
    shelf_repo *r = s->r;
    int i, n = shelf__repo_read_workers(r);

    memset(p, 0, sizeof *p);
    p->s = s;
    /* A job per worker and one more waiting; one slot of the ring stays
     * for the open job. */
    p->window = (size_t)n + 1 < RJOBS - 1 ? (size_t)n + 1 : RJOBS - 1;
    p->ring = p->window + 1;
    if (!(p->pool = shelf__pool_new(n, (int)p->window)))
        goto nomem;
    p->nw = shelf__pool_threads(p->pool);
    shelf__readers_open(r, &p->rd, p->nw);
    p->started = 1;
    if (!(p->w = shelf__calloc((size_t)p->nw, sizeof *p->w)))
        goto nomem;
    for (i = 0; i < p->nw; i++) {
        p->w[i].ctx = EVP_CIPHER_CTX_new();
        p->w[i].zd = ZSTD_createDCtx();
    }
    return SHELF_OK;
nomem:
    rpool_stop(p);
    return shelf__seterr(&s->r->err, SHELF_ENOMEM, "out of memory");
}

static void rpool_stop(rpool *p)
{
    int i;

    if (p->pool)
        rpool_flush(p);
    while (p->head != p->tail)
        rpool_complete(p);
    shelf__pool_free(p->pool);
    p->pool = NULL;
    if (p->started)
        shelf__readers_close(p->s->r, &p->rd);
    p->started = 0;
    for (i = 0; p->w && i < p->nw; i++) {
        EVP_CIPHER_CTX_free(p->w[i].ctx);
        ZSTD_freeDCtx(p->w[i].zd);
        shelf__buf_release(&p->w[i].dec);
        shelf__buf_release(&p->w[i].unz);
    }
    shelf_free(p->w);
    p->w = NULL;
    for (i = 0; i < RJOBS; i++) {
        shelf__buf_release(&p->jobs[i].sealed);
        shelf__buf_release(&p->jobs[i].plain);
    }
}

/* Start restoring tree item it to dest through the pool (dest taken). */
static void rfile_start(rpool *p, json_t *it, char *dest, int kind, int action, int mode)
{
    rst *s = p->s;
    rfile *f = shelf__calloc(1, sizeof *f);
    json_t *chunks = json_object_get(it, "chunks"), *v;
    char *slash;
    size_t i;
    int e;

    if (!f) {
        shelf__seterr(&s->r->err, SHELF_ENOMEM, "out of memory");
        fail_item(s, SHELF_ENOMEM, kind, 0, "", dest);
        shelf_free(dest);
        return;
    }
    f->it = it;
    f->dest = dest;
    f->fd = -1;
    f->kind = kind;
    f->action = action;
    f->mode = mode;
    f->replace = action == SHELF_RESTORE_OVERWRITE;
    f->id = json_integer_value(json_object_get(it, "id"));
    f->size = (uint64_t)json_integer_value(json_object_get(it, "size"));
    if ((slash = strrchr(dest, '/')) != NULL) {
        *slash = '\0';
        if (*dest && (e = shelf__mkdirs(dest, 0777)) != 0) {
            f->rc = shelf__errno_rc(e);
            snprintf(f->err, sizeof f->err, "cannot create '%s': %s", dest, shelf__errno_str(e));
        }
        f->tmp = shelf__asprintf("%s/.shelf-restore-XXXXXX", *dest ? dest : "");
        *slash = '/';
    }
    if (f->rc == SHELF_OK && (!f->tmp || (f->fd = mkstemp(f->tmp)) < 0)) {
        if (f->tmp && (errno == ENOSPC || errno == EDQUOT))
            s->nospace = 1;
        f->rc = f->tmp ? shelf__errno_rc(errno) : SHELF_ENOMEM;
        snprintf(f->err, sizeof f->err, "cannot write '%s': %s", dest,
                 f->tmp ? shelf__errno_str(errno) : "out of memory");
        shelf_free(f->tmp);
        f->tmp = NULL;
    }
    f->remaining = json_array_size(chunks);
    if (f->rc != SHELF_OK || f->remaining == 0) {
        f->remaining = 0;
        rfile_finish(s, f);
        return;
    }
    json_array_foreach(chunks, i, v) {
        uint8_t id[SHELF_HASH_BYTES];

        memset(id, 0, sizeof id);
        shelf__unhex(json_string_value(v), id, sizeof id);
        rpool_submit(p, f, id);     /* f may be finished (and freed) by the last */
    }
}

/* A restore into a folder writes this file first and removes it when
 * everything was restored: a run that stopped (a full disk, a crash) can be
 * run again into the same folder and goes on where it stopped. */
#define RESUME_MARK ".shelf-restore"

static int file_has(const char *path, const char *hex);

static char *mark_read(const char *path)
{
    char buf[80];
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return NULL;
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return shelf__strdup("");
    buf[n] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    return shelf__strdup(buf);
}

/* An empty folder (marked as a restore of this snapshot), or the folder of
 * a restore of this snapshot that stopped (s->resume). */
static int to_prepare(rst *s)
{
    const char *to = s->o->to;
    char *mark = shelf__path_join(to, RESUME_MARK), *had = NULL;
    int rc = SHELF_OK, fd = -1, e;

    if (!mark)
        return shelf__seterr(&s->r->err, SHELF_ENOMEM, "out of memory");
    if (!dir_empty(to)) {
        if (!(had = mark_read(mark)))
            rc = shelf__seterr(&s->r->err, SHELF_EEXIST, "cannot restore into '%s': not empty", to);
        else if (strcmp(had, s->snapid) != 0)
            rc = shelf__seterr(&s->r->err, SHELF_EEXIST, "cannot restore into '%s': it holds an "
                               "unfinished restore of snapshot %.12s (run that one again to finish it, "
                               "or use an empty folder)", to, had);
        else
            s->resume = 1;
        goto out;
    }
    if (s->o->preview)
        goto out;
    if ((e = shelf__mkdirs(to, 0777)) != 0) {
        rc = shelf__seterr_errno(&s->r->err, e, "cannot create '%s'", to);
        goto out;
    }
    if ((fd = open(mark, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0 ||
        write(fd, s->snapid, strlen(s->snapid)) != (ssize_t)strlen(s->snapid) || write(fd, "\n", 1) != 1) {
        rc = shelf__seterr_errno(&s->r->err, errno, "cannot write '%s'", mark);
        goto out;
    }
out:
    if (fd >= 0 && close(fd) != 0 && rc == SHELF_OK)
        rc = shelf__seterr_errno(&s->r->err, errno, "cannot write '%s'", mark);
    shelf_free(mark);
    shelf_free(had);
    return rc;
}

/* Resuming: what to do with item it at dest.  A file there is one the
 * stopped run finished (files are renamed into place once whole and
 * checked) unless its size differs; the catalog is always written again
 * (its roots are moved again below). */
static int to_resumed(rst *s, json_t *it, int kind, const char *dest)
{
    struct stat sb;

    if (lstat(dest, &sb) != 0)
        return SHELF_RESTORE_CREATE;
    if (kind == SHELF_ITEM_CATALOG) {
        if (!s->o->preview) {
            char *wal = shelf__asprintf("%s-wal", dest), *shm = shelf__asprintf("%s-shm", dest);

            if (wal)
                unlink(wal);
            if (shm)
                unlink(shm);
            shelf_free(wal);
            shelf_free(shm);
        }
        return SHELF_RESTORE_OVERWRITE;
    }
    if (S_ISREG(sb.st_mode) &&
        (uint64_t)sb.st_size == (uint64_t)json_integer_value(json_object_get(it, "size")))
        return SHELF_RESTORE_SAME;
    return SHELF_RESTORE_OVERWRITE;
}

/* Everything is restored: the folder is a library, no longer a restore. */
static void to_done(rst *s)
{
    char *mark = shelf__path_join(s->o->to, RESUME_MARK);

    if (mark)
        unlink(mark);
    shelf_free(mark);
}

static int restore_to(rst *s)
{
    const char *to = s->o->to;
    json_t *it;
    size_t i;
    char *db = NULL;
    int rc = SHELF_OK, started = 0;
    rpool pool;

    if ((rc = to_prepare(s)) != SHELF_OK)
        return rc;
    json_array_foreach(json_object_get(s->tree, "items"), i, it) {
        const char *t = json_string_value(json_object_get(it, "t"));
        const char *path = json_string_value(json_object_get(it, "path"));
        uint64_t size = (uint64_t)json_integer_value(json_object_get(it, "size"));
        int kind = !strcmp(t, "catalog") ? SHELF_ITEM_CATALOG : !strcmp(t, "config") ? SHELF_ITEM_CONFIG :
                   !strcmp(t, "object") ? SHELF_ITEM_OBJECT : SHELF_ITEM_SAMPLE;
        int64_t id = json_integer_value(json_object_get(it, "id"));
        char *dest;
        int action = SHELF_RESTORE_CREATE;
        struct stat sb;

        if (kind == SHELF_ITEM_SAMPLE) {
            /* The tree holds the path's text (shelf_name_escape). */
            char *raw = NULL;

            dest = NULL;
            if (shelf_name_unescape(path, &raw) == SHELF_EINVAL)
                return shelf__seterr(&s->r->err, SHELF_ECORRUPT,
                                     "snapshot item '%s': a NUL byte in its path", path);
            if (raw)
                dest = s->o->files_to_original ? shelf__strdup(raw) : shelf__asprintf("%s/files%s", to, raw);
            shelf_free(raw);
        } else {
            dest = shelf__path_join(to, path);
        }
        if (!dest)
            return shelf__seterr(&s->r->err, SHELF_ENOMEM, "out of memory");
        if (!s->o->preview &&
            (rc = make_parent(s->r, kind == SHELF_ITEM_SAMPLE && s->o->files_to_original ? NULL : to,
                              dest)) != SHELF_OK) {
            fail_item(s, rc, kind, id, path, dest);
            shelf_free(dest);
            rc = SHELF_OK;
            continue;
        }
        if (kind == SHELF_ITEM_SAMPLE && s->o->files_to_original && stat(dest, &sb) == 0)
            action = file_has(dest, json_string_value(json_object_get(it, "sha256"))) ? SHELF_RESTORE_SAME
                   : s->policy == SHELF_CONFLICT_OVERWRITE ? SHELF_RESTORE_OVERWRITE : SHELF_RESTORE_SKIP;
        else if (s->resume)
            action = to_resumed(s, it, kind, dest);
        if (s->nospace) {
            shelf_free(dest);
            break;      /* the target is full: what is left waits for the resumed run */
        }
        if (!s->o->preview && action != SHELF_RESTORE_SKIP && action != SHELF_RESTORE_SAME) {
            if (!started) {
                if ((rc = rpool_start(&pool, s)) != SHELF_OK) {
                    shelf_free(dest);
                    return rc;
                }
                started = 1;
            }
            rfile_start(&pool, it, dest, kind, action, kind == SHELF_ITEM_OBJECT ? 0444 : 0644);
            continue;
        }
        report(s, action, kind, id, path, dest, size,
               action == SHELF_RESTORE_SKIP ? "a file is there" : NULL);
        shelf_free(dest);
    }
    if (started)
        rpool_stop(&pool);
    if (s->o->preview)
        return s->first_rc;
    {
        /* One sync for the whole folder instead of one per file. */
        int fd = open(to, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (fd >= 0) {
            syncfs(fd);
            close(fd);
        }
        if (s->o->files_to_original)
            sync();
    }
    if (s->nospace) {
        /* The catalog's roots are moved by the run that finishes. */
        char why[sizeof s->r->err.msg];

        snprintf(why, sizeof why, "%s", s->r->err.msg);
        return shelf__seterr(&s->r->err, SHELF_EIO, "%s; make room and run the same restore again: "
                             "it goes on where it stopped", why);
    }
    if (!(db = shelf__path_join(to, "shelf.db")))
        return shelf__seterr(&s->r->err, SHELF_ENOMEM, "out of memory");
    if (!s->o->files_to_original && access(db, F_OK) == 0) {
        /* The catalog's roots move under TO/files, where the files are. */
        sqlite3 *h = NULL;
        sqlite3_stmt *st = NULL;
        char *files = shelf__asprintf("%s/files", to);
        char *abs = files ? shelf__path_abs(files) : NULL;

        if (abs && sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK &&
            sqlite3_prepare_v2(h, "UPDATE roots SET path = ?1 || CASE WHEN path = '/' THEN '' ELSE path END",
                               -1, &st, NULL) == SQLITE_OK) {
            sqlite3_bind_text(st, 1, abs, -1, SQLITE_STATIC);
            if (sqlite3_step(st) != SQLITE_DONE)
                rc = sqlite3_errcode(h) == SQLITE_FULL
                   ? shelf__seterr(&s->r->err, SHELF_EIO, "cannot move the roots of '%s': no space left "
                                   "on device; make room and run the same restore again: it goes on "
                                   "where it stopped", db)
                   : shelf__seterr(&s->r->err, SHELF_EDB, "cannot move the roots of '%s': %s", db,
                                   sqlite3_errmsg(h));
        } else {
            rc = shelf__seterr(&s->r->err, SHELF_EDB, "cannot open '%s'", db);
        }
        sqlite3_finalize(st);
        if (h)
            sqlite3_close(h);
        shelf_free(files);
        shelf_free(abs);
    }
    if (rc == SHELF_OK && access(db, F_OK) == 0) {
        shelf_library *nl = NULL;

        if ((rc = shelf_library_open(to, 0, &nl, NULL)) != SHELF_OK) {
            rc = shelf__seterr(&s->r->err, rc, "cannot open the restored library '%s'", to);
        } else {
            if ((rc = audit(nl, 0, 0, "whole library from snapshot %.12s of %s", s->snapid,
                            json_string_value(json_object_get(s->snap, "device")))) != SHELF_OK)
                shelf__seterr(&s->r->err, rc, "%s", shelf_errmsg(nl));
            shelf_library_close(nl);
        }
    }
    shelf_free(db);
    if (rc == SHELF_OK && s->first_rc == SHELF_OK)
        to_done(s);
    return rc != SHELF_OK ? rc : s->first_rc;
}

/* ---- into the live library ---- */

/* Copy an item's tags, rating and favourite from the snapshot (its rating
 * replaces the library's unless keep_rating). */
static int copy_meta_as(shelf_library *lib, int kind, int64_t from, int64_t to, int keep_rating)
{
    static const char *const sql[] = {
        "INSERT OR IGNORE INTO main.tags(name) SELECT t.name FROM snap.tag_items ti\n"
        " JOIN snap.tags t ON t.id = ti.tag_id WHERE ti.kind = ?1 AND ti.item_id = ?2",
        "INSERT OR IGNORE INTO main.tag_items(tag_id, kind, item_id) SELECT mt.id, ?1, ?3\n"
        " FROM snap.tag_items ti JOIN snap.tags t ON t.id = ti.tag_id\n"
        " JOIN main.tags mt ON mt.name = t.name WHERE ti.kind = ?1 AND ti.item_id = ?2",
        "INSERT OR REPLACE INTO main.ratings(kind, item_id, rating) SELECT kind, ?3, rating\n"
        " FROM snap.ratings WHERE kind = ?1 AND item_id = ?2 AND NOT (?4 AND EXISTS\n"
        "  (SELECT 1 FROM main.ratings WHERE kind = ?1 AND item_id = ?3))",
        "INSERT OR IGNORE INTO main.favourites(kind, item_id, added) SELECT kind, ?3, added\n"
        " FROM snap.favourites WHERE kind = ?1 AND item_id = ?2"
    };
    size_t i;

    for (i = 0; i < sizeof sql / sizeof *sql; i++) {
        sqlite3_stmt *st = shelf__prepare(lib, sql[i]);
        int s;

        if (!st)
            return SHELF_EDB;
        sqlite3_bind_int(st, 1, kind);
        sqlite3_bind_int64(st, 2, from);
        sqlite3_bind_int64(st, 3, to);
        if (sqlite3_bind_parameter_count(st) >= 4)
            sqlite3_bind_int(st, 4, keep_rating);
        s = sqlite3_step(st);
        sqlite3_finalize(st);
        if (s != SQLITE_DONE)
            return shelf__dberr(lib, "cannot copy tags and ratings");
    }
    return SHELF_OK;
}

/* What happens to a restored sample's tags, rating and favourite. */
enum {
    META_COPY = 0,      /* the snapshot's are added (a new row; as before) */
    META_NONE = 1,      /* the library's stay as they are */
    META_REPLACE = 2,   /* they become the snapshot's */
    META_UNION = 3      /* the snapshot's tags and favourite are added, the library's rating stays */
};

static int apply_meta(shelf_library *lib, int kind, int64_t from, int64_t to, int mode)
{
    static const char *const clear[] = {
        "DELETE FROM main.tag_items WHERE kind = ?1 AND item_id = ?2",
        "DELETE FROM main.ratings WHERE kind = ?1 AND item_id = ?2",
        "DELETE FROM main.favourites WHERE kind = ?1 AND item_id = ?2"
    };
    size_t i;

    if (mode == META_NONE)
        return SHELF_OK;
    for (i = 0; mode == META_REPLACE && i < sizeof clear / sizeof *clear; i++) {
        sqlite3_stmt *st = shelf__prepare(lib, clear[i]);
        int s;

        if (!st)
            return SHELF_EDB;
        sqlite3_bind_int(st, 1, kind);
        sqlite3_bind_int64(st, 2, to);
        s = sqlite3_step(st);
        sqlite3_finalize(st);
        if (s != SQLITE_DONE)
            return shelf__dberr(lib, "cannot replace tags and ratings");
    }
    return copy_meta_as(lib, kind, from, to, mode == META_UNION);
}

/* One side's tags (sorted, space-separated), rating and favourite of an
 * item, as text for a restore's detail: "tags 'a b', rating 3, favourite". */
static int meta_text(shelf_library *lib, const char *db, int kind, int64_t id, char *out, size_t n)
{
    char *sql = shelf__asprintf(
        "SELECT (SELECT group_concat(name, ' ') FROM (SELECT t.name FROM %s.tag_items ti\n"
        "  JOIN %s.tags t ON t.id = ti.tag_id WHERE ti.kind = ?1 AND ti.item_id = ?2 ORDER BY lower(t.name))),\n"
        " (SELECT rating FROM %s.ratings WHERE kind = ?1 AND item_id = ?2),\n"
        " EXISTS (SELECT 1 FROM %s.favourites WHERE kind = ?1 AND item_id = ?2)", db, db, db, db);
    sqlite3_stmt *st = sql ? shelf__prepare(lib, sql) : NULL;
    int rc = SHELF_OK;

    shelf_free(sql);
    if (!st)
        return SHELF_EDB;
    sqlite3_bind_int(st, 1, kind);
    sqlite3_bind_int64(st, 2, id);
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *tags = (const char *)sqlite3_column_text(st, 0);

        snprintf(out, n, "tags '%s', %s%.0d, %s", tags ? tags : "",
                 sqlite3_column_type(st, 1) == SQLITE_NULL ? "no rating" : "rating ",
                 sqlite3_column_int(st, 1), sqlite3_column_int(st, 2) ? "favourite" : "not favourite");
    } else {
        rc = shelf__dberr(lib, "cannot read tags and ratings");
    }
    sqlite3_finalize(st);
    return rc;
}

/* 1 when an item's tags, rating or favourite in the library differ from
 * the snapshot's (then detail says how), 0 when they are the same, a
 * SHELF_E code when the catalog cannot say. */
static int meta_differs(shelf_library *lib, int kind, int64_t id, char *detail, size_t n)
{
    char a[160], b[160];
    int rc;

    if ((rc = meta_text(lib, "snap", kind, id, a, sizeof a)) != SHELF_OK ||
        (rc = meta_text(lib, "main", kind, id, b, sizeof b)) != SHELF_OK)
        return rc;
    if (!strcmp(a, b))
        return 0;
    snprintf(detail, n, "snapshot: %s; library: %s", a, b);
    return 1;
}

/* A file at path still has the content of tree item it: the same size and
 * time as when it was backed up, or else the same hash. */
static int file_same(const char *path, const struct stat *sb, json_t *it, const char *sha)
{
    json_t *mt = json_object_get(it, "mtime_ns");

    if ((uint64_t)sb->st_size != (uint64_t)json_integer_value(json_object_get(it, "size")))
        return 0;
    if (mt && (json_int_t)sb->st_mtim.tv_sec * 1000000000 + sb->st_mtim.tv_nsec == json_integer_value(mt))
        return 1;
    return file_has(path, sha);
}

/* The root for abs in the live library (an existing one that holds it, or
 * a new one: the snapshot's root). */
static int live_root(shelf_library *lib, const char *abs, const char *snaproot, int64_t *root,
                     const char **rel)
{
    sqlite3_stmt *st;
    int rc = shelf__root_find(lib, abs, root, rel);

    if (rc != SHELF_ENOTFOUND)
        return rc;
    if (!(st = shelf__prepare(lib, "INSERT OR IGNORE INTO main.roots(path) VALUES(?1)")))
        return SHELF_EDB;
    sqlite3_bind_text(st, 1, snaproot, -1, SQLITE_STATIC);
    rc = sqlite3_step(st) == SQLITE_DONE ? SHELF_OK : shelf__dberr(lib, "cannot add a root");
    sqlite3_finalize(st);
    return rc != SHELF_OK ? rc : shelf__root_find(lib, abs, root, rel);
}

/* Hash a file; 1 when it has the given hex hash. */
static int file_has(const char *path, const char *hex)
{
    uint8_t sum[SHELF_HASH_BYTES], buf[65536];
    char got[SHELF_HASH_HEX];
    uint64_t size;
    int fd = open(path, O_RDONLY | O_CLOEXEC), ok;

    if (fd < 0)
        return 0;
    ok = shelf__sha256_fd(fd, buf, sizeof buf, sum, &size) == 0;
    close(fd);
    if (!ok)
        return 0;
    shelf__hex(sum, sizeof sum, got);
    return !strcmp(got, hex);
}

/* Settle a conflict by the policy (asking when told to). */
static int decide(rst *s, int kind, int64_t id, const char *name, const char *path, uint64_t size,
                  const char *detail)
{
    shelf_restore_item it;
    int a;

    if (s->policy != SHELF_CONFLICT_ASK)
        return s->policy;
    if (s->o->preview || !s->o->ask)
        return SHELF_CONFLICT_ASK;
    memset(&it, 0, sizeof it);
    it.action = SHELF_RESTORE_SKIP;
    it.kind = kind;
    it.id = id;
    it.name = name;
    it.path = path;
    it.size = size;
    it.detail = detail;
    it.conflict = 1;
    a = s->o->ask(s->o->ud, &it);
    if (a & SHELF_RESTORE_ALL)
        s->policy = a & 0xff;
    a &= 0xff;
    return a == SHELF_CONFLICT_OVERWRITE || a == SHELF_CONFLICT_KEEP_BOTH ? a : SHELF_CONFLICT_SKIP;
}

/* "dir/name (restored 2).ext" */
static char *keep_both_name(const char *path, int n)
{
    const char *slash = strrchr(path, '/'), *dot = strrchr(path, '.');

    if (!dot || (slash && dot < slash) || dot == (slash ? slash + 1 : path))
        return shelf__asprintf("%s (restored %d)", path, n);
    return shelf__asprintf("%.*s (restored %d)%s", (int)(dot - path), path, n, dot);
}

/* The audit entry of an item skipped by the policy.  Sets s->r->err. */
static int audit_skip(rst *s, int kind, int64_t id, const char *detail)
{
    const char *what = kind == SHELF__KIND_PATCH ? "patch" : kind == SHELF__KIND_PROJECT ? "project" : "sample";
    int rc = audit(s->lib, kind, id, "skipped %s %lld from snapshot %.12s: %s", what, (long long)id,
                   s->snapid, detail);

    return rc == SHELF_OK ? rc : shelf__seterr(&s->r->err, rc, "%s", s->lib->err.msg);
}

/*
 * The library has the snapshot's version of sample sid: is its file still
 * that version, and are its tags, rating and favourite the snapshot's?  A
 * file changed on disk or other metadata is a conflict settled by the
 * policy; a file that is gone (or a damaged blob) comes back without one.
 * Sets *action (SAME or SKIP: reported here), *need_file and *meta.
 */
static int same_version(rst *s, int64_t sid, const char *name, const char *dest, json_t *it, int blob,
                        const struct stat *sb, uint64_t size, char *detail, size_t n, int *action,
                        int *need_file, int *meta)
{
    const char *sha = json_string_value(json_object_get(it, "sha256"));
    char diff[400] = "";
    int file_ok = sb && (blob ? (uint64_t)sb->st_size == size : file_same(dest, sb, it, sha));
    int changed = sb && !file_ok && !blob;  /* a user's file edited in place */
    int meta_diff = meta_differs(s->lib, SHELF__KIND_SAMPLE, sid, diff, sizeof diff), choice;
    char gone[32] = "";

    if (meta_diff < 0)
        return shelf__seterr(&s->r->err, meta_diff, "%s", s->lib->err.msg);
    *meta = META_NONE;
    *need_file = !file_ok;
    *action = !file_ok ? (sb ? SHELF_RESTORE_OVERWRITE : SHELF_RESTORE_CREATE) : SHELF_RESTORE_SAME;
    if (!file_ok && !changed)
        snprintf(gone, sizeof gone, "the %s was %s", blob ? "blob" : "file", sb ? "damaged" : "missing");
    if (!changed && !meta_diff) {
        snprintf(detail, n, "%s", gone);
        if (*action == SHELF_RESTORE_SAME)
            report(s, SHELF_RESTORE_SAME, SHELF_ITEM_SAMPLE, sid, name, dest, size, NULL);
        return SHELF_OK;
    }
    snprintf(detail, n, "conflict: %s%s%s%s%s%s%s", gone, *gone ? "; " : "",
             changed ? "the file changed on disk since the snapshot" : "", changed && meta_diff ? "; " : "",
             meta_diff ? "tags, rating or favourite differ (" : "", diff, meta_diff ? ")" : "");
    choice = decide(s, SHELF_ITEM_SAMPLE, sid, name, dest, size, detail);
    if (choice == SHELF_CONFLICT_OVERWRITE) {
        *action = SHELF_RESTORE_OVERWRITE;
        *meta = META_REPLACE;
    } else if (choice == SHELF_CONFLICT_KEEP_BOTH && !changed) {
        /* Only the metadata differs: both sets are kept. */
        *action = file_ok ? SHELF_RESTORE_KEEP_BOTH : *action;
        *meta = META_UNION;
    } else if (choice == SHELF_CONFLICT_KEEP_BOTH) {
        *action = SHELF_RESTORE_KEEP_BOTH;  /* the snapshot's file under a new name */
        *need_file = 1;
        *meta = META_COPY;
    } else if (!file_ok && !changed) {
        /* Skipped: the missing file still comes back, the library's metadata stays. */
        size_t len = strlen(detail);

        snprintf(detail + len, n - len, "; the library's kept");
    } else {
        *action = SHELF_RESTORE_SKIP;
        report(s, SHELF_RESTORE_SKIP, SHELF_ITEM_SAMPLE, sid, name, dest, size, detail);
        if (!s->o->preview && choice == SHELF_CONFLICT_SKIP)
            return audit_skip(s, SHELF__KIND_SAMPLE, sid, detail);
    }
    return SHELF_OK;
}

/* A sample's row in the snapshot's catalog. */
typedef struct snaprow {
    char *name, *root, *relpath, *blob, *sha, *abs;
    uint64_t size;
} snaprow;

static void snaprow_release(snaprow *w)
{
    shelf_free(w->name);
    shelf_free(w->root);
    shelf_free(w->relpath);
    shelf_free(w->blob);
    shelf_free(w->sha);
    shelf_free(w->abs);
}

/* Read sample sid's row from the snapshot: SHELF_OK, SHELF_ENOTFOUND or a
 * failure (s->r->err set). */
static int snaprow_load(rst *s, int64_t sid, snaprow *w)
{
    sqlite3_stmt *st = shelf__prepare(s->lib,
        "SELECT s.name, r.path, s.relpath, s.blob, s.sha256, s.size FROM snap.samples s\n"
        " JOIN snap.roots r ON r.id = s.root_id WHERE s.id = ?1");
    int step, rc = SHELF_OK;

    memset(w, 0, sizeof *w);
    if (!st) {
        shelf__seterr(&s->r->err, SHELF_EDB, "%s", s->lib->err.msg);
        return SHELF_EDB;
    }
    sqlite3_bind_int64(st, 1, sid);
    if ((step = sqlite3_step(st)) != SQLITE_ROW) {
        sqlite3_finalize(st);
        if (step == SQLITE_DONE)
            return SHELF_ENOTFOUND;
        shelf__seterr(&s->r->err, SHELF_EDB, "cannot read the snapshot's catalog: %s", sqlite3_errmsg(s->lib->db));
        return SHELF_EDB;
    }
    w->name = shelf__strdup((const char *)sqlite3_column_text(st, 0));
    w->root = shelf__strdup((const char *)sqlite3_column_text(st, 1));
    w->relpath = shelf__strdup((const char *)sqlite3_column_text(st, 2));
    if (sqlite3_column_type(st, 3) != SQLITE_NULL)
        w->blob = shelf__strdup((const char *)sqlite3_column_text(st, 3));
    w->sha = shelf__strdup((const char *)sqlite3_column_text(st, 4));
    w->size = (uint64_t)sqlite3_column_int64(st, 5);
    sqlite3_finalize(st);
    if (!w->name || !w->root || !w->relpath || !w->sha || !(w->abs = shelf__sample_abspath(w->root, w->relpath))) {
        rc = SHELF_ENOMEM;
        shelf__seterr(&s->r->err, rc, "out of memory");
    }
    return rc;
}

/* A free "NAME (restored N).EXT" beside the snapshot's path for a kept
 * copy: its path (*dest, *newrel) and N.  Sets s->r->err. */
static int keep_both_dest(rst *s, const snaprow *w, char **dest, char **newrel, int *num)
{
    shelf_library *lib = s->lib;
    struct stat sb;
    int n, step;

    for (n = 1; n < 1000; n++) {
        shelf_free(*newrel);
        shelf_free(*dest);
        *dest = NULL;
        if (!(*newrel = keep_both_name(w->relpath, n)) || !(*dest = shelf__sample_abspath(w->root, *newrel)))
            return shelf__seterr(&s->r->err, SHELF_ENOMEM, "out of memory");
        if (w->blob || stat(*dest, &sb) != 0) {
            sqlite3_stmt *st;
            int64_t rid;
            const char *rel;
            int rc;

            if ((rc = live_root(lib, *dest, w->root, &rid, &rel)) != SHELF_OK)
                return shelf__seterr(&s->r->err, rc, "%s", lib->err.msg);
            if (!(st = shelf__prepare(lib, "SELECT 1 FROM main.samples WHERE root_id = ?1 AND relpath = ?2")))
                return shelf__seterr(&s->r->err, SHELF_EDB, "%s", lib->err.msg);
            sqlite3_bind_int64(st, 1, rid);
            sqlite3_bind_text(st, 2, rel, -1, SQLITE_STATIC);
            step = sqlite3_step(st);
            rc = step == SQLITE_ROW || step == SQLITE_DONE ? SHELF_OK : shelf__dberr(lib, "cannot look for a free name");
            sqlite3_finalize(st);
            if (rc != SHELF_OK)
                return shelf__seterr(&s->r->err, rc, "%s", lib->err.msg);
            if (step == SQLITE_DONE) {
                *num = n;
                return SHELF_OK;
            }
        }
    }
    return shelf__seterr(&s->r->err, SHELF_EIO, "cannot find a free name beside '%s'", w->abs);
}

/* Run sql (parameters: ?1 sid, ?2 root id, ?3 relpath, ?4 sid, ?5 name)
 * on the live catalog. */
static int sample_sql(shelf_library *lib, const char *sql, int64_t sid, int64_t rid, const char *rel,
                      const char *name)
{
    sqlite3_stmt *st = sql ? shelf__prepare(lib, sql) : NULL;
    int rc;

    if (!st)
        return sql ? SHELF_EDB : SHELF_ENOMEM;
    sqlite3_bind_int64(st, 1, sid);
    sqlite3_bind_int64(st, 2, rid);
    sqlite3_bind_text(st, 3, rel, -1, SQLITE_TRANSIENT);
    if (sqlite3_bind_parameter_count(st) >= 4)
        sqlite3_bind_int64(st, 4, sid);
    if (sqlite3_bind_parameter_count(st) >= 5)
        sqlite3_bind_text(st, 5, name, -1, SQLITE_STATIC);
    rc = sqlite3_step(st) == SQLITE_DONE ? SHELF_OK : shelf__dberr(lib, "cannot restore the sample's row");
    sqlite3_finalize(st);
    return rc;
}

/* The catalog side of restoring sample sid (inside the caller's
 * transaction): its row (useabs: where its file is), its tags, rating and
 * favourite, its audit entry.  Messages in lib's error. */
static int sample_rows(rst *s, int64_t sid, const snaprow *w, const char *useabs, int action, int as_new,
                       int live, const char *name, int meta_mode, const char *dest)
{
    shelf_library *lib = s->lib;
    const char *rel;
    int64_t rid, target = sid;
    char *sql;
    int rc;

    if ((rc = live_root(lib, useabs, w->root, &rid, &rel)) != SHELF_OK)
        return rc;
    if (action == SHELF_RESTORE_CREATE && !live) {
        sql = shelf__asprintf("INSERT INTO main.samples(id, root_id, relpath, name, %s)\n"
                              " SELECT ?1, ?2, ?3, name, %s FROM snap.samples WHERE id = ?4", s->cols, s->cols);
    } else if (as_new) {
        sql = shelf__asprintf("INSERT INTO main.samples(id, root_id, relpath, name, %s)\n"
                              " SELECT NULL, ?2, ?3, ?5, %s FROM snap.samples WHERE id = ?4", s->cols, s->cols);
    } else if (live) {
        sql = shelf__asprintf("UPDATE main.samples SET (root_id, relpath, name, %s) =\n"
                              " (SELECT ?2, ?3, name, %s FROM snap.samples WHERE id = ?4) WHERE id = ?1",
                              s->cols, s->cols);
    } else {
        /* Overwrite of another row's file: that row takes the snapshot's values. */
        sql = shelf__asprintf("UPDATE main.samples SET (name, %s) =\n"
                              " (SELECT name, %s FROM snap.samples WHERE id = ?4)\n"
                              " WHERE root_id = ?2 AND relpath = ?3", s->cols, s->cols);
    }
    rc = sample_sql(lib, sql, sid, rid, rel, name);
    shelf_free(sql);
    if (rc != SHELF_OK)
        return rc;
    if (as_new)
        target = sqlite3_last_insert_rowid(lib->db);
    if (!live && action == SHELF_RESTORE_OVERWRITE) {
        sqlite3_stmt *st = shelf__prepare(lib, "SELECT id FROM main.samples WHERE root_id = ?1 AND relpath = ?2");
        int step;

        if (!st)
            return SHELF_EDB;
        sqlite3_bind_int64(st, 1, rid);
        sqlite3_bind_text(st, 2, rel, -1, SQLITE_TRANSIENT);
        if ((step = sqlite3_step(st)) == SQLITE_ROW)
            target = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        if (step != SQLITE_ROW && step != SQLITE_DONE)
            return shelf__dberr(lib, "cannot restore the sample's row");
        if (target == sid) {
            /* no row at that path: the sample comes back under its id */
            sql = shelf__asprintf("INSERT OR IGNORE INTO main.samples(id, root_id, relpath, name, %s)\n"
                                  " SELECT ?1, ?2, ?3, name, %s FROM snap.samples WHERE id = ?1",
                                  s->cols, s->cols);
            rc = sample_sql(lib, sql, sid, rid, rel, name);
            shelf_free(sql);
            if (rc != SHELF_OK)
                return rc;
        }
    }
    if ((rc = apply_meta(lib, SHELF__KIND_SAMPLE, sid, target, meta_mode)) != SHELF_OK)
        return rc;
    return audit(lib, SHELF__KIND_SAMPLE, target, "%s sample %lld from snapshot %.12s: %s",
                 action == SHELF_RESTORE_CREATE ? "created" :
                 action == SHELF_RESTORE_OVERWRITE ? "overwrote" : "kept both of",
                 (long long)sid, s->snapid, dest);
}

/* What the library has now for sample sid: *live, its hash.  Sets s->r->err. */
static int live_sample(rst *s, int64_t sid, int *live, char **live_sha)
{
    sqlite3_stmt *st = shelf__prepare(s->lib, "SELECT sha256 FROM main.samples WHERE id = ?1");
    int step;

    *live = 0;
    *live_sha = NULL;
    if (!st)
        return shelf__seterr(&s->r->err, SHELF_EDB, "%s", s->lib->err.msg);
    sqlite3_bind_int64(st, 1, sid);
    if ((step = sqlite3_step(st)) == SQLITE_ROW) {
        *live = 1;
        if (sqlite3_column_text(st, 0))
            *live_sha = shelf__strdup((const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        return shelf__seterr(&s->r->err, shelf__dberr(s->lib, "cannot read the catalog"), "%s", s->lib->err.msg);
    return SHELF_OK;
}

static int restore_sample(rst *s, int64_t sid)
{
    shelf_library *lib = s->lib;
    snaprow w;
    char *live_sha = NULL, *dest = NULL, *newrel = NULL, *newname = NULL, *kbabs = NULL;
    char detail[640] = "", objpath[SHELF__STORE_REL_MAX];
    const char *useabs;
    json_t *it;
    int rc, action = SHELF_RESTORE_CREATE, choice, have_file = 0, need_file = 1, live = 0, n = 0;
    int meta_mode = META_COPY, meta_only = 0, as_new;
    struct stat sb;

    if ((rc = snaprow_load(s, sid, &w)) == SHELF_ENOTFOUND) {
        shelf__seterr(&s->r->err, SHELF_ENOTFOUND, "no sample %lld in the snapshot", (long long)sid);
        fail_item(s, SHELF_ENOTFOUND, SHELF_ITEM_SAMPLE, sid, "", "");
        rc = SHELF_OK;
        goto out;
    }
    if (rc != SHELF_OK)
        goto out;
    if (w.blob && !shelf__is_hash_hex(w.blob)) {
        shelf__seterr(&s->r->err, SHELF_ECORRUPT, "the snapshot's catalog names a blob that is not a hash");
        fail_item(s, SHELF_ECORRUPT, SHELF_ITEM_SAMPLE, sid, w.name, w.abs);
        goto out;
    }
    if (!w.blob && (w.root[0] != '/' || !shelf__path_rel_ok(w.relpath))) {
        shelf__seterr(&s->r->err, SHELF_ECORRUPT, "the snapshot's catalog has an unsafe path '%s'", w.abs);
        fail_item(s, SHELF_ECORRUPT, SHELF_ITEM_SAMPLE, sid, w.name, w.abs);
        goto out;
    }
    if (w.blob) {
        shelf__store_relpath(w.blob, objpath);
        it = json_object_get(s->by_path, objpath);
        dest = shelf__store_path(&lib->store, w.blob);
    } else {
        char *text = shelf_name_escape(w.abs, 0);     /* tree paths are text */

        it = text ? json_object_get(s->by_path, text) : NULL;
        shelf_free(text);
        dest = shelf__strdup(w.abs);
    }
    if (!dest) {
        rc = shelf__seterr(&s->r->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    if (!it) {
        shelf__seterr(&s->r->err, SHELF_ENOTFOUND, "its file is not in the snapshot (it was missing)");
        fail_item(s, SHELF_ENOTFOUND, SHELF_ITEM_SAMPLE, sid, w.name, w.abs);
        goto out;
    }
    if ((rc = live_sample(s, sid, &live, &live_sha)) != SHELF_OK)
        goto out;
    have_file = stat(dest, &sb) == 0;
    if (live && live_sha && !strcmp(live_sha, w.sha)) {
        rc = same_version(s, sid, w.name, dest, it, w.blob != NULL, have_file ? &sb : NULL, w.size, detail,
                          sizeof detail, &action, &need_file, &meta_mode);
        if (rc != SHELF_OK || action == SHELF_RESTORE_SAME || action == SHELF_RESTORE_SKIP)
            goto out;
        meta_only = action == SHELF_RESTORE_KEEP_BOTH && meta_mode == META_UNION;
    } else if (live || (have_file && !w.blob && !file_has(dest, w.sha))) {
        snprintf(detail, sizeof detail, "conflict: the library has %s",
                 live ? "another version of this sample" : "another file at this path");
        choice = decide(s, SHELF_ITEM_SAMPLE, sid, w.name, dest, w.size, detail);
        if (choice == SHELF_CONFLICT_ASK || choice == SHELF_CONFLICT_SKIP) {
            report(s, SHELF_RESTORE_SKIP, SHELF_ITEM_SAMPLE, sid, w.name, dest, w.size, detail);
            if (!s->o->preview && choice == SHELF_CONFLICT_SKIP)
                rc = audit_skip(s, SHELF__KIND_SAMPLE, sid, detail);
            goto out;
        }
        action = choice == SHELF_CONFLICT_OVERWRITE ? SHELF_RESTORE_OVERWRITE : SHELF_RESTORE_KEEP_BOTH;
        if (action == SHELF_RESTORE_OVERWRITE && live)
            meta_mode = META_REPLACE;
    } else {
        action = SHELF_RESTORE_CREATE;
        need_file = !(have_file && (w.blob || file_has(dest, w.sha)));
    }
    as_new = action == SHELF_RESTORE_KEEP_BOTH && !meta_only;
    if (as_new) {
        if ((rc = keep_both_dest(s, &w, &dest, &newrel, &n)) != SHELF_OK)
            goto out;
        if (!(newname = shelf__asprintf("%s (restored %d)", w.name, n))) {
            rc = shelf__seterr(&s->r->err, SHELF_ENOMEM, "out of memory");
            goto out;
        }
        if (w.blob) {
            shelf_free(dest);
            if (!(dest = shelf__store_path(&lib->store, w.blob))) {
                rc = shelf__seterr(&s->r->err, SHELF_ENOMEM, "out of memory");
                goto out;
            }
            need_file = access(dest, F_OK) != 0;
        }
    }
    if (s->o->preview) {
        report(s, action, SHELF_ITEM_SAMPLE, sid, w.name, w.blob && as_new ? newrel : dest, w.size, detail);
        goto out;
    }
    /* The file first (atomic), then the catalog in one transaction. */
    if (need_file && !(w.blob && action != SHELF_RESTORE_OVERWRITE && access(dest, F_OK) == 0)) {
        if ((rc = make_parent(s->r, w.blob ? lib->path : w.root, dest)) != SHELF_OK ||
            (rc = write_item(s->r, it, dest, action == SHELF_RESTORE_OVERWRITE, w.blob ? 0444 : 0644, 1)) != SHELF_OK) {
            fail_item(s, rc, SHELF_ITEM_SAMPLE, sid, w.name, dest);
            rc = SHELF_OK;
            goto out;
        }
    }
    if (as_new && w.blob && !(kbabs = shelf__sample_abspath(w.root, newrel))) {
        rc = shelf__seterr(&s->r->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    useabs = !as_new ? w.abs : w.blob ? kbabs : dest;
    if ((rc = shelf__begin(lib)) != SHELF_OK) {
        shelf__seterr(&s->r->err, rc, "%s", lib->err.msg);
        goto out;
    }
    if ((rc = sample_rows(s, sid, &w, useabs, action, as_new, live, newname ? newname : w.name, meta_mode,
                          dest)) != SHELF_OK ||
        (rc = shelf__commit(lib)) != SHELF_OK) {
        shelf__rollback(lib);
        shelf__seterr(&s->r->err, rc, "%s", lib->err.msg);
        fail_item(s, rc, SHELF_ITEM_SAMPLE, sid, w.name, dest);
        rc = SHELF_OK;
        goto out;
    }
    report(s, action, SHELF_ITEM_SAMPLE, sid, w.name, dest, w.size, detail);
out:
    snaprow_release(&w);
    shelf_free(live_sha);
    shelf_free(dest);
    shelf_free(newrel);
    shelf_free(newname);
    shelf_free(kbabs);
    return rc;
}

/* Head version and hash of a patch or project in db ("main" or "snap"). */
static int doc_head(shelf_library *lib, const char *db, int kind, int64_t id, int64_t *seq,
                    char hash[SHELF_HASH_HEX], char *name, size_t namesize)
{
    char *sql = shelf__asprintf(
        "SELECT d.version, d.name, (SELECT v.hash FROM %s.doc_versions v WHERE v.kind = ?2\n"
        "  AND v.item_id = d.id AND v.seq = d.version) FROM %s.%s d WHERE d.id = ?1",
        db, db, kind == SHELF__KIND_PATCH ? "patches" : "projects");
    sqlite3_stmt *st = sql ? shelf__prepare(lib, sql) : NULL;
    int rc;

    shelf_free(sql);
    if (!st)
        return SHELF_EDB;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int(st, 2, kind);
    if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        *seq = sqlite3_column_int64(st, 0);
        snprintf(name, namesize, "%s", (const char *)sqlite3_column_text(st, 1));
        snprintf(hash, SHELF_HASH_HEX, "%s",
                 sqlite3_column_text(st, 2) ? (const char *)sqlite3_column_text(st, 2) : "");
        rc = SHELF_OK;
    } else {
        rc = rc == SQLITE_DONE ? SHELF_ENOTFOUND : shelf__dberr(lib, "cannot read a document's head");
    }
    sqlite3_finalize(st);
    return rc;
}

static int restore_doc(rst *s, int kind, int64_t id)
{
    int ikind = kind == SHELF__KIND_PATCH ? SHELF_ITEM_PATCH : SHELF_ITEM_PROJECT;
    const char *what = kind == SHELF__KIND_PATCH ? "patch" : "project";
    char shash[SHELF_HASH_HEX], lhash[SHELF_HASH_HEX], name[256], lname[256], detail[256] = "";
    int64_t sseq = 0, lseq = 0, newid = 0;
    char *json = NULL;
    shelf_library *errlib;
    int rc, action, choice, k;

    if ((rc = doc_head(s->lib, "snap", kind, id, &sseq, shash, name, sizeof name)) == SHELF_ENOTFOUND) {
        shelf__seterr(&s->r->err, SHELF_ENOTFOUND, "no %s %lld in the snapshot", what, (long long)id);
        fail_item(s, SHELF_ENOTFOUND, ikind, id, "", "");
        return SHELF_OK;
    }
    if (rc == SHELF_OK)
        rc = doc_head(s->lib, "main", kind, id, &lseq, lhash, lname, sizeof lname);
    if (rc != SHELF_OK && rc != SHELF_ENOTFOUND)
        return shelf__seterr(&s->r->err, rc, "%s", s->lib->err.msg);
    if (rc == SHELF_OK && !strcmp(shash, lhash)) {
        report(s, SHELF_RESTORE_SAME, ikind, id, name, "", 0, NULL);
        return SHELF_OK;
    }
    if (rc == SHELF_OK) {
        snprintf(detail, sizeof detail, "conflict: snapshot v%lld, library v%lld%s",
                 (long long)sseq, (long long)lseq, strcmp(name, lname) ? " (another name)" : "");
        choice = decide(s, ikind, id, name, "", 0, detail);
        if (choice == SHELF_CONFLICT_ASK || choice == SHELF_CONFLICT_SKIP) {
            report(s, SHELF_RESTORE_SKIP, ikind, id, name, "", 0, detail);
            if (!s->o->preview && choice == SHELF_CONFLICT_SKIP)
                return audit_skip(s, kind, id, detail);
            return SHELF_OK;
        }
        action = choice == SHELF_CONFLICT_OVERWRITE ? SHELF_RESTORE_OVERWRITE : SHELF_RESTORE_KEEP_BOTH;
    } else {
        action = SHELF_RESTORE_CREATE;
    }
    if (s->o->preview) {
        report(s, action, ikind, id, name, "", 0, detail);
        return SHELF_OK;
    }
    if (action == SHELF_RESTORE_OVERWRITE) {
        /* The snapshot's head becomes a new version: the history stays. */
        char msg[128];

        snprintf(msg, sizeof msg, "restored from snapshot %.12s (v%lld)", s->snapid, (long long)sseq);
        errlib = s->snaplib;
        if ((rc = shelf_doc_get(s->snaplib, kind, id, 0, &json)) == SHELF_OK &&
            (errlib = s->lib) != NULL &&
            (rc = shelf_doc_commit(s->lib, kind, id, json, 0, msg, &lseq)) >= 0) {
            rc = audit(s->lib, kind, id, "overwrote %s %lld from snapshot %.12s (v%lld is now v%lld)",
                       what, (long long)id, s->snapid, (long long)sseq, (long long)lseq);
        }
        newid = id;
    } else {
        /* A new item with the whole history (shelf_doc_import logs it). */
        errlib = s->snaplib;
        if ((rc = shelf_doc_export(s->snaplib, kind, id, &json)) == SHELF_OK) {
            errlib = s->lib;
            rc = shelf_doc_import(s->lib, json, SHELF_DOC_IMPORT_AS_NEW, &k, &newid);
        }
        if (rc == SHELF_OK) {
            snprintf(detail, sizeof detail, "restored as %s %lld", what, (long long)newid);
            rc = audit(s->lib, kind, newid, "%s %s %lld from snapshot %.12s as %lld",
                       action == SHELF_RESTORE_CREATE ? "created" : "kept both of", what, (long long)id,
                       s->snapid, (long long)newid);
        }
    }
    shelf_free(json);
    if (rc != SHELF_OK) {
        shelf__seterr(&s->r->err, rc, "%s", shelf_errmsg(errlib));
        fail_item(s, rc, ikind, id, name, "");
        return SHELF_OK;
    }
    report(s, action, ikind, id, name, "", 0, detail);
    return SHELF_OK;
}

/* Add "k:id" to the selection once. */
static int select_add(json_t *sel, json_t *order, const char *k, int64_t id)
{
    char key[48];

    snprintf(key, sizeof key, "%s:%lld", k, (long long)id);
    if (json_object_get(sel, key))
        return SHELF_OK;
    if (json_object_set_new(sel, key, json_true()) != 0 ||
        json_array_append_new(order, json_pack("{s:s, s:I}", "k", k, "id", (json_int_t)id)) != 0)
        return SHELF_ENOMEM;
    return SHELF_OK;
}

static int select_sql(rst *s, json_t *sel, json_t *order, const char *k, const char *sql, int64_t id)
{
    sqlite3_stmt *st = shelf__prepare(s->lib, sql);
    int rc = SHELF_OK, step;

    if (!st)
        return shelf__seterr(&s->r->err, SHELF_EDB, "%s", s->lib->err.msg);
    sqlite3_bind_int64(st, 1, id);
    while (rc == SHELF_OK && (step = sqlite3_step(st)) == SQLITE_ROW)
        if ((rc = select_add(sel, order, k, sqlite3_column_int64(st, 0))) != SHELF_OK)
            rc = shelf__seterr(&s->r->err, rc, "out of memory");
    if (rc == SHELF_OK && step != SQLITE_DONE) {
        rc = shelf__dberr(s->lib, "cannot read the snapshot's catalog");
        shelf__seterr(&s->r->err, rc, "%s", s->lib->err.msg);
    }
    sqlite3_finalize(st);
    return rc;
}

/* Items purged here (a purge tombstone, doc/design.md "Purge") stay
 * purged: a restore into the library skips them, and says so.  A catalog
 * older than the change log has no tombstones. */
static int drop_purged(rst *s, json_t *order)
{
    sqlite3_stmt *sst, *dst = NULL;
    json_t *keep = json_array(), *e;
    size_t i;
    int rc = SHELF_OK;

    if (!keep)
        return shelf__seterr(&s->r->err, SHELF_ENOMEM, "out of memory");
    /* the tombstone is a register once synced, queued until then: read
     * once (the queue of a library that never syncs is long) */
    if (shelf__exec(s->lib, "DROP TABLE IF EXISTS temp.purged_here; CREATE TEMP TABLE "
                            "purged_here(item TEXT PRIMARY KEY); INSERT OR IGNORE INTO purged_here "
                            "SELECT item FROM main.sync_state WHERE field = '!' UNION SELECT item "
                            "FROM main.change_queue WHERE field = '!'") != SHELF_OK) {
        json_decref(keep);
        return shelf__seterr(&s->r->err, SHELF_EDB, "%s", s->lib->err.msg);
    }
    sst = shelf__prepare(s->lib, "SELECT sm.name FROM snap.samples sm JOIN temp.purged_here p ON "
                                 "p.item = 's:' || sm.sha256 WHERE sm.id = ?1");
    dst = sst ? shelf__prepare(s->lib, "SELECT 1 FROM snap.doc_versions v JOIN temp.purged_here p "
                                       "ON p.item = iif(v.kind = " SHELF__KIND_PATCH_SQL ", 'p:', "
                                       "'j:') || v.hash WHERE v.kind = ?1 AND v.item_id = ?2 AND "
                                       "v.seq = 1") : NULL;
    if (!dst) {
        sqlite3_finalize(sst);
        json_decref(keep);
        return shelf__seterr(&s->r->err, SHELF_EDB, "%s", s->lib->err.msg);
    }
    json_array_foreach(order, i, e) {
        const char *k = json_string_value(json_object_get(e, "k"));
        int64_t id = json_integer_value(json_object_get(e, "id"));
        int sample = !strcmp(k, "sample"), purged;

        if (sample) {
            sqlite3_reset(sst);
            sqlite3_bind_int64(sst, 1, id);
            purged = sqlite3_step(sst) == SQLITE_ROW;
        } else {
            sqlite3_reset(dst);
            sqlite3_bind_int(dst, 1, !strcmp(k, "patch") ? SHELF__KIND_PATCH : SHELF__KIND_PROJECT);
            sqlite3_bind_int64(dst, 2, id);
            purged = sqlite3_step(dst) == SQLITE_ROW;
        }
        if (!purged) {
            if (json_array_append(keep, e) != 0) {
                rc = shelf__seterr(&s->r->err, SHELF_ENOMEM, "out of memory");
                break;
            }
            continue;
        }
        report(s, SHELF_RESTORE_SKIP, sample ? SHELF_ITEM_SAMPLE : !strcmp(k, "patch") ?
               SHELF_ITEM_PATCH : SHELF_ITEM_PROJECT, id,
               sample ? (const char *)sqlite3_column_text(sst, 0) : "", "", 0, "purged here");
    }
    sqlite3_finalize(sst);
    sqlite3_finalize(dst);
    (void)shelf__exec(s->lib, "DROP TABLE IF EXISTS temp.purged_here");
    if (rc == SHELF_OK && json_array_clear(order) == 0 && json_array_extend(order, keep) != 0)
        rc = shelf__seterr(&s->r->err, SHELF_ENOMEM, "out of memory");
    json_decref(keep);
    return rc;
}

static int build_selection(rst *s, json_t *sel, json_t *order)
{
    const shelf_restore_opts *o = s->o;
    size_t i;
    int rc;

    if (o->nitems == 0 && !o->query) {
        if ((rc = select_sql(s, sel, order, "sample", "SELECT id FROM snap.samples WHERE ?1 = ?1 ORDER BY id",
                             0)) != SHELF_OK ||
            (rc = select_sql(s, sel, order, "patch", "SELECT id FROM snap.patches WHERE ?1 = ?1 ORDER BY id",
                             0)) != SHELF_OK)
            return rc;
        return select_sql(s, sel, order, "project", "SELECT id FROM snap.projects WHERE ?1 = ?1 ORDER BY id", 0);
    }
    for (i = 0; i < o->nitems; i++) {
        const char *a = o->items[i], *num = a, *k = "sample";
        char *end;
        long long id;

        if (!strncmp(a, "sample:", 7))
            num = a + 7;
        else if (!strncmp(a, "patch:", 6))
            num = a + 6, k = "patch";
        else if (!strncmp(a, "project:", 8))
            num = a + 8, k = "project";
        errno = 0;
        id = strtoll(num, &end, 10);
        if (!*num || *end || errno || id <= 0)
            return shelf__seterr(&s->r->err, SHELF_EINVAL,
                                 "invalid item '%s': ID, sample:ID, patch:ID or project:ID", a);
        if (!strcmp(k, "project") &&
            ((rc = select_sql(s, sel, order, "sample",
                              "SELECT sample_id FROM snap.project_samples WHERE project_id = ?1", id)) != SHELF_OK ||
             (rc = select_sql(s, sel, order, "sample", "SELECT ps.sample_id FROM snap.project_patches pp\n"
                              " JOIN snap.patch_samples ps ON ps.patch_id = pp.patch_id WHERE pp.project_id = ?1",
                              id)) != SHELF_OK ||
             (rc = select_sql(s, sel, order, "patch",
                              "SELECT patch_id FROM snap.project_patches WHERE project_id = ?1", id)) != SHELF_OK))
            return rc;
        if (!strcmp(k, "patch") &&
            (rc = select_sql(s, sel, order, "sample",
                             "SELECT sample_id FROM snap.patch_samples WHERE patch_id = ?1", id)) != SHELF_OK)
            return rc;
        if (select_add(sel, order, k, id) != SHELF_OK)
            return shelf__seterr(&s->r->err, SHELF_ENOMEM, "out of memory");
    }
    if (o->query) {
        shelf_search_opts so;
        shelf_cursor *cur = NULL;
        const shelf_sample *row;

        memset(&so, 0, sizeof so);
        so.size = sizeof so;
        so.limit = -1;
        if ((rc = shelf_search(s->snaplib, o->query, &so, &cur, NULL, NULL)) != SHELF_OK)
            return shelf__seterr(&s->r->err, rc, "%s", shelf_errmsg(s->snaplib));
        while ((rc = shelf_cursor_next(cur, &row)) == SHELF_ROW)
            if (select_add(sel, order, "sample", row->id) != SHELF_OK) {
                shelf_cursor_free(cur);
                return shelf__seterr(&s->r->err, SHELF_ENOMEM, "out of memory");
            }
        shelf_cursor_free(cur);
        if (rc != SHELF_DONE && rc != SHELF_OK)
            return shelf__seterr(&s->r->err, rc, "%s", shelf_errmsg(s->snaplib));
    }
    return SHELF_OK;
}

/* Columns of samples other than id, root_id, relpath, name. */
static int sample_cols(rst *s)
{
    sqlite3_stmt *st = shelf__prepare(s->lib, "SELECT name FROM pragma_table_info('samples', 'main')");
    shelf__buf b = SHELF__BUF_INIT;
    int rc = SHELF_OK, step;

    if (!st)
        return shelf__seterr(&s->r->err, SHELF_EDB, "%s", s->lib->err.msg);
    while (rc == SHELF_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *c = (const char *)sqlite3_column_text(st, 0);

        if (!c)
            rc = SHELF_ENOMEM;
        else if (strcmp(c, "id") != 0 && strcmp(c, "root_id") != 0 && strcmp(c, "relpath") != 0 &&
                 strcmp(c, "name") != 0)
            rc = shelf__buf_addf(&b, "%s\"%s\"", b.len ? ", " : "", c);
    }
    if (rc == SHELF_OK && step != SQLITE_DONE)
        rc = shelf__dberr(s->lib, "cannot read the catalog's columns");
    sqlite3_finalize(st);
    if (rc == SHELF_OK && !(s->cols = shelf__buf_detach(&b)))
        rc = SHELF_ENOMEM;
    shelf__buf_release(&b);
    if (rc != SHELF_OK)
        shelf__seterr(&s->r->err, rc, "%s", rc == SHELF_ENOMEM ? "out of memory" : s->lib->err.msg);
    return rc;
}

static int restore_live(rst *s)
{
    shelf_library *lib = s->lib;
    char *tmpdir = NULL, *db = NULL, *cfg = NULL, *cachedir = NULL;
    json_t *catalog = NULL, *config = NULL, *it, *sel = json_object(), *order = json_array(), *e;
    sqlite3_stmt *st;
    int rc = SHELF_OK, attached = 0, err;
    size_t i;

    json_array_foreach(json_object_get(s->tree, "items"), i, it) {
        const char *t = json_string_value(json_object_get(it, "t"));

        if (!strcmp(t, "catalog"))
            catalog = it;
        else if (!strcmp(t, "config"))
            config = it;
    }
    if (!sel || !order) {
        rc = shelf__seterr(&s->r->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    if (!catalog || !config) {
        rc = shelf__seterr(&s->r->err, SHELF_ECORRUPT, "snapshot %.12s has no catalog", s->snapid);
        goto out;
    }
    if (!(cachedir = shelf__path_join(lib->path, "cache")) ||
        !(tmpdir = shelf__asprintf("%s/restore-%d", cachedir, (int)getpid())) ||
        !(db = shelf__path_join(tmpdir, "shelf.db")) || !(cfg = shelf__path_join(tmpdir, "config"))) {
        rc = shelf__seterr(&s->r->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    if ((err = shelf__rmtree(tmpdir)) != 0) {
        rc = shelf__seterr_errno(&s->r->err, err, "cannot remove '%s'", tmpdir);
        goto out;
    }
    if ((rc = write_item(s->r, catalog, db, 0, 0644, 0)) != SHELF_OK ||
        (rc = write_item(s->r, config, cfg, 0, 0644, 0)) != SHELF_OK)
        goto out;
    if ((rc = shelf_library_open(tmpdir, 0, &s->snaplib, NULL)) != SHELF_OK) {
        shelf__seterr(&s->r->err, rc, "cannot open the snapshot's catalog");
        goto out;
    }
    if (!(st = shelf__prepare(lib, "ATTACH DATABASE ?1 AS snap"))) {
        rc = shelf__seterr(&s->r->err, SHELF_EDB, "%s", lib->err.msg);
        goto out;
    }
    sqlite3_bind_text(st, 1, db, -1, SQLITE_STATIC);
    rc = sqlite3_step(st) == SQLITE_DONE ? SHELF_OK : shelf__dberr(lib, "cannot attach the snapshot's catalog");
    sqlite3_finalize(st);
    if (rc != SHELF_OK) {
        shelf__seterr(&s->r->err, rc, "%s", lib->err.msg);
        goto out;
    }
    attached = 1;
    if ((rc = sample_cols(s)) != SHELF_OK || (rc = build_selection(s, sel, order)) != SHELF_OK ||
        (rc = drop_purged(s, order)) != SHELF_OK)
        goto out;
    if (s->o->nitems == 0 && !s->o->query) {
        /* Everything: the blobs too (patch and project blobs, unused ones). */
        json_array_foreach(json_object_get(s->tree, "items"), i, it) {
            const char *path = json_string_value(json_object_get(it, "path"));
            char *dest;

            if (strcmp(json_string_value(json_object_get(it, "t")), "object") != 0)
                continue;
            if (!(dest = shelf__path_join(lib->path, path)))
                continue;
            if (access(dest, F_OK) == 0) {
                report(s, SHELF_RESTORE_SAME, SHELF_ITEM_OBJECT, 0, path, dest,
                       (uint64_t)json_integer_value(json_object_get(it, "size")), NULL);
            } else if (s->o->preview || ((rc = make_parent(s->r, lib->path, dest)) == SHELF_OK &&
                                         (rc = write_item(s->r, it, dest, 0, 0444, 1)) == SHELF_OK)) {
                report(s, SHELF_RESTORE_CREATE, SHELF_ITEM_OBJECT, 0, path, dest,
                       (uint64_t)json_integer_value(json_object_get(it, "size")), NULL);
            } else {
                fail_item(s, rc, SHELF_ITEM_OBJECT, 0, path, dest);
            }
            rc = SHELF_OK;
            shelf_free(dest);
        }
    }
    /* Samples first: restored patches find their samples. */
    json_array_foreach(order, i, e)
        if (!strcmp(json_string_value(json_object_get(e, "k")), "sample") &&
            (rc = restore_sample(s, json_integer_value(json_object_get(e, "id")))) != SHELF_OK)
            goto out;
    json_array_foreach(order, i, e) {
        const char *k = json_string_value(json_object_get(e, "k"));

        if (!strcmp(k, "sample"))
            continue;
        if ((rc = restore_doc(s, !strcmp(k, "patch") ? SHELF__KIND_PATCH : SHELF__KIND_PROJECT,
                              json_integer_value(json_object_get(e, "id")))) != SHELF_OK)
            goto out;
    }
out:
    if (attached)
        (void)shelf__exec(lib, "DETACH DATABASE snap");  /* the connection outlives it anyway */
    if (s->snaplib)
        shelf_library_close(s->snaplib);
    s->snaplib = NULL;
    if (tmpdir)
        (void)shelf__rmtree(tmpdir);    /* a leftover is swept by the next run */
    json_decref(sel);
    json_decref(order);
    shelf_free(tmpdir);
    shelf_free(db);
    shelf_free(cfg);
    shelf_free(cachedir);
    return rc != SHELF_OK ? rc : s->first_rc;
}

/* An index file is damaged: what it listed is found from the packs' own
 * headers (in the cache only; the repository is not changed), and the
 * warning says so. */
static int index_fallback(shelf_repo *r)
{
    uint64_t n = 0;
    int rc = shelf__index_from_headers(r, &n);

    if (rc == SHELF_OK)
        snprintf(r->warn, sizeof r->warn, "index file '%s'%s is damaged: read the headers of %llu pack%s "
                 "no index lists instead (run 'shelf backup repair-index')", r->index_damaged_name,
                 r->index_damaged > 1 ? " and others" : "", (unsigned long long)n, n == 1 ? "" : "s");
    return rc;
}

static int restore_run(shelf_repo *r, shelf_library *lib, const char *snap, const shelf_restore_opts *o,
                       shelf_restore_stats *st)
{
    shelf_restore_opts opts;
    rst s;
    json_t *it;
    size_t i;
    int rc;

    memset(st, 0, sizeof *st);
    /* every field was in the first version */
    if ((rc = shelf__opts_check(&r->err, &opts, sizeof opts, o, sizeof opts, "shelf_restore_opts")) != SHELF_OK)
        return rc;
    o = &opts;
    memset(&s, 0, sizeof s);
    s.r = r;
    s.lib = lib;
    s.o = o;
    s.st = st;
    s.policy = o->on_conflict;
    if (!o->to && !lib)
        return shelf__seterr(&r->err, SHELF_EINVAL, "restore needs a library or a folder to restore into");
    if (o->to && (o->nitems || o->query))
        return shelf__seterr(&r->err, SHELF_EINVAL, "a restore into a folder takes the whole library");
    if ((rc = shelf__repo_lock_read(r)) != SHELF_OK)
        return rc;
    r->warn[0] = '\0';
    if (r->index_damaged && (rc = index_fallback(r)) != SHELF_OK)
        goto out;
    if ((rc = shelf_snapshot_resolve(r, snap, s.snapid)) != SHELF_OK ||
        (rc = shelf__snap_load(r, s.snapid, &s.snap)) != SHELF_OK ||
        (rc = shelf__tree_load(r, s.snap, &s.tree)) != SHELF_OK)
        goto out;
    s.by_path = json_object();
    json_array_foreach(json_object_get(s.tree, "items"), i, it) {
        if (!s.by_path || json_object_set(s.by_path, json_string_value(json_object_get(it, "path")), it) != 0) {
            rc = shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
            goto out;
        }
    }
    rc = o->to ? restore_to(&s) : restore_live(&s);
    if (rc != SHELF_OK && s.r->err.rc == SHELF_OK)
        shelf__seterr(&r->err, rc, "restore failed: %s", shelf_strerror(rc));
out:
    if (r->index_damaged)
        shelf__index_drop_headers(r);
    shelf__repo_unlock(r);
    json_decref(s.snap);
    json_decref(s.tree);
    json_decref(s.by_path);
    shelf_free(s.cols);
    return rc;
}

int shelf_restore(shelf_repo *r, shelf_library *lib, const char *snap, const shelf_restore_opts *o,
                  shelf_restore_stats *st)
{
    shelf_restore_stats full = { .size = sizeof full };
    int rc = restore_run(r, lib, snap, o, &full);

    shelf__out_fill(st, &full, sizeof full);
    return rc;
}

/* ---- the audit log ---- */

int shelf_audit_list(shelf_library *lib, int64_t limit, shelf_audit_cb cb, void *ud)
{
    sqlite3_stmt *st = shelf__prepare(lib,
        "SELECT id, time, action, coalesce(kind, 0), coalesce(item_id, 0), detail FROM\n"
        " (SELECT * FROM audit_log ORDER BY id DESC LIMIT ?1) ORDER BY id");
    int rc = SHELF_OK, s;

    if (!st)
        return SHELF_EDB;
    sqlite3_bind_int64(st, 1, limit > 0 ? limit : -1);
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        shelf_audit_entry e;

        memset(&e, 0, sizeof e);
        e.size = sizeof e;
        e.id = sqlite3_column_int64(st, 0);
        e.time = sqlite3_column_int64(st, 1);
        e.action = (const char *)sqlite3_column_text(st, 2);
        e.kind = sqlite3_column_int(st, 3);
        e.item_id = sqlite3_column_int64(st, 4);
        e.detail = (const char *)sqlite3_column_text(st, 5);
        if ((rc = cb(ud, &e)) != 0)
            break;
    }
    if (rc == SHELF_OK && s != SQLITE_DONE)
        rc = shelf__dberr(lib, "cannot read the audit log");
    sqlite3_finalize(st);
    return rc;
}
