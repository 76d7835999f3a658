/*
 * backup_int.h: backup repositories (doc/formats.md, "Backup repository"):
 * the repository handle, encryption and key files (crypt.c), content-defined
 * chunking (chunker.c), packs, index files and the local index cache
 * (repo.c), snapshots and trees (snapshot.c), restore (restore.c), check,
 * forget and prune (check.c).
 */
#ifndef SHELF_BACKUP_INT_H
#define SHELF_BACKUP_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <sqlite3.h>
#include <jansson.h>
#include "../common/common_int.h"
#include "../remote/remote_int.h"
#include "shelf/backup.h"

#define SHELF__RUN_BYTES 16
/* Parallel transfers of shelf_repo_opts.connections. */
#define SHELF__DEFAULT_CONNECTIONS 4
#define SHELF__MAX_CONNECTIONS 32

/* Chunking: min 512 KiB, normal point 1 MiB, max 8 MiB (doc/formats.md). */
#define SHELF__CHUNK_MIN (512u * 1024)
#define SHELF__CHUNK_AVG (1024u * 1024)
#define SHELF__CHUNK_MAX (8u * 1024 * 1024)
/* A pack is closed once it holds this much. */
#define SHELF__PACK_TARGET (16u * 1024 * 1024)
/* An index file is closed once it lists this many blobs (~8 MiB). */
#define SHELF__INDEX_MAX_BLOBS 180000

/* Blob types and flags (the type byte of pack headers and index entries). */
enum { SHELF__BLOB_DATA = 1, SHELF__BLOB_TREE = 2, SHELF__BLOB_ZSTD = 0x80 };

/* Room for a repository file name: "data/ab/<64 hex>", "index/<64 hex>",
 * "snapshots/<64 hex>", with its NUL. */
#define SHELF__NAME_MAX 80
/* Room for a config or key file name or its copy ("keys-copy/<id>"). */
#define SHELF__COPY_NAME_MAX 64

/* Pack header entry and index entry sizes in bytes. */
#define SHELF__PACK_ENTRY 41
#define SHELF__INDEX_ENTRY 45

/* Where one blob is. */
typedef struct shelf__blobloc {
    uint8_t pack[SHELF_HASH_BYTES];
    uint8_t run[SHELF__RUN_BYTES];
    uint32_t off, len, raw;
    int flags;
} shelf__blobloc;

/* One blob of an open pack. */
typedef struct shelf__packent {
    uint8_t id[SHELF_HASH_BYTES];
    uint32_t off, len, raw;
    int flags;
} shelf__packent;

struct shelf_repo {
    shelf__backend *be;
    shelf__err err;
    int encrypted;
    uint8_t master[SHELF__KEY_BYTES];
    uint8_t chunk_key[SHELF__KEY_BYTES];
    uint64_t gear[256];
    char id[33];                 /* repository id (hex) */
    char key_id[17];             /* the key file that opened it ("" without encryption) */
    int format;                  /* "shelf_backup" of config: 2 keeps copies of config and keys */
    int zstd_level;
    /* local index cache */
    sqlite3 *cache;
    char *cache_path;
    int cache_temp;              /* remove the cache file on close */
    sqlite3_stmt *st_find, *st_add;
    int in_txn;                  /* a cache transaction is open (the open pack) */
    /* the open pack */
    shelf__buf pack;
    shelf__packent *ents;
    size_t nents, capents;
    uint8_t run[SHELF__RUN_BYTES];   /* run of the backup in progress */
    int in_run;
    int reindex_same;            /* pack_flush: a pack the cache has already (the same bytes: a
                                    plain repository) is marked unindexed, so the next index
                                    file lists it (prune: a pack it writes may be one it removes) */
    /* the lock lease */
    char *lock_name;
    int64_t lock_expires;
    int lock_exclusive;
    int lease_seconds;
    int connections;             /* backend handles for parallel transfers (shelf_repo_opts) */
    int others_live;             /* live locks of other runs when ours was taken */
    json_t *snaps_damaged;       /* ids of snapshot files the last shelf__snap_all could not read */
    int index_damaged;           /* index files the last sync could not read */
    char index_damaged_name[80]; /* one of them */
    char warn[512];              /* shelf_repo_warning */
    void *zc, *zd;               /* ZSTD_CCtx, ZSTD_DCtx */
    struct shelf__pipe *pipe;    /* compress+seal workers during a backup, or NULL */
    shelf__backend *conns[SHELF__MAX_CONNECTIONS]; /* the pipe's extra handles (dup); [0] unused */
    int nconns;
    int conns_used;              /* connections the last pipe saved packs on (tests) */
    int read_conns;              /* handles the last restore or check read packs on (tests) */
    int read_peak;               /* the most pack reads it had in flight at once (tests) */
    uint64_t stored_bytes;       /* sealed bytes added to packs since open */
    void *cipher;                /* EVP_CIPHER_CTX */
    shelf__buf tmp;
};

/* ---- crypt.c ---- */
/* Append nonce || AES-256-GCM(in) || tag to out. */
int shelf__seal(shelf_repo *r, const void *in, size_t n, shelf__buf *out);
/* Same with another EVP_CIPHER_CTX (worker threads); errors into err. */
int shelf__seal_with(shelf_repo *r, void *ctx, const void *in, size_t n, shelf__buf *out,
                     shelf__err *err);
/* Decrypt and authenticate into out (replaced); SHELF_ECORRUPT when the data
 * was changed (or the key is wrong). */
int shelf__open_sealed(shelf_repo *r, const void *in, size_t n, shelf__buf *out);
int shelf__open_sealed_with(shelf_repo *r, void *ctx, const void *in, size_t n, shelf__buf *out);
/* With a given key (key files): shelf__aead_seal/_open of common_int.h. */
/* Write a key file wrapping r's secrets with password; id receives its id. */
int shelf__key_write(shelf_repo *r, const char *password, int log2n, char id[17]);
/* Parse key file text and unwrap it with password into master || chunk key.
 * SHELF_EAUTH for a wrong password, SHELF_EFORMAT for a broken file. */
int shelf__key_unwrap(const char *text, size_t n, const char *password,
                      uint8_t secret[2 * SHELF__KEY_BYTES], shelf__err *err);

/* Format 2 keeps a copy of config (config-copy) and of each key file
 * (keys-copy/<id>).  Load name, or its copy when name is missing or
 * damaged, into *out (the checked JSON, owned); *used_copy tells which.
 * SHELF_OK; SHELF_ENOMEM (r's message set); SHELF_ECORRUPT when neither
 * reads (no message: the caller says what it wanted). */
int shelf__load_checked_or_copy(shelf_repo *r, const char *name, json_t **out, int *used_copy);
/* Write config and key files again from a good copy (format 2); n counts
 * the files written. */
int shelf__repair_copies(shelf_repo *r, uint64_t *n);
/* "config-copy" for "config", "keys-copy/<id>" for "keys/<id>". */
void shelf__copy_name(const char *name, char out[SHELF__COPY_NAME_MAX]);

/* Plain JSON files (config, key files) carry a checksum and must be in
 * shelf's exact form, so any changed byte is found.  dump: owned text
 * (free()); parse: SHELF_OK with *out (owned), SHELF_ECORRUPT when damaged
 * or SHELF_ENOMEM (no message: the caller names the file); load: the same,
 * NULL for either failure (check, which reports the file either way). */
char *shelf__json_checked_dump(json_t *o);
int shelf__json_checked_parse(const char *text, size_t n, json_t **out);
json_t *shelf__json_checked_load(const char *text, size_t n);

/* ---- check.c ---- */
/* shelf_repo_check reading slice (0..nslices-1) of nslices of the packs
 * whole: those whose id's first two bytes b give b * nslices / 65536 ==
 * slice, so nslices calls with slice 0..nslices-1 read every pack
 * (scheduled checks: doc/service.md).  SHELF_EINVAL for a bad slice. */
int shelf__repo_check_slice(shelf_repo *r, unsigned slice, unsigned nslices, shelf_check_cb cb,
                            void *ud, shelf_check_stats *st);
#define SHELF__PRUNE_EVERY_UNUSED 0x1  /* rewrite every pack holding an unused blob (purge) */
#define SHELF__PRUNE_LOCKED 0x2        /* the caller holds the exclusive lock */
/* shelf_repo_prune with flags (SHELF__PRUNE_). */
int shelf__repo_prune(shelf_repo *r, int dry_run, unsigned flags, shelf_prune_stats *st);

/* ---- chunker.c ---- */
void shelf__gear_init(uint64_t gear[256], const uint8_t key[SHELF__KEY_BYTES]);
/* Length of the next chunk of p[0..n) (n: what is left, or at least
 * SHELF__CHUNK_MAX when more follows).  Never 0 for n > 0. */
size_t shelf__chunk_cut(const uint64_t gear[256], const uint8_t *p, size_t n);

/* ---- repo.c ---- */
/* Open over a backend (taken, closed on failure too). */
int shelf__repo_open_be(shelf__backend *be, const shelf_repo_opts *o, shelf_repo **out,
                        char **errmsg);
int shelf__repo_init_be(shelf__backend *be, const shelf_repo_opts *o, char **errmsg);
/* Lock leases: locks/<random>; exclusive fails with SHELF_EBUSY when any
 * live lock exists, shared when a live exclusive one does. */
int shelf__repo_lock(shelf_repo *r, int exclusive);
int shelf__repo_lock_refresh(shelf_repo *r);
/* A shared lock for readers (restore, check); none on a read-only medium. */
int shelf__repo_lock_read(shelf_repo *r);
void shelf__repo_unlock(shelf_repo *r);
/* Remove what killed runs left: temp files in the repository (when no
 * other run holds a lock) and stale catalog copies in the cache folder. */
void shelf__repo_sweep(shelf_repo *r);
/* The index cache's errors: "backup index cache: WHAT: <file and cause>"
 * (shelf__seterr_sqlite); exec runs sql, step one statement (ROW or DONE
 * is success).  The SHELF_E code. */
int shelf__cache_err(shelf_repo *r, const char *what);
int shelf__cache_exec(shelf_repo *r, const char *sql);
int shelf__cache_step(shelf_repo *r, sqlite3_stmt *st, const char *what);
/* Bring the local index cache up to date with the repository's index files. */
int shelf__index_sync(shelf_repo *r);
/* Index the packs no readable index file lists from their own headers,
 * in the cache only (rows marked idx '*headers*', dropped again by
 * shelf__index_drop_headers and by the next sync): what a restore does
 * when an index file is damaged.  npacks: how many were read. */
int shelf__index_from_headers(shelf_repo *r, uint64_t *npacks);
int shelf__index_drop_headers(shelf_repo *r);
/* Find blob id (with the run restriction of the backup in progress: runs
 * NULL for any); SHELF_ENOTFOUND when absent. */
int shelf__index_find(shelf_repo *r, const uint8_t id[SHELF_HASH_BYTES],
                      const uint8_t (*runs)[SHELF__RUN_BYTES], size_t nruns,
                      shelf__blobloc *loc);
/* Add a blob to the open pack (its id computed by the caller). */
int shelf__pack_add(shelf_repo *r, const uint8_t id[SHELF_HASH_BYTES], int type,
                    const void *data, size_t n, int compress, uint64_t *stored);
/* Add a blob a worker compressed (flags) and sealed. */
int shelf__pack_add_sealed(shelf_repo *r, const uint8_t id[SHELF_HASH_BYTES], int flags,
                           const void *sealed, size_t len, size_t raw);
/* Write the open pack to the repository and record it in the cache. */
int shelf__pack_flush(shelf_repo *r);
/* Write one index file for every pack of the cache not yet in one (this
 * run's packs and those an interrupted run left). */
int shelf__index_write(shelf_repo *r);
/* Up to want other handles on r's backend (dup), one for each reader
 * thread, into out: how many were opened (0 when the backend offers none).
 * Close them with shelf__repo_dups_close. */
int shelf__repo_dups(shelf_repo *r, shelf__backend **out, int want);
void shelf__repo_dups_close(shelf__backend **be, int n);
/* Backend handles for reader threads (restore, check --read-data): one per
 * worker up to the repository's connections, each its own dup; a worker
 * uses be[worker % n] under that handle's lock.  n is 0 when the backend
 * offers no dup (the caller then loads on its own thread).  The most loads
 * in flight at once go to r->read_peak at close (tests). */
typedef struct shelf__readers {
    shelf__backend *be[SHELF__MAX_CONNECTIONS];
    pthread_mutex_t mu[SHELF__MAX_CONNECTIONS];
    int n;
    atomic_int inflight, peak;
} shelf__readers;
void shelf__readers_open(shelf_repo *r, shelf__readers *rd, int workers);
/* Load (as shelf__be_load) on worker's handle (a pool thread); on failure
 * the backend's message goes to err. */
int shelf__readers_load(shelf__readers *rd, int worker, const char *name, uint64_t off,
                        uint64_t len, shelf__buf *out, char *err, size_t errsize);
void shelf__readers_close(shelf_repo *r, shelf__readers *rd);
/* Read blob id: load, decrypt, decompress, check its hash. */
int shelf__blob_read(shelf_repo *r, const uint8_t id[SHELF_HASH_BYTES], shelf__buf *out);
/* Parse a pack header / index file (decrypted); for the fuzzer and check. */
typedef int (*shelf__index_cb)(void *ud, const uint8_t pack[SHELF_HASH_BYTES],
                               const uint8_t run[SHELF__RUN_BYTES], const shelf__packent *e);
int shelf__index_parse(const uint8_t *p, size_t n, shelf__index_cb cb, void *ud);
int shelf__pack_header_parse(const uint8_t *p, size_t n, uint64_t pack_size,
                             shelf__packent **ents, size_t *nents);
/* Read and decrypt a pack's header from the repository. */
int shelf__pack_read_header(shelf_repo *r, const char *name, uint64_t size,
                            shelf__packent **ents, size_t *nents);
/* The same from a whole pack in memory (p, n), decrypting with cipher (an
 * EVP_CIPHER_CTX of the calling thread): any thread.  SHELF_ECORRUPT when
 * it is damaged. */
int shelf__pack_header_of(shelf_repo *r, void *cipher, const uint8_t *p, size_t n,
                          shelf__packent **ents, size_t *nents);
/* "data/ab/<hex>" for a pack id. */
void shelf__pack_name(const uint8_t id[SHELF_HASH_BYTES], char name[SHELF__NAME_MAX]);

/* ---- pipe.c: hash, compress and seal chunks on worker threads ---- */
/* Called on the calling thread for each chunk in the order queued, with
 * its id: set *keep to store it (it is new), leave 0 to drop it. */
typedef int (*shelf__pipe_cb)(void *ud, void *tag, const uint8_t id[SHELF_HASH_BYTES], size_t n,
                              int *keep);
/* Where the pipe's results go; it knows nothing else of its owner. */
typedef struct shelf__pipe_sink {
    shelf__pipe_cb want;        /* calling thread, in queue order, with ud */
    void *ud;
    /* calling thread, in queue order, for each kept chunk (owner) */
    int (*store)(void *owner, const uint8_t id[SHELF_HASH_BYTES], int flags, const void *sealed,
                 size_t len, size_t raw);
    /* a pool thread: seal in with this worker's EVP_CIPHER_CTX */
    int (*seal)(void *owner, void *cipher, const void *in, size_t n, shelf__buf *out,
                shelf__err *err);
    /* a pool thread: save a finished pack as name on connection conn
     * (0..connections-1; one save per connection at a time, conn 0 under
     * the sink lock); failures into err */
    int (*save)(void *owner, int conn, const char *name, const void *data, size_t n,
                shelf__err *err);
    int connections;            /* packs saved at once; 0: 1 */
    void *owner;
    shelf__err *err;            /* the pipe's own failures */
    int zstd_level;
} shelf__pipe_sink;
struct shelf__pipe;
int shelf__pipe_new(const shelf__pipe_sink *sink, struct shelf__pipe **out);
/* Queue a chunk (copied); tag is passed back to want. */
int shelf__pipe_queue(struct shelf__pipe *p, void *tag, int type, const void *data, size_t n,
                      int compress);
/* Hand a finished pack over to be saved as name; *pack is then an empty
 * buffer.  A failed save shows at the next call. */
int shelf__pipe_hand_pack(struct shelf__pipe *p, const char *name, shelf__buf *pack);
/* Take (1) or release (0) the lock the sink's save runs under (NULL: none). */
void shelf__pipe_lock_sink(struct shelf__pipe *p, int lock);
/* Wait for every queued chunk and the pack being saved. */
int shelf__pipe_finish(struct shelf__pipe *p);
/* Stop (queued chunks are dropped) and free; NULL is fine. */
void shelf__pipe_free(struct shelf__pipe *p);

/* The backup's pipe over r (repo.c: r's sink). */
int shelf__pipe_start(shelf_repo *r, shelf__pipe_cb cb, void *ud);
/* Queue a chunk (copied); tag is passed back to cb. */
int shelf__pipe_submit(shelf_repo *r, void *tag, int type, const void *data, size_t n,
                       int compress);
/* Take (1) or release (0) the backend while the writer may use it. */
void shelf__pipe_be_lock(shelf_repo *r, int lock);
/* Wait for every queued chunk and the pack writer. */
int shelf__pipe_drain(shelf_repo *r);
/* Stop the workers (queued chunks are dropped).  NULL pipe is fine. */
void shelf__pipe_stop(shelf_repo *r);

/* ---- snapshot.c ---- */
/* Load snapshot id (full hex id) as JSON (owned). */
int shelf__snap_load(shelf_repo *r, const char *id, json_t **out);
/* Load a snapshot's tree (owned): {"items": [...]}. */
int shelf__tree_load(shelf_repo *r, json_t *snap, json_t **out);
/* Check snapshot JSON from outside for the shape readers rely on:
 * SHELF_OK, SHELF_EFORMAT, or (tree) SHELF_ENOMEM. */
int shelf__snap_check(json_t *snap, shelf__err *err);
int shelf__tree_check(json_t *tree, shelf__err *err);
/* Every snapshot as JSON, sorted by time (owned array, each with "id");
 * the ids of those that cannot be read go to r->snaps_damaged. */
int shelf__snap_all(shelf_repo *r, json_t **out);
/* The backup run a snapshot (JSON) is, or is a copy of: "origin_run", else
 * "run" ("" when neither). */
const char *shelf__snap_origin(json_t *snap);
/* Workers of a reading pool (restore, check --read-data): one per CPU (at
 * most 4) for decrypting and hashing, and at least one per connection. */
int shelf__repo_read_workers(const shelf_repo *r);

#endif /* SHELF_BACKUP_INT_H */
