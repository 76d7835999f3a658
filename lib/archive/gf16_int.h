/*
 * gf16_int.h: arithmetic in GF(2^16) with the generator polynomial of PAR2
 * (x^16 + x^12 + x^3 + x + 1, 0x1100B), for the Reed-Solomon code of
 * lib/archive/par2.c: single products, powers and inverses from log/exp
 * tables, and region kernels that add a constant times a region of 16-bit
 * words into another region (dst ^= c * src), in a portable scalar version
 * and vectorised versions (SSSE3 and AVX2 split-nibble pshufb tables, GFNI
 * bit-matrix multiplication on 256- and 512-bit registers) chosen at run
 * time from what the CPU supports.
 *
 * The region kernels work on the "split" layout: a region is a sequence of
 * 128-byte blocks, each holding 64 words, the low bytes of the 64 words
 * first (bytes 0..63) and their high bytes after (bytes 64..127).  PAR2
 * stores words little-endian; shelf__gf16_split and shelf__gf16_unsplit
 * convert between the two layouts.  Region lengths are multiples of
 * SHELF__GF16_BLOCK; regions need no particular alignment.
 *
 * Everything here is safe to call from several threads at once (the tables
 * are built once, under pthread_once, by the first call that needs them).
 */
#ifndef SHELF_GF16_INT_H
#define SHELF_GF16_INT_H

#include <stddef.h>
#include <stdint.h>

/* Region lengths are multiples of this many bytes (64 words). */
#define SHELF__GF16_BLOCK 128

/* Products, powers and inverses (inverse of 0 and division by 0 give 0). */
uint16_t shelf__gf16_mul(uint16_t a, uint16_t b);
uint16_t shelf__gf16_div(uint16_t a, uint16_t b);
uint16_t shelf__gf16_inv(uint16_t a);
uint16_t shelf__gf16_pow(uint16_t a, uint32_t e);
/* 2^e, the generator to the power e (e taken modulo 65535). */
uint16_t shelf__gf16_exp2(uint32_t e);

/*
 * A constant prepared for the region kernels: every kernel finds its own
 * form of c here (log, nibble tables, bit matrices).  Fill with
 * shelf__gf16_coef_init; 64-byte aligned so the tables share cache lines.
 */
typedef struct shelf__gf16_coef {
    uint8_t tab[8][16];     /* pshufb: tab[2k] low, tab[2k+1] high bytes of c * (v << 4k) */
    uint64_t mat[4];        /* GFNI 8x8 bit matrices: lo<-lo, lo<-hi, hi<-lo, hi<-hi */
    uint16_t c;
    uint16_t log;           /* log2(c), valid when c != 0 */
    uint8_t pad[28];
} __attribute__((aligned(64))) shelf__gf16_coef;

void shelf__gf16_coef_init(shelf__gf16_coef *coef, uint16_t c);

/*
 * A region kernel: dst[0..len) ^= sum over k < nsrc of coef[k] * (src[k] +
 * off)[0..len), all in the split layout; len a multiple of
 * SHELF__GF16_BLOCK.  Keeping the sum in registers across the sources is
 * what makes a multi-source call faster than nsrc single ones.  dst must
 * not overlap a source.
 */
typedef void (*shelf__gf16_muladd_fn)(uint8_t *dst, const uint8_t *const *src,
                                      const shelf__gf16_coef *coef, size_t nsrc,
                                      size_t off, size_t len);

typedef struct shelf__gf16_kernel {
    const char *name;       /* "scalar", "ssse3", "avx2", "gfni-avx2", "gfni-avx512" */
    shelf__gf16_muladd_fn muladd;
} shelf__gf16_kernel;

/*
 * The kernels this CPU can run, slowest first (list[0] is always the
 * scalar one); returns their number.  The list is static (borrowed).
 */
size_t shelf__gf16_kernels(const shelf__gf16_kernel **list);

/* The kernel used by default: the fastest this CPU runs, unless the
 * environment variable SHELF_GF16 names another one it can run. */
const shelf__gf16_kernel *shelf__gf16_best(void);

/* The kernel called name, or NULL when unknown or not supported here. */
const shelf__gf16_kernel *shelf__gf16_kernel_find(const char *name);

/* Convert len bytes (a multiple of SHELF__GF16_BLOCK) of little-endian
 * words to the split layout and back.  dst == src is allowed. */
void shelf__gf16_split(uint8_t *dst, const uint8_t *src, size_t len);
void shelf__gf16_unsplit(uint8_t *dst, const uint8_t *src, size_t len);

#endif /* SHELF_GF16_INT_H */
