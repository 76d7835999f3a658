/*
 * cmd_browse.c: collections, synonyms and duplicates.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

/* ----- collection ------------------------------------------------------------ */

typedef struct list_ui {
    const cli *c;
    json_t *arr;
} list_ui;

static void on_collection(void *ud, const char *name, const char *query, int64_t count)
{
    list_ui *ui = ud;

    if (ui->arr) {
        cli_json_check(json_array_append_new(ui->arr, tool_collection_json(name, query, count)));
        return;
    }
    if (query)
        printf("%-24s smart   %6lld  %s\n", name, (long long)count, query);
    else
        printf("%-24s manual  %6lld\n", name, (long long)count);
}

static int collection_show(const cli *c, shelf_library *lib, const char *name)
{
    shelf_cursor *cur;
    const shelf_sample *s;
    json_t *arr = c->json ? json_array() : NULL;
    int rc;

    if ((rc = shelf_collection_items(lib, name, NULL, &cur)) != SHELF_OK) {
        json_decref(arr);
        return cli_fail(lib, rc);
    }
    while ((rc = shelf_cursor_next(cur, &s)) == SHELF_ROW) {
        if (arr)
            cli_json_check(json_array_append_new(arr, tool_sample_json(s, TOOL_SAMPLE_ALL)));
        else
            cli_sample_line(stdout, s);
    }
    shelf_cursor_free(cur);
    if (rc != SHELF_DONE) {
        json_decref(arr);
        return cli_fail(lib, rc);
    }
    if (arr)
        cli_print_json(arr);
    return EXIT_OK;
}

int cmd_collection(const cli *c, int argc, char **argv)
{
    static const char usage[] =
        "usage: shelf collection new NAME [QUERY] | add [--at N] NAME ID|PATH... |\n"
        "       rm NAME ID|PATH... | delete NAME | ls | show NAME";
    shelf_library *lib;
    const char *verb = argc > 1 ? argv[1] : "";
    int ex, rc = SHELF_OK, i, at = -1, first = 3;
    int64_t id;

    if (!strcmp(verb, "add") && argc > 3 && !strcmp(argv[2], "--at")) {
        char *end;
        long v = strtol(argv[3], &end, 10);

        if (*end || v < 0 || v > 1000000000) {
            cli_error("invalid position '%s'", argv[3]);
            return EXIT_USAGE;
        }
        at = (int)v;
        argv += 2;
        argc -= 2;
    }
    if (!((!strcmp(verb, "new") && (argc == 3 || argc >= 4)) ||
          ((!strcmp(verb, "add") || !strcmp(verb, "rm")) && argc >= 4) ||
          ((!strcmp(verb, "delete") || !strcmp(verb, "show")) && argc == 3) ||
          (!strcmp(verb, "ls") && argc == 2))) {
        cli_error("%s", usage);
        return EXIT_USAGE;
    }
    if ((ex = cli_open(c, 0, &lib)) != EXIT_OK)
        return ex;
    if (!strcmp(verb, "ls")) {
        list_ui ui = { c, c->json ? json_array() : NULL };

        if ((rc = shelf_collection_list(lib, on_collection, &ui)) == SHELF_OK && ui.arr)
            cli_print_json(json_incref(ui.arr));
        json_decref(ui.arr);
    } else if (!strcmp(verb, "show")) {
        ex = collection_show(c, lib, argv[2]);
    } else if (!strcmp(verb, "new")) {
        char *query = NULL;

        if (argc >= 4) {
            size_t len = 1;

            for (i = 3; i < argc; i++)
                len += strlen(argv[i]) + 1;
            if (!(query = calloc(1, len))) {
                shelf_library_close(lib);
                return EXIT_FAIL;
            }
            for (i = 3; i < argc; i++) {
                strncat(query, argv[i], len - strlen(query) - 1);
                if (i + 1 < argc)
                    strncat(query, " ", len - strlen(query) - 1);
            }
        }
        rc = shelf_collection_new(lib, argv[2], query);
        if (rc == SHELF_EINVAL && query && shelf_query_errpos(lib) > 0) {
            cli_error("%s", shelf_errmsg(lib));
            cli_show_column(query, shelf_query_errpos(lib));
            ex = EXIT_USAGE;
            rc = SHELF_OK;
        }
        free(query);
    } else if (!strcmp(verb, "delete")) {
        rc = shelf_collection_delete(lib, argv[2]);
    } else {
        for (i = first; i < argc; i++) {
            if ((ex = cli_resolve(lib, argv[i], &id)) != EXIT_OK)
                break;
            rc = !strcmp(verb, "add") ? shelf_collection_add(lib, argv[2], id, at)
                                      : shelf_collection_remove(lib, argv[2], id);
            if (rc != SHELF_OK)
                break;
            if (at >= 0)
                at++;           /* several ids keep their order */
        }
    }
    if (rc != SHELF_OK)
        ex = cli_fail(lib, rc);
    else if (c->json && ex == EXIT_OK && strcmp(verb, "ls") != 0 && strcmp(verb, "show") != 0)
        cli_print_json(json_pack("{s:s, s:s}", "command", verb, "collection", argv[2]));
    shelf_library_close(lib);
    return ex;
}

/* ----- synonyms ---------------------------------------------------------------- */

typedef struct syn_ui {
    json_t *groups;        /* JSON: [[words]] */
    int64_t group;
    int any;
} syn_ui;

static void on_synonym(void *ud, int64_t group, const char *word)
{
    syn_ui *ui = ud;

    if (ui->groups) {
        if (group != ui->group || !json_array_size(ui->groups))
            cli_json_check(json_array_append_new(ui->groups, json_array()));
        cli_json_check(json_array_append_new(json_array_get(ui->groups, json_array_size(ui->groups) - 1),
                                             json_string(word)));
    } else {
        printf("%s%s", group != ui->group && ui->any ? "\n" : ui->any ? " = " : "", word);
    }
    ui->group = group;
    ui->any = 1;
}

int cmd_synonyms(const cli *c, int argc, char **argv)
{
    shelf_library *lib;
    const char *verb = argc > 1 ? argv[1] : "ls";
    int ex, rc;

    if (!((!strcmp(verb, "ls") && argc <= 2) || (!strcmp(verb, "add") && argc >= 4) ||
          (!strcmp(verb, "rm") && argc == 3))) {
        cli_error("usage: shelf synonyms [ls] | add WORD WORD... | rm WORD");
        return EXIT_USAGE;
    }
    if ((ex = cli_open(c, 0, &lib)) != EXIT_OK)
        return ex;
    if (!strcmp(verb, "ls")) {
        syn_ui ui = { c->json ? json_array() : NULL, 0, 0 };

        rc = shelf_synonyms_list(lib, on_synonym, &ui);
        if (rc == SHELF_OK) {
            if (ui.groups)
                cli_print_json(json_incref(ui.groups));
            else if (ui.any)
                putchar('\n');
        }
        json_decref(ui.groups);
    } else if (!strcmp(verb, "add")) {
        rc = shelf_synonyms_add(lib, (const char *const *)argv + 2, (size_t)(argc - 2));
    } else {
        rc = shelf_synonyms_remove(lib, argv[2]);
    }
    if (rc != SHELF_OK) {
        ex = cli_fail(lib, rc);
    } else if (c->json && strcmp(verb, "ls") != 0) {
        json_t *words = json_array();
        int i;

        for (i = 2; i < argc; i++)
            cli_json_check(json_array_append_new(words, json_string(argv[i])));
        cli_print_json(json_pack("{s:s, s:o}", "command", verb, "words", words));
    }
    shelf_library_close(lib);
    return ex;
}

/* ----- dupes ---------------------------------------------------------------- */

typedef struct dupes_ui {
    const cli *c;
    json_t *out;            /* {"bytes": [[rows]], "audio": ..., "name": ...} */
    int kind;
    int64_t group;
} dupes_ui;

static void on_dupe(void *ud, int kind, int64_t group, const shelf_sample *row)
{
    dupes_ui *ui = ud;

    if (ui->out) {
        json_t *groups = json_object_get(ui->out, tool_dupes_kind_name(kind));

        if (!groups) {
            groups = json_array();
            cli_json_check(json_object_set_new(ui->out, tool_dupes_kind_name(kind), groups));
        }
        if (kind != ui->kind || group != ui->group)
            cli_json_check(json_array_append_new(groups, json_array()));
        cli_json_check(json_array_append_new(json_array_get(groups, json_array_size(groups) - 1),
                                             tool_sample_json(row, TOOL_SAMPLE_ALL)));
    } else {
        if (kind != ui->kind)
            printf("%s== %s\n", ui->kind ? "\n" : "",
                   kind == SHELF_DUPES_BYTES ? "identical files"
                   : kind == SHELF_DUPES_AUDIO ? "the same audio in other files"
                                               : "the same name, other sound");
        else if (group != ui->group)
            putchar('\n');
        printf("%7lld  %s/%s\n", (long long)row->id, row->root, row->relpath);
    }
    ui->kind = kind;
    ui->group = group;
}

/* shelf dupes fold KEEP DUP...: fold duplicates into one sample. */
static int dupes_fold(const cli *c, int argc, char **argv)
{
    shelf_fold_stats st = { .size = sizeof st };
    shelf_library *lib;
    int64_t keep, *drop;
    int i, rc, ex;

    if (argc < 4) {
        cli_error("usage: shelf dupes fold KEEP ID|PATH...");
        return EXIT_USAGE;
    }
    if ((ex = cli_open(c, 0, &lib)) != EXIT_OK)
        return ex;
    if (!(drop = calloc((size_t)argc, sizeof *drop))) {
        shelf_library_close(lib);
        cli_error("out of memory");
        return EXIT_FAIL;
    }
    if ((ex = cli_resolve(lib, argv[2], &keep)) == EXIT_OK)
        for (i = 3; i < argc && ex == EXIT_OK; i++)
            ex = cli_resolve(lib, argv[i], &drop[i - 3]);
    if (ex == EXIT_OK && (rc = shelf_dupes_fold(lib, keep, drop, (size_t)argc - 3, &st)) != SHELF_OK)
        ex = cli_fail(lib, rc);
    if (ex == EXIT_OK) {
        if (c->json)
            cli_print_json(json_pack("{s:s, s:I, s:I, s:I, s:I}", "command", "dupes fold", "keep",
                                     (json_int_t)keep, "folded", (json_int_t)st.folded, "tags",
                                     (json_int_t)st.tags, "links", (json_int_t)st.links));
        else if (!c->quiet)
            printf("folded %llu sample%s into %lld (%llu tag%s gained, %llu patch or project use%s "
                   "moved)\n", (unsigned long long)st.folded, st.folded == 1 ? "" : "s",
                   (long long)keep, (unsigned long long)st.tags, st.tags == 1 ? "" : "s",
                   (unsigned long long)st.links, st.links == 1 ? "" : "s");
    }
    free(drop);
    shelf_library_close(lib);
    return ex;
}

int cmd_dupes(const cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "bytes", no_argument, NULL, 'b' }, { "audio", no_argument, NULL, 'a' },
        { "name", no_argument, NULL, 'n' }, { NULL, 0, NULL, 0 }
    };
    dupes_ui ui = { c, NULL, 0, 0 };
    shelf_library *lib;
    int ch, kinds = 0, rc, ex;

    if (argc > 1 && !strcmp(argv[1], "fold"))
        return dupes_fold(c, argc, argv);
    FOR_OPTS(ch, argc, argv, "ban", longopts) {
        switch (ch) {
        case 'b': kinds |= SHELF_DUPES_BYTES; break;
        case 'a': kinds |= SHELF_DUPES_AUDIO; break;
        case 'n': kinds |= SHELF_DUPES_NAME; break;
        default: return EXIT_USAGE;
        }
    }
    if (optind != argc) {
        cli_error("usage: shelf dupes [--bytes] [--audio] [--name]");
        return EXIT_USAGE;
    }
    if (!kinds)
        kinds = SHELF_DUPES_BYTES | SHELF_DUPES_AUDIO | SHELF_DUPES_NAME;
    if ((ex = cli_open(c, 0, &lib)) != EXIT_OK)
        return ex;
    if (c->json)
        ui.out = json_object();
    if ((rc = shelf_dupes(lib, kinds, on_dupe, &ui)) != SHELF_OK)
        ex = cli_fail(lib, rc);
    else if (ui.out)
        cli_print_json(json_incref(ui.out));
    else if (!ui.kind && !c->quiet)
        printf("no duplicates\n");
    json_decref(ui.out);
    shelf_library_close(lib);
    return ex;
}
