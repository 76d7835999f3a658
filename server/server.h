/*
 * server.h: `shelf serve`, a local web UI and JSON API over one library
 * (doc/serve.md).  What the program (cli/cmd_serve.c) calls; the server
 * itself uses only the public API of libshelf and never calls into cli/.
 */
#ifndef SHELF_SERVER_H
#define SHELF_SERVER_H

#include "shelf/shelf.h"

/* The port `shelf serve` listens on unless told (doc/serve.md). */
#define SERVE_DEFAULT_PORT 8417

/*
 * Called once, on the calling thread of serve_run, when the server
 * listens: url is the address to open (with ?token=TOKEN), port the port
 * bound (the one picked for port 0), token the session's secret.  All
 * three are borrowed for the call.
 */
typedef void (*serve_ready_cb)(void *ud, const char *url, int port, const char *token);

/* How the in-memory index is made (shelf_library_preload). */
enum {
    SERVE_PRELOAD_NONE = 0,       /* searches by SQL */
    SERVE_PRELOAD_FIRST = 1,      /* built before listening */
    SERVE_PRELOAD_BACKGROUND = 2  /* listen at once and answer by SQL while a
                                     thread builds it on a second handle;
                                     taken between two requests */
};

/* A backup repository the page may restore from (doc/serve.md, "Restore"). */
typedef struct serve_repo_spec {
    const char *target;      /* a folder, s3:, webdav:, rclone: or a remote's name */
    const char *source;      /* what named it, for the page: "--repo", "schedule backup-1" */
    const char *password;    /* NULL: none known (plain, or the page asks for it) */
} serve_repo_spec;

typedef struct serve_opts {
    const char *address;     /* numeric IPv4 or IPv6 address; NULL: 127.0.0.1 */
    int port;                /* 0: any free port */
    int preload;             /* SERVE_PRELOAD_ */
    int verbose;             /* 1: one line per request on stderr */
    serve_ready_cb on_ready; /* may be NULL */
    void *ud;
    const serve_repo_spec *repos;   /* copied by serve_start; passwords wiped at stop */
    size_t nrepos;
    const char *ca_file;     /* the repositories' transfer options (shelf_repo_opts) */
    uint64_t limit_upload, limit_download;
    int connections;
} serve_opts;

/*
 * Serve lib until SIGINT or SIGTERM arrives (they are blocked in the
 * calling thread while it runs, and taken with sigwait), then stop: every
 * request in flight is finished or cut, and lib is left open for the
 * caller to close.  Requests run one at a time on the server's single
 * thread, which alone uses lib while the server runs.  SIGPIPE is ignored
 * from then on (a browser that closes a connection mid-response).
 *
 * Returns 0 after a signal; -1 when the server could not start (an address
 * that is not one, a port in use, memory), with *errmsg set to one line
 * (owned: free()).
 */
int serve_run(shelf_library *lib, const serve_opts *o, char **errmsg);

/*
 * The same server for a program with a loop of its own (`shelf daemon`):
 * serve_start listens, calls o->on_ready and returns at once with the
 * server answering on its own thread, which alone uses lib until
 * serve_stop.  Block SIGINT and SIGTERM in the calling thread first if
 * they are taken with sigwait or a signalfd (the server's thread inherits
 * the mask).  Returns 0 with *out set, or -1 with *errmsg as serve_run.
 * serve_stop finishes or cuts every request in flight and frees the
 * server (NULL is a no-op); lib stays open.
 */
typedef struct serve_server serve_server;
int serve_start(shelf_library *lib, const serve_opts *o, serve_server **out, char **errmsg);
void serve_stop(serve_server *sv);

#endif /* SHELF_SERVER_H */
