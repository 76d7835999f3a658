/*
 * reply.c: how the server answers: every response with the headers the
 * security rules want on all of them (doc/serve.md), JSON bodies, and
 * errors as {"error": "one line"} whatever the bytes of what they name;
 * the body of a change as a JSON object; random ids for previews and jobs.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/rand.h>
#include "serve_int.h"

static const char CSP[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self'; connect-src 'self'; font-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'";

double serve_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

char *serve_text(const char *s)
{
    return shelf_name_escape(s ? s : "", SHELF_NAME_CONTROL);
}

enum MHD_Result serve_queue(serve_req *r, unsigned status, struct MHD_Response *resp, int cache_ok)
{
    enum MHD_Result ret;

    if (!resp)
        return MHD_NO;      /* out of memory: MHD closes the connection */
    if (MHD_add_response_header(resp, "Content-Security-Policy", CSP) != MHD_YES ||
        MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff") != MHD_YES ||
        MHD_add_response_header(resp, "Referrer-Policy", "no-referrer") != MHD_YES ||
        MHD_add_response_header(resp, "X-Frame-Options", "DENY") != MHD_YES ||
        MHD_add_response_header(resp, "Cache-Control", cache_ok ? "no-cache" : "no-store") != MHD_YES) {
        MHD_destroy_response(resp);
        return MHD_NO;
    }
    ret = MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
    r->answered = 1;
    r->status = (int)status;
    return ret;
}

enum MHD_Result serve_bytes(serve_req *r, unsigned status, const char *type, const void *data,
                                   size_t len)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);

    if (resp && MHD_add_response_header(resp, "Content-Type", type) != MHD_YES) {
        MHD_destroy_response(resp);
        resp = NULL;
    }
    return serve_queue(r, status, resp, 0);
}

enum MHD_Result serve_json(serve_req *r, unsigned status, json_t *v, int real_precision)
{
    size_t flags = JSON_COMPACT | (real_precision ? JSON_REAL_PRECISION(real_precision) : 0);
    char *text = v ? json_dumps(v, flags) : NULL;
    struct MHD_Response *resp;

    json_decref(v);
    if (!text) {
        static const char oom[] = "{\"error\":\"out of memory\"}";

        return serve_bytes(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "application/json", oom, sizeof oom - 1);
    }
    /* jansson's memory goes back through free() (MHD frees what it owns) */
    resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!resp)
        free(text);
    else if (MHD_add_response_header(resp, "Content-Type", "application/json") != MHD_YES) {
        MHD_destroy_response(resp);
        resp = NULL;
    }
    return serve_queue(r, status, resp, 0);
}

enum MHD_Result serve_error(serve_req *r, unsigned status, const char *fmt, ...)
{
    char msg[1024], *text;
    va_list ap;
    json_t *v;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    text = serve_text(msg);
    v = text ? json_pack("{s:s}", "error", text) : NULL;
    shelf_free(text);
    return serve_json(r, status, v, 0);
}

enum MHD_Result serve_lib_error(serve_req *r, int rc)
{
    unsigned status = MHD_HTTP_INTERNAL_SERVER_ERROR;

    switch (rc) {
    case SHELF_ENOTFOUND: status = MHD_HTTP_NOT_FOUND; break;
    case SHELF_EINVAL: status = MHD_HTTP_BAD_REQUEST; break;
    case SHELF_EPERM: status = MHD_HTTP_FORBIDDEN; break;
    case SHELF_EBUSY: status = MHD_HTTP_SERVICE_UNAVAILABLE; break;
    case SHELF_EEXIST: status = MHD_HTTP_CONFLICT; break;
    case SHELF_EINUSE: status = MHD_HTTP_CONFLICT; break;
    }
    return serve_error(r, status, "%s", shelf_errmsg(r->srv->lib));
}

/* The body as a JSON object (owned), or NULL after answering 400. */
json_t *serve_body_object(serve_req *r)
{
    json_error_t err;
    json_t *v = r->body ? json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &err) : NULL;

    if (!json_is_object(v)) {
        json_decref(v);
        if (!r->body)
            serve_error(r, MHD_HTTP_BAD_REQUEST, "the request needs a JSON object as its body");
        else
            serve_error(r, MHD_HTTP_BAD_REQUEST, "the body is not a JSON object (%s)",
                        v ? "another value" : err.text);
        return NULL;
    }
    return v;
}

/* 32 random hex digits (16 bytes from OpenSSL) into id; 0, or -1 when none can be made. */
int serve_random_id(char id[33])
{
    unsigned char raw[16];

    if (RAND_bytes(raw, sizeof raw) != 1)
        return -1;
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(id + 2 * i, 3, "%02x", raw[i]);
    return 0;
}
