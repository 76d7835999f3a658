/*
 * fuzz_hubseg.c: fuzz target for what a sync hub hands back
 * (lib/sync/seal.c, kx.c).  The first byte picks what the rest is:
 *   0 mod 6  a hub object: shelf__seg_open with a fixed signer and key
 *   1 mod 6  a segment's plaintext: sealed with the fixed key, opened again
 *            (it must come back byte for byte), then read by
 *            shelf__seg_records as the records 1..N of a fixed device
 *   2 mod 6  a device certificate: shelf__seg_signer
 *   3 mod 6  a signed object (shelf__obj_check) holding a key-exchange key
 *            (shelf__kx_pub_parse)
 *   4 mod 6  a wrapped library key: shelf__kx_unwrap with fixed keys
 *   5 mod 6  a sample file object: shelf__hubfile_open with a fixed key;
 *            and the input sealed as one, which must open byte for byte
 * Invariants: every answer is one of the documented codes with a message;
 * records read are the fixed device's, numbered from 1 without a gap.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include "fuzz_target.h"
#include "sync/sync_int.h"

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "fuzz_hubseg: %s:%d: invariant failed: %s\n",    \
                    __FILE__, __LINE__, #cond);                              \
            abort();                                                         \
        }                                                                    \
    } while (0)

/* The device id of 32 zero bytes: eight groups of seven 'A'. */
#define DEVICE "AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA"

static EVP_PKEY *signer(void)
{
    static EVP_PKEY *key;
    static const unsigned char seed[32] = { 1, 2, 3, 4, 5, 6, 7, 8 };

    if (!key)
        key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, sizeof seed);
    CHECK(key != NULL);
    return key;
}

static void open_object(const uint8_t *data, size_t size)
{
    static const unsigned char key[SHELF__LIBKEY_LEN] = { 9 };
    shelf__err e = { 0, "" };
    shelf__buf plain = SHELF__BUF_INIT;
    int rc = shelf__seg_open(&e, "devices/x/log/0000000000000001-0000000000000001.seg", data, size,
                             signer(), key, &plain);

    CHECK(rc == SHELF_OK || rc == SHELF_EFORMAT || rc == SHELF_ECORRUPT || rc == SHELF_ENOMEM);
    CHECK(rc == SHELF_OK || (e.msg[0] && plain.len == 0));
    shelf__buf_release(&plain);
}

static void records(const uint8_t *data, size_t size)
{
    static const unsigned char key[SHELF__LIBKEY_LEN] = { 7 };
    const char *name = "devices/" DEVICE "/log/0000000000000001-0000000000000003.seg";
    shelf__err e = { 0, "" };
    shelf__buf sealed = SHELF__BUF_INIT, plain = SHELF__BUF_INIT;
    shelf__wire_msg m;
    size_t i;
    int rc;

    CHECK(shelf__seg_seal(&e, name, 1, key, signer(), data, size, &sealed) == SHELF_OK);
    CHECK(shelf__seg_open(&e, name, (const unsigned char *)sealed.buf, sealed.len, signer(), key,
                          &plain) == SHELF_OK);
    CHECK(plain.len == size && (size == 0 || memcmp(plain.buf, data, size) == 0));
    rc = shelf__seg_records(&e, name, DEVICE, 1, 3, plain.buf, plain.len, &m);
    CHECK(rc == SHELF_OK || rc == SHELF_EFORMAT || rc == SHELF_ECORRUPT || rc == SHELF_ENOMEM);
    CHECK(rc == SHELF_OK || e.msg[0]);
    if (rc == SHELF_OK) {
        CHECK(m.nrecs == 3);
        for (i = 0; i < m.nrecs; i++)
            CHECK(!strcmp(m.recs[i].device, DEVICE) && m.recs[i].counter == (int64_t)i + 1);
        shelf__wire_free(&m);
    }
    shelf__buf_release(&sealed);
    shelf__buf_release(&plain);
}

static void certificate(const uint8_t *data, size_t size)
{
    shelf__err e = { 0, "" };
    EVP_PKEY *k = NULL;
    int rc = shelf__seg_signer(&e, DEVICE, (const char *)data, size, &k);

    CHECK(rc == SHELF_OK || rc == SHELF_EFORMAT || rc == SHELF_ECORRUPT || rc == SHELF_ENOMEM);
    CHECK((rc == SHELF_OK) == (k != NULL));
    CHECK(rc == SHELF_OK || e.msg[0]);
    EVP_PKEY_free(k);
}

static void kx_object(const uint8_t *data, size_t size)
{
    shelf__err e = { 0, "" };
    unsigned char pub[SHELF__KX_LEN];
    size_t len = 0;
    int rc = shelf__obj_check(&e, "devices/x/kx.pub", data, size, signer(), &len);

    CHECK(rc == SHELF_OK || rc == SHELF_EFORMAT || rc == SHELF_ECORRUPT);
    CHECK(rc == SHELF_OK || e.msg[0]);
    /* the parser on its own, as if the signature held */
    rc = shelf__kx_pub_parse(&e, "devices/x/kx.pub", data, size, pub);
    CHECK(rc == SHELF_OK || rc == SHELF_EFORMAT);
    CHECK(rc != SHELF_OK || size == 8 + SHELF__KX_LEN);
}

static void wrapped_key(const uint8_t *data, size_t size)
{
    static EVP_PKEY *mine;
    static unsigned char pub[SHELF__KX_LEN];
    unsigned char key[SHELF__LIBKEY_LEN];
    shelf__err e = { 0, "" };
    int rc;

    if (!mine)
        CHECK(shelf__kx_key(&e, signer(), &mine, pub) == SHELF_OK);
    rc = shelf__kx_unwrap(&e, "devices/x/keys/0000000001-y.key", mine, pub, DEVICE, DEVICE, 1,
                          data, size, key);
    CHECK(rc == SHELF_OK || rc == SHELF_EFORMAT || rc == SHELF_ECORRUPT || rc == SHELF_ENOMEM);
    CHECK(rc == SHELF_OK || e.msg[0]);
}

static void hub_file(const uint8_t *data, size_t size)
{
    static const unsigned char key[SHELF__LIBKEY_LEN] = { 5 };
    shelf__err e = { 0, "" };
    shelf__buf plain = SHELF__BUF_INIT, sealed = SHELF__BUF_INIT;
    int rc = shelf__hubfile_open(&e, "files/ab/ab", data, size, key, &plain);

    CHECK(rc == SHELF_OK || rc == SHELF_EFORMAT || rc == SHELF_ECORRUPT || rc == SHELF_ENOMEM);
    CHECK(rc == SHELF_OK || (e.msg[0] && plain.len == 0));
    rc = shelf__hubfile_seal(&e, 1, key, data, size, &sealed);
    CHECK(rc == SHELF_OK || rc == SHELF_ENOMEM);
    if (rc == SHELF_OK) {
        rc = shelf__hubfile_open(&e, "files/ab/ab", (const unsigned char *)sealed.buf, sealed.len,
                                 key, &plain);
        CHECK(rc == SHELF_OK || rc == SHELF_ENOMEM);
        CHECK(rc != SHELF_OK || (plain.len == size && (!size || !memcmp(plain.buf, data, size))));
    }
    shelf__buf_release(&plain);
    shelf__buf_release(&sealed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    switch (data[0] % 6) {
    case 0: open_object(data + 1, size - 1); break;
    case 1: records(data + 1, size - 1); break;
    case 2: certificate(data + 1, size - 1); break;
    case 3: kx_object(data + 1, size - 1); break;
    case 4: wrapped_key(data + 1, size - 1); break;
    default: hub_file(data + 1, size - 1); break;
    }
    return 0;
}
