/*
 * fmt_xml_int.h: the XML patch formats that xmlpatch.c hands on
 * (fmt_zyn.c, fmt_lmms.c); the helpers they share are in xmlutil_int.h.
 */
#ifndef SHELF_FMT_XML_INT_H
#define SHELF_FMT_XML_INT_H

#include "xmlutil_int.h"

int shelf__zyn_parse(shelf__pf_ctx *cx, const xmlNode *root, json_t *doc);
int shelf__lmms_parse(shelf__pf_ctx *cx, const xmlNode *root, json_t *doc);

#endif /* SHELF_FMT_XML_INT_H */
