/*
 * pimport.c: patch files into the library and back out.  Import parses the
 * whole file first (formats_int.h), checks that every sample it names is
 * there, imports those samples into the catalog, and only then creates the
 * patch with each zone pointing at its sample by id and content hash.
 * Export writes a patch as SFZ with copies of its samples.  The format
 * dispatcher (shelf__patch_parse, _mem) is here too, above the importers,
 * so no importer calls back into the file that calls it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <libxml/globals.h>
#include <libxml/xmlerror.h>
#include "patch_int.h"
#include "formats_int.h"
#include "../catalog/catalog_int.h"

/* A path relative to dir when it lies under dir, else the path itself. */
static const char *rel_to(const char *path, const char *dir)
{
    const char *r = dir ? shelf__path_under(path, dir) : NULL;

    return r && *r ? r : path;
}

/* The text (shelf_name_escape) of rel_to(raw path, dir) as JSON. */
static json_t *rel_text(const char *raw, const char *dir)
{
    char *t = shelf_name_escape(rel_to(raw, dir), 0);
    json_t *j = t ? json_string(t) : NULL;

    free(t);
    return j;
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');

    if (!slash)
        return shelf__strdup(".");
    if (slash == path)
        return shelf__strdup("/");
    return shelf__strndup(path, (size_t)(slash - path));
}

/* ---- The format dispatcher: a file or bytes to a patch document ---------- */

static const char *patch_base_name(const char *path)
{
    const char *s = strrchr(path, '/');

    return s ? s + 1 : path;
}

/* libxml2's tree functions (xmlGetNoNsProp, xmlNodeListGetString) report a
 * failed allocation on stderr by default: the parse reports it instead. */
static void quiet(void *data, xmlErrorPtr e)
{
    (void)data, (void)e;
}

int shelf__patch_parse_mem(const void *data, size_t n, int format, const char *name,
                           const char *dir, json_t **out, shelf__err *err)
{
    shelf__err local;
    shelf__pf_ctx cx;
    json_t *doc = NULL;
    unsigned long failures = shelf__alloc_failures();
    int rc;

    if (!err)
        err = &local;
    *out = NULL;
    if (!name || !*name)
        name = "patch";
    if (!format)
        format = shelf__patch_format_of(name);
    if (!shelf__patch_format_name(format))
        return shelf__seterr(err, SHELF_EINVAL, "%s: not a patch format shelf reads", name);
    if (n > SHELF__PF_MAX_BYTES)
        return shelf__seterr(err, SHELF_EFORMAT, "%s: too large (%zu bytes, the limit is %zu MiB)",
                             name, n, SHELF__PF_MAX_BYTES >> 20);
    memset(&cx, 0, sizeof cx);
    cx.name = name;
    cx.dir = dir;
    cx.err = err;
    if (format == SHELF__PF_SFZ) {
        rc = shelf__sfz_parse(&cx, n ? data : "", n, &doc);
    } else {
        xmlStructuredErrorFunc old_handler = xmlStructuredError;
        void *old_data = xmlStructuredErrorContext;

        xmlSetStructuredErrorFunc(NULL, quiet);
        rc = shelf__xml_patch_parse(&cx, format, n ? data : "", n, &doc);
        xmlSetStructuredErrorFunc(old_data, old_handler);
    }
    json_decref(cx.dirs);
    json_decref(cx.files);
    /* libxml2 and jansson absorb some failed allocations (a namespace read
     * as empty, a value dropped) or report them as malformed input: any
     * failure during the parse makes it an out-of-memory. */
    if (shelf__alloc_failures() != failures && rc != SHELF_ENOMEM)
        rc = shelf__seterr(err, SHELF_ENOMEM, "out of memory");
    if (rc != SHELF_OK) {
        json_decref(doc);
        return rc;
    }
    *out = doc;
    return SHELF_OK;
}

int shelf__patch_parse(const char *path, int format, json_t **out, shelf__err *err)
{
    shelf__err local;
    char *data = NULL, *abs = NULL, *dir = NULL, *slash;
    size_t n;
    int rc;

    if (!err)
        err = &local;
    *out = NULL;
    if (!format)
        format = shelf__patch_format_of(path);
    if (!shelf__patch_format_name(format))
        return shelf__seterr(err, SHELF_EINVAL, "%s: not a patch format shelf reads",
                             patch_base_name(path));
    if ((rc = shelf__pf_read_file(path, SHELF__PF_MAX_BYTES, &data, &n, err)) != SHELF_OK)
        goto out;
    /* The folder, with its symbolic links resolved, but not the file's
     * own: a linked patch refers to samples next to the link. */
    if (!(dir = shelf__strdup(path))) {
        rc = shelf__seterr(err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    if ((slash = strrchr(dir, '/')) == NULL)
        abs = shelf__path_abs(".");
    else if (slash == dir)
        abs = shelf__strdup("/");
    else {
        *slash = '\0';
        abs = shelf__path_abs(dir);
    }
    if (!abs) {
        rc = shelf__seterr(err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    rc = shelf__patch_parse_mem(data, n, format, patch_base_name(path), abs, out, err);
out:
    free(dir);
    free(abs);
    free(data);
    return rc;
}

/* Read a shelf document file; a whole history (shelf_doc_export) is
 * imported at once (*doc stays NULL, *id is set). */
static int load_json_file(shelf_library *lib, const char *path, int flags, json_t **doc, int64_t *id)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0, cap = 0, r;
    int rc;

    if (!f)
        return shelf__seterr_errno(&lib->err, errno, "cannot read '%s'", path);
    for (;;) {
        if (cap - n < 65536) {
            char *p;

            cap = cap ? 2 * cap : 65536;
            if (cap > SHELF__DOC_MAX_BYTES + 65536u || !(p = shelf__realloc(buf, cap))) {
                free(buf);
                (void)fclose(f);
                return cap > SHELF__DOC_MAX_BYTES + 65536u
                           ? shelf__seterr(&lib->err, SHELF_EFORMAT, "%s: larger than %u bytes",
                                           path, SHELF__DOC_MAX_BYTES)
                           : shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
            }
            buf = p;
        }
        if ((r = fread(buf + n, 1, cap - n, f)) == 0)
            break;
        n += r;
    }
    if (ferror(f)) {
        rc = shelf__seterr_errno(&lib->err, errno, "cannot read '%s'", path);
        goto out;
    }
    if (n < SHELF__DOC_MAX_BYTES && memmem(buf, n, "\"shelf_history\"", 15)) {
        int kind = 0;

        buf[n < cap ? n : cap - 1] = '\0';
        rc = shelf_doc_import(lib, buf, flags & SHELF_PIMPORT_AS_NEW ? SHELF_DOC_IMPORT_AS_NEW : 0,
                              &kind, id);
        if ((rc == SHELF_OK || rc == SHELF_DONE) && kind != SHELF_DOC_PATCH)
            rc = shelf__seterr(&lib->err, SHELF_EFORMAT, "%s: a project's history, not a patch's",
                               path);
        goto out;
    }
    if ((rc = shelf__doc_load(buf, n, SHELF_DOC_PATCH, NULL, doc, &lib->err)) != SHELF_OK) {
        char msg[sizeof lib->err.msg];

        snprintf(msg, sizeof msg, "%s", lib->err.msg);
        shelf__seterr(&lib->err, rc, "%s: %s", path, msg);
    }
out:
    free(buf);
    (void)fclose(f);    /* read only: nothing to lose */
    return rc;
}

/* The sample's sha256 from the catalog, copied into hex. */
static int sample_hash(shelf_library *lib, int64_t id, char hex[SHELF_HASH_HEX])
{
    sqlite3_stmt *st = shelf__prepare(lib, "SELECT sha256 FROM samples WHERE id = ?1");
    int rc;

    if (!st)
        return lib->err.rc;
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0)) {
        snprintf(hex, SHELF_HASH_HEX, "%s", (const char *)sqlite3_column_text(st, 0));
        rc = SHELF_OK;
    } else {
        rc = shelf__seterr(&lib->err, SHELF_ENOTFOUND, "no sample with id %lld", (long long)id);
    }
    sqlite3_finalize(st);
    return rc;
}

typedef struct failed_ui {
    shelf_library *lib;
    const char *patch;
    int failed;
    char reason[512];
} failed_ui;

static void on_sample(void *ud, int status, const char *path, int64_t id, const char *reason)
{
    failed_ui *ui = ud;

    (void)id;
    if (status == SHELF_FILE_FAILED && !ui->failed) {
        ui->failed = 1;
        snprintf(ui->reason, sizeof ui->reason, "%s: sample '%s': %s", ui->patch, path,
                 reason ? reason : "cannot import");
    }
}

int shelf_patch_import(shelf_library *lib, const char *path, int format, int flags, int64_t *id)
{
    json_t *doc = NULL, *zones, *z, *s, *seen = NULL, *found;
    const char **files = NULL, *key;
    char *abs = NULL, *dir = NULL, *msg = NULL, *base;
    size_t nfiles = 0;
    failed_ui ui = { lib, path, 0, "" };
    shelf_import_opts opts;
    struct stat sb;
    int rc;

    *id = 0;
    if (format < SHELF_PATCHFMT_AUTO || format > SHELF_PATCHFMT_SHELF)
        return shelf__seterr(&lib->err, SHELF_EINVAL, "unknown patch format %d", format);
    if (!(abs = shelf__path_abs(path)) || !(dir = dir_of(abs))) {
        rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    if (stat(abs, &sb) != 0) {
        rc = shelf__seterr_errno(&lib->err, errno, "cannot read '%s'", path);
        goto out;
    }
    /* A FIFO or a device would block the read or never end. */
    if (!S_ISREG(sb.st_mode) && !S_ISDIR(sb.st_mode)) {
        rc = shelf__seterr(&lib->err, SHELF_EFORMAT, "cannot read '%s': not a regular file", path);
        goto out;
    }
    if (format == SHELF_PATCHFMT_AUTO) {
        char ext[16];

        shelf__path_ext(abs, ext, sizeof ext);
        if (!strcmp(ext, "json"))
            format = SHELF_PATCHFMT_SHELF;
        else if (!(format = shelf__patch_format_of(abs))) {
            rc = shelf__seterr(&lib->err, SHELF_EFORMAT,
                               "%s: not a patch format shelf reads (sfz, drumkit.xml, xiz, xpf, "
                               "dspreset, json)", path);
            goto out;
        }
    }
    /* 1. Parse the whole file; nothing in the library changes on error. */
    if (format == SHELF_PATCHFMT_SHELF)
        rc = load_json_file(lib, abs, flags, &doc, id);
    else if ((rc = shelf__patch_parse(abs, format, &doc, &lib->err)) == SHELF_OK &&
             (rc = shelf__doc_check(doc, SHELF_DOC_PATCH, &lib->err)) != SHELF_OK) {
        char why[sizeof lib->err.msg];

        snprintf(why, sizeof why, "%s", lib->err.msg);
        rc = shelf__seterr(&lib->err, SHELF_EFORMAT, "%s: %s", path, why);
    }
    if (rc != SHELF_OK || !doc)
        goto out;

    /* 2. Every sample it names must be there (or be allowed missing). */
    zones = json_object_get(doc, "zones");
    /* seen: each sample path once (a patch may have 100,000 zones). */
    if (!(files = shelf__calloc(json_object_size(zones) + 1, sizeof *files)) ||
        !(seen = json_object())) {
        rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    json_object_foreach(zones, key, z) {
        const char *sp;
        char *raw = NULL;
        json_t *known;

        s = json_object_get(z, "sample");
        sp = json_string_value(json_object_get(s, "path"));
        if (json_object_get(s, "id") && json_object_get(s, "sha256") && !sp)
            continue;           /* a shelf document that already points into a catalog */
        /* The path is text (shelf_name_escape); the file is its bytes. */
        if (sp && shelf_name_unescape(sp, &raw) == SHELF_ENOMEM) {
            rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
            goto out;
        }
        if (raw) {
            int set = json_object_set_new(s, "path", json_string_nocheck(raw));

            free(raw);
            if (set != 0) {
                rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
                goto out;
            }
            sp = json_string_value(json_object_get(s, "path"));
        }
        /* null: a file listed already; false: not there. */
        known = sp ? json_object_get(seen, sp) : NULL;
        if (json_is_null(known) && !json_is_true(json_object_get(s, "missing")))
            continue;
        if (!sp || *sp != '/' || json_is_true(json_object_get(s, "missing")) || known ||
            stat(sp, &sb) != 0 || !S_ISREG(sb.st_mode)) {
            if (sp && !known && json_object_set_new_nocheck(seen, sp, json_false()) != 0) {
                rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
                goto out;
            }
            if (!(flags & SHELF_PIMPORT_ALLOW_MISSING)) {
                rc = shelf__seterr(&lib->err, SHELF_ENOTFOUND,
                                   "%s: zone %s: sample '%s' not found", path, key, sp ? sp : "?");
                goto out;
            }
            if (json_object_set_new(s, "missing", json_true()) != 0) {
                rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
                goto out;
            }
            (void)json_object_del(s, "id");         /* absent is fine */
            (void)json_object_del(s, "sha256");
            continue;
        }
        if (json_object_set_new_nocheck(seen, sp, json_null()) != 0) {
            rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
            goto out;
        }
        files[nfiles++] = sp;
    }

    /* 3. Import the samples (known ones are found unchanged, quickly). */
    if (nfiles) {
        memset(&opts, 0, sizeof opts);
        opts.size = sizeof opts;
        opts.flags = flags & SHELF_PIMPORT_COPY ? SHELF_IMPORT_COPY : 0;
        opts.on_file = on_sample;
        opts.ud = &ui;
        if ((rc = shelf_import(lib, files, nfiles, &opts, NULL)) != SHELF_OK)
            goto out;
        if (ui.failed && !(flags & SHELF_PIMPORT_ALLOW_MISSING)) {
            rc = shelf__seterr(&lib->err, SHELF_EFORMAT, "%s", ui.reason);
            goto out;
        }
    }

    /* 4. Point each zone at its sample: id, hash, path relative to the file. */
    json_object_foreach(zones, key, z) {
        char hex[SHELF_HASH_HEX];
        int64_t sid;
        const char *sp;
        json_t *rel;

        s = json_object_get(z, "sample");
        sp = json_string_value(json_object_get(s, "path"));
        if (!sp || json_is_true(json_object_get(s, "missing"))) {
            if (sp && (rel = rel_text(sp, *sp == '/' ? dir : NULL)) &&
                json_object_set_new(s, "path", rel) != 0)
                goto nomem;
            continue;
        }
        /* Looked up once per sample path: [id, sha256] or false. */
        if (json_is_array(found = json_object_get(seen, sp))) {
            if (json_object_set(s, "id", json_array_get(found, 0)) != 0 ||
                json_object_set(s, "sha256", json_array_get(found, 1)) != 0 ||
                json_object_set_new(s, "path", rel_text(sp, dir)) != 0)
                goto nomem;
            continue;
        }
        if (json_is_false(found)) {
            if (json_object_set_new(s, "missing", json_true()) != 0 ||
                json_object_set_new(s, "path", rel_text(sp, dir)) != 0)
                goto nomem;
            continue;
        }
        rc = shelf_catalog_find_path(lib, sp, &sid);
        if (rc == SHELF_ENOTFOUND && ui.failed) {
            /* Not audio shelf reads (allowed missing, as in step 2). */
            if (json_object_set_new_nocheck(seen, sp, json_false()) != 0 ||
                json_object_set_new(s, "missing", json_true()) != 0 ||
                json_object_set_new(s, "path", rel_text(sp, dir)) != 0)
                goto nomem;
            continue;
        }
        if (rc != SHELF_OK || (rc = sample_hash(lib, sid, hex)) != SHELF_OK) {
            char why[sizeof lib->err.msg];

            snprintf(why, sizeof why, "%s", lib->err.msg);
            rc = shelf__seterr(&lib->err, rc, "%s: zone %s: %s", path, key, why);
            goto out;
        }
        if (json_object_set_new_nocheck(seen, sp, json_pack("[Is]", (json_int_t)sid, hex)) != 0 ||
            json_object_set_new(s, "id", json_integer(sid)) != 0 ||
            json_object_set_new(s, "sha256", json_string(hex)) != 0 ||
            json_object_set_new(s, "path", rel_text(sp, dir)) != 0)
            goto nomem;
    }
    base = strrchr(abs, '/');
    if (!(msg = shelf__asprintf("import %s", base ? base + 1 : abs))) {
        rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    /* The same file imported again: the patch it made is there. */
    if (!(flags & SHELF_PIMPORT_AS_NEW)) {
        if ((rc = shelf__doc_find_same(lib, SHELF_DOC_PATCH, doc, id)) != SHELF_OK || *id) {
            if (rc == SHELF_OK)
                rc = SHELF_DONE;
            goto out;
        }
    }
    rc = shelf__doc_create_json(lib, SHELF_DOC_PATCH, doc, msg, id);
    goto out;
nomem:
    rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
out:
    json_decref(seen);
    json_decref(doc);
    free(files);
    free(abs);
    free(dir);
    free(msg);
    return rc;
}

/* The file that holds a sample's bytes now: its managed copy, else its
 * path.  By id when that sample has the hash, else by hash (a sample
 * removed and imported again has a new id), else by id. */
static char *sample_file(shelf_library *lib, int64_t id, const char *sha)
{
    sqlite3_stmt *st = shelf__prepare(lib,
        "SELECT s.blob, r.path || '/' || s.relpath FROM samples s JOIN roots r ON r.id = s.root_id\n"
        "WHERE (s.id = ?1 OR s.sha256 = ?2) AND s.missing = 0\n"
        "ORDER BY s.id = ?1 AND (?2 IS NULL OR s.sha256 = ?2) DESC, s.sha256 = ?2 DESC, s.id LIMIT 1");
    char *out = NULL;

    if (!st)
        return NULL;
    sqlite3_bind_int64(st, 1, id);
    if (sha)
        sqlite3_bind_text(st, 2, sha, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        if (sqlite3_column_type(st, 0) != SQLITE_NULL)
            out = shelf__store_path(&lib->store, (const char *)sqlite3_column_text(st, 0));
        else
            out = shelf__strdup((const char *)sqlite3_column_text(st, 1));
    }
    sqlite3_finalize(st);
    return out;
}

int shelf_patch_export_sfz(shelf_library *lib, int64_t id, int64_t seq, const char *sfz_path)
{
    json_t *doc = NULL, *z, *s;
    const char *key;
    char *text = NULL;
    int rc, e;

    if ((rc = shelf_doc_get(lib, SHELF_DOC_PATCH, id, seq, &text)) != SHELF_OK)
        return rc;
    if ((rc = shelf__json_parse(&lib->err, SHELF_ECORRUPT, "patch", text, strlen(text), 0,
                                &doc)) != SHELF_OK)
        goto out;
    json_object_foreach(json_object_get(doc, "zones"), key, z) {
        json_t *sid, *sha;
        char *file;

        s = json_object_get(z, "sample");
        sid = json_object_get(s, "id");
        sha = json_object_get(s, "sha256");
        if (!(sid || sha) ||
            !(file = sample_file(lib, sid ? json_integer_value(sid) : 0, json_string_value(sha)))) {
            rc = shelf__seterr(&lib->err, SHELF_ENOTFOUND,
                               "patch %lld: zone %s: sample '%s' is not in the library",
                               (long long)id, key,
                               json_string_value(json_object_get(s, "path")) ?
                               json_string_value(json_object_get(s, "path")) : "?");
            goto out;
        }
        /* bytes, not text: in memory only */
        e = json_object_set_new(s, "path", json_string_nocheck(file));
        free(file);
        if (e != 0) {
            rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
            goto out;
        }
    }
    rc = shelf__patch_export_sfz(doc, sfz_path, &lib->err);
out:
    json_decref(doc);
    shelf_free(text);
    return rc;
}
