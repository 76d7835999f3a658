/*
 * file.c: writing files whole and removing folders: the few file-system
 * steps every module needs, written once.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include "common_int.h"

int shelf__write_all(int fd, const void *data, size_t n)
{
    const char *p = data;

    while (n) {
        ssize_t w = write(fd, p, n);

        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return errno;
        if (w == 0)
            return EIO;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* nftw has no user pointer: the first failure of this thread's walk. */
static _Thread_local int rm_err;

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    int r;

    (void)sb;
    (void)ftw;
    r = flag == FTW_DP ? rmdir(path) : unlink(path);
    if (r != 0 && errno != ENOENT && rm_err == 0)
        rm_err = errno;
    return 0;
}

int shelf__rmtree(const char *path)
{
    struct stat sb;

    if (lstat(path, &sb) != 0)
        return errno == ENOENT ? 0 : errno;
    if (!S_ISDIR(sb.st_mode))
        return unlink(path) == 0 || errno == ENOENT ? 0 : errno;
    rm_err = 0;
    if (nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0 && rm_err == 0)
        rm_err = errno ? errno : EIO;
    return rm_err;
}

int shelf__commit_temp(shelf__err *e, int fd, const char *tmp, const char *final)
{
    const char *slash = strrchr(final, '/');
    char *dir = NULL;
    int en;

    /* The folder's name before anything moves: out of memory leaves no
     * file behind. */
    if (!(dir = slash ? shelf__strndup(final, slash == final ? 1 : (size_t)(slash - final))
                      : shelf__strdup("."))) {
        (void)close(fd);
        (void)unlink(tmp);
        return shelf__seterr(e, SHELF_ENOMEM, "out of memory");
    }
    if (fsync(fd) != 0) {
        en = errno;
        (void)close(fd);
        (void)unlink(tmp);
        shelf_free(dir);
        return shelf__seterr_errno(e, en, "cannot sync '%s'", tmp);
    }
    if (close(fd) != 0) {
        en = errno;
        (void)unlink(tmp);
        shelf_free(dir);
        return shelf__seterr_errno(e, en, "cannot write '%s'", tmp);
    }
    if (rename(tmp, final) != 0) {
        en = errno;
        (void)unlink(tmp);
        shelf_free(dir);
        return shelf__seterr_errno(e, en, "cannot rename '%s' to '%s'", tmp, final);
    }
    en = shelf__fsync_dir(dir);
    shelf_free(dir);
    if (en)
        return shelf__seterr_errno(e, en, "cannot sync the folder of '%s'", final);
    return SHELF_OK;
}

int shelf__write_file_atomic(shelf__err *e, const char *path, const void *data, size_t n,
                             unsigned mode)
{
    static atomic_uint seq;
    char *tmp;
    const char *slash = strrchr(path, '/');
    int fd, en;

    if (!(tmp = shelf__asprintf("%.*s.%s.tmp-%ld-%u", slash ? (int)(slash - path + 1) : 0, path,
                                slash ? slash + 1 : path, (long)getpid(),
                                atomic_fetch_add(&seq, 1u))))
        return shelf__seterr(e, SHELF_ENOMEM, "out of memory");
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, (mode_t)mode)) < 0) {
        en = errno;
        shelf__seterr_errno(e, en, "cannot create '%s'", tmp);
        shelf_free(tmp);
        return e->rc;
    }
    if ((en = shelf__write_all(fd, data, n)) != 0) {
        (void)close(fd);
        (void)unlink(tmp);
        shelf__seterr_errno(e, en, "cannot write '%s'", tmp);
        shelf_free(tmp);
        return e->rc;
    }
    en = shelf__commit_temp(e, fd, tmp, path);
    shelf_free(tmp);
    return en;
}

int shelf__read_file(shelf__err *e, const char *path, size_t max, shelf__buf *out)
{
    struct stat sb;
    size_t got = 0;
    int fd, rc = SHELF_OK;

    shelf__buf_reset(out);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        if (errno == ENOENT)
            return shelf__seterr(e, SHELF_ENOTFOUND, "'%s' is not there", path);
        return shelf__seterr_errno(e, errno, "cannot open '%s'", path);
    }
    if (fstat(fd, &sb) != 0) {
        rc = shelf__seterr_errno(e, errno, "cannot read '%s'", path);
    } else if (!S_ISREG(sb.st_mode) || (uint64_t)sb.st_size > max) {
        rc = shelf__seterr(e, SHELF_EINVAL, "'%s' is not a file of at most %zu bytes", path, max);
    } else if ((rc = shelf__buf_grow(out, (size_t)sb.st_size + 1)) != SHELF_OK) {
        rc = shelf__seterr(e, rc, "out of memory");
    } else {
        /* the size stat gave, or less when the file shrank meanwhile */
        while (got < (size_t)sb.st_size) {
            ssize_t r = read(fd, out->buf + got, (size_t)sb.st_size - got);

            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0) {
                rc = shelf__seterr_errno(e, errno, "cannot read '%s'", path);
                break;
            }
            if (r == 0)
                break;
            got += (size_t)r;
        }
        out->len = got;
    }
    (void)close(fd);
    return rc;
}

int shelf__run_lock(shelf__err *e, const char *dir, const char *name)
{
    char *path = shelf__path_join(dir, name);
    int fd = -2, err;

    if (!path) {
        shelf__seterr(e, SHELF_ENOMEM, "out of memory");
        return -2;
    }
    if ((err = shelf__mkdirs(dir, 0777)) != 0) {
        shelf__seterr_errno(e, err, "cannot create '%s'", dir);
    } else if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666)) < 0) {
        fd = -2;
        shelf__seterr_errno(e, errno, "cannot open '%s'", path);
    } else if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        err = errno;
        close(fd);
        fd = err == EWOULDBLOCK ? -1 : -2;
        if (fd == -2)
            shelf__seterr_errno(e, err, "cannot lock '%s'", path);
    }
    free(path);
    return fd;
}

int shelf__run_locked(const char *dir, const char *name)
{
    char *path = shelf__path_join(dir, name);
    int fd, held = 0;

    if (path && (fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
        if (flock(fd, LOCK_SH | LOCK_NB) != 0)
            held = errno == EWOULDBLOCK;
        close(fd);      /* drops the shared lock taken to look */
    }
    free(path);
    return held;
}
