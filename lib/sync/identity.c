/*
 * identity.c: this library's device identity (include/shelf/sync.h): an
 * Ed25519 key pair and a self-signed certificate in DIR/device/, made on
 * first use, and device ids as text (Syncthing's encoding: base32 of the
 * certificate's SHA-256 with a Luhn mod 32 check character per 13).
 * doc/formats.md, "Device identity", is the reference for the files.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include "sync_int.h"

#define DEVICE_VERSION 1
#define DEVICE_JSON_MAX (64u << 10)
#define PEM_MAX (64u << 10)

static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/* ---- device ids as text ---- */

static int b32_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= '2' && c <= '7')
        return c - '2' + 26;
    return -1;
}

/*
 * The check character of s[0..n) (base32 characters): Syncthing's "Luhn
 * mod 32", which doubles every other digit starting with the second,
 * folds each addend as addend / 32 + addend % 32, and picks the digit that
 * brings the sum to a multiple of 32.
 */
static char luhn32(const char *s, size_t n)
{
    int factor = 1, sum = 0;
    size_t i;

    for (i = 0; i < n; i++) {
        int add = factor * b32_value(s[i]);

        factor = factor == 2 ? 1 : 2;
        sum += add / 32 + add % 32;
    }
    return b32[(32 - sum % 32) % 32];
}

/* 32 bytes as 52 base32 characters (RFC 4648, no padding) and a NUL. */
static void b32_encode(const unsigned char in[32], char out[53])
{
    unsigned acc = 0;
    int bits = 0;
    size_t i, o = 0;

    for (i = 0; i < 32; i++) {
        acc = (acc << 8) | in[i];
        bits += 8;
        while (bits >= 5) {
            out[o++] = b32[(acc >> (bits - 5)) & 31];
            bits -= 5;
        }
    }
    if (bits > 0)
        out[o++] = b32[(acc << (5 - bits)) & 31];
    out[o] = '\0';
}

/* 52 base32 characters into 32 bytes; -1 when a character or the unused
 * low bits of the last one are wrong. */
static int b32_decode(const char in[52], unsigned char out[32])
{
    unsigned acc = 0;
    int bits = 0;
    size_t i, o = 0;

    for (i = 0; i < 52; i++) {
        int v = b32_value(in[i]);

        if (v < 0)
            return -1;
        acc = (acc << 5) | (unsigned)v;
        bits += 5;
        if (bits >= 8) {
            out[o++] = (unsigned char)(acc >> (bits - 8));
            bits -= 8;
        }
    }
    return (acc & ((1u << bits) - 1)) == 0 && o == 32 ? 0 : -1;
}

void shelf_device_id_format(const unsigned char sha[32], char out[SHELF_DEVICE_ID_LEN + 1])
{
    char plain[53], checked[56];
    size_t g, i, o = 0;

    b32_encode(sha, plain);
    for (g = 0; g < 4; g++) {
        memcpy(checked + g * 14, plain + g * 13, 13);
        checked[g * 14 + 13] = luhn32(plain + g * 13, 13);
    }
    for (i = 0; i < 56; i++) {
        if (i && i % 7 == 0)
            out[o++] = '-';
        out[o++] = checked[i];
    }
    out[o] = '\0';
}

int shelf_device_id_parse(const char *text, unsigned char sha[32])
{
    char s[57], plain[52];
    size_t n = 0, g;

    if (!text)
        return SHELF_EINVAL;
    for (; *text; text++) {
        char c = *text;

        if (c == '-' || c == ' ')
            continue;
        if (n == 56)
            return SHELF_EINVAL;
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        c = c == '0' ? 'O' : c == '1' ? 'I' : c == '8' ? 'B' : c;
        if (b32_value(c) < 0)
            return SHELF_EINVAL;
        s[n++] = c;
    }
    if (n == 52) {
        memcpy(plain, s, 52);
    } else if (n == 56) {
        for (g = 0; g < 4; g++) {
            if (luhn32(s + g * 14, 13) != s[g * 14 + 13])
                return SHELF_EINVAL;
            memcpy(plain + g * 13, s + g * 14, 13);
        }
    } else {
        return SHELF_EINVAL;
    }
    return b32_decode(plain, sha) == 0 ? SHELF_OK : SHELF_EINVAL;
}

int shelf__device_id_of_x509(X509 *x, char out[SHELF_DEVICE_ID_LEN + 1])
{
    unsigned char *der = NULL, sha[32];
    int n = i2d_X509(x, &der);

    if (n <= 0)
        return SHELF_ENOMEM;
    shelf__sha256_mem(der, (size_t)n, sha);
    OPENSSL_free(der);
    shelf_device_id_format(sha, out);
    return SHELF_OK;
}

int shelf_device_id_of_cert(const char *pem, size_t len, char out[SHELF_DEVICE_ID_LEN + 1])
{
    BIO *b;
    X509 *x;
    int rc;

    if (!pem || len > INT_MAX || !(b = BIO_new_mem_buf(pem, (int)len)))
        return pem ? SHELF_ENOMEM : SHELF_EINVAL;
    x = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    if (!x)
        return SHELF_EFORMAT;
    rc = shelf__device_id_of_x509(x, out);
    X509_free(x);
    return rc;
}

/* ---- the identity on disk ---- */

/* s (NUL-terminated) is valid UTF-8. */
static int utf8_ok(const char *s)
{
    size_t k;

    for (; *s; s += k)
        if (!(k = shelf__utf8_seq((const unsigned char *)s)))
            return 0;
    return 1;
}

/* A new Ed25519 key and its self-signed certificate (CN=shelf, a random
 * serial, valid from now to 9999-12-31, RFC 5280's "no expiry"). */
static int make_identity(EVP_PKEY **key, X509 **cert)
{
    EVP_PKEY *k = NULL;
    X509 *x = NULL;
    X509_NAME *nm;
    unsigned char serial[8];
    BIGNUM *bn = NULL;
    int ok = 0;

    *key = NULL;
    *cert = NULL;
    if (shelf__random(serial, sizeof serial) != SHELF_OK)
        return SHELF_EIO;
    serial[0] &= 0x7f;          /* a positive INTEGER */
    k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    x = X509_new();
    bn = BN_bin2bn(serial, sizeof serial, NULL);
    if (k && x && bn && X509_set_version(x, 2) && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) &&
        X509_gmtime_adj(X509_getm_notBefore(x), 0) &&
        ASN1_TIME_set_string(X509_getm_notAfter(x), "99991231235959Z") && X509_set_pubkey(x, k) &&
        (nm = X509_get_subject_name(x)) &&
        X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)"shelf", -1, -1, 0) &&
        X509_set_issuer_name(x, nm) && X509_sign(x, k, NULL) > 0)
        ok = 1;
    BN_free(bn);
    if (!ok) {
        EVP_PKEY_free(k);
        X509_free(x);
        return SHELF_ENOMEM;
    }
    *key = k;
    *cert = x;
    return SHELF_OK;
}

/* Write one PEM file of the new identity folder: key (0600) or cert. */
static int write_pem(shelf__err *e, const char *dir, const char *name, EVP_PKEY *key, X509 *cert)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *path = shelf__path_join(dir, name), *data;
    long n;
    int rc = SHELF_ENOMEM;

    if (b && path &&
        (key ? PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) : PEM_write_bio_X509(b, cert)) &&
        (n = BIO_get_mem_data(b, &data)) > 0)
        rc = shelf__write_file_atomic(e, path, data, (size_t)n, key ? 0600 : 0644);
    else
        shelf__seterr(e, rc, "out of memory");
    BIO_free(b);
    shelf_free(path);
    return rc;
}

/* device.json: {"version": 1, "name": ..., "created": ...}. */
static int write_info(shelf__err *e, const char *dir, const char *name, int64_t created)
{
    json_t *o = json_pack("{s:i, s:s, s:I}", "version", DEVICE_VERSION, "name", name, "created",
                          (json_int_t)created);
    char *text = o ? shelf__json_dumps(o, JSON_SORT_KEYS | JSON_INDENT(2)) : NULL;
    char *path = shelf__path_join(dir, "device.json");
    int rc;

    if (!text || !path)
        rc = shelf__seterr(e, SHELF_ENOMEM, "out of memory");
    else
        rc = shelf__write_file_atomic(e, path, text, strlen(text), 0644);
    json_decref(o);
    free(text);     /* jansson's, allocated through the library's hook */
    shelf_free(path);
    return rc;
}

/* The host name, or "shelf" when there is none. */
static void default_name(char *out, size_t n)
{
    out[n - 1] = '\0';
    if (gethostname(out, n - 1) != 0 || !out[0] || !utf8_ok(out))
        snprintf(out, n, "shelf");
}

/*
 * Make DIR/device: the files go into a folder of our own beside it, which
 * is renamed into place.  A rename onto a folder another process made
 * first fails (ENOTEMPTY or EEXIST): ours is removed and theirs is used.
 */
static int create_identity(shelf_library *lib, const char *final)
{
    char *tmp = shelf__asprintf("%s.tmp-%ld", final, (long)getpid());
    char name[SHELF_DEVICE_NAME_MAX + 1];
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    int rc;

    if (!tmp)
        return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    (void)shelf__rmtree(tmp);
    if (mkdir(tmp, 0700) != 0) {
        rc = shelf__seterr_errno(&lib->err, errno, "cannot create '%s'", tmp);
        shelf_free(tmp);
        return rc;
    }
    default_name(name, sizeof name);
    rc = make_identity(&key, &cert);
    if (rc != SHELF_OK)
        shelf__seterr(&lib->err, rc, "cannot make a device key: %s",
                      rc == SHELF_EIO ? "no random bytes" : "out of memory");
    if (rc == SHELF_OK)
        rc = write_pem(&lib->err, tmp, "key.pem", key, NULL);
    if (rc == SHELF_OK)
        rc = write_pem(&lib->err, tmp, "cert.pem", NULL, cert);
    if (rc == SHELF_OK)
        rc = write_info(&lib->err, tmp, name, shelf__now());
    if (rc == SHELF_OK && rename(tmp, final) != 0) {
        if (errno != ENOTEMPTY && errno != EEXIST)
            rc = shelf__seterr_errno(&lib->err, errno, "cannot rename '%s' to '%s'", tmp, final);
    } else if (rc == SHELF_OK) {
        int e = shelf__fsync_dir(lib->path);

        if (e)
            rc = shelf__seterr_errno(&lib->err, e, "cannot sync '%s'", lib->path);
    }
    (void)shelf__rmtree(tmp);   /* gone after a rename; else ours lost or failed */
    EVP_PKEY_free(key);
    X509_free(cert);
    shelf_free(tmp);
    return rc;
}

/* Read DIR/device/NAME whole (at most max bytes) into *out (NUL added). */
static int read_small(shelf_library *lib, const char *dir, const char *name, size_t max, char **out,
                      size_t *len)
{
    char *path = shelf__path_join(dir, name);
    shelf__buf b = SHELF__BUF_INIT;
    char chunk[4096];
    ssize_t got;
    int fd, rc = SHELF_OK;

    *out = NULL;
    if (!path)
        return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        rc = shelf__seterr_errno(&lib->err, errno, "cannot open '%s'", path);
        shelf_free(path);
        return rc == SHELF_ENOTFOUND ? SHELF_ECORRUPT : rc;
    }
    while ((got = read(fd, chunk, sizeof chunk)) != 0) {
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            rc = shelf__seterr_errno(&lib->err, errno, "cannot read '%s'", path);
            break;
        }
        if (b.len + (size_t)got > max) {
            rc = shelf__seterr(&lib->err, SHELF_ECORRUPT, "cannot read '%s': larger than %zu bytes",
                               path, max);
            break;
        }
        if (shelf__buf_add(&b, chunk, (size_t)got) != SHELF_OK) {
            rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
            break;
        }
    }
    (void)close(fd);    /* read only */
    shelf_free(path);
    if (rc != SHELF_OK) {
        shelf__buf_release(&b);
        return rc;
    }
    *len = b.len;
    *out = b.buf ? shelf__buf_detach(&b) : shelf__strdup("");
    return *out ? SHELF_OK : shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
}

/* device.json into info (name, created). */
static int load_info(shelf_library *lib, const char *dir, shelf_device_info *info)
{
    char *text, *what;
    size_t n = 0;
    json_t *o, *v, *name, *created;
    int rc;

    if ((rc = read_small(lib, dir, "device.json", DEVICE_JSON_MAX, &text, &n)) != SHELF_OK)
        return rc;
    if (!(what = shelf__asprintf("'%s/device.json'", dir))) {
        shelf_free(text);
        return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    }
    rc = shelf__json_parse(&lib->err, SHELF_ECORRUPT, what, text, n, 0, &o);
    shelf_free(text);
    shelf_free(what);
    if (rc != SHELF_OK)
        return rc;
    v = json_object_get(o, "version");
    name = json_object_get(o, "name");
    created = json_object_get(o, "created");
    if (!json_is_integer(v) || !json_is_string(name) || !json_is_integer(created))
        rc = shelf__seterr(&lib->err, SHELF_ECORRUPT, "invalid '%s/device.json': needs version, name "
                           "and created", dir);
    else if (json_integer_value(v) > DEVICE_VERSION)
        rc = shelf__seterr(&lib->err, SHELF_EVERSION, "'%s/device.json' is version %lld; this shelf "
                           "reads %d", dir, (long long)json_integer_value(v), DEVICE_VERSION);
    else {
        snprintf(info->name, sizeof info->name, "%s", json_string_value(name));
        info->created = (int64_t)json_integer_value(created);
    }
    json_decref(o);
    return rc;
}

/* key.pem and cert.pem: read, check they belong together, set info->id;
 * the key and certificate into *keyp and *certp when those are not NULL
 * (the caller's to free). */
static int load_keys(shelf_library *lib, const char *dir, shelf_device_info *info, EVP_PKEY **keyp,
                     X509 **certp)
{
    char *kt = NULL, *ct = NULL;
    size_t kn = 0, cn = 0;
    BIO *kb = NULL, *cb = NULL;
    EVP_PKEY *key = NULL, *pub = NULL;
    X509 *cert = NULL;
    int rc;

    if ((rc = read_small(lib, dir, "key.pem", PEM_MAX, &kt, &kn)) != SHELF_OK ||
        (rc = read_small(lib, dir, "cert.pem", PEM_MAX, &ct, &cn)) != SHELF_OK)
        goto out;
    kb = BIO_new_mem_buf(kt, (int)kn);
    cb = BIO_new_mem_buf(ct, (int)cn);
    if (!kb || !cb) {
        rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    key = PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL);
    cert = PEM_read_bio_X509(cb, NULL, NULL, NULL);
    pub = cert ? X509_get0_pubkey(cert) : NULL;
    if (!key || !cert || !pub) {
        rc = shelf__seterr(&lib->err, SHELF_ECORRUPT, "cannot read '%s/%s': not PEM", dir,
                           !key ? "key.pem" : "cert.pem");
        goto out;
    }
    if (EVP_PKEY_get_id(key) != EVP_PKEY_ED25519 || EVP_PKEY_eq(key, pub) != 1) {
        rc = shelf__seterr(&lib->err, SHELF_ECORRUPT, "'%s/key.pem' is not the Ed25519 key of "
                           "'%s/cert.pem'", dir, dir);
        goto out;
    }
    if ((rc = shelf__device_id_of_x509(cert, info->id)) != SHELF_OK)
        shelf__seterr(&lib->err, rc, "out of memory");
    snprintf(info->key_type, sizeof info->key_type, "ed25519");
    if (rc == SHELF_OK && keyp && certp) {
        *keyp = key;
        *certp = cert;
        key = NULL;
        cert = NULL;
    }
out:
    if (kt) {
        OPENSSL_cleanse(kt, kn);
        shelf_free(kt);
    }
    shelf_free(ct);
    BIO_free(kb);
    BIO_free(cb);
    EVP_PKEY_free(key);
    X509_free(cert);
    return rc;
}

/* The identity, made first when absent, into info; with keyp and certp
 * (not NULL) its key and certificate too, the caller's to free. */
static int self_info(shelf_library *lib, shelf_device_info *info, EVP_PKEY **keyp, X509 **certp)
{
    struct stat st;
    char *dir;
    int rc;

    memset(info, 0, sizeof *info);
    info->size = sizeof *info;
    if (!(dir = shelf__path_join(lib->path, "device")))
        return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    if (lstat(dir, &st) != 0) {
        if (errno != ENOENT)
            rc = shelf__seterr_errno(&lib->err, errno, "cannot read '%s'", dir);
        else if ((rc = shelf__writable(lib)) == SHELF_OK)
            rc = create_identity(lib, dir);
    } else {
        rc = S_ISDIR(st.st_mode) ? SHELF_OK
                                 : shelf__seterr(&lib->err, SHELF_ECORRUPT, "'%s' is not a folder", dir);
    }
    if (rc == SHELF_OK)
        rc = load_keys(lib, dir, info, keyp, certp);
    if (rc == SHELF_OK && (rc = load_info(lib, dir, info)) != SHELF_OK && keyp) {
        EVP_PKEY_free(*keyp);
        X509_free(*certp);
        *keyp = NULL;
        *certp = NULL;
    }
    shelf_free(dir);
    return rc;
}

int shelf__device_keys(shelf_library *lib, EVP_PKEY **key, X509 **cert, shelf_device_info *info)
{
    *key = NULL;
    *cert = NULL;
    return self_info(lib, info, key, cert);
}

int shelf_device_self(shelf_library *lib, shelf_device_info *out)
{
    shelf_device_info info;
    int rc;

    if (!lib || !out || out->size < sizeof out->size)
        return lib ? shelf__seterr(&lib->err, SHELF_EINVAL, "invalid device info: no size") : SHELF_EINVAL;
    if ((rc = self_info(lib, &info, NULL, NULL)) == SHELF_OK)
        shelf__out_fill(out, &info, sizeof info);
    return rc;
}

int shelf__device_name_check(shelf_library *lib, const char *name)
{
    size_t n = strlen(name), i, k;

    for (i = 0; i < n; i += k) {
        k = shelf__utf8_seq((const unsigned char *)name + i);
        if (!k || (unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            break;
    }
    if (n == 0 || n > SHELF_DEVICE_NAME_MAX || i < n)
        return shelf__seterr(&lib->err, SHELF_EINVAL, "invalid device name: 1 to %d bytes of UTF-8 "
                             "without control characters", SHELF_DEVICE_NAME_MAX);
    return SHELF_OK;
}

int shelf_device_rename(shelf_library *lib, const char *name)
{
    shelf_device_info info;
    char *dir;
    int rc;

    if (!lib)
        return SHELF_EINVAL;
    if ((rc = shelf__device_name_check(lib, name ? name : "")) != SHELF_OK ||
        (rc = shelf__writable(lib)) != SHELF_OK)
        return rc;
    if ((rc = self_info(lib, &info, NULL, NULL)) != SHELF_OK)
        return rc;
    if (!(dir = shelf__path_join(lib->path, "device")))
        return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    rc = write_info(&lib->err, dir, name, info.created);
    shelf_free(dir);
    return rc;
}
