/*
 * fuzz_patchxml.c: fuzz target for the XML patch importers
 * (shelf__patch_parse_mem with no folder): the first input byte selects
 * the format (mod 4: 0 Hydrogen drumkit.xml, 1 ZynAddSubFX .xiz, gzip or
 * plain, 2 LMMS .xpf, 3 Decent Sampler .dspreset), the rest is the file.
 * A parsed patch must pass the document checker (shelf__doc_check) and
 * dump as canonical text; a failure must be SHELF_EFORMAT or
 * SHELF_ENOMEM with a one-line message naming the file, and no document.
 * Broken invariants abort().
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
            fprintf(stderr, "fuzz_patchxml: %s:%d: invariant failed: %s\n",  \
                    __FILE__, __LINE__, #cond);                              \
            abort();                                                         \
        }                                                                    \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct {
        int format;
        const char *name;
    } formats[4] = {
        { SHELF__PF_HYDROGEN, "drumkit.xml" },
        { SHELF__PF_ZYN, "fuzz.xiz" },
        { SHELF__PF_LMMS, "fuzz.xpf" },
        { SHELF__PF_DSPRESET, "fuzz.dspreset" },
    };
    shelf__err err;
    json_t *doc = (json_t *)&err;
    char *text;
    int rc, f;

    if (size < 1)
        return 0;
    f = data[0] % 4;
    memset(&err, 0, sizeof err);
    rc = shelf__patch_parse_mem(data + 1, size - 1, formats[f].format, formats[f].name, NULL,
                                &doc, &err);
    if (rc != SHELF_OK) {
        CHECK(rc == SHELF_EFORMAT || rc == SHELF_ENOMEM);
        CHECK(doc == NULL);
        CHECK(memchr(err.msg, '\0', sizeof err.msg) != NULL);
        CHECK(strchr(err.msg, '\n') == NULL);
        CHECK(rc == SHELF_ENOMEM ||
              strncmp(err.msg, formats[f].name, strlen(formats[f].name)) == 0);
        return 0;
    }
    CHECK(doc != NULL);
    CHECK(json_is_string(json_object_get(doc, "name")));
    CHECK(shelf__doc_check(doc, SHELF_DOC_PATCH, &err) == SHELF_OK);
    text = shelf__doc_dump(doc, NULL);
    CHECK(text != NULL);
    free(text);
    json_decref(doc);
    return 0;
}
