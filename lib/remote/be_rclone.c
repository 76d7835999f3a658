/*
 * be_rclone.c: the rclone bridge.  A target "rclone:REMOTE:PATH" (Google
 * Drive, Dropbox, OneDrive and every other provider rclone reaches, set up
 * with `rclone config` as usual) is served by a child `rclone serve webdav
 * REMOTE:PATH` on 127.0.0.1 (a port the kernel picks, read from rclone's
 * log) with a random password, and the backend is a WebDAV backend
 * (be_webdav.c) on it.  The password is never in rclone's argv or
 * environment: rclone reads its SHA-1 from an htpasswd file in a 0700 temp
 * folder.  The child dies with the thread that opened the backend
 * (PR_SET_PDEATHSIG); close stops it (SIGTERM, then SIGKILL after 5 s) and
 * removes the temp folder.  This file owns the child and the folder.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include "dav_int.h"

#define START_SECONDS 30

typedef struct rclone_child {
    pid_t pid;
    char *dir;      /* the 0700 temp folder: htpasswd, log */
} rclone_child;

/* Stop the child and remove its folder (the WebDAV backend's on_close). */
static void child_stop(void *ud)
{
    rclone_child *c = ud;
    int st, i;

    if (!c)
        return;
    if (c->pid > 0) {
        kill(c->pid, SIGTERM);
        for (i = 0; i < 100; i++) {
            pid_t w = waitpid(c->pid, &st, WNOHANG);

            if (w == c->pid || (w < 0 && errno != EINTR))
                break;
            shelf__dav_sleep_ms(50);
        }
        if (i == 100) {
            kill(c->pid, SIGKILL);
            while (waitpid(c->pid, &st, 0) < 0 && errno == EINTR)
                ;
        }
    }
    if (c->dir) {
        shelf__rmtree(c->dir);
        shelf_free(c->dir);
    }
    shelf_free(c);
}

/* "shelf:{SHA}base64(sha1(password))" into DIR/htpasswd (0600). */
static int write_htpasswd(const char *path, const char *password, shelf__err *err)
{
    unsigned char md[SHA_DIGEST_LENGTH], b64[4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1];
    char line[128];
    int fd, e, n;

    SHA1((const unsigned char *)password, strlen(password), md);
    EVP_EncodeBlock(b64, md, SHA_DIGEST_LENGTH);
    n = snprintf(line, sizeof line, "shelf:{SHA}%s\n", (const char *)b64);
    if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0)
        return shelf__seterr_errno(err, errno, "cannot write '%s'", path);
    e = shelf__write_all(fd, line, (size_t)n);
    if (close(fd) != 0 && !e)
        e = errno;
    OPENSSL_cleanse(line, sizeof line);
    if (e)
        return shelf__seterr_errno(err, e, "cannot write '%s'", path);
    return SHELF_OK;
}

/* The port from rclone's "... Server started on http://127.0.0.1:PORT/"
 * line; 0 while it is not there, -1 when the log tells a failure. */
static int read_port(const char *log, char *why, size_t whysize)
{
    char buf[8192], *p;
    ssize_t n;
    int fd = open(log, O_RDONLY | O_CLOEXEC), port = 0;

    if (fd < 0)
        return 0;
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    if ((p = strstr(buf, "started on http://127.0.0.1:")) != NULL) {
        long v = strtol(p + strlen("started on http://127.0.0.1:"), NULL, 10);

        port = v > 0 && v < 65536 ? (int)v : -1;
    } else if ((p = strstr(buf, "ERROR")) != NULL || (p = strstr(buf, "Failed")) != NULL ||
               (p = strstr(buf, "CRITICAL")) != NULL) {
        char *nl = strchr(p, '\n');

        snprintf(why, whysize, "%.*s", nl ? (int)(nl - p) : (int)strlen(p), p);
        port = -1;
    }
    return port;
}

int shelf__be_rclone_open(const shelf__target *t, const shelf__be_opts *o,
                          shelf__backend **out, shelf__err *err)
{
    const char *prog = o && o->rclone ? o->rclone : "rclone";
    const char *tmp = getenv("TMPDIR");
    char *ht = NULL, *log = NULL, *display = NULL, why[256] = "";
    char pass[33], base[64];
    rclone_child *c = NULL;
    uint8_t r[16];
    double t0;
    int rc = SHELF_OK, port = 0, st;

    *out = NULL;
    pass[0] = '\0';
    if (!t || t->kind != SHELF__TGT_RCLONE || !t->path || !strchr(t->path, ':'))
        return shelf__seterr(err, SHELF_EINVAL, "not an rclone target (rclone:REMOTE:PATH)");
    if (!(c = shelf__calloc(1, sizeof *c)) ||
        !(c->dir = shelf__asprintf("%s/shelf-rclone-XXXXXX", tmp && *tmp ? tmp : "/tmp")) ||
        !(display = shelf__asprintf("rclone:%s", t->path))) {
        rc = shelf__seterr(err, SHELF_ENOMEM, "out of memory");
        goto fail;
    }
    if (!mkdtemp(c->dir)) {     /* 0700 */
        rc = shelf__seterr_errno(err, errno, "cannot make a folder for rclone in '%s'",
                                 tmp && *tmp ? tmp : "/tmp");
        shelf_free(c->dir);
        c->dir = NULL;
        goto fail;
    }
    if (RAND_bytes(r, sizeof r) != 1) {
        rc = shelf__seterr(err, SHELF_EIO, "cannot start rclone: no random bytes");
        goto fail;
    }
    shelf__hex(r, sizeof r, pass);
    OPENSSL_cleanse(r, sizeof r);
    if (!(ht = shelf__path_join(c->dir, "htpasswd")) || !(log = shelf__path_join(c->dir, "rclone.log"))) {
        rc = shelf__seterr(err, SHELF_ENOMEM, "out of memory");
        goto fail;
    }
    if ((rc = write_htpasswd(ht, pass, err)) != SHELF_OK)
        goto fail;
    {
        pid_t parent = getpid();

        if ((c->pid = fork()) < 0) {
            rc = shelf__seterr_errno(err, errno, "cannot start '%s'", prog);
            goto fail;
        }
        if (c->pid == 0) {
            int devnull = open("/dev/null", O_RDWR);

            /* Never outlive shelf (nor a parent that died before this). */
            if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
                _exit(126);
            if (devnull >= 0) {
                dup2(devnull, 0);
                dup2(devnull, 1);
            }
            /* --dir-cache-time 0s: another machine may write the same
             * remote, and a stale folder listing would hide its files. */
            execlp(prog, prog, "serve", "webdav", t->path, "--addr", "127.0.0.1:0", "--htpasswd", ht,
                   "--log-file", log, "--dir-cache-time", "0s", (char *)NULL);
            _exit(127);
        }
    }
    /* Wait until it listens (or dies). */
    t0 = shelf__monotonic();
    while ((port = read_port(log, why, sizeof why)) == 0) {
        pid_t w = waitpid(c->pid, &st, WNOHANG);

        if (w == c->pid) {
            c->pid = 0;
            if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
                rc = shelf__seterr(err, SHELF_ENOTFOUND, "%s: cannot run '%s' (is rclone installed?)",
                                   display, prog);
            else {
                (void)read_port(log, why, sizeof why);
                rc = shelf__seterr(err, SHELF_EIO, "%s: rclone serve stopped%s%s", display,
                                   why[0] ? ": " : "", why);
            }
            goto fail;
        }
        if (shelf__monotonic() - t0 > START_SECONDS) {
            rc = shelf__seterr(err, SHELF_EIO, "%s: rclone serve did not start in %d s", display,
                               START_SECONDS);
            goto fail;
        }
        shelf__dav_sleep_ms(50);
    }
    if (port < 0) {
        rc = shelf__seterr(err, SHELF_EIO, "%s: rclone serve failed: %s", display, why);
        goto fail;
    }
    snprintf(base, sizeof base, "http://127.0.0.1:%d", port);
    /* From here the WebDAV backend owns c (on_close), on failure too. */
    rc = shelf__dav_open("rclone", display, base, "/", "shelf", pass, o, 1, child_stop, c, out, err);
    c = NULL;
fail:
    OPENSSL_cleanse(pass, sizeof pass);
    child_stop(c);
    shelf_free(display);
    shelf_free(log);
    shelf_free(ht);
    return rc;
}
