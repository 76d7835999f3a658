/*
 * be_fault.c: a backend that injects faults into another one, for tests:
 * fail the Nth operation, fail every operation after the first failure (a
 * pulled USB stick), run out of space (ENOSPC) after a number of bytes,
 * flip a bit in what is loaded, or drop saves silently.
 */
#include <string.h>
#include "remote_int.h"

typedef struct be_fault {
    shelf__backend be;
    shelf__backend *inner;
    shelf__be_fault_cfg *cfg;
} be_fault;

/* Whether op fails now; sets the error. */
static int fault(be_fault *f, unsigned op, const char *name)
{
    shelf__be_fault_cfg *c = f->cfg;
    int rc = c->fail_rc ? c->fail_rc : SHELF_EIO;

    if (c->failed && c->dead_after)
        return shelf__seterr(&f->be.err, rc, "injected fault on '%s': target gone", name);
    if (!(c->ops & op) || c->fail_at <= 0)
        return SHELF_OK;
    if (++c->count == c->fail_at) {
        c->failed = 1;
        return shelf__seterr(&f->be.err, rc, "injected fault on '%s'", name);
    }
    return SHELF_OK;
}

static int pass(be_fault *f, int rc)
{
    if (rc != SHELF_OK)
        f->be.err = f->inner->err;
    return rc;
}

static int f_save(shelf__backend *be, const char *name, const void *data, size_t n)
{
    be_fault *f = (be_fault *)be;
    int rc;

    if ((rc = fault(f, SHELF__FOP_SAVE, name)) != SHELF_OK)
        return rc;
    if (f->cfg->space && f->cfg->saved + n > f->cfg->space) {
        f->cfg->failed = 1;
        return shelf__seterr(&be->err, SHELF_EIO, "cannot write '%s': no space left on device",
                             name);
    }
    if (f->cfg->drop_saves) {
        f->cfg->saved += n;
        return SHELF_OK;
    }
    if ((rc = pass(f, f->inner->ops->save(f->inner, name, data, n))) == SHELF_OK)
        f->cfg->saved += n;
    return rc;
}

static int f_load(shelf__backend *be, const char *name, uint64_t off, uint64_t len,
                  shelf__buf *out)
{
    be_fault *f = (be_fault *)be;
    int rc;

    if ((rc = fault(f, SHELF__FOP_LOAD, name)) != SHELF_OK)
        return rc;
    if ((rc = pass(f, f->inner->ops->load(f->inner, name, off, len, out))) != SHELF_OK)
        return rc;
    if (f->cfg->flip_load && out->len > 0) {
        uint64_t bit = f->cfg->flip_bit % ((uint64_t)out->len * 8);

        out->buf[bit / 8] ^= (char)(1u << (bit % 8));
    }
    return SHELF_OK;
}

static int f_stat(shelf__backend *be, const char *name, uint64_t *size)
{
    be_fault *f = (be_fault *)be;
    int rc;

    *size = 0;
    if ((rc = fault(f, SHELF__FOP_STAT, name)) != SHELF_OK)
        return rc;
    return pass(f, f->inner->ops->stat(f->inner, name, size));
}

static int f_list(shelf__backend *be, const char *dir, shelf__be_list_cb cb, void *ud)
{
    be_fault *f = (be_fault *)be;
    int rc;

    if ((rc = fault(f, SHELF__FOP_LIST, dir)) != SHELF_OK)
        return rc;
    return pass(f, f->inner->ops->list(f->inner, dir, cb, ud));
}

static int f_remove(shelf__backend *be, const char *name)
{
    be_fault *f = (be_fault *)be;
    int rc;

    if ((rc = fault(f, SHELF__FOP_REMOVE, name)) != SHELF_OK)
        return rc;
    return pass(f, f->inner->ops->remove(f->inner, name));
}

static void f_close(shelf__backend *be)
{
    be_fault *f = (be_fault *)be;

    shelf__be_close(f->inner);
    shelf_free(be->location);
    shelf_free(f);
}

static uint64_t f_sweep(shelf__backend *be)
{
    return shelf__be_sweep(((be_fault *)be)->inner);
}

static const shelf__backend_ops fault_ops = {
    .kind = "fault", .save = f_save, .load = f_load, .stat = f_stat, .list = f_list,
    .remove = f_remove, .close = f_close, .sweep = f_sweep
};

int shelf__be_fault_new(shelf__backend *inner, shelf__be_fault_cfg *cfg, shelf__backend **out)
{
    be_fault *f = shelf__calloc(1, sizeof *f);

    *out = NULL;
    if (!f || !(f->be.location = shelf__strdup(inner->location))) {
        shelf_free(f);
        return SHELF_ENOMEM;
    }
    f->be.ops = &fault_ops;
    f->inner = inner;
    f->cfg = cfg;
    *out = &f->be;
    return SHELF_OK;
}
