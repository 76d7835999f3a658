/*
 * fmt_zyn.c: the ZynAddSubFX / Yoshimi instrument importer (.xiz: XML,
 * usually gzip-compressed; xmlpatch.c inflates it with a size limit).
 *
 * <INSTRUMENT><INFO> gives the name, author, comments and category (Zyn's
 * numeric type, named after the instrument editor's list: 1 Piano ... 16
 * Sound Effects; other numbers are kept as text, 0 means none).  Every
 * other element under <INSTRUMENT> becomes a parameter group named in
 * lowercase; elements with an id attribute become keyed children
 * (params/instrument_kit/instrument_kit_item/0/...).  <par> -> integer,
 * <par_real> -> number (from exact_value, the float's bits in hex, when
 * present, so the value is exact), <par_bool> -> true/false, <string> and
 * <par_str> -> text.  A value whose name is also a group's keeps the group
 * and is stored as NAME_value.  Synthesisers refer to no sample files, so
 * there are no zones.  The creator and format version go to source.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "fmt_xml_int.h"

/* Instrument types, as the instrument editor of ZynAddSubFX lists them. */
static const char *const zyn_types[] = {
    NULL, "Piano", "Chromatic Percussion", "Organ", "Guitar", "Bass", "Solo Strings",
    "Ensemble", "Brass", "Reed", "Pipe", "Synth Lead", "Synth Pad", "Synth Effects",
    "Ethnic", "Percussive", "Sound Effects",
};

static int nomem(shelf__pf_ctx *cx)
{
    return shelf__seterr(cx->err, SHELF_ENOMEM, "out of memory");
}

/* A lowercase copy of s, owned. */
static char *lower(const char *s)
{
    char *d = shelf__strdup(s), *p;

    for (p = d; p && *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return d;
}

/* The value of a <par*> element, or NULL with *rc set (NULL and SHELF_OK:
 * nothing to store). */
static json_t *par_value(shelf__pf_ctx *cx, const xmlNode *e, int *rc)
{
    const char *tag = (const char *)e->name;
    char *v = NULL, *exact = NULL, *end;
    json_t *j = NULL;
    long long i;
    unsigned long bits;
    uint32_t b32;
    float f;
    double d;

    *rc = SHELF_OK;
    if (strcmp(tag, "string") == 0 || strcmp(tag, "par_str") == 0) {
        if (!(v = shelf__pfx_text(e)))
            goto nomem;
        if (*v && !(j = shelf__pf_string(v, strlen(v))))
            goto nomem;
        goto out;
    }
    if (!(v = shelf__pfx_attr(e, "value")))
        goto out;
    if (strcmp(tag, "par_bool") == 0) {
        if (strcasecmp(v, "yes") == 0 || strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0)
            j = json_true();
        else if (strcasecmp(v, "no") == 0 || strcmp(v, "0") == 0 || strcasecmp(v, "false") == 0)
            j = json_false();
        else
            j = shelf__pf_string(v, strlen(v));
    } else if (strcmp(tag, "par_real") == 0) {
        exact = shelf__pfx_attr(e, "exact_value");
        if (exact && (exact[0] == '0' && (exact[1] == 'x' || exact[1] == 'X'))) {
            bits = strtoul(exact + 2, &end, 16);
            if (!*end && end != exact + 2 && bits <= 0xffffffffUL) {
                b32 = (uint32_t)bits;
                memcpy(&f, &b32, sizeof f);
                if (isfinite(f)) {
                    j = json_real((double)f);
                    goto out;
                }
            }
        }
        d = strtod(v, &end);
        j = (end != v && !*end && isfinite(d)) ? json_real(d) : shelf__pf_string(v, strlen(v));
    } else if (shelf__pf_int(v, &i) == 0) {
        j = json_integer(i);
    } else {
        j = shelf__pf_value(v);
    }
    if (!j)
        goto nomem;
    goto out;
nomem:
    *rc = nomem(cx);
out:
    free(v);
    free(exact);
    return j;
}

static int is_par(const xmlNode *e)
{
    const char *t = (const char *)e->name;

    return strcmp(t, "par") == 0 || strcmp(t, "par_real") == 0 || strcmp(t, "par_bool") == 0 ||
           strcmp(t, "string") == 0 || strcmp(t, "par_str") == 0;
}

/* The object obj[key], made when absent; a value there moves to KEY_value. */
static json_t *group_at(json_t *obj, const char *key)
{
    json_t *g = json_object_get(obj, key), *old;
    char *alt;

    if (json_is_object(g))
        return g;
    if (g) {
        if (!(alt = shelf__asprintf("%s_value", key)))
            return NULL;
        old = json_incref(g);
        if (json_object_set_new(obj, alt, old) != 0) {
            free(alt);
            return NULL;
        }
        free(alt);
    }
    if (!(g = json_object()) || json_object_set_new(obj, key, g) != 0)
        return NULL;
    return g;
}

/* Fill obj from the children of e; depth counts groups above obj. */
static int zyn_group(shelf__pf_ctx *cx, const xmlNode *e, json_t *obj, int depth)
{
    const xmlNode *c;
    json_t *v, *g, *prev;
    char *name = NULL, *key = NULL, *id = NULL, *alt;
    int rc = SHELF_OK;

    for (c = e->children; c && rc == SHELF_OK; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (is_par(c)) {
            if (!(name = shelf__pfx_attr(c, "name")) || !*name) {
                free(name);
                name = NULL;
                continue;
            }
            if (!(v = par_value(cx, c, &rc))) {
                free(name);
                name = NULL;
                continue;
            }
            prev = json_object_get(obj, name);
            if (json_is_object(prev)) {
                /* A group has the name already: keep both. */
                if (!(alt = shelf__asprintf("%s_value", name))) {
                    json_decref(v);
                    rc = nomem(cx);
                } else {
                    if (json_object_set_new(obj, alt, v) != 0)
                        rc = nomem(cx);
                    free(alt);
                }
            } else if (json_object_set_new(obj, name, v) != 0) {
                rc = nomem(cx);
            }
            free(name);
            name = NULL;
            continue;
        }
        if (depth + 2 >= SHELF__PF_MAX_XML_DEPTH)
            return shelf__pfx_fail(cx, c, "nested too deep");
        if (!(key = lower((const char *)c->name)))
            return nomem(cx);
        id = shelf__pfx_attr(c, "id");
        if (!(g = group_at(obj, key)) || (id && !(g = group_at(g, *id ? id : "_"))))
            rc = nomem(cx);
        else
            rc = zyn_group(cx, c, g, depth + (id ? 2 : 1));
        free(key);
        free(id);
        key = id = NULL;
    }
    return rc;
}

int shelf__zyn_parse(shelf__pf_ctx *cx, const xmlNode *root, json_t *doc)
{
    const xmlNode *ins, *info, *c, *information;
    json_t *params = NULL, *src = json_object_get(doc, "source"), *v;
    char *name = NULL, *author = NULL, *comments = NULL, *t = NULL, *maj = NULL, *min = NULL,
         *rev = NULL, *yosh = NULL;
    long long type = 0;
    int rc = SHELF_OK;

    if (!shelf__pfx_is(root, "ZynAddSubFX-data")) {
        rc = shelf__pfx_fail(cx, root, "not a ZynAddSubFX instrument: root element is '%.64s'",
                             (const char *)root->name);
        goto out;
    }
    if (!(ins = shelf__pfx_child(root, "INSTRUMENT"))) {
        rc = shelf__pfx_fail(cx, root, "no <INSTRUMENT> in this file");
        goto out;
    }
    if ((info = shelf__pfx_child(ins, "INFO")) != NULL) {
        for (c = info->children; c; c = c->next) {
            if (c->type != XML_ELEMENT_NODE || !is_par(c))
                continue;
            free(t);
            if (!(t = shelf__pfx_attr(c, "name")))
                continue;
            if (strcmp(t, "name") == 0 || strcmp(t, "author") == 0 || strcmp(t, "comments") == 0) {
                char **dst = t[0] == 'n' ? &name : t[0] == 'a' ? &author : &comments;

                free(*dst);
                if (!(*dst = shelf__pfx_text(c)))
                    goto nomem;
            } else if (strcmp(t, "type") == 0) {
                char *val = shelf__pfx_attr(c, "value");

                if (val && shelf__pf_int(val, &type) != 0)
                    type = -1;
                free(val);
            }
        }
    }
    if ((rc = shelf__pf_set_name(cx, doc, name)) != SHELF_OK)
        goto out;
    if (shelf__pf_set_text(doc, "author", author) != SHELF_OK ||
        shelf__pf_set_text(doc, "comment", comments) != SHELF_OK)
        goto nomem;
    if (type > 0 && type < (long long)(sizeof zyn_types / sizeof zyn_types[0])) {
        if (shelf__pf_set_text(doc, "category", zyn_types[type]) != SHELF_OK)
            goto nomem;
    } else if (type != 0) {
        char num[32];

        snprintf(num, sizeof num, "%lld", type);
        if (type > 0 && shelf__pf_set_text(doc, "category", num) != SHELF_OK)
            goto nomem;
    }

    /* Where it came from. */
    yosh = shelf__pfx_attr(root, "Yoshimi-major");
    maj = shelf__pfx_attr(root, "version-major");
    min = shelf__pfx_attr(root, "version-minor");
    rev = shelf__pfx_attr(root, "version-revision");
    if (json_object_set_new(src, "creator", json_string(yosh ? "Yoshimi" : "ZynAddSubFX")) != 0)
        goto nomem;
    if (maj) {
        char *ver = shelf__asprintf("%s.%s%s%s", maj, min ? min : "0", rev ? "." : "",
                                    rev ? rev : "");

        if (!ver || shelf__pf_set_text(src, "version", ver) != SHELF_OK) {
            free(ver);
            goto nomem;
        }
        free(ver);
    }
    if ((information = shelf__pfx_child(root, "INFORMATION")) != NULL) {
        for (c = information->children; c; c = c->next) {
            if (!shelf__pfx_is(c, "par_bool"))
                continue;
            free(t);
            if ((t = shelf__pfx_attr(c, "name")) && strcmp(t, "PADsynth_used") == 0) {
                if (!(v = par_value(cx, c, &rc)))
                    goto out;
                if (json_object_set_new(src, "padsynth_used", v) != 0)
                    goto nomem;
            }
        }
    }

    if (!(params = json_object()))
        goto nomem;
    for (c = ins->children; c; c = c->next) {
        char *key;
        json_t *g;

        if (c->type != XML_ELEMENT_NODE || shelf__pfx_is(c, "INFO"))
            continue;
        if (is_par(c)) {
            /* Values directly in <INSTRUMENT> (none known, but keep them). */
            free(t);
            if (!(t = shelf__pfx_attr(c, "name")))
                continue;
            v = par_value(cx, c, &rc);
            if (rc != SHELF_OK)
                goto out;
            if (v && *t && json_object_set_new(params, t, v) != 0)
                goto nomem;
            if (v && !*t)
                json_decref(v);
            free(t);
            t = NULL;
            continue;
        }
        if (!(key = lower((const char *)c->name)))
            goto nomem;
        g = group_at(params, key);
        free(key);
        if (!g)
            goto nomem;
        if ((rc = zyn_group(cx, c, g, 1)) != SHELF_OK)
            goto out;
    }
    if (json_object_size(params) && json_object_set(doc, "params", params) != 0)
        goto nomem;
    goto out;
nomem:
    rc = nomem(cx);
out:
    json_decref(params);
    free(name);
    free(author);
    free(comments);
    free(t);
    free(maj);
    free(min);
    free(rev);
    free(yosh);
    return rc;
}
