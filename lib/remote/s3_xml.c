/*
 * s3_xml.c: the parser of S3's XML replies (s3_int.h): list results,
 * multipart replies and <Error>, read with shelf__xml_read (no network,
 * no DTD, no entities).  Owns nothing beyond one call.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <libxml/tree.h>
#include "s3_int.h"

static int is_named(const xmlNode *n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && n->name && !strcmp((const char *)n->name, name);
}

static const xmlNode *child(const xmlNode *n, const char *name)
{
    for (n = n ? n->children : NULL; n; n = n->next)
        if (is_named(n, name))
            return n;
    return NULL;
}

/* The text of n's child name, owned; *nomem set on a failed allocation.
 * NULL when there is no such child. */
static char *child_text(const xmlNode *n, const char *name, int *nomem)
{
    const xmlNode *c = child(n, name);
    xmlChar *v;
    char *s;

    if (!c)
        return NULL;
    if (!(v = xmlNodeGetContent(c))) {
        *nomem = 1;
        return NULL;
    }
    if (!(s = shelf__strdup((const char *)v)))
        *nomem = 1;
    xmlFree(v);
    return s;
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;

    *out = 0;
    if (!s || *s < '0' || *s > '9')
        return 0;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || *end)
        return 0;
    *out = v;
    return 1;
}

/* n decimal digits at s as a number; -1 when they are not digits. */
static int digits(const char *s, int n)
{
    int v = 0, i;

    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* "2026-12-04T10:00:00.000Z" (S3's Initiated) as unix seconds; -1 when
 * it is not that. */
static int64_t parse_iso_time(const char *s)
{
    struct tm tm;
    int y, mo, d, h, mi, sec;

    if (!s || strlen(s) < 19 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
        s[16] != ':')
        return -1;
    y = digits(s, 4);
    mo = digits(s + 5, 2);
    d = digits(s + 8, 2);
    h = digits(s + 11, 2);
    mi = digits(s + 14, 2);
    sec = digits(s + 17, 2);
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 ||
        mi > 59 || sec < 0 || sec > 60)
        return -1;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    return (int64_t)timegm(&tm);
}

void shelf__s3_reply_free(shelf__s3_reply *r)
{
    size_t i;

    for (i = 0; i < r->n; i++) {
        shelf_free(r->items[i].key);
        shelf_free(r->items[i].upload_id);
        shelf_free(r->items[i].etag);
    }
    shelf_free(r->items);
    shelf_free(r->code);
    shelf_free(r->message);
    shelf_free(r->upload_id);
    shelf_free(r->etag);
    shelf_free(r->next_token);
    shelf_free(r->next_key);
    shelf_free(r->next_upload);
    memset(r, 0, sizeof *r);
}

static int parse_items(const xmlNode *root, int kind, shelf__s3_reply *r, shelf__err *err,
                       int *nomem)
{
    const char *elem = kind == SHELF__S3X_LIST ? "Contents" : kind == SHELF__S3X_PARTS ? "Part"
                                                                                    : "Upload";
    const xmlNode *c;
    size_t cap = 0;

    for (c = root->children; c; c = c->next) {
        shelf__s3_item *it;
        char *size;

        if (!is_named(c, elem))
            continue;
        if (r->n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            shelf__s3_item *nv = shelf__realloc(r->items, ncap * sizeof *nv);

            if (!nv) {
                *nomem = 1;
                return SHELF_ENOMEM;
            }
            r->items = nv;
            cap = ncap;
        }
        it = &r->items[r->n++];
        memset(it, 0, sizeof *it);
        it->initiated = -1;
        if (kind == SHELF__S3X_PARTS) {
            uint64_t pn = 0;
            char *num = child_text(c, "PartNumber", nomem);

            size = *nomem ? NULL : child_text(c, "Size", nomem);
            if (!*nomem)
                it->etag = child_text(c, "ETag", nomem);
            if (*nomem) {
                shelf_free(num);
                shelf_free(size);
                return SHELF_ENOMEM;
            }
            if (!parse_u64(num, &pn) || pn < 1 || pn > 10000 || !parse_u64(size, &it->size) ||
                !it->etag) {
                shelf_free(num);
                shelf_free(size);
                return shelf__seterr(err, SHELF_EFORMAT, "Part without a PartNumber (1 to "
                                     "10000), Size or ETag");
            }
            it->part = (unsigned)pn;
            shelf_free(num);
            shelf_free(size);
            continue;
        }
        if (!(it->key = child_text(c, "Key", nomem)))
            return *nomem ? SHELF_ENOMEM
                          : shelf__seterr(err, SHELF_EFORMAT, "%s without Key", elem);
        if (kind == SHELF__S3X_LIST) {
            size = child_text(c, "Size", nomem);
            if (*nomem)
                return SHELF_ENOMEM;
            if (!parse_u64(size, &it->size)) {
                shelf_free(size);
                return shelf__seterr(err, SHELF_EFORMAT, "bad Size of '%.100s'", it->key);
            }
            shelf_free(size);
        } else if (!(it->upload_id = child_text(c, "UploadId", nomem))) {
            return *nomem ? SHELF_ENOMEM
                          : shelf__seterr(err, SHELF_EFORMAT, "Upload without UploadId");
        } else {
            char *when = child_text(c, "Initiated", nomem);

            it->initiated = parse_iso_time(when);
            shelf_free(when);
            if (*nomem)
                return SHELF_ENOMEM;
        }
    }
    return SHELF_OK;
}

int shelf__s3_reply_parse(const void *xml, size_t n, int kind, shelf__s3_reply *r,
                          shelf__err *err)
{
    static const char *const roots[] = {
        NULL, "ListBucketResult", "ListMultipartUploadsResult", "InitiateMultipartUploadResult",
        "CompleteMultipartUploadResult", "Error", "ListPartsResult"
    };
    struct _xmlDoc *doc = NULL;
    shelf__xml_error xe;
    const xmlNode *root;
    int rc = SHELF_OK, nomem = 0;
    char *t;

    memset(r, 0, sizeof *r);
    if (kind < SHELF__S3X_LIST || kind > SHELF__S3X_PARTS)
        return shelf__seterr(err, SHELF_EINVAL, "unknown reply kind %d", kind);
    if ((rc = shelf__xml_read(xml, n, "s3-reply.xml", &doc, &xe)) != SHELF_OK) {
        if (rc == SHELF_ENOMEM)
            return shelf__seterr(err, rc, "out of memory");
        if (xe.entity_line)
            return shelf__seterr(err, rc, "malformed XML: entity declaration on line %d",
                                 xe.entity_line);
        return shelf__seterr(err, rc, "malformed XML (line %d): %s", xe.line, xe.msg);
    }
    root = xmlDocGetRootElement(doc);
    if (root && is_named(root, "Error")) {
        r->is_error = 1;
        r->code = child_text(root, "Code", &nomem);
        r->message = child_text(root, "Message", &nomem);
        goto out;
    }
    if (!root || !is_named(root, roots[kind])) {
        rc = shelf__seterr(err, SHELF_EFORMAT, "expected <%s>, got <%.60s>", roots[kind],
                           root && root->name ? (const char *)root->name : "");
        goto out;
    }
    switch (kind) {
    case SHELF__S3X_LIST:
    case SHELF__S3X_UPLOADS:
    case SHELF__S3X_PARTS:
        t = child_text(root, "IsTruncated", &nomem);
        r->truncated = t && !strcmp(t, "true");
        shelf_free(t);
        if (kind == SHELF__S3X_LIST) {
            r->next_token = child_text(root, "NextContinuationToken", &nomem);
        } else if (kind == SHELF__S3X_PARTS) {
            t = child_text(root, "NextPartNumberMarker", &nomem);
            if (t && !parse_u64(t, &r->next_part))
                r->next_part = 0;
            shelf_free(t);
        } else {
            r->next_key = child_text(root, "NextKeyMarker", &nomem);
            r->next_upload = child_text(root, "NextUploadIdMarker", &nomem);
        }
        if (!nomem)
            rc = parse_items(root, kind, r, err, &nomem);
        break;
    case SHELF__S3X_INITIATE:
        if (!(r->upload_id = child_text(root, "UploadId", &nomem)) && !nomem)
            rc = shelf__seterr(err, SHELF_EFORMAT, "no UploadId");
        break;
    case SHELF__S3X_COMPLETE:
        r->etag = child_text(root, "ETag", &nomem);
        break;
    default:
        break;
    }
out:
    if (nomem)
        rc = shelf__seterr(err, SHELF_ENOMEM, "out of memory");
    xmlFreeDoc(doc);
    if (rc != SHELF_OK)
        shelf__s3_reply_free(r);
    return rc;
}

