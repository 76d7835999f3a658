/*
 * gone.c: mark missing the samples whose files were deleted or moved away,
 * by path, without a walk.  The watcher (lib/service/watch.c) knows from
 * its events what left a folder of 100,000 files; a walk of that folder
 * would find the same rows at the cost of a stat per file.  The rule is
 * the import's (import.c, mark_vanished): a row whose file is not there is
 * missing, a managed row never is, and a root folder that is not there
 * hides nothing.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include "../catalog/catalog_int.h"
#include "import_int.h"

/* A row marked missing, reported after the commit. */
typedef struct gone_row {
    int64_t id;
    char *path;
} gone_row;

typedef struct gone_list {
    gone_row *v;
    size_t n, cap;
} gone_list;

static int gone_add(shelf_library *lib, gone_list *g, int64_t id, char *path)
{
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 16;
        gone_row *v = shelf__realloc(g->v, cap * sizeof *v);

        if (!v) {
            shelf_free(path);
            return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        }
        g->v = v;
        g->cap = cap;
    }
    g->v[g->n].id = id;
    g->v[g->n].path = path;
    g->n++;
    return SHELF_OK;
}

/* The rows of one path: at it, or under it when it was a folder. */
static int mark_path(shelf_library *lib, const char *path, sqlite3_stmt *set, gone_list *g)
{
    sqlite3_stmt *st = NULL;
    const char *rel;
    char *root = NULL, *lo = NULL, *hi = NULL;
    struct stat sb;
    int64_t root_id;
    int rc, r = SQLITE_DONE;

    if ((rc = shelf__root_find(lib, path, &root_id, &rel)) != SHELF_OK)
        return rc == SHELF_ENOTFOUND ? SHELF_OK : rc;
    if (!(st = shelf__prepare(lib, "SELECT path FROM roots WHERE id = ?1"))) {
        rc = lib->err.rc;
        goto out;
    }
    sqlite3_bind_int64(st, 1, root_id);
    if (sqlite3_step(st) == SQLITE_ROW)
        root = shelf__strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    st = NULL;
    if (!root) {
        rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    if (stat(root, &sb) != 0 || !S_ISDIR(sb.st_mode))
        goto out;           /* an unmounted volume hides nothing */
    /* relpath = rel, or in [rel + "/", rel + "0"): '0' follows '/' */
    if (!(lo = shelf__asprintf("%s/", rel)) || !(hi = shelf__asprintf("%s0", rel))) {
        rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    st = shelf__prepare(lib,
        "SELECT id, relpath FROM samples WHERE root_id = ?1 AND missing = 0 AND blob IS NULL\n"
        "  AND (relpath = ?2 OR ?2 = '' OR (relpath >= ?3 AND relpath < ?4))");
    if (!st) {
        rc = lib->err.rc;
        goto out;
    }
    sqlite3_bind_int64(st, 1, root_id);
    sqlite3_bind_text(st, 2, rel, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, lo, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, hi, -1, SQLITE_STATIC);
    while (rc == SHELF_OK && (r = sqlite3_step(st)) == SQLITE_ROW) {
        char *abs = shelf__path_join(root, (const char *)sqlite3_column_text(st, 1));
        int64_t id = sqlite3_column_int64(st, 0);

        if (!abs) {
            rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
            break;
        }
        if (lstat(abs, &sb) == 0 || (errno != ENOENT && errno != ENOTDIR)) {
            shelf_free(abs);
            continue;       /* there (or unknown): not gone */
        }
        sqlite3_reset(set);
        sqlite3_bind_int64(set, 1, id);
        if (sqlite3_step(set) != SQLITE_DONE) {
            shelf_free(abs);
            rc = shelf__dberr(lib, "cannot write to the catalog");
            break;
        }
        rc = gone_add(lib, g, id, abs);
    }
    if (rc == SHELF_OK && r != SQLITE_DONE)
        rc = shelf__dberr(lib, "cannot read the catalog");
out:
    sqlite3_finalize(st);
    shelf_free(root);
    shelf_free(lo);
    shelf_free(hi);
    return rc;
}

int shelf__import_gone(shelf_library *lib, const char *const *paths, size_t npaths,
                       const shelf_import_opts *opts, shelf_import_stats *stats)
{
    shelf_import_opts o;
    sqlite3_stmt *set = NULL;
    gone_list g = { NULL, 0, 0 };
    int rc, locked = 0;
    size_t i;

    memset(stats, 0, sizeof *stats);
    stats->size = sizeof *stats;
    if (shelf__opts_check(&lib->err, &o, sizeof o, opts, sizeof o, "shelf_import_opts") != SHELF_OK)
        return lib->err.rc;
    if ((rc = shelf__writable(lib)) != SHELF_OK)
        return rc;
    if (lib->lock_mode == 0) {
        if ((rc = shelf_library_lock(lib, SHELF_LOCK_SHARED, 1)) != SHELF_OK)
            return rc;
        locked = 1;
    }
    if ((rc = shelf__begin(lib)) != SHELF_OK)
        goto out;
    if (!(set = shelf__prepare(lib, "UPDATE samples SET missing = 1 WHERE id = ?1"))) {
        rc = lib->err.rc;
        shelf__rollback(lib);
        goto out;
    }
    for (i = 0; i < npaths && rc == SHELF_OK; i++)
        rc = mark_path(lib, paths[i], set, &g);
    sqlite3_finalize(set);
    if (rc != SHELF_OK || (rc = shelf__commit(lib)) != SHELF_OK) {
        shelf__rollback(lib);
        goto out;
    }
    for (i = 0; i < g.n; i++) {
        stats->missing++;
        if (o.on_file)
            o.on_file(o.ud, SHELF_FILE_MISSING, g.v[i].path, g.v[i].id, NULL);
    }
out:
    for (i = 0; i < g.n; i++)
        shelf_free(g.v[i].path);
    shelf_free(g.v);
    if (locked)
        shelf_library_unlock(lib);
    return rc;
}
