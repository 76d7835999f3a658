/*
 * service_int.h: the background service's internals (lib/service): the
 * schedule spec (spec.c), the schedules' table and runs (schedule.c) and
 * the jobs they run (jobs.c).  The top layer of libshelf: it calls
 * backup, sync and catalog; nothing below calls it.
 */
#ifndef SHELF_SERVICE_INT_H
#define SHELF_SERVICE_INT_H

#include <jansson.h>
#include "../catalog/catalog_int.h"
#include "shelf/service.h"

/* Units of a spec. */
enum { SHELF__SPEC_HOURLY = 1, SHELF__SPEC_DAILY, SHELF__SPEC_WEEKLY, SHELF__SPEC_MONTHLY,
       SHELF__SPEC_EVERY };

/* A parsed spec (spec.c). */
typedef struct shelf__spec {
    int unit;                   /* SHELF__SPEC_ */
    int hour, minute;           /* daily, weekly, monthly */
    int wday;                   /* weekly: 0 sunday .. 6 */
    int mday;                   /* monthly: 1..28 */
    int64_t every;              /* every: seconds */
} shelf__spec;

/* Parse text into *s: SHELF_OK, or SHELF_EINVAL with *column (1-based)
 * and msg (one line) set. */
int shelf__spec_parse(const char *text, shelf__spec *s, int *column, char *msg, size_t msgsize);
/* The first time s names strictly after after (local time). */
int64_t shelf__spec_next(const shelf__spec *s, int64_t after);
/* The longest gap s promises between runs, in seconds. */
int64_t shelf__spec_period(const shelf__spec *s);

/* What a job hands back to the run that records it (jobs.c). */
typedef struct shelf__job {
    shelf_library *lib;
    const char *name, *kind, *target;
    json_t *options;            /* borrowed */
    json_t *state;              /* the schedule's state: the job may change it */
    json_t *detail;             /* the job fills it (owned by the caller) */
    int64_t period;             /* of the spec */
    const shelf_schedule_run_opts *o;
    int canceled;               /* the progress callback said stop */
    char msg[512];              /* one line for the log */
} shelf__job;

/* Check options for kind: SHELF_OK, or SHELF_EINVAL with msg set. */
int shelf__job_options_check(const char *kind, json_t *options, char *msg, size_t msgsize);
/* Run the job: SHELF_OK or an error, j->msg set either way. */
int shelf__job_run(shelf__job *j);

#endif /* SHELF_SERVICE_INT_H */
