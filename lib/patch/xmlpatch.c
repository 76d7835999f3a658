/*
 * xmlpatch.c: the XML patch formats' entry (shelf__xml_patch_parse, which
 * hands ZynAddSubFX and LMMS to fmt_zyn.c and fmt_lmms.c) and two formats
 * of its own (the shared XML helpers are in xmlutil.c):
 *
 *  - Hydrogen drumkit.xml: kit name, author, info (-> comment), license
 *    (-> params/license); one zone per layer of each instrument, in all
 *    three layouts (<filename> directly in <instrument> before 0.9.4,
 *    <layer>, <instrumentComponent><layer> since 0.9.7).  Instrument i
 *    (0-based, in list order) plays MIDI note 36 + i, the first General
 *    MIDI drum note, as key and root (instruments past note 127 get no
 *    key).  A layer's velocity range min..max (0..1) becomes vel
 *    [ceil(min * 127), floor(max * 127)], which picks the layer for the
 *    same MIDI velocities Hydrogen does.  Zone params: the layer's gain
 *    and pitch, the instrument's volume, pan_L, pan_R (or pan) and
 *    muteGroup; the zone name is the instrument's name.
 *  - Decent Sampler .dspreset: <groups> -> <group> -> <sample> attributes
 *    are inherited downwards; path -> sample, rootNote -> root,
 *    loNote/hiNote -> key, loVel/hiVel -> vel, seqPosition -> rr,
 *    loopStart/loopEnd/loopEnabled -> loop, the group's name -> zone
 *    group, the rest -> zone params.  <effects> -> params/effects (in
 *    order), <midi> and <modulators> -> params; <ui> is left out.
 *
 * ZynAddSubFX and LMMS are in fmt_zyn.c and fmt_lmms.c.
 */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "fmt_xml_int.h"

/* Get or make the params group of doc. */
static json_t *params_of(json_t *doc)
{
    json_t *p = json_object_get(doc, "params");

    if (!p && (!(p = json_object()) || json_object_set_new(doc, "params", p) != 0))
        return NULL;
    return p;
}

/* ---- Hydrogen -------------------------------------------------------------- */

static double layer_num(const xmlNode *layer, const char *local, double dflt)
{
    xmlNode *c = layer ? shelf__pfx_child(layer, local) : NULL;
    char *t, *end;
    double d;

    if (!c || !(t = shelf__pfx_text(c)))
        return dflt;
    d = strtod(t, &end);
    if (end == t || *end || !isfinite(d))
        d = dflt;
    free(t);
    return d;
}

/* Copy the trimmed text of parent's child local into obj[key] as a value. */
static int text_value(shelf__pf_ctx *cx, const xmlNode *parent, const char *local, json_t *obj,
                      const char *key)
{
    int rc = SHELF_OK;
    char *t = shelf__pfx_child_text(parent, local, &rc);
    json_t *v;

    if (!t)
        return rc == SHELF_OK ? SHELF_OK : shelf__seterr(cx->err, rc, "out of memory");
    v = shelf__pf_value(t);
    free(t);
    if (!v || json_object_set_new(obj, key, v) != 0)
        return shelf__seterr(cx->err, SHELF_ENOMEM, "out of memory");
    return SHELF_OK;
}

/* One zone for the sample named by <filename> fname (of layer, or NULL for
 * the oldest layout). */
static int h2_zone(shelf__pf_ctx *cx, json_t *doc, int note, const char *iname,
                   const json_t *iparams, const xmlNode *layer, const xmlNode *fname)
{
    json_t *z = NULL, *params = NULL;
    char *file = shelf__pfx_text(fname);
    double mn, mx;
    long lo, hi;
    int rc;

    if (!file)
        return shelf__seterr(cx->err, SHELF_ENOMEM, "out of memory");
    if (!*file) {
        free(file);
        return SHELF_OK;
    }
    if (!(z = json_object()) || !(params = json_copy((json_t *)iparams)))
        goto nomem;
    if ((rc = shelf__pf_zone_sample(cx, z, file, NULL, NULL)) != SHELF_OK)
        goto out;
    if (note <= 127 && (json_object_set_new(z, "key", shelf__pf_range(note, note)) != 0 ||
                        json_object_set_new(z, "root", json_integer(note)) != 0))
        goto nomem;
    mn = layer_num(layer, "min", 0.0);
    mx = layer_num(layer, "max", 1.0);
    mn = mn < 0 ? 0 : mn > 1 ? 1 : mn;
    mx = mx < 0 ? 0 : mx > 1 ? 1 : mx;
    lo = (long)ceil(mn * 127 - 1e-9);
    hi = (long)floor(mx * 127 + 1e-9);
    if (lo > hi)
        lo = hi = lround(mn * 127);
    if (json_object_set_new(z, "vel", shelf__pf_range(lo, hi)) != 0)
        goto nomem;
    if (layer && ((rc = text_value(cx, layer, "gain", params, "gain")) != SHELF_OK ||
                  (rc = text_value(cx, layer, "pitch", params, "pitch")) != SHELF_OK))
        goto out;
    if (shelf__pf_set_text(z, "name", iname) != SHELF_OK)
        goto nomem;
    if (json_object_size(params) && json_object_set(z, "params", params) != 0)
        goto nomem;
    rc = shelf__pf_add_zone(cx, doc, z);
    z = NULL;
    goto out;
nomem:
    rc = shelf__seterr(cx->err, SHELF_ENOMEM, "out of memory");
out:
    free(file);
    json_decref(params);
    json_decref(z);
    return rc;
}

static int hydrogen(shelf__pf_ctx *cx, const xmlNode *root, json_t *doc)
{
    static const char *const inst_fields[] = { "volume", "pan_L", "pan_R", "pan", "muteGroup", NULL };
    char *name = NULL, *author = NULL, *info = NULL, *license = NULL, *iname = NULL;
    const xmlNode *list, *ins, *c, *l;
    json_t *iparams = NULL, *params;
    int rc = SHELF_OK, idx = 0, note, i;

    if (!shelf__pfx_is(root, "drumkit_info")) {
        rc = shelf__pfx_fail(cx, root, "not a Hydrogen drumkit: root element is '%.64s'",
                             (const char *)root->name);
        goto out;
    }
    name = shelf__pfx_child_text(root, "name", &rc);
    author = shelf__pfx_child_text(root, "author", &rc);
    info = shelf__pfx_child_text(root, "info", &rc);
    license = shelf__pfx_child_text(root, "license", &rc);
    if (!license)
        license = shelf__pfx_child_text(root, "licence", &rc);
    if (rc != SHELF_OK)
        goto nomem;
    if ((rc = shelf__pf_set_name(cx, doc, name)) != SHELF_OK)
        goto out;
    if (shelf__pf_set_text(doc, "author", author) != SHELF_OK ||
        shelf__pf_set_text(doc, "comment", info) != SHELF_OK)
        goto nomem;
    if (license && (!(params = params_of(doc)) ||
                    shelf__pf_set_text(params, "license", license) != SHELF_OK))
        goto nomem;
    for (list = root->children; list; list = list->next) {
        if (!shelf__pfx_is(list, "instrumentList"))
            continue;
        for (ins = list->children; ins; ins = ins->next) {
            if (!shelf__pfx_is(ins, "instrument"))
                continue;
            note = 36 + idx++;
            json_decref(iparams);
            iparams = NULL;     /* freed once, also when the next line fails */
            free(iname);
            iname = shelf__pfx_child_text(ins, "name", &rc);
            if (rc != SHELF_OK || !(iparams = json_object()))
                goto nomem;
            for (i = 0; inst_fields[i]; i++)
                if ((rc = text_value(cx, ins, inst_fields[i], iparams, inst_fields[i])) != SHELF_OK)
                    goto out;
            for (c = ins->children; c; c = c->next) {
                if (shelf__pfx_is(c, "filename")) {
                    rc = h2_zone(cx, doc, note, iname, iparams, NULL, c);
                } else if (shelf__pfx_is(c, "layer")) {
                    if ((l = shelf__pfx_child(c, "filename")) != NULL)
                        rc = h2_zone(cx, doc, note, iname, iparams, c, l);
                } else if (shelf__pfx_is(c, "instrumentComponent")) {
                    for (l = c->children; l && rc == SHELF_OK; l = l->next)
                        if (shelf__pfx_is(l, "layer") && shelf__pfx_child(l, "filename"))
                            rc = h2_zone(cx, doc, note, iname, iparams, l,
                                         shelf__pfx_child(l, "filename"));
                }
                if (rc != SHELF_OK)
                    goto out;
            }
        }
    }
    goto out;
nomem:
    rc = shelf__seterr(cx->err, SHELF_ENOMEM, "out of memory");
out:
    json_decref(iparams);
    free(iname);
    free(name);
    free(author);
    free(info);
    free(license);
    return rc;
}

/* ---- Decent Sampler -------------------------------------------------------- */

/* merged[key] as an integer in min..max; *found 0 when absent. */
static int ds_int(shelf__pf_ctx *cx, const xmlNode *n, json_t *merged, const char *key,
                  long long min, long long max, long long *out, int *found)
{
    json_t *v = json_object_get(merged, key);

    *found = 0;
    if (!v)
        return SHELF_OK;
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
    } else if (json_is_real(v) && floor(json_real_value(v)) == json_real_value(v) &&
               fabs(json_real_value(v)) < 1e15) {
        *out = (long long)json_real_value(v);
    } else {
        return shelf__pfx_fail(cx, n, "bad number '%.64s' for %s",
                               json_is_string(v) ? json_string_value(v) : "?", key);
    }
    if (*out < min || *out > max)
        return shelf__pfx_fail(cx, n, "%s=%lld is out of range (%lld to %lld)", key, *out, min,
                               max);
    *found = 1;
    json_object_del(merged, key);
    return SHELF_OK;
}

static int ds_sample(shelf__pf_ctx *cx, json_t *doc, const xmlNode *smp, json_t *inherited,
                     const char *group)
{
    json_t *merged = json_copy(inherited), *z = json_object(), *v, *loop = NULL;
    long long root, lo, hi, vlo, vhi, rr, ls, le;
    int rc, f_root, f_lo, f_hi, f_vlo, f_vhi, f_rr, f_ls, f_le, enabled = -1;
    char *path = NULL;

    if (!merged || !z)
        goto nomem;
    if ((rc = shelf__pfx_attrs(cx, smp, merged, NULL)) != SHELF_OK)
        goto out;
    v = json_object_get(merged, "path");
    if (!v || (json_is_string(v) && !json_string_length(v))) {
        rc = shelf__pfx_fail(cx, smp, "<sample> without a path");
        goto out;
    }
    /* A path that looks like a number was made one: back to text. */
    if (json_is_string(v))
        path = shelf__strdup(json_string_value(v));
    else if (json_is_integer(v))
        path = shelf__asprintf("%lld", (long long)json_integer_value(v));
    else
        path = shelf__asprintf("%.17g", json_real_value(v));
    if (!path)
        goto nomem;
    json_object_del(merged, "path");
    if ((rc = shelf__pf_zone_sample(cx, z, path, NULL, NULL)) != SHELF_OK)
        goto out;
    if ((rc = ds_int(cx, smp, merged, "rootNote", 0, 127, &root, &f_root)) != SHELF_OK ||
        (rc = ds_int(cx, smp, merged, "loNote", 0, 127, &lo, &f_lo)) != SHELF_OK ||
        (rc = ds_int(cx, smp, merged, "hiNote", 0, 127, &hi, &f_hi)) != SHELF_OK ||
        (rc = ds_int(cx, smp, merged, "loVel", 0, 127, &vlo, &f_vlo)) != SHELF_OK ||
        (rc = ds_int(cx, smp, merged, "hiVel", 0, 127, &vhi, &f_vhi)) != SHELF_OK ||
        (rc = ds_int(cx, smp, merged, "seqPosition", 1, 1000000, &rr, &f_rr)) != SHELF_OK ||
        (rc = ds_int(cx, smp, merged, "loopStart", 0, (long long)1 << 53, &ls, &f_ls)) != SHELF_OK ||
        (rc = ds_int(cx, smp, merged, "loopEnd", 0, (long long)1 << 53, &le, &f_le)) != SHELF_OK)
        goto out;
    if ((v = json_object_get(merged, "loopEnabled")) != NULL) {
        if (json_is_string(v) && strcasecmp(json_string_value(v), "true") == 0)
            enabled = 1;
        else if (json_is_string(v) && strcasecmp(json_string_value(v), "false") == 0)
            enabled = 0;
        else if (json_is_integer(v) && (json_integer_value(v) == 0 || json_integer_value(v) == 1))
            enabled = (int)json_integer_value(v);
        else {
            rc = shelf__pfx_fail(cx, smp, "loopEnabled must be true or false");
            goto out;
        }
        json_object_del(merged, "loopEnabled");
    }
    if (f_root && json_object_set_new(z, "root", json_integer(root)) != 0)
        goto nomem;
    if (f_lo || f_hi) {
        lo = f_lo ? lo : 0;
        hi = f_hi ? hi : 127;
        if (lo > hi) {
            rc = shelf__pfx_fail(cx, smp, "loNote %lld is above hiNote %lld", lo, hi);
            goto out;
        }
        if (json_object_set_new(z, "key", shelf__pf_range(lo, hi)) != 0)
            goto nomem;
    }
    if (f_vlo || f_vhi) {
        vlo = f_vlo ? vlo : 1;
        vhi = f_vhi ? vhi : 127;
        if (vlo > vhi) {
            rc = shelf__pfx_fail(cx, smp, "loVel %lld is above hiVel %lld", vlo, vhi);
            goto out;
        }
        if (json_object_set_new(z, "vel", shelf__pf_range(vlo, vhi)) != 0)
            goto nomem;
    }
    if (f_rr && json_object_set_new(z, "rr", json_integer(rr)) != 0)
        goto nomem;
    if (f_ls || f_le || enabled >= 0) {
        if (f_ls && f_le && ls > le) {
            rc = shelf__pfx_fail(cx, smp, "loopStart %lld is after loopEnd %lld", ls, le);
            goto out;
        }
        if (!(loop = json_object()))
            goto nomem;
        if ((enabled >= 0 &&
             json_object_set_new(loop, "mode",
                                 json_string(enabled ? "loop_continuous" : "no_loop")) != 0) ||
            (f_ls && json_object_set_new(loop, "start", json_integer(ls)) != 0) ||
            (f_le && json_object_set_new(loop, "end", json_integer(le)) != 0)) {
            json_decref(loop);
            goto nomem;
        }
        if (json_object_set_new(z, "loop", loop) != 0)
            goto nomem;
    }
    if ((v = json_object_get(merged, "name")) != NULL) {
        if (json_is_string(v) && shelf__pf_set_text(z, "name", json_string_value(v)) != SHELF_OK)
            goto nomem;
        if (json_is_string(v))
            json_object_del(merged, "name");
    }
    if (shelf__pf_set_text(z, "group", group) != SHELF_OK)
        goto nomem;
    if (json_object_size(merged) && json_object_set(z, "params", merged) != 0)
        goto nomem;
    rc = shelf__pf_add_zone(cx, doc, z);
    z = NULL;
    goto out;
nomem:
    rc = shelf__seterr(cx->err, SHELF_ENOMEM, "out of memory");
out:
    free(path);
    json_decref(merged);
    json_decref(z);
    return rc;
}

static int dspreset(shelf__pf_ctx *cx, const xmlNode *root, json_t *doc)
{
    static const char *const skip_name[] = { "name", NULL };
    const xmlNode *g0, *g, *smp, *c;
    json_t *a0 = NULL, *a1 = NULL, *params, *sub = NULL, *effects;
    char *gname = NULL;
    int rc = SHELF_OK;

    if (!shelf__pfx_is(root, "DecentSampler")) {
        rc = shelf__pfx_fail(cx, root, "not a Decent Sampler preset: root element is '%.64s'",
                             (const char *)root->name);
        goto out;
    }
    if ((rc = shelf__pf_set_name(cx, doc, NULL)) != SHELF_OK)
        goto out;
    for (g0 = root->children; g0; g0 = g0->next) {
        if (shelf__pfx_is(g0, "groups")) {
            json_decref(a0);
            if (!(a0 = json_object()))
                goto nomem;
            if ((rc = shelf__pfx_attrs(cx, g0, a0, skip_name)) != SHELF_OK)
                goto out;
            for (g = g0->children; g; g = g->next) {
                if (!shelf__pfx_is(g, "group"))
                    continue;
                json_decref(a1);
                free(gname);
                gname = shelf__pfx_attr(g, "name");
                if (!(a1 = json_copy(a0)))
                    goto nomem;
                if ((rc = shelf__pfx_attrs(cx, g, a1, skip_name)) != SHELF_OK)
                    goto out;
                for (smp = g->children; smp; smp = smp->next)
                    if (shelf__pfx_is(smp, "sample") &&
                        (rc = ds_sample(cx, doc, smp, a1, gname)) != SHELF_OK)
                        goto out;
            }
        } else if (shelf__pfx_is(g0, "effects")) {
            if (!(params = params_of(doc)))
                goto nomem;
            if (!(effects = json_object_get(params, "effects"))) {
                if (!(effects = json_array()) || json_object_set_new(params, "effects", effects) != 0)
                    goto nomem;
            }
            for (c = g0->children; c; c = c->next) {
                if (!shelf__pfx_is(c, "effect"))
                    continue;
                if ((rc = shelf__pfx_group(cx, c, 2, &sub)) != SHELF_OK)
                    goto out;
                if (json_array_append_new(effects, sub) != 0)
                    goto nomem;
            }
            if (!json_array_size(effects))
                json_object_del(params, "effects");
        } else if (shelf__pfx_is(g0, "midi") || shelf__pfx_is(g0, "modulators")) {
            if (!(params = params_of(doc)))
                goto nomem;
            if ((rc = shelf__pfx_group(cx, g0, 1, &sub)) != SHELF_OK)
                goto out;
            if (json_object_size(sub)) {
                if (json_object_set_new(params, (const char *)g0->name, sub) != 0)
                    goto nomem;
            } else {
                json_decref(sub);
            }
        }
    }
    if ((params = json_object_get(doc, "params")) && !json_object_size(params))
        json_object_del(doc, "params");
    goto out;
nomem:
    rc = shelf__seterr(cx->err, SHELF_ENOMEM, "out of memory");
out:
    free(gname);
    json_decref(a0);
    json_decref(a1);
    return rc;
}

/* ---- dispatch -------------------------------------------------------------- */

/* ZynAddSubFX 2 and 3 write <?xml version="1.0f" ...?>, which libxml2
 * refuses: drop the "f" (the line numbers stay). */
static void zyn_fix_version(char *data, size_t *n)
{
    static const char bad[] = "version=\"1.0f\"";
    char *p = data, *end, *v;

    while (p < data + *n && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
        p++;
    if ((size_t)(data + *n - p) < 6 || memcmp(p, "<?xml", 5) != 0)
        return;
    if (!(end = memchr(p, '>', (size_t)(data + *n - p))))
        return;
    *end = '\0';
    v = strstr(p, bad);
    *end = '>';
    if (!v)
        return;
    v += sizeof bad - 3;        /* at the f */
    memmove(v, v + 1, (size_t)(data + *n - v - 1));
    (*n)--;
    data[*n] = '\0';
}

int shelf__xml_patch_parse(shelf__pf_ctx *cx, int format, const char *data, size_t n,
                           json_t **out)
{
    xmlDocPtr xdoc = NULL;
    json_t *doc = NULL;
    char *plain = NULL;
    size_t pn;
    int rc;

    *out = NULL;
    if (format == SHELF__PF_ZYN) {
        if ((rc = shelf__pf_gunzip(cx, data, n, SHELF__PF_MAX_BYTES, &plain, &pn)) != SHELF_OK)
            return rc;
        data = plain;
        n = pn;
        zyn_fix_version(plain, &n);
    }
    if ((rc = shelf__pfx_read(cx, data, n, &xdoc)) != SHELF_OK ||
        (rc = shelf__pf_new_doc(cx, format, &doc)) != SHELF_OK)
        goto out;
    switch (format) {
    case SHELF__PF_HYDROGEN:
        rc = hydrogen(cx, xmlDocGetRootElement(xdoc), doc);
        break;
    case SHELF__PF_DSPRESET:
        rc = dspreset(cx, xmlDocGetRootElement(xdoc), doc);
        break;
    case SHELF__PF_ZYN:
        rc = shelf__zyn_parse(cx, xmlDocGetRootElement(xdoc), doc);
        break;
    case SHELF__PF_LMMS:
        rc = shelf__lmms_parse(cx, xmlDocGetRootElement(xdoc), doc);
        break;
    default:
        rc = shelf__seterr(cx->err, SHELF_EINVAL, "%s: not an XML patch format", cx->name);
    }
    if (rc == SHELF_OK) {
        *out = doc;
        doc = NULL;
    }
out:
    json_decref(doc);
    xmlFreeDoc(xdoc);
    free(plain);
    return rc;
}
