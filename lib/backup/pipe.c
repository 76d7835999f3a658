/*
 * pipe.c: the backup's worker threads.  The calling thread reads files and
 * cuts chunks; pool workers (lib/common/pool.c: one per extra CPU, at most
 * 4, and one more for saving packs) hash, compress and seal them; the
 * calling thread takes the results in the order they were queued and hands
 * each to its owner's sink (want: is it new? store: add it to the open
 * pack), so packs are the same as without threads.  A finished pack is
 * handed over whole and saved through the sink on a pool thread while the
 * next one fills; with sink.connections > 1, up to that many packs are
 * saved at once, each slot on its own connection (the sink's backend
 * handle conn), slot 0 under the sink lock since the calling thread shares
 * its handle.  shelf__pipe_finish waits for every save, so the caller
 * writes the index that names the packs only after all of them arrived.
 * The pipe knows nothing of the repository: only the sink's functions
 * touch the index cache, the backend and the caller's data.
 *
 * Ordering: each chunk is one pool job with its ticket, kept in a ring of
 * NJOBS slots; the calling thread waits for the oldest ticket, so results
 * come back in queue order whatever order the workers finish them in.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <zstd.h>
#include "backup_int.h"

#define NJOBS 8
#define MAX_WORKERS 4
/* Chunks shorter than this are stored as they are. */
#define COMPRESS_MIN 64

typedef struct job {
    struct shelf__pipe *p;
    uint8_t id[SHELF_HASH_BYTES];
    void *tag;
    int type, compress, flags, rc;
    uint64_t ticket;
    uint8_t *data;
    size_t n, cap;
    shelf__buf out;
    shelf__err err;
} job;

/* A pack being saved on one connection. */
typedef struct save_slot {
    struct shelf__pipe *p;
    int conn, busy, rc;
    uint64_t ticket;
    char name[SHELF__NAME_MAX];
    shelf__buf buf;
    shelf__err err;
} save_slot;

/* What each pool worker keeps (the pool passes its index). */
typedef struct worker_ctx {
    ZSTD_CCtx *zc;
    EVP_CIPHER_CTX *cipher;
    shelf__buf tmp;
} worker_ctx;

struct shelf__pipe {
    shelf__pipe_sink sink;
    shelf__pool *pool;
    worker_ctx *ctx;
    int nctx;
    /* the packs being saved while the next one fills, one per connection */
    save_slot *slots;
    int nslots;
    uint64_t next_slot;         /* round robin: the oldest save is the next slot's */
    int save_rc;                /* the first failed save (it stays) */
    shelf__err save_err;
    pthread_mutex_t sink_mu;    /* the sink's save runs under it (shelf__pipe_lock_sink) */
    job jobs[NJOBS];
    uint64_t head, tail;        /* ring positions, counting up */
};

/* Compress (when asked and it pays) and seal one chunk (a pool job). */
static void work(void *arg, size_t item, int worker)
{
    job *j = arg;
    struct shelf__pipe *p = j->p;
    worker_ctx *w = &p->ctx[worker];
    const void *src = j->data;
    size_t srclen = j->n;

    (void)item;
    j->flags = j->type;
    shelf__buf_reset(&j->out);
    shelf__sha256_mem(j->data, j->n, j->id);
    if (j->compress && j->n >= COMPRESS_MIN) {
        size_t bound = ZSTD_compressBound(j->n), z;

        shelf__buf_reset(&w->tmp);
        if (shelf__buf_grow(&w->tmp, bound) == SHELF_OK) {
            z = ZSTD_compressCCtx(w->zc, w->tmp.buf, bound, j->data, j->n, p->sink.zstd_level);
            if (!ZSTD_isError(z) && z < j->n - j->n / 32) {
                src = w->tmp.buf;
                srclen = z;
                j->flags |= SHELF__BLOB_ZSTD;
            }
        }
    }
    j->rc = p->sink.seal(p->sink.owner, w->cipher, src, srclen, &j->out, &j->err);
}

/* Save a handed-over pack through the sink on its slot's connection (a
 * pool job). */
static void save(void *arg, size_t item, int worker)
{
    save_slot *sl = arg;
    struct shelf__pipe *p = sl->p;

    (void)item;
    (void)worker;
    if (sl->conn == 0)
        pthread_mutex_lock(&p->sink_mu);
    sl->rc = p->sink.save(p->sink.owner, sl->conn, sl->name, sl->buf.buf, sl->buf.len, &sl->err);
    if (sl->conn == 0)
        pthread_mutex_unlock(&p->sink_mu);
}

/* Wait for slot sl's save, keeping the first failure. */
static void slot_wait(struct shelf__pipe *p, save_slot *sl)
{
    if (!sl->busy)
        return;
    shelf__pool_wait(p->pool, sl->ticket);
    sl->busy = 0;
    if (sl->rc != SHELF_OK && p->save_rc == SHELF_OK) {
        p->save_rc = sl->rc;
        p->save_err = sl->err;
    }
}

/* The first failed save, if any (it stays: every later call fails with it). */
static int save_failed(struct shelf__pipe *p)
{
    if (p->save_rc != SHELF_OK)
        return shelf__seterr(p->sink.err, p->save_rc, "%s", p->save_err.msg);
    return SHELF_OK;
}

/* Wait until no pack is being saved. */
static int save_wait(struct shelf__pipe *p)
{
    int i;

    for (i = 0; i < p->nslots; i++)
        slot_wait(p, &p->slots[i]);
    return save_failed(p);
}

int shelf__pipe_hand_pack(struct shelf__pipe *p, const char *name, shelf__buf *pack)
{
    save_slot *sl = &p->slots[p->next_slot % (uint64_t)p->nslots];
    shelf__buf t;
    int rc;

    slot_wait(p, sl);
    if ((rc = save_failed(p)) != SHELF_OK)
        return rc;
    p->next_slot++;
    /* Take the pack; the slot's old buffer becomes the next pack's. */
    t = sl->buf;
    sl->buf = *pack;
    *pack = t;
    shelf__buf_reset(pack);
    snprintf(sl->name, sizeof sl->name, "%s", name);
    sl->rc = SHELF_OK;
    sl->busy = 1;
    sl->ticket = shelf__pool_submit(p->pool, save, sl, 1);
    return SHELF_OK;
}

void shelf__pipe_lock_sink(struct shelf__pipe *p, int lock)
{
    if (!p)
        return;
    if (lock)
        pthread_mutex_lock(&p->sink_mu);
    else
        pthread_mutex_unlock(&p->sink_mu);
}

int shelf__pipe_new(const shelf__pipe_sink *sink, struct shelf__pipe **out)
{
    struct shelf__pipe *p;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int i, n = ncpu > 1 ? (int)(ncpu - 1) : 1;

    *out = NULL;
    if (n > MAX_WORKERS)
        n = MAX_WORKERS;
    if (!(p = shelf__calloc(1, sizeof *p)))
        return shelf__seterr(sink->err, SHELF_ENOMEM, "out of memory");
    p->sink = *sink;
    pthread_mutex_init(&p->sink_mu, NULL);
    for (i = 0; i < NJOBS; i++)
        p->jobs[i].p = p;
    p->nslots = sink->connections > 0 ? sink->connections : 1;
    if (!(p->slots = shelf__calloc((size_t)p->nslots, sizeof *p->slots)))
        goto nomem;
    for (i = 0; i < p->nslots; i++) {
        p->slots[i].p = p;
        p->slots[i].conn = i;
    }
    /* n chunk workers and one per connection that saves packs; room for
     * every chunk in flight and the saves, so submit never waits on the
     * pool. */
    if (!(p->pool = shelf__pool_new(n + p->nslots, NJOBS + p->nslots)))
        goto nomem;
    p->nctx = shelf__pool_threads(p->pool);
    if (!(p->ctx = shelf__calloc((size_t)p->nctx, sizeof *p->ctx)))
        goto nomem;
    for (i = 0; i < p->nctx; i++)
        if (!(p->ctx[i].zc = ZSTD_createCCtx()) || !(p->ctx[i].cipher = EVP_CIPHER_CTX_new()))
            goto nomem;
    *out = p;
    return SHELF_OK;
nomem:
    shelf__pipe_free(p);
    return shelf__seterr(sink->err, SHELF_ENOMEM, "cannot start worker threads: out of memory");
}

/* Take the oldest queued chunk, waiting for it: new ones go to the sink. */
static int complete_oldest(struct shelf__pipe *p)
{
    job *j = &p->jobs[p->head % NJOBS];
    int rc, keep = 0;

    shelf__pool_wait(p->pool, j->ticket);
    p->head++;
    if (j->rc != SHELF_OK)
        return shelf__seterr(p->sink.err, j->rc, "%s", j->err.msg);
    if ((rc = p->sink.want(p->sink.ud, j->tag, j->id, j->n, &keep)) != SHELF_OK || !keep)
        return rc;
    return p->sink.store(p->sink.owner, j->id, j->flags, j->out.buf, j->out.len, j->n);
}

int shelf__pipe_queue(struct shelf__pipe *p, void *tag, int type, const void *data, size_t n,
                      int compress)
{
    job *j;
    int rc;

    if (p->tail - p->head == NJOBS && (rc = complete_oldest(p)) != SHELF_OK)
        return rc;
    j = &p->jobs[p->tail % NJOBS];
    if (j->cap < n) {
        uint8_t *d = shelf__realloc(j->data, n);

        if (!d)
            return shelf__seterr(p->sink.err, SHELF_ENOMEM, "out of memory");
        j->data = d;
        j->cap = n;
    }
    memcpy(j->data, data, n);
    j->tag = tag;
    j->n = n;
    j->type = type;
    j->compress = compress;
    j->rc = SHELF_OK;
    p->tail++;
    j->ticket = shelf__pool_submit(p->pool, work, j, 1);
    return SHELF_OK;
}

int shelf__pipe_finish(struct shelf__pipe *p)
{
    int rc;

    while (p && p->head != p->tail)
        if ((rc = complete_oldest(p)) != SHELF_OK)
            return rc;
    return p ? save_wait(p) : SHELF_OK;
}

void shelf__pipe_free(struct shelf__pipe *p)
{
    int i;

    if (!p)
        return;
    /* Queued chunks are dropped: their jobs finish, nobody takes them. */
    shelf__pool_free(p->pool);
    for (i = 0; p->ctx && i < p->nctx; i++) {
        ZSTD_freeCCtx(p->ctx[i].zc);
        EVP_CIPHER_CTX_free(p->ctx[i].cipher);
        shelf__buf_release(&p->ctx[i].tmp);
    }
    shelf_free(p->ctx);
    for (i = 0; i < NJOBS; i++) {
        shelf_free(p->jobs[i].data);
        shelf__buf_release(&p->jobs[i].out);
    }
    for (i = 0; p->slots && i < p->nslots; i++)
        shelf__buf_release(&p->slots[i].buf);
    shelf_free(p->slots);
    pthread_mutex_destroy(&p->sink_mu);
    shelf_free(p);
}
