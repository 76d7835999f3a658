/*
 * names.h: file names as text.  Linux file names are bytes and need not be
 * UTF-8; where shelf needs text (JSON, archive member names, backup trees,
 * what the program prints) it writes them with one escaping that maps
 * every name to one UTF-8 text and back, byte for byte
 * (doc/formats.md, "Names that are not UTF-8"):
 *
 *   - a byte that is not part of valid UTF-8 becomes %XX (uppercase hex);
 *   - a '%' followed by two hex digits becomes %25;
 *   - everything else is copied.
 *
 * So a UTF-8 name without "%XX" in it is its own text.  Thread-safe.
 */
#ifndef SHELF_NAMES_H
#define SHELF_NAMES_H

#include "shelf/shelf.h"

/* Flags of shelf_name_escape(). */
#define SHELF_NAME_CONTROL   0x1  /* also escape bytes 0x01-0x1F and 0x7F (lines, terminals) */
#define SHELF_NAME_BACKSLASH 0x2  /* also escape '\' (archive members: a separator on Windows) */

/* The text of name: owned (free with shelf_free), valid UTF-8; NULL when
 * name is NULL or memory runs out. */
SHELF_API char *shelf_name_escape(const char *name, int flags);

/* 1 when shelf_name_escape(name, flags) differs from name, else 0. */
SHELF_API int shelf_name_needs_escape(const char *name, int flags);

/* The bytes text stands for (every %XX decoded; any other '%' is itself):
 * *out owned (free with shelf_free).  Errors: SHELF_EINVAL (%00: a name
 * holds no NUL byte), SHELF_ENOMEM; *out is NULL then. */
SHELF_API int shelf_name_unescape(const char *text, char **out);

#endif /* SHELF_NAMES_H */
