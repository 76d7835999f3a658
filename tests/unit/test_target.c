/*
 * test_target.c: targets as users write them (shelf__target_parse): every
 * form, what each field holds, hostile and mistyped strings refused (and
 * never created as a folder), folder names with any bytes Linux allows.
 */
#include <sys/stat.h>
#include "test.h"
#include "remote/remote_int.h"

/* Parse s, expecting success; the caller frees t. */
static void parse_ok(const char *s, shelf__target *t)
{
    shelf__err err = { 0, "" };

    ASSERT_OKM(err.msg, shelf__target_parse(s, t, &err));
}

/* Parse s, expecting SHELF_EINVAL with a message holding want (may be NULL). */
static void parse_bad(const char *s, const char *want)
{
    shelf__err err = { 0, "" };
    shelf__target t;

    ASSERT_RC(SHELF_EINVAL, shelf__target_parse(s, &t, &err));
    ASSERT(err.msg[0] != '\0');
    ASSERT(!strchr(err.msg, '\n'));
    if (want && !strstr(err.msg, want)) {
        fprintf(stderr, "'%s': message '%s' lacks '%s'\n", s, err.msg, want);
        ASSERT(0);
    }
    ASSERT(t.kind == 0 && !t.display && !t.base && !t.host && !t.bucket && !t.path);
}

TEST(s3_forms)
{
    shelf__target t;

    parse_ok("s3:https://s3.example.com/bucket", &t);
    ASSERT_EQ_INT(t.kind, SHELF__TGT_S3);
    ASSERT_EQ_STR(t.base, "https://s3.example.com");
    ASSERT_EQ_STR(t.host, "s3.example.com");
    ASSERT_EQ_STR(t.bucket, "bucket");
    ASSERT_EQ_STR(t.path, "");
    ASSERT_EQ_STR(t.display, "s3:https://s3.example.com/bucket");
    shelf__target_free(&t);
    ASSERT(!t.base && !t.display);

    parse_ok("s3:http://127.0.0.1:9000/my-bucket/a/b/", &t);
    ASSERT_EQ_STR(t.base, "http://127.0.0.1:9000");
    ASSERT_EQ_STR(t.host, "127.0.0.1");
    ASSERT_EQ_STR(t.bucket, "my-bucket");
    ASSERT_EQ_STR(t.path, "a/b");
    ASSERT_EQ_STR(t.display, "s3:http://127.0.0.1:9000/my-bucket/a/b");
    shelf__target_free(&t);

    parse_ok("S3:HTTPS://[::1]:8443/b.dotted//", &t);
    ASSERT_EQ_STR(t.base, "https://[::1]:8443");
    ASSERT_EQ_STR(t.host, "::1");
    ASSERT_EQ_STR(t.bucket, "b.dotted");
    ASSERT_EQ_STR(t.path, "");
    shelf__target_free(&t);

    /* a prefix may hold spaces and UTF-8: the backend encodes it */
    parse_ok("s3:https://h/b/Studio Backups/\xe9\x9f\xb3\xe6\xa5\xbd", &t);
    ASSERT_EQ_STR(t.path, "Studio Backups/\xe9\x9f\xb3\xe6\xa5\xbd");
    shelf__target_free(&t);
}

TEST(webdav_forms)
{
    shelf__target t;

    parse_ok("webdav:https://dav.example.com", &t);
    ASSERT_EQ_INT(t.kind, SHELF__TGT_WEBDAV);
    ASSERT_EQ_STR(t.base, "https://dav.example.com");
    ASSERT_EQ_STR(t.host, "dav.example.com");
    ASSERT_EQ_STR(t.path, "/");
    ASSERT_EQ_STR(t.display, "webdav:https://dav.example.com");
    ASSERT(!t.bucket);
    shelf__target_free(&t);

    parse_ok("webdav:http://localhost:8080/remote.php/dav/files/me/shelf/", &t);
    ASSERT_EQ_STR(t.base, "http://localhost:8080");
    ASSERT_EQ_STR(t.host, "localhost");
    ASSERT_EQ_STR(t.path, "/remote.php/dav/files/me/shelf");
    ASSERT_EQ_STR(t.display, "webdav:http://localhost:8080/remote.php/dav/files/me/shelf");
    shelf__target_free(&t);
}

TEST(rclone_forms)
{
    shelf__target t;

    parse_ok("rclone:gdrive:music/backup", &t);
    ASSERT_EQ_INT(t.kind, SHELF__TGT_RCLONE);
    ASSERT_EQ_STR(t.path, "gdrive:music/backup");
    ASSERT_EQ_STR(t.display, "rclone:gdrive:music/backup");
    shelf__target_free(&t);
    parse_ok("rclone:dropbox:", &t);
    ASSERT_EQ_STR(t.path, "dropbox:");
    shelf__target_free(&t);
    parse_ok("rclone::local:/tmp/x", &t);
    ASSERT_EQ_STR(t.path, ":local:/tmp/x");
    shelf__target_free(&t);
    parse_bad("rclone:", "rclone:REMOTE:PATH");
    parse_bad("rclone:nocolon", "rclone:REMOTE:PATH");
    parse_bad("rclone::", "rclone:REMOTE:PATH");
    parse_bad("rclone:-flag:x", "'-'");
    parse_bad("rclone:r:a\nb", "control");
}

TEST(dir_forms)
{
    static const char *const names[] = {
        "/media/usb/backup", "relative/folder", "./s3:http:", "dir:s3:http://x", "dir:ftp://host",
        "\xe9\x9f\xb3\xe6\xa5\xbd \xf0\x9f\x8e\xb9 backups", "with\nnewline", "bad\xff\xfe utf8",
        "colon:in:name", "remote", "C:", "dir:dir:x", NULL
    };
    shelf__target t;
    int i;

    for (i = 0; names[i]; i++) {
        const char *want = !strncmp(names[i], "dir:", 4) ? names[i] + 4 : names[i];

        parse_ok(names[i], &t);
        ASSERT_EQ_INT(t.kind, SHELF__TGT_DIR);
        ASSERT_EQ_STR(t.path, want);
        ASSERT_EQ_STR(t.display, want);
        ASSERT(!t.base && !t.host && !t.bucket);
        shelf__target_free(&t);
    }
    parse_bad("", "no repository");
    parse_bad("dir:", "no folder");
    parse_bad("mem:", "tests");
}

TEST(unknown_schemes_refused)
{
    static const char *const bad[] = {
        "ftp://host/x", "http://host/x", "https://host/bucket", "gs://bucket", "file:///tmp/x",
        "svn+ssh://h/x", "x-y.z://q", "b2:bucket", "gs:bucket/path", "sftp:user@host:/srv",
        "azure:container", "swift:c", "rest:http://h/", "S3:bucket/prefix", "s3:s3.amazonaws.com/bucket",
        "s3:ftp://host/bucket", "webdav:ftp://host/", "webdav:host/path", "s3:", "webdav:", NULL
    };
    int i;

    for (i = 0; bad[i]; i++)
        parse_bad(bad[i], NULL);
    parse_bad("ftp://host/x", "s3:https://HOST/BUCKET");
    parse_bad("s3:ftp://host/bucket", "expected s3:http[s]://HOST[:PORT]/BUCKET[/PREFIX]");
    parse_bad("webdav:ftp://h", "expected webdav:http[s]://HOST[:PORT][/PATH]");
}

TEST(bad_urls_refused)
{
    parse_bad("s3:https://h", "no bucket");
    parse_bad("s3:https://h/", "no bucket");
    parse_bad("s3:https:///bucket", "bad host");
    parse_bad("s3:https://h:0/b", "bad port");
    parse_bad("s3:https://h:65536/b", "bad port");
    parse_bad("s3:https://h:99999999999999999999/b", "bad port");
    parse_bad("s3:https://h:/b", "bad port");
    parse_bad("s3:https://h:80x/b", "bad port");
    parse_bad("s3:https://h h/b", "bad host");
    parse_bad("s3:https://-h/b", "bad host");
    parse_bad("s3:https://[::1/b", "bad host");
    parse_bad("s3:https://[zz]/b", "bad host");
    parse_bad("s3:https://h/b?x=1", "query");
    parse_bad("webdav:https://h/#frag", "query");
    parse_bad("s3:https://h/b*d", "bad bucket name");
    parse_bad("s3:https://h/b/a//c", "prefix");
    parse_bad("s3:https://h/b/../c", "prefix");
    parse_bad("s3:https://h/b/x%2Fy", "prefix");
    parse_bad("s3:https://h/b/x\ny", "prefix");
    parse_bad("webdav:https://h/a/./b", "bad path");
    parse_bad("webdav:https://h/a\\b", "bad path");
}

/* A password in a URL is refused and never echoed. */
TEST(credentials_in_url_refused)
{
    static const char *const bad[] = {
        "s3:https://AKIDSECRET:hunter2@s3.example.com/bucket",
        "webdav:https://me:hunter2@dav.example.com/x",
        "webdav:https://hunter2@dav.example.com",
        "ftp://me:hunter2@host/x",
        NULL
    };
    shelf__err err = { 0, "" };
    shelf__target t;
    int i;

    for (i = 0; bad[i]; i++) {
        ASSERT_RC(SHELF_EINVAL, shelf__target_parse(bad[i], &t, &err));
        ASSERT(!strstr(err.msg, "hunter2"));
        if (i < 3) {
            ASSERT(strstr(err.msg, "shelf remote add"));
            ASSERT(strstr(err.msg, "environment"));
        }
    }
}

/* A mistyped URL makes no folder (it used to make "s3:http:"). */
TEST(open_unknown_scheme_makes_nothing)
{
    const char *d = test_tmpdir();
    shelf__backend *be = NULL;
    shelf__be_opts o;
    shelf__err err = { 0, "" };
    char cwd[4096];
    struct stat sb;

    memset(&o, 0, sizeof o);
    o.create = 1;
    ASSERT(getcwd(cwd, sizeof cwd));
    ASSERT_EQ_INT(chdir(d), 0);
    ASSERT_RC(SHELF_EINVAL, shelf__be_open("s3:ftp://host/bucket", &o, &be, &err));
    ASSERT_RC(SHELF_EINVAL, shelf__be_open("b2:bucket", &o, &be, &err));
    ASSERT_RC(SHELF_EINVAL, shelf__be_open("https://host/x", &o, &be, &err));
    ASSERT(!be);
    ASSERT(stat("s3:ftp:", &sb) != 0);
    ASSERT(stat("b2:bucket", &sb) != 0);
    ASSERT(stat("https:", &sb) != 0);
    /* and a folder with any name still opens */
    ASSERT_OKM(err.msg, shelf__be_open("\xf0\x9f\x8e\xb9 new\nline", &o, &be, &err));
    ASSERT_EQ_STR(be->ops->kind, "dir");
    shelf__be_close(be);
    ASSERT_EQ_INT(stat("\xf0\x9f\x8e\xb9 new\nline", &sb), 0);
    ASSERT(S_ISDIR(sb.st_mode));
    ASSERT_EQ_INT(chdir(cwd), 0);
}

int main(int argc, char **argv)
{
    static const test_case tests[] = {
        TEST_ENTRY(s3_forms),
        TEST_ENTRY(webdav_forms),
        TEST_ENTRY(rclone_forms),
        TEST_ENTRY(dir_forms),
        TEST_ENTRY(unknown_schemes_refused),
        TEST_ENTRY(bad_urls_refused),
        TEST_ENTRY(credentials_in_url_refused),
        TEST_ENTRY(open_unknown_scheme_makes_nothing),
        TEST_END
    };

    return test_run(argc, argv, tests);
}
