/*
 * libkey.c: the library key (doc/sync.md "The library key").  32 random
 * bytes shared by every paired device, which seal what goes to a hub
 * (hub.c) so that the hub reads nothing and can change nothing unseen.
 * Keys have generations: revoking a device makes a new one, and what is
 * sealed from then on uses it; older generations stay to read old objects.
 * Kept in the catalog table sync_keys (schema 7).
 */
#include <string.h>
#include <sqlite3.h>
#include <openssl/crypto.h>
#include "sync_int.h"

/* Generation gen (0: the newest) into key and *gen_out; SHELF_ENOTFOUND
 * when there is none. */
static int key_read(shelf_library *lib, int64_t gen, int64_t *gen_out,
                    unsigned char key[SHELF__LIBKEY_LEN])
{
    sqlite3_stmt *st = shelf__prepare(lib, gen ? "SELECT gen, key FROM sync_keys WHERE gen = ?1"
                                               : "SELECT gen, key FROM sync_keys "
                                                 "ORDER BY gen DESC LIMIT 1");
    int rc;

    if (!st)
        return lib->err.rc;
    if (gen && sqlite3_bind_int64(st, 1, gen) != SQLITE_OK) {
        sqlite3_finalize(st);
        return shelf__dberr(lib, "cannot read the library key");
    }
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 1) == SHELF__LIBKEY_LEN) {
        *gen_out = sqlite3_column_int64(st, 0);
        memcpy(key, sqlite3_column_blob(st, 1), SHELF__LIBKEY_LEN);
        rc = SHELF_OK;
    } else if (rc == SQLITE_ROW) {
        rc = shelf__seterr(&lib->err, SHELF_ECORRUPT, "library key %lld of '%s' is not %d bytes",
                           (long long)sqlite3_column_int64(st, 0), lib->path, SHELF__LIBKEY_LEN);
    } else if (rc == SQLITE_DONE) {
        rc = SHELF_ENOTFOUND;   /* no message: the callers say what it means */
    } else {
        rc = shelf__dberr(lib, "cannot read the library key");
    }
    sqlite3_finalize(st);
    return rc;
}

static int key_insert(shelf_library *lib, int64_t gen, const unsigned char key[SHELF__LIBKEY_LEN],
                      int made_here)
{
    sqlite3_stmt *st = shelf__prepare(lib, made_here ? "INSERT INTO sync_keys(gen, key, created, "
                                                       "made_here) VALUES(?1, ?2, unixepoch(), 1)"
                                                     : "INSERT INTO sync_keys(gen, key, created) "
                                                       "VALUES(?1, ?2, unixepoch())");
    int rc = SHELF_OK;

    if (!st)
        return lib->err.rc;
    if (sqlite3_bind_int64(st, 1, gen) != SQLITE_OK ||
        sqlite3_bind_blob(st, 2, key, SHELF__LIBKEY_LEN, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_DONE)
        rc = shelf__dberr(lib, "cannot store the library key");
    sqlite3_finalize(st);
    return rc;
}

int shelf__libkey(shelf_library *lib, int64_t gen, int64_t *gen_out,
                  unsigned char key[SHELF__LIBKEY_LEN])
{
    int rc;

    rc = key_read(lib, gen, gen_out, key);
    if (rc == SHELF_ENOTFOUND && gen)
        return shelf__seterr(&lib->err, rc, "library key %lld is not known here", (long long)gen);
    if (rc != SHELF_ENOTFOUND)
        return rc;
    if (lib->readonly)
        return shelf__seterr(&lib->err, SHELF_EPERM,
                             "library '%s' is read-only and has no library key yet", lib->path);
    /* The first key: made in a write transaction that reads again, so two
     * processes making it at once end with one. */
    if ((rc = shelf__begin(lib)) != SHELF_OK)
        return rc;
    rc = key_read(lib, 0, gen_out, key);
    if (rc == SHELF_ENOTFOUND) {
        if ((rc = shelf__random(key, SHELF__LIBKEY_LEN)) != SHELF_OK)
            shelf__seterr(&lib->err, rc, "cannot make a library key: no random bytes");
        else if ((rc = key_insert(lib, 1, key, 1)) == SHELF_OK)
            *gen_out = 1;
    }
    if (rc == SHELF_OK)
        rc = shelf__commit(lib);
    else
        shelf__rollback(lib);
    if (rc != SHELF_OK)
        OPENSSL_cleanse(key, SHELF__LIBKEY_LEN);
    return rc;
}

int shelf__libkey_put(shelf_library *lib, int64_t gen, const unsigned char key[SHELF__LIBKEY_LEN])
{
    unsigned char have[SHELF__LIBKEY_LEN];
    int64_t g;
    int rc;

    if (gen < 1)
        return shelf__seterr(&lib->err, SHELF_EFORMAT, "invalid library key generation %lld",
                             (long long)gen);
    if ((rc = shelf__begin(lib)) != SHELF_OK)
        return rc;
    rc = key_read(lib, gen, &g, have);
    if (rc == SHELF_OK) {
        if (CRYPTO_memcmp(have, key, SHELF__LIBKEY_LEN) != 0)
            rc = shelf__seterr(&lib->err, SHELF_EPERM,
                               "library key %lld differs from the one held here", (long long)gen);
    } else if (rc == SHELF_ENOTFOUND) {
        rc = key_insert(lib, gen, key, 0);
    }
    OPENSSL_cleanse(have, sizeof have);
    if (rc == SHELF_OK)
        return shelf__commit(lib);
    shelf__rollback(lib);
    return rc;
}

int shelf__libkey_rotate(shelf_library *lib, int64_t *gen_out)
{
    unsigned char key[SHELF__LIBKEY_LEN];
    int64_t top = 0;
    int rc;

    if ((rc = shelf__begin(lib)) != SHELF_OK)
        return rc;
    if ((rc = shelf__query_int(lib, "SELECT coalesce(max(gen), 0) FROM sync_keys", NULL, &top)) ==
            SHELF_OK &&
        (rc = shelf__random(key, sizeof key)) != SHELF_OK)
        shelf__seterr(&lib->err, rc, "cannot make a library key: no random bytes");
    if (rc == SHELF_OK && (rc = key_insert(lib, top + 1, key, 1)) == SHELF_OK)
        *gen_out = top + 1;
    OPENSSL_cleanse(key, sizeof key);
    if (rc == SHELF_OK)
        return shelf__commit(lib);
    shelf__rollback(lib);
    return rc;
}

int shelf__libkey_held(shelf_library *lib, int64_t gen, int *held)
{
    sqlite3_stmt *st = shelf__prepare(lib, "SELECT 1 FROM sync_keys WHERE gen = ?1");
    int step;

    *held = 0;
    if (!st)
        return lib->err.rc;
    if (sqlite3_bind_int64(st, 1, gen) != SQLITE_OK ||
        ((step = sqlite3_step(st)) != SQLITE_ROW && step != SQLITE_DONE)) {
        sqlite3_finalize(st);
        return shelf__dberr(lib, "cannot read the library keys");
    }
    *held = step == SQLITE_ROW;
    sqlite3_finalize(st);
    return SHELF_OK;
}
