/*
 * pool.c: the worker pool.  A ring of queue jobs; a job is n items of
 * fn(arg, item, worker).  Workers take the items of the oldest job that
 * has items left, so jobs start in submission order and a job's items
 * spread over every worker.  A job's slot is reused only once the job is
 * done and every older job is too, so a ticket names one slot for life.
 */
#include <pthread.h>
#include <unistd.h>
#include "common_int.h"

#define POOL_MAX_THREADS 16

typedef struct pool_worker {
    struct shelf__pool *p;
    int id;
} pool_worker;

typedef struct pool_job {
    shelf__pool_fn fn;
    void *arg;
    size_t n, next, done;
    uint64_t ticket;
} pool_job;

struct shelf__pool {
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    pool_job *q;
    int queue;
    uint64_t head, tail;        /* tickets: [head, tail) are in the ring */
    uint64_t take;              /* oldest job that may have items left */
    int stop, nthreads;
    pthread_t th[POOL_MAX_THREADS];
    pool_worker args[POOL_MAX_THREADS];
};

static pool_job *slot(shelf__pool *p, uint64_t t)
{
    return &p->q[t % (uint64_t)p->queue];
}

/* With p->mu held: the next item to run, or 0 when none is queued. */
static int next_item(shelf__pool *p, pool_job **jp, size_t *item)
{
    while (p->take < p->tail) {
        pool_job *j = slot(p, p->take);

        if (j->next < j->n) {
            *jp = j;
            *item = j->next++;
            return 1;
        }
        p->take++;
    }
    return 0;
}

static void *pool_main(void *arg)
{
    shelf__pool *p = ((pool_worker *)arg)->p;
    int id = ((pool_worker *)arg)->id;

    pthread_mutex_lock(&p->mu);
    for (;;) {
        pool_job *j;
        size_t item;

        while (!p->stop && !next_item(p, &j, &item))
            pthread_cond_wait(&p->work, &p->mu);
        if (p->stop)
            break;
        pthread_mutex_unlock(&p->mu);
        j->fn(j->arg, item, id);
        pthread_mutex_lock(&p->mu);
        if (++j->done == j->n) {
            while (p->head < p->tail && slot(p, p->head)->done == slot(p, p->head)->n)
                p->head++;
            pthread_cond_broadcast(&p->done);
        }
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

shelf__pool *shelf__pool_new(int threads, int queue)
{
    shelf__pool *p;
    int i;

    if (threads == 0) {
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

        threads = ncpu > POOL_MAX_THREADS ? POOL_MAX_THREADS : ncpu > 1 ? (int)ncpu : 1;
    }
    if (threads > POOL_MAX_THREADS)
        threads = POOL_MAX_THREADS;
    if (queue < 1)
        queue = 1;
    if (!(p = shelf__calloc(1, sizeof *p)))
        return NULL;
    if (!(p->q = shelf__calloc((size_t)queue, sizeof *p->q))) {
        shelf_free(p);
        return NULL;
    }
    p->queue = queue;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->done, NULL);
    for (i = 0; i < threads; i++) {
        p->args[i].p = p;
        p->args[i].id = i;
        if (pthread_create(&p->th[i], NULL, pool_main, &p->args[i]) != 0)
            break;
        p->nthreads++;
    }
    return p;
}

int shelf__pool_threads(const shelf__pool *p)
{
    return p->nthreads > 0 ? p->nthreads : 1;
}

uint64_t shelf__pool_submit(shelf__pool *p, shelf__pool_fn fn, void *arg, size_t n)
{
    uint64_t t;
    size_t i;

    pthread_mutex_lock(&p->mu);
    while (p->tail - p->head == (uint64_t)p->queue)
        pthread_cond_wait(&p->done, &p->mu);
    t = p->tail++;
    *slot(p, t) = (pool_job){ fn, arg, n, 0, 0, t };
    if (p->nthreads == 0 || n == 0) {
        /* Run here: the job is complete before anyone can wait for it. */
        pthread_mutex_unlock(&p->mu);
        for (i = 0; i < n; i++)
            fn(arg, i, 0);
        pthread_mutex_lock(&p->mu);
        slot(p, t)->next = slot(p, t)->done = n;
        while (p->head < p->tail && slot(p, p->head)->done == slot(p, p->head)->n)
            p->head++;
        pthread_cond_broadcast(&p->done);
    } else {
        pthread_cond_broadcast(&p->work);
    }
    pthread_mutex_unlock(&p->mu);
    return t;
}

/* With p->mu held. */
static int job_done(shelf__pool *p, uint64_t t)
{
    pool_job *j;

    if (t < p->head)
        return 1;
    if (t >= p->tail)
        return 1;               /* never submitted: nothing to wait for */
    j = slot(p, t);
    return j->done == j->n;
}

int shelf__pool_done(shelf__pool *p, uint64_t ticket)
{
    int r;

    pthread_mutex_lock(&p->mu);
    r = job_done(p, ticket);
    pthread_mutex_unlock(&p->mu);
    return r;
}

void shelf__pool_wait(shelf__pool *p, uint64_t ticket)
{
    pthread_mutex_lock(&p->mu);
    while (!job_done(p, ticket))
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

void shelf__pool_wait_all(shelf__pool *p)
{
    pthread_mutex_lock(&p->mu);
    while (p->head < p->tail)
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

void shelf__pool_free(shelf__pool *p)
{
    int i;

    if (!p)
        return;
    shelf__pool_wait_all(p);
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    for (i = 0; i < p->nthreads; i++)
        pthread_join(p->th[i], NULL);
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->mu);
    shelf_free(p->q);
    shelf_free(p);
}
