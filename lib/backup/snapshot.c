/*
 * snapshot.c: taking a snapshot (shelf_backup_run) and reading them back:
 * list, resolve, items, diff.  A snapshot is a small encrypted JSON file
 * naming its tree: the item list (catalog copy, config, managed blobs,
 * referenced samples), itself stored as chunks in packs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>
#include "backup_int.h"
#include "../catalog/catalog_int.h"

static const char *const strategy_names[] = { "incremental", "full", "differential" };

static int strategy_of(const char *s)
{
    int i;

    for (i = 0; i < 3; i++)
        if (!strcmp(s, strategy_names[i]))
            return i;
    return -1;
}

/* ---- shape checks (snapshots and trees come from outside) ---- */

static int is_hex(const char *s, size_t n)
{
    size_t i;

    if (!s || strlen(s) != n)
        return 0;
    for (i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

static int hex_array_ok(json_t *a)
{
    size_t i;
    json_t *v;

    if (!json_is_array(a))
        return 0;
    json_array_foreach(a, i, v)
        if (!is_hex(json_string_value(v), 64))
            return 0;
    return 1;
}

int shelf__snap_check(json_t *s, shelf__err *err)
{
    json_t *tags = json_object_get(s, "tags"), *deps = json_object_get(s, "depends"), *v;
    const char *strategy = json_string_value(json_object_get(s, "strategy"));
    size_t i;

    if (!json_is_object(s) || !json_is_integer(json_object_get(s, "time")) ||
        !json_is_string(json_object_get(s, "device")) || !strategy || strategy_of(strategy) < 0 ||
        !is_hex(json_string_value(json_object_get(s, "run")), 32) ||
        !hex_array_ok(json_object_get(s, "tree")) || !json_is_array(tags) || !json_is_array(deps))
        return shelf__seterr(err, SHELF_EFORMAT, "snapshot is not in a format shelf reads");
    json_array_foreach(tags, i, v)
        if (!json_is_string(v))
            return shelf__seterr(err, SHELF_EFORMAT, "snapshot has a tag that is not text");
    json_array_foreach(deps, i, v)
        if (!is_hex(json_string_value(v), 32))
            return shelf__seterr(err, SHELF_EFORMAT, "snapshot has a bad dependency");
    for (i = 0; i < 4; i++) {
        static const char *const nums[] = { "items", "bytes", "added", "stored" };

        if (!json_is_integer(json_object_get(s, nums[i])))
            return shelf__seterr(err, SHELF_EFORMAT, "snapshot has no '%s'", nums[i]);
    }
    return SHELF_OK;
}

static int kind_of(const char *t)
{
    static const char *const kinds[] = { "", "catalog", "config", "object", "sample" };
    int i;

    for (i = 1; i <= 4; i++)
        if (t && !strcmp(t, kinds[i]))
            return i;
    return 0;
}

/* 1 when an item's path is one restore may write: the catalog and config
 * at their names, a blob at objects/ab/cd/<its 64 hex> and a sample at an
 * absolute path of plain names (no empty, "." or ".." part, no NUL).  A
 * forged tree must not make restore write anywhere else.  A sample path in
 * a tree with "path_text" is text (shelf_name_escape): the bytes it stands
 * for are checked, so "%2E%2E" is refused as "..".  -1: out of memory. */
static int item_path_ok(int kind, json_t *jpath, int text)
{
    const char *p = json_string_value(jpath);
    char *raw = NULL;
    int ok;

    if (!p || strlen(p) != json_string_length(jpath) || strlen(p) > 4000)
        return 0;
    if (kind != 1 && kind != 2 && kind != 3 && text) {
        if ((ok = shelf_name_unescape(p, &raw)) != SHELF_OK)
            return ok == SHELF_ENOMEM ? -1 : 0;
        ok = raw[0] == '/' && shelf__path_rel_ok(raw + 1);
        free(raw);
        return ok;
    }
    switch (kind) {
    case 1: return !strcmp(p, "shelf.db");
    case 2: return !strcmp(p, "config");
    case 3: return shelf__store_relpath_ok(p);
    default:
        return p[0] == '/' && shelf__path_rel_ok(p + 1);
    }
}

int shelf__tree_check(json_t *tree, shelf__err *err)
{
    json_t *items = json_object_get(tree, "items"), *it;
    size_t i;
    int ok;

    if (!json_is_array(items))
        return shelf__seterr(err, SHELF_EFORMAT, "snapshot tree is not in a format shelf reads");
    json_array_foreach(items, i, it) {
        const char *path = json_string_value(json_object_get(it, "path"));

        if (!kind_of(json_string_value(json_object_get(it, "t"))) || !path || !*path ||
            !json_is_integer(json_object_get(it, "size")) ||
            json_integer_value(json_object_get(it, "size")) < 0 ||
            !is_hex(json_string_value(json_object_get(it, "sha256")), 64) ||
            !hex_array_ok(json_object_get(it, "chunks")) ||
            (json_object_get(it, "id") && !json_is_integer(json_object_get(it, "id"))) ||
            (json_object_get(it, "mtime_ns") && !json_is_integer(json_object_get(it, "mtime_ns"))))
            return shelf__seterr(err, SHELF_EFORMAT, "snapshot tree item %zu is not in a format shelf reads", i);
        if ((ok = item_path_ok(kind_of(json_string_value(json_object_get(it, "t"))),
                               json_object_get(it, "path"),
                               json_integer_value(json_object_get(tree, "path_text")) == 1)) < 0)
            return shelf__seterr(err, SHELF_ENOMEM, "out of memory");
        if (!ok)
            return shelf__seterr(err, SHELF_EFORMAT, "snapshot tree item %zu has an unsafe path '%.200s'",
                                 i, path);
    }
    return SHELF_OK;
}

/* ---- reading ---- */

int shelf__snap_load(shelf_repo *r, const char *id, json_t **out)
{
    shelf__buf raw = SHELF__BUF_INIT, plain = SHELF__BUF_INIT;
    char name[80];
    json_t *s = NULL;
    int rc;

    *out = NULL;
    snprintf(name, sizeof name, "snapshots/%s", id);
    if ((rc = shelf__be_load(r->be, name, 0, 0, &raw)) != SHELF_OK) {
        shelf__seterr(&r->err, rc, "%s", r->be->err.msg);
        goto out;
    }
    if ((rc = shelf__open_sealed(r, raw.buf, raw.len, &plain)) == SHELF_OK)
        rc = shelf__json_parse(&r->err, SHELF_ECORRUPT, "snapshot", plain.buf, plain.len, 0, &s);
    if (rc == SHELF_ENOMEM) {
        shelf__seterr(&r->err, rc, "out of memory");
        goto out;
    }
    if (rc != SHELF_OK) {
        rc = shelf__seterr(&r->err, SHELF_ECORRUPT, "snapshot %.12s is damaged", id);
        goto out;
    }
    if (shelf__snap_check(s, &r->err) != SHELF_OK) {
        rc = shelf__seterr(&r->err, SHELF_ECORRUPT, "snapshot %.12s is damaged", id);
        goto out;
    }
    if (json_object_set_new(s, "id", json_string(id)) != 0) {
        rc = shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    *out = s;
    s = NULL;
out:
    json_decref(s);
    shelf__buf_release(&raw);
    shelf__buf_release(&plain);
    return rc;
}

/* A tree written before "path_text" holds sample paths as they were (they
 * were all UTF-8: a backup of any other failed); in memory every tree's
 * paths are text (shelf_name_escape), so old ones are escaped here. */
static int tree_paths_as_text(json_t *tree)
{
    json_t *it;
    size_t i;

    if (json_integer_value(json_object_get(tree, "path_text")) == 1)
        return SHELF_OK;
    json_array_foreach(json_object_get(tree, "items"), i, it) {
        const char *path = json_string_value(json_object_get(it, "path"));
        char *text;

        if (strcmp(json_string_value(json_object_get(it, "t")), "sample") != 0 ||
            !shelf_name_needs_escape(path, 0))
            continue;
        if (!(text = shelf_name_escape(path, 0)) || json_object_set_new(it, "path", json_string(text))) {
            shelf_free(text);
            return SHELF_ENOMEM;
        }
        shelf_free(text);
    }
    return json_object_set_new(tree, "path_text", json_integer(1)) ? SHELF_ENOMEM : SHELF_OK;
}

int shelf__tree_load(shelf_repo *r, json_t *snap, json_t **out)
{
    shelf__buf all = SHELF__BUF_INIT, blob = SHELF__BUF_INIT;
    json_t *ids = json_object_get(snap, "tree"), *v, *tree = NULL;
    uint8_t id[SHELF_HASH_BYTES];
    size_t i;
    int rc = SHELF_OK;

    *out = NULL;
    json_array_foreach(ids, i, v) {
        if (shelf__unhex(json_string_value(v), id, sizeof id) != SHELF_OK) {
            rc = shelf__seterr(&r->err, SHELF_ECORRUPT, "snapshot tree id is damaged");
            goto out;
        }
        if ((rc = shelf__blob_read(r, id, &blob)) != SHELF_OK)
            goto out;
        if (shelf__buf_add(&all, blob.buf, blob.len) != SHELF_OK) {
            rc = shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
            goto out;
        }
    }
    if ((rc = shelf__json_parse(&r->err, SHELF_ECORRUPT, "snapshot tree", all.buf, all.len, 0,
                                &tree)) != SHELF_OK) {
        if (rc != SHELF_ENOMEM)
            rc = shelf__seterr(&r->err, SHELF_ECORRUPT, "snapshot tree is damaged");
        goto out;
    }
    if ((rc = shelf__tree_check(tree, &r->err)) != SHELF_OK) {
        shelf__err why = r->err;

        if (rc == SHELF_ENOMEM)
            goto out;
        rc = shelf__seterr(&r->err, SHELF_ECORRUPT, "snapshot tree is damaged: %s", why.msg);
        goto out;
    }
    /* Checked first: the check reads old trees' paths as the bytes they are. */
    if ((rc = tree_paths_as_text(tree)) != SHELF_OK) {
        rc = shelf__seterr(&r->err, rc, "out of memory");
        goto out;
    }
    *out = tree;
    tree = NULL;
out:
    json_decref(tree);
    shelf__buf_release(&all);
    shelf__buf_release(&blob);
    return rc;
}

static int collect(void *ud, const char *name, uint64_t size)
{
    (void)size;
    return json_array_append_new(ud, json_string(name + strlen("snapshots/"))) ? SHELF_ENOMEM : 0;
}

static int by_time(const void *a, const void *b)
{
    json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, "time"));
    json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, "time"));

    if (x == y) {
        x = json_integer_value(json_object_get(*(json_t *const *)a, "nanos"));
        y = json_integer_value(json_object_get(*(json_t *const *)b, "nanos"));
    }

    if (x != y)
        return x < y ? -1 : 1;
    return strcmp(json_string_value(json_object_get(*(json_t *const *)a, "id")),
                  json_string_value(json_object_get(*(json_t *const *)b, "id")));
}

int shelf__snap_all(shelf_repo *r, json_t **out)
{
    json_t *names = json_array(), *all = json_array(), *v, **vec = NULL;
    size_t i, n;
    int rc;

    *out = NULL;
    if (!names || !all) {
        rc = shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = shelf__be_list(r->be, "snapshots", collect, names)) != SHELF_OK) {
        shelf__seterr(&r->err, rc, "%s", r->be->err.msg);
        goto out;
    }
    json_decref(r->snaps_damaged);
    r->snaps_damaged = json_array();
    json_array_foreach(names, i, v) {
        json_t *s;

        if (!is_hex(json_string_value(v), 64))
            continue;
        if ((rc = shelf__snap_load(r, json_string_value(v), &s)) == SHELF_ENOMEM)
            goto out;   /* not damage: listing it so would be a lie */
        if (rc == SHELF_OK ? json_array_append_new(all, s) != 0
            : !r->snaps_damaged || json_array_append(r->snaps_damaged, v) != 0) {
            /* a damaged one is never dropped in silence: list shows it */
            rc = shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
            goto out;
        }
    }
    n = json_array_size(all);
    if (n > 1) {
        if (!(vec = shelf__malloc(n * sizeof(json_t *)))) {
            rc = shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
            goto out;
        }
        for (i = 0; i < n; i++)
            vec[i] = json_incref(json_array_get(all, i));
        qsort(vec, n, sizeof(json_t *), by_time);
        json_array_clear(all);
        for (i = 0; i < n; i++) {
            if (json_array_append_new(all, vec[i]) != 0) {
                while (++i < n)
                    json_decref(vec[i]);
                rc = shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
                goto out;
            }
        }
    }
    *out = all;
    all = NULL;
    rc = SHELF_OK;
out:
    shelf_free(vec);
    json_decref(names);
    json_decref(all);
    return rc;
}

int shelf_snapshot_resolve(shelf_repo *r, const char *ref, char id[65])
{
    json_t *all = NULL, *s, *hit = NULL;
    size_t i, n = strlen(ref), nhit = 0;
    int rc;

    id[0] = '\0';
    if ((rc = shelf__snap_all(r, &all)) != SHELF_OK)
        return rc;
    if (!strcmp(ref, "latest") && json_array_size(r->snaps_damaged) > 0) {
        /* A damaged file may be the newest snapshot: which one is latest
         * is unknown, and restoring an older one in silence would lie. */
        json_t *newest = json_array_get(all, json_array_size(all) - 1);
        char when[64] = "none";

        if (newest) {
            time_t t = (time_t)json_integer_value(json_object_get(newest, "time"));
            struct tm tm;

            gmtime_r(&t, &tm);
            snprintf(when, sizeof when, "%.12s", json_string_value(json_object_get(newest, "id")));
            strftime(when + strlen(when), sizeof when - strlen(when), " of %Y-%m-%d %H:%M:%S UTC", &tm);
        }
        rc = shelf__seterr(&r->err, SHELF_ECORRUPT,
                           "snapshot %.12s is damaged, so which snapshot is the latest is unknown: "
                           "name one (the newest readable is %s; see 'shelf backup list')",
                           json_string_value(json_array_get(r->snaps_damaged, 0)), when);
        json_decref(all);
        return rc;
    }
    if (!strcmp(ref, "latest")) {
        hit = json_array_get(all, json_array_size(all) - 1);
        nhit = hit ? 1 : 0;
    } else {
        json_array_foreach(all, i, s)
            if (n > 0 && !strncmp(json_string_value(json_object_get(s, "id")), ref, n)) {
                hit = s;
                nhit++;
            }
    }
    if (nhit == 0 && n > 0 && strcmp(ref, "latest") != 0)
        json_array_foreach(r->snaps_damaged, i, s)
            if (!strncmp(json_string_value(s), ref, n)) {
                json_decref(all);
                return shelf__seterr(&r->err, SHELF_ECORRUPT, "snapshot %.12s is damaged (run 'shelf backup "
                                     "check')", json_string_value(s));
            }
    if (nhit == 1)
        snprintf(id, 65, "%s", json_string_value(json_object_get(hit, "id")));
    else
        rc = shelf__seterr(&r->err, nhit ? SHELF_EINVAL : SHELF_ENOTFOUND,
                           nhit ? "snapshot id '%s' is ambiguous" : "no snapshot '%s'", ref);
    json_decref(all);
    return rc;
}

/* Map each run to the snapshot that wrote it. */
static const char *run_snapshot(json_t *all, const char *run)
{
    size_t i;
    json_t *s;

    json_array_foreach(all, i, s)
        if (!strcmp(json_string_value(json_object_get(s, "run")), run))
            return json_string_value(json_object_get(s, "id"));
    return NULL;
}

const char *shelf__snap_origin(json_t *snap)
{
    const char *o = json_string_value(json_object_get(snap, "origin_run"));

    if (o && *o)
        return o;
    o = json_string_value(json_object_get(snap, "run"));
    return o ? o : "";
}

int shelf_snapshot_list(shelf_repo *r, shelf_snap_cb cb, void *ud)
{
    json_t *all = NULL, *s, *v;
    size_t i, k;
    int rc;

    if ((rc = shelf__snap_all(r, &all)) != SHELF_OK)
        return rc;
    json_array_foreach(all, i, s) {
        shelf__buf tags = SHELF__BUF_INIT, deps = SHELF__BUF_INIT;
        shelf_snapinfo si;
        const char *p;

        memset(&si, 0, sizeof si);
        si.size = sizeof si;
        json_array_foreach(json_object_get(s, "tags"), k, v)
            shelf__buf_addf(&tags, "%s%s", k ? " " : "", json_string_value(v));
        json_array_foreach(json_object_get(s, "depends"), k, v) {
            p = run_snapshot(all, json_string_value(v));
            if (p)
                shelf__buf_addf(&deps, "%s%s", deps.len ? " " : "", p);
            else
                shelf__buf_addf(&deps, "%srun:%s", deps.len ? " " : "", json_string_value(v));
        }
        si.id = json_string_value(json_object_get(s, "id"));
        si.time = json_integer_value(json_object_get(s, "time"));
        si.device = json_string_value(json_object_get(s, "device"));
        p = json_string_value(json_object_get(s, "host"));
        si.host = p ? p : "";
        p = json_string_value(json_object_get(s, "library"));
        si.library = p ? p : "";
        si.strategy = strategy_of(json_string_value(json_object_get(s, "strategy")));
        p = json_string_value(json_object_get(s, "parent"));
        si.parent = p ? p : "";
        p = json_string_value(json_object_get(s, "full"));
        si.full = p ? p : "";
        si.tags = tags.buf ? tags.buf : "";
        si.depends = deps.buf ? deps.buf : "";
        si.items = (uint64_t)json_integer_value(json_object_get(s, "items"));
        si.bytes = (uint64_t)json_integer_value(json_object_get(s, "bytes"));
        si.added = (uint64_t)json_integer_value(json_object_get(s, "added"));
        si.stored = (uint64_t)json_integer_value(json_object_get(s, "stored"));
        si.origin = shelf__snap_origin(s);
        p = json_string_value(json_object_get(s, "copied_from"));
        si.copied_from = p ? p : "";
        rc = cb(ud, &si);
        shelf__buf_release(&tags);
        shelf__buf_release(&deps);
        if (rc != 0)
            break;
    }
    /* Files that cannot be read are listed too, after the others. */
    json_array_foreach(r->snaps_damaged, i, v) {
        shelf_snapinfo si;

        if (rc != 0)
            break;
        memset(&si, 0, sizeof si);
        si.size = sizeof si;
        si.id = json_string_value(v);
        si.device = si.host = si.library = si.parent = si.full = si.tags = si.depends = "";
        si.origin = si.copied_from = "";
        si.damaged = 1;
        rc = cb(ud, &si);
    }
    json_decref(all);
    return rc;
}

static void item_of(json_t *it, shelf_snapitem *si)
{
    si->kind = kind_of(json_string_value(json_object_get(it, "t")));
    si->path = json_string_value(json_object_get(it, "path"));
    si->id = json_integer_value(json_object_get(it, "id"));
    si->size = (uint64_t)json_integer_value(json_object_get(it, "size"));
    si->sha256 = json_string_value(json_object_get(it, "sha256"));
}

static int load_tree_of(shelf_repo *r, const char *ref, json_t **tree)
{
    char id[65];
    json_t *snap = NULL;
    int rc;

    *tree = NULL;
    if ((rc = shelf_snapshot_resolve(r, ref, id)) != SHELF_OK ||
        (rc = shelf__snap_load(r, id, &snap)) != SHELF_OK)
        return rc;
    rc = shelf__tree_load(r, snap, tree);
    json_decref(snap);
    return rc;
}

int shelf_snapshot_items(shelf_repo *r, const char *snap, shelf_item_cb cb, void *ud)
{
    json_t *tree, *it;
    size_t i;
    int rc;

    if ((rc = load_tree_of(r, snap, &tree)) != SHELF_OK)
        return rc;
    json_array_foreach(json_object_get(tree, "items"), i, it) {
        shelf_snapitem si;

        item_of(it, &si);
        if ((rc = cb(ud, &si)) != 0)
            break;
    }
    json_decref(tree);
    return rc;
}

static json_t *by_path(json_t *tree)
{
    json_t *m = json_object(), *it;
    size_t i;

    json_array_foreach(json_object_get(tree, "items"), i, it) {
        if (m && json_object_set(m, json_string_value(json_object_get(it, "path")), it) != 0) {
            json_decref(m);
            return NULL;
        }
    }
    return m;
}

int shelf_snapshot_diff(shelf_repo *r, const char *a, const char *b, shelf_diff_cb cb, void *ud)
{
    json_t *ta = NULL, *tb = NULL, *ma = NULL, *mb = NULL, *it, *old;
    shelf_snapitem si;
    size_t i;
    int rc;

    if ((rc = load_tree_of(r, a, &ta)) != SHELF_OK || (rc = load_tree_of(r, b, &tb)) != SHELF_OK)
        goto out;
    ma = by_path(ta);
    mb = by_path(tb);
    json_array_foreach(json_object_get(tb, "items"), i, it) {
        old = json_object_get(ma, json_string_value(json_object_get(it, "path")));
        item_of(it, &si);
        if (!old)
            rc = cb(ud, SHELF_DIFF_ADDED, &si);
        else if (strcmp(si.sha256, json_string_value(json_object_get(old, "sha256"))) != 0)
            rc = cb(ud, SHELF_DIFF_CHANGED, &si);
        if (rc != 0)
            goto out;
    }
    json_array_foreach(json_object_get(ta, "items"), i, it) {
        if (json_object_get(mb, json_string_value(json_object_get(it, "path"))))
            continue;
        item_of(it, &si);
        if ((rc = cb(ud, SHELF_DIFF_REMOVED, &si)) != 0)
            goto out;
    }
out:
    json_decref(ta);
    json_decref(tb);
    json_decref(ma);
    json_decref(mb);
    return rc;
}

int shelf_snapshot_forget_one(shelf_repo *r, const char *id)
{
    char name[80];
    int rc;

    snprintf(name, sizeof name, "snapshots/%s", id);
    if ((rc = shelf__repo_lock(r, 1)) != SHELF_OK)
        return rc;
    if ((rc = shelf__be_remove(r->be, name)) != SHELF_OK)
        shelf__seterr(&r->err, rc, "%s", r->be->err.msg);
    shelf__repo_unlock(r);
    return rc;
}

/* ---- taking a snapshot ---- */

typedef struct run {
    shelf_repo *r;
    shelf_library *lib;
    const shelf_backup_opts *o;
    shelf_backup_stats *st;
    uint8_t runs[2][SHELF__RUN_BYTES];
    size_t nruns;                       /* 0: any run may serve */
    uint8_t (*deps)[SHELF__RUN_BYTES];
    size_t ndeps, capdeps;
    json_t *parent;                     /* path -> item of the parent's tree, or NULL */
    json_t *items;                      /* the new tree's items */
    uint8_t *buf;                       /* 2 * CHUNK_MAX */
    shelf_backup_progress prog;
    double last_progress;
    int src_err;                        /* errno of the last failure to read a source file */
} run;

static int add_dep(run *u, const uint8_t rn[SHELF__RUN_BYTES])
{
    size_t i;

    for (i = 0; i < u->ndeps; i++)
        if (!memcmp(u->deps[i], rn, SHELF__RUN_BYTES))
            return SHELF_OK;
    if (u->ndeps == u->capdeps) {
        size_t cap = u->capdeps ? 2 * u->capdeps : 8;
        void *p = shelf__realloc(u->deps, cap * sizeof *u->deps);

        if (!p)
            return shelf__seterr(&u->r->err, SHELF_ENOMEM, "out of memory");
        u->deps = p;
        u->capdeps = cap;
    }
    memcpy(u->deps[u->ndeps++], rn, SHELF__RUN_BYTES);
    return SHELF_OK;
}

static int progress(run *u, int force)
{
    double now = shelf__monotonic();

    if (shelf__repo_lock_refresh(u->r) != SHELF_OK)
        return u->r->err.rc ? u->r->err.rc : SHELF_EIO;
    if (!u->o->progress || (!force && now - u->last_progress < 0.1))
        return SHELF_OK;
    u->last_progress = now;
    u->prog.size = sizeof u->prog;
    if (u->o->progress(u->o->ud, &u->prog))
        return shelf__seterr(&u->r->err, SHELF_ECANCELED, "backup stopped");
    return SHELF_OK;
}

/* A chunk back from the workers, in order: its id goes into the item's
 * list; it is stored unless the index has it for this strategy. */
static int chunk_done(void *ud, void *tag, const uint8_t id[SHELF_HASH_BYTES], size_t n, int *keep)
{
    run *u = ud;
    char hex[SHELF_HASH_HEX];
    shelf__blobloc loc;
    int rc;

    *keep = 0;
    shelf__hex(id, SHELF_HASH_BYTES, hex);
    if (json_array_append_new(tag, json_string(hex)) != 0)
        return shelf__seterr(&u->r->err, SHELF_ENOMEM, "out of memory");
    u->st->chunks++;
    rc = shelf__index_find(u->r, id, u->nruns ? (const uint8_t (*)[SHELF__RUN_BYTES])u->runs : NULL,
                           u->nruns, &loc);
    if (rc == SHELF_OK)
        return add_dep(u, loc.run);
    if (rc != SHELF_ENOTFOUND)
        return rc;
    *keep = 1;
    u->st->chunks_new++;
    u->st->bytes_new += n;
    return add_dep(u, u->r->run);
}

/* Queue one chunk; its id is appended to chunks when it comes back.
 * compress: -1 undecided (decided here, from this chunk), 0 no, 1 yes. */
static int store_chunk(run *u, const uint8_t *p, size_t n, int type, int *compress,
                       json_t *chunks)
{
    shelf_repo *r = u->r;

    if (*compress < 0) {
        /* Does it compress?  A quick look at up to 256 KiB at level 1:
         * FLAC, OGG and MP3 do not, and are then stored as they are. */
        size_t m = n < 262144 ? n : 262144, bound = ZSTD_compressBound(m), z;

        shelf__buf_reset(&r->tmp);
        if (shelf__buf_grow(&r->tmp, bound) != SHELF_OK)
            return shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
        z = ZSTD_compressCCtx(r->zc, r->tmp.buf, bound, p, m, 1);
        *compress = !ZSTD_isError(z) && z < m - m / 32;
    }
    return shelf__pipe_submit(r, chunks, type, p, n, *compress);
}

/* A source file failed part way: the chunks queued for it refer to its
 * chunk list, so let them come back before the list goes (the backup goes
 * on without the file).  rc unless the repository failed meanwhile. */
static int src_failed(run *u, int rc)
{
    shelf__err keep = u->r->err;
    int drc = shelf__pipe_drain(u->r);

    if (drc != SHELF_OK) {
        u->src_err = 0;
        return drc;
    }
    u->r->err = keep;
    return rc;
}

/* Chunk and store the file at path; fills size, sha256, chunks of item.
 * known: the file's hash when the catalog (or a blob's name) already says
 * it and size is what it should be; then the file is not hashed whole. */
static int store_file(run *u, const char *path, json_t *item, const char *known, uint64_t size)
{
    shelf_repo *r = u->r;
    size_t have = 0, pos = 0;
    int fd, eof = 0, rc = SHELF_OK, compress = -1;
    uint8_t hash[SHELF_HASH_BYTES];
    char hex[SHELF_HASH_HEX];
    shelf__sha256 *h = shelf__sha256_new();
    json_t *chunks = json_array();
    uint64_t total = 0;

    if (!h || !chunks) {
        rc = shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        u->src_err = errno;
        rc = shelf__seterr_errno(&r->err, errno, "cannot open '%s'", path);
        goto out;
    }
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    for (;;) {
        size_t cut;

        /* Keep at least CHUNK_MAX ahead unless the file ends first. */
        if (!eof && have - pos < SHELF__CHUNK_MAX) {
            if (pos > 0) {
                memmove(u->buf, u->buf + pos, have - pos);
                have -= pos;
                pos = 0;
            }
            while (!eof && have < 2 * (size_t)SHELF__CHUNK_MAX) {
                ssize_t got = read(fd, u->buf + have, 2 * (size_t)SHELF__CHUNK_MAX - have);

                if (got < 0 && errno == EINTR)
                    continue;
                if (got < 0) {
                    u->src_err = errno;
                    rc = shelf__seterr_errno(&r->err, errno, "cannot read '%s'", path);
                    close(fd);
                    rc = src_failed(u, rc);
                    goto out;
                }
                if (got == 0)
                    eof = 1;
                have += (size_t)got;
            }
        }
        if (pos == have)
            break;
        cut = shelf__chunk_cut(r->gear, u->buf + pos, have - pos);
        if (!known)
            shelf__sha256_update(h, u->buf + pos, cut);
        if ((rc = store_chunk(u, u->buf + pos, cut, SHELF__BLOB_DATA, &compress, chunks)) != SHELF_OK) {
            close(fd);
            goto out;
        }
        pos += cut;
        total += cut;
        u->prog.bytes_done += cut;
        u->st->bytes_read += cut;
        if ((rc = progress(u, 0)) != SHELF_OK) {
            close(fd);
            goto out;
        }
    }
    close(fd);
    if (known && total != size) {
        /* It changed since it was listed: read it again, hashing it (the
         * queued chunks refer to this list: let them come back first). */
        if ((rc = shelf__pipe_drain(r)) != SHELF_OK)
            goto out;
        json_decref(chunks);
        shelf__sha256_free(h);
        return store_file(u, path, item, NULL, 0);
    }
    shelf__sha256_final(h, hash);
    shelf__hex(hash, sizeof hash, hex);
    if (json_object_set_new(item, "size", json_integer((json_int_t)total)) != 0 ||
        json_object_set_new(item, "sha256", json_string(known ? known : hex)) != 0 ||
        json_object_set(item, "chunks", chunks) != 0) {
        rc = shelf__seterr(&u->r->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    u->st->items_read++;
out:
    shelf__sha256_free(h);
    json_decref(chunks);
    return rc;
}

/* Reuse the parent's chunks for an unchanged item when this strategy may
 * (every chunk is in an allowed run).  1 when reused. */
static int reuse(run *u, json_t *item, json_t *old)
{
    json_t *v;
    size_t i;
    uint8_t id[SHELF_HASH_BYTES];
    shelf__blobloc loc;

    json_array_foreach(json_object_get(old, "chunks"), i, v) {
        if (shelf__unhex(json_string_value(v), id, sizeof id) != SHELF_OK ||
            shelf__index_find(u->r, id, u->nruns ? (const uint8_t (*)[SHELF__RUN_BYTES])u->runs : NULL,
                              u->nruns, &loc) != SHELF_OK)
            return 0;
    }
    json_array_foreach(json_object_get(old, "chunks"), i, v) {
        shelf__unhex(json_string_value(v), id, sizeof id);
        shelf__index_find(u->r, id, u->nruns ? (const uint8_t (*)[SHELF__RUN_BYTES])u->runs : NULL,
                          u->nruns, &loc);
        if (add_dep(u, loc.run) != SHELF_OK)
            return 0;
        u->st->chunks++;
    }
    /* Out of memory here: not reused, the file is read (and fails there). */
    return json_object_set(item, "size", json_object_get(old, "size")) == 0 &&
           json_object_set(item, "sha256", json_object_get(old, "sha256")) == 0 &&
           json_object_set(item, "chunks", json_object_get(old, "chunks")) == 0;
}

/* The parent's item for work item w when w looks unchanged (same size,
 * and same mtime for files; blobs are named by their content), else NULL. */
static json_t *unchanged(run *u, json_t *w)
{
    const char *t = json_string_value(json_object_get(w, "t"));
    json_t *old = u->parent ? json_object_get(u->parent, json_string_value(json_object_get(w, "path")))
                            : NULL;

    if (!old || !strcmp(t, "catalog") || !strcmp(t, "config") ||
        json_integer_value(json_object_get(old, "size")) != json_integer_value(json_object_get(w, "size")))
        return NULL;
    if (!strcmp(t, "object"))
        return old;
    if (json_object_get(w, "mtime_ns") &&
        json_integer_value(json_object_get(old, "mtime_ns")) == json_integer_value(json_object_get(w, "mtime_ns")))
        return old;
    return NULL;
}

/* A sample's file (or blob) could not be read: it is left out of the
 * snapshot, counted and reported; the backup goes on. */
static int unreadable(run *u, json_t *w)
{
    const shelf_backup_opts *o = u->o;

    u->st->unreadable++;
    u->prog.bytes_done += (uint64_t)json_integer_value(json_object_get(w, "size"));
    if (o->unreadable)
        o->unreadable(o->ud, json_integer_value(json_object_get(w, "id")),
                      json_string_value(json_object_get(w, "src")), u->r->err.msg);
    return SHELF_OK;
}

/* Back up one item of the work list. */
static int do_item(run *u, json_t *w)
{
    const char *t = json_string_value(json_object_get(w, "t"));
    const char *path = json_string_value(json_object_get(w, "path"));
    const char *src = json_string_value(json_object_get(w, "src"));
    json_t *item = json_pack("{s:s, s:s}", "t", t, "path", path), *old;
    uint64_t size = (uint64_t)json_integer_value(json_object_get(w, "size"));
    int rc = SHELF_OK, reused = 0;

    if (!item)
        return shelf__seterr(&u->r->err, SHELF_ENOMEM, "out of memory");
    if ((json_object_get(w, "id") && json_object_set(item, "id", json_object_get(w, "id")) != 0) ||
        (json_object_get(w, "mtime_ns") &&
         json_object_set(item, "mtime_ns", json_object_get(w, "mtime_ns")) != 0)) {
        rc = shelf__seterr(&u->r->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    if ((old = unchanged(u, w)) != NULL)
        reused = reuse(u, item, old);
    u->src_err = 0;
    if (reused) {
        u->prog.bytes_done += size;
    } else if ((rc = store_file(u, src, item, json_string_value(json_object_get(w, "known")),
                                size)) != SHELF_OK) {
        if (rc == SHELF_ENOTFOUND && !strcmp(t, "sample")) {
            rc = SHELF_OK;      /* gone since the catalog saw it: not in this snapshot */
            u->prog.bytes_done += size;
            goto out;
        }
        if (u->src_err && (!strcmp(t, "sample") || !strcmp(t, "object"))) {
            rc = unreadable(u, w);
            goto out;
        }
        goto out;
    }
    u->st->items++;
    u->st->bytes += (uint64_t)json_integer_value(json_object_get(item, "size"));
    if (json_array_append(u->items, item) != 0)
        rc = shelf__seterr(&u->r->err, SHELF_ENOMEM, "out of memory");
out:
    u->prog.items_done++;
    json_decref(item);
    return rc;
}

typedef struct walk_ctx {
    json_t *work;
    const char *objdir;
    uint64_t bytes;
} walk_ctx;

/* A work item: o with "src", the file to read, as the OS's bytes (the
 * work list is never written out, so it may hold a name that is not
 * UTF-8); NULL when o is NULL or memory runs out. */
static json_t *work_item(json_t *o, const char *src)
{
    if (o && json_object_set_new(o, "src", json_string_nocheck(src)) != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static int add_object(void *ud, const char *hex, const char *path, uint64_t size)
{
    walk_ctx *wc = ud;
    char rel[SHELF__STORE_REL_MAX];

    if (!hex)
        return 0;   /* temp files, strays */
    shelf__store_relpath(hex, rel);
    wc->bytes += size;
    return json_array_append_new(wc->work, work_item(json_pack("{s:s, s:s, s:I, s:s}", "t", "object", "path",
                                 rel, "size", (json_int_t)size, "known", hex), path)) ? SHELF_ENOMEM : 0;
}

/* Add file src (kind t, tree path path) to the work list with its size,
 * counted into *bytes.  Sets u->r->err. */
static int add_file(run *u, json_t *work, const char *t, const char *path, const char *src,
                    uint64_t *bytes)
{
    struct stat sb;

    if (stat(src, &sb) != 0)
        return shelf__seterr_errno(&u->r->err, errno, "cannot read '%s'", src);
    *bytes += (uint64_t)sb.st_size;
    if (json_array_append_new(work, work_item(json_pack("{s:s, s:s, s:I}", "t", t, "path", path,
                                                        "size", (json_int_t)sb.st_size), src)) != 0)
        return shelf__seterr(&u->r->err, SHELF_ENOMEM, "out of memory");
    return SHELF_OK;
}

/* The work list: catalog copy, config, blobs, referenced samples. */
static int build_work(run *u, const char *catalog_copy, json_t *work, uint64_t *bytes)
{
    shelf_library *lib = u->lib;
    walk_ctx wc = { work, NULL, 0 };
    sqlite3_stmt *st;
    struct stat sb;
    char *cfg = shelf__path_join(lib->path, "config");
    int rc, s;

    if (!cfg)
        return shelf__seterr(&u->r->err, SHELF_ENOMEM, "out of memory");
    /* Both must be there: a size taken from a failed stat is no size. */
    if ((rc = add_file(u, work, "catalog", "shelf.db", catalog_copy, &wc.bytes)) != SHELF_OK ||
        (rc = add_file(u, work, "config", "config", cfg, &wc.bytes)) != SHELF_OK) {
        shelf_free(cfg);
        return rc;
    }
    shelf_free(cfg);
    if ((rc = shelf__store_walk(&lib->store, add_object, &wc)) != SHELF_OK)
        return shelf__seterr(&u->r->err, rc, "cannot list the library's blobs: %s", lib->err.msg);
    st = shelf__prepare(lib,
        "SELECT s.id, r.path, s.relpath, s.size, s.mtime_ns, s.sha256 FROM samples s JOIN roots r ON r.id = s.root_id\n"
        " WHERE s.blob IS NULL AND NOT s.missing ORDER BY r.path, s.relpath");
    if (!st)
        return shelf__seterr(&u->r->err, lib->err.rc, "%s", lib->err.msg);   /* SHELF_ENOMEM too */
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        char *abs = shelf__sample_abspath((const char *)sqlite3_column_text(st, 1),
                                          (const char *)sqlite3_column_text(st, 2)), *text;
        json_int_t mtime;
        json_t *w;

        /* The file as it is now, not as the catalog last saw it: a file
         * changed since its import is read again. */
        if (abs && stat(abs, &sb) != 0) {
            shelf_free(abs);
            continue;       /* gone: not in this snapshot */
        }
        mtime = abs ? (json_int_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec : 0;
        /* In the tree a path is text (shelf_name_escape): it may not be UTF-8. */
        text = abs ? shelf_name_escape(abs, 0) : NULL;
        w = text ? work_item(json_pack("{s:s, s:s, s:I, s:I, s:I}", "t", "sample", "path", text,
                                       "size", (json_int_t)sb.st_size,
                                       "id", (json_int_t)sqlite3_column_int64(st, 0), "mtime_ns", mtime), abs)
                 : NULL;
        shelf_free(text);
        /* Unchanged since its import: the catalog knows its hash. */
        if (w && sb.st_size == sqlite3_column_int64(st, 3) && mtime == sqlite3_column_int64(st, 4) &&
            sqlite3_column_text(st, 5) &&
            json_object_set_new(w, "known", json_string((const char *)sqlite3_column_text(st, 5))) != 0) {
            json_decref(w);
            w = NULL;
        }
        if (!w || json_array_append_new(work, w) != 0) {
            shelf_free(abs);
            sqlite3_finalize(st);
            return shelf__seterr(&u->r->err, SHELF_ENOMEM, "out of memory");
        }
        wc.bytes += (uint64_t)sb.st_size;
        shelf_free(abs);
    }
    sqlite3_finalize(st);
    if (s != SQLITE_DONE)
        return shelf__seterr(&u->r->err, SHELF_EDB, "cannot list samples: %s", sqlite3_errmsg(lib->db));
    *bytes = wc.bytes;
    return SHELF_OK;
}

/* Store the tree JSON as tree blobs; ids into out. */
static int store_tree(run *u, const char *text, size_t n, json_t *out)
{
    size_t pos = 0;
    int compress = 1, rc;

    while (pos < n) {
        size_t cut = shelf__chunk_cut(u->r->gear, (const uint8_t *)text + pos, n - pos);

        if ((rc = store_chunk(u, (const uint8_t *)text + pos, cut, SHELF__BLOB_TREE, &compress,
                              out)) != SHELF_OK)
            return rc;
        pos += cut;
    }
    return SHELF_OK;
}

/* Write the snapshot file of run u (its tree stored as treeids), naming
 * its parent and full; st->snapshot and st->packs are set.  Sets r->err. */
static int write_snapshot(run *u, int strategy, json_t *parent_snap, json_t *full_snap, json_t *treeids,
                          const char *runhex)
{
    shelf_repo *r = u->r;
    shelf_backup_stats *st = u->st;
    const shelf_backup_opts *o = u->o;
    json_t *snap = NULL, *deps = json_array(), *tags = json_array();
    char host[256] = "", name[80], hex[SHELF_HASH_HEX], *snap_text = NULL;
    shelf__buf sealed = SHELF__BUF_INIT;
    uint8_t hash[SHELF_HASH_BYTES];
    struct timespec ts;
    json_int_t nanos;
    size_t i;
    int rc = SHELF_OK;

    for (i = 0; deps && i < u->ndeps; i++) {
        char h[33];

        shelf__hex(u->deps[i], SHELF__RUN_BYTES, h);
        if (json_array_append_new(deps, json_string(h)) != 0)
            goto nomem;
    }
    for (i = 0; tags && i < o->ntags; i++)
        if (json_array_append_new(tags, json_string(o->tags[i])) != 0)
            goto nomem;
    if (!deps || !tags)
        goto nomem;
    if (gethostname(host, sizeof host - 1) != 0)
        host[0] = '\0';
    clock_gettime(CLOCK_REALTIME, &ts);
    {
        int64_t test_now;

        /* Tests move time ($SHELF_TEST_CLOCK) to see retention work. */
        if (shelf__clock_test(&test_now))
            ts.tv_sec = (time_t)test_now;
    }
    nanos = (json_int_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    snap = json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:O, s:O, s:O, s:I, s:I, s:I, s:I, s:O, s:O}",
        "time", (json_int_t)(nanos / 1000000000), "nanos", nanos, "device", u->lib->library_id, "host", host,
        "library", u->lib->path, "strategy", strategy_names[strategy], "run", runhex,
        "tree", treeids, "depends", deps, "tags", tags, "items", (json_int_t)st->items,
        "bytes", (json_int_t)st->bytes, "added", (json_int_t)st->bytes_new,
        "stored", (json_int_t)st->bytes_stored,
        "parent", parent_snap ? json_object_get(parent_snap, "id") : json_null(),
        "full", strategy == SHELF_BACKUP_DIFFERENTIAL ? json_object_get(full_snap, "id") : json_null());
    if (!snap || !(snap_text = shelf__json_dumps(snap, JSON_SORT_KEYS | JSON_COMPACT)))
        goto nomem;
    if ((rc = shelf__seal(r, snap_text, strlen(snap_text), &sealed)) != SHELF_OK)
        goto out;
    shelf__sha256_mem(sealed.buf, sealed.len, hash);
    shelf__hex(hash, sizeof hash, hex);
    snprintf(name, sizeof name, "snapshots/%s", hex);
    if ((rc = shelf__be_save(r->be, name, sealed.buf, sealed.len)) != SHELF_OK) {
        shelf__seterr(&r->err, rc, "%s", r->be->err.msg);
        goto out;
    }
    snprintf(st->snapshot, sizeof st->snapshot, "%s", hex);
    {
        sqlite3_stmt *q;

        if (sqlite3_prepare_v2(r->cache, "SELECT count(*) FROM packs WHERE run = ?1", -1, &q, NULL) == SQLITE_OK) {
            (void)sqlite3_bind_blob(q, 1, r->run, SHELF__RUN_BYTES, SQLITE_STATIC);
            /* only a figure for the stats: the snapshot is saved */
            if (sqlite3_step(q) == SQLITE_ROW)
                st->packs = (uint64_t)sqlite3_column_int64(q, 0);
            sqlite3_finalize(q);
        }
    }
    goto out;
nomem:
    rc = shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
out:
    json_decref(snap);
    json_decref(deps);
    json_decref(tags);
    free(snap_text);
    shelf__buf_release(&sealed);
    return rc;
}

/* Back up every item of the work list. */
static int do_work(run *u, json_t *work)
{
    size_t i;
    int rc;

    u->prog.items_total = json_array_size(work);
    for (i = 0; i < json_array_size(work); i++) {
        /* Ask the kernel for the next file while this one is processed. */
        json_t *nw = json_array_get(work, i + 1);
        const char *next = nw && !unchanged(u, nw) ? json_string_value(json_object_get(nw, "src")) : NULL;
        int fd;

        if (next && (fd = open(next, O_RDONLY | O_CLOEXEC)) >= 0) {
            posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED);
            close(fd);
        }
        if ((rc = do_item(u, json_array_get(work, i))) != SHELF_OK || (rc = progress(u, 0)) != SHELF_OK)
            return rc;
    }
    return SHELF_OK;
}

/*
 * The parent of run u of *strategy: the newest snapshot of this library
 * (incremental) or its newest full (differential; without one the run is
 * a full).  Sets u->runs and u->nruns (the runs whose chunks may be
 * reused) and u->parent (the parent tree by path; *ptree holds the tree).
 * Sets r->err.
 */
static int pick_parent(run *u, json_t *all, int *strategy, json_t **parent_snap, json_t **full_snap,
                       json_t **ptree)
{
    shelf_repo *r = u->r;
    json_t *s;
    size_t i;
    int rc;

    for (i = json_array_size(all); i-- > 0;) {
        s = json_array_get(all, i);
        if (strcmp(json_string_value(json_object_get(s, "device")), u->lib->library_id) != 0)
            continue;
        if (!*parent_snap)
            *parent_snap = s;
        if (!*full_snap && !strcmp(json_string_value(json_object_get(s, "strategy")), "full"))
            *full_snap = s;
    }
    if (*strategy == SHELF_BACKUP_DIFFERENTIAL && !*full_snap)
        *strategy = SHELF_BACKUP_FULL;  /* nothing to differ from yet */
    memcpy(u->runs[0], r->run, SHELF__RUN_BYTES);
    if (*strategy == SHELF_BACKUP_FULL) {
        u->nruns = 1;
        *parent_snap = NULL;
    } else if (*strategy == SHELF_BACKUP_DIFFERENTIAL) {
        shelf__unhex(json_string_value(json_object_get(*full_snap, "run")), u->runs[1], SHELF__RUN_BYTES);
        u->nruns = 2;
        *parent_snap = *full_snap;
    }
    if (!*parent_snap)
        return SHELF_OK;
    if ((rc = shelf__tree_load(r, *parent_snap, ptree)) != SHELF_OK)
        return rc;
    if (!(u->parent = by_path(*ptree)))
        return shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
    return SHELF_OK;
}

static int backup_run(shelf_repo *r, shelf_library *lib, const shelf_backup_opts *o,
                      shelf_backup_stats *st)
{
    shelf_backup_opts opts;
    run u;
    json_t *all = NULL, *parent_snap = NULL, *full_snap = NULL, *work = NULL, *tree = NULL;
    json_t *treeids = NULL, *ptree = NULL;
    char *catalog_copy = NULL, *cachedir = NULL, *tree_text = NULL;
    char runhex[33];
    int strategy, rc;
    double t0 = shelf__monotonic();
    uint64_t stored0 = 0;

    memset(st, 0, sizeof *st);
    /* the first version had no unreadable callback */
    if ((rc = shelf__opts_check(&r->err, &opts, sizeof opts, o, offsetof(shelf_backup_opts, unreadable),
                                "shelf_backup_opts")) != SHELF_OK)
        return rc;
    strategy = opts.strategy;
    memset(&u, 0, sizeof u);
    u.r = r;
    u.lib = lib;
    u.o = &opts;
    u.st = st;
    if (strategy < 0 || strategy > 2)
        return shelf__seterr(&r->err, SHELF_EINVAL, "unknown backup strategy %d", strategy);
    if ((rc = shelf__repo_lock(r, 0)) != SHELF_OK)
        return rc;
    shelf__repo_sweep(r);
    {
        /* The catalog copies of killed backups of this library. */
        char *cd = shelf__path_join(lib->path, "cache");

        if (cd)
            shelf__cache_sweep(cd, 0);
        shelf_free(cd);
    }
    if ((rc = shelf__index_sync(r)) != SHELF_OK || (rc = shelf__snap_all(r, &all)) != SHELF_OK)
        goto out;
    if (shelf__random(r->run, sizeof r->run) != SHELF_OK) {
        rc = shelf__seterr(&r->err, SHELF_EIO, "cannot get random bytes");
        goto out;
    }
    r->in_run = 1;
    shelf__hex(r->run, sizeof r->run, runhex);
    if ((rc = pick_parent(&u, all, &strategy, &parent_snap, &full_snap, &ptree)) != SHELF_OK)
        goto out;
    if (!(u.buf = shelf__malloc(2 * (size_t)SHELF__CHUNK_MAX)) || !(u.items = json_array()) ||
        !(work = json_array()) || !(cachedir = shelf__cache_dir(lib)) ||
        !(catalog_copy = shelf__asprintf("%s/backup-catalog-%d.db", cachedir, (int)getpid()))) {
        rc = shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    shelf__mkdirs(cachedir, 0777);
    stored0 = r->stored_bytes;
    if ((rc = shelf__pipe_start(r, chunk_done, &u)) != SHELF_OK)
        goto out;
    if ((rc = shelf_db_backup(lib, catalog_copy)) != SHELF_OK) {
        shelf__seterr(&r->err, rc, "%s", shelf_errmsg(lib));
        goto out;
    }
    if ((rc = build_work(&u, catalog_copy, work, &u.prog.bytes_total)) != SHELF_OK)
        goto out;
    if ((rc = do_work(&u, work)) != SHELF_OK)
        goto out;
    /* Every chunk id is in its item's list once the workers are done. */
    if ((rc = shelf__pipe_drain(r)) != SHELF_OK)
        goto out;
    tree = json_pack("{s:O, s:i}", "items", u.items, "path_text", 1);
    treeids = json_array();
    if (!tree || !treeids || !(tree_text = shelf__json_dumps(tree, JSON_COMPACT))) {
        rc = shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = store_tree(&u, tree_text, strlen(tree_text), treeids)) != SHELF_OK)
        goto out;
    /* Packs, then the index, then the snapshot. */
    if ((rc = shelf__pipe_drain(r)) != SHELF_OK)
        goto out;
    shelf__pipe_stop(r);
    st->bytes_stored = r->stored_bytes - stored0;
    if ((rc = shelf__pack_flush(r)) != SHELF_OK || (rc = shelf__index_write(r)) != SHELF_OK)
        goto out;
    if ((rc = write_snapshot(&u, strategy, parent_snap, full_snap, treeids, runhex)) != SHELF_OK)
        goto out;
    progress(&u, 1);
out:
    shelf__pipe_stop(r);
    if (rc != SHELF_OK) {
        /* Keep what reached the repository for the next run: save the open
         * pack if the target still takes writes, and leave its rows. */
        shelf__err keep = r->err;

        if (r->nents > 0)
            shelf__pack_flush(r);
        r->err = keep;
    }
    r->in_run = 0;
    shelf__repo_unlock(r);
    if (catalog_copy)
        unlink(catalog_copy);
    st->seconds = shelf__monotonic() - t0;
    json_decref(all);
    json_decref(ptree);
    json_decref(u.parent);
    json_decref(u.items);
    json_decref(work);
    json_decref(tree);
    json_decref(treeids);
    free(tree_text);
    shelf_free(u.buf);
    shelf_free(u.deps);
    shelf_free(catalog_copy);
    shelf_free(cachedir);
    return rc;
}

int shelf_backup_run(shelf_repo *r, shelf_library *lib, const shelf_backup_opts *o,
                     shelf_backup_stats *st)
{
    shelf_backup_stats full = { .size = sizeof full };
    int rc = backup_run(r, lib, o, &full);

    shelf__out_fill(st, &full, sizeof full);
    return rc;
}
