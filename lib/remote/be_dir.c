/*
 * be_dir.c: the folder backend: a repository on a mounted file system (USB
 * stick, SD card, NAS mount).  Names map to paths under the folder.  Saves
 * are atomic and create-only: temp file, fsync, rename without replacing,
 * fsync of the folder.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "remote_int.h"

typedef struct be_dir {
    shelf__backend be;
    char *root;
} be_dir;

#define TMP_PREFIX ".tmp-"

static char *path_of(be_dir *d, const char *name)
{
    return shelf__path_join(d->root, name);
}

/* A folder inside the repository that is a symbolic link would take reads
 * and writes outside it (a forged medium): refuse names that pass through
 * one.  whole: name itself is a folder to check too. */
static int link_on_way(be_dir *d, const char *name, int whole)
{
    size_t len = strlen(name), i;
    int rc = SHELF_OK;
    char *p;

    for (i = 1; i <= len && rc == SHELF_OK; i++) {
        struct stat sb;

        if (i < len ? name[i] != '/' : !whole)
            continue;
        if (!(p = shelf__asprintf("%s/%.*s", d->root, (int)i, name)))
            return shelf__seterr(&d->be.err, SHELF_ENOMEM, "out of memory");
        if (lstat(p, &sb) == 0 && S_ISLNK(sb.st_mode))
            rc = shelf__seterr(&d->be.err, SHELF_ECORRUPT,
                               "cannot use '%s': it is a symbolic link, and a repository keeps its files inside", p);
        shelf_free(p);
    }
    return rc;
}

/* Copy size bytes of src from offset 0 to fd; an errno value or 0
 * (EIO when src is shorter than size). */
static int copy_fd(int fd, int src, uint64_t size)
{
    char buf[1 << 16];
    uint64_t off = 0;

    while (off < size) {
        size_t want = size - off < sizeof buf ? (size_t)(size - off) : sizeof buf;
        ssize_t r = pread(src, buf, want, (off_t)off);
        int e;

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return errno;
        if (r == 0)
            return EIO;
        if ((e = shelf__write_all(fd, buf, (size_t)r)) != 0)
            return e;
        off += (uint64_t)r;
    }
    return 0;
}

/* Save name from memory (data, n) or, when src >= 0, from src's first
 * size bytes: a temp file, fsync, rename without replacing. */
static int save_any(shelf__backend *be, const char *name, const void *data, size_t n, int src,
                    uint64_t size)
{
    be_dir *d = (be_dir *)be;
    char *path = path_of(d, name), *parent = NULL, *tmp = NULL, *slash;
    int rc = SHELF_OK, fd = -1, e;

    if (!path)
        return shelf__seterr(&be->err, SHELF_ENOMEM, "out of memory");
    if (!(parent = shelf__strdup(path)) || !(slash = strrchr(parent, '/'))) {
        rc = shelf__seterr(&be->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    *slash = '\0';
    if (!(tmp = shelf__asprintf("%s/" TMP_PREFIX "XXXXXX", parent))) {
        rc = shelf__seterr(&be->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    /* The folders on the way are real ones inside the repository. */
    if ((e = shelf__mkdirs_beneath(d->root, parent, 0777)) != 0) {
        if (e == ELOOP || e == ENOTDIR)
            rc = shelf__seterr(&be->err, SHELF_ECORRUPT, "cannot save '%s': a folder on its way is a symbolic "
                               "link or a file, and a repository keeps its files inside", name);
        else
            rc = shelf__seterr_errno(&be->err, e, "cannot create '%s'", parent);
        tmp[0] = '\0';
        goto out;
    }
    fd = mkstemp(tmp);
    if (fd < 0) {
        rc = shelf__seterr_errno(&be->err, errno, "cannot write to '%s'", parent);
        tmp[0] = '\0';
        goto out;
    }
    e = src >= 0 ? copy_fd(fd, src, size) : shelf__write_all(fd, data, n);
    if (e != 0 || (fsync(fd) != 0 && (e = errno) != 0)) {
        rc = shelf__seterr_errno(&be->err, e, "cannot write '%s'", path);
        goto out;
    }
    if (close(fd) != 0) {
        fd = -1;
        rc = shelf__seterr_errno(&be->err, errno, "cannot write '%s'", path);
        goto out;
    }
    fd = -1;
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) != 0) {
        e = errno;
        if (e == EINVAL || e == ENOSYS) {
            /* A file system without RENAME_NOREPLACE: check, then rename.
             * Names are content hashes or random, so the race is benign. */
            struct stat sb;

            if (stat(path, &sb) == 0)
                e = EEXIST;
            else if (rename(tmp, path) == 0)
                e = 0;
            else
                e = errno;
        }
        if (e == EEXIST) {
            rc = shelf__seterr(&be->err, SHELF_EEXIST, "cannot save '%s': file exists", name);
            goto out;
        }
        if (e) {
            rc = shelf__seterr_errno(&be->err, e, "cannot rename '%s' to '%s'", tmp, path);
            goto out;
        }
    }
    tmp[0] = '\0';
    if ((e = shelf__fsync_dir(parent)) != 0)
        rc = shelf__seterr_errno(&be->err, e, "cannot sync '%s'", parent);
out:
    if (fd >= 0)
        close(fd);
    if (tmp && tmp[0])
        unlink(tmp);
    shelf_free(tmp);
    shelf_free(parent);
    shelf_free(path);
    return rc;
}

static int dir_save(shelf__backend *be, const char *name, const void *data, size_t n)
{
    return save_any(be, name, data, n, -1, 0);
}

static int dir_save_fd(shelf__backend *be, const char *name, int fd, uint64_t size)
{
    return save_any(be, name, NULL, 0, fd, size);
}

static int dir_load(shelf__backend *be, const char *name, uint64_t off, uint64_t len,
                    shelf__buf *out)
{
    char *path = path_of((be_dir *)be, name);
    int rc = SHELF_OK, fd = -1;
    struct stat sb;
    size_t got = 0;

    shelf__buf_reset(out);
    if (!path)
        return shelf__seterr(&be->err, SHELF_ENOMEM, "out of memory");
    if ((rc = link_on_way((be_dir *)be, name, 0)) != SHELF_OK) {
        shelf_free(path);
        return rc;
    }
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &sb) != 0) {
        rc = shelf__seterr_errno(&be->err, errno, "cannot open '%s'", path);
        goto out;
    }
    if (len == 0)
        len = off <= (uint64_t)sb.st_size ? (uint64_t)sb.st_size - off : 0;
    if (off > (uint64_t)sb.st_size || len > (uint64_t)sb.st_size - off || len > SIZE_MAX / 2) {
        rc = shelf__seterr(&be->err, SHELF_EIO, "cannot read '%s': short read", path);
        goto out;
    }
    if (shelf__buf_grow(out, (size_t)len) != SHELF_OK) {
        rc = shelf__seterr(&be->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    while (got < len) {
        ssize_t r = pread(fd, out->buf + got, (size_t)len - got, (off_t)(off + got));

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = shelf__seterr_errno(&be->err, errno, "cannot read '%s'", path);
            goto out;
        }
        if (r == 0) {
            rc = shelf__seterr(&be->err, SHELF_EIO, "cannot read '%s': short read", path);
            goto out;
        }
        got += (size_t)r;
    }
    out->len = got;
    out->buf[got] = '\0';
out:
    if (rc != SHELF_OK)
        shelf__buf_reset(out);
    if (fd >= 0)
        close(fd);
    shelf_free(path);
    return rc;
}

static int dir_stat(shelf__backend *be, const char *name, uint64_t *size)
{
    char *path = path_of((be_dir *)be, name);
    struct stat sb;
    int rc = SHELF_OK;

    *size = 0;
    if (!path)
        return shelf__seterr(&be->err, SHELF_ENOMEM, "out of memory");
    if ((rc = link_on_way((be_dir *)be, name, 0)) != SHELF_OK)
        ;
    else if (stat(path, &sb) != 0)
        rc = shelf__seterr_errno(&be->err, errno, "cannot stat '%s'", path);
    else if (!S_ISREG(sb.st_mode))
        rc = shelf__seterr(&be->err, SHELF_ENOTFOUND, "cannot stat '%s': not a file", path);
    else
        *size = (uint64_t)sb.st_size;
    shelf_free(path);
    return rc;
}

/* Walk path (whose name in the repository is name), calling cb for files. */
static int walk(be_dir *d, const char *path, const char *name, shelf__be_list_cb cb, void *ud)
{
    DIR *dh = opendir(path);
    struct dirent *de;
    int rc = SHELF_OK;

    if (!dh) {
        if (errno == ENOENT)
            return SHELF_OK;
        return shelf__seterr_errno(&d->be.err, errno, "cannot list '%s'", path);
    }
    while ((errno = 0, de = readdir(dh)) != NULL) {
        char *sub, *subname;
        struct stat sb;

        if (de->d_name[0] == '.')
            continue;       /* ".", "..", temp files */
        sub = shelf__path_join(path, de->d_name);
        subname = shelf__path_join(name, de->d_name);
        if (!sub || !subname) {
            shelf_free(sub);
            shelf_free(subname);
            rc = shelf__seterr(&d->be.err, SHELF_ENOMEM, "out of memory");
            break;
        }
        if (lstat(sub, &sb) == 0) {
            if (S_ISDIR(sb.st_mode))
                rc = walk(d, sub, subname, cb, ud);
            else if (S_ISREG(sb.st_mode))
                rc = cb(ud, subname, (uint64_t)sb.st_size);
        }
        shelf_free(sub);
        shelf_free(subname);
        if (rc != 0)
            break;
    }
    if (!de && errno && rc == SHELF_OK)
        rc = shelf__seterr_errno(&d->be.err, errno, "cannot list '%s'", path);
    closedir(dh);
    return rc;
}

static int dir_list(shelf__backend *be, const char *dir, shelf__be_list_cb cb, void *ud)
{
    be_dir *d = (be_dir *)be;
    char *path = path_of(d, dir);
    int rc;

    if (!path)
        return shelf__seterr(&be->err, SHELF_ENOMEM, "out of memory");
    if ((rc = link_on_way(d, dir, 1)) == SHELF_OK)
        rc = walk(d, path, dir, cb, ud);
    shelf_free(path);
    return rc;
}

static int dir_remove(shelf__backend *be, const char *name)
{
    char *path = path_of((be_dir *)be, name), *slash;
    int rc = SHELF_OK;

    if (!path)
        return shelf__seterr(&be->err, SHELF_ENOMEM, "out of memory");
    if ((rc = link_on_way((be_dir *)be, name, 0)) != SHELF_OK)
        ;
    else if (unlink(path) != 0) {
        rc = shelf__seterr_errno(&be->err, errno, "cannot remove '%s'", path);
    } else if ((slash = strrchr(path, '/')) != NULL) {
        /* Durable before the caller goes on (prune deletes in an order). */
        *slash = '\0';
        shelf__fsync_dir(path);
    }
    shelf_free(path);
    return rc;
}

static void dir_close(shelf__backend *be)
{
    be_dir *d = (be_dir *)be;

    shelf_free(d->root);
    shelf_free(be->location);
    shelf_free(d);
}

/* Temp files ".tmp-*" anywhere below the root (a killed save's). */
static uint64_t sweep_dir(const char *path, int depth)
{
    DIR *dh = depth < 4 ? opendir(path) : NULL;
    struct dirent *de;
    uint64_t n = 0;

    if (!dh)
        return 0;
    while ((de = readdir(dh)) != NULL) {
        struct stat sb;
        char *sub;

        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (!(sub = shelf__path_join(path, de->d_name)))
            break;
        if (lstat(sub, &sb) == 0) {
            if (S_ISDIR(sb.st_mode))
                n += sweep_dir(sub, depth + 1);
            else if (S_ISREG(sb.st_mode) && !strncmp(de->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) &&
                     unlink(sub) == 0)
                n++;
        }
        shelf_free(sub);
    }
    closedir(dh);
    return n;
}

static uint64_t dir_sweep(shelf__backend *be)
{
    return sweep_dir(((be_dir *)be)->root, 0);
}

static int dir_dup(shelf__backend *be, shelf__backend **out)
{
    return shelf__be_dir_open(((be_dir *)be)->root, 0, out, &be->err);
}

static const shelf__backend_ops dir_ops = {
    .kind = "dir", .save = dir_save, .load = dir_load, .stat = dir_stat, .list = dir_list,
    .remove = dir_remove, .close = dir_close, .sweep = dir_sweep, .save_fd = dir_save_fd,
    .dup = dir_dup
};

int shelf__be_dir_open(const char *path, int create, shelf__backend **out, shelf__err *err)
{
    be_dir *d = NULL;
    struct stat sb;
    int rc = SHELF_OK, e;

    *out = NULL;
    if (create && (e = shelf__mkdirs(path, 0777)) != 0)
        return shelf__seterr_errno(err, e, "cannot create '%s'", path);
    if (stat(path, &sb) != 0)
        return shelf__seterr_errno(err, errno, "cannot open repository '%s'", path);
    if (!S_ISDIR(sb.st_mode))
        return shelf__seterr(err, SHELF_EINVAL, "cannot open repository '%s': not a folder", path);
    if (!(d = shelf__calloc(1, sizeof *d)) || !(d->root = shelf__path_abs(path)) ||
        !(d->be.location = shelf__strdup(d->root))) {
        rc = shelf__seterr(err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    d->be.ops = &dir_ops;
    *out = &d->be;
    d = NULL;
out:
    if (d) {
        shelf_free(d->root);
        shelf_free(d);
    }
    return rc;
}
