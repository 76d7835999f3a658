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

/* Fold one duplicate d into keep, inside the caller's transaction: the
 * statements of folds in order, each bound to ?1 keep and ?2 d. */
static const char *const fold_sql[] = {
    "INSERT OR IGNORE INTO tag_items(tag_id, kind, item_id)\n"
    "  SELECT tag_id, kind, ?1 FROM tag_items WHERE kind = " SHELF__KIND_SAMPLE_SQL " AND item_id = ?2",
    "INSERT INTO ratings(kind, item_id, rating)\n"
    "  SELECT kind, ?1, rating FROM ratings WHERE kind = " SHELF__KIND_SAMPLE_SQL " AND item_id = ?2\n"
    "  ON CONFLICT(kind, item_id) DO UPDATE SET rating = excluded.rating\n"
    "  WHERE excluded.rating > ratings.rating",
    "INSERT OR IGNORE INTO favourites(kind, item_id, added)\n"
    "  SELECT kind, ?1, added FROM favourites WHERE kind = " SHELF__KIND_SAMPLE_SQL " AND item_id = ?2",
    "INSERT OR IGNORE INTO collection_items(collection_id, sample_id, position)\n"
    "  SELECT collection_id, ?1, position FROM collection_items WHERE sample_id = ?2",
    "UPDATE samples SET last_used = (SELECT last_used FROM samples WHERE id = ?2)\n"
    "  WHERE id = ?1 AND (SELECT last_used FROM samples WHERE id = ?2) > coalesce(last_used, 0)",
    "INSERT OR IGNORE INTO patch_samples(patch_id, sample_id)\n"
    "  SELECT patch_id, ?1 FROM patch_samples WHERE sample_id = ?2",
    "INSERT OR IGNORE INTO project_samples(project_id, sample_id)\n"
    "  SELECT project_id, ?1 FROM project_samples WHERE sample_id = ?2",
    "DELETE FROM patch_samples WHERE sample_id = ?2",
    "DELETE FROM project_samples WHERE sample_id = ?2",
    "INSERT INTO audit_log(time, action, kind, item_id, detail)\n"
    "  VALUES(unixepoch(), 'fold', " SHELF__KIND_SAMPLE_SQL ", ?1, 'sample ' || ?2 || ' folded into ' || ?1)",
};
enum { FOLD_TAGS = 0, FOLD_LINKS_FIRST = 5, FOLD_LINKS_LAST = 6 };

/* Run statement sql bound to (a, b); *changes gets sqlite3_changes. */
static int fold_exec(shelf_library *lib, const char *sql, int64_t a, int64_t b, int64_t *changes)
{
    sqlite3_stmt *st = shelf__prepare(lib, sql);
    int rc = SHELF_OK;

    if (!st)
        return lib->err.rc;
    sqlite3_bind_int64(st, 1, a);
    sqlite3_bind_int64(st, 2, b);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = shelf__dberr(lib, "cannot fold duplicates");
    else if (changes)
        *changes = sqlite3_changes(lib->db);
    sqlite3_finalize(st);
    return rc;
}

/* Check d can fold into keep: *same_bytes set when their SHA-256 match. */
static int fold_check(shelf_library *lib, int64_t keep, int64_t d, int *same_bytes)
{
    sqlite3_stmt *st = shelf__prepare(lib,
        "SELECT a.sha256 = b.sha256, a.audio_sha IS NOT NULL AND a.audio_sha = b.audio_sha,\n"
        "  (SELECT count(*) FROM patch_samples WHERE sample_id = b.id)\n"
        "  + (SELECT count(*) FROM project_samples WHERE sample_id = b.id)\n"
        "FROM samples a, samples b WHERE a.id = ?1 AND b.id = ?2");
    int r, rc = SHELF_OK;

    if (!st)
        return lib->err.rc;
    sqlite3_bind_int64(st, 1, keep);
    sqlite3_bind_int64(st, 2, d);
    if ((r = sqlite3_step(st)) == SQLITE_DONE) {
        sqlite3_finalize(st);
        if (!(st = shelf__prepare(lib, "SELECT 1 FROM samples WHERE id = ?1")))
            return lib->err.rc;
        sqlite3_bind_int64(st, 1, keep);
        rc = shelf__seterr(&lib->err, SHELF_ENOTFOUND, "no sample with id %lld",
                           (long long)(sqlite3_step(st) == SQLITE_ROW ? d : keep));
    } else if (r != SQLITE_ROW) {
        rc = shelf__dberr(lib, "cannot fold duplicates");
    } else if (d == keep) {
        rc = shelf__seterr(&lib->err, SHELF_EINVAL, "sample %lld cannot fold into itself", (long long)d);
    } else if (!(*same_bytes = sqlite3_column_int(st, 0)) && !sqlite3_column_int(st, 1)) {
        rc = shelf__seterr(&lib->err, SHELF_EINVAL,
                           "sample %lld is no duplicate of %lld (neither the same bytes nor the "
                           "same audio)", (long long)d, (long long)keep);
    } else if (!*same_bytes && sqlite3_column_int64(st, 2) > 0) {
        rc = shelf__seterr(&lib->err, SHELF_EINUSE,
                           "sample %lld is used by patches or projects and holds other bytes than "
                           "%lld (the same audio only): they name their files by hash",
                           (long long)d, (long long)keep);
    }
    sqlite3_finalize(st);
    return rc;
}

int shelf_dupes_fold(shelf_library *lib, int64_t keep, const int64_t *drop, size_t n,
                     shelf_fold_stats *st)
{
    shelf_fold_stats mine = { .size = sizeof mine };
    char **blobs;
    size_t i, k, nb = 0;
    int rc;

    if (n == 0)
        return shelf__seterr(&lib->err, SHELF_EINVAL, "nothing to fold into sample %lld", (long long)keep);
    if (!(blobs = shelf__calloc(n, sizeof *blobs)))
        return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    if ((rc = shelf__begin(lib)) != SHELF_OK) {
        shelf_free(blobs);
        return rc;
    }
    for (i = 0; i < n && rc == SHELF_OK; i++) {
        int same_bytes = 0;
        int64_t changes;

        for (k = 0; k < i; k++)
            if (drop[k] == drop[i])
                break;
        if (k < i)
            continue;           /* named twice: folded once */
        if ((rc = fold_check(lib, keep, drop[i], &same_bytes)) != SHELF_OK)
            break;
        for (k = 0; k < sizeof fold_sql / sizeof fold_sql[0] && rc == SHELF_OK; k++) {
            changes = 0;
            rc = fold_exec(lib, fold_sql[k], keep, drop[i], &changes);
            if (k == FOLD_TAGS)
                mine.tags += (uint64_t)changes;
            else if (k >= FOLD_LINKS_FIRST && k <= FOLD_LINKS_LAST)
                mine.links += (uint64_t)changes;
        }
        if (rc == SHELF_OK && (rc = shelf__sample_delete(lib, drop[i], &blobs[nb])) == SHELF_OK) {
            nb += blobs[nb] != NULL;
            mine.folded++;
        }
    }
    if (rc == SHELF_OK)
        rc = shelf__commit(lib);
    else
        shelf__rollback(lib);
    /* Managed copies go once the rows are gone for good. */
    for (k = 0; k < nb; k++) {
        if (rc == SHELF_OK)
            rc = shelf__blob_release(lib, blobs[k]);
        shelf_free(blobs[k]);
    }
    shelf_free(blobs);
    if (rc != SHELF_OK)
        mine.folded = mine.tags = mine.links = 0;   /* rolled back */
    if (st)
        shelf__out_fill(st, &mine, sizeof mine);
    return rc;
}
