/*
 * args.c: command options through getopt_long, with errors in the
 * program's own format ("shelf: unknown option '--x'") instead of getopt's,
 * and the transfer options shared by the repository and archive commands.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

/* The long option of lo that an error is about: by name from arg ("--name"
 * or "--name=value"), NULL when there is none. */
static const struct option *long_named(const struct option *lo, const char *arg)
{
    size_t n = strcspn(arg + 2, "=");

    for (; lo && lo->name; lo++)
        if (strlen(lo->name) == n && !strncmp(lo->name, arg + 2, n))
            return lo;
    return NULL;
}

int cli_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts)
{
    const char *arg, *p;
    int ch;

    opterr = 0;
    ch = getopt_long(argc, argv, shortopts, longopts, NULL);
    if (ch != '?' && ch != ':')
        return ch;
    arg = optind > 0 && optind - 1 < argc ? argv[optind - 1] : "";
    if (!strncmp(arg, "--", 2)) {
        const struct option *o = long_named(longopts, arg);

        if (!o)
            cli_error("unknown option '%.*s' (see 'shelf help')", (int)strcspn(arg, "="), arg);
        else if (o->has_arg == required_argument)
            cli_error("option '--%s' needs a value", o->name);
        else
            cli_error("option '--%s' takes no value", o->name);
    } else if (optopt && optopt != ':' && (p = strchr(shortopts, optopt)) != NULL && p[1] == ':') {
        cli_error("option '-%c' needs a value", optopt);
    } else if (optopt) {
        cli_error("unknown option '-%c' (see 'shelf help')", optopt);
    } else {
        cli_error("unknown option '%s' (see 'shelf help')", arg);
    }
    return '?';
}

int cli_parse_size(const char *s, uint64_t *out)
{
    unsigned long long v;
    char *end;
    int shift = 0;

    *out = 0;
    if (!s || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno)
        return -1;
    switch (*end) {
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    case 't': case 'T': shift = 40; end++; break;
    default: break;
    }
    if (*end == 'B' || *end == 'b')
        end++;
    if (*end || (shift && v > (UINT64_MAX >> shift)))
        return -1;
    *out = (uint64_t)v << shift;
    return 0;
}

void cli_net_transfer(const cli_net *n, shelf_transfer_opts *o)
{
    memset(o, 0, sizeof *o);
    o->size = sizeof *o;
    o->ca_file = n->ca_file;
    o->limit_upload = n->limit_up;
    o->limit_download = n->limit_down;
    o->connections = n->connections;
}

int cli_net_opt(cli_net *n, int ch, const char *arg)
{
    uint64_t v;
    char *end;
    long c;

    switch (ch) {
    case CLI_OPT_CA_FILE:
        if (!*arg) {
            cli_error("option '--ca-file' needs a file");
            return EXIT_USAGE;
        }
        n->ca_file = arg;
        return EXIT_OK;
    case CLI_OPT_LIMIT_UP:
    case CLI_OPT_LIMIT_DOWN:
        if (cli_parse_size(arg, &v) != 0 || v == 0) {
            cli_error("invalid rate '%s' for '--%s': bytes per second, e.g. 500K or 10M", arg,
                      ch == CLI_OPT_LIMIT_UP ? "limit-upload" : "limit-download");
            return EXIT_USAGE;
        }
        if (ch == CLI_OPT_LIMIT_UP)
            n->limit_up = v;
        else
            n->limit_down = v;
        return EXIT_OK;
    case CLI_OPT_CONNECTIONS:
        errno = 0;
        c = strtol(arg, &end, 10);
        if (errno || *end || end == arg || c < 1 || c > 32) {
            cli_error("invalid --connections '%s': 1 to 32", arg);
            return EXIT_USAGE;
        }
        n->connections = (int)c;
        return EXIT_OK;
    default:
        return -1;
    }
}
