/*
 * restore.c: restore from backup repositories in the JSON API of `shelf
 * serve` (doc/serve.md, "Restore"): the repositories the server was given
 * (and the library's backup schedules' targets), a password for one that is
 * encrypted, its snapshots, a snapshot's items, a preview of a restore and
 * its apply with a choice per conflict, the progress of the restore that
 * runs, and the audit log.  Owns the repositories' handles and passwords,
 * the restore previews and the job.
 *
 * Everything runs on the server's one thread except the restore itself:
 * an apply starts a worker thread with a library handle and a repository
 * handle of its own (libshelf handles are used by one thread at a time),
 * which reports what it did into the job under the job's mutex; the page
 * polls GET /api/restore/job.  Only one shelf_restore runs in the process
 * at a time (previews too: the library stages the snapshot's catalog in
 * cache/restore-PID), so browse and preview answer 409 while a restore
 * runs.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include "samples.h"
#include "serve_int.h"

#define RPREVIEW_TTL 900.0          /* seconds a restore preview can be applied */
#define BROWSE_TTL 30.0             /* seconds a snapshot's browse is kept */
#define AUDIT_DEFAULT 100
#define AUDIT_MAX 1000

static const char *const ACTIONS[] = { "", "create", "overwrite", "keep-both", "skip", "same", "failed" };
static const char *const KINDS[] = { "", "catalog", "config", "object", "sample", "patch", "project" };

static const char *action_name(int a)
{
    return a >= 1 && a <= 6 ? ACTIONS[a] : "?";
}

static const char *kind_name(int k)
{
    return k >= 1 && k <= 6 ? KINDS[k] : "?";
}

static void wipe_free(char *s)
{
    if (s)
        OPENSSL_cleanse(s, strlen(s));
    free(s);
}

/* ---- the job: one restore on its worker thread -------------------------------------- */

typedef struct serve_job {
    pthread_mutex_t mu;                /* guards everything below "shared" */
    pthread_t tid;
    /* the worker's inputs, set before it starts, read-only after */
    char *libdir;
    char *target, *password;           /* password wiped when freed */
    shelf_repo_opts ro;
    char snap[65];
    char **items;
    size_t nitems;
    json_t *choices;                   /* "KIND:ID" -> "overwrite" | "keep-both" | "skip" */
    int all;                           /* SHELF_CONFLICT_ for conflicts not in choices */
    char id[33];
    size_t repo;
    double started;
    /* shared */
    int running;                       /* 0 once the worker is done */
    int lost;                          /* out of memory: failures or asked lack an entry */
    uint64_t total, done, bytes;
    uint64_t counts[7];                /* by SHELF_RESTORE_ action */
    json_t *failures;                  /* [{"item", "name", "detail"}] */
    json_t *asked;                     /* conflicts the worker met: [{"item", "choice"}] */
    char *current;                     /* the last item's name as text (owned) */
    char *error;                       /* one line when the restore failed (owned) */
    char *warning;
    double ended;
} serve_job;

static void job_free(serve_job *j)
{
    if (!j)
        return;
    pthread_mutex_destroy(&j->mu);
    free(j->libdir);
    free(j->target);
    wipe_free(j->password);
    for (size_t i = 0; i < j->nitems; i++)
        free(j->items[i]);
    free(j->items);
    json_decref(j->choices);
    json_decref(j->failures);
    json_decref(j->asked);
    free(j->current);
    free(j->error);
    free(j->warning);
    free(j);
}

static char *key_of(int kind, int64_t id, char buf[48])
{
    snprintf(buf, 48, "%s:%lld", kind_name(kind), (long long)id);
    return buf;
}

/* shelf_restore's ask, on the worker: the page's choice for this item, else
 * the one for all, else skip.  Never "for all": every conflict is asked. */
static int job_ask(void *ud, const shelf_restore_item *it)
{
    serve_job *j = ud;
    char key[48];
    const char *c = json_string_value(json_object_get(j->choices, key_of(it->kind, it->id, key)));
    int a = !c ? j->all : !strcmp(c, "overwrite") ? SHELF_CONFLICT_OVERWRITE
            : !strcmp(c, "keep-both") ? SHELF_CONFLICT_KEEP_BOTH : SHELF_CONFLICT_SKIP;

    pthread_mutex_lock(&j->mu);
    j->lost |= json_array_append_new(j->asked, json_pack("{s:s, s:s}", "item", key,
                                              "choice", a == SHELF_CONFLICT_OVERWRITE ? "overwrite"
                                              : a == SHELF_CONFLICT_KEEP_BOTH ? "keep-both" : "skip"));
    pthread_mutex_unlock(&j->mu);
    return a;
}

/* shelf_restore's on_item, on the worker: one item done. */
static void job_item(void *ud, const shelf_restore_item *it)
{
    serve_job *j = ud;
    char *name = serve_text(*it->name ? it->name : it->path);

    pthread_mutex_lock(&j->mu);
    if (it->kind != SHELF_ITEM_OBJECT)
        j->done++;
    if (it->action >= 1 && it->action <= 6)
        j->counts[it->action]++;
    if (it->action == SHELF_RESTORE_CREATE || it->action == SHELF_RESTORE_OVERWRITE ||
        it->action == SHELF_RESTORE_KEEP_BOTH)
        j->bytes += it->size;
    if (it->action == SHELF_RESTORE_FAILED) {
        char key[48];

        j->lost |= json_array_append_new(j->failures, json_pack("{s:s, s:o, s:o}", "item", key_of(it->kind, it->id, key),
                                                     "name", tool_json_name(it->name), "detail",
                                                     tool_json_name(it->detail)));
    }
    if (name) {
        free(j->current);
        j->current = strdup(name);
    }
    pthread_mutex_unlock(&j->mu);
    shelf_free(name);
}

static void job_end(serve_job *j, const char *error, const char *warning)
{
    char *e = error ? serve_text(error) : NULL, *w = warning && *warning ? serve_text(warning) : NULL;

    pthread_mutex_lock(&j->mu);
    j->error = e ? strdup(e) : error ? strdup("the restore failed") : NULL;
    j->warning = w ? strdup(w) : NULL;
    j->ended = serve_now();
    j->running = 0;
    pthread_mutex_unlock(&j->mu);
    shelf_free(e);
    shelf_free(w);
}

/* The worker thread's body: its own library and repository handles, the
 * restore, the end (job_ask and job_item run on this thread). */
static void *job_run(void *arg)
{
    serve_job *j = arg;
    shelf_library *lib = NULL;
    shelf_repo *repo = NULL;
    shelf_restore_opts o;
    shelf_restore_stats st = { .size = sizeof st };
    char *msg = NULL;
    int rc;

    if ((rc = shelf_library_open(j->libdir, 0, &lib, &msg)) != SHELF_OK) {
        job_end(j, msg ? msg : shelf_strerror(rc), NULL);
        shelf_free(msg);
        return NULL;
    }
    j->ro.password = j->password;
    if ((rc = shelf_repo_open(j->target, &j->ro, &repo, &msg)) != SHELF_OK) {
        job_end(j, msg ? msg : shelf_strerror(rc), NULL);
        shelf_free(msg);
        shelf_library_close(lib);
        return NULL;
    }
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.items = (const char *const *)j->items;
    o.nitems = j->nitems;
    o.on_conflict = SHELF_CONFLICT_ASK;
    o.ask = job_ask;
    o.on_item = job_item;
    o.ud = j;
    rc = shelf_restore(repo, lib, j->snap, &o, &st);
    job_end(j, rc == SHELF_OK ? NULL : shelf_repo_errmsg(repo), shelf_repo_warning(repo));
    shelf_repo_close(repo);
    shelf_library_close(lib);
    return NULL;
}

static int job_running(serve_state *srv)
{
    int on = 0;

    if (srv->job) {
        pthread_mutex_lock(&srv->job->mu);
        on = srv->job->running;
        pthread_mutex_unlock(&srv->job->mu);
    }
    return on;
}

static enum MHD_Result busy(serve_req *r)
{
    return serve_error(r, MHD_HTTP_CONFLICT, "a restore is running: wait for it to end (GET /api/restore/job)");
}

/* ---- the repositories ------------------------------------------------------------------ */

int serve_restore_init(serve_state *srv, const serve_opts *o)
{
    memset(&srv->repo_opts, 0, sizeof srv->repo_opts);
    srv->repo_opts.size = sizeof srv->repo_opts;
    srv->repo_opts.ca_file = o->ca_file;
    srv->repo_opts.limit_upload = o->limit_upload;
    srv->repo_opts.limit_download = o->limit_download;
    srv->repo_opts.connections = o->connections;
    if (!o->nrepos)
        return 0;
    if (!(srv->repos = calloc(o->nrepos, sizeof *srv->repos)))
        return -1;
    srv->nrepos = o->nrepos;
    for (size_t i = 0; i < o->nrepos; i++) {
        serve_repo *rp = &srv->repos[i];

        if (!(rp->target = strdup(o->repos[i].target)) ||
            !(rp->source = strdup(o->repos[i].source ? o->repos[i].source : "--repo")) ||
            (o->repos[i].password && !(rp->password = strdup(o->repos[i].password))))
            return -1;
    }
    return 0;
}

static void rpreview_drop(serve_rpreview *p)
{
    json_decref(p->items);
    json_decref(p->conflicts);
    memset(p, 0, sizeof *p);
}

/* Forget the kept browse: what a restore would do is about to change. */
static void browse_forget(serve_state *srv)
{
    json_decref(srv->browse_items);
    json_decref(srv->browse_contents);
    srv->browse_items = srv->browse_contents = NULL;
}

void serve_restore_release(serve_state *srv)
{
    if (srv->job) {
        pthread_join(srv->job->tid, NULL);     /* a restore in flight ends first */
        job_free(srv->job);
        srv->job = NULL;
    }
    for (size_t i = 0; i < SERVE_RESTORE_PREVIEWS; i++)
        rpreview_drop(&srv->rpreviews[i]);
    browse_forget(srv);
    for (size_t i = 0; i < srv->nrepos; i++) {
        shelf_repo_close(srv->repos[i].handle);
        free(srv->repos[i].target);
        free(srv->repos[i].source);
        free(srv->repos[i].error);
        wipe_free(srv->repos[i].password);
    }
    free(srv->repos);
    srv->repos = NULL;
    srv->nrepos = 0;
}

/* Open rp on the server's thread unless open: SHELF_OK, SHELF_EAUTH (a
 * password is needed, or the one given is wrong), or another failure with
 * rp->error set. */
static int repo_open(serve_state *srv, serve_repo *rp, const char *password)
{
    shelf_repo_opts o = srv->repo_opts;
    shelf_repo *h = NULL;
    char *msg = NULL;
    int rc;

    if (rp->handle)
        return SHELF_OK;
    o.password = password ? password : rp->password;
    rc = shelf_repo_open(rp->target, &o, &h, &msg);
    free(rp->error);
    rp->error = NULL;
    if (rc == SHELF_OK) {
        rp->handle = h;
        rp->locked = 0;
    } else if (rc == SHELF_EAUTH) {
        rp->locked = 1;
    } else {
        char *t = serve_text(msg ? msg : shelf_strerror(rc));

        rp->error = t ? strdup(t) : NULL;
        shelf_free(t);
    }
    shelf_free(msg);
    return rc;
}

/* The repository numbered by text (1-based), or NULL after answering 404. */
static serve_repo *repo_at(serve_req *r, const char *text, size_t *index)
{
    int64_t n = serve_parse_id(text);

    if (n < 1 || (uint64_t)n > r->srv->nrepos) {
        serve_error(r, MHD_HTTP_NOT_FOUND, "no repository %s (GET /api/restore/repos lists them)",
                    n ? text : "with that number");
        return NULL;
    }
    *index = (size_t)(n - 1);
    return &r->srv->repos[n - 1];
}

/* rp's handle, opened when it is not yet; NULL after answering (423 for a
 * password needed, 404 for no repository there, 500 else). */
static shelf_repo *repo_handle(serve_req *r, serve_repo *rp)
{
    int rc = repo_open(r->srv, rp, NULL);

    if (rc == SHELF_OK)
        return rp->handle;
    if (rc == SHELF_EAUTH) {
        json_t *v = json_pack("{s:s, s:b}", "error", "the repository is encrypted: give its password", "password", 1);

        serve_json(r, MHD_HTTP_LOCKED, v, 0);
        return NULL;
    }
    serve_error(r, rc == SHELF_ENOTFOUND ? MHD_HTTP_NOT_FOUND : MHD_HTTP_INTERNAL_SERVER_ERROR, "%s",
                rp->error ? rp->error : shelf_strerror(rc));
    return NULL;
}

static json_t *repo_json(size_t i, const serve_repo *rp)
{
    return json_pack("{s:I, s:o, s:s, s:b, s:b, s:o, s:o}", "id", (json_int_t)i + 1, "target",
                     tool_json_name(rp->target), "source", rp->source, "open", rp->handle != NULL, "password",
                     rp->locked, "encrypted", rp->handle ? json_boolean(shelf_repo_encrypted(rp->handle))
                                                         : rp->locked ? json_true() : json_null(),
                     "error", rp->error ? json_string(rp->error) : json_null());
}

/* GET /api/restore/repos: every repository, each opened if it can be
 * without a password it lacks. */
static enum MHD_Result get_repos(serve_req *r)
{
    serve_state *srv = r->srv;
    json_t *arr = json_array();

    for (size_t i = 0; arr && i < srv->nrepos; i++) {
        if (!srv->repos[i].handle && !srv->repos[i].locked)
            (void)repo_open(srv, &srv->repos[i], NULL);
        if (json_array_append_new(arr, repo_json(i, &srv->repos[i])) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    return serve_json(r, MHD_HTTP_OK, arr ? json_pack("{s:o}", "repos", arr) : NULL, 0);
}

/* POST /api/restore/repos/N/password {"password": "..."}: held in memory
 * for this run only, never written, logged or sent back. */
static enum MHD_Result post_password(serve_req *r, size_t i, serve_repo *rp)
{
    json_t *o = serve_body_object(r), *pv;
    char *pw;
    int rc;

    if (!o)
        return MHD_YES;
    pv = json_object_get(o, "password");
    if (!json_is_string(pv) || !*json_string_value(pv)) {
        json_decref(o);
        return serve_error(r, MHD_HTTP_BAD_REQUEST, "'password' must be a string, not empty");
    }
    pw = strdup(json_string_value(pv));
    OPENSSL_cleanse((char *)json_string_value(pv), strlen(json_string_value(pv)));
    json_decref(o);
    if (!pw)
        return serve_json(r, MHD_HTTP_OK, NULL, 0);
    if (rp->handle) {                   /* open already, with what opened it */
        wipe_free(pw);
        return serve_json(r, MHD_HTTP_OK, repo_json(i, rp), 0);
    }
    rc = repo_open(r->srv, rp, pw);
    if (rc == SHELF_EAUTH) {
        wipe_free(pw);
        return serve_error(r, MHD_HTTP_FORBIDDEN, "that password does not open repository %zu", i + 1);
    }
    if (rc != SHELF_OK) {
        wipe_free(pw);
        return serve_error(r, rc == SHELF_ENOTFOUND ? MHD_HTTP_NOT_FOUND : MHD_HTTP_INTERNAL_SERVER_ERROR, "%s",
                           rp->error ? rp->error : shelf_strerror(rc));
    }
    wipe_free(rp->password);
    rp->password = pw;
    return serve_json(r, MHD_HTTP_OK, repo_json(i, rp), 0);
}

/* ---- snapshots ------------------------------------------------------------------------------ */

static const char *strategy_name(int s)
{
    return s == SHELF_BACKUP_FULL ? "full" : s == SHELF_BACKUP_DIFFERENTIAL ? "differential" : "incremental";
}

/* shelf_snapshot_list's callback, on the server's thread. */
static int on_snap(void *ud, const shelf_snapinfo *s)
{
    json_t *arr = ud, *v;

    if (s->damaged)
        v = json_pack("{s:s, s:b}", "id", s->id, "damaged", 1);
    else
        v = json_pack("{s:s, s:b, s:I, s:o, s:o, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I}", "id", s->id, "damaged",
                      0, "time", (json_int_t)s->time, "host", tool_json_name(s->host), "library",
                      tool_json_name(s->library), "device", s->device, "strategy", strategy_name(s->strategy),
                      "parent", s->parent, "tags", s->tags, "items", (json_int_t)s->items, "bytes",
                      (json_int_t)s->bytes, "added", (json_int_t)s->added, "stored", (json_int_t)s->stored);
    /* newest first: the library gives them oldest first */
    return json_array_insert_new(arr, 0, v) != 0;
}

static enum MHD_Result get_snapshots(serve_req *r, size_t i, serve_repo *rp)
{
    shelf_repo *h = repo_handle(r, rp);
    json_t *arr;

    if (!h)
        return MHD_YES;
    if (!(arr = json_array()))
        return serve_json(r, MHD_HTTP_OK, NULL, 0);
    if (shelf_snapshot_list(h, on_snap, arr) != SHELF_OK) {
        json_decref(arr);
        return serve_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "%s", shelf_repo_errmsg(h));
    }
    return serve_json(r, MHD_HTTP_OK, json_pack("{s:I, s:o}", "repo", (json_int_t)i + 1, "snapshots", arr), 0);
}

/* A snapshot reference from a path or body (an id or a prefix of one, or
 * "latest") to its id; -1 after answering (400, 404). */
static int snap_resolve(serve_req *r, shelf_repo *h, const char *ref, char id[65])
{
    size_t n = ref ? strlen(ref) : 0;
    int rc;

    if (!ref || (strcmp(ref, "latest") != 0 && (n < 4 || n > 64 || strspn(ref, "0123456789abcdef") != n)))
        return serve_error(r, MHD_HTTP_BAD_REQUEST, "a snapshot is its id (4 to 64 hex digits) or 'latest'"), -1;
    if ((rc = shelf_snapshot_resolve(h, ref, id)) != SHELF_OK)
        return serve_error(r, rc == SHELF_ENOTFOUND || rc == SHELF_EINVAL ? MHD_HTTP_NOT_FOUND
                                                                          : MHD_HTTP_INTERNAL_SERVER_ERROR,
                           "%s", shelf_repo_errmsg(h)), -1;
    return 0;
}

/* ---- plans: a restore previewed ------------------------------------------------------- */

typedef struct plan {
    json_t *items;                     /* what the page is shown */
    json_t *conflicts;                 /* their "KIND:ID" */
    EVP_MD_CTX *md;                    /* the plan's SHA-256 */
    int browse;                        /* samples, patches and projects only */
    uint64_t n[7], bytes[7];           /* items and bytes by action */
    uint64_t kinds[7], kind_bytes[7];  /* items and bytes by kind */
    int bad;
} plan;

/* shelf_restore's on_item in a preview, on the server's thread. */
static void plan_item(void *ud, const shelf_restore_item *it)
{
    plan *p = ud;
    char key[48], line[160];
    int conflict = it->conflict;
    json_t *v;

    if (p->bad)
        return;
    /* What happens to each item, in the order it comes: its action, kind,
     * id, size, name, where it goes and why. */
    snprintf(line, sizeof line, "%d %d %lld %llu\n", it->action, it->kind, (long long)it->id,
             (unsigned long long)it->size);
    if (EVP_DigestUpdate(p->md, line, strlen(line)) != 1 || EVP_DigestUpdate(p->md, it->name, strlen(it->name) + 1) != 1 ||
        EVP_DigestUpdate(p->md, it->path, strlen(it->path) + 1) != 1 ||
        EVP_DigestUpdate(p->md, it->detail, strlen(it->detail) + 1) != 1) {
        p->bad = 1;
        return;
    }
    if (it->action >= 1 && it->action <= 6) {
        p->n[it->action]++;
        p->bytes[it->action] += it->size;
    }
    if (it->kind >= 1 && it->kind <= 6) {
        p->kinds[it->kind]++;
        p->kind_bytes[it->kind] += it->size;
    }
    if (p->browse && it->kind != SHELF_ITEM_SAMPLE && it->kind != SHELF_ITEM_PATCH && it->kind != SHELF_ITEM_PROJECT)
        return;
    key_of(it->kind, it->id, key);
    v = json_pack("{s:o, s:s, s:I, s:o, s:o, s:I, s:s, s:o, s:b}", "item",
                  it->kind == SHELF_ITEM_OBJECT ? json_null() : json_string(key), "kind", kind_name(it->kind), "id",
                  (json_int_t)it->id, "name", tool_json_name(it->name), "path", tool_json_name(it->path), "size",
                  (json_int_t)it->size, "action", action_name(it->action), "detail",
                  tool_json_name(it->detail), "conflict", conflict);
    if (json_array_append_new(p->items, v) != 0 ||
        (conflict && json_array_append_new(p->conflicts, json_string(key)) != 0))
        p->bad = 1;
}

/*
 * A preview of restoring items (an array of "KIND:ID"; empty: the whole
 * snapshot) of snap from h into the server's library, every conflict left
 * to ask: p filled, hash the plan's SHA-256.  SHELF_OK or the failure
 * (the repository's message).
 */
static int plan_run(serve_state *srv, shelf_repo *h, const char *snap, json_t *items, plan *p, char hash[65])
{
    shelf_restore_opts o;
    shelf_restore_stats st = { .size = sizeof st };
    const char **v = NULL;
    unsigned char sum[32];
    unsigned int len = 0;
    size_t n = json_array_size(items), k;
    int rc;

    p->items = json_array();
    p->conflicts = json_array();
    p->md = EVP_MD_CTX_new();
    if (!p->items || !p->conflicts || !p->md || EVP_DigestInit_ex(p->md, EVP_sha256(), NULL) != 1 ||
        (n && !(v = calloc(n, sizeof *v))))
        return SHELF_ENOMEM;
    for (k = 0; k < n; k++)
        v[k] = json_string_value(json_array_get(items, k));
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.items = v;
    o.nitems = n;
    o.on_conflict = SHELF_CONFLICT_ASK;
    o.preview = 1;
    o.on_item = plan_item;
    o.ud = p;
    rc = shelf_restore(h, srv->lib, snap, &o, &st);
    free(v);
    if (rc == SHELF_OK && p->bad)
        rc = SHELF_ENOMEM;
    if (rc == SHELF_OK && EVP_DigestFinal_ex(p->md, sum, &len) != 1)
        rc = SHELF_ENOMEM;
    for (k = 0; rc == SHELF_OK && k < len; k++)
        snprintf(hash + 2 * k, 3, "%02x", sum[k]);
    return rc;
}

static void plan_release(plan *p)
{
    json_decref(p->items);
    json_decref(p->conflicts);
    EVP_MD_CTX_free(p->md);
    memset(p, 0, sizeof *p);
}

/* The counts of a plan by action: {"create": {"items": N, "bytes": B}, ...}. */
static json_t *plan_counts(const plan *p)
{
    json_t *o = json_object();

    for (int a = 1; o && a <= 6; a++)
        if (json_object_set_new(o, ACTIONS[a], json_pack("{s:I, s:I}", "items", (json_int_t)p->n[a], "bytes",
                                                          (json_int_t)p->bytes[a])) != 0) {
            json_decref(o);
            return NULL;
        }
    return o;
}

/* A plan's failure: 400 for what the request named wrong, else 500. */
static enum MHD_Result plan_error(serve_req *r, shelf_repo *h, int rc)
{
    if (rc == SHELF_ENOMEM)
        return serve_json(r, MHD_HTTP_OK, NULL, 0);
    return serve_error(r, rc == SHELF_EINVAL ? MHD_HTTP_BAD_REQUEST
                       : rc == SHELF_EPERM ? MHD_HTTP_FORBIDDEN
                       : rc == SHELF_EBUSY ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_INTERNAL_SERVER_ERROR,
                       "%s", shelf_repo_errmsg(h));
}

/* 1 when the item's name or path (text) holds every word of fq (folded). */
static int item_matches(json_t *it, const char *fq, int *bad)
{
    const char *name = json_string_value(json_object_get(it, "name"));
    const char *path = json_string_value(json_object_get(it, "path"));
    size_t a = strlen(name ? name : ""), b = strlen(path ? path : "");
    char *text = malloc(a + b + 2), *ft;
    int hit;

    if (!text)
        return *bad = 1, 0;
    memcpy(text, name ? name : "", a);
    text[a] = '\n';                    /* no word spans the two */
    memcpy(text + a + 1, path ? path : "", b + 1);
    ft = serve_fold(text);
    free(text);
    if (!ft)
        return *bad = 1, 0;
    hit = serve_words_in(fq, ft);
    free(ft);
    return hit;
}

/*
 * GET /api/restore/repos/N/snapshots/SNAP/items?q=WORDS: what the snapshot
 * holds (samples, patches, projects), each with what a restore of it would
 * do now; q keeps those whose name or path hold every word.  The plan of
 * the whole snapshot is kept for BROWSE_TTL seconds (until a restore starts),
 * so that filtering as one types does not make it again.
 */
static enum MHD_Result get_items(serve_req *r, size_t i, serve_repo *rp, const char *ref)
{
    const char *q = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "q");
    serve_state *srv = r->srv;
    json_t *items, *it, *ans;
    shelf_repo *h;
    char id[65], hash[65], *fq = NULL;
    size_t k;
    int rc, bad = 0;

    if (job_running(srv))
        return busy(r);
    if (!(h = repo_handle(r, rp)) || snap_resolve(r, h, ref, id))
        return MHD_YES;
    if (!srv->browse_items || srv->browse_repo != i || strcmp(srv->browse_snap, id) != 0 ||
        serve_now() - srv->browse_made > BROWSE_TTL) {
        json_t *none = json_array();
        plan p;

        memset(&p, 0, sizeof p);
        p.browse = 1;
        rc = none ? plan_run(srv, h, id, none, &p, hash) : SHELF_ENOMEM;
        json_decref(none);
        if (rc != SHELF_OK) {
            plan_release(&p);
            return plan_error(r, h, rc);
        }
        json_decref(srv->browse_items);
        json_decref(srv->browse_contents);
        srv->browse_items = json_incref(p.items);
        srv->browse_contents = json_pack("{s:I, s:I, s:I, s:I}", "samples", (json_int_t)p.kinds[SHELF_ITEM_SAMPLE],
                                         "patches", (json_int_t)p.kinds[SHELF_ITEM_PATCH], "projects",
                                         (json_int_t)p.kinds[SHELF_ITEM_PROJECT], "sample_bytes",
                                         (json_int_t)p.kind_bytes[SHELF_ITEM_SAMPLE]);
        srv->browse_repo = i;
        memcpy(srv->browse_snap, id, sizeof srv->browse_snap);
        srv->browse_made = serve_now();
        plan_release(&p);
        if (!srv->browse_contents) {
            json_decref(srv->browse_items);
            srv->browse_items = NULL;
            return serve_json(r, MHD_HTTP_OK, NULL, 0);
        }
    }
    if (!q || !*q) {
        items = json_incref(srv->browse_items);
    } else if (!(fq = serve_fold(q)) || !(items = json_array())) {
        free(fq);
        return serve_json(r, MHD_HTTP_OK, NULL, 0);
    } else {
        json_array_foreach(srv->browse_items, k, it)
            if (item_matches(it, fq, &bad) && json_array_append(items, it) != 0)
                bad = 1;
        free(fq);
    }
    if (bad) {
        json_decref(items);
        return serve_json(r, MHD_HTTP_OK, NULL, 0);
    }
    ans = json_pack("{s:I, s:s, s:o, s:O, s:I, s:o}", "repo", (json_int_t)i + 1, "snapshot", id, "q",
                    tool_json_name(q ? q : ""), "contents", srv->browse_contents, "total",
                    (json_int_t)json_array_size(items), "items", items);
    return serve_json(r, MHD_HTTP_OK, ans, 0);
}

/* "KIND:ID" with KIND sample, patch or project and ID a whole number; 1 when s is one. */
static int item_ok(const char *s)
{
    const char *num = !strncmp(s, "sample:", 7) ? s + 7 : !strncmp(s, "patch:", 6) ? s + 6
                      : !strncmp(s, "project:", 8) ? s + 8 : NULL;

    return num && serve_parse_id(num) > 0;
}

static serve_rpreview *rpreview_find(serve_state *srv, const char *id)
{
    for (size_t i = 0; id && *id && i < SERVE_RESTORE_PREVIEWS; i++) {
        serve_rpreview *p = &srv->rpreviews[i];

        if (p->id[0] && !strcmp(p->id, id)) {
            if (serve_now() - p->made > RPREVIEW_TTL) {
                rpreview_drop(p);
                return NULL;
            }
            return p;
        }
    }
    return NULL;
}

/*
 * POST /api/restore/preview {"repo": N, "snapshot": SNAP, "items": ["sample:3", ...]}
 * (items empty or left out: the whole snapshot): what a restore would do to
 * each item, nothing written; the conflicts to choose for; the preview id
 * and the plan's hash the apply names.
 */
static enum MHD_Result post_preview(serve_req *r)
{
    serve_state *srv = r->srv;
    json_t *o = serve_body_object(r), *items, *x, *ans;
    serve_repo *rp;
    serve_rpreview *pv;
    shelf_repo *h;
    const char *ref;
    char id[65], hash[65], num[24];
    size_t i, k;
    plan p;
    int rc;

    if (!o)
        return MHD_YES;
    items = json_object_get(o, "items");
    ref = json_string_value(json_object_get(o, "snapshot"));
    x = json_object_get(o, "repo");
    if (!json_is_integer(x) || json_integer_value(x) < 1 || !ref || (items && !json_is_array(items))) {
        json_decref(o);
        return serve_error(r, MHD_HTTP_BAD_REQUEST, "the body is {\"repo\": N, \"snapshot\": ID, \"items\": [...]}");
    }
    json_array_foreach(items, k, x)
        if (!json_is_string(x) || !item_ok(json_string_value(x))) {
            json_decref(o);
            return serve_error(r, MHD_HTTP_BAD_REQUEST, "each item is sample:ID, patch:ID or project:ID");
        }
    snprintf(num, sizeof num, "%lld", (long long)json_integer_value(json_object_get(o, "repo")));
    if (job_running(srv)) {
        json_decref(o);
        return busy(r);
    }
    if (!(rp = repo_at(r, num, &i)) || !(h = repo_handle(r, rp)) || snap_resolve(r, h, ref, id)) {
        json_decref(o);
        return MHD_YES;
    }
    items = items ? json_incref(items) : json_array();
    json_decref(o);
    memset(&p, 0, sizeof p);
    if ((rc = plan_run(srv, h, id, items, &p, hash)) != SHELF_OK) {
        json_decref(items);
        plan_release(&p);
        return plan_error(r, h, rc);
    }
    pv = &srv->rpreviews[srv->rpreview_next++ % SERVE_RESTORE_PREVIEWS];
    rpreview_drop(pv);
    if (serve_random_id(pv->id) != 0) {
        json_decref(items);
        plan_release(&p);
        memset(pv, 0, sizeof *pv);
        return serve_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot make a preview id");
    }
    pv->repo = i;
    memcpy(pv->snap, id, sizeof pv->snap);
    memcpy(pv->plan, hash, sizeof pv->plan);
    pv->items = items;
    pv->conflicts = json_incref(p.conflicts);
    pv->made = serve_now();
    ans = json_pack("{s:s, s:s, s:I, s:s, s:O, s:o, s:I, s:I, s:O, s:O}", "preview", pv->id, "expect", hash, "repo",
                    (json_int_t)i + 1, "snapshot", id, "chosen", items, "counts", plan_counts(&p), "conflicts",
                    (json_int_t)json_array_size(p.conflicts), "total", (json_int_t)json_array_size(p.items),
                    "items", p.items, "conflict_items", p.conflicts);
    plan_release(&p);
    return serve_json(r, MHD_HTTP_OK, ans, 0);
}

/* A choice's name to SHELF_CONFLICT_, or -1. */
static int choice_of(const char *s)
{
    return !s ? -1 : !strcmp(s, "overwrite") ? SHELF_CONFLICT_OVERWRITE : !strcmp(s, "keep-both")
           ? SHELF_CONFLICT_KEEP_BOTH : !strcmp(s, "skip") ? SHELF_CONFLICT_SKIP : -1;
}

static int in_array(json_t *arr, const char *s)
{
    size_t k;
    json_t *x;

    json_array_foreach(arr, k, x)
        if (!strcmp(json_string_value(x), s))
            return 1;
    return 0;
}

/* 409 {"error": why, "stale": true}: the page previews again. */
static enum MHD_Result stale(serve_req *r, const char *why)
{
    return serve_json(r, MHD_HTTP_CONFLICT, json_pack("{s:s, s:b}", "error", why, "stale", 1), 0);
}

/*
 * POST /api/restore/apply {"preview": ID, "expect": PLAN, "choices":
 * {"sample:3": "overwrite", ...}, "all": "skip"}: do what the preview
 * showed, each conflict settled as chosen (those without a choice of
 * their own by "all"; one without either is 400).  The plan is made again
 * first: when it is no longer the previewed one (the library or the
 * repository changed in a way that matters to these items), 409 and
 * nothing is done.  A preview is used once.  The restore then runs on a
 * worker: 202 with the job.
 */
static enum MHD_Result post_apply(serve_req *r)
{
    serve_state *srv = r->srv;
    json_t *o = serve_body_object(r), *choices, *allv, *x;
    const char *pid, *expect, *key;
    serve_rpreview *pv;
    serve_repo *rp;
    serve_job *j;
    shelf_repo *h;
    char hash[65];
    uint64_t total;
    size_t k;
    plan p;
    int all = -1, rc;

    if (!o)
        return MHD_YES;
    pid = json_string_value(json_object_get(o, "preview"));
    expect = json_string_value(json_object_get(o, "expect"));
    choices = json_object_get(o, "choices");
    allv = json_object_get(o, "all");
    if (!pid || !expect || (choices && !json_is_object(choices)) || (allv && !json_is_null(allv) &&
                                                                    (all = choice_of(json_string_value(allv))) < 0)) {
        json_decref(o);
        return serve_error(r, MHD_HTTP_BAD_REQUEST, "the body is {\"preview\": ID, \"expect\": PLAN, \"choices\": "
                           "{ITEM: CHOICE}, \"all\": CHOICE or null}; a CHOICE is overwrite, keep-both or skip");
    }
    json_object_foreach(choices, key, x)
        if (choice_of(json_string_value(x)) < 0) {
            json_decref(o);
            return serve_error(r, MHD_HTTP_BAD_REQUEST, "a choice is overwrite, keep-both or skip");
        }
    if (job_running(srv)) {
        json_decref(o);
        return busy(r);
    }
    if (shelf_library_readonly(srv->lib)) {
        json_decref(o);
        return serve_error(r, MHD_HTTP_FORBIDDEN, "the library is read-only");
    }
    if (!(pv = rpreview_find(srv, pid))) {
        json_decref(o);
        return stale(r, "no such preview (used, expired, or never made): preview again");
    }
    if (strcmp(expect, pv->plan) != 0) {
        rpreview_drop(pv);
        json_decref(o);
        return stale(r, "'expect' is not the plan of that preview: preview again");
    }
    json_object_foreach(choices, key, x)
        if (!in_array(pv->conflicts, key)) {
            char *t = serve_text(key);

            rpreview_drop(pv);
            json_decref(o);
            serve_error(r, MHD_HTTP_BAD_REQUEST, "%s is not a conflict of the preview", t ? t : "?");
            shelf_free(t);
            return MHD_YES;
        }
    json_array_foreach(pv->conflicts, k, x)
        if (all < 0 && !json_object_get(choices, json_string_value(x))) {
            serve_error(r, MHD_HTTP_BAD_REQUEST, "conflict %s has no choice (and no 'all')", json_string_value(x));
            rpreview_drop(pv);
            json_decref(o);
            return MHD_YES;
        }
    rp = &srv->repos[pv->repo];
    if (!(h = repo_handle(r, rp))) {
        rpreview_drop(pv);
        json_decref(o);
        return MHD_YES;
    }
    /* The plan again, now: the same, or the apply is stale. */
    memset(&p, 0, sizeof p);
    rc = plan_run(srv, h, pv->snap, pv->items, &p, hash);
    total = p.kinds[SHELF_ITEM_SAMPLE] + p.kinds[SHELF_ITEM_PATCH] + p.kinds[SHELF_ITEM_PROJECT];
    plan_release(&p);
    if (rc != SHELF_OK) {
        rpreview_drop(pv);
        json_decref(o);
        return plan_error(r, h, rc);
    }
    if (strcmp(hash, pv->plan) != 0) {
        rpreview_drop(pv);
        json_decref(o);
        return stale(r, "the library or the snapshot changed since the preview in a way that matters to these items: "
                     "preview again");
    }
    /* The job, for a worker of its own. */
    if (srv->job) {
        pthread_join(srv->job->tid, NULL);      /* ended: job_running said so */
        job_free(srv->job);
        srv->job = NULL;
    }
    if (!(j = calloc(1, sizeof *j))) {
        rpreview_drop(pv);
        json_decref(o);
        return serve_json(r, MHD_HTTP_OK, NULL, 0);
    }
    pthread_mutex_init(&j->mu, NULL);
    j->ro = srv->repo_opts;
    j->ro.password = NULL;
    j->nitems = json_array_size(pv->items);
    j->all = all < 0 ? SHELF_CONFLICT_SKIP : all;
    j->repo = pv->repo;
    memcpy(j->snap, pv->snap, sizeof j->snap);
    rc = !(j->libdir = strdup(shelf_library_path(srv->lib))) || !(j->target = strdup(rp->target)) ||
         (rp->password && !(j->password = strdup(rp->password))) ||
         (j->nitems && !(j->items = calloc(j->nitems, sizeof *j->items))) ||
         !(j->choices = choices ? json_deep_copy(choices) : json_object()) || !(j->failures = json_array()) ||
         !(j->asked = json_array()) || serve_random_id(j->id) != 0;
    for (k = 0; !rc && k < j->nitems; k++)
        rc = !(j->items[k] = strdup(json_string_value(json_array_get(pv->items, k))));
    j->total = total;
    rpreview_drop(pv);                          /* used */
    json_decref(o);
    if (!rc) {
        j->running = 1;
        j->started = serve_now();
        if (pthread_create(&j->tid, NULL, job_run, j) != 0)
            rc = 1;
    }
    if (rc) {
        job_free(j);
        return serve_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot start the restore");
    }
    srv->job = j;
    browse_forget(srv);
    return serve_json(r, MHD_HTTP_ACCEPTED, json_pack("{s:s, s:I}", "job", j->id, "total", (json_int_t)j->total), 0);
}

/* GET /api/restore/job: the last restore started, as it stands. */
static enum MHD_Result get_job(serve_req *r)
{
    serve_job *j = r->srv->job;
    json_t *v;

    if (!j)
        return serve_json(r, MHD_HTTP_OK, json_pack("{s:n}", "job"), 0);
    pthread_mutex_lock(&j->mu);
    v = json_pack("{s:s, s:I, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:O, s:O, s:b, s:o, s:o, s:o, s:f}",
                  "job", j->id, "repo", (json_int_t)j->repo + 1, "snapshot", j->snap, "state",
                  j->running ? "running" : j->error ? "failed" : "done", "total", (json_int_t)j->total, "done",
                  (json_int_t)j->done, "bytes", (json_int_t)j->bytes, "created",
                  (json_int_t)j->counts[SHELF_RESTORE_CREATE], "overwritten",
                  (json_int_t)j->counts[SHELF_RESTORE_OVERWRITE], "kept_both",
                  (json_int_t)j->counts[SHELF_RESTORE_KEEP_BOTH], "skipped",
                  (json_int_t)j->counts[SHELF_RESTORE_SKIP], "same", (json_int_t)j->counts[SHELF_RESTORE_SAME],
                  "failed", (json_int_t)j->counts[SHELF_RESTORE_FAILED], "failures", j->failures, "asked", j->asked, "truncated", j->lost,
                  "current", j->current ? json_string(j->current) : json_null(), "error",
                  j->error ? json_string(j->error) : json_null(), "warning",
                  j->warning ? json_string(j->warning) : json_null(), "seconds",
                  (j->running ? serve_now() : j->ended) - j->started);
    pthread_mutex_unlock(&j->mu);
    return serve_json(r, MHD_HTTP_OK, v, 10);
}

/* ---- the audit log ------------------------------------------------------------------------ */

/* shelf_audit_list's callback, on the server's thread. */
static int on_audit(void *ud, const shelf_audit_entry *e)
{
    json_t *arr = ud;

    /* newest first: the library gives them oldest first */
    return json_array_insert_new(arr, 0, json_pack("{s:I, s:I, s:s, s:s, s:I, s:o}", "id", (json_int_t)e->id, "time",
                                                   (json_int_t)e->time, "action", e->action, "kind",
                                                   e->kind == 1 ? "sample" : e->kind == 2 ? "patch"
                                                   : e->kind == 3 ? "project" : "library",
                                                   "item_id", (json_int_t)e->item_id, "detail",
                                                   tool_json_name(e->detail))) != 0;
}

/* GET /api/audit?limit=N: the newest N entries of the audit log, newest first. */
enum MHD_Result serve_audit(serve_req *r)
{
    const char *l = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "limit");
    int64_t limit = AUDIT_DEFAULT;
    json_t *arr;
    int rc;

    if (l && serve_parse_int(l, 1, AUDIT_MAX, &limit))
        return serve_error(r, MHD_HTTP_BAD_REQUEST, "limit: 1 to %d", AUDIT_MAX);
    if (!(arr = json_array()))
        return serve_json(r, MHD_HTTP_OK, NULL, 0);
    if ((rc = shelf_audit_list(r->srv->lib, limit, on_audit, arr)) != SHELF_OK) {
        json_decref(arr);
        return serve_lib_error(r, rc);
    }
    return serve_json(r, MHD_HTTP_OK, json_pack("{s:o}", "entries", arr), 0);
}

/* ---- routing ---------------------------------------------------------------------------------- */

enum MHD_Result serve_restore(serve_req *r, const char *rest)
{
    int get = !strcmp(r->method, "GET") || !strcmp(r->method, "HEAD"), post = !strcmp(r->method, "POST");
    char num[24];
    const char *sub;
    serve_repo *rp;
    size_t n, i;

    if (!strcmp(rest, "repos") || !strcmp(rest, "job"))
        return !get ? serve_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "method %s not allowed here", r->method)
               : !strcmp(rest, "repos") ? get_repos(r) : get_job(r);
    if (!strcmp(rest, "preview") || !strcmp(rest, "apply"))
        return !post ? serve_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "method %s not allowed here", r->method)
               : !strcmp(rest, "preview") ? post_preview(r) : post_apply(r);
    if (strncmp(rest, "repos/", 6) != 0)
        return serve_error(r, MHD_HTTP_NOT_FOUND, "no such API path");
    rest += 6;
    n = strcspn(rest, "/");
    if (n >= sizeof num)
        return serve_error(r, MHD_HTTP_NOT_FOUND, "no such repository");
    memcpy(num, rest, n);
    num[n] = '\0';
    sub = rest[n] ? rest + n + 1 : "";
    if (!(rp = repo_at(r, num, &i)))
        return MHD_YES;
    if (!strcmp(sub, "password"))
        return !post ? serve_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "method %s not allowed here", r->method)
                     : post_password(r, i, rp);
    if (!strcmp(sub, "snapshots"))
        return !get ? serve_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "method %s not allowed here", r->method)
                    : get_snapshots(r, i, rp);
    if (!strncmp(sub, "snapshots/", 10)) {
        const char *ref = sub + 10;
        size_t m = strcspn(ref, "/");
        char snap[80];

        if (m >= sizeof snap || strcmp(ref + m, "/items") != 0)
            return serve_error(r, MHD_HTTP_NOT_FOUND, "no such API path");
        if (!get)
            return serve_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "method %s not allowed here", r->method);
        memcpy(snap, ref, m);
        snap[m] = '\0';
        return get_items(r, i, rp, snap);
    }
    return serve_error(r, MHD_HTTP_NOT_FOUND, "no such API path");
}
