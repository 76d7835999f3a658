/*
 * patch_int.h: documents (patches, projects) inside libshelf: loading and
 * checking (doc.c), paths into them, diff, apply and three-way merge
 * (merge.c), and their versions in the catalog (versions.c).
 *
 * In memory a document is a jansson object in "working form": the JSON of
 * doc/documents.md except that "tags" is an object whose members are the
 * tag names (each true), so that a generic object diff and merge treat tags
 * as a set.  shelf__doc_dump turns it back into the canonical text.
 */
#ifndef SHELF_PATCH_INT_H
#define SHELF_PATCH_INT_H

#include <jansson.h>
#include "../common/common_int.h"
#include "shelf/patch.h"

/* Limits for documents from outside. */
#define SHELF__DOC_MAX_BYTES (64u << 20)
#define SHELF__DOC_MAX_DEPTH 32
#define SHELF__DOC_FORMAT 1

/*
 * Parse text as a document of kind (0: from its format member; *kind_out
 * receives it) into working form.  SHELF_EFORMAT with a one-line reason.
 */
int shelf__doc_load(const char *text, size_t n, int kind, int *kind_out, json_t **out,
                    shelf__err *err);
/* Check a parsed document (canonical or working form) and convert it to
 * working form in place. */
int shelf__doc_check(json_t *doc, int kind, shelf__err *err);

/*
 * shelf_doc_create from a document in working form (checked here with
 * shelf__doc_check, which may normalise it; borrowed): what an importer
 * that has built the document calls, without writing it out as text and
 * parsing it back.
 */
int shelf__doc_create_json(shelf_library *lib, int kind, json_t *doc, const char *message,
                           int64_t *id);
/* Kind of a parsed document from its format member, 0 when none. */
int shelf__doc_kind(const json_t *doc);
/* Canonical text of a working-form document (owned: free()), and its
 * SHA-256 hex when hash is not NULL. */
char *shelf__doc_dump(const json_t *doc, char hash[SHELF_HASH_HEX]);

/* *id: the item of kind whose first version or head is the working-form
 * document doc (checked here, as shelf__doc_create_json checks it; 0 when
 * none), for importers that do not import one thing twice. */
int shelf__doc_find_same(shelf_library *lib, int kind, json_t *doc, int64_t *id);

/*
 * Any JSON value in canonical text: members sorted by key (byte order), no
 * whitespace, integers as integers, reals as the shortest "%.Ng" that reads
 * back to the same double (".0" added when it has no '.' or exponent),
 * strings with only '"', '\\' and control characters escaped.
 */
int shelf__json_canon(shelf__buf *b, const json_t *v);
/* The same as an owned string (free()), NULL when out of memory; with sort
 * 0, members stay in their order (for diffs people read). */
char *shelf__json_text(const json_t *v, int sort);
/* json_copy, or NULL when it came out short: jansson's shallow copy ignores
 * a failed insertion and returns an object or array missing members. */
json_t *shelf__json_copy(const json_t *v);

/* Paths: split "a/b~1c" into segments (owned array of owned strings). */
int shelf__docpath_split(const char *path, char ***segs, size_t *n);
void shelf__docpath_free(char **segs, size_t n);
/* Append an escaped segment to a path in b. */
int shelf__docpath_add(shelf__buf *b, const char *seg);
/* The value at path (borrowed), or NULL. */
json_t *shelf__doc_get(json_t *doc, const char *path);
/* Set the value at path (value is stolen), creating groups on the way. */
int shelf__doc_set(json_t *doc, const char *path, json_t *value, shelf__err *err);
/* Remove the value at path; SHELF_ENOTFOUND when there is none. */
int shelf__doc_remove(json_t *doc, const char *path, shelf__err *err);

/*
 * Diff a -> b (working forms) as a delta: an array of ["s", path, value]
 * and ["r", path] operations that turn a into b (shelf__doc_apply).  With
 * full set, the user form instead: {"op","path","old","new"} objects.
 */
json_t *shelf__doc_diff(const json_t *a, const json_t *b, int full);
/* Apply a delta to doc in place. */
int shelf__doc_apply(json_t *doc, const json_t *delta, shelf__err *err);

/* Three-way merge of documents in working form (see shelf_merge_new). */
int shelf__merge_docs(const json_t *base, const json_t *ours, const json_t *theirs,
                      int64_t ours_time, int64_t theirs_time, shelf_merge **out);
/* The merged document in working form (a new reference), or NULL with *rc
 * SHELF_ECONFLICT while conflicts are open. */
json_t *shelf__merge_doc(const shelf_merge *m, int *rc);

/*
 * For sync (lib/sync/docs.c).  Version seq of (kind, id) in working form;
 * a version stored as received (parents by seq, 0: none; time, device and
 * message kept; the item rows are not touched); the item rows made to
 * mirror version seq; the three-way merge of versions head (ours) and
 * other, as shelf_doc_merge_prepare does with the item's head.
 */
int shelf__doc_load_seq(shelf_library *lib, int kind, int64_t id, int64_t seq, json_t **doc);
int shelf__doc_store_synced(shelf_library *lib, int kind, int64_t id, json_t *doc, int64_t parent,
                            int64_t parent2, int64_t time, const char *device,
                            const char *message, int64_t *seq);
int shelf__doc_mirror_seq(shelf_library *lib, int kind, int64_t id, int64_t seq);
int shelf__doc_merge_versions(shelf_library *lib, int kind, int64_t id, int64_t head,
                              int64_t other, shelf_merge **m, int64_t *base_seq);

#endif /* SHELF_PATCH_INT_H */
