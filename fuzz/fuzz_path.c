/*
 * fuzz_path.c: fuzz target for the path helpers of lib/common that take
 * names found on disk, in archives and in catalogs: shelf__path_under,
 * shelf__path_stem, shelf__path_ext and shelf__path_join.  The input is
 * split at its first NUL into a path and a directory (the directory is ""
 * when there is no NUL); each is capped at 4 KiB.  Invariants that callers
 * rely on are checked with abort().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "fuzz_target.h"
#include "common/common_int.h"
#include "media/media_int.h"

#define PART_MAX_BYTES 4096

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "fuzz_path: %s:%d: invariant failed: %s\n",      \
                    __FILE__, __LINE__, #cond);                              \
            abort();                                                         \
        }                                                                    \
    } while (0)

/* Copy data[0..n), capped, into buf as a string; embedded NULs end it. */
static void take(char *buf, const uint8_t *data, size_t n)
{
    if (n > PART_MAX_BYTES)
        n = PART_MAX_BYTES;
    if (n)
        memcpy(buf, data, n);
    buf[n] = '\0';
}

/* The result is NULL, or a suffix of path that starts after a '/' or at its end. */
static void check_under(const char *path, const char *dir)
{
    const char *r = shelf__path_under(path, dir);
    const char *end = path + strlen(path);

    if (r)
        CHECK(r >= path && r <= end && (r == end || (r > path && r[-1] == '/')));
}

static void check_stem_ext(const char *path)
{
    static char ext[PART_MAX_BYTES + 1];
    const char *base = strrchr(path, '/');
    char small[4], *stem;
    size_t ls, le, i;

    base = base ? base + 1 : path;

    stem = shelf__path_stem(path);
    CHECK(stem != NULL);
    ls = strlen(stem);
    CHECK(strchr(stem, '/') == NULL);
    CHECK(ls <= strlen(base) && !strncmp(stem, base, ls));

    shelf__path_ext(path, ext, sizeof ext);
    le = strlen(ext);
    CHECK(strchr(ext, '/') == NULL);
    for (i = 0; i < le; i++)
        CHECK(ext[i] < 'A' || ext[i] > 'Z');
    /* base is stem, or stem "." extension (the extension lowercased). */
    if (le) {
        CHECK(strlen(base) == ls + 1 + le && base[ls] == '.');
        CHECK(!strncasecmp(base + ls + 1, ext, le));
    } else {
        CHECK(ls == strlen(base) || (ls + 1 == strlen(base) && base[ls] == '.'));
    }
    CHECK(shelf__is_audio_ext(ext) == 0 || shelf__is_audio_ext(ext) == 1);

    /* A short buffer holds a terminated prefix; size 0 writes nothing. */
    memset(small, 'x', sizeof small);
    shelf__path_ext(path, small, 0);
    CHECK(small[0] == 'x');
    shelf__path_ext(path, small, sizeof small);
    CHECK(memchr(small, '\0', sizeof small) != NULL);
    CHECK(!strncmp(small, ext, strlen(small)));
    shelf_free(stem);
}

static void check_join(const char *a, const char *b)
{
    char *j = shelf__path_join(a, b);
    size_t la = strlen(a), lb = strlen(b), lj;

    CHECK(j != NULL);
    lj = strlen(j);
    CHECK(!strncmp(j, a, la));
    if (!lb) {
        CHECK(lj == la);
    } else {
        CHECK(lj == la + lb || lj == la + 1 + lb);
        CHECK(!strcmp(j + lj - lb, b));
    }
    shelf_free(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[PART_MAX_BYTES + 1], dir[PART_MAX_BYTES + 1];
    const uint8_t *nul = size ? memchr(data, '\0', size) : NULL;
    size_t n = nul ? (size_t)(nul - data) : size;

    take(path, data, n);
    if (nul)
        take(dir, nul + 1, size - n - 1);
    else
        dir[0] = '\0';

    check_under(path, dir);
    check_under(dir, path);
    CHECK(shelf__path_under(path, path) != NULL);
    CHECK(shelf__path_under(dir, dir) != NULL);
    check_stem_ext(path);
    check_stem_ext(dir);
    check_join(dir, path);
    return 0;
}
