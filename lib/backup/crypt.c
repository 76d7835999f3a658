/*
 * crypt.c: encryption of repository files: AES-256-GCM per object with a
 * random 96-bit nonce (nonce || ciphertext || tag), and key files that wrap
 * the repository's secrets (master key and chunker key) with a key derived
 * from a password by scrypt.  The primitives (AEAD, scrypt, random bytes)
 * are lib/common/crypto.c's, shared with the credential file of lib/remote.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include "backup_int.h"

int shelf__seal(shelf_repo *r, const void *in, size_t n, shelf__buf *out)
{
    return shelf__seal_with(r, r->cipher, in, n, out, &r->err);
}

int shelf__seal_with(shelf_repo *r, void *ctx, const void *in, size_t n, shelf__buf *out,
                     shelf__err *err)
{
    int rc;

    if (!r->encrypted)
        rc = shelf__buf_add(out, in, n);
    else
        rc = shelf__gcm(ctx, r->master, 1, in, n, out);
    if (rc != SHELF_OK)
        return shelf__seterr(err, rc, "cannot encrypt: %s", shelf_strerror(rc));
    return SHELF_OK;
}

int shelf__open_sealed(shelf_repo *r, const void *in, size_t n, shelf__buf *out)
{
    return shelf__open_sealed_with(r, r->cipher, in, n, out);
}

int shelf__open_sealed_with(shelf_repo *r, void *ctx, const void *in, size_t n, shelf__buf *out)
{
    shelf__buf_reset(out);
    if (!r->encrypted)
        return shelf__buf_add(out, in, n);
    return shelf__gcm(ctx, r->master, 0, in, n, out);
}

/* ---- key files ---- */

#define KDF_R SHELF__SCRYPT_R
#define KDF_P SHELF__SCRYPT_P

int shelf__key_write(shelf_repo *r, const char *password, int log2n, char id[17])
{
    uint8_t salt[32], kek[SHELF__KEY_BYTES], secret[2 * SHELF__KEY_BYTES], rid[8];
    char salthex[65], *datahex = NULL, *text = NULL, host[256] = "", name[32], idhex[17];
    shelf__buf wrapped = SHELF__BUF_INIT;
    json_t *o = NULL;
    int rc = SHELF_OK;

    if (log2n == 0)
        log2n = 16;
    if (log2n < 10 || log2n > 20)
        return shelf__seterr(&r->err, SHELF_EINVAL, "invalid scrypt cost 2^%d: 2^10 to 2^20",
                             log2n);
    if (!password || !*password)
        return shelf__seterr(&r->err, SHELF_EINVAL, "an empty password is not allowed");
    if (shelf__random(salt, sizeof salt) != SHELF_OK || shelf__random(rid, sizeof rid) != SHELF_OK)
        return shelf__seterr(&r->err, SHELF_EIO, "cannot get random bytes");
    if ((rc = shelf__scrypt(password, salt, sizeof salt, log2n, kek)) != SHELF_OK) {
        shelf__seterr(&r->err, rc, "cannot derive a key from the password");
        goto out;
    }
    memcpy(secret, r->master, SHELF__KEY_BYTES);
    memcpy(secret + SHELF__KEY_BYTES, r->chunk_key, SHELF__KEY_BYTES);
    if ((rc = shelf__aead_seal(kek, secret, sizeof secret, &wrapped)) != SHELF_OK) {
        shelf__seterr(&r->err, rc, "cannot wrap the key");
        goto out;
    }
    if (!(datahex = shelf__malloc(2 * wrapped.len + 1))) {
        rc = shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    shelf__hex((uint8_t *)wrapped.buf, wrapped.len, datahex);
    shelf__hex(salt, sizeof salt, salthex);
    shelf__hex(rid, sizeof rid, idhex);
    gethostname(host, sizeof host - 1);
    o = json_pack("{s:s, s:i, s:i, s:i, s:s, s:I, s:s, s:s}", "kdf", "scrypt", "log2n", log2n,
                  "r", KDF_R, "p", KDF_P, "salt", salthex, "created", (json_int_t)shelf__now(),
                  "host", host, "data", datahex);
    /* a key names its repository */
    if (o && r->format >= 2 && json_object_set_new(o, "repo", json_string(r->id)) != 0) {
        json_decref(o);
        o = NULL;
    }
    if (!o || !(text = shelf__json_checked_dump(o))) {
        rc = shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    snprintf(name, sizeof name, "keys/%s", idhex);
    if ((rc = shelf__be_save(r->be, name, text, strlen(text))) != SHELF_OK) {
        shelf__seterr(&r->err, rc, "%s", r->be->err.msg);
        goto out;
    }
    if (r->format >= 2) {
        char copy[SHELF__COPY_NAME_MAX];

        shelf__copy_name(name, copy);
        if ((rc = shelf__be_save(r->be, copy, text, strlen(text))) != SHELF_OK) {
            shelf__seterr(&r->err, rc, "%s", r->be->err.msg);
            shelf__be_remove(r->be, name);
            goto out;
        }
    }
    if (id)
        memcpy(id, idhex, 17);
out:
    OPENSSL_cleanse(kek, sizeof kek);
    OPENSSL_cleanse(secret, sizeof secret);
    if (wrapped.buf)
        OPENSSL_cleanse(wrapped.buf, wrapped.cap);
    shelf__buf_release(&wrapped);
    json_decref(o);
    free(text);
    shelf_free(datahex);
    return rc;
}

int shelf__key_unwrap(const char *text, size_t n, const char *password,
                      uint8_t secret[2 * SHELF__KEY_BYTES], shelf__err *err)
{
    uint8_t salt[32], kek[SHELF__KEY_BYTES], data[2 * SHELF__KEY_BYTES + SHELF__SEAL_OVERHEAD];
    shelf__buf plain = SHELF__BUF_INIT;
    const char *kdf = NULL, *salthex = NULL, *datahex = NULL;
    json_int_t log2n = 0, kr = 0, kp = 0;
    json_error_t jerr;
    json_t *o = NULL;
    int rc = shelf__json_checked_parse(text, n, &o), got = -1;

    if (rc == SHELF_OK &&
        (got = json_unpack_ex(o, &jerr, 0, "{s:s, s:I, s:I, s:I, s:s, s:s}", "kdf", &kdf, "log2n",
                              &log2n, "r", &kr, "p", &kp, "salt", &salthex, "data", &datahex)) != 0 &&
        SHELF__JSON_NOMEM(&jerr))
        rc = SHELF_ENOMEM;
    if (rc == SHELF_ENOMEM) {
        shelf__seterr(err, rc, "out of memory");
        goto out;
    }
    if (got != 0 ||
        strcmp(kdf, "scrypt") != 0 || log2n < 10 || log2n > 20 || kr != KDF_R || kp != KDF_P ||
        shelf__unhex(salthex, salt, sizeof salt) != SHELF_OK ||
        shelf__unhex(datahex, data, sizeof data) != SHELF_OK) {
        rc = shelf__seterr(err, SHELF_EFORMAT, "key file is not in a format shelf reads");
        goto out;
    }
    if (!password) {
        rc = shelf__seterr(err, SHELF_EAUTH, "the repository is encrypted: a password is needed");
        goto out;
    }
    if ((rc = shelf__scrypt(password, salt, sizeof salt, (int)log2n, kek)) != SHELF_OK) {
        shelf__seterr(err, rc, "cannot derive a key from the password");
        goto out;
    }
    rc = shelf__aead_open(kek, data, sizeof data, &plain);
    if (rc == SHELF_ECORRUPT) {
        rc = shelf__seterr(err, SHELF_EAUTH, "wrong password");
        goto out;
    }
    if (rc != SHELF_OK || plain.len != 2 * SHELF__KEY_BYTES) {
        rc = shelf__seterr(err, rc ? rc : SHELF_EFORMAT, "cannot unwrap the key");
        goto out;
    }
    memcpy(secret, plain.buf, 2 * SHELF__KEY_BYTES);
out:
    OPENSSL_cleanse(kek, sizeof kek);
    if (plain.buf)
        OPENSSL_cleanse(plain.buf, plain.cap);
    shelf__buf_release(&plain);
    json_decref(o);
    return rc;
}

/* ---- plain JSON files with a checksum (config, key files) ---- */

static char *checksum_of(json_t *o, char hex[SHELF_HASH_HEX])
{
    uint8_t sum[SHELF_HASH_BYTES];
    char *text = shelf__json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT);

    if (!text)
        return NULL;
    shelf__sha256_mem(text, strlen(text), sum);
    shelf__hex(sum, sizeof sum, hex);
    return text;
}

char *shelf__json_checked_dump(json_t *o)
{
    char hex[SHELF_HASH_HEX], *inner, *text;

    json_object_del(o, "checksum");
    if (!(inner = checksum_of(o, hex)))
        return NULL;
    free(inner);
    if (json_object_set_new(o, "checksum", json_string(hex)) != 0)
        return NULL;
    text = shelf__json_dumps(o, JSON_SORT_KEYS | JSON_INDENT(2));
    json_object_del(o, "checksum");
    return text;
}

int shelf__json_checked_parse(const char *text, size_t n, json_t **out)
{
    char hex[SHELF_HASH_HEX], want[SHELF_HASH_HEX], *again = NULL, *inner = NULL;
    const char *sum;
    json_t *o = NULL;
    int rc;

    *out = NULL;
    if ((rc = shelf__json_parse(NULL, SHELF_ECORRUPT, "", text, n, 0, &o)) != SHELF_OK)
        return rc;
    rc = SHELF_ECORRUPT;
    if (!json_is_object(o))
        goto out;
    /* Exactly as shelf writes it: a changed byte anywhere shows. */
    if (!(again = shelf__json_dumps(o, JSON_SORT_KEYS | JSON_INDENT(2)))) {
        rc = SHELF_ENOMEM;
        goto out;
    }
    if (strlen(again) != n || memcmp(again, text, n) != 0)
        goto out;
    if (!(sum = json_string_value(json_object_get(o, "checksum"))) || strlen(sum) != SHELF_HASH_HEX - 1)
        goto out;
    snprintf(want, sizeof want, "%s", sum);
    json_object_del(o, "checksum");
    if (!(inner = checksum_of(o, hex))) {
        rc = SHELF_ENOMEM;
        goto out;
    }
    if (!strcmp(hex, want)) {
        *out = o;
        o = NULL;
        rc = SHELF_OK;
    }
out:
    free(again);
    free(inner);
    json_decref(o);
    return rc;
}

json_t *shelf__json_checked_load(const char *text, size_t n)
{
    json_t *o;

    (void)shelf__json_checked_parse(text, n, &o);
    return o;
}

/* The name of the copy of config or a key file (format 2): "keys/ID" ->
 * "keys-copy/ID", "config" -> "config-copy". */
void shelf__copy_name(const char *name, char out[SHELF__COPY_NAME_MAX])
{
    if (!strncmp(name, "keys/", 5))
        snprintf(out, SHELF__COPY_NAME_MAX, "keys-copy/%.40s", name + 5);
    else
        snprintf(out, SHELF__COPY_NAME_MAX, "%.40s-copy", name);
}
