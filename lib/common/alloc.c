/*
 * alloc.c: the one allocation hook of libshelf and the growable buffer.
 * Tests make the Nth allocation fail through shelf__alloc_fail_after().
 * shelf__global_init points jansson, SQLite and libxml2 at the same hook,
 * so the failure loops reach their allocations too.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <libxml/xmlmemory.h>
#include <sqlite3.h>
#include "common_int.h"

static atomic_long fail_countdown;
static _Thread_local unsigned long failures;

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

/* p, counting it in this thread's failures when it is NULL. */
static void *counted(void *p)
{
    if (!p)
        failures++;
    return p;
}

unsigned long shelf__alloc_failures(void)
{
    return failures;
}

void *shelf__malloc(size_t n)
{
    return counted(should_fail() ? NULL : malloc(n ? n : 1));
}

void *shelf__calloc(size_t n, size_t size)
{
    return counted(should_fail() ? NULL : calloc(n ? n : 1, size ? size : 1));
}

void *shelf__realloc(void *p, size_t n)
{
    return counted(should_fail() ? NULL : realloc(p, n ? n : 1));
}

void shelf_free(void *p)
{
    free(p);
}

/*
 * SQLite's allocator must answer the size of a block (xSize): it is kept in
 * a header in front of the block, 16 bytes so the block stays aligned for
 * any type.  These blocks are only ever freed by SQLite (sqlite3_free).
 */
#define SQL_HDR 16

static void *sql_malloc(int n)
{
    unsigned char *p;

    if (n < 0 || !(p = counted(should_fail() ? NULL : malloc((size_t)n + SQL_HDR))))
        return NULL;
    memcpy(p, &(size_t){(size_t)n}, sizeof(size_t));
    return p + SQL_HDR;
}

static void sql_free(void *p)
{
    if (p)
        free((unsigned char *)p - SQL_HDR);
}

static int sql_size(void *p)
{
    size_t n;

    if (!p)
        return 0;
    memcpy(&n, (unsigned char *)p - SQL_HDR, sizeof n);
    return (int)n;
}

static void *sql_realloc(void *p, int n)
{
    unsigned char *q;

    if (!p)
        return sql_malloc(n);
    if (n < 0 ||
        !(q = counted(should_fail() ? NULL : realloc((unsigned char *)p - SQL_HDR, (size_t)n + SQL_HDR))))
        return NULL;
    memcpy(q, &(size_t){(size_t)n}, sizeof(size_t));
    return q + SQL_HDR;
}

static int sql_roundup(int n)
{
    return n > INT_MAX - 7 ? n : (n + 7) & ~7;
}

static int sql_init(void *unused)
{
    (void)unused;
    return SQLITE_OK;
}

static void sql_shutdown(void *unused)
{
    (void)unused;
}

static pthread_once_t global_once = PTHREAD_ONCE_INIT;

static void global_setup(void)
{
    static const sqlite3_mem_methods sql_mem = {
        sql_malloc, sql_free, sql_realloc, sql_size, sql_roundup, sql_init, sql_shutdown, NULL,
    };
    json_malloc_t jm;
    json_free_t jf;
    xmlFreeFunc xf;
    xmlMallocFunc xm;
    xmlReallocFunc xr;
    xmlStrdupFunc xs;

    /* jansson and libxml2 hooks are process-wide.  Ours are malloc/free
     * underneath, so a value the program allocated before this point is
     * still freed right; a program that installed its own keeps them. */
    json_get_alloc_funcs(&jm, &jf);
    if (jm == malloc && jf == free)
        json_set_alloc_funcs(shelf__malloc, shelf_free);
    if (xmlMemGet(&xf, &xm, &xr, &xs) == 0 && xf == free && xm == malloc && xr == realloc)
        (void)xmlMemSetup(shelf_free, shelf__malloc, shelf__realloc, shelf__strdup);
    /* Refused (SQLITE_MISUSE) once the process has initialised SQLite:
     * SQLite then keeps its own allocator, silently. */
    (void)sqlite3_config(SQLITE_CONFIG_MALLOC, &sql_mem);
}

json_t *shelf__json_loadb(const char *text, size_t n, size_t flags, json_error_t *e, int *nomem)
{
    unsigned long before = failures;
    json_t *v = json_loadb(text, n, flags, e);

    *nomem = failures != before;
    if (*nomem) {
        json_decref(v);
        v = NULL;
    }
    return v;
}

int shelf__json_parse(shelf__err *e, int bad, const char *what, const char *text, size_t n,
                      size_t flags, json_t **out)
{
    json_error_t jerr;
    int nomem;

    *out = shelf__json_loadb(text ? text : "", text ? n : 0, flags, &jerr, &nomem);
    if (nomem)
        return shelf__seterr(e, SHELF_ENOMEM, "out of memory");
    if (!*out)
        return shelf__seterr(e, bad, "invalid JSON in %s: line %d: %s", what, jerr.line, jerr.text);
    return SHELF_OK;
}

char *shelf__json_dumps(const json_t *v, size_t flags)
{
    unsigned long before = failures;
    char *text = json_dumps(v, flags);

    if (failures != before) {
        free(text);
        text = NULL;
    }
    return text;
}

int shelf__json_parse_file(shelf__err *e, int bad, const char *path, size_t flags, json_t **out)
{
    unsigned long before = failures;
    json_error_t jerr;

    errno = 0;
    *out = json_load_file(path, flags, &jerr);
    if (failures != before) {
        json_decref(*out);
        *out = NULL;
        return shelf__seterr(e, SHELF_ENOMEM, "out of memory");
    }
    if (!*out && json_error_code(&jerr) == json_error_cannot_open_file)
        return shelf__seterr_errno(e, errno ? errno : EIO, "cannot read '%s'", path);
    if (!*out)
        return shelf__seterr(e, bad, "invalid JSON in '%s': line %d: %s", path, jerr.line,
                             jerr.text);
    return SHELF_OK;
}

void shelf__global_init(void)
{
    (void)pthread_once(&global_once, global_setup);
}

/* At load time too, so a program (or test) that uses SQLite before its
 * first shelf call still gets the hook; the entry points call it again. */
__attribute__((constructor)) static void global_init_at_load(void)
{
    shelf__global_init();
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
