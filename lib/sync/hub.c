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
    uint64_t size;              /* of the object */
} hub_seg;

typedef struct hub_wrap {
    int64_t gen;
    char to[SHELF_DEVICE_ID_LEN + 1];
} hub_wrap;

typedef struct hub_dev {
    char id[SHELF_DEVICE_ID_LEN + 1];
    int has_cert, has_kx;
    hub_seg *segs;
    size_t nsegs, cap;
    hub_wrap *wraps;            /* library keys it wrapped, for whom */
    size_t nwraps, wcap;
    EVP_PKEY *signer;           /* its certificate's key, once read */
    int paired;                 /* 1 paired here, 0 not (or revoked), -1 not asked yet */
} hub_dev;

typedef struct hub {
    shelf_library *lib;
    shelf__backend *be;
    const char *target;
    shelf_device_info me;
    EVP_PKEY *key;
    X509 *cert;
    EVP_PKEY *kx;               /* this device's key-exchange key (kx.c) */
    unsigned char kxpub[SHELF__KX_LEN];
    shelf_hub_stats *st;
    hub_dev *devs;
    size_t ndevs, cap;
    /* push */
    json_t *records;
    int64_t first, last;
    size_t pending;
    int64_t gen;
    unsigned char libkey[SHELF__LIBKEY_LEN];
    unsigned char key1[SHELF__LIBKEY_LEN];  /* generation 1: names files (seal.c) */
    int64_t gen1;
    int64_t stop;               /* push_one: the last counter to take (0: all) */
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
    h->devs[h->ndevs].paired = -1;
    return &h->devs[h->ndevs++];
}

/* The n decimal digits at p as a number, or -1 when they are not all
 * digits. */
static long long digits(const char *p, int n)
{
    long long v = 0;
    int i;

    for (i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

/* "<16 digits>-<16 digits>.seg" into *s, else 0. */
static int seg_name(const char *p, hub_seg *s)
{
    long long a, b;

    if (strlen(p) != 37 || p[16] != '-' || strcmp(p + 33, ".seg") != 0 ||
        (a = digits(p, 16)) < 1 || (b = digits(p + 17, 16)) < a)
        return 0;
    s->first = a;
    s->last = b;
    return 1;
}

/* "<10 digits>-<device id>.key" into *w, else 0. */
static int wrap_name(const char *p, hub_wrap *w)
{
    unsigned char sha[32];
    long long g;

    if (strlen(p) != 10 + 1 + SHELF_DEVICE_ID_LEN + 4 || p[10] != '-' ||
        (g = digits(p, 10)) < 1 || strcmp(p + 11 + SHELF_DEVICE_ID_LEN, ".key") != 0)
        return 0;
    memcpy(w->to, p + 11, SHELF_DEVICE_ID_LEN);
    w->to[SHELF_DEVICE_ID_LEN] = '\0';
    if (shelf_device_id_parse(w->to, sha) != SHELF_OK)
        return 0;
    w->gen = g;
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
    } else if (strcmp(rest, "kx.pub") == 0) {
        if (!(d = dev_get(h, id, SHELF_DEVICE_ID_LEN)))
            return oom(h);
        d->has_kx = 1;
    } else if (strncmp(rest, "keys/", 5) == 0) {
        hub_wrap w;

        if (!wrap_name(rest + 5, &w))
            return 0;
        if (!(d = dev_get(h, id, SHELF_DEVICE_ID_LEN)))
            return oom(h);
        if (d->nwraps == d->wcap) {
            size_t cap = d->wcap ? d->wcap * 2 : 8;
            hub_wrap *n = shelf__realloc(d->wraps, cap * sizeof *n);

            if (!n)
                return oom(h);
            d->wraps = n;
            d->wcap = cap;
        }
        d->wraps[d->nwraps++] = w;
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
        s.size = size;
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

    for (i = 0; i < h->ndevs; i++) {
        shelf_free(h->devs[i].segs);
        shelf_free(h->devs[i].wraps);
        EVP_PKEY_free(h->devs[i].signer);
    }
    shelf_free(h->devs);
    EVP_PKEY_free(h->kx);
    json_decref(h->records);
    EVP_PKEY_free(h->key);
    X509_free(h->cert);
    OPENSSL_cleanse(h->libkey, sizeof h->libkey);
    OPENSSL_cleanse(h->key1, sizeof h->key1);
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
    if ((rc = shelf__device_keys(lib, &h->key, &h->cert, &h->me)) != SHELF_OK ||
        (rc = shelf__kx_key(&lib->err, h->key, &h->kx, h->kxpub)) != SHELF_OK)
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

    if (h->stop && c->counter > h->stop)
        return 1;
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
                      "%lld, which this device does not hold yet: a paired device that holds it "
                      "wraps it for this one at its next push (or accept an invitation)",
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

/* Device d's signing key from its certificate on the hub (read once). */
static int read_signer(hub *h, hub_dev *d, EVP_PKEY **out)
{
    shelf__buf pem = SHELF__BUF_INIT;
    char name[128];
    int rc;

    if ((*out = d->signer))
        return SHELF_OK;
    snprintf(name, sizeof name, "devices/%s/cert.pem", d->id);
    if (!d->has_cert)
        return shelf__seterr(&h->lib->err, SHELF_EFORMAT, "hub %s has objects of device %.7s but "
                             "not its certificate", h->target, d->id);
    if ((rc = shelf__be_load(h->be, name, 0, 0, &pem)) != SHELF_OK)
        rc = be_error(h, rc);
    else
        rc = shelf__seg_signer(&h->lib->err, d->id, pem.buf, pem.len, &d->signer);
    h->st->bytes_in += pem.len;
    shelf__buf_release(&pem);
    *out = d->signer;
    return rc;
}

/* Whether device d is paired here (asked once). */
static int is_paired(hub *h, hub_dev *d)
{
    if (d->paired < 0)
        d->paired = strcmp(d->id, h->me.id) != 0 &&
                    shelf_device_lookup(h->lib, d->id, NULL) == SHELF_OK;
    return d->paired;
}

/* Load hub object name, signed by signer; its data's length in *len. */
static int load_signed(hub *h, const char *name, EVP_PKEY *signer, shelf__buf *obj, size_t *len)
{
    int rc = shelf__be_load(h->be, name, 0, 0, obj);

    if (rc != SHELF_OK)
        return be_error(h, rc);
    h->st->bytes_in += obj->len;
    return shelf__obj_check(&h->lib->err, name, (const unsigned char *)obj->buf, obj->len, signer,
                            len);
}

/* Device d's key-exchange public key from the hub, checked. */
static int read_kx(hub *h, hub_dev *d, unsigned char pub[SHELF__KX_LEN])
{
    shelf__buf obj = SHELF__BUF_INIT;
    EVP_PKEY *signer;
    char name[128];
    size_t len = 0;
    int rc;

    snprintf(name, sizeof name, "devices/%s/kx.pub", d->id);
    if ((rc = read_signer(h, d, &signer)) == SHELF_OK &&
        (rc = load_signed(h, name, signer, &obj, &len)) == SHELF_OK)
        rc = shelf__kx_pub_parse(&h->lib->err, name, (const unsigned char *)obj.buf, len, pub);
    shelf__buf_release(&obj);
    return rc;
}

static hub_dev *self_dev(hub *h)
{
    return dev_get(h, h->me.id, SHELF_DEVICE_ID_LEN);
}

/* This device's certificate and key-exchange key on the hub, when they
 * are not there yet: what others need to read its segments and to wrap
 * the library key for it. */
static int publish_self(hub *h)
{
    unsigned char data[8 + SHELF__KX_LEN];
    shelf__buf obj = SHELF__BUF_INIT;
    hub_dev *me = self_dev(h);
    char name[128];
    int rc = SHELF_OK;

    if (!me)
        return oom(h);
    if (!me->has_cert && (rc = push_cert(h)) == SHELF_OK)
        me->has_cert = 1;
    if (rc == SHELF_OK && !me->has_kx) {
        snprintf(name, sizeof name, "devices/%s/kx.pub", h->me.id);
        shelf__kx_pub_object(h->kxpub, data);
        if ((rc = shelf__obj_sign(&h->lib->err, name, h->key, data, sizeof data, &obj)) ==
                SHELF_OK &&
            (rc = put_object(h, name, obj.buf, obj.len)) == SHELF_OK)
            me->has_kx = 1;
    }
    shelf__buf_release(&obj);
    return rc;
}

/* Generation w->gen wrapped by paired device d for this one: checked,
 * unwrapped and kept. */
static int unwrap_one(hub *h, hub_dev *d, const hub_wrap *w)
{
    unsigned char pub[SHELF__KX_LEN], key[SHELF__LIBKEY_LEN];
    shelf__buf obj = SHELF__BUF_INIT;
    EVP_PKEY *signer = NULL;
    char name[192];
    size_t len = 0;
    int rc;

    snprintf(name, sizeof name, "devices/%s/keys/%010lld-%s.key", d->id, (long long)w->gen,
             h->me.id);
    if ((rc = read_signer(h, d, &signer)) == SHELF_OK && (rc = read_kx(h, d, pub)) == SHELF_OK &&
        (rc = load_signed(h, name, signer, &obj, &len)) == SHELF_OK &&
        (rc = shelf__kx_unwrap(&h->lib->err, name, h->kx, pub, d->id, h->me.id, w->gen,
                               (const unsigned char *)obj.buf, len, key)) == SHELF_OK &&
        (rc = shelf__libkey_put(h->lib, w->gen, key)) == SHELF_OK)
        h->st->keys_in++;
    OPENSSL_cleanse(key, sizeof key);
    shelf__buf_release(&obj);
    return rc;
}

/* Generations of the library key wrapped for this device by paired
 * devices, that it does not hold yet: unwrapped and kept. */
static int unwrap_mine(hub *h)
{
    size_t i, k;
    int rc = SHELF_OK, held = 0;

    for (i = 0; i < h->ndevs && rc == SHELF_OK; i++) {
        hub_dev *d = &h->devs[i];

        for (k = 0; k < d->nwraps && rc == SHELF_OK; k++) {
            if (strcmp(d->wraps[k].to, h->me.id) != 0 || !is_paired(h, d))
                continue;
            if ((rc = shelf__libkey_held(h->lib, d->wraps[k].gen, &held)) == SHELF_OK && !held)
                rc = unwrap_one(h, d, &d->wraps[k]);
        }
    }
    return rc;
}

/* Wrap each generation this device made for each device paired here that
 * has published a key-exchange key and lacks it. */
static int wrap_for_peers(hub *h)
{
    shelf_library *lib = h->lib;
    hub_dev *me = self_dev(h);
    sqlite3_stmt *st;
    int rc = SHELF_OK, step;

    if (!me)
        return oom(h);
    if (!(st = shelf__prepare(lib, "SELECT gen, key FROM sync_keys WHERE made_here ORDER BY gen")))
        return lib->err.rc;
    while (rc == SHELF_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t gen = sqlite3_column_int64(st, 0);
        const unsigned char *key = sqlite3_column_blob(st, 1);
        size_t i, k;

        if (sqlite3_column_bytes(st, 1) != SHELF__LIBKEY_LEN)
            continue;
        for (i = 0; i < h->ndevs && rc == SHELF_OK; i++) {
            hub_dev *d = &h->devs[i];
            unsigned char pub[SHELF__KX_LEN];
            shelf__buf wrapped = SHELF__BUF_INIT, obj = SHELF__BUF_INIT;
            char name[192];

            if (!d->has_kx || !is_paired(h, d))
                continue;
            for (k = 0; k < me->nwraps; k++)
                if (me->wraps[k].gen == gen && !strcmp(me->wraps[k].to, d->id))
                    break;
            if (k < me->nwraps)
                continue;       /* wrapped for it already */
            snprintf(name, sizeof name, "devices/%s/keys/%010lld-%s.key", h->me.id,
                     (long long)gen, d->id);
            if ((rc = read_kx(h, d, pub)) == SHELF_OK &&
                (rc = shelf__kx_wrap(&lib->err, h->kx, pub, h->me.id, d->id, gen, key,
                                     &wrapped)) == SHELF_OK &&
                (rc = shelf__obj_sign(&lib->err, name, h->key, wrapped.buf, wrapped.len, &obj)) ==
                    SHELF_OK &&
                (rc = put_object(h, name, obj.buf, obj.len)) == SHELF_OK)
                h->st->keys_out++;
            shelf__buf_release(&wrapped);
            shelf__buf_release(&obj);
        }
    }
    if (rc == SHELF_OK && step != SQLITE_DONE)
        rc = shelf__dberr(lib, "cannot read the library keys");
    sqlite3_finalize(st);
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
    if (d->nsegs)
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
    if (!(p->order = shelf__calloc(total, sizeof(const shelf__change *))) ||
        !(batch = shelf__calloc(total < APPLY_BATCH ? total : APPLY_BATCH, sizeof *batch)))
        return oom(h);
    for (i = 0; i < p->nmsgs; i++)
        for (k = 0; k < p->msgs[i].nrecs; k++)
            p->order[p->n++] = &p->msgs[i].recs[k];
    qsort(p->order, p->n, sizeof(const shelf__change *), cmp_rec);
    for (i = 0; i < p->n && rc == SHELF_OK; i += k) {
        shelf__merge_stats ms;

        for (k = 0; k < APPLY_BATCH && i + k < p->n; k++)
            batch[k] = *p->order[i + k];
        if ((rc = shelf__merge_apply(h->lib, h->me.id, batch, k, &ms, NULL, NULL)) == SHELF_OK) {
            h->st->applied += ms.applied;
            h->st->lost += ms.lost;
            h->st->skipped += ms.skipped;
        }
    }
    shelf_free(batch);
    return rc;
}

/* Is any other paired device's segment on the hub?  (Then the library
 * key exists already, and this device must get it, not make its own.) */
static int others_pushed(hub *h)
{
    size_t i;

    for (i = 0; i < h->ndevs; i++)
        if (h->devs[i].nsegs && is_paired(h, &h->devs[i]))
            return 1;
    return 0;
}

static int waiting_for_key(hub *h)
{
    return shelf__seterr(&h->lib->err, SHELF_EPERM, "hub %s: this device does not hold the "
                         "library key yet; a paired device that holds it wraps it for this one "
                         "at its next push (or accept an invitation), then sync again", h->target);
}

/* ---- sample files ---- */

/*
 * Sample files move several at a time, each worker of the common pool on
 * a connection of its own (a dup of the hub's backend; one when the
 * backend has no dup): the catalog is read before and written after, on
 * the caller's thread (blobs.c).
 */
#define FILE_WORKERS 4

typedef struct file_job {
    char sha[SHELF_HASH_HEX];
    char *src;                  /* push: the file to read (owned) */
    shelf__sfile_plan plan;     /* pull: the rows that want it */
    int done;                   /* written to the hub / read and kept */
    uint64_t bytes;             /* of the object */
    int rc;
    shelf__err err;
} file_job;

typedef struct file_run {
    hub *h;
    shelf__backend *be[FILE_WORKERS];
    int nw;
    shelf__pool *pool;
    unsigned char (*keys)[SHELF__LIBKEY_LEN];   /* pull: generations 1..nkeys */
    int64_t nkeys;
    file_job *jobs;
    size_t n, cap;
} file_run;

static int run_start(hub *h, file_run *r)
{
    memset(r, 0, sizeof *r);
    r->h = h;
    r->be[0] = h->be;
    for (r->nw = 1; r->nw < FILE_WORKERS; r->nw++)
        if (shelf__be_dup(h->be, &r->be[r->nw]) != SHELF_OK)
            break;              /* fewer connections: no dup, or no more */
    h->be->err.rc = SHELF_OK;
    if (!(r->pool = shelf__pool_new(r->nw, r->nw)))
        return oom(h);
    r->nw = shelf__pool_threads(r->pool) < r->nw ? shelf__pool_threads(r->pool) : r->nw;
    return SHELF_OK;
}

static void jobs_clear(file_run *r)
{
    size_t i;

    for (i = 0; i < r->n; i++) {
        shelf_free(r->jobs[i].src);
        shelf__sfile_plan_release(&r->jobs[i].plan);
    }
    r->n = 0;
}

static void run_stop(file_run *r)
{
    int i;

    shelf__pool_free(r->pool);
    for (i = 1; i < r->nw; i++)
        shelf__be_close(r->be[i]);
    jobs_clear(r);
    shelf_free(r->jobs);
    if (r->keys)
        OPENSSL_cleanse(r->keys, (size_t)r->nkeys * SHELF__LIBKEY_LEN);
    shelf_free(r->keys);
}

static file_job *job_add(file_run *r, const char *sha)
{
    file_job *j;

    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 64;

        if (!(j = shelf__realloc(r->jobs, cap * sizeof *j)))
            return NULL;
        r->jobs = j;
        r->cap = cap;
    }
    j = &r->jobs[r->n++];
    memset(j, 0, sizeof *j);
    snprintf(j->sha, sizeof j->sha, "%s", sha);
    return j;
}

/* A backend's failure as a job's: its message, its code. */
static int job_fail(file_job *j, shelf__backend *be, int rc)
{
    j->err = be->err;
    if (!j->err.msg[0])
        shelf__seterr(&j->err, rc, "%s", shelf_strerror(rc));
    return j->rc = rc;
}

/* Push one file (a pool item): read it, and unless the hub has it, seal
 * it and write it. */
static void push_job(void *arg, size_t item, int worker)
{
    file_run *r = arg;
    file_job *j = &r->jobs[item];
    shelf__backend *be = r->be[worker];
    shelf__buf data = SHELF__BUF_INIT, sealed = SHELF__BUF_INIT;
    char name[SHELF__HUBFILE_NAME];
    uint64_t size;
    int rc;

    shelf__hubfile_name(r->h->key1, j->sha, name);
    if ((rc = shelf__be_stat(be, name, &size)) == SHELF_OK) {
        ;                       /* there already: another device's, or an earlier push */
    } else if (rc != SHELF_ENOTFOUND) {
        job_fail(j, be, rc);
    } else if ((rc = shelf__sfile_load(&j->err, j->src, &data)) == SHELF_ENOTFOUND) {
        ;                       /* gone since */
    } else if (rc != SHELF_OK) {
        j->rc = rc;
    } else if ((j->rc = shelf__hubfile_seal(&j->err, r->h->gen, r->h->libkey, data.buf, data.len,
                                            &sealed)) == SHELF_OK) {
        if ((rc = shelf__be_save(be, name, sealed.buf, sealed.len)) != SHELF_OK) {
            job_fail(j, be, rc);
        } else {
            j->done = 1;
            j->bytes = sealed.len;
        }
    }
    shelf__buf_release(&data);
    shelf__buf_release(&sealed);
}

/* Pull one file (a pool item): read it from the hub, open it, keep it. */
static void pull_job(void *arg, size_t item, int worker)
{
    file_run *r = arg;
    file_job *j = &r->jobs[item];
    shelf__backend *be = r->be[worker];
    shelf__buf data = SHELF__BUF_INIT, plain = SHELF__BUF_INIT;
    char name[SHELF__HUBFILE_NAME];
    int64_t gen = 0;
    int rc;

    shelf__hubfile_name(r->h->key1, j->sha, name);
    if ((rc = shelf__be_load(be, name, 0, 0, &data)) == SHELF_ENOTFOUND) {
        ;                       /* not pushed (yet) by the device that has it */
    } else if (rc != SHELF_OK) {
        job_fail(j, be, rc);
    } else if ((j->rc = shelf__hubfile_gen(&j->err, name, (const unsigned char *)data.buf,
                                           data.len, &gen)) != SHELF_OK) {
        ;
    } else if (gen > r->nkeys) {
        j->rc = shelf__seterr(&j->err, SHELF_EPERM, "hub object '%s' is sealed with library key "
                              "%lld, which this device does not hold", name, (long long)gen);
    } else if ((j->rc = shelf__hubfile_open(&j->err, name, (const unsigned char *)data.buf,
                                            data.len, r->keys[gen - 1], &plain)) == SHELF_OK &&
               (j->rc = shelf__sfile_keep(&r->h->lib->store, &j->plan, plain.buf, plain.len,
                                          &j->err)) == SHELF_OK) {
        j->done = 1;
        j->bytes = data.len;
    }
    shelf__buf_release(&data);
    shelf__buf_release(&plain);
}

/* Run the jobs, then the first failure (in their order) is lib's. */
static int run_jobs(file_run *r, shelf__pool_fn fn)
{
    size_t i;

    if (!r->n)
        return SHELF_OK;
    shelf__pool_wait(r->pool, shelf__pool_submit(r->pool, fn, r, r->n));
    for (i = 0; i < r->n; i++)
        if (r->jobs[i].rc != SHELF_OK) {
            r->h->lib->err = r->jobs[i].err;
            return r->jobs[i].rc;
        }
    return SHELF_OK;
}

/* Push: collect the samples of this device's records being pushed. */
static int want_push(void *ud, const shelf_change *c)
{
    file_run *r = ud;
    hub *h = r->h;
    file_job *j;
    char *path = NULL;
    int rc;

    if (strcmp(c->field, ".") != 0 || strncmp(c->item, "s:", 2) != 0 || c->value[0] != '{')
        return 0;
    rc = shelf__sfile_source(h->lib, c->item + 2, h->lib->sync_files == SHELF_SYNC_FILES_ALL, &path);
    if (rc == SHELF_ENOTFOUND)
        return 0;               /* referenced, or gone since */
    if (rc != SHELF_OK)
        return h->rc = rc;
    if (!(j = job_add(r, c->item + 2))) {
        shelf_free(path);
        return h->rc = oom(h);
    }
    j->src = path;
    return 0;
}

/* Push: the files of the samples whose records this push writes (managed
 * copies; referenced files with SHELF_SYNC_FILES_ALL) that the hub lacks,
 * before the records, so a device that reads a record finds its file. */
static int push_files(hub *h, int64_t after)
{
    file_run r;
    size_t i;
    int rc;

    if (h->lib->sync_files == SHELF_SYNC_FILES_NONE)
        return SHELF_OK;
    if ((rc = run_start(h, &r)) == SHELF_OK) {
        h->rc = SHELF_OK;
        rc = shelf__log_each(h->lib, h->me.id, after, want_push, &r);
        if (rc != SHELF_OK && h->rc != SHELF_OK)
            rc = h->rc;
    }
    if (rc == SHELF_OK)
        rc = run_jobs(&r, push_job);
    for (i = 0; i < r.n; i++)
        if (r.jobs[i].done) {
            h->st->files_out++;
            h->st->bytes_out += r.jobs[i].bytes;
        }
    run_stop(&r);
    return rc;
}

/* Pull: every generation of the library key held here, for the jobs. */
static int load_keys(hub *h, file_run *r)
{
    int64_t gen = 0, g, i;
    int rc;

    /* never made here: a device that holds none waits for the others' */
    if ((rc = shelf__query_int(h->lib, "SELECT coalesce(max(gen), 0) FROM sync_keys", NULL,
                               &gen)) != SHELF_OK)
        return rc;
    if (gen < 1)
        return SHELF_ENOTFOUND;
    if (!(r->keys = shelf__calloc((size_t)gen, SHELF__LIBKEY_LEN)))
        return oom(h);
    for (i = 1; i <= gen; i++)
        if (shelf__libkey(h->lib, i, &g, r->keys[i - 1]) != SHELF_OK)
            memset(r->keys[i - 1], 0, SHELF__LIBKEY_LEN);   /* not held: opening fails */
    r->nkeys = gen;
    memcpy(h->key1, r->keys[0], SHELF__LIBKEY_LEN);
    return SHELF_OK;
}

/* Pull: the files wanted here that the hub holds, a batch at a time. */
static int pull_files(hub *h)
{
    shelf_library *lib = h->lib;
    shelf__sfile_batch batch = { 0 };
    int64_t cursor = 0;
    json_t *shas = NULL;
    file_run r;
    size_t i, asked;
    int rc;

    if (lib->sync_files == SHELF_SYNC_FILES_NONE)
        return SHELF_OK;
    if ((rc = run_start(h, &r)) != SHELF_OK || (rc = load_keys(h, &r)) != SHELF_OK) {
        run_stop(&r);
        return rc == SHELF_ENOTFOUND ? SHELF_OK : rc;   /* no key yet: nothing to read */
    }
    do {
        json_decref(shas);
        jobs_clear(&r);
        if (!(shas = json_array())) {
            rc = oom(h);
            break;
        }
        if ((rc = shelf__sfile_wants(lib, lib->sync_files == SHELF_SYNC_FILES_ALL, &cursor,
                                     SHELF__WANT_MAX, shas)) != SHELF_OK)
            break;
        asked = json_array_size(shas);
        for (i = 0; rc == SHELF_OK && i < asked; i++) {
            file_job *j = job_add(&r, json_string_value(json_array_get(shas, i)));

            rc = j ? shelf__sfile_lookup(lib, j->sha, &j->plan) : oom(h);
        }
        if (rc == SHELF_OK)
            rc = run_jobs(&r, pull_job);
        /* what was kept is marked here, also when the rest was not */
        for (i = 0; i < r.n; i++) {
            h->st->bytes_in += r.jobs[i].bytes;
            if (r.jobs[i].done) {
                h->st->files_in++;
                if (rc == SHELF_OK)
                    rc = shelf__sfile_batch_add(lib, &batch, &r.jobs[i].plan);
            } else if (r.jobs[i].rc == SHELF_OK) {
                h->st->files_waiting++;
            }
        }
        rc = shelf__sfile_batch_commit(lib, &batch, rc);
    } while (rc == SHELF_OK && asked == SHELF__WANT_MAX);
    json_decref(shas);
    shelf__sfile_batch_release(&batch);
    run_stop(&r);
    return rc;
}

/* Compaction: a device that pushes often (sync watch) leaves many small
 * segments, and every pull lists them all.  Past COMPACT_AT segments of
 * its own, a push rewrites each run of COMPACT_RUN or more small ones
 * (under COMPACT_SMALL bytes) from the local log as segments of the usual
 * size, then removes the old ones.  A reader that listed the old ones
 * while they went fails that pull and takes the new ones at the next;
 * one that sees both takes the longer (cmp_seg) and skips what it holds. */
#define COMPACT_AT 32
#define COMPACT_RUN 8
#define COMPACT_SMALL (64u << 10)

static int cmp_seg(const void *a, const void *b);

/* Write this device's records first..last from the local log as new
 * segments (of the usual size at most). */
static int write_range(hub *h, int64_t first, int64_t last)
{
    int rc;

    h->stop = last;
    h->pending = 0;
    h->rc = SHELF_OK;
    json_array_clear(h->records);
    rc = shelf__log_each(h->lib, h->me.id, first - 1, push_one, h);
    h->stop = 0;
    if (rc == 1)
        rc = SHELF_OK;      /* stopped at the range's end */
    if (rc != SHELF_OK && h->rc != SHELF_OK)
        rc = h->rc;
    return rc == SHELF_OK ? flush_segment(h) : rc;
}

/* Remove this device's segment s; *gone counts it. */
static int remove_seg(hub *h, const hub_seg *s, int64_t *gone)
{
    char name[160];
    int rc;

    snprintf(name, sizeof name, "devices/%s/log/%016lld-%016lld.seg", h->me.id,
             (long long)s->first, (long long)s->last);
    if ((rc = shelf__be_remove(h->be, name)) == SHELF_ENOTFOUND)
        return SHELF_OK;
    if (rc != SHELF_OK)
        return be_error(h, rc);
    (*gone)++;
    return SHELF_OK;
}

static int rewrite_run(hub *h, const hub_seg *run, size_t n)
{
    size_t i;
    int rc = write_range(h, run[0].first, run[n - 1].last);

    for (i = 0; i < n && rc == SHELF_OK; i++)
        rc = remove_seg(h, &run[i], &h->st->compacted);
    return rc;
}

static int compact(hub *h, hub_dev *me)
{
    int64_t pushed = h->st->pushed;
    size_t i, j;
    int rc = SHELF_OK;

    if (me->nsegs <= COMPACT_AT)
        return SHELF_OK;
    qsort(me->segs, me->nsegs, sizeof *me->segs, cmp_seg);
    for (i = 0; i < me->nsegs && rc == SHELF_OK; i = j) {
        for (j = i; j < me->nsegs && me->segs[j].size < COMPACT_SMALL &&
                    (j == i || me->segs[j].first == me->segs[j - 1].last + 1);
             j++)
            ;
        if (j - i >= COMPACT_RUN)
            rc = rewrite_run(h, &me->segs[i], j - i);
        if (j == i)
            j++;
    }
    h->st->pushed = pushed;     /* rewritten records are not new */
    return rc;
}

/* After a purge (doc/design.md, "Purge"): this device's segments that
 * hold records a purge emptied since the last push to this hub are
 * written again from the local log, where those records are empty, then
 * removed.  A new name is needed (objects are written once): a segment
 * of several records is written as two ending before and at its last; a
 * segment of one record is written together with a neighbour; only a
 * lone segment of one record is removed before it is written again (a
 * push stopped in between writes it again, as the last one).  Readers
 * that see both take the longer and skip what they hold. */
static int rewrite_emptied(hub *h, hub_seg *segs, size_t n, int64_t c, int64_t *done)
{
    size_t i;
    int rc;

    for (i = 0; i < n && !(segs[i].first <= c && c <= segs[i].last); i++)
        ;
    if (i == n || segs[i].last <= *done)
        return SHELF_OK;        /* not on the hub, or rewritten already */
    if (segs[i].first < segs[i].last) {
        if ((rc = write_range(h, segs[i].first, segs[i].last - 1)) == SHELF_OK &&
            (rc = write_range(h, segs[i].last, segs[i].last)) == SHELF_OK)
            rc = remove_seg(h, &segs[i], &h->st->scrubbed);
        *done = segs[i].last;
        return rc;
    }
    if (i > 0 && segs[i - 1].last == c - 1 && segs[i - 1].last > *done) {
        if ((rc = write_range(h, segs[i - 1].first, c)) == SHELF_OK &&
            (rc = remove_seg(h, &segs[i - 1], &h->st->scrubbed)) == SHELF_OK)
            rc = remove_seg(h, &segs[i], &h->st->scrubbed);
        *done = c;
        return rc;
    }
    if (i + 1 < n && segs[i + 1].first == c + 1) {
        if ((rc = write_range(h, c, segs[i + 1].last)) == SHELF_OK &&
            (rc = remove_seg(h, &segs[i], &h->st->scrubbed)) == SHELF_OK)
            rc = remove_seg(h, &segs[i + 1], &h->st->scrubbed);
        *done = segs[i + 1].last;
        return rc;
    }
    if ((rc = remove_seg(h, &segs[i], &h->st->scrubbed)) == SHELF_OK)
        rc = write_range(h, c, c);
    *done = c;
    return rc;
}

static int scrub(hub *h, hub_dev *me, int *did)
{
    shelf_library *lib = h->lib;
    int64_t top = 0, from = 0, done = 0, pushed = h->st->pushed, segs = h->st->segments_out;
    sqlite3_stmt *st;
    int rc = SHELF_OK, step;

    *did = 0;
    if ((rc = shelf__query_int(lib, "SELECT coalesce(max(id), 0) FROM sync_emptied", NULL, &top)) !=
            SHELF_OK ||
        (rc = shelf__query_int(lib, "SELECT coalesce(max(emptied), 0) FROM sync_hubs WHERE target "
                                    "= ?1", h->target, &from)) != SHELF_OK || top <= from)
        return rc;
    qsort(me->segs, me->nsegs, sizeof *me->segs, cmp_seg);
    if (!(st = shelf__prepare(lib, "SELECT DISTINCT counter FROM sync_emptied WHERE device = ?1 "
                                   "AND id > ?2 AND id <= ?3 ORDER BY counter")))
        return lib->err.rc;
    sqlite3_bind_text(st, 1, h->me.id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, from);
    sqlite3_bind_int64(st, 3, top);
    while (rc == SHELF_OK && (step = sqlite3_step(st)) == SQLITE_ROW)
        rc = rewrite_emptied(h, me->segs, me->nsegs, sqlite3_column_int64(st, 0), &done);
    if (rc == SHELF_OK && step != SQLITE_DONE)
        rc = shelf__dberr(lib, "cannot read the change log");
    sqlite3_finalize(st);
    h->st->pushed = pushed;     /* rewritten records are not new */
    h->st->segments_out = segs;
    if (rc != SHELF_OK)
        return rc;
    *did = done > 0;
    if (!(st = shelf__prepare(lib, "INSERT INTO sync_hubs(target, emptied) VALUES(?1, ?2) "
                                   "ON CONFLICT(target) DO UPDATE SET emptied = ?2")))
        return lib->err.rc;
    sqlite3_bind_text(st, 1, h->target, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, top);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = shelf__dberr(lib, "cannot write the sync state");
    sqlite3_finalize(st);
    return rc;
}

static int push(hub *h)
{
    shelf_library *lib = h->lib;
    int64_t held = 0, on_hub = 0, keys = 0;
    hub_dev *me;
    size_t k;
    int rc;

    if ((rc = shelf__changes_drain(lib, h->me.id, NULL)) != SHELF_OK ||
        (rc = hub_list(h, "devices")) != SHELF_OK || (rc = unwrap_mine(h)) != SHELF_OK ||
        (rc = publish_self(h)) != SHELF_OK ||
        (rc = shelf__query_int(lib, "SELECT count(*) FROM sync_keys", NULL, &keys)) != SHELF_OK)
        return rc;
    if (!keys && others_pushed(h))
        return waiting_for_key(h);
    if ((rc = shelf__libkey(lib, 0, &h->gen, h->libkey)) != SHELF_OK ||
        (rc = shelf__query_int(lib, "SELECT coalesce(max(counter), 0) FROM changes WHERE device = ?1",
                               h->me.id, &held)) != SHELF_OK)
        return rc;
    if (!(me = self_dev(h)))
        return oom(h);
    for (k = 0; k < me->nsegs; k++)
        if (me->segs[k].last > on_hub)
            on_hub = me->segs[k].last;
    if (on_hub > held)
        return shelf__seterr(&lib->err, SHELF_EPERM, "hub %s holds changes up to %lld of this "
                             "device, but this library made only %lld: another copy of this "
                             "library (same device id) pushed there", h->target,
                             (long long)on_hub, (long long)held);
    h->last = on_hub;
    if (!(h->records = json_array()))
        return oom(h);
    if ((rc = shelf__libkey(lib, 1, &h->gen1, h->key1)) != SHELF_OK ||
        (rc = push_files(h, on_hub)) != SHELF_OK)
        return rc;
    h->rc = SHELF_OK;
    rc = shelf__log_each(lib, h->me.id, on_hub, push_one, h);
    if (rc != SHELF_OK && h->rc != SHELF_OK)
        rc = h->rc;
    if (rc == SHELF_OK)
        rc = flush_segment(h);
    if (rc == SHELF_OK && h->last < on_hub)
        h->last = on_hub;
    if (rc == SHELF_OK)
        rc = wrap_for_peers(h);
    if (rc == SHELF_OK) {
        int64_t last = h->last, segs = h->st->segments_out;
        int scrubbed = 0;

        /* the listing is stale after a scrub: compaction waits a push */
        if ((rc = scrub(h, me, &scrubbed)) == SHELF_OK && !scrubbed)
            rc = compact(h, me);
        h->last = last;
        h->st->segments_out = segs;
    }
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
    /* so that paired devices can wrap the library key for this one; a
     * hub this device cannot write (a read-only stick) is still read */
    (void)publish_self(h);
    if ((rc = unwrap_mine(h)) != SHELF_OK)
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
    if (rc == SHELF_OK)
        rc = pull_files(h);
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
    if (!push_it)
        shelf__sync_run_begin(lib);
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
