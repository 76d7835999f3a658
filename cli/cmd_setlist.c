/*
 * cmd_setlist.c: shelf setlist new|add|drop|rm|ls|show|mirror|check|pin
 * (include/shelf/setlist.h; doc/streaming.md, "Set lists").
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "cli.h"

#define SETLIST_USAGE \
    "usage: shelf setlist new NAME | add NAME ITEM... [--at N] | drop NAME POSITION | rm NAME | ls |\n" \
    "       show NAME | mirror NAME DIR... [--no-fat] | check NAME DIR... | pin NAME [--off]\n" \
    "       (ITEM: project:ID or patch:ID)"

static int usage(void)
{
    cli_error(SETLIST_USAGE);
    return EXIT_USAGE;
}

/* "project:ID" or "patch:ID" -> kind and id; 0 when it is neither. */
static int parse_item(const char *arg, int *kind, int64_t *id)
{
    if (!strncmp(arg, "project:", 8)) {
        *kind = SHELF_DOC_PROJECT;
        *id = cli_parse_id(arg + 8);
    } else if (!strncmp(arg, "patch:", 6)) {
        *kind = SHELF_DOC_PATCH;
        *id = cli_parse_id(arg + 6);
    } else {
        return 0;
    }
    return *id > 0;
}

static int on_info(void *ud, const shelf_setlist_info *s)
{
    json_t *arr = ud;

    if (arr)
        return json_array_append_new(arr, json_pack("{s:I, s:s, s:I, s:I}", "id", (json_int_t)s->id, "name", s->name,
                                                    "created", (json_int_t)s->created, "items",
                                                    (json_int_t)s->items)) != 0;
    printf("%-32s %3lld item%s\n", s->name, (long long)s->items, s->items == 1 ? "" : "s");
    return 0;
}

static int on_item(void *ud, const shelf_setlist_item *it)
{
    json_t *arr = ud;
    const char *kind = it->kind == SHELF_DOC_PATCH ? "patch" : "project";

    if (arr)
        return json_array_append_new(arr, json_pack("{s:i, s:s, s:I, s:s, s:I}", "position", it->position, "kind",
                                                    kind, "id", (json_int_t)it->id, "name",
                                                    it->name ? it->name : "", "samples",
                                                    (json_int_t)it->samples)) != 0;
    printf("%3d  %-7s %6lld  %-32s %4lld samples\n", it->position, kind, (long long)it->id,
           it->name ? it->name : "?", (long long)it->samples);
    return 0;
}

typedef struct mui {
    cli_progress prog;
    const char *dir;
} mui;

static int on_progress(void *ud, const shelf_archive_progress *p)
{
    mui *u = ud;

    cli_progress_draw(&u->prog, u->dir, p->files_done, p->files_total, p->bytes_done, p->bytes_total);
    return cli_interrupted;
}

static int mirror(const cli *c, shelf_library *lib, int argc, char **argv)
{
    static const struct option opts[] = { { "no-fat", no_argument, NULL, 'F' }, { NULL, 0, NULL, 0 } };
    json_t *arr = c->json ? json_array() : NULL;
    int ch, i, fat = 1, worst = SHELF_OK;
    mui u;

    FOR_OPTS(ch, argc, argv, "", opts) {
        if (ch != 'F') {
            json_decref(arr);
            return EXIT_USAGE;
        }
        fat = 0;
    }
    if (argc - optind < 2) {
        json_decref(arr);
        return usage();
    }
    cli_catch_signals();
    for (i = optind + 1; i < argc && !cli_interrupted; i++) {
        shelf_setlist_mirror_stats st;
        char b[32];
        int rc;

        memset(&st, 0, sizeof st);
        st.size = sizeof st;
        u.dir = argv[i];
        cli_progress_start(&u.prog, c);
        rc = shelf_setlist_mirror(lib, argv[optind], argv[i], fat, on_progress, &u, &st);
        cli_progress_end(&u.prog);
        if (rc != SHELF_OK) {
            cli_error("%s: %s", argv[i], shelf_errmsg(lib));
            worst = worst == SHELF_OK ? rc : worst;
        }
        if (arr) {
            json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:f}", "medium", argv[i], "status",
                                  rc == SHELF_OK ? "ok" : "failed", "samples", (json_int_t)st.samples, "written",
                                  (json_int_t)st.written, "unchanged", (json_int_t)st.unchanged, "removed",
                                  (json_int_t)st.removed, "bytes_written", (json_int_t)st.bytes_written,
                                  "patches", (json_int_t)st.patches, "seconds", st.seconds);

            if (o && rc != SHELF_OK)
                cli_json_check(json_object_set_new(o, "error", json_string(shelf_errmsg(lib))));
            cli_json_check(json_array_append_new(arr, o));
        } else if (rc == SHELF_OK && !c->quiet) {
            printf("%s: %llu samples (%llu written, %s; %llu unchanged; %llu removed), %llu patches, in %.1f s\n",
                   argv[i], (unsigned long long)st.samples, (unsigned long long)st.written,
                   cli_bytes(st.bytes_written, b), (unsigned long long)st.unchanged,
                   (unsigned long long)st.removed, (unsigned long long)st.patches, st.seconds);
        }
    }
    if (arr)
        cli_print_json(arr);
    if (worst == SHELF_OK && cli_interrupted)
        return EXIT_INTERRUPTED;
    return cli_exit_for(worst);
}

typedef struct cui {
    const cli *c;
    json_t *problems;
    const char *dir;
} cui;

static void on_problem(void *ud, const char *problem, int64_t id, const char *name, const char *path)
{
    cui *u = ud;

    if (u->problems) {
        cli_json_check(json_array_append_new(u->problems, json_pack("{s:s, s:I, s:s, s:o}", "problem", problem,
                                                                    "id", (json_int_t)id, "name", name ? name : "",
                                                                    "path", path ? json_string(path) : json_null())));
        return;
    }
    if (!u->c->quiet) {
        char *n = cli_name_text(name ? name : "");

        printf("  %-8s sample %lld '%s'%s%s\n", problem, (long long)id, n ? n : "?", path ? " at " : "",
               path ? path : "");
        shelf_free(n);
    }
}

static int check(const cli *c, shelf_library *lib, int argc, char **argv)
{
    json_t *arr = c->json ? json_array() : NULL;
    int i, worst = SHELF_OK;

    if (argc < 3) {
        json_decref(arr);
        return usage();
    }
    for (i = 2; i < argc; i++) {
        shelf_setlist_check_stats st;
        cui u = { c, c->json ? json_array() : NULL, argv[i] };
        int rc;

        memset(&st, 0, sizeof st);
        st.size = sizeof st;
        if (!c->json && !c->quiet)
            printf("%s:\n", argv[i]);
        rc = shelf_setlist_check(lib, argv[1], argv[i], on_problem, &u, &st);
        if (rc != SHELF_OK && rc != SHELF_ECORRUPT)
            cli_error("%s", shelf_errmsg(lib));
        if (rc != SHELF_OK && (worst == SHELF_OK || worst == SHELF_ECORRUPT))
            worst = rc;
        if (arr) {
            cli_json_check(json_array_append_new(arr, json_pack(
                "{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:b, s:I, s:o}", "medium", argv[i], "status",
                rc == SHELF_OK ? "intact" : rc == SHELF_ECORRUPT ? "damaged" : "unreadable", "needed",
                (json_int_t)st.needed, "intact", (json_int_t)st.intact, "missing", (json_int_t)st.missing,
                "corrupt", (json_int_t)st.corrupt, "stale", (json_int_t)st.stale, "order", st.order, "bytes",
                (json_int_t)st.bytes, "problems", u.problems)));
        } else if (!c->quiet && (rc == SHELF_OK || rc == SHELF_ECORRUPT)) {
            printf("  %llu of %llu samples there and intact; %llu missing, %llu corrupt, %llu stale%s%s\n",
                   (unsigned long long)st.intact, (unsigned long long)st.needed, (unsigned long long)st.missing,
                   (unsigned long long)st.corrupt, (unsigned long long)st.stale,
                   st.order ? "" : "; the order on it is not the set's now",
                   st.intact < st.needed || !st.order ? " (shelf setlist mirror mends it)" : "");
        }
    }
    if (arr)
        cli_print_json(arr);
    /* damage is exit 1 ("the command failed" for a card that cannot be
     * trusted), no mirror there exit 3 */
    return cli_exit_for(worst);
}

int cmd_setlist(const cli *c, int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : "";
    shelf_library *lib;
    json_t *arr = NULL;
    int ex = EXIT_OK, rc = SHELF_OK, i;

    if (!*sub || !strcmp(sub, "help") || !strcmp(sub, "--help"))
        return usage();
    if ((ex = cli_open(c, 0, &lib)) != EXIT_OK)
        return ex;
    argc--;
    argv++;
    if (!strcmp(sub, "new") && argc == 2) {
        int64_t id = 0;

        if ((rc = shelf_setlist_new(lib, argv[1], &id)) == SHELF_OK) {
            if (c->json)
                cli_print_json(json_pack("{s:I, s:s}", "id", (json_int_t)id, "name", argv[1]));
            else if (!c->quiet)
                printf("set list '%s'\n", argv[1]);
        }
    } else if (!strcmp(sub, "add") && argc >= 3) {
        static const struct option opts[] = { { "at", required_argument, NULL, 'a' }, { NULL, 0, NULL, 0 } };
        int ch, at = 0, kind;
        int64_t id;
        char *end;

        FOR_OPTS(ch, argc, argv, "", opts) {
            if (ch != 'a' || (at = (int)strtol(optarg, &end, 10)) < 1 || *end) {
                if (ch == 'a')
                    cli_error("--at takes a position from 1, not '%s'", optarg);
                shelf_library_close(lib);
                return EXIT_USAGE;
            }
        }
        for (i = optind + 1; i < argc; i++)
            if (!parse_item(argv[i], &kind, &id)) {
                cli_error("not a set list item: '%s' (project:ID or patch:ID)", argv[i]);
                shelf_library_close(lib);
                return EXIT_USAGE;
            }
        for (i = optind + 1; i < argc && rc == SHELF_OK; i++) {
            parse_item(argv[i], &kind, &id);
            rc = shelf_setlist_add(lib, argv[optind], kind, id, at ? at + (i - optind - 1) : 0);
        }
    } else if (!strcmp(sub, "drop") && argc == 3) {
        int64_t pos = cli_parse_id(argv[2]);

        if (pos <= 0 || pos > 100000) {
            cli_error("not a position: '%s' (1, 2, ...; see shelf setlist show)", argv[2]);
            shelf_library_close(lib);
            return EXIT_USAGE;
        }
        rc = shelf_setlist_drop(lib, argv[1], (int)pos);
    } else if (!strcmp(sub, "rm") && argc == 2) {
        rc = shelf_setlist_remove(lib, argv[1]);
    } else if ((!strcmp(sub, "ls") || !strcmp(sub, "list")) && argc == 1) {
        arr = c->json ? json_array() : NULL;
        if ((rc = shelf_setlist_list(lib, on_info, arr)) == SHELF_OK && arr)
            cli_print_json(arr);
        else
            json_decref(arr);
    } else if (!strcmp(sub, "show") && argc == 2) {
        arr = c->json ? json_array() : NULL;
        if ((rc = shelf_setlist_items(lib, argv[1], on_item, arr)) == SHELF_OK && arr)
            cli_print_json(arr);
        else
            json_decref(arr);
    } else if (!strcmp(sub, "mirror")) {
        ex = mirror(c, lib, argc, argv);
        shelf_library_close(lib);
        return ex;
    } else if (!strcmp(sub, "check")) {
        ex = check(c, lib, argc, argv);
        shelf_library_close(lib);
        return ex;
    } else if (!strcmp(sub, "pin") && (argc == 2 || (argc == 3 && !strcmp(argv[2], "--off")))) {
        size_t n = 0;

        if ((rc = shelf_setlist_pin(lib, argv[1], argc == 2, &n)) == SHELF_OK) {
            if (c->json)
                cli_print_json(json_pack("{s:s, s:b, s:I}", "setlist", argv[1], "pinned", argc == 2, "samples",
                                         (json_int_t)n));
            else if (!c->quiet)
                printf("%s %zu samples of '%s'%s\n", argc == 2 ? "pinned" : "unpinned", n, argv[1],
                       argc == 2 ? ", in the set's order (loaded by the engine into its RAM cache)" : "");
        }
    } else {
        shelf_library_close(lib);
        return usage();
    }
    ex = rc == SHELF_OK ? EXIT_OK : cli_fail(lib, rc);
    shelf_library_close(lib);
    return ex;
}
