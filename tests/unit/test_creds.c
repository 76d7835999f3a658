/*
 * test_creds.c: credentials of network targets (lib/remote/creds.c): the
 * order of the sources, AWS profile files in awscli's syntax, the scrub of
 * the environment (seen through /proc/self/environ of a process started
 * with the secrets in its environment), the encrypted credential file
 * (round trip, wrong passphrase, a file others can read), the keyring
 * against a real gnome-keyring-daemon on a private D-Bus session bus, and
 * no hang when no Secret Service runs.
 */
#include <dirent.h>
#include <fcntl.h>
#include <time.h>
#include <jansson.h>
#include "test.h"
#include "remote/creds_int.h"

static const char *self_exe;

static shelf__target s3_target(void)
{
    shelf__target t;

    memset(&t, 0, sizeof t);
    t.kind = SHELF__TGT_S3;
    t.display = (char *)"s3:http://127.0.0.1:9/bucket";
    t.host = (char *)"127.0.0.1";
    return t;
}

static void clear_env(void)
{
    static const char *const v[] = {
        "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION",
        "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE",
        "SHELF_WEBDAV_USER", "SHELF_WEBDAV_PASSWORD", "SHELF_CREDENTIALS_PASSWORD",
        "DBUS_SESSION_BUS_ADDRESS", NULL
    };
    const char *dir = test_tmpdir();
    int i;

    for (i = 0; v[i]; i++)
        unsetenv(v[i]);
    shelf__creds_env_reset();
    /* no ~/.aws of the machine, no keyring, a private config folder */
    setenv("HOME", dir, 1);
    setenv("XDG_CONFIG_HOME", dir, 1);
    setenv("XDG_RUNTIME_DIR", dir, 1);
}

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

TEST(env_first_then_profiles)
{
    char cred[4096], cfg[4096];
    const char *dir;
    shelf__target t = s3_target();
    shelf__creds c;
    shelf__err e;

    clear_env();
    dir = test_tmpdir();
    test_pathf(cred, sizeof cred, "%s/creds", dir);
    test_pathf(cfg, sizeof cfg, "%s/config", dir);
    {
        const char *c1 = "[default]\naws_access_key_id = DEFKEY\naws_secret_access_key = DEFSECRET\n"
                         "[dev]\naws_access_key_id=DEVKEY\naws_secret_access_key=DEVSECRET\n";
        const char *c2 = "[profile dev]\nregion = eu-west-3\n";

        test_write_file(cred, c1, strlen(c1));
        test_write_file(cfg, c2, strlen(c2));
    }
    setenv("AWS_SHARED_CREDENTIALS_FILE", cred, 1);
    setenv("AWS_CONFIG_FILE", cfg, 1);

    /* nothing but the implicit default profile */
    ASSERT_OK(shelf__creds_find(&t, NULL, &c, &e));
    ASSERT_EQ_STR(c.access_key, "DEFKEY");
    ASSERT_EQ_STR(c.secret_key, "DEFSECRET");
    shelf__creds_clear(&c);

    /* AWS_PROFILE: its keys and its config region */
    setenv("AWS_PROFILE", "dev", 1);
    ASSERT_OK(shelf__creds_find(&t, NULL, &c, &e));
    ASSERT_EQ_STR(c.access_key, "DEVKEY");
    ASSERT_EQ_STR(c.region, "eu-west-3");
    shelf__creds_clear(&c);

    /* the variables win, AWS_REGION over AWS_DEFAULT_REGION over the profile */
    setenv("AWS_ACCESS_KEY_ID", "ENVKEY", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "ENVSECRET", 1);
    setenv("AWS_SESSION_TOKEN", "ENVTOKEN", 1);
    setenv("AWS_DEFAULT_REGION", "us-west-1", 1);
    ASSERT_OK(shelf__creds_find(&t, NULL, &c, &e));
    ASSERT_EQ_STR(c.access_key, "ENVKEY");
    ASSERT_EQ_STR(c.secret_key, "ENVSECRET");
    ASSERT_EQ_STR(c.session_token, "ENVTOKEN");
    ASSERT_EQ_STR(c.region, "us-west-1");
    shelf__creds_clear(&c);
    setenv("AWS_REGION", "ap-south-2", 1);
    ASSERT_OK(shelf__creds_find(&t, NULL, &c, &e));
    ASSERT_EQ_STR(c.region, "ap-south-2");
    shelf__creds_clear(&c);

    /* a profile that is nowhere is an error when named */
    unsetenv("AWS_ACCESS_KEY_ID");
    setenv("AWS_PROFILE", "nosuch", 1);
    ASSERT_RC(SHELF_ENOTFOUND, shelf__creds_find(&t, NULL, &c, &e));
    ASSERT(strstr(e.msg, "'nosuch'"));

    /* nothing at all: a hint */
    unsetenv("AWS_PROFILE");
    unsetenv("AWS_SHARED_CREDENTIALS_FILE");
    unsetenv("AWS_CONFIG_FILE");
    ASSERT_RC(SHELF_ENOTFOUND, shelf__creds_find(&t, NULL, &c, &e));
    ASSERT(strstr(e.msg, "AWS_ACCESS_KEY_ID"));
    ASSERT(c.access_key == NULL);
}

TEST(webdav_env_and_folders)
{
    shelf__target t = s3_target();
    shelf__creds c;
    shelf__err e;

    clear_env();
    t.kind = SHELF__TGT_WEBDAV;
    ASSERT_RC(SHELF_ENOTFOUND, shelf__creds_find(&t, "nas", &c, &e));
    ASSERT(strstr(e.msg, "SHELF_WEBDAV_PASSWORD"));
    setenv("SHELF_WEBDAV_USER", "anna", 1);
    setenv("SHELF_WEBDAV_PASSWORD", "p\xc3\xa4ss word", 1);
    ASSERT_OK(shelf__creds_find(&t, "nas", &c, &e));
    ASSERT_EQ_STR(c.user, "anna");
    ASSERT_EQ_STR(c.password, "p\xc3\xa4ss word");
    shelf__creds_clear(&c);
    ASSERT(c.user == NULL && c.password == NULL);
    t.kind = SHELF__TGT_DIR;
    ASSERT_OK(shelf__creds_find(&t, NULL, &c, &e));
    ASSERT(c.password == NULL);
}

static int ini(const char *text, int config, const char *profile, shelf__creds *c)
{
    shelf__err e;

    return shelf__awsini_find(text, strlen(text), config, profile, c, &e);
}

TEST(awscli_syntax)
{
    shelf__creds c;
    const char *text =
        "# a comment\n"
        "; another\n"
        "[DEFAULT]\n"
        "region = eu-north-1\n"
        "\n"
        "[default]  \n"
        "AWS_Access_Key_ID   =   AK with spaces   \n"
        "aws_secret_access_key: se=cr:et # not a comment\r\n"
        "s3 =\n"
        "    max_concurrent_requests = 10\n"
        "[profile \"my dev\"]\n"
        "aws_access_key_id=QUOTED\n"
        "aws_secret_access_key=Q\n"
        "region=us-east-2\n"
        "[profile  x]\n"
        "aws_security_token = OLD\n"
        "[sso-session s]\n"
        "sso_region = x\n";

    /* config file: [default], [profile NAME] split as shlex splits */
    ASSERT_OK(ini(text, 1, "default", &c));
    ASSERT_EQ_STR(c.access_key, "AK with spaces");
    ASSERT_EQ_STR(c.secret_key, "se=cr:et # not a comment");
    ASSERT_EQ_STR(c.region, "eu-north-1");      /* inherited from [DEFAULT] */
    shelf__creds_clear(&c);
    ASSERT_OK(ini(text, 1, "my dev", &c));
    ASSERT_EQ_STR(c.access_key, "QUOTED");
    ASSERT_EQ_STR(c.region, "us-east-2");
    shelf__creds_clear(&c);
    ASSERT_OK(ini(text, 1, "x", &c));
    ASSERT_EQ_STR(c.session_token, "OLD");
    shelf__creds_clear(&c);
    ASSERT_RC(SHELF_ENOTFOUND, ini(text, 1, "s", &c));
    /* credentials file: the section name is the profile */
    ASSERT_RC(SHELF_ENOTFOUND, ini(text, 0, "my dev", &c));
    ASSERT_OK(ini(text, 0, "profile \"my dev\"", &c));
    shelf__creds_clear(&c);

    /* an indented line continues the value above, even "[section]" (configparser) */
    ASSERT_RC(SHELF_ENOTFOUND, ini("[a]\nx = 1\n  [b]\naws_access_key_id=K\n", 0, "b", &c));
    ASSERT_OK(ini("[a]\nx = 1\n  [b]\naws_access_key_id=K\n", 0, "a", &c));
    ASSERT_EQ_STR(c.access_key, "K");
    shelf__creds_clear(&c);

    /* what makes awscli refuse the file */
    ASSERT_RC(SHELF_EFORMAT, ini("key = v\n[default]\n", 0, "default", &c));
    ASSERT_RC(SHELF_EFORMAT, ini("[a]\nx=1\n[a]\n", 0, "a", &c));
    ASSERT_RC(SHELF_EFORMAT, ini("[a]\nx=1\nX = 2\n", 0, "a", &c));
    ASSERT_RC(SHELF_EFORMAT, ini("[a]\njust words\n", 0, "a", &c));
    ASSERT_RC(SHELF_EFORMAT, ini("[a]\n= value\n", 0, "a", &c));
    ASSERT(c.access_key == NULL);
    /* an empty file has no profiles */
    ASSERT_RC(SHELF_ENOTFOUND, ini("", 0, "default", &c));
}

/* shelf's reading of one file against botocore's, for every profile. */
static void compare_with_botocore(const char *path, const char *text, size_t n, int config)
{
    static const char *const profiles[] = { "default", "dev", "my dev", "x", "a", "b" };
    char cmd[8192], line[4096];
    FILE *p;
    size_t i;

    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/data/awsini/botocore_profile.py '%s' %d "
             "default dev 'my dev' x a b", SHELF_SRC, path, config);
    p = popen(cmd, "r");
    ASSERT(p != NULL);
    for (i = 0; i < sizeof profiles / sizeof profiles[0]; i++) {
        shelf__creds c;
        shelf__err e;
        json_error_t je;
        json_t *want;
        int rc;

        ASSERT(fgets(line, sizeof line, p) != NULL);
        want = json_loads(line, JSON_DECODE_ANY, &je);
        ASSERT(want != NULL);
        rc = shelf__awsini_find(text, n, config, profiles[i], &c, &e);
        if (json_is_string(want)) {
            const char *w = json_string_value(want);

            if (strcmp(w, "ERROR") == 0 ? rc != SHELF_EFORMAT : rc != SHELF_ENOTFOUND)
                test__fail(__FILE__, __LINE__, "%s (config %d) profile '%s': botocore says %s, "
                           "shelf %d", path, config, profiles[i], w, rc);
        } else {
            static const char *const keys[] = { "access_key", "secret_key", "session_token",
                                                "region" };
            const char *got[4];
            int k;

            if (rc != SHELF_OK)
                test__fail(__FILE__, __LINE__, "%s (config %d) profile '%s': botocore reads it, "
                           "shelf says %d %s", path, config, profiles[i], rc, e.msg);
            got[0] = c.access_key;
            got[1] = c.secret_key;
            got[2] = c.session_token;
            got[3] = c.region;
            for (k = 0; k < 4; k++) {
                const char *w = json_string_value(json_object_get(want, keys[k]));

                if ((w == NULL) != (got[k] == NULL) || (w && strcmp(w, got[k]) != 0))
                    test__fail(__FILE__, __LINE__, "%s (config %d) profile '%s' %s: botocore "
                               "'%s', shelf '%s'", path, config, profiles[i], keys[k],
                               w ? w : "(none)", got[k] ? got[k] : "(none)");
            }
            shelf__creds_clear(&c);
        }
        json_decref(want);
    }
    ASSERT_EQ_INT(pclose(p), 0);
}

TEST(awsini_matches_botocore)
{
    char dir[4096], path[4096], copy[4096];
    DIR *d;
    struct dirent *de;
    int files = 0;

    test_pathf(dir, sizeof dir, "%s/fuzz/corpus/awsini", SHELF_SRC);
    ASSERT((d = opendir(dir)) != NULL);
    while ((de = readdir(d)) != NULL) {
        size_t n;
        char *data;
        int config;

        if (de->d_name[0] == '.')
            continue;
        test_pathf(path, sizeof path, "%s/%s", dir, de->d_name);
        data = test_read_file(path, &n);
        ASSERT(n >= 1);
        /* the corpus's first byte selects for the fuzzer; the file is the rest */
        test_pathf(copy, sizeof copy, "%s/%s", test_tmpdir(), de->d_name);
        test_write_file(copy, data + 1, n - 1);
        for (config = 0; config < 2; config++)
            compare_with_botocore(copy, data + 1, n - 1, config);
        free(data);
        files++;
    }
    closedir(d);
    ASSERT(files >= 8);
}

/* The child started with secrets in its very first environment. */
static int scrub_child(void)
{
    char *env, *v;
    size_t n = 0;
    int bad = 0;

    if (!getenv("AWS_SECRET_ACCESS_KEY") || !getenv("SHELF_WEBDAV_PASSWORD"))
        return 10;
    shelf__creds_scrub_env();
    if (getenv("AWS_SECRET_ACCESS_KEY") || getenv("SHELF_WEBDAV_PASSWORD") ||
        getenv("AWS_ACCESS_KEY_ID"))
        return 11;
    if (!getenv("KEEP_ME"))
        return 12;
    env = test_read_file("/proc/self/environ", &n);
    for (size_t i = 0; i + 15 <= n; i++)
        if (!memcmp(env + i, "TOPSECRET-VALUE", 15) || !memcmp(env + i, "WEBDAV-SECRET", 13) ||
            !memcmp(env + i, "AWS_SECRET", 10))
            bad = 1;
    free(env);
    if (bad)
        return 13;
    /* the library still has its copy */
    v = shelf__creds_env(SHELF__ENV_AWS_SECRET_ACCESS_KEY);
    if (!v || strcmp(v, "TOPSECRET-VALUE-1") != 0)
        return 14;
    shelf__secret_free(v);
    return 0;
}

TEST(scrub_env_removes_them)
{
    char *const argv[] = { (char *)self_exe, (char *)"--scrub-child", NULL };
    char *const envp[] = { (char *)"AWS_ACCESS_KEY_ID=AKIDVALUE",
                           (char *)"AWS_SECRET_ACCESS_KEY=TOPSECRET-VALUE-1",
                           (char *)"KEEP_ME=1",
                           (char *)"SHELF_WEBDAV_PASSWORD=WEBDAV-SECRET", NULL };
    pid_t pid;
    int status;

    (void)fflush(stdout);
    pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        execve(self_exe, argv, envp);
        _exit(99);
    }
    ASSERT(waitpid(pid, &status, 0) == pid);
    ASSERT(WIFEXITED(status));
    ASSERT_EQ_INT(WEXITSTATUS(status), 0);
}

TEST(credfile_round_trip)
{
    char path[4096], *raw;
    const char *dir;
    shelf__creds a = { 0 }, b = { 0 }, got;
    shelf__err e;
    struct stat st;
    size_t n, i;

    clear_env();
    dir = test_tmpdir();
    test_pathf(path, sizeof path, "%s/sub/credentials", dir);
    setenv("SHELF_CREDENTIALS_PASSWORD", "correct horse", 1);
    a.access_key = strdup("AKIA-ROUND");
    a.secret_key = strdup("line1\nline2%0A\r\xf0\x9f\x8e\xb9");
    a.region = strdup("eu-central-1");
    b.user = strdup("bob");
    b.password = strdup("BOBS-PASSWORD");
    ASSERT_OKM(e.msg, shelf__credfile_put(path, "s3main", &a, &e));
    ASSERT_OKM(e.msg, shelf__credfile_put(path, "nas.home", &b, &e));
    ASSERT(stat(path, &st) == 0);
    ASSERT_EQ_INT(st.st_mode & 0777, 0600);
    /* no secret in the file's bytes */
    raw = test_read_file(path, &n);
    for (i = 0; i + 8 <= n; i++) {
        ASSERT(memcmp(raw + i, "AKIA-ROU", 8) != 0);
        ASSERT(memcmp(raw + i, "BOBS-PAS", 8) != 0);
        ASSERT(memcmp(raw + i, "s3main", 6) != 0);
    }
    ASSERT(!memcmp(raw, "SHELFCRD\x01\x01", 10));
    free(raw);
    ASSERT_OKM(e.msg, shelf__credfile_get(path, "s3main", &got, &e));
    ASSERT_EQ_STR(got.access_key, "AKIA-ROUND");
    ASSERT_EQ_STR(got.secret_key, a.secret_key);
    ASSERT_EQ_STR(got.region, "eu-central-1");
    ASSERT(got.password == NULL);
    shelf__creds_clear(&got);
    /* replace one, remove one */
    ASSERT_OKM(e.msg, shelf__credfile_put(path, "s3main", &b, &e));
    ASSERT_OKM(e.msg, shelf__credfile_get(path, "s3main", &got, &e));
    ASSERT_EQ_STR(got.user, "bob");
    ASSERT(got.access_key == NULL);
    shelf__creds_clear(&got);
    ASSERT_OKM(e.msg, shelf__credfile_put(path, "s3main", NULL, &e));
    ASSERT_RC(SHELF_ENOTFOUND, shelf__credfile_get(path, "s3main", &got, &e));
    ASSERT_OKM(e.msg, shelf__credfile_get(path, "nas.home", &got, &e));
    ASSERT_EQ_STR(got.password, "BOBS-PASSWORD");
    shelf__creds_clear(&got);
    /* and through shelf__creds_find, for a named remote */
    {
        shelf__target t = s3_target();
        char cp[4096];

        t.kind = SHELF__TGT_WEBDAV;
        test_pathf(cp, sizeof cp, "%s/shelf", getenv("XDG_CONFIG_HOME"));
        ASSERT_EQ_INT(shelf__mkdirs(cp, 0700), 0);
        test_pathf(cp, sizeof cp, "%s/shelf/credentials", getenv("XDG_CONFIG_HOME"));
        ASSERT(rename(path, cp) == 0);
        ASSERT_OKM(e.msg, shelf__creds_find(&t, "nas.home", &got, &e));
        ASSERT_EQ_STR(got.user, "bob");
        shelf__creds_clear(&got);
    }
    shelf__creds_clear(&a);
    shelf__creds_clear(&b);
}

TEST(credfile_wrong_passphrase_and_mode)
{
    char path[4096];
    shelf__creds a = { 0 }, got;
    shelf__err e;

    clear_env();
    test_pathf(path, sizeof path, "%s/credentials", test_tmpdir());
    setenv("SHELF_CREDENTIALS_PASSWORD", "right one", 1);
    a.user = strdup("u");
    a.password = strdup("pw");
    ASSERT_OKM(e.msg, shelf__credfile_put(path, "r", &a, &e));
    setenv("SHELF_CREDENTIALS_PASSWORD", "wrong one", 1);
    ASSERT_RC(SHELF_EAUTH, shelf__credfile_get(path, "r", &got, &e));
    ASSERT(strstr(e.msg, "wrong passphrase"));
    ASSERT(got.password == NULL);
    /* and a put with it changes nothing */
    ASSERT_RC(SHELF_EAUTH, shelf__credfile_put(path, "r2", &a, &e));
    /* no passphrase and nobody to ask */
    unsetenv("SHELF_CREDENTIALS_PASSWORD");
    ASSERT_RC(SHELF_EAUTH, shelf__credfile_get(path, "r", &got, &e));
    ASSERT(strstr(e.msg, "SHELF_CREDENTIALS_PASSWORD"));
    /* readable by others: refused before any passphrase is tried */
    setenv("SHELF_CREDENTIALS_PASSWORD", "right one", 1);
    ASSERT(chmod(path, 0644) == 0);
    ASSERT_RC(SHELF_EPERM, shelf__credfile_get(path, "r", &got, &e));
    ASSERT(strstr(e.msg, "chmod 600"));
    ASSERT(chmod(path, 0640) == 0);
    ASSERT_RC(SHELF_EPERM, shelf__credfile_get(path, "r", &got, &e));
    ASSERT(chmod(path, 0600) == 0);
    ASSERT_OKM(e.msg, shelf__credfile_get(path, "r", &got, &e));
    shelf__creds_clear(&got);
    /* a flipped byte in the sealed part */
    {
        size_t n;
        char *raw = test_read_file(path, &n);

        raw[n - 3] ^= 1;
        test_write_file(path, raw, n);
        ASSERT(chmod(path, 0600) == 0);
        free(raw);
        ASSERT_RC(SHELF_EAUTH, shelf__credfile_get(path, "r", &got, &e));
    }
    shelf__creds_clear(&a);
}

TEST(terms_and_space_warnings)
{
    shelf_remote_terms t;
    shelf__backend *be;
    shelf__err e;
    char *w;
    static char blob[4096];

    /* the thresholds: 10% or 1 GiB free, 90% of the budget */
    ASSERT(shelf__remote_space_warning(UINT64_MAX, UINT64_MAX, 0) == NULL);
    ASSERT(shelf__remote_space_warning(10ull << 30, 90ull << 30, 0) == NULL);
    w = shelf__remote_space_warning(95ull << 30, 5ull << 30, 0);
    ASSERT(w && strstr(w, "space is short") && strstr(w, "5.0 GiB free of 100.0 GiB"));
    free(w);
    w = shelf__remote_space_warning(UINT64_MAX, 100ull << 20, 0);
    ASSERT(w && strstr(w, "100.0 MiB free"));
    free(w);
    ASSERT(shelf__remote_space_warning(80, UINT64_MAX, 100) == NULL);
    w = shelf__remote_space_warning(90, UINT64_MAX, 100);
    ASSERT(w && strstr(w, "of the budget"));
    free(w);

    /* every kind has its texts; the provider never sees names */
    ASSERT_OK(shelf__remote_terms("s3:https://h/b", NULL, 0, &t, &e));
    ASSERT_EQ_STR(t.kind, "s3");
    ASSERT(strstr(t.visible, "no file names and no contents"));
    ASSERT(strstr(t.limits, "5 GiB") && strstr(t.limits, "object lock") &&
           strstr(t.limits, "request"));
    ASSERT(t.warning == NULL);
    shelf_remote_terms_release(&t);
    ASSERT_OK(shelf__remote_terms("webdav:https://h/d", NULL, 0, &t, &e));
    ASSERT(strstr(t.limits, "quota"));
    shelf_remote_terms_release(&t);
    ASSERT_OK(shelf__remote_terms("rclone:gd:x", NULL, 0, &t, &e));
    ASSERT_EQ_STR(t.kind, "rclone");
    shelf_remote_terms_release(&t);
    /* a folder: the OS's free space */
    ASSERT_OK(shelf__remote_terms(test_tmpdir(), NULL, 0, &t, &e));
    ASSERT_EQ_STR(t.kind, "dir");
    ASSERT(t.avail != UINT64_MAX);
    shelf_remote_terms_release(&t);

    /* a backend without a space op and a budget: the repository's files count */
    ASSERT_OK(shelf__be_mem_new(&be));
    ASSERT_OK(shelf__be_save(be, "data/ab/x1", blob, sizeof blob));
    ASSERT_OK(shelf__be_save(be, "index/y", blob, 1000));
    ASSERT_OK(shelf__be_save(be, "other/z", blob, 4096));   /* not the repository's */
    ASSERT_OK(shelf__remote_terms("s3:https://h/b", be, 5000, &t, &e));
    ASSERT_EQ_INT(t.used, 5096);
    ASSERT(t.warning && strstr(t.warning, "of the budget"));
    shelf_remote_terms_release(&t);
    ASSERT_OK(shelf__remote_terms("s3:https://h/b", be, 10000, &t, &e));
    ASSERT(t.warning == NULL);
    shelf_remote_terms_release(&t);
    shelf__be_close(be);
}

TEST(named_remotes_resolve)
{
    shelf_remote_opts o;
    shelf__remote r;
    shelf__err e;
    char *msg = NULL, url[4096];

    clear_env();
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.budget = 123;
    o.region = "eu-south-1";
    setenv("SHELF_WEBDAV_USER", "u", 1);
    setenv("SHELF_WEBDAV_PASSWORD", "p", 1);
    setenv("SHELF_CREDENTIALS_PASSWORD", "pp", 1);
    o.store = SHELF_SECRET_FILE;
    ASSERT_OKM(msg, shelf_remote_add("nas", "webdav:https://nas.example:8443/dav", &o, &msg));
    test_pathf(url, sizeof url, "dir:%s", test_tmpdir());
    ASSERT_OKM(msg, shelf_remote_add("usb", url, NULL, &msg));
    ASSERT_RC(SHELF_EEXIST, shelf_remote_add("usb", url, NULL, &msg));
    free(msg);

    ASSERT_OK(shelf__remote_resolve("nas", &r, &e));
    ASSERT_EQ_STR(r.name, "nas");
    ASSERT_EQ_STR(r.url, "webdav:https://nas.example:8443/dav");
    ASSERT_EQ_STR(r.region, "eu-south-1");
    ASSERT_EQ_INT(r.budget, 123);
    ASSERT_EQ_INT(r.store, SHELF_SECRET_FILE);
    shelf__remote_release(&r);
    ASSERT_OK(shelf__remote_resolve("remote:usb", &r, &e));
    ASSERT_EQ_STR(r.url, url);
    ASSERT_EQ_INT(r.store, SHELF_SECRET_NONE);
    shelf__remote_release(&r);
    /* not a remote: the target as it is */
    ASSERT_OK(shelf__remote_resolve("s3:https://h/b", &r, &e));
    ASSERT(r.name == NULL);
    ASSERT_EQ_STR(r.url, "s3:https://h/b");
    shelf__remote_release(&r);
    ASSERT_OK(shelf__remote_resolve("backups", &r, &e));
    ASSERT(r.name == NULL);
    ASSERT_EQ_STR(r.url, "backups");
    shelf__remote_release(&r);
    ASSERT_RC(SHELF_ENOTFOUND, shelf__remote_resolve("remote:backups", &r, &e));
    ASSERT(strstr(e.msg, "no remote named 'backups'"));
    ASSERT_RC(SHELF_EINVAL, shelf__remote_resolve("", &r, &e));

    /* the stored secret reaches shelf__creds_find once the variables are gone */
    {
        shelf__target t = s3_target();
        shelf__creds c;

        unsetenv("SHELF_WEBDAV_USER");
        unsetenv("SHELF_WEBDAV_PASSWORD");
        t.kind = SHELF__TGT_WEBDAV;
        ASSERT_OKM(e.msg, shelf__creds_find(&t, "nas", &c, &e));
        ASSERT_EQ_STR(c.user, "u");
        ASSERT_EQ_STR(c.password, "p");
        shelf__creds_clear(&c);
    }
    /* a remotes file from a newer shelf */
    {
        char p[4096];
        const char *newer = "{\"version\": 2, \"remotes\": {}}", *broken = "{\"version\": 1, [";

        test_pathf(p, sizeof p, "%s/shelf/remotes.json", getenv("XDG_CONFIG_HOME"));
        test_write_file(p, newer, strlen(newer));
        ASSERT_RC(SHELF_EVERSION, shelf__remote_resolve("nas", &r, &e));
        test_write_file(p, broken, strlen(broken));
        ASSERT_RC(SHELF_EFORMAT, shelf__remote_resolve("nas", &r, &e));
    }
    ASSERT_RC(SHELF_EFORMAT, shelf_remote_rm("usb", &msg));
    ASSERT(msg && strstr(msg, "remotes.json"));
    free(msg);
}

/* Run in a session bus of its own with an unlocked login keyring. */
static int keyring_child(void)
{
    shelf__target t = s3_target();
    shelf__creds a = { 0 }, got;
    shelf__err e;
    int i;

    for (i = 0; i < 100 && !shelf__keyring_available(); i++)
        usleep(100000);
    if (!shelf__keyring_available()) {
        fprintf(stderr, "keyring child: no Secret Service came up\n");
        return 20;
    }
    a.access_key = strdup("KR-AKID");
    a.secret_key = strdup("KR-SECRET\nwith newline");
    if (shelf__keyring_store("kr1", "127.0.0.1", &a, &e) != SHELF_OK) {
        fprintf(stderr, "keyring child: store: %s\n", e.msg);
        return 21;
    }
    if (shelf__keyring_lookup("kr1", NULL, &got, &e) != SHELF_OK ||
        strcmp(got.secret_key, a.secret_key) != 0)
        return 22;
    shelf__creds_clear(&got);
    /* by host, for a URL without a name */
    if (shelf__keyring_lookup(NULL, "127.0.0.1", &got, &e) != SHELF_OK ||
        strcmp(got.access_key, "KR-AKID") != 0)
        return 23;
    shelf__creds_clear(&got);
    /* shelf__creds_find reaches it (no variables set) */
    if (shelf__creds_find(&t, "kr1", &got, &e) != SHELF_OK || strcmp(got.access_key, "KR-AKID") != 0) {
        fprintf(stderr, "keyring child: find: %s\n", e.msg);
        return 24;
    }
    shelf__creds_clear(&got);
    if (shelf__keyring_clear("kr1", &e) != SHELF_OK)
        return 25;
    if (shelf__keyring_lookup("kr1", NULL, &got, &e) != SHELF_ENOTFOUND)
        return 26;
    if (shelf__keyring_clear("kr1", &e) != SHELF_ENOTFOUND)
        return 27;
    shelf__creds_clear(&a);
    return 0;
}

/* On a session bus where no Secret Service runs. */
static int nokeyring_child(void)
{
    double t0 = now();
    int av = shelf__keyring_available();

    if (av)
        return 30;
    if (now() - t0 > 2.0)
        return 31;
    return 0;
}

/* On a session bus where a Secret Service owns its name but never answers
 * (tests/harness/silent_secrets.py): every call gives up in time. */
static int silent_child(void)
{
    shelf__creds a = { 0 }, got;
    shelf__err e;
    double t0;
    int i;

    for (i = 0; i < 100 && !shelf__keyring_available(); i++)
        usleep(100000);
    if (!shelf__keyring_available())
        return 40;
    a.user = strdup("u");
    a.password = strdup("p");
    t0 = now();
    if ((i = shelf__keyring_store("s", "h", &a, &e)) != SHELF_EIO || !strstr(e.msg, "no answer")) {
        fprintf(stderr, "silent child: store: %d %s after %.1f s\n", i, e.msg, now() - t0);
        return 41;
    }
    if (shelf__keyring_lookup("s", NULL, &got, &e) != SHELF_EIO)
        return 42;
    /* two calls of 1 s each (SHELF_KEYRING_TIMEOUT_MS below), not libsecret's 25 s */
    if (now() - t0 > 4.0)
        return 43;
    shelf__creds_clear(&a);
    return 0;
}

/* Run self with arg inside dbus-run-session; with_keyring 1: start
 * gnome-keyring-daemon, unlocked with a password on its stdin, first; 2:
 * start the silent Secret Service. */
static int in_session(const char *arg, int with_keyring)
{
    const char *dir = test_tmpdir();
    char run[4096], script[8192];
    int status;
    pid_t pid;

    test_pathf(run, sizeof run, "%s/run", dir);
    ASSERT(mkdir(run, 0700) == 0);
    if (with_keyring == 1)
        snprintf(script, sizeof script,
                 "printf 'login password' | gnome-keyring-daemon --foreground --unlock "
                 "--components=secrets >/dev/null 2>&1 & k=$!; \"%s\" %s; rc=$?; "
                 "kill $k 2>/dev/null; wait $k 2>/dev/null; exit $rc", self_exe, arg);
    else if (with_keyring == 2)
        snprintf(script, sizeof script,
                 "/usr/bin/python3 %s/tests/harness/silent_secrets.py >/dev/null & k=$!; "
                 "SHELF_KEYRING_TIMEOUT_MS=1000 \"%s\" %s; rc=$?; kill $k; wait $k 2>/dev/null; "
                 "exit $rc", SHELF_SRC, self_exe, arg);
    else
        snprintf(script, sizeof script, "exec \"%s\" %s", self_exe, arg);
    (void)fflush(stdout);
    pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        char data[4096];

        snprintf(data, sizeof data, "%s/data", dir);
        setenv("HOME", dir, 1);
        setenv("XDG_DATA_HOME", data, 1);
        setenv("XDG_CONFIG_HOME", dir, 1);
        setenv("XDG_RUNTIME_DIR", run, 1);
        unsetenv("DISPLAY");
        unsetenv("DBUS_SESSION_BUS_ADDRESS");
        execlp("dbus-run-session", "dbus-run-session", "--", "sh", "-c", script, (char *)NULL);
        fprintf(stderr, "cannot run dbus-run-session: %s\n", strerror(errno));
        _exit(98);
    }
    ASSERT(waitpid(pid, &status, 0) == pid);
    ASSERT(WIFEXITED(status));
    return WEXITSTATUS(status);
}

TEST(keyring_round_trip)
{
    ASSERT_EQ_INT(in_session("--keyring-child", 1), 0);
}

TEST(no_secret_service_no_hang)
{
    shelf__target t = s3_target();
    shelf__creds c;
    shelf__err e;
    double t0;

    /* no bus at all */
    clear_env();
    t0 = now();
    ASSERT_EQ_INT(shelf__keyring_available(), 0);
    ASSERT_RC(SHELF_ENOTFOUND, shelf__creds_find(&t, "x", &c, &e));
    ASSERT(now() - t0 < 2.0);
    /* a bus that answers, with no Secret Service on it */
    ASSERT_EQ_INT(in_session("--nokeyring-child", 0), 0);
    /* a Secret Service that never answers (a keyring waiting on a prompt) */
    ASSERT_EQ_INT(in_session("--silent-child", 2), 0);
}

int main(int argc, char **argv)
{
    static const test_case tests[] = {
        TEST_ENTRY(env_first_then_profiles),
        TEST_ENTRY(webdav_env_and_folders),
        TEST_ENTRY(awscli_syntax),
        TEST_ENTRY(awsini_matches_botocore),
        TEST_ENTRY(scrub_env_removes_them),
        TEST_ENTRY(credfile_round_trip),
        TEST_ENTRY(credfile_wrong_passphrase_and_mode),
        TEST_ENTRY(terms_and_space_warnings),
        TEST_ENTRY(named_remotes_resolve),
        TEST_ENTRY(keyring_round_trip),
        TEST_ENTRY(no_secret_service_no_hang),
        TEST_END
    };

    self_exe = "/proc/self/exe";
    {
        static char buf[4096];
        ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);

        if (n > 0) {
            buf[n] = '\0';
            self_exe = buf;
        }
    }
    if (argc == 2 && !strcmp(argv[1], "--scrub-child"))
        return scrub_child();
    if (argc == 2 && !strcmp(argv[1], "--keyring-child"))
        return keyring_child();
    if (argc == 2 && !strcmp(argv[1], "--silent-child"))
        return silent_child();
    if (argc == 2 && !strcmp(argv[1], "--nokeyring-child"))
        return nokeyring_child();
    return test_run(argc, argv, tests);
}
