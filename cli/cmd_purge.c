/*
 * cmd_purge.c: shelf purge: items and every trace shelf keeps of them
 * (doc/design.md, "Purge").  ITEM: a sample's ID or PATH, or patch:REF /
 * project:REF.  --preview lists what would go and what shelf cannot reach;
 * nothing changes.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

typedef struct purge_out {
    const cli *c;
    int preview;
    json_t *items, *left;
} purge_out;

static int on_entry(void *ud, const shelf_purge_entry *e)
{
    purge_out *o = ud;
    int outside = !strcmp(e->what, "file") || !strcmp(e->what, "export");

    if (o->c->json) {
        json_t *j = json_pack("{s:s}", "what", e->what);

        cli_json_check(json_object_set_new(j, "detail", cli_json_name(e->detail)));
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
        { "wait", no_argument, NULL, 'w' }, { NULL, 0, NULL, 0 }
    };
    shelf_purge_opts o = { .size = sizeof o };
    shelf_purge_stats st = { .size = sizeof st };
    purge_out out = { c, 0, NULL, NULL };
    shelf_library *lib;
    int *kinds = NULL, ch, ex, rc, i;
    int64_t *ids = NULL;
    size_t n = 0;

    FOR_OPTS(ch, argc, argv, "nfw", longopts) {
        switch (ch) {
        case 'n': o.preview = 1; break;
        case 'f': o.force = 1; break;
        case 'w': o.wait = 1; break;
        default: return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        cli_error("usage: shelf purge [--preview] [--force] [--wait] ID|PATH|patch:REF|project:REF...");
        return EXIT_USAGE;
    }
    if ((ex = cli_open(c, 0, &lib)) != EXIT_OK)
        return ex;
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
    if (c->json) {
        json_t *j = json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, s:I}", "preview", o.preview,
                              "samples", (json_int_t)st.samples, "documents",
                              (json_int_t)st.documents, "rows", (json_int_t)st.rows, "blobs",
                              (json_int_t)st.blobs, "files_left", (json_int_t)st.files_left,
                              "exports", (json_int_t)st.exports);

        cli_json_check(json_object_set(j, "items", out.items));
        cli_json_check(json_object_set(j, "left", out.left));
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
    free(kinds);
    free(ids);
    shelf_library_close(lib);
    return ex;
}
