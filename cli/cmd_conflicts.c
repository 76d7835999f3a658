/*
 * cmd_conflicts.c: documents whose histories sync could not merge (shelf
 * conflicts; doc/sync.md, "Document histories").  Exit 0 when none is open,
 * 7 (EXIT_CONFLICT) when some are, so scripts can wait for a clean state.
 */
#include <stdio.h>
#include <string.h>
#include "cli.h"
#include "shelf/patch.h"
#include "shelf/sync.h"

typedef struct list_ctx {
    const cli *c;
    json_t *arr;
    size_t n;
} list_ctx;

static int one(void *ud, const shelf_conflict *k)
{
    list_ctx *l = ud;
    const char *kind = k->kind == SHELF_DOC_PATCH ? "patch" : "project";

    l->n++;
    if (l->c->json) {
        json_t *o = json_pack("{s:s, s:I, s:I, s:I, s:s, s:s, s:I}", "kind", kind, "id",
                              (json_int_t)k->id, "head", (json_int_t)k->head, "other",
                              (json_int_t)k->other, "head_vid", k->head_vid, "other_vid",
                              k->other_vid, "since", (json_int_t)k->since);

        if (o)
            cli_json_check(json_object_set_new(o, "name", tool_json_name(k->name ? k->name : "")));
        cli_json_check(json_array_append_new(l->arr, o));
        return 0;
    }
    printf("%s %lld  %s  versions %lld and %lld  (merge: shelf %s merge %lld %lld)\n", kind,
           (long long)k->id, k->name ? k->name : "", (long long)k->head, (long long)k->other, kind,
           (long long)k->id, (long long)k->other);
    return 0;
}

int cmd_conflicts(const cli *c, int argc, char **argv)
{
    list_ctx l = { c, NULL, 0 };
    shelf_library *lib;
    int rc, ex;

    (void)argv;
    if (argc != 1) {
        cli_error("usage: shelf conflicts [--json]");
        return EXIT_USAGE;
    }
    if ((ex = cli_open(c, 0, &lib)) != EXIT_OK)
        return ex;
    if (c->json && !(l.arr = json_array())) {
        shelf_library_close(lib);
        cli_error("out of memory");
        return EXIT_FAIL;
    }
    rc = shelf_sync_conflicts(lib, one, &l);
    ex = rc == SHELF_OK ? EXIT_OK : cli_fail(lib, rc);
    shelf_library_close(lib);
    if (ex != EXIT_OK) {
        json_decref(l.arr);
        return ex;
    }
    if (c->json)
        cli_print_json(l.arr);
    else if (!l.n && !c->quiet)
        printf("no conflicts\n");
    return l.n ? EXIT_CONFLICT : EXIT_OK;
}
