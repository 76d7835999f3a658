/*
 * test_import.c: import through the public API: first import, unchanged
 * rescan, changed, moved and missing files, bad files, --copy, resume after
 * kill -9, verify (flipped byte, deleted file), gc, db-backup, and several
 * processes sharing one library.
 */
#include <fcntl.h>
#include <signal.h>
#include <sndfile.h>
#include <sqlite3.h>
#include <time.h>
#include "test.h"
#include "audiogen.h"
#include "alloc_fault.h"
#include "opts_size.h"

#define WAV16 (SF_FORMAT_WAV | SF_FORMAT_PCM_16)

static shelf_library *open_lib(const char *dir)
{
    shelf_library *lib = NULL;
    char *msg = NULL;
    int rc = shelf_library_open(dir, SHELF_OPEN_CREATE, &lib, &msg);

    if (rc != SHELF_OK)
        fprintf(stderr, "open: %s\n", msg ? msg : "?");
    ASSERT_OK(rc);
    return lib;
}

/* Write n WAV files dir/sub/name_<i>.wav with distinct content. */
static void write_wavs(const char *dir, const char *sub, const char *name, int n, unsigned seed)
{
    char p[4096];
    int i;

    test_pathf(p, sizeof p, "%s/%s", dir, sub);
    ASSERT(mkdir(p, 0777) == 0 || errno == EEXIST);
    for (i = 0; i < n; i++) {
        test_pathf(p, sizeof p, "%s/%s/%s_%03d.wav", dir, sub, name, i);
        ASSERT_EQ_INT(tg_write_simple(p, WAV16, 44100, 1, 2000 + i, seed + (unsigned)i), 0);
    }
}

static int do_import(shelf_library *lib, const char *path, unsigned flags, shelf_import_stats *st)
{
    shelf_import_opts o;
    const char *paths[1] = { path };

    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.flags = flags;
    return shelf_import(lib, paths, 1, &o, st);
}

static int64_t count_rows(shelf_library *lib)
{
    int64_t total = -1;

    ASSERT_OKL(lib, shelf_catalog_count(lib, &total, NULL));
    return total;
}

static int import_with(shelf_library *lib, const char *path, const shelf_import_opts *o)
{
    const char *paths[1] = { path };

    return shelf_import(lib, paths, 1, o, NULL);
}

/* The size rule of shelf.h on import options (no older version). */
TEST(opts_size_import)
{
    const char *root = test_tmpdir(), *libdir = test_tmpdir();
    shelf_import_opts o;
    shelf_library *lib;

    write_wavs(root, "Kicks", "Kick", 2, 1);
    lib = open_lib(libdir);
    memset(&o, 0, sizeof o);
    TEST_OPTS_SIZE(shelf_import_opts, o, sizeof o, SHELF_OK, import_with(lib, root, p_));
    ASSERT_EQ_INT(count_rows(lib), 2);
    ASSERT_OKL(lib, import_with(lib, root, NULL));
    shelf_library_close(lib);
}

TEST(first_import_and_unchanged_rescan)
{
    const char *root = test_tmpdir(), *libdir = test_tmpdir();
    shelf_import_stats st = { .size = sizeof st };
    shelf_library *lib;
    char p[4096];

    write_wavs(root, "Kicks", "Kick", 5, 1);
    write_wavs(root, "Snares", "Snare", 3, 100);
    test_pathf(p, sizeof p, "%s/readme.txt", root);
    test_write_file(p, "hello", 5);
    lib = open_lib(libdir);
    ASSERT_OKL(lib, do_import(lib, root, 0, &st));
    ASSERT_EQ_INT(st.files_total, 8);
    ASSERT_EQ_INT(st.imported, 8);
    ASSERT_EQ_INT(st.failed, 0);
    ASSERT_EQ_INT(st.ignored, 1);
    ASSERT(st.bytes_read > 8 * 4000);
    ASSERT_EQ_INT(count_rows(lib), 8);

    ASSERT_OKL(lib, do_import(lib, root, 0, &st));
    ASSERT_EQ_INT(st.unchanged, 8);
    ASSERT_EQ_INT(st.imported, 0);
    ASSERT_EQ_INT(st.bytes_read, 0);
    ASSERT_EQ_INT(count_rows(lib), 8);
    shelf_library_close(lib);
}

TEST(sample_fields_and_category)
{
    const char *root = test_tmpdir(), *libdir = test_tmpdir();
    tg_spec s = TG_SPEC_INIT(SF_FORMAT_WAV | SF_FORMAT_PCM_24, 48000, 2, 48000);
    const shelf_sample *row;
    shelf_cursor *cur;
    shelf_library *lib;
    int64_t id;
    char p[4096], sub[4096];

    s.root_key = 62;
    s.loop_start = 1000;
    s.loop_end = 40000;
    s.loop_mode = 1;
    s.acid_tempo = 96;
    s.acid_beats = 4;
    test_pathf(sub, sizeof sub, "%s/My Pack ü", root);
    ASSERT_EQ_INT(mkdir(sub, 0777), 0);
    test_pathf(p, sizeof p, "%s/Snare Roll 96bpm.wav", sub);
    ASSERT_EQ_INT(tg_write(p, &s), 0);
    lib = open_lib(libdir);
    ASSERT_OKL(lib, do_import(lib, root, 0, NULL));
    ASSERT_OKL(lib, shelf_catalog_find_path(lib, p, &id));
    ASSERT_OKL(lib, shelf_catalog_get(lib, id, &cur, &row));
    ASSERT_EQ_STR(row->name, "Snare Roll 96bpm");
    ASSERT_EQ_STR(row->relpath, "My Pack ü/Snare Roll 96bpm.wav");
    ASSERT_EQ_STR(row->format, "WAV");
    ASSERT_EQ_STR(row->subtype, "PCM_24");
    ASSERT_EQ_INT(row->rate, 48000);
    ASSERT_EQ_INT(row->channels, 2);
    ASSERT_EQ_INT(row->frames, 48000);
    ASSERT_EQ_INT(row->bits, 24);
    ASSERT_EQ_INT(row->root_key, 62);
    ASSERT_EQ_INT(row->loop_start, 1000);
    ASSERT_EQ_INT(row->loop_end, 40000);
    ASSERT_EQ_INT(row->loop_mode, SHELF_LOOP_FORWARD);
    ASSERT_EQ_INT((int)row->tempo, 96);
    ASSERT_EQ_INT(row->beats, 4);
    ASSERT_EQ_STR(row->category, "snare");
    ASSERT(row->blob == NULL);
    ASSERT_EQ_INT(strlen(row->sha256), 64);
    ASSERT_EQ_INT(row->missing, 0);
    shelf_cursor_free(cur);
    shelf_library_close(lib);
}

TEST(changed_moved_missing)
{
    const char *root = test_tmpdir(), *libdir = test_tmpdir();
    shelf_import_stats st = { .size = sizeof st };
    shelf_library *lib;
    const shelf_sample *row;
    shelf_cursor *cur;
    int64_t id_moved, id_gone, id_changed, id;
    char a[4096], b[4096], c[4096];

    write_wavs(root, "A", "Hit", 4, 7);
    lib = open_lib(libdir);
    ASSERT_OKL(lib, do_import(lib, root, 0, &st));
    test_pathf(a, sizeof a, "%s/A/Hit_000.wav", root);
    test_pathf(b, sizeof b, "%s/A/Hit_001.wav", root);
    test_pathf(c, sizeof c, "%s/A/Hit_002.wav", root);
    ASSERT_OKL(lib, shelf_catalog_find_path(lib, a, &id_moved));
    ASSERT_OKL(lib, shelf_catalog_find_path(lib, b, &id_gone));
    ASSERT_OKL(lib, shelf_catalog_find_path(lib, c, &id_changed));
    ASSERT_OKL(lib, shelf_tag_add(lib, id_moved, "favkick"));
    ASSERT_OKL(lib, shelf_rate(lib, id_gone, 4));

    /* move a into a new folder, delete b, rewrite c with other content */
    {
        char dst[4096], dir[4096];

        test_pathf(dir, sizeof dir, "%s/B", root);
        ASSERT(mkdir(dir, 0777) == 0 || errno == EEXIST);
        test_pathf(dst, sizeof dst, "%s/B/Renamed.wav", root);
        ASSERT_EQ_INT(rename(a, dst), 0);
        ASSERT_EQ_INT(unlink(b), 0);
        ASSERT_EQ_INT(tg_write_simple(c, WAV16, 44100, 1, 5000, 999), 0);
        ASSERT_OKL(lib, do_import(lib, root, 0, &st));
        ASSERT_EQ_INT(st.moved, 1);
        ASSERT_EQ_INT(st.missing, 1);
        ASSERT_EQ_INT(st.updated, 1);
        ASSERT_EQ_INT(st.unchanged, 1);
        ASSERT_EQ_INT(st.imported, 0);
        ASSERT_EQ_INT(count_rows(lib), 4);
        ASSERT_OKL(lib, shelf_catalog_find_path(lib, dst, &id));
        ASSERT_EQ_INT(id, id_moved);
    }
    ASSERT_OKL(lib, shelf_catalog_get(lib, id_moved, &cur, &row));
    ASSERT_EQ_STR(row->tags, "favkick");
    ASSERT_EQ_STR(row->relpath, "B/Renamed.wav");
    shelf_cursor_free(cur);
    ASSERT_OKL(lib, shelf_catalog_get(lib, id_gone, &cur, &row));
    ASSERT_EQ_INT(row->missing, 1);
    ASSERT_EQ_INT(row->rating, 4);          /* user data survives */
    shelf_cursor_free(cur);
    ASSERT_OKL(lib, shelf_catalog_get(lib, id_changed, &cur, &row));
    ASSERT_EQ_INT(row->frames, 5000);
    shelf_cursor_free(cur);

    /* the missing file comes back elsewhere: same id, no longer missing */
    {
        char back[4096];

        test_pathf(back, sizeof back, "%s/B/Back.wav", root);
        ASSERT_EQ_INT(tg_write_simple(back, WAV16, 44100, 1, 2001, 8), 0);   /* = Hit_001 */
        ASSERT_OKL(lib, do_import(lib, root, 0, &st));
        ASSERT_EQ_INT(st.moved, 1);
        ASSERT_OKL(lib, shelf_catalog_get(lib, id_gone, &cur, &row));
        ASSERT_EQ_INT(row->missing, 0);
        ASSERT_EQ_STR(row->relpath, "B/Back.wav");
        shelf_cursor_free(cur);
    }
    shelf_library_close(lib);
}

TEST(duplicate_content_is_not_a_move)
{
    const char *root = test_tmpdir(), *libdir = test_tmpdir();
    shelf_import_stats st = { .size = sizeof st };
    shelf_library *lib;
    char a[4096], b[4096];

    test_pathf(a, sizeof a, "%s/one.wav", root);
    test_pathf(b, sizeof b, "%s/two.wav", root);
    ASSERT_EQ_INT(tg_write_simple(a, WAV16, 44100, 1, 3000, 5), 0);
    ASSERT_EQ_INT(tg_write_simple(b, WAV16, 44100, 1, 3000, 5), 0);
    lib = open_lib(libdir);
    ASSERT_OKL(lib, do_import(lib, root, 0, &st));
    ASSERT_EQ_INT(st.imported, 2);
    ASSERT_EQ_INT(st.moved, 0);
    ASSERT_EQ_INT(count_rows(lib), 2);
    shelf_library_close(lib);
}

/* A copy found before its original, in an earlier batch, is a duplicate,
 * not a move of the original (found by review: it used to steal the row). */
TEST(copies_found_before_the_original_are_not_moves)
{
    const char *root = test_tmpdir(), *libdir = test_tmpdir();
    shelf_import_opts o;
    shelf_import_stats st = { .size = sizeof st };
    shelf_library *lib;
    const char *paths[1] = { root };
    char p[4096];
    int i;
    int64_t id;

    test_pathf(p, sizeof p, "%s/zz_orig.wav", root);
    ASSERT_EQ_INT(tg_write_simple(p, WAV16, 44100, 1, 3000, 42), 0);
    lib = open_lib(libdir);
    ASSERT_OKL(lib, do_import(lib, root, 0, &st));
    for (i = 0; i < 8; i++) {
        test_pathf(p, sizeof p, "%s/aa_copy%d.wav", root, i);
        ASSERT_EQ_INT(tg_write_simple(p, WAV16, 44100, 1, 3000, 42), 0);
    }
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.batch = 1;
    ASSERT_OKL(lib, shelf_import(lib, paths, 1, &o, &st));
    ASSERT_EQ_INT(st.imported, 8);
    ASSERT_EQ_INT(st.moved, 0);
    ASSERT_EQ_INT(st.unchanged, 1);
    ASSERT_EQ_INT(count_rows(lib), 9);
    test_pathf(p, sizeof p, "%s/zz_orig.wav", root);
    ASSERT_OKL(lib, shelf_catalog_find_path(lib, p, &id));
    ASSERT_EQ_INT(id, 1);
    shelf_library_close(lib);
}

/* A managed sample stays managed, with its copy, when its origin changes
 * and it is re-imported without --copy (the origin differs); --copy makes
 * unchanged referenced samples managed. */
TEST(managed_stays_managed_and_copy_adopts)
{
    const char *root = test_tmpdir(), *libdir = test_tmpdir();
    shelf_import_stats st = { .size = sizeof st };
    shelf_library *lib;
    const shelf_sample *row;
    shelf_cursor *cur;
    char a[4096], b[4096];
    int64_t ida, idb;

    test_pathf(a, sizeof a, "%s/a.wav", root);
    test_pathf(b, sizeof b, "%s/b.wav", root);
    ASSERT_EQ_INT(tg_write_simple(a, WAV16, 44100, 1, 3000, 1), 0);
    ASSERT_EQ_INT(tg_write_simple(b, WAV16, 44100, 1, 3000, 2), 0);
    lib = open_lib(libdir);
    ASSERT_OKL(lib, do_import(lib, a, SHELF_IMPORT_COPY, &st));
    ASSERT_OKL(lib, do_import(lib, b, 0, &st));
    ASSERT_OKL(lib, shelf_catalog_find_path(lib, a, &ida));
    ASSERT_OKL(lib, shelf_catalog_find_path(lib, b, &idb));
    ASSERT_EQ_INT(tg_write_simple(a, WAV16, 44100, 1, 3500, 3), 0);
    ASSERT_OKL(lib, do_import(lib, root, 0, &st));
    ASSERT_EQ_INT(st.updated, 0);
    ASSERT_EQ_INT(st.differs, 1);
    ASSERT_OKL(lib, shelf_catalog_get(lib, ida, &cur, &row));
    ASSERT(row->blob != NULL);
    ASSERT_EQ_STR(row->blob, row->sha256);
    ASSERT_EQ_INT(row->frames, 3000);
    shelf_cursor_free(cur);
    ASSERT_OKL(lib, do_import(lib, root, SHELF_IMPORT_COPY, &st));
    ASSERT_EQ_INT(st.updated, 1);          /* b adopted into the store */
    ASSERT_EQ_INT(st.differs, 1);          /* a is still not taken */
    ASSERT_EQ_INT(st.unchanged, 0);
    ASSERT_OKL(lib, shelf_catalog_get(lib, idb, &cur, &row));
    ASSERT(row->blob != NULL);
    shelf_cursor_free(cur);
    shelf_library_close(lib);
}

/* The blob of sample id (owned path), and its hex into hex. */
static void blob_of(shelf_library *lib, const char *libdir, int64_t id, char *path, size_t size,
                    char hex[65])
{
    const shelf_sample *row;
    shelf_cursor *cur;

    ASSERT_OKL(lib, shelf_catalog_get(lib, id, &cur, &row));
    ASSERT(row->blob != NULL);
    ASSERT_EQ_STR(row->blob, row->sha256);
    snprintf(hex, 65, "%s", row->blob);
    shelf_cursor_free(cur);
    test_pathf(path, size, "%s/objects/%.2s/%.2s/%s", libdir, hex, hex + 2, hex);
}

/* Count the blobs in a library's store (gc dry run). */
static uint64_t blob_count(shelf_library *lib)
{
    shelf_gc_stats gs = { .size = sizeof gs };

    ASSERT_OKL(lib, shelf_gc(lib, 0, 1, &gs));
    return gs.blobs_kept + gs.blobs_removed;
}

static struct {
    int differs, updated;
    char reason[256];
} seen;

static void on_seen(void *ud, int status, const char *path, int64_t id, const char *reason)
{
    (void)ud, (void)path, (void)id;
    if (status == SHELF_FILE_DIFFERS) {
        seen.differs++;
        snprintf(seen.reason, sizeof seen.reason, "%s", reason ? reason : "");
    } else if (status == SHELF_FILE_UPDATED) {
        seen.updated++;
    }
}

static int import_seen(shelf_library *lib, const char *path, unsigned flags, shelf_import_stats *st)
{
    shelf_import_opts o;
    const char *paths[1] = { path };

    memset(&o, 0, sizeof o);
    memset(&seen, 0, sizeof seen);
    o.size = sizeof o;
    o.flags = flags;
    o.on_file = on_seen;
    return shelf_import(lib, paths, 1, &o, st);
}

/*
 * The managed-copy rule: a changed original (new size, or the same size and
 * mtime) never replaces the copy or the hash; it is reported as differing
 * until --replace takes it; gc keeps the copy meanwhile.
 */
TEST(changed_original_never_replaces_the_managed_copy)
{
    const char *root = test_tmpdir(), *libdir = test_tmpdir();
    shelf_import_stats st = { .size = sizeof st };
    shelf_verify_stats vs = { .size = sizeof vs };
    shelf_gc_stats gs = { .size = sizeof gs };
    shelf_library *lib;
    struct stat sb;
    struct timespec ts[2];
    char a[4096], blob[4096], hex[65], blob2[4096], hex2[65];
    int64_t id;

    test_pathf(a, sizeof a, "%s/a.wav", root);
    ASSERT_EQ_INT(tg_write_simple(a, WAV16, 44100, 1, 3000, 1), 0);
    lib = open_lib(libdir);
    ASSERT_OKL(lib, do_import(lib, root, SHELF_IMPORT_COPY, &st));
    ASSERT_OKL(lib, shelf_catalog_find_path(lib, a, &id));
    ASSERT_OKL(lib, shelf_tag_add(lib, id, "keep"));
    blob_of(lib, libdir, id, blob, sizeof blob, hex);

    /* another size: read, reported, left alone, with and without --copy */
    ASSERT_EQ_INT(tg_write_simple(a, WAV16, 44100, 1, 3500, 2), 0);
    ASSERT_OKL(lib, import_seen(lib, root, 0, &st));
    ASSERT_EQ_INT(st.differs, 1);
    ASSERT_EQ_INT(st.updated, 0);
    ASSERT_EQ_INT(seen.differs, 1);
    ASSERT_EQ_STR(seen.reason, "original differs from the managed copy");
    ASSERT_OKL(lib, import_seen(lib, root, SHELF_IMPORT_COPY, &st));
    ASSERT_EQ_INT(st.differs, 1);
    ASSERT_EQ_INT(blob_count(lib), 1);     /* the changed original was not copied */
    blob_of(lib, libdir, id, blob2, sizeof blob2, hex2);
    ASSERT_EQ_STR(hex2, hex);
    ASSERT_OKL(lib, shelf_gc(lib, 0, 0, &gs));
    ASSERT_EQ_INT(gs.blobs_removed, 0);
    ASSERT(test_exists(blob));
    ASSERT_OKL(lib, shelf_verify(lib, NULL, NULL, NULL, &vs));
    ASSERT_EQ_INT(vs.ok, 1);

    /* the same size and mtime as the copy's origin: not even read */
    ASSERT_EQ_INT(tg_write_simple(a, WAV16, 44100, 1, 3000, 1), 0);
    ASSERT_OKL(lib, do_import(lib, root, 0, &st));
    ASSERT_EQ_INT(st.unchanged, 1);        /* the same bytes again */
    ASSERT_EQ_INT(stat(a, &sb), 0);
    ASSERT_EQ_INT(tg_write_simple(a, WAV16, 44100, 1, 3000, 3), 0);
    ts[0] = sb.st_atim;
    ts[1] = sb.st_mtim;
    ASSERT_EQ_INT(utimensat(AT_FDCWD, a, ts, 0), 0);
    ASSERT_OKL(lib, do_import(lib, root, SHELF_IMPORT_COPY, &st));
    ASSERT_EQ_INT(st.unchanged, 1);
    ASSERT_EQ_INT(st.bytes_read, 0);
    blob_of(lib, libdir, id, blob2, sizeof blob2, hex2);
    ASSERT_EQ_STR(hex2, hex);

    /* on request the original becomes the copy; the old one is garbage */
    ASSERT_EQ_INT(tg_write_simple(a, WAV16, 44100, 1, 3500, 2), 0);
    ASSERT_OKL(lib, import_seen(lib, root, SHELF_IMPORT_REPLACE, &st));
    ASSERT_EQ_INT(st.updated, 1);
    ASSERT_EQ_INT(st.differs, 0);
    blob_of(lib, libdir, id, blob2, sizeof blob2, hex2);
    ASSERT(strcmp(hex2, hex) != 0);
    ASSERT(test_exists(blob2));
    ASSERT_OKL(lib, shelf_gc(lib, 0, 0, &gs));
    ASSERT_EQ_INT(gs.blobs_removed, 1);
    ASSERT(!test_exists(blob));
    {
        const shelf_sample *row;
        shelf_cursor *cur;

        ASSERT_OKL(lib, shelf_catalog_get(lib, id, &cur, &row));
        ASSERT_EQ_INT(row->frames, 3500);
        ASSERT_EQ_STR(row->tags, "keep");
        shelf_cursor_free(cur);
    }
    shelf_library_close(lib);
}

/* Write one byte at off of a read-only blob. */
static void damage(const char *blob, off_t off)
{
    unsigned char byte;
    int fd;

    ASSERT_EQ_INT(chmod(blob, 0644), 0);
    fd = open(blob, O_RDWR);
    ASSERT(fd >= 0);
    ASSERT_EQ_INT(pread(fd, &byte, 1, off), 1);
    byte ^= 0xff;
    ASSERT_EQ_INT(pwrite(fd, &byte, 1, off), 1);
    close(fd);
    ASSERT_EQ_INT(chmod(blob, 0444), 0);
}

static int blob_intact(shelf_library *lib)
{
    shelf_verify_stats vs = { .size = sizeof vs };

    ASSERT_OKL(lib, shelf_verify(lib, NULL, NULL, NULL, &vs));
    return vs.corrupt == 0 && vs.missing == 0;
}

/* import --copy of an intact original repairs a damaged or lost copy; an
 * original that differs repairs nothing. */
TEST(copy_import_repairs_a_damaged_blob)
{
    const char *root = test_tmpdir(), *libdir = test_tmpdir();
    shelf_import_stats st = { .size = sizeof st };
    shelf_library *lib;
    char a[4096], blob[4096], hex[65];
    int64_t id;

    test_pathf(a, sizeof a, "%s/a.wav", root);
    ASSERT_EQ_INT(tg_write_simple(a, WAV16, 44100, 1, 3000, 1), 0);
    lib = open_lib(libdir);
    ASSERT_OKL(lib, do_import(lib, root, SHELF_IMPORT_COPY, &st));
    ASSERT_OKL(lib, shelf_catalog_find_path(lib, a, &id));
    blob_of(lib, libdir, id, blob, sizeof blob, hex);

    /* a flipped byte, the file named: its copy is re-hashed and repaired */
    damage(blob, 100);
    ASSERT_OKL(lib, import_seen(lib, a, SHELF_IMPORT_COPY, &st));
    ASSERT_EQ_INT(st.updated, 1);
    ASSERT_EQ_INT(seen.updated, 1);
    ASSERT(blob_intact(lib));

    /* a flipped byte found by verify (which marks the sample missing): the
     * next import of the folder repairs it, even without --copy */
    damage(blob, 200);
    ASSERT(!blob_intact(lib));
    ASSERT_OKL(lib, do_import(lib, root, 0, &st));
    ASSERT_EQ_INT(st.updated, 1);
    ASSERT(blob_intact(lib));

    /* a truncated or deleted copy: a folder's --copy rescan sees it */
    ASSERT_EQ_INT(truncate(blob, 10) == 0 || (chmod(blob, 0644) == 0 && truncate(blob, 10) == 0), 1);
    ASSERT_OKL(lib, do_import(lib, root, SHELF_IMPORT_COPY, &st));
    ASSERT_EQ_INT(st.updated, 1);
    ASSERT(blob_intact(lib));
    ASSERT_EQ_INT(unlink(blob), 0);
    ASSERT_OKL(lib, do_import(lib, root, SHELF_IMPORT_COPY, &st));
    ASSERT_EQ_INT(st.updated, 1);
    ASSERT(blob_intact(lib));
    ASSERT_OKL(lib, do_import(lib, root, SHELF_IMPORT_COPY, &st));
    ASSERT_EQ_INT(st.unchanged, 1);
    ASSERT_EQ_INT(st.bytes_read, 0);

    /* a damaged copy and an original that changed: nothing to repair from */
    damage(blob, 100);
    ASSERT_EQ_INT(tg_write_simple(a, WAV16, 44100, 1, 3000, 7), 0);
    ASSERT_OKL(lib, import_seen(lib, a, SHELF_IMPORT_COPY, &st));
    ASSERT_EQ_INT(st.differs, 1);
    ASSERT_EQ_INT(st.updated, 0);
    ASSERT(!blob_intact(lib));
    shelf_library_close(lib);
}

/* Files in the catalog whose copies are intact: nothing read or copied,
 * also when they were touched without a change. */
TEST(copy_import_of_unchanged_files_copies_nothing)
{
    const char *root = test_tmpdir(), *libdir = test_tmpdir();
    shelf_import_stats st = { .size = sizeof st };
    shelf_library *lib;
    struct stat before, after;
    char a[4096], blob[4096], hex[65];
    int64_t id;

    write_wavs(root, "k", "kick", 3, 5);
    test_pathf(a, sizeof a, "%s/k/kick_000.wav", root);
    lib = open_lib(libdir);
    ASSERT_OKL(lib, do_import(lib, root, SHELF_IMPORT_COPY, &st));
    ASSERT_EQ_INT(st.imported, 3);
    ASSERT_OKL(lib, shelf_catalog_find_path(lib, a, &id));
    blob_of(lib, libdir, id, blob, sizeof blob, hex);
    ASSERT_EQ_INT(stat(blob, &before), 0);
    ASSERT_OKL(lib, import_seen(lib, root, SHELF_IMPORT_COPY, &st));
    ASSERT_EQ_INT(st.unchanged, 3);
    ASSERT_EQ_INT(st.bytes_read, 0);
    ASSERT_EQ_INT(seen.updated, 0);
    ASSERT_OKL(lib, import_seen(lib, a, SHELF_IMPORT_COPY, &st));
    ASSERT_EQ_INT(st.unchanged, 1);
    ASSERT_EQ_INT(st.bytes_read, 0);

    /* touched: read to learn that, but unchanged and not copied */
    ASSERT_EQ_INT(utimensat(AT_FDCWD, a, NULL, 0), 0);
    ASSERT_OKL(lib, import_seen(lib, root, SHELF_IMPORT_COPY, &st));
    ASSERT_EQ_INT(st.unchanged, 3);
    ASSERT_EQ_INT(st.updated, 0);
    ASSERT_EQ_INT(seen.updated, 0);
    ASSERT_OKL(lib, do_import(lib, root, SHELF_IMPORT_COPY, &st));
    ASSERT_EQ_INT(st.bytes_read, 0);
    ASSERT_EQ_INT(stat(blob, &after), 0);
    ASSERT_EQ_INT(after.st_ino, before.st_ino);
    ASSERT_EQ_INT(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
    ASSERT_EQ_INT(blob_count(lib), 3);
    shelf_library_close(lib);
}

/* A file moved into a folder imported before its old folder is rescanned
 * keeps its id, tags and rating: in another root, and in the same root
 * outside the folder imported. */
TEST(move_into_a_folder_imported_first_keeps_the_id)
{
    const char *a = test_tmpdir(), *b = test_tmpdir(), *libdir = test_tmpdir();
    shelf_import_stats st = { .size = sizeof st };
    shelf_library *lib;
    const shelf_sample *row;
    shelf_cursor *cur;
    char from[4096], to[4096], sub[4096];
    int64_t id, id2;

    write_wavs(a, "x", "hit", 2, 9);
    lib = open_lib(libdir);
    ASSERT_OKL(lib, do_import(lib, a, 0, &st));
    test_pathf(from, sizeof from, "%s/x/hit_000.wav", a);
    ASSERT_OKL(lib, shelf_catalog_find_path(lib, from, &id));
    ASSERT_OKL(lib, shelf_tag_add(lib, id, "fat"));
    ASSERT_OKL(lib, shelf_rate(lib, id, 4));

    /* into another root */
    test_pathf(to, sizeof to, "%s/hit_000.wav", b);
    ASSERT_EQ_INT(rename(from, to), 0);
    ASSERT_OKL(lib, do_import(lib, b, 0, &st));
    ASSERT_EQ_INT(st.moved, 1);
    ASSERT_EQ_INT(st.imported, 0);
    ASSERT_OKL(lib, shelf_catalog_find_path(lib, to, &id2));
    ASSERT_EQ_INT(id2, id);
    ASSERT_OKL(lib, shelf_catalog_get(lib, id, &cur, &row));
    ASSERT_EQ_STR(row->tags, "fat");
    ASSERT_EQ_INT(row->rating, 4);
    ASSERT_EQ_INT(row->missing, 0);
    shelf_cursor_free(cur);
    ASSERT_OKL(lib, do_import(lib, a, 0, &st));
    ASSERT_EQ_INT(st.missing, 0);
    ASSERT_EQ_INT(count_rows(lib), 2);

    /* within one root, into a folder imported on its own */
    test_pathf(from, sizeof from, "%s/x/hit_001.wav", a);
    ASSERT_OKL(lib, shelf_catalog_find_path(lib, from, &id));
    test_pathf(sub, sizeof sub, "%s/y", a);
    ASSERT_EQ_INT(mkdir(sub, 0777), 0);
    test_pathf(to, sizeof to, "%s/y/hit_001.wav", a);
    ASSERT_EQ_INT(rename(from, to), 0);
    ASSERT_OKL(lib, do_import(lib, sub, 0, &st));
    ASSERT_EQ_INT(st.moved, 1);
    ASSERT_OKL(lib, shelf_catalog_find_path(lib, to, &id2));
    ASSERT_EQ_INT(id2, id);

    /* a copy whose original is still in place is a duplicate, not a move */
    test_pathf(from, sizeof from, "%s/y/hit_001.wav", a);
    test_pathf(to, sizeof to, "%s/dup.wav", b);
    {
        size_t n;
        char *data = test_read_file(from, &n);

        test_write_file(to, data, n);
        free(data);
    }
    ASSERT_OKL(lib, do_import(lib, b, 0, &st));
    ASSERT_EQ_INT(st.imported, 1);
    ASSERT_EQ_INT(st.moved, 0);
    ASSERT_EQ_INT(count_rows(lib), 3);
    shelf_library_close(lib);
}

static int failed_seen;
static char failed_reason[512];

static void on_file(void *ud, int status, const char *path, int64_t id, const char *reason)
{
    (void)ud, (void)id;
    if (status == SHELF_FILE_FAILED) {
        failed_seen++;
        snprintf(failed_reason, sizeof failed_reason, "%s: %s", path, reason);
    }
}

TEST(bad_files_are_skipped_with_reasons)
{
    const char *root = test_tmpdir(), *libdir = test_tmpdir();
    shelf_import_opts o;
    shelf_import_stats st = { .size = sizeof st };
    shelf_library *lib;
    const char *paths[1] = { root };
    char p[4096], *data;
    size_t n;
    int fd;

    write_wavs(root, "good", "ok", 2, 3);
    test_pathf(p, sizeof p, "%s/empty.wav", root);
    test_write_file(p, "", 0);
    test_pathf(p, sizeof p, "%s/text.wav", root);
    test_write_file(p, "this is not audio\n", 18);
    /* a truncated copy of a good file */
    test_pathf(p, sizeof p, "%s/good/ok_000.wav", root);
    data = test_read_file(p, &n);
    test_pathf(p, sizeof p, "%s/cut.wav", root);
    test_write_file(p, data, 40);
    free(data);
    /* unreadable (meaningless as root, who reads anything: then it imports) */
    test_pathf(p, sizeof p, "%s/noperm.wav", root);
    fd = open(p, O_WRONLY | O_CREAT, 0000);
    ASSERT(fd >= 0);
    close(fd);

    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.on_file = on_file;
    lib = open_lib(libdir);
    failed_seen = 0;
    ASSERT_OKL(lib, shelf_import(lib, paths, 1, &o, &st));
    ASSERT_EQ_INT(st.imported, 2);
    ASSERT_EQ_INT(st.failed, 4);          /* empty, text, cut, noperm (empty for root) */
    ASSERT_EQ_INT(failed_seen, 4);
    ASSERT(strchr(failed_reason, '\n') == NULL);
    ASSERT_EQ_INT(count_rows(lib), 2);
    shelf_library_close(lib);
}

TEST(named_path_that_does_not_exist)
{
    const char *libdir = test_tmpdir();
    shelf_library *lib = open_lib(libdir);

    ASSERT_RC(SHELF_ENOTFOUND, do_import(lib, "/nonexistent/shelf/test", 0, NULL));
    ASSERT(strstr(shelf_errmsg(lib), "/nonexistent/shelf/test") != NULL);
    ASSERT_EQ_INT(count_rows(lib), 0);
    shelf_library_close(lib);
}

TEST(copy_into_store_and_gc)
{
    const char *root = test_tmpdir(), *libdir = test_tmpdir();
    shelf_import_stats st = { .size = sizeof st };
    shelf_gc_stats gs = { .size = sizeof gs };
    shelf_library *lib;
    const shelf_sample *row;
    shelf_cursor *cur;
    char p[4096], blob[4096];
    int64_t id;

    write_wavs(root, "x", "pad", 3, 50);
    lib = open_lib(libdir);
    ASSERT_OKL(lib, do_import(lib, root, SHELF_IMPORT_COPY, &st));
    ASSERT_EQ_INT(st.imported, 3);
    test_pathf(p, sizeof p, "%s/x/pad_000.wav", root);
    ASSERT_OKL(lib, shelf_catalog_find_path(lib, p, &id));
    ASSERT_OKL(lib, shelf_catalog_get(lib, id, &cur, &row));
    ASSERT(row->blob != NULL);
    ASSERT_EQ_STR(row->blob, row->sha256);
    test_pathf(blob, sizeof blob, "%s/objects/%.2s/%.2s/%s", libdir, row->blob, row->blob + 2, row->blob);
    shelf_cursor_free(cur);
    ASSERT(test_exists(blob));

    /* the source may go: a managed sample is not missing */
    ASSERT_EQ_INT(unlink(p), 0);
    ASSERT_OKL(lib, do_import(lib, root, SHELF_IMPORT_COPY, &st));
    ASSERT_EQ_INT(st.missing, 0);

    /* an orphan blob and a crash leftover: gc removes both, keeps the rest */
    {
        char orphan_hex[65];
        char dir[4096], tmp[4096];

        memset(orphan_hex, 'e', 64);
        orphan_hex[64] = '\0';
        test_pathf(dir, sizeof dir, "%s/objects/ee", libdir);
        ASSERT_EQ_INT(mkdir(dir, 0777) == 0 || errno == EEXIST, 1);
        test_pathf(dir, sizeof dir, "%s/objects/ee/ee", libdir);
        ASSERT_EQ_INT(mkdir(dir, 0777) == 0 || errno == EEXIST, 1);
        test_pathf(dir, sizeof dir, "%s/objects/ee/ee/%s", libdir, orphan_hex);
        test_write_file(dir, "x", 1);
        test_pathf(tmp, sizeof tmp, "%s/objects/ee/ee/.tmp-eeee-123456", libdir);
        test_write_file(tmp, "partial", 7);
        ASSERT_OKL(lib, shelf_gc(lib, 0, 1, &gs));        /* dry run */
        ASSERT_EQ_INT(gs.blobs_removed, 1);
        ASSERT_EQ_INT(gs.temps_removed, 1);
        ASSERT(test_exists(dir));
        ASSERT_OKL(lib, shelf_gc(lib, 0, 0, &gs));
        ASSERT_EQ_INT(gs.blobs_removed, 1);
        ASSERT_EQ_INT(gs.blobs_kept, 3);
        ASSERT(!test_exists(dir));
        ASSERT(!test_exists(tmp));
        ASSERT(test_exists(blob));
    }
    shelf_library_close(lib);
}

typedef struct vrec {
    int missing, changed, corrupt;
} vrec;

static void on_problem(void *ud, int problem, int64_t id, const char *path)
{
    vrec *v = ud;

    (void)id, (void)path;
    if (problem == SHELF_VERIFY_MISSING)
        v->missing++;
    else if (problem == SHELF_VERIFY_CHANGED)
        v->changed++;
    else
        v->corrupt++;
}

TEST(verify_finds_flipped_byte_deleted_file_and_changed_file)
{
    const char *root = test_tmpdir(), *root2 = test_tmpdir(), *libdir = test_tmpdir();
    shelf_verify_stats vs = { .size = sizeof vs };
    shelf_library *lib;
    const shelf_sample *row;
    shelf_cursor *cur;
    vrec v = { 0, 0, 0 };
    char p[4096], blob[4096];
    int64_t id;
    int fd;
    unsigned char byte;

    write_wavs(root, "m", "managed", 2, 70);
    write_wavs(root2, "r", "ref", 3, 80);
    lib = open_lib(libdir);
    ASSERT_OKL(lib, do_import(lib, root, SHELF_IMPORT_COPY, NULL));
    ASSERT_OKL(lib, do_import(lib, root2, 0, NULL));
    ASSERT_OKL(lib, shelf_verify(lib, on_problem, NULL, &v, &vs));
    ASSERT_EQ_INT(vs.checked, 5);
    ASSERT_EQ_INT(vs.ok, 5);

    /* flip one byte of a blob */
    test_pathf(p, sizeof p, "%s/m/managed_000.wav", root);
    ASSERT_OKL(lib, shelf_catalog_find_path(lib, p, &id));
    ASSERT_OKL(lib, shelf_catalog_get(lib, id, &cur, &row));
    test_pathf(blob, sizeof blob, "%s/objects/%.2s/%.2s/%s", libdir, row->blob, row->blob + 2, row->blob);
    shelf_cursor_free(cur);
    ASSERT_EQ_INT(chmod(blob, 0644), 0);
    fd = open(blob, O_RDWR);
    ASSERT(fd >= 0);
    ASSERT_EQ_INT(pread(fd, &byte, 1, 100), 1);
    byte ^= 0x40;
    ASSERT_EQ_INT(pwrite(fd, &byte, 1, 100), 1);
    close(fd);
    /* delete a referenced file, change another */
    test_pathf(p, sizeof p, "%s/r/ref_000.wav", root2);
    ASSERT_EQ_INT(unlink(p), 0);
    test_pathf(p, sizeof p, "%s/r/ref_001.wav", root2);
    ASSERT_EQ_INT(tg_write_simple(p, WAV16, 44100, 1, 2001, 12345), 0);

    ASSERT_OKL(lib, shelf_verify(lib, on_problem, NULL, &v, &vs));
    ASSERT_EQ_INT(vs.checked, 5);
    ASSERT_EQ_INT(vs.ok, 2);
    ASSERT_EQ_INT(vs.corrupt, 1);
    ASSERT_EQ_INT(vs.missing, 1);
    ASSERT_EQ_INT(vs.changed, 1);
    ASSERT_EQ_INT(v.corrupt, 1);
    ASSERT_EQ_INT(v.missing, 1);
    ASSERT_EQ_INT(v.changed, 1);
    {
        int64_t total, missing;

        ASSERT_OKL(lib, shelf_catalog_count(lib, &total, &missing));
        ASSERT_EQ_INT(missing, 2);      /* verify marks the missing file and the damaged copy */
    }
    shelf_library_close(lib);
}

/* Resume: a child imports with small batches and is killed with SIGKILL
 * after it reported some files; the second run imports the rest, once. */
static int kill_fd = -1;

static void on_file_signal(void *ud, int status, const char *path, int64_t id, const char *reason)
{
    (void)ud, (void)path, (void)id, (void)reason;
    if (status == SHELF_FILE_IMPORTED && kill_fd >= 0) {
        if (write(kill_fd, "x", 1) != 1)
            _exit(3);
    }
}

TEST(resume_after_kill_9)
{
    const char *root = test_tmpdir(), *libdir = test_tmpdir();
    shelf_import_stats st = { .size = sizeof st };
    shelf_library *lib;
    int pfd[2], status, got = 0;
    pid_t pid;
    char ch;

    write_wavs(root, "a", "one", 150, 1000);
    write_wavs(root, "b", "two", 150, 2000);
    lib = open_lib(libdir);         /* create it before the child races */
    shelf_library_close(lib);
    ASSERT_EQ_INT(pipe(pfd), 0);
    pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        shelf_import_opts o;
        const char *paths[1] = { root };

        close(pfd[0]);
        kill_fd = pfd[1];
        lib = open_lib(libdir);
        memset(&o, 0, sizeof o);
        o.size = sizeof o;
        o.batch = 20;
        o.on_file = on_file_signal;
        shelf_import(lib, paths, 1, &o, NULL);
        /* wait to be killed: never finish on our own */
        for (;;)
            pause();
    }
    close(pfd[1]);
    /* 60 rows reported means at least three batches committed */
    while (got < 60 && read(pfd[0], &ch, 1) == 1)
        got++;
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    close(pfd[0]);
    ASSERT_EQ_INT(got, 60);

    lib = open_lib(libdir);
    {
        int64_t before = count_rows(lib);

        ASSERT(before >= 60 && before <= 300);
        ASSERT_OKL(lib, do_import(lib, root, 0, &st));
        ASSERT_EQ_INT(st.imported + st.unchanged, 300);
        ASSERT_EQ_INT(st.unchanged, before);
        ASSERT_EQ_INT(count_rows(lib), 300);
    }
    ASSERT_OKL(lib, do_import(lib, root, 0, &st));
    ASSERT_EQ_INT(st.unchanged, 300);
    shelf_library_close(lib);
}

static int cancel_progress(void *ud, const shelf_import_stats *st)
{
    (void)ud;
    return st->files_done >= 1;     /* stop at the first report */
}

TEST(cancel_keeps_work_done)
{
    const char *root = test_tmpdir(), *libdir = test_tmpdir();
    shelf_import_opts o;
    shelf_import_stats st = { .size = sizeof st };
    shelf_library *lib;
    const char *paths[1] = { root };
    int64_t kept;

    write_wavs(root, "c", "cancel", 40, 300);
    lib = open_lib(libdir);
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.progress = cancel_progress;
    o.batch = 5;
    ASSERT_RC(SHELF_ECANCELED, shelf_import(lib, paths, 1, &o, &st));
    kept = count_rows(lib);
    ASSERT(kept >= 5 && kept < 40);     /* whole batches only */
    ASSERT_EQ_INT(st.imported, kept);
    ASSERT_OKL(lib, do_import(lib, root, 0, &st));
    ASSERT_EQ_INT(st.unchanged, kept);
    ASSERT_EQ_INT(st.imported, 40 - kept);
    shelf_library_close(lib);
}

/* Two importers and a reader at once, in three processes. */
TEST(two_importers_and_a_reader)
{
    const char *root = test_tmpdir(), *libdir = test_tmpdir();
    char a[4096], b[4096];
    shelf_library *lib;
    pid_t pids[3];
    int i, status, failed = 0;

    write_wavs(root, "A", "alpha", 200, 1);
    write_wavs(root, "B", "beta", 200, 5000);
    test_pathf(a, sizeof a, "%s/A", root);
    test_pathf(b, sizeof b, "%s/B", root);
    lib = open_lib(libdir);
    shelf_library_close(lib);
    for (i = 0; i < 3; i++) {
        pids[i] = fork();
        ASSERT(pids[i] >= 0);
        if (pids[i] == 0) {
            shelf_import_stats st = { .size = sizeof st };
            shelf_import_opts o;
            const char *paths[1] = { i == 0 ? a : b };

            lib = open_lib(libdir);
            if (i < 2) {
                memset(&o, 0, sizeof o);
                o.size = sizeof o;
                o.batch = 10;       /* many small write transactions */
                if (shelf_import(lib, paths, 1, &o, &st) != SHELF_OK || st.imported != 200) {
                    fprintf(stderr, "importer %d: %s (imported %llu)\n", i, shelf_errmsg(lib),
                            (unsigned long long)st.imported);
                    _exit(1);
                }
            } else {
                /* the reader: search and count while they write */
                int k;

                for (k = 0; k < 200; k++) {
                    shelf_cursor *cur;
                    const shelf_sample *s;
                    int64_t n;

                    if (shelf_catalog_search(lib, k % 2 ? "alpha" : "beta", 20, 0, &cur) != SHELF_OK)
                        _exit(2);
                    while (shelf_cursor_next(cur, &s) == SHELF_ROW)
                        ;
                    shelf_cursor_free(cur);
                    if (shelf_catalog_count(lib, &n, NULL) != SHELF_OK)
                        _exit(2);
                    usleep(1000);
                }
            }
            shelf_library_close(lib);
            _exit(0);
        }
    }
    for (i = 0; i < 3; i++) {
        waitpid(pids[i], &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "process %d ended with status %d\n", i, status);
            failed++;
        }
    }
    ASSERT_EQ_INT(failed, 0);
    lib = open_lib(libdir);
    ASSERT_EQ_INT(count_rows(lib), 400);
    {
        int64_t n;

        ASSERT_OKL(lib, shelf_catalog_search_count(lib, "alpha", &n));
        ASSERT_EQ_INT(n, 200);
        ASSERT_OKL(lib, shelf_catalog_search_count(lib, "beta", &n));
        ASSERT_EQ_INT(n, 200);
    }
    shelf_library_close(lib);
}

TEST(gc_refuses_while_an_import_holds_the_library)
{
    const char *libdir = test_tmpdir();
    shelf_library *a = open_lib(libdir), *b = open_lib(libdir);

    ASSERT_OKL(a, shelf_library_lock(a, SHELF_LOCK_SHARED, 0));
    ASSERT_RC(SHELF_EBUSY, shelf_gc(b, 0, 0, NULL));
    ASSERT_RC(SHELF_EBUSY, shelf_vacuum(b, 0, NULL, NULL));
    shelf_library_unlock(a);
    ASSERT_OKL(b, shelf_gc(b, 0, 0, NULL));
    shelf_library_close(a);
    shelf_library_close(b);
}

TEST(db_backup_while_another_process_writes)
{
    const char *root = test_tmpdir(), *libdir = test_tmpdir(), *out = test_tmpdir();
    shelf_library *lib;
    char dst[4096];
    pid_t pid;
    int status;

    write_wavs(root, "w", "w", 200, 9);
    lib = open_lib(libdir);
    shelf_library_close(lib);
    pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        shelf_import_opts o;
        const char *paths[1] = { root };

        lib = open_lib(libdir);
        memset(&o, 0, sizeof o);
        o.size = sizeof o;
        o.batch = 5;
        _exit(shelf_import(lib, paths, 1, &o, NULL) == SHELF_OK ? 0 : 1);
    }
    lib = open_lib(libdir);
    test_pathf(dst, sizeof dst, "%s/copy.db", out);
    ASSERT_OKL(lib, shelf_db_backup(lib, dst));
    waitpid(pid, &status, 0);
    ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    {
        sqlite3 *db;
        sqlite3_stmt *st;

        ASSERT_EQ_INT(sqlite3_open_v2(dst, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
        ASSERT_EQ_INT(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
        ASSERT_EQ_INT(sqlite3_step(st), SQLITE_ROW);
        ASSERT_EQ_STR((const char *)sqlite3_column_text(st, 0), "ok");
        sqlite3_finalize(st);
        ASSERT_EQ_INT(sqlite3_prepare_v2(db, "SELECT count(*) FROM samples", -1, &st, NULL), SQLITE_OK);
        ASSERT_EQ_INT(sqlite3_step(st), SQLITE_ROW);
        ASSERT(sqlite3_column_int(st, 0) <= 200);
        sqlite3_finalize(st);
        sqlite3_close(db);
    }
    shelf_library_close(lib);
}

/* The catalog as text: one line per sample, by path, without ids and times
 * (a run that failed part way and was re-run numbers its samples apart). */
static void catalog_text(shelf_library *lib, shelf__buf *out)
{
    shelf_list_opts lo;
    const shelf_sample *r;
    shelf_cursor *cur;
    int rc;

    memset(&lo, 0, sizeof lo);
    lo.size = sizeof lo;
    lo.sort = SHELF_SORT_PATH;
    shelf__buf_reset(out);
    ASSERT_OKL(lib, shelf_catalog_list(lib, &lo, &cur));
    while ((rc = shelf_cursor_next(cur, &r)) == SHELF_ROW)
        ASSERT_OK(shelf__buf_addf(out, "%s|%s|%s|%llu|%s|%d|%lld|%s|%d|%s|%s|%s\n", r->relpath,
                                  r->sha256, r->blob ? r->blob : "-",
                                  (unsigned long long)r->size, r->format, r->rate,
                                  (long long)r->frames, r->category ? r->category : "-",
                                  r->missing, r->tags, r->kit ? r->kit : "-",
                                  r->instrument ? r->instrument : "-"));
    ASSERT_RC(SHELF_DONE, rc);
    shelf_cursor_free(cur);
}

/* The library after a failed (or half-failed) run: SQLite finds it sound,
 * every file it knows verifies, and an import without faults then gives the
 * catalog of a clean run. */
static int import_recovers(const char *libdir, const char *root, const char *want, char *why,
                           size_t why_size)
{
    shelf__buf got = SHELF__BUF_INIT;
    shelf_verify_stats vs = { .size = sizeof vs };
    shelf_library *lib = open_lib(libdir);
    int repaired = -1, ok = 0, rc;

    if ((rc = shelf_catalog_repair(lib, 1, &repaired)) != SHELF_OK || repaired)
        snprintf(why, why_size, "catalog check: %s (repaired %d)", shelf_strerror(rc), repaired);
    else if ((rc = shelf_verify(lib, NULL, NULL, NULL, &vs)) != SHELF_OK ||
             vs.ok != vs.checked)
        snprintf(why, why_size, "verify: %s, %llu of %llu ok", shelf_strerror(rc),
                 (unsigned long long)vs.ok, (unsigned long long)vs.checked);
    else if ((rc = do_import(lib, root, SHELF_IMPORT_COPY, NULL)) != SHELF_OK)
        snprintf(why, why_size, "re-run: %s: %s", shelf_strerror(rc), shelf_errmsg(lib));
    else {
        catalog_text(lib, &got);
        if (strcmp(got.buf, want) != 0)
            snprintf(why, why_size, "re-run gives another catalog:\n%s\nnot\n%s", got.buf, want);
        else
            ok = 1;
    }
    shelf__buf_release(&got);
    shelf_library_close(lib);
    return ok;
}

/*
 * Import under allocation failure (ours, SQLite's, jansson's, libxml2's):
 * for n = 1, 2, ... the nth allocation fails; the import fails with
 * SHELF_ENOMEM or completes (a failure it absorbed must not show), never
 * crashes, and leaves a library that checks, verifies and, imported again,
 * equals a clean run.  Each point opens a library of its own, which takes
 * time: past the first 40 points the step grows by an eighth each time
 * (deterministic), and the count of points tried is printed.
 */
TEST(alloc_fail_import)
{
    static const char kit[] =
        "<drumkit_info><name>Tiny</name><author>me</author><instrumentList>"
        "<instrument><id>0</id><name>Kick</name><filename>kick_000.wav</filename></instrument>"
        "<instrument><id>1</id><name>Snare</name><filename>kick_001.wav</filename></instrument>"
        "</instrumentList></drumkit_info>\n";
    const char *root = test_tmpdir(), *tmp = test_tmpdir();
    char libdir[4096], p[4096], why[8192] = "", first[8192 + 64] = "";
    shelf__buf want = SHELF__BUF_INIT;
    shelf_import_stats st = { .size = sizeof st };
    shelf_library *lib;
    int rc, hit, bad = 0, tried = 0, failed = 0;
    long n;

    write_wavs(root, "k", "kick", 2, 31);
    write_wavs(root, "p", "pad", 1, 41);
    test_pathf(p, sizeof p, "%s/k/drumkit.xml", root);
    test_write_file(p, kit, strlen(kit));
    test_pathf(libdir, sizeof libdir, "%s/clean", tmp);
    lib = open_lib(libdir);
    ASSERT_OKL(lib, do_import(lib, root, SHELF_IMPORT_COPY, &st));
    ASSERT_EQ_INT(st.imported, 3);
    catalog_text(lib, &want);
    ASSERT(strstr(want.buf, "|Tiny|Kick") != NULL);      /* the kit was read */
    shelf_library_close(lib);

    for (n = 1; n < 100000; n += n < 40 ? 1 : n / 8) {
        test_pathf(libdir, sizeof libdir, "%s/lib%ld", tmp, n);
        lib = open_lib(libdir);
        memset(&st, 0, sizeof st);
        st.size = sizeof st;
        shelf__alloc_fail_after(n);
        rc = do_import(lib, root, SHELF_IMPORT_COPY, &st);
        hit = fault_hit(n);
        shelf__alloc_fail_after(0);
        tried++;
        if (rc != SHELF_OK && rc != SHELF_ENOMEM && !bad++)
            snprintf(first, sizeof first, "allocation %ld: %s: %s", n, shelf_strerror(rc),
                     shelf_errmsg(lib));
        failed += rc != SHELF_OK;
        shelf_library_close(lib);
        if (!import_recovers(libdir, root, want.buf, why, sizeof why) && !bad++)
            snprintf(first, sizeof first, "allocation %ld (%s): %s", n, shelf_strerror(rc), why);
        test_rm_rf(libdir);
        if (!hit)
            break;
    }
    printf("    %d allocation points tried up to %ld, %d failed with SHELF_ENOMEM\n", tried, n,
           failed);
    ASSERT(n > 20 && n < 100000);
    ASSERT(failed > 10);
    if (bad)
        test__fail(__FILE__, __LINE__, "%d problems in %d attempts; first: %s", bad, tried, first);
    shelf__buf_release(&want);
}

int main(int argc, char **argv)
{
    static const test_case tests[] = {
        TEST_ENTRY(first_import_and_unchanged_rescan),
        TEST_ENTRY(opts_size_import),
        TEST_ENTRY(sample_fields_and_category),
        TEST_ENTRY(changed_moved_missing),
        TEST_ENTRY(duplicate_content_is_not_a_move),
        TEST_ENTRY(copies_found_before_the_original_are_not_moves),
        TEST_ENTRY(managed_stays_managed_and_copy_adopts),
        TEST_ENTRY(changed_original_never_replaces_the_managed_copy),
        TEST_ENTRY(copy_import_repairs_a_damaged_blob),
        TEST_ENTRY(copy_import_of_unchanged_files_copies_nothing),
        TEST_ENTRY(move_into_a_folder_imported_first_keeps_the_id),
        TEST_ENTRY(bad_files_are_skipped_with_reasons),
        TEST_ENTRY(named_path_that_does_not_exist),
        TEST_ENTRY(copy_into_store_and_gc),
        TEST_ENTRY(verify_finds_flipped_byte_deleted_file_and_changed_file),
        TEST_ENTRY(resume_after_kill_9),
        TEST_ENTRY(cancel_keeps_work_done),
        TEST_ENTRY(two_importers_and_a_reader),
        TEST_ENTRY(gc_refuses_while_an_import_holds_the_library),
        TEST_ENTRY(db_backup_while_another_process_writes),
        TEST_ENTRY(alloc_fail_import),
        TEST_END
    };
    return test_run(argc, argv, tests);
}
