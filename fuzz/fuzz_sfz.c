/*
 * fuzz_sfz.c: fuzz target for the SFZ importer (shelf__patch_parse_mem
 * with SHELF__PF_SFZ and no folder, so #include is refused and nothing is
 * read from disk); the input is the .sfz text.  A parsed patch must pass
 * the document checker (shelf__doc_check) and its canonical text must be
 * made; a failure must be SHELF_EFORMAT or SHELF_ENOMEM with a one-line
 * message naming the file, and no document.  Broken invariants abort().
 *
 * An input that holds "#include" is parsed a second time inside a folder
 * made once in $TMPDIR: tree/ (the input's folder, with inc.sfz,
 * sub/up.sfz including "../inc.sfz", bad.sfz, a FIFO and a symbolic link
 * to ../secret.sfz) next to secret.sfz, whose text must never show in a
 * message or a document (includes stay inside tree/) and whose FIFO must
 * not block.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
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

static char fixture[512];

static void put(const char *rel, const char *text)
{
    char path[700];
    FILE *f;

    snprintf(path, sizeof path, "%s/%s", fixture, rel);
    CHECK((f = fopen(path, "w")) != NULL);
    fputs(text, f);
    CHECK(fclose(f) == 0);
}

static void remove_fixture(void)
{
    static const char *const files[] = { "tree/sub/up.sfz", "tree/inc.sfz", "tree/bad.sfz",
                                         "tree/fifo.sfz",   "tree/out.sfz", "secret.sfz",
                                         "tree/sub",        "tree",         "" };
    char path[700];
    size_t i;

    for (i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", fixture, files[i]);
        if (remove(path) != 0)
            continue;
    }
}

/* The folder of the second parse (made once, removed at exit). */
static const char *tree(void)
{
    static char dir[600];
    const char *tmp = getenv("TMPDIR");
    char path[700];

    if (dir[0])
        return dir;
    snprintf(fixture, sizeof fixture, "%s/fuzz_sfz.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    CHECK(mkdtemp(fixture) != NULL);
    atexit(remove_fixture);
    snprintf(dir, sizeof dir, "%s/tree", fixture);
    CHECK(mkdir(dir, 0755) == 0);
    snprintf(path, sizeof path, "%s/sub", dir);
    CHECK(mkdir(path, 0755) == 0);
    put("secret.sfz", "<region> FUZZSECRET\nFUZZSECRET=1 <FUZZSECRET>\n");
    put("tree/inc.sfz", "<group> volume=-3\n<region> sample=a.wav key=60\n");
    put("tree/sub/up.sfz", "#include \"../inc.sfz\"\n");
    put("tree/bad.sfz", "<regoin>\n");
    snprintf(path, sizeof path, "%s/fifo.sfz", dir);
    CHECK(mkfifo(path, 0644) == 0);
    snprintf(path, sizeof path, "%s/out.sfz", dir);
    CHECK(symlink("../secret.sfz", path) == 0);
    return dir;
}

/* The parse inside the fixture: nothing from outside tree/ shows. */
static void parse_in_tree(const uint8_t *data, size_t size)
{
    shelf__err err;
    json_t *doc = NULL;
    char *text;
    int rc;

    memset(&err, 0, sizeof err);
    rc = shelf__patch_parse_mem(data, size, SHELF__PF_SFZ, "fuzz.sfz", tree(), &doc, &err);
    if (rc != SHELF_OK) {
        CHECK(rc == SHELF_EFORMAT || rc == SHELF_ENOMEM);
        CHECK(doc == NULL);
        CHECK(memchr(err.msg, '\0', sizeof err.msg) != NULL);
        CHECK(strstr(err.msg, "FUZZSECRET") == NULL);
        return;
    }
    CHECK((text = shelf__doc_dump(doc, NULL)) != NULL);
    CHECK(strstr(text, "FUZZSECRET") == NULL);
    free(text);
    json_decref(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    shelf__err err;
    json_t *doc = (json_t *)&err, *zones, *z;
    const char *id;
    char *text;
    int rc;

    if (size < (1 << 20) && memmem(data, size, "#include", 8))
        parse_in_tree(data, size);
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
