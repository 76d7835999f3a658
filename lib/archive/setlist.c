/*
 * setlist.c: set lists for a gig (include/shelf/setlist.h; doc/streaming.md,
 * "Set lists"): the setlists and setlist_items tables, the samples a set
 * needs in its order, its mirror on a medium (shelf_media_export under
 * DIR/NAME/, then DIR/NAME/setlist.json), the check of a medium against
 * the catalog, and its pins in the RAM cache.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>
#include "archive_int.h"
#include "../catalog/catalog_int.h"

#define SETLIST_FILE "setlist.json"
#define SETLIST_FORMAT 1

/* The id of set list name, SHELF_ENOTFOUND when there is none. */
static int find(shelf_library *lib, const char *name, int64_t *id)
{
    int rc;

    *id = 0;
    if (!name || !*name)
        return shelf__seterr(&lib->err, SHELF_EINVAL, "a set list needs a name");
    if ((rc = shelf__query_int(lib, "SELECT id FROM setlists WHERE name = ?1", name, id)) != SHELF_OK)
        return rc;
    return *id ? SHELF_OK : shelf__seterr(&lib->err, SHELF_ENOTFOUND, "no set list '%s'", name);
}

static int step_done(shelf_library *lib, sqlite3_stmt *st)
{
    int r = sqlite3_step(st);

    sqlite3_finalize(st);
    return r == SQLITE_DONE ? SHELF_OK : shelf__dberr(lib, "cannot write to the catalog");
}

int shelf_setlist_new(shelf_library *lib, const char *name, int64_t *id)
{
    sqlite3_stmt *st;
    int64_t there = 0;
    int rc;

    if (!name || !*name || strlen(name) > 200)
        return shelf__seterr(&lib->err, SHELF_EINVAL, "a set list needs a name of 1 to 200 bytes");
    if ((rc = shelf__writable(lib)) != SHELF_OK ||
        (rc = shelf__query_int(lib, "SELECT id FROM setlists WHERE name = ?1", name, &there)) != SHELF_OK)
        return rc;
    if (there)
        return shelf__seterr(&lib->err, SHELF_EEXIST, "a set list '%s' exists already", name);
    if (!(st = shelf__prepare(lib, "INSERT INTO setlists(name, created) VALUES(?1, unixepoch())")))
        return lib->err.rc;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if ((rc = step_done(lib, st)) == SHELF_OK && id)
        *id = sqlite3_last_insert_rowid(lib->db);
    return rc;
}

int shelf_setlist_remove(shelf_library *lib, const char *name)
{
    sqlite3_stmt *st;
    int64_t id;
    int rc;

    if ((rc = shelf__writable(lib)) != SHELF_OK || (rc = find(lib, name, &id)) != SHELF_OK)
        return rc;
    if (!(st = shelf__prepare(lib, "DELETE FROM setlists WHERE id = ?1")))
        return lib->err.rc;
    sqlite3_bind_int64(st, 1, id);
    return step_done(lib, st);
}

/* Run sql with ?1 = a, ?2 = b. */
static int exec2(shelf_library *lib, const char *sql, int64_t a, int64_t b)
{
    sqlite3_stmt *st = shelf__prepare(lib, sql);

    if (!st)
        return lib->err.rc;
    sqlite3_bind_int64(st, 1, a);
    sqlite3_bind_int64(st, 2, b);
    return step_done(lib, st);
}

int shelf_setlist_add(shelf_library *lib, const char *name, int kind, int64_t item, int at)
{
    int64_t id, n = 0, there = 0;
    char arg[32];
    sqlite3_stmt *st;
    int rc;

    if (kind != SHELF_DOC_PATCH && kind != SHELF_DOC_PROJECT)
        return shelf__seterr(&lib->err, SHELF_EINVAL, "a set list holds patches and projects");
    if ((rc = shelf__writable(lib)) != SHELF_OK || (rc = find(lib, name, &id)) != SHELF_OK)
        return rc;
    snprintf(arg, sizeof arg, "%lld", (long long)item);
    if ((rc = shelf__query_int(lib, kind == SHELF_DOC_PATCH ? "SELECT count(*) FROM patches WHERE id = ?1"
                                                            : "SELECT count(*) FROM projects WHERE id = ?1",
                               arg, &there)) != SHELF_OK)
        return rc;
    if (!there)
        return shelf__seterr(&lib->err, SHELF_ENOTFOUND, "no %s %lld", kind == SHELF_DOC_PATCH ? "patch" : "project",
                             (long long)item);
    snprintf(arg, sizeof arg, "%lld", (long long)id);
    if ((rc = shelf__query_int(lib, "SELECT count(*) FROM setlist_items WHERE setlist_id = ?1", arg, &n)) !=
        SHELF_OK)
        return rc;
    if (at < 0 || at > n + 1)
        return shelf__seterr(&lib->err, SHELF_EINVAL, "position %d is past the end of '%s' (%lld items)", at, name,
                             (long long)n);
    if (at == 0)
        at = (int)n + 1;
    if ((rc = shelf__begin(lib)) != SHELF_OK)
        return rc;
    /* Positions are 1..n with no gaps; move the tail down one, last first
     * (the primary key holds at each step), by way of negatives. */
    if ((rc = exec2(lib, "UPDATE setlist_items SET position = -(position + 1) WHERE setlist_id = ?1 AND "
                         "position >= ?2", id, at)) != SHELF_OK ||
        (rc = exec2(lib, "UPDATE setlist_items SET position = -position WHERE setlist_id = ?1 AND position < 0",
                    id, 0)) != SHELF_OK)
        goto fail;
    if (!(st = shelf__prepare(lib, "INSERT INTO setlist_items(setlist_id, position, kind, item_id) "
                                   "VALUES(?1, ?2, ?3, ?4)"))) {
        rc = lib->err.rc;
        goto fail;
    }
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int(st, 2, at);
    sqlite3_bind_int(st, 3, kind);
    sqlite3_bind_int64(st, 4, item);
    if ((rc = step_done(lib, st)) != SHELF_OK)
        goto fail;
    return shelf__commit(lib);
fail:
    shelf__rollback(lib);
    return rc;
}

int shelf_setlist_drop(shelf_library *lib, const char *name, int position)
{
    int64_t id;
    int rc;

    if ((rc = shelf__writable(lib)) != SHELF_OK || (rc = find(lib, name, &id)) != SHELF_OK)
        return rc;
    if ((rc = shelf__begin(lib)) != SHELF_OK)
        return rc;
    if ((rc = exec2(lib, "DELETE FROM setlist_items WHERE setlist_id = ?1 AND position = ?2", id, position)) !=
        SHELF_OK)
        goto fail;
    if (!sqlite3_changes(lib->db)) {
        rc = shelf__seterr(&lib->err, SHELF_ENOTFOUND, "'%s' has no item at position %d", name, position);
        goto fail;
    }
    if ((rc = exec2(lib, "UPDATE setlist_items SET position = -(position - 1) WHERE setlist_id = ?1 AND "
                         "position > ?2", id, position)) != SHELF_OK ||
        (rc = exec2(lib, "UPDATE setlist_items SET position = -position WHERE setlist_id = ?1 AND position < 0",
                    id, 0)) != SHELF_OK)
        goto fail;
    return shelf__commit(lib);
fail:
    shelf__rollback(lib);
    return rc;
}

int shelf_setlist_list(shelf_library *lib, shelf_setlist_info_cb cb, void *ud)
{
    sqlite3_stmt *st = shelf__prepare(lib, "SELECT s.id, s.name, s.created, (SELECT count(*) FROM setlist_items i "
                                           "WHERE i.setlist_id = s.id) FROM setlists s ORDER BY s.name, s.id");
    shelf_setlist_info s;
    int r, rc = SHELF_OK;

    if (!st)
        return lib->err.rc;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        memset(&s, 0, sizeof s);
        s.size = sizeof s;
        s.id = sqlite3_column_int64(st, 0);
        s.name = (const char *)sqlite3_column_text(st, 1);
        s.created = sqlite3_column_int64(st, 2);
        s.items = sqlite3_column_int64(st, 3);
        if (cb(ud, &s) != 0) {
            rc = SHELF_ECANCELED;
            break;
        }
    }
    if (rc == SHELF_OK && r != SQLITE_DONE)
        rc = shelf__dberr(lib, "cannot read the catalog");
    sqlite3_finalize(st);
    return rc;
}

/* The samples of one item, in order: a project's own, then each of its
 * patches' (by patch id), a patch's by sample id. */
#define ITEM_SAMPLES_SQL \
    "SELECT sample_id FROM (\n" \
    "  SELECT 0 AS o, 0 AS p, ps.sample_id FROM project_samples ps WHERE ?1 = " SHELF__KIND_PROJECT_SQL \
    "    AND ps.project_id = ?2\n" \
    "  UNION ALL SELECT 1, pp.patch_id, pt.sample_id FROM project_patches pp JOIN patch_samples pt\n" \
    "    ON pt.patch_id = pp.patch_id WHERE ?1 = " SHELF__KIND_PROJECT_SQL " AND pp.project_id = ?2\n" \
    "  UNION ALL SELECT 1, pt.patch_id, pt.sample_id FROM patch_samples pt WHERE ?1 = " SHELF__KIND_PATCH_SQL \
    "    AND pt.patch_id = ?2)\n" \
    "ORDER BY o, p, sample_id"

int shelf_setlist_items(shelf_library *lib, const char *name, shelf_setlist_item_cb cb, void *ud)
{
    sqlite3_stmt *st;
    shelf_setlist_item it;
    int64_t id;
    int r, rc;

    if ((rc = find(lib, name, &id)) != SHELF_OK)
        return rc;
    st = shelf__prepare(lib,
        "SELECT i.position, i.kind, i.item_id,\n"
        "  CASE i.kind WHEN " SHELF__KIND_PATCH_SQL " THEN (SELECT name FROM patches WHERE id = i.item_id)\n"
        "    ELSE (SELECT name FROM projects WHERE id = i.item_id) END,\n"
        "  (SELECT count(DISTINCT sample_id) FROM (\n"
        "     SELECT ps.sample_id FROM project_samples ps WHERE i.kind = " SHELF__KIND_PROJECT_SQL
        "       AND ps.project_id = i.item_id\n"
        "     UNION ALL SELECT pt.sample_id FROM project_patches pp JOIN patch_samples pt\n"
        "       ON pt.patch_id = pp.patch_id WHERE i.kind = " SHELF__KIND_PROJECT_SQL " AND pp.project_id = i.item_id\n"
        "     UNION ALL SELECT pt.sample_id FROM patch_samples pt WHERE i.kind = " SHELF__KIND_PATCH_SQL
        "       AND pt.patch_id = i.item_id))\n"
        "FROM setlist_items i WHERE i.setlist_id = ?1 ORDER BY i.position");
    if (!st)
        return lib->err.rc;
    sqlite3_bind_int64(st, 1, id);
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        memset(&it, 0, sizeof it);
        it.size = sizeof it;
        it.position = sqlite3_column_int(st, 0);
        it.kind = sqlite3_column_int(st, 1);
        it.id = sqlite3_column_int64(st, 2);
        it.name = (const char *)sqlite3_column_text(st, 3);
        it.samples = sqlite3_column_int64(st, 4);
        if (cb(ud, &it) != 0) {
            rc = SHELF_ECANCELED;
            break;
        }
    }
    if (rc == SHELF_OK && r != SQLITE_DONE)
        rc = shelf__dberr(lib, "cannot read the catalog");
    sqlite3_finalize(st);
    return rc;
}

/* ---- the samples a set needs ---- */

typedef struct idvec {
    int64_t *v;
    size_t n, cap;
} idvec;

static int idvec_add_new(idvec *x, int64_t id)
{
    size_t i;

    for (i = 0; i < x->n; i++)      /* sets are small: hundreds of samples */
        if (x->v[i] == id)
            return SHELF_OK;
    if (x->n == x->cap) {
        size_t nc = x->cap ? x->cap * 2 : 64;
        int64_t *nv = shelf__realloc(x->v, nc * sizeof *nv);

        if (!nv)
            return SHELF_ENOMEM;
        x->v = nv;
        x->cap = nc;
    }
    x->v[x->n++] = id;
    return SHELF_OK;
}

int shelf_setlist_samples(shelf_library *lib, const char *name, int64_t **ids, size_t *n)
{
    sqlite3_stmt *items, *smp = NULL;
    idvec x = { NULL, 0, 0 };
    int64_t id;
    int r, rc;

    *ids = NULL;
    *n = 0;
    if ((rc = find(lib, name, &id)) != SHELF_OK)
        return rc;
    if (!(items = shelf__prepare(lib, "SELECT kind, item_id FROM setlist_items WHERE setlist_id = ?1 "
                                      "ORDER BY position")) ||
        !(smp = shelf__prepare(lib, ITEM_SAMPLES_SQL))) {
        sqlite3_finalize(items);
        return lib->err.rc;
    }
    sqlite3_bind_int64(items, 1, id);
    while (rc == SHELF_OK && (r = sqlite3_step(items)) == SQLITE_ROW) {
        sqlite3_reset(smp);
        sqlite3_bind_int(smp, 1, sqlite3_column_int(items, 0));
        sqlite3_bind_int64(smp, 2, sqlite3_column_int64(items, 1));
        while (rc == SHELF_OK && (r = sqlite3_step(smp)) == SQLITE_ROW)
            if (idvec_add_new(&x, sqlite3_column_int64(smp, 0)) != SHELF_OK)
                rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        if (rc == SHELF_OK && r != SQLITE_DONE)
            rc = shelf__dberr(lib, "cannot read the catalog");
        r = SQLITE_ROW;
    }
    if (rc == SHELF_OK && r != SQLITE_DONE)
        rc = shelf__dberr(lib, "cannot read the catalog");
    sqlite3_finalize(items);
    sqlite3_finalize(smp);
    if (rc != SHELF_OK) {
        free(x.v);
        return rc;
    }
    *ids = x.v;
    *n = x.n;
    return SHELF_OK;
}

/* ---- mirror and check ---- */

/* dir/<the set list's name made safe for FAT>, owned. */
static char *set_dir(shelf_library *lib, const char *dir, const char *name)
{
    char *safe = shelf__strdup(name), *p, *out;

    if (!safe) {
        shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        return NULL;
    }
    for (p = safe; *p; p++)
        if ((unsigned char)*p < 0x20 || strchr("\"*/:<>?\\|", *p))
            *p = '_';
    while (p > safe && (p[-1] == ' ' || p[-1] == '.'))
        *--p = '\0';        /* FAT drops trailing dots and spaces */
    out = shelf__asprintf("%s/%s", dir, *safe && strcmp(safe, ".") != 0 && strcmp(safe, "..") != 0 ? safe : "setlist");
    free(safe);
    if (!out)
        shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    return out;
}

typedef struct jctx {
    shelf_library *lib;
    json_t *items;
    sqlite3_stmt *smp;
    const shelf__media_entry *e;
    size_t ne;
    int rc;
} jctx;

static const char *path_of(const jctx *j, int64_t sample)
{
    size_t i;

    for (i = 0; i < j->ne; i++)
        if (j->e[i].id == sample)
            return j->e[i].path;
    return NULL;
}

static int on_item_json(void *ud, const shelf_setlist_item *it)
{
    jctx *j = ud;
    json_t *files = json_array(), *o;

    sqlite3_reset(j->smp);
    sqlite3_bind_int(j->smp, 1, it->kind);
    sqlite3_bind_int64(j->smp, 2, it->id);
    while (files && sqlite3_step(j->smp) == SQLITE_ROW) {
        const char *p = path_of(j, sqlite3_column_int64(j->smp, 0));

        if (p && json_array_append_new(files, json_string(p)) != 0)
            break;
    }
    o = json_pack("{s:i, s:s, s:I, s:s, s:o}", "position", it->position, "kind",
                  it->kind == SHELF_DOC_PATCH ? "patch" : "project", "id", (json_int_t)it->id, "name",
                  it->name ? it->name : "", "files", files ? files : json_null());
    if (!o || json_array_append_new(j->items, o) != 0) {
        j->rc = shelf__seterr(&j->lib->err, SHELF_ENOMEM, "out of memory");
        return 1;
    }
    return 0;
}

/* dir/setlist.json: the order, each item's sample files. */
static int write_setlist_json(shelf_library *lib, const char *name, const char *sdir)
{
    shelf__media_entry *e = NULL;
    size_t ne = 0;
    jctx j;
    json_t *doc = NULL;
    char *text = NULL, *path = NULL;
    int rc;

    memset(&j, 0, sizeof j);
    j.lib = lib;
    if ((rc = shelf__media_index_load(lib, sdir, &e, &ne)) != SHELF_OK)
        return rc;
    j.e = e;
    j.ne = ne;
    if (!(j.items = json_array()) || !(j.smp = shelf__prepare(lib, ITEM_SAMPLES_SQL))) {
        rc = j.items ? lib->err.rc : shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = shelf_setlist_items(lib, name, on_item_json, &j)) != SHELF_OK) {
        rc = j.rc ? j.rc : rc;
        goto out;
    }
    doc = json_pack("{s:i, s:s, s:s, s:I, s:O}", "shelf_setlist", SETLIST_FORMAT, "name", name, "library",
                    shelf_library_id(lib) ? shelf_library_id(lib) : "", "mirrored",
                    (json_int_t)shelf__now(), "items", j.items);
    if (!doc || !(text = shelf__json_dumps(doc, JSON_INDENT(2))) || !(path = shelf__path_join(sdir, SETLIST_FILE))) {
        rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    {
        char *line = shelf__asprintf("%s\n", text);     /* json_dumps ends with no newline */

        rc = line ? shelf__write_file_atomic(&lib->err, path, line, strlen(line), 0644)
                  : shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        free(line);
    }
out:
    sqlite3_finalize(j.smp);
    json_decref(j.items);
    json_decref(doc);
    free(text);
    free(path);
    shelf__media_entries_free(e, ne);
    return rc;
}

int shelf_setlist_mirror(shelf_library *lib, const char *name, const char *dir, int fat,
                         shelf_archive_progress_cb progress, void *ud, shelf_setlist_mirror_stats *st)
{
    shelf_setlist_mirror_stats full;
    shelf_media_export_opts o;
    shelf_media_export_stats ms;
    int64_t *ids = NULL;
    size_t n = 0;
    char *sdir = NULL;
    double t0 = shelf__monotonic();
    int rc;

    memset(&full, 0, sizeof full);
    full.size = sizeof full;
    if (!dir || !*dir) {
        rc = shelf__seterr(&lib->err, SHELF_EINVAL, "no medium to mirror to");
        goto out;
    }
    if ((rc = shelf_setlist_samples(lib, name, &ids, &n)) != SHELF_OK)
        goto out;
    if (!n) {
        rc = shelf__seterr(&lib->err, SHELF_EINVAL, "set list '%s' needs no samples: nothing to mirror", name);
        goto out;
    }
    if (!(sdir = set_dir(lib, dir, name))) {
        rc = lib->err.rc;
        goto out;
    }
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.samples = ids;
    o.nsamples = n;
    o.fat = fat;
    o.sync = 1;
    o.patches = 1;
    o.progress = progress;
    o.ud = ud;
    memset(&ms, 0, sizeof ms);
    ms.size = sizeof ms;
    if ((rc = shelf_media_export(lib, sdir, &o, &ms)) != SHELF_OK)
        goto out;
    full.samples = ms.files;
    full.written = ms.written + ms.moved;
    full.unchanged = ms.unchanged;
    full.removed = ms.removed;
    full.bytes_written = ms.bytes_written;
    full.patches = ms.patches;
    rc = write_setlist_json(lib, name, sdir);
out:
    full.seconds = shelf__monotonic() - t0;
    shelf__out_fill(st, &full, sizeof full);
    free(sdir);
    free(ids);
    return rc;
}

/* SHA-256 of dir/rel into hex; SHELF_ENOTFOUND when the file is gone. */
static int hash_file(shelf_library *lib, const char *dir, const char *rel, char hex[SHELF_HASH_HEX],
                     uint64_t *size)
{
    char *p = shelf__path_join(dir, rel);
    void *buf = shelf__malloc((size_t)1 << 20);
    int e, rc = SHELF_OK;

    if (!p || !buf)
        rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    else if ((e = shelf__sha256_path(p, buf, (size_t)1 << 20, hex, size)) != 0)
        rc = e == ENOENT ? SHELF_ENOTFOUND : shelf__seterr_errno(&lib->err, e, "cannot read '%s'", p);
    free(buf);
    free(p);
    return rc;
}

/* 1 when dir/setlist.json lists the set's items in its current order. */
static int order_current(shelf_library *lib, const char *name, const char *sdir)
{
    char *path = shelf__path_join(sdir, SETLIST_FILE);
    json_t *doc = NULL, *it;
    sqlite3_stmt *st = NULL;
    int64_t id;
    size_t i = 0;
    int same = 0;

    if (!path || find(lib, name, &id) != SHELF_OK ||
        shelf__json_parse_file(&lib->err, SHELF_EFORMAT, path, 0, &doc) != SHELF_OK ||
        json_integer_value(json_object_get(doc, "shelf_setlist")) != SETLIST_FORMAT ||
        !(st = shelf__prepare(lib, "SELECT kind, item_id FROM setlist_items WHERE setlist_id = ?1 "
                                   "ORDER BY position")))
        goto out;
    sqlite3_bind_int64(st, 1, id);
    same = 1;
    while (same && sqlite3_step(st) == SQLITE_ROW) {
        it = json_array_get(json_object_get(doc, "items"), i++);
        same = it && json_integer_value(json_object_get(it, "id")) == sqlite3_column_int64(st, 1) &&
               !strcmp(json_string_value(json_object_get(it, "kind")) ? json_string_value(json_object_get(it, "kind"))
                                                                    : "",
                       sqlite3_column_int(st, 0) == SHELF_DOC_PATCH ? "patch" : "project");
    }
    same = same && i == json_array_size(json_object_get(doc, "items"));
out:
    sqlite3_finalize(st);
    json_decref(doc);
    free(path);
    return same;
}

int shelf_setlist_check(shelf_library *lib, const char *name, const char *dir, shelf_setlist_problem_cb cb,
                        void *ud, shelf_setlist_check_stats *st)
{
    shelf_setlist_check_stats full;
    shelf__media_entry *e = NULL;
    size_t ne = 0, n = 0, i, k;
    int64_t *ids = NULL;
    char *sdir = NULL, hex[SHELF_HASH_HEX];
    int rc;

    memset(&full, 0, sizeof full);
    full.size = sizeof full;
    if ((rc = shelf_setlist_samples(lib, name, &ids, &n)) != SHELF_OK)
        goto out;
    if (!(sdir = set_dir(lib, dir, name))) {
        rc = lib->err.rc;
        goto out;
    }
    if ((rc = shelf__media_index_load(lib, sdir, &e, &ne)) != SHELF_OK) {
        if (rc == SHELF_ENOTFOUND)
            shelf__seterr(&lib->err, rc, "'%s' holds no mirror of set list '%s'", dir, name);
        goto out;
    }
    full.needed = n;
    full.order = order_current(lib, name, sdir);
    for (i = 0; i < n && rc == SHELF_OK; i++) {
        shelf_cursor *cur = NULL;
        const shelf_sample *s = NULL;
        const char *problem = NULL, *at = NULL;
        uint64_t size = 0;
        int hr;

        if ((rc = shelf_catalog_get(lib, ids[i], &cur, &s)) != SHELF_OK)
            break;
        for (k = 0; k < ne && e[k].id != ids[i]; k++)
            ;
        at = k < ne ? e[k].path : NULL;
        if (!at) {
            problem = "missing";
        } else if ((hr = hash_file(lib, sdir, at, hex, &size)) == SHELF_ENOTFOUND) {
            problem = "missing";
        } else if (hr != SHELF_OK) {
            rc = hr;
        } else {
            full.bytes += size;
            if (strcmp(hex, e[k].sha256) != 0)
                problem = "corrupt";
            else if (!s->sha256 || strcmp(e[k].sha256, s->sha256) != 0)
                problem = "stale";
        }
        if (rc == SHELF_OK && problem) {
            if (!strcmp(problem, "missing"))
                full.missing++;
            else if (!strcmp(problem, "corrupt"))
                full.corrupt++;
            else
                full.stale++;
            if (cb)
                cb(ud, problem, ids[i], s->name, !strcmp(problem, "missing") ? NULL : at);
        } else if (rc == SHELF_OK) {
            full.intact++;
        }
        shelf_cursor_free(cur);
    }
    if (rc == SHELF_OK && full.intact < full.needed)
        rc = shelf__seterr(&lib->err, SHELF_ECORRUPT, "%s: %llu of %llu samples of '%s' are not intact there",
                           dir, (unsigned long long)(full.needed - full.intact), (unsigned long long)full.needed,
                           name);
out:
    shelf__out_fill(st, &full, sizeof full);
    shelf__media_entries_free(e, ne);
    free(sdir);
    free(ids);
    return rc;
}

int shelf_setlist_pin(shelf_library *lib, const char *name, int on, size_t *count)
{
    int64_t *ids = NULL;
    size_t n = 0;
    int rc;

    if (count)
        *count = 0;
    if ((rc = shelf_setlist_samples(lib, name, &ids, &n)) != SHELF_OK)
        return rc;
    if (n && (rc = shelf_cache_pins_set(lib, ids, n, on)) == SHELF_OK && count)
        *count = n;
    free(ids);
    return rc;
}
