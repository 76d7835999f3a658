/*
 * maint.h: integrity checks and maintenance of a library.  Included by
 * shelf.h.
 */
#ifndef SHELF_MAINT_H
#define SHELF_MAINT_H

/* Problems shelf_verify reports. */
enum {
    SHELF_VERIFY_MISSING = 1,   /* a referenced file or a blob is gone */
    SHELF_VERIFY_CHANGED = 2,   /* a referenced file's bytes differ from the catalog */
    SHELF_VERIFY_CORRUPT = 4    /* a managed blob's bytes do not match its name */
};

typedef struct shelf_verify_stats {
    size_t size;                /* set to sizeof before the call (shelf.h) */
    uint64_t checked;           /* files and blobs hashed */
    uint64_t bytes;
    uint64_t ok, missing, changed, corrupt;
} shelf_verify_stats;

/*
 * Called for each problem on the calling thread: problem is one
 * SHELF_VERIFY_ value, path the file or blob (borrowed for the call).
 */
typedef void (*shelf_verify_cb)(void *ud, int problem, int64_t id, const char *path);

/* Called now and then on the calling thread with the counters so far;
 * non-zero stops the run. */
typedef int (*shelf_verify_progress_cb)(void *ud, const shelf_verify_stats *st,
                                        uint64_t files_total, uint64_t bytes_total);

/*
 * Run SQLite's integrity_check on the catalog (damage, in tables or indexes,
 * is reported as SHELF_VERIFY_CORRUPT with id 0 and the database's path;
 * shelf_catalog_repair mends what is in the indexes), then re-hash
 * every referenced file and managed blob and compare with the catalog.
 * Marks samples whose file (or blob) is gone, and managed samples whose
 * blob is damaged, as missing (an import of the original then repairs the
 * copy), and clears the mark on those found again.  Returns SHELF_OK when the run completed
 * (problems are in *stats and reported to cb), or a negative code.
 */
SHELF_API int shelf_verify(shelf_library *lib, shelf_verify_cb cb,
                           shelf_verify_progress_cb progress, void *ud,
                           shelf_verify_stats *stats);

/*
 * Check the catalog (PRAGMA integrity_check) and, when it is damaged,
 * rebuild its indexes from its tables (REINDEX) under the exclusive lock
 * (wait as in shelf_library_lock) and check again.  *repaired: 1 when the
 * rebuild repaired it, 0 when it was sound.  SHELF_ECORRUPT when damage
 * remains (the message says to restore the catalog from a copy);
 * SHELF_EBUSY, SHELF_EPERM (read-only library).
 */
SHELF_API int shelf_catalog_repair(shelf_library *lib, int wait, int *repaired);

typedef struct shelf_gc_stats {
    size_t size;                /* set to sizeof before the call (shelf.h) */
    uint64_t blobs_kept;
    uint64_t blobs_removed, bytes_removed;
    uint64_t temps_removed;     /* temp files left by interrupted writes, and staging
                                   folders of killed archive imports */
    uint64_t peaks_removed;     /* cached peaks of bytes no sample has any more
                                   (shelf_sample_peaks) */
} shelf_gc_stats;

/*
 * Delete blobs no catalog row references and temp files left by crashes.
 * Takes the exclusive lock (wait as in shelf_library_lock); SHELF_EBUSY when
 * another process holds the library.  dry_run: count only.
 */
SHELF_API int shelf_gc(shelf_library *lib, int wait, int dry_run, shelf_gc_stats *stats);

/*
 * Checkpoint the WAL and VACUUM the catalog under the exclusive lock.
 * before and after receive the catalog's size in bytes (database + WAL).
 */
SHELF_API int shelf_vacuum(shelf_library *lib, int wait, uint64_t *before, uint64_t *after);

/*
 * Write a consistent copy of the catalog to path with SQLite's online
 * backup API while other processes go on using the library.  The file
 * appears whole or not at all; an existing file is replaced.
 */
SHELF_API int shelf_db_backup(shelf_library *lib, const char *path);

/*
 * Purge on request (doc/design.md, "Purge"): items and every trace shelf
 * keeps of them.  An item is (kind, id): SHELF_PURGE_SAMPLE (a sample is
 * its bytes: every row with the same content goes), SHELF_DOC_PATCH or
 * SHELF_DOC_PROJECT (with every version).  Gone: catalog rows and their
 * history, tags no other item wears, ratings, favourites, collection
 * places, the audit rows that name the items, their search-index terms
 * (the index is optimized), managed copies (blobs), and the sync log's
 * records of them (redacted); a tombstone makes paired devices purge them
 * too.  Freed pages are zeroed (secure_delete) and the write-ahead log is
 * checkpointed and cut.  What shelf cannot reach is listed, not touched:
 * referenced sample files (the user's own) and the archives and exports
 * written since the item came.  Backups: shelf_repo_purge (backup.h).
 * One audit row records the purge with counts, never names.
 */
enum { SHELF_PURGE_SAMPLE = 1 };

typedef struct shelf_purge_entry {
    size_t size;                /* sizeof, set by the library */
    const char *what;           /* "sample" (a row), "patch", "project", "blob" (a
                                   managed copy), "file" (a referenced file, left in
                                   place), "export" (an archive or export written
                                   since the item came: it may hold it) */
    const char *name;           /* the item across devices, "s:SHA256", "p:HASH" or
                                   "j:HASH" (what shelf_repo_purge takes); NULL for
                                   blob, file, export */
    const char *detail;         /* a sample's path (root and relative path), a
                                   document's name, a blob's hash, a file's path, an
                                   export's path */
    int64_t id;                 /* the row's id (samples and documents) */
} shelf_purge_entry;

/* Each thing found; nonzero stops (SHELF_ECANCELED, nothing purged). */
typedef int (*shelf_purge_cb)(void *ud, const shelf_purge_entry *e);

typedef struct shelf_purge_opts {
    size_t size;                /* sizeof (shelf.h) */
    int preview;                /* report what would go; change nothing */
    int force;                  /* also samples that documents not purged use (they
                                   keep the reference by hash); else SHELF_EINUSE */
    int wait;                   /* for the exclusive lock, as in shelf_library_lock */
    shelf_purge_cb cb;
    void *ud;
} shelf_purge_opts;

typedef struct shelf_purge_stats {
    size_t size;                /* sizeof, set before the call */
    int64_t samples;            /* sample rows */
    int64_t documents;          /* patches and projects */
    int64_t rows;               /* catalog rows removed or redacted in all */
    int64_t blobs;              /* managed copies deleted (preview: to delete) */
    int64_t files_left;         /* referenced files left in place */
    int64_t exports;            /* archives and exports that may hold an item */
} shelf_purge_stats;

SHELF_API int shelf_purge(shelf_library *lib, const int *kinds, const int64_t *ids, size_t n,
                          const shelf_purge_opts *o, shelf_purge_stats *st);

#endif /* SHELF_MAINT_H */
