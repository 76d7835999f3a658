/*
 * fuzz_davxml.c: fuzz target for the WebDAV multistatus parser
 * (shelf__dav_multistatus in lib/remote/dav_xml.c): the input is the body
 * of a 207 reply to PROPFIND.  Every entry has a non-empty href that is a
 * NUL-terminated string no longer than the input; a failure is SHELF_EIO
 * or SHELF_ENOMEM with a one-line reason.  A second pass stops at the
 * first entry and must return the callback's code.  Broken invariants
 * abort().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz_target.h"
#include "remote/dav_int.h"

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "fuzz_davxml: %s:%d: invariant failed: %s\n",    \
                    __FILE__, __LINE__, #cond);                              \
            abort();                                                         \
        }                                                                    \
    } while (0)

typedef struct seen {
    size_t input, entries;
    int stop;
} seen;

static int on_entry(void *ud, const shelf__dav_entry *e)
{
    seen *s = ud;
    size_t n;

    CHECK(e && e->href);
    n = strlen(e->href);
    CHECK(n > 0 && n <= s->input);
    CHECK(e->is_dir == 0 || e->is_dir == 1);
    s->entries++;
    return s->stop ? 12345 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    shelf__err err = { 0, "" };
    seen s = { size, 0, 0 };
    int rc;

    rc = shelf__dav_multistatus(data, size, on_entry, &s, &err);
    if (rc != SHELF_OK) {
        CHECK(rc == SHELF_EIO || rc == SHELF_ENOMEM);
        CHECK(err.rc == rc && err.msg[0] && !strchr(err.msg, '\n'));
        return 0;
    }
    if (s.entries) {
        seen s2 = { size, 0, 1 };

        CHECK(shelf__dav_multistatus(data, size, on_entry, &s2, &err) == 12345);
        CHECK(s2.entries == 1);
    }
    return 0;
}
