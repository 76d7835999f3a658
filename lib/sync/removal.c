/*
 * removal.c: what a removal had seen (doc/sync.md, "Merge rules": modify
 * beats delete).  A removal record carries, for every other device, the
 * clock of the newest record its device held when it removed the item;
 * a change it had not seen beats it.  Used by the registers (state.c) and
 * by document histories (docs.c).
 */
#include <string.h>
#include <sqlite3.h>
#include "sync_int.h"

int shelf__is_removal(json_t *v)
{
    return json_is_null(v) || (json_is_object(v) && json_is_true(json_object_get(v, "removed")));
}

int shelf__seen_by(uint64_t hlc, const char *dev, uint64_t rhlc, const char *rdev, json_t *rv)
{
    json_t *t;

    if (!json_is_object(rv) || !strcmp(dev, rdev))
        return hlc <= rhlc;
    t = json_object_get(json_object_get(rv, "seen"), dev);
    return json_is_integer(t) && hlc <= (uint64_t)json_integer_value(t);
}

int shelf__removal_saw(shelf_library *lib, const shelf__change *c, int *saw)
{
    sqlite3_stmt *st = shelf__prepare(lib, "SELECT hlc, device, value FROM sync_state WHERE item = "
                                           "?1 AND field = '.'");
    json_t *rv = NULL;
    int rc = SHELF_OK, step;

    *saw = 0;
    if (!st)
        return lib->err.rc;
    if (sqlite3_bind_text(st, 1, c->item, -1, SQLITE_STATIC) != SQLITE_OK ||
        ((step = sqlite3_step(st)) != SQLITE_ROW && step != SQLITE_DONE))
        rc = shelf__dberr(lib, "cannot read the sync state");
    else if (step == SQLITE_ROW) {
        const char *text = (const char *)sqlite3_column_text(st, 2);

        if (text && strcmp(text, "true") != 0 &&
            (rc = shelf__json_parse(&lib->err, SHELF_EFORMAT, "a change", text, strlen(text),
                                    JSON_DECODE_ANY, &rv)) == SHELF_OK)
            *saw = shelf__is_removal(rv) &&
                   shelf__seen_by(c->hlc, c->device, (uint64_t)sqlite3_column_int64(st, 0),
                                  (const char *)sqlite3_column_text(st, 1), rv);
    }
    json_decref(rv);
    sqlite3_finalize(st);
    return rc;
}

