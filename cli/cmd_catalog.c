/*
 * cmd_catalog.c: commands on samples: info, ls, search, tag, rate, fav,
 * touch, rm.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

static int parse_count(const char *what, const char *s, int64_t *out)
{
    char *end;
    long long v = strtoll(s, &end, 10);

    if (!*s || *end || v < 0) {
        cli_error("invalid %s '%s': a whole number 0 or more", what, s);
        return EXIT_USAGE;
    }
    *out = v;
    return EXIT_OK;
}

/* Print every row of a cursor as lines or one JSON array; returns exit status. */
static int print_cursor(const cli *c, shelf_library *lib, shelf_cursor *cur, int64_t *rows)
{
    const shelf_sample *s;
    json_t *arr = c->json ? json_array() : NULL;
    int rc;

    *rows = 0;
    while ((rc = shelf_cursor_next(cur, &s)) == SHELF_ROW) {
        if (arr)
            cli_json_check(json_array_append_new(arr, tool_sample_json(s, TOOL_SAMPLE_ALL)));
        else
            cli_sample_line(stdout, s);
        (*rows)++;
    }
    if (rc != SHELF_DONE) {
        json_decref(arr);
        return cli_fail(lib, rc);
    }
    if (arr)
        cli_print_json(arr);
    return EXIT_OK;
}

static int parse_sort(const char *arg, int *sort, int *descending);

int cmd_info(const cli *c, int argc, char **argv)
{
    shelf_library *lib;
    json_t *arr;
    int i, ex, worst = EXIT_OK;

    if (argc < 2) {
        cli_error("usage: shelf info ID|PATH...");
        return EXIT_USAGE;
    }
    if ((ex = cli_open(c, 0, &lib)) != EXIT_OK)
        return ex;
    arr = json_array();
    for (i = 1; i < argc; i++) {
        const shelf_sample *s;
        shelf_cursor *cur;
        int64_t id;
        int rc;

        if ((ex = cli_resolve(lib, argv[i], &id)) != EXIT_OK) {
            worst = ex;
            continue;
        }
        if ((rc = shelf_catalog_get(lib, id, &cur, &s)) != SHELF_OK) {
            worst = cli_fail(lib, rc);
            continue;
        }
        if (c->json) {
            cli_json_check(json_array_append_new(arr, tool_sample_json(s, TOOL_SAMPLE_ALL)));
        } else {
            if (i > 1)
                putchar('\n');
            cli_sample_long(stdout, s);
        }
        shelf_cursor_free(cur);
    }
    if (c->json)
        cli_print_json(json_array_size(arr) == 1 && argc == 2 ? json_incref(json_array_get(arr, 0))
                                                              : json_incref(arr));
    json_decref(arr);
    shelf_library_close(lib);
    return worst;
}

int cmd_ls(const cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "sort", required_argument, NULL, 's' }, { "reverse", no_argument, NULL, 'r' },
        { "limit", required_argument, NULL, 'n' }, { "offset", required_argument, NULL, 'o' },
        { "missing", no_argument, NULL, 'm' }, { "fav", no_argument, NULL, 'f' },
        { NULL, 0, NULL, 0 }
    };
    shelf_list_opts o;
    shelf_library *lib;
    shelf_cursor *cur;
    int64_t rows;
    int ch, rc, ex;

    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    FOR_OPTS(ch, argc, argv, "s:rn:o:", longopts) {
        switch (ch) {
        case 's':
            if (parse_sort(optarg, &o.sort, &o.descending) || o.sort == SHELF_SORT_RELEVANCE) {
                if (o.sort == SHELF_SORT_RELEVANCE)
                    cli_error("ls has no relevance: use search");
                return EXIT_USAGE;
            }
            break;
        case 'r': o.descending = !o.descending; break;
        case 'n': if (parse_count("limit", optarg, &o.limit)) return EXIT_USAGE; break;
        case 'o': if (parse_count("offset", optarg, &o.offset)) return EXIT_USAGE; break;
        case 'm': o.only_missing = 1; break;
        case 'f': o.only_favourites = 1; break;
        default: return EXIT_USAGE;
        }
    }
    if (optind != argc) {
        cli_error("usage: shelf ls [--sort KEY] [-r] [--limit N] [--offset N] [--missing] [--fav]");
        return EXIT_USAGE;
    }
    if ((ex = cli_open(c, 0, &lib)) != EXIT_OK)
        return ex;
    if ((rc = shelf_catalog_list(lib, &o, &cur)) != SHELF_OK)
        ex = cli_fail(lib, rc);
    else
        ex = print_cursor(c, lib, cur, &rows);
    shelf_cursor_free(cur);
    shelf_library_close(lib);
    return ex;
}

static int parse_sort(const char *arg, int *sort, int *descending)
{
    const char *name = arg;

    if (*name == '-') {
        *descending = !*descending;
        name++;
    }
    if ((*sort = tool_sort_key(name)) >= 0)
        return EXIT_OK;
    cli_error("unknown sort key '%s' (" TOOL_SORT_NAMES ")", arg);
    return EXIT_USAGE;
}

/* Join argv[first..argc) with spaces (owned). */
static char *join_args(int argc, char **argv, int first)
{
    size_t len = 1;
    char *text;
    int i;

    for (i = first; i < argc; i++)
        len += strlen(argv[i]) + 1;
    if (!(text = calloc(1, len)))
        return NULL;
    for (i = first; i < argc; i++) {
        strncat(text, argv[i], len - strlen(text) - 1);
        if (i + 1 < argc)
            strncat(text, " ", len - strlen(text) - 1);
    }
    return text;
}

/* Report a query error with a caret under its column. */
static int query_fail(shelf_library *lib, int rc, const char *query)
{
    int pos = shelf_query_errpos(lib);

    cli_error("%s", shelf_errmsg(lib));
    if (rc == SHELF_EINVAL && pos > 0)
        cli_show_column(query, pos);
    return cli_exit_for(rc);
}

/* Print a page of results with the count; returns exit status. */
static int print_page(const cli *c, shelf_library *lib, shelf_cursor *cur, const char *query,
                      int64_t total, int exact, int64_t offset)
{
    const shelf_sample *s;
    json_t *arr = c->json ? json_array() : NULL;
    int64_t rows = 0;
    int rc;

    while ((rc = shelf_cursor_next(cur, &s)) == SHELF_ROW) {
        if (arr)
            cli_json_check(json_array_append_new(arr, tool_sample_json(s, TOOL_SAMPLE_ALL)));
        else
            cli_sample_line(stdout, s);
        rows++;
    }
    if (rc != SHELF_DONE) {
        json_decref(arr);
        return cli_fail(lib, rc);
    }
    if (arr) {
        cli_print_json(json_pack("{s:o, s:I, s:b, s:I, s:o}", "query", tool_json_name(query), "total",
                                 (json_int_t)total, "exact", exact, "offset", (json_int_t)offset,
                                 "results", arr));
    } else if (!c->quiet) {
        if (fflush(stdout) != 0) {      /* the results first, then the count */
            cli_error("cannot write the results: %s", cli_errno_text(errno));
            return EXIT_FAIL;
        }
        fprintf(stderr, "%lld of %lld%s matches\n", (long long)rows, (long long)total,
                exact ? "" : "+");
    }
    return EXIT_OK;
}

/*
 * Split search's arguments into options and query words.  A query word may
 * start with '-' (a negation: -lofi, -snare), so only long options and the
 * short ones written alone (-r; -n N, -o N, -s KEY) are options; everything
 * after "--" is a word.  opts[0] is argv[0]; returns the count of each.
 */
static int search_run(const cli *c, int argc, char **argv, int nwords, char **words);

static void split_search_args(int argc, char **argv, char **opts, int *nopts, char **words,
                              int *nwords)
{
    static const char *const with_value[] = { "--limit", "--offset", "--sort", "--count-limit",
                                                "--max-values", NULL };
    int i, k;

    *nopts = *nwords = 0;
    opts[(*nopts)++] = argv[0];
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];

        if (!strcmp(a, "--")) {
            while (++i < argc)
                words[(*nwords)++] = argv[i];
            break;
        }
        if (!strncmp(a, "--", 2)) {
            opts[(*nopts)++] = argv[i];
            for (k = 0; with_value[k] && strcmp(a, with_value[k]) != 0; k++)
                ;
            if (with_value[k] && i + 1 < argc)
                opts[(*nopts)++] = argv[++i];
        } else if (!strcmp(a, "-r")) {
            opts[(*nopts)++] = argv[i];
        } else if (!strcmp(a, "-n") || !strcmp(a, "-o") || !strcmp(a, "-s")) {
            opts[(*nopts)++] = argv[i];
            if (i + 1 < argc)
                opts[(*nopts)++] = argv[++i];
        } else {
            words[(*nwords)++] = argv[i];
        }
    }
    opts[*nopts] = NULL;
}

int cmd_search(const cli *c, int argc, char **argv)
{
    int ex, nopts, nwords;
    char **opts = calloc((size_t)argc + 1, sizeof *opts), **words = calloc((size_t)argc + 1, sizeof *words);

    if (!opts || !words) {
        free(opts);
        free(words);
        return EXIT_FAIL;
    }
    split_search_args(argc, argv, opts, &nopts, words, &nwords);
    ex = search_run(c, nopts, opts, nwords, words);
    free(opts);
    free(words);
    return ex;
}

typedef struct facet_ui {
    const cli *c;
    json_t *all;            /* --json: facet -> [values] */
    char last[16];          /* text: the facet of the line before */
} facet_ui;

static void on_facet(void *ud, const shelf_facet *f)
{
    facet_ui *fu = ud;

    if (fu->all) {
        cli_json_check(tool_facet_add(fu->all, f));
        return;
    }
    if (fu->c->quiet)
        return;
    {
        char *value = cli_name_text(f->value), *filter = cli_name_text(f->filter);

        printf("%-10s %-24s %9lld  %s\n", !strcmp(fu->last, f->facet) ? "" : f->facet,
               value ? value : f->value, (long long)f->count, filter ? filter : f->filter);
        free(value);
        free(filter);
    }
    snprintf(fu->last, sizeof fu->last, "%s", f->facet);
}

static int search_run(const cli *c, int argc, char **argv, int nwords, char **words)
{
    static const struct option longopts[] = {
        { "limit", required_argument, NULL, 'n' }, { "offset", required_argument, NULL, 'o' },
        { "sort", required_argument, NULL, 's' }, { "reverse", no_argument, NULL, 'r' },
        { "count-limit", required_argument, NULL, 'C' }, { "check", no_argument, NULL, 'k' },
        { "facets", no_argument, NULL, 'F' }, { "max-values", required_argument, NULL, 'M' },
        { NULL, 0, NULL, 0 }
    };
    shelf_search_opts o;
    shelf_library *lib;
    shelf_cursor *cur = NULL;
    int64_t total = 0, v;
    char *text = NULL;
    int ch, rc, ex, exact = 1, check = 0, facets = 0, max_values = 0;

    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    FOR_OPTS(ch, argc, argv, "n:o:s:r", longopts) {
        switch (ch) {
        case 'n':
            if (parse_count("limit", optarg, &v))
                return EXIT_USAGE;
            o.limit = v ? v : -1;
            break;
        case 'o': if (parse_count("offset", optarg, &o.offset)) return EXIT_USAGE; break;
        case 's': if (parse_sort(optarg, &o.sort, &o.descending)) return EXIT_USAGE; break;
        case 'r': o.descending = !o.descending; break;
        case 'C':
            if (parse_count("count limit", optarg, &v))
                return EXIT_USAGE;
            o.count_limit = v ? v : -1;
            break;
        case 'k': check = 1; break;
        case 'F': facets = 1; break;
        case 'M':
            if (parse_count("max values", optarg, &v) || v > INT32_MAX)
                return EXIT_USAGE;
            max_values = v ? (int)v : -1;
            break;
        default: return EXIT_USAGE;
        }
    }
    if (optind < argc) {            /* a stray value after an option */
        cli_error("unexpected '%s' (see 'shelf help')", argv[optind]);
        return EXIT_USAGE;
    }
    if (nwords == 0 && !facets) {
        cli_error("usage: shelf search [--limit N] [--offset N] [--sort KEY] [-r] QUERY...");
        return EXIT_USAGE;
    }
    if (!(text = join_args(nwords, words, 0)))
        return EXIT_FAIL;
    if ((ex = cli_open(c, 0, &lib)) != EXIT_OK) {
        free(text);
        return ex;
    }
    if (check) {
        rc = shelf_query_check(lib, text);
    } else if (facets) {
        facet_ui fu = { c, c->json ? json_object() : NULL, "" };

        if (c->json && !fu.all)
            cli_json_check(-1);
        rc = shelf_search_facets(lib, text, max_values, on_facet, &fu);
        if (rc == SHELF_OK && fu.all)
            cli_print_json(json_pack("{s:o, s:o}", "query", tool_json_name(text), "facets", fu.all));
        else
            json_decref(fu.all);
    } else {
        rc = shelf_search(lib, text, &o, &cur, &total, &exact);
    }
    if (rc != SHELF_OK)
        ex = query_fail(lib, rc, text);
    else if (!check && !facets)
        ex = print_page(c, lib, cur, text, total, exact, o.offset);
    shelf_cursor_free(cur);
    shelf_library_close(lib);
    free(text);
    return ex;
}

/* What a per-sample function returns when it printed its error itself. */
#define RC_REPORTED 1000

/* Resolve argv[first..argc) and apply fn to each; returns the worst status.
 * With --json, prints {"command": what, "ids": [the samples done]} merged
 * with extra (owned), also after failures. */
static int each_sample(const cli *c, int argc, char **argv, int first,
                       int (*fn)(shelf_library *lib, int64_t id, void *ud), void *ud,
                       const char *what, json_t *extra)
{
    shelf_library *lib;
    json_t *done = json_array();
    int i, ex, worst = EXIT_OK, rc;
    int64_t id;

    if ((ex = cli_open(c, 0, &lib)) != EXIT_OK) {
        json_decref(done);
        json_decref(extra);
        return ex;
    }
    for (i = first; i < argc; i++) {
        if ((ex = cli_resolve(lib, argv[i], &id)) != EXIT_OK) {
            worst = ex;
            continue;
        }
        if ((rc = fn(lib, id, ud)) == RC_REPORTED)
            worst = EXIT_FAIL;          /* fn reported it */
        else if (rc != SHELF_OK)
            worst = cli_fail(lib, rc);
        else
            cli_json_check(json_array_append_new(done, json_integer(id)));
    }
    shelf_library_close(lib);
    if (c->json) {
        json_t *o = extra ? extra : json_object();

        cli_json_check(json_object_set_new(o, "command", json_string(what)));
        cli_json_check(json_object_set_new(o, "ids", done));
        cli_print_json(o);
    } else {
        json_decref(done);
        json_decref(extra);
    }
    return worst;
}

typedef struct tag_args {
    int add;
    char **tags;
    int ntags;
} tag_args;

static int do_tag(shelf_library *lib, int64_t id, void *ud)
{
    tag_args *t = ud;
    int i, rc;

    for (i = 0; i < t->ntags; i++) {
        rc = t->add ? shelf_tag_add(lib, id, t->tags[i]) : shelf_tag_remove(lib, id, t->tags[i]);
        if (rc != SHELF_OK)
            return rc;
    }
    return SHELF_OK;
}

int cmd_tag(const cli *c, int argc, char **argv)
{
    tag_args t;
    json_t *tags;
    int i;

    if (argc < 4 || (strcmp(argv[1], "add") != 0 && strcmp(argv[1], "rm") != 0)) {
        cli_error("usage: shelf tag add|rm ID|PATH TAG...");
        return EXIT_USAGE;
    }
    t.add = !strcmp(argv[1], "add");
    t.tags = argv + 3;
    t.ntags = argc - 3;
    tags = json_array();
    for (i = 0; i < t.ntags; i++)
        cli_json_check(json_array_append_new(tags, json_string(t.tags[i])));
    /* one sample, several tags */
    return each_sample(c, 3, argv, 2, do_tag, &t, t.add ? "tag add" : "tag rm",
                       json_pack("{s:o}", "tags", tags));
}

static int do_rate(shelf_library *lib, int64_t id, void *ud)
{
    return shelf_rate(lib, id, *(int *)ud);
}

int cmd_rate(const cli *c, int argc, char **argv)
{
    int rating;

    if (argc != 3 || strlen(argv[2]) != 1 || argv[2][0] < '0' || argv[2][0] > '5') {
        cli_error(argc == 3 ? "invalid rating '%s': 0 to 5" : "usage: shelf rate ID|PATH 0-5%s",
                  argc == 3 ? argv[2] : "");
        return EXIT_USAGE;
    }
    rating = argv[2][0] - '0';
    return each_sample(c, 2, argv, 1, do_rate, &rating, "rate", json_pack("{s:i}", "rating", rating));
}

static int do_fav(shelf_library *lib, int64_t id, void *ud)
{
    return shelf_favourite(lib, id, *(int *)ud);
}

/* Options of fav and rm, before or after the samples (as every command's). */
static int one_flag(int argc, char **argv, const char *shortopts, const struct option *longopts,
                    int *flag)
{
    int ch;

    *flag = 0;
    FOR_OPTS(ch, argc, argv, shortopts, longopts) {
        if (ch == '?')
            return EXIT_USAGE;
        *flag = 1;
    }
    return EXIT_OK;
}

int cmd_fav(const cli *c, int argc, char **argv)
{
    static const struct option longopts[] = { { "off", no_argument, NULL, 'x' }, { NULL, 0, NULL, 0 } };
    int off, on;

    if (one_flag(argc, argv, "", longopts, &off) != EXIT_OK)
        return EXIT_USAGE;
    if (optind >= argc) {
        cli_error("usage: shelf fav [--off] ID|PATH...");
        return EXIT_USAGE;
    }
    on = !off;
    return each_sample(c, argc, argv, optind, do_fav, &on, "fav", json_pack("{s:b}", "favourite", on));
}

static int do_touch(shelf_library *lib, int64_t id, void *ud)
{
    (void)ud;
    return shelf_touch(lib, id);
}

int cmd_touch(const cli *c, int argc, char **argv)
{
    if (argc < 2) {
        cli_error("usage: shelf touch ID|PATH...");
        return EXIT_USAGE;
    }
    return each_sample(c, argc, argv, 1, do_touch, NULL, "touch", NULL);
}

static int print_ref(void *ud, int kind, int64_t id, const char *name, int uses)
{
    (void)ud;
    (void)uses;
    fprintf(stderr, "  used by %s %lld  %s\n", kind == SHELF_DOC_PATCH ? "patch" : "project",
            (long long)id, name ? name : "");
    return 0;
}

static int do_rm(shelf_library *lib, int64_t id, void *ud)
{
    int rc = shelf_catalog_remove(lib, id, *(int *)ud ? SHELF_REMOVE_FORCE : 0);

    /* Say what would break, then the caller prints the error itself. */
    if (rc == SHELF_EINUSE) {
        char msg[1100];

        snprintf(msg, sizeof msg, "%s", shelf_errmsg(lib));
        shelf_refs(lib, 1, id, print_ref, NULL);
        cli_error("%s; --force removes it anyway", msg);
        return RC_REPORTED;   /* reported */
    }
    return rc;
}

int cmd_rm(const cli *c, int argc, char **argv)
{
    static const struct option longopts[] = { { "force", no_argument, NULL, 'f' }, { NULL, 0, NULL, 0 } };
    int force;

    if (one_flag(argc, argv, "f", longopts, &force) != EXIT_OK)
        return EXIT_USAGE;
    if (optind >= argc) {
        cli_error("usage: shelf rm [--force] ID|PATH...");
        return EXIT_USAGE;
    }
    return each_sample(c, argc, argv, optind, do_rm, &force, "rm", NULL);
}
