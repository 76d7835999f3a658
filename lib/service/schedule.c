/*
 * schedule.c: schedules in the catalog (tables schedules and
 * schedule_runs, doc/formats.md): add, remove, pause, list with the next
 * due time, run one or every due one, and the log of runs.  A run holds
 * an flock on DIR/schedules/ID.lock for its whole length, so one schedule
 * never runs twice at once, across processes; the kernel drops the lock
 * of a killed process, and the next run then finds its row without an end
 * and records it "interrupted".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>
#include "service_int.h"

/* Runs kept per schedule. */
#define RUNS_KEPT 100

static const char *const kinds[] = { "backup", "copy", "sync", "check", "test-restore", "archive" };

/* ---- the run lock ---- */

/* DIR/schedules/ID.lock: -1 when another process or handle holds it (no
 * message set), -2 on another failure (lib->err set), else its fd. */
static int lock_take(shelf_library *lib, int64_t id)
{
    char dir[4200], name[32];

    snprintf(dir, sizeof dir, "%s/schedules", lib->path);
    snprintf(name, sizeof name, "%lld.lock", (long long)id);
    return shelf__run_lock(&lib->err, dir, name);
}

/* 1 when a process holds the lock of schedule id now. */
static int lock_held(shelf_library *lib, int64_t id)
{
    char dir[4200], name[32];

    snprintf(dir, sizeof dir, "%s/schedules", lib->path);
    snprintf(name, sizeof name, "%lld.lock", (long long)id);
    return shelf__run_locked(dir, name);
}

/* ---- rows ---- */

/* One schedules row, with its last runs (owned strings). */
typedef struct srow {
    shelf_schedule_info info;
    char *name, *kind, *spec, *target, *options, *state, *last_state, *last_message;
    int64_t last_pid;
} srow;

static void srow_release(srow *r)
{
    shelf_free(r->name);
    shelf_free(r->kind);
    shelf_free(r->spec);
    shelf_free(r->target);
    shelf_free(r->options);
    shelf_free(r->state);
    shelf_free(r->last_state);
    shelf_free(r->last_message);
    memset(r, 0, sizeof *r);
}

static char *col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);

    return t ? shelf__strdup((const char *)t) : NULL;
}

#define SROW_SQL                                                                                   \
    "SELECT s.id, s.name, s.kind, s.spec, s.target, s.options, s.state, s.paused, s.created,\n"    \
    "  r.started, r.ended, r.status, r.rc, r.message, r.pid,\n"                                    \
    "  (SELECT max(ended) FROM schedule_runs WHERE schedule = s.id AND status = 'ok')\n"          \
    " FROM schedules s LEFT JOIN schedule_runs r ON r.id =\n"                                      \
    "  (SELECT max(id) FROM schedule_runs WHERE schedule = s.id)\n"

/* Fill r from the current row of st (SROW_SQL), with next_due and running. */
static int srow_read(shelf_library *lib, sqlite3_stmt *st, srow *r)
{
    shelf__spec spec;
    char msg[256];
    int col;

    memset(r, 0, sizeof *r);
    r->info.size = sizeof r->info;
    r->info.id = sqlite3_column_int64(st, 0);
    r->name = col_text(st, 1);
    r->kind = col_text(st, 2);
    r->spec = col_text(st, 3);
    r->target = col_text(st, 4);
    r->options = col_text(st, 5);
    r->state = col_text(st, 6);
    r->last_state = col_text(st, 11);
    r->last_message = col_text(st, 13);
    if (!r->name || !r->kind || !r->spec || !r->target || !r->options || !r->state ||
        (sqlite3_column_type(st, 11) != SQLITE_NULL && !r->last_state) ||
        (sqlite3_column_type(st, 13) != SQLITE_NULL && !r->last_message)) {
        srow_release(r);
        return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    }
    r->info.name = r->name;
    r->info.kind = r->kind;
    r->info.spec = r->spec;
    r->info.target = r->target;
    r->info.options = r->options;
    r->info.paused = sqlite3_column_int(st, 7);
    r->info.created = sqlite3_column_int64(st, 8);
    r->info.last_run = sqlite3_column_int64(st, 9);
    r->info.last_end = sqlite3_column_int64(st, 10);
    r->info.last_state = r->last_state;
    r->info.last_status = sqlite3_column_int(st, 12);
    r->info.last_message = r->last_message;
    r->last_pid = sqlite3_column_int64(st, 14);
    r->info.last_ok = sqlite3_column_int64(st, 15);
    if (shelf__spec_parse(r->spec, &spec, &col, msg, sizeof msg) != SHELF_OK) {
        int rc = shelf__seterr(&lib->err, SHELF_ECORRUPT, "schedule '%s' has a bad spec '%s': %s",
                               r->name, r->spec, msg);

        srow_release(r);
        return rc;
    }
    r->info.period = shelf__spec_period(&spec);
    if (r->last_state && !strcmp(r->last_state, "running")) {
        r->info.running = lock_held(lib, r->info.id);
        if (!r->info.running) {
            /* Killed: shown as what the next run records it as. */
            shelf_free(r->last_state);
            r->last_state = shelf__strdup("interrupted");
            r->info.last_state = r->last_state;
            r->info.last_status = SHELF_ECANCELED;
        }
    }
    if (r->info.paused)
        r->info.next_due = 0;
    else if (r->last_state && !r->info.running &&
             (!strcmp(r->last_state, "interrupted") || !strcmp(r->last_state, "cancelled")))
        r->info.next_due = r->info.last_run;      /* due again at once */
    else
        r->info.next_due = shelf__spec_next(&spec, r->info.last_run ? r->info.last_run
                                                                   : r->info.created);
    return SHELF_OK;
}

/* Load schedule name into *r: SHELF_ENOTFOUND when there is none. */
static int srow_load(shelf_library *lib, const char *name, srow *r)
{
    sqlite3_stmt *st = shelf__prepare(lib, SROW_SQL " WHERE s.name = ?1");
    int rc, step;

    memset(r, 0, sizeof *r);
    if (!st)
        return lib->err.rc;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    step = sqlite3_step(st);
    if (step == SQLITE_ROW)
        rc = srow_read(lib, st, r);
    else if (step == SQLITE_DONE)
        rc = shelf__seterr(&lib->err, SHELF_ENOTFOUND, "no schedule '%s'", name);
    else
        rc = shelf__dberr(lib, "cannot read the schedules");
    sqlite3_finalize(st);
    return rc;
}

/* ---- add, remove, pause ---- */

static int name_ok(const char *n)
{
    size_t i, len = strlen(n);

    if (len == 0 || len > 64 || n[0] == '-' || n[0] == '.')
        return 0;
    for (i = 0; i < len; i++)
        if (!((n[i] >= 'a' && n[i] <= 'z') || (n[i] >= 'A' && n[i] <= 'Z') ||
              (n[i] >= '0' && n[i] <= '9') || n[i] == '-' || n[i] == '_' || n[i] == '.'))
            return 0;
    return 1;
}

static int add_err(shelf_library *lib, char **err, int rc, const char *fmt, const char *a,
                   const char *b)
{
    shelf__seterr(&lib->err, rc, fmt, a, b);
    if (err)
        *err = shelf__strdup(lib->err.msg);
    return rc;
}

/* A free name "KIND-N" into *out (owned). */
static int free_name(shelf_library *lib, const char *kind, char **out)
{
    int64_t n, taken;
    char *name;
    int rc;

    *out = NULL;
    for (n = 1; n < 100000; n++) {
        if (!(name = shelf__asprintf("%s-%lld", kind, (long long)n)))
            return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        if ((rc = shelf__query_int(lib, "SELECT count(*) FROM schedules WHERE name = ?1", name,
                                   &taken)) != SHELF_OK) {
            shelf_free(name);
            return rc;
        }
        if (!taken) {
            *out = name;
            return SHELF_OK;
        }
        shelf_free(name);
    }
    return shelf__seterr(&lib->err, SHELF_EINVAL, "no free name for a %s schedule", kind);
}

int shelf_schedule_add(shelf_library *lib, const char *name, const char *kind, const char *spec,
                       const char *target, const char *options_json, int64_t now, int64_t *id,
                       char **err)
{
    json_t *opts = NULL;
    json_error_t je;
    sqlite3_stmt *st = NULL;
    char *auto_name = NULL, *specerr = NULL, *text = NULL, msg[300];
    size_t i;
    int rc, step, known = 0;

    if (id)
        *id = 0;
    if (err)
        *err = NULL;
    if ((rc = shelf__writable(lib)) != SHELF_OK) {
        if (err)
            *err = shelf__strdup(lib->err.msg);
        return rc;
    }
    for (i = 0; kind && i < sizeof kinds / sizeof kinds[0]; i++)
        known |= !strcmp(kind, kinds[i]);
    if (!known)
        return add_err(lib, err, SHELF_EINVAL, "unknown schedule kind '%s' (backup, copy, sync, "
                       "check, test-restore or archive)%s", kind ? kind : "", "");
    if (shelf_schedule_spec(spec, now, NULL, NULL, NULL, &specerr) != SHELF_OK) {
        rc = add_err(lib, err, SHELF_EINVAL, "%s%s", specerr ? specerr : "bad schedule", "");
        shelf_free(specerr);
        return rc;
    }
    if (!target || !*target)
        return add_err(lib, err, SHELF_EINVAL, "a %s schedule needs a target%s", kind, "");
    if (name && *name && !name_ok(name))
        return add_err(lib, err, SHELF_EINVAL, "bad schedule name '%s' (letters, digits, '-', '_', "
                       "'.'; at most 64 bytes, not starting with '-' or '.')%s", name, "");
    if (!(opts = json_loads(options_json ? options_json : "{}", JSON_REJECT_DUPLICATES, &je)) ||
        !json_is_object(opts)) {
        rc = add_err(lib, err, SHELF_EINVAL, "the options are not a JSON object%s%s", "", "");
        goto out;
    }
    if (shelf__job_options_check(kind, opts, msg, sizeof msg) != SHELF_OK) {
        rc = add_err(lib, err, SHELF_EINVAL, "%s%s", msg, "");
        goto out;
    }
    if (!(text = json_dumps(opts, JSON_COMPACT | JSON_SORT_KEYS))) {
        rc = add_err(lib, err, SHELF_ENOMEM, "out of memory%s%s", "", "");
        goto out;
    }
    if ((rc = shelf__begin(lib)) != SHELF_OK)
        goto fail;
    if ((!name || !*name) && (rc = free_name(lib, kind, &auto_name)) != SHELF_OK)
        goto rollback;
    if (!(st = shelf__prepare(lib, "INSERT INTO schedules(name, kind, spec, target, options, created)\n"
                                   " VALUES(?1, ?2, ?3, ?4, ?5, ?6)"))) {
        rc = lib->err.rc;
        goto rollback;
    }
    sqlite3_bind_text(st, 1, auto_name ? auto_name : name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, spec, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, target, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, text, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, now);
    if (((step = sqlite3_step(st)) & 0xff) == SQLITE_CONSTRAINT) {
        rc = shelf__seterr(&lib->err, SHELF_EEXIST, "a schedule named '%s' exists already", name);
        goto rollback;
    }
    if (step != SQLITE_DONE) {
        rc = shelf__dberr(lib, "cannot add the schedule");
        goto rollback;
    }
    if (id)
        *id = sqlite3_last_insert_rowid(lib->db);
    sqlite3_finalize(st);
    st = NULL;
    if ((rc = shelf__commit(lib)) != SHELF_OK)
        goto fail;
    goto out;
rollback:
    shelf__rollback(lib);
fail:
    if (err)
        *err = shelf__strdup(lib->err.msg);
out:
    sqlite3_finalize(st);
    json_decref(opts);
    free(text);
    shelf_free(auto_name);
    return rc;
}

/* The id of schedule name into *id; SHELF_ENOTFOUND when none. */
static int by_name(shelf_library *lib, const char *name, int64_t *id)
{
    int rc = shelf__query_int(lib, "SELECT id FROM schedules WHERE name = ?1", name, id);

    if (rc == SHELF_OK && *id == 0)
        rc = shelf__seterr(&lib->err, SHELF_ENOTFOUND, "no schedule '%s'", name);
    return rc;
}

/* Run sql with ?1 = id and, when it has one, ?2 = v. */
static int exec_id(shelf_library *lib, const char *sql, int64_t id, int64_t v)
{
    sqlite3_stmt *st = shelf__prepare(lib, sql);
    int rc = SHELF_OK;

    if (!st)
        return lib->err.rc;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, v);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = shelf__dberr(lib, "cannot change the schedules");
    sqlite3_finalize(st);
    return rc;
}

int shelf_schedule_remove(shelf_library *lib, const char *name)
{
    int64_t id;
    int rc, fd;

    if ((rc = shelf__writable(lib)) != SHELF_OK || (rc = by_name(lib, name, &id)) != SHELF_OK)
        return rc;
    if ((fd = lock_take(lib, id)) == -1)
        return shelf__seterr(&lib->err, SHELF_EBUSY, "schedule '%s' is running: remove it when the "
                             "run has ended", name);
    if (fd < 0)
        return lib->err.rc;
    if ((rc = shelf__begin(lib)) == SHELF_OK) {
        if ((rc = exec_id(lib, "DELETE FROM schedule_runs WHERE schedule = ?1", id, 0)) ==
                SHELF_OK &&
            (rc = exec_id(lib, "DELETE FROM schedules WHERE id = ?1", id, 0)) == SHELF_OK)
            rc = shelf__commit(lib);
        else
            shelf__rollback(lib);
    }
    if (rc == SHELF_OK) {
        char path[4200];

        snprintf(path, sizeof path, "%s/schedules/%lld.lock", lib->path, (long long)id);
        unlink(path);   /* best effort: an empty file left is harmless */
    }
    close(fd);
    return rc;
}

int shelf_schedule_pause(shelf_library *lib, const char *name, int on)
{
    int64_t id;
    int rc;

    if ((rc = shelf__writable(lib)) != SHELF_OK || (rc = by_name(lib, name, &id)) != SHELF_OK)
        return rc;
    return exec_id(lib, "UPDATE schedules SET paused = ?2 WHERE id = ?1", id, on ? 1 : 0);
}

/* ---- list ---- */

int shelf_schedule_list(shelf_library *lib, int64_t now, shelf_schedule_cb fn, void *ud)
{
    sqlite3_stmt *st = shelf__prepare(lib, SROW_SQL " ORDER BY s.name");
    int rc = SHELF_OK, step;
    srow r;

    if (!st)
        return lib->err.rc;
    while (rc == SHELF_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
        if ((rc = srow_read(lib, st, &r)) != SHELF_OK)
            break;
        r.info.due = !r.info.paused && !r.info.running && r.info.next_due <= now;
        rc = fn(ud, &r.info);
        srow_release(&r);
    }
    if (rc == SHELF_OK && step != SQLITE_DONE)
        rc = shelf__dberr(lib, "cannot read the schedules");
    sqlite3_finalize(st);
    return rc;
}

typedef struct next_ctx {
    int64_t when;
} next_ctx;

static int next_one(void *ud, const shelf_schedule_info *s)
{
    next_ctx *n = ud;

    if (!s->paused && !s->running && (n->when == 0 || s->next_due < n->when))
        n->when = s->next_due;
    return 0;
}

int shelf_schedule_next(shelf_library *lib, int64_t now, int64_t *when)
{
    next_ctx n = { 0 };
    int rc = shelf_schedule_list(lib, now, next_one, &n);

    *when = rc == SHELF_OK ? n.when : 0;
    return rc;
}

/* ---- runs ---- */

static void run_info_of(sqlite3_stmt *st, shelf_schedule_run_info *ri)
{
    memset(ri, 0, sizeof *ri);
    ri->size = sizeof *ri;
    ri->id = sqlite3_column_int64(st, 0);
    ri->schedule = (const char *)sqlite3_column_text(st, 1);
    ri->kind = (const char *)sqlite3_column_text(st, 2);
    ri->started = sqlite3_column_int64(st, 3);
    ri->ended = sqlite3_column_int64(st, 4);
    ri->state = (const char *)sqlite3_column_text(st, 5);
    ri->status = sqlite3_column_int(st, 6);
    ri->message = (const char *)sqlite3_column_text(st, 7);
    ri->detail = (const char *)sqlite3_column_text(st, 8);
    ri->pid = sqlite3_column_int64(st, 9);
}

#define RUN_SQL                                                                                    \
    "SELECT r.id, s.name, s.kind, r.started, r.ended, r.status, r.rc, r.message, r.detail, r.pid\n" \
    " FROM schedule_runs r JOIN schedules s ON s.id = r.schedule\n"

/* Tell o->on_run about run rid. */
static int run_report(shelf_library *lib, const shelf_schedule_run_opts *o, int64_t rid)
{
    sqlite3_stmt *st;
    shelf_schedule_run_info ri;

    if (!o || !o->on_run)
        return SHELF_OK;
    if (!(st = shelf__prepare(lib, RUN_SQL " WHERE r.id = ?1")))
        return lib->err.rc;
    sqlite3_bind_int64(st, 1, rid);
    if (sqlite3_step(st) == SQLITE_ROW) {
        run_info_of(st, &ri);
        o->on_run(o->ud, &ri);
    }
    sqlite3_finalize(st);
    return SHELF_OK;
}

/* Record the start of a run of schedule id at now (and the end of a
 * killed one before it): *rid the new row. */
static int run_begin(shelf_library *lib, int64_t id, int64_t now, int64_t *rid)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if ((rc = shelf__begin(lib)) != SHELF_OK)
        return rc;
    if ((rc = exec_id(lib, "UPDATE schedule_runs SET ended = ?2, status = 'interrupted', rc = "
                           "-12,\n message = 'the run was interrupted (the process was killed or "
                           "the machine stopped)'\n WHERE schedule = ?1 AND ended IS NULL",
                      id, now)) != SHELF_OK)
        goto fail;
    if (!(st = shelf__prepare(lib, "INSERT INTO schedule_runs(schedule, started, status, pid)\n"
                                   " VALUES(?1, ?2, 'running', ?3)"))) {
        rc = lib->err.rc;
        goto fail;
    }
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, now);
    sqlite3_bind_int64(st, 3, (int64_t)getpid());
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = shelf__dberr(lib, "cannot record the run");
        goto fail;
    }
    *rid = sqlite3_last_insert_rowid(lib->db);
    sqlite3_finalize(st);
    return shelf__commit(lib);
fail:
    sqlite3_finalize(st);
    shelf__rollback(lib);
    return rc;
}

/* Record the end of run rid of schedule id, the schedule's new state, and
 * trim its log. */
static int run_end(shelf_library *lib, int64_t id, int64_t rid, int result, const char *msg,
                   json_t *detail, json_t *state)
{
    sqlite3_stmt *st = NULL;
    char *dtext = json_dumps(detail, JSON_COMPACT), *stext = json_dumps(state, JSON_COMPACT);
    const char *status = result == SHELF_OK ? "ok" : result == SHELF_ECANCELED ? "cancelled"
                                                                                : "failed";
    int rc;

    if (!dtext || !stext) {
        rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = shelf__begin(lib)) != SHELF_OK)
        goto out;
    if (!(st = shelf__prepare(lib, "UPDATE schedule_runs SET ended = ?2, status = ?3, rc = ?4,\n"
                                   " message = ?5, detail = ?6 WHERE id = ?1"))) {
        rc = lib->err.rc;
        goto fail;
    }
    sqlite3_bind_int64(st, 1, rid);
    sqlite3_bind_int64(st, 2, shelf__clock_now());
    sqlite3_bind_text(st, 3, status, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, result);
    if (msg && *msg)
        sqlite3_bind_text(st, 5, msg, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, dtext, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = shelf__dberr(lib, "cannot record the run");
        goto fail;
    }
    sqlite3_finalize(st);
    if (!(st = shelf__prepare(lib, "UPDATE schedules SET state = ?2 WHERE id = ?1"))) {
        rc = lib->err.rc;
        goto fail;
    }
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, stext, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = shelf__dberr(lib, "cannot record the run");
        goto fail;
    }
    if ((rc = exec_id(lib, "DELETE FROM schedule_runs WHERE schedule = ?1 AND id NOT IN\n"
                           " (SELECT id FROM schedule_runs WHERE schedule = ?1 ORDER BY id DESC "
                           "LIMIT ?2)", id, RUNS_KEPT)) != SHELF_OK)
        goto fail;
    rc = shelf__commit(lib);
    goto out;
fail:
    shelf__rollback(lib);
out:
    sqlite3_finalize(st);
    free(dtext);
    free(stext);
    return rc;
}

/* With the lock held: is r still due at now?  Another process may have
 * run it between the list that found it due and the lock. */
static int still_due(shelf_library *lib, const srow *r, int64_t now, int *due)
{
    srow fresh;
    int rc = srow_load(lib, r->name, &fresh);

    *due = 0;
    if (rc == SHELF_ENOTFOUND)
        return SHELF_OK;    /* removed meanwhile */
    if (rc != SHELF_OK)
        return rc;
    /* A row still "running" is a killed run (the lock is ours): due. */
    *due = !fresh.info.paused && (fresh.info.running || fresh.info.next_due <= now);
    srow_release(&fresh);
    return SHELF_OK;
}

/* Run r now (with only_due, only when it is still due once its lock is
 * held: else SHELF_DONE, nothing run); *started (may be NULL) 1 once its
 * row is written (a failure before that, SHELF_EBUSY included, ran
 * nothing). */
static int run_one(shelf_library *lib, srow *r, int64_t now, const shelf_schedule_run_opts *o,
                   int only_due, int *started)
{
    shelf__job j;
    json_error_t je;
    int64_t rid = 0;
    int fd, rc, result;

    if (started)
        *started = 0;
    if ((fd = lock_take(lib, r->info.id)) == -1) {
        char since[64] = "";

        if (r->info.last_run && r->last_state && !strcmp(r->last_state, "running"))
            snprintf(since, sizeof since, " (pid %lld, started at %lld)", (long long)r->last_pid,
                     (long long)r->info.last_run);
        return shelf__seterr(&lib->err, SHELF_EBUSY, "schedule '%s' is running already%s", r->name,
                             since);
    }
    if (fd < 0)
        return lib->err.rc;
    memset(&j, 0, sizeof j);
    if (only_due) {
        int due;

        if ((rc = still_due(lib, r, now, &due)) != SHELF_OK)
            goto out;
        if (!due) {
            rc = SHELF_DONE;
            goto out;
        }
    }
    j.lib = lib;
    j.name = r->name;
    j.kind = r->kind;
    j.target = r->target;
    j.period = r->info.period;
    j.o = o;
    j.options = json_loads(r->options, 0, &je);
    j.state = json_loads(r->state, 0, &je);
    j.detail = json_object();
    if (!json_is_object(j.options) || !json_is_object(j.state) || !j.detail) {
        rc = shelf__seterr(&lib->err, j.detail ? SHELF_ECORRUPT : SHELF_ENOMEM,
                           "schedule '%s' has damaged options or state", r->name);
        goto out;
    }
    if ((rc = run_begin(lib, r->info.id, now, &rid)) != SHELF_OK)
        goto out;
    if (started)
        *started = 1;
    (void)run_report(lib, o, rid);
    result = shelf__job_run(&j);
    if (j.canceled && result != SHELF_OK)
        result = SHELF_ECANCELED;
    rc = run_end(lib, r->info.id, rid, result, j.msg, j.detail, j.state);
    if (rc == SHELF_OK) {
        (void)run_report(lib, o, rid);
        rc = result;
        if (rc != SHELF_OK)
            shelf__seterr(&lib->err, rc, "%s", j.msg[0] ? j.msg : shelf_strerror(rc));
    }
out:
    close(fd);      /* the lock goes with it */
    json_decref(j.options);
    json_decref(j.state);
    json_decref(j.detail);
    return rc;
}

int shelf_schedule_run(shelf_library *lib, const char *name, int64_t now,
                       const shelf_schedule_run_opts *o)
{
    shelf_schedule_run_opts opts;
    srow r;
    int rc;

    if ((rc = shelf__opts_check(&lib->err, &opts, sizeof opts, o, sizeof opts,
                                "shelf_schedule_run_opts")) != SHELF_OK)
        return rc;
    if ((rc = shelf__writable(lib)) != SHELF_OK || (rc = srow_load(lib, name, &r)) != SHELF_OK)
        return rc;
    rc = run_one(lib, &r, now, &opts, 0, NULL);
    srow_release(&r);
    return rc;
}

/* The due schedules, to be run by next_due then name. */
typedef struct due_one {
    int64_t next_due;
    char *name;
} due_one;

typedef struct due_ctx {
    due_one *v;
    size_t n, cap;
} due_ctx;

static int due_add(void *ud, const shelf_schedule_info *s)
{
    due_ctx *d = ud;

    if (!s->due)
        return 0;
    if (d->n == d->cap) {
        size_t cap = d->cap ? 2 * d->cap : 8;
        due_one *v = shelf__realloc(d->v, cap * sizeof *v);

        if (!v)
            return SHELF_ENOMEM;
        d->v = v;
        d->cap = cap;
    }
    if (!(d->v[d->n].name = shelf__strdup(s->name)))
        return SHELF_ENOMEM;
    d->v[d->n++].next_due = s->next_due;
    return 0;
}

static int due_cmp(const void *a, const void *b)
{
    const due_one *x = a, *y = b;

    if (x->next_due != y->next_due)
        return x->next_due < y->next_due ? -1 : 1;
    return strcmp(x->name, y->name);
}

int shelf_schedule_run_due(shelf_library *lib, int64_t now, const shelf_schedule_run_opts *o,
                           int *nrun)
{
    shelf_schedule_run_opts opts;
    due_ctx d = { NULL, 0, 0 };
    double t0 = shelf__monotonic();
    int64_t at;
    size_t i;
    int rc, first = SHELF_OK;

    if (nrun)
        *nrun = 0;
    if ((rc = shelf__opts_check(&lib->err, &opts, sizeof opts, o, sizeof opts,
                                "shelf_schedule_run_opts")) != SHELF_OK ||
        (rc = shelf__writable(lib)) != SHELF_OK)
        goto out;
    if ((rc = shelf_schedule_list(lib, now, due_add, &d)) != SHELF_OK) {
        if (rc == SHELF_ENOMEM)
            shelf__seterr(&lib->err, rc, "out of memory");
        goto out;
    }
    if (d.n)
        qsort(d.v, d.n, sizeof d.v[0], due_cmp);
    for (i = 0; i < d.n; i++) {
        srow r;
        int started;

        if ((rc = srow_load(lib, d.v[i].name, &r)) == SHELF_ENOTFOUND)
            continue;   /* removed meanwhile */
        if (rc != SHELF_OK)
            goto out;
        /* Each run starts at now plus the time the runs before it took. */
        at = now + (int64_t)(shelf__monotonic() - t0);
        rc = run_one(lib, &r, at, &opts, 1, &started);
        srow_release(&r);
        if ((rc == SHELF_EBUSY || rc == SHELF_DONE) && !started)
            continue;   /* another process runs it, or just ran it */
        if (!started) {
            /* It could not start (damaged options, the catalog): the
             * others may. */
            first = first == SHELF_OK ? rc : first;
            continue;
        }
        if (nrun)
            (*nrun)++;
        if (rc == SHELF_ECANCELED)
            goto out;
        if (rc != SHELF_OK && first == SHELF_OK)
            first = rc;
    }
    rc = first;
out:
    for (i = 0; i < d.n; i++)
        shelf_free(d.v[i].name);
    shelf_free(d.v);
    return rc;
}

int shelf_schedule_log(shelf_library *lib, const char *name, int limit, shelf_schedule_run_cb fn,
                       void *ud)
{
    sqlite3_stmt *st;
    shelf_schedule_run_info ri;
    int64_t id = 0;
    int rc = SHELF_OK, step;

    if (name && (rc = by_name(lib, name, &id)) != SHELF_OK)
        return rc;
    if (!(st = shelf__prepare(lib, "SELECT * FROM (" RUN_SQL " WHERE ?1 = 0 OR r.schedule = ?1\n"
                                   " ORDER BY r.id DESC LIMIT ?2) ORDER BY id")))
        return lib->err.rc;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, limit > 0 ? limit : -1);
    while (rc == SHELF_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
        run_info_of(st, &ri);
        if (ri.state && !strcmp(ri.state, "running") && !ri.ended) {
            int64_t sid = 0;

            (void)shelf__query_int(lib, "SELECT id FROM schedules WHERE name = ?1", ri.schedule, &sid);
            if (!lock_held(lib, sid)) {
                ri.state = "interrupted";
                ri.status = SHELF_ECANCELED;
            }
        }
        rc = fn(ud, &ri);
    }
    if (rc == SHELF_OK && step != SQLITE_DONE)
        rc = shelf__dberr(lib, "cannot read the schedule log");
    sqlite3_finalize(st);
    return rc;
}
