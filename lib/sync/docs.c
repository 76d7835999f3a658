/*
 * docs.c: document histories in the change log (doc/sync.md, "Document
 * histories"; doc/formats.md, "Migration 8").  Every version of a patch or
 * project is one record: item "p:<first hash>" or "j:<first hash>", field
 * "v:<version id>", value the version (parents by version id, content
 * hash, time, device, message, the canonical document).  A version id
 * depends only on the content and the parents, so two devices that make
 * the same merge make the same version.  Versions are a union: one
 * received is stored when missing, never replaced; after a batch, a
 * document with two heads is merged three-way, or marked conflicted when
 * both heads changed the same value.
 */
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include "sync_int.h"
#include "../patch/patch_int.h"

/* A record whose value is larger might not go in one frame: the value
 * travels as a JSON string, its quotes and backslashes escaped, so half a
 * frame leaves room for escaping every character once. */
#define DOC_RECORD_MAX (SHELF__WIRE_MAX / 2)

/* What a merge made on sync is signed with: the same on every device. */
#define MERGE_DEVICE "sync"
#define MERGE_MESSAGE "sync merge"

static int kind_of_item(const char *item)
{
    if (!strncmp(item, "p:", 2))
        return SHELF_DOC_PATCH;
    if (!strncmp(item, "j:", 2))
        return SHELF_DOC_PROJECT;
    return 0;
}

int shelf__docsync_is_version(const char *item, const char *field)
{
    return kind_of_item(item) != 0 && !strncmp(field, "v:", 2);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The version id of content hash with parents (version ids, any order). */
static void vid_make(const char *hash, const char **parents, size_t n, char out[SHELF_HASH_HEX])
{
    uint8_t sum[SHELF_HASH_BYTES];
    const char *p[2] = { NULL, NULL };
    size_t i;

    for (i = 0; i < n && i < 2; i++)
        p[i] = parents[i];
    if (n == 2 && p[0] && p[1] && strcmp(p[0], p[1]) > 0) {
        p[0] = parents[1];
        p[1] = parents[0];
    }
    {
        char text[32 + 3 * SHELF_HASH_HEX];

        snprintf(text, sizeof text, "shelf-version 1\n%s\n%s\n%s\n", hash, p[0] ? p[0] : "",
                 p[1] ? p[1] : "");
        shelf__sha256_mem(text, strlen(text), sum);
    }
    shelf__hex(sum, sizeof sum, out);
}

typedef struct vinfo {
    int kind;
    int64_t item_id, seq, parent, parent2, time;
    char hash[SHELF_HASH_HEX], vid[SHELF_HASH_HEX];
    char *device, *message;
} vinfo;

static void vinfo_free(vinfo *v)
{
    shelf_free(v->device);
    shelf_free(v->message);
    v->device = v->message = NULL;
}

/* The version (kind, item, seq) into *v (its vid "" when not made yet). */
static int vinfo_read(shelf_library *lib, int kind, int64_t item, int64_t seq, vinfo *v)
{
    sqlite3_stmt *st = shelf__prepare(lib,
        "SELECT coalesce(parent, 0), coalesce(parent2, 0), time, hash, coalesce(vid, ''), device,\n"
        "  message FROM doc_versions WHERE kind = ?1 AND item_id = ?2 AND seq = ?3");
    int rc = SHELF_OK, step;

    memset(v, 0, sizeof *v);
    if (!st)
        return lib->err.rc;
    if (sqlite3_bind_int(st, 1, kind) != SQLITE_OK || sqlite3_bind_int64(st, 2, item) != SQLITE_OK ||
        sqlite3_bind_int64(st, 3, seq) != SQLITE_OK) {
        sqlite3_finalize(st);
        return shelf__dberr(lib, "cannot read a document version");
    }
    if ((step = sqlite3_step(st)) == SQLITE_ROW) {
        v->kind = kind;
        v->item_id = item;
        v->seq = seq;
        v->parent = sqlite3_column_int64(st, 0);
        v->parent2 = sqlite3_column_int64(st, 1);
        v->time = sqlite3_column_int64(st, 2);
        snprintf(v->hash, sizeof v->hash, "%s", (const char *)sqlite3_column_text(st, 3));
        snprintf(v->vid, sizeof v->vid, "%s", (const char *)sqlite3_column_text(st, 4));
        if (!(v->device = shelf__strdup((const char *)sqlite3_column_text(st, 5))) ||
            !(v->message = shelf__strdup((const char *)sqlite3_column_text(st, 6))))
            rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    } else if (step == SQLITE_DONE) {
        rc = shelf__seterr(&lib->err, SHELF_ENOTFOUND, "document %lld has no version %lld",
                           (long long)item, (long long)seq);
    } else {
        rc = shelf__dberr(lib, "cannot read a document version");
    }
    sqlite3_finalize(st);
    if (rc != SHELF_OK)
        vinfo_free(v);
    return rc;
}

static int vid_store(shelf_library *lib, int kind, int64_t item, int64_t seq, const char *vid)
{
    sqlite3_stmt *st = shelf__prepare(lib, "UPDATE doc_versions SET vid = ?4 WHERE kind = ?1 AND "
                                           "item_id = ?2 AND seq = ?3");
    int rc = SHELF_OK;

    if (!st)
        return lib->err.rc;
    if (sqlite3_bind_int(st, 1, kind) != SQLITE_OK || sqlite3_bind_int64(st, 2, item) != SQLITE_OK ||
        sqlite3_bind_int64(st, 3, seq) != SQLITE_OK ||
        sqlite3_bind_text(st, 4, vid, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_DONE)
        rc = shelf__dberr(lib, "cannot write a version id");
    sqlite3_finalize(st);
    return rc;
}

/* The version id of (kind, item, seq) into vid, made (and kept) from its
 * parents' when missing.  Parents are logged first, so the recursion is
 * shallow but for a library whose versions were never logged. */
static int vid_of(shelf_library *lib, int kind, int64_t item, int64_t seq, char vid[SHELF_HASH_HEX],
                  int depth)
{
    char pv[2][SHELF_HASH_HEX];
    const char *ps[2] = { NULL, NULL };
    size_t n = 0;
    vinfo v;
    int rc;

    if (depth > 5000)
        return shelf__seterr(&lib->err, SHELF_ECORRUPT, "corrupt history of document %lld: "
                             "parents loop", (long long)item);
    if ((rc = vinfo_read(lib, kind, item, seq, &v)) != SHELF_OK)
        return rc;
    vinfo_free(&v);
    if (v.vid[0]) {
        memcpy(vid, v.vid, SHELF_HASH_HEX);
        return SHELF_OK;
    }
    if (v.parent && (rc = vid_of(lib, kind, item, v.parent, pv[n], depth + 1)) == SHELF_OK)
        ps[n] = pv[n], n++;
    if (rc == SHELF_OK && v.parent2 &&
        (rc = vid_of(lib, kind, item, v.parent2, pv[n], depth + 1)) == SHELF_OK)
        ps[n] = pv[n], n++;
    if (rc != SHELF_OK)
        return rc;
    vid_make(v.hash, ps, n, vid);
    return vid_store(lib, kind, item, seq, vid);
}

int shelf__docsync_value(shelf_library *lib, int64_t row, char **field, char **value)
{
    sqlite3_stmt *st;
    json_t *o = NULL, *doc = NULL, *parents = NULL, *cdoc = NULL;
    char vid[SHELF_HASH_HEX], pv[2][SHELF_HASH_HEX], *text = NULL;
    int kind = 0, rc, step;
    int64_t item = 0, seq = 0;
    vinfo v;

    *field = *value = NULL;
    memset(&v, 0, sizeof v);
    if (!(st = shelf__prepare(lib, "SELECT kind, item_id, seq FROM doc_versions WHERE id = ?1")))
        return lib->err.rc;
    if (sqlite3_bind_int64(st, 1, row) != SQLITE_OK) {
        sqlite3_finalize(st);
        return shelf__dberr(lib, "cannot read a document version");
    }
    step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        kind = sqlite3_column_int(st, 0);
        item = sqlite3_column_int64(st, 1);
        seq = sqlite3_column_int64(st, 2);
    }
    sqlite3_finalize(st);
    if (step == SQLITE_DONE)
        return SHELF_OK;        /* removed since: nothing to log */
    if (step != SQLITE_ROW)
        return shelf__dberr(lib, "cannot read a document version");
    if ((rc = vid_of(lib, kind, item, seq, vid, 0)) != SHELF_OK ||
        (rc = vinfo_read(lib, kind, item, seq, &v)) != SHELF_OK)
        return rc;
    if ((v.parent && (rc = vid_of(lib, kind, item, v.parent, pv[0], 0)) != SHELF_OK) ||
        (v.parent2 && (rc = vid_of(lib, kind, item, v.parent2, pv[1], 0)) != SHELF_OK) ||
        (rc = shelf__doc_load_seq(lib, kind, item, seq, &doc)) != SHELF_OK)
        goto out;
    rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    if (!(text = shelf__doc_dump(doc, NULL)) || !(cdoc = json_loads(text, 0, NULL)) ||
        !(parents = json_array()) || !(o = json_object()))
        goto out;
    {
        const char *ps[2] = { NULL, NULL };
        size_t n = 0, i;

        if (v.parent)
            ps[n++] = pv[0];
        if (v.parent2)
            ps[n++] = pv[1];
        if (n == 2)
            qsort(ps, n, sizeof ps[0], cmp_str);
        for (i = 0; i < n; i++)
            if (json_array_append_new(parents, json_string(ps[i])) != 0)
                goto out;
    }
    if (json_object_set_new(o, "parents", parents) != 0) {
        parents = NULL;
        goto out;
    }
    parents = NULL;
    if (json_object_set_new(o, "hash", json_string(v.hash)) != 0 ||
        json_object_set_new(o, "time", json_integer(v.time)) != 0 ||
        json_object_set_new(o, "device", json_string(v.device)) != 0 ||
        json_object_set_new(o, "message", json_string(v.message)) != 0)
        goto out;
    if (json_object_set_new(o, "doc", cdoc) != 0) {
        cdoc = NULL;
        goto out;
    }
    cdoc = NULL;
    if (!(*value = shelf__json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS)) ||
        !(*field = shelf__asprintf("v:%s", vid)))
        goto out;
    if (strlen(*value) > DOC_RECORD_MAX) {
        rc = shelf__seterr(&lib->err, SHELF_EINVAL, "version %lld of %s %lld is too big to sync "
                           "(%zu bytes in its record; at most %u)", (long long)seq,
                           kind == SHELF_DOC_PATCH ? "patch" : "project", (long long)item,
                           strlen(*value), DOC_RECORD_MAX);
        goto out;
    }
    rc = SHELF_OK;
out:
    if (rc != SHELF_OK) {
        free(*value);
        shelf_free(*field);
        *value = NULL;
        *field = NULL;
    }
    vinfo_free(&v);
    free(text);
    json_decref(doc);
    json_decref(cdoc);
    json_decref(parents);
    json_decref(o);
    return rc;
}

/* ---- Receiving --------------------------------------------------------------- */

/* The local item of kind whose first version has hash key, 0 when none. */
static int item_of(shelf_library *lib, int kind, const char *key, int64_t *id)
{
    sqlite3_stmt *st = shelf__prepare(lib,
        "SELECT item_id FROM doc_versions d WHERE kind = ?1 AND hash = ?2 AND seq =\n"
        "  (SELECT min(seq) FROM doc_versions WHERE kind = ?1 AND item_id = d.item_id)\n"
        "ORDER BY item_id LIMIT 1");
    int rc = SHELF_OK, step;

    *id = 0;
    if (!st)
        return lib->err.rc;
    if (sqlite3_bind_int(st, 1, kind) != SQLITE_OK ||
        sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC) != SQLITE_OK)
        rc = shelf__dberr(lib, "cannot read documents");
    else if ((step = sqlite3_step(st)) == SQLITE_ROW)
        *id = sqlite3_column_int64(st, 0);
    else if (step != SQLITE_DONE)
        rc = shelf__dberr(lib, "cannot read documents");
    sqlite3_finalize(st);
    return rc;
}

/* The seq of version vid in (kind, id), 0 when not held. */
static int seq_of(shelf_library *lib, int kind, int64_t id, const char *vid, int64_t *seq)
{
    sqlite3_stmt *st = shelf__prepare(lib, "SELECT seq FROM doc_versions WHERE kind = ?1 AND "
                                           "item_id = ?2 AND vid = ?3");
    int rc = SHELF_OK, step;

    *seq = 0;
    if (!st)
        return lib->err.rc;
    if (sqlite3_bind_int(st, 1, kind) != SQLITE_OK || sqlite3_bind_int64(st, 2, id) != SQLITE_OK ||
        sqlite3_bind_text(st, 3, vid, -1, SQLITE_STATIC) != SQLITE_OK)
        rc = shelf__dberr(lib, "cannot read documents");
    else if ((step = sqlite3_step(st)) == SQLITE_ROW)
        *seq = sqlite3_column_int64(st, 0);
    else if (step != SQLITE_DONE)
        rc = shelf__dberr(lib, "cannot read documents");
    sqlite3_finalize(st);
    return rc;
}

static int touch(shelf_library *lib, int kind, int64_t id)
{
    char sql[200];

    snprintf(sql, sizeof sql, "CREATE TEMP TABLE IF NOT EXISTS docsync_touched(kind INTEGER, "
             "item_id INTEGER, PRIMARY KEY(kind, item_id)); INSERT OR IGNORE INTO "
             "docsync_touched VALUES(%d, %lld)", kind, (long long)id);
    return shelf__exec(lib, sql);
}

/* A new item of kind named as doc's name: its id. */
static int item_new(shelf_library *lib, int kind, const json_t *doc, int64_t time, int64_t *id)
{
    sqlite3_stmt *st = shelf__prepare(lib, kind == SHELF_DOC_PATCH
        ? "INSERT INTO patches(name, created) VALUES(?1, ?2) RETURNING id"
        : "INSERT INTO projects(name, created) VALUES(?1, ?2) RETURNING id");
    const char *name = json_string_value(json_object_get(doc, "name"));
    int rc = SHELF_OK;

    if (!st)
        return lib->err.rc;
    if (sqlite3_bind_text(st, 1, name ? name : "", -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(st, 2, time) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW)
        rc = shelf__dberr(lib, "cannot create a document");
    else
        *id = sqlite3_column_int64(st, 0);
    if (rc == SHELF_OK && sqlite3_step(st) != SQLITE_DONE)
        rc = shelf__dberr(lib, "cannot create a document");
    sqlite3_finalize(st);
    return rc;
}

static int bad(shelf_library *lib, const shelf__change *c, const char *why)
{
    return shelf__seterr(&lib->err, SHELF_EFORMAT, "invalid version %.12s of %.14s from device "
                         "%.7s: %s", c->field + 2, c->item, c->device, why);
}

static int put_version(shelf_library *lib, const shelf__change *c, shelf__merge_stats *st,
                       int depth);

/* Store version vid of item again from its record in the log, when the log
 * holds it (else SHELF_OK, and the caller finds the parent missing). */
static int restore(shelf_library *lib, const char *item, const char *vid, shelf__merge_stats *st,
                   int depth)
{
    sqlite3_stmt *q;
    char *field = shelf__asprintf("v:%s", vid);
    int rc = SHELF_OK, step;

    if (!field)
        return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    if (depth >= 5000) {
        shelf_free(field);
        return shelf__seterr(&lib->err, SHELF_EFORMAT, "history of %.14s too deep to restore",
                             item);
    }
    if (!(q = shelf__prepare(lib, "SELECT device, counter, hlc, value FROM changes WHERE item = ?1 "
                                  "AND field = ?2 LIMIT 1"))) {
        shelf_free(field);
        return lib->err.rc;
    }
    if (sqlite3_bind_text(q, 1, item, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(q, 2, field, -1, SQLITE_STATIC) != SQLITE_OK) {
        rc = shelf__dberr(lib, "cannot read the change log");
    } else if ((step = sqlite3_step(q)) == SQLITE_ROW && sqlite3_column_text(q, 3)) {
        shelf__change c = { (const char *)sqlite3_column_text(q, 0), sqlite3_column_int64(q, 1),
                            (uint64_t)sqlite3_column_int64(q, 2), item, field,
                            (const char *)sqlite3_column_text(q, 3) };

        rc = put_version(lib, &c, st, depth + 1);
    } else if (step != SQLITE_DONE && step != SQLITE_ROW) {
        rc = shelf__dberr(lib, "cannot read the change log");
    }
    sqlite3_finalize(q);
    shelf_free(field);
    return rc;
}

int shelf__docsync_put(shelf_library *lib, const shelf__change *c, shelf__merge_stats *st)
{
    return put_version(lib, c, st, 0);
}

static int put_version(shelf_library *lib, const shelf__change *c, shelf__merge_stats *st,
                       int depth)
{
    int kind = kind_of_item(c->item);
    const char *vid = c->field + 2, *key = c->item + 2, *hash, *device, *message;
    const char *ps[2] = { NULL, NULL };
    json_t *o = NULL, *parents, *doc = NULL, *p;
    char got[SHELF_HASH_HEX], want[SHELF_HASH_HEX], *text;
    int64_t id = 0, seq = 0, pseq[2] = { 0, 0 }, time;
    size_t n, i;
    int rc;

    if (strlen(vid) != SHELF_HASH_HEX - 1 || !shelf__is_hash_hex(vid))
        return bad(lib, c, "not a version id");
    if ((rc = shelf__json_parse(&lib->err, SHELF_EFORMAT, "a version record", c->value,
                                strlen(c->value), 0, &o)) != SHELF_OK)
        return rc;
    parents = json_object_get(o, "parents");
    hash = json_string_value(json_object_get(o, "hash"));
    device = json_string_value(json_object_get(o, "device"));
    message = json_string_value(json_object_get(o, "message"));
    time = json_integer_value(json_object_get(o, "time"));
    n = json_array_size(parents);
    if (!json_is_array(parents) || n > 2 || !hash || !device || !message ||
        !json_is_integer(json_object_get(o, "time")) || !json_is_object(json_object_get(o, "doc"))) {
        rc = bad(lib, c, "missing or wrong members");
        goto out;
    }
    json_array_foreach(parents, i, p)
        if (!(ps[i] = json_string_value(p)) || !shelf__is_hash_hex(ps[i])) {
            rc = bad(lib, c, "a parent is not a version id");
            goto out;
        }
    vid_make(hash, ps, n, want);
    if (strcmp(want, vid) != 0) {
        rc = bad(lib, c, "its id does not match its hash and parents");
        goto out;
    }
    if (!(doc = json_deep_copy(json_object_get(o, "doc")))) {
        rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    if (shelf__doc_check(doc, kind, &lib->err) != SHELF_OK) {
        char why[sizeof lib->err.msg];

        snprintf(why, sizeof why, "%s", lib->err.msg);
        rc = bad(lib, c, why);
        goto out;
    }
    if (!(text = shelf__doc_dump(doc, got))) {
        rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    free(text);
    if (strcmp(got, hash) != 0) {
        rc = bad(lib, c, "the document does not match its hash");
        goto out;
    }
    if ((rc = item_of(lib, kind, key, &id)) != SHELF_OK)
        goto out;
    if (id && (rc = seq_of(lib, kind, id, vid, &seq)) != SHELF_OK)
        goto out;
    if (seq) {
        st->skipped++;          /* held already: histories are unions */
        goto out;
    }
    if (!id && depth == 0) {
        int saw = 0;

        /* removed here by a removal that had seen this version (it came
         * round by another device): it stays removed */
        if ((rc = shelf__removal_saw(lib, c, &saw)) != SHELF_OK)
            goto out;
        if (saw) {
            st->skipped++;
            goto out;
        }
    }
    if (!id && n == 0) {
        if (strcmp(hash, key) != 0) {
            rc = bad(lib, c, "a first version that does not name its document");
            goto out;
        }
        if ((rc = item_new(lib, kind, doc, time, &id)) != SHELF_OK)
            goto out;
    }
    for (i = 0; i < n; i++) {
        if (id && (rc = seq_of(lib, kind, id, ps[i], &pseq[i])) != SHELF_OK)
            goto out;
        if (pseq[i])
            continue;
        /* not held: removed here.  Its record is still in the log; a
         * change beats a removal, so the history comes back from it. */
        if ((rc = restore(lib, c->item, ps[i], st, depth)) != SHELF_OK ||
            (!id && (rc = item_of(lib, kind, key, &id)) != SHELF_OK) ||
            (id && (rc = seq_of(lib, kind, id, ps[i], &pseq[i])) != SHELF_OK))
            goto out;
        if (!pseq[i]) {
            rc = bad(lib, c, "a parent is missing");
            goto out;
        }
    }
    if ((rc = shelf__doc_store_synced(lib, kind, id, doc, pseq[0], pseq[1], time, device, message,
                                      &seq)) != SHELF_OK ||
        (rc = vid_store(lib, kind, id, seq, vid)) != SHELF_OK ||
        (rc = touch(lib, kind, id)) != SHELF_OK)
        goto out;
    st->applied++;
out:
    json_decref(doc);
    json_decref(o);
    return rc;
}

/* ---- Settling: merging heads --------------------------------------------------- */

typedef struct head {
    int64_t seq, time;
    char vid[SHELF_HASH_HEX];
} head;

/* The heads of (kind, id) (versions no other has as parent) by version id:
 * up to max into h, their count into *n. */
static int heads_of(shelf_library *lib, int kind, int64_t id, head *h, size_t max, size_t *n)
{
    sqlite3_stmt *st = shelf__prepare(lib,
        "SELECT seq, time, coalesce(vid, '') FROM doc_versions d WHERE kind = ?1 AND item_id = ?2\n"
        "  AND NOT EXISTS (SELECT 1 FROM doc_versions c WHERE c.kind = d.kind AND\n"
        "    c.item_id = d.item_id AND (c.parent = d.seq OR c.parent2 = d.seq))\n"
        "ORDER BY vid");
    int rc = SHELF_OK, step;

    *n = 0;
    if (!st)
        return lib->err.rc;
    if (sqlite3_bind_int(st, 1, kind) != SQLITE_OK || sqlite3_bind_int64(st, 2, id) != SQLITE_OK) {
        sqlite3_finalize(st);
        return shelf__dberr(lib, "cannot read a document's history");
    }
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n < max) {
            h[*n].seq = sqlite3_column_int64(st, 0);
            h[*n].time = sqlite3_column_int64(st, 1);
            snprintf(h[*n].vid, sizeof h[*n].vid, "%s", (const char *)sqlite3_column_text(st, 2));
        }
        (*n)++;
    }
    if (step != SQLITE_DONE)
        rc = shelf__dberr(lib, "cannot read a document's history");
    sqlite3_finalize(st);
    return rc;
}

static int audit(shelf_library *lib, const char *action, int kind, int64_t id, const char *detail)
{
    sqlite3_stmt *st = shelf__prepare(lib, "INSERT INTO audit_log(time, action, kind, item_id, "
                                           "detail) VALUES(?1, ?2, ?3, ?4, ?5)");
    int rc = SHELF_OK;

    if (!st)
        return lib->err.rc;
    if (sqlite3_bind_int64(st, 1, shelf__now()) != SQLITE_OK ||
        sqlite3_bind_text(st, 2, action, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int(st, 3, kind) != SQLITE_OK || sqlite3_bind_int64(st, 4, id) != SQLITE_OK ||
        sqlite3_bind_text(st, 5, detail, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_DONE)
        rc = shelf__dberr(lib, "cannot write the audit log");
    sqlite3_finalize(st);
    return rc;
}

/* Run sql on (kind, id) with ?3 = now; *changed: rows it changed. */
static int item_exec(shelf_library *lib, const char *sql, int kind, int64_t id, int *changed)
{
    sqlite3_stmt *st = shelf__prepare(lib, sql);
    int rc = SHELF_OK;

    if (!st)
        return lib->err.rc;
    if (sqlite3_bind_int(st, 1, kind) != SQLITE_OK || sqlite3_bind_int64(st, 2, id) != SQLITE_OK ||
        (sqlite3_bind_parameter_count(st) >= 3 &&
         sqlite3_bind_int64(st, 3, shelf__now()) != SQLITE_OK) ||
        sqlite3_step(st) != SQLITE_DONE)
        rc = shelf__dberr(lib, "cannot write a document's conflict");
    else if (changed)
        *changed = sqlite3_changes(lib->db);
    sqlite3_finalize(st);
    return rc;
}

/* Merge heads a and b (a's vid below b's): SHELF_OK with the new version
 * in *seq, or SHELF_ECONFLICT when both changed the same value. */
static int merge_two(shelf_library *lib, int kind, int64_t id, const head *a, const head *b,
                     int64_t *seq)
{
    shelf_merge *m = NULL;
    json_t *doc = NULL;
    char hash[SHELF_HASH_HEX], vid[SHELF_HASH_HEX], *text, *detail;
    const char *ps[2] = { a->vid, b->vid };
    int64_t base;
    int rc;

    *seq = 0;
    if ((rc = shelf__doc_merge_versions(lib, kind, id, a->seq, b->seq, &m, &base)) != SHELF_OK)
        return rc;
    if (shelf_merge_conflicts(m) > 0 || !(doc = shelf__merge_doc(m, &rc)) ||
        shelf__doc_kind(doc) != kind) {
        shelf_merge_free(m);
        json_decref(doc);
        return rc == SHELF_ENOMEM ? shelf__seterr(&lib->err, rc, "out of memory") : SHELF_ECONFLICT;
    }
    shelf_merge_free(m);
    if (!(text = shelf__doc_dump(doc, hash))) {
        json_decref(doc);
        return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    }
    free(text);
    vid_make(hash, ps, 2, vid);
    rc = shelf__doc_store_synced(lib, kind, id, doc, a->seq, b->seq,
                                 a->time > b->time ? a->time : b->time, MERGE_DEVICE,
                                 MERGE_MESSAGE, seq);
    json_decref(doc);
    if (rc != SHELF_OK || (rc = vid_store(lib, kind, id, *seq, vid)) != SHELF_OK)
        return rc;
    if (!(detail = shelf__asprintf("versions %lld and %lld merged as %lld (%.12s)",
                                   (long long)a->seq, (long long)b->seq, (long long)*seq, vid)))
        return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    rc = audit(lib, "sync-merge", kind, id, detail);
    shelf_free(detail);
    return rc;
}

/* Merge the heads of (kind, id) until one is left or two conflict; the
 * item rows mirror the head, or the latest head (time, then version id)
 * while conflicted. */
static int settle_one(shelf_library *lib, int kind, int64_t id)
{
    head h[3];
    size_t n, i, pick;
    int64_t seq;
    int rc, changed = 0;

    for (;;) {
        if ((rc = heads_of(lib, kind, id, h, 3, &n)) != SHELF_OK)
            return rc;
        if (n == 0)
            return SHELF_OK;
        if (n == 1) {
            if ((rc = item_exec(lib, "DELETE FROM doc_conflicts WHERE kind = ?1 AND item_id = ?2",
                                kind, id, NULL)) != SHELF_OK)
                return rc;
            return shelf__doc_mirror_seq(lib, kind, id, h[0].seq);
        }
        rc = merge_two(lib, kind, id, &h[0], &h[1], &seq);
        if (rc == SHELF_ECONFLICT)
            break;
        if (rc != SHELF_OK)
            return rc;
    }
    if ((rc = item_exec(lib, "INSERT OR IGNORE INTO doc_conflicts(kind, item_id, since) "
                             "VALUES(?1, ?2, ?3)", kind, id, &changed)) != SHELF_OK)
        return rc;
    if (changed) {
        char *detail = shelf__asprintf("versions %lld (%.12s) and %lld (%.12s) conflict",
                                       (long long)h[0].seq, h[0].vid, (long long)h[1].seq,
                                       h[1].vid);

        if (!detail)
            return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        rc = audit(lib, "sync-conflict", kind, id, detail);
        shelf_free(detail);
        if (rc != SHELF_OK)
            return rc;
    }
    for (pick = 0, i = 1; i < n && i < 3; i++)
        if (h[i].time > h[pick].time || (h[i].time == h[pick].time && strcmp(h[i].vid, h[pick].vid) > 0))
            pick = i;
    return shelf__doc_mirror_seq(lib, kind, id, h[pick].seq);
}

int shelf__docsync_settle(shelf_library *lib)
{
    sqlite3_stmt *st;
    int64_t *ids = NULL;
    int *kinds = NULL;
    size_t n = 0, cap = 0, i;
    int rc = SHELF_OK, step;

    if ((rc = shelf__exec(lib, "CREATE TEMP TABLE IF NOT EXISTS docsync_touched(kind INTEGER, "
                               "item_id INTEGER, PRIMARY KEY(kind, item_id))")) != SHELF_OK)
        return rc;
    if (!(st = shelf__prepare(lib, "SELECT kind, item_id FROM docsync_touched ORDER BY 1, 2")))
        return lib->err.rc;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            size_t nc = cap ? 2 * cap : 16;
            int64_t *ni = shelf__realloc(ids, nc * sizeof *ni);
            int *nk = ni ? shelf__realloc(kinds, nc * sizeof *nk) : NULL;

            if (ni)
                ids = ni;
            if (!nk) {
                rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
                break;
            }
            kinds = nk;
            cap = nc;
        }
        kinds[n] = sqlite3_column_int(st, 0);
        ids[n++] = sqlite3_column_int64(st, 1);
    }
    if (rc == SHELF_OK && step != SQLITE_DONE)
        rc = shelf__dberr(lib, "cannot read the documents to merge");
    sqlite3_finalize(st);
    for (i = 0; rc == SHELF_OK && i < n; i++)
        rc = settle_one(lib, kinds[i], ids[i]);
    if (rc == SHELF_OK)
        rc = shelf__exec(lib, "DELETE FROM docsync_touched");
    free(ids);
    free(kinds);
    return rc;
}

/* ---- Listing conflicts ------------------------------------------------------- */

int shelf_sync_conflicts(shelf_library *lib, int (*fn)(void *ud, const shelf_conflict *c), void *ud)
{
    sqlite3_stmt *st;
    int rc = SHELF_OK, step = SQLITE_DONE;

    if (!lib || !fn)
        return SHELF_EINVAL;
    st = shelf__prepare(lib,
        "SELECT c.kind, c.item_id, c.since, coalesce(p.name, j.name, ''),\n"
        "  coalesce(p.version, j.version) FROM doc_conflicts c\n"
        "  LEFT JOIN patches p ON c.kind = " SHELF__KIND_PATCH_SQL " AND p.id = c.item_id\n"
        "  LEFT JOIN projects j ON c.kind = " SHELF__KIND_PROJECT_SQL " AND j.id = c.item_id\n"
        "ORDER BY c.since, c.kind, c.item_id");
    if (!st)
        return lib->err.rc;
    while (rc == SHELF_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
        shelf_conflict c;
        head h[3];
        size_t n, i;

        memset(&c, 0, sizeof c);
        c.size = sizeof c;
        c.kind = sqlite3_column_int(st, 0);
        c.id = sqlite3_column_int64(st, 1);
        c.since = sqlite3_column_int64(st, 2);
        c.name = (const char *)sqlite3_column_text(st, 3);
        c.head = sqlite3_column_int64(st, 4);
        if ((rc = heads_of(lib, c.kind, c.id, h, 3, &n)) != SHELF_OK)
            break;
        if (n < 2)
            continue;           /* merged here since (shelf patch merge) */
        for (i = 0; i < n && i < 3; i++) {
            if (h[i].seq == c.head) {
                memcpy(c.head_vid, h[i].vid, sizeof c.head_vid);
            } else if (!c.other) {
                c.other = h[i].seq;
                memcpy(c.other_vid, h[i].vid, sizeof c.other_vid);
            }
        }
        rc = fn(ud, &c);
    }
    if (rc == SHELF_OK && step != SQLITE_DONE)
        rc = shelf__dberr(lib, "cannot read the conflicts");
    sqlite3_finalize(st);
    return rc;
}
