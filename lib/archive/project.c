/*
 * project.c: a project archived to a target and brought back
 * (include/shelf/archive.h, shelf_project_archive and _unarchive;
 * doc/design.md, "Auto-archive").  An archive goes through steps recorded
 * in project_archives.state, so a run killed at any point is finished by
 * the next one:
 *
 *   exporting  the project (its patches, samples and whole history) is
 *              written as a bag with parity in a private folder of the
 *              library, sent to the target, fetched back and checked: the
 *              copy at the target must be byte for byte the export, its
 *              parity and every checksum must hold.  Then, in one
 *              transaction, archived_samples lists the samples the fetched
 *              bag holds and the state becomes
 *   verified   nothing has been freed yet.  In one transaction the samples
 *              that nothing live uses any more (no project that is not
 *              archived, no patch outside archived projects) are marked
 *              archived (samples.missing 2) and the state becomes
 *   freeing    each marked sample's file (or blob) is deleted, only when its
 *              bytes still hash to what the archive holds; one that cannot
 *              be (changed, read-only medium) is marked present again.
 *   archived   done.
 *
 * Nothing is freed before "verified"; a failure before it removes the row
 * and leaves every file where it was.  Unarchive fetches the archive,
 * checks it whole, and puts back every sample of the project that is
 * archived (whichever archive freed it: each archive holds all of its
 * project's samples), each byte checked against the catalog's SHA-256.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "archive_int.h"
#include "../catalog/catalog_int.h"

#define BUFSZ ((size_t)1 << 20)

typedef struct job {
    shelf_library *lib;
    shelf_project_archive_opts o;
    shelf_project_archive_stats *st;
    int64_t project;
    char *dir;                  /* private folder in the library (owned) */
    int lock;                   /* fd of the project's run lock, or -1 */
} job;

/* The project's row of project_archives. */
typedef struct arow {
    int found;
    char state[16];
    char *target, *name, *sha256;
} arow;

static void arow_release(arow *a)
{
    free(a->target);
    free(a->name);
    free(a->sha256);
    memset(a, 0, sizeof *a);
}

static char *col_dup(sqlite3_stmt *st, int i)
{
    const char *s = (const char *)sqlite3_column_text(st, i);

    return s ? shelf__strdup(s) : NULL;
}

static int arow_load(shelf_library *lib, int64_t project, arow *a)
{
    sqlite3_stmt *st = shelf__prepare(lib, "SELECT state, target, name, sha256 FROM project_archives "
                                           "WHERE project_id = ?1");
    int r;

    memset(a, 0, sizeof *a);
    if (!st)
        return lib->err.rc;
    sqlite3_bind_int64(st, 1, project);
    if ((r = sqlite3_step(st)) == SQLITE_ROW) {
        a->found = 1;
        snprintf(a->state, sizeof a->state, "%s", (const char *)sqlite3_column_text(st, 0));
        a->target = col_dup(st, 1);
        a->name = col_dup(st, 2);
        a->sha256 = col_dup(st, 3);
        if (!a->target || !a->name) {
            sqlite3_finalize(st);
            arow_release(a);
            return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        }
    }
    sqlite3_finalize(st);
    return r == SQLITE_ROW || r == SQLITE_DONE ? SHELF_OK : shelf__dberr(lib, "cannot read the catalog");
}

/* Run one statement with the project's id as ?1 (and text ?2 when given). */
static int exec_p(shelf_library *lib, const char *sql, int64_t project, const char *text)
{
    sqlite3_stmt *st = shelf__prepare(lib, sql);
    int r;

    if (!st)
        return lib->err.rc;
    sqlite3_bind_int64(st, 1, project);
    if (text)
        sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
    r = sqlite3_step(st);
    sqlite3_finalize(st);
    return r == SQLITE_DONE || r == SQLITE_ROW ? SHELF_OK : shelf__dberr(lib, "cannot write to the catalog");
}

static int progress(job *j, const char *phase, uint64_t done, uint64_t total)
{
    shelf_archive_progress p;

    if (!j->o.progress)
        return 0;
    memset(&p, 0, sizeof p);
    p.size = sizeof p;
    p.bytes_done = done;
    p.bytes_total = total;
    p.current = phase;
    return j->o.progress(j->o.ud, &p);
}

/* DIR/project-archive/ID/: the same folder on every run (what a killed run
 * left there went when the lock was taken: job_lock). */
static int job_dir(job *j)
{
    if (!(j->dir = shelf__asprintf("%s/" SHELF__PARCHIVE_DIR "/%lld", j->lib->path, (long long)j->project)))
        return shelf__seterr(&j->lib->err, SHELF_ENOMEM, "out of memory");
    if (mkdir(j->dir, 0700) != 0)
        return shelf__seterr_errno(&j->lib->err, errno, "cannot make the folder '%s'", j->dir);
    return SHELF_OK;
}

static void job_release(job *j)
{
    if (j->dir)
        (void)shelf__rmtree(j->dir);
    free(j->dir);
    j->dir = NULL;
}

/* One run at a time per project, across processes: DIR/project-archive/ID.lock. */
static int job_lock(job *j)
{
    char *dir = shelf__path_join(j->lib->path, SHELF__PARCHIVE_DIR), name[40];

    if (!dir)
        return shelf__seterr(&j->lib->err, SHELF_ENOMEM, "out of memory");
    snprintf(name, sizeof name, "%lld.lock", (long long)j->project);
    j->lock = shelf__run_lock(&j->lib->err, dir, name);
    free(dir);
    if (j->lock == -1)
        return shelf__seterr(&j->lib->err, SHELF_EBUSY, "project %lld is being archived or brought back by "
                             "another process", (long long)j->project);
    if (j->lock < 0)
        return j->lib->err.rc;
    /* What a killed run left in its folder goes now that the lock is ours
     * (a run that resumes past the export makes no folder of its own). */
    if ((dir = shelf__asprintf("%s/" SHELF__PARCHIVE_DIR "/%lld", j->lib->path, (long long)j->project)))
        (void)shelf__rmtree(dir);
    free(dir);
    return SHELF_OK;
}

int shelf__project_archive_running(shelf_library *lib, int64_t project)
{
    char *dir = shelf__path_join(lib->path, SHELF__PARCHIVE_DIR), name[40];
    int held;

    snprintf(name, sizeof name, "%lld.lock", (long long)project);
    held = dir && shelf__run_locked(dir, name);
    free(dir);
    return held;
}

/* SHA-256 (hex) and size of the file at path; the error on err. */
static int hash_path(shelf__err *err, const char *path, char hex[SHELF_HASH_HEX], uint64_t *size)
{
    void *buf = shelf__malloc(BUFSZ);
    int e;

    if (!buf)
        return shelf__seterr(err, SHELF_ENOMEM, "out of memory");
    e = shelf__sha256_path(path, buf, BUFSZ, hex, size);
    free(buf);
    return e ? shelf__seterr_errno(err, e, "cannot read '%s'", path) : SHELF_OK;
}

/* ---- archiving ------------------------------------------------------------ */

static int on_export(void *ud, const shelf_archive_progress *p)
{
    job *j = ud;
    shelf_archive_progress q = *p;

    if (!j->o.progress)
        return 0;
    q.current = "export";
    return j->o.progress(j->o.ud, &q);
}

/* A name for the archive at the target: the library's id, the project and
 * the time, so two libraries or two archives of one project never meet. */
static char *archive_name(job *j)
{
    char when[32];
    time_t t = (time_t)shelf__now();
    struct tm tm;
    const char *lid = shelf_library_id(j->lib);

    uint8_t r[3] = { 0, 0, 0 };
    char hex[8];

    strftime(when, sizeof when, "%Y%m%dT%H%M%SZ", gmtime_r(&t, &tm));
    (void)shelf__random(r, sizeof r);
    shelf__hex(r, sizeof r, hex);
    return shelf__asprintf("shelf-%.12s-project-%lld-%s-%s.tar.zst", lid ? lid : "library",
                           (long long)j->project, when, hex);
}

/* The file name in folder b has the bytes of the same name in folder a. */
static int same_file(shelf_library *lib, const char *a, const char *b, const char *name, const char *target,
                     const char *known, uint64_t known_size)
{
    char *pa = shelf__path_join(a, name), *pb = shelf__path_join(b, name);
    char ha[SHELF_HASH_HEX], hb[SHELF_HASH_HEX];
    uint64_t sa = known_size, sb = 0;
    int rc = SHELF_OK;

    if (known)
        memcpy(ha, known, sizeof ha);   /* the sender's hash, taken at export */
    if (!pa || !pb)
        rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    else if (access(pb, F_OK) != 0)
        rc = shelf__seterr(&lib->err, SHELF_ECORRUPT, "'%s' did not come back from %s", name, target);
    else if ((known || (rc = hash_path(&lib->err, pa, ha, &sa)) == SHELF_OK) &&
             (rc = hash_path(&lib->err, pb, hb, &sb)) == SHELF_OK && (sa != sb || strcmp(ha, hb) != 0))
        rc = shelf__seterr(&lib->err, SHELF_ECORRUPT,
                           "'%s' at %s is not the file sent (%llu bytes, sha256 %.12s..., sent %llu, %.12s...)",
                           name, target, (unsigned long long)sb, hb, (unsigned long long)sa, ha);
    free(pa);
    free(pb);
    return rc;
}

/* Every file of folder a (flat) has a twin of the same bytes in folder b;
 * the archive (first, whose hash and size are known) first. */
static int same_files(shelf_library *lib, const char *a, const char *b, const char *first, const char *sha,
                      uint64_t size, const char *target)
{
    DIR *d;
    struct dirent *de;
    int rc;

    if ((rc = same_file(lib, a, b, first, target, sha, size)) != SHELF_OK)
        return rc;
    if (!(d = opendir(a)))
        return shelf__seterr_errno(&lib->err, errno, "cannot read the folder '%s'", a);
    while (rc == SHELF_OK && (de = readdir(d)) != NULL)
        if (de->d_name[0] != '.' && de->d_type != DT_DIR && strcmp(de->d_name, first) != 0)
            rc = same_file(lib, a, b, de->d_name, target, NULL, 0);
    closedir(d);
    return rc;
}

/* The fetched bag, checked whole: parity (when asked for) intact and every
 * manifest entry matching.  The bag is kept for its list of files. */
static int check_fetched(job *j, const char *path, shelf__bag *bag)
{
    shelf_library *lib = j->lib;
    shelf__par2_report rep;
    shelf__bag_limits lim;
    int found = 0, rc;

    if (progress(j, "verify", 0, 0))
        return shelf__seterr(&lib->err, SHELF_ECANCELED, "cancelled");
    rc = shelf__archive_parity(path, &rep, &found, NULL, &lib->err);
    if (rc == SHELF_OK && found && rep.damaged)
        rc = shelf__seterr(&lib->err, SHELF_ECORRUPT, "the archive's parity says %u slices are damaged",
                           rep.bad_slices);
    shelf__par2_report_release(&rep);
    if (rc != SHELF_OK)
        return rc;
    if (j->o.parity > 0 && !found)
        return shelf__seterr(&lib->err, SHELF_ECORRUPT, "the archive's parity files did not come back");
    shelf__bag_limits_init(&lim, NULL);
    if ((rc = shelf__bag_read(path, NULL, 0, &lim, NULL, NULL, NULL, bag, &lib->err)) != SHELF_OK)
        return rc;
    if (bag->truncated)
        return shelf__seterr(&lib->err, SHELF_ECORRUPT, "%s", bag->truncated_msg ? bag->truncated_msg
                                                                              : "the archive is cut short");
    if ((rc = shelf__bag_check(bag, &lib->err)) == SHELF_ECORRUPT)
        return shelf__seterr(&lib->err, rc, "the archive at the target is damaged: %s%s%s",
                             bag->nproblems ? bag->problems[0].path : "",
                             bag->nproblems ? ": " : "", bag->nproblems ? bag->problems[0].detail : "");
    return rc;
}

/* The bag's sample files (data/samples/...) by their SHA-256, sorted, so a
 * project's samples are looked up in it without a walk each. */
typedef struct held {
    char hex[SHELF_HASH_HEX];
    shelf__bag_file *f;
} held;

static int cmp_held(const void *a, const void *b)
{
    return strcmp(((const held *)a)->hex, ((const held *)b)->hex);
}

static held *bag_samples(shelf__bag *bag, size_t *n)
{
    held *v = shelf__calloc(bag->nfiles ? bag->nfiles : 1, sizeof *v);
    size_t i;

    *n = 0;
    if (!v)
        return NULL;
    for (i = 0; i < bag->nfiles; i++)
        if (!strncmp(bag->files[i].path, "data/samples/", 13)) {
            shelf__hex(bag->files[i].sha256, SHELF_HASH_BYTES, v[*n].hex);
            v[(*n)++].f = &bag->files[i];
        }
    if (*n > 1)
        qsort(v, *n, sizeof *v, cmp_held);
    return v;
}

/* The bag's file of the bytes sha, or NULL. */
static shelf__bag_file *bag_find(const held *v, size_t n, const char *sha)
{
    held key;
    const held *h;

    if (!sha || strlen(sha) != SHELF_HASH_HEX - 1)
        return NULL;
    memcpy(key.hex, sha, sizeof key.hex);
    h = n ? bsearch(&key, v, n, sizeof *v, cmp_held) : NULL;
    return h ? h->f : NULL;
}

/* The project's samples (directly or through its patches) that the bag
 * holds at their catalog SHA-256, into archived_samples; the state then
 * "verified".  One transaction. */
static int record_verified(job *j, shelf__bag *bag, const char *sha, uint64_t bytes)
{
    shelf_library *lib = j->lib;
    sqlite3_stmt *sel = NULL, *ins = NULL;
    size_t nh = 0;
    held *hv = bag_samples(bag, &nh);
    int rc, r;

    if (!hv)
        return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    if ((rc = shelf__begin(lib)) != SHELF_OK) {
        free(hv);
        return rc;
    }
    sel = shelf__prepare(lib, "SELECT s.id, s.sha256 FROM samples s WHERE s.id IN (\n"
                              "  SELECT sample_id FROM project_samples WHERE project_id = ?1 UNION\n"
                              "  SELECT ps.sample_id FROM project_patches pp JOIN patch_samples ps\n"
                              "    ON ps.patch_id = pp.patch_id WHERE pp.project_id = ?1)");
    ins = shelf__prepare(lib, "INSERT OR REPLACE INTO archived_samples(project_id, sample_id, sha256, freed)\n"
                              "  VALUES(?1, ?2, ?3, 0)");
    if (!sel || !ins) {
        rc = lib->err.rc;
        goto out;
    }
    if ((rc = exec_p(lib, "DELETE FROM archived_samples WHERE project_id = ?1", j->project, NULL)) != SHELF_OK)
        goto out;
    sqlite3_bind_int64(sel, 1, j->project);
    while ((r = sqlite3_step(sel)) == SQLITE_ROW) {
        int64_t sid = sqlite3_column_int64(sel, 0);
        const char *ssha = (const char *)sqlite3_column_text(sel, 1);

        if (!bag_find(hv, nh, ssha))
            continue;       /* the bag does not hold these bytes: not freed */
        sqlite3_reset(ins);
        sqlite3_bind_int64(ins, 1, j->project);
        sqlite3_bind_int64(ins, 2, sid);
        sqlite3_bind_text(ins, 3, ssha, -1, SQLITE_STATIC);
        if (sqlite3_step(ins) != SQLITE_DONE) {
            rc = shelf__dberr(lib, "cannot write to the catalog");
            goto out;
        }
        j->st->samples++;
    }
    if (r != SQLITE_DONE) {
        rc = shelf__dberr(lib, "cannot read the catalog");
        goto out;
    }
    sqlite3_finalize(ins);
    ins = NULL;
    if (!(ins = shelf__prepare(lib, "UPDATE project_archives SET state = 'verified', sha256 = ?2, bytes = ?3,\n"
                                    "  samples = ?4 WHERE project_id = ?1"))) {
        rc = lib->err.rc;
        goto out;
    }
    sqlite3_bind_int64(ins, 1, j->project);
    sqlite3_bind_text(ins, 2, sha, -1, SQLITE_STATIC);
    sqlite3_bind_int64(ins, 3, (sqlite3_int64)bytes);
    sqlite3_bind_int64(ins, 4, (sqlite3_int64)j->st->samples);
    rc = sqlite3_step(ins) == SQLITE_DONE ? SHELF_OK : shelf__dberr(lib, "cannot write to the catalog");
out:
    free(hv);
    sqlite3_finalize(sel);
    sqlite3_finalize(ins);
    if (rc == SHELF_OK)
        return shelf__commit(lib);
    shelf__rollback(lib);
    return rc;
}

/* exporting -> verified: export, send, fetch back, compare, check. */
static int step_export(job *j, const char *target, const char *name, int resumed)
{
    shelf_library *lib = j->lib;
    shelf_archive_export_opts eo;
    shelf_transfer_opts to;
    shelf__bag bag;
    char *out = NULL, *back = NULL, *fetched = NULL, *msg = NULL, sha[SHELF_HASH_HEX];
    uint64_t bytes = 0;
    int64_t pid = j->project;
    int rc, pass;

    memset(&bag, 0, sizeof bag);
    if ((rc = job_dir(j)) != SHELF_OK)
        return rc;
    out = shelf__path_join(j->dir, name);
    back = shelf__path_join(j->dir, "back");
    fetched = back ? shelf__path_join(back, name) : NULL;
    if (!out || !back || !fetched) {
        rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    memset(&eo, 0, sizeof eo);
    eo.size = sizeof eo;
    eo.format = SHELF_ARCHIVE_TAR_ZSTD;
    eo.projects = &pid;
    eo.nprojects = 1;
    eo.parity = j->o.parity > 0 ? j->o.parity : 0;
    eo.sync = 1;
    eo.progress = on_export;
    eo.ud = j;
    if ((rc = shelf_archive_export(lib, out, &eo, NULL)) != SHELF_OK)
        goto out;
    if ((rc = hash_path(&lib->err, out, sha, &bytes)) != SHELF_OK)
        goto out;
    if (progress(j, "upload", 0, bytes)) {
        rc = shelf__seterr(&lib->err, SHELF_ECANCELED, "cancelled");
        goto out;
    }
    memset(&to, 0, sizeof to);
    to.size = sizeof to;
    if (j->o.transfer)
        to = *j->o.transfer;
    /* A run that was stopped may have sent some files whole: those stay
     * (an S3 upload cut short goes on where it stopped).  When the copy
     * there is not this export after all, it is replaced once. */
    for (pass = resumed ? SHELF__UPLOAD_RESUME : SHELF__UPLOAD_CREATE;; pass = SHELF__UPLOAD_REPLACE) {
        if ((rc = shelf__archive_send(out, target, &to, pass, NULL, &lib->err)) != SHELF_OK)
            goto out;
        if ((rc = shelf__rmtree(back)) != 0 || mkdir(back, 0700) != 0) {
            rc = shelf__seterr_errno(&lib->err, rc ? rc : errno, "cannot make the folder '%s'", back);
            goto out;
        }
        if (progress(j, "fetch", 0, bytes)) {
            rc = shelf__seterr(&lib->err, SHELF_ECANCELED, "cancelled");
            goto out;
        }
        if ((rc = shelf_archive_download(target, name, back, &to, NULL, &msg)) != SHELF_OK) {
            shelf__seterr(&lib->err, rc, "%s", msg ? msg : shelf_strerror(rc));
            goto out;
        }
        rc = same_files(lib, j->dir, back, name, sha, bytes, target);
        if (rc != SHELF_ECORRUPT || pass != SHELF__UPLOAD_RESUME)
            break;
    }
    if (rc != SHELF_OK || (rc = check_fetched(j, fetched, &bag)) != SHELF_OK)
        goto out;
    rc = record_verified(j, &bag, sha, bytes);
    j->st->archive_bytes = bytes;
out:
    shelf__bag_release(&bag);
    shelf_free(msg);
    free(out);
    free(back);
    free(fetched);
    job_release(j);
    return rc;
}

/* verified -> freeing: mark what nothing live uses.  A sample is live when
 * a project that is not archived (verified or further) uses it, directly
 * or through a patch, or a patch in no project at all does. */
#define ARCHIVED_PROJECTS \
    "(SELECT project_id FROM project_archives WHERE state IN ('verified', 'freeing', 'archived'))"
static const char mark_sql[] =
    "CREATE TEMP TABLE IF NOT EXISTS archive_free(id INTEGER PRIMARY KEY);\n"
    "DELETE FROM archive_free;\n";
static const char pick_sql[] =
    "INSERT INTO archive_free(id) SELECT a.sample_id FROM archived_samples a\n"
    "  JOIN samples s ON s.id = a.sample_id\n"
    "WHERE a.project_id = ?1 AND s.missing = 0 AND s.sha256 = a.sha256\n"
    "  AND NOT EXISTS (SELECT 1 FROM project_samples ps WHERE ps.sample_id = s.id\n"
    "    AND ps.project_id NOT IN " ARCHIVED_PROJECTS ")\n"
    "  AND NOT EXISTS (SELECT 1 FROM patch_samples pt WHERE pt.sample_id = s.id AND (\n"
    "    NOT EXISTS (SELECT 1 FROM project_patches pp WHERE pp.patch_id = pt.patch_id)\n"
    "    OR EXISTS (SELECT 1 FROM project_patches pp WHERE pp.patch_id = pt.patch_id\n"
    "      AND pp.project_id NOT IN " ARCHIVED_PROJECTS ")))";

static int step_mark(job *j)
{
    shelf_library *lib = j->lib;
    int rc;

    if ((rc = shelf__begin(lib)) != SHELF_OK)
        return rc;
    if ((rc = shelf__exec(lib, mark_sql)) != SHELF_OK)
        goto fail;
    if (!j->o.keep_local) {
        if ((rc = exec_p(lib, pick_sql, j->project, NULL)) != SHELF_OK ||
            (rc = exec_p(lib, "UPDATE samples SET missing = 2 WHERE id IN (SELECT id FROM archive_free)",
                         j->project, NULL)) != SHELF_OK ||
            (rc = exec_p(lib, "UPDATE archived_samples SET freed = 1 WHERE project_id = ?1 AND\n"
                              "  sample_id IN (SELECT id FROM archive_free)", j->project, NULL)) != SHELF_OK)
            goto fail;
    }
    if ((rc = exec_p(lib, "UPDATE project_archives SET state = 'freeing' WHERE project_id = ?1", j->project,
                     NULL)) != SHELF_OK)
        goto fail;
    return shelf__commit(lib);
fail:
    shelf__rollback(lib);
    return rc;
}

/* A freed sample that could not be freed is present again. */
static int unmark(shelf_library *lib, int64_t sid)
{
    int rc;

    if ((rc = exec_p(lib, "UPDATE samples SET missing = 0 WHERE id = ?1 AND missing = 2", sid, NULL)) != SHELF_OK)
        return rc;
    return exec_p(lib, "UPDATE archived_samples SET freed = 0 WHERE sample_id = ?1", sid, NULL);
}

/* Delete one marked sample's bytes: its file when its bytes are still
 * those archived, or its blob when no present sample shares it.
 * *freed: bytes freed; *kept 1 when it stays (and is unmarked). */
static int free_one(job *j, int64_t sid, const char *root, const char *rel, const char *blob, const char *sha,
                    uint64_t *freed, int *kept)
{
    shelf_library *lib = j->lib;
    char hex[SHELF_HASH_HEX];
    uint64_t size = 0;
    char *path;
    int rc;

    *freed = 0;
    *kept = 0;
    if (blob) {
        int64_t others = 0;

        if ((rc = shelf__query_int(lib, "SELECT count(*) FROM samples WHERE blob = ?1 AND missing != 2", blob,
                                   &others)) != SHELF_OK)
            return rc;
        if (others)
            return SHELF_OK;
        /* the blob's bytes were checked when it was stored; their size is
         * what goes (no reading it whole only to delete it) */
        if ((path = shelf__store_path(&lib->store, blob)) != NULL) {
            struct stat sb;

            if (stat(path, &sb) == 0)
                *freed = (uint64_t)sb.st_size;
        }
        free(path);
        return shelf__store_remove(&lib->store, blob);
    }
    if (!(path = shelf__sample_abspath(root, rel)))
        return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    rc = hash_path(&lib->err, path, hex, &size);
    if (rc == SHELF_ENOTFOUND) {
        free(path);     /* gone already: an earlier run deleted it */
        return SHELF_OK;
    }
    if (rc == SHELF_ENOMEM) {
        free(path);
        return rc;
    }
    if (rc != SHELF_OK || strcmp(hex, sha) != 0 || unlink(path) != 0) {
        /* changed since, unreadable, or on a medium that cannot delete:
         * it stays, present */
        free(path);
        *kept = 1;
        return unmark(lib, sid);
    }
    *freed = size;
    free(path);
    return SHELF_OK;
}

typedef struct wanted {
    int64_t id, mtime_ns;
    char *root, *rel, *blob, *sha;
} wanted;

static void wanted_free(wanted *w, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        free(w[i].root);
        free(w[i].rel);
        free(w[i].blob);
        free(w[i].sha);
    }
    free(w);
}

/* Samples of archived_samples rows that where (SQL over a and s) picks for
 * project; read whole before anything is written. */
static int load_wanted(shelf_library *lib, int64_t project, const char *where, wanted **out, size_t *count)
{
    char *sql = shelf__asprintf("SELECT s.id, r.path, s.relpath, s.blob, a.sha256, s.mtime_ns\n"
                                "FROM archived_samples a JOIN samples s ON s.id = a.sample_id\n"
                                "  JOIN roots r ON r.id = s.root_id\n"
                                "WHERE a.project_id = ?1 AND %s ORDER BY s.id", where);
    sqlite3_stmt *st = sql ? shelf__prepare(lib, sql) : NULL;
    wanted *w = NULL;
    size_t n = 0, cap = 0;
    int r, rc = SHELF_OK;

    *out = NULL;
    *count = 0;
    free(sql);
    if (!st)
        return sql ? lib->err.rc : shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    sqlite3_bind_int64(st, 1, project);
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            wanted *nw = shelf__realloc(w, nc * sizeof *nw);

            if (!nw) {
                rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
                break;
            }
            w = nw;
            cap = nc;
        }
        memset(&w[n], 0, sizeof w[n]);
        w[n].id = sqlite3_column_int64(st, 0);
        w[n].root = col_dup(st, 1);
        w[n].rel = col_dup(st, 2);
        w[n].blob = col_dup(st, 3);
        w[n].sha = col_dup(st, 4);
        w[n].mtime_ns = sqlite3_column_int64(st, 5);
        n++;
        if (!w[n - 1].root || !w[n - 1].rel || !w[n - 1].sha ||
            (sqlite3_column_type(st, 3) != SQLITE_NULL && !w[n - 1].blob)) {
            rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
            break;
        }
    }
    if (rc == SHELF_OK && r != SQLITE_DONE)
        rc = shelf__dberr(lib, "cannot read the catalog");
    sqlite3_finalize(st);
    if (rc != SHELF_OK) {
        wanted_free(w, n);
        return rc;
    }
    *out = w;
    *count = n;
    return SHELF_OK;
}

/* freeing -> archived. */
static int step_free(job *j)
{
    shelf_library *lib = j->lib;
    sqlite3_stmt *st;
    wanted *v = NULL;
    size_t n = 0, i;
    uint64_t freed;
    int rc, kept;

    rc = load_wanted(lib, j->project, "a.freed AND s.missing = 2", &v, &n);
    for (i = 0; i < n && rc == SHELF_OK; i++) {
        if (progress(j, "free", i, n)) {
            rc = shelf__seterr(&lib->err, SHELF_ECANCELED, "cancelled");
            break;
        }
        if ((rc = free_one(j, v[i].id, v[i].root, v[i].rel, v[i].blob, v[i].sha, &freed, &kept)) != SHELF_OK)
            break;
        if (kept) {
            j->st->kept++;
        } else {
            j->st->freed++;
            j->st->freed_bytes += freed;
        }
    }
    wanted_free(v, n);
    if (rc != SHELF_OK)
        return rc;
    if ((rc = shelf__begin(lib)) != SHELF_OK)
        return rc;
    st = shelf__prepare(lib, "UPDATE project_archives SET state = 'archived', archived = ?2,\n"
                             "  freed_bytes = freed_bytes + ?3 WHERE project_id = ?1");
    if (!st) {
        shelf__rollback(lib);
        return lib->err.rc;
    }
    sqlite3_bind_int64(st, 1, j->project);
    sqlite3_bind_int64(st, 2, shelf__clock_now());
    sqlite3_bind_int64(st, 3, (sqlite3_int64)j->st->freed_bytes);
    rc = sqlite3_step(st) == SQLITE_DONE ? SHELF_OK : shelf__dberr(lib, "cannot write to the catalog");
    sqlite3_finalize(st);
    if (rc == SHELF_OK)
        rc = exec_p(lib, "INSERT INTO audit_log(time, action, kind, item_id, detail)\n"
                         "  SELECT unixepoch(), 'project-archive', " SHELF__KIND_PROJECT_SQL ", project_id,\n"
                         "    target || ' archives/' || name || '; ' || ?2 FROM project_archives\n"
                         "  WHERE project_id = ?1", j->project, "archived");
    if (rc != SHELF_OK) {
        shelf__rollback(lib);
        return rc;
    }
    return shelf__commit(lib);
}

static int opts_in(shelf_library *lib, job *j, int64_t project, const shelf_project_archive_opts *o,
                   shelf_project_archive_stats *st)
{
    int64_t n = 0;
    int rc;

    memset(j, 0, sizeof *j);
    j->lock = -1;
    j->lib = lib;
    j->project = project;
    j->st = st;
    if ((rc = shelf__opts_check(&lib->err, &j->o, sizeof j->o, o, sizeof j->o,
                                "shelf_project_archive_opts")) != SHELF_OK)
        return rc;
    if (j->o.parity == 0)
        j->o.parity = 10;
    if (j->o.parity > 100)
        return shelf__seterr(&lib->err, SHELF_EINVAL, "parity of %g%% is out of range (0..100)", j->o.parity);
    if ((rc = shelf__writable(lib)) != SHELF_OK)
        return rc;
    {
        char id[32];

        snprintf(id, sizeof id, "%lld", (long long)project);
        if ((rc = shelf__query_int(lib, "SELECT count(*) FROM projects WHERE id = ?1", id, &n)) != SHELF_OK)
            return rc;
    }
    if (!n)
        return shelf__seterr(&lib->err, SHELF_ENOTFOUND, "no project %lld", (long long)project);
    return job_lock(j);
}

static int project_archive(shelf_library *lib, int64_t project, const char *target,
                           const shelf_project_archive_opts *o, shelf_project_archive_stats *st)
{
    job j;
    arow a;
    double t0 = shelf__monotonic();
    int rc, resumed = 0;

    memset(&a, 0, sizeof a);
    if ((rc = opts_in(lib, &j, project, o, st)) != SHELF_OK || (rc = arow_load(lib, project, &a)) != SHELF_OK)
        goto out;
    if (a.found && !strcmp(a.state, "archived")) {
        rc = shelf__seterr(&lib->err, SHELF_EEXIST, "project %lld is archived already, in %s as %s",
                           (long long)project, a.target, a.name);
        goto out;
    }
    if (a.found && strcmp(a.state, "exporting") != 0) {
        /* verified or freeing: the archive is safe; finish on its target */
        resumed = 1;
    } else if (a.found && target && strcmp(target, a.target) != 0) {
        /* an export begun to another target: begin again on this one */
        a.found = 0;
    } else if (a.found) {
        resumed = 1;
    }
    if (!a.found) {
        char *name = archive_name(&j);
        sqlite3_stmt *ins;

        if (!target || !*target) {
            free(name);
            rc = shelf__seterr(&lib->err, SHELF_EINVAL, "no target to archive project %lld to",
                               (long long)project);
            goto out;
        }
        arow_release(&a);
        a.target = shelf__strdup(target);
        a.name = name;
        snprintf(a.state, sizeof a.state, "exporting");
        if (!a.target || !a.name) {
            rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
            goto out;
        }
        if (!(ins = shelf__prepare(lib, "INSERT OR REPLACE INTO project_archives(project_id, state, target, name,\n"
                                        "  started) VALUES(?1, 'exporting', ?2, ?3, ?4)"))) {
            rc = lib->err.rc;
            goto out;
        }
        sqlite3_bind_int64(ins, 1, project);
        sqlite3_bind_text(ins, 2, a.target, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 3, a.name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(ins, 4, shelf__clock_now());
        rc = sqlite3_step(ins) == SQLITE_DONE ? SHELF_OK : shelf__dberr(lib, "cannot write to the catalog");
        sqlite3_finalize(ins);
        if (rc != SHELF_OK)
            goto out;
    }
    st->resumed = resumed;
    snprintf(st->name, sizeof st->name, "%s", a.name);
    snprintf(st->target, sizeof st->target, "%s", a.target);
    if (!strcmp(a.state, "exporting")) {
        if ((rc = step_export(&j, a.target, a.name, resumed)) != SHELF_OK) {
            /* nothing freed: the record goes, the files stay */
            shelf__err keep = lib->err;

            (void)exec_p(lib, "DELETE FROM project_archives WHERE project_id = ?1", project, NULL);
            lib->err = keep;
            goto out;
        }
        snprintf(a.state, sizeof a.state, "verified");
    }
    if (!strcmp(a.state, "verified")) {
        if ((rc = step_mark(&j)) != SHELF_OK)
            goto out;
        snprintf(a.state, sizeof a.state, "freeing");
    }
    rc = step_free(&j);
out:
    st->seconds = shelf__monotonic() - t0;
    arow_release(&a);
    if (j.lock >= 0)
        close(j.lock);
    return rc;
}

int shelf_project_archive(shelf_library *lib, int64_t project, const char *target,
                          const shelf_project_archive_opts *o, shelf_project_archive_stats *st)
{
    shelf_project_archive_stats full;
    int rc;

    memset(&full, 0, sizeof full);
    full.size = sizeof full;
    rc = project_archive(lib, project, target, o, &full);
    shelf__out_fill(st, &full, sizeof full);
    return rc;
}

/* ---- unarchiving ------------------------------------------------------------ */

/* Copy src to the new file dst (never over one), its bytes checked against
 * sha while they are copied, then given mtime_ns. */
static int put_back(shelf__err *err, const char *src, const char *dst, const char *sha, int64_t mtime_ns)
{
    const char *slash = strrchr(dst, '/');
    char *dir = NULL, *tmp = NULL, hex[SHELF_HASH_HEX];
    uint8_t h[SHELF_HASH_BYTES];
    shelf__sha256 *hs = shelf__sha256_new();
    void *buf = shelf__malloc(BUFSZ);
    struct timespec ts[2];
    int in = -1, out = -1, rc = SHELF_OK, e;
    ssize_t got;

    if (!slash)
        return shelf__seterr(err, SHELF_EINVAL, "'%s' is not an absolute path", dst);
    if (!hs || !buf || !(dir = shelf__strndup(dst, (size_t)(slash - dst))) ||
        !(tmp = shelf__asprintf("%s/.shelf-unarchive-XXXXXX", dir))) {
        rc = shelf__seterr(err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    if (*dir && (e = shelf__mkdirs(dir, 0755)) != 0) {
        rc = shelf__seterr_errno(err, e, "cannot make the folder '%s'", dir);
        goto out;
    }
    if ((in = open(src, O_RDONLY | O_CLOEXEC)) < 0) {
        rc = shelf__seterr_errno(err, errno, "cannot open '%s'", src);
        goto out;
    }
    if ((out = mkostemp(tmp, O_CLOEXEC)) < 0) {
        rc = shelf__seterr_errno(err, errno, "cannot create a file beside '%s'", dst);
        goto out;
    }
    while ((got = read(in, buf, BUFSZ)) > 0) {
        shelf__sha256_update(hs, buf, (size_t)got);
        if ((e = shelf__write_all(out, buf, (size_t)got)) != 0) {
            rc = shelf__seterr_errno(err, e, "cannot write '%s'", tmp);
            goto out;
        }
    }
    if (got < 0) {
        rc = shelf__seterr_errno(err, errno, "cannot read '%s'", src);
        goto out;
    }
    shelf__sha256_final(hs, h);
    shelf__hex(h, sizeof h, hex);
    if (strcmp(hex, sha) != 0) {
        rc = shelf__seterr(err, SHELF_ECORRUPT, "'%s' does not hash to its catalog SHA-256", src);
        goto out;
    }
    (void)fchmod(out, 0644);
    ts[0].tv_sec = ts[1].tv_sec = (time_t)(mtime_ns / 1000000000);
    ts[0].tv_nsec = ts[1].tv_nsec = (long)(mtime_ns % 1000000000);
    (void)futimens(out, ts);
    if (fsync(out) != 0) {
        rc = shelf__seterr_errno(err, errno, "cannot write '%s'", tmp);
        goto out;
    }
    /* never over a file that came there meanwhile */
    if (link(tmp, dst) != 0)
        rc = shelf__seterr_errno(err, errno, "cannot put back '%s'", dst);
    else
        (void)shelf__fsync_dir(*dir ? dir : "/");
out:
    if (out >= 0) {
        close(out);
        (void)unlink(tmp);
    }
    if (in >= 0)
        close(in);
    free(dir);
    free(tmp);
    free(buf);
    if (hs)
        shelf__sha256_free(hs);
    return rc;
}

/* Bring back one archived sample from the staged bag. */
static int bring_back(job *j, const held *hv, size_t nh, int64_t sid, const char *root, const char *rel,
                      const char *blob, const char *sha, int64_t mtime_ns, uint64_t *bytes)
{
    shelf_library *lib = j->lib;
    const shelf__bag_file *f = bag_find(hv, nh, sha);     /* the bytes, under whichever id */
    const char *src = f ? f->staged : NULL;
    char hex[SHELF_HASH_HEX], *path;
    uint64_t size = 0;
    struct stat sb;
    int rc;

    if (!src)
        return shelf__seterr(&lib->err, SHELF_ECORRUPT, "sample %lld (sha256 %.12s...) is not in the archive",
                             (long long)sid, sha);
    if (stat(src, &sb) == 0)
        *bytes = (uint64_t)sb.st_size;
    if (blob) {
        if ((rc = shelf__store_put_file(&lib->store, src, blob)) != SHELF_OK)
            return rc;
    } else {
        if (!(path = shelf__sample_abspath(root, rel)))
            return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        rc = hash_path(&lib->err, path, hex, &size);
        if (rc == SHELF_OK && strcmp(hex, sha) != 0)
            rc = shelf__seterr(&lib->err, SHELF_EEXIST, "'%s' is there and holds other bytes than sample %lld; "
                               "move it away and run unarchive again", path, (long long)sid);
        else if (rc == SHELF_ENOTFOUND)
            rc = put_back(&lib->err, src, path, sha, mtime_ns);
        free(path);
        if (rc != SHELF_OK)
            return rc;
    }
    if ((rc = shelf__begin(lib)) != SHELF_OK)
        return rc;
    if ((rc = exec_p(lib, "UPDATE samples SET missing = 0 WHERE id = ?1", sid, NULL)) != SHELF_OK ||
        (rc = exec_p(lib, "UPDATE archived_samples SET freed = 0 WHERE sample_id = ?1", sid, NULL)) != SHELF_OK) {
        shelf__rollback(lib);
        return rc;
    }
    return shelf__commit(lib);
}

static int project_unarchive(shelf_library *lib, int64_t project, const shelf_project_archive_opts *o,
                             shelf_project_archive_stats *st)
{
    shelf_transfer_opts to;
    shelf__bag_limits lim;
    shelf__bag bag;
    shelf__par2_report rep;
    job j;
    arow a;
    wanted *w = NULL;
    size_t n = 0, i;
    char *msg = NULL, *fetched = NULL, *stage = NULL, *par2 = NULL;
    double t0 = shelf__monotonic();
    int rc, found = 0;
    held *hv = NULL;
    size_t nh = 0;

    memset(&bag, 0, sizeof bag);
    memset(&a, 0, sizeof a);
    if ((rc = opts_in(lib, &j, project, o, st)) != SHELF_OK || (rc = arow_load(lib, project, &a)) != SHELF_OK)
        goto out;
    if (!a.found) {
        rc = shelf__seterr(&lib->err, SHELF_ENOTFOUND, "project %lld is not archived", (long long)project);
        goto out;
    }
    snprintf(st->name, sizeof st->name, "%s", a.name);
    snprintf(st->target, sizeof st->target, "%s", a.target);
    /* the project's samples archived here, whichever archive freed them */
    if ((rc = load_wanted(lib, project, "s.missing = 2 AND s.sha256 = a.sha256", &w, &n)) != SHELF_OK)
        goto out;
    if (n) {
        if ((rc = job_dir(&j)) != SHELF_OK)
            goto out;
        fetched = shelf__path_join(j.dir, a.name);
        stage = shelf__path_join(j.dir, "stage");
        if (!fetched || !stage) {
            rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
            goto out;
        }
        if (progress(&j, "fetch", 0, 0)) {
            rc = shelf__seterr(&lib->err, SHELF_ECANCELED, "cancelled");
            goto out;
        }
        memset(&to, 0, sizeof to);
        to.size = sizeof to;
        if (j.o.transfer)
            to = *j.o.transfer;
        if ((rc = shelf_archive_download(a.target, a.name, j.dir, &to, NULL, &msg)) != SHELF_OK) {
            shelf__seterr(&lib->err, rc, "%s", msg ? msg : shelf_strerror(rc));
            goto out;
        }
        /* Damage the parity can mend is mended first (in this copy). */
        rc = shelf__archive_parity(fetched, &rep, &found, &par2, &lib->err);
        if ((rc == SHELF_OK || rc == SHELF_ECORRUPT) && found && rep.damaged) {
            shelf__par2_params pp;
            shelf__err perr = { 0, "" };

            shelf__par2_report_release(&rep);
            memset(&pp, 0, sizeof pp);
            pp.data = fetched;
            if (progress(&j, "repair", 0, 0)) {
                rc = shelf__seterr(&lib->err, SHELF_ECANCELED, "cancelled");
                goto out;
            }
            if ((rc = shelf__par2_repair(par2, &pp, &rep, &perr)) != SHELF_OK)
                rc = shelf__seterr(&lib->err, SHELF_ECORRUPT, "the archive %s in %s is damaged beyond what its "
                                   "parity mends: %s", a.name, a.target, perr.msg);
            else
                st->repaired = 1;
        } else if (rc == SHELF_ECORRUPT) {
            rc = SHELF_OK;      /* unusable parity: the checksums below decide */
        }
        shelf__par2_report_release(&rep);
        if (rc != SHELF_OK)
            goto out;
        if (mkdir(stage, 0700) != 0) {
            rc = shelf__seterr_errno(&lib->err, errno, "cannot make the folder '%s'", stage);
            goto out;
        }
        if (progress(&j, "verify", 0, 0)) {
            rc = shelf__seterr(&lib->err, SHELF_ECANCELED, "cancelled");
            goto out;
        }
        shelf__bag_limits_init(&lim, NULL);
        if ((rc = shelf__bag_read(fetched, NULL, 0, &lim, stage, NULL, NULL, &bag, &lib->err)) != SHELF_OK)
            goto out;
        if (bag.truncated) {
            rc = shelf__seterr(&lib->err, SHELF_ECORRUPT, "the archive %s is cut short", a.name);
            goto out;
        }
        if ((rc = shelf__bag_check(&bag, &lib->err)) != SHELF_OK) {
            if (rc == SHELF_ECORRUPT)
                shelf__seterr(&lib->err, rc, "the archive %s in %s is damaged: %s", a.name, a.target,
                              bag.nproblems ? bag.problems[0].path : "");
            goto out;
        }
        if (!(hv = bag_samples(&bag, &nh))) {
            rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
            goto out;
        }
        for (i = 0; i < n; i++) {
            uint64_t bytes = 0;

            if (progress(&j, "restore", i, n)) {
                rc = shelf__seterr(&lib->err, SHELF_ECANCELED, "cancelled");
                goto out;
            }
            if ((rc = bring_back(&j, hv, nh, w[i].id, w[i].root, w[i].rel, w[i].blob, w[i].sha, w[i].mtime_ns,
                                 &bytes)) != SHELF_OK)
                goto out;
            st->freed++;
            st->freed_bytes += bytes;
        }
    }
    if ((rc = shelf__begin(lib)) != SHELF_OK)
        goto out;
    if ((rc = exec_p(lib, "INSERT INTO audit_log(time, action, kind, item_id, detail)\n"
                          "  SELECT unixepoch(), 'project-unarchive', " SHELF__KIND_PROJECT_SQL ", project_id,\n"
                          "    target || ' archives/' || name || '; ' || ?2 FROM project_archives\n"
                          "  WHERE project_id = ?1", project, "brought back")) != SHELF_OK ||
        (rc = exec_p(lib, "DELETE FROM project_archives WHERE project_id = ?1", project, NULL)) != SHELF_OK) {
        shelf__rollback(lib);
        goto out;
    }
    rc = shelf__commit(lib);
out:
    st->samples = n;
    st->seconds = shelf__monotonic() - t0;
    shelf__bag_release(&bag);
    free(hv);
    shelf_free(msg);
    free(fetched);
    free(stage);
    free(par2);
    wanted_free(w, n);
    job_release(&j);
    arow_release(&a);
    if (j.lock >= 0)
        close(j.lock);
    return rc;
}

int shelf_project_unarchive(shelf_library *lib, int64_t project, const shelf_project_archive_opts *o,
                            shelf_project_archive_stats *st)
{
    shelf_project_archive_stats full;
    int rc;

    memset(&full, 0, sizeof full);
    full.size = sizeof full;
    rc = project_unarchive(lib, project, o, &full);
    shelf__out_fill(st, &full, sizeof full);
    return rc;
}

/* ---- listing ------------------------------------------------------------------ */

int shelf_project_archives(shelf_library *lib, int64_t project, shelf_project_archived_cb cb, void *ud)
{
    sqlite3_stmt *st = shelf__prepare(lib,
        "SELECT a.project_id, p.name, a.state, a.target, a.name, a.started, coalesce(a.archived, 0), a.bytes,\n"
        "  a.samples, (SELECT count(*) FROM archived_samples x JOIN samples s ON s.id = x.sample_id\n"
        "    WHERE x.project_id = a.project_id AND x.freed AND s.missing = 2), a.freed_bytes\n"
        "FROM project_archives a JOIN projects p ON p.id = a.project_id\n"
        "WHERE ?1 = 0 OR a.project_id = ?1 ORDER BY a.project_id");
    shelf_project_archived x;
    int r, rc = SHELF_OK;

    if (!st)
        return lib->err.rc;
    sqlite3_bind_int64(st, 1, project);
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        memset(&x, 0, sizeof x);
        x.size = sizeof x;
        x.project = sqlite3_column_int64(st, 0);
        x.project_name = (const char *)sqlite3_column_text(st, 1);
        x.state = (const char *)sqlite3_column_text(st, 2);
        x.target = (const char *)sqlite3_column_text(st, 3);
        x.name = (const char *)sqlite3_column_text(st, 4);
        x.started = sqlite3_column_int64(st, 5);
        x.archived = sqlite3_column_int64(st, 6);
        x.bytes = (uint64_t)sqlite3_column_int64(st, 7);
        x.samples = (uint64_t)sqlite3_column_int64(st, 8);
        x.freed = (uint64_t)sqlite3_column_int64(st, 9);
        x.freed_bytes = (uint64_t)sqlite3_column_int64(st, 10);
        if (cb(ud, &x) != 0) {
            rc = SHELF_ECANCELED;
            break;
        }
    }
    if (rc == SHELF_OK && r != SQLITE_DONE)
        rc = shelf__dberr(lib, "cannot read the catalog");
    sqlite3_finalize(st);
    return rc;
}

int shelf_project_unused(shelf_library *lib, int64_t before, int64_t **ids, size_t *n)
{
    sqlite3_stmt *st = shelf__prepare(lib,
        "SELECT p.id FROM projects p LEFT JOIN project_archives a ON a.project_id = p.id\n"
        "WHERE a.project_id IS NULL AND max(coalesce(p.last_used, 0), coalesce(p.modified, 0), p.created) < ?1\n"
        "ORDER BY p.id");
    int64_t *v = NULL;
    size_t k = 0, cap = 0;
    int r, rc = SHELF_OK;

    *ids = NULL;
    *n = 0;
    if (!st)
        return lib->err.rc;
    sqlite3_bind_int64(st, 1, before);
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (k == cap) {
            size_t nc = cap ? cap * 2 : 16;
            int64_t *nv = shelf__realloc(v, nc * sizeof *nv);

            if (!nv) {
                rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
                break;
            }
            v = nv;
            cap = nc;
        }
        v[k++] = sqlite3_column_int64(st, 0);
    }
    if (rc == SHELF_OK && r != SQLITE_DONE)
        rc = shelf__dberr(lib, "cannot read the catalog");
    sqlite3_finalize(st);
    if (rc != SHELF_OK) {
        free(v);
        return rc;
    }
    *ids = v;
    *n = k;
    return SHELF_OK;
}
