/*
 * fuzz_query.c: fuzz target for the search query language (doc/query.md):
 * shelf_query_check and shelf_search over a small library made once per
 * process in a temporary folder (a few WAV files written here, tags, a
 * rating, a favourite, a manual and a saved collection, a synonym).  The
 * input, up to its first NUL and at most 4 KiB, is the query.
 *
 * Invariants (abort() when broken): a query is SHELF_OK or SHELF_EINVAL;
 * check and search agree; on SHELF_EINVAL the column is within 1..len+1 and
 * the message is one non-empty line; on SHELF_OK the cursor steps to
 * SHELF_DONE and no page is longer than its limit nor the count smaller;
 * a second handle with the in-memory index finds the same samples (the same
 * count and the same ids; the order may differ: SQL ranks by BM25).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "fuzz_target.h"
#include "shelf/shelf.h"
#include "common/common_int.h"

#define QUERY_MAX 4096
#define PAGE 5

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "fuzz_query: %s:%d: invariant failed: %s\n",     \
                    __FILE__, __LINE__, #cond);                              \
            abort();                                                         \
        }                                                                    \
    } while (0)

/* memindex.c: libraries this small get no dense bitmaps unless it is 0 */
extern size_t shelf__memindex_dense_min;

static char tmpdir[] = "/tmp/shelf-fuzz-query-XXXXXX";
static shelf_library *lib;
static shelf_library *mem;      /* a second handle with the in-memory index */

static void put_le(unsigned char *p, unsigned v, int n)
{
    int i;

    for (i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* A mono 16-bit WAV of frames frames of a ramp that depends on seed. */
static void write_wav(const char *path, unsigned rate, unsigned frames, unsigned seed)
{
    unsigned char h[44];
    FILE *f = fopen(path, "wb");
    unsigned i;

    CHECK(f != NULL);
    memcpy(h, "RIFF", 4);
    put_le(h + 4, 36 + frames * 2, 4);
    memcpy(h + 8, "WAVEfmt ", 8);
    put_le(h + 16, 16, 4);
    put_le(h + 20, 1, 2);
    put_le(h + 22, 1, 2);
    put_le(h + 24, rate, 4);
    put_le(h + 28, rate * 2, 4);
    put_le(h + 32, 2, 2);
    put_le(h + 34, 16, 2);
    memcpy(h + 36, "data", 4);
    put_le(h + 40, frames * 2, 4);
    CHECK(fwrite(h, 1, sizeof h, f) == sizeof h);
    for (i = 0; i < frames; i++) {
        unsigned char s[2];

        put_le(s, (i * (seed + 1) * 97) & 0x3fff, 2);
        CHECK(fwrite(s, 1, 2, f) == 2);
    }
    CHECK(fclose(f) == 0);
}

static void remove_tmp(void)
{
    if (lib)
        shelf_library_close(lib);
    if (mem)
        shelf_library_close(mem);
    lib = mem = NULL;
    (void)shelf__rmtree(tmpdir);
}

static int64_t id_of(const char *rel)
{
    char p[512];
    int64_t id = 0;

    snprintf(p, sizeof p, "%s/src/%s", tmpdir, rel);
    CHECK(shelf_catalog_find_path(lib, p, &id) == SHELF_OK);
    return id;
}

static void setup(void)
{
    static const char *const syn[] = { "kick", "thump" };
    shelf_import_opts o;
    const char *paths[1];
    char p[512], src[128];
    char *msg = NULL;
    int64_t kick, snare;

    CHECK(mkdtemp(tmpdir) != NULL);
    atexit(remove_tmp);
    snprintf(src, sizeof src, "%s/src", tmpdir);
    CHECK(mkdir(src, 0777) == 0);
    snprintf(p, sizeof p, "%s/Drums", src);
    CHECK(mkdir(p, 0777) == 0);
    snprintf(p, sizeof p, "%s/Pads", src);
    CHECK(mkdir(p, 0777) == 0);
    snprintf(p, sizeof p, "%s/Loops", src);
    CHECK(mkdir(p, 0777) == 0);
    snprintf(p, sizeof p, "%s/Drums/Kick Deep.wav", src);
    write_wav(p, 44100, 4410, 1);
    snprintf(p, sizeof p, "%s/Drums/Snare_01.wav", src);
    write_wav(p, 48000, 2400, 2);
    snprintf(p, sizeof p, "%s/Pads/Warm Pad.wav", src);
    write_wav(p, 22050, 22050, 3);
    snprintf(p, sizeof p, "%s/Loops/Funk 120bpm.wav", src);
    write_wav(p, 44100, 88200, 4);

    snprintf(p, sizeof p, "%s/lib", tmpdir);
    if (shelf_library_open(p, SHELF_OPEN_CREATE, &lib, &msg) != SHELF_OK) {
        fprintf(stderr, "fuzz_query: cannot open %s: %s\n", p, msg ? msg : "?");
        abort();
    }
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    paths[0] = src;
    CHECK(shelf_import(lib, paths, 1, &o, NULL) == SHELF_OK);
    kick = id_of("Drums/Kick Deep.wav");
    snare = id_of("Drums/Snare_01.wav");
    CHECK(shelf_tag_add(lib, kick, "drums") == SHELF_OK);
    CHECK(shelf_tag_add(lib, snare, "drums") == SHELF_OK);
    CHECK(shelf_tag_add(lib, id_of("Pads/Warm Pad.wav"), "dark") == SHELF_OK);
    CHECK(shelf_rate(lib, kick, 5) == SHELF_OK);
    CHECK(shelf_favourite(lib, snare, 1) == SHELF_OK);
    CHECK(shelf_touch(lib, kick) == SHELF_OK);
    CHECK(shelf_collection_new(lib, "live", NULL) == SHELF_OK);
    CHECK(shelf_collection_add(lib, "live", kick, -1) == SHELF_OK);
    CHECK(shelf_collection_new(lib, "dark", "tag:dark OR pad") == SHELF_OK);
    CHECK(shelf_collection_new(lib, "both", "in:dark OR in:live") == SHELF_OK);
    CHECK(shelf_synonyms_add(lib, syn, 2) == SHELF_OK);
}

static int cmp_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return x < y ? -1 : x > y;
}

static void check_error(int rc, size_t len)
{
    const char *msg = shelf_errmsg(lib);
    int pos = shelf_query_errpos(lib);

    CHECK(rc == SHELF_EINVAL);
    CHECK(pos >= 1 && (size_t)pos <= len + 1);
    CHECK(msg != NULL && msg[0] != '\0');
    CHECK(strchr(msg, '\n') == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char query[QUERY_MAX + 1];
    shelf_search_opts o;
    shelf_cursor *cur = NULL;
    const shelf_sample *row;
    size_t len = size < QUERY_MAX ? size : QUERY_MAX;
    int64_t total = -1;
    int exact = -1, rc, rc_check, rows = 0;
    int64_t ids[PAGE];

    if (!lib)
        setup();
    if (len)
        memcpy(query, data, len);
    query[len] = '\0';
    len = strlen(query);

    rc_check = shelf_query_check(lib, query);
    if (rc_check != SHELF_OK)
        check_error(rc_check, len);

    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.limit = PAGE;
    rc = shelf_search(lib, query, &o, &cur, &total, &exact);
    if (rc != SHELF_OK) {
        check_error(rc, len);
        CHECK(cur == NULL);
        return 0;
    }
    /* what parses, runs (only a missing collection can fail after parsing) */
    CHECK(rc_check == SHELF_OK);
    CHECK(cur != NULL);
    while ((rc = shelf_cursor_next(cur, &row)) == SHELF_ROW) {
        CHECK(row != NULL && row->name != NULL);
        CHECK(rows < PAGE);
        ids[rows++] = row->id;
    }
    CHECK(rc == SHELF_DONE);
    shelf_cursor_free(cur);
    CHECK(rows <= PAGE);
    CHECK(exact == 0 || exact == 1);
    CHECK(total >= rows && total <= 4);

    /* The in-memory index finds the same samples (it answers what it can,
     * SQL the rest, so the counts and the ids must agree for every query;
     * with at most 4 samples the page of PAGE holds them all). */
    if (!mem) {
        char *msg = NULL;

        CHECK(shelf_library_open(shelf_library_path(lib), 0, &mem, &msg) == SHELF_OK);
        shelf__memindex_dense_min = 0;      /* cover the bitmaps of dense terms too */
        CHECK(shelf_library_preload(mem) == SHELF_OK);
    }
    {
        int64_t mtotal = -1, mids[PAGE];
        int mexact = -1, mrows = 0, i;

        cur = NULL;
        rc = shelf_search(mem, query, &o, &cur, &mtotal, &mexact);
        CHECK(rc == SHELF_OK);
        while ((rc = shelf_cursor_next(cur, &row)) == SHELF_ROW) {
            CHECK(mrows < PAGE);
            mids[mrows++] = row->id;
        }
        CHECK(rc == SHELF_DONE);
        shelf_cursor_free(cur);
        if (mtotal != total || mrows != rows)
            fprintf(stderr, "fuzz_query: '%s': SQL finds %lld (%d rows), memory %lld (%d)\n",
                    query, (long long)total, rows, (long long)mtotal, mrows);
        CHECK(mtotal == total);
        CHECK(mrows == rows);
        qsort(ids, (size_t)rows, sizeof *ids, cmp_id);
        qsort(mids, (size_t)mrows, sizeof *mids, cmp_id);
        for (i = 0; i < rows; i++) {
            if (ids[i] != mids[i])
                fprintf(stderr, "fuzz_query: '%s': SQL finds sample %lld, memory %lld\n",
                        query, (long long)ids[i], (long long)mids[i]);
            CHECK(ids[i] == mids[i]);
        }
    }
    return 0;
}
