/*
 * copy.c: shelf_repo_copy, snapshots from one repository to another (USB to
 * S3, S3 to WebDAV, any pair of targets).  Blobs are named by the SHA-256
 * of their data, whatever the key, so DST is asked by id and only what it
 * lacks is read from SRC (decrypted, its hash checked) and stored again
 * under DST's key in DST's own packs; SRC's packs are never copied (the
 * keys differ, and a pack holds blobs DST may have).  Each pack is indexed
 * as soon as it is saved, and a snapshot file is written after the index
 * naming all its blobs, so a copy killed anywhere leaves DST valid and the
 * next copy goes on from the packs that arrived.  A
 * snapshot already copied (DST has one with its "origin_run") is skipped.
 */
#include <string.h>
#include "backup_int.h"

typedef struct idlist {
    uint8_t (*v)[SHELF_HASH_BYTES];
    int *type;
    size_t n, cap;
} idlist;

static int id_push(idlist *l, const char *hex, int type)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 256;
        void *v = shelf__realloc(l->v, cap * sizeof *l->v), *t;

        if (!v)
            return SHELF_ENOMEM;
        l->v = v;
        if (!(t = shelf__realloc(l->type, cap * sizeof *l->type)))
            return SHELF_ENOMEM;
        l->type = t;
        l->cap = cap;
    }
    if (!hex || shelf__unhex(hex, l->v[l->n], SHELF_HASH_BYTES) != SHELF_OK)
        return SHELF_ECORRUPT;
    l->type[l->n++] = type;
    return SHELF_OK;
}

/* Every blob snapshot snap of src needs: its tree's, then its items'. */
static int snap_ids(shelf_repo *src, json_t *snap, idlist *l, shelf__err *err)
{
    json_t *tree = NULL, *it, *v;
    size_t i, k;
    int rc;

    json_array_foreach(json_object_get(snap, "tree"), i, v)
        if ((rc = id_push(l, json_string_value(v), SHELF__BLOB_TREE)) != SHELF_OK)
            return shelf__seterr(err, rc, "source snapshot: a bad tree id");
    if ((rc = shelf__tree_load(src, snap, &tree)) != SHELF_OK)
        return shelf__seterr(err, rc, "source: %s", src->err.msg);
    json_array_foreach(json_object_get(tree, "items"), i, it)
        json_array_foreach(json_object_get(it, "chunks"), k, v)
            if ((rc = id_push(l, json_string_value(v), SHELF__BLOB_DATA)) != SHELF_OK) {
                json_decref(tree);
                return shelf__seterr(err, rc, "source snapshot: a bad chunk id");
            }
    json_decref(tree);
    return SHELF_OK;
}

/* 1 when dst holds the backup run of snap (the run itself, or a copy of it
 * through any number of copies), or a copy of snap itself (copies written
 * before origins went through copies name their direct source's run). */
static int already(json_t *dst_all, json_t *snap)
{
    const char *origin = shelf__snap_origin(snap), *run = json_string_value(json_object_get(snap, "run"));
    json_t *s;
    size_t i;

    json_array_foreach(dst_all, i, s) {
        const char *a = shelf__snap_origin(s), *b = json_string_value(json_object_get(s, "run"));

        if (!strcmp(a, origin) || (run && !strcmp(a, run)) || (b && !strcmp(b, origin)))
            return 1;
    }
    return 0;
}

/* Write snap (src's JSON) into dst with dst's run and the runs that hold
 * its blobs (ids) as depends.  Last step of a snapshot's copy. */
static int snap_write(shelf_repo *dst, json_t *snap, const idlist *ids, char out_id[65])
{
    json_t *s = json_deep_copy(snap), *deps = json_array(), *v;
    uint8_t runs[64][SHELF__RUN_BYTES], hash[SHELF_HASH_BYTES];
    char runhex[33], hex[SHELF_HASH_HEX], name[80], *text = NULL;
    shelf__buf sealed = SHELF__BUF_INIT;
    size_t i, j, nruns = 0;
    int rc = SHELF_OK;

    for (i = 0; i < ids->n; i++) {
        shelf__blobloc loc;

        if ((rc = shelf__index_find(dst, ids->v[i], NULL, 0, &loc)) != SHELF_OK) {
            shelf__seterr(&dst->err, SHELF_EIO, "a copied blob is not in the destination's index");
            goto out;
        }
        for (j = 0; j < nruns && memcmp(runs[j], loc.run, SHELF__RUN_BYTES) != 0; j++)
            ;
        if (j == nruns && nruns < 64)
            memcpy(runs[nruns++], loc.run, SHELF__RUN_BYTES);
    }
    shelf__hex(dst->run, SHELF__RUN_BYTES, runhex);
    for (j = 0; deps && j < nruns; j++) {
        char h[33];

        shelf__hex(runs[j], SHELF__RUN_BYTES, h);
        if (json_array_append_new(deps, json_string(h)) != 0)
            goto nomem;
    }
    /* origin_run: the run the first backup made, kept through copies of copies */
    v = s && deps ? json_string(shelf__snap_origin(snap)) : NULL;
    if (!s || !deps || json_object_del(s, "id") != 0 ||
        json_object_set_new(s, "origin_run", v) != 0 ||
        json_object_set(s, "copied_from", json_object_get(snap, "id")) != 0 ||
        json_object_set_new(s, "run", json_string(runhex)) != 0 ||
        json_object_set(s, "depends", deps) != 0 ||
        json_object_set_new(s, "parent", json_null()) != 0 ||
        json_object_set_new(s, "full", json_null()) != 0 ||
        !(text = shelf__json_dumps(s, JSON_SORT_KEYS | JSON_COMPACT)))
        goto nomem;
    if ((rc = shelf__seal(dst, text, strlen(text), &sealed)) != SHELF_OK)
        goto out;
    shelf__sha256_mem(sealed.buf, sealed.len, hash);
    shelf__hex(hash, sizeof hash, hex);
    snprintf(name, sizeof name, "snapshots/%s", hex);
    if ((rc = shelf__be_save(dst->be, name, sealed.buf, sealed.len)) != SHELF_OK) {
        shelf__seterr(&dst->err, rc, "%s", dst->be->err.msg);
        goto out;
    }
    snprintf(out_id, 65, "%s", hex);
    goto out;
nomem:
    rc = shelf__seterr(&dst->err, SHELF_ENOMEM, "out of memory");
out:
    json_decref(s);
    json_decref(deps);
    free(text);
    shelf__buf_release(&sealed);
    return rc;
}

/* Copy one snapshot (snap, src's JSON). */
static int copy_one(shelf_repo *src, shelf_repo *dst, json_t *snap, shelf_copy_progress_cb cb,
                    void *ud, shelf_copy_stats *st)
{
    shelf__buf blob = SHELF__BUF_INIT;
    idlist ids;
    char newid[65];
    size_t i;
    int rc;

    memset(&ids, 0, sizeof ids);
    if ((rc = snap_ids(src, snap, &ids, &dst->err)) != SHELF_OK)
        goto out;
    for (i = 0; i < ids.n; i++) {
        shelf__blobloc loc;
        uint64_t stored = 0;
        size_t before;

        st->blobs++;
        if (shelf__index_find(dst, ids.v[i], NULL, 0, &loc) == SHELF_OK)
            continue;
        /* blob_read checks the data against its id */
        if ((rc = shelf__blob_read(src, ids.v[i], &blob)) != SHELF_OK) {
            shelf__seterr(&dst->err, rc, "source: %s", src->err.msg);
            goto out;
        }
        before = dst->nents;
        if ((rc = shelf__pack_add(dst, ids.v[i], ids.type[i], blob.buf, blob.len, 1, &stored)) !=
            SHELF_OK)
            goto out;
        /* A pack went out: index it now, so a copy cut short later still
         * leaves its blobs findable by the next one (an index naming blobs
         * no snapshot uses yet is harmless; prune drops them). */
        if (dst->nents <= before && (rc = shelf__index_write(dst)) != SHELF_OK)
            goto out;
        st->blobs_new++;
        st->bytes_new += blob.len;
        if (cb && cb(ud, st) != 0) {
            rc = shelf__seterr(&dst->err, SHELF_ECANCELED, "copy interrupted");
            goto out;
        }
        if ((rc = shelf__repo_lock_refresh(dst)) != SHELF_OK)
            goto out;
    }
    /* Packs, then the index, then the snapshot. */
    if ((rc = shelf__pack_flush(dst)) != SHELF_OK || (rc = shelf__index_write(dst)) != SHELF_OK ||
        (rc = snap_write(dst, snap, &ids, newid)) != SHELF_OK)
        goto out;
    st->snapshots++;
out:
    shelf_free(ids.v);
    shelf_free(ids.type);
    shelf__buf_release(&blob);
    return rc;
}

static int repo_copy(shelf_repo *src, shelf_repo *dst, const char *const *refs, size_t nrefs,
                     shelf_copy_progress_cb cb, void *ud, shelf_copy_stats *st)
{
    json_t *src_all = NULL, *dst_all = NULL, *want = NULL, *s;
    double t0 = shelf__monotonic();
    size_t i;
    int rc, src_locked = 0, dst_locked = 0;

    memset(st, 0, sizeof *st);
    st->size = sizeof *st;
    if (src == dst)
        return shelf__seterr(&dst->err, SHELF_EINVAL, "cannot copy a repository onto itself");
    if ((rc = shelf__repo_lock_read(src)) != SHELF_OK) {
        shelf__seterr(&dst->err, rc, "source: %s", src->err.msg);
        goto out;
    }
    src_locked = 1;
    if ((rc = shelf__repo_lock(dst, 0)) != SHELF_OK)
        goto out;
    dst_locked = 1;
    shelf__repo_sweep(dst);
    if ((rc = shelf__index_sync(src)) != SHELF_OK || (rc = shelf__snap_all(src, &src_all)) != SHELF_OK) {
        shelf__seterr(&dst->err, rc, "source: %s", src->err.msg);
        goto out;
    }
    if ((rc = shelf__index_sync(dst)) != SHELF_OK || (rc = shelf__snap_all(dst, &dst_all)) != SHELF_OK)
        goto out;
    if (!(want = json_array())) {
        rc = shelf__seterr(&dst->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    for (i = 0; i < nrefs; i++) {
        char id[65];

        if ((rc = shelf_snapshot_resolve(src, refs[i], id)) != SHELF_OK) {
            shelf__seterr(&dst->err, rc, "source: %s", src->err.msg);
            goto out;
        }
        if (json_array_append_new(want, json_string(id)) != 0) {
            rc = shelf__seterr(&dst->err, SHELF_ENOMEM, "out of memory");
            goto out;
        }
    }
    if (shelf__random(dst->run, sizeof dst->run) != SHELF_OK) {
        rc = shelf__seterr(&dst->err, SHELF_EIO, "cannot get random bytes");
        goto out;
    }
    dst->in_run = 1;
    json_array_foreach(src_all, i, s) {
        const char *id = json_string_value(json_object_get(s, "id"));
        size_t k;
        int pick = nrefs == 0;
        json_t *w;

        json_array_foreach(want, k, w)
            pick |= !strcmp(json_string_value(w), id);
        if (!pick)
            continue;
        if (already(dst_all, s)) {
            st->skipped++;
            continue;
        }
        if ((rc = copy_one(src, dst, s, cb, ud, st)) != SHELF_OK)
            goto out;
    }
out:
    if (rc != SHELF_OK && dst->nents > 0) {
        shelf__err keep = dst->err;

        shelf__pack_flush(dst);     /* what arrived is reused by the next copy */
        dst->err = keep;
    }
    dst->in_run = 0;
    if (dst_locked)
        shelf__repo_unlock(dst);
    if (src_locked)
        shelf__repo_unlock(src);
    json_decref(src_all);
    json_decref(dst_all);
    json_decref(want);
    st->seconds = shelf__monotonic() - t0;
    return rc;
}

int shelf_repo_copy(shelf_repo *src, shelf_repo *dst, const char *const *refs, size_t nrefs,
                    shelf_copy_progress_cb cb, void *ud, shelf_copy_stats *st)
{
    shelf_copy_stats full = { .size = sizeof full };
    int rc = repo_copy(src, dst, refs, nrefs, cb, ud, &full);

    shelf__out_fill(st, &full, sizeof full);
    return rc;
}
