/*
 * cmd_patch.c: patches and projects as documents (`shelf patch ...`,
 * `shelf project ...`), automation lanes, references between items
 * (`shelf refs`) and `shelf undo`.
 */
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"

static const char *noun(int kind)
{
    return kind == SHELF_DOC_PATCH ? "patch" : "project";
}

/* Report the new version of an item, or with newseq 0 that nothing changed. */
static void report_version(const cli *c, int kind, int64_t id, int64_t newseq)
{
    if (c->json)
        cli_print_json(json_pack("{s:s, s:I, s:o, s:b}", "kind", noun(kind), "id", (json_int_t)id,
                                 "version", newseq ? json_integer(newseq) : json_null(),
                                 "changed", newseq != 0));
    else if (newseq)
        printf("%s %lld: version %lld\n", noun(kind), (long long)id, (long long)newseq);
    else
        printf("no change\n");
}

static int usage(int kind, const char *text)
{
    cli_error("usage: shelf %s %s", noun(kind), text);
    return EXIT_USAGE;
}

/* The head version of an item and its first parent. */
typedef struct headinfo {
    int64_t seq, parent;
} headinfo;

static int on_head(void *ud, const shelf_docversion *v)
{
    headinfo *h = ud;

    if (v->head) {
        h->seq = v->seq;
        h->parent = v->parent;
        return 1;
    }
    return 0;
}

static int head_of(shelf_library *lib, int kind, int64_t id, headinfo *h)
{
    int rc = shelf_doc_history(lib, kind, id, on_head, h);

    return rc == SHELF_ECANCELED ? SHELF_OK : rc;
}

/*
 * Indent compact JSON text (a canonical document) for people, keeping every
 * token as it is, so numbers print exactly as stored.
 */
static char *indent_json(const char *s)
{
    size_t n = strlen(s), cap = n * 4 + 64, k = 0;
    char *out = malloc(cap);
    int depth = 0, in_str = 0;

    if (!out)
        return NULL;
    for (; *s; s++) {
        if (k + 2 * depth + 8 > cap) {
            char *p = realloc(out, cap *= 2);

            if (!p) {
                free(out);
                return NULL;
            }
            out = p;
        }
        if (in_str) {
            out[k++] = *s;
            if (*s == '\\' && s[1])
                out[k++] = *++s;
            else if (*s == '"')
                in_str = 0;
            continue;
        }
        switch (*s) {
        case '"':
            in_str = 1;
            out[k++] = '"';
            break;
        case '{': case '[':
            out[k++] = *s;
            if (s[1] == '}' || s[1] == ']') {
                out[k++] = *++s;
                break;
            }
            depth++;
            out[k++] = '\n';
            for (int i = 0; i < 2 * depth; i++)
                out[k++] = ' ';
            break;
        case '}': case ']':
            depth--;
            out[k++] = '\n';
            for (int i = 0; i < 2 * depth; i++)
                out[k++] = ' ';
            out[k++] = *s;
            break;
        case ',':
            out[k++] = ',';
            out[k++] = '\n';
            for (int i = 0; i < 2 * depth; i++)
                out[k++] = ' ';
            break;
        case ':':
            out[k++] = ':';
            out[k++] = ' ';
            break;
        default:
            out[k++] = *s;
        }
    }
    out[k] = '\0';
    return out;
}

/* ---- show ------------------------------------------------------------------ */

static void print_value(FILE *f, const json_t *v)
{
    char *s;

    if (json_is_string(v)) {
        fputs(json_string_value(v), f);
        return;
    }
    s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
    fputs(s ? s : "?", f);
    free(s);
}

/* Print every value under v as "prefix/path  value unit". */
static void print_tree(const json_t *v, const json_t *types, char *path, size_t len, size_t cap,
                       int indent)
{
    const char *key;
    json_t *m;

    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, key, m) {
            size_t n = (size_t)snprintf(path + len, cap - len, "%s%s", len ? "/" : "", key);

            if (len + n >= cap)
                continue;
            print_tree(m, types, path, len + n, cap, indent);
        }
        path[len] = '\0';
        return;
    }
    {
        const char *unit = json_string_value(json_object_get(json_object_get(types, path), "unit"));

        printf("%*s%-32s ", indent, "", path + (strncmp(path, "params/", 7) ? 0 : 7));
        print_value(stdout, v);
        if (unit)
            printf(" %s", unit);
        putchar('\n');
    }
}

static void print_range(const char *what, const json_t *r, int notes)
{
    char a[8], b[8];
    int lo = (int)json_integer_value(json_array_get(r, 0)), hi = (int)json_integer_value(json_array_get(r, 1));

    if (!r)
        return;
    if (notes)
        printf("  %s %s-%s", what, shelf_note_name(lo, a), shelf_note_name(hi, b));
    else
        printf("  %s %d-%d", what, lo, hi);
}

static void show_patch_text(const json_t *doc)
{
    const json_t *zones = json_object_get(doc, "zones"), *types = json_object_get(doc, "types"), *z, *s;
    const char *key;
    char path[1024] = "params", note[8];

    if (json_object_get(doc, "params")) {
        printf("params\n");
        print_tree(json_object_get(doc, "params"), types, path, strlen("params"), sizeof path, 2);
    }
    if (json_object_size(zones))
        printf("zones (%zu)\n", json_object_size(zones));
    json_object_foreach((json_t *)zones, key, z) {
        json_t *loop = json_object_get(z, "loop");

        s = json_object_get(z, "sample");
        printf("  %-6s", key);
        print_range("key", json_object_get(z, "key"), 1);
        if (json_object_get(z, "root"))
            printf("  root %s", shelf_note_name((int)json_integer_value(json_object_get(z, "root")), note));
        print_range("vel", json_object_get(z, "vel"), 0);
        if (json_object_get(z, "rr"))
            printf("  rr %lld", (long long)json_integer_value(json_object_get(z, "rr")));
        if (loop) {
            printf("  %s", json_string_value(json_object_get(loop, "mode")) ?
                               json_string_value(json_object_get(loop, "mode")) : "loop");
            if (json_object_get(loop, "start"))
                printf(" %lld-%lld", (long long)json_integer_value(json_object_get(loop, "start")),
                       (long long)json_integer_value(json_object_get(loop, "end")));
        }
        printf("  %s", json_string_value(json_object_get(s, "path")) ?
                           json_string_value(json_object_get(s, "path")) : "");
        if (json_object_get(s, "id"))
            printf(" (#%lld)", (long long)json_integer_value(json_object_get(s, "id")));
        if (json_is_true(json_object_get(s, "missing")))
            printf(" MISSING");
        putchar('\n');
    }
}

static void show_project_text(const json_t *doc)
{
    const json_t *lanes = json_object_get(doc, "automation"), *l;
    const char *key;
    json_t *m;

    if (json_object_get(doc, "tempo"))
        printf("tempo     %g bpm\n", json_number_value(json_object_get(doc, "tempo")));
    if (json_object_size(json_object_get(doc, "patches"))) {
        printf("patches  ");
        json_object_foreach(json_object_get(doc, "patches"), key, m)
            printf(" %s", key);
        putchar('\n');
    }
    if (json_object_size(json_object_get(doc, "samples"))) {
        printf("samples  ");
        json_object_foreach(json_object_get(doc, "samples"), key, m)
            printf(" %s", key);
        putchar('\n');
    }
    if (json_object_size(lanes))
        printf("automation (%zu lanes)\n", json_object_size(lanes));
    json_object_foreach((json_t *)lanes, key, l)
        printf("  %-6s %-6s %s  start %gs  duration %gs  %zu points\n", key,
               json_string_value(json_object_get(l, "type")),
               json_string_value(json_object_get(l, "target")),
               json_number_value(json_object_get(l, "start")),
               json_number_value(json_object_get(l, "duration")),
               json_array_size(json_object_get(l, "points")));
}

static int show(const cli *c, shelf_library *lib, int kind, const char *ref)
{
    int64_t id, seq;
    char *text = NULL;
    json_t *doc = NULL, *tags, *t;
    size_t i;
    int rc;

    if ((rc = shelf_doc_resolve(lib, kind, ref, &id, &seq)) != SHELF_OK ||
        (rc = shelf_doc_get(lib, kind, id, seq, &text)) != SHELF_OK)
        return cli_fail(lib, rc);
    if (c->json) {
        char *s = indent_json(text);

        puts(s ? s : text);
        free(s);
        shelf_free(text);
        return EXIT_OK;
    }
    if (!(doc = json_loads(text, 0, NULL))) {
        shelf_free(text);
        cli_error("cannot read %s %s", noun(kind), ref);
        return EXIT_FAIL;
    }
    shelf_free(text);
    if (!seq) {
        headinfo h = { 0, 0 };

        if ((rc = head_of(lib, kind, id, &h)) != SHELF_OK) {
            json_decref(doc);
            return cli_fail(lib, rc);
        }
        seq = h.seq;
    }
    printf("%s %lld  %s  (version %lld)\n", noun(kind), (long long)id,
           json_string_value(json_object_get(doc, "name")), (long long)seq);
    if (json_object_get(doc, "author"))
        printf("author    %s\n", json_string_value(json_object_get(doc, "author")));
    if (json_object_get(doc, "category"))
        printf("category  %s\n", json_string_value(json_object_get(doc, "category")));
    if ((tags = json_object_get(doc, "tags"))) {
        printf("tags     ");
        json_array_foreach(tags, i, t)
            printf(" %s", json_string_value(t));
        putchar('\n');
    }
    if (json_object_get(doc, "rating"))
        printf("rating    %lld\n", (long long)json_integer_value(json_object_get(doc, "rating")));
    if ((t = json_object_get(doc, "source"))) {
        printf("source    %s", json_string_value(json_object_get(t, "format")) ?
                                   json_string_value(json_object_get(t, "format")) : "?");
        if (json_object_get(t, "file"))
            printf("  %s", json_string_value(json_object_get(t, "file")));
        putchar('\n');
    }
    if (json_object_get(doc, "comment"))
        printf("comment   %s\n", json_string_value(json_object_get(doc, "comment")));
    if (kind == SHELF_DOC_PATCH)
        show_patch_text(doc);
    else
        show_project_text(doc);
    json_decref(doc);
    return EXIT_OK;
}

/* ---- list and history -------------------------------------------------------- */

typedef struct out_ui {
    const cli *c;
    json_t *arr;
    shelf_library *lib;         /* history: who made a version */
} out_ui;

static int on_doc(void *ud, const shelf_docinfo *d)
{
    out_ui *ui = ud;
    char when[32] = "-";

    if (ui->arr) {
        json_t *o = json_pack("{s:I, s:s, s:I, s:I, s:I, s:I}", "id", (json_int_t)d->id, "name",
                              d->name, "version", (json_int_t)d->version, "created",
                              (json_int_t)d->created, "modified", (json_int_t)d->modified,
                              "refs", (json_int_t)d->refs);

        int bad = !o;

        if (!bad && d->kind == SHELF_DOC_PATCH)
            bad = json_object_set_new(o, "author", d->author ? json_string(d->author) : json_null()) ||
                  json_object_set_new(o, "category", d->category ? json_string(d->category) : json_null()) ||
                  json_object_set_new(o, "format", d->format ? json_string(d->format) : json_null());
        else if (!bad)
            bad = json_object_set_new(o, "tempo", d->tempo > 0 ? json_real(d->tempo) : json_null()) ||
                  json_object_set_new(o, "archived", d->archived ? json_integer(d->archived) : json_null());
        if (bad || json_object_set_new(o, "last_used",
                                       d->last_used ? json_integer(d->last_used) : json_null()) != 0) {
            json_decref(o);
            return 1;       /* out of memory: stop rather than print a part */
        }
        return json_array_append_new(ui->arr, o) != 0;
    }
    if (d->modified) {
        time_t t = (time_t)d->modified;
        struct tm tm;

        strftime(when, sizeof when, "%Y-%m-%d", localtime_r(&t, &tm));
    }
    if (d->kind == SHELF_DOC_PATCH)
        printf("%6lld  %-32s %-10s %-12s v%-4lld %4lld samples  %s\n", (long long)d->id, d->name,
               d->format ? d->format : "-", d->category ? d->category : "-",
               (long long)d->version, (long long)d->refs, when);
    else
        printf("%6lld  %-32s %6.1f bpm  v%-4lld %4lld items  %s%s\n", (long long)d->id, d->name,
               d->tempo, (long long)d->version, (long long)d->refs, when, d->archived ? "  [archived]" : "");
    return 0;
}

static int on_version(void *ud, const shelf_docversion *v)
{
    out_ui *ui = ud;
    char when[32], who[SHELF_DEVICE_NAME_MAX + 1];
    time_t t = (time_t)v->time;
    struct tm tm;

    tool_who(ui->lib, v->device, who, sizeof who);
    if (ui->arr) {
        return json_array_append_new(ui->arr, json_pack(
            "{s:I, s:s, s:o, s:o, s:I, s:s, s:o, s:s, s:b, s:o, s:I}", "version", (json_int_t)v->seq,
            "hash", v->hash, "parent", v->parent ? json_integer(v->parent) : json_null(),
            "parent2", v->parent2 ? json_integer(v->parent2) : json_null(), "time",
            (json_int_t)v->time, "device", v->device, "who", tool_json_name(who), "message", v->message,
            "head", v->head, "undoes", v->undoes ? json_integer(v->undoes) : json_null(), "stored",
            (json_int_t)v->stored)) != 0;
    }
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", localtime_r(&t, &tm));
    printf("%c%4lld  %.12s  %s  ", v->head ? '*' : ' ', (long long)v->seq, v->hash, when);
    if (strcmp(v->device, shelf_library_id(ui->lib)) != 0) {
        char *w = cli_name_text(who);   /* a peer's name is its own */

        printf("[%s] ", w ? w : who);
        shelf_free(w);
    }
    if (v->parent2)
        printf("(%lld+%lld) ", (long long)v->parent, (long long)v->parent2);
    else if (v->parent && v->parent != v->seq - 1)
        printf("(from %lld) ", (long long)v->parent);
    printf("%s\n", v->message);
    return 0;
}

/* ---- diff ---------------------------------------------------------------------- */

static int print_diff(const cli *c, const char *text)
{
    json_t *d = json_loads(text, 0, NULL), *op;
    size_t i;

    if (!d) {
        cli_error("cannot read the diff");
        return EXIT_FAIL;
    }
    if (c->json) {
        cli_print_json(d);
        return EXIT_OK;
    }
    json_array_foreach(d, i, op) {
        const char *kind = json_string_value(json_object_get(op, "op"));
        const char *path = json_string_value(json_object_get(op, "path"));

        if (!strncmp(path, "tags/", 5)) {
            printf("%s tag %s\n", !strcmp(kind, "add") ? "+" : "-", path + 5);
            continue;
        }
        printf("%s %s", !strcmp(kind, "add") ? "+" : !strcmp(kind, "remove") ? "-" : "~", path);
        if (json_object_get(op, "old")) {
            printf(": ");
            print_value(stdout, json_object_get(op, "old"));
        }
        if (json_object_get(op, "new")) {
            printf(json_object_get(op, "old") ? " -> " : ": ");
            print_value(stdout, json_object_get(op, "new"));
        }
        putchar('\n');
    }
    if (json_array_size(d) == 0)
        printf("no differences\n");
    json_decref(d);
    return EXIT_OK;
}

static int diff(const cli *c, shelf_library *lib, int kind, int argc, char **argv)
{
    int64_t id, a = 0, b = 0, id2;
    char *text = NULL;
    int rc;

    if (argc < 1 || argc > 2)
        return usage(kind, "diff ID[@VER] [VER|ID@VER]");
    if ((rc = shelf_doc_resolve(lib, kind, argv[0], &id, &a)) != SHELF_OK)
        return cli_fail(lib, rc);
    if (argc == 2) {
        char ref[96];

        snprintf(ref, sizeof ref, "%lld@%s", (long long)id,
                 strchr(argv[1], '@') ? strchr(argv[1], '@') + 1 : argv[1]);
        if ((rc = shelf_doc_resolve(lib, kind, ref, &id2, &b)) != SHELF_OK)
            return cli_fail(lib, rc);
        if (!strchr(argv[0], '@')) {
            /* "diff ID VER": from VER to the head. */
            a = b;
            b = 0;
        }
    } else if (!a) {
        /* "diff ID": what the head changed from its parent. */
        headinfo h = { 0, 0 };

        if ((rc = head_of(lib, kind, id, &h)) != SHELF_OK)
            return cli_fail(lib, rc);
        if (!h.parent) {
            printf("version %lld is the first\n", (long long)h.seq);
            return EXIT_OK;
        }
        a = h.parent;
        b = h.seq;
    }
    if ((rc = shelf_doc_diff_versions(lib, kind, id, a, b, &text)) != SHELF_OK)
        return cli_fail(lib, rc);
    rc = print_diff(c, text);
    shelf_free(text);
    return rc;
}

/* ---- edit ---------------------------------------------------------------------- */

static int run_editor(const char *file)
{
    const char *ed = getenv("VISUAL");
    char *cmd;
    int st;

    if (!ed || !*ed)
        ed = getenv("EDITOR");
    if (!ed || !*ed)
        ed = "vi";
    if (!(cmd = malloc(strlen(ed) + strlen(file) + 8)))
        return -1;
    snprintf(cmd, strlen(ed) + strlen(file) + 8, "%s '%s'", ed, file);
    st = system(cmd);
    free(cmd);
    return st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0 ? -1 : 0;
}

static int edit(const cli *c, shelf_library *lib, int kind, const char *ref, const char *file,
                const char *msg)
{
    char *text = NULL, *cur = NULL, tmp[] = "/tmp/shelf-edit-XXXXXX.json";
    int64_t id, seq, newseq;
    int rc, fd, ex = EXIT_OK;

    if ((rc = shelf_doc_resolve(lib, kind, ref, &id, &seq)) != SHELF_OK)
        return cli_fail(lib, rc);
    if (file) {
        if (!(text = cli_read_all(file, NULL))) {
            cli_error("cannot read '%s': %s", file, strerror(errno));
            return EXIT_NOTFOUND;
        }
    } else {
        if ((rc = shelf_doc_get(lib, kind, id, seq, &text)) != SHELF_OK)
            return cli_fail(lib, rc);
        cur = indent_json(text);
        shelf_free(text);
        text = NULL;
        if (!cur || (fd = mkstemps(tmp, 5)) < 0 || write(fd, cur, strlen(cur)) < 0 || close(fd) < 0) {
            cli_error("cannot write '%s': %s", tmp, strerror(errno));
            free(cur);
            return EXIT_FAIL;
        }
        if (run_editor(tmp) != 0) {
            cli_error("the editor failed; nothing changed (your text is in '%s')", tmp);
            free(cur);
            return EXIT_FAIL;
        }
        if (!(text = cli_read_all(tmp, NULL))) {
            cli_error("cannot read '%s': %s", tmp, strerror(errno));
            free(cur);
            return EXIT_FAIL;
        }
        free(cur);
    }
    rc = shelf_doc_commit(lib, kind, id, text, seq, msg, &newseq);
    if (rc == SHELF_DONE) {
        report_version(c, kind, id, 0);
    } else if (rc != SHELF_OK) {
        ex = cli_fail(lib, rc);
        if (!file)
            cli_error("your text is kept in '%s'", tmp);
        free(text);
        return ex;
    } else {
        report_version(c, kind, id, newseq);
    }
    if (!file)
        unlink(tmp);
    free(text);
    return ex;
}

/* ---- merge ---------------------------------------------------------------------- */

static void print_conflicts(const shelf_merge *m, int only_open)
{
    for (size_t i = 0; i < shelf_merge_conflicts(m); i++) {
        const char *path, *b, *o, *t;
        int resolved;

        shelf_merge_conflict(m, i, &path, &b, &o, &t, &resolved);
        if (only_open && resolved)
            continue;
        fprintf(stderr, "conflict %s\n  base:   %s\n  ours:   %s\n  theirs: %s\n", path,
                b ? b : "(absent)", o ? o : "(absent)", t ? t : "(deleted)");
    }
}

static int merge(const cli *c, shelf_library *lib, int kind, int argc, char **argv)
{
    static const struct option opts[] = {
        { "ours", optional_argument, NULL, 'o' }, { "theirs", optional_argument, NULL, 't' },
        { "set", required_argument, NULL, 's' }, { "message", required_argument, NULL, 'm' },
        { "preview", no_argument, NULL, 'p' }, { NULL, 0, NULL, 0 }
    };
    shelf_merge *m = NULL;
    int64_t id, other, base, seq;
    const char *msg = NULL;
    int preview = 0, rc, ch, ex = EXIT_OK;
    char ref[96];

    /* Resolve the versions first, then apply the options in order. */
    FOR_OPTS(ch, argc, argv, "m:", opts) {
        if (ch == 'm')
            msg = optarg;
        else if (ch == 'p')
            preview = 1;
        else if (ch == '?')
            return EXIT_USAGE;
    }
    if (optind + 2 != argc)
        return usage(kind, "merge ID VER [--ours[=PATH]] [--theirs[=PATH]] [--set PATH=VALUE] "
                           "[--preview] [-m MSG]");
    snprintf(ref, sizeof ref, "%s@%s", argv[optind], argv[optind + 1]);
    if ((rc = shelf_doc_resolve(lib, kind, ref, &id, &other)) != SHELF_OK)
        return cli_fail(lib, rc);
    rc = shelf_doc_merge_prepare(lib, kind, id, other, &m, &base);
    if (rc == SHELF_DONE) {
        if (c->json)
            cli_print_json(json_pack("{s:s, s:I, s:n, s:b, s:s}", "kind", noun(kind), "id",
                                     (json_int_t)id, "version", "changed", 0, "message",
                                     shelf_errmsg(lib)));
        else
            printf("%s\n", shelf_errmsg(lib));
        return EXIT_OK;
    }
    if (rc != SHELF_OK)
        return cli_fail(lib, rc);
    FOR_OPTS(ch, argc, argv, "m:", opts) {
        int how = ch == 'o' ? SHELF_MERGE_OURS : SHELF_MERGE_THEIRS;

        if (ch == 'o' || ch == 't') {
            rc = optarg ? shelf_merge_resolve_path(m, optarg, how, NULL)
                        : shelf_merge_resolve(m, (size_t)-1, how, NULL);
            if (rc == SHELF_ENOTFOUND) {
                cli_error("no conflict at '%s'", optarg);
                ex = EXIT_USAGE;
                goto out;
            }
        } else if (ch == 's') {
            char *eq = optarg ? strchr(optarg, '=') : NULL;

            if (!eq) {
                cli_error("--set needs PATH=VALUE");
                ex = EXIT_USAGE;
                goto out;
            }
            *eq = '\0';
            rc = shelf_merge_resolve_path(m, optarg, SHELF_MERGE_VALUE, eq + 1);
            if (rc == SHELF_ENOTFOUND) {
                cli_error("no conflict at '%s'", optarg);
                ex = EXIT_USAGE;
                goto out;
            }
        }
    }
    if (preview && c->json) {
        json_t *arr = json_array();
        char *text = NULL;

        for (size_t i = 0; i < shelf_merge_conflicts(m); i++) {
            const char *path, *b, *o, *t;
            int resolved;

            shelf_merge_conflict(m, i, &path, &b, &o, &t, &resolved);
            if (json_array_append_new(arr, json_pack("{s:s, s:s?, s:s?, s:s?, s:b}", "path", path,
                                                     "base", b, "ours", o, "theirs", t, "resolved",
                                                     resolved)) != 0) {
                json_decref(arr);
                cli_error("out of memory");
                ex = EXIT_FAIL;
                goto out;
            }
        }
        shelf_merge_result(m, &text);
        cli_print_json(json_pack("{s:I, s:I, s:o, s:s?}", "base", (json_int_t)base, "theirs",
                                 (json_int_t)other, "conflicts", arr, "result", text));
        shelf_free(text);
        goto out;
    }
    if (preview) {
        char *text = NULL;

        printf("base %lld, ours %s, theirs %lld: %zu conflicts\n", (long long)base, "head",
               (long long)other, shelf_merge_conflicts(m));
        print_conflicts(m, 0);
        if (shelf_merge_result(m, &text) == SHELF_OK)
            printf("%s\n", text);
        shelf_free(text);
        goto out;
    }
    rc = shelf_doc_merge_commit(lib, kind, id, other, m, msg, &seq);
    if (rc == SHELF_ECONFLICT) {
        print_conflicts(m, 1);
        cli_error("%s; resolve with --ours, --theirs or --set PATH=VALUE (nothing was changed)",
                  shelf_errmsg(lib));
        ex = EXIT_CONFLICT;
    } else if (rc != SHELF_OK) {
        ex = cli_fail(lib, rc);
    } else if (c->json) {
        cli_print_json(json_pack("{s:I, s:I, s:I, s:I}", "id", (json_int_t)id, "version",
                                 (json_int_t)seq, "base", (json_int_t)base, "conflicts",
                                 (json_int_t)shelf_merge_conflicts(m)));
    } else {
        printf("%s %lld: merged version %lld (base %lld, %zu conflicts resolved) as version %lld\n",
               noun(kind), (long long)id, (long long)other, (long long)base,
               shelf_merge_conflicts(m), (long long)seq);
    }
out:
    shelf_merge_free(m);
    return ex;
}

/* ---- new, set, import, export --------------------------------------------------- */

static int create(const cli *c, shelf_library *lib, int kind, int argc, char **argv)
{
    static const struct option opts[] = {
        { "file", required_argument, NULL, 'f' }, { "author", required_argument, NULL, 'a' },
        { "category", required_argument, NULL, 'c' }, { "tempo", required_argument, NULL, 't' },
        { "message", required_argument, NULL, 'm' }, { NULL, 0, NULL, 0 }
    };
    const char *file = NULL, *author = NULL, *category = NULL, *msg = NULL;
    double tempo = 0;
    char *text = NULL, *end;
    json_t *doc;
    int64_t id;
    int ch, rc;

    FOR_OPTS(ch, argc, argv, "f:m:", opts) {
        switch (ch) {
        case 'f': file = optarg; break;
        case 'a': author = optarg; break;
        case 'c': category = optarg; break;
        case 'm': msg = optarg; break;
        case 't':
            tempo = strtod(optarg, &end);
            if (*end || tempo <= 0 || tempo > 1000) {
                cli_error("invalid tempo '%s': 1 to 1000 bpm", optarg);
                return EXIT_USAGE;
            }
            break;
        default: return EXIT_USAGE;
        }
    }
    if (file && optind == argc) {
        if (!(text = cli_read_all(file, NULL))) {
            cli_error("cannot read '%s': %s", file, strerror(errno));
            return EXIT_NOTFOUND;
        }
    } else if (!file && optind + 1 == argc) {
        doc = json_pack("{s:i, s:s}", kind == SHELF_DOC_PATCH ? "shelf_patch" : "shelf_project", 1,
                        "name", argv[optind]);
        if (!doc || (author && json_object_set_new(doc, "author", json_string(author)) != 0) ||
            (category && kind == SHELF_DOC_PATCH &&
             json_object_set_new(doc, "category", json_string(category)) != 0) ||
            (tempo > 0 && kind == SHELF_DOC_PROJECT &&
             json_object_set_new(doc, "tempo", json_real(tempo)) != 0) ||
            !(text = json_dumps(doc, JSON_COMPACT))) {
            json_decref(doc);
            cli_error("out of memory");
            return EXIT_FAIL;
        }
        json_decref(doc);
    } else {
        return usage(kind, "new NAME [--author A] [--category C] [--tempo BPM] | new --file DOC.json");
    }
    rc = shelf_doc_create(lib, kind, text, msg, &id);
    free(text);
    if (rc != SHELF_OK)
        return cli_fail(lib, rc);
    if (c->json)
        cli_print_json(json_pack("{s:I, s:I}", "id", (json_int_t)id, "version", (json_int_t)1));
    else
        printf("%s %lld\n", noun(kind), (long long)id);
    return EXIT_OK;
}

static int set(const cli *c, shelf_library *lib, int kind, int argc, char **argv)
{
    static const struct option opts[] = {
        { "rm", required_argument, NULL, 'r' }, { "message", required_argument, NULL, 'm' },
        { NULL, 0, NULL, 0 }
    };
    const char **paths = calloc((size_t)argc + 1, sizeof *paths);
    const char **values = calloc((size_t)argc + 1, sizeof *values);
    const char *msg = NULL;
    size_t n = 0;
    int64_t id, seq, newseq;
    int ch, rc, i, ex = EXIT_OK;

    if (!paths || !values) {
        ex = EXIT_FAIL;
        goto out;
    }
    FOR_OPTS(ch, argc, argv, "m:", opts) {
        if (ch == 'm') {
            msg = optarg;
        } else if (ch == 'r') {
            paths[n] = optarg;
            values[n++] = NULL;
        } else {
            ex = EXIT_USAGE;
            goto out;
        }
    }
    if (optind >= argc) {
        ex = usage(kind, "set ID PATH=VALUE... [--rm PATH]... [-m MSG]   "
                         "(tags+=T / tags-=T add or remove a tag)");
        goto out;
    }
    for (i = optind + 1; i < argc; i++) {
        char *eq = strchr(argv[i], '=');

        if (!eq || eq == argv[i]) {
            cli_error("invalid assignment '%s': PATH=VALUE", argv[i]);
            ex = EXIT_USAGE;
            goto out;
        }
        *eq = '\0';
        paths[n] = argv[i];
        values[n++] = eq + 1;
    }
    if (n == 0) {
        ex = usage(kind, "set ID PATH=VALUE... [--rm PATH]... [-m MSG]");
        goto out;
    }
    if ((rc = shelf_doc_resolve(lib, kind, argv[optind], &id, &seq)) != SHELF_OK) {
        ex = cli_fail(lib, rc);
        goto out;
    }
    if (seq) {
        cli_error("set changes the head; to branch from version %lld, use edit %s",
                  (long long)seq, argv[optind]);
        ex = EXIT_USAGE;
        goto out;
    }
    rc = shelf_doc_setv(lib, kind, id, paths, values, n, msg, &newseq);
    if (rc == SHELF_DONE)
        report_version(c, kind, id, 0);
    else if (rc != SHELF_OK)
        ex = cli_fail(lib, rc);
    else
        report_version(c, kind, id, newseq);
out:
    free(paths);
    free(values);
    return ex;
}

/* Patch files under a folder, by name (sorted, so runs are repeatable). */
static int is_patch_name(const char *path)
{
    const char *base = strrchr(path, '/'), *dot;

    base = base ? base + 1 : path;
    if (!strcasecmp(base, "drumkit.xml"))
        return 1;
    if (!(dot = strrchr(base, '.')))
        return 0;
    return !strcasecmp(dot, ".sfz") || !strcasecmp(dot, ".xiz") || !strcasecmp(dot, ".xpf") ||
           !strcasecmp(dot, ".dspreset");
}

typedef struct pathlist {
    char **v;
    size_t n, cap;
} pathlist;

static int push_path(pathlist *l, const char *path)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 256;
        char **v = realloc(l->v, cap * sizeof *v);

        if (!v)
            return -1;
        l->v = v;
        l->cap = cap;
    }
    if (!(l->v[l->n] = strdup(path)))
        return -1;
    l->n++;
    return 0;
}

static pathlist *walk_list;     /* nftw has no user pointer */

static int on_walk(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    if (type == FTW_F && is_patch_name(path) && push_path(walk_list, path) != 0)
        return -1;
    return cli_interrupted ? 1 : 0;
}

static size_t preset_count, count_root;     /* nftw has no user pointer */

static int on_count(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    /* as import walks: not in dot folders, not dot files; drumkit.xml is not
     * counted (`shelf import` reads a kit with its samples) */
    if (type == FTW_F && !strstr(path + count_root, "/.") && is_patch_name(path) &&
        strcasecmp(path + ftw->base, "drumkit.xml") != 0)
        preset_count++;
    return cli_interrupted ? 1 : 0;
}

size_t cli_count_presets(char *const *paths, int n)
{
    struct stat sb;
    int i;

    preset_count = 0;
    for (i = 0; i < n; i++) {
        if (stat(paths[i], &sb) == 0 && S_ISDIR(sb.st_mode)) {
            count_root = strlen(paths[i]);
            nftw(paths[i], on_count, 32, FTW_PHYS);
        }
        else if (is_patch_name(paths[i]) && !strstr(paths[i], "drumkit.xml"))
            preset_count++;
    }
    return preset_count;
}

static int cmp_path(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int history_signature(const cli *c, shelf_library *lib, const char *file, const char *text, size_t n,
                             int require, shelf_signature *sig);

/* One patch file: a signed history (FILE.sig beside it) or, with require,
 * any file, goes through its signature first and is imported from the
 * very bytes checked.  SHELF_EPERM (*sigex set, message printed) when the
 * signature refuses it. */
static int import_one(const cli *c, shelf_library *lib, const char *file, int format, int flags, int require,
                      int64_t *id, int *sigex)
{
    shelf_signature sig;
    size_t plen = strlen(file) + 5, n = 0;
    char *sigpath = malloc(plen), *text;
    int rc, kind;

    *sigex = EXIT_OK;
    if (!sigpath)
        return SHELF_ENOMEM;
    snprintf(sigpath, plen, "%s.sig", file);
    if (!require && access(sigpath, F_OK) != 0) {
        free(sigpath);
        return shelf_patch_import(lib, file, format, flags, id);
    }
    free(sigpath);
    if (!(text = cli_read_all(file, &n)))
        return shelf_patch_import(lib, file, format, flags, id);   /* its own message */
    if ((*sigex = history_signature(c, lib, file, text, n, require, &sig)) != EXIT_OK) {
        free(text);
        return SHELF_EPERM;
    }
    rc = shelf_doc_import(lib, text, flags & SHELF_PIMPORT_AS_NEW ? SHELF_DOC_IMPORT_AS_NEW : 0, &kind, id);
    free(text);
    return rc;
}

static int import(const cli *c, shelf_library *lib, int argc, char **argv)
{
    static const struct option opts[] = {
        { "copy", no_argument, NULL, 'c' }, { "allow-missing", no_argument, NULL, 'a' },
        { "format", required_argument, NULL, 'f' }, { "verbose", no_argument, NULL, 'v' },
        { "as-new", no_argument, NULL, 'n' }, { "require-signed", no_argument, NULL, 'S' },
        { NULL, 0, NULL, 0 }
    };
    static const char *const formats[] = { "auto", "sfz", "hydrogen", "zyn", "lmms",
                                           "decentsampler", "shelf", NULL };
    int flags = 0, format = 0, ch, rc, ex = EXIT_OK, i, k, verbose = 0, nomem = 0, require = 0, sigex;
    size_t j, done = 0, failed = 0, unchanged = 0;
    int64_t id;
    json_t *arr = c->json ? json_array() : NULL;
    pathlist files = { NULL, 0, 0 };
    cli_progress prog;
    struct stat sb;
    double t0 = cli_now();

    FOR_OPTS(ch, argc, argv, "v", opts) {
        if (ch == 'c') {
            flags |= SHELF_PIMPORT_COPY;
        } else if (ch == 'a') {
            flags |= SHELF_PIMPORT_ALLOW_MISSING;
        } else if (ch == 'v') {
            verbose = 1;
        } else if (ch == 'n') {
            flags |= SHELF_PIMPORT_AS_NEW;
        } else if (ch == 'S') {
            require = 1;
        } else if (ch == 'f') {
            for (k = 0; formats[k] && strcmp(formats[k], optarg) != 0; k++)
                ;
            if (!formats[k]) {
                cli_error("unknown format '%s': sfz hydrogen zyn lmms decentsampler shelf", optarg);
                json_decref(arr);
                return EXIT_USAGE;
            }
            format = k;
        } else {
            json_decref(arr);
            return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        json_decref(arr);
        return usage(SHELF_DOC_PATCH,
                     "import [--copy] [--allow-missing] [--as-new] [--require-signed] [--format F] [-v] "
                     "FILE|DIR...");
    }
    /* Files as given; folders walked for patch files by name. */
    walk_list = &files;
    for (i = optind; i < argc; i++) {
        if (stat(argv[i], &sb) == 0 && S_ISDIR(sb.st_mode)) {
            size_t before = files.n;

            if (nftw(argv[i], on_walk, 32, FTW_PHYS) < 0) {
                cli_error("cannot walk '%s': %s", argv[i], strerror(errno));
                ex = EXIT_NOTFOUND;
            }
            if (files.n > before)
                qsort(files.v + before, files.n - before, sizeof *files.v, cmp_path);
        } else if (push_path(&files, argv[i]) != 0) {
            cli_error("out of memory");
            ex = EXIT_FAIL;
            break;
        }
    }
    cli_progress_start(&prog, c);
    for (j = 0; j < files.n && !cli_interrupted; j++) {
        rc = import_one(c, lib, files.v[j], format, flags, require, &id, &sigex);
        done++;
        if (rc == SHELF_DONE) {         /* the library has it: nothing new */
            unchanged++;
            if (arr)
                nomem |= json_array_append_new(arr, json_pack("{s:s, s:I, s:b}", "file", files.v[j],
                                                              "id", (json_int_t)id, "unchanged", 1)) != 0;
            else if (verbose || (files.n <= 20 && !c->quiet))
                printf("patch %lld  %s (unchanged)\n", (long long)id, files.v[j]);
        } else if (rc != SHELF_OK) {
            failed++;
            if (prog.active)
                cli_progress_end(&prog);
            if (!sigex)
                cli_error("%s", shelf_errmsg(lib));
            ex = files.n > 1 ? EXIT_PARTIAL : sigex ? sigex : cli_exit_for(rc);
            if (arr)
                nomem |= json_array_append_new(arr, json_pack("{s:s, s:n, s:s}", "file", files.v[j], "id",
                                                              "error", sigex ? "refused by its signature"
                                                                             : shelf_errmsg(lib))) != 0;
        } else if (arr) {
            nomem |= json_array_append_new(arr, json_pack("{s:s, s:I}", "file", files.v[j], "id",
                                                          (json_int_t)id)) != 0;
        } else if (verbose || (files.n <= 20 && !c->quiet)) {
            printf("patch %lld  %s\n", (long long)id, files.v[j]);
        }
        cli_progress_draw(&prog, "patches", done, files.n, 0, 0);
    }
    cli_progress_end(&prog);
    if (nomem) {
        cli_error("out of memory");
        json_decref(arr);
        arr = NULL;
        ex = EXIT_FAIL;
    } else if (arr) {
        cli_print_json(arr);
    }
    if (!arr && !nomem && !c->quiet && files.n > 1)
        fprintf(stderr, "%zu patches imported, %zu unchanged, %zu failed, in %.1f s\n",
                done - failed - unchanged, unchanged, failed, cli_now() - t0);
    for (j = 0; j < files.n; j++)
        free(files.v[j]);
    free(files.v);
    return cli_interrupted ? EXIT_INTERRUPTED : ex;
}

/* ---- projects: add / drop items; automation ----------------------------------- */

/* "patch:N", "sample:N", "N" (a sample) or a sample's path -> path in the project. */
static int item_path(shelf_library *lib, const char *arg, char *path, size_t size)
{
    int64_t id;
    int ex;

    if (!strncmp(arg, "patch:", 6)) {
        if (!(id = cli_parse_id(arg + 6))) {
            cli_error("invalid patch '%s'", arg);
            return EXIT_USAGE;
        }
        snprintf(path, size, "patches/%lld", (long long)id);
        return EXIT_OK;
    }
    if (!strncmp(arg, "sample:", 7))
        arg += 7;
    if ((ex = cli_resolve(lib, arg, &id)) != EXIT_OK)
        return ex;
    snprintf(path, size, "samples/%lld", (long long)id);
    return EXIT_OK;
}

static int project_items(const cli *c, shelf_library *lib, int add, int argc, char **argv)
{
    char (*paths)[64] = calloc((size_t)argc + 1, sizeof *paths);
    const char **pp = calloc((size_t)argc + 1, sizeof *pp), **vv = calloc((size_t)argc + 1, sizeof *vv);
    int64_t id, seq;
    int i, ex = EXIT_OK, rc;

    if (!paths || !pp || !vv) {
        ex = EXIT_FAIL;
        goto out;
    }
    if (argc < 2) {
        ex = usage(SHELF_DOC_PROJECT, add ? "add ID patch:N|sample:N|PATH..." : "drop ID ITEM...");
        goto out;
    }
    if ((rc = shelf_doc_resolve(lib, SHELF_DOC_PROJECT, argv[0], &id, &seq)) != SHELF_OK) {
        ex = cli_fail(lib, rc);
        goto out;
    }
    for (i = 1; i < argc; i++) {
        if ((ex = item_path(lib, argv[i], paths[i - 1], sizeof paths[i - 1])) != EXIT_OK)
            goto out;
        pp[i - 1] = paths[i - 1];
        vv[i - 1] = add ? "{}" : NULL;
    }
    rc = shelf_doc_setv(lib, SHELF_DOC_PROJECT, id, pp, vv, (size_t)argc - 1, NULL, &seq);
    if (rc == SHELF_DONE)
        report_version(c, SHELF_DOC_PROJECT, id, 0);
    else if (rc != SHELF_OK)
        ex = cli_fail(lib, rc);
    else
        report_version(c, SHELF_DOC_PROJECT, id, seq);
out:
    free(paths);
    free(pp);
    free(vv);
    return ex;
}

static int print_user(void *ud, int kind, int64_t id, const char *name, int uses)
{
    (void)ud;
    if (!uses)
        fprintf(stderr, "  used by %s %lld  %s\n", noun(kind), (long long)id, name ? name : "");
    return 0;
}

/* A removal that failed; for an item in use, who uses it first. */
static int rm_failed(shelf_library *lib, int kind, int64_t id, int rc)
{
    char msg[1100];

    if (rc != SHELF_EINUSE)
        return cli_fail(lib, rc);
    snprintf(msg, sizeof msg, "%s", shelf_errmsg(lib));
    shelf_refs(lib, kind, id, print_user, NULL);
    cli_error("%s; --force removes it anyway", msg);
    return EXIT_FAIL;
}

static int get_doc(shelf_library *lib, int kind, const char *ref, int64_t *id, json_t **doc)
{
    int64_t seq;
    char *text;
    int rc;

    if ((rc = shelf_doc_resolve(lib, kind, ref, id, &seq)) != SHELF_OK ||
        (rc = shelf_doc_get(lib, kind, *id, seq, &text)) != SHELF_OK)
        return cli_fail(lib, rc);
    *doc = json_loads(text, 0, NULL);
    shelf_free(text);
    if (!*doc) {
        cli_error("cannot read %s %s", noun(kind), ref);
        return EXIT_FAIL;
    }
    return EXIT_OK;
}

int cmd_automation(const cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        { "start", required_argument, NULL, 's' }, { "duration", required_argument, NULL, 'd' },
        { "curve", no_argument, NULL, 'c' }, { "message", required_argument, NULL, 'm' },
        { NULL, 0, NULL, 0 }
    };
    shelf_library *lib;
    json_t *doc = NULL;
    double start = 0, duration = -1, *points = NULL;
    const char *msg = NULL, *type = "points";
    char key[SHELF_LANE_ID_MAX], *end;
    int64_t id, seq;
    size_t n;
    int ch, ex, i, rc, add;

    if (argc < 3 || (strcmp(argv[1], "add") != 0 && strcmp(argv[1], "show") != 0)) {
        cli_error("usage: shelf automation add PROJECT TARGET TIME:VALUE... [--start S] "
                  "[--duration S] [--curve] | show PROJECT [LANE]");
        return EXIT_USAGE;
    }
    add = strcmp(argv[1], "add") == 0;
    argc--;
    argv++;
    FOR_OPTS(ch, argc, argv, "m:", opts) {
        switch (ch) {
        case 's': case 'd': {
            double v = strtod(optarg, &end);

            if (*end || v < 0) {
                cli_error("invalid time '%s': seconds", optarg);
                return EXIT_USAGE;
            }
            *(ch == 's' ? &start : &duration) = v;
            break;
        }
        case 'c': type = "curve"; break;
        case 'm': msg = optarg; break;
        default: return EXIT_USAGE;
        }
    }
    if ((ex = cli_open(c, 0, &lib)) != EXIT_OK)
        return ex;
    if ((ex = get_doc(lib, SHELF_DOC_PROJECT, argv[optind], &id, &doc)) != EXIT_OK)
        goto out;
    if (!add) {
        json_t *lanes = json_object_get(doc, "automation");

        if (optind + 1 < argc) {
            lanes = json_object_get(lanes, argv[optind + 1]);
            if (!lanes) {
                cli_error("project %lld has no automation lane '%s'", (long long)id, argv[optind + 1]);
                ex = EXIT_NOTFOUND;
                goto out;
            }
        }
        if (c->json) {
            cli_print_json(json_incref(lanes ? lanes : json_object()));
        } else if (optind + 1 < argc) {
            size_t k;
            json_t *p;

            printf("%s %s  start %gs  duration %gs\n", json_string_value(json_object_get(lanes, "type")),
                   json_string_value(json_object_get(lanes, "target")),
                   json_number_value(json_object_get(lanes, "start")),
                   json_number_value(json_object_get(lanes, "duration")));
            json_array_foreach(json_object_get(lanes, "points"), k, p)
                printf("  %10.4f  %g\n", json_number_value(json_array_get(p, 0)),
                       json_number_value(json_array_get(p, 1)));
        } else {
            json_t *tmp = json_pack("{s:O}", "automation", lanes ? lanes : json_object());

            show_project_text(tmp);
            json_decref(tmp);
        }
        goto out;
    }
    if (optind + 3 > argc) {
        cli_error("usage: shelf automation add PROJECT TARGET TIME:VALUE...");
        ex = EXIT_USAGE;
        goto out;
    }
    n = (size_t)(argc - optind - 2);
    if (!(points = malloc(2 * n * sizeof *points))) {
        cli_error("out of memory");
        ex = EXIT_FAIL;
        goto out;
    }
    for (i = optind + 2; i < argc; i++) {
        double t = strtod(argv[i], &end), v;

        if (*end != ':' || t < 0) {
            cli_error("invalid point '%s': TIME:VALUE", argv[i]);
            ex = EXIT_USAGE;
            goto out;
        }
        v = strtod(end + 1, &end);
        if (*end) {
            cli_error("invalid point '%s': TIME:VALUE", argv[i]);
            ex = EXIT_USAGE;
            goto out;
        }
        points[2 * (i - optind - 2)] = t;
        points[2 * (i - optind - 2) + 1] = v;
    }
    /* The library names the lane, sorts the points and derives the duration. */
    rc = shelf_automation_add(lib, id, type, argv[optind + 1], start, duration, points, n, msg, key,
                              &seq);
    if (rc != SHELF_OK)
        ex = cli_fail(lib, rc);
    else if (c->json)
        cli_print_json(json_pack("{s:s, s:I, s:s, s:I}", "kind", "project", "id", (json_int_t)id, "lane",
                                 key, "version", (json_int_t)seq));
    else
        printf("project %lld: lane %s, version %lld\n", (long long)id, key, (long long)seq);
out:
    free(points);
    json_decref(doc);
    shelf_library_close(lib);
    return ex;
}

/* ---- whole histories ------------------------------------------------------------- */

/* text[0..n) into path through path.tmp renamed into place: never a
 * half-written file.  0 or an errno value. */
static int write_whole(const char *path, const char *text, size_t n)
{
    size_t len = strlen(path) + 8;
    char *tmp = malloc(len);
    FILE *f = NULL;
    int e = 0;

    if (!tmp)
        return ENOMEM;
    snprintf(tmp, len, "%s.tmp", path);
    if (!(f = fopen(tmp, "wb")) || fwrite(text, 1, n, f) != n || fflush(f) || fsync(fileno(f)) || fclose(f) ||
        (f = NULL, rename(tmp, path) != 0)) {
        e = errno ? errno : EIO;
        if (f)
            (void)fclose(f);    /* failed already; e is the error to report */
        (void)unlink(tmp);
    }
    free(tmp);
    return e;
}

/* Take --sign-with KEY and --no-sign out of argv (argc updated). */
static int sign_opts(int *argc, char **argv, const char **with, int *no)
{
    int i, k = 0;

    for (i = 0; i < *argc; i++) {
        if (!strcmp(argv[i], "--no-sign")) {
            *no = 1;
        } else if (!strcmp(argv[i], "--sign-with")) {
            if (i + 1 == *argc) {
                cli_error("--sign-with needs a key");
                return EXIT_USAGE;
            }
            *with = argv[++i];
        } else {
            argv[k++] = argv[i];
        }
    }
    *argc = k;
    if (*with && *no) {
        cli_error("--sign-with and --no-sign exclude each other");
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

/* The history as OUT.json and, signed (by this device, or by the key
 * with), its detached signature as OUT.json.sig. */
static int export_history(const cli *c, shelf_library *lib, int kind, int64_t id, const char *out,
                          const char *with, int no_sign)
{
    shelf_signer *signer = NULL;
    char *text = NULL, *file = NULL, *sig = NULL, *sigpath = NULL, *msg = NULL;
    size_t n;
    int rc, e, ex = EXIT_OK;

    if ((rc = shelf_doc_export(lib, kind, id, &text)) != SHELF_OK)
        return cli_fail(lib, rc);
    if ((ex = cli_signer(lib, with, no_sign, out, &signer)) != EXIT_OK)
        goto out;
    /* The file ends with a newline, and the signature covers it too. */
    n = strlen(text);
    if (!(file = malloc(n + 2))) {
        cli_error("out of memory");
        ex = EXIT_FAIL;
        goto out;
    }
    memcpy(file, text, n);
    file[n++] = '\n';
    file[n] = '\0';
    if (signer && (rc = shelf_sign_bytes(signer, SHELF_SIGNED_HISTORY, file, n, &sig, &msg)) != SHELF_OK) {
        cli_error("cannot sign '%s': %s", out, msg ? msg : shelf_strerror(rc));
        ex = cli_exit_for(rc);
        goto out;
    }
    if (sig && !(sigpath = malloc(strlen(out) + 5))) {
        cli_error("out of memory");
        ex = EXIT_FAIL;
        goto out;
    }
    if (sigpath)
        snprintf(sigpath, strlen(out) + 5, "%s.sig", out);
    if ((e = write_whole(out, file, n)) != 0 || (sigpath && (e = write_whole(sigpath, sig, strlen(sig))) != 0)) {
        cli_error("cannot write '%s': %s", out, cli_errno_text(e));
        ex = EXIT_FAIL;
    } else if (c->json) {
        cli_print_json(json_pack("{s:s, s:I, s:s, s:s, s:s?}", "kind", noun(kind), "id", (json_int_t)id,
                                 "format", "json", "wrote", out, "signature", sigpath));
    } else if (!c->quiet) {
        printf("wrote %s%s%s\n", out, sigpath ? " and " : "", sigpath ? sigpath : "");
    }
out:
    shelf_signer_free(signer);
    shelf_free(msg);
    shelf_free(sig);
    free(sigpath);
    free(file);
    shelf_free(text);
    return ex;
}

/*
 * The signature of the history text[0..n) read from file: FILE.sig when
 * there is one (else unsigned), checked, its signer classified; what does
 * not match, and with require what is unsigned or untrusted, is refused
 * with a message: EXIT_SIGNATURE.  Else EXIT_OK.
 */
static int history_signature(const cli *c, shelf_library *lib, const char *file, const char *text, size_t n,
                             int require, shelf_signature *sig)
{
    size_t plen = strlen(file) + 5, slen = 0;
    char *sigpath = malloc(plen), *st = NULL, *msg = NULL;
    int rc = SHELF_OK, ex = EXIT_OK;

    memset(sig, 0, sizeof *sig);
    sig->size = sizeof *sig;
    if (!sigpath) {
        cli_error("out of memory");
        return EXIT_FAIL;
    }
    snprintf(sigpath, plen, "%s.sig", file);
    if (strcmp(file, "-") != 0 && !(st = cli_read_all(sigpath, &slen)) && errno != ENOENT) {
        cli_error("cannot read '%s': %s", sigpath, cli_errno_text(errno));
        ex = EXIT_FAIL;
    } else if (st && (rc = shelf_signature_check(st, slen, SHELF_SIGNED_HISTORY, text, n, sig, &msg)) != SHELF_OK) {
        cli_error("'%s' refused: %s", file, msg ? msg : shelf_strerror(rc));
        ex = EXIT_SIGNATURE;
    } else if (cli_signature_check(lib, sig, require) != SHELF_OK) {
        cli_error("'%s' refused: %s (--require-signed)", file,
                  sig->state == SHELF_SIGNATURE_NONE ? "it is not signed" : "its signer is not trusted");
        ex = EXIT_SIGNATURE;
    }
    if (!c->json && !c->quiet && (ex == EXIT_OK || ex == EXIT_SIGNATURE) && st)
        cli_signature_line(ex == EXIT_OK ? stdout : stderr, file, sig);
    shelf_free(msg);
    free(st);
    free(sigpath);
    return ex;
}

static int import_history(const cli *c, shelf_library *lib, const char *file, int flags, int require)
{
    shelf_signature sig;
    size_t n = 0;
    char *text = cli_read_all(file, &n);
    int64_t id;
    int kind, rc, ex;

    if (!text) {
        cli_error("cannot read '%s': %s", file, strerror(errno));
        return EXIT_NOTFOUND;
    }
    if ((ex = history_signature(c, lib, file, text, n, require, &sig)) != EXIT_OK) {
        free(text);
        return ex;
    }
    rc = shelf_doc_import(lib, text, flags, &kind, &id);
    free(text);
    if (rc != SHELF_OK && rc != SHELF_DONE)
        return cli_fail(lib, rc);
    if (c->json)
        cli_print_json(json_pack("{s:s, s:I, s:b, s:o}", "kind", noun(kind), "id", (json_int_t)id,
                                 "unchanged", rc == SHELF_DONE, "signature", cli_signature_json(&sig)));
    else
        printf("%s %lld%s\n", noun(kind), (long long)id, rc == SHELF_DONE ? " (unchanged)" : "");
    return EXIT_OK;
}

/* ---- the command groups ---------------------------------------------------------- */

static int doc_command(const cli *c, int kind, int argc, char **argv)
{
    shelf_library *lib;
    const char *sub = argc > 1 ? argv[1] : "";
    int64_t id, seq, newseq;
    int ex, rc;
    out_ui ui = { c, c->json ? json_array() : NULL, NULL };

    if (!*sub || !strcmp(sub, "help") || !strcmp(sub, "--help")) {
        json_decref(ui.arr);
        return usage(kind, kind == SHELF_DOC_PATCH
            ? "new|import|show|edit|set|rm|ls|touch|history|diff|revert|merge|export ... (see shelf help)"
            : "new|show|edit|set|add|drop|rm|ls|touch|history|diff|revert|merge|export|import|"
              "archive|unarchive|archives ... "
              "(see shelf help)");
    }
    if ((ex = cli_open(c, 0, &lib)) != EXIT_OK) {
        json_decref(ui.arr);
        return ex;
    }
    ui.lib = lib;
    argc -= 2;
    argv += 2;
    if (!strcmp(sub, "new")) {
        ex = create(c, lib, kind, argc + 1, argv - 1);
    } else if (!strcmp(sub, "import") && kind == SHELF_DOC_PATCH) {
        ex = import(c, lib, argc + 1, argv - 1);
    } else if (!strcmp(sub, "show")) {
        ex = argc == 1 ? show(c, lib, kind, argv[0]) : usage(kind, "show ID[@VERSION]");
    } else if (!strcmp(sub, "edit")) {
        static const struct option opts[] = {
            { "file", required_argument, NULL, 'f' }, { "message", required_argument, NULL, 'm' },
            { NULL, 0, NULL, 0 }
        };
        const char *file = NULL, *msg = NULL;
        int ch;

        FOR_OPTS(ch, argc + 1, argv - 1, "f:m:", opts) {
            if (ch == 'f')
                file = optarg;
            else if (ch == 'm')
                msg = optarg;
            else
                ex = EXIT_USAGE;
        }
        if (ex == EXIT_OK)
            ex = optind == argc ? edit(c, lib, kind, argv[optind - 1], file, msg)
                                : usage(kind, "edit ID[@VERSION] [--file DOC.json|-] [-m MSG]");
    } else if (!strcmp(sub, "set")) {
        ex = set(c, lib, kind, argc + 1, argv - 1);
    } else if ((!strcmp(sub, "archive") || !strcmp(sub, "unarchive")) && kind == SHELF_DOC_PROJECT) {
        ex = cli_project_archive(c, lib, !strcmp(sub, "unarchive"), argc + 1, argv - 1);
    } else if (!strcmp(sub, "archives") && kind == SHELF_DOC_PROJECT) {
        ex = cli_project_archives(c, lib, argc + 1, argv - 1);
    } else if ((!strcmp(sub, "add") || !strcmp(sub, "drop")) && kind == SHELF_DOC_PROJECT) {
        ex = project_items(c, lib, !strcmp(sub, "add"), argc, argv);
    } else if (!strcmp(sub, "rm") || !strcmp(sub, "touch")) {
        int rm = !strcmp(sub, "rm"), force = 0, nids = 0;
        json_t *done = json_array();

        ex = EXIT_OK;
        for (int i = 0; i < argc; i++) {
            if (rm && (!strcmp(argv[i], "--force") || !strcmp(argv[i], "-f")))
                force = 1;
            else
                nids++;
        }
        if (nids < 1)
            ex = usage(kind, rm ? "rm [--force] ID..." : "touch ID...   (record that it was used now)");
        for (int i = 0; i < argc && ex != EXIT_USAGE; i++) {
            if (rm && (!strcmp(argv[i], "--force") || !strcmp(argv[i], "-f")))
                continue;
            if ((rc = shelf_doc_resolve(lib, kind, argv[i], &id, &seq)) != SHELF_OK)
                ex = cli_fail(lib, rc);
            else if ((rc = rm ? shelf_doc_remove(lib, kind, id, force ? SHELF_REMOVE_FORCE : 0)
                              : shelf_doc_touch(lib, kind, id)) != SHELF_OK)
                ex = rm ? rm_failed(lib, kind, id, rc) : cli_fail(lib, rc);
            else if (json_array_append_new(done, json_integer(id)) != 0) {
                cli_error("out of memory");
                ex = EXIT_FAIL;
            }
        }
        if (c->json && ex != EXIT_USAGE)
            cli_print_json(json_pack("{s:s, s:s, s:o}", "command", sub, "kind", noun(kind), "ids", done));
        else
            json_decref(done);
    } else if (!strcmp(sub, "ls") || !strcmp(sub, "list")) {
        if ((rc = shelf_doc_list(lib, kind, on_doc, &ui)) != SHELF_OK)
            ex = cli_fail(lib, rc);
        else if (ui.arr) {
            cli_print_json(ui.arr);
            ui.arr = NULL;
        }
    } else if (!strcmp(sub, "history") || !strcmp(sub, "log")) {
        if (argc != 1)
            ex = usage(kind, "history ID");
        else if ((rc = shelf_doc_resolve(lib, kind, argv[0], &id, &seq)) != SHELF_OK ||
                 (rc = shelf_doc_history(lib, kind, id, on_version, &ui)) != SHELF_OK)
            ex = cli_fail(lib, rc);
        else if (ui.arr) {
            cli_print_json(ui.arr);
            ui.arr = NULL;
        }
    } else if (!strcmp(sub, "diff")) {
        ex = diff(c, lib, kind, argc, argv);
    } else if (!strcmp(sub, "revert")) {
        char ref[96];

        if (argc != 2) {
            ex = usage(kind, "revert ID VERSION");
        } else {
            snprintf(ref, sizeof ref, "%s@%s", argv[0], argv[1]);
            if ((rc = shelf_doc_resolve(lib, kind, ref, &id, &seq)) != SHELF_OK)
                ex = cli_fail(lib, rc);
            else if ((rc = shelf_doc_revert(lib, kind, id, seq, &newseq)) != SHELF_OK &&
                     rc != SHELF_DONE)
                ex = cli_fail(lib, rc);
            else if (c->json)
                cli_print_json(json_pack("{s:s, s:I, s:o, s:I, s:b}", "kind", noun(kind), "id",
                                         (json_int_t)id, "version",
                                         rc == SHELF_DONE ? json_null() : json_integer(newseq),
                                         "equals", (json_int_t)seq, "changed", rc != SHELF_DONE));
            else if (rc == SHELF_DONE)
                printf("no change: the head equals version %lld\n", (long long)seq);
            else
                printf("%s %lld: version %lld (= version %lld)\n", noun(kind), (long long)id,
                       (long long)newseq, (long long)seq);
        }
    } else if (!strcmp(sub, "merge")) {
        ex = merge(c, lib, kind, argc + 1, argv - 1);
    } else if (!strcmp(sub, "export")) {
        const char *with = NULL;
        int no_sign = 0;
        size_t n;

        ex = sign_opts(&argc, argv, &with, &no_sign);
        n = argc == 2 ? strlen(argv[1]) : 0;
        if (ex != EXIT_OK)
            ;
        else if (argc != 2)
            ex = usage(kind, kind == SHELF_DOC_PATCH
                                 ? "export ID[@VERSION] OUT.sfz | ID OUT.json [--sign-with KEY | --no-sign]"
                                 : "export ID OUT.json [--sign-with KEY | --no-sign]");
        else if ((rc = shelf_doc_resolve(lib, kind, argv[0], &id, &seq)) != SHELF_OK)
            ex = cli_fail(lib, rc);
        else if (n > 5 && !strcmp(argv[1] + n - 5, ".json"))
            ex = export_history(c, lib, kind, id, argv[1], with, no_sign);
        else if (kind != SHELF_DOC_PATCH)
            ex = usage(kind, "export ID OUT.json [--sign-with KEY | --no-sign]");
        else if ((rc = shelf_patch_export_sfz(lib, id, seq, argv[1])) != SHELF_OK)
            ex = cli_fail(lib, rc);
        else if (c->json)
            cli_print_json(json_pack("{s:s, s:I, s:I, s:s, s:s}", "kind", noun(kind), "id", (json_int_t)id,
                                     "version", (json_int_t)seq, "format", "sfz", "wrote", argv[1]));
        else if (!c->quiet)
            printf("wrote %s\n", argv[1]);
    } else if (!strcmp(sub, "import") && kind == SHELF_DOC_PROJECT) {
        int as_new = 0, require = 0, k = 0;

        for (int i = 0; i < argc; i++) {
            if (!strcmp(argv[i], "--as-new"))
                as_new = 1;
            else if (!strcmp(argv[i], "--require-signed"))
                require = 1;
            else
                argv[k++] = argv[i];
        }
        ex = k == 1 ? import_history(c, lib, argv[0], as_new ? SHELF_DOC_IMPORT_AS_NEW : 0, require)
                    : usage(kind, "import [--as-new] [--require-signed] HISTORY.json");
    } else {
        cli_error("unknown %s command '%s' (see 'shelf help')", noun(kind), sub);
        ex = EXIT_USAGE;
    }
    json_decref(ui.arr);
    shelf_library_close(lib);
    return ex;
}

int cmd_patch(const cli *c, int argc, char **argv)
{
    return doc_command(c, SHELF_DOC_PATCH, argc, argv);
}

int cmd_project(const cli *c, int argc, char **argv)
{
    return doc_command(c, SHELF_DOC_PROJECT, argc, argv);
}

/* ---- refs, undo -------------------------------------------------------------------- */

static int on_ref(void *ud, int kind, int64_t id, const char *name, int uses)
{
    out_ui *ui = ud;
    static const char *const kinds[] = { "", "sample", "patch", "project" };

    if (ui->arr)
        return json_array_append_new(ui->arr, json_pack("{s:s, s:I, s:o, s:s}", "kind", kinds[kind],
                                                        "id", (json_int_t)id, "name",
                                                        tool_json_name(name ? name : ""), "relation",
                                                        uses ? "uses" : "used-by")) != 0;
    else
        printf("%-7s %-8s %6lld  %s\n", uses ? "uses" : "used by", kinds[kind], (long long)id,
               name ? name : "");
    return 0;
}

int cmd_refs(const cli *c, int argc, char **argv)
{
    shelf_library *lib;
    out_ui ui = { c, c->json ? json_array() : NULL, NULL };
    const char *arg;
    int kind = 1, ex, rc;
    int64_t id;

    if (argc != 2) {
        cli_error("usage: shelf refs ID|PATH|sample:ID|patch:ID|project:ID");
        json_decref(ui.arr);
        return EXIT_USAGE;
    }
    if ((ex = cli_open(c, SHELF_OPEN_READONLY, &lib)) != EXIT_OK) {
        json_decref(ui.arr);
        return ex;
    }
    arg = argv[1];
    if (!strncmp(arg, "patch:", 6) || !strncmp(arg, "project:", 8)) {
        kind = arg[2] == 't' ? SHELF_DOC_PATCH : SHELF_DOC_PROJECT;
        if (!(id = cli_parse_id(strchr(arg, ':') + 1))) {
            cli_error("invalid item '%s'", arg);
            ex = EXIT_USAGE;
            goto out;
        }
    } else if ((ex = cli_resolve(lib, !strncmp(arg, "sample:", 7) ? arg + 7 : arg, &id)) != EXIT_OK) {
        goto out;
    }
    if ((rc = shelf_refs(lib, kind, id, on_ref, &ui)) != SHELF_OK)
        ex = cli_fail(lib, rc);
    else if (ui.arr) {
        cli_print_json(ui.arr);
        ui.arr = NULL;
    }
out:
    json_decref(ui.arr);
    shelf_library_close(lib);
    return ex;
}

int cmd_undo(const cli *c, int argc, char **argv)
{
    shelf_library *lib;
    char *what = NULL;
    int ex, rc;

    (void)argv;
    if (argc != 1) {
        cli_error("usage: shelf undo");
        return EXIT_USAGE;
    }
    if ((ex = cli_open(c, 0, &lib)) != EXIT_OK)
        return ex;
    rc = shelf_undo(lib, &what);
    if (rc == SHELF_DONE)
        printf("nothing to undo\n");
    else if (rc != SHELF_OK)
        ex = cli_fail(lib, rc);
    else if (c->json)
        cli_print_json(json_pack("{s:s}", "undone", what));
    else
        printf("%s\n", what);
    shelf_free(what);
    shelf_library_close(lib);
    return ex;
}
