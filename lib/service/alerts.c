/*
 * alerts.c: the conditions that need the musician, found afresh on every
 * call from what the library already records (its samples, paired
 * devices, conflicts, schedules and their runs, its targets' space).
 * Nothing is stored: an alert whose condition ended is not found again,
 * and the same condition always has the same key, so callers that notify
 * deduplicate by key (doc/service.md, "Alerts").
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "shelf/shelf.h"
#include "../catalog/catalog_int.h"

#define DAY 86400

/* An alert being collected: its strings owned. */
typedef struct found {
    char *key, *what, *action;
    int severity;
    int64_t since;
} found;

typedef struct alerts {
    shelf_library *lib;
    int64_t now;
    shelf_alert_opts o;
    found *v;
    size_t n, cap;
    int rc;                     /* the first failure while collecting */
} alerts;

static void found_release(found *f)
{
    free(f->key);
    free(f->what);
    free(f->action);
}

/* Add one alert; what and action are printf formats sharing the argument
 * list only in that what comes first (action is literal text). */
static void add(alerts *a, int severity, int64_t since, const char *key, const char *action,
                const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void add(alerts *a, int severity, int64_t since, const char *key, const char *action,
                const char *fmt, ...)
{
    shelf__buf b = SHELF__BUF_INIT;
    va_list ap;
    found f;
    int n;

    if (a->rc != SHELF_OK)
        return;
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || shelf__buf_grow(&b, (size_t)n + 1) != SHELF_OK) {
        a->rc = shelf__seterr(&a->lib->err, SHELF_ENOMEM, "out of memory");
        return;
    }
    va_start(ap, fmt);
    vsnprintf(b.buf, (size_t)n + 1, fmt, ap);
    va_end(ap);
    f.what = b.buf;
    f.key = strdup(key);
    f.action = action ? strdup(action) : NULL;
    f.severity = severity;
    f.since = since;
    if (!f.key || (action && !f.action)) {
        found_release(&f);
        a->rc = shelf__seterr(&a->lib->err, SHELF_ENOMEM, "out of memory");
        return;
    }
    if (a->n == a->cap) {
        size_t cap = a->cap ? 2 * a->cap : 16;
        found *v = realloc(a->v, cap * sizeof *v);

        if (!v) {
            found_release(&f);
            a->rc = shelf__seterr(&a->lib->err, SHELF_ENOMEM, "out of memory");
            return;
        }
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = f;
}

/* "3 days", "5 hours", "12 minutes": how long ago, for people. */
static void ago(int64_t secs, char *buf, size_t size)
{
    if (secs >= 2 * DAY)
        snprintf(buf, size, "%" PRId64 " days", secs / DAY);
    else if (secs >= 2 * 3600)
        snprintf(buf, size, "%" PRId64 " hours", secs / 3600);
    else
        snprintf(buf, size, "%" PRId64 " minutes", secs > 0 ? secs / 60 : 0);
}

/* ---- samples -------------------------------------------------------------------- */

static void samples_missing(alerts *a)
{
    int64_t total = 0, missing = 0;

    if (shelf_catalog_count(a->lib, &total, &missing) != SHELF_OK) {
        a->rc = a->lib->err.rc;
        return;
    }
    if (missing > 0)
        add(a, SHELF_ALERT_INFO, 0, "samples-missing", "shelf ls --missing",
            "%" PRId64 " of %" PRId64 " samples are missing (their files are gone; tags and ratings are kept)",
            missing, total);
}

/* ---- sync ----------------------------------------------------------------------- */

typedef struct conflicts {
    int64_t n, oldest;
} conflicts;

static int on_conflict(void *ud, const shelf_conflict *c)
{
    conflicts *k = ud;

    if (k->n++ == 0 || (c->since && c->since < k->oldest))
        k->oldest = c->since;
    return 0;
}

static void sync_conflicts(alerts *a)
{
    conflicts k = { 0, 0 };

    if (shelf_sync_conflicts(a->lib, on_conflict, &k) != SHELF_OK) {
        a->rc = a->lib->err.rc;
        return;
    }
    if (k.n > 0)
        add(a, SHELF_ALERT_WARNING, k.oldest, "conflicts", "shelf conflicts",
            "%" PRId64 " patch or project %s waiting for a merge after sync", k.n,
            k.n == 1 ? "history is" : "histories are");
}

static int on_device(void *ud, const shelf_peer *p)
{
    alerts *a = ud;
    int64_t limit = (int64_t)a->o.device_days * DAY, seen = p->last_seen ? p->last_seen : p->added;
    char key[SHELF_DEVICE_ID_LEN + 32], when[32];

    if (a->now - seen < limit)
        return 0;
    snprintf(key, sizeof key, "device-silent:%s", p->id);
    ago(a->now - seen, when, sizeof when);
    if (p->last_seen)
        add(a, SHELF_ALERT_WARNING, p->last_seen + limit, key, "shelf sync status",
            "paired device '%s' has not synced for %s", p->name, when);
    else
        add(a, SHELF_ALERT_WARNING, p->added + limit, key, "shelf sync status",
            "paired device '%s' has never synced (paired %s ago)", p->name, when);
    return a->rc != SHELF_OK;
}

static void devices_silent(alerts *a)
{
    int rc = shelf_device_list(a->lib, 0, on_device, a);

    if (rc < 0 && a->rc == SHELF_OK)
        a->rc = rc;
}

/* ---- the walk --------------------------------------------------------------------- */

static int by_severity(const void *x, const void *y)
{
    const found *a = x, *b = y;

    if (a->severity != b->severity)
        return b->severity - a->severity;
    return strcmp(a->key, b->key);
}

int shelf_alerts(shelf_library *lib, int64_t now, const shelf_alert_opts *o,
                 int (*fn)(void *ud, const shelf_alert *a), void *ud)
{
    alerts a;
    size_t i;
    int rc;

    if (!lib || !fn)
        return lib ? shelf__seterr(&lib->err, SHELF_EINVAL, "invalid alerts: no callback") : SHELF_EINVAL;
    memset(&a, 0, sizeof a);
    a.lib = lib;
    a.now = now;
    if ((rc = shelf__opts_check(&lib->err, &a.o, sizeof a.o, o, sizeof a.o, "alert options")) != SHELF_OK)
        return rc;
    if (a.o.device_days <= 0)
        a.o.device_days = 14;
    if (a.o.space_percent <= 0 || a.o.space_percent > 99)
        a.o.space_percent = 10;
    samples_missing(&a);
    if (a.rc == SHELF_OK)
        sync_conflicts(&a);
    if (a.rc == SHELF_OK)
        devices_silent(&a);
    rc = a.rc;
    if (rc == SHELF_OK)
        qsort(a.v, a.n, sizeof *a.v, by_severity);
    for (i = 0; i < a.n && rc == SHELF_OK; i++) {
        shelf_alert out = { sizeof out, a.v[i].key, a.v[i].severity, a.v[i].what, a.v[i].action, a.v[i].since };

        rc = fn(ud, &out);
    }
    for (i = 0; i < a.n; i++)
        found_release(&a.v[i]);
    free(a.v);
    return rc;
}
