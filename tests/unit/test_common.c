/*
 * test_common.c: unit tests of lib/common's file helpers (write_all,
 * rmtree, commit_temp, write_file_atomic), the little-endian helpers and
 * the worker pool.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include "test.h"
#include "common/common_int.h"

TEST(write_all_writes_through_a_pipe)
{
    static char big[256 * 1024];
    int fds[2];
    pid_t pid;
    size_t got = 0;
    char buf[4096];
    ssize_t r;

    memset(big, 'x', sizeof big);
    ASSERT(pipe(fds) == 0);
    if ((pid = fork()) == 0) {
        close(fds[0]);
        _exit(shelf__write_all(fds[1], big, sizeof big) == 0 ? 0 : 1);
    }
    close(fds[1]);
    while ((r = read(fds[0], buf, sizeof buf)) > 0)
        got += (size_t)r;
    close(fds[0]);
    ASSERT_EQ_INT(got, sizeof big);
    ASSERT_EQ_INT(shelf__write_all(-1, "a", 1), EBADF);
}

TEST(rmtree_removes_a_tree_and_not_what_links_point_to)
{
    const char *d = test_tmpdir();
    char top[PATH_MAX], sub[PATH_MAX], f[PATH_MAX], keep[PATH_MAX], link[PATH_MAX];
    struct stat sb;

    test_pathf(top, sizeof top, "%s/top", d);
    test_pathf(sub, sizeof sub, "%s/top/a/b", d);
    ASSERT_EQ_INT(shelf__mkdirs(sub, 0755), 0);
    test_pathf(f, sizeof f, "%s/top/a/b/caf\xc3\xa9 \xff\n.wav", d);
    test_write_file(f, "x", 1);
    test_pathf(keep, sizeof keep, "%s/keep", d);
    ASSERT(mkdir(keep, 0755) == 0);
    test_pathf(f, sizeof f, "%s/keep/precious", d);
    test_write_file(f, "y", 1);
    test_pathf(link, sizeof link, "%s/top/a/link", d);
    ASSERT(symlink(keep, link) == 0);
    ASSERT_EQ_INT(shelf__rmtree(top), 0);
    ASSERT(lstat(top, &sb) != 0 && errno == ENOENT);
    ASSERT(stat(f, &sb) == 0);
    ASSERT_EQ_INT(shelf__rmtree(top), 0);           /* missing: fine */
    ASSERT_EQ_INT(shelf__rmtree(f), 0);             /* a file */
    ASSERT(lstat(f, &sb) != 0);
}

TEST(rmtree_reports_what_it_could_not_remove)
{
    const char *d = test_tmpdir();
    char top[PATH_MAX], f[PATH_MAX];
    int rc;

    if (geteuid() == 0) {
        /* root removes files from a read-only folder: use a child as nobody. */
        pid_t pid;
        int st;

        test_pathf(top, sizeof top, "%s/ro", d);
        ASSERT(mkdir(top, 0755) == 0);
        test_pathf(f, sizeof f, "%s/ro/f", d);
        test_write_file(f, "x", 1);
        ASSERT(chmod(d, 0777) == 0);
        ASSERT(chown(top, 65534, 65534) == 0 && chown(f, 65534, 65534) == 0);
        ASSERT(chmod(top, 0555) == 0);
        if ((pid = fork()) == 0) {
            if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0)
                _exit(2);
            _exit(shelf__rmtree(top) == EACCES ? 0 : 1);
        }
        ASSERT(waitpid(pid, &st, 0) == pid);
        ASSERT(WIFEXITED(st));
        ASSERT_EQ_INT(WEXITSTATUS(st), 0);
        ASSERT(chmod(top, 0755) == 0);
        return;
    }
    test_pathf(top, sizeof top, "%s/ro", d);
    ASSERT(mkdir(top, 0755) == 0);
    test_pathf(f, sizeof f, "%s/ro/f", d);
    test_write_file(f, "x", 1);
    ASSERT(chmod(top, 0555) == 0);
    rc = shelf__rmtree(top);
    ASSERT(chmod(top, 0755) == 0);
    ASSERT_EQ_INT(rc, EACCES);
}

TEST(write_file_atomic_replaces_whole_and_leaves_no_temp)
{
    const char *d = test_tmpdir();
    char p[PATH_MAX], missing[PATH_MAX];
    shelf__err e = { 0, "" };
    char *back;
    size_t n;
    int count = 0;
    FILE *ls;
    char cmd[PATH_MAX + 32], line[512];

    test_pathf(p, sizeof p, "%s/\xe9\xbc\x93 \xff.json", d);
    ASSERT_OK(shelf__write_file_atomic(&e, p, "old", 3, 0644));
    ASSERT_OK(shelf__write_file_atomic(&e, p, "new!", 4, 0644));
    back = test_read_file(p, &n);
    ASSERT_EQ_INT(n, 4);
    ASSERT(memcmp(back, "new!", 4) == 0);
    free(back);
    test_pathf(missing, sizeof missing, "%s/no/such/dir/f", d);
    ASSERT_RC(SHELF_ENOTFOUND, shelf__write_file_atomic(&e, missing, "x", 1, 0644));
    ASSERT(strstr(e.msg, "cannot create") != NULL);
    snprintf(cmd, sizeof cmd, "ls -A '%s'", d);
    ASSERT((ls = popen(cmd, "r")) != NULL);
    while (fgets(line, sizeof line, ls))
        count++;
    pclose(ls);
    ASSERT_EQ_INT(count, 1);
}

TEST(commit_temp_failure_removes_the_temp)
{
    const char *d = test_tmpdir();
    char tmp[PATH_MAX], final[PATH_MAX];
    shelf__err e = { 0, "" };
    struct stat sb;
    int fd;

    test_pathf(tmp, sizeof tmp, "%s/t", d);
    test_pathf(final, sizeof final, "%s/missing/f", d);
    ASSERT((fd = open(tmp, O_WRONLY | O_CREAT, 0644)) >= 0);
    ASSERT(shelf__commit_temp(&e, fd, tmp, final) != SHELF_OK);
    ASSERT(strstr(e.msg, "cannot rename") != NULL);
    ASSERT(stat(tmp, &sb) != 0);
}

TEST(little_endian_round_trips)
{
    uint8_t b[8];

    shelf__put_le16(b, 0xBEEF);
    ASSERT(b[0] == 0xEF && b[1] == 0xBE);
    ASSERT_EQ_INT(shelf__get_le16(b), 0xBEEF);
    shelf__put_le32(b, 0x12345678u);
    ASSERT(b[0] == 0x78 && b[3] == 0x12);
    ASSERT_EQ_INT(shelf__get_le32(b), 0x12345678u);
    shelf__put_le64(b, 0x0102030405060708ull);
    ASSERT(b[0] == 0x08 && b[7] == 0x01);
    ASSERT(shelf__get_le64(b) == 0x0102030405060708ull);
}

/* The pool: every item runs once, on a worker id in range. */
typedef struct sumjob {
    atomic_ulong sum;
    atomic_int bad_worker, threads_seen[16];
    int nthreads;
    pthread_t caller;
    atomic_int in_caller;
} sumjob;

static void add_item(void *arg, size_t item, int worker)
{
    sumjob *s = arg;

    atomic_fetch_add(&s->sum, (unsigned long)item + 1);
    if (worker < 0 || worker >= s->nthreads)
        atomic_store(&s->bad_worker, 1);
    else
        atomic_store(&s->threads_seen[worker], 1);
    if (pthread_equal(pthread_self(), s->caller))
        atomic_store(&s->in_caller, 1);
    if (item % 97 == 0)
        usleep(200);
}

TEST(pool_runs_every_item_once_on_its_workers)
{
    shelf__pool *p = shelf__pool_new(4, 2);
    static sumjob s[8];
    uint64_t t[8];
    int i, seen = 0;

    ASSERT(p != NULL);
    ASSERT_EQ_INT(shelf__pool_threads(p), 4);
    for (i = 0; i < 8; i++) {
        s[i].nthreads = 4;
        s[i].caller = pthread_self();
        t[i] = shelf__pool_submit(p, add_item, &s[i], 1000);  /* waits for room */
    }
    shelf__pool_wait(p, t[7]);
    ASSERT(shelf__pool_done(p, t[7]));
    shelf__pool_wait_all(p);
    for (i = 0; i < 8; i++) {
        int k;

        ASSERT(shelf__pool_done(p, t[i]));
        ASSERT_EQ_INT(atomic_load(&s[i].sum), 1000 * 1001 / 2);
        ASSERT_EQ_INT(atomic_load(&s[i].bad_worker), 0);
        ASSERT_EQ_INT(atomic_load(&s[i].in_caller), 0);
        for (k = 0; k < 4; k++)
            seen |= atomic_load(&s[i].threads_seen[k]) << k;
    }
    ASSERT(seen != 0 && (seen & (seen - 1)) != 0);     /* more than one worker ran */
    shelf__pool_free(p);
}

TEST(pool_without_threads_runs_in_the_caller)
{
    shelf__pool *p = shelf__pool_new(-1, 1);
    static sumjob s;
    uint64_t t;

    ASSERT(p != NULL);
    ASSERT_EQ_INT(shelf__pool_threads(p), 1);
    s.nthreads = 1;
    s.caller = pthread_self();
    t = shelf__pool_submit(p, add_item, &s, 10);
    ASSERT(shelf__pool_done(p, t));
    ASSERT_EQ_INT(atomic_load(&s.sum), 55);
    ASSERT_EQ_INT(atomic_load(&s.in_caller), 1);
    t = shelf__pool_submit(p, add_item, &s, 0);
    ASSERT(shelf__pool_done(p, t));
    shelf__pool_free(p);
    shelf__pool_free(NULL);
}

int main(int argc, char **argv)
{
    static const test_case tests[] = {
        TEST_ENTRY(write_all_writes_through_a_pipe),
        TEST_ENTRY(rmtree_removes_a_tree_and_not_what_links_point_to),
        TEST_ENTRY(rmtree_reports_what_it_could_not_remove),
        TEST_ENTRY(write_file_atomic_replaces_whole_and_leaves_no_temp),
        TEST_ENTRY(commit_temp_failure_removes_the_temp),
        TEST_ENTRY(little_endian_round_trips),
        TEST_ENTRY(pool_runs_every_item_once_on_its_workers),
        TEST_ENTRY(pool_without_threads_runs_in_the_caller),
        TEST_END
    };
    return test_run(argc, argv, tests);
}
