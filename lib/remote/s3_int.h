/*
 * s3_int.h: the parser of S3's XML replies (ListBucketResult,
 * ListMultipartUploadsResult, ListPartsResult, InitiateMultipartUploadResult,
 * CompleteMultipartUploadResult and Error, which may come inside a 200),
 * shared by be_s3.c and fuzz/fuzz_s3xml.c, and the s3 backend's test
 * hooks.
 */
#ifndef SHELF_REMOTE_S3_INT_H
#define SHELF_REMOTE_S3_INT_H

#include "remote_int.h"

/* The reply a request expects (its root element). */
enum {
    SHELF__S3X_LIST = 1,      /* ListBucketResult (ListObjectsV2) */
    SHELF__S3X_UPLOADS,       /* ListMultipartUploadsResult */
    SHELF__S3X_INITIATE,      /* InitiateMultipartUploadResult */
    SHELF__S3X_COMPLETE,      /* CompleteMultipartUploadResult */
    SHELF__S3X_ERROR,         /* Error (the body of a 4xx or 5xx) */
    SHELF__S3X_PARTS          /* ListPartsResult */
};

typedef struct shelf__s3_item {
    char *key;                /* Key (LIST, UPLOADS; owned) */
    uint64_t size;            /* Size (LIST, PARTS) */
    char *upload_id;          /* UploadId (UPLOADS; owned) */
    int64_t initiated;        /* Initiated (UPLOADS): unix seconds; -1 when absent or unreadable */
    unsigned part;            /* PartNumber (PARTS): 1 to 10000 */
    char *etag;               /* ETag (PARTS; owned, quotes kept) */
} shelf__s3_item;

typedef struct shelf__s3_reply {
    int is_error;             /* the root was <Error>, whatever was expected */
    char *code, *message;     /* Error: Code, Message (owned or NULL) */
    char *upload_id;          /* INITIATE: UploadId */
    char *etag;               /* COMPLETE: ETag (quotes kept) */
    int truncated;            /* LIST, UPLOADS: IsTruncated is "true" */
    char *next_token;         /* LIST: NextContinuationToken */
    char *next_key;           /* UPLOADS: NextKeyMarker */
    char *next_upload;        /* UPLOADS: NextUploadIdMarker */
    uint64_t next_part;       /* PARTS: NextPartNumberMarker (0: none) */
    shelf__s3_item *items;    /* LIST: Contents; UPLOADS: Upload; PARTS: Part */
    size_t n;
} shelf__s3_reply;

/*
 * Parse xml[0..n) (through shelf__xml_read) as a reply of kind (SHELF__S3X_).
 * SHELF_OK with *r filled (r->is_error when the root is <Error>);
 * SHELF_EFORMAT with err saying why (malformed XML, another root, an
 * element the kind needs missing, a Size or PartNumber that is no number);
 * SHELF_ENOMEM.  *r is zeroed first; release it with shelf__s3_reply_free.
 */
int shelf__s3_reply_parse(const void *xml, size_t n, int kind, shelf__s3_reply *r,
                          shelf__err *err);
void shelf__s3_reply_free(shelf__s3_reply *r);

/*
 * Test hooks of an s3 backend (be from shelf__be_s3_open): max_keys for
 * each list request (0: the server's default, 1000); crash_after_part > 0
 * makes save_fd stop after uploading that many parts of a multipart upload
 * with SHELF_EIO and without aborting it, as a killed process would.
 * multipart_min: objects of save_fd from this size go multipart (0: the
 * default, 32 MiB).  part_size: 0: chosen (8 to 64 MiB).
 */
typedef struct shelf__s3_hooks {
    int max_keys;
    int crash_after_part;
    uint64_t multipart_min;
    uint64_t part_size;
    /* sweep aborts uploads started longer ago than this (seconds; 0: a
     * day; -1: every one) and those whose object exists */
    int64_t orphan_age;
} shelf__s3_hooks;
void shelf__be_s3_set_hooks(shelf__backend *be, const shelf__s3_hooks *h);
/* Bytes the backend's connections sent and received so far and the parts
 * of unfinished uploads that saves resumed (every dup'ed handle together). */
void shelf__be_s3_totals(shelf__backend *be, uint64_t *up, uint64_t *down, uint64_t *kept);
/* Whether open found the server honouring If-None-Match (1) or not (0:
 * every save checks with HEAD first). */
int shelf__be_s3_conditional(shelf__backend *be);

#endif /* SHELF_REMOTE_S3_INT_H */
