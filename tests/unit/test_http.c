/*
 * test_http.c: the HTTP client of the network backends (lib/remote/http.c)
 * against real servers started here on 127.0.0.1: the python origin in
 * test_http_origin.py (plain and TLS), and the fault proxy
 * (tests/harness/faultproxy.c) in front of it for cut, stalled and refused
 * connections.  Every server is killed when its test ends, also on failure
 * (atexit, and PR_SET_PDEATHSIG should the test die).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include "test.h"
#include "servers.h"
#include "alloc_fault.h"
#include "remote/http_int.h"

/* End the test as skipped (test.h's TEST_SKIP, with its results checked). */
__attribute__((noreturn)) static void skip(const char *why, const char *what)
{
    (void)fflush(stdout);
    (void)fprintf(stderr, "skipped: %s%s\n", why, what);
    exit(TEST_SKIP_STATUS);
}

/* ---- servers ------------------------------------------------------------- */

#define MAX_SERVERS 8
static pid_t servers[MAX_SERVERS];
static int nservers;

static void kill_servers(void)
{
    int i;

    for (i = 0; i < nservers; i++)
        if (servers[i] > 0) {
            kill(servers[i], SIGKILL);
            waitpid(servers[i], NULL, 0);
            servers[i] = 0;
        }
    nservers = 0;
}

/* Start argv (a program that prints "ready PORT") and return its port;
 * skip when the program is missing. */
static int start_server(char *const argv[])
{
    char line[128];
    pid_t pid;
    int port;

    ASSERT(nservers < MAX_SERVERS);
    if (access(argv[0], X_OK) != 0)
        skip("not found: ", argv[0]);
    port = test_server_start(argv, NULL, 0, 15, &pid, line, sizeof line);
    if (port <= 0 || port >= 65536)
        test__fail(__FILE__, __LINE__, "%s did not start: '%s'", argv[0], line);
    if (nservers == 0)
        atexit(kill_servers);
    servers[nservers++] = pid;
    return port;
}

static int start_origin(const char *cert, const char *key)
{
    char *argv[] = { (char *)"/usr/bin/python3", (char *)SHELF_TEST_ORIGIN, NULL, NULL, NULL,
                     NULL };

    if (cert) {
        argv[2] = (char *)"--tls";
        argv[3] = (char *)cert;
        argv[4] = (char *)key;
    }
    return start_server(argv);
}

/* ---- helpers ------------------------------------------------------------- */

static shelf__http *new_http(int port, const shelf__http_cfg *cfg_in)
{
    shelf__http_cfg cfg = { 0 };
    shelf__http *h;
    shelf__err err = { 0 };
    char base[64];

    if (cfg_in)
        cfg = *cfg_in;
    cfg.insecure_http_ok = 1;
    if (!cfg.base_backoff_ms)
        cfg.base_backoff_ms = 10;
    snprintf(base, sizeof base, "http://127.0.0.1:%d", port);
    ASSERT_OKM(err.msg, shelf__http_new(base, &cfg, &h, &err));
    return h;
}

/* One request: method on path, body (NULL: none), reply into out. */
static int req(shelf__http *h, int port, const char *method, const char *path, const char *body,
               shelf__buf *out, shelf__http_req *rq, shelf__err *err)
{
    char url[256];

    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    shelf__http_req_init(rq);
    rq->op = path;
    rq->method = method;
    rq->url = shelf__strdup(url);
    if (body) {
        rq->body = body;
        rq->body_len = strlen(body);
    }
    rq->out = out;
    return shelf__http_do(h, rq, err);
}

static void req_done(shelf__http_req *rq)
{
    free((char *)rq->url);
    shelf__http_req_reset(rq);
}

static int sign_calls;
static int sign_cb(void *ud, shelf__http_req *rq, shelf__err *err)
{
    (void)ud;
    (void)err;
    sign_calls++;
    return shelf__http_hdr_add(&rq->sign_hdrs, "X-Signed: call-%d", sign_calls);
}

/* ---- first: the basic requests ------------------------------------------ */

TEST(basic_methods)
{
    int port = start_origin(NULL, NULL);
    shelf__http *h = new_http(port, NULL);
    shelf__http_req rq;
    shelf__err err = { 0 };
    shelf__buf out = SHELF__BUF_INIT;
    static const char *methods[] = { "GET", "PUT", "DELETE", "PROPFIND", "MKCOL", "MOVE",
                                     "POST" };
    size_t i;
    uint64_t up, down;

    for (i = 0; i < sizeof methods / sizeof *methods; i++) {
        char want[32];

        ASSERT_OKM(err.msg, req(h, port, methods[i], "/echo", i % 2 || i == 6 ? "the body" : NULL, &out,
                                &rq, &err));
        ASSERT_EQ_INT(rq.status, 200);
        ASSERT_EQ_INT(rq.attempts, 1);
        snprintf(want, sizeof want, "%s\n", methods[i]);
        ASSERT(strncmp(out.buf, want, strlen(want)) == 0);
        if (i % 2 || i == 6)
            ASSERT(strstr(out.buf, "the body") != NULL);
        ASSERT(strstr(out.buf, "Expect") == NULL);
        req_done(&rq);
    }
    /* headers, the sign callback, HEAD's Content-Length and ETag */
    shelf__http_req_init(&rq);
    rq.op = "head data";
    rq.method = "HEAD";
    rq.url = shelf__asprintf("http://127.0.0.1:%d/data/1000", port);
    rq.out = &out;
    ASSERT_OKM(err.msg, shelf__http_do(h, &rq, &err));
    ASSERT_EQ_INT(rq.status, 200);
    ASSERT_EQ_INT(rq.content_length, 1000);
    ASSERT_EQ_STR(rq.etag, "\"d1000\"");
    ASSERT_EQ_INT(out.len, 0);
    req_done(&rq);

    shelf__http_req_init(&rq);
    rq.op = "echo";
    rq.method = "GET";
    rq.url = shelf__asprintf("http://127.0.0.1:%d/echo", port);
    ASSERT_OK(shelf__http_hdr_add(&rq.hdrs, "X-Mine: %d", 42));
    rq.sign = sign_cb;
    rq.out = &out;
    ASSERT_OKM(err.msg, shelf__http_do(h, &rq, &err));
    ASSERT(strstr(out.buf, "X-Mine: 42") != NULL);
    ASSERT(strstr(out.buf, "X-Signed: call-1") != NULL);
    ASSERT_EQ_INT(sign_calls, 1);
    req_done(&rq);

    /* an empty PUT says Content-Length: 0 */
    ASSERT_OKM(err.msg, req(h, port, "PUT", "/echo", NULL, &out, &rq, &err));
    ASSERT(strstr(out.buf, "Content-Length: 0") != NULL);
    req_done(&rq);

    shelf__http_totals(h, &up, &down);
    ASSERT(up >= 3 * 8);
    ASSERT(down > 0);
    shelf__buf_release(&out);
    shelf__http_free(h);
}

TEST(range_get)
{
    int port = start_origin(NULL, NULL);
    shelf__http *h = new_http(port, NULL);
    shelf__http_req rq;
    shelf__err err = { 0 };
    shelf__buf out = SHELF__BUF_INIT;
    int i;

    shelf__http_req_init(&rq);
    rq.op = "load data";
    rq.method = "GET";
    rq.url = shelf__asprintf("http://127.0.0.1:%d/data/100000", port);
    ASSERT_OK(shelf__http_hdr_add(&rq.hdrs, "Range: bytes=%d-%d", 1000, 1999));
    rq.out = &out;
    ASSERT_OKM(err.msg, shelf__http_do(h, &rq, &err));
    ASSERT_EQ_INT(rq.status, 206);
    ASSERT_EQ_INT(out.len, 1000);
    ASSERT_EQ_INT(rq.content_length, 1000);
    ASSERT_EQ_STR(rq.content_range, "bytes 1000-1999/100000");
    for (i = 0; i < 1000; i++)
        ASSERT_EQ_INT((unsigned char)out.buf[i], (1000 + i) % 251);
    req_done(&rq);
    /* max_out: a body over the limit fails, not retried */
    shelf__http_req_init(&rq);
    rq.op = "load big";
    rq.method = "GET";
    rq.url = shelf__asprintf("http://127.0.0.1:%d/data/100000", port);
    rq.out = &out;
    rq.max_out = 5000;
    ASSERT_RC(SHELF_EIO, shelf__http_do(h, &rq, &err));
    ASSERT(strstr(err.msg, "127.0.0.1: load big: reply larger than 5000 bytes") != NULL);
    ASSERT_EQ_INT(rq.attempts, 1);
    req_done(&rq);
    shelf__buf_release(&out);
    shelf__http_free(h);
}

/* A file of n bytes (byte i is i % 253) in the test's temp folder. */
static int make_file(const char *path, size_t n)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    char *b = malloc(1 << 20);
    size_t i, off = 0;

    ASSERT(fd >= 0 && b);
    while (off < n) {
        size_t k = n - off < (1u << 20) ? n - off : (1u << 20);

        for (i = 0; i < k; i++)
            b[i] = (char)((off + i) % 253);
        ASSERT_OK(shelf__write_all(fd, b, k));
        off += k;
    }
    free(b);
    return fd;
}

static void sha_hex_range(int fd, uint64_t off, uint64_t len, char hex[SHELF_HASH_HEX])
{
    shelf__sha256 *s = shelf__sha256_new();
    char *b = malloc(1 << 20);
    uint8_t md[SHELF_HASH_BYTES];

    ASSERT(s && b);
    while (len) {
        size_t k = len < (1u << 20) ? (size_t)len : (1u << 20);

        ASSERT_EQ_INT(pread(fd, b, k, (off_t)off), (ssize_t)k);
        shelf__sha256_update(s, b, k);
        off += k;
        len -= k;
    }
    shelf__sha256_final(s, md);
    shelf__sha256_free(s);
    shelf__hex(md, sizeof md, hex);
    free(b);
}

TEST(upload_file_range)
{
    int port = start_origin(NULL, NULL);
    shelf__http *h = new_http(port, NULL);
    shelf__http_req rq;
    shelf__err err = { 0 };
    shelf__buf out = SHELF__BUF_INIT;
    const char *dir = test_tmpdir();
    char *path = shelf__path_join(dir, "big"), hex[SHELF_HASH_HEX],
         etag[80];
    uint64_t len = 20u << 20, up;
    int fd = make_file(path, (size_t)len + 12345);

    sha_hex_range(fd, 12345, len, hex);
    shelf__http_req_init(&rq);
    rq.op = "upload big";
    rq.method = "PUT";
    rq.url = shelf__asprintf("http://127.0.0.1:%d/upload", port);
    rq.body_fd = fd;
    rq.body_off = 12345;
    rq.body_fd_len = len;
    rq.out = &out;
    ASSERT_OKM(err.msg, shelf__http_do(h, &rq, &err));
    ASSERT_EQ_INT(rq.status, 201);
    snprintf(etag, sizeof etag, "\"%s\"", hex);
    ASSERT_EQ_STR(rq.etag, etag);
    ASSERT_EQ_STR(out.buf, hex);
    shelf__http_totals(h, &up, NULL);
    ASSERT_EQ_INT(up, len);
    req_done(&rq);
    close(fd);
    free(path);
    shelf__buf_release(&out);
    shelf__http_free(h);
}

TEST(pct)
{
    shelf__buf b = SHELF__BUF_INIT;

    ASSERT_OK(shelf__http_pct(&b, "a b/c~d_e.f-\xe2\x99\xab%\n", 1));
    ASSERT_EQ_STR(b.buf, "a%20b/c~d_e.f-%E2%99%AB%25%0A");
    shelf__buf_reset(&b);
    ASSERT_OK(shelf__http_pct(&b, "x/y", 0));
    ASSERT_EQ_STR(b.buf, "x%2Fy");
    shelf__buf_reset(&b);
    ASSERT_OK(shelf__http_pct(&b, "", 0));
    ASSERT_EQ_STR(b.buf, "");
    shelf__buf_release(&b);
}

TEST(new_refuses)
{
    shelf__http *h = (shelf__http *)1;
    shelf__err err = { 0 };
    shelf__http_cfg cfg = { 0 };

    ASSERT_RC(SHELF_EINVAL, shelf__http_new("http://example.com", NULL, &h, &err));
    ASSERT(h == NULL);
    ASSERT(strstr(err.msg, "example.com: plain http:// is not allowed") != NULL);
    ASSERT_RC(SHELF_EINVAL, shelf__http_new("ftp://example.com", NULL, &h, &err));
    ASSERT_RC(SHELF_EINVAL, shelf__http_new("not a url", NULL, &h, &err));
    ASSERT_RC(SHELF_EINVAL, shelf__http_new("https://example.com/path", NULL, &h, &err));
    cfg.insecure_http_ok = 1;
    ASSERT_OKM(err.msg, shelf__http_new("http://127.0.0.1:1", &cfg, &h, &err));
    ASSERT_EQ_STR(shelf__http_host(h), "127.0.0.1");
    shelf__http_free(h);
    ASSERT_OKM(err.msg, shelf__http_new("https://example.com/", NULL, &h, &err));
    ASSERT_EQ_STR(shelf__http_host(h), "example.com");
    {
        shelf__http_req rq;

        /* an https handle never sends a request in the clear */
        shelf__http_req_init(&rq);
        rq.op = "list";
        rq.method = "GET";
        rq.url = "http://example.com/x";
        ASSERT_RC(SHELF_EINVAL, shelf__http_do(h, &rq, &err));
        ASSERT_EQ_STR(err.msg, "example.com: list: plain http:// is not allowed");
        ASSERT_EQ_INT(rq.attempts, 0);
        shelf__http_req_reset(&rq);
    }
    shelf__http_free(h);
}

/* ---- retries -------------------------------------------------------------- */

static int start_proxy(int target, const char *opts)
{
    char *argv[16], *copy = shelf__strdup(opts ? opts : ""), *save = NULL, *tok, port[16];
    int argc = 0;

    argv[argc++] = (char *)SHELF_FAULTPROXY;
    for (tok = strtok_r(copy, " ", &save); tok && argc < 13; tok = strtok_r(NULL, " ", &save))
        argv[argc++] = tok;
    snprintf(port, sizeof port, "%d", target);
    argv[argc++] = port;
    argv[argc] = NULL;
    argc = start_server(argv);
    free(copy);
    return argc;
}

TEST(retry_503_then_200)
{
    int port = start_origin(NULL, NULL);
    shelf__http *h = new_http(port, NULL);
    shelf__http_req rq;
    shelf__err err = { 0 };
    shelf__buf out = SHELF__BUF_INIT;

    sign_calls = 0;
    shelf__http_req_init(&rq);
    rq.op = "load flaky";
    rq.method = "GET";
    rq.url = shelf__asprintf("http://127.0.0.1:%d/flaky/a/2/503", port);
    rq.sign = sign_cb;
    rq.out = &out;
    ASSERT_OKM(err.msg, shelf__http_do(h, &rq, &err));
    ASSERT_EQ_INT(rq.status, 200);
    ASSERT_EQ_INT(rq.attempts, 3);
    ASSERT_EQ_INT(sign_calls, 3);       /* signed afresh before every attempt */
    ASSERT_EQ_STR(out.buf, "ok");      /* the 503s' bodies were dropped */
    req_done(&rq);
    ASSERT_OKM(err.msg, req(h, port, "GET", "/count/a", NULL, &out, &rq, &err));
    ASSERT_EQ_STR(out.buf, "3");
    req_done(&rq);
    /* a status the request lists (409) is retried too */
    {
        static const int extra[] = { 409, 0 };

        shelf__http_req_init(&rq);
        rq.op = "load conflict";
        rq.method = "GET";
        rq.url = shelf__asprintf("http://127.0.0.1:%d/flaky/b/1/409", port);
        rq.retry_status = extra;
        ASSERT_OKM(err.msg, shelf__http_do(h, &rq, &err));
        ASSERT_EQ_INT(rq.status, 200);
        ASSERT_EQ_INT(rq.attempts, 2);
        req_done(&rq);
    }
    /* out of attempts: the last 503 is the answer (SHELF_OK, status 503) */
    {
        shelf__http_cfg cfg = { 0 };
        shelf__http *h2;

        cfg.max_attempts = 3;
        h2 = new_http(port, &cfg);
        ASSERT_OKM(err.msg, req(h2, port, "GET", "/flaky/c/10/503", NULL, &out, &rq, &err));
        ASSERT_EQ_INT(rq.status, 503);
        ASSERT_EQ_INT(rq.attempts, 3);
        req_done(&rq);
        shelf__http_free(h2);
    }
    shelf__buf_release(&out);
    shelf__http_free(h);
}

TEST(no_retry_404)
{
    int port = start_origin(NULL, NULL);
    shelf__http *h = new_http(port, NULL);
    shelf__http_req rq;
    shelf__err err = { 0 };
    shelf__buf out = SHELF__BUF_INIT;

    ASSERT_OKM(err.msg, req(h, port, "GET", "/flaky/n/5/404", NULL, &out, &rq, &err));
    ASSERT_EQ_INT(rq.status, 404);
    ASSERT_EQ_INT(rq.attempts, 1);
    req_done(&rq);
    ASSERT_OKM(err.msg, req(h, port, "GET", "/count/n", NULL, &out, &rq, &err));
    ASSERT_EQ_STR(out.buf, "1");
    req_done(&rq);
    shelf__buf_release(&out);
    shelf__http_free(h);
}

TEST(redirect_refused)
{
    int port = start_origin(NULL, NULL);
    shelf__http *h = new_http(port, NULL);
    shelf__http_req rq;
    shelf__err err = { 0 };

    ASSERT_RC(SHELF_EINVAL, req(h, port, "GET", "/code/301", NULL, NULL, &rq, &err));
    ASSERT_EQ_INT(rq.status, 301);
    ASSERT_EQ_INT(rq.attempts, 1);
    ASSERT_EQ_STR(rq.location, "http://elsewhere.example/x");
    ASSERT_EQ_STR(err.msg, "127.0.0.1: /code/301: redirected (301) to elsewhere.example, not followed");
    req_done(&rq);
    shelf__http_free(h);
}

TEST(retry_after)
{
    int port = start_origin(NULL, NULL);
    shelf__http *h = new_http(port, NULL);
    shelf__http_req rq;
    shelf__err err = { 0 };
    double t0 = shelf__monotonic(), dt;

    ASSERT_OKM(err.msg, req(h, port, "GET", "/retry-after/r/1", NULL, NULL, &rq, &err));
    dt = shelf__monotonic() - t0;
    ASSERT_EQ_INT(rq.status, 200);
    ASSERT_EQ_INT(rq.attempts, 2);
    printf("  429 with Retry-After: 1 answered after %.2f s\n", dt);
    ASSERT(dt >= 1.0);
    ASSERT(dt < 5.0);
    req_done(&rq);
    /* Retry-After as an HTTP date 2 s ahead: a wait of 1-2 s (whole seconds) */
    {
        time_t when = time(NULL) + 2;
        struct tm tm;
        char date[64], path[128], *p;

        ASSERT(gmtime_r(&when, &tm) != NULL);
        ASSERT(strftime(date, sizeof date, "%a,%%20%d%%20%b%%20%Y%%20%H:%M:%S%%20GMT", &tm) > 0);
        snprintf(path, sizeof path, "/retry-after/d/%s", date);
        for (p = path; *p; p++)
            ASSERT(*p != ' ');
        t0 = shelf__monotonic();
        ASSERT_OKM(err.msg, req(h, port, "GET", path, NULL, NULL, &rq, &err));
        dt = shelf__monotonic() - t0;
        printf("  429 with Retry-After: <now + 2 s> answered after %.2f s\n", dt);
        ASSERT_EQ_INT(rq.attempts, 2);
        ASSERT(dt >= 0.9 && dt < 4.0);
        req_done(&rq);
    }
    shelf__http_free(h);
    /* a long Retry-After is capped at max_backoff_ms */
    {
        shelf__http_cfg cfg = { 0 };

        cfg.max_backoff_ms = 300;
        h = new_http(port, &cfg);
        t0 = shelf__monotonic();
        ASSERT_OKM(err.msg, req(h, port, "GET", "/retry-after/s/3600", NULL, NULL, &rq, &err));
        dt = shelf__monotonic() - t0;
        ASSERT_EQ_INT(rq.attempts, 2);
        ASSERT(dt >= 0.29 && dt < 3.0);
        req_done(&rq);
        shelf__http_free(h);
    }
}

TEST(retry_after_parse)
{
    int64_t now = 784111777;    /* Sun, 06 Nov 1994 08:49:37 GMT */
    static const char *junk[] = { "", " ", "abc", "-5", "1x", "12 34", "Sun, 99 Foo 1994",
                                  "99999999999999999999", "\xff\xfe" };
    size_t i;
    unsigned seed = 1;
    char s[64];

    ASSERT_EQ_INT(shelf__http_retry_after("120", now), 120000);
    ASSERT_EQ_INT(shelf__http_retry_after(" 0 ", now), 0);
    ASSERT_EQ_INT(shelf__http_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now), 10000);
    ASSERT_EQ_INT(shelf__http_retry_after("Sunday, 06-Nov-94 08:50:37 GMT", now), 60000);
    ASSERT_EQ_INT(shelf__http_retry_after("Sun Nov  6 08:49:39 1994", now), 2000);
    ASSERT_EQ_INT(shelf__http_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now), 0);
    for (i = 0; i < sizeof junk / sizeof *junk; i++)
        ASSERT_EQ_INT(shelf__http_retry_after(junk[i], now), -1);
    /* fuzz-style: random bytes never crash and give -1 or a wait >= 0 */
    for (i = 0; i < 20000; i++) {
        size_t n = (size_t)rand_r(&seed) % (sizeof s - 1), k;

        for (k = 0; k < n; k++)
            s[k] = (char)(rand_r(&seed) % 4 == 0 ? "0123456789 ,:-GMTNovSun"[rand_r(&seed) % 23]
                                                 : rand_r(&seed) % 255 + 1);
        s[n] = '\0';
        ASSERT(shelf__http_retry_after(s, now) >= -1);
    }
}

TEST(connection_refused)
{
    shelf__http_cfg cfg = { 0 };
    shelf__http *h;
    shelf__http_req rq;
    shelf__err err = { 0 };
    int port, fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { 0 };
    socklen_t sl = sizeof sa;

    /* a port nobody listens on: bind one, read its number, close it */
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    ASSERT(getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
    port = ntohs(sa.sin_port);
    close(fd);
    cfg.max_attempts = 3;
    h = new_http(port, &cfg);
    ASSERT_RC(SHELF_EIO, req(h, port, "GET", "/x", NULL, NULL, &rq, &err));
    ASSERT_EQ_INT(rq.attempts, 3);
    ASSERT_EQ_INT(rq.status, 0);
    ASSERT_EQ_STR(err.msg, "127.0.0.1: /x: cannot connect: connection refused (after 3 attempts)");
    req_done(&rq);
    shelf__http_free(h);
}

TEST(truncated_body_retried)
{
    int origin = start_origin(NULL, NULL);
    const char *dir = test_tmpdir();
    char *log = shelf__path_join(dir, "proxy.log"), opts[600];
    int port;
    shelf__http *h;
    shelf__http_req rq;
    shelf__err err = { 0 };
    shelf__buf out = SHELF__BUF_INIT, lg = SHELF__BUF_INIT;
    int i;

    snprintf(opts, sizeof opts, "--cut 5000 --times 1 --log %s", log);
    port = start_proxy(origin, opts);
    h = new_http(port, NULL);
    ASSERT_OKM(err.msg, req(h, port, "GET", "/data/100000", NULL, &out, &rq, &err));
    ASSERT_EQ_INT(rq.status, 200);
    ASSERT_EQ_INT(rq.attempts, 2);
    ASSERT_EQ_INT(out.len, 100000);
    for (i = 0; i < 100000; i += 997)
        ASSERT_EQ_INT((unsigned char)out.buf[i], i % 251);
    req_done(&rq);
    {
        size_t n;
        char *text = test_read_file(log, &n);

        ASSERT(strstr(text, "fault 1 cut") != NULL);   /* the cut did happen */
        free(text);
    }
    /* cut every time: the message says so */
    shelf__http_free(h);
    {
        shelf__http_cfg cfg = { 0 };

        cfg.max_attempts = 2;
        port = start_proxy(origin, "--cut 5000");
        h = new_http(port, &cfg);
        ASSERT_RC(SHELF_EIO, req(h, port, "GET", "/data/100000", NULL, &out, &rq, &err));
        ASSERT(strstr(err.msg, "127.0.0.1: /data/100000: truncated body") != NULL);
        ASSERT(strstr(err.msg, "(after 2 attempts)") != NULL);
        req_done(&rq);
    }
    /* refused connections (reset at once) are retried */
    shelf__http_free(h);
    port = start_proxy(origin, "--refuse 2");
    h = new_http(port, NULL);
    ASSERT_OKM(err.msg, req(h, port, "GET", "/data/10", NULL, &out, &rq, &err));
    ASSERT_EQ_INT(rq.attempts, 3);
    ASSERT_EQ_INT(out.len, 10);
    req_done(&rq);
    shelf__buf_release(&out);
    shelf__buf_release(&lg);
    shelf__http_free(h);
    free(log);
}

TEST(stall_detected)
{
    int origin = start_origin(NULL, NULL);
    int port = start_proxy(origin, "--stall 3000:20000 --times 1");
    shelf__http_cfg cfg = { 0 };
    shelf__http *h;
    shelf__http_req rq;
    shelf__err err = { 0 };
    shelf__buf out = SHELF__BUF_INIT;
    double t0, dt;

    cfg.stall_ms = 700;
    h = new_http(port, &cfg);
    t0 = shelf__monotonic();
    ASSERT_OKM(err.msg, req(h, port, "GET", "/data/100000", NULL, &out, &rq, &err));
    dt = shelf__monotonic() - t0;
    printf("  stall of 20 s with stall_ms 700: retried after %.2f s\n", dt);
    ASSERT_EQ_INT(rq.attempts, 2);
    ASSERT_EQ_INT(out.len, 100000);
    ASSERT(dt >= 0.7);
    ASSERT(dt < 0.7 + 1.5);     /* curl checks progress at least once a second */
    req_done(&rq);
    shelf__http_free(h);
    /* stalled every time: the message says so */
    port = start_proxy(origin, "--stall 3000:20000");
    cfg.max_attempts = 2;
    h = new_http(port, &cfg);
    ASSERT_RC(SHELF_EIO, req(h, port, "GET", "/data/100000", NULL, &out, &rq, &err));
    ASSERT_EQ_STR(err.msg, "127.0.0.1: /data/100000: transfer stalled (no data for 700 ms) "
                           "(after 2 attempts)");
    req_done(&rq);
    shelf__buf_release(&out);
    shelf__http_free(h);
}

/* ---- threads, connections, bandwidth -------------------------------------- */

typedef struct par {
    shelf__http *h;
    int port, n, failed;
    const char *path;
    const char *body;
    size_t body_len;
    const char *scheme;     /* NULL: http */
} par;

static void *par_run(void *arg)
{
    par *p = arg;
    int i;

    for (i = 0; i < p->n; i++) {
        shelf__http_req rq;
        shelf__err err = { 0 };
        shelf__buf out = SHELF__BUF_INIT;

        shelf__http_req_init(&rq);
        rq.op = "parallel";
        rq.method = p->body ? "PUT" : "GET";
        rq.url = shelf__asprintf("%s://127.0.0.1:%d%s", p->scheme ? p->scheme : "http", p->port,
                                 p->path);
        rq.body = p->body;
        rq.body_len = p->body_len;
        rq.out = &out;
        if (shelf__http_do(p->h, &rq, &err) != SHELF_OK || rq.status / 100 != 2) {
            fprintf(stderr, "parallel request failed: %ld %s\n", rq.status, err.msg);
            p->failed++;
        }
        free((char *)rq.url);
        shelf__http_req_reset(&rq);
        shelf__buf_release(&out);
    }
    return NULL;
}

TEST(threads_share_connections)
{
    int port = start_origin(NULL, NULL);
    shelf__http *h = new_http(port, NULL);
    pthread_t t[4];
    par p[4];
    int i;
    uint64_t conns;
    shelf__http_req rq;
    shelf__err err = { 0 };
    shelf__buf out = SHELF__BUF_INIT;

    for (i = 0; i < 4; i++) {
        p[i] = (par){ h, port, 25, 0, "/data/20000", NULL, 0, NULL };
        ASSERT(pthread_create(&t[i], NULL, par_run, &p[i]) == 0);
    }
    for (i = 0; i < 4; i++) {
        ASSERT(pthread_join(t[i], NULL) == 0);
        ASSERT_EQ_INT(p[i].failed, 0);
    }
    conns = shelf__http_connects(h);
    printf("  100 requests from 4 threads: %llu connections\n", (unsigned long long)conns);
    ASSERT(conns >= 1);
    ASSERT(conns <= 8);
    /* the server saw as many connections as curl opened (this one reuses one) */
    ASSERT_OKM(err.msg, req(h, port, "GET", "/conns", NULL, &out, &rq, &err));
    ASSERT_EQ_INT(strtol(out.buf, NULL, 10), (long)shelf__http_connects(h));
    ASSERT_EQ_INT(shelf__http_connects(h), conns);
    req_done(&rq);
    shelf__buf_release(&out);
    shelf__http_free(h);
}

static _Atomic int progress_calls;
static _Atomic uint64_t progress_last;
static void progress_cb(void *ud, uint64_t up, uint64_t down)
{
    (void)ud;
    (void)down;
    ASSERT(up >= atomic_load(&progress_last));
    atomic_store(&progress_last, up);
    atomic_fetch_add(&progress_calls, 1);
}

TEST(bandwidth_cap)
{
    int port = start_origin(NULL, NULL);
    shelf__http_cfg cfg = { 0 };
    shelf__http *h;
    pthread_t t[2];
    par p[2];
    size_t n = 1u << 20;
    char *body = calloc(1, n);
    double t0, dt;
    uint64_t up, down;
    int i;
    shelf__http_req rq;
    shelf__err err = { 0 };
    shelf__buf out = SHELF__BUF_INIT;

    ASSERT(body);
    cfg.limit_up = 1u << 20;
    cfg.limit_down = 1u << 20;
    cfg.progress = progress_cb;
    h = new_http(port, &cfg);
    /* two threads upload 1 MiB each under one cap of 1 MiB/s: >= 2 * 0.9 s */
    t0 = shelf__monotonic();
    for (i = 0; i < 2; i++) {
        p[i] = (par){ h, port, 1, 0, "/upload", body, n, NULL };
        ASSERT(pthread_create(&t[i], NULL, par_run, &p[i]) == 0);
    }
    for (i = 0; i < 2; i++) {
        ASSERT(pthread_join(t[i], NULL) == 0);
        ASSERT_EQ_INT(p[i].failed, 0);
    }
    dt = shelf__monotonic() - t0;
    printf("  2 MiB up at 1 MiB/s (2 threads): %.2f s\n", dt);
    ASSERT(dt >= 2 * 0.9);
    ASSERT(dt < 6);
    ASSERT(atomic_load(&progress_calls) >= 3);
    /* download: 2 MiB at 1 MiB/s */
    t0 = shelf__monotonic();
    ASSERT_OKM(err.msg, req(h, port, "GET", "/data/2097152", NULL, &out, &rq, &err));
    dt = shelf__monotonic() - t0;
    printf("  2 MiB down at 1 MiB/s: %.2f s\n", dt);
    ASSERT_EQ_INT(out.len, 2u << 20);
    ASSERT(dt >= 2 * 0.9);
    req_done(&rq);
    shelf__http_totals(h, &up, &down);
    ASSERT_EQ_INT(up, 2 * n);
    ASSERT(down >= 2u << 20);
    shelf__buf_release(&out);
    shelf__http_free(h);
    free(body);
}

TEST(short_body_file)
{
    int port = start_origin(NULL, NULL);
    shelf__http *h = new_http(port, NULL);
    shelf__http_req rq;
    shelf__err err = { 0 };
    const char *dir = test_tmpdir();
    char *path = shelf__path_join(dir, "small");
    int fd = make_file(path, 1000);

    shelf__http_req_init(&rq);
    rq.op = "upload small";
    rq.method = "PUT";
    rq.url = shelf__asprintf("http://127.0.0.1:%d/upload", port);
    rq.body_fd = fd;
    rq.body_off = 500;
    rq.body_fd_len = 1000;     /* 500 past the end */
    ASSERT_RC(SHELF_EIO, shelf__http_do(h, &rq, &err));
    ASSERT_EQ_STR(err.msg, "127.0.0.1: upload small: cannot read the body: file shorter than expected");
    ASSERT_EQ_INT(rq.attempts, 1);
    req_done(&rq);
    close(fd);
    free(path);
    shelf__http_free(h);
}

/* An upload cut halfway is sent again from the start of its file range. */
TEST(upload_cut_retried)
{
    int origin = start_origin(NULL, NULL);
    int port = start_proxy(origin, "--up --cut 1000000 --times 1");
    shelf__http *h = new_http(port, NULL);
    shelf__http_req rq;
    shelf__err err = { 0 };
    shelf__buf out = SHELF__BUF_INIT;
    const char *dir = test_tmpdir();
    char *path = shelf__path_join(dir, "f"), hex[SHELF_HASH_HEX];
    uint64_t len = 3u << 20;
    int fd = make_file(path, (size_t)len + 7);

    sha_hex_range(fd, 7, len, hex);
    shelf__http_req_init(&rq);
    rq.op = "upload f";
    rq.method = "PUT";
    rq.url = shelf__asprintf("http://127.0.0.1:%d/upload", port);
    rq.body_fd = fd;
    rq.body_off = 7;
    rq.body_fd_len = len;
    rq.out = &out;
    ASSERT_OKM(err.msg, shelf__http_do(h, &rq, &err));
    ASSERT_EQ_INT(rq.status, 201);
    ASSERT_EQ_INT(rq.attempts, 2);
    ASSERT_EQ_STR(out.buf, hex);
    req_done(&rq);
    close(fd);
    free(path);
    shelf__buf_release(&out);
    shelf__http_free(h);
}

static int sign_fail(void *ud, shelf__http_req *rq, shelf__err *err)
{
    (void)ud;
    (void)rq;
    return shelf__seterr(err, SHELF_EAUTH, "no credentials for test");
}

TEST(sign_failure)
{
    int port = start_origin(NULL, NULL);
    shelf__http *h = new_http(port, NULL);
    shelf__http_req rq;
    shelf__err err = { 0 };

    shelf__http_req_init(&rq);
    rq.op = "x";
    rq.method = "GET";
    rq.url = shelf__asprintf("http://127.0.0.1:%d/echo", port);
    rq.sign = sign_fail;
    ASSERT_RC(SHELF_EAUTH, shelf__http_do(h, &rq, &err));
    ASSERT_EQ_STR(err.msg, "no credentials for test");
    ASSERT_EQ_INT(rq.status, 0);
    req_done(&rq);
    shelf__http_free(h);
}

/* The proxy's own faults, which other tests build on: a flipped byte
 * reaches the caller (only a checksum above HTTP can see it), and a
 * control file changes the faults while the proxy runs. */
TEST(faultproxy_flip_and_control)
{
    int origin = start_origin(NULL, NULL);
    const char *dir = test_tmpdir();
    char *ctl = shelf__path_join(dir, "ctl"), *tmp = shelf__path_join(dir, "ctl.new"), opts[600];
    int port = start_proxy(origin, "--flip 40000");
    shelf__http *h = new_http(port, NULL);
    shelf__http_req rq;
    shelf__err err = { 0 };
    shelf__buf out = SHELF__BUF_INIT;
    int i, diffs = 0;

    ASSERT_OKM(err.msg, req(h, port, "GET", "/data/100000", NULL, &out, &rq, &err));
    ASSERT_EQ_INT(out.len, 100000);
    for (i = 0; i < 100000; i++)
        diffs += (unsigned char)out.buf[i] != i % 251;
    ASSERT_EQ_INT(diffs, 1);
    req_done(&rq);
    shelf__http_free(h);

    snprintf(opts, sizeof opts, "--control %s", ctl);
    port = start_proxy(origin, opts);
    {
        shelf__http_cfg cfg = { 0 };

        cfg.max_attempts = 2;
        h = new_http(port, &cfg);
    }
    test_write_file(ctl, "--cut 100\n", 10);
    ASSERT_RC(SHELF_EIO, req(h, port, "GET", "/data/1000", NULL, &out, &rq, &err));
    ASSERT_EQ_STR(err.msg, "127.0.0.1: /data/1000: truncated reply (the connection closed in "
                           "its headers) (after 2 attempts)");
    req_done(&rq);
    test_write_file(tmp, "\n", 1);
    ASSERT(rename(tmp, ctl) == 0);
    ASSERT_OKM(err.msg, req(h, port, "GET", "/data/1000", NULL, &out, &rq, &err));
    ASSERT_EQ_INT(out.len, 1000);
    req_done(&rq);
    shelf__buf_release(&out);
    shelf__http_free(h);
    free(ctl);
    free(tmp);
}

/* Out of memory at each allocation of new + a signed GET with headers:
 * ENOMEM (or success when the failure fell on a spare), never a crash,
 * a leak (ASan) or a wrong reply. */
TEST(alloc_failures)
{
    int port = start_origin(NULL, NULL);
    long n;
    int ok = 0, nomem = 0;

    for (n = 1; n < 1000; n++) {
        shelf__http_cfg cfg = { 0 };
        shelf__http *h = NULL;
        shelf__http_req rq;
        shelf__err err = { 0 };
        shelf__buf out = SHELF__BUF_INIT;
        char base[64], url[128];
        int rc, hit;

        cfg.insecure_http_ok = 1;
        cfg.max_attempts = 1;
        snprintf(base, sizeof base, "http://127.0.0.1:%d", port);
        snprintf(url, sizeof url, "http://127.0.0.1:%d/data/5000", port);
        shelf__http_req_init(&rq);
        shelf__alloc_fail_after(n);
        rc = shelf__http_new(base, &cfg, &h, &err);
        if (rc == SHELF_OK) {
            rq.op = "load";
            rq.method = "GET";
            rq.url = url;
            rq.sign = sign_cb;
            rq.out = &out;
            rc = shelf__http_hdr_add(&rq.hdrs, "Range: bytes=0-%d", 99);
            if (rc == SHELF_OK)
                rc = shelf__http_do(h, &rq, &err);
        }
        hit = fault_hit(n);
        shelf__alloc_fail_after(0);
        if (rc == SHELF_OK) {
            ok++;
            ASSERT_EQ_INT(rq.status, 206);
            ASSERT_EQ_INT(out.len, 100);
            ASSERT_EQ_STR(rq.etag, "\"d5000\"");
        } else {
            nomem++;
            if (rc != SHELF_ENOMEM)
                test__fail(__FILE__, __LINE__, "allocation %ld: rc %d: %s", n, rc, err.msg);
        }
        shelf__http_req_reset(&rq);
        shelf__buf_release(&out);
        shelf__http_free(h);
        if (!hit)
            break;
    }
    printf("  %ld allocations failed in turn: %d ENOMEM, %d ok\n", n, nomem, ok);
    ASSERT(nomem >= 5);
    ASSERT(ok >= 1);
}

/* ---- TLS ------------------------------------------------------------------ */

/* Make a CA and four server certificates in dir with the openssl command:
 * good (127.0.0.1, from the CA), expired, wronghost (for wrong.example)
 * and selfsigned. */
static void make_certs(const char *dir)
{
    char cmd[4096];
    int rc;

    snprintf(cmd, sizeof cmd,
             "set -e; cd '%s'; exec 2>openssl.log; K='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes'\n"
             "openssl req -x509 $K -keyout ca.key -out ca.pem -days 30 -subj /CN=shelf-test-ca\n"
             "printf 'subjectAltName=IP:127.0.0.1\\n' > ip.ext\n"
             "printf 'subjectAltName=DNS:wrong.example\\n' > wrong.ext\n"
             "for n in good:30:ip expired:-1:ip wronghost:30:wrong; do\n"
             "  c=${n%%%%:*}; r=${n#*:}; d=${r%%%%:*}; e=${r#*:}\n"
             "  openssl req $K -keyout $c.key -out $c.csr -subj /CN=$c\n"
             "  openssl x509 -req -in $c.csr -CA ca.pem -CAkey ca.key -CAcreateserial"
             " -out $c.pem -days $d -extfile $e.ext\n"
             "done\n"
             "openssl req -x509 $K -keyout selfsigned.key -out selfsigned.pem -days 30"
             " -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1\n",
             dir);
    rc = system(cmd);
    if (rc == -1 || !WIFEXITED(rc) || WEXITSTATUS(rc) == 127)
        skip("openssl command not available", "");
    ASSERT_EQ_INT(WEXITSTATUS(rc), 0);
}

static int tls_try(const char *dir, const char *name, const char *ca, shelf__err *err, int *port_out)
{
    char cert[512], key[512], base[64];
    int port, rc;
    shelf__http_cfg cfg = { 0 };
    shelf__http *h;
    shelf__http_req rq;

    snprintf(cert, sizeof cert, "%s/%s.pem", dir, name);
    snprintf(key, sizeof key, "%s/%s.key", dir, name);
    port = start_origin(cert, key);
    if (port_out)
        *port_out = port;
    cfg.ca_file = ca;
    cfg.base_backoff_ms = 10;
    snprintf(base, sizeof base, "https://127.0.0.1:%d", port);
    ASSERT_OKM(err->msg, shelf__http_new(base, &cfg, &h, err));
    shelf__http_req_init(&rq);
    rq.op = "load data/x";
    rq.method = "GET";
    rq.url = shelf__asprintf("https://127.0.0.1:%d/data/10", port);
    rc = shelf__http_do(h, &rq, err);
    if (rc == SHELF_OK)
        ASSERT_EQ_INT(rq.status, 200);
    else
        ASSERT_EQ_INT(rq.attempts, 1);     /* verification failures are not retried */
    req_done(&rq);
    shelf__http_free(h);
    return rc;
}

TEST(tls_verification)
{
    const char *dir = test_tmpdir();
    char ca[512];
    shelf__err err = { 0 };

    make_certs(dir);
    snprintf(ca, sizeof ca, "%s/ca.pem", dir);
    /* the private CA makes the good certificate work */
    ASSERT_OKM(err.msg, tls_try(dir, "good", ca, &err, NULL));
    /* without it, the system's trust store does not know the CA */
    ASSERT_RC(SHELF_EPERM, tls_try(dir, "good", NULL, &err, NULL));
    printf("  no ca_file: %s\n", err.msg);
    ASSERT(strncmp(err.msg, "127.0.0.1: load data/x: certificate verification failed: ", 57) == 0);
    ASSERT(strstr(err.msg, "issuer certificate") != NULL);

    ASSERT_RC(SHELF_EPERM, tls_try(dir, "expired", ca, &err, NULL));
    printf("  expired: %s\n", err.msg);
    ASSERT_EQ_STR(err.msg, "127.0.0.1: load data/x: certificate verification failed: "
                           "certificate has expired");

    ASSERT_RC(SHELF_EPERM, tls_try(dir, "wronghost", ca, &err, NULL));
    printf("  wrong host: %s\n", err.msg);
    ASSERT_EQ_STR(err.msg, "127.0.0.1: load data/x: certificate verification failed: "
                           "certificate is for another host name");

    ASSERT_RC(SHELF_EPERM, tls_try(dir, "selfsigned", ca, &err, NULL));
    printf("  self-signed: %s\n", err.msg);
    ASSERT(strncmp(err.msg, "127.0.0.1: load data/x: certificate verification failed: self", 61) ==
           0);
    ASSERT(strstr(err.msg, "signed certificate") != NULL);
    /* a ca_file that does not exist */
    ASSERT_RC(SHELF_EPERM, tls_try(dir, "good", "/nonexistent/ca.pem", &err, NULL));
    ASSERT(strstr(err.msg, "127.0.0.1: load data/x: ") == err.msg);
    printf("  missing ca_file: %s\n", err.msg);
    /* 4 threads over TLS share the connections (and TLS sessions) */
    {
        char cert[512], key[512], base[64];
        shelf__http_cfg cfg = { 0 };
        shelf__http *h;
        pthread_t t[4];
        par p[4];
        int i, port;
        uint64_t conns;

        snprintf(cert, sizeof cert, "%s/good.pem", dir);
        snprintf(key, sizeof key, "%s/good.key", dir);
        port = start_origin(cert, key);
        cfg.ca_file = ca;
        snprintf(base, sizeof base, "https://127.0.0.1:%d", port);
        ASSERT_OKM(err.msg, shelf__http_new(base, &cfg, &h, &err));
        for (i = 0; i < 4; i++) {
            p[i] = (par){ h, port, 10, 0, "/data/20000", NULL, 0, "https" };
            ASSERT(pthread_create(&t[i], NULL, par_run, &p[i]) == 0);
        }
        for (i = 0; i < 4; i++) {
            ASSERT(pthread_join(t[i], NULL) == 0);
            ASSERT_EQ_INT(p[i].failed, 0);
        }
        conns = shelf__http_connects(h);
        printf("  40 https requests from 4 threads: %llu connections\n", (unsigned long long)conns);
        ASSERT(conns >= 1 && conns <= 8);
        shelf__http_free(h);
    }
}

int main(int argc, char **argv)
{
    static const test_case tests[] = {
        TEST_ENTRY(basic_methods),
        TEST_ENTRY(range_get),
        TEST_ENTRY(upload_file_range),
        TEST_ENTRY(pct),
        TEST_ENTRY(new_refuses),
        TEST_ENTRY(retry_503_then_200),
        TEST_ENTRY(no_retry_404),
        TEST_ENTRY(redirect_refused),
        TEST_ENTRY(retry_after),
        TEST_ENTRY(retry_after_parse),
        TEST_ENTRY(connection_refused),
        TEST_ENTRY(truncated_body_retried),
        TEST_ENTRY(stall_detected),
        TEST_ENTRY(threads_share_connections),
        TEST_ENTRY(bandwidth_cap),
        TEST_ENTRY(short_body_file),
        TEST_ENTRY(upload_cut_retried),
        TEST_ENTRY(sign_failure),
        TEST_ENTRY(faultproxy_flip_and_control),
        TEST_ENTRY(alloc_failures),
        TEST_ENTRY(tls_verification),
        TEST_END
    };
    return test_run(argc, argv, tests);
}
