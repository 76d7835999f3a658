/*
 * exchange.c: change-log records between two libraries (exchange.h).
 */
#include <stdlib.h>
#include <string.h>
#include "test.h"
#include "exchange.h"

typedef struct vector {
    struct { char *device; int64_t counter; } *e;
    size_t n, cap;
} vector;

typedef struct take_ctx {
    test_batch *b;
    const vector *have;
} take_ctx;

static int vec_add(void *ud, const char *device, int64_t counter)
{
    vector *v = ud;

    if (v->n == v->cap) {
        v->cap = v->cap ? 2 * v->cap : 8;
        ASSERT((v->e = realloc(v->e, v->cap * sizeof *v->e)) != NULL);
    }
    ASSERT((v->e[v->n].device = strdup(device)) != NULL);
    v->e[v->n++].counter = counter;
    return 0;
}

static int take(void *ud, const shelf_change *c)
{
    take_ctx *t = ud;
    test_batch *b = t->b;
    shelf__change *x;
    size_t i;

    for (i = 0; i < t->have->n; i++)
        if (!strcmp(t->have->e[i].device, c->device) && c->counter <= t->have->e[i].counter)
            return 0;
    if (b->n == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 64;
        ASSERT((b->c = realloc(b->c, b->cap * sizeof *b->c)) != NULL);
    }
    x = &b->c[b->n++];
    x->device = strdup(c->device);
    x->counter = c->counter;
    x->hlc = c->hlc;
    x->item = strdup(c->item);
    x->field = strdup(c->field);
    x->value = strdup(c->value);
    ASSERT(x->device && x->item && x->field && x->value);
    b->bytes += strlen(c->item) + strlen(c->field) + strlen(c->value);
    return 0;
}

void test_device_id(shelf_library *lib, char id[SHELF_DEVICE_ID_LEN + 1])
{
    shelf_device_info d = { .size = sizeof d };

    ASSERT_OKL(lib, shelf_device_self(lib, &d));
    memcpy(id, d.id, sizeof d.id);
}

void test_batch_for(shelf_library *to, shelf_library *from, test_batch *b)
{
    vector v;
    take_ctx t = { b, &v };
    size_t i;

    memset(b, 0, sizeof *b);
    memset(&v, 0, sizeof v);
    ASSERT_OKL(to, shelf_sync_vector(to, vec_add, &v));
    ASSERT_OKL(from, shelf_sync_log(from, NULL, 0, take, &t));
    for (i = 0; i < v.n; i++)
        free(v.e[i].device);
    free(v.e);
}

void test_batch_free(test_batch *b)
{
    size_t i;

    for (i = 0; i < b->n; i++) {
        free((char *)b->c[i].device);
        free((char *)b->c[i].item);
        free((char *)b->c[i].field);
        free((char *)b->c[i].value);
    }
    free(b->c);
    memset(b, 0, sizeof *b);
}

size_t test_exchange(shelf_library *to, shelf_library *from, shelf__merge_stats *st)
{
    char self[SHELF_DEVICE_ID_LEN + 1];
    shelf__merge_stats local;
    test_batch b;
    size_t n;

    test_device_id(to, self);
    test_batch_for(to, from, &b);
    ASSERT_OKL(to, shelf__merge_apply(to, self, b.c, b.n, st ? st : &local, NULL, NULL));
    n = b.n;
    test_batch_free(&b);
    return n;
}
