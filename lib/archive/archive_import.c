/*
 * archive_import.c: shelf_archive_import.  The order is what makes it safe:
 *
 *   1. parity beside the archive: verify; damaged and repairable -> repair a
 *      copy in a private folder inside the library and read that instead
 *   2. read the archive once into a private staging folder inside the
 *      library (archive_read.c refuses unsafe entries), check every
 *      checksum (BagIt manifests, tag manifests, Payload-Oxum)
 *   3. parse every catalog record and document history, check each record
 *      against its file and each version against its hash
 *   4. plan: conflicts by SHA-256 (samples) and by history (documents),
 *      settled by the policy; a preview stops here
 *   5. import samples (copied into the store), their tags, rating and
 *      favourite; patches; projects, relinked to this library's ids
 *   6. remove the staging folder
 *
 * Nothing enters the library before step 5, which is one catalog
 * transaction: a failure or a kill in step 5 leaves the catalog as it was
 * (blobs copied into the store meanwhile are unreferenced; gc removes
 * them).  Every action is written to the audit log.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <jansson.h>
#include "archive_int.h"
#include "../catalog/catalog_int.h"
#include "../media/media_int.h"

/* One item of the archive, as planned. */
typedef struct aitem {
    int kind;                   /* 1 sample, 2 patch, 3 project */
    int64_t archive_id;
    int64_t existing;           /* the library's item it conflicts with, or 0 */
    int64_t id;                 /* its id in this library after the import */
    int action;                 /* SHELF_ARCHIVE_CREATE ... */
    char *name;
    char *detail;
    /* samples */
    char sha256[SHELF_HASH_HEX];
    const char *staged;         /* borrowed from the bag */
    json_t *meta;               /* the catalog record */
    /* documents */
    char *history;              /* the exported history (JSON text) */
    char *head_doc;             /* canonical head document */
    char head_hash[SHELF_HASH_HEX], first_hash[SHELF_HASH_HEX];
    int created;                /* this import made it (rollback) */
} aitem;

typedef struct importer {
    shelf_library *lib;
    const shelf_archive_import_opts *o;
    shelf_archive_import_stats *st;
    const char *aname;          /* the archive's file name */
    unsigned long failures;     /* shelf__alloc_failures() when the import began */
    char *apath;                /* its absolute path (samples' origin) */
    aitem *items;
    size_t n, cap;
    int sticky;                 /* an ASK answer given for all, else -1 */
} importer;

static int audit(shelf_library *lib, int kind, int64_t id, const char *detail)
{
    sqlite3_stmt *st = shelf__prepare(lib,
        "INSERT INTO audit_log(time, action, kind, item_id, detail) VALUES(?1, 'archive-import', ?2, ?3, ?4)");
    int rc;

    if (!st)
        return lib->err.rc;
    sqlite3_bind_int64(st, 1, shelf__now());
    sqlite3_bind_int(st, 2, kind);
    sqlite3_bind_int64(st, 3, id);
    sqlite3_bind_text(st, 4, detail ? detail : "", -1, SQLITE_STATIC);
    rc = sqlite3_step(st) == SQLITE_DONE ? SHELF_OK : shelf__dberr(lib, "cannot write the audit log");
    sqlite3_finalize(st);
    return rc;
}

static aitem *add_item(importer *im)
{
    if (im->n == im->cap) {
        size_t ncap = im->cap ? im->cap * 2 : 32;
        aitem *ni = shelf__realloc(im->items, ncap * sizeof *ni);

        if (!ni)
            return NULL;
        im->items = ni;
        im->cap = ncap;
    }
    memset(&im->items[im->n], 0, sizeof im->items[im->n]);
    return &im->items[im->n++];
}

static void items_release(importer *im)
{
    size_t i;

    for (i = 0; i < im->n; i++) {
        free(im->items[i].name);
        free(im->items[i].detail);
        free(im->items[i].history);
        free(im->items[i].head_doc);
        json_decref(im->items[i].meta);
    }
    free(im->items);
}

static char *read_small(const char *path, size_t max, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n;

    if (!f)
        return NULL;
    if ((buf = shelf__malloc(max + 1)) != NULL) {
        n = fread(buf, 1, max + 1, f);
        if (n > max || ferror(f)) {
            free(buf);
            buf = NULL;
        } else {
            buf[n] = '\0';
            if (len)
                *len = n;
        }
    }
    (void)fclose(f);            /* read only: nothing to lose */
    return buf;
}

static int bad(importer *im, const char *file, const char *why)
{
    /* jansson reads a failed allocation as malformed input: any failure
     * since the import began makes "bad" an out-of-memory. */
    if (shelf__alloc_failures() != im->failures)
        return shelf__seterr(&im->lib->err, SHELF_ENOMEM, "out of memory");
    return shelf__seterr(&im->lib->err, SHELF_EFORMAT, "archive '%s': %s: %s; nothing imported",
                         im->aname, file, why);
}

/* A sample file is staged under its member name, the escaped text of its
 * file name (archive.c, safe_component): give it its own bytes back, so
 * this library gets the name the exporting one had.  A name that would
 * not be one file name (a '/' from "%2F", "..") keeps its text. */
static int stage_own_name(importer *im, shelf__bag_file *data)
{
    char *slash = strrchr(data->staged, '/'), *raw = NULL, *to = NULL;
    int rc;

    if (!slash || !shelf_name_needs_escape(slash + 1, 0))
        return SHELF_OK;
    if ((rc = shelf_name_unescape(slash + 1, &raw)) == SHELF_EINVAL || (raw && (strchr(raw, '/') ||
        !strcmp(raw, ".") || !strcmp(raw, "..")))) {
        free(raw);
        return SHELF_OK;
    }
    if (rc != SHELF_OK ||
        !(to = shelf__asprintf("%.*s/%s", (int)(slash - data->staged), data->staged, raw))) {
        free(raw);
        return shelf__seterr(&im->lib->err, SHELF_ENOMEM, "out of memory");
    }
    free(raw);
    /* Another member may have that name already (a hostile archive): then
     * this one keeps its text. */
    if (renameat2(AT_FDCWD, data->staged, AT_FDCWD, to, RENAME_NOREPLACE) != 0) {
        rc = errno == EEXIST ? SHELF_OK : shelf__seterr_errno(&im->lib->err, errno,
                                                             "cannot rename '%s' in the staging folder",
                                                             data->staged);
        free(to);
        return rc;
    }
    free(data->staged);
    data->staged = to;
    return SHELF_OK;
}

/* Step 3: a sample's catalog record, checked against its file. */
static int parse_sample(importer *im, shelf__bag *bag, shelf__bag_file *f)
{
    json_t *j;
    const char *file, *sha, *name;
    shelf__bag_file *data;
    char hex[SHELF_HASH_HEX];
    aitem *it;
    int rc;

    if (!f->staged)
        return bad(im, f->path, "not a JSON catalog record");
    if ((rc = shelf__json_parse_file(&im->lib->err, SHELF_EFORMAT, f->staged,
                                     JSON_REJECT_DUPLICATES, &j)) == SHELF_ENOMEM)
        return rc;
    if (rc != SHELF_OK)
        return bad(im, f->path, "not a JSON catalog record");
    file = json_string_value(json_object_get(j, "file"));
    sha = json_string_value(json_object_get(j, "sha256"));
    name = json_string_value(json_object_get(j, "name"));
    if (json_integer_value(json_object_get(j, "shelf_sample")) != 1 ||
        !json_is_integer(json_object_get(j, "id")) || !file || !sha || !shelf__is_hash_hex(sha)) {
        json_decref(j);
        return bad(im, f->path, "not a shelf sample record of format 1");
    }
    if (!(data = shelf__bag_find(bag, file)) || !data->staged || strncmp(file, "data/samples/", 13) != 0) {
        json_decref(j);
        return bad(im, f->path, "names a sample file that is not in the archive");
    }
    shelf__hex(data->sha256, SHELF_HASH_BYTES, hex);
    if (strcmp(hex, sha) != 0) {
        json_decref(j);
        return bad(im, f->path, "its SHA-256 does not match the sample file's");
    }
    if ((rc = stage_own_name(im, data)) != SHELF_OK) {
        json_decref(j);
        return rc;
    }
    if (!(it = add_item(im))) {
        json_decref(j);
        return shelf__seterr(&im->lib->err, SHELF_ENOMEM, "out of memory");
    }
    it->kind = SHELF__KIND_SAMPLE;
    it->archive_id = json_integer_value(json_object_get(j, "id"));
    it->meta = j;
    it->staged = data->staged;
    snprintf(it->sha256, sizeof it->sha256, "%s", sha);
    /* The record holds the name's text (shelf_name_escape); items carry bytes. */
    if (shelf_name_unescape(name ? name : file, &it->name) != SHELF_OK &&
        !(it->name = shelf__strdup(name ? name : file)))
        return shelf__seterr(&im->lib->err, SHELF_ENOMEM, "out of memory");
    return SHELF_OK;
}

/* Step 3: a document history; every version checked against its hash. */
static int parse_doc(importer *im, shelf__bag_file *f, int kind)
{
    json_t *h = NULL, *versions, *v;
    char *text = NULL, *canon = NULL, *why = NULL, hash[SHELF_HASH_HEX];
    const char *k;
    int64_t head;
    size_t i, len = 0;
    aitem *it;
    int rc = SHELF_OK;

    if (!f->staged || !(text = read_small(f->staged, (size_t)256 << 20, &len)) ||
        (rc = shelf__json_parse(&im->lib->err, SHELF_EFORMAT, f->path, text, len,
                                JSON_REJECT_DUPLICATES, &h)) == SHELF_EFORMAT) {
        rc = bad(im, f->path, "not a JSON history");
        goto out;
    }
    if (rc != SHELF_OK)
        goto out;
    k = json_string_value(json_object_get(h, "kind"));
    versions = json_object_get(h, "versions");
    head = json_integer_value(json_object_get(h, "head"));
    if (json_integer_value(json_object_get(h, "shelf_history")) != 1 || !k ||
        strcmp(k, kind == SHELF_DOC_PATCH ? "patch" : "project") != 0 || !json_is_array(versions) ||
        head < 1 || (size_t)head > json_array_size(versions)) {
        rc = bad(im, f->path, "not a shelf history of format 1 of the right kind");
        goto out;
    }
    if (!(it = add_item(im))) {
        rc = shelf__seterr(&im->lib->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    it->kind = kind;
    it->archive_id = json_integer_value(json_object_get(h, "id"));
    json_array_foreach(versions, i, v) {
        const char *vh = json_string_value(json_object_get(v, "hash"));
        json_t *d = json_object_get(v, "document");
        char *doc = d ? shelf__json_dumps(d, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        int drc;

        if (!doc) {
            rc = d ? shelf__seterr(&im->lib->err, SHELF_ENOMEM, "out of memory")
                   : bad(im, f->path, "a version without a document");
            goto out;
        }
        char *ctext = NULL;

        drc = shelf_doc_canonical(doc, strlen(doc), kind, &ctext, hash, &why);
        free(doc);
        if (drc == SHELF_OK && i + 1 == (size_t)head) {
            free(canon);
            canon = ctext;
        } else {
            free(ctext);
        }
        if (drc != SHELF_OK || !vh || strcmp(vh, hash) != 0) {
            char msg[300];

            snprintf(msg, sizeof msg, "version %zu %s", i + 1,
                     drc != SHELF_OK ? (why ? why : "is not a valid document") : "does not match its hash");
            free(why);
            why = NULL;
            rc = drc == SHELF_ENOMEM ? shelf__seterr(&im->lib->err, drc, "out of memory") : bad(im, f->path, msg);
            goto out;
        }
        if (i == 0)
            snprintf(it->first_hash, sizeof it->first_hash, "%s", hash);
        if (i + 1 == (size_t)head)
            snprintf(it->head_hash, sizeof it->head_hash, "%s", hash);
    }
    {
        json_t *d;
        const char *nm;

        if ((rc = shelf__json_parse(&im->lib->err, SHELF_ECORRUPT, f->path, canon,
                                    canon ? strlen(canon) : 0, 0, &d)) != SHELF_OK)
            goto out;
        nm = json_string_value(json_object_get(d, "name"));
        it->name = shelf__strdup(nm ? nm : f->path);
        json_decref(d);
    }
    it->head_doc = canon;
    canon = NULL;
    it->history = text;
    text = NULL;
    if (!it->name)
        rc = shelf__seterr(&im->lib->err, SHELF_ENOMEM, "out of memory");
out:
    free(canon);
    free(text);
    json_decref(h);
    return rc;
}

static int64_t lookup_id(shelf_library *lib, const char *sql, int kind, const char *text)
{
    sqlite3_stmt *st = shelf__prepare(lib, sql);
    int64_t id = 0;

    if (!st)
        return -1;
    sqlite3_bind_int(st, 1, kind);
    sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
    switch (sqlite3_step(st)) {
    case SQLITE_ROW: id = sqlite3_column_int64(st, 0); break;
    case SQLITE_DONE: break;
    default: id = -1; (void)shelf__dberr(lib, "cannot read the catalog"); break;
    }
    sqlite3_finalize(st);
    return id;
}

/* Step 4: what happens to each item. */
static int plan(importer *im)
{
    shelf_library *lib = im->lib;
    size_t i;

    for (i = 0; i < im->n; i++) {
        aitem *it = &im->items[i];
        int64_t same = 0, conflict = 0;
        int policy;

        if (it->kind == SHELF__KIND_SAMPLE) {
            conflict = lookup_id(lib, "SELECT id FROM samples WHERE ?1 = ?1 AND sha256 = ?2 ORDER BY missing, id LIMIT 1",
                                 0, it->sha256);
            if (conflict > 0)
                it->detail = shelf__asprintf("same bytes (SHA-256) as sample %lld", (long long)conflict);
        } else {
            same = lookup_id(lib, it->kind == SHELF_DOC_PATCH
                ? "SELECT p.id FROM patches p JOIN doc_versions v ON v.kind = ?1 AND v.item_id = p.id"
                  " AND v.seq = p.version WHERE v.hash = ?2 ORDER BY p.id LIMIT 1"
                : "SELECT p.id FROM projects p JOIN doc_versions v ON v.kind = ?1 AND v.item_id = p.id"
                  " AND v.seq = p.version WHERE v.hash = ?2 ORDER BY p.id LIMIT 1",
                it->kind, it->head_hash);
            if (same == 0)
                conflict = lookup_id(lib, "SELECT item_id FROM doc_versions WHERE kind = ?1 AND seq = 1"
                                          " AND hash = ?2 ORDER BY item_id LIMIT 1", it->kind, it->first_hash);
            if (same > 0)
                it->detail = shelf__asprintf("identical to %s %lld", it->kind == SHELF_DOC_PATCH ? "patch" : "project",
                                             (long long)same);
            else if (conflict > 0)
                it->detail = shelf__asprintf("%s %lld has the same history with other changes",
                                             it->kind == SHELF_DOC_PATCH ? "patch" : "project", (long long)conflict);
        }
        if (same < 0 || conflict < 0)
            return lib->err.rc;
        if (same > 0) {
            it->action = SHELF_ARCHIVE_SAME;
            it->existing = it->id = same;
            continue;
        }
        if (conflict == 0) {
            it->action = SHELF_ARCHIVE_CREATE;
            continue;
        }
        it->existing = conflict;
        policy = im->o->on_conflict;
        if (policy == SHELF_ARCHIVE_ASK) {
            if (im->sticky >= 0) {
                policy = im->sticky;
            } else if (!im->o->ask) {
                policy = SHELF_ARCHIVE_SKIP;
            } else {
                shelf_archive_item pub = { sizeof pub, SHELF_ARCHIVE_KEPT, it->kind, it->archive_id, conflict,
                                           it->name, it->detail };
                int ans = im->o->ask(im->o->ud, &pub);

                policy = ans & 0xff;
                if (ans & SHELF_ARCHIVE_ALL)
                    im->sticky = policy;
            }
        }
        switch (policy) {
        case SHELF_ARCHIVE_OVERWRITE: it->action = SHELF_ARCHIVE_REPLACE; it->id = conflict; break;
        case SHELF_ARCHIVE_KEEP_BOTH: it->action = SHELF_ARCHIVE_BOTH; break;
        default: it->action = SHELF_ARCHIVE_KEPT; it->id = conflict; break;
        }
    }
    return SHELF_OK;
}

static void report(importer *im, aitem *it)
{
    shelf_archive_item pub = { sizeof pub, it->action, it->kind, it->archive_id, it->id, it->name, it->detail };

    switch (it->action) {
    case SHELF_ARCHIVE_CREATE: im->st->created++; break;
    case SHELF_ARCHIVE_REPLACE: im->st->replaced++; break;
    case SHELF_ARCHIVE_BOTH: im->st->both++; break;
    case SHELF_ARCHIVE_KEPT: im->st->kept++; break;
    default: im->st->same++; break;
    }
    if (im->o->on_item)
        im->o->on_item(im->o->ud, &pub);
}

/* A sample's tags, rating and favourite from its record (replace: the
 * library's tags not in the record go). */
static int apply_meta(importer *im, aitem *it, int replace)
{
    shelf_library *lib = im->lib;
    json_t *tags = json_object_get(it->meta, "tags"), *t;
    shelf_cursor *cur = NULL;
    const shelf_sample *s;
    size_t i;
    int rc;

    if (replace) {
        char *have, *p, *e;

        if ((rc = shelf_catalog_get(lib, it->id, &cur, &s)) != SHELF_OK)
            return rc;
        have = shelf__strdup(s->tags ? s->tags : "");
        shelf_cursor_free(cur);
        if (!have)
            return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        for (p = have; p && *p; p = e) {
            int keep = 0;

            if ((e = strchr(p, ' ')) != NULL)
                *e++ = '\0';
            json_array_foreach(tags, i, t)
                if (json_string_value(t) && !strcasecmp(json_string_value(t), p))
                    keep = 1;
            if (*p && !keep && (rc = shelf_tag_remove(lib, it->id, p)) != SHELF_OK) {
                free(have);
                return rc;
            }
        }
        free(have);
    }
    json_array_foreach(tags, i, t) {
        /* A tag this library would not take is not worth failing the import. */
        if (json_string_value(t) && (rc = shelf_tag_add(lib, it->id, json_string_value(t))) != SHELF_OK &&
            rc != SHELF_EINVAL)
            return rc;
    }
    {
        json_int_t r = json_integer_value(json_object_get(it->meta, "rating"));

        if (r >= 0 && r <= 5 && (r || replace) && (rc = shelf_rate(lib, it->id, (int)r)) != SHELF_OK)
            return rc;
    }
    if ((json_is_true(json_object_get(it->meta, "favourite")) || replace) &&
        (rc = shelf_favourite(lib, it->id, json_is_true(json_object_get(it->meta, "favourite")))) != SHELF_OK)
        return rc;
    return SHELF_OK;
}

/*
 * A sample imported from the staging folder gets its origin: the archive
 * (a root of its absolute path) and its member path in it, "data/samples/
 * ...", not a path in the staging folder that is removed at the end.  A
 * second import of the same member (keep both) gets "#2", "#3" ...
 */
static int set_origin(importer *im, aitem *it, const char *stage)
{
    shelf_library *lib = im->lib;
    const char *member = shelf__path_under(it->staged, stage), *rel;
    sqlite3_stmt *st = NULL;
    char *relpath = NULL;
    int64_t root;
    int rc, n;

    if (!member || !*member)
        return SHELF_OK;
    if ((rc = shelf__root_for_import(lib, im->apath, &root, &rel)) != SHELF_OK)
        return rc;
    if (!(st = shelf__prepare(lib, "UPDATE OR IGNORE samples SET root_id = ?1, relpath = ?2 WHERE id = ?3")))
        return lib->err.rc;
    for (n = 1; n < 1000; n++) {
        char *m = n == 1 ? shelf__strdup(member) : shelf__asprintf("%s#%d", member, n);

        free(relpath);
        relpath = m && *rel ? shelf__path_join(rel, m) : m;
        if (relpath != m)
            free(m);
        if (!relpath) {
            rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
            break;
        }
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, root);
        sqlite3_bind_text(st, 2, relpath, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, it->id);
        if (sqlite3_step(st) != SQLITE_DONE) {
            rc = shelf__dberr(lib, "cannot record where a sample came from");
            break;
        }
        if (sqlite3_changes(lib->db) == 1)
            break;
    }
    sqlite3_finalize(st);
    free(relpath);
    return rc;
}

/* The staging folder's root, now without samples, goes from the catalog. */
static int drop_stage_root(shelf_library *lib, const char *root)
{
    sqlite3_stmt *st = shelf__prepare(lib, "DELETE FROM roots WHERE (path = ?1 OR substr(path, 1, length(?1) + 1)"
                                           " = ?1 || '/') AND id NOT IN (SELECT root_id FROM samples)");
    int rc;

    if (!st)
        return lib->err.rc;
    sqlite3_bind_text(st, 1, root, -1, SQLITE_STATIC);
    rc = sqlite3_step(st) == SQLITE_DONE ? SHELF_OK : shelf__dberr(lib, "cannot remove the staging folder's root");
    sqlite3_finalize(st);
    return rc;
}

static int import_samples(importer *im, const char *stage)
{
    shelf_library *lib = im->lib;
    shelf_import_opts io;
    const char **paths = NULL;
    char *root = shelf__path_join(stage, "data/samples");
    size_t i, np = 0;
    int rc = SHELF_OK, any = 0;

    if (!root || !(paths = shelf__calloc(im->n + 1, sizeof *paths))) {
        rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    /* One root for all: the staged folder, walked; files whose extension
     * the walk would pass over are named as well. */
    paths[np++] = root;
    for (i = 0; i < im->n; i++) {
        aitem *it = &im->items[i];
        char ext[8];

        if (it->kind != SHELF__KIND_SAMPLE)
            continue;
        if (it->action != SHELF_ARCHIVE_CREATE && it->action != SHELF_ARCHIVE_BOTH) {
            unlink(it->staged);     /* not wanted: out of the walk's way */
            continue;
        }
        any = 1;
        shelf__path_ext(it->staged, ext, sizeof ext);
        if (!shelf__is_audio_ext(ext))
            paths[np++] = it->staged;
    }
    if (!any)
        goto out;
    memset(&io, 0, sizeof io);
    io.size = sizeof io;
    io.flags = SHELF_IMPORT_COPY;
    if ((rc = shelf_import(lib, paths, np, &io, NULL)) != SHELF_OK)
        goto out;
    for (i = 0; i < im->n; i++) {
        aitem *it = &im->items[i];

        if (it->kind != SHELF__KIND_SAMPLE ||
            (it->action != SHELF_ARCHIVE_CREATE && it->action != SHELF_ARCHIVE_BOTH))
            continue;
        if ((rc = shelf_catalog_find_path(lib, it->staged, &it->id)) != SHELF_OK) {
            if (rc != SHELF_ENOMEM && rc != SHELF_EDB && rc != SHELF_EIO)
                rc = shelf__seterr(&lib->err, SHELF_EFORMAT, "archive '%s': sample '%s' could not be "
                                   "imported", im->aname, it->name);
            goto out;
        }
        it->created = 1;
        if ((rc = set_origin(im, it, stage)) != SHELF_OK)
            goto out;
    }
    rc = drop_stage_root(lib, root);
out:
    free(paths);
    free(root);
    return rc;
}

/* Rewrite a project's patch and sample keys (and automation targets) from
 * the ids of the library it came from to this library's. */
static int relink(importer *im, aitem *it)
{
    shelf_library *lib = im->lib;
    json_t *doc = NULL, *np = json_object(), *ns = json_object(), *m, *lane;
    char *text = NULL, *out = NULL;
    const char *key;
    int changed = 0, rc;
    size_t i;
    int64_t seq;

    if (!np || !ns) {
        rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = shelf_doc_get(lib, SHELF_DOC_PROJECT, it->id, 0, &text)) != SHELF_OK)
        goto out;
    if ((rc = shelf__json_parse(&lib->err, SHELF_ECORRUPT, "project", text, strlen(text), 0,
                                &doc)) != SHELF_OK)
        goto out;
    json_object_foreach(json_object_get(doc, "patches"), key, m) {
        int64_t old = strtoll(key, NULL, 10), now = old;
        char buf[32];

        for (i = 0; i < im->n; i++)
            if (im->items[i].kind == SHELF_DOC_PATCH && im->items[i].archive_id == old && im->items[i].id)
                now = im->items[i].id;
        changed |= now != old;
        snprintf(buf, sizeof buf, "%lld", (long long)now);
        if (json_object_set(np, buf, m) != 0) {
            rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
            goto out;
        }
    }
    json_object_foreach(json_object_get(doc, "samples"), key, m) {
        int64_t old = strtoll(key, NULL, 10), now = old;
        char buf[32];

        for (i = 0; i < im->n; i++)
            if (im->items[i].kind == SHELF__KIND_SAMPLE && im->items[i].archive_id == old && im->items[i].id)
                now = im->items[i].id;
        changed |= now != old;
        snprintf(buf, sizeof buf, "%lld", (long long)now);
        if (json_object_set(ns, buf, m) != 0) {
            rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
            goto out;
        }
    }
    json_object_foreach(json_object_get(doc, "automation"), key, lane) {
        const char *t = json_string_value(json_object_get(lane, "target"));
        char *end;
        long long old;

        if (!t || strncmp(t, "patch:", 6) != 0)
            continue;
        old = strtoll(t + 6, &end, 10);
        for (i = 0; i < im->n; i++)
            if (im->items[i].kind == SHELF_DOC_PATCH && im->items[i].archive_id == old &&
                im->items[i].id && im->items[i].id != old) {
                char *nt = shelf__asprintf("patch:%lld%s", (long long)im->items[i].id, end);

                if (!nt) {
                    rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
                    goto out;
                }
                rc = json_object_set_new(lane, "target", json_string(nt));
                free(nt);
                if (rc != 0) {
                    rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
                    goto out;
                }
                changed = 1;
                break;
            }
    }
    if (!changed)
        goto out;
    if ((json_object_get(doc, "patches") && json_object_set(doc, "patches", np) != 0) ||
        (json_object_get(doc, "samples") && json_object_set(doc, "samples", ns) != 0)) {
        rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    if (!(out = shelf__json_dumps(doc, JSON_COMPACT))) {
        rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    rc = shelf_doc_commit(lib, SHELF_DOC_PROJECT, it->id, out, 0, "relink to this library's ids after archive import",
                          &seq);
    if (rc == SHELF_DONE)
        rc = SHELF_OK;
out:
    free(out);
    free(text);
    json_decref(doc);
    json_decref(np);
    json_decref(ns);
    return rc;
}

static int import_docs(importer *im, int kind)
{
    shelf_library *lib = im->lib;
    size_t i;
    int rc = SHELF_OK;

    for (i = 0; i < im->n && rc == SHELF_OK; i++) {
        aitem *it = &im->items[i];
        int k;
        int64_t seq;

        if (it->kind != kind)
            continue;
        if (it->action == SHELF_ARCHIVE_CREATE || it->action == SHELF_ARCHIVE_BOTH) {
            if ((rc = shelf_doc_import(lib, it->history, SHELF_DOC_IMPORT_AS_NEW, &k, &it->id)) != SHELF_OK)
                break;
            it->created = 1;
        } else if (it->action == SHELF_ARCHIVE_REPLACE) {
            char msg[300];

            snprintf(msg, sizeof msg, "overwritten from archive %s", im->aname);
            rc = shelf_doc_commit(lib, kind, it->id, it->head_doc, 0, msg, &seq);
            if (rc == SHELF_DONE)
                rc = SHELF_OK;
        }
        if (rc == SHELF_OK && kind == SHELF_DOC_PROJECT &&
            (it->action == SHELF_ARCHIVE_CREATE || it->action == SHELF_ARCHIVE_BOTH ||
             it->action == SHELF_ARCHIVE_REPLACE))
            rc = relink(im, it);
    }
    return rc;
}

/* Copy a file (for the repair copy). */
static int copy_file(const char *from, const char *to)
{
    char buf[1 << 16];
    int in = open(from, O_RDONLY | O_CLOEXEC), out = -1, e = 0;
    ssize_t n;

    if (in < 0)
        return errno;
    if ((out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
        e = errno;
        close(in);
        return e;
    }
    while ((n = read(in, buf, sizeof buf)) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            e = errno;
            break;
        }
        if (write(out, buf, (size_t)n) != n) {
            e = errno ? errno : EIO;
            break;
        }
    }
    close(in);
    if (close(out) != 0 && !e)
        e = errno;
    return e;
}

/* Copy the archive (as dir/NAME) and the .par2 files of its set into dir
 * and repair the copy. */
static int repair_copy(importer *im, const char *path, const char *par2, const char *dir, char **fixed)
{
    shelf_library *lib = im->lib;
    char *pdir = shelf__strdup(par2), *slash, *prefix, *to = NULL, *par2copy = NULL;
    shelf__par2_report rep;
    shelf__par2_params pp;
    shelf__err perr = { 0, "" };
    struct dirent *de;
    DIR *d = NULL;
    size_t nl;
    int rc = SHELF_OK, e;

    *fixed = NULL;
    memset(&rep, 0, sizeof rep);
    if (!pdir || !(*fixed = shelf__path_join(dir, im->aname)))
        return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    if ((e = copy_file(path, *fixed)) != 0) {
        rc = shelf__seterr_errno(&lib->err, e, "cannot copy '%s' for repair", path);
        goto out;
    }
    /* The set: PREFIX.par2 and PREFIX.vol*.par2 beside par2. */
    slash = strrchr(pdir, '/');
    prefix = slash ? slash + 1 : pdir;
    if (slash)
        *slash = '\0';
    nl = strlen(prefix) - 5;
    if (!(d = opendir(slash ? (*pdir ? pdir : "/") : "."))) {
        rc = shelf__seterr_errno(&lib->err, errno, "cannot read the folder of '%s'", par2);
        goto out;
    }
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        char *from;

        if (strncmp(de->d_name, prefix, nl) != 0 || n < nl + 5 || strcmp(de->d_name + n - 5, ".par2") != 0 ||
            (n != nl + 5 && strncmp(de->d_name + nl, ".vol", 4) != 0))
            continue;
        from = shelf__path_join(slash ? (*pdir ? pdir : "/") : ".", de->d_name);
        free(to);
        to = shelf__path_join(dir, de->d_name);
        if (!from || !to) {
            free(from);
            rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
            goto out;
        }
        e = copy_file(from, to);
        free(from);
        if (e) {
            rc = shelf__seterr_errno(&lib->err, e, "cannot copy '%s' for repair", de->d_name);
            goto out;
        }
    }
    if (!(par2copy = shelf__path_join(dir, prefix))) {
        rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    memset(&pp, 0, sizeof pp);
    pp.data = *fixed;
    if ((rc = shelf__par2_repair(par2copy, &pp, &rep, &perr)) != SHELF_OK)
        rc = shelf__seterr(&lib->err, rc, "archive '%s': repair from parity failed: %s; nothing imported",
                           im->aname, perr.msg);
out:
    shelf__par2_report_release(&rep);
    if (d)
        closedir(d);
    free(par2copy);
    free(to);
    free(pdir);
    return rc;
}

typedef struct rprog {
    const shelf_archive_import_opts *o;
    uint64_t total;
} rprog;

static int on_read(void *ud, uint64_t files, uint64_t bytes, const char *cur)
{
    rprog *r = ud;
    shelf_archive_progress p = { sizeof p, files, 0, bytes, r->total, cur };

    return r->o->progress ? r->o->progress(r->o->ud, &p) : 0;
}

static char *private_dir(shelf_library *lib, const char *what)
{
    char *d = shelf__asprintf("%s/.archive-%s-XXXXXX", lib->path, what);

    if (d && !mkdtemp(d)) {
        shelf__seterr_errno(&lib->err, errno, "cannot create a %s folder in '%s'", what, lib->path);
        free(d);
        return NULL;
    }
    if (!d)
        shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    return d;
}

/* The caller's verdict (on_signature) on the bag's signature, checked
 * already: one it refuses stops the import before anything enters the
 * library. */
static int check_signature(shelf_library *lib, const char *aname, const shelf_archive_import_opts *o,
                           shelf_signature *sig)
{
    int rc;

    if (!o->on_signature || (rc = o->on_signature(o->ud, sig)) == SHELF_OK)
        return SHELF_OK;
    if (sig->state == SHELF_SIGNATURE_NONE)
        return shelf__seterr(&lib->err, rc, "archive '%s' is not signed; nothing imported", aname);
    return shelf__seterr(&lib->err, rc, "archive '%s' is signed by '%s' (%s), %s; nothing imported", aname,
                         sig->name, sig->key,
                         sig->trust == SHELF_TRUST_REVOKED ? "whose trust was revoked" : "who is not trusted");
}

static int archive_import(shelf_library *lib, const char *path, const shelf_archive_import_opts *o,
                          shelf_archive_import_stats *st)
{
    shelf_archive_import_opts oc;
    shelf__bag_limits lim;
    shelf__bag bag;
    shelf__par2_report rep;
    shelf__err perr = { 0, "" };
    importer im;
    rprog rp;
    struct statvfs vfs;
    struct stat sb;
    char *stage = NULL, *repair = NULL, *fixed = NULL, *par2 = NULL;
    const char *src = path;
    int rc = SHELF_OK, found = 0, prc, locked = 0;
    size_t i;

    memset(st, 0, sizeof *st);
    memset(&bag, 0, sizeof bag);
    memset(&rep, 0, sizeof rep);
    memset(&im, 0, sizeof im);
    im.failures = shelf__alloc_failures();
    if (!o || !path)
        return shelf__seterr(&lib->err, SHELF_EINVAL, "archive import: no options or no archive");
    /* on_signature came after the first version. */
    if (shelf__opts_check(&lib->err, &oc, sizeof oc, o, offsetof(shelf_archive_import_opts, on_signature),
                          "shelf_archive_import_opts") != SHELF_OK)
        return lib->err.rc;
    o = &oc;
    if (shelf__writable(lib) != SHELF_OK)
        return lib->err.rc;
    im.lib = lib;
    im.o = o;
    im.st = st;
    im.sticky = -1;
    im.aname = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    if (stat(path, &sb) != 0)
        return shelf__seterr_errno(&lib->err, errno, "cannot open '%s'", path);
    if (!(im.apath = shelf__path_abs(path)))
        return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    shelf__bag_limits_init(&lim, &o->limits);
    /* Never unpack more than the disk holds, less a margin for the store
     * (the payload is there twice: staged, then copied in); more is a full
     * disk, not an unsafe archive. */
    if (statvfs(lib->path, &vfs) == 0) {
        uint64_t avail = (uint64_t)vfs.f_bavail * (uint64_t)vfs.f_frsize;

        lim.disk_bytes = avail / 2 ? avail / 2 : 1;
        lim.disk_path = lib->path;
    }

    /* The shared lock for the whole import: gc (exclusive) removes staging
     * folders only when no import can be using them. */
    if (lib->lock_mode == 0) {
        if ((rc = shelf_library_lock(lib, SHELF_LOCK_SHARED, 1)) != SHELF_OK) {
            free(im.apath);
            return rc;
        }
        locked = 1;
    }

    /* 1. Parity first. */
    prc = shelf__archive_parity(path, &rep, &found, &par2, &perr);
    if (found && prc == SHELF_ECORRUPT && rep.repairable) {
        char detail[200];

        snprintf(detail, sizeof detail, "%u damaged slices repaired from the parity files (on a copy)",
                 rep.bad_slices);
        if (o->on_problem)
            o->on_problem(o->ud, SHELF_ARCHIVE_REPAIRABLE, im.aname, detail);
        if (!(repair = private_dir(lib, "repair"))) {
            rc = lib->err.rc;
            goto out;
        }
        if ((rc = repair_copy(&im, path, par2, repair, &fixed)) != SHELF_OK)
            goto out;
        src = fixed;
        st->repaired = 1;
    } else if (found && prc == SHELF_ECORRUPT && o->on_problem) {
        char detail[200];

        snprintf(detail, sizeof detail, "parity: %u damaged slices, only %u recovery slices: cannot repair",
                 rep.bad_slices, rep.nrecovery);
        o->on_problem(o->ud, SHELF_ARCHIVE_CORRUPT, im.aname, detail);
    }

    /* 2. Unpack into staging and check every checksum. */
    if (!(stage = private_dir(lib, "import"))) {
        rc = lib->err.rc;
        goto out;
    }
    rp.o = o;
    rp.total = (uint64_t)sb.st_size;
    rc = shelf__bag_read(src, NULL, 0, &lim, stage, o->progress ? on_read : NULL, &rp, &bag, &lib->err);
    if (rc == SHELF_OK)
        rc = shelf__bag_check(&bag, &lib->err);
    if (rc == SHELF_OK || rc == SHELF_ECORRUPT) {
        /* A signature that does not match says more than the damage it explains. */
        shelf__err serr = { 0, "" };
        int sgrc = shelf__bag_signature(&bag, &st->signature, &serr);

        if (sgrc != SHELF_OK && (rc == SHELF_OK || sgrc == SHELF_ECORRUPT)) {
            for (i = 0; i < bag.nproblems; i++)
                if (o->on_problem)
                    o->on_problem(o->ud, bag.problems[i].kind, bag.problems[i].path, bag.problems[i].detail);
            rc = shelf__seterr(&lib->err, sgrc, "archive '%s': %.900s; nothing imported", im.aname, serr.msg);
            goto out;
        }
    }
    for (i = 0; i < bag.nproblems; i++)
        if (o->on_problem)
            o->on_problem(o->ud, bag.problems[i].kind, bag.problems[i].path, bag.problems[i].detail);
    st->bytes = bag.payload_bytes;
    if (rc != SHELF_OK) {
        if (rc == SHELF_ECORRUPT)
            rc = shelf__seterr(&lib->err, SHELF_ECORRUPT, "archive '%s' is damaged (%zu problem%s)%s; nothing imported",
                               im.aname, bag.nproblems, bag.nproblems == 1 ? "" : "s",
                               found && !rep.repairable ? " and the parity cannot repair it" : "");
        else if (!strstr(lib->err.msg, "nothing imported")) {
            char msg[sizeof lib->err.msg];

            snprintf(msg, sizeof msg, "%s", lib->err.msg);
            rc = shelf__seterr(&lib->err, rc, "%.900s; nothing imported", msg);
        }
        goto out;
    }
    if ((rc = check_signature(lib, im.aname, o, &st->signature)) != SHELF_OK)
        goto out;

    /* 3. Parse and check what the bag holds. */
    for (i = 0; i < bag.nfiles && rc == SHELF_OK; i++) {
        shelf__bag_file *f = &bag.files[i];
        size_t n = strlen(f->path);

        if (n < 6 || strcmp(f->path + n - 5, ".json") != 0)
            continue;
        if (!strncmp(f->path, "data/catalog/", 13) && !strchr(f->path + 13, '/'))
            rc = parse_sample(&im, &bag, f);
        else if (!strncmp(f->path, "data/patches/", 13) && !strchr(f->path + 13, '/'))
            rc = parse_doc(&im, f, SHELF_DOC_PATCH);
        else if (!strncmp(f->path, "data/projects/", 14) && !strchr(f->path + 14, '/'))
            rc = parse_doc(&im, f, SHELF_DOC_PROJECT);
    }
    if (rc != SHELF_OK)
        goto out;
    if (im.n == 0) {
        rc = shelf__seterr(&lib->err, SHELF_EFORMAT, "archive '%s' holds no shelf samples, patches or projects",
                           im.aname);
        goto out;
    }

    /* 4. Plan. */
    if ((rc = plan(&im)) != SHELF_OK)
        goto out;
    if (o->preview) {
        for (i = 0; i < im.n; i++)
            report(&im, &im.items[i]);
        goto out;
    }

    /* 5. Import: samples, then patches (their zones find the samples by
     * hash), then projects (relinked); all in one transaction, so that a
     * kill leaves the catalog without any of it (the blobs already copied
     * into the store are unreferenced: gc removes them). */
    if ((rc = shelf__begin(lib)) != SHELF_OK)
        goto out;
    /* From here every failure goes to fail, which rolls back. */
    if ((rc = import_samples(&im, stage)) != SHELF_OK)
        goto fail;
    for (i = 0; i < im.n; i++) {
        aitem *it = &im.items[i];

        if (it->kind == SHELF__KIND_SAMPLE && it->action != SHELF_ARCHIVE_SAME &&
            it->action != SHELF_ARCHIVE_KEPT && (rc = apply_meta(&im, it, it->action == SHELF_ARCHIVE_REPLACE)) != SHELF_OK)
            goto fail;
    }
    if ((rc = import_docs(&im, SHELF_DOC_PATCH)) != SHELF_OK ||
        (rc = import_docs(&im, SHELF_DOC_PROJECT)) != SHELF_OK)
        goto fail;
    for (i = 0; i < im.n; i++) {
        aitem *it = &im.items[i];
        char detail[512];
        static const char *const verbs[] = { "", "created", "overwritten", "added beside the library's",
                                             "skipped (kept the library's)", "already there" };

        snprintf(detail, sizeof detail, "%s from archive %s (id %lld there)%s%s", verbs[it->action], im.aname,
                 (long long)it->archive_id, it->detail ? ": " : "", it->detail ? it->detail : "");
        if ((rc = audit(lib, it->kind, it->id, detail)) != SHELF_OK)
            goto fail;
    }
    if ((rc = shelf__commit(lib)) != SHELF_OK)
        goto fail;
    for (i = 0; i < im.n; i++)
        report(&im, &im.items[i]);
    goto out;
fail:
    {
        char msg[sizeof lib->err.msg];

        snprintf(msg, sizeof msg, "%s", lib->err.msg);
        shelf__rollback(lib);
        rc = shelf__seterr(&lib->err, rc, "%.900s; what this import added was removed again", msg);
    }
out:
    shelf__bag_release(&bag);
    shelf__par2_report_release(&rep);
    /* Cleanup: a folder left behind is not worth failing the import for. */
    if (stage)
        (void)shelf__rmtree(stage);
    if (repair)
        (void)shelf__rmtree(repair);
    free(stage);
    free(repair);
    free(fixed);
    free(par2);
    free(im.apath);
    items_release(&im);
    if (locked)
        shelf_library_unlock(lib);
    return rc;
}

int shelf_archive_import(shelf_library *lib, const char *path, const shelf_archive_import_opts *o,
                         shelf_archive_import_stats *st)
{
    shelf_archive_import_stats full = { .size = sizeof full };
    int rc = archive_import(lib, path, o, &full);

    shelf__out_fill(st, &full, sizeof full);
    return rc;
}
