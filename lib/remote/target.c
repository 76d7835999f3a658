/*
 * target.c: targets as users write them (a folder, s3:URL, webdav:URL,
 * rclone:REMOTE:PATH) parsed into a shelf__target, and shelf__be_open,
 * which opens one: it finds the credentials (creds.c) and hands the target
 * to its backend.  Named remotes are resolved one level up (open.c), since
 * remotes.c opens URLs through here.
 *
 * A string that looks like a URL is never taken as a folder: an unknown
 * scheme ("ftp://", "s3:ftp://", restic's "b2:" ...) is refused, so a typo
 * cannot make a local folder named "s3:http:" and back up to it.
 */
#include <string.h>
#include "creds_int.h"

/* restic's and rclone's short forms that name a cloud store, not a
 * folder: "b2:bucket", "gs:bucket", "sftp:host:/path" ... */
static const char *const cloud_words[] = {
    "azure", "b2", "gs", "rest", "sftp", "swift", "ftp", "http", "https", "s3", "webdav", "rclone",
    NULL
};

/* Length of a leading URL scheme "[A-Za-z][A-Za-z0-9+.-]*" followed by
 * "://", else 0. */
static size_t url_scheme_len(const char *s)
{
    size_t i = 0;

    if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
        return 0;
    for (i = 1; s[i]; i++) {
        char c = s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '.' || c == '-'))
            break;
    }
    return !strncmp(s + i, "://", 3) ? i : 0;
}

/* 1 when s starts with "WORD:" for a word of cloud_words (any case), or
 * "WORD+...:" (a mistyped "s3+vhost:"). */
static int cloud_word(const char *s)
{
    size_t i;

    for (i = 0; cloud_words[i]; i++) {
        size_t n = strlen(cloud_words[i]);

        if (!strncasecmp(s, cloud_words[i], n) && (s[n] == ':' || (s[n] == '+' && strchr(s, ':'))))
            return 1;
    }
    return 0;
}

/* A path part of a URL: printable ASCII or UTF-8, no '?', '#', '%', '\\'
 * (shelf encodes paths itself: write them unencoded), no "." or ".."
 * parts. */
static int url_path_ok(const char *p, size_t n)
{
    size_t i, part = 0;

    for (i = 0; i <= n; i++) {
        unsigned char c = i < n ? (unsigned char)p[i] : '/';

        if (c == '/') {
            size_t len = i - part;

            if ((len == 1 && p[part] == '.') || (len == 2 && p[part] == '.' && p[part + 1] == '.'))
                return 0;
            part = i + 1;
            continue;
        }
        if (c < 0x20 || c == 0x7f || c == '?' || c == '#' || c == '%' || c == '\\')
            return 0;
    }
    return 1;
}

/* A host: a name or IPv4 address of [A-Za-z0-9.-], or "[IPv6]". */
static int host_ok(const char *h, size_t n)
{
    size_t i;

    if (n == 0 || n > 255)
        return 0;
    if (h[0] == '[') {
        if (n < 3 || h[n - 1] != ']')
            return 0;
        for (i = 1; i + 1 < n; i++)
            if (!strchr("0123456789abcdefABCDEF:.", h[i]))
                return 0;
        return 1;
    }
    if (h[0] == '-' || h[0] == '.')
        return 0;
    for (i = 0; i < n; i++)
        if (!((h[i] >= 'a' && h[i] <= 'z') || (h[i] >= 'A' && h[i] <= 'Z') ||
              (h[i] >= '0' && h[i] <= '9') || h[i] == '.' || h[i] == '-'))
            return 0;
    return 1;
}

/*
 * Split "http[s]://HOST[:PORT]REST" (u, after "s3:" or "webdav:") into
 * t->base ("scheme://host[:port]"), t->host and *rest (borrowed from u).
 * what names the form for messages.
 */
static int parse_url(const char *u, const char *what, shelf__target *t, const char **rest,
                     shelf__err *err)
{
    const char *auth, *end, *colon = NULL;
    size_t slen;

    if (!strncasecmp(u, "https://", 8))
        slen = 5;
    else if (!strncasecmp(u, "http://", 7))
        slen = 4;
    else
        return shelf__seterr(err, SHELF_EINVAL, "cannot use '%s': expected %s", u, what);
    auth = u + slen + 3;
    end = auth + strcspn(auth, "/?#");
    if (memchr(auth, '@', (size_t)(end - auth)))
        return shelf__seterr(err, SHELF_EINVAL, "cannot use a password in a URL (it would show in "
                             "the process list and the shell history): use `shelf remote add` or "
                             "the environment");
    if (strpbrk(auth, "?#"))
        return shelf__seterr(err, SHELF_EINVAL, "cannot use '%s': a query or fragment in the URL", u);
    /* the port: after the last ':' outside an IPv6 address */
    if (auth < end && auth[0] == '[') {
        const char *rb = memchr(auth, ']', (size_t)(end - auth));

        if (rb && rb + 1 < end && rb[1] == ':')
            colon = rb + 1;
        else if (!rb || rb + 1 != end)
            return shelf__seterr(err, SHELF_EINVAL, "cannot use '%s': bad host", u);
    } else {
        colon = memchr(auth, ':', (size_t)(end - auth));
    }
    if (!host_ok(auth, (size_t)((colon ? colon : end) - auth)))
        return shelf__seterr(err, SHELF_EINVAL, "cannot use '%s': bad host", u);
    if (colon) {
        const char *p;
        long port = 0;

        for (p = colon + 1; p < end; p++) {
            if (*p < '0' || *p > '9' || port > 65535)
                break;
            port = port * 10 + (*p - '0');
        }
        if (p != end || p == colon + 1 || port < 1 || port > 65535)
            return shelf__seterr(err, SHELF_EINVAL, "cannot use '%s': bad port", u);
    }
    if (!(t->base = shelf__asprintf("%s://%.*s", slen == 5 ? "https" : "http", (int)(end - auth),
                                    auth)))
        return shelf__seterr(err, SHELF_ENOMEM, "out of memory");
    {
        const char *h = auth, *he = colon ? colon : end;

        if (*h == '[') {
            h++;
            he--;
        }
        if (!(t->host = shelf__strndup(h, (size_t)(he - h))))
            return shelf__seterr(err, SHELF_ENOMEM, "out of memory");
    }
    *rest = end;
    return SHELF_OK;
}

/* rest without leading and trailing '/', empty parts refused. */
static int trim_slashes(const char *rest, const char **p, size_t *n)
{
    size_t len;

    while (*rest == '/')
        rest++;
    len = strlen(rest);
    while (len && rest[len - 1] == '/')
        len--;
    *p = rest;
    *n = len;
    return strstr(rest, "//") == NULL || strstr(rest, "//") >= rest + len;
}

/* s3:URL (path-style: HOST/BUCKET/KEY) or s3+vhost:URL (virtual-hosted:
 * BUCKET.HOST/KEY, as AWS wants for new buckets); scheme is the length of
 * the prefix (3 or 9). */
static int parse_s3(const char *s, size_t scheme, shelf__target *t, shelf__err *err)
{
    static const char form[] = "s3:http[s]://HOST[:PORT]/BUCKET[/PREFIX]";
    const char *rest = "", *p, *slash;
    size_t n, blen, i;
    int rc;

    t->virtual_host = scheme > 3;
    if ((rc = parse_url(s + scheme, form, t, &rest, err)) != SHELF_OK)
        return rc;
    if (!trim_slashes(rest, &p, &n) || !url_path_ok(p, n))
        return shelf__seterr(err, SHELF_EINVAL, "cannot use '%s': bad bucket or prefix", s);
    slash = memchr(p, '/', n);
    blen = slash ? (size_t)(slash - p) : n;
    if (blen == 0)
        return shelf__seterr(err, SHELF_EINVAL, "cannot use '%s': no bucket (expected %s)", s, form);
    for (i = 0; i < blen; i++)
        if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') ||
              (p[i] >= '0' && p[i] <= '9') || p[i] == '.' || p[i] == '-' || p[i] == '_'))
            return shelf__seterr(err, SHELF_EINVAL, "cannot use '%s': bad bucket name", s);
    if (blen > 255)
        return shelf__seterr(err, SHELF_EINVAL, "cannot use '%s': bad bucket name", s);
    /* In a host name the bucket must be a DNS label. */
    for (i = 0; t->virtual_host && i < blen; i++)
        if (p[i] == '_' || (p[i] >= 'A' && p[i] <= 'Z'))
            return shelf__seterr(err, SHELF_EINVAL, "cannot use '%s': a bucket with '_' or "
                                 "capitals cannot be virtual-hosted (use s3:)", s);
    t->kind = SHELF__TGT_S3;
    if (!(t->bucket = shelf__strndup(p, blen)) ||
        !(t->path = slash ? shelf__strndup(slash + 1, n - blen - 1) : shelf__strdup("")) ||
        !(t->display = *t->path ? shelf__asprintf("%.*s%s/%s/%s", (int)scheme, s, t->base,
                                                  t->bucket, t->path)
                                : shelf__asprintf("%.*s%s/%s", (int)scheme, s, t->base, t->bucket)))
        return shelf__seterr(err, SHELF_ENOMEM, "out of memory");
    return SHELF_OK;
}

static int parse_webdav(const char *s, shelf__target *t, shelf__err *err)
{
    const char *rest = "", *p;
    size_t n;
    int rc;

    if ((rc = parse_url(s + 7, "webdav:http[s]://HOST[:PORT][/PATH]", t, &rest, err)) != SHELF_OK)
        return rc;
    if (!trim_slashes(rest, &p, &n) || !url_path_ok(p, n))
        return shelf__seterr(err, SHELF_EINVAL, "cannot use '%s': bad path", s);
    t->kind = SHELF__TGT_WEBDAV;
    if (!(t->path = shelf__asprintf("/%.*s", (int)n, p)) ||
        !(t->display = shelf__asprintf("webdav:%s%s", t->base, n ? t->path : "")))
        return shelf__seterr(err, SHELF_ENOMEM, "out of memory");
    return SHELF_OK;
}

/* rclone:REMOTE:PATH, REMOTE a name rclone config knows (or ":type" for
 * an on-the-fly remote); PATH may be empty (the remote's root). */
static int parse_rclone(const char *s, shelf__target *t, shelf__err *err)
{
    const char *r = s + 7, *colon;
    size_t i;

    colon = strchr(r[0] == ':' ? r + 1 : r, ':');
    if (!colon || colon == r || (r[0] == ':' && colon == r + 1))
        return shelf__seterr(err, SHELF_EINVAL, "cannot use '%s': expected rclone:REMOTE:PATH", s);
    for (i = 0; r[i]; i++)
        if ((unsigned char)r[i] < 0x20 || r[i] == 0x7f)
            return shelf__seterr(err, SHELF_EINVAL, "cannot use '%s': a control character", s);
    /* rclone takes "-x" as an option even after "serve ...". */
    if (r[0] == '-')
        return shelf__seterr(err, SHELF_EINVAL, "cannot use '%s': a remote starts with '-'", s);
    t->kind = SHELF__TGT_RCLONE;
    if (!(t->path = shelf__strdup(r)) || !(t->display = shelf__strdup(s)))
        return shelf__seterr(err, SHELF_ENOMEM, "out of memory");
    return SHELF_OK;
}

int shelf__target_parse(const char *s, shelf__target *t, shelf__err *err)
{
    size_t n;
    int rc;

    memset(t, 0, sizeof *t);
    if (!s || !*s)
        return shelf__seterr(err, SHELF_EINVAL, "no repository given");
    if (!strncasecmp(s, "s3:", 3))
        rc = parse_s3(s, 3, t, err);
    else if (!strncasecmp(s, "s3+vhost:", 9))
        rc = parse_s3(s, 9, t, err);
    else if (!strncasecmp(s, "webdav:", 7))
        rc = parse_webdav(s, t, err);
    else if (!strncasecmp(s, "rclone:", 7))
        rc = parse_rclone(s, t, err);
    else if (!strncmp(s, "dir:", 4) ||
             (!url_scheme_len(s) && !cloud_word(s) && strncmp(s, "mem:", 4) != 0)) {
        const char *path = !strncmp(s, "dir:", 4) ? s + 4 : s;

        if (!*path)
            return shelf__seterr(err, SHELF_EINVAL, "no folder given in '%s'", s);
        t->kind = SHELF__TGT_DIR;
        rc = (t->path = shelf__strdup(path)) && (t->display = shelf__strdup(path))
                 ? SHELF_OK
                 : shelf__seterr(err, SHELF_ENOMEM, "out of memory");
    } else if (!strncmp(s, "mem:", 4)) {
        return shelf__seterr(err, SHELF_EINVAL, "cannot open '%s': mem: is for tests", s);
    } else {
        /* Never a folder: name the forms shelf knows (the string is not
         * quoted whole: it may hold a password). */
        n = strcspn(s, ":");
        return shelf__seterr(err, SHELF_EINVAL, "cannot use '%.*s:' targets: shelf knows "
                             "s3:https://HOST/BUCKET[/PREFIX] (s3+vhost: for BUCKET.HOST), "
                             "webdav:https://HOST[/PATH], "
                             "rclone:REMOTE:PATH and folders (write ./%.*s... or dir:... for a folder)",
                             (int)(n > 32 ? 32 : n), s, (int)(n > 32 ? 32 : n), s);
    }
    if (rc != SHELF_OK)
        shelf__target_free(t);
    return rc;
}

void shelf__target_free(shelf__target *t)
{
    if (!t)
        return;
    shelf_free(t->display);
    shelf_free(t->base);
    shelf_free(t->host);
    shelf_free(t->bucket);
    shelf_free(t->path);
    memset(t, 0, sizeof *t);
}

int shelf__be_open(const char *target, const shelf__be_opts *o, shelf__backend **out,
                   shelf__err *err)
{
    static const shelf__be_opts none;
    shelf__target t;
    shelf__creds c;
    int rc;

    *out = NULL;
    memset(&c, 0, sizeof c);
    if (!o)
        o = &none;
    if ((rc = shelf__target_parse(target, &t, err)) != SHELF_OK)
        return rc;
    switch (t.kind) {
    case SHELF__TGT_DIR:
        rc = shelf__be_dir_open(t.path, o->create, out, err);
        break;
    case SHELF__TGT_S3:
    case SHELF__TGT_WEBDAV:
        /* A WebDAV server may take anyone; S3 never does (be_s3 says so). */
        rc = shelf__creds_find(&t, o->remote, &c, err);
        if (rc == SHELF_ENOTFOUND)
            rc = SHELF_OK;
        if (rc != SHELF_OK)
            break;
        rc = t.kind == SHELF__TGT_S3 ? shelf__be_s3_open(&t, &c, o, out, err)
                                     : shelf__be_webdav_open(&t, &c, o, out, err);
        break;
    default:
        rc = shelf__be_rclone_open(&t, o, out, err);
        break;
    }
    shelf__creds_clear(&c);
    shelf__target_free(&t);
    return rc;
}
