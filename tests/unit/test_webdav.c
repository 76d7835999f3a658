/*
 * test_webdav.c: the WebDAV backend against Apache httpd (mod_dav_fs, HTTPS
 * with a CA made by the test, Basic auth) and lighttpd (mod_webdav), both
 * started by tests/servers/{apache,lighttpd}.sh on a random port and
 * stopped at exit: the conformance suite, create-only under a race, a wrong
 * password, every safe character in names, a 30 MiB save_fd, quota, sweep,
 * and replies that lie (a server in this file answering malformed or cut
 * multistatus bodies).
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "test.h"
#include "remote/dav_int.h"
#include "be_conformance.h"
#include "servers.h"

/* ---- servers ------------------------------------------------------------- */

typedef struct dav_server {
    const char *script;     /* "apache" or "lighttpd" */
    char dir[256];
    char base[64];          /* "https://127.0.0.1:PORT" */
    char user[64], pass[128], ca[512];
    pid_t owner;
} dav_server;

static dav_server servers[2];
static int nservers;

/* Stop every server this process started (the tests' children run atexit
 * handlers too: only the owner stops). */
static void stop_servers(void)
{
    int i;

    for (i = 0; i < nservers; i++) {
        char cmd[1024];

        if (servers[i].owner != getpid())
            continue;
        snprintf(cmd, sizeof cmd, "sh '" SHELF_SRC_DIR "/tests/servers/%s.sh' stop '%s' >/dev/null 2>&1",
                 servers[i].script, servers[i].dir);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot stop %s in %s\n", servers[i].script, servers[i].dir);
        test_rm_rf(servers[i].dir);
        servers[i].owner = 0;
    }
}

/* Start a server (scheme "https" or "http"); skips the test when the
 * server is not installed. */
static dav_server *start_server(const char *script, const char *scheme)
{
    const char *tmp = getenv("TMPDIR");
    dav_server *s;
    char cmd[1024], line[1024], port[16];
    FILE *p;
    int n, rc;

    ASSERT(nservers < 2);
    s = &servers[nservers];
    memset(s, 0, sizeof *s);
    s->script = script;
    snprintf(s->dir, sizeof s->dir, "%s/shelf-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", script);
    ASSERT(mkdtemp(s->dir));
    s->owner = getpid();
    nservers++;
    if (nservers == 1)
        atexit(stop_servers);
    /* the server stops by itself if this test dies without stopping it */
    snprintf(cmd, sizeof cmd, "SHELF_SERVER_OWNER=%d sh '" SHELF_SRC_DIR "/tests/servers/%s.sh' start '%s' %s 2>&1",
             (int)getpid(), script, s->dir, scheme);
    ASSERT((p = popen(cmd, "r")) != NULL);
    line[0] = '\0';
    if (!fgets(line, sizeof line, p))
        line[0] = '\0';
    rc = pclose(p);
    n = sscanf(line, "ready %15s %63s %127s %511s", port, s->user, s->pass, s->ca);
    if (n != 4 || rc != 0) {
        if (strstr(line, "not installed"))
            TEST_SKIP("%s", line);
        test__fail(__FILE__, __LINE__, "%s did not start: %s", script, line);
    }
    snprintf(s->base, sizeof s->base, "%s://127.0.0.1:%s", scheme, port);
    return s;
}

/* Open the repository at path (e.g. "/r1") on s. */
static int open_dav(const dav_server *s, const char *path, const char *password, int create,
                    shelf__backend **be, shelf__err *err)
{
    char display[128];
    shelf__target t;
    shelf__creds c;
    shelf__be_opts o;

    snprintf(display, sizeof display, "webdav:%s%s", s->base, path);
    memset(&t, 0, sizeof t);
    t.kind = SHELF__TGT_WEBDAV;
    t.display = display;
    t.base = (char *)s->base;
    t.host = "127.0.0.1";
    t.path = (char *)path;
    memset(&c, 0, sizeof c);
    c.user = (char *)s->user;
    c.password = (char *)password;
    memset(&o, 0, sizeof o);
    o.create = create;
    o.ca_file = s->ca;
    return shelf__be_webdav_open(&t, &c, &o, be, err);
}

/* Count files named ".tmp-*" under the server's folder for path. */
static int count_tmps(const char *dir)
{
    char cmd[1024], line[64];
    FILE *p;
    int n = -1;

    snprintf(cmd, sizeof cmd, "find '%s' -name '.tmp-*' | wc -l", dir);
    ASSERT((p = popen(cmd, "r")) != NULL);
    if (fgets(line, sizeof line, p))
        n = (int)strtol(line, NULL, 10);
    pclose(p);
    return n;
}

/* The whole suite, then sweep and the temp files, on one server. */
static void suite(dav_server *s)
{
    shelf__backend *be, *be2;
    shelf__err err = { 0, "" };
    char path[512];
    conf_names l;
    uint64_t used, avail;

    ASSERT_RC(SHELF_ENOTFOUND, open_dav(s, "/absent/repo", s->pass, 0, &be, &err));
    ASSERT(strstr(err.msg, "webdav:https://127.0.0.1"));
    ASSERT_OKM(err.msg, open_dav(s, "/sub/repo", s->pass, 1, &be, &err));
    ASSERT_EQ_STR(be->ops->kind, "webdav");
    be_conformance(be);
    ASSERT_EQ_INT(count_tmps(s->dir), 0);
    /* a killed save's temp: never listed, removed by sweep */
    test_pathf(path, sizeof path, "%s/data/sub/repo/data/ab/.tmp-killed", s->dir);
    test_write_file(path, "half", 4);
    ASSERT_EQ_INT(chmod(path, 0666), 0);
    memset(&l, 0, sizeof l);
    ASSERT_OK(shelf__be_list(be, "data", conf_collect, &l));
    ASSERT_EQ_INT(l.n, 2);      /* data/ab/abcdef, data/cd/big */
    ASSERT(conf_has(&l, "data/cd/big"));
    ASSERT_EQ_INT(count_tmps(s->dir), 1);
    ASSERT_EQ_INT(shelf__be_sweep(be), 1);
    ASSERT_EQ_INT(count_tmps(s->dir), 0);
    /* a dup works after the first handle closes */
    ASSERT_OK(be->ops->dup(be, &be2));
    shelf__be_close(be);
    ASSERT_OK(shelf__be_stat(be2, "config", &used));
    ASSERT_EQ_INT(used, 2);
    ASSERT_OK(be2->ops->space(be2, &used, &avail));
    printf("%s quota: used %llu, available %llu\n", s->script, (unsigned long long)used,
           (unsigned long long)avail);
    /* Apache and lighttpd offer no RFC 4331 quota */
    ASSERT(used == UINT64_MAX && avail == UINT64_MAX);
    shelf__be_close(be2);
}

TEST(apache_conformance)
{
    suite(start_server("apache", "https"));
}

TEST(lighttpd_conformance)
{
    suite(start_server("lighttpd", "https"));
}

/* ---- create-only, passwords, names, big files ---------------------------- */

/* Two saves of one name at once, 20 times: one wins, the other is told the
 * name exists.  strict 0 (Apache): mod_dav_fs checks "Overwrite: F" and
 * then renames, so both may win; the file is still one of the two whole
 * (doc/design.md). */
static void create_only_race(dav_server *s, int strict)
{
    shelf__backend *be;
    shelf__err err = { 0, "" };
    shelf__buf b = SHELF__BUF_INIT;
    int round, both = 0;

    ASSERT_OKM(err.msg, open_dav(s, "/race", s->pass, 1, &be, &err));
    for (round = 0; round < 20; round++) {
        conf_racer r[2];
        char name[32];
        int won;

        snprintf(name, sizeof name, "data/%02d/same", round);
        conf_race(be, name, r);
        ASSERT_OK(shelf__be_load(be, name, 0, 0, &b));
        if (r[0].rc == SHELF_OK && r[1].rc == SHELF_OK && !strict) {
            both++;
            ASSERT(!strcmp(b.buf, r[0].data) || !strcmp(b.buf, r[1].data));
        } else {
            if ((r[0].rc == SHELF_OK) == (r[1].rc == SHELF_OK))
                test__fail(__FILE__, __LINE__, "%s race: %d (%s) and %d (%s)", s->script, r[0].rc,
                           r[0].be->err.msg, r[1].rc, r[1].be->err.msg);
            won = r[0].rc == SHELF_OK ? 0 : 1;
            ASSERT_RC(SHELF_EEXIST, r[1 - won].rc);
            ASSERT(strstr(r[1 - won].be->err.msg, "file exists"));
            ASSERT_EQ_STR(b.buf, r[won].data);
        }
        shelf__be_close(r[1].be);
    }
    printf("%s: %d of 20 races had both saves succeed\n", s->script, both);
    ASSERT_EQ_INT(count_tmps(s->dir), 0);
    shelf__buf_release(&b);
    shelf__be_close(be);
}

TEST(create_only_race)
{
    create_only_race(start_server("lighttpd", "https"), 1);
    create_only_race(start_server("apache", "https"), 0);
}

TEST(wrong_password)
{
    dav_server *s = start_server("apache", "https");
    shelf__backend *be;
    shelf__err err = { 0, "" };

    ASSERT_RC(SHELF_EPERM, open_dav(s, "/", "not-the-password", 0, &be, &err));
    printf("%s\n", err.msg);
    ASSERT(!strchr(err.msg, '\n'));
    ASSERT(strstr(err.msg, "permission denied"));
    ASSERT(strstr(err.msg, s->base));
    ASSERT(!strstr(err.msg, "not-the-password"));
    /* right password, wrong CA: the certificate is refused */
    {
        dav_server bad = *s;

        snprintf(bad.ca, sizeof bad.ca, "/etc/ssl/certs/ca-certificates.crt");
        ASSERT(open_dav(&bad, "/", s->pass, 0, &be, &err) != SHELF_OK);
        printf("%s\n", err.msg);
        ASSERT(!strchr(err.msg, '\n'));
    }
}

static int found_long;

static int find_long(void *ud, const char *name, uint64_t size)
{
    found_long += !strcmp(name, ud) && size == 1;
    return 0;
}

TEST(every_safe_character)
{
    dav_server *s = start_server("lighttpd", "https");
    static const char safe[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-";
    shelf__backend *be;
    shelf__err err = { 0, "" };
    shelf__buf b = SHELF__BUF_INIT;
    char name[256];
    conf_names l;
    uint64_t size;

    ASSERT_OKM(err.msg, open_dav(s, "/names", s->pass, 1, &be, &err));
    snprintf(name, sizeof name, "-._x/%s/%s", safe, safe);
    ASSERT_OKM(be->err.msg, shelf__be_save(be, name, "n", 1));
    ASSERT_OK(shelf__be_save(be, "-._x/..x", "d", 1));
    ASSERT_OK(shelf__be_save(be, "-._x/x..", "e", 1));
    ASSERT_OK(shelf__be_stat(be, name, &size));
    ASSERT_EQ_INT(size, 1);
    ASSERT_OK(shelf__be_load(be, name, 0, 0, &b));
    ASSERT_EQ_STR(b.buf, "n");
    memset(&l, 0, sizeof l);
    ASSERT_OK(shelf__be_list(be, "-._x", conf_collect, &l));
    ASSERT_EQ_INT(l.n, 3);
    ASSERT(conf_has(&l, "-._x/..x"));
    ASSERT(conf_has(&l, "-._x/x.."));
    found_long = 0;
    ASSERT_OK(shelf__be_list(be, "-._x", find_long, name));
    ASSERT_EQ_INT(found_long, 1);
    ASSERT_OK(shelf__be_remove(be, name));
    ASSERT_RC(SHELF_ENOTFOUND, shelf__be_stat(be, name, &size));
    shelf__buf_release(&b);
    shelf__be_close(be);
}

TEST(save_fd_30mib)
{
    dav_server *s = start_server("apache", "https");
    const char *d = test_tmpdir();
    size_t n = 30u << 20, i;
    shelf__backend *be;
    shelf__err err = { 0, "" };
    shelf__buf b = SHELF__BUF_INIT;
    char path[512];
    uint64_t size;
    double t0;
    char *big = malloc(n);
    int fd;

    ASSERT(big);
    for (i = 0; i < n; i++)
        big[i] = (char)(i * 131 + (i >> 12));
    test_pathf(path, sizeof path, "%s/big", d);
    test_write_file(path, big, n);
    ASSERT((fd = open(path, O_RDONLY)) >= 0);
    ASSERT_OKM(err.msg, open_dav(s, "/big", s->pass, 1, &be, &err));
    ASSERT(be->ops->save_fd);
    t0 = shelf__monotonic();
    ASSERT_OKM(be->err.msg, be->ops->save_fd(be, "data/ff/big", fd, n));
    printf("save_fd of 30 MiB: %.2f s\n", shelf__monotonic() - t0);
    ASSERT_RC(SHELF_EEXIST, be->ops->save_fd(be, "data/ff/big", fd, n));
    ASSERT_RC(SHELF_EINVAL, be->ops->save_fd(be, "../big", fd, n));
    close(fd);
    ASSERT_OK(shelf__be_stat(be, "data/ff/big", &size));
    ASSERT_EQ_INT(size, n);
    ASSERT_OK(shelf__be_load(be, "data/ff/big", 0, 0, &b));
    ASSERT_EQ_INT(b.len, n);
    ASSERT(!memcmp(b.buf, big, n));
    ASSERT_OK(shelf__be_load(be, "data/ff/big", n - 100, 0, &b));
    ASSERT_EQ_INT(b.len, 100);
    ASSERT(!memcmp(b.buf, big + n - 100, 100));
    ASSERT_EQ_INT(count_tmps(s->dir), 0);
    free(big);
    shelf__buf_release(&b);
    shelf__be_close(be);
}

/* ---- a server that lies ------------------------------------------------- */

/* Answers every request on one connection with the reply for the request's
 * method: PROPFIND Depth 0 (the open) a good multistatus, PROPFIND Depth 1
 * the body under test, sent with lie_len as Content-Length. */
typedef struct liar {
    int lfd, port;
    const char *body;       /* the Depth 1 reply */
    size_t lie_len;         /* Content-Length sent for it */
    long status;
} liar;

static const char good_root[] =
    "<?xml version=\"1.0\"?><x:multistatus xmlns:x=\"DAV:\"><x:response><x:href>/r/d/</x:href>"
    "<x:propstat><x:prop><x:resourcetype><x:collection/></x:resourcetype></x:prop>"
    "<x:status>HTTP/1.1 200 OK</x:status></x:propstat></x:response></x:multistatus>";

static void *liar_main(void *p)
{
    liar *lr = p;
    int c;

    while ((c = accept(lr->lfd, NULL, NULL)) >= 0) {
        char req[8192];
        size_t got = 0;

        for (;;) {
            char hdr[256];
            const char *body, *end;
            size_t blen, need;
            ssize_t r = read(c, req + got, sizeof req - 1 - got);
            int depth1, n;

            if (r <= 0)
                break;
            got += (size_t)r;
            req[got] = '\0';
            if (!(end = strstr(req, "\r\n\r\n")))
                continue;
            {
                const char *cl = strstr(req, "Content-Length: ");

                need = (size_t)(end + 4 - req) + (cl ? (size_t)strtol(cl + 16, NULL, 10) : 0);
            }
            if (got < need)
                continue;
            depth1 = strstr(req, "Depth: 1") != NULL;
            body = depth1 ? lr->body : good_root;
            blen = strlen(body);
            n = snprintf(hdr, sizeof hdr,
                         "HTTP/1.1 %ld Multi-Status\r\nContent-Type: application/xml\r\n"
                         "Content-Length: %zu\r\n\r\n",
                         depth1 ? lr->status : 207, depth1 ? lr->lie_len : blen);
            if (write(c, hdr, (size_t)n) != n || write(c, body, blen) != (ssize_t)blen)
                break;
            if (depth1 && lr->lie_len != blen)
                break;      /* cut: close mid-body */
            memmove(req, req + need, got - need);
            got -= need;
        }
        close(c);
    }
    return NULL;
}

static void liar_start(liar *lr, pthread_t *th)
{
    struct sockaddr_in a;
    socklen_t al = sizeof a;

    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT((lr->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0);
    ASSERT_EQ_INT(bind(lr->lfd, (struct sockaddr *)&a, sizeof a), 0);
    ASSERT_EQ_INT(listen(lr->lfd, 8), 0);
    ASSERT_EQ_INT(getsockname(lr->lfd, (struct sockaddr *)&a, &al), 0);
    lr->port = ntohs(a.sin_port);
    ASSERT_EQ_INT(pthread_create(th, NULL, liar_main, lr), 0);
}

/* list through the liar: rc and the message. */
static int list_liar(const char *body, size_t lie_len, long status, char *msg, size_t msgsize)
{
    liar lr = { -1, 0, body, lie_len, status };
    pthread_t th;
    dav_server s;
    shelf__backend *be;
    shelf__err err = { 0, "" };
    conf_names l;
    int rc;

    liar_start(&lr, &th);
    memset(&s, 0, sizeof s);
    snprintf(s.base, sizeof s.base, "http://127.0.0.1:%d", lr.port);
    snprintf(s.user, sizeof s.user, "u");
    ASSERT_OKM(err.msg, open_dav(&s, "/r", "p", 0, &be, &err));
    memset(&l, 0, sizeof l);
    rc = shelf__be_list(be, "d", conf_collect, &l);
    snprintf(msg, msgsize, "%s", be->err.msg);
    shelf__be_close(be);
    shutdown(lr.lfd, SHUT_RDWR);
    close(lr.lfd);
    pthread_join(th, NULL);
    return rc;
}

TEST(replies_that_lie)
{
    static const char good[] =
        "<?xml version=\"1.0\"?><multistatus xmlns=\"DAV:\"><response><href>/r/d/a</href>"
        "<propstat><prop><resourcetype/><getcontentlength>5</getcontentlength></prop>"
        "<status>HTTP/1.1 200 OK</status></propstat></response></multistatus>";
    static const char bad_size[] =
        "<?xml version=\"1.0\"?><multistatus xmlns=\"DAV:\"><response><href>/r/d/a</href>"
        "<propstat><prop><getcontentlength>5x</getcontentlength></prop>"
        "<status>HTTP/1.1 200 OK</status></propstat></response></multistatus>";
    static const char entity[] =
        "<?xml version=\"1.0\"?><!DOCTYPE m [<!ENTITY e \"x\">]><multistatus xmlns=\"DAV:\">"
        "<response><href>/r/d/&e;</href></response></multistatus>";
    char msg[1024];

    /* the liar itself is right when it tells the truth */
    ASSERT_OKM(msg, list_liar(good, strlen(good), 207, msg, sizeof msg));
    /* a body cut in the middle of the XML (Content-Length of the cut) */
    ASSERT_RC(SHELF_EIO, list_liar(good, 60, 207, msg, sizeof msg));
    printf("%s\n", msg);
    ASSERT(strstr(msg, "list d/: malformed reply"));
    ASSERT(!strchr(msg, '\n'));
    /* a connection closed mid-body (Content-Length larger than sent) */
    ASSERT_RC(SHELF_EIO, list_liar(good, strlen(good) + 100, 207, msg, sizeof msg));
    printf("%s\n", msg);
    ASSERT(strstr(msg, "webdav:http://127.0.0.1"));
    ASSERT_RC(SHELF_EIO, list_liar(bad_size, strlen(bad_size), 207, msg, sizeof msg));
    ASSERT(strstr(msg, "not a number"));
    ASSERT_RC(SHELF_EIO, list_liar(entity, strlen(entity), 207, msg, sizeof msg));
    ASSERT(strstr(msg, "entity"));
    ASSERT_RC(SHELF_EIO, list_liar("<html>oops</html>", 17, 207, msg, sizeof msg));
    ASSERT(strstr(msg, "not a dav multistatus"));
    ASSERT_RC(SHELF_EPERM, list_liar(good, strlen(good), 403, msg, sizeof msg));
    ASSERT(strstr(msg, "permission denied"));
}

/* ---- a PROPFIND reply cut by the fault proxy ------------------------------ */

static pid_t proxy_pid = -1, proxy_owner;

static void stop_proxy(void)
{
    if (getpid() == proxy_owner)
        test_server_stop(&proxy_pid);
}

/* Start shelf-faultproxy ARGS... PORT; returns its port. */
static int start_proxy(const char *control, int port)
{
    char sport[16], line[64];
    char *argv[] = { (char *)SHELF_FAULTPROXY, (char *)"--control", (char *)control, sport, NULL };
    int pport;

    snprintf(sport, sizeof sport, "%d", port);
    proxy_owner = getpid();
    pport = test_server_start(argv, NULL, 0, 20, &proxy_pid, line, sizeof line);
    ASSERT(pport > 0);
    atexit(stop_proxy);
    return pport;
}

TEST(propfind_cut_by_proxy)
{
    dav_server *s = start_server("apache", "http");
    dav_server via;
    const char *d = test_tmpdir();
    char control[512], tmp[600], name[96];
    shelf__backend *be;
    shelf__err err = { 0, "" };
    conf_names l;
    double t0;
    int i;

    test_pathf(control, sizeof control, "%s/faults", d);
    via = *s;
    snprintf(via.base, sizeof via.base, "http://127.0.0.1:%d",
             start_proxy(control, (int)strtol(strrchr(s->base, ':') + 1, NULL, 10)));
    /* through the proxy without faults: 40 files, so listing data/ takes
     * more than 4 KB */
    ASSERT_OKM(err.msg, open_dav(&via, "/cut", s->pass, 1, &be, &err));
    for (i = 0; i < 40; i++) {
        snprintf(name, sizeof name, "data/%064d", i);
        ASSERT_OKM(be->err.msg, shelf__be_save(be, name, "x", 1));
    }
    shelf__be_close(be);
    /* every new connection is cut after 2000 bytes from the server: the
     * open's small reply passes, every reply to the listing is cut in its
     * body, attempt after attempt */
    test_pathf(tmp, sizeof tmp, "%s.new", control);
    test_write_file(tmp, "--cut 2000\n", 11);
    ASSERT_EQ_INT(rename(tmp, control), 0);
    ASSERT_OKM(err.msg, open_dav(&via, "/cut", s->pass, 0, &be, &err));
    memset(&l, 0, sizeof l);
    t0 = shelf__monotonic();
    ASSERT_RC(SHELF_EIO, shelf__be_list(be, "data", conf_collect, &l));
    printf("%s (%.1f s)\n", be->err.msg, shelf__monotonic() - t0);
    ASSERT(!strchr(be->err.msg, '\n'));
    ASSERT(strstr(be->err.msg, "webdav:http://127.0.0.1:"));
    ASSERT(strstr(be->err.msg, "list data/"));
    ASSERT_EQ_INT(l.n, 0);
    shelf__be_close(be);
    /* faults off: the same listing works */
    test_write_file(tmp, "\n", 1);
    ASSERT_EQ_INT(rename(tmp, control), 0);
    ASSERT_OKM(err.msg, open_dav(&via, "/cut", s->pass, 0, &be, &err));
    memset(&l, 0, sizeof l);
    ASSERT_OKM(be->err.msg, shelf__be_list(be, "data", conf_collect, &l));
    ASSERT_EQ_INT(l.n, 16);     /* conf_names keeps 16 */
    shelf__be_close(be);
}

/* ---- the parser alone --------------------------------------------------- */

typedef struct ms_seen {
    int n;
    shelf__dav_entry e[4];
    char href[4][128];
} ms_seen;

static int ms_collect(void *ud, const shelf__dav_entry *e)
{
    ms_seen *m = ud;

    if (m->n < 4) {
        m->e[m->n] = *e;
        snprintf(m->href[m->n], sizeof m->href[0], "%s", e->href);
        m->n++;
    }
    return 0;
}

TEST(multistatus_parser)
{
    /* a Nextcloud-style reply: another prefix, absolute hrefs, quota */
    static const char nc[] =
        "<?xml version=\"1.0\"?><d:multistatus xmlns:d=\"DAV:\" xmlns:oc=\"http://owncloud.org/ns\">"
        "<d:response><d:href>https://cloud.example.com/dav/r%C3%A9po/</d:href><d:propstat><d:prop>"
        "<d:resourcetype><d:collection/></d:resourcetype><d:quota-used-bytes>123456</d:quota-used-bytes>"
        "<d:quota-available-bytes>987654321</d:quota-available-bytes><oc:size>5</oc:size></d:prop>"
        "<d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>"
        "<d:response><d:href>/dav/r%C3%A9po/a%20b</d:href><d:propstat><d:prop><d:resourcetype/>"
        "<d:getcontentlength> 42 </d:getcontentlength></d:prop><d:status>HTTP/1.1 200 OK</d:status>"
        "</d:propstat><d:propstat><d:prop><d:getetag/></d:prop><d:status>HTTP/1.1 404 Not Found</d:status>"
        "</d:propstat></d:response>"
        "<d:response><d:href>/dav/gone</d:href><d:status>HTTP/1.1 404 Not Found</d:status></d:response>"
        "<x:response xmlns:x=\"urn:not-dav\"><x:href>/dav/other</x:href></x:response>"
        "</d:multistatus>";
    /* the DAV: namespace as the default; a collection element from another
     * namespace is not a folder */
    static const char def[] =
        "<multistatus xmlns=\"DAV:\"><response><href>/x/</href><propstat><prop><resourcetype>"
        "<collection xmlns=\"urn:other\"/></resourcetype></prop><status>HTTP/1.1 200 OK</status>"
        "</propstat></response></multistatus>";
    static const char nul[] =
        "<multistatus xmlns=\"DAV:\"><response><href>/a%00</href><status>HTTP/1.1 200 OK</status>"
        "</response></multistatus>";
    shelf__err err = { 0, "" };
    ms_seen m;

    memset(&m, 0, sizeof m);
    ASSERT_OKM(err.msg, shelf__dav_multistatus(nc, sizeof nc - 1, ms_collect, &m, &err));
    ASSERT_EQ_INT(m.n, 2);
    ASSERT_EQ_STR(m.href[0], "/dav/r\xc3\xa9po/");
    ASSERT_EQ_INT(m.e[0].is_dir, 1);
    ASSERT_EQ_INT(m.e[0].quota_used, 123456);
    ASSERT_EQ_INT(m.e[0].quota_avail, 987654321);
    ASSERT(m.e[0].size == UINT64_MAX);
    ASSERT_EQ_STR(m.href[1], "/dav/r\xc3\xa9po/a b");
    ASSERT_EQ_INT(m.e[1].is_dir, 0);
    ASSERT_EQ_INT(m.e[1].size, 42);
    ASSERT(m.e[1].quota_avail == UINT64_MAX);
    memset(&m, 0, sizeof m);
    ASSERT_OK(shelf__dav_multistatus(def, sizeof def - 1, ms_collect, &m, &err));
    ASSERT_EQ_INT(m.n, 1);
    ASSERT_EQ_INT(m.e[0].is_dir, 0);
    /* not a multistatus, cut, a NUL in an href */
    ASSERT_RC(SHELF_EIO, shelf__dav_multistatus("<a/>", 4, ms_collect, &m, &err));
    ASSERT_RC(SHELF_EIO, shelf__dav_multistatus(nc, 100, ms_collect, &m, &err));
    ASSERT(strstr(err.msg, "malformed reply"));
    ASSERT_RC(SHELF_EIO, shelf__dav_multistatus(nul, sizeof nul - 1, ms_collect, &m, &err));
    ASSERT(strstr(err.msg, "does not decode"));
}

int main(int argc, char **argv)
{
    static const test_case tests[] = {
        TEST_ENTRY(apache_conformance),
        TEST_ENTRY(lighttpd_conformance),
        TEST_ENTRY(create_only_race),
        TEST_ENTRY(wrong_password),
        TEST_ENTRY(every_safe_character),
        TEST_ENTRY(save_fd_30mib),
        TEST_ENTRY(replies_that_lie),
        TEST_ENTRY(propfind_cut_by_proxy),
        TEST_ENTRY(multistatus_parser),
        TEST_END
    };

    signal(SIGPIPE, SIG_IGN);
    return test_run(argc, argv, tests);
}
