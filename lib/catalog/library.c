/*
 * library.c: opening, creating and locking a library folder; the config
 * file; database helpers shared by the catalog code.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>
#include <openssl/rand.h>
#include "catalog_int.h"
#include "memindex.h"

#define CONFIG_FORMAT 1
#define BUSY_TIMEOUT_MS 30000

int shelf__dberr(shelf_library *lib, const char *what)
{
    int code = sqlite3_errcode(lib->db) & 0xff;
    int rc = (code == SQLITE_BUSY || code == SQLITE_LOCKED) ? SHELF_EBUSY : SHELF_EDB;

    if (code == SQLITE_NOMEM)
        rc = SHELF_ENOMEM;
    if (code == SQLITE_READONLY || code == SQLITE_PERM || code == SQLITE_CANTOPEN)
        rc = code == SQLITE_CANTOPEN ? SHELF_EIO : SHELF_EPERM;
    return shelf__seterr(&lib->err, rc, "%s: %s", what, sqlite3_errmsg(lib->db));
}

int shelf__exec(shelf_library *lib, const char *sql)
{
    if (sqlite3_exec(lib->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return shelf__dberr(lib, "catalog");
    return SHELF_OK;
}

/* Inside a transaction (an archive import's one for all its steps), a
 * nested begin is a savepoint: its commit releases it, its rollback undoes
 * only its part, and the outer commit or rollback decides. */
int shelf__begin(shelf_library *lib)
{
    int rc = shelf__exec(lib, lib->tx_depth ? "SAVEPOINT shelf_nested" : "BEGIN IMMEDIATE");

    if (rc == SHELF_OK)
        lib->tx_depth++;
    return rc;
}

int shelf__commit(shelf_library *lib)
{
    int rc = shelf__exec(lib, lib->tx_depth > 1 ? "RELEASE shelf_nested" : "COMMIT");

    if (rc == SHELF_OK && lib->tx_depth > 0)
        lib->tx_depth--;
    return rc;
}

void shelf__rollback(shelf_library *lib)
{
    if (lib->tx_depth > 1) {
        sqlite3_exec(lib->db, "ROLLBACK TO shelf_nested; RELEASE shelf_nested", NULL, NULL, NULL);
        lib->tx_depth--;
        return;
    }
    lib->tx_depth = 0;
    if (!sqlite3_get_autocommit(lib->db))
        sqlite3_exec(lib->db, "ROLLBACK", NULL, NULL, NULL);
}

sqlite3_stmt *shelf__prepare(shelf_library *lib, const char *sql)
{
    sqlite3_stmt *st = NULL;

    if (sqlite3_prepare_v2(lib->db, sql, -1, &st, NULL) != SQLITE_OK) {
        shelf__dberr(lib, "catalog");
        return NULL;
    }
    return st;
}

const char *shelf_errmsg(const shelf_library *lib)
{
    if (!lib)
        return "no library";
    return lib->err.msg[0] ? lib->err.msg : shelf_strerror(lib->err.rc);
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

/* Write DIR/config for a new library: temp file, fsync, rename. */
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
    if (!o || !(text = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS)) ||
        !(tmp = shelf__asprintf("%s.tmp", path))) {
        rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    len = strlen(text);
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666)) < 0 ||
        write(fd, text, len) != (ssize_t)len || write(fd, "\n", 1) != 1 || fsync(fd) != 0) {
        rc = shelf__seterr_errno(&lib->err, errno, "cannot write '%s'", tmp);
        goto out;
    }
    close(fd);
    fd = -1;
    if (rename(tmp, path) != 0 || shelf__fsync_dir(lib->path) != 0)
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
    json_error_t jerr;
    json_t *o = json_load_file(path, 0, &jerr), *f;
    int rc = SHELF_OK;

    if (!o)
        return shelf__seterr(&lib->err, SHELF_EFORMAT, "cannot read '%s': %s (line %d)",
                             path, jerr.text, jerr.line);
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

static int open_db(shelf_library *lib, int create)
{
    char *dbpath = shelf__path_join(lib->path, "shelf.db");
    int flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE, rc = SHELF_OK;

    if (!dbpath)
        return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    if (lib->readonly)
        flags |= SQLITE_OPEN_READONLY;
    else
        flags |= SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
    if (sqlite3_open_v2(dbpath, &lib->db, flags, NULL) != SQLITE_OK) {
        rc = shelf__seterr(&lib->err, SHELF_EDB, "cannot open catalog '%s': %s", dbpath,
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
    shelf_free(dbpath);
    return rc;
}

int shelf_library_open(const char *dir, int flags, shelf_library **out, char **errmsg)
{
    shelf_library *lib;
    char *cfg = NULL, *db = NULL, *objs = NULL;
    struct stat sb;
    int rc = SHELF_OK, fresh;

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
    if ((rc = open_db(lib, fresh)) != SHELF_OK)
        goto fail;
    if (lib->readonly) {
        sqlite3_stmt *st = shelf__prepare(lib, "PRAGMA user_version");
        int v = st && sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;

        sqlite3_finalize(st);
        if (v != SHELF__SCHEMA_VERSION) {
            rc = shelf__seterr(&lib->err, v > SHELF__SCHEMA_VERSION ? SHELF_EVERSION : SHELF_EDB,
                               "catalog of '%s' has schema %d; read-only use needs %d",
                               lib->path, v, SHELF__SCHEMA_VERSION);
            goto fail;
        }
    } else if ((rc = shelf__schema_migrate(lib, SHELF__SCHEMA_VERSION)) != SHELF_OK) {
        goto fail;
    }
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
    if ((rc = shelf__memindex_build(lib, &ix)) != SHELF_OK)
        return rc;
    shelf__memindex_free(lib->memindex);
    lib->memindex = ix;
    lib->memindex_builds++;
    return SHELF_OK;
}

uint64_t shelf_library_preload_bytes(const shelf_library *lib)
{
    return shelf__memindex_bytes(lib->memindex);
}

int shelf_library_lock(shelf_library *lib, int mode, int wait)
{
    char *p;
    int op;

    if (mode != SHELF_LOCK_SHARED && mode != SHELF_LOCK_EXCLUSIVE)
        return shelf__seterr(&lib->err, SHELF_EINVAL, "invalid lock mode %d", mode);
    if (lib->lock_fd < 0) {
        if (!(p = shelf__path_join(lib->path, "lock")))
            return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        lib->lock_fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
        if (lib->lock_fd < 0 && (errno == EACCES || errno == EROFS))
            lib->lock_fd = open(p, O_RDONLY | O_CLOEXEC);
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
