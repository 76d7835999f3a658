/*
 * maint.c: integrity and upkeep of a library: verify (re-hash everything),
 * gc (orphan blobs and crash leftovers), vacuum, and online catalog backup.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "catalog_int.h"

#define HASH_BUF (1u << 20)
#define PROGRESS_EVERY 0.1

typedef struct vitem {
    int64_t id;
    char *path;        /* file or blob path */
    char *blob;        /* hex when managed */
    char sha[SHELF_HASH_HEX];
    uint64_t size;
    int missing;       /* flag in the catalog before the run */
    int now_missing;   /* flag after the run */
} vitem;

static void vitems_free(vitem *v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        shelf_free(v[i].path);
        shelf_free(v[i].blob);
    }
    shelf_free(v);
}

static int load_items(shelf_library *lib, vitem **out, size_t *count, uint64_t *bytes)
{
    sqlite3_stmt *st = shelf__prepare(lib,
        "SELECT s.id, r.path, s.relpath, s.blob, s.sha256, s.size, s.missing\n"
        "FROM samples s JOIN roots r ON r.id = s.root_id WHERE s.missing != 2\n"
        "ORDER BY r.path, s.relpath");
    vitem *v = NULL, *nv;
    size_t n = 0, cap = 0;
    int r, rc = SHELF_OK;

    *out = NULL;
    *count = 0;
    *bytes = 0;
    if (!st)
        return lib->err.rc;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        vitem *it;

        if (n == cap) {
            cap = cap ? cap * 2 : 1024;
            if (!(nv = shelf__realloc(v, cap * sizeof *v))) {
                rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
                break;
            }
            v = nv;
        }
        it = &v[n];
        memset(it, 0, sizeof *it);
        it->id = sqlite3_column_int64(st, 0);
        if (sqlite3_column_type(st, 3) != SQLITE_NULL) {
            it->blob = shelf__strdup((const char *)sqlite3_column_text(st, 3));
            it->path = it->blob ? shelf__store_path(&lib->store, it->blob) : NULL;
        } else {
            it->path = shelf__sample_abspath((const char *)sqlite3_column_text(st, 1),
                                             (const char *)sqlite3_column_text(st, 2));
        }
        n++;
        if (!it->path) {
            rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
            break;
        }
        if (sqlite3_column_type(st, 4) == SQLITE_TEXT)
            snprintf(it->sha, sizeof it->sha, "%s", (const char *)sqlite3_column_text(st, 4));
        it->size = (uint64_t)sqlite3_column_int64(st, 5);
        it->missing = it->now_missing = sqlite3_column_int(st, 6);
        *bytes += it->size;
    }
    if (rc == SHELF_OK && r != SQLITE_DONE)
        rc = shelf__dberr(lib, "cannot read the catalog");
    sqlite3_finalize(st);
    if (rc != SHELF_OK) {
        vitems_free(v, n);
        return rc;
    }
    *out = v;
    *count = n;
    return SHELF_OK;
}

/* Write changed missing flags in one transaction. */
static int store_flags(shelf_library *lib, vitem *v, size_t n)
{
    sqlite3_stmt *st = NULL;
    size_t i;
    int rc, any = 0;

    for (i = 0; i < n; i++)
        any |= v[i].missing != v[i].now_missing;
    if (!any || lib->readonly)
        return SHELF_OK;
    if ((rc = shelf__begin(lib)) != SHELF_OK)
        return rc;
    if (!(st = shelf__prepare(lib, "UPDATE samples SET missing = ?2 WHERE id = ?1"))) {
        rc = lib->err.rc;
        goto fail;
    }
    for (i = 0; i < n; i++) {
        if (v[i].missing == v[i].now_missing)
            continue;
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, v[i].id);
        sqlite3_bind_int(st, 2, v[i].now_missing);
        if (sqlite3_step(st) != SQLITE_DONE) {
            rc = shelf__dberr(lib, "cannot write to the catalog");
            goto fail;
        }
    }
    sqlite3_finalize(st);
    return shelf__commit(lib);
fail:
    sqlite3_finalize(st);
    shelf__rollback(lib);
    return rc;
}

/*
 * PRAGMA integrity_check over the whole catalog: 0 when sound, 1 when
 * damaged (a message or SQLITE_CORRUPT), or a negative code when it could
 * not run.
 */
static int catalog_check(shelf_library *lib)
{
    sqlite3_stmt *st = shelf__prepare(lib, "PRAGMA integrity_check(20)");
    const char *res;
    int r, damaged = 0;

    if (!st)
        return (sqlite3_errcode(lib->db) & 0xff) == SQLITE_CORRUPT ? 1 : lib->err.rc;
    while ((r = sqlite3_step(st)) == SQLITE_ROW)
        if (!(res = (const char *)sqlite3_column_text(st, 0)) || strcmp(res, "ok") != 0)
            damaged = 1;
    if (r != SQLITE_DONE) {
        r = sqlite3_errcode(lib->db) & 0xff;
        if (r == SQLITE_CORRUPT || r == SQLITE_NOTADB)
            damaged = 1;
        else
            damaged = shelf__dberr(lib, "cannot check the catalog");
    }
    sqlite3_finalize(st);
    return damaged;
}

int shelf_catalog_repair(shelf_library *lib, int wait, int *repaired)
{
    int rc, had = lib->lock_mode;

    *repaired = 0;
    if ((rc = catalog_check(lib)) <= 0)
        return rc;
    /* Indexes hold nothing the tables do not: rebuilding them from the
     * tables repairs damage in them, which is most of what a flipped bit
     * in a catalog does.  Nobody may write while they are rebuilt. */
    if (had != SHELF_LOCK_EXCLUSIVE && (rc = shelf_library_lock(lib, SHELF_LOCK_EXCLUSIVE, wait)) != SHELF_OK)
        return rc;
    if ((rc = shelf__exec(lib, "REINDEX")) == SHELF_OK && (rc = catalog_check(lib)) == 0)
        *repaired = 1;
    if (rc >= 0 && !*repaired)
        rc = shelf__seterr(&lib->err, SHELF_ECORRUPT,
                           "catalog '%s/shelf.db' is damaged beyond its indexes: restore it from a "
                           "copy ('shelf restore', or a 'shelf db-backup' file copied over it)",
                           lib->path);
    else if (rc < 0 && lib->err.rc != SHELF_EBUSY && lib->err.rc != SHELF_EPERM)
        rc = shelf__seterr(&lib->err, SHELF_ECORRUPT,
                           "cannot rebuild the indexes of catalog '%s/shelf.db' (%s): restore it "
                           "from a copy ('shelf restore', or a 'shelf db-backup' file copied over it)",
                           lib->path, sqlite3_errmsg(lib->db));
    if (had == 0)
        shelf_library_unlock(lib);
    else if (had == SHELF_LOCK_SHARED)
        shelf_library_lock(lib, SHELF_LOCK_SHARED, 1);
    return rc;
}

static int verify_run(shelf_library *lib, shelf_verify_cb cb, shelf_verify_progress_cb progress,
                      void *ud, shelf_verify_stats *stats)
{
    vitem *v = NULL;
    size_t n = 0, i;
    uint64_t total_bytes = 0;
    double last = 0;
    void *buf = NULL;
    int rc;

    memset(stats, 0, sizeof *stats);
    stats->size = sizeof *stats;
    /* The catalog itself first: all of it, indexes included (quick_check
     * misses an index that lost or gained rows). */
    if ((rc = catalog_check(lib)) < 0)
        return rc;
    if (rc) {
        stats->corrupt++;
        if (cb) {
            char *db = shelf__path_join(lib->path, "shelf.db");

            cb(ud, SHELF_VERIFY_CORRUPT, 0, db ? db : "shelf.db");
            shelf_free(db);
        }
    }
    /* A damaged catalog may not list its samples; the damage is reported. */
    if ((rc = load_items(lib, &v, &n, &total_bytes)) != SHELF_OK)
        return stats->corrupt ? SHELF_OK : rc;
    if (!(buf = shelf__malloc(HASH_BUF))) {
        rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    for (i = 0; i < n; i++) {
        vitem *it = &v[i];
        char hex[SHELF_HASH_HEX];
        uint64_t size = 0;
        int problem = 0, e;

        if (it->blob) {
            e = shelf__store_check(&lib->store, it->blob, &size);
            if (e == SHELF_ENOTFOUND)
                problem = SHELF_VERIFY_MISSING;
            else if (e != SHELF_OK)
                problem = SHELF_VERIFY_CORRUPT;
            /* A damaged copy is as good as gone: marked missing, so the
             * next import of its original repairs it. */
            it->now_missing = problem != 0;
        } else {
            e = shelf__sha256_path(it->path, buf, HASH_BUF, hex, &size);
            if (e == ENOENT || e == ENOTDIR)
                problem = SHELF_VERIFY_MISSING;
            else if (e)
                problem = SHELF_VERIFY_CHANGED;   /* there, but unreadable */
            else if (strcmp(hex, it->sha) != 0)
                problem = SHELF_VERIFY_CHANGED;
            it->now_missing = problem == SHELF_VERIFY_MISSING;
        }
        stats->checked++;
        stats->bytes += size;
        switch (problem) {
        case 0: stats->ok++; break;
        case SHELF_VERIFY_MISSING: stats->missing++; break;
        case SHELF_VERIFY_CHANGED: stats->changed++; break;
        default: stats->corrupt++; break;
        }
        if (problem && cb)
            cb(ud, problem, it->id, it->path);
        if (progress && (shelf__monotonic() - last >= PROGRESS_EVERY || i + 1 == n)) {
            last = shelf__monotonic();
            if (progress(ud, stats, n, total_bytes) != 0) {
                rc = shelf__seterr(&lib->err, SHELF_ECANCELED, "verify canceled");
                break;
            }
        }
    }
    if (rc == SHELF_OK || rc == SHELF_ECANCELED) {
        int frc = store_flags(lib, v, i);

        if (rc == SHELF_OK)
            rc = frc;
    }
out:
    shelf_free(buf);
    vitems_free(v, n);
    return rc;
}

int shelf_verify(shelf_library *lib, shelf_verify_cb cb, shelf_verify_progress_cb progress,
                 void *ud, shelf_verify_stats *stats)
{
    shelf_verify_stats full = { .size = sizeof full };
    int rc = verify_run(lib, cb, progress, ud, &full);

    shelf__out_fill(stats, &full, sizeof full);
    return rc;
}

/* ----- gc -------------------------------------------------------------------- */

typedef struct gcstate {
    shelf_library *lib;
    char **live;            /* sorted referenced blob names */
    size_t nlive;
    int dry_run;
    shelf_gc_stats *st;
} gcstate;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int gc_visit(void *ud, const char *hex, const char *path, uint64_t size)
{
    gcstate *g = ud;
    const char *base = strrchr(path, '/') + 1;

    if (!hex) {
        if (strncmp(base, SHELF__STORE_TMP, strlen(SHELF__STORE_TMP)) != 0)
            return SHELF_OK;            /* not ours: leave it */
        g->st->temps_removed++;
        if (!g->dry_run && unlink(path) != 0 && errno != ENOENT)
            return shelf__seterr_errno(&g->lib->err, errno, "cannot remove '%s'", path);
        return SHELF_OK;
    }
    if (g->nlive && bsearch(&hex, g->live, g->nlive, sizeof *g->live, cmp_str)) {
        g->st->blobs_kept++;
        return SHELF_OK;
    }
    g->st->blobs_removed++;
    g->st->bytes_removed += size;
    if (!g->dry_run && unlink(path) != 0 && errno != ENOENT)
        return shelf__seterr_errno(&g->lib->err, errno, "cannot remove '%s'", path);
    return SHELF_OK;
}

/*
 * Folders an archive import stages in (DIR/.archive-import-XXXXXX,
 * .archive-repair-XXXXXX) outlive it only when it was killed: an import
 * holds the shared lock while they exist, and gc holds the exclusive one.
 */
static int gc_staging(gcstate *g)
{
    DIR *d = opendir(g->lib->path);
    struct dirent *de;
    char *p;
    int e, rc;

    if (!d)
        return shelf__seterr_errno(&g->lib->err, errno, "cannot read '%s'", g->lib->path);
    while ((de = readdir(d))) {
        if (strncmp(de->d_name, ".archive-import-", 16) != 0 &&
            strncmp(de->d_name, ".archive-repair-", 16) != 0)
            continue;
        if (!(p = shelf__path_join(g->lib->path, de->d_name))) {
            closedir(d);
            return shelf__seterr(&g->lib->err, SHELF_ENOMEM, "out of memory");
        }
        g->st->temps_removed++;
        if (!g->dry_run && (e = shelf__rmtree(p)) != 0) {
            closedir(d);
            rc = shelf__seterr_errno(&g->lib->err, e, "cannot remove '%s'", p);
            free(p);
            return rc;
        }
        free(p);
    }
    closedir(d);
    return SHELF_OK;
}

/* The pid in "backup-catalog-<pid>.db..." or "restore-<pid>"; 0 otherwise. */
static long cache_entry_pid(const char *name)
{
    const char *p = !strncmp(name, "backup-catalog-", 15) ? name + 15 :
                    !strncmp(name, "restore-", 8) ? name + 8 : NULL;
    char *end;
    long pid;

    if (!p || *p < '1' || *p > '9')
        return 0;
    pid = strtol(p, &end, 10);
    if (name[0] == 'r' ? *end != '\0' : strncmp(end, ".db", 3) != 0)
        return 0;
    return pid;
}

uint64_t shelf__cache_sweep(const char *cachedir, int dry_run)
{
    DIR *d = opendir(cachedir);
    struct dirent *de;
    uint64_t n = 0;

    if (!d)
        return 0;
    while ((de = readdir(d))) {
        long pid = cache_entry_pid(de->d_name);
        char *p;

        /* Only this host uses a library's cache: a pid that is gone is a
         * killed run's (a reused pid keeps its files until the next sweep). */
        if (pid <= 0 || pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        n++;
        if (dry_run || !(p = shelf__path_join(cachedir, de->d_name)))
            continue;
        (void)shelf__rmtree(p);     /* best effort: the next sweep tries again */
        shelf_free(p);
    }
    closedir(d);
    return n;
}

/* Cached peaks (cache/peaks/xx/<sha256>-<n>, doc/formats.md "Peaks
 * cache") of bytes no sample has any more; the count of them. */
static uint64_t peaks_sweep(shelf_library *lib, const char *cache, int dry_run)
{
    char *root = shelf__path_join(cache, "peaks");
    sqlite3_stmt *has = shelf__prepare(lib, "SELECT 1 FROM samples WHERE sha256 = ?1 LIMIT 1");
    DIR *d = root ? opendir(root) : NULL;
    struct dirent *de;
    uint64_t n = 0;

    while (d && has && (de = readdir(d))) {
        char *sub = strlen(de->d_name) == 2 ? shelf__path_join(root, de->d_name) : NULL;
        DIR *s = sub ? opendir(sub) : NULL;
        struct dirent *fe;

        while (s && (fe = readdir(s))) {
            char sha[65], *p;

            if (strlen(fe->d_name) < 66 || fe->d_name[64] != '-')
                continue;
            memcpy(sha, fe->d_name, 64);
            sha[64] = '\0';
            if (!shelf__is_hash_hex(sha))
                continue;
            sqlite3_reset(has);
            sqlite3_bind_text(has, 1, sha, -1, SQLITE_TRANSIENT);
            if (sqlite3_step(has) != SQLITE_DONE)
                continue;       /* a sample has these bytes (or the catalog said nothing) */
            n++;
            if (!dry_run && (p = shelf__path_join(sub, fe->d_name))) {
                (void)unlink(p);
                shelf_free(p);
            }
        }
        if (s)
            closedir(s);
        shelf_free(sub);
    }
    if (d)
        closedir(d);
    sqlite3_finalize(has);
    shelf_free(root);
    return n;
}

static int gc_run(shelf_library *lib, int wait, int dry_run, shelf_gc_stats *stats)
{
    gcstate g = { lib, NULL, 0, dry_run, NULL };
    sqlite3_stmt *st = NULL;
    size_t cap = 0, i;
    int rc, had = lib->lock_mode, r;

    memset(stats, 0, sizeof *stats);
    stats->size = sizeof *stats;
    g.st = stats;
    /* Nobody may add a blob between reading the references and deleting. */
    if (had != SHELF_LOCK_EXCLUSIVE && (rc = shelf_library_lock(lib, SHELF_LOCK_EXCLUSIVE, wait)) != SHELF_OK)
        return rc;
    if (!(st = shelf__prepare(lib, "SELECT blob FROM samples WHERE blob IS NOT NULL\n"
                                   "UNION SELECT blob FROM patches WHERE blob IS NOT NULL\n"
                                   "UNION SELECT blob FROM projects WHERE blob IS NOT NULL"))) {
        rc = lib->err.rc;
        goto out;
    }
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (g.nlive == cap) {
            char **nl;

            cap = cap ? cap * 2 : 1024;
            if (!(nl = shelf__realloc(g.live, cap * sizeof *nl))) {
                rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
                goto out;
            }
            g.live = nl;
        }
        if (!(g.live[g.nlive] = shelf__strdup((const char *)sqlite3_column_text(st, 0)))) {
            rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
            goto out;
        }
        g.nlive++;
    }
    if (r != SQLITE_DONE) {
        rc = shelf__dberr(lib, "cannot read the catalog");
        goto out;
    }
    if (g.nlive)
        qsort(g.live, g.nlive, sizeof *g.live, cmp_str);
    if ((rc = shelf__store_walk(&lib->store, gc_visit, &g)) == SHELF_OK)
        rc = gc_staging(&g);
    if (rc == SHELF_OK) {
        char *cache = shelf__path_join(lib->path, "cache");

        if (cache) {
            stats->temps_removed += shelf__cache_sweep(cache, dry_run);
            stats->peaks_removed = peaks_sweep(lib, cache, dry_run);
        }
        shelf_free(cache);
    }
out:
    sqlite3_finalize(st);
    for (i = 0; i < g.nlive; i++)
        shelf_free(g.live[i]);
    shelf_free(g.live);
    if (had == 0)
        shelf_library_unlock(lib);
    else if (had == SHELF_LOCK_SHARED)
        shelf_library_lock(lib, SHELF_LOCK_SHARED, 1);
    return rc;
}

int shelf_gc(shelf_library *lib, int wait, int dry_run, shelf_gc_stats *stats)
{
    shelf_gc_stats full = { .size = sizeof full };
    int rc = gc_run(lib, wait, dry_run, &full);

    shelf__out_fill(stats, &full, sizeof full);
    return rc;
}

/* ----- vacuum and backup ------------------------------------------------------ */

static uint64_t catalog_size(shelf_library *lib)
{
    static const char *const files[] = { "shelf.db", "shelf.db-wal" };
    uint64_t total = 0;
    size_t i;

    for (i = 0; i < 2; i++) {
        char *p = shelf__path_join(lib->path, files[i]);
        struct stat sb;

        if (p && stat(p, &sb) == 0)
            total += (uint64_t)sb.st_size;
        shelf_free(p);
    }
    return total;
}

int shelf_vacuum(shelf_library *lib, int wait, uint64_t *before, uint64_t *after)
{
    int rc, had = lib->lock_mode;

    if (before)
        *before = catalog_size(lib);
    if (after)
        *after = 0;
    if (had != SHELF_LOCK_EXCLUSIVE && (rc = shelf_library_lock(lib, SHELF_LOCK_EXCLUSIVE, wait)) != SHELF_OK)
        return rc;
    rc = shelf__exec(lib, "PRAGMA wal_checkpoint(TRUNCATE)");
    if (rc == SHELF_OK)
        rc = shelf__exec(lib, "VACUUM");
    if (rc == SHELF_OK)
        rc = shelf__exec(lib, "PRAGMA wal_checkpoint(TRUNCATE)");
    if (rc == SHELF_OK)
        rc = shelf__exec(lib, "PRAGMA optimize");
    if (after)
        *after = catalog_size(lib);
    if (had == 0)
        shelf_library_unlock(lib);
    else if (had == SHELF_LOCK_SHARED)
        shelf_library_lock(lib, SHELF_LOCK_SHARED, 1);
    return rc;
}

int shelf_db_backup(shelf_library *lib, const char *path)
{
    sqlite3 *dest = NULL;
    sqlite3_backup *bk;
    char *tmp = shelf__asprintf("%s.tmp-%d", path, (int)getpid());
    int rc = SHELF_OK, fd;

    if (!tmp)
        return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    unlink(tmp);
    if (sqlite3_open_v2(tmp, &dest, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        rc = shelf__seterr_sqlite(&lib->err, dest, tmp, "cannot create '%s'", tmp);
        goto out;
    }
    /* One step copies every page under one read transaction: in WAL mode
     * that does not block writers, and the copy is one consistent state. */
    if (!(bk = sqlite3_backup_init(dest, "main", lib->db, "main"))) {
        rc = shelf__seterr(&lib->err, SHELF_EDB, "cannot back up the catalog: %s",
                           sqlite3_errmsg(dest));
        goto out;
    }
    while ((fd = sqlite3_backup_step(bk, -1)) == SQLITE_BUSY || fd == SQLITE_LOCKED)
        sqlite3_sleep(50);
    sqlite3_backup_finish(bk);   /* sets dest's error */
    if (fd != SQLITE_DONE) {
        rc = shelf__seterr_sqlite(&lib->err, dest, tmp, "cannot back up the catalog to '%s'", path);
        goto out;
    }
    /* A self-contained single file: no WAL beside it. */
    if (sqlite3_exec(dest, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL) != SQLITE_OK) {
        rc = shelf__seterr_sqlite(&lib->err, dest, tmp, "cannot finish '%s'", tmp);
        goto out;
    }
    sqlite3_close(dest);
    dest = NULL;
    if ((fd = open(tmp, O_RDONLY | O_CLOEXEC)) < 0 || fsync(fd) != 0) {
        rc = shelf__seterr_errno(&lib->err, errno, "cannot write '%s'", tmp);
        if (fd >= 0)
            close(fd);
        goto out;
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        rc = shelf__seterr_errno(&lib->err, errno, "cannot write '%s'", path);
        goto out;
    }
out:
    if (dest)
        sqlite3_close(dest);
    if (rc != SHELF_OK)
        unlink(tmp);
    shelf_free(tmp);
    return rc;
}
