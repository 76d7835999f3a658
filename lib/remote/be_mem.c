/*
 * be_mem.c: the in-memory backend, for tests: a list of named buffers.
 */
#include <string.h>
#include "remote_int.h"

typedef struct memfile {
    char *name;
    uint8_t *data;
    size_t n;
    struct memfile *next;
} memfile;

typedef struct be_mem {
    shelf__backend be;
    memfile *files;
} be_mem;

static memfile **find(be_mem *m, const char *name)
{
    memfile **p;

    for (p = &m->files; *p; p = &(*p)->next)
        if (!strcmp((*p)->name, name))
            return p;
    return p;
}

static int mem_save(shelf__backend *be, const char *name, const void *data, size_t n)
{
    be_mem *m = (be_mem *)be;
    memfile **p = find(m, name), *f;

    if (*p)
        return shelf__seterr(&be->err, SHELF_EEXIST, "cannot save '%s': file exists", name);
    if (!(f = shelf__calloc(1, sizeof *f)) || !(f->name = shelf__strdup(name)) ||
        !(f->data = shelf__malloc(n ? n : 1))) {
        if (f)
            shelf_free(f->name);
        shelf_free(f);
        return shelf__seterr(&be->err, SHELF_ENOMEM, "out of memory");
    }
    if (n)
        memcpy(f->data, data, n);
    f->n = n;
    *p = f;
    return SHELF_OK;
}

static int mem_load(shelf__backend *be, const char *name, uint64_t off, uint64_t len,
                    shelf__buf *out)
{
    memfile *f = *find((be_mem *)be, name);

    shelf__buf_reset(out);
    if (!f)
        return shelf__seterr(&be->err, SHELF_ENOTFOUND, "cannot load '%s': no such file", name);
    if (len == 0)
        len = off <= f->n ? f->n - off : 0;
    if (off > f->n || len > f->n - off)
        return shelf__seterr(&be->err, SHELF_EIO, "cannot load '%s': short read", name);
    if (shelf__buf_add(out, f->data + off, (size_t)len) != SHELF_OK)
        return shelf__seterr(&be->err, SHELF_ENOMEM, "out of memory");
    return SHELF_OK;
}

static int mem_stat(shelf__backend *be, const char *name, uint64_t *size)
{
    memfile *f = *find((be_mem *)be, name);

    *size = 0;
    if (!f)
        return shelf__seterr(&be->err, SHELF_ENOTFOUND, "cannot stat '%s': no such file", name);
    *size = f->n;
    return SHELF_OK;
}

static int mem_list(shelf__backend *be, const char *dir, shelf__be_list_cb cb, void *ud)
{
    size_t n = strlen(dir);
    memfile *f, *next;
    int rc;

    for (f = ((be_mem *)be)->files; f; f = next) {
        next = f->next;     /* the callback may remove f */
        if (!strncmp(f->name, dir, n) && f->name[n] == '/')
            if ((rc = cb(ud, f->name, f->n)) != 0)
                return rc;
    }
    return SHELF_OK;
}

static int mem_remove(shelf__backend *be, const char *name)
{
    memfile **p = find((be_mem *)be, name), *f = *p;

    if (!f)
        return shelf__seterr(&be->err, SHELF_ENOTFOUND, "cannot remove '%s': no such file", name);
    *p = f->next;
    shelf_free(f->name);
    shelf_free(f->data);
    shelf_free(f);
    return SHELF_OK;
}

static void mem_close(shelf__backend *be)
{
    be_mem *m = (be_mem *)be;
    memfile *f, *next;

    for (f = m->files; f; f = next) {
        next = f->next;
        shelf_free(f->name);
        shelf_free(f->data);
        shelf_free(f);
    }
    shelf_free(be->location);
    shelf_free(m);
}

static const shelf__backend_ops mem_ops = {
    .kind = "mem", .save = mem_save, .load = mem_load, .stat = mem_stat, .list = mem_list,
    .remove = mem_remove, .close = mem_close
};

int shelf__be_mem_new(shelf__backend **out)
{
    be_mem *m = shelf__calloc(1, sizeof *m);

    *out = NULL;
    if (!m || !(m->be.location = shelf__strdup("mem"))) {
        shelf_free(m);
        return SHELF_ENOMEM;
    }
    m->be.ops = &mem_ops;
    *out = &m->be;
    return SHELF_OK;
}
