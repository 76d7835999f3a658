/*
 * dav_int.h: what the WebDAV backend (be_webdav.c) shares with the rclone
 * bridge (be_rclone.c) and its fuzz target: the PROPFIND multistatus
 * parser and opening a WebDAV backend on a base URL the caller made.
 */
#ifndef SHELF_REMOTE_DAV_INT_H
#define SHELF_REMOTE_DAV_INT_H

#include "remote_int.h"

/* One <D:response> of a multistatus reply, its 2xx properties merged. */
typedef struct shelf__dav_entry {
    const char *href;       /* percent-decoded path, scheme and host removed (borrowed) */
    int is_dir;             /* resourcetype holds DAV:collection */
    uint64_t size;          /* getcontentlength; UINT64_MAX when not given */
    uint64_t quota_avail;   /* RFC 4331 quota-available-bytes; UINT64_MAX when not given */
    uint64_t quota_used;    /* RFC 4331 quota-used-bytes; UINT64_MAX when not given */
} shelf__dav_entry;

/* Called for each response whose status is 2xx; non-zero stops the parse
 * and is returned. */
typedef int (*shelf__dav_entry_fn)(void *ud, const shelf__dav_entry *e);

/*
 * Parse a 207 multistatus body (any namespace prefix for DAV:) with
 * shelf__xml_read.  SHELF_OK; SHELF_EIO with e->msg "malformed reply: ..."
 * (one lowercase line) for anything that is not a multistatus, a response
 * without an href, an href that does not decode (a NUL byte), or a number
 * that is not one; SHELF_ENOMEM; or what fn returned.
 */
int shelf__dav_multistatus(const void *data, size_t n, shelf__dav_entry_fn fn, void *ud,
                           shelf__err *e);

/* Percent-decode s into b (replacing its contents; "%zz" stays as it is).
 * 0; -1 with *nomem 0 when s decodes to a NUL byte, -1 with *nomem 1 when
 * out of memory. */
int shelf__dav_pct_decode(shelf__buf *b, const char *s, int *nomem);

/* Sleep ms milliseconds (again after a signal). */
void shelf__dav_sleep_ms(long ms);

/* Called once when the last handle (of a backend and its dups) closes,
 * after the HTTP client is gone (be_rclone.c stops its server here). */
typedef void (*shelf__dav_close_fn)(void *ud);

/*
 * A WebDAV backend on base ("http[s]://host:port") and path ("/" or
 * "/a/b", percent-encoded or not), Basic auth from user/password (both
 * NULL: none).  kind "webdav" or "rclone"; display names the remote in
 * messages.  insecure_http: allow http://.  on_close (may be NULL) takes
 * close_ud: it is called on failure too, so the caller's resources are
 * released in one place.
 */
int shelf__dav_open(const char *kind, const char *display, const char *base, const char *path,
                    const char *user, const char *password, const shelf__be_opts *o,
                    int insecure_http, shelf__dav_close_fn on_close, void *close_ud,
                    shelf__backend **out, shelf__err *err);

#endif /* SHELF_REMOTE_DAV_INT_H */
