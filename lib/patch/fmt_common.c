/*
 * fmt_common.c: what the patch importers share: choosing the format from a
 * file name, reading files with a size limit, gunzip with a bomb limit,
 * the patch document skeleton, text and number values, zone ids, and
 * resolving the sample paths that zones refer to (made absolute and
 * normalised, with a case-insensitive fallback for kits made on systems
 * that ignore case, and "missing" when no file is there).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include "formats_int.h"

/* Longest text kept in name, author, comment (the document's limit). */
#define MAX_TEXT 65536

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');

    return s ? s + 1 : path;
}

int shelf__patch_format_of(const char *path)
{
    const char *base;
    char ext[16];

    if (!path)
        return SHELF__PF_UNKNOWN;
    base = base_name(path);
    if (strcasecmp(base, "drumkit.xml") == 0)
        return SHELF__PF_HYDROGEN;
    shelf__path_ext(base, ext, sizeof ext);
    if (strcmp(ext, "sfz") == 0)
        return SHELF__PF_SFZ;
    if (strcmp(ext, "xiz") == 0)
        return SHELF__PF_ZYN;
    if (strcmp(ext, "xpf") == 0)
        return SHELF__PF_LMMS;
    if (strcmp(ext, "dspreset") == 0)
        return SHELF__PF_DSPRESET;
    return SHELF__PF_UNKNOWN;
}

const char *shelf__patch_format_name(int format)
{
    switch (format) {
    case SHELF__PF_SFZ: return "sfz";
    case SHELF__PF_HYDROGEN: return "hydrogen";
    case SHELF__PF_ZYN: return "zyn";
    case SHELF__PF_LMMS: return "lmms";
    case SHELF__PF_DSPRESET: return "decentsampler";
    }
    return NULL;
}

int shelf__pf_read_file(const char *path, size_t max, char **data, size_t *n, shelf__err *err)
{
    struct stat sb;
    char *buf = NULL;
    size_t got = 0;
    ssize_t r;
    int fd, rc = SHELF_OK;

    *data = NULL;
    *n = 0;
    /* Only regular files: opening a FIFO waits for a writer and reading a
     * device never ends.  Checked before the open (which must not block:
     * O_NONBLOCK) and again on what was opened. */
    if (stat(path, &sb) != 0)
        return shelf__seterr_errno(err, errno, "cannot read '%s'", path);
    if (S_ISDIR(sb.st_mode))
        return shelf__seterr_errno(err, EISDIR, "cannot read '%s'", path);
    if (!S_ISREG(sb.st_mode))
        return shelf__seterr(err, SHELF_EFORMAT, "cannot read '%s': not a regular file", path);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)) < 0)
        return shelf__seterr_errno(err, errno, "cannot read '%s'", path);
    if (fstat(fd, &sb) != 0) {
        rc = shelf__seterr_errno(err, errno, "cannot read '%s'", path);
        goto out;
    }
    if (!S_ISREG(sb.st_mode)) {
        rc = shelf__seterr(err, SHELF_EFORMAT, "cannot read '%s': not a regular file", path);
        goto out;
    }
    if (sb.st_size < 0 || (uint64_t)sb.st_size > max) {
        rc = shelf__seterr(err, SHELF_EFORMAT, "%s: too large (%lld bytes, the limit is %zu MiB)",
                           base_name(path), (long long)sb.st_size, max >> 20);
        goto out;
    }
    if (!(buf = shelf__malloc((size_t)sb.st_size + 1))) {
        rc = shelf__seterr(err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    /* Read to the end, not to st_size: the file may grow or shrink. */
    for (;;) {
        if (got == (size_t)sb.st_size + 1) {
            rc = shelf__seterr(err, SHELF_EFORMAT, "%s: changed while being read",
                               base_name(path));
            goto out;
        }
        r = read(fd, buf + got, (size_t)sb.st_size + 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = shelf__seterr_errno(err, errno, "cannot read '%s'", path);
            goto out;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    buf[got] = '\0';
    *data = buf;
    *n = got;
    buf = NULL;
out:
    free(buf);
    close(fd);
    return rc;
}

int shelf__pf_new_doc(const shelf__pf_ctx *cx, int format, json_t **out)
{
    const char *base = base_name(cx->name);
    json_t *file = shelf__pf_string(base, strlen(base));

    /* "o" steals file, also when packing fails. */
    *out = file ? json_pack("{s:i, s:{s:s, s:o}}", "shelf_patch", 1, "source", "format",
                            shelf__patch_format_name(format), "file", file)
                : NULL;
    if (!*out)
        return shelf__seterr(cx->err, SHELF_ENOMEM, "out of memory");
    return SHELF_OK;
}

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if none. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    size_t len, i;
    unsigned cp;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        len = 2, cp = s[0] & 0x1f;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        len = 3, cp = s[0] & 0x0f;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        len = 4, cp = s[0] & 0x07;
    else
        return 0;
    if (len > n)
        return 0;
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return len;
}

json_t *shelf__pf_string(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i, k, len = 0;
    char *buf;
    json_t *j;

    /* NUL ends the text (jansson strings could hold it; documents do not). */
    for (i = 0; i < n && s[i]; i += k)
        if (!(k = utf8_seq(u + i, n - i)))
            break;
    if (i == n || !s[i])
        return json_stringn(s, i);
    /* Not UTF-8: read it as Latin-1, which every byte string is. */
    if (!(buf = shelf__malloc(2 * n + 1)))
        return NULL;
    for (i = 0; i < n && s[i]; i++) {
        if (u[i] < 0x80) {
            buf[len++] = (char)u[i];
        } else {
            buf[len++] = (char)(0xc0 | (u[i] >> 6));
            buf[len++] = (char)(0x80 | (u[i] & 0x3f));
        }
    }
    j = json_stringn(buf, len);
    free(buf);
    return j;
}

int shelf__pf_set_text(json_t *obj, const char *key, const char *s)
{
    size_t n;
    json_t *v;

    if (!s || !*s)
        return SHELF_OK;
    n = strlen(s);
    if (n > MAX_TEXT / 2) {
        /* Latin-1 doubles at most: half the limit is safe either way;
         * back off to a UTF-8 boundary. */
        n = MAX_TEXT / 2;
        while (n && ((unsigned char)s[n] & 0xc0) == 0x80)
            n--;
    }
    if (!(v = shelf__pf_string(s, n)))
        return SHELF_ENOMEM;
    if (json_string_length(v) == 0) {
        json_decref(v);
        return SHELF_OK;
    }
    return json_object_set_new(obj, key, v) == 0 ? SHELF_OK : SHELF_ENOMEM;
}

int shelf__pf_set_name(const shelf__pf_ctx *cx, json_t *doc, const char *name)
{
    char *stem = NULL;
    const char *s = name;
    size_t i;
    int rc;

    if (s)
        while (*s && isspace((unsigned char)*s))
            s++;
    if (!s || !*s) {
        if (!(stem = shelf__path_stem(base_name(cx->name))))
            return shelf__seterr(cx->err, SHELF_ENOMEM, "out of memory");
        for (i = 0; stem[i] && isspace((unsigned char)stem[i]); i++)
            ;
        s = stem[i] ? stem : "untitled";
    }
    rc = shelf__pf_set_text(doc, "name", s);
    free(stem);
    if (rc == SHELF_OK && !json_object_get(doc, "name"))
        rc = json_object_set_new(doc, "name", json_string("untitled")) == 0 ? SHELF_OK
                                                                             : SHELF_ENOMEM;
    if (rc != SHELF_OK)
        return shelf__seterr(cx->err, rc, "out of memory");
    return SHELF_OK;
}

int shelf__pf_int(const char *s, long long *out)
{
    char *end;
    long long v;

    while (isspace((unsigned char)*s))
        s++;
    if (!*s || !(isdigit((unsigned char)*s) || ((*s == '-' || *s == '+') && isdigit((unsigned char)s[1]))))
        return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno)
        return -1;
    while (isspace((unsigned char)*end))
        end++;
    if (*end)
        return -1;
    *out = v;
    return 0;
}

json_t *shelf__pf_value(const char *s)
{
    long long i;
    double d;
    char *end;
    const char *p = s;

    if (shelf__pf_int(s, &i) == 0)
        return json_integer(i);
    /* Only plain decimal numbers: "inf", "nan" and hex floats stay text. */
    while (isspace((unsigned char)*p))
        p++;
    if (*p == '-' || *p == '+')
        p++;
    if (isdigit((unsigned char)*p) || (*p == '.' && isdigit((unsigned char)p[1]))) {
        if (!(p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))) {
            errno = 0;
            d = strtod(s, &end);
            while (isspace((unsigned char)*end))
                end++;
            if (!*end && end != s && isfinite(d))
                return json_real(d);
        }
    }
    return shelf__pf_string(s, strlen(s));
}

int shelf__pf_add_zone(shelf__pf_ctx *cx, json_t *doc, json_t *z)
{
    json_t *zones = json_object_get(doc, "zones");
    char id[32];

    if (cx->zones >= SHELF__PF_MAX_ZONES) {
        json_decref(z);
        return shelf__seterr(cx->err, SHELF_EFORMAT, "%s: more than %d zones", cx->name,
                             SHELF__PF_MAX_ZONES);
    }
    if (!zones) {
        if (!(zones = json_object()) || json_object_set_new(doc, "zones", zones) != 0) {
            json_decref(z);
            return shelf__seterr(cx->err, SHELF_ENOMEM, "out of memory");
        }
    }
    snprintf(id, sizeof id, "z%04d", ++cx->zones);
    if (json_object_set_new(zones, id, z) != 0)
        return shelf__seterr(cx->err, SHELF_ENOMEM, "out of memory");
    return SHELF_OK;
}

json_t *shelf__pf_range(long long lo, long long hi)
{
    return json_pack("[II]", (json_int_t)lo, (json_int_t)hi);
}

static int is_file(const char *path)
{
    struct stat sb;

    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* When the candidate path try (owned) names a file, it replaces *abs and 1
 * is returned; else it is freed and 0 returned. */
static int take_if_file(char **abs, char *try)
{
    if (!is_file(try)) {
        free(try);
        return 0;
    }
    free(*abs);
    *abs = try;
    return 1;
}

/*
 * When abs (under base) does not exist, look for it component by component
 * ignoring case: each missing component is replaced by the first entry of
 * its folder (in byte order) that equals it ignoring ASCII case.  Returns
 * an owned path of an existing file, or NULL.
 */
static char *find_ignoring_case(const char *base, const char *rel)
{
    char *cur = shelf__strdup(base), *next, *comp, *best, *tmp;
    const char *p = rel, *e;
    struct dirent *de;
    DIR *d;

    while (cur && *p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        for (e = p; *e && *e != '/'; e++)
            ;
        if (!(comp = shelf__strndup(p, (size_t)(e - p)))) {
            free(cur);
            return NULL;
        }
        next = shelf__path_join(cur, comp);
        if (next && strcmp(comp, "..") != 0 && strcmp(comp, ".") != 0 && access(next, F_OK) != 0) {
            free(next);
            next = NULL;
            best = NULL;
            if ((d = opendir(cur)) != NULL) {
                while ((de = readdir(d)) != NULL)
                    if (strcasecmp(de->d_name, comp) == 0 &&
                        (!best || strcmp(de->d_name, best) < 0)) {
                        tmp = shelf__strdup(de->d_name);
                        free(best);
                        best = tmp;
                    }
                closedir(d);
            }
            if (best)
                next = shelf__path_join(cur, best);
            free(best);
        }
        free(comp);
        free(cur);
        cur = next;
        p = e;
    }
    if (cur && !is_file(cur)) {
        free(cur);
        cur = NULL;
    }
    return cur;
}

/* Join base and rel and normalise lexically; owned. */
static char *join_norm(const char *base, const char *rel)
{
    char *j = rel[0] == '/' ? shelf__strdup(rel) : shelf__path_join(base, rel), *abs;

    if (!j)
        return NULL;
    abs = shelf__path_abs(j);
    free(j);
    return abs;
}

/*
 * join_norm for a sample, and whether it is a regular file (*found), with
 * one lstat for most samples instead of a readlink per folder of the path
 * and a stat: the folder part is resolved once per parse (cx->dirs) and
 * the file joined to it.  The result is the same as join_norm's: a file
 * that is a symbolic link, or is not there (lexical normalisation), or a
 * name such as ".." take the slow way.  NULL on no memory.
 */
static char *resolve_uncached(shelf__pf_ctx *cx, char *j, int *found);

static char *resolve_sample(shelf__pf_ctx *cx, const char *base, const char *rel, int *found)
{
    char *j = rel[0] == '/' ? shelf__strdup(rel) : shelf__path_join(base, rel), *abs;
    json_t *v;

    *found = 0;
    if (!j)
        return NULL;
    if (!cx->files && !(cx->files = json_object()))
        goto nomem;
    if ((v = json_object_get(cx->files, j)) != NULL) {
        free(j);
        *found = json_is_true(json_array_get(v, 1));
        return shelf__strdup(json_string_value(json_array_get(v, 0)));
    }
    abs = resolve_uncached(cx, j, found);
    /* Paths need not be UTF-8 (the _nocheck calls). */
    if (abs) {
        if (!(v = json_array()) || json_array_append_new(v, json_string_nocheck(abs)) != 0 ||
            json_array_append_new(v, json_boolean(*found)) != 0) {
            json_decref(v);
            v = NULL;
        }
        if (!v || json_object_set_new_nocheck(cx->files, j, v) != 0) {
            free(abs);
            abs = NULL;
        }
    }
    free(j);
    return abs;
nomem:
    free(j);
    return NULL;
}

/* resolve_sample without the cache of whole paths; j is changed and put back. */
static char *resolve_uncached(shelf__pf_ctx *cx, char *j, int *found)
{
    char *slash, *abs;
    const char *dir, *file;
    json_t *v;
    struct stat sb;

    *found = 0;
    slash = strrchr(j, '/');
    file = slash ? slash + 1 : "";
    if (!slash || slash == j || !*file || !strcmp(file, ".") || !strcmp(file, ".."))
        goto slow;
    *slash = '\0';
    if (!cx->dirs && !(cx->dirs = json_object()))
        goto nomem;
    if (!(v = json_object_get(cx->dirs, j))) {
        char *r = shelf__path_abs(j);

        if (!r || !(v = json_string_nocheck(r)) || json_object_set_new_nocheck(cx->dirs, j, v) != 0) {
            free(r);
            goto nomem;
        }
        free(r);
    }
    dir = json_string_value(v);
    if (!(abs = shelf__path_join(dir, file)))
        goto nomem;
    if (lstat(abs, &sb) == 0 && !S_ISLNK(sb.st_mode)) {
        *found = S_ISREG(sb.st_mode);
        *slash = '/';
        return abs;
    }
    free(abs);
    *slash = '/';
slow:
    abs = shelf__path_abs(j);
    *found = abs && is_file(abs);
    return abs;
nomem:
    if (slash)
        *slash = '/';
    return NULL;
}

int shelf__pf_zone_sample(shelf__pf_ctx *cx, json_t *zone, const char *path, const char *base,
                          const char *const *more_bases)
{
    char *p = shelf__strdup(path), *abs = NULL, *try, *ci;
    json_t *s = NULL, *v;
    int missing = 1, rc = SHELF_ENOMEM, found;
    size_t i;

    if (!p)
        goto out;
    for (i = 0; p[i]; i++)
        if (p[i] == '\\')
            p[i] = '/';
    if (!base)
        base = cx->dir;
    if (p[0] == '/') {
        if (!(abs = resolve_sample(cx, "/", p, &found)))
            goto out;
        missing = !found;
    } else if (!base) {
        /* No folder to resolve against: keep the path as written. */
        if (!(abs = shelf__strdup(p)))
            goto out;
    } else {
        if (!(abs = resolve_sample(cx, base, p, &found)))
            goto out;
        missing = !found;
        for (i = 0; missing && more_bases && more_bases[i]; i++) {
            if (!(try = join_norm(more_bases[i], p)))
                goto out;
            missing = !take_if_file(&abs, try);
        }
        if (missing && (ci = find_ignoring_case(base, p)) != NULL) {
            free(abs);
            abs = join_norm("/", ci);
            free(ci);
            if (!abs)
                goto out;
            missing = 0;
        }
        if (missing && shelf_name_needs_escape(p, 0) && (v = shelf__pf_string(p, strlen(p))) != NULL) {
            /* Not there as bytes: a file written in Latin-1 whose samples
             * were renamed to UTF-8 (an unzip on another system). */
            try = join_norm(base, json_string_value(v));
            json_decref(v);
            if (!try)
                goto out;
            missing = !take_if_file(&abs, try);
        }
    }
    /* A document holds a file name as its text (shelf_name_escape). */
    if (!(ci = shelf_name_escape(abs, 0)))
        goto out;
    v = json_string(ci);
    free(ci);
    if (!(s = json_object()) || !v) {
        json_decref(s);
        json_decref(v);
        goto out;
    }
    /* json_object_set_new takes its value even when it fails. */
    if (json_object_set_new(s, "path", v) != 0 ||
        (missing && json_object_set_new(s, "missing", json_true()) != 0)) {
        json_decref(s);
        goto out;
    }
    if (json_object_set_new(zone, "sample", s) != 0)
        goto out;
    rc = SHELF_OK;
out:
    free(p);
    free(abs);
    if (rc != SHELF_OK)
        return shelf__seterr(cx->err, rc, "out of memory");
    return SHELF_OK;
}

int shelf__pf_gunzip(const shelf__pf_ctx *cx, const void *in, size_t n, size_t max, char **out,
                     size_t *outn)
{
    const unsigned char *u = in;
    z_stream zs;
    char *buf = NULL, *nb;
    size_t cap = 0;
    int zr, rc = SHELF_OK, inited = 0;

    *out = NULL;
    *outn = 0;
    if (n < 2 || u[0] != 0x1f || u[1] != 0x8b) {
        if (!(buf = shelf__malloc(n + 1)))
            return shelf__seterr(cx->err, SHELF_ENOMEM, "out of memory");
        memcpy(buf, in, n);
        buf[n] = '\0';
        *out = buf;
        *outn = n;
        return SHELF_OK;
    }
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
        return shelf__seterr(cx->err, SHELF_ENOMEM, "out of memory");
    inited = 1;
    zs.next_in = (Bytef *)(uintptr_t)in;
    /* zlib counts in uInt; inputs are far below 4 GiB (SHELF__PF_MAX_BYTES). */
    zs.avail_in = (uInt)n;
    for (;;) {
        if (!buf || zs.total_out == cap) {
            size_t ncap = cap ? cap * 2 : 64 * 1024;

            if (cap >= max + 1) {
                rc = shelf__seterr(cx->err, SHELF_EFORMAT,
                                   "%s: decompresses to more than %zu MiB", cx->name, max >> 20);
                goto out;
            }
            if (ncap > max + 1)
                ncap = max + 1;
            if (!(nb = shelf__realloc(buf, ncap + 1))) {
                rc = shelf__seterr(cx->err, SHELF_ENOMEM, "out of memory");
                goto out;
            }
            buf = nb;
            cap = ncap;
        }
        zs.next_out = (Bytef *)buf + zs.total_out;
        zs.avail_out = (uInt)(cap - zs.total_out);
        zr = inflate(&zs, Z_NO_FLUSH);
        if (zr == Z_STREAM_END)
            break;
        if (zr == Z_MEM_ERROR) {
            rc = shelf__seterr(cx->err, SHELF_ENOMEM, "out of memory");
            goto out;
        }
        if (zr == Z_BUF_ERROR && zs.avail_in == 0) {
            rc = shelf__seterr(cx->err, SHELF_EFORMAT, "%s: truncated gzip data", cx->name);
            goto out;
        }
        if (zr != Z_OK && zr != Z_BUF_ERROR) {
            rc = shelf__seterr(cx->err, SHELF_EFORMAT, "%s: corrupt gzip data: %s", cx->name,
                               zs.msg ? zs.msg : "inflate failed");
            goto out;
        }
    }
    if (zs.total_out > max) {
        rc = shelf__seterr(cx->err, SHELF_EFORMAT, "%s: decompresses to more than %zu MiB",
                           cx->name, max >> 20);
        goto out;
    }
    buf[zs.total_out] = '\0';
    *out = buf;
    *outn = zs.total_out;
    buf = NULL;
out:
    if (inited)
        inflateEnd(&zs);
    free(buf);
    return rc;
}
