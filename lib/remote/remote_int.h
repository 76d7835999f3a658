/*
 * remote_int.h: the storage backend interface of backup repositories (and,
 * later, sync): a flat namespace of write-once files named by '/'-separated
 * paths ("data/ab/abcd...", "index/...").  Implementations: dir (a folder on
 * a USB stick, SD card or NAS mount), mem (tests); wrappers: fault (tests).
 * Cloud backends (S3, WebDAV) plug into the same table later.
 *
 * Semantics every backend keeps (tests/unit/test_remote.c checks them all):
 *  - save is create-only and atomic: the file appears whole or not at all;
 *    an existing name fails with SHELF_EEXIST and is left unchanged.
 *  - load reads len bytes from off (len 0: to the end) into out, replacing
 *    its contents; SHELF_ENOTFOUND when absent, SHELF_EIO on a short read.
 *  - list visits every file under a folder name (recursively), in no
 *    particular order, never temp files of unfinished saves.
 *  - remove of an absent name is SHELF_ENOTFOUND.
 * Errors set be->err; its rc tells whether a retry can help (SHELF_EBUSY,
 * SHELF_EIO may pass; SHELF_ENOTFOUND, SHELF_EEXIST, SHELF_EPERM will not).
 * A backend is used by one thread at a time.
 */
#ifndef SHELF_REMOTE_INT_H
#define SHELF_REMOTE_INT_H

#include "../common/common_int.h"

typedef struct shelf__backend shelf__backend;

/* Called with each name (borrowed for the call) and its size; non-zero stops
 * the listing and is returned by list. */
typedef int (*shelf__be_list_cb)(void *ud, const char *name, uint64_t size);

typedef struct shelf__backend_ops {
    const char *kind;   /* "dir", "mem", "fault" */
    int (*save)(shelf__backend *be, const char *name, const void *data, size_t n);
    int (*load)(shelf__backend *be, const char *name, uint64_t off, uint64_t len,
                shelf__buf *out);
    int (*stat)(shelf__backend *be, const char *name, uint64_t *size);
    int (*list)(shelf__backend *be, const char *dir, shelf__be_list_cb cb, void *ud);
    int (*remove)(shelf__backend *be, const char *name);
    void (*close)(shelf__backend *be);
    /* Remove temp files of saves that never finished (a killed run's);
     * NULL when the backend leaves none.  Only while no other process can
     * be saving.  Returns how many it removed. */
    uint64_t (*sweep)(shelf__backend *be);
} shelf__backend_ops;

struct shelf__backend {
    const shelf__backend_ops *ops;
    shelf__err err;
    char *location;     /* for messages: the folder, "mem", ... (owned) */
};

/* Thin calls through the table. */
int shelf__be_save(shelf__backend *be, const char *name, const void *data, size_t n);
int shelf__be_load(shelf__backend *be, const char *name, uint64_t off, uint64_t len,
                   shelf__buf *out);
int shelf__be_stat(shelf__backend *be, const char *name, uint64_t *size);
int shelf__be_list(shelf__backend *be, const char *dir, shelf__be_list_cb cb, void *ud);
int shelf__be_remove(shelf__backend *be, const char *name);
void shelf__be_close(shelf__backend *be);
uint64_t shelf__be_sweep(shelf__backend *be);

/* A name is safe when it is relative, has no empty, "." or ".." part and
 * only [A-Za-z0-9._-] and '/'.  Backends refuse others with SHELF_EINVAL. */
int shelf__be_name_ok(const char *name);

/*
 * The folder backend.  create: make the folder (and parents) when absent;
 * otherwise it must exist.  Saves write a temp file ".tmp-*" beside the
 * target, fsync it, rename it into place without replacing
 * (RENAME_NOREPLACE) and fsync the folder.
 */
int shelf__be_dir_open(const char *path, int create, shelf__backend **out, shelf__err *err);

/* The in-memory backend (tests). */
int shelf__be_mem_new(shelf__backend **out);

/*
 * Fault injection around another backend (which it owns and closes).  The
 * settings are read on every call, so a test may change them between
 * calls.  Counting starts at 1: fail_at = 3 fails the third counted op.
 */
enum {
    SHELF__FOP_SAVE = 1, SHELF__FOP_LOAD = 2, SHELF__FOP_STAT = 4,
    SHELF__FOP_LIST = 8, SHELF__FOP_REMOVE = 16, SHELF__FOP_ALL = 31
};
typedef struct shelf__be_fault_cfg {
    unsigned ops;         /* which ops count toward fail_at (SHELF__FOP_) */
    long fail_at;         /* 0: never; else the Nth counted op fails ... */
    int fail_rc;          /* ... with this code (default SHELF_EIO) */
    int dead_after;       /* once failed, every later op fails too (pulled stick) */
    uint64_t space;       /* 0: unlimited; else saves fail with ENOSPC past it */
    int flip_load;        /* flip one bit (flip_bit) in every load's data */
    uint64_t flip_bit;
    int drop_saves;       /* saves report success but store nothing */
    long count;           /* OUT: counted ops so far */
    uint64_t saved;       /* OUT: bytes saved so far */
    int failed;           /* OUT: a fault has fired */
} shelf__be_fault_cfg;
int shelf__be_fault_new(shelf__backend *inner, shelf__be_fault_cfg *cfg, shelf__backend **out);

/* Open a target: "mem:" is refused (tests build it themselves), "dir:PATH"
 * or a plain PATH is a folder. */
int shelf__be_open(const char *target, int create, shelf__backend **out, shelf__err *err);

#endif /* SHELF_REMOTE_INT_H */
