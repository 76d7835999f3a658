/*
 * query_int.h: the search query language, parsed into a tree that the SQL
 * compiler (search.c) turns into one statement.  See doc/query.md.
 */
#ifndef SHELF_QUERY_INT_H
#define SHELF_QUERY_INT_H

#include "catalog_int.h"
#include "tokens_int.h"

enum {
    Q_AND = 1, Q_OR, Q_NOT,
    Q_WORD,        /* a free word, matched as a prefix, synonyms added */
    Q_PHRASE,      /* "exact phrase" */
    Q_FIELD        /* field:value */
};

/* Fields. */
enum {
    F_TAG = 1, F_CAT, F_AUTHOR, F_TYPE, F_FORMAT, F_RATE, F_CH, F_BITS, F_KEY, F_BPM,
    F_LEN, F_RATING, F_FAV, F_MISSING, F_LOOP, F_ADDED, F_USED, F_IN, F_NAME, F_PATH, F_ARCHIVED
};

/* Comparisons of a numeric or date field: lo <= v <= hi, each bound open
 * when its flag is 0; strict bounds for < and >. */
typedef struct qrange {
    double lo, hi;
    int has_lo, has_hi;
    int lo_strict, hi_strict;
} qrange;

typedef struct qnode {
    int kind;
    int pos;                  /* 1-based column where it starts */
    struct qnode **kids;      /* Q_AND, Q_OR: n children; Q_NOT: 1 */
    int nkids;
    int field;                /* Q_FIELD */
    char *text;               /* Q_WORD, Q_PHRASE, and text fields (lowercase) */
    int prefix;               /* text field value ends in '*' */
    int yes;                  /* boolean fields */
    qrange r;                 /* numeric and date fields */
} qnode;

/*
 * Parse query into *out (free with shelf__query_free).  An empty query
 * (only spaces) gives *out = NULL and SHELF_OK.  On SHELF_EINVAL the message
 * is in lib->err and the 1-based column in *errpos.  now is the time that
 * relative dates count from.
 */
int shelf__query_parse(shelf_library *lib, const char *query, int64_t now, qnode **out,
                       int *errpos);
void shelf__query_free(qnode *n);

/* The name of a field, for messages. */
const char *shelf__query_field_name(int field);

#endif /* SHELF_QUERY_INT_H */
