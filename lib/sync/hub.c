/*
 * hub.c: sync through a hub (doc/sync.md, "Hub"; layout in doc/formats.md,
 * "Hub layout").  A hub is any place lib/remote can store objects: a
 * folder (a USB stick), S3, WebDAV, rclone.  It runs no code of ours and
 * needs no compare-and-swap, because each device writes only under its own
 * folder:
 *
 *   devices/<id>/cert.pem                   its certificate (public)
 *   devices/<id>/log/<first>-<last>.seg     its records first..last (seal.c)
 *
 * Push writes this device's records the hub lacks; pull reads the records
 * of paired devices this library lacks, checks each segment's signature
 * against that device's certificate (whose hash must be the paired id),
 * opens it with the library key, and applies everything in clock order.
 * A device folder of a device not paired here is ignored; so are names
 * that are not of this layout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include "../remote/remote_int.h"
#include "sync_int.h"

/* Records applied per transaction on pull. */
#define APPLY_BATCH 20000

typedef struct hub_seg {
    int64_t first, last;
} hub_seg;

typedef struct hub_dev {
    char id[SHELF_DEVICE_ID_LEN + 1];
    int has_cert;
    hub_seg *segs;
    size_t nsegs, cap;
} hub_dev;

typedef struct hub {
    shelf_library *lib;
    shelf__backend *be;
    const char *target;
    shelf_device_info me;
    EVP_PKEY *key;
    X509 *cert;
    shelf_hub_stats *st;
    hub_dev *devs;
    size_t ndevs, cap;
    /* push */
    json_t *records;
    int64_t first, last;
    size_t pending;
    int64_t gen;
    unsigned char libkey[SHELF__LIBKEY_LEN];
    int rc;
} hub;

static int oom(hub *h)
{
    return shelf__seterr(&h->lib->err, SHELF_ENOMEM, "out of memory");
}

/* The hub's error as the library's, naming the hub. */
static int be_error(hub *h, int rc)
{
    return shelf__seterr(&h->lib->err, rc, "hub %s: %s", h->target,
                         h->be->err.msg[0] ? h->be->err.msg : shelf_strerror(rc));
}

static hub_dev *dev_get(hub *h, const char *id, size_t n)
{
    size_t i;

    for (i = 0; i < h->ndevs; i++)
        if (strlen(h->devs[i].id) == n && !memcmp(h->devs[i].id, id, n))
            return &h->devs[i];
    if (h->ndevs == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 8;
        hub_dev *d = shelf__realloc(h->devs, cap * sizeof *d);

        if (!d)
            return NULL;
        h->devs = d;
        h->cap = cap;
    }
    memset(&h->devs[h->ndevs], 0, sizeof h->devs[0]);
    memcpy(h->devs[h->ndevs].id, id, n);
    return &h->devs[h->ndevs++];
}

/* "<16 digits>-<16 digits>.seg" into *s, else 0. */
static int seg_name(const char *p, hub_seg *s)
{
    char tail[8];
    long long a, b;
    int used = 0;

    if (strlen(p) != 37 || sscanf(p, "%16lld-%16lld%4s%n", &a, &b, tail, &used) != 3 ||
        used != 37 || strcmp(tail, ".seg") != 0 || a < 1 || b < a)
        return 0;
    s->first = a;
    s->last = b;
    return 1;
}

static int list_one(void *ud, const char *name, uint64_t size)
{
    hub *h = ud;
    const char *id = name + 8, *slash, *rest;
    unsigned char sha[32];
    char canon[SHELF_DEVICE_ID_LEN + 1];
    hub_seg s;
    hub_dev *d;

    (void)size;
    if (strncmp(name, "devices/", 8) != 0 || !(slash = strchr(id, '/')) ||
        slash - id != SHELF_DEVICE_ID_LEN)
        return 0;
    memcpy(canon, id, SHELF_DEVICE_ID_LEN);
    canon[SHELF_DEVICE_ID_LEN] = '\0';
    if (shelf_device_id_parse(canon, sha) != SHELF_OK)
        return 0;
    shelf_device_id_format(sha, canon);
    if (memcmp(canon, id, SHELF_DEVICE_ID_LEN) != 0)
        return 0;
    rest = slash + 1;
    if (strcmp(rest, "cert.pem") == 0) {
        if (!(d = dev_get(h, id, SHELF_DEVICE_ID_LEN)))
            return oom(h);
        d->has_cert = 1;
    } else if (strncmp(rest, "log/", 4) == 0 && seg_name(rest + 4, &s)) {
        if (!(d = dev_get(h, id, SHELF_DEVICE_ID_LEN)))
            return oom(h);
        if (d->nsegs == d->cap) {
            size_t cap = d->cap ? d->cap * 2 : 16;
            hub_seg *n = shelf__realloc(d->segs, cap * sizeof *n);

            if (!n)
                return oom(h);
            d->segs = n;
            d->cap = cap;
        }
        d->segs[d->nsegs++] = s;
    }
    return 0;
}

static int hub_list(hub *h, const char *dir)
{
    int rc = shelf__be_list(h->be, dir, list_one, h);

    if (rc != SHELF_OK && h->lib->err.rc != rc)
        return be_error(h, rc);
    return rc;
}

static void hub_close(hub *h)
{
    size_t i;

    for (i = 0; i < h->ndevs; i++)
        shelf_free(h->devs[i].segs);
    shelf_free(h->devs);
    json_decref(h->records);
    EVP_PKEY_free(h->key);
    X509_free(h->cert);
    OPENSSL_cleanse(h->libkey, sizeof h->libkey);
    if (h->be)
        shelf__be_close(h->be);
}

static int hub_open(shelf_library *lib, const char *target, int create, int flags, hub *h,
                    shelf_hub_stats *st)
{
    shelf__be_opts o;
    shelf__err e;
    int rc;

    memset(h, 0, sizeof *h);
    h->lib = lib;
    h->target = target;
    h->st = st;
    h->me.size = sizeof h->me;
    if (!target || !*target)
        return shelf__seterr(&lib->err, SHELF_EINVAL, "no hub given");
    if ((rc = shelf__device_keys(lib, &h->key, &h->cert, &h->me)) != SHELF_OK)
        return rc;
    memset(&e, 0, sizeof e);
    memset(&o, 0, sizeof o);
    o.create = create;      /* a push makes the folder (a new stick) */
    o.quick = (flags & SHELF_HUB_QUICK) != 0;
    if ((rc = shelf__be_open_target(target, &o, &h->be, &e)) != SHELF_OK)
        return shelf__seterr(&lib->err, rc, "%s", e.msg[0] ? e.msg : shelf_strerror(rc));
    return SHELF_OK;
}

/* Note the outcome in sync_hubs (what status shows). */
static void hub_note(hub *h, int push, int rc)
{
    sqlite3_stmt *st;
    const char *sql = push ? "INSERT INTO sync_hubs(target, pushed, last_push, last_error) "
                             "VALUES(?1, ?2, unixepoch(), ?3) ON CONFLICT(target) DO UPDATE SET "
                             "pushed = CASE WHEN ?3 IS NULL THEN ?2 ELSE pushed END, "
                             "last_push = CASE WHEN ?3 IS NULL THEN unixepoch() ELSE last_push END, "
                             "last_error = ?3"
                           : "INSERT INTO sync_hubs(target, last_pull, last_error) "
                             "VALUES(?1, unixepoch(), ?3) ON CONFLICT(target) DO UPDATE SET "
                             "last_pull = CASE WHEN ?3 IS NULL THEN unixepoch() ELSE last_pull END, "
                             "last_error = ?3";
    shelf__err keep = h->lib->err;

    if (h->lib->readonly || !(st = shelf__prepare(h->lib, sql))) {
        h->lib->err = keep;
        return;
    }
    /* best effort: the sync's own result is what the caller gets */
    (void)sqlite3_bind_text(st, 1, h->target, -1, SQLITE_STATIC);
    (void)sqlite3_bind_int64(st, 2, h->last);
    if (rc != SHELF_OK)
        (void)sqlite3_bind_text(st, 3, keep.msg, -1, SQLITE_TRANSIENT);
    (void)sqlite3_step(st);
    sqlite3_finalize(st);
    h->lib->err = keep;
}

/* ---- push ---- */

static int put_object(hub *h, const char *name, const void *data, size_t n)
{
    int rc = shelf__be_save(h->be, name, data, n);

    if (rc != SHELF_OK)
        return be_error(h, rc);
    h->st->bytes_out += n;
    return SHELF_OK;
}

static int flush_segment(hub *h)
{
    shelf__buf sealed = SHELF__BUF_INIT;
    char name[160], *text;
    json_t *o;
    int rc;

    if (!json_array_size(h->records))
        return SHELF_OK;
    snprintf(name, sizeof name, "devices/%s/log/%016lld-%016lld.seg", h->me.id,
             (long long)h->first, (long long)h->last);
    o = json_pack("{s:s, s:i, s:s, s:I, s:I, s:O}", "type", "changes", "version", 1, "device",
                  h->me.id, "first", (json_int_t)h->first, "last", (json_int_t)h->last, "records",
                  h->records);
    text = o ? shelf__json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!text)
        return oom(h);
    rc = shelf__seg_seal(&h->lib->err, name, h->gen, h->libkey, h->key, text, strlen(text), &sealed);
    shelf_free(text);
    if (rc == SHELF_OK)
        rc = put_object(h, name, sealed.buf, sealed.len);
    shelf__buf_release(&sealed);
    if (rc != SHELF_OK)
        return rc;
    h->st->segments_out++;
    json_array_clear(h->records);
    h->pending = 0;
    return SHELF_OK;
}

static int push_one(void *ud, const shelf_change *c)
{
    hub *h = ud;
    size_t size = strlen(c->item) + strlen(c->field) + strlen(c->value) + 120;
    json_t *r;

    if (h->pending && h->pending + size > SHELF__SEG_PLAIN && (h->rc = flush_segment(h)) != SHELF_OK)
        return h->rc;
    r = json_pack("[s, I, I, s, s, s]", c->device, (json_int_t)c->counter, (json_int_t)c->hlc,
                  c->item, c->field, c->value);
    if (!r || json_array_append_new(h->records, r) != 0)
        return h->rc = oom(h);
    if (!h->pending)
        h->first = c->counter;
    h->last = c->counter;
    h->pending += size;
    h->st->pushed++;
    return 0;
}

static int push_cert(hub *h)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char name[128], *pem;
    long n;
    int rc;

    if (!bio || PEM_write_bio_X509(bio, h->cert) != 1 || (n = BIO_get_mem_data(bio, &pem)) <= 0) {
        BIO_free(bio);
        return oom(h);
    }
    snprintf(name, sizeof name, "devices/%s/cert.pem", h->me.id);
    rc = put_object(h, name, pem, (size_t)n);
    BIO_free(bio);
    return rc;
}

static int push(hub *h)
{
    shelf_library *lib = h->lib;
    char dir[96];
    int64_t held = 0, on_hub = 0;
    size_t i;
    int rc;

    if ((rc = shelf__changes_drain(lib, h->me.id, NULL)) != SHELF_OK ||
        (rc = shelf__libkey(lib, 0, &h->gen, h->libkey)) != SHELF_OK ||
        (rc = shelf__query_int(lib, "SELECT coalesce(max(counter), 0) FROM changes WHERE device = ?1",
                               h->me.id, &held)) != SHELF_OK)
        return rc;
    snprintf(dir, sizeof dir, "devices/%s", h->me.id);
    if ((rc = hub_list(h, dir)) != SHELF_OK)
        return rc;
    for (i = 0; i < h->ndevs; i++)
        if (!strcmp(h->devs[i].id, h->me.id)) {
            size_t k;

            for (k = 0; k < h->devs[i].nsegs; k++)
                if (h->devs[i].segs[k].last > on_hub)
                    on_hub = h->devs[i].segs[k].last;
        }
    if (on_hub > held)
        return shelf__seterr(&lib->err, SHELF_EPERM, "hub %s holds changes up to %lld of this "
                             "device, but this library made only %lld: another copy of this "
                             "library (same device id) pushed there", h->target,
                             (long long)on_hub, (long long)held);
    h->last = on_hub;
    if ((!h->ndevs || !h->devs[0].has_cert) && (rc = push_cert(h)) != SHELF_OK)
        return rc;
    if (!(h->records = json_array()))
        return oom(h);
    rc = shelf__log_each(lib, h->me.id, on_hub, push_one, h);
    if (rc != SHELF_OK && h->rc != SHELF_OK)
        rc = h->rc;
    if (rc == SHELF_OK)
        rc = flush_segment(h);
    if (rc == SHELF_OK && h->last < on_hub)
        h->last = on_hub;
    return rc;
}

/* ---- pull ---- */

typedef struct pulled {
    shelf__wire_msg *msgs;      /* one per segment read: the records point into them */
    size_t nmsgs, cap;
    const shelf__change **order;
    size_t n;
} pulled;

static int cmp_seg(const void *a, const void *b)
{
    const hub_seg *x = a, *y = b;

    if (x->first != y->first)
        return x->first < y->first ? -1 : 1;
    return x->last > y->last ? -1 : x->last < y->last;
}

static int cmp_rec(const void *a, const void *b)
{
    const shelf__change *x = *(const shelf__change *const *)a, *y = *(const shelf__change *const *)b;
    int c;

    if (x->hlc != y->hlc)
        return x->hlc < y->hlc ? -1 : 1;
    if ((c = strcmp(x->device, y->device)) != 0)
        return c;
    return x->counter < y->counter ? -1 : x->counter > y->counter;
}

/* Keep a segment's records (checked against its name by seal.c). */
static int take_segment(hub *h, const hub_dev *d, const hub_seg *s, const char *name,
                        shelf__buf *plain, pulled *p)
{
    int rc;

    if (p->nmsgs == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        shelf__wire_msg *n = shelf__realloc(p->msgs, cap * sizeof *n);

        if (!n)
            return oom(h);
        p->msgs = n;
        p->cap = cap;
    }
    rc = shelf__seg_records(&h->lib->err, name, d->id, s->first, s->last, plain->buf, plain->len,
                            &p->msgs[p->nmsgs]);
    if (rc != SHELF_OK)
        return rc;
    h->st->segments_in++;
    h->st->pulled += (int64_t)p->msgs[p->nmsgs++].nrecs;
    return SHELF_OK;
}

static int read_segment(hub *h, const hub_dev *d, const hub_seg *s, EVP_PKEY *signer, pulled *p)
{
    shelf__buf data = SHELF__BUF_INIT, plain = SHELF__BUF_INIT;
    unsigned char key[SHELF__LIBKEY_LEN];
    char name[160];
    int64_t gen, g;
    int rc;

    snprintf(name, sizeof name, "devices/%s/log/%016lld-%016lld.seg", d->id, (long long)s->first,
             (long long)s->last);
    if ((rc = shelf__be_load(h->be, name, 0, 0, &data)) != SHELF_OK) {
        shelf__buf_release(&data);
        return be_error(h, rc);
    }
    h->st->bytes_in += data.len;
    rc = shelf__seg_gen(&h->lib->err, name, (const unsigned char *)data.buf, data.len, &gen);
    if (rc == SHELF_OK && (rc = shelf__libkey(h->lib, gen, &g, key)) == SHELF_ENOTFOUND)
        rc = shelf__seterr(&h->lib->err, SHELF_EPERM, "hub object '%.200s' is sealed with library key "
                      "%lld, which this device does not hold: sync with a paired device first",
                      name, (long long)gen);
    if (rc == SHELF_OK)
        rc = shelf__seg_open(&h->lib->err, name, (const unsigned char *)data.buf, data.len, signer,
                             key, &plain);
    OPENSSL_cleanse(key, sizeof key);
    shelf__buf_release(&data);
    if (rc == SHELF_OK)
        rc = take_segment(h, d, s, name, &plain, p);
    shelf__buf_release(&plain);
    return rc;
}

static int read_signer(hub *h, const hub_dev *d, EVP_PKEY **out)
{
    shelf__buf pem = SHELF__BUF_INIT;
    char name[128];
    int rc;

    snprintf(name, sizeof name, "devices/%s/cert.pem", d->id);
    if (!d->has_cert)
        return shelf__seterr(&h->lib->err, SHELF_EFORMAT, "hub %s has changes of device %.7s but "
                             "not its certificate", h->target, d->id);
    if ((rc = shelf__be_load(h->be, name, 0, 0, &pem)) != SHELF_OK)
        rc = be_error(h, rc);
    else
        rc = shelf__seg_signer(&h->lib->err, d->id, pem.buf, pem.len, out);
    h->st->bytes_in += pem.len;
    shelf__buf_release(&pem);
    return rc;
}

/* The segments of one paired device this library lacks, in order. */
static int pull_device(hub *h, hub_dev *d, pulled *p)
{
    EVP_PKEY *signer = NULL;
    int64_t next = 0;
    size_t i;
    int rc;

    if ((rc = shelf__query_int(h->lib, "SELECT coalesce(max(counter), 0) FROM changes "
                               "WHERE device = ?1", d->id, &next)) != SHELF_OK)
        return rc;
    next++;
    qsort(d->segs, d->nsegs, sizeof *d->segs, cmp_seg);
    for (i = 0; i < d->nsegs; i++) {
        if (d->segs[i].last < next)
            continue;
        if (d->segs[i].first > next) {
            rc = shelf__seterr(&h->lib->err, SHELF_EFORMAT, "hub %s lacks changes %lld-%lld of "
                               "device %.7s", h->target, (long long)next,
                               (long long)d->segs[i].first - 1, d->id);
            break;
        }
        if (!signer && (rc = read_signer(h, d, &signer)) != SHELF_OK)
            break;
        if ((rc = read_segment(h, d, &d->segs[i], signer, p)) != SHELF_OK)
            break;
        next = d->segs[i].last + 1;
    }
    EVP_PKEY_free(signer);
    return rc;
}

/* Everything read, by clock across devices (so what one device made after
 * seeing another's comes after it), in batches. */
static int apply_pulled(hub *h, pulled *p)
{
    shelf__change *batch;
    size_t i, k, total = 0;
    int rc = SHELF_OK;

    for (i = 0; i < p->nmsgs; i++)
        total += p->msgs[i].nrecs;
    if (!total)
        return SHELF_OK;
    if (!(p->order = shelf__calloc(total, sizeof *p->order)) ||
        !(batch = shelf__calloc(total < APPLY_BATCH ? total : APPLY_BATCH, sizeof *batch)))
        return oom(h);
    for (i = 0; i < p->nmsgs; i++)
        for (k = 0; k < p->msgs[i].nrecs; k++)
            p->order[p->n++] = &p->msgs[i].recs[k];
    qsort(p->order, p->n, sizeof *p->order, cmp_rec);
    for (i = 0; i < p->n && rc == SHELF_OK; i += k) {
        shelf__merge_stats ms;

        for (k = 0; k < APPLY_BATCH && i + k < p->n; k++)
            batch[k] = *p->order[i + k];
        if ((rc = shelf__merge_apply(h->lib, h->me.id, batch, k, &ms)) == SHELF_OK) {
            h->st->applied += ms.applied;
            h->st->lost += ms.lost;
            h->st->skipped += ms.skipped;
        }
    }
    shelf_free(batch);
    return rc;
}

static int pull(hub *h)
{
    pulled p;
    size_t i;
    int rc;

    memset(&p, 0, sizeof p);
    if ((rc = hub_list(h, "devices")) != SHELF_OK)
        return rc;
    for (i = 0; i < h->ndevs && rc == SHELF_OK; i++) {
        if (!strcmp(h->devs[i].id, h->me.id))
            continue;
        rc = shelf_device_lookup(h->lib, h->devs[i].id, NULL);
        if (rc == SHELF_ENOTFOUND || rc == SHELF_EPERM) {
            h->st->strangers++;     /* not paired here, or revoked: ignored */
            rc = SHELF_OK;
            continue;
        }
        if (rc == SHELF_OK) {
            h->st->devices++;
            rc = pull_device(h, &h->devs[i], &p);
        }
    }
    if (rc == SHELF_OK)
        rc = apply_pulled(h, &p);
    for (i = 0; i < p.nmsgs; i++)
        shelf__wire_free(&p.msgs[i]);
    shelf_free(p.msgs);
    shelf_free(p.order);
    return rc;
}

static void stats_init(shelf_hub_stats *st)
{
    memset(st, 0, sizeof *st);
    st->size = sizeof *st;
}

static int run(shelf_library *lib, const char *target, int push_it, int flags,
               shelf_hub_stats *out)
{
    shelf_hub_stats st;
    hub h;
    int rc;

    if (!lib)
        return SHELF_EINVAL;
    if (flags & ~SHELF_HUB_QUICK)
        return shelf__seterr(&lib->err, SHELF_EINVAL, "unknown flags 0x%x", (unsigned)flags);
    stats_init(&st);
    if ((rc = hub_open(lib, target, push_it, flags, &h, &st)) == SHELF_OK) {
        rc = push_it ? push(&h) : pull(&h);
        hub_note(&h, push_it, rc);
    }
    hub_close(&h);
    shelf__out_fill(out, &st, sizeof st);
    return rc;
}

int shelf_sync_push(shelf_library *lib, const char *target, int flags, shelf_hub_stats *st)
{
    return run(lib, target, 1, flags, st);
}

int shelf_sync_pull(shelf_library *lib, const char *target, int flags, shelf_hub_stats *st)
{
    return run(lib, target, 0, flags, st);
}

int shelf_sync_hubs(shelf_library *lib, int (*fn)(void *ud, const shelf_hub_info *h), void *ud)
{
    sqlite3_stmt *st;
    int step, rc = SHELF_OK;

    if (!lib || !fn)
        return SHELF_EINVAL;
    if (!(st = shelf__prepare(lib, "SELECT target, pushed, coalesce(last_push, 0), "
                                   "coalesce(last_pull, 0), last_error FROM sync_hubs ORDER BY target")))
        return lib->err.rc;
    while (rc == SHELF_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
        shelf_hub_info h;

        memset(&h, 0, sizeof h);
        h.size = sizeof h;
        h.target = (const char *)sqlite3_column_text(st, 0);
        h.pushed = sqlite3_column_int64(st, 1);
        h.last_push = sqlite3_column_int64(st, 2);
        h.last_pull = sqlite3_column_int64(st, 3);
        h.last_error = (const char *)sqlite3_column_text(st, 4);
        rc = fn(ud, &h);
    }
    if (rc == SHELF_OK && step != SQLITE_DONE)
        rc = shelf__dberr(lib, "cannot read the hubs");
    sqlite3_finalize(st);
    return rc;
}
