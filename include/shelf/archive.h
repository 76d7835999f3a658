/*
 * archive.h: archives for the long term.  Included by shelf.h.
 *
 *  - shelf_archive_export: samples, patches and projects (with their whole
 *    version histories) and each sample's catalog metadata, as a BagIt bag
 *    (RFC 8493) in a pax tar, a zstd-compressed tar or a zip64 file, with
 *    SHA-256 and SHA-512 manifests and, on request, PAR2 recovery files that
 *    par2cmdline verifies and repairs with.  Layout in doc/formats.md
 *    ("Archives").
 *  - shelf_archive_verify: every checksum of an archive (and its parity
 *    files when present), without a library.
 *  - shelf_archive_import: an archive from anyone, checked whole before
 *    anything enters the library; hostile archives are refused.
 *  - shelf_media_export: samples in balanced shard folders with an index,
 *    the way a hardware workstation reads them from its card.
 *
 * All functions run on the calling thread (the PAR2 encoder runs worker
 * threads of its own) and call their callbacks on it.
 */
#ifndef SHELF_ARCHIVE_H
#define SHELF_ARCHIVE_H

/* Containers.  AUTO: from the output name (.tar, .tar.zst / .tzst, .zip). */
enum {
    SHELF_ARCHIVE_AUTO = 0,
    SHELF_ARCHIVE_TAR = 1,      /* POSIX pax tar, uncompressed */
    SHELF_ARCHIVE_TAR_ZSTD = 2, /* the same, zstd-compressed (level 3) */
    SHELF_ARCHIVE_ZIP = 3       /* zip with zip64 extensions, stored */
};

/* Progress of an export, verify or import (bytes of payload and tag files). */
typedef struct shelf_archive_progress {
    size_t size;                        /* sizeof, set by the library (shelf.h) */
    uint64_t files_done, files_total;   /* files_total 0: unknown */
    uint64_t bytes_done, bytes_total;   /* bytes_total 0: unknown */
    const char *current;                /* file being read (borrowed), or NULL */
} shelf_archive_progress;
/* Called on the calling thread now and then; non-zero stops the work
 * (SHELF_ECANCELED; no output is left behind). */
typedef int (*shelf_archive_progress_cb)(void *ud, const shelf_archive_progress *p);

typedef struct shelf_archive_export_opts {
    size_t size;                /* sizeof(shelf_archive_export_opts) */
    int format;                 /* SHELF_ARCHIVE_ */
    const int64_t *projects;    /* projects, with their patches and samples */
    size_t nprojects;
    const int64_t *patches;     /* patches, with their samples */
    size_t npatches;
    const char *query;          /* samples matching a search (doc/query.md) */
    int all;                    /* 1: every sample, patch and project */
    double parity;              /* PAR2 recovery data in percent (10 = 10%); 0: none */
    int sync;                   /* fsync the files before renaming them into place */
    shelf_archive_progress_cb progress;
    void *ud;
    /* A sample the selection references (a project's or patch's, even one
     * the catalog no longer has) that is neither on disk nor in the store:
     * each is told to on_missing (SHELF_ARCHIVE_MISSING, what, why) and the
     * export fails with SHELF_ENOTFOUND, unless allow_missing leaves them
     * out.  on_missing runs on the calling thread. */
    int allow_missing;
    void (*on_missing)(void *ud, int problem, const char *path, const char *detail);
    /* Sign the bag (keys.h; doc/formats.md, "Archive signature"): a
     * shelf-signature.json tag file over tagmanifest-sha256.txt, listed in
     * no manifest.  NULL: unsigned.  Borrowed for the call. */
    const shelf_signer *signer;
    /* shelf export-all (implies all): also the catalog as SQLite (secrets
     * out), every table as CSV and JSON, the settings and a README, under
     * data/library/ and data/README.txt (doc/formats.md, "Export
     * everything"). */
    int everything;
} shelf_archive_export_opts;

typedef struct shelf_archive_export_stats {
    size_t size;                /* set to sizeof before the call (shelf.h) */
    uint64_t samples, patches, projects;
    uint64_t files;             /* payload files */
    uint64_t payload_bytes;     /* Payload-Oxum octets */
    uint64_t archive_bytes;     /* size of the archive file */
    uint32_t parity_slices;     /* recovery slices written (0: no parity) */
    uint64_t slice_size;
    double seconds;
    uint64_t tables;            /* everything: catalog tables written as CSV and JSON */
} shelf_archive_export_stats;

/*
 * Write the selection (the union of what o names) to the archive file out:
 * every file is read once, and that read feeds the SHA-256 and SHA-512
 * manifests, the archive writer and the PAR2 encoder.  The archive is
 * written under a temporary name beside out and renamed into place; parity
 * files go beside it as out.par2 and out.volA+B.par2 (older ones of that
 * name are replaced).  A sample whose bytes no longer match the catalog
 * fails the export (SHELF_ECORRUPT: run `shelf import` or `shelf verify`).
 * A sample file gone from its path is read from the store when a blob of
 * its bytes is there.
 * Errors: SHELF_EINVAL (nothing selected, an unknown format), SHELF_ENOTFOUND
 * (no such item, referenced samples missing), SHELF_ECORRUPT, SHELF_ECANCELED,
 * SHELF_EIO, SHELF_ENOMEM; the message is on lib.  st may be NULL.
 */
SHELF_API int shelf_archive_export(shelf_library *lib, const char *out,
                                   const shelf_archive_export_opts *o,
                                   shelf_archive_export_stats *st);

/* Problems that verify and import report, one per file (or per archive). */
enum {
    SHELF_ARCHIVE_MISSING = 1,    /* listed in a manifest, absent from the archive */
    SHELF_ARCHIVE_UNLISTED = 2,   /* in the payload, in no manifest; or Payload-Oxum wrong */
    SHELF_ARCHIVE_CORRUPT = 4,    /* a checksum does not match (payload or tag file) */
    SHELF_ARCHIVE_REPAIRABLE = 8  /* the parity files can repair the archive */
};
/* Called once per problem on the calling thread; path (relative to the bag,
 * or the archive's name) and detail are borrowed for the call. */
typedef void (*shelf_archive_problem_cb)(void *ud, int problem, const char *path,
                                         const char *detail);

/* Limits that keep a hostile archive from filling the disk or the memory. */
typedef struct shelf_archive_limits {
    uint64_t max_bytes;         /* all files unpacked; 0: 1 TiB (import: also
                                   the free space of the library's disk) */
    uint64_t max_files;         /* entries; 0: 1,000,000 */
    double max_ratio;           /* unpacked / packed bytes once past 64 MiB;
                                   0: 1000 */
} shelf_archive_limits;

typedef struct shelf_archive_verify_stats {
    size_t size;                /* set to sizeof before the call (shelf.h) */
    uint64_t files, bytes;      /* payload files and bytes read */
    uint64_t missing, unlisted, corrupt;
    int parity;                 /* 1: parity files were found and checked */
    uint32_t bad_slices;        /* damaged slices the parity found */
    uint32_t recovery_slices;   /* recovery slices available */
    shelf_signature signature;  /* the bag's signature (state, signer; trust
                                   is left to shelf_keys_classify) */
} shelf_archive_verify_stats;

/*
 * Check an archive without importing it: that it is one safe BagIt bag,
 * every payload file against every manifest (SHA-256, SHA-512), the
 * Payload-Oxum, the tag manifests; and, when path.par2 is beside it, the
 * PAR2 set (which slices are damaged and whether they can be repaired).
 * Returns SHELF_OK when intact, SHELF_ECORRUPT when damaged (problems went
 * to cb and into st), SHELF_EFORMAT when the archive is unsafe or is no
 * bag (the message says why), SHELF_ENOTFOUND, SHELF_EIO, SHELF_ENOMEM.
 * errmsg (may be NULL) receives an owned one-line message on failure.
 */
SHELF_API int shelf_archive_verify(const char *path, const shelf_archive_limits *limits,
                                   shelf_archive_problem_cb cb, shelf_archive_progress_cb progress,
                                   void *ud, shelf_archive_verify_stats *st, char **errmsg);

/* Conflict policies (the same meaning as restore's SHELF_CONFLICT_). */
enum {
    SHELF_ARCHIVE_SKIP = 0,       /* keep what the library has */
    SHELF_ARCHIVE_OVERWRITE = 1,  /* take the archive's version */
    SHELF_ARCHIVE_KEEP_BOTH = 2,  /* add the archive's as a new item */
    SHELF_ARCHIVE_ASK = 3         /* ask the callback per conflict */
};
/* What happens to an item of the archive. */
enum {
    SHELF_ARCHIVE_CREATE = 1,     /* new in the library */
    SHELF_ARCHIVE_REPLACE = 2,    /* conflict, the archive's taken (overwrite) */
    SHELF_ARCHIVE_BOTH = 3,       /* conflict, added beside the library's */
    SHELF_ARCHIVE_KEPT = 4,       /* conflict, the library's kept (skip) */
    SHELF_ARCHIVE_SAME = 5        /* already there, identical */
};
#define SHELF_ARCHIVE_ALL 0x100   /* OR-ed into an answer: for later conflicts too */

typedef struct shelf_archive_item {
    size_t size;                  /* sizeof, set by the library (shelf.h) */
    int action;                   /* SHELF_ARCHIVE_CREATE ... */
    int kind;                     /* 1 sample, SHELF_DOC_PATCH, SHELF_DOC_PROJECT */
    int64_t archive_id;           /* its id in the library it came from */
    int64_t id;                   /* its id in this library (0: none yet, preview) */
    const char *name;
    const char *detail;           /* why it conflicts, what was done */
} shelf_archive_item;
/* ASK: return SHELF_ARCHIVE_SKIP, _OVERWRITE or _KEEP_BOTH, optionally
 * | SHELF_ARCHIVE_ALL.  Runs on the calling thread. */
typedef int (*shelf_archive_ask_cb)(void *ud, const shelf_archive_item *it);
/* Called once per item done, on the calling thread; the item is borrowed
 * for the call. */
typedef void (*shelf_archive_item_cb)(void *ud, const shelf_archive_item *it);

typedef struct shelf_archive_import_opts {
    size_t size;                  /* sizeof(shelf_archive_import_opts) */
    int on_conflict;              /* SHELF_ARCHIVE_SKIP ... */
    int preview;                  /* plan only: on_item sees every action */
    shelf_archive_limits limits;
    shelf_archive_ask_cb ask;
    shelf_archive_item_cb on_item;
    shelf_archive_problem_cb on_problem;
    shelf_archive_progress_cb progress;
    void *ud;
    /* Called once the whole archive is checked and before anything is
     * imported, with its signature (state NONE when unsigned); a non-zero
     * return refuses the archive with that code (nothing is imported).
     * NULL: any archive whose signature matches or that is unsigned.  A
     * signature that does not match is refused in every case
     * (SHELF_ECORRUPT).  Runs on the calling thread; sig is borrowed. */
    int (*on_signature)(void *ud, shelf_signature *sig);
} shelf_archive_import_opts;

typedef struct shelf_archive_import_stats {
    size_t size;                  /* set to sizeof before the call (shelf.h) */
    uint64_t created, replaced, both, kept, same;
    uint64_t bytes;               /* payload bytes checked */
    int repaired;                 /* 1: damage was repaired from the parity first */
    shelf_signature signature;    /* as on_signature saw it */
} shelf_archive_import_stats;

/*
 * Import an archive: unpack it into a private staging folder inside the
 * library folder (names are checked first: absolute paths, "..", links,
 * devices, duplicates, names equal but for case, sizes over the limits and
 * zip bombs are refused), check every checksum, and only then bring in the
 * samples (copied into the store, with their tags, rating and favourite)
 * and the patches and projects with their whole history (projects relinked
 * to the patches' and samples' ids in this library by one extra version).
 * With parity files beside a damaged archive, a copy is repaired first.
 * Conflicts (a sample with the same SHA-256, a document with the same
 * history) follow o->on_conflict.  Every action goes to the audit log.  On
 * a failure halfway, what this import added is removed again.
 * Errors: SHELF_ECORRUPT (damage that cannot be repaired: the problems
 * went to on_problem; nothing was imported), SHELF_EFORMAT (unsafe or not a
 * bag), SHELF_ECANCELED, and the errors of shelf_import and
 * shelf_doc_import.
 */
SHELF_API int shelf_archive_import(shelf_library *lib, const char *path,
                                   const shelf_archive_import_opts *o,
                                   shelf_archive_import_stats *st);

/* ---- media export for a workstation's card (doc/design.md, "Media export";
 * the index in doc/formats.md, "export-media index") ----------------------- */

typedef struct shelf_media_export_opts {
    size_t size;                /* sizeof(shelf_media_export_opts) */
    const char *query;          /* samples matching a search (doc/query.md); NULL: all */
    int max_per_dir;            /* most files in one shard folder; 0: 256 */
    int fat;                    /* 1: FAT-safe names (characters, reserved DOS
                                   names, lengths, no names equal but for case) */
    int sync;                   /* fsync files and the index before renaming them */
    shelf_archive_progress_cb progress;
    void *ud;
    int patches;                /* 1: also every patch whose samples are all on the
                                   card, as DIR/PATCHES/NAME.sfz referring to them */
    const int64_t *samples;     /* these samples (query NULL): a set list's */
    size_t nsamples;
} shelf_media_export_opts;

typedef struct shelf_media_export_stats {
    size_t size;                /* set to sizeof before the call (shelf.h) */
    uint64_t files;             /* files the export holds now */
    uint64_t shards;            /* shard folders */
    uint64_t written;           /* files copied (new or changed) */
    uint64_t unchanged;         /* files left as they were */
    uint64_t moved;             /* files renamed to a new shard or name */
    uint64_t removed;           /* files deleted (no longer selected) */
    uint64_t bytes_written;
    double seconds;
    uint64_t patches;           /* patches written as SFZ (opts.patches) */
    uint64_t patches_skipped;   /* patches left out: no samples, or one not on the card */
} shelf_media_export_stats;

/*
 * Write the selected samples into dir (created when missing) for a
 * workstation: balanced alphabetical shard folders of at most max_per_dir
 * files ("A-C", "D-F", ...), each file preallocated to its size and
 * written under a temporary name then renamed, and dir/index, a text file
 * mapping names and tags to paths (doc/formats.md) that is also the
 * manifest of the next run: a later run writes only new and changed files,
 * renames moved ones and deletes those no longer selected.  Every byte
 * copied is checked against the catalog's SHA-256.  dir/index must be
 * absent or one this function wrote.
 * Errors: SHELF_EINVAL (a bad option or query, nothing selected: a card
 * is never emptied by a query that matches nothing), SHELF_EFORMAT (dir/index
 * is not an export-media index), SHELF_ENOTFOUND (a sample file gone),
 * SHELF_ECORRUPT (a sample's bytes no longer match the catalog),
 * SHELF_ECANCELED, SHELF_EIO, SHELF_ENOMEM; the message is on lib.  st may
 * be NULL.  Runs on the calling thread.
 */
SHELF_API int shelf_media_export(shelf_library *lib, const char *dir,
                                 const shelf_media_export_opts *o,
                                 shelf_media_export_stats *st);

/*
 * Archives on a remote target (a folder, s3:, webdav:, rclone: or a named
 * remote; backup.h lists the forms).  An archive NAME and its PAR2 files
 * (NAME.par2, NAME.volA+B.par2) live as archives/NAME... in the target;
 * NAME is a plain file name of [A-Za-z0-9._-] (SHELF_EINVAL otherwise).
 * Export and import work on local files: export writes to a temporary
 * folder, then shelf_archive_upload sends the files; verify and import
 * first fetch them with shelf_archive_download.
 */
typedef struct shelf_transfer_opts {
    size_t size;                /* sizeof(shelf_transfer_opts) */
    const char *ca_file;        /* https: trust this PEM CA bundle too */
    uint64_t limit_upload;      /* bytes per second; 0: none */
    uint64_t limit_download;
    int connections;            /* 0: 4 */
} shelf_transfer_opts;

/* Upload local archive path and the PAR2 files beside it to target as
 * archives/<its file name>..., each create-only (SHELF_EEXIST when the
 * target has one of that name; nothing is replaced).  *nfiles (may be
 * NULL) counts the files sent.  errmsg as in shelf_repo_init. */
SHELF_API int shelf_archive_upload(const char *path, const char *target,
                                   const shelf_transfer_opts *o, unsigned *nfiles,
                                   char **errmsg);
/* Download archives/name and its PAR2 files from target into folder dir
 * (which must exist; files there of the same names are replaced).
 * SHELF_ENOTFOUND when the target has no such archive.  *nfiles as above. */
SHELF_API int shelf_archive_download(const char *target, const char *name, const char *dir,
                                     const shelf_transfer_opts *o, unsigned *nfiles,
                                     char **errmsg);

/* ---- projects archived to a target (auto-archive; doc/design.md,
 * "Auto-archive"; the tables in doc/formats.md, "Migration 12") ---------- */

typedef struct shelf_project_archive_opts {
    size_t size;                /* sizeof(shelf_project_archive_opts) */
    double parity;              /* PAR2 recovery data in percent; 0: 10; < 0: none */
    int keep_local;             /* 1: archive, but free nothing here */
    const shelf_transfer_opts *transfer;    /* NULL: the defaults */
    /* Called on the calling thread; current names the step ("export",
     * "upload", "fetch", "verify", "free", "restore"); non-zero stops
     * (SHELF_ECANCELED: what is done stays recorded, the next run goes on). */
    shelf_archive_progress_cb progress;
    void *ud;
} shelf_project_archive_opts;

typedef struct shelf_project_archive_stats {
    size_t size;                /* set to sizeof before the call (shelf.h) */
    char name[160];             /* the archive's name under archives/ in the target */
    char target[1024];
    int resumed;                /* 1: finished what an earlier run began */
    int repaired;               /* unarchive: the fetched archive was damaged and
                                   mended from its parity first */
    uint64_t samples;           /* archive: samples the archive holds; unarchive:
                                   samples that were archived here */
    uint64_t freed;             /* archive: samples freed here; unarchive: brought back */
    uint64_t kept;              /* archive: marked to free but kept (changed since,
                                   or on a medium that cannot delete) */
    uint64_t freed_bytes;       /* bytes freed (archive) or brought back (unarchive) */
    uint64_t archive_bytes;     /* size of the archive file sent */
    double seconds;
} shelf_project_archive_stats;

/*
 * Archive project to target (a folder, s3:, webdav:, rclone: or a named
 * remote, as shelf_archive_upload takes): export it with its patches,
 * samples and whole history as a bag (.tar.zst) with parity, send it as
 * archives/NAME, fetch it back and check it (the same bytes as sent, the
 * parity and every checksum intact), and only then free here the samples
 * that nothing else uses: no project that is not archived, no patch
 * outside archived projects.  Each freed sample's file (or blob) is deleted
 * only when its bytes still hash to what the archive holds; its catalog
 * row stays, with missing SHELF_SAMPLE_ARCHIVED.  The project stays in the
 * catalog, listed as archived (shelf_docinfo.archived).  Each step is
 * recorded: a run stopped anywhere (killed, cancelled, a failure after the
 * check) is finished by the next call (target may then be NULL); a
 * failure before the check leaves everything local and nothing recorded.
 * Errors: SHELF_ENOTFOUND (no such project), SHELF_EEXIST (archived
 * already), SHELF_ECORRUPT (the copy at the target is not what was sent),
 * SHELF_ECANCELED, and the errors of shelf_archive_export and
 * shelf_archive_upload; the message is on lib.  st may be NULL.
 */
SHELF_API int shelf_project_archive(shelf_library *lib, int64_t project, const char *target,
                                    const shelf_project_archive_opts *o,
                                    shelf_project_archive_stats *st);
/*
 * Bring an archived project's samples back: fetch its archive, check it
 * whole, and put back every sample of the project that is archived here
 * (at its path, or in the store for a managed one), each byte checked
 * against the catalog's SHA-256; the project is then no longer archived.
 * A file that is at a sample's path with other bytes is never overwritten
 * (SHELF_EEXIST).  What was brought back stays back when a later one
 * fails; running again goes on.  The archive stays on its target.
 */
SHELF_API int shelf_project_unarchive(shelf_library *lib, int64_t project,
                                      const shelf_project_archive_opts *o,
                                      shelf_project_archive_stats *st);

/* A project's archive as the catalog records it; borrowed for the callback. */
typedef struct shelf_project_archived {
    size_t size;                /* sizeof, set by the library (shelf.h) */
    int64_t project;
    const char *project_name;
    const char *state;          /* "exporting", "verified", "freeing" (a run was
                                   stopped: the next finishes it), "archived" */
    const char *target, *name;
    int64_t started, archived;  /* unix seconds; archived 0 until done */
    uint64_t bytes;             /* the archive file */
    uint64_t samples;           /* samples it holds */
    uint64_t freed;             /* of them, freed here now */
    uint64_t freed_bytes;
} shelf_project_archived;
typedef int (*shelf_project_archived_cb)(void *ud, const shelf_project_archived *a);
/* Each project archive (project 0: all), by project id; a non-zero return
 * from cb stops (SHELF_ECANCELED). */
SHELF_API int shelf_project_archives(shelf_library *lib, int64_t project, shelf_project_archived_cb cb,
                                     void *ud);
/* The projects not used, modified or created since before (unix seconds)
 * and not archived (nor being archived), by id; *ids owned (shelf_free). */
SHELF_API int shelf_project_unused(shelf_library *lib, int64_t before, int64_t **ids, size_t *n);

#endif /* SHELF_ARCHIVE_H */
