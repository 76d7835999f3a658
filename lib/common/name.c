/*
 * name.c: the one escaping of file names for places that need UTF-8 text
 * (JSON, archive member names, backup trees, what the program prints).
 * Linux names are bytes; a byte that is not part of valid UTF-8 is written
 * %XX (two uppercase hex digits), and a '%' that two hex digits follow is
 * written %25, so every name maps to one text and back, byte for byte,
 * while names that are valid UTF-8 and hold no "%XX" stay as they are.
 * The format is in doc/formats.md ("Names that are not UTF-8").
 */
#include <langinfo.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "common_int.h"

static int is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int hex_val(unsigned char c)
{
    return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

size_t shelf__utf8_seq(const unsigned char *s)
{
    unsigned c = s[0];
    size_t n, i;
    unsigned cp;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    for (i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    /* No overlong forms, no surrogates, nothing above U+10FFFF. */
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

int shelf__name_escape_buf(shelf__buf *b, const char *name, int flags)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *s = (const unsigned char *)name;
    size_t i = 0, run = 0, n;
    char esc[3] = { '%', 0, 0 };

    while (s[i]) {
        unsigned char c = s[i];
        int escape;

        n = shelf__utf8_seq(s + i);
        escape = !n || (c == '%' && is_hex(s[i + 1]) && is_hex(s[i + 2])) ||
                 ((flags & SHELF_NAME_CONTROL) && (c < 0x20 || c == 0x7f)) ||
                 ((flags & SHELF_NAME_BACKSLASH) && c == '\\');
        if (!escape) {
            run += n;
            i += n;
            continue;
        }
        if (run && shelf__buf_add(b, s + i - run, run))
            return SHELF_ENOMEM;
        run = 0;
        esc[1] = hex[c >> 4];
        esc[2] = hex[c & 15];
        if (shelf__buf_add(b, esc, 3))
            return SHELF_ENOMEM;
        i++;
    }
    if (run && shelf__buf_add(b, s + i - run, run))
        return SHELF_ENOMEM;
    /* An empty name still gives a NUL-terminated (empty) buffer. */
    return shelf__buf_add(b, "", 0) ? SHELF_ENOMEM : SHELF_OK;
}

char *shelf_name_escape(const char *name, int flags)
{
    shelf__buf b = SHELF__BUF_INIT;

    if (!name)
        return NULL;
    if (shelf__name_escape_buf(&b, name, flags) != SHELF_OK) {
        shelf__buf_release(&b);
        return NULL;
    }
    return shelf__buf_detach(&b);
}

int shelf_name_needs_escape(const char *name, int flags)
{
    const unsigned char *s = (const unsigned char *)name;
    size_t n;

    for (; *s; s += n) {
        if (!(n = shelf__utf8_seq(s)) || (*s == '%' && is_hex(s[1]) && is_hex(s[2])) ||
            ((flags & SHELF_NAME_CONTROL) && (*s < 0x20 || *s == 0x7f)) ||
            ((flags & SHELF_NAME_BACKSLASH) && *s == '\\'))
            return 1;
    }
    return 0;
}

int shelf_name_unescape(const char *text, char **out)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t n = strlen(text), i, j = 0;
    char *r;

    *out = NULL;
    if (!(r = shelf__malloc(n + 1)))
        return SHELF_ENOMEM;
    for (i = 0; i < n; i++) {
        if (s[i] == '%' && is_hex(s[i + 1]) && is_hex(s[i + 2])) {
            int v = hex_val(s[i + 1]) << 4 | hex_val(s[i + 2]);

            if (!v) {
                free(r);
                return SHELF_EINVAL;    /* a name never holds a NUL byte */
            }
            r[j++] = (char)v;
            i += 2;
        } else {
            r[j++] = (char)s[i];
        }
    }
    r[j] = '\0';
    *out = r;
    return SHELF_OK;
}

locale_t shelf__utf8_ctype_enter(void)
{
    static const char *const names[] = { "C.UTF-8", "C.utf8", "en_US.UTF-8" };
    const char *cs = nl_langinfo(CODESET);
    locale_t loc = (locale_t)0;
    size_t i;

    if (cs && (!strcasecmp(cs, "UTF-8") || !strcasecmp(cs, "utf8")))
        return (locale_t)0;
    for (i = 0; i < sizeof names / sizeof names[0] && !loc; i++)
        loc = newlocale(LC_CTYPE_MASK, names[i], (locale_t)0);
    if (!loc)
        return (locale_t)0;     /* none installed: names outside ASCII may fail */
    return uselocale(loc);
}

void shelf__utf8_ctype_leave(locale_t old)
{
    locale_t cur;

    if (old == (locale_t)0)
        return;
    cur = uselocale(old);
    freelocale(cur);
}
