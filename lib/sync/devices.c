/*
 * devices.c: the devices this one is paired with (include/shelf/sync.h):
 * the catalog table devices (schema 5, doc/formats.md), added the
 * Syncthing way (each side adds the other's id), renamed, revoked, looked
 * up by the transports before a peer may talk.
 */
#include <string.h>
#include <sqlite3.h>
#include "sync_int.h"

/* id (typed any way) in canonical form into out, else SHELF_EINVAL. */
static int canonical_id(shelf_library *lib, const char *id, char out[SHELF_DEVICE_ID_LEN + 1])
{
    unsigned char sha[32];

    if (shelf_device_id_parse(id, sha) != SHELF_OK)
        return shelf__seterr(&lib->err, SHELF_EINVAL, "invalid device id '%.80s'", id ? id : "");
    shelf_device_id_format(sha, out);
    return SHELF_OK;
}

static void row_peer(sqlite3_stmt *st, shelf_peer *p)
{
    memset(p, 0, sizeof *p);
    p->size = sizeof *p;
    snprintf(p->id, sizeof p->id, "%s", (const char *)sqlite3_column_text(st, 0));
    snprintf(p->name, sizeof p->name, "%s", (const char *)sqlite3_column_text(st, 1));
    p->added = sqlite3_column_int64(st, 2);
    p->revoked = sqlite3_column_int64(st, 3);
    p->last_seen = sqlite3_column_int64(st, 4);
    if (sqlite3_column_text(st, 5))
        snprintf(p->address, sizeof p->address, "%s", (const char *)sqlite3_column_text(st, 5));
    if (sqlite3_column_text(st, 6))
        snprintf(p->library, sizeof p->library, "%s", (const char *)sqlite3_column_text(st, 6));
}

/* The columns row_peer reads. */
#define PEER_COLUMNS "id, name, added, revoked, last_seen, json_extract(addresses, '$[0]'), library"

/* The row of id (canonical) into *p: SHELF_OK, SHELF_ENOTFOUND, or a
 * database error. */
static int peer_get(shelf_library *lib, const char *id, shelf_peer *p)
{
    sqlite3_stmt *st = shelf__prepare(lib, "SELECT " PEER_COLUMNS " FROM devices WHERE id = ?1");
    int rc;

    memset(p, 0, sizeof *p);
    if (!st)
        return lib->err.rc;
    if (sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC) != SQLITE_OK) {
        sqlite3_finalize(st);
        return shelf__dberr(lib, "cannot look up a device");
    }
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        row_peer(st, p);
        rc = SHELF_OK;
    } else if (rc == SQLITE_DONE) {
        rc = SHELF_ENOTFOUND;
    } else {
        rc = shelf__dberr(lib, "cannot look up a device");
    }
    sqlite3_finalize(st);
    return rc;
}

/* Run one statement of the devices table with ?1 = id, ?2 = text (when
 * not NULL), ?3 = time (when the statement has it); *changed: rows it
 * changed. */
static int peer_write(shelf_library *lib, const char *sql, const char *id, const char *text, int64_t t,
                      int *changed)
{
    sqlite3_stmt *st = shelf__prepare(lib, sql);
    int rc;

    if (!st)
        return lib->err.rc;
    if (sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC) != SQLITE_OK ||
        (text && sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC) != SQLITE_OK) ||
        (sqlite3_bind_parameter_count(st) >= 3 && sqlite3_bind_int64(st, 3, t) != SQLITE_OK) ||
        sqlite3_step(st) != SQLITE_DONE)
        rc = shelf__dberr(lib, "cannot write the devices table");
    else
        rc = SHELF_OK;
    sqlite3_finalize(st);
    if (changed)
        *changed = sqlite3_changes(lib->db);
    return rc;
}

int shelf_device_add(shelf_library *lib, const char *id, const char *name)
{
    shelf_device_info self = { .size = sizeof self };
    char canon[SHELF_DEVICE_ID_LEN + 1], first[8];
    shelf_peer p;
    int rc;

    if (!lib)
        return SHELF_EINVAL;
    if ((rc = canonical_id(lib, id, canon)) != SHELF_OK)
        return rc;
    if (!name || !*name) {
        memcpy(first, canon, 7);
        first[7] = '\0';
        name = first;
    }
    if ((rc = shelf__device_name_check(lib, name)) != SHELF_OK || (rc = shelf__writable(lib)) != SHELF_OK)
        return rc;
    if ((rc = shelf_device_self(lib, &self)) != SHELF_OK)
        return rc;
    if (!strcmp(self.id, canon))
        return shelf__seterr(&lib->err, SHELF_EINVAL, "cannot pair with %s: it is this device", canon);
    if ((rc = shelf__begin(lib)) != SHELF_OK)
        return rc;
    rc = peer_get(lib, canon, &p);
    if (rc == SHELF_OK && !p.revoked)
        rc = shelf__seterr(&lib->err, SHELF_EEXIST, "device %s is already paired (as '%s')", canon,
                           p.name);
    else if (rc == SHELF_OK)
        rc = peer_write(lib, "UPDATE devices SET name = ?2, added = ?3, revoked = NULL WHERE id = ?1",
                        canon, name, shelf__now(), NULL);
    else if (rc == SHELF_ENOTFOUND)
        rc = peer_write(lib, "INSERT INTO devices(id, name, added) VALUES (?1, ?2, ?3)", canon, name,
                        shelf__now(), NULL);
    if (rc != SHELF_OK) {
        shelf__rollback(lib);
        return rc;
    }
    return shelf__commit(lib);
}

int shelf_device_peer_rename(shelf_library *lib, const char *id, const char *name)
{
    char canon[SHELF_DEVICE_ID_LEN + 1];
    int rc, changed = 0;

    if (!lib)
        return SHELF_EINVAL;
    if ((rc = canonical_id(lib, id, canon)) != SHELF_OK || (rc = shelf__device_name_check(lib, name ? name : "")) != SHELF_OK ||
        (rc = shelf__writable(lib)) != SHELF_OK)
        return rc;
    rc = peer_write(lib, "UPDATE devices SET name = ?2 WHERE id = ?1 AND revoked IS NULL",
                    canon, name, 0, &changed);
    if (rc == SHELF_OK && !changed)
        rc = shelf__seterr(&lib->err, SHELF_ENOTFOUND, "no paired device %s", canon);
    return rc;
}

int shelf_device_remove(shelf_library *lib, const char *id)
{
    char canon[SHELF_DEVICE_ID_LEN + 1];
    int64_t gen = 0;
    int rc, changed = 0;

    if (!lib)
        return SHELF_EINVAL;
    if ((rc = canonical_id(lib, id, canon)) != SHELF_OK || (rc = shelf__writable(lib)) != SHELF_OK)
        return rc;
    if ((rc = shelf__begin(lib)) != SHELF_OK)
        return rc;
    rc = peer_write(lib, "UPDATE devices SET revoked = ?3 WHERE id = ?1 AND revoked IS NULL", canon,
                    NULL, shelf__now(), &changed);
    if (rc == SHELF_OK && !changed)
        rc = shelf__seterr(&lib->err, SHELF_ENOTFOUND, "no paired device %s", canon);
    /* what it may have held is sealed with keys it knows: a new generation
     * for what comes next (in the same transaction: both or neither) */
    if (rc == SHELF_OK &&
        (rc = shelf__query_int(lib, "SELECT coalesce(max(gen), 0) FROM sync_keys", NULL, &gen)) ==
            SHELF_OK &&
        gen)
        rc = shelf__libkey_rotate(lib, &gen);
    if (rc != SHELF_OK) {
        shelf__rollback(lib);
        return rc;
    }
    return shelf__commit(lib);
}

int shelf_device_lookup(shelf_library *lib, const char *id, shelf_peer *out)
{
    char canon[SHELF_DEVICE_ID_LEN + 1];
    shelf_peer p;
    int rc;

    if (!lib || (out && out->size < sizeof out->size))
        return lib ? shelf__seterr(&lib->err, SHELF_EINVAL, "invalid device lookup: no size") : SHELF_EINVAL;
    if ((rc = canonical_id(lib, id, canon)) != SHELF_OK)
        return rc;
    rc = peer_get(lib, canon, &p);
    if (rc == SHELF_ENOTFOUND)
        return shelf__seterr(&lib->err, rc, "device %s is not paired with this one", canon);
    if (rc != SHELF_OK)
        return rc;
    if (p.revoked)
        return shelf__seterr(&lib->err, SHELF_EPERM, "device %s ('%s') was removed from this one",
                             canon, p.name);
    shelf__out_fill(out, &p, sizeof p);
    return SHELF_OK;
}

int shelf_device_by_library(shelf_library *lib, const char *library, shelf_peer *out)
{
    sqlite3_stmt *st;
    shelf_peer p;
    int rc;

    if (!lib || !out || out->size < sizeof out->size)
        return lib ? shelf__seterr(&lib->err, SHELF_EINVAL, "invalid device lookup: no size") : SHELF_EINVAL;
    if (!library || !shelf__is_hex(library, 32))
        return shelf__seterr(&lib->err, SHELF_EINVAL, "invalid library id '%.80s'", library ? library : "");
    /* the one seen last, should two ever have said the same */
    if (!(st = shelf__prepare_kept(lib, "SELECT " PEER_COLUMNS " FROM devices WHERE library = ?1 AND "
                                        "revoked IS NULL ORDER BY last_seen DESC LIMIT 1")))
        return lib->err.rc;
    sqlite3_bind_text(st, 1, library, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        row_peer(st, &p);
        shelf__out_fill(out, &p, sizeof p);
        rc = SHELF_OK;
    } else if (rc == SQLITE_DONE) {
        rc = shelf__seterr(&lib->err, SHELF_ENOTFOUND, "no paired device has library %s", library);
    } else {
        rc = shelf__dberr(lib, "cannot look up a device");
    }
    sqlite3_reset(st);
    return rc;
}

int shelf_device_list(shelf_library *lib, int all, int (*fn)(void *ud, const shelf_peer *peer),
                      void *ud)
{
    sqlite3_stmt *st;
    shelf_peer p;
    int rc, r;

    if (!lib || !fn)
        return lib ? shelf__seterr(&lib->err, SHELF_EINVAL, "invalid device list: no callback") : SHELF_EINVAL;
    st = shelf__prepare(lib, all ? "SELECT " PEER_COLUMNS " FROM devices ORDER BY name, id"
                                 : "SELECT " PEER_COLUMNS " FROM devices WHERE revoked IS NULL "
                                   "ORDER BY name, id");
    if (!st)
        return lib->err.rc;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        row_peer(st, &p);
        if ((rc = fn(ud, &p)) != 0) {
            sqlite3_finalize(st);
            return rc;
        }
    }
    rc = r == SQLITE_DONE ? SHELF_OK : shelf__dberr(lib, "cannot list devices");
    sqlite3_finalize(st);
    return rc;
}

int shelf__device_seen(shelf_library *lib, const char *id, const char *address, const char *library)
{
    sqlite3_stmt *st = shelf__prepare(lib,
        "UPDATE devices SET last_seen = ?3, addresses = CASE WHEN ?2 IS NULL THEN addresses ELSE\n"
        "  (SELECT json_group_array(a) FROM (SELECT ?2 AS a UNION ALL SELECT value FROM\n"
        "   json_each(devices.addresses) WHERE value != ?2 LIMIT 8)) END,\n"
        "  library = coalesce(?4, library)\n"
        "WHERE id = ?1");
    int rc = SHELF_OK;

    if (!st)
        return lib->err.rc;
    if (sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC) != SQLITE_OK ||
        (address ? sqlite3_bind_text(st, 2, address, -1, SQLITE_STATIC)
                 : sqlite3_bind_null(st, 2)) != SQLITE_OK ||
        sqlite3_bind_int64(st, 3, shelf__now()) != SQLITE_OK ||
        (library && *library ? sqlite3_bind_text(st, 4, library, -1, SQLITE_STATIC)
                             : sqlite3_bind_null(st, 4)) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_DONE)
        rc = shelf__dberr(lib, "cannot write the devices table");
    sqlite3_finalize(st);
    return rc;
}

void shelf__device_forget(shelf_library *lib, const char *id)
{
    shelf__err keep = lib->err;
    sqlite3_stmt *st = shelf__prepare(lib, "DELETE FROM devices WHERE id = ?1");

    if (st && sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC) == SQLITE_OK)
        (void)sqlite3_step(st);
    sqlite3_finalize(st);
    lib->err = keep;            /* best effort: the session's failure is what is told */
}
