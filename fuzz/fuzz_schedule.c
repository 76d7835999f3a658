/*
 * fuzz_schedule.c: fuzz target for schedule specs as people type them on
 * the command line (shelf_schedule_spec, lib/service/spec.c).  Invariants:
 * it answers SHELF_OK or SHELF_EINVAL; an accepted spec has a period of
 * one minute to 52 weeks and a next time strictly after the time given;
 * a refused one has a column inside the text (or just past it) and one
 * line of message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz_target.h"
#include "shelf/shelf.h"

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "fuzz_schedule: %s:%d: invariant failed: %s\n",  \
                    __FILE__, __LINE__, #cond);                              \
            abort();                                                         \
        }                                                                    \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const int64_t after = 1765000000;
    int64_t next, period;
    char *s, *err = NULL;
    int rc, col;

    if (size > 4096 || !(s = malloc(size + 1)))
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    rc = shelf_schedule_spec(s, after, &next, &period, &col, &err);
    CHECK(rc == SHELF_OK || rc == SHELF_EINVAL);
    if (rc == SHELF_OK) {
        CHECK(err == NULL && col == 0);
        CHECK(period >= 60 && period <= 52 * 7 * 86400);
        CHECK(next > after && next <= after + period + 86400);
    } else {
        CHECK(err != NULL && strchr(err, '\n') == NULL);
        CHECK(col >= 1 && (size_t)col <= strlen(s) + 1);
    }
    shelf_free(err);
    free(s);
    return 0;
}
