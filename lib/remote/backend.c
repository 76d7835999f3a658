/*
 * backend.c: the calls through a backend's table (with save_fd's fallback
 * through memory) and the check of names.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include "remote_int.h"

int shelf__be_name_ok(const char *name)
{
    const char *p = name, *part = name;

    if (!name || !*name || *name == '/')
        return 0;
    for (;; p++) {
        if (*p == '/' || *p == '\0') {
            size_t n = (size_t)(p - part);

            if (n == 0 || (n == 1 && part[0] == '.') || (n == 2 && part[0] == '.' && part[1] == '.'))
                return 0;
            if (*p == '\0')
                return 1;
            part = p + 1;
            continue;
        }
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == '-'))
            return 0;
    }
}

static int bad_name(shelf__backend *be, const char *name)
{
    return shelf__seterr(&be->err, SHELF_EINVAL, "invalid name in repository: '%s'",
                         name ? name : "(null)");
}

int shelf__be_save(shelf__backend *be, const char *name, const void *data, size_t n)
{
    if (!shelf__be_name_ok(name))
        return bad_name(be, name);
    return be->ops->save(be, name, data, n);
}

int shelf__be_load(shelf__backend *be, const char *name, uint64_t off, uint64_t len,
                   shelf__buf *out)
{
    if (!shelf__be_name_ok(name))
        return bad_name(be, name);
    return be->ops->load(be, name, off, len, out);
}

int shelf__be_stat(shelf__backend *be, const char *name, uint64_t *size)
{
    if (!shelf__be_name_ok(name))
        return bad_name(be, name);
    return be->ops->stat(be, name, size);
}

int shelf__be_list(shelf__backend *be, const char *dir, shelf__be_list_cb cb, void *ud)
{
    if (!shelf__be_name_ok(dir))
        return bad_name(be, dir);
    return be->ops->list(be, dir, cb, ud);
}

int shelf__be_remove(shelf__backend *be, const char *name)
{
    if (!shelf__be_name_ok(name))
        return bad_name(be, name);
    return be->ops->remove(be, name);
}

uint64_t shelf__be_sweep(shelf__backend *be)
{
    return be->ops->sweep ? be->ops->sweep(be) : 0;
}

void shelf__be_close(shelf__backend *be)
{
    if (be)
        be->ops->close(be);
}

int shelf__be_save_fd(shelf__backend *be, const char *name, int fd, uint64_t size)
{
    shelf__buf b = SHELF__BUF_INIT;
    size_t got = 0;
    int rc;

    if (!shelf__be_name_ok(name))
        return bad_name(be, name);
    if (be->ops->save_fd)
        return be->ops->save_fd(be, name, fd, size);
    if (size > SIZE_MAX / 2 || shelf__buf_grow(&b, (size_t)size) != SHELF_OK)
        return shelf__seterr(&be->err, SHELF_ENOMEM, "cannot save '%s': out of memory", name);
    while (got < size) {
        ssize_t r = pread(fd, b.buf + got, (size_t)size - got, (off_t)got);

        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            rc = r < 0 ? shelf__seterr_errno(&be->err, errno, "cannot read the file for '%s'", name)
                       : shelf__seterr(&be->err, SHELF_EIO, "cannot save '%s': the file is shorter "
                                       "than its size", name);
            shelf__buf_release(&b);
            return rc;
        }
        got += (size_t)r;
    }
    rc = be->ops->save(be, name, b.buf, got);
    shelf__buf_release(&b);
    return rc;
}

int shelf__be_dup(shelf__backend *be, shelf__backend **out)
{
    *out = NULL;
    if (!be->ops->dup)
        return shelf__seterr(&be->err, SHELF_EINVAL, "%s: cannot open another connection",
                             be->location ? be->location : be->ops->kind);
    return be->ops->dup(be, out);
}
