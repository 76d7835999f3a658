/*
 * backup.h: backup repositories on a folder (USB stick, SD card, NAS
 * mount): snapshots of a whole library with content-defined chunking,
 * deduplication, zstd compression and authenticated encryption; restore of
 * the whole library or chosen items with a preview and conflict policies;
 * check, forget and prune.  Included by shelf.h.  The repository format is
 * in doc/formats.md ("Backup repository").
 *
 * A shelf_repo handle is used by one thread at a time.  Several processes
 * may use one repository: backups take a shared lock, prune and forget an
 * exclusive one; locks are leases that expire, so a crashed run never
 * blocks the next for good.
 */
#ifndef SHELF_BACKUP_H
#define SHELF_BACKUP_H

typedef struct shelf_repo shelf_repo;

/* Flags of shelf_repo_opts. */
#define SHELF_REPO_NO_ENCRYPTION 0x1   /* init: store plain (never the default) */

/*
 * Option structs (shelf_repo_opts, shelf_backup_opts, shelf_restore_opts,
 * shelf_forget_opts) start with size, which the caller sets to sizeof the
 * struct it was built with; a NULL struct means the defaults.  A size
 * smaller than the struct's first version is refused with SHELF_EINVAL; a
 * field an older caller's struct lacks reads as zero (its default); a
 * newer caller's larger struct is accepted only when the bytes this
 * version does not know are all zero, else SHELF_EINVAL, so an option is
 * never ignored in silence.
 */
typedef struct shelf_repo_opts {
    size_t size;              /* sizeof(shelf_repo_opts) */
    const char *password;     /* needed unless the repository is plain */
    int flags;                /* SHELF_REPO_ */
    int kdf_log2n;            /* init: scrypt N = 2^kdf_log2n (10..20); 0: 16 */
    const char *cache_dir;    /* folder of the local index cache (created);
                                 NULL: a temporary cache removed on close */
    int lease_seconds;        /* how long a lock lives without refresh; 0: 300 */
    /* Added with network targets (a caller built before them reads as 0). */
    const char *ca_file;      /* https: trust this PEM CA bundle too; NULL: none */
    uint64_t limit_upload;    /* bytes per second; 0: no limit */
    uint64_t limit_download;  /* bytes per second; 0: no limit */
    int connections;          /* parallel transfers; 0: 4 (1..32) */
} shelf_repo_opts;

/*
 * A target is a folder (PATH or dir:PATH), s3:http[s]://HOST[:PORT]/BUCKET[/PREFIX],
 * webdav:http[s]://HOST[:PORT][/PATH], rclone:REMOTE:PATH, or the NAME of a
 * remote (shelf_remote_add; "remote:NAME" to be explicit).  A string with
 * a scheme shelf does not know ("ftp://...", "b2:...") is SHELF_EINVAL,
 * never a folder; so is a URL holding user:password (credentials come from
 * the environment, the keyring or shelf's credential file: remote.h).
 *
 * Create a repository in target (a folder is created when absent; it must hold
 * no repository yet: SHELF_EEXIST).  errmsg, when not NULL, receives an
 * owned message on failure (free with shelf_free).
 */
SHELF_API int shelf_repo_init(const char *target, const shelf_repo_opts *o, char **errmsg);

/*
 * Open the repository in target.  Errors: SHELF_ENOTFOUND (no repository
 * there), SHELF_EAUTH (no key file opens with the password, or none given),
 * SHELF_EFORMAT / SHELF_EVERSION (config), SHELF_EIO.  *out is NULL on
 * failure; errmsg as in shelf_repo_init.
 */
SHELF_API int shelf_repo_open(const char *target, const shelf_repo_opts *o, shelf_repo **out,
                              char **errmsg);
/* Close (releasing a lock still held).  NULL is ignored. */
SHELF_API void shelf_repo_close(shelf_repo *r);
/* The message of the last failure (borrowed, valid until the next call). */
SHELF_API const char *shelf_repo_errmsg(const shelf_repo *r);
/* What the last restore did instead of failing, for people ("" when
 * nothing): e.g. it read pack headers because an index file is damaged
 * (borrowed, valid until the next call). */
SHELF_API const char *shelf_repo_warning(const shelf_repo *r);
/* The repository id: 32 hex characters (borrowed). */
SHELF_API const char *shelf_repo_id(const shelf_repo *r);
/* 1 when the repository is encrypted. */
SHELF_API int shelf_repo_encrypted(const shelf_repo *r);

/* ---- Locks: leases in locks/ (doc/formats.md) ---- */
typedef struct shelf_lockinfo {
    size_t size;              /* sizeof, set by the library (shelf.h) */
    const char *name;         /* "locks/<16 hex>" */
    const char *host;         /* "" when the file does not parse */
    int64_t pid, time, expires;   /* Unix seconds: taken, lease end */
    int exclusive;
    int stale;                /* lease over, process gone (same host), or unreadable */
    int removed;
} shelf_lockinfo;
/* Called once per lock file, on the calling thread; borrowed for the call. */
typedef void (*shelf_lock_cb)(void *ud, const shelf_lockinfo *l);
/*
 * Break locks: every lock file of another handle is reported to cb; stale
 * ones are removed, and with all every one (for a run that is gone but
 * whose lease has not run out, e.g. a host that crashed).
 */
SHELF_API int shelf_repo_unlock(shelf_repo *r, int all, shelf_lock_cb cb, void *ud);

/* ---- Keys: each password has a key file wrapping the one master key ---- */
typedef struct shelf_keyinfo {
    size_t size;              /* sizeof, set by the library (shelf.h) */
    const char *id;           /* 16 hex characters */
    int64_t created;
    const char *host;
    int log2n;                /* scrypt cost */
    int current;              /* the key that opened this handle */
} shelf_keyinfo;
/* Called once per key, on the calling thread; borrowed for the call. */
typedef int (*shelf_key_cb)(void *ud, const shelf_keyinfo *k);

/* Add a key file for password; id (OUT, may be NULL) receives its id.
 * SHELF_EINVAL on a plain repository. */
SHELF_API int shelf_repo_key_add(shelf_repo *r, const char *password, int kdf_log2n,
                                 char id[17]);
/* Remove key id (a unique prefix).  The key that opened r and the last key
 * cannot be removed (SHELF_EINUSE). */
SHELF_API int shelf_repo_key_remove(shelf_repo *r, const char *id);
SHELF_API int shelf_repo_key_list(shelf_repo *r, shelf_key_cb cb, void *ud);

/* ---- Backup ---- */
enum {
    SHELF_BACKUP_INCREMENTAL = 0, /* store what changed since the previous snapshot */
    SHELF_BACKUP_FULL = 1,        /* store everything again: restorable from its own packs */
    SHELF_BACKUP_DIFFERENTIAL = 2 /* store what changed since the last full */
};

typedef struct shelf_backup_progress {
    size_t size;              /* sizeof, set by the library (shelf.h) */
    uint64_t items_done, items_total;
    uint64_t bytes_done, bytes_total;
} shelf_backup_progress;
/* Called on the calling thread now and then; non-zero stops the backup
 * (SHELF_ECANCELED; what was stored is reused by the next run). */
typedef int (*shelf_backup_progress_cb)(void *ud, const shelf_backup_progress *p);
/* Called on the calling thread for each sample whose file (or managed
 * blob) could not be read: id, its path, and why (borrowed for the call).
 * The backup goes on; the sample is not in the snapshot. */
typedef void (*shelf_backup_unreadable_cb)(void *ud, int64_t id, const char *path,
                                           const char *why);

typedef struct shelf_backup_opts {
    size_t size;              /* sizeof(shelf_backup_opts) */
    int strategy;             /* SHELF_BACKUP_ */
    const char *const *tags;
    size_t ntags;
    shelf_backup_progress_cb progress;
    void *ud;                 /* for progress and unreadable */
    shelf_backup_unreadable_cb unreadable;  /* may be NULL */
} shelf_backup_opts;

typedef struct shelf_backup_stats {
    size_t size;              /* set to sizeof before the call (shelf.h) */
    char snapshot[65];        /* the new snapshot's id */
    uint64_t items, bytes;    /* in the snapshot */
    uint64_t items_read, bytes_read; /* read this run (others were unchanged) */
    uint64_t chunks, chunks_new;
    uint64_t bytes_new;       /* bytes of new chunks before compression */
    uint64_t bytes_stored;    /* what they took in the repository */
    uint64_t packs;
    double seconds;
    uint64_t unreadable;      /* samples left out: their file could not be read */
} shelf_backup_stats;

/*
 * Snapshot lib into r: the catalog (a consistent copy taken while the
 * library is in use), the config, every managed blob and every referenced
 * sample file (patches and projects with their version history are in the
 * catalog).  Writes packs, then an index file, then the snapshot, so a
 * crash never leaves a snapshot that points at missing data.  Takes a
 * shared lock (SHELF_EBUSY while prune holds the repository).  A sample
 * whose file cannot be read (permission, I/O error) is left out of the
 * snapshot, counted in st->unreadable and passed to o->unreadable; the
 * run still returns SHELF_OK.  Samples whose file is gone (missing) are
 * left out silently, as verify reports them.
 */
SHELF_API int shelf_backup_run(shelf_repo *r, shelf_library *lib, const shelf_backup_opts *o,
                               shelf_backup_stats *st);

/* ---- Snapshots ---- */
typedef struct shelf_snapinfo {
    size_t size;              /* sizeof, set by the library (shelf.h) */
    const char *id;           /* 64 hex */
    int64_t time;
    const char *device;       /* library id of the library backed up */
    const char *host, *library;
    int strategy;             /* SHELF_BACKUP_ */
    const char *parent;       /* snapshot it was compared with, "" when none */
    const char *full;         /* differential: its full, "" otherwise */
    const char *tags;         /* space-separated */
    uint64_t items, bytes;    /* in the snapshot */
    uint64_t added, stored;   /* new chunk bytes, and what they took */
    const char *depends;      /* space-separated ids of the snapshots whose packs
                                 a restore reads (itself included) */
    int damaged;              /* 1: the file cannot be read (only id is set) */
    const char *origin;       /* 32 hex: the backup run this snapshot is, or is a copy
                                 of (through any number of copies); the same in
                                 every repository that holds a copy */
    const char *copied_from;  /* id of the snapshot it was copied from, "" when none */
} shelf_snapinfo;
/* Called per snapshot, oldest first, then once per damaged snapshot file,
 * on the calling thread; strings borrowed for the call. */
typedef int (*shelf_snap_cb)(void *ud, const shelf_snapinfo *s);
SHELF_API int shelf_snapshot_list(shelf_repo *r, shelf_snap_cb cb, void *ud);
/* A unique id prefix or "latest" to a full id.  SHELF_ECORRUPT for a
 * damaged snapshot, and for "latest" while any snapshot file is damaged
 * (it may be the newest). */
SHELF_API int shelf_snapshot_resolve(shelf_repo *r, const char *ref, char id[65]);
/* Remove one snapshot (its data stays until prune). */
SHELF_API int shelf_snapshot_forget_one(shelf_repo *r, const char *id);

/* Kinds of items in a snapshot and in a restore. */
enum {
    SHELF_ITEM_CATALOG = 1,   /* shelf.db */
    SHELF_ITEM_CONFIG = 2,    /* config */
    SHELF_ITEM_OBJECT = 3,    /* a blob of objects/ */
    SHELF_ITEM_SAMPLE = 4,    /* a referenced sample file */
    SHELF_ITEM_PATCH = 5,     /* restore only: a patch with its versions */
    SHELF_ITEM_PROJECT = 6    /* restore only: a project with its versions */
};
typedef struct shelf_snapitem {
    int kind;
    const char *path;         /* relative to the library, or absolute for samples; as text
                                 (shelf_name_escape: the bytes of a name that is not UTF-8 as %XX) */
    int64_t id;               /* sample id, else 0 */
    uint64_t size;
    const char *sha256;
} shelf_snapitem;
/* Called once per item, on the calling thread; borrowed for the call. */
typedef int (*shelf_item_cb)(void *ud, const shelf_snapitem *it);
SHELF_API int shelf_snapshot_items(shelf_repo *r, const char *snap, shelf_item_cb cb, void *ud);

enum { SHELF_DIFF_ADDED = 1, SHELF_DIFF_REMOVED = 2, SHELF_DIFF_CHANGED = 3 };
/* Called once per change, on the calling thread; borrowed for the call. */
typedef int (*shelf_diff_cb)(void *ud, int change, const shelf_snapitem *it);
/* Items of b that are not in a, items of a not in b, and items in both
 * whose content differs (by path). */
SHELF_API int shelf_snapshot_diff(shelf_repo *r, const char *a, const char *b, shelf_diff_cb cb,
                                  void *ud);

/* ---- Restore ---- */
enum {
    SHELF_CONFLICT_SKIP = 0,      /* keep what the library has */
    SHELF_CONFLICT_OVERWRITE = 1, /* replace it with the snapshot's */
    SHELF_CONFLICT_KEEP_BOTH = 2, /* restore under a new name beside it */
    SHELF_CONFLICT_ASK = 3        /* ask the callback per conflict */
};
/* What happens to an item. */
enum {
    SHELF_RESTORE_CREATE = 1, SHELF_RESTORE_OVERWRITE = 2, SHELF_RESTORE_KEEP_BOTH = 3,
    SHELF_RESTORE_SKIP = 4,       /* a conflict left as it is */
    SHELF_RESTORE_SAME = 5,       /* already there, identical */
    SHELF_RESTORE_FAILED = 6
};
/* OR-ed into the answer of the ask callback: use it for later conflicts too. */
#define SHELF_RESTORE_ALL 0x100

typedef struct shelf_restore_item {
    int action;               /* SHELF_RESTORE_ */
    int kind;                 /* SHELF_ITEM_ */
    int64_t id;               /* sample, patch or project id in the snapshot */
    const char *name;
    const char *path;         /* where it goes (files) */
    uint64_t size;
    const char *detail;       /* e.g. "snapshot v3, library v5"; failure reason */
    int conflict;             /* 1: the item conflicts with the library (what
                                 the ask callback is asked about; in a
                                 preview, the items it would ask about) */
} shelf_restore_item;
/* Called on the calling thread for a conflict; returns SHELF_CONFLICT_
 * OVERWRITE, _KEEP_BOTH or _SKIP, optionally | SHELF_RESTORE_ALL. */
typedef int (*shelf_restore_ask_cb)(void *ud, const shelf_restore_item *it);
/* Called once per item done, on the calling thread (the restore's worker
 * threads only decode chunks); borrowed for the call. */
typedef void (*shelf_restore_cb)(void *ud, const shelf_restore_item *it);

typedef struct shelf_restore_opts {
    size_t size;              /* sizeof(shelf_restore_opts) */
    const char *to;           /* restore a whole library into this empty folder */
    const char *const *items; /* "ID" / "sample:ID", "patch:ID", "project:ID" */
    size_t nitems;
    const char *query;        /* samples of the snapshot matching a search */
    int on_conflict;          /* SHELF_CONFLICT_ */
    int preview;              /* plan only: on_item sees every action, nothing is written */
    int files_to_original;    /* with to: referenced samples go back to their
                                 original paths instead of TO/files/... */
    shelf_restore_ask_cb ask;
    shelf_restore_cb on_item;
    void *ud;
} shelf_restore_opts;

typedef struct shelf_restore_stats {
    size_t size;              /* set to sizeof before the call (shelf.h) */
    uint64_t created, overwritten, kept_both, skipped, same, failed;
    uint64_t bytes;           /* written (or, in a preview, to be written) */
} shelf_restore_stats;

/*
 * Restore snapshot snap.  With o->to: the whole library into an empty
 * folder (lib is NULL); referenced samples go under TO/files/ with the
 * catalog's roots moved there (or to their original paths).  Otherwise
 * into the open library lib: everything, or the items named (a patch
 * brings the samples it uses), each atomically, conflicts settled by
 * o->on_conflict; every action is written to the catalog's audit log.
 * Returns SHELF_OK when every item was restored or skipped, else the
 * first failure's code (the others are still attempted).
 */
SHELF_API int shelf_restore(shelf_repo *r, shelf_library *lib, const char *snap,
                            const shelf_restore_opts *o, shelf_restore_stats *st);

/* ---- Audit log ---- */
typedef struct shelf_audit_entry {
    size_t size;              /* sizeof, set by the library (shelf.h) */
    int64_t id, time;
    const char *action;
    int kind;
    int64_t item_id;
    const char *detail;
} shelf_audit_entry;
/* Called once per entry, on the calling thread; borrowed for the call. */
typedef int (*shelf_audit_cb)(void *ud, const shelf_audit_entry *e);
/* The newest limit entries (0: all), oldest first. */
SHELF_API int shelf_audit_list(shelf_library *lib, int64_t limit, shelf_audit_cb cb, void *ud);

/* ---- Check, forget, prune ---- */
/* A problem, told on the calling thread: file is the repository file at
 * fault; snapshot and item name what it affects (NULL when nothing, or the
 * file itself). */
typedef void (*shelf_check_cb)(void *ud, const char *file, const char *problem,
                               const char *snapshot, const char *item);
typedef struct shelf_check_stats {
    size_t size;              /* set to sizeof before the call (shelf.h) */
    uint64_t snapshots, indexes, packs, blobs;
    uint64_t packs_read, bytes_read;
    uint64_t unindexed;       /* packs no index lists (left by an interrupted run) */
    uint64_t errors;
} shelf_check_stats;
/*
 * Check the structure: every file decrypts and parses, every snapshot's
 * tree and chunks are in the index, every indexed pack exists with the
 * right size.  read_percent (0..100): also read that share of the packs
 * whole and check every blob.  SHELF_ECORRUPT when problems were found.
 */
SHELF_API int shelf_repo_check(shelf_repo *r, int read_percent, shelf_check_cb cb, void *ud,
                               shelf_check_stats *st);

typedef struct shelf_forget_opts {
    size_t size;
    int keep_last, keep_daily, keep_weekly, keep_monthly;
    int dry_run;
} shelf_forget_opts;
/* Called per snapshot with the decision (reason: "last", "daily", ...), on
 * the calling thread. */
typedef void (*shelf_forget_cb)(void *ud, const char *id, int64_t time, int kept,
                                const char *reason);
/* Forget snapshots outside the policy (per device).  Exclusive lock. */
SHELF_API int shelf_repo_forget(shelf_repo *r, const shelf_forget_opts *o, shelf_forget_cb cb,
                                void *ud);

typedef struct shelf_prune_stats {
    size_t size;              /* set to sizeof before the call (shelf.h) */
    uint64_t packs_kept, packs_removed, packs_rewritten;
    uint64_t blobs_kept, blobs_removed;
    uint64_t bytes_removed;
} shelf_prune_stats;
/* Remove data no snapshot uses.  Crash-safe: new packs, then the new index,
 * then old index files, then old packs.  Exclusive lock. */
SHELF_API int shelf_repo_prune(shelf_repo *r, int dry_run, shelf_prune_stats *st);

/* ---- Purge: items out of every snapshot (doc/design.md "Backup") ---- */
/* One snapshot that holds purged items, as found (dry run) or rewritten. */
typedef struct shelf_repo_purge_info {
    size_t size;              /* sizeof, set by the library (shelf.h) */
    const char *snapshot;     /* id of the snapshot that holds them */
    const char *replaced_by;  /* id of the snapshot written in its place ("" in a dry run,
                                 and for a snapshot only relinked) */
    int64_t time;
    uint64_t files;           /* sample files and managed blobs of the tree that go */
    uint64_t bytes;           /* their size */
    int64_t rows;             /* rows of its catalog copy that go or are redacted */
    int relinked;             /* 1: holds none, rewritten only because its parent or full was */
} shelf_repo_purge_info;
/* Called once per snapshot concerned, on the calling thread; borrowed for
 * the call; nonzero stops (SHELF_ECANCELED; what is done stays done, a new
 * run finishes the job). */
typedef int (*shelf_repo_purge_cb)(void *ud, const shelf_repo_purge_info *e);

typedef struct shelf_repo_purge_opts {
    size_t size;              /* sizeof(shelf_repo_purge_opts) */
    int dry_run;              /* list the snapshots that hold the items; change nothing */
    shelf_repo_purge_cb cb;   /* may be NULL */
    void *ud;
} shelf_repo_purge_opts;

typedef struct shelf_repo_purge_stats {
    size_t size;              /* set to sizeof before the call (shelf.h) */
    uint64_t snapshots;       /* snapshots looked at */
    uint64_t snapshots_rewritten;  /* holding items (dry run: would be rewritten) */
    uint64_t snapshots_relinked;   /* rewritten only to name a rewritten parent or full */
    uint64_t files_dropped;   /* tree items (sample files, managed blobs) dropped */
    int64_t rows;             /* catalog-copy rows removed or redacted, all snapshots */
    uint64_t packs_rewritten, packs_removed;   /* by the prune that follows */
    uint64_t bytes_removed;   /* pack bytes the prune removed */
    double seconds;
} shelf_repo_purge_stats;

/*
 * Purge items from the snapshots of r (of library, a library id; NULL:
 * every library's): samples by the SHA-256 of their bytes (64 lowercase
 * hex, "s:" allowed before it), documents as "p:HASH" / "j:HASH" (HASH:
 * the first version's, as shelf_purge names them).  Each snapshot that
 * holds one is written again with the same time, library, strategy and run:
 * its tree without the samples' files and managed blobs, its catalog copy
 * purged (shelf_purge's rows, freed pages zeroed, vacuumed); a snapshot
 * whose parent or full was rewritten is written again naming the new one.
 * Then every pack holding data no snapshot uses any more is rewritten or
 * removed (prune, whatever share is unused), so no byte of the items stays
 * in the repository.  Crash-safe: new packs, new index, new snapshot (it
 * names the one it replaces), old snapshot removed, then prune; a run
 * stopped anywhere is finished by the next.  Exclusive lock (a dry run: a
 * shared one).  SHELF_EINVAL for a malformed name; SHELF_ECORRUPT while a
 * snapshot file is damaged (what it holds is unknown).
 */
SHELF_API int shelf_repo_purge(shelf_repo *r, const char *library, const char *const *samples,
                               size_t n_samples, const char *const *docs, size_t n_docs,
                               const shelf_repo_purge_opts *o, shelf_repo_purge_stats *st);

/*
 * Rebuild the index from the packs themselves: every pack no readable
 * index file lists is read (its header) and indexed again, then damaged
 * index files are removed.  Exclusive lock.  packs_indexed and
 * index_removed (OUT, may be NULL) count what it did.
 */
SHELF_API int shelf_repo_repair_index(shelf_repo *r, uint64_t *packs_indexed,
                                      uint64_t *index_removed);

/* ---- Copies between repositories ---- */
typedef struct shelf_copy_stats {
    size_t size;              /* set to sizeof before the call (shelf.h) */
    uint64_t snapshots;       /* copied this call */
    uint64_t skipped;         /* already in the destination */
    uint64_t blobs;           /* blobs the copied snapshots need */
    uint64_t blobs_new;       /* of those, read from the source and stored */
    uint64_t bytes_new;       /* their size before compression */
    double seconds;
} shelf_copy_stats;
/* Called on the calling thread now and then; non-zero stops the copy
 * (SHELF_ECANCELED; what arrived is reused by the next copy). */
typedef int (*shelf_copy_progress_cb)(void *ud, const shelf_copy_stats *st);
/*
 * Copy snapshots refs[0..n) of src (ids, prefixes or "latest"; n 0: all)
 * into dst.  Only the blobs dst lacks are read (each checked against its
 * id) and stored again under dst's key; dst writes packs, then its index,
 * then each snapshot, so a failure leaves dst valid and a later copy goes
 * on.  Snapshots dst already holds (copied before) are skipped.  A copied
 * snapshot keeps its time, host, tags and contents; its parent and full
 * are not carried over (it restores from its own blobs).  Takes a shared
 * lock on both.  Errors (SHELF_EBUSY, SHELF_ECORRUPT for a damaged source
 * blob, SHELF_EIO ...) are on dst (shelf_repo_errmsg(dst)).
 */
SHELF_API int shelf_repo_copy(shelf_repo *src, shelf_repo *dst, const char *const *refs, size_t n,
                              shelf_copy_progress_cb cb, void *ud, shelf_copy_stats *st);

#endif /* SHELF_BACKUP_H */
