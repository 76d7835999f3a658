/*
 * keys.h: signatures on what leaves a library, and the keys that make and
 * trust them.  Included by shelf.h.
 *
 * Archives (archive.h) and exported patch histories are signed with Ed25519:
 * by this device's key (its identity, sync.h) or by a key made with
 * shelf_keys_new for someone who sells sample packs.  Whoever reads them is
 * told who signed and whether that signer is trusted: this device, a paired
 * device, a key the user trusted (shelf_keys_trust), or unknown.  Formats
 * in doc/formats.md ("Archive signature", "Public key file").
 *
 * All functions run on the calling thread; a library handle is used by one
 * thread at a time.
 */
#ifndef SHELF_KEYS_H
#define SHELF_KEYS_H

/* An Ed25519 public key as text: base64 of its 32 bytes (44 characters). */
#define SHELF_KEY_TEXT_LEN 44
#define SHELF_SIGNER_ID_MAX 63     /* a device id (sync.h, SHELF_DEVICE_ID_LEN) */
#define SHELF_SIGNER_NAME_MAX 255

/* A private key and the identity it signs as; opaque. */
typedef struct shelf_signer shelf_signer;

/* Whether there is a signature and whether it matches. */
enum {
    SHELF_SIGNATURE_NONE = 0,     /* unsigned */
    SHELF_SIGNATURE_VALID = 1,    /* signed, and the signature matches */
    SHELF_SIGNATURE_BAD = 2       /* signed, and the signature does not match */
};
/* Who the signer is to this library (shelf_keys_classify). */
enum {
    SHELF_TRUST_UNKNOWN = 0,      /* a key this library knows nothing of */
    SHELF_TRUST_SELF = 1,         /* this device */
    SHELF_TRUST_PAIRED = 2,       /* a device paired with this one */
    SHELF_TRUST_USER = 3,         /* a key trusted with shelf_keys_trust */
    SHELF_TRUST_REVOKED = 4       /* a key or device whose trust was revoked */
};

typedef struct shelf_signature {
    size_t size;                  /* sizeof, set by the caller (shelf.h) */
    int state;                    /* SHELF_SIGNATURE_ */
    int trust;                    /* SHELF_TRUST_, after shelf_keys_classify */
    char key[SHELF_KEY_TEXT_LEN + 1];       /* the signer's public key */
    char device[SHELF_SIGNER_ID_MAX + 1];   /* its device id: proven by its
                                               certificate, "" for a key of
                                               shelf_keys_new */
    char name[SHELF_SIGNER_NAME_MAX + 1];   /* as the signer says (UTF-8) */
    unsigned char cert_sha256[32];          /* SHA-256 of the certificate, or zeros */
} shelf_signature;

/* This device's signer (its identity is made first when there is none).
 * *out is owned: free with shelf_signer_free.  Errors: those of
 * shelf_device_self. */
SHELF_API int shelf_signer_device(shelf_library *lib, shelf_signer **out);

/* The signer of a key made by shelf_keys_new: key is a name (the file
 * LIBRARY/keys/NAME.key) or a path (it holds a '/').  *out is owned.
 * Errors: SHELF_ENOTFOUND, SHELF_EFORMAT (not an Ed25519 private key),
 * SHELF_EIO. */
SHELF_API int shelf_signer_key(shelf_library *lib, const char *key, shelf_signer **out);

/* Free a signer (its private key is wiped); NULL is fine. */
SHELF_API void shelf_signer_free(shelf_signer *s);

/* The role named in the signature of an exported history
 * (shelf_sign_bytes, shelf_signature_check). */
#define SHELF_SIGNED_HISTORY "shelf-history"

/*
 * A detached signature of data[0..n) by s, as the text of a signature file
 * (doc/formats.md, "Archive signature") whose "signed" member is role,
 * owned in *out.  Errors: SHELF_EINVAL (not an Ed25519 key), SHELF_ENOMEM;
 * errmsg (may be NULL) receives an owned one-line message on failure.
 */
SHELF_API int shelf_sign_bytes(const shelf_signer *s, const char *role, const void *data, size_t n,
                               char **out, char **errmsg);

/*
 * Check the signature file text[0..len) (outside input) over data[0..n)
 * for role.  Fills sig (its size set by the caller; trust UNKNOWN until
 * shelf_keys_classify).  SHELF_OK: it matches; SHELF_ECORRUPT with state
 * SHELF_SIGNATURE_BAD: it does not; SHELF_EFORMAT: not a signature file
 * shelf reads, or one for another role.  errmsg (may be NULL) receives an
 * owned one-line message on failure.  Needs no library; thread-safe.
 */
SHELF_API int shelf_signature_check(const char *text, size_t len, const char *role, const void *data,
                                    size_t n, shelf_signature *sig, char **errmsg);

/* Set sig->trust for a signature checked elsewhere (state VALID), and
 * sig->device to the paired device's id when the key is one's.
 * Errors: SHELF_EDB and those of shelf_device_self. */
SHELF_API int shelf_keys_classify(shelf_library *lib, shelf_signature *sig);

/*
 * Make a new signing key called name (1 to 255 bytes of UTF-8, no '/'
 * and no control characters): an Ed25519 private key in PEM (PKCS #8),
 * mode 0600, at path, or LIBRARY/keys/NAME.key when path is NULL.
 * *pub (may be NULL) receives its public key file (owned).
 * Errors: SHELF_EEXIST (a key of that name or file), SHELF_EINVAL, SHELF_EIO.
 */
SHELF_API int shelf_keys_new(shelf_library *lib, const char *name, const char *path, char **pub);

/* The public key file (doc/formats.md, "Public key file") of this device
 * (key NULL) or of a key as shelf_signer_key names it, owned in *out. */
SHELF_API int shelf_keys_export(shelf_library *lib, const char *key, char **out);

/* Trust the key of a public key file (text of n bytes); a revoked key is
 * trusted again.  name (may be NULL) replaces the file's name.
 * Errors: SHELF_EFORMAT, SHELF_EDB. */
SHELF_API int shelf_keys_trust(shelf_library *lib, const char *text, size_t n, const char *name);

/* Revoke the trust in a key, given as its text or the name it was trusted
 * under: the key stays listed as revoked.  Errors: SHELF_ENOTFOUND,
 * SHELF_EINVAL (a name that two keys share: give the key). */
SHELF_API int shelf_keys_revoke(shelf_library *lib, const char *key);

/* Where a key of shelf_keys_ls comes from. */
enum {
    SHELF_KEY_DEVICE = 1,         /* this device's own key */
    SHELF_KEY_OWN = 2,            /* made here by shelf_keys_new (LIBRARY/keys) */
    SHELF_KEY_TRUSTED = 3         /* trusted with shelf_keys_trust */
};
typedef struct shelf_signkey_info {
    size_t size;                  /* sizeof, set by the library (shelf.h) */
    int kind;                     /* SHELF_KEY_ */
    char key[SHELF_KEY_TEXT_LEN + 1];
    char name[SHELF_SIGNER_NAME_MAX + 1];
    char device[SHELF_SIGNER_ID_MAX + 1];   /* "" when none */
    int64_t added;                /* unix seconds; 0 when unknown */
    int64_t revoked;              /* unix seconds; 0 when trusted */
} shelf_signkey_info;
/* Called once per key on the calling thread; info is borrowed for the
 * call; non-zero stops the listing and is returned. */
typedef int (*shelf_signkey_cb)(void *ud, const shelf_signkey_info *info);
/* This device's key, the keys in LIBRARY/keys, then the trusted ones. */
SHELF_API int shelf_keys_ls(shelf_library *lib, shelf_signkey_cb cb, void *ud);

#endif
