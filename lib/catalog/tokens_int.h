/*
 * tokens_int.h: the words of the catalog as both search engines see them
 * (tokens.c).  Used by the query parser, the memory index and tag folding.
 */
#ifndef SHELF_TOKENS_INT_H
#define SHELF_TOKENS_INT_H

#include <stddef.h>
#include "shelf/shelf.h"

/*
 * Words as both search engines see them: SQLite's FTS5 unicode61 tokenizer
 * with remove_diacritics 2, as samples_fts uses (tokens.c).  The
 * tokenizer belongs to the library handle (created on first use).
 */
#define SHELF__TOKEN_MAX 255
typedef struct shelf__tokenizer shelf__tokenizer;
int shelf__tokenizer_get(shelf_library *lib, shelf__tokenizer **out);
void shelf__tokenizer_free(shelf__tokenizer *tk);
/* cb gets each token (NUL-terminated, cut at SHELF__TOKEN_MAX bytes);
 * non-zero stops.  query: tokenize as a query rather than a document. */
typedef int (*shelf__token_cb)(void *ud, const char *tok, size_t n);
int shelf__tokenize(shelf__tokenizer *tk, const char *text, int query, shelf__token_cb cb,
                    void *ud);
/* How many tokens text has, 0, 1 or 2 (two or more), with the first in tok;
 * a negative SHELF_E... code on failure (SHELF_ENOMEM). */
int shelf__token_single(shelf__tokenizer *tk, const char *text, char tok[SHELF__TOKEN_MAX + 1]);

/* Append the words of s to out as an FTS5 phrase ("a b c"): after "COL : "
 * when col is not NULL, with a trailing '*' when prefix.  Words are runs
 * of ASCII letters and digits and bytes >= 0x80 (unicode61's split, near
 * enough for UTF-8; FTS5 splits them further as it reads the phrase).
 * Returns how many words (0: nothing appended) or SHELF_ENOMEM. */
struct shelf__buf;
int shelf__fts_phrase(struct shelf__buf *out, const char *col, const char *s, int prefix);

/* text[0..n) with every word folded as the tokenizer folds it (case in
 * every script, diacritics) and what lies between words kept, so tags
 * compare as words do ("Über-Bass" -> "uber-bass"); *out owned. */
int shelf__token_fold(shelf__tokenizer *tk, const char *text, size_t n, char **out);

#endif /* SHELF_TOKENS_INT_H */
