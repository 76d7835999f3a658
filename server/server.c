/*
 * server.c: `shelf serve`: the HTTP daemon (libmicrohttpd, one thread), its
 * security rules (Host allow-list, the session token and its cookie,
 * mutations only from the page itself, body limits), routing, and the
 * embedded UI files.  Owns the listening socket and the token.
 * doc/serve.md says what each rule is for.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include "serve_int.h"

/* The page a request without the cookie is shown (no script, no style:
 * the CSP allows none inline). */
static const char NO_TOKEN_PAGE[] =
    "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>shelf</title></head>\n"
    "<body><h1>shelf serve</h1>\n"
    "<p>This page needs the session token. Open the address <code>shelf serve</code> printed "
    "when it started (it ends in <code>?token=...</code>).</p></body></html>\n";

/* ---- the security rules ------------------------------------------------------- */

/* The token against a value a request brought, in constant time. */
static int token_ok(const serve_state *srv, const char *v)
{
    size_t n = strlen(srv->token);

    return v && strlen(v) == n && CRYPTO_memcmp(v, srv->token, n) == 0;
}

static int host_ok(const serve_state *srv, const char *host)
{
    int i;

    for (i = 0; host && i < SERVE_HOSTS; i++)
        if (srv->hosts[i][0] && !strcasecmp(host, srv->hosts[i]))
            return 1;
    return 0;
}

static int is_mutation(const char *m)
{
    return !strcmp(m, "POST") || !strcmp(m, "PUT") || !strcmp(m, "PATCH") || !strcmp(m, "DELETE");
}

static int is_api(const char *path)
{
    return !strncmp(path, "/api/", 5) || !strcmp(path, "/api");
}

/* 401: the HTML page for pages, JSON for the API. */
static enum MHD_Result no_token(serve_req *r)
{
    if (is_api(r->path))
        return serve_error(r, MHD_HTTP_UNAUTHORIZED, "no session token: open the address shelf serve printed");
    return serve_bytes(r, MHD_HTTP_UNAUTHORIZED, "text/html; charset=utf-8", NO_TOKEN_PAGE,
                       sizeof NO_TOKEN_PAGE - 1);
}

/* GET /?token=T: the cookie, and a redirect that takes the token out of
 * the address bar (and so out of history and bookmarks). */
static enum MHD_Result token_exchange(serve_req *r, const char *token)
{
    char cookie[2 * SERVE_TOKEN_BYTES + 64];
    struct MHD_Response *resp;

    if (!token_ok(r->srv, token))
        return no_token(r);
    snprintf(cookie, sizeof cookie, "shelf=%s; HttpOnly; SameSite=Strict; Path=/", r->srv->token);
    resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (resp && (MHD_add_response_header(resp, "Set-Cookie", cookie) != MHD_YES ||
                 MHD_add_response_header(resp, "Location", "/") != MHD_YES)) {
        MHD_destroy_response(resp);
        resp = NULL;
    }
    OPENSSL_cleanse(cookie, sizeof cookie);
    return serve_queue(r, MHD_HTTP_SEE_OTHER, resp, 0);
}

static enum MHD_Result route(serve_req *r);

/* What the rules say of a request (judge), answered by answer_verdict. */
enum {
    PASS = 0,       /* route it */
    BAD_HOST,       /* 403: a Host not on the allow-list */
    BAD_METHOD,     /* 405 */
    BAD_PATH,       /* 400 */
    EXCHANGE,       /* GET /?token=T: the cookie (or 401) */
    NO_TOKEN,       /* 401 */
    NO_HEADER,      /* 403: a change without X-Shelf-Token */
    BAD_ORIGIN,     /* 403: a change from another page */
    TOO_BIG,        /* 413: a declared body past the drain limit */
    NOT_JSON        /* 415 */
};

/*
 * The checks every request passes before it is routed, in order.  Host
 * first (DNS rebinding: a page of another site whose name now points
 * here), then the method, the path, the token; a change also needs the
 * token in X-Shelf-Token (a header no other site's page can set without a
 * CORS preflight, which fails) and an Origin that is this server.
 */
static int judge(serve_req *r)
{
    serve_state *srv = r->srv;
    const char *host = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    const char *hdr = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "X-Shelf-Token");
    const char *cookie = MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, "shelf");
    const char *m = r->method, *origin, *len, *type;
    int64_t n = 0;

    if (!host_ok(srv, host))
        return BAD_HOST;
    if (strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0 && !is_mutation(m))
        return BAD_METHOD;
    if (!serve_path_ok(r->path))
        return BAD_PATH;
    if (!strcmp(m, "GET") && !strcmp(r->path, "/") &&
        MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "token"))
        return EXCHANGE;
    if (!token_ok(srv, hdr) && !token_ok(srv, cookie))
        return NO_TOKEN;
    if (!is_mutation(m))
        return PASS;
    origin = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Origin");
    len = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    type = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!token_ok(srv, hdr))
        return NO_HEADER;
    if (!origin || strncmp(origin, "http://", 7) != 0 || strcasecmp(origin + 7, host) != 0)
        return BAD_ORIGIN;
    if (len && (serve_parse_int(len, 0, INT64_MAX, &n) || (uint64_t)n > SERVE_BODY_DRAIN))
        return TOO_BIG;
    /* a body (declared, or chunked) must be JSON */
    if ((!len || n > 0) && (!type || strncasecmp(type, "application/json", 16) != 0 ||
                            (type[16] != '\0' && type[16] != ';' && type[16] != ' ')))
        return NOT_JSON;
    return PASS;
}

static enum MHD_Result answer_verdict(serve_req *r, int verdict)
{
    switch (verdict) {
    case BAD_HOST: return serve_error(r, MHD_HTTP_FORBIDDEN, "host not allowed");
    case BAD_METHOD: return serve_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "method %s not allowed", r->method);
    case BAD_PATH: return serve_error(r, MHD_HTTP_BAD_REQUEST, "bad path");
    case EXCHANGE:
        return token_exchange(r, MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "token"));
    case NO_TOKEN: return no_token(r);
    case NO_HEADER: return serve_error(r, MHD_HTTP_FORBIDDEN, "a change needs the X-Shelf-Token header");
    case BAD_ORIGIN:
        return serve_error(r, MHD_HTTP_FORBIDDEN, "a change must come from this server's page (Origin)");
    case TOO_BIG: return serve_error(r, MHD_HTTP_CONTENT_TOO_LARGE, "request body over 1 MiB");
    case NOT_JSON:
        return serve_error(r, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "request bodies are application/json");
    }
    return route(r);
}

/* ---- the UI files ------------------------------------------------------------- */

static const char *content_type(const char *name)
{
    static const struct { const char *ext, *type; } types[] = {
        { ".html", "text/html; charset=utf-8" }, { ".js", "text/javascript; charset=utf-8" },
        { ".mjs", "text/javascript; charset=utf-8" }, { ".css", "text/css; charset=utf-8" },
        { ".json", "application/json" }, { ".svg", "image/svg+xml" }, { ".png", "image/png" },
        { ".jpg", "image/jpeg" }, { ".jpeg", "image/jpeg" }, { ".gif", "image/gif" },
        { ".webp", "image/webp" }, { ".ico", "image/x-icon" }, { ".woff2", "font/woff2" },
        { ".woff", "font/woff" }, { ".txt", "text/plain; charset=utf-8" }, { ".wasm", "application/wasm" },
        { ".map", "application/json" },
    };
    const char *dot = strrchr(name, '.');
    size_t k;

    for (k = 0; dot && k < sizeof types / sizeof types[0]; k++)
        if (!strcasecmp(dot, types[k].ext))
            return types[k].type;
    return "application/octet-stream";
}

/* A file of the embedded table by name; never the file system. */
static enum MHD_Result serve_static(serve_req *r, const char *name)
{
    const char *inm = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
    struct MHD_Response *resp;
    const serve_file *f = NULL;
    size_t k;

    if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0)
        return serve_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "method %s not allowed here", r->method);
    for (k = 0; k < serve_ui_count; k++)
        if (!strcmp(serve_ui_files[k].name, name))
            f = &serve_ui_files[k];
    if (!f) {
        static const char nf[] = "not found\n";

        return serve_bytes(r, MHD_HTTP_NOT_FOUND, "text/plain; charset=utf-8", nf, sizeof nf - 1);
    }
    if (serve_etag_match(inm, f->etag))
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    else
        resp = MHD_create_response_from_buffer(f->size, (void *)f->data, MHD_RESPMEM_PERSISTENT);
    if (resp && (MHD_add_response_header(resp, "Content-Type", content_type(f->name)) != MHD_YES ||
                 MHD_add_response_header(resp, "ETag", f->etag) != MHD_YES)) {
        MHD_destroy_response(resp);
        resp = NULL;
    }
    return serve_queue(r, serve_etag_match(inm, f->etag) ? MHD_HTTP_NOT_MODIFIED : MHD_HTTP_OK, resp, 1);
}

/* ---- the daemon ------------------------------------------------------------------ */

/* The builder thread: the index on the second handle. */
static void *build_index(void *ud)
{
    serve_state *srv = ud;
    struct timespec ts = { srv->bg_delay_ms / 1000, (srv->bg_delay_ms % 1000) * 1000000L };
    int rc;

    if (srv->bg_delay_ms > 0)
        while (nanosleep(&ts, &ts) != 0)
            ;
    rc = shelf_library_preload(srv->bg);
    if (rc != SHELF_OK)
        snprintf(srv->bg_err, sizeof srv->bg_err, "%s", shelf_errmsg(srv->bg));
    atomic_store_explicit(&srv->bg_state, rc == SHELF_OK ? BG_READY : BG_FAILED, memory_order_release);
    return NULL;
}

/* On the server's thread, between requests: take the index once built. */
static void take_index(serve_state *srv)
{
    int st = atomic_load_explicit(&srv->bg_state, memory_order_acquire);

    if (st != BG_READY && st != BG_FAILED)
        return;
    if (st == BG_READY && shelf_library_adopt_index(srv->lib, srv->bg) != SHELF_OK) {
        snprintf(srv->bg_err, sizeof srv->bg_err, "%s", shelf_errmsg(srv->lib));
        st = BG_FAILED;
    }
    if (st == BG_FAILED)
        fprintf(stderr, "shelf serve: the search index could not be built, searching by SQL: %s\n",
                srv->bg_err);
    else if (srv->verbose)
        fprintf(stderr, "shelf serve: the search index is ready (%llu bytes)\n",
                (unsigned long long)shelf_library_preload_bytes(srv->lib));
    shelf_library_close(srv->bg);
    srv->bg = NULL;
    atomic_store_explicit(&srv->bg_state, BG_TAKEN, memory_order_relaxed);
}

static enum MHD_Result route(serve_req *r)
{
    take_index(r->srv);
    if (is_api(r->path))
        return serve_api(r, r->path[4] ? r->path + 5 : "");
    return serve_static(r, !strcmp(r->path, "/") ? "index.html" : r->path + 1);
}

/*
 * MHD's access handler: on the server's thread, once when the headers are
 * in, then with each piece of the body (if any), then once more at its
 * end.  The answer goes at that end, when the request is all in, so the
 * connection can serve more (an answer queued earlier makes libmicrohttpd
 * close it).  A refused request without a body is answered at once; a
 * refused change has its body read and dropped first, so the client,
 * still sending, reads the answer instead of a reset; past the drain
 * limit it is answered at once all the same.  Only a change that passed
 * keeps its body, up to 1 MiB.
 */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **ctx)
{
    serve_req *r = *ctx;

    (void)version;
    if (!r) {
        if (!(r = calloc(1, sizeof *r)) || !(r->path = strdup(url))) {
            free(r);
            return MHD_NO;
        }
        *ctx = r;
        r->srv = cls;
        r->conn = conn;
        r->method = method;
        r->start = serve_now();
        r->verdict = judge(r);
        if (r->verdict != PASS && (!is_mutation(method) || r->verdict == TOO_BIG))
            return answer_verdict(r, r->verdict);
        return MHD_YES;
    }
    if (r->answered) {
        *upload_size = 0;
        return MHD_YES;
    }
    if (*upload_size) {
        if (r->verdict != PASS || r->body_len + *upload_size > SERVE_BODY_MAX) {
            r->body_too_big |= r->verdict == PASS;
            r->dropped += *upload_size;
        } else {
            char *b = realloc(r->body, r->body_len + *upload_size + 1);

            if (!b)
                return MHD_NO;
            memcpy(b + r->body_len, upload, *upload_size);
            r->body = b;
            r->body_len += *upload_size;
            r->body[r->body_len] = '\0';
        }
        *upload_size = 0;
        if (r->dropped <= SERVE_BODY_DRAIN)
            return MHD_YES;
    }
    if (r->verdict != PASS)
        return answer_verdict(r, r->verdict);
    if (r->body_too_big)
        return serve_error(r, MHD_HTTP_CONTENT_TOO_LARGE, "request body over 1 MiB");
    return route(r);
}

/* MHD's completion callback (the server's thread): the log line, and the
 * request freed. */
static void on_completed(void *cls, struct MHD_Connection *conn, void **ctx, enum MHD_RequestTerminationCode how)
{
    serve_state *srv = cls;
    serve_req *r = *ctx;

    (void)conn;
    if (!r)
        return;
    if (srv->verbose) {
        char *p = serve_text(r->path);

        fprintf(stderr, "shelf serve: %s %s %d %.1f ms%s\n", r->method, p ? p : "?", r->status,
                (serve_now() - r->start) * 1e3, how == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (cut)");
        shelf_free(p);
    }
    free(r->path);
    if (r->body)
        OPENSSL_cleanse(r->body, r->body_len);  /* it may have held a repository's password */
    free(r->body);
    free(r);
    *ctx = NULL;
}

/* Bind and listen on address:port (a numeric address); the socket, or -1
 * with *errmsg. */
static int listen_on(const char *address, int port, int *bound, char **errmsg)
{
    struct addrinfo hints, *ai = NULL;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char service[8], msg[256], why[128];
    int fd = -1, one = 1, v6 = strchr(address, ':') != NULL, e;

    memset(&ss, 0, sizeof ss);
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
    snprintf(service, sizeof service, "%d", port);
    if (getaddrinfo(address, service, &hints, &ai) != 0 || !ai) {
        snprintf(msg, sizeof msg, "'%s' is not a numeric IPv4 or IPv6 address", address);
        *errmsg = strdup(msg);
        return -1;
    }
    if ((fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        (ai->ai_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0) ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 64) != 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
        e = errno;
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        snprintf(why, sizeof why, "%s", strerror(e));
        if (isupper((unsigned char)why[0]) && !isupper((unsigned char)why[1]))
            why[0] = (char)tolower((unsigned char)why[0]);  /* "address already in use" */
        snprintf(msg, sizeof msg, "cannot listen on %s%s%s:%d: %s", v6 ? "[" : "", address, v6 ? "]" : "",
                 port, why);
        *errmsg = strdup(msg);
        return -1;
    }
    freeaddrinfo(ai);
    *bound = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                           : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

struct serve_server {
    serve_state srv;
    struct MHD_Daemon *d;
    pthread_t builder;
    int building;            /* builder was started */
};

int serve_start(shelf_library *lib, const serve_opts *o, serve_server **out, char **errmsg)
{
    const char *address = o->address && *o->address ? o->address : "127.0.0.1";
    int v6 = strchr(address, ':') != NULL, fd = -1;
    unsigned char raw[SERVE_TOKEN_BYTES];
    char url[256], shown[80];
    serve_server *sv;
    serve_state *srv;
    size_t i;

    *out = NULL;
    *errmsg = NULL;
    if (!(sv = calloc(1, sizeof *sv))) {
        *errmsg = strdup("out of memory");
        return -1;
    }
    srv = &sv->srv;
    srv->lib = lib;
    srv->verbose = o->verbose;
    if (serve_restore_init(srv, o) != 0) {
        *errmsg = strdup("out of memory");
        goto fail;
    }
    signal(SIGPIPE, SIG_IGN);
    if ((fd = listen_on(address, o->port, &srv->port, errmsg)) < 0)
        goto fail;
    if (RAND_bytes(raw, sizeof raw) != 1) {
        *errmsg = strdup("cannot make the session token: no random bytes");
        goto fail;
    }
    for (i = 0; i < sizeof raw; i++)
        snprintf(srv->token + 2 * i, 3, "%02x", raw[i]);
    OPENSSL_cleanse(raw, sizeof raw);
    snprintf(srv->hosts[0], sizeof srv->hosts[0], "127.0.0.1:%d", srv->port);
    snprintf(srv->hosts[1], sizeof srv->hosts[1], "localhost:%d", srv->port);
    snprintf(srv->hosts[2], sizeof srv->hosts[2], "[::1]:%d", srv->port);
    snprintf(srv->hosts[3], sizeof srv->hosts[3], v6 ? "[%s]:%d" : "%s:%d", address, srv->port);
    if (o->preload == SERVE_PRELOAD_BACKGROUND) {
        /* A second handle for the builder; without one, build it first. */
        const char *delay = getenv("SHELF_SERVE_INDEX_DELAY_MS");   /* tests (doc/serve.md) */

        srv->bg_delay_ms = delay ? strtol(delay, NULL, 10) : 0;
        if (shelf_library_open(shelf_library_path(lib), SHELF_OPEN_READONLY, &srv->bg, NULL) == SHELF_OK) {
            atomic_init(&srv->bg_state, BG_BUILDING);
            if (pthread_create(&sv->builder, NULL, build_index, srv) == 0) {
                sv->building = 1;
            } else {
                shelf_library_close(srv->bg);
                srv->bg = NULL;
                atomic_init(&srv->bg_state, BG_NONE);
            }
        }
    }
    if (o->preload && !sv->building && shelf_library_preload(lib) != SHELF_OK) {
        char msg[512];

        snprintf(msg, sizeof msg, "cannot preload the index: %s", shelf_errmsg(lib));
        *errmsg = strdup(msg);
        goto fail;
    }
    sv->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | (o->verbose ? MHD_USE_ERROR_LOG : 0), 0,
                             NULL, NULL, on_request, srv,
                             MHD_OPTION_LISTEN_SOCKET, fd,
                             MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
                             MHD_OPTION_UNESCAPE_CALLBACK, serve_unescape, NULL,
                             MHD_OPTION_CONNECTION_LIMIT, 256u,
                             MHD_OPTION_CONNECTION_TIMEOUT, 120u,
                             MHD_OPTION_END);
    if (!sv->d) {
        *errmsg = strdup("cannot start the HTTP server");
        goto fail;
    }
    /* fd is the daemon's now; closed by MHD_stop_daemon */
    /* The address to open: a wildcard address is reached as loopback. */
    if (!strcmp(address, "0.0.0.0"))
        snprintf(shown, sizeof shown, "127.0.0.1:%d", srv->port);
    else if (!strcmp(address, "::"))
        snprintf(shown, sizeof shown, "[::1]:%d", srv->port);
    else
        snprintf(shown, sizeof shown, "%s", srv->hosts[3]);
    snprintf(url, sizeof url, "http://%s/?token=%s", shown, srv->token);
    if (o->on_ready)
        o->on_ready(o->ud, url, srv->port, srv->token);
    OPENSSL_cleanse(url, sizeof url);
    *out = sv;
    return 0;
fail:
    if (fd >= 0)
        close(fd);
    if (!*errmsg)
        *errmsg = strdup("out of memory");
    serve_stop(sv);
    return -1;
}

void serve_stop(serve_server *sv)
{
    if (!sv)
        return;
    if (sv->d)
        MHD_stop_daemon(sv->d);
    /* A build still running is waited for (it cannot be cut short). */
    if (sv->building)
        pthread_join(sv->builder, NULL);
    shelf_library_close(sv->srv.bg);
    serve_docs_release(&sv->srv);
    serve_restore_release(&sv->srv);
    OPENSSL_cleanse(sv->srv.token, sizeof sv->srv.token);
    free(sv);
}

int serve_run(shelf_library *lib, const serve_opts *o, char **errmsg)
{
    serve_server *sv;
    sigset_t stop, old;
    int sig;

    /* SIGINT and SIGTERM wait for sigwait below; the daemon's thread
     * inherits the mask and never takes them. */
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, &old);
    if (serve_start(lib, o, &sv, errmsg) != 0) {
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        return -1;
    }
    while (sigwait(&stop, &sig) != 0)
        ;
    serve_stop(sv);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return 0;
}
