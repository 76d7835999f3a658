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

/* A paired device was reached: last_seen = now and, when address is not
 * NULL, address first among its addresses. */
int shelf__device_seen(shelf_library *lib, const char *id, const char *address);

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
typedef struct shelf__regs {
    shelf_library *lib;
    const shelf__change *c;
    int local;
    shelf__merge_stats *st;
    sqlite3_stmt *get, *put, *newest;
} shelf__regs;

int shelf__regs_prepare(shelf__regs *r);
int shelf__regs_put(shelf__regs *r);
void shelf__regs_finish(shelf__regs *r);

/* Apply records of other devices, in one transaction after draining this
 * device's (self) queue: each device's records in counter order from the
 * one after the highest held (held ones are skipped; a gap is
 * SHELF_EFORMAT), clocks at most a day ahead (else SHELF_EPERM), each
 * register to the later change.  All or nothing; st (may be NULL) says
 * what happened. */
int shelf__merge_apply(shelf_library *lib, const char *self, const shelf__change *recs, size_t n,
                       shelf__merge_stats *st);

/*
 * Messages of the sync protocol (wire.c; doc/formats.md, "Sync
 * protocol"): a frame is a 4-byte big-endian length and that many bytes
 * of JSON, at most SHELF__WIRE_MAX.
 */
#define SHELF__WIRE_MAX (2u << 20)
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

/* Records of device (canonical id; NULL: every device, by clock)
 * numbered above after, to fn, as the log stands (no drain). */
int shelf__log_each(shelf_library *lib, const char *device, int64_t after,
                    int (*fn)(void *ud, const shelf_change *c), void *ud);

/* Turn the change queue into records of device self (changelog.c), in
 * one transaction; *logged (may be NULL): how many. */
int shelf__changes_drain(shelf_library *lib, const char *self, int64_t *logged);

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
/* Make a new generation (after a revoke); its number into *gen_out. */
int shelf__libkey_rotate(shelf_library *lib, int64_t *gen_out);

#endif /* SHELF_SYNC_INT_H */
