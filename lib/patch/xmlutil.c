/*
 * xmlutil.c: the XML helpers the XML patch importers share (xmlpatch.c,
 * fmt_zyn.c, fmt_lmms.c; declared in xmlutil_int.h): the safe parse, element
 * and attribute access by local name, and the generic element-to-group
 * conversion.  They call only fmt_common.c, never an importer.
 */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "xmlutil_int.h"

int shelf__pfx_read(shelf__pf_ctx *cx, const char *data, size_t n, xmlDocPtr *out)
{
    shelf__xml_error st;
    int rc;

    *out = NULL;
    /* ZynAddSubFX writes a line break before the XML declaration, which
     * XML does not allow; white space before the first '<' is skipped
     * (and counted, so line numbers stay those of the file). */
    cx->line_offset = 0;
    while (n && (*data == ' ' || *data == '\t' || *data == '\r' || *data == '\n')) {
        if (*data == '\n')
            cx->line_offset++;
        data++;
        n--;
    }
    if (n == 0)
        return shelf__seterr(cx->err, SHELF_EFORMAT, "%s: empty file", cx->name);
    if (n > SHELF__PF_MAX_BYTES)
        return shelf__seterr(cx->err, SHELF_EFORMAT, "%s: too large", cx->name);
    rc = shelf__xml_read(data, n, cx->name, out, &st);
    if (rc == SHELF_ENOMEM)
        return shelf__seterr(cx->err, SHELF_ENOMEM, "out of memory");
    if (rc == SHELF_OK && xmlDocGetRootElement(*out))
        return SHELF_OK;
    xmlFreeDoc(*out);
    *out = NULL;
    if (st.entity_line)
        return shelf__seterr(cx->err, SHELF_EFORMAT, "%s:%d: entity declarations are not allowed",
                             cx->name, st.entity_line + cx->line_offset);
    if (st.failed && st.line > 0)
        return shelf__seterr(cx->err, SHELF_EFORMAT, "%s:%d: %s", cx->name,
                             st.line + cx->line_offset, st.msg);
    return shelf__seterr(cx->err, SHELF_EFORMAT, "%s: %s", cx->name,
                         st.failed ? st.msg : "not well-formed XML");
}

int shelf__pfx_fail(shelf__pf_ctx *cx, const xmlNode *n, const char *fmt, ...)
{
    char msg[768];
    long line = n ? xmlGetLineNo(n) : -1;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (line > 0)
        return shelf__seterr(cx->err, SHELF_EFORMAT, "%s:%ld: %s", cx->name,
                             line + cx->line_offset, msg);
    return shelf__seterr(cx->err, SHELF_EFORMAT, "%s: %s", cx->name, msg);
}

int shelf__pfx_is(const xmlNode *n, const char *local)
{
    return n && n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, local) == 0;
}

xmlNode *shelf__pfx_child(const xmlNode *parent, const char *local)
{
    xmlNode *c;

    for (c = parent->children; c; c = c->next)
        if (shelf__pfx_is(c, local))
            return c;
    return NULL;
}

char *shelf__pfx_text(const xmlNode *e)
{
    shelf__buf b = SHELF__BUF_INIT;
    const xmlNode *c;
    size_t start = 0;
    char *s;

    if (shelf__buf_add(&b, "", 0) != SHELF_OK)
        return NULL;
    for (c = e->children; c; c = c->next)
        if ((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) && c->content &&
            shelf__buf_adds(&b, (const char *)c->content) != SHELF_OK) {
            shelf__buf_release(&b);
            return NULL;
        }
    while (b.len && isspace((unsigned char)b.buf[b.len - 1]))
        b.buf[--b.len] = '\0';
    while (start < b.len && isspace((unsigned char)b.buf[start]))
        start++;
    if (start) {
        memmove(b.buf, b.buf + start, b.len - start + 1);
        b.len -= start;
    }
    s = shelf__buf_detach(&b);
    return s;
}

char *shelf__pfx_child_text(const xmlNode *parent, const char *local, int *rc)
{
    xmlNode *c = shelf__pfx_child(parent, local);
    char *t;

    if (!c)
        return NULL;
    if (!(t = shelf__pfx_text(c))) {
        *rc = SHELF_ENOMEM;
        return NULL;
    }
    if (!*t) {
        free(t);
        return NULL;
    }
    return t;
}

char *shelf__pfx_attr(const xmlNode *e, const char *name)
{
    xmlChar *v = xmlGetNoNsProp(e, (const xmlChar *)name);
    char *s;

    if (!v)
        return NULL;
    s = shelf__strdup((const char *)v);
    xmlFree(v);
    return s;
}

int shelf__pfx_attrs(shelf__pf_ctx *cx, const xmlNode *e, json_t *obj, const char *const *skip)
{
    const xmlAttr *a;
    xmlChar *v;
    json_t *j;
    size_t i;

    for (a = e->properties; a; a = a->next) {
        if (!a->name || !a->name[0])
            continue;
        for (i = 0; skip && skip[i] && strcmp(skip[i], (const char *)a->name) != 0; i++)
            ;
        if (skip && skip[i])
            continue;
        if (!(v = xmlNodeListGetString(e->doc, a->children, 1)))
            v = xmlStrdup((const xmlChar *)"");
        if (!v)
            return shelf__seterr(cx->err, SHELF_ENOMEM, "out of memory");
        j = shelf__pf_value((const char *)v);
        xmlFree(v);
        if (!j || json_object_set_new(obj, (const char *)a->name, j) != 0)
            return shelf__seterr(cx->err, SHELF_ENOMEM, "out of memory");
    }
    return SHELF_OK;
}

int shelf__pfx_add_group(json_t *obj, const char *name, json_t *sub)
{
    json_t *prev = json_object_get(obj, name), *arr;

    if (json_is_object(prev)) {
        /* A name that repeats: an array of groups. */
        if (!(arr = json_array()) || json_array_append(arr, prev) != 0) {
            json_decref(arr);
            json_decref(sub);
            return -1;
        }
        if (json_object_set_new(obj, name, arr) != 0) {     /* steals arr */
            json_decref(sub);
            return -1;
        }
        prev = arr;
    }
    /* Both steal sub, also when they fail. */
    return json_is_array(prev) ? json_array_append_new(prev, sub)
                               : json_object_set_new(obj, name, sub);
}

int shelf__pfx_group(shelf__pf_ctx *cx, const xmlNode *e, int depth, json_t **out)
{
    json_t *g = json_object(), *sub = NULL;
    const xmlNode *c;
    char *text = NULL;
    int rc = SHELF_OK;

    *out = NULL;
    if (!g)
        return shelf__seterr(cx->err, SHELF_ENOMEM, "out of memory");
    if (depth >= SHELF__PF_MAX_XML_DEPTH) {
        rc = shelf__pfx_fail(cx, e, "nested too deep");
        goto out;
    }
    if ((rc = shelf__pfx_attrs(cx, e, g, NULL)) != SHELF_OK)
        goto out;
    for (c = e->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if ((rc = shelf__pfx_group(cx, c, depth + 1, &sub)) != SHELF_OK)
            goto out;
        rc = shelf__pfx_add_group(g, (const char *)c->name, sub);
        sub = NULL;
        if (rc != 0)
            goto nomem;
    }
    if (!(text = shelf__pfx_text(e)))
        goto nomem;
    if (*text && (rc = shelf__pf_set_text(g, "text", text)) != SHELF_OK)
        goto nomem;
    *out = g;
    g = NULL;
    goto out;
nomem:
    rc = shelf__seterr(cx->err, SHELF_ENOMEM, "out of memory");
out:
    free(text);
    json_decref(sub);
    json_decref(g);
    return rc;
}
