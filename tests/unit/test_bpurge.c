/*
 * test_bpurge.c: shelf_repo_purge, items out of a backup repository.  A
 * library of samples with awkward names (accents, CJK, emoji, space,
 * newline, a byte that is not UTF-8), each file holding a random marker
 * in its audio and the purged sample's name, tag and patch holding a
 * random text marker; a full and an incremental snapshot; then one sample
 * and one patch are purged.  Every byte of every file of the repository is
 * searched (and every blob of every pack, decrypted and decompressed, so
 * names and tags are found in the compressed catalog copy too): the
 * markers are there before and gone after, and every snapshot still
 * restores with the other items intact.
 */
#include <dirent.h>
#include <ftw.h>
#include <openssl/evp.h>
#include <zstd.h>
#include "test.h"
#include "libs.h"
#include "backup/backup_int.h"
#include "remote/remote_int.h"

#define PW "correct horse"
#define NFILES 6
#define PURGED 2     /* the sample purged (index into names) */
#define MARK 32

static const char *const names[NFILES] = {
    "kick é.wav", "鼓 drum.wav", "🥁 snare ", "new\nline.wav", "bad\xff byte.wav", "plain.wav" };
static uint8_t marker[NFILES][MARK];      /* in each file's audio */
static char name_marker[2 * 16 + 1];      /* in the purged sample's name and tag */
static char doc_marker[2 * 16 + 1];       /* in the purged patch */

/* A WAV of noise (incompressible: stored as it is) with marker m at 1000. */
static void write_wav(const char *path, size_t bytes, const uint8_t m[MARK])
{
    uint8_t *b = malloc(44 + bytes);
    uint32_t n = (uint32_t)bytes;
    static const uint8_t fmt[16] = { 16, 0, 0, 0, 1, 0, 1, 0, 0x44, 0xac, 0, 0, 0x88, 0x58, 1, 0 };

    ASSERT(b);
    memcpy(b, "RIFF", 4);
    shelf__put_le32(b + 4, n + 36);
    memcpy(b + 8, "WAVEfmt ", 8);
    memcpy(b + 16, fmt, 16);
    b[32] = 2; b[33] = 0; b[34] = 16; b[35] = 0;
    memcpy(b + 36, "data", 4);
    shelf__put_le32(b + 40, n);
    ASSERT_OK(shelf__random(b + 44, bytes));
    memcpy(b + 44 + 1000, m, MARK);
    test_write_file(path, b, 44 + bytes);
    free(b);
}

static void import_path(shelf_library *lib, const char *path)
{
    shelf_import_opts o;
    shelf_import_stats st = { .size = sizeof st };
    const char *paths[1] = { path };

    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    ASSERT_OKL(lib, shelf_import(lib, paths, 1, &o, &st));
}

static char purge_name[80];

static int take_name(void *ud, const shelf_purge_entry *e)
{
    (void)ud;
    if (e->name)
        snprintf(purge_name, sizeof purge_name, "%s", e->name);
    return 0;
}

/* The name shelf_repo_purge takes for item (kind, id) of lib ("s:SHA",
 * "p:HASH"), from the live purge's preview. */
static void item_name(shelf_library *lib, int kind, int64_t id, char out[80])
{
    shelf_purge_opts o;

    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.preview = 1;
    o.force = 1;
    o.cb = take_name;
    purge_name[0] = '\0';
    ASSERT_OKL(lib, shelf_purge(lib, &kind, &id, 1, &o, NULL));
    ASSERT(purge_name[0]);
    snprintf(out, 80, "%s", purge_name);
}

/* ---- searching ---- */

typedef struct found {
    int raw[NFILES];          /* file markers in the bytes of repository files */
    int blob[NFILES];         /* file markers in decoded blobs */
    int name, doc;            /* text markers in decoded blobs */
    uint64_t files, blobs;
} found;

static found *g_found;
static shelf_repo *g_repo;

static void search(found *f, const uint8_t *p, size_t n, int decoded)
{
    int i;

    for (i = 0; i < NFILES; i++)
        if (memmem(p, n, marker[i], MARK))
            (decoded ? f->blob : f->raw)[i] = 1;
    if (decoded && memmem(p, n, name_marker, strlen(name_marker)))
        f->name = 1;
    if (decoded && memmem(p, n, doc_marker, strlen(doc_marker)))
        f->doc = 1;
}

/* Every blob of the pack p[0..n), whether any index lists it or not. */
static void search_pack(found *f, const uint8_t *p, size_t n)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    shelf__buf plain = SHELF__BUF_INIT;
    shelf__packent *ents = NULL;
    size_t k, nents = 0;

    ASSERT(ctx);
    ASSERT_OK(shelf__pack_header_of(g_repo, ctx, p, n, &ents, &nents));
    for (k = 0; k < nents; k++) {
        ASSERT(ents[k].off + ents[k].len <= n);
        ASSERT_OK(shelf__open_sealed(g_repo, p + ents[k].off, ents[k].len, &plain));
        if (ents[k].flags & SHELF__BLOB_ZSTD) {
            uint8_t *out = malloc(ents[k].raw + 1);
            size_t z = ZSTD_decompress(out, ents[k].raw, plain.buf, plain.len);

            ASSERT(!ZSTD_isError(z));
            search(f, out, z, 1);
            free(out);
        } else {
            search(f, (const uint8_t *)plain.buf, plain.len, 1);
        }
        f->blobs++;
    }
    shelf_free(ents);
    shelf__buf_release(&plain);
    EVP_CIPHER_CTX_free(ctx);
}

static int search_file(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    size_t n = 0;
    char *b;

    (void)ftw;
    if (flag != FTW_F || !S_ISREG(sb->st_mode))
        return 0;
    b = test_read_file(path, &n);
    g_found->files++;
    search(g_found, (const uint8_t *)b, n, 0);
    if (strstr(path, "/data/") && g_repo)
        search_pack(g_found, (const uint8_t *)b, n);
    free(b);
    return 0;
}

/* Search every file under dir (with r: a repository, its packs decoded). */
static found search_tree(const char *dir, shelf_repo *r)
{
    found f;

    memset(&f, 0, sizeof f);
    g_found = &f;
    g_repo = r;
    ASSERT_EQ_INT(nftw(dir, search_file, 16, FTW_PHYS), 0);
    g_repo = NULL;
    g_found = NULL;
    return f;
}

/* ---- the library and the repository ---- */

static void new_text_markers(void)
{
    uint8_t b[16];

    ASSERT_OK(shelf__random(b, sizeof b));
    shelf__hex(b, sizeof b, name_marker);
    ASSERT_OK(shelf__random(b, sizeof b));
    shelf__hex(b, sizeof b, doc_marker);
}

static shelf_library *make_library(const char *d, int64_t *purged_id, int64_t *patch_id)
{
    char p[4096], tag[64], json[512];
    shelf_library *lib;
    int64_t keep_patch, seq = 0;
    int i;

    test_pathf(p, sizeof p, "%s/samples", d);
    ASSERT_EQ_INT(mkdir(p, 0777), 0);
    for (i = 0; i < NFILES; i++) {
        ASSERT_OK(shelf__random(marker[i], MARK));
        if (i == PURGED)
            test_pathf(p, sizeof p, "%s/samples/%s%s.wav", d, names[i], name_marker);
        else
            test_pathf(p, sizeof p, "%s/samples/%s", d, names[i]);
        write_wav(p, 150000 + 20000 * (size_t)i, marker[i]);
    }
    test_pathf(p, sizeof p, "%s/lib", d);
    lib = test_lib_open(p, SHELF_OPEN_CREATE);
    test_pathf(p, sizeof p, "%s/samples", d);
    import_path(lib, p);
    test_pathf(p, sizeof p, "%s/samples/%s%s.wav", d, names[PURGED], name_marker);
    ASSERT_OKL(lib, shelf_catalog_find_path(lib, p, purged_id));
    snprintf(tag, sizeof tag, "t%s", name_marker);
    ASSERT_OKL(lib, shelf_tag_add(lib, *purged_id, tag));
    ASSERT_OKL(lib, shelf_tag_add(lib, *purged_id, "kick"));
    ASSERT_OKL(lib, shelf_tag_add(lib, 1, "kick"));
    snprintf(json, sizeof json, "{\"shelf_patch\":1,\"name\":\"Lead %s\",\"zones\":{}}", doc_marker);
    ASSERT_OKL(lib, shelf_doc_create(lib, SHELF_DOC_PATCH, json, NULL, patch_id));
    snprintf(json, sizeof json, "{\"shelf_patch\":1,\"name\":\"Lead %s v2\",\"zones\":{}}", doc_marker);
    ASSERT_OKL(lib, shelf_doc_commit(lib, SHELF_DOC_PATCH, *patch_id, json, 0, NULL, &seq));
    ASSERT_OKL(lib, shelf_doc_create(lib, SHELF_DOC_PATCH,
                                     "{\"shelf_patch\":1,\"name\":\"Pad\",\"zones\":{}}", NULL, &keep_patch));
    return lib;
}

static shelf_repo *open_repo(const char *target, const char *cache, int plain, int init)
{
    shelf_repo_opts o;
    shelf_repo *r = NULL;
    char *msg = NULL;
    int rc;

    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.password = plain ? NULL : PW;
    o.flags = plain ? SHELF_REPO_NO_ENCRYPTION : 0;
    o.kdf_log2n = 10;
    o.cache_dir = cache;
    if (init) {
        rc = shelf_repo_init(target, &o, &msg);
        ASSERT_OKM(msg ? msg : "", rc);
    }
    rc = shelf_repo_open(target, &o, &r, &msg);
    ASSERT_OKM(msg ? msg : "", rc);
    return r;
}

static void backup(shelf_repo *r, shelf_library *lib, int strategy)
{
    shelf_backup_opts o;
    shelf_backup_stats st = { .size = sizeof st };

    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.strategy = strategy;
    ASSERT_OKM(shelf_repo_errmsg(r), shelf_backup_run(r, lib, &o, &st));
}

typedef struct snaps {
    char id[4][65], parent[4][65];
    int strategy[4];
    int64_t time[4];
    int n;
} snaps;

static int take_snap(void *ud, const shelf_snapinfo *s)
{
    snaps *l = ud;

    ASSERT(l->n < 4);
    ASSERT(!s->damaged);
    snprintf(l->id[l->n], 65, "%s", s->id);
    snprintf(l->parent[l->n], 65, "%s", s->parent);
    l->strategy[l->n] = s->strategy;
    l->time[l->n++] = s->time;
    return 0;
}

static snaps list(shelf_repo *r)
{
    snaps l;

    memset(&l, 0, sizeof l);
    ASSERT_OK(shelf_snapshot_list(r, take_snap, &l));
    return l;
}

static int count_device(void *ud, const char *device, int64_t counter)
{
    (void)ud;
    (void)device;
    (void)counter;
    return 0;
}

static int seen_cb;

static int on_snap(void *ud, const shelf_repo_purge_info *e)
{
    (void)ud;
    ASSERT_EQ_INT(strlen(e->snapshot), 64);
    ASSERT(e->files == 1 || e->relinked);
    seen_cb++;
    return 0;
}

/* Restore snap into to: count the samples, and find every marker but
 * the purged ones in the files. */
static void restore_check(shelf_repo *r, const char *snap, const char *to, int64_t want)
{
    shelf_restore_opts o;
    shelf_restore_stats st = { .size = sizeof st };
    shelf_library *lib;
    int64_t total = 0;
    found f;
    int i;

    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.to = to;
    ASSERT_OKM(shelf_repo_errmsg(r), shelf_restore(r, NULL, snap, &o, &st));
    ASSERT_EQ_INT(st.failed, 0);
    lib = test_lib_open(to, SHELF_OPEN_CREATE);
    ASSERT_OKL(lib, shelf_catalog_count(lib, &total, NULL));
    ASSERT_EQ_INT(total, want);
    shelf_library_close(lib);
    f = search_tree(to, NULL);
    for (i = 0; i < NFILES; i++)
        ASSERT_EQ_INT(f.raw[i], i != PURGED);
}

static void purge_case(int plain)
{
    const char *d = test_tmpdir();
    char target[4096], cache[4096], to[4096], sname[80], dname[80];
    const char *sv[1], *dv[1];
    shelf_library *lib;
    shelf_repo *r;
    shelf_repo_purge_opts po;
    shelf_repo_purge_stats st = { .size = sizeof st };
    shelf_check_stats cs = { .size = sizeof cs };
    int64_t sid, pid;
    snaps before, after;
    found f;
    int i;

    new_text_markers();
    lib = make_library(d, &sid, &pid);
    test_pathf(target, sizeof target, "%s/repo", d);
    test_pathf(cache, sizeof cache, "%s/cache", d);
    r = open_repo(target, cache, plain, 1);
    backup(r, lib, SHELF_BACKUP_FULL);
    {
        /* something new for the incremental */
        char p[4096], dir[4096];

        test_pathf(dir, sizeof dir, "%s/more", d);
        ASSERT_EQ_INT(mkdir(dir, 0777), 0);
        test_pathf(p, sizeof p, "%s/more/later ü.wav", d);
        write_wav(p, 60000, (const uint8_t *)"later-later-later-later-later-la");
        import_path(lib, dir);
    }
    backup(r, lib, SHELF_BACKUP_INCREMENTAL);
    item_name(lib, SHELF_PURGE_SAMPLE, sid, sname);
    item_name(lib, SHELF_DOC_PATCH, pid, dname);
    ASSERT(!strncmp(sname, "s:", 2));
    ASSERT(!strncmp(dname, "p:", 2));
    sv[0] = sname;
    dv[0] = dname;
    /* the library purges them; a snapshot taken after holds nothing of
     * them, but names one the purge rewrites: it is written again naming
     * the new one (relinked) */
    {
        shelf_purge_opts lo;
        int kinds[2] = { SHELF_PURGE_SAMPLE, SHELF_DOC_PATCH };
        int64_t ids[2] = { sid, pid };

        memset(&lo, 0, sizeof lo);
        lo.size = sizeof lo;
        lo.force = 1;
        ASSERT_OKL(lib, shelf_purge(lib, kinds, ids, 2, &lo, NULL));
        /* its tombstone leaves the queue for the log */
        ASSERT_OKL(lib, shelf_sync_vector(lib, count_device, NULL));
    }
    backup(r, lib, SHELF_BACKUP_INCREMENTAL);
    before = list(r);
    ASSERT_EQ_INT(before.n, 3);
    ASSERT_EQ_STR(before.parent[1], before.id[0]);
    ASSERT_EQ_STR(before.parent[2], before.id[1]);

    /* the search works: every marker is in the repository */
    f = search_tree(target, r);
    ASSERT(f.files > 5);
    for (i = 0; i < NFILES; i++) {
        ASSERT_EQ_INT(f.blob[i], 1);
        if (plain)
            ASSERT_EQ_INT(f.raw[i], 1);    /* noise is stored as it is */
        else
            ASSERT_EQ_INT(f.raw[i], 0);
    }
    ASSERT_EQ_INT(f.name, 1);
    ASSERT_EQ_INT(f.doc, 1);

    /* dry run: both snapshots named, nothing changes */
    memset(&po, 0, sizeof po);
    po.size = sizeof po;
    po.dry_run = 1;
    po.cb = on_snap;
    seen_cb = 0;
    ASSERT_OKM(shelf_repo_errmsg(r), shelf_repo_purge(r, NULL, sv, 1, dv, 1, &po, &st));
    ASSERT_EQ_INT(st.snapshots, 3);
    ASSERT_EQ_INT(st.snapshots_rewritten, 2);
    ASSERT_EQ_INT(st.snapshots_relinked, 1);
    ASSERT_EQ_INT(st.files_dropped, 2);
    ASSERT(st.rows > 0);
    ASSERT_EQ_INT(seen_cb, 3);
    after = list(r);
    for (i = 0; i < 3; i++)
        ASSERT_EQ_STR(after.id[i], before.id[i]);
    f = search_tree(target, r);
    ASSERT_EQ_INT(f.name, 1);

    /* a malformed name is refused */
    {
        const char *bad[1] = { "s:XYZ" };

        po.dry_run = 0;
        ASSERT_RC(SHELF_EINVAL, shelf_repo_purge(r, NULL, bad, 1, NULL, 0, &po, &st));
    }

    /* the purge */
    seen_cb = 0;
    ASSERT_OKM(shelf_repo_errmsg(r), shelf_repo_purge(r, NULL, sv, 1, dv, 1, &po, &st));
    ASSERT_EQ_INT(st.snapshots_rewritten, 2);
    ASSERT_EQ_INT(st.snapshots_relinked, 1);
    ASSERT_EQ_INT(st.files_dropped, 2);
    ASSERT(st.packs_rewritten + st.packs_removed > 0);
    ASSERT(st.bytes_removed > 150000);
    ASSERT_EQ_INT(seen_cb, 3);
    after = list(r);
    ASSERT_EQ_INT(after.n, 3);
    for (i = 0; i < 3; i++) {
        int k;

        for (k = 0; k < 3; k++)
            ASSERT(strcmp(after.id[i], before.id[k]) != 0);
        ASSERT_EQ_INT(after.time[i], before.time[i]);
        ASSERT_EQ_INT(after.strategy[i], before.strategy[i]);
    }
    /* the chain names the new snapshots */
    ASSERT_EQ_STR(after.parent[1], after.id[0]);
    ASSERT_EQ_STR(after.parent[2], after.id[1]);

    /* no byte of the purged items stays: not in any file, not in any blob
     * of any pack; the others are all there */
    f = search_tree(target, r);
    for (i = 0; i < NFILES; i++) {
        ASSERT_EQ_INT(f.blob[i], i != PURGED);
        if (plain)
            ASSERT_EQ_INT(f.raw[i], i != PURGED);
    }
    ASSERT_EQ_INT(f.name, 0);
    ASSERT_EQ_INT(f.doc, 0);
    ASSERT_OKM(shelf_repo_errmsg(r), shelf_repo_check(r, 100, NULL, NULL, &cs));
    ASSERT_EQ_INT(cs.errors, 0);

    /* every snapshot restores, without the items */
    test_pathf(to, sizeof to, "%s/restored-full", d);
    restore_check(r, after.id[0], to, NFILES - 1);
    test_pathf(to, sizeof to, "%s/restored-incr", d);
    restore_check(r, after.id[1], to, NFILES);
    test_pathf(to, sizeof to, "%s/restored-after", d);
    restore_check(r, after.id[2], to, NFILES);

    /* again: nothing left to do */
    ASSERT_OKM(shelf_repo_errmsg(r), shelf_repo_purge(r, NULL, sv, 1, dv, 1, &po, &st));
    ASSERT_EQ_INT(st.snapshots_rewritten, 0);
    ASSERT_EQ_INT(st.snapshots_relinked, 0);
    ASSERT_EQ_INT(st.packs_rewritten + st.packs_removed, 0);
    shelf_repo_close(r);
    shelf_library_close(lib);
}

static void lock_seen(void *ud, const shelf_lockinfo *l)
{
    (void)l;
    (*(int *)ud)++;
}

/*
 * A purge stopped at every write or removal in turn (the target gone from
 * then on, as a pulled stick): check finds every snapshot whole, and the
 * next run finishes the job.
 */
TEST(purge_stopped_anywhere_is_finished_by_the_next)
{
    const char *d = test_tmpdir();
    char base[4096], target[4096], cache[4096], to[4096], cmd[12288], sname[80];
    const char *sv[1];
    shelf_library *lib;
    shelf_repo *r;
    shelf_repo_purge_opts po;
    shelf_repo_purge_stats st = { .size = sizeof st };
    int64_t sid, pid;
    long k;
    int done = 0, i, locks;

    new_text_markers();
    lib = make_library(d, &sid, &pid);
    test_pathf(base, sizeof base, "%s/base", d);
    test_pathf(cache, sizeof cache, "%s/cache", d);
    r = open_repo(base, cache, 1, 1);
    backup(r, lib, SHELF_BACKUP_FULL);
    backup(r, lib, SHELF_BACKUP_INCREMENTAL);
    shelf_repo_close(r);
    item_name(lib, SHELF_PURGE_SAMPLE, sid, sname);
    sv[0] = sname;
    memset(&po, 0, sizeof po);
    po.size = sizeof po;
    for (k = 1; !done && k < 200; k++) {
        shelf_repo_opts o;
        shelf__backend *dir, *be;
        shelf__err err = { 0, "" };
        shelf__be_fault_cfg f;
        shelf_check_stats cs = { .size = sizeof cs };
        snaps l;
        found fd;
        int rc;

        test_pathf(target, sizeof target, "%s/r%ld", d, k);
        test_pathf(cache, sizeof cache, "%s/c%ld", d, k);
        snprintf(cmd, sizeof cmd, "cp -a '%s' '%s'", base, target);
        ASSERT_EQ_INT(system(cmd), 0);
        memset(&o, 0, sizeof o);
        o.size = sizeof o;
        o.flags = SHELF_REPO_NO_ENCRYPTION;
        o.cache_dir = cache;
        ASSERT_OK(shelf__be_dir_open(target, 0, &dir, &err));
        memset(&f, 0, sizeof f);
        f.ops = SHELF__FOP_SAVE | SHELF__FOP_REMOVE;
        f.fail_at = k;
        f.dead_after = 1;
        ASSERT_OK(shelf__be_fault_new(dir, &f, &be));
        ASSERT_OK(shelf__repo_open_be(be, &o, &r, NULL));
        rc = shelf_repo_purge(r, NULL, sv, 1, NULL, 0, &po, &st);
        shelf_repo_close(r);
        if (!f.failed) {
            ASSERT_OK(rc);
            done = 1;
            continue;
        }
        /* (a fault on the last step, the lock's removal, is not the purge's failure) */
        (void)rc;
        /* stopped: every snapshot is whole, the next run finishes */
        r = open_repo(target, cache, 1, 0);
        locks = 0;
        ASSERT_OK(shelf_repo_unlock(r, 1, lock_seen, &locks));
        ASSERT_OKM(shelf_repo_errmsg(r), shelf_repo_check(r, 100, NULL, NULL, &cs));
        ASSERT_EQ_INT(cs.errors, 0);
        ASSERT_OKM(shelf_repo_errmsg(r), shelf_repo_purge(r, NULL, sv, 1, NULL, 0, &po, &st));
        l = list(r);
        ASSERT_EQ_INT(l.n, 2);
        ASSERT_EQ_STR(l.parent[1], l.id[0]);
        fd = search_tree(target, r);
        for (i = 0; i < NFILES; i++)
            if (fd.raw[i] != (i != PURGED))
                test__fail(__FILE__, __LINE__, "stopped at %ld: marker %d %s (decoded: %d)", k, i,
                           fd.raw[i] ? "still there" : "lost", fd.blob[i]);
        ASSERT_EQ_INT(fd.name, 0);
        ASSERT_OKM(shelf_repo_errmsg(r), shelf_repo_check(r, 100, NULL, NULL, &cs));
        ASSERT_EQ_INT(cs.errors, 0);
        test_pathf(to, sizeof to, "%s/t%ld", d, k);
        restore_check(r, l.id[1], to, NFILES - 1);
        shelf_repo_close(r);
        test_rm_rf(target);
        test_rm_rf(to);
    }
    ASSERT(done);
    ASSERT(k > 8);      /* it did stop at many places */
    shelf_library_close(lib);
}

TEST(purge_plain_repository)
{
    purge_case(1);
}

TEST(purge_encrypted_repository)
{
    purge_case(0);
}

int main(int argc, char **argv)
{
    static const test_case tests[] = {
        TEST_ENTRY(purge_plain_repository),
        TEST_ENTRY(purge_encrypted_repository),
        TEST_ENTRY(purge_stopped_anywhere_is_finished_by_the_next),
        TEST_END
    };

    return test_run(argc, argv, tests);
}
