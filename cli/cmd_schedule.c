/*
 * cmd_schedule.c: shelf schedule add|ls|rm|pause|resume|run|log|suggest:
 * the schedules of a library (doc/service.md, "Schedules") over the
 * public API of service.h.  Every decision takes its time from
 * shelf_clock_now() ($SHELF_TEST_CLOCK in tests).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"

static const char schedule_usage[] =
    "add, ls, rm, pause, resume, run, log or suggest; see 'shelf help'";

/* Local time t as "YYYY-MM-DD HH:MM" ("-" for 0). */
static const char *when(int64_t t, char buf[32])
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (t == 0 || !localtime_r(&tt, &tm))
        return "-";
    strftime(buf, 32, "%Y-%m-%d %H:%M", &tm);
    return buf;
}

/* A length of time: N with s, m, h, d or w (plain N: seconds); -1 when bad. */
static int64_t parse_duration(const char *s)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    int64_t unit = 1;

    if (end == s || v < 0 || v > 100000000)
        return -1;
    switch (*end) {
    case '\0': case 's': unit = 1; break;
    case 'm': unit = 60; break;
    case 'h': unit = 3600; break;
    case 'd': unit = 86400; break;
    case 'w': unit = 7 * 86400; break;
    default: return -1;
    }
    if (*end && end[1])
        return -1;
    return (int64_t)v * unit;
}

/* A count option: 0.. max; -1 when bad (message printed). */
static long parse_count(const char *opt, const char *s, long max)
{
    char *end;
    long v = strtol(s, &end, 10);

    if (end == s || *end || v < 0 || v > max) {
        cli_error("option '--%s' takes a whole number from 0 to %ld, not '%s'", opt, max, s);
        return -1;
    }
    return v;
}

/* The exit status of a run's result. */
static int run_exit(int rc)
{
    switch (rc) {
    case SHELF_OK: return EXIT_OK;
    case SHELF_EBUSY: return EXIT_BUSY;
    case SHELF_ECANCELED: return EXIT_INTERRUPTED;
    case SHELF_EAUTH: return EXIT_AUTH;
    case SHELF_ENOTFOUND: return EXIT_NOTFOUND;
    }
    return EXIT_FAIL;
}

/* ---- add ---- */

/*
 * target as the daemon must read it, from any folder: a relative folder
 * made absolute; a URL (a scheme before any '/'), a named remote and an
 * absolute path as given.  Owned (free()), NULL when out of memory.
 */
static char *abs_target(const char *t)
{
    shelf_remote_info *list = NULL;
    const char *colon = strchr(t, ':'), *slash = strchr(t, '/');
    char cwd[4096], *msg = NULL, *out;
    size_t n = 0, i;
    int named = 0;

    if (t[0] == '/' || (colon && (!slash || colon < slash)))
        return strdup(t);
    if (shelf_remote_list(&list, &n, &msg) == SHELF_OK) {
        for (i = 0; i < n; i++)
            named |= !strcmp(list[i].name, t);
        shelf_remote_list_free(list, n);
    }
    shelf_free(msg);
    if (named || !getcwd(cwd, sizeof cwd))
        return strdup(t);
    if (!(out = malloc(strlen(cwd) + strlen(t) + 2)))
        return NULL;
    snprintf(out, strlen(cwd) + strlen(t) + 2, "%s/%s", cwd, t);
    return out;
}

typedef struct find_ctx {
    int64_t id;
    char name[80];
} find_ctx;

static int find_one(void *ud, const shelf_schedule_info *s)
{
    find_ctx *f = ud;

    if (s->id == f->id)
        snprintf(f->name, sizeof f->name, "%s", s->name);
    return 0;
}

enum { OPT_TARGET = 0x2001, OPT_NAME, OPT_TO, OPT_STRATEGY, OPT_KEEP_LAST, OPT_KEEP_DAILY,
       OPT_KEEP_WEEKLY, OPT_KEEP_MONTHLY, OPT_READ_ALL, OPT_SAMPLES, OPT_PEER, OPT_PWFILE,
       OPT_TO_PWFILE, OPT_DUE, OPT_LIMIT, OPT_UNUSED, OPT_PARITY, OPT_KEEP_LOCAL };

static int cmd_add(const cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "target", required_argument, NULL, OPT_TARGET },
        { "name", required_argument, NULL, OPT_NAME },
        { "to", required_argument, NULL, OPT_TO },
        { "strategy", required_argument, NULL, OPT_STRATEGY },
        { "keep-last", required_argument, NULL, OPT_KEEP_LAST },
        { "keep-daily", required_argument, NULL, OPT_KEEP_DAILY },
        { "keep-weekly", required_argument, NULL, OPT_KEEP_WEEKLY },
        { "keep-monthly", required_argument, NULL, OPT_KEEP_MONTHLY },
        { "read-all-within", required_argument, NULL, OPT_READ_ALL },
        { "samples", required_argument, NULL, OPT_SAMPLES },
        { "peer", no_argument, NULL, OPT_PEER },
        { "password-file", required_argument, NULL, OPT_PWFILE },
        { "to-password-file", required_argument, NULL, OPT_TO_PWFILE },
        { "unused-days", required_argument, NULL, OPT_UNUSED },
        { "parity", required_argument, NULL, OPT_PARITY },
        { "keep-local", no_argument, NULL, OPT_KEEP_LOCAL },
        { NULL, 0, NULL, 0 }
    };
    static const char *const keep_keys[] = { "keep_last", "keep_daily", "keep_weekly", "keep_monthly" };
    const char *target = NULL, *name = NULL, *kind;
    json_t *opts = json_object();
    shelf_library *lib = NULL;
    char *spec = NULL, *text = NULL, *err = NULL, *abs_t = NULL, *to = NULL, buf[32];
    find_ctx found = { 0, "" };
    int peer;
    size_t len = 0;
    int64_t id = 0, now = shelf_clock_now(), next = 0, d;
    long v;
    int ch, i, rc, col, ex = EXIT_USAGE;

    if (!opts) {
        cli_error("out of memory");
        return EXIT_FAIL;
    }
    FOR_OPTS(ch, argc, argv, "", longopts) {
        switch (ch) {
        case OPT_TARGET: target = optarg; break;
        case OPT_NAME: name = optarg; break;
        case OPT_TO: cli_json_check(json_object_set_new(opts, "to", json_string(optarg))); break;
        case OPT_STRATEGY: cli_json_check(json_object_set_new(opts, "strategy", json_string(optarg))); break;
        case OPT_KEEP_LAST: case OPT_KEEP_DAILY: case OPT_KEEP_WEEKLY: case OPT_KEEP_MONTHLY:
            if ((v = parse_count(keep_keys[ch - OPT_KEEP_LAST] , optarg, 100000)) < 0)
                goto out;
            cli_json_check(json_object_set_new(opts, keep_keys[ch - OPT_KEEP_LAST], json_integer(v)));
            break;
        case OPT_READ_ALL:
            if ((d = parse_duration(optarg)) < 0) {
                cli_error("option '--read-all-within' takes a time such as 30d, 12h or 2w, not '%s'",
                          optarg);
                goto out;
            }
            cli_json_check(json_object_set_new(opts, "read_all_within", json_integer(d)));
            break;
        case OPT_SAMPLES:
            if ((v = parse_count("samples", optarg, 1000)) < 0)
                goto out;
            cli_json_check(json_object_set_new(opts, "samples", json_integer(v)));
            break;
        case OPT_PEER: cli_json_check(json_object_set_new(opts, "peer", json_true())); break;
        case OPT_UNUSED:
            if ((v = parse_count("unused-days", optarg, 100000)) < 0)
                goto out;
            cli_json_check(json_object_set_new(opts, "unused_days", json_integer(v)));
            break;
        case OPT_PARITY:
            if ((v = parse_count("parity", optarg, 100)) < 0)
                goto out;
            cli_json_check(json_object_set_new(opts, "parity", json_integer(v)));
            break;
        case OPT_KEEP_LOCAL: cli_json_check(json_object_set_new(opts, "keep_local", json_true())); break;
        case OPT_PWFILE: case OPT_TO_PWFILE: {
            /* Kept absolute: the daemon runs from another folder. */
            char *real = realpath(optarg, NULL);

            if (!real) {
                cli_error("cannot find the password file '%s': %s", optarg, cli_errno_text(errno));
                goto out;
            }
            cli_json_check(json_object_set_new(opts, ch == OPT_PWFILE ? "password_file" : "to_password_file",
                                               json_string(real)));
            free(real);
            break;
        }
        default: goto out;
        }
    }
    if (argc - optind < 3) {
        cli_error("usage: shelf schedule add KIND SPEC --target T [options] (see 'shelf help')");
        goto out;
    }
    kind = argv[optind + 1];
    /* SPEC: the other words, joined ("daily 03:00" needs no quotes). */
    for (i = optind + 2; i < argc; i++)
        len += strlen(argv[i]) + 1;
    if (!(spec = calloc(1, len + 1))) {
        cli_error("out of memory");
        ex = EXIT_FAIL;
        goto out;
    }
    for (i = optind + 2; i < argc; i++) {
        if (i > optind + 2)
            strncat(spec, " ", len - strlen(spec));
        strncat(spec, argv[i], len - strlen(spec));
    }
    if (shelf_schedule_spec(spec, now, &next, NULL, &col, &err) != SHELF_OK) {
        cli_error("%s", err ? err : "bad schedule");
        cli_show_column(spec, col);
        goto out;
    }
    if (!target) {
        cli_error("a %s schedule needs --target", kind);
        goto out;
    }
    /* Folders given relative to here: the daemon runs elsewhere. */
    peer = json_is_true(json_object_get(opts, "peer"));
    if ((!peer && !(abs_t = abs_target(target))) ||
        (json_object_get(opts, "to") &&
         (!(to = abs_target(json_string_value(json_object_get(opts, "to")))) ||
          json_object_set_new(opts, "to", json_string(to)) != 0))) {
        cli_error("out of memory");
        ex = EXIT_FAIL;
        goto out;
    }
    if (abs_t)
        target = abs_t;
    if (!(text = json_dumps(opts, JSON_COMPACT))) {
        cli_error("out of memory");
        ex = EXIT_FAIL;
        goto out;
    }
    if ((ex = cli_open(c, 0, &lib)) != EXIT_OK)
        goto out;
    if ((rc = shelf_schedule_add(lib, name, kind, spec, target, text, now, &id, &err)) != SHELF_OK) {
        cli_error("%s", err ? err : shelf_errmsg(lib));
        ex = rc == SHELF_EEXIST ? EXIT_FAIL : cli_exit_for(rc);
        goto out;
    }
    ex = EXIT_OK;
    /* The name it got (given or made) and when it runs first. */
    found.id = id;
    (void)shelf_schedule_list(lib, now, find_one, &found);
    if (c->json)
        cli_print_json(json_pack("{s:I, s:s, s:s, s:s, s:s, s:I}", "id", (json_int_t)id, "name",
                                 found.name, "kind", kind, "spec", spec, "target", target,
                                 "next_due", (json_int_t)next));
    else if (!c->quiet)
        printf("added schedule '%s': %s %s to '%s'; first run %s\n", found.name, kind, spec,
               target, when(next, buf));
out:
    shelf_library_close(lib);
    shelf_free(err);
    free(text);
    free(spec);
    free(abs_t);
    free(to);
    json_decref(opts);
    return ex;
}

/* ---- ls ---- */

static json_t *info_json(const shelf_schedule_info *s)
{
    json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:s, s:o, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:b, s:b}",
                          "id", (json_int_t)s->id, "name", s->name, "kind", s->kind, "spec", s->spec,
                          "target", s->target, "options", cli_json_parse(s->options), "paused", s->paused,
                          "created", (json_int_t)s->created, "period", (json_int_t)s->period,
                          "last_run", (json_int_t)s->last_run, "last_end", (json_int_t)s->last_end,
                          "last_ok", (json_int_t)s->last_ok, "next_due", (json_int_t)s->next_due,
                          "running", s->running, "due", s->due);

    if (o) {
        cli_json_check(json_object_set_new(o, "last_state", s->last_state ? json_string(s->last_state)
                                                                           : json_null()));
        cli_json_check(json_object_set_new(o, "last_status", s->last_state ? json_string(shelf_strerror(
                                               s->last_status)) : json_null()));
        cli_json_check(json_object_set_new(o, "last_message", s->last_message ?
                                           json_string(s->last_message) : json_null()));
    }
    return o;
}

typedef struct ls_ctx {
    const cli *c;
    json_t *arr;
    int64_t now;
    int n;
} ls_ctx;

static int ls_one(void *ud, const shelf_schedule_info *s)
{
    ls_ctx *l = ud;
    char b1[32], b2[32], next[48];

    l->n++;
    if (l->c->json) {
        cli_json_check(json_array_append_new(l->arr, info_json(s)));
        return 0;
    }
    if (s->paused)
        snprintf(next, sizeof next, "paused");
    else if (s->running)
        snprintf(next, sizeof next, "running");
    else if (s->due)
        snprintf(next, sizeof next, "due now");
    else
        snprintf(next, sizeof next, "%s", when(s->next_due, b1));
    printf("%-16s %-12s %-20s %-16s  %s\n", s->name, s->kind, s->spec, next, s->target);
    if (s->last_state)
        printf("  last: %s %s%s%s\n", when(s->last_run, b2), s->last_state,
               s->last_message ? ": " : "", s->last_message ? s->last_message : "");
    return 0;
}

static int cmd_ls_schedules(const cli *c, shelf_library *lib)
{
    ls_ctx l = { c, json_array(), shelf_clock_now(), 0 };
    int rc;

    if (!c->json && !c->quiet)
        printf("%-16s %-12s %-20s %-16s  %s\n", "NAME", "KIND", "SPEC", "NEXT", "TARGET");
    if ((rc = shelf_schedule_list(lib, l.now, ls_one, &l)) != SHELF_OK) {
        json_decref(l.arr);
        return cli_fail(lib, rc);
    }
    if (c->json)
        cli_print_json(l.arr);
    else {
        json_decref(l.arr);
        if (l.n == 0 && !c->quiet)
            printf("no schedules (see 'shelf schedule suggest')\n");
    }
    return EXIT_OK;
}

/* ---- run and log ---- */

static json_t *run_json(const shelf_schedule_run_info *r)
{
    json_t *o = json_pack("{s:I, s:s, s:s, s:I, s:I, s:s, s:s, s:I}", "id", (json_int_t)r->id,
                          "schedule", r->schedule, "kind", r->kind, "started", (json_int_t)r->started,
                          "ended", (json_int_t)r->ended, "state", r->state, "status",
                          shelf_strerror(r->status), "pid", (json_int_t)r->pid);

    if (o) {
        cli_json_check(json_object_set_new(o, "message", r->message ? json_string(r->message) : json_null()));
        cli_json_check(json_object_set_new(o, "detail", r->detail ? cli_json_parse(r->detail) : json_object()));
    }
    return o;
}

static void run_line(FILE *f, const shelf_schedule_run_info *r)
{
    char b[32];

    fprintf(f, "%s  %-16s %-11s %5llds  %s\n", when(r->started, b), r->schedule, r->state,
            (long long)(r->ended > r->started ? r->ended - r->started : 0), r->message ? r->message : "");
}

typedef struct run_ui {
    const cli *c;
    cli_progress bar;
    json_t *arr;
    int ran;                    /* runs that ended (their result printed) */
} run_ui;

static int run_progress(void *ud, const shelf_schedule_progress *p)
{
    run_ui *ui = ud;
    char what[96];

    snprintf(what, sizeof what, "%s: %s", p->schedule, p->step);
    cli_progress_draw(&ui->bar, what, p->done, p->total, p->bytes_done, p->bytes_total);
    return cli_interrupted;
}

static int run_done(void *ud, const shelf_schedule_run_info *r)
{
    run_ui *ui = ud;

    if (!strcmp(r->state, "running"))
        return 0;
    cli_progress_end(&ui->bar);
    ui->ran++;
    if (ui->c->json)
        cli_json_check(json_array_append_new(ui->arr, run_json(r)));
    else if (r->status != SHELF_OK)
        cli_error("schedule '%s' %s: %s", r->schedule, r->state, r->message ? r->message : shelf_strerror(r->status));
    else if (!ui->c->quiet)
        printf("%s: %s%s%s\n", r->schedule, r->state, r->message ? ": " : "", r->message ? r->message : "");
    cli_progress_start(&ui->bar, ui->c);
    return 0;
}

static int cmd_run(const cli *c, shelf_library *lib, int argc, char **argv)
{
    static const struct option longopts[] = { { "due", no_argument, NULL, OPT_DUE }, { NULL, 0, NULL, 0 } };
    shelf_schedule_run_opts o;
    run_ui ui;
    int ch, due = 0, rc, n = 0;

    FOR_OPTS(ch, argc, argv, "", longopts) {
        if (ch != OPT_DUE)
            return EXIT_USAGE;
        due = 1;
    }
    if (due == (argc - optind == 2)) {
        cli_error("usage: shelf schedule run NAME | --due");
        return EXIT_USAGE;
    }
    memset(&ui, 0, sizeof ui);
    ui.c = c;
    ui.arr = json_array();
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.progress = run_progress;
    o.on_run = run_done;
    o.ud = &ui;
    cli_catch_signals();
    cli_progress_start(&ui.bar, c);
    if (due)
        rc = shelf_schedule_run_due(lib, shelf_clock_now(), &o, &n);
    else
        rc = shelf_schedule_run(lib, argv[optind + 1], shelf_clock_now(), &o);
    cli_progress_end(&ui.bar);
    if (c->json)
        cli_print_json(ui.arr);
    else {
        json_decref(ui.arr);
        if (due && n == 0 && rc == SHELF_OK && !c->quiet)
            printf("no schedule is due\n");
    }
    /* A run's failure is printed with its result; what stopped a run
     * from starting (unknown, running already, read-only) here. */
    if (rc == SHELF_OK)
        return EXIT_OK;
    if (ui.ran == 0) {
        cli_error("%s", shelf_errmsg(lib));
        return run_exit(rc);
    }
    return rc == SHELF_ECANCELED ? EXIT_INTERRUPTED : rc == SHELF_EAUTH ? EXIT_AUTH : EXIT_FAIL;
}

typedef struct log_ctx {
    const cli *c;
    json_t *arr;
} log_ctx;

static int log_one(void *ud, const shelf_schedule_run_info *r)
{
    log_ctx *l = ud;

    if (l->c->json)
        cli_json_check(json_array_append_new(l->arr, run_json(r)));
    else
        run_line(stdout, r);
    return 0;
}

static int cmd_log_runs(const cli *c, shelf_library *lib, int argc, char **argv)
{
    static const struct option longopts[] = { { "limit", required_argument, NULL, OPT_LIMIT },
                                              { NULL, 0, NULL, 0 } };
    log_ctx l = { c, NULL };
    long limit = 0;
    int ch, rc;

    FOR_OPTS(ch, argc, argv, "", longopts) {
        if (ch != OPT_LIMIT || (limit = parse_count("limit", optarg, 1000000)) < 0)
            return EXIT_USAGE;
    }
    if (argc - optind > 2) {
        cli_error("usage: shelf schedule log [NAME] [--limit N]");
        return EXIT_USAGE;
    }
    l.arr = json_array();
    if ((rc = shelf_schedule_log(lib, argc - optind == 2 ? argv[optind + 1] : NULL, (int)limit,
                                 log_one, &l)) != SHELF_OK) {
        json_decref(l.arr);
        return cli_fail(lib, rc);
    }
    if (c->json)
        cli_print_json(l.arr);
    else
        json_decref(l.arr);
    return EXIT_OK;
}

/* ---- suggest ---- */

typedef struct plan {
    const cli *c;
    json_t *lines;              /* [{command, why}] */
    json_t *have;               /* "kind target" of the schedules there are -> true */
    json_t *hubs;               /* hub targets */
    int peers;
} plan;

static int plan_have(void *ud, const shelf_schedule_info *s)
{
    plan *p = ud;
    char key[4200];

    snprintf(key, sizeof key, "%s %s", s->kind, s->target);
    cli_json_check(json_object_set_new(p->have, key, json_true()));
    return 0;
}

static int plan_hub(void *ud, const shelf_hub_info *h)
{
    plan *p = ud;

    cli_json_check(json_array_append_new(p->hubs, json_string(h->target)));
    return 0;
}

static int plan_peer(void *ud, const shelf_peer *peer)
{
    plan *p = ud;

    (void)peer;
    p->peers++;
    return 0;
}

/* Propose "shelf schedule add" + args for kind on target, unless a
 * schedule of that kind on that target exists. */
static void propose(plan *p, const char *kind, const char *target, const char *args, const char *why)
{
    char key[4200], cmd[4700];

    snprintf(key, sizeof key, "%s %s", kind, target);
    if (json_object_get(p->have, key))
        return;
    snprintf(cmd, sizeof cmd, "shelf schedule add %s %s", kind, args);
    cli_json_check(json_array_append_new(p->lines, json_pack("{s:s, s:s}", "command", cmd, "why", why)));
}

static int cmd_suggest(const cli *c, shelf_library *lib)
{
    plan p = { c, json_array(), json_object(), json_array(), 0 };
    shelf_remote_info *remotes = NULL;
    shelf_cursor *cur = NULL;
    const shelf_sample *s;
    uint64_t bytes = 0;
    size_t nremotes = 0, i;
    char *msg = NULL, args[4600], sz[32];
    const char *first;
    int rc;

    if ((rc = shelf_schedule_list(lib, shelf_clock_now(), plan_have, &p)) != SHELF_OK ||
        (rc = shelf_sync_hubs(lib, plan_hub, &p)) != SHELF_OK ||
        (rc = shelf_device_list(lib, 0, plan_peer, &p)) != SHELF_OK ||
        (rc = shelf_catalog_list(lib, NULL, &cur)) != SHELF_OK)
        goto fail;
    while ((rc = shelf_cursor_next(cur, &s)) == SHELF_ROW)
        bytes += s->size;
    shelf_cursor_free(cur);
    if (rc != SHELF_DONE && rc != SHELF_OK)
        goto fail;
    if (shelf_remote_list(&remotes, &nremotes, &msg) != SHELF_OK) {
        cli_error("cannot read the remotes: %s", msg ? msg : "unknown error");
        shelf_free(msg);
        nremotes = 0;
        remotes = NULL;
    }
    /* Backups: to the first remote (or a drive), copied to the second. */
    first = nremotes ? remotes[0].name : "/media/BACKUP/shelf";
    snprintf(args, sizeof args, "daily 02:00 --target %s --keep-daily 7 --keep-weekly 4 --keep-monthly 12",
             first);
    propose(&p, "backup", first, args, nremotes ? "a nightly backup to your first remote, with a year "
            "of history" : "no remote is configured: a nightly backup to a drive (change the path, "
            "'shelf backup init' it first), or add a remote with 'shelf remote add'");
    if (bytes < (uint64_t)50 << 30) {
        snprintf(args, sizeof args, "monthly 1 03:00 --target %s --strategy full --name %s-full",
                 first, nremotes ? remotes[0].name : "drive");
        propose(&p, "backup", first, args, "the library is small: a monthly full backup restores "
                "without the ones before it");
    }
    snprintf(args, sizeof args, "weekly sun 04:00 --target %s --read-all-within %s", first,
             bytes < (uint64_t)200 << 30 ? "4w" : "12w");
    propose(&p, "check", first, args, "a weekly check that reads every byte of the repository "
            "within a month (a quarter for a big one)");
    snprintf(args, sizeof args, "monthly 15 05:00 --target %s --samples 5", first);
    propose(&p, "test-restore", first, args, "a monthly test restore of a few samples");
    if (nremotes > 1) {
        snprintf(args, sizeof args, "daily 04:00 --target %s --to %s", remotes[0].name, remotes[1].name);
        propose(&p, "copy", remotes[0].name, args, "a second copy of the backups, elsewhere");
    }
    for (i = 0; i < json_array_size(p.hubs); i++) {
        const char *hub = json_string_value(json_array_get(p.hubs, i));

        snprintf(args, sizeof args, "hourly --target %s", hub);
        propose(&p, "sync", hub, args, "keep in step with your other devices through the hub you use");
    }
    if (p.peers && json_array_size(p.hubs) == 0)
        cli_json_check(json_array_append_new(p.lines, json_pack("{s:n, s:s}", "command", "why",
                       "paired devices but no hub: 'shelf sync watch --peer HOST:PORT' keeps them in "
                       "step, or add 'schedule add sync every 1h --target HOST:PORT --peer'")));
    if (c->json) {
        cli_print_json(json_pack("{s:I, s:I, s:I, s:O}", "library_bytes", (json_int_t)bytes,
                                 "remotes", (json_int_t)nremotes, "hubs", (json_int_t)json_array_size(p.hubs),
                                 "suggestions", p.lines));
    } else {
        printf("# library: %s in samples; %zu remote%s, %zu hub%s, %d paired device%s\n",
               cli_bytes(bytes, sz), nremotes, nremotes == 1 ? "" : "s", json_array_size(p.hubs),
               json_array_size(p.hubs) == 1 ? "" : "s", p.peers, p.peers == 1 ? "" : "s");
        for (i = 0; i < json_array_size(p.lines); i++) {
            json_t *l = json_array_get(p.lines, i);

            printf("# %s\n", json_string_value(json_object_get(l, "why")));
            if (json_string_value(json_object_get(l, "command")))
                printf("%s\n", json_string_value(json_object_get(l, "command")));
        }
        if (json_array_size(p.lines) == 0)
            printf("# nothing to add: the schedules there are cover it\n");
    }
    shelf_remote_list_free(remotes, nremotes);
    json_decref(p.lines);
    json_decref(p.have);
    json_decref(p.hubs);
    return EXIT_OK;
fail:
    json_decref(p.lines);
    json_decref(p.have);
    json_decref(p.hubs);
    return cli_fail(lib, rc);
}

int cmd_schedule(const cli *c, int argc, char **argv)
{
    static const char *const subs[] = { "ls", "list", "rm", "pause", "resume", "run", "log", "suggest" };
    const char *sub = argc > 1 ? argv[1] : "ls";
    shelf_library *lib = NULL;
    size_t i;
    int ex, rc, ro;

    if (!strcmp(sub, "add"))
        return cmd_add(c, argc, argv);
    for (i = 0; i < sizeof subs / sizeof subs[0] && strcmp(sub, subs[i]) != 0; i++)
        ;
    if (i == sizeof subs / sizeof subs[0]) {
        cli_error("unknown schedule command '%s' (%s)", sub, schedule_usage);
        return EXIT_USAGE;
    }
    if ((!strcmp(sub, "rm") || !strcmp(sub, "pause") || !strcmp(sub, "resume")) && argc != 3) {
        cli_error("usage: shelf schedule %s NAME", sub);
        return EXIT_USAGE;
    }
    ro = !strcmp(sub, "ls") || !strcmp(sub, "list") || !strcmp(sub, "log") || !strcmp(sub, "suggest");
    if ((ex = cli_open(c, ro ? SHELF_OPEN_READONLY : 0, &lib)) != EXIT_OK)
        return ex;
    if (!strcmp(sub, "ls") || !strcmp(sub, "list"))
        ex = cmd_ls_schedules(c, lib);
    else if (!strcmp(sub, "run"))
        ex = cmd_run(c, lib, argc, argv);
    else if (!strcmp(sub, "log"))
        ex = cmd_log_runs(c, lib, argc, argv);
    else if (!strcmp(sub, "suggest"))
        ex = cmd_suggest(c, lib);
    else {
        rc = !strcmp(sub, "rm") ? shelf_schedule_remove(lib, argv[2])
                                : shelf_schedule_pause(lib, argv[2], !strcmp(sub, "pause"));
        if (rc != SHELF_OK)
            ex = cli_fail(lib, rc);
        else if (c->json)
            cli_print_json(json_pack("{s:s, s:s}", "schedule", argv[2], "done",
                                     !strcmp(sub, "rm") ? "removed" : !strcmp(sub, "pause") ? "paused" : "resumed"));
        else if (!c->quiet)
            printf("schedule '%s' %s\n", argv[2], !strcmp(sub, "rm") ? "removed" :
                   !strcmp(sub, "pause") ? "paused" : "resumed");
    }
    shelf_library_close(lib);
    return ex;
}
