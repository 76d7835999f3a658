/*
 * be_webdav.c: the WebDAV backend (Apache mod_dav_fs, lighttpd mod_webdav,
 * Nextcloud, a NAS, rclone serve webdav) on the HTTP layer (http_int.h).
 * It owns the mapping of repository names to URLs under the target's path
 * and the state a backend shares with its dups (the HTTP client, the Basic
 * auth header, the folders known to exist); dav_xml.c parses the replies.
 *
 * save: MKCOL of the parents not known to exist, PUT to ".tmp-RANDOM"
 * beside the name, then MOVE with "Overwrite: F": the name appears whole or
 * not at all, and an existing one is not replaced (412 -> SHELF_EEXIST;
 * doc/design.md has the race on Apache).  load: GET with Range.  stat:
 * PROPFIND Depth 0.  list: PROPFIND Depth 1, folder by folder (servers
 * often refuse Depth infinity).  remove: DELETE.  space: RFC 4331 quota
 * properties.  ETags are not used: Apache's are weak for files changed
 * within a second.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include "dav_int.h"
#include "http_int.h"

#define TMP_PREFIX ".tmp-"
#define PROPFIND_MAX ((uint64_t)256 << 20)

/* What a backend and its dups share; freed with the last handle. */
typedef struct dav_shared {
    atomic_int refs;
    shelf__http *http;
    char *base;         /* "https://host:port" */
    char *root;         /* percent-encoded path with a leading and trailing '/' */
    char *root_dec;     /* the same, decoded: what hrefs are compared with */
    char *auth;         /* "Basic ..." or NULL (a secret: wiped) */
    /* Folders known to exist, so a save costs no MKCOL after the first in
     * its folder (a PUT into a missing folder gets 409, which some servers
     * send before reading the body, resetting an HTTP/2 stream). */
    pthread_mutex_t lock;
    char **dirs;
    size_t ndirs, capdirs;
    shelf__dav_close_fn on_close;
    void *close_ud;
} dav_shared;

typedef struct be_dav {
    shelf__backend be;
    dav_shared *s;
} be_dav;

static const shelf__backend_ops dav_ops, rclone_ops;

/* ---- Requests ----------------------------------------------------------- */

static int sign_auth(void *ud, shelf__http_req *rq, shelf__err *err)
{
    dav_shared *s = ud;

    if (s->auth && shelf__http_hdr_add(&rq->sign_hdrs, "Authorization: %s", s->auth) != SHELF_OK)
        return shelf__seterr(err, SHELF_ENOMEM, "out of memory");
    return SHELF_OK;
}

/* The URL of name ("" is the root) under the root; dir: end with '/'. */
static char *url_of(be_dav *d, const char *name, int dir)
{
    shelf__buf b = SHELF__BUF_INIT;

    if (shelf__buf_adds(&b, d->s->base) != SHELF_OK || shelf__buf_adds(&b, d->s->root) != SHELF_OK ||
        shelf__http_pct(&b, name, 1) != SHELF_OK || (dir && name[0] && shelf__buf_adds(&b, "/") != SHELF_OK)) {
        shelf__buf_release(&b);
        return NULL;
    }
    return shelf__buf_detach(&b);
}

static int nomem(be_dav *d)
{
    return shelf__seterr(&d->be.err, SHELF_ENOMEM, "out of memory");
}

/* Make the request; the HTTP layer's messages name the host, ours the
 * remote as the user wrote it. */
static int dav_do(be_dav *d, shelf__http_req *rq, const char *method, const char *url,
                  const char *op)
{
    const char *host = shelf__http_host(d->s->http);
    size_t hl = strlen(host);
    int rc;

    rq->method = method;
    rq->url = url;
    rq->op = op;
    rq->sign = sign_auth;
    rq->sign_ud = d->s;
    rc = shelf__http_do(d->s->http, rq, &d->be.err);
    if (rc != SHELF_OK && !strncmp(d->be.err.msg, host, hl) && d->be.err.msg[hl] == ':') {
        char tail[sizeof d->be.err.msg];

        snprintf(tail, sizeof tail, "%s", d->be.err.msg + hl);
        shelf__seterr(&d->be.err, rc, "%s%s", d->be.location, tail);
    }
    return rc;
}

/* An answer the operation did not expect, as one line. */
static int status_err(be_dav *d, const char *op, long status)
{
    const char *loc = d->be.location;

    if (status == 401 || status == 403)
        return shelf__seterr(&d->be.err, SHELF_EPERM, "%s: %s: permission denied (HTTP %ld)", loc, op,
                             status);
    if (status == 404 || status == 410)
        return shelf__seterr(&d->be.err, SHELF_ENOTFOUND, "%s: %s: not found", loc, op);
    if (status == 423)
        return shelf__seterr(&d->be.err, SHELF_EBUSY, "%s: %s: locked by another client (HTTP 423)", loc,
                             op);
    if (status == 507)
        return shelf__seterr(&d->be.err, SHELF_EIO, "%s: %s: no space left on the server (HTTP 507)",
                             loc, op);
    if (status >= 500 || status == 429)
        return shelf__seterr(&d->be.err, SHELF_EIO, "%s: %s: server error (HTTP %ld)", loc, op, status);
    return shelf__seterr(&d->be.err, SHELF_EIO, "%s: %s: unexpected reply (HTTP %ld)", loc, op, status);
}

static const char propfind_stat[] =
    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
    "<D:propfind xmlns:D=\"DAV:\"><D:prop><D:resourcetype/><D:getcontentlength/></D:prop></D:propfind>\n";
static const char propfind_quota[] =
    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
    "<D:propfind xmlns:D=\"DAV:\"><D:prop><D:quota-available-bytes/><D:quota-used-bytes/>"
    "</D:prop></D:propfind>\n";

/* PROPFIND url with body; the multistatus into out.  *status as answered. */
static int propfind(be_dav *d, const char *url, const char *depth, const char *body,
                    const char *op, shelf__buf *out, long *status)
{
    shelf__http_req rq;
    int rc;

    shelf__http_req_init(&rq);
    *status = 0;
    if (shelf__http_hdr_add(&rq.hdrs, "Depth: %s", depth) != SHELF_OK ||
        shelf__http_hdr_add(&rq.hdrs, "Content-Type: application/xml; charset=utf-8") != SHELF_OK) {
        shelf__http_req_reset(&rq);
        return nomem(d);
    }
    rq.body = body;
    rq.body_len = strlen(body);
    rq.out = out;
    rq.max_out = PROPFIND_MAX;
    rc = dav_do(d, &rq, "PROPFIND", url, op);
    *status = rq.status;
    shelf__http_req_reset(&rq);
    return rc;
}

/* Parse a multistatus for op, naming the remote in a failure. */
static int parse_ms(be_dav *d, const char *op, const shelf__buf *body, shelf__dav_entry_fn fn,
                    void *ud)
{
    shelf__err e = { 0, "" };
    int rc = shelf__dav_multistatus(body->buf ? body->buf : "", body->len, fn, ud, &e);

    if (rc != SHELF_OK && e.rc != SHELF_OK && e.msg[0])
        return shelf__seterr(&d->be.err, rc, "%s: %s: %s", d->be.location, op, e.msg);
    return rc;
}

/* A plain request without a body to send or read. */
static int simple(be_dav *d, const char *method, const char *url, const char *op,
                  const char *hdr1, const char *hdr2, long *status, int *attempts)
{
    shelf__http_req rq;
    int rc = SHELF_OK;

    shelf__http_req_init(&rq);
    if ((hdr1 && shelf__http_hdr_add(&rq.hdrs, "%s", hdr1) != SHELF_OK) ||
        (hdr2 && shelf__http_hdr_add(&rq.hdrs, "%s", hdr2) != SHELF_OK))
        rc = nomem(d);
    else
        rc = dav_do(d, &rq, method, url, op);
    *status = rq.status;
    if (attempts)
        *attempts = rq.attempts;
    shelf__http_req_reset(&rq);
    return rc;
}

/* ---- Operations --------------------------------------------------------- */

static int push(char ***v, size_t *n, size_t *cap, const char *s)
{
    if (*n == *cap) {
        size_t nc = *cap ? 2 * *cap : 16;
        char **nv = shelf__realloc(*v, nc * sizeof *nv);

        if (!nv)
            return SHELF_ENOMEM;
        *v = nv;
        *cap = nc;
    }
    if (!((*v)[*n] = shelf__strdup(s)))
        return SHELF_ENOMEM;
    (*n)++;
    return SHELF_OK;
}

static void free_list(char **v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        shelf_free(v[i]);
    shelf_free(v);
}

static int dir_known(dav_shared *s, const char *dir)
{
    size_t i;
    int known = 0;

    pthread_mutex_lock(&s->lock);
    for (i = 0; i < s->ndirs && !known; i++)
        known = !strcmp(s->dirs[i], dir);
    pthread_mutex_unlock(&s->lock);
    return known;
}

static void dir_note(dav_shared *s, const char *dir)
{
    pthread_mutex_lock(&s->lock);
    /* Out of memory only costs MKCOLs later. */
    if (s->ndirs < 65536)
        (void)push(&s->dirs, &s->ndirs, &s->capdirs, dir);
    pthread_mutex_unlock(&s->lock);
}

static void dirs_forget(dav_shared *s)
{
    pthread_mutex_lock(&s->lock);
    free_list(s->dirs, s->ndirs);
    s->dirs = NULL;
    s->ndirs = s->capdirs = 0;
    pthread_mutex_unlock(&s->lock);
}


/* MKCOL every folder of name's parent not known to exist, top down.
 * 405: already there. */
static int mkcol_parents(be_dav *d, const char *name, const char *op)
{
    const char *p, *last = strrchr(name, '/');
    int rc = SHELF_OK;

    if (!last)
        return SHELF_OK;
    for (p = strchr(name, '/'); p && rc == SHELF_OK; p = strchr(p + 1, '/')) {
        char *dir = shelf__strndup(name, (size_t)(p - name)), *url = NULL;
        long st = 0;

        if (!dir)
            rc = nomem(d);
        else if (dir_known(d->s, dir))
            ;
        else if (!(url = url_of(d, dir, 1)))
            rc = nomem(d);
        else if ((rc = simple(d, "MKCOL", url, op, NULL, NULL, &st, NULL)) != SHELF_OK)
            ;
        else if (st == 201 || st == 405 || st == 200)
            dir_note(d->s, dir);
        else if (st == 401)
            rc = status_err(d, op, st);
        /* Anything else (Apache may answer 403 to a MKCOL racing another):
         * the PUT that follows tells whether the folder is there. */
        shelf_free(url);
        shelf_free(dir);
    }
    return rc;
}

typedef struct stat_ud {
    int seen, is_dir;
    uint64_t size;
} stat_ud;

static int on_stat(void *ud, const shelf__dav_entry *e)
{
    stat_ud *s = ud;

    if (!s->seen) {
        s->seen = 1;
        s->is_dir = e->is_dir;
        s->size = e->size;
    }
    return 0;
}

static int dav_stat(shelf__backend *be, const char *name, uint64_t *size)
{
    be_dav *d = (be_dav *)be;
    shelf__buf body = SHELF__BUF_INIT;
    char *url = url_of(d, name, 0), *op = shelf__asprintf("stat %s", name);
    stat_ud s = { 0, 0, 0 };
    long st;
    int rc;

    *size = 0;
    if (!url || !op) {
        rc = nomem(d);
        goto out;
    }
    if ((rc = propfind(d, url, "0", propfind_stat, op, &body, &st)) != SHELF_OK)
        goto out;
    if (st != 207) {
        rc = status_err(d, op, st);
        goto out;
    }
    if ((rc = parse_ms(d, op, &body, on_stat, &s)) != SHELF_OK)
        goto out;
    if (!s.seen || s.is_dir)
        rc = shelf__seterr(&be->err, SHELF_ENOTFOUND, "%s: %s: not a file", be->location, op);
    else if (s.size == UINT64_MAX)
        rc = shelf__seterr(&be->err, SHELF_EIO, "%s: %s: malformed reply: no size", be->location, op);
    else
        *size = s.size;
out:
    shelf__buf_release(&body);
    shelf_free(op);
    shelf_free(url);
    return rc;
}

void shelf__dav_sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static int random_tmp(be_dav *d, const char *name, char **out)
{
    const char *slash = strrchr(name, '/');
    uint8_t r[8];
    char hex[2 * sizeof r + 1];

    *out = NULL;
    if (RAND_bytes(r, sizeof r) != 1)
        return shelf__seterr(&d->be.err, SHELF_EIO, "cannot save '%s': no random bytes", name);
    shelf__hex(r, sizeof r, hex);
    if (!(*out = shelf__asprintf("%.*s" TMP_PREFIX "%s", slash ? (int)(slash - name + 1) : 0, name, hex)))
        return nomem(d);
    return SHELF_OK;
}

/* PUT data (or size bytes of fd) to a temp name, MOVE it to name without
 * overwriting. */
static int save_common(be_dav *d, const char *name, const void *data, size_t n, int fd,
                       uint64_t size)
{
    char *tmp = NULL, *turl = NULL, *furl = NULL, *dest = NULL, *op = NULL;
    int rc, tries, attempts = 0, placed = 0;
    long st = 0;

    if ((rc = random_tmp(d, name, &tmp)) != SHELF_OK)
        return rc;
    if (!(turl = url_of(d, tmp, 0)) || !(furl = url_of(d, name, 0)) ||
        !(dest = shelf__asprintf("Destination: %s", furl)) || !(op = shelf__asprintf("save %s", name))) {
        rc = nomem(d);
        goto out;
    }
    for (tries = 0; tries < 2; tries++) {
        shelf__http_req rq;

        if ((rc = mkcol_parents(d, name, op)) != SHELF_OK)
            goto out;
        shelf__http_req_init(&rq);
        if (fd >= 0) {
            rq.body_fd = fd;
            rq.body_off = 0;
            rq.body_fd_len = size;
        } else {
            rq.body = n ? data : "";
            rq.body_len = n;
        }
        rc = dav_do(d, &rq, "PUT", turl, op);
        st = rq.status;
        shelf__http_req_reset(&rq);
        if (rc != SHELF_OK)
            goto out;
        placed = st == 200 || st == 201 || st == 204;
        /* 409: a parent folder is missing (404 on some servers). */
        if (placed || tries > 0 || (st != 409 && st != 404))
            break;
        dirs_forget(d->s);     /* removed behind our back: make them again */
    }
    if (!placed) {
        rc = status_err(d, op, st);
        goto out;
    }
    /* 423: another MOVE to the name holds it (rclone locks the
     * destination while it moves): ask again once that one is done. */
    for (tries = 0; tries < 20; tries++) {
        int a = 0;

        if (tries)
            shelf__dav_sleep_ms(25L * tries);
        rc = simple(d, "MOVE", turl, op, dest, "Overwrite: F", &st, &a);
        attempts = a;   /* of the last MOVE: did it go out twice? */
        if (rc != SHELF_OK)
            goto out;
        if (st != 423)
            break;
    }
    if (st == 201 || st == 204 || st == 200) {
        placed = 0;     /* the temp is gone */
        goto out;
    }
    if (st == 412) {
        long dst;

        /* A retried MOVE that had worked finds the target in place and the
         * temp gone: that is our file. */
        if (simple(d, "DELETE", turl, op, NULL, NULL, &dst, NULL) == SHELF_OK && dst == 404 &&
            attempts > 1) {
            placed = 0;
            goto out;
        }
        placed = 0;
        rc = shelf__seterr(&d->be.err, SHELF_EEXIST, "%s: cannot save '%s': file exists",
                           d->be.location, name);
        goto out;
    }
    if (st == 404 && attempts > 1) {
        uint64_t got;

        placed = 0;
        if (dav_stat(&d->be, name, &got) == SHELF_OK && got == (fd >= 0 ? size : n)) {
            rc = SHELF_OK;
            goto out;
        }
    }
    rc = status_err(d, op, st);
out:
    if (placed && turl) {
        long dst;
        shelf__err keep = d->be.err;

        /* Best effort; sweep removes what a failure leaves. */
        simple(d, "DELETE", turl, op, NULL, NULL, &dst, NULL);
        d->be.err = keep;
    }
    shelf_free(op);
    shelf_free(dest);
    shelf_free(furl);
    shelf_free(turl);
    shelf_free(tmp);
    return rc;
}

static int dav_save(shelf__backend *be, const char *name, const void *data, size_t n)
{
    return save_common((be_dav *)be, name, data, n, -1, 0);
}

static int dav_save_fd(shelf__backend *be, const char *name, int fd, uint64_t size)
{
    if (!shelf__be_name_ok(name))
        return shelf__seterr(&be->err, SHELF_EINVAL, "invalid name in repository: '%s'",
                             name ? name : "(null)");
    return save_common((be_dav *)be, name, NULL, 0, fd, size);
}

static int dav_load(shelf__backend *be, const char *name, uint64_t off, uint64_t len,
                    shelf__buf *out)
{
    be_dav *d = (be_dav *)be;
    char *url = url_of(d, name, 0), *op = shelf__asprintf("load %s", name);
    shelf__http_req rq;
    int rc = SHELF_OK;

    shelf__buf_reset(out);
    shelf__http_req_init(&rq);
    if (!url || !op) {
        rc = nomem(d);
        goto out;
    }
    if (len > SIZE_MAX / 2 || off > UINT64_MAX - len) {
        rc = shelf__seterr(&be->err, SHELF_EIO, "%s: %s: short read", be->location, op);
        goto out;
    }
    if ((off || len) &&
        (len ? shelf__http_hdr_add(&rq.hdrs, "Range: bytes=%llu-%llu", (unsigned long long)off,
                                   (unsigned long long)(off + len - 1))
             : shelf__http_hdr_add(&rq.hdrs, "Range: bytes=%llu-", (unsigned long long)off)) != SHELF_OK) {
        rc = nomem(d);
        goto out;
    }
    rq.out = out;
    if ((rc = dav_do(d, &rq, "GET", url, op)) != SHELF_OK)
        goto out;
    if (rq.status == 416) {
        uint64_t size;

        /* "bytes=N-" at the very end is an empty read, not a short one. */
        if (len == 0 && (rc = dav_stat(be, name, &size)) == SHELF_OK && size == off) {
            shelf__buf_reset(out);
            goto out;
        }
        if (rc != SHELF_ENOTFOUND)
            rc = shelf__seterr(&be->err, SHELF_EIO, "%s: %s: short read", be->location, op);
        goto out;
    }
    if (rq.status == 200 && (off || len)) {
        /* The server sent the whole file: keep the part asked for. */
        if (off > out->len || (len && len > out->len - off)) {
            rc = shelf__seterr(&be->err, SHELF_EIO, "%s: %s: short read", be->location, op);
            goto out;
        }
        if (!len)
            len = out->len - off;
        memmove(out->buf, out->buf + off, (size_t)len);
        out->len = (size_t)len;
        out->buf[len] = '\0';
    } else if (rq.status != 200 && rq.status != 206) {
        rc = status_err(d, op, rq.status);
        goto out;
    }
    if (len && out->len != len)
        rc = shelf__seterr(&be->err, SHELF_EIO, "%s: %s: short read (%zu of %llu bytes)", be->location,
                           op, out->len, (unsigned long long)len);
out:
    if (rc != SHELF_OK)
        shelf__buf_reset(out);
    shelf__http_req_reset(&rq);
    shelf_free(op);
    shelf_free(url);
    return rc;
}

/* ---- Listing ------------------------------------------------------------ */

typedef struct walk {
    be_dav *d;
    const char *folder;     /* the folder listed, relative ("" for the root) */
    char **todo;            /* folders still to list (owned) */
    size_t ntodo, captodo;
    shelf__be_list_cb cb;   /* files (NULL when sweeping) */
    void *ud;
    char **tmps;            /* sweep: temp files found (owned) */
    size_t ntmps, captmps;
} walk;

static int on_entry(void *ud, const shelf__dav_entry *e)
{
    walk *w = ud;
    const char *root = w->d->s->root_dec, *rel, *base;
    size_t rl = strlen(root), fl = strlen(w->folder), nl;
    char *name;
    int rc = SHELF_OK;

    /* Only what is strictly below the folder listed (so the walk ends),
     * inside the root, with a name a repository can hold. */
    if (strncmp(e->href, root, rl) != 0)
        return SHELF_OK;
    rel = e->href + rl;
    nl = strlen(rel);
    while (nl && rel[nl - 1] == '/')
        nl--;
    if (nl == 0 || (fl && (nl <= fl + 1 || strncmp(rel, w->folder, fl) != 0 || rel[fl] != '/')))
        return SHELF_OK;
    if (!(name = shelf__strndup(rel, nl)))
        return nomem(w->d);
    base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
    if (!strncmp(base, TMP_PREFIX, strlen(TMP_PREFIX)) && !e->is_dir) {
        if (!w->cb && shelf__be_name_ok(name) && push(&w->tmps, &w->ntmps, &w->captmps, name) != SHELF_OK)
            rc = nomem(w->d);
    } else if (!shelf__be_name_ok(name)) {
        ;
    } else if (e->is_dir) {
        if (push(&w->todo, &w->ntodo, &w->captodo, name) != SHELF_OK)
            rc = nomem(w->d);
    } else if (w->cb) {
        rc = w->cb(w->ud, name, e->size == UINT64_MAX ? 0 : e->size);
    }
    shelf_free(name);
    return rc;
}

/* List dir and everything below it, folder by folder. */
static int walk_run(walk *w, const char *dir)
{
    be_dav *d = w->d;
    shelf__buf body = SHELF__BUF_INIT;
    int rc;

    if ((rc = push(&w->todo, &w->ntodo, &w->captodo, dir)) != SHELF_OK)
        return nomem(d);
    while (rc == SHELF_OK && w->ntodo) {
        char *folder = w->todo[--w->ntodo], *url = url_of(d, folder, 1);
        char *op = shelf__asprintf("list %s/", folder);
        long st;

        w->folder = folder;
        shelf__buf_reset(&body);
        if (!url || !op)
            rc = nomem(d);
        else if ((rc = propfind(d, url, "1", propfind_stat, op, &body, &st)) != SHELF_OK)
            ;
        else if (st == 207)
            rc = parse_ms(d, op, &body, on_entry, w);
        else if (st != 404)
            rc = status_err(d, op, st);
        w->folder = "";
        shelf_free(op);
        shelf_free(url);
        shelf_free(folder);
    }
    shelf__buf_release(&body);
    return rc;
}

static int dav_list(shelf__backend *be, const char *dir, shelf__be_list_cb cb, void *ud)
{
    walk w;
    int rc;

    memset(&w, 0, sizeof w);
    w.d = (be_dav *)be;
    w.folder = "";
    w.cb = cb;
    w.ud = ud;
    rc = walk_run(&w, dir);
    free_list(w.todo, w.ntodo);
    return rc;
}

static uint64_t dav_sweep(shelf__backend *be)
{
    be_dav *d = (be_dav *)be;
    uint64_t n = 0;
    size_t i;
    walk w;

    memset(&w, 0, sizeof w);
    w.d = d;
    w.folder = "";
    if (walk_run(&w, "") == SHELF_OK) {
        for (i = 0; i < w.ntmps; i++) {
            char *url = url_of(d, w.tmps[i], 0), *op = shelf__asprintf("sweep %s", w.tmps[i]);
            long st;

            if (url && op && simple(d, "DELETE", url, op, NULL, NULL, &st, NULL) == SHELF_OK &&
                st / 100 == 2)
                n++;
            shelf_free(op);
            shelf_free(url);
        }
    }
    free_list(w.todo, w.ntodo);
    free_list(w.tmps, w.ntmps);
    return n;
}

static int dav_remove(shelf__backend *be, const char *name)
{
    be_dav *d = (be_dav *)be;
    char *url = url_of(d, name, 0), *op = shelf__asprintf("remove %s", name);
    int rc, attempts = 0;
    long st = 0;

    if (!url || !op)
        rc = nomem(d);
    else if ((rc = simple(d, "DELETE", url, op, NULL, NULL, &st, &attempts)) != SHELF_OK)
        ;
    else if (st == 404 && attempts > 1)
        ;   /* an earlier attempt removed it and its answer was lost */
    else if (st != 200 && st != 204)
        rc = status_err(d, op, st);
    shelf_free(op);
    shelf_free(url);
    return rc;
}

typedef struct quota_ud {
    int seen;
    uint64_t used, avail;
} quota_ud;

static int on_quota(void *ud, const shelf__dav_entry *e)
{
    quota_ud *q = ud;

    if (!q->seen) {
        q->seen = 1;
        q->used = e->quota_used;
        q->avail = e->quota_avail;
    }
    return 0;
}

static int dav_space(shelf__backend *be, uint64_t *used, uint64_t *avail)
{
    be_dav *d = (be_dav *)be;
    shelf__buf body = SHELF__BUF_INIT;
    quota_ud q = { 0, UINT64_MAX, UINT64_MAX };
    char *url = url_of(d, "", 1);
    long st;
    int rc;

    *used = *avail = UINT64_MAX;
    if (!url)
        return nomem(d);
    if ((rc = propfind(d, url, "0", propfind_quota, "read quota", &body, &st)) != SHELF_OK)
        goto out;
    if (st == 207)
        rc = parse_ms(d, "read quota", &body, on_quota, &q);
    else if (st == 401 || st == 403)
        rc = status_err(d, "read quota", st);
    /* Anything else: the server offers no quota (lighttpd answers 415,
     * others 400 or 501). */
    if (rc == SHELF_OK) {
        *used = q.used;
        *avail = q.avail;
    }
out:
    shelf__buf_release(&body);
    shelf_free(url);
    return rc;
}

/* ---- Handles ------------------------------------------------------------ */

static void shared_unref(dav_shared *s)
{
    if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    shelf__http_free(s->http);
    if (s->auth) {
        OPENSSL_cleanse(s->auth, strlen(s->auth));
        shelf_free(s->auth);
    }
    shelf_free(s->base);
    shelf_free(s->root);
    shelf_free(s->root_dec);
    free_list(s->dirs, s->ndirs);
    pthread_mutex_destroy(&s->lock);
    if (s->on_close)
        s->on_close(s->close_ud);
    shelf_free(s);
}

static void dav_close(shelf__backend *be)
{
    be_dav *d = (be_dav *)be;

    shared_unref(d->s);
    shelf_free(be->location);
    shelf_free(d);
}

static int dav_dup(shelf__backend *be, shelf__backend **out)
{
    be_dav *d = (be_dav *)be, *n;

    *out = NULL;
    if (!(n = shelf__calloc(1, sizeof *n)) || !(n->be.location = shelf__strdup(be->location))) {
        shelf_free(n);
        return nomem(d);
    }
    n->be.ops = be->ops;
    n->s = d->s;
    atomic_fetch_add(&d->s->refs, 1);
    *out = &n->be;
    return SHELF_OK;
}

static const shelf__backend_ops dav_ops = {
    "webdav", dav_save, dav_load, dav_stat, dav_list, dav_remove, dav_close, dav_sweep,
    dav_save_fd, dav_dup, dav_space
};
static const shelf__backend_ops rclone_ops = {
    "rclone", dav_save, dav_load, dav_stat, dav_list, dav_remove, dav_close, dav_sweep,
    dav_save_fd, dav_dup, dav_space
};

/* "Basic base64(user:password)", owned; NULL when out of memory. */
static char *basic_auth(const char *user, const char *password)
{
    size_t ul = strlen(user), pl = strlen(password), n = ul + 1 + pl;
    unsigned char *plain = shelf__malloc(n + 1);
    char *out = shelf__malloc(6 + 4 * ((n + 2) / 3) + 1);

    if (!plain || !out) {
        shelf_free(plain);
        shelf_free(out);
        return NULL;
    }
    memcpy(plain, user, ul);
    plain[ul] = ':';
    memcpy(plain + ul + 1, password, pl);
    memcpy(out, "Basic ", 6);
    EVP_EncodeBlock((unsigned char *)out + 6, plain, (int)n);
    OPENSSL_cleanse(plain, n);
    shelf_free(plain);
    return out;
}

/* The root as "/a/b/", decoded and encoded. */
static int make_root(dav_shared *s, const char *path)
{
    shelf__buf dec = SHELF__BUF_INIT, enc = SHELF__BUF_INIT;
    int nm = 0, rc = SHELF_ENOMEM;

    if (shelf__dav_pct_decode(&dec, path ? path : "", &nm) != 0) {
        rc = nm ? SHELF_ENOMEM : SHELF_EINVAL;
        goto out;
    }
    if (!dec.len || dec.buf[0] != '/') {
        if (shelf__buf_add(&dec, "/", 1) != SHELF_OK)
            goto out;
        memmove(dec.buf + 1, dec.buf, dec.len - 1);
        dec.buf[0] = '/';
    }
    if (dec.buf[dec.len - 1] != '/' && shelf__buf_add(&dec, "/", 1) != SHELF_OK)
        goto out;
    if (shelf__http_pct(&enc, dec.buf, 1) != SHELF_OK)
        goto out;
    s->root_dec = shelf__buf_detach(&dec);
    s->root = shelf__buf_detach(&enc);
    rc = SHELF_OK;
out:
    shelf__buf_release(&dec);
    shelf__buf_release(&enc);
    return rc;
}

/* create: MKCOL each folder of the root; then the root must be a folder. */
static int check_root(be_dav *d, int create)
{
    const char *root = d->s->root_dec;
    shelf__buf body = SHELF__BUF_INIT;
    stat_ud s = { 0, 0, 0 };
    char *url = NULL;
    long st;
    int rc = SHELF_OK;

    if (create) {
        const char *p;

        for (p = strchr(root + 1, '/'); p && rc == SHELF_OK; p = strchr(p + 1, '/')) {
            shelf__buf u = SHELF__BUF_INIT;
            char *part = shelf__strndup(root, (size_t)(p - root + 1));

            if (!part || shelf__buf_adds(&u, d->s->base) != SHELF_OK || shelf__http_pct(&u, part, 1) != SHELF_OK)
                rc = nomem(d);
            else if ((rc = simple(d, "MKCOL", u.buf, "create repository folder", NULL, NULL, &st, NULL)) ==
                         SHELF_OK && st != 201 && st != 405 && st != 200)
                rc = status_err(d, "create repository folder", st);
            shelf_free(part);
            shelf__buf_release(&u);
        }
        if (rc != SHELF_OK)
            return rc;
    }
    if (!(url = url_of(d, "", 1)))
        return nomem(d);
    if ((rc = propfind(d, url, "0", propfind_stat, "open repository", &body, &st)) != SHELF_OK)
        goto out;
    if (st != 207) {
        rc = status_err(d, "open repository", st);
        goto out;
    }
    if ((rc = parse_ms(d, "open repository", &body, on_stat, &s)) == SHELF_OK && !s.is_dir)
        rc = shelf__seterr(&d->be.err, SHELF_ENOTFOUND, "%s: open repository: not a folder",
                           d->be.location);
out:
    shelf__buf_release(&body);
    shelf_free(url);
    return rc;
}

int shelf__dav_open(const char *kind, const char *display, const char *base, const char *path,
                    const char *user, const char *password, const shelf__be_opts *o,
                    int insecure_http, shelf__dav_close_fn on_close, void *close_ud,
                    shelf__backend **out, shelf__err *err)
{
    static const shelf__be_opts none;
    shelf__http_cfg cfg;
    dav_shared *s = NULL;
    be_dav *d = NULL;
    int rc;

    *out = NULL;
    if (!o)
        o = &none;
    if (!(s = shelf__calloc(1, sizeof *s))) {
        if (on_close)
            on_close(close_ud);
        return shelf__seterr(err, SHELF_ENOMEM, "out of memory");
    }
    atomic_init(&s->refs, 1);
    if (pthread_mutex_init(&s->lock, NULL) != 0) {
        shelf_free(s);
        if (on_close)
            on_close(close_ud);
        return shelf__seterr(err, SHELF_ENOMEM, "out of memory");
    }
    s->on_close = on_close;
    s->close_ud = close_ud;
    if (!(d = shelf__calloc(1, sizeof *d)) || !(d->be.location = shelf__strdup(display)) ||
        !(s->base = shelf__strdup(base)) ||
        (user && password && !(s->auth = basic_auth(user, password)))) {
        rc = shelf__seterr(err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    d->be.ops = strcmp(kind, "rclone") ? &dav_ops : &rclone_ops;
    d->s = s;
    if ((rc = make_root(s, path)) != SHELF_OK) {
        rc = rc == SHELF_ENOMEM ? shelf__seterr(err, rc, "out of memory")
                                : shelf__seterr(err, rc, "%s: invalid path", display);
        goto out;
    }
    memset(&cfg, 0, sizeof cfg);
    cfg.ca_file = o->ca_file;
    cfg.insecure_http_ok = insecure_http;
    cfg.limit_up = o->limit_up;
    cfg.limit_down = o->limit_down;
    cfg.connections = o->connections;
    cfg.progress = o->progress;
    cfg.progress_ud = o->progress_ud;
    if (o->quick) {
        cfg.max_attempts = 1;
        cfg.connect_timeout_ms = 2000;
    }
    if ((rc = shelf__http_new(base, &cfg, &s->http, err)) != SHELF_OK)
        goto out;
    if ((rc = check_root(d, o->create)) != SHELF_OK) {
        *err = d->be.err;
        goto out;
    }
    *out = &d->be;
    return SHELF_OK;
out:
    if (d) {
        shelf_free(d->be.location);
        shelf_free(d);
    }
    shared_unref(s);
    return rc;
}

static int loopback(const char *host)
{
    return host && (!strcmp(host, "127.0.0.1") || !strcmp(host, "localhost") || !strcmp(host, "::1") ||
                    !strcmp(host, "[::1]"));
}

int shelf__be_webdav_open(const shelf__target *t, const shelf__creds *c,
                          const shelf__be_opts *o, shelf__backend **out, shelf__err *err)
{
    *out = NULL;
    if (!t || t->kind != SHELF__TGT_WEBDAV || !t->base)
        return shelf__seterr(err, SHELF_EINVAL, "not a webdav target");
    /* Basic auth in the clear goes to this machine only. */
    return shelf__dav_open("webdav", t->display ? t->display : t->base, t->base, t->path,
                           c ? c->user : NULL, c ? c->password : NULL, o, loopback(t->host), NULL,
                           NULL, out, err);
}
