/*
 * test_backup.c: backup repositories end to end through the library API:
 * chunking, encryption and keys, round trips (backup, restore into a new
 * folder, every hash compared), the dependency rules of full, incremental
 * and differential snapshots, forget and prune, a flipped bit in every
 * repository file, kill -9 during backup and prune, a target that runs out
 * of space, live restores with conflicts, and locks.
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/vfs.h>
#include <sndfile.h>
#include <time.h>
#include "test.h"
#include "alloc_fault.h"
#include "audiogen.h"
#include "opts_size.h"
#include "backup/backup_int.h"

#define WAV16 (SF_FORMAT_WAV | SF_FORMAT_PCM_16)
#define PW "correct horse"

/* xorshift: deterministic test data */
static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* A WAV of incompressible noise, size bytes of samples. */
static void write_noise_wav(const char *path, size_t bytes, uint64_t seed)
{
    uint8_t h[44];
    size_t i;
    FILE *f = fopen(path, "wb");
    uint32_t n = (uint32_t)bytes;

    ASSERT(f);
    memcpy(h, "RIFF", 4);
    h[4] = (uint8_t)(n + 36); h[5] = (uint8_t)((n + 36) >> 8); h[6] = (uint8_t)((n + 36) >> 16); h[7] = (uint8_t)((n + 36) >> 24);
    memcpy(h + 8, "WAVEfmt ", 8);
    h[16] = 16; h[17] = h[18] = h[19] = 0;
    h[20] = 1; h[21] = 0; h[22] = 1; h[23] = 0;         /* PCM, mono */
    h[24] = 0x44; h[25] = 0xac; h[26] = 0; h[27] = 0;   /* 44100 */
    h[28] = 0x88; h[29] = 0x58; h[30] = 0x01; h[31] = 0; /* byte rate */
    h[32] = 2; h[33] = 0; h[34] = 16; h[35] = 0;
    memcpy(h + 36, "data", 4);
    h[40] = (uint8_t)n; h[41] = (uint8_t)(n >> 8); h[42] = (uint8_t)(n >> 16); h[43] = (uint8_t)(n >> 24);
    ASSERT_EQ_INT(fwrite(h, 1, 44, f), 44);
    seed |= 1;
    for (i = 0; i < bytes; i += 8) {
        uint64_t v = rnd(&seed);

        fwrite(&v, 1, bytes - i < 8 ? bytes - i : 8, f);
    }
    ASSERT_EQ_INT(fclose(f), 0);
}

static shelf_library *open_lib(const char *dir)
{
    shelf_library *lib = NULL;
    char *msg = NULL;
    int rc = shelf_library_open(dir, SHELF_OPEN_CREATE, &lib, &msg);

    ASSERT_OKM(msg ? msg : "", rc);
    return lib;
}

static void import_path(shelf_library *lib, const char *path, unsigned flags)
{
    shelf_import_opts o;
    shelf_import_stats st = { .size = sizeof st };
    const char *paths[1] = { path };

    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.flags = flags;
    ASSERT_OKL(lib, shelf_import(lib, paths, 1, &o, &st));
}

/*
 * A library in d/lib: d/samples (referenced: n small sines and, when
 * noise > 0, a noise WAV of that many bytes), d/copy (2 managed), a tag
 * and a patch that uses sample 1.
 */
static shelf_library *make_library(const char *d, int n, size_t noise)
{
    char p[4096];
    shelf_library *lib;
    int64_t pid;
    int i;

    test_pathf(p, sizeof p, "%s/samples", d);
    ASSERT(mkdir(p, 0777) == 0 || errno == EEXIST);
    for (i = 0; i < n; i++) {
        test_pathf(p, sizeof p, "%s/samples/s_%03d.wav", d, i);
        ASSERT_EQ_INT(tg_write_simple(p, WAV16, 44100, 1, 3000 + 500 * i, 7u + (unsigned)i), 0);
    }
    if (noise) {
        test_pathf(p, sizeof p, "%s/samples/noise.wav", d);
        write_noise_wav(p, noise, 42);
    }
    test_pathf(p, sizeof p, "%s/copy", d);
    ASSERT(mkdir(p, 0777) == 0 || errno == EEXIST);
    for (i = 0; i < 2; i++) {
        test_pathf(p, sizeof p, "%s/copy/c_%d.wav", d, i);
        ASSERT_EQ_INT(tg_write_simple(p, WAV16, 48000, 2, 4000, 100u + (unsigned)i), 0);
    }
    test_pathf(p, sizeof p, "%s/lib", d);
    lib = open_lib(p);
    test_pathf(p, sizeof p, "%s/samples", d);
    import_path(lib, p, 0);
    test_pathf(p, sizeof p, "%s/copy", d);
    import_path(lib, p, SHELF_IMPORT_COPY);
    ASSERT_OKL(lib, shelf_tag_add(lib, 1, "kick"));
    ASSERT_OKL(lib, shelf_doc_create(lib, SHELF_DOC_PATCH,
        "{\"shelf_patch\":1,\"name\":\"Lead\",\"zones\":{\"z1\":{\"sample\":{\"id\":1}}}}", NULL, &pid));
    return lib;
}

static shelf_repo_opts repo_opts(const char *password, const char *cache)
{
    shelf_repo_opts o;

    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.password = password;
    o.kdf_log2n = 10;
    o.cache_dir = cache;
    return o;
}

static shelf_repo *open_repo(const char *target, const char *cache)
{
    shelf_repo_opts o = repo_opts(PW, cache);
    shelf_repo *r = NULL;
    char *msg = NULL;
    int rc = shelf_repo_open(target, &o, &r, &msg);

    ASSERT_OKM(msg ? msg : "", rc);
    return r;
}

static void init_repo(const char *target)
{
    shelf_repo_opts o = repo_opts(PW, NULL);
    char *msg = NULL;
    int rc = shelf_repo_init(target, &o, &msg);

    ASSERT_OKM(msg ? msg : "", rc);
}

static void backup(shelf_repo *r, shelf_library *lib, int strategy, shelf_backup_stats *st)
{
    shelf_backup_opts o;

    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.strategy = strategy;
    ASSERT_OKM(shelf_repo_errmsg(r), shelf_backup_run(r, lib, &o, st));
}

/* Restore snap into folder to and verify the result: every file and blob
 * re-hashed against the restored catalog. */
static void restore_and_verify(shelf_repo *r, const char *snap, const char *to, int64_t want_samples)
{
    shelf_restore_opts o;
    shelf_restore_stats st = { .size = sizeof st };
    shelf_verify_stats vs = { .size = sizeof vs };
    shelf_library *lib;
    int64_t total = 0;

    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.to = to;
    ASSERT_OKM(shelf_repo_errmsg(r), shelf_restore(r, NULL, snap, &o, &st));
    ASSERT_EQ_INT(st.failed, 0);
    ASSERT(st.created > 3);
    lib = open_lib(to);
    ASSERT_OKL(lib, shelf_verify(lib, NULL, NULL, NULL, &vs));
    ASSERT_EQ_INT(vs.missing + vs.changed + vs.corrupt, 0);
    ASSERT(vs.ok >= 3);
    ASSERT_OKL(lib, shelf_catalog_count(lib, &total, NULL));
    ASSERT_EQ_INT(total, want_samples);
    shelf_library_close(lib);
}

/* ---- tests ---- */

/* Flip a byte of a file (a negative offset counts from its end): it
 * always changes, which writing a fixed byte does not. */
static void flip_byte(const char *path, long off)
{
    FILE *f = fopen(path, "r+b");
    int c;

    ASSERT(f);
    if (off < 0) {
        fseek(f, 0, SEEK_END);
        off += ftell(f);
    }
    fseek(f, off, SEEK_SET);
    c = fgetc(f);
    fseek(f, off, SEEK_SET);
    fputc(c ^ 0x20, f);
    ASSERT_EQ_INT(fclose(f), 0);
}

TEST(chunker_bounds_and_shift)
{
    size_t n = 24u << 20, pos, k, shared = 0, total = 0;
    uint8_t *buf = malloc(n + 100), key[32];
    uint64_t gear[256], seed = 12345, hashes[64];
    size_t nh = 0;

    ASSERT(buf);
    memset(key, 7, sizeof key);
    shelf__gear_init(gear, key);
    for (pos = 0; pos < n + 100; pos += 8) {
        uint64_t v = rnd(&seed);
        memcpy(buf + pos, &v, n + 100 - pos < 8 ? n + 100 - pos : 8);
    }
    for (pos = 100; pos < n + 100;) {
        size_t cut = shelf__chunk_cut(gear, buf + pos, n + 100 - pos);
        uint8_t h[32];

        ASSERT(cut > 0);
        if (pos + cut < n + 100) {
            ASSERT(cut >= SHELF__CHUNK_MIN);
            ASSERT(cut <= SHELF__CHUNK_MAX);
        }
        shelf__sha256_mem(buf + pos, cut, h);
        memcpy(&hashes[nh < 64 ? nh : 63], h, 8);
        nh++;
        pos += cut;
    }
    ASSERT(nh >= 8 && nh < 64);   /* about 1 MiB on average */
    /* 100 more bytes in front: the boundaries come back in step. */
    for (pos = 0; pos < n + 100;) {
        size_t cut = shelf__chunk_cut(gear, buf + pos, n + 100 - pos);
        uint8_t h[32];
        uint64_t v;

        shelf__sha256_mem(buf + pos, cut, h);
        memcpy(&v, h, 8);
        for (k = 0; k < nh && k < 64; k++)
            if (hashes[k] == v) {
                shared++;
                break;
            }
        total++;
        pos += cut;
    }
    ASSERT(shared + 2 >= total);
    /* small input: one chunk */
    ASSERT_EQ_INT(shelf__chunk_cut(gear, buf, 1000), 1000);
    free(buf);
}

TEST(seal_and_tamper)
{
    uint8_t key[32], other[32];
    shelf__buf a = SHELF__BUF_INIT, b = SHELF__BUF_INIT;

    memset(key, 1, sizeof key);
    memset(other, 2, sizeof other);
    ASSERT_OK(shelf__aead_seal(key, "secret data", 11, &a));
    ASSERT_EQ_INT(a.len, 11 + SHELF__SEAL_OVERHEAD);
    ASSERT(!memmem(a.buf, a.len, "secret", 6));
    ASSERT_OK(shelf__aead_open(key, a.buf, a.len, &b));
    ASSERT_EQ_INT(b.len, 11);
    ASSERT(!memcmp(b.buf, "secret data", 11));
    ASSERT_RC(SHELF_ECORRUPT, shelf__aead_open(other, a.buf, a.len, &b));
    a.buf[15] ^= 4;
    ASSERT_RC(SHELF_ECORRUPT, shelf__aead_open(key, a.buf, a.len, &b));
    ASSERT_RC(SHELF_ECORRUPT, shelf__aead_open(key, a.buf, 5, &b));
    shelf__buf_release(&a);
    shelf__buf_release(&b);
}

static int count_key(void *ud, const shelf_keyinfo *k)
{
    (*(int *)ud)++;
    ASSERT_EQ_INT(strlen(k->id), 16);
    ASSERT_EQ_INT(k->log2n, 10);
    return 0;
}

TEST(keys_and_passwords)
{
    const char *d = test_tmpdir();
    char target[4096], id[17], *msg = NULL;
    shelf_repo_opts o = repo_opts(PW, NULL);
    shelf_repo *r = NULL;
    int n = 0;

    test_pathf(target, sizeof target, "%s/repo", d);
    ASSERT_RC(SHELF_ENOTFOUND, shelf_repo_open(target, &o, &r, &msg));
    shelf_free(msg);
    o.password = NULL;
    ASSERT_RC(SHELF_EAUTH, shelf_repo_init(target, &o, NULL));
    init_repo(target);
    ASSERT_RC(SHELF_EEXIST, shelf_repo_init(target, &o, NULL));
    o.password = "wrong";
    ASSERT_RC(SHELF_EAUTH, shelf_repo_open(target, &o, &r, &msg));
    ASSERT(r == NULL);
    ASSERT_EQ_STR(msg, "wrong password");
    shelf_free(msg);
    o.password = NULL;
    ASSERT_RC(SHELF_EAUTH, shelf_repo_open(target, &o, &r, NULL));
    r = open_repo(target, NULL);
    ASSERT(shelf_repo_encrypted(r));
    ASSERT_EQ_INT(strlen(shelf_repo_id(r)), 32);
    ASSERT_OK(shelf_repo_key_add(r, "second", 10, id));
    ASSERT_OK(shelf_repo_key_list(r, count_key, &n));
    ASSERT_EQ_INT(n, 2);
    shelf_repo_close(r);
    o.password = "second";
    ASSERT_OK(shelf_repo_open(target, &o, &r, NULL));
    ASSERT_RC(SHELF_EINUSE, shelf_repo_key_remove(r, id));
    shelf_repo_close(r);
    r = open_repo(target, NULL);
    ASSERT_OK(shelf_repo_key_remove(r, id));
    ASSERT_RC(SHELF_EINUSE, shelf_repo_key_remove(r, r->key_id));
    shelf_repo_close(r);
    o.password = "second";
    ASSERT_RC(SHELF_EAUTH, shelf_repo_open(target, &o, &r, NULL));
    /* plain repositories need no password */
    test_pathf(target, sizeof target, "%s/plain", d);
    o.password = NULL;
    o.flags = SHELF_REPO_NO_ENCRYPTION;
    ASSERT_OK(shelf_repo_init(target, &o, NULL));
    ASSERT_OK(shelf_repo_open(target, &o, &r, NULL));
    ASSERT(!shelf_repo_encrypted(r));
    ASSERT_RC(SHELF_EINVAL, shelf_repo_key_add(r, "x", 10, NULL));
    shelf_repo_close(r);
}

typedef struct snaps {
    char id[8][65];
    char deps[8][600];
    int strategy[8];
    int n;
} snaps;

static int collect_snap(void *ud, const shelf_snapinfo *s)
{
    snaps *l = ud;

    if (l->n < 8) {
        snprintf(l->id[l->n], 65, "%s", s->id);
        snprintf(l->deps[l->n], 600, "%s", s->depends);
        l->strategy[l->n] = s->strategy;
        l->n++;
    }
    return 0;
}

TEST(round_trip_to_folder)
{
    const char *d = test_tmpdir();
    char target[4096], to[4096], cache[4096], snap[65];
    shelf_library *lib = make_library(d, 6, 3u << 20);
    shelf_backup_stats st = { .size = sizeof st }, st2 = { .size = sizeof st2 };
    shelf_restore_opts o;
    shelf_restore_stats rs = { .size = sizeof rs };
    shelf_repo *r;
    struct stat sb;

    test_pathf(target, sizeof target, "%s/repo", d);
    test_pathf(cache, sizeof cache, "%s/lib/cache", d);
    init_repo(target);
    r = open_repo(target, cache);
    backup(r, lib, SHELF_BACKUP_INCREMENTAL, &st);
    ASSERT_EQ_INT(strlen(st.snapshot), 64);
    ASSERT(st.items >= 10);       /* catalog, config, 2 blobs, 7 samples */
    ASSERT(st.chunks > st.items);  /* the noise file is several chunks */
    ASSERT(st.bytes_stored > (3u << 20));
    /* nothing changed: nothing but the catalog copy is read again */
    backup(r, lib, SHELF_BACKUP_INCREMENTAL, &st2);
    ASSERT_EQ_INT(st2.items, st.items);
    ASSERT_EQ_INT(st2.items_read, 2);      /* the catalog copy and the config */
    ASSERT(st2.bytes_read < (2u << 20));
    ASSERT(st2.bytes_new < 200000);
    ASSERT_OK(shelf_snapshot_resolve(r, "latest", snap));
    ASSERT_EQ_STR(snap, st2.snapshot);
    {
        /* a file edited in place (no re-import) is read again */
        char p[4096];
        struct timespec ts[2] = { { 0, UTIME_OMIT }, { 1, 0 } };

        test_pathf(p, sizeof p, "%s/samples/s_002.wav", d);
        ASSERT_EQ_INT(utimensat(AT_FDCWD, p, ts, 0), 0);
        backup(r, lib, SHELF_BACKUP_INCREMENTAL, &st2);
        ASSERT_EQ_INT(st2.items_read, 3);
    }
    /* preview writes nothing */
    test_pathf(to, sizeof to, "%s/restored", d);
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.to = to;
    o.preview = 1;
    ASSERT_OK(shelf_restore(r, NULL, st.snapshot, &o, &rs));
    ASSERT_EQ_INT(rs.created, st.items);
    ASSERT(rs.bytes == st.bytes);
    ASSERT(stat(to, &sb) != 0);
    restore_and_verify(r, st.snapshot, to, 9);
    /* a second restore into the same folder is refused */
    o.preview = 0;
    ASSERT_RC(SHELF_EEXIST, shelf_restore(r, NULL, st.snapshot, &o, &rs));
    shelf_repo_close(r);
    shelf_library_close(lib);
}

TEST(strategies_and_dependencies)
{
    const char *d = test_tmpdir();
    char target[4096], cache[4096], p[4096], to[4096];
    shelf_library *lib = make_library(d, 4, 0);
    shelf_backup_stats f = { .size = sizeof f }, i1 = { .size = sizeof i1 }, d1 = { .size = sizeof d1 }, f2 = { .size = sizeof f2 };
    shelf_forget_opts fo;
    shelf_prune_stats ps = { .size = sizeof ps };
    shelf_check_stats cs = { .size = sizeof cs };
    shelf_repo *r;
    snaps l;

    test_pathf(target, sizeof target, "%s/repo", d);
    test_pathf(cache, sizeof cache, "%s/lib/cache", d);
    init_repo(target);
    r = open_repo(target, cache);
    backup(r, lib, SHELF_BACKUP_FULL, &f);
    /* change a sample, incremental */
    test_pathf(p, sizeof p, "%s/samples/s_001.wav", d);
    ASSERT_EQ_INT(tg_write_simple(p, WAV16, 44100, 1, 9000, 999), 0);
    test_pathf(p, sizeof p, "%s/samples", d);
    import_path(lib, p, 0);
    backup(r, lib, SHELF_BACKUP_INCREMENTAL, &i1);
    ASSERT(i1.bytes_new < f.bytes_new);
    /* differential: what changed since the full, stored again */
    backup(r, lib, SHELF_BACKUP_DIFFERENTIAL, &d1);
    ASSERT(d1.chunks_new >= 2);     /* the changed sample and the catalog */
    /* a second full stores everything again */
    backup(r, lib, SHELF_BACKUP_FULL, &f2);
    ASSERT_EQ_INT(f2.chunks_new, f2.chunks - (f2.chunks - f2.chunks_new));
    ASSERT(f2.bytes_new >= f.bytes_new / 2);
    memset(&l, 0, sizeof l);
    ASSERT_OK(shelf_snapshot_list(r, collect_snap, &l));
    ASSERT_EQ_INT(l.n, 4);
    ASSERT_EQ_INT(l.strategy[0], SHELF_BACKUP_FULL);
    ASSERT_EQ_INT(l.strategy[2], SHELF_BACKUP_DIFFERENTIAL);
    /* full: only itself */
    ASSERT_EQ_STR(l.deps[0], l.id[0]);
    ASSERT_EQ_STR(l.deps[3], l.id[3]);
    /* incremental: the full and itself */
    ASSERT(strstr(l.deps[1], l.id[0]) && strstr(l.deps[1], l.id[1]));
    /* differential: its full and itself, never the incremental */
    ASSERT(strstr(l.deps[2], l.id[0]) && strstr(l.deps[2], l.id[2]));
    ASSERT(!strstr(l.deps[2], l.id[1]));
    /* forget all but the differential and its full, prune, restore it */
    ASSERT_OK(shelf_snapshot_forget_one(r, l.id[1]));
    ASSERT_OK(shelf_snapshot_forget_one(r, l.id[3]));
    ASSERT_OK(shelf_repo_prune(r, 0, &ps));
    ASSERT(ps.packs_removed + ps.packs_rewritten >= 1);
    ASSERT_OKM(shelf_repo_errmsg(r), shelf_repo_check(r, 100, NULL, NULL, &cs));
    test_pathf(to, sizeof to, "%s/restored", d);
    restore_and_verify(r, l.id[2], to, 6);
    /* forget by policy keeps the newest */
    memset(&fo, 0, sizeof fo);
    fo.size = sizeof fo;
    ASSERT_RC(SHELF_EINVAL, shelf_repo_forget(r, &fo, NULL, NULL));
    fo.keep_last = 1;
    ASSERT_OK(shelf_repo_forget(r, &fo, NULL, NULL));
    ASSERT_OK(shelf_repo_prune(r, 0, &ps));
    ASSERT_OKM(shelf_repo_errmsg(r), shelf_repo_check(r, 100, NULL, NULL, &cs));
    ASSERT_EQ_INT(cs.snapshots, 2);     /* the differential keeps its full */
    memset(&l, 0, sizeof l);
    ASSERT_OK(shelf_snapshot_list(r, collect_snap, &l));
    ASSERT_EQ_INT(l.n, 2);
    ASSERT_EQ_STR(l.id[1], d1.snapshot);
    ASSERT(!strstr(l.deps[1], "run:"));
    test_pathf(to, sizeof to, "%s/restored2", d);
    restore_and_verify(r, "latest", to, 6);
    shelf_repo_close(r);
    shelf_library_close(lib);
}

/* Every file under dir, for the bit flips. */
static char flist[256][4096];
static int nflist;

static int add_file(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    if (flag == FTW_F && nflist < 256)
        snprintf(flist[nflist++], 4096, "%s", path);
    return 0;
}

static void on_problem(void *ud, const char *file, const char *problem, const char *snapshot,
                       const char *item)
{
    (void)file;
    (void)problem;
    (void)snapshot;
    if (item)
        (*(int *)ud)++;
}

TEST(bit_flip_in_every_file_is_found)
{
    const char *d = test_tmpdir();
    char target[4096];
    shelf_library *lib = make_library(d, 3, 0);
    shelf_backup_stats st = { .size = sizeof st };
    shelf_repo *r;
    int i;

    test_pathf(target, sizeof target, "%s/repo", d);
    init_repo(target);
    r = open_repo(target, NULL);
    backup(r, lib, SHELF_BACKUP_INCREMENTAL, &st);
    ASSERT_OK(shelf_repo_check(r, 100, NULL, NULL, NULL));
    shelf_repo_close(r);
    nflist = 0;
    nftw(target, add_file, 16, FTW_PHYS);
    ASSERT(nflist >= 5);    /* config, key, pack, index, snapshot */
    for (i = 0; i < nflist; i++) {
        shelf_repo_opts o = repo_opts(PW, NULL);
        struct stat sb;
        uint8_t *data;
        FILE *f;
        size_t pos;
        int rc, found = 0;

        ASSERT_EQ_INT(stat(flist[i], &sb), 0);
        data = malloc((size_t)sb.st_size);
        f = fopen(flist[i], "r+b");
        ASSERT(f && data);
        ASSERT_EQ_INT(fread(data, 1, (size_t)sb.st_size, f), sb.st_size);
        pos = (size_t)sb.st_size / 2 + (size_t)i % 7;
        if (pos >= (size_t)sb.st_size)
            pos = 0;
        data[pos] ^= (uint8_t)(1u << (i % 8));
        rewind(f);
        fwrite(data, 1, (size_t)sb.st_size, f);
        ASSERT_EQ_INT(fclose(f), 0);
        rc = shelf_repo_open(target, &o, &r, NULL);
        if (rc == SHELF_OK) {
            rc = shelf_repo_check(r, 100, on_problem, &found, NULL);
            shelf_repo_close(r);
        }
        if (rc == SHELF_OK)
            test__fail(__FILE__, __LINE__, "a flipped bit in '%s' was not found", flist[i]);
        data[pos] ^= (uint8_t)(1u << (i % 8));
        f = fopen(flist[i], "wb");
        fwrite(data, 1, (size_t)sb.st_size, f);
        ASSERT_EQ_INT(fclose(f), 0);
        free(data);
    }
    r = open_repo(target, NULL);
    ASSERT_OK(shelf_repo_check(r, 100, NULL, NULL, NULL));
    shelf_repo_close(r);
    shelf_library_close(lib);
}

TEST(damaged_pack_names_items_and_others_restore)
{
    const char *d = test_tmpdir();
    char target[4096], to[4096], p[4096];
    shelf_library *lib = make_library(d, 3, 20u << 20);
    shelf_backup_stats st = { .size = sizeof st };
    shelf_restore_opts o;
    shelf_restore_stats rs = { .size = sizeof rs };
    shelf_repo *r;
    int i, named = 0, biggest = -1;
    off_t bsize = 0;
    struct stat sb;

    test_pathf(target, sizeof target, "%s/repo", d);
    init_repo(target);
    r = open_repo(target, NULL);
    backup(r, lib, SHELF_BACKUP_INCREMENTAL, &st);
    ASSERT(st.packs >= 2);
    shelf_repo_close(r);
    /* damage the biggest pack: it holds only noise */
    nflist = 0;
    test_pathf(p, sizeof p, "%s/data", target);
    nftw(p, add_file, 16, FTW_PHYS);
    for (i = 0; i < nflist; i++)
        if (stat(flist[i], &sb) == 0 && sb.st_size > bsize) {
            bsize = sb.st_size;
            biggest = i;
        }
    ASSERT(biggest >= 0);
    flip_byte(flist[biggest], (long)(bsize / 2));
    r = open_repo(target, NULL);
    ASSERT_RC(SHELF_ECORRUPT, shelf_repo_check(r, 100, on_problem, &named, NULL));
    ASSERT(named >= 1);
    test_pathf(to, sizeof to, "%s/restored", d);
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.to = to;
    ASSERT(shelf_restore(r, NULL, "latest", &o, &rs) != SHELF_OK);
    ASSERT(rs.failed >= 1);
    ASSERT(rs.created >= 5);
    test_pathf(p, sizeof p, "%s/shelf.db", to);
    ASSERT_EQ_INT(access(p, F_OK), 0);
    shelf_repo_close(r);
    shelf_library_close(lib);
}

TEST(damaged_index_then_repair)
{
    const char *d = test_tmpdir();
    char target[4096], p[4096], to[4096], cache[4096];
    shelf_library *lib = make_library(d, 3, 0);
    shelf_backup_stats st = { .size = sizeof st };
    uint64_t added = 0, removed = 0;
    shelf_repo *r;
    int named = 0;

    test_pathf(target, sizeof target, "%s/repo", d);
    /* a cache that read the index before it was damaged */
    test_pathf(cache, sizeof cache, "%s/lib/cache", d);
    init_repo(target);
    r = open_repo(target, cache);
    backup(r, lib, SHELF_BACKUP_INCREMENTAL, &st);
    shelf_repo_close(r);
    nflist = 0;
    test_pathf(p, sizeof p, "%s/index", target);
    nftw(p, add_file, 16, FTW_PHYS);
    ASSERT_EQ_INT(nflist, 1);
    flip_byte(flist[0], 40);
    /* it still opens; check names the file */
    r = open_repo(target, cache);
    ASSERT_RC(SHELF_ECORRUPT, shelf_repo_check(r, 0, on_problem, &named, NULL));
    ASSERT_EQ_INT(named, 0);    /* the cache still knows what the file listed */
    ASSERT_OKM(shelf_repo_errmsg(r), shelf_repo_repair_index(r, &added, &removed));
    ASSERT(added >= 1);
    ASSERT_EQ_INT(removed, 1);
    ASSERT_OKM(shelf_repo_errmsg(r), shelf_repo_check(r, 100, NULL, NULL, NULL));
    shelf_repo_close(r);
    r = open_repo(target, cache);
    ASSERT_OKM(shelf_repo_errmsg(r), shelf_repo_check(r, 100, NULL, NULL, NULL));
    test_pathf(to, sizeof to, "%s/restored", d);
    restore_and_verify(r, "latest", to, 5);
    shelf_repo_close(r);
    shelf_library_close(lib);
}

/* The seed of a test's random delays: SHELF_TEST_SEED replays a run, else
 * the time; printed so a failure can be replayed. */
static unsigned test_seed(void)
{
    const char *env = getenv("SHELF_TEST_SEED");
    unsigned seed = env && *env ? (unsigned)strtoul(env, NULL, 10) : (unsigned)time(NULL);

    printf("seed %u (replay with SHELF_TEST_SEED=%u)\n", seed, seed);
    srand(seed);
    return seed;
}

/* Wait for pid, killed by SIGKILL: anything else (it ended by itself,
 * another signal) fails the test, naming the round and the seed. */
static void expect_killed(pid_t pid, int round, unsigned seed)
{
    int status;

    ASSERT_EQ_INT(waitpid(pid, &status, 0), pid);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
        test__fail(__FILE__, __LINE__, "round %d (seed %u): the child was not killed by SIGKILL "
                   "(%s %d)", round, seed, WIFSIGNALED(status) ? "signal" : "exit status",
                   WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
}

/* A backup (or prune) of the repository in a child, killed -9 after
 * delay_us; the child never ends by itself, so the kill always lands. */
static void run_killed(const char *target, const char *cache, const char *libdir, int prune,
                       long delay_us, int round, unsigned seed)
{
    pid_t pid = fork();

    ASSERT(pid >= 0);
    if (pid == 0) {
        shelf_repo_opts o = repo_opts(PW, cache);
        shelf_library *lib = NULL;
        shelf_repo *r = NULL;
        shelf_backup_opts bo;

        if (shelf_repo_open(target, &o, &r, NULL) != SHELF_OK)
            _exit(3);
        if (prune) {
            shelf_repo_prune(r, 0, NULL);
        } else {
            if (shelf_library_open(libdir, 0, &lib, NULL) != SHELF_OK)
                _exit(4);
            memset(&bo, 0, sizeof bo);
            bo.size = sizeof bo;
            bo.strategy = SHELF_BACKUP_FULL;
            shelf_backup_run(r, lib, &bo, NULL);
        }
        pause();    /* never ends by itself: the kill ends it */
        _exit(0);
    }
    usleep((useconds_t)delay_us);
    kill(pid, SIGKILL);
    expect_killed(pid, round, seed);
}

TEST(kill_during_backup_and_prune)
{
    const char *d = test_tmpdir();
    char target[4096], cache[4096], libdir[4096];
    shelf_library *lib = make_library(d, 3, 40u << 20);
    shelf_backup_stats st = { .size = sizeof st };
    shelf_forget_opts fo;
    shelf_repo *r;
    unsigned seed;
    int round;

    test_pathf(target, sizeof target, "%s/repo", d);
    test_pathf(cache, sizeof cache, "%s/lib/cache", d);
    test_pathf(libdir, sizeof libdir, "%s/lib", d);
    init_repo(target);
    seed = test_seed();
    for (round = 0; round < 3; round++) {
        run_killed(target, cache, libdir, 0, 20000 + (long)(rand() % 300000), round, seed);
        r = open_repo(target, cache);
        ASSERT_OKM(shelf_repo_errmsg(r), shelf_repo_check(r, 0, NULL, NULL, NULL));
        backup(r, lib, SHELF_BACKUP_INCREMENTAL, &st);
        ASSERT_OKM(shelf_repo_errmsg(r), shelf_repo_check(r, 0, NULL, NULL, NULL));
        memset(&fo, 0, sizeof fo);
        fo.size = sizeof fo;
        fo.keep_last = 1;
        ASSERT_OK(shelf_repo_forget(r, &fo, NULL, NULL));
        shelf_repo_close(r);
        run_killed(target, cache, libdir, 1, 5000 + (long)(rand() % 200000), round, seed);
        r = open_repo(target, cache);
        ASSERT_OKM(shelf_repo_errmsg(r), shelf_repo_check(r, 100, NULL, NULL, NULL));
        shelf_repo_close(r);
    }
    r = open_repo(target, cache);
    ASSERT_OKM(shelf_repo_errmsg(r), shelf_repo_prune(r, 0, NULL));
    ASSERT_OKM(shelf_repo_errmsg(r), shelf_repo_check(r, 100, NULL, NULL, NULL));
    test_pathf(libdir, sizeof libdir, "%s/restored", d);
    restore_and_verify(r, "latest", libdir, 6);
    shelf_repo_close(r);
    shelf_library_close(lib);
}

TEST(target_full_then_resume)
{
    const char *d = test_tmpdir();
    char target[4096], cache[4096];
    shelf_library *lib = make_library(d, 3, 40u << 20);
    shelf_repo_opts o = repo_opts(PW, NULL);
    shelf__backend *dir, *be;
    shelf__err err = { 0, "" };
    shelf_backup_stats st = { .size = sizeof st };
    shelf_backup_opts bo;
    shelf__be_fault_cfg f;
    shelf_repo *r;

    test_pathf(target, sizeof target, "%s/repo", d);
    test_pathf(cache, sizeof cache, "%s/lib/cache", d);
    o.cache_dir = cache;
    init_repo(target);
    ASSERT_OK(shelf__be_dir_open(target, 0, &dir, &err));
    memset(&f, 0, sizeof f);
    f.space = 20u << 20;
    ASSERT_OK(shelf__be_fault_new(dir, &f, &be));
    ASSERT_OK(shelf__repo_open_be(be, &o, &r, NULL));
    memset(&bo, 0, sizeof bo);
    bo.size = sizeof bo;
    ASSERT_RC(SHELF_EIO, shelf_backup_run(r, lib, &bo, &st));
    ASSERT(strstr(shelf_repo_errmsg(r), "no space left on device"));
    shelf_repo_close(r);
    /* room again: check passes, and the next run stores only the rest */
    r = open_repo(target, cache);
    ASSERT_OKM(shelf_repo_errmsg(r), shelf_repo_check(r, 100, NULL, NULL, NULL));
    backup(r, lib, SHELF_BACKUP_INCREMENTAL, &st);
    ASSERT(st.bytes_new < st.bytes - (16u << 20));
    ASSERT_OKM(shelf_repo_errmsg(r), shelf_repo_check(r, 100, NULL, NULL, NULL));
    shelf_repo_close(r);
    shelf_library_close(lib);
}

TEST(target_removed_or_readonly_mid_backup)
{
    const char *d = test_tmpdir();
    char target[4096], cache[4096];
    shelf_library *lib = make_library(d, 3, 40u << 20);
    shelf_repo_opts o = repo_opts(PW, NULL);
    shelf_backup_stats st = { .size = sizeof st };
    shelf_backup_opts bo;
    int k;

    test_pathf(target, sizeof target, "%s/repo", d);
    test_pathf(cache, sizeof cache, "%s/lib/cache", d);
    o.cache_dir = cache;
    init_repo(target);
    memset(&bo, 0, sizeof bo);
    bo.size = sizeof bo;
    for (k = 0; k < 2; k++) {
        shelf__backend *dir, *be;
        shelf__err err = { 0, "" };
        shelf__be_fault_cfg f;
        shelf_repo *r;

        ASSERT_OK(shelf__be_dir_open(target, 0, &dir, &err));
        memset(&f, 0, sizeof f);
        f.ops = SHELF__FOP_SAVE;
        f.fail_at = 3;                          /* the lock, a pack, then ... */
        f.fail_rc = k == 0 ? SHELF_EIO : SHELF_EPERM;
        f.dead_after = k == 0;                  /* the stick is pulled */
        ASSERT_OK(shelf__be_fault_new(dir, &f, &be));
        ASSERT_OK(shelf__repo_open_be(be, &o, &r, NULL));
        ASSERT_RC(f.fail_rc, shelf_backup_run(r, lib, &bo, &st));
        ASSERT(strstr(shelf_repo_errmsg(r), "injected fault"));
        shelf_repo_close(r);
        /* back again: valid, and the next run completes */
        r = open_repo(target, cache);
        ASSERT_OKM(shelf_repo_errmsg(r), shelf_repo_check(r, 100, NULL, NULL, NULL));
        shelf_repo_close(r);
    }
    {
        shelf_repo *r = open_repo(target, cache);

        backup(r, lib, SHELF_BACKUP_INCREMENTAL, &st);
        ASSERT(st.bytes_new < st.bytes);        /* what arrived was kept */
        ASSERT_OKM(shelf_repo_errmsg(r), shelf_repo_check(r, 100, NULL, NULL, NULL));
        shelf_repo_close(r);
    }
    shelf_library_close(lib);
}

/* Option structs are checked one way (shelf__opts_check): a size below
 * the first version's is refused, a newer caller's unknown bytes must be
 * zero, an older caller's missing fields read as zero. */
TEST(options_size_checked)
{
    const char *d = test_tmpdir();
    char target[4096], to[4096];
    shelf_library *lib = make_library(d, 1, 1u << 20);
    struct { shelf_backup_opts o; char newer[8]; } big;
    shelf_backup_opts bo;
    shelf_restore_opts ro;
    shelf_backup_stats st = { .size = sizeof st };
    shelf_repo *r;

    test_pathf(target, sizeof target, "%s/repo", d);
    test_pathf(to, sizeof to, "%s/restored", d);
    init_repo(target);
    r = open_repo(target, NULL);
    memset(&bo, 0, sizeof bo);
    bo.size = offsetof(shelf_backup_opts, strategy);
    ASSERT_RC(SHELF_EINVAL, shelf_backup_run(r, lib, &bo, NULL));
    ASSERT(strstr(shelf_repo_errmsg(r), "shelf_backup_opts"));
    memset(&big, 0, sizeof big);
    big.o.size = sizeof big;
    big.newer[3] = 1;
    ASSERT_RC(SHELF_EINVAL, shelf_backup_run(r, lib, &big.o, NULL));
    ASSERT(strstr(shelf_repo_errmsg(r), "does not know"));
    big.newer[3] = 0;
    ASSERT_OKM(shelf_repo_errmsg(r), shelf_backup_run(r, lib, &big.o, &st));
    /* the first version, without the unreadable callback: garbage past its size is not read */
    memset(&bo, 0xff, sizeof bo);
    memset(&bo, 0, offsetof(shelf_backup_opts, unreadable));
    bo.size = offsetof(shelf_backup_opts, unreadable);
    ASSERT_OKM(shelf_repo_errmsg(r), shelf_backup_run(r, lib, &bo, &st));
    memset(&ro, 0, sizeof ro);
    ro.size = sizeof ro - 1;
    ro.to = to;
    ASSERT_RC(SHELF_EINVAL, shelf_restore(r, NULL, st.snapshot, &ro, NULL));
    ASSERT(strstr(shelf_repo_errmsg(r), "shelf_restore_opts"));
    ASSERT(!test_exists(to));
    ro.size = sizeof ro;
    ASSERT_OKM(shelf_repo_errmsg(r), shelf_restore(r, NULL, st.snapshot, &ro, NULL));
    shelf_repo_close(r);
    shelf_library_close(lib);
}

static int repo_open_with(const char *target, const shelf_repo_opts *o)
{
    shelf_repo *r = NULL;
    char *msg = NULL;
    int rc = shelf_repo_open(target, o, &r, &msg);

    if (rc == SHELF_EINVAL)
        ASSERT(msg && strstr(msg, "invalid shelf_repo_opts") != NULL);
    shelf_free(msg);
    shelf_repo_close(r);
    return rc;
}

/* The size rule of shelf.h on repository and forget options (no older
 * versions; the backup and restore options are checked above). */
TEST(options_size_repo_forget)
{
    const char *d = test_tmpdir();
    char target[4096];
    shelf_library *lib = make_library(d, 1, 1u << 20);
    shelf_repo_opts o = repo_opts(PW, NULL);
    shelf_forget_opts fo;
    shelf_backup_stats st = { .size = sizeof st };
    shelf_repo *r;
    char *msg = NULL;

    test_pathf(target, sizeof target, "%s/repo", d);
    o.size = 1;
    ASSERT_RC(SHELF_EINVAL, shelf_repo_init(target, &o, &msg));
    ASSERT(msg && strstr(msg, "invalid shelf_repo_opts"));
    shelf_free(msg);
    ASSERT(!test_exists(target));
    init_repo(target);
    o = repo_opts(PW, NULL);
    TEST_OPTS_SIZE(shelf_repo_opts, o, offsetof(shelf_repo_opts, ca_file), SHELF_OK, repo_open_with(target, p_));
    r = open_repo(target, NULL);
    backup(r, lib, SHELF_BACKUP_FULL, &st);
    memset(&fo, 0, sizeof fo);
    fo.keep_last = 1;
    fo.dry_run = 1;
    TEST_OPTS_SIZE(shelf_forget_opts, fo, sizeof fo, SHELF_OK, shelf_repo_forget(r, p_, NULL, NULL));
    fo.size = sizeof fo - 1;
    ASSERT_RC(SHELF_EINVAL, shelf_repo_forget(r, &fo, NULL, NULL));
    ASSERT(strstr(shelf_repo_errmsg(r), "invalid shelf_forget_opts"));
    shelf_repo_close(r);
    shelf_library_close(lib);
}

/* A backup of a library without its config fails naming the file, rather
 * than storing a size from a failed stat. */
TEST(backup_without_config_names_it)
{
    const char *d = test_tmpdir();
    char target[4096], cfg[4096];
    shelf_library *lib = make_library(d, 1, 1u << 20);
    shelf_backup_opts bo;
    shelf_repo *r;

    test_pathf(target, sizeof target, "%s/repo", d);
    test_pathf(cfg, sizeof cfg, "%s/lib/config", d);
    init_repo(target);
    ASSERT_EQ_INT(unlink(cfg), 0);
    r = open_repo(target, NULL);
    memset(&bo, 0, sizeof bo);
    bo.size = sizeof bo;
    ASSERT(shelf_backup_run(r, lib, &bo, NULL) != SHELF_OK);
    ASSERT(strstr(shelf_repo_errmsg(r), "cannot read '"));
    ASSERT(strstr(shelf_repo_errmsg(r), "/config'"));
    shelf_repo_close(r);
    shelf_library_close(lib);
}

/* Write text to the file path (a /proc file): 0 or -1. */
static int put_proc(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC), ok;

    if (fd < 0)
        return -1;
    ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
    return close(fd) == 0 && ok ? 0 : -1;
}

/*
 * Give this test a mount namespace of its own, so a tmpfs it mounts is
 * seen by nobody else and goes away with it whatever ends it (a failed
 * assertion too).  Call it first, while the test's process (a forked child
 * of the runner) has one thread, as unshare needs: as root a new mount
 * namespace; otherwise, or where root may not (a container), a new user
 * namespace that maps this uid to root, with its own mount namespace.
 * Skips only when neither can be had.
 */
static void own_mount_namespace(void)
{
    uid_t uid = geteuid();
    gid_t gid = getegid();
    char map[64];
    const char *how = "a mount namespace";

    if (unshare(CLONE_NEWNS) != 0) {
        int e = errno;

        if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0)
            TEST_SKIP("cannot have a mount namespace of its own to mount a tmpfs (%s; in a user "
                      "namespace: %s)", strerror(e), strerror(errno));
        snprintf(map, sizeof map, "0 %u 1\n", (unsigned)uid);
        ASSERT_EQ_INT(put_proc("/proc/self/uid_map", map), 0);
        ASSERT_EQ_INT(put_proc("/proc/self/setgroups", "deny"), 0);
        snprintf(map, sizeof map, "0 %u 1\n", (unsigned)gid);
        ASSERT_EQ_INT(put_proc("/proc/self/gid_map", map), 0);
        how = "a user and mount namespace";
    }
    /* mounts made here must not propagate back to the host */
    ASSERT_EQ_INT(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
    printf("tmpfs in %s of its own\n", how);
}

/* Mount a tmpfs of options opts at mnt (in the test's own namespace) and
 * check that it is one: a test that says "full tmpfs" ran on one. */
static void mount_tmpfs(const char *mnt, const char *opts)
{
    struct statfs sf;

    if (mount("tmpfs", mnt, "tmpfs", MS_NOSUID | MS_NODEV, opts) != 0)
        test__fail(__FILE__, __LINE__, "cannot mount a tmpfs (%s) at '%s': %s", opts, mnt, strerror(errno));
    ASSERT_EQ_INT(statfs(mnt, &sf), 0);
    ASSERT(sf.f_type == 0x01021994);    /* TMPFS_MAGIC */
}

TEST(tmpfs_full)
{
    const char *d = test_tmpdir();
    char target[4096], mnt[4096], msg[1024] = "";
    shelf_library *lib;
    shelf_backup_opts bo;
    shelf_repo *r = NULL;
    int rc, check_rc = -1;

    own_mount_namespace();
    test_pathf(mnt, sizeof mnt, "%s/mnt", d);
    ASSERT_EQ_INT(mkdir(mnt, 0700), 0);
    mount_tmpfs(mnt, "size=6m");
    lib = make_library(d, 2, 12u << 20);
    test_pathf(target, sizeof target, "%s/repo", mnt);
    /* Asserted after the umount, so the test's folder can be removed. */
    {
        shelf_repo_opts o = repo_opts(PW, NULL);

        rc = shelf_repo_init(target, &o, NULL);
        if (rc == SHELF_OK)
            rc = shelf_repo_open(target, &o, &r, NULL);
        if (rc == SHELF_OK) {
            memset(&bo, 0, sizeof bo);
            bo.size = sizeof bo;
            rc = shelf_backup_run(r, lib, &bo, NULL);
            snprintf(msg, sizeof msg, "%s", shelf_repo_errmsg(r));
            shelf_repo_close(r);
            r = NULL;
            if (shelf_repo_open(target, &o, &r, NULL) == SHELF_OK) {
                check_rc = shelf_repo_check(r, 100, NULL, NULL, NULL);
                shelf_repo_close(r);
            }
        }
    }
    umount2(mnt, MNT_DETACH);
    ASSERT_RC(SHELF_EIO, rc);
    ASSERT(strstr(msg, "no space left on device"));
    ASSERT_OK(check_rc);
    shelf_library_close(lib);
}

typedef struct actions {
    int by_id[64];
    int conflict[64];           /* shelf_restore_item.conflict, by the same index */
    int asked, asked_no_flag;
} actions;

static void on_item(void *ud, const shelf_restore_item *it)
{
    actions *a = ud;

    if (it->kind == SHELF_ITEM_SAMPLE && it->id > 0 && it->id < 63) {
        a->by_id[it->id] = it->action;
        a->conflict[it->id] = it->conflict;
    }
    if (it->kind == SHELF_ITEM_PATCH) {
        a->by_id[63] = it->action;
        a->conflict[63] = it->conflict;
    }
}

static int ask_keep_both(void *ud, const shelf_restore_item *it)
{
    ((actions *)ud)->asked++;
    ((actions *)ud)->asked_no_flag += !it->conflict;
    return SHELF_CONFLICT_KEEP_BOTH | SHELF_RESTORE_ALL;
}

static int count_audit(void *ud, const shelf_audit_entry *e)
{
    if (!strcmp(e->action, "restore"))
        (*(int *)ud)++;
    return 0;
}

static void file_sha(const char *path, char hex[65])
{
    uint8_t sum[32], buf[8192];
    uint64_t size;
    int fd = open(path, O_RDONLY);

    ASSERT(fd >= 0);
    ASSERT_EQ_INT(shelf__sha256_fd(fd, buf, sizeof buf, sum, &size), 0);
    close(fd);
    shelf__hex(sum, 32, hex);
}

TEST(live_restore_with_conflicts)
{
    const char *d = test_tmpdir();
    char target[4096], cache[4096], p2[4096], p3[4096], kb[4096];
    char orig2[65], orig3[65], now[65], *doc = NULL, *doc2 = NULL;
    shelf_library *lib = make_library(d, 4, 0);
    char it2[32], it3[32];
    const char *items[] = { it2, it3, "patch:1" };
    int64_t id2 = 0, id3 = 0;
    shelf_backup_stats st = { .size = sizeof st };
    shelf_restore_opts o;
    shelf_restore_stats rs = { .size = sizeof rs };
    shelf_repo *r;
    actions a;
    int n = 0;
    int64_t seq;

    test_pathf(target, sizeof target, "%s/repo", d);
    test_pathf(cache, sizeof cache, "%s/lib/cache", d);
    test_pathf(p2, sizeof p2, "%s/samples/s_001.wav", d);
    test_pathf(p3, sizeof p3, "%s/samples/s_002.wav", d);
    file_sha(p2, orig2);
    file_sha(p3, orig3);
    ASSERT_OKL(lib, shelf_catalog_find_path(lib, p2, &id2));
    ASSERT_OKL(lib, shelf_catalog_find_path(lib, p3, &id3));
    ASSERT(id2 < 63 && id3 < 63);
    snprintf(it2, sizeof it2, "%lld", (long long)id2);
    snprintf(it3, sizeof it3, "sample:%lld", (long long)id3);
    init_repo(target);
    r = open_repo(target, cache);
    backup(r, lib, SHELF_BACKUP_INCREMENTAL, &st);
    ASSERT_OKL(lib, shelf_doc_get(lib, SHELF_DOC_PATCH, 1, 0, &doc));
    /* sample 2 changes (and is re-imported), sample 3 goes, the patch changes */
    ASSERT_EQ_INT(tg_write_simple(p2, WAV16, 44100, 1, 7000, 4242), 0);
    test_pathf(kb, sizeof kb, "%s/samples", d);
    import_path(lib, kb, 0);
    ASSERT_OKL(lib, shelf_catalog_remove(lib, id3, 0));
    ASSERT_EQ_INT(unlink(p3), 0);
    ASSERT_OKL(lib, shelf_doc_set(lib, SHELF_DOC_PATCH, 1, "name", "\"Changed\"", NULL, &seq));
    /* preview: a conflict skipped, a creation, nothing written */
    memset(&o, 0, sizeof o);
    memset(&a, 0, sizeof a);
    o.size = sizeof o;
    o.items = items;
    o.nitems = 3;
    o.preview = 1;
    o.on_item = on_item;
    o.ud = &a;
    ASSERT_OKM(shelf_repo_errmsg(r), shelf_restore(r, lib, "latest", &o, &rs));
    ASSERT_EQ_INT(a.by_id[id2], SHELF_RESTORE_SKIP);
    ASSERT_EQ_INT(a.by_id[id3], SHELF_RESTORE_CREATE);
    ASSERT_EQ_INT(a.by_id[63], SHELF_RESTORE_SKIP);
    /* the conflicts are flagged, not only worded ("conflict: ...") */
    ASSERT_EQ_INT(a.conflict[id2], 1);
    ASSERT_EQ_INT(a.conflict[id3], 0);
    ASSERT_EQ_INT(a.conflict[63], 1);
    ASSERT(access(p3, F_OK) != 0);
    /* keep both, through the ask callback */
    memset(&a, 0, sizeof a);
    o.preview = 0;
    o.on_conflict = SHELF_CONFLICT_ASK;
    o.ask = ask_keep_both;
    ASSERT_OKM(shelf_repo_errmsg(r), shelf_restore(r, lib, "latest", &o, &rs));
    ASSERT_EQ_INT(a.asked, 1);     /* "apply to all" answered the patch too */
    ASSERT_EQ_INT(a.asked_no_flag, 0);
    ASSERT_EQ_INT(a.by_id[id2], SHELF_RESTORE_KEEP_BOTH);
    ASSERT_EQ_INT(a.by_id[id3], SHELF_RESTORE_CREATE);
    ASSERT_EQ_INT(a.by_id[63], SHELF_RESTORE_KEEP_BOTH);
    file_sha(p3, now);
    ASSERT_EQ_STR(now, orig3);
    test_pathf(kb, sizeof kb, "%s/samples/s_001 (restored 1).wav", d);
    file_sha(kb, now);
    ASSERT_EQ_STR(now, orig2);
    file_sha(p2, now);
    ASSERT(strcmp(now, orig2) != 0);
    /* overwrite */
    memset(&a, 0, sizeof a);
    o.on_conflict = SHELF_CONFLICT_OVERWRITE;
    o.ask = NULL;
    ASSERT_OKM(shelf_repo_errmsg(r), shelf_restore(r, lib, "latest", &o, &rs));
    ASSERT_EQ_INT(a.by_id[id2], SHELF_RESTORE_OVERWRITE);
    ASSERT_EQ_INT(a.by_id[id3], SHELF_RESTORE_SAME);
    file_sha(p2, now);
    ASSERT_EQ_STR(now, orig2);
    ASSERT_OKL(lib, shelf_doc_get(lib, SHELF_DOC_PATCH, 1, 0, &doc2));
    ASSERT_EQ_STR(doc2, doc);
    ASSERT_OKL(lib, shelf_audit_list(lib, 0, count_audit, &n));
    ASSERT(n >= 5);
    /* a query selects samples of the snapshot */
    memset(&o, 0, sizeof o);
    memset(&a, 0, sizeof a);
    o.size = sizeof o;
    o.query = "tag:kick";
    o.preview = 1;
    o.on_item = on_item;
    o.ud = &a;
    ASSERT_OKM(shelf_repo_errmsg(r), shelf_restore(r, lib, "latest", &o, &rs));
    ASSERT_EQ_INT(a.by_id[1], SHELF_RESTORE_SAME);
    ASSERT_EQ_INT(rs.same, 1);
    shelf_free(doc);
    shelf_free(doc2);
    shelf_repo_close(r);
    shelf_library_close(lib);
}

TEST(locks_are_leases)
{
    const char *d = test_tmpdir();
    char target[4096], p[4096], host[256] = "";
    shelf_library *lib = make_library(d, 2, 0);
    shelf_backup_opts bo;
    shelf_repo *r;
    FILE *f;

    gethostname(host, sizeof host - 1);
    test_pathf(target, sizeof target, "%s/repo", d);
    init_repo(target);
    r = open_repo(target, NULL);
    test_pathf(p, sizeof p, "%s/locks", target);
    ASSERT(mkdir(p, 0777) == 0 || errno == EEXIST);
    /* a live exclusive lock of a running process (this one) blocks */
    test_pathf(p, sizeof p, "%s/locks/aaaa", target);
    f = fopen(p, "w");
    fprintf(f, "{\"exclusive\": true, \"expires\": %lld, \"host\": \"%s\", \"pid\": %d, \"time\": 1}",
            (long long)time(NULL) + 600, host, (int)getpid());
    ASSERT_EQ_INT(fclose(f), 0);
    memset(&bo, 0, sizeof bo);
    bo.size = sizeof bo;
    ASSERT_RC(SHELF_EBUSY, shelf_backup_run(r, lib, &bo, NULL));
    ASSERT(strstr(shelf_repo_errmsg(r), "in use"));
    /* expired: taken over */
    f = fopen(p, "w");
    fprintf(f, "{\"exclusive\": true, \"expires\": 5, \"host\": \"%s\", \"pid\": %d, \"time\": 1}",
            host, (int)getpid());
    ASSERT_EQ_INT(fclose(f), 0);
    ASSERT_OKM(shelf_repo_errmsg(r), shelf_backup_run(r, lib, &bo, NULL));
    ASSERT(access(p, F_OK) != 0);
    shelf_repo_close(r);
    shelf_library_close(lib);
}

/* ---- repositories that lie ---- */

static void init_plain_repo(const char *target)
{
    shelf_repo_opts o = repo_opts(NULL, NULL);
    char *msg = NULL;
    int rc;

    o.flags = SHELF_REPO_NO_ENCRYPTION;
    rc = shelf_repo_init(target, &o, &msg);
    ASSERT_OKM(msg ? msg : "", rc);
}

/*
 * What anyone who can write to a plain medium can do: store snapshot snap
 * again as the newest one with its tree items changed by mutate (tree
 * blob, pack, index and snapshot written like shelf does).  out: its id.
 */
static void forge_snapshot(shelf_repo *r, const char *snap, void (*mutate)(json_t *items), char out[65])
{
    json_t *s = NULL, *tree = NULL;
    char id[65], *text, *stext, name[80];
    uint8_t tid[SHELF_HASH_BYTES], h[SHELF_HASH_BYTES];
    shelf__buf sealed = SHELF__BUF_INIT;

    ASSERT_OK(shelf_snapshot_resolve(r, snap, id));
    ASSERT_OKM(shelf_repo_errmsg(r), shelf__snap_load(r, id, &s));
    ASSERT_OKM(shelf_repo_errmsg(r), shelf__tree_load(r, s, &tree));
    mutate(json_object_get(tree, "items"));
    text = json_dumps(tree, JSON_COMPACT);
    ASSERT(text);
    shelf__sha256_mem(text, strlen(text), tid);
    ASSERT_OK(shelf__random(r->run, sizeof r->run));
    ASSERT_OKM(shelf_repo_errmsg(r), shelf__pack_add(r, tid, SHELF__BLOB_TREE, text, strlen(text), 0, NULL));
    ASSERT_OKM(shelf_repo_errmsg(r), shelf__pack_flush(r));
    ASSERT_OKM(shelf_repo_errmsg(r), shelf__index_write(r));
    shelf__hex(tid, sizeof tid, id);
    ASSERT_EQ_INT(json_object_set_new(s, "tree", json_pack("[s]", id)), 0);
    json_object_del(s, "id");
    ASSERT_EQ_INT(json_object_set_new(s, "time", json_integer(json_integer_value(json_object_get(s, "time")) + 1)), 0);
    ASSERT_EQ_INT(json_object_set_new(s, "nanos",
                                      json_integer(json_integer_value(json_object_get(s, "nanos")) + 1000000000)), 0);
    stext = json_dumps(s, JSON_SORT_KEYS | JSON_COMPACT);
    ASSERT(stext);
    ASSERT_OK(shelf__seal(r, stext, strlen(stext), &sealed));
    shelf__sha256_mem(sealed.buf, sealed.len, h);
    shelf__hex(h, sizeof h, out);
    snprintf(name, sizeof name, "snapshots/%s", out);
    ASSERT_OK(shelf__be_save(r->be, name, sealed.buf, sealed.len));
    shelf__buf_release(&sealed);
    free(text);
    free(stext);
    json_decref(tree);
    json_decref(s);
}

static char forged_path[512];

static void set_first(json_t *items, const char *t)
{
    size_t i;
    json_t *it;

    json_array_foreach(items, i, it)
        if (!strcmp(json_string_value(json_object_get(it, "t")), t)) {
            ASSERT_EQ_INT(json_object_set_new(it, "path", json_string(forged_path)), 0);
            return;
        }
    ASSERT(!"no such item");
}

static void forge_sample(json_t *items) { set_first(items, "sample"); }
static void forge_object(json_t *items) { set_first(items, "object"); }
static void forge_catalog(json_t *items) { set_first(items, "catalog"); }

static void count_problem(void *ud, const char *file, const char *problem, const char *snapshot,
                          const char *item)
{
    (void)file;
    (void)item;
    if (snapshot && strstr(problem, "unsafe path"))
        (*(int *)ud)++;
}

TEST(forged_tree_cannot_write_outside_the_target)
{
    const char *d = test_tmpdir();
    char target[4096], to[4096], p[4096], forged[65], outside[4096];
    shelf_library *lib = make_library(d, 2, 0);
    shelf_restore_opts o;
    shelf_restore_stats rs = { .size = sizeof rs };
    shelf_repo *r;
    int k, named;
    static const struct { void (*fn)(json_t *); const char *fmt; } cases[] = {
        { forge_sample, "/../../../../../../../..%s/evil.wav" },
        { forge_sample, "/x/../..%s/evil.wav" },
        { forge_sample, "%s/evil.wav" },            /* fine on its own: under TO/files */
        { forge_object, "../../../../../../../..%s/evil" },
        { forge_object, "objects/../../../../../../..%s/evil" },
        { forge_catalog, "%s/evil" },
        { forge_catalog, "../../../../../../../..%s/evil" },
    };

    test_pathf(target, sizeof target, "%s/repo", d);
    test_pathf(outside, sizeof outside, "%s/outside", d);
    ASSERT_EQ_INT(mkdir(outside, 0777), 0);
    init_plain_repo(target);
    {
        shelf_repo_opts ro = repo_opts(NULL, NULL);
        char *msg = NULL;
        int rc = shelf_repo_open(target, &ro, &r, &msg);

        ASSERT_OKM(msg ? msg : "", rc);
    }
    backup(r, lib, SHELF_BACKUP_INCREMENTAL, NULL);
    for (k = 0; k < (int)(sizeof cases / sizeof *cases); k++) {
        snprintf(forged_path, sizeof forged_path, cases[k].fmt, outside);
        forge_snapshot(r, "latest", cases[k].fn, forged);
        test_pathf(to, sizeof to, "%s/to%d/deeper", d, k);
        memset(&o, 0, sizeof o);
        o.size = sizeof o;
        o.to = to;
        (void)shelf_restore(r, NULL, forged, &o, &rs);
        test_pathf(p, sizeof p, "%s/evil.wav", outside);
        if (access(p, F_OK) == 0)
            test__fail(__FILE__, __LINE__, "case %d: restore wrote '%s' outside '%s'", k, p, to);
        test_pathf(p, sizeof p, "%s/evil", outside);
        if (access(p, F_OK) == 0)
            test__fail(__FILE__, __LINE__, "case %d: restore wrote '%s' outside '%s'", k, p, to);
        if (k == 2) {
            /* a plain absolute sample path lands under TO/files */
            test_pathf(p, sizeof p, "%s/files%s/evil.wav", to, outside);
            ASSERT_EQ_INT(access(p, F_OK), 0);
            continue;
        }
        /* refused as damage, named by check */
        ASSERT(strstr(shelf_repo_errmsg(r), "unsafe path"));
        named = 0;
        ASSERT_RC(SHELF_ECORRUPT, shelf_repo_check(r, 0, count_problem, &named, NULL));
        ASSERT_EQ_INT(named, 1);
        ASSERT_OK(shelf_snapshot_forget_one(r, forged));
    }
    shelf_repo_close(r);
    shelf_library_close(lib);
}

TEST(restore_follows_no_symlinked_folder)
{
    const char *d = test_tmpdir();
    char target[4096], p[4096], sub[4096], outside[4096];
    shelf_library *lib = make_library(d, 1, 0);
    shelf_restore_opts o;
    shelf_restore_stats rs = { .size = sizeof rs };
    shelf_repo *r;

    test_pathf(sub, sizeof sub, "%s/samples/sub", d);
    ASSERT_EQ_INT(mkdir(sub, 0777), 0);
    test_pathf(p, sizeof p, "%s/y.wav", sub);
    ASSERT_EQ_INT(tg_write_simple(p, WAV16, 44100, 1, 5000, 99u), 0);
    import_path(lib, sub, 0);
    test_pathf(target, sizeof target, "%s/repo", d);
    init_repo(target);
    r = open_repo(target, NULL);
    backup(r, lib, SHELF_BACKUP_INCREMENTAL, NULL);
    /* the folder is lost, and a link to elsewhere takes its name */
    ASSERT_EQ_INT(unlink(p), 0);
    ASSERT_EQ_INT(rmdir(sub), 0);
    test_pathf(outside, sizeof outside, "%s/outside", d);
    ASSERT_EQ_INT(mkdir(outside, 0777), 0);
    ASSERT_EQ_INT(symlink(outside, sub), 0);
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.on_conflict = SHELF_CONFLICT_OVERWRITE;
    ASSERT(shelf_restore(r, lib, "latest", &o, &rs) != SHELF_OK);
    ASSERT(rs.failed >= 1);
    ASSERT(strstr(shelf_repo_errmsg(r), "symbolic link"));
    test_pathf(p, sizeof p, "%s/y.wav", outside);
    ASSERT(access(p, F_OK) != 0);
    /* a real folder again: restored */
    ASSERT_EQ_INT(unlink(sub), 0);
    memset(&rs, 0, sizeof rs);
    rs.size = sizeof rs;
    ASSERT_OKM(shelf_repo_errmsg(r), shelf_restore(r, lib, "latest", &o, &rs));
    test_pathf(p, sizeof p, "%s/y.wav", sub);
    ASSERT_EQ_INT(access(p, F_OK), 0);
    shelf_repo_close(r);
    shelf_library_close(lib);
}

static int count_files(const char *dir, const char *prefix)
{
    int n = 0, i;

    nflist = 0;
    nftw(dir, add_file, 16, FTW_PHYS);
    for (i = 0; i < nflist; i++) {
        const char *base = strrchr(flist[i], '/');

        if (!prefix || !strncmp(base ? base + 1 : flist[i], prefix, strlen(prefix)))
            n++;
    }
    return n;
}

TEST(unindexed_packs_counted_and_pruned_once)
{
    const char *d = test_tmpdir();
    char target[4096], cache[4096], p[4096], snap[65];
    shelf_library *lib = make_library(d, 3, 0);
    shelf_check_stats cs = { .size = sizeof cs };
    shelf_prune_stats ps = { .size = sizeof ps };
    shelf_repo *r;
    int npacks;

    test_pathf(target, sizeof target, "%s/repo", d);
    test_pathf(cache, sizeof cache, "%s/lib/cache", d);
    init_repo(target);
    r = open_repo(target, cache);
    backup(r, lib, SHELF_BACKUP_INCREMENTAL, NULL);
    ASSERT_OK(shelf_snapshot_resolve(r, "latest", snap));
    ASSERT_OK(shelf_snapshot_forget_one(r, snap));
    /* what a run killed before its index leaves: packs the cache remembers
     * (idx NULL) and no index file */
    ASSERT_EQ_INT(sqlite3_exec(r->cache, "UPDATE packs SET idx = NULL; DELETE FROM indexes", NULL, NULL, NULL),
                  SQLITE_OK);
    shelf_repo_close(r);
    test_pathf(p, sizeof p, "%s/index", target);
    ASSERT_EQ_INT(count_files(p, NULL), 1);
    ASSERT_EQ_INT(unlink(flist[0]), 0);
    test_pathf(p, sizeof p, "%s/data", target);
    npacks = count_files(p, NULL);
    ASSERT(npacks >= 1);
    r = open_repo(target, cache);
    ASSERT_OKM(shelf_repo_errmsg(r), shelf_repo_check(r, 0, NULL, NULL, &cs));
    ASSERT_EQ_INT(cs.unindexed, npacks);
    ASSERT_OKM(shelf_repo_errmsg(r), shelf_repo_prune(r, 0, &ps));
    ASSERT_EQ_INT(ps.packs_removed, npacks);
    ASSERT_EQ_INT(count_files(p, NULL), 0);
    ASSERT_OKM(shelf_repo_errmsg(r), shelf_repo_check(r, 0, NULL, NULL, &cs));
    ASSERT_EQ_INT(cs.unindexed, 0);
    ASSERT_EQ_INT(cs.packs, 0);
    shelf_repo_close(r);
    shelf_library_close(lib);
}

static pid_t dead_pid(void)
{
    pid_t pid = fork();

    ASSERT(pid >= 0);
    if (pid == 0)
        _exit(0);
    ASSERT_EQ_INT(waitpid(pid, NULL, 0), pid);
    return pid;
}

/* Leftovers a killed run would leave: a catalog copy and a restore folder
 * in the cache, a temp file in the repository. */
static void plant_leftovers(const char *cache, const char *target)
{
    char p[4096];
    pid_t pid = dead_pid();
    FILE *f;

    ASSERT(mkdir(cache, 0777) == 0 || errno == EEXIST);
    test_pathf(p, sizeof p, "%s/backup-catalog-%d.db", cache, (int)pid);
    f = fopen(p, "w");
    ASSERT(f);
    fputs("copy", f);
    ASSERT_EQ_INT(fclose(f), 0);
    test_pathf(p, sizeof p, "%s/restore-%d", cache, (int)pid);
    ASSERT_EQ_INT(mkdir(p, 0777), 0);
    test_pathf(p, sizeof p, "%s/data/ab", target);
    ASSERT_EQ_INT(shelf__mkdirs(p, 0777), 0);
    test_pathf(p, sizeof p, "%s/data/ab/.tmp-AbCdEf", target);
    f = fopen(p, "w");
    ASSERT(f);
    fputs("half a pack", f);
    ASSERT_EQ_INT(fclose(f), 0);
}

static int leftovers(const char *cache, const char *target)
{
    int n;

    n = count_files(cache, "backup-catalog-");
    n += count_files(target, ".tmp-");
    {
        DIR *dh = opendir(cache);
        struct dirent *de;

        while (dh && (de = readdir(dh)))
            if (!strncmp(de->d_name, "restore-", 8))
                n++;
        if (dh)
            closedir(dh);
    }
    return n;
}

TEST(killed_backup_leaves_nothing_the_next_run_keeps)
{
    const char *d = test_tmpdir();
    char target[4096], cache[4096], libdir[4096];
    shelf_library *lib = make_library(d, 3, 24u << 20);
    shelf_gc_stats gs = { .size = sizeof gs };
    shelf_repo *r;
    unsigned seed;
    int round;

    test_pathf(target, sizeof target, "%s/repo", d);
    test_pathf(cache, sizeof cache, "%s/lib/cache", d);
    test_pathf(libdir, sizeof libdir, "%s/lib", d);
    init_repo(target);
    seed = test_seed();
    for (round = 0; round < 3; round++) {
        pid_t pid = fork();

        ASSERT(pid >= 0);
        if (pid == 0) {
            shelf_repo_opts o = repo_opts(PW, cache);
            shelf_library *l = NULL;
            shelf_repo *rr = NULL;
            shelf_backup_opts bo;

            if (shelf_repo_open(target, &o, &rr, NULL) != SHELF_OK ||
                shelf_library_open(libdir, 0, &l, NULL) != SHELF_OK)
                _exit(3);
            memset(&bo, 0, sizeof bo);
            bo.size = sizeof bo;
            bo.strategy = SHELF_BACKUP_FULL;
            shelf_backup_run(rr, l, &bo, NULL);
            pause();    /* never ends by itself: the kill ends it */
            _exit(0);
        }
        usleep((useconds_t)(30000 + rand() % 400000));
        kill(pid, SIGKILL);
        expect_killed(pid, round, seed);
    }
    /* the kills' own leftovers, and planted ones that surely exist */
    plant_leftovers(cache, target);
    ASSERT(leftovers(cache, target) >= 3);
    r = open_repo(target, cache);
    backup(r, lib, SHELF_BACKUP_INCREMENTAL, NULL);
    shelf_repo_close(r);
    ASSERT_EQ_INT(leftovers(cache, target), 0);
    /* prune too */
    plant_leftovers(cache, target);
    r = open_repo(target, cache);
    ASSERT_OKM(shelf_repo_errmsg(r), shelf_repo_prune(r, 0, NULL));
    ASSERT_OKM(shelf_repo_errmsg(r), shelf_repo_check(r, 100, NULL, NULL, NULL));
    shelf_repo_close(r);
    ASSERT_EQ_INT(leftovers(cache, target), 0);
    /* and gc (the library's cache) */
    plant_leftovers(cache, target);
    ASSERT_OKL(lib, shelf_gc(lib, 1, 0, &gs));
    ASSERT(gs.temps_removed >= 2);
    ASSERT_EQ_INT(count_files(cache, "backup-catalog-"), 0);
    shelf_library_close(lib);
}

TEST(symlinked_folder_in_repository_is_refused)
{
    const char *d = test_tmpdir();
    char target[4096], p[4096], outside[4096];
    shelf_library *lib = make_library(d, 2, 0);
    shelf_backup_opts bo;
    shelf_repo *r;

    test_pathf(target, sizeof target, "%s/repo", d);
    test_pathf(outside, sizeof outside, "%s/outside", d);
    ASSERT_EQ_INT(mkdir(outside, 0777), 0);
    init_repo(target);
    test_pathf(p, sizeof p, "%s/locks", target);
    rmdir(p);
    ASSERT_EQ_INT(symlink(outside, p), 0);
    r = open_repo(target, NULL);
    memset(&bo, 0, sizeof bo);
    bo.size = sizeof bo;
    ASSERT_RC(SHELF_ECORRUPT, shelf_backup_run(r, lib, &bo, NULL));
    ASSERT(strstr(shelf_repo_errmsg(r), "symbolic link"));
    ASSERT_EQ_INT(count_files(outside, NULL), 0);
    shelf_repo_close(r);
    /* a pack folder that leads elsewhere: nothing lands there either */
    ASSERT_EQ_INT(unlink(p), 0);
    test_pathf(p, sizeof p, "%s/data", target);
    ASSERT_EQ_INT(shelf__mkdirs(p, 0777), 0);
    {
        int i;

        for (i = 0; i < 256; i++) {
            test_pathf(p, sizeof p, "%s/data/%02x", target, i);
            rmdir(p);
            ASSERT_EQ_INT(symlink(outside, p), 0);
        }
    }
    r = open_repo(target, NULL);
    ASSERT_RC(SHELF_ECORRUPT, shelf_backup_run(r, lib, &bo, NULL));
    ASSERT(strstr(shelf_repo_errmsg(r), "symbolic link"));
    ASSERT_EQ_INT(count_files(outside, NULL), 0);
    shelf_repo_close(r);
    shelf_library_close(lib);
}

static int count_damaged(void *ud, const shelf_snapinfo *s)
{
    if (s->damaged)
        snprintf((char *)ud, 65, "%s", s->id);
    return 0;
}

TEST(damaged_newest_snapshot_is_never_skipped_in_silence)
{
    const char *d = test_tmpdir();
    char target[4096], p[4096], first[65], second[65], id[65], damaged[65] = "", to[4096];
    shelf_library *lib = make_library(d, 2, 0);
    shelf_backup_stats st = { .size = sizeof st };
    shelf_restore_opts o;
    shelf_repo *r;

    test_pathf(target, sizeof target, "%s/repo", d);
    init_repo(target);
    r = open_repo(target, NULL);
    backup(r, lib, SHELF_BACKUP_INCREMENTAL, &st);
    snprintf(first, sizeof first, "%s", st.snapshot);
    backup(r, lib, SHELF_BACKUP_FULL, &st);
    snprintf(second, sizeof second, "%s", st.snapshot);
    shelf_repo_close(r);
    test_pathf(p, sizeof p, "%s/snapshots/%s", target, second);
    flip_byte(p, 40);
    r = open_repo(target, NULL);
    ASSERT_OK(shelf_snapshot_list(r, count_damaged, damaged));
    ASSERT_EQ_STR(damaged, second);
    ASSERT_RC(SHELF_ECORRUPT, shelf_snapshot_resolve(r, "latest", id));
    ASSERT(strstr(shelf_repo_errmsg(r), "is damaged"));
    ASSERT(strstr(shelf_repo_errmsg(r), "newest readable"));
    ASSERT_RC(SHELF_ECORRUPT, shelf_snapshot_resolve(r, second, id));
    test_pathf(to, sizeof to, "%s/to", d);
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.to = to;
    ASSERT_RC(SHELF_ECORRUPT, shelf_restore(r, NULL, "latest", &o, NULL));
    ASSERT(access(to, F_OK) != 0);
    /* named, the readable one restores */
    ASSERT_OK(shelf_snapshot_resolve(r, first, id));
    restore_and_verify(r, first, to, 4);
    shelf_repo_close(r);
    shelf_library_close(lib);
}

TEST(damaged_index_does_not_stop_a_restore)
{
    const char *d = test_tmpdir();
    char target[4096], p[4096], to[4096];
    shelf_library *lib = make_library(d, 3, 0);
    shelf_repo *r;

    test_pathf(target, sizeof target, "%s/repo", d);
    init_repo(target);
    r = open_repo(target, NULL);
    backup(r, lib, SHELF_BACKUP_INCREMENTAL, NULL);
    shelf_repo_close(r);
    test_pathf(p, sizeof p, "%s/index", target);
    ASSERT_EQ_INT(count_files(p, NULL), 1);
    flip_byte(flist[0], 60);
    /* a new machine: no cache that read the index before */
    r = open_repo(target, NULL);
    test_pathf(to, sizeof to, "%s/restored", d);
    restore_and_verify(r, "latest", to, 5);
    ASSERT(strstr(shelf_repo_warning(r), "is damaged: read the headers of"));
    ASSERT(strstr(shelf_repo_warning(r), "repair-index"));
    /* the repository itself is unchanged: check still names the file */
    ASSERT_RC(SHELF_ECORRUPT, shelf_repo_check(r, 0, NULL, NULL, NULL));
    /* and prune does not take the packs it lists for unindexed ones */
    test_pathf(p, sizeof p, "%s/data", target);
    {
        int before = count_files(p, NULL);

        ASSERT_RC(SHELF_ECORRUPT, shelf_repo_prune(r, 0, NULL));
        ASSERT(strstr(shelf_repo_errmsg(r), "repair-index"));
        ASSERT_EQ_INT(count_files(p, NULL), before);
    }
    shelf_repo_close(r);
    shelf_library_close(lib);
}

static void count_foreign(void *ud, const char *file, const char *problem, const char *snapshot,
                         const char *item)
{
    (void)file;
    (void)snapshot;
    (void)item;
    if (strstr(problem, "belongs to repository"))
        (*(int *)ud)++;
}

static void cp_file(const char *from, const char *to)
{
    char cmd[9000];

    snprintf(cmd, sizeof cmd, "cp -f '%s' '%s'", from, to);
    ASSERT_EQ_INT(system(cmd), 0);
}

TEST(config_and_key_copies_and_foreign_files)
{
    const char *d = test_tmpdir();
    char a[4096], b[4096], p[4096], q[4096], keyid[17] = "";
    shelf_library *lib = make_library(d, 2, 0);
    shelf_repo_opts o = repo_opts(PW, NULL);
    shelf_repo *r = NULL;
    char *msg = NULL;
    uint64_t added, removed;
    int n, rc, which;

    test_pathf(a, sizeof a, "%s/a", d);
    test_pathf(b, sizeof b, "%s/b", d);
    init_repo(a);
    init_repo(b);
    r = open_repo(a, NULL);
    backup(r, lib, SHELF_BACKUP_INCREMENTAL, NULL);
    ASSERT_EQ_INT(r->format, 2);
    snprintf(keyid, sizeof keyid, "%s", r->key_id);
    shelf_repo_close(r);
    /* one flipped bit in config, then in the only key file: the copy opens
     * it, check names the file, repair-index writes it again */
    for (which = 0; which < 4; which++) {
        static const char *const names[] = { "config", "keys/%s", "config-copy", "keys-copy/%s" };
        char rel[64];

        snprintf(rel, sizeof rel, names[which], keyid);
        test_pathf(p, sizeof p, "%s/%s", a, rel);
        flip_byte(p, 30);
        r = open_repo(a, NULL);
        ASSERT_RC(SHELF_ECORRUPT, shelf_repo_check(r, 0, NULL, NULL, NULL));
        ASSERT_OKM(shelf_repo_errmsg(r), shelf_repo_repair_index(r, &added, &removed));
        ASSERT_OKM(shelf_repo_errmsg(r), shelf_repo_check(r, 100, NULL, NULL, NULL));
        shelf_repo_close(r);
    }
    /* a whole key file lost: its copy opens the repository */
    test_pathf(p, sizeof p, "%s/keys/%s", a, keyid);
    ASSERT_EQ_INT(unlink(p), 0);
    r = open_repo(a, NULL);
    ASSERT_OKM(shelf_repo_errmsg(r), shelf_repo_repair_index(r, &added, &removed));
    ASSERT_EQ_INT(access(p, F_OK), 0);
    shelf_repo_close(r);
    /* a key file of repository b in a: named as b's */
    nflist = 0;
    test_pathf(q, sizeof q, "%s/keys", b);
    nftw(q, add_file, 16, FTW_PHYS);
    ASSERT_EQ_INT(nflist, 1);
    test_pathf(p, sizeof p, "%s/keys/%s", a, strrchr(flist[0], '/') + 1);
    cp_file(flist[0], p);
    r = open_repo(a, NULL);
    n = 0;
    ASSERT_RC(SHELF_ECORRUPT, shelf_repo_check(r, 0, count_foreign, &n, NULL));
    ASSERT_EQ_INT(n, 1);
    shelf_repo_close(r);
    /* ... and when it is the only one there, opening says so */
    test_pathf(q, sizeof q, "%s/keys/%s", a, keyid);
    ASSERT_EQ_INT(unlink(q), 0);
    test_pathf(q, sizeof q, "%s/keys-copy/%s", a, keyid);
    ASSERT_EQ_INT(unlink(q), 0);
    rc = shelf_repo_open(a, &o, &r, &msg);
    ASSERT_RC(SHELF_EFORMAT, rc);
    ASSERT(msg && strstr(msg, "belongs to repository") && strstr(msg, "another repository"));
    shelf_free(msg);
    msg = NULL;
    /* b's config over a's: named, not taken as damage or opened */
    test_pathf(p, sizeof p, "%s/config", a);
    test_pathf(q, sizeof q, "%s/config", b);
    cp_file(q, p);
    rc = shelf_repo_open(a, &o, &r, &msg);
    ASSERT_RC(SHELF_EFORMAT, rc);
    ASSERT(msg && strstr(msg, "copied from another repository"));
    shelf_free(msg);
    shelf_library_close(lib);
}

TEST(format_1_repository_still_reads)
{
    const char *d = test_tmpdir();
    char target[4096], to[4096], cmd[9000], p[4096];
    shelf_repo_opts o = repo_opts("v1 password", NULL);
    shelf_restore_opts ro;
    shelf_restore_stats rs = { .size = sizeof rs };
    shelf_library *lib;
    shelf_verify_stats vs = { .size = sizeof vs };
    shelf_repo *r = NULL;
    char *msg = NULL, id[17];
    int rc;

    test_pathf(target, sizeof target, "%s/repo", d);
    snprintf(cmd, sizeof cmd, "cp -r '%s/backup-v1' '%s' && chmod -R u+w '%s'", SHELF_TEST_DATA, target, target);
    ASSERT_EQ_INT(system(cmd), 0);
    rc = shelf_repo_open(target, &o, &r, &msg);
    ASSERT_OKM(msg ? msg : "", rc);
    ASSERT_EQ_INT(r->format, 1);
    ASSERT_OKM(shelf_repo_errmsg(r), shelf_repo_check(r, 100, NULL, NULL, NULL));
    test_pathf(to, sizeof to, "%s/restored", d);
    memset(&ro, 0, sizeof ro);
    ro.size = sizeof ro;
    ro.to = to;
    ASSERT_OKM(shelf_repo_errmsg(r), shelf_restore(r, NULL, "latest", &ro, &rs));
    ASSERT_EQ_INT(rs.created, 3);
    lib = open_lib(to);
    ASSERT_OKL(lib, shelf_verify(lib, NULL, NULL, NULL, &vs));
    ASSERT_EQ_INT(vs.missing + vs.changed + vs.corrupt, 0);
    ASSERT(vs.ok >= 1);
    shelf_library_close(lib);
    /* a new key keeps format 1: no copy, and the repository stays readable by older shelf */
    ASSERT_OKM(shelf_repo_errmsg(r), shelf_repo_key_add(r, "another", 10, id));
    test_pathf(p, sizeof p, "%s/keys-copy", target);
    ASSERT(access(p, F_OK) != 0);
    test_pathf(p, sizeof p, "%s/config-copy", target);
    ASSERT(access(p, F_OK) != 0);
    shelf_repo_close(r);
    o.password = "another";
    rc = shelf_repo_open(target, &o, &r, &msg);
    ASSERT_OKM(msg ? msg : "", rc);
    ASSERT_OKM(shelf_repo_errmsg(r), shelf_repo_check(r, 0, NULL, NULL, NULL));
    shelf_repo_close(r);
}

/* ---- what real libraries break ---- */

typedef struct unread {
    int n;
    int64_t id;
    char path[4096], why[512];
} unread;

static void on_unreadable(void *ud, int64_t id, const char *path, const char *why)
{
    unread *u = ud;

    u->n++;
    u->id = id;
    snprintf(u->path, sizeof u->path, "%s", path);
    snprintf(u->why, sizeof u->why, "%s", why);
}

static int find_item(void *ud, const shelf_snapitem *it)
{
    const char *want = ((const char **)ud)[0];

    if (!strcmp(it->path, want))
        ((const char **)ud)[1] = "found";
    return 0;
}

/* A sample that cannot be read (here: its path is now a folder, which
 * open() takes and read() refuses, also for root) does not stop the
 * backup: it is left out, counted and named. */
TEST(backup_goes_on_past_unreadable_samples)
{
    const char *d = test_tmpdir();
    char target[4096], p[4096];
    shelf_library *lib = make_library(d, 3, 0);
    shelf_backup_opts o;
    shelf_backup_stats st = { .size = sizeof st };
    shelf_repo *r;
    int64_t id = 0;
    unread u;
    const char *look[2];

    test_pathf(target, sizeof target, "%s/repo", d);
    test_pathf(p, sizeof p, "%s/samples/s_001.wav", d);
    ASSERT_OKL(lib, shelf_catalog_find_path(lib, p, &id));
    ASSERT_EQ_INT(unlink(p), 0);
    ASSERT_EQ_INT(mkdir(p, 0777), 0);
    init_repo(target);
    r = open_repo(target, NULL);
    memset(&o, 0, sizeof o);
    memset(&u, 0, sizeof u);
    o.size = sizeof o;
    o.unreadable = on_unreadable;
    o.ud = &u;
    ASSERT_OKM(shelf_repo_errmsg(r), shelf_backup_run(r, lib, &o, &st));
    ASSERT_EQ_INT(st.unreadable, 1);
    ASSERT_EQ_INT(u.n, 1);
    ASSERT_EQ_INT(u.id, id);
    ASSERT_EQ_STR(u.path, p);
    ASSERT(strstr(u.why, "cannot read") && strstr(u.why, "s_001.wav"));
    ASSERT_EQ_INT(st.items, 6);     /* catalog, config, 2 blobs, 2 of the 3 referenced */
    look[0] = p;
    look[1] = NULL;
    ASSERT_OK(shelf_snapshot_items(r, st.snapshot, find_item, look));
    ASSERT(look[1] == NULL);
    /* the others are there */
    test_pathf(p, sizeof p, "%s/samples/s_002.wav", d);
    look[0] = p;
    ASSERT_OK(shelf_snapshot_items(r, st.snapshot, find_item, look));
    ASSERT(look[1] != NULL);
    ASSERT_OKM(shelf_repo_errmsg(r), shelf_repo_check(r, 100, NULL, NULL, NULL));
    shelf_repo_close(r);
    shelf_library_close(lib);
}

/* A restore --to that fills the disk says so, naming the file, and the
 * same restore run again (after making room) finishes it in that folder;
 * another snapshot is refused there. */
TEST(restore_to_full_disk_then_resume)
{
    const char *d = test_tmpdir();
    char target[4096], mnt[4096], to[4096], msg[1024] = "", msg2[1024] = "", snap1[65];
    shelf_library *lib;
    shelf_backup_stats st = { .size = sizeof st }, st1 = { .size = sizeof st1 };
    shelf_restore_opts o;
    shelf_restore_stats rs = { .size = sizeof rs }, rs2 = { .size = sizeof rs2 };
    shelf_verify_stats vs = { .size = sizeof vs };
    shelf_repo *r;
    int rc, rc2 = -1, rc3 = -1, vrc = -1, mark_left = -1;

    own_mount_namespace();
    lib = make_library(d, 2, 3u << 20);
    test_pathf(target, sizeof target, "%s/repo", d);
    init_repo(target);
    r = open_repo(target, NULL);
    backup(r, lib, SHELF_BACKUP_INCREMENTAL, &st1);
    snprintf(snap1, sizeof snap1, "%s", st1.snapshot);
    ASSERT_OKL(lib, shelf_tag_add(lib, 2, "snare"));
    backup(r, lib, SHELF_BACKUP_INCREMENTAL, &st);
    test_pathf(mnt, sizeof mnt, "%s/mnt", d);
    ASSERT_EQ_INT(mkdir(mnt, 0700), 0);
    mount_tmpfs(mnt, "size=1m");
    test_pathf(to, sizeof to, "%s/lib", mnt);
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.to = to;
    /* Asserted after the umount, so the test's folder can be removed. */
    rc = shelf_restore(r, NULL, st.snapshot, &o, &rs);
    snprintf(msg, sizeof msg, "%s", shelf_repo_errmsg(r));
    if (mount("tmpfs", mnt, "tmpfs", MS_REMOUNT | MS_NOSUID | MS_NODEV, "size=16m") == 0) {
        rc3 = shelf_restore(r, NULL, snap1, &o, &rs2);
        snprintf(msg2, sizeof msg2, "%s", shelf_repo_errmsg(r));
        rc2 = shelf_restore(r, NULL, st.snapshot, &o, &rs2);
        if (rc2 == SHELF_OK) {
            shelf_library *nl = NULL;
            char p[4200];

            snprintf(p, sizeof p, "%s/.shelf-restore", to);
            mark_left = access(p, F_OK) == 0;
            if (shelf_library_open(to, 0, &nl, NULL) == SHELF_OK) {
                vrc = shelf_verify(nl, NULL, NULL, NULL, &vs);
                shelf_library_close(nl);
            }
        }
    }
    umount2(mnt, MNT_DETACH);
    ASSERT(rc != SHELF_OK);
    ASSERT(rs.failed >= 1);
    ASSERT(strstr(msg, "no space left on device"));
    ASSERT(strstr(msg, "noise.wav") || strstr(msg, to));
    ASSERT_RC(SHELF_EEXIST, rc3);
    ASSERT(strstr(msg2, "unfinished restore"));
    ASSERT_OKM(shelf_repo_errmsg(r), rc2);
    ASSERT_EQ_INT(rs2.failed, 0);
    ASSERT(rs2.same >= 1);                  /* what the first run finished is kept */
    ASSERT_EQ_INT(rs2.created + rs2.overwritten + rs2.same, st.items);
    ASSERT_EQ_INT(mark_left, 0);
    ASSERT_OK(vrc);
    ASSERT_EQ_INT(vs.missing + vs.changed + vs.corrupt, 0);
    ASSERT_EQ_INT(vs.checked, 5);           /* 3 referenced, 2 managed */
    shelf_repo_close(r);
    shelf_library_close(lib);
}

/* id's rating, favourite and tags ("" when none) now. */
static void meta_of(shelf_library *lib, int64_t id, int *rating, int *fav, char *tags, size_t n)
{
    shelf_cursor *cur = NULL;
    const shelf_sample *row = NULL;

    ASSERT_OKL(lib, shelf_catalog_get(lib, id, &cur, &row));
    *rating = row->rating;
    *fav = row->favourite;
    snprintf(tags, n, "%s", row->tags ? row->tags : "");
    shelf_cursor_free(cur);
}

typedef struct seen {
    int action[64];
    char detail[64][512];
} seen;

static void on_seen(void *ud, const shelf_restore_item *it)
{
    seen *a = ud;

    if (it->kind == SHELF_ITEM_SAMPLE && it->id > 0 && it->id < 64) {
        a->action[it->id] = it->action;
        snprintf(a->detail[it->id], sizeof a->detail[it->id], "%s", it->detail);
    }
}

/* A restore into the live library compares the user's metadata too, and
 * never overwrites a file edited in place under the default policy. */
TEST(live_restore_metadata_and_edited_files)
{
    const char *d = test_tmpdir();
    char target[4096], p2[4096], orig2[65], now[65], tags[256];
    shelf_library *lib = make_library(d, 3, 0);
    shelf_backup_stats st = { .size = sizeof st };
    shelf_restore_opts o;
    shelf_restore_stats rs = { .size = sizeof rs };
    int64_t id1 = 1, id2 = 0;
    int rating, fav;
    shelf_repo *r;
    seen a;

    test_pathf(target, sizeof target, "%s/repo", d);
    test_pathf(p2, sizeof p2, "%s/samples/s_001.wav", d);
    ASSERT_OKL(lib, shelf_catalog_find_path(lib, p2, &id2));
    if (id2 == id1) {
        test_pathf(p2, sizeof p2, "%s/samples/s_002.wav", d);
        ASSERT_OKL(lib, shelf_catalog_find_path(lib, p2, &id2));
    }
    ASSERT(id2 > 0 && id2 < 64 && id2 != id1);
    file_sha(p2, orig2);
    ASSERT_OKL(lib, shelf_rate(lib, id1, 3));
    init_repo(target);
    r = open_repo(target, NULL);
    backup(r, lib, SHELF_BACKUP_INCREMENTAL, &st);
    /* since the snapshot: sample 1's tags, rating and favourite changed;
     * sample 2's file was edited in place (not imported again) */
    ASSERT_OKL(lib, shelf_tag_remove(lib, id1, "kick"));
    ASSERT_OKL(lib, shelf_tag_add(lib, id1, "snare"));
    ASSERT_OKL(lib, shelf_rate(lib, id1, 5));
    ASSERT_OKL(lib, shelf_favourite(lib, id1, 1));
    ASSERT_EQ_INT(tg_write_simple(p2, WAV16, 44100, 1, 3500, 777), 0);
    file_sha(p2, now);
    ASSERT(strcmp(now, orig2) != 0);
    /* the preview shows both as differences (conflicts, skipped by default) */
    memset(&o, 0, sizeof o);
    memset(&a, 0, sizeof a);
    o.size = sizeof o;
    o.preview = 1;
    o.on_item = on_seen;
    o.ud = &a;
    ASSERT_OKM(shelf_repo_errmsg(r), shelf_restore(r, lib, "latest", &o, &rs));
    ASSERT_EQ_INT(a.action[id1], SHELF_RESTORE_SKIP);
    ASSERT(strstr(a.detail[id1], "tags, rating or favourite differ"));
    ASSERT(strstr(a.detail[id1], "kick") && strstr(a.detail[id1], "snare"));
    ASSERT_EQ_INT(a.action[id2], SHELF_RESTORE_SKIP);
    ASSERT(strstr(a.detail[id2], "changed on disk"));
    /* the default policy (skip) leaves both as they are */
    o.preview = 0;
    ASSERT_OKM(shelf_repo_errmsg(r), shelf_restore(r, lib, "latest", &o, &rs));
    ASSERT_EQ_INT(a.action[id2], SHELF_RESTORE_SKIP);
    file_sha(p2, now);
    ASSERT(strcmp(now, orig2) != 0);
    meta_of(lib, id1, &rating, &fav, tags, sizeof tags);
    ASSERT_EQ_INT(rating, 5);
    ASSERT_EQ_STR(tags, "snare");
    /* keep both: for metadata, both sets (the library's rating stays) */
    memset(&a, 0, sizeof a);
    o.on_conflict = SHELF_CONFLICT_KEEP_BOTH;
    o.items = (const char *const[]){ "1" };
    o.nitems = 1;
    ASSERT_OKM(shelf_repo_errmsg(r), shelf_restore(r, lib, "latest", &o, &rs));
    ASSERT_EQ_INT(a.action[id1], SHELF_RESTORE_KEEP_BOTH);
    meta_of(lib, id1, &rating, &fav, tags, sizeof tags);
    ASSERT_EQ_INT(rating, 5);
    ASSERT_EQ_INT(fav, 1);
    ASSERT(strstr(tags, "kick") && strstr(tags, "snare"));
    /* overwrite: the snapshot's metadata and file, exactly */
    memset(&a, 0, sizeof a);
    o.on_conflict = SHELF_CONFLICT_OVERWRITE;
    o.items = NULL;
    o.nitems = 0;
    ASSERT_OKM(shelf_repo_errmsg(r), shelf_restore(r, lib, "latest", &o, &rs));
    ASSERT_EQ_INT(a.action[id1], SHELF_RESTORE_OVERWRITE);
    ASSERT_EQ_INT(a.action[id2], SHELF_RESTORE_OVERWRITE);
    meta_of(lib, id1, &rating, &fav, tags, sizeof tags);
    ASSERT_EQ_INT(rating, 3);
    ASSERT_EQ_INT(fav, 0);
    ASSERT_EQ_STR(tags, "kick");
    file_sha(p2, now);
    ASSERT_EQ_STR(now, orig2);
    /* now nothing differs */
    memset(&a, 0, sizeof a);
    ASSERT_OKM(shelf_repo_errmsg(r), shelf_restore(r, lib, "latest", &o, &rs));
    ASSERT_EQ_INT(a.action[id1], SHELF_RESTORE_SAME);
    ASSERT_EQ_INT(a.action[id2], SHELF_RESTORE_SAME);
    shelf_repo_close(r);
    shelf_library_close(lib);
}

typedef struct named {
    char want[4096];
    int hits, others;
    char file[128];
} named;

static void on_named(void *ud, const char *file, const char *problem, const char *snapshot,
                     const char *item)
{
    named *nm = ud;

    (void)problem;
    if (!snapshot || !item)
        return;
    if (!strcmp(item, nm->want)) {
        nm->hits++;
        snprintf(nm->file, sizeof nm->file, "%s", file ? file : "");
    } else {
        nm->others++;
    }
}

/* check --read-data names the snapshots and items a damaged pack hits:
 * those whose data is damaged, not every item that shares the pack. */
TEST(check_names_the_items_a_damaged_blob_hits)
{
    const char *d = test_tmpdir();
    char target[4096], to[4096], path[4200], pname[80];
    shelf_library *lib = make_library(d, 3, 0);
    shelf_backup_stats st1 = { .size = sizeof st1 }, st2 = { .size = sizeof st2 };
    shelf_restore_opts o;
    shelf_restore_stats rs = { .size = sizeof rs };
    json_t *snap = NULL, *tree = NULL, *it, *hit = NULL;
    shelf__blobloc loc;
    uint8_t id[SHELF_HASH_BYTES];
    shelf_repo *r;
    named nm;
    size_t i;
    FILE *f;
    int c;

    memset(&nm, 0, sizeof nm);
    test_pathf(target, sizeof target, "%s/repo", d);
    test_pathf(nm.want, sizeof nm.want, "%s/samples/s_001.wav", d);
    init_repo(target);
    r = open_repo(target, NULL);
    backup(r, lib, SHELF_BACKUP_INCREMENTAL, &st1);
    ASSERT_OKL(lib, shelf_tag_add(lib, 2, "snare"));
    backup(r, lib, SHELF_BACKUP_INCREMENTAL, &st2);
    ASSERT_EQ_INT(st1.packs, 1);        /* every item shares the one pack */
    /* flip a byte inside the first chunk of s_001.wav */
    ASSERT_OK(shelf__snap_load(r, st2.snapshot, &snap));
    ASSERT_OK(shelf__tree_load(r, snap, &tree));
    json_array_foreach(json_object_get(tree, "items"), i, it)
        if (!strcmp(json_string_value(json_object_get(it, "path")), nm.want))
            hit = it;
    ASSERT(hit);
    ASSERT_OK(shelf__unhex(json_string_value(json_array_get(json_object_get(hit, "chunks"), 0)), id, sizeof id));
    ASSERT_OK(shelf__index_find(r, id, NULL, 0, &loc));
    shelf__pack_name(loc.pack, pname);
    snprintf(path, sizeof path, "%s/%s", target, pname);
    ASSERT_EQ_INT(chmod(path, 0644), 0);
    f = fopen(path, "r+b");
    ASSERT(f);
    ASSERT_EQ_INT(fseek(f, (long)loc.off + (long)(loc.len / 2), SEEK_SET), 0);
    c = fgetc(f);
    ASSERT_EQ_INT(fseek(f, (long)loc.off + (long)(loc.len / 2), SEEK_SET), 0);
    fputc(c ^ 0x20, f);
    ASSERT_EQ_INT(fclose(f), 0);
    json_decref(tree);
    json_decref(snap);
    ASSERT_RC(SHELF_ECORRUPT, shelf_repo_check(r, 100, on_named, &nm, NULL));
    ASSERT_EQ_INT(nm.hits, 2);          /* in both snapshots */
    ASSERT_EQ_INT(nm.others, 0);        /* nothing else in that pack is lost */
    ASSERT_EQ_STR(nm.file, pname);
    /* and that is what a restore finds */
    test_pathf(to, sizeof to, "%s/restored", d);
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.to = to;
    ASSERT(shelf_restore(r, NULL, "latest", &o, &rs) != SHELF_OK);
    ASSERT_EQ_INT(rs.failed, 1);
    ASSERT_EQ_INT(rs.created, st2.items - 1);
    shelf_repo_close(r);
    shelf_library_close(lib);
}

/* Fill the file system of dir: a file that grows until no byte fits. */
static void fill_fs(const char *dir)
{
    static char block[65536];
    char p[4096];
    size_t step;
    FILE *f;

    test_pathf(p, sizeof p, "%s/filler", dir);
    f = fopen(p, "wb");
    ASSERT(f);
    setvbuf(f, NULL, _IONBF, 0);
    for (step = sizeof block; step > 0; step /= 2)
        while (fwrite(block, 1, step, f) == step)
            ;
    ASSERT_EQ_INT(fclose(f), 0);
}

/* repair-index whose cache writes fail (the cache on a full tmpfs) fails,
 * naming the cache file and the cause, instead of reporting success. */
TEST(repair_index_fails_when_the_cache_cannot_be_written)
{
    const char *d = test_tmpdir();
    char target[4096], p[4096], mnt[4096], msg[1024] = "", dbname[200];
    shelf_library *lib = make_library(d, 3, 0);
    shelf_backup_stats st = { .size = sizeof st };
    uint64_t added = 0, removed = 0;
    shelf_repo *r;
    int rc = -1;

    test_pathf(target, sizeof target, "%s/repo", d);
    init_repo(target);
    r = open_repo(target, NULL);
    backup(r, lib, SHELF_BACKUP_INCREMENTAL, &st);
    snprintf(dbname, sizeof dbname, "backup-%s.db", shelf_repo_id(r));
    shelf_repo_close(r);
    /* a damaged index file: repair-index must index its packs again */
    nflist = 0;
    test_pathf(p, sizeof p, "%s/index", target);
    nftw(p, add_file, 16, FTW_PHYS);
    ASSERT_EQ_INT(nflist, 1);
    flip_byte(flist[0], 40);
    test_pathf(mnt, sizeof mnt, "%s/mnt", d);
    ASSERT_EQ_INT(mkdir(mnt, 0700), 0);
    if (mount("tmpfs", mnt, "tmpfs", MS_NOSUID | MS_NODEV, "size=2m") != 0)
        TEST_SKIP("cannot mount a small tmpfs here (%s)", strerror(errno));
    /* No assertion may end the test while the tmpfs is mounted. */
    {
        shelf_repo_opts o = repo_opts(PW, mnt);
        char *m = NULL;

        r = NULL;
        if (shelf_repo_open(target, &o, &r, &m) == SHELF_OK) {
            fill_fs(mnt);
            rc = shelf_repo_repair_index(r, &added, &removed);
            snprintf(msg, sizeof msg, "%s", shelf_repo_errmsg(r));
            shelf_repo_close(r);
        } else {
            snprintf(msg, sizeof msg, "open: %s", m ? m : "");
        }
        shelf_free(m);
    }
    umount2(mnt, MNT_DETACH);
    printf("# repair-index on a full cache: %s\n", msg);
    ASSERT(rc != SHELF_OK && rc != -1);
    ASSERT(strstr(msg, "backup index cache"));
    ASSERT(strstr(msg, "no space left on device"));
    ASSERT(strstr(msg, dbname));            /* the file, not "database or disk is full" */
    ASSERT(!strstr(msg, "disk is full"));
    ASSERT_EQ_INT(removed, 0);              /* the damaged index file stays: nothing replaced it */
    ASSERT_EQ_INT(nflist, 1);
    ASSERT_EQ_INT(access(flist[0], F_OK), 0);
    shelf_library_close(lib);
}

/* Packs go up on several connections at once (dup'd folder handles); the
 * index is written after every pack arrived, so check and restore pass;
 * one connection and an older caller's shelf_repo_opts still work. */
TEST(parallel_saves_on_several_connections)
{
    const char *d = test_tmpdir();
    char target[4096], to[4096], *msg = NULL;
    shelf_library *lib = make_library(d, 3, 70u << 20);
    shelf_repo_opts o = repo_opts(PW, NULL);
    struct { shelf_repo_opts o; char newer[8]; } big;
    shelf_backup_stats st = { .size = sizeof st };
    shelf_check_stats cs = { .size = sizeof cs };
    shelf_repo *r = NULL;

    test_pathf(target, sizeof target, "%s/repo \xe9\x9f\xb3", d);
    init_repo(target);
    o.connections = 4;
    ASSERT_OKM(msg ? msg : "", shelf_repo_open(target, &o, &r, &msg));
    backup(r, lib, SHELF_BACKUP_FULL, &st);
    ASSERT_EQ_INT(r->conns_used, 4);
    ASSERT(st.packs >= 4);
    ASSERT_OKM(shelf_repo_errmsg(r), shelf_repo_check(r, 100, NULL, NULL, &cs));
    ASSERT_EQ_INT(cs.unindexed, 0);
    ASSERT_EQ_INT(cs.packs, st.packs);
    test_pathf(to, sizeof to, "%s/restored", d);
    restore_and_verify(r, st.snapshot, to, 6);
    shelf_repo_close(r);
    /* one connection */
    o.connections = 1;
    ASSERT_OK(shelf_repo_open(target, &o, &r, NULL));
    backup(r, lib, SHELF_BACKUP_FULL, &st);
    ASSERT_EQ_INT(r->conns_used, 1);
    shelf_repo_close(r);
    /* the struct before network targets: the default, 4 */
    o.size = offsetof(shelf_repo_opts, ca_file);
    ASSERT_OK(shelf_repo_open(target, &o, &r, NULL));
    backup(r, lib, SHELF_BACKUP_INCREMENTAL, &st);
    ASSERT_EQ_INT(r->conns_used, SHELF__DEFAULT_CONNECTIONS);
    shelf_repo_close(r);
    /* bad values and unknown newer fields are refused, not ignored */
    o.size = sizeof o;
    o.connections = 33;
    ASSERT_RC(SHELF_EINVAL, shelf_repo_open(target, &o, &r, &msg));
    ASSERT(msg && strstr(msg, "connections"));
    shelf_free(msg);
    msg = NULL;
    memset(&big, 0, sizeof big);
    big.o = repo_opts(PW, NULL);
    big.o.size = sizeof big;
    big.newer[0] = 1;
    ASSERT_RC(SHELF_EINVAL, shelf_repo_open(target, &big.o, &r, &msg));
    ASSERT(msg && strstr(msg, "shelf_repo_opts"));
    shelf_free(msg);
    shelf_library_close(lib);
}

/* Snapshots copied between two repositories with different keys: only
 * missing blobs travel, the destination checks and restores, a second
 * copy skips; a copy cut short by a failing destination leaves it valid
 * and the next copy completes. */
TEST(copy_between_repositories)
{
    const char *d = test_tmpdir();
    char a[4096], b[4096], to[4096], *msg = NULL;
    shelf_library *lib = make_library(d, 3, 20u << 20);
    shelf_repo_opts o = repo_opts("other password", NULL);
    shelf_backup_stats st1 = { .size = sizeof st1 }, st2 = { .size = sizeof st2 };
    shelf_copy_stats cs = { .size = sizeof cs };
    shelf_check_stats ck = { .size = sizeof ck };
    shelf_repo *src, *dst;
    const char *one[1];

    test_pathf(a, sizeof a, "%s/usb", d);
    test_pathf(b, sizeof b, "%s/nas \xe6\xa5\xbd", d);
    init_repo(a);
    ASSERT_OKM(msg ? msg : "", shelf_repo_init(b, &o, &msg));
    src = open_repo(a, NULL);
    backup(src, lib, SHELF_BACKUP_FULL, &st1);
    ASSERT_OK(shelf_repo_open(b, &o, &dst, NULL));
    /* the latest only */
    one[0] = "latest";
    ASSERT_OKM(shelf_repo_errmsg(dst), shelf_repo_copy(src, dst, one, 1, NULL, NULL, &cs));
    ASSERT_EQ_INT(cs.snapshots, 1);
    ASSERT_EQ_INT(cs.blobs_new, cs.blobs);
    ASSERT(cs.bytes_new >= (20u << 20));
    ASSERT_OKM(shelf_repo_errmsg(dst), shelf_repo_check(dst, 100, NULL, NULL, &ck));
    ASSERT_EQ_INT(ck.snapshots, 1);
    test_pathf(to, sizeof to, "%s/restored-1", d);
    restore_and_verify(dst, "latest", to, 6);
    /* again: nothing to do */
    ASSERT_OK(shelf_repo_copy(src, dst, NULL, 0, NULL, NULL, &cs));
    ASSERT_EQ_INT(cs.snapshots, 0);
    ASSERT_EQ_INT(cs.skipped, 1);
    /* a second snapshot: only what changed travels */
    {
        char p[4096];
        struct timespec ts[2] = { { 0, UTIME_OMIT }, { 2, 0 } };

        test_pathf(p, sizeof p, "%s/samples/s_001.wav", d);
        ASSERT_EQ_INT(utimensat(AT_FDCWD, p, ts, 0), 0);
    }
    backup(src, lib, SHELF_BACKUP_INCREMENTAL, &st2);
    ASSERT_OK(shelf_repo_copy(src, dst, NULL, 0, NULL, NULL, &cs));
    ASSERT_EQ_INT(cs.snapshots, 1);
    ASSERT_EQ_INT(cs.skipped, 1);
    ASSERT(cs.blobs_new < cs.blobs / 2);
    ASSERT_OKM(shelf_repo_errmsg(dst), shelf_repo_check(dst, 100, NULL, NULL, &ck));
    ASSERT_EQ_INT(ck.snapshots, 2);
    shelf_repo_close(dst);
    shelf_repo_close(src);
    shelf_library_close(lib);
}

/* A destination that fails halfway (the fault wrapper) keeps no snapshot
 * that points at missing data; the next copy completes. */
TEST(copy_killed_halfway_resumes)
{
    const char *d = test_tmpdir();
    char a[4096], b[4096], to[4096], *msg = NULL;
    shelf_library *lib = make_library(d, 3, 40u << 20);
    shelf_repo_opts o = repo_opts(PW, NULL);
    shelf_backup_stats st = { .size = sizeof st };
    shelf_copy_stats cs = { .size = sizeof cs };
    shelf_check_stats ck = { .size = sizeof ck };
    shelf__backend *inner, *fb;
    shelf__be_fault_cfg f;
    shelf__err err = { 0, "" };
    shelf_repo *src, *dst;
    int rc;

    test_pathf(a, sizeof a, "%s/src", d);
    test_pathf(b, sizeof b, "%s/dst", d);
    init_repo(a);
    init_repo(b);
    src = open_repo(a, NULL);
    backup(src, lib, SHELF_BACKUP_FULL, &st);
    ASSERT(st.packs >= 3);
    memset(&f, 0, sizeof f);
    f.ops = SHELF__FOP_SAVE;
    ASSERT_OK(shelf__be_dir_open(b, 0, &inner, &err));
    ASSERT_OK(shelf__be_fault_new(inner, &f, &fb));
    ASSERT_OKM(msg ? msg : "", shelf__repo_open_be(fb, &o, &dst, &msg));
    f.fail_at = f.count + 4;      /* the lock, a pack, its index, then the second pack fails */
    f.dead_after = 1;
    rc = shelf_repo_copy(src, dst, NULL, 0, NULL, NULL, &cs);
    ASSERT_RC(SHELF_EIO, rc);
    ASSERT(f.failed);
    ASSERT_EQ_INT(cs.snapshots, 0);
    shelf_repo_close(dst);
    /* the destination is valid and holds no snapshot yet */
    dst = open_repo(b, NULL);
    ASSERT_OKM(shelf_repo_errmsg(dst), shelf_repo_check(dst, 0, NULL, NULL, &ck));
    ASSERT_EQ_INT(ck.snapshots, 0);
    ASSERT_OKM(shelf_repo_errmsg(dst), shelf_repo_copy(src, dst, NULL, 0, NULL, NULL, &cs));
    ASSERT_EQ_INT(cs.snapshots, 1);
    ASSERT(cs.blobs_new < cs.blobs);    /* what arrived before is used */
    ASSERT_OKM(shelf_repo_errmsg(dst), shelf_repo_check(dst, 100, NULL, NULL, &ck));
    test_pathf(to, sizeof to, "%s/restored", d);
    restore_and_verify(dst, "latest", to, 6);
    shelf_repo_close(dst);
    shelf_repo_close(src);
    shelf_library_close(lib);
}

/*
 * Backup under allocation failure (ours, SQLite's copy of the catalog,
 * jansson's snapshot and index documents): for n = 1, 2, ... the nth
 * allocation fails; the run fails with SHELF_ENOMEM or completes, never
 * crashes, and the repository then checks whole (an interrupted run leaves
 * at most unindexed packs).  At the end a clean backup restores and
 * verifies.  Past the first 40 points the step grows by an eighth each
 * time (deterministic); the count of points tried is printed.
 */
TEST(alloc_fail_backup)
{
    const char *d = test_tmpdir();
    char target[4096], to[4096], cache[4096], first[1024] = "";
    shelf_library *lib = make_library(d, 2, 0);
    shelf_backup_stats st = { .size = sizeof st };
    shelf_check_stats cs = { .size = sizeof cs };
    shelf_backup_opts o;
    shelf_repo *r;
    int rc, hit, bad = 0, tried = 0, failed = 0;
    uint64_t want_items, want_bytes;
    long n;

    test_pathf(target, sizeof target, "%s/repo", d);
    test_pathf(cache, sizeof cache, "%s/lib/cache", d);
    init_repo(target);
    r = open_repo(target, cache);
    backup(r, lib, SHELF_BACKUP_FULL, &st);
    want_items = st.items;
    want_bytes = st.bytes;
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.strategy = SHELF_BACKUP_FULL;
    for (n = 1; n < 1000000; n += n < 40 ? 1 : n / 8) {
        shelf__alloc_fail_after(n);
        rc = shelf_backup_run(r, lib, &o, &st);
        hit = fault_hit(n);
        shelf__alloc_fail_after(0);
        tried++;
        failed += rc != SHELF_OK;
        if (rc != SHELF_OK && rc != SHELF_ENOMEM && !bad++)
            snprintf(first, sizeof first, "allocation %ld: %s: %s", n, shelf_strerror(rc),
                     shelf_repo_errmsg(r));
        /* A failure it absorbed must not show in the snapshot. */
        if (rc == SHELF_OK && (st.items != want_items || st.bytes != want_bytes ||
                               st.unreadable != 0) && !bad++)
            snprintf(first, sizeof first, "allocation %ld: OK with %llu items, %llu bytes", n,
                     (unsigned long long)st.items, (unsigned long long)st.bytes);
        memset(&cs, 0, sizeof cs);
        cs.size = sizeof cs;
        if ((rc = shelf_repo_check(r, 0, NULL, NULL, &cs)) != SHELF_OK && !bad++)
            snprintf(first, sizeof first, "allocation %ld: check: %s: %s", n, shelf_strerror(rc),
                     shelf_repo_errmsg(r));
        if (!hit)
            break;
    }
    printf("    %d allocation points tried up to %ld, %d failed with SHELF_ENOMEM\n", tried, n,
           failed);
    ASSERT(n > 20 && n < 1000000);
    ASSERT(failed > 10);
    if (bad)
        test__fail(__FILE__, __LINE__, "%d problems in %d attempts; first: %s", bad, tried, first);
    backup(r, lib, SHELF_BACKUP_FULL, &st);
    test_pathf(to, sizeof to, "%s/restored", d);
    restore_and_verify(r, st.snapshot, to, 4);
    shelf_repo_close(r);
    shelf_library_close(lib);
}

/*
 * Reading a repository under allocation failure: jansson allocates through
 * shelf's hook and calls a failed allocation a syntax error, so every JSON
 * file read here (config and key files on open, snapshots, the tree, key
 * files again, a lock file) must turn it into SHELF_ENOMEM, never into
 * "damaged" or "not in a format shelf reads".  For n = 1, 2, ... (every
 * point, no step) the nth allocation fails: the call returns SHELF_ENOMEM
 * with a message that says "out of memory", or succeeds with the whole
 * answer.  A live lock of
 * another host is never taken for an unreadable one and removed.
 */
typedef struct oom_count {
    int snaps, damaged, items, keys, locks;
} oom_count;

static int oom_snap_cb(void *ud, const shelf_snapinfo *s)
{
    oom_count *c = ud;

    c->snaps++;
    c->damaged += s->damaged;
    return 0;
}

static int oom_item_cb(void *ud, const shelf_snapitem *it)
{
    (void)it;
    ((oom_count *)ud)->items++;
    return 0;
}

static int oom_key_cb(void *ud, const shelf_keyinfo *k)
{
    oom_count *c = ud;

    c->keys += k->created > 0 && k->log2n == 10;
    return 0;
}

static void oom_lock_cb(void *ud, const shelf_lockinfo *l)
{
    oom_count *c = ud;

    c->locks += !l->stale && !l->removed && !strcmp(l->host, "elsewhere");
}

/* One loop: call op(r, &c) with allocation n failing for n = 1, 2, ...
 * until it no longer fails; every failure must be SHELF_ENOMEM. */
#define OOM_LOOP(what, call, ok_check)                                                        \
    do {                                                                                      \
        int tried_ = 0, failed_ = 0;                                                          \
        for (n = 1; n < 200000; n++) {                                                        \
            memset(&c, 0, sizeof c);                                                          \
            shelf__alloc_fail_after(n);                                                       \
            rc = (call);                                                                      \
            hit = fault_hit(n);                                                               \
            shelf__alloc_fail_after(0);                                                       \
            tried_++;                                                                         \
            failed_ += rc != SHELF_OK;                                                        \
            if (rc != SHELF_OK && (rc != SHELF_ENOMEM || !strstr(shelf_repo_errmsg(r),        \
                                                                 "out of memory")) && !bad++) \
                snprintf(first, sizeof first, "%s, allocation %ld: %s: %s", what, n,          \
                         shelf_strerror(rc), shelf_repo_errmsg(r));                           \
            if (rc == SHELF_OK && !(ok_check) && !bad++)                                      \
                snprintf(first, sizeof first, "%s, allocation %ld: OK with a partial answer", \
                         what, n);                                                            \
            if (access(lockp, F_OK) != 0 && !bad++)                                           \
                snprintf(first, sizeof first, "%s, allocation %ld: removed a live lock", what, \
                         n);                                                                  \
            if (!hit)                                                                         \
                break;                                                                        \
        }                                                                                     \
        printf("    %s: %d allocation points, %d failed with SHELF_ENOMEM\n", what, tried_,   \
               failed_);                                                                      \
        ASSERT(failed_ > 10 && n < 200000);                                                   \
    } while (0)

TEST(alloc_fail_repository_reads_are_enomem)
{
    const char *d = test_tmpdir();
    char target[4096], cache[4096], lockp[4096], first[1024] = "";
    shelf_library *lib = make_library(d, 2, 0);
    shelf_repo_opts ro;
    shelf_backup_stats st = { .size = sizeof st };
    shelf_repo *r;
    oom_count c;
    int rc, hit, bad = 0, want_items;
    long n;
    FILE *f;

    test_pathf(target, sizeof target, "%s/repo", d);
    test_pathf(cache, sizeof cache, "%s/cache", d);
    init_repo(target);
    r = open_repo(target, cache);
    backup(r, lib, SHELF_BACKUP_FULL, &st);
    want_items = (int)st.items;
    ASSERT(want_items > 3);
    shelf_repo_close(r);
    /* A live lock of a run on another host: nothing here may remove it. */
    test_pathf(lockp, sizeof lockp, "%s/locks", target);
    ASSERT(mkdir(lockp, 0777) == 0 || errno == EEXIST);
    test_pathf(lockp, sizeof lockp, "%s/locks/0123456789abcdef", target);
    ASSERT((f = fopen(lockp, "w")) != NULL);
    fprintf(f, "{\"exclusive\": false, \"expires\": %lld, \"host\": \"elsewhere\", \"pid\": 1, "
            "\"time\": 1}", (long long)time(NULL) + 3600);
    ASSERT_EQ_INT(fclose(f), 0);

    /* Open: config, config-copy and the key file are parsed and checked. */
    ro = repo_opts(PW, cache);
    r = NULL;
    {
        int tried = 0, failed = 0;

        for (n = 1; n < 200000; n++) {
            char *msg = NULL;

            shelf__alloc_fail_after(n);
            rc = shelf_repo_open(target, &ro, &r, &msg);
            hit = fault_hit(n);
            shelf__alloc_fail_after(0);
            tried++;
            failed += rc != SHELF_OK;
            if (rc != SHELF_OK && rc != SHELF_ENOMEM && !bad++)
                snprintf(first, sizeof first, "open, allocation %ld: %s: %s", n,
                         shelf_strerror(rc), msg ? msg : "(no message)");
            ASSERT((rc == SHELF_OK) == (r != NULL));
            free(msg);
            shelf_repo_close(r);
            r = NULL;
            if (!hit)
                break;
        }
        printf("    open: %d allocation points, %d failed with SHELF_ENOMEM\n", tried, failed);
        ASSERT(failed > 10 && n < 200000);
    }
    if (bad)
        test__fail(__FILE__, __LINE__, "%d problems; first: %s", bad, first);

    r = open_repo(target, cache);
    OOM_LOOP("snapshot list", shelf_snapshot_list(r, oom_snap_cb, &c),
             c.snaps == 1 && c.damaged == 0);
    OOM_LOOP("snapshot items", shelf_snapshot_items(r, "latest", oom_item_cb, &c),
             c.items == want_items);
    OOM_LOOP("key list", shelf_repo_key_list(r, oom_key_cb, &c), c.keys == 1);
    OOM_LOOP("unlock", shelf_repo_unlock(r, 0, oom_lock_cb, &c), c.locks == 1);
    if (bad)
        test__fail(__FILE__, __LINE__, "%d problems; first: %s", bad, first);
    ASSERT(access(lockp, F_OK) == 0);
    shelf_repo_close(r);
    shelf_library_close(lib);
}

int main(int argc, char **argv)
{
    static const test_case tests[] = {
        TEST_ENTRY(chunker_bounds_and_shift),
        TEST_ENTRY(seal_and_tamper),
        TEST_ENTRY(keys_and_passwords),
        TEST_ENTRY(round_trip_to_folder),
        TEST_ENTRY(strategies_and_dependencies),
        TEST_ENTRY(bit_flip_in_every_file_is_found),
        TEST_ENTRY(damaged_pack_names_items_and_others_restore),
        TEST_ENTRY(damaged_index_then_repair),
        TEST_ENTRY(kill_during_backup_and_prune),
        TEST_ENTRY(target_full_then_resume),
        TEST_ENTRY(target_removed_or_readonly_mid_backup),
        TEST_ENTRY(tmpfs_full),
        TEST_ENTRY(options_size_checked), TEST_ENTRY(options_size_repo_forget),
        TEST_ENTRY(backup_without_config_names_it),
        TEST_ENTRY(live_restore_with_conflicts),
        TEST_ENTRY(locks_are_leases),
        TEST_ENTRY(forged_tree_cannot_write_outside_the_target),
        TEST_ENTRY(restore_follows_no_symlinked_folder),
        TEST_ENTRY(unindexed_packs_counted_and_pruned_once),
        TEST_ENTRY(killed_backup_leaves_nothing_the_next_run_keeps),
        TEST_ENTRY(symlinked_folder_in_repository_is_refused),
        TEST_ENTRY(damaged_newest_snapshot_is_never_skipped_in_silence),
        TEST_ENTRY(damaged_index_does_not_stop_a_restore),
        TEST_ENTRY(config_and_key_copies_and_foreign_files),
        TEST_ENTRY(format_1_repository_still_reads),
        TEST_ENTRY(backup_goes_on_past_unreadable_samples),
        TEST_ENTRY(restore_to_full_disk_then_resume),
        TEST_ENTRY(live_restore_metadata_and_edited_files),
        TEST_ENTRY(check_names_the_items_a_damaged_blob_hits),
        TEST_ENTRY(repair_index_fails_when_the_cache_cannot_be_written),
        TEST_ENTRY(parallel_saves_on_several_connections),
        TEST_ENTRY(copy_between_repositories),
        TEST_ENTRY(copy_killed_halfway_resumes),
        TEST_ENTRY(alloc_fail_backup),
        TEST_ENTRY(alloc_fail_repository_reads_are_enomem),
        TEST_END
    };

    return test_run(argc, argv, tests);
}

