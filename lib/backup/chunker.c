/*
 * chunker.c: content-defined chunking (FastCDC with normalized chunking).
 * The gear table is derived from the repository's secret chunker key, so
 * chunk boundaries (and so sizes) do not reveal content to someone who
 * only sees the repository.
 */
#include <string.h>
#include "backup_int.h"

/* 22 one-bits before the normal point, 18 after: cuts are rarer before it
 * and likelier after, so sizes gather around it.  High bits, because with
 * h = (h << 1) + gear[b] bit k depends on the last k + 1 bytes only. */
#define MASK_S (((UINT64_C(1) << 22) - 1) << 42)
#define MASK_L (((UINT64_C(1) << 18) - 1) << 46)

void shelf__gear_init(uint64_t gear[256], const uint8_t key[SHELF__KEY_BYTES])
{
    uint8_t in[SHELF__KEY_BYTES + 6], out[SHELF_HASH_BYTES];
    int i, k;

    memcpy(in, key, SHELF__KEY_BYTES);
    memcpy(in + SHELF__KEY_BYTES, "gear", 4);
    for (i = 0; i < 256; i++) {
        in[SHELF__KEY_BYTES + 4] = (uint8_t)i;
        in[SHELF__KEY_BYTES + 5] = 0;
        shelf__sha256_mem(in, sizeof in, out);
        gear[i] = 0;
        for (k = 0; k < 8; k++)
            gear[i] = (gear[i] << 8) | out[k];
    }
}

size_t shelf__chunk_cut(const uint64_t gear[256], const uint8_t *p, size_t n)
{
    size_t i = SHELF__CHUNK_MIN, normal = SHELF__CHUNK_AVG;
    uint64_t h = 0;

    if (n <= SHELF__CHUNK_MIN)
        return n;
    if (n > SHELF__CHUNK_MAX)
        n = SHELF__CHUNK_MAX;
    if (normal > n)
        normal = n;
    for (; i < normal; i++) {
        h = (h << 1) + gear[p[i]];
        if (!(h & MASK_S))
            return i + 1;
    }
    for (; i < n; i++) {
        h = (h << 1) + gear[p[i]];
        if (!(h & MASK_L))
            return i + 1;
    }
    return n;
}
