/*
 * memindex_int.h: the in-memory search index that answers type-ahead queries
 * in milliseconds over a million samples (see memindex.c).
 */
#ifndef SHELF_MEMINDEX_INT_H
#define SHELF_MEMINDEX_INT_H

#include "query_int.h"

typedef struct shelf__memindex shelf__memindex;

/* Build the index from the catalog.  *out owned (shelf__memindex_free). */
int shelf__memindex_build(shelf_library *lib, shelf__memindex **out);
void shelf__memindex_free(shelf__memindex *ix);

/* 1 when the index still reflects the catalog as lib sees it now. */
int shelf__memindex_current(shelf_library *lib, const shelf__memindex *ix);
/* Forget the connection the index was built or last updated on (its data
 * version and change count are that connection's): the next check looks
 * at the index log, for an index moving to another handle. */
void shelf__memindex_rehome(shelf__memindex *ix);

/* 1 when the index can answer q exactly (phrases and multi-word tokens go
 * to SQL). */
int shelf__memindex_can(shelf_library *lib, const qnode *q);

/* Libraries with fewer items get no bitmaps for dense terms and two-
 * letter prefixes (4096; tests set 0 to cover those paths). */
extern size_t shelf__memindex_dense_min;

/*
 * Bring ix up to date in place from the catalog's index_log (migration
 * 14): every sample changed since ix last looked, by any handle or
 * process, is re-read and re-indexed.  SHELF_OK when applied (*applied:
 * samples re-indexed, 0 when nothing had changed); SHELF_DONE when the log
 * cannot answer (why, a sentence for a note: trimmed past the index, a
 * synonym or root changed, the log went back, more changes than room) and
 * the index must be rebuilt; an error otherwise, after which ix must be
 * rebuilt too.
 */
int shelf__memindex_update(shelf_library *lib, shelf__memindex *ix, char *why, size_t whysize,
                           size_t *applied);

/* Samples the index holds, and of them how many were added in place. */
void shelf__memindex_counts(const shelf__memindex *ix, uint64_t *items, uint64_t *added);

/* Bytes the index holds. */
size_t shelf__memindex_bytes(const shelf__memindex *ix);
/* How many phrases and filters were answered from the sets kept for the
 * next keystroke (tests). */
uint64_t shelf__memindex_kept_hits(const shelf__memindex *ix);

/*
 * Evaluate q: *total receives the exact number of matches, ids[0..*n) the
 * page (owned array), in order: with words and the default sort, samples
 * that match more words in their name first, then by rating, recent use
 * and name; else by the sort key.
 */
int shelf__memindex_search(shelf_library *lib, shelf__memindex *ix, const qnode *q, int sort,
                           int descending, int64_t offset, int64_t limit, int64_t now,
                           int64_t **ids, size_t *n, int64_t *total);

/*
 * Facet counts (shelf_search_facets) over the matches of q; when q is NULL,
 * over the items of ids[0..nids) (samples the index does not hold are
 * skipped), or every item when ids is NULL too.
 */
int shelf__memindex_facets(shelf_library *lib, shelf__memindex *ix, const qnode *q,
                           const int64_t *ids, size_t nids, int64_t now, int max,
                           shelf_facet_cb cb, void *ud);

#endif /* SHELF_MEMINDEX_INT_H */
