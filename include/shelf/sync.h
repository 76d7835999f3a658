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
    char library[33];                       /* the id of its library (32 hex digits,
                                               shelf_library_id), as its last
                                               hello said; "" before a session */
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
 * nothing new; its row stays, revoked.  When the library has a library
 * key, a new generation is made (shelf_sync_keygen tells which).  SHELF_ENOTFOUND when it is not
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
 * The paired device whose library has the id library (shelf_library_id of
 * the other side, which versions of patches and projects name as where
 * they were made; a device says it in every sync session): SHELF_OK with
 * *out filled (out->size set by the caller), SHELF_ENOTFOUND when no
 * paired device said it (revoked ones neither), SHELF_EINVAL when it is
 * not 32 hex digits.
 */
SHELF_API int shelf_device_by_library(shelf_library *lib, const char *library, shelf_peer *out);

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

/*
 * The share of this library's samples (percent, 1 to 100; 50 by default)
 * that one run of sync (an exchange with a peer, a pull from a hub) may
 * remove because other devices removed them.  A run that would remove
 * more stops with SHELF_EPERM: the batch that crossed the line is not
 * applied (earlier batches of the run are), and the message says what
 * --max-delete would allow it.  Ten removals always pass.  For this
 * handle only.
 */
#define SHELF_SYNC_MAX_DELETE 50
SHELF_API int shelf_sync_set_max_delete(shelf_library *lib, int percent);

/*
 * How long an exchange with a peer (shelf_sync_connect, shelf_sync_listen,
 * invitations) waits when nothing moves before it fails with SHELF_EIO
 * (seconds, 1 to 3600; 60 by default).  The other side learns it from
 * this side's hello: while it applies a long batch it sends wait frames,
 * four in this time, so only a silent peer times out.  For this handle
 * only.
 */
#define SHELF_SYNC_IO_TIMEOUT 60
SHELF_API int shelf_sync_set_io_timeout(shelf_library *lib, int seconds);

/*
 * Which sample bytes sync fetches (doc/sync.md, "Sample files").  A sample
 * this device learns of from another gets a catalog row at once, under the
 * sync folder DIR/synced (a symbolic link may put it elsewhere), marked
 * missing until its bytes are here:
 *   SHELF_SYNC_FILES_MANAGED (the default) fetches the copies of managed
 *     samples (imported with --copy) into the store; referenced ones stay
 *     rows without bytes;
 *   SHELF_SYNC_FILES_ALL fetches referenced files too, into the sync
 *     folder under the path they had, and a push to a hub takes this
 *     device's referenced files there as well as its managed copies;
 *   SHELF_SYNC_FILES_NONE fetches nothing (records only).
 * A peer serves what it holds to whoever asks.  For this handle only.
 * SHELF_EINVAL for another mode.
 */
#define SHELF_SYNC_FILES_MANAGED 0
#define SHELF_SYNC_FILES_ALL 1
#define SHELF_SYNC_FILES_NONE 2
SHELF_API int shelf_sync_set_files(shelf_library *lib, int mode);

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
    int64_t files_out, files_in;            /* sample files (blobs) sent, received */
    int64_t files_waiting;                  /* wanted here, the peer has not got them */
    int64_t waits;                          /* wait frames sent: this side was busy
                                               applying, the peer told it is there */
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
    volatile int *stop;                     /* when it becomes nonzero: return SHELF_ECANCELED
                                               (read with an atomic load: set it from a signal
                                               handler, or another thread with __atomic_store_n) */
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

/* ---- finding devices on the local network (doc/sync.md, "Discovery") ---- */

/* The UDP port of announcements; the environment variable
 * SHELF_DISCOVERY_PORT (1 to 65535) overrides it. */
#define SHELF_DISCOVERY_PORT 22701
SHELF_API int shelf_discovery_port(void);

/* A device heard announcing itself. */
typedef struct shelf_announce {
    size_t size;                            /* sizeof(shelf_announce), set by the library */
    char id[SHELF_DEVICE_ID_LEN + 1];       /* as it says: only TLS proves it */
    char name[SHELF_DEVICE_NAME_MAX + 1];   /* as it says */
    int port;                               /* its sync port */
    char address[64];                       /* "IP:PORT": where the datagram came from */
} shelf_announce;

typedef struct shelf_announcer shelf_announcer;

/*
 * Announce this device (listening for sync on TCP port) on every IPv4
 * interface with a broadcast address, now and every interval_ms (0: 5 s),
 * from a thread of its own, until shelf_sync_announce_stop, which returns
 * how many datagrams were sent.  The library is read once, here.
 */
SHELF_API int shelf_sync_announce_start(shelf_library *lib, int port, int interval_ms,
                                        shelf_announcer **out);
SHELF_API int shelf_sync_announce_stop(shelf_announcer *a);

/*
 * Listen for announcements for up to timeout_ms, calling fn for each one
 * heard (the same device again at each of its announcements); fn returns
 * 0 to go on, anything else to stop (returned).  SHELF_EIO (with *errmsg,
 * owned, when errmsg is not NULL) when the port cannot be listened on.
 */
SHELF_API int shelf_sync_discover(int timeout_ms, int (*fn)(void *ud, const shelf_announce *a),
                                  void *ud, char **errmsg);

/* ---- through a hub (doc/sync.md, "Hub") ---- */

/* What one push or pull did (set size first where the caller passes it). */
typedef struct shelf_hub_stats {
    size_t size;                            /* sizeof(shelf_hub_stats) */
    int64_t pushed;                         /* this device's records written */
    int64_t segments_out;                   /* segments written */
    int64_t pulled;                         /* other devices' records read */
    int64_t segments_in;                    /* segments read */
    int64_t applied;                        /* registers they changed here */
    int64_t lost;                           /* registers a later change here kept */
    int64_t skipped;                        /* records held already */
    int64_t devices;                        /* paired devices whose segments were read */
    int64_t strangers;                      /* device folders not paired here: ignored */
    uint64_t bytes_out, bytes_in;           /* object bytes written and read */
    int64_t keys_out;                       /* library key generations wrapped for devices */
    int64_t keys_in;                        /* generations unwrapped for this one */
    int64_t compacted;                      /* small segments of this device merged away */
    int64_t files_out, files_in;            /* sample files (blobs) written, read */
    int64_t files_waiting;                  /* wanted here, not on the hub (yet) */
    int64_t scrubbed;                       /* segments of this device written again
                                               without what a purge emptied, old ones
                                               removed */
} shelf_hub_stats;

/*
 * Push: write this device's records the hub lacks, sealed with the
 * library key and signed (doc/formats.md, "Hub layout").  Pull: read the
 * records of paired devices this library lacks from the hub, check and
 * open them, and apply them.  hub is anything a backup repository can be
 * (a folder, s3:..., webdav:..., rclone:..., a named remote).  Errors:
 * SHELF_EIO and others of the hub; SHELF_EPERM (a segment sealed with a
 * library key this device does not hold; the hub holds more of this
 * device's changes than it made: a copy of the library pushed there);
 * SHELF_ECORRUPT (a segment changed, moved or cut short, or not its
 * device's); SHELF_EFORMAT (not a segment; changes missing on the hub);
 * SHELF_EINVAL (flags unknown).  Nothing is applied when a pull fails before applying; applying runs
 * in batches, each whole or not at all.  *st (may be NULL) says what
 * happened.
 */
SHELF_API int shelf_sync_push(shelf_library *lib, const char *hub, int flags, shelf_hub_stats *st);
SHELF_API int shelf_sync_pull(shelf_library *lib, const char *hub, int flags, shelf_hub_stats *st);

/* flags of shelf_sync_push and shelf_sync_pull */
enum {
    /* one attempt per request and a 2 s connect timeout, instead of
     * retrying a failing hub for several seconds: for a watcher that
     * comes back at its next round */
    SHELF_HUB_QUICK = 1
};

/* A hub this library has pushed to or pulled from, as shelf_sync_hubs
 * gives it (valid during the call only). */
typedef struct shelf_hub_info {
    size_t size;                            /* sizeof(shelf_hub_info), set by the library */
    const char *target;                     /* as it was given */
    int64_t pushed;                         /* this device's changes on the hub, as of the
                                               last push that worked */
    int64_t last_push, last_pull;           /* Unix seconds of the last that worked; 0: never */
    const char *last_error;                 /* of the last push or pull; NULL when it worked */
} shelf_hub_info;

/* Call fn for each hub this library has used, by target.  fn returns 0
 * to go on, anything else to stop (returned). */
SHELF_API int shelf_sync_hubs(shelf_library *lib, int (*fn)(void *ud, const shelf_hub_info *h),
                              void *ud);
/* ---- invitations (doc/sync.md, "Invitations and the library key") ---- */

/* Options of shelf_device_invite (zero-initialise, set size). */
typedef struct shelf_invite_opts {
    size_t size;                            /* sizeof(shelf_invite_opts) */
    const char *name;                       /* the name the device that accepts gets here
                                               (NULL: the name it sends) */
    int64_t expires;                        /* seconds it stays valid (0: 86400) */
    const char *const *addresses;           /* "HOST:PORT" where this device listens
                                               (NULL: this host's addresses, port 22700) */
    size_t naddresses;
} shelf_invite_opts;

/*
 * Make a one-time invitation: this device's id, its addresses, a random
 * secret of 160 bits and the time it expires, as one line of text
 * ("shelf-invite:1:...", doc/formats.md) into *text (owned, free with
 * shelf_free).  Only SHA-256 of the secret is kept (table invitations).
 * The device that accepts it reaches this one while it runs
 * shelf_sync_listen.  Errors: SHELF_EINVAL (a bad option), SHELF_EPERM
 * (read-only library).
 */
SHELF_API int shelf_device_invite(shelf_library *lib, const shelf_invite_opts *opts, char **text);

/* Options of shelf_device_accept (zero-initialise, set size). */
typedef struct shelf_accept_opts {
    size_t size;                            /* sizeof(shelf_accept_opts) */
    const char *name;                       /* the inviter's name here (NULL: its own) */
} shelf_accept_opts;

/* What accepting did (set size first). */
typedef struct shelf_accept_result {
    size_t size;                            /* sizeof(shelf_accept_result) */
    char id[SHELF_DEVICE_ID_LEN + 1];       /* the inviter, now paired */
    char name[SHELF_DEVICE_NAME_MAX + 1];   /* under this name */
    char address[256];                      /* the address that answered */
    int64_t keygen;                         /* newest library key generation held now */
    shelf_sync_stats sync;                  /* the exchange that followed */
} shelf_accept_result;

/*
 * Accept an invitation (its text): connect to the inviter's addresses in
 * turn, TLS 1.3 with its certificate pinned to the invitation's id, prove
 * knowledge of the secret without sending it, pair both ways, take the
 * library key generations, then sync as shelf_sync_connect does.  Errors:
 * SHELF_EFORMAT (not an invitation), SHELF_EPERM (refused: used, expired,
 * a wrong secret, another device than the invitation names, or a
 * different library key while paired with others), SHELF_EIO (no address
 * answered).  *out may be NULL.
 */
SHELF_API int shelf_device_accept(shelf_library *lib, const char *invite,
                                  const shelf_accept_opts *opts, shelf_accept_result *out);

/* The newest library key generation held (0: none yet) into *gen. */
SHELF_API int shelf_sync_keygen(shelf_library *lib, int64_t *gen);

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
