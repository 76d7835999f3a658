/*
 * cmd_purge.c: shelf purge: items and every trace shelf keeps of them
 * (doc/design.md, "Purge").  ITEM: a sample's ID or PATH, or patch:REF /
 * project:REF.  --preview lists what would go and what shelf cannot reach;
 * nothing changes.  --backup TARGET (repeatable) purges the same items from
 * that backup repository too (shelf_repo_purge), opened before anything is
 * purged so a wrong password stops the whole command.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

typedef struct purge_out {
    const cli *c;
    int preview;
    json_t *items, *left;
    const char **samples, **docs;   /* names across devices, for the backups */
    size_t nsamples, ndocs;
} purge_out;

/* Keep name (s:, p:, j:) for the backups; owned by the entry, so copied. */
static int keep_name(purge_out *o, const char *name)
{
    const char ***v = !strncmp(name, "s:", 2) ? &o->samples : &o->docs;
    size_t *n = !strncmp(name, "s:", 2) ? &o->nsamples : &o->ndocs;
    const char **nv = realloc(*v, (*n + 1) * sizeof *nv);
    size_t i;

    if (!nv)
        return -1;
    *v = nv;
    for (i = 0; i < *n; i++)
        if (!strcmp(nv[i], name))
            return 0;           /* two rows of the same bytes */
    if (!(nv[*n] = strdup(name)))
        return -1;
    (*n)++;
    return 0;
}

static void names_free(const char **v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        free((char *)v[i]);
    free(v);
}

static int on_entry(void *ud, const shelf_purge_entry *e)
{
    purge_out *o = ud;
    int outside = !strcmp(e->what, "file") || !strcmp(e->what, "export");

    if (e->name && keep_name(o, e->name) != 0) {
        cli_error("out of memory");
        return 1;
    }
    if (o->c->json) {
        json_t *j = json_pack("{s:s}", "what", e->what);

        cli_json_check(json_object_set_new(j, "detail", tool_json_name(e->detail)));
        if (e->name)
            cli_json_check(json_object_set_new(j, "name", json_string(e->name)));
        if (e->id)
            cli_json_check(json_object_set_new(j, "id", json_integer(e->id)));
        cli_json_check(json_array_append_new(outside ? o->left : o->items, j));
    } else if (!o->c->quiet) {
        char *t = cli_name_text(e->detail ? e->detail : "");
        const char *verb = outside ? "  left " : o->preview ? "  would purge " : "  purged ";

        if (!strcmp(e->what, "sample") || !strcmp(e->what, "patch") || !strcmp(e->what, "project"))
            printf("%s%s %lld %s\n", verb, e->what, (long long)e->id, t ? t : "?");
        else if (!strcmp(e->what, "blob"))
            printf("%smanaged copy %s\n", verb, t ? t : "?");
        else if (!strcmp(e->what, "file"))
            printf("%syour file %s (shelf does not delete files it did not make)\n", verb,
                   t ? t : "?");
        else
            printf("%sexport %s (written since the item came: it may hold it)\n", verb, t ? t : "?");
        shelf_free(t);
    }
    return 0;
}

/* ITEM into (kind, id): prints errors itself; an exit status. */
static int resolve(shelf_library *lib, const char *arg, int *kind, int64_t *id)
{
    int64_t seq = 0;
    int rc;

    if (!strncmp(arg, "patch:", 6) || !strncmp(arg, "project:", 8)) {
        *kind = arg[1] == 'a' ? SHELF_DOC_PATCH : SHELF_DOC_PROJECT;
        if ((rc = shelf_doc_resolve(lib, *kind, strchr(arg, ':') + 1, id, &seq)) != SHELF_OK)
            return cli_fail(lib, rc);
        return EXIT_OK;
    }
    *kind = SHELF_PURGE_SAMPLE;
    return cli_resolve(lib, arg, id);
}

int cmd_purge(const cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "preview", no_argument, NULL, 'n' }, { "force", no_argument, NULL, 'f' },
        { "wait", no_argument, NULL, 'w' }, { "backup", required_argument, NULL, 'b' },
        { "password-file", required_argument, NULL, 'p' }, { NULL, 0, NULL, 0 }
    };
    shelf_purge_opts o = { .size = sizeof o };
    shelf_purge_stats st = { .size = sizeof st };
    purge_out out;
    shelf_library *lib = NULL;
    const char *targets[16], *pwfile = NULL;
    shelf_repo *repos[16];
    json_t *backups = NULL;
    int *kinds = NULL, ch, ex, rc, i;
    int64_t *ids = NULL;
    size_t n = 0, ntargets = 0, k;

    memset(&out, 0, sizeof out);
    out.c = c;
    FOR_OPTS(ch, argc, argv, "nfw", longopts) {
        switch (ch) {
        case 'n': o.preview = 1; break;
        case 'f': o.force = 1; break;
        case 'w': o.wait = 1; break;
        case 'p': pwfile = optarg; break;
        case 'b':
            if (ntargets == sizeof targets / sizeof targets[0]) {
                cli_error("--backup: at most %zu repositories at once", ntargets);
                return EXIT_USAGE;
            }
            targets[ntargets++] = optarg;
            break;
        default: return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        cli_error("usage: shelf purge [--preview] [--force] [--wait] [--backup TARGET]... "
                  "[--password-file F] ID|PATH|patch:REF|project:REF...");
        return EXIT_USAGE;
    }
    /* the repositories first: a wrong password stops it before anything goes */
    for (k = 0; k < ntargets; k++)
        if ((ex = cli_repo_open(c, targets[k], pwfile, NULL, &repos[k])) != EXIT_OK) {
            ntargets = k;
            goto out;
        }
    if ((ex = cli_open(c, 0, &lib)) != EXIT_OK)
        goto out;
    kinds = calloc((size_t)(argc - optind), sizeof *kinds);
    ids = calloc((size_t)(argc - optind), sizeof *ids);
    if (!kinds || !ids) {
        cli_error("out of memory");
        ex = EXIT_FAIL;
        goto out;
    }
    for (i = optind; i < argc; i++, n++)
        if ((ex = resolve(lib, argv[i], &kinds[n], &ids[n])) != EXIT_OK)
            goto out;
    out.preview = o.preview;
    out.items = json_array();
    out.left = json_array();
    o.cb = on_entry;
    o.ud = &out;
    if (!c->json && !c->quiet)
        printf("%s\n", o.preview ? "purge preview (nothing changes):" : "purge:");
    if ((rc = shelf_purge(lib, kinds, ids, n, &o, &st)) != SHELF_OK) {
        ex = cli_fail(lib, rc);
        goto out;
    }
    backups = json_array();
    for (k = 0; k < ntargets; k++) {
        shelf_repo_purge_opts ro = { .size = sizeof ro };
        shelf_repo_purge_stats rs = { .size = sizeof rs };
        char b[32];

        ro.dry_run = o.preview;
        if ((rc = shelf_repo_purge(repos[k], NULL, out.samples, out.nsamples, out.docs, out.ndocs,
                                   &ro, &rs)) != SHELF_OK) {
            cli_error("%s; the library is purged: finish with 'shelf backup purge' of the same "
                      "items (shelf purge --preview lists their names)", shelf_repo_errmsg(repos[k]));
            ex = cli_exit_for(rc);
            goto out;
        }
        cli_json_check(json_array_append_new(backups, json_pack(
            "{s:s, s:I, s:I, s:I, s:I}", "target", targets[k], "snapshots_rewritten",
            (json_int_t)rs.snapshots_rewritten, "files_dropped", (json_int_t)rs.files_dropped,
            "packs_rewritten", (json_int_t)rs.packs_rewritten, "bytes_removed",
            (json_int_t)rs.bytes_removed)));
        if (!c->json && !c->quiet)
            printf("  backup %s: %s%llu snapshot%s rewritten, %llu pack%s rewritten, %s removed\n",
                   targets[k], o.preview ? "would be " : "",
                   (unsigned long long)rs.snapshots_rewritten, rs.snapshots_rewritten == 1 ? "" : "s",
                   (unsigned long long)rs.packs_rewritten, rs.packs_rewritten == 1 ? "" : "s",
                   cli_bytes(rs.bytes_removed, b));
    }
    if (c->json) {
        json_t *j = json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, s:I}", "preview", o.preview,
                              "samples", (json_int_t)st.samples, "documents",
                              (json_int_t)st.documents, "rows", (json_int_t)st.rows, "blobs",
                              (json_int_t)st.blobs, "files_left", (json_int_t)st.files_left,
                              "exports", (json_int_t)st.exports);

        cli_json_check(json_object_set(j, "items", out.items));
        cli_json_check(json_object_set(j, "left", out.left));
        cli_json_check(json_object_set(j, "backups", backups));
        cli_print_json(j);
    } else if (!c->quiet) {
        printf("%s %lld sample row%s and %lld document%s (%lld catalog rows), %lld managed "
               "cop%s; %lld file%s and %lld export%s left for you to delete\n",
               o.preview ? "would purge" : "purged", (long long)st.samples,
               st.samples == 1 ? "" : "s", (long long)st.documents, st.documents == 1 ? "" : "s",
               (long long)st.rows, (long long)st.blobs, st.blobs == 1 ? "y" : "ies",
               (long long)st.files_left, st.files_left == 1 ? "" : "s", (long long)st.exports,
               st.exports == 1 ? "" : "s");
    }
out:
    json_decref(out.items);
    json_decref(out.left);
    json_decref(backups);
    names_free(out.samples, out.nsamples);
    names_free(out.docs, out.ndocs);
    for (k = 0; k < ntargets; k++)
        shelf_repo_close(repos[k]);
    free(kinds);
    free(ids);
    shelf_library_close(lib);
    return ex;
}
