/*
 * fuzz_media.c: fuzz target for the export-media index reader
 * (shelf__media_index_parse): the input is a whole DIR/index file as a
 * card may hold it after anyone wrote to it.  A success must have read
 * entries only from lines of the input; a failure must be SHELF_EFORMAT or
 * SHELF_ENOMEM with a one-line reason.  Broken invariants abort().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz_target.h"
#include "archive/archive_int.h"

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "fuzz_media: %s:%d: invariant failed: %s\n",     \
                    __FILE__, __LINE__, #cond);                              \
            abort();                                                         \
        }                                                                    \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    shelf__err err = { 0, "" };
    size_t entries = 0, lines = 0, i;
    int rc = shelf__media_index_parse(data, size, &entries, &err);

    for (i = 0; i < size; i++)
        lines += data[i] == '\n';
    if (rc == SHELF_OK) {
        /* The magic line is not an entry; every entry is a line. */
        CHECK(lines >= 1 && entries <= lines - 1);
        CHECK(err.msg[0] == '\0');
    } else {
        CHECK(rc == SHELF_EFORMAT || rc == SHELF_ENOMEM);
        CHECK(err.msg[0] != '\0' && !strchr(err.msg, '\n'));
    }
    return 0;
}
