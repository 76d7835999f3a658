/*
 * fuzz_serve.c: fuzz target for the parsers of what a request to `shelf
 * serve` brings (server/request.c): the URL unescaping MHD runs on paths
 * and query strings, the path check of the router, sample ids, whole
 * numbers, Range and If-None-Match headers.  The input (capped at 4 KiB,
 * cut at its first NUL) goes through every one; invariants the server
 * relies on are checked with abort().
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz_target.h"
#include "serve_int.h"

#define INPUT_MAX 4096

#define CHECK(cond) FUZZ_CHECK("fuzz_serve", cond)

/* A path the router may look at has no "." or ".." segment. */
static void check_path(const char *p)
{
    const char *s;

    if (!serve_path_ok(p))
        return;
    CHECK(p[0] == '/');
    CHECK(!strchr(p, '\\') && !strchr(p, '%'));
    for (s = p; *s; ) {
        size_t n;

        s++;
        n = strcspn(s, "/");
        CHECK(!(n == 1 && s[0] == '.') && !(n == 2 && s[0] == '.' && s[1] == '.'));
        s += n;
    }
}

static void check_range(const char *h, uint64_t size)
{
    uint64_t from = 7, len = 7;
    int r = serve_parse_range(h, size, &from, &len);

    CHECK(r >= -1 && r <= 1);
    if (r == 0)
        CHECK(from == 0 && len == size);
    if (r == 1)
        CHECK(len >= 1 && from < size && len <= size - from);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint64_t sizes[] = { 0, 1, 2, 100, 8864, UINT64_MAX / 2, UINT64_MAX };
    char s[INPUT_MAX + 1], u[INPUT_MAX + 1], back[32];
    size_t n = size < INPUT_MAX ? size : INPUT_MAX, k, len;
    int64_t id, v;

    memcpy(s, data, n);
    s[n] = '\0';

    /* Unescaping never lengthens, never makes a NUL, and is what it says. */
    memcpy(u, s, n + 1);
    len = serve_unescape(NULL, NULL, u);
    CHECK(len <= strlen(s) && len == strlen(u));
    check_path(s);
    check_path(u);

    /* An id is digits that print back the same, 1..INT64_MAX. */
    if ((id = serve_parse_id(s)) != 0) {
        CHECK(id > 0);
        snprintf(back, sizeof back, "%" PRId64, id);
        CHECK(!strcmp(back, s));
    }
    if (serve_parse_int(s, -5, 1000, &v) == 0)
        CHECK(v >= -5 && v <= 1000);

    for (k = 0; k < sizeof sizes / sizeof sizes[0]; k++)
        check_range(s, sizes[k]);
    (void)serve_etag_match(s, "\"863b7b943153f1ea35c5a92e6b95ea55064682c87fc7967a15dde9b195e07277\"");
    CHECK(serve_etag_match("*", "\"x\"") == 1);
    return 0;
}
