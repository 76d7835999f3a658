/*
 * test_par2.c: unit tests of PAR2 (lib/archive/par2_int.h) and GF(2^16)
 * (lib/archive/gf16_int.h): field axioms and the spec's constants, every
 * vector kernel bit-exact against the scalar one, then sets written by our
 * encoder checked and repaired by the real par2cmdline (`par2`, a build
 * dependency: the tests that need it fail when it is missing), sets written
 * by par2cmdline verified and repaired by us, exact reports of damaged
 * slices, truncated and missing files, damaged packets skipped, too little
 * recovery data refused, bad parameters, and the same output whatever the
 * chunking, thread count and kernel.
 */
#include <fcntl.h>
#include <openssl/evp.h>
#include "test.h"
#include "archive/gf16_int.h"
#include "archive/par2_int.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

static uint8_t *random_bytes(size_t n)
{
    uint8_t *p = malloc(n ? n : 1);
    size_t i;

    ASSERT(p != NULL);
    for (i = 0; i < n; i++)
        p[i] = (uint8_t)rnd();
    return p;
}

static void md5_of(const void *p, size_t n, uint8_t out[16])
{
    unsigned len = 16;

    ASSERT(EVP_Digest(p, n, out, &len, EVP_md5(), NULL) == 1);
}

/* ---- GF(2^16) --------------------------------------------------------------------- */

TEST(gf_axioms)
{
    int i;

    ASSERT_EQ_INT(shelf__gf16_mul(0, 1234), 0);
    ASSERT_EQ_INT(shelf__gf16_mul(1, 1234), 1234);
    /* x^16 = x^12 + x^3 + x + 1 (0x1100B without its top bit). */
    ASSERT_EQ_INT(shelf__gf16_mul(0x8000, 2), 0x100B);
    ASSERT_EQ_INT(shelf__gf16_exp2(0), 1);
    ASSERT_EQ_INT(shelf__gf16_exp2(65535), 1);
    for (i = 0; i < 20000; i++) {
        uint16_t a = (uint16_t)rnd(), b = (uint16_t)rnd(), c = (uint16_t)rnd();
        uint32_t e = rnd() % 200000;

        ASSERT_EQ_INT(shelf__gf16_mul(a, b), shelf__gf16_mul(b, a));
        ASSERT_EQ_INT(shelf__gf16_mul(shelf__gf16_mul(a, b), c), shelf__gf16_mul(a, shelf__gf16_mul(b, c)));
        ASSERT_EQ_INT(shelf__gf16_mul(a, b ^ c), shelf__gf16_mul(a, b) ^ shelf__gf16_mul(a, c));
        if (a) {
            ASSERT_EQ_INT(shelf__gf16_mul(a, shelf__gf16_inv(a)), 1);
            ASSERT_EQ_INT(shelf__gf16_div(shelf__gf16_mul(a, b), a), b);
        }
        ASSERT_EQ_INT(shelf__gf16_pow(2, e), shelf__gf16_exp2(e));
        ASSERT_EQ_INT(shelf__gf16_pow(a, 3), shelf__gf16_mul(a, shelf__gf16_mul(a, a)));
    }
}

/* Shift-and-add multiplication, independent of the tables. */
static uint16_t slow_mul(uint16_t a, uint16_t b)
{
    uint32_t r = 0, x = a;
    int i;

    for (i = 0; i < 16; i++) {
        if (b & (1u << i))
            r ^= x;
        x <<= 1;
        if (x & 0x10000u)
            x ^= 0x1100Bu;
    }
    return (uint16_t)r;
}

TEST(gf_tables_match_slow_multiply)
{
    int i;

    for (i = 0; i < 100000; i++) {
        uint16_t a = (uint16_t)rnd(), b = (uint16_t)rnd();
        ASSERT_EQ_INT(shelf__gf16_mul(a, b), slow_mul(a, b));
    }
}

TEST(gf_spec_constants)
{
    /* The first input slice constants listed by the PAR2 specification:
     * 2^n for n = 1, 2, 4, 7, 8, 11, 13, 14, 16, 19, 22 (not multiples of
     * 3, 5, 17 or 257). */
    static const uint16_t want[] = { 2, 4, 16, 128, 256, 2048, 8192, 16384, 4107, 32856, 17132 };
    uint32_t n, i = 0;

    for (n = 1; i < sizeof want / sizeof want[0]; n++)
        if (n % 3 && n % 5 && n % 17 && n % 257)
            ASSERT_EQ_INT(shelf__gf16_exp2(n), want[i++]);
}

TEST(gf_split_roundtrip)
{
    size_t n = 128 * 37, i;
    uint8_t *a = random_bytes(n), *b = malloc(n), *c = malloc(n);

    shelf__gf16_split(b, a, n);
    for (i = 0; i < 64; i++) {
        ASSERT_EQ_INT(b[i], a[2 * i]);
        ASSERT_EQ_INT(b[64 + i], a[2 * i + 1]);
    }
    shelf__gf16_unsplit(c, b, n);
    ASSERT(memcmp(a, c, n) == 0);
    shelf__gf16_split(c, c, n);         /* in place */
    ASSERT(memcmp(b, c, n) == 0);
    free(a);
    free(b);
    free(c);
}

/* The scalar kernel against word-by-word products in the normal layout. */
TEST(gf_scalar_kernel_matches_words)
{
    const shelf__gf16_kernel *list;
    size_t n = 128 * 9, w;
    uint8_t *src = random_bytes(n), *dst = random_bytes(n), *want = malloc(n), *split = malloc(n);
    const uint8_t *srcs[1];
    shelf__gf16_coef c;
    uint16_t k = 0xBEEF;

    ASSERT(shelf__gf16_kernels(&list) >= 1);
    ASSERT_EQ_STR(list[0].name, "scalar");
    for (w = 0; w < n / 2; w++) {
        uint16_t s = (uint16_t)(src[2 * w] | src[2 * w + 1] << 8);
        uint16_t d = (uint16_t)(dst[2 * w] | dst[2 * w + 1] << 8);
        uint16_t r = (uint16_t)(d ^ slow_mul(k, s));
        want[2 * w] = (uint8_t)r;
        want[2 * w + 1] = (uint8_t)(r >> 8);
    }
    shelf__gf16_split(split, src, n);
    shelf__gf16_split(dst, dst, n);
    srcs[0] = split;
    shelf__gf16_coef_init(&c, k);
    list[0].muladd(dst, srcs, &c, 1, 0, n);
    shelf__gf16_unsplit(dst, dst, n);
    ASSERT(memcmp(dst, want, n) == 0);
    free(src);
    free(dst);
    free(want);
    free(split);
}

TEST(gf_vector_kernels_match_scalar)
{
    const shelf__gf16_kernel *list;
    size_t nk = shelf__gf16_kernels(&list), k, round;
    enum { MAXSRC = 9, MAXLEN = 128 * 300 };
    uint8_t *src[MAXSRC], *base = random_bytes(MAXLEN), *want = malloc(MAXLEN), *got = malloc(MAXLEN);
    shelf__gf16_coef coef[MAXSRC];
    int names = 0;

    printf("  kernels:");
    for (k = 0; k < nk; k++)
        printf(" %s", list[k].name);
    printf("\n");
    /* This machine's CPU has AVX2 and GFNI: all of them must be there. */
    for (k = 0; k < nk; k++)
        names += !strcmp(list[k].name, "avx2") || !strcmp(list[k].name, "ssse3");
    ASSERT(nk == 1 || names >= 1);
    for (k = 0; k < MAXSRC; k++)
        src[k] = random_bytes(MAXLEN + 128 * 4);
    for (round = 0; round < 300; round++) {
        /* Odd block counts (the AVX-512 kernel does two at a time), offsets,
         * constants 0 and 1 and random ones, one to nine sources. */
        size_t len = 128 * (1 + rnd() % 299), nsrc = 1 + rnd() % MAXSRC, off = 128 * (rnd() % 4), i;

        if (round < 10)
            len = 128 * (round + 1);
        for (i = 0; i < nsrc; i++) {
            uint32_t r = rnd() % 4;
            shelf__gf16_coef_init(&coef[i], r == 0 ? 0 : r == 1 ? 1 : (uint16_t)rnd());
        }
        memcpy(want, base, len);
        list[0].muladd(want, (const uint8_t *const *)src, coef, nsrc, off, len);
        for (k = 1; k < nk; k++) {
            memcpy(got, base, len);
            list[k].muladd(got, (const uint8_t *const *)src, coef, nsrc, off, len);
            if (memcmp(got, want, len))
                test__fail(__FILE__, __LINE__, "kernel %s differs from scalar (len %zu, %zu sources)",
                           list[k].name, len, nsrc);
        }
    }
    /* The fastest kernel is the one chosen. */
    ASSERT(shelf__gf16_best() == &list[nk - 1] || getenv("SHELF_GF16"));
    ASSERT(shelf__gf16_kernel_find("scalar") == &list[0]);
    ASSERT(shelf__gf16_kernel_find("nope") == NULL);
    for (k = 0; k < MAXSRC; k++)
        free(src[k]);
    free(base);
    free(want);
    free(got);
}

/* ---- helpers for sets ------------------------------------------------------------- */

/* Fail clearly when par2cmdline is missing: it is a build dependency. */
static void need_par2(void)
{
    if (system("par2 -V >/dev/null 2>&1") != 0)
        test__fail(__FILE__, __LINE__,
                   "the par2 program (par2cmdline) is not installed: run scripts/install-deps");
}

/* Run a shell command in dir; returns its exit status. */
__attribute__((format(printf, 2, 3)))
static int sh(const char *dir, const char *fmt, ...)
{
    char cmd[4096];
    int n, st;
    va_list ap;

    n = snprintf(cmd, sizeof cmd, "cd '%s' && ", dir);
    va_start(ap, fmt);
    vsnprintf(cmd + n, sizeof cmd - (size_t)n, fmt, ap);
    va_end(ap);
    st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* Encode data as dir/name with the set dir/name.par2 (chunks of chunk bytes). */
static void encode(const char *dir, const char *name, const uint8_t *data, size_t n,
                   const shelf__par2_params *pr, size_t chunk)
{
    char path[PATH_MAX], base[PATH_MAX];
    shelf__par2_enc *enc;
    shelf__err err = { 0, "" };
    size_t o;

    test_write_file(test_pathf(path, sizeof path, "%s/%s", dir, name), data, n);
    ASSERT_OKM(err.msg, shelf__par2_enc_new(name, n, pr, &enc, &err));
    for (o = 0; o < n;) {
        size_t k = chunk ? chunk : 1 + rnd() % 70000;
        if (k > n - o)
            k = n - o;
        ASSERT_OKM(err.msg, shelf__par2_enc_update(enc, data + o, k, &err));
        o += k;
    }
    ASSERT_OKM(err.msg, shelf__par2_enc_finish(enc, test_pathf(base, sizeof base, "%s/%s", dir, name), &err));
    shelf__par2_enc_free(enc);
}

static void assert_file_is(const char *path, const uint8_t *data, size_t n)
{
    size_t got;
    char *p = test_read_file(path, &got);

    ASSERT_EQ_INT(got, n);
    ASSERT(memcmp(p, data, n) == 0);
    free(p);
}

static void flip(const char *path, uint64_t off, uint8_t mask)
{
    int fd = open(path, O_RDWR);
    uint8_t b;

    ASSERT(fd >= 0);
    ASSERT_EQ_INT(pread(fd, &b, 1, (off_t)off), 1);
    b ^= mask;
    ASSERT_EQ_INT(pwrite(fd, &b, 1, (off_t)off), 1);
    close(fd);
}

/* ---- our files, par2cmdline's verdict ------------------------------------------------ */

TEST(par2cmdline_verifies_our_sets)
{
    static const size_t sizes[] = { 1, 4, 1000, 100001, 3000017 };
    const char *dir = test_tmpdir();
    size_t i;

    need_par2();
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char name[64];
        uint8_t *d = random_bytes(sizes[i]);

        snprintf(name, sizeof name, "data%zu.bin", sizes[i]);
        encode(dir, name, d, sizes[i], NULL, 0);
        if (sh(dir, "par2 verify -q -q %s.par2", name) != 0)
            test__fail(__FILE__, __LINE__, "par2 verify fails on our set for %zu bytes", sizes[i]);
        free(d);
    }
}

TEST(par2cmdline_repairs_with_our_recovery_files)
{
    const char *dir = test_tmpdir();
    size_t n = 2500003;
    uint8_t *d = random_bytes(n);
    shelf__par2_params pr = { .redundancy = 10, .slice_size = 32768 };
    char path[PATH_MAX];
    uint8_t want[16], got[16];
    char *back;
    size_t bn;

    need_par2();
    encode(dir, "take.tar", d, n, &pr, 65536);
    md5_of(d, n, want);
    test_pathf(path, sizeof path, "%s/take.tar", dir);
    flip(path, 10, 0xff);
    flip(path, n / 2, 0x01);
    flip(path, n / 2 + 5000, 0x80);
    ASSERT_EQ_INT(truncate(path, (off_t)(n - 7777)), 0);
    ASSERT(sh(dir, "par2 verify -q -q take.tar.par2 >/dev/null 2>&1") != 0);
    ASSERT_EQ_INT(sh(dir, "par2 repair -q -q take.tar.par2"), 0);
    back = test_read_file(path, &bn);
    ASSERT_EQ_INT(bn, n);
    md5_of(back, bn, got);
    ASSERT(memcmp(got, want, 16) == 0);
    free(back);
    free(d);
}

/* ---- our verify and repair ------------------------------------------------------------ */

TEST(verify_reports_exactly_the_damaged_slices)
{
    const char *dir = test_tmpdir();
    shelf__par2_params pr = { .redundancy = 5, .slice_size = 4096 };
    size_t n = 4096 * 300 + 123;            /* 301 slices, the last one short */
    uint8_t *d = random_bytes(n);
    shelf__par2_report rep;
    shelf__err err = { 0, "" };
    char path[PATH_MAX], set[PATH_MAX];

    encode(dir, "a.bin", d, n, &pr, 0);
    test_pathf(path, sizeof path, "%s/a.bin", dir);
    test_pathf(set, sizeof set, "%s/a.bin.par2", dir);
    ASSERT_OK(shelf__par2_verify(set, NULL, &rep, &err));
    ASSERT_EQ_INT(rep.nfiles, 1);
    ASSERT_EQ_INT(rep.nslices, 301);
    ASSERT_EQ_INT(rep.slice_size, 4096);
    ASSERT_EQ_INT(rep.nrecovery, 15);
    ASSERT_EQ_INT(rep.damaged, 0);
    ASSERT_EQ_INT(rep.files[0].intact, 1);
    shelf__par2_report_release(&rep);

    flip(path, 0, 1);                     /* slice 0 */
    flip(path, 4096 * 7 + 4095, 2);       /* slice 7, its last byte */
    flip(path, 4096 * 8, 4);              /* slice 8, its first */
    flip(path, 4096 * 200 + 17, 8);       /* slice 200 */
    ASSERT_RC(SHELF_ECORRUPT, shelf__par2_verify(set, NULL, &rep, &err));
    ASSERT(strstr(err.msg, "4 of 301") != NULL);
    ASSERT(strstr(err.msg, "repairable") != NULL);
    ASSERT_EQ_INT(rep.bad_slices, 4);
    ASSERT_EQ_INT(rep.files[0].nbad, 4);
    ASSERT_EQ_INT(rep.files[0].bad[0], 0);
    ASSERT_EQ_INT(rep.files[0].bad[1], 7);
    ASSERT_EQ_INT(rep.files[0].bad[2], 8);
    ASSERT_EQ_INT(rep.files[0].bad[3], 200);
    ASSERT_EQ_INT(rep.repairable, 1);
    ASSERT_EQ_INT(rep.files[0].intact, 0);
    shelf__par2_report_release(&rep);

    /* Truncation: the slices past the end are missing too. */
    ASSERT_EQ_INT(truncate(path, 4096 * 297 + 5), 0);
    ASSERT_RC(SHELF_ECORRUPT, shelf__par2_verify(set, NULL, &rep, &err));
    ASSERT_EQ_INT(rep.files[0].found_size, 4096 * 297 + 5);
    ASSERT_EQ_INT(rep.files[0].nbad, 8);    /* 0, 7, 8, 200, 297, 298, 299, 300 */
    ASSERT_EQ_INT(rep.files[0].bad[4], 297);
    ASSERT_EQ_INT(rep.files[0].bad[7], 300);
    shelf__par2_report_release(&rep);

    ASSERT_OKM(err.msg, shelf__par2_repair(set, NULL, &rep, &err));
    ASSERT_EQ_INT(rep.repaired, 1);
    shelf__par2_report_release(&rep);
    assert_file_is(path, d, n);
    ASSERT_OK(shelf__par2_verify(set, NULL, &rep, &err));
    shelf__par2_report_release(&rep);
    /* And par2cmdline agrees. */
    need_par2();
    ASSERT_EQ_INT(sh(dir, "par2 verify -q -q a.bin.par2"), 0);
    free(d);
}

TEST(repair_missing_file_and_longer_file)
{
    const char *dir = test_tmpdir();
    shelf__par2_params pr = { .nrecovery = 40 };
    size_t n = 77777;
    uint8_t *d = random_bytes(n);
    shelf__par2_report rep;
    shelf__err err = { 0, "" };
    char path[PATH_MAX], set[PATH_MAX];
    FILE *f;

    encode(dir, "m.wav", d, n, &pr, 0);
    test_pathf(path, sizeof path, "%s/m.wav", dir);
    test_pathf(set, sizeof set, "%s/m.wav.vol00+01.par2", dir);   /* any file of the set */
    /* Longer than recorded: damaged, no bad slice, repair cuts it. */
    ASSERT(f = fopen(path, "ab"));
    fputs("trailing", f);
    fclose(f);
    ASSERT_RC(SHELF_ECORRUPT, shelf__par2_verify(set, NULL, &rep, &err));
    ASSERT_EQ_INT(rep.bad_slices, 0);
    ASSERT_EQ_INT(rep.files[0].found_size, n + 8);
    shelf__par2_report_release(&rep);
    ASSERT_OKM(err.msg, shelf__par2_repair(set, NULL, &rep, &err));
    shelf__par2_report_release(&rep);
    assert_file_is(path, d, n);

    /* Missing: 2000 slices of 40 bytes (77777 / 2000 rounded up to 4), 40
     * recovery slices: not repairable, nothing written. */
    ASSERT_EQ_INT(unlink(path), 0);
    ASSERT_RC(SHELF_ECORRUPT, shelf__par2_repair(set, NULL, &rep, &err));
    ASSERT_EQ_INT(rep.files[0].missing, 1);
    ASSERT_EQ_INT(rep.repairable, 0);
    ASSERT(strstr(err.msg, "cannot repair") != NULL);
    ASSERT(!test_exists(path));
    shelf__par2_report_release(&rep);
    free(d);

    /* A small file with enough recovery slices comes back whole. */
    d = random_bytes(1000);
    pr.nrecovery = 0;
    pr.redundancy = 100;
    pr.slice_size = 100;
    encode(dir, "s.txt", d, 1000, &pr, 0);
    test_pathf(path, sizeof path, "%s/s.txt", dir);
    test_pathf(set, sizeof set, "%s/s.txt.par2", dir);
    ASSERT_EQ_INT(unlink(path), 0);
    ASSERT_OKM(err.msg, shelf__par2_repair(set, NULL, &rep, &err));
    ASSERT_EQ_INT(rep.bad_slices, 10);
    shelf__par2_report_release(&rep);
    assert_file_is(path, d, 1000);
    free(d);
}

TEST(we_verify_and_repair_par2cmdline_sets)
{
    const char *dir = test_tmpdir();
    size_t n = 1234567;
    uint8_t *d = random_bytes(n), *e = random_bytes(5000);
    shelf__par2_report rep;
    shelf__err err = { 0, "" };
    char path[PATH_MAX], set[PATH_MAX];

    need_par2();
    test_write_file(test_pathf(path, sizeof path, "%s/x.dat", dir), d, n);
    test_write_file(test_pathf(set, sizeof set, "%s/y.dat", dir), e, 5000);
    ASSERT_EQ_INT(sh(dir, "par2 create -q -q -r10 -b200 set.par2 x.dat y.dat >/dev/null"), 0);
    test_pathf(set, sizeof set, "%s/set.par2", dir);
    ASSERT_OKM(err.msg, shelf__par2_verify(set, NULL, &rep, &err));
    ASSERT_EQ_INT(rep.nfiles, 2);
    ASSERT(rep.nrecovery > 0);
    shelf__par2_report_release(&rep);

    flip(path, 100, 0x10);
    flip(path, n - 1, 0x10);
    ASSERT_RC(SHELF_ECORRUPT, shelf__par2_verify(set, NULL, &rep, &err));
    ASSERT_EQ_INT(rep.bad_slices, 2);
    shelf__par2_report_release(&rep);
    ASSERT_OKM(err.msg, shelf__par2_repair(set, NULL, &rep, &err));
    shelf__par2_report_release(&rep);
    assert_file_is(path, d, n);
    ASSERT_EQ_INT(sh(dir, "par2 verify -q -q set.par2"), 0);
    free(d);
    free(e);
}

TEST(damaged_packets_are_skipped)
{
    const char *dir = test_tmpdir();
    shelf__par2_params pr = { .nrecovery = 8, .slice_size = 1024 };
    size_t n = 50000;
    uint8_t *d = random_bytes(n);
    shelf__par2_report rep;
    shelf__err err = { 0, "" };
    char path[PATH_MAX], idx[PATH_MAX], vol[PATH_MAX];

    encode(dir, "p.bin", d, n, &pr, 0);
    test_pathf(path, sizeof path, "%s/p.bin", dir);
    test_pathf(idx, sizeof idx, "%s/p.bin.par2", dir);
    test_pathf(vol, sizeof vol, "%s/p.bin.vol3+4.par2", dir);
    ASSERT(test_exists(vol));
    /* The index's main packet (its first) and a recovery packet's data. */
    flip(idx, 70, 0x01);
    flip(vol, 64 + 4 + 100, 0x01);
    ASSERT_OKM(err.msg, shelf__par2_verify(idx, NULL, &rep, &err));
    ASSERT_EQ_INT(rep.packets_bad, 2);
    ASSERT_EQ_INT(rep.nrecovery, 7);        /* the damaged slice is not used */
    shelf__par2_report_release(&rep);
    /* A damaged length field (the file's second packet): the reader finds
     * the next packet. */
    flip(vol, (64 + 4 + 1024) + 8 + 2, 0x40);
    ASSERT_OKM(err.msg, shelf__par2_verify(idx, NULL, &rep, &err));
    ASSERT_EQ_INT(rep.packets_bad, 3);
    ASSERT_EQ_INT(rep.nrecovery, 6);
    shelf__par2_report_release(&rep);
    /* Repair still works with what is left, and gets the bytes right. */
    flip(path, 0, 0xff);
    flip(path, 3000, 0xff);
    flip(path, 40000, 0xff);
    ASSERT_OKM(err.msg, shelf__par2_repair(idx, NULL, &rep, &err));
    ASSERT_EQ_INT(rep.bad_slices, 3);
    shelf__par2_report_release(&rep);
    assert_file_is(path, d, n);
    free(d);
}

TEST(same_output_whatever_chunks_threads_and_kernel)
{
    const char *dir = test_tmpdir();
    const shelf__gf16_kernel *list;
    size_t nk = shelf__gf16_kernels(&list), n = 1500000, k;
    uint8_t *d = random_bytes(n);
    shelf__par2_params pr = { .redundancy = 3, .threads = 1 };
    char sub[PATH_MAX], a[PATH_MAX], b[PATH_MAX];
    char *fa, *fb;
    size_t na, nb;

    ASSERT_EQ_INT(mkdir(test_pathf(sub, sizeof sub, "%s/one", dir), 0700), 0);
    encode(sub, "f", d, n, &pr, 4096);
    pr.threads = 2;
    for (k = 0; k < nk; k++) {
        char vol[64];
        int r;

        pr.kernel = list[k].name;
        ASSERT_EQ_INT(mkdir(test_pathf(sub, sizeof sub, "%s/k%zu", dir, k), 0700), 0);
        encode(sub, "f", d, n, &pr, 0);
        for (r = 0; r < 3; r++) {
            static const char *files[] = { "f.par2", "f.vol00+01.par2", "f.vol31+28.par2" };
            snprintf(vol, sizeof vol, "%s", files[r]);
            fa = test_read_file(test_pathf(a, sizeof a, "%s/one/%s", dir, vol), &na);
            fb = test_read_file(test_pathf(b, sizeof b, "%s/k%zu/%s", dir, k, vol), &nb);
            ASSERT_EQ_INT(na, nb);
            if (memcmp(fa, fb, na))
                test__fail(__FILE__, __LINE__, "%s differs with kernel %s", vol, list[k].name);
            free(fa);
            free(fb);
        }
    }
    free(d);
}

TEST(bad_parameters_are_refused)
{
    shelf__par2_enc *enc = (shelf__par2_enc *)1;
    shelf__err err = { 0, "" };
    shelf__par2_params pr = { .redundancy = 10, .slice_size = 6 };
    shelf__par2_report rep;

    ASSERT_RC(SHELF_EINVAL, shelf__par2_enc_new("../x", 10, NULL, &enc, &err));
    ASSERT(enc == NULL);
    ASSERT_RC(SHELF_EINVAL, shelf__par2_enc_new("/abs", 10, NULL, &enc, &err));
    ASSERT_RC(SHELF_EINVAL, shelf__par2_enc_new("a//b", 10, NULL, &enc, &err));
    ASSERT_RC(SHELF_EINVAL, shelf__par2_enc_new("", 10, NULL, &enc, &err));
    ASSERT_RC(SHELF_EINVAL, shelf__par2_enc_new("x", 10, &pr, &enc, &err));
    pr.slice_size = 4;
    ASSERT_RC(SHELF_EINVAL, shelf__par2_enc_new("x", 4 * 32768 + 1, &pr, &enc, &err));
    ASSERT(strstr(err.msg, "32768") != NULL);
    pr.slice_size = 0;
    pr.kernel = "nope";
    ASSERT_RC(SHELF_EINVAL, shelf__par2_enc_new("x", 10, &pr, &enc, &err));
    pr.kernel = NULL;
    pr.redundancy = 0;
    ASSERT_RC(SHELF_EINVAL, shelf__par2_enc_new("x", 10, &pr, &enc, &err));
    /* More input than slices allowed. */
    pr.redundancy = 10;
    pr.slice_size = 4;
    ASSERT_OK(shelf__par2_enc_new("x", 4, &pr, &enc, &err));
    {
        uint8_t *big = calloc(1, 4 * 32768 + 4);
        ASSERT_RC(SHELF_EINVAL, shelf__par2_enc_update(enc, big, 4 * 32768 + 4, &err));
        free(big);
    }
    shelf__par2_enc_free(enc);
    /* An empty file: par2cmdline cannot verify such a set, so none is made. */
    ASSERT_OK(shelf__par2_enc_new("x", 0, NULL, &enc, &err));
    ASSERT_RC(SHELF_EINVAL, shelf__par2_enc_finish(enc, "/nonexistent/x", &err));
    ASSERT(strstr(err.msg, "empty") != NULL);
    shelf__par2_enc_free(enc);
    ASSERT_RC(SHELF_ENOTFOUND, shelf__par2_verify("/nonexistent/x.par2", NULL, &rep, &err));
    shelf__par2_report_release(&rep);
}

/* Append a packet of type to buf at *n (header and MD5 made here). */
static void put_packet(uint8_t *buf, size_t *n, const uint8_t set_id[16], const char type[16],
                       const uint8_t *body, size_t len)
{
    uint8_t *p = buf + *n;
    uint64_t total = 64 + len;
    int i;

    memcpy(p, "PAR2\0PKT", 8);
    for (i = 0; i < 8; i++)
        p[8 + i] = (uint8_t)(total >> (8 * i));
    memcpy(p + 32, set_id, 16);
    memcpy(p + 48, type, 16);
    memcpy(p + 64, body, len);
    md5_of(p + 32, 32 + len, p + 16);
    *n += 64 + len;
}

/* A hand-made set: one file called name of 100 bytes, slices of 100. */
static int resolve_named(const char *name, shelf__par2_set **out, shelf__err *err)
{
    uint8_t buf[1024], main_body[28], desc[56 + 64], set_id[16];
    size_t n = 0, nl = strlen(name);
    shelf__par2_set *set;

    memset(main_body, 0, sizeof main_body);
    main_body[0] = 100;                 /* slice size 100 */
    main_body[8] = 1;                   /* one file */
    memset(main_body + 12, 0xAB, 16);   /* its id */
    md5_of(main_body, sizeof main_body, set_id);
    memset(desc, 0, sizeof desc);
    memset(desc, 0xAB, 16);
    desc[48] = 100;                     /* length 100 */
    ASSERT(nl <= 64);
    memcpy(desc + 56, name, nl);
    put_packet(buf, &n, set_id, "PAR 2.0\0Main\0\0\0", main_body, sizeof main_body);
    put_packet(buf, &n, set_id, "PAR 2.0\0FileDesc", desc, 56 + (nl + 3) / 4 * 4);
    ASSERT_OK(shelf__par2_set_new(&set));
    ASSERT_OK(shelf__par2_set_scan_mem(set, buf, n));
    ASSERT_EQ_INT(set->packets_ok, 2);
    *out = set;
    return shelf__par2_set_resolve(set, err);
}

TEST(unsafe_names_in_a_set_are_refused)
{
    static const char *bad[] = { "../evil", "/etc/passwd", "a/../../b", "a//b", "./x", "" };
    shelf__par2_set *set;
    shelf__err err = { 0, "" };
    size_t i;

    ASSERT_OKM(err.msg, resolve_named("sub/ok.tar", &set, &err));
    ASSERT_EQ_STR(set->files[0].name, "sub/ok.tar");
    ASSERT_EQ_INT(set->files[0].size, 100);
    ASSERT_EQ_INT(set->files[0].nslices, 1);
    ASSERT(set->files[0].ifsc == NULL);     /* no checksum packet given */
    shelf__par2_set_free(set);
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ASSERT_RC(SHELF_EFORMAT, resolve_named(bad[i], &set, &err));
        ASSERT(strstr(err.msg, "name") != NULL || strstr(err.msg, "description") != NULL);
        shelf__par2_set_free(set);
    }
}

TEST(creator_and_set_of_our_index)
{
    const char *dir = test_tmpdir();
    char path[PATH_MAX];
    size_t n;
    shelf__par2_set *set;
    shelf__err err = { 0, "" };
    uint8_t *d = random_bytes(100);
    char *bytes;

    encode(dir, "good.bin", d, 100, NULL, 0);
    bytes = test_read_file(test_pathf(path, sizeof path, "%s/good.bin.par2", dir), &n);
    ASSERT_OK(shelf__par2_set_new(&set));
    ASSERT_OK(shelf__par2_set_scan_mem(set, bytes, n));
    ASSERT_EQ_INT(set->packets_ok, 4);      /* main, description, checksums, creator */
    ASSERT_OKM(err.msg, shelf__par2_set_resolve(set, &err));
    ASSERT_EQ_STR(set->files[0].name, "good.bin");
    ASSERT_EQ_INT(set->files[0].size, 100);
    ASSERT(set->files[0].ifsc != NULL);
    ASSERT_EQ_INT(set->nrecovery, 0);       /* the index holds no recovery data */
    ASSERT(set->creator && strstr(set->creator, "shelf"));
    shelf__par2_set_free(set);
    /* Every single bit flip of the index leaves either a refusal or the
     * same file description: a damaged packet is never believed. */
    for (size_t i = 0; i < n * 8; i += 7) {
        int rc;

        bytes[i / 8] ^= (char)(1 << (i % 8));
        ASSERT_OK(shelf__par2_set_new(&set));
        ASSERT_OK(shelf__par2_set_scan_mem(set, bytes, n));
        rc = shelf__par2_set_resolve(set, &err);
        if (rc == SHELF_OK) {
            ASSERT_EQ_STR(set->files[0].name, "good.bin");
            ASSERT_EQ_INT(set->files[0].size, 100);
        } else {
            ASSERT_RC(SHELF_EFORMAT, rc);
        }
        shelf__par2_set_free(set);
        bytes[i / 8] ^= (char)(1 << (i % 8));
    }
    free(bytes);
    free(d);
}

int main(int argc, char **argv)
{
    static const test_case tests[] = {
        TEST_ENTRY(gf_axioms),
        TEST_ENTRY(gf_tables_match_slow_multiply),
        TEST_ENTRY(gf_spec_constants),
        TEST_ENTRY(gf_split_roundtrip),
        TEST_ENTRY(gf_scalar_kernel_matches_words),
        TEST_ENTRY(gf_vector_kernels_match_scalar),
        TEST_ENTRY(par2cmdline_verifies_our_sets),
        TEST_ENTRY(par2cmdline_repairs_with_our_recovery_files),
        TEST_ENTRY(verify_reports_exactly_the_damaged_slices),
        TEST_ENTRY(repair_missing_file_and_longer_file),
        TEST_ENTRY(we_verify_and_repair_par2cmdline_sets),
        TEST_ENTRY(damaged_packets_are_skipped),
        TEST_ENTRY(same_output_whatever_chunks_threads_and_kernel),
        TEST_ENTRY(bad_parameters_are_refused),
        TEST_ENTRY(unsafe_names_in_a_set_are_refused),
        TEST_ENTRY(creator_and_set_of_our_index),
        TEST_END
    };
    return test_run(argc, argv, tests);
}
