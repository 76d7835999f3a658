/*
 * cmd_archive.c: `shelf archive export|verify|import`: BagIt bags in tar,
 * tar.zst or zip, with PAR2 parity; and `shelf export-media`: samples in
 * shard folders with an index, for a workstation's card.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"

static const char *const kind_names[] = { "", "sample", "patch", "project" };

/* ---- progress ------------------------------------------------------------------- */

typedef struct ui {
    const cli *c;
    cli_progress prog;
    const char *what;
    json_t *arr;                /* --json: problems or items */
    int mask;                   /* problems seen (SHELF_ARCHIVE_ bits) */
    int lost;                   /* an entry could not be added to arr */
    shelf_library *lib;         /* import: to classify the signer */
    int require_signed;         /* import: --require-signed */
    int refused;                /* import: the signature check refused the archive */
} ui;

/* Add e to the --json list; when memory runs out, say once that the list
 * printed will be short rather than drop entries silently. */
static void add_json(ui *u, json_t *e)
{
    if (json_array_append_new(u->arr, e) != 0 && !u->lost) {
        u->lost = 1;
        cli_error("out of memory: the --json list will be incomplete");
    }
}

static int on_progress(void *ud, const shelf_archive_progress *p)
{
    ui *u = ud;

    cli_progress_draw(&u->prog, u->what, p->files_done, p->files_total, p->bytes_done, p->bytes_total);
    return cli_interrupted;
}

static const char *problem_name(int problem)
{
    switch (problem) {
    case SHELF_ARCHIVE_MISSING: return "missing";
    case SHELF_ARCHIVE_UNLISTED: return "unlisted";
    case SHELF_ARCHIVE_CORRUPT: return "corrupt";
    case SHELF_ARCHIVE_REPAIRABLE: return "repairable";
    }
    return "problem";
}

static void on_problem(void *ud, int problem, const char *path, const char *detail)
{
    ui *u = ud;

    u->mask |= problem;
    cli_progress_end(&u->prog);
    if (u->arr)
        add_json(u, json_pack("{s:s, s:o, s:s}", "problem", problem_name(problem),
                                                "path", tool_json_name(path), "detail", detail));
    else
        printf("%-10s %s: %s\n", problem_name(problem), path, detail);
}

static double parse_percent(const char *s)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || (*end && strcmp(end, "%") != 0) || v < 0 || v > 100)
        return -1;
    return v;
}

/* ---- remote destinations (--to, --from) ------------------------------------------ */

/* A folder of our own for an archive on its way to or from a target. */
static int xfer_dir(char dir[4096])
{
    const char *t = getenv("TMPDIR");

    snprintf(dir, 4096, "%s/shelf-archive-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(dir)) {
        cli_error("cannot make a temporary folder in '%s': %s", t && *t ? t : "/tmp", strerror(errno));
        return EXIT_FAIL;
    }
    return EXIT_OK;
}

/* Remove the files of xfer_dir's folder (flat: archives and PAR2 files) and it. */
static void xfer_clear(const char *dir)
{
    DIR *dh = opendir(dir);
    struct dirent *de;
    char p[4400];

    while (dh && (de = readdir(dh)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        (void)unlink(p);
    }
    if (dh)
        closedir(dh);
    (void)rmdir(dir);
}

/* Fetch name and its PAR2 files from target into a new folder dir. */
static int xfer_fetch(const char *target, const cli_net *n, const char *name, char dir[4096])
{
    shelf_transfer_opts o;
    char *msg = NULL;
    int rc, ex;

    if ((ex = xfer_dir(dir)) != EXIT_OK)
        return ex;
    cli_net_transfer(n, &o);
    if ((rc = shelf_archive_download(target, name, dir, &o, NULL, &msg)) != SHELF_OK) {
        cli_error("%s", msg ? msg : shelf_strerror(rc));
        shelf_free(msg);
        xfer_clear(dir);
        return cli_exit_for(rc);
    }
    return EXIT_OK;
}

/* ---- export ----------------------------------------------------------------------- */

static int add_id(int64_t **v, size_t *n, const char *arg, const char *what)
{
    int64_t id = cli_parse_id(arg), *nv;

    if (!id) {
        cli_error("%s: '%s' is not an id", what, arg);
        return EXIT_USAGE;
    }
    if (!(nv = realloc(*v, (*n + 1) * sizeof *nv))) {
        cli_error("out of memory");
        return EXIT_FAIL;
    }
    nv[(*n)++] = id;
    *v = nv;
    return EXIT_OK;
}

/* archive export, or (everything) export-all: the same bag with the
 * catalog as SQLite, CSV and JSON, the settings and a README. */
static int archive_export(const cli *c, int argc, char **argv, int everything)
{
    static const struct option longopts[] = {
        { "project", required_argument, NULL, 'P' }, { "patch", required_argument, NULL, 'p' },
        { "query", required_argument, NULL, 'Q' }, { "all", no_argument, NULL, 'a' },
        { "parity", required_argument, NULL, 'r' }, { "sync", no_argument, NULL, 's' },
        { "allow-missing", no_argument, NULL, 'm' }, { "to", required_argument, NULL, 'T' },
        { "sign-with", required_argument, NULL, 'k' }, { "no-sign", no_argument, NULL, 'u' },
        CLI_NET_LONGOPTS, { NULL, 0, NULL, 0 }
    };
    const char *to = NULL, *out_path, *sign_with = NULL;
    shelf_signer *signer = NULL;
    int no_sign = 0;
    char xdir[4096] = "", xpath[4400];
    cli_net net;
    shelf_archive_export_opts o;
    shelf_archive_export_stats st = { .size = sizeof st };
    shelf_library *lib = NULL;
    int64_t *projects = NULL, *patches = NULL;
    size_t nprojects = 0, npatches = 0;
    ui u;
    char b1[32], b2[32];
    int ch, rc = EXIT_OK, src;

    memset(&o, 0, sizeof o);
    memset(&u, 0, sizeof u);
    memset(&net, 0, sizeof net);
    o.size = sizeof o;
    o.everything = everything;
    FOR_OPTS(ch, argc, argv, "", longopts) {
        switch (ch) {
        case 'T': to = optarg; break;
        case 'P': rc = add_id(&projects, &nprojects, optarg, "--project"); break;
        case 'p': rc = add_id(&patches, &npatches, optarg, "--patch"); break;
        case 'Q': o.query = optarg; break;
        case 'a': o.all = 1; break;
        case 's': o.sync = 1; break;
        case 'm': o.allow_missing = 1; break;
        case 'k': sign_with = optarg; break;
        case 'u': no_sign = 1; break;
        case 'r':
            if ((o.parity = parse_percent(optarg)) < 0) {
                cli_error("--parity: '%s' is not a percentage from 0 to 100", optarg);
                rc = EXIT_USAGE;
            }
            break;
        default: rc = cli_net_opt(&net, ch, optarg) == EXIT_OK ? EXIT_OK : EXIT_USAGE; break;
        }
        if (rc != EXIT_OK)
            goto out;
    }
    if (everything && (optind + 1 != argc || nprojects || npatches || o.query || o.all)) {
        cli_error("usage: shelf export-all OUT.tar|OUT.tar.zst|OUT.zip [--parity N%%] [--allow-missing] "
                  "[--sign-with KEY | --no-sign] [--to TARGET]");
        rc = EXIT_USAGE;
        goto out;
    }
    if (optind + 1 != argc || (!nprojects && !npatches && !o.query && !o.all && !everything)) {
        cli_error("usage: shelf archive export (--project ID | --patch ID | --query Q | --all)... "
                  "OUT.tar|OUT.tar.zst|OUT.zip [--parity N%%] [--allow-missing] [--sign-with KEY | --no-sign] "
                  "[--to TARGET]");
        rc = EXIT_USAGE;
        goto out;
    }
    if (sign_with && no_sign) {
        cli_error("--sign-with and --no-sign exclude each other");
        rc = EXIT_USAGE;
        goto out;
    }
    out_path = argv[optind];
    if (to) {
        /* Written here whole (with its parity), then sent: the target
         * never holds half an archive under its name. */
        if (strchr(out_path, '/')) {
            cli_error("with --to, OUT is the archive's name in the target, not a path: '%s'", out_path);
            rc = EXIT_USAGE;
            goto out;
        }
        if ((rc = xfer_dir(xdir)) != EXIT_OK)
            goto out;
        snprintf(xpath, sizeof xpath, "%s/%s", xdir, out_path);
        out_path = xpath;
    }
    o.projects = projects;
    o.nprojects = nprojects;
    o.patches = patches;
    o.npatches = npatches;
    if ((rc = cli_open(c, 0, &lib)) != EXIT_OK)
        goto out;
    if ((rc = cli_signer(lib, sign_with, no_sign, argv[optind], &signer)) != EXIT_OK)
        goto out;
    o.signer = signer;
    u.c = c;
    u.what = "export";
    o.progress = on_progress;
    o.on_missing = on_problem;
    u.arr = c->json ? json_array() : NULL;
    o.ud = &u;
    cli_catch_signals();
    cli_progress_start(&u.prog, c);
    src = shelf_archive_export(lib, out_path, &o, &st);
    cli_progress_end(&u.prog);
    if (src != SHELF_OK) {
        rc = cli_fail(lib, src);
        goto out;
    }
    if (to) {
        shelf_transfer_opts xo;
        char *msg = NULL;
        unsigned nf = 0;

        cli_net_transfer(&net, &xo);
        if ((src = shelf_archive_upload(out_path, to, &xo, &nf, &msg)) != SHELF_OK) {
            cli_error("%s", msg ? msg : shelf_strerror(src));
            shelf_free(msg);
            rc = cli_exit_for(src);
            goto out;
        }
        if (!c->json && !c->quiet)
            printf("uploaded %u file%s to %s\n", nf, nf == 1 ? "" : "s", to);
    }
    if (c->json) {
        cli_print_json(json_pack("{s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:i, s:I, s:f, s:o}", "archive", argv[optind],
                                 "signed", signer != NULL, "tables", (json_int_t)st.tables,
                                 "samples", (json_int_t)st.samples, "patches", (json_int_t)st.patches,
                                 "projects", (json_int_t)st.projects, "files", (json_int_t)st.files,
                                 "payload_bytes", (json_int_t)st.payload_bytes,
                                 "archive_bytes", (json_int_t)st.archive_bytes,
                                 "parity_slices", (int)st.parity_slices,
                                 "slice_size", (json_int_t)st.slice_size, "seconds", st.seconds,
                                 "missing", u.arr));
        u.arr = NULL;
    } else if (!c->quiet) {
        printf("%s: %llu samples, %llu patches, %llu projects; %llu files, %s payload, %s archive in %.1f s\n",
               argv[optind], (unsigned long long)st.samples, (unsigned long long)st.patches,
               (unsigned long long)st.projects, (unsigned long long)st.files,
               cli_bytes(st.payload_bytes, b1), cli_bytes(st.archive_bytes, b2), st.seconds);
        if (st.parity_slices)
            printf("parity: %u recovery slices of %llu bytes in %s.par2 and %s.vol*.par2\n",
                   st.parity_slices, (unsigned long long)st.slice_size, argv[optind], argv[optind]);
        if (everything)
            printf("the catalog as SQLite and %llu tables as CSV and JSON; data/README.txt says "
                   "what each file is\n", (unsigned long long)st.tables);
        if (signer)
            printf("signed with %s\n", sign_with ? sign_with : "this device's key");
    }
out:
    if (xdir[0])
        xfer_clear(xdir);
    json_decref(u.arr);
    shelf_signer_free(signer);
    shelf_library_close(lib);
    free(projects);
    free(patches);
    return rc;
}

/* ---- verify ------------------------------------------------------------------------ */

/* The library of -L or the default, read-only, without a word when there is none. */
static int quiet_open(const cli *c, shelf_library **lib)
{
    char dir[4096];

    *lib = NULL;
    if (c->library)
        snprintf(dir, sizeof dir, "%s", c->library);
    else if (shelf_default_dir(dir, sizeof dir) != SHELF_OK)
        return SHELF_ENOTFOUND;
    return shelf_library_open(dir, SHELF_OPEN_READONLY, lib, NULL);
}

static int archive_verify(const cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "from", required_argument, NULL, 'F' }, { "require-signed", no_argument, NULL, 'S' },
        CLI_NET_LONGOPTS, { NULL, 0, NULL, 0 }
    };
    shelf_archive_verify_stats st = { .size = sizeof st };
    char *msg = NULL, b1[32], xdir[4096] = "", xpath[4400];
    const char *from = NULL, *path;
    shelf_library *lib = NULL;
    int require = 0, refused;
    cli_net net;
    ui u;
    int ch, rc;

    memset(&u, 0, sizeof u);
    memset(&net, 0, sizeof net);
    FOR_OPTS(ch, argc, argv, "", longopts) {
        if (ch == 'F')
            from = optarg;
        else if (ch == 'S')
            require = 1;
        else if (cli_net_opt(&net, ch, optarg) != EXIT_OK)
            return EXIT_USAGE;
    }
    if (optind + 1 != argc) {
        cli_error("usage: shelf archive verify ARCHIVE [--require-signed] [--from TARGET]");
        return EXIT_USAGE;
    }
    path = argv[optind];
    if (from) {
        if ((rc = xfer_fetch(from, &net, path, xdir)) != EXIT_OK)
            return rc;
        snprintf(xpath, sizeof xpath, "%s/%s", xdir, path);
        path = xpath;
    }
    u.c = c;
    u.what = "verify";
    u.arr = c->json ? json_array() : NULL;
    cli_catch_signals();
    cli_progress_start(&u.prog, c);
    rc = shelf_archive_verify(path, NULL, on_problem, on_progress, &u, &st, &msg);
    cli_progress_end(&u.prog);
    if (xdir[0])
        xfer_clear(xdir);
    /* The signer's trust needs a library: this one when it opens, else unknown. */
    if (st.signature.state == SHELF_SIGNATURE_VALID)
        (void)quiet_open(c, &lib);
    refused = cli_signature_check(lib, &st.signature, require) != SHELF_OK;
    shelf_library_close(lib);
    if (rc == SHELF_OK && refused) {
        free(msg);
        msg = malloc(1024);
        if (msg)
            snprintf(msg, 1024, st.signature.state == SHELF_SIGNATURE_NONE
                                    ? "'%s' is not signed (--require-signed)"
                                    : "'%s': its signer is not trusted (--require-signed)", argv[optind]);
        rc = SHELF_EPERM;
    }
    if (c->json) {
        cli_print_json(json_pack("{s:s, s:b, s:o, s:I, s:I, s:o, s:b, s:i, s:i, s:s?}", "archive", argv[optind],
                                 "intact", rc == SHELF_OK, "signature", cli_signature_json(&st.signature),
                                 "files", (json_int_t)st.files,
                                 "bytes", (json_int_t)st.bytes, "problems", u.arr, "parity", st.parity,
                                 "bad_slices", (int)st.bad_slices, "recovery_slices",
                                 (int)st.recovery_slices, "error", rc == SHELF_OK ? NULL : msg));
        u.arr = NULL;
    }
    if (rc == SHELF_OK) {
        if (!c->json && !c->quiet)
            printf("%s: intact: %llu files, %s checked against SHA-256 and SHA-512%s\n", argv[optind],
                   (unsigned long long)st.files, cli_bytes(st.bytes, b1),
                   st.parity ? "; parity intact" : "");
        if (!c->json && !c->quiet)
            cli_signature_line(stdout, argv[optind], &st.signature);
        free(msg);
        return EXIT_OK;
    }
    if (!c->json && st.signature.state != SHELF_SIGNATURE_NONE)
        cli_signature_line(stderr, argv[optind], &st.signature);
    if (!c->json)
        cli_error("%s", msg ? msg : shelf_strerror(rc));
    free(msg);
    if (st.signature.state == SHELF_SIGNATURE_BAD || refused)
        return EXIT_SIGNATURE;
    if (rc == SHELF_ECORRUPT)
        return EXIT_VERIFY + (u.mask ? u.mask : SHELF_ARCHIVE_CORRUPT);
    return cli_exit_for(rc);
}

/* ---- import ------------------------------------------------------------------------ */

static const char *action_name(int a)
{
    switch (a) {
    case SHELF_ARCHIVE_CREATE: return "create";
    case SHELF_ARCHIVE_REPLACE: return "overwrite";
    case SHELF_ARCHIVE_BOTH: return "keep-both";
    case SHELF_ARCHIVE_KEPT: return "skip";
    case SHELF_ARCHIVE_SAME: return "same";
    }
    return "?";
}

static void on_item(void *ud, const shelf_archive_item *it)
{
    ui *u = ud;
    char *name = NULL;

    cli_progress_end(&u->prog);
    if (u->arr)
        add_json(u, json_pack("{s:s, s:s, s:I, s:I, s:o, s:s}", "action",
                                                action_name(it->action), "kind", kind_names[it->kind],
                                                "archive_id", (json_int_t)it->archive_id,
                                                "id", (json_int_t)it->id, "name",
                                                tool_json_name(it->name ? it->name : ""),
                                                "detail", it->detail ? it->detail : ""));
    else if (!u->c->quiet)
        printf("%-9s %-7s %6lld -> %-6lld %s%s%s\n", action_name(it->action), kind_names[it->kind],
               (long long)it->archive_id, (long long)it->id, (name = cli_name_text(it->name)) ? name : "?",
               it->detail && *it->detail ? "  " : "", it->detail ? it->detail : "");
    shelf_free(name);
}

static int on_ask(void *ud, const shelf_archive_item *it)
{
    ui *u = ud;
    char line[64];

    cli_progress_end(&u->prog);
    for (;;) {
        fprintf(stderr, "%s %lld '%s' is already in the library (%s)\n"
                "  [s]kip, [o]verwrite, [k]eep both; capital letter: all later ones too? ",
                kind_names[it->kind], (long long)it->archive_id, it->name ? it->name : "",
                it->detail ? it->detail : "");
        if (!fgets(line, sizeof line, stdin))
            return SHELF_ARCHIVE_SKIP;
        switch (line[0]) {
        case 's': return SHELF_ARCHIVE_SKIP;
        case 'S': return SHELF_ARCHIVE_SKIP | SHELF_ARCHIVE_ALL;
        case 'o': return SHELF_ARCHIVE_OVERWRITE;
        case 'O': return SHELF_ARCHIVE_OVERWRITE | SHELF_ARCHIVE_ALL;
        case 'k': return SHELF_ARCHIVE_KEEP_BOTH;
        case 'K': return SHELF_ARCHIVE_KEEP_BOTH | SHELF_ARCHIVE_ALL;
        }
    }
}

/* The signature check of an import: classify, and refuse with --require-signed. */
static int on_signature(void *ud, shelf_signature *sig)
{
    ui *u = ud;
    int rc = cli_signature_check(u->lib, sig, u->require_signed);

    u->refused = rc != SHELF_OK;
    return rc;
}

static int archive_import(const cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "preview", no_argument, NULL, 'n' }, { "dry-run", no_argument, NULL, 'n' },
        { "on-conflict", required_argument, NULL, 'c' }, { "from", required_argument, NULL, 'F' },
        { "require-signed", no_argument, NULL, 'S' }, CLI_NET_LONGOPTS, { NULL, 0, NULL, 0 }
    };
    char xdir[4096] = "", xpath[4400];
    const char *from = NULL, *path;
    cli_net net;
    shelf_archive_import_opts o;
    shelf_archive_import_stats st = { .size = sizeof st };
    shelf_library *lib = NULL;
    ui u;
    int ch, rc = EXIT_OK, src;

    memset(&o, 0, sizeof o);
    memset(&u, 0, sizeof u);
    memset(&net, 0, sizeof net);
    o.size = sizeof o;
    FOR_OPTS(ch, argc, argv, "", longopts) {
        switch (ch) {
        case 'F': from = optarg; break;
        case 'n': o.preview = 1; break;
        case 'S': u.require_signed = 1; break;
        case 'c':
            if (!strcmp(optarg, "skip"))
                o.on_conflict = SHELF_ARCHIVE_SKIP;
            else if (!strcmp(optarg, "overwrite"))
                o.on_conflict = SHELF_ARCHIVE_OVERWRITE;
            else if (!strcmp(optarg, "keep-both"))
                o.on_conflict = SHELF_ARCHIVE_KEEP_BOTH;
            else if (!strcmp(optarg, "ask"))
                o.on_conflict = SHELF_ARCHIVE_ASK;
            else {
                cli_error("--on-conflict: '%s' is not overwrite, keep-both, skip or ask", optarg);
                return EXIT_USAGE;
            }
            break;
        default:
            if (cli_net_opt(&net, ch, optarg) != EXIT_OK)
                return EXIT_USAGE;
            break;
        }
    }
    if (optind + 1 != argc) {
        cli_error("usage: shelf archive import ARCHIVE [--preview] [--on-conflict overwrite|keep-both|skip|ask] "
                  "[--require-signed] [--from TARGET]");
        return EXIT_USAGE;
    }
    if ((rc = cli_open(c, 0, &lib)) != EXIT_OK)
        return rc;
    path = argv[optind];
    if (from) {
        if ((rc = xfer_fetch(from, &net, path, xdir)) != EXIT_OK) {
            shelf_library_close(lib);
            return rc;
        }
        snprintf(xpath, sizeof xpath, "%s/%s", xdir, path);
        path = xpath;
    }
    u.c = c;
    u.what = "import";
    u.arr = c->json ? json_array() : NULL;
    o.on_item = on_item;
    o.on_problem = on_problem;
    o.progress = on_progress;
    o.ask = on_ask;
    o.on_signature = on_signature;
    u.lib = lib;
    o.ud = &u;
    cli_catch_signals();
    cli_progress_start(&u.prog, c);
    src = shelf_archive_import(lib, path, &o, &st);
    cli_progress_end(&u.prog);
    if (xdir[0])
        xfer_clear(xdir);
    if (!c->json && !c->quiet && st.signature.size && (src == SHELF_OK || u.refused))
        cli_signature_line(src == SHELF_OK ? stdout : stderr, argv[optind], &st.signature);
    if (src != SHELF_OK) {
        json_decref(u.arr);
        if (u.refused || st.signature.state == SHELF_SIGNATURE_BAD) {
            cli_error("%s", shelf_errmsg(lib));
            rc = EXIT_SIGNATURE;
        } else if (src == SHELF_ECORRUPT) {
            cli_error("%s", shelf_errmsg(lib));
            rc = EXIT_VERIFY + (u.mask ? u.mask : SHELF_ARCHIVE_CORRUPT);
        } else {
            rc = cli_fail(lib, src);
        }
        shelf_library_close(lib);
        return rc;
    }
    if (c->json) {
        cli_print_json(json_pack("{s:s, s:b, s:b, s:o, s:I, s:I, s:I, s:I, s:I, s:o}", "archive", argv[optind],
                                 "preview", o.preview, "repaired", st.repaired,
                                 "signature", cli_signature_json(&st.signature),
                                 "created", (json_int_t)st.created, "overwritten", (json_int_t)st.replaced,
                                 "kept_both", (json_int_t)st.both, "skipped", (json_int_t)st.kept,
                                 "same", (json_int_t)st.same, "items", u.arr));
    } else if (!c->quiet) {
        printf("%s%s: %llu created, %llu overwritten, %llu kept both, %llu skipped, %llu already there%s\n",
               o.preview ? "preview of " : "", argv[optind], (unsigned long long)st.created,
               (unsigned long long)st.replaced, (unsigned long long)st.both, (unsigned long long)st.kept,
               (unsigned long long)st.same, st.repaired ? " (repaired from parity first)" : "");
    }
    shelf_library_close(lib);
    return EXIT_OK;
}

/* ---- export-media ------------------------------------------------------------------ */

static int export_media(const cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "query", required_argument, NULL, 'Q' }, { "max-per-dir", required_argument, NULL, 'n' },
        { "fat", no_argument, NULL, 'f' }, { "sync", no_argument, NULL, 's' },
        { "patches", no_argument, NULL, 'p' }, { NULL, 0, NULL, 0 }
    };
    shelf_media_export_opts o;
    shelf_media_export_stats st = { .size = sizeof st };
    shelf_library *lib = NULL;
    ui u;
    char b1[32], *end;
    int ch, rc = EXIT_OK, src;
    long v;

    memset(&o, 0, sizeof o);
    memset(&u, 0, sizeof u);
    o.size = sizeof o;
    FOR_OPTS(ch, argc, argv, "", longopts) {
        switch (ch) {
        case 'Q': o.query = optarg; break;
        case 'f': o.fat = 1; break;
        case 's': o.sync = 1; break;
        case 'p': o.patches = 1; break;
        case 'n':
            errno = 0;
            v = strtol(optarg, &end, 10);
            if (errno || end == optarg || *end || v < 1 || v > 1000000) {
                cli_error("--max-per-dir: '%s' is not a number from 1 to 1000000", optarg);
                return EXIT_USAGE;
            }
            o.max_per_dir = (int)v;
            break;
        default: return EXIT_USAGE;
        }
    }
    if (optind + 1 != argc) {
        cli_error("usage: shelf export-media DIR [--query Q] [--max-per-dir N] [--fat] [--patches] "
                  "[--sync]");
        return EXIT_USAGE;
    }
    if ((rc = cli_open(c, 0, &lib)) != EXIT_OK)
        return rc;
    u.c = c;
    u.what = "export-media";
    o.progress = on_progress;
    o.ud = &u;
    cli_catch_signals();
    cli_progress_start(&u.prog, c);
    src = shelf_media_export(lib, argv[optind], &o, &st);
    cli_progress_end(&u.prog);
    if (src != SHELF_OK) {
        rc = cli_fail(lib, src);
        shelf_library_close(lib);
        return rc;
    }
    if (c->json) {
        cli_print_json(json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:I, s:I}", "dir",
                                 argv[optind], "files", (json_int_t)st.files, "shards",
                                 (json_int_t)st.shards, "written", (json_int_t)st.written,
                                 "unchanged", (json_int_t)st.unchanged, "moved", (json_int_t)st.moved,
                                 "removed", (json_int_t)st.removed, "bytes_written",
                                 (json_int_t)st.bytes_written, "seconds", st.seconds, "patches",
                                 (json_int_t)st.patches, "patches_skipped",
                                 (json_int_t)st.patches_skipped));
    } else if (!c->quiet) {
        printf("%s: %llu files in %llu folders; %llu written (%s), %llu unchanged, %llu moved, %llu removed "
               "in %.1f s\n", argv[optind], (unsigned long long)st.files, (unsigned long long)st.shards,
               (unsigned long long)st.written, cli_bytes(st.bytes_written, b1), (unsigned long long)st.unchanged,
               (unsigned long long)st.moved, (unsigned long long)st.removed, st.seconds);
        if (o.patches)
            printf("%llu patches as SFZ in %s/PATCHES; %llu left out (no samples, or one not on "
                   "the card)\n",
                   (unsigned long long)st.patches, argv[optind], (unsigned long long)st.patches_skipped);
    }
    shelf_library_close(lib);
    return EXIT_OK;
}

int cmd_archive(const cli *c, int argc, char **argv)
{
    if (!strcmp(argv[0], "export-media"))
        return export_media(c, argc, argv);
    if (!strcmp(argv[0], "export-all"))
        return archive_export(c, argc, argv, 1);
    if (argc >= 2 && !strcmp(argv[1], "export"))
        return archive_export(c, argc - 1, argv + 1, 0);
    if (argc >= 2 && !strcmp(argv[1], "verify"))
        return archive_verify(c, argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "import"))
        return archive_import(c, argc - 1, argv + 1);
    cli_error("usage: shelf archive export|verify|import ... (see 'shelf help')");
    return EXIT_USAGE;
}
