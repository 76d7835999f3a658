/*
 * io.c: the engine's I/O layer.  Reads chunks of sample files: WAV PCM
 * through aligned reads (O_DIRECT where the filesystem allows it, buffered
 * otherwise) submitted to io_uring (liburing) or, when io_uring cannot be
 * set up, to worker threads doing pread; every other format through
 * libsndfile (sf_seek + sf_readf_float) on the workers.  Fault injection
 * (failed and delayed reads) lives here, so every caller sees it the same
 * way.  Also: the WAV header parser and the PCM to float conversion that
 * both the streamed and the RAM paths use.  The files of a sample's
 * copies (primary, mirror) are reference-counted handles (shelf__fh); a
 * probe reopens a failed primary or mirror by path on a worker.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include "stream_int.h"

/* ---- WAV headers ---------------------------------------------------------- */

int shelf__wav_parse(const unsigned char *p, size_t n, shelf__wavinfo *wi)
{
    size_t off = 12;
    int have_fmt = 0, tag = 0, bits = 0;
    uint32_t block = 0;

    memset(wi, 0, sizeof *wi);
    if (n < 12 || memcmp(p, "RIFF", 4) != 0 || memcmp(p + 8, "WAVE", 4) != 0)
        return SHELF_EFORMAT;
    while (off + 8 <= n) {
        uint32_t len = shelf__get_le32(p + off + 4);
        const unsigned char *body = p + off + 8;

        if (!memcmp(p + off, "fmt ", 4)) {
            if (len < 16 || off + 8 + 16 > n)
                return SHELF_EFORMAT;
            tag = shelf__get_le16(body);
            wi->channels = shelf__get_le16(body + 2);
            wi->rate = (int)shelf__get_le32(body + 4);
            block = shelf__get_le16(body + 12);
            bits = shelf__get_le16(body + 14);
            if (tag == 0xFFFE) {        /* WAVE_FORMAT_EXTENSIBLE: subformat GUID */
                if (len < 40 || off + 8 + 40 > n)
                    return SHELF_EFORMAT;
                tag = shelf__get_le16(body + 24);
            }
            have_fmt = 1;
        } else if (!memcmp(p + off, "data", 4)) {
            if (!have_fmt)
                return SHELF_EFORMAT;
            wi->data_off = off + 8;
            wi->data_len = len;
            break;
        }
        if ((uint64_t)off + 8 + len + (len & 1) > SIZE_MAX / 2)
            return SHELF_EFORMAT;
        off += 8 + (size_t)len + (len & 1);
    }
    if (!have_fmt || !wi->data_off)
        return SHELF_EFORMAT;
    if (wi->channels < 1 || wi->channels > 64 || wi->rate < 1000 || wi->rate > 768000)
        return SHELF_EFORMAT;
    if (tag == 1 && bits == 16)
        wi->enc = SHELF__PCM16;
    else if (tag == 1 && bits == 24)
        wi->enc = SHELF__PCM24;
    else if (tag == 1 && bits == 32)
        wi->enc = SHELF__PCM32;
    else if (tag == 3 && bits == 32)
        wi->enc = SHELF__FLOAT32;
    else
        return SHELF_EFORMAT;
    if (block != (uint32_t)wi->channels * (uint32_t)(bits / 8))
        return SHELF_EFORMAT;
    return SHELF_OK;
}

/*
 * The same values libsndfile gives for these encodings (normalised: the
 * integer times 2^-(bits-1), exact for 16 and 24 bits), so a FLAC decoded by
 * libsndfile and the same audio as WAV decoded here are equal.
 */
/* The 24-bit decode: on x86-64 copies built for SSSE3 and AVX2 too,
 * chosen when the program loads (not under the sanitizers, whose runtime
 * starts after the choice is made). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__) && \
    !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#define PCM24_CLONES __attribute__((target_clones("avx2", "ssse3", "default")))
#else
#define PCM24_CLONES
#endif

typedef unsigned char shelf__u8x16 __attribute__((vector_size(16)));
typedef int32_t shelf__i32x4 __attribute__((vector_size(16)));
typedef float shelf__f32x4 __attribute__((vector_size(16)));

/*
 * Little-endian 24-bit samples to float, four at a time: 16 bytes loaded,
 * the 12 of four samples shuffled into the top three bytes of four 32-bit
 * lanes (a zero byte below), converted and scaled.  The same arithmetic
 * as one at a time (an int32 to float, times 2^-31, both exact or rounded
 * alike), so the result is the same bits; a load reads 4 bytes past its
 * samples, so the last samples are done one at a time.  With SSSE3 the
 * shuffle is one PSHUFB: 5 times faster than bytes assembled in scalar
 * code, which the scheduler thread spent a third of a core on at 2,500
 * voices.
 */
PCM24_CLONES static void pcm24_to_float(const unsigned char *in, size_t samples, float *out)
{
    const shelf__u8x16 zero = { 0 };
    size_t i;

    for (i = 0; i + 6 <= samples; i += 4) {
        shelf__u8x16 b, t;
        shelf__i32x4 v;
        shelf__f32x4 f;
        memcpy(&b, in + 3 * i, sizeof b);
        t = __builtin_shufflevector(b, zero, 16, 0, 1, 2, 16, 3, 4, 5, 16, 6, 7, 8, 16, 9, 10, 11);
        memcpy(&v, &t, sizeof v);
        f = __builtin_convertvector(v, shelf__f32x4) * (1.0f / 2147483648.0f);
        memcpy(out + i, &f, sizeof f);
    }
    for (; i < samples; i++) {
        const unsigned char *q = in + 3 * i;
        int32_t v = (int32_t)((uint32_t)q[0] << 8 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 24);
        out[i] = (float)v * (1.0f / 2147483648.0f);
    }
}

void shelf__pcm_to_float(int enc, const unsigned char *in, size_t samples, float *out)
{
    size_t i;

    switch (enc) {
    case SHELF__PCM16:
        for (i = 0; i < samples; i++)
            out[i] = (float)(int16_t)shelf__get_le16(in + 2 * i) * (1.0f / 32768.0f);
        break;
    case SHELF__PCM24:
        pcm24_to_float(in, samples, out);
        break;
    case SHELF__PCM32:
        for (i = 0; i < samples; i++)
            out[i] = (float)(int32_t)shelf__get_le32(in + 4 * i) * (1.0f / 2147483648.0f);
        break;
    case SHELF__FLOAT32:
        for (i = 0; i < samples; i++) {
            uint32_t u = shelf__get_le32(in + 4 * i);
            float f;
            memcpy(&f, &u, sizeof f);
            out[i] = f;
        }
        break;
    }
}

/* ---- fault injection ------------------------------------------------------ */

static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

int shelf__stream_fault(uint64_t seed, double rate, uint64_t a, uint64_t b, uint64_t c, uint64_t salt)
{
    uint64_t h;

    if (rate <= 0)
        return 0;
    if (rate >= 1)
        return 1;
    h = mix64(seed ^ mix64(a ^ mix64(b ^ mix64(c ^ mix64(salt)))));
    return (double)(h >> 11) * (1.0 / 9007199254740992.0) < rate;
}

/* ---- latency percentiles --------------------------------------------------- */

double shelf__lat_percentile(const uint64_t *hist, uint64_t n, double q)
{
    uint64_t want, seen = 0;
    int i;

    if (n == 0)
        return 0;
    want = (uint64_t)ceil(q * (double)n);
    if (want < 1)
        want = 1;
    for (i = 0; i < SHELF__LAT_BUCKETS; i++) {
        seen += hist[i];
        if (seen >= want)   /* upper edge of the bucket, in us */
            return pow(2.0, (double)(i + 1) / 16.0);
    }
    return pow(2.0, (double)SHELF__LAT_BUCKETS / 16.0);
}

/* ---- reading one chunk ---------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The aligned byte range of chunk k (direct path). */
static void chunk_range(const shelf_stream *s, const shelf__sample *sm, int64_t k,
                        uint64_t *a0, size_t *len, size_t *lead, uint32_t *frames)
{
    int64_t first = k * (int64_t)sm->chunk_frames;
    int64_t n = sm->frames - first;
    uint64_t b0, b1;

    if (n > (int64_t)sm->chunk_frames)
        n = sm->chunk_frames;
    if (n < 0)
        n = 0;
    b0 = sm->wi.data_off + (uint64_t)first * sm->bpf;
    b1 = b0 + (uint64_t)n * sm->bpf;
    *a0 = b0 & ~(uint64_t)(s->align - 1);
    *len = (size_t)(((b1 + s->align - 1) & ~(uint64_t)(s->align - 1)) - *a0);
    *lead = (size_t)(b0 - *a0);
    *frames = (uint32_t)n;
}

/* An aligned buffer: the pointer to free is stored just before it. */
static unsigned char *alloc_aligned(size_t n, size_t align)
{
    unsigned char *base = shelf__malloc(n + align + sizeof(void *));
    uintptr_t p;

    if (!base)
        return NULL;
    p = ((uintptr_t)base + sizeof(void *) + align - 1) & ~(uintptr_t)(align - 1);
    memcpy((unsigned char *)p - sizeof(void *), &base, sizeof base);
    return (unsigned char *)p;
}

static void free_aligned(unsigned char *p)
{
    void *base;

    if (!p)
        return;
    memcpy(&base, p - sizeof(void *), sizeof base);
    free(base);
}

/*
 * The direct path's read buffers.  A read took a new aligned buffer and
 * freed it once decoded: 16,000 a second at 7,000 voices, each 136 KiB,
 * so that malloc gave the arena's top back to the kernel again and again
 * (5,800 madvise calls in a 20 s run at 6,000 voices), the kernel zeroed
 * the pages again on the next reads' writes, and each call flushed the
 * TLB of the audio thread's core too (doc/benchmarks.md, "Read buffers
 * kept").  The pool
 * is one mapping of twice the queue's places and 8 more (reads reaped
 * but not yet decoded hold theirs while refills take new ones), at most
 * RAW_POOL_MAX, made and faulted in at the first read (the block size is
 * known only then), each buffer big enough for any chunk; a read takes
 * one under raw_lock and gives it back once decoded.  When all are taken
 * (hedged reads and probes may pass the queue's places, and a deep queue
 * of big chunks passes the bound) a read has its own allocation, as
 * before.
 */
#define RAW_POOL_MAX ((size_t)64 << 20)

static unsigned char *raw_take(shelf_stream *s, size_t cap, int *slot)
{
    unsigned char *p = NULL;

    *slot = 0;
    pthread_mutex_lock(&s->raw_lock);
    if (!s->raw_made) {
        size_t size = ((size_t)s->o.chunk_bytes + 3 * (size_t)s->align - 1) &
                      ~((size_t)s->align - 1);
        int n = 2 * s->o.queue_depth + 8, i;
        void *m;

        s->raw_made = 1;
        if ((size_t)n * size > RAW_POOL_MAX)
            n = RAW_POOL_MAX / size > 0 ? (int)(RAW_POOL_MAX / size) : 1;
        m = mmap(NULL, size * (size_t)n, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
        if (m != MAP_FAILED && !(s->raw_free = shelf__calloc((size_t)n, sizeof(int)))) {
            munmap(m, size * (size_t)n);
            m = MAP_FAILED;
        }
        if (m != MAP_FAILED) {
            /* A write to each page now, not in the first reads (the
             * reserve's reason: shelf__cache_reserve). */
            for (i = 0; (size_t)i < size * (size_t)n / 4096; i++)
                ((volatile unsigned char *)m)[(size_t)i * 4096] = 0;
            s->raw_pool = m;
            s->raw_size = size;
            s->raw_map = size * (size_t)n;
            s->raw_nfree = n;
            for (i = 0; i < n; i++)
                s->raw_free[i] = n - 1 - i;
        }
    }
    if (s->raw_pool && s->raw_free && cap <= s->raw_size && s->raw_nfree > 0) {
        int i = s->raw_free[--s->raw_nfree];
        p = s->raw_pool + (size_t)i * s->raw_size;
        *slot = i + 1;
    }
    pthread_mutex_unlock(&s->raw_lock);
    return p ? p : alloc_aligned(cap, s->align);
}

/* r's read buffer back to the pool, or freed; r has none after. */
static void raw_put(shelf_stream *s, shelf__req *r)
{
    if (r->raw_slot) {
        pthread_mutex_lock(&s->raw_lock);
        s->raw_free[s->raw_nfree++] = r->raw_slot - 1;
        pthread_mutex_unlock(&s->raw_lock);
    } else {
        free_aligned(r->buf);
    }
    r->buf = NULL;
    r->raw_slot = 0;
}

/* Register the pool with the ring, once (scheduler; a read through the
 * ring then names its buffer and the kernel does not pin its pages each
 * time).  Without the right to lock that much memory, plain reads. */
static void raw_register(shelf_stream *s)
{
    struct iovec iov;

    pthread_mutex_lock(&s->raw_lock);
    if (s->raw_pool) {
        s->raw_tried = 1;
        iov.iov_base = s->raw_pool;
        iov.iov_len = s->raw_map;
        s->raw_fixed = !(s->o.flags & SHELF_STREAM_NO_FIXED) &&
                       io_uring_register_buffers(s->uring, &iov, 1) == 0;
    }
    pthread_mutex_unlock(&s->raw_lock);
}

/* pread all of len bytes (less only at end of file); returns bytes or -errno. */
static ssize_t pread_full(int fd, unsigned char *buf, size_t len, uint64_t off)
{
    size_t got = 0;

    while (got < len) {
        ssize_t r = pread(fd, buf + got, len - got, (off_t)(off + got));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

/* Read the bytes of r (direct path) from r->fh on this thread; sets r->res. */
static void read_direct(shelf_stream *s, shelf__sample *sm, shelf__req *r, uint64_t a0)
{
    ssize_t got = -EINVAL;
    int fdd = atomic_load(&r->fh->fd_direct);

    if (fdd >= 0) {
        got = pread_full(fdd, r->buf, r->buflen, a0);
        r->used_direct = got >= 0;
    }
    if (got == -EINVAL) {   /* O_DIRECT refused here: buffered from now on */
        got = pread_full(atomic_load(&r->fh->fd), r->buf, r->buflen, a0);
        r->used_direct = 0;
    }
    (void)s;
    if (got < 0)
        r->res = (int)-got;
    else if ((size_t)got < r->lead + (size_t)r->frames * sm->bpf)
        r->res = EIO;       /* the file is shorter than its header says */
    else
        r->res = 0;
}

/* Fill r->data from libsndfile through r->fh (decode path). */
static void read_sndfile(shelf__sample *sm, shelf__req *r)
{
    shelf__fh *fh = r->fh;
    sf_count_t got;

    if (!fh || !fh->sf) {
        r->res = EBADF;
        return;
    }
    pthread_mutex_lock(&fh->sf_lock);
    if (sf_seek(fh->sf, r->k * (sf_count_t)sm->chunk_frames, SEEK_SET) < 0)
        got = -1;
    else
        got = sf_readf_float(fh->sf, r->data, r->frames);
    pthread_mutex_unlock(&fh->sf_lock);
    r->res = got == (sf_count_t)r->frames ? 0 : EIO;
}

/* Prepare r for chunk k: buffers and sizes. */
static int req_prepare(shelf_stream *s, shelf__sample *sm, shelf__req *r, uint64_t *a0)
{
    *a0 = 0;
    if (sm->direct) {
        chunk_range(s, sm, r->k, a0, &r->buflen, &r->lead, &r->frames);
        if (!r->buf) {
            r->bufcap = (size_t)sm->chunk_frames * sm->bpf + 2 * (size_t)s->align;
            if (!(r->buf = raw_take(s, r->bufcap, &r->raw_slot)))
                return SHELF_ENOMEM;
        }
    } else {
        int64_t first = r->k * (int64_t)sm->chunk_frames;
        int64_t n = sm->frames - first;
        r->frames = (uint32_t)(n > (int64_t)sm->chunk_frames ? sm->chunk_frames : n);
    }
    if (!r->data) {
        r->databytes = (size_t)(r->frames ? r->frames : 1) * (size_t)sm->channels * sizeof(float);
        if (!(r->data = shelf__cache_buf_take(&s->cache, r->databytes)))
            return SHELF_ENOMEM;
    }
    return SHELF_OK;
}

int shelf__req_decode(shelf_stream *s, shelf__req *r)
{
    shelf__sample *sm = &s->samples[r->sample];

    if (r->res == 0 && sm->direct)
        shelf__pcm_to_float(sm->wi.enc, r->buf + r->lead,
                            (size_t)r->frames * (size_t)sm->channels, r->data);
    /* The bytes are done with (a retry takes a buffer again). */
    if (r->buf)
        raw_put(s, r);
    return r->res;
}

void shelf__req_free(shelf_stream *s, shelf__req *r)
{
    if (!r)
        return;
    if (r->newfh)
        shelf__fh_close(r->newfh);
    if (r->buf)
        raw_put(s, r);
    shelf__cache_buf_put(&s->cache, r->data, r->databytes);
    free(r);
}

int shelf__chunk_read_sync(shelf_stream *s, shelf__sample *sm, int64_t k, float **data,
                           uint32_t *frames, int *errno_out)
{
    shelf__req r;
    uint64_t a0;
    int rc;

    memset(&r, 0, sizeof r);
    *data = NULL;
    *frames = 0;
    *errno_out = 0;
    r.sample = (int)(sm - s->samples);
    r.k = k;
    /* The primary's files as they are now (the scheduler may replace
     * them meanwhile: the reference keeps these open). */
    pthread_mutex_lock(&s->cache.lock);
    r.fh = sm->pfh;
    r.fh->refs++;
    pthread_mutex_unlock(&s->cache.lock);
    if ((rc = req_prepare(s, sm, &r, &a0)) != SHELF_OK)
        goto out;
    if (sm->direct)
        read_direct(s, sm, &r, a0);
    else
        read_sndfile(sm, &r);
    if (r.res) {
        *errno_out = r.res;
        rc = SHELF_EIO;
        goto out;
    }
    shelf__req_decode(s, &r);
    *data = r.data;
    *frames = r.frames;
    r.data = NULL;
out:
    if (r.fh) {
        pthread_mutex_lock(&s->cache.lock);
        shelf__fh_unref(s, r.fh);
        pthread_mutex_unlock(&s->cache.lock);
    }
    if (r.buf)
        raw_put(s, &r);
    shelf__cache_buf_put(&s->cache, r.data, r.databytes);
    return rc;
}

/* ---- file handles --------------------------------------------------------- */

void shelf__fh_close(shelf__fh *fh)
{
    int fd;

    if (!fh)
        return;
    if ((fd = atomic_load(&fh->fd)) >= 0)
        close(fd);
    if ((fd = atomic_load(&fh->fd_direct)) >= 0)
        close(fd);
    if (fh->sf)
        sf_close(fh->sf);
    pthread_mutex_destroy(&fh->sf_lock);
    free(fh);
}

void shelf__fh_unref(shelf_stream *s, shelf__fh *fh)
{
    shelf__fh **pp;

    if (!fh || --fh->refs > 0)
        return;
    for (pp = &s->fhs; *pp && *pp != fh; pp = &(*pp)->next)
        ;
    if (*pp)
        *pp = fh->next;
    shelf__fh_close(fh);
}

int shelf__fh_open(shelf_stream *s, const shelf__sample *sm, const char *path, int identity,
                   shelf__fh **out)
{
    shelf__fh *fh;
    struct stat st;
    int fd, e = 0;

    *out = NULL;
    if (!(fh = shelf__calloc(1, sizeof *fh)))
        return ENOMEM;
    atomic_init(&fh->fd, -1);
    atomic_init(&fh->fd_direct, -1);
    pthread_mutex_init(&fh->sf_lock, NULL);
    fh->refs = 1;
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        e = errno;
        goto out;
    }
    atomic_store(&fh->fd, fd);
    if (fstat(fd, &st) != 0) {
        e = errno;
        goto out;
    }
    if (identity && ((uint64_t)st.st_size != sm->id_size ||
                     (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec !=
                         (identity == 1 + SHELF__MIRROR ? sm->m_id_mtime_ns : sm->id_mtime_ns))) {
        e = ESTALE;         /* another file at that path now */
        goto out;
    }
    if (sm->direct) {
        if (!(s->o.flags & SHELF_STREAM_NO_DIRECT))
            atomic_store(&fh->fd_direct, open(path, O_RDONLY | O_CLOEXEC | O_DIRECT));
    } else {
        SF_INFO info;
        memset(&info, 0, sizeof info);
        if (!(fh->sf = sf_open(path, SFM_READ, &info))) {
            e = EIO;
            goto out;
        }
        if (info.frames != sm->frames || info.channels != sm->channels ||
            info.samplerate != sm->rate) {
            e = ESTALE;
            goto out;
        }
    }
    *out = fh;
    return 0;
out:
    shelf__fh_close(fh);
    return e;
}

/* A probe (worker thread): reopen the primary or the mirror (r->medium)
 * by path, check it is the same file, and read its chunk 0 from the
 * medium (O_DIRECT where the filesystem allows).  On success r->newfh
 * holds the new files. */
static void probe_run(shelf_stream *s, shelf__sample *sm, shelf__req *r)
{
    int mirror = r->medium == SHELF__MIRROR;
    shelf__fh *fh = NULL;
    uint64_t a0;

    if (atomic_load(mirror ? &s->fault_mirror : &s->fault_primary) == SHELF__FAULT_FAIL) {
        r->res = EIO;
        return;
    }
    if ((r->res = shelf__fh_open(s, sm, mirror ? sm->mpath : sm->path, 1 + r->medium, &fh)) != 0)
        return;
    r->fh = fh;
    if (sm->direct) {
        chunk_range(s, sm, 0, &a0, &r->buflen, &r->lead, &r->frames);
        read_direct(s, sm, r, a0);
    } else {
        read_sndfile(sm, r);
    }
    r->fh = NULL;
    if (r->res == 0)
        r->newfh = fh;
    else
        shelf__fh_close(fh);
}

/* ---- workers -------------------------------------------------------------- */

static void *worker_main(void *arg)
{
    shelf_stream *s = arg;

    pthread_setname_np(pthread_self(), "shelf-io");

    for (;;) {
        shelf__req *r;
        shelf__sample *sm;
        uint64_t a0;

        pthread_mutex_lock(&s->qlock);
        while (!s->jobs && !atomic_load(&s->quit))
            pthread_cond_wait(&s->qcond, &s->qlock);
        if (!s->jobs) {
            pthread_mutex_unlock(&s->qlock);
            break;
        }
        r = s->jobs;
        s->jobs = r->next;
        if (!s->jobs)
            s->jobs_tail = NULL;
        pthread_mutex_unlock(&s->qlock);

        sm = &s->samples[r->sample];
        if (r->probe) {
            probe_run(s, sm, r);
        } else if (r->injected_error) {
            r->res = EIO;
        } else if (sm->direct) {
            chunk_range(s, sm, r->k, &a0, &r->buflen, &r->lead, &r->frames);
            read_direct(s, sm, r, a0);
            shelf__req_decode(s, r);
        } else {
            read_sndfile(sm, r);
        }
        r->t_due = now_s();

        pthread_mutex_lock(&s->qlock);
        r->next = s->done;
        s->done = r;
        pthread_mutex_unlock(&s->qlock);
        pthread_mutex_lock(&s->wlock);
        pthread_cond_signal(&s->wcond);
        pthread_mutex_unlock(&s->wlock);
    }
    return NULL;
}

/*
 * The workers here are not lib/common's shelf__pool, on purpose: their
 * latency needs differ.  They serve a real-time scheduler, which
 *  - must never block handing over a read (shelf__pool_submit waits for
 *    room in its queue; this queue is unbounded, bounded in practice by
 *    the engine's ring and queue_depth limits),
 *  - submits in urgency order and needs that order kept (one FIFO shared by
 *    every worker, no per-batch tickets),
 *  - is woken the moment any single read finishes (wcond), where the pool
 *    reports by ticket to a waiter,
 *  - and at stop drops the reads not yet started instead of running them
 *    (shelf__pool_free waits for every job): a closing engine must not read
 *    a whole queue of audio nobody will play.
 */
int shelf__io_start(shelf_stream *s)
{
    int i, n = s->o.io_threads;

    if (!(s->o.flags & SHELF_STREAM_NO_URING)) {
        struct io_uring *ring = shelf__calloc(1, sizeof *ring);
        unsigned entries = 1;

        while (entries < (unsigned)s->o.queue_depth)
            entries <<= 1;
        if (ring && io_uring_queue_init(entries, ring, 0) == 0) {
            s->uring = ring;
            s->uring_ok = 1;
        } else {
            free(ring);
        }
    }
    if (!(s->workers = shelf__calloc((size_t)n, sizeof *s->workers)))
        return SHELF_ENOMEM;
    for (i = 0; i < n; i++) {
        if (pthread_create(&s->workers[i], NULL, worker_main, s) != 0)
            return shelf__seterr(&s->err, SHELF_EIO, "cannot start an i/o thread");
        s->nworkers++;
    }
    return SHELF_OK;
}

void shelf__io_stop(shelf_stream *s)
{
    int i;
    shelf__req *r;

    pthread_mutex_lock(&s->qlock);
    atomic_store(&s->quit, 1);
    pthread_cond_broadcast(&s->qcond);
    pthread_mutex_unlock(&s->qlock);
    for (i = 0; i < s->nworkers; i++)
        pthread_join(s->workers[i], NULL);
    free(s->workers);
    s->workers = NULL;
    s->nworkers = 0;
    if (s->uring) {
        /* Wait for reads still in flight: their buffers are ours.  Any
         * not sent yet go out first (else no completion would come); any
         * the kernel still refuses are never read, and not waited for. */
        shelf__io_flush(s);
        while (s->uring_inflight > (s->uring_ok ? (int)io_uring_sq_ready(s->uring) : 0)) {
            struct io_uring_cqe *cqe;
            if (io_uring_wait_cqe(s->uring, &cqe) != 0)
                break;
            shelf__req_free(s, io_uring_cqe_get_data(cqe));
            io_uring_cqe_seen(s->uring, cqe);
            s->uring_inflight--;
        }
        io_uring_queue_exit(s->uring);
        free(s->uring);
        s->uring = NULL;
    }
    while ((r = s->jobs)) {
        s->jobs = r->next;
        shelf__req_free(s, r);
    }
    while ((r = s->done)) {
        s->done = r->next;
        shelf__req_free(s, r);
    }
    while ((r = s->delayed)) {
        s->delayed = r->next;
        shelf__req_free(s, r);
    }
    if (s->raw_pool)
        munmap(s->raw_pool, s->raw_map);
    free(s->raw_free);
    s->raw_pool = NULL;
    s->raw_free = NULL;
}

/* ---- submit and reap (scheduler thread) ----------------------------------- */

static void hold(shelf_stream *s, shelf__req *r)
{
    r->next = s->delayed;
    s->delayed = r;
}

static void to_workers(shelf_stream *s, shelf__req *r)
{
    pthread_mutex_lock(&s->qlock);
    r->next = NULL;
    if (s->jobs_tail)
        s->jobs_tail->next = r;
    else
        s->jobs = r;
    s->jobs_tail = r;
    pthread_cond_signal(&s->qcond);
    pthread_mutex_unlock(&s->qlock);
}

/*
 * io_uring_submit failed for good (err: not EAGAIN, EBUSY, EINTR or
 * ENOMEM, which pass): the ring takes no more reads.  Those it has not
 * sent, from the kernel's head of the submission queue to our tail, go
 * to the workers, in their order.  They are ours again: without SQPOLL
 * the kernel takes entries only inside io_uring_enter on this thread,
 * and from now on nothing enters the ring to submit (the reap polls it;
 * shutdown waits with io_uring_wait_cqe, which submits nothing).  The
 * reads the kernel took complete in the ring and are reaped as before.
 * The scheduler logs it (uring_err).
 */
static void uring_abandon(shelf_stream *s, int err)
{
    struct io_uring_sq *sq = &s->uring->sq;
    unsigned i = io_uring_smp_load_acquire(sq->khead);

    for (; i != sq->sqe_tail; i++) {
        to_workers(s, (shelf__req *)(uintptr_t)sq->sqes[i & sq->ring_mask].user_data);
        s->uring_inflight--;
    }
    atomic_store(&s->uring_ok, 0);
    s->uring_err = err;
}

void shelf__io_submit(shelf_stream *s, shelf__req *r)
{
    shelf__sample *sm = &s->samples[r->sample];
    uint64_t a0;
    double now = now_s();

    int fm = s->o.fault_medium, timed = atomic_load(&s->fault_primary);
    /* The rate faults hit the media fault_medium says (salts 1 and 2 on
     * the primary, as before mirrors, 3 and 4 on the mirror); probes
     * see only the timed fault of the primary. */
    int hit = !r->probe && (fm == 0 || fm == r->medium + 1);
    uint64_t salt = r->medium == SHELF__MIRROR ? 3 : 1;

    r->t_submit = now;
    r->used_direct = r->via_uring = 0;
    r->delay_s = s->o.fault_delay_ms / 1000.0;
    r->injected_error = hit && shelf__stream_fault(s->o.fault_seed, s->o.fault_error_rate,
                                     (uint64_t)r->sample, (uint64_t)r->k, (uint64_t)r->attempt, salt);
    r->injected_delay = hit && shelf__stream_fault(s->o.fault_seed, s->o.fault_delay_rate,
                                     (uint64_t)r->sample, (uint64_t)r->k, (uint64_t)r->attempt, salt + 1);
    if (r->medium == SHELF__PRIMARY && timed == SHELF__FAULT_FAIL && !r->probe)
        r->injected_error = 1;
    if (r->medium == SHELF__MIRROR && atomic_load(&s->fault_mirror) == SHELF__FAULT_FAIL && !r->probe)
        r->injected_error = 1;
    if (r->medium == SHELF__PRIMARY && timed == SHELF__FAULT_SLOW) {
        r->injected_delay = 1;
        r->delay_s = atomic_load(&s->fault_slow_ms) / 1000.0;
    }
    if (s->inflight++ == 0)
        s->busy_since = now;
    if ((uint64_t)s->inflight > atomic_load_explicit(&s->c_inflight_max, memory_order_relaxed))
        atomic_store_explicit(&s->c_inflight_max, (uint64_t)s->inflight, memory_order_relaxed);
    if (req_prepare(s, sm, r, &a0) != SHELF_OK) {
        r->res = ENOMEM;
        r->t_due = now;
        hold(s, r);
        return;
    }
    if (r->injected_error) {
        r->res = EIO;
        r->t_due = now + (r->injected_delay ? r->delay_s : 0);
        hold(s, r);
        return;
    }
    if (!r->probe && atomic_load(&s->uring_ok) && sm->direct && atomic_load(&r->fh->fd_direct) >= 0) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(s->uring);
        if (!sqe) {             /* the submission queue is full: send it */
            shelf__io_flush(s);
            sqe = atomic_load(&s->uring_ok) ? io_uring_get_sqe(s->uring) : NULL;
        }
        if (!s->raw_tried)
            raw_register(s);
        r->fixed = sqe && r->raw_slot && s->raw_fixed;
        if (r->fixed) {
            io_uring_prep_read_fixed(sqe, atomic_load(&r->fh->fd_direct), r->buf, (unsigned)r->buflen,
                                     a0, 0);
        } else if (sqe) {
            io_uring_prep_read(sqe, atomic_load(&r->fh->fd_direct), r->buf, (unsigned)r->buflen, a0);
        }
        if (sqe) {
            io_uring_sqe_set_data(sqe, r);
            s->uring_inflight++;
            return;
        }
    }
    to_workers(s, r);
}

/*
 * One io_uring_submit for every read a pass queued, not one each: a
 * system call per read, and on a virtio disk a notification of the
 * device per read, where the block layer sends a batch with one.  A
 * failed submit (EAGAIN, EBUSY, EINTR, ENOMEM) leaves the reads in the
 * submission queue; the next flush sends them.  Any other failure ends
 * the ring's part (uring_abandon).  fault_submit (tests) fails it so.
 */
void shelf__io_flush(shelf_stream *s)
{
    int n, fault;

    if (!atomic_load(&s->uring_ok) || io_uring_sq_ready(s->uring) == 0)
        return;
    fault = atomic_load(&s->fault_submit);
    n = fault ? -fault : io_uring_submit(s->uring);
    if (n > 0)
        atomic_fetch_add_explicit(&s->c_uring_submits, 1, memory_order_relaxed);
    else if (n < 0 && n != -EAGAIN && n != -EBUSY && n != -EINTR && n != -ENOMEM)
        uring_abandon(s, -n);
}

/* A finished read: held when a delay is injected, else returned. */
static void finish(shelf_stream *s, shelf__req *r, double done, shelf__req **list)
{
    if (r->injected_delay && !r->injected_error) {
        r->injected_delay = 0;
        r->t_due = done + r->delay_s;
        hold(s, r);
        return;
    }
    r->t_due = done;
    r->next = *list;
    *list = r;
}

/* A uring read came back with res bytes or -errno. */
static void uring_done(shelf_stream *s, shelf__req *r, int res, double now, shelf__req **list)
{
    shelf__sample *sm = &s->samples[r->sample];

    r->used_direct = 1;
    if (res == -EINVAL || (res >= 0 && (size_t)res < r->lead + (size_t)r->frames * sm->bpf)) {
        /* O_DIRECT refused, or a short read: finish it buffered here. */
        uint64_t a0;
        size_t len, lead;
        uint32_t frames;
        chunk_range(s, sm, r->k, &a0, &len, &lead, &frames);
        if (res == -EINVAL) {
            int fdd = atomic_exchange(&r->fh->fd_direct, -1);
            if (fdd >= 0)
                close(fdd);
        }
        read_direct(s, sm, r, a0);
    } else if (res < 0) {
        r->res = -res;
        r->via_uring = 1;
    } else {
        r->res = 0;
        r->via_uring = 1;
    }
    r->raw = 1;             /* decoded once the refills are out */
    finish(s, r, now, list);
}

shelf__req *shelf__io_reap(shelf_stream *s, double timeout)
{
    shelf__req *list = NULL, *r, **pp;
    double now;

    if (s->uring && s->uring_inflight > 0) {
        struct io_uring_cqe *cqe;
        unsigned head, n = 0;
        int workers_busy;

        pthread_mutex_lock(&s->qlock);
        workers_busy = s->jobs != NULL || s->inflight > s->uring_inflight;
        pthread_mutex_unlock(&s->qlock);
        {
            /* Worker reads and held completions are not seen by the ring:
             * look again soon while there are any. */
            double t = (s->delayed || workers_busy) && timeout > 0.0002 ? 0.0002 : timeout;
            struct __kernel_timespec ts;
            ts.tv_sec = (long long)t;
            ts.tv_nsec = (long long)((t - (double)ts.tv_sec) * 1e9);
            if (atomic_load(&s->uring_ok)) {
                io_uring_wait_cqe_timeout(s->uring, &cqe, &ts);
            } else if (!io_uring_cq_ready(s->uring)) {
                /* A ring given up (uring_abandon): its last reads are
                 * polled, for a wait with a timeout submits a timeout
                 * request on kernels without IORING_FEAT_EXT_ARG, and
                 * with it the entries given up. */
                struct timespec nap = { 0, 200000 };
                nanosleep(&nap, NULL);
            }
        }
        now = now_s();
        io_uring_for_each_cqe(s->uring, head, cqe) {
            uring_done(s, io_uring_cqe_get_data(cqe), cqe->res, now, &list);
            n++;
        }
        io_uring_cq_advance(s->uring, n);
        s->uring_inflight -= (int)n;
    }
    pthread_mutex_lock(&s->qlock);
    r = s->done;
    s->done = NULL;
    pthread_mutex_unlock(&s->qlock);
    if (!r && !list && !s->delayed && !(s->uring && s->uring_inflight > 0)) {
        /* Nothing to do yet: sleep until a worker or a control call wakes us. */
        struct timespec ts;
        double until;
        clock_gettime(CLOCK_REALTIME, &ts);
        until = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9 + timeout;
        ts.tv_sec = (time_t)until;
        ts.tv_nsec = (long)((until - (double)ts.tv_sec) * 1e9);
        pthread_mutex_lock(&s->wlock);
        pthread_mutex_lock(&s->qlock);
        r = s->done;
        s->done = NULL;
        pthread_mutex_unlock(&s->qlock);
        if (!r && !atomic_load(&s->quit))
            pthread_cond_timedwait(&s->wcond, &s->wlock, &ts);
        pthread_mutex_unlock(&s->wlock);
        if (!r) {
            pthread_mutex_lock(&s->qlock);
            r = s->done;
            s->done = NULL;
            pthread_mutex_unlock(&s->qlock);
        }
    } else if (!r && !list && s->delayed) {
        struct timespec ts = { 0, 200000 };
        nanosleep(&ts, NULL);
    }
    while (r) {
        shelf__req *next = r->next;
        finish(s, r, r->t_due, &list);
        r = next;
    }
    now = now_s();
    for (pp = &s->delayed; (r = *pp);) {
        if (r->t_due <= now) {
            *pp = r->next;
            r->next = list;
            list = r;
        } else {
            pp = &r->next;
        }
    }
    for (r = list; r; r = r->next) {
        if (--s->inflight == 0)
            atomic_fetch_add(&s->c_busy_ns, (uint64_t)((now - s->busy_since) * 1e9));
    }
    /* A queue that never empties is busy all along: count its time as it
     * goes, not only when it empties (a second of it read as idle, and a
     * later one as more than busy). */
    if (s->inflight > 0) {
        atomic_fetch_add(&s->c_busy_ns, (uint64_t)((now - s->busy_since) * 1e9));
        s->busy_since = now;
    }
    return list;
}
