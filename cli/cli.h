/*
 * cli.h: shared pieces of the `shelf` program.  The program uses only the
 * public API of libshelf (include/shelf/shelf.h).
 */
#ifndef SHELF_CLI_H
#define SHELF_CLI_H

#include <stdint.h>
#include <stdio.h>
#include <jansson.h>
#include "shelf/shelf.h"
#include "samples.h"     /* tools/: samples as JSON, note names, sort keys */

/* Exit statuses (documented in `shelf help` and doc/shelf.1). */
enum {
    EXIT_OK = 0,
    EXIT_FAIL = 1,          /* the command failed */
    EXIT_USAGE = 2,         /* bad command line or argument */
    EXIT_NOTFOUND = 3,      /* no such library, item or file */
    EXIT_PARTIAL = 4,       /* done, but some files failed (import) */
    EXIT_BUSY = 5,          /* the library is locked by another process */
    EXIT_VERSION = 6,       /* the library was written by a newer shelf */
    EXIT_CONFLICT = 7,      /* a merge has unresolved conflicts; nothing changed */
    EXIT_AUTH = 8,          /* wrong or missing password (backup repositories) */
    EXIT_UNREADABLE = 9,    /* a backup finished, but some samples could not be read */
    EXIT_SIGNATURE = 10,    /* a signature does not match, or --require-signed refused */
    EXIT_WARNING = 11,      /* status: the worst alert is a warning */
    EXIT_ALERT = 12,        /* status: an alert needs the musician now (an error) */
    EXIT_VERIFY = 16,       /* verify: 16 + 1 missing | 2 changed | 4 corrupt */
    EXIT_INTERRUPTED = 130  /* stopped by a signal; work so far is kept */
};

/* getopt_long over a command's arguments (argv[0] is the command); prints
 * usage errors itself ("shelf: unknown option ..."), returning '?'.  Options
 * may follow other arguments. */
struct option;
int cli_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts);
/* The transfer options of every command that reaches a repository or an
 * archive destination (a folder, s3:, webdav:, rclone: or a named
 * remote): --ca-file FILE, --limit-upload RATE, --limit-download RATE,
 * --connections N.  Put CLI_NET_LONGOPTS in a longopts array and pass each
 * option getopt returns to cli_net_opt. */
typedef struct cli_net {
    const char *ca_file;
    uint64_t limit_up, limit_down;  /* bytes per second; 0: none */
    int connections;                /* 0: the library's default */
} cli_net;
enum { CLI_OPT_CA_FILE = 0x1001, CLI_OPT_LIMIT_UP, CLI_OPT_LIMIT_DOWN, CLI_OPT_CONNECTIONS };
#define CLI_NET_LONGOPTS                                                               \
    { "ca-file", required_argument, NULL, CLI_OPT_CA_FILE },                           \
    { "limit-upload", required_argument, NULL, CLI_OPT_LIMIT_UP },                     \
    { "limit-download", required_argument, NULL, CLI_OPT_LIMIT_DOWN },                 \
    { "connections", required_argument, NULL, CLI_OPT_CONNECTIONS }
/* Take option ch (its value arg) into n: EXIT_OK, EXIT_USAGE with the
 * message printed for a bad value, or -1 when ch is none of them.  A RATE
 * is bytes per second with an optional K, M or G (1024-based): "10M". */
int cli_net_opt(cli_net *n, int ch, const char *arg);
/* The options of n as libshelf's transfer options (archive upload and
 * download, project archives). */
void cli_net_transfer(const cli_net *n, shelf_transfer_opts *o);
/* A byte count with an optional K, M, G or T suffix; 0 on success. */
int cli_parse_size(const char *s, uint64_t *out);

#define FOR_OPTS(c, argc, argv, shortopts, longopts) \
    for (optind = 0; ((c) = cli_getopt((argc), (argv), (shortopts), (longopts))) != -1;)

/* What every command gets. */
typedef struct cli {
    const char *library;    /* -L DIR, or NULL for the default */
    int json;               /* --json */
    int quiet;              /* -q */
    int tty;                /* stderr is a terminal: show progress */
} cli;

/* Print "shelf: <message>" to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Exit status for a libshelf result code. */
int cli_exit_for(int rc);
/* Report the library's last error and return the exit status for rc. */
int cli_fail(shelf_library *lib, int rc);
/* Open the library named by -L or the default; prints errors itself. */
int cli_open(const cli *c, int flags, shelf_library **lib);
/* Parse a sample id (a positive integer); 0 when s is not one. */
int64_t cli_parse_id(const char *s);
/* Resolve ID or PATH to a sample id; prints errors itself; returns exit status. */
int cli_resolve(shelf_library *lib, const char *arg, int64_t *id);

/* Set when SIGINT/SIGTERM arrive; long commands stop at the next step. */
extern volatile int cli_interrupted;
void cli_catch_signals(void);

/* Output of samples (as JSON: tool_sample_json with TOOL_SAMPLE_ALL). */
void cli_sample_line(FILE *f, const shelf_sample *s);
void cli_sample_long(FILE *f, const shelf_sample *s);
/* JSON text (any value, scalars too) parsed, or NULL. */
json_t *cli_json_parse(const char *text);
/* A file name for a line of text: escaped with SHELF_NAME_CONTROL (no
 * newline or terminal control gets out); owned (shelf_free), NULL on ENOMEM. */
char *cli_name_text(const char *s);
/* A whole file (or stdin for "-"), at most 64 MiB, as a NUL-terminated
 * string (free()); *len (may be NULL) its length.  NULL with errno set. */
char *cli_read_all(const char *path, size_t *len);
/* Print a JSON value to stdout followed by a newline, and free it.  When v
 * is NULL or a result passed to cli_json_check failed (memory ran out while
 * building the output), print "cannot print the JSON output: out of memory"
 * and exit 1 instead of printing a document with holes. */
void cli_print_json(json_t *v);
/* strerror(e) for a message: lowercase as the house style wants ("no space
 * left on device"); a static buffer, valid until the next call. */
const char *cli_errno_text(int e);
/* Note the result of a json_object_set*() / json_array_append*() call
 * (0 or -1) for cli_print_json. */
void cli_json_check(int r);
/* Print text on stderr with a caret under byte column pos (1-based), only
 * the part around it when text is long. */
void cli_show_column(const char *text, int pos);
/* A SHELF_FILE_ status as a word: "imported", "updated", "moved",
 * "missing", "differs", "failed", "unchanged". */
const char *cli_file_action(int status);
/* mkdir -p (mode 0777 before the umask); 0, or -1 with errno set. */
int cli_mkdirs(const char *path);
/* "1.2 MB" */
const char *cli_bytes(uint64_t n, char buf[32]);

/* A terminal progress line on stderr, redrawn in place. */
typedef struct cli_progress {
    int active;
    double start;
    int width;
} cli_progress;
void cli_progress_start(cli_progress *p, const cli *c);
void cli_progress_draw(cli_progress *p, const char *what, uint64_t done, uint64_t total,
                       uint64_t bytes_done, uint64_t bytes_total);
void cli_progress_end(cli_progress *p);
double cli_now(void);

/* shelf project archive|unarchive ID... and shelf project archives [ID]
 * (cmd_parchive.c); argv[0] is the subcommand. */
int cli_project_archive(const cli *c, shelf_library *lib, int unarchive, int argc, char **argv);
int cli_project_archives(const cli *c, shelf_library *lib, int argc, char **argv);

/* The loop of `shelf sync watch` (cmd_sync.c), which `shelf daemon` runs
 * on a thread of its own: catch up with every hub and peer, then push soon
 * after local changes (none for debounce s, or debounce x 10 after the
 * first) and pull every interval s, until *stop is set (NULL: until
 * cli_interrupted).  Each step is reported to report (NULL: the lines of
 * `shelf sync watch` on stdout); detail is stolen, error is NULL when rc
 * is SHELF_OK.  Returns SHELF_OK once stopped, or the code of a failure
 * of the library itself (a hub or peer that fails is reported and tried
 * again). */
#define CLI_SYNC_MAX 32
typedef void (*cli_sync_report)(void *ud, const char *what, const char *where, int rc, const char *error,
                                json_t *detail);
typedef struct cli_sync_watch {
    const char *const *hubs, *const *peers;   /* arrays of CLI_SYNC_MAX */
    int nhubs, npeers;
    double debounce, interval;
    _Atomic int *stop;
    cli_sync_report report;
    void *ud;
} cli_sync_watch;
int cli_sync_watch_run(const cli *c, shelf_library *lib, const cli_sync_watch *o);
/* Add a --hub (hub 1) or --peer target to o: EXIT_OK, or EXIT_USAGE said
 * when there are CLI_SYNC_MAX already. */
int cli_sync_target(cli_sync_watch *o, int hub, const char *target);
/* A number of seconds for option --opt, 0.05 to 86400: EXIT_OK or
 * EXIT_USAGE said. */
int cli_seconds_opt(const char *opt, const char *arg, double *out);

/* `shelf help`: the table of commands and exit statuses (help.c), as text
 * on f or, with --json, as JSON on stdout; returns the exit status. */
int cli_help(const cli *c, FILE *f);

/* How many preset files (what `shelf patch import` takes: .sfz, .xiz,
 * .xpf, .dspreset) paths name or hold. */
size_t cli_count_presets(char *const *paths, int n);

/* Commands: each returns an exit status. */
int cmd_init(const cli *c, int argc, char **argv);
int cmd_import(const cli *c, int argc, char **argv);
int cmd_info(const cli *c, int argc, char **argv);
int cmd_ls(const cli *c, int argc, char **argv);
int cmd_search(const cli *c, int argc, char **argv);
int cmd_tag(const cli *c, int argc, char **argv);
int cmd_rate(const cli *c, int argc, char **argv);
int cmd_fav(const cli *c, int argc, char **argv);
int cmd_touch(const cli *c, int argc, char **argv);
int cmd_rm(const cli *c, int argc, char **argv);
int cmd_verify(const cli *c, int argc, char **argv);
int cmd_gc(const cli *c, int argc, char **argv);
int cmd_vacuum(const cli *c, int argc, char **argv);
int cmd_purge(const cli *c, int argc, char **argv);
int cmd_db_backup(const cli *c, int argc, char **argv);
int cmd_stats(const cli *c, int argc, char **argv);
int cmd_collection(const cli *c, int argc, char **argv);
int cmd_synonyms(const cli *c, int argc, char **argv);
int cmd_dupes(const cli *c, int argc, char **argv);
int cmd_patch(const cli *c, int argc, char **argv);
int cmd_stream(const cli *c, int argc, char **argv);
int cmd_cache(const cli *c, int argc, char **argv);
int cmd_store(const cli *c, int argc, char **argv);
int cmd_project(const cli *c, int argc, char **argv);
int cmd_automation(const cli *c, int argc, char **argv);
int cmd_refs(const cli *c, int argc, char **argv);
int cmd_undo(const cli *c, int argc, char **argv);
int cmd_archive(const cli *c, int argc, char **argv);
int cmd_backup(const cli *c, int argc, char **argv);
int cmd_restore(const cli *c, int argc, char **argv);
int cmd_log(const cli *c, int argc, char **argv);
int cmd_remote(const cli *c, int argc, char **argv);
int cmd_device(const cli *c, int argc, char **argv);
int cmd_sync(const cli *c, int argc, char **argv);
int cmd_schedule(const cli *c, int argc, char **argv);
int cmd_setlist(const cli *c, int argc, char **argv);
int cmd_conflicts(const cli *c, int argc, char **argv);
int cmd_keys(const cli *c, int argc, char **argv);
int cmd_serve(const cli *c, int argc, char **argv);
/* --port N ('p') or --address ADDR ('a') of shelf serve and shelf daemon
 * --serve into o (server.h's serve_opts): EXIT_OK, or EXIT_USAGE said. */
struct serve_opts;
int cli_serve_opt(struct serve_opts *o, int ch, const char *arg);
/* The repositories the restore dialog of shelf serve offers: targets
 * (--repo, with the password of password_file or $SHELF_PASSWORD) and
 * those the library's schedules name (their password_file option, else
 * $SHELF_PASSWORD; a copy's destination to_password_file, else
 * $SHELF_DST_PASSWORD), each once; no password known leaves it to the page.
 * An exit status with the message printed; free with cli_serve_repos_free
 * either way (cmd_serve.c). */
struct serve_repo_spec;
typedef struct cli_serve_repos {
    struct serve_repo_spec *v;
    size_t n;
} cli_serve_repos;
int cli_serve_repos_gather(shelf_library *lib, const char *const *targets, size_t n, const char *password_file,
                           cli_serve_repos *rs);
void cli_serve_repos_free(cli_serve_repos *rs);
int cmd_daemon(const cli *c, int argc, char **argv);
int cmd_status(const cli *c, int argc, char **argv);
int cmd_watch(const cli *c, int argc, char **argv);
/* Signatures (cmd_keys.c): the trust class as a word ("self", "paired",
 * "trusted", "revoked", "unknown"); a signature as JSON (null when
 * unsigned); one line on f saying who signed and whether they are trusted. */
const char *cli_trust_name(int trust);
json_t *cli_signature_json(const shelf_signature *s);
void cli_signature_line(FILE *f, const char *what, const shelf_signature *s);
/* The signer of an export: none with no_sign, the key with (--sign-with),
 * else this device's (none, with a warning, when a read-only library has
 * no identity to sign with).  Returns an exit status (message printed). */
int cli_signer(shelf_library *lib, const char *with, int no_sign, const char *what, shelf_signer **out);
/* Classify sig in lib (lib may be NULL: unknown) and, with require, refuse
 * (SHELF_EPERM) what is unsigned or not trusted; else SHELF_OK. */
int cli_signature_check(shelf_library *lib, shelf_signature *sig, int require);

/* Open the backup repository target as the backup commands do (the
 * password from password_file, $SHELF_PASSWORD, else a prompt on the
 * terminal; the transfer options of net when not NULL); errors are printed.
 * An exit status (cmd_backup.c). */
int cli_repo_open(const cli *c, const char *target, const char *password_file, const cli_net *net,
                  shelf_repo **r);
/* A repository's password without asking anyone: the first line of file
 * when given, else $env when set and not empty, else *out NULL (none
 * known).  EXIT_OK, or an exit status with the message printed. */
int cli_repo_password(const char *file, const char *env, char **out);
/* Zero a password's bytes, then free it (NULL is a no-op). */
void cli_wipe_free(char *s);
/* A remote's terms as text lines on f, and as JSON (output.c). */
void cli_terms_text(FILE *f, const shelf_remote_terms *t);
json_t *cli_terms_json(const shelf_remote_terms *t);

/* Ask on the terminal (/dev/tty), without echo unless echo: the answer
 * from malloc, NULL when there is no terminal (cmd_remote.c; given to the
 * library by shelf_remote_set_prompt). */
char *cli_ask_secret(void *ud, const char *prompt, int echo);

#endif /* SHELF_CLI_H */
