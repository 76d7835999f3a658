/*
 * cmd_serve.c: `shelf serve`: its options, the one line that says where the
 * server listens (text or --json), --open, and the run of the server
 * (server/server.h) until SIGINT or SIGTERM.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <getopt.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
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

int cmd_serve(const cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "port", required_argument, NULL, 'p' }, { "address", required_argument, NULL, 'a' },
        { "open", no_argument, NULL, 'o' }, { "no-preload", no_argument, NULL, 'P' },
        { "verbose", no_argument, NULL, 'v' }, { NULL, 0, NULL, 0 }
    };
    ready rd = { c, 0, 0 };
    serve_opts o;
    shelf_library *lib;
    char *msg = NULL;
    int ch, ex;

    memset(&o, 0, sizeof o);
    o.port = SERVE_DEFAULT_PORT;
    o.preload = SERVE_PRELOAD_BACKGROUND;
    FOR_OPTS(ch, argc, argv, "v", longopts) {
        switch (ch) {
        case 'p':
        case 'a':
            if ((ex = cli_serve_opt(&o, ch, optarg)) != EXIT_OK)
                return ex;
            break;
        case 'o': rd.open = 1; break;
        case 'P': o.preload = SERVE_PRELOAD_NONE; break;
        case 'v': o.verbose = 1; break;
        default: return EXIT_USAGE;
        }
    }
    if (optind != argc) {
        cli_error("usage: shelf serve [--port N] [--address ADDR] [--open] [--no-preload] [-v]");
        return EXIT_USAGE;
    }
    if ((ex = cli_open(c, 0, &lib)) != EXIT_OK)
        return ex;
    o.on_ready = on_ready;
    o.ud = &rd;
    if (serve_run(lib, &o, &msg) != 0) {
        cli_error("%s", msg ? msg : "cannot start the server");
        ex = EXIT_FAIL;
    } else {
        fputs("shelf serve: stopped\n", stderr);
    }
    free(msg);
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
