/*
 * fuzz_s3xml.c: fuzz target for the parser of S3's XML replies
 * (shelf__s3_reply_parse in be_s3.c): the first byte selects the reply
 * kind expected (ListBucketResult, ListMultipartUploadsResult,
 * InitiateMultipartUploadResult, CompleteMultipartUploadResult, Error,
 * ListPartsResult),
 * the rest is the body a server sent.  A success has every string
 * NUL-terminated and the fields its kind needs; a failure is
 * SHELF_EFORMAT or SHELF_ENOMEM with a one-line reason and nothing left
 * allocated.  Broken invariants abort().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz_target.h"
#include "remote/s3_int.h"

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "fuzz_s3xml: %s:%d: invariant failed: %s\n",     \
                    __FILE__, __LINE__, #cond);                              \
            abort();                                                         \
        }                                                                    \
    } while (0)

static void check_opt(const char *s, size_t input)
{
    if (s)
        CHECK(strlen(s) <= input);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    shelf__s3_reply r;
    shelf__err err = { 0, "" };
    int kind, rc;
    size_t i;

    if (size < 1)
        return 0;
    kind = SHELF__S3X_LIST + data[0] % 6;
    rc = shelf__s3_reply_parse(data + 1, size - 1, kind, &r, &err);
    if (rc != SHELF_OK) {
        CHECK(rc == SHELF_EFORMAT || rc == SHELF_ENOMEM);
        CHECK(err.rc == rc && err.msg[0] && !strchr(err.msg, '\n'));
        CHECK(!r.items && !r.n && !r.code && !r.upload_id && !r.next_token);
        return 0;
    }
    check_opt(r.code, size);
    check_opt(r.message, size);
    check_opt(r.etag, size);
    check_opt(r.next_token, size);
    check_opt(r.next_key, size);
    check_opt(r.next_upload, size);
    if (!r.is_error && kind == SHELF__S3X_INITIATE)
        CHECK(r.upload_id != NULL);
    check_opt(r.upload_id, size);
    CHECK(r.n == 0 || r.items);
    for (i = 0; i < r.n; i++) {
        if (kind == SHELF__S3X_PARTS) {
            CHECK(r.items[i].part >= 1 && r.items[i].part <= 10000 && r.items[i].etag);
            check_opt(r.items[i].etag, size);
            continue;
        }
        CHECK(r.items[i].key != NULL);
        check_opt(r.items[i].key, size);
        if (kind == SHELF__S3X_UPLOADS)
            CHECK(r.items[i].upload_id != NULL);
        check_opt(r.items[i].upload_id, size);
    }
    if (r.is_error || (kind != SHELF__S3X_LIST && kind != SHELF__S3X_UPLOADS &&
                       kind != SHELF__S3X_PARTS))
        CHECK(r.n == 0);
    shelf__s3_reply_free(&r);
    return 0;
}
