/*
 * wire.c: the messages of the peer-to-peer sync protocol (doc/formats.md,
 * "Sync protocol"), read from outside input: every field is checked before
 * anything uses it.  Writing them is peer.c's.  fuzz/fuzz_syncwire.c feeds
 * these parsers.
 */
#include <string.h>
#include <zstd.h>
#include "sync_int.h"

#define ITEM_MAX 4096
/* a record's value: a document version up to half a frame (docs.c) */
#define VALUE_MAX (SHELF__WIRE_MAX / 2)

static int bad(shelf__err *e, const char *what)
{
    return shelf__seterr(e, SHELF_EFORMAT, "invalid sync message: %s", what);
}

int shelf__wire_parse(shelf__err *e, const char *text, size_t n, shelf__wire_msg *out)
{
    json_t *t;
    int rc;

    memset(out, 0, sizeof *out);
    if (n > SHELF__WIRE_MAX)
        return bad(e, "too long");
    if ((rc = shelf__json_parse(e, SHELF_EFORMAT, "a sync message", text, n, 0, &out->root)) !=
        SHELF_OK)
        return rc;
    t = json_object_get(out->root, "type");
    if (!json_is_string(t)) {
        shelf__wire_free(out);
        return bad(e, "no type");
    }
    out->type = json_string_value(t);
    return SHELF_OK;
}

void shelf__wire_free(shelf__wire_msg *m)
{
    shelf_free(m->recs);
    shelf_free(m->vec);
    json_decref(m->root);
    memset(m, 0, sizeof *m);
}

/* A device id in canonical form, else 0. */
static int canonical(const char *id)
{
    unsigned char sha[32];
    char back[SHELF_DEVICE_ID_LEN + 1];

    if (!id || shelf_device_id_parse(id, sha) != SHELF_OK)
        return 0;
    shelf_device_id_format(sha, back);
    return strcmp(back, id) == 0;
}

int shelf__wire_hello(shelf__err *e, shelf__wire_msg *m)
{
    json_t *v = json_object_get(m->root, "version"), *vec = json_object_get(m->root, "vector");
    json_t *name = json_object_get(m->root, "name"), *lib, *c;
    const char *id;
    size_t i = 0;

    if (strcmp(m->type, "hello") != 0)
        return bad(e, "expected hello");
    if (!json_is_integer(v) || json_integer_value(v) < 1)
        return bad(e, "hello without a version");
    m->version = (int)(json_integer_value(v) > 1000 ? 1000 : json_integer_value(v));
    if (!json_is_string(name) || json_string_length(name) > SHELF_DEVICE_NAME_MAX)
        return bad(e, "hello without a name");
    m->name = json_string_value(name);
    /* since schema 16; older peers do not say */
    if ((lib = json_object_get(m->root, "library"))) {
        m->library = json_string_value(lib);
        if (!m->library || !shelf__is_hex(m->library, 32))
            return bad(e, "hello with a library id that is not 32 hex digits");
    }
    if (!json_is_object(vec))
        return bad(e, "hello without a vector");
    if (json_object_size(vec) > 100000)
        return bad(e, "vector too long");
    if (json_object_size(vec) &&
        !(m->vec = shelf__calloc(json_object_size(vec), sizeof *m->vec)))
        return shelf__seterr(e, SHELF_ENOMEM, "out of memory");
    json_object_foreach(vec, id, c) {
        if (!canonical(id) || !json_is_integer(c) || json_integer_value(c) < 0)
            return bad(e, "a vector entry is not a device id and a count");
        m->vec[i].device = id;
        m->vec[i++].counter = json_integer_value(c);
    }
    m->nvec = i;
    return SHELF_OK;
}

int shelf__wire_changes(shelf__err *e, shelf__wire_msg *m)
{
    json_t *recs = json_object_get(m->root, "records"), *r;
    size_t i;

    if (strcmp(m->type, "changes") != 0)
        return bad(e, "expected changes");
    if (!json_is_array(recs) || json_array_size(recs) == 0)
        return bad(e, "changes without records");
    if (!(m->recs = shelf__calloc(json_array_size(recs), sizeof *m->recs)))
        return shelf__seterr(e, SHELF_ENOMEM, "out of memory");
    json_array_foreach(recs, i, r) {
        shelf__change *c = &m->recs[i];
        json_t *f[6];
        size_t k;

        if (!json_is_array(r) || json_array_size(r) != 6)
            return bad(e, "a record is not six fields");
        for (k = 0; k < 6; k++)
            f[k] = json_array_get(r, k);
        if (!json_is_string(f[0]) || !canonical(json_string_value(f[0])))
            return bad(e, "a record's device is not a device id");
        if (!json_is_integer(f[1]) || json_integer_value(f[1]) < 1 || !json_is_integer(f[2]) ||
            json_integer_value(f[2]) < 0)
            return bad(e, "a record's counter or clock is not a number");
        if (!json_is_string(f[3]) || json_string_length(f[3]) == 0 ||
            json_string_length(f[3]) > ITEM_MAX || !json_is_string(f[4]) ||
            json_string_length(f[4]) == 0 || json_string_length(f[4]) > ITEM_MAX ||
            !json_is_string(f[5]) || json_string_length(f[5]) > VALUE_MAX)
            return bad(e, "a record's item, field or value is not text of its size");
        if (strlen(json_string_value(f[3])) != json_string_length(f[3]) ||
            strlen(json_string_value(f[4])) != json_string_length(f[4]) ||
            strlen(json_string_value(f[5])) != json_string_length(f[5]))
            return bad(e, "a record holds a NUL byte");
        c->device = json_string_value(f[0]);
        c->counter = json_integer_value(f[1]);
        c->hlc = (uint64_t)json_integer_value(f[2]);
        c->item = json_string_value(f[3]);
        c->field = json_string_value(f[4]);
        c->value = json_string_value(f[5]);
    }
    m->nrecs = json_array_size(recs);
    return SHELF_OK;
}

int shelf__wire_want(shelf__err *e, shelf__wire_msg *m, json_t **shas, int *files)
{
    json_t *list = json_object_get(m->root, "shas"), *h;
    size_t i;

    if (strcmp(m->type, "want") != 0)
        return bad(e, "expected want");
    if (!json_is_array(list) || json_array_size(list) > SHELF__WANT_MAX)
        return bad(e, "want without a list of at most 4096 hashes");
    json_array_foreach(list, i, h)
        if (!json_is_string(h) || !shelf__is_hash_hex(json_string_value(h)))
            return bad(e, "a wanted file is not a SHA-256 in hex");
    *shas = list;
    *files = json_is_true(json_object_get(m->root, "files"));
    return SHELF_OK;
}

int shelf__wire_file(shelf__err *e, shelf__wire_msg *m, const char **sha, size_t *size)
{
    json_t *h = json_object_get(m->root, "sha"), *n = json_object_get(m->root, "size");

    if (strcmp(m->type, "file") != 0)
        return bad(e, "expected file");
    if (!json_is_string(h) || !shelf__is_hash_hex(json_string_value(h)))
        return bad(e, "a file without its SHA-256");
    if (!json_is_integer(n) || json_integer_value(n) < 0 ||
        (uint64_t)json_integer_value(n) > SHELF__BLOB_MAX)
        return bad(e, "a file without a size of at most 2 GiB");
    *sha = json_string_value(h);
    *size = (size_t)json_integer_value(n);
    return SHELF_OK;
}

int shelf__wire_deflate(const char *text, size_t n, shelf__buf *out)
{
    size_t bound = ZSTD_compressBound(n), z;

    shelf__buf_reset(out);
    if (shelf__buf_grow(out, bound) != SHELF_OK)
        return SHELF_ENOMEM;
    z = ZSTD_compress(out->buf, bound, text, n, 3);
    if (ZSTD_isError(z))
        return SHELF_EIO;
    out->len = z;
    return SHELF_OK;
}

int shelf__wire_inflate(shelf__err *e, const void *frame, size_t n, shelf__buf *out)
{
    unsigned long long size = ZSTD_getFrameContentSize(frame, n);
    size_t got;

    shelf__buf_reset(out);
    if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN || size == 0 ||
        size > SHELF__WIRE_MAX)
        return bad(e, "a compressed message that is not a zstd frame of a message's size");
    if (shelf__buf_grow(out, (size_t)size + 1) != SHELF_OK)
        return shelf__seterr(e, SHELF_ENOMEM, "out of memory");
    got = ZSTD_decompress(out->buf, (size_t)size + 1, frame, n);
    if (ZSTD_isError(got) || got != size) {
        shelf__buf_reset(out);
        return bad(e, "a damaged compressed message");
    }
    out->buf[out->len = got] = '\0';
    return SHELF_OK;
}
