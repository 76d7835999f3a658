/*
 * kx.c: the library key wrapped for one device, so that it reaches a
 * device that meets the others only at a hub (doc/sync.md, "Keys through
 * the hub"; objects in doc/formats.md, "Hub layout").
 *
 * Each device has an X25519 key derived from its Ed25519 identity key
 * (HKDF-SHA256), so it needs no file of its own, and publishes the public
 * half on the hub, signed.  The device that made a generation of the
 * library key wraps it for each device paired with it: X25519 between its
 * key and the other's, HKDF-SHA256 to a key-encryption key bound to the
 * generation and both ids (in order), AES-256-GCM of the 32 bytes.  Only
 * the maker wraps, so a device revoked there never gets a generation made
 * after, whatever the other devices' lists say.
 */
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include "sync_int.h"

#define KX_MAGIC "SHLFKX01"
#define KEY_MAGIC "SHLFKEY1"
#define MAGIC_LEN 8

/* HKDF-SHA256 of ikm with info into out[0..n). */
static int hkdf(const unsigned char *ikm, size_t ikm_len, const void *info, size_t info_len,
                unsigned char *out, size_t n)
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    OSSL_PARAM params[4];
    int ok;

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikm_len);
    params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, info_len);
    params[3] = OSSL_PARAM_construct_end();
    ok = ctx && EVP_KDF_derive(ctx, out, n, params) == 1;
    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
    return ok;
}

int shelf__kx_key(shelf__err *e, EVP_PKEY *ed, EVP_PKEY **out, unsigned char pub[SHELF__KX_LEN])
{
    static const char info[] = "shelf device key exchange v1";
    unsigned char seed[32], priv[32];
    size_t n = sizeof seed, pn = SHELF__KX_LEN;

    *out = NULL;
    if (EVP_PKEY_get_raw_private_key(ed, seed, &n) != 1 || n != sizeof seed ||
        !hkdf(seed, sizeof seed, info, sizeof info - 1, priv, sizeof priv) ||
        !(*out = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, sizeof priv)) ||
        EVP_PKEY_get_raw_public_key(*out, pub, &pn) != 1 || pn != SHELF__KX_LEN) {
        OPENSSL_cleanse(seed, sizeof seed);
        OPENSSL_cleanse(priv, sizeof priv);
        EVP_PKEY_free(*out);
        *out = NULL;
        return shelf__seterr(e, SHELF_EIO, "cannot derive this device's key-exchange key");
    }
    OPENSSL_cleanse(seed, sizeof seed);
    OPENSSL_cleanse(priv, sizeof priv);
    return SHELF_OK;
}

void shelf__kx_pub_object(const unsigned char pub[SHELF__KX_LEN], unsigned char out[8 + SHELF__KX_LEN])
{
    memcpy(out, KX_MAGIC, MAGIC_LEN);
    memcpy(out + MAGIC_LEN, pub, SHELF__KX_LEN);
}

int shelf__kx_pub_parse(shelf__err *e, const char *name, const unsigned char *data, size_t n,
                        unsigned char pub[SHELF__KX_LEN])
{
    if (n != MAGIC_LEN + SHELF__KX_LEN || memcmp(data, KX_MAGIC, MAGIC_LEN) != 0)
        return shelf__seterr(e, SHELF_EFORMAT, "hub object '%.200s' is not a key-exchange key", name);
    memcpy(pub, data + MAGIC_LEN, SHELF__KX_LEN);
    return SHELF_OK;
}

/* The key-encryption key of generation gen from device from to device to. */
static int kek(shelf__err *e, EVP_PKEY *mine, const unsigned char theirs[SHELF__KX_LEN],
               const char *from, const char *to, int64_t gen, unsigned char out[SHELF__KEY_BYTES])
{
    EVP_PKEY *peer = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, theirs, SHELF__KX_LEN);
    EVP_PKEY_CTX *ctx = peer ? EVP_PKEY_CTX_new(mine, NULL) : NULL;
    unsigned char shared[32];
    size_t sn = sizeof shared;
    shelf__buf info = SHELF__BUF_INIT;
    int ok;

    ok = ctx && EVP_PKEY_derive_init(ctx) == 1 && EVP_PKEY_derive_set_peer(ctx, peer) == 1 &&
         EVP_PKEY_derive(ctx, shared, &sn) == 1 && sn == sizeof shared &&
         shelf__buf_addf(&info, "shelf library key wrap v1|%lld|%s|%s", (long long)gen, from, to) ==
             SHELF_OK &&
         hkdf(shared, sizeof shared, info.buf, info.len, out, SHELF__KEY_BYTES);
    OPENSSL_cleanse(shared, sizeof shared);
    shelf__buf_release(&info);
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(peer);
    return ok ? SHELF_OK : shelf__seterr(e, SHELF_EIO, "cannot agree on a key between devices "
                                         "%.7s and %.7s", from, to);
}

int shelf__kx_wrap(shelf__err *e, EVP_PKEY *mine, const unsigned char theirs[SHELF__KX_LEN],
                   const char *from, const char *to, int64_t gen,
                   const unsigned char key[SHELF__LIBKEY_LEN], shelf__buf *out)
{
    unsigned char k[SHELF__KEY_BYTES], head[MAGIC_LEN + 4];
    int rc;

    shelf__buf_reset(out);
    if ((rc = kek(e, mine, theirs, from, to, gen, k)) != SHELF_OK)
        return rc;
    memcpy(head, KEY_MAGIC, MAGIC_LEN);
    head[8] = (unsigned char)(gen >> 24);
    head[9] = (unsigned char)(gen >> 16);
    head[10] = (unsigned char)(gen >> 8);
    head[11] = (unsigned char)gen;
    if ((rc = shelf__buf_add(out, head, sizeof head)) == SHELF_OK)
        rc = shelf__aead_seal(k, key, SHELF__LIBKEY_LEN, out);
    OPENSSL_cleanse(k, sizeof k);
    return rc == SHELF_OK ? SHELF_OK : shelf__seterr(e, rc, "cannot wrap the library key");
}

int shelf__kx_unwrap(shelf__err *e, const char *name, EVP_PKEY *mine,
                     const unsigned char theirs[SHELF__KX_LEN], const char *from, const char *to,
                     int64_t gen, const unsigned char *data, size_t n,
                     unsigned char key[SHELF__LIBKEY_LEN])
{
    unsigned char k[SHELF__KEY_BYTES];
    shelf__buf plain = SHELF__BUF_INIT;
    int64_t g;
    int rc;

    if (n != MAGIC_LEN + 4 + SHELF__SEAL_OVERHEAD + SHELF__LIBKEY_LEN ||
        memcmp(data, KEY_MAGIC, MAGIC_LEN) != 0)
        return shelf__seterr(e, SHELF_EFORMAT, "hub object '%.200s' is not a wrapped key", name);
    g = (int64_t)data[8] << 24 | (int64_t)data[9] << 16 | (int64_t)data[10] << 8 | data[11];
    if (g != gen)
        return shelf__seterr(e, SHELF_ECORRUPT, "hub object '%.200s' holds key %lld, not %lld",
                             name, (long long)g, (long long)gen);
    if ((rc = kek(e, mine, theirs, from, to, gen, k)) != SHELF_OK)
        return rc;
    rc = shelf__aead_open(k, data + MAGIC_LEN + 4, n - MAGIC_LEN - 4, &plain);
    OPENSSL_cleanse(k, sizeof k);
    if (rc == SHELF_OK && plain.len == SHELF__LIBKEY_LEN)
        memcpy(key, plain.buf, SHELF__LIBKEY_LEN);
    else if (rc != SHELF_ENOMEM)
        rc = shelf__seterr(e, SHELF_ECORRUPT, "hub object '%.200s' does not open for this device",
                           name);
    else
        shelf__seterr(e, rc, "out of memory");
    if (plain.buf)
        OPENSSL_cleanse(plain.buf, plain.len);
    shelf__buf_release(&plain);
    return rc;
}
