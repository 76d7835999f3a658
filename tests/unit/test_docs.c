/*
 * test_docs.c: unit tests of patch and project documents (lib/patch): the
 * canonical form and its hash, checking against doc/documents.md, paths,
 * diff and apply (with a seeded random document generator), every rule of
 * the three-way merge and a merge property test, and stored documents in a
 * library: versions, history, set with and without types, refs and their
 * mirrors, undo, merge of branches, long delta chains, corrupted rows and
 * allocation failures.  Uses the public API and lib/patch/patch_int.h.
 */
#include <math.h>
#include <sndfile.h>
#include <sqlite3.h>
#include "patch/patch_int.h"
#include "catalog/catalog_int.h"
#include "common/common_int.h"
#include "test.h"
#include "alloc_fault.h"
#include "audiogen.h"

/* ---- helpers ---------------------------------------------------------------- */

#define PATCH SHELF_DOC_PATCH
#define PROJECT SHELF_DOC_PROJECT

/* Canonical text of json (owned, shelf_free); fails the test when invalid. */
#define canon(json) canon_at(__FILE__, __LINE__, (json), 0, NULL)
static char *canon_at(const char *file, int line, const char *json, int kind, char hash[65])
{
    char *out = NULL, *msg = NULL;
    int rc = shelf_doc_canonical(json, strlen(json), kind, &out, hash, &msg);

    if (rc != SHELF_OK)
        test__fail(file, line, "not a valid document: %s: %s\n%s", shelf_strerror(rc),
                   msg ? msg : "(no message)", json);
    if (!out || msg)
        test__fail(file, line, "OK without text or with a message");
    return out;
}

/* shelf_doc_canonical must fail with rc and a one-line message that
 * contains want (NULL: any). */
#define canon_fails(json, rc, want) canon_fails_at(__FILE__, __LINE__, (json), (rc), (want))
static void canon_fails_at(const char *file, int line, const char *json, int rc,
                           const char *want)
{
    char *out = (char *)&out, *msg = NULL;
    int got = shelf_doc_canonical(json, strlen(json), 0, &out, NULL, &msg);

    if (got != rc)
        test__fail(file, line, "expected %s, got %s (%s) for %s", shelf_strerror(rc),
                   shelf_strerror(got), msg ? msg : "no message", json);
    if (out)
        test__fail(file, line, "failed but *out is set");
    if (!msg || !*msg || strchr(msg, '\n'))
        test__fail(file, line, "no one-line message: '%s'", msg ? msg : "(null)");
    if (want && !strstr(msg, want))
        test__fail(file, line, "message '%s' does not name '%s' (%s)", msg, want, json);
    shelf_free(msg);
}

/* Canonical forms of a and b must be equal. */
#define ASSERT_SAME_DOC(a, b)                                                       \
    do {                                                                            \
        char *sa_ = canon(a), *sb_ = canon(b);                                      \
        ASSERT_EQ_STR(sa_, sb_);                                                    \
        shelf_free(sa_);                                                            \
        shelf_free(sb_);                                                            \
    } while (0)

/* Parse a document into working form; fails the test when invalid. */
#define load(text) load_at(__FILE__, __LINE__, (text))
static json_t *load_at(const char *file, int line, const char *text)
{
    shelf__err err = { 0, "" };
    json_t *doc = NULL;
    int rc = shelf__doc_load(text, strlen(text), 0, NULL, &doc, &err);

    if (rc != SHELF_OK || !doc)
        test__fail(file, line, "cannot load: %s: %s\n%s", shelf_strerror(rc), err.msg, text);
    return doc;
}

/* Canonical text of a working-form document, as an owned malloc'd string
 * (shelf__doc_dump's text). */
static char *dump(const json_t *doc)
{
    char *t = shelf__doc_dump(doc, NULL);

    ASSERT(t != NULL);
    return t;
}

/* The diff of two document texts (owned). */
#define diff_of(a, b) diff_at(__FILE__, __LINE__, (a), (b))
static char *diff_at(const char *file, int line, const char *a, const char *b)
{
    char *d = NULL, *msg = NULL;
    int rc = shelf_doc_diff(a, b, &d, &msg);

    if (rc != SHELF_OK || !d)
        test__fail(file, line, "diff failed: %s: %s", shelf_strerror(rc), msg ? msg : "");
    return d;
}

/* The diff text must equal want (a JSON array compared as parsed JSON). */
#define ASSERT_DIFF(a, b, want) assert_diff_at(__FILE__, __LINE__, (a), (b), (want))
static void assert_diff_at(const char *file, int line, const char *a, const char *b,
                           const char *want)
{
    char *d = diff_at(file, line, a, b);
    json_t *x = json_loads(d, 0, NULL), *y = json_loads(want, 0, NULL);

    if (!x || !y)
        test__fail(file, line, "not JSON: %s / %s", d, want);
    if (!json_equal(x, y))
        test__fail(file, line, "diff\n  %s\nexpected\n  %s", d, want);
    json_decref(x);
    json_decref(y);
    shelf_free(d);
}

/* Merge, expecting n conflicts. */
#define merge3(b, o, t, ot, tt, n) merge3_at(__FILE__, __LINE__, (b), (o), (t), (ot), (tt), (n))
static shelf_merge *merge3_at(const char *file, int line, const char *b, const char *o,
                              const char *t, int64_t ot, int64_t tt, size_t n)
{
    shelf_merge *m = NULL;
    char *msg = NULL;
    int rc = shelf_merge_new(b, o, t, ot, tt, &m, &msg);

    if (rc != SHELF_OK || !m)
        test__fail(file, line, "merge failed: %s: %s", shelf_strerror(rc), msg ? msg : "");
    if (shelf_merge_conflicts(m) != n) {
        const char *p = "";

        shelf_merge_conflict(m, 0, &p, NULL, NULL, NULL, NULL);
        test__fail(file, line, "%zu conflicts (first at '%s'), expected %zu",
                   shelf_merge_conflicts(m), p ? p : "", n);
    }
    return m;
}

/* The merge's result must equal want (as documents). */
#define ASSERT_MERGED(m, want) assert_merged_at(__FILE__, __LINE__, (m), (want))
static void assert_merged_at(const char *file, int line, const shelf_merge *m, const char *want)
{
    char *got = NULL, *w = canon_at(file, line, want, 0, NULL);
    int rc = shelf_merge_result(m, &got);

    if (rc != SHELF_OK)
        test__fail(file, line, "merge result: %s", shelf_strerror(rc));
    if (strcmp(got, w) != 0)
        test__fail(file, line, "merged\n  %s\nexpected\n  %s", got, w);
    shelf_free(got);
    shelf_free(w);
}

/* A patch with the given members after the name (a JSON fragment). */
static char *patchf(const char *members)
{
    char *s = shelf__asprintf("{\"shelf_patch\":1,\"name\":\"P\"%s%s}", *members ? "," : "",
                              members);

    ASSERT(s != NULL);
    return s;
}

/* ---- canonical form ------------------------------------------------------------ */

TEST(canonical_key_order_and_whitespace)
{
    char h1[65], h2[65];
    char *a = canon_at(__FILE__, __LINE__,
                       "{ \"name\" : \"Grand\",\n \"shelf_patch\": 1,\n \"params\": {\"z\": 1, "
                       "\"a\": {\"y\": 2, \"b\": 3}}}", 0, h1);
    char *b = canon_at(__FILE__, __LINE__,
                       "{\"params\":{\"a\":{\"b\":3,\"y\":2},\"z\":1},\"shelf_patch\":1,"
                       "\"name\":\"Grand\"}", PATCH, h2);

    ASSERT_EQ_STR(a, "{\"name\":\"Grand\",\"params\":{\"a\":{\"b\":3,\"y\":2},\"z\":1},"
                     "\"shelf_patch\":1}");
    ASSERT_EQ_STR(a, b);
    ASSERT_EQ_STR(h1, h2);
    ASSERT_EQ_INT(strlen(h1), 64);
    shelf_free(a);
    shelf_free(b);
}

TEST(canonical_hash_is_sha256_of_text)
{
    char h[65], hex[SHELF_HASH_HEX];
    uint8_t raw[SHELF_HASH_BYTES];
    char *t = canon_at(__FILE__, __LINE__, "{\"shelf_patch\":1,\"name\":\"x\",\"rating\":3}", 0, h);

    shelf__sha256_mem(t, strlen(t), raw);
    shelf__hex(raw, sizeof raw, hex);
    ASSERT_EQ_STR(h, hex);
    /* NULL hash is allowed. */
    shelf_free(t);
    t = canon_at(__FILE__, __LINE__, "{\"shelf_patch\":1,\"name\":\"x\"}", 0, NULL);
    ASSERT_EQ_STR(t, "{\"name\":\"x\",\"shelf_patch\":1}");
    shelf_free(t);
}

TEST(canonical_tags_sorted_lowercased_deduplicated)
{
    char *a = canon("{\"shelf_patch\":1,\"name\":\"x\",\"tags\":[\"Soft\",\"acoustic\",\"SOFT\","
                    "\"soft\",\"Zed\",\"b\"]}");

    ASSERT_EQ_STR(a, "{\"name\":\"x\",\"shelf_patch\":1,\"tags\":[\"acoustic\",\"b\",\"soft\","
                     "\"zed\"]}");
    shelf_free(a);
    /* Order of the input does not matter. */
    ASSERT_SAME_DOC("{\"shelf_patch\":1,\"name\":\"x\",\"tags\":[\"b\",\"a\"]}",
                    "{\"shelf_patch\":1,\"name\":\"x\",\"tags\":[\"A\",\"B\",\"a\"]}");
    /* Projects too. */
    a = canon("{\"shelf_project\":1,\"name\":\"x\",\"tags\":[\"Live\",\"live\"]}");
    ASSERT_EQ_STR(a, "{\"name\":\"x\",\"shelf_project\":1,\"tags\":[\"live\"]}");
    shelf_free(a);
}

TEST(canonical_defaults_omitted)
{
    ASSERT_SAME_DOC("{\"shelf_patch\":1,\"name\":\"x\",\"author\":\"\",\"category\":\"\","
                    "\"comment\":\"\",\"rating\":0,\"tags\":[],\"params\":{},\"types\":{},"
                    "\"zones\":{}}",
                    "{\"shelf_patch\":1,\"name\":\"x\"}");
    ASSERT_SAME_DOC("{\"shelf_project\":1,\"name\":\"x\",\"comment\":\"\",\"rating\":0,"
                    "\"tags\":[],\"patches\":{},\"samples\":{},\"automation\":{}}",
                    "{\"shelf_project\":1,\"name\":\"x\"}");
    /* Inside a zone: an empty name, group and params. */
    ASSERT_SAME_DOC("{\"shelf_patch\":1,\"name\":\"x\",\"zones\":{\"z1\":{\"sample\":{\"id\":3},"
                    "\"name\":\"\",\"group\":\"\",\"params\":{}}}}",
                    "{\"shelf_patch\":1,\"name\":\"x\",\"zones\":{\"z1\":{\"sample\":{\"id\":3}}}}");
}

TEST(canonical_equal_and_different)
{
    char h1[65], h2[65], h3[65];
    char *a = canon_at(__FILE__, __LINE__, "{\"shelf_patch\":1,\"name\":\"x\",\"params\":"
                       "{\"v\":-6.5}}", 0, h1);
    char *b = canon_at(__FILE__, __LINE__, "{\"params\":{\"v\":-6.5},\"name\":\"x\","
                       "\"shelf_patch\":1}", 0, h2);
    char *c = canon_at(__FILE__, __LINE__, "{\"shelf_patch\":1,\"name\":\"x\",\"params\":"
                       "{\"v\":-6.25}}", 0, h3);

    ASSERT_EQ_STR(h1, h2);
    ASSERT(strcmp(h1, h3) != 0);
    ASSERT(strcmp(a, c) != 0);
    shelf_free(a);
    shelf_free(b);
    shelf_free(c);
}

TEST(canonical_integer_and_real)
{
    char h1[65], h2[65];
    char *i = canon_at(__FILE__, __LINE__, "{\"shelf_patch\":1,\"name\":\"x\",\"params\":"
                       "{\"v\":1}}", 0, h1);
    char *r = canon_at(__FILE__, __LINE__, "{\"shelf_patch\":1,\"name\":\"x\",\"params\":"
                       "{\"v\":1.0}}", 0, h2);
    char *r2, *e;

    /* An integer stays an integer, a real stays a real (and reads back the same). */
    ASSERT(strstr(i, "\"v\":1}") != NULL);
    ASSERT(strstr(r, "\"v\":1.0}") != NULL);
    ASSERT(strcmp(h1, h2) != 0);
    r2 = canon(r);
    ASSERT_EQ_STR(r, r2);
    /* Exponents and fractions read back to the same double. */
    e = canon("{\"shelf_patch\":1,\"name\":\"x\",\"params\":{\"a\":1e300,\"b\":0.1,\"c\":-2.5e-7}}");
    {
        json_t *doc = json_loads(e, 0, NULL), *p = json_object_get(doc, "params");

        ASSERT(doc != NULL);
        ASSERT(json_real_value(json_object_get(p, "a")) == 1e300);
        ASSERT(json_real_value(json_object_get(p, "b")) == 0.1);
        ASSERT(json_real_value(json_object_get(p, "c")) == -2.5e-7);
        json_decref(doc);
    }
    shelf_free(i);
    shelf_free(r);
    shelf_free(r2);
    shelf_free(e);
}

/*
 * Regression test, fixed (lib/patch/doc.c, shelf__doc_dump): doc/documents.md says
 * reals are written as "the shortest text that reads back to the same
 * double", but JSON_REAL_PRECISION(17) writes %.17g: 0.3 becomes
 * 0.29999999999999999 and 0.1 becomes 0.10000000000000001 in the canonical
 * text, in `shelf patch show` and in every diff.  (Stable, so hashes are
 * right; either the text or the documentation is wrong, and changing the
 * text later changes the hashes of stored versions.)
 */
TEST(canonical_shortest_reals)
{
    char *t = canon("{\"shelf_patch\":1,\"name\":\"x\",\"params\":{\"a\":0.1,\"b\":0.3,"
                    "\"c\":-6.5,\"d\":100.0,\"e\":1200.25}}");

    ASSERT_EQ_STR(t, "{\"name\":\"x\",\"params\":{\"a\":0.1,\"b\":0.3,\"c\":-6.5,"
                     "\"d\":100.0,\"e\":1200.25},\"shelf_patch\":1}");
    shelf_free(t);
}

TEST(canonical_idempotent)
{
    static const char *const docs[] = {
        "{\"shelf_patch\":1,\"name\":\"Grand Piano\",\"author\":\"Someone\",\"category\":\"Piano\","
        "\"comment\":\"Free text \\u00e9\\n\",\"tags\":[\"soft\",\"Acoustic\"],\"rating\":4,"
        "\"source\":{\"format\":\"sfz\",\"file\":\"Grand.sfz\"},"
        "\"params\":{\"amp\":{\"volume\":-6.0,\"pan\":0},\"filter\":{\"type\":\"lpf_2p\","
        "\"cutoff\":1200.5},\"lfo\":[{\"rate\":0.5},{\"rate\":2}],\"on\":true,\"seq\":[1,2.5,\"x\"]},"
        "\"types\":{\"params/amp/volume\":{\"type\":\"number\",\"unit\":\"dB\",\"min\":-144,\"max\":6},"
        "\"params/filter/type\":{\"type\":\"enum\",\"values\":[\"lpf_1p\",\"lpf_2p\"]}},"
        "\"zones\":{\"z0001\":{\"sample\":{\"id\":12,\"sha256\":"
        "\"ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12\",\"path\":\"a.wav\"},"
        "\"key\":[55,62],\"root\":60,\"vel\":[0,127],\"rr\":1,\"loop\":{\"mode\":\"loop_continuous\","
        "\"start\":1200,\"end\":88000},\"params\":{\"volume\":-3.0,\"tune\":12}}}}",
        "{\"shelf_project\":1,\"name\":\"Live set\",\"tempo\":124.0,\"comment\":\"c\",\"tags\":[\"live\"],"
        "\"patches\":{\"5\":{\"version\":\"9f3e9f3e9f3e9f3e9f3e9f3e9f3e9f3e9f3e9f3e9f3e9f3e9f3e9f3e9f3e9f3e\","
        "\"slot\":\"A\"}},\"samples\":{\"12\":{}},\"automation\":{\"a0001\":{\"type\":\"points\","
        "\"target\":\"patch:5/params/filter/cutoff\",\"start\":0.0,\"duration\":16.0,"
        "\"points\":[[0.0,200.0],[8.0,4000.0],[16.0,200.0]]}}}",
    };
    size_t i;

    for (i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        char h1[65], h2[65];
        char *a = canon_at(__FILE__, __LINE__, docs[i], 0, h1);
        char *b = canon_at(__FILE__, __LINE__, a, 0, h2);

        ASSERT_EQ_STR(a, b);
        ASSERT_EQ_STR(h1, h2);
        shelf_free(a);
        shelf_free(b);
    }
}

TEST(canonical_kind)
{
    char *out = (char *)&out, *msg = NULL;
    const char *p = "{\"shelf_patch\":1,\"name\":\"x\"}";

    ASSERT_RC(SHELF_EFORMAT, shelf_doc_canonical(p, strlen(p), PROJECT, &out, NULL, &msg));
    ASSERT(out == NULL);
    ASSERT(msg && strstr(msg, "patch"));
    shelf_free(msg);
    /* errmsg may be NULL. */
    ASSERT_RC(SHELF_EFORMAT, shelf_doc_canonical("[]", 2, 0, &out, NULL, NULL));
    ASSERT_OK(shelf_doc_canonical(p, strlen(p), PATCH, &out, NULL, NULL));
    shelf_free(out);
    /* len is honoured: the text need not be NUL-terminated. */
    ASSERT_OK(shelf_doc_canonical("{\"shelf_patch\":1,\"name\":\"x\"}garbage", strlen(p), 0, &out,
                                  NULL, NULL));
    shelf_free(out);
}

/* ---- schema checking -------------------------------------------------------------- */

TEST(schema_rejects)
{
    static const struct {
        const char *json;
        const char *member;     /* the message must name it */
    } bad[] = {
        { "[1]", "object" },
        { "{\"name\":\"x\"}", "shelf_patch" },
        { "{\"shelf_patch\":\"1\",\"name\":\"x\"}", "shelf_patch" },
        { "{\"shelf_patch\":0,\"name\":\"x\"}", "shelf_patch" },
        { "{\"shelf_patch\":1}", "name" },
        { "{\"shelf_patch\":1,\"name\":\"\"}", "name" },
        { "{\"shelf_patch\":1,\"name\":5}", "name" },
        { "{\"shelf_patch\":1,\"name\":null}", "name" },
        { "{\"shelf_patch\":1,\"name\":\"x\",\"author\":3}", "author" },
        { "{\"shelf_patch\":1,\"name\":\"x\",\"category\":[]}", "category" },
        { "{\"shelf_patch\":1,\"name\":\"x\",\"comment\":null}", "comment" },
        { "{\"shelf_patch\":1,\"name\":\"x\",\"colour\":\"red\"}", "colour" },
        { "{\"shelf_patch\":1,\"name\":\"x\",\"shelf_project\":1}", "shelf_project" },
        { "{\"shelf_patch\":1,\"name\":\"x\",\"tags\":\"a\"}", "tags" },
        { "{\"shelf_patch\":1,\"name\":\"x\",\"tags\":[1]}", "tags" },
        { "{\"shelf_patch\":1,\"name\":\"x\",\"tags\":[\"a b\"]}", "tags" },
        { "{\"shelf_patch\":1,\"name\":\"x\",\"tags\":[\"\"]}", "tags" },
        { "{\"shelf_patch\":1,\"name\":\"x\",\"rating\":6}", "rating" },
        { "{\"shelf_patch\":1,\"name\":\"x\",\"rating\":-1}", "rating" },
        { "{\"shelf_patch\":1,\"name\":\"x\",\"rating\":2.5}", "rating" },
        { "{\"shelf_patch\":1,\"name\":\"x\",\"rating\":\"3\"}", "rating" },
        { "{\"shelf_patch\":1,\"name\":\"x\",\"source\":\"sfz\"}", "source" },
        { "{\"shelf_patch\":1,\"name\":\"x\",\"params\":[]}", "params" },
        { "{\"shelf_patch\":1,\"name\":\"x\",\"params\":{\"a\":null}}", "params/a" },
        { "{\"shelf_patch\":1,\"name\":\"x\",\"params\":{\"g\":{\"\":1}}}", "params/g" },
        { "{\"shelf_patch\":1,\"name\":\"x\",\"params\":{\"a\":[[1]]}}", "params/a" },
        { "{\"shelf_patch\":1,\"name\":\"x\",\"params\":{\"a\":[1,null]}}", "params/a" },
        { "{\"shelf_patch\":1,\"name\":\"x\",\"types\":[]}", "types" },
        { "{\"shelf_patch\":1,\"name\":\"x\",\"types\":{\"params/a\":{\"type\":\"float\"}}}",
          "types/params/a" },
        { "{\"shelf_patch\":1,\"name\":\"x\",\"types\":{\"params/a\":{\"min\":\"0\"}}}", "min" },
        { "{\"shelf_patch\":1,\"name\":\"x\",\"types\":{\"params/a\":{\"max\":null}}}", "max" },
        { "{\"shelf_patch\":1,\"name\":\"x\",\"types\":{\"params/a\":{\"unit\":1}}}", "unit" },
        { "{\"shelf_patch\":1,\"name\":\"x\",\"types\":{\"params/a\":{\"values\":[1]}}}", "values" },
        { "{\"shelf_patch\":1,\"name\":\"x\",\"types\":{\"params/a\":{\"step\":1}}}", "step" },
        { "{\"shelf_patch\":1,\"name\":\"x\",\"zones\":[]}", "zones" },
        { "{\"shelf_patch\":1,\"name\":\"x\",\"zones\":{\"z\":{}}}", "zones/z/sample" },
        { "{\"shelf_patch\":1,\"name\":\"x\",\"zones\":{\"z\":{\"sample\":{}}}}", "zones/z/sample" },
        { "{\"shelf_patch\":1,\"name\":\"x\",\"zones\":{\"z\":{\"sample\":{\"id\":0}}}}", "id" },
        { "{\"shelf_patch\":1,\"name\":\"x\",\"zones\":{\"z\":{\"sample\":{\"id\":\"3\"}}}}", "id" },
        { "{\"shelf_patch\":1,\"name\":\"x\",\"zones\":{\"z\":{\"sample\":{\"sha256\":\"ABC\"}}}}",
          "sha256" },
        { "{\"shelf_patch\":1,\"name\":\"x\",\"zones\":{\"z\":{\"sample\":{\"path\":1}}}}", "path" },
        { "{\"shelf_patch\":1,\"name\":\"x\",\"zones\":{\"z\":{\"sample\":{\"id\":1,\"gain\":1}}}}",
          "gain" },
        { "{\"shelf_patch\":1,\"name\":\"x\",\"zones\":{\"z\":{\"sample\":{\"id\":1},\"key\":[60]}}}",
          "zones/z/key" },
        { "{\"shelf_patch\":1,\"name\":\"x\",\"zones\":{\"z\":{\"sample\":{\"id\":1},\"key\":[62,60]}}}",
          "zones/z/key" },
        { "{\"shelf_patch\":1,\"name\":\"x\",\"zones\":{\"z\":{\"sample\":{\"id\":1},\"key\":[0,128]}}}",
          "zones/z/key" },
        { "{\"shelf_patch\":1,\"name\":\"x\",\"zones\":{\"z\":{\"sample\":{\"id\":1},\"vel\":[-1,10]}}}",
          "zones/z/vel" },
        { "{\"shelf_patch\":1,\"name\":\"x\",\"zones\":{\"z\":{\"sample\":{\"id\":1},\"vel\":[1.5,10]}}}",
          "zones/z/vel" },
        { "{\"shelf_patch\":1,\"name\":\"x\",\"zones\":{\"z\":{\"sample\":{\"id\":1},\"root\":128}}}",
          "zones/z/root" },
        { "{\"shelf_patch\":1,\"name\":\"x\",\"zones\":{\"z\":{\"sample\":{\"id\":1},\"rr\":0}}}",
          "zones/z/rr" },
        { "{\"shelf_patch\":1,\"name\":\"x\",\"zones\":{\"z\":{\"sample\":{\"id\":1},\"loop\":"
          "{\"start\":10,\"end\":5}}}}", "zones/z/loop" },
        { "{\"shelf_patch\":1,\"name\":\"x\",\"zones\":{\"z\":{\"sample\":{\"id\":1},\"loop\":"
          "{\"mode\":\"pingpong\"}}}}", "zones/z/loop" },
        { "{\"shelf_patch\":1,\"name\":\"x\",\"zones\":{\"z\":{\"sample\":{\"id\":1},\"loop\":"
          "{\"start\":-1}}}}", "zones/z/loop/start" },
        { "{\"shelf_patch\":1,\"name\":\"x\",\"zones\":{\"z\":{\"sample\":{\"id\":1},\"loop\":3}}}",
          "zones/z/loop" },
        { "{\"shelf_patch\":1,\"name\":\"x\",\"zones\":{\"z\":{\"sample\":{\"id\":1},\"pitch\":3}}}",
          "zones/z/pitch" },
        { "{\"shelf_patch\":1,\"name\":\"x\",\"zones\":{\"z\":{\"sample\":{\"id\":1},\"params\":"
          "{\"v\":null}}}}", "zones/z/params/v" },
        { "{\"shelf_patch\":1,\"name\":\"x\",\"zones\":{\"\":{\"sample\":{\"id\":1}}}}", "zones" },
        { "{\"shelf_project\":1,\"name\":\"x\",\"tempo\":0}", "tempo" },
        { "{\"shelf_project\":1,\"name\":\"x\",\"tempo\":\"fast\"}", "tempo" },
        { "{\"shelf_project\":1,\"name\":\"x\",\"tempo\":1001}", "tempo" },
        { "{\"shelf_project\":1,\"name\":\"x\",\"params\":{}}", "params" },
        { "{\"shelf_project\":1,\"name\":\"x\",\"patches\":{\"abc\":{}}}", "patches/abc" },
        { "{\"shelf_project\":1,\"name\":\"x\",\"patches\":{\"05\":{}}}", "patches/05" },
        { "{\"shelf_project\":1,\"name\":\"x\",\"patches\":{\"-5\":{}}}", "patches/-5" },
        { "{\"shelf_project\":1,\"name\":\"x\",\"patches\":{\"5\":3}}", "patches/5" },
        { "{\"shelf_project\":1,\"name\":\"x\",\"patches\":{\"5\":{\"version\":\"v1\"}}}",
          "patches/5" },
        { "{\"shelf_project\":1,\"name\":\"x\",\"patches\":{\"5\":{\"volume\":1}}}", "volume" },
        { "{\"shelf_project\":1,\"name\":\"x\",\"samples\":{\"x1\":{}}}", "samples/x1" },
        { "{\"shelf_project\":1,\"name\":\"x\",\"automation\":{\"a\":{\"type\":\"steps\","
          "\"target\":\"patch:1/x\"}}}", "automation/a" },
        { "{\"shelf_project\":1,\"name\":\"x\",\"automation\":{\"a\":{\"type\":\"points\"}}}",
          "automation/a" },
        { "{\"shelf_project\":1,\"name\":\"x\",\"automation\":{\"a\":{\"type\":\"points\","
          "\"target\":\"patch:1/x\",\"start\":-1}}}", "automation/a" },
        { "{\"shelf_project\":1,\"name\":\"x\",\"automation\":{\"a\":{\"type\":\"points\","
          "\"target\":\"patch:1/x\",\"points\":[[0,1],[2]]}}}", "automation/a" },
        { "{\"shelf_project\":1,\"name\":\"x\",\"automation\":{\"a\":{\"type\":\"points\","
          "\"target\":\"patch:1/x\",\"points\":[[0,\"1\"]]}}}", "automation/a" },
        { "{\"shelf_project\":1,\"name\":\"x\",\"automation\":{\"a\":{\"type\":\"points\","
          "\"target\":\"patch:1/x\",\"speed\":1}}}", "speed" },
        /* Not JSON, duplicate keys, a non-finite number. */
        { "{\"shelf_patch\":1,\"name\":\"x\"", "JSON" },
        { "{\"shelf_patch\":1,\"name\":\"x\",\"name\":\"y\"}", "name" },
        { "{\"shelf_patch\":1,\"name\":\"x\",\"params\":{\"a\":1e999}}", "JSON" },
        { "{\"shelf_patch\":1,\"name\":\"x\",\"params\":{\"a\":NaN}}", "JSON" },
    };
    size_t i;

    for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
        canon_fails(bad[i].json, SHELF_EFORMAT, bad[i].member);
}

TEST(schema_accepts)
{
    static const char *const good[] = {
        "{\"shelf_patch\":1,\"name\":\"x\",\"params\":{\"a\":[{\"r\":1},{\"r\":2}]}}",
        "{\"shelf_patch\":1,\"name\":\"x\",\"params\":{\"a\":[]}}",
        "{\"shelf_patch\":1,\"name\":\"x\",\"params\":{\"a/b\":1,\"c~d\":2}}",
        "{\"shelf_patch\":1,\"name\":\"x\",\"zones\":{\"z\":{\"sample\":{\"path\":\"a.wav\"},"
        "\"key\":[0,127],\"vel\":[64,64],\"root\":0,\"rr\":3,\"loop\":{\"mode\":\"one_shot\"}}}}",
        "{\"shelf_patch\":1,\"name\":\"x\",\"zones\":{\"z\":{\"sample\":{\"sha256\":"
        "\"0000000000000000000000000000000000000000000000000000000000000000\",\"missing\":true},"
        "\"loop\":{\"start\":5,\"end\":5}}}}",
        "{\"shelf_project\":1,\"name\":\"x\",\"tempo\":1000,\"patches\":{\"123456789012345678\":{}}}",
        "{\"shelf_project\":1,\"name\":\"x\",\"tempo\":0.5,\"automation\":{\"a\":{\"type\":\"curve\","
        "\"target\":\"patch:1/p\",\"points\":[],\"shape\":[1,2]}}}",
        "{\"shelf_patch\":1,\"name\":\"\\u0000nul inside\"}",
    };
    size_t i;

    for (i = 0; i < sizeof good / sizeof good[0]; i++)
        shelf_free(canon(good[i]));
}

/* Nesting: 32 levels of groups pass, 33 do not. */
TEST(schema_depth)
{
    shelf__buf b = SHELF__BUF_INIT;
    int depth, i;

    for (depth = 30; depth <= 40; depth++) {
        char *out = NULL, *msg = NULL;
        int rc;

        shelf__buf_reset(&b);
        ASSERT_OK(shelf__buf_adds(&b, "{\"shelf_patch\":1,\"name\":\"x\",\"params\":"));
        for (i = 0; i < depth; i++)
            ASSERT_OK(shelf__buf_adds(&b, "{\"g\":"));
        ASSERT_OK(shelf__buf_adds(&b, "1"));
        for (i = 0; i < depth; i++)
            ASSERT_OK(shelf__buf_adds(&b, "}"));
        ASSERT_OK(shelf__buf_adds(&b, "}"));
        rc = shelf_doc_canonical(b.buf, b.len, 0, &out, NULL, &msg);
        if (depth + 1 <= SHELF__DOC_MAX_DEPTH) {
            ASSERT_OKM(msg ? msg : "", rc);
        } else {
            ASSERT_RC(SHELF_EFORMAT, rc);
            ASSERT(msg && strstr(msg, "deep"));
        }
        shelf_free(out);
        shelf_free(msg);
    }
    /* Very deep JSON is refused, not a stack overflow. */
    shelf__buf_reset(&b);
    ASSERT_OK(shelf__buf_adds(&b, "{\"shelf_patch\":1,\"name\":\"x\",\"params\":{\"a\":"));
    for (i = 0; i < 100000; i++)
        ASSERT_OK(shelf__buf_adds(&b, "["));
    canon_fails(b.buf, SHELF_EFORMAT, NULL);
    shelf__buf_release(&b);
}

TEST(schema_format_newer)
{
    canon_fails("{\"shelf_patch\":2,\"name\":\"x\"}", SHELF_EVERSION, "format 2");
    canon_fails("{\"shelf_project\":7,\"name\":\"x\"}", SHELF_EVERSION, "format 7");
}

/*
 * Regression test, fixed (lib/patch/doc.c, check_idkey): the id check looks at the
 * text after the last '/' of the message path, which holds the key
 * unescaped, so a project "patches" key "x/5" passes as the catalog id 5.
 */
TEST(schema_project_key_with_slash)
{
    canon_fails("{\"shelf_project\":1,\"name\":\"x\",\"patches\":{\"x/5\":{}}}", SHELF_EFORMAT,
                "patches");
    canon_fails("{\"shelf_project\":1,\"name\":\"x\",\"samples\":{\"1/2\":{}}}", SHELF_EFORMAT,
                "samples");
}

/*
 * Regression test, fixed (lib/patch/doc.c, check_proj_sample / check_idkey): the
 * members of project "patches" and "samples" entries are never type
 * checked: "sha256" of a sample is not checked to be a hash, "slot" and
 * "name" take any JSON, including null, which the schema rejects everywhere
 * else.
 */
TEST(schema_project_entry_members)
{
    canon_fails("{\"shelf_project\":1,\"name\":\"x\",\"samples\":{\"5\":{\"sha256\":5}}}",
                SHELF_EFORMAT, "sha256");
    canon_fails("{\"shelf_project\":1,\"name\":\"x\",\"patches\":{\"5\":{\"slot\":null}}}",
                SHELF_EFORMAT, "slot");
    canon_fails("{\"shelf_project\":1,\"name\":\"x\",\"patches\":{\"5\":{\"name\":[1]}}}",
                SHELF_EFORMAT, "name");
}

/*
 * Regression test, fixed (lib/patch/doc.c, check_types): a "types" key may be empty
 * ("types": {"": {...}}); every other map rejects an empty key.  Its diff
 * path is "types/", which shelf__docpath_split refuses, so the delta of a
 * version that adds it cannot be applied.
 */
TEST(schema_types_empty_key)
{
    canon_fails("{\"shelf_patch\":1,\"name\":\"x\",\"types\":{\"\":{\"type\":\"number\"}}}",
                SHELF_EFORMAT, "types");
}

/* Non-finite numbers cannot come from JSON text (1e999 and NaN above), nor
 * be made by code (jansson refuses them); null made by code is refused. */
TEST(schema_non_finite_and_null_internal)
{
    shelf__err err = { 0, "" };
    json_t *doc = load("{\"shelf_patch\":1,\"name\":\"x\",\"params\":{\"a\":1}}");

    ASSERT(json_real(NAN) == NULL);
    ASSERT(json_real(INFINITY) == NULL);
    ASSERT_OK(shelf__doc_set(doc, "params/g/b", json_null(), &err));
    ASSERT_RC(SHELF_EFORMAT, shelf__doc_check(doc, PATCH, &err));
    ASSERT(strstr(err.msg, "params/g/b") != NULL);
    json_decref(doc);
}

/* ---- paths -------------------------------------------------------------------------- */

TEST(paths_split_escape)
{
    char **segs;
    size_t n;
    shelf__buf b = SHELF__BUF_INIT;

    ASSERT_OK(shelf__docpath_split("params/a~1b/c~0d/~01", &segs, &n));
    ASSERT_EQ_INT(n, 4);
    ASSERT_EQ_STR(segs[0], "params");
    ASSERT_EQ_STR(segs[1], "a/b");
    ASSERT_EQ_STR(segs[2], "c~d");
    ASSERT_EQ_STR(segs[3], "~1");
    shelf__docpath_free(segs, n);
    /* A leading '/' is allowed (RFC 6901 style). */
    ASSERT_OK(shelf__docpath_split("/name", &segs, &n));
    ASSERT_EQ_INT(n, 1);
    ASSERT_EQ_STR(segs[0], "name");
    shelf__docpath_free(segs, n);
    /* Invalid: empty, empty segments, bad escapes. */
    ASSERT_RC(SHELF_EINVAL, shelf__docpath_split("", &segs, &n));
    ASSERT_RC(SHELF_EINVAL, shelf__docpath_split("/", &segs, &n));
    ASSERT_RC(SHELF_EINVAL, shelf__docpath_split("a//b", &segs, &n));
    ASSERT_RC(SHELF_EINVAL, shelf__docpath_split("a/", &segs, &n));
    ASSERT_RC(SHELF_EINVAL, shelf__docpath_split("a~", &segs, &n));
    ASSERT_RC(SHELF_EINVAL, shelf__docpath_split("a~2", &segs, &n));
    ASSERT_RC(SHELF_EINVAL, shelf__docpath_split("~/a", &segs, &n));
    ASSERT(segs == NULL && n == 0);
    /* add escapes what split unescapes. */
    ASSERT_OK(shelf__docpath_add(&b, "params"));
    ASSERT_OK(shelf__docpath_add(&b, "a/b~c"));
    ASSERT_OK(shelf__docpath_add(&b, "~1"));
    ASSERT_EQ_STR(b.buf, "params/a~1b~0c/~01");
    ASSERT_OK(shelf__docpath_split(b.buf, &segs, &n));
    ASSERT_EQ_INT(n, 3);
    ASSERT_EQ_STR(segs[1], "a/b~c");
    ASSERT_EQ_STR(segs[2], "~1");
    shelf__docpath_free(segs, n);
    shelf__buf_release(&b);
}

TEST(paths_get_set_remove)
{
    shelf__err err = { 0, "" };
    json_t *doc = load("{\"shelf_patch\":1,\"name\":\"x\",\"params\":{\"a/b\":1,\"c~d\":2,"
                       "\"lfo\":[{\"rate\":0.5},{\"rate\":2}],\"s\":\"str\",\"arr\":[1,2]}}");
    char *t;

    ASSERT_EQ_INT(json_integer_value(shelf__doc_get(doc, "params/a~1b")), 1);
    ASSERT_EQ_INT(json_integer_value(shelf__doc_get(doc, "params/c~0d")), 2);
    ASSERT(json_real_value(shelf__doc_get(doc, "params/lfo/1/rate")) == 2.0 ||
           json_integer_value(shelf__doc_get(doc, "params/lfo/1/rate")) == 2);
    ASSERT(json_real_value(shelf__doc_get(doc, "/params/lfo/0/rate")) == 0.5);
    ASSERT(shelf__doc_get(doc, "params/lfo/2/rate") == NULL);
    ASSERT(shelf__doc_get(doc, "params/lfo/01/rate") == NULL);
    ASSERT(shelf__doc_get(doc, "params/lfo/-1") == NULL);
    ASSERT(shelf__doc_get(doc, "params/lfo/x") == NULL);
    ASSERT(shelf__doc_get(doc, "params/s/x") == NULL);
    ASSERT(shelf__doc_get(doc, "params/nothing") == NULL);
    ASSERT(shelf__doc_get(doc, "params//a") == NULL);
    ASSERT_EQ_STR(json_string_value(shelf__doc_get(doc, "name")), "x");
    /* Set: replace, creating groups on the way, into arrays (append at the end). */
    ASSERT_OK(shelf__doc_set(doc, "params/a~1b", json_integer(5), &err));
    ASSERT_OK(shelf__doc_set(doc, "params/new/deep/er", json_string("v"), &err));
    ASSERT_OK(shelf__doc_set(doc, "params/lfo/0/rate", json_integer(9), &err));
    ASSERT_OK(shelf__doc_set(doc, "params/arr/2", json_integer(3), &err));
    ASSERT_OK(shelf__doc_set(doc, "params/arr/0", json_integer(0), &err));
    ASSERT_RC(SHELF_EINVAL, shelf__doc_set(doc, "params/arr/4", json_integer(3), &err));
    ASSERT_RC(SHELF_EINVAL, shelf__doc_set(doc, "params/arr/x", json_integer(3), &err));
    ASSERT_RC(SHELF_EINVAL, shelf__doc_set(doc, "params/s/x", json_integer(3), &err));
    ASSERT(strstr(err.msg, "params/s/x") != NULL);
    ASSERT_RC(SHELF_EINVAL, shelf__doc_set(doc, "params/arr/x/y", json_integer(3), &err));
    ASSERT_RC(SHELF_EINVAL, shelf__doc_set(doc, "params//y", json_integer(3), &err));
    ASSERT_RC(SHELF_EINVAL, shelf__doc_set(doc, "params/~9", json_integer(3), &err));
    ASSERT_RC(SHELF_ENOMEM, shelf__doc_set(doc, "params/q", NULL, &err));
    t = dump(doc);
    ASSERT_EQ_STR(t, "{\"name\":\"x\",\"params\":{\"a/b\":5,\"arr\":[0,2,3],\"c~d\":2,"
                     "\"lfo\":[{\"rate\":9},{\"rate\":2}],\"new\":{\"deep\":{\"er\":\"v\"}},"
                     "\"s\":\"str\"},\"shelf_patch\":1}");
    free(t);
    /* Remove. */
    ASSERT_OK(shelf__doc_remove(doc, "params/c~0d", &err));
    ASSERT_OK(shelf__doc_remove(doc, "params/arr/1", &err));
    ASSERT_OK(shelf__doc_remove(doc, "params/new", &err));
    ASSERT_RC(SHELF_ENOTFOUND, shelf__doc_remove(doc, "params/c~0d", &err));
    ASSERT_RC(SHELF_ENOTFOUND, shelf__doc_remove(doc, "params/arr/5", &err));
    ASSERT_RC(SHELF_ENOTFOUND, shelf__doc_remove(doc, "params/zz/y", &err));
    ASSERT_RC(SHELF_EINVAL, shelf__doc_remove(doc, "params/", &err));
    t = dump(doc);
    ASSERT_EQ_STR(t, "{\"name\":\"x\",\"params\":{\"a/b\":5,\"arr\":[0,3],"
                     "\"lfo\":[{\"rate\":9},{\"rate\":2}],\"s\":\"str\"},\"shelf_patch\":1}");
    free(t);
    json_decref(doc);
}

/* ---- diff ----------------------------------------------------------------------------- */

TEST(diff_ops)
{
    char *a = patchf("\"params\":{\"amp\":{\"volume\":-6.0,\"pan\":0},\"old\":1,\"seq\":[1,2]},"
                     "\"rating\":2,\"author\":\"me\"");
    char *b = patchf("\"params\":{\"amp\":{\"volume\":-3.0,\"pan\":0,\"width\":1},\"seq\":[1,2,3],"
                     "\"filter\":{\"cutoff\":100}},\"rating\":4,\"comment\":\"hi\"");

    ASSERT_DIFF(a, a, "[]");
    ASSERT_DIFF(a, b,
        "[{\"op\":\"remove\",\"path\":\"author\",\"old\":\"me\"},"
        "{\"op\":\"add\",\"path\":\"comment\",\"new\":\"hi\"},"
        "{\"op\":\"change\",\"path\":\"params/amp/volume\",\"old\":-6.0,\"new\":-3.0},"
        "{\"op\":\"add\",\"path\":\"params/amp/width\",\"new\":1},"
        "{\"op\":\"add\",\"path\":\"params/filter\",\"new\":{\"cutoff\":100}},"
        "{\"op\":\"remove\",\"path\":\"params/old\",\"old\":1},"
        "{\"op\":\"change\",\"path\":\"params/seq\",\"old\":[1,2],\"new\":[1,2,3]},"
        "{\"op\":\"change\",\"path\":\"rating\",\"old\":2,\"new\":4}]");
    /* Rating from unrated (omitted) and back. */
    ASSERT_DIFF("{\"shelf_patch\":1,\"name\":\"P\",\"rating\":0}",
                "{\"shelf_patch\":1,\"name\":\"P\",\"rating\":5}",
                "[{\"op\":\"add\",\"path\":\"rating\",\"new\":5}]");
    /* A group replaced by a value is one change. */
    ASSERT_DIFF("{\"shelf_patch\":1,\"name\":\"P\",\"params\":{\"g\":{\"a\":1}}}",
                "{\"shelf_patch\":1,\"name\":\"P\",\"params\":{\"g\":2}}",
                "[{\"op\":\"change\",\"path\":\"params/g\",\"old\":{\"a\":1},\"new\":2}]");
    /* Escaped keys. */
    ASSERT_DIFF("{\"shelf_patch\":1,\"name\":\"P\",\"params\":{\"a/b\":1}}",
                "{\"shelf_patch\":1,\"name\":\"P\",\"params\":{\"a/b\":2,\"c~\":1}}",
                "[{\"op\":\"change\",\"path\":\"params/a~1b\",\"old\":1,\"new\":2},"
                "{\"op\":\"add\",\"path\":\"params/c~0\",\"new\":1}]");
    /* Integer vs real is a change. */
    ASSERT_DIFF("{\"shelf_patch\":1,\"name\":\"P\",\"params\":{\"v\":1}}",
                "{\"shelf_patch\":1,\"name\":\"P\",\"params\":{\"v\":1.0}}",
                "[{\"op\":\"change\",\"path\":\"params/v\",\"old\":1,\"new\":1.0}]");
    free(a);
    free(b);
}

TEST(diff_tags_as_set)
{
    ASSERT_DIFF("{\"shelf_patch\":1,\"name\":\"P\",\"tags\":[\"a\",\"b\",\"lo/fi\"]}",
                "{\"shelf_patch\":1,\"name\":\"P\",\"tags\":[\"C\",\"b\",\"A\"]}",
                "[{\"op\":\"add\",\"path\":\"tags/c\",\"new\":true},"
                "{\"op\":\"remove\",\"path\":\"tags/lo~1fi\",\"old\":true}]");
    /* From no tags at all, and to none: still member by member. */
    ASSERT_DIFF("{\"shelf_patch\":1,\"name\":\"P\"}",
                "{\"shelf_patch\":1,\"name\":\"P\",\"tags\":[\"x\",\"y\"]}",
                "[{\"op\":\"add\",\"path\":\"tags/x\",\"new\":true},"
                "{\"op\":\"add\",\"path\":\"tags/y\",\"new\":true}]");
    ASSERT_DIFF("{\"shelf_patch\":1,\"name\":\"P\",\"tags\":[\"x\"]}",
                "{\"shelf_patch\":1,\"name\":\"P\"}",
                "[{\"op\":\"remove\",\"path\":\"tags/x\",\"old\":true}]");
}

TEST(diff_zones)
{
    const char *a = "{\"shelf_patch\":1,\"name\":\"P\",\"zones\":{"
                    "\"z1\":{\"sample\":{\"id\":1},\"key\":[0,60],\"params\":{\"tune\":0}},"
                    "\"z2\":{\"sample\":{\"id\":2}}}}";
    const char *b = "{\"shelf_patch\":1,\"name\":\"P\",\"zones\":{"
                    "\"z1\":{\"sample\":{\"id\":3},\"key\":[0,61],\"params\":{\"tune\":5}},"
                    "\"z3\":{\"sample\":{\"id\":2}}}}";

    ASSERT_DIFF(a, b,
        "[{\"op\":\"change\",\"path\":\"zones/z1/key\",\"old\":[0,60],\"new\":[0,61]},"
        "{\"op\":\"change\",\"path\":\"zones/z1/params/tune\",\"old\":0,\"new\":5},"
        "{\"op\":\"change\",\"path\":\"zones/z1/sample/id\",\"old\":1,\"new\":3},"
        "{\"op\":\"remove\",\"path\":\"zones/z2\",\"old\":{\"sample\":{\"id\":2}}},"
        "{\"op\":\"add\",\"path\":\"zones/z3\",\"new\":{\"sample\":{\"id\":2}}}]");
}

TEST(diff_refuses)
{
    char *d = (char *)&d, *msg = NULL;

    ASSERT_RC(SHELF_EFORMAT, shelf_doc_diff("{\"shelf_patch\":1,\"name\":\"P\"}",
                                            "{\"shelf_project\":1,\"name\":\"P\"}", &d, &msg));
    ASSERT(d == NULL);
    ASSERT(msg && strstr(msg, "second"));
    shelf_free(msg);
    ASSERT_RC(SHELF_EFORMAT, shelf_doc_diff("{", "{\"shelf_patch\":1,\"name\":\"P\"}", &d, &msg));
    ASSERT(msg && strstr(msg, "first"));
    shelf_free(msg);
}

/* ---- random documents ------------------------------------------------------------------ */

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t rnd(rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* 0..n-1 */
static int rndn(rng *r, int n)
{
    return (int)(rnd(r) % (uint64_t)n);
}

static const char *const pnames[] = { "cutoff", "res", "volume", "pan", "a/b", "t~x", "attack",
                                      "decay", "on", "mode", "0", "1" };
static const char *const tagpool[] = { "bass", "lead", "pad", "soft", "dark", "lo/fi", "a~b",
                                       "keys" };

static json_t *rnd_scalar(rng *r)
{
    static const char *const strs[] = { "lpf", "hpf", "sine", "", "x y", "\xc3\xa9t\xc3\xa9" };

    switch (rndn(r, 6)) {
    case 0: return json_integer(rndn(r, 2001) - 1000);
    case 1: return json_real((rndn(r, 20001) - 10000) / 8.0 + 0.125);
    case 2: return json_string(strs[rndn(r, 6)]);
    case 3: return json_boolean(rndn(r, 2));
    case 4: {
        json_t *a = json_array();
        int n = rndn(r, 4), i;

        for (i = 0; i < n; i++)
            ASSERT(json_array_append_new(a, rndn(r, 2) ? json_integer(rndn(r, 10))
                                                       : json_string(strs[rndn(r, 3)])) == 0);
        return a;
    }
    default: return json_real(rndn(r, 1000) / 3.0 + 0.5);
    }
}

static json_t *rnd_group(rng *r, int depth)
{
    json_t *g = json_object();
    int n = 1 + rndn(r, 5), i;

    for (i = 0; i < n; i++) {
        const char *k = pnames[rndn(r, (int)(sizeof pnames / sizeof pnames[0]))];

        if (depth < 3 && rndn(r, 4) == 0)
            ASSERT(json_object_set_new(g, k, rnd_group(r, depth + 1)) == 0);
        else if (depth < 3 && rndn(r, 12) == 0) {
            json_t *a = json_array();     /* an array of groups */

            ASSERT(json_array_append_new(a, rnd_group(r, 3)) == 0);
            ASSERT(json_array_append_new(a, rnd_group(r, 3)) == 0);
            ASSERT(json_object_set_new(g, k, a) == 0);
        } else
            ASSERT(json_object_set_new(g, k, rnd_scalar(r)) == 0);
    }
    return g;
}

static json_t *rnd_range(rng *r)
{
    int lo = rndn(r, 128), hi = lo + rndn(r, 128 - lo);

    return json_pack("[i, i]", lo, hi);
}

static json_t *rnd_zone(rng *r)
{
    json_t *z = json_object(), *s = json_object();

    if (rndn(r, 3))
        ASSERT(json_object_set_new(s, "id", json_integer(1 + rndn(r, 50))) == 0);
    else
        ASSERT(json_object_set_new(s, "path", json_sprintf("s%d.wav", rndn(r, 50))) == 0);
    ASSERT(json_object_set_new(z, "sample", s) == 0);
    if (rndn(r, 2))
        ASSERT(json_object_set_new(z, "key", rnd_range(r)) == 0);
    if (rndn(r, 2))
        ASSERT(json_object_set_new(z, "vel", rnd_range(r)) == 0);
    if (rndn(r, 2))
        ASSERT(json_object_set_new(z, "root", json_integer(rndn(r, 128))) == 0);
    if (rndn(r, 3) == 0)
        ASSERT(json_object_set_new(z, "rr", json_integer(1 + rndn(r, 4))) == 0);
    if (rndn(r, 2))
        ASSERT(json_object_set_new(z, "params", rnd_group(r, 2)) == 0);
    return z;
}

/* A random valid patch in working form. */
static json_t *rnd_patch(rng *r)
{
    shelf__err err = { 0, "" };
    json_t *d = json_pack("{s:i, s:s}", "shelf_patch", 1, "name", "Rand");
    int i, n;

    if (rndn(r, 2))
        ASSERT(json_object_set_new(d, "author", json_string(rndn(r, 2) ? "me" : "you")) == 0);
    if (rndn(r, 3) == 0)
        ASSERT(json_object_set_new(d, "comment", json_string("c")) == 0);
    if (rndn(r, 2)) {
        json_t *t = json_array();

        n = 1 + rndn(r, 4);
        for (i = 0; i < n; i++)
            ASSERT(json_array_append_new(t, json_string(tagpool[rndn(r, 8)])) == 0);
        ASSERT(json_object_set_new(d, "tags", t) == 0);
    }
    ASSERT(json_object_set_new(d, "rating", json_integer(rndn(r, 6))) == 0);
    if (rndn(r, 6))
        ASSERT(json_object_set_new(d, "params", rnd_group(r, 0)) == 0);
    n = rndn(r, 4);
    if (n) {
        json_t *zs = json_object();

        for (i = 0; i < n; i++) {
            char k[16];

            snprintf(k, sizeof k, "z%d", i + 1);
            ASSERT(json_object_set_new(zs, k, rnd_zone(r)) == 0);
        }
        ASSERT(json_object_set_new(d, "zones", zs) == 0);
    }
    ASSERT_OKM(err.msg, shelf__doc_check(d, PATCH, &err));
    return d;
}

/* Canonicalise a working-form document built by code: check it again
 * (defaults dropped) and return its canonical text (malloc'd). */
static char *recheck(json_t *d)
{
    shelf__err err = { 0, "" };

    ASSERT_OKM(err.msg, shelf__doc_check(d, PATCH, &err));
    return dump(d);
}

/* Many random edits of d in place (any member, any depth). */
static void rnd_edit(rng *r, json_t *d, int edits)
{
    shelf__err err = { 0, "" };
    int i;

    for (i = 0; i < edits; i++) {
        json_t *p = json_object_get(d, "params");
        char path[256];

        switch (rndn(r, 8)) {
        case 0:
            ASSERT(json_object_set_new(d, "rating", json_integer(rndn(r, 6))) == 0);
            break;
        case 1:
        {
            shelf__buf b = SHELF__BUF_INIT;

            ASSERT_OK(shelf__docpath_add(&b, "tags"));
            ASSERT_OK(shelf__docpath_add(&b, tagpool[rndn(r, 8)]));
            if (shelf__doc_get(d, b.buf))
                ASSERT_OK(shelf__doc_remove(d, b.buf, &err));
            else
                ASSERT_OK(shelf__doc_set(d, b.buf, json_true(), &err));
            shelf__buf_release(&b);
            break;
        }
        case 2: case 3: {
            /* a value somewhere in params: walk down a random path */
            json_t *g = p;
            shelf__buf b = SHELF__BUF_INIT;

            if (!p)
                break;
            ASSERT_OK(shelf__docpath_add(&b, "params"));
            while (json_is_object(g) && json_object_size(g) && rndn(r, 3)) {
                const char *k = pnames[rndn(r, (int)(sizeof pnames / sizeof pnames[0]))];

                if (!json_object_get(g, k))
                    break;
                ASSERT_OK(shelf__docpath_add(&b, k));
                g = json_object_get(g, k);
            }
            if (!json_is_object(g)) {
                if (rndn(r, 3) == 0)
                    shelf__doc_remove(d, b.buf, &err);
                else
                    ASSERT_OK(shelf__doc_set(d, b.buf, rnd_scalar(r), &err));
            } else {
                ASSERT_OK(shelf__docpath_add(&b, pnames[rndn(r, 12)]));
                if (rndn(r, 4) == 0)
                    shelf__doc_remove(d, b.buf, &err);
                else
                    ASSERT_OK(shelf__doc_set(d, b.buf, rndn(r, 5) ? rnd_scalar(r)
                                                                  : rnd_group(r, 2), &err));
            }
            shelf__buf_release(&b);
            break;
        }
        case 4:
            snprintf(path, sizeof path, "zones/z%d", 1 + rndn(r, 5));
            if (shelf__doc_get(d, path) && rndn(r, 2))
                shelf__doc_remove(d, path, &err);
            else
                ASSERT_OK(shelf__doc_set(d, path, rnd_zone(r), &err));
            break;
        case 5: {
            char zp[32];

            snprintf(zp, sizeof zp, "zones/z%d", 1 + rndn(r, 5));
            if (shelf__doc_get(d, zp)) {
                snprintf(path, sizeof path, "%s/%s", zp, rndn(r, 2) ? "key" : "vel");
                if (rndn(r, 4) == 0)
                    shelf__doc_remove(d, path, &err);
                else
                    ASSERT_OK(shelf__doc_set(d, path, rnd_range(r), &err));
            }
            break;
        }
        case 6:
            if (rndn(r, 2))
                ASSERT(json_object_set_new(d, "author", json_string(rndn(r, 2) ? "a" : "b")) == 0);
            else
                json_object_del(d, "author");
            break;
        default:
            if (!p)
                ASSERT(json_object_set_new(d, "params", rnd_group(r, 1)) == 0);
            else if (rndn(r, 8) == 0)
                json_object_del(d, "params");
            break;
        }
    }
}

TEST(apply_random_pairs)
{
    rng r = { 20261124 };
    int i;

    for (i = 0; i < 400; i++) {
        shelf__err err = { 0, "" };
        json_t *a = rnd_patch(&r), *b, *delta, *x;
        char *ta, *tb, *tx, *dt;

        if (i % 4 == 0) {
            b = rnd_patch(&r);          /* unrelated */
        } else {
            b = json_deep_copy(a);
            rnd_edit(&r, b, 1 + rndn(&r, 12));
        }
        tb = recheck(b);
        ta = dump(a);
        delta = shelf__doc_diff(a, b, 0);
        ASSERT(delta != NULL);
        /* The delta survives its own text (as versions store it). */
        dt = json_dumps(delta, JSON_COMPACT | JSON_REAL_PRECISION(17));
        json_decref(delta);
        delta = json_loads(dt, 0, NULL);
        ASSERT(delta != NULL);
        x = json_deep_copy(a);
        ASSERT_OKM(err.msg, shelf__doc_apply(x, delta, &err));
        tx = recheck(x);
        if (strcmp(tx, tb) != 0)
            test__fail(__FILE__, __LINE__, "pair %d: apply(a, diff(a,b)) != b\na: %s\nb: %s\n"
                       "delta: %s\ngot: %s", i, ta, tb, dt, tx);
        ASSERT(json_equal(x, b));
        /* An empty diff for equal documents; diff(b, a) undoes it. */
        json_decref(delta);
        delta = shelf__doc_diff(b, b, 0);
        ASSERT_EQ_INT(json_array_size(delta), 0);
        json_decref(delta);
        delta = shelf__doc_diff(b, a, 0);
        ASSERT_OKM(err.msg, shelf__doc_apply(x, delta, &err));
        free(tx);
        tx = recheck(x);
        ASSERT_EQ_STR(tx, ta);
        json_decref(delta);
        free(dt);
        free(tx);
        free(ta);
        free(tb);
        json_decref(x);
        json_decref(a);
        json_decref(b);
    }
}

TEST(apply_refuses_bad_deltas)
{
    static const char *const bad[] = {
        "{}", "[1]", "[[\"s\"]]", "[[\"x\",\"name\",1]]", "[[\"s\",\"name\"]]",
        "[[\"r\",\"name\",1]]", "[[\"s\",5,1]]", "[[\"r\",\"params/none\"]]",
        "[[\"s\",\"name/x\",1]]", "[[\"s\",\"a//b\",1]]",
    };
    size_t i;

    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        shelf__err err = { 0, "" };
        json_t *doc = load("{\"shelf_patch\":1,\"name\":\"x\"}");
        json_t *d = json_loads(bad[i], 0, NULL);
        int rc;

        ASSERT(d != NULL);
        rc = shelf__doc_apply(doc, d, &err);
        if (rc == SHELF_OK)
            test__fail(__FILE__, __LINE__, "delta %s applied", bad[i]);
        ASSERT(err.msg[0] != '\0');
        json_decref(d);
        json_decref(doc);
    }
}

/* ---- three-way merge ------------------------------------------------------------------- */

#define BASE "{\"shelf_patch\":1,\"name\":\"P\",\"tags\":[\"a\",\"b\"],\"rating\":2," \
             "\"params\":{\"amp\":{\"volume\":-6.0,\"pan\":0},\"filter\":{\"cutoff\":1200," \
             "\"res\":0.5},\"mode\":\"poly\"}," \
             "\"zones\":{\"z1\":{\"sample\":{\"id\":1},\"key\":[0,60]}," \
             "\"z2\":{\"sample\":{\"id\":2},\"key\":[61,127]}}}"

/* BASE with one replacement of a fragment (the fragment must occur once). */
static char *edit(const char *doc, const char *from, const char *to)
{
    const char *p = strstr(doc, from);
    char *s;

    ASSERT(p != NULL);
    ASSERT(strstr(p + 1, from) == NULL);
    s = shelf__asprintf("%.*s%s%s", (int)(p - doc), doc, to, p + strlen(from));
    ASSERT(s != NULL);
    return s;
}

TEST(merge_different_params)
{
    char *o = edit(BASE, "\"volume\":-6.0", "\"volume\":-3.0");
    char *t = edit(BASE, "\"cutoff\":1200", "\"cutoff\":800");
    char *w = edit(o, "\"cutoff\":1200", "\"cutoff\":800");
    shelf_merge *m = merge3(BASE, o, t, 0, 0, 0);

    ASSERT_MERGED(m, w);
    shelf_merge_free(m);
    /* And the other way round. */
    m = merge3(BASE, t, o, 0, 0, 0);
    ASSERT_MERGED(m, w);
    shelf_merge_free(m);
    free(o);
    free(t);
    free(w);
}

TEST(merge_same_change_both_sides)
{
    char *o = edit(BASE, "\"volume\":-6.0", "\"volume\":-1.5");
    shelf_merge *m = merge3(BASE, o, o, 0, 0, 0);

    ASSERT_MERGED(m, o);
    shelf_merge_free(m);
    /* Both delete the same value; both add the same new one. */
    free(o);
    o = edit(BASE, "\"mode\":\"poly\"", "\"new\":{\"x\":1}");
    m = merge3(BASE, o, o, 0, 0, 0);
    ASSERT_MERGED(m, o);
    shelf_merge_free(m);
    free(o);
}

TEST(merge_delete_vs_unchanged)
{
    char *o = edit(BASE, ",\"mode\":\"poly\"", "");
    char *t = edit(BASE, "\"z2\":{\"sample\":{\"id\":2},\"key\":[61,127]}", "\"z3\":{\"sample\":{\"id\":3}}");
    char *w = edit(o, "\"z2\":{\"sample\":{\"id\":2},\"key\":[61,127]}", "\"z3\":{\"sample\":{\"id\":3}}");
    shelf_merge *m = merge3(BASE, o, BASE, 0, 0, 0);

    ASSERT_MERGED(m, o);
    shelf_merge_free(m);
    m = merge3(BASE, BASE, o, 0, 0, 0);
    ASSERT_MERGED(m, o);
    shelf_merge_free(m);
    /* A zone removed on one side, a param removed on the other. */
    m = merge3(BASE, o, t, 0, 0, 0);
    ASSERT_MERGED(m, w);
    shelf_merge_free(m);
    free(o);
    free(t);
    free(w);
}

TEST(merge_delete_vs_modify_conflicts)
{
    char *o = edit(BASE, ",\"mode\":\"poly\"", "");
    char *t = edit(BASE, "\"mode\":\"poly\"", "\"mode\":\"mono\"");
    const char *path, *b, *ov, *tv;
    int resolved = -1;
    shelf_merge *m = merge3(BASE, o, t, 0, 0, 1);
    char *res = (char *)&res;

    ASSERT_OK(shelf_merge_conflict(m, 0, &path, &b, &ov, &tv, &resolved));
    ASSERT_EQ_STR(path, "params/mode");
    ASSERT_EQ_STR(b, "\"poly\"");
    ASSERT(ov == NULL);
    ASSERT_EQ_STR(tv, "\"mono\"");
    ASSERT_EQ_INT(resolved, 0);
    ASSERT_RC(SHELF_ECONFLICT, shelf_merge_result(m, &res));
    ASSERT(res == NULL);
    /* Ours (the deletion) wins. */
    ASSERT_OK(shelf_merge_resolve(m, 0, SHELF_MERGE_OURS, NULL));
    ASSERT_OK(shelf_merge_conflict(m, 0, NULL, NULL, NULL, NULL, &resolved));
    ASSERT_EQ_INT(resolved, 1);
    ASSERT_MERGED(m, o);
    /* Theirs (the change) wins. */
    ASSERT_OK(shelf_merge_resolve(m, 0, SHELF_MERGE_THEIRS, NULL));
    ASSERT_MERGED(m, t);
    shelf_merge_free(m);
    /* A zone deleted on one side, changed inside on the other. */
    free(o);
    free(t);
    o = edit(BASE, ",\"z2\":{\"sample\":{\"id\":2},\"key\":[61,127]}", "");
    t = edit(BASE, "[61,127]", "[70,127]");
    m = merge3(BASE, t, o, 0, 0, 1);
    ASSERT_OK(shelf_merge_conflict(m, 0, &path, &b, &ov, &tv, NULL));
    ASSERT_EQ_STR(path, "zones/z2");
    ASSERT(tv == NULL);
    ASSERT(b != NULL && ov != NULL);
    ASSERT_OK(shelf_merge_resolve(m, 0, SHELF_MERGE_THEIRS, NULL));
    ASSERT_MERGED(m, o);
    shelf_merge_free(m);
    free(o);
    free(t);
}

TEST(merge_both_change_conflict)
{
    char *o = edit(BASE, "\"cutoff\":1200", "\"cutoff\":900");
    char *t = edit(BASE, "\"cutoff\":1200", "\"cutoff\":1500.5");
    char *o2 = edit(o, "\"res\":0.5", "\"res\":0.7");
    char *want;
    const char *path, *b, *ov, *tv;
    shelf_merge *m = merge3(BASE, o2, t, 0, 0, 1);

    ASSERT_OK(shelf_merge_conflict(m, 0, &path, &b, &ov, &tv, NULL));
    ASSERT_EQ_STR(path, "params/filter/cutoff");
    ASSERT_EQ_STR(b, "1200");
    ASSERT_EQ_STR(ov, "900");
    ASSERT_EQ_STR(tv, "1500.5");
    ASSERT_RC(SHELF_ENOTFOUND, shelf_merge_conflict(m, 1, &path, &b, &ov, &tv, NULL));
    /* Base. */
    ASSERT_OK(shelf_merge_resolve(m, 0, SHELF_MERGE_BASE, NULL));
    want = edit(BASE, "\"res\":0.5", "\"res\":0.7");
    ASSERT_MERGED(m, want);
    free(want);
    /* A value (JSON text), then a string (not JSON), then a deletion. */
    ASSERT_OK(shelf_merge_resolve(m, 0, SHELF_MERGE_VALUE, "1000"));
    want = edit(o2, "\"cutoff\":900", "\"cutoff\":1000");
    ASSERT_MERGED(m, want);
    free(want);
    ASSERT_OK(shelf_merge_resolve(m, 0, SHELF_MERGE_VALUE, "bright"));
    want = edit(o2, "\"cutoff\":900", "\"cutoff\":\"bright\"");
    ASSERT_MERGED(m, want);
    free(want);
    ASSERT_OK(shelf_merge_resolve(m, 0, SHELF_MERGE_VALUE, NULL));
    want = edit(o2, "\"cutoff\":900,", "");
    ASSERT_MERGED(m, want);
    free(want);
    ASSERT_RC(SHELF_EINVAL, shelf_merge_resolve(m, 0, 99, NULL));
    ASSERT_RC(SHELF_ENOTFOUND, shelf_merge_resolve(m, 1, SHELF_MERGE_OURS, NULL));
    shelf_merge_free(m);
    free(o);
    free(o2);
    free(t);
}

TEST(merge_resolve_by_path_and_all)
{
    char *o = edit(BASE, "\"cutoff\":1200", "\"cutoff\":900");
    char *o2 = edit(o, "\"pan\":0", "\"pan\":-1");
    char *t = edit(BASE, "\"cutoff\":1200", "\"cutoff\":1500");
    char *t2 = edit(t, "\"pan\":0", "\"pan\":1");
    char *want, *res = NULL;
    shelf_merge *m = merge3(BASE, o2, t2, 0, 0, 2);

    ASSERT_RC(SHELF_ENOTFOUND, shelf_merge_resolve_path(m, "params/filter/res", SHELF_MERGE_OURS, NULL));
    ASSERT_OK(shelf_merge_resolve_path(m, "/params/filter/cutoff", SHELF_MERGE_THEIRS, NULL));
    ASSERT_RC(SHELF_ECONFLICT, shelf_merge_result(m, &res));
    ASSERT_OK(shelf_merge_resolve_path(m, "params/amp/pan", SHELF_MERGE_VALUE, "0.25"));
    want = edit(t, "\"pan\":0", "\"pan\":0.25");
    ASSERT_MERGED(m, want);
    free(want);
    ASSERT_OK(shelf_merge_resolve(m, (size_t)-1, SHELF_MERGE_THEIRS, NULL));
    ASSERT_MERGED(m, t2);
    ASSERT_OK(shelf_merge_resolve(m, (size_t)-1, SHELF_MERGE_OURS, NULL));
    ASSERT_MERGED(m, o2);
    shelf_merge_free(m);
    free(o);
    free(o2);
    free(t);
    free(t2);
}

TEST(merge_tags_as_sets)
{
    const char *b = "{\"shelf_patch\":1,\"name\":\"P\",\"tags\":[\"a\",\"b\",\"c\"]}";
    const char *o = "{\"shelf_patch\":1,\"name\":\"P\",\"tags\":[\"a\",\"c\",\"x\",\"both\"]}";
    const char *t = "{\"shelf_patch\":1,\"name\":\"P\",\"tags\":[\"a\",\"b\",\"y\",\"Both\"]}";
    shelf_merge *m = merge3(b, o, t, 0, 0, 0);

    /* ours removed b, added x; theirs removed c, added y; both added both. */
    ASSERT_MERGED(m, "{\"shelf_patch\":1,\"name\":\"P\",\"tags\":[\"a\",\"x\",\"y\",\"both\"]}");
    shelf_merge_free(m);
    /* From no tags on either side. */
    m = merge3("{\"shelf_patch\":1,\"name\":\"P\"}", "{\"shelf_patch\":1,\"name\":\"P\",\"tags\":[\"o\"]}",
               "{\"shelf_patch\":1,\"name\":\"P\",\"tags\":[\"t\"]}", 0, 0, 0);
    ASSERT_MERGED(m, "{\"shelf_patch\":1,\"name\":\"P\",\"tags\":[\"o\",\"t\"]}");
    shelf_merge_free(m);
}

/*
 * Regression test, fixed (lib/patch/merge.c, merge_walk, with doc.c's omission of
 * empty members): when one side removes its last tag, "tags" is omitted
 * from that side, so merge_walk sees "absent vs changed group" and makes a
 * conflict at "tags" instead of merging the sets.  base [a], ours [] ,
 * theirs [a, b]: expected [b], no conflict.
 */
TEST(merge_tags_last_removed)
{
    shelf_merge *m = merge3("{\"shelf_patch\":1,\"name\":\"P\",\"tags\":[\"a\"]}",
                            "{\"shelf_patch\":1,\"name\":\"P\"}",
                            "{\"shelf_patch\":1,\"name\":\"P\",\"tags\":[\"a\",\"b\"]}", 0, 0, 0);

    ASSERT_MERGED(m, "{\"shelf_patch\":1,\"name\":\"P\",\"tags\":[\"b\"]}");
    shelf_merge_free(m);
}

/*
 * Regression test, fixed (lib/patch/merge.c, merge_walk): the same for "params"
 * (and zones, types, a zone's params): ours removes the only parameter, so
 * "params" is omitted; theirs adds another.  Changes to different
 * parameters must merge: expected {"b": 2}, no conflict.
 */
TEST(merge_params_last_removed)
{
    shelf_merge *m = merge3("{\"shelf_patch\":1,\"name\":\"P\",\"params\":{\"a\":1}}",
                            "{\"shelf_patch\":1,\"name\":\"P\"}",
                            "{\"shelf_patch\":1,\"name\":\"P\",\"params\":{\"a\":1,\"b\":2}}", 0, 0, 0);

    ASSERT_MERGED(m, "{\"shelf_patch\":1,\"name\":\"P\",\"params\":{\"b\":2}}");
    shelf_merge_free(m);
    m = merge3("{\"shelf_patch\":1,\"name\":\"P\",\"zones\":{\"z\":{\"sample\":{\"id\":1},"
               "\"params\":{\"v\":1}}}}",
               "{\"shelf_patch\":1,\"name\":\"P\",\"zones\":{\"z\":{\"sample\":{\"id\":1},"
               "\"params\":{\"v\":1,\"t\":2}}}}",
               "{\"shelf_patch\":1,\"name\":\"P\",\"zones\":{\"z\":{\"sample\":{\"id\":1}}}}", 0, 0, 0);
    ASSERT_MERGED(m, "{\"shelf_patch\":1,\"name\":\"P\",\"zones\":{\"z\":{\"sample\":{\"id\":1},"
                     "\"params\":{\"t\":2}}}}");
    shelf_merge_free(m);
}

TEST(merge_rating_newest_wins)
{
    char *o = edit(BASE, "\"rating\":2", "\"rating\":4");
    char *t = edit(BASE, "\"rating\":2", "\"rating\":5");
    char *t0 = edit(BASE, "\"rating\":2,", "");
    shelf_merge *m;

    m = merge3(BASE, o, t, 100, 200, 0);
    ASSERT_MERGED(m, t);
    shelf_merge_free(m);
    m = merge3(BASE, o, t, 300, 200, 0);
    ASSERT_MERGED(m, o);
    shelf_merge_free(m);
    /* A tie goes to ours. */
    m = merge3(BASE, o, t, 200, 200, 0);
    ASSERT_MERGED(m, o);
    shelf_merge_free(m);
    /* Unrating (0, omitted) is a rating too. */
    m = merge3(BASE, o, t0, 1, 2, 0);
    ASSERT_MERGED(m, t0);
    shelf_merge_free(m);
    m = merge3(BASE, t0, o, 1, 2, 0);
    ASSERT_MERGED(m, o);
    shelf_merge_free(m);
    /* Only one side changed: that side, whatever the times. */
    m = merge3(BASE, BASE, t, 500, 1, 0);
    ASSERT_MERGED(m, t);
    shelf_merge_free(m);
    free(o);
    free(t);
    free(t0);
}

TEST(merge_groups_added_both_sides)
{
    char *o = edit(BASE, "\"mode\":\"poly\"", "\"mode\":\"poly\",\"lfo\":{\"rate\":1,\"shape\":\"sine\"}");
    char *t = edit(BASE, "\"mode\":\"poly\"", "\"mode\":\"poly\",\"lfo\":{\"depth\":0.5,\"shape\":\"sine\"}");
    char *w = edit(BASE, "\"mode\":\"poly\"",
                   "\"mode\":\"poly\",\"lfo\":{\"depth\":0.5,\"rate\":1,\"shape\":\"sine\"}");
    char *t2 = edit(BASE, "\"mode\":\"poly\"", "\"mode\":\"poly\",\"lfo\":{\"rate\":2}");
    const char *path, *b, *ov, *tv;
    shelf_merge *m = merge3(BASE, o, t, 0, 0, 0);

    ASSERT_MERGED(m, w);
    shelf_merge_free(m);
    /* The same new member with different values is a conflict with no base. */
    m = merge3(BASE, o, t2, 0, 0, 1);
    ASSERT_OK(shelf_merge_conflict(m, 0, &path, &b, &ov, &tv, NULL));
    ASSERT_EQ_STR(path, "params/lfo/rate");
    ASSERT(b == NULL);
    ASSERT_EQ_STR(ov, "1");
    ASSERT_EQ_STR(tv, "2");
    shelf_merge_free(m);
    /* New zones on both sides merge. */
    free(o);
    free(t);
    free(w);
    o = edit(BASE, "\"zones\":{", "\"zones\":{\"zo\":{\"sample\":{\"id\":7}},");
    t = edit(BASE, "\"zones\":{", "\"zones\":{\"zt\":{\"sample\":{\"id\":8}},");
    w = edit(o, "\"zones\":{", "\"zones\":{\"zt\":{\"sample\":{\"id\":8}},");
    m = merge3(BASE, o, t, 0, 0, 0);
    ASSERT_MERGED(m, w);
    shelf_merge_free(m);
    free(o);
    free(t);
    free(t2);
    free(w);
}

TEST(merge_resolution_breaking_schema_refused)
{
    char *o = edit(BASE, "[61,127]", "[62,127]");
    char *t = edit(BASE, "[61,127]", "[63,127]");
    char *res = (char *)&res;
    shelf_merge *m = merge3(BASE, o, t, 0, 0, 1);

    ASSERT_OK(shelf_merge_resolve_path(m, "zones/z2/key", SHELF_MERGE_VALUE, "[100,3]"));
    ASSERT(shelf_merge_result(m, &res) < 0);
    ASSERT(res == NULL);
    ASSERT_OK(shelf_merge_resolve_path(m, "zones/z2/key", SHELF_MERGE_VALUE, "null"));
    ASSERT(shelf_merge_result(m, &res) < 0);
    ASSERT_OK(shelf_merge_resolve_path(m, "zones/z2/key", SHELF_MERGE_VALUE, "[1,2]"));
    ASSERT_OK(shelf_merge_result(m, &res));
    ASSERT(strstr(res, "[1,2]") != NULL);
    shelf_free(res);
    shelf_merge_free(m);
    /* Name: deleting a required member. */
    free(o);
    free(t);
    o = edit(BASE, "\"name\":\"P\"", "\"name\":\"O\"");
    t = edit(BASE, "\"name\":\"P\"", "\"name\":\"T\"");
    m = merge3(BASE, o, t, 0, 0, 1);
    ASSERT_OK(shelf_merge_resolve_path(m, "name", SHELF_MERGE_VALUE, NULL));
    ASSERT(shelf_merge_result(m, &res) < 0);
    ASSERT(res == NULL);
    ASSERT_OK(shelf_merge_resolve_path(m, "name", SHELF_MERGE_VALUE, "Both"));
    ASSERT_OK(shelf_merge_result(m, &res));
    ASSERT(strstr(res, "\"name\":\"Both\"") != NULL);
    shelf_free(res);
    shelf_merge_free(m);
    free(o);
    free(t);
}

TEST(merge_refuses_bad_input)
{
    shelf_merge *m = (shelf_merge *)&m;
    char *msg = NULL;

    ASSERT_RC(SHELF_EFORMAT, shelf_merge_new(BASE, "{\"shelf_project\":1,\"name\":\"P\"}", BASE, 0, 0,
                                             &m, &msg));
    ASSERT(m == NULL);
    ASSERT(msg && strstr(msg, "ours"));
    shelf_free(msg);
    ASSERT_RC(SHELF_EFORMAT, shelf_merge_new(BASE, BASE, "{", 0, 0, &m, &msg));
    ASSERT(msg && strstr(msg, "theirs"));
    shelf_free(msg);
    ASSERT_RC(SHELF_EFORMAT, shelf_merge_new("{}", BASE, BASE, 0, 0, &m, NULL));
    ASSERT(m == NULL);
}

/* ---- merge property ------------------------------------------------------------------- */

/* The leaf paths of a document that a side may own: params values (arrays
 * whole), zone members other than the sample, tags, top-level strings and
 * the rating. */
typedef struct leaves {
    char *path[512];
    char zone[512][16];         /* the zone a path is in, "" for none */
    int n;
} leaves;

static void add_leaf(leaves *l, const char *path, const char *zone)
{
    ASSERT(l->n < 512);
    l->path[l->n] = shelf__strdup(path);
    snprintf(l->zone[l->n], sizeof l->zone[0], "%s", zone);
    l->n++;
}

static void walk_leaves(leaves *l, json_t *g, shelf__buf *b, const char *zone)
{
    const char *k;
    json_t *v;
    size_t len = b->len;

    json_object_foreach(g, k, v) {
        ASSERT_OK(shelf__docpath_add(b, k));
        if (json_is_object(v) && json_object_size(v))
            walk_leaves(l, v, b, zone);
        else
            add_leaf(l, b->buf, zone);
        b->len = len;
        b->buf[len] = '\0';
    }
}

static void collect_leaves(json_t *d, leaves *l)
{
    static const char *const top[] = { "name", "author", "comment", "rating" };
    shelf__buf b = SHELF__BUF_INIT;
    const char *k, *zk;
    json_t *v, *z;
    size_t i;

    l->n = 0;
    for (i = 0; i < 4; i++)
        if (json_object_get(d, top[i]))
            add_leaf(l, top[i], "");
    json_object_foreach(json_object_get(d, "tags"), k, v) {
        shelf__buf_reset(&b);
        ASSERT_OK(shelf__docpath_add(&b, "tags"));
        ASSERT_OK(shelf__docpath_add(&b, k));
        add_leaf(l, b.buf, "");
    }
    if (json_object_get(d, "params")) {
        shelf__buf_reset(&b);
        ASSERT_OK(shelf__docpath_add(&b, "params"));
        walk_leaves(l, json_object_get(d, "params"), &b, "");
    }
    json_object_foreach(json_object_get(d, "zones"), zk, z) {
        json_object_foreach(z, k, v) {
            if (!strcmp(k, "sample"))
                continue;
            shelf__buf_reset(&b);
            ASSERT_OK(shelf__docpath_add(&b, "zones"));
            ASSERT_OK(shelf__docpath_add(&b, zk));
            ASSERT_OK(shelf__docpath_add(&b, k));
            if (!strcmp(k, "params"))
                walk_leaves(l, v, &b, zk);
            else
                add_leaf(l, b.buf, zk);
        }
    }
    shelf__buf_release(&b);
}

static void free_leaves(leaves *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->path[i]);
    l->n = 0;
}

/* A new valid value for the leaf at path. */
static json_t *new_value(rng *r, const char *path, const json_t *old)
{
    const char *last = strrchr(path, '/');

    last = last ? last + 1 : path;
    if (!strncmp(path, "tags/", 5))
        return NULL;                            /* tags can only go */
    if (!strcmp(path, "rating"))
        return json_integer(json_integer_value(old) % 5 + 1);
    if (!strcmp(path, "name") || !strcmp(path, "author") || !strcmp(path, "comment"))
        return json_sprintf("%s-%d", json_string_value(old), rndn(r, 1000));
    if (!strncmp(path, "zones/", 6) && !strstr(path, "/params/")) {
        if (!strcmp(last, "key") || !strcmp(last, "vel")) {
            json_t *v;

            do {
                v = rnd_range(r);
            } while (json_equal(v, (json_t *)old) && (json_decref(v), 1));
            return v;
        }
        if (!strcmp(last, "root"))
            return json_integer((json_integer_value(old) + 1 + rndn(r, 100)) % 128);
        if (!strcmp(last, "rr"))
            return json_integer(json_integer_value(old) + 1);
    }
    for (;;) {
        json_t *v = rnd_scalar(r);

        if (!json_equal(v, (json_t *)old))
            return v;
        json_decref(v);
    }
}

/* Change the leaves of side s (1 or 2) of d; add new members named for s. */
static void change_side(rng *r, json_t *d, const leaves *l, const int *owner, int s,
                        const char *const *zone_owned, int nzones)
{
    shelf__err err = { 0, "" };
    char path[300];
    int i, n;

    for (i = 0; i < l->n; i++) {
        json_t *old = shelf__doc_get(d, l->path[i]), *v;

        if (owner[i] != s || !old)
            continue;
        if (!strcmp(l->path[i], "name") || (rndn(r, 3) && strncmp(l->path[i], "tags/", 5) != 0)) {
            v = new_value(r, l->path[i], old);
            ASSERT_OKM(err.msg, shelf__doc_set(d, l->path[i], v, &err));
        } else {
            ASSERT_OKM(err.msg, shelf__doc_remove(d, l->path[i], &err));
        }
    }
    /* Whole zones this side owns: sometimes removed. */
    for (i = 0; i < nzones; i++) {
        snprintf(path, sizeof path, "zones/%s", zone_owned[i]);
        if (rndn(r, 3) == 0 && shelf__doc_get(d, path))
            ASSERT_OK(shelf__doc_remove(d, path, &err));
    }
    /* New members. */
    n = rndn(r, 3);
    for (i = 0; i < n; i++) {
        switch (rndn(r, 4)) {
        case 0:
            snprintf(path, sizeof path, "tags/new%c%d", 'a' + s, i);
            ASSERT_OK(shelf__doc_set(d, path, json_true(), &err));
            break;
        case 1:
            snprintf(path, sizeof path, "zones/new%c%d", 'a' + s, i);
            ASSERT_OK(shelf__doc_set(d, path, rnd_zone(r), &err));
            break;
        case 2:
            snprintf(path, sizeof path, "params/new%c%d/%s", 'a' + s, i, pnames[rndn(r, 4)]);
            ASSERT_OK(shelf__doc_set(d, path, rnd_scalar(r), &err));
            break;
        default:
            snprintf(path, sizeof path, "params/n%c%d", 'a' + s, i);
            ASSERT_OK(shelf__doc_set(d, path, rnd_scalar(r), &err));
            break;
        }
    }
}

/* Append op ["s", path, v] to out, split into one op per leaf when v is a
 * non-empty group. */
static void expand_set(json_t *out, shelf__buf *path, json_t *v)
{
    const char *k;
    json_t *m;
    size_t len = path->len;

    if (!json_is_object(v) || !json_object_size(v)) {
        ASSERT(json_array_append_new(out, json_pack("[s, s, O]", "s", path->buf, v)) == 0);
        return;
    }
    json_object_foreach(v, k, m) {
        ASSERT_OK(shelf__docpath_add(path, k));
        expand_set(out, path, m);
        path->len = len;
        path->buf[len] = '\0';
    }
}

/* A delta from base with every set of a group that base lacks split into
 * sets of its leaves (groups are then created on the way), so that two
 * deltas that add different members to the same new group both apply. */
static json_t *leaf_delta(const json_t *base, json_t *delta)
{
    json_t *out = json_array(), *op;
    size_t i;

    json_array_foreach(delta, i, op) {
        const char *kind = json_string_value(json_array_get(op, 0));
        const char *p = json_string_value(json_array_get(op, 1));

        if (!strcmp(kind, "s") && !shelf__doc_get((json_t *)base, p)) {
            shelf__buf b = SHELF__BUF_INIT;

            ASSERT_OK(shelf__buf_adds(&b, p));
            expand_set(out, &b, json_array_get(op, 2));
            shelf__buf_release(&b);
        } else {
            ASSERT(json_array_append(out, op) == 0);
        }
    }
    json_decref(delta);
    return out;
}

/* apply(apply(base, diff(base, x)), diff(base, y)), canonical; with leaf
 * set, the diffs split by leaf_delta. */
static char *apply_both(const json_t *base, const json_t *x, const json_t *y, int leaf)
{
    shelf__err err = { 0, "" };
    json_t *dx = shelf__doc_diff(base, x, 0), *dy = shelf__doc_diff(base, y, 0);
    json_t *doc = json_deep_copy(base);
    char *t;

    ASSERT(dx && dy && doc);
    if (leaf) {
        dx = leaf_delta(base, dx);
        dy = leaf_delta(base, dy);
    }
    ASSERT_OKM(err.msg, shelf__doc_apply(doc, dx, &err));
    ASSERT_OKM(err.msg, shelf__doc_apply(doc, dy, &err));
    t = recheck(doc);
    json_decref(dx);
    json_decref(dy);
    json_decref(doc);
    return t;
}

/*
 * For many random (base, a, b) where a and b change disjoint sets of leaf
 * paths: merge(base, a, b) has no conflicts and equals applying both diffs
 * to base, in either order.  With leaf set, the diffs are split into one
 * operation per leaf first (leaf_delta).
 */
static void merge_property(int leaf)
{
    rng r = { 4 };
    int iter, failures = 0;
    char first[4096] = "";

    for (iter = 0; iter < 500; iter++) {
        json_t *base = rnd_patch(&r), *a = json_deep_copy(base), *b = json_deep_copy(base);
        const char *zones_a[8], *zones_b[8];
        int owner[512], za = 0, zb = 0, i;
        char *tb, *ta, *tt, *x1, *x2, *got = NULL;
        leaves l;
        const char *zk;
        json_t *z;
        shelf_merge *m = NULL;

        collect_leaves(base, &l);
        /* Zones belong to one side at most. */
        json_object_foreach(json_object_get(base, "zones"), zk, z) {
            int who = rndn(&r, 4);

            if (who == 1 && za < 8)
                zones_a[za++] = zk;
            else if (who == 2 && zb < 8)
                zones_b[zb++] = zk;
        }
        for (i = 0; i < l.n; i++) {
            int who = rndn(&r, 5);

            owner[i] = who == 1 ? 1 : who == 2 ? 2 : 0;
            if (l.zone[i][0]) {
                owner[i] = 0;
                for (int k = 0; k < za; k++)
                    if (!strcmp(zones_a[k], l.zone[i]))
                        owner[i] = rndn(&r, 2) ? 1 : 0;
                for (int k = 0; k < zb; k++)
                    if (!strcmp(zones_b[k], l.zone[i]))
                        owner[i] = rndn(&r, 2) ? 2 : 0;
            }
        }
        change_side(&r, a, &l, owner, 1, zones_a, za);
        change_side(&r, b, &l, owner, 2, zones_b, zb);
        tb = dump(base);
        ta = recheck(a);
        tt = recheck(b);
        x1 = apply_both(base, a, b, leaf);
        x2 = apply_both(base, b, a, leaf);
        ASSERT_OK(shelf_merge_new(tb, ta, tt, 1, 2, &m, NULL));
        if (shelf_merge_conflicts(m) != 0 || shelf_merge_result(m, &got) != SHELF_OK ||
            strcmp(got, x1) != 0 || strcmp(got, x2) != 0) {
            const char *p = "";

            shelf_merge_conflict(m, 0, &p, NULL, NULL, NULL, NULL);
            if (getenv("SHELF_TEST_VERBOSE"))       /* every failing iteration */
                fprintf(stderr, "iter %d: conflicts %zu at %s; merged==x1 %d merged==x2 %d\n", iter,
                        shelf_merge_conflicts(m), p ? p : "", got && !strcmp(got, x1),
                        got && !strcmp(got, x2));
            if (!failures++)
                snprintf(first, sizeof first,
                         "iteration %d: %zu conflicts (first at '%s')\nbase:   %s\nours:   %s\n"
                         "theirs: %s\nmerged: %s\napplied: %s\nother order: %s", iter,
                         shelf_merge_conflicts(m), p ? p : "", tb, ta, tt, got ? got : "-", x1, x2);
        }
        shelf_merge_free(m);
        shelf_free(got);
        free(tb);
        free(ta);
        free(tt);
        free(x1);
        free(x2);
        free_leaves(&l);
        json_decref(base);
        json_decref(a);
        json_decref(b);
    }
    if (failures)
        test__fail(__FILE__, __LINE__, "%d of 500 merges differ; first:\n%s", failures, first);
}

/*
 * Regression test, fixed (lib/patch/merge.c, shelf__doc_diff / shelf__doc_apply):
 * a member that base lacks shows in a diff as one "set" of the whole new
 * group, and applying it replaces the group, so applying both sides' diffs
 * loses one side's members when both add to a group base did not have:
 * base no tags, ours [x], theirs [y]: merge gives [x, y] (right), applying
 * both diffs gives [y].  The issue asks for merge == applying both diffs.
 */
TEST(merge_property_disjoint_changes)
{
    merge_property(0);
}

/* The same with the diffs split per leaf: the merge itself agrees. */
TEST(merge_property_leaf_diffs)
{
    merge_property(1);
}

/* ---- stored documents: helpers ----------------------------------------------------------- */

typedef struct tlib {
    char dir[PATH_MAX];
    shelf_library *lib;
    sqlite3 *db;    /* db_int and db_text's connection when a loop keeps one; else NULL */
} tlib;

static void lib_open(tlib *t)
{
    char *msg = NULL;
    int rc;

    t->db = NULL;
    test_pathf(t->dir, sizeof t->dir, "%s/lib", test_tmpdir());
    rc = shelf_library_open(t->dir, SHELF_OPEN_CREATE, &t->lib, &msg);
    if (rc != SHELF_OK)
        test__fail(__FILE__, __LINE__, "cannot open library: %s", msg ? msg : "");
}

/* A separate connection to the library's database: the loop's kept one,
 * else a new one (close it with db_done). */
static sqlite3 *db_of(const tlib *t)
{
    char path[PATH_MAX];
    sqlite3 *db;

    if (t->db)
        return t->db;
    test_pathf(path, sizeof path, "%s/shelf.db", t->dir);
    ASSERT(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK);
    return db;
}

static void db_done(const tlib *t, sqlite3 *db)
{
    if (db != t->db)
        sqlite3_close(db);
}

/* One integer from the library's database through a separate connection
 * (-1 when the query gives no row). */
static int64_t db_int(const tlib *t, const char *sql)
{
    sqlite3 *db = db_of(t);
    sqlite3_stmt *st;
    int64_t v = -1;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        test__fail(__FILE__, __LINE__, "%s: %s", sql, sqlite3_errmsg(db));
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    db_done(t, db);
    return v;
}

/* One text (owned, or NULL) from the library's database. */
static char *db_text(const tlib *t, const char *sql)
{
    char *v = NULL;
    sqlite3 *db = db_of(t);
    sqlite3_stmt *st;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        test__fail(__FILE__, __LINE__, "%s: %s", sql, sqlite3_errmsg(db));
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        v = shelf__strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    db_done(t, db);
    return v;
}

static int64_t create_doc(tlib *t, int kind, const char *json)
{
    int64_t id = -1;

    ASSERT_OKL(t->lib, shelf_doc_create(t->lib, kind, json, NULL, &id));
    ASSERT(id > 0);
    return id;
}

/* The document of id at seq (owned). */
static char *get_doc(tlib *t, int kind, int64_t id, int64_t seq)
{
    char *j = NULL;

    ASSERT_OKL(t->lib, shelf_doc_get(t->lib, kind, id, seq, &j));
    ASSERT(j != NULL);
    return j;
}

/* Versions as the history lists them, copied. */
typedef struct hver {
    shelf_docversion v;
    char hash[65], device[40], message[256];
} hver;

typedef struct hist {
    hver *v;
    size_t n, cap;
} hist;

static int on_version(void *ud, const shelf_docversion *v)
{
    hist *h = ud;

    if (h->n == h->cap) {
        h->cap = h->cap ? 2 * h->cap : 16;
        h->v = realloc(h->v, h->cap * sizeof *h->v);
        ASSERT(h->v != NULL);
    }
    h->v[h->n].v = *v;
    snprintf(h->v[h->n].hash, sizeof h->v[0].hash, "%s", v->hash);
    snprintf(h->v[h->n].device, sizeof h->v[0].device, "%s", v->device);
    snprintf(h->v[h->n].message, sizeof h->v[0].message, "%s", v->message);
    h->n++;
    return 0;
}

static void get_history(tlib *t, int kind, int64_t id, hist *h)
{
    free(h->v);
    memset(h, 0, sizeof *h);
    ASSERT_OKL(t->lib, shelf_doc_history(t->lib, kind, id, on_version, h));
}

/* The history entry of seq. */
static const hver *hist_seq(const hist *h, int64_t seq)
{
    for (size_t i = 0; i < h->n; i++)
        if (h->v[i].v.seq == seq)
            return &h->v[i];
    test__fail(__FILE__, __LINE__, "no version %lld in the history", (long long)seq);
}

static void hash_of(const char *text, char hash[65])
{
    char *c = canon_at(__FILE__, __LINE__, text, 0, hash);

    ASSERT_EQ_STR(c, text);     /* text was canonical already */
    shelf_free(c);
}

#define DOC1 "{\"shelf_patch\":1,\"name\":\"Grand\",\"author\":\"Me\",\"category\":\"Piano\"," \
             "\"comment\":\"first\",\"source\":{\"format\":\"sfz\",\"file\":\"Grand.sfz\"}," \
             "\"tags\":[\"soft\",\"Acoustic\"],\"rating\":3," \
             "\"params\":{\"amp\":{\"volume\":-6.0,\"pan\":0},\"filter\":{\"type\":\"lpf_2p\"," \
             "\"cutoff\":1200,\"on\":true,\"poles\":2}}," \
             "\"types\":{\"params/amp/volume\":{\"type\":\"number\",\"unit\":\"dB\",\"min\":-144," \
             "\"max\":6},\"params/filter/type\":{\"type\":\"enum\",\"values\":[\"lpf_1p\"," \
             "\"lpf_2p\",\"hpf_2p\"]},\"params/filter/poles\":{\"type\":\"integer\",\"min\":1," \
             "\"max\":8},\"params/filter/on\":{\"type\":\"bool\"}}}"

/* ---- stored documents ------------------------------------------------------------------- */

TEST(store_create_get_history)
{
    tlib t;
    hist h = { 0 };
    char hash[65], *j, *c1, *c2;
    int64_t id, seq = -1, id2 = 5;
    const hver *v;

    lib_open(&t);
    id = create_doc(&t, PATCH, DOC1);
    j = get_doc(&t, PATCH, id, 0);
    c1 = canon(DOC1);
    ASSERT_EQ_STR(j, c1);
    shelf_free(j);
    j = get_doc(&t, PATCH, id, 1);
    ASSERT_EQ_STR(j, c1);
    shelf_free(j);
    get_history(&t, PATCH, id, &h);
    ASSERT_EQ_INT(h.n, 1);
    v = &h.v[0];
    ASSERT_EQ_INT(v->v.seq, 1);
    ASSERT_EQ_INT(v->v.parent, 0);
    ASSERT_EQ_INT(v->v.parent2, 0);
    ASSERT_EQ_INT(v->v.head, 1);
    ASSERT_EQ_INT(v->v.undoes, 0);
    ASSERT(v->v.time > 1700000000);
    ASSERT(v->v.stored > 0);
    ASSERT_EQ_STR(v->message, "create");
    ASSERT_EQ_STR(v->device, t.lib->library_id);
    ASSERT_EQ_INT(strlen(v->device), 32);
    hash_of(c1, hash);
    ASSERT_EQ_STR(v->hash, hash);
    /* Mirrors of the head in the patches row. */
    j = db_text(&t, "SELECT name || '|' || author || '|' || category || '|' || format || '|' ||"
                    " path || '|' || comment || '|' || version FROM patches");
    ASSERT_EQ_STR(j, "Grand|Me|Piano|sfz|Grand.sfz|first|1");
    shelf_free(j);
    ASSERT_EQ_INT(db_int(&t, "SELECT rating FROM ratings WHERE kind = 2"), 3);
    ASSERT_EQ_INT(db_int(&t, "SELECT count(*) FROM tag_items ti JOIN tags t ON t.id = ti.tag_id"
                             " WHERE ti.kind = 2 AND t.name IN ('soft', 'acoustic')"), 2);

    /* A commit makes version 2 with parent 1 and the given message. */
    c2 = edit(c1, "\"comment\":\"first\"", "\"comment\":\"second\"");
    ASSERT_OKL(t.lib, shelf_doc_commit(t.lib, PATCH, id, c2, 0, "my message", &seq));
    ASSERT_EQ_INT(seq, 2);
    get_history(&t, PATCH, id, &h);
    ASSERT_EQ_INT(h.n, 2);
    ASSERT_EQ_INT(h.v[0].v.seq, 2);         /* newest first */
    ASSERT_EQ_INT(h.v[0].v.parent, 1);
    ASSERT_EQ_INT(h.v[0].v.head, 1);
    ASSERT_EQ_INT(h.v[1].v.head, 0);
    ASSERT_EQ_STR(h.v[0].message, "my message");
    hash_of(c2, hash);
    ASSERT_EQ_STR(h.v[0].hash, hash);
    j = db_text(&t, "SELECT comment || '|' || version FROM patches");
    ASSERT_EQ_STR(j, "second|2");
    shelf_free(j);
    /* The same document again makes no version. */
    seq = -1;
    ASSERT_OKL(t.lib, shelf_doc_commit(t.lib, PATCH, id, DOC1, 0, NULL, &seq));
    ASSERT_EQ_INT(seq, 3);
    ASSERT_RC(SHELF_DONE, shelf_doc_commit(t.lib, PATCH, id, DOC1, 0, NULL, &seq));
    ASSERT_EQ_INT(seq, 3);
    get_history(&t, PATCH, id, &h);
    ASSERT_EQ_INT(h.n, 3);
    ASSERT_EQ_STR(h.v[0].message, "edit");
    /* Old versions stay readable. */
    j = get_doc(&t, PATCH, id, 2);
    ASSERT_EQ_STR(j, c2);
    shelf_free(j);
    /* Refusals leave nothing behind. */
    ASSERT_RC(SHELF_EFORMAT, shelf_doc_create(t.lib, PATCH, "{\"shelf_patch\":1}", NULL, &id2));
    ASSERT_EQ_INT(id2, 0);
    ASSERT(strstr(shelf_errmsg(t.lib), "name") != NULL);
    ASSERT_RC(SHELF_EFORMAT, shelf_doc_create(t.lib, PATCH, "{\"shelf_project\":1,\"name\":\"x\"}",
                                              NULL, &id2));
    ASSERT_RC(SHELF_EINVAL, shelf_doc_create(t.lib, 7, DOC1, NULL, &id2));
    ASSERT_RC(SHELF_EINVAL, shelf_doc_create(t.lib, PATCH, NULL, NULL, &id2));
    ASSERT_EQ_INT(db_int(&t, "SELECT count(*) FROM patches"), 1);
    ASSERT_RC(SHELF_EFORMAT, shelf_doc_commit(t.lib, PATCH, id, "{\"shelf_patch\":1,\"name\":3}", 0,
                                              NULL, &seq));
    ASSERT_EQ_INT(seq, 0);
    ASSERT_RC(SHELF_ENOTFOUND, shelf_doc_commit(t.lib, PATCH, id, DOC1, 99, NULL, &seq));
    ASSERT_RC(SHELF_ENOTFOUND, shelf_doc_commit(t.lib, PATCH, id + 1, DOC1, 0, NULL, &seq));
    ASSERT_EQ_INT(db_int(&t, "SELECT count(*) FROM doc_versions"), 3);
    j = (char *)&j;
    ASSERT_RC(SHELF_ENOTFOUND, shelf_doc_get(t.lib, PATCH, id, 4, &j));
    ASSERT(j == NULL);
    ASSERT_RC(SHELF_ENOTFOUND, shelf_doc_get(t.lib, PATCH, id + 1, 0, &j));
    ASSERT_RC(SHELF_ENOTFOUND, shelf_doc_get(t.lib, PROJECT, id, 0, &j));
    ASSERT_RC(SHELF_EINVAL, shelf_doc_get(t.lib, 1, id, 0, &j));
    ASSERT_RC(SHELF_ENOTFOUND, shelf_doc_history(t.lib, PATCH, id + 1, on_version, &h));
    free(h.v);
    shelf_free(c1);
    free(c2);
    shelf_library_close(t.lib);
}

/* A branch: a commit on a version other than the head, then its merge. */
TEST(store_branch_and_merge)
{
    tlib t;
    hist h = { 0 };
    shelf_merge *m = NULL;
    int64_t id, seq, base = -1;
    char *c1 = canon(DOC1), *a, *b, *j, *want;

    lib_open(&t);
    id = create_doc(&t, PATCH, c1);
    a = edit(c1, "\"cutoff\":1200", "\"cutoff\":800");
    b = edit(c1, "\"pan\":0", "\"pan\":0.5");
    ASSERT_OKL(t.lib, shelf_doc_commit(t.lib, PATCH, id, a, 0, NULL, &seq));
    ASSERT_EQ_INT(seq, 2);
    ASSERT_OKL(t.lib, shelf_doc_commit(t.lib, PATCH, id, b, 1, "branch", &seq));
    ASSERT_EQ_INT(seq, 3);
    get_history(&t, PATCH, id, &h);
    ASSERT_EQ_INT(hist_seq(&h, 3)->v.parent, 1);
    ASSERT_EQ_INT(hist_seq(&h, 3)->v.head, 1);
    j = get_doc(&t, PATCH, id, 0);
    ASSERT_EQ_STR(j, b);
    shelf_free(j);
    /* Merge version 2 into the head (3): base 1, no conflicts. */
    ASSERT_OKL(t.lib, shelf_doc_merge_prepare(t.lib, PATCH, id, 2, &m, &base));
    ASSERT_EQ_INT(base, 1);
    ASSERT_EQ_INT(shelf_merge_conflicts(m), 0);
    ASSERT_OKL(t.lib, shelf_doc_merge_commit(t.lib, PATCH, id, 2, m, NULL, &seq));
    ASSERT_EQ_INT(seq, 4);
    shelf_merge_free(m);
    m = NULL;
    get_history(&t, PATCH, id, &h);
    ASSERT_EQ_INT(hist_seq(&h, 4)->v.parent, 3);
    ASSERT_EQ_INT(hist_seq(&h, 4)->v.parent2, 2);
    ASSERT_EQ_STR(hist_seq(&h, 4)->message, "merge 2");
    want = edit(b, "\"cutoff\":1200", "\"cutoff\":800");
    j = get_doc(&t, PATCH, id, 0);
    ASSERT_EQ_STR(j, want);
    shelf_free(j);
    ASSERT_EQ_INT(db_int(&t, "SELECT count(*) FROM audit_log WHERE action = 'merge' AND kind = 2"), 1);
    j = db_text(&t, "SELECT detail FROM audit_log WHERE action = 'merge'");
    ASSERT(j && strstr(j, "version 2 merged into 3 as 4"));
    shelf_free(j);
    /* Merging an ancestor again: nothing to do. */
    ASSERT_RC(SHELF_DONE, shelf_doc_merge_prepare(t.lib, PATCH, id, 2, &m, &base));
    ASSERT(m == NULL);
    ASSERT_RC(SHELF_DONE, shelf_doc_merge_prepare(t.lib, PATCH, id, 4, &m, &base));
    ASSERT_RC(SHELF_ENOTFOUND, shelf_doc_merge_prepare(t.lib, PATCH, id, 9, &m, &base));

    /* A conflicting branch: from 4, change cutoff two ways. */
    free(a);
    free(b);
    a = edit(want, "\"cutoff\":800", "\"cutoff\":100");
    b = edit(want, "\"cutoff\":800", "\"cutoff\":200");
    ASSERT_OKL(t.lib, shelf_doc_commit(t.lib, PATCH, id, a, 0, NULL, &seq));
    ASSERT_EQ_INT(seq, 5);
    ASSERT_OKL(t.lib, shelf_doc_commit(t.lib, PATCH, id, b, 4, NULL, &seq));
    ASSERT_EQ_INT(seq, 6);
    ASSERT_OKL(t.lib, shelf_doc_merge_prepare(t.lib, PATCH, id, 5, &m, &base));
    ASSERT_EQ_INT(base, 4);
    ASSERT_EQ_INT(shelf_merge_conflicts(m), 1);
    ASSERT_RC(SHELF_ECONFLICT, shelf_doc_merge_commit(t.lib, PATCH, id, 5, m, NULL, &seq));
    ASSERT_EQ_INT(seq, 0);
    ASSERT_EQ_INT(db_int(&t, "SELECT count(*) FROM doc_versions"), 6);
    /* Ours is the head (6: 200), theirs is 5 (100). */
    ASSERT_OK(shelf_merge_resolve_path(m, "params/filter/cutoff", SHELF_MERGE_THEIRS, NULL));
    ASSERT_OKL(t.lib, shelf_doc_merge_commit(t.lib, PATCH, id, 5, m, "resolved", &seq));
    ASSERT_EQ_INT(seq, 7);
    j = get_doc(&t, PATCH, id, 0);
    ASSERT_EQ_STR(j, a);
    shelf_free(j);
    get_history(&t, PATCH, id, &h);
    ASSERT_EQ_INT(hist_seq(&h, 7)->v.parent, 6);
    ASSERT_EQ_INT(hist_seq(&h, 7)->v.parent2, 5);
    ASSERT_EQ_STR(hist_seq(&h, 7)->message, "resolved");
    /* Undoing the merge goes back to its first parent. */
    j = NULL;
    ASSERT_OKL(t.lib, shelf_undo(t.lib, &j));
    ASSERT(j && strstr(j, "undid version 7"));
    shelf_free(j);
    j = get_doc(&t, PATCH, id, 0);
    ASSERT_EQ_STR(j, b);
    shelf_free(j);
    shelf_merge_free(m);
    free(h.v);
    free(a);
    free(b);
    free(want);
    shelf_free(c1);
    shelf_library_close(t.lib);
}

/*
 * Regression test, fixed (lib/patch/versions.c, shelf_doc_merge_commit): neither the
 * kind of the merged document nor the version "other" is checked: a merge
 * of two projects (shelf_merge_new) commits into a patch as its new head,
 * whose versions then no longer load (corrupt), and an "other" that is no
 * version of the item is stored as parent2.
 */
TEST(store_merge_commit_checks)
{
    const char *pj = "{\"shelf_project\":1,\"name\":\"J\"}";
    tlib t;
    shelf_merge *m = NULL;
    int64_t id, seq = -1;
    char *j = NULL;

    lib_open(&t);
    id = create_doc(&t, PATCH, DOC1);
    ASSERT_OK(shelf_merge_new(pj, pj, pj, 0, 0, &m, NULL));
    ASSERT(shelf_doc_merge_commit(t.lib, PATCH, id, 1, m, NULL, &seq) < 0);
    ASSERT_EQ_INT(seq, 0);
    ASSERT_OKL(t.lib, shelf_doc_get(t.lib, PATCH, id, 0, &j));
    shelf_free(j);
    shelf_merge_free(m);
    ASSERT_OK(shelf_merge_new(DOC1, DOC1, "{\"shelf_patch\":1,\"name\":\"Other\"}", 0, 0, &m, NULL));
    ASSERT_RC(SHELF_ENOTFOUND, shelf_doc_merge_commit(t.lib, PATCH, id, 42, m, NULL, &seq));
    ASSERT_EQ_INT(db_int(&t, "SELECT count(*) FROM doc_versions"), 1);
    shelf_merge_free(m);
    shelf_library_close(t.lib);
}

TEST(store_set_with_types)
{
    static const struct {
        const char *path, *value;
        int rc;
    } sets[] = {
        { "params/amp/volume", "-3", SHELF_OK },
        { "params/amp/volume", "-3.5", SHELF_OK },
        { "params/amp/volume", "6", SHELF_OK },
        { "params/amp/volume", "6.01", SHELF_EINVAL },
        { "params/amp/volume", "-145", SHELF_EINVAL },
        { "params/amp/volume", "loud", SHELF_EINVAL },
        { "params/amp/volume", "true", SHELF_EINVAL },
        { "params/amp/volume", "[1]", SHELF_EINVAL },
        { "/params/amp/volume", "-7", SHELF_OK },
        { "params/filter/type", "hpf_2p", SHELF_OK },
        { "params/filter/type", "\"lpf_1p\"", SHELF_OK },
        { "params/filter/type", "bpf", SHELF_EINVAL },
        { "params/filter/type", "3", SHELF_EINVAL },
        { "params/filter/poles", "4", SHELF_OK },
        { "params/filter/poles", "4.5", SHELF_EINVAL },
        { "params/filter/poles", "9", SHELF_EINVAL },
        { "params/filter/poles", "0", SHELF_EINVAL },
        { "params/filter/on", "false", SHELF_OK },
        { "params/filter/on", "1", SHELF_EINVAL },
        { "params/filter/on", "yes", SHELF_EINVAL },
        /* No type: the value's own type holds. */
        { "params/filter/cutoff", "800", SHELF_OK },
        { "params/filter/cutoff", "812.5", SHELF_OK },
        { "params/filter/cutoff", "high", SHELF_EINVAL },
        { "params/filter/cutoff", "null", SHELF_EINVAL },
        { "params/amp/pan", "false", SHELF_EINVAL },
        { "params/amp", "3", SHELF_EINVAL },
        { "params/amp", "{\"volume\":1}", SHELF_OK },
        { "params/new/group/x", "hello world", SHELF_OK },
        { "params/new/group/x", "[1,2]", SHELF_OK },
        { "params/arr", "[[1]]", SHELF_EINVAL },
        { "params/x", "null", SHELF_EINVAL },
        { "params/", "1", SHELF_EINVAL },
        { "params/a~2", "1", SHELF_EINVAL },
        { "name", "", SHELF_EINVAL },
        { "name", "Grand 2", SHELF_OK },
        { "rating", "4", SHELF_OK },
        { "rating", "9", SHELF_EINVAL },
        { "zones/z1", "{\"sample\":{\"id\":1},\"key\":[70,60]}", SHELF_EINVAL },
        { "zones/z1", "{\"sample\":{\"id\":1},\"key\":[60,70]}", SHELF_OK },
        { "zones/z1/key", "[61,70]", SHELF_OK },
        { "zones/z1/key", "[80,70]", SHELF_EINVAL },
        { "colour", "red", SHELF_EINVAL },
        { "shelf_patch", "2", SHELF_EVERSION },
    };
    tlib t;
    int64_t id, seq, expect = 1;
    size_t i;

    lib_open(&t);
    id = create_doc(&t, PATCH, DOC1);
    for (i = 0; i < sizeof sets / sizeof sets[0]; i++) {
        int rc;

        seq = -1;
        rc = shelf_doc_set(t.lib, PATCH, id, sets[i].path, sets[i].value, NULL, &seq);
        if (sets[i].rc == SHELF_EVERSION && rc < 0)
            rc = SHELF_EVERSION;        /* any refusal */
        if (rc != sets[i].rc)
            test__fail(__FILE__, __LINE__, "set %s=%s: %s (%s), expected %s", sets[i].path,
                       sets[i].value, shelf_strerror(rc), shelf_errmsg(t.lib),
                       shelf_strerror(sets[i].rc));
        if (rc == SHELF_OK) {
            ASSERT_EQ_INT(seq, ++expect);
        } else {
            ASSERT_EQ_INT(seq, 0);
            ASSERT(shelf_errmsg(t.lib)[0] != '\0');
        }
    }
    ASSERT_EQ_INT(db_int(&t, "SELECT count(*) FROM doc_versions"), expect);
    {
        char *j = get_doc(&t, PATCH, id, 0);
        json_t *d = json_loads(j, 0, NULL);

        ASSERT(json_integer_value(json_object_get(d, "rating")) == 4);
        ASSERT_EQ_STR(json_string_value(json_object_get(d, "name")), "Grand 2");
        ASSERT(json_integer_value(shelf__doc_get(d, "params/amp/volume")) == 1);
        ASSERT(json_real_value(shelf__doc_get(d, "params/filter/cutoff")) == 812.5);
        ASSERT_EQ_STR(json_string_value(shelf__doc_get(d, "params/filter/type")), "lpf_1p");
        ASSERT(json_is_false(shelf__doc_get(d, "params/filter/on")));
        ASSERT_EQ_INT(json_array_size(shelf__doc_get(d, "params/new/group/x")), 2);
        ASSERT_EQ_INT(json_integer_value(json_array_get(shelf__doc_get(d, "zones/z1/key"), 0)), 61);
        json_decref(d);
        shelf_free(j);
    }
    ASSERT_EQ_INT(db_int(&t, "SELECT rating FROM ratings WHERE kind = 2"), 4);
    ASSERT_EQ_INT(db_int(&t, "SELECT version FROM patches"), expect);
    /* The default message names the assignment. */
    {
        hist h = { 0 };

        get_history(&t, PATCH, id, &h);
        ASSERT_EQ_STR(h.v[0].message, "set zones/z1/key=[61,70]");
        free(h.v);
    }
    /* Setting the value it has makes no version. */
    ASSERT_RC(SHELF_DONE, shelf_doc_set(t.lib, PATCH, id, "rating", "4", NULL, &seq));
    ASSERT_EQ_INT(seq, expect);
    /* Removing. */
    ASSERT_OKL(t.lib, shelf_doc_set(t.lib, PATCH, id, "params/new", NULL, "rm", &seq));
    ASSERT_RC(SHELF_ENOTFOUND, shelf_doc_set(t.lib, PATCH, id, "params/new", NULL, NULL, &seq));
    ASSERT_RC(SHELF_EINVAL, shelf_doc_set(t.lib, PATCH, id, "name", NULL, NULL, &seq));
    ASSERT_OKL(t.lib, shelf_doc_set(t.lib, PATCH, id, "rating", NULL, NULL, &seq));
    ASSERT_EQ_INT(db_int(&t, "SELECT count(*) FROM ratings WHERE kind = 2"), 0);
    ASSERT_RC(SHELF_ENOTFOUND, shelf_doc_set(t.lib, PATCH, id + 1, "rating", "1", NULL, &seq));
    /* Several at once: one version, all or nothing. */
    {
        const char *const paths[] = { "params/amp/pan", "params/filter/cutoff", "tags+" };
        const char *const good[] = { "0.25", "100", "new" };
        const char *const bad[] = { "0.5", "oops", "new2" };
        char *j;

        ASSERT_OKL(t.lib, shelf_doc_setv(t.lib, PATCH, id, paths, good, 3, NULL, &seq));
        ASSERT_EQ_INT(seq, expect + 3);
        ASSERT_RC(SHELF_EINVAL, shelf_doc_setv(t.lib, PATCH, id, paths, bad, 3, NULL, &seq));
        ASSERT_RC(SHELF_EINVAL, shelf_doc_setv(t.lib, PATCH, id, paths, bad, 0, NULL, &seq));
        j = get_doc(&t, PATCH, id, 0);
        ASSERT(strstr(j, "\"pan\":0.25") && strstr(j, "\"cutoff\":100") && strstr(j, "\"new\""));
        shelf_free(j);
    }
    shelf_library_close(t.lib);
}

TEST(store_set_tags)
{
    tlib t;
    int64_t id, seq;
    char *j;

    lib_open(&t);
    id = create_doc(&t, PATCH, "{\"shelf_patch\":1,\"name\":\"T\"}");
    ASSERT_OKL(t.lib, shelf_doc_set(t.lib, PATCH, id, "tags+", "Warm", NULL, &seq));
    ASSERT_OKL(t.lib, shelf_doc_set(t.lib, PATCH, id, "tags+", "lo/fi", NULL, &seq));
    ASSERT_RC(SHELF_DONE, shelf_doc_set(t.lib, PATCH, id, "tags+", "warm", NULL, &seq));
    ASSERT_RC(SHELF_EINVAL, shelf_doc_set(t.lib, PATCH, id, "tags+", "two words", NULL, &seq));
    ASSERT_RC(SHELF_EINVAL, shelf_doc_set(t.lib, PATCH, id, "tags+", "", NULL, &seq));
    ASSERT_RC(SHELF_EINVAL, shelf_doc_set(t.lib, PATCH, id, "tags-", NULL, NULL, &seq));
    j = get_doc(&t, PATCH, id, 0);
    ASSERT_EQ_STR(j, "{\"name\":\"T\",\"shelf_patch\":1,\"tags\":[\"lo/fi\",\"warm\"]}");
    shelf_free(j);
    ASSERT_EQ_INT(db_int(&t, "SELECT count(*) FROM tag_items WHERE kind = 2"), 2);
    {
        hist h = { 0 };

        get_history(&t, PATCH, id, &h);
        ASSERT_EQ_STR(h.v[0].message, "set tag +lo/fi");
        free(h.v);
    }
    ASSERT_OKL(t.lib, shelf_doc_set(t.lib, PATCH, id, "tags-", "lo/fi", NULL, &seq));
    ASSERT_RC(SHELF_DONE, shelf_doc_set(t.lib, PATCH, id, "tags-", "absent", NULL, &seq));
    ASSERT_EQ_INT(db_int(&t, "SELECT count(*) FROM tag_items WHERE kind = 2"), 1);
    /* The path form of the working tag set works too. */
    ASSERT_OKL(t.lib, shelf_doc_set(t.lib, PATCH, id, "tags/dark", "true", NULL, &seq));
    ASSERT_OKL(t.lib, shelf_doc_set(t.lib, PATCH, id, "tags/dark", NULL, NULL, &seq));
    shelf_library_close(t.lib);
}

/*
 * An edit writes to the sync queue what it changed and nothing else: one
 * version row, plus a row per tag added or removed and for a new rating.
 * Regression test, fixed (lib/patch/versions.c, mirror): every version
 * deleted and inserted again all tags and the rating, nine queue rows for a
 * one-parameter edit (change_queue was 800 of a version's 1,262 bytes on
 * disk), and re-asserted tags a peer had removed.  A tag held by another
 * item in another case ("WARM") stays linked: names compare without case.
 */
TEST(store_edit_queues_only_changes)
{
    const char *q = "SELECT count(*) FROM change_queue WHERE item LIKE 'p:%'";
    const char *qf = "SELECT count(*) FROM change_queue WHERE item LIKE 'p:%%' AND field = '%s'";
    char sql[200];
    tlib t;
    int64_t id, seq, n0;

    lib_open(&t);
    ASSERT_EQ_INT(db_int(&t, "INSERT INTO tags(name) VALUES('WARM') RETURNING id") > 0, 1);
    id = create_doc(&t, PATCH, "{\"shelf_patch\":1,\"name\":\"T\",\"tags\":[\"pad\",\"warm\"],"
                               "\"rating\":3,\"params\":{\"a\":1}}");
    snprintf(sql, sizeof sql, qf, "tag:WARM");
    ASSERT_EQ_INT(db_int(&t, sql), 1);
    n0 = db_int(&t, q);
    ASSERT_OKL(t.lib, shelf_doc_set(t.lib, PATCH, id, "params/a", "2", NULL, &seq));
    ASSERT_EQ_INT(db_int(&t, q), n0 + 1);
    snprintf(sql, sizeof sql, qf, "v");
    ASSERT_EQ_INT(db_int(&t, sql), 2);
    ASSERT_OKL(t.lib, shelf_doc_set(t.lib, PATCH, id, "tags-", "pad", NULL, &seq));
    ASSERT_EQ_INT(db_int(&t, q), n0 + 3);
    ASSERT_EQ_INT(db_int(&t, "SELECT count(*) FROM change_queue WHERE field = 'tag:pad' AND value = 'null'"), 1);
    ASSERT_OKL(t.lib, shelf_doc_set(t.lib, PATCH, id, "rating", "4", NULL, &seq));
    ASSERT_EQ_INT(db_int(&t, q), n0 + 5);
    ASSERT_EQ_INT(db_int(&t, "SELECT rating FROM ratings WHERE kind = 2"), 4);
    ASSERT_OKL(t.lib, shelf_doc_set(t.lib, PATCH, id, "rating", NULL, NULL, &seq));
    ASSERT_EQ_INT(db_int(&t, q), n0 + 7);
    ASSERT_EQ_INT(db_int(&t, "SELECT count(*) FROM ratings WHERE kind = 2"), 0);
    ASSERT_EQ_INT(db_int(&t, "SELECT count(*) FROM tag_items ti JOIN tags g ON g.id = ti.tag_id "
                             "WHERE ti.kind = 2 AND g.name = 'WARM'"), 1);
    shelf_library_close(t.lib);
}

/*
 * Regression test, fixed (lib/patch/versions.c, set_one): tags are stored
 * lowercased, but "tags-" deletes the name as typed, so removing "Warm"
 * (added as "Warm", stored as "warm") does nothing: SHELF_DONE, the tag
 * stays.  Expected: the tag is removed (tags are case-insensitive).
 */
TEST(store_set_tag_remove_case)
{
    tlib t;
    int64_t id, seq = -1;
    char *j;

    lib_open(&t);
    id = create_doc(&t, PATCH, "{\"shelf_patch\":1,\"name\":\"T\",\"tags\":[\"Warm\",\"x\"]}");
    ASSERT_OKL(t.lib, shelf_doc_set(t.lib, PATCH, id, "tags-", "Warm", NULL, &seq));
    ASSERT_EQ_INT(seq, 2);
    j = get_doc(&t, PATCH, id, 0);
    ASSERT_EQ_STR(j, "{\"name\":\"T\",\"shelf_patch\":1,\"tags\":[\"x\"]}");
    shelf_free(j);
    shelf_library_close(t.lib);
}

/*
 * Regression test, fixed (lib/patch/versions.c, check_set): "checks the value
 * against ... the type of the value it replaces" holds for numbers and
 * booleans but not strings: a string value set to text that happens to be
 * JSON becomes a number (params/filter/type="2" with no types), and the
 * name cannot be set to "1984" at all (EINVAL: must be a string).
 * Expected: when the old value is a string, the text is taken as a string.
 */
TEST(store_set_string_stays_string)
{
    tlib t;
    int64_t id, seq = -1;
    char *j;

    lib_open(&t);
    id = create_doc(&t, PATCH, "{\"shelf_patch\":1,\"name\":\"T\",\"params\":{\"mode\":\"poly\"}}");
    ASSERT_OKL(t.lib, shelf_doc_set(t.lib, PATCH, id, "name", "1984", NULL, &seq));
    ASSERT_OKL(t.lib, shelf_doc_set(t.lib, PATCH, id, "params/mode", "2", NULL, &seq));
    j = get_doc(&t, PATCH, id, 0);
    ASSERT_EQ_STR(j, "{\"name\":\"1984\",\"params\":{\"mode\":\"2\"},\"shelf_patch\":1}");
    shelf_free(j);
    shelf_library_close(t.lib);
}

TEST(store_revert)
{
    tlib t;
    hist h = { 0 };
    int64_t id, seq, nseq = -1;
    char *c1 = canon(DOC1), *j;

    lib_open(&t);
    id = create_doc(&t, PATCH, DOC1);
    ASSERT_OKL(t.lib, shelf_doc_set(t.lib, PATCH, id, "params/filter/cutoff", "10", NULL, &seq));
    ASSERT_OKL(t.lib, shelf_doc_set(t.lib, PATCH, id, "params/filter/cutoff", "20", NULL, &seq));
    ASSERT_OKL(t.lib, shelf_doc_revert(t.lib, PATCH, id, 1, &nseq));
    ASSERT_EQ_INT(nseq, 4);
    j = get_doc(&t, PATCH, id, 0);
    ASSERT_EQ_STR(j, c1);
    shelf_free(j);
    get_history(&t, PATCH, id, &h);
    ASSERT_EQ_STR(h.v[0].message, "revert to 1");
    ASSERT_EQ_INT(h.v[0].v.parent, 3);
    ASSERT_EQ_STR(h.v[0].hash, hist_seq(&h, 1)->hash);
    /* Reverting to what the head is makes no version. */
    ASSERT_RC(SHELF_DONE, shelf_doc_revert(t.lib, PATCH, id, 1, &nseq));
    ASSERT_RC(SHELF_ENOTFOUND, shelf_doc_revert(t.lib, PATCH, id, 99, &nseq));
    ASSERT_EQ_INT(nseq, 0);
    ASSERT_OKL(t.lib, shelf_doc_revert(t.lib, PATCH, id, 2, &nseq));
    ASSERT_EQ_INT(nseq, 5);
    free(h.v);
    shelf_free(c1);
    shelf_library_close(t.lib);
}

TEST(store_resolve_refs)
{
    tlib t;
    hist h = { 0 };
    int64_t id, id2, seq, rid, rseq;
    char ref[128];
    size_t i, k;
    int found = 0;

    lib_open(&t);
    id = create_doc(&t, PATCH, DOC1);
    id2 = create_doc(&t, PROJECT, "{\"shelf_project\":1,\"name\":\"J\"}");
    for (i = 0; i < 40; i++) {
        char v[16];

        snprintf(v, sizeof v, "%zu", i + 100);
        ASSERT_OKL(t.lib, shelf_doc_set(t.lib, PATCH, id, "params/filter/cutoff", v, NULL, &seq));
    }
    get_history(&t, PATCH, id, &h);
    ASSERT_EQ_INT(h.n, 41);
    snprintf(ref, sizeof ref, "%lld", (long long)id);
    ASSERT_OKL(t.lib, shelf_doc_resolve(t.lib, PATCH, ref, &rid, &rseq));
    ASSERT_EQ_INT(rid, id);
    ASSERT_EQ_INT(rseq, 0);
    snprintf(ref, sizeof ref, "%lld@7", (long long)id);
    ASSERT_OKL(t.lib, shelf_doc_resolve(t.lib, PATCH, ref, &rid, &rseq));
    ASSERT_EQ_INT(rseq, 7);
    /* By hash prefix: every version's 12-digit prefix, and the whole hash. */
    for (i = 0; i < h.n; i++) {
        int all_digits = strspn(h.v[i].hash, "0123456789") >= 12;

        snprintf(ref, sizeof ref, "%lld@%.12s", (long long)id, h.v[i].hash);
        if (all_digits)
            continue;           /* read as a version number */
        ASSERT_OKL(t.lib, shelf_doc_resolve(t.lib, PATCH, ref, &rid, &rseq));
        ASSERT_EQ_INT(rseq, h.v[i].v.seq);
        snprintf(ref, sizeof ref, "%lld@%s", (long long)id, h.v[i].hash);
        ASSERT_OKL(t.lib, shelf_doc_resolve(t.lib, PATCH, ref, &rid, &rseq));
        ASSERT_EQ_INT(rseq, h.v[i].v.seq);
    }
    /* An ambiguous 4-digit prefix, when two versions share one. */
    for (i = 0; i < h.n && !found; i++)
        for (k = i + 1; k < h.n && !found; k++)
            if (!strncmp(h.v[i].hash, h.v[k].hash, 4) && strspn(h.v[i].hash, "0123456789") < 4) {
                snprintf(ref, sizeof ref, "%lld@%.4s", (long long)id, h.v[i].hash);
                ASSERT_RC(SHELF_EINVAL, shelf_doc_resolve(t.lib, PATCH, ref, &rid, &rseq));
                ASSERT(strstr(shelf_errmsg(t.lib), "ambiguous") != NULL);
                found = 1;
            }
    {
        static const char *const bad[] = { "", "abc", "0", "-1", "+1", " 1", "1x", "1@", "1@x",
                                           "1@abc", "1@ABCDEF", "1@-3", "1@@2" };

        for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            rid = rseq = 9;
            ASSERT_RC(SHELF_EINVAL, shelf_doc_resolve(t.lib, PATCH, bad[i], &rid, &rseq));
            ASSERT(rid == 0 && rseq == 0);
        }
    }
    snprintf(ref, sizeof ref, "%lld@99", (long long)id);
    ASSERT_RC(SHELF_ENOTFOUND, shelf_doc_resolve(t.lib, PATCH, ref, &rid, &rseq));
    snprintf(ref, sizeof ref, "%lld@ffffffffffff", (long long)id);
    ASSERT_RC(SHELF_ENOTFOUND, shelf_doc_resolve(t.lib, PATCH, ref, &rid, &rseq));
    snprintf(ref, sizeof ref, "%lld", (long long)id2 + 5);
    ASSERT_RC(SHELF_ENOTFOUND, shelf_doc_resolve(t.lib, PATCH, ref, &rid, &rseq));
    /* Kinds do not mix. */
    snprintf(ref, sizeof ref, "%lld@1", (long long)id2);
    ASSERT_OKL(t.lib, shelf_doc_resolve(t.lib, PROJECT, ref, &rid, &rseq));
    snprintf(ref, sizeof ref, "%lld@2", (long long)id2);
    ASSERT_RC(SHELF_ENOTFOUND, shelf_doc_resolve(t.lib, PROJECT, ref, &rid, &rseq));
    free(h.v);
    shelf_library_close(t.lib);
}

TEST(store_undo)
{
    tlib t;
    hist h = { 0 };
    int64_t id, id2, seq;
    char *what = (char *)&what, *v1, *v2, *j;

    lib_open(&t);
    ASSERT_RC(SHELF_DONE, shelf_undo(t.lib, &what));
    ASSERT(what == NULL);
    id = create_doc(&t, PATCH, DOC1);
    /* Creating is not a change undo takes back. */
    ASSERT_RC(SHELF_DONE, shelf_undo(t.lib, &what));
    v1 = get_doc(&t, PATCH, id, 0);
    ASSERT_OKL(t.lib, shelf_doc_set(t.lib, PATCH, id, "params/filter/cutoff", "10", NULL, &seq));
    v2 = get_doc(&t, PATCH, id, 0);
    ASSERT_OKL(t.lib, shelf_doc_set(t.lib, PATCH, id, "params/filter/cutoff", "20", NULL, &seq));
    ASSERT_EQ_INT(seq, 3);
    /* Undo walks back: 3, then 2. */
    ASSERT_OKL(t.lib, shelf_undo(t.lib, &what));
    ASSERT(what && strstr(what, "undid version 3") && strstr(what, "now at version 4") &&
           strstr(what, "Grand") && !strchr(what, '\n'));
    shelf_free(what);
    j = get_doc(&t, PATCH, id, 0);
    ASSERT_EQ_STR(j, v2);
    shelf_free(j);
    ASSERT_OKL(t.lib, shelf_undo(t.lib, &what));
    shelf_free(what);
    j = get_doc(&t, PATCH, id, 0);
    ASSERT_EQ_STR(j, v1);
    shelf_free(j);
    get_history(&t, PATCH, id, &h);
    ASSERT_EQ_INT(h.n, 5);
    ASSERT_EQ_INT(hist_seq(&h, 4)->v.undoes, 3);
    ASSERT_EQ_INT(hist_seq(&h, 5)->v.undoes, 2);
    ASSERT_EQ_INT(hist_seq(&h, 5)->v.parent, 4);
    ASSERT(strncmp(hist_seq(&h, 4)->message, "undo 3", 6) == 0);
    ASSERT_RC(SHELF_DONE, shelf_undo(t.lib, &what));
    ASSERT(what == NULL);
    /* Undo after a new edit takes back the edit, then goes on. */
    ASSERT_OKL(t.lib, shelf_doc_set(t.lib, PATCH, id, "params/amp/pan", "0.5", NULL, &seq));
    ASSERT_EQ_INT(seq, 6);
    ASSERT_OKL(t.lib, shelf_undo(t.lib, &what));
    shelf_free(what);
    j = get_doc(&t, PATCH, id, 0);
    ASSERT_EQ_STR(j, v1);
    shelf_free(j);
    ASSERT_RC(SHELF_DONE, shelf_undo(t.lib, &what));
    /* Across items: the newest change first. */
    id2 = create_doc(&t, PROJECT, "{\"shelf_project\":1,\"name\":\"J\",\"tempo\":120}");
    ASSERT_OKL(t.lib, shelf_doc_set(t.lib, PATCH, id, "params/amp/pan", "0.75", NULL, &seq));
    ASSERT_OKL(t.lib, shelf_doc_set(t.lib, PROJECT, id2, "tempo", "99", NULL, &seq));
    ASSERT_OKL(t.lib, shelf_undo(t.lib, &what));
    ASSERT(strstr(what, "project") != NULL);
    shelf_free(what);
    ASSERT_EQ_INT(db_int(&t, "SELECT tempo FROM projects"), 120);
    ASSERT_OKL(t.lib, shelf_undo(t.lib, &what));
    ASSERT(strstr(what, "patch") != NULL);
    shelf_free(what);
    j = get_doc(&t, PATCH, id, 0);
    ASSERT_EQ_STR(j, v1);
    shelf_free(j);
    /* A removal is undone first, then the change before it; a removed
     * item's changes are not undone, and a purged item does not come back. */
    ASSERT_OKL(t.lib, shelf_doc_set(t.lib, PROJECT, id2, "tempo", "98", NULL, &seq));
    ASSERT_OKL(t.lib, shelf_doc_remove(t.lib, PROJECT, id2, 0));
    ASSERT_OKL(t.lib, shelf_undo(t.lib, &what));
    ASSERT(strstr(what, "removal undone") != NULL);
    shelf_free(what);
    ASSERT_EQ_INT(db_int(&t, "SELECT tempo FROM projects"), 98);
    ASSERT_OKL(t.lib, shelf_undo(t.lib, &what));
    shelf_free(what);
    ASSERT_EQ_INT(db_int(&t, "SELECT tempo FROM projects"), 120);
    ASSERT_OKL(t.lib, shelf_doc_set(t.lib, PROJECT, id2, "tempo", "97", NULL, &seq));
    ASSERT_OKL(t.lib, shelf_doc_remove(t.lib, PROJECT, id2, SHELF_REMOVE_PURGE));
    ASSERT_RC(SHELF_DONE, shelf_undo(t.lib, &what));
    free(h.v);
    shelf_free(v1);
    shelf_free(v2);
    shelf_library_close(t.lib);
}

/* Write n short WAV files under dir and import them; ids into ids. */
static void import_samples(tlib *t, int n, int64_t *ids)
{
    const char *src = test_tmpdir();
    const char *paths[1] = { src };
    shelf_import_opts o;
    shelf_import_stats st = { .size = sizeof st };
    char p[PATH_MAX];
    int i;

    for (i = 0; i < n; i++) {
        test_pathf(p, sizeof p, "%s/s%d.wav", src, i);
        ASSERT_EQ_INT(tg_write_simple(p, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 44100, 1, 441,
                                      (unsigned)i + 1), 0);
    }
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    ASSERT_OKL(t->lib, shelf_import(t->lib, paths, 1, &o, &st));
    for (i = 0; i < n; i++) {
        test_pathf(p, sizeof p, "%s/s%d.wav", src, i);
        ASSERT_OKL(t->lib, shelf_catalog_find_path(t->lib, p, &ids[i]));
    }
}

typedef struct refs {
    char line[16][64];
    int n;
} refs;

static int on_ref(void *ud, int kind, int64_t id, const char *name, int uses)
{
    refs *r = ud;

    ASSERT(r->n < 16);
    snprintf(r->line[r->n++], sizeof r->line[0], "%d:%lld:%s:%d", kind, (long long)id,
             name ? name : "", uses);
    return 0;
}

static void get_refs(tlib *t, int kind, int64_t id, refs *r)
{
    r->n = 0;
    ASSERT_OKL(t->lib, shelf_refs(t->lib, kind, id, on_ref, r));
}

static int has_ref(const refs *r, const char *line)
{
    for (int i = 0; i < r->n; i++)
        if (!strcmp(r->line[i], line))
            return 1;
    return 0;
}

/* shelf_doc_undo: shelf_undo within one item, with a look ahead that writes nothing. */
TEST(store_doc_undo)
{
    tlib t;
    hist h = { 0 };
    int64_t id, id2, seq, undone = -1, ns = -1;
    char *v1, *j;

    lib_open(&t);
    id = create_doc(&t, PATCH, DOC1);
    id2 = create_doc(&t, PROJECT, "{\"shelf_project\":1,\"name\":\"J\",\"tempo\":120}");
    ASSERT_RC(SHELF_DONE, shelf_doc_undo(t.lib, PATCH, id, &undone, &ns));
    ASSERT_EQ_INT(undone, 0);
    ASSERT_EQ_INT(ns, 0);
    ASSERT_RC(SHELF_ENOTFOUND, shelf_doc_undo(t.lib, PATCH, id + 100, &undone, &ns));
    v1 = get_doc(&t, PATCH, id, 0);
    ASSERT_OKL(t.lib, shelf_doc_set(t.lib, PATCH, id, "params/filter/cutoff", "10", NULL, &seq));
    /* A newer change of another item is not this item's. */
    ASSERT_OKL(t.lib, shelf_doc_set(t.lib, PROJECT, id2, "tempo", "99", NULL, &seq));
    ASSERT_OKL(t.lib, shelf_doc_undo(t.lib, PATCH, id, &undone, NULL));
    ASSERT_EQ_INT(undone, 2);
    get_history(&t, PATCH, id, &h);
    ASSERT_EQ_INT(h.n, 2);          /* the look ahead wrote nothing */
    ASSERT_OKL(t.lib, shelf_doc_undo(t.lib, PATCH, id, &undone, &ns));
    ASSERT_EQ_INT(undone, 2);
    ASSERT_EQ_INT(ns, 3);
    j = get_doc(&t, PATCH, id, 0);
    ASSERT_EQ_STR(j, v1);
    shelf_free(j);
    get_history(&t, PATCH, id, &h);
    ASSERT_EQ_INT(hist_seq(&h, 3)->v.undoes, 2);
    ASSERT(strncmp(hist_seq(&h, 3)->message, "undo 2", 6) == 0);
    ASSERT_RC(SHELF_DONE, shelf_doc_undo(t.lib, PATCH, id, &undone, &ns));
    /* The library-wide undo sees the patch's change as undone: it takes the project's. */
    ASSERT_EQ_INT(db_int(&t, "SELECT tempo FROM projects"), 99);
    {
        char *what = NULL;

        ASSERT_OKL(t.lib, shelf_undo(t.lib, &what));
        ASSERT(strstr(what, "project") != NULL);
        shelf_free(what);
        ASSERT_RC(SHELF_DONE, shelf_undo(t.lib, &what));
    }
    free(h.v);
    shelf_free(v1);
    shelf_library_close(t.lib);
}

TEST(store_refs_and_mirrors)
{
    tlib t;
    int64_t s[3], pid, jid, seq;
    char doc[1024], want[128], *j;
    refs r;

    lib_open(&t);
    import_samples(&t, 3, s);
    snprintf(doc, sizeof doc,
             "{\"shelf_patch\":1,\"name\":\"Kit\",\"zones\":{"
             "\"z1\":{\"sample\":{\"id\":%lld}},\"z2\":{\"sample\":{\"id\":%lld},\"key\":[1,2]},"
             "\"z3\":{\"sample\":{\"id\":%lld},\"key\":[3,4]},\"z4\":{\"sample\":{\"id\":999}},"
             "\"z5\":{\"sample\":{\"path\":\"/nowhere.wav\"}}}}",
             (long long)s[0], (long long)s[1], (long long)s[1]);
    pid = create_doc(&t, PATCH, doc);
    ASSERT_EQ_INT(db_int(&t, "SELECT count(*) FROM patch_samples"), 2);
    snprintf(doc, sizeof doc,
             "{\"shelf_project\":1,\"name\":\"Set\",\"tempo\":124.5,"
             "\"patches\":{\"%lld\":{\"slot\":\"A\"},\"777\":{}},\"samples\":{\"%lld\":{}},"
             "\"automation\":{\"a1\":{\"type\":\"points\",\"target\":\"patch:%lld/params/x\","
             "\"start\":1.5,\"duration\":16,\"points\":[[0,1],[8,2.5]]},"
             "\"a2\":{\"type\":\"curve\",\"target\":\"patch:%lld/params/y\"}}}",
             (long long)pid, (long long)s[2], (long long)pid, (long long)pid);
    jid = create_doc(&t, PROJECT, doc);
    ASSERT_EQ_INT(db_int(&t, "SELECT count(*) FROM project_patches"), 1);
    ASSERT_EQ_INT(db_int(&t, "SELECT count(*) FROM project_samples"), 1);
    ASSERT_EQ_INT(db_int(&t, "SELECT count(*) FROM automation"), 2);
    j = db_text(&t, "SELECT type || '|' || target || '|' || start_time || '|' || duration || '|' ||"
                    " data FROM automation WHERE type = 'points'");
    snprintf(want, sizeof want, "points|patch:%lld/params/x|1.5|16.0|[[0,1],[8,2.5]]", (long long)pid);
    ASSERT_EQ_STR(j, want);
    shelf_free(j);
    ASSERT(db_int(&t, "SELECT tempo * 10 FROM projects") == 1245);
    /* Both directions. */
    get_refs(&t, 1, s[0], &r);
    ASSERT_EQ_INT(r.n, 1);
    snprintf(want, sizeof want, "2:%lld:Kit:0", (long long)pid);
    ASSERT(has_ref(&r, want));
    get_refs(&t, 1, s[2], &r);
    ASSERT_EQ_INT(r.n, 1);
    snprintf(want, sizeof want, "3:%lld:Set:0", (long long)jid);
    ASSERT(has_ref(&r, want));
    get_refs(&t, PATCH, pid, &r);
    ASSERT_EQ_INT(r.n, 3);
    snprintf(want, sizeof want, "1:%lld:s0:1", (long long)s[0]);
    ASSERT(has_ref(&r, want));
    snprintf(want, sizeof want, "1:%lld:s1:1", (long long)s[1]);
    ASSERT(has_ref(&r, want));
    snprintf(want, sizeof want, "3:%lld:Set:0", (long long)jid);
    ASSERT(has_ref(&r, want));
    get_refs(&t, PROJECT, jid, &r);
    ASSERT_EQ_INT(r.n, 2);
    snprintf(want, sizeof want, "2:%lld:Kit:1", (long long)pid);
    ASSERT(has_ref(&r, want));
    snprintf(want, sizeof want, "1:%lld:s2:1", (long long)s[2]);
    ASSERT(has_ref(&r, want));
    ASSERT_RC(SHELF_ENOTFOUND, shelf_refs(t.lib, 1, 99999, on_ref, &r));
    ASSERT_RC(SHELF_ENOTFOUND, shelf_refs(t.lib, PATCH, 99999, on_ref, &r));
    ASSERT_RC(SHELF_EINVAL, shelf_refs(t.lib, 4, 1, on_ref, &r));
    /* A used sample is not removed without force. */
    ASSERT_RC(SHELF_EINUSE, shelf_catalog_remove(t.lib, s[0], 0));
    /* Mirrors follow the head: drop a zone and the project's sample. */
    ASSERT_OKL(t.lib, shelf_doc_set(t.lib, PATCH, pid, "zones/z1", NULL, NULL, &seq));
    get_refs(&t, 1, s[0], &r);
    ASSERT_EQ_INT(r.n, 0);
    ASSERT_OKL(t.lib, shelf_catalog_remove(t.lib, s[0], 0));
    snprintf(want, sizeof want, "samples/%lld", (long long)s[2]);
    ASSERT_OKL(t.lib, shelf_doc_set(t.lib, PROJECT, jid, want, NULL, NULL, &seq));
    ASSERT_OKL(t.lib, shelf_doc_set(t.lib, PROJECT, jid, "automation/a2", NULL, NULL, &seq));
    ASSERT_EQ_INT(db_int(&t, "SELECT count(*) FROM project_samples"), 0);
    ASSERT_EQ_INT(db_int(&t, "SELECT count(*) FROM automation"), 1);
    /* An undo brings them back. */
    j = NULL;
    ASSERT_OKL(t.lib, shelf_undo(t.lib, &j));
    shelf_free(j);
    ASSERT_OKL(t.lib, shelf_undo(t.lib, &j));
    shelf_free(j);
    ASSERT_EQ_INT(db_int(&t, "SELECT count(*) FROM project_samples"), 1);
    ASSERT_EQ_INT(db_int(&t, "SELECT count(*) FROM automation"), 2);
    /* Removal: versions, tags, ratings and links go; the samples stay. */
    ASSERT_OKL(t.lib, shelf_doc_set(t.lib, PATCH, pid, "tags+", "drums", NULL, &seq));
    ASSERT_OKL(t.lib, shelf_doc_set(t.lib, PATCH, pid, "rating", "5", NULL, &seq));
    /* A patch a project uses goes only with force, and undo brings it
     * back: id, history, tags, rating, links both ways. */
    ASSERT_RC(SHELF_EINUSE, shelf_doc_remove(t.lib, PATCH, pid, 0));
    ASSERT(strstr(shelf_errmsg(t.lib), "used by 1 project") != NULL);
    ASSERT_OKL(t.lib, shelf_doc_remove(t.lib, PATCH, pid, SHELF_REMOVE_FORCE));
    ASSERT_EQ_INT(db_int(&t, "SELECT count(*) FROM project_patches"), 0);
    j = NULL;
    ASSERT_OKL(t.lib, shelf_undo(t.lib, &j));
    ASSERT(j && strstr(j, "removal undone") != NULL);
    shelf_free(j);
    ASSERT_OKL(t.lib, shelf_doc_get(t.lib, PATCH, pid, 0, &j));
    shelf_free(j);
    ASSERT_EQ_INT(db_int(&t, "SELECT count(*) FROM project_patches"), 1);
    ASSERT_EQ_INT(db_int(&t, "SELECT count(*) FROM patch_samples"), 1);
    ASSERT_EQ_INT(db_int(&t, "SELECT count(*) FROM tag_items WHERE kind = 2"), 1);
    ASSERT_EQ_INT(db_int(&t, "SELECT count(*) FROM ratings WHERE kind = 2"), 1);
    /* the next undo goes on to the change before the removal */
    ASSERT_OKL(t.lib, shelf_undo(t.lib, &j));
    ASSERT(j && strstr(j, "rating") != NULL);
    shelf_free(j);
    ASSERT_OKL(t.lib, shelf_doc_set(t.lib, PATCH, pid, "rating", "5", NULL, &seq));
    ASSERT_OKL(t.lib, shelf_doc_remove(t.lib, PATCH, pid, SHELF_REMOVE_FORCE));
    ASSERT_RC(SHELF_ENOTFOUND, shelf_doc_remove(t.lib, PATCH, pid, SHELF_REMOVE_FORCE));
    ASSERT_RC(SHELF_ENOTFOUND, shelf_doc_get(t.lib, PATCH, pid, 0, &j));
    ASSERT_EQ_INT(db_int(&t, "SELECT count(*) FROM doc_versions WHERE kind = 2"), 0);
    ASSERT_EQ_INT(db_int(&t, "SELECT count(*) FROM tag_items WHERE kind = 2"), 0);
    ASSERT_EQ_INT(db_int(&t, "SELECT count(*) FROM ratings WHERE kind = 2"), 0);
    ASSERT_EQ_INT(db_int(&t, "SELECT count(*) FROM patch_samples"), 0);
    ASSERT_EQ_INT(db_int(&t, "SELECT count(*) FROM project_patches"), 0);
    ASSERT_EQ_INT(db_int(&t, "SELECT count(*) FROM samples"), 2);
    ASSERT_EQ_INT(db_int(&t, "SELECT count(*) FROM doc_versions WHERE kind = 3"), 5);
    ASSERT_OKL(t.lib, shelf_doc_remove(t.lib, PROJECT, jid, 0));
    ASSERT_EQ_INT(db_int(&t, "SELECT count(*) FROM doc_versions WHERE kind > 0"), 0);
    ASSERT_EQ_INT(db_int(&t, "SELECT count(*) FROM automation"), 0);
    ASSERT_EQ_INT(db_int(&t, "SELECT count(*) FROM project_samples"), 0);
    shelf_library_close(t.lib);
}

/*
 * The public shelf_import relinks: a patch whose sample was removed with
 * force finds the same bytes again after the file moved and was imported
 * under a new id, and the log says "relink".  An import that adds no row
 * relinks nothing.
 */
TEST(store_relink_after_moved_sample)
{
    tlib t;
    int64_t s[1], pid, nid;
    char doc[512], want[64], moved[PATH_MAX], old[PATH_MAX], *hex;
    const char *src = test_tmpdir(), *dst = test_tmpdir(), *paths[1] = { src };
    shelf_import_opts o;
    shelf_import_stats st = { .size = sizeof st };
    refs r;

    lib_open(&t);
    test_pathf(old, sizeof old, "%s/kick.wav", src);
    ASSERT_EQ_INT(tg_write_simple(old, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 44100, 1, 441, 7), 0);
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    ASSERT_OKL(t.lib, shelf_import(t.lib, paths, 1, &o, &st));
    ASSERT_OKL(t.lib, shelf_catalog_find_path(t.lib, old, &s[0]));
    snprintf(doc, sizeof doc, "SELECT sha256 FROM samples WHERE id = %lld", (long long)s[0]);
    hex = db_text(&t, doc);
    snprintf(doc, sizeof doc,
             "{\"shelf_patch\":1,\"name\":\"Kit\",\"zones\":{\"z1\":{\"sample\":"
             "{\"id\":%lld,\"sha256\":\"%s\"}}}}",
             (long long)s[0], hex);
    shelf_free(hex);
    pid = create_doc(&t, PATCH, doc);
    ASSERT_OKL(t.lib, shelf_catalog_remove(t.lib, s[0], SHELF_REMOVE_FORCE));
    get_refs(&t, PATCH, pid, &r);
    ASSERT_EQ_INT(r.n, 0);
    /* Nothing new: no relink yet. */
    paths[0] = dst;
    ASSERT_OKL(t.lib, shelf_import(t.lib, paths, 1, &o, &st));
    ASSERT_EQ_INT((int)st.imported, 0);
    ASSERT_EQ_INT(db_int(&t, "SELECT count(*) FROM audit_log WHERE action = 'relink'"), 0);
    test_pathf(moved, sizeof moved, "%s/moved.wav", dst);
    ASSERT_EQ_INT(rename(old, moved), 0);
    ASSERT_OKL(t.lib, shelf_import(t.lib, paths, 1, &o, &st));
    ASSERT_EQ_INT((int)st.imported, 1);
    ASSERT_OKL(t.lib, shelf_catalog_find_path(t.lib, moved, &nid));
    ASSERT(nid != s[0]);
    get_refs(&t, PATCH, pid, &r);
    ASSERT_EQ_INT(r.n, 1);
    snprintf(want, sizeof want, "1:%lld:moved:1", (long long)nid);
    ASSERT(has_ref(&r, want));
    ASSERT_EQ_INT(db_int(&t, "SELECT count(*) FROM audit_log WHERE action = 'relink'"), 1);
    shelf_library_close(t.lib);
}

typedef struct listed {
    int n;
    char names[8][32];
    int64_t version[8], refs[8];
} listed;

static int on_doc(void *ud, const shelf_docinfo *d)
{
    listed *l = ud;

    ASSERT(l->n < 8);
    snprintf(l->names[l->n], sizeof l->names[0], "%s", d->name);
    l->version[l->n] = d->version;
    l->refs[l->n] = d->refs;
    l->n++;
    return 0;
}

TEST(store_list_touch)
{
    tlib t;
    listed l = { 0 };
    int64_t a, b, seq;

    lib_open(&t);
    b = create_doc(&t, PATCH, "{\"shelf_patch\":1,\"name\":\"beta\"}");
    a = create_doc(&t, PATCH, "{\"shelf_patch\":1,\"name\":\"Alpha\"}");
    create_doc(&t, PROJECT, "{\"shelf_project\":1,\"name\":\"J\"}");
    ASSERT_OKL(t.lib, shelf_doc_set(t.lib, PATCH, b, "comment", "c", NULL, &seq));
    ASSERT_OKL(t.lib, shelf_doc_list(t.lib, PATCH, on_doc, &l));
    ASSERT_EQ_INT(l.n, 2);
    ASSERT_EQ_STR(l.names[0], "Alpha");
    ASSERT_EQ_STR(l.names[1], "beta");
    ASSERT_EQ_INT(l.version[1], 2);
    ASSERT_OKL(t.lib, shelf_doc_touch(t.lib, PATCH, a));
    ASSERT(db_int(&t, "SELECT last_used FROM patches WHERE name = 'Alpha'") > 1700000000);
    ASSERT_RC(SHELF_ENOTFOUND, shelf_doc_touch(t.lib, PATCH, 999));
    ASSERT_RC(SHELF_EINVAL, shelf_doc_list(t.lib, 0, on_doc, &l));
    shelf_library_close(t.lib);
}

/* A patch of about n bytes of canonical text: groups of 20 parameters. */
static char *big_patch(int groups)
{
    shelf__buf b = SHELF__BUF_INIT;
    int g, p;

    ASSERT_OK(shelf__buf_adds(&b, "{\"shelf_patch\":1,\"name\":\"Big\",\"params\":{"));
    for (g = 0; g < groups; g++) {
        ASSERT_OK(shelf__buf_addf(&b, "%s\"group%02d\":{", g ? "," : "", g));
        for (p = 0; p < 20; p++)
            ASSERT_OK(shelf__buf_addf(&b, "%s\"param%02d\":%d", p ? "," : "", p, g * 100 + p));
        ASSERT_OK(shelf__buf_adds(&b, "}"));
    }
    ASSERT_OK(shelf__buf_adds(&b, "}}"));
    return shelf__buf_detach(&b);
}

/* 200 edits, then every version reads back as committed (chains of deltas
 * broken by whole copies every 64). */
TEST(store_delta_chains)
{
    enum { EDITS = 200 };
    tlib t;
    rng r = { 99 };
    char *docs[EDITS + 2] = { NULL }, *big = big_patch(20);
    hist h = { 0 };
    int64_t id, seq;
    int i;

    lib_open(&t);
    id = create_doc(&t, PATCH, big);
    docs[1] = get_doc(&t, PATCH, id, 0);
    for (i = 2; i <= EDITS + 1; i++) {
        char path[64], value[32];
        int rc;

        snprintf(path, sizeof path, "params/group%02d/param%02d", rndn(&r, 20), rndn(&r, 20));
        if (i % 17 == 0) {
            snprintf(value, sizeof value, "t%d", i);
            rc = shelf_doc_set(t.lib, PATCH, id, "tags+", value, NULL, &seq);
        } else if (i % 23 == 0) {
            snprintf(path, sizeof path, "params/extra%d", i);
            rc = shelf_doc_set(t.lib, PATCH, id, path, "\"x\"", NULL, &seq);
        } else {
            snprintf(value, sizeof value, "%d.5", i);
            rc = shelf_doc_set(t.lib, PATCH, id, path, value, NULL, &seq);
        }
        ASSERT_OKL(t.lib, rc);
        ASSERT_EQ_INT(seq, i);
        docs[i] = get_doc(&t, PATCH, id, 0);
    }
    for (i = 1; i <= EDITS + 1; i++) {
        char *j = get_doc(&t, PATCH, id, i);

        if (strcmp(j, docs[i]) != 0)
            test__fail(__FILE__, __LINE__, "version %d reads back different", i);
        shelf_free(j);
    }
    get_history(&t, PATCH, id, &h);
    ASSERT_EQ_INT(h.n, EDITS + 1);
    for (i = 1; i <= EDITS + 1; i++) {
        char hash[65];

        hash_of(docs[i], hash);
        ASSERT_EQ_STR(hist_seq(&h, i)->hash, hash);
        ASSERT_EQ_INT(hist_seq(&h, i)->v.parent, i - 1);
    }
    /* Deltas: most versions; chains at most 64 deltas long. */
    ASSERT(db_int(&t, "SELECT count(*) FROM doc_versions WHERE base IS NOT NULL") > EDITS * 9 / 10);
    ASSERT(db_int(&t, "SELECT max(depth) FROM doc_versions") <= 64);
    ASSERT(db_int(&t, "SELECT count(*) FROM doc_versions WHERE base IS NULL") >= EDITS / 64 + 1);
    ASSERT(db_int(&t, "SELECT sum(length(data)) FROM doc_versions WHERE base IS NOT NULL") <
           (int64_t)(EDITS * strlen(docs[1]) / 20));
    for (i = 1; i <= EDITS + 1; i++)
        shelf_free(docs[i]);
    free(h.v);
    shelf_free(big);
    shelf_library_close(t.lib);
}

/* Replace the data of version seq of item id with data (n bytes). */
static void set_row_data(const tlib *t, int64_t id, int64_t seq, const void *data, int n)
{
    char path[PATH_MAX];
    sqlite3 *db;
    sqlite3_stmt *st;

    test_pathf(path, sizeof path, "%s/shelf.db", t->dir);
    ASSERT(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    ASSERT(sqlite3_prepare_v2(db, "UPDATE doc_versions SET data = ?1 WHERE item_id = ?2 AND seq = ?3",
                              -1, &st, NULL) == SQLITE_OK);
    sqlite3_bind_blob(st, 1, data, n, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, id);
    sqlite3_bind_int64(st, 3, seq);
    ASSERT(sqlite3_step(st) == SQLITE_DONE);
    ASSERT_EQ_INT(sqlite3_changes(db), 1);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* The data of version seq of item id (owned), *n its size. */
static unsigned char *row_data(const tlib *t, int64_t id, int64_t seq, int *n)
{
    char path[PATH_MAX];
    sqlite3 *db;
    sqlite3_stmt *st;
    unsigned char *v;

    test_pathf(path, sizeof path, "%s/shelf.db", t->dir);
    ASSERT(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
    ASSERT(sqlite3_prepare_v2(db, "SELECT data FROM doc_versions WHERE item_id = ?1 AND seq = ?2",
                              -1, &st, NULL) == SQLITE_OK);
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, seq);
    ASSERT(sqlite3_step(st) == SQLITE_ROW);
    *n = sqlite3_column_bytes(st, 0);
    v = malloc((size_t)*n + 1);
    ASSERT(v != NULL);
    memcpy(v, sqlite3_column_blob(st, 0), (size_t)*n);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/*
 * Flip bytes of stored versions (a whole copy compressed, a whole copy as
 * text, deltas): reading must give SHELF_ECORRUPT or the very document that
 * was committed, never a crash or another document.
 */
TEST(store_corrupt_rows)
{
    enum { NV = 6 };
    tlib t;
    char *docs[NV + 1], *big = big_patch(6);
    int64_t id, seq;
    int v, pos;

    lib_open(&t);
    id = create_doc(&t, PATCH, big);
    docs[1] = get_doc(&t, PATCH, id, 0);
    for (v = 2; v <= NV; v++) {
        char val[16];

        snprintf(val, sizeof val, "%d", 1000 + v);
        ASSERT_OKL(t.lib, shelf_doc_set(t.lib, PATCH, id, v == 4 ? "tags+" : "params/group01/param03",
                                        v == 4 ? "tagged" : val, NULL, &seq));
        docs[v] = get_doc(&t, PATCH, id, 0);
    }
    /* A second patch small enough to be stored as text. */
    {
        int64_t id2 = create_doc(&t, PATCH, "{\"shelf_patch\":1,\"name\":\"small\",\"rating\":1}");
        unsigned char *orig;
        int n, corrupt = 0;

        orig = row_data(&t, id2, 1, &n);
        ASSERT_EQ_INT(orig[0], 'J');
        for (pos = 0; pos < n; pos++) {
            char *j = NULL;
            int rc;

            orig[pos] ^= 0x01;
            set_row_data(&t, id2, 1, orig, n);
            orig[pos] ^= 0x01;
            rc = shelf_doc_get(t.lib, PATCH, id2, 1, &j);
            if (rc != SHELF_ECORRUPT)
                test__fail(__FILE__, __LINE__, "byte %d flipped: %s (%s) %s", pos, shelf_strerror(rc),
                           shelf_errmsg(t.lib), j ? j : "");
            ASSERT(j == NULL);
            ASSERT(strstr(shelf_errmsg(t.lib), "corrupt") != NULL);
            corrupt++;
        }
        ASSERT_EQ_INT(corrupt, n);
        /* Empty and truncated data. */
        set_row_data(&t, id2, 1, orig, 0);
        {
            char *j = NULL;

            ASSERT_RC(SHELF_ECORRUPT, shelf_doc_get(t.lib, PATCH, id2, 1, &j));
            set_row_data(&t, id2, 1, orig, n / 2);
            ASSERT_RC(SHELF_ECORRUPT, shelf_doc_get(t.lib, PATCH, id2, 1, &j));
        }
        set_row_data(&t, id2, 1, orig, n);
        free(orig);
    }
    for (v = 1; v <= NV; v++) {
        unsigned char *orig;
        int n, step, ncorrupt = 0, tries = 0;

        orig = row_data(&t, id, v, &n);
        if (v == 1)
            ASSERT_EQ_INT(orig[0], 'Z');        /* compressed whole copy */
        step = n > 300 ? n / 150 : 1;
        for (pos = 0; pos < n; pos += step) {
            int k;

            orig[pos] ^= (unsigned char)(pos % 2 ? 0x01 : 0x80);
            set_row_data(&t, id, v, orig, n);
            orig[pos] ^= (unsigned char)(pos % 2 ? 0x01 : 0x80);
            tries++;
            for (k = 1; k <= NV; k++) {
                char *j = NULL;
                int rc = shelf_doc_get(t.lib, PATCH, id, k, &j);

                if (rc == SHELF_OK) {
                    if (strcmp(j, docs[k]) != 0)
                        test__fail(__FILE__, __LINE__, "row %d byte %d: version %d reads as "
                                   "another document:\n%s\n%s", v, pos, k, j, docs[k]);
                } else if (rc != SHELF_ECORRUPT) {
                    test__fail(__FILE__, __LINE__, "row %d byte %d: version %d: %s (%s)", v, pos,
                               k, shelf_strerror(rc), shelf_errmsg(t.lib));
                } else if (k < v) {
                    test__fail(__FILE__, __LINE__, "row %d byte %d: older version %d is corrupt",
                               v, pos, k);
                } else if (k == v) {
                    ncorrupt++;
                }
                shelf_free(j);
            }
        }
        /* Nearly every flip is seen (a compressed frame may decode the same). */
        ASSERT(ncorrupt * 10 >= tries * 9);
        set_row_data(&t, id, v, orig, n);
        free(orig);
    }
    /* A history (no decoding) and a diff of corrupt versions. */
    {
        unsigned char junk[] = "J[[\"s\",\"name\",3]]";
        char *d = NULL;
        hist h = { 0 };

        set_row_data(&t, id, 3, junk, (int)sizeof junk - 1);
        get_history(&t, PATCH, id, &h);
        ASSERT_EQ_INT(h.n, NV);
        ASSERT_RC(SHELF_ECORRUPT, shelf_doc_diff_versions(t.lib, PATCH, id, 1, 3, &d));
        ASSERT(d == NULL);
        ASSERT_RC(SHELF_ECORRUPT, shelf_doc_set(t.lib, PATCH, id, "name", "x", NULL, &seq));
        free(h.v);
    }
    for (v = 1; v <= NV; v++)
        shelf_free(docs[v]);
    shelf_free(big);
    shelf_library_close(t.lib);
}

TEST(store_diff_versions)
{
    tlib t;
    int64_t id, seq;
    char *d = NULL;

    lib_open(&t);
    id = create_doc(&t, PATCH, DOC1);
    ASSERT_OKL(t.lib, shelf_doc_set(t.lib, PATCH, id, "params/filter/cutoff", "10", NULL, &seq));
    ASSERT_OKL(t.lib, shelf_doc_set(t.lib, PATCH, id, "tags+", "new", NULL, &seq));
    ASSERT_OKL(t.lib, shelf_doc_diff_versions(t.lib, PATCH, id, 1, 0, &d));
    ASSERT_EQ_STR(d, "[{\"op\":\"change\",\"path\":\"params/filter/cutoff\",\"old\":1200,\"new\":10},"
                     "{\"op\":\"add\",\"path\":\"tags/new\",\"new\":true}]");
    shelf_free(d);
    ASSERT_OKL(t.lib, shelf_doc_diff_versions(t.lib, PATCH, id, 3, 2, &d));
    ASSERT_EQ_STR(d, "[{\"op\":\"remove\",\"path\":\"tags/new\",\"old\":true}]");
    shelf_free(d);
    ASSERT_OKL(t.lib, shelf_doc_diff_versions(t.lib, PATCH, id, 2, 2, &d));
    ASSERT_EQ_STR(d, "[]");
    shelf_free(d);
    d = (char *)&d;
    ASSERT_RC(SHELF_ENOTFOUND, shelf_doc_diff_versions(t.lib, PATCH, id, 1, 9, &d));
    ASSERT(d == NULL);
    shelf_library_close(t.lib);
}

/* ---- allocation failures ------------------------------------------------------------------- */

/* Every item of kind reads back at its head, whose hash is the history's. */
static void check_consistent(tlib *t, int64_t id, size_t nversions, const char *head_doc)
{
    hist h = { 0 };
    char hash[65], *j = get_doc(t, PATCH, id, 0);

    get_history(t, PATCH, id, &h);
    ASSERT_EQ_INT(h.n, nversions);
    ASSERT_EQ_INT(h.v[0].v.head, 1);
    hash_of(j, hash);
    ASSERT_EQ_STR(h.v[0].hash, hash);
    ASSERT_EQ_STR(j, head_doc);
    ASSERT_EQ_INT(db_int(t, "SELECT version FROM patches WHERE id = (SELECT max(id) FROM patches)"),
                  h.v[0].v.seq);
    for (size_t i = 0; i < h.n; i++) {
        char *k = get_doc(t, PATCH, id, h.v[i].v.seq);

        shelf_free(k);
    }
    shelf_free(j);
    free(h.v);
}

/*
 * Allocation n fails, n = 1, 2, ... over create, set, a branch commit and a
 * merge: every step succeeds or fails with SHELF_ENOMEM, and the item reads
 * back consistent afterwards.  Regression test, fixed (lib/patch/versions.c,
 * commit_doc): a failed store_version freed the parent document twice.
 */
TEST(alloc_fail_create_set_merge)
{
    const char *v1 = "{\"shelf_patch\":1,\"name\":\"A\",\"tags\":[\"t\"],\"params\":{\"a\":1,\"b\":1}}";
    const char *v3 = "{\"shelf_patch\":1,\"name\":\"A\",\"tags\":[\"t\"],\"params\":{\"a\":1,\"b\":3}}";
    tlib t;
    long n;
    int bad = 0;
    int64_t items = 0;
    char first[512] = "";

    lib_open(&t);
    /* one connection for the checks: opening one per check (and reading the
     * schema again) was half the time of the 10,000 rounds */
    t.db = db_of(&t);
    /* about 10,000 allocations since the change log queues every version */
    for (n = 1; n < 30000; n++) {
        shelf_merge *m = NULL;
        int64_t id = 0, s2 = 0, s3 = 0, s4 = 0, base = 0;
        int rc[5] = { 1, 1, 1, 1, 1 }, hit, i;
        size_t nv = 0;
        const char *want;
        char *w2 = NULL, *w3 = NULL, *w4 = NULL;

        shelf__alloc_fail_after(n);
        rc[0] = shelf_doc_create(t.lib, PATCH, v1, NULL, &id);
        if (rc[0] == SHELF_OK) {
            rc[1] = shelf_doc_set(t.lib, PATCH, id, "params/a", "2", NULL, &s2);
            rc[2] = shelf_doc_commit(t.lib, PATCH, id, v3, 1, NULL, &s3);
            if (rc[1] == SHELF_OK && rc[2] == SHELF_OK) {
                rc[3] = shelf_doc_merge_prepare(t.lib, PATCH, id, s2, &m, &base);
                if (rc[3] == SHELF_OK)
                    rc[4] = shelf_doc_merge_commit(t.lib, PATCH, id, s2, m, NULL, &s4);
            }
        }
        hit = fault_hit(n);
        shelf__alloc_fail_after(0);
        shelf_merge_free(m);
        for (i = 0; i < 5; i++)
            if (rc[i] != SHELF_OK && rc[i] != 1 && rc[i] != SHELF_ENOMEM && !bad++)
                snprintf(first, sizeof first, "allocation %ld, step %d: %s: %s", n, i,
                         shelf_strerror(rc[i]), shelf_errmsg(t.lib));
        if (rc[0] != SHELF_OK) {
            if (id != 0 && !bad++)
                snprintf(first, sizeof first, "allocation %ld: create failed but *id is set", n);
            ASSERT_EQ_INT(db_int(&t, "SELECT count(*) FROM patches"), items);
        } else {
            items++;
            nv = 1;
            want = v1;
            w2 = canon("{\"shelf_patch\":1,\"name\":\"A\",\"tags\":[\"t\"],\"params\":{\"a\":2,\"b\":1}}");
            w3 = canon(v3);
            w4 = canon("{\"shelf_patch\":1,\"name\":\"A\",\"tags\":[\"t\"],\"params\":{\"a\":2,\"b\":3}}");
            if (rc[1] == SHELF_OK) {
                nv++;
                want = w2;
            } else if (s2 != 0 && !bad++) {
                snprintf(first, sizeof first, "allocation %ld: set failed but *seq is set", n);
            }
            if (rc[2] == SHELF_OK) {
                nv++;
                want = w3;
            }
            if (rc[4] == SHELF_OK) {
                nv++;
                want = w4;
            }
            {
                char *c = canon(want);

                check_consistent(&t, id, nv, c);
                shelf_free(c);
            }
            ASSERT_EQ_INT(db_int(&t, "SELECT count(*) FROM tag_items WHERE kind = 2"), items);
            shelf_free(w2);
            shelf_free(w3);
            shelf_free(w4);
        }
        if (!hit) {
            for (i = 0; i < 5; i++)
                ASSERT(rc[i] == SHELF_OK || rc[i] == 1);
            break;
        }
    }
    ASSERT(n > 10);
    ASSERT(n < 30000);
    if (bad)
        test__fail(__FILE__, __LINE__, "%d problems in %ld attempts; first: %s", bad, n, first);
    sqlite3_close(t.db);
    shelf_library_close(t.lib);
}

/* The same for canonical, diff and merge in memory.  Regression test, fixed
 * (lib/patch/merge.c, merge_walk): a failure inside a group leaked it. */
TEST(alloc_fail_pure)
{
    char *c1 = canon(DOC1);
    char *o = edit(c1, "\"cutoff\":1200", "\"cutoff\":1");
    char *th = edit(c1, "\"cutoff\":1200", "\"cutoff\":2");
    long n;

    for (n = 1; n < 10000; n++) {
        shelf_merge *m = NULL;
        char *out = NULL, *msg = NULL, *d = NULL, *res = NULL;
        int rc1, rc2, rc3, rc4 = SHELF_OK, hit;

        shelf__alloc_fail_after(n);
        rc1 = shelf_doc_canonical(DOC1, strlen(DOC1), 0, &out, NULL, &msg);
        rc2 = shelf_doc_diff(c1, o, &d, NULL);
        rc3 = shelf_merge_new(c1, o, th, 0, 0, &m, NULL);
        if (rc3 == SHELF_OK) {
            shelf_merge_resolve(m, 0, SHELF_MERGE_THEIRS, NULL);
            rc4 = shelf_merge_result(m, &res);
        }
        hit = fault_hit(n);
        shelf__alloc_fail_after(0);
        ASSERT(rc1 == SHELF_OK || rc1 == SHELF_ENOMEM);
        ASSERT((rc1 == SHELF_OK) == (out != NULL));
        ASSERT(rc2 == SHELF_OK || rc2 == SHELF_ENOMEM);
        ASSERT((rc2 == SHELF_OK) == (d != NULL));
        ASSERT(rc3 == SHELF_OK || rc3 == SHELF_ENOMEM);
        ASSERT((rc3 == SHELF_OK) == (m != NULL));
        if (rc3 == SHELF_OK)
            ASSERT_EQ_INT(shelf_merge_conflicts(m), 1);
        ASSERT(rc4 == SHELF_OK || rc4 == SHELF_ENOMEM);
        if (rc1 == SHELF_OK)
            ASSERT_EQ_STR(out, c1);
        if (rc3 == SHELF_OK && rc4 == SHELF_OK)
            ASSERT_EQ_STR(res, th);
        shelf_free(out);
        shelf_free(msg);
        shelf_free(d);
        shelf_free(res);
        shelf_merge_free(m);
        if (!hit)
            break;
    }
    ASSERT(n > 5 && n < 10000);
    shelf_free(c1);
    free(o);
    free(th);
}

/*
 * The library parses its own documents again (an export re-reads each
 * version, a lane is added to the parsed project, a history is imported, a
 * merge value is JSON or else a string), and jansson calls a failed
 * allocation a syntax error.  For n = 1, 2, ... the nth allocation fails
 * (every point up to 600, where the parses are, then steps growing by an
 * eighth): each call returns SHELF_ENOMEM or succeeds with the
 * whole answer, never SHELF_ECORRUPT, SHELF_EFORMAT or SHELF_EINVAL.
 */
TEST(alloc_fail_documents_parsed_again_are_enomem)
{
    static const double pts[] = { 0, 0.5, 1, 1 };
    char doc[512], target[128], lane[SHELF_LANE_ID_MAX], *c1, *o, *th, *histj = NULL;
    const char *what[5] = { "export", "import", "automation", "merge value", "merge text" };
    int tried[5] = { 0 }, failed[5] = { 0 }, bad = 0, i;
    int64_t pid, jid, seq = 0, lanes = 0;
    char first[512] = "";
    tlib t;
    long n;

    lib_open(&t);
    pid = create_doc(&t, PATCH, "{\"shelf_patch\":1,\"name\":\"P\",\"params\":{\"x\":1}}");
    ASSERT_OKL(t.lib, shelf_doc_set(t.lib, PATCH, pid, "params/x", "2", NULL, &seq));
    snprintf(doc, sizeof doc, "{\"shelf_project\":1,\"name\":\"S\",\"automation\":{}}");
    jid = create_doc(&t, PROJECT, doc);
    snprintf(target, sizeof target, "patch:%lld/params/x", (long long)pid);
    ASSERT_OKL(t.lib, shelf_doc_export(t.lib, PATCH, pid, &histj));
    c1 = canon(DOC1);
    o = edit(c1, "\"cutoff\":1200", "\"cutoff\":1");
    th = edit(c1, "\"cutoff\":1200", "\"cutoff\":2");
    for (i = 0; i < 5; i++) {
        for (n = 1; n < 100000; n += n < 600 ? 1 : n / 8) {
            shelf_merge *m = NULL;
            char *out = NULL;
            int64_t id = 0;
            int rc, hit, kind = 0, ok = 1;

            if (i >= 3) {
                ASSERT_OK(shelf_merge_new(c1, o, th, 0, 0, &m, NULL));
                ASSERT_EQ_INT(shelf_merge_conflicts(m), 1);
            }
            shelf__alloc_fail_after(n);
            switch (i) {
            case 0: rc = shelf_doc_export(t.lib, PATCH, pid, &out); break;
            case 1: rc = shelf_doc_import(t.lib, histj, SHELF_DOC_IMPORT_AS_NEW, &kind, &id); break;
            case 2:
                rc = shelf_automation_add(t.lib, jid, "points", target, 0, -1, pts, 2, NULL, lane,
                                          NULL);
                break;
            case 3: rc = shelf_merge_resolve(m, 0, SHELF_MERGE_VALUE, "1234.5"); break;
            default: rc = shelf_merge_resolve(m, 0, SHELF_MERGE_VALUE, "not JSON"); break;
            }
            hit = fault_hit(n);
            shelf__alloc_fail_after(0);
            tried[i]++;
            failed[i] += rc != SHELF_OK;
            if (rc == SHELF_OK) {
                switch (i) {
                case 0: ok = out && !strcmp(out, histj); break;
                case 1: ok = kind == PATCH && id > 0; break;
                case 2: ok = db_int(&t, "SELECT count(*) FROM automation") == ++lanes; break;
                default:
                    ASSERT_OK(shelf_merge_result(m, &out));
                    ok = strstr(out, i == 3 ? "\"cutoff\":1234.5" : "\"cutoff\":\"not JSON\"") != NULL;
                    break;
                }
            }
            if (rc != SHELF_OK && (rc != SHELF_ENOMEM ||
                                   (i < 3 && !strstr(shelf_errmsg(t.lib), "out of memory"))) &&
                !bad++)
                snprintf(first, sizeof first, "%s, allocation %ld: %s: %s", what[i], n,
                         shelf_strerror(rc), i < 3 ? shelf_errmsg(t.lib) : "");
            if (!ok && !bad++)
                snprintf(first, sizeof first, "%s, allocation %ld: OK with a wrong result", what[i], n);
            shelf_free(out);
            shelf_merge_free(m);
            if (!hit)
                break;
        }
        printf("    %s: %d allocation points, %d failed with SHELF_ENOMEM\n", what[i], tried[i],
               failed[i]);
        ASSERT(n < 100000);
        ASSERT(failed[i] > (i >= 3 ? 0 : 10));
    }
    if (bad)
        test__fail(__FILE__, __LINE__, "%d problems; first: %s", bad, first);
    shelf_free(histj);
    shelf_free(c1);
    free(o);
    free(th);
    shelf_library_close(t.lib);
}

/*
 * shelf_automation_add names the lane (the first free aNNNN), sorts the
 * points and derives the duration, in the library: the shelf program only
 * calls it.
 */
TEST(automation_add_names_and_sorts_lanes)
{
    static const double pts[] = { 4, 0.5, 1, 0.25, 2, 1 };
    char doc[512], want[256], lane[SHELF_LANE_ID_MAX], *j;
    int64_t pid, jid, seq = 0;
    tlib t;

    lib_open(&t);
    pid = create_doc(&t, PATCH, "{\"shelf_patch\":1,\"name\":\"P\",\"params\":{\"x\":1}}");
    snprintf(doc, sizeof doc,
             "{\"shelf_project\":1,\"name\":\"S\",\"automation\":{\"a0001\":{\"type\":\"curve\","
             "\"target\":\"patch:%lld/params/x\"}}}", (long long)pid);
    jid = create_doc(&t, PROJECT, doc);
    snprintf(want, sizeof want, "patch:%lld/params/x", (long long)pid);
    ASSERT_OKL(t.lib, shelf_automation_add(t.lib, jid, "points", want, 0.5, -1, pts, 3, "lane",
                                            lane, &seq));
    ASSERT_EQ_STR(lane, "a0002");
    ASSERT_EQ_INT(seq, 2);
    ASSERT_EQ_INT(db_int(&t, "SELECT count(*) FROM automation"), 2);
    j = db_text(&t, "SELECT type || '|' || start_time || '|' || duration || '|' || data"
                    " FROM automation WHERE type = 'points'");
    ASSERT_EQ_STR(j, "points|0.5|4.0|[[1.0,0.25],[2.0,1.0],[4.0,0.5]]");
    shelf_free(j);
    /* The next lane takes the next id; an explicit duration is kept. */
    ASSERT_OKL(t.lib, shelf_automation_add(t.lib, jid, "curve", want, 0, 10, pts, 1, NULL, lane,
                                            NULL));
    ASSERT_EQ_STR(lane, "a0003");
    ASSERT(db_int(&t, "SELECT duration FROM automation WHERE type = 'curve' AND duration > 0") == 10);
    /* A target that does not exist is refused and adds nothing. */
    ASSERT_RC(SHELF_ENOTFOUND, shelf_automation_add(t.lib, jid, "points", "patch:999/params/x", 0,
                                                    -1, pts, 1, NULL, lane, NULL));
    ASSERT_EQ_INT(db_int(&t, "SELECT count(*) FROM automation"), 3);
    ASSERT_RC(SHELF_ENOTFOUND, shelf_automation_add(t.lib, 999, "points", want, 0, -1, pts, 1,
                                                    NULL, lane, NULL));
    shelf_library_close(t.lib);
}

int main(int argc, char **argv)
{
    static const test_case tests[] = {
        TEST_ENTRY(canonical_key_order_and_whitespace),
        TEST_ENTRY(canonical_hash_is_sha256_of_text),
        TEST_ENTRY(canonical_tags_sorted_lowercased_deduplicated),
        TEST_ENTRY(canonical_defaults_omitted),
        TEST_ENTRY(canonical_equal_and_different),
        TEST_ENTRY(canonical_integer_and_real),
        TEST_ENTRY(canonical_shortest_reals),
        TEST_ENTRY(canonical_idempotent),
        TEST_ENTRY(canonical_kind),
        TEST_ENTRY(schema_rejects),
        TEST_ENTRY(schema_accepts),
        TEST_ENTRY(schema_depth),
        TEST_ENTRY(schema_format_newer),
        TEST_ENTRY(schema_project_key_with_slash),
        TEST_ENTRY(schema_project_entry_members),
        TEST_ENTRY(schema_types_empty_key),
        TEST_ENTRY(schema_non_finite_and_null_internal),
        TEST_ENTRY(paths_split_escape),
        TEST_ENTRY(paths_get_set_remove),
        TEST_ENTRY(diff_ops),
        TEST_ENTRY(diff_tags_as_set),
        TEST_ENTRY(diff_zones),
        TEST_ENTRY(diff_refuses),
        TEST_ENTRY(apply_random_pairs),
        TEST_ENTRY(apply_refuses_bad_deltas),
        TEST_ENTRY(merge_different_params),
        TEST_ENTRY(merge_same_change_both_sides),
        TEST_ENTRY(merge_delete_vs_unchanged),
        TEST_ENTRY(merge_delete_vs_modify_conflicts),
        TEST_ENTRY(merge_both_change_conflict),
        TEST_ENTRY(merge_resolve_by_path_and_all),
        TEST_ENTRY(merge_tags_as_sets),
        TEST_ENTRY(merge_tags_last_removed),
        TEST_ENTRY(merge_params_last_removed),
        TEST_ENTRY(merge_rating_newest_wins),
        TEST_ENTRY(merge_groups_added_both_sides),
        TEST_ENTRY(merge_resolution_breaking_schema_refused),
        TEST_ENTRY(merge_refuses_bad_input),
        TEST_ENTRY(merge_property_disjoint_changes),
        TEST_ENTRY(merge_property_leaf_diffs),
        TEST_ENTRY(store_create_get_history),
        TEST_ENTRY(store_branch_and_merge),
        TEST_ENTRY(store_merge_commit_checks),
        TEST_ENTRY(store_set_with_types),
        TEST_ENTRY(store_set_tags),
        TEST_ENTRY(store_set_tag_remove_case),
        TEST_ENTRY(store_edit_queues_only_changes),
        TEST_ENTRY(store_set_string_stays_string),
        TEST_ENTRY(store_revert),
        TEST_ENTRY(store_resolve_refs),
        TEST_ENTRY(store_undo),
        TEST_ENTRY(store_doc_undo),
        TEST_ENTRY(store_refs_and_mirrors),
        TEST_ENTRY(store_relink_after_moved_sample),
        TEST_ENTRY(store_list_touch),
        TEST_ENTRY(store_delta_chains),
        TEST_ENTRY(store_corrupt_rows),
        TEST_ENTRY(store_diff_versions),
        TEST_ENTRY(alloc_fail_create_set_merge),
        TEST_ENTRY(alloc_fail_pure),
        TEST_ENTRY(automation_add_names_and_sorts_lanes),
        TEST_ENTRY(alloc_fail_documents_parsed_again_are_enomem),
        TEST_END
    };

    return test_run(argc, argv, tests);
}
