/*
 * cmd_library.c: commands on the library as a whole: init, import, stats,
 * verify, gc, vacuum, db-backup.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

int cmd_init(const cli *c, int argc, char **argv)
{
    shelf_library *lib;
    cli cc = *c;
    int rc;

    if (argc > 2) {
        cli_error("usage: shelf init [DIR]");
        return EXIT_USAGE;
    }
    if (argc == 2)
        cc.library = argv[1];
    if ((rc = cli_open(&cc, SHELF_OPEN_CREATE, &lib)) != EXIT_OK)
        return rc;
    if (c->json)
        cli_print_json(json_pack("{s:s}", "library", shelf_library_path(lib)));
    else if (!c->quiet)
        printf("library ready at %s\n", shelf_library_path(lib));
    shelf_library_close(lib);
    return EXIT_OK;
}

/* ----- import ------------------------------------------------------------------ */

typedef struct import_ui {
    const cli *c;
    cli_progress bar;
    json_t *failed;         /* [{path, reason}] */
    json_t *differs;        /* [path]: originals that differ from their managed copies */
    int verbose;
} import_ui;

static int import_progress(void *ud, const shelf_import_stats *st)
{
    import_ui *ui = ud;

    cli_progress_draw(&ui->bar, "import", st->files_done, st->files_total, st->bytes_done,
                      st->bytes_total);
    return cli_interrupted;
}

static void import_file(void *ud, int status, const char *path, int64_t id, const char *reason)
{
    import_ui *ui = ud;
    static const char *const names[] = { "", "imported", "updated", "unchanged", "moved",
                                         "missing", "failed", "differs" };

    if (status == SHELF_FILE_FAILED)
        cli_json_check(json_array_append_new(ui->failed, json_pack("{s:o, s:s}", "path", tool_json_name(path),
                                                                   "reason", reason)));
    else if (status == SHELF_FILE_DIFFERS)
        cli_json_check(json_array_append_new(ui->differs, tool_json_name(path)));
    if (status != SHELF_FILE_FAILED && ui->verbose && !ui->c->json) {
        char *t = cli_name_text(path);

        cli_progress_end(&ui->bar);
        printf("%-9s %7lld  %s\n", names[status], (long long)id, t ? t : "?");
        shelf_free(t);
        ui->bar.active = ui->c->tty;
    }
}

int cmd_import(const cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "copy", no_argument, NULL, 'c' }, { "batch", required_argument, NULL, 'b' },
        { "verbose", no_argument, NULL, 'v' }, { "replace", no_argument, NULL, 'R' },
        { NULL, 0, NULL, 0 }
    };
    shelf_import_opts opts;
    shelf_import_stats st = { .size = sizeof st };
    shelf_library *lib;
    import_ui ui;
    double t0, el;
    size_t i, presets;
    int ch, rc, ex;

    memset(&opts, 0, sizeof opts);
    memset(&ui, 0, sizeof ui);
    opts.size = sizeof opts;
    ui.c = c;
    FOR_OPTS(ch, argc, argv, "cb:v", longopts) {
        switch (ch) {
        case 'c': opts.flags |= SHELF_IMPORT_COPY; break;
        case 'R': opts.flags |= SHELF_IMPORT_REPLACE; break;
        case 'b': {
            char *end;
            long v = strtol(optarg, &end, 10);

            if (*end || v < 1 || v > 100000) {
                cli_error("invalid batch size '%s': 1 to 100000", optarg);
                return EXIT_USAGE;
            }
            opts.batch = (unsigned)v;
            break;
        }
        case 'v': ui.verbose = 1; break;
        default: return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        cli_error("usage: shelf import [--copy] [--replace] [--batch N] [-v] PATH...");
        return EXIT_USAGE;
    }
    if ((rc = cli_open(c, SHELF_OPEN_CREATE, &lib)) != EXIT_OK)
        return rc;
    ui.failed = json_array();
    ui.differs = json_array();
    opts.progress = import_progress;
    opts.on_file = import_file;
    opts.ud = &ui;
    cli_catch_signals();
    cli_progress_start(&ui.bar, c);
    t0 = cli_now();
    rc = shelf_import(lib, (const char *const *)argv + optind, (size_t)(argc - optind), &opts, &st);
    el = cli_now() - t0;
    cli_progress_end(&ui.bar);
    if (rc != SHELF_OK && rc != SHELF_ECANCELED) {
        ex = cli_fail(lib, rc);
        goto out;
    }
    /* Presets are not samples: say how many were passed over, and what takes them. */
    presets = st.ignored ? cli_count_presets(argv + optind, argc - optind) : 0;
    if (c->json) {
        json_t *o = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:b}",
            "files", (json_int_t)st.files_total, "imported", (json_int_t)st.imported,
            "updated", (json_int_t)st.updated, "unchanged", (json_int_t)st.unchanged,
            "moved", (json_int_t)st.moved, "missing", (json_int_t)st.missing,
            "failed", (json_int_t)st.failed, "ignored", (json_int_t)st.ignored,
            "bytes_read", (json_int_t)st.bytes_read, "seconds", el,
            "interrupted", rc == SHELF_ECANCELED);

        cli_json_check(json_object_set(o, "failures", ui.failed));
        cli_json_check(json_object_set_new(o, "differs", json_integer((json_int_t)st.differs)));
        cli_json_check(json_object_set(o, "differing", ui.differs));
        cli_json_check(json_object_set_new(o, "presets", json_integer((json_int_t)presets)));
        cli_print_json(o);
    } else {
        for (i = 0; i < json_array_size(ui.failed); i++) {
            json_t *f = json_array_get(ui.failed, i);

            cli_error("cannot import '%s': %s", json_string_value(json_object_get(f, "path")),
                      json_string_value(json_object_get(f, "reason")));
        }
        for (i = 0; i < json_array_size(ui.differs); i++)
            cli_error("'%s': original differs from the managed copy; the copy is kept "
                      "(import --replace takes the original)",
                      json_string_value(json_array_get(ui.differs, i)));
        if (!c->quiet) {
            char mb[32];

            printf("%llu files: %llu imported, %llu updated, %llu unchanged, %llu moved, "
                   "%llu missing, %llu failed",
                   (unsigned long long)st.files_total, (unsigned long long)st.imported,
                   (unsigned long long)st.updated, (unsigned long long)st.unchanged,
                   (unsigned long long)st.moved, (unsigned long long)st.missing,
                   (unsigned long long)st.failed);
            if (st.differs)
                printf(", %llu differ from their managed copies", (unsigned long long)st.differs);
            if (st.ignored)
                printf(" (%llu other files ignored)", (unsigned long long)st.ignored);
            printf("\nread %s in %.2f s (%.0f files/s, %.1f MB/s)\n", cli_bytes(st.bytes_read, mb),
                   el, el > 0 ? (double)st.files_done / el : 0,
                   el > 0 ? (double)st.bytes_read / el / 1e6 : 0);
            if (presets)
                printf("%zu preset%s (SFZ, ZynAddSubFX, LMMS, Decent Sampler) not "
                       "imported: presets are patches; 'shelf patch import PATH...' imports them "
                       "with the samples they use\n", presets, presets == 1 ? "" : "s");
        }
    }
    if (rc == SHELF_ECANCELED) {
        ex = cli_fail(lib, rc);
        goto out;
    }
    ex = st.failed || st.differs ? EXIT_PARTIAL : EXIT_OK;
out:
    json_decref(ui.failed);
    json_decref(ui.differs);
    shelf_library_close(lib);
    return ex;
}

/* ----- stats ---------------------------------------------------------------------- */

int cmd_stats(const cli *c, int argc, char **argv)
{
    shelf_library *lib;
    shelf_cursor *cur;
    const shelf_sample *s;
    int64_t total = 0, missing = 0;
    uint64_t bytes = 0, managed = 0;
    double seconds = 0;
    int rc, ex;

    (void)argv;
    if (argc != 1) {
        cli_error("usage: shelf stats");
        return EXIT_USAGE;
    }
    if ((ex = cli_open(c, 0, &lib)) != EXIT_OK)
        return ex;
    if ((rc = shelf_catalog_count(lib, &total, &missing)) != SHELF_OK ||
        (rc = shelf_catalog_list(lib, NULL, &cur)) != SHELF_OK) {
        ex = cli_fail(lib, rc);
        shelf_library_close(lib);
        return ex;
    }
    while ((rc = shelf_cursor_next(cur, &s)) == SHELF_ROW) {
        bytes += s->size;
        seconds += s->duration;
        managed += s->blob != NULL;
    }
    shelf_cursor_free(cur);
    if (rc != SHELF_DONE) {
        ex = cli_fail(lib, rc);
    } else if (c->json) {
        cli_print_json(json_pack("{s:s, s:I, s:I, s:I, s:I, s:f}", "library", shelf_library_path(lib),
                                 "samples", (json_int_t)total, "missing", (json_int_t)missing,
                                 "managed", (json_int_t)managed, "bytes", (json_int_t)bytes,
                                 "seconds", seconds));
    } else {
        char b[32];

        printf("library:  %s\n", shelf_library_path(lib));
        printf("samples:  %lld (%lld missing, %llu managed copies)\n", (long long)total,
               (long long)missing, (unsigned long long)managed);
        printf("audio:    %s, %.1f minutes\n", cli_bytes(bytes, b), seconds / 60);
    }
    shelf_library_close(lib);
    return ex;
}

/* ----- verify --------------------------------------------------------------------- */

typedef struct verify_ui {
    const cli *c;
    cli_progress bar;
    json_t *problems;
    int mask;
    int catalog;              /* the catalog itself is damaged */
} verify_ui;

static void verify_problem(void *ud, int problem, int64_t id, const char *path)
{
    verify_ui *ui = ud;
    const char *what = problem == SHELF_VERIFY_MISSING ? "missing"
                     : problem == SHELF_VERIFY_CHANGED ? "changed" : "corrupt";

    ui->mask |= problem;
    ui->catalog |= problem == SHELF_VERIFY_CORRUPT && id == 0;
    if (ui->c->json) {
        cli_json_check(json_array_append_new(ui->problems, json_pack("{s:s, s:I, s:o}", "problem", what,
                                                                     "id", (json_int_t)id,
                                                                     "path", tool_json_name(path))));
        return;
    }
    cli_progress_end(&ui->bar);
    {
        char *t = cli_name_text(path);

        printf("%-8s %7lld  %s\n", what, (long long)id, t ? t : "?");
        shelf_free(t);
    }
    ui->bar.active = ui->c->tty;
}

static int verify_progress(void *ud, const shelf_verify_stats *st, uint64_t files, uint64_t bytes)
{
    verify_ui *ui = ud;

    cli_progress_draw(&ui->bar, "verify", st->checked, files, st->bytes, bytes);
    return cli_interrupted;
}

int cmd_verify(const cli *c, int argc, char **argv)
{
    shelf_verify_stats st = { .size = sizeof st };
    shelf_library *lib;
    verify_ui ui;
    int rc, ex;

    static const struct option longopts[] = {
        { "repair", no_argument, NULL, 'r' }, { NULL, 0, NULL, 0 }
    };
    int ch, repair = 0, repaired = 0;

    FOR_OPTS(ch, argc, argv, "", longopts) {
        if (ch != 'r')
            return EXIT_USAGE;
        repair = 1;
    }
    if (optind != argc) {
        cli_error("usage: shelf verify [--repair]");
        return EXIT_USAGE;
    }
    if ((ex = cli_open(c, 0, &lib)) != EXIT_OK)
        return ex;
    if (repair && (rc = shelf_catalog_repair(lib, 0, &repaired)) != SHELF_OK) {
        ex = cli_fail(lib, rc);
        if (rc == SHELF_ECORRUPT)
            ex = EXIT_VERIFY + SHELF_VERIFY_CORRUPT;
        shelf_library_close(lib);
        return ex;
    }
    if (repaired && !c->quiet)
        fprintf(c->json ? stderr : stdout, "rebuilt the indexes of the damaged catalog\n");
    memset(&ui, 0, sizeof ui);
    ui.c = c;
    ui.problems = json_array();
    cli_catch_signals();
    cli_progress_start(&ui.bar, c);
    rc = shelf_verify(lib, verify_problem, verify_progress, &ui, &st);
    cli_progress_end(&ui.bar);
    if (rc != SHELF_OK) {
        ex = cli_fail(lib, rc);
    } else {
        if (c->json) {
            json_t *o = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "checked", (json_int_t)st.checked,
                                  "bytes", (json_int_t)st.bytes, "ok", (json_int_t)st.ok,
                                  "missing", (json_int_t)st.missing, "changed", (json_int_t)st.changed,
                                  "corrupt", (json_int_t)st.corrupt);

            cli_json_check(json_object_set(o, "problems", ui.problems));
            cli_print_json(o);
        } else if (!c->quiet) {
            char b[32];

            printf("checked %llu files (%s): %llu ok, %llu missing, %llu changed, %llu corrupt\n",
                   (unsigned long long)st.checked, cli_bytes(st.bytes, b), (unsigned long long)st.ok,
                   (unsigned long long)st.missing, (unsigned long long)st.changed,
                   (unsigned long long)st.corrupt);
        }
        ex = ui.mask ? EXIT_VERIFY + ui.mask : EXIT_OK;
        if (ui.catalog)
            cli_error("the catalog '%s/shelf.db' is damaged: 'shelf verify --repair' rebuilds its "
                      "indexes, which mends most damage; when it cannot, restore it from a copy "
                      "('shelf restore', or a 'shelf db-backup' file)", shelf_library_path(lib));
    }
    json_decref(ui.problems);
    shelf_library_close(lib);
    return ex;
}

/* ----- gc, vacuum, db-backup -------------------------------------------------------- */

int cmd_gc(const cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "dry-run", no_argument, NULL, 'n' }, { "wait", no_argument, NULL, 'w' },
        { NULL, 0, NULL, 0 }
    };
    shelf_gc_stats st = { .size = sizeof st };
    shelf_library *lib;
    int ch, dry = 0, wait = 0, rc, ex;

    FOR_OPTS(ch, argc, argv, "nw", longopts) {
        switch (ch) {
        case 'n': dry = 1; break;
        case 'w': wait = 1; break;
        default: return EXIT_USAGE;
        }
    }
    if (optind != argc) {
        cli_error("usage: shelf gc [--dry-run] [--wait]");
        return EXIT_USAGE;
    }
    if ((ex = cli_open(c, 0, &lib)) != EXIT_OK)
        return ex;
    if ((rc = shelf_gc(lib, wait, dry, &st)) != SHELF_OK) {
        ex = cli_fail(lib, rc);
    } else if (c->json) {
        cli_print_json(json_pack("{s:b, s:I, s:I, s:I, s:I, s:I}", "dry_run", dry,
                                 "blobs_kept", (json_int_t)st.blobs_kept,
                                 "blobs_removed", (json_int_t)st.blobs_removed,
                                 "bytes_removed", (json_int_t)st.bytes_removed,
                                 "temps_removed", (json_int_t)st.temps_removed,
                                 "peaks_removed", (json_int_t)st.peaks_removed));
    } else if (!c->quiet) {
        char b[32];

        printf("%s %llu unreferenced blobs (%s), %llu temp files and %llu cached peaks; %llu blobs kept\n",
               dry ? "would remove" : "removed", (unsigned long long)st.blobs_removed,
               cli_bytes(st.bytes_removed, b), (unsigned long long)st.temps_removed,
               (unsigned long long)st.peaks_removed, (unsigned long long)st.blobs_kept);
    }
    shelf_library_close(lib);
    return ex;
}

int cmd_vacuum(const cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "wait", no_argument, NULL, 'w' }, { NULL, 0, NULL, 0 }
    };
    shelf_library *lib;
    uint64_t before, after;
    int ch, wait = 0, rc, ex;

    FOR_OPTS(ch, argc, argv, "w", longopts) {
        if (ch != 'w')
            return EXIT_USAGE;
        wait = 1;
    }
    if (optind != argc) {
        cli_error("usage: shelf vacuum [--wait]");
        return EXIT_USAGE;
    }
    if ((ex = cli_open(c, 0, &lib)) != EXIT_OK)
        return ex;
    if ((rc = shelf_vacuum(lib, wait, &before, &after)) != SHELF_OK) {
        ex = cli_fail(lib, rc);
    } else if (c->json) {
        cli_print_json(json_pack("{s:I, s:I, s:I}", "before", (json_int_t)before, "after",
                                 (json_int_t)after, "reclaimed",
                                 (json_int_t)(before > after ? before - after : 0)));
    } else if (!c->quiet) {
        char b1[32], b2[32], b3[32];

        printf("catalog %s -> %s (reclaimed %s)\n", cli_bytes(before, b1), cli_bytes(after, b2),
               cli_bytes(before > after ? before - after : 0, b3));
    }
    shelf_library_close(lib);
    return ex;
}

int cmd_db_backup(const cli *c, int argc, char **argv)
{
    shelf_library *lib;
    int rc, ex;

    if (argc != 2) {
        cli_error("usage: shelf db-backup FILE");
        return EXIT_USAGE;
    }
    if ((ex = cli_open(c, 0, &lib)) != EXIT_OK)
        return ex;
    if ((rc = shelf_db_backup(lib, argv[1])) != SHELF_OK)
        ex = cli_fail(lib, rc);
    else if (!c->quiet && !c->json)
        printf("catalog copied to %s\n", argv[1]);
    else if (c->json)
        cli_print_json(json_pack("{s:s}", "backup", argv[1]));
    shelf_library_close(lib);
    return ex;
}
