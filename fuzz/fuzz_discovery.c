/*
 * fuzz_discovery.c: fuzz target for the UDP announcements any host on the
 * network can send (lib/sync/discover.c, shelf__disc_parse).  Invariants:
 * the answer is SHELF_OK, SHELF_EFORMAT or SHELF_ENOMEM; an announcement
 * read has a canonical device id, a NUL-terminated name within its size,
 * and a port from 1 to 65535.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz_target.h"
#include "sync/sync_int.h"

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "fuzz_discovery: %s:%d: invariant failed: %s\n", \
                    __FILE__, __LINE__, #cond);                              \
            abort();                                                         \
        }                                                                    \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    shelf_announce a;
    unsigned char sha[32];
    char back[SHELF_DEVICE_ID_LEN + 1];
    int rc = shelf__disc_parse(data, size, &a);

    CHECK(rc == SHELF_OK || rc == SHELF_EFORMAT || rc == SHELF_ENOMEM);
    CHECK(a.size == sizeof a);
    if (rc != SHELF_OK)
        return 0;
    CHECK(shelf_device_id_parse(a.id, sha) == SHELF_OK);
    shelf_device_id_format(sha, back);
    CHECK(strcmp(back, a.id) == 0);
    CHECK(memchr(a.name, '\0', sizeof a.name) != NULL);
    CHECK(a.port >= 1 && a.port <= 65535);
    CHECK(a.address[0] == '\0');
    return 0;
}
