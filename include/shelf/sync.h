/*
 * sync.h: devices, the start of sync between them (doc/sync.md).
 *
 * Each library is one device.  Its identity is an Ed25519 key pair and a
 * self-signed X.509 certificate kept in the library folder (DIR/device/,
 * doc/formats.md "Device identity"), made on first use.  The device id is
 * derived from the certificate as Syncthing derives its device ids, so a
 * peer can be pinned by id alone: SHA-256 of the certificate's DER bytes,
 * in base32 (RFC 4648, no padding), each 13 characters followed by a check
 * character (Luhn mod 32), shown in groups of 7 joined by '-':
 * "P56IOI7-MZJNU2Y-IQGDREY-DM2MGTI-MGL3BXN-PQ6W5BM-TBBZ4TJ-XZWICQ2".
 *
 * Calls that take a library handle set its error message (shelf_errmsg);
 * they may be called from any thread that owns the handle.  The others
 * keep no state and may be called from any thread.
 */
#ifndef SHELF_SYNC_H
#define SHELF_SYNC_H

#include "shelf/shelf.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes of a device id in text, without its NUL: 8 groups of 7 and 7 '-'. */
#define SHELF_DEVICE_ID_LEN 63
/* Longest device name in bytes, without its NUL. */
#define SHELF_DEVICE_NAME_MAX 255

/* This device, as shelf_device_self fills it (set size first). */
typedef struct shelf_device_info {
    size_t size;                            /* sizeof(shelf_device_info) */
    char id[SHELF_DEVICE_ID_LEN + 1];       /* the device id, as above */
    char name[SHELF_DEVICE_NAME_MAX + 1];   /* UTF-8; the host name at first */
    int64_t created;                        /* when the identity was made, Unix seconds */
    char key_type[16];                      /* "ed25519" */
} shelf_device_info;

/*
 * This library's device identity into *out (out->size set by the caller:
 * the library writes at most that many bytes and sets size to what it
 * wrote).  The first call on a library makes the key pair and certificate
 * (the library must be writable: SHELF_EPERM on a read-only one).  Two
 * processes making it at once end with one identity, the same for both.
 * Errors: SHELF_EPERM, SHELF_EIO, SHELF_ECORRUPT (the key or certificate
 * on disk cannot be read or do not belong together), SHELF_EVERSION.
 */
SHELF_API int shelf_device_self(shelf_library *lib, shelf_device_info *out);

/* Rename this device (1 to SHELF_DEVICE_NAME_MAX bytes of UTF-8, no
 * control characters).  Makes the identity first if there is none. */
SHELF_API int shelf_device_rename(shelf_library *lib, const char *name);

/* ---- paired devices ---- */

/* A device this one is paired with, as the list gives it. */
typedef struct shelf_peer {
    size_t size;                            /* sizeof(shelf_peer), set by the library */
    char id[SHELF_DEVICE_ID_LEN + 1];       /* its device id, canonical form */
    char name[SHELF_DEVICE_NAME_MAX + 1];   /* the name given when it was added */
    int64_t added;                          /* Unix seconds */
    int64_t revoked;                        /* when removed; 0 while paired */
    int64_t last_seen;                      /* last contact; 0: never */
    char address[256];                      /* where it was last reached ("" never) */
} shelf_peer;

/*
 * Pair with the device id (any form shelf_device_id_parse reads) under
 * name (NULL or "": its id's first group), the Syncthing way: each side
 * adds the other.  A revoked device is paired again.  Errors: SHELF_EINVAL
 * (not a device id, this device's own id, a bad name), SHELF_EEXIST
 * (already paired), SHELF_EPERM (read-only library).
 */
SHELF_API int shelf_device_add(shelf_library *lib, const char *id, const char *name);

/* Rename a paired device.  SHELF_ENOTFOUND when it is not paired. */
SHELF_API int shelf_device_peer_rename(shelf_library *lib, const char *id, const char *name);

/* Remove (revoke) a paired device: it is refused from now on and gets
 * nothing new; its row stays, revoked.  SHELF_ENOTFOUND when it is not
 * paired (never was, or already revoked). */
SHELF_API int shelf_device_remove(shelf_library *lib, const char *id);

/*
 * Whether id may talk to this device: SHELF_OK with *out filled (out may
 * be NULL; out->size set by the caller as for shelf_device_self) when
 * paired, SHELF_EPERM when revoked, SHELF_ENOTFOUND when unknown,
 * SHELF_EINVAL when id is not a device id.
 */
SHELF_API int shelf_device_lookup(shelf_library *lib, const char *id, shelf_peer *out);

/*
 * Call fn for each paired device, by name then id (with all, the revoked
 * ones too), on the calling thread; the shelf_peer is valid during the
 * call only.  fn returns 0 to go on, anything else to stop (returned).
 */
SHELF_API int shelf_device_list(shelf_library *lib, int all,
                                int (*fn)(void *ud, const shelf_peer *peer), void *ud);

/*
 * Device ids as text.  _format writes the 63 characters and a NUL of the
 * id of a certificate's SHA-256 into out.  _parse reads one as people type
 * it: upper or lower case, with '-' or spaces anywhere, with or without
 * the four check characters (which must be right when present), and with
 * the digits 0, 1 and 8 read as O, I and B; 32 bytes into sha.
 * SHELF_EINVAL when text is not a device id.
 */
SHELF_API void shelf_device_id_format(const unsigned char sha[32], char out[SHELF_DEVICE_ID_LEN + 1]);
SHELF_API int shelf_device_id_parse(const char *text, unsigned char sha[32]);

/* The device id of a certificate in PEM (the first certificate in
 * pem[0..len)).  SHELF_EFORMAT when there is none. */
SHELF_API int shelf_device_id_of_cert(const char *pem, size_t len, char out[SHELF_DEVICE_ID_LEN + 1]);

/* ---- the change log (doc/sync.md) ---- */

/* One record of the change log, as shelf_sync_log gives it. */
typedef struct shelf_change {
    size_t size;                            /* sizeof(shelf_change), set by the library */
    char device[SHELF_DEVICE_ID_LEN + 1];   /* the device that made the change */
    int64_t counter;                        /* its number among that device's changes, from 1 */
    uint64_t hlc;                           /* hybrid logical clock: ms << 16 | counter */
    int64_t time_ms;                        /* hlc's wall time, Unix milliseconds */
    const char *item;                       /* the item across devices: "s:<sha256>" a sample,
                                               "p:<hash>" a patch and "j:<hash>" a project (by
                                               their first version), "c:<name>" a collection */
    const char *field;                      /* "." the item itself, "tag:<name>", "rating",
                                               "favourite", "has:<item>", or a sample field */
    const char *value;                      /* JSON: the new value; null removes (for ".", a
                                               tombstone) */
} shelf_change;

/*
 * Call fn for each record of the change log, oldest first (by clock, then
 * device and counter): those of device (NULL: every device) numbered above
 * after.  Changes made since the last call are logged first, under this
 * device's id (made on first use; a read-only library is read as its log
 * stands).  The record is valid during the call only; fn returns 0 to go
 * on, anything else to stop (returned).  Errors: SHELF_EINVAL (device is
 * not a device id), SHELF_EIO, SHELF_ENOMEM.
 */
SHELF_API int shelf_sync_log(shelf_library *lib, const char *device, int64_t after,
                             int (*fn)(void *ud, const shelf_change *c), void *ud);

/*
 * The version vector: fn is called once per device the log holds records
 * of, with the highest counter held, by device id.  Logs pending changes
 * first, as shelf_sync_log does.
 */
SHELF_API int shelf_sync_vector(shelf_library *lib,
                                int (*fn)(void *ud, const char *device, int64_t counter), void *ud);

/* ---- peer to peer (doc/sync.md) ---- */

/* What one exchange did (set size first where the caller passes it). */
typedef struct shelf_sync_stats {
    size_t size;                            /* sizeof(shelf_sync_stats) */
    char peer[SHELF_DEVICE_ID_LEN + 1];     /* the other device's id */
    char peer_name[SHELF_DEVICE_NAME_MAX + 1];
    int64_t sent;                           /* records sent */
    int64_t received;                       /* records received */
    int64_t applied;                        /* registers they changed here */
    int64_t lost;                           /* registers a later change here kept */
    int64_t skipped;                        /* records held already */
    uint64_t bytes_out, bytes_in;           /* on the wire, inside TLS */
} shelf_sync_stats;

/*
 * Sync with the device listening at address ("HOST:PORT", "[V6]:PORT" or
 * "HOST"; port 22700 by default): TLS 1.3, both sides pinned to paired
 * device ids, then each side gets the records it lacks.  Errors:
 * SHELF_EIO (cannot connect, connection lost), SHELF_EPERM (the peer is
 * not paired here, refused this device, or its clock is more than a day
 * ahead), SHELF_EFORMAT (a bad message), SHELF_EINVAL (a bad address).
 * *st (may be NULL; size set first) says what happened.
 */
SHELF_API int shelf_sync_connect(shelf_library *lib, const char *address, shelf_sync_stats *st);

/* Options of shelf_sync_listen (zero-initialise, set size). */
typedef struct shelf_sync_listen_opts {
    size_t size;                            /* sizeof(shelf_sync_listen_opts) */
    const char *address;                    /* "HOST:PORT" ("*:22700" when NULL;
                                               port 0: any free port) */
    int once;                               /* return after one exchange, with its result */
    volatile int *stop;                     /* when it becomes nonzero: return SHELF_ECANCELED */
    /* called once listening, with the address bound */
    void (*ready)(void *ud, const char *address);
    /* called after each exchange: rc, its message (NULL when rc is 0) */
    void (*session)(void *ud, int rc, const char *errmsg, const shelf_sync_stats *st);
    void *ud;
} shelf_sync_listen_opts;

/* Listen for paired devices and sync with each that connects, one at a
 * time, until *stop (or after one, with once).  Errors as for
 * shelf_sync_connect, and SHELF_EIO when the address cannot be bound. */
SHELF_API int shelf_sync_listen(shelf_library *lib, const shelf_sync_listen_opts *opts);

/* QR codes of short texts (device ids, invitations). */
enum {
    SHELF_QR_TEXT = 1,  /* UTF-8 text for a terminal: two modules per character
                           (U+2580 upper half block and friends), dark on light,
                           with a quiet zone; lines end with '\n' */
    SHELF_QR_PNG = 2    /* a PNG image, 8 pixels a module, black on white */
};

/*
 * Encode text (UTF-8, at most 1024 bytes) as a QR code (error correction
 * level M) in format, into *out (owned, free with shelf_free) of *len
 * bytes.  Errors: SHELF_EINVAL (text too long, unknown format),
 * SHELF_ENOMEM; *errmsg (owned, or NULL) says which.
 */
SHELF_API int shelf_qr_render(const char *text, int format, unsigned char **out, size_t *len,
                              char **errmsg);

/*
 * A document whose history holds two heads that sync could not merge (both
 * changed the same value; doc/sync.md, "Document histories").  head: the
 * version the item shows (local seq), other: the other head; their version
 * ids across devices; since: Unix seconds when it was found.  Resolved by
 * merging other into head (shelf_doc_merge_prepare/commit).
 */
typedef struct shelf_conflict {
    size_t size;                            /* sizeof(shelf_conflict), set by the library */
    int kind;                               /* SHELF_DOC_PATCH or SHELF_DOC_PROJECT */
    int64_t id;
    const char *name;
    int64_t head, other;
    char head_vid[65], other_vid[65];
    int64_t since;
} shelf_conflict;

/* The open conflicts, oldest first, to fn (a non-zero return stops the
 * walk and is returned). */
SHELF_API int shelf_sync_conflicts(shelf_library *lib,
                                   int (*fn)(void *ud, const shelf_conflict *c), void *ud);

#ifdef __cplusplus
}
#endif

#endif /* SHELF_SYNC_H */
