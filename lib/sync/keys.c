/*
 * keys.c: who signs and who is trusted (include/shelf/keys.h).  Signers
 * made from this device's identity (identity.c) or from a key of
 * `shelf keys new` (LIBRARY/keys/NAME.key); the trust store (table
 * trusted_keys, migration 9); the public key file; and the trust class of
 * a checked signature: this device, a paired device (table devices), a
 * trusted key, revoked, or unknown.  The signature itself is
 * lib/common/sign.c's, so lib/archive and lib/patch sign and check
 * without calling up into this layer.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include "sync_int.h"

#define PUB_VERSION 1
#define KEY_FILE_MAX (16u << 10)

/* name is a key name: 1 to 255 bytes of UTF-8, no '/', no control character. */
static int name_check(shelf_library *lib, const char *name)
{
    if (!name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
        return shelf__seterr(&lib->err, SHELF_EINVAL, "invalid key name '%s': no '/' allowed",
                             name ? name : "");
    return shelf__device_name_check(lib, name);
}

/* The file of a key: a path as given when it holds a '/', else
 * LIBRARY/keys/NAME.key.  Owned, or NULL with lib->err set. */
static char *key_path(shelf_library *lib, const char *key)
{
    char *p;

    if (strchr(key, '/'))
        p = shelf__strdup(key);
    else if (name_check(lib, key) != SHELF_OK)
        return NULL;
    else
        p = shelf__asprintf("%s/keys/%s.key", lib->path, key);
    if (!p)
        shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    return p;
}

static int signer_new(shelf_library *lib, EVP_PKEY *key, const char *cert, const char *device,
                      const char *name, shelf_signer **out)
{
    shelf_signer *s = shelf__calloc(1, sizeof *s);

    if (!s || !(s->name = shelf__strdup(name)) || (cert && !(s->cert = shelf__strdup(cert))) ||
        (device && !(s->device = shelf__strdup(device)))) {
        shelf_signer_free(s);
        EVP_PKEY_free(key);
        return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    }
    s->key = key;
    *out = s;
    return SHELF_OK;
}

int shelf_signer_device(shelf_library *lib, shelf_signer **out)
{
    shelf_device_info info;
    EVP_PKEY *key;
    X509 *cert;
    BIO *b = NULL;
    char *pem = NULL;
    long n;
    int rc;

    if (!lib || !out)
        return lib ? shelf__seterr(&lib->err, SHELF_EINVAL, "no signer to fill") : SHELF_EINVAL;
    *out = NULL;
    if ((rc = shelf__device_keys(lib, &key, &cert, &info)) != SHELF_OK)
        return rc;
    if (!(b = BIO_new(BIO_s_mem())) || !PEM_write_bio_X509(b, cert) || (n = BIO_get_mem_data(b, &pem)) <= 0 ||
        !(pem = shelf__strndup(pem, (size_t)n))) {
        EVP_PKEY_free(key);
        rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    } else {
        rc = signer_new(lib, key, pem, info.id, info.name, out);
    }
    free(pem);
    BIO_free(b);
    X509_free(cert);
    return rc;
}

/* The private key in the PEM file path (Ed25519 only). */
static int load_key(shelf_library *lib, const char *path, EVP_PKEY **out)
{
    BIO *b;

    *out = NULL;
    if (!(b = BIO_new_file(path, "r"))) {
        int e = errno ? errno : ENOENT;

        return shelf__seterr_errno(&lib->err, e, "cannot read key '%s'", path);
    }
    *out = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
    BIO_free(b);
    if (!*out || EVP_PKEY_get_id(*out) != EVP_PKEY_ED25519) {
        EVP_PKEY_free(*out);
        *out = NULL;
        return shelf__seterr(&lib->err, SHELF_EFORMAT, "'%s' is not an Ed25519 private key (PEM)", path);
    }
    return SHELF_OK;
}

int shelf_signer_key(shelf_library *lib, const char *key, shelf_signer **out)
{
    EVP_PKEY *pk;
    char *path, *stem = NULL;
    int rc;

    if (!lib || !out || !key)
        return lib ? shelf__seterr(&lib->err, SHELF_EINVAL, "no key named") : SHELF_EINVAL;
    *out = NULL;
    if (!(path = key_path(lib, key)))
        return lib->err.rc;
    if ((rc = load_key(lib, path, &pk)) == SHELF_OK) {
        if (!(stem = shelf__path_stem(path))) {
            EVP_PKEY_free(pk);
            rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        } else {
            rc = signer_new(lib, pk, NULL, NULL, stem, out);
        }
    }
    free(stem);
    free(path);
    return rc;
}

/* The public key file of key as text, owned in *out. */
static int pub_file(shelf_library *lib, EVP_PKEY *key, const char *name, const char *device, char **out)
{
    char text[SHELF_KEY_TEXT_LEN + 1];
    json_t *o = NULL;
    int bad = 0;

    *out = NULL;
    if (shelf__key_text(key, text) != SHELF_OK)
        return shelf__seterr(&lib->err, SHELF_EINVAL, "not an Ed25519 key");
    if ((o = json_object()) != NULL) {
        bad |= json_object_set_new(o, "format", json_string("shelf-public-key"));
        bad |= json_object_set_new(o, "version", json_integer(PUB_VERSION));
        bad |= json_object_set_new(o, "algorithm", json_string("ed25519"));
        bad |= json_object_set_new(o, "key", json_string(text));
        bad |= json_object_set_new(o, "name", json_string(name));
        if (device)
            bad |= json_object_set_new(o, "device", json_string(device));
        if (!bad)
            *out = shelf__json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    }
    json_decref(o);
    return *out ? SHELF_OK : shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
}

int shelf_keys_export(shelf_library *lib, const char *key, char **out)
{
    shelf_signer *s = NULL;
    int rc;

    if (!lib || !out)
        return lib ? shelf__seterr(&lib->err, SHELF_EINVAL, "nowhere to put the key") : SHELF_EINVAL;
    *out = NULL;
    rc = key ? shelf_signer_key(lib, key, &s) : shelf_signer_device(lib, &s);
    if (rc == SHELF_OK && s)
        rc = pub_file(lib, s->key, s->name, s->device, out);
    shelf_signer_free(s);
    return rc;
}

int shelf_keys_new(shelf_library *lib, const char *name, const char *path, char **pub)
{
    char *file = NULL, *dir = NULL, *data;
    EVP_PKEY *key = NULL;
    BIO *b = NULL;
    int rc, fd = -1;
    long n;

    if (pub)
        *pub = NULL;
    if (!lib)
        return SHELF_EINVAL;
    if ((rc = name_check(lib, name)) != SHELF_OK)
        return rc;
    if (!path && (rc = shelf__writable(lib)) != SHELF_OK)
        return rc;
    if (!(file = path ? shelf__strdup(path) : key_path(lib, name)) ||
        (!path && !(dir = shelf__path_join(lib->path, "keys")))) {
        rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    if (dir && mkdir(dir, 0700) != 0 && errno != EEXIST) {
        rc = shelf__seterr_errno(&lib->err, errno, "cannot create '%s'", dir);
        goto out;
    }
    if (!(key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")) || !(b = BIO_new(BIO_s_mem())) ||
        !PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) || (n = BIO_get_mem_data(b, &data)) <= 0) {
        rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "cannot make a key: out of memory");
        goto out;
    }
    if ((fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
        rc = shelf__seterr_errno(&lib->err, errno, "cannot create key '%s'", file);
        goto out;
    }
    if (shelf__write_all(fd, data, (size_t)n) != 0 || fsync(fd) != 0) {
        rc = shelf__seterr_errno(&lib->err, errno, "cannot write key '%s'", file);
        (void)unlink(file);
        goto out;
    }
    if (pub)
        rc = pub_file(lib, key, name, NULL, pub);
out:
    if (fd >= 0)
        close(fd);
    BIO_free(b);
    EVP_PKEY_free(key);
    free(dir);
    free(file);
    return rc;
}

int shelf_keys_trust(shelf_library *lib, const char *text, size_t n, const char *name)
{
    char key[SHELF_KEY_TEXT_LEN + 1], fname[SHELF_SIGNER_NAME_MAX + 1], device[SHELF_SIGNER_ID_MAX + 1];
    sqlite3_stmt *st;
    int rc;

    if (!lib)
        return SHELF_EINVAL;
    if ((rc = shelf__writable(lib)) != SHELF_OK ||
        (rc = shelf__pubkey_parse(&lib->err, text, n, key, fname, device)) != SHELF_OK ||
        (name && (rc = shelf__device_name_check(lib, name)) != SHELF_OK))
        return rc;
    if (!(st = shelf__prepare(lib, "INSERT INTO trusted_keys(key, name, device, added) VALUES(?1, ?2, ?3, ?4) "
                                   "ON CONFLICT(key) DO UPDATE SET name = excluded.name, revoked = NULL")))
        return lib->err.rc;
    if (sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(st, 2, name ? name : fname, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(st, 3, device, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(st, 4, shelf__now()) != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE)
        rc = shelf__dberr(lib, "cannot trust the key");
    sqlite3_finalize(st);
    return rc;
}

int shelf_keys_revoke(shelf_library *lib, const char *key)
{
    sqlite3_stmt *st;
    int rc, n = 0;

    if (!lib || !key)
        return lib ? shelf__seterr(&lib->err, SHELF_EINVAL, "no key named") : SHELF_EINVAL;
    if ((rc = shelf__writable(lib)) != SHELF_OK)
        return rc;
    if (!(st = shelf__prepare(lib, "SELECT count(*) FROM trusted_keys WHERE key = ?1 OR name = ?1")))
        return lib->err.rc;
    if (sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW)
        rc = shelf__dberr(lib, "cannot look up the key");
    else
        n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (rc != SHELF_OK)
        return rc;
    if (n == 0)
        return shelf__seterr(&lib->err, SHELF_ENOTFOUND, "no trusted key '%s'", key);
    if (n > 1)
        return shelf__seterr(&lib->err, SHELF_EINVAL, "%d keys are called '%s': give the key itself", n, key);
    if (!(st = shelf__prepare(lib, "UPDATE trusted_keys SET revoked = coalesce(revoked, ?2) "
                                   "WHERE key = ?1 OR name = ?1")))
        return lib->err.rc;
    if (sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(st, 2, shelf__now()) != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE)
        rc = shelf__dberr(lib, "cannot revoke the key");
    sqlite3_finalize(st);
    return rc;
}

/* The revoked column of the row of sql (?1 = text): SHELF_OK with *found and
 * *revoked, or a database error. */
static int lookup(shelf_library *lib, const char *sql, const char *text, int *found, int *revoked)
{
    sqlite3_stmt *st = shelf__prepare(lib, sql);
    int rc = SHELF_OK, s;

    *found = *revoked = 0;
    if (!st)
        return lib->err.rc;
    if (sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC) != SQLITE_OK)
        rc = shelf__dberr(lib, "cannot look up a signer");
    else if ((s = sqlite3_step(st)) == SQLITE_ROW) {
        *found = 1;
        *revoked = sqlite3_column_type(st, 0) != SQLITE_NULL;
    } else if (s != SQLITE_DONE) {
        rc = shelf__dberr(lib, "cannot look up a signer");
    }
    sqlite3_finalize(st);
    return rc;
}

int shelf_keys_classify(shelf_library *lib, shelf_signature *sig)
{
    static const unsigned char zero[32];
    char self[SHELF_KEY_TEXT_LEN + 1];
    shelf_device_info info;
    EVP_PKEY *key;
    X509 *cert;
    int rc, found, revoked;

    if (!lib || !sig)
        return lib ? shelf__seterr(&lib->err, SHELF_EINVAL, "no signature to classify") : SHELF_EINVAL;
    sig->trust = SHELF_TRUST_UNKNOWN;
    if (sig->state != SHELF_SIGNATURE_VALID)
        return SHELF_OK;
    if ((rc = shelf__device_keys(lib, &key, &cert, &info)) != SHELF_OK)
        return rc;
    rc = shelf__key_text(key, self);
    EVP_PKEY_free(key);
    X509_free(cert);
    if (rc == SHELF_OK && !strcmp(self, sig->key)) {
        sig->trust = SHELF_TRUST_SELF;
        snprintf(sig->device, sizeof sig->device, "%s", info.id);
        return SHELF_OK;
    }
    if (memcmp(sig->cert_sha256, zero, sizeof zero) != 0) {
        char id[SHELF_DEVICE_ID_LEN + 1];

        shelf_device_id_format(sig->cert_sha256, id);
        snprintf(sig->device, sizeof sig->device, "%s", id);
        if ((rc = lookup(lib, "SELECT revoked FROM devices WHERE id = ?1", id, &found, &revoked)) != SHELF_OK)
            return rc;
        if (found) {
            sig->trust = revoked ? SHELF_TRUST_REVOKED : SHELF_TRUST_PAIRED;
            return SHELF_OK;
        }
    }
    if ((rc = lookup(lib, "SELECT revoked FROM trusted_keys WHERE key = ?1", sig->key, &found, &revoked)) !=
        SHELF_OK)
        return rc;
    if (found)
        sig->trust = revoked ? SHELF_TRUST_REVOKED : SHELF_TRUST_USER;
    return SHELF_OK;
}

/* One key of LIBRARY/keys to cb. */
static int ls_own(shelf_library *lib, const char *dir, const char *file, shelf_signkey_cb cb, void *ud)
{
    shelf_signkey_info ki = { .size = sizeof ki, .kind = SHELF_KEY_OWN };
    char *path = shelf__path_join(dir, file);
    size_t n = strlen(file);
    EVP_PKEY *pk = NULL;
    struct stat sb;
    int rc;

    if (!path)
        return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    if (load_key(lib, path, &pk) != SHELF_OK) {
        free(path);   /* not a key of ours: not listed */
        return SHELF_OK;
    }
    snprintf(ki.name, sizeof ki.name, "%.*s", (int)(n - 4), file);
    if (stat(path, &sb) == 0)
        ki.added = (int64_t)sb.st_mtime;
    rc = shelf__key_text(pk, ki.key) == SHELF_OK ? cb(ud, &ki) : SHELF_OK;
    EVP_PKEY_free(pk);
    free(path);
    return rc;
}

int shelf_keys_ls(shelf_library *lib, shelf_signkey_cb cb, void *ud)
{
    shelf_signkey_info ki;
    shelf_signer *s = NULL;
    sqlite3_stmt *st;
    struct dirent *de;
    char *dir;
    DIR *d;
    int rc;

    if (!lib || !cb)
        return lib ? shelf__seterr(&lib->err, SHELF_EINVAL, "no callback") : SHELF_EINVAL;
    if ((rc = shelf_signer_device(lib, &s)) != SHELF_OK || !s)
        return rc != SHELF_OK ? rc : SHELF_ENOMEM;
    memset(&ki, 0, sizeof ki);
    ki.size = sizeof ki;
    ki.kind = SHELF_KEY_DEVICE;
    snprintf(ki.name, sizeof ki.name, "%s", s->name);
    snprintf(ki.device, sizeof ki.device, "%s", s->device);
    rc = shelf__key_text(s->key, ki.key);
    shelf_signer_free(s);
    if (rc != SHELF_OK || (rc = cb(ud, &ki)) != SHELF_OK)
        return rc;
    if (!(dir = shelf__path_join(lib->path, "keys")))
        return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    if ((d = opendir(dir)) != NULL) {
        while (rc == SHELF_OK && (de = readdir(d)) != NULL) {
            size_t n = strlen(de->d_name);

            if (de->d_name[0] != '.' && n > 4 && !strcmp(de->d_name + n - 4, ".key"))
                rc = ls_own(lib, dir, de->d_name, cb, ud);
        }
        closedir(d);
    }
    free(dir);
    if (rc != SHELF_OK)
        return rc;
    if (!(st = shelf__prepare(lib, "SELECT key, name, device, added, revoked FROM trusted_keys "
                                   "ORDER BY name, key")))
        return lib->err.rc;
    for (;;) {
        int step = sqlite3_step(st);

        if (step == SQLITE_DONE)
            break;
        if (step != SQLITE_ROW) {
            rc = shelf__dberr(lib, "cannot list the trusted keys");
            break;
        }
        memset(&ki, 0, sizeof ki);
        ki.size = sizeof ki;
        ki.kind = SHELF_KEY_TRUSTED;
        snprintf(ki.key, sizeof ki.key, "%s", (const char *)sqlite3_column_text(st, 0));
        snprintf(ki.name, sizeof ki.name, "%s", (const char *)sqlite3_column_text(st, 1));
        snprintf(ki.device, sizeof ki.device, "%s", (const char *)sqlite3_column_text(st, 2));
        ki.added = sqlite3_column_int64(st, 3);
        ki.revoked = sqlite3_column_int64(st, 4);
        if ((rc = cb(ud, &ki)) != SHELF_OK)
            break;
    }
    sqlite3_finalize(st);
    return rc;
}
