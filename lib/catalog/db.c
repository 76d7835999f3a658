/*
 * db.c: the SQLite helpers every file of the catalog shares: errors,
 * statements, transactions.  They call nothing else of lib/catalog, so
 * library.c, schema.c and memindex.c all depend on this file and not on
 * each other.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "catalog_int.h"

int shelf__writable(shelf_library *lib)
{
    if (!lib->readonly)
        return SHELF_OK;
    if (lib->full)
        return shelf__seterr_errno(&lib->err, ENOSPC, "cannot write '%s/shelf.db'", lib->path);
    return shelf__seterr(&lib->err, SHELF_EPERM, "cannot write '%s': library is read-only",
                         lib->path);
}

int shelf__dberr(shelf_library *lib, const char *what)
{
    char db[4096];

    if ((sqlite3_errcode(lib->db) & 0xff) == SQLITE_READONLY && lib->readonly)
        return shelf__writable(lib);
    snprintf(db, sizeof db, "%s/shelf.db", lib->path);
    return shelf__seterr_sqlite(&lib->err, lib->db, db, "%s", what);
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
    int rc;

    if ((rc = shelf__writable(lib)) != SHELF_OK)
        return rc;
    rc = shelf__exec(lib, lib->tx_depth ? "SAVEPOINT shelf_nested" : "BEGIN IMMEDIATE");
    if (rc == SHELF_OK)
        lib->tx_depth++;
    return rc;
}

int shelf__begin_read(shelf_library *lib)
{
    int rc = shelf__exec(lib, lib->tx_depth ? "SAVEPOINT shelf_nested" : "BEGIN");

    if (rc == SHELF_OK)
        lib->tx_depth++;
    return rc;
}

int shelf__commit(shelf_library *lib)
{
    int rc = shelf__exec(lib, lib->tx_depth > 1 ? "RELEASE shelf_nested" : "COMMIT");

    if (rc == SHELF_OK && lib->tx_depth > 0)
        lib->tx_depth--;
    else if (rc != SHELF_OK && lib->tx_depth == 1)
        shelf__rollback(lib);   /* a failed COMMIT (out of memory) leaves it open */
    return rc;
}

void shelf__rollback(shelf_library *lib)
{
    if (lib->tx_depth > 1) {
        /* cleanup after an earlier failure: its error is the one to report */
        (void)sqlite3_exec(lib->db, "ROLLBACK TO shelf_nested; RELEASE shelf_nested", NULL, NULL,
                           NULL);
        lib->tx_depth--;
        return;
    }
    lib->tx_depth = 0;
    if (!sqlite3_get_autocommit(lib->db))
        (void)sqlite3_exec(lib->db, "ROLLBACK", NULL, NULL, NULL);
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

sqlite3_stmt *shelf__prepare_kept(shelf_library *lib, const char *sql)
{
    sqlite3_stmt *st;
    unsigned i, k;
    char *copy;

    for (i = 0; i < SHELF__KEPT; i++)
        if (lib->kept[i].sql && !strcmp(lib->kept[i].sql, sql)) {
            sqlite3_reset(lib->kept[i].st);
            sqlite3_clear_bindings(lib->kept[i].st);
            return lib->kept[i].st;
        }
    /* the next slot in turn whose statement is not running */
    for (i = 0; i < SHELF__KEPT; i++) {
        k = (lib->kept_next + i) % SHELF__KEPT;
        if (!lib->kept[k].st || !sqlite3_stmt_busy(lib->kept[k].st))
            break;
    }
    if (i == SHELF__KEPT) {
        shelf__seterr(&lib->err, SHELF_EDB, "catalog: more than %d kept statements running",
                      SHELF__KEPT);
        return NULL;
    }
    if (!(st = shelf__prepare(lib, sql)))
        return NULL;
    if (!(copy = shelf__strdup(sql))) {
        sqlite3_finalize(st);
        shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        return NULL;
    }
    sqlite3_finalize(lib->kept[k].st);
    shelf_free(lib->kept[k].sql);
    lib->kept[k].sql = copy;
    lib->kept[k].st = st;
    lib->kept_next = k + 1;
    return st;
}

void shelf__kept_free(shelf_library *lib)
{
    unsigned i;

    for (i = 0; i < SHELF__KEPT; i++) {
        sqlite3_finalize(lib->kept[i].st);
        shelf_free(lib->kept[i].sql);
        lib->kept[i].st = NULL;
        lib->kept[i].sql = NULL;
    }
    sqlite3_finalize(lib->page_st);
    lib->page_st = NULL;
}

int shelf__query_int(shelf_library *lib, const char *sql, const char *text, int64_t *out)
{
    sqlite3_stmt *st = shelf__prepare(lib, sql);
    int rc, step;

    *out = 0;
    if (!st)
        return lib->err.rc;
    if (text && sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC) != SQLITE_OK) {
        sqlite3_finalize(st);
        return shelf__dberr(lib, "cannot read the catalog");
    }
    step = sqlite3_step(st);
    if (step == SQLITE_ROW)
        *out = sqlite3_column_int64(st, 0);
    rc = step == SQLITE_ROW || step == SQLITE_DONE ? SHELF_OK : shelf__dberr(lib, "cannot read the catalog");
    sqlite3_finalize(st);
    return rc;
}

int shelf__query_text(shelf_library *lib, const char *sql, char **out)
{
    sqlite3_stmt *st = shelf__prepare(lib, sql);
    int rc = SHELF_OK, step;

    *out = NULL;
    if (!st)
        return lib->err.rc;
    step = sqlite3_step(st);
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        rc = shelf__dberr(lib, "cannot read the catalog");
    else if (!(*out = shelf__strdup(step == SQLITE_ROW && sqlite3_column_text(st, 0)
                                        ? (const char *)sqlite3_column_text(st, 0) : "")))
        rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    sqlite3_finalize(st);
    return rc;
}
