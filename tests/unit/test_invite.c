/*
 * test_invite.c: invitations and the library key on the wire
 * (lib/sync/invite.c) through the internal API: the text made and read
 * back (names and addresses with any bytes), tampered texts refused, the
 * listener's check of a proof (wrong, used, expired: refused and nothing
 * changes), the keys handed over (taken for its own by a device paired
 * with nobody, refused otherwise), and shelf_device_remove rotating the
 * key.  The processes end to end: tests/cli/test_invite.sh.
 */
#include <openssl/sha.h>
#include "test.h"
#include "libs.h"
#include "shelf/sync.h"
#include "common/common_int.h"
#include "sync/sync_int.h"

#define new_lib(dir) test_lib_open((dir), SHELF_OPEN_CREATE)

static int count_peers(void *ud, const shelf_peer *p)
{
    (void)p;
    ++*(int *)ud;
    return 0;
}

static int peers(shelf_library *lib)
{
    int n = 0;

    ASSERT_OKL(lib, shelf_device_list(lib, 0, count_peers, &n));
    return n;
}

static int64_t qint(shelf_library *lib, const char *sql)
{
    int64_t v = -1;

    ASSERT_OKL(lib, shelf__query_int(lib, sql, NULL, &v));
    return v;
}

TEST(text_round_trip_with_any_name)
{
    shelf_library *lib = new_lib(test_tmpdir());
    static const char *const addrs[] = { "[::1]:22700", "host é:1", "10.0.0.2:5" };
    shelf_invite_opts o = { .size = sizeof o, .addresses = addrs, .naddresses = 3 };
    shelf_device_info me = { .size = sizeof me };
    const char *name = "stüdio 🎛 a:b,c%20 d";
    shelf__invite inv;
    shelf__err e = { 0, "" };
    char *text = NULL;
    int64_t now = shelf__now();

    ASSERT_OKL(lib, shelf_device_rename(lib, name));
    ASSERT_OKL(lib, shelf_device_self(lib, &me));
    ASSERT_OKL(lib, shelf_device_invite(lib, &o, &text));
    ASSERT(strncmp(text, "shelf-invite:1:", 15) == 0);
    ASSERT(strchr(text, ' ') == NULL && strchr(text, '\n') == NULL);
    ASSERT_OKM(e.msg, shelf__invite_parse(&e, text, &inv));
    ASSERT_EQ_STR(inv.id, me.id);
    ASSERT_EQ_STR(inv.name, name);
    ASSERT_EQ_INT((int)inv.naddrs, 3);
    ASSERT_EQ_STR(inv.addrs[0], "[::1]:22700");
    ASSERT_EQ_STR(inv.addrs[1], "host é:1");
    ASSERT_EQ_STR(inv.addrs[2], "10.0.0.2:5");
    ASSERT(inv.expires >= now + 86400 && inv.expires <= now + 86400 + 5);
    /* white space around it (a file from a USB stick) */
    {
        char *padded = shelf__asprintf("  %s\r\n", text);

        ASSERT(padded != NULL);
        ASSERT_OKM(e.msg, shelf__invite_parse(&e, padded, &inv));
        free(padded);
    }
    ASSERT_EQ_INT((int)qint(lib, "SELECT count(*) FROM invitations WHERE length(secret) = 64 "
                                 "AND used IS NULL"), 1);
    shelf_free(text);
    shelf_library_close(lib);
}

TEST(default_addresses_have_the_port)
{
    shelf_library *lib = new_lib(test_tmpdir());
    shelf_invite_opts o = { .size = sizeof o, .expires = 60 };
    shelf__invite inv;
    shelf__err e = { 0, "" };
    char *text = NULL;
    size_t i;

    ASSERT_OKL(lib, shelf_device_invite(lib, &o, &text));
    ASSERT_OKM(e.msg, shelf__invite_parse(&e, text, &inv));
    ASSERT(inv.naddrs >= 1);
    for (i = 0; i < inv.naddrs; i++) {
        size_t n = strlen(inv.addrs[i]);

        ASSERT(n > 6 && !strcmp(inv.addrs[i] + n - 6, ":22700"));
    }
    ASSERT(inv.expires <= shelf__now() + 61);
    shelf_free(text);
    shelf_library_close(lib);
}

TEST(tampered_texts_are_refused)
{
    static const char id[] = "P56IOI7-MZJNU2Y-IQGDREY-DM2MGTI-MGL3BXN-PQ6W5BM-TBBZ4TJ-XZWICQ2";
    static const char sec[] = "06f812bd95210f1a515f23cdae92b589355e6529";
    char good[512], bad[16][512];
    shelf__invite inv;
    shelf__err e = { 0, "" };
    int i, n = 0;

    snprintf(good, sizeof good, "shelf-invite:1:%s:%s:99:h%%3A1:n", id, sec);
    ASSERT_OKM(e.msg, shelf__invite_parse(&e, good, &inv));
    snprintf(bad[n++], 512, "shelf-invite:2:%s:%s:99:h%%3A1:n", id, sec);
    snprintf(bad[n++], 512, "shelf-invite:1:%.62sA:%s:99:h%%3A1:n", id, sec);   /* check char */
    snprintf(bad[n++], 512, "shelf-invite:1:%s:%.39s:99:h%%3A1:n", id, sec);
    snprintf(bad[n++], 512, "shelf-invite:1:%s:%.39sG:99:h%%3A1:n", id, sec);
    snprintf(bad[n++], 512, "shelf-invite:1:%s:%s:9x:h%%3A1:n", id, sec);
    snprintf(bad[n++], 512, "shelf-invite:1:%s:%s:99::n", id, sec);
    snprintf(bad[n++], 512, "shelf-invite:1:%s:%s:99:h%%3A1,:n", id, sec);
    snprintf(bad[n++], 512, "shelf-invite:1:%s:%s:99:h%%3A1:n:extra", id, sec);
    snprintf(bad[n++], 512, "shelf-invite:1:%s:%s:99:h%%3A1:n%%00", id, sec);
    snprintf(bad[n++], 512, "shelf-invite:1:%s:%s:99:h%%3A1:n%%0A", id, sec);
    snprintf(bad[n++], 512, "shelf-invite:1:%s:%s:99:h%%3A1:n%%4", id, sec);
    snprintf(bad[n++], 512, "shelf-invite:1:%s:%s:99:h:1:n", id, sec);
    snprintf(bad[n++], 512, "shelf-invite:1:%s:%s", id, sec);
    snprintf(bad[n++], 512, "%s", "");
    for (i = 0; i < n; i++) {
        e.msg[0] = '\0';
        if (shelf__invite_parse(&e, bad[i], &inv) != SHELF_EFORMAT)
            test__fail(__FILE__, __LINE__, "accepted: %s", bad[i]);
        ASSERT(strncmp(e.msg, "invalid invitation: ", 20) == 0);
    }
}

/* The listener's check, as peer.c calls it with what a peer sent. */
TEST(redeem_wrong_used_expired)
{
    shelf_library *a = new_lib(test_tmpdir()), *b = new_lib(test_tmpdir());
    shelf_invite_opts o = { .size = sizeof o, .name = "given 🎧 name" };
    shelf_device_info ia = { .size = sizeof ia }, ib = { .size = sizeof ib };
    shelf_peer p = { .size = sizeof p };
    shelf__invite inv;
    shelf__err e = { 0, "" };
    unsigned char h[32];
    char *text = NULL, proof[65], wrong[65];

    ASSERT_OKL(a, shelf_device_self(a, &ia));
    ASSERT_OKL(b, shelf_device_self(b, &ib));
    ASSERT_OKL(a, shelf_device_invite(a, &o, &text));
    ASSERT_OKM(e.msg, shelf__invite_parse(&e, text, &inv));
    SHA256(inv.secret, sizeof inv.secret, h);
    shelf__invite_proof(h, ib.id, ia.id, proof);
    ASSERT_EQ_INT((int)strlen(proof), 64);
    /* bound to both ids: swapped, it is another proof */
    shelf__invite_proof(h, ia.id, ib.id, wrong);
    ASSERT(strcmp(proof, wrong) != 0);
    ASSERT_RC(SHELF_EPERM, shelf__invite_redeem(a, ib.id, ia.id, wrong, "x"));
    ASSERT(strstr(shelf_errmsg(a), "wrong secret") != NULL);
    ASSERT_RC(SHELF_EPERM, shelf__invite_redeem(a, ib.id, ia.id, "short", "x"));
    ASSERT_RC(SHELF_EPERM, shelf__invite_redeem(a, ib.id, ia.id, NULL, "x"));
    ASSERT_EQ_INT(peers(a), 0);
    ASSERT_EQ_INT((int)qint(a, "SELECT count(*) FROM invitations WHERE used IS NULL"), 1);
    /* expired in the inviter's table: refused, still unused */
    ASSERT_OKL(a, shelf__exec(a, "UPDATE invitations SET expires = expires - 200000"));
    ASSERT_RC(SHELF_EPERM, shelf__invite_redeem(a, ib.id, ia.id, proof, "x"));
    ASSERT(strstr(shelf_errmsg(a), "expired") != NULL);
    ASSERT_EQ_INT(peers(a), 0);
    ASSERT_OKL(a, shelf__exec(a, "UPDATE invitations SET expires = expires + 200000"));
    /* right: paired under the invitation's name, marked used by b */
    ASSERT_OKL(a, shelf__invite_redeem(a, ib.id, ia.id, proof, "sent name"));
    ASSERT_OKL(a, shelf_device_lookup(a, ib.id, &p));
    ASSERT_EQ_STR(p.name, "given 🎧 name");
    ASSERT_EQ_INT((int)qint(a, "SELECT count(*) FROM invitations WHERE used IS NOT NULL"), 1);
    /* once only */
    ASSERT_RC(SHELF_EPERM, shelf__invite_redeem(a, ib.id, ia.id, proof, "x"));
    ASSERT(strstr(shelf_errmsg(a), "used already") != NULL);
    shelf_free(text);
    shelf_library_close(a);
    shelf_library_close(b);
}

static int keys_equal(shelf_library *a, shelf_library *b, int64_t gen)
{
    unsigned char ka[SHELF__LIBKEY_LEN], kb[SHELF__LIBKEY_LEN];
    int64_t g;

    if (shelf__libkey(a, gen, &g, ka) != SHELF_OK || shelf__libkey(b, gen, &g, kb) != SHELF_OK)
        return 0;
    return memcmp(ka, kb, sizeof ka) == 0;
}

TEST(keys_handed_over)
{
    shelf_library *a = new_lib(test_tmpdir()), *b = new_lib(test_tmpdir());
    json_t *keys = NULL, *none = NULL;
    unsigned char k[SHELF__LIBKEY_LEN];
    int64_t g = 0;

    ASSERT_OKL(a, shelf__keys_json(a, 0, 1, &keys));     /* makes generation 1 */
    ASSERT_EQ_INT((int)json_array_size(keys), 1);
    ASSERT_OKL(b, shelf__libkey(b, 0, &g, k));            /* b has its own */
    ASSERT(!keys_equal(a, b, 1));
    /* paired with someone: a different key is refused, nothing changes */
    ASSERT_OKL(b, shelf_device_add(b, "P56IOI7-MZJNU2Y-IQGDREY-DM2MGTI-MGL3BXN-PQ6W5BM-TBBZ4TJ-XZWICQ2",
                                   "other"));
    ASSERT_RC(SHELF_EPERM, shelf__keys_store(b, keys, 0));
    ASSERT(!keys_equal(a, b, 1));
    /* paired with nobody (the accept path decides): taken for its own */
    ASSERT_OKL(b, shelf__keys_store(b, keys, 1));
    ASSERT(keys_equal(a, b, 1));
    /* a newer generation travels alone */
    ASSERT_OKL(a, shelf__libkey_rotate(a, &g));
    ASSERT_EQ_INT((int)g, 2);
    json_decref(keys);
    ASSERT_OKL(a, shelf__keys_json(a, 1, 0, &keys));
    ASSERT_EQ_INT((int)json_array_size(keys), 1);
    ASSERT_EQ_INT((int)json_integer_value(json_array_get(json_array_get(keys, 0), 0)), 2);
    ASSERT_OKL(b, shelf__keys_store(b, keys, 0));
    ASSERT(keys_equal(a, b, 2));
    ASSERT_OKL(b, shelf_sync_keygen(b, &g));
    ASSERT_EQ_INT((int)g, 2);
    /* nothing newer: an empty list */
    ASSERT_OKL(a, shelf__keys_json(a, 2, 0, &none));
    ASSERT_EQ_INT((int)json_array_size(none), 0);
    json_decref(none);
    json_decref(keys);
    /* malformed lists change nothing */
    keys = json_loads("[[3, \"00\"]]", 0, NULL);
    ASSERT_RC(SHELF_EFORMAT, shelf__keys_store(b, keys, 0));
    json_decref(keys);
    keys = json_loads("[[0, \"0000000000000000000000000000000000000000000000000000000000000000\"]]",
                      0, NULL);
    ASSERT_RC(SHELF_EFORMAT, shelf__keys_store(b, keys, 1));
    json_decref(keys);
    ASSERT(keys_equal(a, b, 1) && keys_equal(a, b, 2));
    shelf_library_close(a);
    shelf_library_close(b);
}

TEST(remove_rotates_when_there_is_a_key)
{
    static const char other[] = "P56IOI7-MZJNU2Y-IQGDREY-DM2MGTI-MGL3BXN-PQ6W5BM-TBBZ4TJ-XZWICQ2";
    shelf_library *a = new_lib(test_tmpdir());
    unsigned char k[SHELF__LIBKEY_LEN];
    int64_t g = -1;

    ASSERT_OKL(a, shelf_device_add(a, other, "x"));
    ASSERT_OKL(a, shelf_device_remove(a, other));
    ASSERT_OKL(a, shelf_sync_keygen(a, &g));
    ASSERT_EQ_INT((int)g, 0);                           /* no key: none made */
    ASSERT_OKL(a, shelf__libkey(a, 0, &g, k));
    ASSERT_OKL(a, shelf_device_add(a, other, "x"));
    ASSERT_OKL(a, shelf_device_remove(a, other));
    ASSERT_OKL(a, shelf_sync_keygen(a, &g));
    ASSERT_EQ_INT((int)g, 2);
    /* not paired: refused, no rotation */
    ASSERT_RC(SHELF_ENOTFOUND, shelf_device_remove(a, other));
    ASSERT_OKL(a, shelf_sync_keygen(a, &g));
    ASSERT_EQ_INT((int)g, 2);
    shelf_library_close(a);
}

int main(int argc, char **argv)
{
    static const test_case tests[] = {
        TEST_ENTRY(text_round_trip_with_any_name),
        TEST_ENTRY(default_addresses_have_the_port),
        TEST_ENTRY(tampered_texts_are_refused),
        TEST_ENTRY(redeem_wrong_used_expired),
        TEST_ENTRY(keys_handed_over),
        TEST_ENTRY(remove_rotates_when_there_is_a_key),
        TEST_END
    };

    return test_run(argc, argv, tests);
}
