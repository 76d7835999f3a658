/*
 * test_stream.c: unit tests of the streaming engine (lib/stream): the SPSC
 * ring between two threads, the WAV header parser, note scripts, the
 * bit-exact offline render (streamed from disk equals fully RAM-loaded,
 * through io_uring and through worker preads, O_DIRECT and buffered), a
 * FLAC-streamed voice against its decoded WAV, injected read errors
 * (every one counted, silence exactly where data is missing, the right
 * audio elsewhere), the cache (LRU, pins, references), a real-time run
 * with the audio thread racing the scheduler (for ThreadSanitizer), the
 * stress test's CSV and PNG, the engine's health (a real underrun behind a
 * delay fault, counted, published, read back and raised as an alert),
 * file fragmentation and optimisation, and
 * loops: forward, backward and alternating, streamed equal to RAM, a
 * file's own loop, the order of frames each mode plays (a ramp file), no
 * disk read while a voice holds a loop kept in RAM, and their limits.
 */
#include <fcntl.h>
#include <linux/io_uring.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <sndfile.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include "test.h"
#include "alloc_fault.h"
#include "audiogen.h"
#include "opts_size.h"
#include "stream/stream_int.h"

#if defined(__SANITIZE_ADDRESS__)
/* cairo's text goes through fontconfig, whose caches live until exit by
 * design; LeakSanitizer is told so (a sanitizer hook, only in ASan builds). */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libfontconfig\nleak:libcairo\n";
}
#endif

/* ---- helpers ---------------------------------------------------------------- */

/* Small chunks and heads, so a few seconds of audio stream through many
 * reads and ring hand-overs. */
static shelf_stream_opts small_opts(int flags)
{
    shelf_stream_opts o;

    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.chunk_bytes = 16384;
    o.head_ms = 50;
    o.ring_chunks = 3;
    o.queue_depth = 4;
    o.flags = flags;
    return o;
}

/* Does dir's filesystem take O_DIRECT opens and answer FIEMAP? */
static int fs_is_real(const char *dir)
{
    char p[PATH_MAX], block[8192];
    shelf_frag_info fi;
    char *msg = NULL;
    int fd, ok;

    memset(block, 'x', sizeof block);
    fd = open(test_pathf(p, sizeof p, "%s/.probe", dir), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ASSERT(fd >= 0);
    ASSERT(write(fd, block, sizeof block) == (ssize_t)sizeof block);
    ASSERT(fsync(fd) == 0);
    ASSERT(close(fd) == 0);
    fd = open(p, O_RDONLY | O_DIRECT);
    ok = fd >= 0;
    if (fd >= 0)
        ASSERT(close(fd) == 0);
    ASSERT_OKM(msg, shelf_frag_file(p, &fi, &msg));
    ASSERT(unlink(p) == 0);
    return ok && fi.supported;
}

/*
 * A folder on a filesystem with O_DIRECT and FIEMAP: the temporary folder
 * when it has both (ext4, xfs); otherwise (tmpfs), as root, an ext4 image
 * in a loop file under it, mounted in a mount namespace of this test's
 * process only (SHELF_TEST_LOOPFS=1 takes this way even on ext4).  *mnt
 * is the mount point to give to real_fs_done, or "".  Skips only when
 * neither is possible (not root, no loop device, no mkfs.ext4).
 */
static const char *real_fs_dir(char mnt[PATH_MAX])
{
    const char *dir = test_tmpdir();
    char img[PATH_MAX], cmd[3 * PATH_MAX + 100];
    int n;

    mnt[0] = '\0';
    if (!getenv("SHELF_TEST_LOOPFS") && fs_is_real(dir))
        return dir;
    if (geteuid() != 0)
        TEST_SKIP("%s has no O_DIRECT or FIEMAP, and an ext4 loop image needs root", dir);
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        TEST_SKIP("cannot make a mount namespace: %s", strerror(errno));
    test_pathf(img, sizeof img, "%s/ext4.img", dir);
    test_pathf(mnt, PATH_MAX, "%s/ext4", dir);
    ASSERT(mkdir(mnt, 0700) == 0);
    n = snprintf(cmd, sizeof cmd,
                 "mkfs.ext4 -q -F '%s' 64M >/dev/null 2>&1 && mount -o loop '%s' '%s' 2>/dev/null",
                 img, img, mnt);
    ASSERT(n > 0 && (size_t)n < sizeof cmd);
    if (system(cmd) != 0) {
        mnt[0] = '\0';
        TEST_SKIP("cannot mount an ext4 image in a loop file (mkfs.ext4 or loop devices missing)");
    }
    ASSERT(fs_is_real(mnt));
    printf("    on an ext4 loop image at %s\n", mnt);
    return mnt;
}

static void real_fs_done(const char *mnt)
{
    if (*mnt)
        ASSERT(umount(mnt) == 0);
}

/* Can this process make an io_uring at all (kernel, seccomp, sysctl)? */
static int uring_possible(void)
{
    struct io_uring_params p;
    long fd;

    memset(&p, 0, sizeof p);
    fd = syscall(__NR_io_uring_setup, 4, &p);
    if (fd < 0)
        return 0;
    ASSERT(close((int)fd) == 0);
    return 1;
}

static shelf_notes *parse(const char *text)
{
    shelf_notes *n = NULL;
    char *msg = NULL;
    int rc = shelf_notes_parse(text, strlen(text), &n, &msg);

    if (rc != SHELF_OK)
        test__fail(__FILE__, __LINE__, "parse: %s", msg ? msg : "?");
    return n;
}

static float *render(const shelf_notes *n, const char *const *paths, shelf_stream_opts o,
                     int64_t *frames, shelf_stream_stats *st)
{
    float *pcm = NULL;
    char *msg = NULL;
    int rc = shelf_notes_render(n, paths, &o, 128, &pcm, frames, st, &msg);

    if (rc != SHELF_OK)
        test__fail(__FILE__, __LINE__, "render: %s", msg ? msg : "?");
    return pcm;
}

/* Three files of different encodings, rates and channels. */
static void make_set(const char *dir, char paths[3][PATH_MAX])
{
    tg_spec a = TG_SPEC_INIT(SF_FORMAT_WAV | SF_FORMAT_PCM_24, 48000, 2, 48000 * 3);
    tg_spec b = TG_SPEC_INIT(SF_FORMAT_WAV | SF_FORMAT_PCM_16, 44100, 1, 44100 * 2);
    tg_spec c = TG_SPEC_INIT(SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 48000, 2, 48000 * 2);

    a.seed = 1;
    b.seed = 2;
    b.freq = 220;
    c.seed = 3;
    c.freq = 330;
    ASSERT_EQ_INT(tg_write(test_pathf(paths[0], PATH_MAX, "%s/a.wav", dir), &a), 0);
    ASSERT_EQ_INT(tg_write(test_pathf(paths[1], PATH_MAX, "%s/b.wav", dir), &b), 0);
    ASSERT_EQ_INT(tg_write(test_pathf(paths[2], PATH_MAX, "%s/c.flac", dir), &c), 0);
}

/* Overlapping notes, pitches, offsets inside and past the head, releases. */
static const char script[] =
    "shelf-notes 1\n"
    "# three samples\n"
    "rate 48000\n"
    "sample a.wav\n"
    "sample b.wav\n"
    "sample c.flac\n"
    "note 0 0\n"
    "note 100 1 pitch=1.5 gain=0.5\n"
    "note 1000 2 offset=30000 len=40000 release=500\n"
    "note 1000 0 offset=100000 pitch=0.75 prio=2\n"
    "note 20000 1 pitch=0.5 len=30000\n"
    "note 20000 0 offset=5 pitch=2.0 gain=0.25\n"
    "note 50000 2 pitch=1.2599\n"
    "note 60000 0 offset=70000\n";

static int64_t nonzero(const float *p, int64_t n)
{
    int64_t i, c = 0;

    for (i = 0; i < n; i++)
        c += p[i] != 0;
    return c;
}

/* ---- ring -------------------------------------------------------------------- */

#define RING_N 2000000

static void *ring_consumer(void *arg)
{
    shelf__ring *r = arg;
    uint64_t want = 0;

    while (want < RING_N) {
        uint64_t *v = shelf__ring_peek(r, 0);
        if (!v)
            continue;
        if (*v != want)
            return (void *)1;
        want++;
        shelf__ring_pop(r);
    }
    return NULL;
}

TEST(ring_two_threads)
{
    shelf__ring r;
    pthread_t t;
    uint64_t i;
    void *bad;

    ASSERT_OK(shelf__ring_init(&r, 5, sizeof(uint64_t)));
    ASSERT_EQ_INT(shelf__ring_space(&r), 8);
    ASSERT(pthread_create(&t, NULL, ring_consumer, &r) == 0);
    for (i = 0; i < RING_N;)
        if (shelf__ring_push(&r, &i) == 0)
            i++;
    pthread_join(t, &bad);
    ASSERT(bad == NULL);
    ASSERT_EQ_INT(shelf__ring_count(&r), 0);
    shelf__ring_release(&r);
}

TEST(ring_full_and_peek)
{
    shelf__ring r;
    int i, v;

    ASSERT_OK(shelf__ring_init(&r, 4, sizeof(int)));
    for (i = 0; i < 4; i++)
        ASSERT_EQ_INT(shelf__ring_push(&r, &i), 0);
    ASSERT_EQ_INT(shelf__ring_push(&r, &i), -1);
    ASSERT_EQ_INT(shelf__ring_count(&r), 4);
    ASSERT_EQ_INT(*(int *)shelf__ring_peek(&r, 3), 3);
    ASSERT(shelf__ring_peek(&r, 4) == NULL);
    shelf__ring_pop(&r);
    v = 9;
    ASSERT_EQ_INT(shelf__ring_push(&r, &v), 0);
    ASSERT_EQ_INT(*(int *)shelf__ring_peek(&r, 0), 1);
    ASSERT_EQ_INT(*(int *)shelf__ring_peek(&r, 3), 9);
    shelf__ring_release(&r);
}

/* ---- WAV headers and PCM ------------------------------------------------------- */

TEST(wav_parse)
{
    const char *dir = test_tmpdir();
    char p[PATH_MAX];
    char *data;
    size_t n;
    shelf__wavinfo wi;
    static const int fmts[] = { SF_FORMAT_PCM_16, SF_FORMAT_PCM_24, SF_FORMAT_PCM_32, SF_FORMAT_FLOAT };
    int i;

    for (i = 0; i < 4; i++) {
        ASSERT_EQ_INT(tg_write_simple(test_pathf(p, sizeof p, "%s/x%d.wav", dir, i),
                                      SF_FORMAT_WAV | fmts[i], 44100, 2, 1000, 1), 0);
        data = test_read_file(p, &n);
        ASSERT_OK(shelf__wav_parse((unsigned char *)data, n, &wi));
        ASSERT_EQ_INT(wi.enc, i + 1);
        ASSERT_EQ_INT(wi.rate, 44100);
        ASSERT_EQ_INT(wi.channels, 2);
        ASSERT_EQ_INT(wi.data_len, 1000 * 2 * (i == 0 ? 2 : i == 1 ? 3 : 4));
        ASSERT(wi.data_off + wi.data_len <= n);
        /* Every truncation fails cleanly or still finds the data chunk. */
        for (size_t cut = 0; cut < wi.data_off; cut++) {
            shelf__wavinfo w2;
            ASSERT_RC(SHELF_EFORMAT, shelf__wav_parse((unsigned char *)data, cut, &w2));
        }
        free(data);
    }
    ASSERT_EQ_INT(tg_write_simple(test_pathf(p, sizeof p, "%s/x.aiff", dir),
                                  SF_FORMAT_AIFF | SF_FORMAT_PCM_16, 44100, 2, 1000, 1), 0);
    data = test_read_file(p, &n);
    ASSERT_RC(SHELF_EFORMAT, shelf__wav_parse((unsigned char *)data, n, &wi));
    free(data);
}

TEST(pcm_matches_libsndfile)
{
    const char *dir = test_tmpdir();
    char p[PATH_MAX];
    static const int fmts[] = { SF_FORMAT_PCM_16, SF_FORMAT_PCM_24, SF_FORMAT_PCM_32, SF_FORMAT_FLOAT };
    int i;

    for (i = 0; i < 4; i++) {
        SF_INFO info;
        SNDFILE *sf;
        float ref[2000], got[2000];
        shelf__wavinfo wi;
        size_t n;
        char *data;

        ASSERT_EQ_INT(tg_write_simple(test_pathf(p, sizeof p, "%s/y%d.wav", dir, i),
                                      SF_FORMAT_WAV | fmts[i], 48000, 2, 1000, 7), 0);
        memset(&info, 0, sizeof info);
        ASSERT((sf = sf_open(p, SFM_READ, &info)) != NULL);
        ASSERT_EQ_INT(sf_readf_float(sf, ref, 1000), 1000);
        sf_close(sf);
        data = test_read_file(p, &n);
        ASSERT_OK(shelf__wav_parse((unsigned char *)data, n, &wi));
        shelf__pcm_to_float(wi.enc, (unsigned char *)data + wi.data_off, 2000, got);
        ASSERT(memcmp(ref, got, sizeof ref) == 0);
        free(data);
    }
}

/* 24-bit samples four at a time (a PSHUFB on x86-64): every length from 0
 * to 67 samples, from an odd address, in a buffer exactly that long (so
 * ASan sees a read past it), gives the bits of the bytes assembled one
 * sample at a time, the extremes included. */
TEST(pcm24_every_length)
{
    unsigned char src[3 * 67 + 1];
    float got[67];
    size_t n, i;
    uint64_t x = 88172645463325252ull;

    for (i = 0; i < sizeof src; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        src[i] = (unsigned char)x;
    }
    memcpy(src + 1, "\x00\x00\x80\xff\xff\x7f", 6);   /* -1.0 and the largest */
    for (n = 0; n <= 67; n++) {
        unsigned char *in = calloc(n ? 3 * n : 1, 1);
        ASSERT(in);
        memcpy(in, src + 1, 3 * n);
        shelf__pcm_to_float(SHELF__PCM24, in, n, got);
        for (i = 0; i < n; i++) {
            const unsigned char *q = in + 3 * i;
            int32_t v = (int32_t)((uint32_t)q[0] << 8 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 24);
            float want = (float)v * (1.0f / 2147483648.0f);
            if (memcmp(&want, &got[i], sizeof want) != 0)
                test__fail(__FILE__, __LINE__, "%zu samples: sample %zu is %g, want %g", n, i,
                           (double)got[i], (double)want);
        }
        if (n >= 2)
            ASSERT(got[0] == -1.0f && got[1] == 8388607.0f / 8388608.0f);
        free(in);
    }
}

/* The engine's last log line about io_uring. */
typedef struct line_log {
    pthread_mutex_t lock;
    char line[320];
} line_log;

static void keep_uring_line(void *ud, const char *line)
{
    line_log *ll = ud;

    pthread_mutex_lock(&ll->lock);
    if (strstr(line, "io_uring"))
        snprintf(ll->line, sizeof ll->line, "%s", line);
    pthread_mutex_unlock(&ll->lock);
}

/* 48 voices, each its own 60,000-frame file under dir (24-bit stereo,
 * or 16-bit mono), started at once at frame 30,000: past their heads,
 * so the first pass wants 48 reads.  100 blocks rendered offline; the
 * engine's stats.  *sum (may be NULL) gets a checksum of the blocks'
 * bits.  fault: from block 30 on, io_uring_submit "fails" with this
 * errno (0: never); *line (may be NULL) gets the engine's log line about
 * io_uring, "" when none came. */
static shelf_stream_stats render_48x(const char *dir, shelf_stream_opts o, int pcm24, int fault,
                                     uint64_t reserve, shelf_stream_stats *before, uint64_t *sum,
                                     char line[320]);

static shelf_stream_stats render_48(const char *dir, shelf_stream_opts o, int pcm24, int fault,
                                    uint64_t *sum, char line[320])
{
    return render_48x(dir, o, pcm24, fault, 0, NULL, sum, line);
}

/* The same, with a reserve of reserve bytes (0: none) made once the
 * samples are added, and the cache dropped halfway; *before (may be
 * NULL) gets the stats just after the reserve. */
static shelf_stream_stats render_48x(const char *dir, shelf_stream_opts o, int pcm24, int fault,
                                     uint64_t reserve, shelf_stream_stats *before, uint64_t *sum,
                                     char line[320])
{
    char paths[48][PATH_MAX];
    shelf_stream_stats st;
    shelf_stream *s;
    float *buf = malloc(2 * 128 * sizeof *buf);
    int i, id, b;
    line_log ll;
    uint64_t h = 1469598103934665603ull;

    memset(&ll, 0, sizeof ll);
    pthread_mutex_init(&ll.lock, NULL);
    o.log = keep_uring_line;
    o.log_ud = &ll;

    ASSERT(buf);
    o.max_voices = 64;
    for (i = 0; i < 48; i++)
        ASSERT_EQ_INT(tg_write_simple(test_pathf(paths[i], PATH_MAX, "%s/q%02d \xc3\xa9.wav", dir, i),
                                      SF_FORMAT_WAV | (pcm24 ? SF_FORMAT_PCM_24 : SF_FORMAT_PCM_16),
                                      48000, pcm24 ? 2 : 1, 60000, (uint32_t)i + 1), 0);
    ASSERT_OK(shelf_stream_new(&o, &s, NULL));
    for (i = 0; i < 48; i++)
        ASSERT_OK(shelf_stream_add(s, paths[i], &id));
    if (reserve) {
        ASSERT_OK(shelf_stream_reserve(s, reserve));
        ASSERT_EQ_INT(shelf_stream_reserve(s, reserve), SHELF_EINVAL);    /* once */
    }
    if (before) {
        memset(before, 0, sizeof *before);
        before->size = sizeof *before;
        shelf_stream_get_stats(s, before);
    }
    for (i = 0; i < 48; i++)
        ASSERT(shelf_stream_voice_start(s, i, 30000, 1.0, 0.1f, 0) >= 0);
    for (b = 0; b < 100; b++) {
        size_t k;
        if (b == 30 && fault)
            atomic_store(&s->fault_submit, fault);
        /* With a reserve, halfway: the chunks played give their slots
         * back now (an offline render outruns the scheduler's trim), for
         * the reads after. */
        if (b == 50 && reserve)
            shelf_stream_drop_caches(s);
        ASSERT_OK(shelf_stream_wait_ready(s, 128));
        ASSERT_EQ_INT(shelf_stream_render(s, 128, buf), 48);
        for (k = 0; k < 2 * 128; k++) {
            uint32_t u;
            memcpy(&u, &buf[k], sizeof u);
            h = (h ^ u) * 1099511628211ull;
        }
    }
    memset(&st, 0, sizeof st);
    st.size = sizeof st;
    shelf_stream_get_stats(s, &st);
    shelf_stream_free(s);
    free(buf);
    if (sum)
        *sum = h;
    if (line) {
        pthread_mutex_lock(&ll.lock);
        memcpy(line, ll.line, sizeof ll.line);
        pthread_mutex_unlock(&ll.lock);
    }
    pthread_mutex_destroy(&ll.lock);
    return st;
}

/*
 * The scheduler keeps at most queue_depth reads in flight, counting those
 * it queues in one pass: 48 voices, each its own file, started at once
 * past their heads (48 reads wanted in the first pass), with a depth of
 * 4.  (It once sent every voice's read at once: thousands at a few
 * thousand voices, which blocked it on the device's queue.)
 */
TEST(queue_depth_bounds_reads)
{
    shelf_stream_stats st = render_48(test_tmpdir(),
                                      small_opts(SHELF_STREAM_OFFLINE | SHELF_STREAM_NO_DIRECT), 0, 0,
                                      NULL, NULL);

    printf("    %llu reads, at most %llu in flight (queue depth 4)\n", (unsigned long long)st.reads,
           (unsigned long long)st.inflight_max);
    ASSERT(st.reads >= 48);
    ASSERT(st.inflight_max >= 1 && st.inflight_max <= 4);
    ASSERT_EQ_INT(st.underruns + st.not_ready, 0);
}

/* A pass's reads go to io_uring in one submit: the first pass queues 8
 * reads (the queue depth), and later passes as many as completed. */
TEST(uring_batches_submits)
{
    char mnt[PATH_MAX];
    const char *dir = real_fs_dir(mnt);
    shelf_stream_opts o = small_opts(SHELF_STREAM_OFFLINE);
    shelf_stream_stats st;

    o.queue_depth = 8;
    st = render_48(dir, o, 1, 0, NULL, NULL);
    real_fs_done(mnt);
    if (!st.uring && !uring_possible())
        TEST_SKIP("io_uring is not available to this process (%s)", strerror(errno));
    printf("    %llu reads through io_uring in %llu submits, at most %llu in flight\n",
           (unsigned long long)st.reads_uring, (unsigned long long)st.uring_submits,
           (unsigned long long)st.inflight_max);
    ASSERT(st.uring && st.direct);
    ASSERT(st.reads >= 48);
    ASSERT_EQ_INT(st.reads_uring, st.reads);
    ASSERT(st.uring_submits >= 1);
    ASSERT(st.uring_submits + 7 <= st.reads_uring);
    ASSERT(st.inflight_max <= 8);
    ASSERT_EQ_INT(st.underruns + st.not_ready, 0);
}

/*
 * The direct path reads into the engine's own buffers, registered with
 * the ring: every read through io_uring is a READ_FIXED one, and the
 * render is the same bits as with plain buffers (SHELF_STREAM_NO_FIXED)
 * and as with preads on the i/o threads (which take the same buffers).
 */
TEST(uring_fixed_buffers)
{
    char mnt[PATH_MAX], d1[PATH_MAX], d2[PATH_MAX], d3[PATH_MAX];
    const char *dir = real_fs_dir(mnt);
    shelf_stream_opts o = small_opts(SHELF_STREAM_OFFLINE);
    shelf_stream_stats fx, plain, workers;
    uint64_t h1 = 0, h2 = 0, h3 = 0;

    o.queue_depth = 8;
    ASSERT(mkdir(test_pathf(d1, PATH_MAX, "%s/fixed", dir), 0755) == 0);
    ASSERT(mkdir(test_pathf(d2, PATH_MAX, "%s/plain", dir), 0755) == 0);
    ASSERT(mkdir(test_pathf(d3, PATH_MAX, "%s/workers", dir), 0755) == 0);
    fx = render_48(d1, o, 1, 0, &h1, NULL);
    o.flags |= SHELF_STREAM_NO_FIXED;
    plain = render_48(d2, o, 1, 0, &h2, NULL);
    o.flags = (o.flags & ~SHELF_STREAM_NO_FIXED) | SHELF_STREAM_NO_URING;
    workers = render_48(d3, o, 1, 0, &h3, NULL);
    real_fs_done(mnt);
    if (!fx.uring && !uring_possible())
        TEST_SKIP("io_uring is not available to this process (%s)", strerror(errno));
    printf("    fixed: %llu of %llu reads READ_FIXED; plain: %llu of %llu; i/o threads: %llu of "
           "%llu; renders %016llx %016llx %016llx\n",
           (unsigned long long)fx.reads_fixed, (unsigned long long)fx.reads,
           (unsigned long long)plain.reads_fixed, (unsigned long long)plain.reads,
           (unsigned long long)workers.reads_fixed, (unsigned long long)workers.reads,
           (unsigned long long)h1, (unsigned long long)h2, (unsigned long long)h3);
    ASSERT(fx.uring && fx.direct && fx.reads >= 48);
    ASSERT_EQ_INT(fx.reads_fixed, fx.reads_uring);
    ASSERT_EQ_INT(fx.reads_uring, fx.reads);
    ASSERT(plain.uring && plain.reads_uring == plain.reads && plain.reads >= 48);
    ASSERT_EQ_INT(plain.reads_fixed, 0);
    ASSERT(!workers.uring && workers.reads_direct == workers.reads && workers.reads >= 48);
    ASSERT_EQ_INT(workers.reads_fixed, 0);
    ASSERT(h1 == h2 && h2 == h3);
    ASSERT_EQ_INT(fx.underruns + fx.not_ready + plain.underruns + plain.not_ready, 0);
}

/*
 * A chunk the cache lets go gives its decoded buffer to a later read
 * (64 kept at most): a fresh buffer each read made the decode fault in a
 * page every 4 KiB it wrote (97% of the page faults of a stress run at
 * 3,000 voices).  A 256 KiB cache under 48 voices evicts all along; the
 * reads reuse the buffers, and the render is the same bits as one from
 * RAM.
 */
TEST(spare_buffers_reused)
{
    shelf_stream_opts o = small_opts(SHELF_STREAM_OFFLINE);
    shelf_stream_stats st, ram;
    uint64_t h, h_ram;

    o.cache_bytes = 256 << 10;
    st = render_48(test_tmpdir(), o, 1, 0, &h, NULL);
    ram = render_48(test_tmpdir(), small_opts(SHELF_STREAM_OFFLINE | SHELF_STREAM_RAM), 1, 0,
                    &h_ram, NULL);
    printf("    %llu reads, %llu evictions, %llu buffers reused\n", (unsigned long long)st.reads,
           (unsigned long long)st.cache_evictions, (unsigned long long)st.buffers_reused);
    ASSERT(st.cache_evictions > 0);
    ASSERT(st.buffers_reused > 0 && st.buffers_reused <= st.reads);
    ASSERT_EQ_INT(ram.reads, 0);
    ASSERT(h == h_ram);
}

/*
 * As reads complete, their places in the queue go at once to the wants
 * the last walk had no place for, before the completed reads are
 * decoded (the decode and the walk were between a completion and its
 * refill: the device saw 23 of the engine's 32 reads at 4,000 voices).
 * 48 voices through a queue of 4: most reads go out so; the render is
 * the same bits as one from RAM (every chunk decoded, once).
 */
TEST(reads_sent_before_decode)
{
    char mnt[PATH_MAX];
    const char *dir = real_fs_dir(mnt);
    shelf_stream_opts o = small_opts(SHELF_STREAM_OFFLINE);
    shelf_stream_stats st, ram;
    uint64_t h, h_ram;

    o.queue_depth = 4;
    st = render_48(dir, o, 1, 0, &h, NULL);
    real_fs_done(mnt);
    if (!st.uring && !uring_possible())
        TEST_SKIP("io_uring is not available to this process (%s)", strerror(errno));
    ram = render_48(test_tmpdir(), small_opts(SHELF_STREAM_OFFLINE | SHELF_STREAM_RAM), 1, 0,
                    &h_ram, NULL);
    printf("    %llu reads through io_uring, %llu of them sent before the reads done were "
           "decoded\n", (unsigned long long)st.reads_uring, (unsigned long long)st.reads_early);
    ASSERT(st.uring && st.reads_uring == st.reads);
    ASSERT(st.reads_early > 0 && st.reads_early <= st.reads);
    ASSERT(st.inflight_max <= 4);
    ASSERT_EQ_INT(st.underruns + st.not_ready + st.read_errors, 0);
    ASSERT_EQ_INT(ram.reads, 0);
    ASSERT(h == h_ram);
}

/*
 * The reserve: RAM for decoded chunks faulted in ahead, cut into slots of
 * 64 KiB multiples.  48 voices of 24-bit stereo in 16 KiB chunks (2,730
 * frames: 21,840 bytes decoded, a 64 KiB slot), a ring of 3 each and its
 * read (4 slots), a cache budget of 1 MiB so chunks played are let go,
 * and a reserve of three times the voices' slots, more than the render
 * reads (an offline render outruns the scheduler's trim, which gives the
 * slots of chunks played back; the cache is dropped halfway for that):
 * every read of the render decodes into a slot (no new buffer after the
 * reserve), slots let go are reused before new ones are cut
 * (buffers_reused), the render is the same bits as one
 * without a reserve and one from RAM, and the chunks read go straight to
 * the voices that asked (chunks_delivered).
 */
TEST(reserve_takes_reads)
{
    shelf_stream_opts o = small_opts(SHELF_STREAM_OFFLINE | SHELF_STREAM_NO_DIRECT);
    shelf_stream_stats st, before, none, ram;
    uint64_t h, h_none, h_ram, ring = 4 * 65536;
    shelf_stream *s;
    char path[PATH_MAX];
    int id;

    /* What a voice's ring takes, and what a reserve refuses. */
    ASSERT_EQ_INT(tg_write_simple(test_pathf(path, PATH_MAX, "%s/ring \xe2\x99\xab.wav", test_tmpdir()),
                                  SF_FORMAT_WAV | SF_FORMAT_PCM_24, 48000, 2, 20000, 7), 0);
    ASSERT_OK(shelf_stream_new(&o, &s, NULL));
    ASSERT_OK(shelf_stream_add(s, path, &id));
    ASSERT_EQ_INT(shelf_stream_ring_bytes(s, id), ring);
    ASSERT_EQ_INT(shelf_stream_ring_bytes(s, id + 1), 0);
    ASSERT_EQ_INT(shelf_stream_reserve(s, 0), SHELF_EINVAL);
    shelf_stream_free(s);

    o.cache_bytes = 1 << 20;
    st = render_48x(test_tmpdir(), o, 1, 0, 3 * 48 * ring, &before, &h, NULL);
    none = render_48(test_tmpdir(), o, 1, 0, &h_none, NULL);
    ram = render_48(test_tmpdir(), small_opts(SHELF_STREAM_OFFLINE | SHELF_STREAM_RAM), 1, 0,
                    &h_ram, NULL);
    printf("    %llu reads into a reserve of %llu KiB: %llu KiB cut into slots, %llu buffers "
           "reused, %llu new after the reserve (%llu before); %llu chunks went to their voices "
           "as read\n", (unsigned long long)st.reads, (unsigned long long)st.reserve_bytes >> 10,
           (unsigned long long)st.reserve_used >> 10, (unsigned long long)st.buffers_reused,
           (unsigned long long)(st.buffers_fresh - before.buffers_fresh),
           (unsigned long long)before.buffers_fresh, (unsigned long long)st.chunks_delivered);
    ASSERT_EQ_INT(st.reserve_bytes, 3 * 48 * ring);
    ASSERT_EQ_INT(ram.reads, 0);
    ASSERT(st.reads >= 4 * 48);
    ASSERT_EQ_INT(st.buffers_fresh, before.buffers_fresh);    /* every read took a slot */
    ASSERT(st.reserve_used > 0 && st.reserve_used <= st.reserve_bytes);
    ASSERT(st.buffers_reused > 0);                            /* slots came back */
    /* At most a slot a read not reused: counted, in flight (the queue's
     * 4), or reaped and not yet counted while the reads that took their
     * places went out before them (reads_early: 4 more).  It failed by
     * one slot with 4 in a fresh clone's run on a loaded machine. */
    ASSERT(st.reserve_used <= (st.reads + 8 - st.buffers_reused) * 65536);
    /* The counters are read one after another while reads may still
     * complete: up to the queue's 4 more delivered than counted. */
    ASSERT(st.chunks_delivered > 0 && st.chunks_delivered <= st.reads + 4);
    ASSERT_EQ_INT(st.underruns + st.not_ready + st.read_errors, 0);
    ASSERT_EQ_INT(none.reserve_bytes, 0);
    ASSERT(none.buffers_fresh > before.buffers_fresh);        /* without: new buffers */
    ASSERT(h == h_none && h == h_ram);
}

/*
 * The cache's table of chunks doubles its buckets as chunks outnumber
 * them (from 16,384): 40,000 chunks, each found again, then removed.
 */
TEST(cache_table_grows)
{
    shelf__cache c;
    int i;

    ASSERT_OK(shelf__cache_init(&c, 1 << 20));
    pthread_mutex_lock(&c.lock);
    for (i = 0; i < 40000; i++)
        ASSERT(shelf__cache_insert(&c, i % 97, i / 97) != NULL);
    printf("    %zu chunks in %zu buckets\n", c.nchunks, c.nbuckets);
    ASSERT_EQ_INT(c.nchunks, 40000);
    ASSERT(c.nbuckets >= 40000);
    for (i = 0; i < 40000; i++) {
        shelf__chunk *ch = shelf__cache_find(&c, i % 97, i / 97);
        ASSERT(ch && ch->sample == i % 97 && ch->k == i / 97);
    }
    ASSERT(shelf__cache_find(&c, 97, 0) == NULL);
    for (i = 0; i < 40000; i++)
        shelf__cache_remove(&c, shelf__cache_find(&c, i % 97, i / 97));
    ASSERT_EQ_INT(c.nchunks, 0);
    pthread_mutex_unlock(&c.lock);
    shelf__cache_release(&c);
}

/*
 * io_uring_submit failing for good (EBADF here, through the engine's fault
 * layer) gives the ring up mid-render: the reads it had not sent go to the
 * i/o threads, as does every read after; those it sent are reaped.  The
 * render is the same bits as one that kept the ring (and one that never
 * had it), nothing underruns, the engine says so once in its log, and
 * the stats no longer claim io_uring.  (Before, such reads waited in the
 * ring for good: an offline render hung, a live voice starved.)
 */
TEST(uring_given_up)
{
    char mnt[PATH_MAX], line[320];
    const char *dir = real_fs_dir(mnt);
    shelf_stream_opts o = small_opts(SHELF_STREAM_OFFLINE);
    shelf_stream_stats kept, lost, none;
    uint64_t h_kept, h_lost, h_none;

    o.queue_depth = 8;
    kept = render_48(dir, o, 1, 0, &h_kept, NULL);
    if (!kept.uring && !uring_possible()) {
        real_fs_done(mnt);
        TEST_SKIP("io_uring is not available to this process (%s)", strerror(errno));
    }
    lost = render_48(dir, o, 1, EBADF, &h_lost, line);
    o.flags |= SHELF_STREAM_NO_URING;
    none = render_48(dir, o, 1, 0, &h_none, NULL);
    real_fs_done(mnt);
    printf("    kept: %llu of %llu reads through io_uring; given up: %llu of %llu, then the "
           "i/o threads; log: \"%s\"\n", (unsigned long long)kept.reads_uring,
           (unsigned long long)kept.reads, (unsigned long long)lost.reads_uring,
           (unsigned long long)lost.reads, line);
    ASSERT(kept.uring && kept.reads_uring == kept.reads);
    ASSERT(!lost.uring);
    ASSERT(lost.reads_uring >= 48);                /* the first pass went through the ring */
    ASSERT(lost.reads >= lost.reads_uring + 48);   /* each voice read on after it */
    ASSERT_EQ_INT(none.reads_uring, 0);
    ASSERT_EQ_INT(lost.underruns + lost.not_ready + lost.read_errors + lost.chunks_lost, 0);
    ASSERT(h_lost == h_kept && h_none == h_kept);
    ASSERT_EQ_STR(line, "io_uring failed (Bad file descriptor): reads go to the i/o threads "
                        "from now on");
}

/* In real time, every read failing: a voice whose reads keep failing is
 * dropped, unless SHELF_STREAM_NO_DROP says never (the worst-case stress
 * script's engine: its voices underrun instead). */
static shelf_stream_stats run_failing(int flags)
{
    const char *dir = test_tmpdir();
    char path[PATH_MAX];
    shelf_stream_opts o = small_opts(flags);
    shelf_stream_stats st;
    shelf_stream *s;
    float *buf = malloc(2 * 128 * sizeof *buf);
    int i, id;

    ASSERT(buf);
    o.fault_error_rate = 1;
    o.fault_seed = 3;
    o.retries = -1;
    ASSERT_EQ_INT(tg_write_simple(test_pathf(path, PATH_MAX, "%s/fails ü.wav", dir),
                                  SF_FORMAT_WAV | SF_FORMAT_PCM_16, 48000, 1, 96000, 5), 0);
    ASSERT_OK(shelf_stream_new(&o, &s, NULL));
    ASSERT_OK(shelf_stream_add(s, path, &id));
    for (i = 0; i < 4; i++)
        ASSERT(shelf_stream_voice_start(s, id, 20000 + 10000 * i, 1.0, 0.1f, 0) >= 0);
    /* Two seconds of blocks, a millisecond apart: the scheduler runs. */
    for (i = 0; i < 2000; i++) {
        shelf_stream_render(s, 128, buf);
        usleep(1000);
    }
    memset(&st, 0, sizeof st);
    st.size = sizeof st;
    shelf_stream_get_stats(s, &st);
    printf("    flags %#x: %llu chunks lost, %llu voices dropped, %llu underruns\n", flags,
           (unsigned long long)st.chunks_lost, (unsigned long long)st.voices_dropped,
           (unsigned long long)st.underruns + st.not_ready);
    shelf_stream_free(s);
    free(buf);
    return st;
}

TEST(no_drop_real_time)
{
    shelf_stream_stats drop = run_failing(0), keep = run_failing(SHELF_STREAM_NO_DROP);

    ASSERT(drop.chunks_lost >= 2);
    ASSERT(drop.voices_dropped >= 1);
    ASSERT(keep.chunks_lost >= 8);
    ASSERT_EQ_INT(keep.voices_dropped, 0);
    ASSERT(keep.not_ready + keep.underruns >= 4);
}

/* The order reads go out in: voices whose data runs out within 250 ms,
 * earliest deadline first; then those already late (starts, starving),
 * the longest waiting first; then the refills with time to spare. */
TEST(read_order_late_last)
{
    double dry[] = { -0.5, 0.2, -0.01, 0.1, 0.0, 1.2, -0.2, 0.45, 0.3 };
    const double want[] = { 0.0, 0.1, 0.2, -0.5, -0.2, -0.01, 0.3, 0.45, 1.2 };
    size_t i;

    shelf__stream_order_dry(dry, sizeof dry / sizeof *dry, sizeof dry / sizeof *dry);
    for (i = 0; i < sizeof dry / sizeof *dry; i++)
        if (dry[i] != want[i])
            test__fail(__FILE__, __LINE__, "read %zu: %g s to dry, want %g", i, dry[i], want[i]);
}

/* The scheduler's tiers (engine.c, want_tier): due within 250 ms, late,
 * the rest. */
static int want_tier_of(double dry)
{
    return dry < 0 ? 1 : dry < 0.250 ? 0 : 2;
}

/* A pass orders only as many wants as the queue has places for (the
 * rest in no order): the first m are those of the whole sort, for m from
 * 1 to all, over 3,000 figures with many ties and all three tiers. */
TEST(read_order_first_m)
{
    enum { N = 3000 };
    static const int ms[] = { 1, 2, 7, 32, 100, N - 1, N };
    double *orig = malloc(N * sizeof *orig), *ref = malloc(N * sizeof *ref);
    double *part = malloc(N * sizeof *part), sum_orig = 0;
    uint64_t x = 88172645463325252ull;
    size_t i, j;

    ASSERT(orig && ref && part);
    for (i = 0; i < N; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        orig[i] = (double)((int)(x % 200) - 60) / 100.0;   /* -0.6 .. 1.39 s, in steps of 10 ms */
        sum_orig += orig[i];
    }
    memcpy(ref, orig, N * sizeof *orig);
    shelf__stream_order_dry(ref, N, N);
    for (i = 1; i < N; i++)     /* the whole sort: tier 0, then 1, then 2 */
        ASSERT(want_tier_of(ref[i - 1]) <= want_tier_of(ref[i]));
    for (j = 0; j < sizeof ms / sizeof *ms; j++) {
        double sum = 0;
        memcpy(part, orig, N * sizeof *orig);
        shelf__stream_order_dry(part, N, (size_t)ms[j]);
        for (i = 0; i < N; i++)
            sum += part[i];
        ASSERT(fabs(sum - sum_orig) < 1e-6);    /* the same figures, moved */
        for (i = 0; i < (size_t)ms[j]; i++)
            if (part[i] != ref[i])
                test__fail(__FILE__, __LINE__, "m %d, read %zu: %g s to dry, want %g", ms[j], i,
                           part[i], ref[i]);
    }
    free(orig);
    free(ref);
    free(part);
}

/* ---- note scripts --------------------------------------------------------------- */

TEST(notes_parse)
{
    shelf_notes *n = parse("shelf-notes 1\r\nrate 44100\nlength 100\nsample  my file.wav \n"
                           "note 50 0 pitch=2 gain=0.5 len=10 release=3 prio=-1 offset=7\n"
                           "note 10 0\nnote 50 0 gain=0.25\n");
    shelf_notes *bad = NULL;
    char *msg = NULL;
    static const char *const errors[] = {
        "", "shelf-notes 2\n", "rate 48000\n", "shelf-notes 1\nnote 0 0\n",
        "shelf-notes 1\nsample a\nnote 0 1\n", "shelf-notes 1\nsample a\nnote -1 0\n",
        "shelf-notes 1\nsample a\nnote 0 0 pitch=0\n", "shelf-notes 1\nsample a\nnote 0 0 x=1\n",
        "shelf-notes 1\nsample a\nnote 0 0 gain\n", "shelf-notes 1\nrate 10\n",
        "shelf-notes 1\nsample\n", "shelf-notes 1\nbogus\n", "shelf-notes 1\nrate 48000 x\n",
    };
    size_t i;

    ASSERT_EQ_INT(n->rate, 44100);
    ASSERT_EQ_INT(n->frames, 100);
    ASSERT_EQ_INT(n->nsamples, 1);
    ASSERT_EQ_STR(n->samples[0], "my file.wav");
    ASSERT_EQ_INT(n->nnotes, 3);
    /* Sorted by time, ties in line order. */
    ASSERT_EQ_INT(n->notes[0].at, 10);
    ASSERT_EQ_INT(n->notes[0].length, -1);
    ASSERT_EQ_INT(n->notes[1].at, 50);
    ASSERT(n->notes[1].pitch == 2.0);
    ASSERT(n->notes[1].gain == 0.5f);
    ASSERT_EQ_INT(n->notes[1].length, 10);
    ASSERT_EQ_INT(n->notes[1].release, 3);
    ASSERT_EQ_INT(n->notes[1].priority, -1);
    ASSERT_EQ_INT(n->notes[1].offset, 7);
    ASSERT(n->notes[2].gain == 0.25f);
    shelf_notes_free(n);
    for (i = 0; i < sizeof errors / sizeof *errors; i++) {
        ASSERT_RC(SHELF_EFORMAT, shelf_notes_parse(errors[i], strlen(errors[i]), &bad, &msg));
        ASSERT(bad == NULL);
        ASSERT(msg && *msg && !strchr(msg, '\n'));
        shelf_free(msg);
    }
}

/* ---- bit-exact render ------------------------------------------------------------ */

static void check_bitexact(int flags)
{
    char mnt[PATH_MAX];
    const char *dir = real_fs_dir(mnt);
    char paths[3][PATH_MAX];
    const char *pp[3] = { paths[0], paths[1], paths[2] };
    shelf_notes *n = parse(script);
    shelf_stream_stats st_ram, st_disk;
    int64_t fr_ram, fr_disk, i;
    float *ram, *disk;

    make_set(dir, paths);
    ram = render(n, pp, small_opts(SHELF_STREAM_RAM), &fr_ram, &st_ram);
    disk = render(n, pp, small_opts(flags), &fr_disk, &st_disk);
    ASSERT_EQ_INT(fr_ram, fr_disk);
    ASSERT(fr_ram > 48000 * 3);
    ASSERT(nonzero(ram, 2 * fr_ram) > fr_ram);
    for (i = 0; i < 2 * fr_ram; i++)
        if (memcmp(&ram[i], &disk[i], sizeof(float)) != 0)
            test__fail(__FILE__, __LINE__, "sample %lld differs: %.9g != %.9g", (long long)i,
                       ram[i], disk[i]);
    /* The disk render really streamed, cleanly. */
    ASSERT(st_disk.reads > 20);
    ASSERT_EQ_INT(st_ram.reads, 0);
    ASSERT_EQ_INT(st_disk.underruns, 0);
    ASSERT_EQ_INT(st_disk.not_ready, 0);
    ASSERT_EQ_INT(st_disk.read_errors, 0);
    ASSERT_EQ_INT(st_disk.voices_dropped, 0);
    ASSERT_EQ_INT(st_disk.voices_started, 8);
    /* The path the test names is the path that ran: the two WAVs are read
     * raw (with O_DIRECT unless told not to), through io_uring unless told
     * not to; the FLAC is decoded by libsndfile, buffered. */
    if (!(flags & SHELF_STREAM_NO_URING) && !st_disk.uring && !uring_possible())
        TEST_SKIP("io_uring is not available to this process (%s)", strerror(errno));
    ASSERT_EQ_INT(st_disk.uring, !(flags & SHELF_STREAM_NO_URING));
    ASSERT_EQ_INT(st_disk.direct, !(flags & SHELF_STREAM_NO_DIRECT));
    if (flags & SHELF_STREAM_NO_DIRECT) {
        ASSERT_EQ_INT(st_disk.reads_direct, 0);
    } else {
        ASSERT(st_disk.reads_direct > 10);
        ASSERT(st_disk.reads_direct < st_disk.reads);   /* not the FLAC's */
    }
    if (flags & SHELF_STREAM_NO_URING)
        ASSERT_EQ_INT(st_disk.reads_uring, 0);
    else
        ASSERT_EQ_INT(st_disk.reads_uring, st_disk.reads_direct);
    printf("    %llu reads: %llu through io_uring, %llu with O_DIRECT\n",
           (unsigned long long)st_disk.reads, (unsigned long long)st_disk.reads_uring,
           (unsigned long long)st_disk.reads_direct);
    free(ram);
    free(disk);
    shelf_notes_free(n);
    real_fs_done(mnt);
}

TEST(render_bitexact) { check_bitexact(0); }
TEST(render_bitexact_preads) { check_bitexact(SHELF_STREAM_NO_URING); }
TEST(render_bitexact_buffered) { check_bitexact(SHELF_STREAM_NO_URING | SHELF_STREAM_NO_DIRECT); }

/* A different script gives other bits: the comparison can fail. */
TEST(render_differs_when_script_differs)
{
    const char *dir = test_tmpdir();
    char paths[3][PATH_MAX];
    const char *pp[3] = { paths[0], paths[1], paths[2] };
    shelf_notes *a = parse("shelf-notes 1\nsample a\nsample b\nsample c\nnote 0 0 len=9000\n");
    shelf_notes *b = parse("shelf-notes 1\nsample a\nsample b\nsample c\nnote 0 0 len=9000 pitch=1.001\n");
    int64_t fa, fb;
    float *x, *y;

    make_set(dir, paths);
    x = render(a, pp, small_opts(0), &fa, NULL);
    y = render(b, pp, small_opts(0), &fb, NULL);
    ASSERT_EQ_INT(fa, fb);
    ASSERT(memcmp(x, y, (size_t)fa * 2 * sizeof(float)) != 0);
    free(x);
    free(y);
    shelf_notes_free(a);
    shelf_notes_free(b);
}

/* FLAC decoded by libsndfile on the I/O threads equals the same audio as WAV. */
TEST(flac_stream_equals_wav)
{
    const char *dir = test_tmpdir();
    char w[PATH_MAX], f[PATH_MAX];
    tg_spec spec = TG_SPEC_INIT(SF_FORMAT_WAV | SF_FORMAT_PCM_16, 48000, 2, 48000 * 2);
    shelf_notes *n = parse("shelf-notes 1\nsample x\nnote 0 0\n");
    const char *pw[1] = { w }, *pf[1] = { f };
    int64_t fw, ff, i;
    float *a, *b, ref[2 * 4096];
    shelf_stream_stats st;
    SF_INFO info;
    SNDFILE *sf;

    spec.seed = 5;
    ASSERT_EQ_INT(tg_write(test_pathf(w, sizeof w, "%s/x.wav", dir), &spec), 0);
    spec.format = SF_FORMAT_FLAC | SF_FORMAT_PCM_16;
    ASSERT_EQ_INT(tg_write(test_pathf(f, sizeof f, "%s/x.flac", dir), &spec), 0);
    a = render(n, pw, small_opts(0), &fw, NULL);
    b = render(n, pf, small_opts(0), &ff, &st);
    ASSERT(st.reads > 10);      /* it streamed */
    ASSERT_EQ_INT(st.underruns, 0);
    ASSERT(fw >= 48000 * 2 && fw == ff);
    ASSERT(memcmp(a, b, (size_t)fw * 2 * sizeof(float)) == 0);
    /* At pitch 1 and gain 1 the voice is the file itself. */
    memset(&info, 0, sizeof info);
    ASSERT((sf = sf_open(w, SFM_READ, &info)) != NULL);
    sf_seek(sf, 40000, SEEK_SET);
    ASSERT_EQ_INT(sf_readf_float(sf, ref, 4096), 4096);
    sf_close(sf);
    for (i = 0; i < 2 * 4096; i++)
        ASSERT(b[2 * 40000 + i] == ref[i]);
    free(a);
    free(b);
    shelf_notes_free(n);
}

/* ---- injected errors --------------------------------------------------------------- */

static void check_errors(int retries)
{
    const char *dir = test_tmpdir();
    char p[PATH_MAX];
    tg_spec spec = TG_SPEC_INIT(SF_FORMAT_WAV | SF_FORMAT_PCM_16, 48000, 1, 48000 * 4);
    shelf_notes *n = parse("shelf-notes 1\nsample x\nnote 0 0\n");
    const char *pp[1] = { p };
    shelf_stream_opts o = small_opts(0);
    shelf_stream_stats st;
    shelf_stream_sample_info si;
    shelf_stream *s = NULL;
    int64_t fr, fr2, k, i, lost = 0, injected = 0;
    float *ref, *got;
    int id, a;

    spec.seed = 9;
    ASSERT_EQ_INT(tg_write(test_pathf(p, sizeof p, "%s/x.wav", dir), &spec), 0);
    o.fault_error_rate = 0.3;
    o.fault_seed = 42;
    o.retries = retries ? retries : -1;
    ref = render(n, pp, small_opts(0), &fr, NULL);
    got = render(n, pp, o, &fr2, &st);
    ASSERT_EQ_INT(fr, fr2);
    /* The layout of the sample, as the engine cut it. */
    ASSERT_OK(shelf_stream_new(&o, &s, NULL));
    ASSERT_OK(shelf_stream_add(s, p, &id));
    ASSERT_OK(shelf_stream_sample(s, id, &si));
    shelf_stream_free(s);
    for (k = 0; k * si.chunk_frames < si.frames; k++) {
        int64_t f0 = k * si.chunk_frames, f1 = f0 + si.chunk_frames, dead = 1;
        if (f1 > si.frames)
            f1 = si.frames;
        /* The same decisions the I/O layer makes (head chunks are never read). */
        if (k >= si.head_chunks)
            for (a = 0; a <= retries; a++) {
                if (!shelf__stream_fault(42, 0.3, 0, (uint64_t)k, (uint64_t)a, 1)) {
                    dead = 0;
                    break;
                }
                injected++;
            }
        else
            dead = 0;
        if (dead) {
            lost++;
            /* Silence after the fade out, data again only after the gap. */
            for (i = f0 + SHELF__FADE; i < f1 && i < fr; i++)
                if (got[2 * i] != 0.0f || got[2 * i + 1] != 0.0f)
                    test__fail(__FILE__, __LINE__, "chunk %lld (frames %lld..%lld) frame %lld: %.9g",
                               (long long)k, (long long)f0, (long long)f1, (long long)i, got[2 * i]);
        } else {
            /* Right audio, except the fade in just after a gap. */
            int64_t from = f0;
            if (k > 0 && k >= si.head_chunks) {
                int prev_dead = 1;
                for (a = 0; a <= retries; a++)
                    if (!shelf__stream_fault(42, 0.3, 0, (uint64_t)(k - 1), (uint64_t)a, 1))
                        prev_dead = 0;
                if (k - 1 < (int64_t)si.head_chunks)
                    prev_dead = 0;
                if (prev_dead)
                    from = f0 + SHELF__FADE;
            }
            for (i = from; i < f1; i++)
                if (got[2 * i] != ref[2 * i])
                    test__fail(__FILE__, __LINE__, "chunk %lld frame %lld: %.9g != %.9g",
                               (long long)k, (long long)i, got[2 * i], ref[2 * i]);
        }
    }
    ASSERT(lost > 0);
    if (retries)
        ASSERT(injected > lost);    /* some retries succeeded */
    else
        ASSERT_EQ_INT(injected, lost);
    ASSERT_EQ_INT(st.read_errors, injected);
    ASSERT_EQ_INT(st.chunks_lost, lost);
    ASSERT_EQ_INT(st.voices_dropped, 0);    /* offline: no drops */
    free(ref);
    free(got);
    shelf_notes_free(n);
}

TEST(errors_no_retry) { check_errors(0); }
TEST(errors_with_retries) { check_errors(1); }

/* Delays slow reads down but lose nothing; offline renders stay exact. */
TEST(delays_are_spikes)
{
    const char *dir = test_tmpdir();
    char paths[3][PATH_MAX];
    const char *pp[3] = { paths[0], paths[1], paths[2] };
    shelf_notes *n = parse(script);
    shelf_stream_opts o = small_opts(0);
    shelf_stream_stats st;
    int64_t f1, f2;
    float *a, *b;

    make_set(dir, paths);
    o.fault_delay_rate = 0.2;
    o.fault_delay_ms = 30;
    o.spike_ms = 20;
    a = render(n, pp, small_opts(SHELF_STREAM_RAM), &f1, NULL);
    b = render(n, pp, o, &f2, &st);
    ASSERT(f1 == f2 && memcmp(a, b, (size_t)f1 * 2 * sizeof(float)) == 0);
    ASSERT(st.latency_spikes > 0);
    ASSERT(st.latency_spikes < st.reads);
    ASSERT_EQ_INT(st.read_errors, 0);
    free(a);
    free(b);
    shelf_notes_free(n);
}

/* ---- the cache ----------------------------------------------------------------------- */

static shelf__chunk *put(shelf__cache *c, int sample, int64_t k, size_t bytes)
{
    shelf__chunk *ch = shelf__cache_insert(c, sample, k);

    ASSERT(ch != NULL);
    shelf__cache_ready(c, ch, shelf__malloc(bytes), (uint32_t)(bytes / 4), bytes);
    return ch;
}

TEST(cache_lru_pins_refs)
{
    shelf__cache c;
    size_t one = 1000 + sizeof(shelf__chunk);
    shelf__chunk *a, *b, *d;

    ASSERT_OK(shelf__cache_init(&c, 3 * one));
    a = put(&c, 0, 0, 1000);
    b = put(&c, 0, 1, 1000);
    put(&c, 0, 2, 1000);
    ASSERT_EQ_INT(atomic_load(&c.bytes), 3 * one);
    shelf__cache_touch(&c, a);               /* a is now the most recent */
    put(&c, 0, 3, 1000);
    shelf__cache_trim(&c, c.budget);
    ASSERT(shelf__cache_find(&c, 0, 1) == NULL);    /* b: least recent */
    ASSERT(shelf__cache_find(&c, 0, 0) == a);
    ASSERT_EQ_INT(atomic_load(&c.evictions), 1);
    (void)b;
    /* A pinned chunk and a referenced chunk survive a trim to nothing. */
    a->pinned = 1;
    d = shelf__cache_find(&c, 0, 3);
    atomic_store(&d->refs, 1);
    shelf__cache_trim(&c, 0);
    ASSERT(shelf__cache_find(&c, 0, 0) == a);
    ASSERT(shelf__cache_find(&c, 0, 3) == d);
    ASSERT(shelf__cache_find(&c, 0, 2) == NULL);
    ASSERT_EQ_INT(atomic_load(&c.evictions), 2);
    atomic_store(&d->refs, 0);
    a->pinned = 0;
    shelf__cache_trim(&c, 0);
    ASSERT_EQ_INT(atomic_load(&c.bytes), 0);
    ASSERT_EQ_INT(atomic_load(&c.evictions), 4);
    shelf__cache_release(&c);
}

static int stream_new_once(const shelf_stream_opts *o)
{
    shelf_stream *s = NULL;
    char *e = NULL;
    int rc = shelf_stream_new(o, &s, &e);

    if (rc == SHELF_EINVAL)
        ASSERT(e && strstr(e, "invalid shelf_stream_opts") != NULL);
    shelf_free(e);
    shelf_stream_free(s);
    return rc;
}

static int stress_once(const shelf_stream_opts *eo, const shelf_stress_opts *so)
{
    const char *paths[1] = { "/nonexistent/kick.wav" };
    shelf_stress_result *r = NULL;
    char *e = NULL;
    int rc = shelf_stress_run(paths, 1, eo, so, &r, &e);

    if (rc == SHELF_EINVAL)
        ASSERT(e && strstr(e, "invalid shelf_stre") != NULL);
    shelf_free(e);
    shelf_stress_free(r);
    return rc;
}

/*
 * The size rule of shelf.h on the engine's and the stress test's options
 * (no older versions; a stress run cannot succeed here, so only the
 * refusals), and on the stats the engine fills: an older caller's struct
 * is written only up to its size.
 */
TEST(opts_size_stream)
{
    shelf_stream_opts o = small_opts(SHELF_STREAM_OFFLINE);
    shelf_stress_opts so;
    shelf_stream *s;
    union {
        shelf_stream_stats st;
        unsigned char b[sizeof(shelf_stream_stats) + 16];
    } u;
    size_t old = offsetof(shelf_stream_stats, reads_uring), i;

    memset(&so, 0, sizeof so);
    TEST_OPTS_SIZE(shelf_stream_opts, o, sizeof o, SHELF_OK, stream_new_once(p_));
    TEST_OPTS_SIZE(shelf_stream_opts, o, sizeof o, INT_MIN, stress_once(p_, NULL));
    TEST_OPTS_SIZE(shelf_stress_opts, so, sizeof so, INT_MIN, stress_once(NULL, p_));
    ASSERT_OK(shelf_stream_new(&o, &s, NULL));
    memset(&u, 0xab, sizeof u);
    u.st.size = old;
    shelf_stream_get_stats(s, &u.st);
    ASSERT_EQ_INT(u.st.size, old);
    ASSERT_EQ_INT(u.st.blocks, 0);
    for (i = old; i < sizeof u; i++)
        ASSERT_EQ_INT(u.b[i], 0xab);
    memset(&u, 0xab, sizeof u);
    u.st.size = sizeof u;
    shelf_stream_get_stats(s, &u.st);
    ASSERT_EQ_INT(u.st.size, sizeof u.st);
    ASSERT_EQ_INT(u.st.reads_direct, 0);
    for (i = sizeof u.st; i < sizeof u; i++)
        ASSERT_EQ_INT(u.b[i], 0xab);
    memset(&u, 0xab, sizeof u);
    u.st.size = 0;
    shelf_stream_get_stats(s, &u.st);
    ASSERT_EQ_INT(u.st.size, 0);
    ASSERT_EQ_INT(u.b[sizeof(size_t)], 0xab);
    shelf_stream_free(s);
}

TEST(engine_pin_and_hits)
{
    const char *dir = test_tmpdir();
    char paths[3][PATH_MAX];
    shelf_stream_opts o = small_opts(SHELF_STREAM_OFFLINE);
    shelf_stream *s;
    shelf_stream_stats st;
    shelf_stream_sample_info si;
    float buf[2 * 128];
    int id, v, i;
    uint64_t pinned;

    make_set(dir, paths);
    o.cache_bytes = 1;          /* nothing stays unless pinned or in use */
    ASSERT_OK(shelf_stream_new(&o, &s, NULL));
    ASSERT_OK(shelf_stream_add(s, paths[0], &id));
    ASSERT_OK(shelf_stream_sample(s, id, &si));
    ASSERT_OK(shelf_stream_pin(s, id));
    st.size = sizeof st;
    shelf_stream_get_stats(s, &st);
    pinned = st.cache_pinned_bytes;
    ASSERT(pinned >= (uint64_t)si.frames * 2 * sizeof(float));
    shelf_stream_drop_caches(s);
    shelf_stream_get_stats(s, &st);
    ASSERT_EQ_INT(st.cache_pinned_bytes, pinned);   /* pins survive a drop */
    /* Play it through: every chunk is a hit, no read at all. */
    ASSERT((v = shelf_stream_voice_start(s, id, 0, 1.0, 1.0f, 0)) >= 0);
    for (i = 0; shelf_stream_render(s, 128, buf) > 0; i++) {
        ASSERT_OK(shelf_stream_wait_ready(s, 128));
        ASSERT(i < 10000);
    }
    shelf_stream_get_stats(s, &st);
    ASSERT_EQ_INT(st.reads, 0);
    ASSERT_EQ_INT(st.cache_misses, 0);
    ASSERT_EQ_INT(st.cache_hits, si.frames / si.chunk_frames + 1 - si.head_chunks);
    ASSERT_EQ_INT(st.underruns, 0);
    /* Unpinned, the budget of one byte evicts all but the head (once the
     * scheduler has taken the ended voice's ring back). */
    ASSERT_OK(shelf_stream_wait_ready(s, 128));
    ASSERT_OK(shelf_stream_unpin(s, id));
    shelf_stream_get_stats(s, &st);
    ASSERT_EQ_INT(st.cache_pinned_bytes, 0);
    ASSERT(st.cache_evictions > 0);
    ASSERT(st.cache_bytes <= (uint64_t)si.head_chunks * (si.chunk_frames * 2 * sizeof(float) + 256));
    ASSERT_RC(SHELF_ENOTFOUND, shelf_stream_pin(s, 7));
    shelf_stream_free(s);
}

/* A voice handle names one voice: once its slot is reused, the old handle
 * is ignored (the generation in the handle no longer matches). */
TEST(voice_handle_reuse)
{
    const char *dir = test_tmpdir();
    char paths[3][PATH_MAX];
    shelf_stream_opts o = small_opts(SHELF_STREAM_OFFLINE);
    shelf_stream *s;
    float buf[2 * 128];
    int id, v1, v2, i;

    make_set(dir, paths);
    o.max_voices = 1;
    ASSERT_OK(shelf_stream_new(&o, &s, NULL));
    ASSERT_OK(shelf_stream_add(s, paths[0], &id));
    ASSERT((v1 = shelf_stream_voice_start(s, id, 0, 1.0, 1.0f, 0)) >= 0);
    ASSERT_RC(SHELF_EBUSY, shelf_stream_voice_start(s, id, 0, 1.0, 1.0f, 0));
    shelf_stream_voice_release(s, v1, 16);
    for (i = 0; shelf_stream_render(s, 128, buf) > 0; i++)
        ASSERT(i < 100);
    ASSERT_OK(shelf_stream_wait_ready(s, 128));
    ASSERT((v2 = shelf_stream_voice_start(s, id, 0, 1.0, 1.0f, 0)) >= 0);
    ASSERT(v2 != v1);
    shelf_stream_voice_release(s, v1, 0);       /* stale: ignored */
    ASSERT_EQ_INT(shelf_stream_voice_render(s, v1, 128, buf), 0);
    ASSERT_OK(shelf_stream_wait_ready(s, 128));
    ASSERT_EQ_INT(shelf_stream_render(s, 128, buf), 1);
    ASSERT(nonzero(buf, 256) > 0);
    shelf_stream_free(s);
}

/* Two voices on the same region share reads. */
TEST(identical_reads_merge)
{
    const char *dir = test_tmpdir();
    char paths[3][PATH_MAX];
    const char *pp[3] = { paths[0], paths[1], paths[2] };
    shelf_notes *one = parse("shelf-notes 1\nsample a\nsample b\nsample c\nnote 0 0\n");
    shelf_notes *four = parse("shelf-notes 1\nsample a\nsample b\nsample c\n"
                              "note 0 0\nnote 0 0\nnote 0 0 gain=0.5\nnote 1 0\n");
    shelf_stream_stats s1, s4;
    int64_t f;
    float *x;

    make_set(dir, paths);
    x = render(one, pp, small_opts(0), &f, &s1);
    free(x);
    x = render(four, pp, small_opts(0), &f, &s4);
    free(x);
    printf("    one voice: %llu reads, %llu misses; four: %llu reads, %llu merged, %llu hits\n",
           (unsigned long long)s1.reads, (unsigned long long)s1.cache_misses,
           (unsigned long long)s4.reads, (unsigned long long)s4.merged,
           (unsigned long long)s4.cache_hits);
    ASSERT(s1.reads > 10);
    ASSERT_EQ_INT(s4.reads, s1.reads);
    ASSERT(s4.merged + s4.cache_hits >= 3 * (s1.cache_misses));
    shelf_notes_free(one);
    shelf_notes_free(four);
}

/* ---- real time: the audio thread never waits ------------------------------------------ */

TEST(realtime_race)
{
    const char *dir = test_tmpdir();
    char paths[3][PATH_MAX];
    shelf_stream_opts o = small_opts(0);
    shelf_stream *s;
    shelf_stream_stats st;
    float buf[2 * 128];
    int ids[3], i, b, started = 0;
    uint64_t rng = 7;

    make_set(dir, paths);
    o.max_voices = 64;
    o.cache_bytes = 1 << 20;
    ASSERT_OK(shelf_stream_new(&o, &s, NULL));
    for (i = 0; i < 3; i++)
        ASSERT_OK(shelf_stream_add(s, paths[i], &ids[i]));
    /* About 1.5 s of audio as fast as the CPU goes (no pacing), starting a
     * voice every few blocks: the scheduler races the audio thread. */
    for (b = 0; b < 600; b++) {
        if (b % 4 == 0) {
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            started += shelf_stream_voice_start(s, ids[rng % 3], (int64_t)(rng % 20000),
                                                1.0 + (double)(rng % 5) / 4, 0.1f, (int)(rng % 3)) >= 0;
        }
        if (b % 16 == 0)
            nanosleep(&(struct timespec){ 0, 2000000 }, NULL);
        shelf_stream_render(s, 128, buf);
        for (i = 0; i < 256; i++)
            ASSERT(isfinite(buf[i]));
    }
    st.size = sizeof st;
    shelf_stream_get_stats(s, &st);
    ASSERT_EQ_INT(st.blocks, 600);
    ASSERT_EQ_INT(st.voices_started, started);
    ASSERT(started >= 64);
    ASSERT(st.reads > 0);
    shelf_stream_free(s);
}

/* ---- stress: CSV and PNG ---------------------------------------------------------------- */

TEST(stress_csv_png)
{
    const char *dir = test_tmpdir();
    char paths[3][PATH_MAX], csv[PATH_MAX], png[PATH_MAX];
    const char *pp[3] = { paths[0], paths[1], paths[2] };
    shelf_stream_opts o = small_opts(0);
    shelf_stress_opts so;
    shelf_stress_result *r = NULL;
    char *msg = NULL, *text;
    size_t n;

    make_set(dir, paths);
    memset(&so, 0, sizeof so);
    so.size = sizeof so;
    so.voices = 6;
    so.duration = 2;
    so.cold = 1;
    o.head_ms = 200;
    ASSERT_OKM(msg, shelf_stress_run(pp, 3, &o, &so, &r, &msg));
    ASSERT(r->nrows >= 2 && r->nrows <= 3);
    ASSERT(r->rows[0].t > 0.9 && r->rows[0].t < 1.5);
    ASSERT(r->stats.voices_started >= 6);
    ASSERT(r->stats.blocks > 48000 / 128);
    ASSERT_OK(shelf_stress_write_csv(r, test_pathf(csv, sizeof csv, "%s/s.csv", dir)));
    ASSERT_OK(shelf_stress_plot(r, "test", test_pathf(png, sizeof png, "%s/s.png", dir)));
    text = test_read_file(csv, &n);
    ASSERT(strncmp(text, "t,voices,underruns,", 19) == 0);
    ASSERT(strchr(text, '\n') != NULL);
    free(text);
    text = test_read_file(png, &n);
    ASSERT(n > 1000 && memcmp(text, "\x89PNG", 4) == 0);
    free(text);
    shelf_stress_free(r);
}

/* ---- cache pins (DIR/cache-pins) --------------------------------------------------------- */

/* A library with the three samples of make_set imported; ids 1..3. */
static shelf_library *pins_library(char dir[PATH_MAX])
{
    const char *base = test_tmpdir();
    char paths[3][PATH_MAX], src[PATH_MAX];
    const char *pp[1] = { src };
    shelf_library *lib = NULL;
    shelf_import_stats ist = { .size = sizeof ist };
    char *msg = NULL;

    test_pathf(src, sizeof src, "%s/src", base);
    ASSERT(mkdir(src, 0700) == 0);
    make_set(src, paths);
    test_pathf(dir, PATH_MAX, "%s/lib", base);
    ASSERT_OKM(msg, shelf_library_open(dir, SHELF_OPEN_CREATE, &lib, &msg));
    ASSERT_OKL(lib, shelf_import(lib, pp, 1, NULL, &ist));
    ASSERT_EQ_INT(ist.imported, 3);
    return lib;
}

static void pins_are(shelf_library *lib, const int64_t *want, size_t nwant)
{
    int64_t *ids = NULL;
    size_t n = 99, i;

    ASSERT_OKL(lib, shelf_cache_pins_get(lib, &ids, &n));
    ASSERT(ids != NULL);
    ASSERT_EQ_INT(n, nwant);
    for (i = 0; i < n; i++)
        ASSERT_EQ_INT(ids[i], want[i]);
    shelf_free(ids);
}

TEST(cache_pins_file)
{
    char dir[PATH_MAX], pf[PATH_MAX];
    shelf_library *lib = pins_library(dir), *ro = NULL;
    static const int64_t three_one[] = { 3, 1 }, one[] = { 1 }, bad[] = { 2, 999 };
    int64_t *ids = NULL;
    char *text, *msg = NULL;
    size_t n;

    test_pathf(pf, sizeof pf, "%s/cache-pins", dir);
    pins_are(lib, NULL, 0);                         /* no file: nothing pinned */
    ASSERT_OKL(lib, shelf_cache_pins_set(lib, three_one, 2, 1));
    ASSERT_OKL(lib, shelf_cache_pins_set(lib, one, 1, 1));     /* each once */
    pins_are(lib, three_one, 2);                    /* in the order pinned */
    text = test_read_file(pf, &n);
    ASSERT(strstr(text, "\"version\": 1") && strstr(text, "\"pins\""));
    free(text);
    /* A sample not in the catalog: nothing changes. */
    ASSERT_RC(SHELF_ENOTFOUND, shelf_cache_pins_set(lib, bad, 2, 1));
    pins_are(lib, three_one, 2);
    /* Unpinning takes any id. */
    ASSERT_OKL(lib, shelf_cache_pins_set(lib, bad, 2, 0));
    ASSERT_OKL(lib, shelf_cache_pins_set(lib, three_one, 1, 0));
    pins_are(lib, one, 1);
    /* A read-only library reads the list but does not change it. */
    ASSERT_OKM(msg, shelf_library_open(dir, SHELF_OPEN_READONLY, &ro, &msg));
    pins_are(ro, one, 1);
    ASSERT_RC(SHELF_EPERM, shelf_cache_pins_set(ro, three_one, 2, 1));
    shelf_library_close(ro);
    /* Damaged and newer files are told apart, and name the file. */
    test_write_file(pf, "{\"version\": 1, \"pins\": [1, \"x\"]}", strlen("{\"version\": 1, \"pins\": [1, \"x\"]}"));
    ASSERT_RC(SHELF_EFORMAT, shelf_cache_pins_get(lib, &ids, &n));
    ASSERT(ids == NULL && strstr(shelf_errmsg(lib), pf));
    test_write_file(pf, "{\"version\": 2, \"pins\": []}", strlen("{\"version\": 2, \"pins\": []}"));
    ASSERT_RC(SHELF_EVERSION, shelf_cache_pins_get(lib, &ids, &n));
    test_write_file(pf, "not json", strlen("not json"));
    ASSERT_RC(SHELF_EFORMAT, shelf_cache_pins_get(lib, &ids, &n));
    ASSERT_RC(SHELF_EFORMAT, shelf_cache_pins_set(lib, one, 1, 1));
    shelf_library_close(lib);
}

/* ---- health ----------------------------------------------------------------------------------- */

typedef struct seen_alert {
    int severity;               /* of "stream-underruns"; 0: not found */
    char action[600];
} seen_alert;

static int on_alert(void *ud, const shelf_alert *a)
{
    seen_alert *seen = ud;

    if (!strcmp(a->key, "stream-underruns")) {
        seen->severity = a->severity;
        snprintf(seen->action, sizeof seen->action, "%s", a->action ? a->action : "");
    }
    return 0;
}

static seen_alert stream_alert(shelf_library *lib, int64_t now)
{
    seen_alert seen;

    memset(&seen, 0, sizeof seen);
    ASSERT_OKL(lib, shelf_alerts(lib, now, NULL, on_alert, &seen));
    return seen;
}

/*
 * An engine whose every read is late (a delay fault of 250 ms against
 * rings of 170 ms) really underruns while played in real time: its health
 * counts it (the window, the lowest fill, the read p99, each sample's
 * share), the file it publishes reads back live with suggestions, and
 * shelf_alerts raises stream-underruns; a healthy reading, a stale file,
 * an ended engine and a damaged file raise nothing.
 */
TEST(health_underruns)
{
    char dir[PATH_MAX], p[2][PATH_MAX], hf[PATH_MAX];
    shelf_library *lib = pins_library(dir);      /* dir is BASE/lib, samples in BASE/src */
    shelf_stream_opts o = small_opts(0);
    shelf_stream *s;
    shelf_stream_stats st = { .size = sizeof st };
    shelf_stream_health h = { .size = sizeof h };
    shelf_stream_interval iv;
    shelf_stream_report *r = NULL;
    seen_alert al;
    float buf[2 * 128];
    int ids[2], i, b, found_pin = 0;
    uint64_t per_sample = 0;
    int64_t now;

    test_pathf(hf, sizeof hf, "%s/stream/health.json", dir);
    ASSERT_RC(SHELF_ENOTFOUND, shelf_stream_health_read(lib, shelf_clock_now(), &r));
    ASSERT(r == NULL && strstr(shelf_errmsg(lib), "no streaming engine"));
    o.fault_delay_rate = 1.0;
    o.fault_delay_ms = 250;
    ASSERT_OK(shelf_stream_new(&o, &s, NULL));
    for (i = 0; i < 2; i++) {
        test_pathf(p[i], PATH_MAX, "%.*s/src/%s", (int)(strlen(dir) - 4), dir, i ? "b.wav" : "a.wav");
        ASSERT_OK(shelf_stream_add(s, p[i], &ids[i]));
    }
    /* Healthy: nothing played yet, nothing to suggest, no alert. */
    {
        /* The rule of structs with a size: a caller's older, shorter
         * struct gets its fields and not one byte more. */
        union {
            shelf_stream_health h;
            unsigned char b[sizeof(shelf_stream_health) + 8];
        } u;
        size_t cut = offsetof(shelf_stream_health, not_ready);

        memset(u.b, 0xA5, sizeof u.b);
        u.h.size = cut;
        ASSERT_OK(shelf_stream_get_health(s, &u.h));
        ASSERT_EQ_INT(u.h.size, cut);
        ASSERT_EQ_INT(u.h.underruns, 0);
        ASSERT_EQ_INT(u.b[cut], 0xA5);
    }
    ASSERT_OK(shelf_stream_get_health(s, &h));
    ASSERT_EQ_INT(h.recent_underruns, 0);
    ASSERT(h.ring_ms > 150 && h.ring_ms < 200);
    ASSERT_OKL(lib, shelf_stream_health_publish(s, lib, 0));
    ASSERT_OKL(lib, shelf_stream_health_read(lib, shelf_clock_now(), &r));
    ASSERT_EQ_INT(r->state, SHELF_STREAM_LIVE);
    ASSERT_EQ_INT(r->nsuggestions, 0);
    shelf_stream_report_free(r);
    ASSERT_EQ_INT(stream_alert(lib, shelf_clock_now()).severity, 0);
    /* Four voices, 1.2 s paced like an audio callback. */
    for (i = 0; i < 4; i++)
        ASSERT(shelf_stream_voice_start(s, ids[i % 2], 0, 1.0, 0.2f, 0) >= 0);
    for (b = 0; b < 450; b++) {
        shelf_stream_render(s, 128, buf);
        nanosleep(&(struct timespec){ 0, 2666667 }, NULL);
    }
    shelf_stream_get_stats(s, &st);
    ASSERT(st.underruns > 0);
    ASSERT_EQ_INT(st.failovers, 0);
    ASSERT_OK(shelf_stream_get_health(s, &h));
    ASSERT_EQ_INT(h.underruns, st.underruns);
    ASSERT_EQ_INT(h.recent_underruns, st.underruns);      /* younger than a minute */
    ASSERT_EQ_INT(h.voices_dropped, st.voices_dropped);
    ASSERT(h.window > 1.0 && h.window < 30);
    ASSERT(h.underruns_per_min > 0);
    ASSERT(h.min_fill_pct < 50);
    ASSERT(h.lat_p99_us >= 200000);
    ASSERT_EQ_INT(h.voices_peak, 4);
    ASSERT(h.voices_avg > 0 && h.voices_avg <= 4);
    ASSERT_EQ_INT(h.failovers, 0);
    for (i = 0; i < 2; i++)
        per_sample += atomic_load(&s->samples[ids[i]].underruns);
    ASSERT_EQ_INT(per_sample, st.underruns);
    /* The health readings took nothing from the interval's marks. */
    shelf_stream_take_interval(s, &iv);
    ASSERT(iv.reads > 0 && iv.lat_p99_us >= 200000 && iv.min_fill_pct < 50);
    /* Published, read back live, with the suggestions. */
    ASSERT_OKL(lib, shelf_stream_health_publish(s, lib, 0));
    now = shelf_clock_now();
    ASSERT_OKL(lib, shelf_stream_health_read(lib, now, &r));
    ASSERT_EQ_INT(r->state, SHELF_STREAM_LIVE);
    ASSERT_EQ_INT(r->pid, getpid());
    ASSERT(r->underruns_since > 0 && r->underruns_since <= now);
    ASSERT_EQ_INT(r->health.recent_underruns, h.recent_underruns);
    ASSERT(r->health.lat_p99_us >= 200000);
    ASSERT(r->nsuggestions >= 2);
    ASSERT_EQ_STR(r->suggestions[0].kind, "medium");       /* reads slower than half a ring */
    ASSERT(strstr(r->suggestions[0].action, "a faster medium"));
    for (i = 0; i < (int)r->nsuggestions; i++)
        found_pin |= !strcmp(r->suggestions[i].kind, "pin") &&
                     !strncmp(r->suggestions[i].action, "shelf cache pin ", 16);
    ASSERT(found_pin);
    ASSERT(strstr(r->json, "\"version\": 1"));
    shelf_stream_report_free(r);
    al = stream_alert(lib, now);
    ASSERT(al.severity >= SHELF_ALERT_WARNING);
    ASSERT(strstr(al.action, "a faster medium") && strstr(al.action, "shelf stream monitor"));
    /* Not written for longer than SHELF_STREAM_STALE_S: stale, no alert. */
    ASSERT_OKL(lib, shelf_stream_health_read(lib, now + SHELF_STREAM_STALE_S + 5, &r));
    ASSERT_EQ_INT(r->state, SHELF_STREAM_STALE);
    shelf_stream_report_free(r);
    ASSERT_EQ_INT(stream_alert(lib, now + SHELF_STREAM_STALE_S + 5).severity, 0);
    /* Ended: the file stays, the alert clears. */
    ASSERT_OKL(lib, shelf_stream_health_publish(s, lib, 1));
    ASSERT_OKL(lib, shelf_stream_health_read(lib, shelf_clock_now(), &r));
    ASSERT_EQ_INT(r->state, SHELF_STREAM_ENDED);
    ASSERT(r->health.underruns > 0);
    shelf_stream_report_free(r);
    ASSERT_EQ_INT(stream_alert(lib, shelf_clock_now()).severity, 0);
    shelf_stream_free(s);
    /* Damaged and newer files are told apart and name the file; no alert. */
    test_write_file(hf, "{\"version\": 1, \"state\": \"running\"}", 34);
    ASSERT_RC(SHELF_EFORMAT, shelf_stream_health_read(lib, now, &r));
    ASSERT(r == NULL && strstr(shelf_errmsg(lib), hf));
    ASSERT_EQ_INT(stream_alert(lib, now).severity, 0);
    test_write_file(hf, "{\"version\": 2}", 14);
    ASSERT_RC(SHELF_EVERSION, shelf_stream_health_read(lib, now, &r));
    shelf_library_close(lib);
}

/* The suggestion of kind at index i of arr: its action (borrowed), or NULL. */
static const char *sugg_at(json_t *arr, size_t i, const char *kind)
{
    json_t *o = json_array_get(arr, i);

    if (!o || strcmp(json_string_value(json_object_get(o, "kind")), kind) != 0)
        return NULL;
    ASSERT(json_string_value(json_object_get(o, "text")) != NULL);
    return json_string_value(json_object_get(o, "action"));
}

/* The suggestions from given figures: each kind when its figures call for
 * it, with the numbers worked out as doc/streaming.md says. */
TEST(health_suggestions)
{
    static const shelf__health_sample top[] = {
        { 5, 10000000, 0, 1 },          /* contiguous */
        { 9, 5000000, 0, 7 },           /* fragmented */
        { 0, 1000000, 0, 3 },           /* not in the catalog: no id to name */
        { 11, 2000000, 1, 0 },          /* pinned already */
    };
    shelf_stream_health h;
    json_t *arr = json_array();
    const char *a;

    /* Throughput-bound: 40 voices on average kept it busy 95% of a minute. */
    memset(&h, 0, sizeof h);
    h.size = sizeof h;
    h.window = 60;
    h.recent_underruns = 12;
    h.busy = 0.95;
    h.voices_avg = 40;
    h.voices_peak = 48;
    h.mb_per_s = 11.52;
    h.lat_p99_us = 20000;
    h.lat_max_us = 31000;
    h.ring_ms = 1366;
    h.cache_budget = 268435456;
    ASSERT_EQ_INT(shelf__health_held(&h), 33);              /* 0.8 * 40 / 0.95 */
    ASSERT_OK(shelf__health_suggest(&h, top, 4, arr));
    ASSERT_EQ_INT(json_array_size(arr), 4);
    ASSERT((a = sugg_at(arr, 0, "polyphony")) && strstr(a, "play at most 33 voices"));
    ASSERT((a = sugg_at(arr, 1, "pin")));
    ASSERT_EQ_STR(a, "shelf cache pin 5 9 (16.0 MB of RAM)");
    ASSERT((a = sugg_at(arr, 2, "defragment")));
    ASSERT_EQ_STR(a, "shelf store optimize 9");
    ASSERT(strstr(json_string_value(json_object_get(json_array_get(arr, 2), "text")), "2 of the samples"));
    ASSERT((a = sugg_at(arr, 3, "medium")));
    /* 11.52 MB/s for 40 voices, 48 at the peak, / 0.8; reads in half a ring */
    ASSERT_EQ_STR(a, "a faster medium: 17.3 MB/s or more with reads under 683 ms (p99)");
    /* Pins beyond the budget say so. */
    json_array_clear(arr);
    h.cache_budget = 8000000;
    ASSERT_OK(shelf__health_suggest(&h, top, 4, arr));
    ASSERT(strstr(json_string_value(json_object_get(json_array_get(arr, 1), "text")), "raise the budget"));
    /* The medium holds the peak: no polyphony to give up. */
    json_array_clear(arr);
    h.busy = 0.6;
    h.voices_avg = 10;
    h.voices_peak = 12;
    ASSERT_EQ_INT(shelf__health_held(&h), 13);
    ASSERT_OK(shelf__health_suggest(&h, top, 4, arr));
    ASSERT(sugg_at(arr, 0, "pin") != NULL);
    /* Latency-bound (p99 above half a ring), idle medium, no samples:
     * the medium first and alone; no polyphony from a medium mostly idle. */
    json_array_clear(arr);
    h.busy = 0.3;
    h.lat_p99_us = 400000;
    h.ring_ms = 170;
    ASSERT_EQ_INT(shelf__health_held(&h), 0);
    ASSERT_OK(shelf__health_suggest(&h, NULL, 0, arr));
    ASSERT_EQ_INT(json_array_size(arr), 1);
    ASSERT((a = sugg_at(arr, 0, "medium")) && strstr(a, "reads under 85 ms"));
    json_decref(arr);
}

/* ---- fragmentation ------------------------------------------------------------------------- */

TEST(frag_and_optimize)
{
    char mnt[PATH_MAX];
    const char *dir = real_fs_dir(mnt);
    char a[PATH_MAX], b[PATH_MAX];
    shelf_frag_info before, after;
    char block[4096], *orig, *now;
    struct stat st0, st1;
    size_t n0, n1;
    int fa, fb, i;
    char *msg = NULL;

    /* Two files grown in turns, each write made durable: their blocks interleave. */
    fa = open(test_pathf(a, sizeof a, "%s/a.bin", dir), O_WRONLY | O_CREAT, 0640);
    fb = open(test_pathf(b, sizeof b, "%s/b.bin", dir), O_WRONLY | O_CREAT, 0600);
    ASSERT(fa >= 0 && fb >= 0);
    for (i = 0; i < 64; i++) {
        memset(block, 'a' + i % 26, sizeof block);
        ASSERT(write(fa, block, sizeof block) == (ssize_t)sizeof block);
        ASSERT_EQ_INT(fsync(fa), 0);
        ASSERT(write(fb, block, sizeof block) == (ssize_t)sizeof block);
        ASSERT_EQ_INT(fsync(fb), 0);
    }
    close(fa);
    close(fb);
    ASSERT_OKM(msg, shelf_frag_file(a, &before, &msg));
    ASSERT(before.supported);
    ASSERT_EQ_INT(before.size, 64 * 4096);
    ASSERT(before.extents >= 1 && before.fragments <= before.extents);
    ASSERT(before.block_size >= 512);
    orig = test_read_file(a, &n0);
    ASSERT(stat(a, &st0) == 0);
    ASSERT_OKM(msg, shelf_frag_optimize(a, &after, &msg));
    now = test_read_file(a, &n1);
    ASSERT(stat(a, &st1) == 0);
    ASSERT(n0 == n1 && memcmp(orig, now, n0) == 0);
    ASSERT_EQ_INT(st1.st_mtim.tv_sec, st0.st_mtim.tv_sec);
    ASSERT_EQ_INT(st1.st_mtim.tv_nsec, st0.st_mtim.tv_nsec);
    ASSERT_EQ_INT(st1.st_mode & 07777, 0640);
    ASSERT(st1.st_ino != st0.st_ino);           /* a new file took its place */
    ASSERT(after.supported && after.size == before.size);
    ASSERT(after.fragments <= before.fragments);
    ASSERT(after.fragments <= 2);
    printf("    a.bin: %u fragments before, %u after\n", before.fragments, after.fragments);
    free(orig);
    free(now);
    ASSERT_RC(SHELF_ENOTFOUND, shelf_frag_file("/nonexistent/x", &before, &msg));
    ASSERT(msg && strstr(msg, "/nonexistent/x"));
    shelf_free(msg);
    real_fs_done(mnt);
}

/* ---- out of memory ------------------------------------------------------------------------- */

#define ALLOC_TRIES 20000


/*
 * Fail the 1st, 2nd, ... allocation of an offline render (engine, its
 * threads, the cache, streamed and RAM-loaded reads) until one succeeds:
 * every failure is SHELF_ENOMEM with no output (the I/O threads' failures
 * too: never a render that "succeeds" with silence), every success is the
 * bit-exact audio.  ASan checks that nothing leaks or crashes on the way.
 */
static void alloc_fail_render(int flags)
{
    const char *dir = test_tmpdir();
    char p[2][PATH_MAX];
    const char *pp[2] = { p[0], p[1] };
    tg_spec a = TG_SPEC_INIT(SF_FORMAT_WAV | SF_FORMAT_PCM_16, 48000, 2, 24000);
    tg_spec b = TG_SPEC_INIT(SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 48000, 1, 12000);
    shelf_notes *n = parse("shelf-notes 1\nsample a\nsample b\nnote 0 0\nnote 100 1 pitch=1.5\n"
                           "note 5000 0 offset=7000 gain=0.5\n");
    shelf_stream_opts o = small_opts(flags | SHELF_STREAM_OFFLINE);
    int64_t fr_ref, fr;
    float *ref, *pcm;
    long k;
    int failures = 0;

    a.seed = 11;
    b.seed = 12;
    ASSERT_EQ_INT(tg_write(test_pathf(p[0], PATH_MAX, "%s/a.wav", dir), &a), 0);
    ASSERT_EQ_INT(tg_write(test_pathf(p[1], PATH_MAX, "%s/b.flac", dir), &b), 0);
    o.chunk_bytes = 4096;
    o.head_ms = 10;
    ref = render(n, pp, o, &fr_ref, NULL);
    for (k = 1; k < ALLOC_TRIES; k++) {
        char *msg = NULL;
        shelf_stream_stats st;
        int rc, hit;

        pcm = (float *)&pcm;
        fr = -1;
        shelf__alloc_fail_after(k);
        rc = shelf_notes_render(n, pp, &o, 128, &pcm, &fr, &st, &msg);
        hit = fault_hit(k);
        shelf__alloc_fail_after(0);
        if (rc == SHELF_OK) {
            if (fr != fr_ref || memcmp(pcm, ref, (size_t)fr * 2 * sizeof(float)) != 0)
                test__fail(__FILE__, __LINE__, "allocation %ld failed, yet the render succeeded "
                           "with other audio (%llu read errors, %llu chunks lost)", k,
                           (unsigned long long)st.read_errors, (unsigned long long)st.chunks_lost);
            ASSERT(msg == NULL);
            free(pcm);
            if (!hit)
                break;
            continue;
        }
        failures++;
        if (rc != SHELF_ENOMEM)
            test__fail(__FILE__, __LINE__, "allocation %ld: %s: %s", k, shelf_strerror(rc),
                       msg ? msg : "(no message)");
        if (pcm != NULL)
            test__fail(__FILE__, __LINE__, "allocation %ld: failed but *out is set", k);
        if (!hit)
            test__fail(__FILE__, __LINE__, "no failure injected, yet: %s", shelf_strerror(rc));
        shelf_free(msg);
    }
    ASSERT(k < ALLOC_TRIES);
    ASSERT(failures > 10);
    printf("    %d failed allocations, each cleanly; success at allocation %ld\n", failures, k);
    free(ref);
    shelf_notes_free(n);
}

TEST(alloc_fail_render_streamed) { alloc_fail_render(0); }
TEST(alloc_fail_render_ram) { alloc_fail_render(SHELF_STREAM_RAM); }

/* A note whose release falls inside the block it starts in is released on
 * its frame, not at the next block (the render once cut blocks only at
 * the releases of notes already playing). */
TEST(render_short_notes)
{
    const char *dir = test_tmpdir();
    char paths[3][PATH_MAX];
    const char *pp[3] = { paths[0], paths[1], paths[2] };
    shelf_notes *n = parse("shelf-notes 1\nsample a\nlength 1000\n"
                           "note 0 0 len=10 release=20\nnote 50 0 offset=100 len=7 release=1\n"
                           "note 300 0 len=0 release=5\n");
    int64_t fr, i;
    int ram;

    make_set(dir, paths);
    for (ram = 0; ram < 2; ram++) {
        float *pcm = render(n, pp, small_opts(ram ? SHELF_STREAM_RAM : SHELF_STREAM_NO_URING),
                            &fr, NULL);
        ASSERT_EQ_INT(fr, 1000);
        ASSERT(nonzero(pcm, 2 * 30) > 40);
        ASSERT(nonzero(pcm + 2 * 50, 2 * 8) > 10);
        ASSERT(nonzero(pcm + 2 * 300, 2 * 5) > 4);
        for (i = 0; i < fr; i++)
            if ((i >= 30 && i < 50) || (i >= 58 && i < 300) || i >= 305)
                if (pcm[2 * i] != 0 || pcm[2 * i + 1] != 0)
                    test__fail(__FILE__, __LINE__, "frame %lld plays after its release", (long long)i);
        free(pcm);
    }
    shelf_notes_free(n);
}

/* ---- loops ------------------------------------------------------------------ */

/* Three looped files: 24-bit stereo 48 kHz, 16-bit mono 44.1 kHz, float
 * stereo 48 kHz (names with an accent, a space, CJK): make_set's
 * encodings and rates with other content. */
static void make_loop_set(const char *dir, char paths[3][PATH_MAX])
{
    char tmp[3][PATH_MAX];
    tg_spec c = TG_SPEC_INIT(SF_FORMAT_WAV | SF_FORMAT_FLOAT, 48000, 2, 48000 * 2);
    static const char *names[3] = { "loop é 24.wav", "ループ 16.wav", "loop float.wav" };
    int i;

    make_set(dir, tmp);
    c.seed = 13;
    c.freq = 330;
    ASSERT_EQ_INT(tg_write(tmp[2], &c), 0);
    for (i = 0; i < 3; i++)
        ASSERT_EQ_INT(rename(tmp[i], test_pathf(paths[i], PATH_MAX, "%s/%s", dir, names[i])), 0);
}

/* Sustained looped notes (several wraps each, pitches up and down), their
 * releases playing on past the loop end, a note that starts after a loop
 * and so does not loop, a loop shorter than a block. */
static const char loop_script[] =
    "shelf-notes 1\n"
    "rate 48000\n"
    "sample a\n"
    "sample b\n"
    "sample c\n"
    "loop 0 20000 100000\n"
    "loop 1 30000 70000 xfade=2000\n"
    "loop 2 10000 10100\n"
    "note 0 0 len=300000 release=4000\n"
    "note 500 1 pitch=1.5 gain=0.5 len=200000 release=20000\n"
    "note 1000 2 pitch=0.75 len=150000\n"
    "note 3000 0 offset=25000 pitch=1.2599 gain=0.25 len=250000 release=30000 prio=2\n"
    "note 7000 0 offset=110000 len=20000\n"
    "note 9000 1 pitch=0.5 len=120000 release=1000\n"
    "note 12000 2 pitch=1.5 len=60000 release=0\n";

/* Give the file at path an instrument chunk with one loop [start, end)
 * of mode (SF_LOOP_*), its audio unchanged (rewritten through libsndfile:
 * ints for PCM, floats for float). */
static void set_file_loop(const char *path, int64_t start, int64_t end, int mode)
{
    char tmp[PATH_MAX];
    SF_INFO in, out;
    SF_INSTRUMENT inst;
    SNDFILE *r, *w;
    int fl = 0;
    void *buf;

    memset(&in, 0, sizeof in);
    ASSERT((r = sf_open(path, SFM_READ, &in)) != NULL);
    fl = (in.format & SF_FORMAT_SUBMASK) == SF_FORMAT_FLOAT;
    buf = malloc((size_t)in.frames * (size_t)in.channels * 4);
    ASSERT(buf);
    ASSERT_EQ_INT(fl ? sf_readf_float(r, buf, in.frames) : sf_readf_int(r, buf, in.frames), in.frames);
    sf_close(r);
    out = in;
    test_pathf(tmp, sizeof tmp, "%s.tmp", path);
    ASSERT((w = sf_open(tmp, SFM_WRITE, &out)) != NULL);
    memset(&inst, 0, sizeof inst);
    inst.basenote = 60;
    inst.loop_count = 1;
    inst.loops[0].mode = mode;
    inst.loops[0].start = (unsigned)start;
    inst.loops[0].end = (unsigned)end;
    ASSERT_EQ_INT(sf_command(w, SFC_SET_INSTRUMENT, &inst, sizeof inst), SF_TRUE);
    ASSERT_EQ_INT(fl ? sf_writef_float(w, buf, in.frames) : sf_writef_int(w, buf, in.frames), in.frames);
    ASSERT_EQ_INT(sf_close(w), 0);
    ASSERT_EQ_INT(rename(tmp, path), 0);
    free(buf);
}

/* "loop SAMPLE file": the loop the file carries (its smpl chunk) renders
 * exactly as the same points written in the script, streamed and from
 * RAM; a file with no loop is refused with a line that names it. */
TEST(loop_from_the_file)
{
    static const char head[] = "shelf-notes 1\nrate 48000\nsample a\nsample b\n";
    static const char notes[] =
        "note 0 0 len=300000 release=4000\n"
        "note 500 1 pitch=1.5 gain=0.5 len=200000 release=20000\n"
        "note 9000 1 pitch=0.5 len=120000 release=0\n";
    const char *dir = test_tmpdir();
    char paths[3][PATH_MAX], text[1024], *msg = NULL;
    const char *pp[3] = { paths[0], paths[1], paths[2] };
    shelf_notes *given, *own;
    shelf_stream_opts od = small_opts(SHELF_STREAM_NO_URING | SHELF_STREAM_NO_DIRECT);
    shelf_stream_opts oram = small_opts(SHELF_STREAM_RAM);
    shelf_stream_stats st1, st2;
    int64_t f1, f2;
    float *a, *b, *pcm = NULL;

    make_loop_set(dir, paths);
    set_file_loop(paths[0], 20000, 100000, SF_LOOP_FORWARD);
    set_file_loop(paths[1], 30000, 70000, SF_LOOP_FORWARD);
    snprintf(text, sizeof text, "%sloop 0 20000 100000\nloop 1 30000 70000 xfade=2000\n%s", head, notes);
    given = parse(text);
    snprintf(text, sizeof text, "%sloop 0 file\nloop 1 file xfade=2000\n%s", head, notes);
    own = parse(text);
    ASSERT_EQ_INT(own->loops[0], -1);
    ASSERT_EQ_INT(own->loops[1], -1);
    ASSERT_EQ_INT(own->loops[5], 2000);
    a = render(given, pp, od, &f1, &st1);
    b = render(own, pp, od, &f2, &st2);
    ASSERT_EQ_INT(f1, f2);
    ASSERT(st2.loop_wraps >= 4);
    ASSERT_EQ_INT(st1.loop_wraps, st2.loop_wraps);
    ASSERT(memcmp(a, b, (size_t)f1 * 2 * sizeof *a) == 0);
    free(b);
    b = render(own, pp, oram, &f2, &st2);
    ASSERT(memcmp(a, b, (size_t)f1 * 2 * sizeof *a) == 0);
    free(a);
    free(b);
    shelf_notes_free(given);
    shelf_notes_free(own);

    /* paths[2] carries no loop */
    snprintf(text, sizeof text, "shelf-notes 1\nsample c\nloop 0 file\nnote 0 0 len=1000\n");
    own = parse(text);
    ASSERT_EQ_INT(shelf_notes_render(own, &pp[2], &oram, 128, &pcm, &f1, NULL, &msg), SHELF_EFORMAT);
    ASSERT(msg && strstr(msg, "carries no loop") && strstr(msg, "loop float.wav"));
    ASSERT(pcm == NULL);
    free(msg);
    shelf_notes_free(own);
    /* bad lines */
    snprintf(text, sizeof text, "shelf-notes 1\nsample a\nloop 0 file 5\n");
    ASSERT_EQ_INT(shelf_notes_parse(text, strlen(text), &own, &msg), SHELF_EFORMAT);
    ASSERT(msg && strstr(msg, "line 3: bad loop"));
    free(msg);
}

TEST(loop_bitexact)
{
    const char *dir = test_tmpdir();
    char paths[3][PATH_MAX];
    const char *pp[3] = { paths[0], paths[1], paths[2] };
    shelf_notes *n = parse(loop_script);
    shelf_stream_stats st_ram, st_disk;
    shelf_stream_opts od = small_opts(SHELF_STREAM_NO_URING | SHELF_STREAM_NO_DIRECT);
    int64_t fr_ram, fr_disk, i;
    float *ram, *disk;

    make_loop_set(dir, paths);
    ASSERT_EQ_INT(n->loops[1], 100000);
    ASSERT_EQ_INT(n->loops[5], 2000);
    ASSERT_EQ_INT(n->loops[6], 10000);
    ram = render(n, pp, small_opts(SHELF_STREAM_RAM), &fr_ram, &st_ram);
    disk = render(n, pp, od, &fr_disk, &st_disk);
    ASSERT_EQ_INT(fr_ram, fr_disk);
    ASSERT_EQ_INT(fr_ram, 300000 + 4000);
    ASSERT(nonzero(ram, 2 * fr_ram) > fr_ram);
    if (memcmp(ram, disk, (size_t)fr_ram * 2 * sizeof *ram) != 0) {
        for (i = 0; i < 2 * fr_ram && ram[i] == disk[i]; i++)
            ;
        test__fail(__FILE__, __LINE__, "sample %lld differs: %.9g != %.9g", (long long)i,
                   ram[i], disk[i]);
    }
    printf("    %llu wraps, %llu reads, %llu loop look-ups from RAM\n",
           (unsigned long long)st_disk.loop_wraps, (unsigned long long)st_disk.reads,
           (unsigned long long)st_disk.loop_ram);
    /* The loops wrapped, in both; the streamed one read from disk across
     * the wraps and took the loop starts from RAM, without a miss. */
    ASSERT(st_ram.loop_wraps >= 8);
    ASSERT_EQ_INT(st_disk.loop_wraps, st_ram.loop_wraps);
    ASSERT(st_disk.loop_ram > 0);
    ASSERT(st_disk.reads > 50);
    ASSERT_EQ_INT(st_disk.underruns, 0);
    ASSERT_EQ_INT(st_disk.not_ready, 0);
    ASSERT_EQ_INT(st_disk.chunks_lost, 0);
    /* The held loop is heard after the sample's own length. */
    ASSERT(nonzero(ram + 2 * 200000, 2 * 50000) > 50000);
    {
        /* The crossfade changed the sound, only from its first wrap on. */
        char *plain = strdup(loop_script);
        shelf_notes *n2;
        shelf_stream_stats st2;
        int64_t fr2;
        float *p2;
        memcpy(strstr(plain, " xfade=2000"), "           ", 11);
        n2 = parse(plain);
        p2 = render(n2, pp, small_opts(SHELF_STREAM_RAM), &fr2, &st2);
        ASSERT_EQ_INT(fr2, fr_ram);
        ASSERT(memcmp(p2, ram, 2 * 20000 * sizeof *ram) == 0);
        ASSERT(memcmp(p2, ram, (size_t)fr_ram * 2 * sizeof *ram) != 0);
        free(p2);
        shelf_notes_free(n2);
        free(plain);
    }
    free(ram);
    free(disk);
    shelf_notes_free(n);
}

/* A loop held inside the sample's RAM loop start plays with every disk
 * read failing: no read happens at a wrap.  A later unlooped note proves
 * the faults were on. */
TEST(loop_from_ram)
{
    const char *dir = test_tmpdir();
    char paths[3][PATH_MAX];
    const char *pp[3] = { paths[0], paths[1], paths[2] };
    shelf_notes *n = parse("shelf-notes 1\n"
                           "sample a\nsample b\nsample c\n"
                           "loop 0 30000 33000\n"
                           "note 0 0 offset=30000 len=100000 release=64\n"
                           "note 110000 1 len=20000\n");
    shelf_stream_stats st_ram, st_disk;
    shelf_stream_opts od = small_opts(SHELF_STREAM_NO_URING | SHELF_STREAM_NO_DIRECT);
    int64_t fr_ram, fr_disk;
    float *ram, *disk;

    make_loop_set(dir, paths);
    od.fault_error_rate = 1;
    od.retries = -1;
    ram = render(n, pp, small_opts(SHELF_STREAM_RAM), &fr_ram, &st_ram);
    disk = render(n, pp, od, &fr_disk, &st_disk);
    ASSERT_EQ_INT(fr_ram, fr_disk);
    ASSERT(nonzero(ram, 2 * 100000) > 100000);
    ASSERT(memcmp(ram, disk, 2 * 110000 * sizeof *ram) == 0);
    ASSERT(st_disk.loop_wraps >= 30);
    ASSERT(st_disk.loop_ram > 0);
    ASSERT(st_disk.read_errors > 0);     /* the faults were on ... */
    ASSERT(memcmp(ram, disk, (size_t)fr_ram * 2 * sizeof *ram) != 0); /* ... and heard */
    free(ram);
    free(disk);
    shelf_notes_free(n);
}

/* Loop statements: bad ones are refused with their line; a looped note
 * needs a len; set_loop checks its range. */
TEST(loop_parse_and_range)
{
    static const char *bad[] = {
        "shelf-notes 1\nsample a\nloop 0 10 10\n", "shelf-notes 1\nsample a\nloop 1 0 10\n",
        "shelf-notes 1\nsample a\nloop 0 5\n", "shelf-notes 1\nsample a\nloop 0 1 5 x\n",
        "shelf-notes 1\nloop 0 1 5\n", "shelf-notes 1\nsample a\nloop 0 10 100 xfade=11\n",
        "shelf-notes 1\nsample a\nloop 0 10 15 xfade=6\n", "shelf-notes 1\nsample a\nloop 0 10 15 fade=2\n",
        "shelf-notes 1\nsample a\nloop 0 10 100 mode=sideways\n",
        "shelf-notes 1\nsample a\nloop 0 10 15 mode=backward xfade=6\n",
        "shelf-notes 1\nsample a\nloop 0 10 100 xfade=11 mode=forward\n",
        "shelf-notes 1\nsample a\nloop 0 file xfade=5 mode=alternating\n",
        "shelf-notes 1\nsample a\nloop 0 10 11 mode=alternating\n",
        "shelf-notes 1\nsample a\nloop 0 10 100 mode=forward mode=backward\n",
        "shelf-notes 1\nsample a\nloop 0 10 100 xfade=1 xfade=1\n",
        "shelf-notes 1\nsample a\nloop 0 10 100 mode=\n",
        "shelf-notes 1\nsample a\nloop 0 10 100 mode=Backward\n",
    };
    static const char *why[] = {
        "bad loop", "bad loop", "bad loop", "bad loop", "bad loop", "bad loop", "bad loop", "bad loop",
        "unknown loop mode 'sideways'", "bad loop", "bad loop",
        "alternating loop takes no crossfade", "alternating loop needs at least 2 frames",
        "bad loop", "bad loop", "unknown loop mode ''", "unknown loop mode 'Backward'",
    };
    const char *dir = test_tmpdir();
    char paths[3][PATH_MAX];
    const char *pp[1] = { paths[0] };
    shelf_notes *n = NULL;
    shelf_stream *s;
    shelf_stream_opts o = small_opts(SHELF_STREAM_OFFLINE);
    char *msg = NULL;
    float *pcm = NULL;
    int64_t fr;
    size_t i;
    int id;

    _Static_assert(sizeof bad / sizeof *bad == sizeof why / sizeof *why, "a reason each");
    for (i = 0; i < sizeof bad / sizeof *bad; i++) {
        ASSERT_RC(SHELF_EFORMAT, shelf_notes_parse(bad[i], strlen(bad[i]), &n, &msg));
        if (!msg || strncmp(msg, "line ", 5) != 0 || !strstr(msg, why[i]) || strchr(msg, '\n'))
            test__fail(__FILE__, __LINE__, "%s: %s", bad[i], msg ? msg : "no message");
        shelf_free(msg);
        msg = NULL;
    }
    /* Modes, each option at most once, in any order. */
    n = parse("shelf-notes 1\nsample a\nsample b\nsample c\nsample d\n"
              "loop 0 10 100 xfade=5 mode=forward\nloop 1 10 100 xfade=90 mode=backward\n"
              "loop 2 file mode=alternating\nloop 3 10 12 mode=alternating xfade=0\n");
    ASSERT_EQ_INT(n->loop_modes[0], SHELF_LOOP_FORWARD);
    ASSERT_EQ_INT(n->loops[2], 5);
    ASSERT_EQ_INT(n->loop_modes[1], SHELF_LOOP_BACKWARD);
    ASSERT_EQ_INT(n->loops[5], 90);         /* after the end: more than START */
    ASSERT_EQ_INT(n->loop_modes[2], SHELF_LOOP_ALTERNATING);
    ASSERT_EQ_INT(n->loops[6], -1);
    ASSERT_EQ_INT(n->loop_modes[3], SHELF_LOOP_ALTERNATING);
    ASSERT_EQ_INT(n->loops[10], 12);
    shelf_notes_free(n);
    n = parse("shelf-notes 1\nsample a\nloop 0 10 100\n");
    ASSERT_EQ_INT(n->loop_modes[0], 0);
    shelf_notes_free(n);
    make_loop_set(dir, paths);
    n = parse("shelf-notes 1\nsample a\nloop 0 100 200\nnote 0 0\n");
    ASSERT_RC(SHELF_EINVAL, shelf_notes_render(n, pp, &o, 128, &pcm, &fr, NULL, &msg));
    ASSERT(msg && strstr(msg, "needs a len"));
    shelf_free(msg);
    shelf_notes_free(n);
    ASSERT_OK(shelf_stream_new(&o, &s, NULL));
    ASSERT_OK(shelf_stream_add(s, paths[0], &id));
    ASSERT_RC(SHELF_EINVAL, shelf_stream_set_loop(s, id, 10, 10, 0));
    ASSERT_RC(SHELF_EINVAL, shelf_stream_set_loop(s, id, 0, 48000 * 3 + 1, 0));
    ASSERT_RC(SHELF_ENOTFOUND, shelf_stream_set_loop(s, 5, 0, 10, 0));
    ASSERT_RC(SHELF_EINVAL, shelf_stream_set_loop(s, id, 100, 48000, 101));
    ASSERT_OK(shelf_stream_set_loop(s, id, 100, 48000, 100));
    ASSERT_OK(shelf_stream_set_loop(s, id, 0, 48000 * 3, 0));
    ASSERT_OK(shelf_stream_set_loop(s, id, 0, 0, 0));
    shelf_stream_free(s);
}

/* ---- loop modes ------------------------------------------------------------- */

#define RAMP_FRAMES 120000
#define RAMP_UNIT (1.0f / 1048576.0f) /* frame i holds i / 2^20, exact in a float */

/* A mono 48 kHz float WAV whose frame i holds i * RAMP_UNIT: each output
 * frame of a voice at pitch 1 or 2 and gain 1 (no interpolation, no
 * rounding) tells the source frame it played. */
static void make_ramp_of(const char *path, int64_t frames)
{
    SF_INFO info;
    SNDFILE *sf;
    float *buf = malloc((size_t)frames * sizeof *buf);
    int64_t i;

    ASSERT(buf);
    for (i = 0; i < frames; i++)
        buf[i] = (float)i * RAMP_UNIT;
    memset(&info, 0, sizeof info);
    info.samplerate = 48000;
    info.channels = 1;
    info.format = SF_FORMAT_WAV | SF_FORMAT_FLOAT;
    ASSERT((sf = sf_open(path, SFM_WRITE, &info)) != NULL);
    sf_command(sf, SFC_SET_ADD_PEAK_CHUNK, NULL, SF_FALSE);
    ASSERT_EQ_INT(sf_writef_float(sf, buf, frames), frames);
    ASSERT_EQ_INT(sf_close(sf), 0);
    free(buf);
}

static void make_ramp(const char *path)
{
    make_ramp_of(path, RAMP_FRAMES);
}

/* One frame further along a held voice's walk through the loop [ls, le),
 * one frame at a time, as doc/streaming.md says: forward until le - 1;
 * there a forward loop jumps to ls; a backward loop turns and walks down
 * to ls, then jumps back to le - 1; an alternating loop turns at le - 1
 * and at ls, and plays neither turning frame twice. */
static void walk_one(int mode, int64_t ls, int64_t le, int64_t *x, int *dir)
{
    if (*dir > 0 && *x < le - 1) {
        (*x)++;
        return;
    }
    switch (mode) {
    case SHELF_LOOP_FORWARD:
        *x = ls;
        break;
    case SHELF_LOOP_BACKWARD:
        *dir = -1;
        *x = *x == ls ? le - 1 : *x - 1;
        break;
    default:
        if (*dir > 0)
            *dir = -1;   /* at le - 1 */
        else if (*x == ls)
            *dir = 1;
        *x += *dir;
        break;
    }
}

/* What a voice plays at forward position p of the ramp (after its
 * release): p itself, the last frame held, 0 once past the end. */
static float ramp_at(double p)
{
    int64_t i = (int64_t)p;

    if (i >= RAMP_FRAMES)
        return 0.0f;
    return (float)(i == RAMP_FRAMES - 1 ? (double)i : p) * RAMP_UNIT;
}

/* What a held voice plays at walk frame x moving in dir, or halfway
 * (half) from x to y, the next frame in play order (the engine's float
 * arithmetic).  A backward loop's crossfade of xf frames: over the last xf
 * frames before its jump (ls + xf - 1 down to ls, moving down), frame x
 * mixes with x + (le - ls), with weight (ls + xf - 1 - x) / xf. */
static float held_at(int64_t ls, int64_t le, int64_t xf, int64_t x, int dir, int64_t y, int half)
{
    float fa = (float)x * RAMP_UNIT, fb = (float)y * RAMP_UNIT;
    float l = half ? fa + (fb - fa) * 0.5f : fa;

    if (xf && dir < 0 && x <= ls + xf - 1) {
        float pa = (float)(x + le - ls) * RAMP_UNIT, pb = (float)(x - 1 + le - ls) * RAMP_UNIT;
        float l2 = half ? pa + (pb - pa) * 0.5f : pa;
        float w = (float)(ls + xf - 1 - x) / (float)xf;
        l = l * (1.0f - w) + l2 * w;
    }
    return l;
}

/* The n output frames of a note of the ramp at offset, pitch k (1 or 2;
 * 0 for 1/2), released at output frame rel (play out, no fade), in a loop
 * [ls, le) of mode (a backward one crossfaded over xf frames).  Held:
 * every k-th frame of the walk, or at pitch 1/2 each frame of the walk and
 * then halfway to the next one in play order (linear interpolation, the
 * engine's float arithmetic).  From rel on: forward from where it is, at
 * the same step; halfway between two frames it is at the point between
 * them, in a backward loop's jump at its start (a forward loop folds its
 * position back only once it passes the end, so it is past e - 1). */
static void expect_walk(int mode, int64_t ls, int64_t le, int64_t xf, int64_t offset, int k,
                        int64_t rel, int64_t n, float *want)
{
    int64_t x = offset, y, t;
    int dir = 1, ydir, j;
    double p = -1, step = k ? k : 0.5;

    for (t = 0; t < n; t++) {
        if (t == rel) {
            p = (double)x;
            if (!k && t % 2) {
                y = x;
                ydir = dir;
                walk_one(mode, ls, le, &y, &ydir);
                p = mode == SHELF_LOOP_FORWARD || y == x + 1 ? (double)x + 0.5
                    : y == x - 1                             ? (double)x - 0.5
                                                             : (double)x;
            }
        }
        if (p >= 0) {
            want[t] = ramp_at(p);
            p += step;
        } else if (k) {
            want[t] = held_at(ls, le, xf, x, dir, x, 0);
            for (j = 0; j < k; j++)
                walk_one(mode, ls, le, &x, &dir);
        } else if (t % 2 == 0) {
            want[t] = held_at(ls, le, xf, x, dir, x, 0);
        } else {
            int dx = dir;
            y = x;
            walk_one(mode, ls, le, &x, &dir);
            want[t] = held_at(ls, le, xf, y, dx, x, 1);
        }
    }
}

/* Every mode plays its frames in the documented order: a ramp tells the
 * source frame of each output frame, streamed and from RAM, against the
 * walk computed frame by frame (loops across chunks, tiny loops, a start
 * inside the loop, releases while moving backward, pitch 2, and pitch 1/2
 * for the interpolation between frames in play order). */
TEST(loop_modes_order)
{
    static const struct {
        int64_t ls, le, offset;
        int pitch;                         /* 0: 1/2 */
        int64_t len;
    } cases[] = {
        { 20000, 20100, 19950, 1, 5003 },  /* short, many turns */
        { 30000, 45000, 29000, 2, 40001 }, /* across chunks, both ways */
        { 30000, 45000, 29000, 1, 31017 }, /* released moving backward */
        { 50000, 50003, 50001, 1, 1000 },  /* starts inside a 3-frame loop */
        { 60000, 60002, 59990, 2, 777 },   /* 2 frames at pitch 2 */
        { 0, 119999, 0, 1, 130000 },       /* the whole sample but the last frame */
        { 20000, 20100, 19950, 0, 5003 },  /* pitch 1/2: between frames ... */
        { 30000, 45000, 44990, 0, 20001 }, /* ... across chunks, released halfway */
        { 50000, 50003, 50001, 0, 7 },     /* released in a jump or at a turn */
    };
    static const char *const names[] = { "", "forward", "backward", "alternating" };
    const char *dir = test_tmpdir();
    char path[PATH_MAX], text[512];
    const char *pp[1] = { path };
    size_t c;
    int mode, ram;

    make_ramp(test_pathf(path, sizeof path, "%s/ramp.wav", dir));
    for (c = 0; c < sizeof cases / sizeof *cases; c++) {
        for (mode = SHELF_LOOP_FORWARD; mode <= SHELF_LOOP_ALTERNATING; mode++) {
            shelf_notes *n;
            int64_t fr, t;
            float *pcm, *want;

            snprintf(text, sizeof text,
                     "shelf-notes 1\nsample ramp.wav\nloop 0 %lld %lld mode=%s\n"
                     "note 0 0 offset=%lld pitch=%s len=%lld release=0\n",
                     (long long)cases[c].ls, (long long)cases[c].le, names[mode],
                     (long long)cases[c].offset,
                     cases[c].pitch == 2 ? "2" : cases[c].pitch ? "1" : "0.5",
                     (long long)cases[c].len);
            n = parse(text);
            for (ram = 0; ram < 2; ram++) {
                shelf_stream_stats st;
                pcm = render(n, pp,
                             small_opts(ram ? SHELF_STREAM_RAM
                                            : SHELF_STREAM_NO_URING | SHELF_STREAM_NO_DIRECT),
                             &fr, &st);
                ASSERT(fr > cases[c].len);
                ASSERT((want = malloc((size_t)fr * sizeof *want)) != NULL);
                expect_walk(mode, cases[c].ls, cases[c].le, 0, cases[c].offset, cases[c].pitch,
                            cases[c].len, fr, want);
                for (t = 0; t < fr; t++) {
                    if (pcm[2 * t] != want[t] || pcm[2 * t + 1] != want[t])
                        test__fail(__FILE__, __LINE__,
                                   "case %zu %s %s: output frame %lld plays source frame %.2f, "
                                   "want %.2f", c, names[mode], ram ? "ram" : "streamed",
                                   (long long)t, pcm[2 * t] / RAMP_UNIT, want[t] / RAMP_UNIT);
                }
                ASSERT(st.loop_wraps > 0);
                ASSERT_EQ_INT(st.underruns + st.not_ready + st.chunks_lost, 0);
                free(want);
                free(pcm);
            }
            shelf_notes_free(n);
        }
    }
}

/* A backward loop's crossfade, frame by frame on the ramp, streamed and
 * from RAM: over the last F frames before each jump the loop fades into
 * the F frames after its end walked down (held_at), at pitches 1, 2 and
 * 1/2, across chunks, over the whole loop, in a 3-frame loop, released
 * inside the crossfade (forward from there, unmixed). */
TEST(loop_backward_xfade_order)
{
    static const struct {
        int64_t ls, le, xf, offset;
        int pitch;                          /* 0: 1/2 */
        int64_t len;
    } cases[] = {
        { 20000, 20100, 30, 19950, 1, 5003 },
        { 30000, 45000, 5000, 29000, 2, 40001 },   /* the after-end frames across chunks */
        { 30000, 45000, 15000, 44990, 0, 20001 },  /* the whole loop, between frames */
        { 50000, 50003, 3, 50001, 1, 1000 },
        { 30000, 45000, 9000, 29000, 1, 25000 },   /* released inside the crossfade */
        { 60000, 60400, 200, 60000, 0, 3001 },     /* released halfway */
    };
    const char *dir = test_tmpdir();
    char path[PATH_MAX], text[512];
    const char *pp[1] = { path };
    size_t c;
    int ram;

    make_ramp(test_pathf(path, sizeof path, "%s/ramp.wav", dir));
    for (c = 0; c < sizeof cases / sizeof *cases; c++) {
        shelf_notes *n;
        snprintf(text, sizeof text,
                 "shelf-notes 1\nsample ramp.wav\nloop 0 %lld %lld mode=backward xfade=%lld\n"
                 "note 0 0 offset=%lld pitch=%s len=%lld release=0\n",
                 (long long)cases[c].ls, (long long)cases[c].le, (long long)cases[c].xf,
                 (long long)cases[c].offset,
                 cases[c].pitch == 2 ? "2" : cases[c].pitch ? "1" : "0.5", (long long)cases[c].len);
        n = parse(text);
        for (ram = 0; ram < 2; ram++) {
            shelf_stream_stats st;
            int64_t fr, t, mixed = 0;
            float *pcm, *want, *plain;
            pcm = render(n, pp,
                         small_opts(ram ? SHELF_STREAM_RAM
                                        : SHELF_STREAM_NO_URING | SHELF_STREAM_NO_DIRECT),
                         &fr, &st);
            ASSERT((want = malloc((size_t)fr * sizeof *want)) != NULL);
            ASSERT((plain = malloc((size_t)fr * sizeof *plain)) != NULL);
            expect_walk(SHELF_LOOP_BACKWARD, cases[c].ls, cases[c].le, cases[c].xf,
                        cases[c].offset, cases[c].pitch, cases[c].len, fr, want);
            expect_walk(SHELF_LOOP_BACKWARD, cases[c].ls, cases[c].le, 0, cases[c].offset,
                        cases[c].pitch, cases[c].len, fr, plain);
            for (t = 0; t < fr; t++) {
                if (pcm[2 * t] != want[t] || pcm[2 * t + 1] != want[t])
                    test__fail(__FILE__, __LINE__,
                               "case %zu %s: output frame %lld is %.4f, want %.4f (source frames)",
                               c, ram ? "ram" : "streamed", (long long)t, pcm[2 * t] / RAMP_UNIT,
                               want[t] / RAMP_UNIT);
                mixed += want[t] != plain[t];
            }
            ASSERT(mixed > 0);              /* the crossfade was heard */
            ASSERT(st.loop_wraps > 0);
            ASSERT_EQ_INT(st.underruns + st.not_ready + st.chunks_lost, 0);
            free(want);
            free(plain);
            free(pcm);
        }
        shelf_notes_free(n);
    }
}

/*
 * A backward or alternating loop longer than loop_ram_max streams its
 * walk: RAM holds only its turns, the scheduler reads down a descending
 * lap, and a release leaves the walk forward from where the voice is.  On
 * the ramp, with a bound of 64 KiB (the loops are 320 kB), every output
 * frame plays the source frame of the walk computed one frame at a time
 * (expect_walk), streamed and from RAM; the streamed render reads while
 * the voice is held in the loop (more than the same render with the whole
 * loop in RAM), holds less, and never underruns.
 */
TEST(loop_walk_streamed)
{
    static const struct {
        int mode;
        int64_t ls, le, xf, offset;
        int pitch;                                  /* 0: 1/2 */
        int64_t len;
    } cases[] = {
        { SHELF_LOOP_BACKWARD, 20000, 100000, 0, 19000, 1, 200000 },     /* two jumps */
        { SHELF_LOOP_ALTERNATING, 20000, 100000, 0, 19000, 1, 200000 },  /* up again */
        { SHELF_LOOP_BACKWARD, 20000, 100000, 0, 99000, 2, 150000 },
        { SHELF_LOOP_ALTERNATING, 20000, 100000, 0, 99000, 2, 150000 },
        { SHELF_LOOP_BACKWARD, 20000, 100000, 0, 90000, 1, 60000 },      /* released going down */
        { SHELF_LOOP_ALTERNATING, 20000, 100000, 0, 90000, 1, 120000 },  /* ... going up */
        { SHELF_LOOP_BACKWARD, 20000, 100000, 0, 30000, 0, 170001 },     /* 1/2, halfway */
        { SHELF_LOOP_ALTERNATING, 20000, 100000, 0, 30000, 0, 170001 },
        { SHELF_LOOP_BACKWARD, 20000, 100000, 5000, 19000, 1, 200000 },  /* crossfaded jumps */
        { SHELF_LOOP_BACKWARD, 4000, 116000, 3000, 115000, 2, 90001 },   /* head to end */
    };
    static const char *const names[] = { "", "forward", "backward", "alternating" };
    const char *dir = test_tmpdir();
    char path[PATH_MAX], text[512], xfade[32];
    const char *pp[1] = { path };
    size_t c;

    make_ramp(test_pathf(path, sizeof path, "%s/ramp ⇄ walk.wav", dir));
    for (c = 0; c < sizeof cases / sizeof *cases; c++) {
        shelf_stream_stats st[3];
        float *pcm[3], *want;
        int64_t fr[3], t;
        shelf_notes *n;
        int r;

        snprintf(xfade, sizeof xfade, " xfade=%lld", (long long)cases[c].xf);
        snprintf(text, sizeof text,
                 "shelf-notes 1\nsample x\nloop 0 %lld %lld mode=%s%s\n"
                 "note 0 0 offset=%lld pitch=%s len=%lld release=0\n",
                 (long long)cases[c].ls, (long long)cases[c].le, names[cases[c].mode],
                 cases[c].xf ? xfade : "", (long long)cases[c].offset,
                 cases[c].pitch == 2 ? "2" : cases[c].pitch ? "1" : "0.5",
                 (long long)cases[c].len);
        n = parse(text);
        /* 0: streamed walk; 1: the whole loop held; 2: from RAM */
        for (r = 0; r < 3; r++) {
            shelf_stream_opts o = small_opts(r == 2 ? SHELF_STREAM_RAM
                                                    : SHELF_STREAM_NO_URING | SHELF_STREAM_NO_DIRECT);
            /* A cache of 10 chunks: the walk reads again what it passed. */
            o.loop_ram_max = r == 1 ? 1u << 20 : 64u << 10;
            o.cache_bytes = r == 1 ? 4u << 20 : 160u << 10;
            pcm[r] = render(n, pp, o, &fr[r], &st[r]);
            ASSERT_EQ_INT(st[r].underruns + st[r].not_ready + st[r].chunks_lost, 0);
            ASSERT(st[r].loop_wraps > 0);
        }
        printf("    case %zu %s: %llu reads streaming the walk, %llu with the loop held, "
               "%llu turns\n", c, names[cases[c].mode], (unsigned long long)st[0].reads,
               (unsigned long long)st[1].reads, (unsigned long long)st[0].loop_wraps);
        /* every chunk of every lap walked (the way in, which both read, aside) */
        ASSERT(st[0].reads >= st[1].reads + (uint64_t)(st[0].loop_wraps * 8));
        ASSERT_EQ_INT(st[0].loop_wraps, st[2].loop_wraps);
        ASSERT_EQ_INT(fr[0], fr[2]);
        ASSERT(fr[0] > cases[c].len);
        ASSERT(memcmp(pcm[0], pcm[2], (size_t)fr[0] * 2 * sizeof(float)) == 0);
        ASSERT(memcmp(pcm[0], pcm[1], (size_t)fr[0] * 2 * sizeof(float)) == 0);
        ASSERT((want = malloc((size_t)fr[0] * sizeof *want)) != NULL);
        expect_walk(cases[c].mode, cases[c].ls, cases[c].le, cases[c].xf, cases[c].offset,
                    cases[c].pitch, cases[c].len, fr[0], want);
        for (t = 0; t < fr[0]; t++)
            if (pcm[0][2 * t] != want[t] || pcm[0][2 * t + 1] != want[t])
                test__fail(__FILE__, __LINE__,
                           "case %zu %s: output frame %lld plays source frame %.2f, want %.2f", c,
                           names[cases[c].mode], (long long)t, pcm[0][2 * t] / RAMP_UNIT,
                           want[t] / RAMP_UNIT);
        free(want);
        for (r = 0; r < 3; r++)
            free(pcm[r]);
        shelf_notes_free(n);
    }
}

/* Backward and alternating loops on the three-file set: held and released
 * notes (pitches up and down, fades and play-outs, a start inside a loop,
 * a note after a loop, a loop shorter than a block, loops across chunks,
 * backward loops crossfaded, one over its whole length) render byte for
 * byte the same streamed and from RAM, and otherwise than the same loops
 * forward. */
static const char loop_modes_script[] =
    "shelf-notes 1\n"
    "rate 48000\n"
    "sample a\n"
    "sample b\n"
    "sample c\n"
    "loop 0 20000 100000 mode=%s\n"
    "loop 1 30000 70000 mode=%s\n"
    "loop 2 10000 10100 mode=%s\n"
    "note 0 0 len=300000 release=4000\n"
    "note 500 1 pitch=1.5 gain=0.5 len=200000 release=20000\n"
    "note 1000 2 pitch=0.75 len=150000\n"
    "note 3000 0 offset=25000 pitch=1.2599 gain=0.25 len=250000 release=30000 prio=2\n"
    "note 5000 0 offset=60000 pitch=0.8 len=123457 release=0\n"
    "note 7000 0 offset=110000 len=20000\n"
    "note 9000 1 pitch=0.5 len=120000 release=1000\n"
    "note 12000 2 pitch=1.5 len=60000 release=0\n";

static float *render_modes(const char *m0, const char *m1, const char *m2, const char *const *pp,
                           int flags, int64_t *fr, shelf_stream_stats *st)
{
    char text[2048];
    shelf_notes *n;
    float *pcm;

    snprintf(text, sizeof text, loop_modes_script, m0, m1, m2);
    n = parse(text);
    pcm = render(n, pp, small_opts(flags), fr, st);
    shelf_notes_free(n);
    return pcm;
}

TEST(loop_modes_bitexact)
{
    static const char *const modes[][3] = {
        { "backward", "alternating", "backward" },
        { "alternating", "backward", "alternating" },
        { "backward xfade=3000", "backward xfade=18000", "backward xfade=100" },
    };
    const char *dir = test_tmpdir();
    char paths[3][PATH_MAX];
    const char *pp[3] = { paths[0], paths[1], paths[2] };
    shelf_stream_stats st_ram, st_disk, st_fwd;
    int64_t fr_ram, fr_disk, fr_fwd, i;
    float *ram, *disk, *fwd;
    size_t m;

    make_loop_set(dir, paths);
    fwd = render_modes("forward", "forward", "forward", pp, SHELF_STREAM_RAM, &fr_fwd, &st_fwd);
    for (m = 0; m < sizeof modes / sizeof *modes; m++) {
        ram = render_modes(modes[m][0], modes[m][1], modes[m][2], pp, SHELF_STREAM_RAM, &fr_ram,
                           &st_ram);
        disk = render_modes(modes[m][0], modes[m][1], modes[m][2], pp,
                            SHELF_STREAM_NO_URING | SHELF_STREAM_NO_DIRECT, &fr_disk, &st_disk);
        ASSERT_EQ_INT(fr_ram, fr_disk);
        ASSERT_EQ_INT(fr_ram, fr_fwd);
        ASSERT(nonzero(ram, 2 * fr_ram) > fr_ram);
        if (memcmp(ram, disk, (size_t)fr_ram * 2 * sizeof *ram) != 0) {
            for (i = 0; i < 2 * fr_ram && ram[i] == disk[i]; i++)
                ;
            test__fail(__FILE__, __LINE__, "%s/%s: sample %lld differs: %.9g != %.9g",
                       modes[m][0], modes[m][1], (long long)i, ram[i], disk[i]);
        }
        printf("    %s/%s/%s: %llu turns, %llu reads, %llu loop look-ups from RAM\n",
               modes[m][0], modes[m][1], modes[m][2], (unsigned long long)st_disk.loop_wraps,
               (unsigned long long)st_disk.reads, (unsigned long long)st_disk.loop_ram);
        ASSERT(st_ram.loop_wraps >= 8);
        ASSERT_EQ_INT(st_disk.loop_wraps, st_ram.loop_wraps);
        ASSERT(st_disk.loop_ram > 0);
        ASSERT(st_disk.reads > 20);
        ASSERT_EQ_INT(st_disk.underruns, 0);
        ASSERT_EQ_INT(st_disk.not_ready, 0);
        ASSERT_EQ_INT(st_disk.chunks_lost, 0);
        /* The held loops are heard after the samples' own lengths. */
        ASSERT(nonzero(ram + 2 * 200000, 2 * 50000) > 50000);
        /* Until the first loop's end the modes agree; then they differ. */
        ASSERT(memcmp(fwd, ram, 2 * 10000 * sizeof *ram) == 0);
        ASSERT(memcmp(fwd, ram, (size_t)fr_ram * 2 * sizeof *ram) != 0);
        free(ram);
        free(disk);
    }
    free(fwd);
}

/* 1 when the mix's vector kernel can run here (mix.c). */
static int have_avx2(void)
{
#if defined(__x86_64__)
    return __builtin_cpu_supports("avx2") != 0;
#else
    return 0;
#endif
}

/* The mix's kernels (mix.c) give the same bits, output, last frame and
 * position, for every channel count, pitch (none, tiny, an octave each
 * way, far up), gain, run length and output already there; the vector one
 * is picked where the processor has AVX2. */
TEST(mix_kernels_bitexact)
{
    enum { CF = 4096, MAXM = 300 };
    static const int chans[] = { 1, 2, 3, 6 };
    uint64_t x = 12345;
    shelf__mix_fn fast = shelf__mix_pick(1);
    int simd = fast != shelf__mix_run_c, c, t, runs = 0;
    float *src = malloc(sizeof(float) * CF * 6), *o1 = malloc(sizeof(float) * 2 * MAXM),
          *o2 = malloc(sizeof(float) * 2 * MAXM);

    ASSERT(src && o1 && o2);
    ASSERT_EQ_INT(simd, have_avx2());
    ASSERT(shelf__mix_pick(0) == shelf__mix_run_c);
    for (t = 0; t < CF * 6; t++) {
        x = x * 6364136223846793005u + 1442695040888963407u;
        /* values of every size, both signs, now and then a zero */
        src[t] = (x >> 60) == 0 ? 0.0f : ldexpf((float)(int32_t)(x >> 32) / 2147483648.0f, (int)((x >> 20) % 24) - 12);
    }
    for (c = 0; c < 4; c++) {
        int ch = chans[c];
        for (t = 0; t < 4000; t++) {
            static const uint64_t steps[] = { 0, 1, 0x100000000u, 0x80000000u, 0x1ffffffffu, 0x2a0000001u };
            int64_t cstart = (int64_t)(t % 7) * CF;
            uint64_t step, pos, r1, r2, span;
            float g, l1[2], l2[2];
            uint32_t m;
            int k;

            x = x * 6364136223846793005u + 1442695040888963407u;
            step = t % 3 ? (x >> 30) % ((uint64_t)4 << 32) : steps[(x >> 40) % 6];
            m = 1 + (uint32_t)((x >> 8) % MAXM);
            g = (float)((x >> 16) % 1000) / 997.0f;
            /* every frame the run steps on, and the one after, in the chunk */
            span = step * (m - 1) + (1ull << 32);
            if (span >> 32 >= CF - 1)
                continue;
            pos = ((uint64_t)cstart << 32) + (x >> 3) % ((((uint64_t)CF - 1) << 32) - span);
            for (k = 0; k < 2 * MAXM; k++)
                o1[k] = o2[k] = src[(k * 7 + t) % (CF * ch)];
            r1 = shelf__mix_run_c(src, cstart, ch, pos, step, g, m, o1, l1);
            r2 = fast(src, cstart, ch, pos, step, g, m, o2, l2);
            ASSERT_EQ_INT(r1, r2);
            ASSERT_EQ_INT(r1, pos + step * m);
            if (memcmp(o1, o2, sizeof(float) * 2 * MAXM) != 0 || memcmp(l1, l2, sizeof l1) != 0)
                test__fail(__FILE__, __LINE__, "%d channels, step %#llx, %u frames: the kernels differ", ch,
                           (unsigned long long)step, m);
            runs++;
        }
    }
    printf("    %d runs the same from both kernels (vector: %s)\n", runs, simd ? "AVX2" : "none here");
    ASSERT(runs > 8000);
    free(src);
    free(o1);
    free(o2);
}

/* Renders with runs (mix_run) and with every frame through the general
 * loop are the same bit for bit: plain notes at many pitches, releases,
 * streamed and from RAM, forward loops with a crossfade, backward and
 * alternating ones; and the runs did most of the mixing. */
static void same_pcm(const float *a, const float *b, int64_t frames, const char *what)
{
    int64_t i;

    if (memcmp(a, b, (size_t)frames * 2 * sizeof *a) == 0)
        return;
    for (i = 0; i < 2 * frames && a[i] == b[i]; i++)
        ;
    test__fail(__FILE__, __LINE__, "%s: sample %lld differs: %.9g != %.9g", what, (long long)i, a[i], b[i]);
}

TEST(mix_runs_bitexact)
{
    const char *dir = test_tmpdir(), *ldir = test_tmpdir();
    char paths[3][PATH_MAX], lpaths[3][PATH_MAX];
    const char *pp[3] = { paths[0], paths[1], paths[2] }, *lpp[3] = { lpaths[0], lpaths[1], lpaths[2] };
    shelf_notes *n = parse(script), *ln = parse(loop_script);
    shelf_stream_stats on, off, disk;
    int64_t fr_on, fr_off, fr_disk;
    float *a, *b, *c;

    make_set(dir, paths);
    make_loop_set(ldir, lpaths);
    a = render(n, pp, small_opts(SHELF_STREAM_RAM), &fr_on, &on);
    shelf__stream_mix_runs = 0;
    b = render(n, pp, small_opts(SHELF_STREAM_RAM), &fr_off, &off);
    shelf__stream_mix_runs = 1;
    c = render(n, pp, small_opts(SHELF_STREAM_NO_URING | SHELF_STREAM_NO_DIRECT), &fr_disk, &disk);
    ASSERT_EQ_INT(fr_on, fr_off);
    ASSERT_EQ_INT(fr_on, fr_disk);
    same_pcm(a, b, fr_on, "runs against frames");
    same_pcm(a, c, fr_on, "RAM against streamed");
    printf("    %llu of %llu frames mixed in runs\n", (unsigned long long)on.mix_run_frames,
           (unsigned long long)on.mix_frames);
    ASSERT_EQ_INT(on.mix_frames, off.mix_frames);
    ASSERT(on.mix_run_frames > on.mix_frames * 9 / 10);
    ASSERT(disk.mix_run_frames > disk.mix_frames * 9 / 10);
    ASSERT_EQ_INT(off.mix_run_frames, 0);
    ASSERT_EQ_INT(disk.underruns, 0);
    free(b);
    free(c);
    /* the plain C kernel against the vector one (where there is one) */
    b = render(n, pp, small_opts(SHELF_STREAM_RAM | SHELF_STREAM_NO_SIMD), &fr_off, &off);
    ASSERT_EQ_INT(fr_on, fr_off);
    same_pcm(a, b, fr_on, "vector kernel against plain C");
    printf("    %llu of %llu frames in runs by the vector kernel\n", (unsigned long long)on.mix_simd_frames,
           (unsigned long long)on.mix_run_frames);
    ASSERT_EQ_INT(off.mix_simd_frames, 0);
    ASSERT_EQ_INT(off.mix_run_frames, on.mix_run_frames);
    ASSERT_EQ_INT(on.mix_simd_frames, have_avx2() ? on.mix_run_frames : 0);
    free(a);
    free(b);

    /* loops: forward with a crossfade, then backward and alternating */
    a = render(ln, lpp, small_opts(SHELF_STREAM_RAM), &fr_on, &on);
    shelf__stream_mix_runs = 0;
    b = render(ln, lpp, small_opts(SHELF_STREAM_RAM), &fr_off, &off);
    shelf__stream_mix_runs = 1;
    ASSERT_EQ_INT(fr_on, fr_off);
    same_pcm(a, b, fr_on, "forward loops");
    ASSERT(on.loop_wraps >= 8);
    ASSERT(on.mix_run_frames > on.mix_frames / 2);
    free(a);
    free(b);
    a = render_modes("backward", "alternating", "backward xfade=100", lpp, SHELF_STREAM_RAM, &fr_on, &on);
    shelf__stream_mix_runs = 0;
    b = render_modes("backward", "alternating", "backward xfade=100", lpp, SHELF_STREAM_RAM, &fr_off, &off);
    shelf__stream_mix_runs = 1;
    ASSERT_EQ_INT(fr_on, fr_off);
    same_pcm(a, b, fr_on, "backward and alternating loops");
    ASSERT(on.loop_wraps >= 8);
    ASSERT(on.mix_run_frames > 0);
    free(a);
    free(b);
    shelf_notes_free(n);
    shelf_notes_free(ln);
}

/* "loop SAMPLE file" plays a file's backward and alternating loops as the
 * same points written with their mode (a backward one crossfaded too);
 * mode= overrides the file's; a crossfade on a file's alternating loop is
 * refused in one line naming it. */
TEST(loop_modes_from_the_file)
{
    static const char head[] = "shelf-notes 1\nrate 48000\nsample a\nsample b\n";
    static const char notes[] =
        "note 0 0 len=300000 release=4000\n"
        "note 500 1 pitch=1.5 gain=0.5 len=200000 release=20000\n"
        "note 9000 1 pitch=0.5 len=120000 release=0\n"
        "note 9000 0 offset=60000 pitch=0.75 len=100000 release=0\n";
    static const char *const loops[][2] = {
        { "loop 0 20000 100000 mode=backward\nloop 1 30000 70000 mode=alternating\n",
          "loop 0 file\nloop 1 file\n" },
        { "loop 0 20000 100000 mode=alternating\nloop 1 30000 70000\n",
          "loop 0 file mode=alternating\nloop 1 file mode=forward xfade=0\n" },
        /* A file's backward loop takes a crossfade as the same points do. */
        { "loop 0 20000 100000 mode=backward xfade=3000\nloop 1 30000 70000 mode=alternating\n",
          "loop 0 file xfade=3000\nloop 1 file\n" },
    };
    const char *dir = test_tmpdir();
    char paths[3][PATH_MAX], text[1024], *msg = NULL;
    const char *pp[3] = { paths[0], paths[1], paths[2] };
    shelf_stream_opts od = small_opts(SHELF_STREAM_NO_URING | SHELF_STREAM_NO_DIRECT);
    shelf_stream_opts oram = small_opts(SHELF_STREAM_RAM);
    shelf_stream_stats st1, st2;
    shelf_notes *given, *own;
    int64_t f1, f2;
    float *a, *b, *pcm = NULL;
    size_t i;

    make_loop_set(dir, paths);
    set_file_loop(paths[0], 20000, 100000, SF_LOOP_BACKWARD);
    set_file_loop(paths[1], 30000, 70000, SF_LOOP_ALTERNATING);
    for (i = 0; i < sizeof loops / sizeof *loops; i++) {
        snprintf(text, sizeof text, "%s%s%s", head, loops[i][0], notes);
        given = parse(text);
        snprintf(text, sizeof text, "%s%s%s", head, loops[i][1], notes);
        own = parse(text);
        ASSERT_EQ_INT(own->loops[0], -1);
        ASSERT_EQ_INT(own->loop_modes[0], i == 1 ? SHELF_LOOP_ALTERNATING : 0);
        ASSERT_EQ_INT(given->loop_modes[0], i == 1 ? SHELF_LOOP_ALTERNATING : SHELF_LOOP_BACKWARD);
        a = render(given, pp, od, &f1, &st1);
        b = render(own, pp, od, &f2, &st2);
        ASSERT_EQ_INT(f1, f2);
        ASSERT(st2.loop_wraps >= 4);
        ASSERT_EQ_INT(st1.loop_wraps, st2.loop_wraps);
        ASSERT(memcmp(a, b, (size_t)f1 * 2 * sizeof *a) == 0);
        free(b);
        b = render(own, pp, oram, &f2, &st2);
        ASSERT_EQ_INT(f1, f2);
        ASSERT(memcmp(a, b, (size_t)f1 * 2 * sizeof *a) == 0);
        free(a);
        free(b);
        shelf_notes_free(given);
        shelf_notes_free(own);
    }
    /* A crossfade needs a forward or backward loop. */
    snprintf(text, sizeof text, "%sloop 1 file xfade=100\nnote 0 1 len=1000\n", head);
    own = parse(text);
    ASSERT_RC(SHELF_EINVAL, shelf_notes_render(own, pp, &oram, 128, &pcm, &f1, NULL, &msg));
    ASSERT(msg && strstr(msg, "sample 1") && strstr(msg, "ループ 16.wav") &&
           strstr(msg, "plays alternating") && strstr(msg, "no crossfade") && !strchr(msg, '\n'));
    ASSERT(pcm == NULL);
    shelf_free(msg);
    shelf_notes_free(own);
}

/* A held backward or alternating loop plays from RAM: once the voice is
 * in it, no disk read happens, however many turns it plays (nor for a
 * backward loop's crossfade); the release reads the sample's tail. */
TEST(loop_modes_no_reads)
{
    const char *dir = test_tmpdir();
    char paths[3][PATH_MAX];
    shelf_stream_opts o = small_opts(SHELF_STREAM_OFFLINE | SHELF_STREAM_NO_URING |
                                     SHELF_STREAM_NO_DIRECT);
    shelf_stream_loop_opts lo;
    shelf_stream_stats st, st0;
    float *buf = malloc(2 * 128 * sizeof *buf);
    int mode, id, v, blocks, off;

    ASSERT(buf);
    make_loop_set(dir, paths);
    for (mode = SHELF_LOOP_BACKWARD; mode <= SHELF_LOOP_ALTERNATING; mode++) {
        for (off = 0; off < 2; off++) {
            shelf_stream *s;
            ASSERT_OK(shelf_stream_new(&o, &s, NULL));
            ASSERT_OK(shelf_stream_add(s, paths[0], &id));
            memset(&lo, 0, sizeof lo);
            lo.size = sizeof lo;
            lo.start = 60000;
            lo.end = 70000;
            lo.mode = mode;
            /* A backward crossfade's frames after the end are in RAM too. */
            lo.crossfade = mode == SHELF_LOOP_BACKWARD ? 5000 : 0;
            ASSERT_OKM(shelf_stream_errmsg(s), shelf_stream_set_loop_opts(s, id, &lo));
            /* Either inside the loop, or 40000 frames before it (streamed). */
            v = shelf_stream_voice_start(s, id, off ? 20000 : 60000, 1.0, 1.0f, 0);
            ASSERT(v >= 0);
            for (blocks = 0; blocks < 400; blocks++) {
                ASSERT_OK(shelf_stream_wait_ready(s, 128));
                ASSERT_EQ_INT(shelf_stream_render(s, 128, buf), 1);
            }
            st0.size = sizeof st0;
            shelf_stream_get_stats(s, &st0);
            ASSERT(nonzero(buf, 256) > 128);
            for (blocks = 0; blocks < 2000; blocks++) {
                ASSERT_OK(shelf_stream_wait_ready(s, 128));
                ASSERT_EQ_INT(shelf_stream_render(s, 128, buf), 1);
            }
            st.size = sizeof st;
            shelf_stream_get_stats(s, &st);
            printf("    %s from %d: %llu reads before the loop, %llu after; %llu turns, %llu "
                   "look-ups from RAM\n", mode == SHELF_LOOP_BACKWARD ? "backward" : "alternating",
                   off ? 20000 : 60000, (unsigned long long)st0.reads,
                   (unsigned long long)(st.reads - st0.reads), (unsigned long long)st.loop_wraps,
                   (unsigned long long)st.loop_ram);
            if (off)
                ASSERT(st0.reads >= 10);   /* the way to the loop streamed */
            else
                ASSERT_EQ_INT(st0.reads, 0);
            ASSERT_EQ_INT(st.reads, st0.reads);
            ASSERT_EQ_INT(st.cache_misses, st0.cache_misses);
            ASSERT(st.loop_wraps >= 25);
            ASSERT(st.loop_ram > st0.loop_ram);
            ASSERT_EQ_INT(st.underruns + st.not_ready, 0);
            /* Released: forward to the end, the tail read from disk. */
            shelf_stream_voice_release(s, v, SHELF_STREAM_PLAY_OUT);
            for (blocks = 0; blocks < 2000; blocks++) {
                ASSERT_OK(shelf_stream_wait_ready(s, 128));
                if (!shelf_stream_render(s, 128, buf))
                    break;
            }
            ASSERT(blocks < 2000);
            shelf_stream_get_stats(s, &st0);
            ASSERT(st0.reads >= st.reads + 20);
            ASSERT_EQ_INT(st0.underruns + st0.not_ready + st0.chunks_lost, 0);
            ASSERT_EQ_INT(st0.loop_wraps, st.loop_wraps);
            shelf_stream_free(s);
        }
    }
    free(buf);
}

/* A mono 16-bit WAV of frames frames of silence, sparse: only its header
 * takes room on the disk. */
static void make_sparse_wav(const char *path, uint32_t frames)
{
    unsigned char h[44];
    uint32_t len = frames * 2, v;
    int fd;

    memcpy(h, "RIFF", 4);
    v = 36 + len;
    memcpy(h + 4, &v, 4);
    memcpy(h + 8, "WAVEfmt ", 8);
    v = 16;
    memcpy(h + 16, &v, 4);
    memcpy(h + 20, "\x01\x00\x01\x00", 4);   /* PCM, mono */
    v = 48000;
    memcpy(h + 24, &v, 4);
    v = 96000;
    memcpy(h + 28, &v, 4);
    memcpy(h + 32, "\x02\x00\x10\x00", 4);   /* 2 bytes a frame, 16 bits */
    memcpy(h + 36, "data", 4);
    memcpy(h + 40, &len, 4);
    ASSERT((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) >= 0);
    ASSERT(write(fd, h, sizeof h) == (ssize_t)sizeof h);
    ASSERT(ftruncate(fd, (off_t)(sizeof h + len)) == 0);
    ASSERT(close(fd) == 0);
}

/* What the engine's loops hold in RAM now. */
static uint64_t loop_ram_bytes(shelf_stream *s)
{
    shelf_stream_stats st;

    memset(&st, 0, sizeof st);
    st.size = sizeof st;
    shelf_stream_get_stats(s, &st);
    return st.loop_ram_bytes;
}

/* shelf_stream_set_loop_opts: the size rule, modes, a backward loop's
 * crossfade (its frames after the loop's end) and none on an alternating
 * loop, 2 frames for alternating, and the RAM bound
 * (SHELF_STREAM_LOOP_RAM_MAX, exactly, the crossfade included). */
TEST(loop_modes_limits)
{
    const char *dir = test_tmpdir();
    char paths[3][PATH_MAX], big[PATH_MAX];
    shelf_stream_opts o = small_opts(SHELF_STREAM_OFFLINE);
    shelf_stream_loop_opts lo;
    shelf_stream *s;
    uint32_t most = (uint32_t)(SHELF_STREAM_LOOP_RAM_MAX / sizeof(float)); /* mono frames */
    uint64_t held[5];
    int id, idb;

    make_loop_set(dir, paths);
    make_sparse_wav(test_pathf(big, sizeof big, "%s/big.wav", dir), most + 10);
    ASSERT_OK(shelf_stream_new(&o, &s, NULL));
    ASSERT_OK(shelf_stream_add(s, paths[1], &id));
    ASSERT_OK(shelf_stream_add(s, big, &idb));
    memset(&lo, 0, sizeof lo);
    lo.size = sizeof lo;
    lo.start = 100;
    lo.end = 200;
    lo.mode = SHELF_LOOP_BACKWARD;
    TEST_OPTS_SIZE(shelf_stream_loop_opts, lo, sizeof lo, SHELF_OK,
                   shelf_stream_set_loop_opts(s, id, p_));
    ASSERT_RC(SHELF_EINVAL, shelf_stream_set_loop_opts(s, id, NULL));
    lo.crossfade = 100;                     /* the whole loop, more than its start */
    ASSERT_OK(shelf_stream_set_loop_opts(s, id, &lo));
    lo.crossfade = 101;
    ASSERT_RC(SHELF_EINVAL, shelf_stream_set_loop_opts(s, id, &lo));
    ASSERT(strstr(shelf_stream_errmsg(s), "longer than the loop"));
    /* A backward crossfade needs its frames after the loop's end. */
    lo.start = 44100 * 2 - 100;
    lo.end = 44100 * 2 - 10;
    lo.crossfade = 11;
    ASSERT_RC(SHELF_EINVAL, shelf_stream_set_loop_opts(s, id, &lo));
    ASSERT(strstr(shelf_stream_errmsg(s), "than the 10 frames after the loop's end"));
    lo.crossfade = 10;
    ASSERT_OK(shelf_stream_set_loop_opts(s, id, &lo));
    lo.start = 100;
    lo.end = 200;
    lo.mode = SHELF_LOOP_ALTERNATING;
    ASSERT_RC(SHELF_EINVAL, shelf_stream_set_loop_opts(s, id, &lo));
    ASSERT(strstr(shelf_stream_errmsg(s), "alternating loop takes no crossfade"));
    lo.mode = 0;   /* forward */
    ASSERT_OK(shelf_stream_set_loop_opts(s, id, &lo));
    lo.mode = 4;
    ASSERT_RC(SHELF_EINVAL, shelf_stream_set_loop_opts(s, id, &lo));
    ASSERT(strstr(shelf_stream_errmsg(s), "unknown loop mode 4"));
    lo.crossfade = 0;
    lo.mode = SHELF_LOOP_ALTERNATING;
    lo.end = 101;
    ASSERT_RC(SHELF_EINVAL, shelf_stream_set_loop_opts(s, id, &lo));
    ASSERT(strstr(shelf_stream_errmsg(s), "at least 2 frames"));
    lo.end = 102;
    ASSERT_OK(shelf_stream_set_loop_opts(s, id, &lo));
    lo.mode = SHELF_LOOP_BACKWARD;
    lo.end = 101;
    ASSERT_OK(shelf_stream_set_loop_opts(s, id, &lo));
    lo.start = lo.end = 0;
    ASSERT_OK(shelf_stream_set_loop_opts(s, id, &lo));
    /* The bound: a loop of exactly SHELF_STREAM_LOOP_RAM_MAX bytes of
     * frames is held whole; one frame more streams its walk and holds its
     * turns (an alternating loop's two); forward loops hold their start. */
    lo.start = 5;
    lo.end = 5 + (int64_t)most + 1;
    ASSERT_OK(shelf_stream_set_loop_opts(s, idb, &lo));
    held[0] = loop_ram_bytes(s);
    lo.mode = SHELF_LOOP_ALTERNATING;
    ASSERT_OK(shelf_stream_set_loop_opts(s, idb, &lo));
    held[1] = loop_ram_bytes(s);
    lo.mode = SHELF_LOOP_FORWARD;
    ASSERT_OK(shelf_stream_set_loop_opts(s, idb, &lo));
    lo.mode = SHELF_LOOP_BACKWARD;
    lo.end--;
    ASSERT_OK(shelf_stream_set_loop_opts(s, idb, &lo));
    held[2] = loop_ram_bytes(s);
    lo.crossfade = 1;                       /* with the loop, one frame over */
    ASSERT_OK(shelf_stream_set_loop_opts(s, idb, &lo));
    held[3] = loop_ram_bytes(s);
    lo.start++;
    ASSERT_OK(shelf_stream_set_loop_opts(s, idb, &lo));
    held[4] = loop_ram_bytes(s);
    printf("    loop RAM: %llu bytes over the bound (backward), %llu (alternating), %llu at it\n",
           (unsigned long long)held[0], (unsigned long long)held[1], (unsigned long long)held[2]);
    ASSERT(held[0] > 0 && held[0] < (1u << 20));
    ASSERT(held[1] > held[0] && held[1] < (1u << 20));
    ASSERT(held[2] >= SHELF_STREAM_LOOP_RAM_MAX);
    ASSERT(held[3] > 0 && held[3] < (1u << 20));
    ASSERT(held[4] >= SHELF_STREAM_LOOP_RAM_MAX);
    shelf_stream_free(s);
}

/*
 * A backward loop longer than SHELF_STREAM_LOOP_RAM_MAX is held whole
 * when the engine allows it (loop_ram_max), and streams its walk when
 * not: a ramp of 4 Mi + 100,000 mono frames (a float holds each frame's
 * number exactly), a loop 4,000 bytes over the default bound, a note at
 * pitch 16 that turns, walks the loop down and jumps twice: its held
 * frames follow the walk, frame by frame, held, streamed and from RAM,
 * and the three renders are the same bits.  The bound is the engine's
 * (one over the cache budget is refused), and loop_ram_bytes counts what
 * the loop holds, exactly.
 */
TEST(loop_ram_bound_raised)
{
    const int64_t most = (int64_t)(SHELF_STREAM_LOOP_RAM_MAX / sizeof(float));
    const int64_t frames = most + 100000, ls = 50000, le = ls + most + 1000, len = 600000;
    const char *dir = test_tmpdir();
    char path[PATH_MAX], text[512];
    const char *pp[1] = { path };
    shelf_stream_opts o = small_opts(SHELF_STREAM_OFFLINE);
    shelf_stream_loop_opts lo;
    shelf_stream_sample_info si;
    shelf_stream_stats st, st2;
    shelf_stream *s;
    shelf_notes *n;
    float *a, *b, *want;
    int64_t fa, fb, t, k0, k1;
    char *msg = NULL;
    int id;

    make_ramp_of(test_pathf(path, sizeof path, "%s/long ramp ⟲.wav", dir), frames);
    memset(&lo, 0, sizeof lo);
    lo.size = sizeof lo;
    lo.start = ls;
    lo.end = le;
    lo.mode = SHELF_LOOP_BACKWARD;
    /* The default bound streams it (its turns in RAM), a raised one
     * holds it whole. */
    ASSERT_OK(shelf_stream_new(&o, &s, NULL));
    ASSERT_OK(shelf_stream_add(s, path, &id));
    ASSERT_OK(shelf_stream_set_loop_opts(s, id, &lo));
    ASSERT(loop_ram_bytes(s) < (1u << 20));
    shelf_stream_free(s);
    o.loop_ram_max = 32u << 20;
    ASSERT_OK(shelf_stream_new(&o, &s, NULL));
    ASSERT_OK(shelf_stream_add(s, path, &id));
    ASSERT_OKM(shelf_stream_errmsg(s), shelf_stream_set_loop_opts(s, id, &lo));
    ASSERT_OK(shelf_stream_sample(s, id, &si));
    k0 = ls / si.chunk_frames;
    k1 = (le - 1) / si.chunk_frames + 1;
    memset(&st, 0, sizeof st);
    st.size = sizeof st;
    shelf_stream_get_stats(s, &st);
    /* Counted as the cache counts: the audio and each chunk's record. */
    ASSERT_EQ_INT(st.loop_ram_bytes,
                  (uint64_t)(k1 - k0) * (si.chunk_frames * sizeof(float) + sizeof(shelf__chunk)));
    lo.start = lo.end = 0;                  /* removed: nothing held */
    ASSERT_OK(shelf_stream_set_loop_opts(s, id, &lo));
    shelf_stream_get_stats(s, &st);
    ASSERT_EQ_INT(st.loop_ram_bytes, 0);
    shelf_stream_free(s);
    o.loop_ram_max = o.cache_bytes = 1u << 20;
    ASSERT_OK(shelf_stream_new(&o, &s, NULL));
    shelf_stream_free(s);
    o.loop_ram_max++;
    ASSERT_RC(SHELF_EINVAL, shelf_stream_new(&o, &s, &msg));
    ASSERT(msg && strstr(msg, "larger than the cache budget"));
    shelf_free(msg);

    snprintf(text, sizeof text,
             "shelf-notes 1\nsample x\nloop 0 %lld %lld mode=backward\n"
             "note 0 0 offset=%lld pitch=16 len=%lld release=0\n",
             (long long)ls, (long long)le, (long long)(le - 1000), (long long)len);
    n = parse(text);
    o = small_opts(SHELF_STREAM_NO_URING | SHELF_STREAM_NO_DIRECT);
    o.loop_ram_max = 32u << 20;
    a = render(n, pp, o, &fa, &st);
    o.flags = SHELF_STREAM_RAM;
    o.cache_bytes = 64u << 20;              /* the whole file, and the loop */
    b = render(n, pp, o, &fb, &st2);
    ASSERT_EQ_INT(fa, fb);
    ASSERT(fa > len);
    ASSERT(memcmp(a, b, (size_t)fa * 2 * sizeof *a) == 0);
    free(b);
    /* The default bound: the walk streams, the same bits. */
    o = small_opts(SHELF_STREAM_NO_URING | SHELF_STREAM_NO_DIRECT);
    b = render(n, pp, o, &fb, &st2);
    ASSERT_EQ_INT(fa, fb);
    ASSERT(memcmp(a, b, (size_t)fa * 2 * sizeof *a) == 0);
    ASSERT(st2.reads > st.reads);
    ASSERT_EQ_INT(st2.underruns + st2.not_ready + st2.chunks_lost, 0);
    o.flags = SHELF_STREAM_RAM;
    o.cache_bytes = 64u << 20;
    free(b);
    b = render(n, pp, o, &fb, &st2);
    ASSERT(st.loop_wraps >= 3);             /* the turn and two jumps */
    ASSERT_EQ_INT(st.loop_wraps, st2.loop_wraps);
    ASSERT_EQ_INT(st.underruns + st.not_ready + st.chunks_lost, 0);
    ASSERT((want = malloc((size_t)fa * sizeof *want)) != NULL);
    expect_walk(SHELF_LOOP_BACKWARD, ls, le, 0, le - 1000, 16, len, fa, want);
    for (t = 0; t < len; t++)
        if (a[2 * t] != want[t])
            test__fail(__FILE__, __LINE__, "output frame %lld plays source frame %.1f, want %.1f",
                       (long long)t, a[2 * t] / RAMP_UNIT, want[t] / RAMP_UNIT);
    free(want);
    free(a);
    free(b);
    shelf_notes_free(n);
}

/* ---- failover to a mirror and hot swap ------------------------------------------ */

/* Copy a file byte for byte, keeping its modification time. */
static void copy_file(const char *from, const char *to)
{
    char cmd[2 * PATH_MAX + 32];

    ASSERT(snprintf(cmd, sizeof cmd, "cp -p '%s' '%s'", from, to) < (int)sizeof cmd);
    ASSERT_EQ_INT(system(cmd), 0);
}

typedef void (*block_hook)(shelf_stream *s, int64_t t, void *ud);

/*
 * Render the notes of n (note-ons only: no len, no loops) through s, which
 * the caller made (OFFLINE) with its samples and mirrors, the way
 * shelf_notes_render does: blocks of 128 frames cut at note starts, waiting
 * for reads before each.  hook (may be NULL) runs before each block.
 */
static float *render_on(shelf_stream *s, const shelf_notes *n, int64_t frames, block_hook hook,
                        void *ud)
{
    float *out = calloc((size_t)frames * 2 + 1, sizeof *out);
    int64_t t = 0;
    size_t next = 0;

    ASSERT(out != NULL);
    while (t < frames) {
        int64_t until = t + 128;
        while (next < n->nnotes && n->notes[next].at <= t) {
            const shelf_note *nt = &n->notes[next++];
            ASSERT(shelf_stream_voice_start(s, nt->sample, nt->offset, nt->pitch, nt->gain,
                                            nt->priority) >= 0);
        }
        if (next < n->nnotes && n->notes[next].at < until)
            until = n->notes[next].at;
        if (until > frames)
            until = frames;
        if (hook)
            hook(s, t, ud);
        ASSERT_OK(shelf_stream_wait_ready(s, (uint32_t)(until - t)));
        shelf_stream_render(s, (uint32_t)(until - t), out + 2 * t);
        t = until;
    }
    return out;
}

static const char mirror_script[] =
    "shelf-notes 1\n"
    "sample a.wav\n"
    "sample b.wav\n"
    "sample c.flac\n"
    "note 0 0\n"
    "note 100 1 pitch=1.5 gain=0.5\n"
    "note 1000 2 offset=30000\n";

/* The set in dir/p (primary) and dir/m (mirror, copies); an engine with
 * both added, one voice per sample. */
static shelf_stream *mirrored_engine(const char *dir, shelf_stream_opts o, char paths[3][PATH_MAX])
{
    char pdir[PATH_MAX], mdir[PATH_MAX], mp[PATH_MAX];
    static const char *const names[3] = { "a.wav", "b.wav", "c.flac" };
    shelf_stream *s = NULL;
    int i, id;

    test_pathf(pdir, sizeof pdir, "%s/p", dir);
    test_pathf(mdir, sizeof mdir, "%s/m", dir);
    if (access(pdir, F_OK) != 0) {
        ASSERT(mkdir(pdir, 0700) == 0 && mkdir(mdir, 0700) == 0);
        make_set(pdir, paths);
        for (i = 0; i < 3; i++)
            copy_file(paths[i], test_pathf(mp, sizeof mp, "%s/%s", mdir, names[i]));
    }
    for (i = 0; i < 3; i++)
        test_pathf(paths[i], PATH_MAX, "%s/%s", pdir, names[i]);
    o.flags |= SHELF_STREAM_OFFLINE;
    ASSERT_OK(shelf_stream_new(&o, &s, NULL));
    for (i = 0; i < 3; i++) {
        ASSERT_OK(shelf_stream_add(s, paths[i], &id));
        ASSERT_EQ_INT(id, i);
        ASSERT_OKM(shelf_stream_errmsg(s),
                   shelf_stream_add_mirror(s, id, test_pathf(mp, sizeof mp, "%s/%s", mdir, names[i])));
    }
    return s;
}

/*
 * Every primary read fails (the engine's fault layer, primary only): each
 * sample fails over on its first streamed read, the mirror serves every
 * chunk after it, and the render is the RAM render to the bit.  Exact
 * counts: one read error and one switch per sample (one voice each, so one
 * read in flight each), failovers = the reads of a clean render.
 */
TEST(failover_exact)
{
    const char *dir = test_tmpdir();
    char paths[3][PATH_MAX];
    const char *pp[3] = { paths[0], paths[1], paths[2] };
    shelf_notes *n = parse(mirror_script);
    shelf_stream_opts o = small_opts(0);
    shelf_stream_stats clean, st;
    shelf_stream *s;
    int64_t frames;
    float *ref, *got;

    s = mirrored_engine(dir, o, paths);     /* makes the files */
    shelf_stream_free(s);
    ref = render(n, pp, small_opts(SHELF_STREAM_RAM), &frames, NULL);
    free(render(n, pp, small_opts(0), &frames, &clean));
    ASSERT(clean.reads > 10);
    o.fault_error_rate = 1;
    o.fault_medium = SHELF_STREAM_PRIMARY;
    o.recheck_ms = 600000;                  /* no probe within the test */
    s = mirrored_engine(dir, o, paths);
    got = render_on(s, n, frames, NULL, NULL);
    memset(&st, 0, sizeof st);
    st.size = sizeof st;
    shelf_stream_get_stats(s, &st);
    shelf_stream_free(s);
    ASSERT(memcmp(ref, got, (size_t)frames * 2 * sizeof(float)) == 0);
    ASSERT_EQ_INT(st.read_errors, 3);
    ASSERT_EQ_INT(st.failover_switches, 3);
    ASSERT_EQ_INT(st.failovers, clean.reads);
    ASSERT_EQ_INT(st.reads, clean.reads + 3);
    ASSERT_EQ_INT(st.chunks_lost, 0);
    ASSERT_EQ_INT(st.underruns, 0);
    ASSERT_EQ_INT(st.failover_returns, 0);
    ASSERT_EQ_INT(st.failover_hedged, 0);
    ASSERT(st.failover_max_us > 0);

    /* Faults on the mirror only change nothing while the primary holds. */
    o.fault_medium = SHELF_STREAM_MIRROR;
    s = mirrored_engine(dir, o, paths);
    got = (free(got), render_on(s, n, frames, NULL, NULL));
    shelf_stream_get_stats(s, &st);
    shelf_stream_free(s);
    ASSERT(memcmp(ref, got, (size_t)frames * 2 * sizeof(float)) == 0);
    ASSERT_EQ_INT(st.read_errors, 0);
    ASSERT_EQ_INT(st.failovers, 0);
    ASSERT_EQ_INT(st.reads, clean.reads);
    free(ref);
    free(got);
    shelf_notes_free(n);
}

/*
 * shelf_notes_render with mirrors (opts.mirrors): every primary read fails
 * (fault layer) and the render is the clean one to the bit, with the
 * counts of failover_exact; without the mirrors the same faults lose
 * chunks and the render differs; a mirror that is not a copy stops the
 * render in one line.
 */
TEST(render_with_mirrors)
{
    const char *dir = test_tmpdir();
    char paths[3][PATH_MAX], mp[3][PATH_MAX], *msg = NULL;
    const char *pp[3] = { paths[0], paths[1], paths[2] }, *mm[3] = { mp[0], mp[1], mp[2] };
    shelf_notes *n = parse(mirror_script);
    shelf_stream_opts o = small_opts(0);
    shelf_stream_stats clean, st;
    int64_t frames, f2;
    float *ref, *got, *pcm = NULL;
    int i;

    shelf_stream_free(mirrored_engine(dir, o, paths));     /* makes the files */
    for (i = 0; i < 3; i++)
        test_pathf(mp[i], PATH_MAX, "%s/m/%s", dir, strrchr(paths[i], '/') + 1);
    free(render(n, pp, small_opts(0), &frames, &clean));
    ref = render(n, pp, small_opts(SHELF_STREAM_RAM), &frames, NULL);
    o.fault_error_rate = 1;
    o.fault_medium = SHELF_STREAM_PRIMARY;
    o.recheck_ms = 600000;
    o.mirrors = mm;
    got = render(n, pp, o, &f2, &st);
    ASSERT_EQ_INT(f2, frames);
    ASSERT(memcmp(ref, got, (size_t)frames * 2 * sizeof(float)) == 0);
    ASSERT_EQ_INT(st.read_errors, 3);
    ASSERT_EQ_INT(st.failover_switches, 3);
    ASSERT_EQ_INT(st.failovers, clean.reads);
    ASSERT_EQ_INT(st.chunks_lost, 0);
    ASSERT_EQ_INT(st.underruns, 0);
    free(got);
    /* A mirror for some samples only: the others lose their chunks. */
    mm[1] = NULL;
    got = render(n, pp, o, &f2, &st);
    ASSERT(memcmp(ref, got, (size_t)frames * 2 * sizeof(float)) != 0);
    ASSERT_EQ_INT(st.failover_switches, 2);
    ASSERT(st.chunks_lost > 0);
    free(got);
    o.mirrors = NULL;
    got = render(n, pp, o, &f2, &st);
    ASSERT(memcmp(ref, got, (size_t)frames * 2 * sizeof(float)) != 0);
    ASSERT(st.chunks_lost > 0);
    ASSERT_EQ_INT(st.failovers, 0);
    free(got);
    mm[1] = mp[0];                          /* not a copy of b.wav */
    o.mirrors = mm;
    ASSERT_RC(SHELF_EINVAL, shelf_notes_render(n, pp, &o, 128, &pcm, &f2, NULL, &msg));
    ASSERT(msg && strstr(msg, "not a copy") && strstr(msg, "b.wav") && !strchr(msg, '\n'));
    ASSERT(pcm == NULL);
    shelf_free(msg);
    free(ref);
    shelf_notes_free(n);
}

/* A slow primary: each first read misses its deadline, is hedged on the
 * mirror, which wins; the samples switch; nothing is lost. */
TEST(failover_hedged_when_late)
{
    const char *dir = test_tmpdir();
    char paths[3][PATH_MAX];
    const char *pp[3] = { paths[0], paths[1], paths[2] };
    shelf_notes *n = parse(mirror_script);
    shelf_stream_opts o = small_opts(0);
    shelf_stream_stats st;
    shelf_stream *s;
    int64_t frames;
    float *ref, *got;

    s = mirrored_engine(dir, o, paths);
    shelf_stream_free(s);
    ref = render(n, pp, small_opts(SHELF_STREAM_RAM), &frames, NULL);
    o.failover_ms = 10;
    o.recheck_ms = 600000;
    s = mirrored_engine(dir, o, paths);
    atomic_store(&s->fault_slow_ms, 400);
    atomic_store(&s->fault_primary, SHELF__FAULT_SLOW);
    got = render_on(s, n, frames, NULL, NULL);
    memset(&st, 0, sizeof st);
    st.size = sizeof st;
    shelf_stream_get_stats(s, &st);
    shelf_stream_free(s);
    ASSERT(memcmp(ref, got, (size_t)frames * 2 * sizeof(float)) == 0);
    ASSERT_EQ_INT(st.failover_hedged, 3);
    ASSERT_EQ_INT(st.failover_switches, 3);
    ASSERT_EQ_INT(st.read_errors, 0);
    ASSERT_EQ_INT(st.chunks_lost, 0);
    ASSERT(st.failovers > 3);
    /* From the late read's submit to the mirror's copy: the deadline and
     * one read, far less than the 400 ms the primary took. */
    ASSERT(st.failover_max_us >= 10000 && st.failover_max_us < 300000);
    free(ref);
    free(got);
    shelf_notes_free(n);
}

typedef struct swap_ctx {
    int64_t fail_at, back_at;   /* output frames */
    const char *path, *aside;   /* the primary of sample 0, and where it goes meanwhile */
    int phase;
    shelf__fh *before;
} swap_ctx;

/* Before each block: the primary fails at fail_at (every read, and its
 * file leaves its path, like a medium pulled out); at back_at the file is
 * back and the fault gone; then wait for the probe to take it up. */
static void swap_hook(shelf_stream *s, int64_t t, void *ud)
{
    swap_ctx *c = ud;

    if (c->phase == 0 && t >= c->fail_at) {
        c->before = s->samples[0].pfh;
        atomic_store(&s->fault_primary, SHELF__FAULT_FAIL);
        ASSERT(rename(c->path, c->aside) == 0);
        c->phase = 1;
    } else if (c->phase == 1 && t >= c->back_at) {
        shelf_stream_stats st;
        int i;
        atomic_store(&s->fault_primary, 0);
        ASSERT(rename(c->aside, c->path) == 0);
        memset(&st, 0, sizeof st);
        st.size = sizeof st;
        for (i = 0; i < 2000; i++) {
            shelf_stream_get_stats(s, &st);
            if (st.failover_returns == 3)
                break;
            nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
        }
        ASSERT_EQ_INT(st.failover_returns, 3);
        c->phase = 2;
    }
}

/*
 * Hot swap: the primary fails mid-render and its file disappears; the
 * mirror serves; a probe finds a different file at the path first (not
 * taken: the identity differs), then the original back, reopens it (new
 * files) and the reads return to it.  The render is the RAM one.
 */
TEST(failover_hot_swap_returns)
{
    const char *dir = test_tmpdir();
    char paths[3][PATH_MAX], aside[PATH_MAX];
    const char *pp[3] = { paths[0], paths[1], paths[2] };
    shelf_notes *n = parse(mirror_script);
    shelf_stream_opts o = small_opts(0);
    shelf_stream_stats st;
    shelf_stream *s;
    swap_ctx c;
    int64_t frames;
    uint64_t fo_back;
    float *ref, *got;

    s = mirrored_engine(dir, o, paths);
    shelf_stream_free(s);
    ref = render(n, pp, small_opts(SHELF_STREAM_RAM), &frames, NULL);
    o.recheck_ms = 5;
    o.failover_ms = 60000;      /* no hedge of a read a loaded machine made slow */
    s = mirrored_engine(dir, o, paths);
    memset(&c, 0, sizeof c);
    c.fail_at = frames / 4;
    c.back_at = frames / 2;
    c.path = paths[0];
    c.aside = test_pathf(aside, sizeof aside, "%s/a-away.wav", dir);
    got = render_on(s, n, frames, swap_hook, &c);
    ASSERT_EQ_INT(c.phase, 2);
    ASSERT(s->samples[0].pfh != c.before);  /* reopened */
    ASSERT(!s->samples[0].down);
    memset(&st, 0, sizeof st);
    st.size = sizeof st;
    shelf_stream_get_stats(s, &st);
    fo_back = st.failovers;
    ASSERT(memcmp(ref, got, (size_t)frames * 2 * sizeof(float)) == 0);
    ASSERT_EQ_INT(st.failover_switches, 3);
    ASSERT_EQ_INT(st.failover_returns, 3);
    ASSERT_EQ_INT(st.chunks_lost, 0);
    ASSERT_EQ_INT(st.underruns, 0);
    ASSERT(st.failovers > 0);
    ASSERT(st.failover_probes >= 3);
    /* Back on the primary: a second pass reads none from the mirror. */
    free(got);
    got = render_on(s, n, frames, NULL, NULL);
    shelf_stream_get_stats(s, &st);
    shelf_stream_free(s);
    ASSERT_EQ_INT(st.failovers, fo_back);
    ASSERT(memcmp(ref, got, (size_t)frames * 2 * sizeof(float)) == 0);

    /* A different file at the path is not taken for the primary. */
    o.recheck_ms = 5;
    s = mirrored_engine(dir, o, paths);
    atomic_store(&s->fault_primary, SHELF__FAULT_FAIL);
    ASSERT(rename(paths[0], aside) == 0);
    copy_file(paths[1], paths[0]);          /* another file, another size */
    free(got);
    {
        float buf[256];
        int v = shelf_stream_voice_start(s, 0, 0, 1.0, 1.0f, 0), i;
        ASSERT(v >= 0);
        memset(&st, 0, sizeof st);
        st.size = sizeof st;
        for (i = 0; i < 1000 && !st.failover_switches; i++) {
            ASSERT_OK(shelf_stream_wait_ready(s, 128));
            shelf_stream_render(s, 128, buf);
            shelf_stream_get_stats(s, &st);
        }
        atomic_store(&s->fault_primary, 0);
        for (i = 0; i < 100; i++) {
            ASSERT_OK(shelf_stream_wait_ready(s, 128));
            shelf_stream_render(s, 128, buf);
            nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
        }
    }
    shelf_stream_get_stats(s, &st);
    ASSERT_EQ_INT(st.failover_switches, 1);
    ASSERT_EQ_INT(st.failover_returns, 0);  /* the identity differs */
    ASSERT(st.failover_probes > 0);
    shelf_stream_free(s);
    ASSERT(rename(aside, paths[0]) == 0);
    free(ref);
    shelf_notes_free(n);
}

/* Log lines of an engine (scheduler thread), counted by what they say. */
typedef struct log_count {
    pthread_mutex_t lock;
    int mirror_down, mirror_back, switched;
} log_count;

static void count_log(void *ud, const char *line)
{
    log_count *lc = ud;

    pthread_mutex_lock(&lc->lock);
    lc->mirror_down += strstr(line, "mirror '") == line && strstr(line, "cannot be read") != NULL;
    lc->mirror_back += strstr(line, "mirror '") == line && strstr(line, "is back") != NULL;
    lc->switched += strstr(line, ": reading its mirror '") != NULL;
    pthread_mutex_unlock(&lc->lock);
}

typedef struct mfail_ctx {
    int64_t at[4];              /* output frames of the phases */
    int phase, replug;
    const char *mpath, *aside;  /* sample 0's mirror, and where it goes meanwhile */
    shelf__fh *before;
} mfail_ctx;

/* Before each block: the phases of mirror_failover (below). */
static void mfail_hook(shelf_stream *s, int64_t t, void *ud)
{
    mfail_ctx *c = ud;

    if (c->phase == 0 && t >= c->at[0]) {
        c->before = atomic_load(&s->samples[0].mfh);
        if (c->replug) {        /* the primary is slow, the mirror pulled */
            atomic_store(&s->fault_slow_ms, 300);
            atomic_store(&s->fault_primary, SHELF__FAULT_SLOW);
            atomic_store(&s->fault_mirror, SHELF__FAULT_FAIL);
            ASSERT(rename(c->mpath, c->aside) == 0);
        } else {                /* the primary fails: the mirrors serve */
            atomic_store(&s->fault_primary, SHELF__FAULT_FAIL);
        }
        c->phase = 1;
    } else if (c->phase == 1 && t >= c->at[1]) {
        atomic_store(&s->fault_primary, 0);
        if (c->replug) {        /* both well again, the mirror back */
            shelf_stream_stats st;
            int i;
            /* The slow reads in flight land first (hedged on a mirror
             * that is back, each would be a race the mirror wins). */
            nanosleep(&(struct timespec){ 0, 400000000 }, NULL);
            atomic_store(&s->fault_mirror, 0);
            ASSERT(rename(c->aside, c->mpath) == 0);
            memset(&st, 0, sizeof st);
            st.size = sizeof st;
            for (i = 0; i < 2000 && st.mirror_returns < 3; i++) {
                nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
                shelf_stream_get_stats(s, &st);
            }
            ASSERT_EQ_INT(st.mirror_returns, 3);
            ASSERT(atomic_load(&s->samples[0].mfh) != c->before);   /* reopened */
        } else {                /* the primary back, unnoticed; the mirrors fail */
            atomic_store(&s->fault_mirror, SHELF__FAULT_FAIL);
        }
        c->phase = 2;
    } else if (c->phase == 2 && t >= c->at[2]) {
        if (c->replug)          /* the primary fails: the mirrors serve again */
            atomic_store(&s->fault_primary, SHELF__FAULT_FAIL);
        c->phase = 3;
    }
}

/*
 * The mirror's own failover, with exact counts (one voice per sample, so
 * one read in flight each).  Without probes: the primary fails, the
 * samples switch to their mirrors; then the primary is well again before
 * any probe noticed and the mirrors fail: each sample's next read fails
 * on its mirror (taken out: mirror_down), goes to the primary once and
 * is served there (mirror_fallbacks), and so do the rest.  With probes
 * every 5 ms: a slow primary's late reads are hedged on mirrors that fail
 * (sample 0's pulled out): the mirrors are taken out and the primary's
 * copies serve; then they are well again, the probes reopen the mirrors
 * (sample 0's by path, new files), and when the primary fails, the
 * mirrors serve.  Both renders are the RAM render to the bit.
 */
TEST(mirror_failover)
{
    const char *dir = test_tmpdir();
    char paths[3][PATH_MAX], mpath[PATH_MAX], aside[PATH_MAX];
    const char *pp[3] = { paths[0], paths[1], paths[2] };
    shelf_notes *n = parse(mirror_script);
    shelf_stream_opts o = small_opts(0);
    shelf_stream_stats clean, st;
    log_count lc;
    shelf_stream *s;
    mfail_ctx c;
    int64_t frames;
    float *ref, *got;
    int replug;

    shelf_stream_free(mirrored_engine(dir, o, paths));
    ref = render(n, pp, small_opts(SHELF_STREAM_RAM), &frames, NULL);
    free(render(n, pp, small_opts(0), &frames, &clean));
    test_pathf(mpath, sizeof mpath, "%s/m/a.wav", dir);
    test_pathf(aside, sizeof aside, "%s/a-pulled.wav", dir);
    for (replug = 0; replug < 2; replug++) {
        memset(&lc, 0, sizeof lc);
        pthread_mutex_init(&lc.lock, NULL);
        o = small_opts(0);
        o.log = count_log;
        o.log_ud = &lc;
        o.recheck_ms = replug ? 5 : 600000;
        o.failover_ms = replug ? 50 : 60000;
        s = mirrored_engine(dir, o, paths);
        memset(&c, 0, sizeof c);
        c.replug = replug;
        c.at[0] = 0;
        c.at[1] = frames / 16;
        c.at[2] = frames / 8;
        c.mpath = mpath;
        c.aside = aside;
        got = render_on(s, n, frames, mfail_hook, &c);
        ASSERT_EQ_INT(c.phase, 3);
        memset(&st, 0, sizeof st);
        st.size = sizeof st;
        shelf_stream_get_stats(s, &st);
        shelf_stream_free(s);
        printf("    %s: %llu read errors, %llu reads (%llu clean), %llu from mirrors, %llu probes, "
               "%llu switches %llu returns %llu hedged\n",
               replug ? "re-plugged mirror" : "primary back before its probe",
               (unsigned long long)st.read_errors, (unsigned long long)st.reads,
               (unsigned long long)clean.reads, (unsigned long long)st.failovers,
               (unsigned long long)st.failover_probes, (unsigned long long)st.failover_switches,
               (unsigned long long)st.failover_returns, (unsigned long long)st.failover_hedged);
        ASSERT(memcmp(ref, got, (size_t)frames * 2 * sizeof(float)) == 0);
        ASSERT_EQ_INT(st.chunks_lost, 0);
        ASSERT_EQ_INT(st.underruns, 0);
        ASSERT_EQ_INT(st.mirror_down, 3);
        ASSERT_EQ_INT(st.read_errors, 6);
        ASSERT_EQ_INT(st.failover_switches, 3);
        ASSERT(st.failovers > 0);
        pthread_mutex_lock(&lc.lock);
        ASSERT_EQ_INT(lc.mirror_down, 3);
        ASSERT_EQ_INT(lc.switched, 3);
        ASSERT_EQ_INT(lc.mirror_back, replug ? 3 : 0);
        pthread_mutex_unlock(&lc.lock);
        if (replug) {
            ASSERT_EQ_INT(st.failover_hedged, 3);
            ASSERT_EQ_INT(st.mirror_fallbacks, 0);   /* the primary's own read served */
            ASSERT_EQ_INT(st.mirror_returns, 3);
            ASSERT(st.failover_probes >= 3);
        } else {
            ASSERT_EQ_INT(st.mirror_fallbacks, 3);
            ASSERT_EQ_INT(st.mirror_returns, 0);
            ASSERT_EQ_INT(st.failover_probes, 0);
            ASSERT_EQ_INT(st.reads, clean.reads + 6);
        }
        pthread_mutex_destroy(&lc.lock);
        free(got);
    }
    free(ref);
    shelf_notes_free(n);
}

/* add_mirror takes only a copy: same size, same first bytes. */
TEST(failover_mirror_checks)
{
    const char *dir = test_tmpdir();
    char paths[3][PATH_MAX], other[PATH_MAX];
    shelf_stream_opts o = small_opts(0);
    shelf_stream *s;
    tg_spec a = TG_SPEC_INIT(SF_FORMAT_WAV | SF_FORMAT_PCM_24, 48000, 2, 48000 * 3);
    int id;

    s = mirrored_engine(dir, o, paths);
    ASSERT_EQ_INT(shelf_stream_add_mirror(s, 0, paths[0]), SHELF_EEXIST);
    ASSERT_EQ_INT(shelf_stream_add_mirror(s, 7, paths[0]), SHELF_ENOTFOUND);
    shelf_stream_free(s);
    ASSERT_OK(shelf_stream_new(&o, &s, NULL));
    ASSERT_OK(shelf_stream_add(s, paths[0], &id));
    ASSERT_EQ_INT(shelf_stream_add_mirror(s, id, paths[1]), SHELF_EINVAL);
    ASSERT(strstr(shelf_stream_errmsg(s), "not a copy") != NULL);
    a.seed = 77;                            /* the same size, other audio */
    ASSERT_EQ_INT(tg_write(test_pathf(other, sizeof other, "%s/other.wav", dir), &a), 0);
    ASSERT_EQ_INT(shelf_stream_add_mirror(s, id, other), SHELF_EINVAL);
    ASSERT(strstr(shelf_stream_errmsg(s), "first bytes differ") != NULL);
    ASSERT_EQ_INT(shelf_stream_add_mirror(s, id, "/nonexistent/x.wav"), SHELF_ENOTFOUND);
    ASSERT_OK(shelf_stream_add_mirror(s, id, paths[0]));
    shelf_stream_free(s);
}

int main(int argc, char **argv)
{
    static const test_case tests[] = {
        TEST_ENTRY(ring_two_threads), TEST_ENTRY(ring_full_and_peek), TEST_ENTRY(wav_parse),
        TEST_ENTRY(pcm_matches_libsndfile), TEST_ENTRY(pcm24_every_length), TEST_ENTRY(queue_depth_bounds_reads), TEST_ENTRY(uring_batches_submits), TEST_ENTRY(uring_fixed_buffers), TEST_ENTRY(uring_given_up), TEST_ENTRY(reads_sent_before_decode), TEST_ENTRY(reserve_takes_reads), TEST_ENTRY(cache_table_grows), TEST_ENTRY(spare_buffers_reused), TEST_ENTRY(no_drop_real_time), TEST_ENTRY(read_order_late_last), TEST_ENTRY(read_order_first_m), TEST_ENTRY(notes_parse), TEST_ENTRY(render_bitexact),
        TEST_ENTRY(render_bitexact_preads), TEST_ENTRY(render_bitexact_buffered),
        TEST_ENTRY(render_differs_when_script_differs), TEST_ENTRY(flac_stream_equals_wav),
        TEST_ENTRY(errors_no_retry), TEST_ENTRY(errors_with_retries), TEST_ENTRY(delays_are_spikes),
        TEST_ENTRY(cache_lru_pins_refs), TEST_ENTRY(engine_pin_and_hits),
        TEST_ENTRY(opts_size_stream),
        TEST_ENTRY(identical_reads_merge), TEST_ENTRY(realtime_race), TEST_ENTRY(stress_csv_png),
        TEST_ENTRY(frag_and_optimize), TEST_ENTRY(cache_pins_file), TEST_ENTRY(health_underruns),
        TEST_ENTRY(health_suggestions),
        TEST_ENTRY(voice_handle_reuse),
        TEST_ENTRY(alloc_fail_render_streamed), TEST_ENTRY(alloc_fail_render_ram),
        TEST_ENTRY(render_short_notes),
        TEST_ENTRY(loop_bitexact), TEST_ENTRY(loop_from_the_file), TEST_ENTRY(loop_from_ram), TEST_ENTRY(loop_parse_and_range),
        TEST_ENTRY(loop_modes_order), TEST_ENTRY(loop_backward_xfade_order), TEST_ENTRY(loop_modes_bitexact),
        TEST_ENTRY(mix_kernels_bitexact), TEST_ENTRY(mix_runs_bitexact),
        TEST_ENTRY(loop_modes_from_the_file), TEST_ENTRY(loop_modes_no_reads),
        TEST_ENTRY(loop_modes_limits), TEST_ENTRY(loop_ram_bound_raised), TEST_ENTRY(loop_walk_streamed),
        TEST_ENTRY(failover_exact), TEST_ENTRY(render_with_mirrors), TEST_ENTRY(failover_hedged_when_late),
        TEST_ENTRY(failover_hot_swap_returns), TEST_ENTRY(failover_mirror_checks),
        TEST_ENTRY(mirror_failover),
        TEST_END
    };
    return test_run(argc, argv, tests);
}
