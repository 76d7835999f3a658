/*
 * api.c: the JSON API of `shelf serve` (doc/serve.md, doc/formats.md
 * "serve JSON API v1"): the session, search, facets, one sample, its tags,
 * rating and favourite, tags on many samples, collections, duplicates and
 * their folding.  Routes /api/...
 * requests that passed the security rules of server.c; audio and peaks
 * are audio.c's, patches and projects docs.c's, restore and the audit log
 * restore.c's.  Samples are JSON as the program prints them
 * (tool_sample_json), so both speak one format.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "samples.h"
#include "serve_int.h"

/* The members of a sample in search results and edits, and in GET
 * /api/samples/ID (doc/serve.md: ITEM, and ITEM with the long fields). */
#define ITEM TOOL_SAMPLE_ITEM
#define ITEM_LONG (TOOL_SAMPLE_ITEM | TOOL_SAMPLE_LONG)

#define SERVE_API_VERSION 1      /* doc/formats.md, "serve JSON API v1" */
#define SEARCH_LIMIT_DEFAULT 100
#define SEARCH_LIMIT_MAX 1000
#define FACETS_DEFAULT 20
#define FACETS_MAX 200          /* values of one facet at most */
#define REAL_PRECISION 10   /* significant digits of durations, tempos, ms */

static int is_get(const serve_req *r)
{
    return !strcmp(r->method, "GET") || !strcmp(r->method, "HEAD");
}

static enum MHD_Result wrong_method(serve_req *r)
{
    char *p = serve_text(r->path);
    enum MHD_Result ret = serve_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "method %s not allowed on %s", r->method,
                                      p ? p : "this path");

    shelf_free(p);
    return ret;
}

static const char *arg(const serve_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

/* ---- GET /api/session ---- */

static enum MHD_Result get_session(serve_req *r)
{
    shelf_library *lib = r->srv->lib;
    shelf_index_stats is = { .size = sizeof is };
    int64_t total = 0, missing = 0;
    int rc;

    if ((rc = shelf_catalog_count(lib, &total, &missing)) != SHELF_OK)
        return serve_lib_error(r, rc);
    (void)shelf_library_index_stats(lib, &is);
    return serve_json(r, MHD_HTTP_OK,
                      json_pack("{s:i, s:s, s:o, s:s, s:I, s:I, s:I, s:{s:I, s:I, s:I, s:I, s:I, s:s, s:b}}",
                                "api", SERVE_API_VERSION, "token", r->srv->token, "library",
                                tool_json_name(shelf_library_path(lib)), "version", shelf_version(), "samples",
                                (json_int_t)total, "missing", (json_int_t)missing, "preload_bytes",
                                (json_int_t)shelf_library_preload_bytes(lib), "index",
                                "builds", (json_int_t)is.builds, "fallbacks", (json_int_t)is.fallbacks,
                                "applies", (json_int_t)is.applies, "applied", (json_int_t)is.applied,
                                "added", (json_int_t)is.added, "fallback_why", is.fallback_why, "building",
                                atomic_load_explicit(&r->srv->bg_state, memory_order_acquire) == BG_BUILDING),
                      0);
}

/* ---- GET /api/search ---- */

/* Fill o from the query string; answers and returns -1 on a bad value. */
static int search_opts(serve_req *r, shelf_search_opts *o)
{
    const char *v;
    int64_t n;

    memset(o, 0, sizeof *o);
    o->size = sizeof *o;
    o->limit = SEARCH_LIMIT_DEFAULT;
    if ((v = arg(r, "offset")) && serve_parse_int(v, 0, INT64_MAX, &o->offset))
        return serve_error(r, MHD_HTTP_BAD_REQUEST, "offset: a whole number 0 or more"), -1;
    if ((v = arg(r, "limit"))) {
        if (serve_parse_int(v, 1, INT64_MAX, &n))
            return serve_error(r, MHD_HTTP_BAD_REQUEST, "limit: a whole number 1 or more (at most %d "
                                                        "are sent)", SEARCH_LIMIT_MAX), -1;
        o->limit = n < SEARCH_LIMIT_MAX ? n : SEARCH_LIMIT_MAX;
    }
    if ((v = arg(r, "sort")) && *v) {
        if ((o->sort = tool_sort_key(v)) < 0)
            return serve_error(r, MHD_HTTP_BAD_REQUEST, "unknown sort key (" TOOL_SORT_NAMES ")"), -1;
    }
    if ((v = arg(r, "desc"))) {
        if (strcmp(v, "0") != 0 && strcmp(v, "1") != 0)
            return serve_error(r, MHD_HTTP_BAD_REQUEST, "desc: 0 or 1"), -1;
        o->descending = *v == '1';
    }
    return 0;
}

/* A search that failed: a query that does not parse is 400 with its
 * column; anything else as the library says. */
static enum MHD_Result query_error(serve_req *r, int rc)
{
    shelf_library *lib = r->srv->lib;
    char *msg;
    json_t *v;

    if (rc != SHELF_EINVAL || shelf_query_errpos(lib) <= 0)
        return serve_lib_error(r, rc);
    msg = serve_text(shelf_errmsg(lib));
    v = msg ? json_pack("{s:s, s:i}", "error", msg, "column", shelf_query_errpos(lib)) : NULL;
    shelf_free(msg);
    return serve_json(r, MHD_HTTP_BAD_REQUEST, v, 0);
}

/* An empty query without the index: every sample (shelf_search finds
 * nothing in it) by SQL, by name unless sorted otherwise; the count is
 * exact. */
static int list_all(shelf_library *lib, const shelf_search_opts *so, shelf_cursor **cur, int64_t *total)
{
    shelf_list_opts o;
    int rc;

    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.sort = so->sort == SHELF_SORT_DEFAULT || so->sort == SHELF_SORT_RELEVANCE ? SHELF_SORT_NAME : so->sort;
    o.descending = so->descending;
    o.limit = so->limit;
    o.offset = so->offset;
    if ((rc = shelf_catalog_count(lib, total, NULL)) != SHELF_OK)
        return rc;
    return shelf_catalog_list(lib, &o, cur);
}

static enum MHD_Result get_search(serve_req *r)
{
    shelf_library *lib = r->srv->lib;
    const char *q = arg(r, "q");
    json_t *items = json_array();
    const shelf_sample *s;
    shelf_search_opts o;
    shelf_cursor *cur = NULL;
    int64_t total = 0;
    int rc, exact = 1, bad = !items;
    double t0;

    if (search_opts(r, &o)) {
        json_decref(items);
        return MHD_YES;
    }
    if (!q)
        q = "";
    t0 = serve_now();
    if (!*q && !shelf_library_preload_bytes(lib))
        rc = list_all(lib, &o, &cur, &total);
    else        /* every sample from the index: type:sample, by name (2.6 ms at 1M, not 257) */
        rc = shelf_search(lib, *q ? q : "type:sample", &o, &cur, &total, &exact);
    if (rc != SHELF_OK) {
        json_decref(items);
        return query_error(r, rc);
    }
    while ((rc = shelf_cursor_next(cur, &s)) == SHELF_ROW)
        bad |= json_array_append_new(items, tool_sample_json(s, ITEM));
    shelf_cursor_free(cur);
    if (rc != SHELF_DONE) {
        json_decref(items);
        return serve_lib_error(r, rc);
    }
    if (bad) {
        json_decref(items);
        items = NULL;
    }
    return serve_json(r, MHD_HTTP_OK,
                      items ? json_pack("{s:o, s:I, s:b, s:I, s:o, s:f}", "q", tool_json_name(q), "total",
                                        (json_int_t)total, "exact", exact, "offset", (json_int_t)o.offset,
                                        "items", items, "ms", (serve_now() - t0) * 1e3)
                            : NULL,
                      REAL_PRECISION);
}

/* ---- GET /api/facets ---- */

typedef struct facet_list {
    json_t *all;
    int bad;
} facet_list;

/* shelf_search_facets' callback, on the server's thread. */
static void on_facet(void *ud, const shelf_facet *f)
{
    facet_list *fl = ud;

    fl->bad |= tool_facet_add(fl->all, f);
}

static enum MHD_Result get_facets(serve_req *r)
{
    shelf_library *lib = r->srv->lib;
    const char *q = arg(r, "q"), *v = arg(r, "max");
    facet_list fl = { json_object(), 0 };
    int64_t max = FACETS_DEFAULT;
    double t0 = serve_now();
    int rc;

    if (v && serve_parse_int(v, 1, INT64_MAX, &max)) {
        json_decref(fl.all);
        return serve_error(r, MHD_HTTP_BAD_REQUEST, "max: a whole number 1 or more (at most %d are sent)",
                           FACETS_MAX);
    }
    if (!fl.all)
        return serve_json(r, MHD_HTTP_OK, NULL, 0);
    /* Counts come from the index only: while it is built in the background
     * there are none yet (building one here would build it twice). */
    if (atomic_load_explicit(&r->srv->bg_state, memory_order_acquire) == BG_BUILDING)
        return serve_json(r, MHD_HTTP_OK,
                          json_pack("{s:o, s:o, s:b, s:f}", "q", tool_json_name(q ? q : ""), "facets", fl.all,
                                    "building", 1, "ms", (serve_now() - t0) * 1e3),
                          REAL_PRECISION);
    if ((rc = shelf_search_facets(lib, q ? q : "", max < FACETS_MAX ? (int)max : FACETS_MAX, on_facet, &fl))
        != SHELF_OK) {
        json_decref(fl.all);
        return query_error(r, rc);
    }
    if (fl.bad) {
        json_decref(fl.all);
        return serve_json(r, MHD_HTTP_OK, NULL, 0);
    }
    return serve_json(r, MHD_HTTP_OK,
                      json_pack("{s:o, s:o, s:b, s:f}", "q", tool_json_name(q ? q : ""), "facets", fl.all,
                                "building", 0, "ms", (serve_now() - t0) * 1e3),
                      REAL_PRECISION);
}

/* ---- GET /api/collections ---- */

typedef struct coll_list {
    json_t *arr;
    int bad;
} coll_list;

/* shelf_collection_list's callback, on the server's thread. */
static void on_collection(void *ud, const char *name, const char *query, int64_t count)
{
    coll_list *c = ud;

    c->bad |= json_array_append_new(c->arr, tool_collection_json(name, query, count));
}

static enum MHD_Result get_collections(serve_req *r)
{
    coll_list c = { json_array(), 0 };
    int rc;

    if (!c.arr)
        return serve_json(r, MHD_HTTP_OK, NULL, 0);
    if ((rc = shelf_collection_list(r->srv->lib, on_collection, &c)) != SHELF_OK) {
        json_decref(c.arr);
        return serve_lib_error(r, rc);
    }
    if (c.bad) {
        json_decref(c.arr);
        c.arr = NULL;
    }
    return serve_json(r, MHD_HTTP_OK, c.arr, 0);
}

/* ---- GET /api/status ---- */

typedef struct status_list {
    json_t *arr;
    int worst, bad;
} status_list;

static int on_alert(void *ud, const shelf_alert *a)
{
    status_list *s = ud;

    if (a->severity > s->worst)
        s->worst = a->severity;
    s->bad |= json_array_append_new(s->arr, tool_alert_json(a));
    return 0;
}

/* What `shelf status --offline` says: whether the daemon runs and the
 * alerts, worst first.  No target is asked for its space here (a network
 * call per target on every look); the daemon and `shelf status` do. */
static enum MHD_Result get_status(serve_req *r)
{
    status_list s = { json_array(), 0, 0 };
    int64_t since = 0;
    long pid = 0;
    int rc, running;

    if (!s.arr)
        return serve_json(r, MHD_HTTP_OK, NULL, 0);
    if ((running = shelf_daemon_running(r->srv->lib, &pid, &since)) < 0 ||
        (rc = shelf_alerts(r->srv->lib, shelf_clock_now(), NULL, on_alert, &s)) != SHELF_OK) {
        json_decref(s.arr);
        return serve_lib_error(r, running < 0 ? running : rc);
    }
    if (s.bad) {
        json_decref(s.arr);
        return serve_json(r, MHD_HTTP_OK, NULL, 0);
    }
    return serve_json(r, MHD_HTTP_OK,
                      json_pack("{s:{s:b, s:I, s:I}, s:o, s:s}", "daemon", "running", running, "pid",
                                (json_int_t)pid, "since", (json_int_t)since, "alerts", s.arr, "worst",
                                tool_severity_name(s.worst)),
                      0);
}

/* ---- request bodies ---- */

/* Member key of o: absent, or an array of strings; -1 after answering 400. */
static int string_array(serve_req *r, json_t *o, const char *key, json_t **out)
{
    json_t *a = json_object_get(o, key), *v;
    size_t i;

    *out = NULL;
    if (!a || json_is_null(a))
        return 0;
    if (!json_is_array(a))
        return serve_error(r, MHD_HTTP_BAD_REQUEST, "'%s' must be an array of tags", key), -1;
    json_array_foreach(a, i, v)
        if (!json_is_string(v))
            return serve_error(r, MHD_HTTP_BAD_REQUEST, "'%s' must be an array of tags", key), -1;
    *out = a;
    return 0;
}

/* Tags added, then removed, on sample id; SHELF_OK or the first failure
 * (the edits before it stay). */
static int edit_tags(shelf_library *lib, int64_t id, json_t *add, json_t *remove)
{
    json_t *v;
    size_t i;
    int rc;

    json_array_foreach(add, i, v)
        if ((rc = shelf_tag_add(lib, id, json_string_value(v))) != SHELF_OK)
            return rc;
    json_array_foreach(remove, i, v)
        if ((rc = shelf_tag_remove(lib, id, json_string_value(v))) != SHELF_OK)
            return rc;
    return SHELF_OK;
}

/* ---- /api/samples/ID[/...] ---- */

/* Sample id's row in *cur (owned) and *s; -1 after answering 404 or the
 * library's error. */
static int find_sample(serve_req *r, int64_t id, shelf_cursor **cur, const shelf_sample **s)
{
    int rc = shelf_catalog_get(r->srv->lib, id, cur, s);

    if (rc == SHELF_ENOTFOUND)
        return serve_error(r, MHD_HTTP_NOT_FOUND, "no sample %lld", (long long)id), -1;
    if (rc != SHELF_OK)
        return serve_lib_error(r, rc), -1;
    return 0;
}

/* Answer with sample id as JSON (fields: ITEM or ITEM_LONG). */
static enum MHD_Result sample_reply(serve_req *r, int64_t id, unsigned fields)
{
    const shelf_sample *s;
    shelf_cursor *cur;
    enum MHD_Result ret;

    if (find_sample(r, id, &cur, &s))
        return MHD_YES;
    ret = serve_json(r, MHD_HTTP_OK, tool_sample_json(s, fields), REAL_PRECISION);
    shelf_cursor_free(cur);
    return ret;
}

/* POST /api/samples/ID/tags|rating|favourite. */
static enum MHD_Result post_sample(serve_req *r, int64_t id, const char *what)
{
    shelf_library *lib = r->srv->lib;
    json_t *o = serve_body_object(r), *v, *add, *remove;
    int rc;

    if (!o)
        return MHD_YES;
    if (!strcmp(what, "tags")) {
        if (string_array(r, o, "add", &add) || string_array(r, o, "remove", &remove)) {
            json_decref(o);
            return MHD_YES;
        }
        rc = edit_tags(lib, id, add, remove);
    } else if (!strcmp(what, "rating")) {
        v = json_object_get(o, "rating");
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 5) {
            json_decref(o);
            return serve_error(r, MHD_HTTP_BAD_REQUEST, "'rating' must be a whole number 0 to 5");
        }
        rc = shelf_rate(lib, id, (int)json_integer_value(v));
    } else {
        v = json_object_get(o, "on");
        if (!json_is_boolean(v)) {
            json_decref(o);
            return serve_error(r, MHD_HTTP_BAD_REQUEST, "'on' must be true or false");
        }
        rc = shelf_favourite(lib, id, json_is_true(v));
    }
    json_decref(o);
    if (rc == SHELF_ENOTFOUND)
        return serve_error(r, MHD_HTTP_NOT_FOUND, "no sample %lld", (long long)id);
    if (rc != SHELF_OK)
        return serve_lib_error(r, rc);
    return sample_reply(r, id, ITEM);
}

static enum MHD_Result samples_route(serve_req *r, const char *rest)
{
    char idtext[24];
    size_t n = strcspn(rest, "/");
    const char *sub = rest[n] ? rest + n + 1 : NULL;
    const shelf_sample *s;
    shelf_cursor *cur;
    enum MHD_Result ret;
    int64_t id;
    int reading = !sub || !strcmp(sub, "audio") || !strcmp(sub, "peaks");

    if (!reading && strcmp(sub, "tags") != 0 && strcmp(sub, "rating") != 0 && strcmp(sub, "favourite") != 0)
        return serve_error(r, MHD_HTTP_NOT_FOUND, "no such API path");
    if (reading ? !is_get(r) : strcmp(r->method, "POST") != 0)
        return wrong_method(r);
    id = 0;
    if (n < sizeof idtext) {
        memcpy(idtext, rest, n);
        idtext[n] = '\0';
        id = serve_parse_id(idtext);
    }
    if (!id)
        return serve_error(r, MHD_HTTP_NOT_FOUND, "no such sample (ids are whole numbers)");
    if (!sub)
        return sample_reply(r, id, ITEM_LONG);
    if (!reading)
        return post_sample(r, id, sub);
    if (find_sample(r, id, &cur, &s))
        return MHD_YES;
    ret = !strcmp(sub, "audio") ? serve_audio(r, s) : serve_peaks(r, s);
    shelf_cursor_free(cur);
    return ret;
}

/* ---- POST /api/collections: a saved search from the page ---- */

static enum MHD_Result post_collection(serve_req *r)
{
    json_t *o = serve_body_object(r);
    const char *name, *q;
    int rc;

    if (!o)
        return MHD_YES;
    name = json_string_value(json_object_get(o, "name"));
    q = json_string_value(json_object_get(o, "query"));
    if (!name || !*name || !q || !*q) {
        json_decref(o);
        return serve_error(r, MHD_HTTP_BAD_REQUEST, "a saved search needs 'name' and 'query' (strings)");
    }
    if ((rc = shelf_collection_new(r->srv->lib, name, q)) != SHELF_OK) {
        json_decref(o);
        return serve_lib_error(r, rc);
    }
    json_decref(o);
    return get_collections(r);
}

/* ---- POST /api/tags ---- */

static enum MHD_Result post_tags(serve_req *r)
{
    json_t *o = serve_body_object(r), *ids, *add, *remove, *v;
    int64_t changed = 0;
    size_t i;
    int rc;

    if (!o)
        return MHD_YES;
    ids = json_object_get(o, "ids");
    if (!json_is_array(ids)) {
        json_decref(o);
        return serve_error(r, MHD_HTTP_BAD_REQUEST, "'ids' must be an array of sample ids");
    }
    json_array_foreach(ids, i, v)
        if (!json_is_integer(v) || json_integer_value(v) <= 0) {
            json_decref(o);
            return serve_error(r, MHD_HTTP_BAD_REQUEST, "'ids' must be an array of sample ids");
        }
    if (string_array(r, o, "add", &add) || string_array(r, o, "remove", &remove)) {
        json_decref(o);
        return MHD_YES;
    }
    /* An id that is gone is skipped (another window may have removed it);
     * a bad tag stops the run with what was done before it kept. */
    json_array_foreach(ids, i, v) {
        int64_t id = json_integer_value(v);
        const shelf_sample *s;
        shelf_cursor *cur;

        if ((rc = shelf_catalog_get(r->srv->lib, id, &cur, &s)) == SHELF_ENOTFOUND)
            continue;
        shelf_cursor_free(cur);
        if (rc == SHELF_OK)
            rc = edit_tags(r->srv->lib, id, add, remove);
        if (rc != SHELF_OK) {
            json_decref(o);
            return serve_lib_error(r, rc);
        }
        changed++;
    }
    json_decref(o);
    return serve_json(r, MHD_HTTP_OK, json_pack("{s:I}", "changed", (json_int_t)changed), 0);
}

/* ---- GET /api/dupes, POST /api/dupes/fold ---- */

#define DUPES_GROUPS_MAX 2000   /* groups sent at most; the rest only counted */

typedef struct dupes_list {
    json_t *groups;         /* [{"kind", "items": [ITEM...]}] */
    int kind;
    int64_t group, total;   /* the last group seen; groups found */
    int bad;
} dupes_list;

/* shelf_dupes' callback, on the server's thread. */
static void on_dupe(void *ud, int kind, int64_t group, const shelf_sample *row)
{
    dupes_list *dl = ud;
    json_t *g;

    if (kind != dl->kind || group != dl->group) {
        dl->kind = kind;
        dl->group = group;
        if (++dl->total <= DUPES_GROUPS_MAX)
            dl->bad |= json_array_append_new(dl->groups, json_pack("{s:s, s:[]}", "kind",
                                                                   tool_dupes_kind_name(kind), "items"));
    }
    if (dl->total <= DUPES_GROUPS_MAX && (g = json_array_get(dl->groups, json_array_size(dl->groups) - 1)))
        dl->bad |= json_array_append_new(json_object_get(g, "items"),
                                           tool_sample_json(row, ITEM | TOOL_SAMPLE_STORAGE));
}

static enum MHD_Result get_dupes(serve_req *r)
{
    const char *v = arg(r, "kinds");
    dupes_list dl = { json_array(), 0, 0, 0, 0 };
    int kinds = 0, rc;
    double t0;

    /* kinds=bytes,audio,name; bytes alone by default (audio decodes) */
    while (v) {
        size_t n = strcspn(v, ",");

        if (n == 5 && !strncmp(v, "bytes", 5))
            kinds |= SHELF_DUPES_BYTES;
        else if (n == 5 && !strncmp(v, "audio", 5))
            kinds |= SHELF_DUPES_AUDIO;
        else if (n == 4 && !strncmp(v, "name", 4))
            kinds |= SHELF_DUPES_NAME;
        else {
            json_decref(dl.groups);
            return serve_error(r, MHD_HTTP_BAD_REQUEST, "kinds: a list of bytes, audio and name, "
                                                        "separated by commas");
        }
        v = v[n] ? v + n + 1 : NULL;
    }
    if (!kinds)
        kinds = SHELF_DUPES_BYTES;
    t0 = serve_now();
    if ((rc = shelf_dupes(r->srv->lib, kinds, on_dupe, &dl)) != SHELF_OK) {
        json_decref(dl.groups);
        return serve_lib_error(r, rc);
    }
    if (dl.bad || !dl.groups) {
        json_decref(dl.groups);
        return serve_json(r, MHD_HTTP_OK, NULL, 0);
    }
    return serve_json(r, MHD_HTTP_OK,
                      json_pack("{s:{s:b, s:b, s:b}, s:I, s:b, s:o, s:f}", "kinds", "bytes",
                                !!(kinds & SHELF_DUPES_BYTES), "audio", !!(kinds & SHELF_DUPES_AUDIO),
                                "name", !!(kinds & SHELF_DUPES_NAME), "total", (json_int_t)dl.total,
                                "truncated", dl.total > DUPES_GROUPS_MAX, "groups", dl.groups, "ms",
                                (serve_now() - t0) * 1e3),
                      REAL_PRECISION);
}

static enum MHD_Result post_fold(serve_req *r)
{
    shelf_fold_stats st = { .size = sizeof st };
    json_t *o = serve_body_object(r), *keep, *drop, *v, *item = NULL;
    const shelf_sample *s;
    shelf_cursor *cur;
    int64_t *ids;
    size_t i;
    int rc;

    if (!o)
        return MHD_YES;
    keep = json_object_get(o, "keep");
    drop = json_object_get(o, "drop");
    if (!json_is_integer(keep) || json_integer_value(keep) <= 0 || !json_is_array(drop) ||
        !json_array_size(drop)) {
        json_decref(o);
        return serve_error(r, MHD_HTTP_BAD_REQUEST, "a fold needs 'keep' (a sample id) and 'drop' "
                                                    "(an array of one or more sample ids)");
    }
    if (!(ids = calloc(json_array_size(drop), sizeof *ids))) {
        json_decref(o);
        return serve_json(r, MHD_HTTP_OK, NULL, 0);
    }
    json_array_foreach(drop, i, v) {
        if (!json_is_integer(v) || json_integer_value(v) <= 0) {
            free(ids);
            json_decref(o);
            return serve_error(r, MHD_HTTP_BAD_REQUEST, "'drop' must be an array of sample ids");
        }
        ids[i] = json_integer_value(v);
    }
    rc = shelf_dupes_fold(r->srv->lib, json_integer_value(keep), ids, json_array_size(drop), &st);
    free(ids);
    if (rc == SHELF_OK && (rc = shelf_catalog_get(r->srv->lib, json_integer_value(keep), &cur, &s)) == SHELF_OK) {
        item = tool_sample_json(s, ITEM);
        shelf_cursor_free(cur);
    }
    json_decref(o);
    if (rc != SHELF_OK)
        return serve_lib_error(r, rc);
    return serve_json(r, MHD_HTTP_OK,
                      item ? json_pack("{s:o, s:I, s:I, s:I}", "keep", item, "folded", (json_int_t)st.folded,
                                       "tags", (json_int_t)st.tags, "links", (json_int_t)st.links)
                           : NULL,
                      REAL_PRECISION);
}

enum MHD_Result serve_api(serve_req *r, const char *rest)
{
    static const struct {
        const char *path;
        int post;                           /* 1: POST, else GET (and HEAD) */
        enum MHD_Result (*run)(serve_req *r);
    } routes[] = {
        { "session", 0, get_session }, { "search", 0, get_search },
        { "facets", 0, get_facets }, { "collections", 0, get_collections }, { "tags", 1, post_tags },
        { "status", 0, get_status }, { "collections", 1, post_collection },
        { "dupes", 0, get_dupes }, { "dupes/fold", 1, post_fold }, { "conflicts", 0, serve_conflicts },
        { "audit", 0, serve_audit },
    };
    size_t k;
    int known = 0;

    if (!strncmp(rest, "samples/", 8))
        return samples_route(r, rest + 8);
    if (!strcmp(rest, "patches") || !strncmp(rest, "patches/", 8))
        return serve_docs(r, SHELF_DOC_PATCH, rest[7] ? rest + 8 : NULL);
    if (!strcmp(rest, "projects") || !strncmp(rest, "projects/", 9))
        return serve_docs(r, SHELF_DOC_PROJECT, rest[8] ? rest + 9 : NULL);
    if (!strncmp(rest, "restore/", 8))
        return serve_restore(r, rest + 8);
    for (k = 0; k < sizeof routes / sizeof routes[0]; k++)
        if (!strcmp(rest, routes[k].path)) {
            known = 1;
            if (routes[k].post ? !strcmp(r->method, "POST") : is_get(r))
                return routes[k].run(r);
        }
    return known ? wrong_method(r) : serve_error(r, MHD_HTTP_NOT_FOUND, "no such API path");
}
