/*
 * sigv4_int.h: AWS Signature Version 4 (AWS4-HMAC-SHA256), computed by
 * shelf on OpenSSL's HMAC-SHA256 rather than by libcurl, whose
 * CURLOPT_AWS_SIGV4 in Debian 12 (7.88) signs some S3 requests wrongly (no
 * payload hash, unsorted or empty query values).  The signer is pure: the
 * time is an input, so tests compare it with published vectors (AWS's
 * SigV4 test suite, botocore, the S3 documentation's examples).
 *
 * S3 rules, kept for every service: the path is not normalised ("." and
 * ".." stay, "//" stays) and not encoded twice.
 */
#ifndef SHELF_REMOTE_SIGV4_INT_H
#define SHELF_REMOTE_SIGV4_INT_H

#include "../common/common_int.h"

/* The payload hash S3 accepts for a body that is not hashed. */
#define SHELF__SIGV4_UNSIGNED "UNSIGNED-PAYLOAD"
/* SHA-256 of the empty string, the payload hash of GET, HEAD, DELETE. */
#define SHELF__SIGV4_EMPTY_SHA256 \
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

typedef struct shelf__sigv4_req {
    const char *method;         /* "GET", "PUT", ... */
    /* The path as sent in the URL ("/bucket/data/ab%20c").  Each byte
     * outside RFC 3986's unreserved set and '/' is percent-encoded, a "%XX"
     * already there is kept (upper-cased), never encoded again. */
    const char *path;
    /* The query after '?' (NULL or "": none), "k=v" pairs joined by '&',
     * encoded or not (same rule as path, '=' and '&' separate).  Sorted by
     * key then value; a key without '=' signs as "key=". */
    const char *query;
    /* Every header to sign, "Name: value" (n of them): lower-cased names,
     * values trimmed and inner runs of spaces made one, sorted, repeated
     * names joined by ','.  Must hold "host" (as the client sends it: no
     * default port); for S3 also "x-amz-date" (shelf__sigv4_amz_date of
     * time), "x-amz-content-sha256" (payload_hash) and, with a session
     * token, "x-amz-security-token". */
    const char *const *headers;
    size_t n_headers;
    /* 64 lowercase hex digits, or SHELF__SIGV4_UNSIGNED; NULL: the SHA-256
     * of body[0..body_len) is computed. */
    const char *payload_hash;
    const void *body;
    size_t body_len;
    int64_t time;               /* unix seconds (UTC) of the request */
    const char *access_key;
    const char *secret_key;
    const char *region;         /* "us-east-1" */
    const char *service;        /* "s3" */
} shelf__sigv4_req;

/* What the signer made: every string owned (shelf__sigv4_out_release). */
typedef struct shelf__sigv4_out {
    char amz_date[17];          /* "20150830T123600Z" */
    char *canonical_request;    /* the six lines joined by '\n' */
    char *string_to_sign;
    char *signed_headers;       /* "host;x-amz-content-sha256;x-amz-date" */
    char *signature;            /* 64 hex digits */
    /* The value of the Authorization header:
     * "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/s3/aws4_request,
     *  SignedHeaders=..., Signature=..." (one line) */
    char *authorization;
} shelf__sigv4_out;

/*
 * Sign rq.  SHELF_OK with *out filled; SHELF_EINVAL (err says which part:
 * a missing field, a header without ':', no host header, a time out of
 * range, a malformed payload_hash) or SHELF_ENOMEM, with *out zeroed.  The
 * secret's derived keys are wiped (OPENSSL_cleanse).  Thread-safe.
 */
int shelf__sigv4_sign(const shelf__sigv4_req *rq, shelf__sigv4_out *out, shelf__err *err);
void shelf__sigv4_out_release(shelf__sigv4_out *out);

/* The ISO 8601 basic form of t for x-amz-date ("20150830T123600Z"):
 * SHELF_OK, or SHELF_EINVAL for a time gmtime cannot express. */
int shelf__sigv4_amz_date(int64_t t, char out[17]);

/* Append s to b percent-encoded the SigV4 way (unreserved kept, '/' kept
 * when keep_slash, "%XX" kept upper-cased).  SHELF_OK or SHELF_ENOMEM. */
int shelf__sigv4_encode(shelf__buf *b, const char *s, size_t n, int keep_slash);

#endif /* SHELF_REMOTE_SIGV4_INT_H */
