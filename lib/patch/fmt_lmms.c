/*
 * fmt_lmms.c: the LMMS instrument preset importer (.xpf).  The root is
 * <lmms-project> (or <multimedia-project>, <multimediaproject> in older
 * files) with <instrumenttracksettings> and in it <instrumenttrack>.
 *
 * LMMS 0.0.9 wrote <channelsettings><channeltrack> with baseoct and
 * basetone (basenote = baseoct * 12 + basetone); both layouts are read.
 *
 * The preset's name is the track's name.  params/track holds the
 * attributes of both (numbers as numbers).  The instrument plugin is the
 * element inside <instrument name="..."> (LMMS 1.0 and later) or, in older
 * presets, the child of <instrumenttrack> that is not one of the track's
 * own parts (eldata, arpeggiator, ...): its name goes to params/instrument
 * and source.plugin, its attributes and children to params/<plugin>.  The
 * track's other parts (eldata, arpeggiator, chordcreator, midiport, fxchain)
 * become groups of params too.
 *
 * Sample-playing plugins (audiofileprocessor, slicert) make one zone from
 * their src attribute, resolved against the preset's folder, then LMMS's
 * factory samples (/usr/share/lmms/samples) and the user's (~/.lmms/samples,
 * ~/lmms/samples).  Its root is the track's basenote + 12 (LMMS counts notes
 * from C0, MIDI from C-1; the default 57 is A4 = MIDI 69); looped="1" or
 * "2" (ping-pong) gives loop mode loop_continuous; the plugin's other
 * attributes (start and end as fractions of the sample, amp, reversed...)
 * are zone params.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fmt_xml_int.h"

#define LMMS_FACTORY_SAMPLES "/usr/share/lmms/samples"

/* Parts of a track that are not the instrument. */
static const char *const track_parts[] = {
    "eldata", "arpeggiator", "chordcreator", "arpandchords", "midiport", "fxchain",
    "connection", "midicontrollers", "automationpattern", "pattern", "instrument", NULL,
};

/* Plugins that play a sample file named by src. */
static const char *const sample_plugins[] = { "audiofileprocessor", "slicert", NULL };

static int nomem(shelf__pf_ctx *cx)
{
    return shelf__seterr(cx->err, SHELF_ENOMEM, "out of memory");
}

static int in_list(const char *s, const char *const *list)
{
    size_t i;

    for (i = 0; list[i]; i++)
        if (strcmp(s, list[i]) == 0)
            return 1;
    return 0;
}

static int sample_zone(shelf__pf_ctx *cx, json_t *doc, const xmlNode *track, const xmlNode *plugin)
{
    static const char *const skip[] = { "src", NULL };
    char *src = shelf__pfx_attr(plugin, "src"), *base = NULL, *h1 = NULL, *h2 = NULL;
    const char *bases[4] = { LMMS_FACTORY_SAMPLES, NULL, NULL, NULL };
    const char *home = getenv("HOME");
    json_t *z = NULL, *params = NULL, *loop;
    long long note = 57, looped = 0;
    int rc = SHELF_OK;

    if (!src || !*src)
        goto out;
    if (home && *home) {
        if (!(h1 = shelf__path_join(home, ".lmms/samples")) ||
            !(h2 = shelf__path_join(home, "lmms/samples")))
            goto nomem;
        bases[1] = h1;
        bases[2] = h2;
    }
    if (!(z = json_object()) || !(params = json_object()))
        goto nomem;
    if ((rc = shelf__pf_zone_sample(cx, z, src, NULL, cx->dir ? bases : NULL)) != SHELF_OK)
        goto out;
    if ((base = shelf__pfx_attr(track, "basenote")) != NULL) {
        if (shelf__pf_int(base, &note) != 0)
            note = 57;
    } else {
        char *oct = shelf__pfx_attr(track, "baseoct"), *tone = shelf__pfx_attr(track, "basetone");
        long long o, t;

        if (oct && tone && shelf__pf_int(oct, &o) == 0 && shelf__pf_int(tone, &t) == 0 &&
            o >= -2 && o <= 12 && t >= 0 && t < 12)
            note = o * 12 + t;
        free(oct);
        free(tone);
    }
    if (note < -12 || note > 115)
        note = 57;
    if (json_object_set_new(z, "root", json_integer(note + 12)) != 0)
        goto nomem;
    if ((rc = shelf__pfx_attrs(cx, plugin, params, skip)) != SHELF_OK)
        goto out;
    if (json_is_integer(json_object_get(params, "looped")))
        looped = json_integer_value(json_object_get(params, "looped"));
    if (looped == 1 || looped == 2) {
        if (!(loop = json_pack("{s:s}", "mode", "loop_continuous")) ||
            json_object_set_new(z, "loop", loop) != 0)
            goto nomem;
    }
    if (json_object_size(params) && json_object_set(z, "params", params) != 0)
        goto nomem;
    rc = shelf__pf_add_zone(cx, doc, z);
    z = NULL;
    goto out;
nomem:
    rc = nomem(cx);
out:
    json_decref(z);
    json_decref(params);
    free(src);
    free(base);
    free(h1);
    free(h2);
    return rc;
}

int shelf__lmms_parse(shelf__pf_ctx *cx, const xmlNode *root, json_t *doc)
{
    static const char *const skip_name[] = { "name", NULL };
    const xmlNode *settings, *track, *inst, *plugin = NULL, *c;
    json_t *params = NULL, *tparams = NULL, *g = NULL;
    char *name = NULL, *pname = NULL;
    const char *key;
    int rc = SHELF_OK;

    if (!shelf__pfx_is(root, "lmms-project") && !shelf__pfx_is(root, "multimedia-project") &&
        !shelf__pfx_is(root, "multimediaproject")) {
        rc = shelf__pfx_fail(cx, root, "not an LMMS preset: root element is '%.64s'",
                             (const char *)root->name);
        goto out;
    }
    /* LMMS 0.0.9 wrote <channelsettings><channeltrack>. */
    if (!(settings = shelf__pfx_child(root, "instrumenttracksettings")) &&
        !(settings = shelf__pfx_child(root, "channelsettings"))) {
        rc = shelf__pfx_fail(cx, root, "no <instrumenttracksettings> in this preset");
        goto out;
    }
    if (!(track = shelf__pfx_child(settings, "instrumenttrack")) &&
        !(track = shelf__pfx_child(settings, "channeltrack"))) {
        rc = shelf__pfx_fail(cx, settings, "no <instrumenttrack> in this preset");
        goto out;
    }
    if (!(name = shelf__pfx_attr(settings, "name")) || !*name) {
        free(name);
        name = shelf__pfx_attr(track, "name");
    }
    if ((rc = shelf__pf_set_name(cx, doc, name)) != SHELF_OK)
        goto out;
    if (!(params = json_object()) || !(tparams = json_object()))
        goto nomem;
    if ((rc = shelf__pfx_attrs(cx, settings, tparams, skip_name)) != SHELF_OK ||
        (rc = shelf__pfx_attrs(cx, track, tparams, skip_name)) != SHELF_OK)
        goto out;
    if (json_object_size(tparams) && json_object_set(params, "track", tparams) != 0)
        goto nomem;

    /* The instrument plugin. */
    if ((inst = shelf__pfx_child(track, "instrument")) != NULL) {
        pname = shelf__pfx_attr(inst, "name");
        for (c = inst->children; c && !plugin; c = c->next)
            if (c->type == XML_ELEMENT_NODE)
                plugin = c;
        if (!pname && plugin && !(pname = shelf__strdup((const char *)plugin->name)))
            goto nomem;
    } else {
        for (c = track->children; c && !plugin; c = c->next)
            if (c->type == XML_ELEMENT_NODE && !in_list((const char *)c->name, track_parts))
                plugin = c;
        if (plugin && !(pname = shelf__strdup((const char *)plugin->name)))
            goto nomem;
    }
    if (pname && *pname) {
        if (shelf__pf_set_text(params, "instrument", pname) != SHELF_OK ||
            shelf__pf_set_text(json_object_get(doc, "source"), "plugin", pname) != SHELF_OK)
            goto nomem;
    }
    if (plugin) {
        if ((rc = shelf__pfx_group(cx, plugin, 1, &g)) != SHELF_OK)
            goto out;
        key = (const char *)plugin->name;
        if (in_list(key, track_parts) || strcmp(key, "track") == 0)
            key = "plugin";
        if (json_object_set_new(params, key, g) != 0)
            goto nomem;
        g = NULL;
        if (in_list((const char *)plugin->name, sample_plugins) &&
            (rc = sample_zone(cx, doc, track, plugin)) != SHELF_OK)
            goto out;
    }

    /* The track's other parts. */
    for (c = track->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE || c == plugin || shelf__pfx_is(c, "instrument") ||
            !in_list((const char *)c->name, track_parts))
            continue;
        if ((rc = shelf__pfx_group(cx, c, 1, &g)) != SHELF_OK)
            goto out;
        rc = shelf__pfx_add_group(params, (const char *)c->name, g);
        g = NULL;
        if (rc != 0)
            goto nomem;
    }
    if (json_object_size(params) && json_object_set(doc, "params", params) != 0)
        goto nomem;
    goto out;
nomem:
    rc = nomem(cx);
out:
    json_decref(g);
    json_decref(params);
    json_decref(tparams);
    free(name);
    free(pname);
    return rc;
}
