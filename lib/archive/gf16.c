/*
 * gf16.c: GF(2^16) arithmetic for PAR2 (generator 0x1100B): log/exp
 * tables, prepared constants, the region kernels (scalar, SSSE3 and AVX2
 * pshufb, GFNI on AVX2 and AVX-512 registers) and the conversions between
 * little-endian words and the split layout the kernels use (gf16_int.h).
 *
 * The vector kernels are compiled with target attributes, so the rest of
 * the library keeps the generic flags; which ones may run is decided once
 * with __builtin_cpu_supports.
 *
 * How the vector kernels multiply: the product c * w is linear in the bits
 * of w.  Split w into four nibbles (two per byte) and the product is the
 * XOR of four table lookups c * (v << 4k), each giving a low and a high
 * byte: eight 16-entry tables, which is what pshufb looks up 16 or 32 bytes
 * at a time.  GFNI's gf2p8affineqb multiplies every byte by an 8x8 bit
 * matrix; the 16x16 bit matrix of "times c" is four such blocks (low byte
 * from low byte, low from high, high from low, high from high), so four
 * instructions multiply 64 words held as 64 low bytes and 64 high bytes.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "gf16_int.h"

#if defined(__x86_64__) || defined(__i386__)
#define GF16_X86 1
#include <immintrin.h>
#else
#define GF16_X86 0
#endif

#define GF16_POLY 0x1100Bu
#define GF16_ORDER 65535u

static uint16_t gf_log[65536];
static uint16_t gf_exp[2 * 65536];      /* doubled: no modulo after adding logs */
static pthread_once_t gf_once = PTHREAD_ONCE_INIT;

static void gf_build(void)
{
    uint32_t x = 1, i;

    for (i = 0; i < GF16_ORDER; i++) {
        gf_exp[i] = (uint16_t)x;
        gf_log[x] = (uint16_t)i;
        x <<= 1;
        if (x & 0x10000u)
            x ^= GF16_POLY;
    }
    for (i = GF16_ORDER; i < 2 * 65536; i++)
        gf_exp[i] = gf_exp[i - GF16_ORDER];
    gf_log[0] = 0;      /* never used for 0: callers test for it */
}

static void gf_init(void)
{
    pthread_once(&gf_once, gf_build);
}

uint16_t shelf__gf16_mul(uint16_t a, uint16_t b)
{
    gf_init();
    if (!a || !b)
        return 0;
    return gf_exp[(uint32_t)gf_log[a] + gf_log[b]];
}

uint16_t shelf__gf16_div(uint16_t a, uint16_t b)
{
    gf_init();
    if (!a || !b)
        return 0;
    return gf_exp[(uint32_t)gf_log[a] + GF16_ORDER - gf_log[b]];
}

uint16_t shelf__gf16_inv(uint16_t a)
{
    return shelf__gf16_div(1, a);
}

uint16_t shelf__gf16_pow(uint16_t a, uint32_t e)
{
    gf_init();
    if (!a)
        return e ? 0 : 1;
    return gf_exp[(uint32_t)(((uint64_t)gf_log[a] * e) % GF16_ORDER)];
}

uint16_t shelf__gf16_exp2(uint32_t e)
{
    gf_init();
    return gf_exp[e % GF16_ORDER];
}

/* Transpose an 8x8 bit matrix held as byte r = row r, bit c = column c. */
static uint64_t transpose8(uint64_t x)
{
    uint64_t t;

    t = (x ^ (x >> 7)) & 0x00AA00AA00AA00AAull;
    x ^= t ^ (t << 7);
    t = (x ^ (x >> 14)) & 0x0000CCCC0000CCCCull;
    x ^= t ^ (t << 14);
    t = (x ^ (x >> 28)) & 0x00000000F0F0F0F0ull;
    x ^= t ^ (t << 28);
    return x;
}

void shelf__gf16_coef_init(shelf__gf16_coef *coef, uint16_t c)
{
    uint16_t p[16], s[16];
    uint64_t lo_lo = 0, lo_hi = 0, hi_lo = 0, hi_hi = 0;
    int b, k, v;

    gf_init();
    coef->c = c;
    coef->log = c ? gf_log[c] : 0;
    /* p[b] = c * x^b: each is the previous one times x. */
    p[0] = c;
    for (b = 1; b < 16; b++)
        p[b] = (uint16_t)((p[b - 1] << 1) ^ ((p[b - 1] & 0x8000) ? 0x100B : 0));
    /* Nibble tables: c * (v << 4k) is the XOR of p[4k + bit] over v's bits. */
    for (k = 0; k < 4; k++) {
        s[0] = 0;
        for (v = 1; v < 16; v++)
            s[v] = (uint16_t)(s[v & (v - 1)] ^ p[4 * k + __builtin_ctz((unsigned)v)]);
        for (v = 0; v < 16; v++) {
            coef->tab[2 * k][v] = (uint8_t)(s[v] & 0xff);
            coef->tab[2 * k + 1][v] = (uint8_t)(s[v] >> 8);
        }
    }
    /* gf2p8affineqb: output bit i is the parity of (input & byte 7-i of the
     * matrix), so byte 7-i lists which input bits feed output bit i: the
     * transpose of "row b = the product of input bit b", bytes reversed. */
    for (b = 0; b < 8; b++) {
        lo_lo |= (uint64_t)(p[b] & 0xff) << (8 * b);
        lo_hi |= (uint64_t)(p[8 + b] & 0xff) << (8 * b);
        hi_lo |= (uint64_t)(p[b] >> 8) << (8 * b);
        hi_hi |= (uint64_t)(p[8 + b] >> 8) << (8 * b);
    }
    coef->mat[0] = __builtin_bswap64(transpose8(lo_lo));
    coef->mat[1] = __builtin_bswap64(transpose8(lo_hi));
    coef->mat[2] = __builtin_bswap64(transpose8(hi_lo));
    coef->mat[3] = __builtin_bswap64(transpose8(hi_hi));
}

/* ---- layout conversions --------------------------------------------------- */

void shelf__gf16_split(uint8_t *dst, const uint8_t *src, size_t len)
{
    size_t o;

    for (o = 0; o + SHELF__GF16_BLOCK <= len; o += SHELF__GF16_BLOCK) {
#if GF16_X86 && defined(__SSE2__)
        __m128i x[8], m = _mm_set1_epi16(0x00ff);
        int j;

        for (j = 0; j < 8; j++)
            x[j] = _mm_loadu_si128((const __m128i *)(src + o + 16 * j));
        for (j = 0; j < 4; j++) {
            __m128i a = x[2 * j], b = x[2 * j + 1];
            _mm_storeu_si128((__m128i *)(dst + o + 16 * j),
                             _mm_packus_epi16(_mm_and_si128(a, m), _mm_and_si128(b, m)));
            _mm_storeu_si128((__m128i *)(dst + o + 64 + 16 * j),
                             _mm_packus_epi16(_mm_srli_epi16(a, 8), _mm_srli_epi16(b, 8)));
        }
#else
        uint8_t t[SHELF__GF16_BLOCK];
        int j;

        for (j = 0; j < 64; j++) {
            t[j] = src[o + 2 * j];
            t[64 + j] = src[o + 2 * j + 1];
        }
        memcpy(dst + o, t, sizeof t);
#endif
    }
}

void shelf__gf16_unsplit(uint8_t *dst, const uint8_t *src, size_t len)
{
    size_t o;

    for (o = 0; o + SHELF__GF16_BLOCK <= len; o += SHELF__GF16_BLOCK) {
#if GF16_X86 && defined(__SSE2__)
        __m128i lo[4], hi[4];
        int j;

        for (j = 0; j < 4; j++) {
            lo[j] = _mm_loadu_si128((const __m128i *)(src + o + 16 * j));
            hi[j] = _mm_loadu_si128((const __m128i *)(src + o + 64 + 16 * j));
        }
        for (j = 0; j < 4; j++) {
            _mm_storeu_si128((__m128i *)(dst + o + 32 * j), _mm_unpacklo_epi8(lo[j], hi[j]));
            _mm_storeu_si128((__m128i *)(dst + o + 32 * j + 16), _mm_unpackhi_epi8(lo[j], hi[j]));
        }
#else
        uint8_t t[SHELF__GF16_BLOCK];
        int j;

        for (j = 0; j < 64; j++) {
            t[2 * j] = src[o + j];
            t[2 * j + 1] = src[o + 64 + j];
        }
        memcpy(dst + o, t, sizeof t);
#endif
    }
}

/* ---- scalar kernel ---------------------------------------------------------- */

static void muladd_scalar(uint8_t *dst, const uint8_t *const *src,
                          const shelf__gf16_coef *coef, size_t nsrc, size_t off, size_t len)
{
    size_t k, o;
    int j;

    gf_init();
    for (k = 0; k < nsrc; k++) {
        const uint8_t *s = src[k] + off;
        uint32_t lc = coef[k].log;

        if (!coef[k].c)
            continue;
        for (o = 0; o < len; o += SHELF__GF16_BLOCK)
            for (j = 0; j < 64; j++) {
                uint32_t w = s[o + j] | (uint32_t)s[o + 64 + j] << 8;
                uint16_t p;

                if (!w)
                    continue;
                p = gf_exp[gf_log[w] + lc];
                dst[o + j] ^= (uint8_t)(p & 0xff);
                dst[o + 64 + j] ^= (uint8_t)(p >> 8);
            }
    }
}

#if GF16_X86

/* ---- SSSE3: pshufb on 16 bytes ------------------------------------------- */

__attribute__((target("ssse3")))
static void muladd_ssse3(uint8_t *dst, const uint8_t *const *src,
                         const shelf__gf16_coef *coef, size_t nsrc, size_t off, size_t len)
{
    const __m128i m = _mm_set1_epi8(0x0f);
    size_t k, o;
    int j;

    for (o = 0; o < len; o += SHELF__GF16_BLOCK)
        for (j = 0; j < 64; j += 16) {
            __m128i al = _mm_loadu_si128((const __m128i *)(dst + o + j));
            __m128i ah = _mm_loadu_si128((const __m128i *)(dst + o + 64 + j));

            for (k = 0; k < nsrc; k++) {
                const uint8_t *s = src[k] + off + o;
                const __m128i *t = (const __m128i *)coef[k].tab;
                __m128i l = _mm_loadu_si128((const __m128i *)(s + j));
                __m128i h = _mm_loadu_si128((const __m128i *)(s + 64 + j));
                __m128i n0 = _mm_and_si128(l, m), n1 = _mm_and_si128(_mm_srli_epi16(l, 4), m);
                __m128i n2 = _mm_and_si128(h, m), n3 = _mm_and_si128(_mm_srli_epi16(h, 4), m);

                al = _mm_xor_si128(al, _mm_xor_si128(
                        _mm_xor_si128(_mm_shuffle_epi8(_mm_load_si128(t + 0), n0),
                                      _mm_shuffle_epi8(_mm_load_si128(t + 2), n1)),
                        _mm_xor_si128(_mm_shuffle_epi8(_mm_load_si128(t + 4), n2),
                                      _mm_shuffle_epi8(_mm_load_si128(t + 6), n3))));
                ah = _mm_xor_si128(ah, _mm_xor_si128(
                        _mm_xor_si128(_mm_shuffle_epi8(_mm_load_si128(t + 1), n0),
                                      _mm_shuffle_epi8(_mm_load_si128(t + 3), n1)),
                        _mm_xor_si128(_mm_shuffle_epi8(_mm_load_si128(t + 5), n2),
                                      _mm_shuffle_epi8(_mm_load_si128(t + 7), n3))));
            }
            _mm_storeu_si128((__m128i *)(dst + o + j), al);
            _mm_storeu_si128((__m128i *)(dst + o + 64 + j), ah);
        }
}

/* ---- AVX2: pshufb on 32 bytes (the tables in both lanes) ----------------- */

__attribute__((target("avx2")))
static void muladd_avx2(uint8_t *dst, const uint8_t *const *src,
                        const shelf__gf16_coef *coef, size_t nsrc, size_t off, size_t len)
{
    const __m256i m = _mm256_set1_epi8(0x0f);
    size_t k, o;
    int j;

    for (o = 0; o < len; o += SHELF__GF16_BLOCK)
        for (j = 0; j < 64; j += 32) {
            __m256i al = _mm256_loadu_si256((const __m256i *)(dst + o + j));
            __m256i ah = _mm256_loadu_si256((const __m256i *)(dst + o + 64 + j));

            for (k = 0; k < nsrc; k++) {
                const uint8_t *s = src[k] + off + o;
                const __m128i *t = (const __m128i *)coef[k].tab;
                __m256i l = _mm256_loadu_si256((const __m256i *)(s + j));
                __m256i h = _mm256_loadu_si256((const __m256i *)(s + 64 + j));
                __m256i n0 = _mm256_and_si256(l, m);
                __m256i n1 = _mm256_and_si256(_mm256_srli_epi16(l, 4), m);
                __m256i n2 = _mm256_and_si256(h, m);
                __m256i n3 = _mm256_and_si256(_mm256_srli_epi16(h, 4), m);

#define T(i) _mm256_broadcastsi128_si256(_mm_load_si128(t + (i)))
                al = _mm256_xor_si256(al, _mm256_xor_si256(
                        _mm256_xor_si256(_mm256_shuffle_epi8(T(0), n0), _mm256_shuffle_epi8(T(2), n1)),
                        _mm256_xor_si256(_mm256_shuffle_epi8(T(4), n2), _mm256_shuffle_epi8(T(6), n3))));
                ah = _mm256_xor_si256(ah, _mm256_xor_si256(
                        _mm256_xor_si256(_mm256_shuffle_epi8(T(1), n0), _mm256_shuffle_epi8(T(3), n1)),
                        _mm256_xor_si256(_mm256_shuffle_epi8(T(5), n2), _mm256_shuffle_epi8(T(7), n3))));
#undef T
            }
            _mm256_storeu_si256((__m256i *)(dst + o + j), al);
            _mm256_storeu_si256((__m256i *)(dst + o + 64 + j), ah);
        }
}

/* ---- GFNI on 32-byte registers (VEX encoding: GFNI + AVX2) --------------- */

__attribute__((target("gfni,avx2")))
static void muladd_gfni_avx2(uint8_t *dst, const uint8_t *const *src,
                             const shelf__gf16_coef *coef, size_t nsrc, size_t off, size_t len)
{
    size_t k, o;

    for (o = 0; o < len; o += SHELF__GF16_BLOCK) {
        __m256i l0 = _mm256_loadu_si256((const __m256i *)(dst + o));
        __m256i l1 = _mm256_loadu_si256((const __m256i *)(dst + o + 32));
        __m256i h0 = _mm256_loadu_si256((const __m256i *)(dst + o + 64));
        __m256i h1 = _mm256_loadu_si256((const __m256i *)(dst + o + 96));

        for (k = 0; k < nsrc; k++) {
            const uint8_t *s = src[k] + off + o;
            __m256i m0 = _mm256_set1_epi64x((long long)coef[k].mat[0]);
            __m256i m1 = _mm256_set1_epi64x((long long)coef[k].mat[1]);
            __m256i m2 = _mm256_set1_epi64x((long long)coef[k].mat[2]);
            __m256i m3 = _mm256_set1_epi64x((long long)coef[k].mat[3]);
            __m256i a0 = _mm256_loadu_si256((const __m256i *)s);
            __m256i a1 = _mm256_loadu_si256((const __m256i *)(s + 32));
            __m256i b0 = _mm256_loadu_si256((const __m256i *)(s + 64));
            __m256i b1 = _mm256_loadu_si256((const __m256i *)(s + 96));

            l0 = _mm256_xor_si256(l0, _mm256_xor_si256(_mm256_gf2p8affine_epi64_epi8(a0, m0, 0),
                                                       _mm256_gf2p8affine_epi64_epi8(b0, m1, 0)));
            l1 = _mm256_xor_si256(l1, _mm256_xor_si256(_mm256_gf2p8affine_epi64_epi8(a1, m0, 0),
                                                       _mm256_gf2p8affine_epi64_epi8(b1, m1, 0)));
            h0 = _mm256_xor_si256(h0, _mm256_xor_si256(_mm256_gf2p8affine_epi64_epi8(a0, m2, 0),
                                                       _mm256_gf2p8affine_epi64_epi8(b0, m3, 0)));
            h1 = _mm256_xor_si256(h1, _mm256_xor_si256(_mm256_gf2p8affine_epi64_epi8(a1, m2, 0),
                                                       _mm256_gf2p8affine_epi64_epi8(b1, m3, 0)));
        }
        _mm256_storeu_si256((__m256i *)(dst + o), l0);
        _mm256_storeu_si256((__m256i *)(dst + o + 32), l1);
        _mm256_storeu_si256((__m256i *)(dst + o + 64), h0);
        _mm256_storeu_si256((__m256i *)(dst + o + 96), h1);
    }
}

/* ---- GFNI on 64-byte registers (EVEX: GFNI + AVX-512BW) ------------------ */

__attribute__((target("gfni,avx512f,avx512bw")))
static void muladd_gfni_avx512(uint8_t *dst, const uint8_t *const *src,
                               const shelf__gf16_coef *coef, size_t nsrc, size_t off, size_t len)
{
    size_t k, o = 0;

    /* Two blocks per pass: each source's matrices are loaded once for both. */
    for (; o + 2 * SHELF__GF16_BLOCK <= len; o += 2 * SHELF__GF16_BLOCK) {
        __m512i l0 = _mm512_loadu_si512(dst + o), h0 = _mm512_loadu_si512(dst + o + 64);
        __m512i l1 = _mm512_loadu_si512(dst + o + 128), h1 = _mm512_loadu_si512(dst + o + 192);

        for (k = 0; k < nsrc; k++) {
            const uint8_t *s = src[k] + off + o;
            __m512i m0 = _mm512_set1_epi64((long long)coef[k].mat[0]);
            __m512i m1 = _mm512_set1_epi64((long long)coef[k].mat[1]);
            __m512i m2 = _mm512_set1_epi64((long long)coef[k].mat[2]);
            __m512i m3 = _mm512_set1_epi64((long long)coef[k].mat[3]);
            __m512i a0 = _mm512_loadu_si512(s), b0 = _mm512_loadu_si512(s + 64);
            __m512i a1 = _mm512_loadu_si512(s + 128), b1 = _mm512_loadu_si512(s + 192);

            l0 = _mm512_ternarylogic_epi64(l0, _mm512_gf2p8affine_epi64_epi8(a0, m0, 0),
                                           _mm512_gf2p8affine_epi64_epi8(b0, m1, 0), 0x96);
            h0 = _mm512_ternarylogic_epi64(h0, _mm512_gf2p8affine_epi64_epi8(a0, m2, 0),
                                           _mm512_gf2p8affine_epi64_epi8(b0, m3, 0), 0x96);
            l1 = _mm512_ternarylogic_epi64(l1, _mm512_gf2p8affine_epi64_epi8(a1, m0, 0),
                                           _mm512_gf2p8affine_epi64_epi8(b1, m1, 0), 0x96);
            h1 = _mm512_ternarylogic_epi64(h1, _mm512_gf2p8affine_epi64_epi8(a1, m2, 0),
                                           _mm512_gf2p8affine_epi64_epi8(b1, m3, 0), 0x96);
        }
        _mm512_storeu_si512(dst + o, l0);
        _mm512_storeu_si512(dst + o + 64, h0);
        _mm512_storeu_si512(dst + o + 128, l1);
        _mm512_storeu_si512(dst + o + 192, h1);
    }
    for (; o < len; o += SHELF__GF16_BLOCK) {
        __m512i l0 = _mm512_loadu_si512(dst + o), h0 = _mm512_loadu_si512(dst + o + 64);

        for (k = 0; k < nsrc; k++) {
            const uint8_t *s = src[k] + off + o;
            __m512i a0 = _mm512_loadu_si512(s), b0 = _mm512_loadu_si512(s + 64);

            l0 = _mm512_ternarylogic_epi64(
                l0, _mm512_gf2p8affine_epi64_epi8(a0, _mm512_set1_epi64((long long)coef[k].mat[0]), 0),
                _mm512_gf2p8affine_epi64_epi8(b0, _mm512_set1_epi64((long long)coef[k].mat[1]), 0), 0x96);
            h0 = _mm512_ternarylogic_epi64(
                h0, _mm512_gf2p8affine_epi64_epi8(a0, _mm512_set1_epi64((long long)coef[k].mat[2]), 0),
                _mm512_gf2p8affine_epi64_epi8(b0, _mm512_set1_epi64((long long)coef[k].mat[3]), 0), 0x96);
        }
        _mm512_storeu_si512(dst + o, l0);
        _mm512_storeu_si512(dst + o + 64, h0);
    }
}

#endif /* GF16_X86 */

/* ---- selection -------------------------------------------------------------- */

static shelf__gf16_kernel kernels[5];
static size_t nkernels;
static const shelf__gf16_kernel *best;
static pthread_once_t kernels_once = PTHREAD_ONCE_INIT;

static void kernels_build(void)
{
    const char *want;
    size_t i;

    kernels[nkernels++] = (shelf__gf16_kernel){ "scalar", muladd_scalar };
#if GF16_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("ssse3"))
        kernels[nkernels++] = (shelf__gf16_kernel){ "ssse3", muladd_ssse3 };
    if (__builtin_cpu_supports("avx2"))
        kernels[nkernels++] = (shelf__gf16_kernel){ "avx2", muladd_avx2 };
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("gfni"))
        kernels[nkernels++] = (shelf__gf16_kernel){ "gfni-avx2", muladd_gfni_avx2 };
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("gfni"))
        kernels[nkernels++] = (shelf__gf16_kernel){ "gfni-avx512", muladd_gfni_avx512 };
#endif
    best = &kernels[nkernels - 1];
    want = getenv("SHELF_GF16");
    if (want)
        for (i = 0; i < nkernels; i++)
            if (strcmp(kernels[i].name, want) == 0)
                best = &kernels[i];
}

size_t shelf__gf16_kernels(const shelf__gf16_kernel **list)
{
    gf_init();
    pthread_once(&kernels_once, kernels_build);
    *list = kernels;
    return nkernels;
}

const shelf__gf16_kernel *shelf__gf16_best(void)
{
    gf_init();
    pthread_once(&kernels_once, kernels_build);
    return best;
}

const shelf__gf16_kernel *shelf__gf16_kernel_find(const char *name)
{
    const shelf__gf16_kernel *list;
    size_t i, n = shelf__gf16_kernels(&list);

    for (i = 0; name && i < n; i++)
        if (strcmp(list[i].name, name) == 0)
            return &list[i];
    return NULL;
}
