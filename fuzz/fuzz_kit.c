/*
 * fuzz_kit.c: fuzz target for the Hydrogen drum kit reader
 * (shelf__kit_parse): the input is a whole drumkit.xml.  Every string the
 * callback receives must be non-NULL and NUL-terminated (strlen runs over
 * each, so AddressSanitizer sees a missing terminator), the kit's fields
 * must keep their documented shape, and a failure must be one of the
 * documented codes with a one-line reason.  Broken invariants abort().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz_target.h"
#include "media/kit_int.h"

/* Report a broken invariant and abort, so the fuzzer keeps the input. */
#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "fuzz_kit: %s:%d: invariant failed: %s\n",       \
                    __FILE__, __LINE__, #cond);                              \
            abort();                                                         \
        }                                                                    \
    } while (0)

typedef struct seen {
    size_t input_size;
    size_t files;
} seen;

/* Touch every byte of s up to its NUL and return its length. */
static size_t check_string(const char *s)
{
    size_t n;

    CHECK(s != NULL);
    n = strlen(s);
    /* Only text of the input reaches the caller, never more than it. */
    CHECK(memchr(s, '\0', n + 1) == s + n);
    return n;
}

static void on_file(void *ud, const shelf__kit *kit, const char *instrument, const char *file)
{
    seen *s = ud;
    size_t n;

    CHECK(kit != NULL);
    check_string(kit->name);
    if (kit->author)
        CHECK(check_string(kit->author) > 0);
    if (kit->license)
        CHECK(check_string(kit->license) > 0);
    check_string(instrument);
    n = check_string(file);
    CHECK(n > 0);                       /* empty <filename> is skipped */
    CHECK(n <= s->input_size);
    s->files++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    seen s = { size, 0 };
    char reason[256];
    int rc;

    /* Not all NULs, so a reason left unterminated is caught. */
    memset(reason, 'x', sizeof reason);
    rc = shelf__kit_parse(data, size, on_file, &s, reason, sizeof reason);
    CHECK(memchr(reason, '\0', sizeof reason) != NULL);
    if (rc != SHELF_OK) {
        CHECK(rc == SHELF_EFORMAT || rc == SHELF_ENOMEM);
        CHECK(s.files == 0);            /* a failed call never calls back */
        CHECK(reason[0] != '\0');
        CHECK(strchr(reason, '\n') == NULL);
        return 0;
    }
    CHECK(reason[0] == '\0');
    /* Each <filename> needs more than 20 bytes of input. */
    CHECK(s.files <= size / 20 + 1);
    /* Without a NULL callback nothing changes. */
    CHECK(shelf__kit_parse(data, size, NULL, NULL, NULL, 0) == SHELF_OK);
    return 0;
}
