/*
 * fuzz_signature.c: fuzz target for signature files (shelf-signature.json
 * in an archive, HISTORY.json.sig beside a history: lib/common/sign.c,
 * shelf_signature_check).  The input is DATA, a NUL byte, then the
 * signature file (no NUL: all of it is the file, over no data); it is
 * checked for both roles shelf signs.  Invariants: the answer is SHELF_OK
 * (state VALID, a 44-character key), SHELF_ECORRUPT (state BAD) or
 * SHELF_EFORMAT, never another code when memory does not run out; a
 * message comes with every failure.  The signature file's text is also
 * read as a public key file (shelf__pubkey_parse, what `shelf keys trust`
 * takes): SHELF_OK with a 44-character key and a name, or SHELF_EFORMAT
 * with every output empty.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz_target.h"
#include "common/common_int.h"

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "fuzz_signature: %s:%d: invariant failed: %s\n",   \
                    __FILE__, __LINE__, #cond);                                \
            abort();                                                           \
        }                                                                      \
    } while (0)

static void one(const char *role, const uint8_t *data, size_t n, const char *sig, size_t len)
{
    shelf_signature s = { .size = sizeof s };
    char *msg = NULL;
    int rc = shelf_signature_check(sig, len, role, data, n, &s, &msg);

    CHECK(rc == SHELF_OK || rc == SHELF_ECORRUPT || rc == SHELF_EFORMAT || rc == SHELF_ENOMEM);
    if (rc == SHELF_OK)
        CHECK(s.state == SHELF_SIGNATURE_VALID && strlen(s.key) == SHELF_KEY_TEXT_LEN && !msg);
    else if (rc == SHELF_ECORRUPT)
        CHECK(s.state == SHELF_SIGNATURE_BAD && msg && *msg);
    else if (rc == SHELF_EFORMAT)
        CHECK(s.state == SHELF_SIGNATURE_NONE && msg && *msg);
    CHECK(s.trust == SHELF_TRUST_UNKNOWN);
    shelf_free(msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t n = nul ? (size_t)(nul - data) : 0;
    const uint8_t *sig = nul ? nul + 1 : data;
    size_t len = nul ? size - n - 1 : size;
    char *text;

    if (size > 256 * 1024 || !(text = malloc(len + 1)))
        return 0;
    memcpy(text, sig, len);
    text[len] = '\0';
    {
        char key[SHELF_KEY_TEXT_LEN + 1], name[SHELF_SIGNER_NAME_MAX + 1], dev[SHELF_SIGNER_ID_MAX + 1];
        shelf__err e = { 0, "" };
        int rc = shelf__pubkey_parse(&e, text, len, key, name, dev);

        CHECK(rc == SHELF_OK || rc == SHELF_EFORMAT || rc == SHELF_ENOMEM);
        if (rc == SHELF_OK)
            CHECK(strlen(key) == SHELF_KEY_TEXT_LEN && *name);
        else
            CHECK(!*key && !*name && !*dev && *e.msg);
    }
    one("tagmanifest-sha256.txt", data, n, text, len);
    one(SHELF_SIGNED_HISTORY, data, n, text, len);
    free(text);
    return 0;
}
