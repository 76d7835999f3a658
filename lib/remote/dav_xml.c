/*
 * dav_xml.c: the parser of WebDAV multistatus replies (PROPFIND), on the
 * safe libxml2 reader (shelf__xml_read), and percent-decoding of hrefs.
 * Namespaces are matched by URI ("DAV:"), never by prefix.  Nothing here
 * talks to the network: fuzz_davxml runs it alone.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libxml/tree.h>
#include "dav_int.h"

static int is_dav(const xmlNode *n, const char *name)
{
    return n && n->type == XML_ELEMENT_NODE && n->ns && n->ns->href &&
           !strcmp((const char *)n->ns->href, "DAV:") && !strcmp((const char *)n->name, name);
}

static const xmlNode *first_dav(const xmlNode *parent, const char *name)
{
    const xmlNode *c;

    for (c = parent->children; c; c = c->next)
        if (is_dav(c, name))
            return c;
    return NULL;
}

/* The element's text with surrounding white space removed, or NULL (out of
 * memory).  Free with xmlFree. */
static char *text_of(const xmlNode *n)
{
    char *t = (char *)xmlNodeGetContent(n), *p, *end;

    if (!t)
        return NULL;
    for (p = t; *p && isspace((unsigned char)*p); p++)
        ;
    end = p + strlen(p);
    while (end > p && isspace((unsigned char)end[-1]))
        end--;
    memmove(t, p, (size_t)(end - p));
    t[end - p] = '\0';
    return t;
}

/* "HTTP/1.1 200 OK" -> 200; 0 when unreadable. */
static int status_code(const char *s)
{
    const char *sp = strchr(s, ' ');
    int code = 0, i;

    if (!sp || strncmp(s, "HTTP/", 5) != 0)
        return 0;
    for (i = 1; i <= 3; i++) {
        if (!isdigit((unsigned char)sp[i]))
            return 0;
        code = code * 10 + (sp[i] - '0');
    }
    return code;
}

static int parse_u64(const char *s, uint64_t *v)
{
    uint64_t x = 0;

    if (!*s)
        return -1;
    for (; *s; s++) {
        if (!isdigit((unsigned char)*s) || x > (UINT64_MAX - 9) / 10)
            return -1;
        x = x * 10 + (uint64_t)(*s - '0');
    }
    *v = x;
    return 0;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int shelf__dav_pct_decode(shelf__buf *b, const char *s, int *nomem)
{
    shelf__buf_reset(b);
    *nomem = 0;
    for (; *s; s++) {
        char c = *s;

        if (c == '%' && hexval((unsigned char)s[1]) >= 0 && hexval((unsigned char)s[2]) >= 0) {
            c = (char)(hexval((unsigned char)s[1]) * 16 + hexval((unsigned char)s[2]));
            s += 2;
            if (c == '\0')
                return -1;
        }
        if (shelf__buf_add(b, &c, 1) != SHELF_OK) {
            *nomem = 1;
            return -1;
        }
    }
    if (!b->buf && shelf__buf_add(b, "", 0) != SHELF_OK) {
        *nomem = 1;
        return -1;
    }
    return 0;
}

/* Read a number property into *v; -1 when it is not a number. */
static int prop_u64(const xmlNode *p, uint64_t *v, int *nomem)
{
    char *t = text_of(p);
    int rc;

    if (!t) {
        *nomem = 1;
        return -1;
    }
    rc = t[0] ? parse_u64(t, v) : 0;   /* <getcontentlength/>: not given */
    xmlFree(t);
    return rc;
}

static int bad_reply(shelf__err *e, const char *what)
{
    return shelf__seterr(e, SHELF_EIO, "malformed reply: %s", what);
}

static int parse_response(const xmlNode *r, shelf__buf *href, shelf__dav_entry_fn fn, void *ud,
                          shelf__err *e)
{
    const xmlNode *h = first_dav(r, "href"), *st, *ps, *prop, *p;
    shelf__dav_entry ent;
    int nomem = 0, ok = 0;
    char *t;

    if (!h)
        return bad_reply(e, "a response without an href");
    if (!(t = text_of(h)))
        return shelf__seterr(e, SHELF_ENOMEM, "out of memory");
    {
        const char *path = t, *sch = strstr(t, "://");
        int bad;

        /* "https://host/a/b" -> "/a/b" */
        if (sch && (size_t)(sch - t) <= 5)
            path = strchr(sch + 3, '/') ? strchr(sch + 3, '/') : "/";
        bad = shelf__dav_pct_decode(href, path, &nomem);
        xmlFree(t);
        if (nomem)
            return shelf__seterr(e, SHELF_ENOMEM, "out of memory");
        if (bad || !href->buf[0])
            return bad_reply(e, "an href that does not decode");
    }
    memset(&ent, 0, sizeof ent);
    ent.href = href->buf;
    ent.size = ent.quota_avail = ent.quota_used = UINT64_MAX;
    if ((st = first_dav(r, "status")) != NULL) {
        if (!(t = text_of(st)))
            return shelf__seterr(e, SHELF_ENOMEM, "out of memory");
        ok = status_code(t) / 100 == 2;
        xmlFree(t);
        if (!ok)
            return SHELF_OK;
    }
    for (ps = r->children; ps; ps = ps->next) {
        int code;

        if (!is_dav(ps, "propstat"))
            continue;
        if (!(st = first_dav(ps, "status")))
            return bad_reply(e, "a propstat without a status");
        if (!(t = text_of(st)))
            return shelf__seterr(e, SHELF_ENOMEM, "out of memory");
        code = status_code(t);
        xmlFree(t);
        if (code / 100 != 2 || !(prop = first_dav(ps, "prop")))
            continue;
        ok = 1;
        for (p = prop->children; p; p = p->next) {
            int bad = 0;

            if (is_dav(p, "resourcetype"))
                ent.is_dir |= first_dav(p, "collection") != NULL;
            else if (is_dav(p, "getcontentlength"))
                bad = prop_u64(p, &ent.size, &nomem);
            else if (is_dav(p, "quota-available-bytes"))
                bad = prop_u64(p, &ent.quota_avail, &nomem);
            else if (is_dav(p, "quota-used-bytes"))
                bad = prop_u64(p, &ent.quota_used, &nomem);
            if (nomem)
                return shelf__seterr(e, SHELF_ENOMEM, "out of memory");
            if (bad)
                return bad_reply(e, "a size that is not a number");
        }
    }
    return ok ? fn(ud, &ent) : SHELF_OK;
}

int shelf__dav_multistatus(const void *data, size_t n, shelf__dav_entry_fn fn, void *ud,
                           shelf__err *e)
{
    shelf__xml_error xe;
    shelf__buf href = SHELF__BUF_INIT;
    xmlDoc *doc = NULL;
    const xmlNode *root, *r;
    int rc;

    rc = shelf__xml_read(data, n, "multistatus.xml", &doc, &xe);
    if (rc == SHELF_ENOMEM)
        return shelf__seterr(e, SHELF_ENOMEM, "out of memory");
    if (rc != SHELF_OK) {
        if (xe.entity_line > 0)
            return shelf__seterr(e, SHELF_EIO, "malformed reply: an entity declaration on line %d",
                                 xe.entity_line);
        return shelf__seterr(e, SHELF_EIO, "malformed reply: line %d: %s", xe.line,
                             xe.msg[0] ? xe.msg : "not xml");
    }
    root = xmlDocGetRootElement(doc);
    if (!is_dav(root, "multistatus")) {
        rc = bad_reply(e, "not a dav multistatus");
        goto out;
    }
    for (r = root->children; r && rc == SHELF_OK; r = r->next)
        if (is_dav(r, "response"))
            rc = parse_response(r, &href, fn, ud, e);
out:
    shelf__buf_release(&href);
    xmlFreeDoc(doc);
    return rc;
}
