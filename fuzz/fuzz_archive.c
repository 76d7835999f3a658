/*
 * fuzz_archive.c: fuzz target for the reader of archives from strangers
 * (shelf__bag_read from memory, then shelf__bag_check): the input is a
 * whole archive (tar in any dialect, zip, compressed or not).  Nothing is
 * unpacked to disk.  Invariants: the result is one of the documented codes
 * with a one-line message; an accepted archive has one top folder, only
 * safe names, no two names equal but for case, sizes that add up to the
 * payload counted, and hashes that match any tag file's bytes; problems
 * carry a kind, a path and one line of detail.  Broken invariants abort().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "fuzz_target.h"
#include "archive/archive_int.h"

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "fuzz_archive: %s:%d: invariant failed: %s\n",   \
                    __FILE__, __LINE__, #cond);                              \
            abort();                                                         \
        }                                                                    \
    } while (0)

static void check_line(const char *s)
{
    CHECK(s != NULL);
    CHECK(strchr(s, '\n') == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    shelf__bag_limits lim;
    shelf_archive_limits pub;
    shelf__bag bag;
    shelf__err err = { 0, "" };
    uint64_t payload = 0, nfiles = 0;
    size_t i, j;
    int rc;

    memset(&pub, 0, sizeof pub);
    pub.max_bytes = 64u << 20;          /* keep each run small */
    pub.max_files = 10000;
    shelf__bag_limits_init(&lim, &pub);
    lim.ratio_after = 1u << 20;
    rc = shelf__bag_read(NULL, data, size, &lim, NULL, NULL, NULL, &bag, &err);
    CHECK(rc == SHELF_OK || rc == SHELF_EFORMAT || rc == SHELF_ENOMEM);
    if (rc != SHELF_OK) {
        CHECK(err.rc == rc);
        CHECK(err.msg[0] != '\0');
        check_line(err.msg);
        shelf__bag_release(&bag);
        return 0;
    }
    CHECK(bag.base != NULL && *bag.base && !strchr(bag.base, '/'));
    for (i = 0; i < bag.nfiles; i++) {
        shelf__bag_file *f = &bag.files[i];

        CHECK(shelf__bag_name_unsafe(f->path) == NULL);
        CHECK(f->staged == NULL);
        if (!strncmp(f->path, "data/", 5)) {
            payload += f->size;
            nfiles++;
            CHECK(f->text == NULL);
        } else {
            uint8_t h[SHELF_HASH_BYTES];

            CHECK(f->text != NULL);
            shelf__sha256_mem(f->text, (size_t)f->size, h);
            CHECK(!memcmp(h, f->sha256, sizeof h));
        }
        for (j = 0; j < i; j++)
            CHECK(strcasecmp(bag.files[j].path, f->path) != 0);
    }
    CHECK(payload == bag.payload_bytes && nfiles == bag.payload_files);
    CHECK(payload <= pub.max_bytes);
    rc = shelf__bag_check(&bag, &err);
    CHECK(rc == SHELF_OK || rc == SHELF_ECORRUPT || rc == SHELF_EFORMAT || rc == SHELF_ENOMEM);
    if (rc != SHELF_OK)
        check_line(err.msg);
    if (rc == SHELF_OK)
        CHECK(bag.nproblems == 0 && !bag.truncated);
    for (i = 0; i < bag.nproblems; i++) {
        CHECK(bag.problems[i].kind == SHELF_ARCHIVE_MISSING || bag.problems[i].kind == SHELF_ARCHIVE_UNLISTED ||
              bag.problems[i].kind == SHELF_ARCHIVE_CORRUPT);
        check_line(bag.problems[i].path);
        check_line(bag.problems[i].detail);
    }
    shelf__bag_release(&bag);
    return 0;
}
