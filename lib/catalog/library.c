/*
 * library.c: opening, creating and locking a library folder; the config
 * file.  The database helpers the catalog code shares are in db.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>
#include <openssl/rand.h>
#include "catalog_int.h"
#include "memindex_int.h"

#define CONFIG_FORMAT 1
#define BUSY_TIMEOUT_MS 30000

const char *shelf_errmsg(const shelf_library *lib)
{
    if (!lib)
        return "no library";
    return lib->err.msg[0] ? lib->err.msg : shelf_strerror(lib->err.rc);
}

const char *shelf_library_id(const shelf_library *lib)
{
    return lib ? lib->library_id : "";
}

const char *shelf_library_path(const shelf_library *lib)
{
    return lib->path;
}

int shelf_default_dir(char *buf, size_t size)
{
    const char *v;
    int n;

    if ((v = getenv("SHELF_LIBRARY")) && *v)
        n = snprintf(buf, size, "%s", v);
    else if ((v = getenv("XDG_DATA_HOME")) && *v)
        n = snprintf(buf, size, "%s/shelf", v);
    else if ((v = getenv("HOME")) && *v)
        n = snprintf(buf, size, "%s/.local/share/shelf", v);
    else
        return SHELF_EINVAL;
    return n < 0 || (size_t)n >= size ? SHELF_EINVAL : SHELF_OK;
}

int shelf_cache_dir(char *buf, size_t size)
{
    const char *v;
    int n;

    if ((v = getenv("XDG_CACHE_HOME")) && *v == '/')
        n = snprintf(buf, size, "%s/shelf", v);
    else if ((v = getenv("HOME")) && *v == '/')
        n = snprintf(buf, size, "%s/.cache/shelf", v);
    else
        n = snprintf(buf, size, "%s", (v = getenv("TMPDIR")) && *v ? v : "/tmp");
    return n < 0 || (size_t)n >= size ? SHELF_EINVAL : SHELF_OK;
}

int shelf_library_readonly(const shelf_library *lib)
{
    return lib->readonly;
}

char *shelf__cache_dir(shelf_library *lib)
{
    char dir[4096];

    if (!lib->readonly)
        return shelf__path_join(lib->path, "cache");
    if (shelf_cache_dir(dir, sizeof dir) != SHELF_OK)
        return shelf__strdup("/tmp");
    return shelf__strdup(dir);
}

/* Write DIR/config for a new library: a temp file of this process, fsync,
 * link.  Two processes creating one library at once each write their own
 * temp file; the first link wins and the other reads the winner's config. */
static int config_create(shelf_library *lib, const char *path)
{
    unsigned char id[16];
    char hex[33], *tmp = NULL, *text = NULL;
    json_t *o = NULL;
    int fd = -1, rc = SHELF_OK;
    size_t len;

    if (RAND_bytes(id, sizeof id) != 1)
        return shelf__seterr(&lib->err, SHELF_EIO, "cannot get random bytes for the library id");
    shelf__hex(id, sizeof id, hex);
    o = json_pack("{s:i, s:s, s:I}", "format", CONFIG_FORMAT, "library_id", hex,
                  "created", (json_int_t)shelf__now());
    if (!o || !(text = shelf__json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS)) ||
        !(tmp = shelf__asprintf("%s.tmp-%d", path, (int)getpid()))) {
        rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    len = strlen(text);
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666)) < 0 ||
        write(fd, text, len) != (ssize_t)len || write(fd, "\n", 1) != 1 || fsync(fd) != 0) {
        rc = shelf__seterr_errno(&lib->err, errno, "cannot write '%s'", tmp);
        goto out;
    }
    if (link(tmp, path) != 0 && errno != EEXIST &&
        ((errno != EPERM && errno != ENOTSUP && errno != ENOSYS) || rename(tmp, path) != 0)) {
        /* (rename where there are no hard links: FAT on a card) */
        rc = shelf__seterr_errno(&lib->err, errno, "cannot write '%s'", path);
        goto out;
    }
    if (shelf__fsync_dir(lib->path) != 0)
        rc = shelf__seterr_errno(&lib->err, errno, "cannot write '%s'", path);
out:
    if (fd >= 0) {
        close(fd);
        unlink(tmp);
    }
    free(text);
    json_decref(o);
    shelf_free(tmp);
    return rc;
}

static int config_check(shelf_library *lib, const char *path)
{
    json_t *o, *f;
    int rc;

    if ((rc = shelf__json_parse_file(&lib->err, SHELF_EFORMAT, path, 0, &o)) != SHELF_OK)
        return rc;
    f = json_object_get(o, "format");
    if (!json_is_integer(f))
        rc = shelf__seterr(&lib->err, SHELF_EFORMAT, "cannot read '%s': no format number", path);
    else if (json_integer_value(f) > CONFIG_FORMAT)
        rc = shelf__seterr(&lib->err, SHELF_EVERSION,
                           "'%s' has format %lld; this shelf reads up to %d", path,
                           (long long)json_integer_value(f), CONFIG_FORMAT);
    f = json_object_get(o, "library_id");
    snprintf(lib->library_id, sizeof lib->library_id, "%s",
             json_is_string(f) ? json_string_value(f) : "unknown");
    json_decref(o);
    return rc;
}

/* 1 when the library's folder and catalog can be written by this process. */
static int folder_writable(const char *dir, const char *db)
{
    return access(dir, W_OK) == 0 && access(db, W_OK) == 0;
}

/*
 * "file:" URI of path opened immutable: SQLite then neither creates the
 * -shm file nor takes locks, which a folder it cannot write needs when the
 * catalog is in WAL mode (a plain read-only open fails there).
 */
static char *immutable_uri(const char *path)
{
    static const char hexd[] = "0123456789ABCDEF";
    shelf__buf u = SHELF__BUF_INIT;
    const unsigned char *p;
    int rc = shelf__buf_addf(&u, "file:");

    for (p = (const unsigned char *)path; *p && rc == SHELF_OK; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("/-._~", *p))
            rc = shelf__buf_addf(&u, "%c", *p);
        else
            rc = shelf__buf_addf(&u, "%%%c%c", hexd[*p >> 4], hexd[*p & 15]);
    }
    if (rc == SHELF_OK)
        rc = shelf__buf_addf(&u, "?immutable=1");
    if (rc != SHELF_OK) {
        shelf__buf_release(&u);
        return NULL;
    }
    return u.buf;
}

static int open_db(shelf_library *lib, int create)
{
    char *dbpath = shelf__path_join(lib->path, "shelf.db"), *wal = NULL, *uri = NULL;
    int flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE, rc = SHELF_OK;
    struct stat sb;

    if (!dbpath || !(wal = shelf__asprintf("%s-wal", dbpath))) {
        rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    if (lib->readonly)
        flags |= SQLITE_OPEN_READONLY;
    else
        flags |= SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
    /* A folder this process cannot write (read-only media, another user's)
     * with no log to replay: open the catalog immutable.  With a log (a
     * writer has it open, or one was cut off), the plain read-only open
     * reads it through an existing -shm; it fails when there is none. */
    if (lib->readonly && (lib->full || !folder_writable(lib->path, dbpath)) &&
        (stat(wal, &sb) != 0 || sb.st_size == 0)) {
        if (!(uri = immutable_uri(dbpath))) {
            rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
            goto out;
        }
        flags |= SQLITE_OPEN_URI;
    }
    if (sqlite3_open_v2(uri ? uri : dbpath, &lib->db, flags, NULL) != SQLITE_OK) {
        rc = shelf__seterr(&lib->err, lib->db && sqlite3_errcode(lib->db) != SQLITE_NOMEM ? SHELF_EDB : SHELF_ENOMEM,
                           "cannot open catalog '%s': %s", dbpath,
                           lib->db ? sqlite3_errmsg(lib->db) : "out of memory");
        goto out;
    }
    sqlite3_busy_timeout(lib->db, BUSY_TIMEOUT_MS);
    sqlite3_extended_result_codes(lib->db, 1);
    /* WAL: readers never block the writer; NORMAL sync is durable up to
     * the last checkpoint and always consistent. */
    if (!lib->readonly && (rc = shelf__exec(lib, "PRAGMA journal_mode=WAL")) != SHELF_OK)
        goto out;
    rc = shelf__exec(lib, "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
                          "PRAGMA temp_store=MEMORY; PRAGMA cache_size=-16384");
out:
    shelf_free(uri);
    shelf_free(wal);
    shelf_free(dbpath);
    return rc;
}

/* A read-only open needs exactly the current schema: it cannot migrate. */
static int check_schema(shelf_library *lib)
{
    sqlite3_stmt *st = shelf__prepare(lib, "PRAGMA user_version");
    int v = -1;

    if (!st)
        return lib->err.rc;
    if (sqlite3_step(st) != SQLITE_ROW) {
        shelf__dberr(lib, "cannot read the catalog");
        sqlite3_finalize(st);
        return lib->err.rc;
    }
    v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (v != SHELF__SCHEMA_VERSION)
        return shelf__seterr(&lib->err, v > SHELF__SCHEMA_VERSION ? SHELF_EVERSION : SHELF_EDB,
                             "catalog of '%s' has schema %d; read-only use needs %d",
                             lib->path, v, SHELF__SCHEMA_VERSION);
    return SHELF_OK;
}

/* 1 when the last catalog failure was a full disk. */
static int disk_full(shelf_library *lib)
{
    int e;

    if (!lib->db)
        return 0;
    e = sqlite3_system_errno(lib->db);
    return (sqlite3_errcode(lib->db) & 0xff) == SQLITE_FULL || e == ENOSPC || e == EDQUOT;
}

int shelf_library_open(const char *dir, int flags, shelf_library **out, char **errmsg)
{
    return shelf_library_open_cb(dir, flags, NULL, NULL, out, errmsg);
}

int shelf_library_open_cb(const char *dir, int flags, shelf_open_progress_cb cb, void *ud,
                          shelf_library **out, char **errmsg)
{
    shelf__migrate_watch watch = { cb, ud };
    shelf_library *lib;
    char *cfg = NULL, *db = NULL, *objs = NULL;
    struct stat sb;
    int rc = SHELF_OK, fresh;

    shelf__global_init();
    *out = NULL;
    if (errmsg)
        *errmsg = NULL;
    if (!(lib = shelf__calloc(1, sizeof *lib)))
        return SHELF_ENOMEM;
    lib->lock_fd = -1;
    lib->readonly = (flags & SHELF_OPEN_READONLY) != 0;
    if (!dir || !*dir) {
        rc = shelf__seterr(&lib->err, SHELF_EINVAL, "no library folder given");
        goto fail;
    }
    if (!(lib->path = shelf__path_abs(dir)) || !(cfg = shelf__path_join(lib->path, "config")) ||
        !(db = shelf__path_join(lib->path, "shelf.db")) ||
        !(objs = shelf__path_join(lib->path, "objects"))) {
        rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        goto fail;
    }
    fresh = stat(db, &sb) != 0;
    if (fresh && !(flags & SHELF_OPEN_CREATE)) {
        rc = shelf__seterr(&lib->err, SHELF_ENOTFOUND, "no library at '%s'", lib->path);
        goto fail;
    }
    /* A library on read-only media or in another user's folder is opened
     * read-only: everything that reads works, and what writes says so. */
    if (!fresh && !lib->readonly && !folder_writable(lib->path, db) &&
        (errno == EROFS || errno == EACCES || errno == EPERM))
        lib->readonly = 1;
    if (fresh && lib->readonly) {
        rc = shelf__seterr(&lib->err, SHELF_EINVAL, "cannot create a library read-only");
        goto fail;
    }
    if (fresh) {
        int e = shelf__mkdirs(lib->path, 0777);

        if (e) {
            rc = shelf__seterr_errno(&lib->err, e, "cannot create '%s'", lib->path);
            goto fail;
        }
    }
    if (stat(cfg, &sb) != 0) {
        if (!fresh) {
            rc = shelf__seterr(&lib->err, SHELF_ECORRUPT, "library '%s' has no config file",
                               lib->path);
            goto fail;
        }
        if ((rc = config_create(lib, cfg)) != SHELF_OK || (rc = config_check(lib, cfg)) != SHELF_OK)
            goto fail;
    } else if ((rc = config_check(lib, cfg)) != SHELF_OK) {
        goto fail;
    }
    if (lib->readonly) {
        lib->store.dir = objs;   /* read-only: no folder creation */
        lib->store.err = &lib->err;
        objs = NULL;
    } else if ((rc = shelf__store_init(&lib->store, objs, &lib->err)) != SHELF_OK) {
        goto fail;
    }
    /* A catalog another process is creating or switching to WAL at this
     * moment can answer SQLITE_BUSY at once, without the busy handler (seen
     * with two imports into a new library): open it again a few times. */
    for (int tries = 0;; tries++) {
        lib->watch = cb ? &watch : NULL;
        if ((rc = open_db(lib, fresh)) == SHELF_OK)
            rc = lib->readonly ? check_schema(lib) : shelf__schema_migrate(lib, SHELF__SCHEMA_VERSION);
        lib->watch = NULL;
        if (rc != SHELF_EBUSY || tries == 20)
            break;
        sqlite3_close_v2(lib->db);
        lib->db = NULL;
        usleep(20000 + 10000 * (useconds_t)tries);
    }
    if (rc != SHELF_OK && !fresh && !lib->readonly && disk_full(lib)) {
        /* SQLite cannot even set up its log on a full disk.  Read what is
         * there; every write says the disk is full. */
        sqlite3_close_v2(lib->db);
        lib->db = NULL;
        lib->readonly = lib->full = 1;
        if ((rc = open_db(lib, 0)) == SHELF_OK)
            rc = check_schema(lib);
        if (rc != SHELF_OK)
            rc = shelf__writable(lib);
    }
    if (rc != SHELF_OK)
        goto fail;
    shelf_free(cfg);
    shelf_free(db);
    shelf_free(objs);
    *out = lib;
    return SHELF_OK;
fail:
    if (errmsg)
        *errmsg = shelf__strdup(shelf_errmsg(lib));
    shelf_free(cfg);
    shelf_free(db);
    shelf_free(objs);
    shelf_library_close(lib);
    return rc;
}

void shelf_library_close(shelf_library *lib)
{
    if (!lib)
        return;
    shelf_library_unlock(lib);
    shelf__memindex_free(lib->memindex);
    shelf__tokenizer_free(lib->tokenizer);
    shelf__kept_free(lib);
    if (lib->db)
        sqlite3_close_v2(lib->db);
    shelf__store_release(&lib->store);
    shelf_free(lib->path);
    shelf_free(lib);
}

int shelf_library_preload(shelf_library *lib)
{
    shelf__memindex *ix;
    int rc;

    if (lib->memindex && shelf__memindex_current(lib, lib->memindex))
        return SHELF_OK;
    if (lib->memindex) {    /* in place from the index log, when it can answer */
        char why[sizeof lib->memindex_why];
        size_t applied;

        rc = shelf__memindex_update(lib, lib->memindex, why, sizeof why, &applied);
        if (rc == SHELF_OK) {
            if (applied) {
                lib->memindex_applies++;
                lib->memindex_applied += applied;
            }
            return SHELF_OK;
        }
        if (rc != SHELF_DONE)
            snprintf(why, sizeof why, "applying the index log failed: %s", shelf_errmsg(lib));
        snprintf(lib->memindex_why, sizeof lib->memindex_why, "%s", why);
        lib->memindex_fallbacks++;
        shelf__memindex_free(lib->memindex);    /* half applied, perhaps */
        lib->memindex = NULL;
    }
    if ((rc = shelf__memindex_build(lib, &ix)) != SHELF_OK)
        return rc;
    shelf__memindex_free(lib->memindex);
    lib->memindex = ix;
    lib->memindex_builds++;
#ifdef __GLIBC__
    /* The build's scratch (rows, sort buffers, the old index) is free now;
     * glibc keeps it in the heap unless told, and at 1M samples that is
     * as much again as the index (doc/benchmarks.md, "The daemon"). */
    malloc_trim(0);
#endif
    return SHELF_OK;
}

int shelf_library_adopt_index(shelf_library *lib, shelf_library *from)
{
    if (!from || from == lib || !from->memindex)
        return shelf__seterr(&lib->err, SHELF_EINVAL, "no index to take: preload it on the other handle first");
    if (strcmp(lib->library_id, from->library_id) != 0)
        return shelf__seterr(&lib->err, SHELF_EINVAL, "the index is of another library (%s, not %s)",
                             from->library_id, lib->library_id);
    shelf__memindex_free(lib->memindex);
    lib->memindex = from->memindex;
    from->memindex = NULL;
    shelf__memindex_rehome(lib->memindex);
    lib->memindex_builds++;
    return SHELF_OK;
}

void shelf_library_trim(shelf_library *lib)
{
    if (lib && lib->db)
        sqlite3_db_release_memory(lib->db);
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}

uint64_t shelf_library_preload_bytes(const shelf_library *lib)
{
    return shelf__memindex_bytes(lib->memindex);
}

int shelf_library_index_stats(const shelf_library *lib, shelf_index_stats *stats)
{
    shelf_index_stats full;

    memset(&full, 0, sizeof full);
    full.size = sizeof full;
    full.builds = lib->memindex_builds;
    full.fallbacks = lib->memindex_fallbacks;
    full.applies = lib->memindex_applies;
    full.applied = lib->memindex_applied;
    shelf__memindex_counts(lib->memindex, &full.items, &full.added);
    full.bytes = shelf__memindex_bytes(lib->memindex);
    snprintf(full.fallback_why, sizeof full.fallback_why, "%s", lib->memindex_why);
    shelf__out_fill(stats, &full, sizeof full);
    return SHELF_OK;
}

int shelf_library_lock(shelf_library *lib, int mode, int wait)
{
    char *p;
    int op;

    if (mode != SHELF_LOCK_SHARED && mode != SHELF_LOCK_EXCLUSIVE)
        return shelf__seterr(&lib->err, SHELF_EINVAL, "invalid lock mode %d", mode);
    if (mode == SHELF_LOCK_EXCLUSIVE && shelf__writable(lib) != SHELF_OK)
        return lib->err.rc;   /* the exclusive lock is only ever for writing */
    if (lib->lock_fd < 0) {
        if (!(p = shelf__path_join(lib->path, "lock")))
            return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        lib->lock_fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
        if (lib->lock_fd < 0 && (errno == EACCES || errno == EROFS))
            lib->lock_fd = open(p, O_RDONLY | O_CLOEXEC);
        if (lib->lock_fd < 0 && lib->readonly && (errno == ENOENT || errno == EACCES)) {
            /* No lock file in a folder nobody here can write: nobody
             * holds it, and a reader cannot create it. */
            shelf_free(p);
            lib->lock_mode = mode;
            return SHELF_OK;
        }
        if (lib->lock_fd < 0) {
            int rc = shelf__seterr_errno(&lib->err, errno, "cannot open '%s'", p);

            shelf_free(p);
            return rc;
        }
        shelf_free(p);
    }
    op = (mode == SHELF_LOCK_SHARED ? LOCK_SH : LOCK_EX) | (wait ? 0 : LOCK_NB);
    while (flock(lib->lock_fd, op) != 0) {
        if (errno == EINTR)
            continue;
        if (errno == EWOULDBLOCK)
            return shelf__seterr(&lib->err, SHELF_EBUSY,
                                 "library '%s' is in use by another process", lib->path);
        return shelf__seterr_errno(&lib->err, errno, "cannot lock library '%s'", lib->path);
    }
    lib->lock_mode = mode;
    return SHELF_OK;
}

void shelf_library_unlock(shelf_library *lib)
{
    if (lib->lock_fd >= 0) {
        flock(lib->lock_fd, LOCK_UN);
        close(lib->lock_fd);
    }
    lib->lock_fd = -1;
    lib->lock_mode = 0;
}
