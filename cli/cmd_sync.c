/*
 * cmd_sync.c: sync between devices (doc/sync.md): the change log
 * (shelf sync log), what this device holds of every device's changes
 * (shelf sync status), the exchange with a paired device over the
 * network (shelf sync listen, shelf sync DEVICE|ADDRESS), and sync through
 * a hub (shelf sync push|pull HUB, shelf sync HUB).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "shelf/names.h"
#include "shelf/sync.h"
#include "cli.h"

/* How long shelf sync DEVICE listens for a device's announcement (it
 * announces every 5 s), and sync discover by default. */
#define DISCOVER_MS 6000

/* Options of shelf sync that apply changes (any subcommand): --max-delete
 * PCT (0 when not given), --files MODE (-1 when not given) and
 * --io-timeout S (0 when not given). */
static int max_delete;
static int files_mode = -1;
static int io_timeout;

static int open_for_sync(const cli *c, shelf_library **lib)
{
    int ex = cli_open(c, 0, lib);

    if (ex == EXIT_OK &&
        ((max_delete && shelf_sync_set_max_delete(*lib, max_delete) != SHELF_OK) ||
         (files_mode >= 0 && shelf_sync_set_files(*lib, files_mode) != SHELF_OK) ||
         (io_timeout && shelf_sync_set_io_timeout(*lib, io_timeout) != SHELF_OK))) {
        ex = cli_fail(*lib, SHELF_EINVAL);
        shelf_library_close(*lib);
        *lib = NULL;
    }
    return ex;
}

/* The value of option name at argv[*i] ("--name V" or "--name=V"), *i
 * moved past it; NULL when argv[*i] is another; "" when V is missing. */
static const char *opt_value(int argc, char **argv, int *i, const char *name)
{
    size_t n = strlen(name);

    if (!argv[*i] || strncmp(argv[*i], name, n) != 0)
        return NULL;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (argv[*i][n] != '\0')
        return NULL;
    return *i + 1 < argc ? argv[++*i] : "";
}

/* Take --max-delete PCT, --files MODE and --io-timeout S out of argv:
 * EXIT_OK, or EXIT_USAGE said. */
static int take_sync_opts(int *argc, char **argv)
{
    static const char *const modes[] = { "managed", "all", "none" };
    int i, k = 1, m;

    for (i = 1; i < *argc; i++) {
        const char *v;
        char *end;
        long n;

        if ((v = opt_value(*argc, argv, &i, "--max-delete"))) {
            n = strtol(v, &end, 10);
            if (end == v || *end || n < 1 || n > 100) {
                cli_error("invalid --max-delete '%s': a share of samples, 1 to 100 (percent)", v);
                return EXIT_USAGE;
            }
            max_delete = (int)n;
        } else if ((v = opt_value(*argc, argv, &i, "--io-timeout"))) {
            n = strtol(v, &end, 10);
            if (end == v || *end || n < 1 || n > 3600) {
                cli_error("invalid --io-timeout '%s': seconds, 1 to 3600", v);
                return EXIT_USAGE;
            }
            io_timeout = (int)n;
        } else if ((v = opt_value(*argc, argv, &i, "--files"))) {
            for (m = 0; m < 3 && strcmp(v, modes[m]) != 0; m++)
                ;
            if (m == 3) {
                cli_error("invalid --files '%s': managed, all or none", v);
                return EXIT_USAGE;
            }
            /* the order of modes[] is SHELF_SYNC_FILES_* */
            files_mode = m;
        } else {
            argv[k++] = argv[i];
        }
    }
    *argc = k;
    argv[k] = NULL;
    return EXIT_OK;
}

typedef struct log_ctx {
    const cli *c;
    json_t *arr;
    int64_t limit, shown;
} log_ctx;

/* "2026-12-04 21:03:05.123" (UTC) of Unix milliseconds. */
static const char *ms_text(int64_t ms, char buf[32])
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;

    if (!gmtime_r(&s, &tm) || strftime(buf, 24, "%Y-%m-%d %H:%M:%S", &tm) == 0)
        snprintf(buf, 32, "%lld", (long long)ms);
    else
        snprintf(buf + strlen(buf), 32 - strlen(buf), ".%03d", (int)(ms % 1000));
    return buf;
}

/* A record's value for a terminal: an added sample by its name, a
 * tombstone as "removed", anything else as its JSON. */
static void value_text(const shelf_change *ch)
{
    json_t *v = ch->value ? cli_json_parse(ch->value) : NULL;
    const char *name = json_is_object(v) ? json_string_value(json_object_get(v, "name")) : NULL;
    char *bytes = NULL, *shown = NULL;

    /* the record's names are escaped (names.h); shown with control
     * characters escaped too, as every listing shows names */
    if (name && shelf_name_unescape(name, &bytes) == SHELF_OK)
        shown = cli_name_text(bytes);
    if (!strcmp(ch->field, ".") && (!v || json_is_null(v)))
        printf("removed");
    else if (!strcmp(ch->field, ".") && shown)
        printf("added %s", shown);
    else
        printf("%s = %s", ch->field, ch->value ? ch->value : "null");
    shelf_free(bytes);
    shelf_free(shown);
    json_decref(v);
}

static int log_one(void *ud, const shelf_change *ch)
{
    log_ctx *l = ud;
    char t[32];

    if (l->limit && l->shown >= l->limit)
        return 1;
    l->shown++;
    if (l->arr) {
        json_t *o = json_pack("{s:s, s:I, s:I, s:I, s:s, s:s}", "device", ch->device, "counter",
                              (json_int_t)ch->counter, "hlc", (json_int_t)ch->hlc, "time_ms",
                              (json_int_t)ch->time_ms, "item", ch->item, "field", ch->field);
        json_t *v = ch->value ? cli_json_parse(ch->value) : json_null();

        if (o)
            cli_json_check(json_object_set_new(o, "value", v ? v : json_string(ch->value)));
        cli_json_check(json_array_append_new(l->arr, o));
        return 0;
    }
    /* a sample's hash shortened to 12 digits, as git shortens commits */
    printf("%s  %.7s #%-5lld  %.*s  ", ms_text(ch->time_ms, t), ch->device, (long long)ch->counter,
           ch->item[0] == 's' && ch->item[1] == ':' ? 14 : (int)strlen(ch->item), ch->item);
    value_text(ch);
    putchar('\n');
    return 0;
}

static int sync_log(const cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "device", required_argument, NULL, 'd' }, { "after", required_argument, NULL, 'a' },
        { "limit", required_argument, NULL, 'n' }, { NULL, 0, NULL, 0 }
    };
    const char *device = NULL;
    int64_t after = 0;
    log_ctx l = { c, NULL, 0, 0 };
    shelf_library *lib;
    int ch, rc, ex;

    FOR_OPTS(ch, argc, argv, "n:", longopts) {
        switch (ch) {
        case 'd': device = optarg; break;
        case 'a':
        case 'n': {
            int64_t v = cli_parse_id(optarg);

            if (v == 0 && strcmp(optarg, "0") != 0) {
                cli_error("invalid --%s '%s': not a whole number", ch == 'a' ? "after" : "limit",
                          optarg);
                return EXIT_USAGE;
            }
            if (ch == 'a')
                after = v;
            else
                l.limit = v;
            break;
        }
        default: return EXIT_USAGE;
        }
    }
    if (optind != argc || (after && !device)) {
        cli_error("usage: shelf sync log [--device ID [--after N]] [--limit N]");
        return EXIT_USAGE;
    }
    if ((ex = cli_open(c, 0, &lib)) != EXIT_OK)
        return ex;
    if (c->json && !(l.arr = json_array())) {
        shelf_library_close(lib);
        cli_error("out of memory");
        return EXIT_FAIL;
    }
    rc = shelf_sync_log(lib, device, after, log_one, &l);
    ex = rc == SHELF_OK || rc == 1 ? EXIT_OK : cli_fail(lib, rc);
    shelf_library_close(lib);
    if (l.arr && ex == EXIT_OK)
        cli_print_json(l.arr);
    else
        json_decref(l.arr);
    return ex;
}

typedef struct status_ctx {
    shelf_library *lib;
    const char *self;
    json_t *arr, *hubs;
    int64_t mine;               /* this device's changes */
} status_ctx;

static int status_one(void *ud, const char *device, int64_t counter)
{
    status_ctx *s = ud;
    shelf_peer p = { .size = sizeof p };
    int rc = shelf_device_lookup(s->lib, device, &p), me = !strcmp(device, s->self);
    const char *name = me ? "this device" : rc == SHELF_OK || rc == SHELF_EPERM ? p.name : "";

    if (me)
        s->mine = counter;
    if (s->arr) {
        cli_json_check(json_array_append_new(
            s->arr, json_pack("{s:s, s:s, s:I, s:b, s:b}", "device", device, "name", name, "changes",
                              (json_int_t)counter, "self", me, "revoked", rc == SHELF_EPERM)));
        return 0;
    }
    printf("%s  %8lld  %s%s\n", device, (long long)counter, name,
           rc == SHELF_EPERM ? " (removed)" : "");
    return 0;
}

/* "2026-12-05 03:10:00" (UTC) of Unix seconds, "never" for 0. */
static const char *when_text(int64_t t, char buf[32])
{
    return t ? ms_text(t * 1000, buf) : "never";
}

static int status_hub(void *ud, const shelf_hub_info *h)
{
    status_ctx *s = ud;
    int64_t waiting = s->mine > h->pushed ? s->mine - h->pushed : 0;
    char a[32], b[32];

    if (s->hubs) {
        json_t *o = json_pack("{s:s, s:I, s:I, s:I, s:I}", "target", h->target, "pushed",
                              (json_int_t)h->pushed, "waiting", (json_int_t)waiting, "last_push",
                              (json_int_t)h->last_push, "last_pull", (json_int_t)h->last_pull);

        if (o)
            cli_json_check(json_object_set_new(o, "last_error", h->last_error
                                                                    ? json_string(h->last_error)
                                                                    : json_null()));
        cli_json_check(json_array_append_new(s->hubs, o));
        return 0;
    }
    printf("hub %s  %lld to push  last push %s, last pull %s\n", h->target, (long long)waiting,
           when_text(h->last_push, a), when_text(h->last_pull, b));
    if (h->last_error)
        printf("  last error: %s\n", h->last_error);
    return 0;
}

static int count_conflict(void *ud, const shelf_conflict *c)
{
    (void)c;
    ++*(int64_t *)ud;
    return 0;
}

static int sync_status(const cli *c, int argc, char **argv)
{
    shelf_device_info me = { .size = sizeof me };
    status_ctx s = { NULL, me.id, NULL, NULL, 0 };
    int64_t conflicts = 0;
    int rc, ex;

    (void)argv;
    if (argc != 1) {
        cli_error("usage: shelf sync status");
        return EXIT_USAGE;
    }
    if ((ex = cli_open(c, 0, &s.lib)) != EXIT_OK)
        return ex;
    if (c->json && (!(s.arr = json_array()) || !(s.hubs = json_array()))) {
        shelf_library_close(s.lib);
        json_decref(s.arr);
        cli_error("out of memory");
        return EXIT_FAIL;
    }
    rc = shelf_device_self(s.lib, &me);
    if (rc == SHELF_OK)
        rc = shelf_sync_vector(s.lib, status_one, &s);
    if (rc == SHELF_OK)
        rc = shelf_sync_hubs(s.lib, status_hub, &s);
    if (rc == SHELF_OK)
        rc = shelf_sync_conflicts(s.lib, count_conflict, &conflicts);
    ex = rc == SHELF_OK ? EXIT_OK : cli_fail(s.lib, rc);
    shelf_library_close(s.lib);
    if (!s.arr && ex == EXIT_OK && conflicts)
        printf("%lld open conflicts (shelf conflicts)\n", (long long)conflicts);
    if (s.arr && ex == EXIT_OK)
        cli_print_json(json_pack("{s:o, s:o, s:I}", "devices", s.arr, "hubs", s.hubs, "conflicts",
                                 (json_int_t)conflicts));
    else {
        json_decref(s.arr);
        json_decref(s.hubs);
    }
    return ex;
}

static json_t *stats_json(const shelf_sync_stats *st)
{
    return json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "peer",
                     st->peer, "peer_name", st->peer_name, "sent", (json_int_t)st->sent,
                     "received", (json_int_t)st->received, "applied", (json_int_t)st->applied,
                     "lost", (json_int_t)st->lost, "skipped", (json_int_t)st->skipped,
                     "bytes_out", (json_int_t)st->bytes_out, "bytes_in",
                     (json_int_t)st->bytes_in, "files_out", (json_int_t)st->files_out,
                     "files_in", (json_int_t)st->files_in, "files_waiting",
                     (json_int_t)st->files_waiting, "waits", (json_int_t)st->waits);
}

static void stats_line(const shelf_sync_stats *st)
{
    char *name = cli_name_text(st->peer_name);

    printf("synced with %s (%.7s): sent %lld, received %lld, applied %lld", name ? name : "?",
           st->peer, (long long)st->sent, (long long)st->received, (long long)st->applied);
    if (st->lost)
        printf(", %lld kept over later changes (audit log)", (long long)st->lost);
    if (st->files_in || st->files_out)
        printf("; files sent %lld, received %lld", (long long)st->files_out,
               (long long)st->files_in);
    if (st->files_waiting)
        printf("; %lld files wanted here that the peer has not got", (long long)st->files_waiting);
    printf("\n");
    (void)fflush(stdout);
    free(name);
}

/* One JSON value on one line (a listener prints one per exchange). */
static void print_json_line(json_t *o)
{
    char *t = o ? json_dumps(o, JSON_COMPACT) : NULL;

    if (t)
        printf("%s\n", t);
    else
        cli_error("out of memory");
    free(t);
    json_decref(o);
    (void)fflush(stdout);
}

typedef struct listen_ctx {
    const cli *c;
    int failed;
    shelf_library *lib;
    int announce, announce_ms;
    shelf_announcer *announcer;
} listen_ctx;

static void on_ready(void *ud, const char *address)
{
    listen_ctx *l = ud;
    const char *colon = strrchr(address, ':');
    long port = colon ? strtol(colon + 1, NULL, 10) : 0;

    /* paired devices on the LAN find this one without an address */
    if (l->announce && port > 0 && port < 65536 &&
        shelf_sync_announce_start(l->lib, (int)port, l->announce_ms, &l->announcer) != SHELF_OK)
        cli_error("%s (devices must be given this one's address)", shelf_errmsg(l->lib));

    if (l->c->json) {
        print_json_line(json_pack("{s:s}", "listening", address));
    } else {
        printf("listening on %s\n", address);
        (void)fflush(stdout);
    }
}

static void on_session(void *ud, int rc, const char *errmsg, const shelf_sync_stats *st)
{
    listen_ctx *l = ud;

    if (rc != SHELF_OK) {
        l->failed = rc;
        cli_error("%s", errmsg ? errmsg : shelf_strerror(rc));
        return;
    }
    l->failed = 0;
    if (l->c->json)
        print_json_line(stats_json(st));
    else if (!l->c->quiet)
        stats_line(st);
}

static int sync_listen(const cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "address", required_argument, NULL, 'a' }, { "once", no_argument, NULL, 'o' },
        { "no-announce", no_argument, NULL, 'n' },
        { "announce-interval", required_argument, NULL, 'i' }, { NULL, 0, NULL, 0 }
    };
    shelf_sync_listen_opts o = { .size = sizeof o };
    listen_ctx l = { c, 0, NULL, 1, 0, NULL };
    shelf_library *lib;
    double every;
    char *end;
    int ch, rc, ex;

    FOR_OPTS(ch, argc, argv, "", longopts) {
        switch (ch) {
        case 'a': o.address = optarg; break;
        case 'o': o.once = 1; break;
        case 'n': l.announce = 0; break;
        case 'i':
            every = strtod(optarg, &end);
            if (end == optarg || *end || !(every >= 0.1 && every <= 3600)) {
                cli_error("invalid --announce-interval '%s': seconds, 0.1 to 3600", optarg);
                return EXIT_USAGE;
            }
            l.announce_ms = (int)(every * 1000);
            break;
        default: return EXIT_USAGE;
        }
    }
    if (optind != argc) {
        cli_error("usage: shelf sync listen [--address HOST:PORT] [--once] [--no-announce] "
                  "[--announce-interval S] [--io-timeout S]");
        return EXIT_USAGE;
    }
    if ((ex = open_for_sync(c, &lib)) != EXIT_OK)
        return ex;
    l.lib = lib;
    cli_catch_signals();
    o.stop = &cli_interrupted;
    o.ready = on_ready;
    o.session = on_session;
    o.ud = &l;
    rc = shelf_sync_listen(lib, &o);
    (void)shelf_sync_announce_stop(l.announcer);
    if (rc == SHELF_ECANCELED)
        ex = EXIT_INTERRUPTED;
    else if (rc != SHELF_OK && o.once && l.failed)
        ex = cli_exit_for(rc);      /* said by on_session */
    else
        ex = rc == SHELF_OK ? EXIT_OK : cli_fail(lib, rc);
    shelf_library_close(lib);
    return ex;
}

typedef struct find_ctx {
    const char *want;
    shelf_peer found;
    int n;
} find_ctx;

static int find_peer(void *ud, const shelf_peer *p)
{
    find_ctx *f = ud;

    if (!strcmp(p->name, f->want)) {
        f->found = *p;
        f->n++;
    }
    return 0;
}

typedef struct seek_ctx {
    const char *id;
    char address[64];
} seek_ctx;

static int seek_one(void *ud, const shelf_announce *a)
{
    seek_ctx *s = ud;

    if (strcmp(a->id, s->id) != 0)
        return 0;
    snprintf(s->address, sizeof s->address, "%s", a->address);
    return 1;
}

/* The address where paired device id announces itself on the LAN, within
 * timeout_ms; "" when it was not heard. */
static void seek(const char *id, int timeout_ms, char out[64])
{
    seek_ctx s = { id, "" };
    char *msg = NULL;

    if (shelf_sync_discover(timeout_ms, seek_one, &s, &msg) == SHELF_EIO)
        cli_error("%s", msg);
    shelf_free(msg);
    memcpy(out, s.address, sizeof s.address);
}

/* shelf sync DEVICE|ADDRESS: a paired device (by id or name) at the
 * address it was last reached (or, without one or when it cannot be
 * reached there, where it announces itself on the LAN), or an address. */
static int sync_with(const cli *c, const char *target)
{
    shelf_sync_stats st = { .size = sizeof st };
    shelf_peer p = { .size = sizeof p };
    find_ctx f = { target, { .size = 0 }, 0 };
    const char *address = target;
    char heard[64] = "";
    unsigned char sha[32];
    shelf_library *lib;
    int rc, ex;

    if ((ex = open_for_sync(c, &lib)) != EXIT_OK)
        return ex;
    rc = SHELF_OK;
    if (shelf_device_id_parse(target, sha) == SHELF_OK) {
        rc = shelf_device_lookup(lib, target, &p);
        if (rc == SHELF_ENOTFOUND || rc == SHELF_EPERM) {
            cli_error("device %s is %s", target, rc == SHELF_EPERM ? "removed"
                                                                   : "not paired (shelf device add)");
            shelf_library_close(lib);
            return cli_exit_for(rc);
        }
        f.n = rc == SHELF_OK;
        f.found = p;
    } else if (!strchr(target, ':')) {
        rc = shelf_device_list(lib, 0, find_peer, &f);
    }
    if (rc == SHELF_OK && f.n == 0 && !strchr(target, ':')) {
        cli_error("no paired device '%s' (give its name, its id or HOST:PORT)", target);
        shelf_library_close(lib);
        return EXIT_NOTFOUND;
    }
    if (rc == SHELF_OK && f.n > 1) {
        cli_error("%d paired devices are named '%s': give its id", f.n, target);
        shelf_library_close(lib);
        return EXIT_USAGE;
    }
    if (rc == SHELF_OK && f.n == 1) {
        if (!*f.found.address)
            seek(f.found.id, DISCOVER_MS, heard);
        if (!*f.found.address && !*heard) {
            cli_error("no address known for device %.7s (%s), and it was not heard on the "
                      "local network: give HOST:PORT", f.found.id, f.found.name);
            shelf_library_close(lib);
            return EXIT_NOTFOUND;
        }
        address = *heard ? heard : f.found.address;
    }
    if (rc == SHELF_OK)
        rc = shelf_sync_connect(lib, address, &st);
    /* not there any more: where does it announce itself now? */
    if (rc == SHELF_EIO && f.n == 1 && !*heard && st.received == 0 && st.sent == 0) {
        seek(f.found.id, DISCOVER_MS, heard);
        if (*heard && strcmp(heard, address) != 0) {
            st.size = sizeof st;
            rc = shelf_sync_connect(lib, heard, &st);
        }
    }
    ex = rc == SHELF_OK ? EXIT_OK : cli_fail(lib, rc);
    shelf_library_close(lib);
    if (ex != EXIT_OK)
        return ex;
    if (c->json)
        cli_print_json(stats_json(&st));
    else if (!c->quiet)
        stats_line(&st);
    return EXIT_OK;
}

typedef struct heard_ctx {
    const cli *c;
    shelf_library *lib;
    json_t *arr;
    char (*seen)[SHELF_DEVICE_ID_LEN + 1];
    size_t n;
} heard_ctx;

static int heard_one(void *ud, const shelf_announce *a)
{
    heard_ctx *h = ud;
    int paired, rc;
    char *name;
    size_t i;

    for (i = 0; i < h->n; i++)
        if (!strcmp(h->seen[i], a->id))
            return 0;
    if (h->n < 256)
        memcpy(h->seen[h->n++], a->id, sizeof a->id);
    rc = shelf_device_lookup(h->lib, a->id, NULL);
    paired = rc == SHELF_OK;
    if (h->arr) {
        cli_json_check(json_array_append_new(
            h->arr, json_pack("{s:s, s:s, s:s, s:b, s:b}", "id", a->id, "name", a->name, "address",
                              a->address, "paired", paired, "revoked", rc == SHELF_EPERM)));
        return 0;
    }
    name = cli_name_text(a->name);
    printf("%s  %-21s  %s%s\n", a->id, a->address, name ? name : "?",
           paired ? "" : rc == SHELF_EPERM ? "  (removed)" : "  (not paired)");
    (void)fflush(stdout);
    free(name);
    return 0;
}

/* shelf sync discover [--timeout S]: devices announcing on the LAN. */
static int sync_discover(const cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "timeout", required_argument, NULL, 't' }, { NULL, 0, NULL, 0 }
    };
    char seen[256][SHELF_DEVICE_ID_LEN + 1];
    heard_ctx h = { c, NULL, NULL, seen, 0 };
    double timeout = DISCOVER_MS / 1000.0;
    char *msg = NULL, *end;
    int ch, rc, ex;

    FOR_OPTS(ch, argc, argv, "", longopts) {
        switch (ch) {
        case 't':
            timeout = strtod(optarg, &end);
            if (end == optarg || *end || !(timeout > 0 && timeout <= 3600)) {
                cli_error("invalid --timeout '%s': seconds, up to 3600", optarg);
                return EXIT_USAGE;
            }
            break;
        default: return EXIT_USAGE;
        }
    }
    if (optind != argc) {
        cli_error("usage: shelf sync discover [--timeout S]");
        return EXIT_USAGE;
    }
    if ((ex = cli_open(c, 0, &h.lib)) != EXIT_OK)
        return ex;
    if (c->json && !(h.arr = json_array())) {
        shelf_library_close(h.lib);
        cli_error("out of memory");
        return EXIT_FAIL;
    }
    rc = shelf_sync_discover((int)(timeout * 1000), heard_one, &h, &msg);
    shelf_library_close(h.lib);
    if (rc != SHELF_OK) {
        cli_error("%s", msg ? msg : shelf_strerror(rc));
        shelf_free(msg);
        json_decref(h.arr);
        return cli_exit_for(rc);
    }
    if (h.arr)
        cli_print_json(h.arr);
    else if (h.n == 0 && !c->quiet)
        printf("no device heard in %g s\n", timeout);
    return EXIT_OK;
}

/* A hub rather than a device or HOST:PORT: a folder's path, a target
 * with its scheme, or a named remote as "remote:NAME". */
static int is_hub(const char *t)
{
    static const char *const schemes[] = { "dir:", "s3:", "s3+vhost:", "webdav:", "rclone:",
                                           "remote:" };
    size_t i;

    if (t[0] == '/' || t[0] == '.' || strstr(t, "://"))
        return 1;
    for (i = 0; i < sizeof schemes / sizeof schemes[0]; i++)
        if (!strncmp(t, schemes[i], strlen(schemes[i])))
            return 1;
    return 0;
}

static void hub_stats_add(json_t *o, const char *what, const shelf_hub_stats *st)
{
    json_t *v = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "pushed",
                          (json_int_t)st->pushed, "segments_out", (json_int_t)st->segments_out,
                          "pulled", (json_int_t)st->pulled, "segments_in",
                          (json_int_t)st->segments_in, "applied", (json_int_t)st->applied, "lost",
                          (json_int_t)st->lost, "skipped", (json_int_t)st->skipped, "devices",
                          (json_int_t)st->devices, "strangers", (json_int_t)st->strangers,
                          "bytes_out", (json_int_t)st->bytes_out, "bytes_in",
                          (json_int_t)st->bytes_in);

    if (v && (json_object_set_new(v, "keys_out", json_integer(st->keys_out)) != 0 ||
              json_object_set_new(v, "keys_in", json_integer(st->keys_in)) != 0 ||
              json_object_set_new(v, "compacted", json_integer(st->compacted)) != 0 ||
              json_object_set_new(v, "files_out", json_integer(st->files_out)) != 0 ||
              json_object_set_new(v, "files_in", json_integer(st->files_in)) != 0 ||
              json_object_set_new(v, "files_waiting", json_integer(st->files_waiting)) != 0 ||
              json_object_set_new(v, "scrubbed", json_integer(st->scrubbed)) != 0))
        cli_json_check(-1);

    cli_json_check(json_object_set_new(o, what, v));
}

static void hub_stats_line(const char *hub, int push, const shelf_hub_stats *st)
{
    if (push) {
        printf("pushed %lld changes to %s (%lld segments, %llu bytes)", (long long)st->pushed,
               hub, (long long)st->segments_out, (unsigned long long)st->bytes_out);
        if (st->files_out)
            printf("; %lld sample files", (long long)st->files_out);
        printf("\n");
        return;
    }
    printf("pulled %lld changes of %lld devices from %s (%lld segments, %llu bytes): applied %lld",
           (long long)st->pulled, (long long)st->devices, hub, (long long)st->segments_in,
           (unsigned long long)st->bytes_in, (long long)st->applied);
    if (st->lost)
        printf(", %lld kept over later changes (audit log)", (long long)st->lost);
    if (st->strangers)
        printf("; %lld folders of devices not paired here ignored", (long long)st->strangers);
    if (st->files_in)
        printf("; %lld sample files", (long long)st->files_in);
    if (st->files_waiting)
        printf("; %lld wanted files not on the hub", (long long)st->files_waiting);
    printf("\n");
}

/* shelf sync push|pull HUB, and shelf sync HUB (pull, then push). */
static int sync_hub(const cli *c, const char *hub, int pull, int push)
{
    shelf_hub_stats in = { .size = sizeof in }, out = { .size = sizeof out };
    shelf_library *lib;
    json_t *o = NULL;
    int rc = SHELF_OK, ex;

    if ((ex = open_for_sync(c, &lib)) != EXIT_OK)
        return ex;
    if (pull)
        rc = shelf_sync_pull(lib, hub, 0, &in);
    if (rc == SHELF_OK && push)
        rc = shelf_sync_push(lib, hub, 0, &out);
    ex = rc == SHELF_OK ? EXIT_OK : cli_fail(lib, rc);
    shelf_library_close(lib);
    if (ex != EXIT_OK)
        return ex;
    if (c->json) {
        if (!(o = json_pack("{s:s}", "hub", hub)))
            cli_json_check(-1);
        if (pull)
            hub_stats_add(o, "pull", &in);
        if (push)
            hub_stats_add(o, "push", &out);
        cli_print_json(o);
    } else if (!c->quiet) {
        if (pull)
            hub_stats_line(hub, 0, &in);
        if (push)
            hub_stats_line(hub, 1, &out);
        (void)fflush(stdout);
    }
    return EXIT_OK;
}

/* ---- shelf sync watch ---- */

typedef struct watch_ctx {
    const cli *c;
    shelf_library *lib;
    const cli_sync_watch *o;
    const char *self;
    int64_t mine;
    int failed;                 /* the last round had an error */
} watch_ctx;

static int watch_mine(void *ud, const char *device, int64_t counter)
{
    watch_ctx *w = ud;

    if (!strcmp(device, w->self))
        w->mine = counter;
    return 0;
}

static int stopping(const watch_ctx *w)
{
    return cli_interrupted || (w->o->stop && atomic_load(w->o->stop));
}

/* Sleep up to s seconds, in steps, unless stopped. */
static void nap(const watch_ctx *w, double s)
{
    double end = cli_now() + s;

    while (!stopping(w) && cli_now() < end)
        (void)usleep(50000);
}

/* How `shelf sync watch` reports a step: a line on stdout (JSON with
 * --json), errors on stderr. */
static void watch_print(const cli *c, const char *what, const char *where, int rc, const char *error,
                        json_t *detail)
{
    char t[32];

    if (rc != SHELF_OK)
        cli_error("%s %s: %s", what, where, error);
    if (c->json) {
        json_t *o = json_pack("{s:s, s:s, s:I, s:b}", "action", what, "target", where, "time",
                              (json_int_t)time(NULL), "ok", rc == SHELF_OK);

        if (o && detail)
            cli_json_check(json_object_update(o, detail));
        if (o && rc != SHELF_OK)
            cli_json_check(json_object_set_new(o, "error", json_string(error)));
        print_json_line(o);
    } else if (rc == SHELF_OK && !c->quiet) {
        printf("%s  %s %s", ms_text((int64_t)time(NULL) * 1000, t), what, where);
        if (detail) {
            const char *k;
            json_t *v;

            json_object_foreach(detail, k, v)
                if (json_integer_value(v))
                    printf(", %s %lld", k, (long long)json_integer_value(v));
        }
        printf("\n");
        (void)fflush(stdout);
    }
    json_decref(detail);
}

static void watch_say(watch_ctx *w, const char *what, const char *where, int rc, json_t *detail)
{
    if (rc != SHELF_OK)
        w->failed = 1;
    if (w->o->report)
        w->o->report(w->o->ud, what, where, rc, rc != SHELF_OK ? shelf_errmsg(w->lib) : NULL, detail);
    else
        watch_print(w->c, what, where, rc, rc != SHELF_OK ? shelf_errmsg(w->lib) : NULL, detail);
}

/* One round: pull (pull set) and push (push set) with every hub, and an
 * exchange with every peer (both ways at once). */
static void watch_round(watch_ctx *w, int pull, int push)
{
    int i, rc;

    w->failed = 0;
    for (i = 0; i < w->o->nhubs && !stopping(w); i++) {
        shelf_hub_stats st = { .size = sizeof st };

        if (pull) {
            rc = shelf_sync_pull(w->lib, w->o->hubs[i], SHELF_HUB_QUICK, &st);
            watch_say(w, "pull", w->o->hubs[i], rc,
                      json_pack("{s:I, s:I}", "pulled", (json_int_t)st.pulled, "applied",
                                (json_int_t)st.applied));
        }
        if (push) {
            st.size = sizeof st;
            rc = shelf_sync_push(w->lib, w->o->hubs[i], SHELF_HUB_QUICK, &st);
            watch_say(w, "push", w->o->hubs[i], rc,
                      json_pack("{s:I}", "pushed", (json_int_t)st.pushed));
        }
    }
    for (i = 0; i < w->o->npeers && !stopping(w); i++) {
        shelf_sync_stats st = { .size = sizeof st };

        rc = shelf_sync_connect(w->lib, w->o->peers[i], &st);
        watch_say(w, "sync", w->o->peers[i], rc,
                  json_pack("{s:I, s:I, s:I}", "sent", (json_int_t)st.sent, "received",
                            (json_int_t)st.received, "applied", (json_int_t)st.applied));
    }
}

int cli_sync_watch_run(const cli *c, shelf_library *lib, const cli_sync_watch *o)
{
    shelf_device_info me = { .size = sizeof me };
    watch_ctx w = { c, lib, o, me.id, 0, 0 };
    double first_change = 0, last_change = 0, next_pull;
    int64_t pushed, seen;
    int rc;

    if ((rc = shelf_device_self(lib, &me)) != SHELF_OK || (rc = shelf_sync_vector(lib, watch_mine, &w)) != SHELF_OK)
        return rc;
    /* catch up first: what came while this device was off, what it made */
    watch_round(&w, 1, 1);
    pushed = seen = w.mine;
    next_pull = cli_now() + o->interval;
    while (!stopping(&w)) {
        double now;

        nap(&w, o->debounce < 0.5 ? o->debounce : 0.5);
        if (stopping(&w))
            break;
        now = cli_now();
        if ((rc = shelf_sync_vector(lib, watch_mine, &w)) != SHELF_OK)
            return rc;
        if (w.mine != seen) {
            if (seen == pushed)
                first_change = now;
            seen = w.mine;
            last_change = now;
        }
        if (seen != pushed &&
            (now - last_change >= o->debounce || now - first_change >= o->debounce * 10)) {
            watch_round(&w, 0, 1);
            if (!w.failed)
                pushed = seen;
            else    /* one was not reached: try again in 10 s, not at once */
                first_change = last_change = now + 10;
        }
        if (now >= next_pull) {
            watch_round(&w, 1, 0);
            next_pull = now + o->interval;
        }
    }
    return SHELF_OK;
}

int cli_seconds_opt(const char *opt, const char *arg, double *out)
{
    char *end;
    double v = strtod(arg, &end);

    if (end == arg || *end || !(v >= 0.05 && v <= 86400)) {
        cli_error("invalid --%s '%s': seconds, 0.05 to 86400", opt, arg);
        return EXIT_USAGE;
    }
    *out = v;
    return EXIT_OK;
}

/*
 * shelf sync watch --hub HUB... --peer HOST:PORT...: push soon after local
 * changes (once none came for --debounce seconds, or --debounce x 10
 * after the first), pull every --interval seconds, until interrupted.  An
 * unreachable hub or peer is reported and tried again at the next round;
 * changes wait in the log meanwhile.
 */
static int sync_watch(const cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "hub", required_argument, NULL, 'h' }, { "peer", required_argument, NULL, 'p' },
        { "debounce", required_argument, NULL, 'd' },
        { "interval", required_argument, NULL, 'i' }, { NULL, 0, NULL, 0 }
    };
    const char *hubs[CLI_SYNC_MAX], *peers[CLI_SYNC_MAX];
    cli_sync_watch o = { hubs, peers, 0, 0, 2, 60, NULL, NULL, NULL };
    shelf_library *lib;
    int ch, rc, ex;

    FOR_OPTS(ch, argc, argv, "", longopts) {
        switch (ch) {
        case 'h':
        case 'p':
            if ((ex = cli_sync_target(&o, ch == 'h', optarg)) != EXIT_OK)
                return ex;
            break;
        case 'd':
            if ((ex = cli_seconds_opt("debounce", optarg, &o.debounce)) != EXIT_OK)
                return ex;
            break;
        case 'i':
            if ((ex = cli_seconds_opt("interval", optarg, &o.interval)) != EXIT_OK)
                return ex;
            break;
        default: return EXIT_USAGE;
        }
    }
    if (optind != argc || o.nhubs + o.npeers == 0) {
        cli_error("usage: shelf sync watch (--hub HUB | --peer HOST:PORT)... [--debounce S] "
                  "[--interval S]");
        return EXIT_USAGE;
    }
    if ((ex = open_for_sync(c, &lib)) != EXIT_OK)
        return ex;
    cli_catch_signals();
    if ((rc = cli_sync_watch_run(c, lib, &o)) != SHELF_OK) {
        ex = cli_fail(lib, rc);
        shelf_library_close(lib);
        return ex;
    }
    shelf_library_close(lib);
    return cli_interrupted ? EXIT_INTERRUPTED : EXIT_FAIL;
}

int cli_sync_target(cli_sync_watch *o, int hub, const char *target)
{
    if ((hub ? o->nhubs : o->npeers) == CLI_SYNC_MAX) {
        cli_error("at most %d --%s", CLI_SYNC_MAX, hub ? "hub" : "peer");
        return EXIT_USAGE;
    }
    if (hub)
        ((const char **)o->hubs)[o->nhubs++] = target;
    else
        ((const char **)o->peers)[o->npeers++] = target;
    return EXIT_OK;
}

int cmd_sync(const cli *c, int argc, char **argv)
{
    if (take_sync_opts(&argc, argv) != EXIT_OK)
        return EXIT_USAGE;
    if (argc < 2) {
        cli_error("usage: shelf sync log|status|listen|discover|watch|push HUB|pull HUB|HUB|DEVICE|ADDRESS ...");
        return EXIT_USAGE;
    }
    if (!strcmp(argv[1], "log"))
        return sync_log(c, argc - 1, argv + 1);
    if (!strcmp(argv[1], "status"))
        return sync_status(c, argc - 1, argv + 1);
    if (!strcmp(argv[1], "listen"))
        return sync_listen(c, argc - 1, argv + 1);
    if (!strcmp(argv[1], "discover"))
        return sync_discover(c, argc - 1, argv + 1);
    if (!strcmp(argv[1], "watch"))
        return sync_watch(c, argc - 1, argv + 1);
    if (argc == 3 && (!strcmp(argv[1], "push") || !strcmp(argv[1], "pull")))
        return sync_hub(c, argv[2], argv[1][1] == 'u' && argv[1][2] == 'l',
                        argv[1][1] == 'u' && argv[1][2] == 's');
    if (argc == 2 && is_hub(argv[1]))
        return sync_hub(c, argv[1], 1, 1);
    if (argc == 2 && argv[1][0] != '-')
        return sync_with(c, argv[1]);
    cli_error("usage: shelf sync log|status|listen|discover|watch|push HUB|pull HUB|HUB|DEVICE|ADDRESS ...");
    return EXIT_USAGE;
}
