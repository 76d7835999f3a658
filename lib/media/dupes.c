/*
 * dupes.c: duplicates in the catalog: identical files (same SHA-256), the
 * same decoded audio in other files or encodings (decoded PCM hashed,
 * remembered in samples.audio_sha), and one name with different sounds.
 * It lives in lib/media, above the catalog, because it decodes audio: no
 * file of lib/catalog includes media (doc/design.md, layering).
 */
#include <string.h>
#include "../catalog/catalog_int.h"
#include "media_int.h"

/* Report every group that `keys` selects (one key per row); the rows of a
 * group are those `members` selects with the key bound to ?1. */
static int report_groups(shelf_library *lib, int kind, const char *keys, const char *members,
                         shelf_dupes_cb cb, void *ud)
{
    sqlite3_stmt *ks = shelf__prepare(lib, keys);
    int64_t group = 0;
    int r, rc = SHELF_OK;

    if (!ks)
        return lib->err.rc;
    while ((r = sqlite3_step(ks)) == SQLITE_ROW) {
        shelf_cursor *cur = NULL;
        const shelf_sample *row;
        sqlite3_stmt *st = shelf__prepare(lib, members);

        if (!st) {
            rc = lib->err.rc;
            break;
        }
        sqlite3_bind_value(st, 1, sqlite3_column_value(ks, 0));
        if ((rc = shelf__cursor_new(lib, st, &cur)) != SHELF_OK)
            break;
        group++;
        while ((rc = shelf_cursor_next(cur, &row)) == SHELF_ROW)
            cb(ud, kind, group, row);
        shelf_cursor_free(cur);
        if (rc != SHELF_DONE)
            break;
        rc = SHELF_OK;
    }
    if (rc == SHELF_OK && r != SQLITE_DONE)
        rc = shelf__dberr(lib, "duplicates");
    sqlite3_finalize(ks);
    return rc;
}

/* Decode and hash the candidates for audio duplicates that have no hash:
 * samples sharing rate, channels and length with another sample of other
 * bytes. */
static int hash_candidates(shelf_library *lib, int kinds)
{
    sqlite3_stmt *st = shelf__prepare(lib, kinds & SHELF_DUPES_AUDIO ?
        "SELECT s.id, r.path, s.relpath, s.blob FROM samples s JOIN roots r ON r.id = s.root_id\n"
        "WHERE s.audio_sha IS NULL AND NOT s.missing AND (s.rate, s.channels, s.frames) IN (\n"
        "  SELECT rate, channels, frames FROM samples GROUP BY rate, channels, frames\n"
        "  HAVING count(DISTINCT sha256) > 1)" :
        /* for names: only the samples of names with more than one file */
        "SELECT s.id, r.path, s.relpath, s.blob FROM samples s JOIN roots r ON r.id = s.root_id\n"
        "WHERE s.audio_sha IS NULL AND NOT s.missing AND lower(s.name) IN (\n"
        "  SELECT lower(name) FROM samples GROUP BY lower(name)\n"
        "  HAVING count(DISTINCT sha256) > 1)");
    sqlite3_stmt *up = NULL;
    int r, rc = SHELF_OK;

    if (!st)
        return lib->err.rc;
    if (!(up = shelf__prepare(lib, "UPDATE samples SET audio_sha = ?2 WHERE id = ?1"))) {
        sqlite3_finalize(st);
        return lib->err.rc;
    }
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        char hex[SHELF_HASH_HEX], reason[256], *path;

        if (sqlite3_column_type(st, 3) != SQLITE_NULL)
            path = shelf__store_path(&lib->store, (const char *)sqlite3_column_text(st, 3));
        else
            path = shelf__sample_abspath((const char *)sqlite3_column_text(st, 1),
                                         (const char *)sqlite3_column_text(st, 2));
        if (!path) {
            rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
            break;
        }
        /* A file that cannot be decoded now is no audio duplicate. */
        if (shelf__audio_hash(path, hex, reason, sizeof reason) == SHELF_OK) {
            sqlite3_reset(up);
            sqlite3_bind_int64(up, 1, sqlite3_column_int64(st, 0));
            sqlite3_bind_text(up, 2, hex, -1, SQLITE_TRANSIENT);
            if (sqlite3_step(up) != SQLITE_DONE) {
                rc = shelf__dberr(lib, "cannot write to the catalog");
                shelf_free(path);
                break;
            }
        }
        shelf_free(path);
    }
    if (rc == SHELF_OK && r != SQLITE_DONE)
        rc = shelf__dberr(lib, "duplicates");
    sqlite3_finalize(st);
    sqlite3_finalize(up);
    return rc;
}

int shelf_dupes(shelf_library *lib, int kinds, shelf_dupes_cb cb, void *ud)
{
    int rc = SHELF_OK;

    if (!kinds || (kinds & ~(SHELF_DUPES_BYTES | SHELF_DUPES_AUDIO | SHELF_DUPES_NAME)))
        return shelf__seterr(&lib->err, SHELF_EINVAL, "invalid kinds of duplicates 0x%x", kinds);
    if (kinds & SHELF_DUPES_BYTES)
        rc = report_groups(lib, SHELF_DUPES_BYTES,
            "SELECT sha256 FROM samples GROUP BY sha256 HAVING count(*) > 1 ORDER BY min(name)",
            "SELECT " SAMPLE_COLUMNS " FROM samples s" SAMPLE_JOINS
            " WHERE s.sha256 = ?1 ORDER BY r.path, s.relpath", cb, ud);
    if (rc == SHELF_OK && (kinds & (SHELF_DUPES_AUDIO | SHELF_DUPES_NAME))) {
        /* Decoded-audio hashes, for the same audio and to tell a name's
         * files apart by sound; they go in as one transaction: a run that
         * stops keeps none, and the next run decodes them again. */
        if ((rc = shelf__begin(lib)) != SHELF_OK)
            return rc;
        if ((rc = hash_candidates(lib, kinds)) != SHELF_OK) {
            shelf__rollback(lib);
            return rc;
        }
        if ((rc = shelf__commit(lib)) != SHELF_OK)
            return rc;
    }
    if (rc == SHELF_OK && (kinds & SHELF_DUPES_AUDIO)) {
        rc = report_groups(lib, SHELF_DUPES_AUDIO,
            "SELECT audio_sha FROM samples WHERE audio_sha IS NOT NULL GROUP BY audio_sha\n"
            "HAVING count(DISTINCT sha256) > 1 ORDER BY min(name)",
            "SELECT " SAMPLE_COLUMNS " FROM samples s" SAMPLE_JOINS
            " WHERE s.audio_sha = ?1 ORDER BY r.path, s.relpath", cb, ud);
    }
    if (rc == SHELF_OK && (kinds & SHELF_DUPES_NAME))
        rc = report_groups(lib, SHELF_DUPES_NAME,
            "SELECT lower(name) FROM samples GROUP BY lower(name)\n"
            "HAVING count(DISTINCT coalesce(audio_sha, sha256)) > 1 ORDER BY lower(name)",
            "SELECT " SAMPLE_COLUMNS " FROM samples s" SAMPLE_JOINS
            " WHERE lower(s.name) = ?1 ORDER BY r.path, s.relpath", cb, ud);
    return rc;
}
