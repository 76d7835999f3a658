/*
 * peer.c: sync between two devices over TCP (doc/sync.md, "Peer to
 * peer"; the protocol in doc/formats.md, "Sync protocol").  TLS 1.3 with
 * both sides' Ed25519 certificates; no certificate authority: after the
 * handshake each side computes the other's device id from its certificate
 * and talks on only when that id is paired (shelf device add), so a peer
 * is pinned by its id alone.  Then the listener sends its hello (name and
 * version vector), the initiator answers with its own, the initiator sends
 * the records the listener lacks and the listener the records the
 * initiator lacks, in frames of about 1 MiB, each applied in one
 * transaction: a cut connection loses at most the frame in flight and the
 * next exchange starts from the vectors again.  A side busy applying
 * tells the other it is there (wait frames, four in the other's I/O
 * timeout), so a first sync of 100,000 samples on a slow device does not
 * end in the other's timeout.  Then each side in turn
 * asks for the sample files it wants and the other sends those it holds
 * (blobs.c says which, reads them and keeps what arrives).
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <openssl/err.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include "sync_int.h"

#define PROTOCOL_VERSION 1
#define DEFAULT_PORT "22700"
/* The ALPN protocol an acceptor of an invitation offers: the listener
 * then reads its invite frame before it looks the device up. */
#define INVITE_ALPN "shelf-invite/1"

/* An invitation being accepted (the initiator's side). */
typedef struct invite_ctx {
    const shelf__invite *inv;
    const char *name;               /* the inviter's name here (NULL: its own) */
    shelf_accept_result *res;
} invite_ctx;

typedef struct session {
    shelf_library *lib;
    SSL *ssl;
    const char *self;               /* this device's id */
    const char *name;               /* and name, for the hello */
    char peer[SHELF_DEVICE_ID_LEN + 1];
    char peer_library[33];          /* its library id, as its hello said ("") */
    const char *where;              /* the address, for messages */
    shelf_sync_stats *st;
    /* sending */
    json_t *records;
    size_t pending;
    const shelf__wire_vec *have;    /* the other side's vector */
    size_t nhave;
    int rc;
    int said;                       /* an error message went either way */
    int invited;                    /* listener: the peer came with an invitation */
    invite_ctx *inv;                /* initiator: accepting one */
    int64_t keygen;                 /* the other side's newest key (-1: it does not say) */
    int zstd;                       /* the other side reads compressed frames */
    int files;                      /* the other side moves sample files */
    int timeout;                    /* I/O timeout here, seconds */
    double wait_every;              /* send a wait frame after this long silent
                                       (a quarter of the other's timeout; 0: it
                                       does not read them) */
    double last_out;                /* when this side last sent (shelf__monotonic) */
    int refused;                    /* the other side sent an error */
    int newly_paired;               /* listener: paired by this session's invitation */
} session;

static void set_stats_peer(session *s, const char *name)
{
    snprintf(s->st->peer, sizeof s->st->peer, "%s", s->peer);
    snprintf(s->st->peer_name, sizeof s->st->peer_name, "%s", name ? name : "");
}

/* "HOST:PORT", "[V6]:PORT" or "HOST" into host and port. */
static int split_address(shelf_library *lib, const char *a, char *host, size_t hn, char *port,
                         size_t pn)
{
    const char *colon;

    if (!a || !*a)
        return shelf__seterr(&lib->err, SHELF_EINVAL, "no address");
    if (a[0] == '[') {
        const char *end = strchr(a, ']');

        if (!end || (end[1] && end[1] != ':'))
            return shelf__seterr(&lib->err, SHELF_EINVAL, "invalid address '%.200s'", a);
        snprintf(host, hn, "%.*s", (int)(end - a - 1), a + 1);
        snprintf(port, pn, "%s", end[1] ? end + 2 : DEFAULT_PORT);
    } else if ((colon = strchr(a, ':')) && !strchr(colon + 1, ':')) {
        snprintf(host, hn, "%.*s", (int)(colon - a), a);
        snprintf(port, pn, "%s", colon + 1);
    } else {
        snprintf(host, hn, "%s", a);   /* a name, an IPv4 or a bare IPv6 address */
        snprintf(port, pn, "%s", DEFAULT_PORT);
    }
    if (!*host || !*port || strspn(port, "0123456789") != strlen(port))
        return shelf__seterr(&lib->err, SHELF_EINVAL, "invalid address '%.200s'", a);
    return SHELF_OK;
}

static int accept_any(int ok, X509_STORE_CTX *x)
{
    (void)ok;
    (void)x;
    return 1;   /* self-signed by design: the id is checked after the handshake */
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    unsigned int i;

    (void)ssl;
    (void)arg;
    for (i = 0; i < inlen && i + 1 + in[i] <= inlen; i += 1u + in[i])
        if (in[i] == strlen(INVITE_ALPN) && !memcmp(in + i + 1, INVITE_ALPN, in[i])) {
            *out = in + i + 1;
            *outlen = in[i];
            return SSL_TLSEXT_ERR_OK;
        }
    return SSL_TLSEXT_ERR_NOACK;   /* a plain sync: no protocol named */
}

/* "WHERE: WHAT: REASON": OpenSSL's reason, else the system's (a reset, a
 * timeout), which OpenSSL leaves in errno. */
static int tls_error(session *s, const char *what)
{
    int syserr = errno;
    unsigned long e = ERR_get_error();
    char buf[256] = "";

    if (e)
        ERR_error_string_n(e, buf, sizeof buf);
    else if (syserr == EAGAIN || syserr == EWOULDBLOCK)
        snprintf(buf, sizeof buf, "nothing moved for %d s", s->timeout);
    else if (syserr)
        snprintf(buf, sizeof buf, "%s", strerror(syserr));
    ERR_clear_error();
    return shelf__seterr(&s->lib->err, SHELF_EIO, "%s: %s%s%s", s->where, what, *buf ? ": " : "",
                         buf);
}

static int make_ctx(shelf_library *lib, int server, SSL_CTX **out, shelf_device_info *me)
{
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    SSL_CTX *ctx;
    int rc;

    *out = NULL;
    if ((rc = shelf__device_keys(lib, &key, &cert, me)) != SHELF_OK)
        return rc;
    ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (!ctx || SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
        SSL_CTX_use_certificate(ctx, cert) != 1 || SSL_CTX_use_PrivateKey(ctx, key) != 1) {
        rc = shelf__seterr(&lib->err, SHELF_EIO, "cannot set up TLS with this device's key");
        SSL_CTX_free(ctx);
        ctx = NULL;
    }
    if (ctx)
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, accept_any);
    if (ctx && server)
        SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
    EVP_PKEY_free(key);
    X509_free(cert);
    ERR_clear_error();
    *out = ctx;
    return rc;
}

/* ---- frames ---- */

static int send_bytes(session *s, const void *p, size_t n)
{
    const char *c = p;
    size_t done;

    while (n) {
        errno = 0;
        if (SSL_write_ex(s->ssl, c, n, &done) != 1)
            return tls_error(s, "connection lost while sending");
        c += done;
        n -= done;
        s->st->bytes_out += done;
    }
    s->last_out = shelf__monotonic();
    return SHELF_OK;
}

static int recv_bytes(session *s, void *p, size_t n)
{
    char *c = p;
    size_t got;

    while (n) {
        errno = 0;
        if (SSL_read_ex(s->ssl, c, n, &got) != 1) {
            int e = SSL_get_error(s->ssl, 0);

            if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && errno == 0))
                return shelf__seterr(&s->lib->err, SHELF_EIO, "%s: the peer closed the "
                                     "connection", s->where);
            return tls_error(s, "connection lost while receiving");
        }
        c += got;
        n -= got;
        s->st->bytes_in += got;
    }
    return SHELF_OK;
}

/* A frame: its length (bit 31 set when the payload is a zstd frame, which
 * a peer whose hello said "zstd" reads), then the JSON or its frame. */
static int send_json(session *s, json_t *o)
{
    char *text = o ? shelf__json_dumps(o, JSON_COMPACT) : NULL;
    shelf__buf z = SHELF__BUF_INIT;
    unsigned char len[4];
    const char *payload;
    size_t n;
    uint32_t word;
    int rc;

    json_decref(o);
    if (!text)
        return shelf__seterr(&s->lib->err, SHELF_ENOMEM, "out of memory");
    n = strlen(text);
    payload = text;
    word = (uint32_t)n;
    if (s->zstd && n >= 512 && shelf__wire_deflate(text, n, &z) == SHELF_OK && z.len < n) {
        payload = z.buf;
        word = (uint32_t)z.len | SHELF__WIRE_ZSTD;
        n = z.len;
    }
    len[0] = (unsigned char)(word >> 24);
    len[1] = (unsigned char)(word >> 16);
    len[2] = (unsigned char)(word >> 8);
    len[3] = (unsigned char)word;
    rc = send_bytes(s, len, 4);
    if (rc == SHELF_OK)
        rc = send_bytes(s, payload, n);
    free(text);
    shelf__buf_release(&z);
    return rc;
}

static int recv_msg(session *s, shelf__wire_msg *m)
{
    shelf__buf plain = SHELF__BUF_INIT;
    unsigned char len[4];
    uint32_t word;
    size_t n;
    char *buf;
    int rc;

again:
    memset(m, 0, sizeof *m);
    if ((rc = recv_bytes(s, len, 4)) != SHELF_OK)
        return rc;
    word = (uint32_t)len[0] << 24 | (uint32_t)len[1] << 16 | (uint32_t)len[2] << 8 | len[3];
    n = word & ~SHELF__WIRE_ZSTD;
    if (n == 0 || n > SHELF__WIRE_MAX)
        return shelf__seterr(&s->lib->err, SHELF_EFORMAT, "%s: a message of %zu bytes", s->where, n);
    if (!(buf = shelf__malloc(n)))
        return shelf__seterr(&s->lib->err, SHELF_ENOMEM, "out of memory");
    rc = recv_bytes(s, buf, n);
    if (rc == SHELF_OK && (word & SHELF__WIRE_ZSTD)) {
        if ((rc = shelf__wire_inflate(&s->lib->err, buf, n, &plain)) == SHELF_OK)
            rc = shelf__wire_parse(&s->lib->err, plain.buf, plain.len, m);
        shelf__buf_release(&plain);
    } else if (rc == SHELF_OK) {
        rc = shelf__wire_parse(&s->lib->err, buf, n, m);
    }
    shelf_free(buf);
    if (rc == SHELF_OK && !m->type) {      /* wire_parse sets it; never trusted blind */
        shelf__wire_free(m);
        return shelf__seterr(&s->lib->err, SHELF_EFORMAT, "%s: a message without a type", s->where);
    }
    if (rc == SHELF_OK && !strcmp(m->type, "error")) {
        json_t *msg = json_object_get(m->root, "message");

        rc = shelf__seterr(&s->lib->err, SHELF_EPERM, "%s: the peer refused: %.300s", s->where,
                           json_is_string(msg) ? json_string_value(msg) : "no reason given");
        s->said = 1;
        s->refused = 1;
        shelf__wire_free(m);
    }
    if (rc == SHELF_OK && !strcmp(m->type, "wait")) {     /* the other side is busy: read on */
        shelf__wire_free(m);
        goto again;
    }
    return rc;
}

/* Tell the peer what went wrong here, once; the error set on lib stays
 * (send_json may set another: ours is kept). */
static void send_error(session *s, const char *msg)
{
    shelf__err keep = s->lib->err;

    s->said = 1;
    (void)send_json(s, json_pack("{s:s, s:s}", "type", "error", "message", msg));
    s->lib->err = keep;
}

/* After this side sent an error: close without losing it.  The peer may
 * have sent more that this side never read (its hello); closing a socket
 * with unread data resets the connection, and a reset can drop the error
 * on its way to the peer (which then never learns it was refused: an
 * inviter stayed paired with an acceptor that had refused its key).  So
 * say close_notify, read and drop what comes until the peer closes, for
 * two seconds at most. */
static void linger_close(session *s)
{
    double end = shelf__monotonic() + 2.0;
    int fd = SSL_get_fd(s->ssl);
    char buf[4096];

    (void)SSL_shutdown(s->ssl);
    while (fd >= 0 && shelf__monotonic() < end) {
        struct pollfd p = { fd, POLLIN, 0 };
        int n = poll(&p, 1, 200);

        if (n < 0 && errno != EINTR)
            break;
        if (n > 0 && SSL_read(s->ssl, buf, sizeof buf) <= 0)
            break;
    }
    ERR_clear_error();
}

/* Tell the peer why it is refused, then fail with the same words. */
static int refuse(session *s, int rc, const char *fmt, const char *id)
{
    char msg[256];

    snprintf(msg, sizeof msg, fmt, id);
    send_error(s, msg);
    return shelf__seterr(&s->lib->err, rc, "%s: %s", s->where, msg);
}

/* ---- the exchange ---- */

/* The peer's certificate must be a paired device's. */
static int check_peer(session *s, int we_listen)
{
    X509 *pc = SSL_get1_peer_certificate(s->ssl);
    int rc;

    if (!pc)
        return shelf__seterr(&s->lib->err, SHELF_EPERM, "%s: the peer has no certificate", s->where);
    rc = shelf__device_id_of_x509(pc, s->peer);
    X509_free(pc);
    if (rc != SHELF_OK)
        return shelf__seterr(&s->lib->err, rc, "out of memory");
    if (!strcmp(s->peer, s->self))
        return refuse(s, SHELF_EPERM, "device %.7s is this device (a copied library folder?)",
                      s->peer);
    if (s->inv && strcmp(s->peer, s->inv->inv->id) != 0)
        return refuse(s, SHELF_EPERM, "device %s is not the device the invitation names", s->peer);
    if (s->inv || s->invited)
        return SHELF_OK;    /* pinned to the invitation's id / checked by its proof */
    rc = shelf_device_lookup(s->lib, s->peer, NULL);
    if (rc == SHELF_EPERM)
        return refuse(s, SHELF_EPERM, "device %s was removed from this device", s->peer);
    if (rc == SHELF_ENOTFOUND)
        return refuse(s, SHELF_EPERM, we_listen ? "device %s is not paired with this device "
                                                  "(shelf device add)"
                                                : "device %s is not the paired device expected",
                      s->peer);
    return rc;
}

static int vec_add(void *ud, const char *device, int64_t counter)
{
    return json_object_set_new(ud, device, json_integer(counter)) == 0 ? 0 : SHELF_ENOMEM;
}

static int send_hello(session *s)
{
    json_t *vec = json_object();
    int64_t gen = 0;
    int rc;

    if (!vec)
        return shelf__seterr(&s->lib->err, SHELF_ENOMEM, "out of memory");
    /* this device's changes so far are logged before the vector is read */
    if ((rc = shelf__changes_drain(s->lib, s->self, NULL)) != SHELF_OK ||
        (rc = shelf__vector_each(s->lib, vec_add, vec)) != SHELF_OK) {
        json_decref(vec);
        return rc == SHELF_ENOMEM ? shelf__seterr(&s->lib->err, rc, "out of memory") : rc;
    }
    if ((rc = shelf_sync_keygen(s->lib, &gen)) != SHELF_OK) {
        json_decref(vec);
        return rc;
    }
    return send_json(s, json_pack("{s:s, s:i, s:s, s:s, s:o, s:I, s:b, s:b, s:i}", "type", "hello",
                                  "version", PROTOCOL_VERSION, "name", s->name, "library",
                                  shelf_library_id(s->lib), "vector", vec, "keygen", (json_int_t)gen,
                                  "zstd", 1, "files", 1, "wait", s->timeout));
}

static int recv_hello(session *s, shelf__wire_msg *m)
{
    int rc = recv_msg(s, m);
    json_t *w;

    if (rc == SHELF_OK && (rc = shelf__wire_hello(&s->lib->err, m)) != SHELF_OK)
        shelf__wire_free(m);
    if (rc == SHELF_OK) {
        json_t *g = json_object_get(m->root, "keygen");

        set_stats_peer(s, m->name);
        snprintf(s->peer_library, sizeof s->peer_library, "%s", m->library ? m->library : "");
        /* an older peer does not say: it gets no keys frame */
        s->keygen = json_is_integer(g) && json_integer_value(g) >= 0 ? json_integer_value(g) : -1;
        /* and reads only plain frames unless it says otherwise */
        s->zstd = json_is_true(json_object_get(m->root, "zstd"));
        s->files = json_is_true(json_object_get(m->root, "files"));
        w = json_object_get(m->root, "wait");
        s->wait_every = json_is_integer(w) && json_integer_value(w) >= 1
                            ? (double)json_integer_value(w) / 4 : 0;
    }
    return rc;
}

static int flush_records(session *s)
{
    json_t *o;

    if (!s->pending)
        return SHELF_OK;
    o = json_pack("{s:s, s:o}", "type", "changes", "records", s->records);
    s->pending = 0;
    if (!(s->records = json_array())) {
        json_decref(o);
        return shelf__seterr(&s->lib->err, SHELF_ENOMEM, "out of memory");
    }
    return send_json(s, o);
}

static int send_one(void *ud, const shelf_change *c)
{
    session *s = ud;
    json_t *r;

    r = json_pack("[s, I, I, s, s, s]", c->device, (json_int_t)c->counter, (json_int_t)c->hlc,
                  c->item, c->field, c->value);
    if (!r || json_array_append_new(s->records, r) != 0)
        return s->rc = shelf__seterr(&s->lib->err, SHELF_ENOMEM, "out of memory");
    s->st->sent++;
    s->pending += strlen(c->item) + strlen(c->field) + strlen(c->value) + 120;
    if (s->pending >= SHELF__WIRE_SEGMENT && (s->rc = flush_records(s)) != SHELF_OK)
        return s->rc;
    return 0;
}

static int send_device(void *ud, const char *device, int64_t counter)
{
    session *s = ud;
    int64_t after = 0;
    size_t i;
    int rc;

    for (i = 0; i < s->nhave; i++)
        if (!strcmp(s->have[i].device, device))
            after = s->have[i].counter;
    if (counter <= after)
        return 0;
    rc = shelf__log_each(s->lib, device, after, send_one, s);
    return rc != SHELF_OK && s->rc != SHELF_OK ? s->rc : rc;
}

static int send_changes(session *s, const shelf__wire_msg *hello)
{
    int rc;

    if (s->keygen >= 0) {     /* the other side lacks newer key generations */
        int64_t gen = 0;
        json_t *keys = NULL;

        if ((rc = shelf_sync_keygen(s->lib, &gen)) != SHELF_OK)
            return rc;
        if (gen > s->keygen &&
            ((rc = shelf__keys_json(s->lib, s->keygen, 0, &keys)) != SHELF_OK ||
             (rc = send_json(s, json_pack("{s:s, s:o}", "type", "keys", "keys", keys))) != SHELF_OK))
            return rc;
    }
    if (!(s->records = json_array()))
        return shelf__seterr(&s->lib->err, SHELF_ENOMEM, "out of memory");
    s->have = hello->vec;
    s->nhave = hello->nvec;
    s->rc = SHELF_OK;
    /* per device, from the one after the other side's count: by the
     * primary key, so ten new records in a log of a million read ten */
    rc = shelf__vector_each(s->lib, send_device, s);
    if (rc != SHELF_OK && s->rc != SHELF_OK)
        rc = s->rc;
    if (rc == SHELF_OK)
        rc = flush_records(s);
    json_decref(s->records);
    s->records = NULL;
    if (rc == SHELF_OK)
        rc = send_json(s, json_pack("{s:s}", "type", "done"));
    return rc;
}

/* While this side applies, the other has sent all it had and waits:
 * a wait frame when this side was silent for a quarter of its timeout
 * (and it reads them). */
static int keep_told(void *ud)
{
    session *s = ud;
    int rc;

    if (!s->wait_every || shelf__monotonic() - s->last_out < s->wait_every)
        return SHELF_OK;
    if ((rc = send_json(s, json_pack("{s:s}", "type", "wait"))) == SHELF_OK)
        s->st->waits++;
    return rc;
}

static int recv_changes(session *s)
{
    shelf__merge_stats ms;
    shelf__wire_msg m;
    int rc;

    for (;;) {
        if ((rc = recv_msg(s, &m)) != SHELF_OK)
            return rc;
        if (!strcmp(m.type, "done")) {
            shelf__wire_free(&m);
            return SHELF_OK;
        }
        if (!strcmp(m.type, "keys")) {
            rc = shelf__keys_store(s->lib, json_object_get(m.root, "keys"), 0);
            shelf__wire_free(&m);
            if (rc != SHELF_OK)
                return rc;
            continue;
        }
        rc = shelf__wire_changes(&s->lib->err, &m);
        if (rc == SHELF_OK)
            rc = shelf__merge_apply(s->lib, s->self, m.recs, m.nrecs, &ms, keep_told, s);
        if (rc == SHELF_OK) {
            s->st->received += (int64_t)m.nrecs;
            s->st->applied += ms.applied;
            s->st->lost += ms.lost;
            s->st->skipped += ms.skipped;
        }
        shelf__wire_free(&m);
        if (rc != SHELF_OK)
            return rc;
        if ((rc = keep_told(s)) != SHELF_OK)
            return rc;
    }
}

/* ---- sample files ---- */

/* Ask for the sample files wanted here, a batch at a time, and keep what
 * comes; an empty want ends it. */
static int fetch_files(session *s)
{
    shelf_library *lib = s->lib;
    int files = lib->sync_files == SHELF_SYNC_FILES_ALL, rc;
    shelf__sfile_rx *rx;
    int64_t cursor = 0;
    shelf__wire_msg m;
    size_t asked, got;

    if ((rc = shelf__sfile_rx_new(lib, &rx)) != SHELF_OK)
        return rc;
    for (;;) {
        json_t *shas = json_array();

        if (!shas) {
            rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
            break;
        }
        if (lib->sync_files != SHELF_SYNC_FILES_NONE &&
            (rc = shelf__sfile_wants(lib, files, &cursor, SHELF__WANT_MAX, shas)) != SHELF_OK) {
            json_decref(shas);
            break;
        }
        asked = json_array_size(shas);
        if ((rc = send_json(s, json_pack("{s:s, s:b, s:o}", "type", "want", "files", files, "shas",
                                         shas))) != SHELF_OK || !asked)
            break;
        for (got = 0;; got++) {
            const char *sha;
            void *buf;
            size_t n;

            if ((rc = recv_msg(s, &m)) != SHELF_OK)
                break;
            if (!strcmp(m.type, "done")) {
                shelf__wire_free(&m);
                s->st->files_waiting += (int64_t)(asked > got ? asked - got : 0);
                break;
            }
            /* the bytes go into a free slot while the last file is kept */
            if ((rc = shelf__wire_file(&lib->err, &m, &sha, &n)) == SHELF_OK &&
                (rc = shelf__sfile_rx_buffer(rx, n, &buf)) == SHELF_OK &&
                (rc = recv_bytes(s, buf, n)) == SHELF_OK)
                rc = shelf__sfile_rx_take(rx, sha, n);
            shelf__wire_free(&m);
            if (rc != SHELF_OK)
                break;
            s->st->files_in++;
        }
        /* what arrived is kept, also when the rest did not */
        if ((rc = shelf__sfile_rx_commit(rx, rc)) != SHELF_OK)
            break;
    }
    shelf__sfile_rx_free(rx);
    return rc;
}

/* Answer the other side's wants with the files this device holds. */
static int serve_files(session *s)
{
    shelf__buf data = SHELF__BUF_INIT;
    shelf__wire_msg m;
    json_t *shas, *h;
    size_t i;
    int rc, files;

    for (;;) {
        if ((rc = recv_msg(s, &m)) != SHELF_OK)
            break;
        if ((rc = shelf__wire_want(&s->lib->err, &m, &shas, &files)) != SHELF_OK ||
            !json_array_size(shas)) {
            shelf__wire_free(&m);
            break;
        }
        json_array_foreach(shas, i, h) {
            const char *sha = json_string_value(h);

            rc = shelf__sfile_read(s->lib, sha, files, &data);
            if (rc == SHELF_ENOTFOUND) {
                rc = SHELF_OK;      /* not here: the other side waits for it */
                continue;
            }
            if (rc == SHELF_OK)
                rc = send_json(s, json_pack("{s:s, s:s, s:I}", "type", "file", "sha", sha, "size",
                                            (json_int_t)data.len));
            if (rc == SHELF_OK)
                rc = send_bytes(s, data.buf, data.len);
            if (rc != SHELF_OK)
                break;
            s->st->files_out++;
        }
        shelf__wire_free(&m);
        if (rc == SHELF_OK)
            rc = send_json(s, json_pack("{s:s}", "type", "done"));
        if (rc != SHELF_OK)
            break;
    }
    shelf__buf_release(&data);
    return rc;
}

/* ---- invitations ---- */

/* Refuse with lib's message as it stands, on both sides. */
static int refuse_err(session *s, int rc)
{
    char msg[sizeof s->lib->err.msg];

    snprintf(msg, sizeof msg, "%s", s->lib->err.msg);
    send_error(s, msg);
    return shelf__seterr(&s->lib->err, rc, "%s: device %s: %s", s->where, s->peer, msg);
}

/* Listener: the peer offered an invitation: its proof pairs it (and it is
 * sent every key generation), or it is refused and nothing changes. */
static int take_invite(session *s, const shelf_device_info *me)
{
    shelf__wire_msg m;
    json_t *proof, *name, *keys = NULL;
    int rc, was;

    if ((rc = recv_msg(s, &m)) != SHELF_OK)
        return rc;
    if (!m.type || strcmp(m.type, "invite") != 0) {
        shelf__wire_free(&m);
        return refuse(s, SHELF_EPERM, "device %s is not paired with this device (shelf device add)",
                      s->peer);
    }
    proof = json_object_get(m.root, "proof");
    name = json_object_get(m.root, "name");
    was = shelf_device_lookup(s->lib, s->peer, NULL) == SHELF_OK;
    rc = shelf__invite_redeem(s->lib, s->peer, s->self,
                              json_is_string(proof) ? json_string_value(proof) : NULL,
                              json_is_string(name) ? json_string_value(name) : NULL);
    shelf__wire_free(&m);
    if (rc == SHELF_EPERM)
        return refuse_err(s, rc);
    s->newly_paired = rc == SHELF_OK && !was;
    if (rc != SHELF_OK || (rc = shelf__keys_json(s->lib, 0, 1, &keys)) != SHELF_OK)
        return rc;
    return send_json(s, json_pack("{s:s, s:s, s:o}", "type", "welcome", "name", me->name, "keys",
                                  keys));
}

/* Initiator: prove the invitation's secret, take the keys, pair. */
static int give_invite(session *s, const shelf_device_info *me)
{
    const shelf__invite *inv = s->inv->inv;
    unsigned char h[32];
    char proof[65];
    const char *name;
    shelf__wire_msg m;
    json_t *wn;
    int64_t paired = 0;
    int rc;

    SHA256(inv->secret, sizeof inv->secret, h);
    shelf__invite_proof(h, s->self, s->peer, proof);
    OPENSSL_cleanse(h, sizeof h);
    if ((rc = send_json(s, json_pack("{s:s, s:i, s:s, s:s}", "type", "invite", "version", 1, "name",
                                     me->name, "proof", proof))) != SHELF_OK ||
        (rc = recv_msg(s, &m)) != SHELF_OK)
        return rc;
    if (strcmp(m.type, "welcome") != 0) {
        shelf__wire_free(&m);
        return shelf__seterr(&s->lib->err, SHELF_EFORMAT, "%s: invalid sync message: expected "
                             "welcome", s->where);
    }
    rc = shelf__query_int(s->lib, "SELECT count(*) FROM devices WHERE revoked IS NULL", NULL,
                          &paired);
    if (rc == SHELF_OK)
        rc = shelf__keys_store(s->lib, json_object_get(m.root, "keys"), paired == 0);
    if (rc == SHELF_EPERM) {
        shelf__seterr(&s->lib->err, rc, "the inviter's library key differs from this library's, "
                      "which is paired with other devices already");
        shelf__wire_free(&m);
        return refuse_err(s, rc);
    }
    wn = json_object_get(m.root, "name");
    name = s->inv->name ? s->inv->name
           : *inv->name ? inv->name
           : json_is_string(wn) ? json_string_value(wn) : NULL;
    if (rc == SHELF_OK) {
        rc = shelf_device_add(s->lib, s->peer, name);
        if (rc == SHELF_EINVAL && !s->inv->name)
            rc = shelf_device_add(s->lib, s->peer, NULL);
        if (rc == SHELF_EEXIST)
            rc = SHELF_OK;      /* paired already: the keys were what was missing */
    }
    shelf__wire_free(&m);
    if (rc != SHELF_OK)
        return rc;
    if (s->inv->res) {
        shelf_peer p = { .size = sizeof p };

        snprintf(s->inv->res->id, sizeof s->inv->res->id, "%s", s->peer);
        snprintf(s->inv->res->address, sizeof s->inv->res->address, "%s", s->where);
        if (shelf_device_lookup(s->lib, s->peer, &p) == SHELF_OK)
            snprintf(s->inv->res->name, sizeof s->inv->res->name, "%s", p.name);
    }
    return SHELF_OK;
}

/* A peer that closes while this side writes must not end the process:
 * SIGPIPE is blocked on this thread during an exchange, and one it raised
 * is taken back before the old mask returns (as curl does for its
 * sockets), so the write fails with EPIPE instead. */
typedef struct sigpipe_guard {
    sigset_t old;
    int was_pending;
} sigpipe_guard;

static void sigpipe_block(sigpipe_guard *g)
{
    sigset_t set, pending;

    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigemptyset(&pending);
    (void)sigpending(&pending);
    g->was_pending = sigismember(&pending, SIGPIPE) == 1;
    (void)pthread_sigmask(SIG_BLOCK, &set, &g->old);
}

static void sigpipe_restore(sigpipe_guard *g)
{
    sigset_t set, pending;
    struct timespec zero = { 0, 0 };

    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigemptyset(&pending);
    if (!g->was_pending && sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1)
        (void)sigtimedwait(&set, NULL, &zero);
    (void)pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

/* The whole exchange on a connected socket; fd is closed. */
static int run_session(shelf_library *lib, SSL_CTX *ctx, int fd, int we_listen,
                       const shelf_device_info *me, const char *where, shelf_sync_stats *st,
                       invite_ctx *inv)
{
    session s;
    shelf__wire_msg hello;
    struct timeval tv = { 0, 0 };
    sigpipe_guard guard;
    int one = 1, rc;

    memset(&s, 0, sizeof s);
    s.timeout = lib->sync_io_timeout ? lib->sync_io_timeout : SHELF_SYNC_IO_TIMEOUT;
    tv.tv_sec = s.timeout;
    memset(&hello, 0, sizeof hello);
    shelf__sync_run_begin(lib);
    sigpipe_block(&guard);
    s.lib = lib;
    s.self = me->id;
    s.name = me->name;
    s.where = where;
    s.st = st;
    s.inv = inv;
    s.keygen = -1;
    s.last_out = shelf__monotonic();
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    errno = 0;
    if (!(s.ssl = SSL_new(ctx)) || SSL_set_fd(s.ssl, fd) != 1) {
        rc = tls_error(&s, "cannot start TLS");
        goto out;
    }
    if (inv && SSL_set_alpn_protos(s.ssl, (const unsigned char *)"\016" INVITE_ALPN,
                                   1 + strlen(INVITE_ALPN)) != 0) {
        rc = tls_error(&s, "cannot start TLS");
        goto out;
    }
    errno = 0;
    if ((we_listen ? SSL_accept(s.ssl) : SSL_connect(s.ssl)) != 1) {
        rc = tls_error(&s, "TLS handshake failed");
        goto out;
    }
    if (we_listen) {
        const unsigned char *proto = NULL;
        unsigned int plen = 0;

        SSL_get0_alpn_selected(s.ssl, &proto, &plen);
        s.invited = plen == strlen(INVITE_ALPN) && !memcmp(proto, INVITE_ALPN, plen);
    }
    if ((rc = check_peer(&s, we_listen)) != SHELF_OK)
        goto out;
    if (s.invited && (rc = take_invite(&s, me)) != SHELF_OK)
        goto out;
    if (inv && (rc = give_invite(&s, me)) != SHELF_OK)
        goto out;
    /* the listener speaks first: a refusal reaches the initiator before
     * it writes anything */
    if (we_listen) {
        if ((rc = send_hello(&s)) == SHELF_OK && (rc = recv_hello(&s, &hello)) == SHELF_OK &&
            (rc = recv_changes(&s)) == SHELF_OK && (rc = send_changes(&s, &hello)) == SHELF_OK &&
            s.files && (rc = serve_files(&s)) == SHELF_OK)
            rc = fetch_files(&s);
    } else {
        if ((rc = recv_hello(&s, &hello)) == SHELF_OK && (rc = send_hello(&s)) == SHELF_OK &&
            (rc = send_changes(&s, &hello)) == SHELF_OK && (rc = recv_changes(&s)) == SHELF_OK &&
            s.files && (rc = fetch_files(&s)) == SHELF_OK)
            rc = serve_files(&s);
    }
    /* an acceptor that refused what the invitation gave it (a library key
     * other than its own) is not left paired here */
    if (rc != SHELF_OK && s.newly_paired && s.refused)
        shelf__device_forget(lib, s.peer);
    if (rc == SHELF_OK)
        rc = shelf__device_seen(lib, s.peer, we_listen ? NULL : where, s.peer_library);
    if (rc == SHELF_OK) {
        (void)SSL_shutdown(s.ssl);
    } else if (!s.said && rc != SHELF_EIO) {
        send_error(&s, lib->err.msg);
    }
out:
    if (s.ssl && s.said && !s.refused)
        linger_close(&s);
    shelf__wire_free(&hello);
    SSL_free(s.ssl);
    ERR_clear_error();
    close(fd);
    sigpipe_restore(&guard);
    return rc;
}

static void stats_init(shelf_sync_stats *st)
{
    memset(st, 0, sizeof *st);
    st->size = sizeof *st;
}

/* A connected socket to address into *out. */
static int dial(shelf_library *lib, const char *address, int *out)
{
    char host[256], port[16];
    struct addrinfo hints, *ai = NULL, *p;
    int fd = -1, rc, e = 0;

    if ((rc = split_address(lib, address, host, sizeof host, port, sizeof port)) != SHELF_OK)
        return rc;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    if ((e = getaddrinfo(host, port, &hints, &ai)) != 0)
        return shelf__seterr(&lib->err, SHELF_EIO, "%s: cannot resolve: %s", address, gai_strerror(e));
    for (p = ai; p; p = p->ai_next) {
        if ((fd = socket(p->ai_family, p->ai_socktype | SOCK_CLOEXEC, p->ai_protocol)) < 0) {
            e = errno;
            continue;
        }
        if (connect(fd, p->ai_addr, p->ai_addrlen) == 0)
            break;
        e = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    if (fd < 0)
        return shelf__seterr_errno(&lib->err, e, "%s: cannot connect", address);
    *out = fd;
    return SHELF_OK;
}

int shelf_sync_connect(shelf_library *lib, const char *address, shelf_sync_stats *out)
{
    shelf_device_info me;
    shelf_sync_stats st;
    SSL_CTX *ctx = NULL;
    int fd = -1, rc;

    if (!lib)
        return SHELF_EINVAL;
    stats_init(&st);
    if ((rc = dial(lib, address, &fd)) != SHELF_OK)
        return rc;
    if ((rc = make_ctx(lib, 0, &ctx, &me)) != SHELF_OK) {
        close(fd);
        return rc;
    }
    rc = run_session(lib, ctx, fd, 0, &me, address, &st, NULL);
    SSL_CTX_free(ctx);
    shelf__out_fill(out, &st, sizeof st);
    return rc;
}

int shelf_device_accept(shelf_library *lib, const char *invite, const shelf_accept_opts *opts,
                        shelf_accept_result *out)
{
    shelf_accept_opts o;
    shelf_accept_result res;
    shelf__invite inv;
    shelf_device_info me;
    invite_ctx x;
    SSL_CTX *ctx = NULL;
    shelf__buf tried = { 0 };
    size_t i;
    int fd = -1, rc;

    if (!lib)
        return SHELF_EINVAL;
    if ((rc = shelf__opts_check(&lib->err, &o, sizeof o, opts, sizeof o, "accept options")) !=
        SHELF_OK)
        return rc;
    if (o.name && (rc = shelf__device_name_check(lib, o.name)) != SHELF_OK)
        return rc;
    if ((rc = shelf__invite_parse(&lib->err, invite, &inv)) != SHELF_OK)
        return rc;
    if (inv.expires <= shelf__now()) {
        OPENSSL_cleanse(inv.secret, sizeof inv.secret);
        return shelf__seterr(&lib->err, SHELF_EPERM, "invitation refused: it has expired");
    }
    if ((rc = shelf__writable(lib)) != SHELF_OK || (rc = make_ctx(lib, 0, &ctx, &me)) != SHELF_OK) {
        OPENSSL_cleanse(inv.secret, sizeof inv.secret);
        return rc;
    }
    memset(&res, 0, sizeof res);
    res.size = sizeof res;
    stats_init(&res.sync);
    x.inv = &inv;
    x.name = o.name;
    x.res = &res;
    /* each address in turn until one answers; an answer (even a refusal)
     * ends the search: the invitation may be spent */
    rc = SHELF_EIO;
    for (i = 0; i < inv.naddrs; i++) {
        if ((rc = dial(lib, inv.addrs[i], &fd)) == SHELF_OK)
            break;
        (void)shelf__buf_addf(&tried, "%s%s", tried.len ? "; " : "", lib->err.msg);
    }
    if (rc != SHELF_OK) {
        shelf__seterr(&lib->err, SHELF_EIO, "cannot reach the inviter: %.900s",
                      tried.buf ? tried.buf : "no address");
    } else {
        rc = run_session(lib, ctx, fd, 0, &me, inv.addrs[i], &res.sync, &x);
        if (rc == SHELF_OK)
            rc = shelf_sync_keygen(lib, &res.keygen);
    }
    shelf__buf_release(&tried);
    OPENSSL_cleanse(inv.secret, sizeof inv.secret);
    SSL_CTX_free(ctx);
    shelf__out_fill(out, &res, sizeof res);
    return rc;
}

/* A socket address as text: "HOST", or "HOST:PORT" / "[V6]:PORT". */
static void addr_text(const struct sockaddr_storage *ss, socklen_t sl, int with_port, char *out,
                      size_t n)
{
    char h[NI_MAXHOST], p[NI_MAXSERV];

    if (getnameinfo((const struct sockaddr *)ss, sl, h, sizeof h, p, sizeof p,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
        snprintf(out, n, "peer");
    else if (!with_port)
        snprintf(out, n, "%s", h);
    else
        snprintf(out, n, ss->ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", h, p);
}

static int bind_to(shelf_library *lib, const char *address, int *out, char *bound, size_t bn)
{
    char host[256], port[16];
    struct addrinfo hints, *ai = NULL, *p;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int fd = -1, one = 1, e = 0;

    memset(&ss, 0, sizeof ss);
    if (split_address(lib, address, host, sizeof host, port, sizeof port) != SHELF_OK)
        return lib->err.rc;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    if ((e = getaddrinfo(strcmp(host, "*") ? host : NULL, port, &hints, &ai)) != 0)
        return shelf__seterr(&lib->err, SHELF_EIO, "%s: cannot resolve: %s", address, gai_strerror(e));
    for (p = ai; p; p = p->ai_next) {
        if ((fd = socket(p->ai_family, p->ai_socktype | SOCK_CLOEXEC, p->ai_protocol)) < 0) {
            e = errno;
            continue;
        }
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, p->ai_addr, p->ai_addrlen) == 0 && listen(fd, 8) == 0)
            break;
        e = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    if (fd < 0)
        return shelf__seterr_errno(&lib->err, e, "cannot listen on %s", address);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        addr_text(&ss, sl, 1, bound, bn);
    *out = fd;
    return SHELF_OK;
}

int shelf_sync_listen(shelf_library *lib, const shelf_sync_listen_opts *opts)
{
    shelf_sync_listen_opts o;
    char bound[300] = "";
    shelf_device_info me;
    SSL_CTX *ctx = NULL;
    int lfd = -1, rc;

    if (!lib)
        return SHELF_EINVAL;
    if ((rc = shelf__opts_check(&lib->err, &o, sizeof o, opts, sizeof o, "listen options")) !=
        SHELF_OK)
        return rc;
    if ((rc = make_ctx(lib, 1, &ctx, &me)) != SHELF_OK)
        return rc;
    if ((rc = bind_to(lib, o.address ? o.address : "*:" DEFAULT_PORT, &lfd, bound, sizeof bound)) !=
        SHELF_OK) {
        SSL_CTX_free(ctx);
        return rc;
    }
    if (o.ready)
        o.ready(o.ud, bound);
    for (;;) {
        struct pollfd pf = { lfd, POLLIN, 0 };
        shelf_sync_stats st;
        char where[NI_MAXHOST] = "peer";
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd, n;

        memset(&ss, 0, sizeof ss);
        /* an atomic load: another thread sets it (the daemon) */
        if (o.stop && __atomic_load_n(o.stop, __ATOMIC_RELAXED)) {
            rc = SHELF_ECANCELED;
            break;
        }
        if ((n = poll(&pf, 1, 200)) <= 0) {
            if (n < 0 && errno != EINTR) {
                rc = shelf__seterr_errno(&lib->err, errno, "cannot wait for peers on %s", bound);
                break;
            }
            continue;
        }
        if ((fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC)) < 0)
            continue;
        addr_text(&ss, sl, 0, where, sizeof where);
        stats_init(&st);
        rc = run_session(lib, ctx, fd, 1, &me, where, &st, NULL);
        if (o.session)
            o.session(o.ud, rc, rc == SHELF_OK ? NULL : shelf_errmsg(lib), &st);
        if (o.once)
            break;
    }
    close(lfd);
    SSL_CTX_free(ctx);
    return rc;
}
