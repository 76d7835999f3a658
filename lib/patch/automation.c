/*
 * automation.c: automation lanes of projects.  The lane's id and its JSON
 * (doc/documents.md) are made here, so the shelf program and an embedder
 * add lanes the same way; versions.c checks and stores the result.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "patch_int.h"
#include "../catalog/catalog_int.h"

#define LANE_MAX 100000     /* ids a0001 .. a99999 */

/* The first id "aNNNN" that lanes does not use, into key; -1 when none. */
static int free_lane_id(const json_t *lanes, char key[SHELF_LANE_ID_MAX])
{
    for (int i = 1; i < LANE_MAX; i++) {
        snprintf(key, SHELF_LANE_ID_MAX, "a%04d", i);
        if (!json_object_get(lanes, key))
            return 0;
    }
    return -1;
}

/* The lane as JSON, or NULL when out of memory. */
static json_t *lane_json(const char *type, const char *target, double start, double duration,
                         const double *points, size_t n)
{
    json_t *arr = json_array(), *lane;

    if (!arr)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (json_array_append_new(arr, json_pack("[f, f]", points[2 * i], points[2 * i + 1])) != 0) {
            json_decref(arr);
            return NULL;
        }
    lane = json_pack("{s:s, s:s, s:f, s:o}", "type", type, "target", target, "start", start,
                     "points", arr);
    if (lane && duration >= 0 && json_object_set_new(lane, "duration", json_real(duration)) != 0) {
        json_decref(lane);
        return NULL;
    }
    return lane;
}

int shelf_automation_add(shelf_library *lib, int64_t id, const char *type, const char *target,
                         double start, double duration, const double *points, size_t n,
                         const char *message, char lane_id[SHELF_LANE_ID_MAX], int64_t *seq)
{
    char *text = NULL, *value = NULL, path[32], key[SHELF_LANE_ID_MAX];
    json_t *doc = NULL, *lane = NULL;
    int64_t got;
    int rc;

    if (!type || !target || (n && !points))
        return shelf__seterr(&lib->err, SHELF_EINVAL, "invalid automation lane: no type, target or points");
    if ((rc = shelf_doc_get(lib, SHELF_DOC_PROJECT, id, 0, &text)) != SHELF_OK)
        return rc;
    if ((rc = shelf__json_parse(&lib->err, SHELF_ECORRUPT, "project", text, strlen(text), 0,
                                &doc)) != SHELF_OK)
        goto out;
    if (free_lane_id(json_object_get(doc, "automation"), key) != 0) {
        rc = shelf__seterr(&lib->err, SHELF_EINVAL, "project %lld has no free automation lane id",
                           (long long)id);
        goto out;
    }
    if (!(lane = lane_json(type, target, start, duration, points, n)) ||
        !(value = shelf__json_dumps(lane, JSON_COMPACT | JSON_REAL_PRECISION(17)))) {
        rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    snprintf(path, sizeof path, "automation/%s", key);
    if ((rc = shelf_doc_set(lib, SHELF_DOC_PROJECT, id, path, value, message, &got)) != SHELF_OK)
        goto out;
    if (lane_id)
        snprintf(lane_id, SHELF_LANE_ID_MAX, "%s", key);
    if (seq)
        *seq = got;
out:
    free(value);
    json_decref(lane);
    json_decref(doc);
    shelf_free(text);
    return rc;
}
