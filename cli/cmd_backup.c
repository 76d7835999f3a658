/*
 * cmd_backup.c: backup repositories (shelf backup init|list|show|diff|
 * check|forget|prune|test-restore|key, shelf backup TARGET), shelf restore
 * and shelf log.  The repository is the first argument, unless -r TARGET or
 * $SHELF_REPOSITORY names it.  Passwords come from --password-file, then
 * $SHELF_PASSWORD, then a prompt on the terminal without echo.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"

/* Options shared by the repository commands. */
typedef struct repo_args {
    const char *target;
    const char *password_file;
    char *password;         /* owned, wiped on release */
    char cache[4200];       /* the library's cache folder, "" when none */
    cli_net net;            /* --ca-file, --limit-upload, ... */
    const char *env;        /* the password's variable; NULL: SHELF_PASSWORD */
} repo_args;

/* The transfer options of ra into o. */
static void net_into(const repo_args *ra, shelf_repo_opts *o)
{
    o->ca_file = ra->net.ca_file;
    o->limit_upload = ra->net.limit_up;
    o->limit_download = ra->net.limit_down;
    o->connections = ra->net.connections;
}

void cli_wipe_free(char *s)
{
    if (s) {
        volatile char *p = s;

        while (*p)
            *p++ = 0;
        free(s);
    }
}

/*
 * Add v to the --json list arr, or set o's key k to v.  Out of memory ends
 * the command with status 1 (git's die): a list with a hole would lie.
 */
static void jadd(json_t *arr, json_t *v)
{
    if (json_array_append_new(arr, v) != 0) {
        cli_error("out of memory");
        exit(EXIT_FAIL);
    }
}

static void jset(json_t *o, const char *k, json_t *v)
{
    if (json_object_set_new(o, k, v) != 0) {
        cli_error("out of memory");
        exit(EXIT_FAIL);
    }
}

/* Read a password from the terminal without echo; NULL when no terminal. */
static char *prompt_password(const char *prompt)
{
    struct termios old, quiet;
    char buf[1024];
    FILE *tty = fopen("/dev/tty", "r+");
    char *res = NULL;
    size_t n;

    if (!tty)
        return NULL;
    fputs(prompt, tty);
    (void)fflush(tty);      /* a prompt that does not show: the answer is still read */
    if (tcgetattr(fileno(tty), &old) == 0) {
        quiet = old;
        quiet.c_lflag &= (tcflag_t)~ECHO;
        tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
    }
    if (fgets(buf, sizeof buf, tty)) {
        n = strcspn(buf, "\r\n");
        buf[n] = '\0';
        res = strdup(buf);
    }
    tcsetattr(fileno(tty), TCSAFLUSH, &old);
    fputc('\n', tty);
    (void)fclose(tty);      /* the answer is read */
    memset(buf, 0, sizeof buf);
    return res;
}

static char *read_password_file(const char *path)
{
    char buf[1024];
    FILE *f = fopen(path, "r");
    size_t n;

    if (!f) {
        cli_error("cannot open '%s': %s", path, strerror(errno));
        return NULL;
    }
    if (!fgets(buf, sizeof buf, f)) {
        (void)fclose(f);    /* read only */
        cli_error("cannot read a password from '%s': it is empty", path);
        return NULL;
    }
    (void)fclose(f);        /* read only: the password is in buf */
    n = strcspn(buf, "\r\n");
    buf[n] = '\0';
    return strdup(buf);
}

int cli_repo_password(const char *file, const char *env, char **out)
{
    const char *e = env ? getenv(env) : NULL;

    *out = NULL;
    if (file)
        return (*out = read_password_file(file)) ? EXIT_OK : EXIT_USAGE;
    if (e && *e && !(*out = strdup(e))) {
        cli_error("out of memory");
        return EXIT_FAIL;
    }
    return EXIT_OK;
}

/* Get the password (twice when confirm); prints errors itself. */
static int get_password(repo_args *ra, const char *file, const char *env, int confirm,
                        char **out)
{
    const char *e = getenv(env);

    if (file || (e && *e)) {
        int ex = cli_repo_password(file, env, out);

        if (ex != EXIT_OK)
            return ex;
    } else {
        *out = prompt_password(confirm ? "new repository password: " : "repository password: ");
        if (*out && confirm) {
            char *again = prompt_password("again: ");

            if (!again || strcmp(again, *out) != 0) {
                cli_wipe_free(again);
                cli_wipe_free(*out);
                *out = NULL;
                cli_error("the passwords differ");
                return EXIT_USAGE;
            }
            cli_wipe_free(again);
        } else if (!*out) {
            cli_error("a password is needed: --password-file FILE, %s or a terminal", env);
            return EXIT_AUTH;           /* "missing password", as documented */
        }
    }
    (void)ra;
    return *out ? EXIT_OK : EXIT_USAGE;
}

/* Where the local index cache goes: the library's cache/ folder when a
 * library is there and can be written, else shelf_cache_dir() (a library on
 * read-only media is backed up without writing into it). */
static void find_cache(const cli *c, repo_args *ra)
{
    char dir[4000], db[4100];

    ra->cache[0] = '\0';
    if (c->library)
        snprintf(dir, sizeof dir, "%s", c->library);
    else if (shelf_default_dir(dir, sizeof dir) != SHELF_OK)
        return;
    snprintf(db, sizeof db, "%s/shelf.db", dir);
    if (access(db, F_OK) == 0 && access(dir, W_OK) == 0)
        snprintf(ra->cache, sizeof ra->cache, "%s/cache", dir);
    else if (access(db, F_OK) == 0 && shelf_cache_dir(dir, sizeof dir) == SHELF_OK)
        snprintf(ra->cache, sizeof ra->cache, "%s", dir);
}

static int open_repo(const cli *c, repo_args *ra, shelf_repo **r)
{
    shelf_repo_opts o;
    const char *ename = ra->env ? ra->env : "SHELF_PASSWORD", *env = getenv(ename);
    char *msg = NULL;
    int rc, ex;

    *r = NULL;
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    find_cache(c, ra);
    o.cache_dir = ra->cache[0] ? ra->cache : NULL;
    if (!ra->password && (ra->password_file || (env && *env)) &&
        (ex = get_password(ra, ra->password_file, ename, 0, &ra->password)) != EXIT_OK)
        return ex;
    o.password = ra->password;
    net_into(ra, &o);
    rc = shelf_repo_open(ra->target, &o, r, &msg);
    if (rc == SHELF_EAUTH && !ra->password) {
        /* Encrypted, and no password given yet: ask. */
        shelf_free(msg);
        msg = NULL;
        if ((ex = get_password(ra, NULL, ename, 0, &ra->password)) != EXIT_OK)
            return ex;
        o.password = ra->password;
        rc = shelf_repo_open(ra->target, &o, r, &msg);
    }
    if (rc != SHELF_OK) {
        cli_error("%s", msg ? msg : shelf_strerror(rc));
        shelf_free(msg);
        return cli_exit_for(rc);
    }
    return EXIT_OK;
}

int cli_repo_open(const cli *c, const char *target, const char *password_file, const cli_net *net,
                  shelf_repo **r)
{
    repo_args ra;
    int ex;

    memset(&ra, 0, sizeof ra);
    ra.target = target;
    ra.password_file = password_file;
    if (net)
        ra.net = *net;
    ex = open_repo(c, &ra, r);
    cli_wipe_free(ra.password);
    return ex;
}

static int repo_fail(shelf_repo *r, int rc)
{
    if (rc == SHELF_ECANCELED)
        cli_error("interrupted; what was stored is used by the next run");
    else
        cli_error("%s", shelf_repo_errmsg(r));
    return cli_exit_for(rc);
}

/* Take TARGET from -r, $SHELF_REPOSITORY or the first argument. */
static int take_target(repo_args *ra, int argc, char **argv, int *first, const char *usage)
{
    const char *env = getenv("SHELF_REPOSITORY");

    if (!ra->target && env && *env)
        ra->target = env;
    if (!ra->target) {
        if (*first >= argc) {
            cli_error("usage: %s", usage);
            return EXIT_USAGE;
        }
        ra->target = argv[(*first)++];
    }
    return EXIT_OK;
}

static const char *strategy_name(int s)
{
    return s == SHELF_BACKUP_FULL ? "full" : s == SHELF_BACKUP_DIFFERENTIAL ? "differential" : "incremental";
}

static const char *when(int64_t t, char buf[32])
{
    time_t tt = (time_t)t;
    struct tm tm;

    localtime_r(&tt, &tm);
    strftime(buf, 32, "%Y-%m-%d %H:%M:%S", &tm);
    return buf;
}

/* ---- init ---- */

static int backup_init(const cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "no-encryption", no_argument, NULL, 'n' }, { "password-file", required_argument, NULL, 'p' },
        { "kdf-cost", required_argument, NULL, 'k' }, CLI_NET_LONGOPTS, { NULL, 0, NULL, 0 }
    };
    repo_args ra;
    shelf_repo_opts o;
    shelf_remote_terms t;
    char *msg = NULL;
    int ch, rc, ex, first, have_terms;

    memset(&ra, 0, sizeof ra);
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    FOR_OPTS(ch, argc, argv, "", longopts) {
        switch (ch) {
        case 'n': o.flags |= SHELF_REPO_NO_ENCRYPTION; break;
        case 'p': ra.password_file = optarg; break;
        case 'k': {
            char *end;
            long v = strtol(optarg, &end, 10);

            if (*end || v < 10 || v > 20) {
                cli_error("invalid --kdf-cost '%s': 10 to 20 (scrypt N = 2^cost)", optarg);
                return EXIT_USAGE;
            }
            o.kdf_log2n = (int)v;
            break;
        }
        default:
            if (cli_net_opt(&ra.net, ch, optarg) != EXIT_OK)
                return EXIT_USAGE;
            break;
        }
    }
    first = optind;
    if (first != argc - 1) {
        cli_error("usage: shelf backup init [--no-encryption] [--password-file F] [--kdf-cost N] TARGET");
        return EXIT_USAGE;
    }
    ra.target = argv[first];
    if (!(o.flags & SHELF_REPO_NO_ENCRYPTION)) {
        if ((ex = get_password(&ra, ra.password_file, "SHELF_PASSWORD", 1, &ra.password)) != EXIT_OK)
            return ex;
        o.password = ra.password;
    }
    net_into(&ra, &o);
    rc = shelf_repo_init(ra.target, &o, &msg);
    cli_wipe_free(ra.password);
    if (rc != SHELF_OK) {
        cli_error("%s", msg ? msg : shelf_strerror(rc));
        shelf_free(msg);
        return cli_exit_for(rc);
    }
    /* On a remote: what the provider can see, as `remote add` says it. */
    have_terms = shelf_remote_terms_get(ra.target, 1, &t, NULL) == SHELF_OK;
    if (have_terms && !strcmp(t.kind, "dir")) {
        shelf_remote_terms_release(&t);
        have_terms = 0;
    }
    if (c->json) {
        json_t *v = json_pack("{s:s, s:b}", "repository", ra.target, "encrypted",
                              !(o.flags & SHELF_REPO_NO_ENCRYPTION));

        if (v && have_terms)
            cli_json_check(json_object_set_new(v, "terms", cli_terms_json(&t)));
        cli_print_json(v);
    } else if (!c->quiet) {
        printf("repository ready at %s%s\n", ra.target,
               (o.flags & SHELF_REPO_NO_ENCRYPTION) ? " (not encrypted)" : "");
        if (have_terms)
            cli_terms_text(stdout, &t);
    }
    if (have_terms)
        shelf_remote_terms_release(&t);
    return EXIT_OK;
}

/* ---- backup ---- */

typedef struct backup_ui {
    const cli *c;
    cli_progress bar;
    json_t *unreadable;     /* [{id, path, reason}] */
} backup_ui;

/* A sample left out of the snapshot: named after the run (on stderr), and
 * listed in --json. */
static void backup_unreadable(void *ud, int64_t id, const char *path, const char *why)
{
    backup_ui *ui = ud;

    jadd(ui->unreadable, json_pack("{s:I, s:s, s:s}", "id", (json_int_t)id,
                                                    "path", path, "reason", why));
}

static int backup_progress(void *ud, const shelf_backup_progress *p)
{
    backup_ui *ui = ud;

    cli_progress_draw(&ui->bar, "backup", p->items_done, p->items_total, p->bytes_done,
                      p->bytes_total);
    return cli_interrupted;
}

static int backup_run(const cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "full", no_argument, NULL, 'f' }, { "incremental", no_argument, NULL, 'i' },
        { "differential", no_argument, NULL, 'd' }, { "tag", required_argument, NULL, 't' },
        { "password-file", required_argument, NULL, 'p' }, { "repo", required_argument, NULL, 'r' },
        CLI_NET_LONGOPTS, { NULL, 0, NULL, 0 }
    };
    const char *tags[32];
    shelf_backup_opts o;
    shelf_backup_stats st = { .size = sizeof st };
    shelf_library *lib = NULL;
    shelf_repo *r = NULL;
    backup_ui ui;
    repo_args ra;
    char b1[32], b2[32], b3[32];
    int ch, rc, ex, first;

    memset(&ra, 0, sizeof ra);
    memset(&o, 0, sizeof o);
    memset(&ui, 0, sizeof ui);
    o.size = sizeof o;
    o.tags = tags;
    FOR_OPTS(ch, argc, argv, "r:", longopts) {
        switch (ch) {
        case 'f': o.strategy = SHELF_BACKUP_FULL; break;
        case 'i': o.strategy = SHELF_BACKUP_INCREMENTAL; break;
        case 'd': o.strategy = SHELF_BACKUP_DIFFERENTIAL; break;
        case 't':
            if (o.ntags == 32) {
                cli_error("at most 32 tags");
                return EXIT_USAGE;
            }
            tags[o.ntags++] = optarg;
            break;
        case 'p': ra.password_file = optarg; break;
        case 'r': ra.target = optarg; break;
        default:
            if (cli_net_opt(&ra.net, ch, optarg) != EXIT_OK)
                return EXIT_USAGE;
            break;
        }
    }
    first = optind;
    if ((ex = take_target(&ra, argc, argv, &first,
                          "shelf backup [--full|--incremental|--differential] [--tag T] TARGET")) != EXIT_OK)
        return ex;
    if (first != argc) {
        cli_error("unexpected argument '%s'", argv[first]);
        return EXIT_USAGE;
    }
    if ((ex = cli_open(c, 0, &lib)) != EXIT_OK)
        return ex;
    if ((ex = open_repo(c, &ra, &r)) != EXIT_OK)
        goto out;
    ui.c = c;
    ui.unreadable = json_array();
    o.progress = backup_progress;
    o.unreadable = backup_unreadable;
    o.ud = &ui;
    cli_catch_signals();
    cli_progress_start(&ui.bar, c);
    rc = shelf_backup_run(r, lib, &o, &st);
    cli_progress_end(&ui.bar);
    if (rc != SHELF_OK) {
        ex = repo_fail(r, rc);
        goto out;
    }
    if (c->json)
        cli_print_json(json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:I, s:O}",
            "snapshot", st.snapshot, "strategy", strategy_name(o.strategy),
            "items", (json_int_t)st.items, "bytes", (json_int_t)st.bytes,
            "items_read", (json_int_t)st.items_read, "bytes_read", (json_int_t)st.bytes_read,
            "chunks", (json_int_t)st.chunks, "chunks_new", (json_int_t)st.chunks_new,
            "bytes_new", (json_int_t)st.bytes_new, "bytes_stored", (json_int_t)st.bytes_stored,
            "seconds", st.seconds, "items_unreadable", (json_int_t)st.unreadable,
            "unreadable", ui.unreadable));
    else if (!c->quiet)
        printf("snapshot %.12s: %llu items, %s; read %llu items; added %s (stored %s) in %.1f s\n",
               st.snapshot, (unsigned long long)st.items, cli_bytes(st.bytes, b1),
               (unsigned long long)st.items_read, cli_bytes(st.bytes_new, b2),
               cli_bytes(st.bytes_stored, b3), st.seconds);
    ex = EXIT_OK;
    if (st.unreadable) {
        size_t i;

        for (i = 0; !c->json && i < json_array_size(ui.unreadable); i++) {
            json_t *u = json_array_get(ui.unreadable, i);

            cli_error("%s (sample %lld)", json_string_value(json_object_get(u, "reason")),
                      (long long)json_integer_value(json_object_get(u, "id")));
        }
        if (!c->json)
            cli_error("%llu sample%s could not be read and %s not in snapshot %.12s (named above)",
                      (unsigned long long)st.unreadable, st.unreadable == 1 ? "" : "s",
                      st.unreadable == 1 ? "is" : "are", st.snapshot);
        ex = EXIT_UNREADABLE;
    }
out:
    json_decref(ui.unreadable);
    shelf_repo_close(r);
    shelf_library_close(lib);
    cli_wipe_free(ra.password);
    return ex;
}

/* ---- list, show, diff ---- */

typedef struct list_ctx {
    const cli *c;
    json_t *arr;
} list_ctx;

static int list_one(void *ud, const shelf_snapinfo *s)
{
    list_ctx *l = ud;
    char t[32], b1[32], b2[32];

    if (s->damaged) {
        if (l->c->json)
            jadd(l->arr, json_pack("{s:s, s:b}", "id", s->id, "damaged", 1));
        else
            printf("%.12s  DAMAGED: the snapshot file cannot be read (see 'shelf backup check')\n", s->id);
        return 0;
    }
    if (l->c->json) {
        jadd(l->arr, json_pack("{s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I}",
            "id", s->id, "time", (json_int_t)s->time, "device", s->device, "host", s->host,
            "strategy", strategy_name(s->strategy), "parent", s->parent, "full", s->full,
            "tags", s->tags, "depends", s->depends, "items", (json_int_t)s->items,
            "bytes", (json_int_t)s->bytes, "added", (json_int_t)s->added,
            "stored", (json_int_t)s->stored));
        return 0;
    }
    printf("%.12s  %s  %-12s  %6llu items  %9s  added %9s  base %-12.12s  needs",
           s->id, when(s->time, t), strategy_name(s->strategy), (unsigned long long)s->items,
           cli_bytes(s->bytes, b1), cli_bytes(s->added, b2),
           *s->full ? s->full : *s->parent ? s->parent : "-");
    {
        const char *p = s->depends;

        while (*p) {
            size_t n = strcspn(p, " ");

            printf(" %.12s", p);
            p += n;
            while (*p == ' ')
                p++;
        }
    }
    if (*s->tags)
        printf("  [%s]", s->tags);
    putchar('\n');
    return 0;
}

/* A snapshot item's path is already text (shelf_name_escape); for a line,
 * controls are escaped too. */
static char *item_path_line(const char *text)
{
    char *raw = NULL, *line = NULL;

    if (shelf_name_unescape(text, &raw) == SHELF_OK)
        line = cli_name_text(raw);
    shelf_free(raw);
    return line;
}

static int show_item(void *ud, const shelf_snapitem *it)
{
    list_ctx *l = ud;
    static const char *const kinds[] = { "", "catalog", "config", "object", "sample" };
    char b[32];

    if (l->c->json)
        jadd(l->arr, json_pack("{s:s, s:s, s:I, s:I, s:s}", "kind", kinds[it->kind],
                              "path", it->path, "id", (json_int_t)it->id, "size", (json_int_t)it->size,
                              "sha256", it->sha256));
    else {
        char *t = item_path_line(it->path);

        printf("%-7s %9s  %.12s  %s\n", kinds[it->kind], cli_bytes(it->size, b), it->sha256, t ? t : "?");
        shelf_free(t);
    }
    return 0;
}

static int diff_item(void *ud, int change, const shelf_snapitem *it)
{
    list_ctx *l = ud;
    static const char *const names[] = { "", "added", "removed", "changed" };
    char b[32];

    if (l->c->json)
        jadd(l->arr, json_pack("{s:s, s:s, s:I}", "change", names[change], "path",
                                                it->path, "size", (json_int_t)it->size));
    else {
        char *t = item_path_line(it->path);

        printf("%-8s %9s  %s\n", names[change], cli_bytes(it->size, b), t ? t : "?");
        shelf_free(t);
    }
    return 0;
}

typedef struct show_snap {
    const char *id;
    int found;
    const cli *c;
} show_snap;

static int show_header(void *ud, const shelf_snapinfo *s)
{
    show_snap *ss = ud;
    char t[32], b1[32], b2[32], b3[32];

    if (strcmp(s->id, ss->id) != 0)
        return 0;
    ss->found = 1;
    if (ss->c->json)
        return 0;
    printf("snapshot:  %s\ntime:      %s\nstrategy:  %s\ndevice:    %s (%s)\nlibrary:   %s\n"
           "items:     %llu, %s\nadded:     %s (stored %s)\nparent:    %s\nneeds:     %s\ntags:      %s\n\n",
           s->id, when(s->time, t), strategy_name(s->strategy), s->device, s->host, s->library,
           (unsigned long long)s->items, cli_bytes(s->bytes, b1), cli_bytes(s->added, b2),
           cli_bytes(s->stored, b3), *s->parent ? s->parent : "-", s->depends, s->tags);
    return 0;
}

static int repo_cmd_list(const cli *c, shelf_repo *r, int argc, char **argv, int first)
{
    list_ctx l = { c, json_array() };
    int rc;

    (void)argv;
    if (first != argc) {
        cli_error("usage: shelf backup list [TARGET]");
        json_decref(l.arr);
        return EXIT_USAGE;
    }
    if (!c->json)
        printf("%-12s  %-19s  %-12s  %12s  %9s  %15s  %-17s  %s\n", "id", "time", "type", "",
               "size", "", "base", "restore reads");
    rc = shelf_snapshot_list(r, list_one, &l);
    if (rc != SHELF_OK) {
        json_decref(l.arr);
        return repo_fail(r, rc);
    }
    if (c->json)
        cli_print_json(l.arr);
    else
        json_decref(l.arr);
    return EXIT_OK;
}

static int repo_cmd_show(const cli *c, shelf_repo *r, int argc, char **argv, int first)
{
    list_ctx l = { c, json_array() };
    show_snap ss;
    char id[65];
    int rc;

    if (first != argc - 1) {
        cli_error("usage: shelf backup show [TARGET] SNAP");
        json_decref(l.arr);
        return EXIT_USAGE;
    }
    if ((rc = shelf_snapshot_resolve(r, argv[first], id)) != SHELF_OK ||
        (ss.id = id, ss.found = 0, ss.c = c, rc = shelf_snapshot_list(r, show_header, &ss)) != SHELF_OK ||
        (rc = shelf_snapshot_items(r, id, show_item, &l)) != SHELF_OK) {
        json_decref(l.arr);
        return repo_fail(r, rc);
    }
    if (c->json)
        cli_print_json(json_pack("{s:s, s:o}", "snapshot", id, "items", l.arr));
    else
        json_decref(l.arr);
    return EXIT_OK;
}

static int repo_cmd_diff(const cli *c, shelf_repo *r, int argc, char **argv, int first)
{
    list_ctx l = { c, json_array() };
    int rc;

    if (first != argc - 2) {
        cli_error("usage: shelf backup diff [TARGET] SNAP1 SNAP2");
        json_decref(l.arr);
        return EXIT_USAGE;
    }
    if ((rc = shelf_snapshot_diff(r, argv[first], argv[first + 1], diff_item, &l)) != SHELF_OK) {
        json_decref(l.arr);
        return repo_fail(r, rc);
    }
    if (c->json)
        cli_print_json(l.arr);
    else
        json_decref(l.arr);
    return EXIT_OK;
}

/* ---- check, forget, prune ---- */

static void check_problem(void *ud, const char *file, const char *problem, const char *snapshot,
                          const char *item)
{
    list_ctx *l = ud;

    if (l->c->json) {
        json_t *o = json_pack("{s:s}", "problem", problem);

        if (file)
            jset(o, "file", json_string(file));
        if (snapshot)
            jset(o, "snapshot", json_string(snapshot));
        if (item)
            jset(o, "item", json_string(item));
        jadd(l->arr, o);
        return;
    }
    if (snapshot && item)
        printf("snapshot %.12s: %s: %s%s%s\n", snapshot, item, problem, file ? " in " : "", file ? file : "");
    else if (snapshot)
        printf("snapshot %.12s: %s\n", snapshot, problem);
    else
        printf("%s: %s\n", file ? file : "repository", problem);
}

static int repo_cmd_check(const cli *c, shelf_repo *r, int argc, char **argv, int first, int percent)
{
    list_ctx l = { c, json_array() };
    shelf_check_stats st = { .size = sizeof st };
    char b[32];
    int rc;

    (void)argv;
    if (first != argc) {
        cli_error("usage: shelf backup check [--read-data | --read-data-subset N%%] [TARGET]");
        json_decref(l.arr);
        return EXIT_USAGE;
    }
    rc = shelf_repo_check(r, percent, check_problem, &l, &st);
    if (rc != SHELF_OK && rc != SHELF_ECORRUPT) {
        json_decref(l.arr);
        return repo_fail(r, rc);
    }
    if (c->json)
        cli_print_json(json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}",
            "snapshots", (json_int_t)st.snapshots, "indexes", (json_int_t)st.indexes,
            "packs", (json_int_t)st.packs, "blobs", (json_int_t)st.blobs,
            "packs_read", (json_int_t)st.packs_read, "bytes_read", (json_int_t)st.bytes_read,
            "unindexed", (json_int_t)st.unindexed, "errors", (json_int_t)st.errors, "problems", l.arr));
    else {
        json_decref(l.arr);
        if (!c->quiet)
            printf("%llu snapshots, %llu index files, %llu packs (%llu read, %s), %llu chunks referenced; "
                   "%llu unindexed packs; %llu problems\n",
                   (unsigned long long)st.snapshots, (unsigned long long)st.indexes,
                   (unsigned long long)st.packs, (unsigned long long)st.packs_read,
                   cli_bytes(st.bytes_read, b), (unsigned long long)st.blobs,
                   (unsigned long long)st.unindexed, (unsigned long long)st.errors);
    }
    if (rc != SHELF_OK) {
        cli_error("%s", shelf_repo_errmsg(r));
        return EXIT_FAIL;
    }
    return EXIT_OK;
}

static void forget_one(void *ud, const char *id, int64_t time, int kept, const char *reason)
{
    list_ctx *l = ud;
    char t[32];

    if (l->c->json)
        jadd(l->arr, json_pack("{s:s, s:I, s:b, s:s}", "id", id, "time", (json_int_t)time,
                                                "kept", kept, "reason", reason));
    else if (!l->c->quiet)
        printf("%-6s %.12s  %s  %s\n", kept ? "keep" : "forget", id, when(time, t), reason);
}

static int repo_cmd_prune(const cli *c, shelf_repo *r, int dry, json_t **out)
{
    shelf_prune_stats st = { .size = sizeof st };
    char b[32];
    int rc = shelf_repo_prune(r, dry, &st);

    if (rc != SHELF_OK)
        return repo_fail(r, rc);
    if (c->json) {
        json_t *o = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:b}",
            "packs_kept", (json_int_t)st.packs_kept, "packs_removed", (json_int_t)st.packs_removed,
            "packs_rewritten", (json_int_t)st.packs_rewritten, "blobs_kept", (json_int_t)st.blobs_kept,
            "blobs_removed", (json_int_t)st.blobs_removed, "bytes_removed", (json_int_t)st.bytes_removed,
            "dry_run", dry);

        if (out)
            *out = o;
        else
            cli_print_json(o);
    } else if (!c->quiet)
        printf("%s%llu packs kept, %llu removed, %llu rewritten; %llu chunks removed (%s)\n",
               dry ? "would be: " : "", (unsigned long long)st.packs_kept,
               (unsigned long long)st.packs_removed, (unsigned long long)st.packs_rewritten,
               (unsigned long long)st.blobs_removed, cli_bytes(st.bytes_removed, b));
    return EXIT_OK;
}

/* ---- purge ---- */

static int purge_line(void *ud, const shelf_repo_purge_info *e)
{
    list_ctx *l = ud;
    char t[32];

    if (l->c->json)
        jadd(l->arr, json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:b}", "snapshot", e->snapshot,
                               "replaced_by", e->replaced_by, "time", (json_int_t)e->time,
                               "files", (json_int_t)e->files, "bytes", (json_int_t)e->bytes,
                               "rows", (json_int_t)e->rows, "relinked", e->relinked));
    else if (!l->c->quiet && e->relinked)
        printf("%.12s  %s  names a rewritten snapshot%s%.12s\n", e->snapshot, when(e->time, t),
               *e->replaced_by ? ": now " : "", e->replaced_by);
    else if (!l->c->quiet)
        printf("%.12s  %s  %llu file%s, %lld catalog row%s%s%.12s\n", e->snapshot, when(e->time, t),
               (unsigned long long)e->files, e->files == 1 ? "" : "s", (long long)e->rows,
               e->rows == 1 ? "" : "s", *e->replaced_by ? ": now " : "", e->replaced_by);
    return 0;
}

/* backup purge: samples (--sample SHA) and documents (--doc p:HASH|j:HASH)
 * out of every snapshot, then the packs that held them rewritten. */
static int repo_cmd_purge(const cli *c, shelf_repo *r, const char *library, const char **sv,
                          size_t ns, const char **dv, size_t nd, int dry)
{
    shelf_repo_purge_opts o;
    shelf_repo_purge_stats st = { .size = sizeof st };
    list_ctx l = { c, json_array() };
    char b[32];
    int rc;

    if (ns + nd == 0) {
        json_decref(l.arr);
        cli_error("usage: shelf backup purge [--dry-run] [--device ID] (--sample SHA256 | "
                  "--doc p:HASH|j:HASH)... TARGET");
        return EXIT_USAGE;
    }
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.dry_run = dry;
    o.cb = purge_line;
    o.ud = &l;
    if ((rc = shelf_repo_purge(r, library, sv, ns, dv, nd, &o, &st)) != SHELF_OK) {
        json_decref(l.arr);
        return repo_fail(r, rc);
    }
    if (c->json)
        cli_print_json(json_pack("{s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b}", "snapshots", l.arr,
            "snapshots_seen", (json_int_t)st.snapshots, "snapshots_rewritten", (json_int_t)st.snapshots_rewritten,
            "snapshots_relinked", (json_int_t)st.snapshots_relinked, "files_dropped", (json_int_t)st.files_dropped,
            "rows", (json_int_t)st.rows, "packs_rewritten", (json_int_t)st.packs_rewritten,
            "packs_removed", (json_int_t)st.packs_removed, "bytes_removed", (json_int_t)st.bytes_removed,
            "dry_run", dry));
    else {
        json_decref(l.arr);
        if (!c->quiet)
            printf("%s%llu of %llu snapshots hold the items (%llu files, %lld catalog rows); "
                   "%llu packs rewritten, %llu removed (%s)\n", dry ? "would be: " : "",
                   (unsigned long long)st.snapshots_rewritten, (unsigned long long)st.snapshots,
                   (unsigned long long)st.files_dropped, (long long)st.rows,
                   (unsigned long long)st.packs_rewritten, (unsigned long long)st.packs_removed,
                   cli_bytes(st.bytes_removed, b));
    }
    return EXIT_OK;
}

/* ---- test-restore ---- */

static int rm_tree(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)ftw;
    if (flag == FTW_DP)
        rmdir(path);
    else {
        if (S_ISREG(sb->st_mode))
            (void)chmod(path, 0600);    /* best effort: the unlink says if it mattered */
        unlink(path);
    }
    return 0;
}

/* What test-restore found: restore failures and verify problems, and the
 * samples that were not in the snapshot (missing or unreadable when the
 * backup ran: not problems of the backup). */
typedef struct trestore {
    const cli *c;
    json_t *in_snap;        /* "sample:ID" and "objects/.." of the snapshot -> true;
                               restored paths that failed -> false */
    json_t *problems;       /* [{problem, id, path}] */
    json_t *absent;         /* [{id, path}] */
    char files[4300];       /* TO/files/: referenced samples, shown at their own paths */
} trestore;

/* A restored referenced sample's own path (TO/files/PATH -> /PATH). */
static const char *trestore_path(const trestore *t, const char *path)
{
    size_t n = strlen(t->files);

    return !strncmp(path, t->files, n) && path[n] == '/' ? path + n : path;
}

static int trestore_item(void *ud, const shelf_snapitem *it)
{
    trestore *t = ud;
    char key[64];

    if (it->kind == SHELF_ITEM_SAMPLE) {
        snprintf(key, sizeof key, "sample:%lld", (long long)it->id);
        jset(t->in_snap, key, json_true());
    } else if (it->kind == SHELF_ITEM_OBJECT) {
        jset(t->in_snap, it->path, json_true());
    }
    return 0;
}

static void trestore_add(trestore *t, const char *problem, int64_t id, const char *path,
                         const char *detail)
{
    json_t *o;

    path = trestore_path(t, path);
    o = json_pack("{s:s, s:I, s:s}", "problem", problem, "id", (json_int_t)id, "path", path);
    if (detail && *detail)
        jset(o, "detail", json_string(detail));
    jadd(t->problems, o);
    if (!t->c->json)
        printf("%-8s %7lld  %s%s%s%s\n", problem, (long long)id, path, detail && *detail ? "  (" : "",
               detail ? detail : "", detail && *detail ? ")" : "");
}

/* A file that could not be restored: listed once (verify then finds it
 * missing: not listed again). */
static void trestore_failed(void *ud, const shelf_restore_item *it)
{
    trestore *t = ud;

    if (it->action != SHELF_RESTORE_FAILED)
        return;
    if (*it->path)
        jset(t->in_snap, it->path, json_false());
    trestore_add(t, "failed", it->id, *it->path ? it->path : it->name, it->detail);
}

static void trestore_verify(void *ud, int problem, int64_t id, const char *path)
{
    trestore *t = ud;
    const char *obj = strstr(path, "/objects/");
    char key[64];

    if (problem == SHELF_VERIFY_MISSING) {
        if (json_is_false(json_object_get(t->in_snap, path)))
            return;     /* listed as failed */
        snprintf(key, sizeof key, "sample:%lld", (long long)id);
        if (!json_object_get(t->in_snap, key) && !(obj && json_object_get(t->in_snap, obj + 1))) {
            jadd(t->absent, json_pack("{s:I, s:s}", "id", (json_int_t)id, "path",
                                                       trestore_path(t, path)));
            return;
        }
    }
    trestore_add(t, problem == SHELF_VERIFY_MISSING ? "missing" : problem == SHELF_VERIFY_CHANGED ?
                 "changed" : "corrupt", id, path, NULL);
}

static int repo_cmd_test_restore(const cli *c, shelf_repo *r, int argc, char **argv, int first)
{
    shelf_restore_opts o;
    shelf_restore_stats st = { .size = sizeof st };
    shelf_verify_stats vs = { .size = sizeof vs };
    shelf_library *lib = NULL;
    const char *snap = first < argc ? argv[first] : "latest", *tmp = getenv("TMPDIR");
    char dir[4096], to[4200], db[4300], *msg = NULL;
    trestore t;
    size_t i;
    int rc, ex = EXIT_FAIL;

    memset(&vs, 0, sizeof vs);

    vs.size = sizeof vs;
    memset(&st, 0, sizeof st);
    st.size = sizeof st;
    t.c = c;
    t.in_snap = json_object();
    t.problems = json_array();
    t.absent = json_array();
    snprintf(dir, sizeof dir, "%s/shelf-test-restore-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        cli_error("cannot create a temporary folder: %s", strerror(errno));
        goto done;
    }
    if ((rc = shelf_snapshot_items(r, snap, trestore_item, &t)) != SHELF_OK) {
        ex = repo_fail(r, rc);
        goto out;
    }
    snprintf(to, sizeof to, "%s/library", dir);
    snprintf(db, sizeof db, "%s/shelf.db", to);
    snprintf(t.files, sizeof t.files, "%s/files", to);
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.to = to;
    o.on_item = trestore_failed;
    o.ud = &t;
    rc = shelf_restore(r, NULL, snap, &o, &st);
    if (*shelf_repo_warning(r))
        cli_error("warning: %s", shelf_repo_warning(r));
    /* Items that failed are listed; the rest is still checked when the
     * catalog came back. */
    if (rc != SHELF_OK && (!st.failed || access(db, F_OK) != 0)) {
        ex = repo_fail(r, rc);
        goto out;
    }
    if ((rc = shelf_library_open(to, 0, &lib, &msg)) != SHELF_OK) {
        cli_error("the restored library does not open: %s", msg ? msg : shelf_strerror(rc));
        shelf_free(msg);
        goto out;
    }
    if ((rc = shelf_verify(lib, trestore_verify, NULL, &t, &vs)) != SHELF_OK) {
        ex = cli_fail(lib, rc);
        goto out;
    }
    ex = json_array_size(t.problems) ? EXIT_FAIL : EXIT_OK;
    if (c->json) {
        cli_print_json(json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b, s:O, s:O}",
                                 "restored", (json_int_t)st.created, "failed", (json_int_t)st.failed,
                                 "checked", (json_int_t)vs.checked,
                                 "missing", (json_int_t)(vs.missing - json_array_size(t.absent)),
                                 "changed", (json_int_t)vs.changed, "corrupt", (json_int_t)vs.corrupt,
                                 "not_in_snapshot", (json_int_t)json_array_size(t.absent),
                                 "ok", ex == EXIT_OK, "problems", t.problems, "absent", t.absent));
    } else {
        for (i = 0; !c->quiet && i < json_array_size(t.absent); i++) {
            json_t *a = json_array_get(t.absent, i);

            printf("absent   %7lld  %s  (not in the snapshot: missing or unreadable when the backup ran)\n",
                   (long long)json_integer_value(json_object_get(a, "id")),
                   json_string_value(json_object_get(a, "path")));
        }
        if (!c->quiet || ex != EXIT_OK)
            printf("test restore of %s: %llu items restored, %llu files and blobs re-hashed: %s",
                   snap, (unsigned long long)st.created, (unsigned long long)vs.checked,
                   ex == EXIT_OK ? "all match" : "");
        if (ex != EXIT_OK)
            printf("%zu problem%s (listed above)", json_array_size(t.problems),
                   json_array_size(t.problems) == 1 ? "" : "s");
        if ((!c->quiet || ex != EXIT_OK) && json_array_size(t.absent))
            printf("; %zu sample%s not in the snapshot", json_array_size(t.absent),
                   json_array_size(t.absent) == 1 ? "" : "s");
        if (!c->quiet || ex != EXIT_OK)
            putchar('\n');
    }
out:
    shelf_library_close(lib);
    nftw(dir, rm_tree, 16, FTW_DEPTH | FTW_PHYS);
done:
    json_decref(t.in_snap);
    json_decref(t.problems);
    json_decref(t.absent);
    return ex;
}

/* ---- unlock ---- */

static void unlock_line(void *ud, const shelf_lockinfo *k)
{
    list_ctx *l = ud;
    char t1[32], t2[32];

    if (!l->c->json)
        jadd(l->arr, json_null());   /* counted */
    if (l->c->json) {
        jadd(l->arr, json_pack("{s:s, s:s, s:I, s:I, s:I, s:b, s:b, s:b}", "lock", k->name,
                              "host", k->host, "pid", (json_int_t)k->pid, "time", (json_int_t)k->time,
                              "expires", (json_int_t)k->expires, "exclusive", k->exclusive,
                              "stale", k->stale, "removed", k->removed));
        return;
    }
    if (!*k->host)
        printf("%s  unreadable: %s\n", k->name, k->removed ? "removed" : "kept");
    else
        printf("%s  %s lock of %s (pid %lld), taken %s, lease until %s: %s\n", k->name,
               k->exclusive ? "exclusive" : "shared", k->host, (long long)k->pid, when(k->time, t1),
               when(k->expires, t2), k->removed ? (k->stale ? "stale, removed" : "removed") :
               "live, kept (--all removes it)");
}

static int repo_cmd_unlock(const cli *c, shelf_repo *r, int all)
{
    list_ctx l = { c, json_array() };
    int rc = shelf_repo_unlock(r, all, unlock_line, &l);

    if (rc != SHELF_OK) {
        json_decref(l.arr);
        return repo_fail(r, rc);
    }
    if (c->json)
        cli_print_json(l.arr);
    else {
        if (json_array_size(l.arr) == 0 && !c->quiet)
            printf("no locks\n");
        json_decref(l.arr);
    }
    return EXIT_OK;
}

/* ---- key ---- */

static int key_line(void *ud, const shelf_keyinfo *k)
{
    list_ctx *l = ud;
    char t[32];

    if (l->c->json)
        jadd(l->arr, json_pack("{s:s, s:I, s:s, s:i, s:b}", "id", k->id, "created",
                              (json_int_t)k->created, "host", k->host, "scrypt_log2n", k->log2n,
                              "current", k->current));
    else
        printf("%s %s  %s  %s  N=2^%d\n", k->current ? "*" : " ", k->id, when(k->created, t), k->host,
               k->log2n);
    return 0;
}

static int repo_cmd_key(const cli *c, shelf_repo *r, repo_args *ra, int argc, char **argv, int first,
                        const char *newfile, int cost)
{
    const char *verb = first < argc ? argv[first] : "list";
    char id[17], *pw = NULL;
    int rc, ex;

    if (!strcmp(verb, "list") || !strcmp(verb, "ls")) {
        list_ctx l = { c, json_array() };

        if ((rc = shelf_repo_key_list(r, key_line, &l)) != SHELF_OK) {
            json_decref(l.arr);
            return repo_fail(r, rc);
        }
        if (c->json)
            cli_print_json(l.arr);
        else
            json_decref(l.arr);
        return EXIT_OK;
    }
    if (!strcmp(verb, "add")) {
        if ((ex = get_password(ra, newfile, "SHELF_NEW_PASSWORD", 1, &pw)) != EXIT_OK)
            return ex;
        rc = shelf_repo_key_add(r, pw, cost, id);
        cli_wipe_free(pw);
        if (rc != SHELF_OK)
            return repo_fail(r, rc);
        if (c->json)
            cli_print_json(json_pack("{s:s}", "added", id));
        else if (!c->quiet)
            printf("added key %s\n", id);
        return EXIT_OK;
    }
    if (!strcmp(verb, "rm") && first + 1 == argc - 1) {
        if ((rc = shelf_repo_key_remove(r, argv[first + 1])) != SHELF_OK)
            return repo_fail(r, rc);
        if (!c->quiet && !c->json)
            printf("removed key %s\n", argv[first + 1]);
        return EXIT_OK;
    }
    cli_error("usage: shelf backup key list | add [--new-password-file F] | rm ID");
    return EXIT_USAGE;
}

/* ---- dispatch ---- */

/* ---- copy ---- */

static int copy_progress(void *ud, const shelf_copy_stats *st)
{
    cli_progress *p = ud;

    cli_progress_draw(p, "copy", st->blobs_new, 0, st->bytes_new, 0);
    return cli_interrupted;
}

/* shelf backup copy SRC DST [SNAP...]: SRC's password as for every
 * command, DST's from --dst-password-file, $SHELF_DST_PASSWORD, else SRC's
 * (one password for both), else a prompt. */
static int backup_copy(const cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "password-file", required_argument, NULL, 'p' },
        { "dst-password-file", required_argument, NULL, 'P' }, CLI_NET_LONGOPTS, { NULL, 0, NULL, 0 }
    };
    repo_args rs, rd;
    shelf_repo *src = NULL, *dst = NULL;
    shelf_copy_stats st = { .size = sizeof st };
    cli_progress prog;
    char b1[32];
    int ch, rc, ex = EXIT_OK, first;

    memset(&rs, 0, sizeof rs);
    memset(&rd, 0, sizeof rd);
    FOR_OPTS(ch, argc, argv, "", longopts) {
        switch (ch) {
        case 'p': rs.password_file = optarg; break;
        case 'P': rd.password_file = optarg; break;
        default:
            if (cli_net_opt(&rs.net, ch, optarg) != EXIT_OK)
                return EXIT_USAGE;
            break;
        }
    }
    rd.net = rs.net;
    first = optind;
    if (argc - first < 2) {
        cli_error("usage: shelf backup copy [--dst-password-file F] SRC DST [SNAP...]");
        return EXIT_USAGE;
    }
    rs.target = argv[first];
    rd.target = argv[first + 1];
    rd.env = "SHELF_DST_PASSWORD";
    if ((ex = open_repo(c, &rs, &src)) != EXIT_OK)
        goto out;
    if (!rd.password_file && !getenv("SHELF_DST_PASSWORD") && rs.password &&
        !(rd.password = strdup(rs.password))) {
        ex = EXIT_FAIL;
        goto out;
    }
    if ((ex = open_repo(c, &rd, &dst)) != EXIT_OK)
        goto out;
    cli_catch_signals();
    cli_progress_start(&prog, c);
    rc = shelf_repo_copy(src, dst, (const char *const *)argv + first + 2, (size_t)(argc - first - 2),
                         copy_progress, &prog, &st);
    cli_progress_end(&prog);
    if (rc != SHELF_OK) {
        ex = repo_fail(dst, rc);
        goto out;
    }
    if (c->json)
        cli_print_json(json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:f}", "source", rs.target,
                                 "destination", rd.target, "snapshots", (json_int_t)st.snapshots,
                                 "skipped", (json_int_t)st.skipped, "blobs", (json_int_t)st.blobs,
                                 "blobs_new", (json_int_t)st.blobs_new,
                                 "bytes_new", (json_int_t)st.bytes_new, "seconds", st.seconds));
    else if (!c->quiet)
        printf("copied %llu snapshot%s (%llu already there): %llu of %llu blobs sent, %s, in %.1f s\n",
               (unsigned long long)st.snapshots, st.snapshots == 1 ? "" : "s",
               (unsigned long long)st.skipped, (unsigned long long)st.blobs_new,
               (unsigned long long)st.blobs, cli_bytes(st.bytes_new, b1), st.seconds);
out:
    shelf_repo_close(dst);
    shelf_repo_close(src);
    cli_wipe_free(rs.password);
    cli_wipe_free(rd.password);
    return ex;
}

int cmd_backup(const cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "repo", required_argument, NULL, 'r' }, { "password-file", required_argument, NULL, 'p' },
        { "read-data", no_argument, NULL, 'D' }, { "read-data-subset", required_argument, NULL, 'S' },
        { "keep-last", required_argument, NULL, 'l' }, { "keep-daily", required_argument, NULL, 'y' },
        { "keep-weekly", required_argument, NULL, 'w' }, { "keep-monthly", required_argument, NULL, 'm' },
        { "dry-run", no_argument, NULL, 'n' }, { "prune", no_argument, NULL, 'P' },
        { "new-password-file", required_argument, NULL, 'N' }, { "kdf-cost", required_argument, NULL, 'k' },
        { "all", no_argument, NULL, 'A' }, { "sample", required_argument, NULL, 'E' },
        { "doc", required_argument, NULL, 'O' }, { "device", required_argument, NULL, 'L' },
        CLI_NET_LONGOPTS,
        { NULL, 0, NULL, 0 }
    };
    static const char *const subs[] = { "list", "show", "diff", "check", "forget", "prune",
                                        "test-restore", "key", "repair-index", "unlock", "purge",
                                        NULL };
    const char **sv = NULL, **dv = NULL, *library = NULL;
    size_t ns = 0, nd = 0;
    const char *sub = argc > 1 ? argv[1] : NULL, *newfile = NULL, *env_repo;
    shelf_forget_opts fo;
    repo_args ra;
    shelf_repo *r = NULL;
    int ch, ex, first, percent = 0, dry = 0, prune = 0, cost = 0, k, all = 0;

    if (sub && !strcmp(sub, "init"))
        return backup_init(c, argc - 1, argv + 1);
    if (sub && !strcmp(sub, "copy"))
        return backup_copy(c, argc - 1, argv + 1);
    for (k = 0; sub && subs[k]; k++)
        if (!strcmp(sub, subs[k]))
            break;
    if (!sub || !subs[k])
        return backup_run(c, argc, argv);
    memset(&ra, 0, sizeof ra);
    memset(&fo, 0, sizeof fo);
    fo.size = sizeof fo;
    argc--;
    argv++;
    /* --sample and --doc: at most one per argument */
    if (!(sv = calloc((size_t)argc + 1, sizeof *sv)) || !(dv = calloc((size_t)argc + 1, sizeof *dv))) {
        free(sv);
        cli_error("out of memory");
        return EXIT_FAIL;
    }
    FOR_OPTS(ch, argc, argv, "r:", longopts) {
        char *end;
        long v = 0;

        if (ch == 'S' || ch == 'l' || ch == 'y' || ch == 'w' || ch == 'm' || ch == 'k') {
            v = strtol(optarg, &end, 10);
            if (ch == 'S' && *end == '%')
                end++;
            if (*end || v < 0 || v > 100000 || (ch == 'S' && (v < 1 || v > 100))) {
                cli_error("invalid number '%s'", optarg);
                ex = EXIT_USAGE;
                goto out;
            }
        }
        switch (ch) {
        case 'r': ra.target = optarg; break;
        case 'p': ra.password_file = optarg; break;
        case 'D': percent = 100; break;
        case 'S': percent = (int)v; break;
        case 'l': fo.keep_last = (int)v; break;
        case 'y': fo.keep_daily = (int)v; break;
        case 'w': fo.keep_weekly = (int)v; break;
        case 'm': fo.keep_monthly = (int)v; break;
        case 'n': dry = 1; break;
        case 'P': prune = 1; break;
        case 'N': newfile = optarg; break;
        case 'k': cost = (int)v; break;
        case 'A': all = 1; break;
        case 'E': sv[ns++] = optarg; break;
        case 'O': dv[nd++] = optarg; break;
        case 'L': library = optarg; break;
        default:
            if (cli_net_opt(&ra.net, ch, optarg) != EXIT_OK) {
                ex = EXIT_USAGE;
                goto out;
            }
            break;
        }
    }
    first = optind;
    /* key VERB [ID] TARGET: the repository comes last there. */
    env_repo = getenv("SHELF_REPOSITORY");
    if (!strcmp(sub, "key") && !ra.target && !(env_repo && *env_repo)) {
        if (argc - first < 2) {
            cli_error("usage: shelf backup key list|add|rm ID [-r] TARGET");
            ex = EXIT_USAGE;
            goto out;
        }
        ra.target = argv[--argc];
    }
    if ((ex = take_target(&ra, argc, argv, &first, "shelf backup SUBCOMMAND [-r TARGET | TARGET] ...")) != EXIT_OK)
        goto out;
    if ((ex = open_repo(c, &ra, &r)) != EXIT_OK)
        goto out;
    if (!strcmp(sub, "list"))
        ex = repo_cmd_list(c, r, argc, argv, first);
    else if (!strcmp(sub, "show"))
        ex = repo_cmd_show(c, r, argc, argv, first);
    else if (!strcmp(sub, "diff"))
        ex = repo_cmd_diff(c, r, argc, argv, first);
    else if (!strcmp(sub, "check"))
        ex = repo_cmd_check(c, r, argc, argv, first, percent);
    else if (!strcmp(sub, "prune"))
        ex = repo_cmd_prune(c, r, dry, NULL);
    else if (!strcmp(sub, "purge"))
        ex = first == argc ? repo_cmd_purge(c, r, library, sv, ns, dv, nd, dry) :
             (cli_error("usage: shelf backup purge [--dry-run] [--device ID] (--sample SHA256 | "
                        "--doc p:HASH|j:HASH)... TARGET"), EXIT_USAGE);
    else if (!strcmp(sub, "test-restore"))
        ex = repo_cmd_test_restore(c, r, argc, argv, first);
    else if (!strcmp(sub, "unlock"))
        ex = first == argc ? repo_cmd_unlock(c, r, all) :
             (cli_error("usage: shelf backup unlock [--all] [TARGET]"), EXIT_USAGE);
    else if (!strcmp(sub, "repair-index")) {
        uint64_t added = 0, removed = 0;
        int rc = shelf_repo_repair_index(r, &added, &removed);

        if (rc != SHELF_OK)
            ex = repo_fail(r, rc);
        else {
            if (c->json)
                cli_print_json(json_pack("{s:I, s:I}", "packs_indexed", (json_int_t)added,
                                         "index_removed", (json_int_t)removed));
            else if (!c->quiet)
                printf("%llu packs indexed again, %llu damaged index files removed\n",
                       (unsigned long long)added, (unsigned long long)removed);
            ex = EXIT_OK;
        }
    } else if (!strcmp(sub, "key"))
        ex = repo_cmd_key(c, r, &ra, argc, argv, first, newfile, cost);
    else {
        list_ctx l = { c, json_array() };
        int rc;

        fo.dry_run = dry;
        rc = shelf_repo_forget(r, &fo, forget_one, &l);
        if (rc != SHELF_OK) {
            json_decref(l.arr);
            ex = repo_fail(r, rc);
            goto out;
        }
        if (prune && !dry) {
            json_t *p = NULL;

            ex = repo_cmd_prune(c, r, 0, &p);
            if (c->json)
                cli_print_json(json_pack("{s:o, s:o}", "snapshots", l.arr, "prune", p ? p : json_null()));
            else
                json_decref(l.arr);
        } else {
            if (c->json)
                cli_print_json(json_pack("{s:o}", "snapshots", l.arr));
            else
                json_decref(l.arr);
            ex = EXIT_OK;
        }
    }
out:
    shelf_repo_close(r);
    cli_wipe_free(ra.password);
    free(sv);
    free(dv);
    return ex;
}

/* ---- restore ---- */

typedef struct restore_ui {
    const cli *c;
    json_t *arr;
    int preview;
} restore_ui;

static const char *action_name(int a)
{
    static const char *const names[] = { "", "create", "overwrite", "keep-both", "skip", "same", "failed" };

    return a >= 1 && a <= 6 ? names[a] : "?";
}

static const char *kind_name(int k)
{
    static const char *const names[] = { "", "catalog", "config", "object", "sample", "patch", "project" };

    return k >= 1 && k <= 6 ? names[k] : "?";
}

static void restore_item(void *ud, const shelf_restore_item *it)
{
    restore_ui *ui = ud;
    char b[32], *t;

    if (ui->c->json) {
        jadd(ui->arr, json_pack("{s:s, s:s, s:I, s:o, s:o, s:I, s:s}", "action",
                              action_name(it->action), "kind", kind_name(it->kind), "id", (json_int_t)it->id,
                              "name", tool_json_name(it->name), "path", tool_json_name(it->path),
                              "size", (json_int_t)it->size, "detail", it->detail));
        return;
    }
    if (ui->c->quiet && it->action != SHELF_RESTORE_FAILED)
        return;
    if (it->action == SHELF_RESTORE_SAME && !ui->preview)
        return;
    t = cli_name_text(*it->path ? it->path : it->name);
    printf("%-9s %-7s %6lld %9s  %s%s%s%s\n", action_name(it->action), kind_name(it->kind),
           (long long)it->id, it->size ? cli_bytes(it->size, b) : "", t ? t : "?",
           *it->detail ? "  (" : "", it->detail, *it->detail ? ")" : "");
    shelf_free(t);
}

static int restore_ask(void *ud, const shelf_restore_item *it)
{
    char line[64];
    FILE *tty = fopen("/dev/tty", "r+");
    int ans = SHELF_CONFLICT_SKIP;

    (void)ud;
    if (!tty)
        return SHELF_CONFLICT_SKIP;
    for (;;) {
        fprintf(tty, "%s %lld %s: %s\n  [o]verwrite, [k]eep both, [s]kip; capital letter: for all: ",
                kind_name(it->kind), (long long)it->id, *it->path ? it->path : it->name, it->detail);
        (void)fflush(tty);  /* as in prompt_password */
        if (!fgets(line, sizeof line, tty))
            break;
        switch (line[0]) {
        case 'o': ans = SHELF_CONFLICT_OVERWRITE; break;
        case 'O': ans = SHELF_CONFLICT_OVERWRITE | SHELF_RESTORE_ALL; break;
        case 'k': ans = SHELF_CONFLICT_KEEP_BOTH; break;
        case 'K': ans = SHELF_CONFLICT_KEEP_BOTH | SHELF_RESTORE_ALL; break;
        case 's': ans = SHELF_CONFLICT_SKIP; break;
        case 'S': ans = SHELF_CONFLICT_SKIP | SHELF_RESTORE_ALL; break;
        default: continue;
        }
        break;
    }
    (void)fclose(tty);      /* the answer is read */
    return ans;
}

int cmd_restore(const cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "repo", required_argument, NULL, 'r' }, { "password-file", required_argument, NULL, 'p' },
        { "query", required_argument, NULL, 'Q' }, { "preview", no_argument, NULL, 'n' },
        { "on-conflict", required_argument, NULL, 'c' }, { "to", required_argument, NULL, 't' },
        { "files-to-original", no_argument, NULL, 'o' }, CLI_NET_LONGOPTS, { NULL, 0, NULL, 0 }
    };
    shelf_restore_opts o;
    shelf_restore_stats st = { .size = sizeof st };
    shelf_library *lib = NULL;
    shelf_repo *r = NULL;
    restore_ui ui;
    repo_args ra;
    const char *snap;
    char b[32];
    int ch, ex, first, rc, policy_set = 0;

    memset(&ra, 0, sizeof ra);
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    FOR_OPTS(ch, argc, argv, "r:", longopts) {
        switch (ch) {
        case 'r': ra.target = optarg; break;
        case 'p': ra.password_file = optarg; break;
        case 'Q': o.query = optarg; break;
        case 'n': o.preview = 1; break;
        case 't': o.to = optarg; break;
        case 'o': o.files_to_original = 1; break;
        case 'c':
            policy_set = 1;
            if (!strcmp(optarg, "overwrite"))
                o.on_conflict = SHELF_CONFLICT_OVERWRITE;
            else if (!strcmp(optarg, "keep-both"))
                o.on_conflict = SHELF_CONFLICT_KEEP_BOTH;
            else if (!strcmp(optarg, "skip"))
                o.on_conflict = SHELF_CONFLICT_SKIP;
            else if (!strcmp(optarg, "ask"))
                o.on_conflict = SHELF_CONFLICT_ASK;
            else {
                cli_error("invalid --on-conflict '%s': overwrite, keep-both, skip or ask", optarg);
                return EXIT_USAGE;
            }
            break;
        default:
            if (cli_net_opt(&ra.net, ch, optarg) != EXIT_OK)
                return EXIT_USAGE;
            break;
        }
    }
    first = optind;
    if ((ex = take_target(&ra, argc, argv, &first,
                          "shelf restore [-r TARGET | TARGET] SNAP [ITEM... | --query Q] [--preview] "
                          "[--on-conflict P] [--to DIR]")) != EXIT_OK)
        return ex;
    if (first >= argc) {
        cli_error("usage: shelf restore [-r TARGET | TARGET] SNAP [ITEM... | --query Q] [--preview] "
                  "[--on-conflict overwrite|keep-both|skip|ask] [--to DIR]");
        return EXIT_USAGE;
    }
    snap = argv[first++];
    o.items = (const char *const *)argv + first;
    o.nitems = (size_t)(argc - first);
    if (!policy_set)
        o.on_conflict = isatty(0) && !c->json ? SHELF_CONFLICT_ASK : SHELF_CONFLICT_SKIP;
    if (!o.to && (ex = cli_open(c, 0, &lib)) != EXIT_OK)
        return ex;
    if ((ex = open_repo(c, &ra, &r)) != EXIT_OK)
        goto out;
    memset(&ui, 0, sizeof ui);
    ui.c = c;
    ui.arr = json_array();
    ui.preview = o.preview;
    o.on_item = restore_item;
    o.ask = restore_ask;
    o.ud = &ui;
    rc = shelf_restore(r, lib, snap, &o, &st);
    if (*shelf_repo_warning(r))
        cli_error("warning: %s", shelf_repo_warning(r));
    if (c->json) {
        cli_print_json(json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}", "preview", o.preview,
            "created", (json_int_t)st.created, "overwritten", (json_int_t)st.overwritten,
            "kept_both", (json_int_t)st.kept_both, "skipped", (json_int_t)st.skipped,
            "same", (json_int_t)st.same, "failed", (json_int_t)st.failed, "bytes", (json_int_t)st.bytes,
            "items", ui.arr));
    } else {
        json_decref(ui.arr);
        if (!c->quiet)
            printf("%s%llu created, %llu overwritten, %llu kept both, %llu skipped, %llu unchanged, "
                   "%llu failed; %s %s\n", o.preview ? "preview (nothing written): " : "",
                   (unsigned long long)st.created, (unsigned long long)st.overwritten,
                   (unsigned long long)st.kept_both, (unsigned long long)st.skipped,
                   (unsigned long long)st.same, (unsigned long long)st.failed, cli_bytes(st.bytes, b),
                   o.preview ? "to write" : "written");
    }
    ex = rc == SHELF_OK ? EXIT_OK : repo_fail(r, rc);
out:
    shelf_repo_close(r);
    shelf_library_close(lib);
    cli_wipe_free(ra.password);
    return ex;
}

/* ---- log ---- */

typedef struct log_ctx {
    const cli *c;
    json_t *arr;
} log_ctx;

static int log_line(void *ud, const shelf_audit_entry *e)
{
    log_ctx *l = ud;
    char t[32];

    if (l->c->json)
        jadd(l->arr, json_pack("{s:I, s:I, s:s, s:i, s:I, s:s}", "id", (json_int_t)e->id,
                              "time", (json_int_t)e->time, "action", e->action, "kind", e->kind,
                              "item_id", (json_int_t)e->item_id, "detail", e->detail));
    else
        printf("%s  %-8s %s\n", when(e->time, t), e->action, e->detail);
    return 0;
}

int cmd_log(const cli *c, int argc, char **argv)
{
    static const struct option longopts[] = { { "limit", required_argument, NULL, 'l' }, { NULL, 0, NULL, 0 } };
    shelf_library *lib;
    log_ctx l = { c, NULL };
    long limit = 50;
    int ch, rc, ex;

    FOR_OPTS(ch, argc, argv, "", longopts) {
        char *end;

        if (ch != 'l')
            return EXIT_USAGE;
        limit = strtol(optarg, &end, 10);
        if (*end || limit < 0) {
            cli_error("invalid --limit '%s'", optarg);
            return EXIT_USAGE;
        }
    }
    if (optind != argc) {
        cli_error("usage: shelf log [--limit N]");
        return EXIT_USAGE;
    }
    if ((ex = cli_open(c, SHELF_OPEN_READONLY, &lib)) != EXIT_OK)
        return ex;
    l.arr = json_array();
    rc = shelf_audit_list(lib, limit, log_line, &l);
    if (rc != SHELF_OK) {
        json_decref(l.arr);
        ex = cli_fail(lib, rc);
    } else if (c->json) {
        cli_print_json(l.arr);
    } else {
        json_decref(l.arr);
    }
    shelf_library_close(lib);
    return ex;
}
