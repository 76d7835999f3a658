/*
 * test_formats_real.c: parses every real patch file the Debian packages
 * ship, when they are installed: Hydrogen kits (hydrogen-drumkits,
 * /usr/share/hydrogen/data/drumkits/x/drumkit.xml), ZynAddSubFX banks
 * (zynaddsubfx-data, /usr/share/zynaddsubfx/banks, .xiz) and LMMS presets
 * (lmms-common, /usr/share/lmms/presets, .xpf and .xiz, links followed).
 * Each must parse, have a name, pass the document checker, and have every
 * zone's sample marked missing exactly when no file is at its path (a few
 * kits do refer to files they do not ship; their count is printed).  The
 * counts go to stdout.  Exits 77 (skipped) when none of the packages is
 * installed.
 */
#include <dirent.h>
#include "test.h"
#include "patch/formats_int.h"
#include "patch/patch_int.h"

#define H2_DIR "/usr/share/hydrogen/data/drumkits"
#define ZYN_DIR "/usr/share/zynaddsubfx/banks"
#define LMMS_DIR "/usr/share/lmms/presets"

typedef struct counts {
    int files, zones, missing, params;
} counts;

static void check_file(const char *path, counts *c)
{
    shelf__err err;
    json_t *doc = NULL, *z, *copy;
    const char *id, *p;
    struct stat sb;

    memset(&err, 0, sizeof err);
    if (shelf__patch_parse(path, 0, &doc, &err) != SHELF_OK)
        test__fail(__FILE__, __LINE__, "%s: %s", path, err.msg);
    ASSERT(json_is_string(json_object_get(doc, "name")));
    ASSERT(json_string_length(json_object_get(doc, "name")) > 0);
    copy = json_deep_copy(doc);
    if (shelf__doc_check(copy, SHELF_DOC_PATCH, &err) != SHELF_OK)
        test__fail(__FILE__, __LINE__, "%s: document check: %s", path, err.msg);
    json_decref(copy);
    json_object_foreach(json_object_get(doc, "zones"), id, z) {
        json_t *s = json_object_get(z, "sample");

        p = json_string_value(json_object_get(s, "path"));
        ASSERT(p != NULL && p[0] == '/');
        if (json_is_true(json_object_get(s, "missing"))) {
            ASSERT(stat(p, &sb) != 0);
            c->missing++;
        } else if (stat(p, &sb) != 0 || !S_ISREG(sb.st_mode)) {
            test__fail(__FILE__, __LINE__, "%s: zone %s: '%s' does not exist", path, id, p);
        }
        c->zones++;
    }
    if (json_object_get(doc, "params"))
        c->params++;
    c->files++;
    json_decref(doc);
}

/* Every file under dir whose name ends in one of exts (or is named
 * exactly "drumkit.xml" with the ext "drumkit.xml"), links followed. */
static void walk(const char *dir, const char *const *exts, counts *c, int depth)
{
    struct dirent **list = NULL;
    char path[4096];
    struct stat sb;
    int n, i;
    size_t k, ln, le;

    ASSERT(depth < 16);
    if ((n = scandir(dir, &list, NULL, alphasort)) < 0)
        return;
    for (i = 0; i < n; i++) {
        const char *name = list[i]->d_name;

        if (name[0] == '.') {
            free(list[i]);
            continue;
        }
        test_pathf(path, sizeof path, "%s/%s", dir, name);
        if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
            walk(path, exts, c, depth + 1);
        } else if (S_ISREG(sb.st_mode)) {
            for (k = 0; exts[k]; k++) {
                ln = strlen(name);
                le = strlen(exts[k]);
                if (ln >= le && strcmp(name + ln - le, exts[k]) == 0) {
                    check_file(path, c);
                    break;
                }
            }
        }
        free(list[i]);
    }
    free(list);
}

static int exists(const char *dir)
{
    struct stat sb;

    return stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode);
}

TEST(hydrogen_kits)
{
    static const char *const exts[] = { "/drumkit.xml", "drumkit.xml", NULL };
    counts c = { 0, 0, 0, 0 };

    if (!exists(H2_DIR))
        TEST_SKIP("hydrogen-drumkits is not installed");
    walk(H2_DIR, exts, &c, 0);
    printf("hydrogen: %d kits, %d zones, %d samples missing from their kits\n", c.files, c.zones,
           c.missing);
    ASSERT(c.files > 0);
    ASSERT(c.zones > c.files);
    ASSERT(c.missing * 20 < c.zones);
}

TEST(zyn_banks)
{
    static const char *const exts[] = { ".xiz", NULL };
    counts c = { 0, 0, 0, 0 };

    if (!exists(ZYN_DIR))
        TEST_SKIP("zynaddsubfx-data is not installed");
    walk(ZYN_DIR, exts, &c, 0);
    printf("zynaddsubfx: %d instruments, %d with parameters\n", c.files, c.params);
    ASSERT(c.files > 0);
    ASSERT_EQ_INT(c.params, c.files);
    ASSERT_EQ_INT(c.zones, 0);
}

TEST(lmms_presets)
{
    static const char *const exts[] = { ".xpf", ".xiz", NULL };
    counts c = { 0, 0, 0, 0 };

    if (!exists(LMMS_DIR))
        TEST_SKIP("lmms-common is not installed");
    walk(LMMS_DIR, exts, &c, 0);
    printf("lmms: %d presets, %d sample zones, %d samples missing\n", c.files, c.zones, c.missing);
    ASSERT(c.files > 0);
    ASSERT_EQ_INT(c.params, c.files);
}

int main(int argc, char **argv)
{
    static const test_case tests[] = {
        TEST_ENTRY(hydrogen_kits), TEST_ENTRY(zyn_banks), TEST_ENTRY(lmms_presets), TEST_END,
    };

    if (!exists(H2_DIR) && !exists(ZYN_DIR) && !exists(LMMS_DIR)) {
        printf("skip: none of hydrogen-drumkits, zynaddsubfx-data, lmms-common is installed\n");
        return TEST_SKIP_STATUS;
    }
    return test_run(argc, argv, tests);
}
