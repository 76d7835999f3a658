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
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/prctl.h>
#include "test.h"
#include "remote/http_int.h"

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
    int fds[2], port = -1;
    pid_t pid;
    char line[128];
    size_t n = 0;
    double t0 = shelf__monotonic();

    ASSERT(nservers < MAX_SERVERS);
    if (access(argv[0], X_OK) != 0)
        TEST_SKIP("%s not found", argv[0]);
    ASSERT(pipe(fds) == 0);
    pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(fds[1]);
    if (nservers == 0)
        atexit(kill_servers);
    servers[nservers++] = pid;
    while (n < sizeof line - 1 && shelf__monotonic() - t0 < 15) {
        struct pollfd p = { fds[0], POLLIN, 0 };
        ssize_t r;

        if (poll(&p, 1, 500) <= 0)
            continue;
        if ((r = read(fds[0], line + n, 1)) <= 0)
            break;
        if (line[n++] == '\n')
            break;
    }
    line[n] = '\0';
    close(fds[0]);
    if (sscanf(line, "ready %d", &port) != 1)
        test__fail(__FILE__, __LINE__, "%s did not start: '%s'", argv[0], line);
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

        ASSERT_OKM(err.msg, req(h, port, methods[i], "/echo", i % 2 ? "the body" : NULL, &out,
                                &rq, &err));
        ASSERT_EQ_INT(rq.status, 200);
        ASSERT_EQ_INT(rq.attempts, 1);
        snprintf(want, sizeof want, "%s\n", methods[i]);
        ASSERT(strncmp(out.buf, want, strlen(want)) == 0);
        if (i % 2)
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
    shelf__http_free(h);
}

int main(int argc, char **argv)
{
    static const test_case tests[] = {
        TEST_ENTRY(basic_methods),
        TEST_ENTRY(range_get),
        TEST_ENTRY(upload_file_range),
        TEST_ENTRY(pct),
        TEST_ENTRY(new_refuses),
        TEST_END
    };
    return test_run(argc, argv, tests);
}
