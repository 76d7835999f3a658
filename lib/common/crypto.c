/*
 * crypto.c: the cryptographic primitives of libshelf, on OpenSSL: random
 * bytes, AES-256-GCM sealing (nonce || ciphertext || tag) and scrypt key
 * derivation.  Backup repositories (lib/backup/crypt.c) and the credential
 * file (lib/remote/creds.c) both use them.
 */
#include <stdio.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include "common_int.h"

int shelf__random(void *buf, size_t n)
{
    return RAND_bytes(buf, (int)n) == 1 ? SHELF_OK : SHELF_EIO;
}

int shelf__gcm(void *cipher, const uint8_t key[SHELF__KEY_BYTES], int enc,
               const uint8_t *in, size_t n, shelf__buf *out)
{
    EVP_CIPHER_CTX *ctx = cipher;
    uint8_t nonce[SHELF__NONCE_BYTES];
    const uint8_t *ct = in;
    size_t ctlen = n;
    int len = 0, fin = 0;
    uint8_t *dst;

    if (n > INT32_MAX - 64)
        return SHELF_EINVAL;
    if (enc) {
        if (shelf__random(nonce, sizeof nonce) != SHELF_OK)
            return SHELF_EIO;
    } else {
        if (n < SHELF__SEAL_OVERHEAD)
            return SHELF_ECORRUPT;
        memcpy(nonce, in, sizeof nonce);
        ct = in + SHELF__NONCE_BYTES;
        ctlen = n - SHELF__SEAL_OVERHEAD;
    }
    if (shelf__buf_grow(out, ctlen + SHELF__SEAL_OVERHEAD) != SHELF_OK)
        return SHELF_ENOMEM;
    if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, SHELF__NONCE_BYTES, NULL) != 1 ||
        EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, enc) != 1)
        return SHELF_EIO;
    dst = (uint8_t *)out->buf + out->len;
    if (enc) {
        memcpy(dst, nonce, sizeof nonce);
        dst += sizeof nonce;
    } else if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, SHELF__TAG_BYTES,
                                   (void *)(ct + ctlen)) != 1) {
        return SHELF_EIO;
    }
    if (ctlen && EVP_CipherUpdate(ctx, dst, &len, ct, (int)ctlen) != 1)
        return enc ? SHELF_EIO : SHELF_ECORRUPT;
    if (EVP_CipherFinal_ex(ctx, dst + len, &fin) != 1)
        return enc ? SHELF_EIO : SHELF_ECORRUPT;
    len += fin;
    if (enc) {
        if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, SHELF__TAG_BYTES, dst + len) != 1)
            return SHELF_EIO;
        out->len += SHELF__SEAL_OVERHEAD + (size_t)len;
    } else {
        out->len += (size_t)len;
    }
    out->buf[out->len] = '\0';
    return SHELF_OK;
}

static int aead(const uint8_t key[SHELF__KEY_BYTES], int enc, const void *in, size_t n,
                shelf__buf *out)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int rc;

    if (!ctx)
        return SHELF_ENOMEM;
    rc = shelf__gcm(ctx, key, enc, in, n, out);
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

int shelf__aead_seal(const uint8_t key[SHELF__KEY_BYTES], const void *in, size_t n,
                     shelf__buf *out)
{
    return aead(key, 1, in, n, out);
}

int shelf__aead_open(const uint8_t key[SHELF__KEY_BYTES], const void *in, size_t n,
                     shelf__buf *out)
{
    shelf__buf_reset(out);
    return aead(key, 0, in, n, out);
}

int shelf__scrypt(const char *password, const uint8_t *salt, size_t saltlen, int log2n,
                  uint8_t key[SHELF__KEY_BYTES])
{
    uint64_t n = (uint64_t)1 << log2n;
    uint64_t maxmem = 128 * n * SHELF__SCRYPT_R * SHELF__SCRYPT_P * 2 + (1u << 20);

    if (EVP_PBE_scrypt(password, strlen(password), salt, saltlen, n, SHELF__SCRYPT_R, SHELF__SCRYPT_P, maxmem,
                       key, SHELF__KEY_BYTES) != 1)
        return SHELF_ENOMEM;
    return SHELF_OK;
}

int shelf__unhex(const char *s, uint8_t *out, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        int v = 0, k;

        for (k = 0; k < 2; k++) {
            char c = s[2 * i + (size_t)k];

            v <<= 4;
            if (c >= '0' && c <= '9')
                v |= c - '0';
            else if (c >= 'a' && c <= 'f')
                v |= c - 'a' + 10;
            else
                return SHELF_EFORMAT;
        }
        out[i] = (uint8_t)v;
    }
    return s[2 * n] == '\0' ? SHELF_OK : SHELF_EFORMAT;
}

