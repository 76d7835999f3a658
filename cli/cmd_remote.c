/*
 * cmd_remote.c: named remotes (shelf remote add|ls|rm|test|terms) and the
 * program's way of asking for a secret on the terminal (cli_ask_secret),
 * which the library uses through shelf_remote_set_prompt.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include "cli.h"

char *cli_ask_secret(void *ud, const char *prompt, int echo)
{
    struct termios old, quiet;
    char buf[1024];
    FILE *tty = fopen("/dev/tty", "r+");
    char *res = NULL;
    int restore = 0;

    (void)ud;
    if (!tty)
        return NULL;
    fputs(prompt, tty);
    (void)fflush(tty);
    if (!echo && tcgetattr(fileno(tty), &old) == 0) {
        quiet = old;
        quiet.c_lflag &= (tcflag_t)~ECHO;
        restore = tcsetattr(fileno(tty), TCSAFLUSH, &quiet) == 0;
    }
    if (fgets(buf, sizeof buf, tty)) {
        buf[strcspn(buf, "\r\n")] = '\0';
        res = strdup(buf);
    }
    if (restore) {
        (void)tcsetattr(fileno(tty), TCSAFLUSH, &old);
        fputc('\n', tty);
    }
    (void)fclose(tty);      /* read only by now */
    OPENSSL_cleanse(buf, sizeof buf);
    return res;
}

static const char *store_text(int store)
{
    return store == SHELF_SECRET_KEYRING ? "keyring" : store == SHELF_SECRET_FILE ? "file" : "none";
}

static int fail(int rc, char *msg)
{
    cli_error("%s", msg ? msg : shelf_strerror(rc));
    shelf_free(msg);
    return cli_exit_for(rc);
}

static int parse_bytes(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;
    uint64_t mul = 1;

    errno = 0;
    if (*s < '0' || *s > '9')
        return -1;
    v = strtoull(s, &end, 10);
    if (errno)
        return -1;
    if (*end == 'K' || *end == 'k')
        mul = 1024ull;
    else if (*end == 'M')
        mul = 1024ull * 1024;
    else if (*end == 'G')
        mul = 1024ull * 1024 * 1024;
    else if (*end == 'T')
        mul = 1024ull * 1024 * 1024 * 1024;
    if (mul > 1)
        end++;
    if (*end || (v && mul > UINT64_MAX / v))
        return -1;
    *out = (uint64_t)v * mul;
    return 0;
}

static int remote_add(const cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "ca-file", required_argument, NULL, 'c' }, { "region", required_argument, NULL, 'r' },
        { "budget", required_argument, NULL, 'b' }, { "store-secret", required_argument, NULL, 's' },
        { NULL, 0, NULL, 0 }
    };
    shelf_remote_opts o;
    shelf_remote_terms t;
    char *msg = NULL;
    int ch, rc;

    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    FOR_OPTS(ch, argc, argv, "", longopts) {
        switch (ch) {
        case 'c': o.ca_file = optarg; break;
        case 'r': o.region = optarg; break;
        case 'b':
            if (parse_bytes(optarg, &o.budget) != 0) {
                cli_error("invalid size '%s' (bytes, or a number with K, M, G or T)", optarg);
                return EXIT_USAGE;
            }
            break;
        case 's':
            if (!strcmp(optarg, "keyring"))
                o.store = SHELF_SECRET_KEYRING;
            else if (!strcmp(optarg, "file"))
                o.store = SHELF_SECRET_FILE;
            else {
                cli_error("invalid secret store '%s': keyring or file", optarg);
                return EXIT_USAGE;
            }
            break;
        default: return EXIT_USAGE;
        }
    }
    if (argc - optind != 2) {
        cli_error("usage: shelf remote add NAME URL [--ca-file F] [--region R] [--budget BYTES] "
                  "[--store-secret keyring|file]");
        return EXIT_USAGE;
    }
    if ((rc = shelf_remote_add(argv[optind], argv[optind + 1], &o, &msg)) != SHELF_OK)
        return fail(rc, msg);
    if ((rc = shelf_remote_terms_get(argv[optind], 1, &t, &msg)) != SHELF_OK)
        return fail(rc, msg);
    if (c->json) {
        json_t *v = json_pack("{s:s, s:s, s:o*}", "name", argv[optind], "url", argv[optind + 1],
                              "terms", cli_terms_json(&t));

        cli_print_json(v);
    } else if (!c->quiet) {
        printf("added '%s'\n", argv[optind]);
        cli_terms_text(stdout, &t);
    }
    shelf_remote_terms_release(&t);
    return EXIT_OK;
}

static int remote_ls(const cli *c)
{
    shelf_remote_info *list;
    char *msg = NULL;
    size_t n, i;
    int rc = shelf_remote_list(&list, &n, &msg);
    json_t *arr;

    if (rc != SHELF_OK)
        return fail(rc, msg);
    if (c->json) {
        arr = json_array();
        for (i = 0; arr && i < n; i++) {
            json_t *o = json_pack("{s:s, s:s, s:s}", "name", list[i].name, "url", list[i].url,
                                  "secret", store_text(list[i].store));

            if (o && list[i].ca_file)
                cli_json_check(json_object_set_new(o, "ca_file", json_string(list[i].ca_file)));
            if (o && list[i].region)
                cli_json_check(json_object_set_new(o, "region", json_string(list[i].region)));
            if (o && list[i].budget)
                cli_json_check(json_object_set_new(o, "budget",
                                                   json_integer((json_int_t)list[i].budget)));
            cli_json_check(o ? json_array_append_new(arr, o) : -1);
        }
        cli_print_json(arr);
    } else {
        for (i = 0; i < n; i++) {
            char *url = cli_name_text(list[i].url);

            printf("%s\t%s\tsecret: %s\n", list[i].name, url ? url : "?",
                   store_text(list[i].store));
            shelf_free(url);
        }
    }
    shelf_remote_list_free(list, n);
    return EXIT_OK;
}

/* ---- remote ls --snapshots: where the copies of each snapshot live ---- */

typedef struct where {
    json_t *runs;           /* origin run -> {"time", "copies": {repo: snapshot id}} */
    const char *repo;       /* the repository being listed */
} where;

static int where_one(void *ud, const shelf_snapinfo *si)
{
    where *w = ud;
    json_t *run;

    if (si->damaged || !si->origin || !*si->origin)
        return 0;
    if (!(run = json_object_get(w->runs, si->origin))) {
        run = json_pack("{s:I, s:{}}", "time", (json_int_t)si->time, "copies");
        cli_json_check(run ? json_object_set_new(w->runs, si->origin, run) : -1);
    }
    /* the earliest time: a copy's snapshot keeps its source's time */
    if (si->time < json_integer_value(json_object_get(run, "time")))
        cli_json_check(json_object_set_new(run, "time", json_integer(si->time)));
    cli_json_check(json_object_set_new(json_object_get(run, "copies"), w->repo, json_string(si->id)));
    return 0;
}

static int by_time(const void *a, const void *b)
{
    json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, "time"));
    json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, "time"));

    return x < y ? -1 : x > y;
}

/* The table: one line per backup run, oldest first, with each repository's
 * snapshot id (8 hex) or '-' where it has no copy. */
static void where_print(json_t *repos, json_t *rows)
{
    size_t i, k;
    json_t *row, *r;
    char t[32];

    printf("%-19s", "time");
    json_array_foreach(repos, k, r)
        if (json_is_true(json_object_get(r, "ok")))
            printf("  %-10s", json_string_value(json_object_get(r, "name")));
    putchar('\n');
    json_array_foreach(rows, i, row) {
        time_t tt = (time_t)json_integer_value(json_object_get(row, "time"));
        struct tm tm;

        localtime_r(&tt, &tm);
        strftime(t, sizeof t, "%Y-%m-%d %H:%M:%S", &tm);
        printf("%-19s", t);
        json_array_foreach(repos, k, r) {
            const char *id;

            if (!json_is_true(json_object_get(r, "ok")))
                continue;
            id = json_string_value(json_object_get(json_object_get(row, "copies"),
                                                   json_string_value(json_object_get(r, "name"))));
            printf("  %-10.8s", id ? id : "-");
        }
        putchar('\n');
    }
}

static int remote_where(const cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "snapshots", no_argument, NULL, 's' }, { "repo", required_argument, NULL, 'r' },
        { "password-file", required_argument, NULL, 'p' }, CLI_NET_LONGOPTS, { NULL, 0, NULL, 0 }
    };
    const char *pwfile = NULL, **extra = calloc((size_t)argc + 1, sizeof *extra);
    shelf_remote_info *list = NULL;
    json_t *repos = json_array(), *runs = json_object(), *rows = json_array(), *v;
    size_t n = 0, nextra = 0, i;
    cli_net net;
    char *msg = NULL;
    const char *key;
    int ch, rc, failed = 0, ex = EXIT_OK, snapshots = 0;

    memset(&net, 0, sizeof net);
    if (!extra || !repos || !runs || !rows) {
        cli_error("out of memory");
        ex = EXIT_FAIL;
        goto out;
    }
    FOR_OPTS(ch, argc, argv, "", longopts) {
        switch (ch) {
        case 's': snapshots = 1; break;
        case 'r': extra[nextra++] = optarg; break;
        case 'p': pwfile = optarg; break;
        default:
            if (cli_net_opt(&net, ch, optarg) != EXIT_OK) {
                ex = EXIT_USAGE;
                goto out;
            }
        }
    }
    if (optind != argc || !snapshots) {
        cli_error("usage: shelf remote ls --snapshots [--repo TARGET]... [--password-file F]");
        ex = EXIT_USAGE;
        goto out;
    }
    if ((rc = shelf_remote_list(&list, &n, &msg)) != SHELF_OK) {
        ex = fail(rc, msg);
        goto out;
    }
    for (i = 0; i < n + nextra; i++) {
        const char *name = i < n ? list[i].name : extra[i - n];
        where w = { runs, name };
        shelf_repo *r = NULL;
        json_t *o = json_pack("{s:s, s:b}", "name", name, "ok", 0);

        cli_json_check(o ? json_array_append_new(repos, o) : -1);
        /* one line on stderr for a repository that cannot be read; the others still count */
        if (cli_repo_open(c, name, pwfile, &net, &r) != EXIT_OK) {
            failed++;
            continue;
        }
        rc = shelf_snapshot_list(r, where_one, &w);
        if (rc != SHELF_OK) {
            cli_error("cannot list the snapshots of '%s': %s", name, shelf_repo_errmsg(r));
            failed++;
        } else if (o) {
            cli_json_check(json_object_set_new(o, "ok", json_true()));
        }
        shelf_repo_close(r);
    }
    json_object_foreach(runs, key, v) {
        json_t *missing = json_array();

        cli_json_check(json_object_set_new(v, "origin", json_string(key)));
        for (i = 0; missing && i < json_array_size(repos); i++) {
            json_t *r = json_array_get(repos, i);
            const char *name = json_string_value(json_object_get(r, "name"));

            if (json_is_true(json_object_get(r, "ok")) &&
                !json_object_get(json_object_get(v, "copies"), name))
                cli_json_check(json_array_append_new(missing, json_string(name)));
        }
        cli_json_check(missing ? json_object_set_new(v, "missing", missing) : -1);
        cli_json_check(json_array_append(rows, v));
    }
    if (json_array_size(rows) > 1) {
        json_t **tmp = malloc(json_array_size(rows) * sizeof(json_t *));
        size_t k, m = json_array_size(rows);

        if (tmp) {
            for (k = 0; k < m; k++)
                tmp[k] = json_incref(json_array_get(rows, k));
            qsort(tmp, m, sizeof(json_t *), by_time);
            json_array_clear(rows);
            for (k = 0; k < m; k++)
                cli_json_check(json_array_append_new(rows, tmp[k]));
            free(tmp);
        }
    }
    if (c->json) {
        cli_print_json(json_pack("{s:O, s:O}", "repositories", repos, "snapshots", rows));
    } else {
        where_print(repos, rows);
    }
    if (failed)
        ex = EXIT_PARTIAL;
out:
    if (list)
        shelf_remote_list_free(list, n);
    free(extra);
    json_decref(repos);
    json_decref(runs);
    json_decref(rows);
    return ex;
}

static int remote_rm(const cli *c, const char *name)
{
    char *msg = NULL;
    int rc = shelf_remote_rm(name, &msg);

    if (rc != SHELF_OK)
        return fail(rc, msg);
    if (c->json)
        cli_print_json(json_pack("{s:s, s:b}", "name", name, "removed", 1));
    else if (!c->quiet)
        printf("removed '%s' and its secret\n", name);
    return EXIT_OK;
}

static int remote_test(const cli *c, const char *target)
{
    char *msg = NULL;
    double ms = 0;
    int rc = shelf_remote_test(target, &ms, &msg);

    if (rc != SHELF_OK) {
        if (c->json) {
            cli_print_json(json_pack("{s:s, s:b, s:s}", "target", target, "ok", 0, "error",
                                     msg ? msg : shelf_strerror(rc)));
            shelf_free(msg);
            return cli_exit_for(rc);
        }
        return fail(rc, msg);
    }
    if (c->json)
        cli_print_json(json_pack("{s:s, s:b, s:f}", "target", target, "ok", 1, "ms", ms));
    else
        printf("ok: save, stat, load, list and remove of a probe on '%s' in %.0f ms\n", target, ms);
    return EXIT_OK;
}

static int remote_terms(const cli *c, const char *target)
{
    shelf_remote_terms t;
    char *msg = NULL;
    int rc = shelf_remote_terms_get(target, 1, &t, &msg);

    if (rc != SHELF_OK)
        return fail(rc, msg);
    if (c->json)
        cli_print_json(cli_terms_json(&t));
    else
        cli_terms_text(stdout, &t);
    shelf_remote_terms_release(&t);
    return EXIT_OK;
}

int cmd_remote(const cli *c, int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : NULL;

    if (sub && !strcmp(sub, "add"))
        return remote_add(c, argc - 1, argv + 1);
    if (sub && (!strcmp(sub, "ls") || !strcmp(sub, "list")) && argc == 2)
        return remote_ls(c);
    if (sub && (!strcmp(sub, "ls") || !strcmp(sub, "list")))
        return remote_where(c, argc - 1, argv + 1);
    if (sub && !strcmp(sub, "rm") && argc == 3)
        return remote_rm(c, argv[2]);
    if (sub && !strcmp(sub, "test") && argc == 3)
        return remote_test(c, argv[2]);
    if (sub && !strcmp(sub, "terms") && argc == 3)
        return remote_terms(c, argv[2]);
    cli_error("usage: shelf remote add NAME URL [options] | ls | rm NAME | test NAME|URL | "
              "terms NAME|URL");
    return EXIT_USAGE;
}
