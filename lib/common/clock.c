/*
 * clock.c: the clock every schedule decision reads (shelf_clock_now):
 * the wall clock, or, for tests only, the Unix seconds in the file that
 * $SHELF_TEST_CLOCK names, read again on every call so a test moves time
 * while a process runs (doc/formats.md, "The test clock").
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "common_int.h"

int shelf__clock_test(int64_t *now)
{
    const char *path = getenv("SHELF_TEST_CLOCK");
    long long v;
    FILE *f;
    int n;

    if (!path || !*path || !(f = fopen(path, "r")))
        return 0;
    n = fscanf(f, "%lld", &v);
    (void)fclose(f);        /* read only */
    if (n != 1 || v < 0)
        return 0;
    *now = (int64_t)v;
    return 1;
}

int64_t shelf__clock_now(void)
{
    int64_t now;

    return shelf__clock_test(&now) ? now : (int64_t)time(NULL);
}

int64_t shelf_clock_now(void)
{
    return shelf__clock_now();
}
