/*
 * fuzz_patchjson.c: fuzz target for the native patch and project document
 * loader (shelf_doc_canonical: JSON parsing, the schema of
 * doc/documents.md, the canonical form) and for diff, apply and merge over
 * what it accepts; the input is the JSON text.  A refusal must be a
 * documented code with a one-line reason.  An accepted document must be a
 * fixed point (its canonical text canonicalises to itself, with the same
 * hash, the SHA-256 of that text), differ from itself by nothing, merge with
 * itself into itself without conflicts, and round-trip through a delta to
 * a minimal document of its kind and back.  Broken invariants abort().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz_target.h"
#include "patch/patch_int.h"

/* Report a broken invariant and abort, so the fuzzer keeps the input. */
#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "fuzz_patchjson: %s:%d: invariant failed: %s\n", \
                    __FILE__, __LINE__, #cond);                              \
            abort();                                                         \
        }                                                                    \
    } while (0)

static const char *const minimal[] = {
    [SHELF_DOC_PATCH] = "{\"shelf_patch\":1,\"name\":\"x\"}",
    [SHELF_DOC_PROJECT] = "{\"shelf_project\":1,\"name\":\"x\"}",
};

/* d = diff(from, to) as a delta; applied to a copy of from it must give to. */
static void check_delta(const json_t *from, const json_t *to)
{
    shelf__err err = { 0, "" };
    json_t *d = shelf__doc_diff(from, to, 0), *x = json_deep_copy(from);
    char *a, *b;
    int rc;

    if (!d || !x) {                     /* only when out of memory */
        json_decref(d);
        json_decref(x);
        return;
    }
    rc = shelf__doc_apply(x, d, &err);
    CHECK(rc == SHELF_OK || rc == SHELF_ENOMEM);
    /* Checked again, as versions.c does: groups emptied member by member
     * are dropped. */
    if (rc == SHELF_OK)
        CHECK(shelf__doc_check(x, 0, &err) == SHELF_OK);
    if (rc == SHELF_OK) {
        a = shelf__doc_dump(x, NULL);
        b = shelf__doc_dump(to, NULL);
        CHECK(a && b && strcmp(a, b) == 0);
        free(a);
        free(b);
    }
    json_decref(d);
    json_decref(x);
}

static int is_hex64(const char *h)
{
    return strlen(h) == 64 && strspn(h, "0123456789abcdef") == 64;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    shelf__err err = { 0, "" };
    char hash[65], hash2[65], hex[SHELF_HASH_HEX], *out = NULL, *out2 = NULL, *msg = NULL;
    char *d = NULL, *res = NULL;
    uint8_t raw[SHELF_HASH_BYTES];
    shelf_merge *m = NULL;
    json_t *doc = NULL, *min = NULL;
    int rc, kind = 0;

    rc = shelf_doc_canonical((const char *)data, size, 0, &out, hash, &msg);
    if (rc != SHELF_OK) {
        CHECK(rc == SHELF_EFORMAT || rc == SHELF_EVERSION || rc == SHELF_ENOMEM);
        CHECK(out == NULL);
        CHECK(msg != NULL && msg[0] != '\0');
        CHECK(strchr(msg, '\n') == NULL);
        shelf_free(msg);
        return 0;
    }
    CHECK(out != NULL && msg == NULL);
    CHECK(is_hex64(hash));
    shelf__sha256_mem(out, strlen(out), raw);
    shelf__hex(raw, sizeof raw, hex);
    CHECK(strcmp(hex, hash) == 0);

    /* A fixed point. */
    rc = shelf_doc_canonical(out, strlen(out), 0, &out2, hash2, NULL);
    CHECK(rc == SHELF_OK);
    CHECK(strcmp(out, out2) == 0);
    CHECK(strcmp(hash, hash2) == 0);

    /* No difference from itself, also when given as the input text. */
    CHECK(shelf_doc_diff(out, out, &d, NULL) == SHELF_OK);
    CHECK(strcmp(d, "[]") == 0);
    shelf_free(d);
    d = NULL;
    if (!memchr(data, '\0', size)) {
        char *text = malloc(size + 1);

        CHECK(text != NULL);
        memcpy(text, data, size);
        text[size] = '\0';
        CHECK(shelf_doc_diff(text, out, &d, NULL) == SHELF_OK);
        CHECK(strcmp(d, "[]") == 0);
        shelf_free(d);
        d = NULL;
        free(text);
    }

    /* Merged with itself: itself, no conflicts, whatever the times. */
    CHECK(shelf_merge_new(out, out, out, 2, 1, &m, NULL) == SHELF_OK);
    CHECK(shelf_merge_conflicts(m) == 0);
    CHECK(shelf_merge_result(m, &res) == SHELF_OK);
    CHECK(strcmp(res, out) == 0);
    shelf_merge_free(m);
    shelf_free(res);

    /* Deltas to a minimal document and back: every path the document has
     * must be written and read back by the path syntax. */
    CHECK(shelf__doc_load(out, strlen(out), 0, &kind, &doc, &err) == SHELF_OK);
    CHECK(kind == SHELF_DOC_PATCH || kind == SHELF_DOC_PROJECT);
    CHECK(shelf__doc_load(minimal[kind], strlen(minimal[kind]), kind, NULL, &min, &err) == SHELF_OK);
    check_delta(doc, min);
    check_delta(min, doc);
    json_decref(doc);
    json_decref(min);
    shelf_free(out);
    shelf_free(out2);
    return 0;
}
