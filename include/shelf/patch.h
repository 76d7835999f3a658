/*
 * patch.h: patches and projects as documents with a version history,
 * parameter-level diff and three-way merge, and importers for the patch
 * formats musicians already own.  Included by shelf.h.
 *
 * A document is JSON text in the schema of doc/documents.md.  Functions
 * return documents in canonical form (sorted keys, no whitespace), whose
 * SHA-256 is the version hash.  Every change makes an immutable version
 * with its parent(s), time, device and message; the item's head moves to
 * it.  Strings returned through char ** are owned by the caller: free them
 * with shelf_free.
 */
#ifndef SHELF_PATCH_H
#define SHELF_PATCH_H

/* Document kinds (the same numbers as the catalog's item kinds). */
enum { SHELF_DOC_PATCH = 2, SHELF_DOC_PROJECT = 3 };

/*
 * Documents in memory: check json as a document of kind (0: whichever its
 * format member says) and return its canonical text and SHA-256 (hex; pass
 * NULL when not wanted).  SHELF_EFORMAT with a one-line reason in *errmsg
 * (owned; may be NULL) when it is not a valid document.
 */
SHELF_API int shelf_doc_canonical(const char *json, size_t len, int kind, char **out,
                                  char hash[65], char **errmsg);

/*
 * Parameter-level diff of two documents of the same kind, as JSON text: an
 * array of {"op": "add"|"remove"|"change", "path": P, "old": V, "new": V}
 * in path order.  Tags show as set members ("tags/NAME").
 */
SHELF_API int shelf_doc_diff(const char *a, const char *b, char **diff_json, char **errmsg);

/*
 * Three-way merge of ours and theirs against their common ancestor base.
 * Changes to different values merge; tags merge as sets; rating takes the
 * newer side (ours_time vs theirs_time, ties to ours); other overlapping
 * changes are conflicts, to be resolved one by one before the result can be
 * taken.  shelf_merge_new returns SHELF_OK even when there are conflicts.
 */
typedef struct shelf_merge shelf_merge;

enum { SHELF_MERGE_OURS = 1, SHELF_MERGE_THEIRS = 2, SHELF_MERGE_VALUE = 3, SHELF_MERGE_BASE = 4 };

SHELF_API int shelf_merge_new(const char *base, const char *ours, const char *theirs,
                              int64_t ours_time, int64_t theirs_time, shelf_merge **out,
                              char **errmsg);
/* Number of conflicts, resolved or not. */
SHELF_API size_t shelf_merge_conflicts(const shelf_merge *m);
/* Conflict i: its path and the three values as JSON text (NULL: absent on
 * that side, e.g. deleted); *resolved 1 once resolved. */
SHELF_API int shelf_merge_conflict(const shelf_merge *m, size_t i, const char **path,
                                   const char **base, const char **ours, const char **theirs,
                                   int *resolved);
/* Resolve conflict i (SHELF_MERGE_OURS, _THEIRS, _BASE, or _VALUE with value
 * as JSON text, NULL to delete).  Resolve all with i == (size_t)-1. */
SHELF_API int shelf_merge_resolve(shelf_merge *m, size_t i, int how, const char *value);
/* Resolve the conflict at path; SHELF_ENOTFOUND when no conflict is there. */
SHELF_API int shelf_merge_resolve_path(shelf_merge *m, const char *path, int how,
                                       const char *value);
/* The merged document (canonical); SHELF_ECONFLICT while conflicts are unresolved. */
SHELF_API int shelf_merge_result(const shelf_merge *m, char **json);
SHELF_API void shelf_merge_free(shelf_merge *m);

/* ---- Stored documents ---------------------------------------------------- */

/* A version as the history lists it; strings borrowed for the callback. */
typedef struct shelf_version {
    int64_t seq;            /* 1, 2, ... within the item */
    int64_t parent;         /* seq of the first parent, 0 for the first version */
    int64_t parent2;        /* seq of the second parent of a merge, else 0 */
    int64_t time;           /* unix seconds */
    int64_t undoes;         /* seq this version undid, else 0 */
    const char *hash;       /* SHA-256 of the canonical document */
    const char *device;     /* library id of the library that made it */
    const char *message;    /* "" when none */
    int head;               /* 1 for the item's current version */
    uint64_t stored;        /* bytes this version takes in the catalog */
} shelf_docversion;

/* A document as listings show it; strings borrowed for the callback. */
typedef struct shelf_docinfo {
    int kind;
    int64_t id;
    const char *name;
    const char *author;     /* patches: may be NULL */
    const char *category;   /* patches: may be NULL */
    const char *format;     /* patches: source format ("sfz", "shelf", ...) */
    int64_t version;        /* head seq */
    int64_t created, modified, last_used;
    double tempo;           /* projects, 0 unknown */
    int64_t refs;           /* samples (patches) or patches+samples (projects) */
    int64_t archived;       /* projects: when archived to a target (archive.h,
                               shelf_project_archive), unix seconds; 0 not */
} shelf_docinfo;

/* Called once per version / document, on the calling thread; borrowed for
 * the call. */
typedef int (*shelf_version_cb)(void *ud, const shelf_docversion *v);
typedef int (*shelf_docinfo_cb)(void *ud, const shelf_docinfo *d);

/* Create a document from JSON; *id receives the new item id. */
SHELF_API int shelf_doc_create(shelf_library *lib, int kind, const char *json,
                               const char *message, int64_t *id);
/*
 * The document of item id at version seq (0: the head), canonical.
 * shelf_doc_get_ref takes "ID" or "ID@SEQ" or "ID@HASHPREFIX"; shelf_doc_resolve
 * reads such a reference into *id and *seq (0: the head), both required.
 */
SHELF_API int shelf_doc_get(shelf_library *lib, int kind, int64_t id, int64_t seq, char **json);
SHELF_API int shelf_doc_resolve(shelf_library *lib, int kind, const char *ref, int64_t *id,
                                int64_t *seq);
/*
 * Store json as a new version of item id whose parent is version parent
 * (0: the head).  A parent other than the head starts a branch; the head
 * moves to the new version either way.  A document equal to its parent
 * makes no version (*seq receives the parent's seq and SHELF_DONE is
 * returned).
 */
SHELF_API int shelf_doc_commit(shelf_library *lib, int kind, int64_t id, const char *json,
                               int64_t parent, const char *message, int64_t *seq);
/*
 * Set one value: path=value where value is JSON text or, when it is not
 * valid JSON, a string.  Checks the value against the patch's "types"
 * (range, enum choices) and the type of the value it replaces.  value NULL
 * removes the value.  "tags+" / "tags-" as path add or remove a tag.
 */
SHELF_API int shelf_doc_set(shelf_library *lib, int kind, int64_t id, const char *path,
                            const char *value, const char *message, int64_t *seq);
/* Several assignments (value NULL removes) in one version. */
SHELF_API int shelf_doc_setv(shelf_library *lib, int kind, int64_t id, const char *const *paths,
                             const char *const *values, size_t n, const char *message,
                             int64_t *seq);
/*
 * Add an automation lane to project id as one new version.  type is
 * "points" or "curve", target "patch:ID/PARAMETER", start and duration in
 * seconds (duration < 0: up to the last point); points holds n (time,
 * value) pairs, time first, in any order (the library sorts them).  The
 * lane gets the first free id "a0001", "a0002", ... (doc/documents.md),
 * copied into lane_id.  *seq (may be NULL) receives the new version.
 */
#define SHELF_LANE_ID_MAX 16
SHELF_API int shelf_automation_add(shelf_library *lib, int64_t id, const char *type,
                                   const char *target, double start, double duration,
                                   const double *points, size_t n, const char *message,
                                   char lane_id[SHELF_LANE_ID_MAX], int64_t *seq);
/* Make a new version equal to version seq (message "revert to SEQ"). */
SHELF_API int shelf_doc_revert(shelf_library *lib, int kind, int64_t id, int64_t seq,
                               int64_t *newseq);
/*
 * Merge version other of item id into its head: base is their nearest
 * common ancestor.  With conflicts left unresolved in m (from
 * shelf_doc_merge_prepare), SHELF_ECONFLICT.  The new version has two parents.
 */
SHELF_API int shelf_doc_merge_prepare(shelf_library *lib, int kind, int64_t id, int64_t other,
                                      shelf_merge **m, int64_t *base_seq);
SHELF_API int shelf_doc_merge_commit(shelf_library *lib, int kind, int64_t id, int64_t other,
                                     shelf_merge *m, const char *message, int64_t *seq);
/* Versions of item id, newest first. */
SHELF_API int shelf_doc_history(shelf_library *lib, int kind, int64_t id, shelf_version_cb cb,
                                void *ud);
/* Diff of two versions of item id (0: head). */
SHELF_API int shelf_doc_diff_versions(shelf_library *lib, int kind, int64_t id, int64_t a,
                                      int64_t b, char **diff_json);
/*
 * Undo the newest change in the library not yet undone: a new version of
 * that item equal to the change's parent, or, when a removal
 * (shelf_doc_remove) came after every change, the removed item back.  *what receives a one-line
 * description (owned).  SHELF_DONE when there is nothing to undo.
 */
SHELF_API int shelf_undo(shelf_library *lib, char **what);
/*
 * shelf_undo within item id: undo its newest change not yet undone (a new
 * version equal to that change's parent, recording what it undid).
 * *undone receives the seq of that change.  With newseq NULL nothing is
 * written: the call only says what an undo would take back (a preview).
 * SHELF_DONE (and *undone 0) when the item has nothing to undo;
 * SHELF_ENOTFOUND when there is no such item.
 */
SHELF_API int shelf_doc_undo(shelf_library *lib, int kind, int64_t id, int64_t *undone,
                             int64_t *newseq);
/*
 * Remove an item with its history.  A patch that projects use is not
 * removed (SHELF_EINUSE) unless flags has SHELF_REMOVE_FORCE (the projects
 * keep the reference), nor is a project whose samples an archive freed
 * (archive.h, shelf_project_archive: unarchive it first).  shelf_undo brings the newest removal back (id,
 * history, links) when no change was made after it.
 */
#define SHELF_REMOVE_PURGE 0x2      /* delete the history too: no undo */
SHELF_API int shelf_doc_remove(shelf_library *lib, int kind, int64_t id, int flags);
/* List items of kind by name. */
SHELF_API int shelf_doc_list(shelf_library *lib, int kind, shelf_docinfo_cb cb, void *ud);
/* Record that item id was used now (last_used). */
SHELF_API int shelf_doc_touch(shelf_library *lib, int kind, int64_t id);

/*
 * References, both directions: for a sample, the patches and projects that
 * use it; for a patch, its samples and the projects that use it; for a
 * project, its patches and samples.  The callback receives each item's kind,
 * id and name, and whether it uses (1) or is used by (0) the one asked about,
 * on the calling thread.
 */
typedef int (*shelf_ref_cb)(void *ud, int kind, int64_t id, const char *name, int uses);
SHELF_API int shelf_refs(shelf_library *lib, int kind, int64_t id, shelf_ref_cb cb, void *ud);

/*
 * A whole history as JSON text, for archives and restores:
 * {"shelf_history": 1, "kind": "patch"|"project", "id", "head", "versions":
 * [{"seq", "hash", "parent", "parent2", "time", "device", "message", "undoes",
 * "document"}...]} oldest first (doc/documents.md).
 */
SHELF_API int shelf_doc_export(shelf_library *lib, int kind, int64_t id, char **json);
/*
 * Create a new item from an exported history, keeping every version's seq,
 * parents, time, device, message and hash (each checked: SHELF_ECORRUPT on a
 * mismatch).  Zones find their samples by id when the hash matches, else by
 * hash.  All or nothing; recorded in the audit log.  A history the library
 * has already (an item with the same first version and the same head) is
 * not imported twice: SHELF_DONE, with *kind and *id that item, unless
 * flags has SHELF_DOC_IMPORT_AS_NEW, which makes a copy on purpose.
 */
#define SHELF_DOC_IMPORT_AS_NEW 0x1
SHELF_API int shelf_doc_import(shelf_library *lib, const char *json, int flags, int *kind,
                               int64_t *id);

/* ---- Importers and export -------------------------------------------------- */

/* Patch file formats. */
enum {
    SHELF_PATCHFMT_AUTO = 0, SHELF_PATCHFMT_SFZ, SHELF_PATCHFMT_HYDROGEN, SHELF_PATCHFMT_ZYN,
    SHELF_PATCHFMT_LMMS, SHELF_PATCHFMT_DSPRESET, SHELF_PATCHFMT_SHELF
};

/* Flags for shelf_patch_import. */
enum {
    SHELF_PIMPORT_COPY = 1,          /* copy referenced samples into the store */
    SHELF_PIMPORT_ALLOW_MISSING = 2, /* keep references to samples that are missing or
                                        not audio shelf reads, marked "missing" */
    SHELF_PIMPORT_AS_NEW = 4         /* a new patch even when the library has it */
};

/*
 * Import a patch file (SFZ, Hydrogen drumkit.xml, ZynAddSubFX .xiz, LMMS
 * .xpf, Decent Sampler .dspreset, or a shelf .json document): the file is
 * parsed whole first (errors name the file and line), then the samples it
 * references are imported into the catalog, then the patch is created with
 * its zones pointing at them.  Nothing is created when any step fails.
 * A patch the library already has (a patch whose first version or head is
 * the same document; for a history file, the same history) is not created
 * again: SHELF_DONE with *id that patch, unless flags has
 * SHELF_PIMPORT_AS_NEW.
 */
SHELF_API int shelf_patch_import(shelf_library *lib, const char *path, int format, int flags,
                                 int64_t *id);
/* Export patch id (version seq, 0 head) as an SFZ file with its samples in a
 * folder next to it, referenced by relative paths. */
SHELF_API int shelf_patch_export_sfz(shelf_library *lib, int64_t id, int64_t seq,
                                     const char *sfz_path);

#endif /* SHELF_PATCH_H */
