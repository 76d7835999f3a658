/*
 * http_int.h: the HTTP client under the network backends (s3, webdav,
 * rclone), on libcurl: keep-alive connections to one origin shared by every
 * thread of one shelf__http (CURLSH connection and TLS-session cache),
 * TLS always verified (a private CA through ca_file), retries with
 * exponential backoff and full jitter, a stalled transfer detected and
 * retried, bandwidth caps, and one-line errors that name the host and the
 * operation.
 *
 * One shelf__http per backend.  shelf__http_do may be called by several
 * threads at once (each call takes its own easy handle from a small pool).
 *
 * Retries (shelf__http_do): connection refused/reset, DNS failure, timeouts
 * and stalls, a truncated body (fewer bytes than Content-Length), HTTP 5xx,
 * 429, and the statuses the request lists in retry_status; Retry-After (in
 * seconds or as an HTTP date) is honoured, up to max_backoff_ms.  Other 4xx
 * are answered at once.  The request's sign callback runs before every
 * attempt, so a signature with a date is fresh on each retry.
 *
 * A host under ".localhost" (s3+vhost:http://s3.localhost:PORT/BUCKET
 * sends to BUCKET.s3.localhost) is the loopback, 127.0.0.1, without asking
 * DNS (RFC 6761 6.3; glibc would ask).
 *
 * HTTP/1.1 only; redirects are never followed; "Expect: 100-continue" is
 * never sent; PUT and POST always send Content-Length (0 for no body).
 * A reply cut inside its headers counts as truncated.  The tests' fault
 * proxy (tests/harness/faultproxy.c) puts these faults on real servers.
 */
#ifndef SHELF_REMOTE_HTTP_INT_H
#define SHELF_REMOTE_HTTP_INT_H

#include "../common/common_int.h"

typedef struct shelf__http shelf__http;

typedef struct shelf__http_cfg {
    const char *ca_file;        /* PEM bundle to trust instead of the system's; NULL: system */
    int insecure_http_ok;       /* allow http:// (127.0.0.1 and tests); https is always verified */
    int max_attempts;           /* 0: 7 (one try and six retries) */
    int base_backoff_ms;        /* 0: 200; attempt k waits rand(0, min(max, base * 2^k)) */
    int max_backoff_ms;         /* 0: 20000 */
    int connect_timeout_ms;     /* 0: 10000 */
    int stall_ms;               /* 0: 30000: fewer than 1 byte/s for this long is a stall */
    /* bytes per second for the whole shelf__http (all threads together: one
     * token bucket each way, charged in curl's read and write callbacks);
     * 0: none */
    uint64_t limit_up;
    uint64_t limit_down;
    int connections;            /* easy handles kept for reuse; 0: 4 */
    /* progress, called on the calling thread of shelf__http_do from inside
     * transfers, at most ~4 times a second: bytes moved so far by this
     * shelf__http (up and down) */
    void (*progress)(void *ud, uint64_t up, uint64_t down);
    void *progress_ud;
} shelf__http_cfg;

/* A request header list: "Name: value" strings, NULL-terminated arrays
 * built with shelf__http_hdr_add (owned by the request, freed by
 * shelf__http_req_reset). */
typedef struct shelf__http_hdrs {
    char **v;
    size_t n, cap;
} shelf__http_hdrs;
int shelf__http_hdr_add(shelf__http_hdrs *h, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void shelf__http_hdrs_free(shelf__http_hdrs *h);

typedef struct shelf__http_req shelf__http_req;

/* Called before each attempt: add the headers that sign the request (into
 * rq->sign_hdrs, which is emptied before each call).  Non-zero fails the
 * request with that code (err set by the callback). */
typedef int (*shelf__http_sign_fn)(void *ud, shelf__http_req *rq, shelf__err *err);

struct shelf__http_req {
    const char *op;             /* for messages: "upload data/ab/ab12...", "list index/" */
    const char *method;         /* "GET", "PUT", "HEAD", "PROPFIND", ... */
    const char *url;            /* whole URL, already percent-encoded */
    shelf__http_hdrs hdrs;      /* extra request headers */
    shelf__http_hdrs sign_hdrs; /* filled by sign before each attempt */
    shelf__http_sign_fn sign;
    void *sign_ud;
    /* body: memory, or a file range read with pread (large uploads) */
    const void *body;
    size_t body_len;
    int body_fd;                /* -1 (the default after shelf__http_req_init): memory */
    uint64_t body_off, body_fd_len;
    /* response */
    shelf__buf *out;            /* body appended here (reset on each attempt); NULL: discard */
    uint64_t max_out;           /* 0: no limit; a larger body fails with SHELF_EIO */
    const int *retry_status;    /* extra statuses to retry, 0-terminated; NULL: none */
    /* filled by shelf__http_do */
    long status;                /* final HTTP status (0 when no answer came) */
    char *etag;                 /* ETag header or NULL (owned) */
    char *location;             /* Location header or NULL (owned) */
    int64_t content_length;     /* -1 when absent */
    char *content_range;        /* Content-Range or NULL (owned) */
    int attempts;               /* how many were made */
};

void shelf__http_req_init(shelf__http_req *rq);
void shelf__http_req_reset(shelf__http_req *rq);   /* frees headers and filled fields */

/*
 * base: "https://host[:port]" (no path); its host is what messages name.
 * SHELF_EINVAL for an unparsable base or http:// without insecure_http_ok.
 */
int shelf__http_new(const char *base, const shelf__http_cfg *cfg, shelf__http **out,
                    shelf__err *err);
void shelf__http_free(shelf__http *h);
const char *shelf__http_host(const shelf__http *h);

/*
 * Make the request, retrying as described above.  Returns SHELF_OK when a
 * response arrived whole (any status: the caller judges rq->status), else
 * an error with err set to one line naming the host and rq->op:
 *   "s3.example.com: upload data/ab/ab12...: connection refused (after 7 attempts)"
 *   "dav.example.com: certificate has expired"
 * SHELF_EIO: network, timeout, stall, truncated body, body over max_out;
 * SHELF_EPERM: TLS verification failed (expired, self-signed, wrong host);
 * SHELF_EINVAL: a redirect (never followed: the caller says why).
 * A final 5xx or 429 after the last attempt returns SHELF_OK with the status.
 */
int shelf__http_do(shelf__http *h, shelf__http_req *rq, shelf__err *err);

/* Percent-encode s (RFC 3986 unreserved kept; '/' kept when keep_slash). */
int shelf__http_pct(shelf__buf *b, const char *s, int keep_slash);

/* Bytes moved by this shelf__http so far (all threads). */
void shelf__http_totals(const shelf__http *h, uint64_t *up, uint64_t *down);

/* New connections this shelf__http opened so far (all threads); a request
 * that reused a kept-alive connection adds none (tests check reuse). */
uint64_t shelf__http_connects(const shelf__http *h);

/*
 * The wait a Retry-After value asks for, in milliseconds: delta-seconds
 * ("120") or an HTTP date (any of RFC 9110's three forms) compared with
 * now (unix seconds); a date in the past is 0.  -1 when v is neither.
 */
int64_t shelf__http_retry_after(const char *v, int64_t now);

#endif /* SHELF_REMOTE_HTTP_INT_H */
