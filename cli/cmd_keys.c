/*
 * cmd_keys.c: `shelf keys ls|new|export|trust|revoke`: the keys that sign
 * archives and patch histories and the ones this library trusts; and how
 * every command that reads signed content reports its signer.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

const char *cli_trust_name(int trust)
{
    switch (trust) {
    case SHELF_TRUST_SELF: return "self";
    case SHELF_TRUST_PAIRED: return "paired";
    case SHELF_TRUST_USER: return "trusted";
    case SHELF_TRUST_REVOKED: return "revoked";
    }
    return "unknown";
}

static const char *trust_text(int trust)
{
    switch (trust) {
    case SHELF_TRUST_SELF: return "trusted: this device";
    case SHELF_TRUST_PAIRED: return "trusted: a paired device";
    case SHELF_TRUST_USER: return "trusted: a key you trusted";
    case SHELF_TRUST_REVOKED: return "NOT trusted: its trust was revoked";
    }
    return "NOT trusted: unknown signer";
}

json_t *cli_signature_json(const shelf_signature *s)
{
    if (s->state == SHELF_SIGNATURE_NONE)
        return json_null();
    return json_pack("{s:s, s:s, s:s?, s:o, s:s}", "state", s->state == SHELF_SIGNATURE_VALID ? "valid" : "bad",
                     "key", s->key, "device", s->device[0] ? s->device : NULL, "name", tool_json_name(s->name),
                     "trust", s->state == SHELF_SIGNATURE_VALID ? cli_trust_name(s->trust) : "unknown");
}

void cli_signature_line(FILE *f, const char *what, const shelf_signature *s)
{
    char *name;

    if (s->state == SHELF_SIGNATURE_NONE) {
        fprintf(f, "%s: unsigned\n", what);
        return;
    }
    name = cli_name_text(s->name);
    fprintf(f, "%s: signed by '%s'%s%s (key %s): %s\n", what, name ? name : "?", s->device[0] ? ", device " : "",
            s->device, s->key, s->state == SHELF_SIGNATURE_VALID ? trust_text(s->trust) : "SIGNATURE DOES NOT MATCH");
    shelf_free(name);
}

int cli_signer(shelf_library *lib, const char *with, int no_sign, const char *what, shelf_signer **out)
{
    int rc;

    *out = NULL;
    if (no_sign)
        return EXIT_OK;
    if (with)
        rc = shelf_signer_key(lib, with, out);
    else if ((rc = shelf_signer_device(lib, out)) == SHELF_EPERM) {
        /* A read-only library that has no identity yet cannot make one:
         * what it exports goes out unsigned, and says so. */
        cli_error("warning: '%s' is not signed: %s", what, shelf_errmsg(lib));
        return EXIT_OK;
    }
    return rc == SHELF_OK ? EXIT_OK : cli_fail(lib, rc);
}

int cli_signature_check(shelf_library *lib, shelf_signature *sig, int require)
{
    if (lib && sig->state == SHELF_SIGNATURE_VALID && shelf_keys_classify(lib, sig) != SHELF_OK)
        sig->trust = SHELF_TRUST_UNKNOWN;
    if (!require)
        return SHELF_OK;
    if (sig->state != SHELF_SIGNATURE_VALID || sig->trust == SHELF_TRUST_UNKNOWN ||
        sig->trust == SHELF_TRUST_REVOKED)
        return SHELF_EPERM;
    return SHELF_OK;
}

/* ---- shelf keys ls ------------------------------------------------------------- */

typedef struct lsctx {
    const cli *c;
    json_t *arr;
} lsctx;

static int on_key(void *ud, const shelf_signkey_info *k)
{
    static const char *const kinds[] = { "", "device", "own", "trusted" };
    lsctx *x = ud;
    char *name;

    if (x->arr) {
        cli_json_check(json_array_append_new(
            x->arr, json_pack("{s:s, s:s, s:o, s:s?, s:I, s:b}", "kind", kinds[k->kind], "key", k->key, "name",
                              tool_json_name(k->name), "device", k->device[0] ? k->device : NULL, "added",
                              (json_int_t)k->added, "revoked", k->revoked != 0)));
        return SHELF_OK;
    }
    name = cli_name_text(k->name);
    printf("%-8s %s  %s%s%s\n", k->kind == SHELF_KEY_TRUSTED && k->revoked ? "revoked" : kinds[k->kind], k->key,
           name ? name : "?", k->device[0] ? "  " : "", k->device);
    shelf_free(name);
    return SHELF_OK;
}

static int keys_ls(const cli *c, shelf_library *lib)
{
    lsctx x = { c, c->json ? json_array() : NULL };
    int rc = shelf_keys_ls(lib, on_key, &x);

    if (rc != SHELF_OK) {
        json_decref(x.arr);
        return cli_fail(lib, rc);
    }
    if (x.arr)
        cli_print_json(x.arr);
    return EXIT_OK;
}

/* ---- the others ------------------------------------------------------------------- */

static int keys_run(const cli *c, shelf_library *lib, const char *sub, int argc, char **argv, const char *file,
                    const char *name)
{
    char *text = NULL;
    size_t n = 0;
    int rc;

    if (!strcmp(sub, "new")) {
        rc = shelf_keys_new(lib, argv[0], file, &text);
        if (rc == SHELF_OK && c->json)
            cli_print_json(cli_json_parse(text));
        else if (rc == SHELF_OK && !c->quiet)
            printf("%s\n", text);
    } else if (!strcmp(sub, "export")) {
        rc = shelf_keys_export(lib, argc ? argv[0] : NULL, &text);
        if (rc == SHELF_OK && c->json)
            cli_print_json(cli_json_parse(text));
        else if (rc == SHELF_OK)
            printf("%s\n", text);
    } else if (!strcmp(sub, "trust")) {
        if (!(text = cli_read_all(argv[0], &n))) {
            cli_error("cannot read '%s': %s", argv[0], cli_errno_text(errno));
            return errno == ENOENT ? EXIT_NOTFOUND : EXIT_FAIL;
        }
        rc = shelf_keys_trust(lib, text, n, name);
        if (rc == SHELF_OK && c->json)
            cli_print_json(json_pack("{s:s, s:b}", "file", argv[0], "trusted", 1));
        else if (rc == SHELF_OK && !c->quiet)
            printf("trusted the key in '%s'\n", argv[0]);
    } else {
        rc = shelf_keys_revoke(lib, argv[0]);
        if (rc == SHELF_OK && c->json)
            cli_print_json(json_pack("{s:s, s:b}", "key", argv[0], "revoked", 1));
        else if (rc == SHELF_OK && !c->quiet)
            printf("revoked the trust in '%s'\n", argv[0]);
    }
    free(text);
    return rc == SHELF_OK ? EXIT_OK : cli_fail(lib, rc);
}

int cmd_keys(const cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "file", required_argument, NULL, 'f' }, { "name", required_argument, NULL, 'n' }, { NULL, 0, NULL, 0 }
    };
    const char *sub = argc > 1 ? argv[1] : "ls", *file = NULL, *name = NULL;
    shelf_library *lib = NULL;
    int ch, rc, want, known;

    if (argc > 1) {
        argc--;
        argv++;
    }
    FOR_OPTS(ch, argc, argv, "", longopts) {
        if (ch == 'f')
            file = optarg;
        else if (ch == 'n')
            name = optarg;
        else
            return EXIT_USAGE;
    }
    argc -= optind;
    argv += optind;
    known = strcmp(sub, "ls") == 0 || strcmp(sub, "new") == 0 || strcmp(sub, "export") == 0 ||
            strcmp(sub, "trust") == 0 || strcmp(sub, "revoke") == 0;
    want = strcmp(sub, "ls") == 0 ? 0 : strcmp(sub, "export") == 0 ? -1 : 1;
    if (!known || (want >= 0 && argc != want) || (want < 0 && argc > 1) || (file && strcmp(sub, "new") != 0) ||
        (name && strcmp(sub, "trust") != 0)) {
        cli_error("usage: shelf keys [ls] | new NAME [--file PATH] | export [KEY] | trust FILE [--name NAME] | "
                  "revoke KEY|NAME");
        return EXIT_USAGE;
    }
    if ((rc = cli_open(c, 0, &lib)) != EXIT_OK)
        return rc;
    rc = strcmp(sub, "ls") == 0 ? keys_ls(c, lib) : keys_run(c, lib, sub, argc, argv, file, name);
    shelf_library_close(lib);
    return rc;
}
