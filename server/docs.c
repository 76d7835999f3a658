/*
 * docs.c: patches and projects in the JSON API of `shelf serve`
 * (doc/serve.md, "Patches and projects"): the list with a word search, one
 * document at any version, its history, the diff of two versions, and the
 * changes made in two steps, a preview and its apply: revert, undo and
 * three-way merge.  Owns the server's table of previews.  Uses only the
 * public API (shelf/patch.h); everything runs on the server's one thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "samples.h"
#include "shelf/sync.h"
#include "serve_int.h"

#define PREVIEW_TTL 900.0           /* seconds a preview can be applied */

enum { OP_REVERT = 1, OP_UNDO, OP_MERGE };

static const char *const OP_NAMES[] = { "", "revert", "undo", "merge" };

static const char *noun(int kind)
{
    return kind == SHELF_DOC_PATCH ? "patch" : "project";
}

/* ---- the word search ---------------------------------------------------------- */

/*
 * Base letters of U+00C0..U+017F ('.': kept as it is, '*': two letters,
 * below), so "cafe" finds "Café" and "ZOE" finds "Zoë".
 */
static const char LATIN[] =
    "aaaaaa*ceeeeiiiidnooooo.ouuuuy.*"                      /* U+00C0 */
    "aaaaaa*ceeeeiiiidnooooo.ouuuuy.y"                      /* U+00E0 */
    "aaaaaaccccccccddddeeeeeeeeeegggggggghhhhiiiiiiiiiiiijjkkkllllllllll"
    "nnnnnnnnnoooooo**rrrrrrssssssssttttttuuuuuuuuuuuuwwyyyzzzzzzs";   /* U+0100 */

/* Append the UTF-8 of code point c to out[*k]. */
static void put_utf8(char *out, size_t *k, unsigned c)
{
    if (c < 0x80) {
        out[(*k)++] = (char)c;
    } else if (c < 0x800) {
        out[(*k)++] = (char)(0xC0 | (c >> 6));
        out[(*k)++] = (char)(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
        out[(*k)++] = (char)(0xE0 | (c >> 12));
        out[(*k)++] = (char)(0x80 | ((c >> 6) & 0x3F));
        out[(*k)++] = (char)(0x80 | (c & 0x3F));
    } else {
        out[(*k)++] = (char)(0xF0 | (c >> 18));
        out[(*k)++] = (char)(0x80 | ((c >> 12) & 0x3F));
        out[(*k)++] = (char)(0x80 | ((c >> 6) & 0x3F));
        out[(*k)++] = (char)(0x80 | (c & 0x3F));
    }
}

/*
 * s folded for matching (owned, free(); NULL on ENOMEM): ASCII, Greek and
 * Cyrillic to lower case, Latin letters with accents to their base letter;
 * anything else (CJK, emoji, bytes that are not UTF-8) as it is.  Never
 * longer than s: every 2-byte letter folds to 1 or 2 bytes.
 */
char *serve_fold(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    char *out = malloc(strlen(s) + 1);
    size_t k = 0;

    if (!out)
        return NULL;
    while (*p) {
        unsigned c = *p, n = 0;

        if (c < 0x80) {
            out[k++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
            p++;
            continue;
        }
        if ((c & 0xE0) == 0xC0 && (p[1] & 0xC0) == 0x80) {
            c = ((c & 0x1F) << 6) | (p[1] & 0x3F);
            n = 2;
        } else if ((c & 0xF0) == 0xE0 && (p[1] & 0xC0) == 0x80 && (p[2] & 0xC0) == 0x80) {
            n = 3;
        } else if ((c & 0xF8) == 0xF0 && (p[1] & 0xC0) == 0x80 && (p[2] & 0xC0) == 0x80 &&
                   (p[3] & 0xC0) == 0x80) {
            n = 4;
        }
        if (n != 2) {           /* 3 and 4 byte sequences, stray bytes: as they are */
            n = n ? n : 1;
            memcpy(out + k, p, n);
            k += n;
            p += n;
            continue;
        }
        p += 2;
        if (c >= 0xC0 && c <= 0x17F && LATIN[c - 0xC0] != '.') {
            char b = LATIN[c - 0xC0];

            if (b != '*') {
                out[k++] = b;
            } else if (c == 0xDF) {
                out[k++] = 's';
                out[k++] = 's';
            } else {
                out[k++] = c == 0xC6 || c == 0xE6 ? 'a' : 'o';
                out[k++] = 'e';
            }
            continue;
        }
        if ((c >= 0x391 && c <= 0x3A9) || (c >= 0x410 && c <= 0x42F))
            c += 0x20;
        else if (c >= 0x400 && c <= 0x40F)
            c += 0x50;
        put_utf8(out, &k, c);
    }
    out[k] = '\0';
    return out;
}

/* 1 when every word of the folded query is in the folded text. */
int serve_words_in(const char *fq, const char *ftext)
{
    const char *w = fq;

    for (;;) {
        char word[256];
        size_t n;

        while (*w == ' ' || *w == '\t')
            w++;
        if (!*w)
            return 1;
        n = strcspn(w, " \t");
        if (n >= sizeof word)
            n = sizeof word - 1;
        memcpy(word, w, n);
        word[n] = '\0';
        w += strcspn(w, " \t");
        if (!strstr(ftext, word))
            return 0;
    }
}

/* ---- GET /api/patches, /api/projects ------------------------------------------------ */

typedef struct doc_list {
    json_t *arr;
    char *fq;           /* the folded query; NULL: everything */
    int bad;
} doc_list;

static json_t *str_or_null(const char *s)
{
    return s ? tool_json_name(s) : json_null();
}

/* One document as `shelf patch ls --json` prints it. */
static json_t *docinfo_json(const shelf_docinfo *d)
{
    json_t *o = json_pack("{s:I, s:o, s:I, s:I, s:I, s:I, s:o}", "id", (json_int_t)d->id, "name",
                          tool_json_name(d->name ? d->name : ""), "version", (json_int_t)d->version,
                          "created", (json_int_t)d->created, "modified", (json_int_t)d->modified, "refs",
                          (json_int_t)d->refs, "last_used",
                          d->last_used ? json_integer(d->last_used) : json_null());
    int bad = !o;

    if (!bad && d->kind == SHELF_DOC_PATCH)
        bad = json_object_set_new(o, "author", str_or_null(d->author)) ||
              json_object_set_new(o, "category", str_or_null(d->category)) ||
              json_object_set_new(o, "format", str_or_null(d->format));
    else if (!bad)
        bad = json_object_set_new(o, "tempo", d->tempo > 0 ? json_real(d->tempo) : json_null());
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* shelf_doc_list's callback, on the server's thread: the documents whose
 * name, author, category or format hold every word. */
static int on_docinfo(void *ud, const shelf_docinfo *d)
{
    doc_list *l = ud;

    if (l->fq) {
        const char *parts[4] = { d->name, d->author, d->category, d->format };
        size_t n = 1, k = 0;
        char *text, *ftext;
        int hit;

        for (int i = 0; i < 4; i++)
            n += (parts[i] ? strlen(parts[i]) : 0) + 1;
        if (!(text = malloc(n)))
            return l->bad = 1;
        for (int i = 0; i < 4; i++) {
            size_t m = parts[i] ? strlen(parts[i]) : 0;

            memcpy(text + k, parts[i] ? parts[i] : "", m);
            k += m;
            text[k++] = '\n';      /* no word spans two members */
        }
        text[k] = '\0';
        ftext = serve_fold(text);
        free(text);
        if (!ftext)
            return l->bad = 1;
        hit = serve_words_in(l->fq, ftext);
        free(ftext);
        if (!hit)
            return 0;
    }
    return (l->bad = json_array_append_new(l->arr, docinfo_json(d)) != 0);
}

static enum MHD_Result get_list(serve_req *r, int kind)
{
    const char *q = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "q");
    doc_list l = { json_array(), NULL, 0 };
    double t0 = serve_now();
    int rc;

    if (!l.arr || (q && !(l.fq = serve_fold(q)))) {
        json_decref(l.arr);
        return serve_json(r, MHD_HTTP_OK, NULL, 0);
    }
    rc = shelf_doc_list(r->srv->lib, kind, on_docinfo, &l);
    free(l.fq);
    if (rc != SHELF_OK && !l.bad) {
        json_decref(l.arr);
        return serve_lib_error(r, rc);
    }
    if (l.bad) {
        json_decref(l.arr);
        return serve_json(r, MHD_HTTP_OK, NULL, 0);
    }
    return serve_json(r, MHD_HTTP_OK,
                      json_pack("{s:s, s:o, s:I, s:o, s:f}", "kind", noun(kind), "q", tool_json_name(q ? q : ""),
                                "total", (json_int_t)json_array_size(l.arr), "items", l.arr, "ms",
                                (serve_now() - t0) * 1e3),
                      10);
}

/* ---- one document, its history ------------------------------------------------------- */

typedef struct hist {
    shelf_library *lib;
    json_t *arr;        /* NULL: only the head is wanted */
    int64_t head, head_parent;
    int bad;
} hist;

/* shelf_doc_history's callback, on the server's thread. */
static int on_version(void *ud, const shelf_docversion *v)
{
    hist *h = ud;
    char who[SHELF_DEVICE_NAME_MAX + 1];

    if (v->head) {
        h->head = v->seq;
        h->head_parent = v->parent;
    }
    if (!h->arr)
        return v->head;     /* stop at the head */
    h->bad |= json_array_append_new(
        h->arr, json_pack("{s:I, s:s, s:o, s:o, s:I, s:s, s:o, s:o, s:b, s:o, s:I}", "version", (json_int_t)v->seq,
                          "hash", v->hash, "parent", v->parent ? json_integer(v->parent) : json_null(),
                          "parent2", v->parent2 ? json_integer(v->parent2) : json_null(), "time",
                          (json_int_t)v->time, "device", v->device, "who",
                          tool_json_name(tool_who(h->lib, v->device, who, sizeof who)),
                          "message", tool_json_name(v->message), "head", v->head, "undoes",
                          v->undoes ? json_integer(v->undoes) : json_null(), "stored",
                          (json_int_t)v->stored)) != 0;
    return h->bad;
}

/* The head of item id into *head; SHELF_OK or the library's error. */
static int head_of(shelf_library *lib, int kind, int64_t id, int64_t *head)
{
    hist h = { lib, NULL, 0, 0, 0 };
    int rc = shelf_doc_history(lib, kind, id, on_version, &h);

    *head = h.head;
    return rc == SHELF_ECANCELED ? SHELF_OK : rc;
}

/* A version from the query string (name): 0 when absent; -1 after answering 400. */
static int version_arg(serve_req *r, const char *name, int64_t *seq)
{
    const char *v = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);

    *seq = 0;
    if (v && *v && serve_parse_int(v, 1, INT64_MAX, seq))
        return serve_error(r, MHD_HTTP_BAD_REQUEST, "%s: a version number, 1 or more", name), -1;
    return 0;
}

/* Document text (canonical JSON) as a JSON value, or NULL. */
static json_t *doc_value(const char *text)
{
    return text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;
}

static enum MHD_Result get_doc(serve_req *r, int kind, int64_t id)
{
    shelf_library *lib = r->srv->lib;
    int64_t seq, head;
    char *text = NULL;
    json_t *doc;
    int rc;

    if (version_arg(r, "version", &seq))
        return MHD_YES;
    if ((rc = head_of(lib, kind, id, &head)) != SHELF_OK ||
        (rc = shelf_doc_get(lib, kind, id, seq, &text)) != SHELF_OK)
        return serve_lib_error(r, rc);
    doc = doc_value(text);
    shelf_free(text);
    if (!doc)
        return serve_json(r, MHD_HTTP_OK, NULL, 0);
    return serve_json(r, MHD_HTTP_OK,
                      json_pack("{s:s, s:I, s:I, s:I, s:o}", "kind", noun(kind), "id", (json_int_t)id, "version",
                                (json_int_t)(seq ? seq : head), "head", (json_int_t)head, "document", doc),
                      17);
}

static enum MHD_Result get_history(serve_req *r, int kind, int64_t id)
{
    hist h = { r->srv->lib, json_array(), 0, 0, 0 };
    int rc;

    if (!h.arr)
        return serve_json(r, MHD_HTTP_OK, NULL, 0);
    if ((rc = shelf_doc_history(r->srv->lib, kind, id, on_version, &h)) != SHELF_OK || h.bad) {
        json_decref(h.arr);
        return h.bad ? serve_json(r, MHD_HTTP_OK, NULL, 0) : serve_lib_error(r, rc);
    }
    return serve_json(r, MHD_HTTP_OK,
                      json_pack("{s:s, s:I, s:I, s:o}", "kind", noun(kind), "id", (json_int_t)id, "head",
                                (json_int_t)h.head, "versions", h.arr),
                      0);
}

/* GET .../diff?a=A&b=B: from version a to version b (absent: the head). */
static enum MHD_Result get_diff(serve_req *r, int kind, int64_t id)
{
    shelf_library *lib = r->srv->lib;
    int64_t a, b, head;
    char *text = NULL;
    json_t *changes;
    int rc;

    if (version_arg(r, "a", &a) || version_arg(r, "b", &b))
        return MHD_YES;
    if ((rc = head_of(lib, kind, id, &head)) != SHELF_OK ||
        (rc = shelf_doc_diff_versions(lib, kind, id, a, b, &text)) != SHELF_OK)
        return serve_lib_error(r, rc);
    changes = doc_value(text);
    shelf_free(text);
    if (!changes)
        return serve_json(r, MHD_HTTP_OK, NULL, 0);
    return serve_json(r, MHD_HTTP_OK,
                      json_pack("{s:s, s:I, s:I, s:I, s:o}", "kind", noun(kind), "id", (json_int_t)id, "a",
                                (json_int_t)(a ? a : head), "b", (json_int_t)(b ? b : head), "changes", changes),
                      17);
}

/* ---- previews and their apply ------------------------------------------------------- */

void serve_docs_release(serve_state *srv)
{
    for (size_t i = 0; i < SERVE_PREVIEWS; i++) {
        free(srv->previews[i].resolve);
        memset(&srv->previews[i], 0, sizeof srv->previews[i]);
    }
}

/* A new preview in the table (the oldest goes when it is full); NULL when
 * no random id can be made. */
static serve_preview *preview_new(serve_state *srv)
{
    serve_preview *p = &srv->previews[srv->preview_next++ % SERVE_PREVIEWS];

    free(p->resolve);
    memset(p, 0, sizeof *p);
    if (serve_random_id(p->id) != 0)
        return NULL;
    p->made = serve_now();
    return p;
}

static void preview_drop(serve_preview *p)
{
    free(p->resolve);
    memset(p, 0, sizeof *p);
}

static serve_preview *preview_find(serve_state *srv, const char *id)
{
    for (size_t i = 0; id && *id && i < SERVE_PREVIEWS; i++) {
        serve_preview *p = &srv->previews[i];

        if (p->id[0] && !strcmp(p->id, id)) {
            if (serve_now() - p->made > PREVIEW_TTL) {
                preview_drop(p);
                return NULL;
            }
            return p;
        }
    }
    return NULL;
}

/* 409 with the item's head, so the page can look again. */
static enum MHD_Result stale(serve_req *r, int64_t head, const char *why)
{
    char *text = serve_text(why);
    json_t *v = text ? json_pack("{s:s, s:I}", "error", text, "head", (json_int_t)head) : NULL;

    shelf_free(text);
    return serve_json(r, MHD_HTTP_CONFLICT, v, 0);
}

/* A version number member of o (1 or more); -1 after answering 400. */
static int version_member(serve_req *r, json_t *o, const char *key, int64_t *seq)
{
    json_t *v = json_object_get(o, key);

    if (!json_is_integer(v) || json_integer_value(v) < 1)
        return serve_error(r, MHD_HTTP_BAD_REQUEST, "'%s' must be a version number, 1 or more", key), -1;
    *seq = json_integer_value(v);
    return 0;
}

/*
 * A merge of version other into the head of id with the resolutions
 * resolve (an array of {"path", "take": "ours"|"theirs"|"base"|"value"|
 * "delete", "value"}, may be NULL): *m (owned) and *base.  SHELF_DONE when
 * there is nothing to merge.  A bad resolution is SHELF_EINVAL with *why.
 */
static int merge_run(shelf_library *lib, int kind, int64_t id, int64_t other, json_t *resolve, shelf_merge **m,
                     int64_t *base, char *why, size_t whysize)
{
    json_t *res;
    size_t i;
    int rc;

    *m = NULL;
    *why = '\0';
    if ((rc = shelf_doc_merge_prepare(lib, kind, id, other, m, base)) != SHELF_OK)
        return rc;
    json_array_foreach(resolve, i, res) {
        const char *path = json_string_value(json_object_get(res, "path"));
        const char *take = json_string_value(json_object_get(res, "take"));
        json_t *value = json_object_get(res, "value");
        char *text = NULL;
        int how;

        if (!path || !take) {
            snprintf(why, whysize, "each resolution needs 'path' and 'take'");
            return SHELF_EINVAL;
        }
        if (!strcmp(take, "ours"))
            how = SHELF_MERGE_OURS;
        else if (!strcmp(take, "theirs"))
            how = SHELF_MERGE_THEIRS;
        else if (!strcmp(take, "base"))
            how = SHELF_MERGE_BASE;
        else if (!strcmp(take, "value") || !strcmp(take, "delete"))
            how = SHELF_MERGE_VALUE;
        else {
            snprintf(why, whysize, "'take' is ours, theirs, base, value or delete");
            return SHELF_EINVAL;
        }
        if (!strcmp(take, "value")) {
            if (!value) {
                snprintf(why, whysize, "'take': 'value' needs a 'value'");
                return SHELF_EINVAL;
            }
            if (!(text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17))))
                return SHELF_ENOMEM;
        }
        rc = shelf_merge_resolve_path(*m, path, how, text);
        free(text);
        if (rc == SHELF_ENOTFOUND) {
            char *p = serve_text(path);

            snprintf(why, whysize, "no conflict at '%s'", p ? p : "?");
            shelf_free(p);
            return SHELF_EINVAL;
        }
        if (rc != SHELF_OK) {
            char *p = serve_text(path);

            snprintf(why, whysize, "cannot resolve '%s' that way (%s)", p ? p : "?", shelf_strerror(rc));
            shelf_free(p);
            return SHELF_EINVAL;
        }
    }
    return SHELF_OK;
}

/* The conflicts of m as JSON: [{"path", "base", "ours", "theirs", "resolved"}]. */
static json_t *conflicts_json(const shelf_merge *m)
{
    json_t *arr = json_array();

    for (size_t i = 0; arr && i < shelf_merge_conflicts(m); i++) {
        const char *path, *b, *o, *t;
        int resolved = 0;
        json_t *c;

        if (shelf_merge_conflict(m, i, &path, &b, &o, &t, &resolved) != SHELF_OK)
            continue;
        c = json_pack("{s:o, s:o, s:o, s:o, s:b}", "path", tool_json_name(path), "base",
                      b ? doc_value(b) : json_null(), "ours", o ? doc_value(o) : json_null(), "theirs",
                      t ? doc_value(t) : json_null(), "resolved", resolved);
        if (json_array_append_new(arr, c) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

/* The changes from the head's document to text, as JSON (NULL: failed). */
static json_t *changes_to(shelf_library *lib, int kind, int64_t id, const char *text)
{
    char *head = NULL, *d = NULL, *err = NULL;
    json_t *v = NULL;

    if (shelf_doc_get(lib, kind, id, 0, &head) == SHELF_OK && shelf_doc_diff(head, text, &d, &err) == SHELF_OK)
        v = doc_value(d);
    shelf_free(head);
    shelf_free(d);
    shelf_free(err);
    return v;
}

/* The SHA-256 of a document's text into hash; SHELF_OK or the library's code. */
static int doc_hash(const char *text, int kind, char hash[65])
{
    char *canon = NULL, *err = NULL;
    int rc = shelf_doc_canonical(text, strlen(text), kind, &canon, hash, &err);

    shelf_free(canon);
    shelf_free(err);
    return rc;
}

/* The seq's parent (0 when none) from the history. */
typedef struct parent_of {
    int64_t seq, parent;
    char *msg;          /* its message (owned) */
} parent_of;

static int on_parent(void *ud, const shelf_docversion *v)
{
    parent_of *p = ud;

    if (v->seq != p->seq)
        return 0;
    p->parent = v->parent;
    p->msg = serve_text(v->message);
    return 1;
}

/*
 * POST .../preview: what an operation would do, without doing it.
 *   {"op": "revert", "to": N}
 *   {"op": "undo"}
 *   {"op": "merge", "other": N, "resolve": [...]}
 * The answer names the preview to apply (null while a merge has conflicts
 * unresolved) and the head it expects.
 */
static enum MHD_Result post_preview(serve_req *r, int kind, int64_t id)
{
    shelf_library *lib = r->srv->lib;
    json_t *o = serve_body_object(r), *changes = NULL, *ans = NULL, *resolve;
    const char *op;
    int64_t head = 0, arg = 0, base = 0;
    shelf_merge *m = NULL;
    char what[512], why[512], *text = NULL, hash[65] = "";
    serve_preview *p = NULL;
    int rc, ready = 1, opn;

    if (!o)
        return MHD_YES;
    op = json_string_value(json_object_get(o, "op"));
    opn = !op ? 0 : !strcmp(op, "revert") ? OP_REVERT : !strcmp(op, "undo") ? OP_UNDO : !strcmp(op, "merge") ? OP_MERGE : 0;
    resolve = json_object_get(o, "resolve");
    if (!opn) {
        json_decref(o);
        return serve_error(r, MHD_HTTP_BAD_REQUEST, "'op' is revert, undo or merge");
    }
    if ((opn == OP_REVERT && version_member(r, o, "to", &arg)) ||
        (opn == OP_MERGE && version_member(r, o, "other", &arg))) {
        json_decref(o);
        return MHD_YES;
    }
    if (resolve && !json_is_array(resolve)) {
        json_decref(o);
        return serve_error(r, MHD_HTTP_BAD_REQUEST, "'resolve' must be an array");
    }
    if ((rc = head_of(lib, kind, id, &head)) != SHELF_OK) {
        json_decref(o);
        return serve_lib_error(r, rc);
    }
    if (opn == OP_REVERT) {
        if ((rc = shelf_doc_diff_versions(lib, kind, id, 0, arg, &text)) != SHELF_OK) {
            json_decref(o);
            return serve_lib_error(r, rc);
        }
        changes = doc_value(text);
        snprintf(what, sizeof what, "revert to version %lld", (long long)arg);
    } else if (opn == OP_UNDO) {
        parent_of po = { 0, 0, NULL };

        rc = shelf_doc_undo(lib, kind, id, &po.seq, NULL);
        if (rc == SHELF_DONE) {
            json_decref(o);
            return serve_error(r, MHD_HTTP_BAD_REQUEST, "%s %lld has nothing to undo", noun(kind), (long long)id);
        }
        if (rc != SHELF_OK || (rc = shelf_doc_history(lib, kind, id, on_parent, &po)) != SHELF_ECANCELED ||
            (rc = shelf_doc_diff_versions(lib, kind, id, 0, po.parent, &text)) != SHELF_OK) {
            shelf_free(po.msg);
            json_decref(o);
            if (rc == SHELF_OK)     /* the history lacks the version undo named */
                return serve_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "version %lld is not in the history",
                                   (long long)po.seq);
            return serve_lib_error(r, rc);
        }
        arg = po.seq;
        changes = doc_value(text);
        snprintf(what, sizeof what, "undo version %lld (%s)", (long long)po.seq, po.msg ? po.msg : "");
        shelf_free(po.msg);
    } else {
        rc = merge_run(lib, kind, id, arg, resolve, &m, &base, why, sizeof why);
        if (rc == SHELF_DONE) {
            shelf_merge_free(m);
            json_decref(o);
            return serve_error(r, MHD_HTTP_BAD_REQUEST, "%s", shelf_errmsg(lib));
        }
        if (rc != SHELF_OK) {
            shelf_merge_free(m);
            json_decref(o);
            if (*why)
                return serve_error(r, MHD_HTTP_BAD_REQUEST, "%s", why);
            return serve_lib_error(r, rc);
        }
        rc = shelf_merge_result(m, &text);
        ready = rc == SHELF_OK;
        if (ready) {
            changes = changes_to(lib, kind, id, text);
            ready = doc_hash(text, kind, hash) == SHELF_OK;
        }
        snprintf(what, sizeof what, "merge version %lld into version %lld (base %lld)", (long long)arg,
                 (long long)head, (long long)base);
    }
    shelf_free(text);
    if (ready && !(p = preview_new(r->srv))) {
        json_decref(changes);
        shelf_merge_free(m);
        json_decref(o);
        return serve_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot make a preview id");
    }
    if (p) {
        p->kind = kind;
        p->op = opn;
        p->item = id;
        p->expect = head;
        p->arg = arg;
        memcpy(p->hash, hash, sizeof p->hash);
        if (opn == OP_MERGE && resolve && !(p->resolve = json_dumps(resolve, JSON_COMPACT | JSON_ENCODE_ANY))) {
            preview_drop(p);
            json_decref(changes);
            shelf_merge_free(m);
            json_decref(o);
            return serve_json(r, MHD_HTTP_OK, NULL, 0);     /* out of memory: 500 */
        }
    }
    ans = json_pack("{s:o, s:s, s:s, s:I, s:I, s:o, s:o}", "preview", p ? json_string(p->id) : json_null(), "op",
                    OP_NAMES[opn], "kind", noun(kind), "id", (json_int_t)id, "expect", (json_int_t)head, "what",
                    tool_json_name(what), "changes", changes ? changes : json_null());
    if (ans && opn == OP_MERGE) {
        size_t open = 0, i;
        json_t *cs = conflicts_json(m), *c;

        json_array_foreach(cs, i, c)
            open += !json_is_true(json_object_get(c, "resolved"));
        if (!cs || json_object_set_new(ans, "base", json_integer(base)) ||
            json_object_set_new(ans, "other", json_integer(arg)) || json_object_set_new(ans, "conflicts", cs) ||
            json_object_set_new(ans, "unresolved", json_integer((json_int_t)open))) {
            json_decref(ans);
            ans = NULL;
        }
    } else if (ans && opn != OP_MERGE && json_object_set_new(ans, opn == OP_REVERT ? "to" : "undoes",
                                                              json_integer(arg))) {
        json_decref(ans);
        ans = NULL;
    }
    shelf_merge_free(m);
    json_decref(o);
    return serve_json(r, MHD_HTTP_OK, ans, 17);
}

/*
 * POST .../apply {"preview": ID, "expect": HEAD, "message": "..."}: do what
 * the preview showed, when the item's head is still the one it was made
 * on; else 409 with the head now.  A preview is used once.
 */
static enum MHD_Result post_apply(serve_req *r, int kind, int64_t id)
{
    shelf_library *lib = r->srv->lib;
    json_t *o = serve_body_object(r), *msgv;
    const char *pid, *msg = NULL;
    serve_preview *p;
    int64_t head = 0, expect = 0, newseq = 0, undone = 0, base = 0;
    shelf_merge *m = NULL;
    char why[512];
    int rc;
    enum MHD_Result ret;

    if (!o)
        return MHD_YES;
    pid = json_string_value(json_object_get(o, "preview"));
    msgv = json_object_get(o, "message");
    if (!pid || version_member(r, o, "expect", &expect)) {
        if (!pid)
            serve_error(r, MHD_HTTP_BAD_REQUEST, "'preview' must be the id a preview answered");
        json_decref(o);
        return MHD_YES;
    }
    if (msgv && !json_is_string(msgv) && !json_is_null(msgv)) {
        json_decref(o);
        return serve_error(r, MHD_HTTP_BAD_REQUEST, "'message' must be a string");
    }
    msg = json_string_value(msgv);
    if ((rc = head_of(lib, kind, id, &head)) != SHELF_OK) {
        json_decref(o);
        return serve_lib_error(r, rc);
    }
    p = preview_find(r->srv, pid);
    if (!p || p->kind != kind || p->item != id) {
        json_decref(o);
        return stale(r, head, "no such preview (used, expired, or of another item): preview again");
    }
    if (p->expect != expect || head != expect) {
        char text[200];

        if (p->expect != expect)
            snprintf(text, sizeof text, "the preview was made at version %lld, not %lld: preview again",
                     (long long)p->expect, (long long)expect);
        else
            snprintf(text, sizeof text, "%s %lld changed since the preview (now at version %lld, the preview "
                     "was made at %lld): preview again", noun(kind), (long long)id, (long long)head,
                     (long long)p->expect);
        preview_drop(p);
        json_decref(o);
        return stale(r, head, text);
    }
    if (p->op == OP_REVERT) {
        rc = shelf_doc_revert(lib, kind, id, p->arg, &newseq);
    } else if (p->op == OP_UNDO) {
        rc = shelf_doc_undo(lib, kind, id, &undone, &newseq);
    } else {
        json_t *resolve = p->resolve ? json_loads(p->resolve, 0, NULL) : NULL;
        char *text = NULL, hash[65] = "";

        rc = merge_run(lib, kind, id, p->arg, resolve, &m, &base, why, sizeof why);
        json_decref(resolve);
        if (rc == SHELF_OK && (rc = shelf_merge_result(m, &text)) == SHELF_OK &&
            (rc = doc_hash(text, kind, hash)) == SHELF_OK && strcmp(hash, p->hash) != 0) {
            shelf_free(text);
            shelf_merge_free(m);
            preview_drop(p);
            json_decref(o);
            return stale(r, head, "the merge no longer gives what the preview showed: preview again");
        }
        shelf_free(text);
        if (rc == SHELF_OK)
            rc = shelf_doc_merge_commit(lib, kind, id, p->arg, m, msg, &newseq);
        shelf_merge_free(m);
    }
    preview_drop(p);
    json_decref(o);
    if (rc != SHELF_OK && rc != SHELF_DONE)
        return serve_lib_error(r, rc);
    ret = serve_json(r, MHD_HTTP_OK,
                     json_pack("{s:s, s:I, s:o, s:b, s:I}", "kind", noun(kind), "id", (json_int_t)id, "version",
                               newseq ? json_integer(newseq) : json_null(), "changed", rc == SHELF_OK && newseq,
                               "head", (json_int_t)(newseq ? newseq : head)),
                     0);
    return ret;
}

/* ---- routing ---------------------------------------------------------------------------- */

/* ---- GET /api/conflicts: documents sync could not merge ---- */

static int on_conflict(void *ud, const shelf_conflict *k)
{
    json_t *o = json_pack("{s:s, s:I, s:o, s:I, s:I, s:s, s:s, s:I}", "kind",
                          k->kind == SHELF_DOC_PATCH ? "patch" : "project", "id", (json_int_t)k->id,
                          "name", tool_json_name(k->name ? k->name : ""), "head", (json_int_t)k->head,
                          "other", (json_int_t)k->other, "head_vid", k->head_vid, "other_vid",
                          k->other_vid, "since", (json_int_t)k->since);

    return json_array_append_new(ud, o) ? SHELF_ENOMEM : 0;
}

enum MHD_Result serve_conflicts(serve_req *r)
{
    json_t *arr = json_array();
    int rc;

    if (!arr)
        return serve_json(r, MHD_HTTP_OK, NULL, 0);
    if ((rc = shelf_sync_conflicts(r->srv->lib, on_conflict, arr)) == SHELF_ENOMEM) {
        json_decref(arr);
        return serve_json(r, MHD_HTTP_OK, NULL, 0);
    }
    if (rc != SHELF_OK) {
        json_decref(arr);
        return serve_lib_error(r, rc);
    }
    return serve_json(r, MHD_HTTP_OK, json_pack("{s:o}", "conflicts", arr), 0);
}

enum MHD_Result serve_docs(serve_req *r, int kind, const char *rest)
{
    int get = !strcmp(r->method, "GET") || !strcmp(r->method, "HEAD");
    char idtext[24];
    size_t n;
    const char *sub;
    int64_t id = 0;

    if (!rest) {
        if (!get)
            return serve_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "method %s not allowed here", r->method);
        return get_list(r, kind);
    }
    n = strcspn(rest, "/");
    sub = rest[n] ? rest + n + 1 : NULL;
    if (n < sizeof idtext) {
        memcpy(idtext, rest, n);
        idtext[n] = '\0';
        id = serve_parse_id(idtext);
    }
    if (!id)
        return serve_error(r, MHD_HTTP_NOT_FOUND, "no such %s (ids are whole numbers)", noun(kind));
    if (!sub || !strcmp(sub, "history") || !strcmp(sub, "diff")) {
        if (!get)
            return serve_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "method %s not allowed here", r->method);
        return !sub ? get_doc(r, kind, id) : !strcmp(sub, "history") ? get_history(r, kind, id)
                                                                      : get_diff(r, kind, id);
    }
    if (!strcmp(sub, "preview") || !strcmp(sub, "apply")) {
        if (strcmp(r->method, "POST") != 0)
            return serve_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "method %s not allowed here", r->method);
        return !strcmp(sub, "preview") ? post_preview(r, kind, id) : post_apply(r, kind, id);
    }
    return serve_error(r, MHD_HTTP_NOT_FOUND, "no such API path");
}
