/*
 * media_export.c: shelf_media_export, samples copied to a folder (a workstation's
 * card) in balanced alphabetical shard folders, with FAT-safe names on
 * request and an index file that maps names and tags to paths and serves
 * as the manifest of the next run.  The sharding algorithm is described in
 * doc/design.md ("Media export"), the index in doc/formats.md
 * ("export-media index").
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <dirent.h>
#include <unistd.h>
#include "archive_int.h"
#include "../catalog/catalog_int.h"
#include "../patch/formats_int.h"

#define CHUNK ((size_t)1 << 20)
#define INDEX_MAGIC "# shelf export-media index 1\n"
#define STAGING ".shelf-staging"
#define MAX_INDEX ((size_t)1 << 28)
#define FAT_UNITS 200           /* UTF-16 units of a name, room left for the shard and a mount */
#define HEXLEN (2 * SHELF_HASH_BYTES)
#define LABEL_MAX 16            /* bytes of each half of a shard's name */

enum { ACT_WRITE = 0, ACT_KEEP = 1, ACT_MOVE = 2 };

/* A sample as it will be on the card. */
typedef struct ent {
    int64_t id;
    char *base;                 /* its file name, sanitised, before de-duplication */
    char *file;                 /* final file name */
    char *key;                  /* file (or base) folded to lower case, for sorting */
    char *src;                  /* the file to copy */
    char *name, *category, *tags;
    char sha256[HEXLEN + 1];
    uint64_t size;
    size_t shard;
    char *path;                 /* "shard/file" */
    int act;
    size_t from;                /* old entry, for ACT_MOVE */
    int done;                   /* written or moved by this run */
} ent;

/* An entry of the previous run's index. */
typedef struct old_ent {
    char *path;
    char sha256[HEXLEN + 1];
    uint64_t size;
    int64_t id;                 /* the sample it was */
    int claimed;
} old_ent;

typedef struct media {
    shelf_library *lib;
    const shelf_media_export_opts *o;
    ent *e;
    size_t n, cap;
    old_ent *old;
    size_t nold;
    size_t *cuts;               /* k + 1 shard boundaries into e */
    char **dirs;                /* k shard folder names */
    size_t k;
    shelf_archive_progress prog;
} media;

/* ---- names -------------------------------------------------------------------- */

static char *fold(const char *s)
{
    char *r = shelf__strdup(s), *p;

    if (r)
        for (p = r; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
    return r;
}

/* Length of the valid UTF-8 sequence at s, or 0. */
static size_t utf8_len(const unsigned char *s)
{
    size_t n, i;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        n = 2;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        n = 3;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        n = 4;
    else
        return 0;
    for (i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

/* UTF-16 code units of the first n bytes of valid UTF-8. */
static size_t utf16_units(const char *s, size_t n)
{
    size_t u = 0, i;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if ((c & 0xc0) != 0x80)
            u += c >= 0xf0 ? 2 : 1;
    }
    return u;
}

static int is_reserved(const char *name)
{
    static const char *const dev[] = { "con", "prn", "aux", "nul", "clock$", "conin$", "conout$" };
    size_t len = strcspn(name, "."), i;
    char stem[8];

    while (len && name[len - 1] == ' ')
        len--;
    if (len >= sizeof stem)
        return 0;
    for (i = 0; i < len; i++)
        stem[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] - 'A' + 'a' : name[i]);
    stem[len] = 0;
    for (i = 0; i < sizeof dev / sizeof *dev; i++)
        if (!strcmp(stem, dev[i]))
            return 1;
    return len == 4 && (!memcmp(stem, "com", 3) || !memcmp(stem, "lpt", 3)) && stem[3] >= '0' && stem[3] <= '9';
}

static void trim_dots_spaces(char *s)
{
    size_t n = strlen(s);

    while (n && (s[n - 1] == '.' || s[n - 1] == ' '))
        s[--n] = 0;
}

/* The file name a sample gets from its own: characters a folder cannot
 * hold become '_' (with fat, also those FAT refuses, invalid UTF-8 and
 * trailing dots and spaces; reserved DOS device names get a leading '_'). */
static char *sanitize(const char *in, int fat)
{
    size_t n = strlen(in), i, j = 0;
    char *r = shelf__malloc(n + 2);

    if (!r)
        return NULL;
    if (fat && is_reserved(in))
        r[j++] = '_';
    for (i = 0; i < n;) {
        unsigned char c = (unsigned char)in[i];
        size_t l = fat ? utf8_len((const unsigned char *)in + i) : 1;

        if (!l) {
            r[j++] = '_';
            i++;
        } else if (c < 0x20 || c == 0x7f || c == '/' || (fat && strchr("\"*:<>?\\|", c))) {
            r[j++] = '_';
            i++;
        } else {
            memcpy(r + j, in + i, l);
            j += l;
            i += l;
        }
    }
    r[j] = 0;
    if (fat)
        trim_dots_spaces(r);
    if (!r[0] || !strcmp(r, ".") || !strcmp(r, "..")) {
        free(r);
        return shelf__strdup("sample");
    }
    return r;
}

/* base with " (n)" before its extension when n > 1, its stem cut so the
 * name fits 255 bytes (and with fat FAT_UNITS UTF-16 units). */
static char *make_name(const char *base, unsigned n, int fat)
{
    const char *dot = strrchr(base, '.');
    char suffix[16] = "";
    size_t stem, extlen;
    char *r;

    if (!dot || dot == base || strlen(dot) > 16)
        dot = base + strlen(base);
    extlen = strlen(dot);
    stem = (size_t)(dot - base);
    if (n > 1)
        snprintf(suffix, sizeof suffix, " (%u)", n);
    for (;;) {
        size_t bytes = stem + strlen(suffix) + extlen;

        if (bytes <= 255 && (!fat || utf16_units(base, stem) + strlen(suffix) + utf16_units(dot, extlen) <= FAT_UNITS))
            break;
        do
            stem--;
        while (stem && ((unsigned char)base[stem] & 0xc0) == 0x80);
    }
    if (!(r = shelf__asprintf("%.*s%s%s", (int)stem, base, suffix, dot)))
        return NULL;
    if (fat && stem && (base[stem - 1] == ' ' || base[stem - 1] == '.') && !suffix[0]) {
        /* A cut stem must not end the name in a dot or space before its extension. */
        r[stem - 1] = '_';
    }
    return r;
}

/* ---- what goes in ----------------------------------------------------------------- */

static void ent_release(ent *e)
{
    free(e->base);
    free(e->file);
    free(e->key);
    free(e->src);
    free(e->name);
    free(e->category);
    free(e->tags);
    free(e->path);
}

static int add_sample(media *m, const shelf_sample *s)
{
    shelf_library *lib = m->lib;
    const char *slash = strrchr(s->relpath, '/');
    ent *e;

    if (m->n == m->cap) {
        size_t ncap = m->cap ? m->cap * 2 : 256;
        ent *ne = shelf__realloc(m->e, ncap * sizeof *ne);

        if (!ne)
            return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        m->e = ne;
        m->cap = ncap;
    }
    e = &m->e[m->n++];
    memset(e, 0, sizeof *e);
    e->id = s->id;
    e->size = s->size;
    snprintf(e->sha256, sizeof e->sha256, "%s", s->sha256 ? s->sha256 : "");
    e->base = sanitize(slash ? slash + 1 : s->relpath, m->o->fat);
    e->src = s->blob ? shelf__store_path(&lib->store, s->blob) : shelf__sample_abspath(s->root, s->relpath);
    e->name = shelf__strdup(s->name ? s->name : "");
    e->category = shelf__strdup(s->category ? s->category : "");
    e->tags = shelf__strdup(s->tags ? s->tags : "");
    if (!e->base || !e->src || !e->name || !e->category || !e->tags || !(e->key = fold(e->base)))
        return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    return SHELF_OK;
}

static int collect(media *m)
{
    shelf_library *lib = m->lib;
    shelf_cursor *cur = NULL;
    const shelf_sample *row;
    size_t i;
    int rc;

    for (i = 0; i < m->o->nsamples; i++) {
        if ((rc = shelf_catalog_get(lib, m->o->samples[i], &cur, &row)) != SHELF_OK)
            return rc;
        rc = row->missing ? shelf__seterr(&lib->err, SHELF_ENOTFOUND, "sample %lld '%s' is %s",
                                          (long long)row->id, row->name,
                                          row->missing == SHELF_SAMPLE_ARCHIVED ? "archived (shelf project "
                                          "unarchive)" : "missing")
                          : add_sample(m, row);
        shelf_cursor_free(cur);
        if (rc != SHELF_OK)
            return rc;
    }
    if (m->o->nsamples)
        return SHELF_OK;
    if (m->o->query && m->o->query[0]) {
        shelf_search_opts so;

        memset(&so, 0, sizeof so);
        so.size = sizeof so;
        so.limit = -1;
        rc = shelf_search(lib, m->o->query, &so, &cur, NULL, NULL);
    } else {
        rc = shelf_catalog_list(lib, NULL, &cur);
    }
    if (rc != SHELF_OK)
        return rc;
    while ((rc = shelf_cursor_next(cur, &row)) == SHELF_ROW)
        if (!row->missing && (rc = add_sample(m, row)) != SHELF_OK)
            break;
    shelf_cursor_free(cur);
    return rc == SHELF_DONE ? SHELF_OK : rc;
}

static int cmp_ent(const void *a, const void *b)
{
    const ent *x = a, *y = b;
    int c = strcmp(x->key, y->key);

    if (c)
        return c;
    if (x->file && y->file && (c = strcmp(x->file, y->file)))
        return c;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Give every sample a name no other has (without case, with fat). */
static int dedupe(media *m)
{
    shelf__strset used;
    size_t i;
    int rc = SHELF_OK;

    memset(&used, 0, sizeof used);
    used.fold = m->o->fat;
    if (m->n)
        qsort(m->e, m->n, sizeof *m->e, cmp_ent);
    for (i = 0; i < m->n && rc == SHELF_OK; i++) {
        ent *e = &m->e[i];
        unsigned k;

        for (k = 1;; k++) {
            int added;

            free(e->file);
            if (!(e->file = make_name(e->base, k, m->o->fat))) {
                rc = SHELF_ENOMEM;
                break;
            }
            if ((added = shelf__strset_add(&used, e->file, NULL)) < 0) {
                rc = added;
                break;
            }
            if (added)
                break;
        }
        if (rc == SHELF_OK) {
            free(e->key);
            if (!(e->key = fold(e->file)))
                rc = SHELF_ENOMEM;
        }
    }
    shelf__strset_release(&used);
    if (rc != SHELF_OK)
        return shelf__seterr(&m->lib->err, rc, "out of memory");
    if (m->n)
        qsort(m->e, m->n, sizeof *m->e, cmp_ent);
    return SHELF_OK;
}

/* ---- shards ------------------------------------------------------------------------- */

static size_t lcp(const char *a, const char *b)
{
    size_t i = 0;

    while (a[i] && a[i] == b[i])
        i++;
    return i;
}

/* Cut the sorted names into k = ceil(n / max) shards of near-equal size,
 * each cut moved within a small window to where its neighbours share the
 * shortest prefix (between different letters when there is such a place). */
static int cut_shards(media *m, size_t max)
{
    size_t n = m->n, k = (n + max - 1) / max, i, w;

    m->k = k;
    if (!(m->cuts = shelf__calloc(k + 1, sizeof *m->cuts)))
        return shelf__seterr(&m->lib->err, SHELF_ENOMEM, "out of memory");
    if (!k)
        return SHELF_OK;
    w = n / k / 16;
    m->cuts[k] = n;
    for (i = 1; i < k; i++) {
        size_t prev = m->cuts[i - 1];
        size_t ideal = (size_t)(((uint64_t)i * n + k / 2) / k);
        size_t lo = ideal > w ? ideal - w : 0, hi = ideal + w, c, best, bestl = (size_t)-1;

        if (lo < prev + 1)
            lo = prev + 1;
        if (n > max * (k - i) && lo < n - max * (k - i))
            lo = n - max * (k - i);         /* what remains must fit */
        if (hi > prev + max)
            hi = prev + max;
        if (hi > n - (k - i))
            hi = n - (k - i);
        best = ideal < lo ? lo : ideal > hi ? hi : ideal;
        for (c = lo; c <= hi && lo <= hi; c++) {
            size_t l = lcp(m->e[c - 1].key, m->e[c].key);
            size_t d = c > ideal ? c - ideal : ideal - c, bd = best > ideal ? best - ideal : ideal - best;

            if (l < bestl || (l == bestl && d < bd)) {
                bestl = l;
                best = c;
            }
        }
        m->cuts[i] = best;
    }
    return SHELF_OK;
}

/* The first len bytes of key (extended to a whole UTF-8 character, at most
 * LABEL_MAX), upper case, with characters other than letters and digits as '_'. */
static void label(const char *key, size_t len, char *out)
{
    size_t i, n = strlen(key);

    if (len > n)
        len = n;
    while (len < n && ((unsigned char)key[len] & 0xc0) == 0x80)
        len++;
    if (len > LABEL_MAX) {
        len = LABEL_MAX;
        while (len && ((unsigned char)key[len] & 0xc0) == 0x80)
            len--;
    }
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)key[i];

        if (c >= 'a' && c <= 'z')
            out[i] = (char)(c - 'a' + 'A');
        else if ((c >= '0' && c <= '9') || c >= 0x80)
            out[i] = (char)c;
        else
            out[i] = '_';
    }
    out[len] = 0;
}

static int name_shards(media *m)
{
    shelf__strset used;
    size_t j, i;
    int rc = SHELF_OK;

    memset(&used, 0, sizeof used);
    used.fold = 1;
    if (!(m->dirs = shelf__calloc(m->k + 1, sizeof *m->dirs)) ||
        shelf__strset_add(&used, "index", NULL) < 0 || shelf__strset_add(&used, STAGING, NULL) < 0) {
        rc = SHELF_ENOMEM;
        goto out;
    }
    for (j = 0; j < m->k && rc == SHELF_OK; j++) {
        size_t a = m->cuts[j], b = m->cuts[j + 1];
        size_t ls = j ? lcp(m->e[a - 1].key, m->e[a].key) + 1 : 1;
        size_t le = j + 1 < m->k ? lcp(m->e[b - 1].key, m->e[b].key) + 1 : 1;
        char s[LABEL_MAX + 1], e[LABEL_MAX + 1], *d = NULL;
        unsigned t;

        label(m->e[a].key, ls, s);
        label(m->e[b - 1].key, le, e);
        for (t = 1;; t++) {
            int added;

            free(d);
            if (t == 1)
                d = strcmp(s, e) ? shelf__asprintf("%s-%s", s, e) : shelf__strdup(s);
            else
                d = strcmp(s, e) ? shelf__asprintf("%s-%s~%u", s, e, t) : shelf__asprintf("%s~%u", s, t);
            if (!d || (added = shelf__strset_add(&used, d, NULL)) < 0) {
                rc = SHELF_ENOMEM;
                break;
            }
            if (added)
                break;
        }
        m->dirs[j] = d;
        for (i = a; i < b && rc == SHELF_OK; i++) {
            m->e[i].shard = j;
            if (!(m->e[i].path = shelf__asprintf("%s/%s", d, m->e[i].file)))
                rc = SHELF_ENOMEM;
        }
    }
out:
    shelf__strset_release(&used);
    return rc == SHELF_OK ? rc : shelf__seterr(&m->lib->err, rc, "out of memory");
}

/* ---- the index --------------------------------------------------------------------- */

static int put_field(shelf__buf *b, const char *s, char end)
{
    int rc = SHELF_OK;

    for (; *s && rc == SHELF_OK; s++) {
        switch (*s) {
        case '\\': rc = shelf__buf_add(b, "\\\\", 2); break;
        case '\t': rc = shelf__buf_add(b, "\\t", 2); break;
        case '\n': rc = shelf__buf_add(b, "\\n", 2); break;
        case '\r': rc = shelf__buf_add(b, "\\r", 2); break;
        default: rc = shelf__buf_add(b, s, 1); break;
        }
    }
    return rc == SHELF_OK ? shelf__buf_add(b, &end, 1) : rc;
}

/* Decode one field of line (up to the next tab or the end) in place;
 * returns the next field or NULL at the end of the line. */
static char *take_field(char *p, char **field, int *bad)
{
    char *w = p;

    *field = p;
    for (; *p && *p != '\t'; p++) {
        if (*p == '\\') {
            p++;
            switch (*p) {
            case '\\': *w++ = '\\'; break;
            case 't': *w++ = '\t'; break;
            case 'n': *w++ = '\n'; break;
            case 'r': *w++ = '\r'; break;
            default: *bad = 1; return NULL;
            }
        } else {
            *w++ = *p;
        }
    }
    if (*p == '\t') {
        *w = 0;
        return p + 1;
    }
    *w = 0;
    return NULL;
}

/* A path from the index: exactly "folder/file", both safe names. */
static int path_ok(const char *p)
{
    const char *slash = strchr(p, '/');

    return slash && !strchr(slash + 1, '/') && !shelf__bag_name_unsafe(p) && strcmp(p, STAGING) != 0 &&
           strncmp(p, STAGING "/", sizeof STAGING) != 0;
}

/*
 * Parse an index held in b (NUL-terminated, len bytes before the NUL) into
 * m->old.  name is used in messages.  The index comes from a card anyone
 * may have written to: every line is checked (fuzz/fuzz_media.c).
 */
static int parse_index(media *m, char *buf, size_t len, const char *name, shelf__err *err)
{
    char *line, *next;
    size_t lineno = 1, cap = 0;

    if (len < sizeof INDEX_MAGIC - 1 || memcmp(buf, INDEX_MAGIC, sizeof INDEX_MAGIC - 1) != 0 ||
        memchr(buf, 0, len))
        return shelf__seterr(err, SHELF_EFORMAT, "'%s' is not an export-media index", name);
    for (line = buf + sizeof INDEX_MAGIC - 1; *line; line = next, lineno++) {
        char *f[4], *p = line, *end = NULL;
        long long id = 0;
        int bad = 0, i;
        unsigned long long size;
        old_ent *o;

        next = strchr(line, '\n');
        if (!next)
            return shelf__seterr(err, SHELF_EFORMAT, "'%s' line %zu: truncated", name, lineno + 1);
        *next++ = 0;
        if (line[0] == '#')
            continue;
        for (i = 0; i < 4 && p && !bad; i++)
            p = take_field(p, &f[i], &bad);
        errno = 0;
        size = bad || i < 4 || !p ? 0 : strtoull(f[1], &end, 10);
        if (!bad && i == 4 && p && !errno && end != f[1] && !*end)
            id = strtoll(f[3], &end, 10);
        if (bad || i < 4 || !p || errno || end == f[1] || end == f[3] || *end || f[1][0] == '-' ||
            strlen(f[2]) != HEXLEN || !shelf__is_hash_hex(f[2]) || !path_ok(f[0]))
            return shelf__seterr(err, SHELF_EFORMAT, "'%s' line %zu: not an index entry", name,
                                 lineno + 1);
        if (m->nold == cap) {
            size_t ncap = cap ? cap * 2 : 256;
            old_ent *no = shelf__realloc(m->old, ncap * sizeof *no);

            if (!no)
                return shelf__seterr(err, SHELF_ENOMEM, "out of memory");
            m->old = no;
            cap = ncap;
        }
        o = &m->old[m->nold];
        memset(o, 0, sizeof *o);
        if (!(o->path = shelf__strdup(f[0])))
            return shelf__seterr(err, SHELF_ENOMEM, "out of memory");
        m->nold++;
        o->size = size;
        o->id = id;
        memcpy(o->sha256, f[2], HEXLEN + 1);
    }
    return SHELF_OK;
}

static int read_index(media *m, const char *dir)
{
    shelf_library *lib = m->lib;
    char *path = shelf__asprintf("%s/index", dir);
    shelf__buf b = SHELF__BUF_INIT;
    int rc = SHELF_OK, fd = -1;
    char tmp[65536];
    ssize_t r;

    if (!path)
        return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        if (errno != ENOENT)
            rc = shelf__seterr_errno(&lib->err, errno, "cannot open '%s'", path);
        goto out;
    }
    while ((r = read(fd, tmp, sizeof tmp)) != 0) {
        if (r < 0) {
            if (errno == EINTR)
                continue;
            rc = shelf__seterr_errno(&lib->err, errno, "cannot read '%s'", path);
            goto out;
        }
        if (b.len + (size_t)r > MAX_INDEX) {
            rc = shelf__seterr(&lib->err, SHELF_EFORMAT, "'%s' is too large for an export-media index", path);
            goto out;
        }
        if (shelf__buf_add(&b, tmp, (size_t)r) != SHELF_OK) {
            rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
            goto out;
        }
    }
    if (shelf__buf_add(&b, "", 1) != SHELF_OK) {
        rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    rc = parse_index(m, b.buf, b.len - 1, path, &lib->err);
out:
    if (fd >= 0)
        close(fd);
    shelf__buf_release(&b);
    free(path);
    return rc;
}

int shelf__media_index_parse(const void *data, size_t n, size_t *entries, shelf__err *err)
{
    media m;
    char *buf;
    size_t i;
    int rc;

    memset(&m, 0, sizeof m);
    *entries = 0;
    if (n > MAX_INDEX)
        return shelf__seterr(err, SHELF_EFORMAT, "'index' is too large for an export-media index");
    if (!(buf = shelf__malloc(n + 1)))
        return shelf__seterr(err, SHELF_ENOMEM, "out of memory");
    memcpy(buf, data, n);
    buf[n] = '\0';
    rc = parse_index(&m, buf, n, "index", err);
    *entries = m.nold;
    for (i = 0; i < m.nold; i++)
        free(m.old[i].path);
    free(m.old);
    free(buf);
    return rc;
}

int shelf__media_index_load(shelf_library *lib, const char *dir, shelf__media_entry **out, size_t *n)
{
    media m;
    size_t i;
    int rc;

    memset(&m, 0, sizeof m);
    m.lib = lib;
    *out = NULL;
    *n = 0;
    rc = read_index(&m, dir);
    if (rc == SHELF_OK && !m.nold) {
        char *p = shelf__asprintf("%s/index", dir);

        rc = p && access(p, F_OK) != 0 ? shelf__seterr(&lib->err, SHELF_ENOTFOUND, "'%s' holds no export-media "
                                                       "index", dir) : SHELF_OK;
        free(p);
    }
    {
        shelf__media_entry *v = rc == SHELF_OK && m.nold ? shelf__calloc(m.nold, sizeof *v) : NULL;

        if (rc == SHELF_OK && m.nold && !v)
            rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        for (i = 0; i < m.nold; i++) {
            if (v) {
                v[i].path = m.old[i].path;
                memcpy(v[i].sha256, m.old[i].sha256, sizeof v[i].sha256);
                v[i].size = m.old[i].size;
                v[i].id = m.old[i].id;
            } else {
                free(m.old[i].path);
            }
        }
        if (rc == SHELF_OK) {
            *out = v;
            *n = m.nold;
        }
    }
    free(m.old);
    return rc;
}

void shelf__media_entries_free(shelf__media_entry *v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        free(v[i].path);
    free(v);
}

static int file_is(const char *dir, const char *rel, uint64_t size)
{
    char *p = shelf__path_join(dir, rel);
    struct stat sb;
    int ok;

    ok = p && lstat(p, &sb) == 0 && S_ISREG(sb.st_mode) && (uint64_t)sb.st_size == size;
    free(p);
    return ok;
}

static int put_line(shelf__buf *b, const char *path, uint64_t size, const char *sha, int64_t id, const char *name,
                    const char *category, const char *tags)
{
    char num[32];
    int rc = put_field(b, path, '\t');

    snprintf(num, sizeof num, "%llu", (unsigned long long)size);
    if (rc == SHELF_OK)
        rc = put_field(b, num, '\t');
    if (rc == SHELF_OK)
        rc = put_field(b, sha, '\t');
    snprintf(num, sizeof num, "%lld", (long long)id);
    if (rc == SHELF_OK)
        rc = put_field(b, num, '\t');
    if (rc == SHELF_OK) {
        /* The display name as text: the index is UTF-8. */
        char *text = shelf_name_escape(name, 0);

        rc = text ? put_field(b, text, '\t') : SHELF_ENOMEM;
        free(text);
    }
    if (rc == SHELF_OK)
        rc = put_field(b, category, '\t');
    if (rc == SHELF_OK)
        rc = put_field(b, tags, '\n');
    return rc;
}

static const ent *ent_at(const media *m, const char *path)
{
    size_t i;

    for (i = 0; i < m->n; i++)
        if (!strcmp(m->e[i].path, path))
            return &m->e[i];
    return NULL;
}

/* What a run in progress may leave (mode JOURNAL, written before anything
 * on the card changes: the old entries and the new ones, a new file not
 * yet certain with an all-zero SHA-256, so that the next run rewrites it and
 * removes what it no longer wants), or what a failed run did leave (mode
 * LEFT: the files that are there). */
enum { INDEX_FINAL, INDEX_JOURNAL, INDEX_LEFT };

static int index_lines(media *m, const char *dir, int mode, shelf__buf *b)
{
    static const char zero[HEXLEN + 1] = "0000000000000000000000000000000000000000000000000000000000000000";
    size_t i;
    int rc = SHELF_OK;

    for (i = 0; i < m->n && rc == SHELF_OK; i++) {
        const ent *e = &m->e[i];
        int sure = mode == INDEX_FINAL || e->act == ACT_KEEP || e->done;

        if (sure)
            rc = put_line(b, e->path, e->size, e->sha256, e->id, e->name, e->category, e->tags);
        else if (mode == INDEX_JOURNAL)
            rc = put_line(b, e->path, e->size, zero, e->id, e->name, e->category, e->tags);
    }
    for (i = 0; mode != INDEX_FINAL && i < m->nold && rc == SHELF_OK; i++) {
        const old_ent *o = &m->old[i];
        const ent *e = ent_at(m, o->path);

        if (e && (mode == INDEX_JOURNAL || e->act == ACT_KEEP || e->done))
            continue;
        if (mode == INDEX_LEFT && !file_is(dir, o->path, o->size))
            continue;
        rc = put_line(b, o->path, o->size, o->sha256, o->id, "", "", "");
    }
    return rc;
}

static int write_index(media *m, const char *dir, int mode)
{
    shelf_library *lib = m->lib;
    shelf__buf b = SHELF__BUF_INIT;
    char *path = shelf__asprintf("%s/index", dir), *tmp = shelf__asprintf("%s/index.tmp", dir);
    size_t off;
    int rc = SHELF_OK, fd = -1;

    if (!path || !tmp || shelf__buf_adds(&b, INDEX_MAGIC "# path\tsize\tsha256\tid\tname\tcategory\ttags\n")) {
        rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    rc = index_lines(m, dir, mode, &b);
    if (rc != SHELF_OK) {
        rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
        rc = shelf__seterr_errno(&lib->err, errno, "cannot create '%s'", tmp);
        goto out;
    }
    for (off = 0; off < b.len;) {
        ssize_t w = write(fd, b.buf + off, b.len - off);

        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            rc = shelf__seterr_errno(&lib->err, errno, "cannot write '%s'", tmp);
            goto out;
        }
        off += (size_t)w;
    }
    if ((m->o->sync && fsync(fd) != 0) || close(fd) != 0) {
        fd = -1;
        rc = shelf__seterr_errno(&lib->err, errno, "cannot write '%s'", tmp);
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) != 0)
        rc = shelf__seterr_errno(&lib->err, errno, "cannot rename '%s'", tmp);
out:
    if (fd >= 0)
        close(fd);
    if (rc != SHELF_OK && tmp)
        unlink(tmp);
    shelf__buf_release(&b);
    free(path);
    free(tmp);
    return rc;
}

/* ---- the plan: what stays, moves, is written, is removed ----------------------------- */

static int cmp_old_path(const void *a, const void *b)
{
    return strcmp(((const old_ent *)a)->path, ((const old_ent *)b)->path);
}

/* 1 when dir/rel is a regular file of size bytes. */
static void plan(media *m, const char *dir)
{
    size_t i, j;

    if (m->nold)
        qsort(m->old, m->nold, sizeof *m->old, cmp_old_path);
    for (i = 0; i < m->n; i++) {
        ent *e = &m->e[i];
        old_ent key, *o;

        key.path = e->path;
        e->act = ACT_WRITE;
        o = m->nold ? bsearch(&key, m->old, m->nold, sizeof *m->old, cmp_old_path) : NULL;
        if (o && !o->claimed && !strcmp(o->sha256, e->sha256) && o->size == e->size &&
            file_is(dir, o->path, o->size)) {
            o->claimed = 1;
            e->act = ACT_KEEP;
        }
    }
    /* Moves: an old file with the same bytes that nothing keeps.  Linear per
     * sample is fine for the few that changed; a full reshuffle is n * old. */
    for (i = 0; i < m->n; i++) {
        ent *e = &m->e[i];

        if (e->act != ACT_WRITE)
            continue;
        for (j = 0; j < m->nold; j++) {
            old_ent *o = &m->old[j];

            if (!o->claimed && o->size == e->size && !strcmp(o->sha256, e->sha256) &&
                file_is(dir, o->path, o->size)) {
                o->claimed = 1;
                e->act = ACT_MOVE;
                e->from = j;
                break;
            }
        }
    }
    /* What a new file replaces in place is neither moved nor removed. */
    for (i = 0; i < m->n; i++) {
        old_ent key, *o;

        key.path = m->e[i].path;
        if (m->e[i].act == ACT_WRITE && m->nold &&
            (o = bsearch(&key, m->old, m->nold, sizeof *m->old, cmp_old_path)) && !o->claimed)
            o->claimed = 2;
    }
}

/* ---- doing it --------------------------------------------------------------------------- */

static int progress(media *m)
{
    m->prog.size = sizeof m->prog;
    if (m->o->progress && m->o->progress(m->o->ud, &m->prog))
        return shelf__seterr(&m->lib->err, SHELF_ECANCELED, "canceled");
    return SHELF_OK;
}

/* Copy e->src to dir/e->path through a temporary name, preallocated,
 * checking the bytes against the catalog's SHA-256. */
static int copy_one(media *m, const char *dir, ent *e, char *buf, shelf_media_export_stats *st)
{
    shelf_library *lib = m->lib;
    char *tmp = shelf__asprintf("%s/%s/.shelf-%lld.tmp", dir, m->dirs[e->shard], (long long)e->id);
    char *dst = shelf__path_join(dir, e->path);
    shelf__sha256 *h = shelf__sha256_new();
    uint8_t hash[SHELF_HASH_BYTES];
    char hex[HEXLEN + 1];
    int rc = SHELF_OK, in = -1, out = -1, e2;
    uint64_t done = 0;
    struct stat sb;

    if (!tmp || !dst || !h) {
        rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    m->prog.current = e->path;
    if ((in = open(e->src, O_RDONLY | O_CLOEXEC)) < 0 || fstat(in, &sb) != 0) {
        rc = shelf__seterr_errno(&lib->err, errno, "cannot read sample '%s'", e->src);
        goto out;
    }
    if ((uint64_t)sb.st_size != e->size) {
        rc = shelf__seterr(&lib->err, SHELF_ECORRUPT, "sample '%s' changed since it was catalogued", e->src);
        goto out;
    }
    if ((out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
        rc = shelf__seterr_errno(&lib->err, errno, "cannot create '%s'", tmp);
        goto out;
    }
    /* Reserve the whole file first so the filesystem can place it in one
     * run of clusters; filesystems without fallocate just get written. */
    if (e->size && fallocate(out, 0, 0, (off_t)e->size) != 0 && errno != EOPNOTSUPP && errno != ENOSYS) {
        rc = shelf__seterr_errno(&lib->err, errno, "cannot allocate %llu bytes for '%s'",
                                 (unsigned long long)e->size, dst);
        goto out;
    }
    for (;;) {
        ssize_t r = read(in, buf, CHUNK);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = shelf__seterr_errno(&lib->err, errno, "cannot read sample '%s'", e->src);
            goto out;
        }
        if (!r)
            break;
        shelf__sha256_update(h, buf, (size_t)r);
        if ((e2 = shelf__write_all(out, buf, (size_t)r)) != 0) {
            rc = shelf__seterr_errno(&lib->err, e2, "cannot write '%s'", tmp);
            goto out;
        }
        done += (uint64_t)r;
        m->prog.bytes_done += (uint64_t)r;
        if ((rc = progress(m)) != SHELF_OK)
            goto out;
    }
    shelf__sha256_final(h, hash);
    shelf__hex(hash, sizeof hash, hex);
    if (done != e->size || strcmp(hex, e->sha256) != 0) {
        rc = shelf__seterr(&lib->err, SHELF_ECORRUPT,
                           "sample '%s' does not match its checksum (run 'shelf verify')", e->src);
        goto out;
    }
    if (m->o->sync && fsync(out) != 0) {
        rc = shelf__seterr_errno(&lib->err, errno, "cannot write '%s'", tmp);
        goto out;
    }
    if (close(out) != 0) {
        out = -1;
        rc = shelf__seterr_errno(&lib->err, errno, "cannot write '%s'", tmp);
        goto out;
    }
    out = -1;
    if (rename(tmp, dst) != 0) {
        rc = shelf__seterr_errno(&lib->err, errno, "cannot rename '%s'", tmp);
        goto out;
    }
    st->written++;
    st->bytes_written += done;
out:
    if (out >= 0)
        close(out);
    if (in >= 0)
        close(in);
    if (rc != SHELF_OK && tmp)
        unlink(tmp);
    shelf__sha256_free(h);
    free(tmp);
    free(dst);
    return rc;
}

/* Empty and remove dir/STAGING, left over from a run that stopped halfway. */
static void clear_staging(const char *staging)
{
    DIR *d = opendir(staging);
    struct dirent *de;

    if (!d)
        return;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
            char *p = shelf__path_join(staging, de->d_name);

            if (p)
                unlink(p);
            free(p);
        }
    closedir(d);
    rmdir(staging);
}

static int has_id(const media *m, int64_t id)
{
    size_t i;

    for (i = 0; i < m->n; i++)
        if (m->e[i].id == id && m->e[i].act == ACT_WRITE)
            return 1;
    return 0;
}

/*
 * Moves go through the staging folder (*staged is set once it exists): a
 * file may move to where another one is now.  Entry i waits there as
 * STAGING/i.
 */
static int stage_moves(media *m, const char *dir, const char *staging, int *staged)
{
    shelf_library *lib = m->lib;
    char *a = NULL, *b = NULL;
    size_t i;
    int rc = SHELF_OK;

    for (i = 0; i < m->n && rc == SHELF_OK; i++) {
        ent *e = &m->e[i];

        if (e->act != ACT_MOVE)
            continue;
        if (!*staged && mkdir(staging, 0755) != 0 && errno != EEXIST) {
            rc = shelf__seterr_errno(&lib->err, errno, "cannot create '%s'", staging);
            break;
        }
        *staged = 1;
        free(a);
        free(b);
        a = shelf__path_join(dir, m->old[e->from].path);
        b = shelf__asprintf("%s/%zu", staging, i);
        if (!a || !b)
            rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        else if (rename(a, b) != 0)
            rc = shelf__seterr_errno(&lib->err, errno, "cannot move '%s'", a);
    }
    free(a);
    free(b);
    return rc;
}

/* Remove the files of the last run no entry claimed, and make this run's
 * shard folders. */
static int clear_old(media *m, const char *dir, shelf_media_export_stats *st)
{
    shelf_library *lib = m->lib;
    char *a = NULL;
    size_t i;
    int rc = SHELF_OK;

    for (i = 0; i < m->nold && rc == SHELF_OK; i++) {
        if (m->old[i].claimed)
            continue;
        free(a);
        if (!(a = shelf__path_join(dir, m->old[i].path)))
            rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        else if (unlink(a) != 0 && errno != ENOENT)
            rc = shelf__seterr_errno(&lib->err, errno, "cannot remove '%s'", a);
        else if (!has_id(m, m->old[i].id))
            st->removed++;          /* else its sample is written anew elsewhere */
    }
    for (i = 0; i < m->k && rc == SHELF_OK; i++) {
        free(a);
        if (!(a = shelf__path_join(dir, m->dirs[i])))
            rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        else if (mkdir(a, 0755) != 0 && errno != EEXIST)
            rc = shelf__seterr_errno(&lib->err, errno, "cannot create '%s'", a);
    }
    free(a);
    return rc;
}

static int apply(media *m, const char *dir, shelf_media_export_stats *st)
{
    shelf_library *lib = m->lib;
    char *staging = shelf__path_join(dir, STAGING), *buf = NULL, *a = NULL, *b = NULL;
    size_t i;
    int rc = SHELF_OK, staged = 0, journal = 0;

    if (!staging || !(buf = shelf__malloc(CHUNK))) {
        rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    /* First the journal: every file this run may leave is in the index. */
    if ((rc = write_index(m, dir, INDEX_JOURNAL)) != SHELF_OK)
        goto out;
    journal = 1;
    if ((rc = stage_moves(m, dir, staging, &staged)) != SHELF_OK || (rc = clear_old(m, dir, st)) != SHELF_OK)
        goto out;
    for (i = 0; i < m->n; i++) {
        ent *e = &m->e[i];

        if (e->act == ACT_KEEP) {
            st->unchanged++;
        } else if (e->act == ACT_MOVE) {
            free(a);
            free(b);
            a = shelf__asprintf("%s/%zu", staging, i);
            b = shelf__path_join(dir, e->path);
            if (!a || !b) {
                rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
                goto out;
            }
            if (rename(a, b) != 0) {
                rc = shelf__seterr_errno(&lib->err, errno, "cannot move '%s'", b);
                goto out;
            }
            st->moved++;
            e->done = 1;
        } else if ((rc = copy_one(m, dir, e, buf, st)) != SHELF_OK) {
            goto out;
        } else {
            e->done = 1;
        }
        m->prog.files_done++;
        if ((rc = progress(m)) != SHELF_OK)
            goto out;
    }
    m->prog.current = NULL;
    if ((rc = write_index(m, dir, INDEX_FINAL)) != SHELF_OK)
        goto out;
    /* Folders of the last run that hold nothing now. */
    for (i = 0; i < m->nold; i++) {
        const char *slash = strchr(m->old[i].path, '/');

        free(a);
        if (!(a = shelf__asprintf("%s/%.*s", dir, (int)(slash - m->old[i].path), m->old[i].path))) {
            rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
            goto out;
        }
        rmdir(a);                   /* fails, as it should, when not empty */
    }
    if (m->o->sync)
        shelf__fsync_dir(dir);
out:
    if (staged)
        clear_staging(staging);
    if (rc != SHELF_OK && journal) {
        /* Failed halfway: the index says what is there now. */
        char msg[sizeof lib->err.msg];

        snprintf(msg, sizeof msg, "%s", lib->err.msg);
        if (write_index(m, dir, INDEX_LEFT) == SHELF_OK)
            shelf__seterr(&lib->err, rc, "%s", msg);
    }
    free(a);
    free(b);
    free(buf);
    free(staging);
    return rc;
}

/* ---- patches ------------------------------------------------------------------------ */

#define PATCHES "PATCHES"

typedef struct patch_list {
    int64_t *ids;
    char **names;
    size_t n, cap;
} patch_list;

static int on_patch(void *ud, const shelf_docinfo *d)
{
    patch_list *l = ud;

    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        int64_t *ids = shelf__realloc(l->ids, cap * sizeof *ids);
        char **names;

        if (!ids)
            return 1;
        l->ids = ids;
        if (!(names = shelf__realloc(l->names, cap * sizeof *names)))
            return 1;
        l->names = names;
        l->cap = cap;
    }
    if (!(l->names[l->n] = shelf__strdup(d->name)))
        return 1;
    l->ids[l->n++] = d->id;
    return 0;
}

/* The card path ("shard/file") of the sample with this id or hash. */
static const char *card_path(const media *m, int64_t id, const char *sha)
{
    size_t i;

    for (i = 0; i < m->n; i++)
        if (m->e[i].id == id && (!sha || !strcmp(m->e[i].sha256, sha)))
            return m->e[i].path;
    for (i = 0; sha && i < m->n; i++)
        if (!strcmp(m->e[i].sha256, sha))
            return m->e[i].path;
    return NULL;
}

/* Point every zone of doc at its sample on the card: 1, 0 when one is not
 * there, -1 out of memory. */
static int relink(const media *m, json_t *doc)
{
    const char *key, *p;
    json_t *z, *s;
    char *rel;
    int r;

    json_object_foreach(json_object_get(doc, "zones"), key, z) {
        s = json_object_get(z, "sample");
        if (!(p = card_path(m, json_integer_value(json_object_get(s, "id")),
                            json_string_value(json_object_get(s, "sha256")))))
            return 0;
        if (!(rel = shelf__asprintf("../%s", p)))
            return -1;
        /* The file's bytes (not text): the SFZ writer takes them as they are. */
        r = json_object_set_new(s, "path", json_string_nocheck(rel));
        free(rel);
        if (r != 0)
            return -1;
    }
    return 1;
}

static int rm_stale_sfz(const char *pdir, char **keep, size_t nkeep)
{
    DIR *d = opendir(pdir);
    struct dirent *de;
    size_t i;

    if (!d)
        return 0;
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        char *p;

        if (n < 5 || strcmp(de->d_name + n - 4, ".sfz") != 0)
            continue;
        for (i = 0; i < nkeep && strcmp(keep[i], de->d_name) != 0; i++)
            ;
        if (i == nkeep && (p = shelf__path_join(pdir, de->d_name))) {
            unlink(p);
            free(p);
        }
    }
    closedir(d);
    return 0;
}

/*
 * DIR/PATCHES/NAME.sfz for every patch whose samples are all on the card,
 * referring to them as ../SHARD/FILE.  Rewritten whole each run (a few kB
 * each); files of patches no longer written are removed.
 */
static int export_patches(media *m, const char *dir, shelf_media_export_stats *st)
{
    shelf_library *lib = m->lib;
    patch_list l = { NULL, NULL, 0, 0 };
    char **files = NULL, *pdir = NULL, *text = NULL, *out = NULL;
    size_t nfiles = 0, i, k;
    json_t *doc = NULL;
    int rc, e;

    if ((rc = shelf_doc_list(lib, SHELF_DOC_PATCH, on_patch, &l)) != SHELF_OK) {
        if (rc == SHELF_ECANCELED)
            rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    if (!(pdir = shelf__path_join(dir, PATCHES)) ||
        !(files = shelf__calloc(l.n + 1, sizeof *files))) {
        rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    if (l.n && (e = shelf__mkdirs(pdir, 0755)) != 0) {
        rc = shelf__seterr_errno(&lib->err, e, "cannot create '%s'", pdir);
        goto out;
    }
    for (i = 0; i < l.n; i++) {
        char *base, *name;
        unsigned n;
        int r = 0;

        if ((rc = shelf_doc_get(lib, SHELF_DOC_PATCH, l.ids[i], 0, &text)) != SHELF_OK)
            goto out;
        rc = shelf__json_parse(&lib->err, SHELF_ECORRUPT, "patch", text, strlen(text), 0, &doc);
        shelf_free(text);
        text = NULL;
        if (rc != SHELF_OK)
            goto out;
        if (json_object_size(json_object_get(doc, "zones")) && (r = relink(m, doc)) < 0) {
            rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
            goto out;
        }
        if (!json_object_size(json_object_get(doc, "zones")) || r == 0) {
            st->patches_skipped++;
            json_decref(doc);
            doc = NULL;
            continue;
        }
        /* A name for it: sanitised like the samples', unique without case. */
        if (!(base = sanitize(l.names[i], m->o->fat))) {
            rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
            goto out;
        }
        for (n = 1;; n++) {
            char *full = make_name(base, n, m->o->fat);

            if (!full || !(name = shelf__asprintf("%s.sfz", full))) {
                free(full);
                free(base);
                rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
                goto out;
            }
            free(full);
            for (k = 0; k < nfiles && strcasecmp(files[k], name) != 0; k++)
                ;
            if (k == nfiles)
                break;
            free(name);
        }
        free(base);
        files[nfiles++] = name;
        if (!(out = shelf__path_join(pdir, name))) {
            rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
            goto out;
        }
        if ((rc = shelf__patch_export_sfz(doc, out, &lib->err)) != SHELF_OK)
            goto out;
        free(out);
        out = NULL;
        json_decref(doc);
        doc = NULL;
        st->patches++;
    }
    rm_stale_sfz(pdir, files, nfiles);
    rc = SHELF_OK;
out:
    json_decref(doc);
    free(out);
    free(pdir);
    for (i = 0; i < nfiles; i++)
        free(files[i]);
    free(files);
    for (i = 0; i < l.n; i++)
        free(l.names[i]);
    free(l.names);
    free(l.ids);
    return rc;
}

/* The temporary files a killed run left in the folders of the index it
 * left (copies: .shelf-ID.tmp; the index: index.tmp) and in PATCHES (the
 * SFZ writer's .NAME.sfz.tmp-PID-N). */
static void sweep_tmp(const media *m, const char *dir)
{
    char *p = shelf__path_join(dir, "index.tmp"), *pdir = shelf__path_join(dir, PATCHES);
    size_t i, j;
    DIR *pd;

    if (p)
        unlink(p);
    free(p);
    if (pdir && (pd = opendir(pdir)) != NULL) {
        struct dirent *de;

        while ((de = readdir(pd)) != NULL)
            if (de->d_name[0] == '.' && strstr(de->d_name, ".sfz.tmp-") &&
                (p = shelf__path_join(pdir, de->d_name))) {
                unlink(p);
                free(p);
            }
        closedir(pd);
    }
    free(pdir);
    for (i = 0; i < m->nold; i++) {
        const char *slash = strchr(m->old[i].path, '/');
        size_t n = (size_t)(slash - m->old[i].path);
        char *folder;
        struct dirent *de;
        DIR *d;

        for (j = 0; j < i && (strncmp(m->old[j].path, m->old[i].path, n) != 0 || m->old[j].path[n] != '/'); j++)
            ;
        if (j < i || !(folder = shelf__asprintf("%s/%.*s", dir, (int)n, m->old[i].path)))
            continue;
        if ((d = opendir(folder)) != NULL) {
            while ((de = readdir(d)) != NULL) {
                size_t l = strlen(de->d_name);

                if (!strncmp(de->d_name, ".shelf-", 7) && l > 11 && !strcmp(de->d_name + l - 4, ".tmp") &&
                    (p = shelf__path_join(folder, de->d_name))) {
                    unlink(p);
                    free(p);
                }
            }
            closedir(d);
        }
        free(folder);
    }
}

/* Without --patches: the SFZ files of an earlier run with it go. */
static void rm_patches(const char *dir)
{
    char *pdir = shelf__path_join(dir, PATCHES);

    if (pdir) {
        rm_stale_sfz(pdir, NULL, 0);
        rmdir(pdir);
    }
    free(pdir);
}

static int media_export(shelf_library *lib, const char *dir, const shelf_media_export_opts *o,
                        shelf_media_export_stats *st)
{
    shelf_media_export_opts oc;
    media m;
    char *staging = NULL;
    double t0 = shelf__monotonic();
    size_t i, max;
    int rc = SHELF_OK, e;

    memset(st, 0, sizeof *st);
    memset(&m, 0, sizeof m);
    if (!lib)
        return SHELF_EINVAL;
    if (!dir || !*dir || !o)
        return shelf__seterr(&lib->err, SHELF_EINVAL, "export-media: invalid arguments");
    /* patches came after the first version. */
    if (shelf__opts_check(&lib->err, &oc, sizeof oc, o, offsetof(shelf_media_export_opts, patches),
                          "shelf_media_export_opts") != SHELF_OK)
        return lib->err.rc;
    o = &oc;
    if (o->max_per_dir < 0)
        return shelf__seterr(&lib->err, SHELF_EINVAL, "export-media: invalid arguments");
    m.lib = lib;
    m.o = o;
    max = o->max_per_dir ? (size_t)o->max_per_dir : 256;
    if ((e = shelf__mkdirs(dir, 0755)) != 0)
        return shelf__seterr_errno(&lib->err, e, "cannot create '%s'", dir);
    if (!(staging = shelf__path_join(dir, STAGING)))
        return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    clear_staging(staging);
    if ((rc = read_index(&m, dir)) != SHELF_OK || (rc = collect(&m)) != SHELF_OK)
        goto out;
    sweep_tmp(&m, dir);
    if (!m.n) {
        /* Refused rather than emptying the card over a mistyped query. */
        rc = shelf__seterr(&lib->err, SHELF_EINVAL, "nothing to export: the selection is empty");
        goto out;
    }
    if ((rc = dedupe(&m)) != SHELF_OK || (rc = cut_shards(&m, max)) != SHELF_OK ||
        (rc = name_shards(&m)) != SHELF_OK)
        goto out;
    plan(&m, dir);
    m.prog.files_total = m.n;
    for (i = 0; i < m.n; i++)
        if (m.e[i].act == ACT_WRITE)
            m.prog.bytes_total += m.e[i].size;
    if ((rc = apply(&m, dir, st)) != SHELF_OK)
        goto out;
    if (o->patches && (rc = export_patches(&m, dir, st)) != SHELF_OK)
        goto out;
    if (!o->patches)
        rm_patches(dir);
    st->files = m.n;
    st->shards = m.k;
out:
    st->seconds = shelf__monotonic() - t0;
    for (i = 0; i < m.n; i++)
        ent_release(&m.e[i]);
    free(m.e);
    for (i = 0; i < m.nold; i++)
        free(m.old[i].path);
    free(m.old);
    for (i = 0; m.dirs && i < m.k; i++)
        free(m.dirs[i]);
    free(m.dirs);
    free(m.cuts);
    free(staging);
    return rc;
}

int shelf_media_export(shelf_library *lib, const char *dir, const shelf_media_export_opts *o,
                       shelf_media_export_stats *st)
{
    shelf_media_export_stats full = { .size = sizeof full };
    int rc = media_export(lib, dir, o, &full);

    /* the export is written: a record that cannot be is no failure of it */
    if (rc == SHELF_OK)
        (void)shelf__audit_export(lib, "media", dir);
    shelf__out_fill(st, &full, sizeof full);
    return rc;
}
