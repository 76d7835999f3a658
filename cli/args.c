/*
 * args.c: command options through getopt_long, with errors in the
 * program's own format ("shelf: unknown option '--x'") instead of getopt's.
 */
#include <getopt.h>
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
