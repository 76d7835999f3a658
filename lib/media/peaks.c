/*
 * peaks.c: a sample's waveform overview, min and max per bucket over every
 * channel, read with libsndfile once and then kept in the library's cache
 * by content (include/shelf/catalog.h, shelf_sample_peaks; the file in
 * doc/formats.md, "Peaks cache").  The cache is named by the bytes' SHA-256,
 * so it never goes stale: the same bytes anywhere have the same peaks, and
 * a waveform still shows for a file that is gone or archived.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sndfile.h>
#include "media_int.h"
#include "../catalog/catalog_int.h"

#define PEAKS_MAGIC "SHLFPKS1"
#define BLOCK_SAMPLES 65536     /* samples (frames x channels) read at a time */

/* DIR/peaks/ab/<sha256>-<n>, owned. */
static char *cache_path(shelf_library *lib, const char *sha, int n)
{
    char *dir = shelf__cache_dir(lib), *p;

    if (!dir)
        return NULL;
    p = shelf__asprintf("%s/peaks/%.2s/%s-%d", dir, sha, sha, n);
    free(dir);
    return p;
}

/* The cached peaks, when a whole file of this n is there: 1, else 0. */
static int cache_read(const char *path, int n, float *lo, float *hi)
{
    size_t want = 16 + 8 * (size_t)n;
    unsigned char *buf = NULL;
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC), ok = 0, i;

    if (fd < 0)
        return 0;
    if (fstat(fd, &st) == 0 && (size_t)st.st_size == want && (buf = malloc(want)) &&
        read(fd, buf, want) == (ssize_t)want && !memcmp(buf, PEAKS_MAGIC, 8)) {
        uint32_t got = (uint32_t)buf[8] | (uint32_t)buf[9] << 8 | (uint32_t)buf[10] << 16 | (uint32_t)buf[11] << 24;

        if (got == (uint32_t)n) {
            for (i = 0; i < n; i++) {
                memcpy(&lo[i], buf + 16 + 8 * (size_t)i, 4);
                memcpy(&hi[i], buf + 20 + 8 * (size_t)i, 4);
                ok = lo[i] >= -1.0f && lo[i] <= 1.0f && hi[i] >= -1.0f && hi[i] <= 1.0f;
                if (!ok)
                    break;
            }
        }
    }
    free(buf);
    close(fd);
    return ok;
}

/* Best effort: a cache that cannot be written only costs a decode. */
static void cache_write(const char *path, int n, const float *lo, const float *hi)
{
    size_t len = 16 + 8 * (size_t)n;
    unsigned char *buf = calloc(1, len);
    char *dir = shelf__strdup(path), *slash;
    shelf__err err = { 0, "" };
    int i;

    if (buf && dir && (slash = strrchr(dir, '/'))) {
        *slash = '\0';
        memcpy(buf, PEAKS_MAGIC, 8);
        buf[8] = (unsigned char)n;
        buf[9] = (unsigned char)(n >> 8);
        buf[10] = (unsigned char)(n >> 16);
        buf[11] = (unsigned char)(n >> 24);
        for (i = 0; i < n; i++) {
            memcpy(buf + 16 + 8 * (size_t)i, &lo[i], 4);
            memcpy(buf + 20 + 8 * (size_t)i, &hi[i], 4);
        }
        if (shelf__mkdirs(dir, 0777) == 0)
            (void)shelf__write_file_atomic(&err, path, buf, len, 0666);
    }
    free(dir);
    free(buf);
}

/* Decode the file at path into n buckets. */
static int decode(shelf_library *lib, const char *path, int64_t frames_hint, int n, float *lo, float *hi)
{
    SF_INFO info;
    SNDFILE *sf;
    float *buf;
    int64_t frames, f = 0, i;
    sf_count_t block, got, k;
    int fd, c;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return shelf__seterr_errno(&lib->err, errno, "cannot open '%s'", path);
    memset(&info, 0, sizeof info);
    if (!(sf = sf_open_fd(fd, SFM_READ, &info, 1)) || info.channels <= 0) {
        int rc = shelf__seterr(&lib->err, SHELF_EFORMAT, "cannot decode '%s': %s", path, sf_strerror(sf));

        if (sf)
            sf_close(sf);
        return rc;
    }
    frames = info.frames > 0 ? info.frames : frames_hint;
    block = info.channels < BLOCK_SAMPLES ? BLOCK_SAMPLES / info.channels : 1;
    if (!(buf = shelf__malloc((size_t)block * (size_t)info.channels * sizeof *buf))) {
        sf_close(sf);
        return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    }
    for (i = 0; i < n; i++) {
        lo[i] = 2.0f;           /* empty: lo > hi */
        hi[i] = -2.0f;
    }
    /* Bucket of frame f: f * n / frames; min and max over every channel. */
    while (frames > 0 && (got = sf_readf_float(sf, buf, block)) > 0)
        for (k = 0; k < got; k++, f++) {
            int64_t b = f < frames ? f * n / frames : n - 1;

            for (c = 0; c < info.channels; c++) {
                float x = buf[k * info.channels + c];

                x = x < -1.0f ? -1.0f : x > 1.0f ? 1.0f : x;
                if (x < lo[b])
                    lo[b] = x;
                if (x > hi[b])
                    hi[b] = x;
            }
        }
    /* A sample shorter than n frames leaves buckets without a frame: each
     * shows the one before it (silence at the start). */
    for (i = 0; i < n; i++)
        if (lo[i] > hi[i]) {
            lo[i] = i > 0 ? lo[i - 1] : 0.0f;
            hi[i] = i > 0 ? hi[i - 1] : 0.0f;
        }
    free(buf);
    sf_close(sf);
    return SHELF_OK;
}

int shelf_sample_peaks(shelf_library *lib, int64_t id, int n, float *lo, float *hi, int *cached)
{
    shelf_cursor *cur = NULL;
    const shelf_sample *s = NULL;
    char *cpath = NULL, *path = NULL;
    int rc;

    if (cached)
        *cached = 0;
    if (!lib || !lo || !hi || n < SHELF_PEAKS_MIN || n > SHELF_PEAKS_MAX)
        return lib ? shelf__seterr(&lib->err, SHELF_EINVAL, "peaks: n must be %d to %d", SHELF_PEAKS_MIN,
                                   SHELF_PEAKS_MAX) : SHELF_EINVAL;
    if ((rc = shelf_catalog_get(lib, id, &cur, &s)) != SHELF_OK)
        return rc;
    if (s->sha256 && shelf__is_hash_hex(s->sha256) && (cpath = cache_path(lib, s->sha256, n)) &&
        cache_read(cpath, n, lo, hi)) {
        if (cached)
            *cached = 1;
        goto out;
    }
    if ((rc = shelf_catalog_path(lib, s, &path)) != SHELF_OK)
        goto out;
    if ((rc = decode(lib, path, s->frames, n, lo, hi)) == SHELF_OK && cpath)
        cache_write(cpath, n, lo, hi);
    if (rc == SHELF_ENOTFOUND)
        shelf__seterr(&lib->err, rc, "file missing: %s", path);
out:
    shelf_cursor_free(cur);
    free(cpath);
    shelf_free(path);
    return rc;
}
