/*
 * be_s3.c: the S3 backend (AWS S3 and compatible stores: Ceph RGW, MinIO,
 * Garage, B2, Wasabi) on the HTTP layer (http_int.h), requests signed by
 * sigv4.c, replies parsed by the safe libxml2 reader.  A repository is the
 * objects under s3:http[s]://HOST/BUCKET/PREFIX; a name "data/ab/abcd"
 * is the key "PREFIX/data/ab/abcd".
 *
 * Create-only saves: PUT with If-None-Match: * (412: the object exists;
 * 409 ConditionalRequestConflict, a concurrent conditional write, is
 * retried).  Servers that ignore the header (s3rver, older MinIO and
 * RGW) are found at init by putting a probe object twice; the answer is
 * kept in the marker object PREFIX/.shelf-s3, and without it every save
 * asks with HEAD first (racy: two writers may both see "absent"; names
 * are content hashes or random, so both write the same bytes or
 * different names).  Large files (save_fd) go as a multipart upload whose
 * Complete carries If-None-Match too (ignored by some servers, Ceph RGW
 * among them: the HEAD before the upload is the guard there).  The next
 * save of a name resumes the multipart upload a killed run left (the parts
 * already there whose MD5 matches are kept); sweep aborts the uploads no
 * save will resume (their object exists, or they are a day old).
 *
 * Owns: one be_s3 per handle; dup'ed handles share one s3_shared (the
 * shelf__http, credentials, settings), freed with the last handle.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include "http_int.h"
#include "s3_int.h"
#include "sigv4_int.h"

#define MARKER ".shelf-s3"
#define MARKER_TEXT "if-none-match: honoured\n"
#define MIB (1024u * 1024u)
#define MULTIPART_MIN (32ull * MIB)
#define PART_MIN (8ull * MIB)
#define PART_MAX (64ull * MIB)
#define MAX_PARTS 10000u
#define LIST_MAX_OUT (64u * MIB)

typedef struct s3_shared {
    atomic_int refs;
    shelf__http *http;
    char *base;             /* "https://host:port" or "https://bucket.host:port" */
    char *host_hdr;         /* "host: 127.0.0.1:4568" as curl sends it */
    char *path_base;        /* "/bucket/" (path-style) or "/" (virtual-hosted) */
    char *prefix;           /* "" or "a/b/" */
    char *access_key, *secret_key, *session_token, *region;
    char *display;          /* "s3://HOST/BUCKET" for messages */
    int conditional;        /* the server honours If-None-Match: * */
    uint64_t budget;        /* bytes the user allows; 0: none */
    shelf__s3_hooks hooks;
    _Atomic uint64_t parts_kept;    /* parts of killed runs' uploads reused */
} s3_shared;

typedef struct be_s3 {
    shelf__backend be;
    s3_shared *sh;
} be_s3;

static void shared_free(s3_shared *sh)
{
    if (!sh || atomic_fetch_sub(&sh->refs, 1) != 1)
        return;
    shelf__http_free(sh->http);
    shelf_free(sh->base);
    shelf_free(sh->host_hdr);
    shelf_free(sh->path_base);
    shelf_free(sh->prefix);
    if (sh->secret_key)
        OPENSSL_cleanse(sh->secret_key, strlen(sh->secret_key));
    if (sh->session_token)
        OPENSSL_cleanse(sh->session_token, strlen(sh->session_token));
    shelf_free(sh->access_key);
    shelf_free(sh->secret_key);
    shelf_free(sh->session_token);
    shelf_free(sh->region);
    shelf_free(sh->display);
    shelf_free(sh);
}

/* ---- requests ------------------------------------------------------------- */

/* Sign a request just before each attempt (the HTTP layer's callback):
 * x-amz-date, x-amz-content-sha256, the session token and Authorization go
 * into rq->sign_hdrs; every header of rq->hdrs is signed too. */
typedef struct sign_ctx {
    s3_shared *sh;
    const char *payload_hash;
} sign_ctx;

static int sign_request(void *ud, shelf__http_req *rq, shelf__err *err)
{
    sign_ctx *c = ud;
    s3_shared *sh = c->sh;
    const char *hdrs[64], *p;
    char *path = NULL, *date_h = NULL, *hash_h = NULL, *tok_h = NULL;
    shelf__sigv4_req sr;
    shelf__sigv4_out so;
    char date[17];
    size_t n = 0, i;
    int64_t now = shelf__now();
    int rc;

    memset(&so, 0, sizeof so);
    /* One reading of the clock: the x-amz-date signed among the headers
     * and the one in the string to sign must be the same second. */
    if (shelf__sigv4_amz_date(now, date) != SHELF_OK)
        return shelf__seterr(err, SHELF_EINVAL, "%s: %s: the clock is out of range", sh->display,
                             rq->op);
    /* The path and query of the URL as sent. */
    p = strstr(rq->url, "://");
    p = p ? strchr(p + 3, '/') : NULL;
    if (!p)
        return shelf__seterr(err, SHELF_EINVAL, "%s: %s: bad url", sh->display, rq->op);
    memset(&sr, 0, sizeof sr);
    if (!(path = shelf__strndup(p, strcspn(p, "?"))) ||
        !(date_h = shelf__asprintf("x-amz-date: %s", date)) ||
        !(hash_h = shelf__asprintf("x-amz-content-sha256: %s", c->payload_hash)) ||
        (sh->session_token && !(tok_h = shelf__asprintf("x-amz-security-token: %s",
                                                       sh->session_token)))) {
        rc = shelf__seterr(err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    hdrs[n++] = sh->host_hdr;
    hdrs[n++] = date_h;
    hdrs[n++] = hash_h;
    if (tok_h)
        hdrs[n++] = tok_h;
    for (i = 0; i < rq->hdrs.n && n < sizeof hdrs / sizeof hdrs[0]; i++)
        hdrs[n++] = rq->hdrs.v[i];
    sr.method = rq->method;
    sr.path = path;
    sr.query = strchr(p, '?') ? strchr(p, '?') + 1 : NULL;
    sr.headers = hdrs;
    sr.n_headers = n;
    sr.payload_hash = c->payload_hash;
    sr.time = now;
    sr.access_key = sh->access_key;
    sr.secret_key = sh->secret_key;
    sr.region = sh->region;
    sr.service = "s3";
    if ((rc = shelf__sigv4_sign(&sr, &so, err)) != SHELF_OK)
        goto out;
    if (shelf__http_hdr_add(&rq->sign_hdrs, "%s", date_h) != SHELF_OK ||
        shelf__http_hdr_add(&rq->sign_hdrs, "%s", hash_h) != SHELF_OK ||
        (tok_h && shelf__http_hdr_add(&rq->sign_hdrs, "%s", tok_h) != SHELF_OK) ||
        shelf__http_hdr_add(&rq->sign_hdrs, "Authorization: %s", so.authorization) != SHELF_OK)
        rc = shelf__seterr(err, SHELF_ENOMEM, "out of memory");
out:
    if (tok_h) {
        OPENSSL_cleanse(tok_h, strlen(tok_h));
        shelf_free(tok_h);
    }
    shelf__sigv4_out_release(&so);
    shelf_free(path);
    shelf_free(date_h);
    shelf_free(hash_h);
    return rc;
}

/* The URL of key (relative to the prefix when rel) with query (NULL: none). */
static char *url_of(s3_shared *sh, const char *key, int rel, const char *query)
{
    shelf__buf b = SHELF__BUF_INIT;

    size_t pb = strlen(sh->path_base);

    /* A request on the bucket itself goes to "/bucket", as SDKs send it
     * (a path-style "/bucket/" signs differently on some servers). */
    if (!rel && !*key && pb > 1)
        pb--;
    if (shelf__buf_adds(&b, sh->base) != SHELF_OK || shelf__buf_add(&b, sh->path_base, pb) != SHELF_OK ||
        (rel && shelf__http_pct(&b, sh->prefix, 1) != SHELF_OK) ||
        shelf__http_pct(&b, key, 1) != SHELF_OK ||
        (query && shelf__buf_addf(&b, "?%s", query) != SHELF_OK)) {
        shelf__buf_release(&b);
        return NULL;
    }
    return shelf__buf_detach(&b);
}

/* Make rq (url: a path from url_of, owned by the caller) with payload hash
 * phash, into out (may be NULL). */
static int s3_do(be_s3 *b, shelf__http_req *rq, const char *phash)
{
    sign_ctx c = { b->sh, phash ? phash : SHELF__SIGV4_EMPTY_SHA256 };

    rq->sign = sign_request;
    rq->sign_ud = &c;
    return shelf__http_do(b->sh->http, rq, &b->be.err);
}

/* Turn a status that is not success into an error naming the remote and
 * the operation; body is the reply (may be empty). */
static int s3_fail(be_s3 *b, const shelf__http_req *rq, const shelf__buf *body)
{
    s3_shared *sh = b->sh;
    shelf__s3_reply r;
    shelf__err xe = { 0, "" };
    const char *code = "", *msg = "";
    long st = rq->status;
    int rc;

    memset(&r, 0, sizeof r);
    if (body && body->len && shelf__s3_reply_parse(body->buf, body->len, SHELF__S3X_ERROR, &r,
                                                   &xe) == SHELF_OK && r.is_error) {
        code = r.code ? r.code : "";
        msg = r.message ? r.message : "";
    }
    if (!strcmp(code, "NoSuchBucket"))
        rc = shelf__seterr(&b->be.err, SHELF_ENOTFOUND, "%s: bucket does not exist", sh->display);
    else if (st == 404)
        rc = shelf__seterr(&b->be.err, SHELF_ENOTFOUND, "%s: %s: not found", sh->display, rq->op);
    else if (st == 403 || !strcmp(code, "AccessDenied") ||
             !strcmp(code, "SignatureDoesNotMatch") || !strcmp(code, "InvalidAccessKeyId"))
        rc = shelf__seterr(&b->be.err, SHELF_EPERM, "%s: %s: access denied (%s)", sh->display,
                           rq->op, *code ? code : "HTTP 403");
    else if (st == 412)
        rc = shelf__seterr(&b->be.err, SHELF_EEXIST, "%s: %s: object exists", sh->display, rq->op);
    else if (st >= 300 && st < 400)
        rc = shelf__seterr(&b->be.err, SHELF_EINVAL,
                           "%s: %s: redirected (HTTP %ld): wrong region or endpoint", sh->display,
                           rq->op, st);
    else if (st == 0 || st == 429 || st >= 500 || !strcmp(code, "SlowDown") ||
             !strcmp(code, "InternalError"))
        rc = shelf__seterr(&b->be.err, SHELF_EIO, "%s: %s: server error (HTTP %ld%s%s)",
                           sh->display, rq->op, st, *code ? " " : "", code);
    else
        rc = shelf__seterr(&b->be.err, SHELF_EIO, "%s: %s: HTTP %ld%s%s%s%.200s", sh->display,
                           rq->op, st, *code ? " " : "", code, *msg ? ": " : "", msg);
    shelf__s3_reply_free(&r);
    return rc;
}

static int nomem(be_s3 *b)
{
    return shelf__seterr(&b->be.err, SHELF_ENOMEM, "out of memory");
}

/* HEAD key (relative): SHELF_OK with *size (and *etag, owned, when etag
 * is not NULL), SHELF_ENOTFOUND, or an error. */
/* Set rq up for method on url as op; url or op NULL (out of memory) is
 * SHELF_ENOMEM on b.  rq is ready for shelf__http_req_reset either way. */
static int req_start(be_s3 *b, shelf__http_req *rq, const char *method, const char *url,
                     const char *op)
{
    shelf__http_req_init(rq);
    if (!url || !op)
        return nomem(b);
    rq->op = op;
    rq->method = method;
    rq->url = url;
    return SHELF_OK;
}

static int s3_head_etag(be_s3 *b, const char *name, int rel, uint64_t *size, char **etag)
{
    shelf__http_req rq;
    char *url = url_of(b->sh, name, rel, NULL), *op = shelf__asprintf("stat %s", name);
    int rc;

    *size = 0;
    if (etag)
        *etag = NULL;
    if ((rc = req_start(b, &rq, "HEAD", url, op)) != SHELF_OK)
        goto out;
    if ((rc = s3_do(b, &rq, NULL)) != SHELF_OK)
        goto out;
    if (rq.status == 200 && rq.content_length >= 0) {
        *size = (uint64_t)rq.content_length;
        if (etag) {
            *etag = rq.etag;
            rq.etag = NULL;
        }
    } else if (rq.status == 200)
        rc = shelf__seterr(&b->be.err, SHELF_EIO, "%s: %s: no Content-Length", b->sh->display, op);
    else if (rq.status == 404)
        rc = shelf__seterr(&b->be.err, SHELF_ENOTFOUND, "%s: cannot stat '%s': not found",
                           b->sh->display, name);
    else
        rc = s3_fail(b, &rq, NULL);
out:
    shelf__http_req_reset(&rq);
    shelf_free(url);
    shelf_free(op);
    return rc;
}

static int s3_head(be_s3 *b, const char *name, int rel, uint64_t *size)
{
    return s3_head_etag(b, name, rel, size, NULL);
}

static int md5_of(const void *data, size_t n, uint8_t md[16])
{
    unsigned int len = 0;

    return EVP_Digest(data, n, md, &len, EVP_md5(), NULL) == 1 && len == 16 ? SHELF_OK
                                                                          : SHELF_ENOMEM;
}

/* An ETag header ("\"hex\"", maybe weak) equals md's hex (suffix: "-N"). */
static int etag_is(const char *etag, const uint8_t md[16], const char *suffix)
{
    char hex[33], want[64];
    size_t n;

    if (!etag)
        return 0;
    if (!strncmp(etag, "W/", 2))
        etag += 2;
    shelf__hex(md, 16, hex);
    snprintf(want, sizeof want, "\"%s%s\"", hex, suffix);
    n = strlen(etag);
    if (n && etag[0] != '"')   /* some servers leave the quotes out */
        return strlen(want) == n + 2 && !strncmp(want + 1, etag, n);
    return !strcmp(etag, want);
}

/* PUT one object (key relative) from memory, create-only.  rc SHELF_EEXIST
 * when it exists. */
static int put_object(be_s3 *b, const char *name, const void *data, size_t n, int create_only)
{
    s3_shared *sh = b->sh;
    static const int retry[] = { 409, 0 };
    shelf__http_req rq;
    shelf__buf body = SHELF__BUF_INIT;
    char *url = url_of(sh, name, 1, NULL), *op = shelf__asprintf("upload %s", name);
    uint8_t md[16], sha[SHELF_HASH_BYTES];
    char phash[SHELF_HASH_HEX], md_b64[32];
    uint64_t size;
    int rc;

    shelf__http_req_init(&rq);
    if (!url || !op || md5_of(data, n, md) != SHELF_OK) {
        rc = nomem(b);
        goto out;
    }
    if (create_only && !sh->conditional) {
        /* The server ignores If-None-Match: ask first (racy; see above). */
        rc = s3_head(b, name, 1, &size);
        if (rc == SHELF_OK) {
            rc = shelf__seterr(&b->be.err, SHELF_EEXIST, "%s: cannot save '%s': object exists",
                               sh->display, name);
            goto out;
        }
        if (rc != SHELF_ENOTFOUND)
            goto out;
    }
    shelf__sha256_mem(data, n, sha);
    shelf__hex(sha, sizeof sha, phash);
    EVP_EncodeBlock((unsigned char *)md_b64, md, 16);
    rq.op = op;
    rq.method = "PUT";
    rq.url = url;
    rq.body = data;
    rq.body_len = n;
    rq.out = &body;
    rq.max_out = MIB;
    rq.retry_status = retry;
    if (shelf__http_hdr_add(&rq.hdrs, "Content-MD5: %s", md_b64) != SHELF_OK ||
        shelf__http_hdr_add(&rq.hdrs, "Content-Type: application/octet-stream") != SHELF_OK ||
        (create_only && shelf__http_hdr_add(&rq.hdrs, "If-None-Match: *") != SHELF_OK)) {
        rc = nomem(b);
        goto out;
    }
    if ((rc = s3_do(b, &rq, phash)) != SHELF_OK)
        goto out;
    if (rq.status == 412 && rq.attempts > 1) {
        /* Our own earlier attempt may have landed before its answer was
         * lost: the same bytes there are a success. */
        shelf__http_req_reset(&rq);
        shelf__http_req_init(&rq);
        rq.op = op;
        rq.method = "HEAD";
        rq.url = url;
        if ((rc = s3_do(b, &rq, NULL)) == SHELF_OK && rq.status == 200 && etag_is(rq.etag, md, ""))
            goto out;
        rc = shelf__seterr(&b->be.err, SHELF_EEXIST, "%s: cannot save '%s': object exists",
                           sh->display, name);
        goto out;
    }
    if (rq.status == 412) {
        rc = shelf__seterr(&b->be.err, SHELF_EEXIST, "%s: cannot save '%s': object exists",
                           sh->display, name);
        goto out;
    }
    if (rq.status != 200) {
        rc = s3_fail(b, &rq, &body);
        goto out;
    }
    if (!etag_is(rq.etag, md, ""))
        rc = shelf__seterr(&b->be.err, SHELF_EIO, "%s: %s: wrong ETag %.80s (the server stored "
                           "other bytes than sent)", sh->display, op, rq.etag ? rq.etag : "(none)");
out:
    shelf__http_req_reset(&rq);
    shelf__buf_release(&body);
    shelf_free(url);
    shelf_free(op);
    return rc;
}

static int s3_save(shelf__backend *be, const char *name, const void *data, size_t n)
{
    return put_object((be_s3 *)be, name, data, n, 1);
}

static int s3_load(shelf__backend *be, const char *name, uint64_t off, uint64_t len,
                   shelf__buf *out)
{
    be_s3 *b = (be_s3 *)be;
    shelf__http_req rq;
    char *url = url_of(b->sh, name, 1, NULL), *op = shelf__asprintf("download %s", name);
    uint64_t size;
    int rc;

    shelf__buf_reset(out);
    if ((rc = req_start(b, &rq, "GET", url, op)) != SHELF_OK)
        goto out;
    rq.out = out;
    if (len && off + len < off) {
        rc = shelf__seterr(&be->err, SHELF_EIO, "%s: cannot read '%s': short read",
                           b->sh->display, name);
        goto out;
    }
    if ((len && shelf__http_hdr_add(&rq.hdrs, "Range: bytes=%llu-%llu", (unsigned long long)off,
                                    (unsigned long long)(off + len - 1)) != SHELF_OK) ||
        (!len && off && shelf__http_hdr_add(&rq.hdrs, "Range: bytes=%llu-",
                                            (unsigned long long)off) != SHELF_OK)) {
        rc = nomem(b);
        goto out;
    }
    if ((rc = s3_do(b, &rq, NULL)) != SHELF_OK)
        goto out;
    if (rq.status == 416) {
        /* Past the end, or from the very end (a range of no bytes). */
        shelf__buf_reset(out);
        if (!len && (rc = s3_head(b, name, 1, &size)) == SHELF_OK && size != off)
            rc = SHELF_EIO;
        if (len || rc == SHELF_EIO)
            rc = shelf__seterr(&be->err, SHELF_EIO, "%s: cannot read '%s': short read",
                               b->sh->display, name);
        goto out;
    }
    if (rq.status == 404) {
        rc = s3_fail(b, &rq, out);
        if (rc == SHELF_ENOTFOUND && !strstr(be->err.msg, "bucket does not exist"))
            shelf__seterr(&be->err, rc, "%s: cannot read '%s': not found", b->sh->display, name);
        goto out;
    }
    if (rq.status != 200 && rq.status != 206) {
        rc = s3_fail(b, &rq, out);
        goto out;
    }
    if (rq.content_length >= 0 && (uint64_t)rq.content_length != out->len) {
        rc = shelf__seterr(&be->err, SHELF_EIO, "%s: %s: got %zu bytes of %lld (Content-Length)",
                           b->sh->display, op, out->len, (long long)rq.content_length);
        goto out;
    }
    if (rq.status == 200 && (off || len)) {
        /* The server sent the whole object: cut the range out. */
        if (off > out->len) {
            rc = shelf__seterr(&be->err, SHELF_EIO, "%s: cannot read '%s': short read",
                               b->sh->display, name);
            goto out;
        }
        memmove(out->buf, out->buf + off, out->len - (size_t)off);
        out->len -= (size_t)off;
        if (len && out->len > len)
            out->len = (size_t)len;
        out->buf[out->len] = '\0';
    }
    if (len && out->len != len)
        rc = shelf__seterr(&be->err, SHELF_EIO, "%s: cannot read '%s': short read",
                           b->sh->display, name);
out:
    if (rc != SHELF_OK)
        shelf__buf_reset(out);
    shelf__http_req_reset(&rq);
    shelf_free(url);
    shelf_free(op);
    return rc;
}

static int s3_stat(shelf__backend *be, const char *name, uint64_t *size)
{
    return s3_head((be_s3 *)be, name, 1, size);
}

/* Parse the reply to rq, which must be a 200 with an XML body of kind;
 * another status or a body that does not parse is an error on b. */
static int read_reply(be_s3 *b, const shelf__http_req *rq, const shelf__buf *body, int kind,
                      shelf__s3_reply *r)
{
    shelf__err xe = { 0, "" };
    int rc;

    if (rq->status != 200)
        return s3_fail(b, rq, body);
    if ((rc = shelf__s3_reply_parse(body->buf, body->len, kind, r, &xe)) != SHELF_OK)
        return shelf__seterr(&b->be.err, rc == SHELF_ENOMEM ? rc : SHELF_EIO, "%s: %s: %s",
                             b->sh->display, rq->op, xe.msg);
    return SHELF_OK;
}

/* GET a reply of kind from name (rel: relative to the prefix; "" and 0:
 * the bucket) with query (built by the caller), and parse it. */
static int get_reply_at(be_s3 *b, const char *name, int rel, const char *op, const char *query,
                        int kind, shelf__s3_reply *r)
{
    shelf__http_req rq;
    shelf__buf body = SHELF__BUF_INIT;
    char *url = url_of(b->sh, name, rel, query);
    int rc;

    memset(r, 0, sizeof *r);
    if ((rc = req_start(b, &rq, "GET", url, op)) != SHELF_OK)
        goto out;
    rq.out = &body;
    rq.max_out = LIST_MAX_OUT;
    if ((rc = s3_do(b, &rq, NULL)) != SHELF_OK ||
        (rc = read_reply(b, &rq, &body, kind, r)) != SHELF_OK)
        goto out;
    if (r->is_error) {
        rq.status = 500;
        rc = s3_fail(b, &rq, &body);
        shelf__s3_reply_free(r);
    }
out:
    shelf__http_req_reset(&rq);
    shelf__buf_release(&body);
    shelf_free(url);
    return rc;
}

/* GET a list reply of kind from the bucket (query built by the caller). */
static int get_reply(be_s3 *b, const char *op, const char *query, int kind, shelf__s3_reply *r)
{
    return get_reply_at(b, "", 0, op, query, kind, r);
}

/* List keys under the prefix + dir (NULL: the whole prefix), calling cb
 * with names relative to the prefix; keys that are no valid name are
 * skipped. */
static int s3_list(shelf__backend *be, const char *dir, shelf__be_list_cb cb, void *ud)
{
    be_s3 *b = (be_s3 *)be;
    s3_shared *sh = b->sh;
    shelf__buf q = SHELF__BUF_INIT, pfx = SHELF__BUF_INIT;
    shelf__s3_reply r;
    char *token = NULL, *op = dir ? shelf__asprintf("list %s/", dir) : shelf__strdup("list");
    size_t plen = strlen(sh->prefix), i;
    int rc = SHELF_OK;

    memset(&r, 0, sizeof r);
    if (!op || shelf__buf_addf(&pfx, "%s%s%s", sh->prefix, dir ? dir : "", dir ? "/" : "") !=
                   SHELF_OK) {
        rc = nomem(b);
        goto out;
    }
    do {
        shelf__buf_reset(&q);
        if (shelf__buf_adds(&q, "list-type=2&prefix=") != SHELF_OK ||
            shelf__http_pct(&q, pfx.buf, 0) != SHELF_OK ||
            (sh->hooks.max_keys > 0 &&
             shelf__buf_addf(&q, "&max-keys=%d", sh->hooks.max_keys) != SHELF_OK) ||
            (token && (shelf__buf_adds(&q, "&continuation-token=") != SHELF_OK ||
                       shelf__http_pct(&q, token, 0) != SHELF_OK))) {
            rc = nomem(b);
            goto out;
        }
        shelf_free(token);
        token = NULL;
        if ((rc = get_reply(b, op, q.buf, SHELF__S3X_LIST, &r)) != SHELF_OK)
            goto out;
        for (i = 0; i < r.n && rc == SHELF_OK; i++) {
            const char *key = r.items[i].key;

            if (strncmp(key, pfx.buf, pfx.len) != 0 || !shelf__be_name_ok(key + plen))
                continue;   /* not ours: a folder marker, a stranger's key */
            rc = cb(ud, key + plen, r.items[i].size);
        }
        if (rc == SHELF_OK && r.truncated) {
            if (!r.next_token || !*r.next_token) {
                rc = shelf__seterr(&be->err, SHELF_EIO, "%s: %s: truncated list without "
                                   "NextContinuationToken", sh->display, op);
                goto out;
            }
            token = r.next_token;
            r.next_token = NULL;
        }
        shelf__s3_reply_free(&r);
    } while (rc == SHELF_OK && token);
out:
    shelf__s3_reply_free(&r);
    shelf__buf_release(&q);
    shelf__buf_release(&pfx);
    shelf_free(token);
    shelf_free(op);
    return rc;
}

/* DELETE key (relative to the prefix) with query (NULL: none). */
static int s3_delete(be_s3 *b, const char *name, const char *query, const char *what)
{
    shelf__http_req rq;
    shelf__buf body = SHELF__BUF_INIT;
    char *url = url_of(b->sh, name, 1, query), *op = shelf__asprintf("%s %s", what, name);
    int rc;

    if ((rc = req_start(b, &rq, "DELETE", url, op)) != SHELF_OK)
        goto out;
    rq.out = &body;
    rq.max_out = MIB;
    if ((rc = s3_do(b, &rq, NULL)) == SHELF_OK && rq.status != 204 && rq.status != 200)
        rc = s3_fail(b, &rq, &body);
out:
    shelf__http_req_reset(&rq);
    shelf__buf_release(&body);
    shelf_free(url);
    shelf_free(op);
    return rc;
}

static int s3_remove(shelf__backend *be, const char *name)
{
    be_s3 *b = (be_s3 *)be;
    uint64_t size;
    int rc;

    /* DELETE of an absent key answers 204: ask first. */
    if ((rc = s3_head(b, name, 1, &size)) != SHELF_OK) {
        if (rc == SHELF_ENOTFOUND)
            shelf__seterr(&be->err, rc, "%s: cannot remove '%s': not found", b->sh->display, name);
        return rc;
    }
    return s3_delete(b, name, NULL, "remove");
}

/* ---- multipart ------------------------------------------------------------ */

/* SHA-256 (hex) and MD5 of fd's bytes [off, off+n); whole (may be NULL)
 * takes them too (the MD5 of the whole file). */
static int hash_range(int fd, uint64_t off, uint64_t n, char sha_hex[SHELF_HASH_HEX],
                      uint8_t md[16], EVP_MD_CTX *whole)
{
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    shelf__sha256 *s = shelf__sha256_new();
    char *buf = shelf__malloc(MIB);
    uint8_t sha[SHELF_HASH_BYTES];
    unsigned int mlen = 0;
    int rc = 0;

    if (!m || !s || !buf || EVP_DigestInit_ex(m, EVP_md5(), NULL) != 1) {
        rc = ENOMEM;
        goto out;
    }
    while (n > 0) {
        ssize_t r = pread(fd, buf, n < MIB ? (size_t)n : MIB, (off_t)off);

        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            rc = r < 0 ? errno : EIO;
            goto out;
        }
        shelf__sha256_update(s, buf, (size_t)r);
        if (EVP_DigestUpdate(m, buf, (size_t)r) != 1 ||
            (whole && EVP_DigestUpdate(whole, buf, (size_t)r) != 1)) {
            rc = ENOMEM;
            goto out;
        }
        off += (uint64_t)r;
        n -= (uint64_t)r;
    }
    shelf__sha256_final(s, sha);
    shelf__hex(sha, sizeof sha, sha_hex);
    if (EVP_DigestFinal_ex(m, md, &mlen) != 1 || mlen != 16)
        rc = ENOMEM;
out:
    EVP_MD_CTX_free(m);
    if (s)
        shelf__sha256_free(s);
    shelf_free(buf);
    return rc;
}

/* POST to key (relative) with query and body; reply parsed as kind. */
static int post_reply(be_s3 *b, const char *name, const char *query, const char *op,
                      const char *body, int create_only, int kind, shelf__s3_reply *r, long *status)
{
    static const int retry[] = { 409, 0 };
    shelf__http_req rq;
    shelf__buf out = SHELF__BUF_INIT;
    char *url = url_of(b->sh, name, 1, query), phash[SHELF_HASH_HEX];
    uint8_t sha[SHELF_HASH_BYTES];
    int rc;

    memset(r, 0, sizeof *r);
    *status = 0;
    if ((rc = req_start(b, &rq, "POST", url, op)) != SHELF_OK)
        goto out;
    shelf__sha256_mem(body, strlen(body), sha);
    shelf__hex(sha, sizeof sha, phash);
    rq.body = body;
    rq.body_len = strlen(body);
    rq.out = &out;
    rq.max_out = MIB;
    rq.retry_status = retry;
    if ((create_only && shelf__http_hdr_add(&rq.hdrs, "If-None-Match: *") != SHELF_OK) ||
        (*body && shelf__http_hdr_add(&rq.hdrs, "Content-Type: application/xml") != SHELF_OK)) {
        rc = nomem(b);
        goto out;
    }
    if ((rc = s3_do(b, &rq, phash)) != SHELF_OK)
        goto out;
    *status = rq.status;
    if (rq.status == 412) {
        rc = shelf__seterr(&b->be.err, SHELF_EEXIST, "%s: %s: object exists", b->sh->display, op);
        goto out;
    }
    if ((rc = read_reply(b, &rq, &out, kind, r)) != SHELF_OK)
        goto out;
    if (r->is_error) {
        /* An error inside a 200 (CompleteMultipartUpload does this). */
        if (r->code && !strcmp(r->code, "PreconditionFailed")) {
            *status = 412;
            rc = shelf__seterr(&b->be.err, SHELF_EEXIST, "%s: %s: object exists", b->sh->display,
                               op);
        } else {
            rc = shelf__seterr(&b->be.err, SHELF_EIO, "%s: %s: error inside a 200 reply: %s%s%.200s",
                               b->sh->display, op, r->code ? r->code : "(no code)",
                               r->message ? ": " : "", r->message ? r->message : "");
        }
        shelf__s3_reply_free(r);
    }
out:
    shelf__http_req_reset(&rq);
    shelf__buf_release(&out);
    shelf_free(url);
    return rc;
}

static uint64_t part_size_for(const s3_shared *sh, uint64_t size)
{
    uint64_t p = sh->hooks.part_size;

    if (p)
        return p;
    p = (size + MAX_PARTS - 1) / MAX_PARTS;
    p = (p + MIB - 1) / MIB * MIB;
    if (p < PART_MIN)
        p = PART_MIN;
    if (p > PART_MAX && (size + PART_MAX - 1) / PART_MAX <= MAX_PARTS)
        p = PART_MAX;
    return p;
}

/* Upload one part from fd (its SHA-256 hex phash and MD5 md already
 * made): its quoted ETag into *etag (owned). */
static int put_part(be_s3 *b, const char *name, const char *upload_q, unsigned partno, int fd,
                    uint64_t off, uint64_t n, const char *phash, const uint8_t md[16],
                    char **etag)
{
    shelf__http_req rq;
    shelf__buf body = SHELF__BUF_INIT;
    char *url = NULL, *op = shelf__asprintf("upload %s part %u", name, partno), *q = NULL;
    char md_b64[32];
    int rc;

    *etag = NULL;
    shelf__http_req_init(&rq);
    if (!op || !(q = shelf__asprintf("partNumber=%u&%s", partno, upload_q)) ||
        !(url = url_of(b->sh, name, 1, q))) {
        rc = nomem(b);
        goto out;
    }
    EVP_EncodeBlock((unsigned char *)md_b64, md, 16);
    rq.op = op;
    rq.method = "PUT";
    rq.url = url;
    rq.body_fd = fd;
    rq.body_off = off;
    rq.body_fd_len = n;
    rq.out = &body;
    rq.max_out = MIB;
    if (shelf__http_hdr_add(&rq.hdrs, "Content-MD5: %s", md_b64) != SHELF_OK) {
        rc = nomem(b);
        goto out;
    }
    if ((rc = s3_do(b, &rq, phash)) != SHELF_OK)
        goto out;
    if (rq.status != 200) {
        rc = s3_fail(b, &rq, &body);
        goto out;
    }
    if (!etag_is(rq.etag, md, "")) {
        rc = shelf__seterr(&b->be.err, SHELF_EIO, "%s: %s: wrong ETag %.80s", b->sh->display, op,
                           rq.etag ? rq.etag : "(none)");
        goto out;
    }
    if (!(*etag = shelf__asprintf("\"%.32s\"", rq.etag[0] == '"' ? rq.etag + 1 : rq.etag)))
        rc = nomem(b);
out:
    shelf__http_req_reset(&rq);
    shelf__buf_release(&body);
    shelf_free(url);
    shelf_free(q);
    shelf_free(op);
    return rc;
}

/* The parts a killed run left: for each part number (1..nparts) the
 * quoted ETag and size the server holds, or NULL. */
typedef struct old_parts {
    char **etag;
    uint64_t *size;
    unsigned n;
} old_parts;

static void old_parts_free(old_parts *p)
{
    unsigned i;

    for (i = 0; p->etag && i < p->n; i++)
        shelf_free(p->etag[i]);
    shelf_free(p->etag);
    shelf_free(p->size);
    memset(p, 0, sizeof *p);
}

/*
 * The newest unfinished multipart upload of name (relative) into *upload_id
 * (owned; NULL when there is none or the server cannot list them: then the
 * save starts a new one), with the parts it holds in *parts.  Only errors
 * that stop the save (no memory) are returned; the rest mean "none".
 */
static int find_upload(be_s3 *b, const char *name, unsigned nparts, char **upload_id,
                       old_parts *parts)
{
    s3_shared *sh = b->sh;
    shelf__buf q = SHELF__BUF_INIT, key = SHELF__BUF_INIT;
    shelf__s3_reply r;
    shelf__err keep = b->be.err;
    int64_t best = INT64_MIN;
    uint64_t marker = 0;
    size_t i;
    int rc = SHELF_OK, more;

    *upload_id = NULL;
    memset(parts, 0, sizeof *parts);
    memset(&r, 0, sizeof r);
    if (shelf__buf_addf(&key, "%s%s", sh->prefix, name) != SHELF_OK ||
        shelf__buf_adds(&q, "uploads&prefix=") != SHELF_OK ||
        shelf__http_pct(&q, key.buf, 0) != SHELF_OK) {
        rc = nomem(b);
        goto out;
    }
    /* One page is enough: these are the uploads of one key. */
    if (get_reply(b, "list uploads", q.buf, SHELF__S3X_UPLOADS, &r) != SHELF_OK)
        goto none;
    for (i = 0; i < r.n; i++) {
        if (strcmp(r.items[i].key, key.buf) != 0 || r.items[i].initiated < best)
            continue;
        best = r.items[i].initiated;
        shelf_free(*upload_id);
        if (!(*upload_id = shelf__strdup(r.items[i].upload_id))) {
            rc = nomem(b);
            goto out;
        }
    }
    shelf__s3_reply_free(&r);
    if (!*upload_id)
        goto none;
    parts->n = nparts;
    if (!(parts->etag = shelf__calloc(nparts, sizeof *parts->etag)) ||
        !(parts->size = shelf__calloc(nparts, sizeof *parts->size))) {
        rc = nomem(b);
        goto out;
    }
    do {
        shelf__buf_reset(&q);
        if (shelf__buf_adds(&q, "uploadId=") != SHELF_OK ||
            shelf__http_pct(&q, *upload_id, 0) != SHELF_OK ||
            (marker && shelf__buf_addf(&q, "&part-number-marker=%llu",
                                       (unsigned long long)marker) != SHELF_OK)) {
            rc = nomem(b);
            goto out;
        }
        if (get_reply_at(b, name, 1, "list parts", q.buf, SHELF__S3X_PARTS, &r) != SHELF_OK)
            goto none;      /* aborted meanwhile (NoSuchUpload): start anew */
        for (i = 0; i < r.n; i++) {
            unsigned k = r.items[i].part - 1;

            if (k >= nparts || parts->etag[k])
                continue;
            parts->etag[k] = r.items[i].etag;
            parts->size[k] = r.items[i].size;
            r.items[i].etag = NULL;
        }
        more = r.truncated && r.next_part > marker;
        marker = r.next_part;
        shelf__s3_reply_free(&r);
    } while (more);
    goto out;
none:
    shelf_free(*upload_id);
    *upload_id = NULL;
    old_parts_free(parts);
    b->be.err = keep;
out:
    shelf__s3_reply_free(&r);
    shelf__buf_release(&q);
    shelf__buf_release(&key);
    if (rc != SHELF_OK) {
        shelf_free(*upload_id);
        *upload_id = NULL;
        old_parts_free(parts);
    }
    return rc;
}

/*
 * Save name from fd as a multipart upload.  When a killed run left an
 * upload of the same name (find_upload), it is resumed: each part the
 * server holds with the size and MD5 (ETag) of this file's part is kept,
 * the others are sent, then the upload is completed.  A failure that a
 * later run may get past (network, a crash) leaves the upload for it;
 * other failures abort it.
 */
static int multipart(be_s3 *b, const char *name, int fd, uint64_t size)
{
    s3_shared *sh = b->sh;
    uint64_t psize = part_size_for(sh, size), off, have;
    unsigned nparts = (unsigned)((size + psize - 1) / psize), i, kept = 0;
    shelf__buf xml = SHELF__BUF_INIT, q = SHELF__BUF_INIT, mds = SHELF__BUF_INIT;
    shelf__s3_reply r;
    old_parts old;
    char *op = shelf__asprintf("upload %s", name), *upload_id = NULL, *etag = NULL, suffix[16];
    char phash[SHELF_HASH_HEX];
    uint8_t md[16], md_whole[16];
    EVP_MD_CTX *whole = EVP_MD_CTX_new();
    unsigned int mlen = 0;
    long status;
    int rc, tries, e;

    memset(&r, 0, sizeof r);
    memset(&old, 0, sizeof old);
    if (!op || !whole || EVP_DigestInit_ex(whole, EVP_md5(), NULL) != 1) {
        rc = nomem(b);
        goto out;
    }
    if (!sh->conditional) {
        if ((rc = s3_head(b, name, 1, &have)) == SHELF_OK)
            rc = shelf__seterr(&b->be.err, SHELF_EEXIST, "%s: cannot save '%s': object exists",
                               sh->display, name);
        if (rc != SHELF_ENOTFOUND)
            goto out;
    }
    if ((rc = find_upload(b, name, nparts, &upload_id, &old)) != SHELF_OK)
        goto out;
    if (!upload_id) {
        if ((rc = post_reply(b, name, "uploads", op, "", 0, SHELF__S3X_INITIATE, &r,
                             &status)) != SHELF_OK)
            goto out;
        upload_id = r.upload_id;
        r.upload_id = NULL;
        shelf__s3_reply_free(&r);
    }
    if (shelf__buf_adds(&q, "uploadId=") != SHELF_OK ||
        shelf__http_pct(&q, upload_id, 0) != SHELF_OK ||
        shelf__buf_adds(&xml, "<CompleteMultipartUpload>") != SHELF_OK) {
        rc = nomem(b);
        goto abort;
    }
    for (i = 0, off = 0; i < nparts; i++, off += psize) {
        uint64_t n = size - off < psize ? size - off : psize;

        if (sh->hooks.crash_after_part > 0 && i == (unsigned)sh->hooks.crash_after_part) {
            rc = shelf__seterr(&b->be.err, SHELF_EIO, "%s: %s: crash injected after part %u",
                               sh->display, op, i);
            goto out;   /* as a killed process: the upload stays */
        }
        if ((e = hash_range(fd, off, n, phash, md, whole)) != 0) {
            rc = shelf__seterr_errno(&b->be.err, e, "%s: %s: cannot read the file", sh->display,
                                     op);
            goto abort;
        }
        if (i < old.n && old.etag[i] && old.size[i] == n && etag_is(old.etag[i], md, "")) {
            /* the killed run's part holds these bytes (etag_is: 32 hex digits) */
            const char *h = old.etag[i][0] == '"' ? old.etag[i] + 1 : old.etag[i];

            if (!(etag = shelf__asprintf("\"%.32s\"", h))) {
                rc = nomem(b);
                goto abort;
            }
            kept++;
        } else if ((rc = put_part(b, name, q.buf, i + 1, fd, off, n, phash, md, &etag)) !=
                   SHELF_OK) {
            goto abort;
        }
        if (shelf__buf_add(&mds, md, 16) != SHELF_OK ||
            shelf__buf_addf(&xml, "<Part><PartNumber>%u</PartNumber><ETag>%s</ETag></Part>",
                            i + 1, etag) != SHELF_OK) {
            rc = nomem(b);
            goto abort;
        }
        shelf_free(etag);
        etag = NULL;
    }
    atomic_fetch_add(&sh->parts_kept, kept);
    if (shelf__buf_adds(&xml, "</CompleteMultipartUpload>") != SHELF_OK) {
        rc = nomem(b);
        goto abort;
    }
    /* A 200 whose body is an <Error> (or is cut) means the Complete failed
     * after the server began to answer: S3 asks for a retry. */
    for (tries = 0; tries < 3; tries++) {
        rc = post_reply(b, name, q.buf, op, xml.buf, 1, SHELF__S3X_COMPLETE, &r, &status);
        if (rc != SHELF_EIO || status != 200)
            break;
    }
    if (rc != SHELF_OK) {
        if (status == 412)
            rc = shelf__seterr(&b->be.err, SHELF_EEXIST, "%s: cannot save '%s': object exists",
                               sh->display, name);
        goto abort;
    }
    /* The ETag of a multipart object: on S3 and RGW the MD5 of the parts'
     * MD5s and "-N"; some servers (s3rver) give the whole file's MD5. */
    snprintf(suffix, sizeof suffix, "-%u", nparts);
    if (md5_of(mds.buf, mds.len, md) != SHELF_OK ||
        EVP_DigestFinal_ex(whole, md_whole, &mlen) != 1) {
        rc = nomem(b);
        goto out;
    }
    if (!r.etag || !*r.etag) {
        /* Ceph RGW 16 answers <ETag></ETag>: ask the object. */
        shelf_free(r.etag);
        r.etag = NULL;
        if ((rc = s3_head_etag(b, name, 1, &have, &r.etag)) != SHELF_OK)
            goto out;
        if (have != size) {
            rc = shelf__seterr(&b->be.err, SHELF_EIO, "%s: %s: %llu bytes stored of %llu",
                               sh->display, op, (unsigned long long)have,
                               (unsigned long long)size);
            goto out;
        }
    }
    if (!r.etag || (!etag_is(r.etag, md, suffix) && !etag_is(r.etag, md_whole, "")))
        rc = shelf__seterr(&b->be.err, SHELF_EIO, "%s: %s: wrong ETag %.80s after complete",
                           sh->display, op, r.etag ? r.etag : "(none)");
    goto out;
abort:
    /* A network failure leaves the upload for the next run to resume
     * (sweep aborts it a day later). */
    if (upload_id && rc != SHELF_EIO && rc != SHELF_ECANCELED) {
        shelf__err keep = b->be.err;

        s3_delete(b, name, q.buf, "abort upload of");
        b->be.err = keep;
    }
out:
    old_parts_free(&old);
    shelf__s3_reply_free(&r);
    shelf__buf_release(&xml);
    shelf__buf_release(&q);
    shelf__buf_release(&mds);
    shelf_free(upload_id);
    shelf_free(etag);
    shelf_free(op);
    EVP_MD_CTX_free(whole);
    return rc;
}

static int s3_save_fd(shelf__backend *be, const char *name, int fd, uint64_t size)
{
    be_s3 *b = (be_s3 *)be;
    uint64_t min = b->sh->hooks.multipart_min ? b->sh->hooks.multipart_min : MULTIPART_MIN;
    char *data;
    size_t got = 0;
    int rc;

    if (size >= min)
        return multipart(b, name, fd, size);
    if (!(data = shelf__malloc(size ? (size_t)size : 1)))
        return nomem(b);
    while (got < size) {
        ssize_t r = pread(fd, data + got, (size_t)size - got, (off_t)got);

        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            rc = shelf__seterr_errno(&be->err, r < 0 ? errno : EIO, "%s: cannot save '%s': "
                                     "cannot read the file", b->sh->display, name);
            shelf_free(data);
            return rc;
        }
        got += (size_t)r;
    }
    rc = put_object(b, name, data, (size_t)size, 1);
    shelf_free(data);
    return rc;
}

/* Abort the multipart uploads under the prefix that no save will resume:
 * those whose object exists (a later save finished it) and those started
 * more than a day ago (hooks.orphan_age); a younger one stays for the next
 * save of its name (multipart). */
static uint64_t s3_sweep(shelf__backend *be)
{
    be_s3 *b = (be_s3 *)be;
    s3_shared *sh = b->sh;
    shelf__buf q = SHELF__BUF_INIT, uq = SHELF__BUF_INIT;
    shelf__s3_reply r;
    char *key_marker = NULL, *id_marker = NULL;
    size_t plen = strlen(sh->prefix), i;
    uint64_t n = 0, size;
    int64_t age = sh->hooks.orphan_age ? sh->hooks.orphan_age : 86400, now = shelf__now();
    int more;

    memset(&r, 0, sizeof r);
    do {
        shelf__buf_reset(&q);
        if (shelf__buf_adds(&q, "uploads&prefix=") != SHELF_OK ||
            shelf__http_pct(&q, sh->prefix, 0) != SHELF_OK ||
            (key_marker && (shelf__buf_adds(&q, "&key-marker=") != SHELF_OK ||
                            shelf__http_pct(&q, key_marker, 0) != SHELF_OK)) ||
            (id_marker && (shelf__buf_adds(&q, "&upload-id-marker=") != SHELF_OK ||
                           shelf__http_pct(&q, id_marker, 0) != SHELF_OK)))
            break;
        if (get_reply(b, "list uploads", q.buf, SHELF__S3X_UPLOADS, &r) != SHELF_OK)
            break;
        for (i = 0; i < r.n; i++) {
            const char *key = r.items[i].key;

            if (strncmp(key, sh->prefix, plen) != 0)
                continue;
            /* young, and its object absent: the next save resumes it */
            if (age > 0 && r.items[i].initiated >= 0 && now - r.items[i].initiated < age &&
                shelf__be_name_ok(key + plen) && s3_head(b, key + plen, 1, &size) == SHELF_ENOTFOUND)
                continue;
            shelf__buf_reset(&uq);
            if (shelf__buf_adds(&uq, "uploadId=") != SHELF_OK ||
                shelf__http_pct(&uq, r.items[i].upload_id, 0) != SHELF_OK)
                break;
            if (s3_delete(b, key + plen, uq.buf, "abort upload of") == SHELF_OK)
                n++;
        }
        shelf_free(key_marker);
        shelf_free(id_marker);
        key_marker = r.next_key;
        id_marker = r.next_upload;
        r.next_key = r.next_upload = NULL;
        more = r.truncated && key_marker && *key_marker;
        shelf__s3_reply_free(&r);
    } while (more);
    shelf__s3_reply_free(&r);
    shelf_free(key_marker);
    shelf_free(id_marker);
    shelf__buf_release(&q);
    shelf__buf_release(&uq);
    return n;
}

static void s3_close(shelf__backend *be)
{
    be_s3 *b = (be_s3 *)be;

    shared_free(b->sh);
    shelf_free(be->location);
    shelf_free(b);
}

static const shelf__backend_ops s3_ops;

static int s3_dup(shelf__backend *be, shelf__backend **out)
{
    be_s3 *b = (be_s3 *)be, *d;

    *out = NULL;
    if (!(d = shelf__calloc(1, sizeof *d)) || !(d->be.location = shelf__strdup(be->location))) {
        shelf_free(d);
        return nomem(b);
    }
    d->be.ops = &s3_ops;
    d->sh = b->sh;
    atomic_fetch_add(&b->sh->refs, 1);
    *out = &d->be;
    return SHELF_OK;
}

static int add_size(void *ud, const char *name, uint64_t size)
{
    uint64_t *sum = ud;

    (void)name;
    *sum += size;
    return 0;
}

/* S3 has no quota to read: unknown, unless the remote has a budget; then
 * used is the sum of the sizes under the prefix (one listing). */
static int s3_space(shelf__backend *be, uint64_t *used, uint64_t *avail)
{
    be_s3 *b = (be_s3 *)be;
    uint64_t sum = 0;
    int rc;

    *used = UINT64_MAX;
    *avail = UINT64_MAX;
    if (!b->sh->budget)
        return SHELF_OK;
    if ((rc = s3_list(be, NULL, add_size, &sum)) != SHELF_OK)
        return rc;
    *used = sum;
    *avail = b->sh->budget > sum ? b->sh->budget - sum : 0;
    return SHELF_OK;
}

static const shelf__backend_ops s3_ops = {
    "s3", s3_save, s3_load, s3_stat, s3_list, s3_remove, s3_close, s3_sweep,
    s3_save_fd, s3_dup, s3_space
};

void shelf__be_s3_set_hooks(shelf__backend *be, const shelf__s3_hooks *h)
{
    if (be && be->ops == &s3_ops)
        ((be_s3 *)be)->sh->hooks = *h;
}

void shelf__be_s3_totals(shelf__backend *be, uint64_t *up, uint64_t *down, uint64_t *kept)
{
    *up = *down = *kept = 0;
    if (be && be->ops == &s3_ops) {
        shelf__http_totals(((be_s3 *)be)->sh->http, up, down);
        *kept = atomic_load(&((be_s3 *)be)->sh->parts_kept);
    }
}

int shelf__be_s3_conditional(shelf__backend *be)
{
    return be && be->ops == &s3_ops ? ((be_s3 *)be)->sh->conditional : -1;
}

/* ---- open ------------------------------------------------------------- */

/* Whether the server refuses a second create-only PUT of one key: put a
 * probe object twice, then remove it. */
static int probe_conditional(be_s3 *b, int *honoured)
{
    char name[64];
    uint8_t rnd[8];
    int rc;

    *honoured = 0;
    if (RAND_bytes(rnd, sizeof rnd) != 1)
        memset(rnd, 0, sizeof rnd);
    snprintf(name, sizeof name, ".shelf-probe-%ld-%lld-%02x%02x", (long)getpid(),
             (long long)shelf__now(), rnd[0], rnd[1]);
    b->sh->conditional = 1;     /* no HEAD: test the PUT itself */
    if ((rc = put_object(b, name, "1", 1, 1)) != SHELF_OK)
        goto out;
    rc = put_object(b, name, "2", 1, 1);
    if (rc == SHELF_EEXIST)
        *honoured = 1;
    else if (rc != SHELF_OK)
        goto out;
    rc = s3_delete(b, name, NULL, "remove probe");
out:
    b->sh->conditional = 0;
    return rc;
}

/* The Host header curl sends for base ("http://h:80" sends "h"). */
static char *host_header(const char *base)
{
    const char *h = strstr(base, "://"), *end;
    size_t n;

    if (!h)
        return NULL;
    h += 3;
    end = h + strcspn(h, "/");
    n = (size_t)(end - h);
    if (!strncmp(base, "https:", 6) && n > 4 && !strncmp(end - 4, ":443", 4))
        n -= 4;
    else if (!strncmp(base, "http:", 5) && n > 3 && !strncmp(end - 3, ":80", 3))
        n -= 3;
    return shelf__asprintf("host: %.*s", (int)n, h);
}

int shelf__be_s3_open(const shelf__target *t, const shelf__creds *c, const shelf__be_opts *o,
                      shelf__backend **out, shelf__err *err)
{
    be_s3 *b = NULL;
    s3_shared *sh = NULL;
    shelf__http_cfg hc;
    shelf__buf base = SHELF__BUF_INIT;
    shelf__buf mk = SHELF__BUF_INIT;
    shelf__s3_reply r;
    const char *region;
    char *q = NULL;
    size_t plen, hlen;
    int rc = SHELF_OK, honoured;

    *out = NULL;
    memset(&r, 0, sizeof r);
    if (!t || t->kind != SHELF__TGT_S3 || !t->base || !t->host || !t->bucket || !*t->bucket)
        return shelf__seterr(err, SHELF_EINVAL, "not an s3 target");
    if (!c || !c->access_key || !*c->access_key || !c->secret_key)
        return shelf__seterr(err, SHELF_EPERM, "s3://%s/%s: no credentials (set "
                             "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or add them with "
                             "`shelf remote add`)", t->host, t->bucket);
    region = o && o->region ? o->region : c->region && *c->region ? c->region : "us-east-1";
    if (!(b = shelf__calloc(1, sizeof *b)) || !(sh = shelf__calloc(1, sizeof *sh))) {
        shelf_free(b);
        return shelf__seterr(err, SHELF_ENOMEM, "out of memory");
    }
    atomic_init(&sh->refs, 1);
    b->sh = sh;
    b->be.ops = &s3_ops;
    plen = t->path ? strlen(t->path) : 0;
    while (plen && t->path[plen - 1] == '/')
        plen--;
    if (!(sh->display = shelf__asprintf("s3://%s/%s", t->host, t->bucket)) ||
        !(sh->prefix = plen ? shelf__asprintf("%.*s/", (int)plen, t->path) : shelf__strdup("")) ||
        !(sh->access_key = shelf__strdup(c->access_key)) ||
        !(sh->secret_key = shelf__strdup(c->secret_key)) ||
        (c->session_token && *c->session_token &&
         !(sh->session_token = shelf__strdup(c->session_token))) ||
        !(sh->region = shelf__strdup(region)) ||
        !(b->be.location = plen ? shelf__asprintf("%s/%.*s", sh->display, (int)plen, t->path)
                                : shelf__strdup(sh->display))) {
        rc = shelf__seterr(err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    if ((o && o->virtual_host) || t->virtual_host) {
        /* bucket.host: insert the bucket after the scheme. */
        const char *h = strstr(t->base, "://");

        if (!h) {
            rc = shelf__seterr(err, SHELF_EINVAL, "%s: bad endpoint '%s'", sh->display, t->base);
            goto out;
        }
        rc = shelf__buf_addf(&base, "%.*s%s.%s", (int)(h + 3 - t->base), t->base, t->bucket, h + 3);
        sh->path_base = shelf__strdup("/");
    } else {
        rc = shelf__buf_adds(&base, t->base);
        if (rc == SHELF_OK && shelf__buf_adds(&mk, "/") == SHELF_OK &&
            shelf__http_pct(&mk, t->bucket, 0) == SHELF_OK && shelf__buf_adds(&mk, "/") == SHELF_OK)
            sh->path_base = shelf__buf_detach(&mk);
    }
    if (rc != SHELF_OK || !sh->path_base || !(sh->host_hdr = host_header(base.buf)) ||
        !(sh->base = shelf__strdup(base.buf))) {
        rc = shelf__seterr(err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    memset(&hc, 0, sizeof hc);
    if (o) {
        hc.ca_file = o->ca_file;
        hc.limit_up = o->limit_up;
        hc.limit_down = o->limit_down;
        hc.connections = o->connections;
        hc.progress = o->progress;
        hc.progress_ud = o->progress_ud;
        sh->budget = o->budget;
        if (o->quick) {
            hc.max_attempts = 1;
            hc.connect_timeout_ms = 2000;
        }
    }
    /* Plain http only to this machine (tests, a local gateway; a name
     * under .localhost is the loopback too: http.c resolves it so). */
    hlen = strlen(t->host);
    hc.insecure_http_ok = !strcmp(t->host, "localhost") || !strcmp(t->host, "::1") ||
                          !strcmp(t->host, "[::1]") || !strncmp(t->host, "127.", 4) ||
                          (hlen > 10 && !strcasecmp(t->host + hlen - 10, ".localhost"));
    if ((rc = shelf__http_new(base.buf, &hc, &sh->http, err)) != SHELF_OK)
        goto out;

    /* The bucket is there and the credentials open it. */
    shelf__buf_reset(&mk);
    if (shelf__buf_adds(&mk, "list-type=2&max-keys=1&prefix=") != SHELF_OK ||
        shelf__http_pct(&mk, sh->prefix, 0) != SHELF_OK) {
        rc = shelf__seterr(err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    q = shelf__buf_detach(&mk);
    if ((rc = get_reply(b, "list", q, SHELF__S3X_LIST, &r)) != SHELF_OK) {
        *err = b->be.err;
        goto out;
    }
    shelf__s3_reply_free(&r);
    if (o && o->create) {
        if ((rc = probe_conditional(b, &honoured)) != SHELF_OK) {
            *err = b->be.err;
            goto out;
        }
        if (honoured) {
            rc = put_object(b, MARKER, MARKER_TEXT, strlen(MARKER_TEXT), 0);
            if (rc != SHELF_OK) {
                *err = b->be.err;
                goto out;
            }
        }
        sh->conditional = honoured;
    } else {
        shelf__buf m = SHELF__BUF_INIT;

        /* The marker says what init found; absent: HEAD before PUT. */
        rc = s3_load(&b->be, MARKER, 0, 0, &m);
        sh->conditional = rc == SHELF_OK && m.len == strlen(MARKER_TEXT) &&
                          !memcmp(m.buf, MARKER_TEXT, m.len);
        shelf__buf_release(&m);
        if (rc != SHELF_OK && rc != SHELF_ENOTFOUND) {
            *err = b->be.err;
            goto out;
        }
        rc = SHELF_OK;
    }
    memset(&b->be.err, 0, sizeof b->be.err);
    *out = &b->be;
    b = NULL;
out:
    if (b)
        s3_close(&b->be);
    shelf__buf_release(&base);
    shelf__buf_release(&mk);
    shelf_free(q);
    return rc;
}
