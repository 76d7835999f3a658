/*
 * main.c: the `shelf` program: global options, command dispatch, help and
 * exit statuses.  One cmd_*.c per group of commands.
 */
#include <errno.h>
#include <locale.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"

volatile int cli_interrupted;

static void on_signal(int sig)
{
    (void)sig;
    cli_interrupted = 1;
}

void cli_catch_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

void cli_error(const char *fmt, ...)
{
    va_list ap;

    fputs("shelf: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int cli_exit_for(int rc)
{
    switch (rc) {
    case SHELF_OK: case SHELF_ROW: case SHELF_DONE: return EXIT_OK;
    case SHELF_EINVAL: return EXIT_USAGE;
    case SHELF_ENOTFOUND: return EXIT_NOTFOUND;
    case SHELF_EBUSY: return EXIT_BUSY;
    case SHELF_EVERSION: return EXIT_VERSION;
    case SHELF_ECANCELED: return EXIT_INTERRUPTED;
    case SHELF_ECONFLICT: return EXIT_CONFLICT;
    case SHELF_EAUTH: return EXIT_AUTH;
    }
    return EXIT_FAIL;
}

int cli_fail(shelf_library *lib, int rc)
{
    if (rc == SHELF_ECANCELED)
        cli_error("interrupted; work done so far is kept");
    else
        cli_error("%s", shelf_errmsg(lib));
    return cli_exit_for(rc);
}

/* An upgrade of the catalog that takes a while (migration 15 at a million
 * samples: 30 s) says how far it is on a terminal, and that it ended. */
typedef struct open_watch {
    const cli *c;
    shelf_open_progress last;
    int shown;
} open_watch;

static void on_open_progress(void *ud, const shelf_open_progress *p)
{
    open_watch *w = ud;
    char line[160];

    w->last = *p;
    if (!w->c->tty || w->c->quiet || (!w->shown && p->seconds < 0.5))
        return;
    w->shown = 1;
    if (p->total)
        snprintf(line, sizeof line, "upgrading the catalog (step %d of %d): %lld/%lld samples (%.0f%%), %.0f s",
                 p->step - p->from, p->to - p->from, (long long)p->done, (long long)p->total,
                 100.0 * (double)p->done / (double)p->total, p->seconds);
    else
        snprintf(line, sizeof line, "upgrading the catalog (step %d of %d), %.0f s", p->step - p->from,
                 p->to - p->from, p->seconds);
    fprintf(stderr, "\r%-79.79s", line);
    (void)fflush(stderr);   /* a progress line that does not show is not an error */
}

int cli_open(const cli *c, int flags, shelf_library **lib)
{
    char dir[4096], *msg = NULL;
    open_watch w = { c, { 0 }, 0 };
    int rc;

    if (c->library)
        snprintf(dir, sizeof dir, "%s", c->library);
    else if (shelf_default_dir(dir, sizeof dir) != SHELF_OK) {
        cli_error("no library folder: use -L DIR or set SHELF_LIBRARY");
        return EXIT_USAGE;
    }
    rc = shelf_library_open_cb(dir, flags, on_open_progress, &w, lib, &msg);
    if (w.shown)
        fprintf(stderr, "\r%-79s\rshelf: %s the catalog from schema %d to %d in %.0f s\n", "",
                rc == SHELF_OK ? "upgraded" : "could not upgrade", w.last.from, w.last.to, w.last.seconds);
    if (rc != SHELF_OK) {
        if (rc == SHELF_ENOTFOUND)
            cli_error("%s (create one with 'shelf init')", msg ? msg : shelf_strerror(rc));
        else
            cli_error("%s", msg ? msg : shelf_strerror(rc));
        shelf_free(msg);
        return cli_exit_for(rc);
    }
    return EXIT_OK;
}

int64_t cli_parse_id(const char *s)
{
    char *end;
    long long v;

    if (!*s || *s < '0' || *s > '9')
        return 0;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || *end || v <= 0)
        return 0;
    return (int64_t)v;
}

int cli_resolve(shelf_library *lib, const char *arg, int64_t *id)
{
    int rc;

    /* A number names an id, unless a file of that name is there. */
    if ((*id = cli_parse_id(arg)) != 0 && access(arg, F_OK) != 0)
        return EXIT_OK;
    rc = shelf_catalog_find_path(lib, arg, id);
    /* Not there as given: the escaped form the program prints
     * (shelf_name_escape) names the same file. */
    if (rc == SHELF_ENOTFOUND && shelf_name_needs_escape(arg, 0)) {
        char *raw = NULL;

        if (shelf_name_unescape(arg, &raw) == SHELF_OK && strcmp(raw, arg) != 0 &&
            shelf_catalog_find_path(lib, raw, id) == SHELF_OK)
            rc = SHELF_OK;
        else
            rc = shelf_catalog_find_path(lib, arg, id);     /* its message */
        shelf_free(raw);
    }
    if (rc != SHELF_OK)
        return cli_fail(lib, rc);
    return EXIT_OK;
}

static const struct command {
    const char *name;
    int (*run)(const cli *c, int argc, char **argv);
} commands[] = {
    { "init", cmd_init }, { "import", cmd_import }, { "info", cmd_info },
    { "ls", cmd_ls }, { "list", cmd_ls }, { "search", cmd_search }, { "tag", cmd_tag },
    { "rate", cmd_rate }, { "fav", cmd_fav }, { "touch", cmd_touch }, { "rm", cmd_rm },
    { "verify", cmd_verify }, { "gc", cmd_gc }, { "vacuum", cmd_vacuum }, { "purge", cmd_purge },
    { "db-backup", cmd_db_backup }, { "stats", cmd_stats }, { "collection", cmd_collection },
    { "synonyms", cmd_synonyms }, { "dupes", cmd_dupes },
    { "stream", cmd_stream }, { "cache", cmd_cache }, { "store", cmd_store },
    { "patch", cmd_patch }, { "project", cmd_project }, { "automation", cmd_automation },
    { "refs", cmd_refs }, { "undo", cmd_undo },
    { "archive", cmd_archive }, { "export-media", cmd_archive }, { "export-all", cmd_archive },
    { "backup", cmd_backup }, { "restore", cmd_restore }, { "log", cmd_log },
    { "remote", cmd_remote }, { "device", cmd_device },
    { "sync", cmd_sync }, { "schedule", cmd_schedule },
    { "setlist", cmd_setlist },
    { "conflicts", cmd_conflicts }, { "keys", cmd_keys }, { "serve", cmd_serve },
    { "daemon", cmd_daemon }, { "status", cmd_status },
    { "watch", cmd_watch },
};

/* Output that could not be written (a full disk, a closed pipe) makes a
 * command that succeeded fail instead of leaving a cut-off listing behind
 * (git: "write failure on standard output"). */
static int flush_stdout(int rc)
{
    int err = fflush(stdout) != 0 ? errno : 0;

    if (!err && !ferror(stdout))
        return rc;
    if (rc == EXIT_OK)
        cli_error("cannot write to standard output: %s", err ? cli_errno_text(err) : "write error");
    return rc == EXIT_OK ? EXIT_FAIL : rc;
}

int main(int argc, char **argv)
{
    cli c = { NULL, 0, 0, 0 };
    char **args = calloc((size_t)argc + 1, sizeof *args);
    int n = 0, i, rc;
    size_t k;

    if (!args)
        return EXIT_FAIL;
    /* Credentials leave the environment before anything runs (a child
     * process, /proc/PID/environ); the library keeps its copy. */
    shelf_remote_take_env();
    shelf_remote_set_prompt(cli_ask_secret, NULL);
    /* The user's character set for libarchive's name conversions (libshelf
     * itself writes archive names as UTF-8 in any locale).  LC_CTYPE only:
     * numbers in SFZ, CSV and messages keep a '.' whatever LC_NUMERIC says. */
    setlocale(LC_CTYPE, "");
    /* Global options may stand anywhere before "--".  After the command
     * only their exact spellings count: a query word such as '-Lofi' (a
     * negated word) belongs to the command, not to -L. */
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];

        if (!strcmp(a, "--")) {
            while (i < argc)
                args[n++] = argv[i++];
            break;
        } else if (!strcmp(a, "-L") || !strcmp(a, "--library")) {
            if (i + 1 >= argc) {
                cli_error("option '%s' needs a folder", a);
                free(args);
                return EXIT_USAGE;
            }
            c.library = argv[++i];
        } else if (!strncmp(a, "--library=", 10)) {
            c.library = a + 10;
        } else if (!strncmp(a, "-L", 2) && n == 0) {
            c.library = a + 2;
        } else if (!strcmp(a, "--json")) {
            c.json = 1;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            c.quiet = 1;
        } else {
            args[n++] = argv[i];
        }
    }
    c.tty = isatty(2) && !c.quiet && !c.json;
    if (n == 0) {
        cli_help(&c, stderr);
        free(args);
        return EXIT_USAGE;
    }
    if (!strcmp(args[0], "help") || !strcmp(args[0], "--help") || !strcmp(args[0], "-h")) {
        rc = cli_help(&c, stdout);
        free(args);
        return flush_stdout(rc);
    }
    if (!strcmp(args[0], "version") || !strcmp(args[0], "--version")) {
        if (c.json)
            cli_print_json(json_pack("{s:s}", "version", shelf_version()));
        else
            printf("shelf %s\n", shelf_version());
        free(args);
        return flush_stdout(EXIT_OK);
    }
    for (k = 0; k < sizeof commands / sizeof commands[0]; k++)
        if (!strcmp(args[0], commands[k].name)) {
            rc = commands[k].run(&c, n, args);
            free(args);
            return flush_stdout(rc);
        }
    cli_error("unknown command '%s' (see 'shelf help')", args[0]);
    free(args);
    return EXIT_USAGE;
}
