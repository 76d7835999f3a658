/*
 * fuzz_invite.c: fuzz target for invitations and the frames that carry
 * them (lib/sync/invite.c): shelf__invite_parse on the text people paste
 * or carry on a USB stick, and shelf__wire_parse then shelf__wire_keys on
 * the "keys" list of a "keys" or "welcome" frame.  Input starting with
 * '{' is a frame, anything else an invitation.  Invariants: every answer
 * is SHELF_OK, SHELF_EFORMAT or SHELF_ENOMEM; an invitation read names a
 * canonical device id, 1 to 8 addresses and a name without control
 * characters; keys accepted are each a generation >= 1 and 64 hex digits.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz_target.h"
#include "sync/sync_int.h"

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "fuzz_invite: %s:%d: invariant failed: %s\n",    \
                    __FILE__, __LINE__, #cond);                              \
            abort();                                                         \
        }                                                                    \
    } while (0)

static void invitation(const char *s)
{
    shelf__err e = { 0, "" };
    shelf__invite inv;
    unsigned char sha[32];
    char back[SHELF_DEVICE_ID_LEN + 1];
    size_t i;
    int rc = shelf__invite_parse(&e, s, &inv);

    CHECK(rc == SHELF_OK || rc == SHELF_EFORMAT);
    if (rc != SHELF_OK) {
        CHECK(e.msg[0] != '\0');
        return;
    }
    CHECK(shelf_device_id_parse(inv.id, sha) == SHELF_OK);
    shelf_device_id_format(sha, back);
    CHECK(strcmp(back, inv.id) == 0);
    CHECK(inv.naddrs >= 1 && inv.naddrs <= SHELF__INVITE_ADDRS);
    for (i = 0; i < inv.naddrs; i++)
        CHECK(inv.addrs[i][0] != '\0' && strlen(inv.addrs[i]) < sizeof inv.addrs[i]);
    for (i = 0; inv.name[i]; i++)
        CHECK((unsigned char)inv.name[i] >= 0x20 && inv.name[i] != 0x7f);
    CHECK(inv.expires >= 0);
}

static void frame(const char *s, size_t n)
{
    shelf__err e = { 0, "" };
    shelf__wire_msg m;
    json_t *keys, *k;
    size_t i;
    int rc = shelf__wire_parse(&e, s, n, &m);

    CHECK(rc == SHELF_OK || rc == SHELF_EFORMAT || rc == SHELF_ENOMEM);
    if (rc != SHELF_OK)
        return;
    keys = json_object_get(m.root, "keys");
    rc = shelf__wire_keys(&e, keys);
    CHECK(rc == SHELF_OK || rc == SHELF_EFORMAT);
    if (rc == SHELF_OK)
        json_array_foreach(keys, i, k) {
            CHECK(json_integer_value(json_array_get(k, 0)) >= 1);
            CHECK(json_string_length(json_array_get(k, 1)) == 64);
        }
    shelf__wire_free(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s;

    if (size > 64 * 1024 || !(s = malloc(size + 1)))
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    if (size && s[0] == '{')
        frame(s, size);
    else
        invitation(s);
    free(s);
    return 0;
}
