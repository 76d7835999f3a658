/*
 * import.c: walk folders, compare with the catalog, probe and hash what is
 * new or changed, and write the results in short batched transactions.
 *
 *   walk (stat only) -> known rows of the scope, from the catalog
 *   -> for each file: unchanged (size, mtime) | read once: hash + probe
 *   -> batch in memory -> one IMMEDIATE transaction per batch (upsert,
 *      moves by content hash) -> vanished files marked missing
 *
 * Reading, hashing and probing run on a reader thread, one batch ahead of
 * the calling thread, which writes batches and runs every callback.
 * A killed import loses at most the batch in memory; the next run finds the
 * committed rows unchanged and goes on.  Writers hold the catalog's write
 * lock only while a batch is written, so several importers and readers can
 * share a library.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "../catalog/catalog_int.h"
#include "../media/media_int.h"
#include "../media/kit_int.h"
#include "import_int.h"

#define DEFAULT_BATCH 500
#define WHOLE_FILE_MAX (64u << 20)   /* read files up to this size in one go */
#define STREAM_BUF (1u << 20)
#define PROGRESS_EVERY 0.1           /* seconds */

/* A catalog row under the scope being imported. */
typedef struct known {
    char *rel;
    int64_t id;
    uint64_t size;
    int64_t mtime_ns;
    int missing, managed;
    char *blob;             /* managed rows: the copy's hash (= the row's SHA-256) */
    int present;            /* the walk found its file (set before reading) */
    int taken;              /* its file vanished and a move took the row over */
} known;

/* A Hydrogen kit found beside the files (drumkit.xml), and what it says
 * of each of its files. */
typedef struct kitrec {
    char *name, *author;
    char **files, **instruments;    /* parallel; file names as in the kit */
    size_t n, cap;
    struct kitrec *next;
} kitrec;

/* One file found by the walk. */
typedef struct entry {
    char *rel;              /* path relative to the root */
    uint64_t size;
    int64_t mtime_ns;
    known *k;               /* the row at the same path, or NULL */
    const kitrec *kit;      /* the kit it belongs to, or NULL */
    const char *instrument; /* the kit's instrument that plays it */
} entry;

/* A file read by the reader thread, waiting to be written. */
typedef struct pending {
    entry *e;
    char sha[SHELF_HASH_HEX];
    char blob[SHELF_HASH_HEX];   /* "" when referenced in place */
    shelf__probe pr;
    int status;             /* SHELF_FILE_FAILED (reason set), SHELF_FILE_DIFFERS,
                               or 0 until written */
    int repair;             /* read because its managed copy is damaged or gone */
    int64_t id;
    char reason[256];
} pending;

/*
 * The reader thread fills a batch while the calling thread writes the
 * other one: reading, hashing and probing overlap the catalog writes.
 */
typedef struct batch {
    pending *p;
    size_t n;
    uint64_t files, bytes_done, bytes_read, unchanged;
    int full;               /* handed to the writer */
    int last;               /* the reader has nothing after this one */
    int rc;                 /* the reader's fatal error, message in msg */
    char msg[1024];
} batch;

typedef struct importer {
    shelf_library *lib;
    const shelf_import_opts *opts;
    shelf_import_stats *st;
    unsigned batch;
    int copy;               /* SHELF_IMPORT_COPY */
    int replace;            /* SHELF_IMPORT_REPLACE */
    int named;              /* the current scope is a file named by the caller */
    double last_progress;
    char *root_path;        /* absolute path of the current root */
    int64_t root_id;
    char *prefix;           /* "" or, when another import folded the root into
                               one that contains it, the path from there + '/' */
    size_t plen;
    entry *entries;
    size_t nentries, centries;
    kitrec *kits;           /* kits of the current scope */
    known *known;           /* open-addressed table on rel */
    size_t nknown, cknown;
    sqlite3_stmt *insert, *upsert, *update, *by_sha, *set_missing, *row_sha;

    /* shared with the reader thread, under mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    batch batches[2];
    int stop;

    /* the reader thread's own */
    unsigned char *buf;     /* whole-file buffer */
    size_t bufcap;
    shelf__store rstore;    /* lib's store with the reader's error slot */
    shelf__err rerr;
} importer;

/* ----- small helpers ------------------------------------------------------ */

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;   /* FNV-1a */

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static known *known_find(importer *im, const char *rel)
{
    size_t mask = im->cknown - 1, i;

    if (!im->cknown)
        return NULL;
    for (i = hash_str(rel) & mask; im->known[i].rel; i = (i + 1) & mask)
        if (!strcmp(im->known[i].rel, rel))
            return &im->known[i];
    return NULL;
}

/* Copy a message, cut to fit. */
static void copy_msg(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);

    if (n >= size)
        n = size - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static void report(importer *im, int status, const char *rel, int64_t id, const char *reason)
{
    char *abs;

    if (!im->opts->on_file)
        return;
    abs = im->root_path ? shelf__path_join(im->root_path, rel) : NULL;
    im->opts->on_file(im->opts->ud, status, abs ? abs : rel, id, reason);
    shelf_free(abs);
}

static int progress(importer *im, int force)
{
    double now = shelf__monotonic();

    if (!im->opts->progress || (!force && now - im->last_progress < PROGRESS_EVERY))
        return SHELF_OK;
    im->last_progress = now;
    if (im->opts->progress(im->opts->ud, im->st) != 0)
        return shelf__seterr(&im->lib->err, SHELF_ECANCELED, "import canceled");
    return SHELF_OK;
}

static void free_scope(importer *im)
{
    size_t i;

    for (i = 0; i < im->nentries; i++)
        shelf_free(im->entries[i].rel);
    shelf_free(im->entries);
    im->entries = NULL;
    im->nentries = im->centries = 0;
    for (i = 0; i < im->cknown; i++) {
        shelf_free(im->known[i].rel);
        shelf_free(im->known[i].blob);
    }
    shelf_free(im->known);
    im->known = NULL;
    im->nknown = im->cknown = 0;
    shelf_free(im->root_path);
    im->root_path = NULL;
    shelf_free(im->prefix);
    im->prefix = NULL;
    im->plen = 0;
    while (im->kits) {
        kitrec *k = im->kits;

        im->kits = k->next;
        for (i = 0; i < k->n; i++) {
            shelf_free(k->files[i]);
            shelf_free(k->instruments[i]);
        }
        shelf_free(k->files);
        shelf_free(k->instruments);
        shelf_free(k->name);
        shelf_free(k->author);
        shelf_free(k);
    }
}

/* ----- walk ---------------------------------------------------------------- */

static int add_entry(importer *im, const char *rel, const struct stat *sb)
{
    entry *e;

    if (im->nentries == im->centries) {
        size_t c = im->centries ? im->centries * 2 : 1024;

        if (!(e = shelf__realloc(im->entries, c * sizeof *e)))
            return shelf__seterr(&im->lib->err, SHELF_ENOMEM, "out of memory");
        im->entries = e;
        im->centries = c;
    }
    e = &im->entries[im->nentries];
    if (!(e->rel = shelf__strdup(rel)))
        return shelf__seterr(&im->lib->err, SHELF_ENOMEM, "out of memory");
    e->size = (uint64_t)sb->st_size;
    e->mtime_ns = (int64_t)sb->st_mtim.tv_sec * 1000000000 + sb->st_mtim.tv_nsec;
    e->k = NULL;
    e->kit = NULL;
    e->instrument = NULL;
    im->nentries++;
    im->st->files_total++;
    im->st->bytes_total += e->size;
    return SHELF_OK;
}

typedef struct kitload {
    kitrec *k;
    int oom;
} kitload;

static void on_kit_file(void *ud, const shelf__kit *kit, const char *instrument, const char *file)
{
    kitload *kl = ud;
    kitrec *k = kl->k;

    if (kl->oom)
        return;
    if (!k->name && kit->name[0] && !(k->name = shelf__strdup(kit->name)))
        kl->oom = 1;
    if (!k->author && kit->author && !(k->author = shelf__strdup(kit->author)))
        kl->oom = 1;
    if (k->n == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 32;
        char **f = shelf__realloc(k->files, cap * sizeof *f), **in;

        if (!f) {
            kl->oom = 1;
            return;
        }
        k->files = f;
        if (!(in = shelf__realloc(k->instruments, cap * sizeof *in))) {
            kl->oom = 1;
            return;
        }
        k->instruments = in;
        k->cap = cap;
    }
    if (!(k->files[k->n] = shelf__strdup(file)) ||
        !(k->instruments[k->n] = shelf__strdup(instrument))) {
        shelf_free(k->files[k->n]);
        kl->oom = 1;
        return;
    }
    k->n++;
}

/*
 * Read abs/drumkit.xml when there is one: a Hydrogen kit, whose name,
 * author and instrument names describe the files beside it.  A kit that
 * does not parse is reported and ignored; its files import as they are.
 */
static int load_kit(importer *im, const char *abs, const char *rel, kitrec **out)
{
    char *path = shelf__path_join(abs, "drumkit.xml"), *krel = NULL, reason[256];
    kitload kl = { NULL, 0 };
    unsigned char *buf = NULL;
    struct stat sb;
    int fd = -1, rc = SHELF_OK;
    size_t got = 0;

    *out = NULL;
    if (!path)
        return shelf__seterr(&im->lib->err, SHELF_ENOMEM, "out of memory");
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
        goto out;
    krel = *rel ? shelf__path_join(rel, "drumkit.xml") : shelf__strdup("drumkit.xml");
    if (!krel || !(kl.k = shelf__calloc(1, sizeof *kl.k))) {
        rc = shelf__seterr(&im->lib->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    if ((uint64_t)sb.st_size > SHELF__KIT_MAX_BYTES) {
        snprintf(reason, sizeof reason, "drumkit.xml: too large");
        goto bad;
    }
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        snprintf(reason, sizeof reason, "cannot open: %s", shelf__errno_str(errno));
        goto bad;
    }
    if (!(buf = shelf__malloc((size_t)sb.st_size + 1))) {
        rc = shelf__seterr(&im->lib->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    while (got < (size_t)sb.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)sb.st_size - got);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    rc = shelf__kit_parse(buf, got, on_kit_file, &kl, reason, sizeof reason);
    if (rc == SHELF_ENOMEM || kl.oom) {
        rc = shelf__seterr(&im->lib->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    if (rc != SHELF_OK) {
        rc = SHELF_OK;
        goto bad;
    }
    if (!kl.k->name) {      /* a kit without a name: its folder's */
        const char *base = strrchr(abs, '/');

        if (!(kl.k->name = shelf__strdup(base ? base + 1 : abs))) {
            rc = shelf__seterr(&im->lib->err, SHELF_ENOMEM, "out of memory");
            goto out;
        }
    }
    kl.k->next = im->kits;
    im->kits = kl.k;
    *out = kl.k;
    kl.k = NULL;
    goto out;
bad:
    im->st->failed++;
    report(im, SHELF_FILE_FAILED, krel, 0, reason);
out:
    if (kl.k) {
        size_t i;

        for (i = 0; i < kl.k->n; i++) {
            shelf_free(kl.k->files[i]);
            shelf_free(kl.k->instruments[i]);
        }
        shelf_free(kl.k->files);
        shelf_free(kl.k->instruments);
        shelf_free(kl.k->name);
        shelf_free(kl.k->author);
        shelf_free(kl.k);
    }
    if (fd >= 0)
        close(fd);
    shelf_free(buf);
    shelf_free(krel);
    shelf_free(path);
    return rc;
}

/*
 * Walk abs (whose path relative to the root is rel) collecting audio files.
 * Dot files and folders are skipped, symlinked folders are not followed
 * (no loops), and the library's own folder is never walked.
 */
static int walk(importer *im, const char *abs, const char *rel)
{
    DIR *d = opendir(abs);
    struct dirent *de;
    kitrec *kit = NULL;
    int rc = SHELF_OK;

    if (!d) {
        report(im, SHELF_FILE_FAILED, rel, 0, shelf__errno_str(errno));
        im->st->failed++;
        return SHELF_OK;
    }
    if ((rc = load_kit(im, abs, rel, &kit)) != SHELF_OK) {
        closedir(d);
        return rc;
    }
    while (rc == SHELF_OK && (de = readdir(d)) != NULL) {
        char *cabs, *crel, ext[8];
        struct stat sb;

        if (de->d_name[0] == '.')
            continue;
        cabs = shelf__path_join(abs, de->d_name);
        crel = *rel ? shelf__path_join(rel, de->d_name) : shelf__strdup(de->d_name);
        if (!cabs || !crel) {
            rc = shelf__seterr(&im->lib->err, SHELF_ENOMEM, "out of memory");
        } else if (de->d_type == DT_DIR ||
                   (de->d_type == DT_UNKNOWN && lstat(cabs, &sb) == 0 && S_ISDIR(sb.st_mode))) {
            if (strcmp(cabs, im->lib->path) != 0)
                rc = walk(im, cabs, crel);
        } else if (de->d_type == DT_REG || de->d_type == DT_LNK || de->d_type == DT_UNKNOWN) {
            shelf__path_ext(de->d_name, ext, sizeof ext);
            if (stat(cabs, &sb) != 0) {
                if (shelf__is_audio_ext(ext)) {
                    report(im, SHELF_FILE_FAILED, crel, 0, shelf__errno_str(errno));
                    im->st->failed++;
                }
            } else if (S_ISREG(sb.st_mode)) {
                /* (a symlink to a folder is not followed) */
                if (shelf__is_audio_ext(ext)) {
                    if ((rc = add_entry(im, crel, &sb)) == SHELF_OK && kit) {
                        entry *e = &im->entries[im->nentries - 1];
                        size_t i;

                        for (i = 0; i < kit->n; i++)
                            if (!strcmp(kit->files[i], de->d_name)) {
                                e->kit = kit;
                                e->instrument = kit->instruments[i];
                                break;
                            }
                    }
                } else if (!kit || strcmp(de->d_name, "drumkit.xml") != 0) {
                    im->st->ignored++;
                }
            }
        }
        shelf_free(cabs);
        shelf_free(crel);
    }
    closedir(d);
    return rc;
}

/* ----- known rows ---------------------------------------------------------- */

/* A relpath of the catalog as a path under this import's root, or NULL
 * when it is not under it. */
static const char *unprefix(const importer *im, const char *relpath)
{
    if (!relpath || (im->plen && strncmp(relpath, im->prefix, im->plen) != 0))
        return NULL;
    return relpath + im->plen;
}

/*
 * Importing a folder that contains this import's root folds the root into
 * a new one (shelf__root_for_import) and deletes it, in another process,
 * at any moment: follow it, so rows go to the root that exists, with
 * paths relative to it.  Called in each transaction, where no fold can
 * come between the check and the writes.
 */
static int follow_root(importer *im)
{
    sqlite3_stmt *st = shelf__prepare(im->lib, "SELECT 1 FROM roots WHERE id = ?1");
    const char *rel;
    int64_t id;
    int r, rc;

    if (!st)
        return im->lib->err.rc;
    sqlite3_bind_int64(st, 1, im->root_id);
    r = sqlite3_step(st);
    sqlite3_finalize(st);
    if (r == SQLITE_ROW)
        return SHELF_OK;
    if (r != SQLITE_DONE)
        return shelf__dberr(im->lib, "cannot read the catalog");
    if ((rc = shelf__root_find(im->lib, im->root_path, &id, &rel)) != SHELF_OK)
        return rc == SHELF_ENOTFOUND
            ? shelf__seterr(&im->lib->err, SHELF_EIO, "root folder '%s' left the catalog during the import",
                            im->root_path)
            : rc;
    shelf_free(im->prefix);
    if (!(im->prefix = *rel ? shelf__asprintf("%s/", rel) : shelf__strdup("")))
        return shelf__seterr(&im->lib->err, SHELF_ENOMEM, "out of memory");
    im->plen = strlen(im->prefix);
    im->root_id = id;
    return SHELF_OK;
}

static int known_insert(importer *im, sqlite3_stmt *st)
{
    size_t mask = im->cknown - 1, i;
    const char *rel = unprefix(im, (const char *)sqlite3_column_text(st, 1));
    known *k;

    if (!rel)
        return SHELF_OK;

    for (i = hash_str(rel) & mask; im->known[i].rel; i = (i + 1) & mask)
        ;
    k = &im->known[i];
    if (!(k->rel = shelf__strdup(rel)))
        return shelf__seterr(&im->lib->err, SHELF_ENOMEM, "out of memory");
    k->id = sqlite3_column_int64(st, 0);
    k->size = (uint64_t)sqlite3_column_int64(st, 2);
    k->mtime_ns = sqlite3_column_int64(st, 3);
    k->missing = sqlite3_column_int(st, 4);
    k->managed = sqlite3_column_type(st, 5) != SQLITE_NULL;
    if (k->managed && !(k->blob = shelf__strdup((const char *)sqlite3_column_text(st, 5))))
        return shelf__seterr(&im->lib->err, SHELF_ENOMEM, "out of memory");
    im->nknown++;
    return SHELF_OK;
}

/* Load the rows of the current root under scope ("" is the whole root). */
static int load_known(importer *im, const char *scope)
{
    sqlite3_stmt *st;
    char *pscope = NULL;
    int64_t n = 0;
    size_t cap;
    int r, rc;

    /* One read transaction: the root cannot be folded half way. */
    if ((rc = shelf__begin_read(im->lib)) != SHELF_OK)
        return rc;
    if ((rc = follow_root(im)) != SHELF_OK)
        goto out;
    if (!(pscope = shelf__asprintf("%s%s", im->prefix ? im->prefix : "", scope))) {
        rc = shelf__seterr(&im->lib->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    /* (a scope that is a whole folded root is "dir/", not "dir") */
    if (!*scope && im->plen)
        pscope[im->plen - 1] = '\0';
    st = shelf__prepare(im->lib, "SELECT count(*) FROM samples WHERE root_id = ?1");
    if (!st) {
        rc = im->lib->err.rc;
        goto out;
    }
    sqlite3_bind_int64(st, 1, im->root_id);
    if (sqlite3_step(st) != SQLITE_ROW) {
        rc = shelf__dberr(im->lib, "cannot read the catalog");
        sqlite3_finalize(st);
        goto out;
    }
    n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    for (cap = 64; cap < (size_t)n * 2; cap *= 2)
        ;
    /* cknown only with the table: free_scope walks cknown entries. */
    if (!(im->known = shelf__calloc(cap, sizeof *im->known))) {
        rc = shelf__seterr(&im->lib->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    im->cknown = cap;
    st = shelf__prepare(im->lib,
        "SELECT id, relpath, size, mtime_ns, missing, blob FROM samples WHERE root_id = ?1 AND\n"
        "  (?2 = '' OR relpath = ?2 OR substr(relpath, 1, length(?2) + 1) = ?2 || '/')");
    if (!st) {
        rc = im->lib->err.rc;
        goto out;
    }
    sqlite3_bind_int64(st, 1, im->root_id);
    sqlite3_bind_text(st, 2, pscope, -1, SQLITE_STATIC);
    while (rc == SHELF_OK && (r = sqlite3_step(st)) == SQLITE_ROW)
        rc = known_insert(im, st);
    if (rc == SHELF_OK && r != SQLITE_DONE)
        rc = shelf__dberr(im->lib, "cannot read the catalog");
    sqlite3_finalize(st);
out:
    if (rc == SHELF_OK)
        rc = shelf__commit(im->lib);
    else
        shelf__rollback(im->lib);
    shelf_free(pscope);
    return rc;
}

/* ----- the reader thread: read once, hash, probe ---------------------------- */

/* Make the whole-file buffer at least n bytes. */
static int reserve(importer *im, size_t n)
{
    unsigned char *b;

    if (n <= im->bufcap)
        return SHELF_OK;
    if (n < STREAM_BUF)
        n = STREAM_BUF;
    if (!(b = shelf__realloc(im->buf, n)))
        return shelf__seterr(&im->rerr, SHELF_ENOMEM, "out of memory");
    im->buf = b;
    im->bufcap = n;
    return SHELF_OK;
}

/* examine() result: this file fails (p->reason says why); go on. */
#define SKIP SHELF_EFORMAT

/*
 * The original of a managed sample whose bytes are no longer the copy's:
 * the copy stays the sample (doc/design.md, "Managed copies"); only
 * SHELF_IMPORT_REPLACE takes the original's bytes instead.
 */
static int differs(const importer *im, const pending *p)
{
    const known *k = p->e->k;

    return k && k->managed && strcmp(p->sha, k->blob) != 0 && !im->replace;
}

/*
 * Read, hash and probe one file into p (with copy, store it too).  Returns
 * SHELF_OK; SKIP with p->reason for a bad or unreadable file; or another
 * code, fatal for the import, with the message in im->rerr.  *nread
 * receives the bytes read.
 */
static int examine(importer *im, pending *p, int copy, uint64_t *nread)
{
    char *abs = shelf__path_join(im->root_path, p->e->rel);
    const size_t rsize = sizeof p->reason;
    char *reason = p->reason;
    uint8_t h[SHELF_HASH_BYTES];
    struct stat sb;
    uint64_t got = 0;
    int fd = -1, rc = SHELF_OK, e;
    ssize_t n;

    *nread = 0;
    reason[0] = '\0';
    p->blob[0] = '\0';
    if (!abs)
        return shelf__seterr(&im->rerr, SHELF_ENOMEM, "out of memory");
    if ((fd = open(abs, O_RDONLY | O_CLOEXEC | O_NOATIME)) < 0 && errno == EPERM)
        fd = open(abs, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &sb) != 0) {
        snprintf(reason, rsize, "cannot open: %s", shelf__errno_str(errno));
        rc = SKIP;
        goto out;
    }
    /* What we read is what we record, even if it changed since the walk. */
    p->e->size = (uint64_t)sb.st_size;
    p->e->mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
    if ((uint64_t)sb.st_size <= WHOLE_FILE_MAX) {
        size_t want = (size_t)sb.st_size;

        if ((rc = reserve(im, want + 1)) != SHELF_OK)
            goto out;
        /* Read one byte more than expected to notice a file that grew. */
        while (got < want + 1) {
            n = read(fd, im->buf + got, want + 1 - got);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0) {
                snprintf(reason, rsize, "cannot read: %s", shelf__errno_str(errno));
                rc = SKIP;
                goto out;
            }
            if (n == 0)
                break;
            got += (uint64_t)n;
        }
        *nread = got;
        if (got != want) {
            snprintf(reason, rsize, "file changed while it was read");
            rc = SKIP;
            goto out;
        }
        shelf__sha256_mem(im->buf, got, h);
        shelf__hex(h, sizeof h, p->sha);
        if (differs(im, p)) {
            p->status = SHELF_FILE_DIFFERS;
            goto out;
        }
        if ((rc = shelf__probe_mem(im->buf, got, &p->pr, reason, rsize)) != SHELF_OK)
            goto out;
        if (copy && (rc = shelf__store_put_mem(&im->rstore, im->buf, got, p->blob)) != SHELF_OK)
            goto out;
    } else {
        if ((rc = reserve(im, STREAM_BUF)) != SHELF_OK)
            goto out;
        posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
        e = shelf__sha256_fd(fd, im->buf, im->bufcap, h, &got);
        *nread = got;
        if (e) {
            snprintf(reason, rsize, "cannot read: %s", shelf__errno_str(e));
            rc = SKIP;
            goto out;
        }
        shelf__hex(h, sizeof h, p->sha);
        if (differs(im, p)) {
            p->status = SHELF_FILE_DIFFERS;
            goto out;
        }
        if ((rc = shelf__probe_path(abs, &p->pr, reason, rsize)) != SHELF_OK)
            goto out;
        if (copy) {
            if ((rc = shelf__store_put_file(&im->rstore, abs, p->sha)) != SHELF_OK)
                goto out;
            memcpy(p->blob, p->sha, SHELF_HASH_HEX);
        }
    }
out:
    /* A store failure on one file (it changed while copied, say) is that
     * file's problem; running out of memory or space is everyone's. */
    if (rc != SHELF_OK && rc != SHELF_EFORMAT && rc != SHELF_EIO && !reason[0] &&
        rc == SHELF_ECORRUPT) {
        copy_msg(reason, rsize, im->rerr.msg);
        rc = SKIP;
    }
    if (fd >= 0)
        close(fd);
    shelf_free(abs);
    return rc;
}

/* Wait for batch i to be free; NULL when the import is stopping. */
static batch *take_free(importer *im, int i)
{
    batch *b = &im->batches[i];

    pthread_mutex_lock(&im->mu);
    while (b->full && !im->stop)
        pthread_cond_wait(&im->cv, &im->mu);
    if (im->stop) {
        pthread_mutex_unlock(&im->mu);
        return NULL;
    }
    pthread_mutex_unlock(&im->mu);
    b->n = 0;
    b->files = b->bytes_done = b->bytes_read = b->unchanged = 0;
    b->last = 0;
    b->rc = SHELF_OK;
    b->msg[0] = '\0';
    return b;
}

static void hand_over(importer *im, batch *b)
{
    pthread_mutex_lock(&im->mu);
    b->full = 1;
    pthread_cond_broadcast(&im->cv);
    pthread_mutex_unlock(&im->mu);
}

/*
 * With --copy, whether the managed copy of k is there and whole: the right
 * size (a stat), and for a file named on its own, the right bytes (it is
 * re-hashed).  A folder's rescan does not re-read every copy: verify does,
 * and marks a damaged one missing, so the next import repairs it.
 */
static int copy_intact(importer *im, const known *k)
{
    char *path = shelf__store_path(&im->rstore, k->blob);
    struct stat sb;
    int ok = path && stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && (uint64_t)sb.st_size == k->size;

    shelf_free(path);
    if (ok && im->named)
        ok = shelf__store_check(&im->rstore, k->blob, NULL) == SHELF_OK;
    return ok;
}

/*
 * Unchanged: same size and mtime, not missing, and with --copy, managed
 * with its copy intact.  *repair: read only to repair the copy.
 */
static int unchanged(importer *im, const entry *e, int *repair)
{
    const known *k = e->k;

    *repair = 0;
    if (!k || k->missing || k->size != e->size || k->mtime_ns != e->mtime_ns)
        return 0;
    if (!im->copy)
        return 1;
    if (!k->managed)
        return 0;           /* --copy adopts it */
    *repair = !copy_intact(im, k);
    return !*repair;
}

static void *reader_main(void *arg)
{
    importer *im = arg;
    batch *b = NULL;
    double t0 = 0;
    size_t i;
    int bi = 0, repair;

    for (i = 0; i < im->nentries; i++) {
        entry *e = &im->entries[i];

        if (!b) {
            if (!(b = take_free(im, bi)))
                return NULL;
            t0 = shelf__monotonic();
        }
        b->files++;
        if (unchanged(im, e, &repair)) {
            b->unchanged++;
            b->bytes_done += e->size;
        } else {
            pending *p = &b->p[b->n];
            uint64_t nread;
            int rc;

            p->e = e;
            p->status = 0;
            p->repair = repair || (e->k && e->k->managed && e->k->missing);
            p->id = 0;
            /* A managed row stays managed: its copy is the sample. */
            rc = examine(im, p, im->copy || (e->k && e->k->managed), &nread);
            b->bytes_done += e->size;
            b->bytes_read += nread;
            if (rc == SKIP) {
                p->status = SHELF_FILE_FAILED;
            } else if (rc != SHELF_OK) {
                b->rc = rc;
                copy_msg(b->msg, sizeof b->msg, im->rerr.msg);
                b->last = 1;
                hand_over(im, b);
                return NULL;
            }
            b->n++;
        }
        if (b->n == im->batch || shelf__monotonic() - t0 >= PROGRESS_EVERY) {
            hand_over(im, b);
            bi = !bi;
            b = NULL;
        }
    }
    if (!b && !(b = take_free(im, bi)))
        return NULL;
    b->last = 1;
    hand_over(im, b);
    return NULL;
}

/* ----- writing batches (the calling thread) --------------------------------- */

#define COLS "name, root_id, relpath, blob, size, mtime_ns, sha256, format, subtype, rate," \
             " channels, frames, duration, bits, root_key, loop_start, loop_end, loop_mode," \
             " tempo, beats, category, title, author, comment, genre, kit, instrument, audio_sha"
#define VALUES "?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17," \
               " ?18, ?19, ?20, ?21, ?24, ?25, ?26, ?27, ?28, ?29, NULL, ?22, 0"

static int prepare_statements(importer *im)
{
    shelf_library *lib = im->lib;

    im->insert = shelf__prepare(lib, "INSERT INTO samples(" COLS ", created, missing) VALUES(" VALUES ")");
    /* Two importers of one folder may race to the same new path: the later
     * one updates the row (keeping its id) instead of failing. */
    im->upsert = shelf__prepare(lib,
        "INSERT INTO samples(" COLS ", created, missing) VALUES(" VALUES ")\n"
        "ON CONFLICT(root_id, relpath) DO UPDATE SET name = excluded.name,"
        " blob = coalesce(excluded.blob, blob),"
        " size = excluded.size, mtime_ns = excluded.mtime_ns, sha256 = excluded.sha256,"
        " format = excluded.format, subtype = excluded.subtype, rate = excluded.rate,"
        " channels = excluded.channels, frames = excluded.frames, duration = excluded.duration,"
        " bits = excluded.bits, root_key = excluded.root_key, loop_start = excluded.loop_start,"
        " loop_end = excluded.loop_end, loop_mode = excluded.loop_mode, tempo = excluded.tempo,"
        " beats = excluded.beats, category = excluded.category, title = excluded.title,"
        " author = excluded.author, comment = excluded.comment, genre = excluded.genre,"
        " kit = excluded.kit, instrument = excluded.instrument, audio_sha = NULL, missing = 0\n"
        "RETURNING id");
    im->update = shelf__prepare(lib,
        "UPDATE samples SET name = ?1, root_id = ?2, relpath = ?3, blob = coalesce(?4, blob), size = ?5,"
        " mtime_ns = ?6, sha256 = ?7, format = ?8, subtype = ?9, rate = ?10, channels = ?11,"
        " frames = ?12, duration = ?13, bits = ?14, root_key = ?15, loop_start = ?16,"
        " loop_end = ?17, loop_mode = ?18, tempo = ?19, beats = ?20, category = ?21,"
        " title = ?24, author = ?25, comment = ?26, genre = ?27, kit = ?28, instrument = ?29,"
        " audio_sha = NULL, missing = 0 WHERE id = ?23");
    im->by_sha = shelf__prepare(lib,
        "SELECT s.id, s.root_id, s.relpath, s.missing, r.path FROM samples s\n"
        "  JOIN roots r ON r.id = s.root_id WHERE s.sha256 = ?1 ORDER BY s.missing DESC, s.id");
    im->set_missing = shelf__prepare(lib, "UPDATE samples SET missing = 1 WHERE id = ?1");
    im->row_sha = shelf__prepare(lib, "SELECT sha256 = ?2 FROM samples WHERE id = ?1");
    if (!im->insert || !im->upsert || !im->update || !im->by_sha || !im->set_missing || !im->row_sha)
        return lib->err.rc;
    return SHELF_OK;
}

static void finalize_statements(importer *im)
{
    sqlite3_finalize(im->insert);
    sqlite3_finalize(im->upsert);
    sqlite3_finalize(im->update);
    sqlite3_finalize(im->by_sha);
    sqlite3_finalize(im->set_missing);
    sqlite3_finalize(im->row_sha);
    im->insert = im->upsert = im->update = im->by_sha = im->set_missing = im->row_sha = NULL;
}

static void bind_opt_int(sqlite3_stmt *st, int i, int64_t v, int64_t none)
{
    if (v == none)
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_int64(st, i, v);
}

static void bind_opt_text(sqlite3_stmt *st, int i, const char *s)
{
    if (*s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

/* SQLITE_OK, or SQLITE_NOMEM when a copied text could not be made: a
 * NULL bound in its place would be written (or fail as a constraint). */
static int bind_row(importer *im, sqlite3_stmt *st, const pending *p, char *name)
{
    const shelf__probe *pr = &p->pr;
    double tempo = pr->tempo > 0 ? pr->tempo : shelf__tempo_from_name(name);
    const char *cat = shelf__guess_category(p->e->rel);

    if (sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT) != SQLITE_OK)
        return SQLITE_NOMEM;
    sqlite3_bind_int64(st, 2, im->root_id);
    if (im->plen) {
        char *rel = shelf__asprintf("%s%s", im->prefix, p->e->rel);
        int r = rel ? sqlite3_bind_text(st, 3, rel, -1, SQLITE_TRANSIENT) : SQLITE_NOMEM;

        shelf_free(rel);
        if (r != SQLITE_OK)
            return SQLITE_NOMEM;
    } else {
        sqlite3_bind_text(st, 3, p->e->rel, -1, SQLITE_STATIC);
    }
    if (p->blob[0])
        sqlite3_bind_text(st, 4, p->blob, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 4);
    sqlite3_bind_int64(st, 5, (int64_t)p->e->size);
    sqlite3_bind_int64(st, 6, p->e->mtime_ns);
    sqlite3_bind_text(st, 7, p->sha, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, pr->format, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 9, pr->subtype, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 10, pr->rate);
    sqlite3_bind_int(st, 11, pr->channels);
    sqlite3_bind_int64(st, 12, pr->frames);
    sqlite3_bind_double(st, 13, pr->duration);
    bind_opt_int(st, 14, pr->bits, 0);
    bind_opt_int(st, 15, pr->root_key, -1);
    bind_opt_int(st, 16, pr->loop_start, -1);
    bind_opt_int(st, 17, pr->loop_end, -1);
    bind_opt_int(st, 18, pr->loop_start >= 0 ? pr->loop_mode : -1, -1);
    if (tempo > 0)
        sqlite3_bind_double(st, 19, tempo);
    else
        sqlite3_bind_null(st, 19);
    bind_opt_int(st, 20, pr->beats, 0);
    if (cat)
        sqlite3_bind_text(st, 21, cat, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 21);
    sqlite3_bind_int64(st, 22, shelf__now());
    bind_opt_text(st, 24, pr->title);
    if (pr->author[0] || !p->e->kit || !p->e->kit->author)
        bind_opt_text(st, 25, pr->author);
    else
        sqlite3_bind_text(st, 25, p->e->kit->author, -1, SQLITE_STATIC);
    if (p->e->kit) {
        sqlite3_bind_text(st, 28, p->e->kit->name, -1, SQLITE_STATIC);
        bind_opt_text(st, 29, p->e->instrument ? p->e->instrument : "");
    } else {
        sqlite3_bind_null(st, 28);
        sqlite3_bind_null(st, 29);
    }
    bind_opt_text(st, 26, pr->comment);
    bind_opt_text(st, 27, pr->genre);
    return SQLITE_OK;
}

/*
 * Whether the file of a row outside this walk is gone now: its root folder
 * is there (a volume that is not mounted hides nothing) but the file is not.
 */
static int gone_now(const char *root, const char *rel)
{
    char *abs = shelf__path_join(root, rel);
    struct stat sb;
    int gone = 0;

    if (abs && stat(root, &sb) == 0 && S_ISDIR(sb.st_mode))
        gone = lstat(abs, &sb) != 0 && (errno == ENOENT || errno == ENOTDIR);
    shelf_free(abs);
    return gone;
}

/*
 * A new path whose content matches a sample that is marked missing, or
 * whose file is gone (this walk found it gone, or, for a row outside this
 * walk, it is not there now), is that sample moved: return its id (and mark
 * it taken so it is neither taken twice nor marked missing), else 0.  A
 * match whose file is still in place is a duplicate.  So a file moved into
 * a folder that is imported before its old folder is rescanned keeps its
 * id, tags and rating.
 */
static int64_t find_moved(importer *im, const char *sha)
{
    int64_t id = 0;
    int r;

    sqlite3_reset(im->by_sha);
    (void)sqlite3_bind_text(im->by_sha, 1, sha, -1, SQLITE_STATIC);    /* static: no allocation */
    while ((r = sqlite3_step(im->by_sha)) == SQLITE_ROW) {
        /* The row's path in its root, and in this walk's terms when the
         * row is under it (rows of a root another import folded into this
         * one are not). */
        const char *relpath = (const char *)sqlite3_column_text(im->by_sha, 2);
        const char *root = (const char *)sqlite3_column_text(im->by_sha, 4);
        const char *rel = relpath ? unprefix(im, relpath) : NULL;
        known *k = sqlite3_column_int64(im->by_sha, 1) == im->root_id && rel ? known_find(im, rel) : NULL;

        if (k) {
            if (k->present || k->taken)
                continue;
            k->taken = 1;
        } else if (!sqlite3_column_int(im->by_sha, 3) &&
                   (!root || !relpath || !gone_now(root, relpath))) {
            continue;
        }
        id = sqlite3_column_int64(im->by_sha, 0);
        break;
    }
    /* A failed step (out of memory) is not "not moved": SQLite may have
     * rolled the transaction back. */
    if (!id && r != SQLITE_DONE)
        id = shelf__dberr(im->lib, "cannot read the catalog");
    sqlite3_reset(im->by_sha);
    return id;
}

static int step_write(importer *im, sqlite3_stmt *st, const pending *p, char *name, int64_t *id)
{
    int r;

    sqlite3_reset(st);
    if ((r = bind_row(im, st, p, name)) != SQLITE_OK)
        return r;
    if (*id)
        sqlite3_bind_int64(st, 23, *id);
    r = sqlite3_step(st);
    if (r == SQLITE_ROW)
        *id = sqlite3_column_int64(st, 0);
    else if (r == SQLITE_DONE && !*id)
        *id = sqlite3_last_insert_rowid(im->lib->db);
    sqlite3_reset(st);
    return r;
}

/* Whether the row of k has the SHA-256 sha. */
static int same_sha(importer *im, const known *k, const char *sha)
{
    int same, r;

    if (k->managed)
        return !strcmp(k->blob, sha);
    sqlite3_reset(im->row_sha);
    sqlite3_bind_int64(im->row_sha, 1, k->id);
    (void)sqlite3_bind_text(im->row_sha, 2, sha, -1, SQLITE_STATIC);     /* static: no allocation */
    r = sqlite3_step(im->row_sha);
    same = r == SQLITE_ROW && sqlite3_column_int(im->row_sha, 0);
    if (r != SQLITE_ROW && r != SQLITE_DONE)
        same = shelf__dberr(im->lib, "cannot read the catalog");
    sqlite3_reset(im->row_sha);
    return same;
}

static int write_one(importer *im, pending *p)
{
    char *name = shelf__path_stem(p->e->rel);
    int64_t id = 0;
    int r;

    if (!name)
        return shelf__seterr(&im->lib->err, SHELF_ENOMEM, "out of memory");
    if (p->e->k) {
        const known *k = p->e->k;

        id = k->id;
        p->status = SHELF_FILE_UPDATED;
        /* Touched but the same bytes: the row's size and mtime are
         * refreshed, nothing else changed. */
        if (!p->repair && !k->missing && (k->managed || !p->blob[0]) &&
            (r = same_sha(im, k, p->sha)) != 0) {
            if (r < 0) {
                shelf_free(name);
                return r;
            }
            p->status = SHELF_FILE_UNCHANGED;
        }
    } else if ((id = find_moved(im, p->sha)) < 0) {
        shelf_free(name);
        return (int)id;
    } else if (id != 0) {
        p->status = SHELF_FILE_MOVED;
    } else {
        p->status = SHELF_FILE_IMPORTED;
    }
    r = step_write(im, id ? im->update : im->insert, p, name, &id);
    if (r == SQLITE_CONSTRAINT_UNIQUE && p->status == SHELF_FILE_IMPORTED) {
        id = 0;     /* another importer added this path meanwhile */
        r = step_write(im, im->upsert, p, name, &id);
        if (r == SQLITE_ROW || r == SQLITE_DONE)
            p->status = SHELF_FILE_UPDATED;
    }
    shelf_free(name);
    if (r == SQLITE_NOMEM)
        return shelf__seterr(&im->lib->err, SHELF_ENOMEM, "out of memory");
    if (r != SQLITE_ROW && r != SQLITE_DONE)
        return shelf__dberr(im->lib, "cannot write to the catalog");
    p->id = id;
    return SHELF_OK;
}

/* Write a batch in one transaction; count and report its files after the
 * commit, so what was reported is durable. */
static int write_batch(importer *im, batch *b)
{
    size_t i;
    int rc = SHELF_OK, any = 0;

    for (i = 0; i < b->n; i++) {
        pending *p = &b->p[i];

        if (p->status == SHELF_FILE_FAILED || p->status == SHELF_FILE_DIFFERS)
            continue;
        if (!any && ((rc = shelf__begin(im->lib)) != SHELF_OK || (rc = follow_root(im)) != SHELF_OK)) {
            shelf__rollback(im->lib);
            return rc;
        }
        any = 1;
        if ((rc = write_one(im, p)) != SHELF_OK) {
            shelf__rollback(im->lib);
            return rc;
        }
    }
    if (any && (rc = shelf__commit(im->lib)) != SHELF_OK) {
        shelf__rollback(im->lib);
        return rc;
    }
    im->st->files_done += b->files;
    im->st->bytes_done += b->bytes_done;
    im->st->bytes_read += b->bytes_read;
    im->st->unchanged += b->unchanged;
    for (i = 0; i < b->n; i++) {
        pending *p = &b->p[i];

        switch (p->status) {
        case SHELF_FILE_IMPORTED: im->st->imported++; break;
        case SHELF_FILE_UPDATED: im->st->updated++; break;
        case SHELF_FILE_MOVED: im->st->moved++; break;
        case SHELF_FILE_UNCHANGED: im->st->unchanged++; continue;
        case SHELF_FILE_DIFFERS:
            im->st->differs++;
            report(im, p->status, p->e->rel, p->e->k->id, "original differs from the managed copy");
            continue;
        default: im->st->failed++; break;
        }
        report(im, p->status, p->e->rel, p->id, p->status == SHELF_FILE_FAILED ? p->reason : NULL);
    }
    return SHELF_OK;
}

/* Mark known rows whose files the walk did not find as missing. */
static int mark_vanished(importer *im)
{
    size_t i;
    int rc, any = 0;

    for (i = 0; i < im->cknown; i++) {
        known *k = &im->known[i];

        if (!k->rel || k->present || k->taken || k->missing || k->managed)
            continue;
        if (!any && (rc = shelf__begin(im->lib)) != SHELF_OK)
            return rc;
        any = 1;
        sqlite3_reset(im->set_missing);
        sqlite3_bind_int64(im->set_missing, 1, k->id);
        if (sqlite3_step(im->set_missing) != SQLITE_DONE) {
            rc = shelf__dberr(im->lib, "cannot write to the catalog");
            shelf__rollback(im->lib);
            return rc;
        }
    }
    if (any && (rc = shelf__commit(im->lib)) != SHELF_OK)
        return rc;
    for (i = 0; i < im->cknown; i++) {
        known *k = &im->known[i];

        if (!k->rel || k->present || k->taken || k->missing || k->managed)
            continue;
        im->st->missing++;
        report(im, SHELF_FILE_MISSING, k->rel, k->id, NULL);
    }
    return SHELF_OK;
}

/*
 * Read the walked files on a second thread while this one writes: the
 * reader fills one batch while the other is written.  Batches are written
 * in walk order.  On failure or cancel the reader is stopped and joined;
 * what was committed stays.
 */
static int run_pipeline(importer *im)
{
    pthread_t reader;
    int rc = SHELF_OK, bi = 0, last = 0, e;

    im->stop = 0;
    im->batches[0].full = im->batches[1].full = 0;
    if ((e = pthread_create(&reader, NULL, reader_main, im)) != 0)
        return shelf__seterr_errno(&im->lib->err, e, "cannot start the reader thread");
    while (!last && rc == SHELF_OK) {
        batch *b = &im->batches[bi];

        pthread_mutex_lock(&im->mu);
        while (!b->full)
            pthread_cond_wait(&im->cv, &im->mu);
        pthread_mutex_unlock(&im->mu);
        last = b->last;
        if (b->rc != SHELF_OK)
            rc = shelf__seterr(&im->lib->err, b->rc, "%s", b->msg);
        else
            rc = write_batch(im, b);
        if (rc == SHELF_OK)
            rc = progress(im, 0);
        pthread_mutex_lock(&im->mu);
        b->full = 0;
        if (rc != SHELF_OK)
            im->stop = 1;
        pthread_cond_broadcast(&im->cv);
        pthread_mutex_unlock(&im->mu);
        bi = !bi;
    }
    pthread_join(reader, NULL);
    return rc;
}

/* ----- one path given by the caller ---------------------------------------- */

static int import_scope(importer *im, const char *abs, int is_dir)
{
    const char *rel;
    char *dir = NULL, *scope = NULL;
    size_t i;
    int rc;

    /* The root: the folder itself, or the folder of a named file. */
    if (!(dir = is_dir ? shelf__strdup(abs) : shelf__strndup(abs, (size_t)(strrchr(abs, '/') - abs))))
        return shelf__seterr(&im->lib->err, SHELF_ENOMEM, "out of memory");
    if (!*dir) {
        shelf_free(dir);
        if (!(dir = shelf__strdup("/")))
            return shelf__seterr(&im->lib->err, SHELF_ENOMEM, "out of memory");
    }
    if ((rc = shelf__begin(im->lib)) != SHELF_OK)
        goto out;
    if ((rc = shelf__root_for_import(im->lib, dir, &im->root_id, &rel)) != SHELF_OK) {
        shelf__rollback(im->lib);
        goto out;
    }
    {   /* the root's own path, as stored, before another import can fold it */
        sqlite3_stmt *st = shelf__prepare(im->lib, "SELECT path FROM roots WHERE id = ?1");

        if (!st) {
            rc = im->lib->err.rc;
            shelf__rollback(im->lib);
            goto out;
        }
        sqlite3_bind_int64(st, 1, im->root_id);
        if (sqlite3_step(st) == SQLITE_ROW)
            im->root_path = shelf__strdup((const char *)sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
    }
    if (!im->root_path || !(scope = shelf__strdup(rel)) || (rc = shelf__commit(im->lib)) != SHELF_OK) {
        rc = im->root_path && scope ? rc : shelf__seterr(&im->lib->err, SHELF_ENOMEM, "out of memory");
        shelf__rollback(im->lib);
        goto out;
    }

    im->named = !is_dir;
    if (is_dir) {
        if ((rc = walk(im, abs, scope)) != SHELF_OK)
            goto out;
        if ((rc = load_known(im, scope)) != SHELF_OK)
            goto out;
    } else {
        struct stat sb;
        char *frel = *scope ? shelf__path_join(scope, strrchr(abs, '/') + 1)
                            : shelf__strdup(strrchr(abs, '/') + 1);

        if (!frel) {
            rc = shelf__seterr(&im->lib->err, SHELF_ENOMEM, "out of memory");
            goto out;
        }
        rc = stat(abs, &sb) == 0 ? add_entry(im, frel, &sb)
                                 : shelf__seterr_errno(&im->lib->err, errno, "cannot import '%s'", abs);
        if (rc == SHELF_OK)
            rc = load_known(im, frel);
        shelf_free(frel);
        if (rc != SHELF_OK)
            goto out;
    }
    /* Every row whose file is there is known before any file is read, so
     * a copy of a file found early is never taken for a move of it. */
    for (i = 0; i < im->nentries; i++)
        if ((im->entries[i].k = known_find(im, im->entries[i].rel)) != NULL)
            im->entries[i].k->present = 1;
    if ((rc = run_pipeline(im)) != SHELF_OK)
        goto out;
    rc = mark_vanished(im);
out:
    shelf_free(dir);
    shelf_free(scope);
    free_scope(im);
    return rc;
}

int shelf__import_run(shelf_library *lib, const char *const *paths, size_t npaths,
                      const shelf_import_opts *opts, shelf_import_stats *stats,
                      int (*after)(shelf_library *lib))
{
    shelf_import_opts o;
    importer im;
    char **abs = NULL;
    int *isdir = NULL, locked = 0, rc = SHELF_OK;
    size_t i;

    memset(&im, 0, sizeof im);
    memset(stats, 0, sizeof *stats);
    stats->size = sizeof *stats;
    if (shelf__opts_check(&lib->err, &o, sizeof o, opts, sizeof o, "shelf_import_opts") != SHELF_OK)
        return lib->err.rc;
    opts = &o;
    if (shelf__writable(lib) != SHELF_OK)
        return lib->err.rc;
    im.lib = lib;
    im.opts = opts;
    im.st = stats;
    im.batch = opts->batch ? opts->batch : DEFAULT_BATCH;
    im.copy = (opts->flags & SHELF_IMPORT_COPY) != 0;
    im.replace = (opts->flags & SHELF_IMPORT_REPLACE) != 0;
    im.rstore = lib->store;
    im.rstore.err = &im.rerr;
    pthread_mutex_init(&im.mu, NULL);
    pthread_cond_init(&im.cv, NULL);

    /* Every named path must exist before anything is written. */
    if (!(abs = shelf__calloc(npaths, sizeof *abs)) || !(isdir = shelf__calloc(npaths, sizeof *isdir))) {
        rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    for (i = 0; i < npaths; i++) {
        struct stat sb;

        if (stat(paths[i], &sb) != 0) {
            rc = shelf__seterr_errno(&lib->err, errno, "cannot import '%s'", paths[i]);
            goto out;
        }
        if (!S_ISDIR(sb.st_mode) && !S_ISREG(sb.st_mode)) {
            rc = shelf__seterr(&lib->err, SHELF_EINVAL, "cannot import '%s': not a file or folder",
                               paths[i]);
            goto out;
        }
        isdir[i] = S_ISDIR(sb.st_mode);
        if (!(abs[i] = shelf__path_abs(paths[i]))) {
            rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
            goto out;
        }
    }
    if (lib->lock_mode == 0) {
        if ((rc = shelf_library_lock(lib, SHELF_LOCK_SHARED, 1)) != SHELF_OK)
            goto out;
        locked = 1;
    }
    if (!(im.batches[0].p = shelf__calloc(im.batch, sizeof(pending))) ||
        !(im.batches[1].p = shelf__calloc(im.batch, sizeof(pending)))) {
        rc = shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = prepare_statements(&im)) != SHELF_OK)
        goto out;
    for (i = 0; i < npaths && rc == SHELF_OK; i++)
        rc = import_scope(&im, abs[i], isdir[i]);
    /* The caller's step over what was committed (still under the lock). */
    if (after && stats->imported && (rc == SHELF_OK || rc == SHELF_ECANCELED)) {
        int r = after(lib);

        if (rc == SHELF_OK)
            rc = r;
    }
    if (rc == SHELF_OK)
        rc = progress(&im, 1);
out:
    finalize_statements(&im);
    if (locked)
        shelf_library_unlock(lib);
    for (i = 0; abs && i < npaths; i++)
        shelf_free(abs[i]);
    shelf_free(abs);
    shelf_free(isdir);
    shelf_free(im.batches[0].p);
    shelf_free(im.batches[1].p);
    shelf_free(im.buf);
    pthread_mutex_destroy(&im.mu);
    pthread_cond_destroy(&im.cv);
    return rc;
}

/* ----- probing without a catalog ------------------------------------------- */

void shelf_sample_release(shelf_sample *s)
{
    if (!s)
        return;
    shelf_free((char *)s->name);
    shelf_free((char *)s->relpath);
    shelf_free((char *)s->sha256);
    shelf_free((char *)s->format);
    shelf_free((char *)s->subtype);
    shelf_free((char *)s->title);
    shelf_free((char *)s->author);
    shelf_free((char *)s->comment);
    shelf_free((char *)s->genre);
    memset(s, 0, sizeof *s);
}

int shelf_probe_file(const char *path, shelf_sample *out, char **reason)
{
    char why[256] = "";
    uint8_t h[SHELF_HASH_BYTES];
    char hex[SHELF_HASH_HEX];
    shelf__probe pr;
    struct stat sb;
    void *buf = NULL;
    int fd, rc, e;

    memset(out, 0, sizeof *out);
    if (reason)
        *reason = NULL;
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &sb) != 0) {
        e = errno;
        snprintf(why, sizeof why, "cannot open '%s': %s", path, shelf__errno_str(e));
        rc = shelf__errno_rc(e);
        goto out;
    }
    if (!(buf = shelf__malloc(STREAM_BUF))) {
        rc = SHELF_ENOMEM;
        goto out;
    }
    if ((e = shelf__sha256_fd(fd, buf, STREAM_BUF, h, NULL)) != 0) {
        snprintf(why, sizeof why, "cannot read '%s': %s", path, shelf__errno_str(e));
        rc = SHELF_EIO;
        goto out;
    }
    shelf__hex(h, sizeof h, hex);
    if ((rc = shelf__probe_path(path, &pr, why, sizeof why)) != SHELF_OK)
        goto out;
    out->name = shelf__path_stem(path);
    out->relpath = shelf__strdup(path);
    out->sha256 = shelf__strdup(hex);
    out->format = shelf__strdup(pr.format);
    out->subtype = shelf__strdup(pr.subtype);
    if (!out->name || !out->relpath || !out->sha256 || !out->format || !out->subtype) {
        shelf_sample_release(out);
        rc = SHELF_ENOMEM;
        goto out;
    }
    out->size = (uint64_t)sb.st_size;
    out->mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
    out->rate = pr.rate;
    out->channels = pr.channels;
    out->frames = pr.frames;
    out->duration = pr.duration;
    out->bits = pr.bits;
    out->root_key = pr.root_key;
    out->loop_start = pr.loop_start;
    out->loop_end = pr.loop_end;
    out->loop_mode = pr.loop_mode;
    out->tempo = pr.tempo > 0 ? pr.tempo : shelf__tempo_from_name(out->name);
    out->beats = pr.beats;
    out->category = shelf__guess_category(path);
    out->tags = "";
    if ((pr.title[0] && !(out->title = shelf__strdup(pr.title))) ||
        (pr.author[0] && !(out->author = shelf__strdup(pr.author))) ||
        (pr.comment[0] && !(out->comment = shelf__strdup(pr.comment))) ||
        (pr.genre[0] && !(out->genre = shelf__strdup(pr.genre)))) {
        shelf_sample_release(out);
        rc = SHELF_ENOMEM;
    }
out:
    if (rc != SHELF_OK && reason && why[0])
        *reason = shelf__strdup(why);
    if (fd >= 0)
        close(fd);
    shelf_free(buf);
    return rc;
}
