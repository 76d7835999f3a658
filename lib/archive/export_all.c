/*
 * export_all.c: what `shelf export-all` adds to an archive of everything
 * (doc/formats.md, "Export everything"): the catalog as an SQLite file with
 * the secrets taken out, every table of it as CSV and as JSON, the
 * library's settings, and a README that says what each file is.  The
 * archive (archive.c) holds them under data/library/ beside the samples,
 * the per-sample JSON and the histories it always writes; all of it is read
 * from one consistent copy of the catalog.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sqlite3.h>
#include <jansson.h>
#include "archive_int.h"
#include "../catalog/catalog_int.h"

/* Tables withheld, and why (README.txt says so too). */
static const char *const withheld[][2] = {
    { "sync_keys", "the library key that seals sync hubs: a secret" },
    { "invitations", "pending device invitations (hashes of one-time secrets)" },
};

static const char readme[] =
    "This is everything a shelf library held on %s, written by `shelf export-all`\n"
    "(shelf %s).  It is a BagIt bag (RFC 8493): the manifests list the SHA-256 and\n"
    "SHA-512 of every file, and bagit-python or `sha256sum -c` check them.  Nothing\n"
    "here needs shelf to be read.\n"
    "\n"
    "data/samples/ID/NAME        the bytes of every sample (ID: its catalog id; the\n"
    "                            name is the file's, escaped where it was not UTF-8)\n"
    "data/catalog/ID.json        each sample's catalog entry: path, format, length,\n"
    "                            tags, rating, favourite, metadata\n"
    "data/patches/ID.json        each patch with its whole version history\n"
    "data/projects/ID.json       each project with its whole version history (the\n"
    "                            format of both: doc/documents.md of shelf)\n"
    "data/library/shelf.sqlite   the catalog itself, an SQLite 3 database (open it\n"
    "                            with sqlite3 or any SQLite tool)\n"
    "data/library/tables/T.csv   every table T of it as CSV (RFC 4180, UTF-8: a\n"
    "                            header row, fields quoted when needed; NULL is an\n"
    "                            empty field; BLOB columns as lowercase hex)\n"
    "data/library/tables/T.json  the same as a JSON array of objects (NULL is null,\n"
    "                            BLOBs lowercase hex)\n"
    "                            In both, text that is not UTF-8 (a file name's\n"
    "                            bytes) is escaped as shelf escapes file names: a\n"
    "                            byte that is not UTF-8 is %%XX, a %% before two hex\n"
    "                            digits %%25; the SQLite file holds the bytes.\n"
    "data/library/config.json    the library's settings (format, id, creation)\n"
    "data/library/device.json    this device's name and creation (its key stays)\n"
    "\n"
    "The tables: samples (one row per file: root_id and relpath under roots.path),\n"
    "roots, tags and tag_items (which item wears which tag; kind 1 sample, 2 patch,\n"
    "3 project), ratings, favourites, collections and collection_items, synonyms,\n"
    "patches, projects, automation, patch_samples, project_samples,\n"
    "project_patches, doc_versions (every version of every patch and project),\n"
    "audit_log (restores, merges, imports, exports, purges), devices (the paired\n"
    "devices), trusted_keys (signing keys you trusted), and the sync bookkeeping\n"
    "(changes: the change log exchanged with other devices; sync_state,\n"
    "sync_vector, sync_clock, change_queue, sync_hubs, doc_conflicts).\n"
    "\n"
    "Withheld, because they are secrets, not your data:\n"
    "%s"
    "  - this device's private key (device/key.pem) and any credentials of\n"
    "    remotes (they never were in the library)\n"
    "The search index (samples_fts*) is left out: it is made from the tables.\n";

/* Text of n bytes as UTF-8: s itself (*owned NULL) when it is, else
 * escaped as file names are (doc/formats.md, "Names that are not UTF-8"),
 * owned; NULL when memory runs out. */
static const char *utf8_text(const char *s, size_t n, char **owned)
{
    json_t *j = json_stringn(s, n);
    char *cut;

    *owned = NULL;
    if (j) {
        json_decref(j);
        return s;
    }
    if (!(cut = shelf__strndup(s, n)))
        return NULL;
    *owned = shelf_name_escape(cut, 0);
    shelf_free(cut);
    return *owned;
}

/* One CSV field (RFC 4180). */
static int csv_field(shelf__buf *b, const char *s, size_t n)
{
    size_t i;
    int quote = 0;

    for (i = 0; i < n && !quote; i++)
        quote = s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r';
    if (!quote)
        return shelf__buf_add(b, s, n);
    if (shelf__buf_add(b, "\"", 1) != SHELF_OK)
        return SHELF_ENOMEM;
    for (i = 0; i < n; i++)
        if ((s[i] == '"' && shelf__buf_add(b, "\"", 1) != SHELF_OK) ||
            shelf__buf_add(b, s + i, 1) != SHELF_OK)
            return SHELF_ENOMEM;
    return shelf__buf_add(b, "\"", 1);
}

/* Table t of db as CSV into csv and as a JSON array into *json. */
static int dump_table(sqlite3 *db, const char *t, shelf__buf *csv, char **json, int64_t *rows,
                      shelf__err *err)
{
    char *sql = shelf__asprintf("SELECT * FROM \"%s\"", t);
    sqlite3_stmt *st = NULL;
    json_t *arr = json_array();
    int cols, i, step, rc = SHELF_OK;

    *json = NULL;
    *rows = 0;
    if (!sql || !arr) {
        rc = shelf__seterr(err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        rc = shelf__seterr_sqlite(err, db, NULL, "cannot read table %s of the catalog copy", t);
        goto out;
    }
    cols = sqlite3_column_count(st);
    for (i = 0; i < cols && rc == SHELF_OK; i++) {
        const char *c = sqlite3_column_name(st, i);

        if ((i && shelf__buf_add(csv, ",", 1) != SHELF_OK) || csv_field(csv, c, strlen(c)) != SHELF_OK)
            rc = SHELF_ENOMEM;
    }
    if (rc == SHELF_OK && shelf__buf_add(csv, "\r\n", 2) != SHELF_OK)
        rc = SHELF_ENOMEM;
    while (rc == SHELF_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *o = json_object();

        if (!o || json_array_append_new(arr, o) != 0) {
            rc = SHELF_ENOMEM;
            break;
        }
        for (i = 0; i < cols && rc == SHELF_OK; i++) {
            int type = sqlite3_column_type(st, i);
            const char *txt = type == SQLITE_BLOB ? NULL : (const char *)sqlite3_column_text(st, i);
            size_t n = (size_t)sqlite3_column_bytes(st, i);
            json_t *v = NULL;

            if (i && shelf__buf_add(csv, ",", 1) != SHELF_OK) {
                rc = SHELF_ENOMEM;
                break;
            }
            switch (type) {
            case SQLITE_NULL:
                v = json_null();
                break;
            case SQLITE_INTEGER:
                v = json_integer(sqlite3_column_int64(st, i));
                rc = csv_field(csv, txt, n);
                break;
            case SQLITE_FLOAT:
                v = json_real(sqlite3_column_double(st, i));
                rc = csv_field(csv, txt, n);
                break;
            case SQLITE_BLOB: {
                const uint8_t *p = sqlite3_column_blob(st, i);
                char *hex;

                n = (size_t)sqlite3_column_bytes(st, i);
                if (!(hex = shelf__malloc(2 * n + 1))) {
                    rc = SHELF_ENOMEM;
                    break;
                }
                shelf__hex(p, n, hex);
                v = json_string(hex);
                rc = csv_field(csv, hex, 2 * n);
                shelf_free(hex);
                break;
            }
            default: {
                char *owned;
                const char *u = utf8_text(txt ? txt : "", n, &owned);

                if (!u) {
                    rc = SHELF_ENOMEM;
                    break;
                }
                v = json_string(u);
                rc = csv_field(csv, u, strlen(u));
                shelf_free(owned);
                break;
            }
            }
            if (rc == SHELF_OK && (!v || json_object_set_new(o, sqlite3_column_name(st, i), v) != 0))
                rc = SHELF_ENOMEM;
        }
        if (rc == SHELF_OK && shelf__buf_add(csv, "\r\n", 2) != SHELF_OK)
            rc = SHELF_ENOMEM;
        (*rows)++;
    }
    if (rc == SHELF_ENOMEM)
        rc = shelf__seterr(err, SHELF_ENOMEM, "out of memory");
    else if (rc == SHELF_OK && step != SQLITE_DONE)
        rc = shelf__seterr_sqlite(err, db, NULL, "cannot read table %s of the catalog copy", t);
    if (rc == SHELF_OK && !(*json = shelf__json_dumps(arr, JSON_INDENT(1) | JSON_ENSURE_ASCII)))
        rc = shelf__seterr(err, SHELF_ENOMEM, "out of memory");
out:
    sqlite3_finalize(st);
    json_decref(arr);
    shelf_free(sql);
    return rc;
}

/* The catalog copy at path, secrets out: every table but the search
 * index's and the withheld ones, through add. */
static int dump_tables(shelf_library *lib, const char *path, shelf__export_sink *k)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    size_t i;
    int rc = SHELF_OK, step;

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        rc = shelf__seterr_sqlite(&lib->err, db, path, "cannot open the catalog copy '%s'", path);
        goto out;
    }
    for (i = 0; i < sizeof withheld / sizeof withheld[0] && rc == SHELF_OK; i++) {
        char *sql = shelf__asprintf("DELETE FROM %s", withheld[i][0]);

        if (!sql)
            rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        else if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK &&
                 !strstr(sqlite3_errmsg(db), "no such table"))
            rc = shelf__seterr_sqlite(&lib->err, db, path, "cannot clear %s in the catalog copy",
                                      withheld[i][0]);
        shelf_free(sql);
    }
    /* freed pages would still hold the secrets: rewrite the file */
    if (rc == SHELF_OK && sqlite3_exec(db, "PRAGMA journal_mode=DELETE; VACUUM", NULL, NULL,
                                       NULL) != SQLITE_OK)
        rc = shelf__seterr_sqlite(&lib->err, db, path, "cannot compact the catalog copy");
    if (rc == SHELF_OK &&
        sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT "
                               "LIKE 'sqlite%' AND name NOT LIKE 'samples_fts%' AND name NOT IN "
                               "('sync_keys', 'invitations') ORDER BY name",
                           -1, &st, NULL) != SQLITE_OK)
        rc = shelf__seterr_sqlite(&lib->err, db, path, "cannot read the catalog copy");
    while (rc == SHELF_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(st, 0);
        shelf__buf csv = SHELF__BUF_INIT;
        char *json = NULL;
        int64_t rows;

        if ((rc = dump_table(db, t, &csv, &json, &rows, &lib->err)) == SHELF_OK &&
            (rc = k->text(k->ud, shelf__asprintf("data/library/tables/%s.csv", t),
                          shelf__buf_detach(&csv))) == SHELF_OK)
            rc = k->text(k->ud, shelf__asprintf("data/library/tables/%s.json", t), json);
        else
            shelf_free(json);
        json = NULL;
        shelf__buf_release(&csv);
        if (rc == SHELF_OK)
            k->tables++;
    }
    if (rc == SHELF_OK && step != SQLITE_DONE)
        rc = shelf__seterr_sqlite(&lib->err, db, path, "cannot read the catalog copy");
out:
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

/* A small JSON file of the library folder (no secret in it) as
 * data/library/NAME, when it exists. */
static int settings_file(shelf_library *lib, const char *rel, const char *name,
                         const shelf__export_sink *k)
{
    char *path = shelf__path_join(lib->path, rel);
    shelf__buf b = SHELF__BUF_INIT;
    shelf__err e = { 0, "" };
    int rc;

    if (!path)
        return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    rc = shelf__read_file(&e, path, 1 << 20, &b);
    shelf_free(path);
    if (rc == SHELF_ENOTFOUND)
        return SHELF_OK;
    if (rc != SHELF_OK) {
        shelf__buf_release(&b);
        return shelf__seterr(&lib->err, rc, "%s", e.msg);
    }
    if (shelf__buf_add(&b, "", 1) != SHELF_OK) {
        shelf__buf_release(&b);
        return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    }
    return k->text(k->ud, shelf__asprintf("data/library/%s", name), shelf__buf_detach(&b));
}

int shelf__export_all(shelf_library *lib, shelf__export_sink *k, char **copy)
{
    char *dir = shelf__cache_dir(lib), date[32], held[512] = "";
    time_t now = time(NULL);
    struct tm tmv;
    size_t i;
    int rc, e;

    *copy = NULL;
    if (!dir)
        return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    if ((e = shelf__mkdirs(dir, 0700)) != 0) {
        rc = shelf__seterr_errno(&lib->err, e, "cannot make the cache folder '%s'", dir);
        shelf_free(dir);
        return rc;
    }
    *copy = shelf__asprintf("%s/export-catalog-%d.sqlite", dir, (int)getpid());
    shelf_free(dir);
    if (!*copy)
        return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    if ((rc = shelf_db_backup(lib, *copy)) != SHELF_OK || (rc = dump_tables(lib, *copy, k)) != SHELF_OK ||
        (rc = k->file(k->ud, shelf__strdup("data/library/shelf.sqlite"), *copy)) != SHELF_OK ||
        (rc = settings_file(lib, "config", "config.json", k)) != SHELF_OK ||
        (rc = settings_file(lib, "device/device.json", "device.json", k)) != SHELF_OK)
        return rc;
    gmtime_r(&now, &tmv);
    strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", &tmv);
    for (i = 0; i < sizeof withheld / sizeof withheld[0]; i++) {
        size_t n = strlen(held);

        snprintf(held + n, sizeof held - n, "  - table %s: %s\n", withheld[i][0], withheld[i][1]);
    }
    return k->text(k->ud, shelf__strdup("data/README.txt"),
                   shelf__asprintf(readme, date, shelf_version(), held));
}
