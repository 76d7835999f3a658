/*
 * cmd_parchive.c: shelf project archive|unarchive|archives (auto-archive of
 * projects to a target by hand; the schedules' archive kind runs the same
 * library calls).  doc/service.md, "Auto-archive".
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include "cli.h"

typedef struct pui {
    const cli *c;
    cli_progress prog;
    char what[64];
} pui;

static int on_progress(void *ud, const shelf_archive_progress *p)
{
    pui *u = ud;
    char what[96];

    snprintf(what, sizeof what, "%s: %s", u->what, p->current ? p->current : "");
    cli_progress_draw(&u->prog, what, p->files_done, p->files_total, p->bytes_done, p->bytes_total);
    return cli_interrupted;
}

static json_t *stats_json(int64_t id, const shelf_project_archive_stats *st, int unarchive, int rc,
                          const char *msg)
{
    json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:I, s:I, s:I, s:f}", "project", (json_int_t)id,
                          "status", rc == SHELF_OK ? "ok" : "failed", "archive", st->name, "target",
                          st->target, "samples", (json_int_t)st->samples,
                          unarchive ? "restored" : "freed", (json_int_t)st->freed,
                          unarchive ? "restored_bytes" : "freed_bytes", (json_int_t)st->freed_bytes,
                          "seconds", st->seconds);

    if (o && !unarchive) {
        cli_json_check(json_object_set_new(o, "kept", json_integer((json_int_t)st->kept)));
        cli_json_check(json_object_set_new(o, "archive_bytes", json_integer((json_int_t)st->archive_bytes)));
        cli_json_check(json_object_set_new(o, "resumed", json_boolean(st->resumed)));
    }
    if (o && unarchive)
        cli_json_check(json_object_set_new(o, "repaired", json_boolean(st->repaired)));
    if (o && rc != SHELF_OK)
        cli_json_check(json_object_set_new(o, "error", json_string(msg)));
    return o;
}

/* shelf project archive ID... [--to TARGET] | unarchive ID... */
int cli_project_archive(const cli *c, shelf_library *lib, int unarchive, int argc, char **argv)
{
    static const struct option opts[] = {
        { "to", required_argument, NULL, 't' }, { "parity", required_argument, NULL, 'p' },
        { "no-parity", no_argument, NULL, 'P' }, { "keep-local", no_argument, NULL, 'k' },
        CLI_NET_LONGOPTS, { NULL, 0, NULL, 0 }
    };
    shelf_project_archive_opts o;
    shelf_transfer_opts xo;
    cli_net net;
    const char *to = NULL;
    json_t *arr = c->json ? json_array() : NULL;
    pui u;
    int ch, i, ex = EXIT_OK, worst = SHELF_OK;

    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    memset(&net, 0, sizeof net);
    FOR_OPTS(ch, argc, argv, "", opts) {
        char *end;

        switch (ch) {
        case 't': to = optarg; break;
        case 'k': o.keep_local = 1; break;
        case 'P': o.parity = -1; break;
        case 'p':
            o.parity = strtod(optarg, &end);
            if (end == optarg || (*end && strcmp(end, "%") != 0) || o.parity <= 0 || o.parity > 100) {
                cli_error("--parity takes a percentage above 0 and up to 100 ('10' or '10%%'), not '%s'", optarg);
                json_decref(arr);
                return EXIT_USAGE;
            }
            break;
        default:
            if (cli_net_opt(&net, ch, optarg) != EXIT_OK) {
                json_decref(arr);
                return EXIT_USAGE;
            }
        }
    }
    if (optind >= argc || (unarchive && (to || o.keep_local))) {
        cli_error(unarchive ? "usage: shelf project unarchive ID... [transfer options]"
                            : "usage: shelf project archive ID... [--to TARGET] [--parity N | --no-parity] "
                              "[--keep-local]");
        json_decref(arr);
        return EXIT_USAGE;
    }
    for (i = optind; i < argc; i++)
        if (!cli_parse_id(argv[i])) {
            cli_error("not a project id: '%s'", argv[i]);
            json_decref(arr);
            return EXIT_USAGE;
        }
    cli_net_transfer(&net, &xo);
    o.transfer = &xo;
    memset(&u, 0, sizeof u);
    u.c = c;
    o.progress = on_progress;
    o.ud = &u;
    cli_catch_signals();
    for (i = optind; i < argc && !cli_interrupted; i++) {
        shelf_project_archive_stats st;
        int64_t id = cli_parse_id(argv[i]);
        char b1[32], b2[32];
        int rc;

        memset(&st, 0, sizeof st);
        st.size = sizeof st;
        snprintf(u.what, sizeof u.what, "project %lld", (long long)id);
        cli_progress_start(&u.prog, c);
        rc = unarchive ? shelf_project_unarchive(lib, id, &o, &st) : shelf_project_archive(lib, id, to, &o, &st);
        cli_progress_end(&u.prog);
        if (rc != SHELF_OK) {
            cli_error("project %lld: %s", (long long)id, shelf_errmsg(lib));
            if (worst == SHELF_OK || rc != SHELF_ECANCELED)
                worst = rc;
        }
        if (arr) {
            cli_json_check(json_array_append_new(arr, stats_json(id, &st, unarchive, rc, shelf_errmsg(lib))));
        } else if (rc == SHELF_OK && !c->quiet && unarchive) {
            printf("project %lld: %llu sample%s brought back (%s) from %s archives/%s%s in %.1f s\n", (long long)id,
                   (unsigned long long)st.freed, st.freed == 1 ? "" : "s", cli_bytes(st.freed_bytes, b1), st.target,
                   st.name, st.repaired ? " (damaged there; mended from its parity)" : "", st.seconds);
        } else if (rc == SHELF_OK && !c->quiet) {
            printf("project %lld: archived to %s archives/%s (%s%s); %llu of %llu sample%s freed here (%s)",
                   (long long)id, st.target, st.name, cli_bytes(st.archive_bytes, b1),
                   st.resumed ? ", finishing an earlier run" : "", (unsigned long long)st.freed,
                   (unsigned long long)st.samples, st.samples == 1 ? "" : "s", cli_bytes(st.freed_bytes, b2));
            if (st.kept)
                printf(", %llu kept (changed since, or the medium cannot delete)", (unsigned long long)st.kept);
            printf(" in %.1f s\n", st.seconds);
        }
    }
    if (arr)
        cli_print_json(arr);
    if (cli_interrupted && worst == SHELF_OK)
        return EXIT_INTERRUPTED;
    ex = worst == SHELF_OK ? EXIT_OK : cli_exit_for(worst);
    return ex;
}

static int on_archived(void *ud, const shelf_project_archived *a)
{
    json_t *arr = ud;
    char when[32] = "-", b1[32], b2[32];

    if (arr)
        return json_array_append_new(arr, json_pack("{s:I, s:s, s:s, s:s, s:s, s:I, s:o, s:I, s:I, s:I, s:I}",
            "project", (json_int_t)a->project, "project_name", a->project_name, "state", a->state,
            "target", a->target, "archive", a->name, "started", (json_int_t)a->started,
            "archived", a->archived ? json_integer(a->archived) : json_null(),
            "bytes", (json_int_t)a->bytes, "samples", (json_int_t)a->samples,
            "freed", (json_int_t)a->freed, "freed_bytes", (json_int_t)a->freed_bytes)) != 0;
    if (a->archived) {
        time_t t = (time_t)a->archived;
        struct tm tm;

        strftime(when, sizeof when, "%Y-%m-%d", localtime_r(&t, &tm));
    }
    printf("%6lld  %-24s %-9s %s  %s archives/%s  %s, %llu/%llu samples freed (%s)\n", (long long)a->project,
           a->project_name, a->state, when, a->target, a->name, cli_bytes(a->bytes, b1),
           (unsigned long long)a->freed, (unsigned long long)a->samples, cli_bytes(a->freed_bytes, b2));
    return 0;
}

/* shelf project archives [ID] */
int cli_project_archives(const cli *c, shelf_library *lib, int argc, char **argv)
{
    json_t *arr = c->json ? json_array() : NULL;
    int64_t id = 0;
    int rc;

    if (argc > 2 || (argc == 2 && !(id = cli_parse_id(argv[1])))) {
        cli_error("usage: shelf project archives [ID]");
        json_decref(arr);
        return EXIT_USAGE;
    }
    if ((rc = shelf_project_archives(lib, id, on_archived, arr)) != SHELF_OK) {
        json_decref(arr);
        return cli_fail(lib, rc);
    }
    if (arr)
        cli_print_json(arr);
    return EXIT_OK;
}
