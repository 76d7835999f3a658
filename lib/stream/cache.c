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
#include <sys/mman.h>
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

static size_t hash_bucket(int sample, int64_t k, size_t nbuckets)
{
    uint64_t h = (uint64_t)sample * 0x9e3779b97f4a7c15ull ^ (uint64_t)k * 0xc2b2ae3d27d4eb4full;

    return (size_t)(h ^ (h >> 29)) & (nbuckets - 1);
}

static size_t bucket(const shelf__cache *c, int sample, int64_t k)
{
    return hash_bucket(sample, k, c->nbuckets);
}

/* 1 when p is a slot of the reserve (set once, before reads use it). */
static int in_reserve(const shelf__cache *c, const void *p)
{
    uintptr_t a = (uintptr_t)p, r = (uintptr_t)c->res;

    return c->res && a >= r && a - r < c->res_size;
}

/* The class of a buffer of bytes: slots of SHELF__SLOT each (at least 1). */
static size_t slot_class(size_t bytes)
{
    size_t cl = (bytes + SHELF__SLOT - 1) / SHELF__SLOT;

    return cl ? cl : 1;
}

size_t shelf__cache_slot_bytes(size_t bytes)
{
    return slot_class(bytes) * SHELF__SLOT;
}

int shelf__cache_reserve(shelf__cache *c, uint64_t bytes)
{
    size_t n, i;
    void *p;

    if (bytes == 0 || bytes > SIZE_MAX - SHELF__SLOT)
        return SHELF_EINVAL;
    n = shelf__cache_slot_bytes((size_t)bytes);
    /* MAP_POPULATE: the kernel zeroes every page now, not on the
     * decode's first write to it in the middle of a play. */
    p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (p == MAP_FAILED)
        return SHELF_ENOMEM;
    /* And a write to every page from here: a hypervisor that shadows the
     * page tables maps a page on its first access from user space, 4 us
     * a page on the VM these figures come from (doc/benchmarks.md), even
     * after MAP_POPULATE. */
    for (i = 0; i < n; i += 4096)
        ((volatile char *)p)[i] = 0;
    pthread_mutex_lock(&c->spare_lock);
    if (c->res) {
        pthread_mutex_unlock(&c->spare_lock);
        munmap(p, n);
        return SHELF_EINVAL;
    }
    c->res = p;
    c->res_size = n;
    pthread_mutex_unlock(&c->spare_lock);
    return SHELF_OK;
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
            if (!in_reserve(c, ch->data))
                free(ch->data);
            free(ch);
        }
    }
    free(c->table);
    c->table = NULL;
    while (c->nspare > 0)
        free(c->spare[--c->nspare]);
    if (c->res)
        munmap(c->res, c->res_size);
    c->res = NULL;
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

float *shelf__cache_buf_take(shelf__cache *c, size_t bytes)
{
    size_t cl = slot_class(bytes);
    float *got = NULL;
    int i, reused = 0;

    pthread_mutex_lock(&c->spare_lock);
    if (c->res && cl < SHELF__NCLASS) {
        if (c->res_free[cl]) {
            got = c->res_free[cl];
            memcpy(&c->res_free[cl], got, sizeof(void *));
            reused = 1;
        } else if (c->res_size - c->res_used >= cl * SHELF__SLOT) {
            got = (float *)(void *)(c->res + c->res_used);
            c->res_used += cl * SHELF__SLOT;
        }
    }
    for (i = c->nspare - 1; !got && i >= 0; i--) {
        if (c->spare_bytes[i] == bytes) {
            got = c->spare[i];
            c->spare[i] = c->spare[--c->nspare];
            c->spare_bytes[i] = c->spare_bytes[c->nspare];
            reused = 1;
        }
    }
    pthread_mutex_unlock(&c->spare_lock);
    if (reused)
        atomic_fetch_add_explicit(&c->spare_reuses, 1, memory_order_relaxed);
    if (!got && (got = shelf__malloc(bytes)))
        atomic_fetch_add_explicit(&c->fresh, 1, memory_order_relaxed);
    return got;
}

void shelf__cache_buf_put(shelf__cache *c, float *p, size_t bytes)
{
    size_t cl = slot_class(bytes);

    if (!p)
        return;
    pthread_mutex_lock(&c->spare_lock);
    if (in_reserve(c, p)) {
        memcpy(p, &c->res_free[cl], sizeof(void *));
        c->res_free[cl] = p;
        p = NULL;
    }
    pthread_mutex_unlock(&c->spare_lock);
    if (p)
        spare_put(c, p, bytes);
}

shelf__chunk *shelf__cache_find(shelf__cache *c, int sample, int64_t k)
{
    shelf__chunk *ch = c->table[bucket(c, sample, k)];

    while (ch && (ch->sample != sample || ch->k != k))
        ch = ch->hnext;
    return ch;
}

/* Twice the buckets, when chunks outnumber them: a chain is then one
 * chunk long on average (the heads of 8,000 samples and the rings of
 * 6,000 voices made chains of three, and the scheduler's look-up for
 * every voice a sixth of its time).  Stays as it is when out of memory. */
static void grow(shelf__cache *c)
{
    size_t n = c->nbuckets * 2, i;
    shelf__chunk **t = shelf__calloc(n, sizeof(shelf__chunk *)), *ch, *next;

    if (!t)
        return;
    for (i = 0; i < c->nbuckets; i++) {
        for (ch = c->table[i]; ch; ch = next) {
            size_t b = hash_bucket(ch->sample, ch->k, n);
            next = ch->hnext;
            ch->hnext = t[b];
            t[b] = ch;
        }
    }
    free(c->table);
    c->table = t;
    c->nbuckets = n;
}

shelf__chunk *shelf__cache_insert(shelf__cache *c, int sample, int64_t k)
{
    size_t b;
    shelf__chunk *ch = shelf__calloc(1, sizeof *ch);

    if (!ch)
        return NULL;
    if (++c->nchunks > c->nbuckets)
        grow(c);
    b = bucket(c, sample, k);
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
    if (*pp) {
        *pp = ch->hnext;
        c->nchunks--;
    }
    if (ch->state == SHELF__CH_READY) {
        lru_unlink(c, ch);
        atomic_fetch_sub(&c->bytes, ch->bytes);
        if (ch->pinned)
            atomic_fetch_sub(&c->pinned_bytes, ch->bytes);
        shelf__cache_buf_put(c, ch->data, ch->bytes - sizeof *ch);
    } else {
        /* Not ready: no data (a read's buffer stays the read's). */
        shelf__cache_buf_put(c, ch->data, 0);
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

/*
 * The list holds the chunks in rings too, and a chunk a voice has played
 * keeps its buffer until a step reaches it.  64 a step (every 10 ms while
 * none is found) took seconds to go round 28,000 chunks at 6,000 voices:
 * the played ones held 1-2 GB and the reserve ran out, and reads past it
 * took new memory (doc/benchmarks.md, "Read buffers kept").  A sixteenth
 * a step goes round in 16 steps.
 */
int shelf__cache_trim_step(shelf__cache *c, uint64_t budget)
{
    return trim(c, budget, (int)(c->nchunks / 16 + 64));
}
