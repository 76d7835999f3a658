/*
 * sign.c: detached Ed25519 signatures over a file, and the signature file
 * that carries one (doc/formats.md, "Archive signature"): making it with a
 * signer, reading it from strangers and checking it.  Owns struct
 * shelf_signer's freeing; who may sign and who is trusted is lib/sync's
 * keys.c.
 */
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include "common_int.h"

#define SIG_LEN 64
#define PUB_LEN 32
#define SIG_VERSION 1

void shelf_signer_free(shelf_signer *s)
{
    if (!s)
        return;
    EVP_PKEY_free(s->key);
    free(s->cert);
    free(s->device);
    free(s->name);
    free(s);
}

/* Ed25519 signs the message itself (no digest first: EVP_DigestSign with
 * no MD is the one-shot PureEdDSA). */
int shelf__ed25519_sign(EVP_PKEY *key, const void *data, size_t n, uint8_t sig[SIG_LEN])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    size_t slen = SIG_LEN;
    int ok = md && EVP_DigestSignInit(md, NULL, NULL, NULL, key) == 1 &&
             EVP_DigestSign(md, sig, &slen, data, n) == 1 && slen == SIG_LEN;

    EVP_MD_CTX_free(md);
    return ok;
}

int shelf__ed25519_verify(EVP_PKEY *key, const void *data, size_t n, const uint8_t sig[SIG_LEN])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = md && EVP_DigestVerifyInit(md, NULL, NULL, NULL, key) == 1 &&
             EVP_DigestVerify(md, sig, SIG_LEN, data, n) == 1;

    EVP_MD_CTX_free(md);
    return ok;
}

int shelf__key_text(EVP_PKEY *key, char out[SHELF_KEY_TEXT_LEN + 1])
{
    uint8_t pub[PUB_LEN];
    size_t n = sizeof pub;

    out[0] = '\0';
    if (EVP_PKEY_get_raw_public_key(key, pub, &n) != 1 || n != PUB_LEN)
        return SHELF_EINVAL;
    EVP_EncodeBlock((unsigned char *)out, pub, PUB_LEN);
    return SHELF_OK;
}

/* Base64 text of exactly n bytes into out: 1 when it is. */
static int unbase64(const char *text, uint8_t *out, size_t n)
{
    size_t len = strlen(text), want = 4 * ((n + 2) / 3), pad = (3 - n % 3) % 3;
    uint8_t tmp[96];
    int got;

    if (len != want || want / 4 * 3 > sizeof tmp)
        return 0;
    if ((got = EVP_DecodeBlock(tmp, (const unsigned char *)text, (int)len)) < 0 ||
        (size_t)got != n + pad)
        return 0;
    memcpy(out, tmp, n);
    /* DecodeBlock keeps the padding's zero bytes: re-encode to refuse other
     * spellings of the same bytes. */
    EVP_EncodeBlock(tmp, out, (int)n);
    return memcmp(tmp, text, len) == 0;
}

EVP_PKEY *shelf__key_of_text(const char *text)
{
    uint8_t pub[PUB_LEN];

    if (!text || !unbase64(text, pub, PUB_LEN))
        return NULL;
    return EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, PUB_LEN);
}

int shelf__sig_make(shelf__err *e, const shelf_signer *s, const char *signed_name, const void *data,
                    size_t n, shelf__buf *out)
{
    char key[SHELF_KEY_TEXT_LEN + 1], sigtext[4 * ((SIG_LEN + 2) / 3) + 1];
    uint8_t sig[SIG_LEN];
    json_t *o = NULL;
    char *text = NULL;
    int rc = SHELF_OK, bad = 0;

    shelf__buf_reset(out);
    if (shelf__key_text(s->key, key) != SHELF_OK || !shelf__ed25519_sign(s->key, data, n, sig))
        return shelf__seterr(e, SHELF_EINVAL, "cannot sign '%s': the key is not an Ed25519 private key",
                             signed_name);
    EVP_EncodeBlock((unsigned char *)sigtext, sig, SIG_LEN);
    if (!(o = json_object()))
        return shelf__seterr(e, SHELF_ENOMEM, "out of memory");
    bad |= json_object_set_new(o, "format", json_string("shelf-signature"));
    bad |= json_object_set_new(o, "version", json_integer(SIG_VERSION));
    bad |= json_object_set_new(o, "algorithm", json_string("ed25519"));
    bad |= json_object_set_new(o, "signed", json_string(signed_name));
    bad |= json_object_set_new(o, "key", json_string(key));
    if (s->device)
        bad |= json_object_set_new(o, "device", json_string(s->device));
    bad |= json_object_set_new(o, "name", json_string(s->name ? s->name : ""));
    if (s->cert)
        bad |= json_object_set_new(o, "certificate", json_string(s->cert));
    bad |= json_object_set_new(o, "signature", json_string(sigtext));
    if (bad || !(text = shelf__json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) ||
        shelf__buf_adds(out, text) != SHELF_OK || shelf__buf_adds(out, "\n") != SHELF_OK)
        rc = shelf__seterr(e, SHELF_ENOMEM, "out of memory");
    free(text);
    json_decref(o);
    return rc;
}

/* The certificate PEM: its public key must be key; its SHA-256 (DER) into sha. */
static int check_cert(shelf__err *e, const char *pem, EVP_PKEY *key, uint8_t sha[32])
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    unsigned char *der = NULL;
    EVP_PKEY *ck;
    int rc = SHELF_OK, n;

    BIO_free(b);
    if (!x)
        return shelf__seterr(e, SHELF_EFORMAT, "signature file: the certificate is not a PEM certificate");
    ck = X509_get0_pubkey(x);
    if (!ck || EVP_PKEY_eq(ck, key) != 1)
        rc = shelf__seterr(e, SHELF_EFORMAT, "signature file: the certificate is not the signing key's");
    else if ((n = i2d_X509(x, &der)) <= 0)
        rc = shelf__seterr(e, SHELF_ENOMEM, "out of memory");
    else
        shelf__sha256_mem(der, (size_t)n, sha);
    OPENSSL_free(der);
    X509_free(x);
    return rc;
}

/* Copy s into out[0..size) when it fits and is UTF-8 without control
 * characters: 1 when it does. */
static int take_text(char *out, size_t size, const char *s)
{
    size_t n = strlen(s), i, k;

    if (n >= size)
        return 0;
    for (i = 0; i < n; i += k)
        if (!(k = shelf__utf8_seq((const unsigned char *)s + i)) || (unsigned char)s[i] < 0x20 ||
            s[i] == 0x7f)
            return 0;
    memcpy(out, s, n + 1);
    return 1;
}

int shelf__sig_check(shelf__err *e, const char *text, size_t len, const char *signed_name,
                     const void *data, size_t n, shelf_signature *sig)
{
    const char *format = NULL, *alg = NULL, *what = NULL, *key = NULL, *device = NULL;
    const char *name = NULL, *cert = NULL, *sigtext = NULL;
    json_int_t version = 0;
    json_error_t jerr;
    uint8_t raw[SIG_LEN];
    EVP_PKEY *pk = NULL;
    json_t *o = NULL;
    int rc;

    memset(sig, 0, sizeof *sig);
    sig->size = sizeof *sig;
    if (len > SHELF__SIG_MAX)
        return shelf__seterr(e, SHELF_EFORMAT, "signature file: larger than %u bytes", SHELF__SIG_MAX);
    if ((rc = shelf__json_parse(e, SHELF_EFORMAT, SHELF__SIG_FILE, text, len, JSON_REJECT_DUPLICATES,
                                &o)) != SHELF_OK)
        return rc;
    if (json_unpack_ex(o, &jerr, 0, "{s:s, s:I, s:s, s:s, s:s, s?:s, s?:s, s?:s, s:s}", "format", &format,
                       "version", &version, "algorithm", &alg, "signed", &what, "key", &key, "device",
                       &device, "name", &name, "certificate", &cert, "signature", &sigtext) != 0) {
        rc = SHELF__JSON_NOMEM(&jerr) ? shelf__seterr(e, SHELF_ENOMEM, "out of memory")
                                      : shelf__seterr(e, SHELF_EFORMAT, "signature file: %s", jerr.text);
        goto out;
    }
    if (strcmp(format, "shelf-signature") != 0) {
        rc = shelf__seterr(e, SHELF_EFORMAT, "signature file: format is not shelf-signature");
        goto out;
    }
    if (version != SIG_VERSION || strcmp(alg, "ed25519") != 0) {
        rc = shelf__seterr(e, SHELF_EFORMAT, "signature file: version %lld, algorithm '%.40s': "
                           "this shelf reads version 1, ed25519", (long long)version, alg);
        goto out;
    }
    if (strcmp(what, signed_name) != 0) {
        rc = shelf__seterr(e, SHELF_EFORMAT, "signature file: it signs '%.200s', not '%s'", what,
                           signed_name);
        goto out;
    }
    if (!(pk = shelf__key_of_text(key)) || !unbase64(sigtext, raw, SIG_LEN)) {
        rc = shelf__seterr(e, SHELF_EFORMAT, "signature file: %s is not base64 of %d bytes",
                           pk ? "the signature" : "the key", pk ? SIG_LEN : PUB_LEN);
        goto out;
    }
    if (!take_text(sig->device, sizeof sig->device, device ? device : "") ||
        !take_text(sig->name, sizeof sig->name, name ? name : "")) {
        rc = shelf__seterr(e, SHELF_EFORMAT, "signature file: the device id or name is too long or not "
                           "UTF-8 text");
        goto out;
    }
    memcpy(sig->key, key, SHELF_KEY_TEXT_LEN + 1);
    if (cert && (rc = check_cert(e, cert, pk, sig->cert_sha256)) != SHELF_OK)
        goto out;
    if (!cert)
        sig->device[0] = '\0';   /* only a certificate proves a device */
    if (!shelf__ed25519_verify(pk, data, n, raw)) {
        sig->state = SHELF_SIGNATURE_BAD;
        rc = shelf__seterr(e, SHELF_ECORRUPT, "signature of '%s' does not match: signed by '%s' (%s)",
                           signed_name, sig->name, sig->key);
        goto out;
    }
    sig->state = SHELF_SIGNATURE_VALID;
out:
    EVP_PKEY_free(pk);
    json_decref(o);
    return rc;
}

int shelf__pubkey_parse(shelf__err *e, const char *text, size_t n, char key[SHELF_KEY_TEXT_LEN + 1],
                        char name[SHELF_SIGNER_NAME_MAX + 1], char device[SHELF_SIGNER_ID_MAX + 1])
{
    const char *format = NULL, *alg = NULL, *k = NULL, *nm = NULL, *dev = NULL;
    json_int_t version = 0;
    json_error_t jerr;
    EVP_PKEY *pk = NULL;
    json_t *o = NULL;
    int rc;

    key[0] = name[0] = device[0] = '\0';
    if (n > SHELF__SIG_MAX)
        return shelf__seterr(e, SHELF_EFORMAT, "public key file: larger than %u bytes", SHELF__SIG_MAX);
    if ((rc = shelf__json_parse(e, SHELF_EFORMAT, "public key file", text, n, JSON_REJECT_DUPLICATES, &o)) !=
        SHELF_OK)
        return rc;
    if (json_unpack_ex(o, &jerr, 0, "{s:s, s:I, s:s, s:s, s:s, s?:s}", "format", &format, "version", &version,
                       "algorithm", &alg, "key", &k, "name", &nm, "device", &dev) != 0) {
        rc = SHELF__JSON_NOMEM(&jerr) ? shelf__seterr(e, SHELF_ENOMEM, "out of memory")
                                      : shelf__seterr(e, SHELF_EFORMAT, "public key file: %s", jerr.text);
        goto out;
    }
    if (strcmp(format, "shelf-public-key") != 0 || version != SIG_VERSION || strcmp(alg, "ed25519") != 0 ||
        !(pk = shelf__key_of_text(k))) {
        rc = shelf__seterr(e, SHELF_EFORMAT, "not a shelf public key file (version 1, ed25519)");
        goto out;
    }
    if (!take_text(name, SHELF_SIGNER_NAME_MAX + 1, nm) || !*name ||
        !take_text(device, SHELF_SIGNER_ID_MAX + 1, dev ? dev : "")) {
        rc = shelf__seterr(e, SHELF_EFORMAT, "public key file: the name or device id is empty, too long or "
                           "not UTF-8 text");
        goto out;
    }
    memcpy(key, k, SHELF_KEY_TEXT_LEN + 1);
out:
    if (rc != SHELF_OK)
        key[0] = name[0] = device[0] = '\0';
    EVP_PKEY_free(pk);
    json_decref(o);
    return rc;
}

int shelf_sign_bytes(const shelf_signer *s, const char *role, const void *data, size_t n, char **out,
                     char **errmsg)
{
    shelf__buf b = SHELF__BUF_INIT;
    shelf__err e = { 0, "" };
    int rc;

    if (out)
        *out = NULL;
    if (errmsg)
        *errmsg = NULL;
    if (!s || !role || !out || (n && !data))
        rc = shelf__seterr(&e, SHELF_EINVAL, "nothing to sign");
    else if ((rc = shelf__sig_make(&e, s, role, n ? data : "", n, &b)) == SHELF_OK &&
             !(*out = shelf__buf_detach(&b)))
        rc = shelf__seterr(&e, SHELF_ENOMEM, "out of memory");
    shelf__buf_release(&b);
    if (rc != SHELF_OK && errmsg)
        *errmsg = shelf__strdup(e.msg);
    return rc;
}

int shelf_signature_check(const char *text, size_t len, const char *role, const void *data, size_t n,
                          shelf_signature *sig, char **errmsg)
{
    shelf_signature full;
    shelf__err e = { 0, "" };
    int rc;

    if (errmsg)
        *errmsg = NULL;
    if (!text || !role || (n && !data))
        rc = shelf__seterr(&e, SHELF_EINVAL, "no signature or nothing signed");
    else
        rc = shelf__sig_check(&e, text, len, role, n ? data : "", n, &full);
    if (rc == SHELF_EINVAL)
        memset(&full, 0, sizeof full);
    if (sig)
        shelf__out_fill(sig, &full, sizeof full);
    if (rc != SHELF_OK && errmsg)
        *errmsg = shelf__strdup(e.msg);
    return rc;
}
