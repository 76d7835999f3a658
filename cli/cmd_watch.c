/*
 * cmd_watch.c: `shelf watch`: the library's watcher (shelf_watch_open,
 * include/shelf/service.h) in the foreground, one line per change to the
 * catalog and per note (text or --json), until SIGINT or SIGTERM.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

/* A line is written whole and at once: a reader of a pipe sees it now.  A
 * failed write shows in ferror(stdout), which main checks at the end. */
static void print_json_line(json_t *v)
{
    if (v && json_dumpf(v, stdout, JSON_COMPACT) == 0)
        (void)putchar('\n');
    json_decref(v);
    (void)fflush(stdout);
}

/* on_file, on this thread, inside shelf_watch_step. */
static void on_file(void *ud, int status, const char *path, int64_t id, const char *reason)
{
    const cli *c = ud;

    if (c->json) {
        json_t *v = json_pack("{s:s, s:o, s:I}", "action", cli_file_action(status), "path", tool_json_name(path),
                              "id", (json_int_t)id);

        if (v && reason && json_object_set_new(v, "reason", json_string(reason)) != 0) {
            json_decref(v);
            v = NULL;
        }
        print_json_line(v);
    } else {
        char *p = cli_name_text(path);

        (void)printf("%s %s%s%s\n", cli_file_action(status), p ? p : "?", reason ? ": " : "", reason ? reason : "");
        shelf_free(p);
        (void)fflush(stdout);
    }
}

/* on_note, on this thread. */
static void on_note(void *ud, const char *line)
{
    const cli *c = ud;

    if (c->json) {
        print_json_line(json_pack("{s:o}", "note", tool_json_name(line)));
    } else {
        char *p = cli_name_text(line);

        (void)printf("%s\n", p ? p : line);
        shelf_free(p);
        (void)fflush(stdout);
    }
}

static int parse_ms(const char *what, const char *s, int *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < 1 || v > 3600000) {
        cli_error("invalid %s '%s': milliseconds, 1 to 3600000", what, s);
        return EXIT_USAGE;
    }
    *out = (int)v;
    return EXIT_OK;
}

int cmd_watch(const cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "debounce", required_argument, NULL, 'd' }, { "poll", required_argument, NULL, 'p' },
        { "no-scan", no_argument, NULL, 'n' }, { NULL, 0, NULL, 0 }
    };
    shelf_watch_opts o;
    shelf_watch *w = NULL;
    shelf_library *lib;
    int ch, ex, rc;

    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    FOR_OPTS(ch, argc, argv, "", longopts) {
        switch (ch) {
        case 'd':
            if ((ex = parse_ms("--debounce", optarg, &o.debounce_ms)) != EXIT_OK)
                return ex;
            break;
        case 'p':
            if ((ex = parse_ms("--poll", optarg, &o.poll_ms)) != EXIT_OK)
                return ex;
            break;
        case 'n': o.flags |= SHELF_WATCH_NO_SCAN; break;
        default: return EXIT_USAGE;
        }
    }
    if (optind != argc) {
        cli_error("usage: shelf watch [--debounce MS] [--poll MS] [--no-scan]");
        return EXIT_USAGE;
    }
    if ((ex = cli_open(c, 0, &lib)) != EXIT_OK)
        return ex;
    o.on_file = on_file;
    o.on_note = on_note;
    o.ud = (void *)c;
    cli_catch_signals();
    if ((rc = shelf_watch_open(lib, &o, &w)) != SHELF_OK) {
        ex = cli_fail(lib, rc);
        goto out;
    }
    while (!cli_interrupted) {
        struct pollfd pfd = { shelf_watch_fd(w), POLLIN, 0 };

        if (poll(&pfd, 1, shelf_watch_timeout(w)) < 0 && errno != EINTR) {
            cli_error("cannot wait for events: %s", cli_errno_text(errno));
            ex = EXIT_FAIL;
            break;
        }
        if (cli_interrupted)
            break;
        if ((rc = shelf_watch_step(w)) != SHELF_OK) {
            ex = cli_fail(lib, rc);
            break;
        }
    }
out:
    shelf_watch_close(w);
    shelf_library_close(lib);
    return ex;
}
