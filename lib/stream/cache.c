/*
 * cache.c: the RAM cache of decoded chunks.  A hash table of (sample,
 * chunk) -> chunk, an LRU list of the chunks that are ready, a byte budget,
 * pins and reference counts.  Every function runs under c->lock, held by
 * the scheduler or a control thread, never by the audio thread, which only
 * decrements a chunk's reference count when it is done with it; a chunk is
 * freed only with no reference and no pin.
 */
#include <stdlib.h>
#include <string.h>
#include "stream_int.h"

int shelf__cache_init(shelf__cache *c, uint64_t budget)
{
    memset(c, 0, sizeof *c);
    c->nbuckets = 1 << 14;
    if (!(c->table = shelf__calloc(c->nbuckets, sizeof(shelf__chunk *))))
        return SHELF_ENOMEM;
    c->budget = budget;
    pthread_mutex_init(&c->lock, NULL);
    pthread_mutex_init(&c->spare_lock, NULL);
    return SHELF_OK;
}

static size_t bucket(const shelf__cache *c, int sample, int64_t k)
{
    uint64_t h = (uint64_t)sample * 0x9e3779b97f4a7c15ull ^ (uint64_t)k * 0xc2b2ae3d27d4eb4full;

    return (size_t)(h ^ (h >> 29)) & (c->nbuckets - 1);
}

void shelf__cache_release(shelf__cache *c)
{
    size_t i;

    if (!c->table)
        return;
    for (i = 0; i < c->nbuckets; i++) {
        shelf__chunk *ch = c->table[i], *next;
        for (; ch; ch = next) {
            next = ch->hnext;
            free(ch->data);
            free(ch);
        }
    }
    free(c->table);
    c->table = NULL;
    while (c->nspare > 0)
        free(c->spare[--c->nspare]);
    pthread_mutex_destroy(&c->lock);
    pthread_mutex_destroy(&c->spare_lock);
}

/* Keep a removed chunk's buffer (bytes of data) for a later read, else
 * free it. */
static void spare_put(shelf__cache *c, float *data, size_t bytes)
{
    if (!data || bytes == 0) {
        free(data);
        return;
    }
    pthread_mutex_lock(&c->spare_lock);
    if (c->nspare < SHELF__SPARES) {
        c->spare[c->nspare] = data;
        c->spare_bytes[c->nspare++] = bytes;
        data = NULL;
    }
    pthread_mutex_unlock(&c->spare_lock);
    free(data);
}

float *shelf__cache_spare_take(shelf__cache *c, size_t bytes)
{
    float *got = NULL;
    int i;

    pthread_mutex_lock(&c->spare_lock);
    for (i = c->nspare - 1; i >= 0; i--) {
        if (c->spare_bytes[i] == bytes) {
            got = c->spare[i];
            c->spare[i] = c->spare[--c->nspare];
            c->spare_bytes[i] = c->spare_bytes[c->nspare];
            break;
        }
    }
    pthread_mutex_unlock(&c->spare_lock);
    if (got)
        atomic_fetch_add_explicit(&c->spare_reuses, 1, memory_order_relaxed);
    return got;
}

shelf__chunk *shelf__cache_find(shelf__cache *c, int sample, int64_t k)
{
    shelf__chunk *ch = c->table[bucket(c, sample, k)];

    while (ch && (ch->sample != sample || ch->k != k))
        ch = ch->hnext;
    return ch;
}

shelf__chunk *shelf__cache_insert(shelf__cache *c, int sample, int64_t k)
{
    size_t b = bucket(c, sample, k);
    shelf__chunk *ch = shelf__calloc(1, sizeof *ch);

    if (!ch)
        return NULL;
    ch->sample = sample;
    ch->k = k;
    ch->state = SHELF__CH_LOADING;
    atomic_init(&ch->refs, 0);
    ch->hnext = c->table[b];
    c->table[b] = ch;
    return ch;
}

static void lru_unlink(shelf__cache *c, shelf__chunk *ch)
{
    if (ch->lprev)
        ch->lprev->lnext = ch->lnext;
    else if (c->lru_head == ch)
        c->lru_head = ch->lnext;
    if (ch->lnext)
        ch->lnext->lprev = ch->lprev;
    else if (c->lru_tail == ch)
        c->lru_tail = ch->lprev;
    ch->lprev = ch->lnext = NULL;
}

static void lru_front(shelf__cache *c, shelf__chunk *ch)
{
    ch->lnext = c->lru_head;
    ch->lprev = NULL;
    if (c->lru_head)
        c->lru_head->lprev = ch;
    c->lru_head = ch;
    if (!c->lru_tail)
        c->lru_tail = ch;
}

void shelf__cache_ready(shelf__cache *c, shelf__chunk *ch, float *data, uint32_t frames,
                        size_t bytes)
{
    ch->data = data;
    ch->frames = frames;
    ch->bytes = bytes + sizeof *ch;
    ch->state = SHELF__CH_READY;
    atomic_fetch_add(&c->bytes, ch->bytes);
    if (ch->pinned)
        atomic_fetch_add(&c->pinned_bytes, ch->bytes);
    lru_front(c, ch);
}

void shelf__cache_touch(shelf__cache *c, shelf__chunk *ch)
{
    if (ch->state != SHELF__CH_READY || c->lru_head == ch)
        return;
    lru_unlink(c, ch);
    lru_front(c, ch);
}

void shelf__cache_remove(shelf__cache *c, shelf__chunk *ch)
{
    shelf__chunk **pp = &c->table[bucket(c, ch->sample, ch->k)];

    while (*pp && *pp != ch)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = ch->hnext;
    if (ch->state == SHELF__CH_READY) {
        lru_unlink(c, ch);
        atomic_fetch_sub(&c->bytes, ch->bytes);
        if (ch->pinned)
            atomic_fetch_sub(&c->pinned_bytes, ch->bytes);
        spare_put(c, ch->data, ch->bytes - sizeof *ch);
    } else {
        free(ch->data);
    }
    free(ch);
}

/* Evict from the LRU tail while over budget, looking at no more than look
 * chunks (0: all of them).  A bounded walk moves each chunk in use (a
 * ring, head or pin holds it, or a read) to the front, so the next walk
 * looks past it: when rings hold more than the budget, the scheduler's
 * trim after every pass would otherwise walk every chunk in use, every
 * pass. */
static int trim(shelf__cache *c, uint64_t budget, int look)
{
    shelf__chunk *ch = c->lru_tail;
    int evicted = 0, bounded = look > 0;

    while (ch && atomic_load(&c->bytes) > budget && (!bounded || look-- > 0)) {
        shelf__chunk *prev = ch->lprev;
        if (!ch->pinned && !ch->reads && atomic_load_explicit(&ch->refs, memory_order_acquire) == 0) {
            shelf__cache_remove(c, ch);
            atomic_fetch_add(&c->evictions, 1);
            evicted++;
        } else if (bounded && c->lru_head != ch) {
            lru_unlink(c, ch);
            lru_front(c, ch);
        }
        ch = prev;
    }
    return evicted || atomic_load(&c->bytes) <= budget;
}

void shelf__cache_trim(shelf__cache *c, uint64_t budget)
{
    (void)trim(c, budget, 0);
}

int shelf__cache_trim_step(shelf__cache *c, uint64_t budget)
{
    return trim(c, budget, 64);
}
