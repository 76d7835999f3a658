/*
 * pins.c: the cache pins of a library (DIR/cache-pins, doc/formats.md):
 * the samples a performance keeps whole in an engine's RAM cache.  Kept
 * here rather than in the program so an embedder reads and writes the same
 * list the same way.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "stream_int.h"
#include "../catalog/catalog_int.h"

#define PINS_FILE "cache-pins"
#define PINS_VERSION 1

static char *pins_path(shelf_library *lib)
{
    char *p = shelf__asprintf("%s/" PINS_FILE, shelf_library_path(lib));

    if (!p)
        (void)shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    return p;
}

/* Parse the document into ids[0..*n) (owned); SHELF_EFORMAT on anything
 * that is not a pin list of this version. */
static int pins_parse(shelf_library *lib, const char *path, json_t *doc, int64_t **ids, size_t *n)
{
    json_t *arr, *v, *ver;
    size_t i;

    ver = json_object_get(doc, "version");
    if (json_is_integer(ver) && json_integer_value(ver) > PINS_VERSION)
        return shelf__seterr(&lib->err, SHELF_EVERSION,
                             "cannot read '%s': pin list of version %lld (this shelf reads %d)", path,
                             (long long)json_integer_value(ver), PINS_VERSION);
    if (!json_is_object(doc) || !json_is_integer(ver) || json_integer_value(ver) != PINS_VERSION ||
        !json_is_array(arr = json_object_get(doc, "pins")))
        return shelf__seterr(&lib->err, SHELF_EFORMAT, "cannot read '%s': not a pin list of version %d",
                             path, PINS_VERSION);
    *n = json_array_size(arr);
    if (!(*ids = shelf__calloc(*n ? *n : 1, sizeof **ids)))
        return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    json_array_foreach(arr, i, v) {
        if (!json_is_integer(v) || json_integer_value(v) <= 0) {
            free(*ids);
            *ids = NULL;
            *n = 0;
            return shelf__seterr(&lib->err, SHELF_EFORMAT,
                                 "cannot read '%s': pin %zu is not a sample id", path, i + 1);
        }
        (*ids)[i] = json_integer_value(v);
    }
    return SHELF_OK;
}

int shelf_cache_pins_get(shelf_library *lib, int64_t **ids, size_t *n)
{
    json_t *doc = NULL;
    char *path;
    int rc;

    if (!lib || !ids || !n)
        return SHELF_EINVAL;
    *ids = NULL;
    *n = 0;
    if (!(path = pins_path(lib)))
        return SHELF_ENOMEM;
    rc = shelf__json_parse_file(&lib->err, SHELF_EFORMAT, path, 0, &doc);
    if (rc == SHELF_ENOTFOUND)      /* no file: nothing pinned */
        rc = (*ids = shelf__calloc(1, sizeof **ids)) ? SHELF_OK
             : shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    else if (rc == SHELF_EFORMAT)
        rc = shelf__seterr(&lib->err, rc, "cannot read '%s': not a pin list of version %d", path,
                           PINS_VERSION);
    else if (rc == SHELF_OK)
        rc = pins_parse(lib, path, doc, ids, n);
    json_decref(doc);
    free(path);
    return rc;
}

/* Write ids[0..n) as the pin list, replacing the file in one step. */
static int pins_write(shelf_library *lib, const int64_t *ids, size_t n)
{
    json_t *doc = NULL, *arr = json_array();
    char *path = NULL, *text = NULL;
    size_t i;
    int rc = SHELF_ENOMEM;

    if (!arr)
        goto out;
    for (i = 0; i < n; i++)
        if (json_array_append_new(arr, json_integer(ids[i])) != 0)
            goto out;
    if (!(doc = json_pack("{s:i, s:O}", "version", PINS_VERSION, "pins", arr)) ||
        !(text = shelf__json_dumps(doc, JSON_INDENT(2))) || !(path = pins_path(lib)))
        goto out;
    rc = shelf__write_file_atomic(&lib->err, path, text, strlen(text), 0666);
out:
    if (rc == SHELF_ENOMEM)
        (void)shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    free(text);
    free(path);
    json_decref(doc);
    json_decref(arr);
    return rc;
}

int shelf_cache_pins_set(shelf_library *lib, const int64_t *ids, size_t n, int on)
{
    int64_t *have = NULL, *grown;
    size_t nhave = 0, i, j, k;
    int rc;

    if (!lib || (n && !ids))
        return SHELF_EINVAL;
    if ((rc = shelf__writable(lib)) != SHELF_OK)
        return rc;
    if ((rc = shelf_cache_pins_get(lib, &have, &nhave)) != SHELF_OK)
        return rc;
    if (on) {
        if (!(grown = shelf__realloc(have, (nhave + n + 1) * sizeof *have))) {
            rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
            goto out;
        }
        have = grown;
        for (i = 0; i < n; i++) {
            const shelf_sample *s;
            shelf_cursor *cur;

            if ((rc = shelf_catalog_get(lib, ids[i], &cur, &s)) != SHELF_OK)
                goto out;
            shelf_cursor_free(cur);
            for (j = 0; j < nhave && have[j] != ids[i]; j++)
                ;
            if (j == nhave)
                have[nhave++] = ids[i];
        }
    } else {
        /* Unpinning takes any id, so pins of removed samples can go. */
        for (j = k = 0; j < nhave; j++) {
            for (i = 0; i < n && ids[i] != have[j]; i++)
                ;
            if (i == n)
                have[k++] = have[j];
        }
        nhave = k;
    }
    rc = pins_write(lib, have, nhave);
out:
    free(have);
    return rc;
}
