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
/*
 * Unix seconds now, as every schedule decision reads it: the wall clock,
 * or, for tests only, the number in the file $SHELF_TEST_CLOCK names (read
 * again on every call, so a test moves time while a process runs; a
 * backup then dates its snapshot by it too, so retention is tested in
 * seconds).  Any thread.
 */
SHELF_API int64_t shelf_clock_now(void);

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
/*
 * A schedule runs one job on a target at the times its spec names
 * (doc/service.md, "Schedules"; its tables in doc/formats.md).  Kinds:
 *   "backup"        back the library up to target (a repository: folder,
 *                   s3:, webdav:, rclone: or a named remote); options
 *                   "strategy" ("incremental", "full", "differential")
 *                   and "keep_last", "keep_daily", "keep_weekly",
 *                   "keep_monthly": after a backup that worked, the
 *                   snapshots outside that policy are forgotten and
 *                   their data pruned
 *   "copy"          copy the snapshots of repository target to repository
 *                   options "to"
 *   "sync"          push to and pull from the hub target, or with
 *                   options "peer": true exchange with the paired device
 *                   listening at the address target
 *   "check"         check repository target; options "read_all_within"
 *                   (seconds; 0: structure only): each run reads the next
 *                   slice of the packs whole, so that all data is read
 *                   within that time
 *   "test-restore"  restore options "samples" (default 5) random samples
 *                   of the latest snapshot of target into a temporary
 *                   folder, compare their SHA-256 with the snapshot's
 *                   catalog, remove the folder
 * Repository passwords are never stored: options "password_file" (and for
 * copy "to_password_file") name a file holding one, else the run reads
 * $SHELF_PASSWORD (and $SHELF_DST_PASSWORD); a plain repository needs none.
 *
 * A spec is one of (local time; words in any case):
 *   hourly                       at minute 0 of every hour
 *   daily [HH:MM]                every day, 03:00 unless given
 *   weekly [DAY] [HH:MM]         DAY mon..sun (or its full name); sun 03:00
 *   monthly [DAY] [HH:MM]        DAY 1..28; 1 03:00
 *   every N(m|h|d|w)             N minutes, hours, days or weeks after the
 *                                start of the last run (1m .. 52w)
 * A schedule is due at the first such time after its last run started (or
 * after it was added); a run missed while the machine was off runs once,
 * whatever the number of times missed.  A run that was killed or
 * cancelled makes it due again at once.
 */

/*
 * Parse spec.  With after, *next (may be NULL) gets the first time the
 * spec names strictly after it, and *period (may be NULL) the longest
 * gap the spec promises between two runs, in seconds (monthly: 31 days).
 * SHELF_EINVAL for a bad spec: *column (may be NULL) gets the 1-based
 * byte column of the fault and *err (may be NULL; owned, shelf_free) one
 * line saying what was expected.  Pure: any thread.
 */
SHELF_API int shelf_schedule_spec(const char *spec, int64_t after, int64_t *next, int64_t *period,
                                  int *column, char **err);

/* One schedule as shelf_schedule_list gives it (the library sets size;
 * strings borrowed for the call). */
typedef struct shelf_schedule_info {
    size_t size;                /* sizeof, set by the library (shelf.h) */
    int64_t id;
    const char *name;
    const char *kind;           /* "backup", "copy", "sync", "check", "test-restore" */
    const char *spec;
    const char *target;
    const char *options;        /* JSON object text */
    int paused;                 /* never due while set */
    int64_t created;            /* Unix seconds */
    int64_t period;             /* seconds the spec promises between runs */
    int64_t last_run;           /* start of the last run, Unix seconds; 0: never */
    int64_t last_end;           /* its end; 0 while running or never */
    const char *last_state;     /* "ok", "failed", "cancelled", "interrupted",
                                   "running"; NULL: never ran */
    int last_status;            /* SHELF_OK or the SHELF_E... code of the last run */
    const char *last_message;   /* one line; NULL: none */
    int64_t last_ok;            /* end of the last run that worked; 0: never */
    int64_t next_due;           /* Unix seconds (0 while paused); <= now: due */
    int running;                /* a process runs it now */
    int due;                    /* not paused, not running, next_due <= now */
} shelf_schedule_info;

/* Called once per schedule, by name, on the calling thread; nonzero stops
 * (returned). */
typedef int (*shelf_schedule_cb)(void *ud, const shelf_schedule_info *s);

/* One run as the log gives it and as a run reports at its end (the
 * library sets size; strings borrowed for the call). */
typedef struct shelf_schedule_run_info {
    size_t size;                /* sizeof, set by the library (shelf.h) */
    int64_t id;
    const char *schedule;       /* its name */
    const char *kind;
    int64_t started, ended;     /* Unix seconds; ended 0: still running */
    const char *state;          /* "ok", "failed", "cancelled", "interrupted", "running" */
    int status;                 /* SHELF_OK or a SHELF_E... code */
    const char *message;        /* one line; NULL: none */
    const char *detail;         /* JSON object text: what the job did (counts, snapshot) */
    int64_t pid;                /* the process that ran it */
} shelf_schedule_run_info;
typedef int (*shelf_schedule_run_cb)(void *ud, const shelf_schedule_run_info *r);

/* Progress of a run: what it does now and how far it is (counts 0 when
 * unknown). */
typedef struct shelf_schedule_progress {
    size_t size;                /* sizeof, set by the library (shelf.h) */
    const char *schedule;
    const char *step;           /* "backup", "forget", "prune", "copy", "push", "pull",
                                   "sync", "check", "restore" */
    uint64_t done, total;       /* items */
    uint64_t bytes_done, bytes_total;
} shelf_schedule_progress;

/* Options of shelf_schedule_run and shelf_schedule_run_due (zero, then
 * set size; NULL: none). */
typedef struct shelf_schedule_run_opts {
    size_t size;                /* sizeof(shelf_schedule_run_opts) */
    /* Called on the calling thread now and then during a run; nonzero
     * cancels it: backup and copy stop at their next step (what was
     * stored is reused by the next run), other steps at their end; the
     * run is recorded "cancelled" with SHELF_ECANCELED and is due again. */
    int (*progress)(void *ud, const shelf_schedule_progress *p);
    /* Called on the calling thread when a run starts (state "running")
     * and when it has been recorded at its end. */
    shelf_schedule_run_cb on_run;
    void *ud;
} shelf_schedule_run_opts;

/*
 * Add a schedule.  name NULL or "": KIND-N, the first free.  options_json
 * (NULL: "{}") holds the kind's options (above); unknown keys and wrong
 * types are refused.  Errors: SHELF_EINVAL (kind, spec, target, name or
 * options; "archive" is not built yet), SHELF_EEXIST (the name is taken),
 * SHELF_EPERM (read-only library), SHELF_EDB; *err (may be NULL; owned,
 * shelf_free) gets one line, for a spec with its column.  *id (OUT, may
 * be NULL) the new schedule's id.
 */
SHELF_API int shelf_schedule_add(shelf_library *lib, const char *name, const char *kind,
                                 const char *spec, const char *target, const char *options_json,
                                 int64_t now, int64_t *id, char **err);
/* Remove schedule name and its log.  SHELF_ENOTFOUND; SHELF_EBUSY while a
 * process runs it. */
SHELF_API int shelf_schedule_remove(shelf_library *lib, const char *name);
/* Pause (on 1) or resume (on 0) schedule name.  SHELF_ENOTFOUND. */
SHELF_API int shelf_schedule_pause(shelf_library *lib, const char *name, int on);
/* Call fn for each schedule, by name, with running and due as of now. */
SHELF_API int shelf_schedule_list(shelf_library *lib, int64_t now, shelf_schedule_cb fn, void *ud);
/* The earliest next_due of the unpaused schedules that are not running
 * (a due one: <= now), for a daemon's poll timeout; *when = 0 when none.
 * The daemon runs shelf_schedule_run_due at that time. */
SHELF_API int shelf_schedule_next(shelf_library *lib, int64_t now, int64_t *when);
/*
 * Run schedule name now (due or not, paused or not) and record the run in
 * its log (the last 100 runs of each schedule are kept).  Returns the
 * job's result: SHELF_OK, SHELF_ECANCELED (o->progress said stop), the
 * error of the job (its message in shelf_errmsg(lib)); SHELF_EBUSY,
 * before anything runs, when another process (or handle) runs it;
 * SHELF_ENOTFOUND.  A row left without an end by a run that was killed is
 * recorded "interrupted" first.  The library handle is used by this
 * thread only during the call.
 */
SHELF_API int shelf_schedule_run(shelf_library *lib, const char *name, int64_t now,
                                 const shelf_schedule_run_opts *o);
/*
 * Run every schedule due at now, once each, by next_due then name; one
 * that another process runs is left to it, and one it ran meanwhile (no
 * longer due once its lock is held) is not run again.  Each run starts
 * (as recorded) at now plus the time the runs before it took.  *nrun (OUT, may be NULL) counts
 * the runs.  Returns SHELF_OK when every run worked, SHELF_ECANCELED when
 * one was cancelled (the others are not started), else the first failed
 * run's code (the others still run).
 */
SHELF_API int shelf_schedule_run_due(shelf_library *lib, int64_t now, const shelf_schedule_run_opts *o,
                                     int *nrun);
/* Call fn for the newest limit runs (0: all kept) of schedule name (NULL:
 * of every schedule), oldest first.  SHELF_ENOTFOUND for an unknown name. */
SHELF_API int shelf_schedule_log(shelf_library *lib, const char *name, int limit,
                                 shelf_schedule_run_cb fn, void *ud);

/* ---- the daemon's claim on a library ---- */

/*
 * One `shelf daemon` per library: the daemon holds an exclusive lock on
 * DIR/daemon (a file with its pid and start time, doc/formats.md) for as
 * long as it runs; the lock goes with the process, so a daemon killed
 * with kill -9 leaves nothing to clean up.
 *
 * shelf_daemon_claim takes the lock: SHELF_OK with *out set (release with
 * shelf_daemon_release), SHELF_EBUSY when another process holds it (*pid,
 * when not NULL, gets its pid, 0 if unknown), SHELF_EPERM on a read-only
 * library, SHELF_EIO.  shelf_daemon_running tells whether a daemon holds
 * it now: 1 (with *pid and *since, Unix seconds, when not NULL), 0 when
 * none, or a negative code.
 */
typedef struct shelf_claim shelf_claim;
SHELF_API int shelf_daemon_claim(shelf_library *lib, shelf_claim **out, long *pid);
SHELF_API void shelf_daemon_release(shelf_claim *c);
SHELF_API int shelf_daemon_running(shelf_library *lib, long *pid, int64_t *since);

/* ---- alerts ---- */

/* How much an alert needs the musician. */
enum {
    SHELF_ALERT_INFO = 1,       /* worth knowing; nothing is at risk */
    SHELF_ALERT_WARNING = 2,    /* needs attention soon: data is less safe than planned */
    SHELF_ALERT_ERROR = 3       /* needs attention now: something failed or is damaged */
};

/*
 * One condition that needs the musician, as shelf_alerts finds it now.
 * An alert is a condition, not an event: the same condition has the same
 * key on every call (so a caller that notifies deduplicates by key), and
 * an alert whose condition ended is simply not reported any more.
 */
typedef struct shelf_alert {
    size_t size;                /* sizeof(shelf_alert), set by the library */
    const char *key;            /* stable: "conflicts", "device-silent:ID", ... */
    int severity;               /* SHELF_ALERT_... */
    const char *what;           /* one line: what is wrong, on what */
    const char *action;         /* one line: what to do (a command), or NULL */
    int64_t since;              /* when the condition began, Unix seconds; 0 unknown */
} shelf_alert;

/* Flags for shelf_alert_opts.flags. */
#define SHELF_ALERTS_SPACE 0x1  /* ask each schedule's target for its free space
                                   and quota (a network call per target) */

/* Options of shelf_alerts.  Zero-initialise, then set size = sizeof. */
typedef struct shelf_alert_opts {
    size_t size;
    unsigned flags;             /* SHELF_ALERTS_... */
    int device_days;            /* a paired device not seen for this many days; 0: 14 */
    int space_percent;          /* a target with less free than this share of its
                                   space (or its budget); 0: 10 */
} shelf_alert_opts;

/*
 * Find the conditions that need the musician at time now (Unix seconds;
 * shelf_clock_now() for the present) and pass each to fn, worst first
 * (the shelf_alert is valid during the call only; a non-zero return
 * stops the walk and is returned).  The conditions are listed in
 * doc/service.md, "Alerts".  o may be NULL (all defaults).  Errors:
 * SHELF_EINVAL, SHELF_EDB, SHELF_ENOMEM; a target that cannot be asked
 * for its space is an alert, not an error.
 */
SHELF_API int shelf_alerts(shelf_library *lib, int64_t now, const shelf_alert_opts *o,
                           int (*fn)(void *ud, const shelf_alert *a), void *ud);

#ifdef __cplusplus
}
#endif

#endif /* SHELF_SERVICE_H */
