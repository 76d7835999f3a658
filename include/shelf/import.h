/*
 * import.h: bring audio files into the catalog.  Included by shelf.h.
 */
#ifndef SHELF_IMPORT_H
#define SHELF_IMPORT_H

/* Flags for shelf_import_opts.flags. */
#define SHELF_IMPORT_COPY 0x1   /* copy each file into the content store */
#define SHELF_IMPORT_REPLACE 0x2 /* a managed sample whose original changed takes
                                    the original's bytes as its new copy */

/* What happened to one file; passed to shelf_import_opts.on_file. */
enum {
    SHELF_FILE_IMPORTED = 1,   /* new in the catalog */
    SHELF_FILE_UPDATED,        /* known, changed on disk, re-probed */
    SHELF_FILE_UNCHANGED,      /* known, same size and mtime */
    SHELF_FILE_MOVED,          /* known by content at another path; id kept */
    SHELF_FILE_MISSING,        /* known, no longer on disk: marked missing */
    SHELF_FILE_FAILED,         /* not imported; reason says why */
    SHELF_FILE_DIFFERS         /* the original of a managed sample no longer has the
                                  copy's bytes: left alone, the copy stays the sample */
};

/* Counters, filled as the import goes and at the end. */
typedef struct shelf_import_stats {
    size_t size;               /* set to sizeof before the call (shelf.h) */
    uint64_t files_total;      /* candidate files found by the walk */
    uint64_t bytes_total;
    uint64_t files_done;       /* candidates processed so far */
    uint64_t bytes_done;       /* bytes of candidates processed so far */
    uint64_t bytes_read;       /* bytes actually read (new and changed files) */
    uint64_t imported, updated, unchanged, moved, missing, failed;
    uint64_t ignored;          /* files in walked folders that are not audio */
    uint64_t differs;          /* originals that differ from their managed copies */
} shelf_import_stats;

/*
 * Progress callback: runs on the calling thread, at most every few
 * milliseconds and once at the end.  Return non-zero to stop the import
 * (it returns SHELF_ECANCELED, having committed what it did so far).
 */
typedef int (*shelf_progress_cb)(void *ud, const shelf_import_stats *st);

/*
 * Per-file callback: runs on the calling thread for every file that is not
 * unchanged.  path is borrowed for the call; reason is NULL unless status is
 * SHELF_FILE_FAILED or SHELF_FILE_DIFFERS; id is 0 for failed files.
 */
typedef void (*shelf_file_cb)(void *ud, int status, const char *path,
                              int64_t id, const char *reason);

/* Import options.  Zero-initialise, then set size = sizeof. */
typedef struct shelf_import_opts {
    size_t size;
    unsigned flags;            /* SHELF_IMPORT_... */
    unsigned batch;            /* files per transaction; 0: default (500) */
    shelf_progress_cb progress;
    shelf_file_cb on_file;
    void *ud;                  /* passed to both callbacks */
} shelf_import_opts;

/*
 * Import files and folders.  Folders are walked recursively; files in them
 * whose extension is not an audio extension are counted as ignored.  Files
 * named directly are always probed.  Each audio file is probed with
 * libsndfile and hashed (SHA-256).  Files already known are re-probed only
 * when their size or mtime changed; known files under a walked folder that
 * are gone are marked missing (their tags and ratings stay); a new file
 * whose content matches a missing or vanished sample takes over that
 * sample's id (a move), also when the sample's file lay outside the paths
 * imported now and is gone (its root folder is there, the file is not).
 *
 * A managed sample (imported with SHELF_IMPORT_COPY) does not depend on its
 * original: an original whose bytes no longer match the copy is reported as
 * SHELF_FILE_DIFFERS (stats->differs) and the sample, its copy and its hash
 * stay as they are, unless flags has SHELF_IMPORT_REPLACE, which takes the
 * original as the new copy (the old copy is then garbage for shelf_gc).  An
 * original with the copy's bytes repairs a copy that is gone or damaged:
 * with SHELF_IMPORT_COPY, a copy whose size is wrong (a file named on its
 * own: whose bytes are wrong) is written again from it, and so is one that
 * shelf_verify marked missing.  Files that are unchanged and whose copies
 * are intact are not read and nothing is copied; a file touched without a
 * change of its bytes counts as unchanged.
 *
 * Work is committed in batches, so an interrupted import loses at most one
 * batch and a second run continues where the first stopped.  One bad file
 * never stops the import: it is counted as failed and reported to on_file.
 * Holds the shared library lock while it runs.
 *
 * Returns SHELF_OK even when some files failed (see stats->failed);
 * a negative code when the import itself could not go on (a named path that
 * does not exist, the catalog failed, cancelled).  stats may be NULL.
 */
SHELF_API int shelf_import(shelf_library *lib, const char *const *paths, size_t npaths,
                           const shelf_import_opts *opts, shelf_import_stats *stats);

/*
 * Probe one audio file without touching the catalog.  Fills *out (strings
 * owned by *out: release with shelf_sample_release).  SHELF_EFORMAT when
 * the file is not audio libsndfile reads; SHELF_EIO when it cannot be read.
 * reason, when not NULL, receives a one-line explanation (owned; shelf_free).
 */
SHELF_API int shelf_probe_file(const char *path, shelf_sample *out, char **reason);
SHELF_API void shelf_sample_release(shelf_sample *s);

#endif /* SHELF_IMPORT_H */
