/*
 * test_query.c: the search query language (doc/query.md).  The parser
 * (shelf__query_parse) is checked by the shape of the tree it builds and by
 * the column and message of every error; the search (shelf_search) by the
 * exact set of samples each filter returns on a fixture catalog of files
 * written with tg_write; then sorting, ranking, paging, counting,
 * collections, synonyms, duplicates and allocation failures.
 */
#include <sndfile.h>
#include <sqlite3.h>
#include <time.h>
#include "catalog/query_int.h"
#include "common/common_int.h"
#include "test.h"
#include "alloc_fault.h"
#include "audiogen.h"

#define WAV16 (SF_FORMAT_WAV | SF_FORMAT_PCM_16)
#define WAV24 (SF_FORMAT_WAV | SF_FORMAT_PCM_24)
#define AIFF16 (SF_FORMAT_AIFF | SF_FORMAT_PCM_16)
#define FLAC16 (SF_FORMAT_FLAC | SF_FORMAT_PCM_16)
#define FLAC24 (SF_FORMAT_FLAC | SF_FORMAT_PCM_24)
#define OGGV (SF_FORMAT_OGG | SF_FORMAT_VORBIS)

/* The fixed "now" of the parser tests: 2026-01-31 15:30:00 UTC. */
#define DAY_JAN31 INT64_C(1769817600)   /* 2026-01-31 00:00:00 UTC */
#define NOW (DAY_JAN31 + 15 * 3600 + 30 * 60)

static shelf_library *open_lib(const char *dir)
{
    shelf_library *lib = NULL;
    char *msg = NULL;
    int rc = shelf_library_open(dir, SHELF_OPEN_CREATE, &lib, &msg);

    if (rc != SHELF_OK)
        test__fail(__FILE__, __LINE__, "cannot open library '%s': %s: %s", dir,
                   shelf_strerror(rc), msg ? msg : "(no message)");
    return lib;
}

/* ---- the parser: tree shapes ---------------------------------------------- */

static void num_str(shelf__buf *b, double v)
{
    ASSERT_OK(shelf__buf_addf(b, "%.10g", v));
}

/* The tree as a string: words bare, "phrases", (AND ..), (OR ..), (NOT x),
 * text fields name:text[*], booleans name:yes|no, ranges name:[lo..hi) with
 * '(' ')' for strict or open bounds. */
static void tree_str(shelf__buf *b, const qnode *n)
{
    int i;

    switch (n->kind) {
    case Q_WORD:
        ASSERT_OK(shelf__buf_adds(b, n->text));
        return;
    case Q_PHRASE:
        ASSERT_OK(shelf__buf_addf(b, "\"%s\"", n->text));
        return;
    case Q_AND: case Q_OR: case Q_NOT:
        ASSERT(n->nkids >= (n->kind == Q_NOT ? 1 : 2));
        ASSERT(n->kind != Q_NOT || n->nkids == 1);
        ASSERT_OK(shelf__buf_adds(b, n->kind == Q_AND ? "(AND" : n->kind == Q_OR ? "(OR" : "(NOT"));
        for (i = 0; i < n->nkids; i++) {
            ASSERT_OK(shelf__buf_adds(b, " "));
            tree_str(b, n->kids[i]);
        }
        ASSERT_OK(shelf__buf_adds(b, ")"));
        return;
    case Q_FIELD:
        break;
    default:
        test__fail(__FILE__, __LINE__, "unknown node kind %d", n->kind);
    }
    ASSERT(n->nkids == 0);
    ASSERT_OK(shelf__buf_addf(b, "%s:", shelf__query_field_name(n->field)));
    switch (n->field) {
    case F_TAG: case F_CAT: case F_AUTHOR: case F_TYPE: case F_FORMAT: case F_IN:
    case F_NAME: case F_PATH:
        ASSERT(n->text != NULL);
        ASSERT_OK(shelf__buf_addf(b, "%s%s", n->text, n->prefix ? "*" : ""));
        return;
    case F_FAV: case F_MISSING: case F_LOOP:
        ASSERT_OK(shelf__buf_adds(b, n->yes ? "yes" : "no"));
        return;
    }
    ASSERT(n->text == NULL);
    if (n->r.has_lo) {
        ASSERT_OK(shelf__buf_adds(b, n->r.lo_strict ? "(" : "["));
        num_str(b, n->r.lo);
    } else {
        ASSERT(!n->r.lo_strict);
        ASSERT_OK(shelf__buf_adds(b, "(-inf"));
    }
    ASSERT_OK(shelf__buf_adds(b, ".."));
    if (n->r.has_hi) {
        num_str(b, n->r.hi);
        ASSERT_OK(shelf__buf_adds(b, n->r.hi_strict ? ")" : "]"));
    } else {
        ASSERT(!n->r.hi_strict);
        ASSERT_OK(shelf__buf_adds(b, "inf)"));
    }
}

typedef struct parse_case {
    const char *query;
    const char *tree;
} parse_case;

static void check_parse(shelf_library *lib, const char *query, const char *want, int line)
{
    shelf__buf b = SHELF__BUF_INIT;
    qnode *q = (qnode *)&q;
    int errpos = -1, rc;

    rc = shelf__query_parse(lib, query, NOW, &q, &errpos);
    if (rc != SHELF_OK)
        test__fail(__FILE__, line, "parse '%s': %s: %s", query, shelf_strerror(rc),
                   shelf_errmsg(lib));
    ASSERT_EQ_INT(errpos, 0);
    if (q)
        tree_str(&b, q);
    if (strcmp(b.buf ? b.buf : "", want) != 0)
        test__fail(__FILE__, line, "parse '%s': got %s, want %s", query, b.buf ? b.buf : "",
                   want);
    shelf__buf_release(&b);
    shelf__query_free(q);
}

static void run_parse_cases(const parse_case *c, size_t n, int line)
{
    shelf_library *lib = open_lib(test_tmpdir());
    size_t i;

    for (i = 0; i < n; i++)
        check_parse(lib, c[i].query, c[i].tree, line);
    shelf_library_close(lib);
}

TEST(parse_operators)
{
    static const parse_case c[] = {
        { "", "" },
        { "   ", "" },
        { "kick", "kick" },
        { "KICK", "kick" },
        { "  kick  ", "kick" },
        { "kick dark", "(AND kick dark)" },
        { "kick AND dark", "(AND kick dark)" },
        { "kick AND dark AND deep", "(AND kick dark deep)" },
        { "kick dark deep", "(AND kick dark deep)" },
        { "kick OR snare", "(OR kick snare)" },
        { "a b OR c", "(OR (AND a b) c)" },
        { "a OR b c", "(OR a (AND b c))" },
        { "a OR b OR c", "(OR a b c)" },
        { "a AND b OR c AND d", "(OR (AND a b) (AND c d))" },
        { "or and not", "(AND or and not)" },
        { "ORANGE ANDES NOTE", "(AND orange andes note)" },
        { "-loop", "(NOT loop)" },
        { "NOT loop", "(NOT loop)" },
        { "NOT(loop)", "(NOT loop)" },
        { "-a b", "(AND (NOT a) b)" },
        { "NOT a OR b", "(OR (NOT a) b)" },
        { "a -b OR c", "(OR (AND a (NOT b)) c)" },
        { "--a", "(NOT (NOT a))" },
        { "NOT NOT a", "(NOT (NOT a))" },
        { "-NOT a", "(NOT (NOT a))" },
        { "(kick OR snare) -loop", "(AND (OR kick snare) (NOT loop))" },
        { "-(a OR b) c", "(AND (NOT (OR a b)) c)" },
        { "((a))", "a" },
        { "( a )", "a" },
        { "a (b (c OR d))", "(AND a (AND b (OR c d)))" },
        { "(a OR (b OR (c d)))", "(OR a (OR b (AND c d)))" },
        { "\"deep kick\"", "\"deep kick\"" },
        { "\"Deep Kick\" -\"hi hat\"", "(AND \"deep kick\" (NOT \"hi hat\"))" },
        { "\"\"", "\"\"" },
        { "kick\"deep\"", "(AND kick \"deep\")" },
        { "kick_01", "kick_01" },
        { "a-b", "a-b" },
        { "&", "&" },
        { "café", "café" },
    };

    run_parse_cases(c, sizeof c / sizeof c[0], __LINE__);
}

TEST(parse_fields)
{
    static const parse_case c[] = {
        { "tag:Drums", "tag:drums" },
        { "TAG:drums", "tag:drums" },
        { "tag:dru*", "tag:dru*" },
        { "tag:*", "tag:*" },
        { "tag:\"hi hat\"", "tag:hi hat" },
        { "tag:\"Hi Ha*\"", "tag:hi ha*" },
        { "-tag:loop", "(NOT tag:loop)" },
        { "cat:bass", "cat:bass" },
        { "category:Bass", "cat:bass" },
        { "author:hydrogen", "author:hydrogen" },
        { "type:sample", "type:sample" },
        { "type:patches", "type:patches" },
        { "type:project", "type:project" },
        { "format:flac", "format:flac" },
        { "format:PCM_24", "format:pcm_24" },
        { "name:kick", "name:kick" },
        { "path:acoustic", "path:acoustic" },
        { "in:favourites-live", "in:favourites-live" },
        { "in:\"live kicks\"", "in:live kicks" },
        { "rate:44100", "rate:[44100..44100]" },
        { "rate:44.1k", "rate:[44100..44100]" },
        { "rate:48kHz", "rate:[48000..48000]" },
        { "rate:44100hz", "rate:[44100..44100]" },
        { "rate:>=48k", "rate:[48000..inf)" },
        { "rate:22.05k..48k", "rate:[22050..48000]" },
        { "ch:1", "ch:[1..1]" },
        { "channels:2", "ch:[2..2]" },
        { "bits:24", "bits:[24..24]" },
        { "key:C4", "key:[60..60]" },
        { "key:c4", "key:[60..60]" },
        { "key:C#3", "key:[49..49]" },
        { "key:Bb2", "key:[46..46]" },
        { "key:bb2", "key:[46..46]" },
        { "key:A0", "key:[21..21]" },
        { "key:C-1", "key:[0..0]" },
        { "key:G9", "key:[127..127]" },
        { "key:60", "key:[60..60]" },
        { "key:C3..C5", "key:[48..72]" },
        { "key:..C4", "key:(-inf..60]" },
        { "key:<C4", "key:(-inf..60)" },
        { "bpm:120", "bpm:[119.5..120.5]" },
        { "bpm:=120", "bpm:[119.5..120.5]" },
        { "tempo:120..128", "bpm:[120..128]" },
        { "bpm:120..", "bpm:[120..inf)" },
        { "bpm:..128", "bpm:(-inf..128]" },
        { "bpm:>120", "bpm:(120..inf)" },
        { "bpm:>=120", "bpm:[120..inf)" },
        { "bpm:<100", "bpm:(-inf..100)" },
        { "bpm:<=100", "bpm:(-inf..100]" },
        { "bpm:120.5", "bpm:[120..121]" },
        { "len:500ms", "len:[0.45..0.55]" },
        { "len:2s", "len:[1.95..2.05]" },
        { "len:2", "len:[1.95..2.05]" },
        { "len:1m", "len:[59.95..60.05]" },
        { "length:1min", "len:[59.95..60.05]" },
        { "len:<2s", "len:(-inf..2)" },
        { "len:100ms..500ms", "len:[0.1..0.5]" },
        { "len:..1", "len:(-inf..1]" },
        { "rating:>=4", "rating:[4..inf)" },
        { "rating:0", "rating:[0..0]" },
        { "rating:1..3", "rating:[1..3]" },
        { "fav:yes", "fav:yes" },
        { "fav:no", "fav:no" },
        { "fav:YES", "fav:yes" },
        { "missing:yes", "missing:yes" },
        { "loop:no", "loop:no" },
        { "loop:true", "loop:yes" },
        { "loop:0", "loop:no" },
        /* dates; NOW is 2026-01-31 15:30 UTC */
        { "added:-7d", "added:[1769268600..inf)" },
        { "added:-7d..", "added:[1769268600..inf)" },
        { "added:>-7d", "added:(1769268600..inf)" },
        { "added:-12h", "added:[1769830200..inf)" },
        { "added:-2w", "added:[1768663800..inf)" },
        { "added:-3m", "added:[1762097400..inf)" },
        { "added:-1y", "added:[1738337400..inf)" },
        { "added:-7d..-1d", "added:[1769268600..1769787000]" },
        { "added:2026-01-31", "added:[1769817600..1769904000)" },
        { "added:=2026-01-31", "added:[1769817600..1769904000)" },
        { "added:today", "added:[1769817600..1769904000)" },
        { "added:yesterday", "added:[1769731200..1769817600)" },
        { "added:..2026-01-31", "added:(-inf..1769904000)" },
        { "added:2026-01-01..2026-01-31", "added:[1767225600..1769904000)" },
        { "added:<2026-01-31", "added:(-inf..1769817600)" },
        { "added:<=2026-01-31", "added:(-inf..1769904000)" },
        { "added:>2026-01-31", "added:[1769904000..inf)" },
        { "added:>=2026-01-31", "added:[1769817600..inf)" },
        { "used:2026-11-01..2026-11-24", "used:[1793491200..1795564800)" },
        /* fields combine like words */
        { "kick tag:dark OR -fav:yes", "(OR (AND kick tag:dark) (NOT fav:yes))" },
        { "(cat:pad tag:dark) rating:>=3", "(AND (AND cat:pad tag:dark) rating:[3..inf))" },
    };

    run_parse_cases(c, sizeof c / sizeof c[0], __LINE__);
}

/* A single bpm/len value is widened by exactly 0.5 / 0.05; 44.1k is exact. */
TEST(parse_numbers_exact)
{
    shelf_library *lib = open_lib(test_tmpdir());
    qnode *q;
    int errpos;

    ASSERT_OKL(lib, shelf__query_parse(lib, "rate:44.1k", NOW, &q, &errpos));
    ASSERT(q->kind == Q_FIELD && q->field == F_RATE);
    ASSERT(q->r.lo == 44100.0 && q->r.hi == 44100.0);
    ASSERT(q->r.has_lo && q->r.has_hi && !q->r.lo_strict && !q->r.hi_strict);
    ASSERT_EQ_INT(q->pos, 1);
    shelf__query_free(q);

    ASSERT_OKL(lib, shelf__query_parse(lib, "bpm:120", NOW, &q, &errpos));
    ASSERT(q->r.lo == 119.5 && q->r.hi == 120.5);
    shelf__query_free(q);

    ASSERT_OKL(lib, shelf__query_parse(lib, "len:2s", NOW, &q, &errpos));
    ASSERT(q->r.lo == 2.0 - 0.05 && q->r.hi == 2.0 + 0.05);
    shelf__query_free(q);

    /* positions of the nodes */
    ASSERT_OKL(lib, shelf__query_parse(lib, "kick  -tag:x \"a b\"", NOW, &q, &errpos));
    ASSERT(q->kind == Q_AND && q->nkids == 3);
    ASSERT_EQ_INT(q->kids[0]->pos, 1);
    ASSERT_EQ_INT(q->kids[1]->pos, 7);
    ASSERT_EQ_INT(q->kids[1]->kids[0]->pos, 8);
    ASSERT_EQ_INT(q->kids[2]->pos, 14);
    shelf__query_free(q);
    shelf_library_close(lib);
}

typedef struct error_case {
    const char *query;
    int col;
    const char *msg;     /* after "invalid query at column N: " */
} error_case;

static void check_error(shelf_library *lib, const char *query, int col, const char *msg,
                        int line)
{
    char want[1024];
    qnode *q = (qnode *)&q;
    int errpos = -1, rc;

    rc = shelf__query_parse(lib, query, NOW, &q, &errpos);
    if (rc != SHELF_EINVAL)
        test__fail(__FILE__, line, "parse '%s': got %s, want SHELF_EINVAL", query,
                   shelf_strerror(rc));
    if (q != NULL)
        test__fail(__FILE__, line, "parse '%s' failed but *out is set", query);
    snprintf(want, sizeof want, "invalid query at column %d: %s", col, msg);
    if (errpos != col || strcmp(shelf_errmsg(lib), want) != 0)
        test__fail(__FILE__, line, "parse '%s': got column %d \"%s\", want column %d \"%s\"",
                   query, errpos, shelf_errmsg(lib), col, want);
    /* the same through the public API */
    ASSERT_RC(SHELF_EINVAL, shelf_query_check(lib, query));
    if (shelf_query_errpos(lib) != col || strcmp(shelf_errmsg(lib), want) != 0)
        test__fail(__FILE__, line, "check '%s': got column %d \"%s\", want column %d", query,
                   shelf_query_errpos(lib), shelf_errmsg(lib), col);
}

TEST(parse_errors)
{
    static const error_case c[] = {
        { "foo:bar", 1, "unknown field 'foo'" },
        { "kick foo:bar", 6, "unknown field 'foo'" },
        { "kick (snare", 12, "missing ')' for the '(' at column 6" },
        { "(", 2, "missing ')' for the '(' at column 1" },
        { "a (b (c)", 9, "missing ')' for the '(' at column 3" },
        { "a)", 2, "unexpected ')'" },
        { ")", 1, "unexpected ')'" },
        { "(a)) b", 4, "unexpected ')'" },
        { "a ()", 3, "empty parentheses" },
        { "( )", 1, "empty parentheses" },
        { "\"deep kick", 1, "missing closing '\"'" },
        { "kick \"deep", 6, "missing closing '\"'" },
        { "tag:\"hi", 5, "missing closing '\"'" },
        { "kick -", 6, "nothing to exclude after '-'" },
        { "- kick", 1, "nothing to exclude after '-'" },
        { "(-)", 2, "nothing to exclude after '-'" },
        { "NOT", 1, "nothing to exclude after 'NOT'" },
        { "kick NOT", 6, "nothing to exclude after 'NOT'" },
        { "(NOT )", 2, "nothing to exclude after 'NOT'" },
        { "OR kick", 1, "'OR' needs something before it" },
        { "kick OR", 6, "'OR' needs something after it" },
        { "kick OR OR snare", 6, "'OR' needs something after it" },
        { "(OR a)", 2, "'OR' needs something before it" },
        { "(a OR)", 4, "'OR' needs something after it" },
        { "AND kick", 1, "'AND' needs something before it" },
        { "kick AND", 6, "'AND' needs something after it" },
        { "kick AND OR snare", 6, "'AND' needs something after it" },
        { "a OR AND b", 6, "'AND' needs something before it" },
        { "bpm:abc", 5, "bpm: 'abc' is not a number" },
        { "bpm:1..abc", 8, "bpm: 'abc' is not a number" },
        { "bpm:", 5, "bpm: expected a value" },
        { "bpm:\"120\"", 5, "bpm: expected a number or a range" },
        { "bpm:inf", 5, "bpm: 'inf' is not a number" },
        { "key:H3", 5, "key: 'H3' is not a note (C4 is MIDI 60)" },
        { "key:C10", 5, "key: 'C10' is not a note (C4 is MIDI 60)" },
        { "key:C", 5, "key: 'C' is not a note (C4 is MIDI 60)" },
        { "key:G#9", 5, "key: 'G#9' is outside MIDI 0..127" },
        { "len:5parsecs", 6, "len: unexpected 'parsecs'" },
        { "rate:44.1x", 10, "rate: unexpected 'x'" },
        { "added:-7q", 7, "added: unit of '-7q' must be h, d, w, m or y" },
        { "added:-d", 7, "added: '-d' is not a date (-7d, 2026-01-31, today)" },
        { "added:2026-13-01", 7, "added: '2026-13-01' is not a date (-7d, 2026-01-31, today)" },
        { "used:tomorrow", 6, "used: 'tomorrow' is not a date (-7d, 2026-01-31, today)" },
        { "fav:maybe", 5, "fav: expected yes or no" },
        { "fav:\"yes\"", 5, "fav: expected yes or no" },
        { "loop:", 6, "loop: expected a value" },
        { "bpm:..", 5, "bpm: a range needs a bound" },
        { "len:..", 5, "len: a range needs a bound" },
        { "bpm:5..1", 5, "bpm: empty range" },
        { "added:-1d..-7d", 7, "added: empty range" },
        { "type:lamp", 6, "type: expected sample, patch or project" },
        { "tag:", 5, "tag: expected a value" },
        { "tag:\"\"", 5, "tag: expected a value" },
        { "kick tag:dark (bpm:1..2 OR len:x)", 32, "len: 'x' is not a number" },
    };
    shelf_library *lib = open_lib(test_tmpdir());
    size_t i;

    for (i = 0; i < sizeof c / sizeof c[0]; i++)
        check_error(lib, c[i].query, c[i].col, c[i].msg, __LINE__);
    /* a good query clears the position */
    ASSERT_OK(shelf_query_check(lib, "kick"));
    ASSERT_EQ_INT(shelf_query_errpos(lib), 0);
    shelf_library_close(lib);
}

/* Fill buf with n copies of open, then mid, then n copies of close. */
static char *nested(const char *open, const char *mid, const char *close, int n)
{
    shelf__buf b = SHELF__BUF_INIT;
    int i;

    for (i = 0; i < n; i++)
        ASSERT_OK(shelf__buf_adds(&b, open));
    ASSERT_OK(shelf__buf_adds(&b, mid));
    for (i = 0; i < n; i++)
        ASSERT_OK(shelf__buf_adds(&b, close));
    return shelf__buf_detach(&b);
}

TEST(parse_depth)
{
    shelf_library *lib = open_lib(test_tmpdir());
    char *s;
    qnode *q;
    int errpos;

    /* 16 levels parse (SQL nests deeper than the query, and SQLite's
     * parser stack is finite), the 17th is refused at its column */
    s = nested("(", "a", ")", 16);
    check_parse(lib, s, "a", __LINE__);
    shelf_free(s);
    s = nested("(", "a", ")", 17);
    check_error(lib, s, 17, "too deeply nested", __LINE__);
    shelf_free(s);
    s = nested("-", "a", "", 16);
    ASSERT_OKL(lib, shelf__query_parse(lib, s, NOW, &q, &errpos));
    shelf__query_free(q);
    shelf_free(s);
    s = nested("-", "a", "", 17);
    check_error(lib, s, 17, "too deeply nested", __LINE__);
    shelf_free(s);
    s = nested("NOT ", "a", "", 17);
    check_error(lib, s, 65, "too deeply nested", __LINE__);
    shelf_free(s);
    s = nested("-(", "a", ")", 10);
    check_error(lib, s, 17, "too deeply nested", __LINE__);
    shelf_free(s);
    /* far deeper: an error, not a stack overflow */
    s = nested("(", "a", ")", 200000);
    ASSERT_RC(SHELF_EINVAL, shelf__query_parse(lib, s, NOW, &q, &errpos));
    ASSERT(q == NULL);
    ASSERT_EQ_INT(errpos, 17);
    ASSERT_RC(SHELF_EINVAL, shelf_query_check(lib, s));
    shelf_free(s);
    s = nested("-", "a", "", 200000);
    ASSERT_RC(SHELF_EINVAL, shelf_query_check(lib, s));
    ASSERT_EQ_INT(shelf_query_errpos(lib), 17);
    shelf_free(s);
    shelf_library_close(lib);
}

/* ---- the fixture catalog ---------------------------------------------------- */

typedef struct fx_file {
    const char *rel, *name;
    int format, rate, channels;
    int64_t frames;
    int root_key;
    int64_t loop_start, loop_end;
    double acid_tempo;
    int acid_beats;
    const char *title, *artist, *comment, *genre;
} fx_file;

static const fx_file files[] = {
    { "Drums/Kick Deep.wav", "Kick Deep", WAV16, 44100, 1, 22050, -1, -1, -1, 0, 0, NULL, NULL, NULL, NULL },
    { "Drums/BD_808.flac", "BD_808", FLAC16, 44100, 1, 11025, -1, -1, -1, 0, 0, NULL, NULL, NULL, NULL },
    { "Drums/Snare Tight.aiff", "Snare Tight", AIFF16, 48000, 1, 24000, 48, 0, 12000, 0, 0, NULL, NULL, NULL, NULL },
    { "Loops/Funk Break 120bpm.wav", "Funk Break 120bpm", WAV16, 44100, 2, 88200, -1, -1, -1, 120, 4, NULL, NULL, NULL, NULL },
    { "Pads/Warm Pad C3.wav", "Warm Pad C3", WAV16, 48000, 2, 144000, 48, -1, -1, 0, 0, NULL, NULL, NULL, NULL },
    { "Vox/Chant.ogg", "Chant", OGGV, 44100, 1, 44100, -1, -1, -1, 0, 0, "Morning Chant", "Choir Person", NULL, NULL },
    { "Drums/Hat Open.wav", "Hat Open", WAV24, 96000, 1, 9600, -1, -1, -1, 0, 0, NULL, NULL, NULL, NULL },
    { "Loops/Groove 95 BPM.aiff", "Groove 95 BPM", AIFF16, 44100, 2, 110250, -1, -1, -1, 0, 0, NULL, NULL, NULL, NULL },
    { "Bass/Sub Drop.flac", "Sub Drop", FLAC24, 44100, 1, 44100, -1, -1, -1, 0, 0, NULL, NULL, NULL, NULL },
    { "FX/Drop Riser/Riser Long.wav", "Riser Long", WAV16, 8000, 1, 520000, -1, -1, -1, 0, 0, NULL, NULL, NULL, NULL },
    { "Keys/Piano C4.wav", "Piano C4", WAV16, 44100, 1, 44100, 60, 100, 40000, 0, 0, NULL, NULL, "felt piano", "Ambient" },
    { "Kits/Acoustic/Kick Room.wav", "Kick Room", WAV16, 22050, 1, 6615, 36, -1, -1, 0, 0, NULL, NULL, NULL, NULL },
    { "Misc/Drums Fill.wav", "Drums Fill", WAV16, 44100, 2, 66150, -1, -1, -1, 0, 0, NULL, NULL, NULL, NULL },
    { "Misc/Twin One.wav", "Twin One", WAV16, 44100, 1, 4410, -1, -1, -1, 0, 0, NULL, NULL, NULL, NULL },
    { "Misc/Twin Two.wav", "Twin Two", WAV16, 44100, 1, 4410, -1, -1, -1, 0, 0, NULL, NULL, NULL, NULL },
};
#define NFILES ((int)(sizeof files / sizeof files[0]))
enum { KD, BD, SN, FB, WP, CH, HO, GR, SD, RL, PC, KR, DF, T1, T2 };

typedef struct fixture {
    char src[PATH_MAX];
    shelf_library *lib;
    int64_t id[NFILES];
    int twin_hi, twin_lo;      /* the twin with the larger id (rated 5), the other */
} fixture;

static void write_fixture_file(const char *src, int k)
{
    const fx_file *f = &files[k];
    tg_spec s = TG_SPEC_INIT(f->format, f->rate, f->channels, f->frames);
    char p[PATH_MAX], *slash;

    s.root_key = f->root_key;
    if (f->loop_start >= 0) {
        s.loop_start = f->loop_start;
        s.loop_end = f->loop_end;
        s.loop_mode = 1;
    }
    s.acid_tempo = f->acid_tempo;
    s.acid_beats = f->acid_beats;
    s.seed = 100u + (unsigned)k;
    s.title = f->title;
    s.artist = f->artist;
    s.comment = f->comment;
    s.genre = f->genre;
    test_pathf(p, sizeof p, "%s/%s", src, f->rel);
    for (slash = strchr(p + strlen(src) + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        mkdir(p, 0777);
        *slash = '/';
    }
    ASSERT_EQ_INT(tg_write(p, &s), 0);
}

static void exec_sql(shelf_library *lib, const char *sql)
{
    char *err = NULL;

    if (sqlite3_exec(lib->db, sql, NULL, NULL, &err) != SQLITE_OK)
        test__fail(__FILE__, __LINE__, "%s: %s", sql, err ? err : "?");
}

static void import_dir(shelf_library *lib, const char *dir, int nwant)
{
    shelf_import_opts o;
    shelf_import_stats st = { .size = sizeof st };
    const char *paths[1] = { dir };

    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    ASSERT_OKL(lib, shelf_import(lib, paths, 1, &o, &st));
    ASSERT_EQ_INT(st.failed, 0);
    ASSERT_EQ_INT(st.imported, nwant);
}

/*
 * Tags: KD drums dark 50%mix; BD drums dirty 500mix; SN drums; HO drums
 * hi-hat; WP dark ambient; SD dark; KR acoustic.  Ratings: KD 5, BD 3, WP 4,
 * PC 1, the higher twin 5.  Favourites: KD, CH.  Used now: SN, PC; SD on
 * 2026-01-31.  Added: SD 2026-01-31 12:00, RL 2026-01-30 23:59:59, HO
 * 2026-02-01 00:00, the others now.  Missing: GR.
 */
static void setup(fixture *fx)
{
    static const struct { int k; const char *tag; } tags[] = {
        { KD, "drums" }, { KD, "dark" }, { KD, "50%mix" }, { BD, "drums" }, { BD, "dirty" },
        { BD, "500mix" }, { SN, "drums" }, { HO, "drums" }, { HO, "hi-hat" }, { WP, "dark" },
        { WP, "ambient" }, { SD, "dark" }, { KR, "acoustic" },
    };
    const char *base = test_tmpdir();
    char p[PATH_MAX], sql[512];
    size_t i;
    int k;

    memset(fx, 0, sizeof *fx);
    test_pathf(fx->src, sizeof fx->src, "%s/src", base);
    ASSERT(mkdir(fx->src, 0777) == 0);
    for (k = 0; k < NFILES; k++)
        write_fixture_file(fx->src, k);
    test_pathf(p, sizeof p, "%s/lib", base);
    fx->lib = open_lib(p);
    import_dir(fx->lib, fx->src, NFILES);
    for (k = 0; k < NFILES; k++) {
        test_pathf(p, sizeof p, "%s/%s", fx->src, files[k].rel);
        ASSERT_OKL(fx->lib, shelf_catalog_find_path(fx->lib, p, &fx->id[k]));
    }
    fx->twin_hi = fx->id[T1] > fx->id[T2] ? T1 : T2;
    fx->twin_lo = fx->twin_hi == T1 ? T2 : T1;
    for (i = 0; i < sizeof tags / sizeof tags[0]; i++)
        ASSERT_OKL(fx->lib, shelf_tag_add(fx->lib, fx->id[tags[i].k], tags[i].tag));
    ASSERT_OKL(fx->lib, shelf_rate(fx->lib, fx->id[KD], 5));
    ASSERT_OKL(fx->lib, shelf_rate(fx->lib, fx->id[BD], 3));
    ASSERT_OKL(fx->lib, shelf_rate(fx->lib, fx->id[WP], 4));
    ASSERT_OKL(fx->lib, shelf_rate(fx->lib, fx->id[PC], 1));
    ASSERT_OKL(fx->lib, shelf_rate(fx->lib, fx->id[fx->twin_hi], 5));
    ASSERT_OKL(fx->lib, shelf_favourite(fx->lib, fx->id[KD], 1));
    ASSERT_OKL(fx->lib, shelf_favourite(fx->lib, fx->id[CH], 1));
    ASSERT_OKL(fx->lib, shelf_touch(fx->lib, fx->id[SN]));
    ASSERT_OKL(fx->lib, shelf_touch(fx->lib, fx->id[PC]));
    snprintf(sql, sizeof sql,
             "UPDATE samples SET created = %lld, last_used = %lld WHERE id = %lld;"
             "UPDATE samples SET created = %lld WHERE id = %lld;"
             "UPDATE samples SET created = %lld WHERE id = %lld;"
             "UPDATE samples SET missing = 1 WHERE id = %lld;",
             (long long)(DAY_JAN31 + 12 * 3600), (long long)(DAY_JAN31 + 100),
             (long long)fx->id[SD], (long long)(DAY_JAN31 - 1), (long long)fx->id[RL],
             (long long)(DAY_JAN31 + 86400), (long long)fx->id[HO], (long long)fx->id[GR]);
    exec_sql(fx->lib, sql);
}

static void expect_done(void);

static void teardown(fixture *fx)
{
    shelf_library_close(fx->lib);
    fx->lib = NULL;
    expect_done();
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Run query; the names found in order, '|'-separated, into out. */
static int run(fixture *fx, const char *query, const shelf_search_opts *opts, char *out,
               size_t size, int64_t *total, int *exact)
{
    const shelf_sample *row;
    shelf_cursor *cur = NULL;
    size_t len = 0;
    int n = 0, rc;

    out[0] = '\0';
    rc = shelf_search(fx->lib, query, opts, &cur, total, exact);
    if (rc != SHELF_OK) {
        ASSERT(cur == NULL);
        return rc;
    }
    while ((rc = shelf_cursor_next(cur, &row)) == SHELF_ROW) {
        int w = snprintf(out + len, size - len, "%s%s", n ? "|" : "", row->name);

        ASSERT(w > 0 && (size_t)w < size - len);
        len += (size_t)w;
        n++;
    }
    shelf_cursor_free(cur);
    /* A step can fail too (SQLite allocates as it goes): the caller checks. */
    ASSERT(rc == SHELF_DONE || rc < 0);
    return rc == SHELF_DONE ? SHELF_OK : rc;
}

/* Sort the '|'-separated names of s in place. */
static void sort_names(char *s)
{
    char *parts[64], tmp[4096], *p;
    size_t n = 0, i, len = 0;

    if (!*s)
        return;
    snprintf(tmp, sizeof tmp, "%s", s);
    for (p = tmp; p; ) {
        char *bar = strchr(p, '|');

        ASSERT(n < 64);
        parts[n++] = p;
        if (bar)
            *bar++ = '\0';
        p = bar;
    }
    qsort(parts, n, sizeof parts[0], cmp_str);
    for (i = 0; i < n; i++)
        len += (size_t)snprintf(s + len, 4096 - len, "%s%s", i ? "|" : "", parts[i]);
}

static int count_names(const char *s)
{
    int n = *s ? 1 : 0;

    for (; *s; s++)
        n += *s == '|';
    return n;
}

/*
 * The EXPECT checks of a test do not stop it: each mismatch is printed and
 * counted, and teardown() (or expect_done()) fails the test when there was
 * one, so one run reports every wrong result.
 */
static int expect_failures;

__attribute__((format(printf, 2, 3)))
static void expect_fail(int line, const char *fmt, ...)
{
    va_list ap;

    fflush(stdout);
    fprintf(stderr, "%s:%d: ", __FILE__, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    expect_failures++;
}

static void expect_done(void)
{
    if (expect_failures)
        test__fail(__FILE__, __LINE__, "%d wrong results (above)", expect_failures);
}

/* The query must find exactly the names of want (any order), all counted. */
#define EXPECT(fx, query, want) expect_set(fx, query, want, __LINE__)
static void expect_set(fixture *fx, const char *query, const char *want, int line)
{
    shelf_search_opts o;
    char got[4096], w[4096];
    int64_t total = -2;
    int exact = -2, rc;

    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.limit = -1;
    o.count_limit = -1;
    rc = run(fx, query, &o, got, sizeof got, &total, &exact);
    if (rc != SHELF_OK) {
        expect_fail(line, "search '%s': %s: %s", query, shelf_strerror(rc),
                    shelf_errmsg(fx->lib));
        return;
    }
    snprintf(w, sizeof w, "%s", want);
    sort_names(got);
    sort_names(w);
    if (strcmp(got, w) != 0)
        expect_fail(line, "search '%s': got {%s}, want {%s}", query, got, w);
    else if (total != count_names(w) || exact != 1)
        expect_fail(line, "search '%s': total %lld exact %d, want %d exact 1", query,
                    (long long)total, exact, count_names(w));
}

/* The query must find exactly want, in this order. */
#define EXPECT_ORDER(fx, query, sort, desc, want) \
    expect_order(fx, query, sort, desc, want, __LINE__)
static void expect_order(fixture *fx, const char *query, int sort, int desc, const char *want,
                         int line)
{
    shelf_search_opts o;
    char got[4096];
    int rc;

    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.sort = sort;
    o.descending = desc;
    o.limit = -1;
    rc = run(fx, query, &o, got, sizeof got, NULL, NULL);
    if (rc != SHELF_OK)
        expect_fail(line, "search '%s': %s: %s", query, shelf_strerror(rc),
                    shelf_errmsg(fx->lib));
    else if (strcmp(got, want) != 0)
        expect_fail(line, "search '%s' (sort %d%s): got [%s], want [%s]", query, sort,
                    desc ? " desc" : "", got, want);
}

/* The query must fail with SHELF_EINVAL at column col. */
#define EXPECT_EINVAL(fx, query, col) expect_einval(fx, query, col, __LINE__)
static void expect_einval(fixture *fx, const char *query, int col, int line)
{
    shelf_cursor *cur = (shelf_cursor *)&cur;
    int64_t total = -2;
    int rc = shelf_search(fx->lib, query, NULL, &cur, &total, NULL);

    if (rc != SHELF_EINVAL || cur != NULL) {
        expect_fail(line, "search '%s': got %s, want SHELF_EINVAL", query, shelf_strerror(rc));
        if (rc == SHELF_OK)
            shelf_cursor_free(cur);
        return;
    }
    if (shelf_query_errpos(fx->lib) != col)
        expect_fail(line, "search '%s': error at column %d, want %d (%s)", query,
                    shelf_query_errpos(fx->lib), col, shelf_errmsg(fx->lib));
    if (strchr(shelf_errmsg(fx->lib), '\n') != NULL)
        expect_fail(line, "search '%s': message of more than one line", query);
}

#define ALL_BUT_DATED "Kick Deep|BD_808|Snare Tight|Funk Break 120bpm|Warm Pad C3|Chant|" \
                      "Groove 95 BPM|Piano C4|Kick Room|Drums Fill|Twin One|Twin Two"
#define ALL ALL_BUT_DATED "|Hat Open|Sub Drop|Riser Long"

TEST(search_text_fields)
{
    fixture fx;

    setup(&fx);
    EXPECT(&fx, "tag:drums", "Kick Deep|BD_808|Snare Tight|Hat Open");
    EXPECT(&fx, "tag:DRUMS", "Kick Deep|BD_808|Snare Tight|Hat Open");
    EXPECT(&fx, "tag:dru*", "Kick Deep|BD_808|Snare Tight|Hat Open");
    EXPECT(&fx, "tag:dark", "Kick Deep|Warm Pad C3|Sub Drop");
    EXPECT(&fx, "tag:50%*", "Kick Deep");
    EXPECT(&fx, "tag:500*", "BD_808");
    EXPECT(&fx, "tag:5*", "Kick Deep|BD_808");
    EXPECT(&fx, "tag:\"hi-hat\"", "Hat Open");
    EXPECT(&fx, "tag:hi*", "Hat Open");
    EXPECT(&fx, "tag:\"hi hat\"", "");
    EXPECT(&fx, "tag:dru", "");
    EXPECT(&fx, "tag:_rums", "");
    EXPECT(&fx, "-tag:drums tag:dark", "Warm Pad C3|Sub Drop");
    EXPECT(&fx, "cat:kick", "Kick Deep|BD_808|Kick Room");
    EXPECT(&fx, "cat:KICK", "Kick Deep|BD_808|Kick Room");
    EXPECT(&fx, "cat:bd", "Kick Deep|BD_808|Kick Room");
    EXPECT(&fx, "cat:hh", "Hat Open");
    EXPECT(&fx, "category:hihat", "Hat Open");
    EXPECT(&fx, "cat:ki*", "Kick Deep|BD_808|Kick Room");
    EXPECT(&fx, "cat:k*", "Kick Deep|BD_808|Kick Room|Piano C4");
    EXPECT(&fx, "cat:loop", "Funk Break 120bpm|Groove 95 BPM");
    EXPECT(&fx, "cat:bass", "Sub Drop");
    EXPECT(&fx, "cat:vocal", "Chant");
    EXPECT(&fx, "-cat:kick tag:drums", "Snare Tight|Hat Open");
    EXPECT(&fx, "author:choir", "Chant");
    EXPECT(&fx, "author:PERSON", "Chant");
    EXPECT(&fx, "author:\"choir person\"", "Chant");
    EXPECT(&fx, "author:%", "");
    EXPECT(&fx, "-author:choir cat:vocal", "");
    /* a sample without the value is not one with it */
    EXPECT(&fx, "-author:choir tag:drums", "Kick Deep|BD_808|Snare Tight|Hat Open");
    EXPECT(&fx, "-cat:kick name:drums", "Drums Fill");
    EXPECT(&fx, "-cat:kick* name:twin", "Twin One|Twin Two");
    EXPECT(&fx, "type:sample", ALL);
    EXPECT(&fx, "type:samples", ALL);
    EXPECT(&fx, "type:patch", "");
    EXPECT(&fx, "type:project", "");
    EXPECT(&fx, "-type:sample", "");
    EXPECT(&fx, "format:flac", "BD_808|Sub Drop");
    EXPECT(&fx, "format:FLAC", "BD_808|Sub Drop");
    EXPECT(&fx, "format:aif", "Snare Tight|Groove 95 BPM");
    EXPECT(&fx, "format:aiff", "Snare Tight|Groove 95 BPM");
    EXPECT(&fx, "format:pcm_24", "Hat Open|Sub Drop");
    EXPECT(&fx, "format:vorbis", "Chant");
    EXPECT(&fx, "format:ogg", "Chant");
    EXPECT(&fx, "format:wave", "Kick Deep|Funk Break 120bpm|Warm Pad C3|Hat Open|Riser Long|"
                               "Piano C4|Kick Room|Drums Fill|Twin One|Twin Two");
    EXPECT(&fx, "-format:wav -format:flac", "Snare Tight|Groove 95 BPM|Chant");
    EXPECT(&fx, "name:kick", "Kick Deep|Kick Room");
    EXPECT(&fx, "name:drums", "Drums Fill");
    EXPECT(&fx, "name:\"kick room\"", "Kick Room");
    EXPECT(&fx, "path:acoustic", "Kick Room");
    EXPECT(&fx, "path:kits", "Kick Room");
    EXPECT(&fx, "path:drums", "Kick Deep|BD_808|Snare Tight|Hat Open|Drums Fill");
    EXPECT(&fx, "path:drums -name:drums", "Kick Deep|BD_808|Snare Tight|Hat Open");
    EXPECT(&fx, "name:acoustic", "");
    teardown(&fx);
}

TEST(search_number_fields)
{
    fixture fx;

    setup(&fx);
    EXPECT(&fx, "rate:44100", "Kick Deep|BD_808|Funk Break 120bpm|Chant|Groove 95 BPM|"
                              "Sub Drop|Piano C4|Drums Fill|Twin One|Twin Two");
    EXPECT(&fx, "rate:44.1k", "Kick Deep|BD_808|Funk Break 120bpm|Chant|Groove 95 BPM|"
                              "Sub Drop|Piano C4|Drums Fill|Twin One|Twin Two");
    EXPECT(&fx, "rate:>=48k", "Snare Tight|Warm Pad C3|Hat Open");
    EXPECT(&fx, "rate:>48k", "Hat Open");
    EXPECT(&fx, "rate:96khz", "Hat Open");
    EXPECT(&fx, "rate:<44.1k", "Riser Long|Kick Room");
    EXPECT(&fx, "rate:8k..22050", "Riser Long|Kick Room");
    EXPECT(&fx, "-rate:<=44100", "Snare Tight|Warm Pad C3|Hat Open");
    EXPECT(&fx, "ch:2", "Funk Break 120bpm|Warm Pad C3|Groove 95 BPM|Drums Fill");
    EXPECT(&fx, "channels:>1", "Funk Break 120bpm|Warm Pad C3|Groove 95 BPM|Drums Fill");
    EXPECT(&fx, "ch:3", "");
    EXPECT(&fx, "bits:24", "Hat Open|Sub Drop");
    EXPECT(&fx, "bits:>16", "Hat Open|Sub Drop");
    EXPECT(&fx, "key:C3", "Snare Tight|Warm Pad C3");
    EXPECT(&fx, "key:48", "Snare Tight|Warm Pad C3");
    EXPECT(&fx, "key:C2", "Kick Room");
    EXPECT(&fx, "key:36", "Kick Room");
    EXPECT(&fx, "key:C4", "Piano C4");
    EXPECT(&fx, "key:60", "Piano C4");
    EXPECT(&fx, "key:B#3", "Piano C4");
    EXPECT(&fx, "key:C3..C5", "Snare Tight|Warm Pad C3|Piano C4");
    EXPECT(&fx, "key:<C3", "Kick Room");
    EXPECT(&fx, "key:..127", "Kick Room|Snare Tight|Warm Pad C3|Piano C4");
    EXPECT(&fx, "-key:..127 tag:drums", "Kick Deep|BD_808|Hat Open");
    EXPECT(&fx, "key:C#3", "");
    EXPECT(&fx, "key:Bb2", "");
    EXPECT(&fx, "bpm:120", "Funk Break 120bpm");
    EXPECT(&fx, "bpm:120.4", "Funk Break 120bpm");
    EXPECT(&fx, "bpm:119.6", "Funk Break 120bpm");
    EXPECT(&fx, "bpm:119.4", "");
    EXPECT(&fx, "bpm:95", "Groove 95 BPM");
    EXPECT(&fx, "tempo:90..125", "Funk Break 120bpm|Groove 95 BPM");
    EXPECT(&fx, "bpm:>100", "Funk Break 120bpm");
    EXPECT(&fx, "bpm:<100", "Groove 95 BPM");
    EXPECT(&fx, "bpm:0..", "Funk Break 120bpm|Groove 95 BPM");
    EXPECT(&fx, "len:500ms", "Kick Deep|Snare Tight");
    EXPECT(&fx, "len:0.5", "Kick Deep|Snare Tight");
    EXPECT(&fx, "len:0.54", "Kick Deep|Snare Tight");
    EXPECT(&fx, "len:0.56", "");
    EXPECT(&fx, "len:2s", "Funk Break 120bpm");
    EXPECT(&fx, "length:3", "Warm Pad C3");
    EXPECT(&fx, "len:1m", "");
    EXPECT(&fx, "len:>1m", "Riser Long");
    EXPECT(&fx, "len:1min..", "Riser Long");
    EXPECT(&fx, "len:<200ms", "Hat Open|Twin One|Twin Two");
    EXPECT(&fx, "len:100ms..300ms", "Hat Open|Twin One|Twin Two|BD_808|Kick Room");
    EXPECT(&fx, "len:>2 len:<1m", "Warm Pad C3|Groove 95 BPM");
    teardown(&fx);
}

/* rating, fav, missing, loop, added, used (the twin rated 5 depends on ids) */
TEST(search_user_fields)
{
    char want[512];
    fixture fx;

    setup(&fx);
    snprintf(want, sizeof want, "Kick Deep|%s", files[fx.twin_hi].name);
    EXPECT(&fx, "rating:5", want);
    snprintf(want, sizeof want, "Kick Deep|Warm Pad C3|%s", files[fx.twin_hi].name);
    EXPECT(&fx, "rating:>=4", want);
    EXPECT(&fx, "rating:1..3", "BD_808|Piano C4");
    EXPECT(&fx, "rating:<4 rating:>0", "BD_808|Piano C4");
    snprintf(want, sizeof want, "Snare Tight|Funk Break 120bpm|Chant|Hat Open|Groove 95 BPM|"
             "Sub Drop|Riser Long|Kick Room|Drums Fill|%s", files[fx.twin_lo].name);
    EXPECT(&fx, "rating:0", want);
    EXPECT(&fx, "fav:yes", "Kick Deep|Chant");
    EXPECT(&fx, "fav:y", "Kick Deep|Chant");
    EXPECT(&fx, "fav:no", "BD_808|Snare Tight|Funk Break 120bpm|Warm Pad C3|Hat Open|"
                          "Groove 95 BPM|Sub Drop|Riser Long|Piano C4|Kick Room|Drums Fill|"
                          "Twin One|Twin Two");
    EXPECT(&fx, "-fav:yes tag:drums", "BD_808|Snare Tight|Hat Open");
    EXPECT(&fx, "missing:yes", "Groove 95 BPM");
    EXPECT(&fx, "missing:no cat:loop", "Funk Break 120bpm");
    EXPECT(&fx, "loop:yes", "Snare Tight|Piano C4");
    EXPECT(&fx, "loop:no key:..127", "Kick Room|Warm Pad C3");
    EXPECT(&fx, "added:2026-01-31", "Sub Drop");
    EXPECT(&fx, "added:2026-01-30", "Riser Long");
    EXPECT(&fx, "added:2026-02-01", "Hat Open");
    EXPECT(&fx, "added:2026-01-30..2026-01-31", "Riser Long|Sub Drop");
    EXPECT(&fx, "added:<2026-01-31", "Riser Long");
    EXPECT(&fx, "added:<=2026-01-31", "Riser Long|Sub Drop");
    EXPECT(&fx, "added:..2026-02-01", "Riser Long|Sub Drop|Hat Open");
    EXPECT(&fx, "added:>2026-01-31", ALL_BUT_DATED "|Hat Open");
    EXPECT(&fx, "added:>=2026-01-31", ALL_BUT_DATED "|Hat Open|Sub Drop");
    EXPECT(&fx, "added:-1d", ALL_BUT_DATED);
    EXPECT(&fx, "added:-1h..", ALL_BUT_DATED);
    EXPECT(&fx, "added:today", ALL_BUT_DATED);
    EXPECT(&fx, "added:yesterday", "");
    EXPECT(&fx, "added:<-1d", "Riser Long|Sub Drop|Hat Open");
    EXPECT(&fx, "used:-1h", "Snare Tight|Piano C4");
    EXPECT(&fx, "used:today", "Snare Tight|Piano C4");
    EXPECT(&fx, "used:2026-01-31", "Sub Drop");
    EXPECT(&fx, "used:-1y", "Snare Tight|Piano C4|Sub Drop");
    /* never used matches no range */
    EXPECT(&fx, "used:<2026-02-01", "Sub Drop");
    EXPECT(&fx, "used:..2026-11-01", "Sub Drop");
    EXPECT(&fx, "-used:-1y fav:yes", "Kick Deep|Chant");
    teardown(&fx);
}

TEST(search_words)
{
    fixture fx;

    setup(&fx);
    EXPECT(&fx, "deep", "Kick Deep");
    EXPECT(&fx, "DEEP", "Kick Deep");
    EXPECT(&fx, "dee", "Kick Deep");
    EXPECT(&fx, "kick deep", "Kick Deep");
    EXPECT(&fx, "kick AND deep", "Kick Deep");
    EXPECT(&fx, "pad", "Warm Pad C3");
    EXPECT(&fx, "chant", "Chant");
    EXPECT(&fx, "Chänt", "Chant");
    EXPECT(&fx, "morning", "Chant");           /* title */
    EXPECT(&fx, "choir", "Chant");             /* artist */
    EXPECT(&fx, "felt", "Piano C4");           /* comment */
    EXPECT(&fx, "ambient", "Piano C4|Warm Pad C3");   /* genre, tag */
    EXPECT(&fx, "dark", "Kick Deep|Warm Pad C3|Sub Drop");   /* tags */
    EXPECT(&fx, "acoustic", "Kick Room");      /* path, tag */
    EXPECT(&fx, "hihat", "Hat Open");          /* category */
    EXPECT(&fx, "or", "");                     /* a word, not the keyword */
    /* negation of a word */
    EXPECT(&fx, "kick -deep", "BD_808|Kick Room");
    EXPECT(&fx, "kick NOT deep", "BD_808|Kick Room");
    EXPECT(&fx, "tag:drums -kick", "Snare Tight|Hat Open");
    EXPECT(&fx, "-tag:drums kick", "Kick Room");
    EXPECT(&fx, "-\"kick deep\" tag:dark", "Warm Pad C3|Sub Drop");
    /* OR and parentheses */
    EXPECT(&fx, "deep OR chant", "Kick Deep|Chant");
    EXPECT(&fx, "(snare OR hat) tag:drums", "Snare Tight|Hat Open");
    EXPECT(&fx, "snare OR hat tag:drums", "Snare Tight|Hat Open");
    EXPECT(&fx, "snare OR open -tag:drums", "Snare Tight");
    EXPECT(&fx, "tag:dark OR fav:yes", "Kick Deep|Warm Pad C3|Sub Drop|Chant");
    EXPECT(&fx, "-(tag:dark OR fav:yes) tag:drums", "BD_808|Snare Tight|Hat Open");
    EXPECT(&fx, "(kick OR snare) (deep OR tight)", "Kick Deep|Snare Tight");
    EXPECT(&fx, "pad OR (kick room)", "Warm Pad C3|Kick Room");
    /* phrases */
    EXPECT(&fx, "\"kick deep\"", "Kick Deep");
    EXPECT(&fx, "\"deep kick\"", "");
    EXPECT(&fx, "\"kick room\"", "Kick Room");
    EXPECT(&fx, "kick_room", "Kick Room");
    EXPECT(&fx, "kick_ro", "Kick Room");
    EXPECT(&fx, "bd_808", "BD_808");
    /* synonyms */
    EXPECT(&fx, "bd", "Kick Deep|BD_808|Kick Room");
    EXPECT(&fx, "kick", "Kick Deep|BD_808|Kick Room");
    EXPECT(&fx, "bassdrum", "Kick Deep|BD_808|Kick Room");
    EXPECT(&fx, "hh", "Hat Open");
    EXPECT(&fx, "vox", "Chant");
    /* characters that are not words are ignored; nothing left finds nothing */
    EXPECT(&fx, "kick &", "Kick Deep|BD_808|Kick Room");
    EXPECT(&fx, "kick / deep", "Kick Deep");
    EXPECT(&fx, "", "");
    EXPECT(&fx, "   ", "");
    EXPECT(&fx, "&", "");
    EXPECT(&fx, "& / !", "");
    EXPECT(&fx, "\"&\"", "");
    /* only a filter: the filtered rows */
    EXPECT(&fx, "fav:yes", "Kick Deep|Chant");
    /* words of the library's own folder do not leak in as matches of nothing */
    EXPECT(&fx, "zzqx", "");
    teardown(&fx);
}

TEST(search_errors)
{
    fixture fx;

    setup(&fx);
    EXPECT_EINVAL(&fx, "kick (snare", 12);
    EXPECT_EINVAL(&fx, "foo:bar", 1);
    EXPECT_EINVAL(&fx, "in:nope", 1);
    EXPECT_EINVAL(&fx, "kick in:nope", 6);
    EXPECT_EINVAL(&fx, "kick (tag:x OR -in:nope)", 17);
    /* the message stays one line whatever the name */
    EXPECT_EINVAL(&fx, "kick in:\"no\nsuch\"", 6);
    /* a query too long for the compiler is refused at a column, or runs */
    {
        char *q = nested("bpm:1..2 OR ", "kick", "", 140);
        shelf_cursor *cur = NULL;
        int rc = shelf_search(fx.lib, q, NULL, &cur, NULL, NULL);
        int pos = shelf_query_errpos(fx.lib);

        if (rc == SHELF_OK)
            shelf_cursor_free(cur);
        else if (rc != SHELF_EINVAL || pos < 1 || pos > (int)strlen(q) + 1)
            expect_fail(__LINE__, "search of 140 bpm ranges: %s at column %d: %s",
                        shelf_strerror(rc), pos, shelf_errmsg(fx.lib));
        shelf_free(q);
    }
    teardown(&fx);
}

TEST(search_sort)
{
    char want[512];
    fixture fx;

    setup(&fx);
    /* without words: by name */
    EXPECT_ORDER(&fx, "tag:drums", SHELF_SORT_DEFAULT, 0, "BD_808|Hat Open|Kick Deep|Snare Tight");
    EXPECT_ORDER(&fx, "tag:drums", SHELF_SORT_RELEVANCE, 0, "BD_808|Hat Open|Kick Deep|Snare Tight");
    EXPECT_ORDER(&fx, "tag:drums", SHELF_SORT_NAME, 0, "BD_808|Hat Open|Kick Deep|Snare Tight");
    EXPECT_ORDER(&fx, "tag:drums", SHELF_SORT_NAME, 1, "Snare Tight|Kick Deep|Hat Open|BD_808");
    EXPECT_ORDER(&fx, "tag:dark", SHELF_SORT_DURATION, 0, "Kick Deep|Sub Drop|Warm Pad C3");
    EXPECT_ORDER(&fx, "tag:dark", SHELF_SORT_DURATION, 1, "Warm Pad C3|Sub Drop|Kick Deep");
    EXPECT_ORDER(&fx, "tag:dark", SHELF_SORT_RATING, 0, "Sub Drop|Warm Pad C3|Kick Deep");
    EXPECT_ORDER(&fx, "tag:dark", SHELF_SORT_RATING, 1, "Kick Deep|Warm Pad C3|Sub Drop");
    EXPECT_ORDER(&fx, "added:<2026-03-01", SHELF_SORT_ADDED, 0, "Riser Long|Sub Drop|Hat Open");
    EXPECT_ORDER(&fx, "added:<2026-03-01", SHELF_SORT_ADDED, 1, "Hat Open|Sub Drop|Riser Long");
    /* with words: by relevance, or by a key when asked */
    EXPECT_ORDER(&fx, "kick", SHELF_SORT_NAME, 0, "BD_808|Kick Deep|Kick Room");
    EXPECT_ORDER(&fx, "kick", SHELF_SORT_NAME, 1, "Kick Room|Kick Deep|BD_808");
    EXPECT_ORDER(&fx, "kick", SHELF_SORT_DURATION, 0, "BD_808|Kick Room|Kick Deep");
    snprintf(want, sizeof want, "%s|Kick Room|Kick Deep|BD_808", files[fx.twin_hi].name);
    EXPECT_ORDER(&fx, "kick OR twin rating:5", SHELF_SORT_NAME, 1, want);
    EXPECT_ORDER(&fx, "bpm:0..", SHELF_SORT_TEMPO, 0, "Groove 95 BPM|Funk Break 120bpm");
    EXPECT_ORDER(&fx, "ch:2", SHELF_SORT_DURATION, 1,
                 "Warm Pad C3|Groove 95 BPM|Funk Break 120bpm|Drums Fill");
    teardown(&fx);
}

TEST(search_ranking)
{
    char want[512], got[4096];
    shelf_search_opts o;
    fixture fx;

    setup(&fx);
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.limit = -1;
    /* "drums" is in names, paths and tags */
    ASSERT_OKL(fx.lib, run(&fx, "drums", &o, got, sizeof got, NULL, NULL));
    sort_names(got);
    ASSERT_EQ_STR(got, "BD_808|Drums Fill|Hat Open|Kick Deep|Snare Tight");
    /* the same with no tags: "drop" names Sub Drop, is in Riser Long's path */
    EXPECT_ORDER(&fx, "drop", SHELF_SORT_DEFAULT, 0, "Sub Drop|Riser Long");
    EXPECT(&fx, "name:drop", "Sub Drop");
    EXPECT(&fx, "path:drop", "Sub Drop|Riser Long");
    /* equal text: the 5-star twin first although its id is larger */
    snprintf(want, sizeof want, "%s|%s", files[fx.twin_hi].name, files[fx.twin_lo].name);
    EXPECT_ORDER(&fx, "twin", SHELF_SORT_DEFAULT, 0, want);
    EXPECT_ORDER(&fx, "twin", SHELF_SORT_RELEVANCE, 0, want);
    /* unrated again: the tie goes to the smaller id */
    ASSERT_OKL(fx.lib, shelf_rate(fx.lib, fx.id[fx.twin_hi], 0));
    snprintf(want, sizeof want, "%s|%s", files[fx.twin_lo].name, files[fx.twin_hi].name);
    EXPECT_ORDER(&fx, "twin", SHELF_SORT_DEFAULT, 0, want);
    /* recent use also lifts it */
    ASSERT_OKL(fx.lib, shelf_touch(fx.lib, fx.id[fx.twin_hi]));
    snprintf(want, sizeof want, "%s|%s", files[fx.twin_hi].name, files[fx.twin_lo].name);
    EXPECT_ORDER(&fx, "twin", SHELF_SORT_DEFAULT, 0, want);
    teardown(&fx);
}

TEST(search_paging_and_counts)
{
    static const char *const queries[] = { "type:sample", "drums OR kick OR twin OR tag:dark" };
    shelf_search_opts o;
    int64_t total;
    int exact, qi, k, nall;
    char all[4096], page[4096];
    fixture fx;

    setup(&fx);
    for (qi = 0; qi < 2; qi++) {
        int64_t off;
        size_t len = 0;

        memset(&o, 0, sizeof o);
        o.size = sizeof o;
        o.limit = -1;
        ASSERT_OKL(fx.lib, run(&fx, queries[qi], &o, all, sizeof all, &total, &exact));
        nall = count_names(all);
        ASSERT_EQ_INT(total, nall);
        ASSERT_EQ_INT(exact, 1);
        ASSERT(nall >= 9);
        /* pages of 4 give the same rows in the same order, each once */
        {
            char joined[4096] = "";

            for (off = 0; off < nall + 4; off += 4) {
                o.limit = 4;
                o.offset = off;
                ASSERT_OKL(fx.lib, run(&fx, queries[qi], &o, page, sizeof page, &total, &exact));
                ASSERT_EQ_INT(total, nall);
                ASSERT_EQ_INT(count_names(page), off >= nall ? 0 : nall - off < 4 ? nall - off : 4);
                if (*page)
                    len += (size_t)snprintf(joined + len, sizeof joined - len, "%s%s",
                                            len ? "|" : "", page);
            }
            ASSERT_EQ_STR(joined, all);
        }
    }
    /* limit 0 is a page of 50: everything here */
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    ASSERT_OKL(fx.lib, run(&fx, "type:sample", &o, page, sizeof page, &total, &exact));
    ASSERT_EQ_INT(count_names(page), NFILES);
    ASSERT_EQ_INT(total, NFILES);
    ASSERT_EQ_INT(exact, 1);
    /* count_limit */
    for (k = 1; k <= NFILES + 1; k++) {
        o.count_limit = k;
        o.limit = 2;
        ASSERT_OKL(fx.lib, run(&fx, "type:sample", &o, page, sizeof page, &total, &exact));
        ASSERT_EQ_INT(count_names(page), 2);
        ASSERT_EQ_INT(total, k < NFILES ? k : NFILES);
        ASSERT_EQ_INT(exact, k >= NFILES);
    }
    o.count_limit = -1;
    ASSERT_OKL(fx.lib, run(&fx, "type:sample", &o, page, sizeof page, &total, &exact));
    ASSERT_EQ_INT(total, NFILES);
    ASSERT_EQ_INT(exact, 1);
    o.count_limit = 3;
    ASSERT_OKL(fx.lib, run(&fx, "kick", &o, page, sizeof page, &total, &exact));
    ASSERT_EQ_INT(total, 3);
    ASSERT_EQ_INT(exact, 1);
    o.count_limit = 2;
    ASSERT_OKL(fx.lib, run(&fx, "kick", &o, page, sizeof page, &total, &exact));
    ASSERT_EQ_INT(total, 2);
    ASSERT_EQ_INT(exact, 0);
    /* an empty query counts nothing */
    ASSERT_OKL(fx.lib, run(&fx, "", &o, page, sizeof page, &total, &exact));
    ASSERT_EQ_STR(page, "");
    ASSERT_EQ_INT(total, 0);
    ASSERT_EQ_INT(exact, 1);
    /* a bad sort key, options from an older ABI */
    {
        shelf_cursor *cur = (shelf_cursor *)&cur;

        o.sort = 999;
        ASSERT_RC(SHELF_EINVAL, shelf_search(fx.lib, "kick", &o, &cur, NULL, NULL));
        ASSERT(cur == NULL);
        o.sort = 0;
        o.size = sizeof o - 1;
        ASSERT_RC(SHELF_EINVAL, shelf_search(fx.lib, "kick", &o, &cur, NULL, NULL));
        ASSERT(cur == NULL);
    }
    teardown(&fx);
}

/* ---- collections ------------------------------------------------------------ */

typedef struct coll_list {
    char text[2048];
    size_t len;
} coll_list;

static void on_collection(void *ud, const char *name, const char *query, int64_t count)
{
    coll_list *l = ud;

    l->len += (size_t)snprintf(l->text + l->len, sizeof l->text - l->len, "%s=%s:%lld;", name,
                               query ? query : "(manual)", (long long)count);
    ASSERT(l->len < sizeof l->text);
}

static void items(fixture *fx, const char *name, char *out, size_t size)
{
    const shelf_sample *row;
    shelf_cursor *cur = NULL;
    size_t len = 0;
    int rc;

    out[0] = '\0';
    ASSERT_OKL(fx->lib, shelf_collection_items(fx->lib, name, NULL, &cur));
    while ((rc = shelf_cursor_next(cur, &row)) == SHELF_ROW)
        len += (size_t)snprintf(out + len, size - len, "%s%s", len ? "|" : "", row->name);
    ASSERT_RC(SHELF_DONE, rc);
    shelf_cursor_free(cur);
}

TEST(collections)
{
    char got[4096];
    coll_list l;
    fixture fx;

    setup(&fx);
    ASSERT_OKL(fx.lib, shelf_collection_new(fx.lib, "live-kicks", NULL));
    ASSERT_RC(SHELF_EEXIST, shelf_collection_new(fx.lib, "live-kicks", NULL));
    ASSERT_RC(SHELF_EEXIST, shelf_collection_new(fx.lib, "live-kicks", "kick"));
    ASSERT_RC(SHELF_EINVAL, shelf_collection_new(fx.lib, "", NULL));
    ASSERT_RC(SHELF_EINVAL, shelf_collection_new(fx.lib, "a\nb", NULL));
    ASSERT_OKL(fx.lib, shelf_collection_add(fx.lib, "live-kicks", fx.id[KD], -1));
    ASSERT_OKL(fx.lib, shelf_collection_add(fx.lib, "live-kicks", fx.id[BD], -1));
    ASSERT_OKL(fx.lib, shelf_collection_add(fx.lib, "live-kicks", fx.id[KR], 0));
    items(&fx, "live-kicks", got, sizeof got);
    ASSERT_EQ_STR(got, "Kick Room|Kick Deep|BD_808");
    ASSERT_OKL(fx.lib, shelf_collection_add(fx.lib, "live-kicks", fx.id[SN], 1));
    items(&fx, "live-kicks", got, sizeof got);
    ASSERT_EQ_STR(got, "Kick Room|Snare Tight|Kick Deep|BD_808");
    /* moves */
    ASSERT_OKL(fx.lib, shelf_collection_add(fx.lib, "live-kicks", fx.id[BD], 0));
    items(&fx, "live-kicks", got, sizeof got);
    ASSERT_EQ_STR(got, "BD_808|Kick Room|Snare Tight|Kick Deep");
    ASSERT_OKL(fx.lib, shelf_collection_add(fx.lib, "live-kicks", fx.id[BD], 99));
    items(&fx, "live-kicks", got, sizeof got);
    ASSERT_EQ_STR(got, "Kick Room|Snare Tight|Kick Deep|BD_808");
    ASSERT_OKL(fx.lib, shelf_collection_add(fx.lib, "live-kicks", fx.id[KR], 2));
    items(&fx, "live-kicks", got, sizeof got);
    ASSERT_EQ_STR(got, "Snare Tight|Kick Deep|Kick Room|BD_808");
    ASSERT_OKL(fx.lib, shelf_collection_remove(fx.lib, "live-kicks", fx.id[SN]));
    items(&fx, "live-kicks", got, sizeof got);
    ASSERT_EQ_STR(got, "Kick Deep|Kick Room|BD_808");
    ASSERT_RC(SHELF_ENOTFOUND, shelf_collection_remove(fx.lib, "live-kicks", fx.id[SN]));
    ASSERT_RC(SHELF_ENOTFOUND, shelf_collection_add(fx.lib, "live-kicks", 999999, -1));
    ASSERT_RC(SHELF_ENOTFOUND, shelf_collection_add(fx.lib, "nope", fx.id[KD], -1));
    ASSERT_OKL(fx.lib, shelf_collection_add(fx.lib, "live-kicks", fx.id[KR], 0));
    items(&fx, "live-kicks", got, sizeof got);
    ASSERT_EQ_STR(got, "Kick Room|Kick Deep|BD_808");

    EXPECT(&fx, "in:live-kicks", "Kick Deep|Kick Room|BD_808");
    EXPECT(&fx, "in:live-kicks deep", "Kick Deep");
    EXPECT(&fx, "-in:live-kicks kick", "");
    EXPECT(&fx, "-in:live-kicks tag:drums", "Snare Tight|Hat Open");
    EXPECT(&fx, "in:live-kicks OR tag:dark", "Kick Deep|Kick Room|BD_808|Warm Pad C3|Sub Drop");

    /* a saved search */
    ASSERT_OKL(fx.lib, shelf_collection_new(fx.lib, "dark-stuff", "tag:dark -fav:yes"));
    ASSERT_RC(SHELF_EINVAL, shelf_collection_add(fx.lib, "dark-stuff", fx.id[KD], -1));
    EXPECT(&fx, "in:dark-stuff", "Warm Pad C3|Sub Drop");
    EXPECT(&fx, "in:dark-stuff rating:>0", "Warm Pad C3");
    EXPECT(&fx, "-in:dark-stuff tag:dark", "Kick Deep");
    items(&fx, "dark-stuff", got, sizeof got);
    ASSERT_EQ_STR(got, "Sub Drop|Warm Pad C3");
    /* one referring to others */
    ASSERT_OKL(fx.lib, shelf_collection_new(fx.lib, "dark-kicks", "in:dark-stuff OR in:live-kicks"));
    EXPECT(&fx, "in:dark-kicks", "Warm Pad C3|Sub Drop|Kick Deep|Kick Room|BD_808");
    EXPECT(&fx, "in:dark-kicks rating:>=4", "Warm Pad C3|Kick Deep");
    /* a saved search with words */
    ASSERT_OKL(fx.lib, shelf_collection_new(fx.lib, "twins", "twin"));
    EXPECT(&fx, "in:twins", "Twin One|Twin Two");
    EXPECT(&fx, "in:twins OR pad", "Twin One|Twin Two|Warm Pad C3");
    /* a bad saved search is refused with its column */
    ASSERT_RC(SHELF_EINVAL, shelf_collection_new(fx.lib, "bad", "kick (snare"));
    ASSERT_EQ_INT(shelf_query_errpos(fx.lib), 12);
    ASSERT_RC(SHELF_ENOTFOUND, shelf_collection_delete(fx.lib, "bad"));
    /* a quoted name with a space */
    ASSERT_OKL(fx.lib, shelf_collection_new(fx.lib, "my pads", NULL));
    ASSERT_OKL(fx.lib, shelf_collection_add(fx.lib, "my pads", fx.id[WP], -1));
    EXPECT(&fx, "in:\"my pads\"", "Warm Pad C3");

    memset(&l, 0, sizeof l);
    ASSERT_OKL(fx.lib, shelf_collection_list(fx.lib, on_collection, &l));
    ASSERT_EQ_STR(l.text, "dark-kicks=in:dark-stuff OR in:live-kicks:5;"
                          "dark-stuff=tag:dark -fav:yes:2;live-kicks=(manual):3;"
                          "my pads=(manual):1;twins=twin:2;");

    ASSERT_OKL(fx.lib, shelf_collection_delete(fx.lib, "live-kicks"));
    ASSERT_RC(SHELF_ENOTFOUND, shelf_collection_delete(fx.lib, "live-kicks"));
    ASSERT_RC(SHELF_ENOTFOUND, shelf_collection_items(fx.lib, "live-kicks", NULL,
                                                      &(shelf_cursor *){ NULL }));
    EXPECT_EINVAL(&fx, "in:live-kicks", 1);
    /* the saved search that used it now fails, and is listed with -1 */
    {
        shelf_cursor *cur = NULL;

        ASSERT_RC(SHELF_EINVAL, shelf_search(fx.lib, "in:dark-kicks", NULL, &cur, NULL, NULL));
        ASSERT(cur == NULL);
    }
    memset(&l, 0, sizeof l);
    ASSERT_OKL(fx.lib, shelf_collection_list(fx.lib, on_collection, &l));
    ASSERT_EQ_STR(l.text, "dark-kicks=in:dark-stuff OR in:live-kicks:-1;"
                          "dark-stuff=tag:dark -fav:yes:2;my pads=(manual):1;twins=twin:2;");
    teardown(&fx);
}

/* A collection that refers to itself fails; it does not recurse forever. */
TEST(collections_cycle)
{
    shelf_cursor *cur = (shelf_cursor *)&cur;
    fixture fx;

    setup(&fx);
    ASSERT_OKL(fx.lib, shelf_collection_new(fx.lib, "ouro", "in:boros OR kick"));
    ASSERT_OKL(fx.lib, shelf_collection_new(fx.lib, "boros", "in:ouro"));
    ASSERT_RC(SHELF_EINVAL, shelf_search(fx.lib, "in:ouro", NULL, &cur, NULL, NULL));
    ASSERT(cur == NULL);
    ASSERT(strchr(shelf_errmsg(fx.lib), '\n') == NULL);
    /* the column of the error is within the query */
    if (shelf_query_errpos(fx.lib) < 1 || shelf_query_errpos(fx.lib) > 8)
        expect_fail(__LINE__, "search 'in:ouro': error at column %d: %s",
                    shelf_query_errpos(fx.lib), shelf_errmsg(fx.lib));
    teardown(&fx);
}

/* Collection names keep their case; in: finds them as they were written. */
TEST(collections_case)
{
    fixture fx;

    setup(&fx);
    ASSERT_OKL(fx.lib, shelf_collection_new(fx.lib, "MyKicks", NULL));
    ASSERT_OKL(fx.lib, shelf_collection_add(fx.lib, "MyKicks", fx.id[KD], -1));
    EXPECT(&fx, "in:MyKicks", "Kick Deep");
    teardown(&fx);
}

/* ---- synonyms ---------------------------------------------------------------- */

typedef struct syn_list {
    char text[4096];
    size_t len;
} syn_list;

static void on_synonym(void *ud, int64_t group, const char *word)
{
    syn_list *l = ud;

    (void)group;
    l->len += (size_t)snprintf(l->text + l->len, sizeof l->text - l->len, "%s ", word);
    ASSERT(l->len < sizeof l->text);
}

TEST(synonyms)
{
    static const char *const mantra[] = { "chant", "mantra" };
    static const char *const whoosh[] = { "whoosh", "riser" };
    static const char *const low[] = { "low", "deep", "mantra" };
    static const char *const bad[] = { "Upper", "x" };
    syn_list l;
    fixture fx;

    setup(&fx);
    EXPECT(&fx, "mantra", "");
    ASSERT_OKL(fx.lib, shelf_synonyms_add(fx.lib, mantra, 2));
    EXPECT(&fx, "mantra", "Chant");
    EXPECT(&fx, "chant", "Chant");
    ASSERT_OKL(fx.lib, shelf_synonyms_add(fx.lib, whoosh, 2));
    EXPECT(&fx, "whoosh", "Riser Long");
    EXPECT(&fx, "whoosh OR mantra", "Riser Long|Chant");
    EXPECT(&fx, "-whoosh fx", "");
    /* joining groups: low and deep join chant and mantra */
    ASSERT_OKL(fx.lib, shelf_synonyms_add(fx.lib, low, 3));
    EXPECT(&fx, "low", "Kick Deep|Chant");
    EXPECT(&fx, "mantra", "Kick Deep|Chant");
    ASSERT_OKL(fx.lib, shelf_synonyms_remove(fx.lib, "whoosh"));
    EXPECT(&fx, "whoosh", "");
    EXPECT(&fx, "riser", "Riser Long");
    ASSERT_RC(SHELF_ENOTFOUND, shelf_synonyms_remove(fx.lib, "whoosh"));
    ASSERT_RC(SHELF_EINVAL, shelf_synonyms_add(fx.lib, bad, 2));
    ASSERT_RC(SHELF_EINVAL, shelf_synonyms_add(fx.lib, mantra, 1));
    /* the defaults, and removing one of them */
    EXPECT(&fx, "cp", "");
    ASSERT_OKL(fx.lib, shelf_synonyms_remove(fx.lib, "hh"));
    EXPECT(&fx, "hh", "");
    memset(&l, 0, sizeof l);
    ASSERT_OKL(fx.lib, shelf_synonyms_list(fx.lib, on_synonym, &l));
    ASSERT(strstr(l.text, "bassdrum bd kick kickdrum ") != NULL);
    ASSERT(strstr(l.text, " hh ") == NULL);
    ASSERT(strstr(l.text, "chant deep low mantra ") != NULL);
    teardown(&fx);
}

/* ---- duplicates ----------------------------------------------------------------- */

typedef struct dupe_list {
    char text[4096];
    size_t len;
    int calls;
} dupe_list;

static void on_dupe(void *ud, int kind, int64_t group, const shelf_sample *row)
{
    dupe_list *l = ud;

    l->calls++;
    l->len += (size_t)snprintf(l->text + l->len, sizeof l->text - l->len, "%d/%lld:%s;", kind,
                               (long long)group, row->relpath);
    ASSERT(l->len < sizeof l->text);
}

static int64_t id_at(shelf_library *lib, const char *src, const char *rel)
{
    char p[PATH_MAX];
    int64_t id = 0;

    test_pathf(p, sizeof p, "%s/%s", src, rel);
    ASSERT_OKL(lib, shelf_catalog_find_path(lib, p, &id));
    return id;
}

static void sample_meta(shelf_library *lib, int64_t id, int *rating, int *fav, char *tags, size_t size)
{
    const shelf_sample *row;
    shelf_cursor *cur;

    ASSERT_OKL(lib, shelf_catalog_get(lib, id, &cur, &row));
    *rating = row->rating;
    *fav = row->favourite;
    snprintf(tags, size, "%s", row->tags ? row->tags : "");
    shelf_cursor_free(cur);
}

/* shelf_dupes_fold on the samples the dupes test made: what moves, what is
 * refused, all or nothing. */
static void dupes_fold_checks(shelf_library *lib, const char *src)
{
    int64_t x = id_at(lib, src, "a/x.wav"), copy = id_at(lib, src, "b/x copy.wav");
    int64_t wav = id_at(lib, src, "c/tone.wav"), flac = id_at(lib, src, "c/tone.flac");
    int64_t lonely = id_at(lib, src, "e/lonely.wav"), drop[3];
    shelf_fold_stats st;
    const shelf_sample *row;
    shelf_cursor *cur;
    char tags[256];
    int rating, fav;

    ASSERT_OKL(lib, shelf_tag_add(lib, copy, "warm"));
    ASSERT_OKL(lib, shelf_tag_add(lib, copy, "鼓"));
    ASSERT_OKL(lib, shelf_tag_add(lib, x, "warm"));
    ASSERT_OKL(lib, shelf_rate(lib, copy, 4));
    ASSERT_OKL(lib, shelf_rate(lib, x, 5));
    ASSERT_OKL(lib, shelf_favourite(lib, copy, 1));

    /* all or nothing: a good one and one that is no duplicate */
    drop[0] = copy;
    drop[1] = lonely;
    memset(&st, 0xff, sizeof st);
    st.size = sizeof st;
    ASSERT_RC(SHELF_EINVAL, shelf_dupes_fold(lib, x, drop, 2, &st));
    ASSERT(strstr(shelf_errmsg(lib), "is no duplicate of") != NULL);
    ASSERT_EQ_INT(st.folded, 0);
    ASSERT_EQ_INT(st.tags, 0);
    ASSERT_OKL(lib, shelf_catalog_get(lib, copy, &cur, &row));
    shelf_cursor_free(cur);
    ASSERT_RC(SHELF_EINVAL, shelf_dupes_fold(lib, x, &x, 1, NULL));
    ASSERT_RC(SHELF_EINVAL, shelf_dupes_fold(lib, x, drop, 0, NULL));
    drop[0] = 999999;
    ASSERT_RC(SHELF_ENOTFOUND, shelf_dupes_fold(lib, x, drop, 1, NULL));
    ASSERT(strstr(shelf_errmsg(lib), "999999") != NULL);
    ASSERT_RC(SHELF_ENOTFOUND, shelf_dupes_fold(lib, 999999, &copy, 1, NULL));

    /* the same bytes, named twice: folded once */
    drop[0] = drop[1] = copy;
    memset(&st, 0, sizeof st);
    st.size = sizeof st;
    ASSERT_OKL(lib, shelf_dupes_fold(lib, x, drop, 2, &st));
    ASSERT_EQ_INT(st.size, sizeof st);
    ASSERT_EQ_INT(st.folded, 1);
    ASSERT_EQ_INT(st.tags, 1);
    ASSERT_EQ_INT(st.links, 0);
    sample_meta(lib, x, &rating, &fav, tags, sizeof tags);
    ASSERT_EQ_INT(rating, 5);           /* the higher one */
    ASSERT_EQ_INT(fav, 1);
    ASSERT(strstr(tags, "warm") && strstr(tags, "鼓"));
    ASSERT_RC(SHELF_ENOTFOUND, shelf_catalog_get(lib, copy, &cur, &row));

    /* the same audio, nothing uses it: folds; a size too small writes nothing */
    memset(&st, 0xff, sizeof st);
    st.size = sizeof st.size - 1;
    ASSERT_OKL(lib, shelf_dupes_fold(lib, wav, &flac, 1, &st));
    ASSERT_EQ_INT(st.size, sizeof st.size - 1);
    ASSERT_EQ_INT(st.folded, UINT64_MAX);
    ASSERT_RC(SHELF_ENOTFOUND, shelf_catalog_get(lib, flac, &cur, &row));
}

TEST(dupes)
{
    const char *base = test_tmpdir();
    char src[PATH_MAX], p[PATH_MAX], q[PATH_MAX], *data;
    shelf_library *lib;
    dupe_list l;
    size_t n;
    tg_spec s = TG_SPEC_INIT(WAV16, 44100, 1, 5000);
    static const char *const dirs[] = { "a", "b", "c", "d", "e" };

    test_pathf(src, sizeof src, "%s/src", base);
    ASSERT(mkdir(src, 0777) == 0);
    for (n = 0; n < 5; n++) {
        test_pathf(p, sizeof p, "%s/%s", src, dirs[n]);
        ASSERT(mkdir(p, 0777) == 0);
    }
    /* bytes: a/x.wav and b/x copy.wav */
    s.seed = 1;
    test_pathf(p, sizeof p, "%s/a/x.wav", src);
    ASSERT_EQ_INT(tg_write(p, &s), 0);
    data = test_read_file(p, &n);
    test_pathf(q, sizeof q, "%s/b/x copy.wav", src);
    test_write_file(q, data, n);
    free(data);
    /* audio: c/tone.wav and c/tone.flac, the same PCM */
    s.frames = 6000;
    s.seed = 2;
    test_pathf(p, sizeof p, "%s/c/tone.wav", src);
    ASSERT_EQ_INT(tg_write(p, &s), 0);
    s.format = FLAC16;
    test_pathf(p, sizeof p, "%s/c/tone.flac", src);
    ASSERT_EQ_INT(tg_write(p, &s), 0);
    /* name: d/a.wav and e/a.wav, different sounds */
    s.format = WAV16;
    s.frames = 7000;
    s.seed = 3;
    test_pathf(p, sizeof p, "%s/d/a.wav", src);
    ASSERT_EQ_INT(tg_write(p, &s), 0);
    s.seed = 4;
    test_pathf(p, sizeof p, "%s/e/a.wav", src);
    ASSERT_EQ_INT(tg_write(p, &s), 0);
    /* and one that is like nothing else */
    s.frames = 8000;
    s.seed = 5;
    test_pathf(p, sizeof p, "%s/e/lonely.wav", src);
    ASSERT_EQ_INT(tg_write(p, &s), 0);

    test_pathf(p, sizeof p, "%s/lib", base);
    lib = open_lib(p);
    import_dir(lib, src, 7);

    memset(&l, 0, sizeof l);
    ASSERT_OKL(lib, shelf_dupes(lib, SHELF_DUPES_BYTES, on_dupe, &l));
    ASSERT_EQ_STR(l.text, "1/1:a/x.wav;1/1:b/x copy.wav;");
    memset(&l, 0, sizeof l);
    ASSERT_OKL(lib, shelf_dupes(lib, SHELF_DUPES_AUDIO, on_dupe, &l));
    ASSERT_EQ_STR(l.text, "2/1:c/tone.flac;2/1:c/tone.wav;");
    memset(&l, 0, sizeof l);
    ASSERT_OKL(lib, shelf_dupes(lib, SHELF_DUPES_NAME, on_dupe, &l));
    ASSERT_EQ_STR(l.text, "4/1:d/a.wav;4/1:e/a.wav;");
    memset(&l, 0, sizeof l);
    ASSERT_OKL(lib, shelf_dupes(lib, SHELF_DUPES_BYTES | SHELF_DUPES_AUDIO | SHELF_DUPES_NAME,
                                on_dupe, &l));
    ASSERT_EQ_STR(l.text, "1/1:a/x.wav;1/1:b/x copy.wav;2/1:c/tone.flac;2/1:c/tone.wav;"
                          "4/1:d/a.wav;4/1:e/a.wav;");
    ASSERT_RC(SHELF_EINVAL, shelf_dupes(lib, 0, on_dupe, &l));
    ASSERT_RC(SHELF_EINVAL, shelf_dupes(lib, 0x8, on_dupe, &l));
    dupes_fold_checks(lib, src);
    shelf_library_close(lib);
}

/* The name check alone, before any audio hashing: the same name in two
 * encodings of one sound is not "the same name, different sound". */
TEST(dupes_name_before_audio)
{
    const char *base = test_tmpdir();
    char src[PATH_MAX], p[PATH_MAX];
    shelf_library *lib;
    dupe_list l;
    tg_spec s = TG_SPEC_INIT(WAV16, 44100, 1, 6000);

    test_pathf(src, sizeof src, "%s/src", base);
    ASSERT(mkdir(src, 0777) == 0);
    s.seed = 2;
    test_pathf(p, sizeof p, "%s/tone.wav", src);
    ASSERT_EQ_INT(tg_write(p, &s), 0);
    s.format = FLAC16;
    test_pathf(p, sizeof p, "%s/tone.flac", src);
    ASSERT_EQ_INT(tg_write(p, &s), 0);
    test_pathf(p, sizeof p, "%s/lib", base);
    lib = open_lib(p);
    import_dir(lib, src, 2);
    memset(&l, 0, sizeof l);
    ASSERT_OKL(lib, shelf_dupes(lib, SHELF_DUPES_NAME, on_dupe, &l));
    ASSERT_EQ_STR(l.text, "");
    shelf_library_close(lib);
}

TEST(dupes_none)
{
    fixture fx;
    dupe_list l;

    setup(&fx);
    memset(&l, 0, sizeof l);
    ASSERT_OKL(fx.lib, shelf_dupes(fx.lib, SHELF_DUPES_BYTES | SHELF_DUPES_AUDIO |
                                   SHELF_DUPES_NAME, on_dupe, &l));
    ASSERT_EQ_INT(l.calls, 0);
    teardown(&fx);
}

/* ---- allocation failures ------------------------------------------------------------ */

#define ALLOC_TRIES 20000


/*
 * Every allocation of a search of a query that uses every part of the
 * compiler fails in turn: each attempt is SHELF_ENOMEM or the right rows.
 */
TEST(alloc_fail_search)
{
    static const char query[] =
        "(kick OR hat) tag:dru* -tag:dirty len:<1s format:w* rating:0..5 added:-1d.. "
        "OR (in:live \"kick deep\" name:kic* path:drums) OR (author:cho* fav:yes cat:voc*) "
        "OR (cat:vox* bpm:..200 key:C2 -loop:yes)";
    char want[4096], got[4096], first[512] = "";
    shelf_search_opts o;
    int bad = 0, ok = 0;
    fixture fx;
    long n;

    setup(&fx);
    ASSERT_OKL(fx.lib, shelf_collection_new(fx.lib, "live", NULL));
    ASSERT_OKL(fx.lib, shelf_collection_add(fx.lib, "live", fx.id[KD], -1));
    ASSERT_OKL(fx.lib, shelf_collection_add(fx.lib, "live", fx.id[HO], -1));
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.limit = -1;
    o.count_limit = -1;
    ASSERT_OKL(fx.lib, run(&fx, query, &o, want, sizeof want, NULL, NULL));
    ASSERT_EQ_STR(want, "Chant|Kick Deep");
    for (n = 1; n < ALLOC_TRIES; n++) {
        int64_t total = -1;
        int exact = -1, rc, hit;

        shelf__alloc_fail_after(n);
        rc = run(&fx, query, &o, got, sizeof got, &total, &exact);
        hit = fault_hit(n);
        shelf__alloc_fail_after(0);
        if (rc == SHELF_OK) {
            ok++;
            if (strcmp(got, want) != 0 || total != 2 || exact != 1) {
                if (!bad++)
                    snprintf(first, sizeof first, "allocation %ld: OK with [%.200s] total %lld", n,
                             got, (long long)total);
            }
        } else if (rc != SHELF_ENOMEM) {
            if (!bad++)
                snprintf(first, sizeof first, "allocation %ld: %s: %s", n, shelf_strerror(rc),
                         shelf_errmsg(fx.lib));
        }
        if (!hit)
            break;
    }
    ASSERT(n < ALLOC_TRIES);
    ASSERT(n > 10);
    if (bad)
        test__fail(__FILE__, __LINE__, "%d problems in %ld attempts; first: %s", bad, n, first);
    /* still good */
    ASSERT_OKL(fx.lib, run(&fx, query, &o, got, sizeof got, NULL, NULL));
    ASSERT_EQ_STR(got, want);
    teardown(&fx);
}

/* The parser alone under allocation failure: ENOMEM and no tree, or the tree. */
TEST(alloc_fail_parse)
{
    static const char query[] =
        "(kick OR \"hi hat\") -tag:dru* AND bpm:120 OR NOT (len:<2s key:C3..C5) added:today";
    shelf_library *lib = open_lib(test_tmpdir());
    long n;

    for (n = 1; n < ALLOC_TRIES; n++) {
        qnode *q = (qnode *)&q;
        int errpos = -1, rc, hit;

        shelf__alloc_fail_after(n);
        rc = shelf__query_parse(lib, query, NOW, &q, &errpos);
        hit = fault_hit(n);
        shelf__alloc_fail_after(0);
        if (rc == SHELF_OK) {
            ASSERT(q != NULL);
            ASSERT(q->kind == Q_OR && q->nkids == 2);
        } else {
            ASSERT_RC(SHELF_ENOMEM, rc);
            ASSERT(q == NULL);
        }
        shelf__query_free(rc == SHELF_OK ? q : NULL);
        if (!hit)
            break;
    }
    ASSERT(n > 10 && n < ALLOC_TRIES);
    shelf_library_close(lib);
}

/* Decisions made after review: these are errors, at these columns. */
TEST(parse_errors_decided)
{
    shelf_library *lib = open_lib(test_tmpdir());

    check_error(lib, "a AND AND b", 3, "'AND' needs something after it", __LINE__);
    check_error(lib, "added:2026-02-31", 7, "added: '2026-02-31' is not a date", __LINE__);
    check_error(lib, "name:&", 6, "name: expected a word", __LINE__);
    check_error(lib, "path:--", 6, "path: expected a word", __LINE__);
    shelf_library_close(lib);
}

/* The deepest queries the parser takes compile to SQL that SQLite takes
 * (deeper ones the parser refuses; it was SQLite's parser stack that
 * overflowed when the limit was 64). */
TEST(search_deep)
{
    char *s;
    fixture fx;

    setup(&fx);
    s = nested("(", "kick", ")", 16);
    EXPECT(&fx, s, "Kick Deep|BD_808|Kick Room");
    shelf_free(s);
    s = nested("(fav:yes OR ", "kick", ")", 16);
    EXPECT(&fx, s, "Kick Deep|BD_808|Kick Room|Chant");
    shelf_free(s);
    s = nested("--", "fav:yes", "", 8);
    EXPECT(&fx, s, "Kick Deep|Chant");
    shelf_free(s);
    s = nested("-(fav:no ", "tag:x", ")", 8);
    EXPECT(&fx, s, "Kick Deep|Chant");    /* NOT(fav:no AND NOT(...)) ends in fav:yes */
    shelf_free(s);
    teardown(&fx);
}

int main(int argc, char **argv)
{
    static const test_case tests[] = {
        TEST_ENTRY(parse_operators),
        TEST_ENTRY(parse_fields),
        TEST_ENTRY(parse_numbers_exact),
        TEST_ENTRY(parse_errors),
        TEST_ENTRY(parse_errors_decided),
        TEST_ENTRY(parse_depth),
        TEST_ENTRY(search_text_fields),
        TEST_ENTRY(search_number_fields),
        TEST_ENTRY(search_user_fields),
        TEST_ENTRY(search_words),
        TEST_ENTRY(search_errors),
        TEST_ENTRY(search_sort),
        TEST_ENTRY(search_ranking),
        TEST_ENTRY(search_paging_and_counts),
        TEST_ENTRY(collections),
        TEST_ENTRY(collections_cycle),
        TEST_ENTRY(collections_case),
        TEST_ENTRY(synonyms),
        TEST_ENTRY(dupes),
        TEST_ENTRY(dupes_name_before_audio),
        TEST_ENTRY(dupes_none),
        TEST_ENTRY(alloc_fail_search),
        TEST_ENTRY(alloc_fail_parse),
        TEST_ENTRY(search_deep),
        TEST_END
    };

    return test_run(argc, argv, tests);
}
