/*
 * catalog_int.h: the library handle and the SQLite catalog inside it.
 * Schema and migrations are in schema.c (see doc/formats.md); queries in
 * catalog.c; integrity and maintenance in maint.c.
 */
#ifndef SHELF_CATALOG_INT_H
#define SHELF_CATALOG_INT_H

#include <sqlite3.h>
#include "../common/common_int.h"
#include "../store/store_int.h"

/* Kinds of items in the polymorphic tables (tags, ratings, favourites). */
enum { SHELF__KIND_SAMPLE = 1, SHELF__KIND_PATCH = 2, SHELF__KIND_PROJECT = 3 };

/* Cached prepared statements, by purpose. */
enum {
    SHELF__STMT_ROOTS,
    SHELF__STMT_COUNT_
};

struct shelf_library {
    char *path;               /* absolute path of the library folder */
    sqlite3 *db;
    shelf__store store;
    shelf__err err;
    int readonly;
    int lock_fd, lock_mode;   /* advisory lock on DIR/lock; mode 0 when none */
};

/* Newest schema version this code writes (PRAGMA user_version). */
#define SHELF__SCHEMA_VERSION 3

/*
 * Bring db to schema version target (<= SHELF__SCHEMA_VERSION) in one
 * transaction.  SHELF_EVERSION when db is newer than this code.
 */
int shelf__schema_migrate(shelf_library *lib, int target);

/* Set lib->err from the database's last error, with context; returns SHELF_EDB
 * (or SHELF_EBUSY when the database was locked). */
int shelf__dberr(shelf_library *lib, const char *what);

/* Run SQL with no result rows. */
int shelf__exec(shelf_library *lib, const char *sql);

/* Transactions: BEGIN IMMEDIATE (a writer from the start) / COMMIT / ROLLBACK. */
int shelf__begin(shelf_library *lib);
int shelf__commit(shelf_library *lib);
void shelf__rollback(shelf_library *lib);

/* Prepare sql; on failure set the error and return NULL. */
sqlite3_stmt *shelf__prepare(shelf_library *lib, const char *sql);

/*
 * Id of the root folder that contains abs_path, and the path relative to
 * it (pointing into abs_path).  SHELF_ENOTFOUND when no root contains it.
 */
int shelf__root_find(shelf_library *lib, const char *abs_path, int64_t *root_id,
                     const char **rel);

/*
 * Id of the root to import abs_dir under: an existing root that contains
 * it, or a new root abs_dir (existing roots inside it are folded into the
 * new one, rewriting their samples' relative paths).  Runs inside the
 * caller's transaction.  *rel points into abs_dir.
 */
int shelf__root_for_import(shelf_library *lib, const char *abs_dir, int64_t *root_id,
                           const char **rel);

/* Absolute path of a sample's file (owned). */
char *shelf__sample_abspath(const char *root, const char *relpath);

/* Remove blob hex from the store when no row references it any more. */
int shelf__blob_release(shelf_library *lib, const char *hex);

#endif /* SHELF_CATALOG_INT_H */
