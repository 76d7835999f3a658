/*
 * samples.c: samples as the programs show them (samples.h): the JSON of a
 * sample and of a facet value, names as JSON text, note names, sort key
 * names.
 */
#include <stdio.h>
#include <string.h>
#include "samples.h"

const char *tool_who(shelf_library *lib, const char *device, char *buf, size_t size)
{
    shelf_peer peer;

    memset(&peer, 0, sizeof peer);
    peer.size = sizeof peer;
    if (!strcmp(device, shelf_library_id(lib)))
        snprintf(buf, size, "this library");
    else if (shelf_device_by_library(lib, device, &peer) == SHELF_OK && peer.name[0])
        snprintf(buf, size, "%s", peer.name);
    else
        snprintf(buf, size, "%s", device);
    return buf;
}

const char *tool_loop_mode_name(int m)
{
    switch (m) {
    case SHELF_LOOP_FORWARD: return "forward";
    case SHELF_LOOP_BACKWARD: return "backward";
    case SHELF_LOOP_ALTERNATING: return "alternating";
    }
    return "none";
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

json_t *tool_json_name(const char *s)
{
    char *e;
    json_t *j;

    if (!s)
        return json_null();
    e = shelf_name_escape(s, 0);
    j = e ? json_string(e) : NULL;
    shelf_free(e);
    return j;
}

/* The tags, space-separated in s->tags, as an array. */
static json_t *tags_json(const shelf_sample *s)
{
    json_t *tags = json_array();
    const char *p = s->tags ? s->tags : "";
    int bad = !tags;

    while (*p) {
        const char *e = strchr(p, ' ');
        size_t n = e ? (size_t)(e - p) : strlen(p);

        bad |= json_array_append_new(tags, json_stringn(p, n));
        p += n;
        while (*p == ' ')
            p++;
    }
    if (bad) {
        json_decref(tags);
        return NULL;
    }
    return tags;
}

json_t *tool_sample_json(const shelf_sample *s, unsigned fields)
{
    const int item = (fields & TOOL_SAMPLE_ITEM) != 0, lng = (fields & TOOL_SAMPLE_LONG) != 0;
    const int storage = (fields & TOOL_SAMPLE_STORAGE) != 0, derived = (fields & TOOL_SAMPLE_DERIVED) != 0;
    char note[8];
    json_t *o = json_object();
    int bad = !o;  /* any failed set (out of memory) */

/* set member k to v when the group is wanted (v is then consumed) */
#define SET(want, k, v) do { if (want) bad |= json_object_set_new(o, (k), (v)); } while (0)
    SET(item, "id", json_integer(s->id));
    SET(item, "name", tool_json_name(s->name));
    SET(storage, "root", tool_json_name(s->root));
    SET(item, "path", tool_json_name(s->relpath));
    SET(storage, "blob", str_or_null(s->blob));
    SET(lng, "sha256", str_or_null(s->sha256));
    SET(item, "size", json_integer((json_int_t)s->size));
    SET(storage, "mtime_ns", json_integer(s->mtime_ns));
    SET(item, "format", str_or_null(s->format));
    SET(item, "subtype", str_or_null(s->subtype));
    SET(item, "rate", json_integer(s->rate));
    SET(item, "channels", json_integer(s->channels));
    SET(item, "frames", json_integer(s->frames));
    SET(item, "duration", json_real(s->duration));
    SET(item, "bits", s->bits ? json_integer(s->bits) : json_null());
    SET(item, "root_key", s->root_key >= 0 ? json_integer(s->root_key) : json_null());
    SET(derived, "root_note", s->root_key >= 0 ? json_string(shelf_note_name(s->root_key, note)) : json_null());
    SET(item, "loop", s->loop_start >= 0 ? json_pack("{s:I, s:I, s:s}", "start", (json_int_t)s->loop_start,
                                                     "end", (json_int_t)s->loop_end,
                                                     "mode", tool_loop_mode_name(s->loop_mode))
                                         : json_null());
    SET(item, "tempo", s->tempo > 0 ? json_real(s->tempo) : json_null());
    SET(derived, "beats", s->beats ? json_integer(s->beats) : json_null());
    SET(item, "category", str_or_null(s->category));
    if (lng) {
        /* what the file, or the kit it belongs to, says about it */
        const char *const meta[][2] = {
            { "title", s->title }, { "author", s->author }, { "comment", s->comment },
            { "genre", s->genre }, { "kit", s->kit }, { "instrument", s->instrument },
        };
        size_t i;

        for (i = 0; i < sizeof meta / sizeof meta[0]; i++)
            bad |= json_object_set_new(o, meta[i][0], str_or_null(meta[i][1]));
    }
    SET(lng, "created", json_integer(s->created));
    SET(lng, "last_used", s->last_used ? json_integer(s->last_used) : json_null());
    SET(item, "missing", json_boolean(s->missing == 1));
    SET(item, "archived", json_boolean(s->missing == SHELF_SAMPLE_ARCHIVED));
    SET(item, "rating", json_integer(s->rating));
    SET(item, "favourite", json_boolean(s->favourite));
    SET(item, "tags", tags_json(s));
#undef SET
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int tool_facet_add(json_t *all, const shelf_facet *f)
{
    json_t *arr = json_object_get(all, f->facet);

    if (!arr && json_object_set_new(all, f->facet, arr = json_array()) != 0)
        return -1;
    return json_array_append_new(arr, json_pack("{s:o, s:o, s:I}", "value", tool_json_name(f->value), "filter",
                                                tool_json_name(f->filter), "count", (json_int_t)f->count));
}

json_t *tool_collection_json(const char *name, const char *query, int64_t count)
{
    return json_pack("{s:s, s:s, s:o, s:I}", "name", name, "kind", query ? "smart" : "manual", "query",
                     query ? json_string(query) : json_null(), "count", (json_int_t)count);
}

const char *tool_dupes_kind_name(int kind)
{
    return kind == SHELF_DUPES_BYTES ? "bytes" : kind == SHELF_DUPES_AUDIO ? "audio" : "name";
}

const char *tool_severity_name(int severity)
{
    return severity == SHELF_ALERT_ERROR ? "error" : severity == SHELF_ALERT_WARNING ? "warning"
         : severity == SHELF_ALERT_INFO ? "info" : "none";
}

json_t *tool_alert_json(const shelf_alert *a)
{
    return json_pack("{s:s, s:s, s:s, s:s?, s:I}", "key", a->key, "severity", tool_severity_name(a->severity),
                     "what", a->what, "action", a->action, "since", (json_int_t)a->since);
}

/* Sort keys by name, as `ls --sort`, `search --sort` and the server's
 * search take them. */
static const struct { const char *name; int key; } sort_keys[] = {
    { "id", SHELF_SORT_ID }, { "name", SHELF_SORT_NAME }, { "path", SHELF_SORT_PATH },
    { "size", SHELF_SORT_SIZE }, { "length", SHELF_SORT_DURATION }, { "len", SHELF_SORT_DURATION },
    { "rate", SHELF_SORT_RATE }, { "key", SHELF_SORT_KEY }, { "bpm", SHELF_SORT_TEMPO },
    { "added", SHELF_SORT_ADDED }, { "used", SHELF_SORT_USED }, { "rating", SHELF_SORT_RATING },
    { "relevance", SHELF_SORT_RELEVANCE },
};

int tool_sort_key(const char *name)
{
    size_t k;

    for (k = 0; k < sizeof sort_keys / sizeof sort_keys[0]; k++)
        if (!strcmp(name, sort_keys[k].name))
            return sort_keys[k].key;
    return -1;
}
