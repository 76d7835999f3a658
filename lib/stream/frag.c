/*
 * frag.c: storage tools for streaming: how fragmented a file is (the
 * FIEMAP ioctl lists its extents; physically adjacent extents count as one
 * fragment) and rewriting a file contiguously (free space checked with
 * statvfs, fallocate of the whole size, copy, fsync, the original mode and
 * times restored, atomic rename, folder fsync).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include "stream_int.h"

#define BATCH 256

static int fail(char **errmsg, int rc, const char *fmt, const char *path, int e)
{
    if (errmsg) {
        char buf[1200];
        snprintf(buf, sizeof buf, fmt, path);
        if (e)
            *errmsg = shelf__asprintf("%s: %s", buf, shelf__errno_str(e));
        else
            *errmsg = shelf__strdup(buf);
    }
    return rc;
}

/* Extents of an open file into out (size known). */
static int extents(int fd, shelf_frag_info *out)
{
    size_t sz = sizeof(struct fiemap) + BATCH * sizeof(struct fiemap_extent);
    struct fiemap *fm = shelf__calloc(1, sz);
    uint64_t start = 0, last_end = 0;
    int have_last = 0, done = 0;

    if (!fm)
        return ENOMEM;
    while (!done) {
        uint32_t i;

        memset(fm, 0, sz);
        fm->fm_start = start;
        fm->fm_length = FIEMAP_MAX_OFFSET - start;
        fm->fm_flags = FIEMAP_FLAG_SYNC;
        fm->fm_extent_count = BATCH;
        if (ioctl(fd, FS_IOC_FIEMAP, fm) < 0) {
            int e = errno;
            free(fm);
            return e;
        }
        if (fm->fm_mapped_extents == 0)
            break;
        for (i = 0; i < fm->fm_mapped_extents; i++) {
            struct fiemap_extent *x = &fm->fm_extents[i];
            out->extents++;
            if (!have_last || x->fe_physical != last_end)
                out->fragments++;
            have_last = 1;
            last_end = x->fe_physical + x->fe_length;
            start = x->fe_logical + x->fe_length;
            if (x->fe_flags & FIEMAP_EXTENT_LAST)
                done = 1;
        }
    }
    free(fm);
    return 0;
}

int shelf_frag_file(const char *path, shelf_frag_info *out, char **errmsg)
{
    struct stat st;
    struct statvfs vfs;
    int fd, e;

    memset(out, 0, sizeof *out);
    if (errmsg)
        *errmsg = NULL;
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        e = errno;
        return fail(errmsg, shelf__errno_rc(e), "cannot open '%s'", path, e);
    }
    if (fstat(fd, &st) < 0) {
        e = errno;
        close(fd);
        return fail(errmsg, shelf__errno_rc(e), "cannot stat '%s'", path, e);
    }
    out->size = (uint64_t)st.st_size;
    if (fstatvfs(fd, &vfs) == 0)
        out->block_size = vfs.f_bsize;
    e = extents(fd, out);
    close(fd);
    if (e == EOPNOTSUPP || e == ENOTTY) {
        out->extents = out->fragments = 0;
        return SHELF_OK;        /* supported stays 0 */
    }
    if (e)
        return fail(errmsg, shelf__errno_rc(e), "cannot map the extents of '%s'", path, e);
    out->supported = 1;
    return SHELF_OK;
}

int shelf_frag_optimize(const char *path, shelf_frag_info *after, char **errmsg)
{
    struct stat st;
    struct statvfs vfs;
    struct timespec times[2];
    char *tmp = NULL, *dir = NULL, *slash;
    unsigned char *buf = NULL;
    int in = -1, outfd = -1, rc = SHELF_OK, e;
    uint64_t done = 0;
    shelf__err err;

    if (errmsg)
        *errmsg = NULL;
    if (after)
        memset(after, 0, sizeof *after);
    if ((in = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(in, &st) < 0) {
        e = errno;
        rc = fail(errmsg, shelf__errno_rc(e), "cannot open '%s'", path, e);
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = fail(errmsg, SHELF_EINVAL, "not a regular file: '%s'", path, 0);
        goto out;
    }
    if (fstatvfs(in, &vfs) == 0 &&
        (uint64_t)vfs.f_bavail * vfs.f_frsize < (uint64_t)st.st_size + (16u << 20)) {
        rc = fail(errmsg, SHELF_EBUSY, "not enough free space to rewrite '%s'", path, 0);
        goto out;
    }
    if (!(dir = shelf__strdup(path)) || !(buf = shelf__malloc(1 << 20))) {
        rc = SHELF_ENOMEM;
        goto out;
    }
    slash = strrchr(dir, '/');
    if (slash)
        slash[slash == dir ? 1 : 0] = 0;
    else
        dir[0] = '.', dir[1] = 0;
    if (!(tmp = shelf__asprintf("%s/.shelf-optimize-%ld", dir, (long)getpid()))) {
        rc = SHELF_ENOMEM;
        goto out;
    }
    if ((outfd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
        e = errno;
        rc = fail(errmsg, shelf__errno_rc(e), "cannot create a file beside '%s'", path, e);
        goto out;
    }
    /* One allocation of the whole size: the filesystem can place it in one run. */
    if (st.st_size > 0 && (e = posix_fallocate(outfd, 0, st.st_size)) != 0 && e != EOPNOTSUPP) {
        rc = fail(errmsg, e == ENOSPC ? SHELF_EBUSY : shelf__errno_rc(e),
                  "cannot reserve space for '%s'", path, e);
        goto out;
    }
    while (done < (uint64_t)st.st_size) {
        ssize_t r = pread(in, buf, 1 << 20, (off_t)done);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            e = r < 0 ? errno : EIO;
            rc = fail(errmsg, shelf__errno_rc(e), "cannot read '%s'", path, e);
            goto out;
        }
        /* outfd is new and written in order: its offset is done. */
        if ((e = shelf__write_all(outfd, buf, (size_t)r)) != 0) {
            rc = fail(errmsg, shelf__errno_rc(e), "cannot write a copy of '%s'", path, e);
            goto out;
        }
        done += (uint64_t)r;
    }
    times[0] = st.st_atim;
    times[1] = st.st_mtim;
    if (fchown(outfd, st.st_uid, st.st_gid) < 0 && errno != EPERM) {
        e = errno;
        rc = fail(errmsg, shelf__errno_rc(e), "cannot give the copy of '%s' its owner", path, e);
        goto out;
    }
    /* Same mode and mtime (to the nanosecond): the catalog sees no change. */
    if (fchmod(outfd, st.st_mode & 07777) < 0 || futimens(outfd, times) < 0) {
        e = errno;
        rc = fail(errmsg, shelf__errno_rc(e), "cannot finish the copy of '%s'", path, e);
        goto out;
    }
    /* fsync, rename over the original, fsync the folder; closes outfd and
     * removes tmp on failure. */
    rc = shelf__commit_temp(&err, outfd, tmp, path);
    outfd = -1;
    free(tmp);
    tmp = NULL;
    if (rc != SHELF_OK) {
        if (errmsg)
            *errmsg = shelf__strdup(err.msg);
        goto out;
    }
    if (after)
        rc = shelf_frag_file(path, after, errmsg);
out:
    if (outfd >= 0)
        close(outfd);
    if (tmp)
        unlink(tmp);
    if (in >= 0)
        close(in);
    free(tmp);
    free(dir);
    free(buf);
    return rc;
}
