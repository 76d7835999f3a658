/*
 * clock.c: the clock every schedule decision reads (shelf_clock_now):
 * the wall clock, or, for tests only, the Unix seconds in the file that
 * $SHELF_TEST_CLOCK names, read again on every call so a test moves time
 * while a process runs (doc/formats.md, "The test clock").
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include "common_int.h"

int shelf__clock_test(int64_t *now)
{
    const char *path = getenv("SHELF_TEST_CLOCK");
    char buf[32], *end;
    long long v;
    ssize_t n;
    int fd;

    if (!path || !*path || (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return 0;
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    errno = 0;
    v = strtoll(buf, &end, 10);
    if (end == buf || errno != 0 || v < 0 || (*end && *end != '\n' && *end != ' '))
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
