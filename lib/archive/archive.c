/*
 * archive.c: shelf_archive_export and shelf_archive_verify.  Export writes
 * a BagIt bag (RFC 8493) through libarchive in one streaming pass: each
 * sample file is read once, and every buffer read goes to SHA-256 and
 * SHA-512 (the manifests) and to the archive writer, whose output callback
 * writes the archive file and feeds the PAR2 encoder.  The manifests and
 * bag-info.txt come last in the archive, which a tar stream allows.  The
 * layout is in doc/formats.md ("Archives").
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <dirent.h>
#include <unistd.h>
#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>
#include "archive_int.h"
#include "par2_int.h"
#include "../catalog/catalog_int.h"

#define CHUNK ((size_t)1 << 20)

/* ---- what goes in ---------------------------------------------------------- */

typedef struct idlist {
    int64_t *v;
    size_t n, cap;
} idlist;

static int ids_add(idlist *l, int64_t id)
{
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 32;
        int64_t *nv = shelf__realloc(l->v, ncap * sizeof *nv);

        if (!nv)
            return SHELF_ENOMEM;
        l->v = nv;
        l->cap = ncap;
    }
    l->v[l->n++] = id;
    return SHELF_OK;
}

static int cmp_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return x < y ? -1 : x > y;
}

static void ids_unique(idlist *l)
{
    size_t i, k = 0;

    if (!l->n)
        return;
    qsort(l->v, l->n, sizeof *l->v, cmp_id);
    for (i = 1; i < l->n; i++)
        if (l->v[i] != l->v[k])
            l->v[++k] = l->v[i];
    l->n = k + 1;
}

typedef struct gather {
    idlist samples, patches, projects;
    int rc;
    const shelf_archive_export_opts *o;
    size_t nmissing;
    size_t left_out;            /* of samples: not on disk or in the store */
    char first_missing[300];    /* for the message */
} gather;

/* A referenced sample that cannot go in. */
static void missing(gather *g, const char *what, const char *why)
{
    if (!g->nmissing++)
        snprintf(g->first_missing, sizeof g->first_missing, "%.140s (%.150s)", what, why);
    if (g->o->on_missing)
        g->o->on_missing(g->o->ud, SHELF_ARCHIVE_MISSING, what, why);
}

static int sample_exists(shelf_library *lib, int64_t id, const char *sha256, int64_t *found)
{
    sqlite3_stmt *st = shelf__prepare(lib, "SELECT id FROM (SELECT id, 0 AS o FROM samples WHERE id = ?1 AND"
                                           " (?2 IS NULL OR sha256 = ?2) UNION ALL SELECT id, 1 FROM samples"
                                           " WHERE sha256 = ?2 ORDER BY o, id LIMIT 1)");
    int r;

    *found = 0;
    if (!st)
        return lib->err.rc;
    sqlite3_bind_int64(st, 1, id);
    if (sha256)
        sqlite3_bind_text(st, 2, sha256, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 2);
    if ((r = sqlite3_step(st)) == SQLITE_ROW)
        *found = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return r == SQLITE_ROW || r == SQLITE_DONE ? SHELF_OK : shelf__dberr(lib, "cannot read the catalog");
}

/*
 * The samples a document names, whether the catalog still links them or
 * not (a reference to a removed sample stays in the document, unlinked):
 * each found is added, each not found is missing.
 */
static int doc_samples(shelf_library *lib, gather *g, int kind, int64_t id)
{
    char *text = NULL, what[300], why[300];
    json_t *doc = NULL, *m;
    const char *key, *dname;
    int64_t found;
    int rc;

    if ((rc = shelf_doc_get(lib, kind, id, 0, &text)) != SHELF_OK)
        return rc;
    rc = shelf__json_parse(&lib->err, SHELF_ECORRUPT, kind == SHELF_DOC_PATCH ? "patch" : "project",
                           text, strlen(text), 0, &doc);
    if (rc != SHELF_OK) {
        free(text);
        return rc;
    }
    dname = json_string_value(json_object_get(doc, "name"));
    snprintf(why, sizeof why, "used by %s %lld '%s'; not in the library, on disk or in the store",
             kind == SHELF_DOC_PATCH ? "patch" : "project", (long long)id, dname ? dname : "");
    json_object_foreach(json_object_get(doc, kind == SHELF_DOC_PATCH ? "zones" : "samples"), key, m) {
        json_t *s = kind == SHELF_DOC_PATCH ? json_object_get(m, "sample") : NULL;
        int64_t sid = kind == SHELF_DOC_PATCH ? json_integer_value(json_object_get(s, "id"))
                                              : strtoll(key, NULL, 10);
        const char *sha = json_string_value(json_object_get(s, "sha256"));
        const char *path = json_string_value(json_object_get(s, "path"));

        if (kind == SHELF_DOC_PATCH && !s)
            continue;
        if ((rc = sample_exists(lib, sid, sha, &found)) != SHELF_OK)
            break;
        if (found) {
            if ((rc = ids_add(&g->samples, found)) != SHELF_OK) {
                rc = shelf__seterr(&lib->err, rc, "out of memory");
                break;
            }
            continue;
        }
        if (path)
            snprintf(what, sizeof what, "sample %lld '%s'", (long long)sid, path);
        else
            snprintf(what, sizeof what, "sample %lld", (long long)sid);
        missing(g, what, why);
    }
    json_decref(doc);
    free(text);
    return rc;
}

static int on_ref(void *ud, int kind, int64_t id, const char *name, int uses)
{
    gather *g = ud;

    (void)name;
    if (!uses)
        return 0;
    if (kind == SHELF__KIND_SAMPLE)
        g->rc = ids_add(&g->samples, id);
    else if (kind == SHELF__KIND_PATCH)
        g->rc = ids_add(&g->patches, id);
    return g->rc;
}

static int on_doc(void *ud, const shelf_docinfo *d)
{
    gather *g = ud;

    g->rc = ids_add(d->kind == SHELF_DOC_PATCH ? &g->patches : &g->projects, d->id);
    return g->rc;
}

static int gather_ids(shelf_library *lib, const shelf_archive_export_opts *o, gather *g)
{
    shelf_cursor *cur = NULL;
    const shelf_sample *row;
    size_t i;
    int rc;

    for (i = 0; i < o->nprojects; i++)
        if (ids_add(&g->projects, o->projects[i]))
            return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    for (i = 0; i < o->npatches; i++)
        if (ids_add(&g->patches, o->patches[i]))
            return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    if (o->all) {
        if ((rc = shelf_doc_list(lib, SHELF_DOC_PATCH, on_doc, g)) != SHELF_OK ||
            (rc = shelf_doc_list(lib, SHELF_DOC_PROJECT, on_doc, g)) != SHELF_OK)
            return g->rc ? shelf__seterr(&lib->err, g->rc, "out of memory") : rc;
        if ((rc = shelf_catalog_list(lib, NULL, &cur)) != SHELF_OK)
            return rc;
        while ((rc = shelf_cursor_next(cur, &row)) == SHELF_ROW)
            if (ids_add(&g->samples, row->id)) {
                rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
                break;
            }
        shelf_cursor_free(cur);
        if (rc != SHELF_DONE)
            return rc;
    }
    if (o->query) {
        shelf_search_opts so;

        memset(&so, 0, sizeof so);
        so.size = sizeof so;
        so.limit = -1;
        if ((rc = shelf_search(lib, o->query, &so, &cur, NULL, NULL)) != SHELF_OK)
            return rc;
        while ((rc = shelf_cursor_next(cur, &row)) == SHELF_ROW)
            if (ids_add(&g->samples, row->id)) {
                rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
                break;
            }
        shelf_cursor_free(cur);
        if (rc != SHELF_DONE)
            return rc;
    }
    ids_unique(&g->projects);
    for (i = 0; i < g->projects.n; i++)
        if ((rc = shelf_refs(lib, SHELF_DOC_PROJECT, g->projects.v[i], on_ref, g)) != SHELF_OK)
            return g->rc ? shelf__seterr(&lib->err, g->rc, "out of memory") : rc;
    ids_unique(&g->patches);
    for (i = 0; i < g->patches.n; i++)
        if ((rc = shelf_refs(lib, SHELF_DOC_PATCH, g->patches.v[i], on_ref, g)) != SHELF_OK)
            return g->rc ? shelf__seterr(&lib->err, g->rc, "out of memory") : rc;
    ids_unique(&g->patches);
    for (i = 0; i < g->projects.n; i++)
        if ((rc = doc_samples(lib, g, SHELF_DOC_PROJECT, g->projects.v[i])) != SHELF_OK)
            return rc;
    for (i = 0; i < g->patches.n; i++)
        if ((rc = doc_samples(lib, g, SHELF_DOC_PATCH, g->patches.v[i])) != SHELF_OK)
            return rc;
    ids_unique(&g->samples);
    if (!g->samples.n && !g->patches.n && !g->projects.n)
        return shelf__seterr(&lib->err, SHELF_EINVAL, "nothing to export: the selection is empty");
    return SHELF_OK;
}

/* One file of the payload, as planned before writing. */
typedef struct item {
    char *name;                 /* inside the bag: "data/samples/12/kick.wav" */
    char *src;                  /* file to read, or NULL: text holds the bytes */
    char *text;
    size_t textlen;
    uint64_t size;
    int64_t mtime;
    char sha256[SHELF_HASH_HEX]; /* expected (samples), "" when not known */
    uint8_t h256[SHELF_HASH_BYTES], h512[SHELF__SHA512_BYTES];
} item;

typedef struct plan {
    item *it;
    size_t n, cap;
    uint64_t bytes;
    int64_t stamp;              /* the time of the members shelf writes (below) */
} plan;

static item *plan_add(plan *p)
{
    if (p->n == p->cap) {
        size_t ncap = p->cap ? p->cap * 2 : 64;
        item *ni = shelf__realloc(p->it, ncap * sizeof *ni);

        if (!ni)
            return NULL;
        p->it = ni;
        p->cap = ncap;
    }
    memset(&p->it[p->n], 0, sizeof p->it[p->n]);
    return &p->it[p->n++];
}

static void plan_release(plan *p)
{
    size_t i;

    for (i = 0; i < p->n; i++) {
        free(p->it[i].name);
        free(p->it[i].src);
        free(p->it[i].text);
    }
    free(p->it);
}

/* A file name fit for any archive reader: its text (shelf_name_escape)
 * with controls and '\\' escaped as well, so it is UTF-8, has nothing a
 * reader refuses, and decodes to the name's bytes (archive_import.c); at
 * most 200 bytes, cut between characters and escapes. */
static char *safe_component(const char *s, const char *fallback)
{
    shelf__buf b = SHELF__BUF_INIT;
    size_t n = 0, k;

    if (shelf__name_escape_buf(&b, s, SHELF_NAME_CONTROL | SHELF_NAME_BACKSLASH) != SHELF_OK) {
        shelf__buf_release(&b);
        return NULL;
    }
    for (; n < b.len; n += k) {
        k = b.buf[n] == '%' && n + 2 < b.len && isxdigit((unsigned char)b.buf[n + 1]) &&
            isxdigit((unsigned char)b.buf[n + 2]) ? 3 : shelf__utf8_seq((const unsigned char *)b.buf + n);
        if (!k || n + k > 200)
            break;
    }
    b.buf[n] = '\0';
    b.len = n;
    if (!*b.buf || strchr(b.buf, '/') || !strcmp(b.buf, ".") || !strcmp(b.buf, "..")) {
        shelf__buf_release(&b);
        return shelf__strdup(fallback);
    }
    return shelf__buf_detach(&b);
}

/*
 * The setters of sample_json: each returns 0 or -1 (out of memory), so the
 * caller ORs them and drops the object once when any failed.
 */
static int set_str(json_t *o, const char *k, const char *v)
{
    return v ? json_object_set_new(o, k, json_string(v)) : 0;
}

/* A name as JSON text (shelf_name_escape): it may not be UTF-8. */
static int set_name(json_t *o, const char *k, const char *v)
{
    char *e;
    int rc;

    if (!v)
        return 0;
    if (!(e = shelf_name_escape(v, 0)))
        return -1;
    rc = json_object_set_new(o, k, json_string(e));
    free(e);
    return rc;
}

static json_t *sample_json(const shelf_sample *s, const char *file)
{
    json_t *o = json_object(), *tags = json_array();
    const char *t = s->tags;
    int bad = 0;

    if (!o || !tags) {
        json_decref(o);
        json_decref(tags);
        return NULL;
    }

    bad |= json_object_set_new(o, "shelf_sample", json_integer(1));
    bad |= json_object_set_new(o, "id", json_integer(s->id));
    bad |= set_name(o, "name", s->name);
    bad |= set_str(o, "file", file);
    bad |= set_str(o, "sha256", s->sha256);
    bad |= json_object_set_new(o, "size", json_integer((json_int_t)s->size));
    bad |= json_object_set_new(o, "mtime_ns", json_integer(s->mtime_ns));
    bad |= set_name(o, "origin", s->relpath);
    bad |= set_str(o, "format", s->format);
    bad |= set_str(o, "subtype", s->subtype);
    bad |= json_object_set_new(o, "rate", json_integer(s->rate));
    bad |= json_object_set_new(o, "channels", json_integer(s->channels));
    bad |= json_object_set_new(o, "frames", json_integer(s->frames));
    bad |= json_object_set_new(o, "duration", json_real(s->duration));
    if (s->bits)
        bad |= json_object_set_new(o, "bits", json_integer(s->bits));
    if (s->root_key >= 0)
        bad |= json_object_set_new(o, "root_key", json_integer(s->root_key));
    if (s->loop_start >= 0) {
        bad |= json_object_set_new(o, "loop_start", json_integer(s->loop_start));
        bad |= json_object_set_new(o, "loop_end", json_integer(s->loop_end));
        bad |= json_object_set_new(o, "loop_mode", json_integer(s->loop_mode));
    }
    if (s->tempo > 0)
        bad |= json_object_set_new(o, "tempo", json_real(s->tempo));
    if (s->beats)
        bad |= json_object_set_new(o, "beats", json_integer(s->beats));
    bad |= set_str(o, "category", s->category);
    bad |= json_object_set_new(o, "created", json_integer(s->created));
    if (s->last_used)
        bad |= json_object_set_new(o, "last_used", json_integer(s->last_used));
    bad |= json_object_set_new(o, "rating", json_integer(s->rating));
    bad |= json_object_set_new(o, "favourite", json_boolean(s->favourite));
    while (t && *t) {
        const char *e = strchr(t, ' ');
        size_t n = e ? (size_t)(e - t) : strlen(t);

        if (n)
            bad |= json_array_append_new(tags, json_stringn(t, n));
        t += n;
        while (*t == ' ')
            t++;
    }
    bad |= json_object_set_new(o, "tags", tags);
    bad |= set_str(o, "title", s->title);
    bad |= set_str(o, "author", s->author);
    bad |= set_str(o, "comment", s->comment);
    bad |= set_str(o, "genre", s->genre);
    bad |= set_str(o, "kit", s->kit);
    bad |= set_str(o, "instrument", s->instrument);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static int plan_text(shelf_library *lib, plan *p, char *name, char *text)
{
    item *it;

    if (!name || !text || !(it = plan_add(p))) {
        free(name);
        free(text);
        return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    }
    it->name = name;
    it->text = text;
    it->textlen = strlen(text);
    it->size = it->textlen;
    it->mtime = 0;              /* p->stamp, when the plan is complete */
    p->bytes += it->size;
    return SHELF_OK;
}

static int plan_build(shelf_library *lib, gather *g, plan *p)
{
    shelf_cursor *cur = NULL;
    const shelf_sample *s;
    size_t i;
    int rc = SHELF_OK;

    for (i = 0; i < g->samples.n && rc == SHELF_OK; i++) {
        char *base = NULL, *file = NULL, *src;
        const char *slash;
        json_t *meta;
        item *it;

        if ((rc = shelf_catalog_get(lib, g->samples.v[i], &cur, &s)) != SHELF_OK)
            break;
        slash = strrchr(s->relpath, '/');
        src = s->blob ? shelf__store_path(&lib->store, s->blob) : shelf__sample_abspath(s->root, s->relpath);
        /* Gone from its path: the store may hold its bytes. */
        if (src && access(src, F_OK) != 0 && s->sha256 && shelf__store_has(&lib->store, s->sha256) == 1) {
            free(src);
            src = shelf__store_path(&lib->store, s->sha256);
        }
        if (src && access(src, F_OK) != 0 && errno == ENOENT) {
            char what[300], why[600];

            snprintf(what, sizeof what, "sample %lld '%s'", (long long)s->id, s->name ? s->name : "");
            snprintf(why, sizeof why, "'%s' is not on disk, and the store has no copy", src);
            free(src);
            missing(g, what, why);
            g->left_out++;
            shelf_cursor_free(cur);
            cur = NULL;
            continue;
        }
        base = safe_component(slash ? slash + 1 : s->relpath, "sample");
        if (base)
            file = shelf__asprintf("data/samples/%lld/%s", (long long)s->id, base);
        free(base);
        if (!src || !file || !(it = plan_add(p))) {
            free(src);
            free(file);
            rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
            break;
        }
        it->name = file;
        it->src = src;
        it->size = s->size;
        it->mtime = s->mtime_ns / 1000000000;
        snprintf(it->sha256, sizeof it->sha256, "%s", s->sha256 ? s->sha256 : "");
        p->bytes += s->size;
        if (!(meta = sample_json(s, file))) {
            rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
            break;
        }
        rc = plan_text(lib, p, shelf__asprintf("data/catalog/%lld.json", (long long)s->id),
                       shelf__json_dumps(meta, JSON_INDENT(1) | JSON_SORT_KEYS | JSON_ENSURE_ASCII));
        json_decref(meta);
        shelf_cursor_free(cur);
        cur = NULL;
    }
    shelf_cursor_free(cur);
    for (i = 0; i < g->patches.n && rc == SHELF_OK; i++) {
        char *json = NULL;

        if ((rc = shelf_doc_export(lib, SHELF_DOC_PATCH, g->patches.v[i], &json)) == SHELF_OK)
            rc = plan_text(lib, p, shelf__asprintf("data/patches/%lld.json", (long long)g->patches.v[i]), json);
    }
    for (i = 0; i < g->projects.n && rc == SHELF_OK; i++) {
        char *json = NULL;

        if ((rc = shelf_doc_export(lib, SHELF_DOC_PROJECT, g->projects.v[i], &json)) == SHELF_OK)
            rc = plan_text(lib, p, shelf__asprintf("data/projects/%lld.json", (long long)g->projects.v[i]), json);
    }
    /* The members shelf writes itself (catalog and document JSON, bagit.txt,
     * the manifests) carry the newest sample's time, not the time of the
     * export: the same library makes the same bytes, so an interrupted
     * upload of a new export resumes (S3 multipart parts match). */
    p->stamp = 0;
    for (i = 0; i < p->n; i++)
        if (p->it[i].src && p->it[i].mtime > p->stamp)
            p->stamp = p->it[i].mtime;
    if (p->stamp == 0)
        p->stamp = shelf__now();
    for (i = 0; i < p->n; i++)
        if (!p->it[i].src)
            p->it[i].mtime = p->stamp;
    return rc;
}

/* export-all's members (export_all.c) into the plan */
typedef struct extra_ctx {
    shelf_library *lib;
    plan *p;
} extra_ctx;

static int extra_text(void *ud, char *name, char *text)
{
    extra_ctx *x = ud;

    return plan_text(x->lib, x->p, name, text);
}

static int extra_file(void *ud, char *name, const char *src)
{
    extra_ctx *x = ud;
    struct stat sb;
    item *it;

    if (!name || !(it = plan_add(x->p))) {
        free(name);
        return shelf__seterr(&x->lib->err, SHELF_ENOMEM, "out of memory");
    }
    it->name = name;
    if (!(it->src = shelf__strdup(src)))
        return shelf__seterr(&x->lib->err, SHELF_ENOMEM, "out of memory");
    if (stat(src, &sb) != 0)
        return shelf__seterr_errno(&x->lib->err, errno, "cannot read '%s'", src);
    it->size = (uint64_t)sb.st_size;
    it->mtime = 0;              /* the plan's stamp, as for text members */
    x->p->bytes += it->size;
    return SHELF_OK;
}

/* ---- writing --------------------------------------------------------------- */

typedef struct writer {
    shelf_library *lib;
    const char *path;           /* the archive being written (messages) */
    int fd;
    uint64_t written;
    shelf__par2_enc *par2;
    shelf__err perr;
    int rc;                     /* our error behind a libarchive failure */
    int abandon;                /* 1: closing an archive that failed; drop output */
    int64_t stamp;              /* plan.stamp: the time of the members shelf writes */
} writer;

static la_ssize_t on_write(struct archive *a, void *ud, const void *buf, size_t n)
{
    writer *w = ud;
    int e;

    if (w->abandon)
        return (la_ssize_t)n;
    if ((e = shelf__write_all(w->fd, buf, n)) != 0) {
        w->rc = shelf__seterr_errno(&w->lib->err, e, "cannot write '%s'", w->path);
        archive_set_error(a, e, "write failed");
        return -1;
    }
    if (w->par2 && shelf__par2_enc_update(w->par2, buf, n, &w->perr) != SHELF_OK) {
        w->rc = shelf__seterr(&w->lib->err, w->perr.rc, "parity: %s", w->perr.msg);
        archive_set_error(a, EINVAL, "parity failed");
        return -1;
    }
    w->written += n;
    return (la_ssize_t)n;
}

static int arerr(writer *w, struct archive *a, const char *what)
{
    if (w->rc)
        return w->rc;
    return shelf__seterr(&w->lib->err, SHELF_EIO, "%s: %s", what,
                         archive_error_string(a) ? archive_error_string(a) : "libarchive failed");
}

static int put_header(writer *w, struct archive *a, const char *base, const char *name,
                      uint64_t size, int64_t mtime)
{
    struct archive_entry *e = archive_entry_new();
    char *full = shelf__asprintf("%s/%s", base, name);
    int rc = SHELF_OK;

    if (!e || !full) {
        rc = shelf__seterr(&w->lib->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    archive_entry_set_pathname_utf8(e, full);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, (la_int64_t)size);
    archive_entry_set_mtime(e, (time_t)mtime, 0);
    if (archive_write_header(a, e) < ARCHIVE_WARN)
        rc = arerr(w, a, full);
out:
    archive_entry_free(e);
    free(full);
    return rc;
}

static int put_data(writer *w, struct archive *a, const void *p, size_t n, const char *name)
{
    const uint8_t *b = p;

    while (n > 0) {
        la_ssize_t k = archive_write_data(a, b, n);

        if (k <= 0)
            return arerr(w, a, name);
        b += k;
        n -= (size_t)k;
    }
    return SHELF_OK;
}

/* A generated file: hashed, written whole. */
static int put_text(writer *w, struct archive *a, const char *base, item *it)
{
    shelf__hash2 *h = shelf__hash2_new();
    int rc;

    if (!h)
        return shelf__seterr(&w->lib->err, SHELF_ENOMEM, "out of memory");
    shelf__hash2_update(h, it->text, it->textlen);
    shelf__hash2_final(h, it->h256, it->h512);
    shelf__hash2_free(h);
    if ((rc = put_header(w, a, base, it->name, it->textlen, it->mtime)) != SHELF_OK)
        return rc;
    return put_data(w, a, it->text, it->textlen, it->name);
}

typedef struct prog {
    shelf_archive_progress_cb cb;
    void *ud;
    shelf_archive_progress p;
    double last;
} prog;

static int tick(prog *pg, int force)
{
    double t;

    if (!pg->cb)
        return 0;
    t = shelf__monotonic();
    if (!force && t - pg->last < 0.1)
        return 0;
    pg->last = t;
    pg->p.size = sizeof pg->p;
    return pg->cb(pg->ud, &pg->p);
}

/* A sample file: read once; the bytes go to both hashes and the archive. */
static int put_file(writer *w, struct archive *a, const char *base, item *it, uint8_t *buf, prog *pg)
{
    shelf__hash2 *h = NULL;
    struct stat sb;
    uint64_t got = 0;
    char hex[SHELF_HASH_HEX];
    int fd, rc = SHELF_OK;

    if ((fd = open(it->src, O_RDONLY | O_CLOEXEC)) < 0)
        return shelf__seterr_errno(&w->lib->err, errno, "cannot read sample '%s'", it->src);
    if (fstat(fd, &sb) != 0) {
        rc = shelf__seterr_errno(&w->lib->err, errno, "cannot read sample '%s'", it->src);
        goto out;
    }
    if ((uint64_t)sb.st_size != it->size) {
        rc = shelf__seterr(&w->lib->err, SHELF_ECORRUPT,
                           "sample '%s' changed since it was catalogued (run 'shelf import' on it)", it->src);
        goto out;
    }
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    if (!(h = shelf__hash2_new())) {
        rc = shelf__seterr(&w->lib->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = put_header(w, a, base, it->name, it->size, it->mtime)) != SHELF_OK)
        goto out;
    pg->p.current = it->name;
    while (got < it->size) {
        size_t want = it->size - got < CHUNK ? (size_t)(it->size - got) : CHUNK;
        ssize_t n = read(fd, buf, want);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = shelf__seterr_errno(&w->lib->err, errno, "cannot read sample '%s'", it->src);
            goto out;
        }
        if (n == 0) {
            rc = shelf__seterr(&w->lib->err, SHELF_ECORRUPT, "sample '%s' shrank while it was read", it->src);
            goto out;
        }
        shelf__hash2_update(h, buf, (size_t)n);
        if ((rc = put_data(w, a, buf, (size_t)n, it->name)) != SHELF_OK)
            goto out;
        got += (uint64_t)n;
        pg->p.bytes_done += (uint64_t)n;
        if (tick(pg, 0)) {
            rc = shelf__seterr(&w->lib->err, SHELF_ECANCELED, "canceled");
            goto out;
        }
    }
    shelf__hash2_final(h, it->h256, it->h512);
    shelf__hex(it->h256, SHELF_HASH_BYTES, hex);
    if (it->sha256[0] && strcmp(hex, it->sha256) != 0)
        rc = shelf__seterr(&w->lib->err, SHELF_ECORRUPT,
                           "sample '%s' changed since it was catalogued (run 'shelf import' on it)", it->src);
out:
    shelf__hash2_free(h);
    close(fd);
    return rc;
}

/* A tag file made at the end: its bytes and its hashes for the tag manifests. */
static int put_tag(writer *w, struct archive *a, const char *base, const char *name, shelf__buf *text,
                   shelf__buf *tm256, shelf__buf *tm512)
{
    shelf__hash2 *h = shelf__hash2_new();
    uint8_t h256[SHELF_HASH_BYTES], h512[SHELF__SHA512_BYTES];
    int rc;

    if (!h)
        return shelf__seterr(&w->lib->err, SHELF_ENOMEM, "out of memory");
    shelf__hash2_update(h, text->buf ? text->buf : "", text->len);
    shelf__hash2_final(h, h256, h512);
    shelf__hash2_free(h);
    if ((tm256 && shelf__bag_manifest_line(tm256, h256, sizeof h256, name) != SHELF_OK) ||
        (tm512 && shelf__bag_manifest_line(tm512, h512, sizeof h512, name) != SHELF_OK))
        return shelf__seterr(&w->lib->err, SHELF_ENOMEM, "out of memory");
    if ((rc = put_header(w, a, base, name, text->len, w->stamp)) != SHELF_OK)
        return rc;
    return put_data(w, a, text->buf ? text->buf : "", text->len, name);
}

static int format_of(const char *out, int format)
{
    size_t n = strlen(out);

    if (format)
        return format;
    if (n > 8 && !strcasecmp(out + n - 8, ".tar.zst"))
        return SHELF_ARCHIVE_TAR_ZSTD;
    if (n > 5 && !strcasecmp(out + n - 5, ".tzst"))
        return SHELF_ARCHIVE_TAR_ZSTD;
    if (n > 4 && !strcasecmp(out + n - 4, ".zip"))
        return SHELF_ARCHIVE_ZIP;
    if (n > 4 && !strcasecmp(out + n - 4, ".tar"))
        return SHELF_ARCHIVE_TAR;
    return 0;
}

/* The bag's folder name: the archive's file name without its extensions. */
static char *bag_base(const char *out)
{
    const char *slash = strrchr(out, '/'), *name = slash ? slash + 1 : out;
    char *b = shelf__strdup(name), *dot, *r;

    if (!b)
        return NULL;
    while ((dot = strrchr(b, '.')) != NULL && dot != b &&
           (!strcasecmp(dot, ".tar") || !strcasecmp(dot, ".zst") || !strcasecmp(dot, ".tzst") ||
            !strcasecmp(dot, ".zip")))
        *dot = '\0';
    r = safe_component(b, "bag");
    free(b);
    return r;
}

/* Remove OUT.par2 and OUT.vol*.par2 of an earlier export to the same name. */
static void remove_old_parity(const char *out)
{
    char *dir = shelf__strdup(out), *slash, *prefix = NULL;
    const char *name;
    struct dirent *de;
    DIR *d = NULL;
    size_t pl;

    if (!dir)
        return;
    slash = strrchr(dir, '/');
    name = slash ? slash + 1 : dir;
    if (!(prefix = shelf__strdup(name)))
        goto out;
    if (slash)
        *slash = '\0';
    if (!(d = opendir(slash ? (*dir ? dir : "/") : ".")))
        goto out;
    pl = strlen(prefix);
    while ((de = readdir(d)) != NULL) {
        const char *rest = de->d_name + pl;
        size_t n = strlen(de->d_name);

        if (strncmp(de->d_name, prefix, pl) != 0 || n < pl + 5 || strcmp(de->d_name + n - 5, ".par2") != 0)
            continue;
        if (!strcmp(rest, ".par2") || !strncmp(rest, ".vol", 4))
            unlinkat(dirfd(d), de->d_name, 0);
    }
out:
    if (d)
        closedir(d);
    free(prefix);
    free(dir);
}

static void bytes_text(uint64_t n, char *buf, size_t size)
{
    if (n >= 1000000000ull)
        snprintf(buf, size, "%.1f GB", (double)n / 1e9);
    else if (n >= 1000000ull)
        snprintf(buf, size, "%.1f MB", (double)n / 1e6);
    else if (n >= 1000ull)
        snprintf(buf, size, "%.1f KB", (double)n / 1e3);
    else
        snprintf(buf, size, "%llu bytes", (unsigned long long)n);
}

/* A libarchive writer of format fmt writing through w (on_write). */
static int writer_open(writer *w, int fmt, struct archive **ap)
{
    struct archive *a;

    if (!(*ap = a = archive_write_new()))
        return shelf__seterr(&w->lib->err, SHELF_ENOMEM, "out of memory");
    if (fmt == SHELF_ARCHIVE_ZIP) {
        if (archive_write_set_format_zip(a) != ARCHIVE_OK ||
            archive_write_set_options(a, "zip:compression=store,zip:zip64,zip:hdrcharset=UTF-8") < ARCHIVE_WARN)
            return arerr(w, a, "zip writer");
    } else {
        if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK)
            return arerr(w, a, "tar writer");
        if (fmt == SHELF_ARCHIVE_TAR_ZSTD &&
            (archive_write_add_filter_zstd(a) != ARCHIVE_OK ||
             archive_write_set_filter_option(a, "zstd", "compression-level", "3") < ARCHIVE_WARN))
            return arerr(w, a, "zstd filter");
    }
    archive_write_set_bytes_in_last_block(a, 1);
    if (archive_write_open2(a, w, NULL, on_write, NULL, NULL) != ARCHIVE_OK)
        return arerr(w, a, "cannot start the archive");
    return SHELF_OK;
}

/* Every item of the plan, each hash added to the manifests m256 and m512. */
static int put_payload(writer *w, struct archive *a, const char *base, plan *p, uint8_t *buf, prog *pg,
                       shelf__buf *m256, shelf__buf *m512)
{
    size_t i;
    int rc;

    for (i = 0; i < p->n; i++) {
        item *it = &p->it[i];

        rc = it->src ? put_file(w, a, base, it, buf, pg) : put_text(w, a, base, it);
        if (rc != SHELF_OK)
            return rc;
        if (!it->src)
            pg->p.bytes_done += it->size;
        pg->p.files_done++;
        if (shelf__bag_manifest_line(m256, it->h256, sizeof it->h256, it->name) != SHELF_OK ||
            shelf__bag_manifest_line(m512, it->h512, sizeof it->h512, it->name) != SHELF_OK)
            return shelf__seterr(&w->lib->err, SHELF_ENOMEM, "out of memory");
        if (tick(pg, 0))
            return shelf__seterr(&w->lib->err, SHELF_ECANCELED, "canceled");
    }
    return SHELF_OK;
}

/* bag-info.txt: what only the end of the export knows.  SHELF_OK or
 * SHELF_ENOMEM. */
static int bag_info(shelf__buf *info, const char *library_id, const gather *g, const plan *p)
{
    char host[256], date[32], size_txt[32];
    time_t now = time(NULL);
    struct tm tmv;

    gmtime_r(&now, &tmv);
    strftime(date, sizeof date, "%Y-%m-%d", &tmv);
    memset(host, 0, sizeof host);
    if (gethostname(host, sizeof host - 1) != 0)
        snprintf(host, sizeof host, "unknown");
    bytes_text(p->bytes, size_txt, sizeof size_txt);
    if (shelf__buf_addf(info, "Source-Organization: shelf library %s\n", library_id) ||
        shelf__buf_addf(info, "Bagging-Date: %s\n", date) ||
        shelf__buf_addf(info, "Bag-Software-Agent: shelf %s\n", shelf_version()) ||
        shelf__buf_addf(info, "Payload-Oxum: %llu.%zu\n", (unsigned long long)p->bytes, p->n) ||
        shelf__buf_addf(info, "Bag-Size: %s\n", size_txt) ||
        shelf__buf_addf(info, "External-Description: %zu samples, %zu patches, %zu projects from a "
                              "shelf library, with their catalog metadata and version histories\n",
                        g->samples.n, g->patches.n, g->projects.n) ||
        shelf__buf_addf(info, "Shelf-Archive-Format: 1\n") ||
        shelf__buf_addf(info, "Shelf-Library-Id: %s\n", library_id) ||
        shelf__buf_addf(info, "Shelf-Device: %s\n", host))
        return SHELF_ENOMEM;
    return SHELF_OK;
}

/*
 * The written archive tmp (w->fd still open) becomes out: synced, its
 * parity written beside out, then renamed.  w->fd is closed.  On failure
 * tmp is left for the caller to remove.
 */
static int writer_commit(writer *w, const char *tmp, const char *out, const char *dir, int sync,
                         shelf_archive_export_stats *st)
{
    shelf_library *lib = w->lib;
    int rc, e;

    if (sync && fsync(w->fd) != 0)
        return shelf__seterr_errno(&lib->err, errno, "cannot write '%s'", tmp);
    rc = close(w->fd);
    w->fd = -1;
    if (rc != 0)
        return shelf__seterr_errno(&lib->err, errno, "cannot write '%s'", tmp);
    /* Parity of an earlier archive of this name would not match this one.
     * The new parity is written before the archive is renamed into place:
     * when it does not fit, what was written goes again (the archive still
     * under its temporary name, the parity files) and nothing is left
     * half done. */
    remove_old_parity(out);
    if (w->par2) {
        if ((rc = shelf__par2_enc_finish(w->par2, out, &w->perr)) != SHELF_OK) {
            rc = shelf__seterr(&lib->err, rc, "parity: %s; the archive and its parity files were removed",
                               w->perr.msg);
            remove_old_parity(out);
            return rc;
        }
        if (st) {
            st->parity_slices = shelf__par2_enc_nrecovery(w->par2);
            st->slice_size = shelf__par2_enc_slice_size(w->par2);
        }
    }
    if (rename(tmp, out) != 0) {
        rc = shelf__seterr_errno(&lib->err, errno, "cannot rename '%s' to '%s'", tmp, out);
        remove_old_parity(out);
        return rc;
    }
    /* Renamed: from here the archive is in place; a folder that cannot be
     * synced is reported, but the archive stays. */
    if (sync && (e = shelf__fsync_dir(dir)) != 0)
        return shelf__seterr_errno(&lib->err, e, "cannot sync the folder '%s'", dir);
    return SHELF_OK;
}

/*
 * A temporary file beside out (".NAME.tmp-XXXXXX", mode 0644) open in
 * w->fd; *dirp: out's folder ("" for the current one), *tmpp: the file's
 * name (NULL when it was not created).  Both owned by the caller.
 */
static int writer_temp(writer *w, const char *out, const char *name, char **dirp, char **tmpp)
{
    shelf_library *lib = w->lib;
    char *dir, *slash;

    if (!(*dirp = dir = shelf__strdup(out)))
        return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    if ((slash = strrchr(dir, '/')) != NULL)
        slash[slash == dir ? 1 : 0] = '\0';
    else
        dir[0] = '\0';
    if (!(*tmpp = shelf__asprintf("%s%s.%s.tmp-XXXXXX", dir, *dir ? "/" : "", name)))
        return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    if ((w->fd = mkstemp(*tmpp)) < 0) {
        int rc = shelf__seterr_errno(&lib->err, errno, "cannot create '%s'", *tmpp);

        free(*tmpp);
        *tmpp = NULL;
        return rc;
    }
    if (fchmod(w->fd, 0644) != 0)
        return shelf__seterr_errno(&lib->err, errno, "cannot set the mode of '%s'", *tmpp);
    return SHELF_OK;
}

/*
 * The bag inside the open archive a: bagit.txt first, so a reader knows what
 * it holds, then the payload, then what only the end knows (bag-info.txt,
 * the manifests and the tag manifests).
 */
static int put_bag(shelf_library *lib, writer *w, struct archive *a, const char *base, const gather *g,
                   plan *p, uint8_t *buf, prog *pg, const shelf_signer *signer)
{
    shelf__buf sig = SHELF__BUF_INIT;
    shelf__buf info = SHELF__BUF_INIT, m256 = SHELF__BUF_INIT, m512 = SHELF__BUF_INIT;
    shelf__buf tm256 = SHELF__BUF_INIT, tm512 = SHELF__BUF_INIT, bagit = SHELF__BUF_INIT;
    int rc;

    if (shelf__buf_adds(&bagit, "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n") != SHELF_OK) {
        rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = put_tag(w, a, base, "bagit.txt", &bagit, &tm256, &tm512)) != SHELF_OK ||
        (rc = put_payload(w, a, base, p, buf, pg, &m256, &m512)) != SHELF_OK)
        goto out;
    if (bag_info(&info, lib->library_id, g, p) != SHELF_OK) {
        rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = put_tag(w, a, base, "bag-info.txt", &info, &tm256, &tm512)) == SHELF_OK &&
        (rc = put_tag(w, a, base, "manifest-sha256.txt", &m256, &tm256, &tm512)) == SHELF_OK &&
        (rc = put_tag(w, a, base, "manifest-sha512.txt", &m512, &tm256, &tm512)) == SHELF_OK &&
        (rc = put_tag(w, a, base, "tagmanifest-sha256.txt", &tm256, NULL, NULL)) == SHELF_OK)
        rc = put_tag(w, a, base, "tagmanifest-sha512.txt", &tm512, NULL, NULL);
    /* The signature comes last and is in no manifest: it signs the tag
     * manifest, which covers the rest (doc/formats.md, "Archive signature"). */
    if (rc == SHELF_OK && signer &&
        (rc = shelf__sig_make(&lib->err, signer, "tagmanifest-sha256.txt", tm256.buf ? tm256.buf : "",
                              tm256.len, &sig)) == SHELF_OK)
        rc = put_tag(w, a, base, SHELF__SIG_FILE, &sig, NULL, NULL);
out:
    shelf__buf_release(&sig);
    shelf__buf_release(&info);
    shelf__buf_release(&m256);
    shelf__buf_release(&m512);
    shelf__buf_release(&tm256);
    shelf__buf_release(&tm512);
    shelf__buf_release(&bagit);
    return rc;
}

/* The PAR2 encoder of w, when o asks for parity, sized for plan p. */
static int parity_start(shelf_library *lib, writer *w, const char *name, const plan *p,
                        const shelf_archive_export_opts *o)
{
    shelf__par2_params pr;
    /* Headers: about 1.5 KiB per file in a pax tar. */
    uint64_t expect = p->bytes + (uint64_t)p->n * 1536 + 65536;
    int rc;

    if (!(o->parity > 0))
        return SHELF_OK;
    memset(&pr, 0, sizeof pr);
    pr.redundancy = o->parity;
    pr.sync = o->sync;
    if ((rc = shelf__par2_enc_new(name, expect, &pr, &w->par2, &w->perr)) != SHELF_OK)
        return shelf__seterr(&lib->err, rc, "parity: %s", w->perr.msg);
    return SHELF_OK;
}

static int archive_export(shelf_library *lib, const char *out, const shelf_archive_export_opts *o,
                          shelf_archive_export_stats *st)
{
    shelf_archive_export_opts oc;
    shelf__export_sink sink;
    char *copy = NULL;
    gather g;
    plan p;
    writer w;
    prog pg;
    struct archive *a = NULL;
    char *base = NULL, *tmp = NULL, *dir = NULL;
    const char *name;
    uint8_t *buf = NULL;
    double t0 = shelf__monotonic();
    int fmt, rc = SHELF_OK, opened = 0;
    locale_t old_ctype;

    memset(&g, 0, sizeof g);
    memset(&p, 0, sizeof p);
    memset(&w, 0, sizeof w);
    memset(&sink, 0, sizeof sink);
    memset(&pg, 0, sizeof pg);
    w.lib = lib;
    w.path = out;
    w.fd = -1;
    if (st)
        memset(st, 0, sizeof *st);
    if (!o || !out || !*out)
        return shelf__seterr(&lib->err, SHELF_EINVAL, "archive export: no options or no output name");
    /* allow_missing and on_missing came after the first version. */
    if (shelf__opts_check(&lib->err, &oc, sizeof oc, o, offsetof(shelf_archive_export_opts, allow_missing),
                          "shelf_archive_export_opts") != SHELF_OK)
        return lib->err.rc;
    o = &oc;
    if (!(fmt = format_of(out, o->format)) || fmt > SHELF_ARCHIVE_ZIP)
        return shelf__seterr(&lib->err, SHELF_EINVAL,
                             "cannot tell the format of '%s': name it .tar, .tar.zst or .zip", out);
    if (o->parity < 0 || o->parity > 100)
        return shelf__seterr(&lib->err, SHELF_EINVAL, "parity must be 0 to 100%%, not %g", o->parity);
    /* export-all makes a new file: one already there is refused */
    if (o->everything && access(out, F_OK) == 0)
        return shelf__seterr(&lib->err, SHELF_EEXIST, "cannot export everything to '%s': it "
                             "exists (export-all never replaces a file)", out);
    old_ctype = shelf__utf8_ctype_enter();
    if (o->everything)
        oc.all = 1;
    g.o = o;
    if ((rc = gather_ids(lib, o, &g)) != SHELF_OK || (rc = plan_build(lib, &g, &p)) != SHELF_OK)
        goto out;
    if (o->everything) {
        extra_ctx x = { lib, &p };
        size_t i;

        sink.text = extra_text;
        sink.file = extra_file;
        sink.ud = &x;
        if ((rc = shelf__export_all(lib, &sink, &copy)) != SHELF_OK)
            goto out;
        for (i = 0; i < p.n; i++)
            if (!p.it[i].mtime)
                p.it[i].mtime = p.stamp;
    }
    if (g.nmissing && !o->allow_missing) {
        rc = shelf__seterr(&lib->err, SHELF_ENOTFOUND, "cannot export '%s': %zu referenced sample%s missing: %s%s;"
                           " nothing written (--allow-missing leaves them out)", out, g.nmissing,
                           g.nmissing == 1 ? " is" : "s are", g.first_missing, g.nmissing > 1 ? " ..." : "");
        goto out;
    }
    name = strrchr(out, '/') ? strrchr(out, '/') + 1 : out;
    if (!(base = bag_base(out)) || !(buf = shelf__malloc(CHUNK))) {
        rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    w.stamp = p.stamp;
    if ((rc = writer_temp(&w, out, name, &dir, &tmp)) != SHELF_OK ||
        (rc = parity_start(lib, &w, name, &p, o)) != SHELF_OK || (rc = writer_open(&w, fmt, &a)) != SHELF_OK)
        goto out;
    opened = 1;

    pg.cb = o->progress;
    pg.ud = o->ud;
    pg.p.files_total = p.n;
    pg.p.bytes_total = p.bytes;
    if (tick(&pg, 1)) {
        rc = shelf__seterr(&lib->err, SHELF_ECANCELED, "canceled");
        goto out;
    }
    if ((rc = put_bag(lib, &w, a, base, &g, &p, buf, &pg, o->signer)) != SHELF_OK)
        goto out;
    opened = 0;
    if (archive_write_close(a) != ARCHIVE_OK) {
        rc = arerr(&w, a, "cannot finish the archive");
        goto out;
    }
    if ((rc = writer_commit(&w, tmp, out, *dir ? dir : ".", o->sync, st)) != SHELF_OK)
        goto out;
    free(tmp);
    tmp = NULL;
    pg.p.current = NULL;
    tick(&pg, 1);
    if (st) {
        st->samples = g.samples.n - g.left_out;
        st->patches = g.patches.n;
        st->projects = g.projects.n;
        st->files = p.n;
        st->payload_bytes = p.bytes;
        st->archive_bytes = w.written;
        st->seconds = shelf__monotonic() - t0;
        st->tables = sink.tables;
    }
out:
    if (copy) {
        unlink(copy);
        free(copy);
    }
    if (a) {
        if (opened) {
            /* Abandon: close the writer with its output dropped (the file
             * is removed below).  Not archive_write_fail: after it, free
             * does not release the writer's block buffer (libarchive 3.7). */
            w.abandon = 1;
            (void)archive_write_close(a);
        }
        archive_write_free(a);
    }
    if (w.fd >= 0)
        close(w.fd);
    if (tmp) {
        unlink(tmp);
        free(tmp);
    }
    shelf__par2_enc_free(w.par2);
    plan_release(&p);
    free(g.samples.v);
    free(g.patches.v);
    free(g.projects.v);
    free(base);
    free(dir);
    free(buf);
    shelf__utf8_ctype_leave(old_ctype);
    return rc;
}

int shelf_archive_export(shelf_library *lib, const char *out, const shelf_archive_export_opts *o,
                         shelf_archive_export_stats *st)
{
    shelf_archive_export_stats full = { .size = sizeof full };
    int rc = archive_export(lib, out, o, &full);

    /* the export is written: a record that cannot be is no failure of it */
    if (rc == SHELF_OK)
        (void)shelf__audit_export(lib, o && o->size >= offsetof(shelf_archive_export_opts, everything) + sizeof(int) &&
                                       o->everything ? "export-all" : "archive", out);
    shelf__out_fill(st, &full, sizeof full);
    return rc;
}

/* ---- verify ------------------------------------------------------------------ */

typedef struct vprog {
    shelf_archive_progress_cb cb;
    void *ud;
    uint64_t total;
} vprog;

static int on_read_progress(void *ud, uint64_t files, uint64_t bytes, const char *cur)
{
    vprog *v = ud;
    shelf_archive_progress p;

    memset(&p, 0, sizeof p);
    p.size = sizeof p;
    p.files_done = files;
    p.bytes_done = bytes;
    p.bytes_total = v->total;
    p.current = cur;
    return v->cb ? v->cb(v->ud, &p) : 0;
}

/* Verify the set of par2 with the archive at path as its data file. */
static int parity_verify(const char *par2, const char *path, shelf__par2_report *rep, shelf__err *err)
{
    shelf__par2_params pp;

    memset(&pp, 0, sizeof pp);
    pp.data = path;
    return shelf__par2_verify(par2, &pp, rep, err);
}

/* A volume file of a set (NAME.volA+B.par2), not the one to look a set up by. */
static int is_volume(const char *name)
{
    const char *v = strstr(name, ".vol");
    size_t n;

    if (!v)
        return 0;
    v += 4;
    n = strspn(v, "0123456789");
    if (!n || (v[n] != '+' && v[n] != '-'))
        return 0;
    v += n + 1;
    n = strspn(v, "0123456789");
    return n && !strcmp(v + n, ".par2");
}

int shelf__archive_parity(const char *path, shelf__par2_report *rep, int *found, char **used, shelf__err *err)
{
    const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    char *par2 = shelf__asprintf("%s.par2", path), *dir = NULL, *cand = NULL;
    struct dirent *de;
    DIR *d = NULL;
    int rc = SHELF_OK, match;

    memset(rep, 0, sizeof *rep);
    *found = 0;
    if (used)
        *used = NULL;
    if (!par2)
        return shelf__seterr(err, SHELF_ENOMEM, "out of memory");
    /* PATH.par2 first: its set is this archive's when it describes it by
     * content, by name, or has a slice of it intact (damage at the start). */
    if (access(par2, F_OK) == 0) {
        rc = parity_verify(par2, path, rep, err);
        if ((rc != SHELF_OK && rc != SHELF_ECORRUPT) || rep->by_content ||
            (rep->nfiles == 1 && (!strcmp(rep->files[0].name, name) ||
                                  rep->files[0].nbad < rep->files[0].nslices))) {
            *found = 1;
            goto out;
        }
        shelf__par2_report_release(rep);
        rc = SHELF_OK;
    }
    /* Else any set beside it that describes it by content (a copy or a
     * renamed archive whose .par2 files kept the old name). */
    dir = strrchr(path, '/') ? shelf__strndup(path, (size_t)(strrchr(path, '/') - path) + (name - 1 == path))
                             : shelf__strdup(".");
    if (!dir) {
        rc = shelf__seterr(err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    if (!(d = opendir(dir)))
        goto out;
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        shelf__err ignored = { 0, "" };

        if (n < 6 || strcmp(de->d_name + n - 5, ".par2") != 0 || is_volume(de->d_name))
            continue;
        free(cand);
        if (!(cand = shelf__path_join(dir, de->d_name))) {
            rc = shelf__seterr(err, SHELF_ENOMEM, "out of memory");
            goto out;
        }
        if (strcmp(cand, par2) == 0)
            continue;
        /* A set that cannot be read describes nothing, unless memory ran out. */
        if (shelf__par2_describes(cand, path, &match, &ignored) == SHELF_ENOMEM) {
            rc = shelf__seterr(err, SHELF_ENOMEM, "out of memory");
            goto out;
        }
        if (!match)
            continue;
        *found = 1;
        rc = parity_verify(cand, path, rep, err);
        free(par2);
        par2 = cand;
        cand = NULL;
        goto out;
    }
out:
    if (d)
        closedir(d);
    if (*found && used) {
        *used = par2;
        par2 = NULL;
    }
    free(cand);
    free(dir);
    free(par2);
    return rc;
}

int shelf_archive_verify(const char *path, const shelf_archive_limits *limits,
                         shelf_archive_problem_cb cb, shelf_archive_progress_cb progress,
                         void *ud, shelf_archive_verify_stats *stats, char **errmsg)
{
    shelf__bag_limits lim;
    shelf__bag bag;
    shelf__par2_report rep;
    shelf__err err = { 0, "" }, perr = { 0, "" };
    shelf_archive_verify_stats local, *st = &local;
    vprog vp = { progress, ud, 0 };
    struct stat sb;
    const char *name;
    int rc, prc, found = 0;
    size_t i;

    memset(st, 0, sizeof *st);
    if (errmsg)
        *errmsg = NULL;
    memset(&bag, 0, sizeof bag);
    memset(&rep, 0, sizeof rep);
    if (!path) {
        rc = shelf__seterr(&err, SHELF_EINVAL, "no archive named");
        goto out;
    }
    name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    if (stat(path, &sb) != 0) {
        rc = shelf__seterr_errno(&err, errno, "cannot open '%s'", path);
        goto out;
    }
    vp.total = (uint64_t)sb.st_size;
    shelf__bag_limits_init(&lim, limits);
    /* Parity first: it reads the archive once and says which parts are bad. */
    prc = shelf__archive_parity(path, &rep, &found, NULL, &perr);
    if (prc == SHELF_ENOMEM) {
        /* Not a verdict on the parity: the archive was not checked. */
        rc = shelf__seterr(&err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    st->parity = found;
    if (found && prc != SHELF_OK && prc != SHELF_ECORRUPT) {
        /* Unusable parity files are a problem to report, not a reason to stop. */
        if (cb)
            cb(ud, SHELF_ARCHIVE_CORRUPT, name, perr.msg);
        st->corrupt++;
        found = 0;
    }
    if (found) {
        st->bad_slices = rep.bad_slices;
        st->recovery_slices = rep.nrecovery;
    }
    rc = shelf__bag_read(path, NULL, 0, &lim, NULL, progress ? on_read_progress : NULL, &vp, &bag, &err);
    if (rc == SHELF_OK)
        rc = shelf__bag_check(&bag, &err);
    if (rc == SHELF_OK || rc == SHELF_ECORRUPT) {
        /* Damage or not, say who signed and whether it still matches. */
        shelf__err serr = { 0, "" };
        int src = shelf__bag_signature(&bag, &st->signature, &serr);

        if (src != SHELF_OK && cb)
            cb(ud, SHELF_ARCHIVE_CORRUPT, SHELF__SIG_FILE, serr.msg);
        if (src != SHELF_OK && (rc == SHELF_OK || src == SHELF_ECORRUPT)) {
            err = serr;
            rc = src;
        }
    }
    for (i = 0; i < bag.nproblems; i++) {
        shelf__bag_problem *p = &bag.problems[i];

        if (cb)
            cb(ud, p->kind, p->path, p->detail);
        if (p->kind == SHELF_ARCHIVE_MISSING)
            st->missing++;
        else if (p->kind == SHELF_ARCHIVE_UNLISTED)
            st->unlisted++;
        else
            st->corrupt++;
    }
    st->files = bag.payload_files;
    st->bytes = bag.payload_bytes;
    if (rc == SHELF_ECORRUPT && st->signature.state != SHELF_SIGNATURE_BAD)
        shelf__seterr(&err, rc, "'%s' is damaged: %zu problem%s%s%s", name, bag.nproblems,
                      bag.nproblems == 1 ? "" : "s", bag.truncated ? "; " : "",
                      bag.truncated ? bag.truncated_msg : "");
    if (found && rep.damaged) {
        char detail[256];

        snprintf(detail, sizeof detail, "parity: %u of %u slices damaged, %u recovery slices: %s",
                 rep.bad_slices, rep.nslices, rep.nrecovery,
                 rep.repairable ? "can be repaired (shelf archive import repairs a copy; par2 repair too)"
                                : "too many to repair");
        if (cb)
            cb(ud, rep.repairable ? SHELF_ARCHIVE_REPAIRABLE : SHELF_ARCHIVE_CORRUPT, name, detail);
        if (rc == SHELF_OK || rc == SHELF_EFORMAT)
            rc = shelf__seterr(&err, SHELF_ECORRUPT, "'%s' is damaged (%s)", name, detail);
    }
out:
    shelf__out_fill(stats, st, sizeof *st);
    if (rc != SHELF_OK && errmsg)
        *errmsg = shelf__strdup(err.msg);
    shelf__par2_report_release(&rep);
    shelf__bag_release(&bag);
    return rc;
}
