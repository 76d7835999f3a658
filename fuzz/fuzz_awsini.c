/*
 * fuzz_awsini.c: fuzz target for the reader of AWS shared credentials and
 * config files (shelf__awsini_find in lib/remote/creds.c), which reads
 * files any program of the user may have written.  The first byte selects
 * the file kind (bit 0: config) and the profile (bits 1-2: "default",
 * "dev", "my dev", "x"); the rest is the file.  Invariants: the result is
 * one of SHELF_OK, SHELF_ENOTFOUND, SHELF_EFORMAT, SHELF_ENOMEM; a failure
 * leaves every field NULL and its message is one line; every value found
 * is stripped (no white space at either end) and, when it has no line
 * break (a continuation), occurs in the input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz_target.h"
#include "remote/creds_int.h"

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "fuzz_awsini: %s:%d: invariant failed: %s\n",    \
                    __FILE__, __LINE__, #cond);                              \
            abort();                                                         \
        }                                                                    \
    } while (0)

static void check_value(const char *v, const char *text, size_t n)
{
    size_t len;

    if (!v)
        return;
    len = strlen(v);
    if (len) {
        CHECK(v[0] != ' ' && v[0] != '\t');
        CHECK(v[len - 1] != ' ' && v[len - 1] != '\t');
    }
    if (!strchr(v, '\n') && len)
        CHECK(memmem(text, n, v, len) != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const profiles[] = { "default", "dev", "my dev", "x" };
    shelf__creds c;
    shelf__err e;
    const char *text;
    size_t n;
    int rc;

    if (size < 1 || size > 256 * 1024)
        return 0;
    text = (const char *)data + 1;
    n = size - 1;
    memset(&e, 0, sizeof e);
    rc = shelf__awsini_find(text, n, data[0] & 1, profiles[(data[0] >> 1) & 3], &c, &e);
    CHECK(rc == SHELF_OK || rc == SHELF_ENOTFOUND || rc == SHELF_EFORMAT || rc == SHELF_ENOMEM);
    if (rc != SHELF_OK) {
        CHECK(!c.access_key && !c.secret_key && !c.session_token && !c.region);
        if (rc == SHELF_EFORMAT)
            CHECK(!strchr(e.msg, '\n') && !strncmp(e.msg, "line ", 5));
        return 0;
    }
    check_value(c.access_key, text, n);
    check_value(c.secret_key, text, n);
    check_value(c.session_token, text, n);
    check_value(c.region, text, n);
    shelf__creds_clear(&c);
    return 0;
}
