/*
 * test_hub.c: sync through a hub (lib/sync/hub.c, seal.c; doc/sync.md
 * "Hub").  Three devices meet only through a folder and converge; a
 * second pull reads nothing; every kind of tampering with the hub (a byte
 * changed, an object renamed, moved to another device's folder, cut
 * short, sealed with another key, a segment missing) is refused and
 * changes nothing; folders of devices not paired here are ignored; a copy
 * of a library that pushes after its original is refused.
 */
#include <dirent.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>
#include "test.h"
#include "libs.h"
#include "exchange.h"
#include <sndfile.h>
#include "audiogen.h"
#include "shelf/catalog.h"
#include "shelf/import.h"
#include "shelf/maint.h"
#include "shelf/patch.h"
#include "shelf/sync.h"
#include "catalog/catalog_int.h"
#include "sync/sync_int.h"

/* Pair a and b both ways. */
static void pair(shelf_library *a, shelf_library *b)
{
    char ia[SHELF_DEVICE_ID_LEN + 1], ib[SHELF_DEVICE_ID_LEN + 1];

    test_device_id(a, ia);
    test_device_id(b, ib);
    ASSERT_OKL(a, shelf_device_add(a, ib, NULL));
    ASSERT_OKL(b, shelf_device_add(b, ia, NULL));
}

/* Give to the library key generations from holds (as pairing does). */
static void share_key(shelf_library *from, shelf_library *to)
{
    unsigned char key[SHELF__LIBKEY_LEN];
    int64_t gen, g;

    ASSERT_OKL(from, shelf__libkey(from, 0, &gen, key));
    for (g = 1; g <= gen; g++) {
        int64_t got;

        ASSERT_OKL(from, shelf__libkey(from, g, &got, key));
        ASSERT_OKL(to, shelf__libkey_put(to, g, key));
    }
}

static int64_t id_at(shelf_library *lib, const char *dir, const char *name)
{
    char p[PATH_MAX];
    int64_t id = 0;

    test_pathf(p, sizeof p, "%s/src/%s", dir, name);
    ASSERT_OKL(lib, shelf_catalog_find_path(lib, p, &id));
    return id;
}

/* "tags|rating" of the sample from DIR/src/NAME. */
static void state_of(shelf_library *lib, const char *dir, const char *name, char *out, size_t n)
{
    const shelf_sample *row;
    shelf_cursor *cur;

    ASSERT_OKL(lib, shelf_catalog_get(lib, id_at(lib, dir, name), &cur, &row));
    snprintf(out, n, "%s|%d", row->tags ? row->tags : "", row->rating);
    shelf_cursor_free(cur);
}

#define ASSERT_STATE(lib, dir, name, want)                                     \
    do {                                                                      \
        char got_[1024];                                                       \
        state_of((lib), (dir), (name), got_, sizeof got_);                    \
        ASSERT_EQ_STR(got_, (want));                                          \
    } while (0)

static shelf_hub_stats push(shelf_library *lib, const char *hub)
{
    shelf_hub_stats st = { .size = sizeof st };

    ASSERT_OKL(lib, shelf_sync_push(lib, hub, 0, &st));
    ASSERT_EQ_INT(st.size, sizeof st);
    return st;
}

static shelf_hub_stats pull(shelf_library *lib, const char *hub)
{
    shelf_hub_stats st = { .size = sizeof st };

    ASSERT_OKL(lib, shelf_sync_pull(lib, hub, 0, &st));
    return st;
}

/* The one segment file of device id on the hub (the newest when several:
 * the names sort by counter). */
static void seg_of(const char *hub, const char *id, char *out, size_t n)
{
    char dir[PATH_MAX], best[256] = "";
    struct dirent *de;
    DIR *d;

    test_pathf(dir, sizeof dir, "%s/devices/%s/log", hub, id);
    ASSERT((d = opendir(dir)) != NULL);
    while ((de = readdir(d)))
        if (strstr(de->d_name, ".seg") && strcmp(de->d_name, best) > 0)
            snprintf(best, sizeof best, "%s", de->d_name);
    closedir(d);
    ASSERT(best[0]);
    test_pathf(out, n, "%s/%s", dir, best);
}

/* Three devices that meet only at the hub end the same; an empty round
 * moves nothing; the layout is doc/formats.md's. */
TEST(three_devices_through_a_folder)
{
    const char *dir = test_tmpdir();
    char hub[PATH_MAX], p[PATH_MAX], ia[SHELF_DEVICE_ID_LEN + 1];
    shelf_library *a = test_device_at(dir, "a"), *b = test_device_at(dir, "b"),
                  *c = test_device_at(dir, "c");
    shelf_hub_stats st;

    test_pathf(hub, sizeof hub, "%s/hub 🎛", dir);
    pair(a, b);
    pair(a, c);
    pair(b, c);
    share_key(a, b);
    share_key(a, c);
    ASSERT_OKL(a, shelf_tag_add(a, id_at(a, dir, "kick é.wav"), "dark"));
    st = push(a, hub);
    ASSERT(st.pushed >= 4);     /* three samples and a tag */
    ASSERT_EQ_INT(st.segments_out, 1);
    test_device_id(a, ia);
    test_pathf(p, sizeof p, "%s/devices/%s/cert.pem", hub, ia);
    ASSERT(test_exists(p));
    ASSERT_EQ_INT(shelf_sync_push(a, hub, 0x100, NULL), SHELF_EINVAL);
    /* nothing new: nothing written */
    st = push(a, hub);
    ASSERT_EQ_INT(st.pushed, 0);
    ASSERT_EQ_INT(st.segments_out, 0);

    st = pull(b, hub);
    ASSERT_EQ_INT(st.devices, 1);
    ASSERT_EQ_INT(st.segments_in, 1);
    ASSERT(st.applied >= 1);
    ASSERT_STATE(b, dir, "kick é.wav", "dark|0");
    ASSERT_OKL(b, shelf_rate(b, id_at(b, dir, "snare 🥁.wav"), 4));
    ASSERT_OKL(b, shelf_tag_add(b, id_at(b, dir, "kick é.wav"), "live"));
    push(b, hub);
    pull(c, hub);
    ASSERT_STATE(c, dir, "kick é.wav", "dark live|0");
    ASSERT_OKL(c, shelf_tag_remove(c, id_at(c, dir, "kick é.wav"), "dark"));
    push(c, hub);

    pull(a, hub);
    pull(b, hub);
    st = pull(c, hub);
    ASSERT_EQ_INT(st.devices, 2);
    pull(a, hub);
    ASSERT_STATE(a, dir, "kick é.wav", "live|0");
    ASSERT_STATE(b, dir, "kick é.wav", "live|0");
    ASSERT_STATE(c, dir, "kick é.wav", "live|0");
    ASSERT_STATE(a, dir, "snare 🥁.wav", "|4");
    ASSERT_STATE(c, dir, "snare 🥁.wav", "|4");
    /* a round with nothing new reads no segment */
    st = pull(b, hub);
    ASSERT_EQ_INT(st.segments_in, 0);
    ASSERT_EQ_INT(st.pulled, 0);
    shelf_library_close(a);
    shelf_library_close(b);
    shelf_library_close(c);
}

static void copy_file(const char *from, const char *to)
{
    size_t n = 0;
    char *data = test_read_file(from, &n);

    test_write_file(to, data, n);
    free(data);
}

/* b's pull of the hub fails with want and changes nothing. */
static void pull_refused(shelf_library *b, const char *hub, int want, const char *words,
                         const char *dir)
{
    shelf_hub_stats st = { .size = sizeof st };
    int rc = shelf_sync_pull(b, hub, 0, &st);

    if (rc != want || !strstr(shelf_errmsg(b), words))
        fprintf(stderr, "message: %s; %lld devices, %lld segments, %lld strangers\n",
                shelf_errmsg(b), (long long)st.devices, (long long)st.segments_in,
                (long long)st.strangers);
    ASSERT_EQ_INT(rc, want);
    ASSERT(strstr(shelf_errmsg(b), words) != NULL);
    ASSERT_EQ_INT(st.applied, 0);
    ASSERT_STATE(b, dir, "kick é.wav", "|0");
}

TEST(tampering_is_refused)
{
    const char *dir = test_tmpdir();
    char hub[PATH_MAX], seg[PATH_MAX], keep[PATH_MAX], other[PATH_MAX], p[PATH_MAX];
    char ia[SHELF_DEVICE_ID_LEN + 1], ic[SHELF_DEVICE_ID_LEN + 1];
    shelf_library *a = test_device_at(dir, "a"), *b = test_device_at(dir, "b"),
                  *c = test_device_at(dir, "c");
    unsigned char *data;
    size_t n = 0;

    test_pathf(hub, sizeof hub, "%s/hub", dir);
    pair(a, b);
    pair(b, c);
    share_key(a, b);
    share_key(a, c);
    test_device_id(a, ia);
    test_device_id(c, ic);
    ASSERT_OKL(a, shelf_tag_add(a, id_at(a, dir, "kick é.wav"), "dark"));
    push(a, hub);
    push(c, hub);
    seg_of(hub, ia, seg, sizeof seg);
    test_pathf(keep, sizeof keep, "%s/keep.seg", dir);
    copy_file(seg, keep);

    /* one byte changed, anywhere: the signature fails */
    data = (unsigned char *)test_read_file(seg, &n);
    data[n / 2] ^= 1;
    test_write_file(seg, data, n);
    pull_refused(b, hub, SHELF_ECORRUPT, "not signed by its device", dir);
    /* cut short */
    test_write_file(seg, data, n - 10);
    pull_refused(b, hub, SHELF_ECORRUPT, "not signed", dir);
    test_write_file(seg, data, 20);
    pull_refused(b, hub, SHELF_EFORMAT, "too short", dir);
    free(data);
    /* the same segment under another name (a replay as later changes) */
    ASSERT(unlink(seg) == 0);
    test_pathf(other, sizeof other, "%s/devices/%s/log/0000000000000001-0000000000000005.seg",
               hub, ia);
    copy_file(keep, other);
    pull_refused(b, hub, SHELF_ECORRUPT, "not signed", dir);
    ASSERT(unlink(other) == 0);
    /* a's segment in c's folder: signed by a, not c */
    test_pathf(other, sizeof other, "%s/devices/%s/log/%s", hub, ic, strrchr(seg, '/') + 1);
    copy_file(keep, other);
    copy_file(keep, seg);
    pull_refused(b, hub, SHELF_ECORRUPT, "not signed", dir);
    ASSERT(unlink(other) == 0);
    /* c's certificate in a's folder */
    test_pathf(p, sizeof p, "%s/devices/%s/cert.pem", hub, ia);
    test_pathf(other, sizeof other, "%s/devices/%s/cert.pem", hub, ic);
    test_pathf(keep, sizeof keep, "%s/keep.pem", dir);
    copy_file(p, keep);
    copy_file(other, p);
    pull_refused(b, hub, SHELF_ECORRUPT, "certificate", dir);
    copy_file(keep, p);
    /* back as it was: b takes it */
    pull(b, hub);
    ASSERT_STATE(b, dir, "kick é.wav", "dark|0");
    shelf_library_close(a);
    shelf_library_close(b);
    shelf_library_close(c);
}

/* A key b does not hold, another key of the same generation, a segment
 * missing from the middle, a device not paired here. */
TEST(keys_gaps_and_strangers)
{
    const char *dir = test_tmpdir();
    char hub[PATH_MAX], seg[PATH_MAX], ia[SHELF_DEVICE_ID_LEN + 1];
    shelf_library *a = test_device_at(dir, "a"), *b = test_device_at(dir, "b"),
                  *d = test_device_at(dir, "d");
    unsigned char key[SHELF__LIBKEY_LEN];
    shelf_hub_stats st;
    int64_t gen;

    test_pathf(hub, sizeof hub, "%s/hub", dir);
    pair(a, b);
    test_device_id(a, ia);
    /* b made a key of its own: a's segment does not open */
    ASSERT_OKL(b, shelf__libkey(b, 0, &gen, key));
    ASSERT_EQ_INT(gen, 1);
    push(a, hub);
    pull_refused(b, hub, SHELF_ECORRUPT, "does not open with library key 1", dir);
    ASSERT_EQ_INT(shelf__query_int(b, "SELECT count(*) FROM sync_keys", NULL, &gen), SHELF_OK);
    ASSERT_OKL(b, shelf__exec(b, "DELETE FROM sync_keys"));
    share_key(a, b);
    pull(b, hub);
    /* a rotates; its push wraps generation 2 for b; without that wrapped
     * key b cannot read the new segment */
    ASSERT_OKL(a, shelf__libkey_rotate(a, &gen));
    ASSERT_EQ_INT(gen, 2);
    ASSERT_OKL(a, shelf_tag_add(a, id_at(a, dir, "kick é.wav"), "one"));
    ASSERT(push(a, hub).keys_out >= 1);
    {
        char wrapped[PATH_MAX], ib[SHELF_DEVICE_ID_LEN + 1];

        test_device_id(b, ib);
        test_pathf(wrapped, sizeof wrapped, "%s/devices/%s/keys/0000000002-%s.key", hub, ia, ib);
        ASSERT(unlink(wrapped) == 0);
    }
    ASSERT_EQ_INT(shelf_sync_pull(b, hub, 0, NULL), SHELF_EPERM);
    ASSERT(strstr(shelf_errmsg(b), "library key 2") != NULL);
    st = push(a, hub);          /* wraps it again: it is gone from the hub */
    ASSERT_EQ_INT(st.keys_out, 1);
    st = pull(b, hub);
    ASSERT_EQ_INT(st.keys_in, 1);
    /* a segment gone from the middle */
    ASSERT_OKL(a, shelf_tag_add(a, id_at(a, dir, "kick é.wav"), "two"));
    push(a, hub);
    ASSERT_OKL(a, shelf_tag_add(a, id_at(a, dir, "kick é.wav"), "three"));
    push(a, hub);
    seg_of(hub, ia, seg, sizeof seg);
    {
        char *dot = strrchr(seg, '/') + 1, mid[PATH_MAX];
        long long f = strtoll(dot, NULL, 10);

        ASSERT(f > 1);
        /* the one before the newest */
        test_pathf(mid, sizeof mid, "%.*s%016lld-%016lld.seg", (int)(dot - seg), seg, f - 1,
                   f - 1);
        ASSERT(unlink(mid) == 0);
    }
    {
        shelf_hub_stats gst = { .size = sizeof gst };

        ASSERT_EQ_INT(shelf_sync_pull(b, hub, 0, &gst), SHELF_EFORMAT);
        ASSERT(strstr(shelf_errmsg(b), "lacks changes") != NULL);
        ASSERT_EQ_INT(gst.applied, 0);
        ASSERT_STATE(b, dir, "kick é.wav", "one|0");
    }
    /* a device not paired with b: its folder is ignored */
    push(d, hub);
    ASSERT_OKL(a, shelf_tag_add(a, id_at(a, dir, "hat \xff.wav"), "x"));
    st = pull(a, hub);
    ASSERT_EQ_INT(st.strangers, 1);     /* d */
    ASSERT_EQ_INT(st.devices, 1);       /* b: its keys, no segment */
    ASSERT_EQ_INT(st.pulled, 0);
    {
        char id[SHELF_DEVICE_ID_LEN + 1];
        int64_t held = -1;

        test_device_id(d, id);
        ASSERT_OKL(a, shelf__query_int(a, "SELECT count(*) FROM changes WHERE device = ?1", id,
                                       &held));
        ASSERT_EQ_INT(held, 0);
    }
    shelf_library_close(a);
    shelf_library_close(b);
    shelf_library_close(d);
}

/* Devices paired the Syncthing way (no invitation) get the library key
 * through the hub: the device that made it wraps it for each device paired
 * with it once that device has published its key-exchange key; a device
 * revoked there gets no generation made after. */
TEST(keys_travel_through_the_hub)
{
    const char *dir = test_tmpdir();
    char hub[PATH_MAX], p[PATH_MAX], ia[SHELF_DEVICE_ID_LEN + 1], ic[SHELF_DEVICE_ID_LEN + 1];
    shelf_library *a = test_device_at(dir, "a"), *b = test_device_at(dir, "b"),
                  *c = test_device_at(dir, "c");
    shelf_hub_stats st = { .size = sizeof st };
    unsigned char key[SHELF__LIBKEY_LEN], kb[SHELF__LIBKEY_LEN];
    int64_t gen = 0, g;

    test_pathf(hub, sizeof hub, "%s/hub", dir);
    pair(a, b);
    pair(a, c);
    test_device_id(a, ia);
    test_device_id(c, ic);
    ASSERT_OKL(a, shelf_tag_add(a, id_at(a, dir, "kick é.wav"), "first"));
    st = push(a, hub);                          /* makes generation 1 */
    ASSERT_EQ_INT(st.keys_out, 0);              /* nobody has a key-exchange key yet */
    /* b cannot read a's segment yet, but publishes what a needs */
    ASSERT_EQ_INT(shelf_sync_pull(b, hub, 0, &st), SHELF_EPERM);
    ASSERT(strstr(shelf_errmsg(b), "wraps it for this one at its next push") != NULL);
    ASSERT_STATE(b, dir, "kick é.wav", "|0");
    /* b may not make a key of its own while a's segments wait for it */
    ASSERT_EQ_INT(shelf_sync_push(b, hub, 0, &st), SHELF_EPERM);
    ASSERT(strstr(shelf_errmsg(b), "does not hold the library key yet") != NULL);
    ASSERT_EQ_INT(shelf__query_int(b, "SELECT count(*) FROM sync_keys", NULL, &g), SHELF_OK);
    ASSERT_EQ_INT(g, 0);
    ASSERT_EQ_INT(shelf_sync_pull(c, hub, 0, NULL), SHELF_EPERM);   /* publishes too */
    st = push(a, hub);
    ASSERT_EQ_INT(st.keys_out, 2);              /* generation 1 for b and for c */
    st = pull(b, hub);
    ASSERT_EQ_INT(st.keys_in, 1);
    ASSERT_STATE(b, dir, "kick é.wav", "first|0");
    ASSERT_OKL(a, shelf__libkey(a, 1, &g, key));
    ASSERT_OKL(b, shelf__libkey(b, 1, &g, kb));
    ASSERT(memcmp(key, kb, sizeof key) == 0);
    /* b pushes with a's key and wraps nothing (it made no generation) */
    ASSERT_OKL(b, shelf_rate(b, id_at(b, dir, "snare 🥁.wav"), 3));
    st = push(b, hub);
    ASSERT_EQ_INT(st.keys_out, 0);
    pull(a, hub);
    ASSERT_STATE(a, dir, "snare 🥁.wav", "|3");

    /* a revokes c: the next generation is wrapped for b only */
    ASSERT_OKL(a, shelf_device_remove(a, ic));
    ASSERT_OKL(a, shelf__libkey(a, 0, &gen, key));
    if (gen == 1)       /* removing did not rotate it: rotate here */
        ASSERT_OKL(a, shelf__libkey_rotate(a, &gen));
    ASSERT_OKL(a, shelf_tag_add(a, id_at(a, dir, "kick é.wav"), "after"));
    st = push(a, hub);
    ASSERT_EQ_INT(st.keys_out, 1);
    test_pathf(p, sizeof p, "%s/devices/%s/keys/%010lld-%s.key", hub, ia, (long long)gen, ic);
    ASSERT(!test_exists(p));
    st = pull(b, hub);
    ASSERT_EQ_INT(st.keys_in, 1);
    ASSERT_STATE(b, dir, "kick é.wav", "after first|0");
    ASSERT_EQ_INT(shelf_sync_pull(c, hub, 0, NULL), SHELF_EPERM);
    ASSERT(strstr(shelf_errmsg(c), "library key") != NULL);
    shelf_library_close(a);
    shelf_library_close(b);
    shelf_library_close(c);
}

/* Patch histories travel through a hub like any record: a patch made on
 * a with three versions arrives whole on b, and edits of different values
 * on both merge into the same head on both. */
TEST(patch_histories_through_the_hub)
{
    const char *dir = test_tmpdir();
    char hub[PATH_MAX], *da = NULL, *db = NULL;
    shelf_library *a = test_device_at(dir, "a"), *b = test_device_at(dir, "b");
    int64_t id = 0, idb = 0, seq = 0;

    test_pathf(hub, sizeof hub, "%s/hub", dir);
    pair(a, b);
    share_key(a, b);
    ASSERT_OKL(a, shelf_doc_create(a, SHELF_DOC_PATCH,
                                   "{\"shelf_patch\":1,\"name\":\"pad é 🎹\",\"params\":"
                                   "{\"cutoff\":1,\"res\":1}}", NULL, &id));
    ASSERT_OKL(a, shelf_doc_set(a, SHELF_DOC_PATCH, id, "params/cutoff", "2", NULL, &seq));
    push(a, hub);
    pull(b, hub);
    ASSERT_OKL(b, shelf__query_int(b, "SELECT id FROM patches WHERE name = ?1", "pad é 🎹", &idb));
    ASSERT(idb > 0);
    ASSERT_OKL(a, shelf_doc_set(a, SHELF_DOC_PATCH, id, "params/cutoff", "3", NULL, &seq));
    ASSERT_OKL(b, shelf_doc_set(b, SHELF_DOC_PATCH, idb, "params/res", "9", NULL, &seq));
    push(a, hub);
    push(b, hub);
    pull(a, hub);
    pull(b, hub);
    push(a, hub);       /* a's merge, if it made one first, goes to b */
    push(b, hub);
    pull(a, hub);
    pull(b, hub);
    ASSERT_OKL(a, shelf_doc_get(a, SHELF_DOC_PATCH, id, 0, &da));
    ASSERT_OKL(b, shelf_doc_get(b, SHELF_DOC_PATCH, idb, 0, &db));
    ASSERT_EQ_STR(da, db);
    ASSERT(strstr(da, "\"cutoff\":3") && strstr(da, "\"res\":9"));
    shelf_free(da);
    shelf_free(db);
    shelf_library_close(a);
    shelf_library_close(b);
}

/* Forty more sample rows, the same on every library (by their bytes). */
static void bulk_rows(shelf_library *lib)
{
    ASSERT_OKL(lib, shelf__exec(lib,
        "WITH RECURSIVE i(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM i WHERE k < 40) "
        "INSERT INTO samples(name, root_id, relpath, size, mtime_ns, sha256, format, rate, "
        "channels, frames, duration, bits, created) SELECT 'bulk ' || k, 1, 'bulk/' || k, 100, 0, "
        "printf('%064x', k), 'WAV', 44100, 1, 10, 0.01, 16, 1700000000 FROM i"));
}

static int64_t samples_of(shelf_library *lib)
{
    int64_t n = -1;

    ASSERT_OKL(lib, shelf__query_int(lib, "SELECT count(*) FROM samples", NULL, &n));
    return n;
}

/* A run that would remove more than half of the samples here stops and
 * says what --max-delete would allow it; with that share it goes on. */
TEST(max_delete_stops_a_mass_removal)
{
    const char *dir = test_tmpdir();
    char hub[PATH_MAX];
    shelf_library *a = test_device_at(dir, "a"), *b = test_device_at(dir, "b");
    shelf_hub_stats st = { .size = sizeof st };

    test_pathf(hub, sizeof hub, "%s/hub", dir);
    pair(a, b);
    share_key(a, b);
    bulk_rows(a);
    bulk_rows(b);
    push(a, hub);
    pull(b, hub);
    ASSERT_EQ_INT(samples_of(b), 43);
    /* a sees b's own records of the rows first (a removal of what it had
     * not seen would lose to them) */
    push(b, hub);
    pull(a, hub);
    /* 30 of 43 removed on a: 70% */
    ASSERT_OKL(a, shelf__exec(a, "DELETE FROM samples WHERE name LIKE 'bulk %' AND "
                                 "CAST(substr(name, 6) AS INTEGER) <= 30"));
    push(a, hub);
    ASSERT_EQ_INT(shelf_sync_pull(b, hub, 0, &st), SHELF_EPERM);
    ASSERT(strstr(shelf_errmsg(b), "would remove 11 of the 43 samples") ||
           strstr(shelf_errmsg(b), "of the 43 samples here, more than 50%"));
    ASSERT(strstr(shelf_errmsg(b), "--max-delete") != NULL);
    ASSERT_EQ_INT(samples_of(b), 43);
    ASSERT_EQ_INT(shelf_sync_set_max_delete(b, 0), SHELF_EINVAL);
    ASSERT_OKL(b, shelf_sync_set_max_delete(b, 70));
    pull(b, hub);
    ASSERT_EQ_INT(samples_of(b), 13);
    shelf_library_close(a);
    shelf_library_close(b);
}

static int count_segments(const char *hub, const char *id)
{
    char dir[PATH_MAX];
    struct dirent *de;
    int n = 0;
    DIR *d;

    test_pathf(dir, sizeof dir, "%s/devices/%s/log", hub, id);
    ASSERT((d = opendir(dir)) != NULL);
    while ((de = readdir(d)))
        n += strstr(de->d_name, ".seg") != NULL;
    closedir(d);
    return n;
}

/* A device that pushes after every change (sync watch) does not leave a
 * segment per change for ever: past 32, runs of small ones are rewritten
 * as one; devices that pulled before and after read the same. */
TEST(small_segments_are_compacted)
{
    const char *dir = test_tmpdir();
    char hub[PATH_MAX], ia[SHELF_DEVICE_ID_LEN + 1], tag[16];
    shelf_library *a = test_device_at(dir, "a"), *b = test_device_at(dir, "b"),
                  *c = test_device_at(dir, "c");
    shelf_hub_stats st;
    int i, compacted = 0;

    test_pathf(hub, sizeof hub, "%s/hub", dir);
    pair(a, b);
    pair(a, c);
    share_key(a, b);
    share_key(a, c);
    test_device_id(a, ia);
    for (i = 0; i < 40; i++) {
        snprintf(tag, sizeof tag, "t%02d", i);
        ASSERT_OKL(a, shelf_tag_add(a, id_at(a, dir, "hat \xff.wav"), tag));
        st = push(a, hub);
        ASSERT_EQ_INT(st.pushed, i == 0 ? 4 : 1);
        compacted += (int)st.compacted;
        if (i == 20)
            pull(b, hub);       /* b reads half before the compaction */
    }
    ASSERT(compacted >= 32);
    ASSERT(count_segments(hub, ia) < 10);
    st = pull(b, hub);
    ASSERT(st.pulled >= 19);
    st = pull(c, hub);
    ASSERT_EQ_INT(st.pulled, 40 + 3);
    {
        char sa[1024], sb[1024], sc[1024];

        state_of(a, dir, "hat \xff.wav", sa, sizeof sa);
        state_of(b, dir, "hat \xff.wav", sb, sizeof sb);
        state_of(c, dir, "hat \xff.wav", sc, sizeof sc);
        ASSERT_EQ_STR(sb, sa);
        ASSERT_EQ_STR(sc, sa);
        ASSERT(strstr(sa, "t39") != NULL);
    }
    shelf_library_close(a);
    shelf_library_close(b);
    shelf_library_close(c);
}

/* A copy of a library (same identity) that pushes after the original: its
 * count is behind the hub's, and it is refused instead of writing changes
 * under numbers the hub holds. */
TEST(a_copy_is_refused)
{
    const char *dir = test_tmpdir();
    char hub[PATH_MAX], from[PATH_MAX], to[PATH_MAX], cmd[3 * PATH_MAX];
    shelf_library *a = test_device_at(dir, "a"), *copy;
    shelf_hub_stats st = { .size = sizeof st };

    test_pathf(hub, sizeof hub, "%s/hub", dir);
    push(a, hub);
    shelf_library_close(a);
    test_pathf(from, sizeof from, "%s/a", dir);
    test_pathf(to, sizeof to, "%s/copy", dir);
    snprintf(cmd, sizeof cmd, "cp -a '%s' '%s'", from, to);
    ASSERT_EQ_INT(system(cmd), 0);
    a = test_lib_open(from, 0);
    copy = test_lib_open(to, 0);
    ASSERT_OKL(a, shelf_tag_add(a, id_at(a, dir, "kick é.wav"), "one"));
    ASSERT_OKL(a, shelf_tag_add(a, id_at(a, dir, "kick é.wav"), "two"));
    push(a, hub);
    ASSERT_OKL(copy, shelf_tag_add(copy, id_at(copy, dir, "kick é.wav"), "three"));
    ASSERT_EQ_INT(shelf_sync_push(copy, hub, 0, &st), SHELF_EPERM);
    ASSERT(strstr(shelf_errmsg(copy), "another copy of this library") != NULL);
    ASSERT_EQ_INT(st.segments_out, 0);
    shelf_library_close(a);
    shelf_library_close(copy);
}

/* An SQL count on lib. */
static int64_t count_of(shelf_library *lib, const char *sql)
{
    int64_t n = -1;

    ASSERT_OKL(lib, shelf__query_int(lib, sql, NULL, &n));
    return n;
}

/* A file of its own bytes: a WAV of frames frames, seed seed. */
static void wav_at(const char *path, unsigned frames, unsigned seed)
{
    ASSERT_EQ_INT(tg_write_simple(path, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 44100, 1, frames, seed),
                  0);
}

/* The paths of up to two sample-file objects on hub (files/xx/...),
 * into out[0] and out[1] ("" when fewer). */
static void hub_files(const char *hub, char out[2][PATH_MAX])
{
    char p[PATH_MAX], sub[PATH_MAX];
    struct dirent *de, *f;
    DIR *d, *e;
    int k = 0;

    out[0][0] = out[1][0] = '\0';
    test_pathf(p, sizeof p, "%s/files", hub);
    ASSERT((d = opendir(p)) != NULL);
    while ((de = readdir(d)))
        if (de->d_name[0] != '.') {
            test_pathf(sub, sizeof sub, "%s/%s", p, de->d_name);
            ASSERT((e = opendir(sub)) != NULL);
            while ((f = readdir(e)))
                if (f->d_name[0] != '.' && k < 2)
                    test_pathf(out[k++], PATH_MAX, "%s/%s", sub, f->d_name);
            closedir(e);
        }
    closedir(d);
}

/* Samples a device has never seen arrive as rows at once, missing; the
 * copies of managed ones follow into the store; referenced files only
 * with SHELF_SYNC_FILES_ALL, into the sync folder under their paths
 * (names not UTF-8, with a newline); two samples of one name get two
 * names; a file on the hub changed, or swapped for another's, is refused
 * and nothing of it is kept. */
TEST(sample_files_through_the_hub)
{
    const char *dir = test_tmpdir();
    char hub[PATH_MAX], src[PATH_MAX], other[PATH_MAX], p[PATH_MAX], q[PATH_MAX];
    char objs[2][PATH_MAX];
    const char *paths[1] = { src };
    shelf_import_opts copy = { .size = sizeof copy, .flags = SHELF_IMPORT_COPY };
    shelf_library *a, *b, *c;
    shelf_verify_stats vs = { .size = sizeof vs };
    shelf_hub_stats st;
    size_t n0, n1;
    char *x, *y;

    test_pathf(hub, sizeof hub, "%s/hub", dir);
    test_pathf(src, sizeof src, "%s/managed \xe9", dir);
    test_pathf(other, sizeof other, "%s/referenced", dir);
    ASSERT(mkdir(src, 0777) == 0 && mkdir(other, 0777) == 0);
    test_pathf(p, sizeof p, "%s/kick \xff.wav", src);
    wav_at(p, 4410, 1);
    test_pathf(p, sizeof p, "%s/pad\nnew line 🎹.wav", src);
    wav_at(p, 8820, 2);
    test_pathf(p, sizeof p, "%s/kick \xff.wav", other);    /* one name, other audio */
    wav_at(p, 2205, 3);
    test_pathf(p, sizeof p, "%s/a", dir);
    a = test_lib_open(p, SHELF_OPEN_CREATE);
    test_pathf(p, sizeof p, "%s/b", dir);
    b = test_lib_open(p, SHELF_OPEN_CREATE);
    test_pathf(p, sizeof p, "%s/c", dir);
    c = test_lib_open(p, SHELF_OPEN_CREATE);
    ASSERT_OKL(a, shelf_import(a, paths, 1, &copy, NULL));
    paths[0] = other;
    ASSERT_OKL(a, shelf_import(a, paths, 1, NULL, NULL));
    pair(a, b);
    pair(a, c);
    share_key(a, b);
    share_key(a, c);

    st = push(a, hub);
    ASSERT_EQ_INT(st.files_out, 2);             /* the managed copies only */
    st = pull(b, hub);
    ASSERT_EQ_INT(st.files_in, 2);
    ASSERT_EQ_INT(st.files_waiting, 0);
    ASSERT_EQ_INT(count_of(b, "SELECT count(*) FROM samples"), 3);
    ASSERT_EQ_INT(count_of(b, "SELECT count(*) FROM samples WHERE missing"), 1);
    ASSERT_EQ_INT(count_of(b, "SELECT count(*) FROM samples WHERE blob IS NOT NULL AND NOT "
                              "missing"), 2);
    /* the copies are the bytes, and check says so */
    ASSERT_OKL(b, shelf_verify(b, NULL, NULL, NULL, &vs));
    ASSERT_EQ_INT(vs.missing, 1);
    ASSERT_EQ_INT(vs.corrupt + vs.changed, 0);
    /* one name, two samples: two rows, the second named by its hash */
    ASSERT_EQ_INT(count_of(b, "SELECT count(*) FROM samples WHERE name = 'kick \xff' AND "
                              "relpath LIKE 'kick \xff (%).wav'"), 1);
    st = pull(b, hub);
    ASSERT_EQ_INT(st.files_in + st.files_waiting, 0);

    /* files too: the referenced one travels once a has pushed it */
    ASSERT_OKL(a, shelf_sync_set_files(a, SHELF_SYNC_FILES_ALL));
    ASSERT_OKL(b, shelf_sync_set_files(b, SHELF_SYNC_FILES_ALL));
    ASSERT_OKL(a, shelf_tag_add(a, 1, "new"));  /* a record to push */
    st = pull(b, hub);
    ASSERT_EQ_INT(st.files_waiting, 1);         /* a pushed records but not the file */
    ASSERT_OKL(c, shelf_sync_set_files(c, SHELF_SYNC_FILES_NONE));
    st = pull(c, hub);
    ASSERT_EQ_INT(st.files_in, 0);
    ASSERT_EQ_INT(count_of(c, "SELECT count(*) FROM samples WHERE missing"), 3);

    /* a byte of a file on the hub changed: refused, c keeps nothing */
    ASSERT_OKL(c, shelf_sync_set_files(c, SHELF_SYNC_FILES_MANAGED));
    hub_files(hub, objs);
    ASSERT(objs[0][0] && objs[1][0]);
    snprintf(q, sizeof q, "%s", objs[0]);
    x = test_read_file(q, &n0);
    x[n0 / 2] ^= 1;
    test_write_file(q, x, n0);
    ASSERT_EQ_INT(shelf_sync_pull(c, hub, 0, NULL), SHELF_ECORRUPT);
    ASSERT(strstr(shelf_errmsg(c), "does not open with library key") != NULL);
    x[n0 / 2] ^= 1;
    test_write_file(q, x, n0);
    /* swapped for the other file's object: opens, but is not its bytes */
    {
        const char *r = objs[1];

        y = test_read_file(r, &n1);
        test_write_file(q, y, n1);
        ASSERT_EQ_INT(shelf_sync_pull(c, hub, 0, NULL), SHELF_ECORRUPT);
        ASSERT(strstr(shelf_errmsg(c), "are another's") != NULL);
        test_write_file(q, x, n0);
        free(y);
    }
    free(x);
    /* the good file may have come; the bad one never did */
    ASSERT(count_of(c, "SELECT count(*) FROM samples WHERE NOT missing") < 2);
    st = pull(c, hub);
    ASSERT_EQ_INT(count_of(c, "SELECT count(*) FROM samples WHERE NOT missing"), 2);

    /* a pushes the referenced file now; b takes it into its sync folder */
    ASSERT_OKL(a, shelf_tag_add(a, 1, "newer"));
    ASSERT_OKL(a, shelf_sync_set_files(a, SHELF_SYNC_FILES_ALL));
    {
        /* an old record is not pushed again: the referenced sample's own
         * record is, when the file changes; here a fresh import of it */
        char moved[PATH_MAX];

        test_pathf(moved, sizeof moved, "%s/referenced/kick2 \xff.wav", dir);
        wav_at(moved, 1000, 9);
        paths[0] = other;
        ASSERT_OKL(a, shelf_import(a, paths, 1, NULL, NULL));
    }
    st = push(a, hub);
    ASSERT_EQ_INT(st.files_out, 1);
    st = pull(b, hub);
    ASSERT_EQ_INT(st.files_in, 1);
    test_pathf(p, sizeof p, "%s/b/synced/kick2 \xff.wav", dir);
    test_pathf(q, sizeof q, "%s/referenced/kick2 \xff.wav", dir);
    x = test_read_file(p, &n0);
    y = test_read_file(q, &n1);
    ASSERT(n0 == n1 && memcmp(x, y, n0) == 0);
    free(x);
    free(y);
    shelf_library_close(a);
    shelf_library_close(b);
    shelf_library_close(c);
}

/* How many of device id's segments on the folder hub hold needle in
 * their plaintext (opened with lib's library key, checked against the
 * device's certificate on the hub). */
static int segs_holding(shelf_library *lib, const char *hub, const char *id, const char *needle)
{
    char dir[PATH_MAX], p[PATH_MAX], name[PATH_MAX];
    unsigned char key[SHELF__LIBKEY_LEN];
    shelf__buf plain = SHELF__BUF_INIT;
    shelf__err e = { 0, "" };
    EVP_PKEY *signer = NULL;
    struct dirent *de;
    size_t n, pn;
    char *data, *pem;
    int found = 0;
    int64_t gen, got;
    DIR *d;

    test_pathf(p, sizeof p, "%s/devices/%s/cert.pem", hub, id);
    ASSERT((pem = test_read_file(p, &pn)) != NULL);
    ASSERT_EQ_INT(shelf__seg_signer(&e, id, pem, pn, &signer), 0);
    free(pem);
    test_pathf(dir, sizeof dir, "%s/devices/%s/log", hub, id);
    ASSERT((d = opendir(dir)) != NULL);
    while ((de = readdir(d))) {
        if (!strstr(de->d_name, ".seg"))
            continue;
        test_pathf(p, sizeof p, "%s/%s", dir, de->d_name);
        snprintf(name, sizeof name, "devices/%s/log/%s", id, de->d_name);
        ASSERT((data = test_read_file(p, &n)) != NULL);
        ASSERT_EQ_INT(shelf__seg_gen(&e, name, (unsigned char *)data, n, &gen), 0);
        ASSERT_OKL(lib, shelf__libkey(lib, gen, &got, key));
        ASSERT_EQ_INT(shelf__seg_open(&e, name, (unsigned char *)data, n, signer, key, &plain), 0);
        found += memmem(plain.buf, plain.len, needle, strlen(needle)) != NULL;
        free(data);
    }
    closedir(d);
    shelf__buf_release(&plain);
    EVP_PKEY_free(signer);
    return found;
}

/* A purge leaves nothing of the item in the hub's segments: the device
 * that purged and the one that applied its tombstone each write their own
 * segments again without the emptied records (one of several records,
 * ones of a single record next to others), and a device that comes later
 * finds nothing of it. */
TEST(purge_scrubs_the_hub)
{
    const char *dir = test_tmpdir();
    char hub[PATH_MAX], ia[SHELF_DEVICE_ID_LEN + 1], ib[SHELF_DEVICE_ID_LEN + 1];
    shelf_library *a = test_device_at(dir, "a"), *b = test_device_at(dir, "b"), *c;
    shelf_purge_opts o = { .size = sizeof o };
    shelf_hub_stats st;
    int kind = SHELF_PURGE_SAMPLE;
    int64_t id;

    test_pathf(hub, sizeof hub, "%s/hub", dir);
    pair(a, b);
    share_key(a, b);
    test_device_id(a, ia);
    test_device_id(b, ib);
    push(a, hub);
    ASSERT_OKL(a, shelf_tag_add(a, id_at(a, dir, "kick é.wav"), "zqx-hub-secret"));
    push(a, hub);                                   /* a segment of one record */
    ASSERT_OKL(a, shelf_tag_add(a, id_at(a, dir, "snare 🥁.wav"), "keep-one"));
    push(a, hub);
    ASSERT_OKL(a, shelf_tag_add(a, id_at(a, dir, "kick é.wav"), "zqx-hub-second"));
    ASSERT_OKL(a, shelf_tag_add(a, id_at(a, dir, "hat \xff.wav"), "keep-two"));
    push(a, hub);                                   /* two records, the first emptied */
    pull(b, hub);
    ASSERT_OKL(b, shelf_rate(b, id_at(b, dir, "kick é.wav"), 3));
    ASSERT_OKL(b, shelf_tag_add(b, id_at(b, dir, "kick é.wav"), "zqx-hub-third"));
    push(b, hub);
    /* the check below finds what is there */
    ASSERT_EQ_INT(segs_holding(a, hub, ia, "zqx-hub-secret"), 1);
    ASSERT_EQ_INT(segs_holding(a, hub, ia, "zqx-hub-second"), 1);
    ASSERT_EQ_INT(segs_holding(a, hub, ib, "zqx-hub-third"), 1);
    ASSERT(segs_holding(a, hub, ia, "kick \xc3\xa9") >= 1);

    pull(a, hub);
    id = id_at(a, dir, "kick é.wav");
    ASSERT_OKL(a, shelf_purge(a, &kind, &id, 1, &o, NULL));
    st = push(a, hub);
    ASSERT(st.scrubbed >= 2);
    ASSERT_EQ_INT(segs_holding(a, hub, ia, "zqx-hub-secret"), 0);
    ASSERT_EQ_INT(segs_holding(a, hub, ia, "zqx-hub-second"), 0);
    ASSERT_EQ_INT(segs_holding(a, hub, ia, "kick \xc3\xa9"), 0);
    ASSERT_EQ_INT(segs_holding(a, hub, ia, "keep-one"), 1);
    ASSERT_EQ_INT(segs_holding(a, hub, ia, "keep-two"), 1);
    /* a push with nothing new purged rewrites nothing */
    st = push(a, hub);
    ASSERT_EQ_INT(st.scrubbed, 0);
    /* b hears of it, purges, and scrubs its own segments */
    pull(b, hub);
    ASSERT_EQ_INT(count_of(b, "SELECT count(*) FROM samples WHERE name = 'kick é'"), 0);
    st = push(b, hub);
    ASSERT(st.scrubbed >= 1);
    ASSERT_EQ_INT(segs_holding(a, hub, ib, "zqx-hub-third"), 0);
    ASSERT_EQ_INT(segs_holding(a, hub, ib, "kick \xc3\xa9"), 0);
    /* a device that comes now finds nothing of it, and the rest whole */
    c = test_device_at(dir, "c");
    pair(a, c);
    pair(b, c);
    share_key(a, c);
    pull(c, hub);
    ASSERT_EQ_INT(count_of(c, "SELECT count(*) FROM samples WHERE name = 'kick é'"), 0);
    ASSERT_EQ_INT(count_of(c, "SELECT count(*) FROM changes WHERE value LIKE '%zqx-hub%' OR "
                              "field LIKE '%zqx-hub%'"), 0);
    ASSERT_STATE(c, dir, "snare 🥁.wav", "keep-one|0");
    ASSERT_STATE(c, dir, "hat \xff.wav", "keep-two|0");
    shelf_library_close(a);
    shelf_library_close(b);
    shelf_library_close(c);
}

int main(int argc, char **argv)
{
    static const test_case tests[] = {
        TEST_ENTRY(three_devices_through_a_folder),
        TEST_ENTRY(tampering_is_refused),
        TEST_ENTRY(keys_gaps_and_strangers),
        TEST_ENTRY(keys_travel_through_the_hub),
        TEST_ENTRY(small_segments_are_compacted),
        TEST_ENTRY(purge_scrubs_the_hub),
        TEST_ENTRY(patch_histories_through_the_hub),
        TEST_ENTRY(max_delete_stops_a_mass_removal),
        TEST_ENTRY(a_copy_is_refused),
        TEST_ENTRY(sample_files_through_the_hub),
        TEST_END
    };

    return test_run(argc, argv, tests);
}
