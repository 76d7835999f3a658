/*
 * http.c: the HTTP client of the network backends (http_int.h) on libcurl.
 * It owns one CURLSH per shelf__http (connection cache, TLS sessions and DNS
 * shared by every thread, guarded by the lock callbacks below), a small pool
 * of easy handles, the retry loop, the shared bandwidth buckets and the
 * one-line error messages.
 *
 * Bandwidth caps are token buckets shared by the whole shelf__http, charged
 * in the read callback (upload: a callback hands curl at most what the
 * bucket allows and waits for the rest) and the write callback (download:
 * the callback waits until the bytes it got are paid for).  curl's own
 * CURLOPT_MAX_*_SPEED_LARGE are per transfer, so they are not used.
 *
 * HTTP/1.1 only: a connection of the shared cache is used by one transfer
 * at a time, which keeps keep-alive reuse simple across threads.
 */
#include <assert.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include "http_int.h"

/* A bandwidth bucket: tokens in bytes, refilled at rate per second, at
 * most burst; a taker may drive it negative and then waits its debt off. */
typedef struct bucket {
    pthread_mutex_t lock;
    uint64_t rate;
    double tokens, last;
} bucket;

struct shelf__http {
    char *base, *host;
    /* "HOST:PORT:127.0.0.1" for a name under .localhost (RFC 6761 6.3:
     * always the loopback; glibc asks DNS for them); NULL: none */
    struct curl_slist *resolve;
    shelf__http_cfg cfg;
    char *ca_file;
    CURLSH *share;
    pthread_mutex_t share_lock[CURL_LOCK_DATA_LAST];
    pthread_mutex_t pool_lock;
    CURL **pool;
    int npool;
    bucket up_bkt, down_bkt;
    _Atomic uint64_t up, down, connects;
    _Atomic int64_t progress_ms;    /* when progress last fired */
    _Atomic uint64_t seed;
};

/* The state of one attempt, shared by the callbacks (they run on the
 * thread of shelf__http_do, inside curl_easy_perform). */
typedef struct xfer {
    shelf__http *h;
    shelf__http_req *rq;
    uint64_t pos;           /* body bytes handed to curl */
    int read_errno;         /* pread failed (or the file was short: EIO) */
    int short_file;         /* the body file ended before body_fd_len */
    int too_big;            /* the body passed rq->max_out */
    int nomem;
    int stalled;
    int headers_end;        /* the blank line that ends the headers came */
    int64_t retry_after_ms; /* -1: none */
    double last_move;       /* monotonic time bytes last moved */
    curl_off_t last_up, last_down;
} xfer;

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void global_init(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- headers ----------------------------------------------------------- */

int shelf__http_hdr_add(shelf__http_hdrs *h, const char *fmt, ...)
{
    va_list ap;
    int n;
    char *s;

    if (h->n + 2 > h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 8;
        char **v = shelf__realloc(h->v, cap * sizeof *v);

        if (!v)
            return SHELF_ENOMEM;
        h->v = v;
        h->cap = cap;
    }
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return SHELF_EINVAL;
    if (!(s = shelf__malloc((size_t)n + 1)))
        return SHELF_ENOMEM;
    va_start(ap, fmt);
    (void)vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    h->v[h->n++] = s;
    h->v[h->n] = NULL;
    return SHELF_OK;
}

void shelf__http_hdrs_free(shelf__http_hdrs *h)
{
    size_t i;

    for (i = 0; i < h->n; i++)
        free(h->v[i]);
    free(h->v);
    h->v = NULL;
    h->n = h->cap = 0;
}

void shelf__http_req_init(shelf__http_req *rq)
{
    memset(rq, 0, sizeof *rq);
    rq->body_fd = -1;
    rq->content_length = -1;
}

static void clear_filled(shelf__http_req *rq)
{
    free(rq->etag);
    free(rq->location);
    free(rq->content_range);
    rq->etag = rq->location = rq->content_range = NULL;
    rq->content_length = -1;
    rq->status = 0;
}

void shelf__http_req_reset(shelf__http_req *rq)
{
    shelf__http_hdrs_free(&rq->hdrs);
    shelf__http_hdrs_free(&rq->sign_hdrs);
    clear_filled(rq);
    rq->attempts = 0;
}

int shelf__http_pct(shelf__buf *b, const char *s, int keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p;
    int rc;

    for (p = (const unsigned char *)s; *p; p++) {
        unsigned c = *p;

        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~' || (c == '/' && keep_slash)) {
            char ch = (char)c;

            rc = shelf__buf_add(b, &ch, 1);
        } else {
            char e[3] = { '%', hex[c >> 4], hex[c & 15] };

            rc = shelf__buf_add(b, e, 3);
        }
        if (rc)
            return rc;
    }
    return shelf__buf_add(b, "", 0);
}

int64_t shelf__http_retry_after(const char *v, int64_t now)
{
    const char *p = v;
    char *end;
    long long secs;
    time_t t;

    while (*p == ' ' || *p == '\t')
        p++;
    if (*p >= '0' && *p <= '9') {
        errno = 0;
        secs = strtoll(p, &end, 10);
        while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
            end++;
        if (*end || errno == ERANGE || secs > INT64_MAX / 1000)
            return -1;
        return (int64_t)secs * 1000;
    }
    if (!*p)
        return -1;
    /* curl_getdate reads RFC 1123, RFC 850 and asctime dates. */
    t = curl_getdate(p, NULL);
    if (t == (time_t)-1)
        return -1;
    if ((int64_t)t <= now)
        return 0;
    if ((int64_t)t - now > INT64_MAX / 1000)
        return INT64_MAX;
    return ((int64_t)t - now) * 1000;
}

/* ---- the handle ---------------------------------------------------------- */

static void share_lock(CURL *c, curl_lock_data data, curl_lock_access access, void *ud)
{
    shelf__http *h = ud;

    (void)c;
    (void)access;
    if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
        pthread_mutex_lock(&h->share_lock[data]);
}

static void share_unlock(CURL *c, curl_lock_data data, void *ud)
{
    shelf__http *h = ud;

    (void)c;
    if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
        pthread_mutex_unlock(&h->share_lock[data]);
}

static void bucket_init(bucket *b, uint64_t rate)
{
    pthread_mutex_init(&b->lock, NULL);
    b->rate = rate;
    b->tokens = 0;
    b->last = shelf__monotonic();
}

static void sleep_ms(double ms)
{
    struct timespec ts;

    if (ms <= 0)
        return;
    ts.tv_sec = (time_t)(ms / 1000);
    ts.tv_nsec = (long)((ms - (double)ts.tv_sec * 1000) * 1e6);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Take n bytes from b, waiting as long as the debt they make needs. */
static void bucket_take(bucket *b, size_t n)
{
    double now, debt;

    if (!b->rate)
        return;
    pthread_mutex_lock(&b->lock);
    now = shelf__monotonic();
    b->tokens += (now - b->last) * (double)b->rate;
    b->last = now;
    if (b->tokens > (double)b->rate / 8)  /* a burst of 1/8 s at most */
        b->tokens = (double)b->rate / 8;
    b->tokens -= (double)n;
    debt = b->tokens < 0 ? -b->tokens / (double)b->rate : 0;
    pthread_mutex_unlock(&b->lock);
    sleep_ms(debt * 1000);
}

int shelf__http_new(const char *base, const shelf__http_cfg *cfg, shelf__http **out,
                    shelf__err *err)
{
    static const shelf__http_cfg none;
    shelf__http *h = NULL;
    CURLU *u = NULL;
    char *scheme = NULL, *host = NULL, *path = NULL, *query = NULL, *port = NULL;
    int rc = SHELF_OK, i;
    size_t hl;

    *out = NULL;
    if (!cfg)
        cfg = &none;
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK)
        return shelf__seterr(err, SHELF_EIO, "cannot start libcurl: %s",
                             curl_easy_strerror(global_rc));
    if (!(u = curl_url()))
        return shelf__seterr(err, SHELF_ENOMEM, "out of memory");
    if (curl_url_set(u, CURLUPART_URL, base, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        rc = shelf__seterr(err, SHELF_EINVAL, "invalid server address '%s'", base);
        goto out;
    }
    if (curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK && strcmp(path, "/") != 0) {
        rc = shelf__seterr(err, SHELF_EINVAL, "invalid server address '%s': it has a path", base);
        goto out;
    }
    if (curl_url_get(u, CURLUPART_QUERY, &query, 0) == CURLUE_OK) {
        rc = shelf__seterr(err, SHELF_EINVAL, "invalid server address '%s': it has a query",
                           base);
        goto out;
    }
    if (strcmp(scheme, "https") != 0 && strcmp(scheme, "http") != 0) {
        rc = shelf__seterr(err, SHELF_EINVAL, "%s: unsupported scheme '%s' (https or http)", host,
                           scheme);
        goto out;
    }
    if (strcmp(scheme, "http") == 0 && !cfg->insecure_http_ok) {
        rc = shelf__seterr(err, SHELF_EINVAL,
                           "%s: plain http:// is not allowed (use https://)", host);
        goto out;
    }
    if (!(h = shelf__calloc(1, sizeof *h))) {
        rc = shelf__seterr(err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    h->cfg = *cfg;
    if (!h->cfg.max_attempts)
        h->cfg.max_attempts = 7;
    if (!h->cfg.base_backoff_ms)
        h->cfg.base_backoff_ms = 200;
    if (!h->cfg.max_backoff_ms)
        h->cfg.max_backoff_ms = 20000;
    if (!h->cfg.connect_timeout_ms)
        h->cfg.connect_timeout_ms = 10000;
    if (!h->cfg.stall_ms)
        h->cfg.stall_ms = 30000;
    if (h->cfg.connections <= 0)
        h->cfg.connections = 4;
    for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&h->share_lock[i], NULL);
    pthread_mutex_init(&h->pool_lock, NULL);
    bucket_init(&h->up_bkt, cfg->limit_up);
    bucket_init(&h->down_bkt, cfg->limit_down);
    atomic_init(&h->seed, (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ (uintptr_t)h);
    h->host = shelf__strdup(host);
    h->base = shelf__strdup(base);
    h->ca_file = cfg->ca_file ? shelf__strdup(cfg->ca_file) : NULL;
    h->cfg.ca_file = h->ca_file;
    h->pool = shelf__calloc((size_t)h->cfg.connections, sizeof *h->pool);
    if (!h->host || !h->base || (cfg->ca_file && !h->ca_file) || !h->pool) {
        rc = shelf__seterr(err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    hl = strlen(host);
    if (hl > 10 && !strcasecmp(host + hl - 10, ".localhost")) {
        char *entry = NULL;
        struct curl_slist *l;

        if (curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK ||
            !(entry = shelf__asprintf("%s:%s:127.0.0.1", host, port)) ||
            !(l = curl_slist_append(NULL, entry))) {
            shelf_free(entry);
            rc = shelf__seterr(err, SHELF_ENOMEM, "out of memory");
            goto out;
        }
        shelf_free(entry);
        h->resolve = l;
    }
    /* A base without a trailing '/' keeps URLs made by "base + path" right. */
    if (h->base[0] && h->base[strlen(h->base) - 1] == '/')
        h->base[strlen(h->base) - 1] = '\0';
    if (!(h->share = curl_share_init())) {
        rc = shelf__seterr(err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    if (curl_share_setopt(h->share, CURLSHOPT_LOCKFUNC, share_lock) != CURLSHE_OK ||
        curl_share_setopt(h->share, CURLSHOPT_UNLOCKFUNC, share_unlock) != CURLSHE_OK ||
        curl_share_setopt(h->share, CURLSHOPT_USERDATA, h) != CURLSHE_OK ||
        curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT) != CURLSHE_OK ||
        curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK ||
        curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK) {
        rc = shelf__seterr(err, SHELF_EIO, "%s: cannot set up the connection cache", h->host);
        goto out;
    }
    *out = h;
    h = NULL;
out:
    shelf__http_free(h);
    curl_free(scheme);
    curl_free(host);
    curl_free(path);
    curl_free(query);
    curl_free(port);
    curl_url_cleanup(u);
    return rc;
}

void shelf__http_free(shelf__http *h)
{
    int i;

    if (!h)
        return;
    for (i = 0; i < h->npool; i++)
        curl_easy_cleanup(h->pool[i]);
    if (h->share)
        (void)curl_share_cleanup(h->share);
    for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_destroy(&h->share_lock[i]);
    pthread_mutex_destroy(&h->pool_lock);
    pthread_mutex_destroy(&h->up_bkt.lock);
    pthread_mutex_destroy(&h->down_bkt.lock);
    free(h->pool);
    free(h->base);
    free(h->host);
    free(h->ca_file);
    curl_slist_free_all(h->resolve);
    free(h);
}

const char *shelf__http_host(const shelf__http *h)
{
    return h->host;
}

void shelf__http_totals(const shelf__http *h, uint64_t *up, uint64_t *down)
{
    if (up)
        *up = atomic_load(&((shelf__http *)h)->up);
    if (down)
        *down = atomic_load(&((shelf__http *)h)->down);
}

uint64_t shelf__http_connects(const shelf__http *h)
{
    return atomic_load(&((shelf__http *)h)->connects);
}

static CURL *pool_get(shelf__http *h)
{
    CURL *c = NULL;

    pthread_mutex_lock(&h->pool_lock);
    if (h->npool > 0)
        c = h->pool[--h->npool];
    pthread_mutex_unlock(&h->pool_lock);
    if (c)
        curl_easy_reset(c);
    else
        c = curl_easy_init();
    return c;
}

static void pool_put(shelf__http *h, CURL *c)
{
    pthread_mutex_lock(&h->pool_lock);
    if (h->npool < h->cfg.connections) {
        h->pool[h->npool++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&h->pool_lock);
    if (c)
        curl_easy_cleanup(c);
}

/* ---- callbacks (all run on the thread of shelf__http_do) ---------------- */

static uint64_t body_len(const shelf__http_req *rq)
{
    return rq->body_fd >= 0 ? rq->body_fd_len : rq->body_len;
}

static size_t read_cb(char *dst, size_t size, size_t nmemb, void *ud)
{
    xfer *x = ud;
    shelf__http_req *rq = x->rq;
    uint64_t left = body_len(rq) - x->pos;
    size_t n = size * nmemb;

    if (n > left)
        n = (size_t)left;
    if (x->h->up_bkt.rate && n > x->h->up_bkt.rate / 16 + 1)
        n = (size_t)(x->h->up_bkt.rate / 16 + 1);
    if (!n)
        return 0;
    if (rq->body_fd >= 0) {
        ssize_t r;

        do
            r = pread(rq->body_fd, dst, n, (off_t)(rq->body_off + x->pos));
        while (r < 0 && errno == EINTR);
        if (r <= 0) {
            x->read_errno = r < 0 ? errno : EIO;
            x->short_file = r == 0;
            return CURL_READFUNC_ABORT;
        }
        n = (size_t)r;
    } else {
        memcpy(dst, (const char *)rq->body + x->pos, n);
    }
    bucket_take(&x->h->up_bkt, n);
    x->pos += n;
    atomic_fetch_add(&x->h->up, n);
    return n;
}

static int seek_cb(void *ud, curl_off_t off, int origin)
{
    xfer *x = ud;

    if (origin != SEEK_SET || off < 0 || (uint64_t)off > body_len(x->rq))
        return CURL_SEEKFUNC_CANTSEEK;
    x->pos = (uint64_t)off;
    return CURL_SEEKFUNC_OK;
}

static size_t write_cb(char *src, size_t size, size_t nmemb, void *ud)
{
    xfer *x = ud;
    shelf__http_req *rq = x->rq;
    size_t n = size * nmemb;

    if (rq->out) {
        if (rq->max_out && rq->out->len + n > rq->max_out) {
            x->too_big = 1;
            return 0;
        }
        if (shelf__buf_add(rq->out, src, n)) {
            x->nomem = 1;
            return 0;
        }
    }
    atomic_fetch_add(&x->h->down, n);
    bucket_take(&x->h->down_bkt, n);
    return n;
}

/* Copy a header's value (trimmed) into *dst, replacing what it held. */
static int keep_value(char **dst, const char *v, size_t n)
{
    while (n && (*v == ' ' || *v == '\t'))
        v++, n--;
    while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    free(*dst);
    *dst = shelf__strndup(v, n);
    return *dst ? 0 : -1;
}

static int hdr_is(const char *line, size_t n, const char *name, const char **val, size_t *vn)
{
    size_t k = strlen(name);

    if (n <= k || line[k] != ':' || strncasecmp(line, name, k) != 0)
        return 0;
    *val = line + k + 1;
    *vn = n - k - 1;
    return 1;
}

static size_t header_cb(char *line, size_t size, size_t nmemb, void *ud)
{
    xfer *x = ud;
    shelf__http_req *rq = x->rq;
    size_t n = size * nmemb;
    const char *v;
    size_t vn;
    char *tmp = NULL;
    int bad = 0;

    if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        /* A new response (after a 100 Continue): forget the last one's. */
        clear_filled(rq);
        x->retry_after_ms = -1;
        x->headers_end = 0;
    } else if ((n == 2 && line[0] == '\r' && line[1] == '\n') || (n == 1 && line[0] == '\n')) {
        x->headers_end = 1;
    } else if (hdr_is(line, n, "etag", &v, &vn)) {
        bad = keep_value(&rq->etag, v, vn);
    } else if (hdr_is(line, n, "location", &v, &vn)) {
        bad = keep_value(&rq->location, v, vn);
    } else if (hdr_is(line, n, "content-range", &v, &vn)) {
        bad = keep_value(&rq->content_range, v, vn);
    } else if (hdr_is(line, n, "content-length", &v, &vn)) {
        if (!(bad = keep_value(&tmp, v, vn))) {
            char *end;
            long long cl;

            errno = 0;
            cl = strtoll(tmp, &end, 10);
            rq->content_length = (!*end && errno == 0 && cl >= 0 && end != tmp) ? cl : -1;
        }
    } else if (hdr_is(line, n, "retry-after", &v, &vn)) {
        if (!(bad = keep_value(&tmp, v, vn)))
            x->retry_after_ms = shelf__http_retry_after(tmp, shelf__now());
    }
    free(tmp);
    if (bad) {
        x->nomem = 1;
        return 0;
    }
    return n;
}

static int64_t now_ms(void)
{
    return (int64_t)(shelf__monotonic() * 1000);
}

static int xferinfo_cb(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    xfer *x = ud;
    shelf__http *h = x->h;
    double now = shelf__monotonic();

    (void)dltotal;
    (void)ultotal;
    if (dlnow != x->last_down || ulnow != x->last_up) {
        x->last_down = dlnow;
        x->last_up = ulnow;
        x->last_move = now;
    } else if ((now - x->last_move) * 1000 > h->cfg.stall_ms) {
        x->stalled = 1;
        return 1;
    }
    if (h->cfg.progress) {
        int64_t t = now_ms(), last = atomic_load(&h->progress_ms);

        if (t - last >= 250 && atomic_compare_exchange_strong(&h->progress_ms, &last, t))
            h->cfg.progress(h->cfg.progress_ud, atomic_load(&h->up), atomic_load(&h->down));
    }
    return 0;
}

/* ---- one attempt --------------------------------------------------------- */

/*
 * Linux delays the ACK of a reply's first segment (up to 40 ms) once a
 * connection looks interactive, and a server that writes a reply's
 * headers and body separately with Nagle on (radosgw does) holds the body
 * until that ACK: every small GET cost 40 ms.  So quick ACKs are asked for
 * right after the request's headers went out (the kernel returns to
 * delayed ACKs by itself).  Best effort: a failed setsockopt changes
 * nothing else.  On the thread of shelf__http_do.
 */
static int debug_cb(CURL *c, curl_infotype type, char *data, size_t size, void *ud)
{
    curl_socket_t s = CURL_SOCKET_BAD;
    int one = 1;

    (void)data;
    (void)size;
    (void)ud;
    if (type == CURLINFO_HEADER_OUT && curl_easy_getinfo(c, CURLINFO_ACTIVESOCKET, &s) == CURLE_OK &&
        s != CURL_SOCKET_BAD)
        (void)setsockopt(s, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
    return 0;
}

#define SET(opt, val)                                                         \
    do {                                                                      \
        if (curl_easy_setopt(c, opt, val) != CURLE_OK)                        \
            goto setopt_failed;                                               \
    } while (0)

static int setup(shelf__http *h, CURL *c, shelf__http_req *rq, xfer *x, struct curl_slist **hl,
                 shelf__err *err)
{
    struct curl_slist *l = NULL, *t;
    size_t i;
    long stall_s = (h->cfg.stall_ms + 999) / 1000;
    /* PUT and POST always send a body (an empty one with Content-Length: 0,
     * which S3 wants) */
    int has_body = rq->body_fd >= 0 || rq->body || rq->body_len || strcmp(rq->method, "PUT") == 0 ||
                   strcmp(rq->method, "POST") == 0;

    for (i = 0; i < rq->hdrs.n + rq->sign_hdrs.n + 1; i++) {
        const char *s = i < rq->hdrs.n ? rq->hdrs.v[i]
                      : i < rq->hdrs.n + rq->sign_hdrs.n ? rq->sign_hdrs.v[i - rq->hdrs.n]
                      : "Expect:";

        if (!(t = curl_slist_append(l, s))) {
            curl_slist_free_all(l);
            return shelf__seterr(err, SHELF_ENOMEM, "out of memory");
        }
        l = t;
    }
    *hl = l;
    SET(CURLOPT_URL, rq->url);
    SET(CURLOPT_SHARE, h->share);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    SET(CURLOPT_SSL_VERIFYPEER, 1L);
    SET(CURLOPT_SSL_VERIFYHOST, 2L);
    if (h->ca_file)
        SET(CURLOPT_CAINFO, h->ca_file);
    if (h->resolve)
        SET(CURLOPT_RESOLVE, h->resolve);
    SET(CURLOPT_CONNECTTIMEOUT_MS, (long)h->cfg.connect_timeout_ms);
    SET(CURLOPT_LOW_SPEED_LIMIT, 1L);
    SET(CURLOPT_LOW_SPEED_TIME, stall_s < 1 ? 1L : stall_s);
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
    SET(CURLOPT_DEBUGFUNCTION, debug_cb);   /* quick ACKs (debug_cb); nothing is printed */
    SET(CURLOPT_VERBOSE, 1L);
    SET(CURLOPT_MAXCONNECTS, (long)(h->cfg.connections > 5 ? h->cfg.connections : 5));
    SET(CURLOPT_HTTPHEADER, l);
    SET(CURLOPT_HEADERFUNCTION, header_cb);
    SET(CURLOPT_HEADERDATA, x);
    SET(CURLOPT_WRITEFUNCTION, write_cb);
    SET(CURLOPT_WRITEDATA, x);
    SET(CURLOPT_NOPROGRESS, 0L);
    SET(CURLOPT_XFERINFOFUNCTION, xferinfo_cb);
    SET(CURLOPT_XFERINFODATA, x);
    if (h->down_bkt.rate && h->down_bkt.rate < CURL_MAX_WRITE_SIZE * 4)
        SET(CURLOPT_BUFFERSIZE, (long)(h->down_bkt.rate / 4 < 1024 ? 1024 : h->down_bkt.rate / 4));
    if (strcmp(rq->method, "HEAD") == 0) {
        SET(CURLOPT_NOBODY, 1L);
    } else if (has_body) {
        SET(CURLOPT_UPLOAD, 1L);
        SET(CURLOPT_INFILESIZE_LARGE, (curl_off_t)body_len(rq));
        SET(CURLOPT_READFUNCTION, read_cb);
        SET(CURLOPT_READDATA, x);
        SET(CURLOPT_SEEKFUNCTION, seek_cb);
        SET(CURLOPT_SEEKDATA, x);
        if (strcmp(rq->method, "PUT") != 0)
            SET(CURLOPT_CUSTOMREQUEST, rq->method);
    } else if (strcmp(rq->method, "GET") == 0) {
        SET(CURLOPT_HTTPGET, 1L);
    } else {
        SET(CURLOPT_CUSTOMREQUEST, rq->method);
    }
    return SHELF_OK;
setopt_failed:
    return shelf__seterr(err, SHELF_EIO, "%s: %s: cannot set up the request", h->host, rq->op);
}

/* Is status one the request or the rules retry? */
static int retry_status(const shelf__http_req *rq, long status)
{
    const int *p;

    /* 501 Not Implemented and 505 HTTP Version Not Supported answer the
     * same on every attempt: not worth a retry. */
    if ((status >= 500 && status != 501 && status != 505) || status == 429)
        return 1;
    for (p = rq->retry_status; p && *p; p++)
        if (*p == status)
            return 1;
    return 0;
}

static int is_redirect(long status)
{
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

/* The host of a Location value for the message (the whole value when it
 * has none: a relative redirect is to the same host). */
static void location_host(const char *loc, const char *self, char *out, size_t n)
{
    CURLU *u = curl_url();
    char *host = NULL;

    if (u && curl_url_set(u, CURLUPART_URL, loc, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
        snprintf(out, n, "%s", host);
    else
        snprintf(out, n, "%s", self);
    curl_free(host);
    curl_url_cleanup(u);
}

/* A lowercase copy of s without a trailing newline. */
static void lower_line(char *dst, size_t n, const char *s)
{
    size_t i;

    for (i = 0; i + 1 < n && s[i] && s[i] != '\n' && s[i] != '\r'; i++)
        dst[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] - 'A' + 'a') : s[i];
    dst[i] = '\0';
}

/* errno as text for people (lowercase, which strerror is not). */
static const char *os_str(char *buf, size_t n, long e, const char *none)
{
    if (!e)
        return none;
    lower_line(buf, n, shelf__errno_str((int)e));
    return buf;
}

/* Describe a failed transfer in what (one line); 1 when a retry may help. */
static int describe(shelf__http *h, CURL *c, CURLcode cc, const xfer *x, const char *ebuf,
                    char *what, size_t n, int *rc)
{
    long os_errno = 0, verify = 0;
    char es[80];

    *rc = SHELF_EIO;
    (void)curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &os_errno);
    if (x->read_errno) {    /* read_cb aborted the transfer */
        *rc = shelf__errno_rc(x->read_errno);
        snprintf(what, n, "cannot read the body: %s",
                 x->short_file ? "file shorter than expected"
                               : os_str(es, sizeof es, x->read_errno, "error"));
        return 0;
    }
    switch (cc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        snprintf(what, n, "cannot resolve host");
        return 1;
    case CURLE_COULDNT_CONNECT:
        snprintf(what, n, "cannot connect: %s",
                 os_str(es, sizeof es, os_errno, "connection refused"));
        return 1;
    case CURLE_OPERATION_TIMEDOUT:
        if (x->pos == 0 && x->last_down == 0 && x->last_up == 0 &&
            strstr(ebuf, "onnect") != NULL)
            snprintf(what, n, "connection timed out");
        else
            snprintf(what, n, "transfer stalled (no data for %d ms)", h->cfg.stall_ms);
        return 1;
    case CURLE_ABORTED_BY_CALLBACK:
        if (x->stalled) {
            snprintf(what, n, "transfer stalled (no data for %d ms)", h->cfg.stall_ms);
            return 1;
        }
        snprintf(what, n, "canceled");
        *rc = SHELF_ECANCELED;
        return 0;
    case CURLE_PARTIAL_FILE: {
        curl_off_t got = 0;

        (void)curl_easy_getinfo(c, CURLINFO_SIZE_DOWNLOAD_T, &got);
        snprintf(what, n, "truncated body (got %lld of %lld bytes)", (long long)got,
                 (long long)x->rq->content_length);
        return 1;
    }
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
        snprintf(what, n, "connection lost: %s",
                 os_str(es, sizeof es, os_errno, "connection reset by peer"));
        return 1;
    case CURLE_GOT_NOTHING:
        snprintf(what, n, "empty reply from server");
        return 1;
    case CURLE_WRITE_ERROR:
        if (x->nomem) {
            *rc = SHELF_ENOMEM;
            snprintf(what, n, "out of memory");
        } else if (x->too_big) {
            snprintf(what, n, "reply larger than %llu bytes", (unsigned long long)x->rq->max_out);
        } else {
            snprintf(what, n, "cannot store the reply");
        }
        return 0;
    case CURLE_READ_ERROR:
        snprintf(what, n, "cannot read the body");
        return 0;
    case CURLE_PEER_FAILED_VERIFICATION:
        *rc = SHELF_EPERM;
        (void)curl_easy_getinfo(c, CURLINFO_SSL_VERIFYRESULT, &verify);
        if (verify != 0 && verify != 1) {
            char lw[160];

            lower_line(lw, sizeof lw, X509_verify_cert_error_string(verify));
            snprintf(what, n, "certificate verification failed: %s", lw);
        } else if (strstr(ebuf, "subject name") || strstr(ebuf, "host name")) {
            snprintf(what, n, "certificate verification failed: "
                     "certificate is for another host name");
        } else {
            char lw[200];

            lower_line(lw, sizeof lw, ebuf);
            snprintf(what, n, "certificate verification failed: %s", lw);
        }
        return 0;
    case CURLE_SSL_CACERT_BADFILE:
        *rc = SHELF_EPERM;
        snprintf(what, n, "cannot read the ca file '%s'", h->ca_file ? h->ca_file : "(system)");
        return 0;
    case CURLE_SSL_CONNECT_ERROR: {
        char lw[200];

        lower_line(lw, sizeof lw, ebuf[0] ? ebuf : curl_easy_strerror(cc));
        snprintf(what, n, "tls handshake failed: %s", lw);
        return 1;
    }
    case CURLE_OUT_OF_MEMORY:
        *rc = SHELF_ENOMEM;
        snprintf(what, n, "out of memory");
        return 0;
    default: {
        char lw[200];

        lower_line(lw, sizeof lw, ebuf[0] ? ebuf : curl_easy_strerror(cc));
        snprintf(what, n, "%s", lw);
        return cc == CURLE_HTTP2 || cc == CURLE_HTTP2_STREAM || cc == CURLE_SEND_FAIL_REWIND;
    }
    }
}

/* Milliseconds to wait before retry number k (1: the first retry). */
static int64_t backoff_ms(shelf__http *h, int k, int64_t retry_after)
{
    uint64_t cap = (uint64_t)h->cfg.base_backoff_ms, z;
    int i;

    if (retry_after >= 0)
        return retry_after < h->cfg.max_backoff_ms ? retry_after : h->cfg.max_backoff_ms;
    for (i = 0; i < k && cap < (uint64_t)h->cfg.max_backoff_ms; i++)
        cap *= 2;
    if (cap > (uint64_t)h->cfg.max_backoff_ms)
        cap = (uint64_t)h->cfg.max_backoff_ms;
    /* splitmix64 over a shared counter: full jitter, no lock */
    z = atomic_fetch_add(&h->seed, 0x9E3779B97F4A7C15ull) + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (int64_t)(z % (cap + 1));
}

int shelf__http_do(shelf__http *h, shelf__http_req *rq, shelf__err *err)
{
    CURL *c = NULL;
    struct curl_slist *hl = NULL;
    char ebuf[CURL_ERROR_SIZE], what[512];
    int rc = SHELF_OK;
    int64_t wait = 0;
    xfer x;

    assert(rq->op && rq->method && rq->url);
    rq->attempts = 0;
    clear_filled(rq);
    if (!h->cfg.insecure_http_ok && strncasecmp(rq->url, "https://", 8) != 0)
        return shelf__seterr(err, SHELF_EINVAL, "%s: %s: plain http:// is not allowed", h->host,
                             rq->op);
    if (!(c = pool_get(h)))
        return shelf__seterr(err, SHELF_ENOMEM, "out of memory");
    what[0] = '\0';
    while (rq->attempts < h->cfg.max_attempts) {
        CURLcode cc;
        long status = 0, nconn = 0;

        if (rq->attempts > 0)
            sleep_ms((double)wait);
        rq->attempts++;
        clear_filled(rq);
        if (rq->out)
            shelf__buf_reset(rq->out);
        memset(&x, 0, sizeof x);
        x.h = h;
        x.rq = rq;
        x.retry_after_ms = -1;
        x.last_move = shelf__monotonic();
        if (rq->sign) {
            shelf__http_hdrs_free(&rq->sign_hdrs);
            if ((rc = rq->sign(rq->sign_ud, rq, err)) != 0)
                goto out;
        }
        curl_slist_free_all(hl);
        hl = NULL;
        if (rq->attempts > 1)
            curl_easy_reset(c);
        if ((rc = setup(h, c, rq, &x, &hl, err)) != 0)
            goto out;
        ebuf[0] = '\0';
        if (curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf) != CURLE_OK) {
            rc = shelf__seterr(err, SHELF_EIO, "%s: %s: cannot set up the request", h->host,
                               rq->op);
            goto out;
        }
        cc = curl_easy_perform(c);
        if (curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &nconn) == CURLE_OK && nconn > 0)
            atomic_fetch_add(&h->connects, (uint64_t)nconn);
        if (cc != CURLE_OK) {
            rq->status = 0;
            if (!describe(h, c, cc, &x, ebuf, what, sizeof what, &rc))
                goto fail;
            wait = backoff_ms(h, rq->attempts, -1);
            continue;
        }
        if (!x.headers_end) {
            /* curl takes a reply cut inside its headers for a whole one */
            rq->status = 0;
            rc = SHELF_EIO;
            snprintf(what, sizeof what, "truncated reply (the connection closed in its headers)");
            wait = backoff_ms(h, rq->attempts, -1);
            continue;
        }
        (void)curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        rq->status = status;
        if (is_redirect(status) && rq->location) {
            char lh[256];

            location_host(rq->location, h->host, lh, sizeof lh);
            rc = shelf__seterr(err, SHELF_EINVAL, "%s: %s: redirected (%ld) to %s, not followed",
                               h->host, rq->op, status, lh);
            goto out;
        }
        if (retry_status(rq, status)) {
            snprintf(what, sizeof what, "server answered %ld", status);
            wait = backoff_ms(h, rq->attempts, x.retry_after_ms);
            continue;
        }
        rc = SHELF_OK;
        goto out;
    }
    /* attempts used up */
    if (rq->status && retry_status(rq, rq->status)) {
        rc = SHELF_OK;
        goto out;
    }
    rc = SHELF_EIO;
fail:
    if (rq->attempts > 1)
        shelf__seterr(err, rc, "%s: %s: %s (after %d attempts)", h->host, rq->op, what,
                      rq->attempts);
    else
        shelf__seterr(err, rc, "%s: %s: %s", h->host, rq->op, what);
out:
    (void)curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
    (void)curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hl);
    pool_put(h, c);
    return rc;
}
