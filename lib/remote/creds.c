/*
 * creds.c: credentials for network targets (creds_int.h): the variables
 * taken from the environment (and scrubbed from it), AWS shared credential
 * and config files read as awscli reads them, the desktop keyring through
 * libsecret, and shelf's own encrypted credential file.  It owns every
 * copy of a secret it makes and wipes each (OPENSSL_cleanse) before it is
 * freed.  The threat model is in doc/design.md ("Credentials"); the file
 * format in doc/formats.md ("Credential file").
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <libsecret/secret.h>
#include "creds_int.h"

extern char **environ;

/* ---- wiping ---- */

static void wipe_str(char *s)
{
    if (s) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

static void wipe_buf(shelf__buf *b)
{
    if (b->buf)
        OPENSSL_cleanse(b->buf, b->cap);
    shelf__buf_release(b);
}

void shelf__creds_clear(shelf__creds *c)
{
    if (!c)
        return;
    wipe_str(c->access_key);
    wipe_str(c->secret_key);
    wipe_str(c->session_token);
    wipe_str(c->region);
    wipe_str(c->user);
    wipe_str(c->password);
    memset(c, 0, sizeof *c);
}

/* The fields of shelf__creds by name, in the order of the record format. */
static const char *const field_names[] = { "access_key", "secret_key", "session_token",
                                           "region", "user", "password" };
#define NFIELDS 6

static char **field_at(shelf__creds *c, int i)
{
    char **f[NFIELDS] = { &c->access_key, &c->secret_key, &c->session_token,
                          &c->region, &c->user, &c->password };
    return f[i];
}

/* ---- the environment ---- */

static const char *const env_names[SHELF__ENV_COUNT] = {
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION",
    "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE",
    "SHELF_WEBDAV_USER", "SHELF_WEBDAV_PASSWORD", "SHELF_CREDENTIALS_PASSWORD",
};

static pthread_mutex_t env_lock = PTHREAD_MUTEX_INITIALIZER;
static char *env_taken[SHELF__ENV_COUNT];   /* owned, wiped by shelf__creds_env_reset */
/* The passphrase that last opened or wrote the credential file, so one
 * command asks once (under env_lock; wiped by shelf__creds_env_reset). */
static char *pass_kept;

/* Unset name and overwrite the bytes of its environ entries (the process's
 * initial environment block is what /proc/PID/environ shows). */
static void scrub_one(const char *name)
{
    size_t len = strlen(name), n = 0, i;
    char **e, *entries[8];

    for (e = environ; e && *e && n < 8; e++)
        if (!strncmp(*e, name, len) && (*e)[len] == '=')
            entries[n++] = *e;
    if (unsetenv(name) != 0)
        return;
    /* the name too: nothing says which variable was there */
    for (i = 0; i < n; i++)
        OPENSSL_cleanse(entries[i], strlen(entries[i]));
}

void shelf__creds_scrub_env(void)
{
    int i;

    pthread_mutex_lock(&env_lock);
    for (i = 0; i < SHELF__ENV_COUNT; i++) {
        const char *v = getenv(env_names[i]);
        char *copy;

        if (!v)
            continue;
        /* A copy that cannot be made leaves the variable where it is
         * rather than losing it. */
        if (!(copy = shelf__strdup(v)))
            continue;
        wipe_str(env_taken[i]);
        env_taken[i] = copy;
        scrub_one(env_names[i]);
    }
    pthread_mutex_unlock(&env_lock);
}

void shelf__creds_env_reset(void)
{
    int i;

    pthread_mutex_lock(&env_lock);
    for (i = 0; i < SHELF__ENV_COUNT; i++) {
        wipe_str(env_taken[i]);
        env_taken[i] = NULL;
    }
    wipe_str(pass_kept);
    pass_kept = NULL;
    pthread_mutex_unlock(&env_lock);
}

char *shelf__creds_env(int which)
{
    const char *v;
    char *r;

    if (which < 0 || which >= SHELF__ENV_COUNT)
        return NULL;
    pthread_mutex_lock(&env_lock);
    v = env_taken[which] ? env_taken[which] : getenv(env_names[which]);
    r = v && *v ? shelf__strdup(v) : NULL;
    pthread_mutex_unlock(&env_lock);
    return r;
}

/* ---- AWS shared credentials and config files ----
 *
 * awscli reads them with Python's configparser (RawConfigParser, strict)
 * through botocore: "[section]" headers (the text between the first '['
 * and the last ']'), "key = value" or "key: value" with the key lowercased
 * and both sides stripped, full-line comments starting with '#' or ';'
 * (no comments after a value), indented lines continuing the value above,
 * "[DEFAULT]" values inherited by every section, and a duplicate section
 * or key, a line before any section or a line without '=' or ':' making
 * the whole file unreadable.  In the config file a profile is
 * "[profile NAME]" (split as a shell would split it) or "[default]"; in the
 * credentials file the section name is the profile name.  Values of one
 * profile in the credentials file override those in the config file.
 */

typedef struct ini_state {
    const char *profile;
    int config;
    int found;
    shelf__creds in_sect, in_default;
} ini_state;

/* shlex.split(header) gives exactly two words: the second into *out (owned). */
static int shlex_second(const char *s, char **out)
{
    shelf__buf w = SHELF__BUF_INIT;
    int words = 0, in = 0, rc = SHELF_OK;
    char q = 0;

    *out = NULL;
    for (;; s++) {
        char c = *s;

        if (!q && (c == '\0' || c == ' ' || c == '\t' || c == '\n' || c == '\r')) {
            if (in) {
                words++;
                if (words == 2 && !(*out = shelf__strdup(w.buf ? w.buf : "")))
                    rc = SHELF_ENOMEM;
                shelf__buf_reset(&w);
                in = 0;
            }
            if (c == '\0')
                break;
            continue;
        }
        if (c == '\0') {            /* an open quote: shlex raises */
            rc = SHELF_EFORMAT;
            break;
        }
        in = 1;
        if (!q && (c == '\'' || c == '"')) {
            q = c;
            continue;
        }
        if (q && c == q) {
            q = 0;
            continue;
        }
        if (c == '\\' && q != '\'' && s[1] &&
            (!q || s[1] == '"' || s[1] == '\\' || s[1] == '$' || s[1] == '`'))
            c = *++s;
        else if (c == '\\' && !q && !s[1]) {
            rc = SHELF_EFORMAT;     /* "No escaped character" */
            break;
        }
        if (shelf__buf_add(&w, &c, 1) != SHELF_OK) {
            rc = SHELF_ENOMEM;
            break;
        }
    }
    shelf__buf_release(&w);
    if (rc == SHELF_OK && words != 2)
        rc = SHELF_EFORMAT;
    if (rc != SHELF_OK) {
        free(*out);
        *out = NULL;
    }
    return rc;
}

/* 1 when section header sect names st->profile. */
static int ini_is_profile(const ini_state *st, const char *sect, int *nomem)
{
    char *second = NULL;
    int r;

    if (!st->config)
        return strcmp(sect, st->profile) == 0;
    if (!strcmp(sect, "default"))
        return strcmp(st->profile, "default") == 0;
    if (strncmp(sect, "profile", 7) != 0)
        return 0;
    r = shlex_second(sect, &second);
    if (r == SHELF_ENOMEM)
        *nomem = 1;
    r = r == SHELF_OK && strcmp(second, st->profile) == 0;
    free(second);
    return r;
}

static int ini_value(ini_state *st, int in_default, int in_profile, const char *key,
                     const char *val)
{
    shelf__creds *c = in_default ? &st->in_default : &st->in_sect;
    char **slot = NULL;

    if (!in_default && !in_profile)
        return SHELF_OK;
    if (!strcmp(key, "aws_access_key_id"))
        slot = &c->access_key;
    else if (!strcmp(key, "aws_secret_access_key"))
        slot = &c->secret_key;
    else if (!strcmp(key, "aws_session_token") ||
             (!strcmp(key, "aws_security_token") && !c->session_token))
        slot = &c->session_token;
    else if (!strcmp(key, "region"))
        slot = &c->region;
    if (!slot)
        return SHELF_OK;
    wipe_str(*slot);
    return (*slot = shelf__strdup(val)) ? SHELF_OK : SHELF_ENOMEM;
}

/* A list of names seen (duplicate checks). */
typedef struct names {
    char **v;
    size_t n;
} names;

static void names_free(names *l)
{
    size_t i;

    for (i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

/* SHELF_EEXIST when s is in l, else adds it. */
static int names_add(names *l, const char *s)
{
    char **v;
    size_t i;

    for (i = 0; i < l->n; i++)
        if (!strcmp(l->v[i], s))
            return SHELF_EEXIST;
    if (!(v = shelf__realloc(l->v, (l->n + 1) * sizeof *v)))
        return SHELF_ENOMEM;
    l->v = v;
    if (!(v[l->n] = shelf__strdup(s)))
        return SHELF_ENOMEM;
    l->n++;
    return SHELF_OK;
}

/* White space as Python's str.strip() sees it in ASCII. */
static int is_sp(char c)
{
    return c == ' ' || c == '\t' || c == '\f' || c == '\v' || (c >= 0x1c && c <= 0x1f);
}

/* Strip leading and trailing white space of s[0..*n) in place. */
static const char *strip(const char *s, size_t *n)
{
    while (*n && (is_sp(*s) || *s == '\r')) {
        s++;
        (*n)--;
    }
    while (*n && (is_sp(s[*n - 1]) || s[*n - 1] == '\r'))
        (*n)--;
    return s;
}

/* The parser of one file: configparser's state between lines. */
typedef struct ini_parse {
    ini_state st;
    names sects, opts;          /* seen so far: in the file, in the section */
    shelf__buf key, val, sect;  /* the option being read, its section */
    int have_sect, have_opt, in_profile, in_default;
    long line;
    shelf__err *err;
} ini_parse;

/* "[NAME]": a section header.  *done = 0 when s is not one ("[]"), and the
 * line is read as an option. */
static int ini_header(ini_parse *p, const char *s, size_t sl, int *done)
{
    size_t e = sl - 1;
    int rc, nomem = 0;

    *done = 0;
    while (s[e] != ']')
        e--;
    if (e < 2)
        return SHELF_OK;    /* "[]": not a header (".+" needs one character) */
    *done = 1;
    shelf__buf_reset(&p->sect);
    if (shelf__buf_add(&p->sect, s + 1, e - 1) != SHELF_OK)
        return SHELF_ENOMEM;
    p->in_default = !strcmp(p->sect.buf, "DEFAULT");
    if (!p->in_default && (rc = names_add(&p->sects, p->sect.buf)) != SHELF_OK) {
        if (rc == SHELF_EEXIST)
            rc = shelf__seterr(p->err, SHELF_EFORMAT, "line %ld: section '%s' again", p->line,
                               p->sect.buf);
        return rc;
    }
    names_free(&p->opts);
    p->in_profile = !p->in_default && ini_is_profile(&p->st, p->sect.buf, &nomem);
    if (nomem)
        return SHELF_ENOMEM;
    if (p->in_profile) {
        /* [default] and [profile default] both name it: the last wins */
        shelf__creds_clear(&p->st.in_sect);
        p->st.found = 1;
    }
    p->have_sect = 1;
    return SHELF_OK;
}

/* "key = value" or "key: value": the start of an option. */
static int ini_option(ini_parse *p, const char *s, size_t sl)
{
    size_t d = 0, k;
    const char *v;
    int rc, i;

    if (!p->have_sect)
        return shelf__seterr(p->err, SHELF_EFORMAT, "line %ld: a value before any [section]", p->line);
    while (d < sl && s[d] != '=' && s[d] != ':')
        d++;
    k = d;
    while (k && is_sp(s[k - 1]))
        k--;
    if (d == sl || k == 0)
        return shelf__seterr(p->err, SHELF_EFORMAT, "line %ld: not 'key = value'", p->line);
    shelf__buf_reset(&p->key);
    wipe_buf(&p->val);
    if (shelf__buf_add(&p->key, s, k) != SHELF_OK)
        return SHELF_ENOMEM;
    for (i = 0; p->key.buf[i]; i++)
        if (p->key.buf[i] >= 'A' && p->key.buf[i] <= 'Z')
            p->key.buf[i] = (char)(p->key.buf[i] - 'A' + 'a');
    if ((rc = names_add(&p->opts, p->key.buf)) != SHELF_OK) {
        if (rc == SHELF_EEXIST)
            rc = shelf__seterr(p->err, SHELF_EFORMAT, "line %ld: key '%s' again in [%s]", p->line,
                               p->key.buf, p->sect.buf);
        return rc;
    }
    d++;
    k = sl - d;
    v = strip(s + d, &k);
    if (shelf__buf_add(&p->val, v, k) != SHELF_OK)
        return SHELF_ENOMEM;
    p->have_opt = 1;
    return SHELF_OK;
}

/* The option read so far is complete: keep its value. */
static int ini_flush(ini_parse *p)
{
    if (!p->have_opt)
        return SHELF_OK;
    p->have_opt = 0;
    return ini_value(&p->st, p->in_default, p->in_profile, p->key.buf, p->val.buf ? p->val.buf : "");
}

/* The section's own values, else [DEFAULT]'s, into *out. */
static void ini_result(ini_parse *p, shelf__creds *out)
{
    int i;

    for (i = 0; i < NFIELDS; i++) {
        char **a = field_at(&p->st.in_sect, i), **b = field_at(&p->st.in_default, i);

        if (!*a && *b) {
            *a = *b;
            *b = NULL;
        }
    }
    *out = p->st.in_sect;
    memset(&p->st.in_sect, 0, sizeof p->st.in_sect);
}

int shelf__awsini_find(const char *text, size_t n, int config, const char *profile,
                       shelf__creds *out, shelf__err *err)
{
    ini_parse p;
    size_t pos = 0, indent = 0, pending_empty = 0;
    int rc = SHELF_OK;

    memset(out, 0, sizeof *out);
    memset(&p, 0, sizeof p);
    p.st.profile = profile;
    p.st.config = config;
    p.err = err;
    while (pos <= n && rc == SHELF_OK) {
        size_t start = pos, len, ind, sl;
        const char *s;
        int done;

        if (pos == n && n > 0 && (text[n - 1] == '\n'))
            break;
        while (pos < n && text[pos] != '\n' && text[pos] != '\r')
            pos++;
        len = pos - start;
        if (pos < n && text[pos] == '\r' && pos + 1 < n && text[pos + 1] == '\n')
            pos++;
        pos++;
        p.line++;
        if (memchr(text + start, '\0', len)) {
            rc = shelf__seterr(err, SHELF_EFORMAT, "line %ld: a NUL byte", p.line);
            break;
        }
        sl = len;
        s = strip(text + start, &sl);
        for (ind = 0; ind < len && is_sp(text[start + ind]); ind++)
            ;
        if (sl && (*s == '#' || *s == ';'))
            continue;
        if (!sl) {
            if (p.have_opt)
                pending_empty++;
            continue;
        }
        if (p.have_sect && p.have_opt && ind > indent) {
            /* a continuation line */
            for (; pending_empty && rc == SHELF_OK; pending_empty--)
                rc = shelf__buf_add(&p.val, "\n", 1);
            if (rc == SHELF_OK && (rc = shelf__buf_add(&p.val, "\n", 1)) == SHELF_OK)
                rc = shelf__buf_add(&p.val, s, sl);
            continue;
        }
        if ((rc = ini_flush(&p)) != SHELF_OK)
            break;
        pending_empty = 0;
        indent = ind;
        done = 0;
        if (*s == '[' && memchr(s + 1, ']', sl - 1) && ((rc = ini_header(&p, s, sl, &done)) != SHELF_OK || done))
            continue;
        rc = ini_option(&p, s, sl);
    }
    if (rc == SHELF_OK)
        rc = ini_flush(&p);
    if (rc == SHELF_OK && !p.st.found)
        rc = SHELF_ENOTFOUND;
    if (rc == SHELF_OK)
        ini_result(&p, out);
    if (rc == SHELF_ENOMEM)
        shelf__seterr(err, rc, "out of memory");
    shelf__creds_clear(&p.st.in_sect);
    shelf__creds_clear(&p.st.in_default);
    names_free(&p.sects);
    names_free(&p.opts);
    shelf__buf_release(&p.key);
    shelf__buf_release(&p.sect);
    wipe_buf(&p.val);
    return rc;
}

/* ---- records: the secret of one remote as text ----
 *
 * "field=value\n" lines (field one of field_names), the value with '%',
 * '\n' and '\r' written as %25, %0A, %0D.  The keyring holds one
 * record per item; the credential file "[NAME]\n" followed by its record,
 * for each remote.
 */

static int record_add(shelf__buf *b, const shelf__creds *c)
{
    int i;

    for (i = 0; i < NFIELDS; i++) {
        const char *v = *field_at((shelf__creds *)c, i), *p;

        if (!v)
            continue;
        if (shelf__buf_addf(b, "%s=", field_names[i]) != SHELF_OK)
            return SHELF_ENOMEM;
        for (p = v; *p; p++) {
            int r = *p == '%' || *p == '\n' || *p == '\r'
                        ? shelf__buf_addf(b, "%%%02X", (unsigned char)*p)
                        : shelf__buf_add(b, p, 1);

            if (r != SHELF_OK)
                return SHELF_ENOMEM;
        }
        if (shelf__buf_add(b, "\n", 1) != SHELF_OK)
            return SHELF_ENOMEM;
    }
    return SHELF_OK;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                          : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Parse one "field=value" line s[0..n) into c (unknown fields are kept out:
 * a newer shelf may write more).  SHELF_EFORMAT when malformed. */
static int record_line(const char *s, size_t n, shelf__creds *c)
{
    const char *eq = memchr(s, '=', n);
    shelf__buf v = SHELF__BUF_INIT;
    size_t k, i;
    int f, rc = SHELF_OK;

    if (!eq)
        return SHELF_EFORMAT;
    k = (size_t)(eq - s);
    for (f = 0; f < NFIELDS; f++)
        if (strlen(field_names[f]) == k && !memcmp(s, field_names[f], k))
            break;
    if (shelf__buf_grow(&v, n) != SHELF_OK)
        return SHELF_ENOMEM;
    for (i = k + 1; i < n; i++) {
        char ch = s[i];

        if (ch == '%') {
            int hi = i + 2 < n ? hexval(s[i + 1]) : -1, lo = i + 2 < n ? hexval(s[i + 2]) : -1;

            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                rc = SHELF_EFORMAT;
                goto out;
            }
            ch = (char)(hi * 16 + lo);
            i += 2;
        }
        v.buf[v.len++] = ch;
    }
    v.buf[v.len] = '\0';
    if (f < NFIELDS) {
        char **slot = field_at(c, f);

        wipe_str(*slot);
        if (!(*slot = shelf__strdup(v.buf)))
            rc = SHELF_ENOMEM;
    }
out:
    wipe_buf(&v);
    return rc;
}

/* Parse a record s[0..n) into c (cleared first). */
static int record_parse(const char *s, size_t n, shelf__creds *c)
{
    size_t pos = 0;
    int rc = SHELF_OK;

    memset(c, 0, sizeof *c);
    if (!s)
        return SHELF_OK;
    while (pos < n && rc == SHELF_OK) {
        const char *nl = memchr(s + pos, '\n', n - pos);
        size_t len = nl ? (size_t)(nl - (s + pos)) : n - pos;

        if (len)
            rc = record_line(s + pos, len, c);
        pos += len + 1;
    }
    if (rc != SHELF_OK)
        shelf__creds_clear(c);
    return rc;
}

/* ---- the desktop keyring (libsecret) ---- */

static const SecretSchema *schema(void)
{
    static const SecretSchema s = {
        "org.shelf.Credentials", SECRET_SCHEMA_NONE,
        {
            { "remote", SECRET_SCHEMA_ATTRIBUTE_STRING },
            { "host", SECRET_SCHEMA_ATTRIBUTE_STRING },
            { NULL, 0 },
        },
        0, NULL, NULL, NULL, NULL, NULL, NULL, NULL
    };
    return &s;
}

/* Keyring calls give up after this long (a locked keyring may wait for a
 * password prompt that nobody answers). */
#define KEYRING_TIMEOUT_MS 5000

static int keyring_timeout_ms(void)
{
    const char *v = getenv("SHELF_KEYRING_TIMEOUT_MS");
    long t = v ? strtol(v, NULL, 10) : 0;

    return t > 0 && t < 600000 ? (int)t : KEYRING_TIMEOUT_MS;
}

/* A cancellable that a thread cancels after the timeout. */
typedef struct watchdog {
    GCancellable *cancel;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, started;
} watchdog;

static void *watchdog_run(void *arg)
{
    watchdog *w = arg;
    struct timespec until;
    int ms = keyring_timeout_ms();

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&w->mu);
    while (!w->done)
        if (pthread_cond_timedwait(&w->cv, &w->mu, &until) != 0)
            break;
    if (!w->done)
        g_cancellable_cancel(w->cancel);
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static void watchdog_start(watchdog *w)
{
    memset(w, 0, sizeof *w);
    w->cancel = g_cancellable_new();
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->started = pthread_create(&w->th, NULL, watchdog_run, w) == 0;
}

static void watchdog_stop(watchdog *w)
{
    pthread_mutex_lock(&w->mu);
    w->done = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    if (w->started)
        pthread_join(w->th, NULL);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    g_object_unref(w->cancel);
}

int shelf__keyring_available(void)
{
    const char *addr = getenv("DBUS_SESSION_BUS_ADDRESS"), *rt = getenv("XDG_RUNTIME_DIR");
    GDBusConnection *bus;
    GVariant *r;
    GError *ge = NULL;
    gboolean owned = FALSE;
    char *sock;
    struct stat st;

    /* Without an address GLib would try to autolaunch a bus (X11): only a
     * bus that is already there counts. */
    if (!addr || !*addr) {
        if (!rt || !*rt || !(sock = shelf__path_join(rt, "bus")))
            return 0;
        owned = stat(sock, &st) == 0 && S_ISSOCK(st.st_mode);
        free(sock);
        if (!owned)
            return 0;
    }
    if (!(bus = g_bus_get_sync(G_BUS_TYPE_SESSION, NULL, &ge))) {
        g_clear_error(&ge);
        return 0;
    }
    /* Only a running Secret Service: starting one by D-Bus activation
     * could ask for a password on a screen nobody watches. */
    r = g_dbus_connection_call_sync(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                    "org.freedesktop.DBus", "NameHasOwner",
                                    g_variant_new("(s)", "org.freedesktop.secrets"),
                                    G_VARIANT_TYPE("(b)"), G_DBUS_CALL_FLAGS_NONE, 1000, NULL,
                                    &ge);
    owned = FALSE;
    if (r) {
        g_variant_get(r, "(b)", &owned);
        g_variant_unref(r);
    }
    g_clear_error(&ge);
    g_object_unref(bus);
    return owned ? 1 : 0;
}

/* Attributes of a lookup or store: remote=name and/or host=host. */
static GHashTable *keyring_attrs(const char *name, const char *host)
{
    GHashTable *a = g_hash_table_new(g_str_hash, g_str_equal);

    if (name)
        g_hash_table_insert(a, (gpointer) "remote", (gpointer)name);
    if (host)
        g_hash_table_insert(a, (gpointer) "host", (gpointer)host);
    return a;
}

/* The error of a keyring call: ge, or the watchdog's cancel (libsecret
 * does not always say so). */
static int keyring_error(GError *ge, int cancelled, shelf__err *err, const char *what)
{
    int timeout = cancelled || (ge && g_error_matches(ge, G_IO_ERROR, G_IO_ERROR_CANCELLED));
    /* SHELF_EIO either way: the program's status for SHELF_EBUSY says "the
     * library is busy" */
    int rc = shelf__seterr(err, SHELF_EIO, "cannot %s in the keyring: %s",
                           what, timeout ? "no answer (is it locked?)"
                                         : ge ? ge->message : "unknown error");

    g_clear_error(&ge);
    return rc;
}

int shelf__keyring_lookup(const char *name, const char *host, shelf__creds *out, shelf__err *err)
{
    GHashTable *attrs = keyring_attrs(name, host);
    GError *ge = NULL;
    watchdog w;
    gchar *pw;
    int rc, cancelled;

    memset(out, 0, sizeof *out);
    watchdog_start(&w);
    pw = secret_password_lookupv_sync(schema(), attrs, w.cancel, &ge);
    cancelled = g_cancellable_is_cancelled(w.cancel);
    watchdog_stop(&w);
    g_hash_table_unref(attrs);
    if (ge || cancelled) {
        secret_password_free(pw);
        return keyring_error(ge, cancelled, err, "look up the secret");
    }
    if (!pw)
        return shelf__seterr(err, SHELF_ENOTFOUND, "no secret for '%s' in the keyring",
                             name ? name : host);
    rc = record_parse(pw, strlen(pw), out);
    secret_password_free(pw);
    if (rc != SHELF_OK)
        return shelf__seterr(err, rc, "the keyring's secret for '%s' is not in a format shelf reads",
                             name ? name : host);
    return SHELF_OK;
}

int shelf__keyring_store(const char *name, const char *host, const shelf__creds *c,
                         shelf__err *err)
{
    shelf__buf rec = SHELF__BUF_INIT;
    GHashTable *attrs;
    GError *ge = NULL;
    watchdog w;
    char *label;
    gboolean stored;
    int cancelled;

    if (record_add(&rec, c) != SHELF_OK || !rec.buf ||
        !(label = shelf__asprintf("shelf remote %s", name))) {
        wipe_buf(&rec);
        return shelf__seterr(err, SHELF_ENOMEM, "out of memory");
    }
    attrs = keyring_attrs(name, host);
    watchdog_start(&w);
    stored = secret_password_storev_sync(schema(), attrs, SECRET_COLLECTION_DEFAULT, label,
                                         rec.buf, w.cancel, &ge);
    cancelled = g_cancellable_is_cancelled(w.cancel);
    watchdog_stop(&w);
    g_hash_table_unref(attrs);
    free(label);
    wipe_buf(&rec);
    if (ge || cancelled || !stored)
        return keyring_error(ge, cancelled, err, "store the secret");
    return SHELF_OK;
}

int shelf__keyring_clear(const char *name, shelf__err *err)
{
    GHashTable *attrs = keyring_attrs(name, NULL);
    GError *ge = NULL;
    watchdog w;
    gboolean gone;
    int cancelled;

    watchdog_start(&w);
    gone = secret_password_clearv_sync(schema(), attrs, w.cancel, &ge);
    cancelled = g_cancellable_is_cancelled(w.cancel);
    watchdog_stop(&w);
    g_hash_table_unref(attrs);
    if (ge || cancelled)
        return keyring_error(ge, cancelled, err, "remove the secret");
    return gone ? SHELF_OK : shelf__seterr(err, SHELF_ENOTFOUND, "no secret for '%s' in the keyring",
                                           name);
}

/* ---- passphrases ---- */

static shelf__prompt_fn prompt_fn;
static void *prompt_ud;

void shelf__creds_set_prompt(shelf__prompt_fn fn, void *ud)
{
    prompt_fn = fn;
    prompt_ud = ud;
}

char *shelf__creds_ask(const char *prompt, int echo)
{
    return prompt_fn ? prompt_fn(prompt_ud, prompt, echo) : NULL;
}

void shelf__secret_free(char *s)
{
    wipe_str(s);
}

static void passphrase_keep(const char *p)
{
    char *copy = shelf__strdup(p);

    pthread_mutex_lock(&env_lock);
    wipe_str(pass_kept);
    pass_kept = copy;
    pthread_mutex_unlock(&env_lock);
}

/* The credential file's passphrase: SHELF_CREDENTIALS_PASSWORD, else the
 * one kept, else asked (twice for a new file).  Owned; wipe with
 * shelf__secret_free. */
static char *passphrase(int is_new, shelf__err *err)
{
    char *p = shelf__creds_env(SHELF__ENV_CRED_PASSWORD), *again;

    if (p)
        return p;
    pthread_mutex_lock(&env_lock);
    p = pass_kept ? shelf__strdup(pass_kept) : NULL;
    pthread_mutex_unlock(&env_lock);
    if (p)
        return p;
    p = shelf__creds_ask(is_new ? "new passphrase for shelf's credential file: "
                                : "passphrase of shelf's credential file: ", 0);
    if (!p) {
        shelf__seterr(err, SHELF_EAUTH, "the credential file needs a passphrase: set "
                                        "SHELF_CREDENTIALS_PASSWORD or run on a terminal");
        return NULL;
    }
    if (!*p) {
        wipe_str(p);
        shelf__seterr(err, SHELF_EAUTH, "an empty passphrase is not allowed");
        return NULL;
    }
    if (is_new) {
        again = shelf__creds_ask("again: ", 0);
        if (!again || strcmp(again, p) != 0) {
            wipe_str(p);
            p = NULL;
            shelf__seterr(err, SHELF_EAUTH, "the passphrases differ");
        }
        wipe_str(again);
    }
    return p;
}

/* ---- shelf's own credential file (doc/formats.md, "Credential file") ---- */

#define CRED_MAGIC "SHELFCRD"
#define CRED_VERSION 1
#define CRED_KDF_SCRYPT 1
#define CRED_CIPHER_AES256GCM 1
#define CRED_SALT_BYTES 32
#define CRED_HEADER_BYTES (8 + 4 + CRED_SALT_BYTES)
#define CRED_LOG2N 15
#define CRED_MAX_BYTES (1u << 20)
#define CRED_PLAIN_HEAD "shelf-credentials 1\n"

char *shelf__config_file(const char *leaf)
{
    const char *x = getenv("XDG_CONFIG_HOME"), *h = getenv("HOME");

    if (x && *x == '/')
        return shelf__asprintf("%s/shelf/%s", x, leaf);
    if (h && *h)
        return shelf__asprintf("%s/.config/shelf/%s", h, leaf);
    return NULL;
}

/* Read the whole file path (at most max bytes) into b.  SHELF_ENOTFOUND
 * when absent; with private set, SHELF_EPERM when the group or others may
 * read or write it, or another user owns it. */
int shelf__read_small_file(const char *path, size_t max, int private_only, shelf__buf *b,
                           shelf__err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), rc = SHELF_OK;
    struct stat st;

    shelf__buf_reset(b);
    if (fd < 0)
        return errno == ENOENT ? shelf__seterr(err, SHELF_ENOTFOUND, "no file '%s'", path)
                               : shelf__seterr_errno(err, errno, "cannot open '%s'", path);
    if (fstat(fd, &st) != 0) {
        rc = shelf__seterr_errno(err, errno, "cannot read '%s'", path);
        goto out;
    }
    if (private_only && ((st.st_mode & 077) || st.st_uid != geteuid())) {
        rc = shelf__seterr(err, SHELF_EPERM,
                           "refusing '%s': other users can read it (mode %03o; chmod 600 it)",
                           path, (unsigned)(st.st_mode & 0777));
        goto out;
    }
    if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
        rc = shelf__seterr(err, SHELF_EFORMAT, "'%s' is not a small regular file", path);
        goto out;
    }
    for (;;) {
        ssize_t r;

        if (shelf__buf_grow(b, 4096) != SHELF_OK) {
            rc = shelf__seterr(err, SHELF_ENOMEM, "out of memory");
            goto out;
        }
        r = read(fd, b->buf + b->len, b->cap - b->len - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = shelf__seterr_errno(err, errno, "cannot read '%s'", path);
            goto out;
        }
        if (r == 0)
            break;
        b->len += (size_t)r;
        b->buf[b->len] = '\0';
        if (b->len > max) {
            rc = shelf__seterr(err, SHELF_EFORMAT, "'%s' is too large", path);
            goto out;
        }
    }
out:
    close(fd);
    return rc;
}

/* Decrypt the credential file's data[0..n) with pass into plain. */
static int cred_open(const uint8_t *data, size_t n, const char *pass, const char *path,
                     shelf__buf *plain, shelf__err *err)
{
    uint8_t key[SHELF__KEY_BYTES];
    int rc;

    if (n < CRED_HEADER_BYTES + SHELF__SEAL_OVERHEAD || memcmp(data, CRED_MAGIC, 8) != 0)
        return shelf__seterr(err, SHELF_EFORMAT, "'%s' is not a shelf credential file", path);
    if (data[8] != CRED_VERSION || data[9] != CRED_KDF_SCRYPT || data[11] != CRED_CIPHER_AES256GCM)
        return shelf__seterr(err, SHELF_EVERSION,
                             "'%s' was written by a newer shelf (version %u)", path, data[8]);
    if (data[10] < 10 || data[10] > 22)
        return shelf__seterr(err, SHELF_EFORMAT, "'%s': invalid scrypt cost", path);
    if ((rc = shelf__scrypt(pass, data + 12, CRED_SALT_BYTES, data[10], key)) != SHELF_OK)
        return shelf__seterr(err, rc, "cannot derive a key from the passphrase");
    rc = shelf__aead_open(key, data + CRED_HEADER_BYTES, n - CRED_HEADER_BYTES, plain);
    OPENSSL_cleanse(key, sizeof key);
    if (rc == SHELF_ECORRUPT)
        return shelf__seterr(err, SHELF_EAUTH,
                             "cannot open '%s': wrong passphrase (or the file was changed)", path);
    if (rc != SHELF_OK)
        return shelf__seterr(err, rc, "cannot decrypt '%s'", path);
    if (plain->len < strlen(CRED_PLAIN_HEAD) ||
        memcmp(plain->buf, CRED_PLAIN_HEAD, strlen(CRED_PLAIN_HEAD)) != 0)
        return shelf__seterr(err, SHELF_EFORMAT, "'%s' holds no credentials shelf reads", path);
    return SHELF_OK;
}

/* Encrypt plain with pass (a new salt) and replace the file path. */
static int cred_save(const char *path, const char *pass, const shelf__buf *plain, shelf__err *err)
{
    uint8_t key[SHELF__KEY_BYTES], head[CRED_HEADER_BYTES];
    shelf__buf out = SHELF__BUF_INIT;
    char *dir = shelf__strdup(path), *slash;
    int rc, e;

    if (!dir)
        return shelf__seterr(err, SHELF_ENOMEM, "out of memory");
    if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
        *slash = '\0';
        if ((e = shelf__mkdirs(dir, 0700)) != 0) {
            rc = shelf__seterr_errno(err, e, "cannot create '%s'", dir);
            free(dir);
            return rc;
        }
    }
    free(dir);
    memcpy(head, CRED_MAGIC, 8);
    head[8] = CRED_VERSION;
    head[9] = CRED_KDF_SCRYPT;
    head[10] = CRED_LOG2N;
    head[11] = CRED_CIPHER_AES256GCM;
    if (shelf__random(head + 12, CRED_SALT_BYTES) != SHELF_OK)
        return shelf__seterr(err, SHELF_EIO, "cannot get random bytes");
    if ((rc = shelf__scrypt(pass, head + 12, CRED_SALT_BYTES, CRED_LOG2N, key)) != SHELF_OK)
        return shelf__seterr(err, rc, "cannot derive a key from the passphrase");
    if (shelf__buf_add(&out, head, sizeof head) != SHELF_OK ||
        shelf__aead_seal(key, plain->buf, plain->len, &out) != SHELF_OK) {
        rc = shelf__seterr(err, SHELF_ENOMEM, "cannot encrypt the credentials");
        goto out;
    }
    rc = shelf__write_file_atomic(err, path, out.buf, out.len, 0600);
    if (rc == SHELF_OK && chmod(path, 0600) != 0)
        rc = shelf__seterr_errno(err, errno, "cannot chmod '%s'", path);
out:
    OPENSSL_cleanse(key, sizeof key);
    shelf__buf_release(&out);
    return rc;
}

/* The record of section name in plain (the decrypted file): its bounds. */
static int cred_section(const shelf__buf *plain, const char *name, size_t *start, size_t *end)
{
    size_t pos = strlen(CRED_PLAIN_HEAD), nl = strlen(name);

    while (pos < plain->len) {
        const char *l = plain->buf + pos, *e = memchr(l, '\n', plain->len - pos);
        size_t len = e ? (size_t)(e - l) : plain->len - pos;

        if (len == nl + 2 && l[0] == '[' && l[len - 1] == ']' && !memcmp(l + 1, name, nl)) {
            size_t q = pos + len + 1;

            *start = pos;
            while (q < plain->len && plain->buf[q] != '[') {
                const char *e2 = memchr(plain->buf + q, '\n', plain->len - q);

                q = e2 ? (size_t)(e2 - plain->buf) + 1 : plain->len;
            }
            *end = q;
            return 1;
        }
        pos += len + 1;
    }
    return 0;
}

int shelf__credfile_get(const char *path, const char *name, shelf__creds *out, shelf__err *err)
{
    shelf__buf raw = SHELF__BUF_INIT, plain = SHELF__BUF_INIT;
    char *pass = NULL;
    size_t a, b;
    int rc;

    memset(out, 0, sizeof *out);
    if ((rc = shelf__read_small_file(path, CRED_MAX_BYTES, 1, &raw, err)) != SHELF_OK)
        goto out;
    if (!(pass = passphrase(0, err))) {
        rc = err->rc;
        goto out;
    }
    if ((rc = cred_open((uint8_t *)raw.buf, raw.len, pass, path, &plain, err)) != SHELF_OK)
        goto out;
    passphrase_keep(pass);
    if (!cred_section(&plain, name, &a, &b)) {
        rc = shelf__seterr(err, SHELF_ENOTFOUND, "no secret for '%s' in '%s'", name, path);
        goto out;
    }
    a += strlen(name) + 3;
    if ((rc = record_parse(plain.buf + a, b - a, out)) != SHELF_OK)
        shelf__seterr(err, rc, "the secret for '%s' in '%s' is not in a format shelf reads",
                      name, path);
out:
    wipe_str(pass);
    wipe_buf(&plain);
    shelf__buf_release(&raw);
    return rc;
}

int shelf__credfile_put(const char *path, const char *name, const shelf__creds *c,
                        shelf__err *err)
{
    shelf__buf raw = SHELF__BUF_INIT, plain = SHELF__BUF_INIT, next = SHELF__BUF_INIT;
    char *pass = NULL;
    size_t a = 0, b = 0;
    int rc, exists, found = 0;

    rc = shelf__read_small_file(path, CRED_MAX_BYTES, 1, &raw, err);
    if (rc != SHELF_OK && rc != SHELF_ENOTFOUND)
        goto out;
    exists = rc == SHELF_OK;
    if (!exists && !c) {
        rc = shelf__seterr(err, SHELF_ENOTFOUND, "no secret for '%s': there is no '%s'", name,
                           path);
        goto out;
    }
    if (!(pass = passphrase(!exists, err))) {
        rc = err->rc;
        goto out;
    }
    if (exists) {
        if ((rc = cred_open((uint8_t *)raw.buf, raw.len, pass, path, &plain, err)) != SHELF_OK)
            goto out;
        found = cred_section(&plain, name, &a, &b);
    } else if (shelf__buf_adds(&plain, CRED_PLAIN_HEAD) != SHELF_OK) {
        goto nomem;
    }
    if (!found && !c) {
        rc = shelf__seterr(err, SHELF_ENOTFOUND, "no secret for '%s' in '%s'", name, path);
        goto out;
    }
    if (!found)
        a = b = plain.len;
    if (shelf__buf_grow(&next, plain.len + 256) != SHELF_OK ||
        shelf__buf_add(&next, plain.buf, a) != SHELF_OK ||
        (c && (shelf__buf_addf(&next, "[%s]\n", name) != SHELF_OK ||
               record_add(&next, c) != SHELF_OK)) ||
        shelf__buf_add(&next, plain.buf + b, plain.len - b) != SHELF_OK)
        goto nomem;
    if ((rc = cred_save(path, pass, &next, err)) == SHELF_OK)
        passphrase_keep(pass);
    goto out;
nomem:
    rc = shelf__seterr(err, SHELF_ENOMEM, "out of memory");
out:
    wipe_str(pass);
    wipe_buf(&plain);
    wipe_buf(&next);
    shelf__buf_release(&raw);
    return rc;
}

/* ---- finding the credentials of a target ---- */

static char *home_file(const char *rel)
{
    const char *h = getenv("HOME");

    return h && *h ? shelf__asprintf("%s/%s", h, rel) : NULL;
}

/* Read one AWS file (absent: nothing) for profile into c. */
static int aws_file(int which_env, const char *dflt, int config, const char *profile,
                    shelf__creds *c, int *found, shelf__err *err)
{
    char *path = shelf__creds_env(which_env);
    shelf__buf text = SHELF__BUF_INIT;
    shelf__err e2;
    int rc;

    memset(c, 0, sizeof *c);
    if (!path && !(path = home_file(dflt)))
        return SHELF_OK;
    rc = shelf__read_small_file(path, CRED_MAX_BYTES, 0, &text, &e2);
    if (rc == SHELF_ENOTFOUND) {
        rc = SHELF_OK;
    } else if (rc == SHELF_OK) {
        rc = shelf__awsini_find(text.buf ? text.buf : "", text.len, config, profile, c, &e2);
        if (rc == SHELF_OK)
            *found = 1;
        else if (rc == SHELF_ENOTFOUND)
            rc = SHELF_OK;
        else
            shelf__seterr(err, rc, "cannot read '%s': %s", path, e2.msg);
    } else {
        shelf__seterr(err, rc, "%s", e2.msg);
    }
    wipe_buf(&text);
    free(path);
    return rc;
}

/* Move every field b has and a lacks from b to a (a's win). */
static void creds_merge(shelf__creds *a, shelf__creds *b)
{
    int i;

    for (i = 0; i < NFIELDS; i++) {
        char **x = field_at(a, i), **y = field_at(b, i);

        if (!*x && *y) {
            *x = *y;
            *y = NULL;
        }
    }
}

/* The AWS profile: c gets what ~/.aws/credentials and ~/.aws/config say
 * for AWS_PROFILE (or "default"); *explicit is set when AWS_PROFILE is. */
static int aws_profile(shelf__creds *c, int *explicit_profile, shelf__err *err)
{
    char *profile = shelf__creds_env(SHELF__ENV_AWS_PROFILE);
    shelf__creds fromcfg;
    int rc, found = 0;

    *explicit_profile = profile != NULL;
    rc = aws_file(SHELF__ENV_AWS_CREDENTIALS_FILE, ".aws/credentials", 0,
                  profile ? profile : "default", c, &found, err);
    if (rc == SHELF_OK)
        rc = aws_file(SHELF__ENV_AWS_CONFIG_FILE, ".aws/config", 1, profile ? profile : "default",
                      &fromcfg, &found, err);
    if (rc == SHELF_OK) {
        creds_merge(c, &fromcfg);
        shelf__creds_clear(&fromcfg);
        if (!found && profile)
            rc = shelf__seterr(err, SHELF_ENOTFOUND,
                               "the AWS profile '%s' is in neither ~/.aws/credentials nor "
                               "~/.aws/config", profile);
    }
    if (rc != SHELF_OK)
        shelf__creds_clear(c);
    free(profile);
    return rc;
}

/* Take every field of src into dst (dst's own are dropped). */
static void creds_take(shelf__creds *dst, shelf__creds *src)
{
    shelf__creds_clear(dst);
    *dst = *src;
    memset(src, 0, sizeof *src);
}

static int stored(const shelf__target *t, const char *name, shelf__creds *out, shelf__err *err)
{
    shelf__err e2;
    char *path;
    int rc = SHELF_ENOTFOUND;

    if (shelf__keyring_available()) {
        rc = shelf__keyring_lookup(name, name ? NULL : t->host, out, &e2);
        if (rc == SHELF_OK)
            return SHELF_OK;
        if (rc != SHELF_ENOTFOUND)
            return shelf__seterr(err, rc, "%s", e2.msg);
    }
    if (!name || !(path = shelf__config_file("credentials")))
        return SHELF_ENOTFOUND;
    rc = shelf__credfile_get(path, name, out, &e2);
    free(path);
    if (rc != SHELF_OK && rc != SHELF_ENOTFOUND)
        return shelf__seterr(err, rc, "%s", e2.msg);
    return rc;
}

int shelf__creds_find(const shelf__target *t, const char *name, shelf__creds *out,
                      shelf__err *err)
{
    shelf__creds prof = { 0 }, got = { 0 };
    int rc = SHELF_OK, explicit_profile = 0, have = 0;

    memset(out, 0, sizeof *out);
    if (t->kind != SHELF__TGT_S3 && t->kind != SHELF__TGT_WEBDAV)
        return SHELF_OK;        /* folders and rclone need none of shelf's */
    if (t->kind == SHELF__TGT_S3) {
        got.access_key = shelf__creds_env(SHELF__ENV_AWS_ACCESS_KEY_ID);
        got.secret_key = shelf__creds_env(SHELF__ENV_AWS_SECRET_ACCESS_KEY);
        if (got.access_key && got.secret_key) {
            got.session_token = shelf__creds_env(SHELF__ENV_AWS_SESSION_TOKEN);
            have = 1;
        } else {
            shelf__creds_clear(&got);
        }
        if ((rc = aws_profile(&prof, &explicit_profile, err)) != SHELF_OK)
            goto out;
        if (!have && explicit_profile && prof.access_key && prof.secret_key) {
            wipe_str(got.region);
            creds_take(&got, &prof);
            have = 1;
        }
    } else {
        got.user = shelf__creds_env(SHELF__ENV_WEBDAV_USER);
        got.password = shelf__creds_env(SHELF__ENV_WEBDAV_PASSWORD);
        if (got.password)
            have = 1;
        else
            shelf__creds_clear(&got);
    }
    if (!have) {
        rc = stored(t, name, &got, err);
        if (rc == SHELF_OK)
            have = 1;
        else if (rc != SHELF_ENOTFOUND)
            goto out;
        rc = SHELF_OK;
    }
    /* The implicit default profile comes after what was stored for a
     * named remote (a MinIO remote is not the AWS account of [default]). */
    if (!have && t->kind == SHELF__TGT_S3 && prof.access_key && prof.secret_key) {
        creds_take(&got, &prof);
        have = 1;
    }
    if (!have) {
        rc = shelf__seterr(err, SHELF_ENOTFOUND, t->kind == SHELF__TGT_S3
                           ? "no credentials for '%s': set AWS_ACCESS_KEY_ID and "
                             "AWS_SECRET_ACCESS_KEY or AWS_PROFILE, or store them with "
                             "'shelf remote add'"
                           : "no credentials for '%s': set SHELF_WEBDAV_USER and "
                             "SHELF_WEBDAV_PASSWORD, or store them with 'shelf remote add'",
                           t->display ? t->display : "?");
        goto out;
    }
    if (t->kind == SHELF__TGT_S3) {
        /* AWS_REGION, AWS_DEFAULT_REGION, what was stored, the profile's */
        char *r = shelf__creds_env(SHELF__ENV_AWS_REGION);

        if (!r)
            r = shelf__creds_env(SHELF__ENV_AWS_DEFAULT_REGION);
        if (!r && !got.region && prof.region) {
            r = prof.region;
            prof.region = NULL;
        }
        if (r) {
            wipe_str(got.region);
            got.region = r;
        }
    }
    creds_take(out, &got);
out:
    shelf__creds_clear(&got);
    shelf__creds_clear(&prof);
    return rc;
}
