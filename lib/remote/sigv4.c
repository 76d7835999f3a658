/*
 * sigv4.c: the AWS Signature Version 4 signer (sigv4_int.h): canonical
 * request, string to sign, signing key and Authorization header, on
 * OpenSSL's HMAC-SHA256.  Owns nothing beyond one call.
 */
#include <string.h>
#include <time.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include "sigv4_int.h"

static int is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}

static int is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int shelf__sigv4_encode(shelf__buf *b, const char *s, size_t n, int keep_slash)
{
    static const char digits[] = "0123456789ABCDEF";
    size_t i;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[3];

        if (is_unreserved(c) || (c == '/' && keep_slash)) {
            if (shelf__buf_add(b, &s[i], 1) != SHELF_OK)
                return SHELF_ENOMEM;
            continue;
        }
        if (c == '%' && i + 2 < n && is_hex((unsigned char)s[i + 1]) &&
            is_hex((unsigned char)s[i + 2])) {
            /* Already encoded: keep it, never "%25XX". */
            esc[0] = '%';
            esc[1] = (char)(s[i + 1] >= 'a' ? s[i + 1] - 32 : s[i + 1]);
            esc[2] = (char)(s[i + 2] >= 'a' ? s[i + 2] - 32 : s[i + 2]);
            i += 2;
        } else {
            esc[0] = '%';
            esc[1] = digits[c >> 4];
            esc[2] = digits[c & 15];
        }
        if (shelf__buf_add(b, esc, 3) != SHELF_OK)
            return SHELF_ENOMEM;
    }
    return SHELF_OK;
}

int shelf__sigv4_amz_date(int64_t t, char out[17])
{
    time_t tt = (time_t)t;
    struct tm tm;

    out[0] = '\0';
    if ((int64_t)tt != t || !gmtime_r(&tt, &tm) || tm.tm_year + 1900 < 0 ||
        tm.tm_year + 1900 > 9999)
        return SHELF_EINVAL;
    if (strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm) != 16) {
        out[0] = '\0';
        return SHELF_EINVAL;
    }
    return SHELF_OK;
}

/* One query parameter, encoded. */
typedef struct qparam {
    char *key, *val;
} qparam;

static int qparam_cmp(const void *a, const void *b)
{
    const qparam *x = a, *y = b;
    int c = strcmp(x->key, y->key);

    return c ? c : strcmp(x->val, y->val);
}

static char *encode_part(const char *s, size_t n)
{
    shelf__buf b = SHELF__BUF_INIT;

    if (shelf__buf_add(&b, "", 0) != SHELF_OK || shelf__sigv4_encode(&b, s, n, 0) != SHELF_OK) {
        shelf__buf_release(&b);
        return NULL;
    }
    return shelf__buf_detach(&b);
}

static int add_query(shelf__buf *b, const char *query)
{
    qparam *v = NULL;
    size_t n = 0, cap = 0, i;
    const char *p = query;
    int rc = SHELF_OK;

    while (p && *p) {
        const char *amp = strchr(p, '&'), *end = amp ? amp : p + strlen(p), *eq;

        if (end > p) {
            if (n == cap) {
                qparam *nv = shelf__realloc(v, (cap ? cap * 2 : 8) * sizeof *v);

                if (!nv) {
                    rc = SHELF_ENOMEM;
                    goto out;
                }
                v = nv;
                cap = cap ? cap * 2 : 8;
            }
            eq = memchr(p, '=', (size_t)(end - p));
            v[n].key = encode_part(p, (size_t)((eq ? eq : end) - p));
            v[n].val = eq ? encode_part(eq + 1, (size_t)(end - eq - 1)) : encode_part("", 0);
            n++;
            if (!v[n - 1].key || !v[n - 1].val) {
                rc = SHELF_ENOMEM;
                goto out;
            }
        }
        p = amp ? amp + 1 : NULL;
    }
    if (n)
        qsort(v, n, sizeof *v, qparam_cmp);
    for (i = 0; i < n && rc == SHELF_OK; i++)
        rc = shelf__buf_addf(b, "%s%s=%s", i ? "&" : "", v[i].key, v[i].val);
out:
    for (i = 0; i < n; i++) {
        shelf_free(v[i].key);
        shelf_free(v[i].val);
    }
    shelf_free(v);
    return rc;
}

/* One header: lower-cased name, value with spaces trimmed and squeezed. */
typedef struct hparam {
    char *name, *val;
    size_t order;
} hparam;

static int hparam_cmp(const void *a, const void *b)
{
    const hparam *x = a, *y = b;
    int c = strcmp(x->name, y->name);

    if (c)
        return c;
    return x->order < y->order ? -1 : x->order > y->order;
}

static int parse_header(const char *h, hparam *out)
{
    const char *colon = strchr(h, ':'), *v;
    size_t i, n;
    shelf__buf b = SHELF__BUF_INIT;
    int space = 0;

    out->name = out->val = NULL;
    if (!colon || colon == h)
        return SHELF_EINVAL;
    n = (size_t)(colon - h);
    while (n && (h[n - 1] == ' ' || h[n - 1] == '\t'))
        n--;
    if (!(out->name = shelf__strndup(h, n)))
        return SHELF_ENOMEM;
    for (i = 0; i < n; i++)
        if (out->name[i] >= 'A' && out->name[i] <= 'Z')
            out->name[i] = (char)(out->name[i] + 32);
    for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
        ;
    if (shelf__buf_add(&b, "", 0) != SHELF_OK)
        return SHELF_ENOMEM;
    for (; *v; v++) {
        if (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n') {
            space = 1;
            continue;
        }
        if ((space && shelf__buf_add(&b, " ", 1) != SHELF_OK) || shelf__buf_add(&b, v, 1) != SHELF_OK) {
            shelf__buf_release(&b);
            return SHELF_ENOMEM;
        }
        space = 0;
    }
    out->val = shelf__buf_detach(&b);
    return SHELF_OK;
}

static int hmac(const void *key, size_t klen, const char *msg, uint8_t out[32])
{
    unsigned int olen = 0;

    if (!HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), out, &olen) ||
        olen != 32)
        return SHELF_ENOMEM;
    return SHELF_OK;
}

static int empty(const char *s)
{
    return !s || !*s;
}

void shelf__sigv4_out_release(shelf__sigv4_out *out)
{
    shelf_free(out->canonical_request);
    shelf_free(out->string_to_sign);
    shelf_free(out->signed_headers);
    shelf_free(out->signature);
    shelf_free(out->authorization);
    memset(out, 0, sizeof *out);
}

/* Check what the request must have; set out->amz_date and phash (the
 * payload's hash in hex, or "" for UNSIGNED-PAYLOAD). */
static int sign_check(const shelf__sigv4_req *rq, shelf__sigv4_out *out, char phash[SHELF_HASH_HEX],
                      shelf__err *err)
{
    uint8_t digest[SHELF_HASH_BYTES];

    if (empty(rq->method) || !rq->path || rq->path[0] != '/' || empty(rq->access_key) ||
        !rq->secret_key || empty(rq->region) || empty(rq->service))
        return shelf__seterr(err, SHELF_EINVAL, "cannot sign request: %s missing",
                             empty(rq->method) ? "method" :
                             !rq->path || rq->path[0] != '/' ? "path" :
                             empty(rq->access_key) ? "access key" :
                             !rq->secret_key ? "secret key" :
                             empty(rq->region) ? "region" : "service");
    if (shelf__sigv4_amz_date(rq->time, out->amz_date) != SHELF_OK)
        return shelf__seterr(err, SHELF_EINVAL, "cannot sign request: time %lld out of range",
                             (long long)rq->time);
    if (rq->payload_hash) {
        size_t n = strlen(rq->payload_hash);
        int ok = !strcmp(rq->payload_hash, SHELF__SIGV4_UNSIGNED) ||
                 (n == 64 && strspn(rq->payload_hash, "0123456789abcdef") == 64);

        if (!ok)
            return shelf__seterr(err, SHELF_EINVAL, "cannot sign request: bad payload hash '%.70s'",
                                 rq->payload_hash);
        snprintf(phash, SHELF_HASH_HEX, "%s", rq->payload_hash);
        if (n != 64)
            phash[0] = '\0';    /* UNSIGNED-PAYLOAD: longer than the buffer */
    } else {
        shelf__sha256_mem(rq->body ? rq->body : "", rq->body ? rq->body_len : 0, digest);
        shelf__hex(digest, sizeof digest, phash);
    }
    return SHELF_OK;
}

/* The request's headers, lower-cased and sorted (stable for repeated
 * names), into *hv (*nh of them, to free even on failure). */
static int sign_headers(const shelf__sigv4_req *rq, hparam **hv, size_t *nh, shelf__err *err)
{
    int rc, has_host = 0;

    *nh = 0;
    if (rq->n_headers && !(*hv = shelf__calloc(rq->n_headers, sizeof **hv)))
        return shelf__seterr(err, SHELF_ENOMEM, "out of memory");
    for (; *nh < rq->n_headers; (*nh)++) {
        hparam *h = &(*hv)[*nh];

        if ((rc = parse_header(rq->headers[*nh], h)) != SHELF_OK) {
            (*nh)++;
            if (rc == SHELF_EINVAL)
                return shelf__seterr(err, rc, "cannot sign request: bad header '%.60s'",
                                     rq->headers[*nh - 1]);
            return shelf__seterr(err, rc, "out of memory");
        }
        h->order = *nh;
        if (!strcmp(h->name, "host"))
            has_host = 1;
    }
    if (!has_host)
        return shelf__seterr(err, SHELF_EINVAL, "cannot sign request: no host header");
    qsort(*hv, *nh, sizeof **hv, hparam_cmp);
    return SHELF_OK;
}

/* The canonical request into creq, the signed header names into sh. */
static int sign_canonical(const shelf__sigv4_req *rq, const hparam *hv, size_t nh, const char *phash,
                          shelf__buf *creq, shelf__buf *sh)
{
    size_t i;
    int rc;

    rc = shelf__buf_addf(creq, "%s\n", rq->method);
    if (rc == SHELF_OK)
        rc = shelf__sigv4_encode(creq, rq->path, strlen(rq->path), 1);
    if (rc == SHELF_OK)
        rc = shelf__buf_add(creq, "\n", 1);
    if (rc == SHELF_OK)
        rc = add_query(creq, rq->query);
    if (rc == SHELF_OK)
        rc = shelf__buf_add(creq, "\n", 1);
    for (i = 0; i < nh && rc == SHELF_OK; i++) {
        int first = i == 0 || strcmp(hv[i].name, hv[i - 1].name) != 0;
        int last = i + 1 == nh || strcmp(hv[i].name, hv[i + 1].name) != 0;

        if (first) {
            rc = shelf__buf_addf(creq, "%s:%s", hv[i].name, hv[i].val);
            if (rc == SHELF_OK)
                rc = shelf__buf_addf(sh, "%s%s", sh->len ? ";" : "", hv[i].name);
        } else {
            rc = shelf__buf_addf(creq, ",%s", hv[i].val);
        }
        if (rc == SHELF_OK && last)
            rc = shelf__buf_add(creq, "\n", 1);
    }
    if (rc == SHELF_OK)
        rc = shelf__buf_addf(creq, "\n%s\n%s", sh->buf ? sh->buf : "",
                             phash[0] ? phash : SHELF__SIGV4_UNSIGNED);
    return rc;
}

/* The signature of sts: the HMAC chain over date, region and service gives
 * the signing key. */
static int sign_hmac(const shelf__sigv4_req *rq, const char *date, const char *sts,
                     uint8_t digest[SHELF_HASH_BYTES])
{
    uint8_t k1[32], k2[32];
    char *secret4;
    int rc = SHELF_ENOMEM;

    if (!(secret4 = shelf__asprintf("AWS4%s", rq->secret_key)))
        return SHELF_ENOMEM;
    if (hmac(secret4, strlen(secret4), date, k1) == SHELF_OK &&
        hmac(k1, sizeof k1, rq->region, k2) == SHELF_OK &&
        hmac(k2, sizeof k2, rq->service, k1) == SHELF_OK &&
        hmac(k1, sizeof k1, "aws4_request", k2) == SHELF_OK &&
        hmac(k2, sizeof k2, sts, digest) == SHELF_OK)
        rc = SHELF_OK;
    OPENSSL_cleanse(k1, sizeof k1);
    OPENSSL_cleanse(k2, sizeof k2);
    OPENSSL_cleanse(secret4, strlen(secret4));
    shelf_free(secret4);
    return rc;
}

int shelf__sigv4_sign(const shelf__sigv4_req *rq, shelf__sigv4_out *out, shelf__err *err)
{
    shelf__buf creq = SHELF__BUF_INIT, sts = SHELF__BUF_INIT, sh = SHELF__BUF_INIT;
    hparam *hv = NULL;
    size_t i, nh = 0;
    int rc;
    char phash[SHELF_HASH_HEX] = "", date[9], scope_hash[SHELF_HASH_HEX];
    uint8_t digest[SHELF_HASH_BYTES];

    memset(out, 0, sizeof *out);
    if ((rc = sign_check(rq, out, phash, err)) != SHELF_OK)
        return rc;
    memcpy(date, out->amz_date, 8);
    date[8] = '\0';
    if ((rc = sign_headers(rq, &hv, &nh, err)) != SHELF_OK)
        goto out;
    if (sign_canonical(rq, hv, nh, phash, &creq, &sh) != SHELF_OK) {
        rc = shelf__seterr(err, SHELF_ENOMEM, "out of memory");
        goto out;
    }

    /* The string to sign, and its signature. */
    shelf__sha256_mem(creq.buf, creq.len, digest);
    shelf__hex(digest, sizeof digest, scope_hash);
    if (shelf__buf_addf(&sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s", out->amz_date,
                        date, rq->region, rq->service, scope_hash) != SHELF_OK ||
        sign_hmac(rq, date, sts.buf, digest) != SHELF_OK ||
        !(out->signature = shelf__malloc(SHELF_HASH_HEX))) {
        rc = shelf__seterr(err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    shelf__hex(digest, sizeof digest, out->signature);
    out->authorization = shelf__asprintf(
        "AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request, SignedHeaders=%s, Signature=%s",
        rq->access_key, date, rq->region, rq->service, sh.buf, out->signature);
    out->canonical_request = shelf__buf_detach(&creq);
    out->string_to_sign = shelf__buf_detach(&sts);
    out->signed_headers = shelf__buf_detach(&sh);
    if (!out->authorization || !out->canonical_request || !out->string_to_sign ||
        !out->signed_headers)
        rc = shelf__seterr(err, SHELF_ENOMEM, "out of memory");
out:
    for (i = 0; i < nh; i++) {
        shelf_free(hv[i].name);
        shelf_free(hv[i].val);
    }
    shelf_free(hv);
    shelf__buf_release(&creq);
    shelf__buf_release(&sts);
    shelf__buf_release(&sh);
    if (rc != SHELF_OK)
        shelf__sigv4_out_release(out);
    return rc;
}
