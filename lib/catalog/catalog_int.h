/*
 * catalog_int.h: the library handle and the SQLite catalog inside it.
 * SQLite helpers (errors, statements, transactions) are in db.c; schema and
 * migrations in schema.c (see doc/formats.md); queries in
 * catalog.c; integrity and maintenance in maint.c.
 */
#ifndef SHELF_CATALOG_INT_H
#define SHELF_CATALOG_INT_H

#include <sqlite3.h>
#include "../common/common_int.h"
#include "../store/store_int.h"

/* Kinds of items in the polymorphic tables (tags, ratings, favourites,
 * doc_versions, audit_log).  Macros, so that SQL text pastes them in:
 * "WHERE kind = " SHELF__KIND_SAMPLE_SQL; the stored values never change
 * (doc/formats.md). */
#define SHELF__KIND_SAMPLE 1
#define SHELF__KIND_PATCH 2
#define SHELF__KIND_PROJECT 3
#define SHELF__SQL_STR_(x) #x
#define SHELF__SQL_STR(x) SHELF__SQL_STR_(x)
#define SHELF__KIND_SAMPLE_SQL SHELF__SQL_STR(SHELF__KIND_SAMPLE)
#define SHELF__KIND_PATCH_SQL SHELF__SQL_STR(SHELF__KIND_PATCH)
#define SHELF__KIND_PROJECT_SQL SHELF__SQL_STR(SHELF__KIND_PROJECT)

/* Cached prepared statements, by purpose. */
enum {
    SHELF__STMT_ROOTS,
    SHELF__STMT_COUNT_
};

/* How many statements a library keeps prepared (shelf__prepare_kept). */
#define SHELF__KEPT 32

struct shelf_library {
    char *path;               /* absolute path of the library folder */
    sqlite3 *db;
    shelf__store store;
    shelf__err err;
    int readonly;
    int full;                 /* read-only because the disk was full on open */
    int lock_fd, lock_mode;   /* advisory lock on DIR/lock; mode 0 when none */
    int query_errpos;         /* column of the last query error, 0 when none */
    struct shelf__memindex *memindex;   /* after shelf_library_preload, else NULL */
    struct shelf__tokenizer *tokenizer; /* FTS5's, created on first use */
    unsigned memindex_builds; /* how often the index was built (tests) */
    unsigned memindex_searches; /* searches the index answered (tests) */
    /* the index kept current (shelf_library_index_stats): in-place
     * updates, samples they re-indexed, rebuilds because the index log
     * could not answer and the last one's reason */
    uint64_t memindex_applies, memindex_applied, memindex_fallbacks;
    char memindex_why[128];
    char library_id[33];      /* from the config: names this library as a device */
    int tx_depth;             /* shelf__begin nesting: above 1, savepoints */
    const struct shelf__migrate_watch *watch; /* shelf_library_open_cb, while it opens */
    /* sync (lib/sync/state.c): the share of samples one run may remove
     * (percent; 0: the default, 50), the samples at its start and how
     * many it removed so far */
    int sync_max_delete;
    int64_t sync_samples, sync_deleted;
    int sync_io_timeout;      /* seconds; 0: SHELF_SYNC_IO_TIMEOUT (peer.c) */
    /* and which sample bytes it fetches (SHELF_SYNC_FILES_*; 0: managed
     * copies) (blobs.c) */
    int sync_files;
    /* statements kept prepared for the library's life (db.c,
     * shelf__prepare_kept): their SQL, owned; replaced in turn */
    struct { char *sql; sqlite3_stmt *st; } kept[SHELF__KEPT];
    unsigned kept_next;
    /* the statement that reads a page of samples by id (catalog.c,
     * shelf__cursor_ids), kept prepared; page_busy while a cursor has it */
    sqlite3_stmt *page_st;
    int page_busy;
};

/* Newest schema version this code writes (PRAGMA user_version). */
#define SHELF__SCHEMA_VERSION 16

/*
 * Bring db to schema version target (<= SHELF__SCHEMA_VERSION) in one
 * transaction.  SHELF_EVERSION when db is newer than this code.
 */
int shelf__schema_migrate(shelf_library *lib, int target);
/* What shelf__schema_migrate tells while it works (shelf_library_open_cb). */
typedef struct shelf__migrate_watch {
    shelf_open_progress_cb cb;
    void *ud;
} shelf__migrate_watch;
/* Rows a migration fills in one batch (tests lower it). */
extern int shelf__migrate_batch;

/* Set lib->err from the database's last error, with context; returns SHELF_EDB
 * (or SHELF_EBUSY when the database was locked, SHELF_EPERM on a read-only
 * library, SHELF_EIO naming shelf.db on a full disk: shelf__seterr_sqlite). */
int shelf__dberr(shelf_library *lib, const char *what);

/* SHELF_OK when lib may be written, else SHELF_EPERM with "cannot write
 * 'DIR': library is read-only" (opened read-only, or its folder cannot be
 * written: a read-only mount, a write-protected card, another user's). */
int shelf__writable(shelf_library *lib);

/* The folder for this library's caches and scratch files (owned): DIR/cache,
 * or shelf_cache_dir() when the library is read-only.  Not created here. */
char *shelf__cache_dir(shelf_library *lib);

/* Run SQL with no result rows. */
int shelf__exec(shelf_library *lib, const char *sql);

/* Transactions: BEGIN IMMEDIATE (a writer from the start) / COMMIT / ROLLBACK;
 * nested inside another, a savepoint. */
int shelf__begin(shelf_library *lib);
/* A read transaction (deferred: a consistent view, no write lock; allowed
 * on a read-only library); ended like the others. */
int shelf__begin_read(shelf_library *lib);
int shelf__commit(shelf_library *lib);
void shelf__rollback(shelf_library *lib);

/* Prepare sql; on failure set the error and return NULL. */
sqlite3_stmt *shelf__prepare(shelf_library *lib, const char *sql);
/* The same, for a statement run once an item by a loop over many (a sync
 * applying 100,000 samples): prepared on first use and kept by the
 * library (the last SHELF__KEPT kinds of SQL), returned reset with no
 * bindings.  Never finalize it: sqlite3_reset it when done.  NULL (the
 * error set) when it cannot be prepared. */
sqlite3_stmt *shelf__prepare_kept(shelf_library *lib, const char *sql);
/* Finalize the kept statements (before the database closes). */
void shelf__kept_free(shelf_library *lib);
/* The integer of a one-column query's first row into *out (0 when it has
 * no row), with ?1 = text when text is not NULL. */
int shelf__query_int(shelf_library *lib, const char *sql, const char *text, int64_t *out);
/* The text of a one-column query's first row, owned ("" when it has no
 * row or its value is NULL). */
int shelf__query_text(shelf_library *lib, const char *sql, char **out);

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

/* The columns every cursor reads (FROM samples s + SAMPLE_JOINS), in the
 * order the cursor expects. */
#define SAMPLE_COLUMNS \
    "s.id, s.name, r.path, s.relpath, s.blob, s.sha256, s.size, s.mtime_ns, s.format,\n" \
    "s.subtype, s.rate, s.channels, s.frames, s.duration, s.bits, s.root_key,\n" \
    "s.loop_start, s.loop_end, s.loop_mode, s.tempo, s.beats, s.category, s.created,\n" \
    "s.last_used, s.missing, coalesce(rt.rating, 0), fv.item_id IS NOT NULL,\n" \
    "coalesce((SELECT group_concat(name, ' ') FROM (SELECT t.name FROM tag_items ti\n" \
    "  JOIN tags t ON t.id = ti.tag_id WHERE ti.kind = " SHELF__KIND_SAMPLE_SQL \
    " AND ti.item_id = s.id\n" \
    "  ORDER BY t.name)), ''),\n" \
    "s.title, s.author, s.comment, s.genre, s.kit, s.instrument\n"
#define SAMPLE_JOINS \
    " JOIN roots r ON r.id = s.root_id\n" \
    " LEFT JOIN ratings rt ON rt.kind = " SHELF__KIND_SAMPLE_SQL " AND rt.item_id = s.id\n" \
    " LEFT JOIN favourites fv ON fv.kind = " SHELF__KIND_SAMPLE_SQL " AND fv.item_id = s.id\n"

/* A cursor over st, which selects SAMPLE_COLUMNS (takes st, even on failure). */
int shelf__cursor_new(shelf_library *lib, sqlite3_stmt *st, shelf_cursor **out);
/* A cursor over the samples whose ids the JSON array ids lists, in its
 * order (a search's page); one missing from the catalog is left out. */
int shelf__cursor_ids(shelf_library *lib, const char *ids, shelf_cursor **out);

/* SQL of a sort key over SAMPLE_JOINS, NULL when unknown; and a whole
 * ORDER BY list with id as the tie-breaker. */
const char *shelf__sort_sql(int sort);
void shelf__order_by(int sort, int descending, char *buf, size_t size);

/* Absolute path of a sample's file (owned). */
char *shelf__sample_abspath(const char *root, const char *relpath);
/* Remove from a library's cache folder what killed backups and restores
 * left (backup-catalog-<pid>.db*, restore-<pid>/ of processes that are
 * gone); returns how many entries (dry_run: would be) removed. */
uint64_t shelf__cache_sweep(const char *cachedir, int dry_run);

/* Remove blob hex from the store when no row references it any more. */
int shelf__blob_release(shelf_library *lib, const char *hex);
/* Delete a sample's row in the caller's transaction (catalog.c). */
int shelf__sample_delete(shelf_library *lib, int64_t id, char **blob);

/*
 * Purge (purge.c, doc/design.md "Purge"): samples by their bytes (SHA-256,
 * 64 lowercase hex digits), documents by their name across devices
 * ("p:HASH" a patch, "j:HASH" a project; HASH: its first version's).
 */
typedef struct shelf__purge_set {
    const char *const *samples;
    size_t n_samples;
    const char *const *docs;
    size_t n_docs;
} shelf__purge_set;
/* db is a copy (a backup's catalog): steps on tables or columns an older
 * schema lacks are skipped, and no tombstone or audit row is written. */
#define SHELF__PURGE_COPY 0x1
/* Delete every row of set's items from db, in the caller's transaction:
 * samples, tags (and tags no other item wears), ratings, favourites,
 * collection places, links, documents with every version, the audit rows
 * that name them, queued changes; logged changes are redacted (field "-")
 * and their registers go.  On the live catalog also queues the tombstone
 * (field "!") and one audit row that counts.  rows: rows removed or
 * redacted (may be NULL). */
int shelf__purge_rows(sqlite3 *db, const shelf__purge_set *set, unsigned flags, int64_t *rows,
                      shelf__err *err);
/* After the commit: the search index optimized (deleted terms leave it)
 * and the write-ahead log checkpointed and cut.  db should run with
 * PRAGMA secure_delete=ON, so freed pages hold zeros. */
int shelf__purge_scrub(sqlite3 *db, shelf__err *err);
/* Record in the audit log that what ("archive", "media", "export-all")
 * was written to path, so a purge can name the exports that may hold an
 * item; nothing on a read-only library. */
int shelf__audit_export(shelf_library *lib, const char *what, const char *path);

#endif /* SHELF_CATALOG_INT_H */
