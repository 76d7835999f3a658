/*
 * service.h: what the background service (`shelf daemon`) does for a
 * library by itself: watch folders into the catalog, run schedules, and
 * say what needs the musician (alerts).  Included by shelf.h.  The
 * service's files and tables are in doc/formats.md; how it behaves in
 * doc/service.md.
 */
#ifndef SHELF_SERVICE_H
#define SHELF_SERVICE_H

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the clock ---- */
/* (schedules: written by the schedules work) */

/* ---- background indexing: watch folders ---- */

/*
 * A watcher keeps the catalog in step with the library's root folders by
 * itself: inotify watches on every folder of every root (new folders get
 * theirs as they appear), and what changed reaches the catalog through the
 * import (shelf_import) a moment later, debounced and batched.  New and
 * rewritten files are imported once they are closed after writing; a file
 * or folder moved within the roots keeps its samples' ids, tags and
 * ratings; what is deleted or moved out of the roots is marked missing.
 * Dot files, files without an audio extension and the library's own folder
 * are ignored, as the import ignores them.  doc/service.md says how each
 * case is handled and the fallbacks:
 *
 *  - the kernel's event queue overflowed: every root is rescanned;
 *  - a root is unmounted or deleted: its samples are left as they are
 *    until it is back, then it is rescanned;
 *  - the watch limit (fs.inotify.max_user_watches) is reached: that root
 *    is rescanned every poll_ms instead;
 *  - a root added to the catalog meanwhile (`shelf import` elsewhere) is
 *    watched from the next step on.
 *
 * Each of these is said once, as a line to on_note.
 *
 * The watcher is hosted in the caller's poll loop: poll shelf_watch_fd for
 * POLLIN with a timeout of shelf_watch_timeout, then call shelf_watch_step.
 * A handle is used by one thread at a time; it uses lib (and its error
 * message) during shelf_watch_step and needs lib to outlive it.
 */
typedef struct shelf_watch shelf_watch;

/* Flags for shelf_watch_opts.flags. */
#define SHELF_WATCH_NO_SCAN 0x1   /* do not rescan every root at the first step
                                     (by default, what changed while nothing
                                     watched is found then) */

/*
 * Note callback: one line for people (no newline), borrowed for the call:
 * a fallback taken ("queue overflow: rescanning /x"), a root gone or back,
 * an import that failed.  Runs on the thread that called shelf_watch_open
 * or shelf_watch_step, inside that call.
 */
typedef void (*shelf_note_cb)(void *ud, const char *line);

/* Watcher options.  Zero-initialise, then set size = sizeof. */
typedef struct shelf_watch_opts {
    size_t size;
    unsigned flags;            /* SHELF_WATCH_... */
    int debounce_ms;           /* a batch runs when no event came for this long,
                                  or twice this long after its first event;
                                  0: 500 */
    int poll_ms;               /* how often a root that cannot be watched whole
                                  (the watch limit) is rescanned; 0: 60000 */
    shelf_file_cb on_file;     /* each change to the catalog, as shelf_import
                                  reports it (also SHELF_FILE_MISSING for what
                                  was deleted); runs inside shelf_watch_step */
    shelf_note_cb on_note;
    void *ud;                  /* passed to both callbacks */
} shelf_watch_opts;

/*
 * Start watching the roots of lib.  Adds the watches (a walk of every
 * root's folders, not of its files) and says "watching N folders in M
 * roots" to on_note.  *out is owned: shelf_watch_close.  Errors:
 * SHELF_EINVAL (bad options), SHELF_EPERM (a read-only library), SHELF_EIO
 * (inotify cannot be used: too many instances), SHELF_ENOMEM; *out is NULL
 * then and no callback fired.
 */
SHELF_API int shelf_watch_open(shelf_library *lib, const shelf_watch_opts *opts, shelf_watch **out);

/* The descriptor to poll for POLLIN (an inotify descriptor, non-blocking). */
SHELF_API int shelf_watch_fd(const shelf_watch *w);

/*
 * Milliseconds until shelf_watch_step has work due even if the descriptor
 * stays quiet (a batch, a check of the roots): 0 to 2000, never -1.
 */
SHELF_API int shelf_watch_timeout(const shelf_watch *w);

/*
 * Read the events that are there (never waiting for more), then run what is
 * due: a batch of imports, a check of the roots every 2 s (a root gone or
 * back, a root added meanwhile, the periodic rescans).  Callbacks fire
 * here.  A step that runs a batch takes as long as its imports (a rescan
 * is an import of the root: a stat per file), and waits for the library's
 * shared lock as an import does.
 * An import that fails is a note, not an error: SHELF_OK unless the
 * watcher itself cannot go on (the descriptor failed: SHELF_EIO; memory:
 * SHELF_ENOMEM), with the message in shelf_errmsg(lib).
 */
SHELF_API int shelf_watch_step(shelf_watch *w);

/* Stop watching and free w (NULL is allowed).  Work still waiting for its
 * debounce is dropped; the next open finds it with its first rescan. */
SHELF_API void shelf_watch_close(shelf_watch *w);

/* ---- schedules ---- */
/* (written by the schedules work) */

/* ---- alerts ---- */
/* (written by the daemon work) */

#ifdef __cplusplus
}
#endif

#endif /* SHELF_SERVICE_H */
