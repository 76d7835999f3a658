/*
 * cmd_sync.c: sync between devices (doc/sync.md): the change log
 * (shelf sync log) and what this device holds of every device's changes
 * (shelf sync status).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "shelf/names.h"
#include "shelf/sync.h"
#include "cli.h"

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
    json_t *arr;
} status_ctx;

static int status_one(void *ud, const char *device, int64_t counter)
{
    status_ctx *s = ud;
    shelf_peer p = { .size = sizeof p };
    int rc = shelf_device_lookup(s->lib, device, &p), me = !strcmp(device, s->self);
    const char *name = me ? "this device" : rc == SHELF_OK || rc == SHELF_EPERM ? p.name : "";

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

static int sync_status(const cli *c, int argc, char **argv)
{
    shelf_device_info me = { .size = sizeof me };
    status_ctx s = { NULL, me.id, NULL };
    int rc, ex;

    (void)argv;
    if (argc != 1) {
        cli_error("usage: shelf sync status");
        return EXIT_USAGE;
    }
    if ((ex = cli_open(c, 0, &s.lib)) != EXIT_OK)
        return ex;
    if (c->json && !(s.arr = json_array())) {
        shelf_library_close(s.lib);
        cli_error("out of memory");
        return EXIT_FAIL;
    }
    rc = shelf_device_self(s.lib, &me);
    if (rc == SHELF_OK)
        rc = shelf_sync_vector(s.lib, status_one, &s);
    ex = rc == SHELF_OK ? EXIT_OK : cli_fail(s.lib, rc);
    shelf_library_close(s.lib);
    if (s.arr && ex == EXIT_OK)
        cli_print_json(s.arr);
    else
        json_decref(s.arr);
    return ex;
}

int cmd_sync(const cli *c, int argc, char **argv)
{
    if (argc < 2) {
        cli_error("usage: shelf sync log|status ...");
        return EXIT_USAGE;
    }
    if (!strcmp(argv[1], "log"))
        return sync_log(c, argc - 1, argv + 1);
    if (!strcmp(argv[1], "status"))
        return sync_status(c, argc - 1, argv + 1);
    cli_error("unknown sync command '%s' (log, status)", argv[1]);
    return EXIT_USAGE;
}
