/*
 * test_memindex.c: the preloaded in-memory index answers every query it
 * takes with the same matches and counts as SQL does, and follows changes
 * to the catalog.
 */
#include <dirent.h>
#include <sndfile.h>
#include <time.h>
#include "test.h"
#include "audiogen.h"
#include "catalog/memindex_int.h"

#define WAV16 (SF_FORMAT_WAV | SF_FORMAT_PCM_16)

static const char *const names[] = {
    "Drums/Kick Deep", "Drums/Kick Hard", "Drums/BD 808", "Drums/Snare Tight", "Drums/Snare Roll",
    "Drums/HiHat Open", "Drums/HH Closed", "Drums/Clap Big", "Drums/Tom Low", "Drums/Crash Céleste",
    "Bass/Sub Bass C1", "Bass/Reese Dark", "Pads/Warm Pad C3", "Pads/Dark Pad", "Pads/Étoile Pad",
    "Loops/Funk Break 120bpm", "Loops/House Loop 124bpm", "Vox/Chant", "Vox/Vocal Chop", "FX/Riser Long",
};

static const char *const queries[] = {
    "k", "ki", "kic", "kick", "kick d", "kick deep", "bd", "hat", "hh", "snare -roll", "pad",
    "pad -dark", "dark OR warm", "(kick OR snare) tight", "cat:kick", "cat:hh", "cat:pad",
    "tag:punchy", "tag:pun*", "-tag:punchy kick", "rating:>=3", "rating:0", "fav:yes", "fav:no",
    "len:<0.2s", "len:>=0.2s pad", "rate:48k", "ch:2", "bits:24", "format:flac", "format:wav",
    "key:C3", "key:C1..C3", "bpm:120..124", "loop:yes", "missing:no", "added:-1d..", "used:-1d..",
    "author:person", "name:kick", "path:drums", "path:loops -name:funk", "etoile", "céleste",
    "celeste", "zzzz", "chant OR chop", "type:sample", "type:patch", "vocal", "vox", "120", "c3",
    "drums -kick -snare", "in:mine", "in:smart", "NOT drums",
    "tag:über-bass", "tag:ÜBER-BASS", "tag:uber*", "tag:été", "tag:ETE", "-tag:Été drums",
    /* phrases: FTS5 finds them, the memory engine does the rest */
    "\"kick deep\"", "\"deep kick\"", "\"warm pad\"", "\"pad c3\" OR chant", "-\"dark pad\" pad",
    "\"house loop\" bpm:120..124", "kick-de", "sub-bass", "name:\"warm pad\"", "name:warm-p",
    "path:drums/kick", "path:\"pads warm\"", "kick \"&\"", "\"snare roll\" OR \"snare tight\"",
};

static int64_t *ids_of(shelf_library *lib, const char *q, int sort, int64_t *total, size_t *n)
{
    shelf_search_opts o;
    shelf_cursor *cur;
    const shelf_sample *s;
    int64_t *ids = NULL;
    int exact, rc;

    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.limit = -1;
    o.count_limit = -1;
    o.sort = sort;
    rc = shelf_search(lib, q, &o, &cur, total, &exact);
    if (rc != SHELF_OK)
        fprintf(stderr, "query '%s': %s\n", q, shelf_errmsg(lib));
    ASSERT_OK(rc);
    ASSERT_EQ_INT(exact, 1);
    *n = 0;
    ids = malloc(sizeof *ids * 1000);
    while (shelf_cursor_next(cur, &s) == SHELF_ROW)
        ids[(*n)++] = s->id;
    shelf_cursor_free(cur);
    return ids;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return x < y ? -1 : x > y;
}

static shelf_library *fixture(void)
{
    const char *root = test_tmpdir(), *libdir = test_tmpdir();
    const char *paths[1] = { root };
    shelf_library *lib;
    char p[4096], dir[4096], *msg;
    size_t i;
    int64_t id;

    for (i = 0; i < sizeof names / sizeof names[0]; i++) {
        tg_spec s = TG_SPEC_INIT(i % 3 ? WAV16 : (SF_FORMAT_FLAC | SF_FORMAT_PCM_24),
                                 i % 4 ? 44100 : 48000, 1 + (int)(i % 2), 2000 + 900 * (int64_t)i);

        s.seed = (unsigned)i;
        if (strstr(names[i], "C3"))
            s.root_key = 48;
        if (strstr(names[i], "C1"))
            s.root_key = 24;
        if (strstr(names[i], "bpm") && i % 3) {
            s.acid_tempo = strstr(names[i], "120") ? 120 : 124;
            s.acid_beats = 4;
        }
        if (strstr(names[i], "Pad") && i % 3) {
            s.loop_start = 10;
            s.loop_end = 1000;
            s.loop_mode = 1;
        }
        if (strstr(names[i], "Vox"))
            s.artist = "Choir Person";
        test_pathf(dir, sizeof dir, "%s/%s", root, names[i]);
        *strrchr(dir, '/') = '\0';
        mkdir(dir, 0777);
        test_pathf(p, sizeof p, "%s/%s.%s", root, names[i], i % 3 ? "wav" : "flac");
        ASSERT_EQ_INT(tg_write(p, &s), 0);
    }
    ASSERT_OK(shelf_library_open(libdir, SHELF_OPEN_CREATE, &lib, &msg));
    ASSERT_OKL(lib, shelf_import(lib, paths, 1, NULL, NULL));
    for (id = 1; id <= 6; id++) {
        ASSERT_OKL(lib, shelf_rate(lib, id, (int)id % 6));
        if (id % 2)
            ASSERT_OKL(lib, shelf_tag_add(lib, id, "punchy"));
    }
    ASSERT_OKL(lib, shelf_tag_add(lib, 7, "Über-Bass"));
    ASSERT_OKL(lib, shelf_tag_add(lib, 8, "ÉTÉ"));
    ASSERT_OKL(lib, shelf_favourite(lib, 3, 1));
    ASSERT_OKL(lib, shelf_touch(lib, 4));
    ASSERT_OKL(lib, shelf_collection_new(lib, "mine", NULL));
    ASSERT_OKL(lib, shelf_collection_add(lib, "mine", 2, -1));
    ASSERT_OKL(lib, shelf_collection_add(lib, "mine", 9, -1));
    ASSERT_OKL(lib, shelf_collection_new(lib, "smart", "pad -dark"));
    return lib;
}

TEST(memory_matches_sql)
{
    shelf_library *lib = fixture();
    size_t qi;

    for (qi = 0; qi < sizeof queries / sizeof queries[0]; qi++) {
        int64_t t1, t2, *a, *b;
        size_t n1, n2, k;


        /* the first answer is SQL's (no index), the second the memory
         * engine's: the counter says which engine answered */
        a = ids_of(lib, queries[qi], SHELF_SORT_DEFAULT, &t1, &n1);
        ASSERT_EQ_INT(lib->memindex_searches, 0);
        ASSERT_OKL(lib, shelf_library_preload(lib));
        b = ids_of(lib, queries[qi], SHELF_SORT_DEFAULT, &t2, &n2);
        if (lib->memindex_searches != 1)
            fprintf(stderr, "query '%s': the memory engine did not answer\n", queries[qi]);
        ASSERT_EQ_INT(lib->memindex_searches, 1);
        if (t1 != t2 || n1 != n2)
            fprintf(stderr, "query '%s': sql %lld/%zu, memory %lld/%zu\n", queries[qi],
                    (long long)t1, n1, (long long)t2, n2);
        ASSERT_EQ_INT(t1, t2);
        ASSERT_EQ_INT(n1, n2);
        qsort(a, n1, sizeof *a, cmp64);
        qsort(b, n2, sizeof *b, cmp64);
        for (k = 0; k < n1; k++)
            ASSERT_EQ_INT(a[k], b[k]);
        free(a);
        free(b);
        /* back to SQL for the next query: a fresh handle has no index */
        {
            char path[4096];
            char *msg;

            test_pathf(path, sizeof path, "%s", shelf_library_path(lib));
            shelf_library_close(lib);
            ASSERT_OK(shelf_library_open(path, 0, &lib, &msg));
        }
    }
    shelf_library_close(lib);
}

TEST(memory_sorts_like_sql)
{
    shelf_library *lib = fixture();
    static const int sorts[] = { SHELF_SORT_NAME, SHELF_SORT_DURATION, SHELF_SORT_RATE,
                                 SHELF_SORT_ID };
    size_t k, i;

    for (k = 0; k < sizeof sorts / sizeof sorts[0]; k++) {
        char path[4096], *msg;
        int64_t t1, t2, *a, *b;
        size_t n1, n2;

        test_pathf(path, sizeof path, "%s", shelf_library_path(lib));
        shelf_library_close(lib);
        ASSERT_OK(shelf_library_open(path, 0, &lib, &msg));
        a = ids_of(lib, "drums", sorts[k], &t1, &n1);
        ASSERT_EQ_INT(lib->memindex_searches, 0);
        ASSERT_OKL(lib, shelf_library_preload(lib));
        b = ids_of(lib, "drums", sorts[k], &t2, &n2);
        ASSERT_EQ_INT(lib->memindex_searches, 1);
        ASSERT_EQ_INT(n1, n2);
        for (i = 0; i < n1; i++) {
            if (a[i] != b[i])
                fprintf(stderr, "sort %d: position %zu: sql %lld, memory %lld\n", sorts[k], i,
                        (long long)a[i], (long long)b[i]);
            ASSERT_EQ_INT(a[i], b[i]);
        }
        free(a);
        free(b);
    }
    shelf_library_close(lib);
}

/* A page of a sorted list (the memory engine keeps only the best rows in
 * a heap) is the same page SQL returns. */
TEST(memory_pages_like_sql)
{
    shelf_library *lib = fixture(), *mem;
    static const int sorts[] = { SHELF_SORT_NAME, SHELF_SORT_DURATION, SHELF_SORT_ID };
    unsigned searches;
    char *msg;
    size_t k;
    int desc;

    ASSERT_OK(shelf_library_open(shelf_library_path(lib), 0, &mem, &msg));
    ASSERT_OKL(mem, shelf_library_preload(mem));
    for (k = 0; k < sizeof sorts / sizeof sorts[0]; k++)
        for (desc = 0; desc < 2; desc++) {
            int64_t off;

            for (off = 0; off < 20; off += 3) {
                shelf_search_opts o;
                shelf_cursor *c1, *c2;
                const shelf_sample *r1, *r2;
                int64_t t1, t2;
                int e1, e2, s1, s2;

                memset(&o, 0, sizeof o);
                o.size = sizeof o;
                o.sort = sorts[k];
                o.descending = desc;
                o.limit = 3;
                o.offset = off;
                searches = mem->memindex_searches;
                ASSERT_OKL(lib, shelf_search(lib, "-zzzz", &o, &c1, &t1, &e1));
                ASSERT_OKL(mem, shelf_search(mem, "-zzzz", &o, &c2, &t2, &e2));
                ASSERT_EQ_INT(lib->memindex_searches, 0);
                ASSERT_EQ_INT(mem->memindex_searches, searches + 1);
                ASSERT_EQ_INT(t1, t2);
                for (;;) {
                    s1 = shelf_cursor_next(c1, &r1);
                    s2 = shelf_cursor_next(c2, &r2);
                    ASSERT_EQ_INT(s1, s2);
                    if (s1 != SHELF_ROW)
                        break;
                    ASSERT_EQ_INT(r1->id, r2->id);
                }
                shelf_cursor_free(c1);
                shelf_cursor_free(c2);
            }
        }
    shelf_library_close(mem);
    shelf_library_close(lib);
}

TEST(memory_follows_changes)
{
    shelf_library *lib = fixture();
    unsigned builds;
    int64_t t;
    size_t n;
    int64_t *a;

    ASSERT_OKL(lib, shelf_library_preload(lib));
    ASSERT(shelf_library_preload_bytes(lib) > 0);
    a = ids_of(lib, "tag:brandnew", SHELF_SORT_DEFAULT, &t, &n);
    ASSERT_EQ_INT(t, 0);
    free(a);
    ASSERT_OKL(lib, shelf_tag_add(lib, 7, "brandnew"));
    a = ids_of(lib, "tag:brandnew", SHELF_SORT_DEFAULT, &t, &n);
    ASSERT_EQ_INT(t, 1);
    ASSERT_EQ_INT(a[0], 7);
    free(a);
    /* ratings, favourites and use are applied in place (no rebuild), and
     * found */
    a = ids_of(lib, "k", SHELF_SORT_DEFAULT, &t, &n);
    free(a);
    builds = lib->memindex_builds;
    ASSERT_OKL(lib, shelf_rate(lib, 9, 5));
    ASSERT_OKL(lib, shelf_favourite(lib, 9, 1));
    ASSERT_OKL(lib, shelf_touch(lib, 10));
    a = ids_of(lib, "rating:5 fav:yes", SHELF_SORT_DEFAULT, &t, &n);
    ASSERT_EQ_INT(t, 1);
    ASSERT_EQ_INT(a[0], 9);
    free(a);
    ASSERT_OKL(lib, shelf_favourite(lib, 9, 0));
    ASSERT_OKL(lib, shelf_rate(lib, 9, 0));
    a = ids_of(lib, "rating:5 fav:yes", SHELF_SORT_DEFAULT, &t, &n);
    ASSERT_EQ_INT(t, 0);
    free(a);
    a = ids_of(lib, "used:-1h..", SHELF_SORT_DEFAULT, &t, &n);
    ASSERT(t >= 1);
    free(a);
    ASSERT_EQ_INT(lib->memindex_builds, builds);
    /* a change through another handle is seen too */
    {
        shelf_library *other;
        char *msg;

        ASSERT_OK(shelf_library_open(shelf_library_path(lib), 0, &other, &msg));
        ASSERT_OKL(other, shelf_tag_add(other, 8, "brandnew"));
        shelf_library_close(other);
    }
    a = ids_of(lib, "tag:brandnew", SHELF_SORT_DEFAULT, &t, &n);
    ASSERT_EQ_INT(t, 2);
    free(a);
    shelf_library_close(lib);
}

/* An index built on a second handle (another thread in shelf serve) is
 * moved to the first and catches up with what changed meanwhile; the
 * searches it answers are then the index's, not SQL's. */
/* Pages read through the library's kept statement: two cursors open at
 * once each read their own rows (the second prepares its own statement),
 * and the kept one is reused, reset, once its cursor is freed. */
TEST(page_cursors_interleave)
{
    shelf_library *lib = fixture();
    shelf_search_opts o;
    shelf_cursor *a, *b, *c;
    const shelf_sample *sa, *sb;
    int64_t ta, tb, tc;
    int exact;
    size_t na = 0, nb = 0, nc = 0;

    ASSERT_OKL(lib, shelf_library_preload(lib));
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.limit = -1;
    o.sort = SHELF_SORT_NAME;
    ASSERT_OKL(lib, shelf_search(lib, "drums", &o, &a, &ta, &exact));
    ASSERT(lib->page_busy);
    ASSERT_OKL(lib, shelf_search(lib, "pad", &o, &b, &tb, &exact));
    ASSERT_EQ_INT(ta, 10);
    ASSERT_EQ_INT(tb, 3);
    for (int ra = SHELF_ROW, rb = SHELF_ROW; ra == SHELF_ROW || rb == SHELF_ROW;) {
        if (ra == SHELF_ROW)
            ra = shelf_cursor_next(a, &sa);
        if (rb == SHELF_ROW)
            rb = shelf_cursor_next(b, &sb);
        if (ra == SHELF_ROW) {
            ASSERT(strstr(sa->relpath, "Drums/") == sa->relpath);
            na++;
        }
        if (rb == SHELF_ROW) {
            ASSERT(strstr(sb->name, "Pad") != NULL);
            nb++;
        }
    }
    ASSERT_EQ_INT(na, 10);
    ASSERT_EQ_INT(nb, 3);
    shelf_cursor_free(b);
    ASSERT(lib->page_busy);             /* a, the first, has the kept one */
    shelf_cursor_free(a);
    ASSERT(!lib->page_busy);
    ASSERT_OKL(lib, shelf_search(lib, "name:kick", &o, &c, &tc, &exact));
    ASSERT(lib->page_busy);
    while (shelf_cursor_next(c, &sa) == SHELF_ROW) {
        ASSERT_EQ_STR(sa->name, nc ? "Kick Hard" : "Kick Deep");
        nc++;
    }
    ASSERT_EQ_INT(nc, 2);
    shelf_cursor_free(c);
    ASSERT(!lib->page_busy);
    shelf_library_close(lib);
}

TEST(adopt_index_from_another_handle)
{
    shelf_library *lib = fixture(), *builder, *stranger;
    unsigned searches;
    int64_t t;
    size_t n;
    int64_t *a;
    char *msg;

    ASSERT_OK(shelf_library_open(shelf_library_path(lib), SHELF_OPEN_READONLY, &builder, &msg));
    ASSERT_RC(SHELF_EINVAL, shelf_library_adopt_index(lib, builder));      /* nothing built yet */
    ASSERT_OKL(builder, shelf_library_preload(builder));
    /* changes after the build, by the handle that will take it */
    ASSERT_OKL(lib, shelf_tag_add(lib, 7, "after-build"));
    ASSERT_OKL(lib, shelf_rate(lib, 9, 5));
    stranger = fixture();
    ASSERT_RC(SHELF_EINVAL, shelf_library_adopt_index(stranger, builder));   /* another library */
    ASSERT(strstr(shelf_errmsg(stranger), "another library") != NULL);
    shelf_library_close(stranger);
    ASSERT_EQ_INT(shelf_library_preload_bytes(lib), 0);
    ASSERT_OKL(lib, shelf_library_adopt_index(lib, builder));
    ASSERT(shelf_library_preload_bytes(lib) > 0);
    ASSERT_EQ_INT(shelf_library_preload_bytes(builder), 0);
    ASSERT_RC(SHELF_EINVAL, shelf_library_adopt_index(lib, builder));      /* moved, not copied */
    shelf_library_close(builder);
    searches = lib->memindex_searches;
    a = ids_of(lib, "tag:after-build", SHELF_SORT_DEFAULT, &t, &n);
    ASSERT_EQ_INT(t, 1);
    ASSERT_EQ_INT(a[0], 7);
    free(a);
    a = ids_of(lib, "rating:5", SHELF_SORT_DEFAULT, &t, &n);
    ASSERT_EQ_INT(t, 2);                /* 5 from the fixture, 9 since */
    free(a);
    ASSERT_EQ_INT(lib->memindex_searches, searches + 2);
    ASSERT_EQ_INT(lib->memindex_builds, 1);
    shelf_library_close(lib);
}

/* The same with bitmaps for every term and two-letter prefix (the paths
 * a library of thousands of samples takes). */
TEST(dense_matches_sql)
{
    shelf__memindex_dense_min = 0;
    test_memory_matches_sql();
}

TEST(dense_pages_like_sql)
{
    shelf__memindex_dense_min = 0;
    test_memory_pages_like_sql();
}

/* tag: folds case beyond ASCII as the word search does, in both engines. */
TEST(tag_folds_case)
{
    static const char *const qs[] = { "tag:über-bass", "tag:ÜBER-BASS", "tag:Über-Bass",
                                      "tag:uber-bass", "tag:über*", "tag:été", "tag:ete",
                                      "tag:ÉTÉ" };
    static const int64_t want[] = { 7, 7, 7, 7, 7, 8, 8, 8 };
    shelf_library *lib = fixture();
    size_t i, n;
    int pass;

    for (pass = 0; pass < 2; pass++) {
        if (pass == 1)
            ASSERT_OKL(lib, shelf_library_preload(lib));
        for (i = 0; i < sizeof qs / sizeof qs[0]; i++) {
            int64_t t, *a = ids_of(lib, qs[i], SHELF_SORT_DEFAULT, &t, &n);

            if (n != 1 || a[0] != want[i])
                fprintf(stderr, "%s '%s': %zu matches\n", pass ? "memory" : "sql", qs[i], n);
            ASSERT_EQ_INT(n, 1);
            ASSERT_EQ_INT(a[0], want[i]);
            free(a);
        }
    }
    shelf_library_close(lib);
}

/* A query of thousands of words is refused at once (doc/query.md: at most
 * 256 words and filters); 256 are answered. */
TEST(long_query_refused)
{
    shelf_library *lib = fixture();
    shelf__buf q = SHELF__BUF_INIT;
    int64_t t, *a;
    size_t n;
    int i, pass;

    for (pass = 0; pass < 2; pass++) {
        if (pass == 1)
            ASSERT_OKL(lib, shelf_library_preload(lib));
        shelf__buf_reset(&q);
        for (i = 0; i < 256; i++)
            ASSERT_OK(shelf__buf_addf(&q, "%sdrum%s", i ? " " : "", i % 2 ? "s" : ""));
        a = ids_of(lib, q.buf, SHELF_SORT_DEFAULT, &t, &n);
        ASSERT_EQ_INT(t, 10);           /* every sample under Drums/ */
        free(a);
        for (; i < 5000; i++)
            ASSERT_OK(shelf__buf_addf(&q, " tag:w%d", i));
        ASSERT_RC(SHELF_EINVAL, shelf_query_check(lib, q.buf));
        ASSERT(strstr(shelf_errmsg(lib), "at most 256 words and filters") != NULL);
        ASSERT_EQ_INT(shelf_query_errpos(lib), (int)(strstr(q.buf, "tag:w256") - q.buf) + 1);
    }
    shelf__buf_release(&q);
    shelf_library_close(lib);
}

/* The names of the matches of q in order, joined by '|', into out. */
static void names_of(shelf_library *lib, const char *q, char *out, size_t size, int64_t *total)
{
    shelf_search_opts o;
    shelf_cursor *cur;
    const shelf_sample *s;
    size_t len = 0;
    int exact;

    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.limit = -1;
    o.count_limit = -1;
    ASSERT_OKL(lib, shelf_search(lib, q, &o, &cur, total, &exact));
    out[0] = '\0';
    while (shelf_cursor_next(cur, &s) == SHELF_ROW) {
        int w = snprintf(out + len, size - len, "%s%s", len ? "|" : "", s->name);

        ASSERT(w > 0 && (size_t)w < size - len);
        len += (size_t)w;
    }
    shelf_cursor_free(cur);
}

/* A query of ten words matches only the samples that have all ten, and
 * the memory engine ranks by name hits of every word: the ninth and
 * tenth count as much as the first (they once fell out of fixed arrays of
 * eight, and a sample with them in its name ranked below a better-rated
 * one that had them only in its tags). */
TEST(ten_words_all_count)
{
    const char *root = test_tmpdir(), *libdir = test_tmpdir();
    const char *paths[1] = { root };
    static const char *const files[] = { "India Juliet", "Plain", "India" };
    static const char q[] = "alpha bravo charlie delta echo foxtrot golf hotel india juliet";
    shelf_library *lib;
    char p[4096], got[1024], *msg;
    int64_t total, id;
    size_t i;

    for (i = 0; i < sizeof files / sizeof files[0]; i++) {
        tg_spec s = TG_SPEC_INIT(WAV16, 44100, 1, 2000);

        test_pathf(p, sizeof p, "%s/alpha bravo charlie delta echo foxtrot golf hotel", root);
        mkdir(p, 0777);
        test_pathf(p, sizeof p, "%s/alpha bravo charlie delta echo foxtrot golf hotel/%s.wav",
                   root, files[i]);
        ASSERT_EQ_INT(tg_write(p, &s), 0);
    }
    ASSERT_OK(shelf_library_open(libdir, SHELF_OPEN_CREATE, &lib, &msg));
    ASSERT_OKL(lib, shelf_import(lib, paths, 1, NULL, NULL));
    /* "Plain" has india and juliet as tags, and the best rating */
    for (id = 1; id <= 3; id++) {
        shelf_cursor *c;
        const shelf_sample *s;
        int plain;

        ASSERT_OKL(lib, shelf_catalog_get(lib, id, &c, &s));
        plain = !strcmp(s->name, "Plain");
        shelf_cursor_free(c);
        if (plain) {
            ASSERT_OKL(lib, shelf_tag_add(lib, id, "india"));
            ASSERT_OKL(lib, shelf_tag_add(lib, id, "juliet"));
            ASSERT_OKL(lib, shelf_rate(lib, id, 5));
        }
    }
    names_of(lib, q, got, sizeof got, &total);     /* SQL */
    ASSERT_EQ_INT(lib->memindex_searches, 0);
    ASSERT_EQ_INT(total, 2);
    ASSERT(!strstr(got, "India|") && strcmp(got + strlen(got) - 6, "|India"));
    ASSERT_OKL(lib, shelf_library_preload(lib));
    names_of(lib, q, got, sizeof got, &total);     /* memory */
    ASSERT_EQ_INT(lib->memindex_searches, 1);
    ASSERT_EQ_INT(total, 2);
    ASSERT_EQ_STR(got, "India Juliet|Plain");
    shelf_library_close(lib);
}

/* ----- facets ------------------------------------------------------------- */

typedef struct facet_list {
    char facet[128][16];         /* per value: its facet */
    char filter[128][64];
    int64_t count[128];
    int n;
    char order[256];            /* facets in the order they came, '|' between */
} facet_list;

static void on_facet(void *ud, const shelf_facet *f)
{
    facet_list *fl = ud;

    if (fl->n == 0 || strcmp(fl->facet[fl->n - 1], f->facet) != 0) {
        size_t len = strlen(fl->order);

        snprintf(fl->order + len, sizeof fl->order - len, "%s|", f->facet);
    }
    ASSERT(fl->n < 128);
    snprintf(fl->facet[fl->n], sizeof fl->facet[0], "%s", f->facet);
    snprintf(fl->filter[fl->n], sizeof fl->filter[0], "%s", f->filter);
    fl->count[fl->n++] = f->count;
}

static int64_t total_of(shelf_library *lib, const char *q)
{
    shelf_search_opts o;
    shelf_cursor *cur;
    int64_t total;
    int exact;

    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.limit = 1;
    o.count_limit = -1;
    ASSERT_OKL(lib, shelf_search(lib, q, &o, &cur, &total, &exact));
    shelf_cursor_free(cur);
    return total;
}

/* Every facet value counts what its filter finds when added to the query,
 * through the memory engine and through SQL (a phrase); the facets that
 * split the matches (rating, flags, channels) add up to the total. */
TEST(facets_count_what_their_filters_find)
{
    static const char *const fq[] = { "", "drums", "pad", "-tag:punchy kick", "\"kick deep\" OR pad",
                                      "rate:48k", "zzzz" };
    static const char *const split[] = { "rating", "favourite", "missing", "loop", "channels" };
    shelf_library *lib = fixture();
    size_t qi, k;
    int i;

    for (qi = 0; qi < sizeof fq / sizeof fq[0]; qi++) {
        facet_list fl;
        int64_t all = fq[qi][0] ? total_of(lib, fq[qi]) : 0;
        char q[512];

        if (!fq[qi][0])
            ASSERT_OKL(lib, shelf_catalog_count(lib, &all, NULL));
        memset(&fl, 0, sizeof fl);
        ASSERT_OKL(lib, shelf_search_facets(lib, fq[qi], -1, on_facet, &fl));
        if (all == 0) {
            ASSERT_EQ_INT(fl.n, 0);
            continue;
        }
        ASSERT(strstr(fl.order, "rating|favourite|missing|loop|") != NULL);
        for (i = 0; i < fl.n; i++) {
            snprintf(q, sizeof q, "(%s) %s", fq[qi][0] ? fq[qi] : "type:sample", fl.filter[i]);
            if (total_of(lib, q) != fl.count[i])
                fprintf(stderr, "query '%s': facet %s says %lld, the search finds %lld\n", q,
                        fl.facet[i], (long long)fl.count[i], (long long)total_of(lib, q));
            ASSERT_EQ_INT(total_of(lib, q), fl.count[i]);
        }
        for (k = 0; k < sizeof split / sizeof split[0]; k++) {
            int64_t sum = 0;

            for (i = 0; i < fl.n; i++)
                if (!strcmp(fl.facet[i], split[k]))
                    sum += fl.count[i];
            ASSERT_EQ_INT(sum, all);
        }
    }
    shelf_library_close(lib);
}

/* At most max values a facet; an edit shows in the next counts; a bad
 * query is refused as a search refuses it. */
TEST(facets_limit_follow_and_refuse)
{
    shelf_library *lib = fixture();
    facet_list fl;
    int i, n5 = 0;
    unsigned builds;

    memset(&fl, 0, sizeof fl);
    ASSERT_OKL(lib, shelf_search_facets(lib, "", 1, on_facet, &fl));
    for (i = 1; i < fl.n; i++)
        ASSERT(strcmp(fl.facet[i], fl.facet[i - 1]) != 0);
    ASSERT_EQ_STR(fl.order, "category|format|rate|channels|bits|key|length|bpm|rating|favourite|"
                            "missing|loop|tag|");
    builds = lib->memindex_builds;
    ASSERT_OKL(lib, shelf_rate(lib, 20, 5));
    memset(&fl, 0, sizeof fl);
    ASSERT_OKL(lib, shelf_search_facets(lib, "", -1, on_facet, &fl));
    for (i = 0; i < fl.n; i++)
        if (!strcmp(fl.filter[i], "rating:5"))
            n5 = (int)fl.count[i];
    ASSERT_EQ_INT(n5, 2);                           /* sample 5 and now 20 */
    ASSERT_EQ_INT(lib->memindex_builds, builds);    /* in place, no rebuild */
    ASSERT_EQ_INT(shelf_search_facets(lib, "kick (", 0, on_facet, &fl), SHELF_EINVAL);
    {   /* the key facet's names, as the query language reads them */
        char b[8];

        ASSERT_EQ_STR(shelf_note_name(60, b), "C4");
        ASSERT_EQ_STR(shelf_note_name(61, b), "C#4");
        ASSERT_EQ_STR(shelf_note_name(0, b), "C-1");
        ASSERT_EQ_STR(shelf_note_name(127, b), "G9");
        ASSERT_EQ_STR(shelf_note_name(-1, b), "-");
        ASSERT_EQ_STR(shelf_note_name(128, b), "-");
    }
    ASSERT_EQ_INT(shelf_query_errpos(lib), 7);
    shelf_library_close(lib);
}

/* ----- in place ------------------------------------------------------------------ */

static uint64_t rnd_state;

static uint32_t rnd(uint32_t n)
{
    rnd_state = rnd_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rnd_state >> 33) % n;
}

/* Every id of q in order (sort, descending, offset, limit) and the total. */
static size_t page_of(shelf_library *lib, const char *q, int sort, int desc, int64_t offset,
                      int64_t limit, int64_t *ids, int64_t *total)
{
    shelf_search_opts o;
    shelf_cursor *cur;
    const shelf_sample *s;
    size_t n = 0;
    int exact, rc;

    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.limit = limit;
    o.offset = offset;
    o.count_limit = -1;
    o.sort = sort;
    o.descending = desc;
    rc = shelf_search(lib, q, &o, &cur, total, &exact);
    if (rc != SHELF_OK)
        fprintf(stderr, "query '%s': %s\n", q, shelf_errmsg(lib));
    ASSERT_OK(rc);
    while (shelf_cursor_next(cur, &s) == SHELF_ROW) {
        ASSERT(n < 256);
        ids[n++] = s->id;
    }
    shelf_cursor_free(cur);
    return n;
}

/* lib (kept current in place) answers as a fresh build of its catalog
 * does: the same ids in the same order for every query, sort and page,
 * and the same facets. */
static void same_as_rebuild(shelf_library *lib, unsigned long long seed, int step)
{
    static const int sorts[][2] = {
        { SHELF_SORT_DEFAULT, 0 }, { SHELF_SORT_NAME, 0 }, { SHELF_SORT_NAME, 1 },
        { SHELF_SORT_RATING, 1 }, { SHELF_SORT_USED, 1 }, { SHELF_SORT_ID, 0 },
    };
    shelf_library *fresh;
    facet_list fa, fb;
    char *msg;
    size_t qi, si;

    ASSERT_OK(shelf_library_open(shelf_library_path(lib), 0, &fresh, &msg));
    ASSERT_OKL(fresh, shelf_library_preload(fresh));
    for (qi = 0; qi < sizeof queries / sizeof queries[0]; qi++)
        for (si = 0; si < sizeof sorts / sizeof sorts[0]; si++) {
            int64_t a[256], b[256], ta, tb;
            size_t na, nb, k;
            int pg;

            for (pg = 0; pg < 2; pg++) {
                na = page_of(lib, queries[qi], sorts[si][0], sorts[si][1], pg ? 1 : 0, pg ? 3 : -1,
                             a, &ta);
                nb = page_of(fresh, queries[qi], sorts[si][0], sorts[si][1], pg ? 1 : 0,
                             pg ? 3 : -1, b, &tb);
                if (ta != tb || na != nb || memcmp(a, b, na * sizeof *a) != 0) {
                    fprintf(stderr, "seed %llu step %d: '%s' sort %d/%d page %d: in place %lld [",
                            seed, step, queries[qi], sorts[si][0], sorts[si][1], pg, (long long)ta);
                    for (k = 0; k < na; k++)
                        fprintf(stderr, " %lld", (long long)a[k]);
                    fprintf(stderr, " ], rebuilt %lld [", (long long)tb);
                    for (k = 0; k < nb; k++)
                        fprintf(stderr, " %lld", (long long)b[k]);
                    fprintf(stderr, " ]\n");
                }
                ASSERT_EQ_INT(ta, tb);
                ASSERT_EQ_INT(na, nb);
                ASSERT(memcmp(a, b, na * sizeof *a) == 0);
            }
        }
    for (qi = 0; qi < 3; qi++) {
        const char *fq = qi == 0 ? "" : qi == 1 ? "drums" : "tag:p*";

        memset(&fa, 0, sizeof fa);
        memset(&fb, 0, sizeof fb);
        ASSERT_OKL(lib, shelf_search_facets(lib, fq, -1, on_facet, &fa));
        ASSERT_OKL(fresh, shelf_search_facets(fresh, fq, -1, on_facet, &fb));
        if (fa.n != fb.n || strcmp(fa.order, fb.order) != 0) {
            int j;

            fprintf(stderr, "seed %llu step %d: facets of '%s' differ\n", seed, step, fq);
            for (j = 0; j < fa.n || j < fb.n; j++)
                fprintf(stderr, "  %-24s %4lld | %-24s %4lld\n", j < fa.n ? fa.filter[j] : "",
                        j < fa.n ? (long long)fa.count[j] : 0LL, j < fb.n ? fb.filter[j] : "",
                        j < fb.n ? (long long)fb.count[j] : 0LL);
        }
        ASSERT_EQ_INT(fa.n, fb.n);
        ASSERT_EQ_STR(fa.order, fb.order);
        for (si = 0; si < (size_t)fa.n; si++) {
            ASSERT_EQ_STR(fa.filter[si], fb.filter[si]);
            ASSERT_EQ_INT(fa.count[si], fb.count[si]);
        }
    }
    shelf_library_close(fresh);
}

static int64_t root_of(shelf_library *lib, char *root, size_t size)
{
    sqlite3_stmt *st;

    ASSERT_EQ_INT(sqlite3_prepare_v2(lib->db, "SELECT path FROM roots ORDER BY id LIMIT 1", -1, &st,
                                     NULL), SQLITE_OK);
    ASSERT_EQ_INT(sqlite3_step(st), SQLITE_ROW);
    snprintf(root, size, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return 0;
}

static int64_t max_id(shelf_library *lib)
{
    sqlite3_stmt *st;
    int64_t v;

    ASSERT_EQ_INT(sqlite3_prepare_v2(lib->db, "SELECT coalesce(max(id), 0) FROM samples", -1, &st,
                                     NULL), SQLITE_OK);
    ASSERT_EQ_INT(sqlite3_step(st), SQLITE_ROW);
    v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/*
 * A phrase: FTS5 finds it, the memory engine answers (the counter), and
 * the phrase kept for the next keystroke is dropped when the catalog
 * changes: a tag "deep-kick" makes "deep kick" a phrase of that sample's
 * tags, the next search finds it, and it is gone after the tag is.
 */
TEST(phrase_follows_changes)
{
    shelf_library *lib = fixture();
    int64_t t, *a, searches, bd;
    size_t n;

    ASSERT_OKL(lib, shelf_library_preload(lib));
    searches = lib->memindex_searches;
    a = ids_of(lib, "\"deep kick\"", SHELF_SORT_DEFAULT, &t, &n);
    ASSERT_EQ_INT(t, 0);
    free(a);
    a = ids_of(lib, "\"kick deep\"", SHELF_SORT_DEFAULT, &t, &n);
    ASSERT_EQ_INT(t, 1);
    free(a);
    a = ids_of(lib, "808", SHELF_SORT_DEFAULT, &t, &n);
    ASSERT_EQ_INT(t, 1);
    bd = a[0];
    free(a);
    ASSERT_OKL(lib, shelf_tag_add(lib, bd, "deep-kick"));
    a = ids_of(lib, "\"deep kick\"", SHELF_SORT_DEFAULT, &t, &n);
    ASSERT_EQ_INT(t, 1);
    ASSERT_EQ_INT(a[0], bd);
    free(a);
    a = ids_of(lib, "\"deep kick\" bd", SHELF_SORT_DEFAULT, &t, &n);    /* kept, and one more word */
    ASSERT_EQ_INT(t, 1);
    free(a);
    ASSERT_OKL(lib, shelf_tag_remove(lib, bd, "deep-kick"));
    a = ids_of(lib, "\"deep kick\" bd", SHELF_SORT_DEFAULT, &t, &n);
    ASSERT_EQ_INT(t, 0);
    free(a);
    ASSERT_EQ_INT(lib->memindex_searches, searches + 6);
    ASSERT_EQ_INT(lib->memindex_builds, 1);
    shelf_library_close(lib);
}

/*
 * Random edits (tags, ratings, favourites, use, imports of new files,
 * moves, removes, missing and archived marks, changes by another handle),
 * each applied to the preloaded index in place: after every few, the
 * index answers as a fresh build does, and it was never rebuilt.
 * SHELF_TEST_SEED replays a run; the seed is printed.
 */
TEST(in_place_equals_rebuild)
{
    static const char *const tags[] = { "punchy", "dark", "Über-Bass", "été", "p2", "warm" };
    static const char *const words[] = { "kick", "snare", "pad", "dark", "deep", "riser", "vox" };
    shelf_library *lib = fixture(), *other;
    shelf_index_stats is;
    unsigned long long seed = getenv("SHELF_TEST_SEED") ? strtoull(getenv("SHELF_TEST_SEED"), NULL, 10)
                                                       : (unsigned long long)time(NULL);
    char root[4096], p[4096], q[4096], *msg;
    int step, made = 0, changed = 0, catchups = 0;

    fprintf(stderr, "in_place_equals_rebuild: SHELF_TEST_SEED=%llu\n", seed);
    rnd_state = seed;
    root_of(lib, root, sizeof root);
    ASSERT_OK(shelf_library_open(shelf_library_path(lib), 0, &other, &msg));
    ASSERT_OKL(lib, shelf_library_preload(lib));
    same_as_rebuild(lib, seed, 0);
    for (step = 1; step <= 60; step++) {
        int64_t top = max_id(lib), id = 1 + (int64_t)rnd((uint32_t)top);
        shelf_library *h = rnd(4) == 0 ? other : lib;   /* another handle: another process */
        int op = (int)rnd(11), rc = SHELF_OK;
        char sql[128];

        switch (op) {
        case 0: case 1:
            rc = shelf_tag_add(h, id, tags[rnd(6)]);
            break;
        case 2:
            rc = shelf_tag_remove(h, id, tags[rnd(6)]);
            break;
        case 3:
            rc = shelf_rate(h, id, (int)rnd(6));
            break;
        case 4:
            rc = shelf_favourite(h, id, (int)rnd(2));
            break;
        case 5:
            rc = shelf_touch(h, id);
            break;
        case 6: {               /* import a new file */
            tg_spec s = TG_SPEC_INIT(WAV16, rnd(2) ? 44100 : 48000, 1 + (int)rnd(2),
                                     1000 + 100 * (int64_t)rnd(50));
            const char *paths[1] = { p };

            s.seed = (unsigned)(1000 + made);
            test_pathf(p, sizeof p, "%s/New/%s %s %d.wav", root, words[rnd(7)], words[rnd(7)], made++);
            *strrchr(p, '/') = '\0';
            mkdir(p, 0777);
            *strchr(p + strlen(p), '\0') = '/';
            ASSERT_EQ_INT(tg_write(p, &s), 0);
            rc = shelf_import(h, paths, 1, NULL, NULL);
            break;
        }
        case 7: {               /* move a file: import finds it by content */
            const char *paths[1] = { root };

            test_pathf(p, sizeof p, "%s/New", root);
            if (!made)
                continue;
            test_pathf(q, sizeof q, "%s/Moved %d.wav", root, step);
            {
                DIR *d = opendir(p);
                struct dirent *de;
                int done = 0;

                while (d && !done && (de = readdir(d)) != NULL)
                    if (de->d_name[0] != '.') {
                        test_pathf(p, sizeof p, "%s/New/%s", root, de->d_name);
                        done = rename(p, q) == 0;
                    }
                if (d)
                    closedir(d);
            }
            rc = shelf_import(h, paths, 1, NULL, NULL);
            break;
        }
        case 8:
            rc = shelf_catalog_remove(h, id, SHELF_REMOVE_FORCE);
            break;
        case 9: case 10:        /* marked missing, archived (2), back */
            snprintf(sql, sizeof sql, "UPDATE samples SET missing = %d WHERE id = %lld",
                     (int)rnd(3), (long long)id);
            ASSERT_EQ_INT(sqlite3_exec(h->db, sql, NULL, NULL, NULL), SQLITE_OK);
            break;
        }
        if (rc == SHELF_ENOTFOUND)      /* removed before */
            continue;
        ASSERT_OKL(h, rc);
        changed = 1;            /* a check from here catches up on it */
        if (step % 6 == 0 || rnd(8) == 0) {
            catchups += changed;
            changed = 0;
            same_as_rebuild(lib, seed, step);
        }
    }
    catchups += changed;
    same_as_rebuild(lib, seed, step);
    is.size = sizeof is;
    ASSERT_OK(shelf_library_index_stats(lib, &is));
    ASSERT_EQ_INT(is.size, sizeof is);
    ASSERT_EQ_INT(is.builds, 1);                /* never rebuilt */
    ASSERT_EQ_INT(is.fallbacks, 0);
    /* Most catch-ups after a change applied it in place (some changes
     * change nothing: a tag removed that was not there, a rating set
     * again; 75-100% applied over 40 seeds).  Not a fixed count: a seed
     * that draws many removed ids checks less often (1796662577: 9 of 9). */
    fprintf(stderr, "    %llu catch-ups applied changes, of %d after changes\n",
            (unsigned long long)is.applies, catchups);
    ASSERT(catchups >= 5);
    ASSERT(is.applies * 2 >= (uint64_t)catchups);
    ASSERT(is.added > 0);
    ASSERT_EQ_STR(is.fallback_why, "");
    shelf_library_close(other);
    shelf_library_close(lib);
}

/* When the log cannot answer, the index is rebuilt and says why: a
 * synonym changed; the log trimmed past the index; more changes than room;
 * the log went back. */
TEST(in_place_falls_back)
{
    shelf_library *lib = fixture();
    shelf_index_stats is;
    int64_t t, a[256];
    int i;

    ASSERT_OKL(lib, shelf_library_preload(lib));
    ASSERT_EQ_INT(sqlite3_exec(lib->db, "INSERT INTO synonyms(word, grp) VALUES('thud', 1)", NULL,
                               NULL, NULL), SQLITE_OK);
    page_of(lib, "thud", SHELF_SORT_DEFAULT, 0, 0, -1, a, &t);
    ASSERT_EQ_INT(t, 3);                        /* kick, kick, bd */
    memset(&is, 0, sizeof is);
    is.size = sizeof is;
    ASSERT_OK(shelf_library_index_stats(lib, &is));
    ASSERT_EQ_INT(is.builds, 2);
    ASSERT_EQ_INT(is.fallbacks, 1);
    ASSERT(strstr(is.fallback_why, "synonyms") != NULL);
    /* 70,000 log rows from another handle: the rows after the index's are
     * trimmed */
    {
        shelf_library *other;
        char *msg;

        ASSERT_OK(shelf_library_open(shelf_library_path(lib), 0, &other, &msg));
        ASSERT_EQ_INT(sqlite3_exec(other->db, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 "
                                   "FROM c WHERE x < 70000) INSERT INTO index_log(sample_id) "
                                   "SELECT 1 FROM c", NULL, NULL, NULL), SQLITE_OK);
        shelf_library_close(other);
    }
    page_of(lib, "kick", SHELF_SORT_DEFAULT, 0, 0, -1, a, &t);
    ASSERT_EQ_INT(t, 3);
    ASSERT_OK(shelf_library_index_stats(lib, &is));
    ASSERT_EQ_INT(is.fallbacks, 2);
    ASSERT(strstr(is.fallback_why, "trimmed") != NULL);
    /* a tag on every sample, 60 times: more than the room of 1024 */
    ASSERT_EQ_INT(sqlite3_exec(lib->db, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 "
                               "FROM c WHERE x < 1100) INSERT INTO index_log(sample_id) "
                               "SELECT 100000 + x FROM c", NULL, NULL, NULL), SQLITE_OK);
    for (i = 1; i <= 2; i++)
        page_of(lib, "kick", SHELF_SORT_DEFAULT, 0, 0, -1, a, &t);
    ASSERT_OK(shelf_library_index_stats(lib, &is));
    ASSERT_EQ_INT(is.fallbacks, 3);
    ASSERT(strstr(is.fallback_why, "room") != NULL);
    ASSERT_EQ_INT(is.builds, 4);
    /* the log going back (a catalog put back from a copy) */
    ASSERT_EQ_INT(sqlite3_exec(lib->db, "DELETE FROM index_log WHERE seq > (SELECT max(seq) - 5 "
                               "FROM index_log)", NULL, NULL, NULL), SQLITE_OK);
    page_of(lib, "kick", SHELF_SORT_DEFAULT, 0, 0, -1, a, &t);
    ASSERT_OK(shelf_library_index_stats(lib, &is));
    ASSERT_EQ_INT(is.fallbacks, 4);
    ASSERT(strstr(is.fallback_why, "went back") != NULL);
    /* NULL and size 0 write nothing */
    ASSERT_OK(shelf_library_index_stats(lib, NULL));
    shelf_library_close(lib);
}

/* A search inside a caller's transaction sees its changes; when it rolls
 * back, the next search forgets them, though the log numbers its next
 * rows as it numbered the rolled-back ones. */
TEST(in_place_transaction_rolled_back)
{
    shelf_library *lib = fixture();
    shelf_index_stats is;
    int64_t t, a[256];

    ASSERT_OKL(lib, shelf_library_preload(lib));
    ASSERT_OKL(lib, shelf__begin(lib));
    ASSERT_OKL(lib, shelf_tag_add(lib, 3, "fleeting"));
    page_of(lib, "tag:fleeting", SHELF_SORT_DEFAULT, 0, 0, -1, a, &t);
    ASSERT_EQ_INT(t, 1);
    shelf__rollback(lib);
    page_of(lib, "tag:fleeting", SHELF_SORT_DEFAULT, 0, 0, -1, a, &t);
    ASSERT_EQ_INT(t, 0);
    ASSERT_OKL(lib, shelf_tag_add(lib, 4, "lasting"));
    page_of(lib, "tag:lasting", SHELF_SORT_DEFAULT, 0, 0, -1, a, &t);
    ASSERT_EQ_INT(t, 1);
    ASSERT_EQ_INT(a[0], 4);
    page_of(lib, "tag:fleeting", SHELF_SORT_DEFAULT, 0, 0, -1, a, &t);
    ASSERT_EQ_INT(t, 0);
    memset(&is, 0, sizeof is);
    is.size = sizeof is;
    ASSERT_OK(shelf_library_index_stats(lib, &is));
    ASSERT_EQ_INT(is.builds, 1);
    shelf_library_close(lib);
}

/* A filter's set is kept for the next keystroke, and not once the items
 * change: by this handle, inside a transaction (then rolled back) and by
 * another handle. */
TEST(kept_sets_follow_changes)
{
    shelf_library *lib = fixture(), *other;
    int64_t t, a[256];
    uint64_t hits;
    char *msg;

    ASSERT_OKL(lib, shelf_library_preload(lib));
    hits = shelf__memindex_kept_hits(lib->memindex);
    page_of(lib, "rating:>=4", SHELF_SORT_DEFAULT, 0, 0, -1, a, &t);
    ASSERT_EQ_INT(t, 2);                /* 4 and 5 */
    page_of(lib, "rating:>=4 kick", SHELF_SORT_DEFAULT, 0, 0, -1, a, &t);
    ASSERT_EQ_INT(shelf__memindex_kept_hits(lib->memindex), hits + 1);
    page_of(lib, "rating:>=4", SHELF_SORT_DEFAULT, 0, 0, -1, a, &t);
    ASSERT_EQ_INT(t, 2);
    ASSERT_EQ_INT(shelf__memindex_kept_hits(lib->memindex), hits + 2);
    ASSERT_OKL(lib, shelf__begin(lib));
    ASSERT_OKL(lib, shelf_rate(lib, 1, 5));
    page_of(lib, "rating:>=4", SHELF_SORT_DEFAULT, 0, 0, -1, a, &t);
    ASSERT_EQ_INT(t, 3);
    shelf__rollback(lib);
    page_of(lib, "rating:>=4", SHELF_SORT_DEFAULT, 0, 0, -1, a, &t);
    ASSERT_EQ_INT(t, 2);
    ASSERT_OK(shelf_library_open(shelf_library_path(lib), 0, &other, &msg));
    ASSERT_OKL(other, shelf_rate(other, 9, 4));
    ASSERT_OKL(other, shelf_favourite(other, 9, 1));
    shelf_library_close(other);
    page_of(lib, "rating:>=4", SHELF_SORT_DEFAULT, 0, 0, -1, a, &t);
    ASSERT_EQ_INT(t, 3);
    page_of(lib, "fav:yes", SHELF_SORT_DEFAULT, 0, 0, -1, a, &t);
    ASSERT_EQ_INT(t, 2);                /* 3 and 9 */
    page_of(lib, "fav:yes rating:>=4", SHELF_SORT_DEFAULT, 0, 0, -1, a, &t);
    ASSERT_EQ_INT(t, 1);
    ASSERT_EQ_INT(a[0], 9);
    ASSERT_EQ_INT(shelf__memindex_kept_hits(lib->memindex), hits + 4);
    ASSERT_EQ_INT(lib->memindex_builds, 1);
    shelf_library_close(lib);
}

int main(int argc, char **argv)
{
    static const test_case tests[] = {
        TEST_ENTRY(memory_matches_sql),
        TEST_ENTRY(dense_matches_sql),
        TEST_ENTRY(dense_pages_like_sql),
        TEST_ENTRY(memory_sorts_like_sql),
        TEST_ENTRY(memory_pages_like_sql),
        TEST_ENTRY(memory_follows_changes),
        TEST_ENTRY(page_cursors_interleave),
        TEST_ENTRY(adopt_index_from_another_handle),
        TEST_ENTRY(tag_folds_case),
        TEST_ENTRY(long_query_refused),
        TEST_ENTRY(ten_words_all_count),
        TEST_ENTRY(facets_count_what_their_filters_find),
        TEST_ENTRY(facets_limit_follow_and_refuse),
        TEST_ENTRY(phrase_follows_changes),
        TEST_ENTRY(in_place_equals_rebuild),
        TEST_ENTRY(in_place_falls_back),
        TEST_ENTRY(in_place_transaction_rolled_back),
        TEST_ENTRY(kept_sets_follow_changes),
        TEST_END
    };
    return test_run(argc, argv, tests);
}
