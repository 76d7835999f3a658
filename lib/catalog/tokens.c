/*
 * tokens.c: words as the search index sees them.  Both search engines use
 * SQLite's own FTS5 tokenizer (unicode61 with remove_diacritics 2, the one
 * samples_fts is built with), so the in-memory index splits, folds case and
 * drops diacritics exactly as FTS5 does, in every script.
 */
#include <ctype.h>
#include <string.h>
#include "catalog_int.h"
#include "tokens_int.h"

struct shelf__tokenizer {
    fts5_tokenizer api;
    Fts5Tokenizer *t;
};

/* The FTS5 API of a connection (SQLite's documented way to reach it), or
 * NULL with *nomem set when SQLite ran out of memory on the way. */
static fts5_api *fts5_of(sqlite3 *db, int *nomem)
{
    fts5_api *api = NULL;
    sqlite3_stmt *st = NULL;

    *nomem = 0;
    if (sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_bind_pointer(st, 1, (void *)&api, "fts5_api_ptr", NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        *nomem = sqlite3_errcode(db) == SQLITE_NOMEM;
        api = NULL;
    }
    sqlite3_finalize(st);
    return api;
}

int shelf__tokenizer_get(shelf_library *lib, shelf__tokenizer **out)
{
    const char *args[] = { "remove_diacritics", "2" };
    shelf__tokenizer *tk;
    fts5_api *api;
    void *ud = NULL;
    int nomem, r;

    if (lib->tokenizer) {
        *out = lib->tokenizer;
        return SHELF_OK;
    }
    *out = NULL;
    if (!(api = fts5_of(lib->db, &nomem)))
        return nomem ? shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory")
                     : shelf__seterr(&lib->err, SHELF_EDB, "this SQLite has no FTS5");
    if (!(tk = shelf__calloc(1, sizeof *tk)))
        return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    if ((r = api->xFindTokenizer(api, "unicode61", &ud, &tk->api)) != SQLITE_OK ||
        (r = tk->api.xCreate(ud, args, 2, &tk->t)) != SQLITE_OK) {
        shelf_free(tk);
        if (r == SQLITE_NOMEM)
            return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        return shelf__seterr(&lib->err, SHELF_EDB, "cannot create the unicode61 tokenizer");
    }
    lib->tokenizer = tk;
    *out = tk;
    return SHELF_OK;
}

void shelf__tokenizer_free(shelf__tokenizer *tk)
{
    if (!tk)
        return;
    tk->api.xDelete(tk->t);
    shelf_free(tk);
}

typedef struct tokctx {
    shelf__token_cb cb;
    void *ud;
    char buf[SHELF__TOKEN_MAX + 1];
} tokctx;

static int on_token(void *ctx, int flags, const char *tok, int n, int start, int end)
{
    tokctx *tc = ctx;

    (void)start, (void)end;
    if (flags & FTS5_TOKEN_COLOCATED)
        return SQLITE_OK;
    if (n > SHELF__TOKEN_MAX)
        n = SHELF__TOKEN_MAX;
    memcpy(tc->buf, tok, (size_t)n);
    tc->buf[n] = '\0';
    return tc->cb(tc->ud, tc->buf, (size_t)n) ? SQLITE_DONE : SQLITE_OK;
}

int shelf__tokenize(shelf__tokenizer *tk, const char *text, int query, shelf__token_cb cb, void *ud)
{
    tokctx tc;
    int r;

    if (!text || !*text)
        return SHELF_OK;
    tc.cb = cb;
    tc.ud = ud;
    r = tk->api.xTokenize(tk->t, &tc, query ? FTS5_TOKENIZE_QUERY : FTS5_TOKENIZE_DOCUMENT,
                          text, (int)strlen(text), on_token);
    if (r == SQLITE_NOMEM)
        return SHELF_ENOMEM;         /* a long word outgrew the tokenizer's buffer */
    return r == SQLITE_OK || r == SQLITE_DONE ? SHELF_OK : SHELF_EDB;
}

typedef struct first {
    char *out;
    int count;
} first;

static int take_first(void *ud, const char *tok, size_t n)
{
    first *f = ud;

    if (f->count++ == 0)
        memcpy(f->out, tok, n + 1);
    return f->count > 1;     /* two are enough to know */
}

int shelf__token_single(shelf__tokenizer *tk, const char *text, char tok[SHELF__TOKEN_MAX + 1])
{
    first f = { tok, 0 };
    int rc;

    tok[0] = '\0';
    if ((rc = shelf__tokenize(tk, text, 1, take_first, &f)) != SHELF_OK)
        return rc;
    return f.count > 1 ? 2 : f.count;
}

typedef struct foldctx {
    const char *text;
    shelf__buf *out;
    int last;           /* end of the text copied so far */
    int oom;
} foldctx;

static int on_fold(void *ctx, int flags, const char *tok, int n, int start, int end)
{
    foldctx *fc = ctx;

    if (flags & FTS5_TOKEN_COLOCATED)
        return SQLITE_OK;
    /* what lies between words (a '-', a '*') as it is, the word folded */
    if ((start > fc->last && shelf__buf_add(fc->out, fc->text + fc->last, (size_t)(start - fc->last))) ||
        shelf__buf_add(fc->out, tok, (size_t)n)) {
        fc->oom = 1;
        return SQLITE_NOMEM;
    }
    fc->last = end;
    return SQLITE_OK;
}

int shelf__token_fold(shelf__tokenizer *tk, const char *text, size_t n, char **out)
{
    shelf__buf b = SHELF__BUF_INIT;
    foldctx fc = { text, &b, 0, 0 };
    int r;

    *out = NULL;
    r = tk->api.xTokenize(tk->t, &fc, FTS5_TOKENIZE_DOCUMENT, text, (int)n, on_fold);
    if (r == SQLITE_OK && !fc.oom && (size_t)fc.last < n &&
        shelf__buf_add(&b, text + fc.last, n - (size_t)fc.last))
        fc.oom = 1;
    if (r == SQLITE_OK && !fc.oom && shelf__buf_add(&b, "", 0))  /* "" has a buffer too */
        fc.oom = 1;
    if (r != SQLITE_OK || fc.oom) {
        shelf__buf_release(&b);
        return fc.oom || r == SQLITE_NOMEM ? SHELF_ENOMEM : SHELF_EDB;
    }
    *out = shelf__buf_detach(&b);
    return *out ? SHELF_OK : SHELF_ENOMEM;
}

static int wordch(unsigned char ch)
{
    return isalnum(ch) || ch >= 0x80;
}

int shelf__fts_phrase(shelf__buf *out, const char *col, const char *s, int prefix)
{
    const unsigned char *p = (const unsigned char *)s;
    int ntok = 0, bad = 0;

    while (*p) {
        const unsigned char *w;

        while (*p && !wordch(*p))
            p++;
        if (!*p)
            break;
        for (w = p; *p && wordch(*p); p++)
            ;
        if (ntok++ == 0) {
            if (col)
                bad |= shelf__buf_addf(out, "%s : ", col);
            bad |= shelf__buf_adds(out, "\"");
        } else {
            bad |= shelf__buf_adds(out, " ");
        }
        bad |= shelf__buf_add(out, w, (size_t)(p - w));
    }
    if (ntok)
        bad |= shelf__buf_adds(out, prefix ? "\"*" : "\"");
    return bad ? SHELF_ENOMEM : ntok;
}
