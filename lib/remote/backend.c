/*
 * backend.c: the calls through a backend's table, name checks, and opening
 * a target by its name.
 */
#include <string.h>
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

int shelf__be_open(const char *target, int create, shelf__backend **out, shelf__err *err)
{
    *out = NULL;
    if (!target || !*target)
        return shelf__seterr(err, SHELF_EINVAL, "no repository given");
    if (!strncmp(target, "mem:", 4))
        return shelf__seterr(err, SHELF_EINVAL, "cannot open '%s': mem: is for tests", target);
    if (!strncmp(target, "dir:", 4))
        target += 4;
    return shelf__be_dir_open(target, create, out, err);
}
