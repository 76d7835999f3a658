/*
 * memindex.c: an in-memory index of the catalog for type-ahead search.
 *
 * Items are numbered in "static rank" order (rating, then use in the last
 * week or month, then name), so walking a result bitmap from bit 0 visits
 * the best items first and a page needs only its first few set bits.
 *
 *   terms      every token of name, path, tags, category and metadata,
 *              sorted; a prefix is a range of terms
 *   postings   per term: items (uint32, ascending) and the columns the
 *              term is in (name, path, tags, category, metadata)
 *   pre1       per first character: a bitmap of items with a word that
 *              starts with it, and one for words in the name (the one-
 *              letter prefixes that match half the library)
 *   dense      per term in more than n / 32 items: bitmaps of its items in
 *              any column, in names and in paths, which replace its
 *              postings (a bitmap is then the smaller); pre2 the same per
 *              two-letter prefix with many sparse postings under it
 *   columns    typed fields per item for filters and sorting
 *
 * A query becomes bitmaps combined word by word (AND, OR, NOT): counts are
 * exact popcounts.  Tokens are split and folded as FTS5's unicode61 with
 * remove_diacritics does for ASCII and Latin-1 letters.
 *
 * Changes are applied in place (shelf__memindex_update): the catalog's
 * index_log names every sample changed since the build, whoever changed
 * it.  A changed sample's old item is dropped from `all` (every query is
 * masked by it) and the sample comes back as an added item past the
 * build's n0, in room the build left (cap); its words go to a small
 * sorted list of postings beside the build's, its tags to a list of
 * added tags.  Added items keep their place in static-rank and name order
 * through drpos (the build's item they go before) and nkey (a fraction
 * between two build positions in name order), so pages come out as a
 * fresh build would give them.  When the log cannot answer (trimmed past
 * the index, a synonym or root changed, no room), the index is rebuilt.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "memindex_int.h"

enum { COL_NAME = 1, COL_PATH = 2, COL_TAGS = 4, COL_CAT = 8, COL_META = 16 };

typedef struct syn {
    char *word;
    int64_t grp;
} syn;

/* How many found sets the index keeps (a bitmap each: 125 KB at a million). */
#define KEPT_SETS 4

struct shelf__memindex {
    uint32_t n;                 /* items */
    size_t words;               /* 64-bit words per bitmap */
    int64_t *ids;               /* item -> sample id */
    uint32_t *byid;             /* open-addressed id -> item + 1 (0 empty) */
    size_t byid_cap;
    char **names;               /* lowercase names, while building */
    uint32_t *name_rank;        /* item -> position in name order */
    uint32_t *by_name;          /* position in name order -> item */
    char **authors;             /* while building: lowercase author, NULL none */
    uint32_t *author;           /* item -> index + 1 into authtab, 0 none */
    char **authtab;             /* distinct authors, lowercase */
    size_t nauth;
    int32_t *rate;
    uint8_t *channels, *bits, *rating, *flags;     /* flags: 1 fav, 2 missing, 4 loop, 8 archived */
    int8_t *key;
    double *tempo, *duration;   /* NAN when none; doubles, as SQLite compares them */
    int64_t *created, *used;
    uint16_t *fmt;              /* index into fmts */
    char **fmts;                /* "WAV\tPCM_16" lowercase */
    size_t nfmts;
    uint16_t *cat;              /* index into cats; 0 none */
    char **cats;
    size_t ncats;
    uint64_t **catbits;         /* per category (index + 1): its items */
    size_t ncatbits;            /* categories with a bitmap */
    /* terms */
    char **terms;               /* sorted */
    uint32_t nterms;
    uint32_t *off;              /* postings of term t: [off[t], off[t+1]) */
    uint32_t *items;
    uint8_t *cols;
    uint64_t *pre1[256][2];     /* by first byte: any column, name */
    uint64_t **pre2;            /* by first two bytes * 2 (+1: name): dense prefixes only */
    uint64_t **dense_any;       /* per term: a bitmap when its postings are many; */
    uint64_t **dense_name;      /* then its postings are dropped, and these answer */
    uint64_t **dense_path;      /* name: and path: (NULL: none; dense_any: the same) */
    /* tags: tag -> items */
    char **tags;                /* sorted, lowercase */
    uint32_t ntags;
    uint32_t *tag_off, *tag_items;
    syn *syns;                  /* sorted by word */
    size_t nsyns;
    uint64_t *all;              /* every live item */
    int64_t data_version;
    int total_changes;
    size_t bytes;
    /* in place (memindex.c's head comment) */
    uint32_t n0;                /* items of the build; n - n0 added since */
    uint32_t cap;               /* room for items in every array and bitmap */
    int64_t log_seq;            /* index_log rows up to this one are applied */
    int64_t built_now;          /* the clock of the static rank */
    size_t authcap;             /* room in authtab */
    char **dnames;              /* per added item: lowercase name */
    uint32_t *npos;             /* per added item: first build position in
                                 * name order after it */
    double *nkey;               /* per added item: its place in name order */
    uint32_t *rpos;             /* per added item: first build item after it
                                 * in static-rank order */
    uint32_t *dorder, *dname;   /* live added items in rank, name order */
    uint32_t nlive;
    struct dpost *dp;           /* postings of added items, by term */
    size_t ndp, capdp;
    struct dtag *dtags;         /* tags of added items */
    size_t ndtags;
    int64_t *redo;              /* samples applied inside a caller's
                                 * transaction: read again after it */
    size_t nredo;
    uint64_t edits;             /* replays that changed items */
    /* the last sets phrases and filters found (kept_get, kept_put): what
     * was asked, the edits they were found at, their items and when they
     * were last used; for the next keystrokes, which ask again */
    struct {
        char *key;
        uint64_t edits, *items, used;
    } kept[KEPT_SETS];
    uint64_t kept_clock, kept_hits;
};

/* A posting of an added item. */
typedef struct dpost {
    char *term;
    uint32_t item;
    uint8_t cols;
} dpost;

/* A tag of added items: its folded name, the build's tag of that name
 * (-1 none) and the items. */
typedef struct dtag {
    char *name;
    int64_t base;
    uint32_t *items;
    size_t n, cap;
} dtag;

/* What the index reads of a sample: columns 0 id, 1 name, 2 path (under
 * its root: where the root lives is not words), 3 category, 4-9 metadata,
 * 10-22 typed fields (set_fields). */
#define ITEM_SQL                                                                          \
    "SELECT s.id, s.name, s.relpath, s.category, s.title, s.author,\n"                    \
    "  s.comment, s.genre, s.kit, s.instrument, s.rate, s.channels, s.bits, s.root_key,\n" \
    "  s.tempo, s.duration, coalesce(rt.rating, 0), fv.item_id IS NOT NULL, s.missing,\n"  \
    "  s.loop_start IS NOT NULL, s.created, coalesce(s.last_used, 0),\n"                   \
    "  lower(coalesce(s.format, '') || char(9) || coalesce(s.subtype, ''))\n"              \
    "FROM samples s" SAMPLE_JOINS

/* Libraries this small get no dense bitmaps (tests lower it to cover them). */
size_t shelf__memindex_dense_min = 4096;

/* The loops that count the bits of a whole bitmap: on x86-64 a second copy
 * built for the POPCNT instruction, chosen when the program loads if the
 * CPU has it (the baseline's __builtin_popcountll is a libgcc call per
 * word: a million items counted in 30 us, 5 with POPCNT).  Not under the
 * sanitizers, whose runtime starts after the choice is made. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__) && \
    !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#define POPCNT_CLONES __attribute__((target_clones("popcnt", "default")))
#else
#define POPCNT_CLONES
#endif

/* ----- tokens ----------------------------------------------------------------- */

/* ----- building -------------------------------------------------------------- */

typedef struct tuple {
    uint32_t term, item;
    uint8_t col;
} tuple;

typedef struct builder {
    shelf__memindex *ix;
    /* term interning: open addressing on strings */
    char **strs;
    uint32_t nstrs, capstrs;
    uint32_t *slots;            /* term id + 1 */
    size_t nslots;
    tuple *tup;
    size_t ntup, captup;
    shelf__tokenizer *tk;
    uint32_t item;              /* what add_token adds to */
    uint8_t col;
    int oom;
} builder;

/* Out of memory on lib: the error set, SHELF_ENOMEM returned (a constant the
 * static analyser can follow, unlike shelf__seterr's). */
static int nomem(shelf_library *lib)
{
    (void)shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    return SHELF_ENOMEM;
}

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static uint32_t intern(builder *b, const char *tok)
{
    size_t mask, i;

    if (b->nstrs * 2 >= b->nslots) {
        size_t ns = b->nslots ? b->nslots * 2 : 1 << 16, k;
        uint32_t *sl = shelf__calloc(ns, sizeof *sl);

        if (!sl) {
            b->oom = 1;
            return 0;
        }
        for (k = 0; k < b->nstrs; k++) {
            for (i = hash_str(b->strs[k]) & (ns - 1); sl[i]; i = (i + 1) & (ns - 1))
                ;
            sl[i] = (uint32_t)k + 1;
        }
        shelf_free(b->slots);
        b->slots = sl;
        b->nslots = ns;
    }
    mask = b->nslots - 1;
    for (i = hash_str(tok) & mask; b->slots[i]; i = (i + 1) & mask)
        if (!strcmp(b->strs[b->slots[i] - 1], tok))
            return b->slots[i] - 1;
    if (b->nstrs == b->capstrs) {
        uint32_t cap = b->capstrs ? b->capstrs * 2 : 1 << 15;
        char **s = shelf__realloc(b->strs, cap * sizeof *s);

        if (!s) {
            b->oom = 1;
            return 0;
        }
        b->strs = s;
        b->capstrs = cap;
    }
    if (!(b->strs[b->nstrs] = shelf__strdup(tok))) {
        b->oom = 1;
        return 0;
    }
    b->slots[i] = b->nstrs + 1;
    return b->nstrs++;
}

static int add_token(void *ud, const char *tok, size_t n)
{
    builder *b = ud;
    uint32_t t = intern(b, tok);

    (void)n;
    if (b->oom)
        return 1;
    if (b->ntup == b->captup) {
        size_t cap = b->captup ? b->captup * 2 : 1 << 20;
        tuple *nt = shelf__realloc(b->tup, cap * sizeof *nt);

        if (!nt) {
            b->oom = 1;
            return 1;
        }
        b->tup = nt;
        b->captup = cap;
    }
    b->tup[b->ntup].term = t;
    b->tup[b->ntup].item = b->item;
    b->tup[b->ntup].col = b->col;
    b->ntup++;
    return 0;
}

static void add_text(builder *b, uint32_t item, const char *text, uint8_t col)
{
    if (!text || b->oom)
        return;
    b->item = item;
    b->col = col;
    if (shelf__tokenize(b->tk, text, 0, add_token, b) != SHELF_OK)
        b->oom = 1;
}

static uint16_t intern_small(char ***tab, size_t *n, const char *s, int *oom)
{
    size_t i;
    char **t;

    for (i = 0; i < *n; i++)
        if (!strcmp((*tab)[i], s))
            return (uint16_t)i;
    if (*n >= 65535 || !(t = shelf__realloc(*tab, (*n + 1) * sizeof *t)) ||
        !(t[*n] = shelf__strdup(s))) {
        if (*n < 65535 && t)
            *tab = t;
        *oom = 1;
        return 0;
    }
    *tab = t;
    return (uint16_t)(*n)++;
}

static char *lower(const char *s)
{
    char *r = shelf__strdup(s ? s : ""), *p;

    for (p = r; p && *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return r;
}

static int cmp_strp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_tagidx(const void *a, const void *b, void *arg)
{
    char **tags = arg;

    return strcmp(tags[*(const uint32_t *)a], tags[*(const uint32_t *)b]);
}

static int cmp_syn(const void *a, const void *b)
{
    return strcmp(((const syn *)a)->word, ((const syn *)b)->word);
}

static int64_t data_version(shelf_library *lib)
{
    sqlite3_stmt *st = shelf__prepare(lib, "PRAGMA data_version");
    int64_t v = -1;

    if (st && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* The last row of index_log (0 when empty). */
static int log_max(shelf_library *lib, int64_t *seq)
{
    sqlite3_stmt *st = shelf__prepare_kept(lib, "SELECT coalesce(max(seq), 0) FROM index_log");
    int rc = SHELF_OK;

    *seq = 0;
    if (!st)
        return lib->err.rc;
    if (sqlite3_step(st) == SQLITE_ROW)
        *seq = sqlite3_column_int64(st, 0);
    else
        rc = shelf__dberr(lib, "cannot read the index log");
    sqlite3_reset(st);
    return rc;
}

int shelf__memindex_current(shelf_library *lib, const shelf__memindex *ix)
{
    return ix && ix->data_version == data_version(lib) &&
           ix->total_changes == sqlite3_total_changes(lib->db);
}

void shelf__memindex_rehome(shelf__memindex *ix)
{
    ix->data_version = -1;
    ix->total_changes = -1;
}

static uint32_t item_of(const shelf__memindex *ix, int64_t id);

POPCNT_CLONES static int64_t popcount(const uint64_t *b, size_t words)
{
    int64_t n = 0;
    size_t w;

    for (w = 0; w < words; w++)
        n += __builtin_popcountll(b[w]);
    return n;
}

void shelf__memindex_counts(const shelf__memindex *ix, uint64_t *items, uint64_t *added)
{
    *items = *added = 0;
    if (ix) {
        *items = (uint64_t)popcount(ix->all, ix->words);
        *added = ix->nlive;
    }
}

size_t shelf__memindex_bytes(const shelf__memindex *ix)
{
    return ix ? ix->bytes : 0;
}

uint64_t shelf__memindex_kept_hits(const shelf__memindex *ix)
{
    return ix->kept_hits;
}

static void *track(shelf__memindex *ix, void *p, size_t n)
{
    if (p)
        ix->bytes += n;
    return p;
}

void shelf__memindex_free(shelf__memindex *ix)
{
    size_t i;
    int c;

    if (!ix)
        return;
    for (i = 0; i < ix->n; i++) {
        if (ix->names)
            shelf_free(ix->names[i]);
        if (ix->authors)
            shelf_free(ix->authors[i]);
    }
    for (i = 0; i < ix->nterms; i++)
        shelf_free(ix->terms[i]);
    for (i = 0; i < ix->ntags; i++)
        shelf_free(ix->tags[i]);
    for (i = 0; i < ix->nfmts; i++)
        shelf_free(ix->fmts[i]);
    for (i = 0; i < ix->nauth; i++)
        shelf_free(ix->authtab[i]);
    for (i = 0; ix->dense_any && i < ix->nterms; i++) {
        if (ix->dense_name[i] != ix->dense_any[i])
            shelf_free(ix->dense_name[i]);
        if (ix->dense_path[i] != ix->dense_any[i])
            shelf_free(ix->dense_path[i]);
        shelf_free(ix->dense_any[i]);
    }
    for (i = 0; ix->pre2 && i < 2 * 65536; i += 2) {
        if (ix->pre2[i + 1] != ix->pre2[i])
            shelf_free(ix->pre2[i + 1]);
        shelf_free(ix->pre2[i]);
    }
    for (i = 0; i < ix->ncats; i++)
        shelf_free(ix->cats[i]);
    for (i = 0; ix->catbits && i <= ix->ncatbits; i++)
        shelf_free(ix->catbits[i]);
    for (i = 0; i < ix->nsyns; i++)
        shelf_free(ix->syns[i].word);
    for (c = 0; c < 256; c++) {
        shelf_free(ix->pre1[c][0]);
        shelf_free(ix->pre1[c][1]);
    }
    for (i = 0; ix->dnames && i < (size_t)(ix->n - ix->n0); i++)
        shelf_free(ix->dnames[i]);
    for (i = 0; i < ix->ndp; i++)
        shelf_free(ix->dp[i].term);
    for (i = 0; i < ix->ndtags; i++) {
        shelf_free(ix->dtags[i].name);
        shelf_free(ix->dtags[i].items);
    }
    {
        void *const owned[] = {
            ix->ids, ix->byid, ix->names, ix->authors, ix->rate, ix->channels, ix->bits,
            ix->rating, ix->flags, ix->key, ix->tempo, ix->duration, ix->created, ix->used,
            ix->fmt, ix->fmts, ix->cat, ix->cats, ix->terms, ix->off, ix->items, ix->cols,
            ix->tags, ix->tag_off, ix->tag_items, ix->syns, ix->all, ix->name_rank, ix->by_name,
            ix->catbits, ix->author, ix->authtab, ix->dense_any, ix->dense_name, ix->pre2,
            ix->dense_path,
            ix->dnames, ix->npos, ix->nkey, ix->rpos, ix->dorder, ix->dname, ix->dp, ix->dtags,
            ix->redo,
        };

        for (i = 0; i < sizeof owned / sizeof owned[0]; i++)
            shelf_free(owned[i]);
        for (i = 0; i < KEPT_SETS; i++) {
            shelf_free(ix->kept[i].key);
            shelf_free(ix->kept[i].items);
        }
    }
    shelf_free(ix);
}

static uint32_t item_of(const shelf__memindex *ix, int64_t id)
{
    size_t mask = ix->byid_cap - 1, i;

    for (i = ((uint64_t)id * 0x9E3779B97F4A7C15ull) & mask; ix->byid[i]; i = (i + 1) & mask)
        if (ix->ids[ix->byid[i] - 1] == id)
            return ix->byid[i];
    return 0;
}

/* The typed fields of item i from a row of ITEM_SQL; 1 when out of memory. */
static int set_fields(shelf__memindex *ix, sqlite3_stmt *st, uint32_t i)
{
    const char *cat = (const char *)sqlite3_column_text(st, 3);
    int oom = 0;

    ix->ids[i] = sqlite3_column_int64(st, 0);
    ix->rate[i] = sqlite3_column_int(st, 10);
    ix->channels[i] = (uint8_t)sqlite3_column_int(st, 11);
    ix->bits[i] = (uint8_t)sqlite3_column_int(st, 12);
    ix->key[i] = sqlite3_column_type(st, 13) == SQLITE_NULL ? -1 : (int8_t)sqlite3_column_int(st, 13);
    ix->tempo[i] = sqlite3_column_type(st, 14) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 14);
    ix->duration[i] = sqlite3_column_type(st, 15) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 15);
    ix->rating[i] = (uint8_t)sqlite3_column_int(st, 16);
    ix->flags[i] = (uint8_t)((sqlite3_column_int(st, 17) ? 1 : 0) |
                             (sqlite3_column_int(st, 18) == 1 ? 2 : 0) |
                             (sqlite3_column_int(st, 18) == 2 ? 8 : 0) |
                             (sqlite3_column_int(st, 19) ? 4 : 0));
    ix->created[i] = sqlite3_column_int64(st, 20);
    ix->used[i] = sqlite3_column_int64(st, 21);
    ix->fmt[i] = intern_small(&ix->fmts, &ix->nfmts, (const char *)sqlite3_column_text(st, 22), &oom);
    ix->cat[i] = cat ? (uint16_t)(intern_small(&ix->cats, &ix->ncats, cat, &oom) + 1) : 0;
    return oom;
}

/* Load items in static-rank order with their typed fields and texts. */
static int load_items(shelf_library *lib, shelf__memindex *ix, builder *b, int64_t now)
{
    sqlite3_stmt *st;
    size_t cap = 0;
    int r, rc = SHELF_OK;
    char when[160];

    snprintf(when, sizeof when, "CASE WHEN s.last_used >= %lld THEN 2 WHEN s.last_used >= %lld "
             "THEN 1 ELSE 0 END", (long long)(now - 7 * 86400), (long long)(now - 30 * 86400));
    {
        shelf__buf sql = SHELF__BUF_INIT;

        if (shelf__buf_addf(&sql, ITEM_SQL
            "ORDER BY coalesce(rt.rating, 0) DESC, %s DESC, s.name COLLATE NOCASE, s.id", when)
            != SHELF_OK)
            return nomem(lib);
        st = shelf__prepare(lib, sql.buf);
        shelf__buf_release(&sql);
    }
    if (!st)
        return lib->err.rc;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        uint32_t i = ix->n;
        const char *cat = (const char *)sqlite3_column_text(st, 3);
        int oom;

        if (i == cap) {
            size_t nc = cap ? cap * 2 : 4096;

#define GROW(f) do {                                             \
            void *np_ = shelf__realloc(ix->f, nc * sizeof *ix->f);    \
            if (!np_)                                                  \
                goto nomem;                                            \
            ix->f = np_;                                               \
        } while (0)
            GROW(ids);
            GROW(names);
            GROW(authors);
            GROW(rate);
            GROW(channels);
            GROW(bits);
            GROW(rating);
            GROW(flags);
            GROW(key);
            GROW(tempo);
            GROW(duration);
            GROW(created);
            GROW(used);
            GROW(fmt);
            GROW(cat);
#undef GROW
            cap = nc;
        }
        ix->names[i] = lower((const char *)sqlite3_column_text(st, 1));
        ix->authors[i] = sqlite3_column_type(st, 5) == SQLITE_NULL ? NULL
                         : lower((const char *)sqlite3_column_text(st, 5));
        if (!ix->names[i]) {
            ix->n++;
            goto nomem;
        }
        oom = set_fields(ix, st, i);
        ix->n++;
        if (oom)
            goto nomem;
        add_text(b, i, (const char *)sqlite3_column_text(st, 1), COL_NAME);
        add_text(b, i, (const char *)sqlite3_column_text(st, 2), COL_PATH);
        add_text(b, i, cat, COL_CAT);
        {
            int k;

            for (k = 4; k <= 9; k++)
                add_text(b, i, (const char *)sqlite3_column_text(st, k), COL_META);
        }
        if (b->oom)
            goto nomem;
    }
    if (r != SQLITE_DONE)
        rc = shelf__dberr(lib, "cannot read the catalog");
    sqlite3_finalize(st);
    return rc;
nomem:
    sqlite3_finalize(st);
    return nomem(lib);
}

/* Room for cap items in every per-item array (the build's n0 and what
 * in-place changes add). */
static int reserve(shelf_library *lib, shelf__memindex *ix, uint32_t cap)
{
#define RESERVE(f) do {                                                   \
        void *np_ = shelf__realloc(ix->f, ((size_t)cap + 1) * sizeof *ix->f); \
        if (!np_)                                                            \
            return nomem(lib);                                               \
        ix->f = np_;                                                         \
    } while (0)
    RESERVE(ids);
    RESERVE(rate);
    RESERVE(channels);
    RESERVE(bits);
    RESERVE(rating);
    RESERVE(flags);
    RESERVE(key);
    RESERVE(tempo);
    RESERVE(duration);
    RESERVE(created);
    RESERVE(used);
    RESERVE(fmt);
    RESERVE(cat);
#undef RESERVE
    ix->cap = cap;
    return SHELF_OK;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return x < y ? -1 : x > y;
}

/* Tags: text into the term index (column tags) and tag -> items lists, one
 * list per folded name (names that differ only in case or accents, "ÉTÉ"
 * and "été", are one tag, as tag: finds them). */
static int load_tags(shelf_library *lib, shelf__memindex *ix, builder *b)
{
    sqlite3_stmt *st = shelf__prepare(lib,
        "SELECT lower(t.name), ti.item_id FROM tag_items ti JOIN tags t ON t.id = ti.tag_id "
        "WHERE ti.kind = " SHELF__KIND_SAMPLE_SQL " ORDER BY lower(t.name)");
    uint32_t *pairs = NULL, *slots = NULL, *order = NULL, *remap = NULL, t;
    size_t npairs = 0, cappairs = 0, nslots = 1024, captags = 0, i;
    shelf__tokenizer *tk;
    char *folded = NULL;
    int r;

    if (!st)
        return lib->err.rc;
    if ((r = shelf__tokenizer_get(lib, &tk)) != SHELF_OK) {
        sqlite3_finalize(st);
        return r;
    }
    if (!(slots = shelf__calloc(nslots, sizeof *slots)))
        goto nomem;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        uint32_t it = item_of(ix, sqlite3_column_int64(st, 1));
        size_t k;

        if (!it)
            continue;
        /* tag: compares names folded as words are (query.c folds the value) */
        shelf_free(folded);
        if (shelf__token_fold(tk, name, strlen(name), &folded) != SHELF_OK) {
            folded = NULL;
            goto nomem;
        }
        for (k = hash_str(folded) & (nslots - 1); slots[k]; k = (k + 1) & (nslots - 1))
            if (!strcmp(ix->tags[slots[k] - 1], folded))
                break;
        if (!slots[k]) {
            if (ix->ntags == captags) {
                size_t cap = captags ? captags * 2 : 64;
                char **nt = shelf__realloc(ix->tags, cap * sizeof *nt);

                if (!nt)
                    goto nomem;
                ix->tags = nt;
                captags = cap;
            }
            if (!(ix->tags[ix->ntags] = shelf__strdup(folded)))
                goto nomem;
            slots[k] = ++ix->ntags;
            if (ix->ntags * 2 >= nslots) {      /* rehash */
                uint32_t *ns = shelf__calloc(nslots * 2, sizeof *ns);

                if (!ns)
                    goto nomem;
                for (t = 0; t < ix->ntags; t++) {
                    for (k = hash_str(ix->tags[t]) & (nslots * 2 - 1); ns[k];
                         k = (k + 1) & (nslots * 2 - 1))
                        ;
                    ns[k] = t + 1;
                }
                shelf_free(slots);
                slots = ns;
                nslots *= 2;
                for (k = hash_str(folded) & (nslots - 1); ix->tags[slots[k] - 1] != ix->tags[ix->ntags - 1];
                     k = (k + 1) & (nslots - 1))
                    ;
            }
        }
        if (npairs + 2 > cappairs) {
            size_t cap = cappairs ? cappairs * 2 : 8192;
            uint32_t *np = shelf__realloc(pairs, cap * sizeof *np);

            if (!np)
                goto nomem;
            pairs = np;
            cappairs = cap;
        }
        pairs[npairs++] = slots[k] - 1;
        pairs[npairs++] = it - 1;
        add_text(b, it - 1, name, COL_TAGS);
        if (b->oom)
            goto nomem;
    }
    sqlite3_finalize(st);
    st = NULL;
    shelf_free(folded);
    folded = NULL;
    if (r != SQLITE_DONE) {
        shelf_free(pairs);
        shelf_free(slots);
        return shelf__dberr(lib, "cannot read the catalog");
    }
    /* tags in name order; each one's items ascending */
    if (!(order = shelf__malloc(((size_t)ix->ntags + 1) * sizeof *order)) ||
        !(remap = shelf__malloc(((size_t)ix->ntags + 1) * sizeof *remap)) ||
        !(ix->tag_off = shelf__calloc((size_t)ix->ntags + 2, sizeof *ix->tag_off)) ||
        !(ix->tag_items = shelf__malloc((npairs / 2 + 1) * sizeof *ix->tag_items)))
        goto nomem;
    {
        char **sorted = shelf__malloc(((size_t)ix->ntags + 1) * sizeof *sorted);

        if (!sorted)
            goto nomem;
        for (t = 0; t < ix->ntags; t++)
            order[t] = t;
        qsort_r(order, ix->ntags, sizeof *order, cmp_tagidx, ix->tags);
        for (t = 0; t < ix->ntags; t++) {
            remap[order[t]] = t;
            sorted[t] = ix->tags[order[t]];
        }
        shelf_free(ix->tags);
        ix->tags = sorted;
    }
    for (i = 0; i < npairs; i += 2)
        ix->tag_off[remap[pairs[i]] + 1]++;
    for (t = 0; t < ix->ntags; t++)
        ix->tag_off[t + 1] += ix->tag_off[t];
    memcpy(order, ix->tag_off, (size_t)ix->ntags * sizeof *order);
    for (i = 0; i < npairs; i += 2)
        ix->tag_items[order[remap[pairs[i]]]++] = pairs[i + 1];
    for (t = 0; t < ix->ntags; t++)
        qsort(ix->tag_items + ix->tag_off[t], ix->tag_off[t + 1] - ix->tag_off[t],
              sizeof *ix->tag_items, cmp_u32);
    shelf_free(pairs);
    shelf_free(slots);
    shelf_free(order);
    shelf_free(remap);
    return SHELF_OK;
nomem:
    sqlite3_finalize(st);
    shelf_free(folded);
    shelf_free(pairs);
    shelf_free(slots);
    shelf_free(order);
    shelf_free(remap);
    return nomem(lib);
}

static int load_synonyms(shelf_library *lib, shelf__memindex *ix)
{
    sqlite3_stmt *st = shelf__prepare(lib, "SELECT word, grp FROM synonyms");
    int r;

    if (!st)
        return lib->err.rc;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        syn *s = shelf__realloc(ix->syns, (ix->nsyns + 1) * sizeof *s);

        if (!s || !(s[ix->nsyns].word = lower((const char *)sqlite3_column_text(st, 0)))) {
            if (s)
                ix->syns = s;
            sqlite3_finalize(st);
            return nomem(lib);
        }
        ix->syns = s;
        s[ix->nsyns].grp = sqlite3_column_int64(st, 1);
        ix->nsyns++;
    }
    sqlite3_finalize(st);
    if (ix->nsyns)
        qsort(ix->syns, ix->nsyns, sizeof *ix->syns, cmp_syn);
    return r == SQLITE_DONE ? SHELF_OK : shelf__dberr(lib, "cannot read the catalog");
}

/* Set in any (and in name, for postings in an item's name) the bits of the
 * items of postings [from, to). */
static void set_bits(const shelf__memindex *ix, uint32_t from, uint32_t to, uint64_t *any, uint64_t *name)
{
    uint32_t k;

    for (k = from; k < to; k++) {
        uint32_t it = ix->items[k];

        any[it >> 6] |= 1ull << (it & 63);
        if (ix->cols[k] & COL_NAME)
            name[it >> 6] |= 1ull << (it & 63);
    }
}

/*
 * b, a bitmap filled beside any: b itself, or NULL when it is empty, or
 * any when it is the same (then only any is freed).  A path-only word's
 * path bitmap is its any bitmap, a word never in a name has none.
 */
static uint64_t *bitmap_keep(shelf__memindex *ix, uint64_t *b, uint64_t *any)
{
    int empty = 1, same = 1;
    size_t w;

    for (w = 0; w < ix->words && (empty || same); w++) {
        empty &= b[w] == 0;
        same &= b[w] == any[w];
    }
    if (!empty && !same)
        return b;
    shelf_free(b);
    ix->bytes -= ix->words * 8;
    return empty ? NULL : any;
}

static int dense_term(shelf_library *lib, shelf__memindex *ix, uint32_t t)
{
    uint64_t *any, *name, *path;
    uint32_t k;

    any = ix->dense_any[t] = track(ix, shelf__calloc(ix->words, 8), ix->words * 8);
    name = track(ix, shelf__calloc(ix->words, 8), ix->words * 8);
    path = track(ix, shelf__calloc(ix->words, 8), ix->words * 8);
    if (!any || !name || !path) {
        shelf_free(name);
        shelf_free(path);
        return nomem(lib);
    }
    for (k = ix->off[t]; k < ix->off[t + 1]; k++) {
        uint32_t it = ix->items[k];

        any[it >> 6] |= 1ull << (it & 63);
        if (ix->cols[k] & COL_NAME)
            name[it >> 6] |= 1ull << (it & 63);
        if (ix->cols[k] & COL_PATH)
            path[it >> 6] |= 1ull << (it & 63);
    }
    ix->dense_name[t] = bitmap_keep(ix, name, any);
    ix->dense_path[t] = bitmap_keep(ix, path, any);
    return SHELF_OK;
}

/* Postings arrays of room for had postings cut to the off[nterms] left. */
static void postings_fit(shelf__memindex *ix, size_t had)
{
    size_t n = ix->off[ix->nterms];
    void *p;

    ix->bytes -= (had - n) * 5;
    /* shrinking cannot fail in practice; if it does the larger block stays */
    if ((p = shelf__realloc(ix->items, (n ? n : 1) * sizeof *ix->items)))
        ix->items = p;
    if ((p = shelf__realloc(ix->cols, n ? n : 1)))
        ix->cols = p;
}

/* Drop the postings of the terms with dense bitmaps, which answer for them
 * (85% of all postings at a million samples). */
static void drop_dense_postings(shelf__memindex *ix)
{
    uint32_t t, k, at = 0, from;

    for (t = 0; t < ix->nterms; t++) {
        from = ix->off[t];
        ix->off[t] = at;
        if (ix->dense_any[t])
            continue;
        for (k = from; k < ix->off[t + 1]; k++, at++) {
            ix->items[at] = ix->items[k];
            ix->cols[at] = ix->cols[k];
        }
    }
    from = ix->off[ix->nterms];
    ix->off[ix->nterms] = at;
    postings_fit(ix, from);
}

/*
 * The bitmaps beside the postings: one-letter prefixes always; terms in very
 * many items ("samples", "wav", a pack every item is in) and two-letter
 * prefixes that cover many items in a large index, where OR-ing words beats
 * setting a million bits.  A dense term's bitmaps replace its postings: at
 * more than n / 32 items its postings took more room than a bitmap.
 */
/* At most this many dense terms under a two-letter prefix are OR-ed at
 * query time rather than kept as one more bitmap. */
#define PRE2_DENSE_MAX 4

static int build_bitmaps(shelf_library *lib, shelf__memindex *ix)
{
    uint32_t t, dense;

    for (t = 0; t < ix->nterms; t++) {
        unsigned char c = (unsigned char)ix->terms[t][0];

        if (!ix->pre1[c][0]) {
            ix->pre1[c][0] = track(ix, shelf__calloc(ix->words, 8), ix->words * 8);
            ix->pre1[c][1] = track(ix, shelf__calloc(ix->words, 8), ix->words * 8);
            if (!ix->pre1[c][0] || !ix->pre1[c][1])
                return nomem(lib);
        }
        set_bits(ix, ix->off[t], ix->off[t + 1], ix->pre1[c][0], ix->pre1[c][1]);
    }
    if (ix->n < shelf__memindex_dense_min)
        return SHELF_OK;
    dense = ix->n / 32;
    if (!(ix->dense_any = shelf__calloc((size_t)ix->nterms + 1, sizeof *ix->dense_any)) ||
        !(ix->dense_name = shelf__calloc((size_t)ix->nterms + 1, sizeof *ix->dense_name)) ||
        !(ix->dense_path = shelf__calloc((size_t)ix->nterms + 1, sizeof *ix->dense_path)) ||
        !(ix->pre2 = shelf__calloc(2 * 65536, sizeof *ix->pre2)))
        return nomem(lib);
    for (t = 0; t < ix->nterms; t++)
        if (ix->off[t + 1] - ix->off[t] > dense && dense_term(lib, ix, t) != SHELF_OK)
            return lib->err.rc;
    /* a two-letter prefix: a bitmap when the postings under it are many;
     * the dense terms under it are bitmaps already, a few ORs */
    for (t = 0; t < ix->nterms;) {
        uint32_t end = t, sparse = 0, ndense = 0;
        size_t key;

        if (!ix->terms[t][0] || !ix->terms[t][1]) {
            t++;
            continue;
        }
        for (; end < ix->nterms && !strncmp(ix->terms[end], ix->terms[t], 2); end++)
            if (ix->dense_any[end])
                ndense++;
            else
                sparse += ix->off[end + 1] - ix->off[end];
        key = ((size_t)(unsigned char)ix->terms[t][0] << 8 | (unsigned char)ix->terms[t][1]) * 2;
        if (sparse > dense || ndense > PRE2_DENSE_MAX) {
            uint64_t *name;

            ix->pre2[key] = track(ix, shelf__calloc(ix->words, 8), ix->words * 8);
            name = track(ix, shelf__calloc(ix->words, 8), ix->words * 8);
            if (!ix->pre2[key] || !name) {
                shelf_free(name);
                return nomem(lib);
            }
            set_bits(ix, ix->off[t], ix->off[end], ix->pre2[key], name);
            ix->pre2[key + 1] = bitmap_keep(ix, name, ix->pre2[key]);
        }
        t = end;
    }
    drop_dense_postings(ix);
    return SHELF_OK;
}

/* Turn the tuples into sorted terms with postings, and the pre1 bitmaps. */
static int build_postings(shelf_library *lib, shelf__memindex *ix, builder *b)
{
    uint32_t *count = NULL, *order = NULL, *rank = NULL, t;
    size_t i, total;

    if (!(count = shelf__calloc((size_t)b->nstrs + 1, sizeof *count)) ||
        !(order = shelf__malloc(((size_t)b->nstrs + 1) * sizeof *order)) ||
        !(rank = shelf__malloc(((size_t)b->nstrs + 1) * sizeof *rank)))
        goto nomem;
    /* sorted order of terms */
    {
        char **sorted = shelf__malloc(((size_t)b->nstrs + 1) * sizeof *sorted);

        if (!sorted)
            goto nomem;
        if (b->nstrs)       /* a library without samples has no strings: strs is NULL */
            memcpy(sorted, b->strs, (size_t)b->nstrs * sizeof *sorted);
        qsort(sorted, b->nstrs, sizeof *sorted, cmp_strp);
        /* rank[term id] = position: find each string's id through the table */
        for (i = 0; i < b->nstrs; i++) {
            size_t mask = b->nslots - 1, k;

            for (k = hash_str(sorted[i]) & mask; strcmp(b->strs[b->slots[k] - 1], sorted[i]) != 0;
                 k = (k + 1) & mask)
                ;
            rank[b->slots[k] - 1] = (uint32_t)i;
        }
        ix->terms = sorted;     /* the strings move to the index */
        ix->nterms = b->nstrs;
        b->nstrs = 0;
        track(ix, sorted, (size_t)ix->nterms * sizeof *sorted);
    }
    /* counting sort of tuples by term rank; tuples arrive in item order per
     * term, since items were added in order */
    for (i = 0; i < b->ntup; i++)
        count[rank[b->tup[i].term] + 1]++;
    for (t = 0; t < ix->nterms; t++)
        count[t + 1] += count[t];
    total = b->ntup;
    ix->off = track(ix, shelf__malloc(((size_t)ix->nterms + 1) * sizeof *ix->off),
                    ((size_t)ix->nterms + 1) * sizeof *ix->off);
    ix->items = track(ix, shelf__malloc((total ? total : 1) * sizeof *ix->items), total * 4);
    ix->cols = track(ix, shelf__malloc(total ? total : 1), total);
    if (!ix->off || !ix->items || !ix->cols)
        goto nomem;
    memcpy(order, count, ((size_t)ix->nterms + 1) * sizeof *order);
    for (i = 0; i < b->ntup; i++) {
        uint32_t r = rank[b->tup[i].term], at = order[r];

        /* the same item twice in a row (two columns, or a repeated word):
         * one posting with both columns */
        if (at > count[r] && ix->items[at - 1] == b->tup[i].item) {
            ix->cols[at - 1] |= b->tup[i].col;
            continue;
        }
        ix->items[at] = b->tup[i].item;
        ix->cols[at] = b->tup[i].col;
        order[r]++;
    }
    /* compact: postings shrank where duplicates merged */
    {
        uint32_t w = 0;

        for (t = 0; t < ix->nterms; t++) {
            uint32_t from = count[t], to = order[t];

            ix->off[t] = w;
            memmove(ix->items + w, ix->items + from, (size_t)(to - from) * sizeof *ix->items);
            memmove(ix->cols + w, ix->cols + from, (size_t)(to - from));
            w += to - from;
        }
        ix->off[ix->nterms] = w;
    }
    postings_fit(ix, total);
    shelf_free(count);
    shelf_free(order);
    shelf_free(rank);
    return build_bitmaps(lib, ix);
nomem:
    shelf_free(count);
    shelf_free(order);
    shelf_free(rank);
    return nomem(lib);
}

/* Authors repeat (producers, kit authors): keep each once, and per item
 * its number, so author: tests the distinct strings only. */
static int intern_authors(shelf_library *lib, shelf__memindex *ix)
{
    uint32_t *slots = NULL, i;
    size_t cap = 1024, mask;

    while (cap < (size_t)ix->n * 2)
        cap *= 2;
    mask = cap - 1;
    if (!(slots = shelf__calloc(cap, sizeof *slots)) ||
        !(ix->author = track(ix, shelf__calloc((size_t)ix->cap + 1, sizeof *ix->author),
                             (size_t)ix->cap * 4)) ||
        !(ix->authtab = shelf__malloc(((size_t)ix->n + 1) * sizeof *ix->authtab))) {
        shelf_free(slots);
        return nomem(lib);
    }
    for (i = 0; i < ix->n; i++) {
        size_t k;

        if (!ix->authors[i])
            continue;
        for (k = hash_str(ix->authors[i]) & mask; slots[k]; k = (k + 1) & mask)
            if (!strcmp(ix->authtab[slots[k] - 1], ix->authors[i]))
                break;
        if (!slots[k]) {
            ix->authtab[ix->nauth] = ix->authors[i];    /* the string moves */
            ix->authors[i] = NULL;
            slots[k] = (uint32_t)++ix->nauth;
        }
        ix->author[i] = slots[k];
    }
    shelf_free(slots);
    ix->authcap = (size_t)ix->n + 1;
    for (i = 0; i < ix->n; i++)
        shelf_free(ix->authors[i]);
    shelf_free(ix->authors);
    ix->authors = NULL;
    return SHELF_OK;
}

static int cmp_name(const void *a, const void *b, void *arg)
{
    const shelf__memindex *ix = arg;
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    int c = strcmp(ix->names[x], ix->names[y]);

    return c ? c : ix->ids[x] < ix->ids[y] ? -1 : ix->ids[x] > ix->ids[y];
}

/* Sorting by name compares numbers: each item's place in name order.  The
 * names themselves are then not needed. */
static int rank_names(shelf_library *lib, shelf__memindex *ix)
{
    uint32_t *order = shelf__malloc(((size_t)ix->n + 1) * sizeof *order), i;

    ix->name_rank = track(ix, shelf__malloc(((size_t)ix->n + 1) * sizeof *ix->name_rank),
                          (size_t)ix->n * 4);
    if (!order || !ix->name_rank) {
        shelf_free(order);
        return nomem(lib);
    }
    for (i = 0; i < ix->n; i++)
        order[i] = i;
    qsort_r(order, ix->n, sizeof *order, cmp_name, ix);
    for (i = 0; i < ix->n; i++)
        ix->name_rank[order[i]] = i;
    ix->by_name = track(ix, order, (size_t)ix->n * 4);
    for (i = 0; i < ix->n; i++)
        shelf_free(ix->names[i]);
    shelf_free(ix->names);
    ix->names = NULL;
    return SHELF_OK;
}

int shelf__memindex_build(shelf_library *lib, shelf__memindex **out)
{
    shelf__memindex *ix = shelf__calloc(1, sizeof *ix);
    builder b;
    size_t i;
    int rc;

    *out = NULL;
    memset(&b, 0, sizeof b);
    if (!ix)
        return nomem(lib);
    b.ix = ix;
    if ((rc = shelf__tokenizer_get(lib, &b.tk)) != SHELF_OK) {
        shelf_free(ix);
        return rc;
    }
    /* One read transaction: the index is one consistent state. */
    if ((rc = shelf__begin_read(lib)) != SHELF_OK)
        goto out;
    ix->data_version = data_version(lib);
    ix->total_changes = sqlite3_total_changes(lib->db);
    ix->built_now = shelf__now();
    if ((rc = log_max(lib, &ix->log_seq)) != SHELF_OK ||
        (rc = load_items(lib, ix, &b, ix->built_now)) != SHELF_OK)
        goto done;
    /* room for changes in place: a thirty-second more, at least 1024 */
    ix->n0 = ix->n;
    if ((rc = reserve(lib, ix, ix->n + (ix->n / 32 > 1024 ? ix->n / 32 : 1024))) != SHELF_OK)
        goto done;
    ix->words = ((size_t)ix->cap + 63) / 64 + 1;
    for (ix->byid_cap = 1024; ix->byid_cap < (size_t)ix->cap * 2; ix->byid_cap *= 2)
        ;
    if (!(ix->byid = shelf__calloc(ix->byid_cap, sizeof *ix->byid)) ||
        !(ix->all = shelf__calloc(ix->words, 8))) {
        rc = nomem(lib);
        goto done;
    }
    for (i = 0; i < ix->n; i++) {
        size_t mask = ix->byid_cap - 1, k;

        for (k = ((uint64_t)ix->ids[i] * 0x9E3779B97F4A7C15ull) & mask; ix->byid[k]; k = (k + 1) & mask)
            ;
        ix->byid[k] = (uint32_t)i + 1;
        ix->all[i >> 6] |= 1ull << (i & 63);
    }
    if ((rc = load_tags(lib, ix, &b)) != SHELF_OK || (rc = load_synonyms(lib, ix)) != SHELF_OK ||
        (rc = intern_authors(lib, ix)) != SHELF_OK)
        goto done;
    if ((rc = build_postings(lib, ix, &b)) == SHELF_OK)
        rc = rank_names(lib, ix);
    if (rc == SHELF_OK) {      /* a bitmap per category: cat: is a few ORs */
        if (!(ix->catbits = shelf__calloc(ix->ncats + 1, sizeof *ix->catbits)))
            rc = nomem(lib);
        else
            ix->ncatbits = ix->ncats;
        for (i = 1; rc == SHELF_OK && i <= ix->ncats; i++)
            if (!(ix->catbits[i] = track(ix, shelf__calloc(ix->words, 8), ix->words * 8)))
                rc = nomem(lib);
        for (i = 0; rc == SHELF_OK && i < ix->n; i++)
            if (ix->cat[i])
                ix->catbits[ix->cat[i]][i >> 6] |= 1ull << (i & 63);
    }
done:
    if (shelf__commit(lib) != SHELF_OK)
        shelf__rollback(lib);
out:
    for (i = 0; i < b.nstrs; i++)
        shelf_free(b.strs[i]);
    shelf_free(b.strs);
    shelf_free(b.slots);
    shelf_free(b.tup);
    ix->bytes += (size_t)ix->cap * (8 + 4 + 3 + 1 + 1 + 1 + 8 + 8 + 16 + 2 + 2 + 8 + 8 + 4);
    if (rc != SHELF_OK) {
        shelf__memindex_free(ix);
        return rc;
    }
    *out = ix;
    return SHELF_OK;
}

#define SET(b, i) ((b)[(i) >> 6] |= 1ull << ((i) & 63))
#define GET(b, i) (((b)[(i) >> 6] >> ((i) & 63)) & 1)

/* ----- changes in place ---------------------------------------------------------- */

static double namepos(const shelf__memindex *ix, uint32_t i)
{
    return i < ix->n0 ? (double)ix->name_rank[i] : ix->nkey[i - ix->n0];
}

/* "Used this week" 2, "this month" 1, else 0, as load_items ranks. */
static int recency(const shelf__memindex *ix, uint32_t i)
{
    return ix->used[i] >= ix->built_now - 7 * 86400 ? 2 : ix->used[i] >= ix->built_now - 30 * 86400;
}

/* Static-rank order (load_items' ORDER BY) of items a and b. */
static int rank_cmp(const shelf__memindex *ix, uint32_t a, uint32_t b)
{
    double na, nb;
    int wa, wb;

    if (ix->rating[a] != ix->rating[b])
        return ix->rating[a] > ix->rating[b] ? -1 : 1;
    if ((wa = recency(ix, a)) != (wb = recency(ix, b)))
        return wa > wb ? -1 : 1;
    if ((na = namepos(ix, a)) != (nb = namepos(ix, b)))
        return na < nb ? -1 : 1;
    return ix->ids[a] < ix->ids[b] ? -1 : ix->ids[a] > ix->ids[b];
}

static int cmp_rank(const void *a, const void *b, void *arg)
{
    return rank_cmp(arg, *(const uint32_t *)a, *(const uint32_t *)b);
}

/* Name order of added items a and b: their build positions, then names
 * and ids as rank_names compares them. */
static int cmp_dname(const void *a, const void *b, void *arg)
{
    const shelf__memindex *ix = arg;
    uint32_t x = *(const uint32_t *)a - ix->n0, y = *(const uint32_t *)b - ix->n0;
    int c;

    if (ix->npos[x] != ix->npos[y])
        return ix->npos[x] < ix->npos[y] ? -1 : 1;
    if ((c = strcmp(ix->dnames[x], ix->dnames[y])) != 0)
        return c;
    return ix->ids[x + ix->n0] < ix->ids[y + ix->n0] ? -1 : ix->ids[x + ix->n0] > ix->ids[y + ix->n0];
}

static int cmp_dpost(const void *a, const void *b)
{
    const dpost *x = a, *y = b;
    int c = strcmp(x->term, y->term);

    return c ? c : x->item < y->item ? -1 : x->item > y->item;
}

/* Point id at item it in byid (room: byid_cap >= 2 cap). */
static void byid_set(shelf__memindex *ix, int64_t id, uint32_t it)
{
    size_t mask = ix->byid_cap - 1, i;

    for (i = ((uint64_t)id * 0x9E3779B97F4A7C15ull) & mask; ix->byid[i]; i = (i + 1) & mask)
        if (ix->ids[ix->byid[i] - 1] == id)
            break;
    ix->byid[i] = it + 1;
}

typedef struct adder {
    shelf__memindex *ix;
    uint32_t item;
    uint8_t col;
    int oom;
} adder;

static int add_dpost(void *ud, const char *tok, size_t n)
{
    adder *a = ud;
    shelf__memindex *ix = a->ix;

    (void)n;
    if (ix->ndp == ix->capdp) {
        size_t cap = ix->capdp ? ix->capdp * 2 : 256;
        dpost *np = shelf__realloc(ix->dp, cap * sizeof *np);

        if (!np) {
            a->oom = 1;
            return 1;
        }
        ix->dp = np;
        ix->capdp = cap;
    }
    if (!(ix->dp[ix->ndp].term = shelf__strdup(tok))) {
        a->oom = 1;
        return 1;
    }
    ix->dp[ix->ndp].item = a->item;
    ix->dp[ix->ndp].cols = a->col;
    ix->ndp++;
    ix->bytes += sizeof(dpost) + strlen(tok) + 1;
    return 0;
}

static int add_dtext(shelf__tokenizer *tk, adder *a, const char *text, uint8_t col)
{
    if (!text)
        return SHELF_OK;
    a->col = col;
    if (shelf__tokenize(tk, text, 0, add_dpost, a) != SHELF_OK || a->oom)
        return SHELF_ENOMEM;
    return SHELF_OK;
}

/* Add item it to the added tag folded (a build tag of that name gets it
 * too through base). */
static int add_dtag(shelf__memindex *ix, const char *folded, uint32_t it)
{
    dtag *d = NULL;
    size_t i;

    for (i = 0; i < ix->ndtags && !d; i++)
        if (!strcmp(ix->dtags[i].name, folded))
            d = &ix->dtags[i];
    if (!d) {
        dtag *nt = shelf__realloc(ix->dtags, (ix->ndtags + 1) * sizeof *nt);

        if (!nt)
            return SHELF_ENOMEM;
        ix->dtags = nt;
        d = &nt[ix->ndtags];
        memset(d, 0, sizeof *d);
        if (!(d->name = shelf__strdup(folded)))
            return SHELF_ENOMEM;
        d->base = -1;
        for (i = 0; i < ix->ntags && d->base < 0; i++)
            if (!strcmp(ix->tags[i], folded))
                d->base = (int64_t)i;
        ix->ndtags++;
    }
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 16;
        uint32_t *ni = shelf__realloc(d->items, cap * sizeof *ni);

        if (!ni)
            return SHELF_ENOMEM;
        d->items = ni;
        d->cap = cap;
    }
    d->items[d->n++] = it;
    return SHELF_OK;
}

/* *less = 1 when the build's item at name position p sorts before the
 * name lname (lowercase) and id; names of build items are read back from
 * the catalog (the index keeps none).  name: a kept statement. */
static int name_before(shelf_library *lib, shelf__memindex *ix, sqlite3_stmt *name, uint32_t p,
                       const char *lname, int64_t id, int *less)
{
    uint32_t it = ix->by_name[p];
    const unsigned char *a, *b = (const unsigned char *)lname;
    int c;

    *less = 0;
    sqlite3_reset(name);
    sqlite3_bind_int64(name, 1, ix->ids[it]);
    if (sqlite3_step(name) != SQLITE_ROW) {
        sqlite3_reset(name);
        return shelf__seterr(&lib->err, SHELF_EDB, "sample %lld of the index is gone",
                             (long long)ix->ids[it]);
    }
    a = sqlite3_column_text(name, 0);
    for (a = a ? a : (const unsigned char *)""; *a && tolower(*a) == *b; a++, b++)
        ;
    c = tolower(*a) - *b;
    *less = c < 0 || (c == 0 && ix->ids[it] < id);
    sqlite3_reset(name);
    return SHELF_OK;
}

/* The first live build position in name order after lname, id (n0 none):
 * a binary search that steps over dropped items (their names are not
 * theirs any more). */
static int name_place(shelf_library *lib, shelf__memindex *ix, sqlite3_stmt *name,
                      const char *lname, int64_t id, uint32_t *out)
{
    uint32_t lo = 0, hi = ix->n0;
    int rc, less;

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2, p = mid;

        while (p < hi && !GET(ix->all, ix->by_name[p]))
            p++;
        if (p == hi) {
            hi = mid;
            continue;
        }
        if ((rc = name_before(lib, ix, name, p, lname, id, &less)) != SHELF_OK)
            return rc;
        if (less)
            lo = p + 1;
        else
            hi = mid;
    }
    /* the first live position after: the same for every name in a run
     * of dropped ones, so two added items keep one order however many
     * build items died between their placings */
    while (lo < ix->n0 && !GET(ix->all, ix->by_name[lo]))
        lo++;
    *out = lo;
    return SHELF_OK;
}

/* Add sample row (ITEM_SQL) as item it, with its tags. */
static int add_item(shelf_library *lib, shelf__memindex *ix, sqlite3_stmt *row,
                    sqlite3_stmt *tags, sqlite3_stmt *name, uint32_t it)
{
    shelf__tokenizer *tk;
    adder a = { ix, it, 0, 0 };
    const char *author = (const char *)sqlite3_column_text(row, 5);
    char *folded = NULL;
    size_t k;
    int rc;

    if ((rc = shelf__tokenizer_get(lib, &tk)) != SHELF_OK)
        return rc;
    if (set_fields(ix, row, it) || !(ix->dnames[it - ix->n0] = lower(
                                         (const char *)sqlite3_column_text(row, 1))))
        return nomem(lib);
    ix->n = it + 1;
    ix->author[it] = 0;
    if (author) {
        char *la = lower(author);

        if (!la)
            return nomem(lib);
        for (k = 0; k < ix->nauth && strcmp(ix->authtab[k], la) != 0; k++)
            ;
        if (k == ix->nauth) {
            if (ix->nauth == ix->authcap) {
                char **nt = shelf__realloc(ix->authtab, (ix->authcap * 2 + 1) * sizeof *nt);

                if (!nt) {
                    shelf_free(la);
                    return nomem(lib);
                }
                ix->authtab = nt;
                ix->authcap = ix->authcap * 2 + 1;
            }
            ix->authtab[ix->nauth++] = la;
        } else {
            shelf_free(la);
        }
        ix->author[it] = (uint32_t)k + 1;
    }
    if (ix->ncats > ix->ncatbits) {   /* a category new to the index: its bitmap */
        uint64_t **nb = shelf__realloc(ix->catbits, (ix->ncats + 1) * sizeof *nb);

        if (!nb)
            return nomem(lib);
        ix->catbits = nb;
        for (; ix->ncatbits < ix->ncats; ix->ncatbits++)
            if (!(nb[ix->ncatbits + 1] = track(ix, shelf__calloc(ix->words, 8), ix->words * 8)))
                return nomem(lib);
    }
    if (ix->cat[it])
        SET(ix->catbits[ix->cat[it]], it);
    if (add_dtext(tk, &a, (const char *)sqlite3_column_text(row, 1), COL_NAME) != SHELF_OK ||
        add_dtext(tk, &a, (const char *)sqlite3_column_text(row, 2), COL_PATH) != SHELF_OK ||
        add_dtext(tk, &a, (const char *)sqlite3_column_text(row, 3), COL_CAT) != SHELF_OK)
        return nomem(lib);
    for (k = 4; k <= 9; k++)
        if (add_dtext(tk, &a, (const char *)sqlite3_column_text(row, (int)k), COL_META) != SHELF_OK)
            return nomem(lib);
    sqlite3_reset(tags);
    sqlite3_bind_int64(tags, 1, ix->ids[it]);
    while ((rc = sqlite3_step(tags)) == SQLITE_ROW) {
        const char *tag = (const char *)sqlite3_column_text(tags, 0);

        if (shelf__token_fold(tk, tag, strlen(tag), &folded) != SHELF_OK ||
            add_dtag(ix, folded, it) != SHELF_OK ||
            add_dtext(tk, &a, tag, COL_TAGS) != SHELF_OK) {
            shelf_free(folded);
            sqlite3_reset(tags);
            return nomem(lib);
        }
        shelf_free(folded);
        folded = NULL;
    }
    sqlite3_reset(tags);
    if (rc != SQLITE_DONE)
        return shelf__dberr(lib, "cannot read the catalog");
    SET(ix->all, it);
    byid_set(ix, ix->ids[it], it);
    return name_place(lib, ix, name, ix->dnames[it - ix->n0], ix->ids[it], &ix->npos[it - ix->n0]);
}

/* After items were added from first on: the new postings merged into the
 * sorted ones, and the live added items in name and rank order. */
static int order_added(shelf_library *lib, shelf__memindex *ix, size_t dp_from, uint32_t first)
{
    uint32_t i, j, k;

    if (dp_from < ix->ndp) {
        dpost *merged = shelf__malloc(ix->ndp * sizeof *merged);
        size_t x = 0, y = dp_from, w = 0;

        if (!merged)
            return nomem(lib);
        qsort(ix->dp + dp_from, ix->ndp - dp_from, sizeof *ix->dp, cmp_dpost);
        while (x < dp_from || y < ix->ndp)
            merged[w++] = y >= ix->ndp || (x < dp_from && cmp_dpost(&ix->dp[x], &ix->dp[y]) <= 0)
                          ? ix->dp[x++] : ix->dp[y++];
        shelf_free(ix->dp);
        ix->dp = merged;
        ix->capdp = ix->ndp;
    }
    /* each live added item's build position moves past items dropped
     * since it was placed, so all name the first live one after them (and
     * the static-rank place is found again) */
    ix->nlive = 0;
    for (i = ix->n0; i < ix->n; i++) {
        uint32_t *np = &ix->npos[i - ix->n0], was = *np;

        if (!GET(ix->all, i))
            continue;
        ix->dname[ix->nlive++] = i;
        while (*np < ix->n0 && !GET(ix->all, ix->by_name[*np]))
            (*np)++;
        if (*np != was && i < first)
            first = i;
    }
    /* name keys: each group of added items before the same build position
     * gets fractions between that position and the one before it */
    qsort_r(ix->dname, ix->nlive, sizeof *ix->dname, cmp_dname, ix);
    for (i = 0; i < ix->nlive; i = j) {
        uint32_t p = ix->npos[ix->dname[i] - ix->n0];

        for (j = i; j < ix->nlive && ix->npos[ix->dname[j] - ix->n0] == p; j++)
            ;
        for (k = i; k < j; k++)
            ix->nkey[ix->dname[k] - ix->n0] = (double)p - 1 + (double)(k - i + 1) / (j - i + 1);
    }
    /* the build's item each new or moved one goes before in static-rank
     * order */
    for (i = first; i < ix->n; i++) {
        uint32_t lo = 0, hi = ix->n0;

        if (!GET(ix->all, i))
            continue;
        while (lo < hi) {
            uint32_t mid = lo + (hi - lo) / 2;

            if (rank_cmp(ix, mid, i) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        ix->rpos[i - ix->n0] = lo;
    }
    memcpy(ix->dorder, ix->dname, ix->nlive * sizeof *ix->dorder);
    qsort_r(ix->dorder, ix->nlive, sizeof *ix->dorder, cmp_rank, ix);
    return SHELF_OK;
}

/*
 * Replay index_log after ix->log_seq into ix.  SHELF_OK applied (or
 * nothing to do); SHELF_DONE when the log cannot answer (why says why) and
 * the index must be rebuilt; an error otherwise (the index is then in an
 * unknown state: rebuild it).
 */
static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return x < y ? -1 : x > y;
}

static int replay(shelf_library *lib, shelf__memindex *ix, int in_tx, char *why, size_t whysize,
                  size_t *applied)
{
    sqlite3_stmt *st = NULL, *row = NULL, *tags = NULL, *name = NULL;
    int64_t lo = 0, hi = 0, *ids = NULL;
    size_t nids = 0, capids = 0, k, dp_from = ix->ndp;
    uint32_t first = ix->n;
    int rc, r;

    *applied = 0;
    /* two subqueries: min() and max() in one select would scan the log */
    if (!(st = shelf__prepare_kept(lib, "SELECT coalesce((SELECT min(seq) FROM index_log), 0), "
                                        "coalesce((SELECT max(seq) FROM index_log), 0)")))
        return lib->err.rc;
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_reset(st);
        return shelf__dberr(lib, "cannot read the index log");
    }
    lo = sqlite3_column_int64(st, 0);
    hi = sqlite3_column_int64(st, 1);
    sqlite3_reset(st);
    if (hi < ix->log_seq) {     /* numbers are never given back once committed */
        snprintf(why, whysize, "the index log went back from row %lld to %lld (the catalog "
                 "replaced?)", (long long)ix->log_seq, (long long)hi);
        return SHELF_DONE;
    }
    if (hi == ix->log_seq && (in_tx || !ix->nredo))
        return SHELF_OK;
    if (lo > ix->log_seq + 1) {
        snprintf(why, whysize, "the index log was trimmed past the index (rows %lld-%lld, "
                 "index at %lld)", (long long)lo, (long long)hi, (long long)ix->log_seq);
        return SHELF_DONE;
    }
    if (!(st = shelf__prepare_kept(lib, "SELECT DISTINCT sample_id FROM index_log WHERE seq > ?1 "
                                        "ORDER BY sample_id")))
        return lib->err.rc;
    sqlite3_bind_int64(st, 1, ix->log_seq);
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (nids == capids) {
            size_t cap = capids ? capids * 2 : 64;
            int64_t *ni = shelf__realloc(ids, cap * sizeof *ni);

            if (!ni) {
                sqlite3_reset(st);
                shelf_free(ids);
                return nomem(lib);
            }
            ids = ni;
            capids = cap;
        }
        ids[nids++] = sqlite3_column_int64(st, 0);
    }
    sqlite3_reset(st);
    if (r != SQLITE_DONE) {
        shelf_free(ids);
        return shelf__dberr(lib, "cannot read the index log");
    }
    if (!in_tx && ix->nredo) {  /* what a transaction showed, as it ended */
        int64_t *ni = shelf__realloc(ids, (nids + ix->nredo) * sizeof *ni);
        size_t w = 0;

        if (!ni) {
            shelf_free(ids);
            return nomem(lib);
        }
        ids = ni;
        memcpy(ids + nids, ix->redo, ix->nredo * sizeof *ids);
        nids += ix->nredo;
        qsort(ids, nids, sizeof *ids, cmp_i64);
        for (k = 0; k < nids; k++)
            if (!w || ids[w - 1] != ids[k])
                ids[w++] = ids[k];
        nids = w;
    }
    if (nids && ids[0] == 0) {
        snprintf(why, whysize, "synonyms or a root's path changed");
        rc = SHELF_DONE;
        goto out;
    }
    if (nids > (size_t)(ix->cap - ix->n)) {
        snprintf(why, whysize, "%zu samples changed, room for %u", nids, ix->cap - ix->n);
        rc = SHELF_DONE;
        goto out;
    }
    if (!ix->dnames && (!(ix->dnames = shelf__calloc((size_t)(ix->cap - ix->n0) + 1, sizeof *ix->dnames)) ||
                        !(ix->npos = shelf__calloc((size_t)(ix->cap - ix->n0) + 1, sizeof *ix->npos)) ||
                        !(ix->nkey = shelf__calloc((size_t)(ix->cap - ix->n0) + 1, sizeof *ix->nkey)) ||
                        !(ix->rpos = shelf__calloc((size_t)(ix->cap - ix->n0) + 1, sizeof *ix->rpos)) ||
                        !(ix->dorder = shelf__calloc((size_t)(ix->cap - ix->n0) + 1, sizeof *ix->dorder)) ||
                        !(ix->dname = shelf__calloc((size_t)(ix->cap - ix->n0) + 1, sizeof *ix->dname)))) {
        rc = nomem(lib);
        goto out;
    }
    /* first drop every changed sample, so name_place reads only names the
     * index still holds; the sets kept for the next keystroke are now old
     * (inside a transaction too, where log_seq stays) */
    ix->edits++;
    for (k = 0; k < nids; k++) {
        uint32_t it = item_of(ix, ids[k]);

        if (it)
            ix->all[(it - 1) >> 6] &= ~(1ull << ((it - 1) & 63));
    }
    /* kept prepared: a replay is a few rows, preparing would be most of it */
    if (!(row = shelf__prepare_kept(lib, ITEM_SQL "WHERE s.id = ?1")) ||
        !(tags = shelf__prepare_kept(lib, "SELECT t.name FROM tag_items ti JOIN tags t ON "
                                          "t.id = ti.tag_id WHERE ti.kind = " SHELF__KIND_SAMPLE_SQL
                                          " AND ti.item_id = ?1")) ||
        !(name = shelf__prepare_kept(lib, "SELECT name FROM samples WHERE id = ?1"))) {
        rc = lib->err.rc;
        goto out;
    }
    rc = SHELF_OK;
    for (k = 0; k < nids && rc == SHELF_OK; k++) {
        sqlite3_reset(row);
        sqlite3_bind_int64(row, 1, ids[k]);
        if ((r = sqlite3_step(row)) == SQLITE_ROW)
            rc = add_item(lib, ix, row, tags, name, ix->n);
        else if (r != SQLITE_DONE)
            rc = shelf__dberr(lib, "cannot read the catalog");
    }
    if (rc == SHELF_OK)
        rc = order_added(lib, ix, dp_from, first);
    if (rc == SHELF_OK && in_tx) {
        /* rows of a transaction not committed yet: it may roll back and
         * their numbers be used again, so the index stays at its row and
         * reads these samples again after the transaction */
        int64_t *nr = shelf__realloc(ix->redo, (ix->nredo + nids + 1) * sizeof *nr);

        if (!nr) {
            rc = nomem(lib);
        } else {
            ix->redo = nr;
            if (nids)
                memcpy(ix->redo + ix->nredo, ids, nids * sizeof *ids);
            ix->nredo += nids;
            *applied = nids;
        }
    } else if (rc == SHELF_OK) {
        ix->log_seq = hi;
        ix->nredo = 0;
        *applied = nids;
    }
out:
    if (row)
        sqlite3_reset(row);
    if (tags)
        sqlite3_reset(tags);
    if (name)
        sqlite3_reset(name);
    shelf_free(ids);
    return rc;
}

int shelf__memindex_update(shelf_library *lib, shelf__memindex *ix, char *why, size_t whysize,
                           size_t *applied)
{
    int64_t dv;
    int rc, tc, in_tx = lib->tx_depth > 0;

    why[0] = '\0';
    *applied = 0;
    if ((rc = shelf__begin_read(lib)) != SHELF_OK)
        return rc;
    dv = data_version(lib);
    tc = sqlite3_total_changes(lib->db);
    rc = replay(lib, ix, in_tx, why, whysize, applied);
    if (shelf__commit(lib) != SHELF_OK) {
        shelf__rollback(lib);
        if (rc == SHELF_OK)
            rc = lib->err.rc;
    }
    if (rc == SHELF_OK) {
        ix->data_version = in_tx ? -1 : dv;      /* in a transaction: look again */
        ix->total_changes = in_tx ? -1 : tc;
    }
    return rc;
}

/* ----- evaluation -------------------------------------------------------------- */

int shelf__memindex_can(shelf_library *lib, const qnode *q)
{
    char tok[SHELF__TOKEN_MAX + 1];
    shelf__tokenizer *tk;
    int i, n;

    switch (q->kind) {
    case Q_PHRASE:
        return 1;
    case Q_WORD:
    case Q_FIELD:
        if (q->kind == Q_FIELD && q->field != F_NAME && q->field != F_PATH)
            return 1;
        if (shelf__tokenizer_get(lib, &tk) != SHELF_OK)
            return 0;
        n = shelf__token_single(tk, q->text, tok);
        return n >= 0;
    }
    for (i = 0; i < q->nkids; i++)
        if (!shelf__memindex_can(lib, q->kids[i]))
            return 0;
    return 1;
}

typedef struct evalctx {
    shelf_library *lib;
    shelf__memindex *ix;
    int64_t now;
    int depth;
    int rc;
} evalctx;

static uint64_t *bm_new(evalctx *e)
{
    uint64_t *b = shelf__calloc(e->ix->words, 8);

    if (!b && e->rc == SHELF_OK)
        e->rc = nomem(e->lib);
    return b;
}

/* Set in any (and in name, when not NULL) the items with a token that
 * starts with tok, in the columns of mask. */
static void prefix_bits_built(evalctx *e, const char *tok, uint8_t mask, uint64_t *any,
                              uint64_t *name);

static void prefix_bits(evalctx *e, const char *tok, uint8_t mask, uint64_t *any, uint64_t *name)
{
    const shelf__memindex *ix = e->ix;
    size_t n = strlen(tok), lo = 0, hi = ix->ndp, k;

    prefix_bits_built(e, tok, mask, any, name);
    while (lo < hi) {       /* the added items' postings: first term >= tok */
        size_t mid = (lo + hi) / 2;

        if (strcmp(ix->dp[mid].term, tok) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (k = lo; k < ix->ndp && !strncmp(ix->dp[k].term, tok, n); k++) {
        if (!(ix->dp[k].cols & mask))
            continue;
        SET(any, ix->dp[k].item);
        if (name && (ix->dp[k].cols & COL_NAME))
            SET(name, ix->dp[k].item);
    }
}

/* out |= b, b NULL: nothing. */
static void bits_or(const shelf__memindex *ix, uint64_t *out, const uint64_t *b)
{
    size_t w;

    for (w = 0; b && w < ix->words; w++)
        out[w] |= b[w];
}

/* prefix_bits in the build's terms. */
static void prefix_bits_built(evalctx *e, const char *tok, uint8_t mask, uint64_t *any,
                              uint64_t *name)
{
    shelf__memindex *ix = e->ix;
    size_t n = strlen(tok), lo = 0, hi = ix->nterms;
    uint32_t t, k;

    if (n == 1 && mask == 0xff) {
        bits_or(ix, any, ix->pre1[(unsigned char)tok[0]][0]);
        if (name)
            bits_or(ix, name, ix->pre1[(unsigned char)tok[0]][1]);
        return;
    }
    if (n == 2 && mask == 0xff && ix->pre2) {
        size_t key = ((size_t)(unsigned char)tok[0] << 8 | (unsigned char)tok[1]) * 2;

        if (ix->pre2[key]) {
            bits_or(ix, any, ix->pre2[key]);
            if (name)
                bits_or(ix, name, ix->pre2[key + 1]);
            return;
        }
    }
    while (lo < hi) {       /* first term >= tok */
        size_t mid = (lo + hi) / 2;

        if (strcmp(ix->terms[mid], tok) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (t = (uint32_t)lo; t < ix->nterms && !strncmp(ix->terms[t], tok, n); t++) {
        if (ix->dense_any && ix->dense_any[t]) {
            /* the masks queries use: any column, name:, path: */
            bits_or(ix, any, mask == COL_NAME ? ix->dense_name[t]
                             : mask == COL_PATH ? ix->dense_path[t] : ix->dense_any[t]);
            if (name)
                bits_or(ix, name, ix->dense_name[t]);
            continue;
        }
        for (k = ix->off[t]; k < ix->off[t + 1]; k++) {
            uint8_t c = ix->cols[k];

            if (!(c & mask))
                continue;
            SET(any, ix->items[k]);
            if (name && (c & COL_NAME))
                SET(name, ix->items[k]);
        }
    }
}

/* The items a phrase or a filter found when asked key, if nothing changed
 * since: ORed into out, 1; else 0.  Typing "fav:yes pad" asks for
 * fav:yes at every key. */
static int kept_get(shelf__memindex *ix, const char *key, uint64_t *out)
{
    size_t k, w;

    for (k = 0; k < KEPT_SETS; k++) {
        if (ix->kept[k].key && ix->kept[k].edits == ix->edits && !strcmp(ix->kept[k].key, key)) {
            for (w = 0; w < ix->words; w++)
                out[w] |= ix->kept[k].items[w];
            ix->kept[k].used = ++ix->kept_clock;
            ix->kept_hits++;
            return 1;
        }
    }
    return 0;
}

/* Keep items as what key found, in place of the set used longest ago;
 * without memory, simply not kept. */
static void kept_put(shelf__memindex *ix, const char *key, const uint64_t *items)
{
    size_t k, old = 0;
    char *copy;

    for (k = 1; k < KEPT_SETS; k++)
        if (ix->kept[k].used < ix->kept[old].used)
            old = k;
    if (!ix->kept[old].items &&
        !(ix->kept[old].items = track(ix, shelf__malloc(ix->words * 8), ix->words * 8)))
        return;
    if (!(copy = shelf__strdup(key)))
        return;
    shelf_free(ix->kept[old].key);
    ix->kept[old].key = copy;
    ix->kept[old].edits = ix->edits;
    ix->kept[old].used = ++ix->kept_clock;
    memcpy(ix->kept[old].items, items, ix->words * 8);
}

/*
 * Phrases ("vol 2", kick-03, name:"warm pad"): the items whose text has
 * the words of text next to each other, in column col (FTS5's name, words)
 * or any.  This index keeps no word positions (they would cost more than
 * all the rest), so FTS5 finds them, in rowid order and unranked (its
 * ranked search of "vol 2" took 845 ms at a million, this 150 to 250);
 * the rest of the query, the order and the count are this index's.  The
 * last phrase is kept until the catalog changes: the keys typed after a
 * phrase find it again at once.
 */
static void phrase_bits(evalctx *e, const char *col, const char *text, int prefix, uint64_t *out)
{
    shelf__memindex *ix = e->ix;
    shelf__buf expr = SHELF__BUF_INIT;
    sqlite3_stmt *st;
    size_t w;
    int n, r;
    char tok[SHELF__TOKEN_MAX + 1];
    shelf__tokenizer *tk;

    /* no word for the index ("&", a lone accent): matches all, as in SQL */
    if ((e->rc = shelf__tokenizer_get(e->lib, &tk)) != SHELF_OK)
        return;
    if ((n = shelf__token_single(tk, text, tok)) < 0) {
        e->rc = shelf__seterr(&e->lib->err, n, "%s", n == SHELF_ENOMEM ? "out of memory" : "cannot split the query into words");
        return;
    }
    if (n > 0 && (n = shelf__fts_phrase(&expr, col, text, prefix)) < 0) {
        e->rc = nomem(e->lib);
        return;
    }
    if (n == 0) {
        memcpy(out, ix->all, ix->words * 8);
        shelf__buf_release(&expr);
        return;
    }
    if (kept_get(ix, expr.buf, out)) {
        shelf__buf_release(&expr);
        return;
    }
    if (!(st = shelf__prepare_kept(e->lib, "SELECT rowid FROM samples_fts WHERE samples_fts MATCH ?1"))) {
        e->rc = e->lib->err.rc;
        shelf__buf_release(&expr);
        return;
    }
    sqlite3_bind_text(st, 1, expr.buf, (int)expr.len, SQLITE_STATIC);
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        uint32_t it = item_of(ix, sqlite3_column_int64(st, 0));

        if (it)
            SET(out, it - 1);
    }
    if (r != SQLITE_DONE)
        e->rc = shelf__dberr(e->lib, "cannot search for a phrase");
    sqlite3_reset(st);
    for (w = 0; w < ix->words; w++)
        out[w] &= ix->all[w];
    if (e->rc == SHELF_OK)
        kept_put(ix, expr.buf, out);
    shelf__buf_release(&expr);
}

/* A free word: its prefix, or any word of its synonym group. */
static void word_bits(evalctx *e, const char *text, uint64_t *any, uint64_t *name)
{
    shelf__memindex *ix = e->ix;
    char tok[SHELF__TOKEN_MAX + 1];
    shelf__tokenizer *tk;
    syn key, *s;
    size_t i;

    if ((e->rc = shelf__tokenizer_get(e->lib, &tk)) != SHELF_OK)
        return;
    if ((e->rc = shelf__token_single(tk, text, tok)) < 0) {
        e->rc = shelf__seterr(&e->lib->err, e->rc, "%s", e->rc == SHELF_ENOMEM ? "out of memory" : "cannot split the query into words");
        return;
    }
    if (e->rc > 1) {          /* "kick-03": a phrase, its last word a prefix */
        e->rc = SHELF_OK;
        phrase_bits(e, NULL, text, 1, any);
        return;
    }
    e->rc = SHELF_OK;
    if (tok[0] == '\0') {     /* no word: matches all */
        memcpy(any, ix->all, ix->words * 8);
        return;
    }
    prefix_bits(e, tok, 0xff, any, name);
    key.word = tok;
    if (!ix->nsyns || !(s = bsearch(&key, ix->syns, ix->nsyns, sizeof *ix->syns, cmp_syn)))
        return;
    for (i = 0; i < ix->nsyns; i++)
        if (ix->syns[i].grp == s->grp && strcmp(ix->syns[i].word, tok) != 0)
            prefix_bits(e, ix->syns[i].word, 0xff, any, name);
}


static uint64_t *eval(evalctx *e, const qnode *q);

static void collection_bits(evalctx *e, const qnode *q, uint64_t *out)
{
    sqlite3_stmt *st = shelf__prepare(e->lib, "SELECT id, query FROM collections WHERE name = ?1");
    int errpos;

    if (!st) {
        e->rc = e->lib->err.rc;
        return;
    }
    sqlite3_bind_text(st, 1, q->text, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        e->lib->query_errpos = q->pos;
        e->rc = shelf__seterr(&e->lib->err, SHELF_EINVAL,
                              "invalid query at column %d: no collection '%s'", q->pos, q->text);
        return;
    }
    if (sqlite3_column_type(st, 1) == SQLITE_NULL) {
        sqlite3_stmt *m = shelf__prepare(e->lib, "SELECT sample_id FROM collection_items WHERE "
                                                 "collection_id = ?1");

        if (!m) {
            e->rc = e->lib->err.rc;
        } else {
            sqlite3_bind_int64(m, 1, sqlite3_column_int64(st, 0));
            while (sqlite3_step(m) == SQLITE_ROW) {
                uint32_t it = item_of(e->ix, sqlite3_column_int64(m, 0));

                if (it)
                    SET(out, it - 1);
            }
            sqlite3_finalize(m);
        }
    } else if (e->depth >= 4) {
        e->lib->query_errpos = q->pos;
        e->rc = shelf__seterr(&e->lib->err, SHELF_EINVAL, "invalid query at column %d: "
                              "collections inside collections too deeply (a cycle?) at '%s'",
                              q->pos, q->text);
    } else {
        qnode *sub = NULL;

        if (shelf__query_parse(e->lib, (const char *)sqlite3_column_text(st, 1), e->now, &sub,
                               &errpos) != SHELF_OK) {
            e->rc = e->lib->err.rc;
        } else if (sub) {
            uint64_t *b;

            e->depth++;
            if ((b = eval(e, sub)) != NULL) {
                memcpy(out, b, e->ix->words * 8);
                shelf_free(b);
            }
            e->depth--;
        }
        shelf__query_free(sub);
    }
    sqlite3_finalize(st);
}

/*
 * A numeric field in a range: 64 items at a time into one word, bounds
 * made inclusive first, so the loop is compares only.  NaN (no value)
 * fails every compare; the "no value" markers of integer fields are
 * skipped.
 */
#define RANGE_SCAN(expr, none)                                          \
    do {                                                                \
        for (w = 0, i = 0; w < ix->words; w++) {                        \
            uint8_t f[64];                                              \
            uint32_t b, lim = ix->n - i < 64 ? ix->n - i : 64;          \
                                                                        \
            for (b = 0; b < lim; b++, i++) {                            \
                double v = (double)(expr);                              \
                                                                        \
                f[b] = (uint8_t)(!(none) & (v >= lo) & (v <= hi));      \
            }                                                           \
            for (; b < 64; b++)                                         \
                f[b] = 0;                                               \
            out[w] = pack64(f);                                         \
        }                                                               \
    } while (0)

/* 64 bytes of 0 or 1 into one word, byte k to bit k. */
static uint64_t pack64(const uint8_t f[64])
{
    uint64_t bits = 0;
    int k;

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    for (k = 0; k < 8; k++) {
        uint64_t x;

        memcpy(&x, f + 8 * k, 8);
        bits |= ((x * 0x0102040810204080ull) >> 56) << (8 * k);
    }
#else
    for (k = 0; k < 64; k++)
        bits |= (uint64_t)f[k] << k;
#endif
    return bits;
}

static void range_bits(const shelf__memindex *ix, const qnode *q, uint64_t *out)
{
    const qrange *r = &q->r;
    double lo = r->has_lo ? (r->lo_strict ? nextafter(r->lo, INFINITY) : r->lo) : -INFINITY;
    double hi = r->has_hi ? (r->hi_strict ? nextafter(r->hi, -INFINITY) : r->hi) : INFINITY;
    size_t w;
    uint32_t i;

    switch (q->field) {
    case F_RATE: RANGE_SCAN(ix->rate[i], 0); break;
    case F_CH: RANGE_SCAN(ix->channels[i], 0); break;
    case F_BITS: RANGE_SCAN(ix->bits[i], ix->bits[i] == 0); break;
    case F_KEY: RANGE_SCAN(ix->key[i], ix->key[i] < 0); break;
    case F_BPM: RANGE_SCAN(ix->tempo[i], 0); break;
    case F_LEN: RANGE_SCAN(ix->duration[i], 0); break;
    case F_RATING: RANGE_SCAN(ix->rating[i], 0); break;
    case F_ADDED: RANGE_SCAN(ix->created[i], 0); break;
    case F_USED: RANGE_SCAN(ix->used[i], ix->used[i] == 0); break;
    }
}

/* cat:text (a prefix when prefix) selects category name: the same name, or
 * a synonym of it (cat:hh is cat:hihat). */
static int cat_hit(const shelf__memindex *ix, const char *name, const char *text, int prefix)
{
    syn key, *a, *b;

    if (prefix)
        return !strncasecmp(name, text, strlen(text));
    if (!strcasecmp(name, text))
        return 1;
    if (!ix->nsyns)
        return 0;
    key.word = (char *)text;
    a = bsearch(&key, ix->syns, ix->nsyns, sizeof *ix->syns, cmp_syn);
    key.word = (char *)name;
    b = bsearch(&key, ix->syns, ix->nsyns, sizeof *ix->syns, cmp_syn);
    return a && b && a->grp == b->grp;
}

/* format:text selects fmt ("container\tencoding", lowercase): text starts
 * either; aif and wave are aiff and wav. */
static int format_hit(const char *fmt, const char *text)
{
    const char *v = !strcmp(text, "aif") ? "aiff" : !strcmp(text, "wave") ? "wav" : text;
    const char *tab = strchr(fmt, '\t');
    size_t n = strlen(v);

    return !strncmp(fmt, v, n) || (tab && !strncmp(tab + 1, v, n));
}

static void field_scan(evalctx *e, const qnode *q, uint64_t *out)
{
    shelf__memindex *ix = e->ix;
    uint32_t i, t, k;

    switch (q->field) {
    case F_NAME: case F_PATH: {
        char tok[SHELF__TOKEN_MAX + 1];
        shelf__tokenizer *tk;

        if ((e->rc = shelf__tokenizer_get(e->lib, &tk)) != SHELF_OK)
            return;
        if ((e->rc = shelf__token_single(tk, q->text, tok)) < 0) {
            e->rc = shelf__seterr(&e->lib->err, e->rc, "%s", e->rc == SHELF_ENOMEM ? "out of memory" : "cannot split the query into words");
            return;
        }
        if (e->rc > 1) {      /* name:"warm pad", path:kit/kick: a phrase in the column */
            e->rc = SHELF_OK;
            phrase_bits(e, q->field == F_NAME ? "name" : "words", q->text, 1, out);
            return;
        }
        e->rc = SHELF_OK;
        if (tok[0] != '\0')
            prefix_bits(e, tok, q->field == F_NAME ? COL_NAME : COL_PATH, out, NULL);
        else
            memcpy(out, ix->all, ix->words * 8);
        return;
    }
    case F_TAG: {
        size_t n = strlen(q->text);

        for (t = 0; t < ix->ntags; t++)
            if (q->prefix ? !strncmp(ix->tags[t], q->text, n) : !strcmp(ix->tags[t], q->text))
                for (k = ix->tag_off[t]; k < ix->tag_off[t + 1]; k++)
                    SET(out, ix->tag_items[k]);
        for (t = 0; t < ix->ndtags; t++) {
            const dtag *d = &ix->dtags[t];
            size_t j;

            if (q->prefix ? !strncmp(d->name, q->text, n) : !strcmp(d->name, q->text))
                for (j = 0; j < d->n; j++)
                    SET(out, d->items[j]);
        }
        return;
    }
    case F_CAT: {
        size_t c;

        for (c = 0; c < ix->ncats; c++) {
            if (cat_hit(ix, ix->cats[c], q->text, q->prefix)) {
                const uint64_t *cb = ix->catbits[c + 1];
                size_t w;

                for (w = 0; w < ix->words; w++)
                    out[w] |= cb[w];
            }
        }
        return;
    }
    case F_AUTHOR: {
        uint8_t *want = shelf__calloc(ix->nauth + 1, 1);
        size_t a;

        if (!want) {
            e->rc = nomem(e->lib);
            return;
        }
        for (a = 0; a < ix->nauth; a++)
            want[a + 1] = strstr(ix->authtab[a], q->text) != NULL;
        for (i = 0; i < ix->n; i++)
            if (want[ix->author[i]])
                SET(out, i);
        shelf_free(want);
        return;
    }
    case F_TYPE:
        if (q->text[0] == 's')
            memcpy(out, ix->all, ix->words * 8);
        return;
    case F_FORMAT: {
        uint8_t want[65536 / 8];
        size_t f;

        memset(want, 0, sizeof want);
        for (f = 0; f < ix->nfmts; f++)
            if (format_hit(ix->fmts[f], q->text))
                want[f >> 3] |= (uint8_t)(1u << (f & 7));
        /* 64 items a word, without a branch per item (format:w over a
         * million: 6.5 ms with one) */
        for (i = 0; i < ix->n; i += 64) {
            uint32_t end = ix->n - i < 64 ? ix->n : i + 64;
            uint64_t bits = 0;

            for (k = i; k < end; k++)
                bits |= (uint64_t)(want[ix->fmt[k] >> 3] >> (ix->fmt[k] & 7) & 1) << (k - i);
            out[i >> 6] |= bits;
        }
        return;
    }
    case F_FAV: case F_MISSING: case F_LOOP: case F_ARCHIVED: {
        uint8_t bit = q->field == F_FAV ? 1 : q->field == F_MISSING ? 2 : q->field == F_LOOP ? 4 : 8;

        for (i = 0; i < ix->n; i += 64) {
            uint32_t end = ix->n - i < 64 ? ix->n : i + 64;
            uint64_t bits = 0;

            for (k = i; k < end; k++)
                bits |= (uint64_t)((ix->flags[k] & bit) != 0 ? q->yes != 0 : q->yes == 0) << (k - i);
            out[i >> 6] |= bits;
        }
        return;
    }
    case F_IN:
        collection_bits(e, q, out);
        return;
    }
    range_bits(ix, q, out);
}

/* A field's items; those that look at every item (author, format, the
 * flags and the numbers) kept for the next keystrokes (kept_get). */
static void field_bits(evalctx *e, const qnode *q, uint64_t *out)
{
    shelf__buf key = SHELF__BUF_INIT;
    const qrange *r = &q->r;

    switch (q->field) {
    case F_NAME: case F_PATH: case F_TAG: case F_CAT: case F_TYPE: case F_IN:
        field_scan(e, q, out);      /* from postings and lists, or cheap */
        return;
    }
    /* \x1f is in no query's text nor phrase: the key names one question */
    if (shelf__buf_addf(&key, "\x1f%d %d %d %d%d%d%d %.17g %.17g %s", q->field, q->prefix, q->yes, r->has_lo,
                        r->lo_strict, r->has_hi, r->hi_strict, r->lo, r->hi, q->text ? q->text : "")
        == SHELF_OK && kept_get(e->ix, key.buf, out)) {
        shelf__buf_release(&key);
        return;
    }
    field_scan(e, q, out);
    if (e->rc == SHELF_OK && key.buf)
        kept_put(e->ix, key.buf, out);
    shelf__buf_release(&key);
}

static uint64_t *eval(evalctx *e, const qnode *q)
{
    size_t w, words = e->ix->words;
    uint64_t *out = bm_new(e), *k;
    int i;

    if (!out)
        return NULL;
    switch (q->kind) {
    case Q_WORD:
        word_bits(e, q->text, out, NULL);
        break;
    case Q_PHRASE:
        phrase_bits(e, NULL, q->text, 0, out);
        break;
    case Q_FIELD:
        field_bits(e, q, out);
        break;
    case Q_NOT:
        if (!(k = eval(e, q->kids[0])))
            break;
        for (w = 0; w < words; w++)
            out[w] = e->ix->all[w] & ~k[w];
        shelf_free(k);
        break;
    case Q_AND: case Q_OR:
        if (q->kind == Q_AND)
            memcpy(out, e->ix->all, words * 8);
        for (i = 0; i < q->nkids && e->rc == SHELF_OK; i++) {
            if (!(k = eval(e, q->kids[i])))
                break;
            for (w = 0; w < words; w++)
                out[w] = q->kind == Q_AND ? out[w] & k[w] : out[w] | k[w];
            shelf_free(k);
        }
        break;
    }
    if (e->rc != SHELF_OK) {
        shelf_free(out);
        return NULL;
    }
    return out;
}

/* ----- pages -------------------------------------------------------------------- */

/* 1 when q looks for a word somewhere (not only under a negation). */
static int has_words(const qnode *q)
{
    int i;

    if (q->kind == Q_WORD || q->kind == Q_PHRASE)
        return 1;
    if (q->kind == Q_FIELD)
        return q->field == F_NAME || q->field == F_PATH;
    if (q->kind == Q_NOT)
        return 0;
    for (i = 0; i < q->nkids; i++)
        if (has_words(q->kids[i]))
            return 1;
    return 0;
}

typedef struct keyed {
    double key;
    uint32_t item;
} keyed;

static double sort_key(const shelf__memindex *ix, int sort, uint32_t i)
{
    switch (sort) {
    case SHELF_SORT_ID: return (double)ix->ids[i];
    case SHELF_SORT_NAME: return namepos(ix, i);
    case SHELF_SORT_DURATION: return isnan(ix->duration[i]) ? -1 : ix->duration[i];
    case SHELF_SORT_RATE: return ix->rate[i];
    case SHELF_SORT_KEY: return ix->key[i];
    case SHELF_SORT_TEMPO: return isnan(ix->tempo[i]) ? -1 : ix->tempo[i];
    case SHELF_SORT_ADDED: return (double)ix->created[i];
    case SHELF_SORT_USED: return (double)ix->used[i];
    case SHELF_SORT_RATING: return ix->rating[i];
    }
    return 0;
}

typedef struct sortctx {
    const shelf__memindex *ix;
    int sort, desc;
} sortctx;

/* qsort_r's comparison: reentrant, so handles in other threads may sort. */
static int cmp_keyed(const void *a, const void *b, void *arg)
{
    const sortctx *sc = arg;
    const keyed *x = a, *y = b;
    const int64_t *ids = sc->ix->ids;
    int c;

    c = x->key < y->key ? -1 : x->key > y->key;
    if (c == 0)
        c = ids[x->item] < ids[y->item] ? -1 : ids[x->item] > ids[y->item];
    return sc->desc ? -c : c;
}

/* The matches of a search and the name hits of its top-level words. */
typedef struct matches {
    uint64_t *m;                /* the items that match q */
    uint64_t **names;           /* per top-level word: items with it in their name */
    int nwords;
} matches;

static void matches_free(matches *mt)
{
    int i;

    for (i = 0; i < mt->nwords; i++)
        shelf_free(mt->names[i]);
    shelf_free(mt->names);
    shelf_free(mt->m);
}

/* Evaluate q into mt.  The words of a top-level AND (or a lone word) are
 * evaluated once, keeping each one's bitmap of name hits for the ranking;
 * there are as many as q has (at most the query's 256 words), none dropped. */
static int match_top(evalctx *e, const qnode *q, matches *mt)
{
    const qnode *const *kids = &q;
    int nkids = 1, i, words_ranked = q->kind == Q_AND || q->kind == Q_WORD;

    if (q->kind == Q_AND) {
        kids = (const qnode *const *)q->kids;
        nkids = q->nkids;
    }
    if (!(mt->m = bm_new(e)))
        return e->rc;
    if (!(mt->names = shelf__calloc((size_t)nkids, sizeof *mt->names)))
        return nomem(e->lib);
    memcpy(mt->m, e->ix->all, e->ix->words * 8);
    for (i = 0; i < nkids && e->rc == SHELF_OK; i++) {
        uint64_t *b;
        size_t w;

        if (kids[i]->kind == Q_WORD && words_ranked) {
            if (!(b = bm_new(e)) || !(mt->names[mt->nwords] = bm_new(e))) {
                shelf_free(b);
                break;
            }
            word_bits(e, kids[i]->text, b, mt->names[mt->nwords]);
            mt->nwords++;
        } else if (!(b = eval(e, kids[i]))) {
            break;
        }
        for (w = 0; w < e->ix->words; w++)
            mt->m[w] &= b[w];
        shelf_free(b);
    }
    return e->rc;
}

typedef struct tiered {
    uint32_t item, tier;
} tiered;

/* The walk of page_ranked: per tier, how many seen; what was kept. */
typedef struct rankwalk {
    const matches *mt;
    int64_t want;
    size_t tiers, k, *nb;
    tiered *seen;
    /* with the tiers' sizes known: the page is every item of the tiers
     * above cut and the first cut_need of cut; left of them still to see
     * (-1: sizes unknown, stop when the best tier is full) */
    size_t cut;
    int64_t cut_need, left;
} rankwalk;

/* Take item it into the walk; 1 when the page is known (stop). */
static int rank_take(rankwalk *rw, uint32_t it)
{
    uint32_t tier = 0;
    int j;

    for (j = 0; j < rw->mt->nwords; j++)
        tier += (uint32_t)GET(rw->mt->names[j], it);
    if ((int64_t)rw->nb[tier] >= rw->want)
        return 0;
    rw->nb[tier]++;
    rw->seen[rw->k].item = it;
    rw->seen[rw->k++].tier = tier;
    if (rw->left >= 0)
        return (tier > rw->cut || (tier == rw->cut && (int64_t)rw->nb[tier] <= rw->cut_need)) &&
               --rw->left == 0;
    return tier == rw->tiers - 1 && (int64_t)rw->nb[tier] >= rw->want;
}

/* Bit planes of the per-item tier count: up to 15 top-level words. */
#define TIER_PLANES 4

/*
 * How many matches fall in each tier (tot[0..nwords]): the words' name
 * bitmaps added bit-sliced, 64 items at a time, then a popcount per tier.
 * 0 with more words than the planes count.  A query whose words are rarely
 * in names ("one shot" over 840,000 paths) otherwise walked every match
 * before it knew the best tier could not fill a page.
 */
POPCNT_CLONES static int tier_totals(const shelf__memindex *ix, const matches *mt, int64_t *tot)
{
    size_t w;
    int j, t, p;

    if (mt->nwords >= 1 << TIER_PLANES)
        return 0;
    memset(tot, 0, ((size_t)mt->nwords + 1) * sizeof *tot);
    for (w = 0; w < ix->words; w++) {
        uint64_t m = mt->m[w], c[TIER_PLANES] = { 0 };

        if (!m)
            continue;
        for (j = 0; j < mt->nwords; j++) {
            uint64_t x = mt->names[j][w] & m;

            for (p = 0; p < TIER_PLANES && x; p++) {
                uint64_t carry = c[p] & x;

                c[p] ^= x;
                x = carry;
            }
        }
        for (t = 0; t <= mt->nwords; t++) {
            uint64_t e = m;

            for (p = 0; p < TIER_PLANES; p++)
                e &= (t >> p & 1) ? c[p] : ~c[p];
            tot[t] += __builtin_popcountll(e);
        }
    }
    return 1;
}

/*
 * The page [offset, want) of the matches by relevance: samples with more
 * top-level words in their name first, each tier in static-rank order.
 * Walks the items in static-rank order and stops once the best tier holds
 * a page; then a counting sort by tier.  ids has room for the page.
 */
POPCNT_CLONES static int page_ranked(shelf_library *lib, const shelf__memindex *ix, const matches *mt,
                                     int64_t total, int64_t offset, int64_t want, int64_t *ids, size_t *got)
{
    size_t tiers = (size_t)mt->nwords + 1, cap, k, w, *nb, *at, dk = 0;
    tiered *seen = NULL, *sorted = NULL;
    rankwalk rw;
    int rc = SHELF_OK;
    int64_t t;

    /* each tier keeps at most want items: no more than tiers * want */
    cap = (size_t)total;
    if (want < INT64_MAX && (uint64_t)want < (uint64_t)total / tiers)
        cap = (size_t)want * tiers;
    nb = shelf__calloc(2 * tiers, sizeof *nb);
    seen = shelf__malloc((cap ? cap : 1) * sizeof *seen);
    sorted = shelf__malloc((cap ? cap : 1) * sizeof *sorted);
    if (!nb || !seen || !sorted) {
        rc = nomem(lib);
        goto done;
    }
    at = nb + tiers;
    rw.mt = mt;
    rw.want = want;
    rw.tiers = tiers;
    rw.k = 0;
    rw.nb = nb;
    rw.seen = seen;
    rw.left = -1;
    rw.cut = 0;
    rw.cut_need = 0;
    {
        int64_t tot[1 << TIER_PLANES], need = want, best = 0;
        int j;

        /* the best tier fills a page (most queries): the walk stops there,
         * found counting no further than the page */
        for (w = 0; w < ix->words && best < want; w++) {
            uint64_t e = mt->m[w];

            for (j = 0; j < mt->nwords && e; j++)
                e &= mt->names[j][w];
            best += __builtin_popcountll(e);
        }
        if (best < want && tier_totals(ix, mt, tot)) {
            rw.left = 0;
            for (t = (int64_t)tiers - 1; t >= 0; t--) {     /* best tier first */
                rw.cut = (size_t)t;
                rw.cut_need = tot[t] < need ? tot[t] : need;
                rw.left += rw.cut_need;
                if ((need -= rw.cut_need) == 0)
                    break;
            }
            if (rw.left == 0)       /* nothing to take (no match): the walk finds nothing */
                rw.left = -1;
        }
    }
    /* the build's items in order, each added item before the build item
     * it goes before (rpos) */
    for (w = 0; w < ix->words; w++) {
        uint64_t bits = mt->m[w];

        while (bits) {
            uint32_t it = (uint32_t)(w * 64 + (size_t)__builtin_ctzll(bits));

            if (it >= ix->n0)
                goto built_done;
            bits &= bits - 1;
            for (; dk < ix->nlive && ix->rpos[ix->dorder[dk] - ix->n0] <= it; dk++)
                if (GET(mt->m, ix->dorder[dk]) && rank_take(&rw, ix->dorder[dk]))
                    goto walked;
            if (rank_take(&rw, it))
                goto walked;
        }
    }
built_done:
    for (; dk < ix->nlive; dk++)
        if (GET(mt->m, ix->dorder[dk]) && rank_take(&rw, ix->dorder[dk]))
            goto walked;
walked:
    k = rw.k;
    for (t = (int64_t)tiers - 1, w = 0; t >= 0; t--) {  /* best tier first */
        at[t] = w;
        w += nb[t];
    }
    for (w = 0; w < k; w++)
        sorted[at[seen[w].tier]++] = seen[w];
    for (w = (size_t)(offset < 0 ? 0 : offset); w < k && (int64_t)w < want; w++)
        ids[(*got)++] = ix->ids[sorted[w].item];
done:
    shelf_free(nb);
    shelf_free(seen);
    shelf_free(sorted);
    return rc;
}

/* Keep the best kk of all[0..k) (by sc) in all[0..kk), unordered: a heap
 * with the worst of them on top.  Returns how many are kept. */
static size_t keep_best(keyed *all, size_t k, size_t kk, sortctx *sc)
{
    size_t h = 0, j;

    for (j = 0; j < k; j++) {
        keyed v = all[j];
        size_t at, c2;

        /* the heap lives in all[0..h), h <= j: writes never reach the
         * items not read yet */
        if (h < kk) {
            at = h++;
            while (at && cmp_keyed(&all[(at - 1) / 2], &v, sc) < 0) {
                all[at] = all[(at - 1) / 2];
                at = (at - 1) / 2;
            }
            all[at] = v;
            continue;
        }
        if (!kk || cmp_keyed(&v, &all[0], sc) >= 0)
            continue;
        for (at = 0;; at = c2) {
            c2 = 2 * at + 1;
            if (c2 >= h)
                break;
            if (c2 + 1 < h && cmp_keyed(&all[c2 + 1], &all[c2], sc) > 0)
                c2++;
            if (cmp_keyed(&all[c2], &v, sc) <= 0)
                break;
            all[at] = all[c2];
        }
        all[at] = v;
    }
    return h;
}

/* The page [offset, want) of the matches by a sort key: every match keyed,
 * the best want kept when that is a small part, then sorted. */
static int page_sorted(shelf_library *lib, const shelf__memindex *ix, const uint64_t *m,
                       int64_t total, int sort, int descending, int64_t offset, int64_t want,
                       int64_t *ids, size_t *got)
{
    keyed *all = shelf__malloc(((size_t)total + 1) * sizeof *all);
    sortctx sc = { ix, sort, descending };
    size_t w, k = 0, j;

    if (!all)
        return nomem(lib);
    for (w = 0; w < ix->words; w++) {
        uint64_t bits = m[w];

        while (bits) {
            uint32_t it = (uint32_t)(w * 64 + (size_t)__builtin_ctzll(bits));

            bits &= bits - 1;
            all[k].item = it;
            all[k].key = sort_key(ix, sort, it);
            k++;
        }
    }
    /* a page of a long list: keep the best `want`, then sort just those */
    if (want < INT64_MAX && (size_t)want * 4 < k)
        k = keep_best(all, k, (size_t)want, &sc);
    qsort_r(all, k, sizeof *all, cmp_keyed, &sc);
    for (j = (size_t)(offset < 0 ? 0 : offset); j < k && (int64_t)j < want; j++)
        ids[(*got)++] = ix->ids[all[j].item];
    shelf_free(all);
    return SHELF_OK;
}

int shelf__memindex_search(shelf_library *lib, shelf__memindex *ix, const qnode *q, int sort,
                           int descending, int64_t offset, int64_t limit, int64_t now,
                           int64_t **ids, size_t *n, int64_t *total)
{
    evalctx e = { lib, ix, now, 0, SHELF_OK };
    matches mt = { NULL, NULL, 0 };
    int64_t want = limit < 0 ? INT64_MAX : offset + limit;
    size_t got = 0, cap;
    int rc;

    *ids = NULL;
    *n = 0;
    if ((rc = match_top(&e, q, &mt)) != SHELF_OK)
        goto done;
    *total = popcount(mt.m, ix->words);
    cap = (size_t)(*total < want ? *total : want);
    if (!(*ids = shelf__malloc((cap ? cap : 1) * sizeof **ids))) {
        rc = nomem(lib);
        goto done;
    }
    /* no words at all under the default sort: by name */
    if (sort == SHELF_SORT_DEFAULT && !mt.nwords && !has_words(q))
        sort = SHELF_SORT_NAME;
    if (sort == SHELF_SORT_DEFAULT || sort == SHELF_SORT_RELEVANCE) {
        rc = page_ranked(lib, ix, &mt, *total, offset, want, *ids, &got);
    } else if (sort == SHELF_SORT_NAME && *total * 16 > (int64_t)ix->n && want < INT64_MAX) {
        /* many matches: walk the names in order and take the matching
         * ones, each added item before the build position it goes before */
        int64_t seen = 0;
        uint32_t j, dn = 0;


        for (j = 0; j <= ix->n0 && seen < want; j++) {
            uint32_t pos = descending ? ix->n0 - 1 - j : j, it;

            for (; dn < ix->nlive && seen < want; dn++) {
                it = ix->dname[descending ? ix->nlive - 1 - dn : dn];
                if (j < ix->n0 && (descending ? ix->nkey[it - ix->n0] < pos
                                              : ix->nkey[it - ix->n0] > pos))
                    break;
                if (GET(mt.m, it) && seen++ >= offset)
                    (*ids)[got++] = ix->ids[it];
            }
            if (j == ix->n0 || seen >= want)
                break;
            it = ix->by_name[pos];
            if (GET(mt.m, it) && seen++ >= offset)
                (*ids)[got++] = ix->ids[it];
        }
    } else {
        rc = page_sorted(lib, ix, mt.m, *total, sort, descending, offset, want, *ids, &got);
    }
done:
    matches_free(&mt);
    if (rc != SHELF_OK) {
        shelf_free(*ids);
        *ids = NULL;
        return rc;
    }
    *n = got;
    return SHELF_OK;
}

/* ----- facets ------------------------------------------------------------------- */

typedef struct facetv {
    char value[256];
    char filter[280];
    double order;               /* natural order of numeric facets */
    int64_t count;
} facetv;

typedef struct facetset {
    shelf_library *lib;
    facetv *v;
    size_t n, cap;
    int rc;
} facetset;

static facetv *facet_add(facetset *fs, int64_t count, double order)
{
    facetv *v;

    if (fs->rc != SHELF_OK || count <= 0)
        return NULL;
    if (fs->n == fs->cap) {
        size_t nc = fs->cap ? fs->cap * 2 : 64;
        facetv *nv = shelf__realloc(fs->v, nc * sizeof *nv);

        if (!nv) {
            fs->rc = nomem(fs->lib);
            return NULL;
        }
        fs->v = nv;
        fs->cap = nc;
    }
    v = &fs->v[fs->n++];
    v->count = count;
    v->order = order;
    return v;
}

static int cmp_by_count(const void *a, const void *b)
{
    const facetv *x = a, *y = b;

    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return strcmp(x->value, y->value);
}

static int cmp_by_order(const void *a, const void *b)
{
    const facetv *x = a, *y = b;

    return x->order < y->order ? -1 : x->order > y->order;
}

/* Hand the values gathered for one facet to cb, best max first; empty the set. */
static void facet_emit(facetset *fs, const char *facet, int by_count, int max,
                       shelf_facet_cb cb, void *ud)
{
    size_t i;

    if (fs->rc == SHELF_OK && fs->n) {
        qsort(fs->v, fs->n, sizeof *fs->v, by_count ? cmp_by_count : cmp_by_order);
        for (i = 0; i < fs->n && (max < 0 || i < (size_t)max); i++) {
            shelf_facet f = { facet, fs->v[i].value, fs->v[i].filter, fs->v[i].count };

            cb(ud, &f);
        }
    }
    fs->n = 0;
}

/* field:value as the query language writes it, quoted when the value has a
 * space or parenthesis (or ends in '*', a prefix); 0 when it cannot be
 * written (a '"' in it: quoted values have no escapes). */
static int filter_text(char *out, size_t size, const char *field, const char *value)
{
    size_t n = strlen(value);
    int quote = n == 0 || value[n - 1] == '*' || strpbrk(value, " \t\n\r()") != NULL;

    if (strchr(value, '"'))
        return 0;
    return snprintf(out, size, quote ? "%s:\"%s\"" : "%s:%s", field, value) < (int)size;
}

/* Room for n distinct rates and their counts; 0 when out of memory. */
static int grow_rates(int64_t **counts, int32_t **rates, size_t n)
{
    int64_t *c = shelf__realloc(*counts, n * sizeof *c);
    int32_t *r;

    if (!c)
        return 0;
    *counts = c;
    if (!(r = shelf__realloc(*rates, n * sizeof *r)))
        return 0;
    *rates = r;
    return 1;
}

/* The bucket [edge[b], edge[b + 1]) of five that holds v, -1 none (NAN). */
static int bucket_of(double v, const double edge[6])
{
    int b;

    if (!(v >= edge[0]))
        return -1;
    for (b = 0; b < 4 && v >= edge[b + 1]; b++)
        ;
    return b;
}

/* What cat:name finds, from the matches' counts per category (index + 1). */
static int64_t cat_count(const shelf__memindex *ix, const int64_t *catn, const char *name)
{
    char text[256];
    int64_t n = 0;
    size_t c, j;

    for (j = 0; name[j] && j + 1 < sizeof text; j++)
        text[j] = (char)tolower((unsigned char)name[j]);     /* as the parser folds it */
    text[j] = '\0';
    for (c = 0; c < ix->ncats; c++)
        if (catn[c + 1] && cat_hit(ix, ix->cats[c], text, 0))
            n += catn[c + 1];
    return n;
}

/* What format:name finds, from the matches' counts per format. */
static int64_t format_count(const shelf__memindex *ix, const int64_t *fmtn, const char *name)
{
    int64_t n = 0;
    size_t f;

    for (f = 0; f < ix->nfmts; f++)
        if (fmtn[f] && format_hit(ix->fmts[f], name))
            n += fmtn[f];
    return n;
}

/* Values from..to-1 of a small numeric field: "2" selected by "ch:2". */
static void number_values(facetset *fs, const int64_t *count, int from, int to, const char *field)
{
    facetv *v;
    int c;

    for (c = from; c < to; c++)
        if ((v = facet_add(fs, count[c], c)) != NULL) {
            snprintf(v->value, sizeof v->value, "%d", c);
            snprintf(v->filter, sizeof v->filter, "%s:%d", field, c);
        }
}

/* The five buckets [edge[b], edge[b + 1]) of a numeric field: "0.5-2 s"
 * selected by "len:>=0.5s len:<2s"; the first and last open. */
static void bucket_values(facetset *fs, const int64_t count[5], const double edge[6],
                          const char *field, const char *unit, const char *shown_unit)
{
    facetv *v;
    int b;

    for (b = 0; b < 5; b++) {
        if (!(v = facet_add(fs, count[b], b)))
            continue;
        if (b == 0) {
            snprintf(v->value, sizeof v->value, "< %g%s", edge[1], shown_unit);
            snprintf(v->filter, sizeof v->filter, "%s:<%g%s", field, edge[1], unit);
        } else if (b == 4) {
            snprintf(v->value, sizeof v->value, ">= %g%s", edge[b], shown_unit);
            snprintf(v->filter, sizeof v->filter, "%s:>=%g%s", field, edge[b], unit);
        } else {
            snprintf(v->value, sizeof v->value, "%g-%g%s", edge[b], edge[b + 1], shown_unit);
            snprintf(v->filter, sizeof v->filter, "%s:>=%g%s %s:<%g%s", field, edge[b], unit, field,
                     edge[b + 1], unit);
        }
    }
}

int shelf__memindex_facets(shelf_library *lib, shelf__memindex *ix, const qnode *q,
                           const int64_t *ids, size_t nids, int64_t now, int max,
                           shelf_facet_cb cb, void *ud)
{
    /* Buckets of length (s) and tempo (bpm): [edge[i], edge[i + 1]). */
    static const double len_edge[] = { 0, 0.5, 2, 10, 60, INFINITY };
    static const double bpm_edge[] = { 0, 90, 110, 130, 160, INFINITY };
    static const char *const flag_facet[3] = { "favourite", "missing", "loop" };
    static const char *const flag_field[3] = { "fav", "missing", "loop" };
    evalctx e = { lib, ix, now, 0, SHELF_OK };
    facetset fs = { lib, NULL, 0, 0, SHELF_OK };
    uint64_t *m;
    int64_t channels[256] = { 0 }, bits[256] = { 0 }, key[128] = { 0 }, rating[6] = { 0 };
    int64_t lens[5] = { 0 }, bpms[5] = { 0 }, flags[3][2] = { { 0 } }, *tagn = NULL;
    int64_t *fmtn = NULL, *catn = NULL, *rates = NULL;
    int32_t *rate_v = NULL;
    size_t nrates = 0, k, t, w;
    uint32_t i;
    int rc;

    if (max == 0)
        max = 20;
    if (q) {
        m = eval(&e, q);
    } else if ((m = bm_new(&e)) != NULL) {
        if (!ids)
            memcpy(m, ix->all, ix->words * 8);
        for (k = 0; ids && k < nids; k++)
            if ((i = item_of(ix, ids[k])) != 0)
                SET(m, i - 1);
    }
    if (!m)
        return e.rc != SHELF_OK ? e.rc : nomem(lib);
    for (w = 0; w < ix->words; w++)     /* samples changed or gone since the build */
        m[w] &= ix->all[w];
    tagn = shelf__calloc(ix->ntags + ix->ndtags + 1, sizeof *tagn);
    fmtn = shelf__calloc(ix->nfmts + 1, sizeof *fmtn);
    catn = shelf__calloc(ix->ncats + 1, sizeof *catn);
    if (!tagn || !fmtn || !catn) {
        rc = nomem(lib);
        goto done;
    }

    for (t = 0; t < ix->ntags; t++)
        for (k = ix->tag_off[t]; k < ix->tag_off[t + 1]; k++)
            tagn[t] += (int64_t)GET(m, ix->tag_items[k]);
    for (t = 0; t < ix->ndtags; t++) {  /* added tags: to the build's of that name */
        const dtag *d = &ix->dtags[t];

        for (k = 0; k < d->n; k++)
            tagn[d->base >= 0 ? (size_t)d->base : ix->ntags + t] += (int64_t)GET(m, d->items[k]);
    }

    /* One walk over the matches (set bits only) for every typed field. */
    for (w = 0; w < ix->words; w++) {
        uint64_t word;

        for (word = m[w]; word; word &= word - 1) {
            int b;

            i = (uint32_t)(w * 64 + (size_t)__builtin_ctzll(word));
            for (k = 0; k < nrates && rate_v[k] != ix->rate[i]; k++)
                ;
            if (k == nrates && nrates % 16 == 0 &&
                !grow_rates(&rates, &rate_v, nrates + 16)) {
                rc = nomem(lib);
                goto done;
            }
            if (k == nrates) {
                rate_v[nrates] = ix->rate[i];
                rates[nrates++] = 0;
            }
            rates[k]++;
            fmtn[ix->fmt[i]]++;
            catn[ix->cat[i]]++;
            channels[ix->channels[i]]++;
            bits[ix->bits[i]]++;
            if (ix->key[i] >= 0)
                key[ix->key[i]]++;
            if (ix->rating[i] <= 5)
                rating[ix->rating[i]]++;
            if ((b = bucket_of(ix->duration[i], len_edge)) >= 0)
                lens[b]++;
            if ((b = bucket_of(ix->tempo[i], bpm_edge)) >= 0)
                bpms[b]++;
            for (b = 0; b < 3; b++)
                flags[b][!!(ix->flags[i] & (1 << b))]++;
        }
    }

    {
        facetv *v;
        size_t c;

        /* category and format: as their filters select them (synonyms, prefixes) */
        for (c = 0; c < ix->ncats; c++)
            if ((v = facet_add(&fs, cat_count(ix, catn, ix->cats[c]), 0)) != NULL) {
                snprintf(v->value, sizeof v->value, "%s", ix->cats[c]);
                if (!filter_text(v->filter, sizeof v->filter, "cat", ix->cats[c]))
                    fs.n--;
            }
        facet_emit(&fs, "category", 1, max, cb, ud);
        for (c = 0; c < ix->nfmts; c++) {
            char name[64];
            size_t j, len = strcspn(ix->fmts[c], "\t");

            snprintf(name, sizeof name, "%.*s", (int)len, ix->fmts[c]);
            for (j = 0; j < fs.n && strcmp(fs.v[j].value, name) != 0; j++)
                ;
            if (j < fs.n || !name[0])
                continue;               /* one container, many encodings */
            if ((v = facet_add(&fs, format_count(ix, fmtn, name), 0)) != NULL) {
                snprintf(v->value, sizeof v->value, "%s", name);
                if (!filter_text(v->filter, sizeof v->filter, "format", name))
                    fs.n--;
            }
        }
        facet_emit(&fs, "format", 1, max, cb, ud);
        for (k = 0; k < nrates; k++)
            if ((v = facet_add(&fs, rates[k], rate_v[k])) != NULL) {
                snprintf(v->value, sizeof v->value, "%d", (int)rate_v[k]);
                snprintf(v->filter, sizeof v->filter, "rate:%d", (int)rate_v[k]);
            }
        facet_emit(&fs, "rate", 0, max, cb, ud);
        number_values(&fs, channels, 0, 256, "ch");
        facet_emit(&fs, "channels", 0, max, cb, ud);
        number_values(&fs, bits, 1, 256, "bits");     /* 0: lossy, which bits: never matches */
        facet_emit(&fs, "bits", 0, max, cb, ud);
        for (c = 0; c < 128; c++)
            if ((v = facet_add(&fs, key[c], (double)c)) != NULL) {
                shelf_note_name((int)c, v->value);
                snprintf(v->filter, sizeof v->filter, "key:%zu", c);
            }
        facet_emit(&fs, "key", 0, max, cb, ud);
        bucket_values(&fs, lens, len_edge, "len", "s", " s");
        facet_emit(&fs, "length", 0, max, cb, ud);
        bucket_values(&fs, bpms, bpm_edge, "bpm", "", "");
        facet_emit(&fs, "bpm", 0, max, cb, ud);
        number_values(&fs, rating, 0, 6, "rating");
        facet_emit(&fs, "rating", 0, max, cb, ud);
        for (c = 0; c < 3; c++) {
            int yes;

            for (yes = 1; yes >= 0; yes--)
                if ((v = facet_add(&fs, flags[c][yes], 1 - yes)) != NULL) {
                    snprintf(v->value, sizeof v->value, "%s", yes ? "yes" : "no");
                    snprintf(v->filter, sizeof v->filter, "%s:%s", flag_field[c], v->value);
                }
            facet_emit(&fs, flag_facet[c], 0, max, cb, ud);
        }
        for (t = 0; t < ix->ntags + ix->ndtags; t++) {
            const char *tag = t < ix->ntags ? ix->tags[t] : ix->dtags[t - ix->ntags].name;

            if ((v = facet_add(&fs, tagn[t], 0)) != NULL) {
                snprintf(v->value, sizeof v->value, "%s", tag);
                if (!filter_text(v->filter, sizeof v->filter, "tag", tag))
                    fs.n--;
            }
        }
        facet_emit(&fs, "tag", 1, max, cb, ud);
    }
    rc = e.rc != SHELF_OK ? e.rc : fs.rc;
done:
    shelf_free(m);
    shelf_free(rates);
    shelf_free(rate_v);
    shelf_free(tagn);
    shelf_free(fmtn);
    shelf_free(catn);
    shelf_free(fs.v);
    return rc;
}
