/*
 * test_device.c: device identity (lib/sync/identity.c) and QR codes
 * (lib/sync/qr.c).  Device ids are checked against Syncthing's own (the
 * syncthing program makes a certificate and prints its id), the
 * certificate against openssl(1), the PNG QR code against zbarimg.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "test.h"
#include "libs.h"
#include "shelf/sync.h"
#include "common/common_int.h"
#include "sync/sync_int.h"

static const char canonical[] = "P56IOI7-MZJNU2Y-IQGDREY-DM2MGTI-MGL3BXN-PQ6W5BM-TBBZ4TJ-XZWICQ2";

static int have(const char *prog)
{
    char cmd[256];

    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", prog);
    return system(cmd) == 0;
}

/* The first line of a command's output that starts with prefix, after it. */
static int run_line(const char *cmd, const char *prefix, char *out, size_t n)
{
    FILE *p = popen(cmd, "r");
    char line[1024];
    int found = 0;

    ASSERT(p != NULL);
    while (fgets(line, sizeof line, p))
        if (!found && !strncmp(line, prefix, strlen(prefix))) {
            line[strcspn(line, "\r\n")] = '\0';
            snprintf(out, n, "%s", line + strlen(prefix));
            found = 1;
        }
    pclose(p);
    return found;
}

#define new_lib(dir) test_lib_open((dir), SHELF_OPEN_CREATE)

/* The forms Syncthing's tests accept for one id: all the same bytes. */
TEST(parse_forms_and_format_back)
{
    static const char *const forms[] = {
        "P56IOI7-MZJNU2Y-IQGDREY-DM2MGTI-MGL3BXN-PQ6W5BM-TBBZ4TJ-XZWICQ2",
        "P56IOI7 MZJNU2Y IQGDREY DM2MGTI MGL3BXN PQ6W5BM TBBZ4TJ XZWICQ2",
        "P56IOI7MZJNU2YIQGDREYDM2MGTIMGL3BXNPQ6W5BMTBBZ4TJXZWICQ2",
        "p56ioi7mzjnu2yiqgdreydm2mgtimgl3bxnpq6w5bmtbbz4tjxzwicq2",
        "P561017MZJNU2YIQGDREYDM2MGTIMGL3BXNPQ6W5BMT88Z4TJXZWICQ2",   /* 0 1 8 typed for O I B */
        "P56IOI7MZJNU2IQGDREYDM2MGTMGL3BXNPQ6W5BTBBZ4TJXZWICQ",       /* no check characters */
        "p56ioi7mzjnu2iqgdreydm2mgtmgl3bxnpq6w5btbbz4tjxzwicq",
    };
    unsigned char a[32], b[32];
    char text[SHELF_DEVICE_ID_LEN + 1];
    size_t i;

    ASSERT_OK(shelf_device_id_parse(canonical, a));
    shelf_device_id_format(a, text);
    ASSERT_EQ_STR(text, canonical);
    for (i = 0; i < sizeof forms / sizeof *forms; i++) {
        memset(b, 0, sizeof b);
        ASSERT_OK(shelf_device_id_parse(forms[i], b));
        ASSERT(memcmp(a, b, 32) == 0);
    }
}

TEST(parse_refuses_what_is_not_an_id)
{
    unsigned char b[32];
    char bad[80];

    /* one check character wrong, in each group */
    for (size_t g = 0; g < 4; g++) {
        snprintf(bad, sizeof bad, "%s", canonical);
        /* group g's check character: position 14g+13 of the 56, dashes every 7 */
        size_t pos = g * 14 + 13, at = pos + pos / 7;
        bad[at] = bad[at] == 'A' ? 'B' : 'A';
        ASSERT_RC(SHELF_EINVAL, shelf_device_id_parse(bad, b));
    }
    ASSERT_RC(SHELF_EINVAL, shelf_device_id_parse("", b));
    ASSERT_RC(SHELF_EINVAL, shelf_device_id_parse(NULL, b));
    ASSERT_RC(SHELF_EINVAL, shelf_device_id_parse("P56IOI7-MZJNU2Y", b));
    snprintf(bad, sizeof bad, "%sA", canonical);
    ASSERT_RC(SHELF_EINVAL, shelf_device_id_parse(bad, b));
    snprintf(bad, sizeof bad, "%s", canonical);
    bad[3] = '9';   /* not in the alphabet */
    ASSERT_RC(SHELF_EINVAL, shelf_device_id_parse(bad, b));
    bad[3] = '\xc3';
    ASSERT_RC(SHELF_EINVAL, shelf_device_id_parse(bad, b));
}

TEST(random_ids_round_trip)
{
    uint64_t seed = (uint64_t)time(NULL) * 2654435761u, x;
    unsigned char a[32], b[32];
    char text[SHELF_DEVICE_ID_LEN + 1];
    int i, k;

    printf("seed %llu\n", (unsigned long long)seed);
    x = seed | 1;
    for (i = 0; i < 2000; i++) {
        for (k = 0; k < 32; k++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            a[k] = (unsigned char)x;
        }
        if (i == 0)
            memset(a, 0, 32);
        if (i == 1)
            memset(a, 0xff, 32);
        shelf_device_id_format(a, text);
        ASSERT_EQ_INT(strlen(text), SHELF_DEVICE_ID_LEN);
        ASSERT_OK(shelf_device_id_parse(text, b));
        ASSERT(memcmp(a, b, 32) == 0);
    }
}

/* Syncthing as the oracle: the id it prints for the certificate it made. */
TEST(ids_match_syncthing)
{
    int i;

    if (!have("syncthing"))
        TEST_SKIP("syncthing is not installed (scripts/install-deps installs it)");
    for (i = 0; i < 8; i++) {
        const char *home = test_tmpdir();
        char cmd[4200], want[128], got[SHELF_DEVICE_ID_LEN + 1], path[4200], *pem;
        size_t n;

        snprintf(cmd, sizeof cmd, "syncthing generate --home='%s' --no-default-folder 2>&1", home);
        ASSERT(run_line(cmd, "Device ID: ", want, sizeof want));
        pem = test_read_file(test_pathf(path, sizeof path, "%s/cert.pem", home), &n);
        ASSERT_OK(shelf_device_id_of_cert(pem, n, got));
        ASSERT_EQ_STR(got, want);
        free(pem);
    }
    ASSERT_RC(SHELF_EFORMAT, shelf_device_id_of_cert("not a certificate", 17, (char[64]){ 0 }));
}

TEST(identity_is_made_once_and_kept)
{
    const char *dir = test_tmpdir();
    shelf_library *lib = new_lib(dir);
    shelf_device_info a = { .size = sizeof a }, b = { .size = sizeof b };
    char path[4200], cmd[8600], id[SHELF_DEVICE_ID_LEN + 1], *pem;
    struct stat st;
    size_t n;

    ASSERT_OKL(lib, shelf_device_self(lib, &a));
    ASSERT_EQ_INT(a.size, sizeof a);
    ASSERT_EQ_INT(strlen(a.id), SHELF_DEVICE_ID_LEN);
    ASSERT_EQ_STR(a.key_type, "ed25519");
    ASSERT(a.name[0] != '\0');
    ASSERT(a.created > 0);
    ASSERT_OKL(lib, shelf_device_self(lib, &b));
    ASSERT_EQ_STR(a.id, b.id);
    shelf_library_close(lib);
    lib = new_lib(dir);
    ASSERT_OKL(lib, shelf_device_self(lib, &b));
    ASSERT_EQ_STR(a.id, b.id);
    shelf_library_close(lib);

    /* the files: key 0600 in a 0700 folder, the id is the certificate's */
    ASSERT(stat(test_pathf(path, sizeof path, "%s/device/key.pem", dir), &st) == 0);
    ASSERT_EQ_INT(st.st_mode & 0777, 0600);
    ASSERT(stat(test_pathf(path, sizeof path, "%s/device", dir), &st) == 0);
    ASSERT_EQ_INT(st.st_mode & 0777, 0700);
    pem = test_read_file(test_pathf(path, sizeof path, "%s/device/cert.pem", dir), &n);
    ASSERT_OK(shelf_device_id_of_cert(pem, n, id));
    ASSERT_EQ_STR(id, a.id);
    free(pem);

    /* openssl(1): a self-signed Ed25519 certificate that verifies */
    snprintf(cmd, sizeof cmd, "openssl verify -CAfile '%s/device/cert.pem' '%s/device/cert.pem' 2>&1",
             dir, dir);
    ASSERT(run_line(cmd, dir, id, sizeof id));
    ASSERT_EQ_STR(id, "/device/cert.pem: OK");
    snprintf(cmd, sizeof cmd, "openssl x509 -in '%s/device/cert.pem' -noout -text", dir);
    ASSERT(run_line(cmd, "        Signature Algorithm: ", id, sizeof id));
    ASSERT_EQ_STR(id, "ED25519");
    snprintf(cmd, sizeof cmd, "openssl pkey -in '%s/device/key.pem' -noout -text 2>&1", dir);
    ASSERT(run_line(cmd, "ED25519 Private-Key", id, sizeof id));
}

TEST(older_struct_gets_no_more_than_its_size)
{
    const char *dir = test_tmpdir();
    shelf_library *lib = new_lib(dir);
    unsigned char buf[sizeof(shelf_device_info) + 64];
    size_t small = offsetof(shelf_device_info, name), i;
    shelf_device_info *d = (shelf_device_info *)buf;

    memset(buf, 0xa5, sizeof buf);
    memcpy(buf, &small, sizeof small);
    ASSERT_OKL(lib, shelf_device_self(lib, d));
    ASSERT_EQ_INT(d->size, small);
    ASSERT_EQ_INT(strlen(d->id), SHELF_DEVICE_ID_LEN);
    for (i = small; i < sizeof buf; i++)
        ASSERT_EQ_INT(buf[i], 0xa5);
    d->size = 0;
    ASSERT_RC(SHELF_EINVAL, shelf_device_self(lib, d));
    shelf_library_close(lib);
}

TEST(read_only_library_gets_no_identity)
{
    const char *dir = test_tmpdir();
    shelf_library *lib = new_lib(dir);
    shelf_device_info d = { .size = sizeof d };
    char path[4200], *msg = NULL;
    struct stat st;

    shelf_library_close(lib);
    ASSERT_OKM(msg ? msg : "", shelf_library_open(dir, SHELF_OPEN_READONLY, &lib, &msg));
    ASSERT_RC(SHELF_EPERM, shelf_device_self(lib, &d));
    ASSERT(strstr(shelf_errmsg(lib), "read-only") != NULL);
    ASSERT_RC(SHELF_EPERM, shelf_device_rename(lib, "x"));
    shelf_library_close(lib);
    ASSERT(stat(test_pathf(path, sizeof path, "%s/device", dir), &st) != 0);

    /* made while writable, then read while read-only */
    lib = new_lib(dir);
    ASSERT_OKL(lib, shelf_device_self(lib, &d));
    shelf_library_close(lib);
    ASSERT_OKM(msg ? msg : "", shelf_library_open(dir, SHELF_OPEN_READONLY, &lib, &msg));
    ASSERT_OKL(lib, shelf_device_self(lib, &d));
    shelf_library_close(lib);
}

TEST(damaged_identity_is_an_error_naming_the_file)
{
    const char *dir = test_tmpdir(), *other = test_tmpdir();
    shelf_library *lib = new_lib(dir), *lib2 = new_lib(other);
    shelf_device_info d = { .size = sizeof d };
    char path[4200], path2[4200], *pem;
    size_t n;

    char *own;
    size_t ownn;

    ASSERT_OKL(lib, shelf_device_self(lib, &d));
    ASSERT_OKL(lib2, shelf_device_self(lib2, &d));
    shelf_library_close(lib2);
    own = test_read_file(test_pathf(path, sizeof path, "%s/device/key.pem", dir), &ownn);

    /* another device's key beside this certificate */
    pem = test_read_file(test_pathf(path2, sizeof path2, "%s/device/key.pem", other), &n);
    test_write_file(path, pem, n);
    free(pem);
    ASSERT_RC(SHELF_ECORRUPT, shelf_device_self(lib, &d));
    ASSERT(strstr(shelf_errmsg(lib), "is not the Ed25519 key of") != NULL);

    test_write_file(path, "-----BEGIN PRIVATE KEY-----\nAAAA\n", 33);
    ASSERT_RC(SHELF_ECORRUPT, shelf_device_self(lib, &d));
    ASSERT(strstr(shelf_errmsg(lib), "key.pem") != NULL);

    ASSERT(unlink(path) == 0);
    ASSERT_RC(SHELF_ECORRUPT, shelf_device_self(lib, &d));
    ASSERT(strstr(shelf_errmsg(lib), "key.pem") != NULL);

    /* the key back; device.json from a newer shelf, then not JSON */
    test_write_file(path, own, ownn);
    free(own);
    ASSERT_OKL(lib, shelf_device_self(lib, &d));
    test_pathf(path2, sizeof path2, "%s/device/device.json", dir);
    test_write_file(path2, "{\"version\": 9, \"name\": \"x\", \"created\": 1}", 41);
    ASSERT_RC(SHELF_EVERSION, shelf_device_self(lib, &d));
    test_write_file(path2, "{\"version\": 1,", 14);
    ASSERT_RC(SHELF_ECORRUPT, shelf_device_self(lib, &d));
    ASSERT(strstr(shelf_errmsg(lib), "device.json") != NULL);
    shelf_library_close(lib);
}

/* Eight processes making the identity of one new library at once end with
 * one identity, the same for all, and no temporary folder left. */
TEST(racing_processes_agree)
{
    const char *dir = test_tmpdir();
    shelf_library *lib = new_lib(dir);
    char ids[8][SHELF_DEVICE_ID_LEN + 1], path[4200];
    int fds[8][2], i, status;
    pid_t pid[8];
    DIR *dp;
    struct dirent *de;

    shelf_library_close(lib);
    for (i = 0; i < 8; i++) {
        ASSERT(pipe(fds[i]) == 0);
        pid[i] = fork();
        ASSERT(pid[i] >= 0);
        if (pid[i] == 0) {
            shelf_device_info d = { .size = sizeof d };
            shelf_library *l = NULL;

            if (shelf_library_open(dir, 0, &l, NULL) != SHELF_OK || shelf_device_self(l, &d) != SHELF_OK)
                _exit(1);
            _exit(write(fds[i][1], d.id, SHELF_DEVICE_ID_LEN) == SHELF_DEVICE_ID_LEN ? 0 : 2);
        }
        close(fds[i][1]);
    }
    for (i = 0; i < 8; i++) {
        ASSERT(waitpid(pid[i], &status, 0) == pid[i]);
        ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        ASSERT_EQ_INT(read(fds[i][0], ids[i], SHELF_DEVICE_ID_LEN), SHELF_DEVICE_ID_LEN);
        ids[i][SHELF_DEVICE_ID_LEN] = '\0';
        close(fds[i][0]);
        ASSERT_EQ_STR(ids[i], ids[0]);
    }
    ASSERT((dp = opendir(dir)) != NULL);
    while ((de = readdir(dp)))
        ASSERT(strncmp(de->d_name, "device.tmp", 10) != 0);
    closedir(dp);
    (void)path;
}

TEST(rename_checks_and_keeps_the_id)
{
    const char *dir = test_tmpdir();
    shelf_library *lib = new_lib(dir);
    shelf_device_info a = { .size = sizeof a }, b = { .size = sizeof b };
    char longname[300];

    ASSERT_OKL(lib, shelf_device_self(lib, &a));
    ASSERT_OKL(lib, shelf_device_rename(lib, "Stage rig \xf0\x9f\x8e\xb9 \xe8\x88\x9e\xe5\x8f\xb0"));
    ASSERT_OKL(lib, shelf_device_self(lib, &b));
    ASSERT_EQ_STR(b.name, "Stage rig \xf0\x9f\x8e\xb9 \xe8\x88\x9e\xe5\x8f\xb0");
    ASSERT_EQ_STR(b.id, a.id);
    ASSERT_EQ_INT(b.created, a.created);
    ASSERT_RC(SHELF_EINVAL, shelf_device_rename(lib, ""));
    ASSERT_RC(SHELF_EINVAL, shelf_device_rename(lib, "two\nlines"));
    ASSERT_RC(SHELF_EINVAL, shelf_device_rename(lib, "bad \xff byte"));
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    ASSERT_RC(SHELF_EINVAL, shelf_device_rename(lib, longname));
    ASSERT(strstr(shelf_errmsg(lib), "invalid device name") != NULL);
    ASSERT_OKL(lib, shelf_device_self(lib, &b));
    ASSERT_EQ_STR(b.name, "Stage rig \xf0\x9f\x8e\xb9 \xe8\x88\x9e\xe5\x8f\xb0");
    shelf_library_close(lib);
}

/* A failed allocation at any point: an error, never a half identity; the
 * next call makes a good one. */
TEST(alloc_failure)
{
    const char *dir = test_tmpdir();
    shelf_library *lib = new_lib(dir);
    shelf_device_info d = { .size = sizeof d };
    char path[4200];
    long nth;
    int rc, failed = 0;

    for (nth = 1; nth < 400; nth++) {
        (void)shelf__rmtree(test_pathf(path, sizeof path, "%s/device", dir));
        shelf__alloc_fail_after(nth);
        rc = shelf_device_self(lib, &d);
        shelf__alloc_fail_after(0);
        if (rc == SHELF_OK)
            break;
        if (rc != SHELF_ENOMEM)
            printf("allocation %ld: %s\n", nth, shelf_errmsg(lib));
        ASSERT_RC(SHELF_ENOMEM, rc);
        failed++;
        ASSERT_OKL(lib, shelf_device_self(lib, &d));   /* whatever was left, it recovers */
    }
    ASSERT(failed > 3);
    ASSERT(nth < 400);
    shelf_library_close(lib);
}

TEST(qr_png_decodes_to_the_text)
{
    const char *dir = test_tmpdir();
    static const char *const texts[] = {
        "P56IOI7-MZJNU2Y-IQGDREY-DM2MGTI-MGL3BXN-PQ6W5BM-TBBZ4TJ-XZWICQ2",
        "shelf-invite:1:P56IOI7-MZJNU2Y-IQGDREY-DM2MGTI-MGL3BXN-PQ6W5BM-TBBZ4TJ-XZWICQ2:"
        "192.168.1.20:22000:c2VjcmV0",
    };
    unsigned char *out;
    size_t n, i;
    char *msg, path[4200], cmd[4400], got[512];

    if (!have("zbarimg"))
        TEST_SKIP("zbarimg is not installed (scripts/install-deps installs zbar-tools)");
    for (i = 0; i < sizeof texts / sizeof *texts; i++) {
        ASSERT_OKM(msg ? msg : "", shelf_qr_render(texts[i], SHELF_QR_PNG, &out, &n, &msg));
        ASSERT(n > 8 && memcmp(out, "\x89PNG", 4) == 0);
        test_write_file(test_pathf(path, sizeof path, "%s/qr%zu.png", dir, i), out, n);
        shelf_free(out);
        snprintf(cmd, sizeof cmd, "zbarimg -q --raw '%s' 2>/dev/null | sed 's/^/T:/'", path);
        ASSERT(run_line(cmd, "T:", got, sizeof got));
        ASSERT_EQ_STR(got, texts[i]);
    }
}

TEST(qr_text_is_half_blocks)
{
    unsigned char *out;
    size_t n, lines = 0, i;
    char *msg = NULL, big[1100];

    ASSERT_OKM(msg ? msg : "", shelf_qr_render(canonical, SHELF_QR_TEXT, &out, &n, &msg));
    for (i = 0; i < n; i++) {
        if (out[i] == '\n')
            lines++;
        else if (out[i] == ' ')
            continue;
        else {
            /* U+2580, U+2584 or U+2588 */
            ASSERT(i + 2 < n && out[i] == 0xe2 && out[i + 1] == 0x96 &&
                   (out[i + 2] == 0x80 || out[i + 2] == 0x84 || out[i + 2] == 0x88));
            i += 2;
        }
    }
    /* 63 bytes at level M: a version 5 code (37 modules), two of quiet zone
     * per side: 41 rows, two a line */
    ASSERT_EQ_INT(lines, 21);
    shelf_free(out);
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ASSERT_RC(SHELF_EINVAL, shelf_qr_render(big, SHELF_QR_TEXT, &out, &n, &msg));
    ASSERT(msg && strstr(msg, "longer than 1024"));
    shelf_free(msg);
    ASSERT_RC(SHELF_EINVAL, shelf_qr_render("x", 9, &out, &n, NULL));
}

static int collect(void *ud, const shelf_peer *p)
{
    char *out = ud;
    size_t n = strlen(out);

    snprintf(out + n, 4096 - n, "%s=%s%s;", p->name, p->id, p->revoked ? "(removed)" : "");
    return 0;
}

static int stop_at_first(void *ud, const shelf_peer *p)
{
    (void)ud;
    (void)p;
    return 42;
}

TEST(pairing_add_list_rename_remove)
{
    const char *da = test_tmpdir(), *db = test_tmpdir(), *dc = test_tmpdir();
    shelf_library *a = new_lib(da), *b = new_lib(db), *c = new_lib(dc);
    shelf_device_info ia = { .size = sizeof ia }, ib = { .size = sizeof ib }, ic = { .size = sizeof ic };
    shelf_peer p = { .size = sizeof p };
    char list[4096] = "", want[4096], lower[SHELF_DEVICE_ID_LEN + 1];
    size_t i;

    ASSERT_OKL(a, shelf_device_self(a, &ia));
    ASSERT_OKL(b, shelf_device_self(b, &ib));
    ASSERT_OKL(c, shelf_device_self(c, &ic));

    /* typed in lower case: stored canonical */
    for (i = 0; ib.id[i]; i++)
        lower[i] = (char)(ib.id[i] >= 'A' && ib.id[i] <= 'Z' ? ib.id[i] + 32 : ib.id[i]);
    lower[i] = '\0';
    ASSERT_OKL(a, shelf_device_add(a, lower, "Laptop \xf0\x9f\x92\xbb"));
    ASSERT_OKL(a, shelf_device_add(a, ic.id, NULL));
    ASSERT_OKL(a, shelf_device_list(a, 0, collect, list));
    /* by name: c's name is the first group of its id (upper case and
     * digits, which sort before "Laptop" unless it starts with M-Z) */
    if (strncmp(ic.id, "Laptop", 7) < 0)
        snprintf(want, sizeof want, "%.7s=%s;Laptop \xf0\x9f\x92\xbb=%s;", ic.id, ic.id, ib.id);
    else
        snprintf(want, sizeof want, "Laptop \xf0\x9f\x92\xbb=%s;%.7s=%s;", ib.id, ic.id, ic.id);
    ASSERT_EQ_STR(list, want);
    ASSERT_RC(42, shelf_device_list(a, 0, stop_at_first, NULL));

    ASSERT_OKL(a, shelf_device_lookup(a, ib.id, &p));
    ASSERT_EQ_STR(p.id, ib.id);
    ASSERT_EQ_INT(p.revoked, 0);
    ASSERT(p.added > 0);

    /* refusals */
    ASSERT_RC(SHELF_EEXIST, shelf_device_add(a, ib.id, "again"));
    ASSERT(strstr(shelf_errmsg(a), "already paired") != NULL);
    ASSERT_RC(SHELF_EINVAL, shelf_device_add(a, ia.id, "me"));
    ASSERT(strstr(shelf_errmsg(a), "this device") != NULL);
    ASSERT_RC(SHELF_EINVAL, shelf_device_add(a, "not-an-id", "x"));
    ASSERT_RC(SHELF_EINVAL, shelf_device_add(a, ic.id, "bad\nname"));
    ASSERT_RC(SHELF_ENOTFOUND, shelf_device_lookup(a, ia.id, NULL));   /* itself: not a peer */

    /* a session's hello says the peer's library: found by it */
    p.size = sizeof p;
    ASSERT_RC(SHELF_EINVAL, shelf_device_by_library(a, "0123", &p));
    ASSERT_RC(SHELF_EINVAL, shelf_device_by_library(a, "0123456789ABCDEF0123456789abcdef", &p));
    ASSERT_RC(SHELF_ENOTFOUND, shelf_device_by_library(a, shelf_library_id(b), &p));
    ASSERT_OKL(a, shelf_device_lookup(a, ib.id, &p));
    ASSERT_EQ_STR(p.library, "");
    ASSERT_OKL(a, shelf__device_seen(a, ib.id, NULL, shelf_library_id(b)));
    memset(&p, 0, sizeof p);
    p.size = sizeof p;
    ASSERT_OKL(a, shelf_device_by_library(a, shelf_library_id(b), &p));
    ASSERT_EQ_STR(p.id, ib.id);
    ASSERT_EQ_STR(p.library, shelf_library_id(b));
    ASSERT_OKL(a, shelf__device_seen(a, ib.id, "127.0.0.1:22700", NULL));    /* kept when not said */
    ASSERT_OKL(a, shelf_device_lookup(a, ib.id, &p));
    ASSERT_EQ_STR(p.library, shelf_library_id(b));

    /* rename, then remove: refused from then on, listed only with all */
    ASSERT_OKL(a, shelf_device_peer_rename(a, ib.id, "Home laptop"));
    ASSERT_OKL(a, shelf_device_lookup(a, ib.id, &p));
    ASSERT_EQ_STR(p.name, "Home laptop");
    ASSERT_OKL(a, shelf_device_remove(a, ib.id));
    ASSERT_RC(SHELF_EPERM, shelf_device_lookup(a, ib.id, &p));
    ASSERT(strstr(shelf_errmsg(a), "was removed") != NULL);
    ASSERT_RC(SHELF_ENOTFOUND, shelf_device_remove(a, ib.id));
    ASSERT_RC(SHELF_ENOTFOUND, shelf_device_peer_rename(a, ib.id, "x"));
    ASSERT_RC(SHELF_ENOTFOUND, shelf_device_by_library(a, shelf_library_id(b), &p));
    list[0] = '\0';
    ASSERT_OKL(a, shelf_device_list(a, 0, collect, list));
    ASSERT(strstr(list, ib.id) == NULL);
    list[0] = '\0';
    ASSERT_OKL(a, shelf_device_list(a, 1, collect, list));
    snprintf(want, sizeof want, "Home laptop=%s(removed);", ib.id);
    ASSERT(strstr(list, want) != NULL);

    /* paired again */
    ASSERT_OKL(a, shelf_device_add(a, ib.id, "Laptop"));
    ASSERT_OKL(a, shelf_device_lookup(a, ib.id, &p));
    ASSERT_EQ_INT(p.revoked, 0);
    ASSERT_EQ_STR(p.name, "Laptop");
    ASSERT_OKL(a, shelf_device_by_library(a, shelf_library_id(b), &p));
    ASSERT_EQ_STR(p.name, "Laptop");

    /* kept across a reopen */
    shelf_library_close(a);
    a = new_lib(da);
    ASSERT_OKL(a, shelf_device_lookup(a, ic.id, NULL));
    shelf_library_close(a);
    shelf_library_close(b);
    shelf_library_close(c);
}

TEST(pairing_on_a_read_only_library)
{
    const char *dir = test_tmpdir(), *other = test_tmpdir();
    shelf_library *lib = new_lib(dir), *o = new_lib(other);
    shelf_device_info d = { .size = sizeof d };
    char *msg = NULL;

    ASSERT_OKL(o, shelf_device_self(o, &d));
    shelf_library_close(o);
    ASSERT_OKL(lib, shelf_device_add(lib, d.id, "peer"));
    shelf_library_close(lib);
    ASSERT_OKM(msg ? msg : "", shelf_library_open(dir, SHELF_OPEN_READONLY, &lib, &msg));
    ASSERT_OKL(lib, shelf_device_lookup(lib, d.id, NULL));
    ASSERT_RC(SHELF_EPERM, shelf_device_remove(lib, d.id));
    ASSERT_RC(SHELF_EPERM, shelf_device_peer_rename(lib, d.id, "x"));
    shelf_library_close(lib);
}

TEST(hlc_basics)
{
    shelf__hlc c = { 0 };
    uint64_t t1, t2, t3, r;

    t1 = shelf__hlc_send(&c, 1000);
    ASSERT_EQ_INT(t1, shelf__hlc_pack(1000, 0));
    t2 = shelf__hlc_send(&c, 1000);             /* same millisecond: the counter */
    ASSERT_EQ_INT(t2, shelf__hlc_pack(1000, 1));
    t3 = shelf__hlc_send(&c, 500);              /* the wall clock went back */
    ASSERT_EQ_INT(t3, shelf__hlc_pack(1000, 2));
    ASSERT_EQ_INT(shelf__hlc_send(&c, 2000), shelf__hlc_pack(2000, 0));
    /* a full counter carries into the next millisecond */
    c.last = shelf__hlc_pack(3000, 0xffff);
    ASSERT_EQ_INT(shelf__hlc_send(&c, 3000), shelf__hlc_pack(3001, 0));
    /* a received time ahead of us (within the skew) moves us past it */
    c.last = shelf__hlc_pack(4000, 0);
    ASSERT_OK(shelf__hlc_recv(&c, shelf__hlc_pack(4500, 7), 4100, 1000, &r));
    ASSERT_EQ_INT(r, shelf__hlc_pack(4500, 8));
    /* one more than a day ahead is refused and changes nothing */
    ASSERT_RC(SHELF_EINVAL, shelf__hlc_recv(&c, shelf__hlc_pack(4100 + 86400001, 0), 4100, 86400000, &r));
    ASSERT_EQ_INT(c.last, shelf__hlc_pack(4500, 8));
}

/* Three devices with wall clocks that drift and jump back, sending each
 * other messages at random: every device's times only grow, every receipt
 * is after its send, and no time runs ahead of the largest wall clock seen
 * by more than the logical carries. */
TEST(hlc_random_devices)
{
    uint64_t seed = (uint64_t)time(NULL) * 40503u + 7, x;
    shelf__hlc c[3] = { { 0 }, { 0 }, { 0 } };
    uint64_t wall[3] = { 1000000, 1000000, 1000000 }, last[3] = { 0, 0, 0 }, maxwall = 1000000;
    uint64_t inflight[64];
    int from[64], n = 0, i;

    printf("seed %llu\n", (unsigned long long)seed);
    x = seed | 1;
    for (i = 0; i < 200000; i++) {
        int d, op;
        uint64_t t;

        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        d = (int)(x % 3);
        op = (int)((x >> 8) % 10);
        /* the wall clock: mostly forward, sometimes back by up to 5 s */
        if (op == 0 && wall[d] > 5000)
            wall[d] -= (x >> 16) % 5000;
        else
            wall[d] += (x >> 16) % 3;
        if (wall[d] > maxwall)
            maxwall = wall[d];
        if (op < 6 || n == 0) {
            t = shelf__hlc_send(&c[d], wall[d]);
            if (n < 64 && op >= 3) {
                inflight[n] = t;
                from[n++] = d;
            }
        } else {
            int k = (int)((x >> 24) % (uint64_t)n);

            if (from[k] == d)
                continue;
            ASSERT_OK(shelf__hlc_recv(&c[d], inflight[k], wall[d], 86400000, &t));
            ASSERT(t > inflight[k]);
            inflight[k] = inflight[--n];
            from[k] = from[n];
        }
        ASSERT(t > last[d]);
        last[d] = t;
        /* drift bound: 200000 events carry at most a few milliseconds */
        ASSERT(shelf__hlc_ms(t) <= maxwall + 8);
    }
}

int main(int argc, char **argv)
{
    static const test_case tests[] = {
        TEST_ENTRY(parse_forms_and_format_back),
        TEST_ENTRY(parse_refuses_what_is_not_an_id),
        TEST_ENTRY(random_ids_round_trip),
        TEST_ENTRY(ids_match_syncthing),
        TEST_ENTRY(identity_is_made_once_and_kept),
        TEST_ENTRY(older_struct_gets_no_more_than_its_size),
        TEST_ENTRY(read_only_library_gets_no_identity),
        TEST_ENTRY(damaged_identity_is_an_error_naming_the_file),
        TEST_ENTRY(racing_processes_agree),
        TEST_ENTRY(rename_checks_and_keeps_the_id),
        TEST_ENTRY(alloc_failure),
        TEST_ENTRY(qr_png_decodes_to_the_text),
        TEST_ENTRY(qr_text_is_half_blocks),
        TEST_ENTRY(pairing_add_list_rename_remove),
        TEST_ENTRY(pairing_on_a_read_only_library),
        TEST_ENTRY(hlc_basics),
        TEST_ENTRY(hlc_random_devices),
        TEST_END
    };

    return test_run(argc, argv, tests);
}
