/*
 * query.c: the parser of the search query language (doc/query.md).
 *
 *   query   := or
 *   or      := and { "OR" and }
 *   and     := unary { ["AND"] unary }
 *   unary   := ("-" | "NOT") unary | primary
 *   primary := "(" or ")" | FIELD ":" value | '"' phrase '"' | word
 *
 * Every error names what is wrong and the column where it is.  The parser
 * allocates through the library hook and frees everything on failure.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "query_int.h"

/* Parentheses and negations nest at most this deep: the SQL a query
 * becomes nests deeper still, and SQLite's parser stack is finite. */
#define MAX_DEPTH 16

/* Words, phrases and filters in one query (doc/query.md): each costs both
 * engines a pass over an index, so thousands would take seconds of CPU. */
#define MAX_TERMS 256

typedef struct parser {
    shelf_library *lib;
    const char *src, *p;
    int64_t now;
    int depth;
    int errpos;
    int terms;
} parser;

static const struct { const char *name; int field; } fields[] = {
    { "tag", F_TAG }, { "cat", F_CAT }, { "category", F_CAT }, { "author", F_AUTHOR },
    { "type", F_TYPE }, { "format", F_FORMAT }, { "rate", F_RATE }, { "ch", F_CH },
    { "channels", F_CH }, { "bits", F_BITS }, { "key", F_KEY }, { "bpm", F_BPM },
    { "tempo", F_BPM }, { "len", F_LEN }, { "length", F_LEN }, { "rating", F_RATING },
    { "fav", F_FAV }, { "missing", F_MISSING }, { "loop", F_LOOP }, { "added", F_ADDED },
    { "used", F_USED }, { "in", F_IN }, { "name", F_NAME }, { "path", F_PATH },
    { "archived", F_ARCHIVED },
};

const char *shelf__query_field_name(int field)
{
    size_t i;

    for (i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (fields[i].field == field)
            return fields[i].name;
    return "?";
}

static int col(const parser *ps, const char *at)
{
    return (int)(at - ps->src) + 1;
}

__attribute__((format(printf, 3, 4)))
static int fail(parser *ps, const char *at, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ps->errpos = col(ps, at);
    (void)shelf__seterr(&ps->lib->err, SHELF_EINVAL, "invalid query at column %d: %s",
                        ps->errpos, msg);
    return SHELF_EINVAL;
}

static int nomem(parser *ps)
{
    return shelf__seterr(&ps->lib->err, SHELF_ENOMEM, "out of memory");
}

void shelf__query_free(qnode *n)
{
    int i;

    if (!n)
        return;
    for (i = 0; i < n->nkids; i++)
        shelf__query_free(n->kids[i]);
    shelf_free(n->kids);
    shelf_free(n->text);
    shelf_free(n);
}

static qnode *node(int kind, int pos)
{
    qnode *n = shelf__calloc(1, sizeof *n);

    if (n) {
        n->kind = kind;
        n->pos = pos;
    }
    return n;
}

static int add_kid(qnode *n, qnode *kid)
{
    qnode **k = shelf__realloc(n->kids, (size_t)(n->nkids + 1) * sizeof(qnode *));

    if (!k)
        return SHELF_ENOMEM;
    n->kids = k;
    n->kids[n->nkids++] = kid;
    return SHELF_OK;
}

static void skip_space(parser *ps)
{
    while (*ps->p && isspace((unsigned char)*ps->p))
        ps->p++;
}

static int is_word_char(char c)
{
    return c && !isspace((unsigned char)c) && c != '(' && c != ')' && c != '"';
}

/* Is the word at p the keyword kw (uppercase, then a non-word char)? */
static int keyword(const char *p, const char *kw)
{
    size_t n = strlen(kw);

    return !strncmp(p, kw, n) && !is_word_char(p[n]);
}

static char *lower_dup(const char *s, size_t n)
{
    char *r = shelf__strndup(s, n);
    size_t i;

    for (i = 0; r && i < n; i++)
        r[i] = (char)tolower((unsigned char)r[i]);
    return r;
}

/* Read a quoted string at ps->p (which is at '"'); *text owned. */
static int read_quoted(parser *ps, char **text, size_t *len)
{
    const char *start = ps->p++;
    const char *end = strchr(ps->p, '"');

    if (!end)
        return fail(ps, start, "missing closing '\"'");
    if (!(*text = lower_dup(ps->p, (size_t)(end - ps->p))))
        return nomem(ps);
    *len = (size_t)(end - ps->p);
    ps->p = end + 1;
    return SHELF_OK;
}

/* A tag value folded as words are (case in every script, diacritics), so
 * tag:Über finds the tag über as the word search finds the word. */
static int fold_tag(parser *ps, char **text)
{
    shelf__tokenizer *tk;
    char *folded;
    int rc;

    if ((rc = shelf__tokenizer_get(ps->lib, &tk)) != SHELF_OK ||
        (rc = shelf__token_fold(tk, *text, strlen(*text), &folded)) != SHELF_OK)
        return rc == SHELF_ENOMEM ? nomem(ps) : rc;
    shelf_free(*text);
    *text = folded;
    return SHELF_OK;
}

/* 1 when s holds a letter or digit (any non-ASCII byte counts). */
static int has_word(const char *s)
{
    for (; *s; s++)
        if (isalnum((unsigned char)*s) || (unsigned char)*s >= 0x80)
            return 1;
    return 0;
}

/* ----- values ------------------------------------------------------------- */

/* "YYYY-M-D" (month and day of one or two digits): 1 with the three numbers,
 * 0 when s is anything else. */
static int parse_ymd(const char *s, int *y, int *mo, int *d)
{
    const int width[3][2] = { { 4, 4 }, { 1, 2 }, { 1, 2 } };
    int *out[3] = { y, mo, d }, i;

    for (i = 0; i < 3; i++) {
        int n = 0, v = 0;

        while (isdigit((unsigned char)s[n]) && n < width[i][1])
            v = v * 10 + (s[n++] - '0');
        if (n < width[i][0] || (i < 2 ? s[n] != '-' : s[n] != '\0'))
            return 0;
        *out[i] = v;
        s += n + 1;
    }
    return 1;
}

/* The names key: reads (parse_scalar), as they are written. */
const char *shelf_note_name(int key, char buf[8])
{
    static const char *const names[12] = { "C", "C#", "D", "D#", "E", "F",
                                           "F#", "G", "G#", "A", "A#", "B" };

    if (key < 0 || key > 127)
        return "-";
    snprintf(buf, 8, "%s%d", names[key % 12], key / 12 - 1);
    return buf;
}

/* A number with an optional unit, for a field; *v in the field's unit
 * (Hz, seconds, BPM, MIDI note, unix seconds).  s[0..n). */
static int parse_scalar(parser *ps, int field, const char *s, size_t n, double *v, int *is_day)
{
    char buf[64], *end;
    double x;

    *is_day = 0;
    if (n == 0 || n >= sizeof buf)
        return fail(ps, s, "%s: expected a value", shelf__query_field_name(field));
    memcpy(buf, s, n);
    buf[n] = '\0';

    if (field == F_KEY && isalpha((unsigned char)buf[0])) {
        static const int pcs[] = { 9, 11, 0, 2, 4, 5, 7 };   /* A..G */
        int c = toupper((unsigned char)buf[0]), pc, oct;
        const char *q = buf + 1;

        if (c < 'A' || c > 'G')
            return fail(ps, s, "key: '%s' is not a note (C4 is MIDI 60)", buf);
        pc = pcs[c - 'A'];
        if (*q == '#')
            pc++, q++;
        else if (*q == 'b')
            pc--, q++;
        oct = (int)strtol(q, &end, 10);
        if (end == q || *end || oct < -1 || oct > 9)
            return fail(ps, s, "key: '%s' is not a note (C4 is MIDI 60)", buf);
        *v = (oct + 1) * 12 + pc;
        if (*v < 0 || *v > 127)
            return fail(ps, s, "key: '%s' is outside MIDI 0..127", buf);
        return SHELF_OK;
    }
    if (field == F_ADDED || field == F_USED) {
        int y, mo, d;
        struct tm tm;

        if (!strcmp(buf, "today") || !strcmp(buf, "yesterday")) {
            *v = (double)(ps->now - ps->now % 86400 - (buf[0] == 'y' ? 86400 : 0));
            *is_day = 1;
            return SHELF_OK;
        }
        if (buf[0] == '-') {       /* -7d, -12h, -2w, -3m (months), -1y */
            x = strtod(buf + 1, &end);
            if (end == buf + 1 || x < 0 || x > 1e6)
                return fail(ps, s, "%s: '%s' is not a date (-7d, 2026-01-31, today)",
                            shelf__query_field_name(field), buf);
            if (!strcmp(end, "h")) x *= 3600;
            else if (!strcmp(end, "d")) x *= 86400;
            else if (!strcmp(end, "w")) x *= 7 * 86400;
            else if (!strcmp(end, "m")) x *= 30 * 86400;
            else if (!strcmp(end, "y")) x *= 365 * 86400;
            else
                return fail(ps, s, "%s: unit of '%s' must be h, d, w, m or y",
                            shelf__query_field_name(field), buf);
            *v = (double)ps->now - x;
            return SHELF_OK;
        }
        if (parse_ymd(buf, &y, &mo, &d) && mo >= 1 &&
            mo <= 12 && d >= 1 && d <= 31 && y >= 1970 && y < 3000) {
            memset(&tm, 0, sizeof tm);
            tm.tm_year = y - 1900;
            tm.tm_mon = mo - 1;
            tm.tm_mday = d;
            *v = (double)timegm(&tm);
            *is_day = 1;
            if (tm.tm_mday != d || tm.tm_mon != mo - 1)     /* 2026-02-31 */
                return fail(ps, s, "%s: '%s' is not a date", shelf__query_field_name(field), buf);
            return SHELF_OK;
        }
        return fail(ps, s, "%s: '%s' is not a date (-7d, 2026-01-31, today)",
                    shelf__query_field_name(field), buf);
    }
    x = strtod(buf, &end);
    if (end == buf || !isfinite(x))
        return fail(ps, s, "%s: '%s' is not a number", shelf__query_field_name(field), buf);
    if (field == F_RATE) {
        if (!strcasecmp(end, "k") || !strcasecmp(end, "khz"))
            x *= 1000, end += strlen(end);
        else if (!strcasecmp(end, "hz"))
            end += strlen(end);
    } else if (field == F_LEN) {
        if (!strcmp(end, "ms"))
            x /= 1000, end += 2;
        else if (!strcmp(end, "s"))
            end += 1;
        else if (!strcmp(end, "m") || !strcmp(end, "min"))
            x *= 60, end += strlen(end);
    }
    if (*end)
        return fail(ps, s + (end - buf), "%s: unexpected '%s'", shelf__query_field_name(field), end);
    *v = x;
    return SHELF_OK;
}

/* A value that is a number, a comparison or a range: 5, >=4, <2s, 120..128,
 * -7d.., ..C4. */
static int parse_range(parser *ps, int field, const char *s, size_t n, qrange *r)
{
    const char *dots = NULL, *e = s + n;
    double v = 0;
    int day = 0, rc;
    size_t i;

    memset(r, 0, sizeof *r);
    for (i = 0; i + 1 < n; i++)
        if (s[i] == '.' && s[i + 1] == '.') {
            dots = s + i;
            break;
        }
    if (dots) {
        if (dots > s) {
            if ((rc = parse_scalar(ps, field, s, (size_t)(dots - s), &v, &day)) != SHELF_OK)
                return rc;
            r->lo = v, r->has_lo = 1;
        }
        if (dots + 2 < e) {
            if ((rc = parse_scalar(ps, field, dots + 2, (size_t)(e - dots - 2), &v, &day)) != SHELF_OK)
                return rc;
            r->hi = day ? v + 86400 : v, r->has_hi = 1, r->hi_strict = day;
        }
        if (!r->has_lo && !r->has_hi)
            return fail(ps, s, "%s: a range needs a bound", shelf__query_field_name(field));
        if (r->has_lo && r->has_hi && r->lo > r->hi)
            return fail(ps, s, "%s: empty range", shelf__query_field_name(field));
        return SHELF_OK;
    }
    if (n >= 2 && (s[0] == '<' || s[0] == '>') && s[1] == '=') {
        if ((rc = parse_scalar(ps, field, s + 2, n - 2, &v, &day)) != SHELF_OK)
            return rc;
        if (s[0] == '<')
            r->hi = day ? v + 86400 : v, r->has_hi = 1, r->hi_strict = day;
        else
            r->lo = v, r->has_lo = 1;
        return SHELF_OK;
    }
    if (n >= 1 && (s[0] == '<' || s[0] == '>' || s[0] == '=')) {
        if ((rc = parse_scalar(ps, field, s + 1, n - 1, &v, &day)) != SHELF_OK)
            return rc;
        if (s[0] == '<')
            r->hi = v, r->has_hi = 1, r->hi_strict = 1;
        else if (s[0] == '>')
            r->lo = day ? v + 86400 : v, r->has_lo = 1, r->lo_strict = !day;
        else
            goto point;
        return SHELF_OK;
    }
    if ((rc = parse_scalar(ps, field, s, n, &v, &day)) != SHELF_OK)
        return rc;
point:
    if (field == F_ADDED || field == F_USED) {
        /* a day is that whole day; a relative time means "since then" */
        r->lo = v, r->has_lo = 1;
        if (day)
            r->hi = v + 86400, r->has_hi = 1, r->hi_strict = 1;
        return SHELF_OK;
    }
    if (field == F_BPM || field == F_LEN) {
        /* real numbers match within their rounding */
        double tol = field == F_BPM ? 0.5 : 0.05;

        r->lo = v - tol, r->hi = v + tol, r->has_lo = r->has_hi = 1;
        return SHELF_OK;
    }
    r->lo = r->hi = v;
    r->has_lo = r->has_hi = 1;
    return SHELF_OK;
}

static int parse_bool(parser *ps, int field, const char *s, size_t n, int *yes)
{
    static const char *const y[] = { "yes", "y", "true", "1", "on" };
    static const char *const no[] = { "no", "n", "false", "0", "off" };
    size_t i;

    for (i = 0; i < 5; i++) {
        if (strlen(y[i]) == n && !strncasecmp(s, y[i], n))
            return *yes = 1, SHELF_OK;
        if (strlen(no[i]) == n && !strncasecmp(s, no[i], n))
            return *yes = 0, SHELF_OK;
    }
    return fail(ps, s, "%s: expected yes or no", shelf__query_field_name(field));
}

/* ----- grammar -------------------------------------------------------------- */

static int parse_or(parser *ps, qnode **out);

static int parse_field(parser *ps, int field, const char *start, qnode **out)
{
    const char *v = ps->p;
    char *text = NULL;
    size_t n = 0;
    qnode *q;
    int rc;

    *out = NULL;
    if (*v == '"') {
        if ((rc = read_quoted(ps, &text, &n)) != SHELF_OK)
            return rc;
    } else {
        while (is_word_char(*ps->p))
            ps->p++;
        n = (size_t)(ps->p - v);
        if (n == 0)
            return fail(ps, v, "%s: expected a value", shelf__query_field_name(field));
    }
    if (!(q = node(Q_FIELD, col(ps, start)))) {
        shelf_free(text);
        return nomem(ps);
    }
    q->field = field;
    switch (field) {
    case F_TAG: case F_CAT: case F_AUTHOR: case F_FORMAT: case F_IN: case F_NAME: case F_PATH:
    case F_TYPE:
        if (!text && !(text = field == F_IN ? shelf__strndup(v, n) : lower_dup(v, n))) {
            shelf_free(q);
            return nomem(ps);
        }
        if (n && text[n - 1] == '*') {
            text[--n] = '\0';
            q->prefix = 1;
        }
        q->text = text;
        text = NULL;
        if (field == F_TAG && (rc = fold_tag(ps, &q->text)) != SHELF_OK)
            goto bad;
        if (!q->text[0] && !q->prefix) {
            rc = fail(ps, v, "%s: expected a value", shelf__query_field_name(field));
            goto bad;
        }
        if ((field == F_NAME || field == F_PATH) && !has_word(q->text)) {
            rc = fail(ps, v, "%s: expected a word", shelf__query_field_name(field));
            goto bad;
        }
        if (field == F_TYPE && strcmp(q->text, "sample") != 0 && strcmp(q->text, "samples") != 0 &&
            strcmp(q->text, "patch") != 0 && strcmp(q->text, "patches") != 0 &&
            strcmp(q->text, "project") != 0 && strcmp(q->text, "projects") != 0) {
            rc = fail(ps, v, "type: expected sample, patch or project");
            goto bad;
        }
        break;
    case F_FAV: case F_MISSING: case F_LOOP: case F_ARCHIVED:
        if (text) {
            rc = fail(ps, v, "%s: expected yes or no", shelf__query_field_name(field));
            goto bad;
        }
        if ((rc = parse_bool(ps, field, v, n, &q->yes)) != SHELF_OK)
            goto bad;
        break;
    default:
        if (text) {
            rc = fail(ps, v, "%s: expected a number or a range", shelf__query_field_name(field));
            goto bad;
        }
        if ((rc = parse_range(ps, field, v, n, &q->r)) != SHELF_OK)
            goto bad;
        break;
    }
    *out = q;
    return SHELF_OK;
bad:
    shelf_free(text);
    shelf__query_free(q);
    return rc;
}

static int parse_primary(parser *ps, qnode **out)
{
    const char *start = ps->p, *colon;
    char *text;
    size_t n, i;
    int rc;

    *out = NULL;
    if (*ps->p != '(' && *ps->p != ')' && ++ps->terms > MAX_TERMS)
        return fail(ps, start, "query too long: at most %d words and filters", MAX_TERMS);
    if (*ps->p == '(') {
        ps->p++;
        if (++ps->depth > MAX_DEPTH)
            return fail(ps, start, "too deeply nested");
        if ((rc = parse_or(ps, out)) != SHELF_OK)
            return rc;
        ps->depth--;
        skip_space(ps);
        if (*ps->p != ')') {
            shelf__query_free(*out);
            *out = NULL;
            return fail(ps, ps->p, "missing ')' for the '(' at column %d", col(ps, start));
        }
        if (!*out) {
            return fail(ps, start, "empty parentheses");
        }
        ps->p++;
        return SHELF_OK;
    }
    if (*ps->p == ')')
        return fail(ps, ps->p, "unexpected ')'");
    if (*ps->p == '"') {
        if ((rc = read_quoted(ps, &text, &n)) != SHELF_OK)
            return rc;
        if (!(*out = node(Q_PHRASE, col(ps, start)))) {
            shelf_free(text);
            return nomem(ps);
        }
        (*out)->text = text;
        return SHELF_OK;
    }
    while (is_word_char(*ps->p))
        ps->p++;
    n = (size_t)(ps->p - start);
    colon = memchr(start, ':', n);
    if (colon && colon > start) {
        for (i = 0; i < sizeof fields / sizeof fields[0]; i++)
            if (strlen(fields[i].name) == (size_t)(colon - start) &&
                !strncasecmp(start, fields[i].name, (size_t)(colon - start))) {
                ps->p = colon + 1;
                return parse_field(ps, fields[i].field, start, out);
            }
        return fail(ps, start, "unknown field '%.*s'", (int)(colon - start), start);
    }
    if (!(text = lower_dup(start, n)))
        return nomem(ps);
    if (!(*out = node(Q_WORD, col(ps, start)))) {
        shelf_free(text);
        return nomem(ps);
    }
    (*out)->text = text;
    return SHELF_OK;
}

static int parse_unary(parser *ps, qnode **out)
{
    const char *start = ps->p;
    qnode *kid, *n;
    int rc;

    *out = NULL;
    if (*ps->p == '-' || keyword(ps->p, "NOT")) {
        ps->p += *ps->p == '-' ? 1 : 3;
        if (*start == '-' && !is_word_char(*ps->p) && *ps->p != '(' && *ps->p != '"')
            return fail(ps, start, "nothing to exclude after '-'");
        skip_space(ps);
        if (!*ps->p || *ps->p == ')')
            return fail(ps, start, "nothing to exclude after '%s'", *start == '-' ? "-" : "NOT");
        if (++ps->depth > MAX_DEPTH)
            return fail(ps, start, "too deeply nested");
        rc = parse_unary(ps, &kid);
        ps->depth--;
        if (rc != SHELF_OK)
            return rc;
        if (!(n = node(Q_NOT, col(ps, start))) || add_kid(n, kid) != SHELF_OK) {
            shelf_free(n);
            shelf__query_free(kid);
            return nomem(ps);
        }
        *out = n;
        return SHELF_OK;
    }
    return parse_primary(ps, out);
}

/* Parse a list of kid() separated by sep (NULL: juxtaposition); one kid is
 * returned as it is. */
static int parse_list(parser *ps, int kind, qnode **out)
{
    qnode *list = NULL, *kid;
    const char *start;
    int rc;

    *out = NULL;
    for (;;) {
        skip_space(ps);
        start = ps->p;
        if (!*ps->p || *ps->p == ')')
            break;
        if (kind == Q_AND) {
            if (keyword(ps->p, "OR"))
                break;
            if (keyword(ps->p, "AND")) {
                if (!list && !*out)
                    return fail(ps, start, "'AND' needs something before it");
                ps->p += 3;
                skip_space(ps);
                if (!*ps->p || *ps->p == ')' || keyword(ps->p, "OR") || keyword(ps->p, "AND"))
                    return shelf__query_free(list ? list : *out), *out = NULL,
                           fail(ps, start, "'AND' needs something after it");
                continue;
            }
            rc = parse_unary(ps, &kid);
        } else {
            if (*out || list) {
                if (!keyword(ps->p, "OR"))
                    break;
                ps->p += 2;
                skip_space(ps);
                if (!*ps->p || *ps->p == ')' || keyword(ps->p, "OR"))
                    return shelf__query_free(list ? list : *out), *out = NULL,
                           fail(ps, start, "'OR' needs something after it");
            } else if (keyword(ps->p, "OR")) {
                return fail(ps, start, "'OR' needs something before it");
            }
            rc = parse_list(ps, Q_AND, &kid);
            if (rc == SHELF_OK && !kid)
                break;
        }
        if (rc != SHELF_OK) {
            shelf__query_free(list ? list : *out);
            *out = NULL;
            return rc;
        }
        if (!*out && !list) {
            *out = kid;
            continue;
        }
        if (!list) {
            if (!(list = node(kind, (*out)->pos)) || add_kid(list, *out) != SHELF_OK) {
                shelf_free(list);
                shelf__query_free(*out);
                shelf__query_free(kid);
                *out = NULL;
                return nomem(ps);
            }
            *out = NULL;
        }
        if (add_kid(list, kid) != SHELF_OK) {
            shelf__query_free(list);
            shelf__query_free(kid);
            return nomem(ps);
        }
    }
    if (list)
        *out = list;
    return SHELF_OK;
}

static int parse_or(parser *ps, qnode **out)
{
    return parse_list(ps, Q_OR, out);
}

/* The first byte of s that is not part of valid UTF-8, or NULL. */
static const char *bad_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    while (*p) {
        int n = *p < 0x80 ? 0 : (*p & 0xe0) == 0xc0 ? 1 : (*p & 0xf0) == 0xe0 ? 2
              : (*p & 0xf8) == 0xf0 ? 3 : -1, i;

        if (n < 0 || (n == 1 && *p < 0xc2))
            return (const char *)p;
        for (i = 1; i <= n; i++)
            if ((p[i] & 0xc0) != 0x80)
                return (const char *)p;
        p += n + 1;
    }
    return NULL;
}

int shelf__query_parse(shelf_library *lib, const char *query, int64_t now, qnode **out,
                       int *errpos)
{
    parser ps = { lib, query ? query : "", query ? query : "", now, 0, 0, 0 };
    const char *bad;
    int rc;

    *out = NULL;
    *errpos = 0;
    /* Words are split the same way by both search engines only in text
     * they can both decode. */
    if ((bad = bad_utf8(ps.src)) != NULL) {
        rc = fail(&ps, bad, "not valid UTF-8");
        *errpos = ps.errpos;
        return rc;
    }
    rc = parse_or(&ps, out);
    if (rc == SHELF_OK) {
        skip_space(&ps);
        if (*ps.p) {      /* only a stray ')' stops the top level early */
            shelf__query_free(*out);
            *out = NULL;
            rc = fail(&ps, ps.p, "unexpected '%c'", *ps.p);
        }
    }
    *errpos = ps.errpos;
    return rc;
}
