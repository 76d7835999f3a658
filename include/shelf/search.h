/*
 * search.h: the query language, collections, synonyms and duplicates.
 * Included by shelf.h.  The language is described in doc/query.md; in
 * short: words match by prefix, field:value filters (tag: cat: author:
 * type: format: rate: ch: key: bpm: len: rating: fav: added: used:
 * missing: in:), -negation, "phrases", OR and parentheses.
 */
#ifndef SHELF_SEARCH_H
#define SHELF_SEARCH_H

/* Search options.  Zero-initialise, then set size = sizeof. */
typedef struct shelf_search_opts {
    size_t size;
    int sort;                /* SHELF_SORT_...; DEFAULT: relevance with words, else name */
    int descending;          /* reverse the sort */
    int64_t limit;           /* page size; 0: 50; -1: all */
    int64_t offset;
    int64_t count_limit;     /* count exactly up to this many; 0: 10000; -1: always exact */
} shelf_search_opts;

/*
 * Run a query.  *out is a cursor over the page (owned; shelf_cursor_free).
 * total, when not NULL, receives the number of matches; exact, when not
 * NULL, receives 1 when that number is exact and 0 when counting stopped at
 * count_limit (then *total is that lower bound: "10000+").
 *
 * A query that does not parse fails with SHELF_EINVAL; the message says
 * what is wrong, and shelf_query_errpos() the 1-based column (in bytes).
 */
SHELF_API int shelf_search(shelf_library *lib, const char *query, const shelf_search_opts *opts,
                           shelf_cursor **out, int64_t *total, int *exact);

/*
 * Facets: for the samples a query matches, how many have each value of a
 * field, so a browser can show live counts beside the results and narrow
 * them.  An empty query (only spaces) means every sample.  Facets come in
 * this order: "category", "format", "rate", "channels", "bits", "key",
 * "length", "bpm", "rating", "favourite", "missing", "loop", "tag".  Within
 * a facet, category, format and tag values come by count (most first), the
 * others in their natural order; values no match has are left out, and at
 * most max_values of each facet are given (0: 20; -1: all).
 *
 * filter is the query term that selects exactly the samples counted: the
 * search "(QUERY) FILTER" finds count samples (the parentheses matter when
 * the query has an OR at its top).  Tags that differ only by case or accents are one filter
 * (tag:uber finds Über) but are counted apart; a value the language cannot
 * write (a '"' in it: quoted values have no escapes) is left out.
 *
 * The counts come from the in-memory index, which this builds first when
 * it is not current (shelf_library_preload).  cb runs on the calling
 * thread; the struct and its strings are borrowed for the call.  A query
 * that does not parse fails with SHELF_EINVAL, as shelf_search.
 */
typedef struct shelf_facet {
    const char *facet;       /* "category", "format", ... */
    const char *value;       /* as shown: "kick", "wav", "44100", "C4", "0.5-2 s" */
    const char *filter;      /* "cat:kick", "len:>=0.5s len:<2s", "tag:\"hi hat\"" */
    int64_t count;
} shelf_facet;
typedef void (*shelf_facet_cb)(void *ud, const shelf_facet *f);
SHELF_API int shelf_search_facets(shelf_library *lib, const char *query, int max_values,
                                  shelf_facet_cb cb, void *ud);

/* Check a query without running it: SHELF_OK or SHELF_EINVAL as above. */
SHELF_API int shelf_query_check(shelf_library *lib, const char *query);

/* The column of the last query error on lib (1-based), 0 when none. */
SHELF_API int shelf_query_errpos(const shelf_library *lib);

/*
 * Collections.  A manual collection is an ordered list of samples; a smart
 * collection is a saved query.  Names are 1..128 bytes of UTF-8 without
 * control characters; unique.  Errors: SHELF_EEXIST, SHELF_ENOTFOUND,
 * SHELF_EINVAL (a bad name or query).
 */
SHELF_API int shelf_collection_new(shelf_library *lib, const char *name, const char *query);
SHELF_API int shelf_collection_delete(shelf_library *lib, const char *name);
/* Append (position < 0) or insert at position (0-based) in a manual collection;
 * a sample already there moves. */
SHELF_API int shelf_collection_add(shelf_library *lib, const char *name, int64_t id, int position);
SHELF_API int shelf_collection_remove(shelf_library *lib, const char *name, int64_t id);

/* Called once per collection, on the calling thread; strings borrowed for
 * the call; query is NULL for a manual collection. */
typedef void (*shelf_collection_cb)(void *ud, const char *name, const char *query, int64_t count);
SHELF_API int shelf_collection_list(shelf_library *lib, shelf_collection_cb cb, void *ud);

/* The samples of a collection: a manual one in its order, a smart one as
 * shelf_search would return them.  *out owned. */
SHELF_API int shelf_collection_items(shelf_library *lib, const char *name,
                                     const shelf_search_opts *opts, shelf_cursor **out);

/*
 * Synonyms: words in one group match each other in searches ("kick" finds
 * samples named "bd").  Adding words that belong to different groups joins
 * the groups.  Words are 1..64 bytes, lowercase letters and digits.
 */
SHELF_API int shelf_synonyms_add(shelf_library *lib, const char *const *words, size_t n);
SHELF_API int shelf_synonyms_remove(shelf_library *lib, const char *word);
/* Called once per word, groups in order; on the calling thread. */
typedef void (*shelf_synonym_cb)(void *ud, int64_t group, const char *word);
SHELF_API int shelf_synonyms_list(shelf_library *lib, shelf_synonym_cb cb, void *ud);

/* Kinds of duplicates. */
#define SHELF_DUPES_BYTES 0x1   /* identical files (same SHA-256) */
#define SHELF_DUPES_AUDIO 0x2   /* the same decoded audio in other files or encodings */
#define SHELF_DUPES_NAME  0x4   /* the same name, different sound */

/*
 * Find duplicates.  cb runs on the calling thread once per sample in a
 * group, groups one after another (group numbers count from 1 within a
 * kind); the row is borrowed for the call.  Finding SHELF_DUPES_AUDIO
 * decodes the candidates (files with equal rate, channels and length) and
 * remembers the result in the catalog.
 */
typedef void (*shelf_dupes_cb)(void *ud, int kind, int64_t group, const shelf_sample *row);
SHELF_API int shelf_dupes(shelf_library *lib, int kinds, shelf_dupes_cb cb, void *ud);

/* What shelf_dupes_fold did. */
typedef struct shelf_fold_stats {
    size_t size;              /* set to sizeof before the call (shelf.h) */
    uint64_t folded;          /* samples folded into keep and removed */
    uint64_t tags;            /* tags keep gained */
    uint64_t links;           /* patch and project uses moved to keep */
} shelf_fold_stats;

/*
 * Fold duplicates into the sample keep.  Each of drop[0..n) must hold the
 * same bytes as keep (same SHA-256) or the same decoded audio (as
 * shelf_dupes found it), else SHELF_EINVAL.  Its tags, its rating (the
 * higher one), favourite, places in manual collections and last use go to
 * keep; patches and projects using a byte-identical duplicate use keep
 * instead (one using an audio duplicate is SHELF_EINUSE: documents name
 * their files by hash); then it leaves the catalog as shelf_catalog_remove
 * does (files stay; a managed copy nobody else uses is deleted).  All or
 * nothing; one audit row ("fold") per sample folded.  st may be NULL.
 */
SHELF_API int shelf_dupes_fold(shelf_library *lib, int64_t keep, const int64_t *drop, size_t n,
                               shelf_fold_stats *st);

#endif /* SHELF_SEARCH_H */
