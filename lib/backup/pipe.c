/*
 * pipe.c: the backup's worker threads.  The calling thread reads files and
 * cuts chunks; workers (one per extra CPU, at most 4) hash, compress and
 * seal them; the calling thread takes the results in the order they were
 * queued, asks the caller whether the chunk is new (the index lookup), and
 * adds new ones to the open pack, so packs are the same as without
 * threads.  Only the calling thread touches the index cache, the backend
 * and the caller's data.
 */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <zstd.h>
#include "backup_int.h"

#define NJOBS 8
#define MAX_WORKERS 4

enum { JOB_FREE, JOB_QUEUED, JOB_CLAIMED, JOB_DONE };

typedef struct job {
    uint8_t id[SHELF_HASH_BYTES];
    void *tag;
    int type, compress, flags, rc, state;
    uint8_t *data;
    size_t n, cap;
    shelf__buf out;
    shelf__err err;
} job;

typedef struct worker {
    struct shelf__pipe *p;
    pthread_t th;
    ZSTD_CCtx *zc;
    EVP_CIPHER_CTX *cipher;
    shelf__buf tmp;
} worker;

struct shelf__pipe {
    shelf_repo *r;
    /* the pack writer: saves one pack while the next one fills */
    pthread_t wth;
    int wstarted, wbusy, wrc;
    char wname[SHELF__NAME_MAX];
    shelf__buf wbuf;
    shelf__err werr;
    pthread_cond_t cv_wr;
    pthread_mutex_t be_mu;      /* the backend is used by one thread at a time */
    worker w[MAX_WORKERS];
    int nw;
    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_done;
    job jobs[NJOBS];
    size_t head, tail, claim;   /* ring positions, counting up */
    int stop;
    shelf__pipe_cb cb;
    void *ud;
};

/* Compress (when asked and it pays) and seal one chunk. */
static void work(worker *w, job *j)
{
    shelf_repo *r = w->p->r;
    const void *src = j->data;
    size_t srclen = j->n;

    j->flags = j->type;
    shelf__buf_reset(&j->out);
    shelf__sha256_mem(j->data, j->n, j->id);
    if (j->compress && j->n >= 64) {
        size_t bound = ZSTD_compressBound(j->n), z;

        shelf__buf_reset(&w->tmp);
        if (shelf__buf_grow(&w->tmp, bound) == SHELF_OK) {
            z = ZSTD_compressCCtx(w->zc, w->tmp.buf, bound, j->data, j->n, r->zstd_level);
            if (!ZSTD_isError(z) && z < j->n - j->n / 32) {
                src = w->tmp.buf;
                srclen = z;
                j->flags |= SHELF__BLOB_ZSTD;
            }
        }
    }
    j->rc = shelf__seal_with(r, w->cipher, src, srclen, &j->out, &j->err);
}

static void *writer_main(void *arg)
{
    struct shelf__pipe *p = arg;

    pthread_mutex_lock(&p->mu);
    for (;;) {
        int rc;

        while (!p->stop && !p->wbusy)
            pthread_cond_wait(&p->cv_wr, &p->mu);
        if (!p->wbusy)
            break;
        pthread_mutex_unlock(&p->mu);
        pthread_mutex_lock(&p->be_mu);
        rc = shelf__be_save(p->r->be, p->wname, p->wbuf.buf, p->wbuf.len);
        if (rc != SHELF_OK && rc != SHELF_EEXIST)
            p->werr = p->r->be->err;
        pthread_mutex_unlock(&p->be_mu);
        pthread_mutex_lock(&p->mu);
        if (rc != SHELF_OK && rc != SHELF_EEXIST && p->wrc == SHELF_OK)
            p->wrc = rc;
        p->wbusy = 0;
        pthread_cond_broadcast(&p->cv_wr);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* Wait until the writer is idle; its first failure, if any. */
static int writer_wait(shelf_repo *r)
{
    struct shelf__pipe *p = r->pipe;
    int rc;

    pthread_mutex_lock(&p->mu);
    while (p->wbusy)
        pthread_cond_wait(&p->cv_wr, &p->mu);
    rc = p->wrc;
    pthread_mutex_unlock(&p->mu);
    if (rc != SHELF_OK)
        return shelf__seterr(&r->err, rc, "%s", p->werr.msg);
    return SHELF_OK;
}

int shelf__pipe_save(shelf_repo *r, const char *name)
{
    struct shelf__pipe *p = r->pipe;
    shelf__buf t;
    int rc;

    if ((rc = writer_wait(r)) != SHELF_OK)
        return rc;
    /* Hand the pack over; its old buffer becomes the next pack's. */
    t = p->wbuf;
    p->wbuf = r->pack;
    r->pack = t;
    shelf__buf_reset(&r->pack);
    snprintf(p->wname, sizeof p->wname, "%s", name);
    pthread_mutex_lock(&p->mu);
    p->wbusy = 1;
    pthread_cond_broadcast(&p->cv_wr);
    pthread_mutex_unlock(&p->mu);
    return SHELF_OK;
}

void shelf__pipe_be_lock(shelf_repo *r, int lock)
{
    if (!r->pipe)
        return;
    if (lock)
        pthread_mutex_lock(&r->pipe->be_mu);
    else
        pthread_mutex_unlock(&r->pipe->be_mu);
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    struct shelf__pipe *p = w->p;

    pthread_mutex_lock(&p->mu);
    for (;;) {
        job *j;

        while (!p->stop && p->claim == p->tail)
            pthread_cond_wait(&p->cv_work, &p->mu);
        if (p->stop)
            break;
        j = &p->jobs[p->claim++ % NJOBS];
        j->state = JOB_CLAIMED;
        pthread_mutex_unlock(&p->mu);
        work(w, j);
        pthread_mutex_lock(&p->mu);
        j->state = JOB_DONE;
        pthread_cond_broadcast(&p->cv_done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int shelf__pipe_start(shelf_repo *r, shelf__pipe_cb cb, void *ud)
{
    struct shelf__pipe *p;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int i, n = ncpu > 1 ? (int)(ncpu - 1) : 1;

    if (n > MAX_WORKERS)
        n = MAX_WORKERS;
    if (!(p = shelf__calloc(1, sizeof *p)))
        return shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
    p->r = r;
    p->cb = cb;
    p->ud = ud;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv_work, NULL);
    pthread_cond_init(&p->cv_done, NULL);
    pthread_cond_init(&p->cv_wr, NULL);
    pthread_mutex_init(&p->be_mu, NULL);
    if (pthread_create(&p->wth, NULL, writer_main, p) == 0)
        p->wstarted = 1;
    for (i = 0; i < n; i++) {
        worker *w = &p->w[i];

        w->p = p;
        if (!(w->zc = ZSTD_createCCtx()) || !(w->cipher = EVP_CIPHER_CTX_new()) ||
            pthread_create(&w->th, NULL, worker_main, w) != 0) {
            ZSTD_freeCCtx(w->zc);
            EVP_CIPHER_CTX_free(w->cipher);
            break;
        }
        p->nw++;
    }
    r->pipe = p;
    if (p->nw == 0 || !p->wstarted) {
        shelf__pipe_stop(r);
        return shelf__seterr(&r->err, SHELF_ENOMEM, "cannot start worker threads");
    }
    return SHELF_OK;
}

/* Take the oldest queued chunk, waiting for it: new ones go into the pack. */
static int complete_oldest(shelf_repo *r)
{
    struct shelf__pipe *p = r->pipe;
    job *j = &p->jobs[p->head % NJOBS];
    int rc, keep = 0;

    pthread_mutex_lock(&p->mu);
    while (j->state != JOB_DONE)
        pthread_cond_wait(&p->cv_done, &p->mu);
    pthread_mutex_unlock(&p->mu);
    p->head++;
    j->state = JOB_FREE;
    if (j->rc != SHELF_OK)
        return shelf__seterr(&r->err, j->rc, "%s", j->err.msg);
    if ((rc = p->cb(p->ud, j->tag, j->id, j->n, &keep)) != SHELF_OK || !keep)
        return rc;
    return shelf__pack_add_sealed(r, j->id, j->flags, j->out.buf, j->out.len, j->n);
}

int shelf__pipe_submit(shelf_repo *r, void *tag, int type, const void *data, size_t n,
                       int compress)
{
    struct shelf__pipe *p = r->pipe;
    job *j;
    int rc;

    if (p->tail - p->head == NJOBS && (rc = complete_oldest(r)) != SHELF_OK)
        return rc;
    j = &p->jobs[p->tail % NJOBS];
    if (j->cap < n) {
        uint8_t *d = shelf__realloc(j->data, n);

        if (!d)
            return shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
        j->data = d;
        j->cap = n;
    }
    memcpy(j->data, data, n);
    j->tag = tag;
    j->n = n;
    j->type = type;
    j->compress = compress;
    pthread_mutex_lock(&p->mu);
    j->state = JOB_QUEUED;
    p->tail++;
    pthread_cond_signal(&p->cv_work);
    pthread_mutex_unlock(&p->mu);
    return SHELF_OK;
}

int shelf__pipe_drain(shelf_repo *r)
{
    struct shelf__pipe *p = r->pipe;
    int rc;

    while (p && p->head != p->tail)
        if ((rc = complete_oldest(r)) != SHELF_OK)
            return rc;
    return p ? writer_wait(r) : SHELF_OK;
}

void shelf__pipe_stop(shelf_repo *r)
{
    struct shelf__pipe *p = r->pipe;
    int i;

    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->cv_work);
    pthread_cond_broadcast(&p->cv_wr);
    pthread_mutex_unlock(&p->mu);
    if (p->wstarted)
        pthread_join(p->wth, NULL);
    for (i = 0; i < p->nw; i++) {
        pthread_join(p->w[i].th, NULL);
        ZSTD_freeCCtx(p->w[i].zc);
        EVP_CIPHER_CTX_free(p->w[i].cipher);
        shelf__buf_release(&p->w[i].tmp);
    }
    for (i = 0; i < NJOBS; i++) {
        shelf_free(p->jobs[i].data);
        shelf__buf_release(&p->jobs[i].out);
    }
    shelf__buf_release(&p->wbuf);
    pthread_mutex_destroy(&p->mu);
    pthread_mutex_destroy(&p->be_mu);
    pthread_cond_destroy(&p->cv_wr);
    pthread_cond_destroy(&p->cv_work);
    pthread_cond_destroy(&p->cv_done);
    shelf_free(p);
    r->pipe = NULL;
}
