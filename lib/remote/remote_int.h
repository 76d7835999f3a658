/*
 * remote_int.h: the storage backend interface of backup repositories (and,
 * later, sync): a flat namespace of write-once files named by '/'-separated
 * paths ("data/ab/abcd...", "index/...").  Implementations: dir (a folder on
 * a USB stick, SD card or NAS mount), mem (tests), s3 (be_s3.c), webdav
 * (be_webdav.c), rclone (be_rclone.c: rclone serve on 127.0.0.1 in front of
 * webdav); wrappers: fault (tests).  The network backends talk HTTP through
 * http_int.h and take credentials from creds_int.h.
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
 * A backend is used by one thread at a time; dup gives another handle on the
 * same target (sharing connections) for another thread.
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
    /* Optional (NULL: not offered).  save_fd: save size bytes read from fd
     * at offset 0 (large archives; multipart on s3), same semantics as save.
     * dup: another handle on the same target for another thread.  space:
     * bytes used and available (quota, free space); UINT64_MAX when unknown. */
    int (*save_fd)(shelf__backend *be, const char *name, int fd, uint64_t size);
    int (*dup)(shelf__backend *be, shelf__backend **out);
    int (*space)(shelf__backend *be, uint64_t *used, uint64_t *avail);
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

/*
 * A target as the user writes it, parsed (shelf__target_parse):
 *   PATH or dir:PATH                      a folder
 *   s3:http[s]://HOST[:PORT]/BUCKET[/PREFIX]
 *   s3+vhost:http[s]://HOST[:PORT]/BUCKET[/PREFIX]   (requests go to BUCKET.HOST)
 *   webdav:http[s]://HOST[:PORT][/PATH]
 *   rclone:REMOTE:PATH                    (rclone's own remote syntax)
 * A string that looks like a URL with a scheme shelf does not know
 * ("ftp://...", "s3:ftp://...", "gs:...") is refused with SHELF_EINVAL,
 * never taken as a folder.  display never holds credentials.
 */
enum { SHELF__TGT_DIR = 1, SHELF__TGT_S3, SHELF__TGT_WEBDAV, SHELF__TGT_RCLONE };
typedef struct shelf__target {
    int kind;
    char *display;      /* for messages: the target without user:password */
    char *base;         /* s3/webdav: "https://host:port" */
    char *host;         /* s3/webdav: host (no port) */
    char *bucket;       /* s3 */
    char *path;         /* dir: folder; s3: prefix ("" or "a/b");
                           webdav: path ("/" or "/dav/repo"); rclone: "REMOTE:PATH" */
    int virtual_host;   /* s3+vhost: requests go to BUCKET.HOST */
} shelf__target;
int shelf__target_parse(const char *s, shelf__target *t, shelf__err *err);
void shelf__target_free(shelf__target *t);

/* How to reach a target: settings from the command line or a named remote. */
typedef struct shelf__be_opts {
    int create;             /* init: create the folder/bucket path when absent */
    const char *ca_file;    /* https: trust this PEM CA bundle */
    uint64_t limit_up;      /* bytes per second; 0: none */
    uint64_t limit_down;
    int connections;        /* parallel transfers; 0: 4 */
    const char *region;     /* s3: NULL: from the credentials/config, else "us-east-1" */
    int virtual_host;       /* s3: bucket.host instead of host/bucket */
    const char *rclone;     /* rclone program; NULL: "rclone" from PATH */
    void (*progress)(void *ud, uint64_t up, uint64_t down);
    void *progress_ud;
    uint64_t budget;        /* s3: bytes the user allows (space() reports it); 0: none */
    const char *remote;     /* the named remote the target came from (credentials); NULL */
    int quick;              /* a question, not work (remote add's terms): one attempt,
                               a 2 s connect timeout, so an unreachable server is one
                               line at once instead of after the retries */
} shelf__be_opts;

/* Credentials for one target (creds_int.h finds them). */
typedef struct shelf__creds {
    char *access_key, *secret_key, *session_token, *region;   /* s3 */
    char *user, *password;                                     /* webdav */
} shelf__creds;
void shelf__creds_clear(shelf__creds *c);   /* wipes (OPENSSL_cleanse) and frees */

int shelf__be_s3_open(const shelf__target *t, const shelf__creds *c, const shelf__be_opts *o,
                      shelf__backend **out, shelf__err *err);
int shelf__be_webdav_open(const shelf__target *t, const shelf__creds *c,
                          const shelf__be_opts *o, shelf__backend **out, shelf__err *err);
int shelf__be_rclone_open(const shelf__target *t, const shelf__be_opts *o,
                          shelf__backend **out, shelf__err *err);

/*
 * Open a URL or folder target (target.c): parse it, find its credentials
 * (shelf__creds_find with o->remote), open its backend.  "mem:" is
 * refused (tests build it themselves), "dir:PATH" or a plain PATH is a
 * folder, an unknown scheme is SHELF_EINVAL.  o may be NULL (defaults;
 * a literal 0 there, as older callers wrote for create, means the same).
 * Names of remotes are not resolved here: see shelf__be_open_target.
 */
int shelf__be_open(const char *target, const shelf__be_opts *o, shelf__backend **out,
                   shelf__err *err);

/*
 * Open what a user typed where a repository goes (open.c): a named remote
 * ("remote:NAME" or a NAME remotes.json defines, shelf__remote_resolve)
 * or else a target as shelf__be_open takes it.  The remote's ca_file,
 * region and budget apply where o leaves them unset.
 */
int shelf__be_open_target(const char *name_or_url, const shelf__be_opts *o,
                          shelf__backend **out, shelf__err *err);

/* Save a whole file: save_fd where the backend has it, else read into
 * memory and save (backend.c). */
int shelf__be_save_fd(shelf__backend *be, const char *name, int fd, uint64_t size);
/* Another handle on be's target for another thread: SHELF_EINVAL (err set
 * on be) when the backend offers none. */
int shelf__be_dup(shelf__backend *be, shelf__backend **out);

#endif /* SHELF_REMOTE_INT_H */
