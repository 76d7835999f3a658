/*
 * fuzz_par2.c: fuzz target for the PAR2 packet reader (shelf__par2_set_scan_mem
 * and shelf__par2_set_resolve): the input is one .par2 file.  Damaged
 * packets must be skipped, never believed; what a resolved set describes
 * must keep the shapes verify and repair rely on (slice size a multiple of
 * 4, at most 32768 slices, slice counts that match the file sizes, safe
 * relative names, recovery slices sorted by exponent and lying inside the
 * input).  Each input runs twice: as it is, and with every packet's MD5
 * made right again, so mutations reach the checks behind the MD5 (which
 * the fuzzer could never satisfy by itself).  Broken invariants abort().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include "fuzz_target.h"
#include "archive/par2_int.h"

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "fuzz_par2: %s:%d: invariant failed: %s\n",      \
                    __FILE__, __LINE__, #cond);                              \
            abort();                                                         \
        }                                                                    \
    } while (0)

static void check_name(const char *name)
{
    size_t n, i, start = 0;

    CHECK(name != NULL);
    n = strlen(name);
    CHECK(n > 0 && name[0] != '/');
    for (i = 0; i <= n; i++)
        if (i == n || name[i] == '/') {
            CHECK(i > start);
            CHECK(!(i - start == 2 && name[start] == '.' && name[start + 1] == '.'));
            start = i + 1;
        }
}

/* Recompute the MD5 of every packet whose length fits (in place). */
static void resign(uint8_t *p, size_t size)
{
    size_t pos = 0;

    while (pos + 64 <= size) {
        uint64_t len = 0;
        unsigned n = 16;
        int i;

        if (memcmp(p + pos, "PAR2\0PKT", 8)) {
            pos++;
            continue;
        }
        for (i = 7; i >= 0; i--)
            len = len << 8 | p[pos + 8 + i];
        if (len < 64 || len % 4 || len > size - pos) {
            pos++;
            continue;
        }
        EVP_Digest(p + pos + 32, (size_t)len - 32, p + pos + 16, &n, EVP_md5(), NULL);
        pos += (size_t)len;
    }
}

static void run(const uint8_t *data, size_t size)
{
    shelf__par2_set *set = NULL;
    shelf__err err = { 0, "" };
    uint32_t f, total = 0, i;
    int rc;

    if (shelf__par2_set_new(&set) != SHELF_OK)
        return;
    CHECK(shelf__par2_set_scan_mem(set, data, size) == SHELF_OK);
    /* Each packet, good or bad, takes at least its 64-byte header... except
     * bad ones, which can overlap: at most one per byte. */
    CHECK((uint64_t)set->packets_ok * 64 <= size);
    CHECK(set->packets_bad <= size);
    rc = shelf__par2_set_resolve(set, &err);
    if (rc != SHELF_OK) {
        CHECK(rc == SHELF_EFORMAT || rc == SHELF_ENOMEM);
        CHECK(err.msg[0] != '\0' && strchr(err.msg, '\n') == NULL);
        CHECK(set->files == NULL && set->nfiles == 0);
        goto out;
    }
    CHECK(set->packets_ok >= 1);
    CHECK(set->slice_size > 0 && set->slice_size % 4 == 0);
    CHECK(set->slice_size <= ((uint64_t)1 << 30));
    CHECK(set->nslices <= SHELF__PAR2_MAX_SLICES);
    for (f = 0; f < set->nfiles; f++) {
        const shelf__par2_file *fl = &set->files[f];
        uint64_t ns = fl->size / set->slice_size + (fl->size % set->slice_size ? 1 : 0);

        CHECK(fl->have_desc);
        check_name(fl->name);
        CHECK(fl->nslices == ns);
        CHECK(fl->first == total);
        total += fl->nslices;
        if (fl->ifsc && fl->nslices) {
            /* The checksums were copied whole: touch them all. */
            volatile uint8_t x = 0;
            for (i = 0; i < fl->nslices * 20; i++)
                x ^= fl->ifsc[i];
            (void)x;
        }
    }
    CHECK(total == set->nslices);
    for (i = 0; i < set->nrecovery; i++) {
        const shelf__par2_rslice *r = &set->rec[i];
        CHECK(i == 0 || set->rec[i - 1].exponent < r->exponent);
        CHECK(r->source == 0);
        CHECK(r->offset >= 68 && r->offset + set->slice_size <= size);
    }
    if (set->creator)
        for (i = 0; set->creator[i]; i++)
            CHECK(set->creator[i] >= 0x20 && set->creator[i] <= 0x7e);
out:
    shelf__par2_set_free(set);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy;

    run(data, size);
    if (size > (1u << 20) || !(copy = malloc(size ? size : 1)))
        return 0;
    memcpy(copy, data, size);
    resign(copy, size);
    run(copy, size);
    free(copy);
    return 0;
}
