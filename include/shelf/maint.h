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

#endif /* SHELF_MAINT_H */
