/*
 * purge.c: shelf_repo_purge, items out of every snapshot of a repository.
 * The repository has one key, so nothing is destroyed by forgetting a key:
 * each snapshot that holds an item is written again without it (its tree
 * without the sample's file or managed blob, its catalog copy purged with
 * the live catalog's own code, shelf__purge_rows), and then a prune
 * rewrites every pack that still holds a blob no snapshot uses.
 *
 * Order, so a run killed anywhere leaves every snapshot restorable and the
 * next run finishes the job: per snapshot, its new blobs go into packs of
 * the snapshot's own run (a full stays restorable from its own packs),
 * then an index file, then the new snapshot file, which names the one it
 * replaces ("replaces"), then the old snapshot file is removed.  A run
 * that finds a snapshot naming one that still exists removes that one
 * first.  Then prune, in its own crash-safe order.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "backup_int.h"
#include "../catalog/catalog_int.h"

typedef struct purge {
    shelf_repo *r;
    const shelf_repo_purge_opts *o;
    shelf_repo_purge_stats *st;
    shelf__purge_set set;
    json_t *samples;            /* hex -> true */
    json_t *renamed;            /* old snapshot id -> new id */
    char *tmp;                  /* the catalog copy being purged (in the cache folder) */
} purge;

static void tmp_remove(const char *path)
{
    static const char *const ext[] = { "", "-journal", "-wal", "-shm" };
    char p[4096];
    size_t i;

    for (i = 0; i < sizeof ext / sizeof *ext; i++) {
        snprintf(p, sizeof p, "%s%s", path, ext[i]);
        (void)unlink(p);
    }
}

/* Write tree item it's content to path (created, or truncated). */
static int item_to_file(shelf_repo *r, json_t *it, const char *path)
{
    shelf__buf blob = SHELF__BUF_INIT;
    json_t *v;
    size_t i;
    int fd, rc = SHELF_OK;

    if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
        return shelf__seterr_errno(&r->err, errno, "cannot create '%s'", path);
    json_array_foreach(json_object_get(it, "chunks"), i, v) {
        uint8_t id[SHELF_HASH_BYTES];

        if (shelf__unhex(json_string_value(v), id, sizeof id) != SHELF_OK) {
            rc = shelf__seterr(&r->err, SHELF_ECORRUPT, "snapshot tree: a bad chunk id");
            break;
        }
        if ((rc = shelf__blob_read(r, id, &blob)) != SHELF_OK)
            break;
        if (shelf__write_all(fd, blob.buf, blob.len) != 0) {
            rc = shelf__seterr_errno(&r->err, errno, "cannot write '%s'", path);
            break;
        }
    }
    if (close(fd) != 0 && rc == SHELF_OK)
        rc = shelf__seterr_errno(&r->err, errno, "cannot write '%s'", path);
    shelf__buf_release(&blob);
    return rc;
}

/* Purge the catalog copy at p->tmp: *rows counts what goes; with write,
 * the purge is committed, freed pages zeroed and the file vacuumed,
 * else rolled back. */
static int purge_copy(purge *p, int write, int64_t *rows)
{
    shelf_repo *r = p->r;
    sqlite3 *db = NULL;
    int rc;

    *rows = 0;
    if (sqlite3_open_v2(p->tmp, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        rc = shelf__seterr_sqlite(&r->err, db, p->tmp, "cannot open a snapshot's catalog copy");
        goto out;
    }
    if (sqlite3_exec(db, "PRAGMA secure_delete=ON; BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        rc = shelf__seterr_sqlite(&r->err, db, p->tmp, "cannot purge a snapshot's catalog copy");
        goto out;
    }
    if ((rc = shelf__purge_rows(db, &p->set, SHELF__PURGE_COPY, rows, &r->err)) != SHELF_OK)
        goto out;
    if (!write || *rows == 0) {
        (void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        goto out;
    }
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        rc = shelf__seterr_sqlite(&r->err, db, p->tmp, "cannot purge a snapshot's catalog copy");
        goto out;
    }
    if ((rc = shelf__purge_scrub(db, &r->err)) != SHELF_OK)
        goto out;
    if (sqlite3_exec(db, "PRAGMA journal_mode=DELETE; VACUUM", NULL, NULL, NULL) != SQLITE_OK)
        rc = shelf__seterr_sqlite(&r->err, db, p->tmp, "cannot vacuum a snapshot's catalog copy");
out:
    sqlite3_close(db);
    return rc;
}

/* Store the bytes of data as blobs of type into the open pack (r->run),
 * reusing those the run has; their ids into chunks. */
static int store_bytes(shelf_repo *r, const uint8_t *data, size_t n, int type, json_t *chunks)
{
    size_t pos = 0;
    int rc;

    while (pos < n) {
        size_t cut = shelf__chunk_cut(r->gear, data + pos, n - pos);
        uint8_t id[SHELF_HASH_BYTES];
        char hex[SHELF_HASH_HEX];
        shelf__blobloc loc;

        shelf__sha256_mem(data + pos, cut, id);
        shelf__hex(id, sizeof id, hex);
        if (json_array_append_new(chunks, json_string(hex)) != 0)
            return shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
        rc = shelf__index_find(r, id, (const uint8_t (*)[SHELF__RUN_BYTES])r->run, 1, &loc);
        if (rc == SHELF_ENOTFOUND)
            rc = shelf__pack_add(r, id, type, data + pos, cut, 1, NULL);
        if (rc != SHELF_OK)
            return rc;
        pos += cut;
    }
    return SHELF_OK;
}

/* The purged catalog copy into the tree item cat (size, sha256, chunks). */
static int store_catalog(purge *p, json_t *cat)
{
    shelf_repo *r = p->r;
    shelf__buf b = SHELF__BUF_INIT;
    uint8_t hash[SHELF_HASH_BYTES];
    char hex[SHELF_HASH_HEX];
    json_t *chunks = json_array();
    int rc;

    if (!chunks)
        return shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
    if ((rc = shelf__read_file(&r->err, p->tmp, SIZE_MAX, &b)) != SHELF_OK)
        goto out;
    if ((rc = store_bytes(r, (const uint8_t *)b.buf, b.len, SHELF__BLOB_DATA, chunks)) != SHELF_OK)
        goto out;
    shelf__sha256_mem(b.buf, b.len, hash);
    shelf__hex(hash, sizeof hash, hex);
    if (json_object_set_new(cat, "size", json_integer((json_int_t)b.len)) != 0 ||
        json_object_set_new(cat, "sha256", json_string(hex)) != 0 ||
        json_object_set(cat, "chunks", chunks) != 0)
        rc = shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
out:
    json_decref(chunks);
    shelf__buf_release(&b);
    return rc;
}

/* 1 when tree item it is a purged sample's file or managed blob. */
static int item_purged(purge *p, json_t *it)
{
    const char *t = json_string_value(json_object_get(it, "t"));
    const char *path = json_string_value(json_object_get(it, "path"));
    const char *base = path ? strrchr(path, '/') : NULL;

    if (json_object_get(p->samples, json_string_value(json_object_get(it, "sha256"))))
        return !strcmp(t, "sample") || !strcmp(t, "object");
    return !strcmp(t, "object") && base && json_object_get(p->samples, base + 1);
}

/* Save snapshot JSON s (its "id" left out) sealed; its id into id. */
static int snap_save(shelf_repo *r, json_t *s, char id[65])
{
    shelf__buf sealed = SHELF__BUF_INIT;
    uint8_t hash[SHELF_HASH_BYTES];
    char name[SHELF__NAME_MAX], *text;
    int rc;

    (void)json_object_del(s, "id");
    if (!(text = shelf__json_dumps(s, JSON_SORT_KEYS | JSON_COMPACT)))
        return shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
    if ((rc = shelf__seal(r, text, strlen(text), &sealed)) == SHELF_OK) {
        shelf__sha256_mem(sealed.buf, sealed.len, hash);
        shelf__hex(hash, sizeof hash, id);
        snprintf(name, sizeof name, "snapshots/%s", id);
        if ((rc = shelf__be_save(r->be, name, sealed.buf, sealed.len)) != SHELF_OK)
            shelf__seterr(&r->err, rc, "%s", r->be->err.msg);
    }
    free(text);
    shelf__buf_release(&sealed);
    return rc;
}

static int snap_remove(shelf_repo *r, const char *id)
{
    char name[SHELF__NAME_MAX];
    int rc;

    snprintf(name, sizeof name, "snapshots/%s", id);
    if ((rc = shelf__be_remove(r->be, name)) != SHELF_OK && rc != SHELF_ENOTFOUND)
        return shelf__seterr(&r->err, rc, "%s", r->be->err.msg);
    return SHELF_OK;
}

/* Point "parent" and "full" of s at the snapshots that replaced them; 1
 * when one changed, -1 when memory ran out. */
static int relink(purge *p, json_t *s)
{
    static const char *const keys[] = { "parent", "full" };
    int changed = 0;
    size_t i;

    for (i = 0; i < 2; i++) {
        json_t *to = json_object_get(p->renamed, json_string_value(json_object_get(s, keys[i])));

        if (to && json_object_set(s, keys[i], to) != 0)
            return -1;
        changed |= to != NULL;
    }
    return changed;
}

/* The snapshot's tree without the purged items, and with a purged catalog
 * copy (rows > 0), stored in s's run; s's tree, items and bytes updated. */
static int rewrite_tree(purge *p, json_t *s, json_t *tree, int64_t rows)
{
    shelf_repo *r = p->r;
    json_t *items = json_array(), *treeids = json_array(), *it, *deps;
    const char *run = json_string_value(json_object_get(s, "run"));
    char *text = NULL;
    uint64_t n = 0, bytes = 0;
    size_t i;
    int rc = SHELF_OK, has_run = 0;

    if (!items || !treeids) {
        rc = shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    shelf__unhex(run, r->run, sizeof r->run);
    json_array_foreach(json_object_get(tree, "items"), i, it) {
        if (item_purged(p, it))
            continue;
        if (rows > 0 && !strcmp(json_string_value(json_object_get(it, "t")), "catalog") &&
            (rc = store_catalog(p, it)) != SHELF_OK)
            goto out;
        n++;
        bytes += (uint64_t)json_integer_value(json_object_get(it, "size"));
        if (json_array_append(items, it) != 0) {
            rc = shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
            goto out;
        }
    }
    if (json_object_set(tree, "items", items) != 0 ||
        !(text = shelf__json_dumps(tree, JSON_COMPACT))) {
        rc = shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = store_bytes(r, (const uint8_t *)text, strlen(text), SHELF__BLOB_TREE, treeids)) != SHELF_OK ||
        (rc = shelf__pack_flush(r)) != SHELF_OK || (rc = shelf__index_write(r)) != SHELF_OK)
        goto out;
    /* the new blobs are in the snapshot's own run */
    deps = json_object_get(s, "depends");
    json_array_foreach(deps, i, it)
        has_run |= !strcmp(json_string_value(it), run);
    if ((!has_run && json_array_append_new(deps, json_string(run)) != 0) ||
        json_object_set(s, "tree", treeids) != 0 ||
        json_object_set_new(s, "items", json_integer((json_int_t)n)) != 0 ||
        json_object_set_new(s, "bytes", json_integer((json_int_t)bytes)) != 0)
        rc = shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
out:
    free(text);
    json_decref(items);
    json_decref(treeids);
    return rc;
}

/* Look at snapshot s: report it and (unless a dry run) write it again
 * when it holds purged items or names a snapshot that was. */
static int purge_snap(purge *p, json_t *s)
{
    shelf_repo *r = p->r;
    shelf_repo_purge_info e;
    json_t *tree = NULL, *it, *copy = NULL;
    char oldid[65], newid[65] = "";
    int64_t rows = 0;
    size_t i;
    int rc, relinked = 0;

    memset(&e, 0, sizeof e);
    e.size = sizeof e;
    snprintf(oldid, sizeof oldid, "%s", json_string_value(json_object_get(s, "id")));
    p->st->snapshots++;
    if ((rc = shelf__tree_load(r, s, &tree)) != SHELF_OK)
        return rc;
    json_array_foreach(json_object_get(tree, "items"), i, it) {
        if (item_purged(p, it)) {
            e.files++;
            e.bytes += (uint64_t)json_integer_value(json_object_get(it, "size"));
        } else if (!strcmp(json_string_value(json_object_get(it, "t")), "catalog")) {
            if ((rc = item_to_file(r, it, p->tmp)) != SHELF_OK ||
                (rc = purge_copy(p, !p->o->dry_run, &rows)) != SHELF_OK)
                goto out;
        }
    }
    e.rows = rows;
    if (!(copy = json_deep_copy(s))) {
        rc = shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    if ((relinked = relink(p, copy)) < 0) {
        rc = shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    if (e.files == 0 && rows == 0 && !relinked)
        goto out;
    e.relinked = e.files == 0 && rows == 0;
    if (!p->o->dry_run) {
        if (!e.relinked && (rc = rewrite_tree(p, copy, tree, rows)) != SHELF_OK)
            goto out;
        if (json_object_set_new(copy, "replaces", json_string(oldid)) != 0) {
            rc = shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
            goto out;
        }
        if ((rc = snap_save(r, copy, newid)) != SHELF_OK || (rc = snap_remove(r, oldid)) != SHELF_OK)
            goto out;
        if (json_object_set_new(p->renamed, oldid, json_string(newid)) != 0) {
            rc = shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
            goto out;
        }
        shelf__repo_lock_refresh(r);
    } else if (json_object_set_new(p->renamed, oldid, json_string(oldid)) != 0) {
        /* a dry run: those naming it count as relinked */
        rc = shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    if (e.relinked) {
        p->st->snapshots_relinked++;
    } else {
        p->st->snapshots_rewritten++;
        p->st->files_dropped += e.files;
        p->st->rows += rows;
    }
    e.snapshot = oldid;
    e.replaced_by = e.relinked && p->o->dry_run ? "" : newid;
    e.time = json_integer_value(json_object_get(s, "time"));
    if (p->o->cb && p->o->cb(p->o->ud, &e) != 0)
        rc = shelf__seterr(&r->err, SHELF_ECANCELED, "purge stopped");
out:
    tmp_remove(p->tmp);
    json_decref(copy);
    json_decref(tree);
    return rc;
}

/* The id snapshot s replaces, "" when none. */
static const char *replaces(json_t *s)
{
    const char *id = json_string_value(json_object_get(s, "replaces"));

    return id ? id : "";
}

/* A run stopped between writing a snapshot and removing the one it
 * replaces: the old one goes now (dry run: it is only left out).  Every
 * snapshot a stopped run replaced, gone or not, maps to its replacement,
 * so those naming it as parent or full are relinked. */
static int finish_replaced(purge *p, json_t *all)
{
    json_t *s, *keep = json_array();
    size_t i;
    int rc = SHELF_OK;

    if (!keep)
        return shelf__seterr(&p->r->err, SHELF_ENOMEM, "out of memory");
    json_array_foreach(all, i, s)
        if (*replaces(s) && json_object_set(p->renamed, replaces(s), json_object_get(s, "id")) != 0) {
            json_decref(keep);
            return shelf__seterr(&p->r->err, SHELF_ENOMEM, "out of memory");
        }
    json_array_foreach(all, i, s) {
        const char *id = json_string_value(json_object_get(s, "id"));

        if (!json_object_get(p->renamed, id)) {
            if (json_array_append(keep, s) != 0) {
                rc = shelf__seterr(&p->r->err, SHELF_ENOMEM, "out of memory");
                break;
            }
        } else if (!p->o->dry_run && (rc = snap_remove(p->r, id)) != SHELF_OK) {
            break;
        }
    }
    if (rc == SHELF_OK && (json_array_clear(all) != 0 || json_array_extend(all, keep) != 0))
        rc = shelf__seterr(&p->r->err, SHELF_ENOMEM, "out of memory");
    json_decref(keep);
    return rc;
}

/* The sample hashes ("s:" allowed) into p->samples and p->set. */
static int read_names(purge *p, const char *const *samples, size_t n_samples,
                      const char *const *docs, size_t n_docs, const char ***sv)
{
    shelf_repo *r = p->r;
    size_t i;

    if (!(p->samples = json_object()) || (n_samples && !(*sv = shelf__calloc(n_samples, sizeof **sv))))
        return shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
    for (i = 0; i < n_samples; i++) {
        const char *h = samples[i] && !strncmp(samples[i], "s:", 2) ? samples[i] + 2 : samples[i];

        if (!h || !shelf__is_hash_hex(h))
            return shelf__seterr(&r->err, SHELF_EINVAL, "cannot purge: invalid sample hash '%.70s'",
                                 samples[i] ? samples[i] : "(null)");
        (*sv)[i] = h;
        if (json_object_set_new(p->samples, h, json_true()) != 0)
            return shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
    }
    for (i = 0; i < n_docs; i++)
        if (!docs[i] || (strncmp(docs[i], "p:", 2) != 0 && strncmp(docs[i], "j:", 2) != 0) ||
            !shelf__is_hash_hex(docs[i] + 2))
            return shelf__seterr(&r->err, SHELF_EINVAL, "cannot purge: invalid document name '%.70s'",
                                 docs[i] ? docs[i] : "(null)");
    p->set.samples = *sv;
    p->set.n_samples = n_samples;
    p->set.docs = docs;
    p->set.n_docs = n_docs;
    return SHELF_OK;
}

static int repo_purge(shelf_repo *r, const char *library, const char *const *samples,
                      size_t n_samples, const char *const *docs, size_t n_docs,
                      const shelf_repo_purge_opts *o, shelf_repo_purge_stats *st)
{
    shelf_repo_purge_opts opts;
    purge p;
    json_t *all = NULL, *s;
    const char **sv = NULL;
    double t0 = shelf__monotonic();
    size_t i;
    int rc, locked = 0;

    memset(st, 0, sizeof *st);
    st->size = sizeof *st;
    memset(&p, 0, sizeof p);
    if ((rc = shelf__opts_check(&r->err, &opts, sizeof opts, o, sizeof opts, "shelf_repo_purge_opts")) !=
        SHELF_OK)
        return rc;
    p.r = r;
    p.o = &opts;
    p.st = st;
    if ((rc = read_names(&p, samples, n_samples, docs, n_docs, &sv)) != SHELF_OK)
        goto out;
    if (!(p.renamed = json_object()) || !(p.tmp = shelf__asprintf("%s-purge", r->cache_path))) {
        rc = shelf__seterr(&r->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    tmp_remove(p.tmp);
    if ((rc = opts.dry_run ? shelf__repo_lock_read(r) : shelf__repo_lock(r, 1)) != SHELF_OK)
        goto out;
    locked = 1;
    if ((rc = shelf__index_sync(r)) != SHELF_OK || (rc = shelf__snap_all(r, &all)) != SHELF_OK)
        goto out;
    if (json_array_size(r->snaps_damaged) > 0) {
        rc = shelf__seterr(&r->err, SHELF_ECORRUPT, "snapshot %.12s is damaged: what it holds is unknown, "
                           "so the purge cannot reach it (run 'shelf backup check'; forget it first)",
                           json_string_value(json_array_get(r->snaps_damaged, 0)));
        goto out;
    }
    if ((rc = finish_replaced(&p, all)) != SHELF_OK)
        goto out;
    r->in_run = 0;
    json_array_foreach(all, i, s) {
        if (library && strcmp(json_string_value(json_object_get(s, "device")), library) != 0)
            continue;
        if ((rc = purge_snap(&p, s)) != SHELF_OK)
            goto out;
    }
    if (!opts.dry_run) {
        shelf_prune_stats ps;

        if ((rc = shelf__repo_prune(r, 0, SHELF__PRUNE_EVERY_UNUSED | SHELF__PRUNE_LOCKED, &ps)) != SHELF_OK)
            goto out;
        st->packs_rewritten = ps.packs_rewritten;
        st->packs_removed = ps.packs_removed;
        st->bytes_removed = ps.bytes_removed;
    }
out:
    if (rc != SHELF_OK && r->nents > 0) {
        shelf__err keep = r->err;

        shelf__pack_flush(r);   /* unindexed: the next run (or prune) drops it */
        r->err = keep;
    }
    if (p.tmp)
        tmp_remove(p.tmp);
    if (locked)
        shelf__repo_unlock(r);
    st->seconds = shelf__monotonic() - t0;
    json_decref(all);
    json_decref(p.samples);
    json_decref(p.renamed);
    shelf_free(p.tmp);
    shelf_free(sv);
    return rc;
}

int shelf_repo_purge(shelf_repo *r, const char *library, const char *const *samples,
                     size_t n_samples, const char *const *docs, size_t n_docs,
                     const shelf_repo_purge_opts *o, shelf_repo_purge_stats *st)
{
    shelf_repo_purge_stats full = { .size = sizeof full };
    int rc = repo_purge(r, library, samples, n_samples, docs, n_docs, o, &full);

    shelf__out_fill(st, &full, sizeof full);
    return rc;
}
