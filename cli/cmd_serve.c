/*
 * cmd_serve.c: `shelf serve`: its options, the repositories its restore
 * dialog offers (--repo and the library's schedules, with the passwords
 * known without a prompt), the one line that says where the server listens
 * (text or --json), --open, and the run of the server (server/server.h)
 * until SIGINT or SIGTERM.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <getopt.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include "cli.h"
#include "server.h"

extern char **environ;

typedef struct ready {
    const cli *c;
    int open;               /* --open */
    pid_t opener;           /* xdg-open, 0 when none was started */
} ready;

/* serve_run's on_ready, on the calling thread: the line, then --open. */
static void on_ready(void *ud, const char *url, int port, const char *token)
{
    ready *rd = ud;

    if (rd->c->json) {
        json_t *v = json_pack("{s:s, s:i, s:s}", "url", url, "port", port, "token", token);

        if (v)
            json_dumpf(v, stdout, JSON_COMPACT);
        json_decref(v);
        putchar('\n');
    } else {
        printf("shelf serve: %s\n", url);
    }
    if (fflush(stdout) != 0)
        cli_error("cannot write the address to standard output");
    if (rd->open) {
        /* xdg-open may be missing or fail: the address is printed anyway */
        const char *argv[] = { "xdg-open", url, NULL };
        posix_spawn_file_actions_t fa;

        if (posix_spawn_file_actions_init(&fa) == 0) {
            posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
            posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
            if (posix_spawnp(&rd->opener, "xdg-open", &fa, NULL, (char *const *)argv, environ) != 0)
                rd->opener = 0;
            posix_spawn_file_actions_destroy(&fa);
        }
    }
}

/* ---- the repositories of the restore dialog ---- */

/* Add target (from source) unless listed; its password from file, else
 * $env, else none (the page asks).  An exit status. */
static int repo_add(cli_serve_repos *rs, const char *target, const char *source, const char *file, const char *env)
{
    serve_repo_spec *v;
    char *pw = NULL, *t, *src;
    int ex;

    if (!target || !*target)
        return EXIT_OK;
    for (size_t i = 0; i < rs->n; i++)
        if (!strcmp(rs->v[i].target, target))
            return EXIT_OK;
    if ((ex = cli_repo_password(file, env, &pw)) != EXIT_OK)
        return ex;
    t = strdup(target);
    src = strdup(source);
    v = realloc(rs->v, (rs->n + 1) * sizeof *v);
    if (!t || !src || !v) {
        free(t);
        free(src);
        cli_wipe_free(pw);
        if (v)
            rs->v = v;
        cli_error("out of memory");
        return EXIT_FAIL;
    }
    rs->v = v;
    v[rs->n].target = t;
    v[rs->n].source = src;
    v[rs->n].password = pw;
    rs->n++;
    return EXIT_OK;
}

typedef struct sched_repos {
    cli_serve_repos *rs;
    int ex;
} sched_repos;

/* shelf_schedule_list's callback, on the calling thread: the repositories a
 * schedule names. */
static int sched_repo(void *ud, const shelf_schedule_info *s)
{
    sched_repos *sr = ud;
    json_t *opt = json_loads(s->options ? s->options : "{}", 0, NULL);
    char source[300];

    snprintf(source, sizeof source, "schedule %s", s->name);
    if (!strcmp(s->kind, "backup") || !strcmp(s->kind, "check") || !strcmp(s->kind, "test-restore") ||
        !strcmp(s->kind, "copy"))
        sr->ex = repo_add(sr->rs, s->target, source, json_string_value(json_object_get(opt, "password_file")),
                          "SHELF_PASSWORD");
    if (sr->ex == EXIT_OK && !strcmp(s->kind, "copy"))
        sr->ex = repo_add(sr->rs, json_string_value(json_object_get(opt, "to")), source,
                          json_string_value(json_object_get(opt, "to_password_file")), "SHELF_DST_PASSWORD");
    json_decref(opt);
    return sr->ex != EXIT_OK;
}

int cli_serve_repos_gather(shelf_library *lib, const char *const *targets, size_t n, const char *password_file,
                           cli_serve_repos *rs)
{
    sched_repos sr = { rs, EXIT_OK };
    int rc;

    memset(rs, 0, sizeof *rs);
    for (size_t i = 0; i < n; i++)
        if ((sr.ex = repo_add(rs, targets[i], "--repo", password_file, "SHELF_PASSWORD")) != EXIT_OK)
            return sr.ex;
    rc = shelf_schedule_list(lib, (int64_t)time(NULL), sched_repo, &sr);
    if (sr.ex != EXIT_OK)
        return sr.ex;
    if (rc != SHELF_OK)
        return cli_fail(lib, rc);
    return EXIT_OK;
}

void cli_serve_repos_free(cli_serve_repos *rs)
{
    for (size_t i = 0; i < rs->n; i++) {
        free((char *)rs->v[i].target);
        free((char *)rs->v[i].source);
        cli_wipe_free((char *)rs->v[i].password);
    }
    free(rs->v);
    memset(rs, 0, sizeof *rs);
}

int cmd_serve(const cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "port", required_argument, NULL, 'p' }, { "address", required_argument, NULL, 'a' },
        { "open", no_argument, NULL, 'o' }, { "no-preload", no_argument, NULL, 'P' },
        { "verbose", no_argument, NULL, 'v' }, { "repo", required_argument, NULL, 'r' },
        { "password-file", required_argument, NULL, 'F' }, CLI_NET_LONGOPTS, { NULL, 0, NULL, 0 }
    };
    ready rd = { c, 0, 0 };
    serve_opts o;
    shelf_library *lib;
    cli_serve_repos rs;
    cli_net net;
    const char **targets = NULL, *password_file = NULL;
    size_t ntargets = 0;
    char *msg = NULL;
    int ch, ex;

    memset(&o, 0, sizeof o);
    memset(&net, 0, sizeof net);
    o.port = SERVE_DEFAULT_PORT;
    o.preload = SERVE_PRELOAD_BACKGROUND;
    targets = calloc((size_t)argc + 1, sizeof *targets);
    if (!targets) {
        cli_error("out of memory");
        return EXIT_FAIL;
    }
    FOR_OPTS(ch, argc, argv, "vr:", longopts) {
        switch (ch) {
        case 'p':
        case 'a':
            if ((ex = cli_serve_opt(&o, ch, optarg)) != EXIT_OK) {
                free(targets);
                return ex;
            }
            break;
        case 'o': rd.open = 1; break;
        case 'P': o.preload = SERVE_PRELOAD_NONE; break;
        case 'v': o.verbose = 1; break;
        case 'r': targets[ntargets++] = optarg; break;
        case 'F': password_file = optarg; break;
        default:
            if (cli_net_opt(&net, ch, optarg) != EXIT_OK) {
                free(targets);
                return EXIT_USAGE;
            }
            break;
        }
    }
    if (optind != argc) {
        free(targets);
        cli_error("usage: shelf serve [--port N] [--address ADDR] [--open] [--no-preload] [-v] "
                  "[--repo TARGET]... [--password-file FILE]");
        return EXIT_USAGE;
    }
    if ((ex = cli_open(c, 0, &lib)) != EXIT_OK) {
        free(targets);
        return ex;
    }
    ex = cli_serve_repos_gather(lib, targets, ntargets, password_file, &rs);
    free(targets);
    if (ex != EXIT_OK) {
        cli_serve_repos_free(&rs);
        shelf_library_close(lib);
        return ex;
    }
    o.repos = rs.v;
    o.nrepos = rs.n;
    o.ca_file = net.ca_file;
    o.limit_upload = net.limit_up;
    o.limit_download = net.limit_down;
    o.connections = net.connections;
    o.on_ready = on_ready;
    o.ud = &rd;
    if (serve_run(lib, &o, &msg) != 0) {
        cli_error("%s", msg ? msg : "cannot start the server");
        ex = EXIT_FAIL;
    } else {
        fputs("shelf serve: stopped\n", stderr);
    }
    free(msg);
    cli_serve_repos_free(&rs);
    shelf_library_close(lib);
    if (rd.opener > 0)
        waitpid(rd.opener, NULL, WNOHANG);
    return ex;
}

int cli_serve_opt(serve_opts *o, int ch, const char *arg)
{
    unsigned char addr[sizeof(struct in6_addr)];
    char *end;
    long port;

    if (ch == 'p') {
        port = strtol(arg, &end, 10);
        if (!*arg || *end || port < 0 || port > 65535) {
            cli_error("invalid port '%s': 0 to 65535 (0: any free port)", arg);
            return EXIT_USAGE;
        }
        o->port = (int)port;
        return EXIT_OK;
    }
    if (inet_pton(AF_INET, arg, addr) != 1 && inet_pton(AF_INET6, arg, addr) != 1) {
        cli_error("invalid address '%s': a numeric IPv4 or IPv6 address", arg);
        return EXIT_USAGE;
    }
    o->address = arg;
    return EXIT_OK;
}
