/*
 * be_conformance.h: the semantics every storage backend keeps
 * (lib/remote/remote_int.h), as one suite that test_remote.c runs against
 * dir, mem and the fault wrapper, and test_s3.c (and the other network
 * backends' tests) against their servers.  Include after test.h and
 * remote/remote_int.h.
 */
#ifndef SHELF_TEST_BE_CONFORMANCE_H
#define SHELF_TEST_BE_CONFORMANCE_H

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

#endif /* SHELF_TEST_BE_CONFORMANCE_H */
