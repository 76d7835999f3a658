/*
 * samples.h: samples as the programs over libshelf show them (the `shelf`
 * program in cli/ and `shelf serve` in server/): a sample and a facet
 * value as JSON, a file name as JSON text, MIDI note names and the names
 * of the sort keys.  One
 * definition, so both programs speak the same JSON.  Uses only the public
 * API.  Every function is thread-safe.
 */
#ifndef SHELF_TOOLS_SAMPLES_H
#define SHELF_TOOLS_SAMPLES_H

#include <jansson.h>
#include "shelf/shelf.h"

/* Groups of members of tool_sample_json's object. */
#define TOOL_SAMPLE_ITEM    0x1 /* id name path size format subtype rate channels frames
                                   duration bits root_key loop tempo category missing
                                   rating favourite tags */
#define TOOL_SAMPLE_LONG    0x2 /* sha256 title author comment genre kit instrument created
                                   last_used */
#define TOOL_SAMPLE_STORAGE 0x4 /* root blob mtime_ns */
#define TOOL_SAMPLE_DERIVED 0x8 /* root_note beats */
#define TOOL_SAMPLE_ALL     0xf /* what `shelf --json` prints */

/*
 * s as a JSON object with the members of the groups in fields, always in
 * the same order.  Unknown values are null (root_key, loop, tempo, bits,
 * category, ...); names and paths are their text (tool_json_name).  Owned
 * (json_decref); NULL when memory runs out.
 */
json_t *tool_sample_json(const shelf_sample *s, unsigned fields);

/* Add facet value f (shelf_search_facets) to all, an object of facet ->
 * [{"value", "filter", "count"}], in the order they come: what `search
 * --facets --json` prints and the server's /api/facets answers.  0, or -1
 * when memory runs out. */
int tool_facet_add(json_t *all, const shelf_facet *f);

/* A collection as `collection ls --json` and GET /api/collections show it:
 * {"name", "kind": "manual"|"smart", "query" (null when manual), "count"}.
 * Owned; NULL only when memory runs out. */
json_t *tool_collection_json(const char *name, const char *query, int64_t count);

/* A kind of duplicates (SHELF_DUPES_BYTES, _AUDIO, _NAME) as a word:
 * "bytes", "audio", "name", as `shelf dupes --json` and GET /api/dupes
 * name them. */
const char *tool_dupes_kind_name(int kind);

/* An alert's severity as a word: "info", "warning", "error" (and "none"
 * for 0, no alert). */
const char *tool_severity_name(int severity);

/* An alert (shelf_alerts) as JSON, as `shelf status --json` and the
 * server's GET /api/status give it: {"key", "severity", "what", "action"
 * (null when none), "since"}.  Owned; NULL only when memory runs out. */
json_t *tool_alert_json(const shelf_alert *a);

/* A file name as JSON: its escaped text (shelf_name_escape: valid UTF-8
 * whatever the bytes), null for NULL; NULL only when memory runs out. */
json_t *tool_json_name(const char *s);

/* Who made a version of a patch or project, from the library id it names
 * (shelf_docversion.device): "this library", a paired device's name (the
 * library its hello said), or the id itself; into buf (room for
 * SHELF_DEVICE_NAME_MAX + 1 bytes), which it returns.  On lib's thread. */
const char *tool_who(shelf_library *lib, const char *device, char *buf, size_t size);

/* A SHELF_LOOP_ mode as a word: "forward", "backward", "alternating",
 * "none". */
const char *tool_loop_mode_name(int mode);

/* The SHELF_SORT_ key named name ("name", "added", "relevance", ...), or
 * -1 when there is none; TOOL_SORT_NAMES lists them for messages. */
int tool_sort_key(const char *name);
#define TOOL_SORT_NAMES "id name path size length rate key bpm added used rating relevance"

#endif /* SHELF_TOOLS_SAMPLES_H */
