/*
 * test_store.c: unit tests of the content-addressed blob store
 * (lib/store/store_int.h): hashing and sharding, write-once blobs,
 * verification of copies, check, walk, remove, and allocation failures.
 */
#include <dirent.h>
#include <fcntl.h>
#include "test.h"
#include "store/store_int.h"

#define ABC_HEX "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define EMPTY_HEX "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* A fresh store in a temporary folder; objects receives its folder. */
static void open_store(shelf__store *st, shelf__err *err, char objects[PATH_MAX])
{
    memset(err, 0, sizeof *err);
    test_pathf(objects, PATH_MAX, "%s/objects", test_tmpdir());
    ASSERT_OKM(err->msg, shelf__store_init(st, objects, err));
    ASSERT_EQ_STR(st->dir, objects);
    ASSERT(test_exists(objects));
}

/* The number of files anywhere under dir (recursively), and of those whose
 * name starts with the temp prefix. */
static void count_files(const char *dir, int *files, int *temps)
{
    DIR *d = opendir(dir);
    struct dirent *de;

    ASSERT(d != NULL);
    while ((de = readdir(d)) != NULL) {
        char p[PATH_MAX];
        struct stat sb;

        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        test_pathf(p, sizeof p, "%s/%s", dir, de->d_name);
        ASSERT(lstat(p, &sb) == 0);
        if (S_ISDIR(sb.st_mode)) {
            count_files(p, files, temps);
        } else {
            (*files)++;
            if (!strncmp(de->d_name, SHELF__STORE_TMP, strlen(SHELF__STORE_TMP)))
                (*temps)++;
        }
    }
    closedir(d);
}

static int nfiles(const char *dir)
{
    int files = 0, temps = 0;

    count_files(dir, &files, &temps);
    return files;
}

static int ntemps(const char *dir)
{
    int files = 0, temps = 0;

    count_files(dir, &files, &temps);
    return temps;
}

static void sha256_hex(const void *data, size_t n, char hex[SHELF_HASH_HEX])
{
    uint8_t h[SHELF_HASH_BYTES];

    shelf__sha256_mem(data, n, h);
    shelf__hex(h, sizeof h, hex);
}

TEST(put_mem_hash_and_path)
{
    char objects[PATH_MAX], hex[SHELF_HASH_HEX], want[PATH_MAX], *path, *data;
    shelf__store st;
    shelf__err err;
    struct stat sb;
    size_t n;

    open_store(&st, &err, objects);
    ASSERT_EQ_INT(shelf__store_has(&st, ABC_HEX), 0);
    ASSERT_OKM(err.msg, shelf__store_put_mem(&st, "abc", 3, hex));
    ASSERT_EQ_STR(hex, ABC_HEX);
    ASSERT_EQ_INT(shelf__store_has(&st, hex), 1);

    path = shelf__store_path(&st, hex);
    test_pathf(want, sizeof want, "%s/ba/78/%s", objects, ABC_HEX);
    ASSERT_EQ_STR(path, want);
    data = test_read_file(path, &n);
    ASSERT_EQ_INT(n, 3);
    ASSERT(memcmp(data, "abc", 3) == 0);
    free(data);

    /* Blobs are write-once: no write bit for anyone. */
    ASSERT(stat(path, &sb) == 0);
    ASSERT(S_ISREG(sb.st_mode));
    ASSERT_EQ_INT(sb.st_mode & 0222, 0);
    ASSERT_EQ_INT(sb.st_mode & 0777, 0444);
    ASSERT_EQ_INT(nfiles(objects), 1);
    shelf_free(path);
    shelf__store_release(&st);
    ASSERT(st.dir == NULL);
}

TEST(put_mem_empty)
{
    char objects[PATH_MAX], hex[SHELF_HASH_HEX];
    shelf__store st;
    shelf__err err;
    uint64_t size = 99;

    open_store(&st, &err, objects);
    ASSERT_OKM(err.msg, shelf__store_put_mem(&st, "", 0, hex));
    ASSERT_EQ_STR(hex, EMPTY_HEX);
    ASSERT_OKM(err.msg, shelf__store_check(&st, hex, &size));
    ASSERT_EQ_INT(size, 0);
    shelf__store_release(&st);
}

TEST(put_mem_again_is_noop)
{
    char objects[PATH_MAX], hex[SHELF_HASH_HEX], hex2[SHELF_HASH_HEX], *path;
    shelf__store st;
    shelf__err err;
    struct stat a, b;

    open_store(&st, &err, objects);
    ASSERT_OKM(err.msg, shelf__store_put_mem(&st, "abc", 3, hex));
    path = shelf__store_path(&st, hex);
    ASSERT(stat(path, &a) == 0);
    ASSERT_OKM(err.msg, shelf__store_put_mem(&st, "abc", 3, hex2));
    ASSERT_EQ_STR(hex2, hex);
    ASSERT(stat(path, &b) == 0);
    /* The same file, not rewritten or replaced. */
    ASSERT_EQ_INT(a.st_ino, b.st_ino);
    ASSERT_EQ_INT(a.st_mtim.tv_sec, b.st_mtim.tv_sec);
    ASSERT_EQ_INT(a.st_mtim.tv_nsec, b.st_mtim.tv_nsec);
    ASSERT_EQ_INT(nfiles(objects), 1);
    /* put_file of the same content is a no-op too. */
    ASSERT_OKM(err.msg, shelf__store_put_file(&st, path, hex));
    ASSERT(stat(path, &b) == 0);
    ASSERT_EQ_INT(a.st_ino, b.st_ino);
    shelf_free(path);
    shelf__store_release(&st);
}

TEST(put_file_copies)
{
    char objects[PATH_MAX], src[PATH_MAX], hex[SHELF_HASH_HEX], *path, *data;
    const size_t n = (3u << 20) + 12345;    /* several copy buffers */
    unsigned char *bytes = malloc(n);
    shelf__store st;
    shelf__err err;
    uint64_t size;
    size_t got, i;

    ASSERT(bytes != NULL);
    for (i = 0; i < n; i++)
        bytes[i] = (unsigned char)(i * 2654435761u >> 13);
    open_store(&st, &err, objects);
    test_pathf(src, sizeof src, "%s/../source.bin", objects);
    test_write_file(src, bytes, n);
    sha256_hex(bytes, n, hex);
    ASSERT_OKM(err.msg, shelf__store_put_file(&st, src, hex));
    ASSERT_EQ_INT(shelf__store_has(&st, hex), 1);
    path = shelf__store_path(&st, hex);
    data = test_read_file(path, &got);
    ASSERT_EQ_INT(got, n);
    ASSERT(memcmp(data, bytes, n) == 0);
    ASSERT_OKM(err.msg, shelf__store_check(&st, hex, &size));
    ASSERT_EQ_INT(size, n);
    ASSERT_EQ_INT(nfiles(objects), 1);
    free(data);
    free(bytes);
    shelf_free(path);
    shelf__store_release(&st);
}

TEST(put_file_wrong_hash)
{
    char objects[PATH_MAX], src[PATH_MAX], wrong[SHELF_HASH_HEX];
    shelf__store st;
    shelf__err err;

    open_store(&st, &err, objects);
    test_pathf(src, sizeof src, "%s/../hello.txt", objects);
    test_write_file(src, "hello", 5);
    /* The hash of other bytes, as if the file changed after hashing. */
    sha256_hex("hellO", 5, wrong);
    ASSERT_RC(SHELF_ECORRUPT, shelf__store_put_file(&st, src, wrong));
    ASSERT_EQ_INT(err.rc, SHELF_ECORRUPT);
    ASSERT(strstr(err.msg, src) != NULL);
    ASSERT_EQ_INT(shelf__store_has(&st, wrong), 0);
    /* No blob and no temp file anywhere in the store. */
    ASSERT_EQ_INT(ntemps(objects), 0);
    ASSERT_EQ_INT(nfiles(objects), 0);
    shelf__store_release(&st);
}

TEST(put_file_missing_source)
{
    char objects[PATH_MAX], src[PATH_MAX];
    shelf__store st;
    shelf__err err;

    open_store(&st, &err, objects);
    test_pathf(src, sizeof src, "%s/../nonexistent", objects);
    ASSERT_RC(SHELF_ENOTFOUND, shelf__store_put_file(&st, src, ABC_HEX));
    ASSERT(strstr(err.msg, "nonexistent") != NULL);
    ASSERT_EQ_INT(nfiles(objects), 0);
    shelf__store_release(&st);
}

TEST(check_detects_damage)
{
    char objects[PATH_MAX], hex[SHELF_HASH_HEX], *path;
    shelf__store st;
    shelf__err err;
    uint64_t size = 0;
    unsigned char c;
    int fd;

    open_store(&st, &err, objects);
    ASSERT_OKM(err.msg, shelf__store_put_mem(&st, "abc", 3, hex));
    ASSERT_OKM(err.msg, shelf__store_check(&st, hex, &size));
    ASSERT_EQ_INT(size, 3);
    ASSERT_OKM(err.msg, shelf__store_check(&st, hex, NULL));

    /* Flip one bit of the middle byte. */
    path = shelf__store_path(&st, hex);
    ASSERT(chmod(path, 0644) == 0);
    ASSERT((fd = open(path, O_RDWR)) >= 0);
    ASSERT(pread(fd, &c, 1, 1) == 1);
    c ^= 0x01;
    ASSERT(pwrite(fd, &c, 1, 1) == 1);
    ASSERT(close(fd) == 0);
    ASSERT_RC(SHELF_ECORRUPT, shelf__store_check(&st, hex, &size));
    ASSERT_EQ_INT(size, 3);
    ASSERT(strstr(err.msg, hex) != NULL);

    /* A missing blob is not found, not corrupt. */
    ASSERT(unlink(path) == 0);
    ASSERT_RC(SHELF_ENOTFOUND, shelf__store_check(&st, hex, &size));
    ASSERT_EQ_INT(size, 0);
    ASSERT_EQ_INT(shelf__store_has(&st, hex), 0);
    shelf_free(path);
    shelf__store_release(&st);
}

typedef struct walk_seen {
    int blobs, strays, abc, xyz;
    int stop_after;     /* stop the walk (return 42) after this many visits */
    int visits;
} walk_seen;

static int on_walk(void *ud, const char *hex, const char *path, uint64_t size)
{
    walk_seen *w = ud;

    ASSERT(path != NULL && path[0] == '/');
    w->visits++;
    if (hex) {
        const char *base = strrchr(path, '/') + 1;

        ASSERT_EQ_STR(base, hex);
        w->blobs++;
        if (!strcmp(hex, ABC_HEX)) {
            w->abc++;
            ASSERT_EQ_INT(size, 3);
        }
    } else {
        w->strays++;
        if (strstr(path, "/" SHELF__STORE_TMP "xyz")) {
            w->xyz++;
            ASSERT_EQ_INT(size, 4);
        }
    }
    return w->stop_after && w->visits == w->stop_after ? 42 : 0;
}

TEST(walk_lists_blobs_and_strays)
{
    char objects[PATH_MAX], hex[SHELF_HASH_HEX], hex2[SHELF_HASH_HEX], stray[PATH_MAX];
    shelf__store st;
    shelf__err err;
    walk_seen w;

    open_store(&st, &err, objects);
    /* An empty store walks to nothing. */
    memset(&w, 0, sizeof w);
    ASSERT_OKM(err.msg, shelf__store_walk(&st, on_walk, &w));
    ASSERT_EQ_INT(w.visits, 0);

    ASSERT_OKM(err.msg, shelf__store_put_mem(&st, "abc", 3, hex));
    ASSERT_OKM(err.msg, shelf__store_put_mem(&st, "another blob", 12, hex2));
    /* A temp file left by a crash, in the shard folder of "abc". */
    test_pathf(stray, sizeof stray, "%s/ba/78/" SHELF__STORE_TMP "xyz-123456", objects);
    test_write_file(stray, "junk", 4);

    memset(&w, 0, sizeof w);
    ASSERT_OKM(err.msg, shelf__store_walk(&st, on_walk, &w));
    ASSERT_EQ_INT(w.blobs, 2);
    ASSERT_EQ_INT(w.abc, 1);
    ASSERT_EQ_INT(w.strays, 1);
    ASSERT_EQ_INT(w.xyz, 1);

    /* A non-zero return from the callback stops the walk and is returned. */
    memset(&w, 0, sizeof w);
    w.stop_after = 1;
    ASSERT_EQ_INT(shelf__store_walk(&st, on_walk, &w), 42);
    ASSERT_EQ_INT(w.visits, 1);
    shelf__store_release(&st);
}

TEST(remove_blob)
{
    char objects[PATH_MAX], hex[SHELF_HASH_HEX], *path;
    shelf__store st;
    shelf__err err;

    open_store(&st, &err, objects);
    ASSERT_OKM(err.msg, shelf__store_put_mem(&st, "abc", 3, hex));
    path = shelf__store_path(&st, hex);
    ASSERT_OKM(err.msg, shelf__store_remove(&st, hex));
    ASSERT(!test_exists(path));
    ASSERT_EQ_INT(shelf__store_has(&st, hex), 0);
    /* Removing what is absent is not an error. */
    ASSERT_OKM(err.msg, shelf__store_remove(&st, hex));
    ASSERT_OKM(err.msg, shelf__store_remove(&st, EMPTY_HEX));
    /* And the blob can be stored again. */
    ASSERT_OKM(err.msg, shelf__store_put_mem(&st, "abc", 3, hex));
    ASSERT(test_exists(path));
    shelf_free(path);
    shelf__store_release(&st);
}

/*
 * Fail each allocation of put_mem and put_file in turn: every failure is
 * SHELF_ENOMEM and leaves neither a blob nor a temp file.  (A failed
 * allocation inside shelf__store_has() reads as "absent", so some runs
 * succeed; the blob is removed after each to start afresh.)
 */
TEST(alloc_failures)
{
    char objects[PATH_MAX], src[PATH_MAX], hex[SHELF_HASH_HEX], want[SHELF_HASH_HEX];
    shelf__store st;
    shelf__err err;
    int n, rc, failed = 0;

    open_store(&st, &err, objects);
    for (n = 1; n <= 30; n++) {
        shelf__alloc_fail_after(n);
        rc = shelf__store_put_mem(&st, "abc", 3, hex);
        shelf__alloc_fail_after(0);
        if (rc == SHELF_OK) {
            ASSERT_EQ_INT(shelf__store_has(&st, ABC_HEX), 1);
            ASSERT_OKM(err.msg, shelf__store_remove(&st, ABC_HEX));
        } else {
            ASSERT_RC(SHELF_ENOMEM, rc);
            failed++;
        }
        ASSERT_EQ_INT(nfiles(objects), 0);
    }
    ASSERT(failed > 0);

    test_pathf(src, sizeof src, "%s/../src.bin", objects);
    test_write_file(src, "file bytes", 10);
    sha256_hex("file bytes", 10, want);
    for (failed = 0, n = 1; n <= 30; n++) {
        shelf__alloc_fail_after(n);
        rc = shelf__store_put_file(&st, src, want);
        shelf__alloc_fail_after(0);
        if (rc == SHELF_OK) {
            ASSERT_EQ_INT(shelf__store_has(&st, want), 1);
            ASSERT_OKM(err.msg, shelf__store_remove(&st, want));
        } else {
            ASSERT_RC(SHELF_ENOMEM, rc);
            failed++;
        }
        ASSERT_EQ_INT(nfiles(objects), 0);
    }
    ASSERT(failed > 0);
    shelf__store_release(&st);
}

/* Put a blob into a store whose folder is read-only, as nobody (root
 * ignores folder permissions): 0 when it is refused as it should be. */
struct put_denied_arg {
    shelf__store *st;
    shelf__err *err;
};

static int put_denied_child(void *p)
{
    struct put_denied_arg *a = p;
    char hex[SHELF_HASH_HEX];
    int rc = shelf__store_put_mem(a->st, "abc", 3, hex);

    return rc == SHELF_EPERM && strstr(a->err->msg, "permission denied") ? 0 : 1;
}

static int put_denied(shelf__store *st, shelf__err *err, const char *objects)
{
    struct put_denied_arg a = { st, err };
    char dir[PATH_MAX];

    /* nobody must reach the folder to be refused by it */
    test_pathf(dir, sizeof dir, "%s", objects);
    *strrchr(dir, '/') = '\0';
    ASSERT(chmod(dir, 0755) == 0);
    return test_as_nobody(put_denied_child, &a);
}

/* A blob store whose shard folders cannot be created reports the error
 * and leaves nothing behind. */
TEST(put_into_readonly_store)
{
    char objects[PATH_MAX];
    shelf__store st;
    shelf__err err;

    open_store(&st, &err, objects);
    ASSERT(chmod(objects, 0555) == 0);
    ASSERT_EQ_INT(put_denied(&st, &err, objects), 0);
    ASSERT(chmod(objects, 0755) == 0);
    ASSERT_EQ_INT(nfiles(objects), 0);
    shelf__store_release(&st);
}

int main(int argc, char **argv)
{
    static const test_case tests[] = {
        TEST_ENTRY(put_mem_hash_and_path),
        TEST_ENTRY(put_mem_empty),
        TEST_ENTRY(put_mem_again_is_noop),
        TEST_ENTRY(put_file_copies),
        TEST_ENTRY(put_file_wrong_hash),
        TEST_ENTRY(put_file_missing_source),
        TEST_ENTRY(check_detects_damage),
        TEST_ENTRY(walk_lists_blobs_and_strays),
        TEST_ENTRY(remove_blob),
        TEST_ENTRY(alloc_failures),
        TEST_ENTRY(put_into_readonly_store),
        TEST_END
    };

    return test_run(argc, argv, tests);
}
