/*
 * test_watch.c: the watcher (include/shelf/service.h) hosted in a poll
 * loop of the test's own, as shelf daemon hosts it: a file written is
 * imported, renamed keeps its id, deleted is missing; the options follow
 * the size rule; shelf__import_gone marks only what is gone under a root
 * that is there; and every allocation of open and of a step can fail
 * cleanly (SHELF_ENOMEM, nothing leaked, the next watcher catches up).
 */
#include <poll.h>
#include <sndfile.h>
#include <time.h>
#include "test.h"
#include "audiogen.h"
#include "alloc_fault.h"
#include "opts_size.h"
#include "import/import_int.h"

#define WAV16 (SF_FORMAT_WAV | SF_FORMAT_PCM_16)

typedef struct seen {
    int status;
    int64_t id;
    char path[4096];
    int n, notes;
} seen;

static void on_file(void *ud, int status, const char *path, int64_t id, const char *reason)
{
    seen *s = ud;

    (void)reason;
    s->status = status;
    s->id = id;
    snprintf(s->path, sizeof s->path, "%s", path);
    s->n++;
}

static void on_note(void *ud, const char *line)
{
    seen *s = ud;

    ASSERT(strchr(line, '\n') == NULL);
    s->notes++;
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static shelf_library *make_library(const char *dir, const char *root, int n)
{
    shelf_library *lib = NULL;
    shelf_import_opts o;
    const char *paths[1] = { root };
    char p[4096];
    int i;

    ASSERT(mkdir(root, 0777) == 0);
    for (i = 0; i < n; i++) {
        test_pathf(p, sizeof p, "%s/s%d.wav", root, i);
        ASSERT_EQ_INT(tg_write_simple(p, WAV16, 44100, 1, 1000 + i, 1 + (unsigned)i), 0);
    }
    ASSERT_OK(shelf_library_open(dir, SHELF_OPEN_CREATE, &lib, NULL));
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    ASSERT_OKL(lib, shelf_import(lib, paths, 1, &o, NULL));
    return lib;
}

static shelf_watch_opts watch_opts(seen *s)
{
    shelf_watch_opts o;

    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.flags = SHELF_WATCH_NO_SCAN;
    o.debounce_ms = 50;
    o.on_file = on_file;
    o.on_note = on_note;
    o.ud = s;
    return o;
}

/* The host's loop: poll and step until on_file has fired want times (5 s
 * at most). */
static void run_until(shelf_library *lib, shelf_watch *w, seen *s, int want)
{
    double end = now_s() + 5;

    while (s->n < want && now_s() < end) {
        struct pollfd pfd = { shelf_watch_fd(w), POLLIN, 0 };
        int t = shelf_watch_timeout(w);

        ASSERT(t >= 0 && t <= 2001);
        ASSERT(poll(&pfd, 1, t) >= 0);
        ASSERT_OKL(lib, shelf_watch_step(w));
    }
    ASSERT_EQ_INT(s->n, want);
}

static int open_close(shelf_library *lib, const shelf_watch_opts *o)
{
    shelf_watch *w = NULL;
    int rc = shelf_watch_open(lib, o, &w);

    ASSERT((rc == SHELF_OK) == (w != NULL));
    shelf_watch_close(w);
    return rc;
}

TEST(host_loop_import_move_delete)
{
    const char *d = test_tmpdir();
    char libdir[4096], root[4096], p[4096], q[4096];
    seen s = { 0 };
    shelf_watch_opts o = watch_opts(&s);
    shelf_watch *w = NULL;
    shelf_library *lib;
    int64_t id;

    test_pathf(libdir, sizeof libdir, "%s/lib", d);
    test_pathf(root, sizeof root, "%s/root", d);
    lib = make_library(libdir, root, 2);
    ASSERT_OKL(lib, shelf_watch_open(lib, &o, &w));
    ASSERT_EQ_INT(s.notes, 1);      /* "watching 1 folder in 1 root" */

    test_pathf(p, sizeof p, "%s/new.wav", root);
    ASSERT_EQ_INT(tg_write_simple(p, WAV16, 44100, 1, 3000, 9), 0);
    run_until(lib, w, &s, 1);
    ASSERT_EQ_INT(s.status, SHELF_FILE_IMPORTED);
    ASSERT_EQ_STR(s.path, p);
    id = s.id;

    test_pathf(q, sizeof q, "%s/renamed.wav", root);
    ASSERT(rename(p, q) == 0);
    run_until(lib, w, &s, 2);
    ASSERT_EQ_INT(s.status, SHELF_FILE_MOVED);
    ASSERT_EQ_STR(s.path, q);
    ASSERT(s.id == id);

    ASSERT(unlink(q) == 0);
    run_until(lib, w, &s, 3);
    ASSERT_EQ_INT(s.status, SHELF_FILE_MISSING);
    ASSERT(s.id == id);
    shelf_watch_close(w);
    shelf_library_close(lib);
}

TEST(opts_size_watch)
{
    const char *d = test_tmpdir();
    char libdir[4096], root[4096];
    seen s = { 0 };
    shelf_watch_opts base = watch_opts(&s);
    shelf_library *lib;
    shelf_watch *w = (shelf_watch *)&s;

    test_pathf(libdir, sizeof libdir, "%s/lib", d);
    test_pathf(root, sizeof root, "%s/root", d);
    lib = make_library(libdir, root, 1);
    TEST_OPTS_SIZE(shelf_watch_opts, base, sizeof(shelf_watch_opts), SHELF_OK, open_close(lib, p_));
    base.debounce_ms = -1;
    ASSERT_RC(SHELF_EINVAL, shelf_watch_open(lib, &base, &w));
    ASSERT(w == NULL);
    shelf_library_close(lib);
}

TEST(gone_marks_only_what_is_gone)
{
    const char *d = test_tmpdir();
    char libdir[4096], root[4096], p[4096], other[4096];
    const char *paths[3];
    seen s = { 0 };
    shelf_import_opts o;
    shelf_import_stats st;
    shelf_library *lib;

    test_pathf(libdir, sizeof libdir, "%s/lib", d);
    test_pathf(root, sizeof root, "%s/root", d);
    lib = make_library(libdir, root, 3);
    test_pathf(p, sizeof p, "%s/s1.wav", root);
    ASSERT(unlink(p) == 0);
    test_pathf(other, sizeof other, "%s/elsewhere/s1.wav", d);
    paths[0] = p;                 /* gone */
    paths[1] = root;              /* a folder: only s1 under it is gone */
    paths[2] = other;             /* in no root */
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.on_file = on_file;
    o.ud = &s;
    ASSERT_OKL(lib, shelf__import_gone(lib, paths, 3, &o, &st));
    ASSERT(st.missing == 1);
    ASSERT_EQ_INT(s.n, 1);
    ASSERT_EQ_INT(s.status, SHELF_FILE_MISSING);
    ASSERT_EQ_STR(s.path, p);
    /* marked once: a second call finds nothing more */
    ASSERT_OKL(lib, shelf__import_gone(lib, paths, 2, &o, &st));
    ASSERT(st.missing == 0);
    shelf_library_close(lib);
}

TEST(alloc_fail_watch)
{
    const char *d = test_tmpdir();
    char libdir[4096], root[4096], p[4096];
    shelf_library *lib;
    long n;
    int tried = 0, failed = 0;

    test_pathf(libdir, sizeof libdir, "%s/lib", d);
    test_pathf(root, sizeof root, "%s/root", d);
    lib = make_library(libdir, root, 2);
    ASSERT(mkdir(test_pathf(p, sizeof p, "%s/sub", root), 0777) == 0);
    test_pathf(p, sizeof p, "%s/sub/written.wav", root);
    for (n = 1; n < 100000; n++) {
        seen s = { 0 };
        shelf_watch_opts o = watch_opts(&s);
        shelf_watch *w = NULL;
        int rc, hit;

        o.flags = 0;            /* the first step rescans the root */
        shelf__alloc_fail_after(n);
        rc = shelf_watch_open(lib, &o, &w);
        if (rc == SHELF_OK) {
            /* an event queued (its batch not due yet) beside the rescan */
            ASSERT_EQ_INT(tg_write_simple(p, WAV16, 44100, 1, 500, (unsigned)n), 0);
            rc = shelf_watch_step(w);
        }
        hit = fault_hit(n);
        shelf__alloc_fail_after(0);
        shelf_watch_close(w);
        tried++;
        if (rc != SHELF_OK && rc != SHELF_ENOMEM)
            ASSERT_OKL(lib, rc);
        failed += rc != SHELF_OK;
        if (!hit)
            break;
    }
    printf("    %d allocation points tried up to %ld, %d failed with SHELF_ENOMEM\n", tried, n, failed);
    ASSERT(n > 20 && n < 100000);
    shelf_library_close(lib);
}

int main(int argc, char **argv)
{
    static const test_case tests[] = {
        TEST_ENTRY(host_loop_import_move_delete),
        TEST_ENTRY(opts_size_watch),
        TEST_ENTRY(gone_marks_only_what_is_gone),
        TEST_ENTRY(alloc_fail_watch),
        TEST_END
    };
    return test_run(argc, argv, tests);
}
