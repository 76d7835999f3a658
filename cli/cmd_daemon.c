/*
 * cmd_daemon.c: `shelf daemon`, the background service of one library, and
 * `shelf status`, what needs the musician now.
 *
 * The daemon claims the library (one daemon per library), then runs one
 * loop on its main thread: a signalfd for SIGINT/SIGTERM, the periodic
 * look for alerts (new ones logged and sent as desktop notifications,
 * ended ones logged as cleared).  With --serve it hosts `shelf serve` on
 * the server's own thread and library handle.  Each part that uses the
 * library has a handle of its own, so none waits for another.
 * doc/service.md says what it does; the log lines are listed there.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"
#include "server.h"

extern char **environ;

#define ALERT_EVERY_DEFAULT 300         /* seconds between looks for alerts */

/* ---- the log ------------------------------------------------------------------ */

/* Where the daemon's lines go: a file (--log, with the time on each line),
 * or stderr: under systemd (JOURNAL_STREAM set) with a "<N>" priority the
 * journal reads and no time (the journal keeps it), else with the time. */
typedef struct dlog {
    FILE *f;
    int journal;
    int json;
    pthread_mutex_t mu;
} dlog;

enum { LOG_ERR = 3, LOG_WARN = 4, LOG_NOTICE = 5, LOG_INFO = 6 };

static int priority_of(int severity)
{
    return severity == SHELF_ALERT_ERROR ? LOG_ERR : severity == SHELF_ALERT_WARNING ? LOG_WARN : LOG_NOTICE;
}

/* One line: the event's word, then the text; with --json one object with
 * "time", "event", "text" and the fields of extra (stolen). */
static void say(dlog *l, int prio, const char *event, json_t *extra, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void say(dlog *l, int prio, const char *event, json_t *extra, const char *fmt, ...)
{
    char text[2048], when[32];
    time_t t = time(NULL);
    struct tm tm;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
    pthread_mutex_lock(&l->mu);
    if (l->json) {
        json_t *v = json_pack("{s:s, s:s, s:s}", "time", when, "event", event, "text", text);

        if (v && extra)
            (void)json_object_update(v, extra);
        if (v) {
            json_dumpf(v, l->f, JSON_COMPACT);
            fputc('\n', l->f);
        }
        json_decref(v);
    } else if (l->journal) {
        fprintf(l->f, "<%d>%s: %s\n", prio, event, text);
    } else {
        fprintf(l->f, "%s %s: %s\n", when, event, text);
    }
    (void)fflush(l->f);
    pthread_mutex_unlock(&l->mu);
    json_decref(extra);
}

/* ---- desktop notifications ------------------------------------------------------- */

/* notify-send where a session bus is: DBUS_SESSION_BUS_ADDRESS, or the
 * bus socket systemd's user manager makes in XDG_RUNTIME_DIR. */
static int session_bus(void)
{
    const char *run = getenv("XDG_RUNTIME_DIR");
    char p[PATH_MAX];
    struct stat st;

    if (getenv("DBUS_SESSION_BUS_ADDRESS"))
        return 1;
    if (!run)
        return 0;
    snprintf(p, sizeof p, "%s/bus", run);
    return stat(p, &st) == 0 && S_ISSOCK(st.st_mode);
}

static void notify(dlog *l, int *off, const shelf_alert *a)
{
    const char *urgency = a->severity == SHELF_ALERT_ERROR ? "critical"
                        : a->severity == SHELF_ALERT_WARNING ? "normal" : "low";
    char summary[64], body[1024], urg[32];
    const char *argv[] = { "notify-send", "--app-name=shelf", urg, summary, body, NULL };
    posix_spawn_file_actions_t fa;
    pid_t pid;
    int rc;

    if (*off)
        return;
    snprintf(urg, sizeof urg, "--urgency=%s", urgency);
    snprintf(summary, sizeof summary, "shelf: %s", tool_severity_name(a->severity));
    if (a->action)
        snprintf(body, sizeof body, "%s\n(%s)", a->what, a->action);
    else
        snprintf(body, sizeof body, "%s", a->what);
    if (posix_spawn_file_actions_init(&fa) != 0)
        return;
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    rc = posix_spawnp(&pid, "notify-send", &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        *off = 1;
        say(l, LOG_WARN, "notify", NULL, "desktop notifications are off: cannot run notify-send: %s",
            cli_errno_text(rc));
    }
}

/* ---- alerts: the set seen last time, to tell new from ended ------------------------ */

typedef struct seen {
    char **keys, **whats;
    size_t n, cap;
} seen;

static void seen_release(seen *s)
{
    size_t i;

    for (i = 0; i < s->n; i++) {
        free(s->keys[i]);
        free(s->whats[i]);
    }
    free(s->keys);
    free(s->whats);
    memset(s, 0, sizeof *s);
}

static int seen_has(const seen *s, const char *key)
{
    size_t i;

    for (i = 0; i < s->n; i++)
        if (!strcmp(s->keys[i], key))
            return 1;
    return 0;
}

static int seen_add(seen *s, const char *key, const char *what)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 16;
        char **k = realloc(s->keys, cap * sizeof *k), **w;

        if (!k)
            return -1;
        s->keys = k;
        if (!(w = realloc(s->whats, cap * sizeof *w)))
            return -1;
        s->whats = w;
        s->cap = cap;
    }
    if (!(s->keys[s->n] = strdup(key)))
        return -1;
    if (!(s->whats[s->n] = strdup(what))) {
        free(s->keys[s->n]);
        return -1;
    }
    s->n++;
    return 0;
}

typedef struct daemon_ctx {
    const cli *c;
    dlog log;
    shelf_library *lib;         /* the main thread's handle */
    int notify_off;             /* --no-notify, no session bus, or notify-send missing */
    seen before, now;
    unsigned alert_flags;
    _Atomic int stop;           /* set when a signal came: threads finish */
    int wake;                   /* eventfd: threads ask the main loop to look
                                   for alerts now (a run ended), and the main
                                   loop wakes threads to stop */
    int stop_fd;                /* eventfd the threads poll: readable once stopping */
} daemon_ctx;

static int on_alert(void *ud, const shelf_alert *a)
{
    daemon_ctx *d = ud;

    if (seen_add(&d->now, a->key, a->what) != 0)
        return SHELF_ENOMEM;
    if (!seen_has(&d->before, a->key)) {
        say(&d->log, priority_of(a->severity), "alert",
            json_pack("{s:s, s:s, s:s?}", "key", a->key, "severity", tool_severity_name(a->severity), "action", a->action),
            "%s: %s%s%s%s", tool_severity_name(a->severity), a->what, a->action ? " (" : "", a->action ? a->action : "",
            a->action ? ")" : "");
        notify(&d->log, &d->notify_off, a);
    }
    return 0;
}

static void look_for_alerts(daemon_ctx *d)
{
    shelf_alert_opts o;
    size_t i;
    int rc;

    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.flags = d->alert_flags;
    rc = shelf_alerts(d->lib, shelf_clock_now(), &o, on_alert, d);
    if (rc != SHELF_OK) {
        say(&d->log, LOG_ERR, "alert", NULL, "cannot look for alerts: %s", shelf_errmsg(d->lib));
        seen_release(&d->now);
        return;
    }
    for (i = 0; i < d->before.n; i++)
        if (!seen_has(&d->now, d->before.keys[i]))
            say(&d->log, LOG_NOTICE, "cleared", json_pack("{s:s}", "key", d->before.keys[i]), "%s",
                d->before.whats[i]);
    seen_release(&d->before);
    d->before = d->now;
    memset(&d->now, 0, sizeof d->now);
    shelf_library_trim(d->lib);     /* the look read the whole catalog: its pages can go */
}

/* ---- the systemd user unit --------------------------------------------------------- */

/* s as one argument of ExecStart: in double quotes, with what systemd
 * would read otherwise escaped (quotes, backslashes, control bytes and
 * bytes that are not ASCII as \xNN; '%' as "%%", a specifier; '$' as
 * "$$", a variable). */
static void unit_arg(FILE *f, const char *s)
{
    const unsigned char *p;

    fputc('"', f);
    for (p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p == '%')
            fputs("%%", f);
        else if (*p == '$')
            fputs("$$", f);
        else if (*p < 0x20 || *p >= 0x7f)
            fprintf(f, "\\x%02x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

/* The unit's name: shelf-daemon-<first 12 of the library id>.service, so
 * that each library has its own. */
static void unit_name(shelf_library *lib, char *buf, size_t size)
{
    snprintf(buf, size, "shelf-daemon-%.12s.service", shelf_library_id(lib));
}

/* Write the unit for this library into dir (default: the user's systemd
 * folder), atomically; argv are the daemon's options to keep. */
static int install_unit(const cli *c, shelf_library *lib, const char *dir, char **keep, int nkeep)
{
    char self[PATH_MAX], base[PATH_MAX], path[PATH_MAX + 64], tmp[PATH_MAX + 80], name[64];
    const char *home = getenv("HOME"), *xdg = getenv("XDG_CONFIG_HOME");
    ssize_t n;
    FILE *f;
    int i, fd;

    if ((n = readlink("/proc/self/exe", self, sizeof self - 1)) < 0) {
        cli_error("cannot find this program's path: %s", cli_errno_text(errno));
        return EXIT_FAIL;
    }
    self[n] = '\0';
    if (dir)
        snprintf(base, sizeof base, "%s", dir);
    else if (xdg && *xdg)
        snprintf(base, sizeof base, "%s/systemd/user", xdg);
    else if (home && *home)
        snprintf(base, sizeof base, "%s/.config/systemd/user", home);
    else {
        cli_error("no folder for the unit: set HOME or XDG_CONFIG_HOME, or give --unit-dir DIR");
        return EXIT_USAGE;
    }
    unit_name(lib, name, sizeof name);
    if (cli_mkdirs(base) != 0) {
        cli_error("cannot make %s: %s", base, cli_errno_text(errno));
        return EXIT_FAIL;
    }
    snprintf(path, sizeof path, "%s/%s", base, name);
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid());
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0 || !(f = fdopen(fd, "w"))) {
        cli_error("cannot write %s: %s", tmp, cli_errno_text(errno));
        if (fd >= 0)
            close(fd);
        return EXIT_FAIL;
    }
    fputs("# Written by `shelf daemon --install-unit`; run it again to rewrite.\n[Unit]\nDescription=shelf daemon for ", f);
    {
        char *shown = cli_name_text(shelf_library_path(lib));
        const char *q;

        /* the description is one line of text: no specifiers in it */
        for (q = shown ? shown : "the library"; *q; q++)
            if (*q == '%')
                fputs("%%", f);
            else
                fputc(*q, f);
        shelf_free(shown);
    }
    fputs("\nDocumentation=man:shelf(1)\n\n[Service]\nType=simple\nExecStart=", f);
    unit_arg(f, self);
    fputs(" -L ", f);
    unit_arg(f, shelf_library_path(lib));
    fputs(" daemon", f);
    for (i = 0; i < nkeep; i++) {
        fputc(' ', f);
        unit_arg(f, keep[i]);
    }
    fputs("\nKillSignal=SIGTERM\nTimeoutStopSec=120\nRestart=on-failure\nRestartSec=30\n"
          "\n[Install]\nWantedBy=default.target\n", f);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0 || ferror(f)) {
        cli_error("cannot write %s: %s", tmp, cli_errno_text(errno));
        (void)fclose(f);
        unlink(tmp);
        return EXIT_FAIL;
    }
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        cli_error("cannot write %s: %s", path, cli_errno_text(errno));
        unlink(tmp);
        return EXIT_FAIL;
    }
    if (c->json) {
        cli_print_json(json_pack("{s:s, s:s}", "unit", name, "path", path));
    } else {
        printf("wrote %s\nstart it now and at each login with:\n"
               "  systemctl --user daemon-reload && systemctl --user enable --now %s\n", path, name);
    }
    return EXIT_OK;
}

/* ---- threads: each with a library handle of its own ------------------------------------ */

/* Ask the main loop to look for alerts now (a scheduled run ended). */
static void wake_main(daemon_ctx *d)
{
    uint64_t one = 1;

    if (write(d->wake, &one, sizeof one) != (ssize_t)sizeof one) {
        /* the counter is full: the main loop is woken anyway */
    }
}

/* ---- watch folders, on a thread of its own ----------------------------------------------- */

typedef struct watch_thread {
    daemon_ctx *d;
    shelf_library *lib;
    shelf_watch_opts o;
    pthread_t tid;
    int started;
} watch_thread;

static void on_watch_file(void *ud, int status, const char *path, int64_t id, const char *reason)
{
    daemon_ctx *d = ud;
    char *p = cli_name_text(path);

    say(&d->log, status == SHELF_FILE_FAILED ? LOG_WARN : LOG_INFO, "watch",
        json_pack("{s:s, s:o, s:I, s:s?}", "action", cli_file_action(status), "path", tool_json_name(path), "id",
                  (json_int_t)id, "reason", reason),
        "%s %s%s%s", cli_file_action(status), p ? p : "?", reason ? ": " : "", reason ? reason : "");
    shelf_free(p);
}

static void on_watch_note(void *ud, const char *line)
{
    daemon_ctx *d = ud;
    char *p = cli_name_text(line);

    say(&d->log, LOG_NOTICE, "watch", NULL, "%s", p ? p : line);
    shelf_free(p);
}

static void *watch_main(void *arg)
{
    watch_thread *t = arg;
    daemon_ctx *d = t->d;
    shelf_watch *w = NULL;

    if (shelf_watch_open(t->lib, &t->o, &w) != SHELF_OK) {
        say(&d->log, LOG_ERR, "watch", NULL, "cannot watch the roots: %s", shelf_errmsg(t->lib));
        return NULL;
    }
    while (!atomic_load(&d->stop)) {
        struct pollfd fds[2] = { { shelf_watch_fd(w), POLLIN, 0 }, { d->stop_fd, POLLIN, 0 } };

        if (poll(fds, 2, shelf_watch_timeout(w)) < 0 && errno != EINTR) {
            say(&d->log, LOG_ERR, "watch", NULL, "cannot wait for events: %s", cli_errno_text(errno));
            break;
        }
        if (atomic_load(&d->stop))
            break;
        if (shelf_watch_step(w) != SHELF_OK) {
            say(&d->log, LOG_ERR, "watch", NULL, "watching stopped: %s", shelf_errmsg(t->lib));
            break;
        }
    }
    shelf_watch_close(w);
    return NULL;
}

/* ---- schedules, on a thread of its own ---------------------------------------------------- */

#define SCHEDULE_LOOK_MS 5000   /* schedules added or changed meanwhile are seen this soon */

typedef struct sched_thread {
    daemon_ctx *d;
    shelf_library *lib;
    pthread_t tid;
    int started;
} sched_thread;

static int on_sched_progress(void *ud, const shelf_schedule_progress *p)
{
    daemon_ctx *d = ud;

    (void)p;
    return atomic_load(&d->stop);   /* a signal: the run stops at its next step */
}

static int on_sched_run(void *ud, const shelf_schedule_run_info *r)
{
    daemon_ctx *d = ud;
    json_t *extra = json_pack("{s:s, s:s, s:s, s:I}", "schedule", r->schedule, "kind", r->kind, "state", r->state,
                              "run", (json_int_t)r->id);

    if (!strcmp(r->state, "running")) {
        say(&d->log, LOG_NOTICE, "schedule", extra, "%s '%s' started", r->kind, r->schedule);
        return 0;
    }
    if (extra && r->detail) {
        json_t *detail = json_loads(r->detail, 0, NULL);

        if (detail)
            (void)json_object_set_new(extra, "detail", detail);
    }
    if (!strcmp(r->state, "ok"))
        say(&d->log, LOG_NOTICE, "schedule", extra, "%s '%s' done in %lld s", r->kind, r->schedule,
            (long long)(r->ended - r->started));
    else
        say(&d->log, !strcmp(r->state, "cancelled") ? LOG_NOTICE : LOG_ERR, "schedule", extra, "%s '%s' %s: %s",
            r->kind, r->schedule, r->state, r->message ? r->message : "see shelf schedule log");
    wake_main(d);
    return 0;
}

static void *sched_main(void *arg)
{
    sched_thread *t = arg;
    daemon_ctx *d = t->d;
    shelf_schedule_run_opts o;

    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.progress = on_sched_progress;
    o.on_run = on_sched_run;
    o.ud = d;
    while (!atomic_load(&d->stop)) {
        struct pollfd fds[1] = { { d->stop_fd, POLLIN, 0 } };
        int64_t now = shelf_clock_now(), when = 0;
        int timeout = SCHEDULE_LOOK_MS, rc;

        if (shelf_schedule_next(t->lib, now, &when) != SHELF_OK) {
            say(&d->log, LOG_ERR, "schedule", NULL, "cannot read the schedules: %s", shelf_errmsg(t->lib));
        } else if (when && when <= now) {
            /* Every due one, once each; a failure is in its run's line. */
            rc = shelf_schedule_run_due(t->lib, now, &o, NULL);
            shelf_library_trim(t->lib);
            if (rc == SHELF_ECANCELED || atomic_load(&d->stop))
                break;
            continue;
        } else if (when && (when - now) * 1000 < timeout) {
            timeout = (int)((when - now) * 1000);
        }
        if (poll(fds, 1, timeout) < 0 && errno != EINTR)
            break;
    }
    return NULL;
}

/* ---- sync watch, on a thread of its own ------------------------------------------------ */

typedef struct sync_thread {
    daemon_ctx *d;
    cli_sync_watch o;
    shelf_library *lib;
    pthread_t tid;
    int started;
} sync_thread;

static void on_sync(void *ud, const char *what, const char *where, int rc, const char *error, json_t *detail)
{
    daemon_ctx *d = ud;
    char more[256] = "";
    const char *k;
    json_t *v;
    size_t n = 0;

    json_object_foreach(detail, k, v)
        if (json_integer_value(v) && n < sizeof more)
            n += (size_t)snprintf(more + n, sizeof more - n, ", %s %lld", k, (long long)json_integer_value(v));
    if (!detail)
        detail = json_object();
    if (detail) {
        (void)json_object_set_new(detail, "action", json_string(what));
        (void)json_object_set_new(detail, "target", json_string(where));
        (void)json_object_set_new(detail, "ok", json_boolean(rc == SHELF_OK));
    }
    if (rc != SHELF_OK)
        say(&d->log, LOG_WARN, "sync", detail, "%s %s failed: %s", what, where, error ? error : "?");
    else
        say(&d->log, LOG_INFO, "sync", detail, "%s %s%s", what, where, more);
}

static void *sync_main(void *arg)
{
    sync_thread *t = arg;
    int rc = cli_sync_watch_run(t->d->c, t->lib, &t->o);

    if (rc != SHELF_OK)
        say(&t->d->log, LOG_ERR, "sync", NULL, "sync watch stopped: %s", shelf_errmsg(t->lib));
    return NULL;
}

/* ---- listening for paired devices, on a thread of its own ------------------------------- */

typedef struct listen_thread {
    daemon_ctx *d;
    shelf_sync_listen_opts o;
    shelf_library *lib;
    shelf_announcer *announcer;
    int announce;
    volatile int stop;          /* written with __atomic_store_n, read by shelf_sync_listen */
    pthread_t tid;
    int started;
} listen_thread;

static void on_listening(void *ud, const char *address)
{
    listen_thread *t = ud;
    const char *colon = strrchr(address, ':');
    long port = colon ? strtol(colon + 1, NULL, 10) : 0;

    say(&t->d->log, LOG_NOTICE, "listen", json_pack("{s:s}", "address", address),
        "listening for paired devices on %s", address);
    /* paired devices on the LAN find this one without an address */
    if (t->announce && port > 0 && port < 65536 &&
        shelf_sync_announce_start(t->lib, (int)port, 0, &t->announcer) != SHELF_OK)
        say(&t->d->log, LOG_WARN, "listen", NULL, "%s (devices must be given this one's address)",
            shelf_errmsg(t->lib));
}

static void on_peer_session(void *ud, int rc, const char *errmsg, const shelf_sync_stats *st)
{
    listen_thread *t = ud;
    const char *who = st->peer_name[0] ? st->peer_name : st->peer[0] ? st->peer : "a device";

    if (rc != SHELF_OK)
        say(&t->d->log, LOG_WARN, "sync", json_pack("{s:s, s:s, s:b}", "action", "listen", "error",
                                                      errmsg ? errmsg : shelf_strerror(rc), "ok", 0),
            "exchange with %s failed: %s", who, errmsg ? errmsg : shelf_strerror(rc));
    else
        say(&t->d->log, LOG_INFO, "sync", json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:b}", "action",
                                                     "listen", "peer", st->peer, "sent", (json_int_t)st->sent,
                                                     "received", (json_int_t)st->received, "applied",
                                                     (json_int_t)st->applied, "files_in",
                                                     (json_int_t)st->files_in, "files_out",
                                                     (json_int_t)st->files_out, "ok", 1),
            "exchange with %s: sent %lld, received %lld, applied %lld", who, (long long)st->sent,
            (long long)st->received, (long long)st->applied);
}

static void *listen_main(void *arg)
{
    listen_thread *t = arg;
    int rc = shelf_sync_listen(t->lib, &t->o);

    (void)shelf_sync_announce_stop(t->announcer);
    t->announcer = NULL;
    if (rc != SHELF_OK && rc != SHELF_ECANCELED)
        say(&t->d->log, LOG_ERR, "listen", NULL, "listening stopped: %s", shelf_errmsg(t->lib));
    return NULL;
}

/* ---- shelf daemon -------------------------------------------------------------------- */

static void on_serving(void *ud, const char *url, int port, const char *token)
{
    daemon_ctx *d = ud;

    (void)token;
    say(&d->log, LOG_NOTICE, "serve", json_pack("{s:s, s:i}", "url", url, "port", port), "%s", url);
}

int cmd_daemon(const cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "serve", no_argument, NULL, 's' }, { "port", required_argument, NULL, 'p' },
        { "address", required_argument, NULL, 'a' }, { "log", required_argument, NULL, 'l' },
        { "alert-every", required_argument, NULL, 'e' }, { "no-notify", no_argument, NULL, 'N' },
        { "no-space", no_argument, NULL, 'S' },
        { "install-unit", no_argument, NULL, 'I' }, { "unit-dir", required_argument, NULL, 'U' },
        { "hub", required_argument, NULL, 'h' }, { "peer", required_argument, NULL, 'P' },
        { "sync-debounce", required_argument, NULL, 'D' }, { "sync-interval", required_argument, NULL, 'V' },
        { "no-watch", no_argument, NULL, 'W' }, { "no-schedules", no_argument, NULL, 'C' },
        { "no-scan", no_argument, NULL, 'n' }, { "listen", optional_argument, NULL, 'L' },
        { "no-announce", no_argument, NULL, 'A' },
        { NULL, 0, NULL, 0 }
    };
    listen_thread lt;
    int listen = 0;
    const char *hubs[CLI_SYNC_MAX], *peers[CLI_SYNC_MAX];
    sync_thread st = { NULL, { hubs, peers, 0, 0, 2, 60, NULL, NULL, NULL }, NULL, 0, 0 };
    watch_thread wt;
    sched_thread ct;
    int watch = 1, schedules = 1, scan = 1;
    daemon_ctx d;
    shelf_library *slib = NULL;
    serve_server *srv = NULL;
    cli_serve_repos srepos = { NULL, 0 };
    shelf_claim *claim = NULL;
    serve_opts so;
    sigset_t mask, old;
    const char *log_path = NULL, *unit_dir = NULL;
    char *end, *msg = NULL, *keep[32];
    int ch, ex = EXIT_OK, serve = 0, install = 0, sfd = -1, nkeep = 0, rc;
    long every = ALERT_EVERY_DEFAULT, pid = 0;
    double next_alerts;

    memset(&d, 0, sizeof d);
    memset(&so, 0, sizeof so);
    memset(&wt, 0, sizeof wt);
    memset(&ct, 0, sizeof ct);
    memset(&lt, 0, sizeof lt);
    lt.announce = 1;
    d.wake = d.stop_fd = -1;
    d.c = c;
    d.alert_flags = SHELF_ALERTS_SPACE;
    so.port = SERVE_DEFAULT_PORT;
    so.preload = SERVE_PRELOAD_BACKGROUND;
    FOR_OPTS(ch, argc, argv, "", longopts) {
        switch (ch) {
        case 's': serve = 1; break;
        case 'p':
        case 'a':
            if ((ex = cli_serve_opt(&so, ch, optarg)) != EXIT_OK)
                return ex;
            break;
        case 'l': log_path = optarg; break;
        case 'e':
            every = strtol(optarg, &end, 10);
            if (!*optarg || *end || every < 1 || every > 86400) {
                cli_error("invalid --alert-every '%s': seconds, 1 to 86400", optarg);
                return EXIT_USAGE;
            }
            break;
        case 'N': d.notify_off = 1; break;
        case 'S': d.alert_flags &= ~(unsigned)SHELF_ALERTS_SPACE; break;
        case 'h':
        case 'P':
            if ((ex = cli_sync_target(&st.o, ch == 'h', optarg)) != EXIT_OK)
                return ex;
            break;
        case 'D':
            if ((ex = cli_seconds_opt("sync-debounce", optarg, &st.o.debounce)) != EXIT_OK)
                return ex;
            break;
        case 'V':
            if ((ex = cli_seconds_opt("sync-interval", optarg, &st.o.interval)) != EXIT_OK)
                return ex;
            break;
        case 'W': watch = 0; break;
        case 'n': scan = 0; break;
        case 'C': schedules = 0; break;
        case 'L': listen = 1; lt.o.address = optarg; break;
        case 'A': lt.announce = 0; break;
        case 'I': install = 1; break;
        case 'U': unit_dir = optarg; break;
        default: return EXIT_USAGE;
        }
    }
    if (optind != argc || (unit_dir && !install)) {
        cli_error("usage: shelf daemon [--serve [--port N] [--address ADDR]] [--hub HUB]... [--peer HOST:PORT]... "
                  "[--sync-debounce S] [--sync-interval S] [--listen[=HOST:PORT] [--no-announce]] [--no-watch] [--no-scan] "
                  "[--no-schedules] [--log FILE] "
                  "[--alert-every S] [--no-notify] [--no-space] [--install-unit [--unit-dir DIR]]");
        return EXIT_USAGE;
    }
    if ((ex = cli_open(c, 0, &d.lib)) != EXIT_OK)
        return ex;
    if (install) {
        /* what the unit passes on: every option but the unit's own */
        for (ch = 1; ch < argc && nkeep < (int)(sizeof keep / sizeof keep[0]); ch++) {
            if (!strcmp(argv[ch], "--install-unit") || !strncmp(argv[ch], "--unit-dir=", 11))
                continue;
            if (!strcmp(argv[ch], "--unit-dir")) {
                ch++;
                continue;
            }
            keep[nkeep++] = argv[ch];
        }
        ex = install_unit(c, d.lib, unit_dir, keep, nkeep);
        shelf_library_close(d.lib);
        return ex;
    }
    if ((rc = shelf_daemon_claim(d.lib, &claim, &pid)) != SHELF_OK) {
        ex = cli_fail(d.lib, rc);
        shelf_library_close(d.lib);
        return ex;
    }
    pthread_mutex_init(&d.log.mu, NULL);
    d.log.json = c->json;
    d.log.f = c->json ? stdout : stderr;
    d.log.journal = !log_path && !c->json && getenv("JOURNAL_STREAM") != NULL;
    if (log_path && !(d.log.f = fopen(log_path, "ae"))) {
        cli_error("cannot open the log %s: %s", log_path, cli_errno_text(errno));
        ex = EXIT_FAIL;
        goto out;
    }
    if (!d.notify_off && !session_bus())
        d.notify_off = 1;
    /* SIGINT and SIGTERM come through the signalfd; every thread started
     * from here on inherits the mask. */
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &mask, &old);
    if ((sfd = signalfd(-1, &mask, SFD_CLOEXEC)) < 0) {
        cli_error("cannot take signals: %s", cli_errno_text(errno));
        ex = EXIT_FAIL;
        goto out;
    }
    say(&d.log, LOG_NOTICE, "start", json_pack("{s:i, s:s}", "pid", (int)getpid(), "library", shelf_library_path(d.lib)),
        "shelf daemon %s (pid %ld) for %s", shelf_version(), (long)getpid(), shelf_library_path(d.lib));
    if (serve) {
        if ((ex = cli_open(c, 0, &slib)) != EXIT_OK ||
            (ex = cli_serve_repos_gather(slib, NULL, 0, NULL, &srepos)) != EXIT_OK)
            goto out;
        so.repos = srepos.v;        /* the schedules' repositories, for the restore dialog */
        so.nrepos = srepos.n;
        so.on_ready = on_serving;
        so.ud = &d;
        if (serve_start(slib, &so, &srv, &msg) != 0) {
            say(&d.log, LOG_ERR, "serve", NULL, "cannot serve: %s", msg ? msg : "out of memory");
            cli_error("%s", msg ? msg : "cannot start the server");
            ex = EXIT_FAIL;
            goto out;
        }
    }
    if ((d.wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0 ||
        (d.stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
        cli_error("cannot make an eventfd: %s", cli_errno_text(errno));
        ex = EXIT_FAIL;
        goto out;
    }
    if (watch) {
        if ((ex = cli_open(c, 0, &wt.lib)) != EXIT_OK)
            goto out;
        wt.d = &d;
        wt.o.size = sizeof wt.o;
        wt.o.flags = scan ? 0 : SHELF_WATCH_NO_SCAN;
        wt.o.on_file = on_watch_file;
        wt.o.on_note = on_watch_note;
        wt.o.ud = &d;
        if ((rc = pthread_create(&wt.tid, NULL, watch_main, &wt)) != 0) {
            cli_error("cannot start the watcher: %s", cli_errno_text(rc));
            ex = EXIT_FAIL;
            goto out;
        }
        wt.started = 1;
    }
    if (schedules) {
        if ((ex = cli_open(c, 0, &ct.lib)) != EXIT_OK)
            goto out;
        ct.d = &d;
        if ((rc = pthread_create(&ct.tid, NULL, sched_main, &ct)) != 0) {
            cli_error("cannot start the scheduler: %s", cli_errno_text(rc));
            ex = EXIT_FAIL;
            goto out;
        }
        ct.started = 1;
    }
    if (st.o.nhubs + st.o.npeers > 0) {
        if ((ex = cli_open(c, 0, &st.lib)) != EXIT_OK)
            goto out;
        st.d = &d;
        st.o.stop = &d.stop;
        st.o.report = on_sync;
        st.o.ud = &d;
        if ((rc = pthread_create(&st.tid, NULL, sync_main, &st)) != 0) {
            cli_error("cannot start sync watch: %s", cli_errno_text(rc));
            ex = EXIT_FAIL;
            goto out;
        }
        st.started = 1;
    }
    if (listen) {
        if ((ex = cli_open(c, 0, &lt.lib)) != EXIT_OK)
            goto out;
        lt.d = &d;
        lt.o.size = sizeof lt.o;
        lt.o.stop = &lt.stop;
        lt.o.ready = on_listening;
        lt.o.session = on_peer_session;
        lt.o.ud = &lt;
        if ((rc = pthread_create(&lt.tid, NULL, listen_main, &lt)) != 0) {
            cli_error("cannot start listening: %s", cli_errno_text(rc));
            ex = EXIT_FAIL;
            goto out;
        }
        lt.started = 1;
    }
    next_alerts = cli_now();
    for (;;) {
        struct pollfd fds[2] = { { sfd, POLLIN, 0 }, { d.wake, POLLIN, 0 } };
        double wait = next_alerts - cli_now();
        int timeout = wait <= 0 ? 0 : wait > 3600 ? 3600000 : (int)(wait * 1000) + 1;

        if (poll(fds, 2, timeout) < 0 && errno != EINTR) {
            say(&d.log, LOG_ERR, "stop", NULL, "poll failed: %s", cli_errno_text(errno));
            ex = EXIT_FAIL;
            break;
        }
        if (fds[0].revents & POLLIN) {
            struct signalfd_siginfo si;

            if (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
                say(&d.log, LOG_NOTICE, "stop", NULL, "%s: stopping", si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
                break;
            }
        }
        if (fds[1].revents & POLLIN) {
            uint64_t n;

            if (read(d.wake, &n, sizeof n) == (ssize_t)sizeof n)
                next_alerts = cli_now();            /* a run ended: look now */
        }
        while (waitpid(-1, NULL, WNOHANG) > 0)     /* notify-send that finished */
            ;
        if (cli_now() >= next_alerts) {
            look_for_alerts(&d);
            next_alerts = cli_now() + (double)every;
        }
    }
out:
    atomic_store(&d.stop, 1);
    if (d.stop_fd >= 0) {
        uint64_t one = 1;

        if (write(d.stop_fd, &one, sizeof one) != (ssize_t)sizeof one) {
            /* the threads also see d.stop at their next wake */
        }
    }
    if (wt.started)
        pthread_join(wt.tid, NULL);
    if (ct.started)
        pthread_join(ct.tid, NULL);
    if (st.started)
        pthread_join(st.tid, NULL);
    if (lt.started) {
        __atomic_store_n(&lt.stop, 1, __ATOMIC_RELAXED);
        pthread_join(lt.tid, NULL);
    }
    if (lt.lib)
        shelf_library_close(lt.lib);
    if (wt.lib)
        shelf_library_close(wt.lib);
    if (ct.lib)
        shelf_library_close(ct.lib);
    if (st.lib)
        shelf_library_close(st.lib);
    if (d.wake >= 0)
        close(d.wake);
    if (d.stop_fd >= 0)
        close(d.stop_fd);
    serve_stop(srv);
    cli_serve_repos_free(&srepos);
    if (slib)
        shelf_library_close(slib);
    if (sfd >= 0) {
        close(sfd);
        if (ex == EXIT_OK)
            say(&d.log, LOG_NOTICE, "stopped", NULL, "shelf daemon stopped");
    }
    seen_release(&d.before);
    seen_release(&d.now);
    if (log_path && d.log.f)
        (void)fclose(d.log.f);
    if (d.log.f || sfd >= 0)
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_mutex_destroy(&d.log.mu);
    shelf_daemon_release(claim);
    shelf_library_close(d.lib);
    free(msg);
    return ex;
}

/* ---- shelf status ---------------------------------------------------------------------- */

typedef struct status_ctx {
    const cli *c;
    json_t *list;
    int worst;
} status_ctx;

static int on_status_alert(void *ud, const shelf_alert *a)
{
    status_ctx *s = ud;

    if (a->severity > s->worst)
        s->worst = a->severity;
    if (s->c->json) {
        cli_json_check(json_array_append_new(s->list, tool_alert_json(a)));
        return 0;
    }
    printf("  %-8s %s\n", tool_severity_name(a->severity), a->what);
    if (a->action)
        printf("           -> %s\n", a->action);
    return 0;
}

int cmd_status(const cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "offline", no_argument, NULL, 'o' }, { "device-days", required_argument, NULL, 'd' },
        { NULL, 0, NULL, 0 }
    };
    status_ctx s = { c, NULL, 0 };
    shelf_alert_opts o;
    shelf_library *lib;
    int64_t total = 0, missing = 0, since = 0;
    long pid = 0, days;
    char *end, when[32];
    int ch, ex, rc, running;

    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.flags = SHELF_ALERTS_SPACE;
    FOR_OPTS(ch, argc, argv, "", longopts) {
        switch (ch) {
        case 'o': o.flags &= ~(unsigned)SHELF_ALERTS_SPACE; break;
        case 'd':
            days = strtol(optarg, &end, 10);
            if (!*optarg || *end || days < 1 || days > 3650) {
                cli_error("invalid --device-days '%s': 1 to 3650", optarg);
                return EXIT_USAGE;
            }
            o.device_days = (int)days;
            break;
        default: return EXIT_USAGE;
        }
    }
    if (optind != argc) {
        cli_error("usage: shelf status [--offline] [--device-days N]");
        return EXIT_USAGE;
    }
    if ((ex = cli_open(c, 0, &lib)) != EXIT_OK)
        return ex;
    if ((rc = shelf_catalog_count(lib, &total, &missing)) != SHELF_OK ||
        (running = shelf_daemon_running(lib, &pid, &since)) < 0) {
        ex = cli_fail(lib, rc != SHELF_OK ? rc : running);
        shelf_library_close(lib);
        return ex;
    }
    if (since) {
        time_t t = (time_t)since;
        struct tm tm;

        strftime(when, sizeof when, "%Y-%m-%d %H:%M", localtime_r(&t, &tm));
    } else {
        snprintf(when, sizeof when, "?");
    }
    if (c->json) {
        s.list = json_array();
    } else {
        char *shown = cli_name_text(shelf_library_path(lib));

        printf("library  %s (%lld samples, %lld missing)\n", shown ? shown : "?", (long long)total,
               (long long)missing);
        shelf_free(shown);
        if (running)
            printf("daemon   running (pid %ld, since %s)\n", pid, when);
        else
            printf("daemon   not running (start it: shelf daemon; at each login: shelf daemon --install-unit)\n");
        (void)fflush(stdout);
    }
    rc = shelf_alerts(lib, shelf_clock_now(), &o, on_status_alert, &s);
    if (rc != SHELF_OK) {
        ex = cli_fail(lib, rc);
        json_decref(s.list);
        shelf_library_close(lib);
        return ex;
    }
    if (c->json) {
        cli_print_json(json_pack("{s:s, s:I, s:I, s:{s:b, s:I, s:I}, s:o, s:s}", "library", shelf_library_path(lib),
                                 "samples", (json_int_t)total, "missing", (json_int_t)missing, "daemon", "running",
                                 running, "pid", (json_int_t)pid, "since", (json_int_t)since, "alerts", s.list,
                                 "worst", tool_severity_name(s.worst)));
    } else if (!s.worst) {
        printf("alerts   none: all is well\n");
    }
    shelf_library_close(lib);
    return s.worst == SHELF_ALERT_ERROR ? EXIT_ALERT : s.worst == SHELF_ALERT_WARNING ? EXIT_WARNING : EXIT_OK;
}
