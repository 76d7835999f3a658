/*
 * test_parchive.c: projects archived to a target and brought back
 * (include/shelf/archive.h, shelf_project_archive and _unarchive) through
 * the API: what is freed and what stays, the archived state the catalog
 * shows, the same bytes back; and every allocation of an archive and of an
 * unarchive failing once: the call fails cleanly (nothing leaked, no
 * sample whose file is gone without being marked archived), and the next
 * call without a failure finishes the job with the same bytes back.
 */
#include <fcntl.h>
#include <sndfile.h>
#include <unistd.h>
#include "test.h"
#include "audiogen.h"
#include "alloc_fault.h"

#define WAV16 (SF_FORMAT_WAV | SF_FORMAT_PCM_16)
#define NSAMPLES 3

typedef struct fixture {
    char lib[4096], root[4096], target[4096];
    char paths[NSAMPLES][4096];
    int64_t ids[NSAMPLES];
    shelf_library *l;
} fixture;

/* The archived time of project 1 in the listing. */
static int on_id(void *ud, const shelf_docinfo *d)
{
    if (d->id == 1)
        *(int64_t *)ud = d->archived;
    return 0;
}

/* Three samples; project 1 uses the first two, project 2 the second. */
static void setup(fixture *f)
{
    const char *d = test_tmpdir();
    const char *roots[1];
    shelf_import_opts o;
    int64_t pid;
    char json[256];
    int i;

    test_pathf(f->lib, sizeof f->lib, "%s/lib", d);
    test_pathf(f->root, sizeof f->root, "%s/samples é", d);
    test_pathf(f->target, sizeof f->target, "%s/target", d);
    ASSERT(mkdir(f->root, 0777) == 0);
    for (i = 0; i < NSAMPLES; i++) {
        test_pathf(f->paths[i], sizeof f->paths[i], "%s/s%d 🥁.wav", f->root, i);
        ASSERT_EQ_INT(tg_write_simple(f->paths[i], WAV16, 44100, 1, 3000 + i, 10 + (unsigned)i), 0);
    }
    ASSERT_OK(shelf_library_open(f->lib, SHELF_OPEN_CREATE, &f->l, NULL));
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    roots[0] = f->root;
    ASSERT_OKL(f->l, shelf_import(f->l, roots, 1, &o, NULL));
    for (i = 0; i < NSAMPLES; i++)
        ASSERT_OKL(f->l, shelf_catalog_find_path(f->l, f->paths[i], &f->ids[i]));
    snprintf(json, sizeof json, "{\"shelf_project\": 1, \"name\": \"one\", \"samples\": {\"%lld\": {}, "
             "\"%lld\": {}}}", (long long)f->ids[0], (long long)f->ids[1]);
    ASSERT_OKL(f->l, shelf_doc_create(f->l, SHELF_DOC_PROJECT, json, "new", &pid));
    ASSERT_EQ_INT(pid, 1);
    snprintf(json, sizeof json, "{\"shelf_project\": 1, \"name\": \"two\", \"samples\": {\"%lld\": {}}}",
             (long long)f->ids[1]);
    ASSERT_OKL(f->l, shelf_doc_create(f->l, SHELF_DOC_PROJECT, json, "new", &pid));
    ASSERT_EQ_INT(pid, 2);
}

static int missing_of(fixture *f, int i)
{
    shelf_cursor *cur = NULL;
    const shelf_sample *s = NULL;
    int m;

    ASSERT_OKL(f->l, shelf_catalog_get(f->l, f->ids[i], &cur, &s));
    m = s->missing;
    shelf_cursor_free(cur);
    return m;
}

/* Each sample's file is there with its catalog bytes, or gone and marked
 * archived: never gone unmarked. */
static void consistent(fixture *f)
{
    int i;

    for (i = 0; i < NSAMPLES; i++) {
        int there = access(f->paths[i], F_OK) == 0;

        ASSERT(there || missing_of(f, i) == SHELF_SAMPLE_ARCHIVED);
        if (there) {
            shelf_cursor *cur = NULL;
            const shelf_sample *s = NULL;
            uint8_t h[32];
            char hex[65];
            uint64_t size;
            char buf[65536];
            int fd = open(f->paths[i], O_RDONLY);

            ASSERT(fd >= 0);
            ASSERT_EQ_INT(shelf__sha256_fd(fd, buf, sizeof buf, h, &size), 0);
            close(fd);
            shelf__hex(h, sizeof h, hex);
            ASSERT_OKL(f->l, shelf_catalog_get(f->l, f->ids[i], &cur, &s));
            ASSERT_EQ_STR(hex, s->sha256);
            shelf_cursor_free(cur);
        }
    }
}

TEST(archive_frees_what_nothing_else_uses)
{
    fixture f;
    shelf_project_archive_stats st = { .size = sizeof st };
    int64_t archived = 0;

    setup(&f);
    ASSERT_OKL(f.l, shelf_project_archive(f.l, 1, f.target, NULL, &st));
    ASSERT_EQ_INT(st.samples, 2);
    ASSERT_EQ_INT(st.freed, 1);             /* the second is project two's too */
    ASSERT(st.archive_bytes > 0 && st.name[0]);
    ASSERT(access(f.paths[0], F_OK) != 0);
    ASSERT(access(f.paths[1], F_OK) == 0);
    ASSERT_EQ_INT(missing_of(&f, 0), SHELF_SAMPLE_ARCHIVED);
    ASSERT_EQ_INT(missing_of(&f, 1), 0);
    ASSERT_OKL(f.l, shelf_doc_list(f.l, SHELF_DOC_PROJECT, on_id, &archived));
    ASSERT(archived > 0);
    ASSERT_RC(SHELF_EEXIST, shelf_project_archive(f.l, 1, f.target, NULL, NULL));
    consistent(&f);
    /* two archived as well: the shared sample goes with it */
    ASSERT_OKL(f.l, shelf_project_archive(f.l, 2, f.target, NULL, &st));
    ASSERT_EQ_INT(st.freed, 1);
    ASSERT(access(f.paths[1], F_OK) != 0);
    ASSERT_OKL(f.l, shelf_project_unarchive(f.l, 1, NULL, &st));
    ASSERT_EQ_INT(st.freed, 2);             /* both its samples, whoever freed them */
    ASSERT_OKL(f.l, shelf_project_unarchive(f.l, 2, NULL, &st));
    ASSERT_EQ_INT(st.freed, 0);
    consistent(&f);
    ASSERT(access(f.paths[0], F_OK) == 0 && access(f.paths[1], F_OK) == 0);
    ASSERT_RC(SHELF_ENOTFOUND, shelf_project_unarchive(f.l, 1, NULL, NULL));
    ASSERT_RC(SHELF_ENOTFOUND, shelf_project_archive(f.l, 9, f.target, NULL, NULL));
    shelf_library_close(f.l);
}

TEST(keep_local_frees_nothing)
{
    fixture f;
    shelf_project_archive_opts o = { .size = sizeof o, .keep_local = 1, .parity = -1 };
    shelf_project_archive_stats st = { .size = sizeof st };

    setup(&f);
    ASSERT_OKL(f.l, shelf_project_archive(f.l, 1, f.target, &o, &st));
    ASSERT_EQ_INT(st.freed, 0);
    ASSERT(access(f.paths[0], F_OK) == 0);
    ASSERT_OKL(f.l, shelf_project_unarchive(f.l, 1, NULL, &st));
    shelf_library_close(f.l);
}

/* Every allocation of an archive, then of an unarchive, fails once. */
TEST(alloc_fail_archive_and_unarchive)
{
    fixture f;
    long n;
    int pass, tried = 0, failed = 0;

    setup(&f);
    for (pass = 0; pass < 2; pass++) {
        for (n = 1; n < 100000; n += n < 100 ? 1 : n / 8) {
            int rc, hit;

            if (pass == 1)
                ASSERT_OKL(f.l, shelf_project_archive(f.l, 1, f.target, NULL, NULL));
            shelf__alloc_fail_after(n);
            rc = pass == 0 ? shelf_project_archive(f.l, 1, f.target, NULL, NULL)
                           : shelf_project_unarchive(f.l, 1, NULL, NULL);
            hit = fault_hit(n);
            shelf__alloc_fail_after(0);
            tried++;
            if (rc != SHELF_OK) {
                /* ENOMEM, or what an allocation failing inside SQLite or
                 * a library becomes; never a state that loses a file */
                failed++;
                if (!(rc == SHELF_ENOMEM || rc == SHELF_EIO || rc == SHELF_EDB || rc == SHELF_ECORRUPT ||
                      rc == SHELF_EFORMAT))
                    printf("    n %ld: %s: %s\n", n, shelf_strerror(rc), shelf_errmsg(f.l));
                ASSERT(rc == SHELF_ENOMEM || rc == SHELF_EIO || rc == SHELF_EDB || rc == SHELF_ECORRUPT ||
                       rc == SHELF_EFORMAT);
            }
            consistent(&f);
            /* the next call without a failure finishes the job */
            if (pass == 0 && rc != SHELF_OK)
                ASSERT_OKL(f.l, shelf_project_archive(f.l, 1, f.target, NULL, NULL));
            if (pass == 1 && rc != SHELF_OK)
                ASSERT_OKL(f.l, shelf_project_unarchive(f.l, 1, NULL, NULL));
            if (pass == 0)
                ASSERT_OKL(f.l, shelf_project_unarchive(f.l, 1, NULL, NULL));
            consistent(&f);
            ASSERT(access(f.paths[0], F_OK) == 0);
            if (!hit)
                break;
        }
        printf("    %s: allocation points tried up to %ld, %d of %d runs failed\n",
               pass == 0 ? "archive" : "unarchive", n, failed, tried);
        ASSERT(n > 20 && n < 100000);
    }
    shelf_library_close(f.l);
}

int main(int argc, char **argv)
{
    static const test_case tests[] = {
        TEST_ENTRY(archive_frees_what_nothing_else_uses),
        TEST_ENTRY(keep_local_frees_nothing),
        TEST_ENTRY(alloc_fail_archive_and_unarchive),
        TEST_END
    };
    return test_run(argc, argv, tests);
}
