/*
 * versions.c: patches and projects in the catalog.  Every change stores an
 * immutable version in doc_versions (schema 4, doc/formats.md): the whole
 * document, or a delta against its parent when that is smaller, with at
 * most SHELF__DELTA_CHAIN deltas before the next whole copy.  The item's
 * row in patches or projects, its tags and rating, and the link tables
 * (patch_samples, project_patches, project_samples, automation) mirror the
 * head version, so listings and references never decode documents.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>
#include "patch_int.h"
#include "../catalog/catalog_int.h"
#include "../import/import_int.h"

/* Deltas in a row before a version is stored whole again. */
#define SHELF__DELTA_CHAIN 64

static const char *table_of(int kind)
{
    return kind == SHELF_DOC_PATCH ? "patches" : "projects";
}

static const char *noun_of(int kind)
{
    return kind == SHELF_DOC_PATCH ? "patch" : "project";
}

static int check_kind(shelf_library *lib, int kind)
{
    if (kind != SHELF_DOC_PATCH && kind != SHELF_DOC_PROJECT)
        return shelf__seterr(&lib->err, SHELF_EINVAL, "invalid document kind %d", kind);
    return SHELF_OK;
}

/* ---- Encoding of the data column ------------------------------------------ */

/* 'J' + text, or 'Z' + zstd frame when that is smaller by a tenth. */
static int encode(const char *text, size_t n, void **out, size_t *outlen)
{
    size_t cap = ZSTD_compressBound(n) + 1, z;
    unsigned char *buf = shelf__malloc(cap > n + 1 ? cap : n + 1);

    if (!buf)
        return SHELF_ENOMEM;
    z = n >= 128 ? ZSTD_compress(buf + 1, cap - 1, text, n, 3) : 0;
    if (n >= 128 && !ZSTD_isError(z) && z < n - n / 10) {
        buf[0] = 'Z';
        *outlen = z + 1;
    } else {
        buf[0] = 'J';
        memcpy(buf + 1, text, n);
        *outlen = n + 1;
    }
    *out = buf;
    return SHELF_OK;
}

static int decode(shelf_library *lib, const void *data, size_t n, json_t **out)
{
    const unsigned char *p = data;
    unsigned long long size;
    char *text = NULL;
    size_t len;
    json_error_t jerr;
    int nomem;

    *out = NULL;
    if (n < 1 || (p[0] != 'J' && p[0] != 'Z'))
        return shelf__seterr(&lib->err, SHELF_ECORRUPT, "corrupt document version: bad encoding");
    if (p[0] == 'J') {
        *out = shelf__json_loadb((const char *)p + 1, n - 1, 0, &jerr, &nomem);
    } else {
        size = ZSTD_getFrameContentSize(p + 1, n - 1);
        if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN ||
            size > SHELF__DOC_MAX_BYTES * 4ull)
            return shelf__seterr(&lib->err, SHELF_ECORRUPT, "corrupt document version: bad frame");
        if (!(text = shelf__malloc((size_t)size + 1)))
            return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        len = ZSTD_decompress(text, (size_t)size + 1, p + 1, n - 1);
        if (ZSTD_isError(len) || len != size) {
            free(text);
            return shelf__seterr(&lib->err, SHELF_ECORRUPT, "corrupt document version: %s",
                                 ZSTD_isError(len) ? ZSTD_getErrorName(len) : "short frame");
        }
        *out = shelf__json_loadb(text, len, 0, &jerr, &nomem);
        free(text);
    }
    if (nomem)
        return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    if (!*out)
        return shelf__seterr(&lib->err, SHELF_ECORRUPT, "corrupt document version: %s", jerr.text);
    return SHELF_OK;
}

/* ---- Loading versions ----------------------------------------------------- */

typedef struct vrow {
    int64_t seq, parent, parent2, time, undoes, base, depth;
    char hash[SHELF_HASH_HEX];
} vrow;

static int item_exists(shelf_library *lib, int kind, int64_t id, int64_t *head)
{
    sqlite3_stmt *st;
    char sql[96];
    int rc;

    if (head)
        *head = 0;
    snprintf(sql, sizeof sql, "SELECT version FROM %s WHERE id = ?1", table_of(kind));
    if (!(st = shelf__prepare_kept(lib, sql)))
        return lib->err.rc;
    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        if (head)
            *head = sqlite3_column_int64(st, 0);
        rc = SHELF_OK;
    } else if (rc == SQLITE_DONE) {
        rc = shelf__seterr(&lib->err, SHELF_ENOTFOUND, "no %s with id %lld", noun_of(kind),
                           (long long)id);
    } else {
        rc = shelf__dberr(lib, "cannot read document");
    }
    sqlite3_reset(st);
    return rc;
}

static int read_row(shelf_library *lib, int kind, int64_t id, int64_t seq, vrow *r, json_t **data)
{
    sqlite3_stmt *st = shelf__prepare_kept(lib,
        "SELECT seq, coalesce(parent, 0), coalesce(parent2, 0), time, coalesce(undoes, 0),\n"
        "  coalesce(base, 0), depth, hash, data FROM doc_versions\n"
        "WHERE kind = ?1 AND item_id = ?2 AND seq = ?3");
    int rc = SHELF_OK;

    memset(r, 0, sizeof *r);
    if (!st)
        return lib->err.rc;
    sqlite3_bind_int(st, 1, kind);
    sqlite3_bind_int64(st, 2, id);
    sqlite3_bind_int64(st, 3, seq);
    if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        r->seq = sqlite3_column_int64(st, 0);
        r->parent = sqlite3_column_int64(st, 1);
        r->parent2 = sqlite3_column_int64(st, 2);
        r->time = sqlite3_column_int64(st, 3);
        r->undoes = sqlite3_column_int64(st, 4);
        r->base = sqlite3_column_int64(st, 5);
        r->depth = sqlite3_column_int64(st, 6);
        snprintf(r->hash, sizeof r->hash, "%s", (const char *)sqlite3_column_text(st, 7));
        rc = data ? decode(lib, sqlite3_column_blob(st, 8), (size_t)sqlite3_column_bytes(st, 8), data)
                  : SHELF_OK;
    } else if (rc == SQLITE_DONE) {
        rc = shelf__seterr(&lib->err, SHELF_ENOTFOUND, "%s %lld has no version %lld",
                           noun_of(kind), (long long)id, (long long)seq);
    } else {
        rc = shelf__dberr(lib, "cannot read document version");
    }
    sqlite3_reset(st);
    return rc;
}

/*
 * The document of version seq in working form: the nearest whole copy,
 * then the deltas forward.  Checks the result against the stored hash.
 */
static int load_version(shelf_library *lib, int kind, int64_t id, int64_t seq, json_t **out,
                        vrow *row)
{
    json_t *deltas[SHELF__DELTA_CHAIN + 1] = { NULL }, *doc = NULL;
    vrow r, first;
    char hash[SHELF_HASH_HEX], *text = NULL;
    int n = 0, rc, i;

    *out = NULL;
    for (;;) {
        json_t *data = NULL;

        if ((rc = read_row(lib, kind, id, seq, &r, &data)) != SHELF_OK)
            goto out;
        if (n == 0)
            first = r;
        if (r.base == 0) {
            doc = data;
            break;
        }
        if (n == SHELF__DELTA_CHAIN || r.base >= r.seq) {
            json_decref(data);
            rc = shelf__seterr(&lib->err, SHELF_ECORRUPT, "corrupt history of %s %lld: delta chain",
                               noun_of(kind), (long long)id);
            goto out;
        }
        deltas[n++] = data;
        seq = r.base;
    }
    if ((rc = shelf__doc_check(doc, kind, &lib->err)) != SHELF_OK)
        goto corrupt;
    for (i = n - 1; i >= 0; i--)
        if ((rc = shelf__doc_apply(doc, deltas[i], &lib->err)) != SHELF_OK)
            goto corrupt;
    if ((rc = shelf__doc_check(doc, kind, &lib->err)) != SHELF_OK)
        goto corrupt;
    if (!(text = shelf__doc_dump(doc, hash))) {
        rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    if (strcmp(hash, first.hash) != 0) {
        rc = shelf__seterr(&lib->err, SHELF_ECORRUPT,
                           "corrupt history of %s %lld: version %lld does not match its hash",
                           noun_of(kind), (long long)id, (long long)first.seq);
        goto out;
    }
    if (row)
        *row = first;
    *out = doc;
    doc = NULL;
    goto out;
corrupt:
    if (rc != SHELF_ENOMEM) {
        char msg[sizeof lib->err.msg];

        snprintf(msg, sizeof msg, "%s", lib->err.msg);
        rc = shelf__seterr(&lib->err, SHELF_ECORRUPT, "corrupt history of %s %lld: %s",
                           noun_of(kind), (long long)id, msg);
    }
out:
    free(text);
    json_decref(doc);
    for (i = 0; i < n; i++)
        json_decref(deltas[i]);
    return rc;
}

/* ---- Mirrors of the head ---------------------------------------------------- */

static int exec_id(shelf_library *lib, const char *sql, int64_t id)
{
    sqlite3_stmt *st = shelf__prepare_kept(lib, sql);
    int rc;

    if (!st)
        return lib->err.rc;
    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st) == SQLITE_DONE ? SHELF_OK : shelf__dberr(lib, "cannot update document");
    sqlite3_reset(st);
    return rc;
}

static int link_id(shelf_library *lib, sqlite3_stmt *st, int64_t a, int64_t b)
{
    int rc;

    sqlite3_bind_int64(st, 1, a);
    sqlite3_bind_int64(st, 2, b);
    rc = sqlite3_step(st) == SQLITE_DONE ? SHELF_OK : shelf__dberr(lib, "cannot link document");
    sqlite3_reset(st);
    return rc;
}

static const char *str_or_null(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* s must live until the statement has stepped: SQLITE_STATIC makes no
 * copy, so the bind cannot fail for want of memory and leave a NULL. */
static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

/* Rewrite the item row, tags, rating and links from doc (the head). */
static int mirror_links(shelf_library *lib, int kind, int64_t id, const json_t *doc);

static int mirror(shelf_library *lib, int kind, int64_t id, const json_t *doc, int64_t seq)
{
    sqlite3_stmt *st = NULL;
    const char *key;
    json_t *m, *v, *tags;
    char *tags_text = NULL;
    int rc;

    if (kind == SHELF_DOC_PATCH) {
        st = shelf__prepare_kept(lib,
            "UPDATE patches SET name = ?2, author = ?3, category = ?4, format = ?5, path = ?6,\n"
            "  comment = ?7, version = ?8, modified = ?9 WHERE id = ?1");
        if (!st)
            return lib->err.rc;
        v = json_object_get(doc, "source");
        bind_text(st, 5, str_or_null(v, "format") ? str_or_null(v, "format") : "shelf");
        bind_text(st, 6, str_or_null(v, "file"));
        bind_text(st, 4, str_or_null(doc, "category"));
    } else {
        st = shelf__prepare_kept(lib,
            "UPDATE projects SET name = ?2, tempo = ?4, comment = ?7, version = ?8,\n"
            "  modified = ?9 WHERE id = ?1");
        if (!st)
            return lib->err.rc;
        if ((v = json_object_get(doc, "tempo")))
            sqlite3_bind_double(st, 4, json_number_value(v));
    }
    sqlite3_bind_int64(st, 1, id);
    bind_text(st, 2, str_or_null(doc, "name"));
    if (kind == SHELF_DOC_PATCH)
        bind_text(st, 3, str_or_null(doc, "author"));
    bind_text(st, 7, str_or_null(doc, "comment"));
    sqlite3_bind_int64(st, 8, seq);
    sqlite3_bind_int64(st, 9, shelf__now());
    rc = sqlite3_step(st) == SQLITE_DONE ? SHELF_OK : shelf__dberr(lib, "cannot update document");
    sqlite3_reset(st);
    st = NULL;
    if (rc != SHELF_OK)
        return rc;

    /* Tags and rating, in the tables samples use (kind 2 and 3).  Only
     * what changed is written: the sync triggers queue every row touched,
     * and a tag written again would be a change of this device's that a
     * peer's removal of it could lose to. */
    if ((tags = json_object_get(doc, "tags")) && !(tags_text = shelf__json_text(tags, 0)))
        return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    if (!(st = shelf__prepare_kept(lib, "DELETE FROM tag_items WHERE kind = ?1 AND item_id = ?2 AND\n"
                                        "  tag_id NOT IN (SELECT t.id FROM tags t JOIN json_each(?3) j\n"
                                        "    ON t.name = j.key)"))) {
        free(tags_text);
        return lib->err.rc;
    }
    sqlite3_bind_int(st, 1, kind);
    sqlite3_bind_int64(st, 2, id);
    bind_text(st, 3, tags_text ? tags_text : "{}");
    rc = sqlite3_step(st) == SQLITE_DONE ? SHELF_OK : shelf__dberr(lib, "cannot tag document");
    sqlite3_reset(st);
    free(tags_text);
    if (rc != SHELF_OK)
        return rc;
    json_object_foreach(tags, key, m) {
        if (!(st = shelf__prepare_kept(lib, "INSERT OR IGNORE INTO tags(name) VALUES(?1)")))
            return lib->err.rc;
        bind_text(st, 1, key);
        rc = sqlite3_step(st) == SQLITE_DONE ? SHELF_OK : shelf__dberr(lib, "cannot tag document");
        sqlite3_reset(st);
        if (rc != SHELF_OK ||
            !(st = shelf__prepare_kept(lib, "INSERT OR IGNORE INTO tag_items(tag_id, kind, item_id)\n"
                                       "  SELECT id, ?2, ?3 FROM tags WHERE name = ?1")))
            return rc != SHELF_OK ? rc : lib->err.rc;
        bind_text(st, 1, key);
        sqlite3_bind_int(st, 2, kind);
        sqlite3_bind_int64(st, 3, id);
        rc = sqlite3_step(st) == SQLITE_DONE ? SHELF_OK : shelf__dberr(lib, "cannot tag document");
        sqlite3_reset(st);
        if (rc != SHELF_OK)
            return rc;
    }
    /* the rating: set when it differs, removed when the document has none */
    if (!(st = shelf__prepare_kept(lib, (v = json_object_get(doc, "rating"))
        ? "INSERT INTO ratings(kind, item_id, rating) VALUES(?1, ?2, ?3)\n"
          "  ON CONFLICT(kind, item_id) DO UPDATE SET rating = excluded.rating\n"
          "  WHERE rating != excluded.rating"
        : "DELETE FROM ratings WHERE kind = ?1 AND item_id = ?2")))
        return lib->err.rc;
    sqlite3_bind_int(st, 1, kind);
    sqlite3_bind_int64(st, 2, id);
    if (v)
        sqlite3_bind_int64(st, 3, json_integer_value(v));
    rc = sqlite3_step(st) == SQLITE_DONE ? SHELF_OK : shelf__dberr(lib, "cannot rate document");
    sqlite3_reset(st);
    if (rc != SHELF_OK)
        return rc;
    return mirror_links(lib, kind, id, doc);
}

/*
 * The link tables (and automation) of item id from its head doc.  A
 * reference to a sample or patch that is gone is kept in the document but
 * not linked (the SELECT finds nothing); a sample reference links up again
 * by hash when a sample with those bytes comes back (docs_relink).
 */
static int mirror_links(shelf_library *lib, int kind, int64_t id, const json_t *doc)
{
    sqlite3_stmt *st = NULL;
    const char *key;
    json_t *m, *v, *linked;
    int rc;

    if (kind == SHELF_DOC_PATCH) {
        if ((rc = exec_id(lib, "DELETE FROM patch_samples WHERE patch_id = ?1", id)) != SHELF_OK)
            return rc;
        /* By id when that sample has the zone's hash (or the zone has
         * none), else any sample with the hash: documents from another
         * library carry that library's ids. */
        if (!(st = shelf__prepare_kept(lib, "INSERT OR IGNORE INTO patch_samples(patch_id, sample_id)\n"
                                       "  SELECT ?1, id FROM (SELECT id, 0 AS o FROM samples\n"
                                       "    WHERE id = ?2 AND (?3 IS NULL OR sha256 = ?3)\n"
                                       "    UNION ALL SELECT id, 1 FROM samples WHERE sha256 = ?3\n"
                                       "    ORDER BY o, id LIMIT 1)")))
            return lib->err.rc;
        /* Once per sample: zones often share one, and a patch may have
         * 100,000 of them. */
        if (!(linked = json_object())) {
            sqlite3_reset(st);
            return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        }
        json_object_foreach(json_object_get(doc, "zones"), key, m) {
            json_t *s = json_object_get(m, "sample");
            char once[120];

            snprintf(once, sizeof once, "%lld %s",
                     (long long)json_integer_value(json_object_get(s, "id")),
                     json_string_value(json_object_get(s, "sha256")) ?
                     json_string_value(json_object_get(s, "sha256")) : "-");
            if (json_object_get(linked, once))
                continue;
            if (json_object_set_new_nocheck(linked, once, json_true()) != 0) {
                rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
                break;
            }
            sqlite3_bind_int64(st, 1, id);
            sqlite3_bind_int64(st, 2, json_integer_value(json_object_get(s, "id")));
            bind_text(st, 3, json_string_value(json_object_get(s, "sha256")));
            rc = sqlite3_step(st) == SQLITE_DONE ? SHELF_OK : shelf__dberr(lib, "cannot link document");
            sqlite3_reset(st);
            if (rc != SHELF_OK)
                break;
        }
        json_decref(linked);
        sqlite3_reset(st);
        return rc;
    }
    if ((rc = exec_id(lib, "DELETE FROM project_patches WHERE project_id = ?1", id)) != SHELF_OK ||
        (rc = exec_id(lib, "DELETE FROM project_samples WHERE project_id = ?1", id)) != SHELF_OK ||
        (rc = exec_id(lib, "DELETE FROM automation WHERE project_id = ?1", id)) != SHELF_OK)
        return rc;
    if (!(st = shelf__prepare_kept(lib, "INSERT OR IGNORE INTO project_patches(project_id, patch_id)\n"
                                   "  SELECT ?1, id FROM patches WHERE id = ?2")))
        return lib->err.rc;
    json_object_foreach(json_object_get(doc, "patches"), key, m)
        if ((rc = link_id(lib, st, id, strtoll(key, NULL, 10))) != SHELF_OK)
            break;
    sqlite3_reset(st);
    /* Samples as zones find theirs: by id when that sample has the
     * entry's hash (or the entry has none), else any sample with it. */
    if (rc != SHELF_OK ||
        !(st = shelf__prepare_kept(lib, "INSERT OR IGNORE INTO project_samples(project_id, sample_id)\n"
                                   "  SELECT ?1, id FROM (SELECT id, 0 AS o FROM samples\n"
                                   "    WHERE id = ?2 AND (?3 IS NULL OR sha256 = ?3)\n"
                                   "    UNION ALL SELECT id, 1 FROM samples WHERE sha256 = ?3\n"
                                   "    ORDER BY o, id LIMIT 1)")))
        return rc != SHELF_OK ? rc : lib->err.rc;
    json_object_foreach(json_object_get(doc, "samples"), key, m) {
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int64(st, 2, strtoll(key, NULL, 10));
        bind_text(st, 3, json_string_value(json_object_get(m, "sha256")));
        rc = sqlite3_step(st) == SQLITE_DONE ? SHELF_OK : shelf__dberr(lib, "cannot link document");
        sqlite3_reset(st);
        if (rc != SHELF_OK)
            break;
    }
    sqlite3_reset(st);
    if (rc != SHELF_OK ||
        !(st = shelf__prepare_kept(lib, "INSERT INTO automation(project_id, type, target, start_time,\n"
                                   "  duration, data) VALUES(?1, ?2, ?3, ?4, ?5, ?6)")))
        return rc != SHELF_OK ? rc : lib->err.rc;
    json_object_foreach(json_object_get(doc, "automation"), key, m) {
        json_t *points = json_object_get(m, "points");
        char *pts = points ? shelf__json_text(points, 0) : NULL;

        sqlite3_bind_int64(st, 1, id);
        bind_text(st, 2, str_or_null(m, "type"));
        bind_text(st, 3, str_or_null(m, "target"));
        sqlite3_bind_double(st, 4, json_number_value(json_object_get(m, "start")));
        if ((v = json_object_get(m, "duration")))
            sqlite3_bind_double(st, 5, json_number_value(v));
        else
            sqlite3_bind_null(st, 5);
        bind_text(st, 6, pts);
        if (points && !pts)
            rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        else
            rc = sqlite3_step(st) == SQLITE_DONE ? SHELF_OK : shelf__dberr(lib, "cannot store automation");
        free(pts);
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        if (rc != SHELF_OK)
            break;
    }
    sqlite3_reset(st);
    return rc;
}

/* ---- Storing versions ------------------------------------------------------ */

/*
 * Store doc (working form, checked) as version max+1 of item id with the
 * given parents; parent_doc is the document of parent (or NULL).  Makes it
 * the head and refreshes the mirrors (not for an imported version, meta
 * set: shelf_doc_import mirrors the head it names).  Inside the caller's
 * transaction.
 * SHELF_DONE (and *seq = parent) when doc equals its parent.
 */
/* Where an imported version came from: its own seq, time and device. */
typedef struct vmeta {
    int64_t seq, time;
    const char *device;
} vmeta;

static int store_version_as(shelf_library *lib, int kind, int64_t id, json_t *doc,
                            const vrow *parent, const json_t *parent_doc, int64_t parent2,
                            int64_t undoes, const char *message, const vmeta *meta, int64_t *seq)
{
    sqlite3_stmt *st = NULL;
    char hash[SHELF_HASH_HEX], *text = NULL, *dtext = NULL;
    json_t *delta = NULL;
    void *data = NULL;
    size_t len, dlen;
    int64_t next = 1, base = 0, depth = 0;
    int rc;

    if (!(text = shelf__doc_dump(doc, hash)))
        return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    if (parent && !parent2 && !undoes && !meta && !strcmp(hash, parent->hash)) {
        *seq = parent->seq;
        free(text);
        return SHELF_DONE;
    }
    len = strlen(text);
    /* A delta against the parent when it is less than half the document. */
    if (parent && parent_doc && parent->depth + 1 < SHELF__DELTA_CHAIN &&
        (delta = shelf__doc_diff(parent_doc, doc, 0)) &&
        (dtext = shelf__json_text(delta, 0)) &&
        (dlen = strlen(dtext)) < len / 2) {
        rc = encode(dtext, dlen, &data, &len);
        base = parent->seq;
        depth = parent->depth + 1;
    } else {
        rc = encode(text, len, &data, &len);
    }
    if (rc != SHELF_OK) {
        rc = shelf__seterr(&lib->err, rc, "out of memory");
        goto out;
    }
    if (!(st = shelf__prepare_kept(lib, "SELECT coalesce(max(seq), 0) + 1 FROM doc_versions\n"
                                   "WHERE kind = ?1 AND item_id = ?2"))) {
        rc = lib->err.rc;
        goto out;
    }
    sqlite3_bind_int(st, 1, kind);
    sqlite3_bind_int64(st, 2, id);
    if ((rc = sqlite3_step(st)) == SQLITE_ROW)
        next = sqlite3_column_int64(st, 0);
    rc = rc == SQLITE_ROW ? SHELF_OK : shelf__dberr(lib, "cannot store version");
    sqlite3_reset(st);
    if (rc != SHELF_OK)
        goto out;
    if (meta)
        next = meta->seq;
    st = shelf__prepare_kept(lib,
        "INSERT INTO doc_versions(kind, item_id, seq, hash, parent, parent2, time, device,\n"
        "  message, undoes, base, depth, data)\n"
        "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)");
    if (!st) {
        rc = lib->err.rc;
        goto out;
    }
    sqlite3_bind_int(st, 1, kind);
    sqlite3_bind_int64(st, 2, id);
    sqlite3_bind_int64(st, 3, next);
    sqlite3_bind_text(st, 4, hash, -1, SQLITE_STATIC);
    if (parent)
        sqlite3_bind_int64(st, 5, parent->seq);
    if (parent2)
        sqlite3_bind_int64(st, 6, parent2);
    sqlite3_bind_int64(st, 7, meta ? meta->time : shelf__now());
    sqlite3_bind_text(st, 8, meta ? meta->device : lib->library_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 9, message ? message : "", -1, SQLITE_STATIC);
    if (undoes)
        sqlite3_bind_int64(st, 10, undoes);
    if (base)
        sqlite3_bind_int64(st, 11, base);
    sqlite3_bind_int64(st, 12, depth);
    sqlite3_bind_blob(st, 13, data, (int)len, SQLITE_STATIC);
    rc = sqlite3_step(st) == SQLITE_DONE ? SHELF_OK : shelf__dberr(lib, "cannot store version");
    sqlite3_reset(st);
    /* An imported history mirrors its head once, at the end. */
    if (rc == SHELF_OK && (meta || (rc = mirror(lib, kind, id, doc, next)) == SHELF_OK))
        *seq = next;
out:
    free(text);
    free(dtext);
    free(data);
    json_decref(delta);
    return rc;
}

static int store_version(shelf_library *lib, int kind, int64_t id, json_t *doc,
                         const vrow *parent, const json_t *parent_doc, int64_t parent2,
                         int64_t undoes, const char *message, int64_t *seq)
{
    return store_version_as(lib, kind, id, doc, parent, parent_doc, parent2, undoes, message,
                            NULL, seq);
}

static int load_text(shelf_library *lib, int kind, const char *json, json_t **doc)
{
    if (!json)
        return shelf__seterr(&lib->err, SHELF_EINVAL, "no document given");
    return shelf__doc_load(json, strlen(json), kind, NULL, doc, &lib->err);
}

int shelf_doc_create(shelf_library *lib, int kind, const char *json, const char *message,
                     int64_t *id)
{
    json_t *doc = NULL;
    int rc;

    *id = 0;
    if ((rc = check_kind(lib, kind)) != SHELF_OK || (rc = load_text(lib, kind, json, &doc)) != SHELF_OK)
        return rc;
    rc = shelf__doc_create_json(lib, kind, doc, message, id);
    json_decref(doc);
    return rc;
}

int shelf__doc_create_json(shelf_library *lib, int kind, json_t *doc, const char *message,
                           int64_t *id)
{
    sqlite3_stmt *st = NULL;
    int64_t seq;
    char sql[160];
    int rc;

    *id = 0;
    if ((rc = check_kind(lib, kind)) != SHELF_OK ||
        (rc = shelf__doc_check(doc, kind, &lib->err)) != SHELF_OK)
        return rc;
    if ((rc = shelf__begin(lib)) != SHELF_OK)
        goto out;
    snprintf(sql, sizeof sql, "INSERT INTO %s(name, created) VALUES(?1, ?2) RETURNING id",
             table_of(kind));
    if (!(st = shelf__prepare(lib, sql))) {
        rc = lib->err.rc;
        goto fail;
    }
    bind_text(st, 1, str_or_null(doc, "name"));
    sqlite3_bind_int64(st, 2, shelf__now());
    if (sqlite3_step(st) != SQLITE_ROW) {
        rc = shelf__dberr(lib, "cannot create document");
        goto fail;
    }
    *id = sqlite3_column_int64(st, 0);
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = shelf__dberr(lib, "cannot create document");
        goto fail;
    }
    sqlite3_finalize(st);
    st = NULL;
    if ((rc = store_version(lib, kind, *id, doc, NULL, NULL, 0, 0, message ? message : "create",
                            &seq)) != SHELF_OK)
        goto fail;
    rc = shelf__commit(lib);
    if (rc != SHELF_OK)
        *id = 0;
    goto out;
fail:
    sqlite3_finalize(st);
    shelf__rollback(lib);
    *id = 0;
out:
    return rc;
}

int shelf_doc_get(shelf_library *lib, int kind, int64_t id, int64_t seq, char **json)
{
    json_t *doc = NULL;
    char *text;
    int rc;

    *json = NULL;
    if ((rc = check_kind(lib, kind)) != SHELF_OK ||
        (rc = item_exists(lib, kind, id, seq ? NULL : &seq)) != SHELF_OK ||
        (rc = load_version(lib, kind, id, seq, &doc, NULL)) != SHELF_OK)
        return rc;
    text = shelf__doc_dump(doc, NULL);
    json_decref(doc);
    if (!text || !(*json = shelf__strdup(text)))
        rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    free(text);
    return rc;
}

int shelf_doc_resolve(shelf_library *lib, int kind, const char *ref, int64_t *id, int64_t *seq)
{
    const char *at, *v;
    sqlite3_stmt *st;
    char *end;
    long long n;
    int rc, hits = 0;

    if (!lib || !ref || !id || !seq)
        return lib ? shelf__seterr(&lib->err, SHELF_EINVAL, "invalid reference: no ref, id or seq")
                   : SHELF_EINVAL;
    at = strchr(ref, '@');
    *id = 0;
    *seq = 0;
    if ((rc = check_kind(lib, kind)) != SHELF_OK)
        return rc;
    n = strtoll(ref, &end, 10);
    if (end == ref || n <= 0 || (at ? end != at : *end != '\0') || *ref < '0' || *ref > '9')
        return shelf__seterr(&lib->err, SHELF_EINVAL, "invalid %s '%s': ID or ID@VERSION",
                             noun_of(kind), ref);
    if ((rc = item_exists(lib, kind, n, NULL)) != SHELF_OK)
        return rc;
    if (!at) {
        *id = n;
        return SHELF_OK;
    }
    v = at + 1;
    if (*v && strspn(v, "0123456789") == strlen(v) && strlen(v) < 12) {
        *seq = strtoll(v, NULL, 10);
        st = shelf__prepare(lib, "SELECT seq FROM doc_versions WHERE kind = ?1 AND item_id = ?2\n"
                                 "  AND seq = ?3");
        if (!st)
            return lib->err.rc;
        sqlite3_bind_int64(st, 3, *seq);
    } else if (strlen(v) >= 4 && strlen(v) <= 64 && strspn(v, "0123456789abcdef") == strlen(v)) {
        st = shelf__prepare(lib, "SELECT seq FROM doc_versions WHERE kind = ?1 AND item_id = ?2\n"
                                 "  AND substr(hash, 1, length(?3)) = ?3");
        if (!st)
            return lib->err.rc;
        sqlite3_bind_text(st, 3, v, -1, SQLITE_STATIC);
    } else {
        return shelf__seterr(&lib->err, SHELF_EINVAL,
                             "invalid version '%s': a number or a hash prefix (4+ hex digits)", v);
    }
    sqlite3_bind_int(st, 1, kind);
    sqlite3_bind_int64(st, 2, n);
    while (sqlite3_step(st) == SQLITE_ROW) {
        *seq = sqlite3_column_int64(st, 0);
        hits++;
    }
    sqlite3_finalize(st);
    if (hits == 1) {
        *id = n;
        return SHELF_OK;
    }
    *seq = 0;
    return shelf__seterr(&lib->err, hits ? SHELF_EINVAL : SHELF_ENOTFOUND,
                         hits ? "version '%s' of %s %lld is ambiguous"
                              : "no version '%s' of %s %lld", v, noun_of(kind), n);
}

/* Commit doc (working form) on top of version parent (0: head) of id. */
static int commit_doc(shelf_library *lib, int kind, int64_t id, json_t *doc, int64_t parent,
                      int64_t parent2, int64_t undoes, const char *message, int64_t *seq)
{
    json_t *pdoc = NULL;
    vrow prow;
    int rc;

    *seq = 0;
    if ((rc = shelf__begin(lib)) != SHELF_OK)
        return rc;
    if ((rc = item_exists(lib, kind, id, parent ? NULL : &parent)) != SHELF_OK ||
        (rc = load_version(lib, kind, id, parent, &pdoc, &prow)) != SHELF_OK)
        goto fail;
    rc = store_version(lib, kind, id, doc, &prow, pdoc, parent2, undoes, message, seq);
    json_decref(pdoc);
    pdoc = NULL;
    if (rc == SHELF_DONE) {
        shelf__rollback(lib);
        return SHELF_DONE;
    }
    if (rc != SHELF_OK)
        goto fail;
    if ((rc = shelf__commit(lib)) != SHELF_OK)
        *seq = 0;
    return rc;
fail:
    json_decref(pdoc);
    shelf__rollback(lib);
    return rc;
}

int shelf_doc_commit(shelf_library *lib, int kind, int64_t id, const char *json, int64_t parent,
                     const char *message, int64_t *seq)
{
    json_t *doc = NULL;
    int rc;

    *seq = 0;
    if ((rc = check_kind(lib, kind)) != SHELF_OK || (rc = load_text(lib, kind, json, &doc)) != SHELF_OK)
        return rc;
    rc = commit_doc(lib, kind, id, doc, parent, 0, 0, message ? message : "edit", seq);
    json_decref(doc);
    return rc;
}

/* Check a new value for path against the document's types and old value. */
static int check_set(shelf_library *lib, json_t *doc, const char *path, const json_t *v)
{
    json_t *types = json_object_get(doc, "types"), *t, *old = shelf__doc_get(doc, path), *m;
    const char *type;
    size_t i;

    if (*path == '/')
        path++;
    if ((t = json_object_get(types, path))) {
        type = json_string_value(json_object_get(t, "type"));
        if (type && (!strcmp(type, "number") || !strcmp(type, "integer"))) {
            if (!json_is_number(v) || (!strcmp(type, "integer") && !json_is_integer(v)))
                return shelf__seterr(&lib->err, SHELF_EINVAL, "'%s' takes %s %s", path,
                                     !strcmp(type, "integer") ? "an" : "a", type);
        } else if (type && !strcmp(type, "bool") && !json_is_boolean(v)) {
            return shelf__seterr(&lib->err, SHELF_EINVAL, "'%s' takes true or false", path);
        } else if (type && (!strcmp(type, "string") || !strcmp(type, "enum")) && !json_is_string(v)) {
            return shelf__seterr(&lib->err, SHELF_EINVAL, "'%s' takes a string", path);
        }
        if (json_is_number(v) && (m = json_object_get(t, "min")) &&
            json_number_value(v) < json_number_value(m))
            return shelf__seterr(&lib->err, SHELF_EINVAL, "'%s' must be at least %g", path,
                                 json_number_value(m));
        if (json_is_number(v) && (m = json_object_get(t, "max")) &&
            json_number_value(v) > json_number_value(m))
            return shelf__seterr(&lib->err, SHELF_EINVAL, "'%s' must be at most %g", path,
                                 json_number_value(m));
        if (json_is_string(v) && (m = json_object_get(t, "values"))) {
            json_t *c;

            json_array_foreach(m, i, c)
                if (json_equal(c, (json_t *)v))
                    return SHELF_OK;
            return shelf__seterr(&lib->err, SHELF_EINVAL, "'%s' is not one of the choices of '%s'",
                                 json_string_value(v), path);
        }
        return SHELF_OK;
    }
    if (old && json_is_number(old) && !json_is_number(v))
        return shelf__seterr(&lib->err, SHELF_EINVAL, "'%s' is a number", path);
    if (old && json_is_boolean(old) && !json_is_boolean(v))
        return shelf__seterr(&lib->err, SHELF_EINVAL, "'%s' takes true or false", path);
    if (old && json_is_object(old) && !json_is_object(v))
        return shelf__seterr(&lib->err, SHELF_EINVAL, "'%s' is a group of values; set one of them",
                             path);
    return SHELF_OK;
}

/* Apply one assignment to doc; appends "path=value" to msg (which starts
 * with "set "). */
static int set_one(shelf_library *lib, json_t *doc, const char *path, const char *value,
                   shelf__buf *msg)
{
    json_t *v;
    int rc;

    if (msg->len > 4 && shelf__buf_adds(msg, ", ") != SHELF_OK)
        return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    if (!strcmp(path, "tags+") || !strcmp(path, "tags-")) {
        json_t *tags = json_object_get(doc, "tags");

        char low[65];
        size_t k, n = value ? strlen(value) : 0;

        if (n == 0 || n > 64)
            return shelf__seterr(&lib->err, SHELF_EINVAL, "invalid tag '%s': 1 to 64 bytes",
                                 value ? value : "");
        for (k = 0; k <= n; k++)        /* tags are kept lowercase (doc.c) */
            low[k] = (char)((unsigned char)value[k] < 0x80 && value[k] >= 'A' && value[k] <= 'Z'
                                ? value[k] - 'A' + 'a' : value[k]);
        if (!tags && (json_object_set_new(doc, "tags", json_object()) != 0 ||
                      !(tags = json_object_get(doc, "tags"))))
            return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        if (path[4] == '+') {
            if (json_object_set_new(tags, low, json_true()) != 0)
                return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        } else {
            (void)json_object_del(tags, low);   /* absent is fine */
        }
        rc = shelf__buf_addf(msg, "tag %s%s", path[4] == '+' ? "+" : "-", low);
    } else if (!value) {
        if ((rc = shelf__doc_remove(doc, path, &lib->err)) != SHELF_OK)
            return rc;
        rc = shelf__buf_addf(msg, "remove %s", path);
    } else {
        json_t *old = shelf__doc_get(doc, path);
        const char *type = json_string_value(json_object_get(
            json_object_get(json_object_get(doc, "types"), *path == '/' ? path + 1 : path), "type"));

        int nomem;

        if (!(v = shelf__json_loadb(value, strlen(value), JSON_DECODE_ANY, NULL, &nomem)) &&
            (nomem || !(v = json_string(value))))
            return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        /* Where a string belongs, the text is the string ("name=1984"). */
        if ((json_is_number(v) || json_is_boolean(v) || json_is_null(v)) &&
            (json_is_string(old) || !strcmp(path, "name") ||
                                   (type && (!strcmp(type, "string") || !strcmp(type, "enum"))))) {
            json_decref(v);
            if (!(v = json_string(value)))
                return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        }
        if ((rc = check_set(lib, doc, path, v)) != SHELF_OK) {
            json_decref(v);
            return rc;
        }
        if ((rc = shelf__doc_set(doc, path, v, &lib->err)) != SHELF_OK)
            return rc;
        rc = shelf__buf_addf(msg, "%s=%s", path, value);
    }
    return rc == SHELF_OK ? SHELF_OK : shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
}

/* ---- What a project edit names must exist ------------------------------------ */

typedef struct tpoint {
    json_t *p;
    double t;
    size_t i;
} tpoint;

static int cmp_tpoint(const void *a, const void *b)
{
    const tpoint *x = a, *y = b;

    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;     /* equal times keep their order */
}

/*
 * An automation lane: its target names a patch that exists and a value of
 * that patch's head; its points are stored sorted by time and its duration
 * is derived (the last point's time, or longer when set so).
 */
static int check_lane_edit(shelf_library *lib, json_t *lane)
{
    const char *target = json_string_value(json_object_get(lane, "target")), *slash;
    json_t *points = json_object_get(lane, "points"), *pdoc = NULL, *sorted = NULL, *v;
    tpoint *tp = NULL;
    int64_t pid, head;
    double dur;
    size_t i, n;
    char *end;
    int rc;

    if (!target || strncmp(target, "patch:", 6) != 0 || !(slash = strchr(target, '/')) ||
        (pid = strtoll(target + 6, &end, 10)) <= 0 || end != slash || !slash[1])
        return shelf__seterr(&lib->err, SHELF_EINVAL,
                             "invalid automation target '%s': patch:ID/PARAMETER", target ? target : "");
    if ((rc = item_exists(lib, SHELF_DOC_PATCH, pid, &head)) != SHELF_OK ||
        (rc = load_version(lib, SHELF_DOC_PATCH, pid, head, &pdoc, NULL)) != SHELF_OK)
        return rc;
    if (!shelf__doc_get(pdoc, slash + 1)) {
        rc = shelf__seterr(&lib->err, SHELF_ENOTFOUND, "patch %lld has no parameter '%s'",
                           (long long)pid, slash + 1);
        goto out;
    }
    n = json_array_size(points);
    if (json_is_array(points) && n) {
        if (!(tp = shelf__calloc(n, sizeof *tp)) || !(sorted = json_array())) {
            rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
            goto out;
        }
        json_array_foreach(points, i, v) {
            tp[i].p = v;
            tp[i].t = json_number_value(json_array_get(v, 0));
            tp[i].i = i;
        }
        qsort(tp, n, sizeof *tp, cmp_tpoint);
        for (i = 0; i < n && rc == SHELF_OK; i++)
            if (json_array_append(sorted, tp[i].p) != 0)
                rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        if (rc != SHELF_OK)
            goto out;
        dur = json_number_value(json_object_get(lane, "duration"));
        if (!json_object_get(lane, "duration") || dur < tp[n - 1].t)
            dur = tp[n - 1].t;
        if (json_object_set(lane, "points", sorted) || json_object_set_new(lane, "duration", json_real(dur)))
            rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    }
out:
    json_decref(sorted);
    shelf_free(tp);
    json_decref(pdoc);
    return rc;
}

/*
 * A project edit may name only items that exist: an added patch or sample,
 * an automation lane's target.  A sample entry records the sample's SHA-256
 * too, so the reference links up again by hash when the sample is removed
 * and the same file imported again.
 */
static int check_project_edit(shelf_library *lib, json_t *doc, const char *const *paths,
                              const char *const *values, size_t n)
{
    size_t i;
    int rc = SHELF_OK;

    for (i = 0; i < n && rc == SHELF_OK; i++) {
        const char *p = *paths[i] == '/' ? paths[i] + 1 : paths[i];
        int is_patch = !strncmp(p, "patches/", 8), is_sample = !strncmp(p, "samples/", 8);
        char key[32], *end;
        int64_t id;

        if (!values[i])
            continue;
        if (is_patch || is_sample) {
            id = strtoll(p + 8, &end, 10);
            if (id <= 0 || (*end && *end != '/'))
                continue;           /* not an id: the document check refuses it */
            if (is_patch) {
                rc = item_exists(lib, SHELF_DOC_PATCH, id, NULL);
            } else {
                char hex[SHELF_HASH_HEX];
                json_t *entry;
                sqlite3_stmt *st = shelf__prepare(lib, "SELECT sha256 FROM samples WHERE id = ?1");

                if (!st)
                    return lib->err.rc;
                sqlite3_bind_int64(st, 1, id);
                if (sqlite3_step(st) == SQLITE_ROW) {
                    snprintf(hex, sizeof hex, "%s", (const char *)sqlite3_column_text(st, 0));
                    snprintf(key, sizeof key, "%lld", (long long)id);
                    entry = json_object_get(json_object_get(doc, "samples"), key);
                    if (json_is_object(entry) && shelf__is_hash_hex(hex) &&
                        json_object_set_new(entry, "sha256", json_string(hex)))
                        rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
                } else {
                    rc = shelf__seterr(&lib->err, SHELF_ENOTFOUND, "no sample with id %lld",
                                       (long long)id);
                }
                sqlite3_finalize(st);
            }
        } else if (!strncmp(p, "automation/", 11)) {
            const char *k = p + 11, *slash = strchr(k, '/');
            size_t len = slash ? (size_t)(slash - k) : strlen(k);
            json_t *lane;

            if (len >= sizeof key)
                continue;
            memcpy(key, k, len);
            key[len] = '\0';
            if ((lane = json_object_get(json_object_get(doc, "automation"), key)) && json_is_object(lane))
                rc = check_lane_edit(lib, lane);
        }
    }
    return rc;
}

int shelf_doc_setv(shelf_library *lib, int kind, int64_t id, const char *const *paths,
                   const char *const *values, size_t n, const char *message, int64_t *seq)
{
    shelf__buf msg = SHELF__BUF_INIT;
    json_t *doc = NULL;
    int64_t head;
    size_t i;
    int rc;

    *seq = 0;
    if ((rc = check_kind(lib, kind)) != SHELF_OK ||
        (rc = item_exists(lib, kind, id, &head)) != SHELF_OK ||
        (rc = load_version(lib, kind, id, head, &doc, NULL)) != SHELF_OK)
        return rc;
    if (n == 0) {
        rc = shelf__seterr(&lib->err, SHELF_EINVAL, "nothing to set");
        goto out;
    }
    if (shelf__buf_adds(&msg, "set ") != SHELF_OK) {
        rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    for (i = 0; i < n; i++)
        if ((rc = set_one(lib, doc, paths[i], values[i], &msg)) != SHELF_OK)
            goto out;
    if (kind == SHELF_DOC_PROJECT && (rc = check_project_edit(lib, doc, paths, values, n)) != SHELF_OK)
        goto out;
    /* The edit must leave a valid document (a name stays a string, ...). */
    if ((rc = shelf__doc_check(doc, kind, &lib->err)) != SHELF_OK) {
        char why[sizeof lib->err.msg];

        snprintf(why, sizeof why, "%s", lib->err.msg);
        if (rc != SHELF_ENOMEM)
            rc = shelf__seterr(&lib->err, SHELF_EINVAL, "cannot set '%s': %s", paths[0], why);
        goto out;
    }
    rc = commit_doc(lib, kind, id, doc, head, 0, 0, message ? message : msg.buf, seq);
out:
    json_decref(doc);
    shelf__buf_release(&msg);
    return rc;
}

int shelf_doc_set(shelf_library *lib, int kind, int64_t id, const char *path, const char *value,
                  const char *message, int64_t *seq)
{
    return shelf_doc_setv(lib, kind, id, &path, &value, 1, message, seq);
}

int shelf_doc_revert(shelf_library *lib, int kind, int64_t id, int64_t seq, int64_t *newseq)
{
    json_t *doc = NULL;
    char msg[64];
    int rc;

    *newseq = 0;
    if ((rc = check_kind(lib, kind)) != SHELF_OK ||
        (rc = item_exists(lib, kind, id, NULL)) != SHELF_OK ||
        (rc = load_version(lib, kind, id, seq, &doc, NULL)) != SHELF_OK)
        return rc;
    snprintf(msg, sizeof msg, "revert to %lld", (long long)seq);
    rc = commit_doc(lib, kind, id, doc, 0, 0, 0, msg, newseq);
    json_decref(doc);
    return rc;
}

/* ---- Merge ----------------------------------------------------------------- */

typedef struct seqset {
    int64_t *v;
    size_t n, cap;
} seqset;

static int seqset_has(const seqset *s, int64_t x)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i] == x)
            return 1;
    return 0;
}

static int seqset_add(seqset *s, int64_t x)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        int64_t *v = shelf__realloc(s->v, cap * sizeof *v);

        if (!v)
            return SHELF_ENOMEM;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = x;
    return SHELF_OK;
}

/* Breadth-first walk of the ancestors of seq (itself included) into s, in
 * order of distance. */
static int ancestors(shelf_library *lib, int kind, int64_t id, int64_t seq, seqset *s)
{
    size_t i;
    vrow r;
    int rc;

    if ((rc = seqset_add(s, seq)) != SHELF_OK)
        return shelf__seterr(&lib->err, rc, "out of memory");
    for (i = 0; i < s->n; i++) {
        if ((rc = read_row(lib, kind, id, s->v[i], &r, NULL)) != SHELF_OK)
            return rc;
        if (r.parent && !seqset_has(s, r.parent) && (rc = seqset_add(s, r.parent)) != SHELF_OK)
            return shelf__seterr(&lib->err, rc, "out of memory");
        if (r.parent2 && !seqset_has(s, r.parent2) && (rc = seqset_add(s, r.parent2)) != SHELF_OK)
            return shelf__seterr(&lib->err, rc, "out of memory");
    }
    return SHELF_OK;
}

int shelf_doc_merge_prepare(shelf_library *lib, int kind, int64_t id, int64_t other,
                            shelf_merge **m, int64_t *base_seq)
{
    int64_t head;
    int rc;

    *m = NULL;
    *base_seq = 0;
    if ((rc = check_kind(lib, kind)) != SHELF_OK ||
        (rc = item_exists(lib, kind, id, &head)) != SHELF_OK)
        return rc;
    return shelf__doc_merge_versions(lib, kind, id, head, other, m, base_seq);
}

int shelf__doc_merge_versions(shelf_library *lib, int kind, int64_t id, int64_t head,
                              int64_t other, shelf_merge **m, int64_t *base_seq)
{
    seqset a = { NULL, 0, 0 }, b = { NULL, 0, 0 };
    json_t *base = NULL, *ours = NULL, *theirs = NULL;
    vrow ro, rt;
    int64_t lca = 0;
    size_t i;
    int rc;

    *m = NULL;
    *base_seq = 0;
    if ((rc = ancestors(lib, kind, id, head, &a)) != SHELF_OK ||
        (rc = ancestors(lib, kind, id, other, &b)) != SHELF_OK)
        goto out;
    if (seqset_has(&a, other)) {
        rc = shelf__seterr(&lib->err, SHELF_DONE, "version %lld is already part of the head",
                           (long long)other);
        goto out;
    }
    for (i = 0; i < b.n && !lca; i++)
        if (seqset_has(&a, b.v[i]))
            lca = b.v[i];
    if (!lca) {
        rc = shelf__seterr(&lib->err, SHELF_ECORRUPT, "versions %lld and %lld of %s %lld share no ancestor",
                           (long long)head, (long long)other, noun_of(kind), (long long)id);
        goto out;
    }
    if ((rc = load_version(lib, kind, id, lca, &base, NULL)) != SHELF_OK ||
        (rc = load_version(lib, kind, id, head, &ours, &ro)) != SHELF_OK ||
        (rc = load_version(lib, kind, id, other, &theirs, &rt)) != SHELF_OK)
        goto out;
    if ((rc = shelf__merge_docs(base, ours, theirs, ro.time, rt.time, m)) != SHELF_OK) {
        rc = shelf__seterr(&lib->err, rc, "out of memory");
        goto out;
    }
    *base_seq = lca;
out:
    free(a.v);
    free(b.v);
    json_decref(base);
    json_decref(ours);
    json_decref(theirs);
    return rc;
}

static int audit(shelf_library *lib, const char *action, int kind, int64_t id, const char *detail)
{
    sqlite3_stmt *st = shelf__prepare(lib,
        "INSERT INTO audit_log(time, action, kind, item_id, detail) VALUES(?1, ?2, ?3, ?4, ?5)");
    int rc;

    if (!st)
        return lib->err.rc;
    sqlite3_bind_int64(st, 1, shelf__now());
    sqlite3_bind_text(st, 2, action, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, kind);
    sqlite3_bind_int64(st, 4, id);
    sqlite3_bind_text(st, 5, detail ? detail : "", -1, SQLITE_STATIC);
    rc = sqlite3_step(st) == SQLITE_DONE ? SHELF_OK : shelf__dberr(lib, "cannot write the audit log");
    sqlite3_finalize(st);
    return rc;
}

int shelf_doc_merge_commit(shelf_library *lib, int kind, int64_t id, int64_t other,
                           shelf_merge *m, const char *message, int64_t *seq)
{
    json_t *doc, *pdoc = NULL;
    char msg[96], *detail = NULL;
    int64_t head;
    vrow prow;
    int rc;

    *seq = 0;
    if (!(doc = shelf__merge_doc(m, &rc)))
        return shelf__seterr(&lib->err, rc, rc == SHELF_ECONFLICT
                                                ? "the merge has %zu unresolved conflicts"
                                                : "the merge result is not a valid document (%zu conflicts)",
                             shelf_merge_conflicts(m));
    if (shelf__doc_kind(doc) != kind) {
        rc = shelf__seterr(&lib->err, SHELF_EINVAL, "the merge result is not a %s", noun_of(kind));
        goto out;
    }
    snprintf(msg, sizeof msg, "merge %lld", (long long)other);
    if ((rc = shelf__begin(lib)) != SHELF_OK)
        goto out;
    if ((rc = item_exists(lib, kind, id, &head)) != SHELF_OK ||
        (rc = read_row(lib, kind, id, other, &prow, NULL)) != SHELF_OK ||
        (rc = load_version(lib, kind, id, head, &pdoc, &prow)) != SHELF_OK ||
        (rc = store_version(lib, kind, id, doc, &prow, pdoc, other, 0, message ? message : msg,
                            seq)) != SHELF_OK)
        goto fail;
    if (!(detail = shelf__asprintf("version %lld merged into %lld as %lld (%zu conflicts resolved)",
                                   (long long)other, (long long)head, (long long)*seq,
                                   shelf_merge_conflicts(m)))) {
        rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        goto fail;
    }
    if ((rc = audit(lib, "merge", kind, id, detail)) != SHELF_OK)
        goto fail;
    rc = shelf__commit(lib);
    goto out;
fail:
    shelf__rollback(lib);
    *seq = 0;
out:
    free(detail);
    json_decref(pdoc);
    json_decref(doc);
    return rc;
}

/* ---- History, diff, undo ---------------------------------------------------- */

int shelf_doc_history(shelf_library *lib, int kind, int64_t id, shelf_version_cb cb, void *ud)
{
    sqlite3_stmt *st;
    shelf_docversion v;
    int64_t head;
    int rc;

    if ((rc = check_kind(lib, kind)) != SHELF_OK || (rc = item_exists(lib, kind, id, &head)) != SHELF_OK)
        return rc;
    st = shelf__prepare(lib,
        "SELECT seq, coalesce(parent, 0), coalesce(parent2, 0), time, coalesce(undoes, 0), hash,\n"
        "  device, message, length(data) + length(message) + " "120" "\n"
        "FROM doc_versions WHERE kind = ?1 AND item_id = ?2 ORDER BY seq DESC");
    if (!st)
        return lib->err.rc;
    sqlite3_bind_int(st, 1, kind);
    sqlite3_bind_int64(st, 2, id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        v.seq = sqlite3_column_int64(st, 0);
        v.parent = sqlite3_column_int64(st, 1);
        v.parent2 = sqlite3_column_int64(st, 2);
        v.time = sqlite3_column_int64(st, 3);
        v.undoes = sqlite3_column_int64(st, 4);
        v.hash = (const char *)sqlite3_column_text(st, 5);
        v.device = (const char *)sqlite3_column_text(st, 6);
        v.message = (const char *)sqlite3_column_text(st, 7);
        v.stored = (uint64_t)sqlite3_column_int64(st, 8);
        v.head = v.seq == head;
        if (cb(ud, &v) != 0) {
            sqlite3_finalize(st);
            return SHELF_ECANCELED;
        }
    }
    rc = rc == SQLITE_DONE ? SHELF_OK : shelf__dberr(lib, "cannot read history");
    sqlite3_finalize(st);
    return rc;
}

int shelf_doc_diff_versions(shelf_library *lib, int kind, int64_t id, int64_t a, int64_t b,
                            char **diff_json)
{
    json_t *x = NULL, *y = NULL, *d = NULL;
    int64_t head;
    char *text;
    int rc;

    *diff_json = NULL;
    if ((rc = check_kind(lib, kind)) != SHELF_OK || (rc = item_exists(lib, kind, id, &head)) != SHELF_OK ||
        (rc = load_version(lib, kind, id, a ? a : head, &x, NULL)) != SHELF_OK ||
        (rc = load_version(lib, kind, id, b ? b : head, &y, NULL)) != SHELF_OK)
        goto out;
    if (!(d = shelf__doc_diff(x, y, 1)) ||
        !(text = shelf__json_text(d, 0))) {
        rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    *diff_json = shelf__strdup(text);
    free(text);
    if (!*diff_json)
        rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
out:
    json_decref(x);
    json_decref(y);
    json_decref(d);
    return rc;
}

/*
 * Documents whose sample was removed while they used it ("unlink" in the
 * audit log, written by shelf_catalog_remove with the sample's hash) link
 * up again when a sample with those bytes is in the catalog: their links
 * are rebuilt from the head, and "relink" is logged.
 */
static int docs_relink(shelf_library *lib)
{
    sqlite3_stmt *st;
    int64_t *ids = NULL, *nids;
    int *kinds = NULL, *nk;
    size_t n = 0, cap = 0, i;
    int rc = SHELF_OK, r;

    st = shelf__prepare(lib,
        "SELECT DISTINCT a.kind, a.item_id FROM audit_log a\n"
        "WHERE a.action = 'unlink'\n"
        "  AND EXISTS (SELECT 1 FROM samples s WHERE s.sha256 = substr(a.detail, -64))\n"
        "  AND NOT EXISTS (SELECT 1 FROM audit_log b WHERE b.action = 'relink'\n"
        "                  AND b.kind = a.kind AND b.item_id = a.item_id AND b.id > a.id)\n"
        "  AND (a.kind = 2 AND a.item_id IN (SELECT id FROM patches)\n"
        "       OR a.kind = 3 AND a.item_id IN (SELECT id FROM projects))");
    if (!st)
        return lib->err.rc;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            if (!(nids = shelf__realloc(ids, cap * sizeof *ids))) {
                rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
                break;
            }
            ids = nids;
            if (!(nk = shelf__realloc(kinds, cap * sizeof *kinds))) {
                rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
                break;
            }
            kinds = nk;
        }
        kinds[n] = sqlite3_column_int(st, 0);
        ids[n++] = sqlite3_column_int64(st, 1);
    }
    if (rc == SHELF_OK && r != SQLITE_DONE)
        rc = shelf__dberr(lib, "cannot read the audit log");
    sqlite3_finalize(st);
    for (i = 0; i < n && rc == SHELF_OK; i++) {
        json_t *doc = NULL;
        int64_t head;

        if ((rc = shelf__begin(lib)) != SHELF_OK)
            break;
        if ((rc = item_exists(lib, kinds[i], ids[i], &head)) == SHELF_OK &&
            (rc = load_version(lib, kinds[i], ids[i], head, &doc, NULL)) == SHELF_OK &&
            (rc = mirror_links(lib, kinds[i], ids[i], doc)) == SHELF_OK &&
            (rc = audit(lib, "relink", kinds[i], ids[i], "samples found again by hash")) == SHELF_OK)
            rc = shelf__commit(lib);
        if (rc != SHELF_OK)
            shelf__rollback(lib);
        json_decref(doc);
    }
    shelf_free(ids);
    shelf_free(kinds);
    return rc;
}

/*
 * The public import: lib/import writes the samples, and new rows may be
 * samples that documents lost and kept by hash, so they link up again here,
 * above the catalog import (lib/import never calls into patch).
 */
int shelf_import(shelf_library *lib, const char *const *paths, size_t npaths,
                 const shelf_import_opts *opts, shelf_import_stats *stats)
{
    shelf_import_stats full = { .size = sizeof full };
    int rc = shelf__import_run(lib, paths, npaths, opts, &full, docs_relink);

    shelf__out_fill(stats, &full, sizeof full);
    return rc;
}

/* The audit line of a removal; shelf_undo reads the numbers back. */
#define REMOVED_FMT "removed (version %lld, change %lld)"

/*
 * Projects whose head names patch pid get their link to it again (a patch
 * brought back by undo).
 */
static int relink_projects(shelf_library *lib, int64_t pid)
{
    sqlite3_stmt *st = shelf__prepare(lib, "SELECT id, version FROM projects"), *ins = NULL;
    char key[32];
    int rc = SHELF_OK;

    if (!st)
        return lib->err.rc;
    if (!(ins = shelf__prepare(lib, "INSERT OR IGNORE INTO project_patches(project_id, patch_id)\n"
                                    "  VALUES(?1, ?2)"))) {
        sqlite3_finalize(st);
        return lib->err.rc;
    }
    snprintf(key, sizeof key, "%lld", (long long)pid);
    while (rc == SHELF_OK && sqlite3_step(st) == SQLITE_ROW) {
        int64_t jid = sqlite3_column_int64(st, 0);
        json_t *doc = NULL;

        if ((rc = load_version(lib, SHELF_DOC_PROJECT, jid, sqlite3_column_int64(st, 1), &doc, NULL)) != SHELF_OK)
            break;
        if (json_object_get(json_object_get(doc, "patches"), key)) {
            sqlite3_bind_int64(ins, 1, jid);
            sqlite3_bind_int64(ins, 2, pid);
            if (sqlite3_step(ins) != SQLITE_DONE)
                rc = shelf__dberr(lib, "cannot link document");
            sqlite3_reset(ins);
        }
        json_decref(doc);
    }
    sqlite3_finalize(ins);
    sqlite3_finalize(st);
    return rc;
}

/*
 * Undo the newest removal when no change came after it: the item comes
 * back under its id with its history, links and metadata.  SHELF_DONE
 * when the newest change (version row id newest_change) is newer.
 */
/* The two numbers of a REMOVED_FMT text: 0, or -1 when it is not one. */
static int parse_removed(const char *s, long long *head, long long *last)
{
    static const char pre[] = "removed (version ", mid[] = ", change ";
    char *end;

    if (!s || strncmp(s, pre, sizeof pre - 1) != 0)
        return -1;
    errno = 0;
    *head = strtoll(s + sizeof pre - 1, &end, 10);
    if (errno != 0 || strncmp(end, mid, sizeof mid - 1) != 0)
        return -1;
    *last = strtoll(end + sizeof mid - 1, &end, 10);
    return errno == 0 && strcmp(end, ")") == 0 ? 0 : -1;
}

static int undo_removal(shelf_library *lib, int64_t newest_change, char **what)
{
    sqlite3_stmt *st;
    json_t *doc = NULL;
    long long head = 0, last = 0;
    int64_t id = 0;
    int kind = 0, rc;
    char sql[96];

    st = shelf__prepare(lib,
        "SELECT a.kind, a.item_id, a.detail FROM audit_log a\n"
        "WHERE a.action = 'remove' AND a.kind IN (2, 3)\n"
        "  AND EXISTS (SELECT 1 FROM doc_versions v WHERE v.kind = -a.kind AND v.item_id = a.item_id)\n"
        "  AND NOT EXISTS (SELECT 1 FROM patches WHERE a.kind = 2 AND id = a.item_id)\n"
        "  AND NOT EXISTS (SELECT 1 FROM projects WHERE a.kind = 3 AND id = a.item_id)\n"
        "ORDER BY a.id DESC LIMIT 1");
    if (!st)
        return lib->err.rc;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        kind = sqlite3_column_int(st, 0);
        id = sqlite3_column_int64(st, 1);
        if (parse_removed((const char *)sqlite3_column_text(st, 2), &head, &last) != 0)
            head = 0;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW || head <= 0 || (newest_change && newest_change > last))
        return rc == SQLITE_ROW || rc == SQLITE_DONE ? SHELF_DONE : shelf__dberr(lib, "cannot read history");
    if ((rc = shelf__begin(lib)) != SHELF_OK)
        return rc;
    snprintf(sql, sizeof sql, "INSERT INTO %s(id, name, created) VALUES(?1, '', unixepoch())",
             table_of(kind));
    if ((rc = exec_id(lib, sql, id)) != SHELF_OK)
        goto fail;
    snprintf(sql, sizeof sql, "UPDATE doc_versions SET kind = %d WHERE kind = %d AND item_id = ?1",
             kind, -kind);
    if ((rc = exec_id(lib, sql, id)) != SHELF_OK ||
        (rc = load_version(lib, kind, id, head, &doc, NULL)) != SHELF_OK ||
        (rc = mirror(lib, kind, id, doc, head)) != SHELF_OK ||
        (kind == SHELF_DOC_PATCH && (rc = relink_projects(lib, id)) != SHELF_OK) ||
        (rc = audit(lib, "undo-remove", kind, id, "brought back by undo")) != SHELF_OK)
        goto fail;
    if ((rc = shelf__commit(lib)) != SHELF_OK)
        goto fail;
    if (!(*what = shelf__asprintf("%s %lld (%s): removal undone; at version %lld", noun_of(kind),
                                  (long long)id, str_or_null(doc, "name") ? str_or_null(doc, "name") : "",
                                  head)))
        rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    json_decref(doc);
    return rc;
fail:
    json_decref(doc);
    shelf__rollback(lib);
    return rc;
}

int shelf_undo(shelf_library *lib, char **what)
{
    sqlite3_stmt *st;
    json_t *doc = NULL;
    int64_t id = 0, seq = 0, parent = 0, newseq, vid = 0;
    int kind = 0, rc;
    char *msg = NULL, *oldmsg = NULL, *name = NULL;

    *what = NULL;
    /* The newest change (not a creation, not itself an undo) of an item that
     * still exists, that no later version undid. */
    st = shelf__prepare(lib,
        "SELECT v.kind, v.item_id, v.seq, v.parent, v.message,\n"
        "  coalesce((SELECT name FROM patches WHERE v.kind = 2 AND id = v.item_id),\n"
        "           (SELECT name FROM projects WHERE v.kind = 3 AND id = v.item_id)), v.id\n"
        "FROM doc_versions v\n"
        "WHERE v.parent IS NOT NULL AND v.undoes IS NULL\n"
        "  AND NOT EXISTS (SELECT 1 FROM doc_versions u WHERE u.kind = v.kind\n"
        "                  AND u.item_id = v.item_id AND u.undoes = v.seq)\n"
        "  AND (v.kind = 2 AND v.item_id IN (SELECT id FROM patches)\n"
        "       OR v.kind = 3 AND v.item_id IN (SELECT id FROM projects))\n"
        "ORDER BY v.id DESC LIMIT 1");
    if (!st)
        return lib->err.rc;
    if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        kind = sqlite3_column_int(st, 0);
        id = sqlite3_column_int64(st, 1);
        seq = sqlite3_column_int64(st, 2);
        parent = sqlite3_column_int64(st, 3);
        oldmsg = shelf__strdup((const char *)sqlite3_column_text(st, 4));
        name = shelf__strdup((const char *)sqlite3_column_text(st, 5));
        vid = sqlite3_column_int64(st, 6);
        rc = oldmsg && name ? SHELF_OK : shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    } else {
        rc = rc == SQLITE_DONE ? SHELF_DONE : shelf__dberr(lib, "cannot read history");
    }
    sqlite3_finalize(st);
    /* A removal newer than the newest change is undone first. */
    if (rc == SHELF_OK || rc == SHELF_DONE) {
        int r = undo_removal(lib, vid, what);

        if (r != SHELF_DONE) {
            rc = r;
            goto out;
        }
    }
    if (rc != SHELF_OK)
        goto out;
    if ((rc = load_version(lib, kind, id, parent, &doc, NULL)) != SHELF_OK)
        goto out;
    if (!(msg = shelf__asprintf("undo %lld: %s", (long long)seq, oldmsg))) {
        rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    /* An undo version is stored even when the head already equals the
     * parent (reverted by hand), so the next undo goes further back. */
    rc = commit_doc(lib, kind, id, doc, 0, 0, seq, msg, &newseq);
    if (rc == SHELF_OK &&
        !(*what = shelf__asprintf("%s %lld (%s): undid version %lld (%s); now at version %lld",
                                  noun_of(kind), (long long)id, name, (long long)seq, oldmsg,
                                  (long long)newseq)))
        rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
out:
    json_decref(doc);
    free(msg);
    free(oldmsg);
    free(name);
    return rc;
}

int shelf_doc_undo(shelf_library *lib, int kind, int64_t id, int64_t *undone, int64_t *newseq)
{
    sqlite3_stmt *st;
    json_t *doc = NULL;
    int64_t seq = 0, parent = 0, ns = 0;
    char *msg = NULL;
    int rc;

    *undone = 0;
    if (newseq)
        *newseq = 0;
    if ((rc = check_kind(lib, kind)) != SHELF_OK || (rc = item_exists(lib, kind, id, NULL)) != SHELF_OK)
        return rc;
    /* shelf_undo's choice, within the item. */
    st = shelf__prepare(lib,
        "SELECT v.seq, v.parent, v.message FROM doc_versions v\n"
        "WHERE v.kind = ?1 AND v.item_id = ?2 AND v.parent IS NOT NULL AND v.undoes IS NULL\n"
        "  AND NOT EXISTS (SELECT 1 FROM doc_versions u WHERE u.kind = v.kind\n"
        "                  AND u.item_id = v.item_id AND u.undoes = v.seq)\n"
        "ORDER BY v.id DESC LIMIT 1");
    if (!st)
        return lib->err.rc;
    sqlite3_bind_int(st, 1, kind);
    sqlite3_bind_int64(st, 2, id);
    if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        seq = sqlite3_column_int64(st, 0);
        parent = sqlite3_column_int64(st, 1);
        msg = shelf__asprintf("undo %lld: %s", (long long)seq, (const char *)sqlite3_column_text(st, 2));
        rc = msg ? SHELF_OK : shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    } else {
        rc = rc == SQLITE_DONE ? SHELF_DONE : shelf__dberr(lib, "cannot read history");
    }
    sqlite3_finalize(st);
    if (rc != SHELF_OK)
        goto out;
    *undone = seq;
    if (!newseq)
        goto out;
    if ((rc = load_version(lib, kind, id, parent, &doc, NULL)) != SHELF_OK)
        goto out;
    /* stored even when the head equals the parent, as shelf_undo does */
    if ((rc = commit_doc(lib, kind, id, doc, 0, 0, seq, msg, &ns)) == SHELF_OK)
        *newseq = ns;
out:
    json_decref(doc);
    free(msg);
    return rc;
}

/* ---- Items ------------------------------------------------------------------ */

int shelf_doc_remove(shelf_library *lib, int kind, int64_t id, int flags)
{
    sqlite3_stmt *st = NULL;
    char sql[256], detail[96];
    int64_t head, users = 0, last = 0;
    int rc;

    if ((rc = check_kind(lib, kind)) != SHELF_OK || (rc = item_exists(lib, kind, id, &head)) != SHELF_OK)
        return rc;
    if ((rc = shelf__begin(lib)) != SHELF_OK)
        return rc;
    if (kind == SHELF_DOC_PATCH && !(flags & SHELF_REMOVE_FORCE)) {
        if (!(st = shelf__prepare(lib, "SELECT count(*) FROM project_patches WHERE patch_id = ?1"))) {
            rc = lib->err.rc;
            goto fail;
        }
        sqlite3_bind_int64(st, 1, id);
        users = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
        sqlite3_finalize(st);
        st = NULL;
        if (users) {
            rc = shelf__seterr(&lib->err, SHELF_EINUSE, "patch %lld is used by %lld project%s",
                               (long long)id, (long long)users, users == 1 ? "" : "s");
            goto fail;
        }
    }
    if (kind == SHELF_DOC_PROJECT && !(flags & SHELF_REMOVE_FORCE)) {
        /* an archived project's freed samples live only in its archive:
         * the record of where goes with the project */
        if (!(st = shelf__prepare(lib, "SELECT count(*) FROM archived_samples a JOIN samples s ON s.id = "
                                       "a.sample_id WHERE a.project_id = ?1 AND s.missing = 2"))) {
            rc = lib->err.rc;
            goto fail;
        }
        sqlite3_bind_int64(st, 1, id);
        users = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
        sqlite3_finalize(st);
        st = NULL;
        if (users) {
            rc = shelf__seterr(&lib->err, SHELF_EINUSE, "project %lld is archived and %lld of its samples are "
                               "only in its archive: shelf project unarchive %lld first",
                               (long long)id, (long long)users, (long long)id);
            goto fail;
        }
    }
    /* The history is parked under the negated kind (which nothing reads)
     * rather than deleted, so shelf_undo can bring the item back; the
     * newest change so far orders the removal among changes. */
    if (!(st = shelf__prepare(lib, "SELECT coalesce(max(id), 0) FROM doc_versions"))) {
        rc = lib->err.rc;
        goto fail;
    }
    last = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    st = NULL;
    /* sync logs the removal of the item its first version names
     * (doc/sync.md), in this transaction as the catalog's triggers do */
    snprintf(sql, sizeof sql, "INSERT INTO change_queue(ms, item, field, value) SELECT "
             "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER), '%c:' || hash, '.', "
             "'null' FROM doc_versions WHERE kind = %d AND item_id = ?1 ORDER BY seq LIMIT 1",
             kind == SHELF_DOC_PATCH ? 'p' : 'j', kind);
    if ((rc = exec_id(lib, sql, id)) != SHELF_OK)
        goto fail;
    if (!(flags & SHELF_REMOVE_PURGE)) {
        snprintf(sql, sizeof sql, "UPDATE doc_versions SET kind = %d WHERE kind = %d AND item_id = ?1",
                 -kind, kind);
        if ((rc = exec_id(lib, sql, id)) != SHELF_OK)
            goto fail;
    }
    snprintf(sql, sizeof sql, "DELETE FROM %s WHERE id = ?1", table_of(kind));
    snprintf(detail, sizeof detail, REMOVED_FMT, (long long)head, (long long)last);
    if ((rc = exec_id(lib, sql, id)) != SHELF_OK ||
        (!(flags & SHELF_REMOVE_PURGE) && (rc = audit(lib, "remove", kind, id, detail)) != SHELF_OK))
        goto fail;
    return shelf__commit(lib);
fail:
    sqlite3_finalize(st);
    shelf__rollback(lib);
    return rc;
}

int shelf_doc_touch(shelf_library *lib, int kind, int64_t id)
{
    char sql[80];
    int rc;

    if ((rc = check_kind(lib, kind)) != SHELF_OK || (rc = item_exists(lib, kind, id, NULL)) != SHELF_OK)
        return rc;
    snprintf(sql, sizeof sql, "UPDATE %s SET last_used = unixepoch() WHERE id = ?1", table_of(kind));
    return exec_id(lib, sql, id);
}

static const char *col_text(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

int shelf_doc_list(shelf_library *lib, int kind, shelf_docinfo_cb cb, void *ud)
{
    sqlite3_stmt *st;
    shelf_docinfo d;
    int rc;

    if ((rc = check_kind(lib, kind)) != SHELF_OK)
        return rc;
    st = shelf__prepare(lib, kind == SHELF_DOC_PATCH
        ? "SELECT id, name, author, category, format, version, created, coalesce(modified, 0),\n"
          "  coalesce(last_used, 0), 0.0,\n"
          "  (SELECT count(*) FROM patch_samples WHERE patch_id = id), 0\n"
          "FROM patches ORDER BY name COLLATE NOCASE, id"
        : "SELECT id, name, NULL, NULL, NULL, version, created, coalesce(modified, 0),\n"
          "  coalesce(last_used, 0), coalesce(tempo, 0),\n"
          "  (SELECT count(*) FROM project_patches WHERE project_id = id) +\n"
          "  (SELECT count(*) FROM project_samples WHERE project_id = id),\n"
          "  coalesce((SELECT archived FROM project_archives WHERE project_id = id AND\n"
          "    state = 'archived'), 0)\n"
          "FROM projects ORDER BY name COLLATE NOCASE, id");
    if (!st)
        return lib->err.rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        d.kind = kind;
        d.id = sqlite3_column_int64(st, 0);
        d.name = col_text(st, 1);
        d.author = col_text(st, 2);
        d.category = col_text(st, 3);
        d.format = col_text(st, 4);
        d.version = sqlite3_column_int64(st, 5);
        d.created = sqlite3_column_int64(st, 6);
        d.modified = sqlite3_column_int64(st, 7);
        d.last_used = sqlite3_column_int64(st, 8);
        d.tempo = sqlite3_column_double(st, 9);
        d.refs = sqlite3_column_int64(st, 10);
        d.archived = sqlite3_column_int64(st, 11);
        if (cb(ud, &d) != 0) {
            sqlite3_finalize(st);
            return SHELF_ECANCELED;
        }
    }
    rc = rc == SQLITE_DONE ? SHELF_OK : shelf__dberr(lib, "cannot list documents");
    sqlite3_finalize(st);
    return rc;
}

int shelf_refs(shelf_library *lib, int kind, int64_t id, shelf_ref_cb cb, void *ud)
{
    static const char *const sql[] = {
        /* of a sample: who uses it */
        "SELECT 2, p.id, p.name, 0 FROM patch_samples l JOIN patches p ON p.id = l.patch_id\n"
        "  WHERE l.sample_id = ?1\n"
        "UNION ALL SELECT 3, j.id, j.name, 0 FROM project_samples l\n"
        "  JOIN projects j ON j.id = l.project_id WHERE l.sample_id = ?1 ORDER BY 1, 2",
        /* of a patch: what it uses, who uses it */
        "SELECT 1, s.id, s.name, 1 FROM patch_samples l JOIN samples s ON s.id = l.sample_id\n"
        "  WHERE l.patch_id = ?1\n"
        "UNION ALL SELECT 3, j.id, j.name, 0 FROM project_patches l\n"
        "  JOIN projects j ON j.id = l.project_id WHERE l.patch_id = ?1 ORDER BY 4 DESC, 1, 2",
        /* of a project: what it uses */
        "SELECT 2, p.id, p.name, 1 FROM project_patches l JOIN patches p ON p.id = l.patch_id\n"
        "  WHERE l.project_id = ?1\n"
        "UNION ALL SELECT 1, s.id, s.name, 1 FROM project_samples l\n"
        "  JOIN samples s ON s.id = l.sample_id WHERE l.project_id = ?1 ORDER BY 1 DESC, 2",
    };
    sqlite3_stmt *st;
    int rc;

    if (kind < 1 || kind > 3)
        return shelf__seterr(&lib->err, SHELF_EINVAL, "invalid item kind %d", kind);
    if (kind == 1) {
        if (!(st = shelf__prepare(lib, "SELECT 1 FROM samples WHERE id = ?1")))
            return lib->err.rc;
        sqlite3_bind_int64(st, 1, id);
        rc = sqlite3_step(st);
        sqlite3_finalize(st);
        if (rc != SQLITE_ROW)
            return shelf__seterr(&lib->err, SHELF_ENOTFOUND, "no sample with id %lld", (long long)id);
    } else if ((rc = item_exists(lib, kind, id, NULL)) != SHELF_OK) {
        return rc;
    }
    if (!(st = shelf__prepare(lib, sql[kind - 1])))
        return lib->err.rc;
    sqlite3_bind_int64(st, 1, id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (cb(ud, sqlite3_column_int(st, 0), sqlite3_column_int64(st, 1), col_text(st, 2),
               sqlite3_column_int(st, 3)) != 0) {
            sqlite3_finalize(st);
            return SHELF_ECANCELED;
        }
    rc = rc == SQLITE_DONE ? SHELF_OK : shelf__dberr(lib, "cannot read references");
    sqlite3_finalize(st);
    return rc;
}

/* ---- Whole histories (archives, restores) ------------------------------------ */

int shelf_doc_export(shelf_library *lib, int kind, int64_t id, char **json)
{
    sqlite3_stmt *st = NULL;
    json_t *out = NULL, *versions, *doc = NULL, *v;
    int64_t head;
    char *text;
    int rc;

    *json = NULL;
    if ((rc = check_kind(lib, kind)) != SHELF_OK || (rc = item_exists(lib, kind, id, &head)) != SHELF_OK)
        return rc;
    if (!(versions = json_array()) ||
        !(out = json_pack("{s:i, s:s, s:I, s:I, s:o}", "shelf_history", 1, "kind", noun_of(kind),
                          "id", (json_int_t)id, "head", (json_int_t)head, "versions", versions))) {
        rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    st = shelf__prepare(lib,
        "SELECT seq, hash, parent, parent2, time, device, message, undoes FROM doc_versions\n"
        "WHERE kind = ?1 AND item_id = ?2 ORDER BY seq");
    if (!st) {
        rc = lib->err.rc;
        goto out;
    }
    sqlite3_bind_int(st, 1, kind);
    sqlite3_bind_int64(st, 2, id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t seq = sqlite3_column_int64(st, 0);
        char *dtext;

        if ((rc = load_version(lib, kind, id, seq, &doc, NULL)) != SHELF_OK)
            goto out;
        dtext = shelf__doc_dump(doc, NULL);
        json_decref(doc);
        doc = NULL;
        if (!dtext) {
            rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
            goto out;
        }
        rc = shelf__json_parse(&lib->err, SHELF_ECORRUPT, "document version", dtext, strlen(dtext),
                               0, &doc);
        free(dtext);
        if (rc != SHELF_OK)
            goto out;
        /* The document is set on its own, so it is freed exactly once
         * whichever step fails (json_object_set_new takes it either way). */
        v = json_pack("{s:I, s:s, s:I, s:s, s:s}", "seq", (json_int_t)seq, "hash",
                      (const char *)sqlite3_column_text(st, 1), "time",
                      (json_int_t)sqlite3_column_int64(st, 4), "device",
                      (const char *)sqlite3_column_text(st, 5), "message",
                      (const char *)sqlite3_column_text(st, 6));
        if (!v || json_object_set_new(v, "document", doc) != 0) {
            if (!v)
                json_decref(doc);
            doc = NULL;
            json_decref(v);
            rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
            goto out;
        }
        doc = NULL;
        if ((sqlite3_column_type(st, 2) != SQLITE_NULL &&
             json_object_set_new(v, "parent", json_integer(sqlite3_column_int64(st, 2))) != 0) ||
            (sqlite3_column_type(st, 3) != SQLITE_NULL &&
             json_object_set_new(v, "parent2", json_integer(sqlite3_column_int64(st, 3))) != 0) ||
            (sqlite3_column_type(st, 7) != SQLITE_NULL &&
             json_object_set_new(v, "undoes", json_integer(sqlite3_column_int64(st, 7))) != 0)) {
            json_decref(v);
            rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
            goto out;
        }
        if (json_array_append_new(versions, v) != 0) {     /* takes v either way */
            rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
            goto out;
        }
    }
    if (rc != SQLITE_DONE) {
        rc = shelf__dberr(lib, "cannot read history");
        goto out;
    }
    if (!(text = shelf__json_text(out, 1)) || !(*json = shelf__strdup(text)))
        rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    else
        rc = SHELF_OK;
    free(text);
out:
    sqlite3_finalize(st);
    json_decref(doc);
    json_decref(out);
    return rc;
}

static int bad_history(shelf_library *lib, const char *why, int64_t seq)
{
    if (seq)
        return shelf__seterr(&lib->err, SHELF_EFORMAT, "invalid history: version %lld: %s",
                             (long long)seq, why);
    return shelf__seterr(&lib->err, SHELF_EFORMAT, "invalid history: %s", why);
}

/*
 * The item of kind whose first version has hash first and whose head has
 * hash head (NULL: whose first version or head has hash first), or 0.
 */
static int64_t find_same(shelf_library *lib, int kind, const char *first, const char *head)
{
    char sql[400];
    sqlite3_stmt *st;
    int64_t id = 0;

    snprintf(sql, sizeof sql,
             "SELECT v.item_id FROM doc_versions v JOIN %s p ON p.id = v.item_id\n"
             "  JOIN doc_versions w ON w.kind = v.kind AND w.item_id = v.item_id AND w.seq = p.version\n"
             "WHERE v.kind = ?1 AND ((v.seq = 1 AND v.hash = ?2 AND w.hash = coalesce(?3, w.hash))\n"
             "  OR (?3 IS NULL AND w.hash = ?2)) ORDER BY v.item_id LIMIT 1", table_of(kind));
    if (!(st = shelf__prepare(lib, sql)))
        return -1;
    sqlite3_bind_int(st, 1, kind);
    sqlite3_bind_text(st, 2, first, -1, SQLITE_STATIC);
    if (head)
        sqlite3_bind_text(st, 3, head, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        id = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return id;
}

int shelf__doc_find_same(shelf_library *lib, int kind, json_t *doc, int64_t *id)
{
    char hash[SHELF_HASH_HEX], *text;
    int rc;

    *id = 0;
    if ((rc = check_kind(lib, kind)) != SHELF_OK || (rc = shelf__doc_check(doc, kind, &lib->err)) != SHELF_OK)
        return rc;
    if (!(text = shelf__doc_dump(doc, hash)))
        return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    free(text);
    if ((*id = find_same(lib, kind, hash, NULL)) < 0) {
        *id = 0;
        return lib->err.rc;
    }
    return SHELF_OK;
}

int shelf_doc_import(shelf_library *lib, const char *json, int flags, int *kind_out, int64_t *id)
{
    json_t *h = NULL, *versions, *v, *doc = NULL, *pdoc = NULL;
    sqlite3_stmt *st = NULL;
    const char *k;
    int64_t prev = 0, head, seq;
    size_t i;
    int kind, rc = SHELF_OK, began = 0;
    char sql[96];

    *id = 0;
    if (!json)
        return shelf__seterr(&lib->err, SHELF_EFORMAT, "invalid history: none given");
    if ((rc = shelf__json_parse(&lib->err, SHELF_EFORMAT, "history", json, strlen(json),
                                JSON_REJECT_DUPLICATES, &h)) != SHELF_OK)
        return rc;
    k = json_string_value(json_object_get(h, "kind"));
    versions = json_object_get(h, "versions");
    head = json_integer_value(json_object_get(h, "head"));
    if (json_integer_value(json_object_get(h, "shelf_history")) != 1) {
        rc = bad_history(lib, "not a shelf history of format 1", 0);
        goto out;
    }
    if (!k || (strcmp(k, "patch") != 0 && strcmp(k, "project") != 0)) {
        rc = bad_history(lib, "kind must be patch or project", 0);
        goto out;
    }
    kind = !strcmp(k, "patch") ? SHELF_DOC_PATCH : SHELF_DOC_PROJECT;
    if (!json_is_array(versions) || json_array_size(versions) == 0) {
        rc = bad_history(lib, "no versions", 0);
        goto out;
    }
    if ((rc = shelf__begin(lib)) != SHELF_OK)
        goto out;
    began = 1;
    snprintf(sql, sizeof sql, "INSERT INTO %s(name, created) VALUES('', ?1) RETURNING id",
             table_of(kind));
    if (!(st = shelf__prepare(lib, sql))) {
        rc = lib->err.rc;
        goto out;
    }
    sqlite3_bind_int64(st, 1, shelf__now());
    if (sqlite3_step(st) != SQLITE_ROW) {
        rc = shelf__dberr(lib, "cannot create document");
        goto out;
    }
    *id = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    st = NULL;
    /* Versions in seq order, each checked against its hash, each parent
     * already there; stored as this library would store them. */
    json_array_foreach(versions, i, v) {
        json_t *d = json_object_get(v, "document");
        const char *hash = json_string_value(json_object_get(v, "hash"));
        const char *device = json_string_value(json_object_get(v, "device"));
        const char *message = json_string_value(json_object_get(v, "message"));
        int64_t p1 = json_integer_value(json_object_get(v, "parent"));
        int64_t p2 = json_integer_value(json_object_get(v, "parent2"));
        int64_t undoes = json_integer_value(json_object_get(v, "undoes"));
        char got[SHELF_HASH_HEX], *text;
        vmeta meta;
        vrow prow;

        seq = json_integer_value(json_object_get(v, "seq"));
        if (seq != prev + 1 || !hash || !device || !json_is_integer(json_object_get(v, "time")) ||
            p1 < 0 || p1 >= seq || p2 < 0 || p2 >= seq || undoes < 0 || undoes >= seq ||
            (seq > 1 && !p1)) {
            rc = bad_history(lib, "bad seq, parents, hash, time or device", seq);
            goto out;
        }
        prev = seq;
        if (!d) {
            rc = bad_history(lib, "no document", seq);
            goto out;
        }
        if (!(doc = json_deep_copy(d))) {
            rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
            goto out;
        }
        if (shelf__doc_check(doc, kind, &lib->err) != SHELF_OK) {
            char why[sizeof lib->err.msg];

            snprintf(why, sizeof why, "%s", lib->err.msg);
            rc = bad_history(lib, why, seq);
            goto out;
        }
        if (!(text = shelf__doc_dump(doc, got))) {
            rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
            goto out;
        }
        free(text);
        text = NULL;
        if (strcmp(got, hash) != 0) {
            rc = shelf__seterr(&lib->err, SHELF_ECORRUPT,
                               "invalid history: version %lld does not match its hash", (long long)seq);
            goto out;
        }
        meta.seq = seq;
        meta.time = json_integer_value(json_object_get(v, "time"));
        meta.device = device;
        if (p1 && (rc = load_version(lib, kind, *id, p1, &pdoc, &prow)) != SHELF_OK)
            goto out;
        rc = store_version_as(lib, kind, *id, doc, p1 ? &prow : NULL, pdoc, p2, undoes,
                              message ? message : "", &meta, &seq);
        json_decref(pdoc);
        pdoc = NULL;
        json_decref(doc);
        doc = NULL;
        if (rc != SHELF_OK)
            goto out;
    }
    /* The head named by the history, mirrored. */
    if (head < 1 || head > prev) {
        rc = bad_history(lib, "head is not one of its versions", 0);
        goto out;
    }
    /* Imported before (the same first version and head; checked only now
     * that every version matched its hash): nothing new, "unchanged". */
    if (!(flags & SHELF_DOC_IMPORT_AS_NEW)) {
        const char *first = json_string_value(json_object_get(json_array_get(versions, 0), "hash"));
        const char *last = json_string_value(json_object_get(json_array_get(versions, (size_t)head - 1), "hash"));
        int64_t same = find_same(lib, kind, first, last);

        if (same < 0) {
            rc = lib->err.rc;
            goto out;
        }
        if (same > 0 && same != *id) {
            shelf__rollback(lib);
            *id = same;
            if (kind_out)
                *kind_out = kind;
            json_decref(doc);
            json_decref(h);
            return SHELF_DONE;
        }
    }
    if ((rc = load_version(lib, kind, *id, head, &doc, NULL)) != SHELF_OK ||
        (rc = mirror(lib, kind, *id, doc, head)) != SHELF_OK)
        goto out;
    if ((rc = audit(lib, "import", kind, *id, "history imported")) != SHELF_OK)
        goto out;
    rc = shelf__commit(lib);
    began = 0;
    if (rc == SHELF_OK && kind_out)
        *kind_out = kind;
out:
    if (began)
        shelf__rollback(lib);
    if (rc != SHELF_OK)
        *id = 0;
    sqlite3_finalize(st);
    json_decref(doc);
    json_decref(pdoc);
    json_decref(h);
    return rc;
}

/* ---- For sync (lib/sync/docs.c) --------------------------------------------- */

int shelf__doc_load_seq(shelf_library *lib, int kind, int64_t id, int64_t seq, json_t **doc)
{
    return load_version(lib, kind, id, seq, doc, NULL);
}

int shelf__doc_store_synced(shelf_library *lib, int kind, int64_t id, json_t *doc, int64_t parent,
                            int64_t parent2, int64_t time, const char *device,
                            const char *message, int64_t *seq)
{
    json_t *pdoc = NULL;
    sqlite3_stmt *st;
    vmeta meta;
    vrow prow;
    int rc;

    *seq = 0;
    if (!(st = shelf__prepare(lib, "SELECT coalesce(max(seq), 0) + 1 FROM doc_versions\n"
                                   "WHERE kind = ?1 AND item_id = ?2")))
        return lib->err.rc;
    if (sqlite3_bind_int(st, 1, kind) != SQLITE_OK || sqlite3_bind_int64(st, 2, id) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        return shelf__dberr(lib, "cannot store version");
    }
    meta.seq = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    meta.time = time;
    meta.device = device;
    if (parent && (rc = load_version(lib, kind, id, parent, &pdoc, &prow)) != SHELF_OK)
        return rc;
    rc = store_version_as(lib, kind, id, doc, parent ? &prow : NULL, pdoc, parent2, 0,
                          message ? message : "", &meta, seq);
    json_decref(pdoc);
    return rc;
}

int shelf__doc_mirror_seq(shelf_library *lib, int kind, int64_t id, int64_t seq)
{
    json_t *doc = NULL;
    int rc;

    if ((rc = load_version(lib, kind, id, seq, &doc, NULL)) != SHELF_OK)
        return rc;
    rc = mirror(lib, kind, id, doc, seq);
    json_decref(doc);
    return rc;
}
