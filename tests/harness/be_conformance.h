/*
 * be_conformance.h: the semantics every storage backend keeps
 * (lib/remote/remote_int.h), as one suite that test_remote.c runs against
 * dir, mem and the fault wrapper, and test_s3.c (and the other network
 * backends' tests) against their servers.  Include after test.h and
 * remote/remote_int.h.
 */
#ifndef SHELF_TEST_BE_CONFORMANCE_H
#define SHELF_TEST_BE_CONFORMANCE_H

#include <pthread.h>

typedef struct conf_names {
    char seen[16][64];
    int n;
} conf_names;

static inline int conf_collect(void *ud, const char *name, uint64_t size)
{
    conf_names *l = ud;

    (void)size;
    if (l->n < 16)
        snprintf(l->seen[l->n++], 64, "%s", name);
    return 0;
}

static inline int conf_has(const conf_names *l, const char *name)
{
    int i;

    for (i = 0; i < l->n; i++)
        if (!strcmp(l->seen[i], name))
            return 1;
    return 0;
}

/* The semantics every backend keeps (remote_int.h). */
static inline void be_conformance(shelf__backend *be)
{
    shelf__buf b = SHELF__BUF_INIT;
    conf_names l;
    uint64_t size = 99;

    ASSERT_OKM(be->err.msg, shelf__be_save(be, "data/ab/abcdef", "hello world", 11));
    ASSERT_OK(shelf__be_save(be, "index/one", "", 0));
    ASSERT_OK(shelf__be_save(be, "config", "{}", 2));
    /* create-only */
    ASSERT_RC(SHELF_EEXIST, shelf__be_save(be, "data/ab/abcdef", "other", 5));
    ASSERT_OK(shelf__be_load(be, "data/ab/abcdef", 0, 0, &b));
    ASSERT_EQ_INT(b.len, 11);
    ASSERT(!memcmp(b.buf, "hello world", 11));
    /* ranges */
    ASSERT_OK(shelf__be_load(be, "data/ab/abcdef", 6, 5, &b));
    ASSERT_EQ_INT(b.len, 5);
    ASSERT(!memcmp(b.buf, "world", 5));
    ASSERT_OK(shelf__be_load(be, "data/ab/abcdef", 6, 0, &b));
    ASSERT_EQ_INT(b.len, 5);
    ASSERT_RC(SHELF_EIO, shelf__be_load(be, "data/ab/abcdef", 6, 6, &b));
    ASSERT_EQ_INT(b.len, 0);
    ASSERT_OK(shelf__be_load(be, "index/one", 0, 0, &b));
    ASSERT_EQ_INT(b.len, 0);
    ASSERT_RC(SHELF_ENOTFOUND, shelf__be_load(be, "nothing", 0, 0, &b));
    ASSERT_OK(shelf__be_stat(be, "data/ab/abcdef", &size));
    ASSERT_EQ_INT(size, 11);
    ASSERT_RC(SHELF_ENOTFOUND, shelf__be_stat(be, "data/ab/none", &size));
    /* list is recursive and by folder */
    memset(&l, 0, sizeof l);
    ASSERT_OK(shelf__be_list(be, "data", conf_collect, &l));
    ASSERT_EQ_INT(l.n, 1);
    ASSERT(conf_has(&l, "data/ab/abcdef"));
    memset(&l, 0, sizeof l);
    ASSERT_OK(shelf__be_list(be, "snapshots", conf_collect, &l));
    ASSERT_EQ_INT(l.n, 0);
    /* unsafe names */
    ASSERT_RC(SHELF_EINVAL, shelf__be_save(be, "../escape", "x", 1));
    ASSERT_RC(SHELF_EINVAL, shelf__be_save(be, "/abs", "x", 1));
    ASSERT_RC(SHELF_EINVAL, shelf__be_save(be, "a//b", "x", 1));
    ASSERT_RC(SHELF_EINVAL, shelf__be_load(be, "a/./b", 0, 0, &b));
    /* remove */
    ASSERT_OK(shelf__be_remove(be, "index/one"));
    ASSERT_RC(SHELF_ENOTFOUND, shelf__be_remove(be, "index/one"));
    memset(&l, 0, sizeof l);
    ASSERT_OK(shelf__be_list(be, "index", conf_collect, &l));
    ASSERT_EQ_INT(l.n, 0);
    /* big enough to need several writes */
    {
        size_t n = 3u << 20, i;
        char *big = malloc(n);

        ASSERT(big);
        for (i = 0; i < n; i++)
            big[i] = (char)(i * 7);
        ASSERT_OK(shelf__be_save(be, "data/cd/big", big, n));
        ASSERT_OK(shelf__be_load(be, "data/cd/big", 1000, n - 1000, &b));
        ASSERT(!memcmp(b.buf, big + 1000, n - 1000));
        free(big);
    }
    shelf__buf_release(&b);
}

/* save_fd (every backend: shelf__be_save_fd reads into memory where the
 * backend has no save_fd) and dup, when the backend offers it. */
static inline void be_conformance_fd_dup(shelf__backend *be)
{
    shelf__buf b = SHELF__BUF_INIT;
    shelf__backend *d = NULL;
    char path[] = "/tmp/shelf-conf-XXXXXX";
    size_t n = (1u << 20) + 333, i;
    uint64_t size = 0;
    char *big = malloc(n);
    int fd;

    ASSERT(big);
    for (i = 0; i < n; i++)
        big[i] = (char)(i * 13 + 1);
    ASSERT((fd = mkstemp(path)) >= 0);
    unlink(path);
    ASSERT_EQ_INT(write(fd, big, n), (long)n);
    ASSERT_OKM(be->err.msg, shelf__be_save_fd(be, "data/fd/whole", fd, n));
    ASSERT_OK(shelf__be_load(be, "data/fd/whole", 0, 0, &b));
    ASSERT_EQ_INT(b.len, n);
    ASSERT(!memcmp(b.buf, big, n));
    /* create-only, as save */
    ASSERT_RC(SHELF_EEXIST, shelf__be_save_fd(be, "data/fd/whole", fd, 10));
    ASSERT_OK(shelf__be_stat(be, "data/fd/whole", &size));
    ASSERT_EQ_INT(size, n);
    /* a file shorter than it claims saves nothing */
    ASSERT(shelf__be_save_fd(be, "data/fd/short", fd, n + 10) != SHELF_OK);
    ASSERT_RC(SHELF_ENOTFOUND, shelf__be_stat(be, "data/fd/short", &size));
    ASSERT_RC(SHELF_EINVAL, shelf__be_save_fd(be, "../fd", fd, 1));
    close(fd);
    if (be->ops->dup) {
        ASSERT_OKM(be->err.msg, shelf__be_dup(be, &d));
        ASSERT(d && d != be);
        ASSERT_OK(shelf__be_load(d, "data/fd/whole", 5, 5, &b));
        ASSERT(!memcmp(b.buf, big + 5, 5));
        ASSERT_OK(shelf__be_save(d, "data/fd/from-dup", "dup", 3));
        ASSERT_RC(SHELF_EEXIST, shelf__be_save(be, "data/fd/from-dup", "x", 1));
        shelf__be_close(d);
        /* the first handle lives on */
        ASSERT_OK(shelf__be_load(be, "data/fd/from-dup", 0, 0, &b));
        ASSERT_EQ_INT(b.len, 3);
        ASSERT_OK(shelf__be_remove(be, "data/fd/from-dup"));
    } else {
        ASSERT_RC(SHELF_EINVAL, shelf__be_dup(be, &d));
        ASSERT(!d);
    }
    ASSERT_OK(shelf__be_remove(be, "data/fd/whole"));
    free(big);
    shelf__buf_release(&b);
}

/*
 * The whole suite over a backend factory: open(ud, tag, &be) gives a
 * backend on a fresh, empty target for each tag ("plain", "fault"; e.g. a
 * folder or prefix of that name).  Runs be_conformance and
 * be_conformance_fd_dup on one, then be_conformance with the fault wrapper
 * on top of another, and a failed save through the wrapper that must
 * leave nothing behind.  Every backend's test calls this.
 */
typedef int (*be_conf_open_fn)(void *ud, const char *tag, shelf__backend **out);

static inline void be_conformance_all(be_conf_open_fn open_be, void *ud)
{
    shelf__backend *be = NULL, *f = NULL;
    shelf__be_fault_cfg cfg;
    conf_names l;
    uint64_t size;

    ASSERT_OK(open_be(ud, "plain", &be));
    be_conformance(be);
    be_conformance_fd_dup(be);
    shelf__be_close(be);
    be = NULL;

    memset(&cfg, 0, sizeof cfg);
    ASSERT_OK(open_be(ud, "fault", &be));
    ASSERT_OK(shelf__be_fault_new(be, &cfg, &f));     /* f owns be */
    be_conformance(f);
    ASSERT(!cfg.failed);
    cfg.ops = SHELF__FOP_SAVE;
    cfg.fail_at = cfg.count + 1;
    ASSERT_RC(SHELF_EIO, shelf__be_save(f, "data/ef/failed", "x", 1));
    ASSERT(cfg.failed);
    cfg.fail_at = 0;
    ASSERT_RC(SHELF_ENOTFOUND, shelf__be_stat(f, "data/ef/failed", &size));
    memset(&l, 0, sizeof l);
    ASSERT_OK(shelf__be_list(f, "data", conf_collect, &l));
    ASSERT(!conf_has(&l, "data/ef/failed"));
    ASSERT_OK(shelf__be_save(f, "data/ef/failed", "y", 1));
    shelf__be_close(f);
}

/* Two saves of one name at once (create-only races): r[i].data is
 * "racer0" and "racer1", r[0] saves through be, r[1] through a dup of be
 * (the caller closes r[1].be); each r[i].rc is its save's result. */
typedef struct conf_racer {
    shelf__backend *be;
    const char *name;
    char data[8];
    int rc;
} conf_racer;

static inline void *conf_race_save(void *p)
{
    conf_racer *r = p;

    r->rc = shelf__be_save(r->be, r->name, r->data, strlen(r->data));
    return NULL;
}

static inline void conf_race(shelf__backend *be, const char *name, conf_racer r[2])
{
    pthread_t th[2];
    int i;

    for (i = 0; i < 2; i++) {
        r[i].rc = 99;
        r[i].name = name;
        snprintf(r[i].data, sizeof r[i].data, "racer%d", i);
        if (i == 0)
            r[i].be = be;
        else
            ASSERT_OK(be->ops->dup(be, &r[i].be));
    }
    for (i = 0; i < 2; i++)
        ASSERT_EQ_INT(pthread_create(&th[i], NULL, conf_race_save, &r[i]), 0);
    for (i = 0; i < 2; i++)
        ASSERT_EQ_INT(pthread_join(th[i], NULL), 0);
}

#endif /* SHELF_TEST_BE_CONFORMANCE_H */
