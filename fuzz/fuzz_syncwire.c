/*
 * fuzz_syncwire.c: fuzz target for the messages a sync peer sends
 * (lib/sync/wire.c): shelf__wire_parse, then the hello and changes
 * readers; an input that starts as a zstd frame is inflated first
 * (shelf__wire_inflate, a compressed frame's payload).  Invariants: every answer is SHELF_OK, SHELF_EFORMAT or
 * SHELF_ENOMEM; a hello read has a version >= 1, a library id of 32 hex
 * digits or none, and canonical device ids
 * with counts >= 0 in its vector; a changes message read has records with
 * canonical device ids, counters >= 1 and NUL-free item, field and value;
 * a want read lists at most SHELF__WANT_MAX hashes, a file message read
 * names a hash and a size of at most SHELF__BLOB_MAX.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz_target.h"
#include "sync/sync_int.h"

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "fuzz_syncwire: %s:%d: invariant failed: %s\n",  \
                    __FILE__, __LINE__, #cond);                              \
            abort();                                                         \
        }                                                                    \
    } while (0)

static int is_id(const char *id)
{
    unsigned char sha[32];
    char back[SHELF_DEVICE_ID_LEN + 1];

    if (shelf_device_id_parse(id, sha) != SHELF_OK)
        return 0;
    shelf_device_id_format(sha, back);
    return strcmp(back, id) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t zstd_magic[4] = { 0x28, 0xb5, 0x2f, 0xfd };
    shelf__buf plain = SHELF__BUF_INIT;
    shelf__err e = { 0, "" };
    shelf__wire_msg m;
    size_t i;
    int rc;

    /* a compressed frame's payload: inflated first, as peer.c does */
    if (size >= 4 && !memcmp(data, zstd_magic, 4)) {
        rc = shelf__wire_inflate(&e, data, size, &plain);
        CHECK(rc == SHELF_OK || rc == SHELF_EFORMAT || rc == SHELF_ENOMEM);
        CHECK(rc != SHELF_OK || plain.len <= SHELF__WIRE_MAX);
        if (rc != SHELF_OK) {
            shelf__buf_release(&plain);
            return 0;
        }
        data = (const uint8_t *)plain.buf;
        size = plain.len;
    }
    rc = shelf__wire_parse(&e, (const char *)data, size, &m);

    CHECK(rc == SHELF_OK || rc == SHELF_EFORMAT || rc == SHELF_ENOMEM);
    if (rc != SHELF_OK) {
        shelf__buf_release(&plain);
        return 0;
    }
    CHECK(m.type != NULL);
    if (!strcmp(m.type, "hello")) {
        rc = shelf__wire_hello(&e, &m);
        CHECK(rc == SHELF_OK || rc == SHELF_EFORMAT || rc == SHELF_ENOMEM);
        if (rc == SHELF_OK) {
            CHECK(m.version >= 1 && m.name);
            CHECK(!m.library || (strlen(m.library) == 32 && strspn(m.library, "0123456789abcdef") == 32));
            for (i = 0; i < m.nvec; i++)
                CHECK(is_id(m.vec[i].device) && m.vec[i].counter >= 0);
        }
    } else if (!strcmp(m.type, "want")) {
        json_t *shas = NULL;
        int files = -1;

        rc = shelf__wire_want(&e, &m, &shas, &files);
        CHECK(rc == SHELF_OK || rc == SHELF_EFORMAT);
        if (rc == SHELF_OK) {
            CHECK(json_array_size(shas) <= SHELF__WANT_MAX && (files == 0 || files == 1));
            for (i = 0; i < json_array_size(shas); i++)
                CHECK(shelf__is_hash_hex(json_string_value(json_array_get(shas, i))));
        }
    } else if (!strcmp(m.type, "file")) {
        const char *sha = NULL;
        size_t n = 0;

        rc = shelf__wire_file(&e, &m, &sha, &n);
        CHECK(rc == SHELF_OK || rc == SHELF_EFORMAT);
        CHECK(rc != SHELF_OK || (shelf__is_hash_hex(sha) && n <= SHELF__BLOB_MAX));
    } else {
        rc = shelf__wire_changes(&e, &m);
        CHECK(rc == SHELF_OK || rc == SHELF_EFORMAT || rc == SHELF_ENOMEM);
        if (rc == SHELF_OK) {
            CHECK(m.nrecs > 0);
            for (i = 0; i < m.nrecs; i++)
                CHECK(is_id(m.recs[i].device) && m.recs[i].counter >= 1 && m.recs[i].item &&
                      *m.recs[i].item && m.recs[i].field && m.recs[i].value);
        }
    }
    CHECK(rc == SHELF_OK || e.msg[0] != '\0');
    shelf__wire_free(&m);
    shelf__buf_release(&plain);
    return 0;
}
