/*
 * remotes.c: named remotes (include/shelf/remote.h): the remotes file
 * $XDG_CONFIG_HOME/shelf/remotes.json (doc/formats.md, "Remotes file"),
 * resolving a NAME where a target goes (shelf__remote_resolve), storing a
 * remote's secret in the keyring or the credential file (creds.c), the
 * texts of "Terms and privacy" (every one of them is in this file), and
 * the round trip of `shelf remote test`.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>
#include "creds_int.h"

#define REMOTES_VERSION 1
#define REMOTES_MAX_BYTES (4u << 20)
#define NAME_MAX_BYTES 64

static const char *const store_names[] = { "auto", "keyring", "file", "none" };

static int set_msg(char **msg, const shelf__err *e)
{
    if (msg)
        *msg = shelf__strdup(e->msg);
    return e->rc;
}

int shelf__remote_name_ok(const char *s)
{
    size_t i, n = strlen(s);

    if (n == 0 || n > NAME_MAX_BYTES || s[0] == '.' || s[0] == '-')
        return 0;
    for (i = 0; i < n; i++) {
        char c = s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return 0;
    }
    return 1;
}

static const char *kind_name(int kind)
{
    switch (kind) {
    case SHELF__TGT_S3: return "s3";
    case SHELF__TGT_WEBDAV: return "webdav";
    case SHELF__TGT_RCLONE: return "rclone";
    default: return "dir";
    }
}

/* ---- the remotes file ---- */

static char *remotes_path(shelf__err *err)
{
    char *p = shelf__config_file("remotes.json");

    if (!p)
        shelf__seterr(err, SHELF_EINVAL, "no configuration folder: set XDG_CONFIG_HOME or HOME");
    return p;
}

/* Load the remotes file: *root (a new empty one when absent). */
static int remotes_load(const char *path, json_t **root, shelf__err *err)
{
    shelf__buf b = SHELF__BUF_INIT;
    json_error_t je;
    json_t *o, *v;
    int rc, nomem = 0;

    *root = NULL;
    rc = shelf__read_small_file(path, REMOTES_MAX_BYTES, 0, &b, err);
    if (rc == SHELF_ENOTFOUND) {
        if (!(*root = json_pack("{s:i, s:{}}", "version", REMOTES_VERSION, "remotes")))
            return shelf__seterr(err, SHELF_ENOMEM, "out of memory");
        return SHELF_OK;
    }
    if (rc != SHELF_OK)
        return rc;
    o = shelf__json_loadb(b.buf ? b.buf : "", b.len, 0, &je, &nomem);
    shelf__buf_release(&b);
    if (!o)
        return nomem ? shelf__seterr(err, SHELF_ENOMEM, "out of memory")
                     : shelf__seterr(err, SHELF_EFORMAT, "cannot read '%s': line %d: %s", path,
                                     je.line, je.text);
    v = json_object_get(o, "version");
    if (!json_is_integer(v) || !json_is_object(json_object_get(o, "remotes"))) {
        json_decref(o);
        return shelf__seterr(err, SHELF_EFORMAT, "cannot read '%s': not a remotes file", path);
    }
    if (json_integer_value(v) > REMOTES_VERSION) {
        json_decref(o);
        return shelf__seterr(err, SHELF_EVERSION, "'%s' was written by a newer shelf (version %lld)",
                             path, (long long)json_integer_value(v));
    }
    *root = o;
    return SHELF_OK;
}

static int remotes_save(const char *path, json_t *root, shelf__err *err)
{
    char *text, *dir, *slash;
    int rc, e;

    if (!(dir = shelf__strdup(path)))
        return shelf__seterr(err, SHELF_ENOMEM, "out of memory");
    if ((slash = strrchr(dir, '/')) && slash != dir) {
        *slash = '\0';
        if ((e = shelf__mkdirs(dir, 0700)) != 0) {
            rc = shelf__seterr_errno(err, e, "cannot create '%s'", dir);
            free(dir);
            return rc;
        }
    }
    free(dir);
    if (!(text = shelf__json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS)))
        return shelf__seterr(err, SHELF_ENOMEM, "out of memory");
    rc = shelf__write_file_atomic(err, path, text, strlen(text), 0600);
    free(text);
    return rc;
}

static char *jstr(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);

    return json_is_string(v) ? shelf__strdup(json_string_value(v)) : NULL;
}

static int store_of(json_t *o)
{
    const char *s = json_string_value(json_object_get(o, "secret"));
    int i;

    for (i = 1; s && i < 4; i++)
        if (!strcmp(s, store_names[i]))
            return i;
    return SHELF_SECRET_NONE;
}

void shelf__remote_release(shelf__remote *r)
{
    if (!r)
        return;
    free(r->name);
    free(r->url);
    free(r->ca_file);
    free(r->region);
    memset(r, 0, sizeof *r);
}

static int remote_from(const char *name, json_t *o, shelf__remote *out)
{
    json_t *b = json_object_get(o, "budget");

    out->name = shelf__strdup(name);
    out->url = jstr(o, "url");
    out->ca_file = jstr(o, "ca_file");
    out->region = jstr(o, "region");
    out->budget = json_is_integer(b) && json_integer_value(b) > 0 ? (uint64_t)json_integer_value(b) : 0;
    out->store = store_of(o);
    if (!out->name || !out->url || (json_object_get(o, "ca_file") && !out->ca_file) ||
        (json_object_get(o, "region") && !out->region)) {
        shelf__remote_release(out);
        return SHELF_ENOMEM;
    }
    return SHELF_OK;
}

int shelf__remote_resolve(const char *name_or_url, shelf__remote *out, shelf__err *err)
{
    const char *name = name_or_url;
    int must = 0, rc;
    json_t *root = NULL, *o;
    char *path = NULL;

    memset(out, 0, sizeof *out);
    if (!name_or_url || !*name_or_url)
        return shelf__seterr(err, SHELF_EINVAL, "no target given");
    if (!strncmp(name, "remote:", 7)) {
        name += 7;
        must = 1;
    }
    if (shelf__remote_name_ok(name)) {
        if (!(path = remotes_path(err))) {
            if (must)
                return err->rc;
        } else if ((rc = remotes_load(path, &root, err)) != SHELF_OK) {
            free(path);
            return rc;
        }
        o = root ? json_object_get(json_object_get(root, "remotes"), name) : NULL;
        if (o) {
            rc = remote_from(name, o, out);
            json_decref(root);
            free(path);
            return rc == SHELF_OK ? SHELF_OK : shelf__seterr(err, rc, "out of memory");
        }
        json_decref(root);
        free(path);
    }
    if (must)
        return shelf__seterr(err, SHELF_ENOTFOUND, "no remote named '%s' (see 'shelf remote ls')",
                             name);
    if (!(out->url = shelf__strdup(name_or_url)))
        return shelf__seterr(err, SHELF_ENOMEM, "out of memory");
    return SHELF_OK;
}

/* ---- public: take the environment, prompt ---- */

void shelf_remote_take_env(void)
{
    shelf__creds_scrub_env();
}

void shelf_remote_set_prompt(char *(*fn)(void *ud, const char *prompt, int echo), void *ud)
{
    shelf__creds_set_prompt(fn, ud);
}

/* ---- add, list, rm ---- */

/* A secret from variable which, else asked; NULL when neither. */
static char *secret_from(int which, const char *prompt, int echo)
{
    char *v = shelf__creds_env(which);

    return v ? v : shelf__creds_ask(prompt, echo);
}

static int gather(int kind, const char *name, shelf__creds *c, shelf__err *err)
{
    char prompt[160];

    memset(c, 0, sizeof *c);
    if (kind == SHELF__TGT_S3) {
        snprintf(prompt, sizeof prompt, "access key id for '%s': ", name);
        c->access_key = secret_from(SHELF__ENV_AWS_ACCESS_KEY_ID, prompt, 1);
        snprintf(prompt, sizeof prompt, "secret access key for '%s': ", name);
        if (c->access_key)
            c->secret_key = secret_from(SHELF__ENV_AWS_SECRET_ACCESS_KEY, prompt, 0);
        if (c->secret_key)
            c->session_token = shelf__creds_env(SHELF__ENV_AWS_SESSION_TOKEN);
        if (!c->access_key || !c->secret_key || !*c->access_key || !*c->secret_key) {
            shelf__creds_clear(c);
            return shelf__seterr(err, SHELF_EAUTH, "'%s' needs a key: set AWS_ACCESS_KEY_ID and "
                                 "AWS_SECRET_ACCESS_KEY or run on a terminal", name);
        }
    } else {
        snprintf(prompt, sizeof prompt, "user for '%s': ", name);
        c->user = secret_from(SHELF__ENV_WEBDAV_USER, prompt, 1);
        snprintf(prompt, sizeof prompt, "password for '%s': ", name);
        if (c->user)
            c->password = secret_from(SHELF__ENV_WEBDAV_PASSWORD, prompt, 0);
        if (!c->user || !c->password || !*c->password) {
            shelf__creds_clear(c);
            return shelf__seterr(err, SHELF_EAUTH, "'%s' needs a user and password: set "
                                 "SHELF_WEBDAV_USER and SHELF_WEBDAV_PASSWORD or run on a "
                                 "terminal", name);
        }
    }
    return SHELF_OK;
}

static int secret_put(int store, const char *name, const char *host, const shelf__creds *c,
                      shelf__err *err)
{
    char *path;
    int rc;

    if (store == SHELF_SECRET_KEYRING)
        return c ? shelf__keyring_store(name, host, c, err) : shelf__keyring_clear(name, err);
    if (!(path = shelf__config_file("credentials")))
        return shelf__seterr(err, SHELF_EINVAL, "no configuration folder: set XDG_CONFIG_HOME or HOME");
    rc = shelf__credfile_put(path, name, c, err);
    free(path);
    return rc;
}

int shelf_remote_add(const char *name, const char *url, const shelf_remote_opts *opts,
                     char **msg)
{
    shelf_remote_opts o;
    shelf__err err = { 0, "" };
    shelf__creds c = { 0 };
    shelf__target t;
    json_t *root = NULL, *remotes, *r = NULL;
    char *path = NULL, *host = NULL, *abs = NULL;
    int rc, kind, store, stored = 0, network;

    memset(&t, 0, sizeof t);
    if (msg)
        *msg = NULL;
    if (shelf__opts_check(&err, &o, sizeof o, opts, sizeof o, "shelf_remote_opts") != SHELF_OK)
        return set_msg(msg, &err);
    if (!name || !shelf__remote_name_ok(name)) {
        shelf__seterr(&err, SHELF_EINVAL, "invalid remote name '%s': letters, digits, '-', '_' "
                      "and '.', at most 64, not first '.' or '-'", name ? name : "");
        return set_msg(msg, &err);
    }
    if (!url || (rc = shelf__target_parse(url, &t, &err)) != SHELF_OK) {
        shelf__err e2 = err;

        shelf__seterr(&err, url ? rc : SHELF_EINVAL, "cannot add '%s': %s", name,
                      url ? e2.msg : "no URL");
        return set_msg(msg, &err);
    }
    kind = t.kind;
    network = kind == SHELF__TGT_S3 || kind == SHELF__TGT_WEBDAV;
    if ((network && !(host = shelf__strdup(t.host ? t.host : ""))) ||
        (kind == SHELF__TGT_DIR && !(abs = shelf__path_abs(t.path)))) {
        rc = shelf__seterr(&err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    if (o.store < 0 || o.store > SHELF_SECRET_FILE) {
        rc = shelf__seterr(&err, SHELF_EINVAL, "invalid secret store %d", o.store);
        goto out;
    }
    store = network ? o.store : SHELF_SECRET_NONE;
    if (!(path = remotes_path(&err))) {
        rc = err.rc;
        goto out;
    }
    if ((rc = remotes_load(path, &root, &err)) != SHELF_OK)
        goto out;
    remotes = json_object_get(root, "remotes");
    if (json_object_get(remotes, name)) {
        rc = shelf__seterr(&err, SHELF_EEXIST, "a remote named '%s' exists (remove it first)",
                           name);
        goto out;
    }
    if (store == SHELF_SECRET_AUTO)
        store = shelf__keyring_available() ? SHELF_SECRET_KEYRING : SHELF_SECRET_FILE;
    else if (store == SHELF_SECRET_KEYRING && !shelf__keyring_available()) {
        rc = shelf__seterr(&err, SHELF_EINVAL, "no Secret Service runs on the session bus: "
                           "use --store-secret file");
        goto out;
    }
    r = json_pack("{s:s, s:s, s:s}", "url", abs ? "" : url, "kind", kind_name(kind), "secret",
                  store_names[store]);
    if (!r || (abs && json_object_set_new(r, "url", json_sprintf("dir:%s", abs)) != 0) ||
        (o.ca_file && json_object_set_new(r, "ca_file", json_string(o.ca_file)) != 0) ||
        (o.region && json_object_set_new(r, "region", json_string(o.region)) != 0) ||
        (o.budget && json_object_set_new(r, "budget", json_integer((json_int_t)o.budget)) != 0) ||
        json_object_set_new(r, "added", json_integer((json_int_t)shelf__now())) != 0) {
        rc = shelf__seterr(&err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    if (store != SHELF_SECRET_NONE) {
        if ((rc = gather(kind, name, &c, &err)) != SHELF_OK)
            goto out;
        if (o.region && !c.region && !(c.region = shelf__strdup(o.region))) {
            rc = shelf__seterr(&err, SHELF_ENOMEM, "out of memory");
            goto out;
        }
        if ((rc = secret_put(store, name, host, &c, &err)) != SHELF_OK)
            goto out;
        stored = 1;
    }
    if (json_object_set(remotes, name, r) != 0) {
        rc = shelf__seterr(&err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    rc = remotes_save(path, root, &err);
out:
    if (rc != SHELF_OK && stored) {
        shelf__err e2;

        (void)secret_put(store, name, host, NULL, &e2);   /* undo: the add failed */
    }
    shelf__creds_clear(&c);
    shelf__target_free(&t);
    json_decref(r);
    json_decref(root);
    free(path);
    free(host);
    free(abs);
    return rc == SHELF_OK ? SHELF_OK : set_msg(msg, &err);
}

void shelf_remote_list_free(shelf_remote_info *list, size_t n)
{
    size_t i;

    for (i = 0; list && i < n; i++) {
        free(list[i].name);
        free(list[i].url);
        free(list[i].ca_file);
        free(list[i].region);
    }
    free(list);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const shelf_remote_info *)a)->name, ((const shelf_remote_info *)b)->name);
}

int shelf_remote_list(shelf_remote_info **list, size_t *n, char **msg)
{
    shelf__err err = { 0, "" };
    json_t *root = NULL, *remotes, *o;
    const char *k;
    char *path;
    size_t i = 0;
    int rc;

    *list = NULL;
    *n = 0;
    if (msg)
        *msg = NULL;
    if (!(path = remotes_path(&err)))
        return set_msg(msg, &err);
    rc = remotes_load(path, &root, &err);
    free(path);
    if (rc != SHELF_OK)
        return set_msg(msg, &err);
    remotes = json_object_get(root, "remotes");
    /* at least one entry: an empty list is not NULL */
    if (!(*list = shelf__calloc(json_object_size(remotes) + 1, sizeof **list))) {
        json_decref(root);
        shelf__seterr(&err, SHELF_ENOMEM, "out of memory");
        return set_msg(msg, &err);
    }
    json_object_foreach(remotes, k, o) {
        shelf__remote r;

        if (!json_is_object(o) || !json_is_string(json_object_get(o, "url")))
            continue;
        if (remote_from(k, o, &r) != SHELF_OK) {
            shelf_remote_list_free(*list, i);
            *list = NULL;
            json_decref(root);
            shelf__seterr(&err, SHELF_ENOMEM, "out of memory");
            return set_msg(msg, &err);
        }
        (*list)[i].name = r.name;
        (*list)[i].url = r.url;
        (*list)[i].ca_file = r.ca_file;
        (*list)[i].region = r.region;
        (*list)[i].budget = r.budget;
        (*list)[i].store = r.store;
        i++;
    }
    json_decref(root);
    if (i)
        qsort(*list, i, sizeof **list, by_name);
    *n = i;
    return SHELF_OK;
}

int shelf_remote_rm(const char *name, char **msg)
{
    shelf__err err = { 0, "" }, e2;
    json_t *root = NULL, *remotes, *o;
    char *path = NULL;
    int rc, store;

    if (msg)
        *msg = NULL;
    if (!(path = remotes_path(&err)))
        return set_msg(msg, &err);
    if ((rc = remotes_load(path, &root, &err)) != SHELF_OK)
        goto out;
    remotes = json_object_get(root, "remotes");
    if (!name || !(o = json_object_get(remotes, name))) {
        rc = shelf__seterr(&err, SHELF_ENOTFOUND, "no remote named '%s' (see 'shelf remote ls')",
                           name ? name : "");
        goto out;
    }
    store = store_of(o);
    /* The secret first: a remote listed without its secret can be removed
     * again; a secret left behind with no remote would be forgotten. */
    if (store == SHELF_SECRET_KEYRING || store == SHELF_SECRET_FILE) {
        rc = secret_put(store, name, NULL, NULL, &e2);
        if (rc != SHELF_OK && rc != SHELF_ENOTFOUND) {
            shelf__seterr(&err, rc, "cannot remove the secret of '%s': %s", name, e2.msg);
            goto out;
        }
    }
    if (json_object_del(remotes, name) != 0) {
        rc = shelf__seterr(&err, SHELF_EIO, "cannot remove '%s'", name);
        goto out;
    }
    rc = remotes_save(path, root, &err);
out:
    json_decref(root);
    free(path);
    return rc == SHELF_OK ? SHELF_OK : set_msg(msg, &err);
}

/* ---- terms and privacy: every text of them is here ---- */

static const struct terms_text {
    int kind;
    const char *visible;
    const char *limits;
} terms_texts[] = {
    { SHELF__TGT_S3,
      "the provider sees how many objects there are, their sizes, and when each is written, "
      "read or deleted, and from which address; object names are random hashes and contents "
      "are encrypted before upload, so it sees no file names and no contents (unless the "
      "repository was made with --no-encryption)",
      "one PUT holds at most 5 GiB (larger files go as multipart uploads, up to 10000 parts); "
      "most providers bill every request and every stored and downloaded byte; a bucket with "
      "object lock keeps deleted objects, and bills them, until their retention ends" },
    { SHELF__TGT_WEBDAV,
      "the server's operator sees how many files there are, their sizes, and when each is "
      "written, read or deleted, and from which address; file names are random hashes and "
      "contents are encrypted before upload, so it sees no file names and no contents "
      "(unless the repository was made with --no-encryption)",
      "servers cap the size of one upload (PHP's and Nextcloud's upload limits, a proxy's "
      "body limit) and may enforce a quota; some servers keep deleted files in a trash bin "
      "that still counts toward the quota" },
    { SHELF__TGT_RCLONE,
      "the provider behind rclone sees how many files there are, their sizes and times; file "
      "names are random hashes and contents are encrypted before upload (unless the "
      "repository was made with --no-encryption)",
      "the provider's own limits apply (upload size and daily transfer caps, rate limits, "
      "quota); rclone's remote configuration holds its tokens" },
    { SHELF__TGT_DIR,
      "whoever can read the disk sees how many files there are, their sizes and times; file "
      "names are random hashes and contents are encrypted (unless the repository was made "
      "with --no-encryption)",
      "the file system's limits apply (FAT32: 4 GiB per file) and its free space" },
};

#define GIB (1024ull * 1024 * 1024)

static void human(uint64_t n, char buf[32])
{
    const char *u[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
    double v = (double)n;
    int i = 0;

    while (v >= 1024 && i < 5) {
        v /= 1024;
        i++;
    }
    snprintf(buf, 32, i ? "%.1f %s" : "%.0f %s", v, u[i]);
}

/* The warning for used/avail (UINT64_MAX: unknown) and budget (0: none):
 * less than 10% or 1 GiB left, or 90% of the budget used.  Owned or NULL. */
char *shelf__remote_space_warning(uint64_t used, uint64_t avail, uint64_t budget)
{
    char a[32], b[32];

    if (avail != UINT64_MAX && used != UINT64_MAX &&
        (avail < GIB || avail < (used + avail) / 10)) {
        human(avail, a);
        human(used + avail, b);
        return shelf__asprintf("warning: space is short: %s free of %s", a, b);
    }
    if (avail != UINT64_MAX && used == UINT64_MAX && avail < GIB) {
        human(avail, a);
        return shelf__asprintf("warning: space is short: %s free", a);
    }
    if (budget && used != UINT64_MAX && used >= budget / 10 * 9) {
        human(used, a);
        human(budget, b);
        return shelf__asprintf("warning: %s of the budget of %s is used", a, b);
    }
    return NULL;
}

void shelf_remote_terms_release(shelf_remote_terms *t)
{
    if (!t)
        return;
    free(t->kind);
    free(t->visible);
    free(t->limits);
    free(t->warning);
    free(t->space_error);
    memset(t, 0, sizeof *t);
}

static int add_size(void *ud, const char *name, uint64_t size)
{
    (void)name;
    *(uint64_t *)ud += size;
    return 0;
}

int shelf__remote_terms(const char *url, shelf__backend *be, uint64_t budget,
                        shelf_remote_terms *out, shelf__err *err)
{
    shelf__target t;
    int kind, rc;
    size_t i;

    memset(out, 0, sizeof *out);
    memset(&t, 0, sizeof t);
    out->used = out->avail = UINT64_MAX;
    out->budget = budget;
    if ((rc = shelf__target_parse(url, &t, err)) != SHELF_OK)
        return rc;
    kind = t.kind;
    for (i = 0; i < sizeof terms_texts / sizeof terms_texts[0]; i++)
        if (terms_texts[i].kind == kind)
            break;
    if (be && be->ops->space && be->ops->space(be, &out->used, &out->avail) != SHELF_OK)
        out->used = out->avail = UINT64_MAX;
    if (be && budget && out->used == UINT64_MAX) {
        /* no quota to ask (S3): what the repository's folders hold */
        static const char *const dirs[] = { "data", "index", "snapshots", "keys" };
        uint64_t sum = 0;
        size_t d;

        for (d = 0; d < sizeof dirs / sizeof dirs[0]; d++) {
            int r = shelf__be_list(be, dirs[d], add_size, &sum);

            if (r < 0 && r != SHELF_ENOTFOUND)
                break;
        }
        if (d == sizeof dirs / sizeof dirs[0])
            out->used = sum;
    }
    if (kind == SHELF__TGT_DIR && out->avail == UINT64_MAX) {
        struct statvfs sv;

        if (statvfs(t.path, &sv) == 0) {
            out->avail = (uint64_t)sv.f_bavail * sv.f_frsize;
            /* a drive: what its file system holds, whoever wrote it */
            if (out->used == UINT64_MAX && sv.f_blocks >= sv.f_bfree)
                out->used = (uint64_t)(sv.f_blocks - sv.f_bfree) * sv.f_frsize;
        }
    }
    shelf__target_free(&t);
    out->kind = shelf__strdup(kind_name(kind));
    out->visible = shelf__strdup(terms_texts[i].visible);
    out->limits = shelf__strdup(terms_texts[i].limits);
    out->warning = shelf__remote_space_warning(out->used, out->avail, budget);
    if (!out->kind || !out->visible || !out->limits) {
        shelf_remote_terms_release(out);
        return shelf__seterr(err, SHELF_ENOMEM, "out of memory");
    }
    return SHELF_OK;
}

/* How to open the target of r: its settings. */
static void opts_for(const shelf__remote *r, shelf__be_opts *o)
{
    memset(o, 0, sizeof *o);
    o->ca_file = r->ca_file;
    o->region = r->region;
    o->budget = r->budget;
    o->remote = r->name;
}

int shelf_remote_terms_get(const char *name_or_url, int check_space, shelf_remote_terms *t,
                           char **msg)
{
    shelf__err err = { 0, "" };
    shelf__remote r;
    shelf__backend *be = NULL;
    char *space_error = NULL;
    int rc;

    memset(t, 0, sizeof *t);
    if (msg)
        *msg = NULL;
    if (shelf__remote_resolve(name_or_url, &r, &err) != SHELF_OK)
        return set_msg(msg, &err);
    if (check_space) {
        shelf__err e2;

        shelf__be_opts o;

        opts_for(&r, &o);
        o.quick = 1;
        if (shelf__be_open(r.url, &o, &be, &e2) != SHELF_OK) {
            be = NULL;      /* the space stays unknown */
            space_error = shelf__strdup(e2.msg);
        }
    }
    rc = shelf__remote_terms(r.url, be, r.budget, t, &err);
    if (rc == SHELF_OK && t->avail == UINT64_MAX && t->used == UINT64_MAX && be &&
        !space_error)
        space_error = shelf__strdup(be->err.msg[0] ? be->err.msg : "the server does not say");
    if (rc == SHELF_OK) {
        t->space_error = space_error;
        space_error = NULL;
    }
    free(space_error);
    shelf__be_close(be);
    shelf__remote_release(&r);
    return rc == SHELF_OK ? SHELF_OK : set_msg(msg, &err);
}

/* ---- remote test ---- */

static int probe_seen(void *ud, const char *name, uint64_t size)
{
    (void)size;
    if (!strcmp(name, (const char *)ud))
        return 1;
    return 0;
}

/* A folder remote keeps the empty folder shelf-probe/ the probe was saved
 * in (object stores have no folders): remove it when it is empty. */
static void probe_folder_remove(const char *url)
{
    shelf__target t;
    shelf__err e;
    char *dir;

    if (shelf__target_parse(url, &t, &e) != SHELF_OK)
        return;
    if (t.kind == SHELF__TGT_DIR && (dir = shelf__path_join(t.path, "shelf-probe"))) {
        (void)rmdir(dir);   /* best effort: another test's probe may be in it */
        shelf_free(dir);
    }
    shelf__target_free(&t);
}

int shelf_remote_test(const char *name_or_url, double *ms, char **msg)
{
    shelf__err err = { 0, "" };
    shelf__buf got = SHELF__BUF_INIT;
    shelf__remote r;
    shelf__be_opts o;
    shelf__backend *be = NULL;
    uint8_t rnd[8], data[4096];
    char hex[17], probe[64];
    uint64_t size = 0;
    double t0 = shelf__monotonic();
    int rc, saved = 0;

    *ms = 0;
    if (msg)
        *msg = NULL;
    if (shelf__remote_resolve(name_or_url, &r, &err) != SHELF_OK)
        return set_msg(msg, &err);
    if (shelf__random(rnd, sizeof rnd) != SHELF_OK || shelf__random(data, sizeof data) != SHELF_OK) {
        rc = shelf__seterr(&err, SHELF_EIO, "cannot get random bytes");
        goto out;
    }
    shelf__hex(rnd, sizeof rnd, hex);
    /* in a folder of its own: list takes a folder (a dir remote keeps the
     * empty folder) */
    snprintf(probe, sizeof probe, "shelf-probe/%s", hex);
    opts_for(&r, &o);
    if ((rc = shelf__be_open(r.url, &o, &be, &err)) != SHELF_OK)
        goto out;
#define STEP(call, what)                                                              \
    if ((rc = (call)) != SHELF_OK) {                                                  \
        shelf__seterr(&err, rc, "%s %s on '%s': %s", what, probe, be->location,      \
                      be->err.msg);                                                   \
        goto out;                                                                     \
    }
    STEP(shelf__be_save(be, probe, data, sizeof data), "save");
    saved = 1;
    STEP(shelf__be_stat(be, probe, &size), "stat");
    if (size != sizeof data) {
        rc = shelf__seterr(&err, SHELF_EIO, "stat %s on '%s': %llu bytes, not %zu", probe,
                           be->location, (unsigned long long)size, sizeof data);
        goto out;
    }
    STEP(shelf__be_load(be, probe, 0, 0, &got), "load");
    if (got.len != sizeof data || memcmp(got.buf, data, sizeof data) != 0) {
        rc = shelf__seterr(&err, SHELF_ECORRUPT, "load %s on '%s': other bytes came back", probe,
                           be->location);
        goto out;
    }
    rc = shelf__be_list(be, "shelf-probe", probe_seen, probe);
    if (rc != 1) {
        rc = shelf__seterr(&err, rc < 0 ? rc : SHELF_EIO, "list on '%s': %s", be->location,
                           rc < 0 ? be->err.msg : "the probe is not listed");
        goto out;
    }
    saved = 0;
    STEP(shelf__be_remove(be, probe), "remove");
#undef STEP
    *ms = (shelf__monotonic() - t0) * 1000;
    probe_folder_remove(r.url);
out:
    if (saved && be)
        (void)shelf__be_remove(be, probe);  /* the probe goes whatever happened */
    shelf__be_close(be);
    shelf__buf_release(&got);
    shelf__remote_release(&r);
    return rc == SHELF_OK ? SHELF_OK : set_msg(msg, &err);
}
