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
/* (written by the watch work) */

/* ---- schedules ---- */
/* (written by the schedules work) */

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
