/*
 * test_remote.c: the backend conformance suite (run against dir, mem and
 * the fault wrapper with no faults set), and the faults the wrapper
 * injects.
 */
#include <sys/stat.h>
#include "test.h"
#include "remote/remote_int.h"
#include "be_conformance.h"

TEST(dir_backend)
{
    const char *d = test_tmpdir();
    char path[4096];
    shelf__backend *be;
    shelf__err err = { 0, "" };
    struct stat sb;

    test_pathf(path, sizeof path, "%s/repo", d);
    ASSERT_RC(SHELF_ENOTFOUND, shelf__be_dir_open(path, 0, &be, &err));
    ASSERT_OK(shelf__be_dir_open(path, 1, &be, &err));
    be_conformance(be);
    /* no temp files left behind */
    test_pathf(path, sizeof path, "%s/repo/data/ab/abcdef", d);
    ASSERT_EQ_INT(stat(path, &sb), 0);
    ASSERT_EQ_INT(sb.st_size, 11);
    shelf__be_close(be);
    test_pathf(path, sizeof path, "dir:%s/repo", d);
    ASSERT_OK(shelf__be_open(path, NULL, &be, &err));
    ASSERT_EQ_STR(be->ops->kind, "dir");
    shelf__be_close(be);
    ASSERT_RC(SHELF_EINVAL, shelf__be_open("mem:", NULL, &be, &err));
}

/* A save into a folder the process may not write fails with EPERM and says
 * so; run as nobody, since root writes anyway. */
static int save_denied(void *p)
{
    shelf__backend *be = p;
    int rc = shelf__be_save(be, "config", "x", 1);

    return rc == SHELF_EPERM && strstr(be->err.msg, "permission denied") ? 0 : 1;
}

TEST(dir_backend_readonly)
{
    const char *d = test_tmpdir();
    char path[4096];
    shelf__backend *be;
    shelf__err err = { 0, "" };

    test_pathf(path, sizeof path, "%s/ro", d);
    ASSERT_OK(shelf__be_dir_open(path, 1, &be, &err));
    ASSERT_EQ_INT(chmod(d, 0755), 0);
    ASSERT_EQ_INT(chmod(path, 0555), 0);
    ASSERT_EQ_INT(test_as_nobody(save_denied, be), 0);
    test_pathf(path, sizeof path, "%s/ro/config", d);
    ASSERT(!test_exists(path));
    shelf__be_close(be);
}

TEST(mem_backend)
{
    shelf__backend *be;

    ASSERT_OK(shelf__be_mem_new(&be));
    be_conformance(be);
    shelf__be_close(be);
}

/* Factories for be_conformance_all: a fresh folder or memory per tag. */
static int open_dir(void *ud, const char *tag, shelf__backend **out)
{
    shelf__be_opts o;
    shelf__err err = { 0, "" };
    char path[4096];
    int rc;

    memset(&o, 0, sizeof o);
    o.create = 1;
    /* names with spaces, CJK and emoji reach the folder backend */
    test_pathf(path, sizeof path, "dir:%s/conf \xe9\x9f\xb3 \xf0\x9f\x8e\xb9 %s", (const char *)ud, tag);
    if ((rc = shelf__be_open(path, &o, out, &err)) != SHELF_OK)
        fprintf(stderr, "%s\n", err.msg);
    return rc;
}

static int open_mem(void *ud, const char *tag, shelf__backend **out)
{
    (void)ud;
    (void)tag;
    return shelf__be_mem_new(out);
}

TEST(conformance_all_dir)
{
    be_conformance_all(open_dir, (void *)test_tmpdir());
}

TEST(conformance_all_mem)
{
    be_conformance_all(open_mem, NULL);
}

TEST(fault_backend_passes_through)
{
    shelf__backend *mem, *be;
    shelf__be_fault_cfg f;

    memset(&f, 0, sizeof f);
    ASSERT_OK(shelf__be_mem_new(&mem));
    ASSERT_OK(shelf__be_fault_new(mem, &f, &be));
    be_conformance(be);
    ASSERT(!f.failed);
    shelf__be_close(be);
}

TEST(fault_nth_op_and_dead_target)
{
    shelf__backend *mem, *be;
    shelf__buf b = SHELF__BUF_INIT;
    shelf__be_fault_cfg f;

    memset(&f, 0, sizeof f);
    f.ops = SHELF__FOP_SAVE;
    f.fail_at = 3;
    f.dead_after = 1;
    ASSERT_OK(shelf__be_mem_new(&mem));
    ASSERT_OK(shelf__be_fault_new(mem, &f, &be));
    ASSERT_OK(shelf__be_save(be, "a", "1", 1));
    ASSERT_OK(shelf__be_load(be, "a", 0, 0, &b));   /* loads do not count */
    ASSERT_OK(shelf__be_save(be, "b", "2", 1));
    ASSERT_RC(SHELF_EIO, shelf__be_save(be, "c", "3", 1));
    ASSERT(f.failed);
    ASSERT(strstr(be->err.msg, "injected"));
    /* the stick is gone: everything fails now */
    ASSERT_RC(SHELF_EIO, shelf__be_load(be, "a", 0, 0, &b));
    f.dead_after = 0;
    f.fail_at = 0;
    ASSERT_RC(SHELF_ENOTFOUND, shelf__be_load(be, "c", 0, 0, &b));
    shelf__buf_release(&b);
    shelf__be_close(be);
}

TEST(fault_enospc_flip_drop)
{
    shelf__backend *mem, *be;
    shelf__buf b = SHELF__BUF_INIT;
    shelf__be_fault_cfg f;
    uint64_t size;

    memset(&f, 0, sizeof f);
    f.space = 10;
    ASSERT_OK(shelf__be_mem_new(&mem));
    ASSERT_OK(shelf__be_fault_new(mem, &f, &be));
    ASSERT_OK(shelf__be_save(be, "a", "123456", 6));
    ASSERT_RC(SHELF_EIO, shelf__be_save(be, "b", "123456", 6));
    ASSERT(strstr(be->err.msg, "no space left"));
    ASSERT_RC(SHELF_ENOTFOUND, shelf__be_stat(be, "b", &size));
    f.space = 0;
    f.flip_load = 1;
    f.flip_bit = 9;
    ASSERT_OK(shelf__be_load(be, "a", 0, 0, &b));
    ASSERT_EQ_INT(b.buf[1], '2' ^ 2);
    f.flip_load = 0;
    f.drop_saves = 1;
    ASSERT_OK(shelf__be_save(be, "c", "x", 1));
    ASSERT_RC(SHELF_ENOTFOUND, shelf__be_stat(be, "c", &size));
    shelf__buf_release(&b);
    shelf__be_close(be);
}

int main(int argc, char **argv)
{
    static const test_case tests[] = {
        TEST_ENTRY(dir_backend),
        TEST_ENTRY(dir_backend_readonly),
        TEST_ENTRY(mem_backend),
        TEST_ENTRY(conformance_all_dir),
        TEST_ENTRY(conformance_all_mem),
        TEST_ENTRY(fault_backend_passes_through),
        TEST_ENTRY(fault_nth_op_and_dead_target),
        TEST_ENTRY(fault_enospc_flip_drop),
        TEST_END
    };

    return test_run(argc, argv, tests);
}
