/*
 * xml.c: the one way libshelf reads XML from outside (Hydrogen kits, patch
 * files): libxml2 from memory with no network, no DTD loading and no
 * entity substitution, any <!ENTITY> declaration refused outright (no XXE,
 * no "billion laughs"), and libxml2's messages caught per call, turned
 * into one lowercase line and never printed.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include "common_int.h"

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void xml_init(void)
{
    /* Once per process; never xmlCleanupParser: the program or another
     * library may be using libxml2 too. */
    shelf__global_init();
    xmlInitParser();
}

/* Keep the first error: later ones are mostly its consequences. */
static void note_error(shelf__xml_error *st, const xmlError *e)
{
    size_t i, n;

    if (e->level < XML_ERR_ERROR)
        return;
    if (e->code == XML_ERR_NO_MEMORY || e->domain == XML_FROM_MEMORY)
        st->nomem = 1;
    if (st->failed)
        return;
    st->failed = 1;
    st->line = e->line;
    snprintf(st->msg, sizeof st->msg, "%s", e->message ? e->message : "malformed");
    /* libxml2's messages are sentences ending in "\n"; ours are lowercase
     * lines with no full stop. */
    n = strlen(st->msg);
    while (n && (st->msg[n - 1] == '\n' || st->msg[n - 1] == ' ' || st->msg[n - 1] == '.'))
        st->msg[--n] = '\0';
    for (i = 0; i < n; i++)
        if ((unsigned char)st->msg[i] < ' ')
            st->msg[i] = ' ';
    if (n && isupper((unsigned char)st->msg[0]) && !(n > 1 && isupper((unsigned char)st->msg[1])))
        st->msg[0] = (char)tolower((unsigned char)st->msg[0]);
}

/* The parser context's structured error hook (its data is the context). */
static void on_ctxt_error(void *data, xmlErrorPtr e)
{
    xmlParserCtxtPtr ctxt = data;

    note_error(ctxt->_private, e);
}

/* This thread's global hook, for the few errors raised without a context
 * (encoding conversion), which libxml2 would otherwise print to stderr. */
static void on_global_error(void *data, xmlErrorPtr e)
{
    note_error(data, e);
}

/* Any <!ENTITY> (general or parameter) ends the parse. */
static void on_entity_decl(void *data, const xmlChar *name, int type, const xmlChar *public_id,
                           const xmlChar *system_id, xmlChar *content)
{
    xmlParserCtxtPtr ctxt = data;
    shelf__xml_error *st = ctxt->_private;

    (void)name, (void)type, (void)public_id, (void)system_id, (void)content;
    if (!st->entity_line)
        st->entity_line = ctxt->input && ctxt->input->line > 0 ? ctxt->input->line : 1;
    xmlStopParser(ctxt);
}

int shelf__xml_read(const void *data, size_t n, const char *name, struct _xmlDoc **out,
                    shelf__xml_error *st)
{
    xmlStructuredErrorFunc old_handler;
    void *old_data;
    xmlParserCtxtPtr ctxt;
    xmlDocPtr doc;
    unsigned long failures = shelf__alloc_failures();

    *out = NULL;
    memset(st, 0, sizeof *st);
    if (n > (size_t)INT32_MAX) {
        st->failed = 1;
        snprintf(st->msg, sizeof st->msg, "too large");
        return SHELF_EFORMAT;
    }
    pthread_once(&xml_once, xml_init);
    /* Before the context: its own allocation failure is reported (and
     * would be printed) without one. */
    old_handler = xmlStructuredError;
    old_data = xmlStructuredErrorContext;
    xmlSetStructuredErrorFunc(st, on_global_error);
    if (!(ctxt = xmlNewParserCtxt())) {
        xmlSetStructuredErrorFunc(old_data, old_handler);
        st->nomem = 1;
        return SHELF_ENOMEM;
    }
    ctxt->_private = st;
    /* The context has its own copy of the SAX table. */
    ctxt->sax->serror = on_ctxt_error;
    ctxt->sax->entityDecl = on_entity_decl;
    /* No XML_PARSE_NOENT, XML_PARSE_DTDLOAD, XML_PARSE_HUGE or XINCLUDE. */
    doc = xmlCtxtReadMemory(ctxt, n ? data : "", (int)n, name, NULL,
                            XML_PARSE_NONET | XML_PARSE_NOBLANKS | XML_PARSE_NOERROR |
                                XML_PARSE_NOWARNING | XML_PARSE_NOCDATA);
    xmlSetStructuredErrorFunc(old_data, old_handler);
    xmlFreeParserCtxt(ctxt);
    /* libxml2 absorbs some failed allocations into a wrong tree or a
     * syntax error ("empty XML namespace"): any failure is out of memory. */
    if (shelf__alloc_failures() != failures)
        st->nomem = 1;
    if (st->nomem || st->entity_line || !doc || st->failed) {
        xmlFreeDoc(doc);
        return st->nomem ? SHELF_ENOMEM : SHELF_EFORMAT;
    }
    *out = doc;
    return SHELF_OK;
}
