/*
 * test_api_size.c: the rule of include/shelf/shelf.h for structs the
 * library fills ("Structs with a size"), on one call of each kind: import
 * and maintenance (shelf_import, shelf_verify, shelf_gc), archives
 * (shelf_archive_export, shelf_archive_verify) and backups
 * (shelf_backup_run, shelf_repo_check, shelf_repo_purge), and the structs the library hands
 * to callbacks (progress, snapshots, keys).  A filled struct is written
 * through a buffer of 0xA5 bytes:
 *
 *   size = sizeof       -> every field written, size reads back sizeof
 *   size = a smaller cut -> the fields before the cut written, not one
 *                           byte past it, size reads back the cut
 *   size = 0            -> nothing written, the call still succeeds
 */
#include <sndfile.h>
#include <stddef.h>
#include "test.h"
#include "libs.h"
#include "audiogen.h"

#define WAV16 (SF_FORMAT_WAV | SF_FORMAT_PCM_16)
#define PW "correct horse"
#define FILL 0xA5

/* A caller's struct of some older or newer version, in a buffer that
 * shows every byte the library writes. */
typedef union outbuf {
    unsigned char b[1024];
    max_align_t align;
} outbuf;

static void *out_prep(outbuf *u, size_t size)
{
    memset(u->b, FILL, sizeof u->b);
    memcpy(u->b, &size, sizeof size);
    return u->b;
}

static size_t out_size(const outbuf *u)
{
    size_t n;

    memcpy(&n, u->b, sizeof n);
    return n;
}

/* Not one byte from 'from' on was written. */
static void out_untouched_from(const outbuf *u, size_t from)
{
    size_t i;

    for (i = from; i < sizeof u->b; i++)
        if (u->b[i] != FILL)
            test__fail(__FILE__, __LINE__, "byte %zu of %zu was written past size", i, from);
}

/* Check one call three ways: full size (the result goes to *full), size
 * cut (at most cut bytes written, size reads cut; the result goes to
 * *part), size 0 (nothing written).  CALL names the struct as p_ and
 * returns a result code. */
#define OUT_SIZE(T, full, part, cut, CALL)                                        \
    do {                                                                          \
        outbuf u_;                                                                \
        T *p_;                                                                    \
        p_ = out_prep(&u_, sizeof(T));                                            \
        ASSERT_RC(SHELF_OK, (CALL));                                              \
        ASSERT_EQ_INT(out_size(&u_), sizeof(T));                                  \
        out_untouched_from(&u_, sizeof(T));                                       \
        memcpy((full), u_.b, sizeof(T));                                          \
        p_ = out_prep(&u_, (cut));                                                \
        ASSERT_RC(SHELF_OK, (CALL));                                              \
        ASSERT_EQ_INT(out_size(&u_), (cut));                                      \
        out_untouched_from(&u_, (cut));                                           \
        memcpy((part), u_.b, sizeof(T));                                          \
        p_ = out_prep(&u_, 0);                                                    \
        ASSERT_RC(SHELF_OK, (CALL));                                              \
        ASSERT_EQ_INT(out_size(&u_), 0);                                          \
        out_untouched_from(&u_, sizeof(size_t));                                  \
    } while (0)

/* Progress: the library hands over a struct whose size is its own sizeof. */
static int import_progress(void *ud, const shelf_import_stats *st)
{
    int *calls = ud;

    ASSERT_EQ_INT(st->size, sizeof *st);
    ++*calls;
    return 0;
}

static int do_import(shelf_library *lib, const char *dir, int *calls, shelf_import_stats *st)
{
    shelf_import_opts o;
    const char *paths[1] = { dir };

    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.flags = SHELF_IMPORT_COPY;
    o.progress = import_progress;
    o.ud = calls;
    return shelf_import(lib, paths, 1, &o, st);
}

/* d/samples with n sines, imported (managed copies) into d/lib. */
static shelf_library *make_library(const char *d, int n)
{
    char p[4096];
    shelf_library *lib;
    int i, calls = 0;

    test_pathf(p, sizeof p, "%s/samples", d);
    ASSERT_EQ_INT(mkdir(p, 0777), 0);
    for (i = 0; i < n; i++) {
        test_pathf(p, sizeof p, "%s/samples/s_%d.wav", d, i);
        ASSERT_EQ_INT(tg_write_simple(p, WAV16, 44100, 1, 3000 + 500 * i, 7u + (unsigned)i), 0);
    }
    test_pathf(p, sizeof p, "%s/lib", d);
    lib = test_lib_open(p, SHELF_OPEN_CREATE);
    test_pathf(p, sizeof p, "%s/samples", d);
    ASSERT_OKL(lib, do_import(lib, p, &calls, NULL));
    ASSERT(calls > 0);
    return lib;
}

TEST(import_and_maintenance_stats)
{
    const char *d = test_tmpdir();
    char p[4096];
    shelf_library *lib = make_library(d, 3);
    shelf_import_stats is, is2;
    shelf_verify_stats vs, vs2;
    shelf_gc_stats gs, gs2;
    int calls = 0;

    test_pathf(p, sizeof p, "%s/samples", d);
    /* cut after files_total: bytes_total and on are the caller's bytes */
    OUT_SIZE(shelf_import_stats, &is, &is2, offsetof(shelf_import_stats, bytes_total),
             do_import(lib, p, &calls, p_));
    ASSERT_EQ_INT(is.files_total, 3);
    ASSERT_EQ_INT(is.unchanged, 3);
    ASSERT_EQ_INT(is2.files_total, 3);
    ASSERT(calls >= 3);
    OUT_SIZE(shelf_verify_stats, &vs, &vs2, offsetof(shelf_verify_stats, bytes),
             shelf_verify(lib, NULL, NULL, NULL, p_));
    ASSERT(vs.checked >= 3);
    ASSERT_EQ_INT(vs.ok, vs.checked);
    ASSERT_EQ_INT(vs2.checked, vs.checked);
    OUT_SIZE(shelf_gc_stats, &gs, &gs2, offsetof(shelf_gc_stats, blobs_removed),
             shelf_gc(lib, 1, 1, p_));
    ASSERT_EQ_INT(gs.blobs_kept, 3);
    ASSERT_EQ_INT(gs2.blobs_kept, 3);
    /* NULL: not wanted, as before */
    ASSERT_OKL(lib, shelf_gc(lib, 1, 1, NULL));
    shelf_library_close(lib);
}

static int archive_progress(void *ud, const shelf_archive_progress *pr)
{
    int *calls = ud;

    ASSERT_EQ_INT(pr->size, sizeof *pr);
    ++*calls;
    return 0;
}

static int do_export(shelf_library *lib, const char *out, int *calls,
                     shelf_archive_export_stats *st)
{
    shelf_archive_export_opts o;

    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.all = 1;
    o.progress = archive_progress;
    o.ud = calls;
    return shelf_archive_export(lib, out, &o, st);
}

TEST(archive_stats)
{
    const char *d = test_tmpdir();
    char out[4096];
    shelf_library *lib = make_library(d, 2);
    shelf_archive_export_stats es, es2;
    shelf_archive_verify_stats vs, vs2;
    int calls = 0;

    test_pathf(out, sizeof out, "%s/a.tar", d);
    OUT_SIZE(shelf_archive_export_stats, &es, &es2, offsetof(shelf_archive_export_stats, patches),
             do_export(lib, out, &calls, p_));
    ASSERT_EQ_INT(es.samples, 2);
    ASSERT(es.files >= 2);
    ASSERT_EQ_INT(es2.samples, 2);
    ASSERT(calls > 0);
    calls = 0;
    OUT_SIZE(shelf_archive_verify_stats, &vs, &vs2, offsetof(shelf_archive_verify_stats, bytes),
             shelf_archive_verify(out, NULL, NULL, archive_progress, &calls, p_, NULL));
    ASSERT_EQ_INT(vs.files, es.files);
    ASSERT_EQ_INT(vs2.files, es.files);
    ASSERT_EQ_INT(vs.corrupt, 0);
    ASSERT(calls > 0);
    shelf_library_close(lib);
}

static int backup_progress(void *ud, const shelf_backup_progress *pr)
{
    int *calls = ud;

    ASSERT_EQ_INT(pr->size, sizeof *pr);
    ++*calls;
    return 0;
}

static int do_backup(shelf_repo *r, shelf_library *lib, int *calls, shelf_backup_stats *st)
{
    shelf_backup_opts o;

    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.progress = backup_progress;
    o.ud = calls;
    return shelf_backup_run(r, lib, &o, st);
}

static int on_snap(void *ud, const shelf_snapinfo *s)
{
    int *n = ud;

    ASSERT_EQ_INT(s->size, sizeof *s);
    ASSERT_EQ_INT(strlen(s->id), 64);
    ++*n;
    return 0;
}

static int on_key(void *ud, const shelf_keyinfo *k)
{
    int *n = ud;

    ASSERT_EQ_INT(k->size, sizeof *k);
    ASSERT_EQ_INT(k->current, 1);
    ++*n;
    return 0;
}

/* A dry-run purge of a sample no snapshot holds. */
static int do_purge_dry(shelf_repo *r, shelf_repo_purge_stats *st)
{
    static const char *const sv[1] = {
        "s:0000000000000000000000000000000000000000000000000000000000000000" };
    shelf_repo_purge_opts o;

    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.dry_run = 1;
    return shelf_repo_purge(r, NULL, sv, 1, NULL, 0, &o, st);
}

TEST(backup_stats_and_listings)
{
    const char *d = test_tmpdir();
    char target[4096], *msg = NULL;
    shelf_library *lib = make_library(d, 2);
    shelf_repo_opts ro;
    shelf_repo *r = NULL;
    shelf_backup_stats bs, bs2;
    shelf_check_stats cs, cs2;
    shelf_repo_purge_stats ps, ps2;
    int calls = 0, n = 0, rc;

    memset(&ro, 0, sizeof ro);
    ro.size = sizeof ro;
    ro.password = PW;
    ro.kdf_log2n = 10;
    test_pathf(target, sizeof target, "%s/repo", d);
    rc = shelf_repo_init(target, &ro, &msg);
    ASSERT_OKM(msg ? msg : "", rc);
    rc = shelf_repo_open(target, &ro, &r, &msg);
    ASSERT_OKM(msg ? msg : "", rc);
    /* cut after snapshot: items and on are the caller's bytes */
    OUT_SIZE(shelf_backup_stats, &bs, &bs2, offsetof(shelf_backup_stats, items),
             do_backup(r, lib, &calls, p_));
    ASSERT_EQ_INT(strlen(bs.snapshot), 64);
    ASSERT_EQ_INT(strlen(bs2.snapshot), 64);
    ASSERT(bs.items >= 3);      /* the catalog, the config, the samples */
    ASSERT(calls > 0);
    OUT_SIZE(shelf_check_stats, &cs, &cs2, offsetof(shelf_check_stats, packs),
             shelf_repo_check(r, 0, NULL, NULL, p_));
    ASSERT_EQ_INT(cs.snapshots, 3);
    ASSERT_EQ_INT(cs.errors, 0);
    ASSERT_EQ_INT(cs2.snapshots, 3);
    ASSERT_EQ_INT(cs2.indexes, cs.indexes);
    /* cut after snapshots (looked at) */
    OUT_SIZE(shelf_repo_purge_stats, &ps, &ps2, offsetof(shelf_repo_purge_stats, snapshots_rewritten),
             do_purge_dry(r, p_));
    ASSERT_EQ_INT(ps.snapshots, 3);
    ASSERT_EQ_INT(ps.snapshots_rewritten, 0);
    ASSERT_EQ_INT(ps2.snapshots, 3);
    ASSERT_OKM(shelf_repo_errmsg(r), shelf_snapshot_list(r, on_snap, &n));
    ASSERT_EQ_INT(n, 3);
    n = 0;
    ASSERT_OKM(shelf_repo_errmsg(r), shelf_repo_key_list(r, on_key, &n));
    ASSERT_EQ_INT(n, 1);
    shelf_repo_close(r);
    shelf_library_close(lib);
}

int main(int argc, char **argv)
{
    static const test_case tests[] = {
        TEST_ENTRY(import_and_maintenance_stats),
        TEST_ENTRY(archive_stats),
        TEST_ENTRY(backup_stats_and_listings),
        TEST_END
    };

    return test_run(argc, argv, tests);
}
