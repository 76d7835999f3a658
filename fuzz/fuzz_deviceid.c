/*
 * fuzz_deviceid.c: fuzz target for device ids as people type them and as
 * invitations carry them (shelf_device_id_parse, lib/sync/identity.c), and
 * for certificates a peer presents (shelf_device_id_of_cert).  Invariants:
 * parse answers SHELF_OK or SHELF_EINVAL; an id it accepts formats to 63
 * characters of A-Z, 2-7 and '-', which parse back to the same bytes; the
 * certificate reader answers SHELF_OK (a 63-character id) or SHELF_EFORMAT.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz_target.h"
#include "shelf/sync.h"

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "fuzz_deviceid: %s:%d: invariant failed: %s\n",  \
                    __FILE__, __LINE__, #cond);                              \
            abort();                                                         \
        }                                                                    \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char a[32], b[32];
    char text[SHELF_DEVICE_ID_LEN + 1], *s;
    int rc;

    if (size > 64 * 1024 || !(s = malloc(size + 1)))
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    rc = shelf_device_id_parse(s, a);
    CHECK(rc == SHELF_OK || rc == SHELF_EINVAL);
    if (rc == SHELF_OK) {
        shelf_device_id_format(a, text);
        CHECK(strlen(text) == SHELF_DEVICE_ID_LEN);
        CHECK(strspn(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567-") == SHELF_DEVICE_ID_LEN);
        CHECK(shelf_device_id_parse(text, b) == SHELF_OK && memcmp(a, b, 32) == 0);
    }
    rc = shelf_device_id_of_cert((const char *)data, size, text);
    CHECK(rc == SHELF_OK || rc == SHELF_EFORMAT);
    if (rc == SHELF_OK)
        CHECK(strlen(text) == SHELF_DEVICE_ID_LEN);
    free(s);
    return 0;
}
