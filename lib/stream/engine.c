/*
 * engine.c: the streaming engine.  Samples (head preload, pins), voices
 * and the audio-thread side (voice start/release/render: lock-free, no
 * allocation, no I/O), and the scheduler thread that keeps every voice's
 * ring filled: it collects finished reads into the cache, hands chunks to
 * the rings, orders new reads by urgency (time until each ring runs dry),
 * merges identical requests, retries failed reads, and when the disk falls
 * behind fades out the lowest-ranked voices.  Failover: a sample's reads
 * go to its mirror when its primary fails or misses a deadline, and back
 * when a probe finds the primary again (reopened by path: hot swap); a
 * mirror that fails is taken out and probed the same way.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>
#include "stream_int.h"

#define DROP_MS 5            /* fade of a dropped voice */
#define CRIT_S 0.020         /* a ring this close to empty means the disk fell behind */
#define WALK_S 0.001         /* the scheduler's walk over the voices: at most this often ... */
#define WALK_URGENT_S 0.100  /* ... unless a ring was this close to empty */
#define WALK_LAZY_S 0.004    /* ... and at most this often while the last one's
                                backlog fills the queue (no voice started) */
#define SOON_S 0.250         /* a read needed this soon goes before the late ones */
#define MAX_VOICES 16384
/* A loop's RAM start holds at least this many frames after the head's
 * length, so an offline block (128 frames at up to 16 times the rate)
 * that wraps finds its frames after the loop start in RAM. */
#define LOOP_MIN_FRAMES 4096

/* (lap, k) order of ring items: -1, 0, 1. */
static int lapk_cmp(uint64_t la, int64_t ka, uint64_t lb, int64_t kb)
{
    if (la != lb)
        return la < lb ? -1 : 1;
    return ka < kb ? -1 : ka > kb;
}

/* Chunk k of sm in a loop's RAM (a loop's start, a loop held whole, or a
 * streamed loop's turns), or NULL. */
static shelf__chunk *loop_ram_chunk(const shelf__sample *sm, int64_t k)
{
    if (sm->loopc && k >= sm->loop_k0 && k < sm->loop_k0 + (int64_t)sm->loop_nk)
        return sm->loopc[k - sm->loop_k0];
    if (sm->loopb && k >= sm->loopb_k0 && k < sm->loopb_k0 + (int64_t)sm->loopb_nk)
        return sm->loopb[k - sm->loopb_k0];
    return NULL;
}

/* 1 when chunk k of sm is held in RAM (the head, or a loop's RAM). */
static int chunk_in_ram(const shelf__sample *sm, int64_t k)
{
    return k < (int64_t)sm->head_chunks || loop_ram_chunk(sm, k) != NULL;
}

/* The first chunk at or after k that is not in RAM. */
static int64_t skip_ram(const shelf__sample *sm, int64_t k)
{
    if (k < (int64_t)sm->head_chunks)
        k = sm->head_chunks;
    if (sm->loopb && k >= sm->loopb_k0 && k < sm->loopb_k0 + (int64_t)sm->loopb_nk)
        k = sm->loopb_k0 + sm->loopb_nk;
    if (sm->loopc && k >= sm->loop_k0 && k < sm->loop_k0 + (int64_t)sm->loop_nk)
        k = sm->loop_k0 + sm->loop_nk;
    return k;
}

/* ---- a streamed backward or alternating loop's walk ------------------------------ */

/* 1 when lap `lap` of a voice in sm's loop walks down: in a streamed
 * loop (loop_walk), every lap after the turn of a backward one, the odd
 * ones of an alternating one (lap 0 is the way in, SHELF__LAP_FWD the
 * way out after a release). */
static int lap_down(const shelf__sample *sm, uint64_t lap)
{
    return sm->loop_walk && lap && !(lap & SHELF__LAP_FWD) &&
           (sm->loop_mode == SHELF_LOOP_BACKWARD || (lap & 1));
}

/* The ring key of chunk k in lap `lap`: play order is (lap, key) ascending. */
static int64_t lap_key(const shelf__sample *sm, uint64_t lap, int64_t k)
{
    return lap_down(sm, lap) ? -k : k;
}

/* The chunk after (lap, k) on a held voice's walk through sm's streamed
 * loop: up to the loop's last chunk, then down to its first (a new lap),
 * then a backward loop jumps to the top again and an alternating one
 * turns up (a new lap each time). */
static void walk_next(const shelf__sample *sm, uint64_t *lap, int64_t *k)
{
    int64_t top = (sm->loop_end - 1) / sm->chunk_frames, bottom = sm->loop_start / sm->chunk_frames;

    if (!lap_down(sm, *lap)) {
        if (*k < top) {
            (*k)++;
        } else {
            (*lap)++;
            *k = top;
        }
    } else if (*k > bottom) {
        (*k)--;
    } else {
        (*lap)++;
        *k = sm->loop_mode == SHELF_LOOP_BACKWARD ? top : bottom;
    }
}

/* The first chunk at or after (lap, k) on the walk that is not in RAM;
 * set_loop makes sure every lap has one. */
static void walk_skip(const shelf__sample *sm, uint64_t *lap, int64_t *k)
{
    while (chunk_in_ram(sm, *k))
        walk_next(sm, lap, k);
}

/* Frames a held voice at frame i of lap `lap` plays before it reaches
 * chunk k of lap lap2 (negative when it is past it; a rough figure across
 * more than one turn), for the scheduler's urgency and the ring fill. */
static int64_t walk_ahead(const shelf__sample *sm, uint64_t lap, int64_t i, uint64_t lap2, int64_t k)
{
    int64_t c = sm->chunk_frames, len = sm->loop_end - sm->loop_start, d;

    if (lap2 == lap)
        return lap_down(sm, lap) ? i - (k * c + c - 1) : k * c - i;
    if (lap2 < lap)
        return -1;
    d = lap_down(sm, lap) ? i - sm->loop_start : sm->loop_end - 1 - i;
    d += (int64_t)(lap2 - lap - 1) * len;
    return d + (lap_down(sm, lap2) ? sm->loop_end - 1 - (k * c + c - 1) : k * c - sm->loop_start);
}

/*
 * A voice handle (an int >= 0): the slot in its low VOICE_SLOT_BITS, the
 * slot's generation (15 bits, so the handle stays positive) above.  A
 * handle of an ended voice whose slot was reused no longer matches.
 */
#define VOICE_SLOT_BITS 16
#define VOICE_SLOT_MASK ((1 << VOICE_SLOT_BITS) - 1)
#define VOICE_GEN_MASK 0x7fffu
_Static_assert(MAX_VOICES <= VOICE_SLOT_MASK + 1, "a voice slot must fit its handle bits");
_Static_assert(((uint64_t)VOICE_GEN_MASK << VOICE_SLOT_BITS | VOICE_SLOT_MASK) <= INT32_MAX,
               "a voice handle must be a positive int");

static int voice_handle(uint32_t gen, int slot)
{
    return (int)((gen & VOICE_GEN_MASK) << VOICE_SLOT_BITS) | slot;
}

static int voice_slot(int handle)
{
    return handle & VOICE_SLOT_MASK;
}

/* A voice's next chunk to read, and how soon it is needed (the scheduler). */
typedef struct want {
    int voice;
    int64_t k;
    double dry;              /* seconds until the voice's data runs out */
    uint32_t gen;            /* the voice's io_gen then */
} want;

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *sched_main(void *arg);
static void unturn(shelf__sample *sm, shelf__voice *v, uint64_t *pos, uint64_t *lap);

/* ---- create and free ------------------------------------------------------ */

static int set_defaults(shelf_stream_opts *o, const shelf_stream_opts *in, shelf__err *err)
{
    int rc;

    if ((rc = shelf__opts_check(err, o, sizeof *o, in, sizeof *o, "shelf_stream_opts")) != SHELF_OK)
        return rc;
    if (!o->rate) o->rate = 48000;
    if (!o->max_voices) o->max_voices = 256;
    if (!o->max_samples) o->max_samples = 4096;
    if (!o->chunk_bytes) o->chunk_bytes = 128 * 1024;
    if (!o->ring_chunks) o->ring_chunks = 3;
    if (!o->queue_depth) o->queue_depth = 32;
    if (!o->io_threads) o->io_threads = 2;
    if (!o->cache_bytes) o->cache_bytes = 256u << 20;
    if (!o->spike_ms) o->spike_ms = 50;
    if (!o->failover_ms) o->failover_ms = 100;
    if (!o->recheck_ms) o->recheck_ms = 500;
    if (!o->retries) o->retries = 2;
    else if (o->retries < 0) o->retries = 0;
    o->mirrors = NULL;       /* borrowed by shelf_notes_render, not kept */
    if (o->rate < 1000 || o->rate > 768000)
        return shelf__seterr(err, SHELF_EINVAL, "rate %d out of range", o->rate);
    if (o->max_voices < 1 || o->max_voices > MAX_VOICES)
        return shelf__seterr(err, SHELF_EINVAL, "max voices %d out of range", o->max_voices);
    if (o->max_samples < 1 || o->max_samples > 1 << 20)
        return shelf__seterr(err, SHELF_EINVAL, "max samples %d out of range", o->max_samples);
    if (o->chunk_bytes < 4096 || o->chunk_bytes > 16u << 20)
        return shelf__seterr(err, SHELF_EINVAL, "chunk size %u out of range", o->chunk_bytes);
    if (o->ring_chunks < 2 || o->ring_chunks > 64)
        return shelf__seterr(err, SHELF_EINVAL, "ring of %d chunks out of range", o->ring_chunks);
    if (o->queue_depth < 1 || o->queue_depth > 4096 || o->io_threads < 1 || o->io_threads > 64)
        return shelf__seterr(err, SHELF_EINVAL, "queue depth or i/o threads out of range");
    if (o->retries > 100 || o->head_ms > 600000)
        return shelf__seterr(err, SHELF_EINVAL, "retries or head out of range");
    if (!(o->fault_error_rate >= 0 && o->fault_error_rate <= 1 && o->fault_delay_rate >= 0 &&
          o->fault_delay_rate <= 1))
        return shelf__seterr(err, SHELF_EINVAL, "fault rates must lie in 0..1");
    if (o->fault_medium < 0 || o->fault_medium > 2)
        return shelf__seterr(err, SHELF_EINVAL, "fault medium %d out of range", o->fault_medium);
    if (o->failover_ms > 60000 || o->recheck_ms > 3600000)
        return shelf__seterr(err, SHELF_EINVAL, "failover or recheck time out of range");
    if (o->loop_ram_max > o->cache_bytes)
        return shelf__seterr(err, SHELF_EINVAL,
                             "loop RAM bound of %llu bytes larger than the cache budget of %llu "
                             "(loops held in RAM are part of the cache)",
                             (unsigned long long)o->loop_ram_max,
                             (unsigned long long)o->cache_bytes);
    if (!o->loop_ram_max)
        o->loop_ram_max = o->cache_bytes < SHELF_STREAM_LOOP_RAM_MAX ? o->cache_bytes
                                                                     : SHELF_STREAM_LOOP_RAM_MAX;
    return SHELF_OK;
}

int shelf_stream_new(const shelf_stream_opts *opts, shelf_stream **out, char **errmsg)
{
    shelf_stream *s;
    int rc, i;

    *out = NULL;
    if (errmsg)
        *errmsg = NULL;
    if (!(s = shelf__calloc(1, sizeof *s)))
        return SHELF_ENOMEM;
    pthread_mutex_init(&s->wlock, NULL);
    pthread_cond_init(&s->wcond, NULL);
    pthread_cond_init(&s->rcond, NULL);
    pthread_mutex_init(&s->qlock, NULL);
    pthread_mutex_init(&s->raw_lock, NULL);
    pthread_cond_init(&s->qcond, NULL);
    atomic_init(&s->min_fill_milli, 100000);
    atomic_init(&s->hl_fill_milli, 100000);
    s->t_start = now_s();
    if ((rc = set_defaults(&s->o, opts, &s->err)) != SHELF_OK)
        goto out;
    s->mix_run = shelf__mix_pick(!(s->o.flags & SHELF_STREAM_NO_SIMD));
    s->align = 4096;
    rc = SHELF_ENOMEM;
    if (!(s->samples = shelf__calloc((size_t)s->o.max_samples, sizeof *s->samples)) ||
        !(s->voices = shelf__calloc((size_t)s->o.max_voices, sizeof *s->voices)) ||
        !(s->order = shelf__calloc((size_t)s->o.max_voices, sizeof *s->order)) ||
        !(s->sched_wants = shelf__calloc((size_t)s->o.max_voices, sizeof(want))) ||
        !(s->sched_failed = shelf__calloc((size_t)s->o.max_voices + 1, sizeof(shelf__chunk *))) ||
        !(s->sched_req_k = shelf__calloc((size_t)s->o.max_voices, sizeof *s->sched_req_k)))
        goto out;
    s->nvoices = s->o.max_voices;
    for (i = 0; i < s->nvoices; i++) {
        if ((rc = shelf__ring_init(&s->voices[i].ring, (uint32_t)s->o.ring_chunks + 1,
                                   sizeof(shelf__ringitem))) != SHELF_OK)
            goto out;
        atomic_init(&s->voices[i].state, SHELF__V_FREE);
    }
    if ((rc = shelf__cache_init(&s->cache, s->o.cache_bytes)) != SHELF_OK)
        goto out;
    if ((rc = shelf__io_start(s)) != SHELF_OK)
        goto out;
    if (pthread_create(&s->sched, NULL, sched_main, s) != 0) {
        rc = shelf__seterr(&s->err, SHELF_EIO, "cannot start the stream scheduler");
        goto out;
    }
    s->sched_started = 1;
    *out = s;
    return SHELF_OK;
out:
    if (errmsg)
        *errmsg = shelf__strdup(s->err.msg[0] ? s->err.msg : shelf_strerror(rc));
    shelf_stream_free(s);
    return rc;
}

static void release_ref(shelf__chunk *ch)
{
    if (ch)
        atomic_fetch_sub_explicit(&ch->refs, 1, memory_order_release);
}

static void drain_ring(shelf__voice *v)
{
    shelf__ringitem *it;

    while ((it = shelf__ring_peek(&v->ring, 0))) {
        release_ref(it->ch);
        shelf__ring_pop(&v->ring);
    }
}

void shelf_stream_free(shelf_stream *s)
{
    int i, n;

    if (!s)
        return;
    if (s->sched_started) {
        pthread_mutex_lock(&s->wlock);
        atomic_store(&s->quit, 1);
        pthread_cond_broadcast(&s->wcond);
        pthread_mutex_unlock(&s->wlock);
        pthread_join(s->sched, NULL);
    }
    shelf__io_stop(s);
    if (s->voices) {
        for (i = 0; i < s->nvoices; i++) {
            if (s->voices[i].ring.buf)
                drain_ring(&s->voices[i]);
            shelf__ring_release(&s->voices[i].ring);
        }
    }
    n = atomic_load(&s->nsamples);
    for (i = 0; i < n; i++) {
        shelf__sample *sm = &s->samples[i];
        free(sm->head);
        free(sm->loopc);
        free(sm->loopb);
        free(sm->path);
        free(sm->mpath);
    }
    /* Every handle still open: the samples' own, and old ones reads
     * dropped at the stop still referenced. */
    while (s->fhs) {
        shelf__fh *fh = s->fhs;
        s->fhs = fh->next;
        shelf__fh_close(fh);
    }
    shelf__cache_release(&s->cache);
    shelf__health_free(s->hl);
    free(s->samples);
    free(s->voices);
    free(s->order);
    free(s->sched_wants);
    free(s->sched_failed);
    free(s->sched_req_k);
    pthread_mutex_destroy(&s->wlock);
    pthread_cond_destroy(&s->wcond);
    pthread_cond_destroy(&s->rcond);
    pthread_mutex_destroy(&s->qlock);
    pthread_mutex_destroy(&s->raw_lock);
    pthread_cond_destroy(&s->qcond);
    free(s);
}

const char *shelf_stream_errmsg(const shelf_stream *s)
{
    return s->err.msg[0] ? s->err.msg : shelf_strerror(s->err.rc);
}

/* ---- samples -------------------------------------------------------------- */

/* Give back the buffer of a chunk read (shelf__chunk_read_sync) not kept. */
static void data_put(shelf_stream *s, const shelf__sample *sm, float *data, uint32_t frames)
{
    shelf__cache_buf_put(&s->cache, data, (size_t)frames * (size_t)sm->channels * sizeof(float));
}

/* Time a few chunk reads of the new sample to size heads (head_ms == 0). */
static void measure_latency(shelf_stream *s, shelf__sample *sm)
{
    double worst = 0;
    int64_t k;
    int i, e;

    for (i = 0; i < 4 && sm->nchunks > 0; i++) {
        float *data;
        uint32_t frames;
        double t0 = now_s();
        k = (sm->nchunks - 1) * i / 4;
        if (shelf__chunk_read_sync(s, sm, k, &data, &frames, &e) == SHELF_OK)
            data_put(s, sm, data, frames);
        if (now_s() - t0 > worst)
            worst = now_s() - t0;
    }
    s->measured_lat = worst;
}

/* Chunk k of sample id in the cache, or NULL, once no read of it is in
 * flight (the scheduler may be reading it for a voice: wait for that
 * read).  Returns with the cache lock held.  Control thread. */
static shelf__chunk *find_settled(shelf_stream *s, int id, int64_t k)
{
    shelf__chunk *ch;

    for (;;) {
        pthread_mutex_lock(&s->cache.lock);
        ch = shelf__cache_find(&s->cache, id, k);
        if (!ch || ch->state != SHELF__CH_LOADING)
            return ch;
        pthread_mutex_unlock(&s->cache.lock);
        nanosleep(&(struct timespec){ 0, 500000 }, NULL);
    }
}

/* Load chunks k0 .. k0 + n - 1 of sm into the cache, each held by one
 * more reference, into dst[0 .. n). */
static int load_chunks(shelf_stream *s, shelf__sample *sm, int id, int64_t k0, uint32_t n,
                       shelf__chunk **dst)
{
    int64_t k;
    int e, rc;

    for (k = k0; k < k0 + n; k++) {
        float *data;
        uint32_t frames;
        shelf__chunk *ch;

        ch = find_settled(s, id, k);
        if (ch && ch->state == SHELF__CH_FAILED) {
            ch->state = SHELF__CH_LOADING;
            shelf__cache_remove(&s->cache, ch);
            ch = NULL;
        }
        if (ch) {
            /* In the cache already (a pin, the head, an earlier read). */
            atomic_fetch_add(&ch->refs, 1);
            dst[k - k0] = ch;
            pthread_mutex_unlock(&s->cache.lock);
            continue;
        }
        pthread_mutex_unlock(&s->cache.lock);
        if ((rc = shelf__chunk_read_sync(s, sm, k, &data, &frames, &e)) != SHELF_OK)
            return rc == SHELF_EIO ? shelf__seterr_errno(&s->err, e, "cannot read '%s'", sm->path)
                                   : shelf__seterr(&s->err, rc, "cannot load '%s'", sm->path);
        pthread_mutex_lock(&s->cache.lock);
        ch = shelf__cache_find(&s->cache, id, k);
        if (ch && ch->state == SHELF__CH_READY) {
            data_put(s, sm, data, frames);
        } else if (ch) {
            pthread_mutex_unlock(&s->cache.lock);
            data_put(s, sm, data, frames);
            return shelf__seterr(&s->err, SHELF_EIO, "cannot load '%s': chunk busy", sm->path);
        } else if (!(ch = shelf__cache_insert(&s->cache, id, k))) {
            pthread_mutex_unlock(&s->cache.lock);
            data_put(s, sm, data, frames);
            return SHELF_ENOMEM;
        } else {
            shelf__cache_ready(&s->cache, ch, data, frames,
                               (size_t)frames * (size_t)sm->channels * sizeof(float));
        }
        atomic_fetch_add(&ch->refs, 1);
        dst[k - k0] = ch;
        pthread_mutex_unlock(&s->cache.lock);
    }
    return SHELF_OK;
}

/* Drop the references dst[0 .. n) holds (dst NULL: none). */
static void unload_chunks(shelf_stream *s, shelf__chunk **dst, uint32_t n)
{
    uint32_t k;

    pthread_mutex_lock(&s->cache.lock);
    for (k = 0; dst && k < n; k++)
        if (dst[k])
            atomic_fetch_sub(&dst[k]->refs, 1);
    pthread_mutex_unlock(&s->cache.lock);
}

int shelf_stream_add(shelf_stream *s, const char *path, int *id)
{
    int n = atomic_load(&s->nsamples), rc = SHELF_OK, fd;
    shelf__sample *sm;
    shelf__fh *fh = NULL;
    unsigned char hdr[65536];
    ssize_t got;
    uint64_t head_frames;
    struct statvfs vfs;
    struct stat st;

    *id = -1;
    if (n >= s->o.max_samples)
        return shelf__seterr(&s->err, SHELF_EINVAL, "too many samples (at most %d)", s->o.max_samples);
    sm = &s->samples[n];
    memset(sm, 0, sizeof *sm);
    if (!(sm->path = shelf__strdup(path)) || !(fh = shelf__calloc(1, sizeof *fh))) {
        rc = SHELF_ENOMEM;
        goto out;
    }
    atomic_init(&fh->fd, -1);
    atomic_init(&fh->fd_direct, -1);
    pthread_mutex_init(&fh->sf_lock, NULL);
    fh->refs = 1;
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        rc = shelf__seterr_errno(&s->err, errno, "cannot open '%s'", path);
        goto out;
    }
    atomic_store(&fh->fd, fd);
    pthread_mutex_lock(&s->cache.lock);
    sm->pfh = fh;
    fh->next = s->fhs;
    s->fhs = fh;
    pthread_mutex_unlock(&s->cache.lock);
    if (fstat(fd, &st) != 0) {
        rc = shelf__seterr_errno(&s->err, errno, "cannot read '%s'", path);
        goto out;
    }
    sm->id_size = (uint64_t)st.st_size;
    sm->id_mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    got = pread(fd, hdr, sizeof hdr, 0);
    if (got < 0) {
        rc = shelf__seterr_errno(&s->err, errno, "cannot read '%s'", path);
        goto out;
    }
    if (shelf__wav_parse(hdr, (size_t)got, &sm->wi) == SHELF_OK) {
        sm->direct = 1;
        sm->rate = sm->wi.rate;
        sm->channels = sm->wi.channels;
        sm->bpf = (uint32_t)sm->channels * (sm->wi.enc == SHELF__PCM16 ? 2 : sm->wi.enc == SHELF__PCM24 ? 3 : 4);
        /* A data chunk longer than the file (streams written without a
         * final size) ends at the end of the file. */
        if (sm->wi.data_off + sm->wi.data_len > (uint64_t)st.st_size)
            sm->wi.data_len = (uint64_t)st.st_size > sm->wi.data_off ? (uint64_t)st.st_size - sm->wi.data_off : 0;
        sm->frames = (int64_t)(sm->wi.data_len / sm->bpf);
        if (!(s->o.flags & SHELF_STREAM_NO_DIRECT))
            atomic_store(&fh->fd_direct, open(path, O_RDONLY | O_CLOEXEC | O_DIRECT));
        sm->chunk_frames = s->o.chunk_bytes / sm->bpf;
    } else {
        SF_INFO info;
        memset(&info, 0, sizeof info);
        if (!(fh->sf = sf_open(path, SFM_READ, &info))) {
            rc = shelf__seterr(&s->err, SHELF_EFORMAT, "cannot decode '%s': %s", path,
                               sf_strerror(NULL));
            goto out;
        }
        sm->rate = info.samplerate;
        sm->channels = info.channels;
        sm->frames = info.frames;
        sm->chunk_frames = s->o.chunk_bytes / (uint32_t)(2 * info.channels);
        if (!info.seekable) {
            rc = shelf__seterr(&s->err, SHELF_EFORMAT, "cannot stream '%s': not seekable", path);
            goto out;
        }
    }
    if (sm->channels < 1 || sm->rate < 1 || sm->chunk_frames < 1) {
        rc = shelf__seterr(&s->err, SHELF_EFORMAT, "cannot stream '%s': no audio", path);
        goto out;
    }
    if (n == 0 && fstatvfs(fd, &vfs) == 0 && vfs.f_bsize >= 512 && vfs.f_bsize <= 65536 &&
        !(vfs.f_bsize & (vfs.f_bsize - 1)))
        s->align = (uint32_t)vfs.f_bsize;
    sm->nchunks = (sm->frames + sm->chunk_frames - 1) / sm->chunk_frames;
    if (s->o.flags & SHELF_STREAM_RAM) {
        sm->head_chunks = (uint32_t)sm->nchunks;
    } else {
        uint32_t ms = s->o.head_ms;
        if (!ms) {
            if (n == 0)
                measure_latency(s, sm);
            /* Twenty worst reads, at least 100 ms, at most 2 s. */
            ms = (uint32_t)(s->measured_lat * 20000.0);
            ms = ms < 100 ? 100 : ms > 2000 ? 2000 : ms;
        }
        head_frames = (uint64_t)ms * (uint64_t)sm->rate / 1000;
        sm->head_chunks = (uint32_t)((head_frames + sm->chunk_frames - 1) / sm->chunk_frames);
        if (sm->head_chunks < 1)
            sm->head_chunks = 1;
        if (sm->head_chunks > sm->nchunks)
            sm->head_chunks = (uint32_t)sm->nchunks;
    }
    if (sm->head_chunks && !(sm->head = shelf__calloc(sm->head_chunks, sizeof(shelf__chunk *)))) {
        rc = SHELF_ENOMEM;
        goto out;
    }
    if ((rc = load_chunks(s, sm, n, 0, sm->head_chunks, sm->head)) != SHELF_OK)
        goto out;
    if (atomic_load(&fh->fd_direct) >= 0)
        s->direct_used = 1;
    *id = n;
    atomic_store_explicit(&s->nsamples, n + 1, memory_order_release);
    return SHELF_OK;
out:
    if (sm->head)
        unload_chunks(s, sm->head, sm->head_chunks);
    free(sm->head);
    free(sm->path);
    if (sm->pfh) {
        pthread_mutex_lock(&s->cache.lock);
        shelf__fh_unref(s, sm->pfh);
        pthread_mutex_unlock(&s->cache.lock);
    } else {
        shelf__fh_close(fh);
    }
    memset(sm, 0, sizeof *sm);
    return rc;
}

/* pread all of len bytes at off (fewer only at the end of the file). */
static ssize_t pread_all(int fd, unsigned char *buf, size_t len, off_t off)
{
    size_t got = 0;

    while (got < len) {
        ssize_t r = pread(fd, buf + got, len - got, off + (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

int shelf_stream_add_mirror(shelf_stream *s, int id, const char *path)
{
    enum { CMP = 65536 };
    shelf__sample *sm;
    shelf__fh *fh = NULL, *pfh;
    unsigned char *a = NULL, *b = NULL;
    struct stat st;
    ssize_t na, nb;
    int e, rc = SHELF_OK;

    if (id < 0 || id >= atomic_load(&s->nsamples))
        return shelf__seterr(&s->err, SHELF_ENOTFOUND, "no sample %d", id);
    sm = &s->samples[id];
    if (!path)
        return shelf__seterr(&s->err, SHELF_EINVAL, "no mirror given for '%s'", sm->path);
    if (atomic_load_explicit(&sm->mfh, memory_order_acquire))
        return shelf__seterr(&s->err, SHELF_EEXIST, "'%s' has a mirror already", sm->path);
    if ((e = shelf__fh_open(s, sm, path, 0, &fh)) != 0) {
        if (e == ESTALE)
            return shelf__seterr(&s->err, SHELF_EINVAL, "mirror '%s' is not a copy of '%s'",
                                 path, sm->path);
        return shelf__seterr_errno(&s->err, e, "cannot open mirror '%s'", path);
    }
    if (fstat(atomic_load(&fh->fd), &st) != 0) {
        rc = shelf__seterr_errno(&s->err, errno, "cannot read mirror '%s'", path);
        goto out;
    }
    if ((uint64_t)st.st_size != sm->id_size) {
        rc = shelf__seterr(&s->err, SHELF_EINVAL, "mirror '%s' is not a copy of '%s' (%llu bytes, not %llu)",
                           path, sm->path, (unsigned long long)st.st_size,
                           (unsigned long long)sm->id_size);
        goto out;
    }
    /* The same header and first audio: a cheap check that it is a copy
     * (the catalog's hashes say more; the engine knows only paths). */
    if (!(a = shelf__malloc(CMP)) || !(b = shelf__malloc(CMP))) {
        rc = SHELF_ENOMEM;
        goto out;
    }
    pthread_mutex_lock(&s->cache.lock);
    pfh = sm->pfh;
    pfh->refs++;
    pthread_mutex_unlock(&s->cache.lock);
    na = pread_all(atomic_load(&pfh->fd), a, CMP, 0);
    e = errno;
    pthread_mutex_lock(&s->cache.lock);
    shelf__fh_unref(s, pfh);
    pthread_mutex_unlock(&s->cache.lock);
    if (na < 0) {
        rc = shelf__seterr_errno(&s->err, e, "cannot read '%s'", sm->path);
        goto out;
    }
    if ((nb = pread_all(atomic_load(&fh->fd), b, CMP, 0)) < 0) {
        rc = shelf__seterr_errno(&s->err, errno, "cannot read mirror '%s'", path);
        goto out;
    }
    if (na != nb || memcmp(a, b, (size_t)na) != 0) {
        rc = shelf__seterr(&s->err, SHELF_EINVAL, "mirror '%s' is not a copy of '%s' (its first bytes differ)",
                           path, sm->path);
        goto out;
    }
    if (!(sm->mpath = shelf__strdup(path))) {
        rc = SHELF_ENOMEM;
        goto out;
    }
    sm->m_id_mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    pthread_mutex_lock(&s->cache.lock);
    fh->next = s->fhs;
    s->fhs = fh;
    pthread_mutex_unlock(&s->cache.lock);
    atomic_store_explicit(&sm->mfh, fh, memory_order_release);
    fh = NULL;
out:
    shelf__fh_close(fh);
    free(a);
    free(b);
    return rc;
}

int shelf_stream_sample(const shelf_stream *s, int id, shelf_stream_sample_info *out)
{
    const shelf__sample *sm;

    memset(out, 0, sizeof *out);
    if (id < 0 || id >= atomic_load(&((shelf_stream *)s)->nsamples))
        return SHELF_ENOTFOUND;
    sm = &s->samples[id];
    out->rate = sm->rate;
    out->channels = sm->channels;
    out->frames = sm->frames;
    out->direct = sm->direct;
    out->chunk_frames = sm->chunk_frames;
    out->head_chunks = sm->head_chunks;
    return SHELF_OK;
}

/* Decoded bytes of n held chunks (their sizes are fixed once ready; ch
 * NULL: none). */
static uint64_t chunks_bytes(shelf__chunk *const *ch, uint32_t n)
{
    uint64_t b = 0;
    uint32_t k;

    for (k = 0; ch && k < n; k++)
        b += ch[k]->bytes;
    return b;
}

int shelf_stream_set_loop_opts(shelf_stream *s, int id, const shelf_stream_loop_opts *lo)
{
    shelf_stream_loop_opts o;
    shelf__sample *sm;
    shelf__chunk **loopc = NULL, **loopb = NULL;
    int64_t k0 = 0, kb0 = 0, kb, start, end;
    uint32_t nk = 0, nkb = 0, crossfade;
    int rc, mode, walk = 0;

    if (!lo)
        return shelf__seterr(&s->err, SHELF_EINVAL, "no loop given");
    if ((rc = shelf__opts_check(&s->err, &o, sizeof o, lo, sizeof o, "shelf_stream_loop_opts")) !=
        SHELF_OK)
        return rc;
    start = o.start;
    end = o.end;
    crossfade = o.crossfade;
    mode = o.mode ? o.mode : SHELF_LOOP_FORWARD;
    if (id < 0 || id >= atomic_load(&s->nsamples))
        return shelf__seterr(&s->err, SHELF_ENOTFOUND, "no sample %d", id);
    sm = &s->samples[id];
    if (mode != SHELF_LOOP_FORWARD && mode != SHELF_LOOP_BACKWARD && mode != SHELF_LOOP_ALTERNATING)
        return shelf__seterr(&s->err, SHELF_EINVAL, "unknown loop mode %d", mode);
    if (!(start == 0 && end == 0) && !(start >= 0 && start < end && end <= sm->frames))
        return shelf__seterr(&s->err, SHELF_EINVAL, "loop %lld..%lld out of range for '%s'",
                             (long long)start, (long long)end, sm->path);
    if (!end)
        mode = SHELF_LOOP_FORWARD;
    if (mode == SHELF_LOOP_ALTERNATING && crossfade)
        return shelf__seterr(&s->err, SHELF_EINVAL,
                             "an alternating loop takes no crossfade (a forward or backward one "
                             "does) in '%s'", sm->path);
    /* The crossfade mixes in the frames that lead into the loop's seam in
     * play order: a forward loop's before its start, a backward loop's
     * after its end. */
    if ((int64_t)crossfade > end - start ||
        (mode == SHELF_LOOP_FORWARD && (int64_t)crossfade > start))
        return shelf__seterr(&s->err, SHELF_EINVAL,
                             "loop crossfade of %u frames longer than the loop or its lead-in in '%s'",
                             crossfade, sm->path);
    if (mode == SHELF_LOOP_BACKWARD && end + (int64_t)crossfade > sm->frames)
        return shelf__seterr(&s->err, SHELF_EINVAL,
                             "backward loop crossfade of %u frames longer than the %lld frames "
                             "after the loop's end in '%s'", crossfade,
                             (long long)(sm->frames - end), sm->path);
    if (mode == SHELF_LOOP_ALTERNATING && end - start < 2)
        return shelf__seterr(&s->err, SHELF_EINVAL,
                             "an alternating loop needs at least 2 frames in '%s'", sm->path);
    if (end) {
        int64_t last = (end - 1) / sm->chunk_frames;
        uint32_t turn = sm->head_chunks +
                        (uint32_t)((LOOP_MIN_FRAMES + sm->chunk_frames - 1) / sm->chunk_frames);
        if (mode == SHELF_LOOP_FORWARD) {
            /* From the crossfade's lead-in before the start, as long as
             * the head and LOOP_MIN_FRAMES more after the start's chunk,
             * never past the loop. */
            k0 = (start - crossfade) / sm->chunk_frames;
            nk = (uint32_t)(start / sm->chunk_frames - k0) + turn;
            if (k0 + nk > last + 1)
                nk = (uint32_t)(last + 1 - k0);
        } else {
            /* The whole loop, and a backward one's crossfade after its
             * end, when it fits in loop_ram_max.  A longer one streams its
             * walk and holds its turns, each as long as a forward loop's
             * start: the top (and the crossfade), and an alternating
             * loop's bottom; when they cover the loop, nothing streams. */
            k0 = start / sm->chunk_frames;
            nk = (uint32_t)((end - 1 + crossfade) / sm->chunk_frames + 1 - k0);
            walk = (uint64_t)(end - start + crossfade) * (uint64_t)sm->channels * sizeof(float) >
                   s->o.loop_ram_max;
            if (walk && last - k0 + 1 > (int64_t)turn * (mode == SHELF_LOOP_ALTERNATING ? 2 : 1)) {
                nk -= (uint32_t)(last + 1 - turn - k0);
                k0 = last + 1 - turn;
                if (mode == SHELF_LOOP_ALTERNATING) {
                    kb0 = start / sm->chunk_frames;
                    nkb = turn;
                }
                for (kb = start / sm->chunk_frames, walk = 0; kb <= last && !walk; kb++)
                    walk = kb >= (int64_t)sm->head_chunks && (kb < kb0 || kb >= kb0 + nkb) &&
                           kb < k0;
            } else {
                walk = 0;
            }
        }
        if (!(loopc = shelf__calloc(nk, sizeof(shelf__chunk *))) ||
            (nkb && !(loopb = shelf__calloc(nkb, sizeof(shelf__chunk *))))) {
            free(loopc);
            return SHELF_ENOMEM;
        }
        if ((rc = load_chunks(s, sm, id, k0, nk, loopc)) != SHELF_OK ||
            (rc = load_chunks(s, sm, id, kb0, nkb, loopb)) != SHELF_OK) {
            unload_chunks(s, loopc, nk);
            unload_chunks(s, loopb, nkb);
            free(loopc);
            free(loopb);
            return rc;
        }
    }
    atomic_fetch_add(&s->c_loop_ram_bytes, chunks_bytes(loopc, nk) + chunks_bytes(loopb, nkb));
    if (sm->loopc || sm->loopb) {
        atomic_fetch_sub(&s->c_loop_ram_bytes,
                         chunks_bytes(sm->loopc, sm->loop_nk) + chunks_bytes(sm->loopb, sm->loopb_nk));
        unload_chunks(s, sm->loopc, sm->loop_nk);
        unload_chunks(s, sm->loopb, sm->loopb_nk);
        free(sm->loopc);
        free(sm->loopb);
    }
    sm->loopc = loopc;
    sm->loop_nk = nk;
    sm->loop_k0 = k0;
    sm->loopb = loopb;
    sm->loopb_nk = nkb;
    sm->loopb_k0 = kb0;
    sm->loop_walk = walk;
    sm->loop_start = start;
    sm->loop_end = end;
    sm->loop_mode = mode;
    sm->loop_xfade = end ? crossfade : 0;
    return SHELF_OK;
}

int shelf_stream_set_loop(shelf_stream *s, int id, int64_t start, int64_t end,
                          uint32_t crossfade)
{
    shelf_stream_loop_opts lo;

    memset(&lo, 0, sizeof lo);
    lo.size = sizeof lo;
    lo.start = start;
    lo.end = end;
    lo.crossfade = crossfade;
    lo.mode = SHELF_LOOP_FORWARD;
    return shelf_stream_set_loop_opts(s, id, &lo);
}

int shelf_stream_pin(shelf_stream *s, int id)
{
    shelf__sample *sm;
    int64_t k;
    int e, rc;

    if (id < 0 || id >= atomic_load(&s->nsamples))
        return shelf__seterr(&s->err, SHELF_ENOTFOUND, "no sample %d", id);
    sm = &s->samples[id];
    for (k = 0; k < sm->nchunks; k++) {
        shelf__chunk *ch;
        float *data;
        uint32_t frames;

        ch = find_settled(s, id, k);
        if (ch && ch->state == SHELF__CH_READY) {
            if (!ch->pinned) {
                ch->pinned = 1;
                atomic_fetch_add(&s->cache.pinned_bytes, ch->bytes);
            }
            pthread_mutex_unlock(&s->cache.lock);
            continue;
        }
        pthread_mutex_unlock(&s->cache.lock);
        if ((rc = shelf__chunk_read_sync(s, sm, k, &data, &frames, &e)) != SHELF_OK)
            return rc == SHELF_EIO ? shelf__seterr_errno(&s->err, e, "cannot read '%s'", sm->path)
                                   : shelf__seterr(&s->err, rc, "cannot pin '%s'", sm->path);
        pthread_mutex_lock(&s->cache.lock);
        ch = shelf__cache_find(&s->cache, id, k);
        if (ch && ch->state == SHELF__CH_FAILED) {
            ch->state = SHELF__CH_LOADING;  /* replaced below */
            shelf__cache_remove(&s->cache, ch);
            ch = NULL;
        }
        if (!ch) {
            if (!(ch = shelf__cache_insert(&s->cache, id, k))) {
                pthread_mutex_unlock(&s->cache.lock);
                data_put(s, sm, data, frames);
                return SHELF_ENOMEM;
            }
            ch->pinned = 1;
            shelf__cache_ready(&s->cache, ch, data, frames,
                               (size_t)frames * (size_t)sm->channels * sizeof(float));
        } else {
            data_put(s, sm, data, frames);
            if (!ch->pinned && ch->state == SHELF__CH_READY) {
                ch->pinned = 1;
                atomic_fetch_add(&s->cache.pinned_bytes, ch->bytes);
            }
        }
        pthread_mutex_unlock(&s->cache.lock);
    }
    sm->pinned = 1;
    return SHELF_OK;
}

int shelf_stream_unpin(shelf_stream *s, int id)
{
    shelf__sample *sm;
    int64_t k;

    if (id < 0 || id >= atomic_load(&s->nsamples))
        return shelf__seterr(&s->err, SHELF_ENOTFOUND, "no sample %d", id);
    sm = &s->samples[id];
    pthread_mutex_lock(&s->cache.lock);
    for (k = 0; k < sm->nchunks; k++) {
        shelf__chunk *ch = shelf__cache_find(&s->cache, id, k);
        if (ch && ch->pinned) {
            ch->pinned = 0;
            if (ch->state == SHELF__CH_READY)
                atomic_fetch_sub(&s->cache.pinned_bytes, ch->bytes);
        }
    }
    shelf__cache_trim(&s->cache, s->cache.budget);
    pthread_mutex_unlock(&s->cache.lock);
    sm->pinned = 0;
    return SHELF_OK;
}

int shelf_stream_reserve(shelf_stream *s, uint64_t bytes)
{
    int rc = shelf__cache_reserve(&s->cache, bytes);

    if (rc == SHELF_ENOMEM)
        return shelf__seterr(&s->err, rc, "cannot reserve %.1f MiB of RAM for decoded chunks",
                             (double)bytes / 1048576.0);
    if (rc != SHELF_OK)
        return shelf__seterr(&s->err, rc, bytes ? "the engine has a reserve already"
                                                : "a reserve of 0 bytes");
    return SHELF_OK;
}

uint64_t shelf_stream_ring_bytes(const shelf_stream *s, int id)
{
    const shelf__sample *sm;

    if (id < 0 || id >= atomic_load(&((shelf_stream *)s)->nsamples))
        return 0;
    sm = &s->samples[id];
    return (uint64_t)shelf__cache_slot_bytes((size_t)sm->chunk_frames * (size_t)sm->channels *
                                             sizeof(float)) *
           (uint64_t)(s->o.ring_chunks + 1);
}

void shelf_stream_drop_caches(shelf_stream *s)
{
    int i, n = atomic_load(&s->nsamples);

    pthread_mutex_lock(&s->cache.lock);
    shelf__cache_trim(&s->cache, 0);
    pthread_mutex_unlock(&s->cache.lock);
    for (i = 0; i < n; i++) {
        shelf__sample *sm = &s->samples[i];
        shelf__fh *m = atomic_load_explicit(&sm->mfh, memory_order_acquire);
        pthread_mutex_lock(&s->cache.lock);
        posix_fadvise(atomic_load(&sm->pfh->fd), 0, 0, POSIX_FADV_DONTNEED);
        if (m)
            posix_fadvise(atomic_load(&m->fd), 0, 0, POSIX_FADV_DONTNEED);
        pthread_mutex_unlock(&s->cache.lock);
    }
}

/* ---- counters ------------------------------------------------------------- */

void shelf__lat_record(shelf_stream *s, double seconds)
{
    uint64_t ns = seconds > 0 ? (uint64_t)(seconds * 1e9) : 0, max;
    double us = (double)ns / 1000.0;
    int b = us <= 1 ? 0 : (int)(log2(us) * 16.0);

    if (b >= SHELF__LAT_BUCKETS)
        b = SHELF__LAT_BUCKETS - 1;
    atomic_fetch_add_explicit(&s->lat_hist[b], 1, memory_order_relaxed);
    max = atomic_load_explicit(&s->lat_max_ns, memory_order_relaxed);
    while (ns > max && !atomic_compare_exchange_weak(&s->lat_max_ns, &max, ns))
        ;
    max = atomic_load_explicit(&s->hl_lat_max_ns, memory_order_relaxed);
    while (ns > max && !atomic_compare_exchange_weak(&s->hl_lat_max_ns, &max, ns))
        ;
    if (seconds * 1000.0 > s->o.spike_ms)
        atomic_fetch_add(&s->c_spikes, 1);
}

void shelf_stream_get_stats(const shelf_stream *cs, shelf_stream_stats *out)
{
    shelf_stream *s = (shelf_stream *)cs;
    shelf_stream_stats st;
    uint64_t n;

    memset(&st, 0, sizeof st);
    st.blocks = atomic_load(&s->c_blocks);
    st.voices_started = atomic_load(&s->c_started);
    st.voices_active = atomic_load(&s->c_active);
    st.not_ready = atomic_load(&s->c_not_ready);
    st.underruns = atomic_load(&s->c_underruns);
    st.underrun_frames = atomic_load(&s->c_underrun_frames);
    st.read_errors = atomic_load(&s->c_read_errors);
    st.chunks_lost = atomic_load(&s->c_lost);
    st.voices_dropped = atomic_load(&s->c_dropped);
    st.latency_spikes = atomic_load(&s->c_spikes);
    st.reads = atomic_load(&s->c_reads);
    st.bytes_read = atomic_load(&s->c_bytes);
    st.merged = atomic_load(&s->c_merged);
    st.cache_hits = atomic_load(&s->cache.hits);
    st.cache_misses = atomic_load(&s->cache.misses);
    st.cache_evictions = atomic_load(&s->cache.evictions);
    st.cache_bytes = atomic_load(&s->cache.bytes);
    st.cache_pinned_bytes = atomic_load(&s->cache.pinned_bytes);
    st.cache_budget = s->cache.budget;
    st.busy_seconds = (double)atomic_load(&s->c_busy_ns) * 1e-9;
    st.uring = s->uring_ok;
    st.direct = s->direct_used;
    st.reads_uring = atomic_load(&s->c_reads_uring);
    st.reads_direct = atomic_load(&s->c_reads_direct);
    st.loop_wraps = atomic_load(&s->c_loop_wraps);
    st.loop_ram = atomic_load(&s->c_loop_ram);
    st.loop_ram_bytes = atomic_load(&s->c_loop_ram_bytes);
    st.failovers = atomic_load(&s->c_failovers);
    st.failover_switches = atomic_load(&s->c_switches);
    st.failover_returns = atomic_load(&s->c_returns);
    st.failover_hedged = atomic_load(&s->c_hedged);
    st.failover_probes = atomic_load(&s->c_probes);
    n = atomic_load(&s->c_failover_timed);
    st.failover_avg_us = n ? (double)atomic_load(&s->c_failover_ns) / 1000.0 / (double)n : 0;
    st.failover_max_us = (double)atomic_load(&s->c_failover_max_ns) / 1000.0;
    st.mirror_down = atomic_load(&s->c_mirror_down);
    st.mirror_returns = atomic_load(&s->c_mirror_returns);
    st.mirror_fallbacks = atomic_load(&s->c_mirror_fallbacks);
    st.mix_frames = atomic_load(&s->c_mix_frames);
    st.feed_frames = atomic_load(&s->c_feed_frames);
    st.mix_run_frames = atomic_load(&s->c_mix_run_frames);
    st.inflight_max = atomic_load(&s->c_inflight_max);
    st.uring_submits = atomic_load(&s->c_uring_submits);
    st.buffers_reused = atomic_load(&s->cache.spare_reuses);
    st.reads_early = atomic_load(&s->c_backlog_reads);
    st.buffers_fresh = atomic_load(&s->cache.fresh);
    st.chunks_delivered = atomic_load(&s->c_delivered);
    st.reads_fixed = atomic_load(&s->c_reads_fixed);
    /* Every run goes through the engine's one kernel. */
    st.mix_simd_frames = s->mix_run != shelf__mix_run_c ? st.mix_run_frames : 0;
    if (s->sched_started) {
        clockid_t cid;
        struct timespec ts;
        if (pthread_getcpuclockid(s->sched, &cid) == 0 && clock_gettime(cid, &ts) == 0)
            st.sched_cpu_seconds = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
    }
    pthread_mutex_lock(&s->cache.spare_lock);
    st.reserve_bytes = s->cache.res_size;
    st.reserve_used = s->cache.res_used;
    pthread_mutex_unlock(&s->cache.spare_lock);
    shelf__out_fill(out, &st, sizeof st);
}

void shelf_stream_take_interval(shelf_stream *s, shelf_stream_interval *out)
{
    uint64_t hist[SHELF__LAT_BUCKETS], n = 0;
    uint32_t fill;
    int i;

    for (i = 0; i < SHELF__LAT_BUCKETS; i++) {
        uint64_t now = atomic_load_explicit(&s->lat_hist[i], memory_order_relaxed);

        hist[i] = now - s->iv_hist[i];
        s->iv_hist[i] = now;
        n += hist[i];
    }
    memset(out, 0, sizeof *out);
    out->reads = n;
    out->lat_p50_us = shelf__lat_percentile(hist, n, 0.50);
    out->lat_p99_us = shelf__lat_percentile(hist, n, 0.99);
    out->lat_p999_us = shelf__lat_percentile(hist, n, 0.999);
    out->lat_max_us = (double)atomic_exchange(&s->lat_max_ns, 0) / 1000.0;
    fill = atomic_exchange(&s->min_fill_milli, 100000);
    out->min_fill_pct = fill > 1000 ? 100.0 : fill / 10.0;
}

/* ---- the audio thread ------------------------------------------------------ */

static shelf__voice *voice_of(shelf_stream *s, int voice)
{
    int slot = voice_slot(voice);
    shelf__voice *v;

    if (voice < 0 || slot >= s->nvoices)
        return NULL;
    v = &s->voices[slot];
    if (atomic_load_explicit(&v->state, memory_order_relaxed) != SHELF__V_ACTIVE ||
        voice_handle(v->gen, slot) != voice)
        return NULL;
    return v;
}

int shelf_stream_voice_start(shelf_stream *s, int id, int64_t offset, double pitch, float gain,
                             int priority)
{
    shelf__sample *sm;
    shelf__voice *v = NULL;
    int i, slot = -1;
    double step;

    if (id < 0 || id >= atomic_load_explicit(&s->nsamples, memory_order_acquire))
        return SHELF_EINVAL;
    sm = &s->samples[id];
    if (offset < 0 || offset >= sm->frames || !(pitch > 0 && pitch <= 16) || !(gain >= 0))
        return SHELF_EINVAL;
    for (i = 0; i < s->nvoices; i++) {
        if (atomic_load_explicit(&s->voices[i].state, memory_order_acquire) == SHELF__V_FREE) {
            slot = i;
            break;
        }
    }
    if (slot < 0)
        return SHELF_EBUSY;
    v = &s->voices[slot];
    v->gen++;
    v->sample = id;
    v->priority = priority;
    v->gain = gain;
    step = pitch * (double)sm->rate / (double)s->o.rate;
    v->step = (uint64_t)llround(step * 4294967296.0);
    if (v->step == 0)
        v->step = 1;
    v->seq = s->next_seq++;
    v->start_chunk = offset / sm->chunk_frames;
    v->loops = sm->loop_end > 0 && offset < sm->loop_end;
    v->rel_total = v->rel_left = 0;
    v->held = 1;
    v->turned = v->up = 0;
    v->cyc = 0;
    v->dropping = 0;
    v->starved = 0;
    v->played_any = 0;
    v->fade_in = v->fade_out = 0;
    v->last[0] = v->last[1] = 0;
    atomic_store_explicit(&v->pos, (uint64_t)offset << 32, memory_order_relaxed);
    atomic_store_explicit(&v->releasing, 0, memory_order_relaxed);
    atomic_store_explicit(&v->lap, 0, memory_order_relaxed);
    atomic_store_explicit(&v->level, gain, memory_order_relaxed);
    atomic_store_explicit(&v->drop, 0, memory_order_relaxed);
    atomic_store_explicit(&v->state, SHELF__V_ACTIVE, memory_order_release);
    s->order[s->norder++] = slot;
    atomic_fetch_add_explicit(&s->c_started, 1, memory_order_relaxed);
    {
        uint64_t active = atomic_fetch_add_explicit(&s->c_active, 1, memory_order_relaxed) + 1;
        uint64_t peak = atomic_load_explicit(&s->hl_peak_active, memory_order_relaxed);

        while (active > peak &&
               !atomic_compare_exchange_weak_explicit(&s->hl_peak_active, &peak, active,
                                                      memory_order_relaxed, memory_order_relaxed))
            ;
    }
    return voice_handle(v->gen, slot);
}

void shelf_stream_voice_release(shelf_stream *s, int voice, uint32_t release_frames)
{
    shelf__voice *v = voice_of(s, voice);

    if (!v || v->rel_total)
        return;
    v->held = 0;
    if (release_frames != SHELF_STREAM_PLAY_OUT)
        v->rel_total = v->rel_left = release_frames ? release_frames : 1;
    if (v->turned) {
        /* Forward from here; the scheduler sees the new lap with the
         * release (stored after it). */
        uint64_t pos, lap = atomic_load_explicit(&v->lap, memory_order_relaxed);
        unturn(&s->samples[v->sample], v, &pos, &lap);
        atomic_store_explicit(&v->pos, pos, memory_order_relaxed);
        atomic_store_explicit(&v->lap, lap, memory_order_relaxed);
    }
    atomic_store_explicit(&v->releasing, 1, memory_order_release);
}

/* The chunk that holds source frame i of loop lap `lap`, or NULL (*gap = 1
 * when it was lost).  pop: chunks before i's are done with and leave the
 * ring. */
static const float *frame_at(shelf_stream *s, shelf__sample *sm, shelf__voice *v, int64_t i,
                             uint64_t lap, int pop, int *gap)
{
    int64_t k = i / sm->chunk_frames, key = lap_key(sm, lap, k);
    shelf__chunk *ch;
    uint32_t n, j;

    if (k < (int64_t)sm->head_chunks)
        return sm->head[k]->data + (size_t)(i - k * sm->chunk_frames) * (size_t)sm->channels;
    if ((ch = loop_ram_chunk(sm, k))) {
        shelf__ringitem *it;
        /* Chunks of the lap before a wrap are done with: make room. */
        while (pop && (it = shelf__ring_peek(&v->ring, 0)) &&
               lapk_cmp(it->lap, it->k, lap, key) < 0) {
            release_ref(it->ch);
            shelf__ring_pop(&v->ring);
        }
        atomic_fetch_add_explicit(&s->c_loop_ram, 1, memory_order_relaxed);
        return ch->data + (size_t)(i - k * sm->chunk_frames) * (size_t)sm->channels;
    }
    n = shelf__ring_count(&v->ring);
    for (j = 0; j < n; j++) {
        shelf__ringitem *it = shelf__ring_peek(&v->ring, j);
        int c = lapk_cmp(it->lap, it->k, lap, key);
        if (c < 0 && pop && j == 0) {
            release_ref(it->ch);
            shelf__ring_pop(&v->ring);
            n--;
            j = (uint32_t)-1;
            continue;
        }
        if (c == 0) {
            if (!it->data) {
                *gap = 1;
                return NULL;
            }
            return it->data + (size_t)(i - k * sm->chunk_frames) * (size_t)sm->channels;
        }
        if (c > 0)
            break;
    }
    return NULL;
}

/*
 * Ring fill of v in 0.1 % (1000 = full), or -1 while it plays its head.
 * Full means the ring holds as much as it can, or everything the voice
 * still has to play: a voice near the end of its sample is not short of
 * data just because little is left.
 */
static int ring_fill(shelf_stream *s, shelf__sample *sm, shelf__voice *v, int64_t i)
{
    uint32_t n = shelf__ring_count(&v->ring);
    shelf__ringitem *last;
    int64_t ahead, need;
    int walk = 0;

    if (i / sm->chunk_frames < (int64_t)sm->head_chunks || sm->head_chunks >= sm->nchunks ||
        i >= sm->frames)
        return -1;
    /* Held in a backward or alternating loop, it plays from RAM and its
     * ring stays empty by design, unless the loop streams (then: in its
     * turns, from RAM too; in the walk, ahead in the walk's order). */
    if (v->loops && v->held && !v->rel_total && sm->loop_mode != SHELF_LOOP_FORWARD &&
        i >= sm->loop_start) {
        if (!sm->loop_walk || chunk_in_ram(sm, i / sm->chunk_frames))
            return -1;
        walk = v->turned;
    }
    need = (int64_t)s->o.ring_chunks * sm->chunk_frames;
    if (!walk && need > sm->frames - i)
        need = sm->frames - i;
    if (!n)
        return 0;
    last = shelf__ring_peek(&v->ring, n - 1);
    if (walk) {
        /* a key is its own inverse: lap_key gives the chunk back */
        ahead = walk_ahead(sm, atomic_load_explicit(&v->lap, memory_order_relaxed), i, last->lap,
                           lap_key(sm, last->lap, last->k)) + sm->chunk_frames;
    } else {
        ahead = (last->k + 1) * (int64_t)sm->chunk_frames;
        if (ahead > sm->frames)
            ahead = sm->frames;
        ahead -= i;
    }
    if (ahead <= 0)
        return 0;
    return ahead >= need ? 1000 : (int)(ahead * 1000 / need);
}

/* The source frame a turned voice is at (see shelf__voice), and in *next
 * the frame after it in play order. */
static int64_t turned_frame(const shelf__sample *sm, const shelf__voice *v, int64_t *next)
{
    int64_t n = (int64_t)(v->cyc >> 32), i;

    if (v->up) {
        i = sm->loop_start + n;
        *next = i + 1;
    } else {
        i = sm->loop_end - 1 - n;
        *next = i > sm->loop_start ? i - 1 : sm->loop_end - 1;
    }
    return i;
}

/* Bring a turned voice's cyc back into its segment of seg (32.32) frames,
 * each segment boundary a turn of an alternating loop (alt = 1) or a
 * backward loop's jump; returns how many it crossed.  seg is at least a
 * frame while the voice is held (it is 0 only for a voice not turned). */
static uint64_t turned_wrap(shelf__voice *v, uint64_t seg, int alt)
{
    uint64_t n;

    if (!seg || v->cyc < seg)
        return 0;
    n = v->cyc / seg;
    v->cyc -= n * seg;
    v->up ^= alt & (int)(n & 1);
    return n;
}

/* Where a turned voice is, as a forward position (32.32): between two
 * frames it is the point between them; in a backward loop's jump from its
 * start to its end, the start. */
static uint64_t turned_pos(const shelf__sample *sm, const shelf__voice *v)
{
    int64_t next, i = turned_frame(sm, v, &next);
    uint32_t fr = (uint32_t)v->cyc;

    if (next == i + 1)
        return ((uint64_t)i << 32) + fr;
    if (next == i - 1)
        return ((uint64_t)i << 32) - fr;
    return (uint64_t)i << 32;
}

/*
 * Drop from v's ring every item before (lap, key) in play order, wherever
 * it is: after a release from a streamed loop's walk, items the scheduler
 * read ahead on the walk may sit behind the one the voice plays.  The
 * others keep their order.  Audio thread (the ring's consumer: the items
 * it has not popped are its own).
 */
static void prune_ring(shelf__voice *v, uint64_t lap, int64_t key)
{
    shelf__ringitem keep[65];   /* ring_chunks + 1 at most */
    uint32_t n = shelf__ring_count(&v->ring), m = 0, j;

    for (j = 0; j < n; j++) {
        shelf__ringitem *it = shelf__ring_peek(&v->ring, j);
        if (lapk_cmp(it->lap, it->k, lap, key) >= 0)
            keep[m++] = *it;
        else
            release_ref(it->ch);
    }
    for (j = 0; j < m; j++)
        *(shelf__ringitem *)shelf__ring_peek(&v->ring, n - m + j) = keep[j];
    for (j = 0; j < n - m; j++)
        shelf__ring_pop(&v->ring);
}

/*
 * A turned voice leaves its loop (released or dropped) and plays forward
 * from where it is (turned_pos).  In a streamed loop it starts a lap of
 * its own (SHELF__LAP_FWD), which the scheduler reads for from the chunk
 * it is in: the ring's item for that chunk, if it has one, becomes the
 * first of the new lap (so it plays on from it at once), and the walk
 * read ahead leaves the ring.  Audio thread.
 */
static void unturn(shelf__sample *sm, shelf__voice *v, uint64_t *pos, uint64_t *lap)
{
    uint64_t nl = (*lap + 1) | SHELF__LAP_FWD;
    int64_t k;
    uint32_t n, j;

    *pos = turned_pos(sm, v);
    v->turned = 0;
    if (!sm->loop_walk)
        return;
    k = (int64_t)(*pos >> 32) / sm->chunk_frames;
    n = shelf__ring_count(&v->ring);
    for (j = 0; j < n; j++) {
        shelf__ringitem *it = shelf__ring_peek(&v->ring, j);
        if (it->lap == *lap && it->k == lap_key(sm, *lap, k) && it->ch) {
            it->lap = nl;
            it->k = k;
            break;
        }
    }
    prune_ring(v, nl, k);
    *lap = nl;
}

/* The scheduler asked to drop v (the disk fell behind): fade it out in
 * DROP_MS, or sooner when its release ends sooner. */
static void take_drop(shelf_stream *s, shelf__voice *v)
{
    if (!v->dropping && atomic_load_explicit(&v->drop, memory_order_relaxed)) {
        uint32_t fast = (uint32_t)(s->o.rate * DROP_MS / 1000);
        v->dropping = 1;
        if (!v->rel_total || v->rel_left > fast)
            v->rel_total = v->rel_left = fast;
        atomic_fetch_add_explicit(&s->c_dropped, 1, memory_order_relaxed);
    }
}

/* v has no data for n frames (gap: a lost chunk, counted where it was
 * lost).  The first frame of a miss is a not-ready start, or an underrun
 * once the voice has played; returns 1 there. */
static int note_miss(shelf_stream *s, shelf__sample *sm, shelf__voice *v, int gap, uint64_t n)
{
    int first = !v->starved;

    if (first) {
        v->starved = 1;
        if (!gap)
            atomic_fetch_add_explicit(v->played_any ? &s->c_underruns : &s->c_not_ready, 1,
                                      memory_order_relaxed);
        if (!gap && v->played_any)
            atomic_fetch_add_explicit(&sm->underruns, 1, memory_order_relaxed);
    }
    if (!gap)
        atomic_fetch_add_explicit(&s->c_underrun_frames, n, memory_order_relaxed);
    return first;
}

/*
 * What a block's voices add to the shared counters and marks, added once
 * a block by tally_flush: a locked add or a load per voice, on lines the
 * scheduler and the reads write too, was a quarter of the mix's time at
 * 4,000 voices (each one waited for the line to come back from the other
 * core).
 */
typedef struct {
    uint64_t mix, run, wraps, copied; /* c_mix_frames, c_mix_run_frames, c_loop_wraps, c_feed_frames */
    uint32_t fill;                    /* lowest ring fill, 0.1 % (UINT32_MAX: none) */
} blk_tally;

#define BLK_TALLY_INIT { 0, 0, 0, 0, UINT32_MAX }

static void fill_mark(_Atomic uint32_t *mark, uint32_t fill)
{
    uint32_t cur = atomic_load_explicit(mark, memory_order_relaxed);

    while (fill < cur &&
           !atomic_compare_exchange_weak_explicit(mark, &cur, fill, memory_order_relaxed, memory_order_relaxed))
        ;
}

static void tally_flush(shelf_stream *s, const blk_tally *t)
{
    if (t->mix)
        atomic_fetch_add_explicit(&s->c_mix_frames, t->mix, memory_order_relaxed);
    if (t->run)
        atomic_fetch_add_explicit(&s->c_mix_run_frames, t->run, memory_order_relaxed);
    if (t->wraps)
        atomic_fetch_add_explicit(&s->c_loop_wraps, t->wraps, memory_order_relaxed);
    if (t->copied)
        atomic_fetch_add_explicit(&s->c_feed_frames, t->copied, memory_order_relaxed);
    if (t->fill != UINT32_MAX) {
        fill_mark(&s->min_fill_milli, t->fill);
        fill_mark(&s->hl_fill_milli, t->fill);
    }
}

/* The end of a block of v at pos: note its ring fill in t, or hand an
 * ended voice to the scheduler.  Returns 0 once ended. */
static int block_done(shelf_stream *s, shelf__sample *sm, shelf__voice *v, uint64_t pos, int ended,
                      blk_tally *t)
{
    int fill;

    if (!ended && (fill = ring_fill(s, sm, v, (int64_t)(pos >> 32))) >= 0 && (uint32_t)fill < t->fill)
        t->fill = (uint32_t)fill;
    if (ended) {
        /* The ring now belongs to the scheduler, which drains and frees it. */
        atomic_store_explicit(&v->state, SHELF__V_STOPPING, memory_order_release);
        atomic_fetch_sub_explicit(&s->c_active, 1, memory_order_relaxed);
        return 0;
    }
    return 1;
}

/* Runs shorter than this take the general loop (its checks cost less than
 * setting a run up). */
#define MIX_RUN_MIN 4

/* 0 renders every frame through the general loop (tests compare the two). */
int shelf__stream_mix_runs = 1;

/* How many steps from pos (32.32, by step) keep the frame, and the one the
 * run ends at, at most last; at most left. */
static uint32_t run_steps(uint64_t pos, uint64_t step, int64_t last, uint32_t left)
{
    uint64_t room, n;

    if (last < 0 || (int64_t)(pos >> 32) > last)
        return 0;
    room = (((uint64_t)last << 32) | 0xffffffffu) - pos;
    if (!step)
        return left;
    n = room / step;            /* steps until the one past last */
    return n < left ? (uint32_t)n : left;
}

/* Add frames of v to out, its counts to t; returns 0 once the voice has
 * ended. */
static int render_voice(shelf_stream *s, shelf__voice *v, uint32_t frames, float *out, blk_tally *t)
{
    shelf__sample *sm = &s->samples[v->sample];
    uint64_t pos = atomic_load_explicit(&v->pos, memory_order_relaxed);
    int ch = sm->channels, ended = 0;
    uint32_t f;
    float env = 1.0f;
    int64_t cstart = 0, cend = 0;   /* frames [cstart, cend) of the chunk cbase is */
    const float *cbase = NULL;
    uint64_t lap = atomic_load_explicit(&v->lap, memory_order_relaxed);
    /* While held, a looping voice wraps at lend (a release happens between
     * blocks, so this holds for the block). */
    int64_t lend = v->loops && v->held && !v->rel_total && sm->loop_mode == SHELF_LOOP_FORWARD
                       ? sm->loop_end
                       : 0;
    uint64_t llen = (uint64_t)(sm->loop_end - sm->loop_start) << 32;
    int64_t xf_at = lend && sm->loop_xfade ? lend - sm->loop_xfade : INT64_MAX;
    /* While held, a backward or alternating loop turns at its last frame
     * tend and then walks the loop in segments of seg (32.32). */
    int64_t tend = -1;
    uint64_t seg = 0, wraps = 0;
    int alt = sm->loop_mode == SHELF_LOOP_ALTERNATING;
    /* A held backward loop with a crossfade mixes, over the last F frames
     * of play before its jump (start + F - 1 down to start), the F frames
     * after its end walked down (frame i with i + (end - start)), which
     * lead into end - 1 where it jumps to. */
    int64_t bxf_top = -1;
    uint32_t run_frames = 0;

    take_drop(s, v);
    /* Out of a streamed walk: the walk read ahead leaves the ring. */
    if (sm->loop_walk && (lap & SHELF__LAP_FWD))
        prune_ring(v, lap, INT64_MIN);
    if (v->loops && sm->loop_mode != SHELF_LOOP_FORWARD) {
        if (v->held && !v->rel_total) {
            tend = sm->loop_end - 1;
            seg = (uint64_t)(sm->loop_end - sm->loop_start - alt) << 32;
            if (!alt && sm->loop_xfade)
                bxf_top = sm->loop_start + sm->loop_xfade - 1;
        } else if (v->turned) {
            /* Dropped: forward from where it is. */
            unturn(sm, v, &pos, &lap);
        }
    }
    for (f = 0; f < frames; f++) {
        int64_t i, inext;
        uint32_t ifrac;
        const float *a, *b;
        int gap = 0;
        float l, r;

        /* The common case in a run: both frames of every step in the chunk
         * at hand, no turn, wrap, crossfade, release or fade.  The same
         * arithmetic in a loop without the checks (mix_run). */
        if (cbase && tend < 0 && !v->rel_total && !v->starved && !v->fade_in &&
            shelf__stream_mix_runs && (int64_t)(pos >> 32) >= cstart) {
            int64_t top = cend < sm->frames ? cend : sm->frames;
            uint32_t m;

            if (lend && lend < top)
                top = lend;
            if (xf_at < top - 1)
                top = xf_at + 1;
            /* every step k of the run, and the one after it, at i <= top - 2 */
            if ((m = run_steps(pos, v->step, top - 2, frames - f)) >= MIX_RUN_MIN) {
                pos = s->mix_run(cbase, cstart, ch, pos, v->step, v->gain * env, m, out + 2 * f, v->last);
                v->played_any = 1;
                run_frames += m;
                f += m - 1;
                continue;
            }
        }
        if (tend >= 0 && !v->turned && (int64_t)(pos >> 32) >= tend) {
            /* At the loop's last frame: turn there. */
            uint64_t w;
            v->turned = 1;
            v->up = 0;
            v->cyc = pos - ((uint64_t)tend << 32);
            w = 1 + turned_wrap(v, seg, alt);
            wraps += w;
            if (sm->loop_walk)
                lap += w;   /* the walk's laps: the turn, and any turn crossed since */
        }
        if (v->turned) {
            i = turned_frame(sm, v, &inext);
            ifrac = (uint32_t)v->cyc;
        } else {
            i = (int64_t)(pos >> 32);
            inext = i + 1;
            ifrac = (uint32_t)pos;
        }
        if (i >= sm->frames || (v->rel_total && v->rel_left == 0)) {
            ended = 1;
            break;
        }
        /* Look a chunk up once, not twice per frame: inside it, frames are
         * at fixed strides (the arithmetic below is the same either way,
         * so renders stay bit-identical).  A chunk not there yet is looked
         * up again on the next frame, as it may arrive meanwhile. */
        if (cbase && i >= cstart && i < cend) {
            a = cbase + (size_t)(i - cstart) * (size_t)ch;
        } else {
            a = frame_at(s, sm, v, i, lap, 1, &gap);
            cstart = i / sm->chunk_frames * sm->chunk_frames;
            cend = cstart + sm->chunk_frames;
            cbase = a ? a - (size_t)(i - cstart) * (size_t)ch : NULL;
        }
        if (a && lend && i + 1 >= lend)
            b = frame_at(s, sm, v, sm->loop_start, lap + 1, 0, &gap);  /* RAM */
        else if (!a || inext >= sm->frames)
            b = NULL;
        else if (inext >= cstart && inext < cend)
            b = cbase + (size_t)(inext - cstart) * (size_t)ch;
        else
            b = frame_at(s, sm, v, inext, lap, 0, &gap);
        if (!b) {
            /* The last frame, or the next one is missing: hold this one. */
            b = a;
            gap = a ? 0 : gap;
        }
        if (v->rel_total) {
            env = (float)v->rel_left / (float)v->rel_total;
            v->rel_left--;
        }
        if (!a || !b) {
            if (note_miss(s, sm, v, gap, 1))
                v->fade_out = SHELF__FADE;
            if (v->fade_out) {
                float g = (float)v->fade_out / (float)(SHELF__FADE + 1);
                out[2 * f] += v->last[0] * g;
                out[2 * f + 1] += v->last[1] * g;
                v->fade_out--;
            }
        } else {
            float frac = (float)ifrac * (1.0f / 4294967296.0f);
            float g = v->gain * env;
            if (v->starved) {
                v->starved = 0;
                v->fade_in = SHELF__FADE;
            }
            if (v->fade_in) {
                g *= (float)(SHELF__FADE + 1 - v->fade_in) / (float)(SHELF__FADE + 1);
                v->fade_in--;
            }
            l = a[0] + (b[0] - a[0]) * frac;
            r = ch > 1 ? a[1] + (b[1] - a[1]) * frac : l;
            if (i >= xf_at) {
                /* Crossfade: the loop's end fades into the frames before
                 * its start (in RAM), which lead into the start itself. */
                int64_t back = sm->loop_end - sm->loop_start;
                const float *a2 = frame_at(s, sm, v, i - back, lap, 0, &gap);
                const float *b2 = frame_at(s, sm, v, i + 1 - back, lap, 0, &gap);
                float w = (float)(i - xf_at) / (float)sm->loop_xfade;
                float l2 = a2[0] + (b2[0] - a2[0]) * frac;
                float r2 = ch > 1 ? a2[1] + (b2[1] - a2[1]) * frac : l2;
                l = l * (1.0f - w) + l2 * w;
                r = r * (1.0f - w) + r2 * w;
            } else if (v->turned && i <= bxf_top) {
                /* The same over a backward loop's jump: the frames after
                 * its end (in RAM), walked down, fade in (weight
                 * (start + F - 1 - i) / F); the one after frame start
                 * in play order is end - 1 for both. */
                int64_t fwd = sm->loop_end - sm->loop_start;
                const float *a2 = frame_at(s, sm, v, i + fwd, lap, 0, &gap);
                const float *b2 = frame_at(s, sm, v, i - 1 + fwd, lap, 0, &gap);
                float w = (float)(bxf_top - i) / (float)sm->loop_xfade;
                float l2 = a2[0] + (b2[0] - a2[0]) * frac;
                float r2 = ch > 1 ? a2[1] + (b2[1] - a2[1]) * frac : l2;
                l = l * (1.0f - w) + l2 * w;
                r = r * (1.0f - w) + r2 * w;
            }
            l *= g;
            r *= g;
            out[2 * f] += l;
            out[2 * f + 1] += r;
            v->last[0] = l;
            v->last[1] = r;
            v->played_any = 1;
        }
        if (v->turned) {
            uint64_t w;
            v->cyc += v->step;
            w = turned_wrap(v, seg, alt);
            wraps += w;
            if (sm->loop_walk)
                lap += w;
        } else {
            pos += v->step;
            while (lend && (int64_t)(pos >> 32) >= lend) {
                pos -= llen;
                lap++;
                wraps++;
            }
        }
    }
    if (v->turned)
        pos = turned_pos(sm, v);
    t->wraps += wraps;
    atomic_store_explicit(&v->pos, pos, memory_order_release);
    atomic_store_explicit(&v->lap, lap, memory_order_release);
    atomic_store_explicit(&v->level, v->gain * env, memory_order_relaxed);
    t->mix += f;
    t->run += run_frames;
    return block_done(s, sm, v, pos, ended, t);
}

static void order_remove(shelf_stream *s, int slot)
{
    int i, j = 0;

    for (i = 0; i < s->norder; i++)
        if (s->order[i] != slot)
            s->order[j++] = s->order[i];
    s->norder = j;
}

int shelf_stream_voice_render(shelf_stream *s, int voice, uint32_t frames, float *out)
{
    shelf__voice *v = voice_of(s, voice);
    blk_tally t = BLK_TALLY_INIT;
    int on;

    if (!v)
        return 0;
    atomic_fetch_add_explicit(&s->c_voice_frames, frames, memory_order_relaxed);
    on = render_voice(s, v, frames, out, &t);
    tally_flush(s, &t);
    if (!on)
        order_remove(s, voice_slot(voice));
    return on;
}

/*
 * Ask for the memory a block of v reads, voices ahead of the one at hand
 * (the mix and the feed): each voice reads its own block of a different
 * chunk, through a chain of loads (the voice, its ring's item, the
 * frames), and without this the feed's copy waited on memory for most of
 * its time (78% of the callback in memmove at 3,900 voices), the mix for
 * a quarter of its time on the frames' first loads.  Each stage loads
 * only what an earlier stage asked for: stage 2 the voice (16 voices
 * ahead), 1 its ring's first items and its sample (8 ahead), 0 the
 * frames its block reads from its chunk (2 ahead).  A ring item holds its
 * chunk's frames, so the chunk itself is not on the way (it was a stage
 * of its own, 4 ahead, until 2026-12-07).  Reads only; never pops; not
 * the frames of a looping voice (its look-ups in a loop's RAM count).
 */
static void voice_prefetch(shelf_stream *s, shelf__voice *v, uint32_t frames, int stage)
{
    const char *p;
    shelf__sample *sm;
    const float *a;
    uint64_t pos;
    uint32_t t, j;
    int64_t i0, i1, cend;
    size_t bytes, off;
    int gap = 0;

    switch (stage) {
    case 2:
        for (p = (const char *)v; p < (const char *)(v + 1); p += 64)
            __builtin_prefetch(p);
        return;
    case 1:
        t = atomic_load_explicit(&v->ring.tail, memory_order_relaxed);
        for (j = 0; j < 2; j++)
            __builtin_prefetch(v->ring.buf + (size_t)((t + j) & v->ring.mask) * v->ring.item);
        __builtin_prefetch(&s->samples[v->sample]);
        return;
    default:
        break;
    }
    if (v->loops)
        return;
    sm = &s->samples[v->sample];
    pos = atomic_load_explicit(&v->pos, memory_order_relaxed);
    i0 = (int64_t)(pos >> 32);
    if (i0 >= sm->frames ||
        !(a = frame_at(s, sm, v, i0, atomic_load_explicit(&v->lap, memory_order_relaxed), 0, &gap)))
        return;
    /* the frames the block steps over and the one after, in this chunk */
    i1 = (int64_t)((pos + v->step * frames) >> 32) + 2;
    cend = (i0 / sm->chunk_frames + 1) * sm->chunk_frames;
    if (i1 > cend)
        i1 = cend;
    bytes = (size_t)(i1 - i0) * (size_t)sm->channels * sizeof *a;
    for (off = 0; off < bytes; off += 64)
        __builtin_prefetch((const char *)a + off);
}

/* Voices ahead of the one at hand whose memory is asked for: see
 * voice_prefetch. */
#define VOICE_AHEAD 16
static const int voice_ahead[3] = { 2, 8, VOICE_AHEAD };

static void prefetch_ahead(shelf_stream *s, int i, uint32_t frames)
{
    int st;

    for (st = 2; st >= 0; st--)
        if (i + voice_ahead[st] >= 0 && i + voice_ahead[st] < s->norder)
            voice_prefetch(s, &s->voices[s->order[i + voice_ahead[st]]], frames, st);
}

int shelf_stream_render(shelf_stream *s, uint32_t frames, float *out)
{
    blk_tally t = BLK_TALLY_INIT;
    int i, j = 0;

    memset(out, 0, (size_t)frames * 2 * sizeof *out);
    atomic_fetch_add_explicit(&s->c_voice_frames, (uint64_t)frames * (uint64_t)s->norder,
                              memory_order_relaxed);
    for (i = -VOICE_AHEAD; i < s->norder; i++) {
        int slot;

        prefetch_ahead(s, i, frames);
        if (i < 0)
            continue;
        slot = s->order[i];
        if (render_voice(s, &s->voices[slot], frames, out, &t))
            s->order[j++] = slot;
    }
    s->norder = j;
    tally_flush(s, &t);
    atomic_fetch_add_explicit(&s->c_blocks, 1, memory_order_relaxed);
    return j;
}

/* ---- feed only (the storage side alone) ------------------------------------- */

/*
 * Consume frames output frames of v as render_voice would (the same
 * positions, releases, drops, ring pops and misses) but only copy its
 * source frames out of the head, loop RAM or ring into feed_buf, a chunk
 * at a time: no interpolation, gain, fade or mix.  A looping voice (its
 * walk turns and wraps) is rendered into feed_buf instead.  Returns 0
 * once the voice has ended.
 */
static int feed_voice(shelf_stream *s, shelf__voice *v, uint32_t frames, blk_tally *t)
{
    shelf__sample *sm = &s->samples[v->sample];
    uint64_t pos = atomic_load_explicit(&v->pos, memory_order_relaxed);
    uint64_t lap = atomic_load_explicit(&v->lap, memory_order_relaxed), copied = 0;
    int64_t i, i1, cf = sm->chunk_frames, per = SHELF__FEED_FLOATS / sm->channels;
    uint32_t n = frames;
    int ended = 0;

    if (v->loops) {
        uint32_t half = SHELF__FEED_FLOATS / 4, done;
        for (done = 0; done < frames; done += half) {
            uint32_t m = frames - done < half ? frames - done : half;
            if (!render_voice(s, v, m, s->feed_buf, t))
                return 0;
        }
        return 1;
    }
    take_drop(s, v);
    if (v->rel_total) {
        /* The release's frames play, then the voice ends. */
        if (v->rel_left < n) {
            n = v->rel_left;
            ended = 1;
        }
        v->rel_left -= n;
    }
    i1 = (int64_t)((pos + v->step * n) >> 32);
    if (i1 >= sm->frames) {
        i1 = sm->frames;
        ended = 1;
    }
    for (i = (int64_t)(pos >> 32); i < i1;) {
        int64_t end = (i / cf + 1) * cf;
        int gap = 0;
        const float *a = frame_at(s, sm, v, i, lap, 1, &gap);

        if (end > i1)
            end = i1;
        if (!a) {
            note_miss(s, sm, v, gap, (uint64_t)(end - i));
            i = end;
            continue;
        }
        v->starved = 0;
        v->played_any = 1;
        copied += (uint64_t)(end - i);
        while (i < end) {
            int64_t m = end - i < per ? end - i : per;
            memcpy(s->feed_buf, a, (size_t)m * (size_t)sm->channels * sizeof *a);
            a += m * sm->channels;
            i += m;
        }
    }
    pos += v->step * n;
    t->copied += copied;
    atomic_store_explicit(&v->pos, pos, memory_order_release);
    atomic_store_explicit(&v->level, v->gain, memory_order_relaxed);
    return block_done(s, sm, v, pos, ended, t);
}

int shelf_stream_feed(shelf_stream *s, uint32_t frames)
{
    blk_tally t = BLK_TALLY_INIT;
    int i, j = 0;

    atomic_fetch_add_explicit(&s->c_voice_frames, (uint64_t)frames * (uint64_t)s->norder,
                              memory_order_relaxed);
    for (i = -VOICE_AHEAD; i < s->norder; i++) {
        prefetch_ahead(s, i, frames);
        if (i >= 0 && feed_voice(s, &s->voices[s->order[i]], frames, &t))
            s->order[j++] = s->order[i];
    }
    s->norder = j;
    tally_flush(s, &t);
    atomic_fetch_add_explicit(&s->c_blocks, 1, memory_order_relaxed);
    return j;
}

/* ---- offline waits --------------------------------------------------------- */

/* 1 when v's ring holds the item (lap, key). */
static int ring_has(shelf__voice *v, uint64_t lap, int64_t key)
{
    uint32_t j, n = shelf__ring_count(&v->ring);

    for (j = 0; j < n; j++) {
        shelf__ringitem *it = shelf__ring_peek(&v->ring, j);
        if (it->k == key && it->lap == lap)
            return 1;
    }
    return 0;
}

/* 1 when a held voice turned in a streamed loop has the chunks of its
 * next frames (at most 2 frames more than frames steps along its walk,
 * which turns only in RAM). */
static int walk_ready(shelf__sample *sm, shelf__voice *v, uint64_t lap, uint32_t frames)
{
    int64_t nx, x = turned_frame(sm, v, &nx), left = (int64_t)((v->step * frames) >> 32) + 2;
    int64_t c = sm->chunk_frames;
    int down = !v->up;

    prune_ring(v, lap, lap_key(sm, lap, x / c));
    while (left > 0) {
        int64_t k = x / c, n;
        if (!chunk_in_ram(sm, k) && !ring_has(v, lap, lap_key(sm, lap, k)))
            return 0;
        if (down) {
            n = x - (k * c > sm->loop_start ? k * c : sm->loop_start);
            x -= n;
        } else {
            n = (k * c + c - 1 < sm->loop_end - 1 ? k * c + c - 1 : sm->loop_end - 1) - x;
            x += n;
        }
        left -= n + 1;
        if (left <= 0)
            break;
        /* One frame on, into the next chunk or over a turn. */
        if (down && x == sm->loop_start) {
            lap++;
            if (sm->loop_mode == SHELF_LOOP_BACKWARD) {
                x = sm->loop_end - 1;
            } else {
                x++;
                down = 0;
            }
        } else if (!down && x == sm->loop_end - 1) {
            lap++;
            x--;
            down = 1;
        } else {
            x += down ? -1 : 1;
        }
    }
    return 1;
}

/* 1 when every voice has the chunks for its next frames. */
static int ready_for(shelf_stream *s, uint32_t frames)
{
    int i;

    for (i = 0; i < s->nvoices; i++)
        if (atomic_load_explicit(&s->voices[i].state, memory_order_acquire) == SHELF__V_STOPPING)
            return 0;
    for (i = 0; i < s->norder; i++) {
        shelf__voice *v = &s->voices[s->order[i]];
        shelf__sample *sm = &s->samples[v->sample];
        uint64_t pos = atomic_load_explicit(&v->pos, memory_order_relaxed);
        uint64_t lap = atomic_load_explicit(&v->lap, memory_order_relaxed);
        int64_t i0 = (int64_t)(pos >> 32), i1 = (int64_t)((pos + v->step * frames) >> 32) + 1;
        int64_t k, k0, k1;

        if (i1 >= sm->frames)
            i1 = sm->frames - 1;
        /* Past a held loop's end the frames come from its RAM start (a
         * backward or alternating one turns in RAM). */
        if (v->loops && v->held && !v->rel_total && i1 >= sm->loop_end)
            i1 = sm->loop_end - 1;
        if (v->turned && sm->loop_walk) {
            if (!walk_ready(sm, v, lap, frames))
                return 0;
            continue;
        }
        k0 = i0 / sm->chunk_frames;
        k1 = i1 / sm->chunk_frames;
        /* Done-with chunks leave the ring, so the scheduler has room. */
        prune_ring(v, lap, lap_key(sm, lap, k0));
        for (k = skip_ram(sm, k0); k <= k1; k = skip_ram(sm, k + 1))
            if (!ring_has(v, lap, lap_key(sm, lap, k)))
                return 0;
    }
    return 1;
}

int shelf_stream_wait_ready(shelf_stream *s, uint32_t frames)
{
    while (!ready_for(s, frames)) {
        struct timespec ts;

        if (atomic_load(&s->quit))
            return SHELF_EIO;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 2000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_mutex_lock(&s->wlock);
        pthread_cond_signal(&s->wcond);
        pthread_cond_timedwait(&s->rcond, &s->wlock, &ts);
        pthread_mutex_unlock(&s->wlock);
    }
    return SHELF_OK;
}

/* ---- the scheduler ---------------------------------------------------------- */


/*
 * The order reads go out in, three tiers:
 *  1. voices whose data runs out within SOON_S, earliest deadline first;
 *  2. voices already late: new starts, and voices starving; the longest
 *     waiting first;
 *  3. the other refills, earliest deadline first.
 * A read for a voice already starving cannot save the gap it is in;
 * sent before tier 1, it makes the next voice late too, and at a burst
 * (a few thousand voices starting at once, a stall of the disk) every
 * voice ended up starving in turn and the engine never caught up.  But
 * a ring holds seconds: refills with time to spare (tier 3) wait for
 * the starts, or at the limit a start waited for seconds behind them,
 * past the end of a pre-roll.  Late ones go oldest first, so none waits
 * for ever (least late first left a start that missed its pre-roll
 * waiting through a whole run).  want_tier gives 0, 1 or 2 for tiers
 * 1, 2 and 3.
 */
static int want_tier(double dry)
{
    return dry < 0 ? 1 : dry < SOON_S ? 0 : 2;
}

static int cmp_want(const void *a, const void *b)
{
    const want *x = a, *y = b;
    int xt = want_tier(x->dry), yt = want_tier(y->dry);

    if (xt != yt)
        return xt - yt;
    if (x->dry != y->dry)
        return x->dry < y->dry ? -1 : 1;
    return x->voice - y->voice;
}

/*
 * Bring the m first of w[0..n) in cmp_want's order to w[0..m), in that
 * order; the rest stay in no order.  A pass sends a few reads (the free
 * places in the queue) of the thousands of voices that want one when the
 * disk falls behind: sorting them all was a third of the scheduler
 * thread's time at 3,900 voices.  A quickselect (Hoare's partition,
 * middle pivot; cmp_want is a total order, ties going by voice) places
 * the m-th, then the m are sorted: O(n) on average.
 */
static void wants_first(want *w, int n, int m)
{
    int lo = 0, hi = n - 1, k = m - 1;

    if (m <= 0)
        return;
    if (m >= n) {
        qsort(w, (size_t)n, sizeof *w, cmp_want);
        return;
    }
    while (lo < hi) {
        want pivot = w[lo + (hi - lo) / 2], t;
        int i = lo, j = hi;
        while (i <= j) {
            while (cmp_want(&w[i], &pivot) < 0)
                i++;
            while (cmp_want(&w[j], &pivot) > 0)
                j--;
            if (i <= j) {
                t = w[i], w[i] = w[j], w[j] = t;
                i++, j--;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            break;
    }
    qsort(w, (size_t)m, sizeof *w, cmp_want);
}

void shelf__stream_order_dry(double *dry, size_t n, size_t m)
{
    want *w = shelf__calloc(n ? n : 1, sizeof *w);
    size_t i;

    if (!w)
        return;
    for (i = 0; i < n; i++) {
        w[i].voice = (int)i;
        w[i].dry = dry[i];
    }
    wants_first(w, (int)n, (int)m);
    for (i = 0; i < n; i++)
        dry[i] = w[i].dry;
    free(w);
}

/* Lower rank is dropped first: releasing, low priority, old, quiet. */
static int rank_less(const shelf__voice *a, const shelf__voice *b)
{
    int ra = atomic_load_explicit(&((shelf__voice *)a)->releasing, memory_order_relaxed);
    int rb = atomic_load_explicit(&((shelf__voice *)b)->releasing, memory_order_relaxed);
    float la, lb;

    if (ra != rb)
        return ra > rb;
    if (a->priority != b->priority)
        return a->priority < b->priority;
    if (a->seq != b->seq)
        return a->seq < b->seq;
    la = atomic_load_explicit(&((shelf__voice *)a)->level, memory_order_relaxed);
    lb = atomic_load_explicit(&((shelf__voice *)b)->level, memory_order_relaxed);
    return la < lb;
}

/* ---- failover (doc/streaming.md, "Failover and hot swap") ---------------- */

/* Queue a line for o.log; sched_main sends the queue after its pass,
 * outside the cache lock.  Scheduler thread. */
static void sched_log(shelf_stream *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sched_log(shelf_stream *s, const char *fmt, ...)
{
    va_list ap;

    if (!s->o.log)
        return;
    if (s->nlogq >= (int)(sizeof s->logq / sizeof s->logq[0])) {
        s->nlogq_more++;            /* told as one line after the pass */
        return;
    }
    va_start(ap, fmt);
    vsnprintf(s->logq[s->nlogq++], sizeof s->logq[0], fmt, ap);
    va_end(ap);
}

static shelf__fh *mirror_of(shelf__sample *sm)
{
    return atomic_load_explicit(&sm->mfh, memory_order_acquire);
}

/* Where a new read of sm goes: the mirror while the primary is down and
 * the mirror is not; the primary otherwise (both down: the primary, as a
 * sample without a mirror). */
static int medium_for(shelf__sample *sm)
{
    return sm->down && mirror_of(sm) && !sm->mdown ? SHELF__MIRROR : SHELF__PRIMARY;
}

/* Point r at a medium of its sample (the mirror only when there is one):
 * its files, with a reference.  Under the cache lock. */
static void req_route(shelf_stream *s, shelf__req *r, int medium)
{
    shelf__sample *sm = &s->samples[r->sample];
    shelf__fh *m = mirror_of(sm);

    shelf__fh_unref(s, r->fh);
    r->medium = medium == SHELF__MIRROR && m ? SHELF__MIRROR : SHELF__PRIMARY;
    r->fh = r->medium == SHELF__MIRROR ? m : sm->pfh;
    r->fh->refs++;
}

static void watch_remove(shelf_stream *s, shelf__req *r)
{
    if (r->wprev)
        r->wprev->wnext = r->wnext;
    else if (s->watch == r)
        s->watch = r->wnext;
    if (r->wnext)
        r->wnext->wprev = r->wprev;
    r->wprev = r->wnext = NULL;
}

/* The primary of sm failed (why): new reads go to its mirror, when it has
 * one that is not down itself, and a probe tries the primary again in
 * recheck_ms. */
static void mark_down(shelf_stream *s, shelf__sample *sm, const char *why, int e)
{
    if (sm->down)
        return;
    sm->down = 1;
    s->ndown++;
    sm->recheck_at = now_s() + s->o.recheck_ms / 1000.0;
    if (mirror_of(sm) && !sm->mdown) {
        atomic_fetch_add(&s->c_switches, 1);
        sched_log(s, "'%s' %s%s%s: reading its mirror '%s'", sm->path, why, e ? ": " : "",
                  e ? strerror(e) : "", sm->mpath);
    } else {
        sched_log(s, "'%s' %s%s%s (%s): trying it again every %u ms", sm->path, why,
                  e ? ": " : "", e ? strerror(e) : "",
                  mirror_of(sm) ? "its mirror is down too" : "no mirror", s->o.recheck_ms);
    }
}

/* The mirror of sm failed: its reads go to the primary (even while the
 * primary is down: it may be back before its probe noticed), and a probe
 * tries the mirror again in recheck_ms. */
static void mark_mirror_down(shelf_stream *s, shelf__sample *sm, int e)
{
    if (sm->mdown)
        return;
    sm->mdown = 1;
    s->ndown++;
    sm->mrecheck_at = now_s() + s->o.recheck_ms / 1000.0;
    atomic_fetch_add(&s->c_mirror_down, 1);
    sched_log(s, "mirror '%s' cannot be read%s%s: reading '%s'%s, trying the mirror again every %u ms",
              sm->mpath, e ? ": " : "", e ? strerror(e) : "", sm->path,
              sm->down ? " again" : "", s->o.recheck_ms);
}

/* A probe came back: on success (in time) the reopened files replace the
 * primary's and reads return to it; or those of the mirror, which takes
 * the reads again while the primary is down. */
static void probe_done(shelf_stream *s, shelf__sample *sm, shelf__req *r)
{
    double took = r->t_due - r->t_submit;
    int ok = r->res == 0 && r->newfh && took * 1000.0 <= s->o.failover_ms;

    atomic_fetch_add(&s->c_probes, 1);
    if (r->medium == SHELF__MIRROR) {
        sm->mprobing = 0;
        if (ok) {
            shelf__fh *old = mirror_of(sm);
            r->newfh->next = s->fhs;
            s->fhs = r->newfh;
            atomic_store_explicit(&sm->mfh, r->newfh, memory_order_release);
            r->newfh = NULL;
            shelf__fh_unref(s, old);    /* closed once no read uses it */
            sm->mdown = 0;
            s->ndown--;
            atomic_fetch_add(&s->c_mirror_returns, 1);
            sched_log(s, "mirror '%s' is back%s", sm->mpath,
                      sm->down ? ": reading it again" : "");
        } else {
            sm->mrecheck_at = now_s() + s->o.recheck_ms / 1000.0;
        }
        shelf__req_free(s, r);
        return;
    }
    sm->probing = 0;
    if (ok) {
        shelf__fh *old = sm->pfh;
        r->newfh->next = s->fhs;
        s->fhs = r->newfh;
        sm->pfh = r->newfh;
        r->newfh = NULL;
        shelf__fh_unref(s, old);    /* closed once no read uses it */
        sm->down = 0;
        s->ndown--;
        atomic_fetch_add(&s->c_returns, 1);
        sched_log(s, "'%s' is back: reading it again", sm->path);
    } else {
        sm->recheck_at = now_s() + s->o.recheck_ms / 1000.0;
    }
    shelf__req_free(s, r);
}

/* The scheduler's next read for v after the one it just queued: the next
 * chunk not in RAM, along the walk when the voice is walking a streamed
 * loop. */
static void sched_advance(const shelf__sample *sm, shelf__voice *v, int walking)
{
    if (walking) {
        walk_next(sm, &v->next_lap, &v->next_chunk);
        walk_skip(sm, &v->next_lap, &v->next_chunk);
    } else {
        v->next_chunk = skip_ram(sm, v->next_chunk + 1);
    }
}

/*
 * Hand chunk ch, just read, to the voice that asked for it, as the walk
 * would: when it is still the next chunk of that voice (same set-up, no
 * loop, not dropped, not played past) and its ring has room.  The voice
 * plays from it without waiting for the next walk, so walks can come less
 * often (WALK_LAZY_S).  Under the cache lock.
 */
static void deliver(shelf_stream *s, const shelf__req *r, shelf__chunk *ch)
{
    shelf__voice *v = &s->voices[r->voice];
    shelf__sample *sm = &s->samples[r->sample];
    shelf__ringitem it;

    if (!r->has_voice || atomic_load_explicit(&v->state, memory_order_acquire) != SHELF__V_ACTIVE ||
        !v->io_active || v->io_gen != r->voice_gen || v->loops || v->sample != r->sample ||
        v->next_chunk != r->k || v->next_lap != 0 || atomic_load_explicit(&v->drop, memory_order_relaxed) ||
        (int64_t)(atomic_load_explicit(&v->pos, memory_order_acquire) >> 32) / sm->chunk_frames > r->k ||
        shelf__ring_space(&v->ring) <= v->ring.mask + 1 - (uint32_t)s->o.ring_chunks)
        return;
    it.k = lap_key(sm, 0, r->k);
    it.lap = 0;
    it.ch = ch;
    it.data = ch->data;
    atomic_fetch_add_explicit(&ch->refs, 1, memory_order_relaxed);
    shelf__ring_push(&v->ring, &it);
    sched_advance(sm, v, 0);
    v->fails = 0;
    atomic_fetch_add_explicit(&s->c_delivered, 1, memory_order_relaxed);
}

/* A finished read: into the cache, or failed over to the mirror, or
 * retried, or failed for good. */
static void complete(shelf_stream *s, shelf__req *r, shelf__req **resubmit)
{
    shelf__chunk *ch = r->ch;
    shelf__sample *sm = &s->samples[r->sample];
    int m = mirror_of(sm) != NULL;

    watch_remove(s, r);
    shelf__fh_unref(s, r->fh);
    r->fh = NULL;
    if (r->probe) {
        probe_done(s, sm, r);
        return;
    }
    ch->reads--;
    shelf__lat_record(s, r->t_due - r->t_submit);
    atomic_fetch_add(&s->c_reads, 1);
    if (ch->state == SHELF__CH_READY) {
        /* The other copy (primary or mirror) came first. */
        shelf__req_free(s, r);
        return;
    }
    if (r->res == 0) {
        if (r->fell_back && r->medium == SHELF__PRIMARY)
            atomic_fetch_add(&s->c_mirror_fallbacks, 1);
        if (r->medium == SHELF__MIRROR) {
            atomic_fetch_add(&s->c_failovers, 1);
            if (r->t_failed > 0) {
                /* It stands in for a primary read that failed or was late. */
                uint64_t ns = r->t_due > r->t_failed ? (uint64_t)((r->t_due - r->t_failed) * 1e9) : 0;
                uint64_t max = atomic_load(&s->c_failover_max_ns);
                atomic_fetch_add(&s->c_failover_timed, 1);
                atomic_fetch_add(&s->c_failover_ns, ns);
                while (ns > max && !atomic_compare_exchange_weak(&s->c_failover_max_ns, &max, ns))
                    ;
            }
            if (r->hedged)
                mark_down(s, sm, "was late", 0);    /* the mirror won the race */
        }
        if (r->via_uring)
            atomic_fetch_add(&s->c_reads_uring, 1);
        if (r->via_uring && r->fixed)
            atomic_fetch_add(&s->c_reads_fixed, 1);
        if (r->used_direct)
            atomic_fetch_add(&s->c_reads_direct, 1);
        atomic_fetch_add(&s->c_bytes, sm->direct ? r->buflen
                                                 : (uint64_t)r->frames * (uint64_t)sm->channels * 2);
        shelf__cache_ready(&s->cache, ch, r->data, r->frames,
                           (size_t)r->frames * (size_t)sm->channels * sizeof(float));
        r->data = NULL;
        deliver(s, r, ch);
        shelf__req_free(s, r);
        return;
    }
    atomic_fetch_add(&s->c_read_errors, 1);
    if (r->medium == SHELF__MIRROR) {
        mark_mirror_down(s, sm, r->res);
        if (ch->reads > 0) {        /* the primary's read is in flight */
            shelf__req_free(s, r);
            return;
        }
        if (!r->fell_back) {
            /* The primary once more, without using a retry: it may be
             * back before its probe noticed. */
            r->fell_back = 1;
            req_route(s, r, SHELF__PRIMARY);
            ch->reads++;
            r->next = *resubmit;
            *resubmit = r;
            return;
        }
    }
    if (r->medium == SHELF__PRIMARY && m) {
        int to_mirror = !sm->mdown;
        mark_down(s, sm, "cannot be read", r->res);
        if (!to_mirror)
            goto retry;             /* the mirror is down: retried here */
        if (ch->reads > 0) {        /* its hedge on the mirror is in flight */
            shelf__req_free(s, r);
            return;
        }
        /* Fail over at once: the mirror reads it, no retry used. */
        r->t_failed = r->t_submit;
        req_route(s, r, SHELF__MIRROR);
        ch->reads++;
        r->next = *resubmit;
        *resubmit = r;
        return;
    }
retry:
    if (ch->reads > 0) {            /* the other copy may still come */
        shelf__req_free(s, r);
        return;
    }
    if (++ch->attempts <= s->o.retries) {
        int to = medium_for(sm);
        if (to == SHELF__MIRROR && r->medium == SHELF__PRIMARY)
            r->t_failed = r->t_submit;
        r->attempt = ch->attempts;
        r->hedged = 0;
        req_route(s, r, to);
        ch->reads++;
        r->next = *resubmit;
        *resubmit = r;
        return;
    }
    ch->state = SHELF__CH_FAILED;
    atomic_fetch_add(&s->c_lost, 1);
    if (r->medium == SHELF__PRIMARY)
        mark_down(s, sm, "lost a chunk", r->res);
    shelf__req_free(s, r);
}

/* Probes of failed primaries due now, and hedges: a primary read of a
 * sample with a mirror still in flight at its deadline is sent to the
 * mirror too (the first copy back fills the chunk).  Under the cache lock. */
static void failover_pass(shelf_stream *s, int nsamples, shelf__req **resubmit)
{
    double now = now_s();
    shelf__req *r, *nr;
    int i;

    for (r = s->watch; r; r = r->wnext) {
        if (r->hedged || now < r->t_deadline || !mirror_of(&s->samples[r->sample]) ||
            s->samples[r->sample].mdown)
            continue;
        if (!(nr = shelf__calloc(1, sizeof *nr)))
            return;
        r->hedged = 1;
        nr->sample = r->sample;
        nr->k = r->k;
        nr->ch = r->ch;
        nr->attempt = r->attempt;
        nr->hedged = 1;
        nr->has_voice = r->has_voice;
        nr->voice = r->voice;
        nr->voice_gen = r->voice_gen;
        nr->t_failed = r->t_submit;
        req_route(s, nr, SHELF__MIRROR);
        r->ch->reads++;
        atomic_fetch_add(&s->c_hedged, 1);
        nr->next = *resubmit;
        *resubmit = nr;
    }
    for (i = 0; i < nsamples && s->ndown > 0; i++) {
        shelf__sample *sm = &s->samples[i];
        int med;
        for (med = SHELF__PRIMARY; med <= SHELF__MIRROR; med++) {
            int *probing = med == SHELF__MIRROR ? &sm->mprobing : &sm->probing;
            if (!(med == SHELF__MIRROR ? sm->mdown : sm->down) || *probing ||
                now < (med == SHELF__MIRROR ? sm->mrecheck_at : sm->recheck_at))
                continue;
            if (!(nr = shelf__calloc(1, sizeof *nr)))
                return;
            nr->sample = i;
            nr->probe = 1;
            nr->medium = med;
            *probing = 1;
            nr->next = *resubmit;
            *resubmit = nr;
        }
    }
}

/* Submit the queued reads; watch the primary's reads of mirrored samples
 * for their deadline: failover_ms, or half the time until the voice runs
 * dry when sooner (at least 5 ms; not offline, where the render waits for
 * the data and a voice is always about to run dry). */
static void submit_all(shelf_stream *s, shelf__req *list)
{
    shelf__req *r;
    int offline = (s->o.flags & (SHELF_STREAM_OFFLINE | SHELF_STREAM_RAM)) != 0;

    while ((r = list)) {
        list = r->next;
        shelf__io_submit(s, r);
        if (!r->probe && r->medium == SHELF__PRIMARY && !r->hedged &&
            mirror_of(&s->samples[r->sample])) {
            double d = s->o.failover_ms / 1000.0;
            if (!offline && r->dry > 0 && r->dry / 2 < d)
                d = r->dry / 2 > 0.005 ? r->dry / 2 : 0.005;
            r->t_deadline = r->t_submit + d;
            r->wprev = NULL;
            r->wnext = s->watch;
            if (s->watch)
                s->watch->wprev = r;
            s->watch = r;
        }
    }
    shelf__io_flush(s);
}

/* Frames v plays, from frame pos_i of lap `lap`, before it needs its next
 * read (less than 0: it needed it already). */
static int64_t sched_ahead(const shelf__sample *sm, const shelf__voice *v, int walking, uint64_t lap,
                           int64_t pos_i)
{
    if (walking)
        return walk_ahead(sm, lap, pos_i, v->next_lap, v->next_chunk);
    return v->next_chunk * sm->chunk_frames - pos_i;
}

/*
 * Queue on *list the read of w's chunk (under the cache lock): 1 when
 * queued, 0 when the chunk is in the cache already (another voice's read,
 * or it came meanwhile), -1 when out of memory.
 */
static int want_read(shelf_stream *s, const want *w, int64_t *req_k, shelf__req **list)
{
    shelf__voice *v = &s->voices[w->voice];
    shelf__chunk *ch = shelf__cache_find(&s->cache, v->sample, w->k);
    shelf__req *nr;

    if (ch) {
        if (req_k[w->voice] != w->k) {
            atomic_fetch_add(&s->c_merged, 1);
            req_k[w->voice] = w->k;
        }
        return 0;
    }
    if (!(nr = shelf__calloc(1, sizeof *nr)))
        return -1;
    if (!(ch = shelf__cache_insert(&s->cache, v->sample, w->k))) {
        free(nr);
        return -1;
    }
    nr->sample = v->sample;
    nr->k = w->k;
    nr->ch = ch;
    nr->dry = w->dry;
    nr->has_voice = 1;
    nr->voice = w->voice;
    nr->voice_gen = w->gen;
    req_route(s, nr, medium_for(&s->samples[v->sample]));
    ch->reads++;
    req_k[w->voice] = w->k;
    atomic_fetch_add(&s->cache.misses, 1);
    nr->next = *list;
    *list = nr;
    return 1;
}

/*
 * The wants the last walk ordered but had no place for, w[*i..n): as reads
 * complete, their places go to these at once, before the completions are
 * decoded and without a walk (which runs at most every WALK_S).  A want
 * still stands while its voice plays on with the same set-up (a slot is
 * freed for a new voice only by a walk, which makes a new backlog); its
 * chunk may have come meanwhile (want_read skips it).  Under the cache
 * lock.
 */
static void backlog_read(shelf_stream *s, want *w, int *i, int n, int64_t *req_k, shelf__req **list)
{
    int queued = 0;

    while (*i < n && s->inflight + queued < s->o.queue_depth) {
        const want *x = &w[(*i)++];
        shelf__voice *v = &s->voices[x->voice];
        int rc;

        if (atomic_load_explicit(&v->state, memory_order_acquire) != SHELF__V_ACTIVE || !v->io_active ||
            v->io_gen != x->gen || v->next_chunk != x->k || atomic_load_explicit(&v->drop, memory_order_relaxed))
            continue;
        if ((rc = want_read(s, x, req_k, list)) < 0)
            break;
        queued += rc;
        if (rc)
            atomic_fetch_add_explicit(&s->c_backlog_reads, 1, memory_order_relaxed);
    }
}

static void *sched_main(void *arg)
{
    shelf_stream *s = arg;
    want *wants = s->sched_wants;
    shelf__chunk **failed = s->sched_failed;
    int64_t *req_k = s->sched_req_k;
    double last_drop = 0, trim_at = 0, last_walk = 0, last_urgent = 0;
    uint64_t started, last_started = 0;
    int bl_i = 0, bl_n = 0;     /* the backlog: wants[bl_i..bl_n) */
    int offline = (s->o.flags & (SHELF_STREAM_OFFLINE | SHELF_STREAM_RAM)) != 0;
    int nodrop = offline || (s->o.flags & SHELF_STREAM_NO_DROP);
    struct sched_param sp;

    pthread_setname_np(pthread_self(), "shelf-sched");

    /* Real time at the lowest priority when the system allows it: below
     * a host's real-time audio thread, above the machine's other work, so
     * a busy machine delays no completed read (this thread reaps and
     * decodes them).  Otherwise it stays as it is. */
    memset(&sp, 0, sizeof sp);
    sp.sched_priority = sched_get_priority_min(SCHED_FIFO);
    (void)pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
    while (!atomic_load(&s->quit)) {
        shelf__req *done = shelf__io_reap(s, 0.001), *resubmit = NULL, *r;
        int nwant = 0, queued, ordered, i, nsamples = atomic_load_explicit(&s->nsamples, memory_order_acquire);
        double most_urgent = 1e9, t;
        size_t nfailed = 0;

        /* Refills first: the places of the reads just done go out before
         * those reads are decoded (a third of this thread's time at
         * 4,000 voices) and before any walk. */
        if (bl_i < bl_n && s->inflight < s->o.queue_depth) {
            shelf__req *early = NULL;

            pthread_mutex_lock(&s->cache.lock);
            backlog_read(s, wants, &bl_i, bl_n, req_k, &early);
            pthread_mutex_unlock(&s->cache.lock);
            submit_all(s, early);
        }
        for (r = done; r; r = r->next)
            if (r->raw) {
                shelf__req_decode(s, r);
                r->raw = 0;
            }
        pthread_mutex_lock(&s->cache.lock);
        while ((r = done)) {
            done = r->next;
            complete(s, r, &resubmit);
        }
        /* The walk over every voice below costs a few microseconds a
         * thousand voices, after every completion (6,000 a second at
         * 3,000 voices).  In real time it runs at most every WALK_S while
         * the queue is half full and no voice wanting a read was close
         * to running dry: the rings hold seconds, and the reads in flight
         * keep the disk busy.  This saves the thread's time; the disk
         * read as fast either way (doc/benchmarks.md, "Starts before
         * spare refills": 2,600-3,100 voices, one walk every pass or
         * this). */
        t = now_s();
        started = atomic_load_explicit(&s->c_started, memory_order_relaxed);
        if (!offline && t - last_walk < WALK_S && s->inflight >= s->o.queue_depth / 2 &&
            last_urgent > WALK_URGENT_S)
            goto walked;
        /* Nor while the last walk's backlog still fills the queue, up to
         * WALK_LAZY_S: reads just done went to their voices (deliver),
         * and a voice started since brings the walk on at once.  At 6,400
         * voices the walk (its look-ups and ordering) had been a third of
         * this thread, with the decode another third; with this it was
         * 18-24% of it (doc/benchmarks.md, "The reserve, deliveries and
         * lazy walks"). */
        if (!offline && t - last_walk < WALK_LAZY_S && bl_i < bl_n && started == last_started)
            goto walked;
        last_walk = t;
        last_started = started;
        for (i = 0; i < s->nvoices; i++) {
            shelf__voice *v = &s->voices[i];
            int st = atomic_load_explicit(&v->state, memory_order_acquire);
            shelf__sample *sm;
            int64_t cur, pos_i, limit;
            uint64_t lap, lap2;
            double rate_src;
            int rel, walking;

            if (st == SHELF__V_STOPPING) {
                drain_ring(v);
                v->io_active = 0;
                atomic_store_explicit(&v->state, SHELF__V_FREE, memory_order_release);
                continue;
            }
            if (st != SHELF__V_ACTIVE || v->sample >= nsamples)
                continue;
            sm = &s->samples[v->sample];
            if (!v->io_active || v->io_gen != v->gen) {
                v->io_active = 1;
                v->io_gen = v->gen;
                v->next_chunk = skip_ram(sm, v->start_chunk);
                v->next_lap = 0;
                v->fails = 0;
                req_k[i] = -1;
            }
            rel = atomic_load_explicit(&v->releasing, memory_order_acquire);
            lap = atomic_load_explicit(&v->lap, memory_order_acquire);
            pos_i = (int64_t)(atomic_load_explicit(&v->pos, memory_order_acquire) >> 32);
            lap2 = atomic_load_explicit(&v->lap, memory_order_acquire);
            cur = pos_i / sm->chunk_frames;
            /* A held voice turned in a streamed loop: its walk is read
             * ahead, in the walk's order, with no end. */
            walking = v->loops && sm->loop_walk && !rel && lap && !(lap & SHELF__LAP_FWD);
            if (walking) {
                if (lap != lap2)
                    continue;   /* caught between two stores: next pass */
                /* The voice ahead of the reads (its turn, or it played on
                 * without the data): they go on from where it is. */
                if (lapk_cmp(v->next_lap, lap_key(sm, v->next_lap, v->next_chunk), lap,
                             lap_key(sm, lap, cur)) < 0) {
                    v->next_lap = lap;
                    v->next_chunk = cur;
                    walk_skip(sm, &v->next_lap, &v->next_chunk);
                    req_k[i] = -1;
                }
                limit = INT64_MAX;
            } else {
                if (lap > v->next_lap) {
                    /* The voice wrapped: it plays the loop's RAM start, and
                     * the reads go on after it; or it left a streamed
                     * loop's walk: they go on from where it is. */
                    v->next_lap = lap;
                    v->next_chunk = skip_ram(sm, lap & SHELF__LAP_FWD ? cur : sm->loop_k0);
                    req_k[i] = -1;
                }
                /* A held loop is read up to its end; the next lap's reads
                 * wait for the wrap (a backward or alternating one's, for
                 * the turn). */
                limit = v->loops && !rel && !(lap & SHELF__LAP_FWD)
                            ? (sm->loop_end - 1) / sm->chunk_frames + 1
                            : sm->nchunks;
            }
            if (v->next_chunk >= limit || atomic_load_explicit(&v->drop, memory_order_relaxed))
                continue;
            if (!walking && lap == lap2 && lap == v->next_lap && v->next_chunk < cur)
                v->next_chunk = skip_ram(sm, cur);  /* it played on without the data */
            while (v->next_chunk < limit &&
                   shelf__ring_space(&v->ring) > v->ring.mask + 1 - (uint32_t)s->o.ring_chunks) {
                shelf__chunk *ch = shelf__cache_find(&s->cache, v->sample, v->next_chunk);
                shelf__ringitem it = { lap_key(sm, v->next_lap, v->next_chunk), v->next_lap, NULL,
                                       NULL };

                if (ch && ch->state == SHELF__CH_READY) {
                    atomic_fetch_add_explicit(&ch->refs, 1, memory_order_relaxed);
                    it.ch = ch;
                    it.data = ch->data;
                    shelf__ring_push(&v->ring, &it);
                    shelf__cache_touch(&s->cache, ch);
                    if (req_k[i] != v->next_chunk)
                        atomic_fetch_add(&s->cache.hits, 1);
                    sched_advance(sm, v, walking);
                    v->fails = 0;
                } else if (ch && ch->state == SHELF__CH_FAILED) {
                    shelf__ring_push(&v->ring, &it);
                    sched_advance(sm, v, walking);
                    if (++v->fails >= 2 && !nodrop)
                        atomic_store(&v->drop, 1);  /* reads keep failing */
                    if (nfailed < (size_t)s->nvoices)
                        failed[nfailed++] = ch;
                } else {
                    if (ch && req_k[i] != v->next_chunk) {
                        atomic_fetch_add(&s->c_merged, 1);  /* another voice's read */
                        req_k[i] = v->next_chunk;
                    }
                    if (!ch) {
                        rate_src = (double)v->step / 4294967296.0 * s->o.rate;
                        wants[nwant].voice = i;
                        wants[nwant].k = v->next_chunk;
                        wants[nwant].dry = (double)sched_ahead(sm, v, walking, lap, pos_i) / rate_src;
                        wants[nwant].gen = v->io_gen;
                        nwant++;
                    }
                    break;
                }
            }
            if (v->next_chunk < limit && shelf__ring_count(&v->ring) == 0) {
                rate_src = (double)v->step / 4294967296.0 * s->o.rate;
                double dry = (double)sched_ahead(sm, v, walking, lap, pos_i) / rate_src;
                if (dry < most_urgent)
                    most_urgent = dry;
            }
        }
        /* Lost chunks were handed out as gaps; a later voice tries again. */
        while (nfailed > 0) {
            shelf__chunk *ch = failed[--nfailed];
            size_t j;
            int dup = 0;
            for (j = 0; j < nfailed; j++)
                dup |= failed[j] == ch;
            if (!dup && ch->state == SHELF__CH_FAILED)
                shelf__cache_remove(&s->cache, ch);
        }
        /* Most urgent first; identical requests become one read.  At most
         * queue_depth in flight, counting the reads queued in this pass
         * (submitted after it): without them every voice's read went out
         * at once, thousands at a few thousand voices, and io_uring_submit
         * blocked this thread on the device's full queue while the rings
         * ran dry. */
        for (i = 0, queued = 0, ordered = 0; i < nwant && s->inflight + queued < s->o.queue_depth; i++) {
            int rc;

            if (i == ordered) {
                /* The next as many as there are places, and three
                 * times as many for the backlog. */
                int m = 4 * s->o.queue_depth - s->inflight - queued;
                wants_first(wants + i, nwant - i, m);
                ordered = i + m < nwant ? i + m : nwant;
            }
            if ((rc = want_read(s, &wants[i], req_k, &resubmit)) < 0)
                break;
            queued += rc;
        }
        bl_i = i;
        bl_n = i < ordered ? ordered : i;
        /* The disk fell behind: fade out the lowest-ranked voice. */
        if (!nodrop && most_urgent < CRIT_S && now_s() - last_drop > CRIT_S) {
            shelf__voice *low = NULL;
            for (i = 0; i < s->nvoices; i++) {
                shelf__voice *v = &s->voices[i];
                if (atomic_load_explicit(&v->state, memory_order_acquire) != SHELF__V_ACTIVE ||
                    atomic_load_explicit(&v->drop, memory_order_relaxed))
                    continue;
                if (!low || rank_less(v, low))
                    low = v;
            }
            if (low) {
                atomic_store(&low->drop, 1);
                last_drop = now_s();
            }
        }
        last_urgent = most_urgent;
        for (i = 0; i < nwant; i++)
            if (wants[i].dry < last_urgent)
                last_urgent = wants[i].dry;
walked:
        failover_pass(s, nsamples, &resubmit);
        /* Rings holding more than the budget: look again in 10 ms, not
         * every pass. */
        if (now_s() >= trim_at && !shelf__cache_trim_step(&s->cache, s->cache.budget))
            trim_at = now_s() + 0.01;
        pthread_mutex_unlock(&s->cache.lock);
        submit_all(s, resubmit);
        if (s->uring_err && !s->uring_err_told) {
            s->uring_err_told = 1;
            sched_log(s, "io_uring failed (%s): reads go to the i/o threads from now on",
                      strerror(s->uring_err));
        }
        for (i = 0; i < s->nlogq; i++)
            s->o.log(s->o.log_ud, s->logq[i]);
        if (s->nlogq_more) {
            char line[96];
            snprintf(line, sizeof line, "and %d more switches or returns at the same time",
                     s->nlogq_more);
            s->o.log(s->o.log_ud, line);
        }
        s->nlogq = s->nlogq_more = 0;
        atomic_fetch_add(&s->pass, 1);
        pthread_mutex_lock(&s->wlock);
        pthread_cond_broadcast(&s->rcond);
        pthread_mutex_unlock(&s->wlock);
    }
    return NULL;
}
