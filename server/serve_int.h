/*
 * serve_int.h: what the files of the server share: the server's state, one
 * request, how it is answered (reply.c), the parsers of what it brings
 * (request.c), the JSON API (api.c), audio and peaks (audio.c), restore
 * from backup repositories (restore.c), and the UI files embedded at build
 * time (ui.c, written by embed.cmake from server/ui/); the daemon and its
 * rules are server.c's.  Everything here runs on the server's one thread,
 * except a restore's worker (restore.c), which shares only its job.
 */
#ifndef SHELF_SERVE_INT_H
#define SHELF_SERVE_INT_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <microhttpd.h>
#include "server.h"

#define SERVE_TOKEN_BYTES 32               /* random bytes; the token is their hex */
#define SERVE_BODY_MAX ((size_t)1 << 20)   /* request bodies: 1 MiB */
#define SERVE_BODY_DRAIN ((size_t)16 << 20) /* a body refused is read and dropped up to
                                               this, so the client reads the answer */
#define SERVE_HOSTS 4                      /* Host values allowed */
#define SERVE_PREVIEWS 32                  /* previews kept for an apply (docs.c) */
#define SERVE_RESTORE_PREVIEWS 8           /* restore previews kept for an apply (restore.c) */

/* A change to a patch or project shown and not yet applied (docs.c). */
typedef struct serve_preview {
    char id[33];                           /* 32 random hex digits; "" when the slot is free */
    int kind, op;                          /* SHELF_DOC_*; revert, undo or merge */
    int64_t item;                          /* the document's id */
    int64_t expect;                        /* its head when previewed */
    int64_t arg;                           /* revert: the version; undo: the version undone;
                                              merge: the other version */
    char hash[65];                         /* merge: the result's SHA-256 */
    char *resolve;                         /* merge: the resolutions, JSON text (owned) */
    double made;                           /* monotonic seconds */
} serve_preview;

/* A backup repository the page restores from (restore.c). */
typedef struct serve_repo {
    char *target;                          /* as given (owned) */
    char *source;                          /* "--repo", "schedule NAME" (owned) */
    char *password;                        /* owned, wiped when freed; NULL: none known */
    shelf_repo *handle;                    /* the server thread's, opened on first use */
    int locked;                            /* encrypted and no password opens it yet */
    char *error;                           /* why the last open failed (owned), NULL */
} serve_repo;

/* A restore shown and not yet applied (restore.c). */
typedef struct serve_rpreview {
    char id[33];                           /* 32 random hex digits; "" when the slot is free */
    size_t repo;                           /* index in repos */
    char snap[65];
    json_t *items;                         /* the items chosen, "KIND:ID" ([]: the whole snapshot) */
    json_t *conflicts;                     /* the conflicts' "KIND:ID" */
    char plan[65];                         /* SHA-256 of the plan (what happens to each item) */
    double made;                           /* monotonic seconds */
} serve_rpreview;

struct serve_job;                          /* a restore on its worker thread (restore.c) */

/* The server: set up before the daemon starts, read-only after, except
 * lib, the previews and the repositories, which the server's thread alone
 * uses while it runs, and the job, which it shares with a restore's worker
 * under the job's mutex. */
typedef struct serve_state {
    shelf_library *lib;
    int verbose;
    int port;
    char token[2 * SERVE_TOKEN_BYTES + 1];
    char hosts[SERVE_HOSTS][80];           /* "127.0.0.1:PORT", "localhost:PORT", ... */
    serve_preview previews[SERVE_PREVIEWS]; /* a ring: the oldest goes first */
    unsigned preview_next;
    /* The index built in the background (SERVE_PRELOAD_BACKGROUND): the
     * builder thread alone uses bg until it stores BG_READY or BG_FAILED
     * (release); the server's thread then takes the index, closes bg and
     * stores BG_TAKEN. */
    shelf_library *bg;
    _Atomic int bg_state;
    char bg_err[256];                      /* why the build failed */
    long bg_delay_ms;                      /* tests: the builder waits this long first */
    serve_repo *repos;                     /* the repositories restore offers */
    size_t nrepos;
    shelf_repo_opts repo_opts;             /* transfer options for opening them (no password) */
    serve_rpreview rpreviews[SERVE_RESTORE_PREVIEWS]; /* a ring */
    unsigned rpreview_next;
    struct serve_job *job;                 /* the last restore started, NULL when none */
    json_t *browse_items, *browse_contents; /* the last snapshot browsed (restore.c) */
    size_t browse_repo;
    char browse_snap[65];
    double browse_made;
} serve_state;

enum { BG_NONE = 0, BG_BUILDING, BG_READY, BG_FAILED, BG_TAKEN };

/* One request, from its first call to its completion. */
typedef struct serve_req {
    serve_state *srv;
    struct MHD_Connection *conn;
    const char *method;                    /* borrowed from MHD for the request */
    char *path;                            /* the decoded path (owned) */
    char *body;                            /* a mutation's body, NUL-terminated (owned) */
    size_t body_len;
    int body_too_big;                      /* past SERVE_BODY_MAX: dropped, 413 */
    uint64_t dropped;                      /* body bytes read and dropped */
    int verdict;                           /* what the rules said (server.c) */
    int answered;                          /* a response is queued */
    int status;                            /* the status sent, for the log */
    double start;                          /* monotonic seconds */
} serve_req;

/* ---- answering (reply.c) ---- */

/* Queue resp (consumed) with status and the headers every response
 * carries (CSP, nosniff, no referrer, no frames); cache_ok: Cache-Control
 * no-cache (the caller adds an ETag), else no-store. */
enum MHD_Result serve_queue(serve_req *r, unsigned status, struct MHD_Response *resp, int cache_ok);
/* A body in memory (copied) with its Content-Type. */
enum MHD_Result serve_bytes(serve_req *r, unsigned status, const char *type, const void *data, size_t len);
/* Queue v (consumed; NULL: out of memory, a 500) as compact JSON;
 * real_precision 0: jansson's default. */
enum MHD_Result serve_json(serve_req *r, unsigned status, json_t *v, int real_precision);
/* {"error": message} with status; the message is made one line of valid
 * UTF-8 whatever the bytes of what it names. */
enum MHD_Result serve_error(serve_req *r, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The error on the library handle, with the status its code maps to
 * (SHELF_ENOTFOUND 404, SHELF_EINVAL 400, SHELF_EPERM 403, else 500). */
enum MHD_Result serve_lib_error(serve_req *r, int rc);
/* The text of s for a message or JSON: shelf_name_escape with control
 * characters escaped too (owned, shelf_free; NULL on ENOMEM). */
char *serve_text(const char *s);
double serve_now(void);
/* The body of a change as a JSON object (owned; no duplicate keys), or
 * NULL after answering 400. */
json_t *serve_body_object(serve_req *r);
/* 32 random hex digits and a NUL into id (OpenSSL); 0, or -1 when no
 * random bytes could be had. */
int serve_random_id(char id[33]);

/* ---- the pieces of a request (request.c; pure, fuzzed by fuzz_serve) ---- */

/* A sample id in a path: 1 to 19 digits without a leading zero, at most
 * INT64_MAX; 0 when s is not one. */
int64_t serve_parse_id(const char *s);
/* A whole number in [min, max] from a query parameter; 0 on success. */
int serve_parse_int(const char *s, int64_t min, int64_t max, int64_t *out);
/* A Range header against a body of size bytes: 0 to send it whole (no
 * header, or one that is not a single byte range, which may be ignored),
 * 1 for the part [*from, *from + *len), -1 when it cannot be satisfied
 * (416). */
int serve_parse_range(const char *h, uint64_t size, uint64_t *from, uint64_t *len);
/* 1 when an If-None-Match header value matches etag (or is "*"). */
int serve_etag_match(const char *h, const char *etag);
/* 1 when path is one the router may look at: starts with '/', no ".." or
 * "." segment, no backslash, no control byte, no '%' left undecoded. */
int serve_path_ok(const char *path);
/* MHD's unescape callback: %XX decoded (except %00, which stays as it is,
 * so no NUL enters a path or a value) and '+' a space (query strings are
 * form-encoded); returns the new length. */
size_t serve_unescape(void *cls, struct MHD_Connection *c, char *s);

/* ---- the JSON API (api.c) and audio (audio.c) ---- */

/* Answer a request for /api/...: rest is the path after "/api/". */
enum MHD_Result serve_api(serve_req *r, const char *rest);
/* Answer /api/patches[/...] or /api/projects[/...] (docs.c): rest is the
 * path after "patches/" (NULL for the list itself). */
enum MHD_Result serve_docs(serve_req *r, int kind, const char *rest);
/* Free the previews (docs.c); at stop. */
void serve_docs_release(serve_state *srv);
/* GET /api/conflicts (docs.c). */
enum MHD_Result serve_conflicts(serve_req *r);
/* s folded for a word search (owned, free(); NULL on ENOMEM): case and
 * Latin accents away, CJK and emoji as they are (docs.c). */
char *serve_fold(const char *s);
/* 1 when every word of the folded query fq is in the folded text. */
int serve_words_in(const char *fq, const char *ftext);
/* Answer /api/restore/... (rest: the path after "restore/", "" for none)
 * and /api/audit (restore.c). */
enum MHD_Result serve_restore(serve_req *r, const char *rest);
enum MHD_Result serve_audit(serve_req *r);
/* Take the repositories of o into srv (copies; restore.c); -1 on ENOMEM. */
int serve_restore_init(serve_state *srv, const serve_opts *o);
/* Wait for a restore in flight, close the repositories, wipe their
 * passwords and free the previews (restore.c); at stop. */
void serve_restore_release(serve_state *srv);
/* The sample's bytes for an <audio> element: the file itself when a
 * browser plays its format, else decoded to WAV; Range, ETag. */
enum MHD_Result serve_audio(serve_req *r, const shelf_sample *s);
/* {"n": N, "peaks": [[min, max], ...]} over the whole sample. */
enum MHD_Result serve_peaks(serve_req *r, const shelf_sample *s);

/* ---- the UI files (ui.c, generated) ---- */

typedef struct serve_file {
    const char *name;                      /* path under server/ui/: "index.html", "img/x.svg" */
    const unsigned char *data;             /* size bytes and a NUL */
    size_t size;
    const char *etag;                      /* "\"<sha256 of the bytes>\"" */
} serve_file;
extern const serve_file serve_ui_files[];
extern const size_t serve_ui_count;

#endif /* SHELF_SERVE_INT_H */
