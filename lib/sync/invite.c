/*
 * invite.c: one-time invitations (doc/sync.md, "Invitations and the
 * library key"; the text in doc/formats.md, "Invitation").  An invitation
 * names this device (its id pins the TLS session), where it listens and a
 * random secret; only SHA-256 of the secret is kept here.  The device that
 * accepts proves it knows the secret with an HMAC over both ids (peer.c
 * sends it inside the pinned session); the secret itself never travels.
 * Also the library key generations as the wire carries them.
 */
#include <ifaddrs.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sqlite3.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include "sync_int.h"

#define PREFIX "shelf-invite:1:"
#define DEFAULT_TTL 86400
#define KEYS_MAX 100000

/* ---- the text ---- */

static int unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == '_' || c == '~' || c == '[' || c == ']';
}

static int pct_add(shelf__buf *b, const char *s)
{
    int rc = SHELF_OK;

    for (; *s && rc == SHELF_OK; s++)
        rc = unreserved((unsigned char)*s) ? shelf__buf_add(b, s, 1)
                                           : shelf__buf_addf(b, "%%%02X", (unsigned char)*s);
    return rc;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
           : -1;
}

/* Percent-decode text[0..n) into out (size on); 0 when it is not valid
 * or does not fit or holds a NUL. */
static int pct_get(const char *text, size_t n, char *out, size_t on)
{
    size_t i, k = 0;

    for (i = 0; i < n; i++) {
        unsigned v;

        if (k + 1 >= on)
            return 0;
        if (text[i] != '%') {
            if (!unreserved((unsigned char)text[i]))
                return 0;
            out[k++] = text[i];
            continue;
        }
        if (i + 2 >= n)
            return 0;
        if (hexval(text[i + 1]) < 0 || hexval(text[i + 2]) < 0 ||
            (v = (unsigned)(hexval(text[i + 1]) << 4 | hexval(text[i + 2]))) == 0)
            return 0;
        out[k++] = (char)v;
        i += 2;
    }
    out[k] = '\0';
    return 1;
}

static int bad(shelf__err *e, const char *what)
{
    return shelf__seterr(e, SHELF_EFORMAT, "invalid invitation: %s", what);
}

int shelf__invite_parse(shelf__err *e, const char *text, shelf__invite *out)
{
    const char *f[6], *end, *p;
    char buf[80], hex[2 * SHELF__INVITE_SECRET + 1];
    unsigned char sha[32];
    size_t len[6], i;

    memset(out, 0, sizeof *out);
    if (!text)
        return bad(e, "empty");
    text += strspn(text, " \t\r\n");
    end = text + strlen(text);
    while (end > text && strchr(" \t\r\n", end[-1]))
        end--;
    if ((size_t)(end - text) > 8192)
        return bad(e, "too long");
    if ((size_t)(end - text) < strlen(PREFIX) || strncmp(text, PREFIX, strlen(PREFIX)) != 0)
        return bad(e, "it does not start with '" PREFIX "'");
    p = text + strlen(PREFIX);
    /* id:secret:expires:addresses:name */
    for (i = 0; i < 5; i++) {
        const char *c = i < 4 ? memchr(p, ':', (size_t)(end - p)) : end;

        if (!c)
            return bad(e, "too few fields");
        f[i] = p;
        len[i] = (size_t)(c - p);
        p = c + (c < end);
    }
    if (memchr(f[4], ':', len[4]))
        return bad(e, "too many fields");
    if (len[0] >= sizeof buf)
        return bad(e, "not a device id");
    memcpy(buf, f[0], len[0]);
    buf[len[0]] = '\0';
    if (shelf_device_id_parse(buf, sha) != SHELF_OK)
        return bad(e, "not a device id");
    shelf_device_id_format(sha, out->id);
    if (len[1] != 2 * SHELF__INVITE_SECRET)
        return bad(e, "the secret is not 40 hex digits");
    memcpy(hex, f[1], len[1]);
    hex[len[1]] = '\0';
    if (shelf__unhex(hex, out->secret, SHELF__INVITE_SECRET) != SHELF_OK)
        return bad(e, "the secret is not 40 hex digits");
    if (len[2] == 0 || len[2] > 15 || strspn(f[2], "0123456789") < len[2])
        return bad(e, "the expiry is not a number");
    out->expires = 0;
    for (i = 0; i < len[2]; i++)
        out->expires = out->expires * 10 + (f[2][i] - '0');
    /* addresses, separated by ',' (none empty) */
    if (len[3] && f[3][len[3] - 1] == ',')
        return bad(e, "an address is not valid");
    p = f[3];
    while (p < f[3] + len[3]) {
        const char *c = memchr(p, ',', (size_t)(f[3] + len[3] - p));
        size_t n = c ? (size_t)(c - p) : (size_t)(f[3] + len[3] - p);

        if (out->naddrs == SHELF__INVITE_ADDRS)
            return bad(e, "too many addresses");
        if (!n || !pct_get(p, n, out->addrs[out->naddrs], sizeof out->addrs[0]))
            return bad(e, "an address is not valid");
        out->naddrs++;
        p += n + 1;
    }
    if (!out->naddrs)
        return bad(e, "no address");
    if (!pct_get(f[4], len[4], out->name, sizeof out->name))
        return bad(e, "the name is not valid");
    for (i = 0; out->name[i]; i++)
        if ((unsigned char)out->name[i] < 0x20 || out->name[i] == 0x7f)
            return bad(e, "the name holds a control character");
    return SHELF_OK;
}

void shelf__invite_proof(const unsigned char secret_hash[32], const char *acceptor,
                         const char *inviter, char out[65])
{
    unsigned char mac[32], msg[2 * SHELF_DEVICE_ID_LEN];
    unsigned int n = sizeof mac;

    memcpy(msg, acceptor, SHELF_DEVICE_ID_LEN);
    memcpy(msg + SHELF_DEVICE_ID_LEN, inviter, SHELF_DEVICE_ID_LEN);
    if (!HMAC(EVP_sha256(), secret_hash, 32, msg, sizeof msg, mac, &n))
        memset(mac, 0, sizeof mac);   /* matches nothing a listener keeps */
    shelf__hex(mac, sizeof mac, out);
    OPENSSL_cleanse(mac, sizeof mac);
}

/* ---- making one ---- */

static int addr_default(shelf__buf *b, int *n)
{
    struct ifaddrs *ifa = NULL, *i;
    int pass, rc = SHELF_OK;

    if (getifaddrs(&ifa) != 0)
        ifa = NULL;
    /* non-loopback first; loopback only when there is nothing else */
    for (pass = 0; pass < 2 && !*n && rc == SHELF_OK; pass++) {
        for (i = ifa; i && rc == SHELF_OK && *n < SHELF__INVITE_ADDRS; i = i->ifa_next) {
            char h[NI_MAXHOST], a[NI_MAXHOST + 16];
            int v6;

            if (!i->ifa_addr || !(i->ifa_flags & IFF_UP) ||
                (i->ifa_addr->sa_family != AF_INET && i->ifa_addr->sa_family != AF_INET6) ||
                (!pass && (i->ifa_flags & IFF_LOOPBACK)))
                continue;
            v6 = i->ifa_addr->sa_family == AF_INET6;
            if (v6 && IN6_IS_ADDR_LINKLOCAL(&((struct sockaddr_in6 *)(void *)i->ifa_addr)->sin6_addr))
                continue;
            if (getnameinfo(i->ifa_addr, v6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in),
                            h, sizeof h, NULL, 0, NI_NUMERICHOST) != 0)
                continue;
            snprintf(a, sizeof a, v6 ? "[%s]:22700" : "%s:22700", h);
            if (*n)
                rc = shelf__buf_adds(b, ",");
            if (rc == SHELF_OK)
                rc = pct_add(b, a);
            ++*n;
        }
    }
    if (rc == SHELF_OK && !*n) {
        rc = shelf__buf_adds(b, "127.0.0.1%3A22700");
        *n = 1;
    }
    if (ifa)
        freeifaddrs(ifa);
    return rc;
}

int shelf_device_invite(shelf_library *lib, const shelf_invite_opts *opts, char **text)
{
    shelf_invite_opts o;
    shelf_device_info me = { .size = sizeof me };
    unsigned char secret[SHELF__INVITE_SECRET], hash[32];
    char hex[2 * SHELF__INVITE_SECRET + 1], hhex[65];
    shelf__buf b = { 0 };
    sqlite3_stmt *st;
    int64_t now = shelf__now(), expires;
    int rc, n = 0;
    size_t i;

    if (!lib || !text)
        return lib ? shelf__seterr(&lib->err, SHELF_EINVAL, "invalid invitation: no output") : SHELF_EINVAL;
    *text = NULL;
    if ((rc = shelf__opts_check(&lib->err, &o, sizeof o, opts, sizeof o, "invitation options")) !=
        SHELF_OK)
        return rc;
    if (o.expires < 0)
        return shelf__seterr(&lib->err, SHELF_EINVAL, "invalid invitation expiry: %lld seconds",
                             (long long)o.expires);
    if (o.naddresses > SHELF__INVITE_ADDRS || (o.naddresses && !o.addresses))
        return shelf__seterr(&lib->err, SHELF_EINVAL, "invalid invitation: at most %d addresses",
                             SHELF__INVITE_ADDRS);
    for (i = 0; i < o.naddresses; i++)
        if (!o.addresses[i] || !*o.addresses[i] || strlen(o.addresses[i]) > 200)
            return shelf__seterr(&lib->err, SHELF_EINVAL, "invalid invitation address '%.80s'",
                                 o.addresses[i] ? o.addresses[i] : "");
    if (o.name && (rc = shelf__device_name_check(lib, o.name)) != SHELF_OK)
        return rc;
    if ((rc = shelf__writable(lib)) != SHELF_OK || (rc = shelf_device_self(lib, &me)) != SHELF_OK)
        return rc;
    expires = now + (o.expires ? o.expires : DEFAULT_TTL);
    if ((rc = shelf__random(secret, sizeof secret)) != SHELF_OK)
        return shelf__seterr(&lib->err, rc, "cannot make an invitation: no random bytes");
    SHA256(secret, sizeof secret, hash);
    shelf__hex(hash, sizeof hash, hhex);
    shelf__hex(secret, sizeof secret, hex);
    OPENSSL_cleanse(secret, sizeof secret);
    OPENSSL_cleanse(hash, sizeof hash);
    if (!(st = shelf__prepare(lib, "INSERT INTO invitations(secret, name, created, expires) "
                                   "VALUES(?1, ?2, ?3, ?4)")))
        return lib->err.rc;
    if (sqlite3_bind_text(st, 1, hhex, -1, SQLITE_STATIC) != SQLITE_OK ||
        (o.name ? sqlite3_bind_text(st, 2, o.name, -1, SQLITE_STATIC) : sqlite3_bind_null(st, 2)) !=
            SQLITE_OK ||
        sqlite3_bind_int64(st, 3, now) != SQLITE_OK || sqlite3_bind_int64(st, 4, expires) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_DONE)
        rc = shelf__dberr(lib, "cannot store the invitation");
    sqlite3_finalize(st);
    if (rc != SHELF_OK)
        return rc;
    rc = shelf__buf_addf(&b, PREFIX "%s:%s:%lld:", me.id, hex, (long long)expires);
    for (i = 0; rc == SHELF_OK && i < o.naddresses; i++)
        if ((rc = i ? shelf__buf_adds(&b, ",") : SHELF_OK) == SHELF_OK)
            rc = pct_add(&b, o.addresses[i]);
    if (rc == SHELF_OK && !o.naddresses)
        rc = addr_default(&b, &n);
    if (rc == SHELF_OK && (rc = shelf__buf_adds(&b, ":")) == SHELF_OK)
        rc = pct_add(&b, me.name);
    OPENSSL_cleanse(hex, sizeof hex);
    if (rc != SHELF_OK) {
        shelf__buf_release(&b);
        return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    }
    *text = shelf__buf_detach(&b);
    return *text ? SHELF_OK : shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
}

/* ---- the listener's check ---- */

int shelf__invite_redeem(shelf_library *lib, const char *acceptor, const char *self,
                         const char *proof, const char *name)
{
    sqlite3_stmt *st;
    unsigned char hash[32];
    char want[65], found[65] = "", given[SHELF_DEVICE_NAME_MAX + 1] = "";
    int64_t now = shelf__now();
    int rc, r, state = 0;   /* 0 no match, 1 used, 2 expired, 3 good */

    if (!proof || strlen(proof) != 64)
        return shelf__seterr(&lib->err, SHELF_EPERM, "invitation refused: wrong secret");
    if ((rc = shelf__begin(lib)) != SHELF_OK)
        return rc;
    if (!(st = shelf__prepare(lib, "SELECT secret, name, expires, used FROM invitations"))) {
        shelf__rollback(lib);
        return lib->err.rc;
    }
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        const char *h = (const char *)sqlite3_column_text(st, 0);
        int s;

        if (!h || strlen(h) != 64 || shelf__unhex(h, hash, sizeof hash) != SHELF_OK)
            continue;
        shelf__invite_proof(hash, acceptor, self, want);
        if (CRYPTO_memcmp(want, proof, 64) != 0)
            continue;
        s = sqlite3_column_type(st, 3) != SQLITE_NULL ? 1 : sqlite3_column_int64(st, 2) <= now ? 2 : 3;
        if (s > state) {
            state = s;
            snprintf(found, sizeof found, "%s", h);
            if (sqlite3_column_text(st, 1))
                snprintf(given, sizeof given, "%s", (const char *)sqlite3_column_text(st, 1));
        }
    }
    OPENSSL_cleanse(hash, sizeof hash);
    sqlite3_finalize(st);
    if (r != SQLITE_DONE)
        rc = shelf__dberr(lib, "cannot read the invitations");
    else if (state == 0)
        rc = shelf__seterr(&lib->err, SHELF_EPERM, "invitation refused: wrong secret or unknown invitation");
    else if (state == 1)
        rc = shelf__seterr(&lib->err, SHELF_EPERM, "invitation refused: it was used already");
    else if (state == 2)
        rc = shelf__seterr(&lib->err, SHELF_EPERM, "invitation refused: it has expired");
    if (rc == SHELF_OK) {
        if (!(st = shelf__prepare(lib, "UPDATE invitations SET used = ?2, used_by = ?3 "
                                       "WHERE secret = ?1 AND used IS NULL")))
            rc = lib->err.rc;
        else if (sqlite3_bind_text(st, 1, found, -1, SQLITE_STATIC) != SQLITE_OK ||
                 sqlite3_bind_int64(st, 2, now) != SQLITE_OK ||
                 sqlite3_bind_text(st, 3, acceptor, -1, SQLITE_STATIC) != SQLITE_OK ||
                 sqlite3_step(st) != SQLITE_DONE)
            rc = shelf__dberr(lib, "cannot write the invitations");
        sqlite3_finalize(st);
    }
    if (rc != SHELF_OK) {
        shelf__rollback(lib);
        return rc;
    }
    if ((rc = shelf__commit(lib)) != SHELF_OK)
        return rc;
    /* paired after the invitation is spent: a second use can never pair */
    rc = shelf_device_lookup(lib, acceptor, NULL);
    if (rc == SHELF_OK)
        return SHELF_OK;
    rc = shelf_device_add(lib, acceptor, *given ? given : name);
    if (rc == SHELF_EINVAL && !*given)   /* a bad name sent: its id's first group */
        rc = shelf_device_add(lib, acceptor, NULL);
    return rc;
}

/* ---- the library key on the wire ---- */

int shelf_sync_keygen(shelf_library *lib, int64_t *gen)
{
    if (!lib || !gen)
        return lib ? shelf__seterr(&lib->err, SHELF_EINVAL, "invalid key generation: no output") : SHELF_EINVAL;
    return shelf__query_int(lib, "SELECT coalesce(max(gen), 0) FROM sync_keys", NULL, gen);
}

int shelf__keys_json(shelf_library *lib, int64_t after, int make, json_t **out)
{
    unsigned char key[SHELF__LIBKEY_LEN];
    char hex[2 * SHELF__LIBKEY_LEN + 1];
    int64_t top = 0, g, got;
    json_t *arr;
    int rc;

    *out = NULL;
    if (make && (rc = shelf__libkey(lib, 0, &top, key)) != SHELF_OK)
        return rc;
    if ((rc = shelf_sync_keygen(lib, &top)) != SHELF_OK)
        return rc;
    if (!(arr = json_array()))
        return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    for (g = after + 1; g <= top; g++) {
        rc = shelf__libkey(lib, g, &got, key);
        if (rc == SHELF_ENOTFOUND)
            continue;
        if (rc != SHELF_OK)
            break;
        shelf__hex(key, sizeof key, hex);
        if (json_array_append_new(arr, json_pack("[I, s]", (json_int_t)g, hex)) != 0)
            rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        if (rc != SHELF_OK)
            break;
    }
    OPENSSL_cleanse(key, sizeof key);
    OPENSSL_cleanse(hex, sizeof hex);
    if (rc != SHELF_OK && rc != SHELF_ENOTFOUND) {
        json_decref(arr);
        return rc;
    }
    *out = arr;
    return SHELF_OK;
}

int shelf__wire_keys(shelf__err *e, const json_t *keys)
{
    unsigned char key[SHELF__LIBKEY_LEN];
    const json_t *k;
    size_t i;

    if (!json_is_array(keys) || json_array_size(keys) > KEYS_MAX)
        return shelf__seterr(e, SHELF_EFORMAT, "invalid sync message: keys are not a list");
    json_array_foreach(keys, i, k) {
        const json_t *g = json_array_get(k, 0), *h = json_array_get(k, 1);

        if (!json_is_array(k) || json_array_size(k) != 2 || !json_is_integer(g) ||
            json_integer_value(g) < 1 || !json_is_string(h) ||
            json_string_length(h) != 2 * SHELF__LIBKEY_LEN ||
            shelf__unhex(json_string_value(h), key, sizeof key) != SHELF_OK) {
            OPENSSL_cleanse(key, sizeof key);
            return shelf__seterr(e, SHELF_EFORMAT,
                                 "invalid sync message: a key is not a generation and 64 hex digits");
        }
    }
    OPENSSL_cleanse(key, sizeof key);
    return SHELF_OK;
}

int shelf__keys_store(shelf_library *lib, const json_t *keys, int replace)
{
    unsigned char key[SHELF__LIBKEY_LEN];
    const json_t *k;
    size_t i;
    int rc = SHELF_OK;

    if ((rc = shelf__wire_keys(&lib->err, keys)) != SHELF_OK)
        return rc;
    /* a device paired with nobody yet takes the inviter's keys for its own */
    if ((rc = shelf__begin(lib)) != SHELF_OK)
        return rc;
    if (replace)
        rc = shelf__exec(lib, "DELETE FROM sync_keys");
    json_array_foreach(keys, i, k) {
        if (rc != SHELF_OK)
            break;
        (void)shelf__unhex(json_string_value(json_array_get(k, 1)), key, sizeof key);
        rc = shelf__libkey_put(lib, json_integer_value(json_array_get(k, 0)), key);
    }
    OPENSSL_cleanse(key, sizeof key);
    if (rc != SHELF_OK) {
        shelf__rollback(lib);
        return rc;
    }
    return shelf__commit(lib);
}
