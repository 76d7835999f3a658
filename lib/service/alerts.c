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
#include <jansson.h>
#include "shelf/shelf.h"
#include "../catalog/catalog_int.h"
#include "../archive/archive_int.h"

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

/* ---- project archives ------------------------------------------------------------ */

static int on_parchive(void *ud, const shelf_project_archived *p)
{
    alerts *a = ud;
    char key[48], action[64];

    if (!strcmp(p->state, "archived") || shelf__project_archive_running(a->lib, p->project))
        return 0;
    snprintf(key, sizeof key, "archive-unfinished:%lld", (long long)p->project);
    snprintf(action, sizeof action, "shelf project archive %lld", (long long)p->project);
    add(a, SHELF_ALERT_WARNING, p->started, key, action,
        "the archive of project %lld '%s' to %s stopped %s; nothing is lost, and the next run finishes it",
        (long long)p->project, p->project_name, p->target,
        !strcmp(p->state, "exporting") ? "before it was checked at the target" : "while freeing its samples");
    return a->rc != SHELF_OK;
}

static void project_archives(alerts *a)
{
    int rc = shelf_project_archives(a->lib, 0, on_parchive, a);

    if (rc != SHELF_OK && a->rc == SHELF_OK)
        a->rc = rc;
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

/* ---- schedules and their targets ------------------------------------------------------ */

/* A schedule's words for people: "backup 'nightly'". */
static void sched_name(const shelf_schedule_info *s, char *buf, size_t size)
{
    snprintf(buf, size, "%s '%s'", s->kind, s->name);
}

typedef struct targets {
    char **v;
    size_t n, cap;
} targets;

/* Remember target t (once) to ask for its space. */
static void target_add(alerts *a, targets *t, const char *target)
{
    size_t i;

    if (!target || !*target || a->rc != SHELF_OK)
        return;
    for (i = 0; i < t->n; i++)
        if (!strcmp(t->v[i], target))
            return;
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 8;
        char **v = realloc(t->v, cap * sizeof *v);

        if (!v) {
            a->rc = shelf__seterr(&a->lib->err, SHELF_ENOMEM, "out of memory");
            return;
        }
        t->v = v;
        t->cap = cap;
    }
    if (!(t->v[t->n] = strdup(target))) {
        a->rc = shelf__seterr(&a->lib->err, SHELF_ENOMEM, "out of memory");
        return;
    }
    t->n++;
}

typedef struct sched_walk {
    alerts *a;
    targets t;
    int backups;                /* backup schedules, paused or not */
} sched_walk;

static int on_schedule(void *ud, const shelf_schedule_info *s)
{
    sched_walk *w = ud;
    alerts *a = w->a;
    char who[256], key[300], action[300], when[32];
    int64_t grace;

    sched_name(s, who, sizeof who);
    if (!strcmp(s->kind, "backup")) {
        w->backups++;
        target_add(a, &w->t, s->target);
    } else if (!strcmp(s->kind, "archive")) {
        target_add(a, &w->t, s->target);
    } else if (!strcmp(s->kind, "copy") && s->options) {
        json_error_t jerr;
        json_t *o = json_loads(s->options, 0, &jerr);
        const char *to = json_string_value(json_object_get(o, "to"));

        target_add(a, &w->t, to);
        json_decref(o);
    }
    if (s->paused) {
        snprintf(key, sizeof key, "paused:%s", s->name);
        snprintf(action, sizeof action, "shelf schedule resume %s", s->name);
        add(a, SHELF_ALERT_INFO, 0, key, action, "%s is paused: it does not run", who);
        return a->rc != SHELF_OK;
    }
    if (s->running)
        return 0;
    /* The last run did not work. */
    if (s->last_state && (!strcmp(s->last_state, "failed") || !strcmp(s->last_state, "interrupted"))) {
        int damage = !strcmp(s->kind, "check") && s->last_status == SHELF_ECORRUPT;
        int interrupted = !strcmp(s->last_state, "interrupted");

        snprintf(key, sizeof key, "%s:%s", damage ? "damage" : interrupted ? "interrupted" : "failed", s->name);
        snprintf(action, sizeof action, "shelf schedule log %s; shelf schedule run %s", s->name, s->name);
        if (damage)
            add(a, SHELF_ALERT_ERROR, s->last_end ? s->last_end : s->last_run, key, action,
                "%s found damage in %s: %s", who, s->target, s->last_message ? s->last_message : "see its log");
        else if (interrupted)
            add(a, SHELF_ALERT_WARNING, s->last_run, key, action,
                "%s was interrupted (the process was killed); it runs again when due", who);
        else
            add(a, !strcmp(s->kind, "sync") ? SHELF_ALERT_WARNING : SHELF_ALERT_ERROR,
                s->last_end ? s->last_end : s->last_run, key, action, "%s failed: %s", who,
                s->last_message ? s->last_message : "see its log");
        if (a->rc != SHELF_OK)
            return 1;
    }
    /* Late: the schedule promised a run within its period and none worked
     * (the machine was off, no daemon runs, or the runs fail). */
    grace = s->period / 2 > 3600 ? s->period / 2 : 3600;
    if (!strcmp(s->kind, "backup")) {
        int64_t since = s->last_ok ? s->last_ok : s->created;

        if (s->period > 0 && a->now - since > s->period + grace) {
            snprintf(key, sizeof key, "backup-late:%s", s->name);
            snprintf(action, sizeof action, "shelf schedule run %s", s->name);
            ago(a->now - since, when, sizeof when);
            if (s->last_ok)
                add(a, a->now - since > 3 * s->period ? SHELF_ALERT_ERROR : SHELF_ALERT_WARNING,
                    since + s->period, key, action, "the last backup by %s worked %s ago (it runs %s)", who,
                    when, s->spec);
            else
                add(a, a->now - since > 3 * s->period ? SHELF_ALERT_ERROR : SHELF_ALERT_WARNING,
                    since + s->period, key, action, "%s has not made a backup yet (added %s ago, runs %s)", who,
                    when, s->spec);
        }
    } else if (s->next_due && a->now - s->next_due > grace) {
        snprintf(key, sizeof key, "due:%s", s->name);
        snprintf(action, sizeof action, "shelf schedule run %s", s->name);
        ago(a->now - s->next_due, when, sizeof when);
        add(a, !strcmp(s->kind, "test-restore") || !strcmp(s->kind, "check") ? SHELF_ALERT_WARNING
                                                                              : SHELF_ALERT_INFO,
            s->next_due, key, action, "%s has been due for %s (no daemon ran it)", who, when);
    }
    return a->rc != SHELF_OK;
}

/* The space of one target: a warning when less than space_percent of it
 * (or of its budget) is free, an error under a quarter of that. */
static void target_space(alerts *a, const char *target)
{
    shelf_remote_terms t;
    char key[600], *msg = NULL, free_s[32], of[32];
    uint64_t room = 0, whole = 0;
    int rc;

    memset(&t, 0, sizeof t);
    snprintf(key, sizeof key, "space:%s", target);
    if ((rc = shelf_remote_terms_get(target, 1, &t, &msg)) != SHELF_OK) {
        add(a, SHELF_ALERT_INFO, 0, key, "shelf remote test", "cannot ask %s for its space: %s", target,
            msg ? msg : shelf_strerror(rc));
        shelf_free(msg);
        return;
    }
    if (t.space_error) {
        add(a, SHELF_ALERT_INFO, 0, key, "shelf remote test", "cannot ask %s for its space: %s", target,
            t.space_error);
    } else if (t.budget && t.used != UINT64_MAX) {
        whole = t.budget;
        room = t.used < t.budget ? t.budget - t.used : 0;
    } else if (t.avail != UINT64_MAX && t.used != UINT64_MAX) {
        whole = t.used + t.avail;
        room = t.avail;
    }
    if (whole && room * 100 < whole * (uint64_t)a->o.space_percent) {
        snprintf(free_s, sizeof free_s, "%.1f GB", (double)room / 1e9);
        snprintf(of, sizeof of, "%.1f GB", (double)whole / 1e9);
        add(a, room * 400 < whole * (uint64_t)a->o.space_percent ? SHELF_ALERT_ERROR : SHELF_ALERT_WARNING, 0,
            key, "shelf backup forget (a tighter --keep-*), or a larger target",
            "%s has %s free of %s%s", target, free_s, of, t.budget ? " (its budget)" : "");
    }
    shelf_remote_terms_release(&t);
}

static void schedules(alerts *a)
{
    sched_walk w;
    size_t i;
    int rc;

    memset(&w, 0, sizeof w);
    w.a = a;
    rc = shelf_schedule_list(a->lib, a->now, on_schedule, &w);
    if (rc < 0 && a->rc == SHELF_OK)
        a->rc = rc;
    if (a->rc == SHELF_OK && !w.backups)
        add(a, SHELF_ALERT_INFO, 0, "no-backup", "shelf schedule suggest",
            "no backup is scheduled: nothing keeps a copy of this library by itself");
    for (i = 0; i < w.t.n; i++) {
        if (a->rc == SHELF_OK && (a->o.flags & SHELF_ALERTS_SPACE))
            target_space(a, w.t.v[i]);
        free(w.t.v[i]);
    }
    free(w.t.v);
}

/* ---- streaming ------------------------------------------------------------------ */

/* Underruns in the last minute that reach this many make the alert an error. */
#define STREAM_UNDERRUNS_ERROR 10

/* A live engine on this library (its health file fresh, its pid alive)
 * that underran or dropped voices in the last minute.  No file, a stale
 * or damaged one: no engine to speak of, so no alert. */
static void stream_underruns(alerts *a)
{
    shelf_stream_report *r = NULL;
    const shelf_stream_health *h;
    char action[600];

    if (shelf_stream_health_read(a->lib, a->now, &r) != SHELF_OK)
        return;
    h = &r->health;
    if (r->state == SHELF_STREAM_LIVE && (h->recent_underruns > 0 || h->recent_dropped > 0)) {
        if (r->nsuggestions)
            snprintf(action, sizeof action, "%s; more in shelf stream monitor", r->suggestions[0].action);
        else
            snprintf(action, sizeof action, "shelf stream monitor");
        add(a, h->recent_underruns >= STREAM_UNDERRUNS_ERROR || h->recent_dropped > 0 ? SHELF_ALERT_ERROR
                                                                                   : SHELF_ALERT_WARNING,
            r->underruns_since, "stream-underruns", action,
            "the streaming engine (pid %ld) cannot keep up: %" PRIu64 " underruns and %" PRIu64
            " voices dropped in the last %.0f s (lowest ring fill %.0f%%, reads %.1f ms at p99)",
            r->pid, h->recent_underruns, h->recent_dropped, h->window, h->min_fill_pct, h->lat_p99_us / 1000.0);
    }
    shelf_stream_report_free(r);
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
    if (a.rc == SHELF_OK)
        schedules(&a);
    if (a.rc == SHELF_OK)
        project_archives(&a);
    if (a.rc == SHELF_OK)
        stream_underruns(&a);
    rc = a.rc;
    if (rc == SHELF_OK && a.n > 1)      /* qsort takes no NULL, even for 0 */
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
