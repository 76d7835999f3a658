/*
 * test.h: the tiny assertion framework and runner of shelf's unit tests
 * (after libuv's ASSERT_EQ and libarchive's assertEqualIntA), plus helpers
 * for temporary folders and whole files.  Header only: every helper is
 * static, so each test program carries its own copy and its own state.
 *
 * A test program looks like this:
 *
 *     #include "test.h"
 *
 *     TEST(adds) {
 *         ASSERT_EQ_INT(2 + 2, 4);
 *     }
 *
 *     int main(int argc, char **argv)
 *     {
 *         static const test_case tests[] = { TEST_ENTRY(adds), TEST_END };
 *         return test_run(argc, argv, tests);
 *     }
 *
 * Each test runs in a child process (fork), so a failed ASSERT, which prints
 * file:line and both values and then exits with status 1, ends only its own
 * test; a crash is reported with its signal.  The runner prints one line per
 * test and "N passed, M failed" at the end, and exits 0 only when none
 * failed.  Arguments name the tests to run (default: all).
 *
 * Environment:
 *   SHELF_TEST_KEEP    keep the temporary folders (their paths are printed)
 *   SHELF_TEST_NOFORK  run the tests in the runner's own process, which
 *                      makes them easy to debug; the first failure ends all
 *   TMPDIR             where temporary folders go (default /tmp)
 *
 * Needs _GNU_SOURCE (or _XOPEN_SOURCE >= 700) for mkdtemp and nftw; the
 * build defines it for every file.
 */
#ifndef SHELF_TEST_H
#define SHELF_TEST_H

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <grp.h>
#include <sys/wait.h>
#include <unistd.h>
#include "shelf/shelf.h"

/* The exit status of a test that skipped itself (ctest's convention). */
#define TEST_SKIP_STATUS 77

typedef struct test_case {
    const char *name;
    void (*fn)(void);
} test_case;

/* Define a test; list it in main with TEST_ENTRY(name). */
#define TEST(name) static void test_##name(void)
#define TEST_ENTRY(name) { #name, test_##name }
#define TEST_END { NULL, NULL }

/* ---- failure reporting ------------------------------------------------- */

/* Print "file:line: message" and end the test with status 1. */
__attribute__((format(printf, 3, 4), noreturn))
static inline void test__fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;

    fflush(stdout);
    fprintf(stderr, "%s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    exit(1);
}

/* Print why and end the test as skipped. */
#define TEST_SKIP(...)                                                        \
    do {                                                                      \
        (void)fflush(stdout);                                                 \
        fprintf(stderr, "%s:%d: skipped: ", __FILE__, __LINE__);              \
        fprintf(stderr, __VA_ARGS__);                                         \
        fputc('\n', stderr);                                                  \
        exit(TEST_SKIP_STATUS);                                               \
    } while (0)

/* ---- assertions ---------------------------------------------------------- */

/* Fail unless cond is true. */
#define ASSERT(cond)                                                          \
    do {                                                                      \
        if (!(cond))                                                          \
            test__fail(__FILE__, __LINE__, "assertion failed: %s", #cond);   \
    } while (0)

/* Fail unless two integers are equal (compared as long long). */
#define ASSERT_EQ_INT(a, b)                                                   \
    do {                                                                      \
        long long test_a_ = (long long)(a), test_b_ = (long long)(b);         \
        if (test_a_ != test_b_)                                               \
            test__fail(__FILE__, __LINE__,                                    \
                       "ASSERT_EQ_INT(%s, %s) failed: %lld != %lld",          \
                       #a, #b, test_a_, test_b_);                             \
    } while (0)

/* Fail unless two strings are equal; NULL equals only NULL. */
#define ASSERT_EQ_STR(a, b)                                                   \
    do {                                                                      \
        const char *test_a_ = (a), *test_b_ = (b);                            \
        if (!(test_a_ == test_b_ ||                                           \
              (test_a_ && test_b_ && strcmp(test_a_, test_b_) == 0)))         \
            test__fail(__FILE__, __LINE__,                                    \
                       "ASSERT_EQ_STR(%s, %s) failed: \"%s\" != \"%s\"",      \
                       #a, #b, test_a_ ? test_a_ : "(null)",                  \
                       test_b_ ? test_b_ : "(null)");                         \
    } while (0)

/* Fail unless rc is SHELF_OK (0). */
#define ASSERT_OK(rc)                                                         \
    do {                                                                      \
        int test_rc_ = (rc);                                                  \
        if (test_rc_ != 0)                                                    \
            test__fail(__FILE__, __LINE__,                                    \
                       "ASSERT_OK(%s) failed: %d (%s)", #rc, test_rc_,        \
                       shelf_strerror(test_rc_));                             \
    } while (0)

/* Fail unless rc is expected. */
#define ASSERT_RC(expected, rc)                                               \
    do {                                                                      \
        int test_e_ = (expected), test_rc_ = (rc);                            \
        if (test_rc_ != test_e_)                                              \
            test__fail(__FILE__, __LINE__,                                    \
                       "ASSERT_RC(%s, %s) failed: expected %d (%s), got %d (%s)", \
                       #expected, #rc, test_e_, shelf_strerror(test_e_),      \
                       test_rc_, shelf_strerror(test_rc_));                   \
    } while (0)

/* ASSERT_OK that also prints the message of the library handle lib. */
#define ASSERT_OKL(lib, rc)                                                   \
    do {                                                                      \
        int test_rc_ = (rc);                                                  \
        if (test_rc_ != 0)                                                    \
            test__fail(__FILE__, __LINE__,                                    \
                       "ASSERT_OKL(%s) failed: %d (%s): %s", #rc, test_rc_,   \
                       shelf_strerror(test_rc_), shelf_errmsg(lib));          \
    } while (0)

/* ASSERT_OK that also prints msg, a string evaluated only on failure
 * (for internal handles: ASSERT_OKM(err.msg, rc)). */
#define ASSERT_OKM(msg, rc)                                                   \
    do {                                                                      \
        int test_rc_ = (rc);                                                  \
        if (test_rc_ != 0)                                                    \
            test__fail(__FILE__, __LINE__,                                    \
                       "ASSERT_OKM(%s) failed: %d (%s): %s", #rc, test_rc_,   \
                       shelf_strerror(test_rc_), (msg));                      \
    } while (0)

/* ---- temporary folders --------------------------------------------------- */

#define TEST__MAX_DIRS 64

struct test__state {
    char *dirs[TEST__MAX_DIRS];
    int ndirs;
    int atexit_done;
};

static inline struct test__state *test__state(void)
{
    static struct test__state st;

    return &st;
}

static inline int test__rm_one(const char *path, const struct stat *sb, int flag,
                               struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    if (flag == FTW_DP || flag == FTW_D || flag == FTW_DNR)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

/* Make folders writable and searchable first, so rm -r can empty them. */
static inline int test__chmod_one(const char *path, const struct stat *sb, int flag,
                                  struct FTW *ftw)
{
    (void)ftw;
    if (flag == FTW_D || flag == FTW_DNR)
        chmod(path, (sb->st_mode & 07777) | S_IRWXU);
    return 0;
}

/* rm -r path; missing is not an error. */
static inline void test_rm_rf(const char *path)
{
    struct stat sb;

    if (lstat(path, &sb) != 0)
        return;
    nftw(path, test__chmod_one, 16, FTW_PHYS);
    nftw(path, test__rm_one, 16, FTW_PHYS | FTW_DEPTH);
}

static inline void test__cleanup(void)
{
    struct test__state *st = test__state();
    int keep = getenv("SHELF_TEST_KEEP") != NULL, i;

    for (i = 0; i < st->ndirs; i++) {
        if (keep)
            fprintf(stderr, "kept %s\n", st->dirs[i]);
        else
            test_rm_rf(st->dirs[i]);
        free(st->dirs[i]);
    }
    st->ndirs = 0;
}

/*
 * Make a fresh, empty temporary folder and return its absolute path
 * (borrowed: valid until the test ends, when the folder is removed).
 */
#define test_tmpdir() test__tmpdir(__FILE__, __LINE__)
static inline const char *test__tmpdir(const char *file, int line)
{
    struct test__state *st = test__state();
    const char *base = getenv("TMPDIR");
    char tmpl[PATH_MAX], *abs;
    int n;

    if (!base || !*base)
        base = "/tmp";
    if (st->ndirs == TEST__MAX_DIRS)
        test__fail(file, line, "too many temporary folders");
    /* Digits only after a fixed word: the path is searchable text (a
     * library indexes its roots' paths), and random letters could start
     * like a word a test searches for. */
    for (;;) {
        static unsigned counter;

        n = snprintf(tmpl, sizeof tmpl, "%s/shelf-test-%ld-%u", base, (long)getpid(), counter++);
        if (n < 0 || (size_t)n >= sizeof tmpl)
            test__fail(file, line, "temporary folder name too long");
        if (mkdir(tmpl, 0700) == 0)
            break;
        if (errno != EEXIST)
            test__fail(file, line, "cannot create '%s': %s", tmpl, strerror(errno));
    }
    if (!(abs = realpath(tmpl, NULL)))
        test__fail(file, line, "cannot resolve '%s': %s", tmpl, strerror(errno));
    if (!st->atexit_done) {
        atexit(test__cleanup);
        st->atexit_done = 1;
    }
    st->dirs[st->ndirs++] = abs;
    return abs;
}

/* ---- paths and files ----------------------------------------------------- */

/* Format a path into buf (size bytes) and return buf; fails on overflow. */
#define test_pathf(buf, size, ...) test__pathf(__FILE__, __LINE__, buf, size, __VA_ARGS__)
__attribute__((format(printf, 5, 6)))
static inline char *test__pathf(const char *file, int line, char *buf, size_t size,
                                const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= size)
        test__fail(file, line, "path too long: %s", fmt);
    return buf;
}

/* Create or replace the file at path with n bytes of data. */
#define test_write_file(path, data, n) test__write_file(__FILE__, __LINE__, path, data, n)
static inline void test__write_file(const char *file, int line, const char *path,
                                    const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");

    if (!f)
        test__fail(file, line, "cannot create '%s': %s", path, strerror(errno));
    if ((n && fwrite(data, 1, n, f) != n) || fclose(f) != 0)
        test__fail(file, line, "cannot write '%s': %s", path, strerror(errno));
}

/*
 * Read the whole file at path.  Returns an owned buffer (free with free())
 * with a NUL after the last byte; *n (when not NULL) receives the size.
 */
#define test_read_file(path, n) test__read_file(__FILE__, __LINE__, path, n)
static inline char *test__read_file(const char *file, int line, const char *path,
                                    size_t *n)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0, got;

    if (!f)
        test__fail(file, line, "cannot open '%s': %s", path, strerror(errno));
    do {
        if (cap - len < 4096) {
            char *p;

            cap = cap ? 2 * cap : 65536;
            if (!(p = realloc(buf, cap + 1)))
                test__fail(file, line, "out of memory reading '%s'", path);
            buf = p;
        }
        got = fread(buf + len, 1, cap - len, f);
        len += got;
    } while (got > 0);
    if (ferror(f))
        test__fail(file, line, "cannot read '%s': %s", path, strerror(errno));
    fclose(f);
    buf[len] = '\0';
    if (n)
        *n = len;
    return buf;
}

/* 1 when something exists at path (lstat), 0 when not. */
static inline int test_exists(const char *path)
{
    struct stat sb;

    return lstat(path, &sb) == 0;
}

/* ---- runner -------------------------------------------------------------- */

/*
 * Run fn(arg) in a child process that, when this one is root, has dropped
 * to nobody (uid and gid 65534) first, so folder permissions apply to it as
 * they do to a user (root ignores them; CI runs as root).  Returns fn's
 * value as the child's exit status (0..255), 254 when the child could not
 * drop its rights, 128 + N when it died of signal N.
 */
static inline int test_as_nobody(int (*fn)(void *), void *arg)
{
    int status;
    pid_t pid;

    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid < 0)
        return 253;
    if (pid == 0) {
        if (geteuid() == 0 && (setgroups(0, NULL) != 0 || setgid(65534) != 0 ||
                               setuid(65534) != 0))
            _exit(254);
        _exit(fn(arg) & 0xff);
    }
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return 253;
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

/* Run one test in this process: 0 passed, 1 failed, TEST_SKIP_STATUS skipped. */
static inline int test__run_here(const test_case *t)
{
    t->fn();
    fflush(stdout);
    test__cleanup();
    return 0;
}

/* Run one test in a child; returns its status as test__run_here does. */
static inline int test__run_child(const test_case *t)
{
    pid_t pid, w;
    int status;

    fflush(stdout);
    fflush(stderr);
    if ((pid = fork()) < 0) {
        fprintf(stderr, "cannot fork: %s\n", strerror(errno));
        return 1;
    }
    if (pid == 0)
        exit(test__run_here(t));
    while ((w = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
        ;
    if (w < 0) {
        fprintf(stderr, "cannot wait for test '%s': %s\n", t->name, strerror(errno));
        return 1;
    }
    if (WIFSIGNALED(status)) {
        fprintf(stderr, "test '%s' killed by signal %d\n", t->name, WTERMSIG(status));
        return 1;
    }
    if (!WIFEXITED(status))
        return 1;
    return WEXITSTATUS(status) == TEST_SKIP_STATUS ? TEST_SKIP_STATUS
                                                   : WEXITSTATUS(status) != 0;
}

static inline int test__selected(int argc, char **argv, const char *name)
{
    int i;

    if (argc < 2)
        return 1;
    for (i = 1; i < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return 1;
    return 0;
}

/*
 * Run the tests of the list (ended by TEST_END) that argv names, or all.
 * Returns the exit status for main: 1 when one failed or none ran,
 * TEST_SKIP_STATUS (77) when none failed and at least one skipped itself (so
 * ctest, with SKIP_RETURN_CODE 77, reports the program as skipped rather
 * than passed), 0 when every selected test passed.
 */
static inline int test_run(int argc, char **argv, const test_case *tests)
{
    int nofork = getenv("SHELF_TEST_NOFORK") != NULL;
    int passed = 0, failed = 0, skipped = 0, i;

    setvbuf(stdout, NULL, _IOLBF, 0);
    for (i = 1; i < argc; i++) {
        const test_case *t;

        for (t = tests; t->name && strcmp(t->name, argv[i]) != 0; t++)
            ;
        if (!t->name) {
            fprintf(stderr, "no test named '%s'\n", argv[i]);
            return 1;
        }
    }
    for (; tests->name; tests++) {
        int r;

        if (!test__selected(argc, argv, tests->name))
            continue;
        r = nofork ? test__run_here(tests) : test__run_child(tests);
        if (r == 0) {
            passed++;
            printf("ok   %s\n", tests->name);
        } else if (r == TEST_SKIP_STATUS) {
            skipped++;
            printf("skip %s\n", tests->name);
        } else {
            failed++;
            printf("FAIL %s\n", tests->name);
        }
    }
    if (skipped)
        printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    else
        printf("%d passed, %d failed\n", passed, failed);
    if (failed || passed + skipped == 0)
        return 1;
    return skipped ? TEST_SKIP_STATUS : 0;
}

#endif /* SHELF_TEST_H */
