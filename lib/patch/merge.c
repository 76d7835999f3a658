/*
 * merge.c: parameter-level diff of two documents, applying a diff (the
 * delta that version storage keeps), and the three-way merge that sync and
 * `shelf patch merge` use.
 *
 * All three walk documents in working form (patch_int.h): groups are
 * objects and are walked member by member in key order; everything else
 * (numbers, strings, booleans, arrays) is one value.  Tags are an object of
 * names, so they diff and merge as a set.
 */
#include <stdlib.h>
#include <string.h>
#include "patch_int.h"
#include "shelf/patch.h"

/* ---- Diff ------------------------------------------------------------------ */

static int cmp_key(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The union of the keys of up to three objects, sorted, each once (owned
 * array of borrowed strings). */
static const char **union_keys(const json_t *a, const json_t *b, const json_t *c, size_t *n)
{
    size_t cap = json_object_size(a) + json_object_size(b) + json_object_size(c) + 1, k = 0, i, j;
    const json_t *objs[3] = { a, b, c };
    const char **v = shelf__calloc(cap, sizeof *v);
    const char *key;
    json_t *m;

    if (!v)
        return NULL;
    for (i = 0; i < 3; i++)
        if (objs[i])
            json_object_foreach((json_t *)objs[i], key, m)
                v[k++] = key;
    qsort(v, k, sizeof *v, cmp_key);
    for (i = j = 0; i < k; i++)
        if (j == 0 || strcmp(v[j - 1], v[i]) != 0)
            v[j++] = v[i];
    *n = j;
    return v;
}

static int add_op(json_t *out, int full, const char *path, const json_t *old, const json_t *new)
{
    json_t *op;

    if (full) {
        op = json_pack("{s:s, s:s}", "op", !old ? "add" : !new ? "remove" : "change", "path", path);
        if (op && ((old && json_object_set(op, "old", (json_t *)old) != 0) ||
                   (new && json_object_set(op, "new", (json_t *)new) != 0))) {
            json_decref(op);
            op = NULL;
        }
    } else if (new) {
        op = json_pack("[s, s, O]", "s", path, new);
    } else {
        op = json_pack("[s, s]", "r", path);
    }
    return op && json_array_append_new(out, op) == 0 ? SHELF_OK : SHELF_ENOMEM;
}

/*
 * Groups that the canonical form omits when empty (doc.c): for them an
 * absent member is the same as an empty group, so diff and merge go inside
 * instead of treating the whole group as one value.  parent is the path of
 * the object that holds key.
 */
static int omitted_when_empty(const char *parent, size_t len, const char *key)
{
    static const char *const top[] = { "tags", "params", "types", "zones", "patches", "samples",
                                       "automation", NULL };

    if (len == 0) {
        for (size_t i = 0; top[i]; i++)
            if (strcmp(top[i], key) == 0)
                return 1;
        return 0;
    }
    /* zones/<id>/params */
    return strcmp(key, "params") == 0 && strncmp(parent, "zones/", 6) == 0 &&
           strchr(parent + 6, '/') == NULL;
}

static int diff_walk(const json_t *a, const json_t *b, shelf__buf *path, json_t *out, int full);

/* Diff one member: x (old) and y (new), either absent. */
static int diff_member(const json_t *x, const json_t *y, int setlike, shelf__buf *path,
                       json_t *out, int full)
{
    /* Inside groups: both groups; in a delta, a new non-empty group (so
     * that two sides adding to the same new group each say which members;
     * the user's diff shows it whole); a set-like group that appeared or
     * went away. */
    if ((json_is_object(x) && json_is_object(y)) ||
        (!full && !x && json_is_object(y) && json_object_size(y)) ||
        (setlike && ((!x && json_is_object(y)) || (!y && json_is_object(x)))))
        return diff_walk(x, y, path, out, full);
    return add_op(out, full, path->buf, x, y);
}

static int diff_walk(const json_t *a, const json_t *b, shelf__buf *path, json_t *out, int full)
{
    const char **keys;
    size_t n, i, len = path->len;
    int rc = SHELF_OK, setlike;

    if (!(keys = union_keys(a, b, NULL, &n)))
        return SHELF_ENOMEM;
    for (i = 0; i < n && rc == SHELF_OK; i++) {
        json_t *x = json_object_get(a, keys[i]), *y = json_object_get(b, keys[i]);

        if (x && y && json_equal(x, y))
            continue;
        setlike = omitted_when_empty(path->buf ? path->buf : "", len, keys[i]);
        if ((rc = shelf__docpath_add(path, keys[i])) != SHELF_OK)
            break;
        rc = diff_member(x, y, setlike, path, out, full);
        path->len = len;
        if (path->buf)
            path->buf[len] = '\0';
    }
    free(keys);
    return rc;
}

json_t *shelf__doc_diff(const json_t *a, const json_t *b, int full)
{
    shelf__buf path = SHELF__BUF_INIT;
    json_t *out = json_array();

    if (out && diff_walk(a, b, &path, out, full) != SHELF_OK) {
        json_decref(out);
        out = NULL;
    }
    shelf__buf_release(&path);
    return out;
}

int shelf__doc_apply(json_t *doc, const json_t *delta, shelf__err *err)
{
    size_t i;
    json_t *op;
    int rc = SHELF_OK;

    if (!json_is_array(delta))
        return shelf__seterr(err, SHELF_ECORRUPT, "corrupt delta: not an array");
    json_array_foreach(delta, i, op) {
        const char *kind = json_string_value(json_array_get(op, 0));
        const char *path = json_string_value(json_array_get(op, 1));

        if (!kind || !path)
            return shelf__seterr(err, SHELF_ECORRUPT, "corrupt delta: operation %zu", i);
        if (!strcmp(kind, "s") && json_array_size(op) == 3)
            rc = shelf__doc_set(doc, path, json_deep_copy(json_array_get(op, 2)), err);
        else if (!strcmp(kind, "r") && json_array_size(op) == 2)
            rc = shelf__doc_remove(doc, path, err);
        else
            rc = shelf__seterr(err, SHELF_ECORRUPT, "corrupt delta: operation %zu", i);
        if (rc != SHELF_OK)
            return rc;
    }
    return SHELF_OK;
}

/* ---- Three-way merge -------------------------------------------------------- */

typedef struct conflict {
    char *path;
    json_t *base, *ours, *theirs;   /* NULL: absent */
    char *base_s, *ours_s, *theirs_s;
    int resolved;
    json_t *value;                  /* the resolution; NULL: delete */
} conflict;

struct shelf_merge {
    json_t *result;                 /* merged, conflicts left at ours */
    conflict *c;
    size_t n, cap;
    int64_t ours_time, theirs_time;
};

static int add_conflict(shelf_merge *m, const char *path, json_t *b, json_t *o, json_t *t)
{
    conflict *c;

    if (m->n == m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 8;
        conflict *v = shelf__realloc(m->c, cap * sizeof *v);

        if (!v)
            return SHELF_ENOMEM;
        m->c = v;
        m->cap = cap;
    }
    c = &m->c[m->n];
    memset(c, 0, sizeof *c);
    if (!(c->path = shelf__strdup(path)))
        return SHELF_ENOMEM;
    m->n++;
    c->base = json_incref(b);
    c->ours = json_incref(o);
    c->theirs = json_incref(t);
    if ((b && !(c->base_s = shelf__json_text(b, 1))) || (o && !(c->ours_s = shelf__json_text(o, 1))) ||
        (t && !(c->theirs_s = shelf__json_text(t, 1))))
        return SHELF_ENOMEM;
    return SHELF_OK;
}

static int same(const json_t *a, const json_t *b)
{
    return (!a && !b) || (a && b && json_equal((json_t *)a, (json_t *)b));
}

/*
 * Merge the members of b (base), o (ours), t (theirs) into out, any of the
 * three possibly NULL (absent).  Depth is bounded by the documents' own.
 */
static int merge_walk(shelf_merge *m, const json_t *b, const json_t *o, const json_t *t,
                      json_t *out, shelf__buf *path)
{
    const char **keys;
    size_t n, i, len = path->len;
    int rc = SHELF_OK;

    if (!(keys = union_keys(b, o, t, &n)))
        return SHELF_ENOMEM;
    for (i = 0; i < n && rc == SHELF_OK; i++) {
        json_t *bv = json_object_get(b, keys[i]), *ov = json_object_get(o, keys[i]);
        json_t *tv = json_object_get(t, keys[i]), *pick = NULL;

        if (same(ov, tv))
            pick = ov;                          /* unchanged, or the same change */
        else if (same(ov, bv))
            pick = tv;                          /* only theirs changed */
        else if (same(tv, bv))
            pick = ov;                          /* only ours changed */
        else if ((json_is_object(ov) && json_is_object(tv) && (!bv || json_is_object(bv))) ||
                 (omitted_when_empty(path->buf ? path->buf : "", len, keys[i]) &&
                  (!ov || json_is_object(ov)) && (!tv || json_is_object(tv)) &&
                  (!bv || json_is_object(bv)))) {
            json_t *sub = json_object();        /* both changed inside a group */

            if (!sub || (rc = shelf__docpath_add(path, keys[i])) != SHELF_OK ||
                (rc = merge_walk(m, bv, ov, tv, sub, path)) != SHELF_OK) {
                json_decref(sub);
                rc = rc ? rc : SHELF_ENOMEM;
            } else if (json_object_set_new(out, keys[i], sub) != 0) {   /* steals sub */
                rc = SHELF_ENOMEM;
            }
            path->len = len;
            if (path->buf)
                path->buf[len] = '\0';
            continue;
        } else if (len == 0 && !strcmp(keys[i], "rating")) {
            /* Rating: the newer side wins; a tie goes to ours. */
            pick = m->theirs_time > m->ours_time ? tv : ov;
        } else {
            if ((rc = shelf__docpath_add(path, keys[i])) == SHELF_OK)
                rc = add_conflict(m, path->buf, bv, ov, tv);
            path->len = len;
            if (path->buf)
                path->buf[len] = '\0';
            pick = ov;                          /* provisional */
        }
        if (rc == SHELF_OK && pick && json_object_set_new(out, keys[i], json_deep_copy(pick)) != 0)
            rc = SHELF_ENOMEM;
    }
    free(keys);
    return rc;
}

static int load_any(const char *text, int kind, int *kind_out, json_t **out, shelf__err *err,
                    const char *which)
{
    int rc = shelf__doc_load(text, strlen(text), kind, kind_out, out, err);

    if (rc != SHELF_OK) {
        char msg[sizeof err->msg];

        snprintf(msg, sizeof msg, "%s", err->msg);
        shelf__seterr(err, rc, "%s: %s", which, msg);
    }
    return rc;
}

static void set_errmsg(char **errmsg, const shelf__err *err)
{
    if (errmsg)
        *errmsg = shelf__strdup(err->msg);
}

int shelf_doc_diff(const char *a, const char *b, char **diff_json, char **errmsg)
{
    shelf__err err = { 0, "" };
    json_t *x = NULL, *y = NULL, *d = NULL;
    char *text;
    int rc, kind;

    *diff_json = NULL;
    if (errmsg)
        *errmsg = NULL;
    if ((rc = load_any(a, 0, &kind, &x, &err, "first document")) != SHELF_OK ||
        (rc = load_any(b, kind, NULL, &y, &err, "second document")) != SHELF_OK)
        goto out;
    if (!(d = shelf__doc_diff(x, y, 1)) || !(text = shelf__json_text(d, 0))) {
        rc = shelf__seterr(&err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    *diff_json = shelf__strdup(text);
    free(text);
    rc = *diff_json ? SHELF_OK : SHELF_ENOMEM;
out:
    if (rc != SHELF_OK)
        set_errmsg(errmsg, &err);
    json_decref(x);
    json_decref(y);
    json_decref(d);
    return rc;
}

int shelf__merge_docs(const json_t *base, const json_t *ours, const json_t *theirs,
                      int64_t ours_time, int64_t theirs_time, shelf_merge **out)
{
    shelf__buf path = SHELF__BUF_INIT;
    shelf_merge *m;
    int rc;

    *out = NULL;
    if (!(m = shelf__calloc(1, sizeof *m)))
        return SHELF_ENOMEM;
    m->ours_time = ours_time;
    m->theirs_time = theirs_time;
    if (!(m->result = json_object())) {
        shelf_merge_free(m);
        return SHELF_ENOMEM;
    }
    rc = merge_walk(m, base, ours, theirs, m->result, &path);
    shelf__buf_release(&path);
    if (rc != SHELF_OK) {
        shelf_merge_free(m);
        return rc;
    }
    *out = m;
    return SHELF_OK;
}

int shelf_merge_new(const char *base, const char *ours, const char *theirs, int64_t ours_time,
                    int64_t theirs_time, shelf_merge **out, char **errmsg)
{
    shelf__err err = { 0, "" };
    json_t *b = NULL, *o = NULL, *t = NULL;
    int rc, kind;

    *out = NULL;
    if (errmsg)
        *errmsg = NULL;
    if ((rc = load_any(base, 0, &kind, &b, &err, "base")) != SHELF_OK ||
        (rc = load_any(ours, kind, NULL, &o, &err, "ours")) != SHELF_OK ||
        (rc = load_any(theirs, kind, NULL, &t, &err, "theirs")) != SHELF_OK)
        goto out;
    if ((rc = shelf__merge_docs(b, o, t, ours_time, theirs_time, out)) != SHELF_OK)
        shelf__seterr(&err, rc, "out of memory");
out:
    if (rc != SHELF_OK)
        set_errmsg(errmsg, &err);
    json_decref(b);
    json_decref(o);
    json_decref(t);
    return rc;
}

size_t shelf_merge_conflicts(const shelf_merge *m)
{
    return m->n;
}

int shelf_merge_conflict(const shelf_merge *m, size_t i, const char **path, const char **base,
                         const char **ours, const char **theirs, int *resolved)
{
    if (i >= m->n)
        return SHELF_ENOTFOUND;
    if (path)
        *path = m->c[i].path;
    if (base)
        *base = m->c[i].base_s;
    if (ours)
        *ours = m->c[i].ours_s;
    if (theirs)
        *theirs = m->c[i].theirs_s;
    if (resolved)
        *resolved = m->c[i].resolved;
    return SHELF_OK;
}

static int resolve_one(conflict *c, int how, const char *value)
{
    json_t *v = NULL;
    unsigned long failures;
    int rc;

    switch (how) {
    case SHELF_MERGE_OURS: v = json_incref(c->ours); break;
    case SHELF_MERGE_THEIRS: v = json_incref(c->theirs); break;
    case SHELF_MERGE_BASE: v = json_incref(c->base); break;
    case SHELF_MERGE_VALUE:
        if (!value)
            break;
        /* JSON, or else the text as a string (not UTF-8: SHELF_EINVAL). */
        rc = shelf__json_parse(NULL, SHELF_EINVAL, "value", value, strlen(value), JSON_DECODE_ANY, &v);
        if (rc == SHELF_ENOMEM)
            return rc;
        failures = shelf__alloc_failures();
        if (!v && !(v = json_string(value)))
            return shelf__alloc_failures() != failures ? SHELF_ENOMEM : SHELF_EINVAL;
        break;
    default:
        return SHELF_EINVAL;
    }
    json_decref(c->value);
    c->value = v;
    c->resolved = 1;
    return SHELF_OK;
}

int shelf_merge_resolve(shelf_merge *m, size_t i, int how, const char *value)
{
    int rc = SHELF_OK;

    if (i == (size_t)-1) {
        for (i = 0; i < m->n && rc == SHELF_OK; i++)
            rc = resolve_one(&m->c[i], how, value);
        return rc;
    }
    if (i >= m->n)
        return SHELF_ENOTFOUND;
    return resolve_one(&m->c[i], how, value);
}

int shelf_merge_resolve_path(shelf_merge *m, const char *path, int how, const char *value)
{
    if (*path == '/')
        path++;
    for (size_t i = 0; i < m->n; i++)
        if (!strcmp(m->c[i].path, path))
            return resolve_one(&m->c[i], how, value);
    return SHELF_ENOTFOUND;
}

json_t *shelf__merge_doc(const shelf_merge *m, int *rc)
{
    shelf__err err = { 0, "" };
    json_t *doc;
    size_t i;

    for (i = 0; i < m->n; i++)
        if (!m->c[i].resolved) {
            *rc = SHELF_ECONFLICT;
            return NULL;
        }
    if (!(doc = json_deep_copy(m->result))) {
        *rc = SHELF_ENOMEM;
        return NULL;
    }
    *rc = SHELF_OK;
    for (i = 0; i < m->n && *rc == SHELF_OK; i++) {
        if (m->c[i].value)
            *rc = shelf__doc_set(doc, m->c[i].path, json_deep_copy(m->c[i].value), &err);
        else if (shelf__doc_get(doc, m->c[i].path))
            *rc = shelf__doc_remove(doc, m->c[i].path, &err);
    }
    /* A resolution may break the schema (--set with a bad value). */
    if (*rc == SHELF_OK && (*rc = shelf__doc_check(doc, 0, &err)) != SHELF_OK &&
        *rc != SHELF_ENOMEM)
        *rc = SHELF_EINVAL;
    if (*rc != SHELF_OK) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

int shelf_merge_result(const shelf_merge *m, char **json)
{
    json_t *doc;
    char *text;
    int rc;

    *json = NULL;
    if (!(doc = shelf__merge_doc(m, &rc)))
        return rc;
    text = shelf__doc_dump(doc, NULL);
    json_decref(doc);
    if (!text)
        return SHELF_ENOMEM;
    *json = shelf__strdup(text);
    free(text);
    return *json ? SHELF_OK : SHELF_ENOMEM;
}

void shelf_merge_free(shelf_merge *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++) {
        conflict *c = &m->c[i];

        free(c->path);
        json_decref(c->base);
        json_decref(c->ours);
        json_decref(c->theirs);
        json_decref(c->value);
        free(c->base_s);
        free(c->ours_s);
        free(c->theirs_s);
    }
    free(m->c);
    json_decref(m->result);
    free(m);
}
