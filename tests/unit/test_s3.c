/*
 * test_s3.c: the SigV4 signer against the S3 documentation's examples, and
 * the s3 backend against @20minutes/s3rver (which checks signatures),
 * started on 127.0.0.1 by the test and stopped at exit.
 */
#include "test.h"
#include "remote/sigv4_int.h"

#define AKID "AKIAIOSFODNN7EXAMPLE"
#define SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define T20130524 1369353600    /* 2013-05-24T00:00:00Z */

static void sign_s3(const char *method, const char *path, const char *query,
                    const char *const *hdrs, size_t n, const char *phash, const char *want_sig)
{
    shelf__sigv4_req rq;
    shelf__sigv4_out out;
    shelf__err err = { 0, "" };

    memset(&rq, 0, sizeof rq);
    rq.method = method;
    rq.path = path;
    rq.query = query;
    rq.headers = hdrs;
    rq.n_headers = n;
    rq.payload_hash = phash;
    rq.time = T20130524;
    rq.access_key = AKID;
    rq.secret_key = SECRET;
    rq.region = "us-east-1";
    rq.service = "s3";
    ASSERT_OKM(err.msg, shelf__sigv4_sign(&rq, &out, &err));
    ASSERT_EQ_STR(out.amz_date, "20130524T000000Z");
    if (strcmp(out.signature, want_sig))
        printf("%s\n--\n%s\n", out.canonical_request, out.string_to_sign);
    ASSERT_EQ_STR(out.signature, want_sig);
    ASSERT(!strncmp(out.authorization, "AWS4-HMAC-SHA256 Credential=" AKID
                    "/20130524/us-east-1/s3/aws4_request, SignedHeaders=", 86));
    shelf__sigv4_out_release(&out);
}

/* The four examples of "Signature Calculations for the Authorization
 * Header: Transferring Payload in a Single Chunk" (S3 API reference). */
TEST(sigv4_s3_doc_examples)
{
    static const char *get_obj[] = {
        "Host: examplebucket.s3.amazonaws.com", "Range: bytes=0-9",
        "x-amz-content-sha256:" SHELF__SIGV4_EMPTY_SHA256, "x-amz-date: 20130524T000000Z",
    };
    static const char *put_obj[] = {
        "Host: examplebucket.s3.amazonaws.com", "Date: Fri, 24 May 2013 00:00:00 GMT",
        "x-amz-date: 20130524T000000Z", "x-amz-storage-class: REDUCED_REDUNDANCY",
        "x-amz-content-sha256: 44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
    };
    static const char *get_sub[] = {
        "Host: examplebucket.s3.amazonaws.com",
        "x-amz-content-sha256:" SHELF__SIGV4_EMPTY_SHA256, "x-amz-date: 20130524T000000Z",
    };

    sign_s3("GET", "/test.txt", NULL, get_obj, 4, SHELF__SIGV4_EMPTY_SHA256,
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
    /* '$' is encoded in the canonical URI */
    sign_s3("PUT", "/test$file.text", NULL, put_obj, 5,
            "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
            "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
    /* ... and an encoded one is not encoded twice */
    sign_s3("PUT", "/test%24file.text", NULL, put_obj, 5,
            "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
            "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
    /* a key with no value signs as "lifecycle=" */
    sign_s3("GET", "/", "lifecycle", get_sub, 3, SHELF__SIGV4_EMPTY_SHA256,
            "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
    /* query keys sorted */
    sign_s3("GET", "/", "prefix=J&max-keys=2", get_sub, 3, SHELF__SIGV4_EMPTY_SHA256,
            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

TEST(sigv4_payload_hash_and_errors)
{
    static const char *hdrs[] = { "host:example.com", "x-amz-date:20130524T000000Z" };
    shelf__sigv4_req rq;
    shelf__sigv4_out out;
    shelf__err err = { 0, "" };

    memset(&rq, 0, sizeof rq);
    rq.method = "PUT";
    rq.path = "/b/k";
    rq.headers = hdrs;
    rq.n_headers = 2;
    rq.body = "Welcome to Amazon S3.";
    rq.body_len = 21;
    rq.time = T20130524;
    rq.access_key = AKID;
    rq.secret_key = SECRET;
    rq.region = "us-east-1";
    rq.service = "s3";
    ASSERT_OK(shelf__sigv4_sign(&rq, &out, &err));
    /* the body's SHA-256 ends the canonical request */
    ASSERT(strstr(out.canonical_request,
                  "\nhost;x-amz-date\n44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"));
    shelf__sigv4_out_release(&out);
    rq.payload_hash = SHELF__SIGV4_UNSIGNED;
    ASSERT_OK(shelf__sigv4_sign(&rq, &out, &err));
    ASSERT(strstr(out.canonical_request, "\nUNSIGNED-PAYLOAD"));
    shelf__sigv4_out_release(&out);
    rq.payload_hash = "nothex";
    ASSERT_RC(SHELF_EINVAL, shelf__sigv4_sign(&rq, &out, &err));
    ASSERT(strstr(err.msg, "payload hash"));
    ASSERT(!out.authorization);
    rq.payload_hash = NULL;
    rq.n_headers = 1;
    rq.headers = hdrs + 1;
    ASSERT_RC(SHELF_EINVAL, shelf__sigv4_sign(&rq, &out, &err));
    ASSERT(strstr(err.msg, "no host header"));
}

int main(int argc, char **argv)
{
    static const test_case tests[] = {
        TEST_ENTRY(sigv4_s3_doc_examples),
        TEST_ENTRY(sigv4_payload_hash_and_errors),
        TEST_END
    };

    return test_run(argc, argv, tests);
}
