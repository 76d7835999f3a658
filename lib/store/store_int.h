/*
 * store_int.h: the content-addressed blob store.  A blob is a write-once
 * file named by the SHA-256 of its bytes, sharded two levels deep:
 * objects/ab/cd/abcd...  (see doc/formats.md).
 */
#ifndef SHELF_STORE_INT_H
#define SHELF_STORE_INT_H

#include "../common/common_int.h"

typedef struct shelf__store {
    char *dir;             /* the objects/ folder, absolute */
    shelf__err *err;       /* where messages go (the owning handle's) */
} shelf__store;

/* Prefix of temp files; gc removes files that start with it. */
#define SHELF__STORE_TMP ".tmp-"

int shelf__store_init(shelf__store *st, const char *dir, shelf__err *err);
void shelf__store_release(shelf__store *st);

/* The path of blob hex (owned), whether or not it exists. */
char *shelf__store_path(const shelf__store *st, const char *hex);

/*
 * The layout, for those that name blobs inside a library folder (backup
 * trees, archives): the path of blob hex relative to the library,
 * "objects/ab/cd/abcd...", into out; and whether rel is such a path (a
 * blob of 64 lowercase hex digits in its own shard).
 */
#define SHELF__STORE_REL_MAX 80
void shelf__store_relpath(const char *hex, char out[SHELF__STORE_REL_MAX]);
int shelf__store_relpath_ok(const char *rel);

/* 1 when the blob exists, 0 when not. */
int shelf__store_has(const shelf__store *st, const char *hex);

/*
 * Store n bytes; hex receives their hash.  A blob that exists is checked
 * (re-hashed): a good one is not written again, a damaged one is replaced.  Durable when it returns: temp file in the target folder,
 * fallocate, write, fsync, rename, fsync of the folder.
 */
int shelf__store_put_mem(shelf__store *st, const void *data, size_t n,
                         char hex[SHELF_HASH_HEX]);

/*
 * The same for bytes the caller has hashed to hex (and checked).  lazy:
 * written and renamed into place without waiting for the disk, for many
 * blobs in a row; they are durable once shelf__store_sync returns (until
 * then a crash may leave one short, which a later put or check finds).
 */
int shelf__store_put_hashed(shelf__store *st, const char *hex, const void *data, size_t n,
                            int lazy);
/* Wait until every blob written so far is on disk (syncfs). */
int shelf__store_sync(shelf__store *st);

/*
 * Copy the file at path into the store as blob hex, which the caller has
 * computed.  The bytes are hashed again while they are copied; when they no
 * longer match hex (the file changed), nothing is stored and the result is
 * SHELF_ECORRUPT.  An existing blob hex is kept when good, replaced when
 * damaged, as with shelf__store_put_mem.
 */
int shelf__store_put_file(shelf__store *st, const char *path, const char *hex);

/*
 * Re-hash blob hex.  Returns SHELF_OK when it matches, SHELF_ECORRUPT when
 * not, SHELF_ENOTFOUND when absent, another code on I/O failure.
 */
int shelf__store_check(shelf__store *st, const char *hex, uint64_t *size);

/* Delete blob hex (absent is not an error). */
int shelf__store_remove(shelf__store *st, const char *hex);

/*
 * Visit every file in the store.  hex is NULL for files that are not blobs
 * (temp files, strays); path is absolute.  A non-zero return from cb stops
 * the walk and is returned.
 */
typedef int (*shelf__store_walk_cb)(void *ud, const char *hex, const char *path,
                                    uint64_t size);
int shelf__store_walk(shelf__store *st, shelf__store_walk_cb cb, void *ud);

#endif /* SHELF_STORE_INT_H */
