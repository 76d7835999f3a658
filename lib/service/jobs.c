/*
 * jobs.c: what each kind of schedule does when it runs (doc/service.md,
 * "Schedules"): backup with retention, copy, sync, check of a rotating
 * slice, test-restore of random samples.  Each job fills the run's detail
 * (JSON) and one line of message; the schedule's state carries the next
 * check slice from run to run.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "service_int.h"
#include "../backup/backup_int.h"

/* test-restore: samples restored when the options do not say. */
#define TEST_RESTORE_SAMPLES 5

/* ---- options ---- */

typedef struct optdef {
    const char *kind, *key;
    int type;                   /* JSON_STRING, JSON_INTEGER, JSON_TRUE (a boolean) */
} optdef;

static const optdef optdefs[] = {
    { "backup", "strategy", JSON_STRING },      { "backup", "keep_last", JSON_INTEGER },
    { "backup", "keep_daily", JSON_INTEGER },   { "backup", "keep_weekly", JSON_INTEGER },
    { "backup", "keep_monthly", JSON_INTEGER }, { "backup", "password_file", JSON_STRING },
    { "copy", "to", JSON_STRING },              { "copy", "password_file", JSON_STRING },
    { "copy", "to_password_file", JSON_STRING },
    { "sync", "peer", JSON_TRUE },
    { "check", "read_all_within", JSON_INTEGER }, { "check", "password_file", JSON_STRING },
    { "test-restore", "samples", JSON_INTEGER }, { "test-restore", "password_file", JSON_STRING },
    { "archive", "unused_days", JSON_INTEGER }, { "archive", "parity", JSON_INTEGER },
    { "archive", "keep_local", JSON_TRUE },
};

static int strategy_of(const char *s)
{
    if (!s || !strcmp(s, "incremental"))
        return SHELF_BACKUP_INCREMENTAL;
    if (!strcmp(s, "full"))
        return SHELF_BACKUP_FULL;
    if (!strcmp(s, "differential"))
        return SHELF_BACKUP_DIFFERENTIAL;
    return -1;
}

int shelf__job_options_check(const char *kind, json_t *options, char *msg, size_t msgsize)
{
    const char *key;
    json_t *v;
    size_t i;

    json_object_foreach(options, key, v) {
        const optdef *d = NULL;

        for (i = 0; i < sizeof optdefs / sizeof optdefs[0]; i++)
            if (!strcmp(optdefs[i].kind, kind) && !strcmp(optdefs[i].key, key))
                d = &optdefs[i];
        if (!d) {
            snprintf(msg, msgsize, "%s %s schedule has no option '%s'", *kind == 'a' ? "an" : "a", kind, key);
            return SHELF_EINVAL;
        }
        if ((d->type == JSON_TRUE && !json_is_boolean(v)) ||
            (d->type == JSON_INTEGER && (!json_is_integer(v) || json_integer_value(v) < 0)) ||
            (d->type == JSON_STRING && (!json_is_string(v) || !*json_string_value(v)))) {
            snprintf(msg, msgsize, "option '%s' of %s %s schedule must be %s", key, *kind == 'a' ? "an" : "a", kind,
                     d->type == JSON_TRUE ? "true or false" : d->type == JSON_INTEGER ?
                     "a whole number, 0 or more" : "a non-empty string");
            return SHELF_EINVAL;
        }
    }
    v = json_object_get(options, "strategy");
    if (v && strategy_of(json_string_value(v)) < 0) {
        snprintf(msg, msgsize, "unknown strategy '%s' (incremental, full or differential)",
                 json_string_value(v));
        return SHELF_EINVAL;
    }
    if (!strcmp(kind, "copy") && !json_object_get(options, "to")) {
        snprintf(msg, msgsize, "a copy schedule needs the repository to copy to (option 'to')");
        return SHELF_EINVAL;
    }
    v = json_object_get(options, "parity");
    if (v && json_integer_value(v) > 100) {
        snprintf(msg, msgsize, "option 'parity' must be a percentage from 0 (none) to 100");
        return SHELF_EINVAL;
    }
    v = json_object_get(options, "samples");
    if (v && (json_integer_value(v) < 1 || json_integer_value(v) > 1000)) {
        snprintf(msg, msgsize, "option 'samples' must be from 1 to 1000");
        return SHELF_EINVAL;
    }
    return SHELF_OK;
}

static const char *opt_str(shelf__job *j, const char *key)
{
    return json_string_value(json_object_get(j->options, key));
}

static int64_t opt_int(shelf__job *j, const char *key)
{
    return (int64_t)json_integer_value(json_object_get(j->options, key));
}

static int jset(shelf__job *j, const char *key, json_t *v)
{
    return json_object_set_new(j->detail, key, v) == 0 ? SHELF_OK : SHELF_ENOMEM;
}

static int job_fail(shelf__job *j, int rc, const char *fmt, const char *a, const char *b)
{
    snprintf(j->msg, sizeof j->msg, fmt, a, b);
    return rc;
}

/* Tell the progress callback; 1 when it asks to stop. */
static int progress(shelf__job *j, const char *step, uint64_t done, uint64_t total,
                    uint64_t bytes_done, uint64_t bytes_total)
{
    shelf_schedule_progress p;

    if (!j->o || !j->o->progress)
        return 0;
    memset(&p, 0, sizeof p);
    p.size = sizeof p;
    p.schedule = j->name;
    p.step = step;
    p.done = done;
    p.total = total;
    p.bytes_done = bytes_done;
    p.bytes_total = bytes_total;
    if (j->o->progress(j->o->ud, &p) != 0)
        j->canceled = 1;
    return j->canceled;
}

/* ---- repositories ---- */

/* The password of a repository: the first line of the file option key
 * names, else $env; *out NULL when neither (a plain repository). */
static int password_of(shelf__job *j, const char *key, const char *env, char **out)
{
    const char *file = opt_str(j, key), *e = getenv(env), *text;
    shelf__buf b = SHELF__BUF_INIT;
    shelf__err err;
    size_t n;
    int rc;

    *out = NULL;
    if (!file) {
        if (e && *e && !(*out = shelf__strdup(e)))
            return job_fail(j, SHELF_ENOMEM, "out of memory%s%s", "", "");
        return SHELF_OK;
    }
    memset(&err, 0, sizeof err);
    if ((rc = shelf__read_file(&err, file, 4096, &b)) != SHELF_OK) {
        snprintf(j->msg, sizeof j->msg, "the password file: %.400s", err.msg);
        return rc;
    }
    text = b.len ? (const char *)b.buf : "";
    for (n = 0; n < b.len && text[n] != '\r' && text[n] != '\n'; n++)
        ;
    if (!(*out = shelf__strndup(text, n)))
        rc = job_fail(j, SHELF_ENOMEM, "out of memory%s%s", "", "");
    if (b.buf)
        memset(b.buf, 0, b.len);
    shelf__buf_release(&b);
    return rc;
}

static void wipe_free(char *s)
{
    if (s) {
        volatile char *p = s;

        while (*p)
            *p++ = 0;
        shelf_free(s);
    }
}

static int repo_open(shelf__job *j, const char *target, const char *pwkey, const char *env,
                     shelf_repo **r)
{
    shelf_repo_opts o;
    char *pw = NULL, *msg = NULL, *cache = NULL;
    int rc;

    *r = NULL;
    if ((rc = password_of(j, pwkey, env, &pw)) != SHELF_OK)
        return rc;
    if (!(cache = shelf__cache_dir(j->lib))) {
        wipe_free(pw);
        return job_fail(j, SHELF_ENOMEM, "out of memory%s%s", "", "");
    }
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.password = pw;
    o.cache_dir = cache;
    rc = shelf_repo_open(target, &o, r, &msg);
    if (rc != SHELF_OK)
        job_fail(j, rc, "cannot open the repository '%s': %s", target, msg ? msg : shelf_strerror(rc));
    wipe_free(pw);
    shelf_free(msg);
    shelf_free(cache);
    return rc;
}

/* ---- backup ---- */

static int backup_progress(void *ud, const shelf_backup_progress *p)
{
    return progress(ud, "backup", p->items_done, p->items_total, p->bytes_done, p->bytes_total);
}

typedef struct forget_ctx {
    int64_t kept, removed;
} forget_ctx;

static void forget_one(void *ud, const char *id, int64_t time, int kept, const char *reason)
{
    forget_ctx *f = ud;

    (void)id;
    (void)time;
    (void)reason;
    if (kept)
        f->kept++;
    else
        f->removed++;
}

/* Forget the snapshots outside the keep_* policy, then prune their data. */
static int retention(shelf__job *j, shelf_repo *r)
{
    shelf_forget_opts fo;
    shelf_prune_stats ps = { .size = sizeof ps };
    forget_ctx f = { 0, 0 };
    int rc;

    memset(&fo, 0, sizeof fo);
    fo.size = sizeof fo;
    fo.keep_last = (int)opt_int(j, "keep_last");
    fo.keep_daily = (int)opt_int(j, "keep_daily");
    fo.keep_weekly = (int)opt_int(j, "keep_weekly");
    fo.keep_monthly = (int)opt_int(j, "keep_monthly");
    if (!fo.keep_last && !fo.keep_daily && !fo.keep_weekly && !fo.keep_monthly)
        return SHELF_OK;
    (void)progress(j, "forget", 0, 0, 0, 0);
    if ((rc = shelf_repo_forget(r, &fo, forget_one, &f)) != SHELF_OK)
        return job_fail(j, rc, "backup done, but forget failed: %s%s", shelf_repo_errmsg(r), "");
    if (jset(j, "kept", json_integer(f.kept)) || jset(j, "forgotten", json_integer(f.removed)))
        return job_fail(j, SHELF_ENOMEM, "out of memory%s%s", "", "");
    if (f.removed == 0)
        return SHELF_OK;
    (void)progress(j, "prune", 0, 0, 0, 0);
    if ((rc = shelf_repo_prune(r, 0, &ps)) != SHELF_OK)
        return job_fail(j, rc, "backup done, but prune failed: %s%s", shelf_repo_errmsg(r), "");
    return jset(j, "bytes_pruned", json_integer((json_int_t)ps.bytes_removed)) ?
           job_fail(j, SHELF_ENOMEM, "out of memory%s%s", "", "") : SHELF_OK;
}

static int job_backup(shelf__job *j)
{
    shelf_backup_opts o;
    shelf_backup_stats st = { .size = sizeof st };
    shelf_repo *r = NULL;
    char line[200];
    int rc;

    if ((rc = repo_open(j, j->target, "password_file", "SHELF_PASSWORD", &r)) != SHELF_OK)
        return rc;
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.strategy = strategy_of(opt_str(j, "strategy"));
    o.progress = backup_progress;
    o.ud = j;
    if ((rc = shelf_backup_run(r, j->lib, &o, &st)) != SHELF_OK) {
        job_fail(j, rc, rc == SHELF_ECANCELED ? "backup to '%s' cancelled; what was stored is used "
                 "by the next run%s" : "backup to '%s' failed: %s", j->target,
                 rc == SHELF_ECANCELED ? "" : shelf_repo_errmsg(r));
        goto out;
    }
    if (jset(j, "snapshot", json_string(st.snapshot)) || jset(j, "items", json_integer((json_int_t)st.items)) ||
        jset(j, "bytes", json_integer((json_int_t)st.bytes)) ||
        jset(j, "bytes_new", json_integer((json_int_t)st.bytes_new)) ||
        jset(j, "unreadable", json_integer((json_int_t)st.unreadable))) {
        rc = job_fail(j, SHELF_ENOMEM, "out of memory%s%s", "", "");
        goto out;
    }
    snprintf(line, sizeof line, "snapshot %.12s: %llu items, %llu bytes new%s", st.snapshot,
             (unsigned long long)st.items, (unsigned long long)st.bytes_new,
             st.unreadable ? " (some samples could not be read)" : "");
    if ((rc = retention(j, r)) != SHELF_OK)
        goto out;
    if (json_integer_value(json_object_get(j->detail, "forgotten")) > 0)
        snprintf(j->msg, sizeof j->msg, "%s; %lld old snapshot%s forgotten", line,
                 (long long)json_integer_value(json_object_get(j->detail, "forgotten")),
                 json_integer_value(json_object_get(j->detail, "forgotten")) == 1 ? "" : "s");
    else
        snprintf(j->msg, sizeof j->msg, "%s", line);
out:
    shelf_repo_close(r);
    return rc;
}

/* ---- copy ---- */

static int copy_progress(void *ud, const shelf_copy_stats *st)
{
    return progress(ud, "copy", st->snapshots + st->skipped, 0, st->bytes_new, 0);
}

static int job_copy(shelf__job *j)
{
    shelf_copy_stats st = { .size = sizeof st };
    shelf_repo *src = NULL, *dst = NULL;
    const char *to = opt_str(j, "to");
    int rc;

    if ((rc = repo_open(j, j->target, "password_file", "SHELF_PASSWORD", &src)) != SHELF_OK ||
        (rc = repo_open(j, to, "to_password_file", "SHELF_DST_PASSWORD", &dst)) != SHELF_OK)
        goto out;
    if ((rc = shelf_repo_copy(src, dst, NULL, 0, copy_progress, j, &st)) != SHELF_OK) {
        job_fail(j, rc, rc == SHELF_ECANCELED ? "copy to '%s' cancelled; what arrived is used by "
                 "the next run%s" : "copy to '%s' failed: %s", to,
                 rc == SHELF_ECANCELED ? "" : shelf_repo_errmsg(dst));
        goto out;
    }
    if (jset(j, "copied", json_integer((json_int_t)st.snapshots)) ||
        jset(j, "skipped", json_integer((json_int_t)st.skipped)) ||
        jset(j, "bytes_new", json_integer((json_int_t)st.bytes_new))) {
        rc = job_fail(j, SHELF_ENOMEM, "out of memory%s%s", "", "");
        goto out;
    }
    snprintf(j->msg, sizeof j->msg, "%llu snapshot%s copied to '%s', %llu there already",
             (unsigned long long)st.snapshots, st.snapshots == 1 ? "" : "s", to,
             (unsigned long long)st.skipped);
out:
    shelf_repo_close(dst);
    shelf_repo_close(src);
    return rc;
}

/* ---- sync ---- */

static int job_sync(shelf__job *j)
{
    int rc;

    if (json_is_true(json_object_get(j->options, "peer"))) {
        shelf_sync_stats st = { .size = sizeof st };

        (void)progress(j, "sync", 0, 0, 0, 0);
        if ((rc = shelf_sync_connect(j->lib, j->target, &st)) != SHELF_OK)
            return job_fail(j, rc, "sync with '%s' failed: %s", j->target, shelf_errmsg(j->lib));
        if (jset(j, "sent", json_integer(st.sent)) || jset(j, "received", json_integer(st.received)) ||
            jset(j, "applied", json_integer(st.applied)))
            return job_fail(j, SHELF_ENOMEM, "out of memory%s%s", "", "");
        snprintf(j->msg, sizeof j->msg, "synced with %s: %lld records sent, %lld received",
                 st.peer_name[0] ? st.peer_name : j->target, (long long)st.sent, (long long)st.received);
    } else {
        shelf_hub_stats in = { .size = sizeof in }, out = { .size = sizeof out };

        if (progress(j, "push", 0, 0, 0, 0))
            return job_fail(j, SHELF_ECANCELED, "sync with '%s' cancelled%s", j->target, "");
        if ((rc = shelf_sync_push(j->lib, j->target, 0, &out)) != SHELF_OK)
            return job_fail(j, rc, "push to '%s' failed: %s", j->target, shelf_errmsg(j->lib));
        if (progress(j, "pull", 0, 0, 0, 0))
            return job_fail(j, SHELF_ECANCELED, "sync with '%s' cancelled after the push%s",
                            j->target, "");
        if ((rc = shelf_sync_pull(j->lib, j->target, 0, &in)) != SHELF_OK)
            return job_fail(j, rc, "pull from '%s' failed: %s", j->target, shelf_errmsg(j->lib));
        if (jset(j, "pushed", json_integer(out.pushed)) || jset(j, "pulled", json_integer(in.pulled)) ||
            jset(j, "applied", json_integer(in.applied)))
            return job_fail(j, SHELF_ENOMEM, "out of memory%s%s", "", "");
        snprintf(j->msg, sizeof j->msg, "hub %s: %lld records pushed, %lld pulled", j->target,
                 (long long)out.pushed, (long long)in.pulled);
    }
    return SHELF_OK;
}

/* ---- check ---- */

typedef struct check_ctx {
    char first[300];
} check_ctx;

static void check_problem(void *ud, const char *file, const char *problem, const char *snapshot,
                          const char *item)
{
    check_ctx *c = ud;

    (void)snapshot;
    (void)item;
    if (!c->first[0])
        snprintf(c->first, sizeof c->first, "%s: %s", file, problem);
}

static int job_check(shelf__job *j)
{
    shelf_check_stats st = { .size = sizeof st };
    check_ctx cc = { "" };
    shelf_repo *r = NULL;
    int64_t within = opt_int(j, "read_all_within"), slices = 0, slice = 0;
    char what[64] = "structure only";
    int rc;

    if ((rc = repo_open(j, j->target, "password_file", "SHELF_PASSWORD", &r)) != SHELF_OK)
        return rc;
    (void)progress(j, "check", 0, 0, 0, 0);
    if (within > 0) {
        /* One slice a run: all of them within "within" at the spec's pace. */
        slices = (within + j->period - 1) / (j->period > 0 ? j->period : 1);
        slices = slices < 1 ? 1 : slices > 65536 ? 65536 : slices;
        slice = (int64_t)json_integer_value(json_object_get(j->state, "check_slice")) % slices;
        rc = shelf__repo_check_slice(r, (unsigned)slice, (unsigned)slices, check_problem, &cc, &st);
        snprintf(what, sizeof what, "slice %lld of %lld", (long long)slice + 1, (long long)slices);
    } else {
        rc = shelf_repo_check(r, 0, check_problem, &cc, &st);
    }
    if (rc == SHELF_OK || rc == SHELF_ECORRUPT) {
        /* The slice was read either way: the next run reads the next. */
        if (within > 0 && json_object_set_new(j->state, "check_slice", json_integer((slice + 1) % slices)))
            rc = SHELF_ENOMEM;
        if (jset(j, "slice", json_integer(slice)) || jset(j, "slices", json_integer(slices)) ||
            jset(j, "packs", json_integer((json_int_t)st.packs)) ||
            jset(j, "packs_read", json_integer((json_int_t)st.packs_read)) ||
            jset(j, "bytes_read", json_integer((json_int_t)st.bytes_read)) ||
            jset(j, "errors", json_integer((json_int_t)st.errors)))
            rc = SHELF_ENOMEM;
    }
    if (rc == SHELF_OK)
        snprintf(j->msg, sizeof j->msg, "no problems (%s: %llu of %llu packs read)", what,
                 (unsigned long long)st.packs_read, (unsigned long long)st.packs);
    else if (rc == SHELF_ECORRUPT)
        snprintf(j->msg, sizeof j->msg, "check of '%s' found %llu problem%s: %s (run 'shelf backup "
                 "check %s')", j->target, (unsigned long long)st.errors, st.errors == 1 ? "" : "s",
                 cc.first, j->target);
    else if (rc == SHELF_ENOMEM)
        job_fail(j, rc, "out of memory%s%s", "", "");
    else
        job_fail(j, rc, "check of '%s' failed: %s", j->target, shelf_repo_errmsg(r));
    shelf_repo_close(r);
    return rc;
}

/* ---- test-restore ---- */

/* Restore tree item it into dir/NAME and hash what was written; *same 1
 * when it has the SHA-256 the snapshot's catalog gave it. */
static int restore_one(shelf__job *j, shelf_repo *r, json_t *it, const char *dir, size_t n, int *same)
{
    shelf__buf blob = SHELF__BUF_INIT;
    uint8_t id[SHELF_HASH_BYTES], got[SHELF_HASH_BYTES];
    char *path = shelf__asprintf("%s/%zu", dir, n), hex[SHELF_HASH_HEX], buf[65536];
    uint64_t size = 0;
    json_t *v;
    size_t i;
    int fd = -1, rc = SHELF_OK, e;

    *same = 0;
    if (!path)
        return job_fail(j, SHELF_ENOMEM, "out of memory%s%s", "", "");
    if ((fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
        rc = job_fail(j, SHELF_EIO, "cannot create '%s': %s", path, shelf__errno_str(errno));
        goto out;
    }
    json_array_foreach(json_object_get(it, "chunks"), i, v) {
        if (shelf__unhex(json_string_value(v), id, sizeof id) != SHELF_OK) {
            rc = job_fail(j, SHELF_ECORRUPT, "the snapshot tree is damaged%s%s", "", "");
            goto out;
        }
        if ((rc = shelf__blob_read(r, id, &blob)) != SHELF_OK) {
            job_fail(j, rc, "cannot restore '%s': %s", json_string_value(json_object_get(it, "path")),
                     shelf_repo_errmsg(r));
            goto out;
        }
        if ((e = shelf__write_all(fd, blob.buf, blob.len)) != 0) {
            rc = job_fail(j, SHELF_EIO, "cannot write '%s': %s", path, shelf__errno_str(e));
            goto out;
        }
    }
    e = lseek(fd, 0, SEEK_SET) != 0 ? errno : shelf__sha256_fd(fd, buf, sizeof buf, got, &size);
    if (e != 0) {
        rc = job_fail(j, SHELF_EIO, "cannot read back '%s': %s", path, shelf__errno_str(e));
        goto out;
    }
    shelf__hex(got, sizeof got, hex);
    *same = !strcmp(hex, json_string_value(json_object_get(it, "sha256")));
out:
    if (fd >= 0)
        close(fd);
    shelf__buf_release(&blob);
    shelf_free(path);
    return rc;
}

static int job_test_restore(shelf__job *j)
{
    shelf_repo *r = NULL;
    json_t *snap = NULL, *tree = NULL, *pool = json_array(), *bad = json_array(), *it;
    int64_t want = opt_int(j, "samples") > 0 ? opt_int(j, "samples") : TEST_RESTORE_SAMPLES;
    char id[65], *dir = NULL;
    const char *tmp = getenv("TMPDIR");
    size_t i, n = 0, matched = 0;
    int rc, same;

    if (!pool || !bad) {
        rc = job_fail(j, SHELF_ENOMEM, "out of memory%s%s", "", "");
        goto out;
    }
    if ((rc = repo_open(j, j->target, "password_file", "SHELF_PASSWORD", &r)) != SHELF_OK)
        goto out;
    if ((rc = shelf_snapshot_resolve(r, "latest", id)) != SHELF_OK ||
        (rc = shelf__snap_load(r, id, &snap)) != SHELF_OK || (rc = shelf__tree_load(r, snap, &tree)) != SHELF_OK) {
        job_fail(j, rc, "cannot read the latest snapshot of '%s': %s", j->target, shelf_repo_errmsg(r));
        goto out;
    }
    /* The samples: referenced files and managed blobs. */
    json_array_foreach(json_object_get(tree, "items"), i, it) {
        const char *t = json_string_value(json_object_get(it, "t"));

        if (t && (!strcmp(t, "sample") || !strcmp(t, "object")) && json_array_append(pool, it) != 0) {
            rc = job_fail(j, SHELF_ENOMEM, "out of memory%s%s", "", "");
            goto out;
        }
    }
    if (!(dir = shelf__asprintf("%s/shelf-test-restore-XXXXXX", tmp && *tmp ? tmp : "/tmp")) ||
        !mkdtemp(dir)) {
        rc = job_fail(j, dir ? SHELF_EIO : SHELF_ENOMEM, "cannot create a temporary folder: %s%s",
                      dir ? shelf__errno_str(errno) : "out of memory", "");
        shelf_free(dir);
        dir = NULL;
        goto out;
    }
    /* A random choice without repeats: swap the chosen one out. */
    while ((int64_t)n < want && json_array_size(pool) > 0) {
        uint32_t pick;
        size_t k;

        shelf__random(&pick, sizeof pick);
        k = pick % json_array_size(pool);
        it = json_incref(json_array_get(pool, k));
        json_array_remove(pool, k);
        if (progress(j, "restore", n, (uint64_t)want, 0, 0)) {
            json_decref(it);
            rc = job_fail(j, SHELF_ECANCELED, "test restore cancelled%s%s", "", "");
            goto out;
        }
        rc = restore_one(j, r, it, dir, n, &same);
        if (rc == SHELF_OK && !same &&
            json_array_append_new(bad, json_string(json_string_value(json_object_get(it, "path")))) != 0)
            rc = job_fail(j, SHELF_ENOMEM, "out of memory%s%s", "", "");
        json_decref(it);
        if (rc != SHELF_OK)
            goto out;
        n++;
        matched += (size_t)same;
    }
    if (jset(j, "snapshot", json_string(id)) || jset(j, "restored", json_integer((json_int_t)n)) ||
        jset(j, "matched", json_integer((json_int_t)matched)) || jset(j, "mismatched", json_incref(bad))) {
        rc = job_fail(j, SHELF_ENOMEM, "out of memory%s%s", "", "");
        goto out;
    }
    if (json_array_size(bad)) {
        rc = SHELF_ECORRUPT;
        snprintf(j->msg, sizeof j->msg, "test restore of snapshot %.12s: %zu of %zu samples differ "
                 "from the catalog (first: '%s')", id, json_array_size(bad), n,
                 json_string_value(json_array_get(bad, 0)));
    } else {
        snprintf(j->msg, sizeof j->msg, "test restore of snapshot %.12s: %zu sample%s restored, all "
                 "match the catalog", id, n, n == 1 ? "" : "s");
    }
out:
    if (dir) {
        (void)shelf__rmtree(dir);   /* best effort: a temporary folder */
        shelf_free(dir);
    }
    shelf_repo_close(r);
    json_decref(snap);
    json_decref(tree);
    json_decref(pool);
    json_decref(bad);
    return rc;
}

/* ---- archive ---- */

static int archive_progress(void *ud, const shelf_archive_progress *p)
{
    return progress(ud, p->current ? p->current : "archive", p->files_done, p->files_total, p->bytes_done,
                    p->bytes_total);
}

/* Archive one project (or finish an earlier run's); into the detail. */
static int archive_one(shelf__job *j, const shelf_project_archive_opts *o, int64_t id, json_t *done,
                       json_t *failed, uint64_t *freed, uint64_t *bytes)
{
    shelf_project_archive_stats st = { .size = sizeof st };
    int rc = shelf_project_archive(j->lib, id, j->target, o, &st);

    if (rc == SHELF_OK) {
        *freed += st.freed;
        *bytes += st.freed_bytes;
        return json_array_append_new(done, json_pack("{s:I, s:s, s:I, s:I, s:I, s:b}", "project", (json_int_t)id,
                                                     "archive", st.name, "samples", (json_int_t)st.samples,
                                                     "freed", (json_int_t)st.freed, "freed_bytes",
                                                     (json_int_t)st.freed_bytes, "resumed", st.resumed))
               ? SHELF_ENOMEM : SHELF_OK;
    }
    if (rc == SHELF_ECANCELED || rc == SHELF_ENOMEM)
        return rc;
    /* one project that cannot go does not hold up the others */
    return json_array_append_new(failed, json_pack("{s:I, s:i, s:s}", "project", (json_int_t)id, "rc", rc,
                                                   "error", shelf_errmsg(j->lib)))
           ? SHELF_ENOMEM : SHELF_OK;
}

typedef struct unfinished {
    int64_t *v;
    size_t n, cap;
    const char *target;
} unfinished;

static int on_unfinished(void *ud, const shelf_project_archived *a)
{
    unfinished *u = ud;

    if (!strcmp(a->state, "archived"))
        return 0;
    if (u->n == u->cap) {
        size_t nc = u->cap ? u->cap * 2 : 8;
        int64_t *nv = realloc(u->v, nc * sizeof *nv);

        if (!nv)
            return 1;
        u->v = nv;
        u->cap = nc;
    }
    u->v[u->n++] = a->project;
    return 0;
}

/* Projects not used for unused_days (180 by default) go to the target;
 * archives an earlier run left unfinished are finished first. */
static int job_archive(shelf__job *j)
{
    shelf_project_archive_opts o;
    unfinished u = { NULL, 0, 0, NULL };
    int64_t days = json_object_get(j->options, "unused_days") ? opt_int(j, "unused_days") : 180, *ids = NULL;
    json_t *done = json_array(), *failed = json_array();
    uint64_t freed = 0, bytes = 0;
    size_t n = 0, i;
    int rc;

    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.parity = json_object_get(j->options, "parity") ? (double)opt_int(j, "parity") : 10;
    if (o.parity == 0)
        o.parity = -1;
    o.keep_local = json_is_true(json_object_get(j->options, "keep_local"));
    o.progress = archive_progress;
    o.ud = j;
    if (!done || !failed) {
        rc = job_fail(j, SHELF_ENOMEM, "out of memory%s%s", "", "");
        goto out;
    }
    if ((rc = shelf_project_archives(j->lib, 0, on_unfinished, &u)) != SHELF_OK) {
        job_fail(j, rc, rc == SHELF_ECANCELED ? "out of memory%s%s" : "%s%s",
                 rc == SHELF_ECANCELED ? "" : shelf_errmsg(j->lib), "");
        goto out;
    }
    if ((rc = shelf_project_unused(j->lib, shelf__clock_now() - days * 86400, &ids, &n)) != SHELF_OK) {
        job_fail(j, rc, "%s%s", shelf_errmsg(j->lib), "");
        goto out;
    }
    for (i = 0; i < u.n + n && rc == SHELF_OK; i++)
        rc = archive_one(j, &o, i < u.n ? u.v[i] : ids[i - u.n], done, failed, &freed, &bytes);
    if (rc != SHELF_OK) {
        job_fail(j, rc, rc == SHELF_ECANCELED ? "archive cancelled; the next run finishes it%s%s"
                                               : "out of memory%s%s", "", "");
        goto out;
    }
    if (jset(j, "archived", json_incref(done)) || jset(j, "failed", json_incref(failed)) ||
        jset(j, "freed", json_integer((json_int_t)freed)) || jset(j, "freed_bytes", json_integer((json_int_t)bytes))) {
        rc = job_fail(j, SHELF_ENOMEM, "out of memory%s%s", "", "");
        goto out;
    }
    snprintf(j->msg, sizeof j->msg, "%zu project%s unused for %lld days archived to '%s', %llu samples freed "
             "(%llu bytes)", json_array_size(done), json_array_size(done) == 1 ? "" : "s", (long long)days,
             j->target, (unsigned long long)freed, (unsigned long long)bytes);
    if (json_array_size(failed)) {
        json_t *f = json_array_get(failed, 0);

        rc = (int)json_integer_value(json_object_get(f, "rc"));
        snprintf(j->msg, sizeof j->msg, "%zu of %zu projects failed; project %lld: %s", json_array_size(failed),
                 json_array_size(failed) + json_array_size(done),
                 (long long)json_integer_value(json_object_get(f, "project")),
                 json_string_value(json_object_get(f, "error")));
    }
out:
    free(u.v);
    shelf_free(ids);
    json_decref(done);
    json_decref(failed);
    return rc;
}

int shelf__job_run(shelf__job *j)
{
    j->msg[0] = '\0';
    if (!strcmp(j->kind, "backup"))
        return job_backup(j);
    if (!strcmp(j->kind, "copy"))
        return job_copy(j);
    if (!strcmp(j->kind, "sync"))
        return job_sync(j);
    if (!strcmp(j->kind, "check"))
        return job_check(j);
    if (!strcmp(j->kind, "test-restore"))
        return job_test_restore(j);
    if (!strcmp(j->kind, "archive"))
        return job_archive(j);
    return job_fail(j, SHELF_EINVAL, "unknown schedule kind '%s'%s", j->kind, "");
}
