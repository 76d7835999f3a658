/*
 * sync_int.h: the sync module's internals (lib/sync): device identity
 * (identity.c) and QR codes (qr.c).  Above remote, patch and backup in the
 * layers (doc/design.md); nothing below includes this file.
 */
#ifndef SHELF_SYNC_INT_H
#define SHELF_SYNC_INT_H

#include <jansson.h>
#include <openssl/x509.h>
#include "shelf/sync.h"
#include "../common/common_int.h"
#include "../catalog/catalog_int.h"
#include "../store/store_int.h"

/* The device id of a certificate: SHA-256 of its DER bytes, formatted.
 * SHELF_OK or SHELF_ENOMEM. */
int shelf__device_id_of_x509(X509 *x, char out[SHELF_DEVICE_ID_LEN + 1]);

/*
 * Hybrid logical clocks (hlc.c): 48 bits of Unix milliseconds over 16 bits
 * of logical counter.  A clock's state is the last time it gave out.
 */
typedef struct shelf__hlc {
    uint64_t last;
} shelf__hlc;

uint64_t shelf__hlc_pack(uint64_t ms, unsigned logical);
uint64_t shelf__hlc_ms(uint64_t t);
/* The time of a local event: above every time given out before, and at
 * least the wall clock. */
uint64_t shelf__hlc_send(shelf__hlc *c, uint64_t wall_ms);
/* Take in a time another device sent: *out (and the state) is above both
 * it and every local time before.  SHELF_EINVAL, and nothing changes, when
 * remote is more than max_skew_ms ahead of the wall clock (a peer's clock
 * that would drag this one into its future). */
int shelf__hlc_recv(shelf__hlc *c, uint64_t remote, uint64_t wall_ms, uint64_t max_skew_ms,
                    uint64_t *out);

/* SHELF_OK when name is a device name (1 to SHELF_DEVICE_NAME_MAX bytes of
 * UTF-8 without control characters), else SHELF_EINVAL set on lib. */
int shelf__device_name_check(shelf_library *lib, const char *name);

/* This device's identity (made on first use) into *info, its key and
 * certificate into *key and *cert (the caller frees them). */
int shelf__device_keys(shelf_library *lib, EVP_PKEY **key, X509 **cert, shelf_device_info *info);

/* The version vector as the log stands (no drain): fn per device, by id. */
int shelf__vector_each(shelf_library *lib, int (*fn)(void *ud, const char *device, int64_t counter),
                       void *ud);

/* A paired device was reached: last_seen = now; when address is not
 * NULL, address first among its addresses; when library is not NULL nor
 * "", its library id (what its hello said). */
int shelf__device_seen(shelf_library *lib, const char *id, const char *address, const char *library);
/* Unpair id without a trace (no revocation, no key rotation): a pairing
 * an invitation made that the acceptor then refused.  Best effort. */
void shelf__device_forget(shelf_library *lib, const char *id);

/* A record of the change log (doc/formats.md, "Migration 6"). */
typedef struct shelf__change {
    const char *device;
    int64_t counter;
    uint64_t hlc;
    const char *item, *field, *value;   /* value: JSON text */
} shelf__change;

/* What applying records did (merge.c). */
typedef struct shelf__merge_stats {
    int64_t applied;    /* registers won: the catalog follows them */
    int64_t lost;       /* registers lost to a later change (audit log) */
    int64_t skipped;    /* records held already */
} shelf__merge_stats;

/*
 * The registers (state.c): fill lib and st, prepare, then for each record
 * set c (and local: 1 for this device's own, already in the catalog) and
 * put it; finish.  Inside the caller's transaction.
 */
/* Items purged by records of other devices in one batch (purge.c). */
typedef struct shelf__purged {
    int64_t count;
    json_t *blobs;              /* managed copies to release after the commit (a set:
                                   object keys) */
} shelf__purged;

typedef struct shelf__regs {
    shelf_library *lib;
    const shelf__change *c;
    int local;
    shelf__merge_stats *st;
    sqlite3_stmt *get, *put, *fields;
    json_t *obj;                /* the sample of the "." record being put */
    int added;                  /* ... made its catalog row */
    shelf__purged purged;
} shelf__regs;

/* A run of sync (one exchange, one pull) starts: what it removes is
 * counted against shelf_sync_set_max_delete from here (state.c). */
void shelf__sync_run_begin(shelf_library *lib);
/* removed more samples: SHELF_EPERM (message set) once the run's
 * total passes the allowed share. */
int shelf__sync_guard(shelf_library *lib, int64_t removed);

/* ---- purge tombstones (purge.c; doc/sync.md, "Purge") ---- */
/* Whether c is about an item purged here (its item, or for "has:X" X):
 * then its copy in the change log is emptied (field "-") and *gone = 1. */
int shelf__purge_gone(shelf_library *lib, const shelf__change *c, int *gone);
/* c is a tombstone of another device: purge its item here, inside the
 * batch's transaction (rows; blobs into pg for shelf__purge_settle);
 * removed: the sample rows that went (for --max-delete). */
int shelf__purge_received(shelf_library *lib, const shelf__change *c, shelf__purged *pg,
                          int64_t *removed);
/* After the batch's commit: release pg's blobs, scrub the search index and
 * the write-ahead log; pg is emptied. */
int shelf__purge_settle(shelf_library *lib, shelf__purged *pg);

/* ---- what a removal had seen (removal.c) ---- */

/* 1 when v is a removal record's value: null (older ones, and
 * documents'), or {"removed": true, "seen": {device: hlc}}. */
int shelf__is_removal(json_t *v);
/* 1 when the write (hlc, dev) was seen by the removal (rhlc, rdev, its
 * value rv) when its device made it: for the remover's own writes, and
 * for a removal that does not say, by clock. */
int shelf__seen_by(uint64_t hlc, const char *dev, uint64_t rhlc, const char *rdev, json_t *rv);
/* Whether the item of record c was removed here by a removal that had
 * seen c (then c, a document's version that arrives late, stays removed
 * with it), into *saw. */
int shelf__removal_saw(shelf_library *lib, const shelf__change *c, int *saw);

int shelf__regs_prepare(shelf__regs *r);
int shelf__regs_put(shelf__regs *r);
void shelf__regs_finish(shelf__regs *r);

/* Apply records of other devices, in one transaction after draining this
 * device's (self) queue: each device's records in counter order from the
 * one after the highest held (held ones are skipped; a gap is
 * SHELF_EFORMAT), clocks at most a day ahead (else SHELF_EPERM), each
 * register to the later change.  All or nothing; st (may be NULL) says
 * what happened.  tick(ud) (when not NULL) runs before each record: a
 * long batch keeps the other side of a connection told (peer.c's wait
 * frames); not SHELF_OK stops the batch, all of it undone. */
int shelf__merge_apply(shelf_library *lib, const char *self, const shelf__change *recs, size_t n,
                       shelf__merge_stats *st, int (*tick)(void *ud), void *ud);

/*
 * Messages of the sync protocol (wire.c; doc/formats.md, "Sync
 * protocol"): a frame is a 4-byte big-endian length and that many bytes
 * of JSON, at most SHELF__WIRE_MAX.
 */
#define SHELF__WIRE_MAX (16u << 20)
/* The largest sample file sync moves (read whole into memory). */
#define SHELF__BLOB_MAX ((size_t)1 << 31)
/* Records of one "changes" frame are cut at about this many bytes. */
#define SHELF__WIRE_SEGMENT (1u << 20)

typedef struct shelf__wire_vec {
    const char *device;
    int64_t counter;
} shelf__wire_vec;

/* A message read: strings point into root (valid until shelf__wire_free). */
typedef struct shelf__wire_msg {
    json_t *root;
    const char *type;           /* "hello", "changes", "done", "error" */
    int version;                /* hello */
    const char *name;           /* hello: the sender's device name */
    const char *library;        /* hello: its library id (NULL: it does not say) */
    shelf__wire_vec *vec;       /* hello: its version vector */
    size_t nvec;
    shelf__change *recs;        /* changes */
    size_t nrecs;
} shelf__wire_msg;

/* Parse a frame's JSON (n bytes) into *out with its type; then read it as
 * a hello or a changes message.  SHELF_EFORMAT with a one-line message
 * for anything else. */
int shelf__wire_parse(shelf__err *e, const char *text, size_t n, shelf__wire_msg *out);
int shelf__wire_hello(shelf__err *e, shelf__wire_msg *m);
int shelf__wire_changes(shelf__err *e, shelf__wire_msg *m);
void shelf__wire_free(shelf__wire_msg *m);
/* A "want" message (up to SHELF__WANT_MAX hashes of sample files, owned
 * by m) and a "file" message (the hash and size of the bytes that follow
 * it on the stream, at most SHELF__BLOB_MAX). */
#define SHELF__WANT_MAX 4096
int shelf__wire_want(shelf__err *e, shelf__wire_msg *m, json_t **shas, int *files);
int shelf__wire_file(shelf__err *e, shelf__wire_msg *m, const char **sha, size_t *size);
/* Bit 31 of a frame's length: its payload is a zstd frame of the JSON
 * (sent only to a peer whose hello says "zstd": true).  _deflate
 * compresses (SHELF_OK, SHELF_ENOMEM, SHELF_EIO); _inflate reads one back
 * into out (NUL-terminated), at most SHELF__WIRE_MAX bytes, else
 * SHELF_EFORMAT. */
#define SHELF__WIRE_ZSTD 0x80000000u
int shelf__wire_deflate(const char *text, size_t n, shelf__buf *out);
int shelf__wire_inflate(shelf__err *e, const void *frame, size_t n, shelf__buf *out);

/* Records of device (canonical id; NULL: every device, by clock)
 * numbered above after, to fn, as the log stands (no drain). */
int shelf__log_each(shelf_library *lib, const char *device, int64_t after,
                    int (*fn)(void *ud, const shelf_change *c), void *ud);

/* Turn the change queue into records of device self (changelog.c), in
 * one transaction; *logged (may be NULL): how many. */
int shelf__changes_drain(shelf_library *lib, const char *self, int64_t *logged);

/* ---- samples learnt from others, and their bytes (blobs.c) ---- */

/* The catalog row of sample key (its SHA-256) from its "." record o,
 * when the catalog has none: under the sync folder, missing until its
 * bytes are here, and naming its blob when it is managed.  *added (when
 * added is not NULL): 1 when the row was made here, else 0. */
int shelf__sample_row(shelf_library *lib, const char *key, json_t *o, int *added);
/* Append to out up to max hashes of samples whose bytes are wanted here,
 * rows above *cursor by id (advanced): managed copies missing, and rows
 * of the sync folder missing when files is set. */
int shelf__sfile_wants(shelf_library *lib, int files, int64_t *cursor, size_t max, json_t *out);
/* The bytes of sample sha as held here, into out (replaced): its managed
 * copy, or (files set) its file.  SHELF_ENOTFOUND, no message, when this
 * device has none to give.  In two steps, the second on any thread:
 * source names the file (caller's thread), load reads it (e for
 * messages). */
int shelf__sfile_read(shelf_library *lib, const char *sha, int files, shelf__buf *out);
int shelf__sfile_source(shelf_library *lib, const char *sha, int files, char **path);
int shelf__sfile_load(shelf__err *e, const char *path, shelf__buf *out);
/*
 * Keeping sample files that arrive.  On the caller's thread: lookup
 * plans sample sha: the rows that want it (their ids, whether managed,
 * where a referenced one goes).  On any thread: keep checks the bytes against sha
 * (SHELF_ECORRUPT, nothing kept, when they are another's) and writes them
 * (the store for managed rows, without waiting for the disk; the sync
 * folder for its rows), messages to e.  On the caller's thread again:
 * batch_add takes a kept plan's rows, batch_commit syncs the store and
 * marks them as here; was: how the transfer went (what was kept is
 * committed either way, and an error in was is returned with its message).
 */
typedef struct shelf__sfile_row {
    int64_t id, size, mtime;
    int managed;
} shelf__sfile_row;
typedef struct shelf__sfile_plan {
    char sha[SHELF_HASH_HEX];
    shelf__sfile_row *rows;
    char **paths;               /* per row: root, NUL, relative path */
    size_t nrows, cap;
} shelf__sfile_plan;
typedef struct shelf__sfile_batch {
    shelf__sfile_row *rows;
    size_t n, cap;
    int managed;                /* a row of the batch is managed */
} shelf__sfile_batch;
int shelf__sfile_lookup(shelf_library *lib, const char *sha, shelf__sfile_plan *p);
int shelf__sfile_keep(const shelf__store *store, shelf__sfile_plan *p, const void *data,
                      size_t n, shelf__err *e);
int shelf__sfile_batch_add(shelf_library *lib, shelf__sfile_batch *b, const shelf__sfile_plan *p);
int shelf__sfile_batch_commit(shelf_library *lib, shelf__sfile_batch *b, int was);
void shelf__sfile_plan_clear(shelf__sfile_plan *p);
void shelf__sfile_plan_release(shelf__sfile_plan *p);
void shelf__sfile_batch_release(shelf__sfile_batch *b);

/* A stream of them (a peer's): for each file a buffer for its n bytes,
 * filled by the caller, then take, which plans it and keeps it on a pool
 * thread while the caller receives the next.  A failure comes out of the
 * next buffer call or of commit, which waits for every file and commits
 * the batch (was as above). */
typedef struct shelf__sfile_rx shelf__sfile_rx;
int shelf__sfile_rx_new(shelf_library *lib, shelf__sfile_rx **out);
int shelf__sfile_rx_buffer(shelf__sfile_rx *rx, size_t n, void **buf);
int shelf__sfile_rx_take(shelf__sfile_rx *rx, const char *sha, size_t n);
int shelf__sfile_rx_commit(shelf__sfile_rx *rx, int was);
void shelf__sfile_rx_free(shelf__sfile_rx *rx);

/* ---- document histories (docs.c) ---- */

/* 1 when (item, field) is a document version's record ("p:"/"j:", "v:"). */
int shelf__docsync_is_version(const char *item, const char *field);
/* The record of doc_versions row row: field "v:<vid>" and value (both
 * owned: shelf_free, free), or both NULL when the row is gone.  A version
 * whose record would not fit a frame is SHELF_EINVAL. */
int shelf__docsync_value(shelf_library *lib, int64_t row, char **field, char **value);
/* Store a received version when missing (SHELF_EFORMAT, nothing changed,
 * when a parent is missing); the document is settled later. */
int shelf__docsync_put(shelf_library *lib, const shelf__change *c, shelf__merge_stats *st);
/* Merge the heads of the documents versions were stored for (conflicts
 * marked); inside the caller's transaction. */
int shelf__docsync_settle(shelf_library *lib);

/* ---- the library key (libkey.c) ---- */

#define SHELF__LIBKEY_LEN 32

/* Generation gen of the library key into key, its number into *gen_out;
 * gen 0: the newest, made (generation 1) when the library has none.
 * SHELF_ENOTFOUND (with a message) when gen is not held here. */
int shelf__libkey(shelf_library *lib, int64_t gen, int64_t *gen_out,
                  unsigned char key[SHELF__LIBKEY_LEN]);
/* Keep generation gen received from a paired device; SHELF_OK when held
 * already with the same bytes, SHELF_EPERM when held with others. */
int shelf__libkey_put(shelf_library *lib, int64_t gen, const unsigned char key[SHELF__LIBKEY_LEN]);
/* Whether generation gen is held here, into *held. */
int shelf__libkey_held(shelf_library *lib, int64_t gen, int *held);
/* Make a new generation (after a revoke); its number into *gen_out. */
int shelf__libkey_rotate(shelf_library *lib, int64_t *gen_out);

/* ---- hub segments (seal.c; doc/formats.md, "Hub segment") ---- */

/* A segment's JSON is cut at about this many bytes when written, and
 * refused above SHELF__SEG_PLAIN_MAX when read. */
#define SHELF__SEG_PLAIN (1u << 20)
#define SHELF__SEG_PLAIN_MAX (64u << 20)

/* Seal plain[0..n) as hub object name: compressed, encrypted with key
 * (generation gen), signed by signer; into out (replaced). */
int shelf__seg_seal(shelf__err *e, const char *name, int64_t gen,
                    const unsigned char key[SHELF__LIBKEY_LEN], EVP_PKEY *signer, const void *plain,
                    size_t n, shelf__buf *out);
/* The library key generation a segment names (to find its key). */
int shelf__seg_gen(shelf__err *e, const char *name, const unsigned char *data, size_t n,
                   int64_t *gen);
/* Check a segment's signature (signer's, over name too), decrypt with key
 * and decompress into plain (NUL-terminated).  SHELF_ECORRUPT when it was
 * changed, moved or cut; SHELF_EFORMAT when it is not a segment. */
int shelf__seg_open(shelf__err *e, const char *name, const unsigned char *data, size_t n,
                    EVP_PKEY *signer, const unsigned char key[SHELF__LIBKEY_LEN], shelf__buf *plain);
/* A segment's plaintext read as the records first..last of device (its
 * name says so), each in its run: into *m (free with shelf__wire_free; on
 * failure freed already).  SHELF_ECORRUPT when it holds anything else. */
int shelf__seg_records(shelf__err *e, const char *name, const char *device, int64_t first,
                       int64_t last, const char *plain, size_t n, shelf__wire_msg *m);
/* The public key of device's certificate (PEM) as found on a hub, after
 * checking the certificate is that device's (its hash is the id). */
int shelf__seg_signer(shelf__err *e, const char *device, const char *pem, size_t n, EVP_PKEY **out);

/* A small hub object signed like a segment but not sealed (seal.c):
 * data || Ed25519 signature over name, NUL, data.  _check verifies it
 * against signer and sets *len to the data's length. */
int shelf__obj_sign(shelf__err *e, const char *name, EVP_PKEY *signer, const void *data, size_t n,
                    shelf__buf *out);
int shelf__obj_check(shelf__err *e, const char *name, const unsigned char *obj, size_t n,
                     EVP_PKEY *signer, size_t *len);

/* A sample file on a hub (seal.c; doc/formats.md, "Hub file"): its
 * object's name, keyed with generation 1 of the library key so the hub
 * cannot tell which known files a library holds; the object sealed with
 * generation gen; the generation an object names; and opening one
 * (SHELF_ECORRUPT when changed or sealed with another key, SHELF_EFORMAT
 * when it is not one).  What it opens to is checked against the hash by
 * whoever keeps it (blobs.c). */
#define SHELF__HUBFILE_NAME 80
void shelf__hubfile_name(const unsigned char key1[SHELF__LIBKEY_LEN], const char *sha,
                         char out[SHELF__HUBFILE_NAME]);
int shelf__hubfile_seal(shelf__err *e, int64_t gen, const unsigned char key[SHELF__LIBKEY_LEN],
                        const void *data, size_t n, shelf__buf *out);
int shelf__hubfile_gen(shelf__err *e, const char *name, const unsigned char *data, size_t n,
                       int64_t *gen);
int shelf__hubfile_open(shelf__err *e, const char *name, const unsigned char *data, size_t n,
                        const unsigned char key[SHELF__LIBKEY_LEN], shelf__buf *plain);

/* ---- wrapping the library key for one device (kx.c) ---- */

#define SHELF__KX_LEN 32

/* This device's X25519 key, derived from its Ed25519 key (HKDF-SHA256),
 * so it needs no file of its own; its public half into pub. */
int shelf__kx_key(shelf__err *e, EVP_PKEY *ed, EVP_PKEY **out, unsigned char pub[SHELF__KX_LEN]);
/* The hub object "devices/<id>/kx.pub" (data to sign) of a public key,
 * and reading one back (after shelf__obj_check). */
void shelf__kx_pub_object(const unsigned char pub[SHELF__KX_LEN], unsigned char out[8 + SHELF__KX_LEN]);
int shelf__kx_pub_parse(shelf__err *e, const char *name, const unsigned char *data, size_t n,
                        unsigned char pub[SHELF__KX_LEN]);
/* Wrap generation gen of the library key from device from (key mine) for
 * device to (public key theirs), into out (the data of
 * "devices/<from>/keys/<gen>-<to>.key", to sign); and unwrap one. */
int shelf__kx_wrap(shelf__err *e, EVP_PKEY *mine, const unsigned char theirs[SHELF__KX_LEN],
                   const char *from, const char *to, int64_t gen,
                   const unsigned char key[SHELF__LIBKEY_LEN], shelf__buf *out);
int shelf__kx_unwrap(shelf__err *e, const char *name, EVP_PKEY *mine,
                     const unsigned char theirs[SHELF__KX_LEN], const char *from, const char *to,
                     int64_t gen, const unsigned char *data, size_t n,
                     unsigned char key[SHELF__LIBKEY_LEN]);

/* An announcement datagram (discover.c) into *out (address left empty):
 * SHELF_OK, SHELF_EFORMAT when it is not one, SHELF_ENOMEM. */
int shelf__disc_parse(const void *data, size_t n, shelf_announce *out);
/* ---- invitations (invite.c; doc/formats.md "Invitation") ---- */

#define SHELF__INVITE_SECRET 20
#define SHELF__INVITE_ADDRS 8

/* An invitation read from its text. */
typedef struct shelf__invite {
    char id[SHELF_DEVICE_ID_LEN + 1];                 /* canonical */
    unsigned char secret[SHELF__INVITE_SECRET];
    int64_t expires;
    char addrs[SHELF__INVITE_ADDRS][256];
    size_t naddrs;
    char name[SHELF_DEVICE_NAME_MAX + 1];             /* the inviter's */
} shelf__invite;

/* Read an invitation's text (surrounding white space allowed) into *out.
 * SHELF_EFORMAT with a one-line message on e for anything else. */
int shelf__invite_parse(shelf__err *e, const char *text, shelf__invite *out);

/* The proof of an invitation's secret: HMAC-SHA256 keyed with SHA-256 of
 * the secret over the acceptor's id then the inviter's, as hex. */
void shelf__invite_proof(const unsigned char secret_hash[32], const char *acceptor,
                         const char *inviter, char out[65]);

/* The listener's side: proof (hex) from acceptor matches an unused,
 * unexpired invitation → it is marked used and acceptor paired (under
 * the invitation's name, else name).  SHELF_EPERM with a message else,
 * nothing changed. */
int shelf__invite_redeem(shelf_library *lib, const char *acceptor, const char *self,
                         const char *proof, const char *name);

/* Every library key generation as JSON [[gen, "hex"], ...] above after
 * (made, generation 1, when there is none and make is set). */
int shelf__keys_json(shelf_library *lib, int64_t after, int make, json_t **out);
/* SHELF_OK when keys is such an array (at most 100000 entries, each a
 * generation >= 1 and 64 lowercase hex digits), else SHELF_EFORMAT. */
int shelf__wire_keys(shelf__err *e, const json_t *keys);
/* Keep the generations of such an array (wire input: checked here);
 * replace: a different key held here is dropped rather than refused. */
int shelf__keys_store(shelf_library *lib, const json_t *keys, int replace);

#endif /* SHELF_SYNC_INT_H */
