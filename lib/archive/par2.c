/*
 * par2.c: PAR2 (Parity Volume Set Specification 2.0) for archives: the
 * streaming encoder, the packet reader, verify and repair (par2_int.h).
 *
 * The code: input slices get the constants 2^n for the exponents n that are
 * not multiples of 3, 5, 17 or 257, in slice order; recovery slice e holds,
 * word by word, the sum over the input slices i of (2^n_i)^e * slice_i, in
 * GF(2^16) with the generator 0x1100B (gf16.c).  Words are little-endian.
 *
 * Speed: slices are kept in the split layout of gf16_int.h (converted once
 * as they arrive), in batches of up to 64 slices; a batch is added to every
 * recovery slice chunk by chunk (a chunk of each source slice stays in
 * cache while it is multiplied into each recovery slice), and the chunks
 * are shared among worker threads.  While the workers hash, convert and
 * multiply one batch, the caller fills the other and hashes the whole file.
 *
 * Packets read from .par2 files are outside input: every length is checked
 * against what holds it, damaged packets (MD5 mismatch) are skipped, and
 * file names from the set must be relative without "..".
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <zlib.h>
#include "par2_int.h"
#include "gf16_int.h"

/*
 * PAR 2.0 packet layout (byte offsets).  Header: magic, packet length
 * (header included), MD5 of the packet from the set id to its end, set id,
 * type; then the body.
 */
#define PKT_MAGIC 0
#define PKT_LEN 8
#define PKT_MD5 16
#define PKT_SET_ID 32
#define PKT_TYPE 48
#define PKT_HEADER 64
#define PKT_HASHED (PKT_HEADER - PKT_SET_ID)    /* header bytes under PKT_MD5 */
#define ID_BYTES 16                             /* set and file ids, MD5s, types */
/* Main body: slice size, number of files, their ids. */
#define MAIN_SLICE 0
#define MAIN_NFILES 8
#define MAIN_IDS 12
/* File description body: file id, MD5, MD5 of the first 16 KiB, length, name. */
#define DESC_ID 0
#define DESC_MD5 16
#define DESC_MD5_16K 32
#define DESC_LEN 48
#define DESC_NAME 56
/* Slice checksum (IFSC) body: file id, then per slice an MD5 and a CRC32. */
#define IFSC_ENTRIES 16
#define IFSC_ENTRY 20
#define IFSC_CRC 16
/* Recovery slice body: exponent, then the slice. */
#define RECV_EXP_BYTES 4
#define MAX_THREADS 8
#define BATCH_BYTES ((size_t)32 << 20)      /* input held per batch */
#define BATCH_MAX 64                        /* slices per batch */
#define COEF_BYTES ((size_t)16 << 20)       /* prepared constants per batch */
#define MAX_SLICE_SIZE ((uint64_t)1 << 30)  /* larger slices are refused */
#define MAX_META_PACKET ((uint64_t)64 << 20) /* non-recovery packets kept */
#define IO_CHUNK ((size_t)1 << 20)

static const uint8_t MAGIC[8] = { 'P', 'A', 'R', '2', 0, 'P', 'K', 'T' };
static const uint8_t T_MAIN[16] = "PAR 2.0\0Main\0\0\0";
static const uint8_t T_DESC[16] = "PAR 2.0\0FileDesc";
static const uint8_t T_IFSC[16] = "PAR 2.0\0IFSC\0\0\0";
static const uint8_t T_RECV[16] = "PAR 2.0\0RecvSlic";
static const uint8_t T_CREATOR[16] = "PAR 2.0\0Creator";

/* ---- little helpers ------------------------------------------------------------ */

static size_t round_up(size_t n, size_t m)
{
    return (n + m - 1) / m * m;
}

/* One-shot MD5 of up to three pieces. */
static void md5_3(const void *a, size_t na, const void *b, size_t nb, const void *c, size_t nc,
                  uint8_t out[16])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    if (!ctx || !EVP_DigestInit_ex(ctx, EVP_md5(), NULL) || !EVP_DigestUpdate(ctx, a, na) ||
        (nb && !EVP_DigestUpdate(ctx, b, nb)) || (nc && !EVP_DigestUpdate(ctx, c, nc)) ||
        !EVP_DigestFinal_ex(ctx, out, NULL))
        abort();    /* MD5 cannot fail but for lack of memory at start-up */
    EVP_MD_CTX_free(ctx);
}

static uint32_t crc32_of(const uint8_t *p, size_t n)
{
    uLong c = crc32(0L, Z_NULL, 0);

    while (n) {
        uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
        c = crc32(c, p, k);
        p += k;
        n -= k;
    }
    return (uint32_t)c;
}

/* The input slice constants: exponents n with 2^n of order 65535. */
static uint16_t slice_log[SHELF__PAR2_MAX_SLICES];
static pthread_once_t slice_log_once = PTHREAD_ONCE_INIT;

static void slice_log_build(void)
{
    uint32_t n, i = 0;

    for (n = 1; i < SHELF__PAR2_MAX_SLICES; n++)
        if (n % 3 && n % 5 && n % 17 && n % 257)
            slice_log[i++] = (uint16_t)n;
}

/* The factor of input slice i in recovery slice e: (2^n_i)^e. */
static uint16_t factor(uint32_t i, uint32_t e)
{
    return shelf__gf16_exp2((uint32_t)(((uint64_t)slice_log[i] * e) % 65535u));
}

static int read_full(int fd, uint64_t off, void *buf, size_t n, size_t *got)
{
    size_t done = 0;

    while (done < n) {
        ssize_t r = pread(fd, (uint8_t *)buf + done, n - done, (off_t)(off + done));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        if (r == 0)
            break;
        done += (size_t)r;
    }
    if (got)
        *got = done;
    return 0;
}

static void *alloc_aligned(size_t n)
{
    void *p;
    void *probe;

    /* Through the library's allocator first, so allocation failures can be
     * injected; the aligned block itself comes from posix_memalign. */
    probe = shelf__malloc(1);
    if (!probe)
        return NULL;
    free(probe);
    if (posix_memalign(&p, 64, n ? n : 64))
        return NULL;
    return p;
}

/*
 * The workers (lib/common's pool): with fewer than 2 threads wanted, jobs
 * run in the caller.  A queue of 4: at most one batch (2 jobs) is in
 * flight, and job 2 is submitted from a worker, which must not wait for
 * room.
 */
#define POOL_QUEUE 4

static int pool_threads(int nthreads)
{
    return nthreads < 2 ? -1 : nthreads;
}

static int default_threads(const shelf__par2_params *pr)
{
    long n;

    if (pr && pr->threads > 0)
        return pr->threads > MAX_THREADS ? MAX_THREADS : pr->threads;
    n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        n = 1;
    return n > MAX_THREADS ? MAX_THREADS : (int)n;
}

static const shelf__gf16_kernel *pick_kernel(const shelf__par2_params *pr, shelf__err *err)
{
    const shelf__gf16_kernel *k;

    if (!pr || !pr->kernel)
        return shelf__gf16_best();
    k = shelf__gf16_kernel_find(pr->kernel);
    if (!k)
        shelf__seterr(err, SHELF_EINVAL, "gf16 kernel '%s' is unknown or not supported here",
                      pr->kernel);
    return k;
}

/* ---- adding batches of input slices into target slices ------------------------------ */

/*
 * rs: target[r] (split layout, spad bytes each) += sum over the batch's
 * slots k of factor(idx[k], texp[r]) * slot k.  Used for encoding (targets
 * are the recovery slices) and for repair (targets are the recovery slices
 * minus what the intact input slices gave them).
 */
typedef struct rs {
    const shelf__gf16_kernel *kern;
    size_t slice, spad;         /* slice size, and rounded up to a gf16 block */
    uint32_t ntargets;
    uint8_t **target;
    const uint32_t *texp;
    size_t kmax;                /* slots per batch */
    shelf__gf16_coef *coef;     /* [r * kmax + k] */
    size_t chunk;               /* bytes of each slice handled at once */
    size_t nchunks, rgroup, nrgroups;
    /* The batch being processed: */
    uint8_t *data;              /* kmax x spad */
    const uint8_t *srcs[BATCH_MAX];
    uint32_t idx[BATCH_MAX];
    size_t count;
    uint8_t *ifsc;              /* encoder: where slot checksums go (by idx), else NULL */
    /* Job 2 reads what job 1 wrote, and the pool only starts jobs in order
     * (a job's items may still run when the next job starts): the item
     * that finishes job 1 submits job 2. */
    shelf__pool *pool;
    atomic_size_t prepped;
} rs;

static int rs_init(rs *r, const shelf__gf16_kernel *kern, size_t slice, uint32_t ntargets,
                   int nthreads)
{
    size_t k, items;

    memset(r, 0, sizeof *r);
    r->kern = kern;
    r->slice = slice;
    r->spad = round_up(slice ? slice : 1, SHELF__GF16_BLOCK);
    r->ntargets = ntargets;
    k = BATCH_BYTES / r->spad;
    if (k > BATCH_MAX)
        k = BATCH_MAX;
    if (ntargets && k > COEF_BYTES / (ntargets * sizeof(shelf__gf16_coef)))
        k = COEF_BYTES / (ntargets * sizeof(shelf__gf16_coef));
    r->kmax = k ? k : 1;
    /* A chunk of every slot (about 384 KiB in all) stays in L2 while it is
     * multiplied into each target. */
    r->chunk = round_up((size_t)384 * 1024 / r->kmax, SHELF__GF16_BLOCK);
    if (r->chunk > r->spad)
        r->chunk = r->spad;
    r->nchunks = (r->spad + r->chunk - 1) / r->chunk;
    /* Enough items for every thread, splitting the targets when few chunks. */
    items = (size_t)(nthreads > 1 ? nthreads : 1) * 4;
    r->nrgroups = 1;
    if (r->nchunks < items && ntargets > 1) {
        r->nrgroups = (items + r->nchunks - 1) / r->nchunks;
        if (r->nrgroups > ntargets)
            r->nrgroups = ntargets;
    }
    r->rgroup = ntargets ? (ntargets + r->nrgroups - 1) / r->nrgroups : 1;
    if (ntargets) {
        r->coef = alloc_aligned(r->kmax * ntargets * sizeof *r->coef);
        if (!r->coef)
            return SHELF_ENOMEM;
    }
    return SHELF_OK;
}

static void rs_release(rs *r)
{
    free(r->coef);
    r->coef = NULL;
}

static void rs_mul_item(void *arg, size_t item, int worker);

/* Job 1, one item per slot: checksums (encoder), split layout, constants. */
static void rs_prep_item(void *arg, size_t k, int worker)
{
    rs *r = arg;
    uint8_t *s = r->data + k * r->spad;
    uint32_t t;

    if (r->ifsc) {
        uint8_t *e = r->ifsc + (size_t)r->idx[k] * IFSC_ENTRY;
        md5_3(s, r->slice, NULL, 0, NULL, 0, e);
        shelf__put_le32(e + IFSC_CRC, crc32_of(s, r->slice));
    }
    shelf__gf16_split(s, s, r->spad);
    for (t = 0; t < r->ntargets; t++)
        shelf__gf16_coef_init(&r->coef[t * r->kmax + k], factor(r->idx[k], r->texp[t]));
    (void)worker;
    if (atomic_fetch_add(&r->prepped, 1) + 1 == r->count && r->ntargets)
        (void)shelf__pool_submit(r->pool, rs_mul_item, r, r->nchunks * r->nrgroups);
}

/* Job 2, one item per chunk and group of targets. */
static void rs_mul_item(void *arg, size_t item, int worker)
{
    rs *r = arg;
    size_t c = item % r->nchunks, g = item / r->nchunks;
    size_t off = c * r->chunk, len = r->spad - off < r->chunk ? r->spad - off : r->chunk;
    size_t t0 = g * r->rgroup, t1 = t0 + r->rgroup, t;

    (void)worker;
    if (t1 > r->ntargets)
        t1 = r->ntargets;
    for (t = t0; t < t1; t++)
        r->kern->muladd(r->target[t] + off, r->srcs, &r->coef[t * r->kmax], r->count, off, len);
}

/* Queue both jobs for the batch in data (count slots, slot k = slice idx[k]). */
static void rs_submit(rs *r, shelf__pool *p, uint8_t *data, const uint32_t *idx, size_t count)
{
    size_t k;

    r->data = data;
    r->count = count;
    for (k = 0; k < count; k++) {
        r->srcs[k] = data + k * r->spad;
        r->idx[k] = idx[k];
    }
    r->pool = p;
    atomic_store(&r->prepped, 0);
    (void)shelf__pool_submit(p, rs_prep_item, r, count);
}

/* ---- encoder ------------------------------------------------------------------------ */

struct shelf__par2_enc {
    char *name;
    uint64_t slice;
    uint32_t nrec;
    int sync, nthreads;
    shelf__pool *pool;
    rs rs;
    uint8_t *recbuf;            /* nrec x spad, the recovery slices (split layout) */
    uint8_t **rec;
    uint32_t *rexp;
    uint8_t *ifsc;              /* SHELF__PAR2_MAX_SLICES x IFSC_ENTRY */
    uint8_t *buf[2];            /* two batches of kmax x spad */
    int cur;                    /* the batch being filled */
    size_t slot, fill;          /* slot being filled, bytes in it */
    uint32_t nslices;           /* slices started (filled or being filled) */
    uint32_t batch_first;       /* index of slot 0 of the current batch */
    uint64_t total;
    EVP_MD_CTX *md5;
    uint8_t head[16384];        /* the first 16 KiB, for the file id */
    int finished;
    /* For the output stage. */
    uint8_t (*rmd5)[16];
    uint8_t set_id[16];
};

static int name_is_safe(const char *name, size_t n)
{
    size_t i, start = 0;

    if (n == 0 || name[0] == '/' || memchr(name, '\0', n))
        return 0;
    for (i = 0; i <= n; i++)
        if (i == n || name[i] == '/') {
            size_t len = i - start;
            if (len == 0 || (len == 2 && name[start] == '.' && name[start + 1] == '.') ||
                (len == 1 && name[start] == '.'))
                return 0;
            start = i + 1;
        }
    return 1;
}

uint64_t shelf__par2_enc_slice_size(const shelf__par2_enc *enc)
{
    return enc->slice;
}

uint32_t shelf__par2_enc_nrecovery(const shelf__par2_enc *enc)
{
    return enc->nrec;
}

int shelf__par2_enc_new(const char *name, uint64_t expected_size,
                        const shelf__par2_params *params, shelf__par2_enc **out,
                        shelf__err *err)
{
    shelf__par2_enc *e = NULL;
    const shelf__gf16_kernel *kern;
    uint64_t slice, nslices;
    double pct = params ? params->redundancy : 10.0;
    uint32_t i;
    int rc = SHELF_OK;

    *out = NULL;
    pthread_once(&slice_log_once, slice_log_build);
    if (!name || !name_is_safe(name, strlen(name))) {
        rc = shelf__seterr(err, SHELF_EINVAL, "cannot record '%s' in a par2 set: not a relative name",
                           name ? name : "");
        goto out;
    }
    if (!(kern = pick_kernel(params, err))) {
        rc = SHELF_EINVAL;
        goto out;
    }
    slice = params ? params->slice_size : 0;
    if (slice == 0) {
        slice = (expected_size + SHELF__PAR2_DEFAULT_SLICES - 1) / SHELF__PAR2_DEFAULT_SLICES;
        slice = (slice + 3) / 4 * 4;
        if (slice == 0)
            slice = 4;
    }
    if (slice % 4 || slice > MAX_SLICE_SIZE) {
        rc = shelf__seterr(err, SHELF_EINVAL, "par2 slice size %llu is not a multiple of 4 up to 1 GiB",
                           (unsigned long long)slice);
        goto out;
    }
    nslices = (expected_size + slice - 1) / slice;
    if (nslices > SHELF__PAR2_MAX_SLICES) {
        rc = shelf__seterr(err, SHELF_EINVAL, "%llu bytes need %llu par2 slices of %llu bytes (at most %u)",
                           (unsigned long long)expected_size, (unsigned long long)nslices,
                           (unsigned long long)slice, SHELF__PAR2_MAX_SLICES);
        goto out;
    }
    if (!(e = shelf__calloc(1, sizeof *e))) {
        rc = SHELF_ENOMEM;
        goto out;
    }
    e->slice = slice;
    if (params && params->nrecovery)
        e->nrec = params->nrecovery;
    else if (pct > 0) {
        double r = (double)(nslices ? nslices : 1) * pct / 100.0;
        e->nrec = r < 1 ? 1 : r > SHELF__PAR2_MAX_RECOVERY ? SHELF__PAR2_MAX_RECOVERY : (uint32_t)r;
    }
    if (pct < 0 || e->nrec > SHELF__PAR2_MAX_RECOVERY || e->nrec == 0) {
        rc = shelf__seterr(err, SHELF_EINVAL, "par2 recovery of %g%% (%u slices) is out of range",
                           pct, e->nrec);
        goto out;
    }
    e->sync = params ? params->sync : 0;
    e->nthreads = default_threads(params);
    if (!(e->name = shelf__strdup(name)) || !(e->md5 = EVP_MD_CTX_new()) ||
        !EVP_DigestInit_ex(e->md5, EVP_md5(), NULL)) {
        rc = SHELF_ENOMEM;
        goto out;
    }
    if ((rc = rs_init(&e->rs, kern, (size_t)slice, e->nrec, e->nthreads)))
        goto out;
    if (!(e->rec = shelf__calloc(e->nrec, sizeof *e->rec)) ||
        !(e->rexp = shelf__calloc(e->nrec, sizeof *e->rexp)) ||
        !(e->ifsc = shelf__calloc(SHELF__PAR2_MAX_SLICES, IFSC_ENTRY)) ||
        !(e->recbuf = alloc_aligned((size_t)e->nrec * e->rs.spad)) ||
        !(e->buf[0] = alloc_aligned(e->rs.kmax * e->rs.spad)) ||
        !(e->buf[1] = alloc_aligned(e->rs.kmax * e->rs.spad))) {
        rc = shelf__seterr(err, SHELF_ENOMEM, "cannot allocate %u par2 recovery slices of %llu bytes",
                           e->nrec, (unsigned long long)slice);
        goto out;
    }
    memset(e->recbuf, 0, (size_t)e->nrec * e->rs.spad);
    for (i = 0; i < e->nrec; i++) {
        e->rec[i] = e->recbuf + (size_t)i * e->rs.spad;
        e->rexp[i] = i;
    }
    e->rs.target = e->rec;
    e->rs.texp = e->rexp;
    e->rs.ifsc = e->ifsc;
    if (!(e->pool = shelf__pool_new(pool_threads(e->nthreads), POOL_QUEUE))) {
        rc = shelf__seterr(err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    *out = e;
    e = NULL;
out:
    shelf__par2_enc_free(e);
    return rc;
}

/* Hand the current batch to the workers and switch to the other buffer. */
static void enc_flush_batch(shelf__par2_enc *e)
{
    uint32_t idx[BATCH_MAX];
    size_t k;

    if (e->slot == 0)
        return;
    for (k = 0; k < e->slot; k++)
        idx[k] = e->batch_first + (uint32_t)k;
    shelf__pool_wait_all(e->pool);      /* the other buffer's batch is done */
    rs_submit(&e->rs, e->pool, e->buf[e->cur], idx, e->slot);
    e->cur ^= 1;
    e->batch_first += (uint32_t)e->slot;
    e->slot = 0;
}

int shelf__par2_enc_update(shelf__par2_enc *e, const void *data, size_t n, shelf__err *err)
{
    const uint8_t *p = data;

    if (e->finished)
        return shelf__seterr(err, SHELF_EINVAL, "par2 encoder for '%s' is already finished", e->name);
    if (n == 0)
        return SHELF_OK;
    if (e->total < sizeof e->head) {
        size_t k = sizeof e->head - (size_t)e->total;
        memcpy(e->head + e->total, p, k < n ? k : n);
    }
    EVP_DigestUpdate(e->md5, p, n);
    e->total += n;
    while (n) {
        uint8_t *s;
        size_t k;

        if (e->fill == 0) {
            if (e->nslices == SHELF__PAR2_MAX_SLICES) {
                e->finished = 1;
                return shelf__seterr(err, SHELF_EINVAL, "'%s' needs more than %u par2 slices of %llu bytes",
                                     e->name, SHELF__PAR2_MAX_SLICES, (unsigned long long)e->slice);
            }
            e->nslices++;
        }
        s = e->buf[e->cur] + e->slot * e->rs.spad;
        k = (size_t)e->slice - e->fill;
        if (k > n)
            k = n;
        memcpy(s + e->fill, p, k);
        e->fill += k;
        p += k;
        n -= k;
        if (e->fill == e->slice) {
            memset(s + e->slice, 0, e->rs.spad - e->slice);
            e->fill = 0;
            if (++e->slot == e->rs.kmax)
                enc_flush_batch(e);
        }
    }
    return SHELF_OK;
}

/* Output stage, one item per recovery slice: back to words, packet MD5. */
static void enc_out_item(void *arg, size_t r, int worker)
{
    shelf__par2_enc *e = arg;
    uint8_t hdr[36];

    (void)worker;
    shelf__gf16_unsplit(e->rec[r], e->rec[r], e->rs.spad);
    memcpy(hdr, e->set_id, 16);
    memcpy(hdr + 16, T_RECV, 16);
    shelf__put_le32(hdr + 32, (uint32_t)r);
    md5_3(hdr, sizeof hdr, e->rec[r], (size_t)e->slice, NULL, 0, e->rmd5[r]);
}

/* Append a whole packet (header made here) to b. */
static int add_packet(shelf__buf *b, const uint8_t set_id[16], const uint8_t type[16],
                      const uint8_t *body, size_t n)
{
    uint8_t h[PKT_HEADER];

    if (n % 4)
        return SHELF_EINVAL;
    memcpy(h + PKT_MAGIC, MAGIC, sizeof MAGIC);
    shelf__put_le64(h + PKT_LEN, PKT_HEADER + n);
    memcpy(h + PKT_SET_ID, set_id, 16);
    memcpy(h + PKT_TYPE, type, 16);
    md5_3(h + PKT_SET_ID, PKT_HASHED, body, n, NULL, 0, h + PKT_MD5);
    if (shelf__buf_add(b, h, sizeof h) || shelf__buf_add(b, body, n))
        return SHELF_ENOMEM;
    return SHELF_OK;
}

/* Write one output file under a temporary name, then rename it. */
static int write_par2_file(shelf__par2_enc *e, const char *path, const shelf__buf *meta,
                           uint32_t r0, uint32_t nr, shelf__err *err)
{
    char *tmp = NULL;
    int fd = -1, rc = SHELF_OK, x;
    uint32_t r;

    if (!(tmp = shelf__asprintf("%s.tmpXXXXXX", path))) {
        rc = SHELF_ENOMEM;
        goto out;
    }
    if ((fd = mkstemp(tmp)) < 0) {
        rc = shelf__seterr_errno(err, errno, "cannot create '%s'", tmp);
        goto out;
    }
    (void)fchmod(fd, 0644);
    for (r = r0; r < r0 + nr; r++) {
        uint8_t h[PKT_HEADER + RECV_EXP_BYTES];

        memcpy(h + PKT_MAGIC, MAGIC, sizeof MAGIC);
        shelf__put_le64(h + PKT_LEN, PKT_HEADER + RECV_EXP_BYTES + e->slice);
        memcpy(h + PKT_MD5, e->rmd5[r], 16);
        memcpy(h + PKT_SET_ID, e->set_id, 16);
        memcpy(h + PKT_TYPE, T_RECV, 16);
        shelf__put_le32(h + PKT_HEADER, r);
        if ((x = shelf__write_all(fd, h, sizeof h)) || (x = shelf__write_all(fd, e->rec[r], (size_t)e->slice))) {
            rc = shelf__seterr_errno(err, x, "cannot write '%s'", tmp);
            goto out;
        }
    }
    if ((x = shelf__write_all(fd, meta->buf, meta->len))) {
        rc = shelf__seterr_errno(err, x, "cannot write '%s'", tmp);
        goto out;
    }
    if (e->sync && fsync(fd)) {
        rc = shelf__seterr_errno(err, errno, "cannot sync '%s'", tmp);
        goto out;
    }
    if (close(fd)) {
        fd = -1;
        rc = shelf__seterr_errno(err, errno, "cannot write '%s'", tmp);
        goto out;
    }
    fd = -1;
    if (rename(tmp, path)) {
        rc = shelf__seterr_errno(err, errno, "cannot rename '%s' to '%s'", tmp, path);
        goto out;
    }
out:
    if (fd >= 0)
        close(fd);
    if (rc && tmp)
        unlink(tmp);
    free(tmp);
    return rc;
}

static int digits(uint32_t v)
{
    int d = 1;

    while (v >= 10) {
        v /= 10;
        d++;
    }
    return d;
}

int shelf__par2_enc_finish(shelf__par2_enc *e, const char *out_base, shelf__err *err)
{
    shelf__buf meta = SHELF__BUF_INIT;
    uint8_t md5[16], md5_16k[16], file_id[16], body[MAIN_IDS + ID_BYTES], lenle[8], *desc = NULL, *ifsc = NULL;
    size_t namelen = strlen(e->name), desclen, crlen;
    char creator[128], *path = NULL;
    uint32_t r0, cnt, sz, maxcnt;
    int rc = SHELF_OK, wstart, wcount;

    if (e->finished) {
        rc = shelf__seterr(err, SHELF_EINVAL, "par2 encoder for '%s' is already finished", e->name);
        goto out;
    }
    e->finished = 1;
    if (e->total == 0) {
        /* par2cmdline cannot verify a set for an empty file (it skips them). */
        rc = shelf__seterr(err, SHELF_EINVAL, "cannot write par2 files for '%s': it is empty", e->name);
        goto out;
    }
    if (e->fill) {
        uint8_t *s = e->buf[e->cur] + e->slot * e->rs.spad;
        memset(s + e->fill, 0, e->rs.spad - e->fill);
        e->fill = 0;
        e->slot++;
    }
    enc_flush_batch(e);
    shelf__pool_wait_all(e->pool);

    EVP_DigestFinal_ex(e->md5, md5, NULL);
    md5_3(e->head, e->total < sizeof e->head ? (size_t)e->total : sizeof e->head, NULL, 0, NULL, 0,
          md5_16k);
    shelf__put_le64(lenle, e->total);
    md5_3(md5_16k, 16, lenle, 8, e->name, namelen, file_id);

    /* Main packet body: slice size, one file in the recovery set. */
    shelf__put_le64(body + MAIN_SLICE, e->slice);
    shelf__put_le32(body + MAIN_NFILES, 1);
    memcpy(body + MAIN_IDS, file_id, ID_BYTES);
    md5_3(body, sizeof body, NULL, 0, NULL, 0, e->set_id);

    desclen = DESC_NAME + round_up(namelen, 4);
    if (!(desc = shelf__calloc(1, desclen)) ||
        !(ifsc = shelf__malloc(IFSC_ENTRIES + (size_t)e->nslices * IFSC_ENTRY))) {
        rc = SHELF_ENOMEM;
        goto out;
    }
    memcpy(desc + DESC_ID, file_id, ID_BYTES);
    memcpy(desc + DESC_MD5, md5, ID_BYTES);
    memcpy(desc + DESC_MD5_16K, md5_16k, ID_BYTES);
    shelf__put_le64(desc + DESC_LEN, e->total);
    memcpy(desc + DESC_NAME, e->name, namelen);
    memcpy(ifsc, file_id, 16);
    memcpy(ifsc + IFSC_ENTRIES, e->ifsc, (size_t)e->nslices * IFSC_ENTRY);
    snprintf(creator, sizeof creator, "Created by shelf %s (libshelf PAR2 encoder)", shelf_version());
    crlen = round_up(strlen(creator), 4);
    memset(creator + strlen(creator), 0, sizeof creator - strlen(creator));
    if ((rc = add_packet(&meta, e->set_id, T_MAIN, body, sizeof body)) ||
        (rc = add_packet(&meta, e->set_id, T_DESC, desc, desclen)) ||
        (rc = add_packet(&meta, e->set_id, T_IFSC, ifsc, IFSC_ENTRIES + (size_t)e->nslices * IFSC_ENTRY)) ||
        (rc = add_packet(&meta, e->set_id, T_CREATOR, (const uint8_t *)creator, crlen))) {
        rc = shelf__seterr(err, rc, "cannot build the par2 packets of '%s'", e->name);
        goto out;
    }

    if (!(e->rmd5 = shelf__calloc(e->nrec, 16))) {
        rc = SHELF_ENOMEM;
        goto out;
    }
    shelf__pool_wait(e->pool, shelf__pool_submit(e->pool, enc_out_item, e, e->nrec));

    if (!(path = shelf__asprintf("%s.par2", out_base))) {
        rc = SHELF_ENOMEM;
        goto out;
    }
    if ((rc = write_par2_file(e, path, &meta, 0, 0, err)))
        goto out;
    /* Recovery files of 1, 2, 4, ... slices, as par2cmdline names them. */
    maxcnt = 1;
    for (r0 = 0, sz = 1; r0 < e->nrec; r0 += cnt, sz = sz < (1u << 30) ? sz * 2 : sz) {
        cnt = e->nrec - r0 < sz ? e->nrec - r0 : sz;
        if (cnt > maxcnt)
            maxcnt = cnt;
    }
    wstart = digits(e->nrec - 1 > 0 ? e->nrec - 1 : 1);
    wcount = digits(maxcnt);
    for (r0 = 0, sz = 1; r0 < e->nrec; r0 += cnt, sz = sz < (1u << 30) ? sz * 2 : sz) {
        cnt = e->nrec - r0 < sz ? e->nrec - r0 : sz;
        free(path);
        if (!(path = shelf__asprintf("%s.vol%0*u+%0*u.par2", out_base, wstart, r0, wcount, cnt))) {
            rc = SHELF_ENOMEM;
            goto out;
        }
        if ((rc = write_par2_file(e, path, &meta, r0, cnt, err)))
            goto out;
    }
out:
    free(path);
    free(desc);
    free(ifsc);
    shelf__buf_release(&meta);
    return rc;
}

void shelf__par2_enc_free(shelf__par2_enc *e)
{
    if (!e)
        return;
    shelf__pool_free(e->pool);
    rs_release(&e->rs);
    free(e->buf[0]);
    free(e->buf[1]);
    free(e->recbuf);
    free(e->rec);
    free(e->rexp);
    free(e->ifsc);
    free(e->rmd5);
    if (e->md5)
        EVP_MD_CTX_free(e->md5);
    free(e->name);
    free(e);
}

/* ---- reading packets ------------------------------------------------------------- */

enum { K_MAIN, K_DESC, K_IFSC, K_CREATOR };

/* A non-recovery packet kept while scanning (body owned). */
typedef struct kept {
    int type;
    uint8_t set_id[16];
    uint8_t *body;
    size_t n;
} kept;

/* A recovery slice packet seen while scanning. */
typedef struct rkept {
    uint8_t set_id[16];
    uint32_t exponent, source;
    uint64_t offset, len;       /* of the slice data */
} rkept;

typedef struct scan_priv {
    kept *k;
    size_t nk, capk;
    rkept *r;
    size_t nr, capr;
    char **paths;               /* verify: the path of each source */
    size_t npaths;
} scan_priv;

/* Where packets are read from: a buffer or a file. */
typedef struct src {
    const uint8_t *mem;
    int fd;
    uint64_t size;
} src;

static int src_read(const src *s, uint64_t off, void *buf, size_t n)
{
    size_t got = 0;
    int x;

    if (s->mem) {
        memcpy(buf, s->mem + off, n);
        return 0;
    }
    if ((x = read_full(s->fd, off, buf, n, &got)))
        return x;
    return got == n ? 0 : EIO;
}

/* The offset of the next magic at or after from (s->size when none). */
static int find_magic(const src *s, uint64_t from, uint8_t *scratch, uint64_t *at)
{
    while (from + 8 <= s->size) {
        size_t n = s->size - from > IO_CHUNK ? IO_CHUNK : (size_t)(s->size - from);
        const uint8_t *p;
        int x;

        if (s->mem)
            p = s->mem + from;
        else if ((x = src_read(s, from, scratch, n)))
            return x;
        else
            p = scratch;
        const uint8_t *m = memmem(p, n, MAGIC, sizeof MAGIC);
        if (m) {
            *at = from + (uint64_t)(m - p);
            return 0;
        }
        if (n < 8)
            break;
        from += n - 7;
    }
    *at = s->size;
    return 0;
}

static int keep_type(const uint8_t type[16])
{
    if (!memcmp(type, T_MAIN, 16))
        return K_MAIN;
    if (!memcmp(type, T_DESC, 16))
        return K_DESC;
    if (!memcmp(type, T_IFSC, 16))
        return K_IFSC;
    if (!memcmp(type, T_CREATOR, 16))
        return K_CREATOR;
    return -1;
}

static int scan_src(shelf__par2_set *set, const src *s, uint8_t *scratch)
{
    scan_priv *pv = set->priv;
    uint32_t source = set->nsources++;
    uint64_t pos = 0;
    int rc = SHELF_OK, x;

    while (pos + PKT_HEADER <= s->size) {
        uint8_t h[PKT_HEADER], md5[16];
        uint64_t len;
        int type;
        uint8_t *body = NULL;

        if ((x = src_read(s, pos, h, sizeof h)))
            return shelf__errno_rc(x);
        if (memcmp(h + PKT_MAGIC, MAGIC, sizeof MAGIC) != 0) {
            if ((x = find_magic(s, pos + 1, scratch, &pos)))
                return shelf__errno_rc(x);
            continue;
        }
        len = shelf__get_le64(h + PKT_LEN);
        if (len < PKT_HEADER || len % 4 || len > s->size - pos) {
            set->packets_bad++;
            if ((x = find_magic(s, pos + 1, scratch, &pos)))
                return shelf__errno_rc(x);
            continue;
        }
        type = keep_type(h + PKT_TYPE);
        if (type >= 0 && len - PKT_HEADER <= MAX_META_PACKET) {
            if (!(body = shelf__malloc((size_t)(len - PKT_HEADER))))
                return SHELF_ENOMEM;
            if ((x = src_read(s, pos + PKT_HEADER, body, (size_t)(len - PKT_HEADER)))) {
                free(body);
                return shelf__errno_rc(x);
            }
            md5_3(h + PKT_SET_ID, PKT_HASHED, body, (size_t)(len - PKT_HEADER), NULL, 0, md5);
        } else {
            EVP_MD_CTX *ctx = EVP_MD_CTX_new();
            uint64_t o;

            if (!ctx || !EVP_DigestInit_ex(ctx, EVP_md5(), NULL)) {
                EVP_MD_CTX_free(ctx);
                return SHELF_ENOMEM;
            }
            EVP_DigestUpdate(ctx, h + PKT_SET_ID, PKT_HASHED);
            for (o = pos + PKT_HEADER; o < pos + len;) {
                size_t n = pos + len - o > IO_CHUNK ? IO_CHUNK : (size_t)(pos + len - o);
                if (s->mem) {
                    EVP_DigestUpdate(ctx, s->mem + o, n);
                } else if ((x = src_read(s, o, scratch, n))) {
                    EVP_MD_CTX_free(ctx);
                    return shelf__errno_rc(x);
                } else {
                    EVP_DigestUpdate(ctx, scratch, n);
                }
                o += n;
            }
            EVP_DigestFinal_ex(ctx, md5, NULL);
            EVP_MD_CTX_free(ctx);
        }
        if (memcmp(md5, h + PKT_MD5, 16) != 0) {
            /* Damaged: never trusted, not even its length. */
            free(body);
            set->packets_bad++;
            if ((x = find_magic(s, pos + 1, scratch, &pos)))
                return shelf__errno_rc(x);
            continue;
        }
        set->packets_ok++;
        if (body) {
            kept *k;

            if (pv->nk == pv->capk) {
                size_t cap = pv->capk ? 2 * pv->capk : 16;
                kept *nk = shelf__realloc(pv->k, cap * sizeof *nk);
                if (!nk) {
                    free(body);
                    return SHELF_ENOMEM;
                }
                pv->k = nk;
                pv->capk = cap;
            }
            k = &pv->k[pv->nk++];
            k->type = type;
            memcpy(k->set_id, h + PKT_SET_ID, 16);
            k->body = body;
            k->n = (size_t)(len - PKT_HEADER);
        } else if (!memcmp(h + PKT_TYPE, T_RECV, 16) && len >= PKT_HEADER + RECV_EXP_BYTES) {
            uint8_t ex[RECV_EXP_BYTES];
            rkept *r;

            if ((x = src_read(s, pos + PKT_HEADER, ex, sizeof ex)))
                return shelf__errno_rc(x);
            if (pv->nr == pv->capr) {
                size_t cap = pv->capr ? 2 * pv->capr : 64;
                rkept *nr = shelf__realloc(pv->r, cap * sizeof *nr);
                if (!nr)
                    return SHELF_ENOMEM;
                pv->r = nr;
                pv->capr = cap;
            }
            r = &pv->r[pv->nr++];
            memcpy(r->set_id, h + PKT_SET_ID, 16);
            r->exponent = shelf__get_le32(ex);
            r->source = source;
            r->offset = pos + PKT_HEADER + 4;
            r->len = len - PKT_HEADER - 4;
        } else {
            set->packets_unknown++;
        }
        pos += len;
    }
    return rc;
}

int shelf__par2_set_new(shelf__par2_set **out)
{
    shelf__par2_set *set;

    pthread_once(&slice_log_once, slice_log_build);
    *out = NULL;
    if (!(set = shelf__calloc(1, sizeof *set)))
        return SHELF_ENOMEM;
    if (!(set->priv = shelf__calloc(1, sizeof(scan_priv)))) {
        free(set);
        return SHELF_ENOMEM;
    }
    *out = set;
    return SHELF_OK;
}

static void set_clear_resolved(shelf__par2_set *set)
{
    uint32_t i;

    for (i = 0; set->files && i < set->nfiles; i++) {
        free(set->files[i].name);
        free(set->files[i].ifsc);
    }
    free(set->files);
    set->files = NULL;
    set->nfiles = 0;
    free(set->rec);
    set->rec = NULL;
    set->nrecovery = 0;
    free(set->creator);
    set->creator = NULL;
}

void shelf__par2_set_free(shelf__par2_set *set)
{
    scan_priv *pv;
    size_t i;

    if (!set)
        return;
    set_clear_resolved(set);
    pv = set->priv;
    if (pv) {
        for (i = 0; i < pv->nk; i++)
            free(pv->k[i].body);
        free(pv->k);
        free(pv->r);
        for (i = 0; i < pv->npaths; i++)
            free(pv->paths[i]);
        free(pv->paths);
        free(pv);
    }
    free(set);
}

int shelf__par2_set_scan_mem(shelf__par2_set *set, const void *data, size_t n)
{
    src s = { data, -1, n };

    return scan_src(set, &s, NULL);
}

static int cmp_rec(const void *a, const void *b)
{
    const shelf__par2_rslice *x = a, *y = b;

    if (x->exponent != y->exponent)
        return x->exponent < y->exponent ? -1 : 1;
    if (x->source != y->source)
        return x->source < y->source ? -1 : 1;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

int shelf__par2_set_resolve(shelf__par2_set *set, shelf__err *err)
{
    scan_priv *pv = set->priv;
    const kept *main = NULL;
    uint32_t nf = 0, f, total = 0;
    size_t i, j;
    int rc = SHELF_OK;

    set_clear_resolved(set);
    for (i = 0; i < pv->nk && !main; i++) {
        const kept *k = &pv->k[i];
        uint64_t ss;

        if (k->type != K_MAIN || k->n < MAIN_IDS)
            continue;
        ss = shelf__get_le64(k->body + MAIN_SLICE);
        nf = shelf__get_le32(k->body + MAIN_NFILES);
        if (ss == 0 || ss % 4 || (k->n - MAIN_IDS) % ID_BYTES || nf > (k->n - MAIN_IDS) / ID_BYTES)
            continue;
        main = k;
    }
    if (!main) {
        rc = shelf__seterr(err, SHELF_EFORMAT, "no intact par2 main packet found");
        goto out;
    }
    memcpy(set->set_id, main->set_id, 16);
    set->slice_size = shelf__get_le64(main->body);
    if (set->slice_size > MAX_SLICE_SIZE) {
        rc = shelf__seterr(err, SHELF_EFORMAT, "par2 slice size %llu is too large",
                           (unsigned long long)set->slice_size);
        goto out;
    }
    if (nf > SHELF__PAR2_MAX_SLICES) {
        rc = shelf__seterr(err, SHELF_EFORMAT, "par2 set of %u files is too large", nf);
        goto out;
    }
    if (!(set->files = shelf__calloc(nf ? nf : 1, sizeof *set->files))) {
        rc = SHELF_ENOMEM;
        goto out;
    }
    set->nfiles = nf;
    for (f = 0; f < nf; f++) {
        shelf__par2_file *fl = &set->files[f];
        const uint8_t *id = main->body + MAIN_IDS + ID_BYTES * (size_t)f;
        const kept *desc = NULL, *ifsc = NULL;
        uint64_t ns;
        size_t nl;

        for (j = 0; j < f; j++)
            if (!memcmp(set->files[j].id, id, 16)) {
                rc = shelf__seterr(err, SHELF_EFORMAT, "par2 main packet lists a file twice");
                goto out;
            }
        memcpy(fl->id, id, 16);
        for (i = 0; i < pv->nk && !desc; i++) {
            const kept *k = &pv->k[i];
            if (k->type == K_DESC && k->n >= DESC_NAME && !memcmp(k->set_id, set->set_id, 16) &&
                !memcmp(k->body, id, 16))
                desc = k;
        }
        if (!desc) {
            rc = shelf__seterr(err, SHELF_EFORMAT, "par2 set has no description of file %u", f + 1);
            goto out;
        }
        fl->have_desc = 1;
        memcpy(fl->md5, desc->body + DESC_MD5, ID_BYTES);
        memcpy(fl->md5_16k, desc->body + DESC_MD5_16K, ID_BYTES);
        fl->size = shelf__get_le64(desc->body + DESC_LEN);
        nl = desc->n - DESC_NAME;
        while (nl && desc->body[DESC_NAME + nl - 1] == '\0')
            nl--;
        if (!name_is_safe((const char *)desc->body + DESC_NAME, nl)) {
            rc = shelf__seterr(err, SHELF_EFORMAT, "par2 file name '%.*s' is not a safe relative name",
                               (int)(nl > 200 ? 200 : nl), (const char *)desc->body + DESC_NAME);
            goto out;
        }
        if (!(fl->name = shelf__strndup((const char *)desc->body + DESC_NAME, nl))) {
            rc = SHELF_ENOMEM;
            goto out;
        }
        ns = fl->size / set->slice_size + (fl->size % set->slice_size ? 1 : 0);
        if (ns > SHELF__PAR2_MAX_SLICES - total) {
            rc = shelf__seterr(err, SHELF_EFORMAT, "par2 set has more than %u slices",
                               SHELF__PAR2_MAX_SLICES);
            goto out;
        }
        fl->nslices = (uint32_t)ns;
        fl->first = total;
        total += (uint32_t)ns;
        for (i = 0; i < pv->nk && !ifsc; i++) {
            const kept *k = &pv->k[i];
            if (k->type == K_IFSC && k->n == IFSC_ENTRIES + IFSC_ENTRY * ns && !memcmp(k->set_id, set->set_id, 16) &&
                !memcmp(k->body, id, 16))
                ifsc = k;
        }
        if (ifsc && ns) {
            if (!(fl->ifsc = shelf__malloc((size_t)ns * IFSC_ENTRY))) {
                rc = SHELF_ENOMEM;
                goto out;
            }
            memcpy(fl->ifsc, ifsc->body + IFSC_ENTRIES, (size_t)ns * IFSC_ENTRY);
        }
    }
    set->nslices = total;

    /* Recovery slices of this set and this slice size, one per exponent. */
    if (!(set->rec = shelf__calloc(pv->nr ? pv->nr : 1, sizeof *set->rec))) {
        rc = SHELF_ENOMEM;
        goto out;
    }
    for (i = 0; i < pv->nr; i++) {
        const rkept *r = &pv->r[i];
        if (r->len != set->slice_size || memcmp(r->set_id, set->set_id, 16) != 0)
            continue;
        set->rec[set->nrecovery++] = (shelf__par2_rslice){ r->exponent, r->source, r->offset };
    }
    qsort(set->rec, set->nrecovery, sizeof *set->rec, cmp_rec);
    for (i = j = 0; i < set->nrecovery; i++)
        if (j == 0 || set->rec[j - 1].exponent != set->rec[i].exponent)
            set->rec[j++] = set->rec[i];
    set->nrecovery = (uint32_t)j;

    for (i = 0; i < pv->nk; i++) {
        const kept *k = &pv->k[i];
        size_t n;

        if (k->type != K_CREATOR || memcmp(k->set_id, set->set_id, 16) != 0)
            continue;
        n = strnlen((const char *)k->body, k->n > 1024 ? 1024 : k->n);
        if (!(set->creator = shelf__strndup((const char *)k->body, n))) {
            rc = SHELF_ENOMEM;
            goto out;
        }
        for (j = 0; j < n; j++)
            if ((unsigned char)set->creator[j] < 0x20 || (unsigned char)set->creator[j] > 0x7e)
                set->creator[j] = '?';
        break;
    }
out:
    if (rc)
        set_clear_resolved(set);
    return rc;
}

/* ---- verify ------------------------------------------------------------------------ */

void shelf__par2_report_release(shelf__par2_report *rep)
{
    uint32_t i;

    if (!rep)
        return;
    for (i = 0; rep->files && i < rep->nfiles; i++) {
        free(rep->files[i].name);
        free(rep->files[i].path);
        free(rep->files[i].bad);
    }
    free(rep->files);
    memset(rep, 0, sizeof *rep);
}

/* The folder of path (owned) and OUT's last component (owned). */
static int split_par2_path(const char *path, char **dir, char **prefix)
{
    const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
    size_t n = strlen(base), i;

    *dir = slash ? shelf__strndup(path, slash == path ? 1 : (size_t)(slash - path)) : shelf__strdup(".");
    if (n > 5 && !strcmp(base + n - 5, ".par2"))
        n -= 5;
    /* Drop ".volA+B" / ".volA-B". */
    for (i = n; i > 0 && base[i - 1] != '.'; i--)
        ;
    if (i > 0 && n - i > 3 && !strncmp(base + i, "vol", 3)) {
        size_t k = i + 3, d1 = 0, d2 = 0;
        while (k < n && base[k] >= '0' && base[k] <= '9')
            k++, d1++;
        if (k < n && (base[k] == '+' || base[k] == '-')) {
            k++;
            while (k < n && base[k] >= '0' && base[k] <= '9')
                k++, d2++;
            if (k == n && d1 && d2)
                n = i - 1;
        }
    }
    *prefix = shelf__strndup(base, n);
    return *dir && *prefix ? SHELF_OK : SHELF_ENOMEM;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The .par2 files of the set: path first, then the others beside it. */
static int list_sources(const char *path, const char *dir, const char *prefix, char ***out, size_t *nout,
                        shelf__err *err)
{
    DIR *d = NULL;
    struct dirent *de;
    char **v = NULL;
    size_t n = 0, cap = 0, pl = strlen(prefix), first;
    int rc = SHELF_OK;
    const char *given = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;

    *out = NULL;
    *nout = 0;
    if (!(v = shelf__calloc(16, sizeof *v)) || !(v[0] = shelf__strdup(path))) {
        rc = SHELF_ENOMEM;
        goto out;
    }
    cap = 16;
    n = first = 1;
    if (!(d = opendir(dir))) {
        rc = shelf__seterr_errno(err, errno, "cannot list '%s'", dir);
        goto out;
    }
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);

        if (l < pl + 5 || strncmp(de->d_name, prefix, pl) != 0 || strcmp(de->d_name + l - 5, ".par2") != 0 ||
            !strcmp(de->d_name, given))
            continue;
        if (l != pl + 5 && strncmp(de->d_name + pl, ".vol", 4) != 0)
            continue;
        if (n == cap) {
            char **nv = shelf__realloc(v, 2 * cap * sizeof *v);
            if (!nv) {
                rc = SHELF_ENOMEM;
                goto out;
            }
            v = nv;
            cap *= 2;
        }
        if (!(v[n] = shelf__path_join(dir, de->d_name))) {
            rc = SHELF_ENOMEM;
            goto out;
        }
        n++;
    }
    qsort(v + first, n - first, sizeof *v, cmp_str);
    *out = v;
    *nout = n;
    v = NULL;
out:
    if (d)
        closedir(d);
    while (v && n)
        free(v[--n]);
    free(v);
    return rc;
}

/* Read and resolve the set par2_path belongs to. */
static int load_set(const char *par2_path, shelf__par2_set **out, char **dirp, shelf__err *err)
{
    shelf__par2_set *set = NULL;
    char *dir = NULL, *prefix = NULL, **paths = NULL;
    uint8_t *scratch = NULL;
    size_t n = 0, i;
    struct stat st;
    int rc, fd = -1;

    *out = NULL;
    *dirp = NULL;
    if (stat(par2_path, &st)) {
        rc = shelf__seterr_errno(err, errno, "cannot read '%s'", par2_path);
        goto out;
    }
    if ((rc = split_par2_path(par2_path, &dir, &prefix)) ||
        (rc = list_sources(par2_path, dir, prefix, &paths, &n, err)) ||
        (rc = shelf__par2_set_new(&set)))
        goto out;
    if (!(scratch = shelf__malloc(IO_CHUNK))) {
        rc = SHELF_ENOMEM;
        goto out;
    }
    ((scan_priv *)set->priv)->paths = paths;
    ((scan_priv *)set->priv)->npaths = n;
    paths = NULL;       /* owned by the set now */
    for (i = 0; i < n; i++) {
        const char *pi = ((scan_priv *)set->priv)->paths[i];
        src s = { NULL, -1, 0 };

        if ((fd = open(pi, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st)) {
            if (i == 0) {
                rc = shelf__seterr_errno(err, errno, "cannot read '%s'", pi);
                goto out;
            }
            set->nsources++;        /* keep source numbers equal to path indices */
        } else {
            s.fd = fd;
            s.size = (uint64_t)st.st_size;
            if ((rc = scan_src(set, &s, scratch))) {
                rc = shelf__seterr(err, rc, "cannot read '%s'", pi);
                goto out;
            }
        }
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    if ((rc = shelf__par2_set_resolve(set, err)))
        goto out;
    *out = set;
    *dirp = dir;
    set = NULL;
    dir = NULL;
out:
    if (fd >= 0)
        close(fd);
    for (i = 0; paths && i < n; i++)
        free(paths[i]);
    free(paths);
    shelf__par2_set_free(set);
    free(scratch);
    free(dir);
    free(prefix);
    return rc;
}

/* Checking slices of one file: a batch read, hashed by the workers. */
typedef struct vcheck {
    uint8_t *buf;               /* kmax x slice */
    size_t slice;
    const uint8_t *ifsc;        /* of the batch's first slice */
    uint8_t *ok;                /* per slot */
} vcheck;

static void vcheck_item(void *arg, size_t k, int worker)
{
    vcheck *v = arg;
    const uint8_t *s = v->buf + k * v->slice, *want = v->ifsc + k * IFSC_ENTRY;
    uint8_t md5[16];

    (void)worker;
    v->ok[k] = 0;
    if (crc32_of(s, v->slice) != shelf__get_le32(want + IFSC_CRC))
        return;
    md5_3(s, v->slice, NULL, 0, NULL, 0, md5);
    v->ok[k] = memcmp(md5, want, 16) == 0;
}

/* Read slice i of a file (size bytes recorded) zero-padded into buf. */
static int read_slice(int fd, uint64_t slice, uint64_t size, uint32_t i, uint8_t *buf)
{
    uint64_t off = (uint64_t)i * slice;
    size_t want = size - off < slice ? (size_t)(size - off) : (size_t)slice, got = 0;
    int x = 0;

    if (fd >= 0)
        x = read_full(fd, off, buf, want, &got);
    memset(buf + got, 0, (size_t)slice - got);
    return x;
}

static int add_bad(shelf__par2_file_report *fr, uint32_t i)
{
    if ((fr->nbad & (fr->nbad - 1)) == 0 || fr->nbad == 0) {
        uint32_t *nb = shelf__realloc(fr->bad, (fr->nbad ? 2 * (size_t)fr->nbad : 1) * sizeof *nb);
        if (!nb)
            return SHELF_ENOMEM;
        fr->bad = nb;
    }
    fr->bad[fr->nbad++] = i;
    return SHELF_OK;
}

static int verify_file(const shelf__par2_set *set, const shelf__par2_file *fl, const char *dir,
                       const char *data, shelf__pool *p, shelf__par2_file_report *fr, shelf__err *err)
{
    uint64_t S = set->slice_size;
    size_t kmax = BATCH_BYTES / S ? BATCH_BYTES / S : 1;
    uint8_t ok[BATCH_MAX], *buf = NULL;
    vcheck v;
    struct stat st;
    uint32_t i, k, n;
    int fd = -1, rc = SHELF_OK, x;

    if (kmax > BATCH_MAX)
        kmax = BATCH_MAX;
    if (!(fr->name = shelf__strdup(fl->name)) ||
        !(fr->path = data ? shelf__strdup(data) : shelf__path_join(dir, fl->name)))
        return SHELF_ENOMEM;
    fr->size = fl->size;
    fr->first = fl->first;
    fr->nslices = fl->nslices;
    if ((fd = open(fr->path, O_RDONLY | O_CLOEXEC)) < 0) {
        if (errno != ENOENT && errno != ENOTDIR)
            return shelf__seterr_errno(err, errno, "cannot read '%s'", fr->path);
        fr->missing = 1;
    } else if (fstat(fd, &st)) {
        rc = shelf__seterr_errno(err, errno, "cannot read '%s'", fr->path);
        goto out;
    } else {
        fr->found_size = (uint64_t)st.st_size;
    }
    if (fr->missing) {
        for (i = 0; i < fl->nslices; i++)
            if ((rc = add_bad(fr, i)))
                goto out;
        goto out;
    }
    if (!fl->ifsc) {
        /* No slice checksums: the whole file's MD5 decides. */
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        uint8_t md5[16];
        uint64_t o;
        size_t got = 0;

        if (!ctx || !(buf = shelf__malloc(IO_CHUNK)) || !EVP_DigestInit_ex(ctx, EVP_md5(), NULL)) {
            EVP_MD_CTX_free(ctx);
            rc = SHELF_ENOMEM;
            goto out;
        }
        for (o = 0; o < fl->size; o += got) {
            size_t want = fl->size - o > IO_CHUNK ? IO_CHUNK : (size_t)(fl->size - o);
            if (read_full(fd, o, buf, want, &got) != 0 || got == 0)
                break;          /* unreadable: counted as damaged below */
            EVP_DigestUpdate(ctx, buf, got);
        }
        EVP_DigestFinal_ex(ctx, md5, NULL);
        EVP_MD_CTX_free(ctx);
        if (o != fl->size || memcmp(md5, fl->md5, 16) != 0)
            for (i = 0; i < fl->nslices; i++)
                if ((rc = add_bad(fr, i)))
                    goto out;
        goto out;
    }
    if (!(buf = shelf__malloc(kmax * (size_t)S))) {
        rc = SHELF_ENOMEM;
        goto out;
    }
    v.buf = buf;
    v.slice = (size_t)S;
    v.ok = ok;
    for (i = 0; i < fl->nslices; i += n) {
        n = fl->nslices - i < kmax ? fl->nslices - i : (uint32_t)kmax;
        for (k = 0; k < n; k++)
            if ((x = read_slice(fd, S, fl->size, i + k, buf + (size_t)k * S))) {
                rc = shelf__seterr_errno(err, x, "cannot read '%s'", fr->path);
                goto out;
            }
        v.ifsc = fl->ifsc + (size_t)i * IFSC_ENTRY;
        shelf__pool_wait(p, shelf__pool_submit(p, vcheck_item, &v, n));
        for (k = 0; k < n; k++)
            if (!ok[k] && (rc = add_bad(fr, i + k)))
                goto out;
    }
out:
    if (!rc)
        fr->intact = !fr->missing && fr->nbad == 0 && fr->found_size == fl->size;
    if (fd >= 0)
        close(fd);
    free(buf);
    return rc;
}

/* The size and the MD5 of the first 16 KiB of the file at path. */
static int md5_16k_of(const char *path, uint8_t md5[16], uint64_t *size, shelf__err *err)
{
    uint8_t buf[16384];
    struct stat st;
    size_t got = 0;
    int fd, x;

    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st)) {
        x = errno;
        if (fd >= 0)
            close(fd);
        return shelf__seterr_errno(err, x, "cannot read '%s'", path);
    }
    x = read_full(fd, 0, buf, sizeof buf, &got);
    close(fd);
    if (x)
        return shelf__seterr_errno(err, x, "cannot read '%s'", path);
    *size = (uint64_t)st.st_size;
    md5_3(buf, got, NULL, 0, NULL, 0, md5);
    return SHELF_OK;
}

/* Which file of the set data stands for (*di): the one of its size and
 * first 16 KiB (*by_content 1), else the only one; -1 when neither. */
static int data_index(const shelf__par2_set *set, const char *data, int *di, int *by_content, shelf__err *err)
{
    uint8_t md5[16];
    uint64_t size;
    uint32_t f;
    int rc;

    *by_content = 0;
    *di = -1;
    if ((rc = md5_16k_of(data, md5, &size, err)))
        return rc;
    for (f = 0; f < set->nfiles; f++)
        if (!memcmp(set->files[f].md5_16k, md5, 16)) {
            *by_content = 1;
            *di = (int)f;
            return SHELF_OK;
        }
    if (set->nfiles == 1)
        *di = 0;
    return SHELF_OK;
}

/* Damaged at the start but maybe this file: of the recorded size, and
 * most of up to 32 slices spread over it match their checksums. */
static int slices_agree(const shelf__par2_set *set, const shelf__par2_file *fl, const char *data)
{
    uint64_t S = set->slice_size;
    uint8_t *buf = NULL, md5[16];
    struct stat st;
    uint32_t k, n = 0, i, good = 0;
    int fd = -1;

    if (!fl->ifsc || !fl->nslices || S > ((uint64_t)64 << 20) || (fd = open(data, O_RDONLY | O_CLOEXEC)) < 0 ||
        fstat(fd, &st) || (uint64_t)st.st_size != fl->size || !(buf = shelf__malloc((size_t)S)))
        goto out;
    n = fl->nslices < 32 ? fl->nslices : 32;
    for (k = 0; k < n; k++) {
        i = (uint32_t)((uint64_t)k * fl->nslices / n);
        if (read_slice(fd, S, fl->size, i, buf))
            break;
        md5_3(buf, (size_t)S, NULL, 0, NULL, 0, md5);
        good += crc32_of(buf, (size_t)S) == shelf__get_le32(fl->ifsc + (size_t)i * IFSC_ENTRY + IFSC_CRC) &&
                !memcmp(md5, fl->ifsc + (size_t)i * IFSC_ENTRY, 16);
    }
out:
    if (fd >= 0)
        close(fd);
    free(buf);
    return good * 2 > (n ? n : 1) && good > 0;
}

int shelf__par2_describes(const char *par2_path, const char *data, int *match, shelf__err *err)
{
    shelf__par2_set *set = NULL;
    uint8_t *scratch = NULL;
    struct stat st;
    src s = { NULL, -1, 0 };
    int rc, by_content = 0, di;

    *match = 0;
    if ((s.fd = open(par2_path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(s.fd, &st)) {
        rc = shelf__seterr_errno(err, errno, "cannot read '%s'", par2_path);
        goto out;
    }
    s.size = (uint64_t)st.st_size;
    if (shelf__par2_set_new(&set) != SHELF_OK || !(scratch = shelf__malloc(IO_CHUNK))) {
        rc = shelf__seterr(err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = scan_src(set, &s, scratch))) {
        rc = shelf__seterr(err, rc, "cannot read '%s'", par2_path);
        goto out;
    }
    if ((rc = shelf__par2_set_resolve(set, err)) || (rc = data_index(set, data, &di, &by_content, err)))
        goto out;
    *match = by_content;
    if (!by_content && di >= 0)
        *match = slices_agree(set, &set->files[di], data);
out:
    if (s.fd >= 0)
        close(s.fd);
    shelf__par2_set_free(set);
    free(scratch);
    return rc;
}

/* Verify with an already loaded set (data: the file that stands for set
 * file di, or NULL). */
static int verify_set(const shelf__par2_set *set, const char *dir, const char *data, int di, shelf__pool *p,
                      shelf__par2_report *rep, shelf__err *err)
{
    uint32_t f;
    int rc;

    rep->slice_size = set->slice_size;
    rep->nslices = set->nslices;
    rep->nrecovery = set->nrecovery;
    rep->packets_bad = set->packets_bad;
    if (!(rep->files = shelf__calloc(set->nfiles ? set->nfiles : 1, sizeof *rep->files)))
        return SHELF_ENOMEM;
    rep->nfiles = set->nfiles;
    for (f = 0; f < set->nfiles; f++) {
        if ((rc = verify_file(set, &set->files[f], dir, data && (int)f == di ? data : NULL, p,
                              &rep->files[f], err)))
            return rc;
        rep->bad_slices += rep->files[f].nbad;
        if (!rep->files[f].intact)
            rep->damaged = 1;
    }
    rep->repairable = rep->bad_slices <= rep->nrecovery;
    if (!rep->damaged)
        return SHELF_OK;
    for (f = 0; f < set->nfiles && rep->files[f].intact; f++)
        ;
    return shelf__seterr(err, SHELF_ECORRUPT,
                         "'%s' is damaged: %u of %u par2 slices bad, %u recovery slices: %s",
                         rep->files[f].path, rep->bad_slices, rep->nslices, rep->nrecovery,
                         rep->repairable ? "repairable" : "not repairable");
}

static int run(const char *par2_path, const shelf__par2_params *params, shelf__par2_report *rep,
               int repair, shelf__err *err);

int shelf__par2_verify(const char *par2_path, const shelf__par2_params *params,
                       shelf__par2_report *rep, shelf__err *err)
{
    return run(par2_path, params, rep, 0, err);
}

int shelf__par2_repair(const char *par2_path, const shelf__par2_params *params,
                       shelf__par2_report *rep, shelf__err *err)
{
    return run(par2_path, params, rep, 1, err);
}

/* ---- repair ------------------------------------------------------------------------ */

/* Invert the n x n matrix a in place (Gauss-Jordan); SHELF_ECORRUPT when singular. */
static int gf_invert(uint16_t *a, size_t n)
{
    uint16_t *inv = shelf__calloc(n ? n * n : 1, sizeof *inv);
    size_t i, j, c, piv;

    if (!inv)
        return SHELF_ENOMEM;
    for (i = 0; i < n; i++)
        inv[i * n + i] = 1;
    for (c = 0; c < n; c++) {
        uint16_t d;

        for (piv = c; piv < n && !a[piv * n + c]; piv++)
            ;
        if (piv == n) {
            free(inv);
            return SHELF_ECORRUPT;
        }
        if (piv != c)
            for (j = 0; j < n; j++) {
                uint16_t t = a[c * n + j];
                a[c * n + j] = a[piv * n + j];
                a[piv * n + j] = t;
                t = inv[c * n + j];
                inv[c * n + j] = inv[piv * n + j];
                inv[piv * n + j] = t;
            }
        d = shelf__gf16_inv(a[c * n + c]);
        for (j = 0; j < n; j++) {
            a[c * n + j] = shelf__gf16_mul(a[c * n + j], d);
            inv[c * n + j] = shelf__gf16_mul(inv[c * n + j], d);
        }
        for (i = 0; i < n; i++) {
            uint16_t f = a[i * n + c];
            if (i == c || !f)
                continue;
            for (j = 0; j < n; j++) {
                a[i * n + j] ^= shelf__gf16_mul(f, a[c * n + j]);
                inv[i * n + j] ^= shelf__gf16_mul(f, inv[c * n + j]);
            }
        }
    }
    memcpy(a, inv, n * n * sizeof *a);
    free(inv);
    return SHELF_OK;
}

/* The solve step: out[t] = sum over j of inv[t][j] * target[j], rows by item. */
typedef struct solve {
    const shelf__gf16_kernel *kern;
    const uint16_t *inv;
    size_t m, spad;
    const uint8_t *const *target;
    uint8_t **out;
    int failed;
} solve;

static void solve_item(void *arg, size_t t, int worker)
{
    solve *s = arg;
    shelf__gf16_coef *c = alloc_aligned(s->m * sizeof *c);
    size_t j, off, chunk = round_up((size_t)384 * 1024 / s->m, SHELF__GF16_BLOCK);

    (void)worker;
    if (!c) {
        s->failed = 1;
        return;
    }
    for (j = 0; j < s->m; j++)
        shelf__gf16_coef_init(&c[j], s->inv[t * s->m + j]);
    memset(s->out[t], 0, s->spad);
    for (off = 0; off < s->spad; off += chunk)
        s->kern->muladd(s->out[t] + off, s->target, c, s->m, off,
                        s->spad - off < chunk ? s->spad - off : chunk);
    shelf__gf16_unsplit(s->out[t], s->out[t], s->spad);
    free(c);
}

/* Write the file fl whole from its intact slices and the rebuilt ones. */
static int rewrite_file(const shelf__par2_set *set, const shelf__par2_file *fl,
                        const shelf__par2_file_report *fr, uint8_t *const *rebuilt, int sync,
                        shelf__err *err)
{
    uint64_t S = set->slice_size;
    uint8_t *buf = NULL, md5[16];
    char *tmp = NULL, *slash;
    EVP_MD_CTX *ctx = NULL;
    int in = -1, fd = -1, rc = SHELF_OK, x;
    uint32_t i, b = 0;

    if (!(buf = shelf__malloc((size_t)S)) || !(tmp = shelf__asprintf("%s.tmpXXXXXX", fr->path)) ||
        !(ctx = EVP_MD_CTX_new()) || !EVP_DigestInit_ex(ctx, EVP_md5(), NULL)) {
        rc = SHELF_ENOMEM;
        goto out;
    }
    if (fr->missing && (slash = strrchr(tmp, '/')) && slash != tmp) {
        *slash = '\0';
        x = shelf__mkdirs(tmp, 0755);
        *slash = '/';
        if (x) {
            rc = shelf__seterr_errno(err, x, "cannot create the folder of '%s'", fr->path);
            goto out;
        }
    }
    if (!fr->missing && (in = open(fr->path, O_RDONLY | O_CLOEXEC)) < 0) {
        rc = shelf__seterr_errno(err, errno, "cannot read '%s'", fr->path);
        goto out;
    }
    if ((fd = mkstemp(tmp)) < 0) {
        rc = shelf__seterr_errno(err, errno, "cannot create '%s'", tmp);
        goto out;
    }
    (void)fchmod(fd, 0644);
    for (i = 0; i < fl->nslices; i++) {
        uint64_t off = (uint64_t)i * S;
        size_t n = fl->size - off < S ? (size_t)(fl->size - off) : (size_t)S;
        const uint8_t *d;

        if (b < fr->nbad && fr->bad[b] == i) {
            d = rebuilt[b];
            b++;
        } else {
            if ((x = read_slice(in, S, fl->size, i, buf))) {
                rc = shelf__seterr_errno(err, x, "cannot read '%s'", fr->path);
                goto out;
            }
            d = buf;
        }
        EVP_DigestUpdate(ctx, d, n);
        if ((x = shelf__write_all(fd, d, n))) {
            rc = shelf__seterr_errno(err, x, "cannot write '%s'", tmp);
            goto out;
        }
    }
    EVP_DigestFinal_ex(ctx, md5, NULL);
    if (memcmp(md5, fl->md5, 16) != 0) {
        rc = shelf__seterr(err, SHELF_ECORRUPT, "repair of '%s' failed: the rebuilt file's MD5 differs",
                           fr->path);
        goto out;
    }
    if (sync && fsync(fd)) {
        rc = shelf__seterr_errno(err, errno, "cannot sync '%s'", tmp);
        goto out;
    }
    if (close(fd)) {
        fd = -1;
        rc = shelf__seterr_errno(err, errno, "cannot write '%s'", tmp);
        goto out;
    }
    fd = -1;
    if (rename(tmp, fr->path)) {
        rc = shelf__seterr_errno(err, errno, "cannot rename '%s' to '%s'", tmp, fr->path);
        goto out;
    }
out:
    if (fd >= 0)
        close(fd);
    if (in >= 0)
        close(in);
    if (rc && tmp)
        unlink(tmp);
    EVP_MD_CTX_free(ctx);
    free(tmp);
    free(buf);
    return rc;
}

static int repair_set(const shelf__par2_set *set, const shelf__gf16_kernel *kern, shelf__pool *p, int nthreads,
                      int sync, shelf__par2_report *rep, shelf__err *err)
{
    scan_priv *pv = set->priv;
    uint64_t S = set->slice_size;
    size_t m = rep->bad_slices, t, j, k, spad = round_up((size_t)S, SHELF__GF16_BLOCK);
    uint32_t *miss = NULL, *texp = NULL, f, i, start, b;
    uint16_t *a = NULL;
    uint8_t *tbuf = NULL, *obuf = NULL, **target = NULL, **out = NULL, *batch = NULL;
    uint32_t idx[BATCH_MAX];
    solve sv;
    rs r;
    int rc = SHELF_OK, fd = -1, x;

    memset(&r, 0, sizeof r);
    if (!(miss = shelf__calloc(m ? m : 1, sizeof *miss)) ||
        !(texp = shelf__calloc(m ? m : 1, sizeof *texp)) || !(a = shelf__calloc(m ? m * m : 1, sizeof *a)) ||
        !(target = shelf__calloc(m ? m : 1, sizeof *target)) || !(out = shelf__calloc(m ? m : 1, sizeof *out))) {
        rc = SHELF_ENOMEM;
        goto out;
    }
    for (f = 0, t = 0; f < rep->nfiles; f++)
        for (b = 0; b < rep->files[f].nbad; b++)
            miss[t++] = rep->files[f].first + rep->files[f].bad[b];
    /* Pick m recovery slices whose rows are independent (almost always the
     * first m: PAR2's matrix is not always invertible, so slide on). */
    for (start = 0;; start++) {
        if (m == 0 || start + m > set->nrecovery) {
            if (m == 0)
                break;
            rc = shelf__seterr(err, SHELF_ECORRUPT, "cannot repair: no invertible choice of %zu recovery slices",
                               m);
            goto out;
        }
        for (j = 0; j < m; j++) {
            texp[j] = set->rec[start + j].exponent;
            for (t = 0; t < m; t++)
                a[j * m + t] = factor(miss[t], texp[j]);
        }
        if ((rc = gf_invert(a, m)) == SHELF_OK)
            break;
        if (rc != SHELF_ECORRUPT)
            goto out;
    }
    if (m) {
        if (!(tbuf = alloc_aligned(m * spad)) || !(obuf = alloc_aligned(m * spad))) {
            rc = shelf__seterr(err, SHELF_ENOMEM, "cannot allocate %zu slices of %llu bytes for repair", 2 * m,
                               (unsigned long long)S);
            goto out;
        }
        /* Targets start as the recovery slices... */
        for (j = 0; j < m; j++) {
            const shelf__par2_rslice *rs_ = &set->rec[start + j];
            target[j] = tbuf + j * spad;
            out[j] = obuf + j * spad;
            memset(target[j], 0, spad);
            if ((fd = open(pv->paths[rs_->source], O_RDONLY | O_CLOEXEC)) < 0) {
                rc = shelf__seterr_errno(err, errno, "cannot read '%s'", pv->paths[rs_->source]);
                goto out;
            }
            if ((x = read_full(fd, rs_->offset, target[j], (size_t)S, NULL))) {
                rc = shelf__seterr_errno(err, x, "cannot read '%s'", pv->paths[rs_->source]);
                goto out;
            }
            close(fd);
            fd = -1;
            shelf__gf16_split(target[j], target[j], spad);
        }
        /* ... minus what every intact slice gave them. */
        if ((rc = rs_init(&r, kern, (size_t)S, (uint32_t)m, nthreads)))
            goto out;
        r.target = target;
        r.texp = texp;
        if (!(batch = alloc_aligned(r.kmax * spad))) {
            rc = SHELF_ENOMEM;
            goto out;
        }
        for (f = 0; f < set->nfiles; f++) {
            const shelf__par2_file *fl = &set->files[f];
            const shelf__par2_file_report *fr = &rep->files[f];

            if (fr->nbad == fl->nslices)
                continue;
            if ((fd = open(fr->path, O_RDONLY | O_CLOEXEC)) < 0) {
                rc = shelf__seterr_errno(err, errno, "cannot read '%s'", fr->path);
                goto out;
            }
            for (i = 0, b = 0, k = 0; i < fl->nslices; i++) {
                if (b < fr->nbad && fr->bad[b] == i) {
                    b++;
                    continue;
                }
                if ((x = read_slice(fd, S, fl->size, i, batch + k * spad))) {
                    rc = shelf__seterr_errno(err, x, "cannot read '%s'", fr->path);
                    goto out;
                }
                memset(batch + k * spad + S, 0, spad - (size_t)S);
                idx[k++] = fl->first + i;
                if (k == r.kmax || i + 1 == fl->nslices) {
                    rs_submit(&r, p, batch, idx, k);
                    shelf__pool_wait_all(p);
                    k = 0;
                }
            }
            if (k) {
                rs_submit(&r, p, batch, idx, k);
                shelf__pool_wait_all(p);
            }
            close(fd);
            fd = -1;
        }
        sv = (solve){ kern, a, m, spad, (const uint8_t *const *)target, out, 0 };
        shelf__pool_wait(p, shelf__pool_submit(p, solve_item, &sv, m));
        if (sv.failed) {
            rc = SHELF_ENOMEM;
            goto out;
        }
    }
    for (f = 0, t = 0; f < set->nfiles; f++) {
        const shelf__par2_file_report *fr = &rep->files[f];

        if (!fr->intact && (rc = rewrite_file(set, &set->files[f], fr, out + t, sync, err)))
            goto out;
        t += fr->nbad;
    }
out:
    if (fd >= 0)
        close(fd);
    rs_release(&r);
    free(batch);
    free(tbuf);
    free(obuf);
    free(target);
    free(out);
    free(a);
    free(texp);
    free(miss);
    return rc;
}

static int run(const char *par2_path, const shelf__par2_params *params, shelf__par2_report *rep,
               int repair, shelf__err *err)
{
    shelf__par2_report local;
    shelf__par2_set *set = NULL;
    const shelf__gf16_kernel *kern;
    char *dir = NULL;
    const char *data = params ? params->data : NULL;
    shelf__pool *p = NULL;
    int rc, nthreads = default_threads(params), di = -1;

    if (!rep)
        rep = &local;
    memset(rep, 0, sizeof *rep);
    if (!(kern = pick_kernel(params, err)))
        return SHELF_EINVAL;
    if ((rc = load_set(par2_path, &set, &dir, err)))
        goto out;
    if (!set) {                 /* load_set fills it when it succeeds */
        rc = shelf__seterr(err, SHELF_EIO, "cannot read '%s'", par2_path);
        goto out;
    }
    if (data && (rc = data_index(set, data, &di, &rep->by_content, err)))
        goto out;
    if (data && di < 0) {
        rc = shelf__seterr(err, SHELF_EFORMAT, "'%s' describes no file like '%s'", par2_path, data);
        goto out;
    }
    if (!(p = shelf__pool_new(pool_threads(nthreads), POOL_QUEUE))) {
        rc = shelf__seterr(err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    rc = verify_set(set, dir, data, di, p, rep, err);
    if (!repair || rc != SHELF_ECORRUPT)
        goto out;
    if (!rep->repairable) {
        rc = shelf__seterr(err, SHELF_ECORRUPT, "cannot repair '%s': %u par2 slices bad, only %u recovery slices",
                           par2_path, rep->bad_slices, rep->nrecovery);
        goto out;
    }
    if ((rc = repair_set(set, kern, p, nthreads, params ? params->sync : 0, rep, err)))
        goto out;
    rep->repaired = 1;
out:
    shelf__pool_free(p);
    shelf__par2_set_free(set);
    free(dir);
    if (rep == &local)
        shelf__par2_report_release(&local);
    return rc;
}
