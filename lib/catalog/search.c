/*
 * search.c: runs the query language on the catalog.  A parsed query
 * (query.c) becomes one SQL statement: the positive words at the top level
 * become one FTS5 MATCH that also ranks (BM25 weighted by column, blended
 * with rating and recent use); everything else becomes conditions on the
 * typed columns, with other text as FTS5 sub-selects.  Also collections
 * (manual lists and saved queries) and synonyms.
 */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "memindex_int.h"

#define MAX_BINDS 2000
#define MAX_COLLECTION_DEPTH 4
#define DEFAULT_PAGE 50
#define DEFAULT_COUNT_LIMIT 10000

typedef struct bindv {
    int is_text;
    char *text;
    double num;
} bindv;

typedef struct compiler {
    shelf_library *lib;
    int64_t now;
    int pos;            /* column of the node being compiled, for errors */
    bindv binds[MAX_BINDS];
    int nbinds;
    int depth;          /* collections inside collections */
    int rc;
    struct foldtag { int64_t id; char *name; } *tags;   /* every tag, folded (tag:) */
    size_t ntags;
    int tags_loaded;
} compiler;

static int cfail(compiler *c, int rc)
{
    if (c->rc == SHELF_OK)
        c->rc = rc;
    return c->rc;
}

static void nomem(compiler *c)
{
    cfail(c, shelf__seterr(&c->lib->err, SHELF_ENOMEM, "out of memory"));
}

/* A query error at the node being compiled. */
static void qfail(compiler *c, int pos, const char *what, const char *name)
{
    c->lib->query_errpos = pos;
    cfail(c, shelf__seterr(&c->lib->err, SHELF_EINVAL, "invalid query at column %d: %s%s%s%s",
                           pos, what, name ? " '" : "", name ? name : "", name ? "'" : ""));
}

__attribute__((format(printf, 3, 4)))
static void addf(compiler *c, shelf__buf *out, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp || shelf__buf_adds(out, tmp) != SHELF_OK)
        nomem(c);
}

/* Add a bind value; write "?N" into out. */
static void bind_text(compiler *c, shelf__buf *out, const char *text)
{
    if (c->nbinds == MAX_BINDS) {
        qfail(c, c->pos, "query too long", NULL);
        return;
    }
    if (!text || !(c->binds[c->nbinds].text = shelf__strdup(text))) {
        nomem(c);
        return;
    }
    c->binds[c->nbinds].is_text = 1;
    c->nbinds++;
    addf(c, out, "?%d", c->nbinds);
}

static void bind_num(compiler *c, shelf__buf *out, double v)
{
    if (c->nbinds == MAX_BINDS) {
        qfail(c, c->pos, "query too long", NULL);
        return;
    }
    c->binds[c->nbinds].is_text = 0;
    c->binds[c->nbinds].text = NULL;
    c->binds[c->nbinds].num = v;
    c->nbinds++;
    addf(c, out, "?%d", c->nbinds);
}

static void add(compiler *c, shelf__buf *out, const char *s)
{
    if (!s || shelf__buf_adds(out, s) != SHELF_OK)
        nomem(c);
}

static void release_binds(compiler *c)
{
    size_t t;
    int i;

    for (i = 0; i < c->nbinds; i++)
        shelf_free(c->binds[i].text);
    c->nbinds = 0;
    for (t = 0; t < c->ntags; t++)
        shelf_free(c->tags[t].name);
    shelf_free(c->tags);
    c->tags = NULL;
    c->ntags = 0;
    c->tags_loaded = 0;
}

/* Every tag name folded as words are (once per query), so that tag:
 * compares case in every script as the word search does; the tags table
 * itself compares only ASCII without case. */
static int load_tags(compiler *c)
{
    shelf__tokenizer *tk;
    sqlite3_stmt *st;
    size_t cap = 0;
    int r, rc;

    if (c->tags_loaded)
        return SHELF_OK;
    c->tags_loaded = 1;
    if ((rc = shelf__tokenizer_get(c->lib, &tk)) != SHELF_OK)
        return cfail(c, rc);
    if (!(st = shelf__prepare(c->lib, "SELECT id, name FROM tags")))
        return cfail(c, c->lib->err.rc);
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 1);

        if (c->ntags == cap) {
            struct foldtag *t = shelf__realloc(c->tags, (cap = cap ? 2 * cap : 64) * sizeof *t);

            if (!t)
                break;
            c->tags = t;
        }
        if (shelf__token_fold(tk, name, strlen(name), &c->tags[c->ntags].name) != SHELF_OK)
            break;
        c->tags[c->ntags++].id = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    if (r == SQLITE_ROW) {
        nomem(c);
        return c->rc;
    }
    if (r != SQLITE_DONE)
        return cfail(c, shelf__dberr(c->lib, "cannot read the tags"));
    return SHELF_OK;
}

/* Bind the values; texts are copied (transient) when st outlives them, as
 * a cursor's statement does. */
static int apply_binds(compiler *c, sqlite3_stmt *st, int copy)
{
    int i, r;

    for (i = 0; i < c->nbinds; i++) {
        if (c->binds[i].is_text)
            r = sqlite3_bind_text(st, i + 1, c->binds[i].text, -1,
                                  copy ? SQLITE_TRANSIENT : SQLITE_STATIC);
        else
            r = sqlite3_bind_double(st, i + 1, c->binds[i].num);
        if (r != SQLITE_OK)
            return shelf__dberr(c->lib, "search");
    }
    return SHELF_OK;
}

/* ----- text: FTS5 expressions --------------------------------------------- */

/* Text nodes whose matches FTS5 can compute on its own. */
static int is_text(const qnode *n)
{
    int i;

    switch (n->kind) {
    case Q_WORD: case Q_PHRASE:
        return 1;
    case Q_FIELD:
        return n->field == F_NAME || n->field == F_PATH;
    case Q_AND: case Q_OR:
        for (i = 0; i < n->nkids; i++)
            if (!is_text(n->kids[i]))
                return 0;
        return 1;
    }
    return 0;
}

/* Append the tokens of s as an FTS5 phrase ("a b c"), with a trailing '*'
 * when prefix (shelf__fts_phrase).  Returns the number of tokens. */
static int fts_phrase(compiler *c, shelf__buf *out, const char *col, const char *s, int prefix)
{
    int n = shelf__fts_phrase(out, col, s, prefix);

    if (n < 0) {
        nomem(c);
        return 0;
    }
    return n;
}

/* A free word: its prefix, or any word of its synonym group.  Synonyms
 * apply to a word of one token ("kick", "kick!"), as in memindex.c. */
static int fts_word(compiler *c, shelf__buf *out, const char *w)
{
    char tok[SHELF__TOKEN_MAX + 1];
    shelf__tokenizer *tk;
    sqlite3_stmt *st;
    int n, r;

    if (shelf__tokenizer_get(c->lib, &tk) != SHELF_OK)
        return cfail(c, c->lib->err.rc), 0;
    if ((n = shelf__token_single(tk, w, tok)) < 0)
        return cfail(c, shelf__seterr(&c->lib->err, n, "%s", n == SHELF_ENOMEM ? "out of memory" : "cannot split the query into words")), 0;
    if (n == 0)
        return 0;                   /* no word for the index ("&", a lone accent) */
    if (n != 1)
        return fts_phrase(c, out, NULL, w, 1);
    st = shelf__prepare(c->lib, "SELECT b.word FROM synonyms a JOIN synonyms b ON b.grp = a.grp "
                                "WHERE a.word = ?1 AND b.word != ?1 ORDER BY b.word");
    if (!st)
        return cfail(c, c->lib->err.rc), 0;
    /* A failed step (out of memory) is an error, not "no synonyms". */
    if (sqlite3_bind_text(st, 1, tok, -1, SQLITE_STATIC) != SQLITE_OK) {
        cfail(c, shelf__dberr(c->lib, "cannot read the synonyms"));
        sqlite3_finalize(st);
        return 0;
    }
    r = sqlite3_step(st);
    if (r != SQLITE_ROW) {
        if (r != SQLITE_DONE)
            cfail(c, shelf__dberr(c->lib, "cannot read the synonyms"));
        sqlite3_finalize(st);
        return r == SQLITE_DONE ? fts_phrase(c, out, NULL, tok, 1) : 0;
    }
    add(c, out, "(");
    n = fts_phrase(c, out, NULL, tok, 1);
    for (; r == SQLITE_ROW; r = sqlite3_step(st)) {
        const char *syn = (const char *)sqlite3_column_text(st, 0);

        if (!syn) {
            nomem(c);
            break;
        }
        add(c, out, " OR ");
        fts_phrase(c, out, NULL, syn, 1);
    }
    if (r != SQLITE_ROW && r != SQLITE_DONE)
        cfail(c, shelf__dberr(c->lib, "cannot read the synonyms"));
    add(c, out, ")");
    sqlite3_finalize(st);
    return n;
}

/*
 * Append the FTS5 expression of a text node.  Returns 0 when the node has
 * no words at all ("&"): it then matches everything, which the caller
 * handles.
 */
static int fts_expr(compiler *c, shelf__buf *out, const qnode *n)
{
    shelf__buf part = SHELF__BUF_INIT;
    int i, any = 0, all = 1;

    switch (n->kind) {
    case Q_WORD:
        return fts_word(c, out, n->text);
    case Q_PHRASE: {
        char tok[SHELF__TOKEN_MAX + 1];
        shelf__tokenizer *tk;

        if (shelf__tokenizer_get(c->lib, &tk) != SHELF_OK)
            return cfail(c, c->lib->err.rc), 0;
        if ((i = shelf__token_single(tk, n->text, tok)) < 0)
            return cfail(c, shelf__seterr(&c->lib->err, i, "%s", i == SHELF_ENOMEM ? "out of memory" : "cannot split the query into words")), 0;
        if (i == 0)
            return 0;
        return fts_phrase(c, out, NULL, n->text, 0);
    }
    case Q_FIELD:
        return fts_phrase(c, out, n->field == F_NAME ? "name" : "words", n->text, 1);
    }
    /* AND drops word-less parts; OR with a word-less part matches all. */
    for (i = 0; i < n->nkids; i++) {
        size_t mark = part.len;

        if (any)
            add(c, &part, n->kind == Q_AND ? " AND " : " OR ");
        if (fts_expr(c, &part, n->kids[i])) {
            any = 1;
        } else {
            part.len = mark;
            if (part.buf)
                part.buf[mark] = '\0';
            all = 0;
        }
    }
    if (n->kind == Q_OR && !all) {
        shelf__buf_release(&part);
        return 0;
    }
    if (any) {
        add(c, out, "(");
        add(c, out, part.buf);
        add(c, out, ")");
    }
    shelf__buf_release(&part);
    return any;
}

/* ----- conditions ------------------------------------------------------------ */

static void compile(compiler *c, shelf__buf *out, const qnode *n);

static void like_value(compiler *c, shelf__buf *out, const char *v, int before, int after)
{
    shelf__buf b = SHELF__BUF_INIT;
    int rc = SHELF_OK;

    if (before)
        rc |= shelf__buf_adds(&b, "%");
    for (; *v; v++) {
        if (*v == '%' || *v == '_' || *v == '\\')
            rc |= shelf__buf_add(&b, "\\", 1);
        rc |= shelf__buf_add(&b, v, 1);
    }
    if (after)
        rc |= shelf__buf_adds(&b, "%");
    rc |= shelf__buf_adds(&b, "");
    if (rc != SHELF_OK)
        nomem(c);
    else
        bind_text(c, out, b.buf);
    shelf__buf_release(&b);
}

/* A missing value (no tempo, no root key) never matches a range. */
static void range_sql(compiler *c, shelf__buf *out, const char *col, const qrange *r)
{
    add(c, out, "(");
    add(c, out, col);
    add(c, out, " IS NOT NULL");
    if (r->has_lo) {
        addf(c, out, " AND %s %s ", col, r->lo_strict ? ">" : ">=");
        bind_num(c, out, r->lo);
    }
    if (r->has_hi) {
        addf(c, out, " AND %s %s ", col, r->hi_strict ? "<" : "<=");
        bind_num(c, out, r->hi);
    }
    add(c, out, ")");
}

static void collection_sql(compiler *c, shelf__buf *out, const qnode *n)
{
    sqlite3_stmt *st = shelf__prepare(c->lib, "SELECT id, query FROM collections WHERE name = ?1");
    qnode *sub = NULL;
    int64_t id;
    int errpos, r;

    if (!st) {
        cfail(c, c->lib->err.rc);
        return;
    }
    (void)sqlite3_bind_text(st, 1, n->text, -1, SQLITE_STATIC);     /* static: no allocation */
    if ((r = sqlite3_step(st)) != SQLITE_ROW) {
        if (r == SQLITE_DONE)
            qfail(c, n->pos, "no collection", n->text);
        else
            cfail(c, shelf__dberr(c->lib, "cannot read the collections"));
        sqlite3_finalize(st);
        return;
    }
    id = sqlite3_column_int64(st, 0);
    if (sqlite3_column_type(st, 1) == SQLITE_NULL) {
        addf(c, out, "s.id IN (SELECT sample_id FROM collection_items WHERE collection_id = %lld)",
             (long long)id);
        sqlite3_finalize(st);
        return;
    }
    if (c->depth >= MAX_COLLECTION_DEPTH) {
        sqlite3_finalize(st);
        qfail(c, n->pos, "collections inside collections too deeply (a cycle?) at", n->text);
        return;
    }
    if (shelf__query_parse(c->lib, (const char *)sqlite3_column_text(st, 1), c->now, &sub,
                           &errpos) != SHELF_OK) {
        sqlite3_finalize(st);
        cfail(c, c->lib->err.rc);
        return;
    }
    sqlite3_finalize(st);
    c->depth++;
    if (sub)
        compile(c, out, sub);
    else
        add(c, out, "0");
    c->depth--;
    shelf__query_free(sub);
}

static void field_sql(compiler *c, shelf__buf *out, const qnode *n)
{
    static const char *const numcol[] = {
        [F_RATE] = "s.rate", [F_CH] = "s.channels", [F_BITS] = "s.bits",
        [F_KEY] = "s.root_key", [F_BPM] = "s.tempo", [F_LEN] = "s.duration",
        [F_RATING] = "coalesce(rt.rating, 0)", [F_ADDED] = "s.created", [F_USED] = "s.last_used",
    };

    switch (n->field) {
    case F_TAG: {
        size_t t, len = strlen(n->text);
        int any = 0;

        /* n->text is folded (query.c); the matching tags' ids go inline */
        if (load_tags(c) != SHELF_OK)
            return;
        add(c, out, "s.id IN (SELECT ti.item_id FROM tag_items ti WHERE ti.kind = " SHELF__KIND_SAMPLE_SQL
                    " AND ti.tag_id IN (");
        for (t = 0; t < c->ntags; t++)
            if (n->prefix ? !strncmp(c->tags[t].name, n->text, len) : !strcmp(c->tags[t].name, n->text)) {
                addf(c, out, "%s%lld", any ? ", " : "", (long long)c->tags[t].id);
                any = 1;
            }
        add(c, out, "))");
        return;
    }
    case F_CAT:
        if (n->prefix) {
            add(c, out, "s.category LIKE ");
            like_value(c, out, n->text, 0, 1);
            add(c, out, " ESCAPE '\\'");
            return;
        }
        /* a category's synonyms name it too (cat:hh is cat:hihat) */
        add(c, out, "(s.category = ");
        bind_text(c, out, n->text);
        add(c, out, " COLLATE NOCASE OR s.category IN (SELECT b.word FROM synonyms a JOIN "
                    "synonyms b ON b.grp = a.grp WHERE a.word = ");
        bind_text(c, out, n->text);
        add(c, out, "))");
        return;
    case F_AUTHOR:
        add(c, out, "s.author LIKE ");
        like_value(c, out, n->text, 1, 1);
        add(c, out, " ESCAPE '\\'");
        return;
    case F_TYPE:
        add(c, out, n->text[0] == 's' ? "1" : "0");   /* only samples so far */
        return;
    case F_FORMAT: {
        const char *v = !strcmp(n->text, "aif") ? "aiff" : !strcmp(n->text, "wave") ? "wav"
                      : n->text;

        add(c, out, "(s.format LIKE ");
        like_value(c, out, v, 0, 1);
        add(c, out, " ESCAPE '\\' OR s.subtype LIKE ");
        like_value(c, out, v, 0, 1);
        add(c, out, " ESCAPE '\\')");
        return;
    }
    case F_FAV:
        add(c, out, n->yes ? "fv.item_id IS NOT NULL" : "fv.item_id IS NULL");
        return;
    case F_MISSING:
        add(c, out, n->yes ? "s.missing = 1" : "s.missing != 1");
        return;
    case F_ARCHIVED:
        add(c, out, n->yes ? "s.missing = 2" : "s.missing != 2");
        return;
    case F_LOOP:
        add(c, out, n->yes ? "s.loop_start IS NOT NULL" : "s.loop_start IS NULL");
        return;
    case F_IN:
        collection_sql(c, out, n);
        return;
    case F_NAME: case F_PATH: {
        shelf__buf e = SHELF__BUF_INIT;

        if (fts_expr(c, &e, n)) {
            add(c, out, "s.id IN (SELECT rowid FROM samples_fts WHERE samples_fts MATCH ");
            bind_text(c, out, e.buf);
            add(c, out, ")");
        } else {
            add(c, out, "1");
        }
        shelf__buf_release(&e);
        return;
    }
    }
    range_sql(c, out, numcol[n->field], &n->r);
}

static void compile(compiler *c, shelf__buf *out, const qnode *n)
{
    int i;

    if (c->rc != SHELF_OK)
        return;
    c->pos = n->pos;
    if (is_text(n)) {
        shelf__buf e = SHELF__BUF_INIT;

        if (fts_expr(c, &e, n)) {
            add(c, out, "s.id IN (SELECT rowid FROM samples_fts WHERE samples_fts MATCH ");
            bind_text(c, out, e.buf);
            add(c, out, ")");
        } else {
            add(c, out, "1");
        }
        shelf__buf_release(&e);
        return;
    }
    switch (n->kind) {
    case Q_AND: case Q_OR:
        add(c, out, "(");
        for (i = 0; i < n->nkids; i++) {
            if (i)
                add(c, out, n->kind == Q_AND ? " AND " : " OR ");
            compile(c, out, n->kids[i]);
        }
        add(c, out, ")");
        return;
    case Q_NOT:
        add(c, out, "NOT ");
        add(c, out, "(");
        compile(c, out, n->kids[0]);
        add(c, out, ")");
        return;
    case Q_FIELD:
        /* a sample with no value (no author, no category) is false, not
         * unknown, so that its negation is true */
        add(c, out, "coalesce(");
        field_sql(c, out, n);
        add(c, out, ", 0)");
        return;
    }
}

/*
 * Build the statement for a query: the positive text of the top-level AND
 * goes into one ranking MATCH, the rest into WHERE.  *ranked says whether
 * there is a MATCH to rank by.
 */
static void build(compiler *c, const qnode *q, shelf__buf *from_where, int *ranked)
{
    shelf__buf match = SHELF__BUF_INIT, where = SHELF__BUF_INIT;
    const qnode *const *kids = &q;
    int nkids = 1, i, nmatch = 0;

    *ranked = 0;
    if (q->kind == Q_AND) {
        kids = (const qnode *const *)q->kids;
        nkids = q->nkids;
    }
    for (i = 0; i < nkids; i++) {
        const qnode *k = kids[i];

        if (is_text(k)) {
            size_t mark = match.len;

            if (nmatch)
                add(c, &match, " AND ");
            if (fts_expr(c, &match, k)) {
                nmatch++;
            } else {
                match.len = mark;
                if (match.buf)
                    match.buf[mark] = '\0';
            }
            continue;
        }
        add(c, &where, " AND ");
        compile(c, &where, k);
    }
    if (nmatch) {
        add(c, from_where, " FROM samples_fts f JOIN samples s ON s.id = f.rowid" SAMPLE_JOINS
                           " WHERE samples_fts MATCH ");
        bind_text(c, from_where, match.buf);
        *ranked = 1;
    } else {
        add(c, from_where, " FROM samples s" SAMPLE_JOINS " WHERE 1");
    }
    if (where.buf)
        add(c, from_where, where.buf);
    shelf__buf_release(&match);
    shelf__buf_release(&where);
}

/* 1 when every leaf of q is text in which the index sees no word ("&",
 * "- /", a lone combining accent). */
static int wordless(shelf__tokenizer *tk, const qnode *q)
{
    char tok[SHELF__TOKEN_MAX + 1];
    int i;

    switch (q->kind) {
    case Q_WORD: case Q_PHRASE:
        return shelf__token_single(tk, q->text, tok) == 0;
    case Q_FIELD:
        return 0;
    }
    for (i = 0; i < q->nkids; i++)
        if (!wordless(tk, q->kids[i]))
            return 0;
    return 1;
}

/* Parse; a query with nothing to look for becomes NULL (matches nothing). */
static int parse(shelf_library *lib, const char *query, int64_t now, qnode **q)
{
    int errpos = 0, rc = shelf__query_parse(lib, query, now, q, &errpos);

    lib->query_errpos = errpos;
    if (rc == SHELF_OK && *q) {
        shelf__tokenizer *tk;

        if ((rc = shelf__tokenizer_get(lib, &tk)) != SHELF_OK) {
            shelf__query_free(*q);
            *q = NULL;
            return rc;
        }
        if (!wordless(tk, *q))
            return SHELF_OK;
        shelf__query_free(*q);
        *q = NULL;
    }
    return rc;
}

int shelf_query_check(shelf_library *lib, const char *query)
{
    qnode *q = NULL;
    int rc = parse(lib, query, shelf__now(), &q);

    shelf__query_free(q);
    return rc;
}

int shelf_query_errpos(const shelf_library *lib)
{
    return lib->query_errpos;
}

/* A statement SQLite could not parse is a query too complex for it. */
static int too_complex(shelf_library *lib)
{
    if (lib->err.rc == SHELF_EDB && strstr(sqlite3_errmsg(lib->db), "too"))
        return shelf__seterr(&lib->err, SHELF_EINVAL, "invalid query: too complex (%s)",
                             sqlite3_errmsg(lib->db));
    return lib->err.rc;
}

/* Count matches up to limit (-1: all). */
static int count(compiler *c, const char *from_where, int64_t limit, int64_t *total, int *exact)
{
    shelf__buf sql = SHELF__BUF_INIT;
    sqlite3_stmt *st;
    int rc = SHELF_OK;

    if (limit < 0)
        rc = shelf__buf_addf(&sql, "SELECT count(*)%s", from_where);
    else
        rc = shelf__buf_addf(&sql, "SELECT count(*) FROM (SELECT 1%s LIMIT %lld)", from_where,
                             (long long)limit + 1);
    if (rc != SHELF_OK) {
        shelf__buf_release(&sql);
        return shelf__seterr(&c->lib->err, SHELF_ENOMEM, "out of memory");
    }
    st = shelf__prepare(c->lib, sql.buf);
    shelf__buf_release(&sql);
    if (!st)
        return too_complex(c->lib);
    if ((rc = apply_binds(c, st, 0)) != SHELF_OK) {
        sqlite3_finalize(st);
        return rc;
    }
    if (sqlite3_step(st) == SQLITE_ROW) {
        *total = sqlite3_column_int64(st, 0);
        *exact = limit < 0 || *total <= limit;
        if (!*exact)
            *total = limit;
    } else {
        rc = shelf__dberr(c->lib, "search");
    }
    sqlite3_finalize(st);
    return rc;
}

/* Answer from the preloaded index: the page's ids, then their rows. */
static int search_memory(shelf_library *lib, const qnode *q, const shelf_search_opts *o,
                         int64_t now, shelf_cursor **out, int64_t *total, int *exact)
{
    shelf__buf ids = SHELF__BUF_INIT;
    int64_t *page = NULL;
    size_t n = 0, i;
    int rc;

    if (!shelf__memindex_current(lib, lib->memindex) && (rc = shelf_library_preload(lib)) != SHELF_OK)
        return rc;
    if ((rc = shelf__memindex_search(lib, lib->memindex, q, o->sort, o->descending,
                                     o->offset > 0 ? o->offset : 0,
                                     o->limit == 0 ? DEFAULT_PAGE : o->limit, now, &page, &n,
                                     total)) != SHELF_OK)
        return rc;
    lib->memindex_searches++;
    *exact = 1;
    rc = shelf__buf_adds(&ids, "[");
    for (i = 0; i < n && rc == SHELF_OK; i++)
        rc = shelf__buf_addf(&ids, "%s%lld", i ? "," : "", (long long)page[i]);
    if (rc == SHELF_OK)
        rc = shelf__buf_adds(&ids, "]");
    shelf_free(page);
    if (rc != SHELF_OK) {
        shelf__buf_release(&ids);
        return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    }
    rc = shelf__cursor_ids(lib, ids.buf, out);
    shelf__buf_release(&ids);
    return rc;
}

int shelf_search(shelf_library *lib, const char *query, const shelf_search_opts *opts,
                 shelf_cursor **out, int64_t *total, int *exact)
{
    shelf_search_opts o = { sizeof o, 0, 0, 0, 0, 0 };
    shelf__buf from_where = SHELF__BUF_INIT, sql = SHELF__BUF_INIT;
    compiler c;
    qnode *q = NULL;
    sqlite3_stmt *st = NULL;
    int64_t limit, dummy_total;
    int ranked = 0, dummy_exact, rc;
    char orderby[256];

    *out = NULL;
    if (!total)
        total = &dummy_total;
    if (!exact)
        exact = &dummy_exact;
    *total = 0;
    *exact = 1;
    if (shelf__opts_check(&lib->err, &o, sizeof o, opts, sizeof o, "shelf_search_opts") != SHELF_OK)
        return lib->err.rc;
    if (o.sort != SHELF_SORT_RELEVANCE && !shelf__sort_sql(o.sort))
        return shelf__seterr(&lib->err, SHELF_EINVAL, "unknown sort key %d", o.sort);
    memset(&c, 0, sizeof c);
    c.lib = lib;
    c.now = shelf__now();
    if ((rc = parse(lib, query, c.now, &q)) != SHELF_OK)
        return rc;
    if (q && lib->memindex && shelf__memindex_can(lib, q)) {
        rc = search_memory(lib, q, &o, c.now, out, total, exact);
        goto out;
    }
    if (q)
        build(&c, q, &from_where, &ranked);
    else    /* nothing to look for: nothing found */
        add(&c, &from_where, " FROM samples s" SAMPLE_JOINS " WHERE 0");
    if ((rc = c.rc) != SHELF_OK)
        goto out;

    if ((o.sort == SHELF_SORT_DEFAULT || o.sort == SHELF_SORT_RELEVANCE) && ranked) {
        /* BM25 (negative: lower is better) made stronger by rating and by
         * use in the last week or month. */
        snprintf(orderby, sizeof orderby,
                 "f.rank * (1.0 + 0.1 * coalesce(rt.rating, 0) + CASE WHEN s.last_used >= %lld "
                 "THEN 0.3 WHEN s.last_used >= %lld THEN 0.15 ELSE 0 END)%s, s.id%s",
                 (long long)(c.now - 7 * 86400), (long long)(c.now - 30 * 86400),
                 o.descending ? " DESC" : "", o.descending ? " DESC" : "");
    } else {
        shelf__order_by(o.sort == SHELF_SORT_DEFAULT || o.sort == SHELF_SORT_RELEVANCE
                            ? SHELF_SORT_NAME : o.sort, o.descending, orderby, sizeof orderby);
    }
    limit = o.limit == 0 ? DEFAULT_PAGE : o.limit < 0 ? -1 : o.limit;
    if (shelf__buf_addf(&sql, "SELECT " SAMPLE_COLUMNS "%s ORDER BY %s LIMIT %lld OFFSET %lld",
                        from_where.buf, orderby, (long long)limit,
                        (long long)(o.offset > 0 ? o.offset : 0)) != SHELF_OK) {
        rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = count(&c, from_where.buf, o.count_limit == 0 ? DEFAULT_COUNT_LIMIT
                                        : o.count_limit < 0 ? -1 : o.count_limit,
                    total, exact)) != SHELF_OK)
        goto out;
    if (!(st = shelf__prepare(lib, sql.buf))) {
        rc = too_complex(lib);
        goto out;
    }
    if ((rc = apply_binds(&c, st, 1)) != SHELF_OK)
        goto out;
    rc = shelf__cursor_new(lib, st, out);
    st = NULL;
out:
    sqlite3_finalize(st);
    release_binds(&c);
    shelf__query_free(q);
    shelf__buf_release(&from_where);
    shelf__buf_release(&sql);
    return rc;
}

/* The ids of every match of q, by the SQL the statement would run. */
static int match_ids(compiler *c, const qnode *q, int64_t **ids, size_t *n)
{
    shelf__buf from_where = SHELF__BUF_INIT, sql = SHELF__BUF_INIT;
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    int ranked = 0, r, rc;

    *ids = NULL;
    *n = 0;
    build(c, q, &from_where, &ranked);
    if ((rc = c->rc) != SHELF_OK)
        goto out;
    if (shelf__buf_addf(&sql, "SELECT s.id%s", from_where.buf) != SHELF_OK) {
        rc = shelf__seterr(&c->lib->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    if (!(st = shelf__prepare(c->lib, sql.buf))) {
        rc = too_complex(c->lib);
        goto out;
    }
    if ((rc = apply_binds(c, st, 0)) != SHELF_OK)
        goto out;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            size_t nc = cap ? cap * 2 : 1024;
            int64_t *a = shelf__realloc(*ids, nc * sizeof *a);

            if (!a) {
                rc = shelf__seterr(&c->lib->err, SHELF_ENOMEM, "out of memory");
                goto out;
            }
            *ids = a;
            cap = nc;
        }
        (*ids)[(*n)++] = sqlite3_column_int64(st, 0);
    }
    if (r != SQLITE_DONE)
        rc = shelf__dberr(c->lib, "search");
out:
    sqlite3_finalize(st);
    shelf__buf_release(&from_where);
    shelf__buf_release(&sql);
    return rc;
}

int shelf_search_facets(shelf_library *lib, const char *query, int max_values,
                        shelf_facet_cb cb, void *ud)
{
    compiler c;
    qnode *q = NULL;
    int64_t *ids = NULL;
    size_t n = 0;
    const char *p;
    int rc;

    memset(&c, 0, sizeof c);
    c.lib = lib;
    c.now = shelf__now();
    if ((rc = parse(lib, query, c.now, &q)) != SHELF_OK)
        return rc;
    for (p = query; *p == ' ' || *p == '\t'; p++)
        ;
    if (!q && *p)       /* nothing to look for: nothing found, no facets */
        return SHELF_OK;
    if (!shelf__memindex_current(lib, lib->memindex) && (rc = shelf_library_preload(lib)) != SHELF_OK)
        goto out;
    if (q && !shelf__memindex_can(lib, q)) {
        if ((rc = match_ids(&c, q, &ids, &n)) != SHELF_OK)
            goto out;
        rc = shelf__memindex_facets(lib, lib->memindex, NULL, ids, n, c.now, max_values, cb, ud);
    } else {
        rc = shelf__memindex_facets(lib, lib->memindex, q, NULL, 0, c.now, max_values, cb, ud);
    }
out:
    shelf_free(ids);
    release_binds(&c);
    shelf__query_free(q);
    return rc;
}

/* ----- collections ---------------------------------------------------------- */

static int check_name(shelf_library *lib, const char *name)
{
    size_t n = name ? strlen(name) : 0, i;

    if (n == 0 || n > 128)
        return shelf__seterr(&lib->err, SHELF_EINVAL, "invalid collection name '%s': 1 to 128 bytes",
                             name ? name : "");
    for (i = 0; i < n; i++)
        if ((unsigned char)name[i] < ' ' || name[i] == 0x7f)
            return shelf__seterr(&lib->err, SHELF_EINVAL,
                                 "invalid collection name '%s': no control characters", name);
    return SHELF_OK;
}

static int collection_id(shelf_library *lib, const char *name, int64_t *id, int *smart)
{
    sqlite3_stmt *st = shelf__prepare(lib, "SELECT id, query IS NOT NULL FROM collections WHERE name = ?1");
    int rc = SHELF_OK, r;

    if (!st)
        return lib->err.rc;
    (void)sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if ((r = sqlite3_step(st)) == SQLITE_ROW) {
        *id = sqlite3_column_int64(st, 0);
        if (smart)
            *smart = sqlite3_column_int(st, 1);
    } else if (r != SQLITE_DONE) {
        rc = shelf__dberr(lib, "cannot read the collections");
    } else {
        rc = shelf__seterr(&lib->err, SHELF_ENOTFOUND, "no collection '%s'", name);
    }
    sqlite3_finalize(st);
    return rc;
}

/* Run one statement with up to three binds (text, text, int) in a
 * transaction of its own. */
static int exec1(shelf_library *lib, const char *sql, const char *a, const char *b, int64_t n,
                 int *changes)
{
    sqlite3_stmt *st = shelf__prepare(lib, sql);
    int r;

    if (!st)
        return lib->err.rc;
    if (a)
        sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
    if (b)
        sqlite3_bind_text(st, 2, b, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, n);
    r = sqlite3_step(st);
    sqlite3_finalize(st);
    if (changes)
        *changes = sqlite3_changes(lib->db);
    if (r == SQLITE_CONSTRAINT_UNIQUE || r == SQLITE_CONSTRAINT_PRIMARYKEY)
        return shelf__seterr(&lib->err, SHELF_EEXIST, "'%s' already exists", a ? a : "");
    if (r != SQLITE_DONE && r != SQLITE_ROW)
        return shelf__dberr(lib, "catalog");
    return SHELF_OK;
}

int shelf_collection_new(shelf_library *lib, const char *name, const char *query)
{
    int rc = check_name(lib, name);

    if (rc != SHELF_OK)
        return rc;
    if (query && (rc = shelf_query_check(lib, query)) != SHELF_OK)
        return rc;
    rc = exec1(lib, "INSERT INTO collections(name, query, created) VALUES(?1, ?2, ?3)", name, query,
               shelf__now(), NULL);
    if (rc == SHELF_EEXIST)
        shelf__seterr(&lib->err, rc, "collection '%s' already exists", name);
    return rc;
}

int shelf_collection_delete(shelf_library *lib, const char *name)
{
    int changes = 0, rc = exec1(lib, "DELETE FROM collections WHERE name = ?1", name, NULL, 0,
                                &changes);

    if (rc == SHELF_OK && changes == 0)
        rc = shelf__seterr(&lib->err, SHELF_ENOTFOUND, "no collection '%s'", name);
    return rc;
}

int shelf_collection_add(shelf_library *lib, const char *name, int64_t id, int position)
{
    sqlite3_stmt *st = NULL;
    int64_t cid = 0, count = 0;
    int smart = 0, rc;

    if ((rc = shelf__begin(lib)) != SHELF_OK)
        return rc;
    if ((rc = collection_id(lib, name, &cid, &smart)) != SHELF_OK)
        goto fail;
    if (smart) {
        rc = shelf__seterr(&lib->err, SHELF_EINVAL, "collection '%s' is a saved search", name);
        goto fail;
    }
    if (!(st = shelf__prepare(lib, "SELECT (SELECT count(*) FROM samples WHERE id = ?2), "
                                   "(SELECT count(*) FROM collection_items WHERE collection_id = ?1 "
                                   "AND sample_id != ?2)"))) {
        rc = lib->err.rc;
        goto fail;
    }
    sqlite3_bind_int64(st, 1, cid);
    sqlite3_bind_int64(st, 2, id);
    if (sqlite3_step(st) != SQLITE_ROW || sqlite3_column_int(st, 0) == 0) {
        rc = shelf__seterr(&lib->err, SHELF_ENOTFOUND, "no sample with id %lld", (long long)id);
        goto fail;
    }
    count = sqlite3_column_int64(st, 1);
    sqlite3_finalize(st);
    st = NULL;
    if (position < 0 || position > count)
        position = (int)count;
    /* Take it out, open a gap at position, put it there; positions stay
     * 0..n-1. */
    {
        static const char *const steps[] = {
            ("UPDATE collection_items SET position = position - 1 WHERE collection_id = ?1 AND "
             "position > (SELECT position FROM collection_items WHERE collection_id = ?1 AND "
             "sample_id = ?2)"),
            "DELETE FROM collection_items WHERE collection_id = ?1 AND sample_id = ?2",
            ("UPDATE collection_items SET position = position + 1 WHERE collection_id = ?1 AND "
             "position >= ?3"),
            "INSERT INTO collection_items(collection_id, sample_id, position) VALUES(?1, ?2, ?3)",
        };
        size_t i;

        for (i = 0; i < sizeof steps / sizeof steps[0]; i++) {
            if (!(st = shelf__prepare(lib, steps[i]))) {
                rc = lib->err.rc;
                goto fail;
            }
            sqlite3_bind_int64(st, 1, cid);
            sqlite3_bind_int64(st, 2, id);
            if (sqlite3_bind_parameter_count(st) >= 3)
                sqlite3_bind_int64(st, 3, position);
            if (sqlite3_step(st) != SQLITE_DONE) {
                rc = shelf__dberr(lib, "catalog");
                goto fail;
            }
            sqlite3_finalize(st);
            st = NULL;
        }
    }
    return shelf__commit(lib);
fail:
    sqlite3_finalize(st);
    shelf__rollback(lib);
    return rc;
}

int shelf_collection_remove(shelf_library *lib, const char *name, int64_t id)
{
    sqlite3_stmt *st = NULL;
    int64_t cid = 0;
    int rc;

    if ((rc = shelf__begin(lib)) != SHELF_OK)
        return rc;
    if ((rc = collection_id(lib, name, &cid, NULL)) != SHELF_OK)
        goto fail;
    if (!(st = shelf__prepare(lib, "UPDATE collection_items SET position = position - 1 WHERE "
                                   "collection_id = ?1 AND position > (SELECT position FROM "
                                   "collection_items WHERE collection_id = ?1 AND sample_id = ?2)"))) {
        rc = lib->err.rc;
        goto fail;
    }
    sqlite3_bind_int64(st, 1, cid);
    sqlite3_bind_int64(st, 2, id);
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = shelf__dberr(lib, "catalog");
        goto fail;
    }
    sqlite3_finalize(st);
    if (!(st = shelf__prepare(lib, "DELETE FROM collection_items WHERE collection_id = ?1 AND "
                                   "sample_id = ?2"))) {
        rc = lib->err.rc;
        goto fail;
    }
    sqlite3_bind_int64(st, 1, cid);
    sqlite3_bind_int64(st, 2, id);
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = shelf__dberr(lib, "catalog");
        goto fail;
    }
    if (sqlite3_changes(lib->db) == 0) {
        rc = shelf__seterr(&lib->err, SHELF_ENOTFOUND, "sample %lld is not in collection '%s'",
                           (long long)id, name);
        goto fail;
    }
    sqlite3_finalize(st);
    return shelf__commit(lib);
fail:
    sqlite3_finalize(st);
    shelf__rollback(lib);
    return rc;
}

int shelf_collection_list(shelf_library *lib, shelf_collection_cb cb, void *ud)
{
    sqlite3_stmt *st = shelf__prepare(lib,
        "SELECT c.name, c.query, (SELECT count(*) FROM collection_items i WHERE "
        "i.collection_id = c.id) FROM collections c ORDER BY c.name");
    int r;

    if (!st)
        return lib->err.rc;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        const char *query = (const char *)sqlite3_column_text(st, 1);
        int64_t n = sqlite3_column_int64(st, 2);

        if (query) {    /* a saved search: count what it finds now */
            shelf_cursor *cur;
            int exact;

            if (shelf_search(lib, query, NULL, &cur, &n, &exact) == SHELF_OK)
                shelf_cursor_free(cur);
            else
                n = -1;
        }
        cb(ud, (const char *)sqlite3_column_text(st, 0), query, n);
    }
    sqlite3_finalize(st);
    return r == SQLITE_DONE ? SHELF_OK : shelf__dberr(lib, "catalog");
}

int shelf_collection_items(shelf_library *lib, const char *name, const shelf_search_opts *opts,
                           shelf_cursor **out)
{
    sqlite3_stmt *st;
    char *query = NULL;
    int64_t cid = 0;
    int smart = 0, rc;

    *out = NULL;
    if ((rc = collection_id(lib, name, &cid, &smart)) != SHELF_OK)
        return rc;
    if (smart) {
        if (!(st = shelf__prepare(lib, "SELECT query FROM collections WHERE id = ?1")))
            return lib->err.rc;
        sqlite3_bind_int64(st, 1, cid);
        if (sqlite3_step(st) != SQLITE_ROW) {
            rc = shelf__dberr(lib, "cannot read the collections");
            sqlite3_finalize(st);
            return rc;
        }
        query = shelf__strdup((const char *)sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
        if (!query)
            return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        rc = shelf_search(lib, query, opts, out, NULL, NULL);
        shelf_free(query);
        return rc;
    }
    if (!(st = shelf__prepare(lib, "SELECT " SAMPLE_COLUMNS " FROM collection_items ci JOIN "
                                   "samples s ON s.id = ci.sample_id" SAMPLE_JOINS
                                   " WHERE ci.collection_id = ?1 ORDER BY ci.position")))
        return lib->err.rc;
    sqlite3_bind_int64(st, 1, cid);
    return shelf__cursor_new(lib, st, out);
}

/* ----- synonyms ---------------------------------------------------------------- */

static int check_word(shelf_library *lib, const char *w)
{
    size_t n = w ? strlen(w) : 0, i;

    if (n == 0 || n > 64)
        return shelf__seterr(&lib->err, SHELF_EINVAL, "invalid synonym '%s': 1 to 64 bytes", w ? w : "");
    for (i = 0; i < n; i++)
        if (!(islower((unsigned char)w[i]) || isdigit((unsigned char)w[i]) ||
              (unsigned char)w[i] >= 0x80))
            return shelf__seterr(&lib->err, SHELF_EINVAL,
                                 "invalid synonym '%s': lowercase letters and digits only", w);
    return SHELF_OK;
}

/* The synonyms changed: sync logs the whole table as one change
 * (doc/sync.md; the groups are numbers local to a catalog), in the
 * change's transaction, as the catalog's triggers do for other tables. */
static int queue_synonyms(shelf_library *lib)
{
    return shelf__exec(lib, "INSERT INTO change_queue(ms, item, field) VALUES(CAST((julianday('now') "
                            "- 2440587.5) * 86400000 AS INTEGER), 'y:', '.')");
}

int shelf_synonyms_add(shelf_library *lib, const char *const *words, size_t n)
{
    sqlite3_stmt *st = NULL, *ins = NULL;
    int64_t grp = 0;
    size_t i;
    int rc, r;

    if (n < 2)
        return shelf__seterr(&lib->err, SHELF_EINVAL, "synonyms need at least two words");
    for (i = 0; i < n; i++)
        if ((rc = check_word(lib, words[i])) != SHELF_OK)
            return rc;
    if ((rc = shelf__begin(lib)) != SHELF_OK)
        return rc;
    /* The group: the first existing group among the words, else a new one. */
    if (!(st = shelf__prepare(lib, "SELECT grp FROM synonyms WHERE word = ?1"))) {
        rc = lib->err.rc;
        goto fail;
    }
    for (i = 0; i < n && !grp; i++) {
        sqlite3_reset(st);
        (void)sqlite3_bind_text(st, 1, words[i], -1, SQLITE_STATIC);
        if ((r = sqlite3_step(st)) == SQLITE_ROW)
            grp = sqlite3_column_int64(st, 0);
        else if (r != SQLITE_DONE) {
            rc = shelf__dberr(lib, "cannot read the synonyms");
            goto fail;
        }
    }
    sqlite3_finalize(st);
    st = NULL;
    if (!grp) {
        if (!(st = shelf__prepare(lib, "SELECT coalesce(max(grp), 0) + 1 FROM synonyms"))) {
            rc = lib->err.rc;
            goto fail;
        }
        if (sqlite3_step(st) != SQLITE_ROW) {
            rc = shelf__dberr(lib, "cannot read the synonyms");
            goto fail;
        }
        grp = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        st = NULL;
    }
    /* Every word, and every word of every group it was in, joins grp. */
    if (!(st = shelf__prepare(lib, "UPDATE synonyms SET grp = ?2 WHERE grp = (SELECT grp FROM "
                                   "synonyms WHERE word = ?1)")) ||
        !(ins = shelf__prepare(lib, "INSERT OR IGNORE INTO synonyms(word, grp) VALUES(?1, ?2)"))) {
        rc = lib->err.rc;
        goto fail;
    }
    for (i = 0; i < n; i++) {
        sqlite3_stmt *const steps[2] = { st, ins };
        int k;

        for (k = 0; k < 2; k++) {
            sqlite3_reset(steps[k]);
            sqlite3_bind_text(steps[k], 1, words[i], -1, SQLITE_STATIC);
            sqlite3_bind_int64(steps[k], 2, grp);
            if (sqlite3_step(steps[k]) != SQLITE_DONE) {
                rc = shelf__dberr(lib, "catalog");
                goto fail;
            }
        }
    }
    sqlite3_finalize(ins);
    sqlite3_finalize(st);
    if ((rc = queue_synonyms(lib)) != SHELF_OK) {
        shelf__rollback(lib);
        return rc;
    }
    return shelf__commit(lib);
fail:
    sqlite3_finalize(st);
    sqlite3_finalize(ins);
    shelf__rollback(lib);
    return rc;
}

int shelf_synonyms_remove(shelf_library *lib, const char *word)
{
    int changes = 0, rc;

    if ((rc = shelf__begin(lib)) != SHELF_OK)
        return rc;
    rc = exec1(lib, "DELETE FROM synonyms WHERE word = ?1", word, NULL, 0, &changes);
    if (rc == SHELF_OK && changes == 0)
        rc = shelf__seterr(&lib->err, SHELF_ENOTFOUND, "no synonym '%s'", word ? word : "");
    if (rc == SHELF_OK)
        rc = queue_synonyms(lib);
    if (rc != SHELF_OK) {
        shelf__rollback(lib);
        return rc;
    }
    return shelf__commit(lib);
}

int shelf_synonyms_list(shelf_library *lib, shelf_synonym_cb cb, void *ud)
{
    sqlite3_stmt *st = shelf__prepare(lib, "SELECT grp, word FROM synonyms ORDER BY grp, word");
    int r;

    if (!st)
        return lib->err.rc;
    while ((r = sqlite3_step(st)) == SQLITE_ROW)
        cb(ud, sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1));
    sqlite3_finalize(st);
    return r == SQLITE_DONE ? SHELF_OK : shelf__dberr(lib, "catalog");
}

/*
 * Turn what a user typed into a query of plain words for shelf_search:
 * words are runs of letters and digits (any non-ASCII character counts as
 * a letter; bytes that are not UTF-8 separate words), ASCII folded to
 * lowercase, so no input forms an operator, a field or a phrase.  *out is owned, "" when
 * there are no words.
 */
static int plain_words(shelf_library *lib, const char *text, char **out)
{
    shelf__buf q = SHELF__BUF_INIT;
    const unsigned char *p = (const unsigned char *)(text ? text : "");
    int rc = shelf__buf_adds(&q, ""), inword = 0;

    *out = NULL;
    while (*p && rc == SHELF_OK) {
        size_t n = *p >= 0x80 ? shelf__utf8_seq(p) : 1;

        if (n == 0 || (n == 1 && !isalnum(*p))) {   /* a separator, or not UTF-8 */
            inword = 0;
            p += n ? n : 1;
            continue;
        }
        if (!inword && q.len)
            rc = shelf__buf_adds(&q, " ");
        inword = 1;
        if (rc == SHELF_OK && n == 1) {
            char c = (char)tolower(*p);

            rc = shelf__buf_add(&q, &c, 1);
        } else if (rc == SHELF_OK) {
            rc = shelf__buf_add(&q, p, n);
        }
        p += n;
    }
    if (rc != SHELF_OK || !(*out = shelf__buf_detach(&q))) {
        shelf__buf_release(&q);
        (void)shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        return SHELF_ENOMEM;
    }
    return SHELF_OK;
}

/* shelf_catalog_search and _count: thin wrappers over shelf_search for
 * plain words (include/shelf/catalog.h). */
int shelf_catalog_search(shelf_library *lib, const char *text, int64_t limit, int64_t offset,
                         shelf_cursor **out)
{
    shelf_search_opts o;
    char *q;
    int rc;

    *out = NULL;
    if ((rc = plain_words(lib, text, &q)) != SHELF_OK)
        return rc;
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.limit = limit > 0 ? limit : -1;
    o.offset = offset > 0 ? offset : 0;
    rc = shelf_search(lib, q, &o, out, NULL, NULL);
    shelf_free(q);
    return rc;
}

int shelf_catalog_search_count(shelf_library *lib, const char *text, int64_t *count)
{
    shelf_search_opts o;
    shelf_cursor *cur = NULL;
    char *q;
    int rc;

    *count = 0;
    if ((rc = plain_words(lib, text, &q)) != SHELF_OK)
        return rc;
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.limit = 1;
    o.count_limit = -1;
    rc = shelf_search(lib, q, &o, &cur, count, NULL);
    shelf_cursor_free(cur);
    shelf_free(q);
    if (rc != SHELF_OK)
        *count = 0;
    return rc;
}
