/*
 * ring.c: the lock-free single-producer/single-consumer ring that carries
 * chunk pointers from the scheduler to the audio thread (C11 atomics,
 * acquire/release; no locks, no allocation after init).
 */
#include <stdlib.h>
#include <string.h>
#include "stream_int.h"

int shelf__ring_init(shelf__ring *r, uint32_t capacity, uint32_t item)
{
    uint32_t cap = 1;

    while (cap < capacity)
        cap <<= 1;
    memset(r, 0, sizeof *r);
    if (!(r->buf = shelf__calloc(cap, item)))
        return SHELF_ENOMEM;
    r->mask = cap - 1;
    r->item = item;
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    return SHELF_OK;
}

void shelf__ring_release(shelf__ring *r)
{
    free(r->buf);
    r->buf = NULL;
}

int shelf__ring_push(shelf__ring *r, const void *item)
{
    uint32_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
    uint32_t t = atomic_load_explicit(&r->tail, memory_order_acquire);

    if (h - t > r->mask)
        return -1;
    memcpy(r->buf + (size_t)(h & r->mask) * r->item, item, r->item);
    atomic_store_explicit(&r->head, h + 1, memory_order_release);
    return 0;
}

uint32_t shelf__ring_space(shelf__ring *r)
{
    uint32_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
    uint32_t t = atomic_load_explicit(&r->tail, memory_order_acquire);

    return r->mask + 1 - (h - t);
}

uint32_t shelf__ring_count(shelf__ring *r)
{
    uint32_t h = atomic_load_explicit(&r->head, memory_order_acquire);
    uint32_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);

    return h - t;
}

void *shelf__ring_peek(shelf__ring *r, uint32_t i)
{
    uint32_t h = atomic_load_explicit(&r->head, memory_order_acquire);
    uint32_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);

    if (i >= h - t)
        return NULL;
    return r->buf + (size_t)((t + i) & r->mask) * r->item;
}

void shelf__ring_pop(shelf__ring *r)
{
    uint32_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);

    atomic_store_explicit(&r->tail, t + 1, memory_order_release);
}
