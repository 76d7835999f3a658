/*
 * seal.c: hub segments (doc/formats.md, "Hub segment").  A segment holds
 * a run of one device's change-log records and is made so that the hub,
 * which stores it, can neither read nor change it unseen, and no paired
 * device can pass its own records off as another's:
 *
 *   "SHLFSEG1" | generation (4 bytes, big-endian) | nonce | AES-256-GCM of
 *   a zstd frame of the records' JSON | tag | Ed25519 signature (64 bytes)
 *
 * The cipher's key is the library key of that generation (libkey.c), which
 * every paired device holds; the signature is the writing device's, over
 * the object's name on the hub, a NUL, and every byte before it, so a
 * segment renamed, moved to another device's folder or cut short is
 * refused before it is decrypted.  Reading is outside input:
 * fuzz/fuzz_hubseg.c feeds shelf__seg_open, shelf__seg_records and
 * shelf__seg_signer.
 */
#include <string.h>
#include <zstd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include "sync_int.h"

#define MAGIC "SHLFSEG1"
#define MAGIC_LEN 8
#define HEAD_LEN (MAGIC_LEN + 4)
#define SIG_LEN 64

static int bad(shelf__err *e, const char *name, const char *what)
{
    return shelf__seterr(e, SHELF_EFORMAT, "hub object '%.200s' %s", name, what);
}

/* Ed25519 over name, a NUL and data[0..n): sign into sig, or check sig. */
static int ed25519(EVP_PKEY *key, int sign, const char *name, const unsigned char *data, size_t n,
                   unsigned char sig[SIG_LEN])
{
    shelf__buf tbs = SHELF__BUF_INIT;
    int ok = 0;

    if (shelf__buf_add(&tbs, name, strlen(name) + 1) == SHELF_OK &&
        shelf__buf_add(&tbs, data, n) == SHELF_OK)
        ok = sign ? shelf__ed25519_sign(key, tbs.buf, tbs.len, sig)
                  : shelf__ed25519_verify(key, tbs.buf, tbs.len, sig);
    shelf__buf_release(&tbs);
    return ok;
}

/* The generation in the head of an object of kind what (magic), after
 * checking it is long enough (min bytes) and has that magic. */
static int head_gen(shelf__err *e, const char *name, const char *magic, const char *what,
                    const unsigned char *data, size_t n, size_t min, int64_t *gen)
{
    if (n < min)
        return shelf__seterr(e, SHELF_EFORMAT, "hub object '%.200s' is too short to be a %s", name,
                             what);
    if (memcmp(data, magic, MAGIC_LEN) != 0)
        return shelf__seterr(e, SHELF_EFORMAT, "hub object '%.200s' is not a shelf %s (or of a "
                             "later format)", name, what);
    *gen = (int64_t)data[8] << 24 | (int64_t)data[9] << 16 | (int64_t)data[10] << 8 | data[11];
    if (*gen < 1)
        return bad(e, name, "names library key generation 0");
    return SHELF_OK;
}

/* The head of an object: magic and generation gen, into out. */
static int put_head(shelf__err *e, const char *magic, int64_t gen, shelf__buf *out)
{
    unsigned char head[HEAD_LEN];

    if (gen < 1 || gen > 0xffffffffLL)
        return shelf__seterr(e, SHELF_EINVAL, "invalid library key generation %lld", (long long)gen);
    memcpy(head, magic, MAGIC_LEN);
    head[8] = (unsigned char)(gen >> 24);
    head[9] = (unsigned char)(gen >> 16);
    head[10] = (unsigned char)(gen >> 8);
    head[11] = (unsigned char)gen;
    return shelf__buf_add(out, head, sizeof head) == SHELF_OK
               ? SHELF_OK : shelf__seterr(e, SHELF_ENOMEM, "out of memory");
}

int shelf__seg_seal(shelf__err *e, const char *name, int64_t gen,
                    const unsigned char key[SHELF__LIBKEY_LEN], EVP_PKEY *signer, const void *plain,
                    size_t n, shelf__buf *out)
{
    unsigned char sig[SIG_LEN];
    size_t bound = ZSTD_compressBound(n), z;
    char *zbuf;
    int rc;

    shelf__buf_reset(out);
    if ((rc = put_head(e, MAGIC, gen, out)) != SHELF_OK)
        return rc;
    if (!(zbuf = shelf__malloc(bound)))
        return shelf__seterr(e, SHELF_ENOMEM, "out of memory");
    z = ZSTD_compress(zbuf, bound, plain, n, 3);
    if (ZSTD_isError(z)) {
        shelf_free(zbuf);
        return shelf__seterr(e, SHELF_EIO, "cannot compress a hub segment: %s", ZSTD_getErrorName(z));
    }
    if ((rc = shelf__aead_seal(key, zbuf, z, out)) != SHELF_OK)
        shelf__seterr(e, rc, "cannot seal a hub segment");
    shelf_free(zbuf);
    if (rc == SHELF_OK && !ed25519(signer, 1, name, (const unsigned char *)out->buf, out->len, sig))
        rc = shelf__seterr(e, SHELF_EIO, "cannot sign hub object '%.200s'", name);
    if (rc == SHELF_OK)
        rc = shelf__buf_add(out, sig, sizeof sig);
    if (rc == SHELF_ENOMEM)
        shelf__seterr(e, rc, "out of memory");
    return rc;
}

int shelf__seg_gen(shelf__err *e, const char *name, const unsigned char *data, size_t n,
                   int64_t *gen)
{
    return head_gen(e, name, MAGIC, "segment", data, n,
                    HEAD_LEN + SHELF__SEAL_OVERHEAD + SIG_LEN, gen);
}

int shelf__seg_open(shelf__err *e, const char *name, const unsigned char *data, size_t n,
                    EVP_PKEY *signer, const unsigned char key[SHELF__LIBKEY_LEN], shelf__buf *plain)
{
    shelf__buf z = SHELF__BUF_INIT;
    unsigned long long size;
    unsigned char sig[SIG_LEN];
    int64_t gen = 0;
    size_t got;
    int rc;

    shelf__buf_reset(plain);
    if ((rc = shelf__seg_gen(e, name, data, n, &gen)) != SHELF_OK)
        return rc;
    memcpy(sig, data + n - SIG_LEN, SIG_LEN);
    if (!ed25519(signer, 0, name, data, n - SIG_LEN, sig))
        return shelf__seterr(e, SHELF_ECORRUPT, "hub object '%.200s' is not signed by its device "
                             "(changed, cut short, or moved)", name);
    if ((rc = shelf__aead_open(key, data + HEAD_LEN, n - HEAD_LEN - SIG_LEN, &z)) != SHELF_OK) {
        shelf__buf_release(&z);
        return rc == SHELF_ENOMEM ? shelf__seterr(e, rc, "out of memory")
                                  : shelf__seterr(e, SHELF_ECORRUPT, "hub object '%.200s' does not "
                                                  "open with library key %lld", name, (long long)gen);
    }
    size = ZSTD_getFrameContentSize(z.buf, z.len);
    if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN ||
        size > SHELF__SEG_PLAIN_MAX)
        rc = bad(e, name, "holds no zstd frame of a segment's size");
    else if ((rc = shelf__buf_grow(plain, (size_t)size + 1)) != SHELF_OK)
        shelf__seterr(e, rc, "out of memory");
    if (rc == SHELF_OK) {
        got = ZSTD_decompress(plain->buf, (size_t)size + 1, z.buf, z.len);
        if (ZSTD_isError(got) || got != size)
            rc = bad(e, name, "holds a damaged zstd frame");
        else
            plain->buf[plain->len = got] = '\0';
    }
    shelf__buf_release(&z);
    if (rc != SHELF_OK)
        shelf__buf_reset(plain);
    return rc;
}

int shelf__seg_signer(shelf__err *e, const char *device, const char *pem, size_t n, EVP_PKEY **out)
{
    char id[SHELF_DEVICE_ID_LEN + 1];
    BIO *bio = BIO_new_mem_buf(pem, (int)(n > 65536 ? 65536 : n));
    X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    int rc = SHELF_OK;

    *out = NULL;
    BIO_free(bio);
    if (!x)
        return shelf__seterr(e, SHELF_EFORMAT, "the certificate of device %.7s on the hub cannot be "
                             "read", device);
    if ((rc = shelf__device_id_of_x509(x, id)) == SHELF_OK && strcmp(id, device) != 0)
        rc = shelf__seterr(e, SHELF_ECORRUPT, "the certificate in the hub folder of device %.7s is "
                           "device %.7s's", device, id);
    else if (rc != SHELF_OK)
        shelf__seterr(e, rc, "cannot hash the certificate of device %.7s", device);
    if (rc == SHELF_OK && (!(*out = X509_get_pubkey(x)) || EVP_PKEY_id(*out) != EVP_PKEY_ED25519)) {
        EVP_PKEY_free(*out);
        *out = NULL;
        rc = shelf__seterr(e, SHELF_EFORMAT, "the certificate of device %.7s has no Ed25519 key",
                           device);
    }
    X509_free(x);
    return rc;
}

int shelf__seg_records(shelf__err *e, const char *name, const char *device, int64_t first,
                       int64_t last, const char *plain, size_t n, shelf__wire_msg *m)
{
    json_t *dev, *f, *l;
    int64_t want;
    size_t i;
    int rc;

    memset(m, 0, sizeof *m);
    if ((rc = shelf__json_parse(e, SHELF_EFORMAT, name, plain, n, 0, &m->root)) != SHELF_OK)
        return rc;
    m->type = json_string_value(json_object_get(m->root, "type"));
    dev = json_object_get(m->root, "device");
    f = json_object_get(m->root, "first");
    l = json_object_get(m->root, "last");
    if (!m->type || !json_is_string(dev) || strcmp(json_string_value(dev), device) != 0 ||
        !json_is_integer(f) || json_integer_value(f) != first || !json_is_integer(l) ||
        json_integer_value(l) != last)
        rc = shelf__seterr(e, SHELF_ECORRUPT, "hub object '%.200s' says it holds other changes "
                           "than its name", name);
    else
        rc = shelf__wire_changes(e, m);
    want = last - first + 1;
    if (rc == SHELF_OK && (int64_t)m->nrecs != want)
        rc = shelf__seterr(e, SHELF_ECORRUPT, "hub object '%.200s' holds %zu changes, not %lld",
                           name, m->nrecs, (long long)want);
    for (i = 0; rc == SHELF_OK && i < m->nrecs; i++)
        if (strcmp(m->recs[i].device, device) != 0 || m->recs[i].counter != first + (int64_t)i)
            rc = shelf__seterr(e, SHELF_ECORRUPT, "hub object '%.200s' holds a change out of its "
                               "run", name);
    if (rc != SHELF_OK)
        shelf__wire_free(m);
    return rc;
}

int shelf__obj_sign(shelf__err *e, const char *name, EVP_PKEY *signer, const void *data, size_t n,
                    shelf__buf *out)
{
    unsigned char sig[SIG_LEN];

    shelf__buf_reset(out);
    if (!ed25519(signer, 1, name, data, n, sig))
        return shelf__seterr(e, SHELF_EIO, "cannot sign hub object '%.200s'", name);
    if (shelf__buf_add(out, data, n) != SHELF_OK || shelf__buf_add(out, sig, sizeof sig) != SHELF_OK)
        return shelf__seterr(e, SHELF_ENOMEM, "out of memory");
    return SHELF_OK;
}

int shelf__obj_check(shelf__err *e, const char *name, const unsigned char *obj, size_t n,
                     EVP_PKEY *signer, size_t *len)
{
    unsigned char sig[SIG_LEN];

    if (n < SIG_LEN)
        return bad(e, name, "is too short to be signed");
    memcpy(sig, obj + n - SIG_LEN, SIG_LEN);
    if (!ed25519(signer, 0, name, obj, n - SIG_LEN, sig))
        return shelf__seterr(e, SHELF_ECORRUPT, "hub object '%.200s' is not signed by its device "
                             "(changed, cut short, or moved)", name);
    *len = n - SIG_LEN;
    return SHELF_OK;
}

/* ---- sample files on a hub (doc/formats.md, "Hub file") ---- */

#define FILE_MAGIC "SHLFFIL1"

void shelf__hubfile_name(const unsigned char key1[SHELF__LIBKEY_LEN], const char *sha,
                         char out[SHELF__HUBFILE_NAME])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    char hex[2 * 32 + 1];

    /* keyed, so the hub cannot tell which known files a library holds */
    if (!HMAC(EVP_sha256(), key1, SHELF__LIBKEY_LEN, (const unsigned char *)sha, strlen(sha), mac,
              &len) || len != 32)
        memset(mac, 0, sizeof mac);
    shelf__hex(mac, 32, hex);
    snprintf(out, SHELF__HUBFILE_NAME, "files/%.2s/%s", hex, hex);
}

int shelf__hubfile_seal(shelf__err *e, int64_t gen, const unsigned char key[SHELF__LIBKEY_LEN],
                        const void *data, size_t n, shelf__buf *out)
{
    int rc;

    shelf__buf_reset(out);
    if (shelf__buf_grow(out, HEAD_LEN + n + SHELF__SEAL_OVERHEAD) != SHELF_OK)
        return shelf__seterr(e, SHELF_ENOMEM, "out of memory");
    if ((rc = put_head(e, FILE_MAGIC, gen, out)) != SHELF_OK)
        return rc;
    if ((rc = shelf__aead_seal(key, data, n, out)) != SHELF_OK)
        return shelf__seterr(e, rc, rc == SHELF_ENOMEM ? "out of memory"
                                                       : "cannot seal a sample file for the hub");
    return SHELF_OK;
}

int shelf__hubfile_gen(shelf__err *e, const char *name, const unsigned char *data, size_t n,
                       int64_t *gen)
{
    return head_gen(e, name, FILE_MAGIC, "sample file", data, n,
                    HEAD_LEN + SHELF__SEAL_OVERHEAD, gen);
}

int shelf__hubfile_open(shelf__err *e, const char *name, const unsigned char *data, size_t n,
                        const unsigned char key[SHELF__LIBKEY_LEN], shelf__buf *plain)
{
    int64_t gen = 0;
    int rc;

    shelf__buf_reset(plain);
    if ((rc = shelf__hubfile_gen(e, name, data, n, &gen)) != SHELF_OK)
        return rc;
    if ((rc = shelf__aead_open(key, data + HEAD_LEN, n - HEAD_LEN, plain)) != SHELF_OK) {
        shelf__buf_reset(plain);
        return rc == SHELF_ENOMEM ? shelf__seterr(e, rc, "out of memory")
                                  : shelf__seterr(e, SHELF_ECORRUPT, "hub object '%.200s' does not "
                                                  "open with library key %lld", name, (long long)gen);
    }
    return SHELF_OK;
}
