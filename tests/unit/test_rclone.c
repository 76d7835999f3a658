/*
 * test_rclone.c: the rclone bridge (be_rclone.c) with an rclone `local`
 * remote from a config file the test writes (RCLONE_CONFIG): the
 * conformance suite through `rclone serve webdav`, files landing where
 * rclone puts them, the child stopped and its folder removed on close, a
 * missing program as one line.  OAuth providers cannot be reached here.
 */
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>
#include "test.h"
#include "remote/remote_int.h"
#include "be_conformance.h"

static void need_rclone(void)
{
    if (system("rclone version >/dev/null 2>&1") != 0)
        TEST_SKIP("rclone is not installed");
}

/* A config with the local remote "loc"; returns the folder for files. */
static const char *setup(char *root, size_t size)
{
    const char *d = test_tmpdir();
    char conf[512];
    static const char text[] = "[loc]\ntype = local\n";

    test_pathf(conf, sizeof conf, "%s/rclone.conf", d);
    test_write_file(conf, text, sizeof text - 1);
    ASSERT_EQ_INT(setenv("RCLONE_CONFIG", conf, 1), 0);
    test_pathf(root, size, "%s/files/repo", d);
    return d;
}

static int open_rclone(const char *root, const char *prog, int create, shelf__backend **be,
                       shelf__err *err)
{
    char path[600];
    shelf__target t;
    shelf__be_opts o;

    snprintf(path, sizeof path, "loc:%s", root);
    memset(&t, 0, sizeof t);
    t.kind = SHELF__TGT_RCLONE;
    t.path = path;
    t.display = path;
    memset(&o, 0, sizeof o);
    o.create = create;
    o.rclone = prog;
    return shelf__be_rclone_open(&t, &o, be, err);
}

/* rclone's children of this process ("rclone serve webdav loc:ROOT"). */
static int serving(const char *root)
{
    char cmd[1024];

    snprintf(cmd, sizeof cmd, "pgrep -f -P %d '^rclone serve webdav loc:%s ' >/dev/null", (int)getpid(), root);
    return system(cmd) == 0;
}

TEST(rclone_conformance)
{
    char root[512], path[700];
    shelf__backend *be, *be2;
    shelf__err err = { 0, "" };
    conf_names l;
    uint64_t size, used, avail;
    double t0;

    need_rclone();
    setup(root, sizeof root);
    t0 = shelf__monotonic();
    ASSERT_OKM(err.msg, open_rclone(root, NULL, 1, &be, &err));
    printf("rclone serve webdav ready in %.2f s\n", shelf__monotonic() - t0);
    ASSERT_EQ_STR(be->ops->kind, "rclone");
    ASSERT(serving(root));
    be_conformance(be);
    /* the files are where rclone's local remote keeps them */
    test_pathf(path, sizeof path, "%s/data/ab/abcdef", root);
    ASSERT(test_exists(path));
    /* a killed save's temp: never listed, swept */
    test_pathf(path, sizeof path, "%s/data/ab/.tmp-killed", root);
    test_write_file(path, "half", 4);
    memset(&l, 0, sizeof l);
    ASSERT_OK(shelf__be_list(be, "data", conf_collect, &l));
    ASSERT_EQ_INT(l.n, 2);
    ASSERT_EQ_INT(shelf__be_sweep(be), 1);
    ASSERT(!test_exists(path));
    ASSERT_OK(be->ops->space(be, &used, &avail));
    ASSERT(avail == UINT64_MAX);
    /* a dup keeps the server up after the first handle closes */
    ASSERT_OK(be->ops->dup(be, &be2));
    shelf__be_close(be);
    ASSERT(serving(root));
    ASSERT_OK(shelf__be_stat(be2, "config", &size));
    ASSERT_EQ_INT(size, 2);
    shelf__be_close(be2);
    ASSERT(!serving(root));
}

/* Two saves of one name at once through rclone: one wins, one EEXIST. */
TEST(rclone_create_only_race)
{
    char root[512];
    shelf__backend *be;
    shelf__err err = { 0, "" };
    shelf__buf b = SHELF__BUF_INIT;
    int round;

    need_rclone();
    setup(root, sizeof root);
    ASSERT_OKM(err.msg, open_rclone(root, NULL, 1, &be, &err));
    for (round = 0; round < 10; round++) {
        conf_racer r[2];
        int won;

        ASSERT_RC(round ? SHELF_OK : SHELF_ENOTFOUND, shelf__be_remove(be, "data/ab/same"));
        conf_race(be, "data/ab/same", r);
        if ((r[0].rc == SHELF_OK) == (r[1].rc == SHELF_OK))
            test__fail(__FILE__, __LINE__, "race: %d (%s) and %d (%s)", r[0].rc, r[0].be->err.msg,
                       r[1].rc, r[1].be->err.msg);
        won = r[0].rc == SHELF_OK ? 0 : 1;
        ASSERT_OKM(r[1 - won].be->err.msg, r[1 - won].rc == SHELF_EEXIST ? SHELF_OK : r[1 - won].rc);
        ASSERT_OK(shelf__be_load(be, "data/ab/same", 0, 0, &b));
        ASSERT_EQ_STR(b.buf, r[won].data);
        shelf__be_close(r[1].be);
    }
    shelf__buf_release(&b);
    shelf__be_close(be);
}

TEST(rclone_missing_program)
{
    char root[512];
    shelf__backend *be;
    shelf__err err = { 0, "" };

    setup(root, sizeof root);
    ASSERT_RC(SHELF_ENOTFOUND, open_rclone(root, "/nonexistent/rclone", 1, &be, &err));
    printf("%s\n", err.msg);
    ASSERT(strstr(err.msg, "cannot run '/nonexistent/rclone'"));
    ASSERT(!strchr(err.msg, '\n'));
}

TEST(rclone_bad_remote)
{
    char root[512];
    shelf__backend *be;
    shelf__err err = { 0, "" };
    shelf__target t;

    need_rclone();
    setup(root, sizeof root);
    memset(&t, 0, sizeof t);
    t.kind = SHELF__TGT_RCLONE;
    t.path = "nosuchremote:x";
    t.display = t.path;
    ASSERT(shelf__be_rclone_open(&t, NULL, &be, &err) != SHELF_OK);
    printf("%s\n", err.msg);
    ASSERT(strstr(err.msg, "rclone:nosuchremote:x"));
    ASSERT(!strchr(err.msg, '\n'));
}

int main(int argc, char **argv)
{
    static const test_case tests[] = {
        TEST_ENTRY(rclone_conformance),
        TEST_ENTRY(rclone_create_only_race),
        TEST_ENTRY(rclone_missing_program),
        TEST_ENTRY(rclone_bad_remote),
        TEST_END
    };

    signal(SIGPIPE, SIG_IGN);
    return test_run(argc, argv, tests);
}
