/*
 * fuzz_backup.c: fuzz target for the readers of backup repository files,
 * which come from outside (a USB stick anyone may have written): the first
 * byte selects the reader, the rest is the file.
 *
 *   0  index file, decrypted (shelf__index_parse)
 *   1  pack header, decrypted (shelf__pack_header_parse)
 *   2  snapshot JSON (shelf__snap_check)
 *   3  tree JSON (shelf__tree_check)
 *   4  key file (shelf__key_unwrap with the password "pw")
 *   5  config and other checked JSON (shelf__json_checked_load)
 *   6  an encrypted object (shelf__aead_open with a fixed key)
 *
 * Invariants: what a parser accepts has the shape its users rely on (types,
 * sizes within the format's limits, offsets inside the pack); a failure is
 * one of the documented codes.  Broken invariants abort().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz_target.h"
#include "backup/backup_int.h"

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "fuzz_backup: %s:%d: invariant failed: %s\n",    \
                    __FILE__, __LINE__, #cond);                              \
            abort();                                                         \
        }                                                                    \
    } while (0)

static int on_entry(void *ud, const uint8_t pack[SHELF_HASH_BYTES],
                    const uint8_t run[SHELF__RUN_BYTES], const shelf__packent *e)
{
    CHECK(pack && run && e);
    CHECK((e->flags & 0x7f) == SHELF__BLOB_DATA || (e->flags & 0x7f) == SHELF__BLOB_TREE);
    CHECK(e->raw <= SHELF__CHUNK_MAX);
    CHECK((uint64_t)e->off + e->len <= UINT32_MAX);
    (*(size_t *)ud)++;
    return 0;
}

static void index_file(const uint8_t *p, size_t n)
{
    size_t count = 0;
    int rc = shelf__index_parse(p, n, on_entry, &count);

    CHECK(rc == SHELF_OK || rc == SHELF_EFORMAT);
    if (rc == SHELF_OK)
        CHECK(count * SHELF__INDEX_ENTRY <= n);
}

static void pack_header(const uint8_t *p, size_t n)
{
    shelf__packent *e = NULL;
    size_t count = 0, i;
    uint64_t size = n * 3, end = 0;
    int rc = shelf__pack_header_parse(p, n, size, &e, &count);

    CHECK(rc == SHELF_OK || rc == SHELF_EFORMAT || rc == SHELF_ENOMEM);
    if (rc == SHELF_OK) {
        CHECK(count == (n - 5) / SHELF__PACK_ENTRY);
        for (i = 0; i < count; i++) {
            CHECK(e[i].off == end);
            end += e[i].len;
            CHECK(end <= size);
            CHECK(e[i].raw <= SHELF__CHUNK_MAX);
        }
    } else {
        CHECK(e == NULL && count == 0);
    }
    shelf_free(e);
}

static void snapshot(const uint8_t *p, size_t n)
{
    json_t *s = json_loadb((const char *)p, n, 0, NULL);
    shelf__err err = { 0, "" };
    size_t i;
    json_t *v;

    if (!s)
        return;
    if (shelf__snap_check(s, &err) == SHELF_OK) {
        CHECK(json_is_integer(json_object_get(s, "time")));
        CHECK(strlen(json_string_value(json_object_get(s, "run"))) == 32);
        json_array_foreach(json_object_get(s, "tree"), i, v) {
            uint8_t id[SHELF_HASH_BYTES];

            CHECK(shelf__unhex(json_string_value(v), id, sizeof id) == SHELF_OK);
        }
    } else {
        CHECK(err.rc == SHELF_EFORMAT && err.msg[0] && !strchr(err.msg, '\n'));
    }
    json_decref(s);
}

static void tree(const uint8_t *p, size_t n)
{
    json_t *t = json_loadb((const char *)p, n, 0, NULL), *it, *v;
    shelf__err err = { 0, "" };
    size_t i, k;

    if (!t)
        return;
    if (shelf__tree_check(t, &err) == SHELF_OK) {
        json_array_foreach(json_object_get(t, "items"), i, it) {
            CHECK(strlen(json_string_value(json_object_get(it, "path"))) > 0);
            CHECK(strlen(json_string_value(json_object_get(it, "sha256"))) == 64);
            CHECK(json_integer_value(json_object_get(it, "size")) >= 0);
            json_array_foreach(json_object_get(it, "chunks"), k, v) {
                uint8_t id[SHELF_HASH_BYTES];

                CHECK(shelf__unhex(json_string_value(v), id, sizeof id) == SHELF_OK);
            }
        }
    } else {
        CHECK(err.rc == SHELF_EFORMAT);
    }
    json_decref(t);
}

static void key_file(const uint8_t *p, size_t n)
{
    uint8_t secret[2 * SHELF__KEY_BYTES];
    shelf__err err = { 0, "" };
    int rc = shelf__key_unwrap((const char *)p, n, "pw", secret, &err);

    CHECK(rc == SHELF_OK || rc == SHELF_EAUTH || rc == SHELF_EFORMAT || rc == SHELF_ENOMEM);
    if (rc != SHELF_OK)
        CHECK(err.msg[0] && !strchr(err.msg, '\n'));
}

static void checked_json(const uint8_t *p, size_t n)
{
    json_t *o = shelf__json_checked_load((const char *)p, n);

    if (o) {
        char *again;

        /* What loads dumps back to exactly the input. */
        CHECK(json_is_object(o));
        again = shelf__json_checked_dump(o);
        CHECK(again && strlen(again) == n && !memcmp(again, p, n));
        free(again);
    }
    json_decref(o);
}

static void sealed(const uint8_t *p, size_t n)
{
    static const uint8_t key[SHELF__KEY_BYTES] = { 1, 2, 3 };
    shelf__buf out = SHELF__BUF_INIT;
    int rc = shelf__aead_open(key, p, n, &out);

    CHECK(rc == SHELF_OK || rc == SHELF_ECORRUPT);
    if (rc == SHELF_OK)
        CHECK(out.len + SHELF__SEAL_OVERHEAD == n);
    shelf__buf_release(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    switch (data[0] % 7) {
    case 0: index_file(data + 1, size - 1); break;
    case 1: pack_header(data + 1, size - 1); break;
    case 2: snapshot(data + 1, size - 1); break;
    case 3: tree(data + 1, size - 1); break;
    case 4: key_file(data + 1, size - 1); break;
    case 5: checked_json(data + 1, size - 1); break;
    default: sealed(data + 1, size - 1); break;
    }
    return 0;
}
