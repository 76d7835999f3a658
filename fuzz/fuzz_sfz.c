/*
 * fuzz_sfz.c: fuzz target for the SFZ importer (shelf__patch_parse_mem
 * with SHELF__PF_SFZ and no folder, so #include is refused and nothing is
 * read from disk); the input is the .sfz text.  A parsed patch must pass
 * the document checker (shelf__doc_check) and its canonical text must be
 * made; a failure must be SHELF_EFORMAT or SHELF_ENOMEM with a one-line
 * message naming the file, and no document.  Broken invariants abort().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz_target.h"
#include "patch/formats_int.h"
#include "patch/patch_int.h"

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "fuzz_sfz: %s:%d: invariant failed: %s\n",       \
                    __FILE__, __LINE__, #cond);                              \
            abort();                                                         \
        }                                                                    \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    shelf__err err;
    json_t *doc = (json_t *)&err, *zones, *z;
    const char *id;
    char *text;
    int rc;

    memset(&err, 0, sizeof err);
    rc = shelf__patch_parse_mem(data, size, SHELF__PF_SFZ, "fuzz.sfz", NULL, &doc, &err);
    if (rc != SHELF_OK) {
        CHECK(rc == SHELF_EFORMAT || rc == SHELF_ENOMEM);
        CHECK(doc == NULL);
        CHECK(memchr(err.msg, '\0', sizeof err.msg) != NULL);
        CHECK(strchr(err.msg, '\n') == NULL);
        CHECK(rc == SHELF_ENOMEM || strncmp(err.msg, "fuzz.sfz", 8) == 0);
        return 0;
    }
    CHECK(doc != NULL);
    zones = json_object_get(doc, "zones");
    json_object_foreach(zones, id, z) {
        const char *p = json_string_value(json_object_get(json_object_get(z, "sample"), "path"));

        CHECK(p && *p);
    }
    CHECK(shelf__doc_check(doc, SHELF_DOC_PATCH, &err) == SHELF_OK);
    text = shelf__doc_dump(doc, NULL);
    CHECK(text != NULL);
    free(text);
    json_decref(doc);
    return 0;
}
