/*
 * fuzz_docsync.c: fuzz target for document version records from other
 * devices (lib/sync/docs.c, shelf__docsync_put): input "ITEM\nFIELD\nVALUE",
 * put into a library that holds one patch (the corpus's records are of
 * it), inside a transaction rolled back after each input.  Invariants:
 * every answer is SHELF_OK, SHELF_EFORMAT or SHELF_ENOMEM, a failure has a
 * message, and the library still reads its patch afterwards.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "fuzz_target.h"
#include "sync/sync_int.h"
#include "shelf/patch.h"

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "fuzz_docsync: %s:%d: invariant failed: %s\n",   \
                    __FILE__, __LINE__, #cond);                              \
            abort();                                                         \
        }                                                                    \
    } while (0)

#define SEED "{\"shelf_patch\":1,\"name\":\"Seed é 🎹\",\"params\":{\"cutoff\":1000,\"res\":0.5}}"

static shelf_library *lib;
static char tmpdir[] = "/tmp/fuzz_docsync.XXXXXX";

static void remove_tmp(void)
{
    if (lib)
        shelf_library_close(lib);
    lib = NULL;
    (void)shelf__rmtree(tmpdir);
}

static void setup(void)
{
    char p[512], *msg = NULL;
    int64_t id;

    CHECK(mkdtemp(tmpdir) != NULL);
    atexit(remove_tmp);
    snprintf(p, sizeof p, "%s/lib", tmpdir);
    if (shelf_library_open(p, SHELF_OPEN_CREATE, &lib, &msg) != SHELF_OK) {
        fprintf(stderr, "fuzz_docsync: cannot open %s: %s\n", p, msg ? msg : "?");
        abort();
    }
    CHECK(shelf_doc_create(lib, SHELF_DOC_PATCH, SEED, NULL, &id) == SHELF_OK);
    /* its version id made, as a drain makes it */
    CHECK(shelf__changes_drain(lib, "AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA",
                               NULL) == SHELF_OK);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    shelf__merge_stats st = { 0, 0, 0 };
    shelf__change c;
    char *text, *nl1, *nl2, *json = NULL;
    int rc;

    if (!lib)
        setup();
    if (!(text = malloc(size + 1)))
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    if (strlen(text) != size || !(nl1 = strchr(text, '\n')) || !(nl2 = strchr(nl1 + 1, '\n'))) {
        free(text);
        return 0;
    }
    *nl1 = *nl2 = '\0';
    if (!shelf__docsync_is_version(text, nl1 + 1)) {
        free(text);
        return 0;
    }
    memset(&c, 0, sizeof c);
    c.device = "AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-BBBBBBB";
    c.counter = 1;
    c.item = text;
    c.field = nl1 + 1;
    c.value = nl2 + 1;
    CHECK(shelf__begin(lib) == SHELF_OK);
    rc = shelf__docsync_put(lib, &c, &st);
    CHECK(rc == SHELF_OK || rc == SHELF_EFORMAT || rc == SHELF_ENOMEM);
    CHECK(rc == SHELF_OK || shelf_errmsg(lib)[0] != '\0');
    if (rc == SHELF_OK)
        CHECK(shelf__docsync_settle(lib) == SHELF_OK);
    shelf__rollback(lib);
    CHECK(shelf_doc_get(lib, SHELF_DOC_PATCH, 1, 0, &json) == SHELF_OK);
    shelf_free(json);
    free(text);
    return 0;
}
