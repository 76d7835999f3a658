/*
 * claim.c: one `shelf daemon` per library.  The daemon holds an exclusive
 * flock on DIR/daemon, which says its pid and start time; the lock goes
 * with the process, so a daemon that died (kill -9 included) leaves a file
 * that the next one simply takes over.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>
#include "shelf/shelf.h"
#include "../catalog/catalog_int.h"

struct shelf_claim {
    int fd;
};

/* DIR/daemon's "PID SINCE\n"; 0s when it says nothing readable. */
static void read_holder(int fd, long *pid, int64_t *since)
{
    char buf[64], *end = buf;
    long long s = 0;
    long p = 0;
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);

    if (n > 0) {
        buf[n] = '\0';
        p = strtol(buf, &end, 10);
        if (end == buf || *end != ' ')
            p = 0;
        else
            s = strtoll(end + 1, NULL, 10);
    }
    if (pid)
        *pid = p > 0 ? p : 0;
    if (since)
        *since = p > 0 ? (int64_t)s : 0;
}

static int claim_path(shelf_library *lib, char *p, size_t size)
{
    if ((size_t)snprintf(p, size, "%s/daemon", lib->path) >= size)
        return shelf__seterr(&lib->err, SHELF_EINVAL, "library path too long: %s", lib->path);
    return SHELF_OK;
}

int shelf_daemon_claim(shelf_library *lib, shelf_claim **out, long *pid)
{
    shelf_claim *c;
    char p[4096], line[64];
    int fd, n, rc;

    if (pid)
        *pid = 0;
    if (!lib || !out)
        return lib ? shelf__seterr(&lib->err, SHELF_EINVAL, "invalid daemon claim") : SHELF_EINVAL;
    *out = NULL;
    if (lib->readonly)
        return shelf__seterr(&lib->err, SHELF_EPERM, "the library at %s is read-only: a daemon has nothing to keep",
                             lib->path);
    if ((rc = claim_path(lib, p, sizeof p)) != SHELF_OK)
        return rc;
    if ((fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0)
        return shelf__seterr_errno(&lib->err, errno, "cannot open %s", p);
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;

        if (e == EWOULDBLOCK) {
            read_holder(fd, pid, NULL);
            close(fd);
            return shelf__seterr(&lib->err, SHELF_EBUSY, "a daemon already runs for %s (pid %ld)", lib->path,
                                 pid ? *pid : 0L);
        }
        close(fd);
        return shelf__seterr_errno(&lib->err, e, "cannot lock %s", p);
    }
    n = snprintf(line, sizeof line, "%ld %lld\n", (long)getpid(), (long long)time(NULL));
    if (ftruncate(fd, 0) != 0 || pwrite(fd, line, (size_t)n, 0) != n) {
        int e = errno;

        close(fd);
        return shelf__seterr_errno(&lib->err, e, "cannot write %s", p);
    }
    if (!(c = malloc(sizeof *c))) {
        close(fd);
        return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    }
    c->fd = fd;
    *out = c;
    return SHELF_OK;
}

void shelf_daemon_release(shelf_claim *c)
{
    if (!c)
        return;
    /* Say no one holds it before the lock goes, so that a reader that
     * takes the lock next never sees a pid that has gone. */
    if (ftruncate(c->fd, 0) != 0) {
        /* the lock is released anyway; a stale pid is only shown, never trusted */
    }
    close(c->fd);
    free(c);
}

int shelf_daemon_running(shelf_library *lib, long *pid, int64_t *since)
{
    char p[4096];
    int fd, rc;

    if (pid)
        *pid = 0;
    if (since)
        *since = 0;
    if (!lib)
        return SHELF_EINVAL;
    if ((rc = claim_path(lib, p, sizeof p)) != SHELF_OK)
        return rc;
    if ((fd = open(p, O_RDONLY | O_CLOEXEC)) < 0) {
        if (errno == ENOENT)
            return 0;
        return shelf__seterr_errno(&lib->err, errno, "cannot open %s", p);
    }
    if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
        close(fd);
        return 0;
    }
    if (errno != EWOULDBLOCK) {
        int e = errno;

        close(fd);
        return shelf__seterr_errno(&lib->err, e, "cannot lock %s", p);
    }
    read_holder(fd, pid, since);
    close(fd);
    return 1;
}
