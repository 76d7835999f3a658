/*
 * kit.c: reads Hydrogen drum kits (drumkit.xml) with libxml2: the kit's
 * name, author and license, and each instrument's name with its sample
 * files.  The document is outside input, so libxml2 runs with no network,
 * no DTD loading and no entity substitution, and a document that declares
 * entities is refused outright (no XXE, no "billion laughs").  libxml2's
 * messages are caught per call and never printed.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include "kit_int.h"

/* Record tags of the list built before any callback runs (see collect). */
#define REC_INSTRUMENT 'I'
#define REC_FILE 'F'

__attribute__((format(printf, 3, 4)))
static void set_reason(char *reason, size_t size, const char *fmt, ...)
{
    va_list ap;

    if (!reason || !size)
        return;
    va_start(ap, fmt);
    vsnprintf(reason, size, fmt, ap);
    va_end(ap);
}

static int is_elem(const xmlNode *n, const char *local)
{
    return n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, local) == 0;
}

static const xmlNode *first_child(const xmlNode *parent, const char *local)
{
    const xmlNode *c;

    for (c = parent->children; c; c = c->next)
        if (is_elem(c, local))
            return c;
    return NULL;
}

/*
 * Put the text of element e into b (reset first): its text and CDATA
 * children, not its descendants, so the result is never longer than the
 * document.  With trim, leading and trailing ASCII white space go.
 */
static int text_of(const xmlNode *e, shelf__buf *b, int trim)
{
    const xmlNode *c;
    size_t start = 0;

    shelf__buf_reset(b);
    if (shelf__buf_grow(b, 0) != SHELF_OK)      /* so b->buf is a string */
        return SHELF_ENOMEM;
    b->buf[0] = '\0';
    for (c = e->children; c; c = c->next)
        if ((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) && c->content &&
            shelf__buf_adds(b, (const char *)c->content) != SHELF_OK)
            return SHELF_ENOMEM;
    if (!trim)
        return SHELF_OK;
    while (b->len && strchr(" \t\r\n", b->buf[b->len - 1]))
        b->buf[--b->len] = '\0';
    while (start < b->len && strchr(" \t\r\n", b->buf[start]))
        start++;
    if (start) {
        memmove(b->buf, b->buf + start, b->len - start + 1);
        b->len -= start;
    }
    return SHELF_OK;
}

/* The trimmed text of parent's first child element local, owned; NULL in
 * *out when there is none or it is empty. */
static int meta(const xmlNode *parent, const char *local, shelf__buf *tmp, char **out)
{
    const xmlNode *e = first_child(parent, local);

    *out = NULL;
    if (!e)
        return SHELF_OK;
    if (text_of(e, tmp, 1) != SHELF_OK)
        return SHELF_ENOMEM;
    if (!tmp->len)
        return SHELF_OK;
    return (*out = shelf__strdup(tmp->buf)) ? SHELF_OK : SHELF_ENOMEM;
}

/* Append a record: its tag, then s with its NUL. */
static int add_rec(shelf__buf *recs, char tag, const char *s, size_t len)
{
    if (shelf__buf_add(recs, &tag, 1) != SHELF_OK || shelf__buf_add(recs, s, len + 1) != SHELF_OK)
        return SHELF_ENOMEM;
    return SHELF_OK;
}

/* Record the file named by <filename> e, after the instrument's record the
 * first time (*named).  Empty names are skipped. */
static int add_file(const xmlNode *e, const char *inst, int *named, shelf__buf *tmp,
                    shelf__buf *recs)
{
    if (text_of(e, tmp, 0) != SHELF_OK)
        return SHELF_ENOMEM;
    if (!tmp->len)
        return SHELF_OK;
    if (!*named) {
        if (add_rec(recs, REC_INSTRUMENT, inst, strlen(inst)) != SHELF_OK)
            return SHELF_ENOMEM;
        *named = 1;
    }
    return add_rec(recs, REC_FILE, tmp->buf, tmp->len);
}

/* The <filename> children of a <layer>. */
static int add_layer(const xmlNode *layer, const char *inst, int *named, shelf__buf *tmp,
                     shelf__buf *recs)
{
    const xmlNode *c;

    for (c = layer->children; c; c = c->next)
        if (is_elem(c, "filename") && add_file(c, inst, named, tmp, recs) != SHELF_OK)
            return SHELF_ENOMEM;
    return SHELF_OK;
}

/*
 * Record the files of one <instrument> in document order: <filename>
 * directly inside (old kits, where it comes before <name>), <layer>, and
 * <instrumentComponent>/<layer>.
 */
static int add_instrument(const xmlNode *ins, shelf__buf *tmp, shelf__buf *recs)
{
    const xmlNode *c, *l, *name = first_child(ins, "name");
    char *inst = NULL;
    int rc = SHELF_ENOMEM, named = 0;

    if (name) {
        if (text_of(name, tmp, 1) != SHELF_OK || !(inst = shelf__strdup(tmp->buf)))
            goto out;
    } else if (!(inst = shelf__strdup(""))) {
        goto out;
    }
    for (c = ins->children; c; c = c->next) {
        if (is_elem(c, "filename")) {
            if (add_file(c, inst, &named, tmp, recs) != SHELF_OK)
                goto out;
        } else if (is_elem(c, "layer")) {
            if (add_layer(c, inst, &named, tmp, recs) != SHELF_OK)
                goto out;
        } else if (is_elem(c, "instrumentComponent")) {
            for (l = c->children; l; l = l->next)
                if (is_elem(l, "layer") && add_layer(l, inst, &named, tmp, recs) != SHELF_OK)
                    goto out;
        }
    }
    rc = SHELF_OK;
out:
    free(inst);
    return rc;
}

/* Read the kit and the records of all its files from the tree. */
static int collect(const xmlNode *root, shelf__kit *kit, shelf__buf *recs)
{
    shelf__buf tmp = SHELF__BUF_INIT;
    const xmlNode *list, *ins;
    int rc = SHELF_ENOMEM;

    if (meta(root, "name", &tmp, &kit->name) != SHELF_OK ||
        (!kit->name && !(kit->name = shelf__strdup(""))) ||
        meta(root, "author", &tmp, &kit->author) != SHELF_OK ||
        meta(root, "license", &tmp, &kit->license) != SHELF_OK ||
        (!kit->license && meta(root, "licence", &tmp, &kit->license) != SHELF_OK))
        goto out;
    for (list = root->children; list; list = list->next) {
        if (!is_elem(list, "instrumentList"))
            continue;
        for (ins = list->children; ins; ins = ins->next)
            if (is_elem(ins, "instrument") && add_instrument(ins, &tmp, recs) != SHELF_OK)
                goto out;
    }
    rc = SHELF_OK;
out:
    shelf__buf_release(&tmp);
    return rc;
}

/* Parse xml into a tree (shelf__xml_read), or fail with the reason. */
static int read_doc(const void *xml, size_t n, xmlDocPtr *out, char *reason, size_t reason_size)
{
    shelf__xml_error st;
    int rc = shelf__xml_read(xml, n, "drumkit.xml", out, &st);

    if (rc != SHELF_EFORMAT)
        return rc;
    if (st.entity_line)
        set_reason(reason, reason_size,
                   "drumkit.xml: entity declarations are not allowed (line %d)", st.entity_line);
    else if (!n)
        set_reason(reason, reason_size, "drumkit.xml: empty file");
    else if (st.failed && st.line > 0)
        set_reason(reason, reason_size, "drumkit.xml: XML error at line %d: %s", st.line, st.msg);
    else
        set_reason(reason, reason_size, "drumkit.xml: XML error: %s",
                   st.failed ? st.msg : "not well-formed");
    return rc;
}

int shelf__kit_parse(const void *xml, size_t n, shelf__kit_file_cb cb, void *ud,
                     char *reason, size_t reason_size)
{
    shelf__buf recs = SHELF__BUF_INIT;
    shelf__kit kit = { NULL, NULL, NULL };
    const xmlNode *root;
    xmlDocPtr doc = NULL;
    const char *p, *end, *inst = "";
    unsigned long failures = shelf__alloc_failures();
    int rc;

    set_reason(reason, reason_size, "%s", "");
    if (n > SHELF__KIT_MAX_BYTES) {
        set_reason(reason, reason_size, "drumkit.xml: too large (%zu bytes, the limit is %zu MiB)",
                   n, SHELF__KIT_MAX_BYTES >> 20);
        return SHELF_EFORMAT;
    }
    if ((rc = read_doc(xml, n, &doc, reason, reason_size)) != SHELF_OK)
        goto out;
    root = xmlDocGetRootElement(doc);
    if (!root || !is_elem(root, "drumkit_info")) {
        set_reason(reason, reason_size, "not a Hydrogen drumkit: root element is '%.64s'",
                   root ? (const char *)root->name : "");
        rc = SHELF_EFORMAT;
        goto out;
    }
    if ((rc = collect(root, &kit, &recs)) != SHELF_OK)
        goto out;
    /* libxml2 absorbs some failed allocations (a namespace read as empty,
     * a text node dropped): any failure here makes the kit unread. */
    if (shelf__alloc_failures() != failures) {
        rc = SHELF_ENOMEM;
        goto out;
    }

    /* Everything that can fail is done: now the callbacks. */
    if (cb && recs.len) {
        for (p = recs.buf, end = recs.buf + recs.len; p < end; p += strlen(p) + 1) {
            if (*p++ == REC_INSTRUMENT)
                inst = p;
            else
                cb(ud, &kit, inst, p);
        }
    }
out:
    if (rc != SHELF_OK && shelf__alloc_failures() != failures)
        rc = SHELF_ENOMEM;      /* whatever libxml2 made of it */
    if (rc == SHELF_ENOMEM)
        set_reason(reason, reason_size, "out of memory");
    shelf__buf_release(&recs);
    free(kit.name);
    free(kit.author);
    free(kit.license);
    xmlFreeDoc(doc);
    return rc;
}
