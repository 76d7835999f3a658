/*
 * store.c: the content-addressed blob store (see store_int.h).
 *
 * Crash safety: a blob appears under its final name only by rename(2) of a
 * complete, fsynced temp file in the same folder, followed by an fsync of
 * the folder.  A crash leaves either no blob or a whole one, plus at worst a
 * temp file that gc removes.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "store_int.h"

#define COPY_BUF (1u << 20)

int shelf__store_init(shelf__store *st, const char *dir, shelf__err *err)
{
    int e;

    st->err = err;
    if (!(st->dir = shelf__path_abs(dir)))
        return shelf__seterr(err, SHELF_ENOMEM, "out of memory");
    if ((e = shelf__mkdirs(dir, 0777)) != 0) {
        int rc = shelf__seterr_errno(err, e, "cannot create '%s'", dir);

        shelf__store_release(st);
        return rc;
    }
    return SHELF_OK;
}

void shelf__store_release(shelf__store *st)
{
    shelf_free(st->dir);
    st->dir = NULL;
}

char *shelf__store_path(const shelf__store *st, const char *hex)
{
    return shelf__asprintf("%s/%.2s/%.2s/%s", st->dir, hex, hex + 2, hex);
}

void shelf__store_relpath(const char *hex, char out[SHELF__STORE_REL_MAX])
{
    snprintf(out, SHELF__STORE_REL_MAX, "objects/%.2s/%.2s/%.64s", hex, hex + 2, hex);
}

int shelf__store_relpath_ok(const char *rel)
{
    char want[SHELF__STORE_REL_MAX];
    const char *hex = strrchr(rel, '/');

    if (!hex || !shelf__is_hash_hex(++hex))
        return 0;
    shelf__store_relpath(hex, want);
    return strcmp(rel, want) == 0;
}

int shelf__store_has(const shelf__store *st, const char *hex)
{
    char *p = shelf__store_path(st, hex);
    struct stat sb;
    int r = p && stat(p, &sb) == 0 && S_ISREG(sb.st_mode);

    shelf_free(p);
    return r;
}

/*
 * Open a temp file for blob hex in its shard folder, creating the folder.
 * *tmp receives its path (owned), *final the blob's path (owned).
 */
static int open_temp(shelf__store *st, const char *hex, uint64_t size,
                     char **tmp, char **final)
{
    char *dir = NULL;
    int fd = -1, e;

    *tmp = NULL;
    if (!(*final = shelf__store_path(st, hex)) ||
        !(dir = shelf__asprintf("%s/%.2s/%.2s", st->dir, hex, hex + 2)) ||
        !(*tmp = shelf__asprintf("%s/" SHELF__STORE_TMP "%.16s-XXXXXX", dir, hex))) {
        shelf__seterr(st->err, SHELF_ENOMEM, "out of memory");
        goto fail;
    }
    if ((e = shelf__mkdirs(dir, 0777)) != 0) {
        shelf__seterr_errno(st->err, e, "cannot create '%s'", dir);
        goto fail;
    }
    if ((fd = mkostemp(*tmp, O_CLOEXEC)) < 0) {
        shelf__seterr_errno(st->err, errno, "cannot create '%s'", *tmp);
        goto fail;
    }
    (void)fchmod(fd, 0444);     /* blobs are write-once; a mode we cannot set is no harm */
    /* Reserve the space up front: contiguous where the file system can,
     * and ENOSPC now rather than half way. */
    if (size > 0 && (e = posix_fallocate(fd, 0, (off_t)size)) != 0 &&
        e != EOPNOTSUPP && e != EINVAL) {
        shelf__seterr_errno(st->err, e, "cannot allocate %llu bytes for '%s'",
                            (unsigned long long)size, *final);
        close(fd);
        unlink(*tmp);
        goto fail;
    }
    shelf_free(dir);
    return fd;
fail:
    shelf_free(dir);
    shelf_free(*tmp);
    shelf_free(*final);
    *tmp = *final = NULL;
    return -1;
}

/* Names that reach the file system must be hashes: no path tricks. */
static int check_hex(shelf__store *st, const char *hex)
{
    if (!hex || !shelf__is_hash_hex(hex))
        return shelf__seterr(st->err, SHELF_EINVAL, "invalid blob name '%s'", hex ? hex : "");
    return SHELF_OK;
}

/*
 * 1 when blob hex exists and its bytes still hash to its name.  A damaged
 * blob is not kept: the caller has the good bytes in hand and writes them
 * over it (rename replaces it whole).
 */
static int blob_good(shelf__store *st, const char *hex)
{
    shelf__err quiet = { 0 }, *saved = st->err;
    int rc;

    if (!shelf__store_has(st, hex))
        return 0;
    st->err = &quiet;
    rc = shelf__store_check(st, hex, NULL);
    st->err = saved;
    return rc == SHELF_OK;
}

int shelf__store_put_hashed(shelf__store *st, const char *hex, const void *data, size_t n,
                            int lazy)
{
    char *tmp, *final;
    int fd, e;

    if (blob_good(st, hex))
        return SHELF_OK;
    if ((fd = open_temp(st, hex, n, &tmp, &final)) < 0)
        return st->err->rc;
    if ((e = shelf__write_all(fd, data, n)) != 0) {
        close(fd);
        unlink(tmp);
        e = shelf__seterr_errno(st->err, e, "cannot write '%s'", tmp);
    } else if (!lazy) {
        e = shelf__commit_temp(st->err, fd, tmp, final);
    } else if (((void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE), close(fd) != 0) ||
               rename(tmp, final) != 0) {
        /* the write-back starts now (sync_file_range), so the disk works
         * while the next blob arrives and shelf__store_sync waits less */
        /* durable once shelf__store_sync returns; until then a crash may
         * leave it short, which blob_good finds and the next put repairs */
        e = shelf__seterr_errno(st->err, errno, "cannot write '%s'", final);
        unlink(tmp);
    } else {
        e = SHELF_OK;
    }
    shelf_free(tmp);
    shelf_free(final);
    return e;
}

int shelf__store_put_mem(shelf__store *st, const void *data, size_t n,
                         char hex[SHELF_HASH_HEX])
{
    uint8_t h[SHELF_HASH_BYTES];

    shelf__sha256_mem(data, n, h);
    shelf__hex(h, sizeof h, hex);
    return shelf__store_put_hashed(st, hex, data, n, 0);
}

int shelf__store_sync(shelf__store *st)
{
    int fd = open(st->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = SHELF_OK;

    if (fd < 0 || syncfs(fd) != 0)
        rc = shelf__seterr_errno(st->err, errno, "cannot sync '%s' to disk", st->dir);
    if (fd >= 0)
        (void)close(fd);
    return rc;
}

int shelf__store_put_file(shelf__store *st, const char *path, const char *hex)
{
    uint8_t h[SHELF_HASH_BYTES];
    char got[SHELF_HASH_HEX], *tmp = NULL, *final = NULL, *buf = NULL;
    shelf__sha256 *sha = NULL;
    int in = -1, out = -1, rc = SHELF_OK, e;
    struct stat sb;

    if ((rc = check_hex(st, hex)) != SHELF_OK)
        return rc;
    if (blob_good(st, hex))
        return SHELF_OK;
    if ((in = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(in, &sb) != 0) {
        rc = shelf__seterr_errno(st->err, errno, "cannot open '%s'", path);
        goto out;
    }
    if (!(buf = shelf__malloc(COPY_BUF)) || !(sha = shelf__sha256_new())) {
        rc = shelf__seterr(st->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    if ((out = open_temp(st, hex, (uint64_t)sb.st_size, &tmp, &final)) < 0) {
        rc = st->err->rc;
        goto out;
    }
    for (;;) {
        ssize_t n = read(in, buf, COPY_BUF);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = shelf__seterr_errno(st->err, errno, "cannot read '%s'", path);
            goto out;
        }
        if (n == 0)
            break;
        shelf__sha256_update(sha, buf, (size_t)n);
        if ((e = shelf__write_all(out, buf, (size_t)n)) != 0) {
            rc = shelf__seterr_errno(st->err, e, "cannot write '%s'", tmp);
            goto out;
        }
    }
    shelf__sha256_final(sha, h);
    shelf__hex(h, sizeof h, got);
    if (strcmp(got, hex) != 0) {
        rc = shelf__seterr(st->err, SHELF_ECORRUPT, "'%s' changed while it was copied", path);
        goto out;
    }
    rc = shelf__commit_temp(st->err, out, tmp, final);
    out = -1;
    shelf_free(tmp);
    tmp = NULL;
out:
    if (out >= 0) {
        close(out);
        unlink(tmp);
    }
    if (in >= 0)
        close(in);
    shelf__sha256_free(sha);
    shelf_free(buf);
    shelf_free(tmp);
    shelf_free(final);
    return rc;
}

int shelf__store_check(shelf__store *st, const char *hex, uint64_t *size)
{
    uint8_t h[SHELF_HASH_BYTES];
    char got[SHELF_HASH_HEX], *p = NULL, *buf = NULL;
    int fd = -1, rc, e;

    if (size)
        *size = 0;
    if ((rc = check_hex(st, hex)) != SHELF_OK)
        return rc;
    p = shelf__store_path(st, hex);
    if (!p || !(buf = shelf__malloc(COPY_BUF))) {
        rc = shelf__seterr(st->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    if ((fd = open(p, O_RDONLY | O_CLOEXEC)) < 0) {
        rc = shelf__seterr_errno(st->err, errno, "cannot open '%s'", p);
        goto out;
    }
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    if ((e = shelf__sha256_fd(fd, buf, COPY_BUF, h, size)) != 0) {
        rc = shelf__seterr_errno(st->err, e, "cannot read '%s'", p);
        goto out;
    }
    shelf__hex(h, sizeof h, got);
    if (strcmp(got, hex) != 0)
        rc = shelf__seterr(st->err, SHELF_ECORRUPT, "blob '%s' is corrupt", p);
out:
    if (fd >= 0)
        close(fd);
    shelf_free(buf);
    shelf_free(p);
    return rc;
}

int shelf__store_remove(shelf__store *st, const char *hex)
{
    char *p;
    int rc;

    if ((rc = check_hex(st, hex)) != SHELF_OK)
        return rc;
    if (!(p = shelf__store_path(st, hex)))
        return shelf__seterr(st->err, SHELF_ENOMEM, "out of memory");
    if (unlink(p) != 0 && errno != ENOENT)
        rc = shelf__seterr_errno(st->err, errno, "cannot remove '%s'", p);
    shelf_free(p);
    return rc;
}

/* Walk one level of folder dir; depth 0 and 1 are shard folders. */
static int walk_dir(shelf__store *st, const char *dir, int depth,
                    shelf__store_walk_cb cb, void *ud)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int rc = SHELF_OK;

    if (!d)
        return errno == ENOENT ? SHELF_OK
                               : shelf__seterr_errno(st->err, errno, "cannot read '%s'", dir);
    while (rc == SHELF_OK && (de = readdir(d)) != NULL) {
        struct stat sb;
        char *p;

        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (!(p = shelf__path_join(dir, de->d_name))) {
            rc = shelf__seterr(st->err, SHELF_ENOMEM, "out of memory");
            break;
        }
        if (lstat(p, &sb) == 0) {
            if (S_ISDIR(sb.st_mode) && depth < 2)
                rc = walk_dir(st, p, depth + 1, cb, ud);
            else if (S_ISREG(sb.st_mode))
                rc = cb(ud, depth == 2 && shelf__is_hash_hex(de->d_name) ? de->d_name : NULL,
                        p, (uint64_t)sb.st_size);
        }
        shelf_free(p);
    }
    closedir(d);
    return rc;
}

int shelf__store_walk(shelf__store *st, shelf__store_walk_cb cb, void *ud)
{
    return walk_dir(st, st->dir, 0, cb, ud);
}
