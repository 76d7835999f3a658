/*
 * watch.c: background indexing.  One inotify descriptor watches every
 * folder of every root of a library; events become a batch of work (files
 * to import, folders to import, paths gone, roots to rescan) that runs
 * through the import once the events stop for a moment:
 *
 *   events -> pending (files, folders, gone, stale watches, rescans)
 *   -> debounce -> coalesce (a folder covers what is under it)
 *   -> shelf_import(rescans, folders, files) -> shelf__import_gone(gone)
 *
 * It owns the descriptor, the table wd -> folder, the roots as last read
 * from the catalog and their state (watched; polled: the watch limit was
 * reached; gone: waiting for it to come back).  It runs entirely on the
 * caller's thread, inside shelf_watch_step (doc/service.md).
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>
#include "../catalog/catalog_int.h"
#include "../media/media_int.h"
#include "../import/import_int.h"

#define DEFAULT_DEBOUNCE_MS 500
#define DEFAULT_POLL_MS 60000
#define TICK_S 2.0              /* roots checked this often */
#define FOLDER_FILES 8          /* this many files of one folder: import the folder */
#define DIR_MASK (IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | \
                  IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW | IN_EXCL_UNLINK)

enum { ROOT_WATCHED, ROOT_POLLED, ROOT_GONE };

typedef struct wroot {
    int64_t id;
    char *path;
    int state;                  /* ROOT_... */
    int wd;                     /* the root folder's watch; -1 when none */
    dev_t dev;                  /* the root folder when it was watched */
    ino_t ino;
    int mount;                  /* ... was a volume's top (a mount point) */
    int has_under;              /* gone by an unmount: what the path shows now */
    dev_t under_dev;
    ino_t under_ino;
    double next_poll;           /* ROOT_POLLED: when it is rescanned next */
    int rescan;                 /* rescan it in the next batch */
    int seen;                   /* found by the last read of the roots */
} wroot;

typedef struct wdir {
    char *path;                 /* NULL: a free slot */
    dev_t dev;
    ino_t ino;
} wdir;

typedef struct strv {
    char **v;
    size_t n, cap;
} strv;

struct shelf_watch {
    shelf_library *lib;
    shelf_watch_opts o;
    int fd;
    wdir *dirs;                 /* indexed by wd */
    size_t cdirs, nwatches;
    wroot *roots;
    size_t nroots, croots;
    int64_t data_version;
    double debounce, next_tick;
    double first, last;         /* first and last event of the pending batch; 0: none */
    strv files, folders, gone, stale;
    char buf[64 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));
};

/* ----- small helpers ------------------------------------------------------ */

static void note(shelf_watch *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(shelf_watch *w, const char *fmt, ...)
{
    char line[1200];
    va_list ap;

    if (!w->o.on_note)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    w->o.on_note(w->o.ud, line);
}

static int oom(shelf_watch *w)
{
    return shelf__seterr(&w->lib->err, SHELF_ENOMEM, "out of memory");
}

static int strv_add(shelf_watch *w, strv *s, const char *p)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 32;
        char **v = shelf__realloc(s->v, cap * sizeof *v);

        if (!v)
            return oom(w);
        s->v = v;
        s->cap = cap;
    }
    if (!(s->v[s->n] = shelf__strdup(p)))
        return oom(w);
    s->n++;
    return SHELF_OK;
}

static void strv_clear(strv *s)
{
    size_t i;

    for (i = 0; i < s->n; i++)
        shelf_free(s->v[i]);
    s->n = 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sort s and drop repeats. */
static void strv_uniq(strv *s)
{
    size_t i, k = 0;

    if (s->n < 2)
        return;
    qsort(s->v, s->n, sizeof *s->v, cmp_str);
    for (i = 0; i < s->n; i++) {
        if (k && !strcmp(s->v[k - 1], s->v[i]))
            shelf_free(s->v[i]);
        else
            s->v[k++] = s->v[i];
    }
    s->n = k;
}

/* Whether p is one of the folders of s or under one. */
static int covered(const strv *s, const char *p)
{
    size_t i;

    for (i = 0; i < s->n; i++)
        if (shelf__path_under(p, s->v[i]))
            return 1;
    return 0;
}

/* The root that contains path (the longest: roots never nest, but a root
 * just folded into another is still listed until the next read), or NULL. */
static wroot *root_of(shelf_watch *w, const char *path)
{
    wroot *best = NULL;
    size_t i;

    for (i = 0; i < w->nroots; i++)
        if (shelf__path_under(path, w->roots[i].path) &&
            (!best || strlen(w->roots[i].path) > strlen(best->path)))
            best = &w->roots[i];
    return best;
}

/* What the import would look at: no dot file, an audio extension. */
static int wanted_file(const char *name)
{
    char ext[8];

    if (name[0] == '.')
        return 0;
    shelf__path_ext(name, ext, sizeof ext);
    return shelf__is_audio_ext(ext);
}

/* ----- watches ------------------------------------------------------------ */

static void drop_wd(shelf_watch *w, int wd, int rm)
{
    if (wd < 0 || (size_t)wd >= w->cdirs || !w->dirs[wd].path)
        return;
    if (rm)
        inotify_rm_watch(w->fd, wd);
    shelf_free(w->dirs[wd].path);
    w->dirs[wd].path = NULL;
    w->nwatches--;
}

/*
 * Watch the folder path; its wd, or -1 (errno set: ENOSPC at the watch
 * limit; ENOENT, EACCES, ENOTDIR: a folder that went or cannot be read).
 * A folder already watched keeps its wd and takes the new path (a move).
 */
static int add_watch(shelf_watch *w, const char *path, int *err)
{
    struct stat sb;
    int wd;

    *err = 0;
    if (lstat(path, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        *err = errno ? errno : ENOTDIR;
        return -1;
    }
    if ((wd = inotify_add_watch(w->fd, path, DIR_MASK)) < 0) {
        *err = errno;
        return -1;
    }
    if ((size_t)wd >= w->cdirs) {
        size_t c = w->cdirs ? w->cdirs : 256;
        wdir *d;

        while (c <= (size_t)wd)
            c *= 2;
        if (!(d = shelf__realloc(w->dirs, c * sizeof *d))) {
            inotify_rm_watch(w->fd, wd);
            *err = ENOMEM;
            return -1;
        }
        memset(d + w->cdirs, 0, (c - w->cdirs) * sizeof *d);
        w->dirs = d;
        w->cdirs = c;
    }
    if (!w->dirs[wd].path || strcmp(w->dirs[wd].path, path) != 0) {
        char *p = shelf__strdup(path);

        if (!p) {
            *err = ENOMEM;
            return -1;
        }
        if (w->dirs[wd].path)
            shelf_free(w->dirs[wd].path);
        else
            w->nwatches++;
        w->dirs[wd].path = p;
    }
    w->dirs[wd].dev = sb.st_dev;
    w->dirs[wd].ino = sb.st_ino;
    return wd;
}

/*
 * Watch path and every folder under it (no dot folders, no symbolic links,
 * not the library).  Returns SHELF_OK, or SHELF_ENOMEM; *limit is set when
 * the watch limit stopped it (what was watched stays watched).
 */
static int add_tree(shelf_watch *w, const char *path, int *limit)
{
    struct dirent *de;
    DIR *d;
    int rc = SHELF_OK, err;

    if (add_watch(w, path, &err) < 0) {
        if (err == ENOSPC)
            *limit = 1;
        return err == ENOMEM ? oom(w) : SHELF_OK;
    }
    if (!(d = opendir(path)))
        return SHELF_OK;
    while (rc == SHELF_OK && !*limit && (de = readdir(d)) != NULL) {
        struct stat sb;
        char *sub;

        if (de->d_name[0] == '.' || (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN))
            continue;
        if (!(sub = shelf__path_join(path, de->d_name))) {
            rc = oom(w);
            break;
        }
        if ((de->d_type == DT_DIR || (lstat(sub, &sb) == 0 && S_ISDIR(sb.st_mode))) &&
            strcmp(sub, w->lib->path) != 0)
            rc = add_tree(w, sub, limit);
        shelf_free(sub);
    }
    closedir(d);
    return rc;
}

/* Remove the watches of path and what is under it, except those under a
 * root that is kept (keep, which may be NULL, is not). */
static void drop_tree(shelf_watch *w, const char *path, const wroot *except)
{
    size_t i, k;

    for (i = 0; i < w->cdirs; i++) {
        const char *p = w->dirs[i].path;
        int other = 0;

        if (!p || !shelf__path_under(p, path))
            continue;
        for (k = 0; k < w->nroots && !other; k++)
            other = &w->roots[k] != except && w->roots[k].state != ROOT_GONE &&
                    strcmp(w->roots[k].path, path) != 0 && shelf__path_under(p, w->roots[k].path);
        if (!other)
            drop_wd(w, (int)i, 1);
    }
}

/* A number from a file of /proc (0 when it cannot be read). */
static unsigned long proc_number(const char *path)
{
    FILE *f = fopen(path, "re");
    char line[64];
    unsigned long n = 0;

    if (f) {
        if (fgets(line, sizeof line, f))
            n = strtoul(line, NULL, 10);
        (void)fclose(f);
    }
    return n;
}

/* Say that the watch limit stopped the watches of root r (once: r is
 * polled from now on).  The limit is the smaller of the system's and the
 * user namespace's (a container's). */
static void limit_reached(shelf_watch *w, wroot *r)
{
    unsigned long sys = proc_number("/proc/sys/fs/inotify/max_user_watches");
    unsigned long ns = proc_number("/proc/sys/user/max_inotify_watches");
    const char *name = "fs.inotify.max_user_watches";
    unsigned long n = sys;

    if (ns && (!n || ns < n)) {
        name = "user.max_inotify_watches";
        n = ns;
    }
    r->state = ROOT_POLLED;
    r->next_poll = shelf__monotonic() + w->o.poll_ms / 1000.0;
    note(w, "watch limit reached under %s (%s = %lu): rescanning it every %d s; raise it with: sysctl %s=%lu",
         r->path, name, n, (w->o.poll_ms + 999) / 1000, name, n ? n * 4 : 524288);
}

/* Whether the folder path, on device dev, is the top of a volume mounted
 * there: its parent is on another device. */
static int mount_top(const char *path, dev_t dev)
{
    char *up = shelf__path_join(path, "..");
    struct stat sb;
    int top = up && stat(up, &sb) == 0 && sb.st_dev != dev;

    shelf_free(up);
    return top;
}

/* Watch the tree of root r; at the watch limit, fall back to polling it. */
static int watch_root(shelf_watch *w, wroot *r)
{
    struct stat sb;
    int limit = 0, rc, err;

    if (lstat(r->path, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return SHELF_ENOTFOUND;
    r->dev = sb.st_dev;
    r->ino = sb.st_ino;
    r->mount = mount_top(r->path, sb.st_dev);
    if ((rc = add_tree(w, r->path, &limit)) != SHELF_OK)
        return rc;
    r->wd = add_watch(w, r->path, &err);   /* (its wd; already watched) */
    if (limit && r->state != ROOT_POLLED) {
        limit_reached(w, r);
    } else if (!limit && r->state == ROOT_POLLED) {
        r->state = ROOT_WATCHED;
        note(w, "root %s is watched whole again", r->path);
    } else if (!limit) {
        r->state = ROOT_WATCHED;
    }
    return SHELF_OK;
}

/* ----- roots -------------------------------------------------------------- */

/* Root r is not there (why: "gone", "unmounted"): stop watching it and
 * wait for it, leaving its samples as they are. */
static void root_lost(shelf_watch *w, wroot *r, int unmounted)
{
    struct stat sb;

    if (r->state == ROOT_GONE)
        return;
    drop_tree(w, r->path, r);
    r->state = ROOT_GONE;
    r->wd = -1;
    r->rescan = 0;
    r->has_under = 0;
    /* An unmounted volume leaves its mount point behind, an empty folder
     * that is not the root: wait until something else is there. */
    if (stat(r->path, &sb) == 0 && (unmounted || sb.st_dev != r->dev)) {
        r->has_under = 1;
        r->under_dev = sb.st_dev;
        r->under_ino = sb.st_ino;
    }
    note(w, "root %s is %s: waiting for it", r->path, unmounted ? "unmounted" : "gone");
}

static void root_free(wroot *r)
{
    shelf_free(r->path);
    r->path = NULL;
}

/*
 * Read the roots from the catalog: watch new ones, forget removed ones (a
 * root folded into a new one that contains it is removed, the new one
 * watches its folders).
 */
static int read_roots(shelf_watch *w, int quiet)
{
    sqlite3_stmt *st = shelf__prepare(w->lib, "SELECT id, path FROM roots ORDER BY id");
    size_t i, k;
    int r, rc = SHELF_OK;

    if (!st)
        return w->lib->err.rc;
    for (i = 0; i < w->nroots; i++)
        w->roots[i].seen = 0;
    while (rc == SHELF_OK && (r = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        const char *path = (const char *)sqlite3_column_text(st, 1);
        wroot *nr;

        for (i = 0; i < w->nroots; i++)
            if (w->roots[i].id == id && !strcmp(w->roots[i].path, path))
                break;
        if (i < w->nroots) {
            w->roots[i].seen = 1;
            continue;
        }
        if (w->nroots == w->croots) {
            size_t c = w->croots ? w->croots * 2 : 8;

            if (!(nr = shelf__realloc(w->roots, c * sizeof *nr))) {
                rc = oom(w);
                break;
            }
            w->roots = nr;
            w->croots = c;
        }
        nr = &w->roots[w->nroots];
        memset(nr, 0, sizeof *nr);
        nr->id = id;
        nr->wd = -1;
        nr->seen = 1;
        if (!(nr->path = shelf__strdup(path))) {
            rc = oom(w);
            break;
        }
        w->nroots++;
        if ((rc = watch_root(w, nr)) == SHELF_ENOTFOUND) {
            rc = SHELF_OK;
            nr->state = ROOT_WATCHED;
            root_lost(w, nr, 0);
        } else if (rc == SHELF_OK && !quiet) {
            note(w, "new root %s: watching it", nr->path);
        }
    }
    if (rc == SHELF_OK && r != SQLITE_DONE)
        rc = shelf__dberr(w->lib, "cannot read the catalog's roots");
    sqlite3_finalize(st);
    if (rc != SHELF_OK)
        return rc;
    for (i = k = 0; i < w->nroots; i++) {
        if (w->roots[i].seen) {
            w->roots[k++] = w->roots[i];
            continue;
        }
        drop_tree(w, w->roots[i].path, &w->roots[i]);
        root_free(&w->roots[i]);
    }
    w->nroots = k;
    return SHELF_OK;
}

static int64_t data_version(shelf_watch *w)
{
    int64_t v = -1;

    if (shelf__query_int(w->lib, "PRAGMA data_version", NULL, &v) != SHELF_OK)
        return -1;
    return v;
}

static int read_events(shelf_watch *w);

/* Every 2 s: roots added or removed elsewhere, roots gone or back, the
 * periodic rescans of roots over the watch limit. */
static int tick(shelf_watch *w, double now)
{
    int64_t v = data_version(w);
    size_t i;
    int rc;

    w->next_tick = now + TICK_S;
    if (v != w->data_version) {
        w->data_version = v;
        if ((rc = read_roots(w, 0)) != SHELF_OK)
            return rc;
    }
    for (i = 0; i < w->nroots; i++) {
        wroot *r = &w->roots[i];
        struct stat sb;
        int there = lstat(r->path, &sb) == 0 && S_ISDIR(sb.st_mode);

        if (r->state != ROOT_GONE) {
            if (!there) {
                root_lost(w, r, 0);
            } else if (sb.st_dev != r->dev || sb.st_ino != r->ino) {
                /* Another folder at the path.  An unmount queues its
                 * IN_UNMOUNT before it returns when the volume ends with
                 * it: read it first, so an empty mount point is never
                 * rescanned (it would mark the volume's samples
                 * missing). */
                if ((rc = read_events(w)) != SHELF_OK)
                    return rc;
                if (r->state == ROOT_GONE)
                    continue;
                /* No IN_UNMOUNT comes while the volume lives on elsewhere
                 * (a copy of it in another mount namespace): a root that
                 * was a volume's top and is a plain folder now was
                 * unmounted all the same. */
                if (r->mount && !mount_top(r->path, sb.st_dev)) {
                    root_lost(w, r, 1);
                    continue;
                }
                drop_tree(w, r->path, r);
                if ((rc = watch_root(w, r)) == SHELF_ENOTFOUND) {
                    root_lost(w, r, 0);
                    continue;
                }
                if (rc != SHELF_OK)
                    return rc;
                note(w, "root %s is another folder now (a volume mounted on it): rescanning it", r->path);
                r->rescan = 1;
                if (!w->first)
                    w->first = w->last = now - w->debounce;
            } else if (r->state == ROOT_POLLED && now >= r->next_poll) {
                r->next_poll = now + w->o.poll_ms / 1000.0;
                r->rescan = 1;
                if (!w->first)
                    w->first = w->last = now - w->debounce;
            }
            continue;
        }
        if (!there || (r->has_under && sb.st_dev == r->under_dev && sb.st_ino == r->under_ino))
            continue;
        r->state = ROOT_WATCHED;
        if ((rc = watch_root(w, r)) == SHELF_ENOTFOUND) {
            r->state = ROOT_GONE;   /* went again meanwhile */
            continue;
        }
        if (rc != SHELF_OK)
            return rc;
        note(w, "root %s is back: rescanning it", r->path);
        r->rescan = 1;
        if (!w->first)
            w->first = w->last = now - w->debounce;
    }
    return SHELF_OK;
}

/* ----- events ------------------------------------------------------------- */

static int queue(shelf_watch *w, strv *s, const char *path)
{
    double now = shelf__monotonic();

    if (!w->first)
        w->first = now;
    w->last = now;
    return strv_add(w, s, path);
}

static int overflow(shelf_watch *w)
{
    shelf__buf b = SHELF__BUF_INIT;
    size_t i;
    int rc = SHELF_OK;

    for (i = 0; i < w->nroots; i++) {
        if (w->roots[i].state == ROOT_GONE)
            continue;
        w->roots[i].rescan = 1;
        if (shelf__buf_addf(&b, "%s%s", b.len ? ", " : "", w->roots[i].path) != SHELF_OK)
            rc = oom(w);
    }
    if (rc == SHELF_OK) {
        note(w, "queue overflow: rescanning %s", b.len ? b.buf : "(no root)");
        w->first = w->last = shelf__monotonic() - w->debounce;
    }
    shelf__buf_release(&b);
    return rc;
}

static wroot *root_by_wd(shelf_watch *w, int wd)
{
    size_t i;

    for (i = 0; i < w->nroots; i++)
        if (w->roots[i].wd == wd && w->roots[i].state != ROOT_GONE)
            return &w->roots[i];
    return NULL;
}

static int on_event(shelf_watch *w, const struct inotify_event *ev)
{
    const char *dir;
    char *path;
    wroot *r;
    int rc = SHELF_OK;

    if (ev->mask & IN_Q_OVERFLOW)
        return overflow(w);
    if (ev->wd < 0 || (size_t)ev->wd >= w->cdirs || !(dir = w->dirs[ev->wd].path))
        return SHELF_OK;    /* a watch removed meanwhile */
    r = root_by_wd(w, ev->wd);
    if (ev->mask & (IN_IGNORED | IN_UNMOUNT | IN_DELETE_SELF | IN_MOVE_SELF)) {
        if (r) {
            root_lost(w, r, (ev->mask & IN_UNMOUNT) != 0);
        } else if (ev->mask & IN_IGNORED) {
            /* a folder deleted (its parent said so), or a volume mounted
             * inside a root unmounted: what shows there now is new */
            struct stat sb;
            char *p = shelf__strdup(dir);

            drop_wd(w, ev->wd, 0);
            if (!p)
                return oom(w);
            if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode)) {
                int limit = 0;

                if ((rc = add_tree(w, p, &limit)) == SHELF_OK)
                    rc = queue(w, &w->folders, p);
            }
            shelf_free(p);
        }
        return rc;
    }
    if (!ev->len || !ev->name[0])
        return SHELF_OK;
    if (!(path = shelf__path_join(dir, ev->name)))
        return oom(w);
    if (ev->mask & IN_ISDIR) {
        if (ev->name[0] == '.' || !strcmp(path, w->lib->path)) {
            /* not ours */
        } else if (ev->mask & (IN_CREATE | IN_MOVED_TO)) {
            int limit = 0;
            wroot *pr = root_of(w, path);

            if ((rc = add_tree(w, path, &limit)) == SHELF_OK)
                rc = queue(w, &w->folders, path);
            if (rc == SHELF_OK && limit && pr && pr->state == ROOT_WATCHED)
                limit_reached(w, pr);
        } else if (ev->mask & (IN_DELETE | IN_MOVED_FROM)) {
            if ((rc = queue(w, &w->gone, path)) == SHELF_OK)
                rc = strv_add(w, &w->stale, path);
        }
    } else if (wanted_file(ev->name)) {
        struct stat sb;

        if (ev->mask & (IN_CLOSE_WRITE | IN_MOVED_TO))
            rc = queue(w, &w->files, path);
        else if (ev->mask & (IN_DELETE | IN_MOVED_FROM))
            rc = queue(w, &w->gone, path);
        else if ((ev->mask & IN_CREATE) && lstat(path, &sb) == 0 &&
                 (S_ISLNK(sb.st_mode) || (S_ISREG(sb.st_mode) && sb.st_nlink > 1)))
            rc = queue(w, &w->files, path);     /* a link: no write will come */
    }
    shelf_free(path);
    return rc;
}

static int read_events(shelf_watch *w)
{
    for (;;) {
        ssize_t n = read(w->fd, w->buf, sizeof w->buf);
        char *p;
        int rc;

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return SHELF_OK;
        if (n <= 0)
            return shelf__seterr_errno(&w->lib->err, n < 0 ? errno : EIO, "cannot read the watch events");
        for (p = w->buf; p < w->buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)(void *)p;

            if ((rc = on_event(w, ev)) != SHELF_OK)
                return rc;
            p += sizeof *ev + ev->len;
        }
    }
}

/* ----- batches ------------------------------------------------------------ */

/* Forget watches whose folders moved out of the roots or were deleted
 * (one moved within them took its new path when its new place was
 * watched). */
static void drop_stale(shelf_watch *w)
{
    size_t i, k;

    for (k = 0; k < w->stale.n; k++)
        for (i = 0; i < w->cdirs; i++) {
            const char *p = w->dirs[i].path;
            struct stat sb;

            if (p && shelf__path_under(p, w->stale.v[k]) &&
                (lstat(p, &sb) != 0 || sb.st_dev != w->dirs[i].dev || sb.st_ino != w->dirs[i].ino))
                drop_wd(w, (int)i, 1);
        }
    strv_clear(&w->stale);
}

static void on_file(void *ud, int status, const char *path, int64_t id, const char *reason)
{
    shelf_watch *w = ud;

    if (w->o.on_file)
        w->o.on_file(w->o.ud, status, path, id, reason);
}

/* Import paths, all at once; when that fails (a file went meanwhile, a bad
 * path), one by one, each failure a note. */
static int import_all(shelf_watch *w, char **paths, size_t n)
{
    shelf_import_opts io;
    shelf_import_stats st;
    size_t i;
    int rc;

    if (!n)
        return SHELF_OK;
    memset(&io, 0, sizeof io);
    io.size = sizeof io;
    io.on_file = on_file;
    io.ud = w;
    st.size = sizeof st;
    if ((rc = shelf_import(w->lib, (const char *const *)paths, n, &io, &st)) == SHELF_OK)
        return SHELF_OK;
    if (rc == SHELF_ENOMEM)
        return rc;
    if (n == 1) {
        note(w, "%s", shelf_errmsg(w->lib));
        return SHELF_OK;
    }
    for (i = 0; i < n; i++)
        if ((rc = import_all(w, &paths[i], 1)) != SHELF_OK)
            return rc;
    return SHELF_OK;
}

/* Of files, those that share a folder with FOLDER_FILES others become that
 * folder (one walk of it costs less than that many imports of one file,
 * each of which reads the root's rows). */
static int group_files(shelf_watch *w)
{
    size_t i = 0, j, k;
    int rc;

    while (i < w->files.n) {
        const char *slash = strrchr(w->files.v[i], '/');
        size_t dlen = slash ? (size_t)(slash - w->files.v[i]) : 0;

        /* files are sorted: those of one folder are together, with any of
         * its subfolders' mixed in */
        for (j = i + 1, k = 1; j < w->files.n; j++) {
            const char *s2 = strrchr(w->files.v[j], '/');

            if (strncmp(w->files.v[j], w->files.v[i], dlen) != 0 || w->files.v[j][dlen] != '/')
                break;
            k += s2 == w->files.v[j] + dlen;
        }
        if (k >= FOLDER_FILES && dlen) {
            char *dir = shelf__strndup(w->files.v[i], dlen);

            if (!dir)
                return oom(w);
            rc = strv_add(w, &w->folders, dir);
            shelf_free(dir);
            if (rc != SHELF_OK)
                return rc;
        }
        i = j;
    }
    return SHELF_OK;
}

static int run_batch(shelf_watch *w)
{
    strv imp = { NULL, 0, 0 }, cover = { NULL, 0, 0 }, gone = { NULL, 0, 0 };
    shelf_import_opts io;
    shelf_import_stats st;
    size_t i;
    int rc = SHELF_OK;

    w->first = w->last = 0;
    drop_stale(w);
    /* rescans first: a root rescanned covers everything under it */
    for (i = 0; i < w->nroots && rc == SHELF_OK; i++) {
        wroot *r = &w->roots[i];

        if (!r->rescan || r->state == ROOT_GONE)
            continue;
        r->rescan = 0;
        if ((rc = watch_root(w, r)) == SHELF_ENOTFOUND) {
            rc = SHELF_OK;
            root_lost(w, r, 0);
            continue;
        }
        if (rc == SHELF_OK)
            rc = strv_add(w, &cover, r->path);
    }
    if (rc != SHELF_OK)
        goto out;
    strv_uniq(&w->files);
    if ((rc = group_files(w)) != SHELF_OK)
        goto out;
    /* folders: an ancestor covers its descendants */
    strv_uniq(&w->folders);
    for (i = 0; i < w->folders.n && rc == SHELF_OK; i++) {
        const char *p = w->folders.v[i];
        const wroot *r = root_of(w, p);
        struct stat sb;

        if (!r || r->state == ROOT_GONE || covered(&cover, p))
            continue;
        if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode))
            rc = strv_add(w, &cover, p);
        else
            rc = strv_add(w, &w->gone, p);  /* went again meanwhile */
    }
    for (i = 0; i < cover.n && rc == SHELF_OK; i++)
        rc = strv_add(w, &imp, cover.v[i]);
    for (i = 0; i < w->files.n && rc == SHELF_OK; i++) {
        const char *p = w->files.v[i];
        const wroot *r = root_of(w, p);
        struct stat sb;

        if (!r || r->state == ROOT_GONE || covered(&cover, p))
            continue;
        if (stat(p, &sb) == 0 && S_ISREG(sb.st_mode))
            rc = strv_add(w, &imp, p);
        else
            rc = strv_add(w, &w->gone, p);
    }
    if (rc != SHELF_OK)
        goto out;
    /* imports before the gone: a file moved is found by its content while
     * its old row is still there to take over */
    if ((rc = import_all(w, imp.v, imp.n)) != SHELF_OK)
        goto out;
    strv_uniq(&w->gone);
    for (i = 0; i < w->gone.n && rc == SHELF_OK; i++) {
        const char *p = w->gone.v[i];
        const wroot *r = root_of(w, p);

        if (r && r->state != ROOT_GONE && !covered(&cover, p) && !covered(&gone, p))
            rc = strv_add(w, &gone, p);
    }
    if (rc != SHELF_OK || !gone.n)
        goto out;
    memset(&io, 0, sizeof io);
    io.size = sizeof io;
    io.on_file = on_file;
    io.ud = w;
    if ((rc = shelf__import_gone(w->lib, (const char *const *)gone.v, gone.n, &io, &st)) != SHELF_OK) {
        if (rc != SHELF_ENOMEM) {
            note(w, "%s", shelf_errmsg(w->lib));
            rc = SHELF_OK;
        }
    }
out:
    strv_clear(&w->files);
    strv_clear(&w->folders);
    strv_clear(&w->gone);
    strv_clear(&imp);
    strv_clear(&cover);
    strv_clear(&gone);
    shelf_free(imp.v);
    shelf_free(cover.v);
    shelf_free(gone.v);
    return rc;
}

static int pending(const shelf_watch *w)
{
    return w->first != 0;
}

static double due(const shelf_watch *w)
{
    double a = w->last + w->debounce, b = w->first + 2 * w->debounce;

    return a < b ? a : b;
}

/* ----- public ------------------------------------------------------------- */

int shelf_watch_open(shelf_library *lib, const shelf_watch_opts *opts, shelf_watch **out)
{
    shelf_watch *w;
    size_t i;
    int rc;

    *out = NULL;
    if (!(w = shelf__calloc(1, sizeof *w)))
        return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    w->lib = lib;
    w->fd = -1;
    if ((rc = shelf__opts_check(&lib->err, &w->o, sizeof w->o, opts, sizeof w->o, "shelf_watch_opts")) !=
        SHELF_OK)
        goto fail;
    if (w->o.debounce_ms < 0 || w->o.poll_ms < 0) {
        rc = shelf__seterr(&lib->err, SHELF_EINVAL, "invalid watch options: a negative time");
        goto fail;
    }
    if (!w->o.debounce_ms)
        w->o.debounce_ms = DEFAULT_DEBOUNCE_MS;
    if (!w->o.poll_ms)
        w->o.poll_ms = DEFAULT_POLL_MS;
    w->debounce = w->o.debounce_ms / 1000.0;
    if ((rc = shelf__writable(lib)) != SHELF_OK)
        goto fail;
    if ((w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0) {
        rc = shelf__seterr_errno(&lib->err, errno, "cannot watch folders");
        if (rc != SHELF_ENOMEM)
            rc = lib->err.rc = SHELF_EIO;
        goto fail;
    }
    w->data_version = data_version(w);
    if ((rc = read_roots(w, 1)) != SHELF_OK)
        goto fail;
    w->next_tick = shelf__monotonic() + TICK_S;
    note(w, "watching %zu folder%s in %zu root%s", w->nwatches, w->nwatches == 1 ? "" : "s", w->nroots,
         w->nroots == 1 ? "" : "s");
    if (!(w->o.flags & SHELF_WATCH_NO_SCAN)) {
        for (i = 0; i < w->nroots; i++)
            w->roots[i].rescan = w->roots[i].state != ROOT_GONE;
        if (w->nroots)
            w->first = w->last = shelf__monotonic() - 2 * w->debounce;
    }
    *out = w;
    return SHELF_OK;
fail:
    shelf_watch_close(w);
    return rc;
}

int shelf_watch_fd(const shelf_watch *w)
{
    return w->fd;
}

int shelf_watch_timeout(const shelf_watch *w)
{
    double now = shelf__monotonic(), t = w->next_tick;

    if (pending(w) && due(w) < t)
        t = due(w);
    t -= now;
    if (t <= 0)
        return 0;
    if (t >= TICK_S)
        return (int)(TICK_S * 1000);
    return (int)(t * 1000) + 1;     /* not a millisecond early */
}

int shelf_watch_step(shelf_watch *w)
{
    double now;
    int rc;

    if ((rc = read_events(w)) != SHELF_OK)
        return rc;
    now = shelf__monotonic();
    if (now >= w->next_tick && (rc = tick(w, now)) != SHELF_OK)
        return rc;
    if (pending(w) && now >= due(w))
        rc = run_batch(w);
    return rc;
}

void shelf_watch_close(shelf_watch *w)
{
    size_t i;

    if (!w)
        return;
    if (w->fd >= 0)
        close(w->fd);
    for (i = 0; i < w->cdirs; i++)
        shelf_free(w->dirs[i].path);
    shelf_free(w->dirs);
    for (i = 0; i < w->nroots; i++)
        root_free(&w->roots[i]);
    shelf_free(w->roots);
    strv_clear(&w->files);
    strv_clear(&w->folders);
    strv_clear(&w->gone);
    strv_clear(&w->stale);
    shelf_free(w->files.v);
    shelf_free(w->folders.v);
    shelf_free(w->gone.v);
    shelf_free(w->stale.v);
    shelf_free(w);
}
