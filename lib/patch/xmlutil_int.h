/*
 * xmlutil_int.h: the XML helpers the XML patch importers share
 * (xmlutil.c): a safe parse (no network, no entities, no DTD, libxml2's
 * messages caught per call as "FILE:LINE: message"), element and attribute
 * access by local name, and the generic conversion of an element into a
 * parameter group.
 */
#ifndef SHELF_XMLUTIL_INT_H
#define SHELF_XMLUTIL_INT_H

#include <libxml/parser.h>
#include <libxml/tree.h>
#include "formats_int.h"

/* Parse data into *doc (owned: xmlFreeDoc); SHELF_EFORMAT with "FILE:LINE:
 * message" in cx->err. */
int shelf__pfx_read(shelf__pf_ctx *cx, const char *data, size_t n, xmlDocPtr *doc);

/* n is an element named local (namespace ignored). */
int shelf__pfx_is(const xmlNode *n, const char *local);
/* The first child element of parent named local, or NULL. */
xmlNode *shelf__pfx_child(const xmlNode *parent, const char *local);
/* The trimmed text of e (its own text and CDATA children), owned; "" when
 * none; NULL only on no memory. */
char *shelf__pfx_text(const xmlNode *e);
/* The text of parent's child element local (owned), or NULL when there is
 * no such child or it is empty (*rc SHELF_ENOMEM on no memory). */
char *shelf__pfx_child_text(const xmlNode *parent, const char *local, int *rc);
/* The value of attribute name (owned, xmlFree/free), or NULL. */
char *shelf__pfx_attr(const xmlNode *e, const char *name);

/* Add every attribute of e to obj (numbers as numbers), skipping the names
 * in skip (NULL-terminated, may be NULL). */
int shelf__pfx_attrs(shelf__pf_ctx *cx, const xmlNode *e, json_t *obj, const char *const *skip);
/* Add group sub (stolen, also on failure) to obj under name; a name that
 * repeats turns into an array of groups.  0, or -1 when out of memory. */
int shelf__pfx_add_group(json_t *obj, const char *name, json_t *sub);
/*
 * e as a parameter group: its attributes, its child elements as groups by
 * name (an array of groups when a name repeats), its trimmed text as
 * "text" when it has any.  depth counts groups above; deeper than
 * SHELF__PF_MAX_XML_DEPTH fails with "FILE:LINE: nested too deep".
 */
int shelf__pfx_group(shelf__pf_ctx *cx, const xmlNode *e, int depth, json_t **out);

/* "FILE:LINE: message" as SHELF_EFORMAT (line of node n when known). */
int shelf__pfx_fail(shelf__pf_ctx *cx, const xmlNode *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif /* SHELF_XMLUTIL_INT_H */
