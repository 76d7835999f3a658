/*
 * mix.c: the mix's inner loop (a run of frames of one voice from one chunk,
 * interpolated, scaled and added to the output) as plain C, and as AVX2
 * where the processor has it, chosen once per engine.
 *
 * Both kernels do the same operations on every frame in the same order:
 * a frame's value is a[0] + (a[ch] - a[0]) * frac, times the gain, added to
 * the output, each step rounded to float as C does it.  The vector kernel
 * computes 4 frames at once but never mixes the frames of one lane into
 * another, so a render is the same bit for bit with either kernel, and the
 * order in which voices are summed stays the caller's.  This file is built
 * with -ffp-contract=off: a compiler allowed to fuse a multiply and an add
 * (FMA) would round once where the other kernel rounds twice.
 */
#include <stdint.h>
#include "stream_int.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define MIX_AVX2 1
#endif

/* 2^-32: a position's fraction (its low 32 bits) as a float in [0, 1). */
#define FRAC_SCALE (1.0f / 4294967296.0f)

uint64_t shelf__mix_run_c(const float *cbase, int64_t cstart, int ch, uint64_t pos, uint64_t step, float g,
                          uint32_t m, float *out, float *last)
{
    float l = 0, r = 0;
    uint32_t k;

    if (ch == 1) {
        for (k = 0; k < m; k++, pos += step) {
            const float *a = cbase + ((int64_t)(pos >> 32) - cstart);
            float frac = (float)(uint32_t)pos * FRAC_SCALE;

            l = a[0] + (a[1] - a[0]) * frac;
            l *= g;
            out[2 * k] += l;
            out[2 * k + 1] += l;
        }
        r = l;
    } else {
        for (k = 0; k < m; k++, pos += step) {
            const float *a = cbase + (size_t)((int64_t)(pos >> 32) - cstart) * (size_t)ch;
            float frac = (float)(uint32_t)pos * FRAC_SCALE;

            l = a[0] + (a[ch] - a[0]) * frac;
            r = a[1] + (a[ch + 1] - a[1]) * frac;
            l *= g;
            r *= g;
            out[2 * k] += l;
            out[2 * k + 1] += r;
        }
    }
    last[0] = l;
    last[1] = r;
    return pos;
}

#ifdef MIX_AVX2
/*
 * 4 frames a step.  The positions relative to the chunk's first frame
 * (32.32) sit in four 64-bit lanes; their whole parts index a gather of
 * 64 bits a frame: the pair a[0], a[1] (and, from a + ch, a[ch],
 * a[ch + 1]) of a stereo or wider chunk, or a mono chunk's frame and the
 * one after it.  The fraction is the low 32 bits converted as C converts
 * an unsigned int to float: its two 16-bit halves are exact as floats and
 * their sum, hi * 65536 + lo, rounds once, to the same float.  The last
 * frame (and any left over) goes through the C kernel, which also sets
 * last.
 */
__attribute__((target("avx2"))) static uint64_t mix_run_avx2(const float *cbase, int64_t cstart, int ch,
                                                             uint64_t pos, uint64_t step, float g,
                                                             uint32_t m, float *out, float *last)
{
    const uint64_t rel0 = pos - ((uint64_t)cstart << 32), step2 = 2 * step, step3 = 3 * step;
    const uint64_t step4 = 4 * step;
    const __m256i lanes = _mm256_setr_epi64x(0, (long long)step, (long long)step2, (long long)step3);
    const __m256i by4 = _mm256_set1_epi64x((long long)step4);
    const __m256i lows = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
    const __m256i chv = _mm256_set1_epi64x(ch);
    const __m128i mask16 = _mm_set1_epi32(0xffff);
    const __m128 k65536 = _mm_set1_ps(65536.0f), scale = _mm_set1_ps(FRAC_SCALE);
    const __m256 gv = _mm256_set1_ps(g);
    const long long *base = (const long long *)(const void *)cbase;
    const long long *next = (const long long *)(const void *)(cbase + ch);
    __m256i rel = _mm256_add_epi64(_mm256_set1_epi64x((long long)rel0), lanes);
    uint32_t k = 0;

    for (; k + 4 < m; k += 4) {
        __m256i idx = _mm256_srli_epi64(rel, 32);
        __m128i fx = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(rel, lows));
        __m128 hi = _mm_cvtepi32_ps(_mm_srli_epi32(fx, 16));
        __m128 lo = _mm_cvtepi32_ps(_mm_and_si128(fx, mask16));
        __m128 f4 = _mm_mul_ps(_mm_add_ps(_mm_mul_ps(hi, k65536), lo), scale);
        __m256 frac = _mm256_set_m128(_mm_unpackhi_ps(f4, f4), _mm_unpacklo_ps(f4, f4));
        __m256 a0, a1, v;

        if (ch == 1) {
            __m256 pair = _mm256_castsi256_ps(_mm256_i64gather_epi64(base, idx, 4));
            a0 = _mm256_moveldup_ps(pair);
            a1 = _mm256_movehdup_ps(pair);
        } else {
            __m256i off = _mm256_mul_epu32(idx, chv);
            a0 = _mm256_castsi256_ps(_mm256_i64gather_epi64(base, off, 4));
            a1 = _mm256_castsi256_ps(_mm256_i64gather_epi64(next, off, 4));
        }
        v = _mm256_add_ps(a0, _mm256_mul_ps(_mm256_sub_ps(a1, a0), frac));
        v = _mm256_mul_ps(v, gv);
        _mm256_storeu_ps(out + 2 * k, _mm256_add_ps(_mm256_loadu_ps(out + 2 * k), v));
        rel = _mm256_add_epi64(rel, by4);
    }
    pos += step * k;
    return shelf__mix_run_c(cbase, cstart, ch, pos, step, g, m - k, out + 2 * k, last);
}
#endif

shelf__mix_fn shelf__mix_pick(int allow_simd)
{
#ifdef MIX_AVX2
    if (allow_simd && __builtin_cpu_supports("avx2"))
        return mix_run_avx2;
#else
    (void)allow_simd;
#endif
    return shelf__mix_run_c;
}
