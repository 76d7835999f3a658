/*
 * test_sigv4.c: the SigV4 signer (lib/remote/sigv4.c) against references
 * it was not written from:
 *  - the vectors in tests/data/sigv4 (AWS's published SigV4 test suite, less
 *    its normalize-path cases, and the S3 API reference's examples; the
 *    format is in tests/data/sigv4/README): canonical request, string to
 *    sign and Authorization compared byte for byte;
 *  - botocore's S3 signer (tests/servers/sigv4_botocore.py, run with
 *    /usr/bin/python3) on 300 random requests this test makes: keys with
 *    every unreserved character and bytes that must be percent-encoded
 *    (UTF-8, spaces, '%', '+', ...), given to the signer encoded or not,
 *    queries with empty, missing and repeated values, session tokens,
 *    regions, hosts with and without ports, repeated headers and runs of
 *    spaces.  The Authorization headers must be equal byte for byte.  The
 *    seed is printed; SHELF_TEST_SEED replays one.
 */
#include <dirent.h>
#include <time.h>
#include "test.h"
#include "remote/sigv4_int.h"

#ifndef SHELF_TEST_DATA
#error "SHELF_TEST_DATA must name tests/data"
#endif
#ifndef SHELF_TEST_SERVERS
#error "SHELF_TEST_SERVERS must name tests/servers"
#endif

#define MAX_HDRS 24

/* ---- the vector files ------------------------------------------------- */

typedef struct vec {
    char *key, *secret, *region, *service, *date, *method, *path, *payload;
    shelf__buf query;
    char *hdrs[MAX_HDRS];
    size_t n_hdrs;
    shelf__buf creq, sts, authz;
} vec;

/* The n decimal digits at s. */
static int digits(const char *s, int n)
{
    int v = 0, i;

    for (i = 0; i < n; i++) {
        ASSERT(s[i] >= '0' && s[i] <= '9');
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* Parse "YYYYMMDDTHHMMSSZ" as UTC seconds. */
static int64_t parse_amz_date(const char *s)
{
    struct tm tm;

    memset(&tm, 0, sizeof tm);
    ASSERT(strlen(s) == 16 && s[8] == 'T' && s[15] == 'Z');
    tm.tm_year = digits(s, 4) - 1900;
    tm.tm_mon = digits(s + 4, 2) - 1;
    tm.tm_mday = digits(s + 6, 2);
    tm.tm_hour = digits(s + 9, 2);
    tm.tm_min = digits(s + 11, 2);
    tm.tm_sec = digits(s + 13, 2);
    return (int64_t)timegm(&tm);
}

static void vec_parse(char *text, vec *v)
{
    shelf__buf *sec = NULL;
    char *line, *next;

    memset(v, 0, sizeof *v);
    for (line = text; line && *line; line = next) {
        char *sp;

        if ((next = strchr(line, '\n')))
            *next++ = '\0';
        if (!strcmp(line, "[creq]") || !strcmp(line, "[sts]") || !strcmp(line, "[authz]")) {
            sec = line[1] == 'c' ? &v->creq : line[1] == 's' ? &v->sts : &v->authz;
            continue;
        }
        if (sec) {
            if (sec->len)
                ASSERT_OK(shelf__buf_adds(sec, "\n"));
            ASSERT_OK(shelf__buf_adds(sec, line));
            continue;
        }
        if (line[0] == '#' || !line[0])
            continue;
        sp = strchr(line, ' ');
        ASSERT(sp != NULL);
        *sp++ = '\0';
        if (!strcmp(line, "key")) v->key = sp;
        else if (!strcmp(line, "secret")) v->secret = sp;
        else if (!strcmp(line, "region")) v->region = sp;
        else if (!strcmp(line, "service")) v->service = sp;
        else if (!strcmp(line, "date")) v->date = sp;
        else if (!strcmp(line, "method")) v->method = sp;
        else if (!strcmp(line, "path")) v->path = sp;
        else if (!strcmp(line, "payload")) v->payload = sp;
        else if (!strcmp(line, "param")) {
            if (v->query.len)
                ASSERT_OK(shelf__buf_adds(&v->query, "&"));
            ASSERT_OK(shelf__buf_adds(&v->query, sp));
        } else if (!strcmp(line, "header")) {
            ASSERT(v->n_hdrs < MAX_HDRS);
            v->hdrs[v->n_hdrs++] = sp;
        } else {
            test__fail(__FILE__, __LINE__, "unknown vector line '%s'", line);
        }
    }
    ASSERT(v->key && v->secret && v->region && v->service && v->date && v->method &&
           v->path && v->payload && v->creq.len && v->sts.len && v->authz.len);
}

static void vec_release(vec *v)
{
    shelf__buf_release(&v->query);
    shelf__buf_release(&v->creq);
    shelf__buf_release(&v->sts);
    shelf__buf_release(&v->authz);
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sign every vector file whose name starts with prefix; returns how many. */
static int run_vectors(const char *prefix)
{
    char *names[128];
    size_t n = 0, i;
    DIR *d = opendir(SHELF_TEST_DATA "/sigv4");
    struct dirent *e;

    ASSERT(d != NULL);
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);

        if (strncmp(e->d_name, prefix, strlen(prefix)) != 0 || len < 5 ||
            strcmp(e->d_name + len - 4, ".vec") != 0)
            continue;
        ASSERT(n < sizeof names / sizeof names[0]);
        ASSERT((names[n++] = strdup(e->d_name)) != NULL);
    }
    closedir(d);
    qsort(names, n, sizeof names[0], name_cmp);
    for (i = 0; i < n; i++) {
        char path[PATH_MAX], *text;
        vec v;
        shelf__sigv4_req rq;
        shelf__sigv4_out out;
        shelf__err err = { 0, "" };

        test_pathf(path, sizeof path, "%s/sigv4/%s", SHELF_TEST_DATA, names[i]);
        text = test_read_file(path, NULL);
        vec_parse(text, &v);
        memset(&rq, 0, sizeof rq);
        rq.method = v.method;
        rq.path = v.path;
        rq.query = v.query.len ? v.query.buf : NULL;
        rq.headers = (const char *const *)v.hdrs;
        rq.n_headers = v.n_hdrs;
        rq.payload_hash = v.payload;
        rq.time = parse_amz_date(v.date);
        rq.access_key = v.key;
        rq.secret_key = v.secret;
        rq.region = v.region;
        rq.service = v.service;
        ASSERT_OKM(err.msg, shelf__sigv4_sign(&rq, &out, &err));
        if (strcmp(out.canonical_request, v.creq.buf) != 0 ||
            strcmp(out.authorization, v.authz.buf) != 0)
            printf("%s: canonical request\n%s\n-- expected\n%s\n", names[i],
                   out.canonical_request, v.creq.buf);
        ASSERT_EQ_STR(out.amz_date, v.date);
        ASSERT_EQ_STR(out.canonical_request, v.creq.buf);
        ASSERT_EQ_STR(out.string_to_sign, v.sts.buf);
        ASSERT_EQ_STR(out.authorization, v.authz.buf);
        printf("ok %s\n", names[i]);
        shelf__sigv4_out_release(&out);
        vec_release(&v);
        free(text);
        free(names[i]);
    }
    return (int)n;
}

/* AWS's SigV4 test suite: every case but normalize-path (S3 does not
 * normalise paths; see tests/data/sigv4/README for the others left out). */
TEST(aws_test_suite)
{
    ASSERT(run_vectors("suite-") >= 19);
}

/* The S3 API reference's examples: GET Object with Range, PUT Object, GET
 * Bucket lifecycle, ListObjects. */
TEST(s3_doc_examples)
{
    ASSERT_EQ_INT(run_vectors("s3doc-"), 4);
}

/* ---- random requests against botocore --------------------------------- */

static uint64_t rng;

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static size_t pick(size_t n)
{
    return (size_t)(rnd() % n);
}

/* A random string of length [1, max] from these pieces: unreserved
 * characters, characters that must be encoded (each alone) and UTF-8. */
static void rand_text(shelf__buf *b, size_t max, int slash)
{
    static const char unres[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";
    static const char *const other[] = {
        " ", "!", "\"", "#", "$", "%", "&", "'", "(", ")", "*", "+", ",", ":", ";",
        "<", "=", ">", "?", "@", "[", "\\", "]", "^", "`", "{", "|", "}",
        "\xc3\xa9", "\xe5\x90\x8d", "\xf0\x9f\x8e\xb9", "%41", "%2F", "\x7f", "\xff",
    };
    size_t n = 1 + pick(max), i;

    for (i = 0; i < n; i++) {
        size_t k = pick(10);

        if (k < 6) {
            ASSERT_OK(shelf__buf_add(b, &unres[pick(sizeof unres - 1)], 1));
        } else if (k < 9 || !slash) {
            ASSERT_OK(shelf__buf_adds(b, other[pick(sizeof other / sizeof other[0])]));
        } else {
            ASSERT_OK(shelf__buf_adds(b, "/"));
        }
    }
}

/* Percent-encode every byte outside RFC 3986's unreserved set (and '/'
 * when keep_slash): the test's own encoder, upper-case hex. */
static void pct(shelf__buf *b, const char *s, size_t n, int keep_slash)
{
    size_t i;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~' || (keep_slash && c == '/'))
            ASSERT_OK(shelf__buf_add(b, s + i, 1));
        else
            ASSERT_OK(shelf__buf_addf(b, "%%%02X", c));
    }
}

static void rand_chars(shelf__buf *b, const char *set, size_t min, size_t max)
{
    size_t n = min + pick(max - min + 1), i;

    for (i = 0; i < n; i++)
        ASSERT_OK(shelf__buf_add(b, &set[pick(strlen(set))], 1));
}

/* One random request: the signer's input in rq (strings in the bufs) and
 * botocore's input line appended to line. */
typedef struct rreq {
    shelf__buf path, rawpath, query, rawquery, key, secret, token, host, url, payload;
    shelf__buf hdr[MAX_HDRS];
    const char *hv[MAX_HDRS];
    size_t n_hdr, n_extra;  /* n_extra: the headers botocore is given */
    const char *method, *region;
    int64_t time;
    int raw_path, raw_query;
} rreq;

static void rreq_release(rreq *r)
{
    size_t i;

    shelf__buf_release(&r->path);
    shelf__buf_release(&r->rawpath);
    shelf__buf_release(&r->query);
    shelf__buf_release(&r->rawquery);
    shelf__buf_release(&r->key);
    shelf__buf_release(&r->secret);
    shelf__buf_release(&r->token);
    shelf__buf_release(&r->host);
    shelf__buf_release(&r->url);
    shelf__buf_release(&r->payload);
    for (i = 0; i < MAX_HDRS; i++)
        shelf__buf_release(&r->hdr[i]);
}

static void add_hdr(rreq *r, const char *fmt, const char *value)
{
    ASSERT(r->n_hdr < MAX_HDRS);
    ASSERT_OK(shelf__buf_addf(&r->hdr[r->n_hdr], fmt, value));
    r->hv[r->n_hdr] = r->hdr[r->n_hdr].buf;
    r->n_hdr++;
}

static void rreq_make(rreq *r, int i)
{
    static const char *const methods[] = { "GET", "PUT", "HEAD", "DELETE", "POST" };
    static const char *const regions[] = {
        "us-east-1", "eu-west-3", "ap-southeast-2", "default", "garage", "us-west-2",
    };
    static const char *const qkeys[] = {
        "list-type", "prefix", "continuation-token", "max-keys", "uploadId", "partNumber",
        "delimiter", "start-after", "uploads", "x-id", "encoding-type",
    };
    static const char b64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    shelf__buf raw = SHELF__BUF_INIT;
    char date[17];
    size_t n, j;

    memset(r, 0, sizeof *r);
    r->method = methods[pick(5)];
    r->region = regions[pick(6)];
    /* A fixed start and a fixed step: every run of a seed signs the same. */
    r->time = 1700000000 + (int64_t)i * 86399;
    ASSERT_OK(shelf__sigv4_amz_date(r->time, date));
    rand_chars(&r->key, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 16, 24);
    rand_chars(&r->secret, b64, 30, 44);
    if (pick(3) == 0)
        rand_chars(&r->token, b64, 100, 400);
    if (pick(2))
        ASSERT_OK(shelf__buf_addf(&r->host, "127.0.0.1:%u", 1024 + (unsigned)pick(60000)));
    else
        ASSERT_OK(shelf__buf_addf(&r->host, "bucket%u.s3.%s.amazonaws.com",
                                  (unsigned)pick(100), r->region));

    /* the path: "/bucket/key", or "/" for a list of buckets */
    if (pick(10)) {
        ASSERT_OK(shelf__buf_adds(&raw, "/b"));
        rand_text(&raw, 6, 0);
        ASSERT_OK(shelf__buf_adds(&raw, "/"));
        rand_text(&raw, 40, 1);
    } else {
        ASSERT_OK(shelf__buf_adds(&raw, "/"));
    }
    pct(&r->path, raw.buf, raw.len, 1);
    /* The signer takes the path as sent, or one to encode; the second only
     * without '%', which it would read as an escape. */
    r->raw_path = !strchr(raw.buf, '%') && pick(2);
    ASSERT_OK(shelf__buf_add(&r->rawpath, raw.buf, raw.len));
    shelf__buf_reset(&raw);

    /* the query: none, or keys with values, empty values, no '=' */
    n = pick(2) ? 0 : 1 + pick(5);
    r->raw_query = pick(2);
    for (j = 0; j < n; j++) {
        shelf__buf k = SHELF__BUF_INIT, v = SHELF__BUF_INIT;
        size_t form = pick(6);

        if (pick(4))
            ASSERT_OK(shelf__buf_adds(&k, qkeys[pick(sizeof qkeys / sizeof qkeys[0])]));
        else
            rand_text(&k, 8, 0);
        if (form >= 2)
            rand_text(&v, 30, 1);
        if (j && pick(4) == 0) {    /* a repeated key */
            shelf__buf_reset(&k);
            ASSERT_OK(shelf__buf_adds(&k, "prefix"));
        }
        if (j) {
            ASSERT_OK(shelf__buf_adds(&r->query, "&"));
            ASSERT_OK(shelf__buf_adds(&r->rawquery, "&"));
        }
        pct(&r->query, k.buf, k.len, 0);
        ASSERT_OK(shelf__buf_adds(&r->rawquery, k.buf));
        if (form >= 1) {            /* form 0: "key" alone, signed as "key=" */
            ASSERT_OK(shelf__buf_adds(&r->query, "="));
            ASSERT_OK(shelf__buf_adds(&r->rawquery, "="));
        }
        if (v.len) {
            pct(&r->query, v.buf, v.len, 0);
            ASSERT_OK(shelf__buf_adds(&r->rawquery, v.buf));
        }
        /* the unencoded form is unambiguous only without these */
        if (strpbrk(k.buf, "&=%#+") || (v.len && strpbrk(v.buf, "&=%#+")))
            r->raw_query = 0;
        shelf__buf_release(&k);
        shelf__buf_release(&v);
    }
    ASSERT_OK(shelf__buf_addf(&r->url, "%s://%s%s%s%s", pick(2) ? "https" : "http",
                              r->host.buf, r->path.buf, r->query.len ? "?" : "",
                              r->query.len ? r->query.buf : ""));

    switch (pick(3)) {
    case 0: ASSERT_OK(shelf__buf_adds(&r->payload, SHELF__SIGV4_EMPTY_SHA256)); break;
    case 1: ASSERT_OK(shelf__buf_adds(&r->payload, SHELF__SIGV4_UNSIGNED)); break;
    default: rand_chars(&r->payload, "0123456789abcdef", 64, 64); break;
    }

    /* headers botocore is given too: host first, then some of these */
    add_hdr(r, pick(2) ? "Host: %s" : "host:%s", r->host.buf);
    if (pick(3) == 0)
        add_hdr(r, "Range: %s", pick(2) ? "bytes=0-9" : "bytes=1048576-2097151");
    if (pick(3) == 0)
        add_hdr(r, "If-None-Match: %s", "*");
    if (pick(3) == 0)
        add_hdr(r, "Content-Type: %s", "application/octet-stream");
    if (pick(4) == 0)
        add_hdr(r, "x-amz-meta-Note:   %s  ", "two   runs  of spaces");
    if (pick(4) == 0) {
        add_hdr(r, "X-Amz-Meta-Dup: %s", "first");
        add_hdr(r, "x-amz-meta-dup:%s", " second ");
    }
    if (pick(4) == 0)
        add_hdr(r, "X-Amz-Storage-Class: %s", "STANDARD");
    if (pick(4) == 0)
        add_hdr(r, "Content-MD5: %s", "1B2M2Y8AsgTpgAmY7PhCfg==");
    r->n_extra = r->n_hdr;
    /* what only the signer is given (the script adds them from its fields) */
    add_hdr(r, "x-amz-date: %s", date);
    add_hdr(r, "x-amz-content-sha256: %s", r->payload.buf);
    if (r->token.len)
        add_hdr(r, "X-Amz-Security-Token: %s", r->token.buf);
    shelf__buf_release(&raw);
}

static void rreq_line(rreq *r, FILE *f)
{
    char date[17];
    size_t j;

    ASSERT_OK(shelf__sigv4_amz_date(r->time, date));
    ASSERT(fprintf(f, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s", r->method, r->url.buf, r->region,
                   r->key.buf, r->secret.buf, r->token.len ? r->token.buf : "-", date,
                   r->payload.buf) > 0);
    for (j = 0; j < r->n_extra; j++)
        ASSERT(fprintf(f, "\t%s", r->hv[j]) > 0);
    ASSERT(fputc('\n', f) != EOF);
}

#define N_RANDOM 300

TEST(botocore_random)
{
    const char *dir = test_tmpdir();
    char in[PATH_MAX], outp[PATH_MAX], errp[PATH_MAX], cmd[3 * PATH_MAX + 128];
    const char *seed_env = getenv("SHELF_TEST_SEED");
    uint64_t seed = seed_env ? strtoull(seed_env, NULL, 10) : (uint64_t)time(NULL);
    rreq *rs;
    FILE *f;
    char *text, *line, *next;
    int i, st, matched = 0;

    st = access("/usr/bin/python3", X_OK) == 0 ?
        system("/usr/bin/python3 -c 'import botocore.auth' 2>/dev/null") : -1;
    if (st != 0)
        TEST_SKIP("/usr/bin/python3 with botocore (python3-botocore) is not installed");
    printf("seed %llu (SHELF_TEST_SEED replays it)\n", (unsigned long long)seed);
    rng = seed * 2654435761u + 0x9e3779b97f4a7c15ull;
    ASSERT((rs = calloc(N_RANDOM, sizeof *rs)) != NULL);
    test_pathf(in, sizeof in, "%s/requests", dir);
    test_pathf(outp, sizeof outp, "%s/botocore", dir);
    test_pathf(errp, sizeof errp, "%s/botocore.err", dir);
    ASSERT((f = fopen(in, "w")) != NULL);
    for (i = 0; i < N_RANDOM; i++) {
        rreq_make(&rs[i], i);
        rreq_line(&rs[i], f);
    }
    ASSERT(fclose(f) == 0);
    ASSERT(snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/sigv4_botocore.py' <'%s' >'%s' 2>'%s'",
                    SHELF_TEST_SERVERS, in, outp, errp) < (int)sizeof cmd);
    st = system(cmd);
    if (st != 0) {
        text = test_read_file(errp, NULL);
        test__fail(__FILE__, __LINE__, "sigv4_botocore.py failed (%d): %s", st, text);
    }
    text = test_read_file(outp, NULL);
    for (i = 0, line = text; i < N_RANDOM; i++, line = next) {
        shelf__sigv4_req rq;
        shelf__sigv4_out out;
        shelf__err err = { 0, "" };
        rreq *r = &rs[i];
        char *tab;

        ASSERT(line && *line);
        if ((next = strchr(line, '\n')))
            *next++ = '\0';
        ASSERT((tab = strchr(line, '\t')) != NULL);
        *tab++ = '\0';
        memset(&rq, 0, sizeof rq);
        rq.method = r->method;
        rq.path = r->raw_path ? r->rawpath.buf : r->path.buf;
        rq.query = r->raw_query ? r->rawquery.buf : r->query.buf;
        rq.headers = r->hv;
        rq.n_headers = r->n_hdr;
        rq.payload_hash = r->payload.buf;
        rq.time = r->time;
        rq.access_key = r->key.buf;
        rq.secret_key = r->secret.buf;
        rq.region = r->region;
        rq.service = "s3";
        ASSERT_OKM(err.msg, shelf__sigv4_sign(&rq, &out, &err));
        if (strcmp(out.authorization, line) != 0) {
            size_t k;

            printf("request %d (seed %llu): %s %s (signer's path %s, query %s)\n", i,
                   (unsigned long long)seed, r->method, r->url.buf, rq.path,
                   rq.query ? rq.query : "(none)");
            for (k = 0; tab[k]; k++)    /* botocore's "\n" back to newlines */
                if (tab[k] == '\\' && tab[k + 1] == 'n')
                    tab[k] = '\n', tab[k + 1] = ' ';
            printf("shelf's canonical request:\n%s\n-- botocore's (\\n shown as a newline and a space):\n%s\n",
                   out.canonical_request, tab);
        }
        ASSERT_EQ_STR(out.authorization, line);
        matched++;
        shelf__sigv4_out_release(&out);
        rreq_release(r);
    }
    ASSERT(!next || !*next);
    ASSERT(matched >= 200);
    printf("%d random requests: shelf's Authorization equals botocore's\n", matched);
    free(text);
    free(rs);
}

int main(int argc, char **argv)
{
    static const test_case tests[] = {
        TEST_ENTRY(aws_test_suite),
        TEST_ENTRY(s3_doc_examples),
        TEST_ENTRY(botocore_random),
        TEST_END,
    };
    return test_run(argc, argv, tests);
}
