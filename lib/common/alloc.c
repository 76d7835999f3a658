/*
 * alloc.c: the one allocation hook of libshelf and the growable buffer.
 * Tests make the Nth allocation fail through shelf__alloc_fail_after().
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common_int.h"

static atomic_long fail_countdown;

void shelf__alloc_fail_after(long n)
{
    atomic_store(&fail_countdown, n);
}

static int should_fail(void)
{
    long n = atomic_load(&fail_countdown);

    if (n <= 0)
        return 0;
    return atomic_fetch_sub(&fail_countdown, 1) == 1;
}

void *shelf__malloc(size_t n)
{
    return should_fail() ? NULL : malloc(n ? n : 1);
}

void *shelf__calloc(size_t n, size_t size)
{
    return should_fail() ? NULL : calloc(n ? n : 1, size ? size : 1);
}

void *shelf__realloc(void *p, size_t n)
{
    return should_fail() ? NULL : realloc(p, n ? n : 1);
}

void shelf_free(void *p)
{
    free(p);
}

char *shelf__strndup(const char *s, size_t n)
{
    char *r = shelf__malloc(n + 1);

    if (r) {
        memcpy(r, s, n);
        r[n] = '\0';
    }
    return r;
}

char *shelf__strdup(const char *s)
{
    return s ? shelf__strndup(s, strlen(s)) : NULL;
}

char *shelf__asprintf(const char *fmt, ...)
{
    shelf__buf b = SHELF__BUF_INIT;
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || shelf__buf_grow(&b, (size_t)n) != SHELF_OK)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(b.buf, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return b.buf;
}

int shelf__buf_grow(shelf__buf *b, size_t extra)
{
    size_t need = b->len + extra + 1, cap;
    char *p;

    if (need <= b->cap)
        return SHELF_OK;
    cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    if (!(p = shelf__realloc(b->buf, cap)))
        return SHELF_ENOMEM;
    b->buf = p;
    b->cap = cap;
    return SHELF_OK;
}

int shelf__buf_add(shelf__buf *b, const void *data, size_t n)
{
    if (shelf__buf_grow(b, n) != SHELF_OK)
        return SHELF_ENOMEM;
    memcpy(b->buf + b->len, data, n);
    b->len += n;
    b->buf[b->len] = '\0';
    return SHELF_OK;
}

int shelf__buf_adds(shelf__buf *b, const char *s)
{
    return shelf__buf_add(b, s, strlen(s));
}

int shelf__buf_addf(shelf__buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || shelf__buf_grow(b, (size_t)n) != SHELF_OK)
        return SHELF_ENOMEM;
    va_start(ap, fmt);
    vsnprintf(b->buf + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return SHELF_OK;
}

void shelf__buf_reset(shelf__buf *b)
{
    b->len = 0;
    if (b->buf)
        b->buf[0] = '\0';
}

void shelf__buf_release(shelf__buf *b)
{
    free(b->buf);
    b->buf = NULL;
    b->len = b->cap = 0;
}

char *shelf__buf_detach(shelf__buf *b)
{
    char *r = b->buf;

    if (!r)
        r = shelf__strdup("");
    b->buf = NULL;
    b->len = b->cap = 0;
    return r;
}
