/*
 * shelf.h: the public API of libshelf, the storage layer of a music
 * workstation.  Include this header only; it includes the others.
 *
 * Conventions (see doc/design.md):
 *  - Functions return int: SHELF_OK (0) on success, a negative SHELF_E...
 *    code on failure, small positive values for non-errors (SHELF_ROW,
 *    SHELF_DONE).  shelf_strerror() names a code; shelf_errmsg() gives the
 *    message of the last failure on a handle, one line for people.
 *  - Handles are opaque.  _open/_close for handles on OS resources,
 *    _new/_free for heap objects.
 *  - Thread safety: a shelf_library handle is used by one thread at a time.
 *    Separate handles on the same library folder may be used from separate
 *    threads and processes at once (the catalog is SQLite in WAL mode).
 *  - Strings are UTF-8.  Paths are passed to the OS as they are.
 */
#ifndef SHELF_SHELF_H
#define SHELF_SHELF_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(SHELF_BUILDING) && defined(__GNUC__)
#define SHELF_API __attribute__((visibility("default")))
#else
#define SHELF_API
#endif

#define SHELF_VERSION_MAJOR 0
#define SHELF_VERSION_MINOR 1
#define SHELF_VERSION_PATCH 0
#define SHELF_VERSION_STRING "0.1.0"

/*
 * Structs with a size.  Every public struct that starts with "size_t size"
 * follows one rule (lib/common: shelf__opts_check, shelf__out_fill):
 *
 * - Options the caller fills (shelf_list_opts, shelf_search_opts,
 *   shelf_import_opts, shelf_stream_opts, shelf_stream_loop_opts,
 *   shelf_stress_opts, shelf_archive_export_opts, shelf_archive_import_opts,
 *   shelf_media_export_opts, shelf_repo_opts, shelf_backup_opts,
 *   shelf_restore_opts, shelf_forget_opts, shelf_watch_opts): zero-initialise, set
 *   size = sizeof.  A size below the struct's first published version is
 *   SHELF_EINVAL; an older, smaller struct is accepted and the fields it
 *   lacks read as zero (their defaults); a newer, larger struct is accepted
 *   only when every byte this version does not know is zero, else
 *   SHELF_EINVAL, so no option is dropped in silence.  A NULL options
 *   pointer means all defaults where the function's comment allows it.
 * - Structs the library fills (shelf_stream_stats, shelf_import_stats,
 *   shelf_verify_stats, shelf_gc_stats, shelf_archive_export_stats,
 *   shelf_archive_verify_stats, shelf_archive_import_stats,
 *   shelf_media_export_stats, shelf_backup_stats, shelf_restore_stats,
 *   shelf_check_stats, shelf_prune_stats, shelf_copy_stats,
 *   shelf_device_info, shelf_index_stats, shelf_fold_stats): set size = sizeof before the call; the library
 *   writes at most size bytes, never past an older caller's struct, and
 *   sets size to what it wrote.  It writes them on failure too (what was
 *   counted until then).  A NULL pointer, or a size below sizeof(size_t)
 *   (0), means "not wanted": nothing is written and the call works as
 *   with NULL.
 * - Structs the library hands to a callback or returns in an array it
 *   allocates (shelf_import_stats and shelf_verify_stats to progress,
 *   shelf_copy_stats, shelf_archive_progress, shelf_archive_item,
 *   shelf_backup_progress, shelf_lockinfo, shelf_keyinfo, shelf_snapinfo,
 *   shelf_audit_entry, shelf_peer): the library sets size = its own sizeof;
 *   a caller built against an older header reads only the fields it knows.
 *   shelf_snapitem and shelf_restore_item carry no size: their "size" is
 *   the item's byte count, kept for the callers that read it.
 */

/* Result codes. */
enum {
    SHELF_OK = 0,
    SHELF_ROW = 1,          /* a cursor has a row ready */
    SHELF_DONE = 2,         /* a cursor is exhausted */

    SHELF_ENOMEM = -1,      /* out of memory */
    SHELF_EIO = -2,         /* an I/O call failed (see shelf_errmsg) */
    SHELF_EINVAL = -3,      /* invalid argument */
    SHELF_ENOTFOUND = -4,   /* no such item, file or library */
    SHELF_EEXIST = -5,      /* already exists */
    SHELF_EBUSY = -6,       /* locked by another process; retry can help */
    SHELF_ECORRUPT = -7,    /* data does not match its checksum */
    SHELF_EFORMAT = -8,     /* input is not in a format shelf reads */
    SHELF_EDB = -9,         /* the catalog database failed */
    SHELF_EVERSION = -10,   /* library written by a newer shelf */
    SHELF_EPERM = -11,      /* permission denied */
    SHELF_ECANCELED = -12,  /* a callback asked to stop */
    SHELF_EINUSE = -13,     /* still referenced by other items */
    SHELF_ECONFLICT = -14,  /* a merge has unresolved conflicts */
    SHELF_EAUTH = -15       /* wrong or missing password */
};

/* Return a static, lowercase description of a result code. */
SHELF_API const char *shelf_strerror(int rc);

/* Return the library version as a string such as "0.1.0". */
SHELF_API const char *shelf_version(void);

/* Free memory that a shelf_ function returned as owned.  NULL is ignored. */
SHELF_API void shelf_free(void *p);

/*
 * The library folder
 *
 *   DIR/shelf.db    the catalog (SQLite, WAL)
 *   DIR/objects/    the content store: objects/ab/cd/<sha256>
 *   DIR/config      settings (JSON, see doc/formats.md)
 *   DIR/lock        advisory lock file for exclusive maintenance
 */
typedef struct shelf_library shelf_library;

/* Flags for shelf_library_open(). */
#define SHELF_OPEN_CREATE   0x1  /* create the folder if it does not exist */
#define SHELF_OPEN_READONLY 0x2  /* open the catalog read-only */

/*
 * Open the library in folder DIR (created first with SHELF_OPEN_CREATE).
 * The catalog is migrated to the newest schema on open, unless read-only.
 *
 * On success *out is a handle to close with shelf_library_close().  On
 * failure *out is NULL; if the failure happened after the handle was set
 * up, the message is lost with it, so errmsg, when not NULL, receives an
 * owned copy of the message (free with shelf_free).
 *
 * Errors: SHELF_ENOTFOUND (no library there), SHELF_EVERSION (the config or
 * catalog is newer than this code), SHELF_EFORMAT (the config cannot be
 * read), SHELF_ECORRUPT (a catalog without a config), SHELF_EINVAL (no
 * folder given, or a read-only open of a new library), SHELF_EPERM,
 * SHELF_EBUSY, SHELF_EDB, SHELF_EIO, SHELF_ENOMEM.
 */
SHELF_API int shelf_library_open(const char *dir, int flags,
                                 shelf_library **out, char **errmsg);

/*
 * How a long open goes: the catalog being upgraded from schema from to
 * to, migration step (from + 1 .. to) running, seconds since the upgrade
 * began; where the step counts rows (migration 15 indexes every sample's
 * words again: 30 s at a million), done of total, else both 0.
 */
typedef struct shelf_open_progress {
    size_t size;              /* sizeof(shelf_open_progress), set by the library */
    int from, to, step;
    int64_t done, total;
    double seconds;
} shelf_open_progress;
typedef void (*shelf_open_progress_cb)(void *ud, const shelf_open_progress *p);

/*
 * shelf_library_open that calls cb (when not NULL), on this thread, while
 * it upgrades the catalog: when a step starts, after every batch of rows
 * and about every quarter of a second, and once at the end with done ==
 * total (a step counting no rows: 0).  Not at all when nothing is to be
 * upgraded.
 */
SHELF_API int shelf_library_open_cb(const char *dir, int flags, shelf_open_progress_cb cb, void *ud,
                                    shelf_library **out, char **errmsg);

/* Close a library handle and release its resources.  NULL is ignored. */
SHELF_API void shelf_library_close(shelf_library *lib);

/* The message of the last failure on lib (borrowed; valid until the next
 * call on lib).  Never NULL. */
SHELF_API const char *shelf_errmsg(const shelf_library *lib);

/* The absolute path of the library folder (borrowed, valid while open). */
SHELF_API const char *shelf_library_path(const shelf_library *lib);

/* The library's id (32 hex digits, from its config; the same on every copy
 * of the library): what names it in backups, sync and the daemon's unit.
 * Owned by the handle. */
SHELF_API const char *shelf_library_id(const shelf_library *lib);

/*
 * Write the default library folder into buf: $SHELF_LIBRARY, else
 * $XDG_DATA_HOME/shelf, else $HOME/.local/share/shelf.
 * Errors: SHELF_EINVAL when buf is too small or no variable is set.
 */
SHELF_API int shelf_default_dir(char *buf, size_t size);

/*
 * Write the folder for caches of a library that cannot be written (read-only
 * media, another user's folder) into buf: $XDG_CACHE_HOME/shelf, else
 * $HOME/.cache/shelf, else $TMPDIR or /tmp.  Not created here.
 * Errors: SHELF_EINVAL when buf is too small.
 */
SHELF_API int shelf_cache_dir(char *buf, size_t size);

/* 1 when lib was opened read-only (asked for, or its folder cannot be
 * written); writes then fail with "library is read-only". */
SHELF_API int shelf_library_readonly(const shelf_library *lib);

/*
 * Keep an index of the catalog in memory for this handle, so searches
 * answer in milliseconds however large the library (a browser that runs a
 * query per keystroke wants this; a one-off command does not).  Later
 * searches on lib use it and rebuild it first when the catalog changed
 * (through any handle or process: in place from the catalog's index log,
 * a whole rebuild only when the log cannot answer).  Costs about 260 bytes per sample
 * (261 MB for a million) and about 7 s per million samples to build, with
 * a peak of about 740 MB while building at a million.  Phrases ("a b") are
 * still answered by SQL.
 */
SHELF_API int shelf_library_preload(shelf_library *lib);

/*
 * Move the index that shelf_library_preload built on from into lib: two
 * handles of the same library (the same library id), so a server can
 * answer at once (by SQL) while a thread of its own builds the index on a
 * second handle, then take it between two requests.  The index catches up
 * with what changed since its build at lib's next search (from the index
 * log, as always); lib's own index, if any, is freed and from keeps none.
 * SHELF_EINVAL (nothing moved) when from holds no index or is another
 * library.  Neither handle may be in use by another thread during the
 * call; from is the caller's to close.
 */
SHELF_API int shelf_library_adopt_index(shelf_library *lib, shelf_library *from);

/* Bytes the preloaded index holds (0 when none). */
SHELF_API uint64_t shelf_library_preload_bytes(const shelf_library *lib);

/* How the preloaded index kept up with the catalog (a struct the library
 * fills: see "Structs with a size"). */
typedef struct shelf_index_stats {
    size_t size;              /* sizeof(shelf_index_stats) */
    uint64_t builds;          /* whole builds, the first preload included */
    uint64_t fallbacks;       /* of those, rebuilds because the index log
                               * could not answer (fallback_why) */
    uint64_t applies;         /* changes applied in place from the log */
    uint64_t applied;         /* samples those re-indexed */
    uint64_t items;           /* samples the index holds now (0: none) */
    uint64_t added;           /* of those, re-indexed in place since its build */
    uint64_t bytes;           /* shelf_library_preload_bytes */
    char fallback_why[128];   /* the last fallback's reason, "" none */
} shelf_index_stats;

/*
 * Fill *stats (OUT) with the preloaded index's counters.  A change made
 * through any handle or process is applied in place on the next search
 * (doc/design.md, "How the index stays current"); a whole rebuild is the
 * fallback when the catalog's index log cannot answer.  Always SHELF_OK;
 * stats NULL or size 0 writes nothing.  Not thread safe with other calls
 * on lib.
 */
SHELF_API int shelf_library_index_stats(const shelf_library *lib, shelf_index_stats *stats);

/* Give back memory the handle keeps but does not need now: the catalog's
 * page cache (up to 16 MiB per handle, refilled as needed) and, with
 * glibc, free heap.  For long-lived processes between bursts of work
 * (`shelf daemon` after each look for alerts). */
SHELF_API void shelf_library_trim(shelf_library *lib);

/*
 * Advisory locks.  Writers that add or change content hold the shared lock
 * for their duration (shelf_import does so itself); maintenance that removes
 * files (gc, vacuum) holds the exclusive lock.  With wait == 0 a held lock
 * fails at once with SHELF_EBUSY.  Released by shelf_library_unlock() or
 * on close.
 */
#define SHELF_LOCK_SHARED    1
#define SHELF_LOCK_EXCLUSIVE 2
SHELF_API int shelf_library_lock(shelf_library *lib, int mode, int wait);
SHELF_API void shelf_library_unlock(shelf_library *lib);

#include "shelf/catalog.h"
#include "shelf/import.h"
#include "shelf/maint.h"
#include "shelf/search.h"
#include "shelf/patch.h"
#include "shelf/stream.h"
#include "shelf/backup.h"
#include "shelf/keys.h"
#include "shelf/archive.h"
#include "shelf/setlist.h"
#include "shelf/names.h"
#include "shelf/remote.h"
#include "shelf/sync.h"
#include "shelf/service.h"

#ifdef __cplusplus
}
#endif
#endif /* SHELF_SHELF_H */
