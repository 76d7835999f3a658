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

/* ---- alerts ---- */
/* (written by the daemon work) */

#ifdef __cplusplus
}
#endif

#endif /* SHELF_SERVICE_H */
