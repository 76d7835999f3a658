/*
 * request.c: the parsers of what a request brings: sample ids and numbers
 * in paths and query strings, Range and If-None-Match headers, paths
 * (what the router may look at), and the unescaping of the URL.  Pure
 * functions over strings, fuzzed by fuzz/fuzz_serve.c.
 */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "serve_int.h"

int64_t serve_parse_id(const char *s)
{
    int64_t v = 0;
    size_t n = strlen(s), i;

    if (n == 0 || n > 19 || s[0] == '0' || strspn(s, "0123456789") != n)
        return 0;
    for (i = 0; i < n; i++) {
        int d = s[i] - '0';

        if (v > (INT64_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    return v;
}

/* A run of digits as a uint64; 0 on success, *p moved past it. */
static int digits(const char **p, uint64_t *out)
{
    char *end;

    if (!isdigit((unsigned char)**p))
        return -1;
    errno = 0;
    *out = strtoull(*p, &end, 10);
    *p = end;
    return errno ? -1 : 0;
}

int serve_parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
    const char *p = s;
    int neg = s && *s == '-';
    uint64_t u;
    int64_t v;

    if (!s)
        return -1;
    p += neg;
    if (digits(&p, &u) || *p || u > (uint64_t)INT64_MAX + neg)
        return -1;
    v = neg ? (u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)u) : (int64_t)u;
    if (v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int serve_parse_range(const char *h, uint64_t size, uint64_t *from, uint64_t *len)
{
    const char *p = h;
    uint64_t a, b;

    *from = 0;
    *len = size;
    if (!h || strncmp(p, "bytes=", 6) != 0)
        return 0;
    p += 6;
    while (*p == ' ')
        p++;
    if (*p == '-') {                        /* the last b bytes */
        p++;
        if (digits(&p, &b) || *p)
            return 0;
        if (b == 0 || size == 0)
            return -1;
        *from = b < size ? size - b : 0;
        *len = size - *from;
        return 1;
    }
    if (digits(&p, &a) || *p != '-')
        return 0;
    p++;
    if (*p == '\0') {
        b = UINT64_MAX;
    } else if (digits(&p, &b) || *p || b < a) {
        return 0;                           /* several ranges, or not one: ignored */
    }
    if (a >= size)
        return -1;
    *from = a;
    *len = (b >= size - 1 ? size - 1 : b) - a + 1;
    return 1;
}

int serve_etag_match(const char *h, const char *etag)
{
    size_t n = strlen(etag);
    const char *p = h;

    if (!h)
        return 0;
    while (*p) {
        size_t k;

        while (*p == ' ' || *p == ',' || *p == '\t')
            p++;
        if (!strncmp(p, "W/", 2))
            p += 2;
        k = strcspn(p, ",");
        while (k > 0 && (p[k - 1] == ' ' || p[k - 1] == '\t'))
            k--;
        if ((k == 1 && *p == '*') || (k == n && !strncmp(p, etag, n)))
            return 1;
        p += strcspn(p, ",");
    }
    return 0;
}

int serve_path_ok(const char *path)
{
    const char *p = path;

    if (*p != '/')
        return 0;
    for (; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '\\' || *p == '%')
            return 0;
    for (p = path; *p; ) {
        size_t n;

        p++;                                /* past '/' */
        n = strcspn(p, "/");
        if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return 0;
        p += n;
    }
    return 1;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

size_t serve_unescape(void *cls, struct MHD_Connection *c, char *s)
{
    char *w = s;
    const char *p = s;

    (void)cls;
    (void)c;
    while (*p) {
        int hi, lo;

        if (p[0] == '%' && (hi = hexval((unsigned char)p[1])) >= 0 && (lo = hexval((unsigned char)p[2])) >= 0 &&
            (hi | lo) != 0) {
            *w++ = (char)(hi * 16 + lo);
            p += 3;
        } else if (*p == '+') {
            *w++ = ' ';
            p++;
        } else {
            *w++ = *p++;
        }
    }
    *w = '\0';
    return (size_t)(w - s);
}
