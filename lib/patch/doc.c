/*
 * doc.c: patch and project documents: parsing, checking against the schema
 * of doc/documents.md, the working form (tags as a set), the canonical
 * text and its hash, and paths into a document (RFC 6901 segments without
 * the leading '/').
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "patch_int.h"
#include "shelf/patch.h"

/* ---- Checking ----------------------------------------------------------- */

typedef struct checker {
    shelf__err *err;
    shelf__buf path;    /* where we are, for messages */
} checker;

static int bad(checker *c, const char *what)
{
    if (c->path.len)
        return shelf__seterr(c->err, SHELF_EFORMAT, "invalid document: %s: %s", c->path.buf, what);
    return shelf__seterr(c->err, SHELF_EFORMAT, "invalid document: %s", what);
}

/* Push key onto the message path; returns the length to pop back to. */
static size_t push(checker *c, const char *key)
{
    size_t old = c->path.len;

    if (old)
        shelf__buf_add(&c->path, "/", 1);
    shelf__buf_adds(&c->path, key);
    return old;
}

static void pop(checker *c, size_t len)
{
    if (c->path.buf) {
        c->path.len = len;
        c->path.buf[len] = '\0';
    }
}

static int is_finite_number(const json_t *v)
{
    return json_is_integer(v) || (json_is_real(v) && isfinite(json_real_value(v)));
}

/* A value of a parameter tree: groups, scalars, arrays of either. */
static int check_value(checker *c, const json_t *v, int depth)
{
    const char *key;
    json_t *m;
    size_t i, old;
    int rc;

    if (depth > SHELF__DOC_MAX_DEPTH)
        return bad(c, "nested too deep");
    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, key, m) {
            if (!*key)
                return bad(c, "empty parameter name");
            old = push(c, key);
            rc = check_value(c, m, depth + 1);
            pop(c, old);
            if (rc != SHELF_OK)
                return rc;
        }
        return SHELF_OK;
    }
    if (json_is_array(v)) {
        json_array_foreach(v, i, m) {
            if (json_is_array(m))
                return bad(c, "arrays of arrays are not parameter values");
            if ((rc = check_value(c, m, depth + 1)) != SHELF_OK)
                return rc;
        }
        return SHELF_OK;
    }
    if (json_is_real(v) && !isfinite(json_real_value(v)))
        return bad(c, "numbers must be finite");
    if (json_is_null(v))
        return bad(c, "null is not a value (remove the member instead)");
    return SHELF_OK;
}

static int check_string(checker *c, json_t *o, const char *key, int required)
{
    json_t *v = json_object_get(o, key);
    size_t old;
    int rc = SHELF_OK;

    if (!v) {
        if (!required)
            return SHELF_OK;
        old = push(c, key);
        rc = bad(c, "missing");
        pop(c, old);
        return rc;
    }
    old = push(c, key);
    if (!json_is_string(v))
        rc = bad(c, "must be a string");
    else if (required && json_string_length(v) == 0)
        rc = bad(c, "must not be empty");
    else if (json_string_length(v) > 65536)
        rc = bad(c, "longer than 65536 bytes");
    else if (!required && json_string_length(v) == 0)
        json_object_del(o, key);        /* the default is omitted */
    pop(c, old);
    return rc;
}

static int check_tag_name(checker *c, const char *t, size_t n)
{
    size_t i;

    if (n == 0 || n > 64)
        return bad(c, "a tag must have 1 to 64 bytes");
    for (i = 0; i < n; i++)
        if ((unsigned char)t[i] <= ' ' || t[i] == 0x7f)
            return bad(c, "a tag must not contain spaces or control characters");
    return SHELF_OK;
}

/* Tags: an array of names (canonical) or an object of names (working form)
 * becomes an object of lowercased names. */
static int check_tags(checker *c, json_t *doc)
{
    json_t *v = json_object_get(doc, "tags"), *set, *m;
    const char *key;
    size_t i, old = push(c, "tags");
    char *low = NULL;
    int rc = SHELF_OK;

    if (!v)
        goto out;
    if (!json_is_array(v) && !json_is_object(v)) {
        rc = bad(c, "must be an array of strings");
        goto out;
    }
    if (!(set = json_object())) {
        rc = shelf__seterr(c->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    if (json_is_array(v)) {
        json_array_foreach(v, i, m) {
            if (!json_is_string(m)) {
                rc = bad(c, "must be an array of strings");
                break;
            }
            if ((rc = check_tag_name(c, json_string_value(m), json_string_length(m))) != SHELF_OK)
                break;
            if (!(low = shelf__strdup(json_string_value(m)))) {
                rc = shelf__seterr(c->err, SHELF_ENOMEM, "out of memory");
                break;
            }
            for (char *p = low; *p; p++)
                *p = (char)tolower((unsigned char)*p);
            rc = json_object_set_new(set, low, json_true()) == 0
                     ? SHELF_OK : shelf__seterr(c->err, SHELF_ENOMEM, "out of memory");
            free(low);
            low = NULL;
            if (rc != SHELF_OK)
                break;
        }
    } else {
        json_object_foreach(v, key, m) {
            if (!json_is_true(m)) {
                rc = bad(c, "tag set members must be true");
                break;
            }
            if ((rc = check_tag_name(c, key, strlen(key))) != SHELF_OK)
                break;
            if (!(low = shelf__strdup(key))) {
                rc = shelf__seterr(c->err, SHELF_ENOMEM, "out of memory");
                break;
            }
            for (char *p = low; *p; p++)
                *p = (char)tolower((unsigned char)*p);
            rc = json_object_set_new(set, low, json_true()) == 0
                     ? SHELF_OK : shelf__seterr(c->err, SHELF_ENOMEM, "out of memory");
            free(low);
            low = NULL;
            if (rc != SHELF_OK)
                break;
        }
    }
    if (rc == SHELF_OK && json_object_size(set)) {
        if (json_object_set(doc, "tags", set) != 0)
            rc = shelf__seterr(c->err, SHELF_ENOMEM, "out of memory");
    } else if (rc == SHELF_OK) {
        (void)json_object_del(doc, "tags");     /* absent is fine */
    }
    json_decref(set);
out:
    pop(c, old);
    return rc;
}

static int check_rating(checker *c, json_t *doc)
{
    json_t *v = json_object_get(doc, "rating");
    size_t old;
    int rc = SHELF_OK;

    if (!v)
        return SHELF_OK;
    old = push(c, "rating");
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 5)
        rc = bad(c, "must be an integer from 0 to 5");
    else if (json_integer_value(v) == 0)
        json_object_del(doc, "rating");
    pop(c, old);
    return rc;
}

/* [lo, hi] with 0 <= lo <= hi <= 127. */
static int check_range(checker *c, json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key), *lo, *hi;
    size_t old;
    int rc = SHELF_OK;

    if (!v)
        return SHELF_OK;
    old = push(c, key);
    lo = json_array_get(v, 0);
    hi = json_array_get(v, 1);
    if (!json_is_array(v) || json_array_size(v) != 2 || !json_is_integer(lo) ||
        !json_is_integer(hi) || json_integer_value(lo) < 0 || json_integer_value(hi) > 127 ||
        json_integer_value(lo) > json_integer_value(hi))
        rc = bad(c, "must be [low, high] with 0 <= low <= high <= 127");
    pop(c, old);
    return rc;
}

static int check_int(checker *c, json_t *o, const char *key, json_int_t min, json_int_t max)
{
    json_t *v = json_object_get(o, key);
    size_t old;
    int rc = SHELF_OK;

    if (!v)
        return SHELF_OK;
    old = push(c, key);
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        char msg[96];

        snprintf(msg, sizeof msg, "must be an integer from %lld to %lld", (long long)min,
                 (long long)max);
        rc = bad(c, msg);
    }
    pop(c, old);
    return rc;
}

/* Every member of o must be one of the NULL-terminated names. */
static int check_members(checker *c, json_t *o, const char *const *names)
{
    const char *key;
    json_t *m;
    size_t i, old;
    int rc;

    json_object_foreach(o, key, m) {
        for (i = 0; names[i] && strcmp(names[i], key) != 0; i++)
            ;
        if (!names[i]) {
            old = push(c, key);
            rc = bad(c, "unknown member");
            pop(c, old);
            return rc;
        }
    }
    return SHELF_OK;
}

/* An object member that must be a group of parameter values. */
static int check_group(checker *c, json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    size_t old;
    int rc;

    if (!v)
        return SHELF_OK;
    old = push(c, key);
    rc = json_is_object(v) ? check_value(c, v, 1) : bad(c, "must be an object");
    pop(c, old);
    if (rc == SHELF_OK && json_object_size(v) == 0)
        json_object_del(o, key);
    return rc;
}

static int check_types(checker *c, json_t *doc)
{
    static const char *const members[] = { "type", "unit", "min", "max", "values", NULL };
    static const char *const kinds[] = { "number", "integer", "string", "enum", "bool",
                                         "array", NULL };
    json_t *types = json_object_get(doc, "types"), *t, *v, *m;
    const char *key;
    size_t old, old2, i, k;
    int rc = SHELF_OK;

    if (!types)
        return SHELF_OK;
    old = push(c, "types");
    if (!json_is_object(types)) {
        rc = bad(c, "must be an object");
        goto out;
    }
    json_object_foreach(types, key, t) {
        old2 = push(c, key);
        if (!*key)
            rc = bad(c, "empty path");
        else if (!json_is_object(t))
            rc = bad(c, "must be an object");
        else if ((rc = check_members(c, t, members)) != SHELF_OK)
            ;
        else if ((v = json_object_get(t, "type")) != NULL) {
            for (k = 0; kinds[k] && (!json_is_string(v) || strcmp(kinds[k], json_string_value(v)) != 0); k++)
                ;
            if (!kinds[k])
                rc = bad(c, "type must be number, integer, string, enum, bool or array");
        }
        if (rc == SHELF_OK && (v = json_object_get(t, "unit")) && !json_is_string(v))
            rc = bad(c, "unit must be a string");
        if (rc == SHELF_OK && (v = json_object_get(t, "min")) && !is_finite_number(v))
            rc = bad(c, "min must be a number");
        if (rc == SHELF_OK && (v = json_object_get(t, "max")) && !is_finite_number(v))
            rc = bad(c, "max must be a number");
        if (rc == SHELF_OK && (v = json_object_get(t, "values"))) {
            if (!json_is_array(v))
                rc = bad(c, "values must be an array of strings");
            json_array_foreach(v, i, m)
                if (rc == SHELF_OK && !json_is_string(m))
                    rc = bad(c, "values must be an array of strings");
        }
        pop(c, old2);
        if (rc != SHELF_OK)
            goto out;
    }
    if (json_object_size(types) == 0)
        json_object_del(doc, "types");
out:
    pop(c, old);
    return rc;
}

static int check_zone(checker *c, const char *id, json_t *z)
{
    static const char *const members[] = { "sample", "key", "root", "vel", "rr", "loop",
                                           "params", "name", "group", NULL };
    static const char *const smembers[] = { "id", "sha256", "path", "missing", NULL };
    static const char *const lmembers[] = { "mode", "start", "end", NULL };
    static const char *const modes[] = { "no_loop", "one_shot", "loop_continuous",
                                         "loop_sustain", NULL };
    json_t *s, *v;
    size_t old, k;
    int rc;

    (void)id;
    if (!json_is_object(z))
        return bad(c, "a zone must be an object");
    if ((rc = check_members(c, z, members)) != SHELF_OK)
        return rc;
    s = json_object_get(z, "sample");
    old = push(c, "sample");
    if (!json_is_object(s))
        rc = bad(c, "missing (every zone refers to a sample)");
    else if ((rc = check_members(c, s, smembers)) != SHELF_OK)
        ;
    else if ((rc = check_int(c, s, "id", 1, INT64_MAX)) != SHELF_OK)
        ;
    else if ((v = json_object_get(s, "sha256")) &&
             (!json_is_string(v) || !shelf__is_hash_hex(json_string_value(v))))
        rc = bad(c, "sha256 must be 64 lowercase hex digits");
    else if ((v = json_object_get(s, "path")) && !json_is_string(v))
        rc = bad(c, "path must be a string");
    else if ((v = json_object_get(s, "missing")) && !json_is_boolean(v))
        rc = bad(c, "missing must be true or false");
    else if (!json_object_get(s, "path") && !json_object_get(s, "sha256") &&
             !json_object_get(s, "id"))
        rc = bad(c, "needs an id, a sha256 or a path");
    pop(c, old);
    if (rc != SHELF_OK)
        return rc;
    if ((rc = check_range(c, z, "key")) != SHELF_OK || (rc = check_range(c, z, "vel")) != SHELF_OK ||
        (rc = check_int(c, z, "root", 0, 127)) != SHELF_OK ||
        (rc = check_int(c, z, "rr", 1, 1000000)) != SHELF_OK ||
        (rc = check_string(c, z, "name", 0)) != SHELF_OK ||
        (rc = check_string(c, z, "group", 0)) != SHELF_OK ||
        (rc = check_group(c, z, "params")) != SHELF_OK)
        return rc;
    if ((v = json_object_get(z, "loop")) != NULL) {
        json_t *mode = json_object_get(v, "mode"), *a, *b;

        old = push(c, "loop");
        if (!json_is_object(v))
            rc = bad(c, "must be an object");
        else if ((rc = check_members(c, v, lmembers)) != SHELF_OK)
            ;
        else if (mode) {
            for (k = 0; modes[k] && (!json_is_string(mode) || strcmp(modes[k], json_string_value(mode)) != 0); k++)
                ;
            if (!modes[k])
                rc = bad(c, "mode must be no_loop, one_shot, loop_continuous or loop_sustain");
        }
        if (rc == SHELF_OK && ((rc = check_int(c, v, "start", 0, INT64_MAX)) != SHELF_OK ||
                               (rc = check_int(c, v, "end", 0, INT64_MAX)) != SHELF_OK))
            ;
        else if (rc == SHELF_OK && (a = json_object_get(v, "start")) && (b = json_object_get(v, "end")) &&
                 json_integer_value(a) > json_integer_value(b))
            rc = bad(c, "start must not be after end");
        pop(c, old);
    }
    return rc;
}

/* An object whose members are all checked by fn. */
static int check_map(checker *c, json_t *doc, const char *key,
                     int (*fn)(checker *, const char *, json_t *))
{
    json_t *map = json_object_get(doc, key), *m;
    const char *k;
    size_t old, old2;
    int rc = SHELF_OK;

    if (!map)
        return SHELF_OK;
    old = push(c, key);
    if (!json_is_object(map))
        rc = bad(c, "must be an object");
    json_object_foreach(map, k, m) {
        if (rc != SHELF_OK)
            break;
        old2 = push(c, k);
        rc = *k ? fn(c, k, m) : bad(c, "empty key");
        pop(c, old2);
    }
    if (rc == SHELF_OK && json_object_size(map) == 0)
        json_object_del(doc, key);
    pop(c, old);
    return rc;
}

static int check_source(checker *c, json_t *doc)
{
    json_t *v = json_object_get(doc, "source");
    size_t old;
    int rc;

    if (!v)
        return SHELF_OK;
    old = push(c, "source");
    rc = json_is_object(v) ? check_value(c, v, 1) : bad(c, "must be an object");
    pop(c, old);
    return rc;
}

/* Project members keyed by a catalog id; string members, version a hash. */
static int check_idkey(checker *c, const char *key, json_t *m, const char *const *members)
{
    const char *k;
    json_t *v;
    size_t old;
    int rc;

    if (*key < '1' || *key > '9' || strspn(key, "0123456789") != strlen(key) || strlen(key) > 18)
        return bad(c, "must be keyed by a catalog id");
    if (!json_is_object(m))
        return bad(c, "must be an object");
    if ((rc = check_members(c, m, members)) != SHELF_OK)
        return rc;
    json_object_foreach(m, k, v) {
        old = push(c, k);
        if (!json_is_string(v))
            rc = bad(c, "must be a string");
        else if ((!strcmp(k, "version") || !strcmp(k, "sha256")) &&
                 !shelf__is_hash_hex(json_string_value(v)))
            rc = bad(c, "must be 64 lowercase hex digits");
        pop(c, old);
        if (rc != SHELF_OK)
            return rc;
    }
    return SHELF_OK;
}

static int check_proj_patch(checker *c, const char *key, json_t *m)
{
    static const char *const members[] = { "version", "slot", "name", NULL };

    return check_idkey(c, key, m, members);
}

static int check_proj_sample(checker *c, const char *key, json_t *m)
{
    static const char *const members[] = { "sha256", "name", NULL };

    return check_idkey(c, key, m, members);
}

static int check_lane(checker *c, const char *id, json_t *m)
{
    static const char *const members[] = { "type", "target", "start", "duration", "points",
                                           "shape", NULL };
    json_t *v, *p;
    size_t i;
    int rc;

    (void)id;
    if (!json_is_object(m))
        return bad(c, "an automation lane must be an object");
    if ((rc = check_members(c, m, members)) != SHELF_OK)
        return rc;
    v = json_object_get(m, "type");
    if (!json_is_string(v) || (strcmp(json_string_value(v), "points") != 0 &&
                               strcmp(json_string_value(v), "curve") != 0))
        return bad(c, "type must be points or curve");
    if (!json_is_string(json_object_get(m, "target")) ||
        !json_string_length(json_object_get(m, "target")))
        return bad(c, "target must be a parameter path");
    if ((v = json_object_get(m, "start")) && (!is_finite_number(v) || json_number_value(v) < 0))
        return bad(c, "start must be a number of seconds");
    if ((v = json_object_get(m, "duration")) && (!is_finite_number(v) || json_number_value(v) < 0))
        return bad(c, "duration must be a number of seconds");
    v = json_object_get(m, "points");
    if (v && !json_is_array(v))
        return bad(c, "points must be an array of [time, value]");
    json_array_foreach(v, i, p)
        if (!json_is_array(p) || json_array_size(p) != 2 ||
            !is_finite_number(json_array_get(p, 0)) || !is_finite_number(json_array_get(p, 1)))
            return bad(c, "points must be an array of [time, value]");
    if ((v = json_object_get(m, "shape")))
        return check_value(c, v, 2);
    return SHELF_OK;
}

int shelf__doc_kind(const json_t *doc)
{
    if (json_object_get(doc, "shelf_patch"))
        return SHELF_DOC_PATCH;
    if (json_object_get(doc, "shelf_project"))
        return SHELF_DOC_PROJECT;
    return 0;
}

int shelf__doc_check(json_t *doc, int kind, shelf__err *err)
{
    static const char *const pmembers[] = { "shelf_patch", "name", "author", "category",
        "comment", "tags", "rating", "source", "params", "types", "zones", NULL };
    static const char *const jmembers[] = { "shelf_project", "name", "author", "comment",
        "tags", "rating", "tempo", "patches", "samples", "automation", NULL };
    checker c = { err, SHELF__BUF_INIT };
    const char *fmt;
    json_t *v;
    int rc, k;

    if (!json_is_object(doc))
        return shelf__seterr(err, SHELF_EFORMAT, "invalid document: not a JSON object");
    k = shelf__doc_kind(doc);
    if (!k)
        return shelf__seterr(err, SHELF_EFORMAT,
                             "invalid document: no \"shelf_patch\" or \"shelf_project\" member");
    if (kind && k != kind)
        return shelf__seterr(err, SHELF_EFORMAT, "invalid document: a %s, not a %s",
                             k == SHELF_DOC_PATCH ? "patch" : "project",
                             kind == SHELF_DOC_PATCH ? "patch" : "project");
    fmt = k == SHELF_DOC_PATCH ? "shelf_patch" : "shelf_project";
    v = json_object_get(doc, fmt);
    if (!json_is_integer(v) || json_integer_value(v) < 1)
        return shelf__seterr(err, SHELF_EFORMAT, "invalid document: %s must be a format number", fmt);
    if (json_integer_value(v) > SHELF__DOC_FORMAT)
        return shelf__seterr(err, SHELF_EVERSION,
                             "document has format %lld; this shelf reads up to %d",
                             (long long)json_integer_value(v), SHELF__DOC_FORMAT);
    if ((rc = check_members(&c, doc, k == SHELF_DOC_PATCH ? pmembers : jmembers)) != SHELF_OK ||
        (rc = check_string(&c, doc, "name", 1)) != SHELF_OK ||
        (rc = check_string(&c, doc, "author", 0)) != SHELF_OK ||
        (rc = check_string(&c, doc, "comment", 0)) != SHELF_OK ||
        (rc = check_tags(&c, doc)) != SHELF_OK || (rc = check_rating(&c, doc)) != SHELF_OK)
        goto out;
    if (k == SHELF_DOC_PATCH) {
        if ((rc = check_string(&c, doc, "category", 0)) != SHELF_OK ||
            (rc = check_source(&c, doc)) != SHELF_OK ||
            (rc = check_group(&c, doc, "params")) != SHELF_OK ||
            (rc = check_types(&c, doc)) != SHELF_OK ||
            (rc = check_map(&c, doc, "zones", check_zone)) != SHELF_OK)
            goto out;
    } else {
        v = json_object_get(doc, "tempo");
        if (v && (!is_finite_number(v) || json_number_value(v) <= 0 || json_number_value(v) > 1000)) {
            rc = shelf__seterr(err, SHELF_EFORMAT, "invalid document: tempo: must be 0 to 1000");
            goto out;
        }
        if ((rc = check_map(&c, doc, "patches", check_proj_patch)) != SHELF_OK ||
            (rc = check_map(&c, doc, "samples", check_proj_sample)) != SHELF_OK ||
            (rc = check_map(&c, doc, "automation", check_lane)) != SHELF_OK)
            goto out;
    }
out:
    shelf__buf_release(&c.path);
    return rc;
}

int shelf__doc_load(const char *text, size_t n, int kind, int *kind_out, json_t **out,
                    shelf__err *err)
{
    json_error_t jerr;
    json_t *doc;
    int nomem;
    int rc;

    *out = NULL;
    if (n > SHELF__DOC_MAX_BYTES)
        return shelf__seterr(err, SHELF_EFORMAT, "invalid document: larger than %u bytes",
                             SHELF__DOC_MAX_BYTES);
    doc = shelf__json_loadb(text, n, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr, &nomem);
    if (nomem)
        return shelf__seterr(err, SHELF_ENOMEM, "out of memory");
    if (!doc)
        return shelf__seterr(err, SHELF_EFORMAT, "invalid JSON at line %d column %d: %s",
                             jerr.line, jerr.column, jerr.text);
    if ((rc = shelf__doc_check(doc, kind, err)) != SHELF_OK) {
        json_decref(doc);
        return rc;
    }
    if (kind_out)
        *kind_out = shelf__doc_kind(doc);
    *out = doc;
    return SHELF_OK;
}

/* ---- Canonical text ------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A double as the shortest "%.Ng" text that reads back to the same value,
 * with ".0" added when it would read as an integer. */
static int canon_real(shelf__buf *b, double d)
{
    char tmp[40];
    int p;

    for (p = 1; p <= 17; p++) {
        double a = fabs(d);

        /* Whole digits are never written as an exponent ("100.0", not "1e+02"). */
        if (a >= 1 && a < 1e17 && p < (int)floor(log10(a)) + 1)
            continue;
        snprintf(tmp, sizeof tmp, "%.*g", p, d);
        if (strtod(tmp, NULL) == d)
            break;
    }
    if (!strpbrk(tmp, ".eE"))
        return shelf__buf_addf(b, "%s.0", tmp);
    return shelf__buf_adds(b, tmp);
}

static int canon_string(shelf__buf *b, const char *s, size_t n)
{
    int rc = shelf__buf_add(b, "\"", 1);
    size_t i, start = 0;

    for (i = 0; i < n && rc == SHELF_OK; i++) {
        unsigned char ch = (unsigned char)s[i];
        const char *esc = NULL;
        char u[8];

        switch (ch) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        default:
            if (ch < 0x20) {
                snprintf(u, sizeof u, "\\u%04x", ch);
                esc = u;
            }
        }
        if (esc) {
            if ((rc = shelf__buf_add(b, s + start, i - start)) == SHELF_OK)
                rc = shelf__buf_adds(b, esc);
            start = i + 1;
        }
    }
    if (rc == SHELF_OK)
        rc = shelf__buf_add(b, s + start, n - start);
    return rc == SHELF_OK ? shelf__buf_add(b, "\"", 1) : rc;
}

static int cmp_key(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int json_write(shelf__buf *b, const json_t *v, int sort);

int shelf__json_canon(shelf__buf *b, const json_t *v)
{
    return json_write(b, v, 1);
}

static int json_write(shelf__buf *b, const json_t *v, int sort)
{
    const char **keys;
    const char *key;
    json_t *m;
    size_t i, n = 0;
    int rc = SHELF_OK;

    switch (json_typeof(v)) {
    case JSON_OBJECT:
        if (!(keys = shelf__calloc(json_object_size(v) + 1, sizeof *keys)))
            return SHELF_ENOMEM;
        json_object_foreach((json_t *)v, key, m)
            keys[n++] = key;
        if (sort)
            qsort(keys, n, sizeof *keys, cmp_key);
        rc = shelf__buf_add(b, "{", 1);
        for (i = 0; i < n && rc == SHELF_OK; i++) {
            if (i && (rc = shelf__buf_add(b, ",", 1)) != SHELF_OK)
                break;
            if ((rc = canon_string(b, keys[i], strlen(keys[i]))) == SHELF_OK &&
                (rc = shelf__buf_add(b, ":", 1)) == SHELF_OK)
                rc = json_write(b, json_object_get(v, keys[i]), sort);
        }
        free(keys);
        return rc == SHELF_OK ? shelf__buf_add(b, "}", 1) : rc;
    case JSON_ARRAY:
        rc = shelf__buf_add(b, "[", 1);
        for (i = 0; i < json_array_size(v) && rc == SHELF_OK; i++)
            if (!i || (rc = shelf__buf_add(b, ",", 1)) == SHELF_OK)
                rc = json_write(b, json_array_get(v, i), sort);
        return rc == SHELF_OK ? shelf__buf_add(b, "]", 1) : rc;
    case JSON_STRING:
        return canon_string(b, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        return shelf__buf_addf(b, "%lld", (long long)json_integer_value(v));
    case JSON_REAL:
        return canon_real(b, json_real_value(v));
    case JSON_TRUE:
        return shelf__buf_adds(b, "true");
    case JSON_FALSE:
        return shelf__buf_adds(b, "false");
    default:
        return shelf__buf_adds(b, "null");
    }
}

json_t *shelf__json_copy(const json_t *v)
{
    json_t *c = json_copy((json_t *)v);

    if (c && (json_object_size(c) != json_object_size(v) || json_array_size(c) != json_array_size(v))) {
        json_decref(c);
        c = NULL;
    }
    return c;
}

char *shelf__json_text(const json_t *v, int sort)
{
    shelf__buf b = SHELF__BUF_INIT;

    if (json_write(&b, v, sort) != SHELF_OK) {
        shelf__buf_release(&b);
        return NULL;
    }
    if (!b.buf && shelf__buf_add(&b, "", 0) != SHELF_OK)
        return NULL;
    return shelf__buf_detach(&b);
}

char *shelf__doc_dump(const json_t *doc, char hash[SHELF_HASH_HEX])
{
    json_t *copy = shelf__json_copy(doc), *tags, *arr = NULL;
    const char **names = NULL;
    const char *key;
    json_t *m;
    char *text = NULL;
    size_t n = 0;

    if (!copy)
        return NULL;
    /* The tag set back to a sorted array (object keys are unordered). */
    if ((tags = json_object_get(copy, "tags")) && json_is_object(tags)) {
        if (!(names = shelf__calloc(json_object_size(tags) + 1, sizeof *names)) ||
            !(arr = json_array()))
            goto out;
        json_object_foreach(tags, key, m)
            names[n++] = key;
        qsort(names, n, sizeof *names, cmp_str);
        for (size_t i = 0; i < n; i++)
            if (json_array_append_new(arr, json_string(names[i])) != 0)
                goto out;
        if (json_object_set_new(copy, "tags", arr) != 0) {
            arr = NULL;     /* set_new took it */
            goto out;
        }
        arr = NULL;
    }
    text = shelf__json_text(copy, 1);
    if (text && hash) {
        uint8_t h[SHELF_HASH_BYTES];

        shelf__sha256_mem(text, strlen(text), h);
        shelf__hex(h, sizeof h, hash);
    }
out:
    free(names);
    json_decref(arr);
    json_decref(copy);
    return text;
}

/* ---- Paths ---------------------------------------------------------------- */

void shelf__docpath_free(char **segs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(segs[i]);
    free(segs);
}

int shelf__docpath_split(const char *path, char ***segs, size_t *nsegs)
{
    size_t n = 1, i = 0, k;
    const char *p, *e;
    char **v;

    *segs = NULL;
    *nsegs = 0;
    if (*path == '/')
        path++;
    if (!*path)
        return SHELF_EINVAL;
    for (p = path; *p; p++)
        n += *p == '/';
    if (!(v = shelf__calloc(n, sizeof *v)))
        return SHELF_ENOMEM;
    for (p = path; i < n; p = e + 1) {
        char *s;

        e = strchr(p, '/');
        if (!e)
            e = p + strlen(p);
        if (e == p)
            goto fail;
        if (!(s = v[i] = shelf__malloc((size_t)(e - p) + 1))) {
            shelf__docpath_free(v, i);
            return SHELF_ENOMEM;
        }
        i++;
        for (k = 0; p < e; p++) {
            if (*p == '~') {
                if (p + 1 < e && (p[1] == '0' || p[1] == '1')) {
                    s[k++] = p[1] == '0' ? '~' : '/';
                    p++;
                    continue;
                }
                goto fail;
            }
            s[k++] = *p;
        }
        s[k] = '\0';
        if (!*e)
            break;
    }
    *segs = v;
    *nsegs = n;
    return SHELF_OK;
fail:
    shelf__docpath_free(v, i);
    return SHELF_EINVAL;
}

int shelf__docpath_add(shelf__buf *b, const char *seg)
{
    int rc = b->len ? shelf__buf_add(b, "/", 1) : SHELF_OK;

    for (; rc == SHELF_OK && *seg; seg++) {
        if (*seg == '~')
            rc = shelf__buf_add(b, "~0", 2);
        else if (*seg == '/')
            rc = shelf__buf_add(b, "~1", 2);
        else
            rc = shelf__buf_add(b, seg, 1);
    }
    return rc;
}

/* Array index from a segment: digits only, no leading zero. */
static int seg_index(const char *s, size_t *out)
{
    size_t v = 0;

    if (!*s || (s[0] == '0' && s[1]) || strspn(s, "0123456789") != strlen(s) || strlen(s) > 9)
        return 0;
    for (; *s; s++)
        v = v * 10 + (size_t)(*s - '0');
    *out = v;
    return 1;
}

static json_t *child(json_t *v, const char *seg)
{
    size_t i;

    if (json_is_object(v))
        return json_object_get(v, seg);
    if (json_is_array(v) && seg_index(seg, &i))
        return json_array_get(v, i);
    return NULL;
}

json_t *shelf__doc_get(json_t *doc, const char *path)
{
    char **segs;
    size_t n, i;
    json_t *v = doc;

    if (shelf__docpath_split(path, &segs, &n) != SHELF_OK)
        return NULL;
    for (i = 0; i < n && v; i++)
        v = child(v, segs[i]);
    shelf__docpath_free(segs, n);
    return v;
}

int shelf__doc_set(json_t *doc, const char *path, json_t *value, shelf__err *err)
{
    char **segs = NULL;
    size_t n = 0, i, idx;
    json_t *v = doc, *next;
    int rc = SHELF_OK;

    if (!value)
        return shelf__seterr(err, SHELF_ENOMEM, "out of memory");
    if ((rc = shelf__docpath_split(path, &segs, &n)) != SHELF_OK) {
        rc = rc == SHELF_ENOMEM ? shelf__seterr(err, rc, "out of memory")
                                : shelf__seterr(err, rc, "invalid path '%s'", path);
        goto out;
    }
    for (i = 0; i + 1 < n; i++) {
        if (!(next = child(v, segs[i]))) {
            if (!json_is_object(v)) {
                rc = shelf__seterr(err, SHELF_EINVAL, "invalid path '%s': '%s' is not a group",
                                   path, segs[i]);
                goto out;
            }
            next = json_object();
            if (json_object_set_new(v, segs[i], next) != 0) {
                rc = shelf__seterr(err, SHELF_ENOMEM, "out of memory");
                goto out;
            }
        }
        v = next;
    }
    if (json_is_object(v)) {
        if (json_object_set(v, segs[n - 1], value) != 0)
            rc = shelf__seterr(err, SHELF_ENOMEM, "out of memory");
    } else if (json_is_array(v) && seg_index(segs[n - 1], &idx) && idx <= json_array_size(v)) {
        if ((idx == json_array_size(v) ? json_array_append(v, value)
                                       : json_array_set(v, idx, value)) != 0)
            rc = shelf__seterr(err, SHELF_ENOMEM, "out of memory");
    } else {
        rc = shelf__seterr(err, SHELF_EINVAL, "invalid path '%s': no place for '%s'", path,
                           segs[n - 1]);
    }
out:
    json_decref(value);
    shelf__docpath_free(segs, n);
    return rc;
}

int shelf__doc_remove(json_t *doc, const char *path, shelf__err *err)
{
    char **segs = NULL;
    size_t n = 0, i, idx;
    json_t *v = doc;
    int rc = SHELF_OK;

    if ((rc = shelf__docpath_split(path, &segs, &n)) != SHELF_OK)
        return rc == SHELF_ENOMEM ? shelf__seterr(err, rc, "out of memory")
                                  : shelf__seterr(err, rc, "invalid path '%s'", path);
    for (i = 0; i + 1 < n && v; i++)
        v = child(v, segs[i]);
    if (v && json_is_object(v) && json_object_get(v, segs[n - 1]))
        json_object_del(v, segs[n - 1]);
    else if (v && json_is_array(v) && seg_index(segs[n - 1], &idx) && idx < json_array_size(v))
        json_array_remove(v, idx);
    else
        rc = shelf__seterr(err, SHELF_ENOTFOUND, "no value at '%s'", path);
    shelf__docpath_free(segs, n);
    return rc;
}

/* ---- Public: canonical form ------------------------------------------------- */

int shelf_doc_canonical(const char *json, size_t len, int kind, char **out, char hash[65],
                        char **errmsg)
{
    shelf__err err = { 0, "" };
    json_t *doc = NULL;
    char *text;
    int rc;

    *out = NULL;
    if (errmsg)
        *errmsg = NULL;
    if ((rc = shelf__doc_load(json, len, kind, NULL, &doc, &err)) != SHELF_OK)
        goto fail;
    if (!(text = shelf__doc_dump(doc, hash))) {
        rc = shelf__seterr(&err, SHELF_ENOMEM, "out of memory");
        goto fail;
    }
    *out = shelf__strdup(text);
    free(text);
    json_decref(doc);
    return *out ? SHELF_OK : SHELF_ENOMEM;
fail:
    json_decref(doc);
    if (errmsg)
        *errmsg = shelf__strdup(err.msg);
    return rc;
}
