/*
 * test_archive.c: unit tests of lib/archive's BagIt side: manifest lines
 * (percent-encoding both ways), bag-info labels, the name check, the string
 * set without case, and the reader from memory on archives written here
 * with libarchive: a good bag passes, a lying manifest, a wrong
 * Payload-Oxum, a case collision, a symlink and a zstd bomb are caught.
 */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <sndfile.h>
#include <sys/stat.h>
#include <unistd.h>
#include "test.h"
#include "alloc_fault.h"
#include "audiogen.h"
#include "opts_size.h"
#include "archive/archive_int.h"

typedef struct seen {
    char path[64];
    int n;
} seen;

static int cb(void *ud, const char *path, const uint8_t *hash)
{
    seen *g = ud;

    snprintf(g->path, sizeof g->path, "%s", path);
    g->n++;
    return hash[0] == 0xab ? SHELF_OK : SHELF_EINVAL;
}

TEST(manifest_round_trip)
{
    shelf__buf b = SHELF__BUF_INIT;
    uint8_t h[SHELF_HASH_BYTES];
    shelf__err err = { 0, "" };
    const char *want = "data/50%off.wav";
    seen got = { "", 0 };

    memset(h, 0xab, sizeof h);
    ASSERT_OK(shelf__bag_manifest_line(&b, h, sizeof h, want));
    ASSERT(strstr(b.buf, " data/50%25off.wav\n") != NULL);
    ASSERT_OK(shelf__bag_manifest_parse(b.buf, b.len, sizeof h, cb, &got, &err));
    ASSERT_EQ_STR(got.path, want);
    ASSERT_EQ_INT(got.n, 1);
    /* CR and LF are encoded, one line per file; such names are refused on reading. */
    shelf__buf_reset(&b);
    ASSERT_OK(shelf__bag_manifest_line(&b, h, sizeof h, "data/a\nb\rc"));
    ASSERT(strstr(b.buf, " data/a%0Ab%0Dc\n") != NULL);
    ASSERT_EQ_INT(strchr(b.buf, '\n') - b.buf, (long)strlen(b.buf) - 1);
    ASSERT_RC(SHELF_EFORMAT, shelf__bag_manifest_parse(b.buf, b.len, sizeof h, cb, &got, &err));
    ASSERT(strstr(err.msg, "control character") != NULL);
    ASSERT_RC(SHELF_EFORMAT, shelf__bag_manifest_parse("abc data/x\n", 11, sizeof h, cb, &got, &err));
    ASSERT(strstr(err.msg, "line 1") != NULL);
    shelf__buf_reset(&b);
    shelf__bag_manifest_line(&b, h, sizeof h, "data/../../etc/passwd");
    ASSERT_RC(SHELF_EFORMAT, shelf__bag_manifest_parse(b.buf, b.len, sizeof h, cb, &got, &err));
    ASSERT(strstr(err.msg, "'..'") != NULL);
    shelf__buf_release(&b);
}

TEST(names_and_info)
{
    char *v;
    const char *info = "Source-Organization: x\nPayload-Oxum:  12.3 \r\n";

    ASSERT(shelf__bag_name_unsafe("bag/data/kick.wav") == NULL);
    ASSERT_EQ_STR(shelf__bag_name_unsafe("/etc/passwd"), "absolute path");
    ASSERT_EQ_STR(shelf__bag_name_unsafe("bag/../x"), "'..' component");
    ASSERT_EQ_STR(shelf__bag_name_unsafe("bag//x"), "empty path component");
    ASSERT_EQ_STR(shelf__bag_name_unsafe("bag/./x"), "'.' component");
    ASSERT_EQ_STR(shelf__bag_name_unsafe("bag\\x"), "backslash in name");
    ASSERT_EQ_STR(shelf__bag_name_unsafe("C:x"), "drive letter");
    ASSERT_EQ_STR(shelf__bag_name_unsafe("bag/a\nb"), "control character in name");
    ASSERT_EQ_STR(shelf__bag_name_unsafe(""), "empty name");
    ASSERT_OK(shelf__bag_info_get(info, strlen(info), "payload-oxum", &v));
    ASSERT_EQ_STR(v, "12.3");
    free(v);
    ASSERT_OK(shelf__bag_info_get(info, strlen(info), "Bagging-Date", &v));
    ASSERT(v == NULL);
}

TEST(strset_folds_case)
{
    shelf__strset s = { NULL, 0, 0, 1 };
    const char *found;
    char name[32];
    int i;

    ASSERT_EQ_INT(shelf__strset_add(&s, "Data/Kick.wav", NULL), 1);
    ASSERT_EQ_INT(shelf__strset_add(&s, "data/KICK.wav", &found), 0);
    ASSERT_EQ_STR(found, "Data/Kick.wav");
    for (i = 0; i < 1000; i++) {
        snprintf(name, sizeof name, "f%d", i);
        ASSERT_EQ_INT(shelf__strset_add(&s, name, NULL), 1);
    }
    ASSERT(shelf__strset_has(&s, "F999"));
    ASSERT(!shelf__strset_has(&s, "f1000"));
    shelf__strset_release(&s);
}

/* ---- archives written here ------------------------------------------------ */

typedef struct mem {
    char *buf;
    size_t len, cap;
} mem;

static la_ssize_t mem_write(struct archive *a, void *ud, const void *p, size_t n)
{
    mem *m = ud;

    (void)a;
    if (m->len + n > m->cap) {
        m->cap = (m->len + n) * 2;
        m->buf = realloc(m->buf, m->cap);
        ASSERT(m->buf != NULL);
    }
    memcpy(m->buf + m->len, p, n);
    m->len += n;
    return (la_ssize_t)n;
}

static void put(struct archive *a, const char *name, const void *data, size_t n, int type)
{
    struct archive_entry *e = archive_entry_new();

    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, (unsigned)type);
    archive_entry_set_perm(e, 0644);
    if (type == AE_IFLNK)
        archive_entry_set_symlink(e, "/etc");
    else
        archive_entry_set_size(e, (la_int64_t)n);
    ASSERT_EQ_INT(archive_write_header(a, e), ARCHIVE_OK);
    if (n && type == AE_IFREG)
        ASSERT_EQ_INT(archive_write_data(a, data, n), (long long)n);
    archive_entry_free(e);
}

/* A bag with data/a.txt; what: 0 good, 1 lying manifest, 2 bad oxum,
 * 3 case collision, 4 symlink, 5 zstd bomb. */
static mem make_bag(int what)
{
    mem m = { NULL, 0, 0 };
    struct archive *a = archive_write_new();
    shelf__buf man = SHELF__BUF_INIT;
    uint8_t h[SHELF_HASH_BYTES];
    const char *payload = "hello\n";
    char info[128];

    archive_write_set_format_pax_restricted(a);
    if (what == 5)
        archive_write_add_filter_zstd(a);
    ASSERT_EQ_INT(archive_write_open2(a, &m, NULL, mem_write, NULL, NULL), ARCHIVE_OK);
    put(a, "b/bagit.txt", "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n", 54, AE_IFREG);
    put(a, "b/data/a.txt", payload, 6, AE_IFREG);
    if (what == 3)
        put(a, "b/data/A.txt", payload, 6, AE_IFREG);
    if (what == 4)
        put(a, "b/data/etc", NULL, 0, AE_IFLNK);
    if (what == 5) {
        size_t n = (size_t)8 << 20;
        char *zeros = calloc(1, n);

        put(a, "b/data/zeros.wav", zeros, n, AE_IFREG);
        free(zeros);
    }
    shelf__sha256_mem(what == 1 ? "hellO\n" : payload, 6, h);
    shelf__bag_manifest_line(&man, h, sizeof h, "data/a.txt");
    snprintf(info, sizeof info, "Payload-Oxum: %s\n", what == 2 ? "7.1" : "6.1");
    put(a, "b/bag-info.txt", info, strlen(info), AE_IFREG);
    put(a, "b/manifest-sha256.txt", man.buf, man.len, AE_IFREG);
    ASSERT_EQ_INT(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
    shelf__buf_release(&man);
    return m;
}

static int read_bag(int what, shelf__bag *bag, shelf__err *err)
{
    shelf__bag_limits lim;
    mem m = make_bag(what);
    int rc;

    shelf__bag_limits_init(&lim, NULL);
    lim.ratio_after = 1 << 20;
    lim.max_ratio = 100;
    rc = shelf__bag_read(NULL, m.buf, m.len, &lim, NULL, NULL, NULL, bag, err);
    if (rc == SHELF_OK)
        rc = shelf__bag_check(bag, err);
    free(m.buf);
    return rc;
}

TEST(reader_from_memory)
{
    shelf__bag bag;
    shelf__err err = { 0, "" };

    ASSERT_OKM(err.msg, read_bag(0, &bag, &err));
    ASSERT_EQ_STR(bag.base, "b");
    ASSERT_EQ_INT(bag.payload_bytes, 6);
    ASSERT_EQ_INT(bag.payload_files, 1);
    shelf__bag_release(&bag);

    ASSERT_RC(SHELF_ECORRUPT, read_bag(1, &bag, &err));
    ASSERT_EQ_INT(bag.nproblems, 1);
    ASSERT_EQ_INT(bag.problems[0].kind, SHELF_ARCHIVE_CORRUPT);
    ASSERT_EQ_STR(bag.problems[0].path, "data/a.txt");
    shelf__bag_release(&bag);

    ASSERT_RC(SHELF_ECORRUPT, read_bag(2, &bag, &err));
    ASSERT_EQ_INT(bag.problems[0].kind, SHELF_ARCHIVE_UNLISTED);
    ASSERT_EQ_STR(bag.problems[0].path, "bag-info.txt");
    shelf__bag_release(&bag);

    ASSERT_RC(SHELF_EFORMAT, read_bag(3, &bag, &err));
    ASSERT(strstr(err.msg, "where case does not count") != NULL);
    shelf__bag_release(&bag);

    ASSERT_RC(SHELF_EFORMAT, read_bag(4, &bag, &err));
    ASSERT(strstr(err.msg, "symbolic link") != NULL);
    shelf__bag_release(&bag);

    ASSERT_RC(SHELF_EFORMAT, read_bag(5, &bag, &err));
    ASSERT(strstr(err.msg, "zip bomb") != NULL);
    shelf__bag_release(&bag);
}

/*
 * Out of memory over the archive: export (with PAR2 parity) and verify
 * with allocation n failing, n = 1, 2, ... until the operation makes fewer
 * than n allocations.  Each failure must be SHELF_ENOMEM and leave nothing
 * behind (no archive, parity or temporary file).  Import is not looped
 * yet: shelf_import (lib/import) crashes at one n under it.  A wrong attempt is recorded and
 * the loop goes on (every n runs, for ASan); the test fails with the first.
 */
#define ALLOC_TRIES 20000
/* Under AddressSanitizer or ThreadSanitizer every run of export or import
 * costs ten times as much: the loops over the first allocation points try
 * every fifth one there (every one in the release build). */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define ALLOC_STRIDE 5
#else
#define ALLOC_STRIDE 1
#endif

/* Entries of dir other than . and .. whose name contains part. */
static int count_named(const char *dir, const char *part)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;

    ASSERT(d != NULL);
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 && strstr(de->d_name, part))
            n++;
    closedir(d);
    return n;
}

static shelf_library *lib_at(const char *dir)
{
    shelf_library *lib = NULL;
    char *msg = NULL;
    int rc = shelf_library_open(dir, SHELF_OPEN_CREATE, &lib, &msg);

    if (rc != SHELF_OK)
        test__fail(__FILE__, __LINE__, "cannot open library '%s': %s", dir, msg ? msg : shelf_strerror(rc));
    return lib;
}

static int64_t nsamples(shelf_library *lib)
{
    int64_t c = -1;

    ASSERT_OK(shelf_catalog_search_count(lib, "kick", &c));
    return c;
}

TEST(alloc_fail_archive)
{
    char a[PATH_MAX], b[PATH_MAX], wav[PATH_MAX], out[PATH_MAX], ex[PATH_MAX], first[512] = "";
    const char *tmp = test_tmpdir(), *paths[1];
    shelf_archive_export_opts eo;
    shelf_archive_import_opts io;
    shelf_import_opts im;
    shelf_library *la, *lb;
    int bad = 0, rc, hit;
    long n;

    test_pathf(a, sizeof a, "%s/a", tmp);
    test_pathf(b, sizeof b, "%s/b", tmp);
    test_pathf(wav, sizeof wav, "%s/kick.wav", tmp);
    test_pathf(ex, sizeof ex, "%s/out", tmp);
    test_pathf(out, sizeof out, "%s/out/x.tar", tmp);
    ASSERT(mkdir(ex, 0755) == 0);
    ASSERT_OK(tg_write_simple(wav, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 44100, 1, 4410, 7));
    la = lib_at(a);
    memset(&im, 0, sizeof im);
    im.size = sizeof im;
    im.flags = SHELF_IMPORT_COPY;
    paths[0] = wav;
    ASSERT_OK(shelf_import(la, paths, 1, &im, NULL));
    ASSERT_EQ_INT(nsamples(la), 1);

    memset(&eo, 0, sizeof eo);
    eo.size = sizeof eo;
    eo.all = 1;
    eo.parity = 10;
    for (n = 1; n < ALLOC_TRIES; n++) {
        shelf__alloc_fail_after(n);
        rc = shelf_archive_export(la, out, &eo, NULL);
        hit = fault_hit(n);
        shelf__alloc_fail_after(0);
        if (rc != SHELF_OK) {
            if (rc != SHELF_ENOMEM && !bad++)
                snprintf(first, sizeof first, "export, allocation %ld: %s: %s", n, shelf_strerror(rc),
                         shelf_errmsg(la));
            if (count_named(ex, "x.tar") != 0 && !bad++)
                snprintf(first, sizeof first, "export, allocation %ld: failed but left files", n);
        } else if (count_named(ex, "x.tar.par2") != 1 || count_named(ex, ".tmp-") != 0) {
            if (!bad++)
                snprintf(first, sizeof first, "export, allocation %ld: OK without parity or with a temp file", n);
        }
        if (!hit)
            break;
        if (rc == SHELF_OK) {
            /* Succeeded although allocation n failed: start the next round empty. */
            test_rm_rf(ex);
            ASSERT(mkdir(ex, 0755) == 0);
        }
    }
    ASSERT(n > 1 && n < ALLOC_TRIES);
    if (bad)
        test__fail(__FILE__, __LINE__, "%d problems in %ld attempts; first: %s", bad, n, first);

    for (n = 1; n < ALLOC_TRIES; n++) {
        shelf_archive_verify_stats vs = { .size = sizeof vs };
        char *msg = NULL;

        shelf__alloc_fail_after(n);
        rc = shelf_archive_verify(out, NULL, NULL, NULL, NULL, &vs, &msg);
        hit = fault_hit(n);
        shelf__alloc_fail_after(0);
        if (rc != SHELF_OK && rc != SHELF_ENOMEM && !bad++)
            snprintf(first, sizeof first, "verify, allocation %ld: %s: %s", n, shelf_strerror(rc),
                     msg ? msg : "(no message)");
        if (rc == SHELF_OK && !vs.parity && !bad++)
            snprintf(first, sizeof first, "verify, allocation %ld: OK without seeing the parity", n);
        free(msg);
        if (!hit)
            break;
    }
    ASSERT(n > 1 && n < ALLOC_TRIES);
    if (bad)
        test__fail(__FILE__, __LINE__, "%d problems in %ld attempts; first: %s", bad, n, first);

    /* The archive written under the loop imports whole. */
    memset(&io, 0, sizeof io);
    io.size = sizeof io;
    lb = lib_at(b);
    ASSERT_OK(shelf_archive_import(lb, out, &io, NULL));
    ASSERT_EQ_INT(nsamples(lb), 1);
    shelf_library_close(lb);
    shelf_library_close(la);

    /* Import under failure, into a library of its own each time: SHELF_ENOMEM
     * and nothing imported, or all of it; a clean run then imports it whole.
     * Past the first 40 points the step grows by an eighth (deterministic). */
    {
        int tried = 0, failed = 0;

        for (n = 1; n < ALLOC_TRIES * 10; n += n < 40 ? 1 : n / 8) {
            char c[PATH_MAX];
            shelf_library *lc;
            int64_t k;

            test_pathf(c, sizeof c, "%s/c%ld", tmp, n);
            lc = lib_at(c);
            shelf__alloc_fail_after(n);
            rc = shelf_archive_import(lc, out, &io, NULL);
            hit = fault_hit(n);
            shelf__alloc_fail_after(0);
            tried++;
            failed += rc != SHELF_OK;
            k = nsamples(lc);
            if (rc != SHELF_OK && rc != SHELF_ENOMEM && !bad++)
                snprintf(first, sizeof first, "import, allocation %ld: %s: %s", n,
                         shelf_strerror(rc), shelf_errmsg(lc));
            if (k != (rc == SHELF_OK) && !bad++)
                snprintf(first, sizeof first, "import, allocation %ld: %s with %lld samples", n,
                         shelf_strerror(rc), (long long)k);
            if (rc != SHELF_OK && shelf_archive_import(lc, out, &io, NULL) != SHELF_OK && !bad++)
                snprintf(first, sizeof first, "import, allocation %ld: clean re-run: %s", n,
                         shelf_errmsg(lc));
            shelf_library_close(lc);
            test_rm_rf(c);
            if (!hit)
                break;
        }
        printf("    import: %d allocation points tried up to %ld, %d failed with SHELF_ENOMEM\n",
               tried, n, failed);
        ASSERT(n > 1 && failed > 10);
        if (bad)
            test__fail(__FILE__, __LINE__, "%d problems in %d attempts; first: %s", bad, tried,
                       first);
    }
}

/*
 * Archive export, media export (patches as SFZ) and import parse the
 * library's documents again (the samples a patch names, a history, a
 * project's patch keys), and jansson calls a failed allocation a syntax
 * error.  For n = 1, 2, ... the nth allocation fails (every point up to
 * 1500, then steps growing by an eighth): each call returns SHELF_ENOMEM
 * with "out of memory" in the message, or succeeds whole; never
 * SHELF_ECORRUPT or SHELF_EFORMAT.
 */
TEST(alloc_fail_archive_documents_are_enomem)
{
    char a[PATH_MAX], wav[PATH_MAX], out[PATH_MAX], dir[PATH_MAX], doc[256], first[512] = "";
    const char *tmp = test_tmpdir(), *paths[1];
    const char *what[3] = { "export", "media export", "import" };
    shelf_archive_export_opts eo;
    shelf_archive_import_opts io;
    shelf_media_export_opts mo;
    shelf_media_export_stats ms = { .size = sizeof ms };
    shelf_import_opts im;
    shelf_library *la, *lb;
    int64_t pid, jid;
    int bad = 0, i;
    long n;

    test_pathf(a, sizeof a, "%s/a", tmp);
    test_pathf(wav, sizeof wav, "%s/kick.wav", tmp);
    ASSERT_OK(tg_write_simple(wav, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 44100, 1, 4410, 7));
    la = lib_at(a);
    memset(&im, 0, sizeof im);
    im.size = sizeof im;
    im.flags = SHELF_IMPORT_COPY;
    paths[0] = wav;
    ASSERT_OK(shelf_import(la, paths, 1, &im, NULL));
    ASSERT_OKL(la, shelf_doc_create(la, SHELF_DOC_PATCH,
        "{\"shelf_patch\":1,\"name\":\"Lead\",\"zones\":{\"z1\":{\"sample\":{\"id\":1}}}}", NULL, &pid));
    snprintf(doc, sizeof doc, "{\"shelf_project\":1,\"name\":\"Set\",\"patches\":{\"%lld\":{}}}",
             (long long)pid);
    ASSERT_OKL(la, shelf_doc_create(la, SHELF_DOC_PROJECT, doc, NULL, &jid));
    memset(&eo, 0, sizeof eo);
    eo.size = sizeof eo;
    eo.all = 1;
    memset(&mo, 0, sizeof mo);
    mo.size = sizeof mo;
    mo.patches = 1;
    memset(&io, 0, sizeof io);
    io.size = sizeof io;
    test_pathf(out, sizeof out, "%s/whole.tar", tmp);
    ASSERT_OKL(la, shelf_archive_export(la, out, &eo, NULL));
    lb = NULL;
    for (i = 0; i < 3; i++) {
        int tried = 0, failed = 0;

        for (n = 1; n < ALLOC_TRIES * 100; n += n < 1500 ? ALLOC_STRIDE : n / 8) {
            shelf_library *l = i == 2 ? NULL : la;
            int rc, hit, ok = 1;

            test_pathf(dir, sizeof dir, "%s/run", tmp);
            if (i == 2) {
                /* A failed import leaves nothing: one library serves until one works. */
                test_pathf(dir, sizeof dir, "%s/b", tmp);
                if (!lb)
                    lb = lib_at(dir);
                l = lb;
            }
            shelf__alloc_fail_after(n);
            switch (i) {
            case 0:
                test_pathf(dir, sizeof dir, "%s/run.tar", tmp);
                rc = shelf_archive_export(l, dir, &eo, NULL);
                break;
            case 1: rc = shelf_media_export(l, dir, &mo, &ms); break;
            default: rc = shelf_archive_import(l, out, &io, NULL); break;
            }
            hit = fault_hit(n);
            shelf__alloc_fail_after(0);
            tried++;
            failed += rc != SHELF_OK;
            if (rc == SHELF_OK)
                ok = i != 1 || (ms.patches == 1 && ms.files >= 1);
            if (rc != SHELF_OK && (rc != SHELF_ENOMEM || !strstr(shelf_errmsg(l), "out of memory")) &&
                !bad++)
                snprintf(first, sizeof first, "%s, allocation %ld: %s: %s", what[i], n,
                         shelf_strerror(rc), shelf_errmsg(l));
            if (!ok && !bad++)
                snprintf(first, sizeof first, "%s, allocation %ld: OK with a partial result",
                         what[i], n);
            if (i == 2 && nsamples(lb) != (rc == SHELF_OK) && !bad++)
                snprintf(first, sizeof first, "import, allocation %ld: %s with %lld samples", n,
                         shelf_strerror(rc), (long long)nsamples(lb));
            if (i == 2 && rc == SHELF_OK) {
                shelf_library_close(lb);
                lb = NULL;
            }
            if (i != 2 || !lb)
                test_rm_rf(dir);
            if (i == 0) {
                test_pathf(dir, sizeof dir, "%s/run.tar.par2", tmp);
                unlink(dir);
            }
            if (!hit)
                break;
        }
        printf("    %s: %d allocation points tried up to %ld, %d failed with SHELF_ENOMEM\n",
               what[i], tried, n, failed);
        ASSERT(failed > 10 && n < ALLOC_TRIES * 100);
    }
    if (bad)
        test__fail(__FILE__, __LINE__, "%d problems; first: %s", bad, first);
    shelf_library_close(lb);
    shelf_library_close(la);
}

static int export_once(shelf_library *lib, const char *dir, const shelf_archive_export_opts *o)
{
    static int n;
    char out[PATH_MAX];

    test_pathf(out, sizeof out, "%s/x%d.tar", dir, n++);
    return shelf_archive_export(lib, out, o, NULL);
}

static int media_once(shelf_library *lib, const char *dir, const shelf_media_export_opts *o)
{
    static int n;
    char out[PATH_MAX];

    test_pathf(out, sizeof out, "%s/card%d", dir, n++);
    return shelf_media_export(lib, out, o, NULL);
}

/*
 * The size rule of shelf.h on the archive options.  Export and media
 * export grew after their first version (allow_missing/on_missing,
 * patches): a caller built against it is served with those read as 0.
 */
TEST(opts_size_archive)
{
    char a[PATH_MAX], b[PATH_MAX], wav[PATH_MAX], out[PATH_MAX];
    const char *tmp = test_tmpdir(), *ex = test_tmpdir(), *paths[1];
    shelf_archive_export_opts eo;
    shelf_archive_import_opts io;
    shelf_media_export_opts mo;
    shelf_import_opts im;
    shelf_library *la, *lb;

    test_pathf(a, sizeof a, "%s/a", tmp);
    test_pathf(b, sizeof b, "%s/b", tmp);
    test_pathf(wav, sizeof wav, "%s/kick.wav", tmp);
    ASSERT_OK(tg_write_simple(wav, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 44100, 1, 4410, 7));
    la = lib_at(a);
    memset(&im, 0, sizeof im);
    im.size = sizeof im;
    paths[0] = wav;
    ASSERT_OK(shelf_import(la, paths, 1, &im, NULL));
    memset(&eo, 0, sizeof eo);
    eo.all = 1;
    TEST_OPTS_SIZE(shelf_archive_export_opts, eo, offsetof(shelf_archive_export_opts, allow_missing),
                   SHELF_OK, export_once(la, ex, p_));
    memset(&mo, 0, sizeof mo);
    TEST_OPTS_SIZE(shelf_media_export_opts, mo, offsetof(shelf_media_export_opts, patches), SHELF_OK,
                   media_once(la, ex, p_));
    test_pathf(out, sizeof out, "%s/whole.tar", ex);
    eo.size = sizeof eo;
    ASSERT_OK(shelf_archive_export(la, out, &eo, NULL));
    lb = lib_at(b);
    memset(&io, 0, sizeof io);
    TEST_OPTS_SIZE(shelf_archive_import_opts, io, offsetof(shelf_archive_import_opts, on_signature), SHELF_OK,
                   shelf_archive_import(lb, out, p_, NULL));
    ASSERT_EQ_INT(nsamples(lb), 1);
    io.size = 3;
    ASSERT_RC(SHELF_EINVAL, shelf_archive_import(lb, out, &io, NULL));
    ASSERT(strstr(shelf_errmsg(lb), "invalid shelf_archive_import_opts") != NULL);
    shelf_library_close(lb);
    shelf_library_close(la);
}

/* The same library exported twice under one name, seconds apart, gives the
 * same bytes
 * (tar, zip): the members shelf writes carry the newest sample's time, not
 * the export's, so an interrupted upload of a new export can resume. */
TEST(export_is_reproducible)
{
    static const char *const ext[] = { "tar", "zip" };
    const char *tmp = test_tmpdir(), *ex1 = test_tmpdir(), *ex2 = test_tmpdir(), *paths[2];
    char a[PATH_MAX], w1[PATH_MAX], w2[PATH_MAX], o1[PATH_MAX], o2[PATH_MAX], *b1, *b2;
    shelf_archive_export_opts eo;
    shelf_import_opts im;
    shelf_library *la;
    size_t n1, n2, i;
    time_t day;

    test_pathf(a, sizeof a, "%s/a", tmp);
    ASSERT_OK(tg_write_simple(test_pathf(w1, sizeof w1, "%s/kick.wav", tmp), SF_FORMAT_WAV | SF_FORMAT_PCM_16,
                              44100, 1, 4410, 7));
    ASSERT_OK(tg_write_simple(test_pathf(w2, sizeof w2, "%s/snare.wav", tmp), SF_FORMAT_WAV | SF_FORMAT_PCM_16,
                              44100, 1, 4410, 8));
    la = lib_at(a);
    memset(&im, 0, sizeof im);
    im.size = sizeof im;
    paths[0] = w1;
    paths[1] = w2;
    ASSERT_OK(shelf_import(la, paths, 2, &im, NULL));
    memset(&eo, 0, sizeof eo);
    eo.size = sizeof eo;
    eo.all = 1;
    for (i = 0; i < 2; i++) {
        day = time(NULL) / 86400;
        ASSERT_OKL(la, shelf_archive_export(la, test_pathf(o1, sizeof o1, "%s/live.%s", ex1, ext[i]), &eo, NULL));
        sleep(2);
        ASSERT_OKL(la, shelf_archive_export(la, test_pathf(o2, sizeof o2, "%s/live.%s", ex2, ext[i]), &eo, NULL));
        if (time(NULL) / 86400 != day)
            TEST_SKIP("the UTC date changed between the exports (bag-info.txt's Bagging-Date)");
        b1 = test_read_file(o1, &n1);
        b2 = test_read_file(o2, &n2);
        ASSERT_EQ_INT(n1, n2);
        ASSERT(memcmp(b1, b2, n1) == 0);
        free(b1);
        free(b2);
    }
    shelf_library_close(la);
}

int main(int argc, char **argv)
{
    static const test_case tests[] = {
        TEST_ENTRY(manifest_round_trip), TEST_ENTRY(names_and_info), TEST_ENTRY(strset_folds_case),
        TEST_ENTRY(reader_from_memory), TEST_ENTRY(alloc_fail_archive),
        TEST_ENTRY(alloc_fail_archive_documents_are_enomem),
        TEST_ENTRY(opts_size_archive),
        TEST_ENTRY(export_is_reproducible), TEST_END
    };
    return test_run(argc, argv, tests);
}
