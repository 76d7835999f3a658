/*
 * archive_read.c: reading an archive that a stranger may have made.  One
 * pass through libarchive (tar in all its dialects and zip; zstd, gzip, xz
 * and bzip2 compression, never an outside program): each entry's name and
 * type are checked before its data is read, every file is hashed (SHA-256
 * and SHA-512) as it streams by, tag files are kept in memory and the
 * payload is optionally written under a staging folder.  Then the BagIt
 * check compares what was read with the manifests.
 *
 * What is refused, at once and whole (SHELF_EFORMAT, "unsafe archive: ..."):
 * absolute names, "..", empty or "." components, backslashes and control
 * characters; symbolic and hard links; devices, fifos and sockets; a name
 * seen twice, or two names equal but for ASCII case, or a file and a folder
 * of the same name; entries outside the bag's single top folder; more
 * entries or bytes than the limits, a declared size over the limit, more
 * data than an entry declares, and unpacked bytes more than max_ratio times
 * the packed bytes read (zip bombs).  Staged files are created with O_EXCL
 * and O_NOFOLLOW in a folder only this process made, from names checked
 * above, so nothing is written outside it.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <archive.h>
#include <archive_entry.h>
#include "shelf/shelf.h"
#include "archive_int.h"

#define READ_CHUNK ((size_t)1 << 20)

void shelf__bag_limits_init(shelf__bag_limits *l, const void *pub_limits)
{
    const shelf_archive_limits *p = pub_limits;

    l->max_bytes = p && p->max_bytes ? p->max_bytes : (uint64_t)1 << 40;
    l->max_files = p && p->max_files ? p->max_files : 1000000;
    l->max_ratio = p && p->max_ratio > 0 ? p->max_ratio : 1000.0;
    l->ratio_after = (uint64_t)64 << 20;
    l->max_tag = (size_t)64 << 20;
    l->disk_bytes = 0;
    l->disk_path = NULL;
}

void shelf__bag_release(shelf__bag *bag)
{
    size_t i;

    for (i = 0; i < bag->nfiles; i++) {
        free(bag->files[i].path);
        free(bag->files[i].text);
        free(bag->files[i].staged);
    }
    for (i = 0; i < bag->nproblems; i++) {
        free(bag->problems[i].path);
        free(bag->problems[i].detail);
    }
    free(bag->files);
    free(bag->problems);
    free(bag->base);
    free(bag->truncated_msg);
    memset(bag, 0, sizeof *bag);
}

shelf__bag_file *shelf__bag_find(shelf__bag *bag, const char *path)
{
    size_t i;

    for (i = 0; i < bag->nfiles; i++)
        if (!strcmp(bag->files[i].path, path))
            return &bag->files[i];
    return NULL;
}

static int add_problem(shelf__bag *bag, int kind, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int add_problem(shelf__bag *bag, int kind, const char *path, const char *fmt, ...)
{
    shelf__bag_problem *p;
    char detail[512];
    va_list ap;

    if (bag->nproblems == bag->pcap) {
        size_t ncap = bag->pcap ? bag->pcap * 2 : 16;
        shelf__bag_problem *np = shelf__realloc(bag->problems, ncap * sizeof *np);

        if (!np)
            return SHELF_ENOMEM;
        bag->problems = np;
        bag->pcap = ncap;
    }
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    p = &bag->problems[bag->nproblems];
    p->kind = kind;
    p->path = shelf__strdup(path);
    p->detail = shelf__strdup(detail);
    if (!p->path || !p->detail) {
        free(p->path);
        free(p->detail);
        return SHELF_ENOMEM;
    }
    bag->nproblems++;
    return SHELF_OK;
}

/* ---- reading ------------------------------------------------------------------- */

typedef struct reader {
    const shelf__bag_limits *lim;
    shelf__bag *bag;
    shelf__err *err;
    shelf__strset names, folded, dirs, files;
    uint64_t total;             /* bytes unpacked */
    uint64_t entries;
    uint8_t *buf;
} reader;

static int unsafe(reader *r, const char *name, const char *why)
{
    char shown[120];

    snprintf(shown, sizeof shown, "%s", name ? name : "");
    /* Never print control characters from a stranger's name. */
    for (char *c = shown; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '?';
    return shelf__seterr(r->err, SHELF_EFORMAT, "unsafe archive: '%s': %s", shown, why);
}

/* The payload would not fit the disk it is unpacked on: a full disk, not
 * an unsafe archive. */
static int no_space(reader *r, const char *name)
{
    char shown[120];

    snprintf(shown, sizeof shown, "%s", name ? name : "");
    for (char *c = shown; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '?';
    return shelf__seterr(r->err, SHELF_EIO, "cannot unpack '%s' into '%s': no space left on device (%llu bytes"
                         " free for unpacking and importing it)", shown, r->lim->disk_path ? r->lim->disk_path : ".",
                         (unsigned long long)r->lim->disk_bytes);
}

/* Record a folder and its parents, refusing one that is also a file. */
static int add_dirs(reader *r, const char *name, int include_self)
{
    char *copy = shelf__strdup(name), *slash;
    int rc = SHELF_OK;

    if (!copy)
        return shelf__seterr(r->err, SHELF_ENOMEM, "out of memory");
    if (!include_self) {
        if (!(slash = strrchr(copy, '/'))) {
            free(copy);
            return SHELF_OK;
        }
        *slash = '\0';
    }
    for (;;) {
        int added;

        if (shelf__strset_has(&r->files, copy)) {
            rc = unsafe(r, name, "a file and a folder of the same name");
            break;
        }
        if ((added = shelf__strset_add(&r->dirs, copy, NULL)) < 0) {
            rc = shelf__seterr(r->err, SHELF_ENOMEM, "out of memory");
            break;
        }
        if (!added || !(slash = strrchr(copy, '/')))
            break;
        *slash = '\0';
    }
    free(copy);
    return rc;
}

static int check_entry(reader *r, struct archive_entry *e, char **namep, int *is_dir)
{
    const char *raw = archive_entry_pathname_utf8(e);
    char *name = NULL;
    const char *why, *found;
    mode_t type = archive_entry_filetype(e);
    size_t n;
    int rc = SHELF_OK, added;

    *namep = NULL;
    if (!raw)
        raw = archive_entry_pathname(e);
    if (!raw || !*raw)
        return unsafe(r, "", "entry without a name");
    if (++r->entries > r->lim->max_files)
        return unsafe(r, raw, "more entries than the limit");
    if (archive_entry_hardlink(e))
        return unsafe(r, raw, "hard link");
    if (type == AE_IFLNK || archive_entry_symlink(e))
        return unsafe(r, raw, "symbolic link");
    if (type != AE_IFREG && type != AE_IFDIR)
        return unsafe(r, raw, type == AE_IFCHR || type == AE_IFBLK ? "device file" :
                              type == AE_IFIFO ? "fifo" : type == AE_IFSOCK ? "socket" :
                              "entry of unknown type");
    *is_dir = type == AE_IFDIR;
    if (!(name = shelf__strdup(raw)))
        return shelf__seterr(r->err, SHELF_ENOMEM, "out of memory");
    n = strlen(name);
    if (*is_dir && n > 1 && name[n - 1] == '/')
        name[--n] = '\0';
    if ((why = shelf__bag_name_unsafe(name)) != NULL) {
        rc = unsafe(r, raw, why);
        goto out;
    }
    /* One top folder: the bag's base. */
    {
        const char *slash = strchr(name, '/');
        size_t blen = slash ? (size_t)(slash - name) : n;

        if (!r->bag->base) {
            if (!slash && !*is_dir) {
                rc = unsafe(r, raw, "file outside the bag's folder");
                goto out;
            }
            if (!(r->bag->base = shelf__strndup(name, blen))) {
                rc = shelf__seterr(r->err, SHELF_ENOMEM, "out of memory");
                goto out;
            }
        } else if (strlen(r->bag->base) != blen || strncmp(name, r->bag->base, blen) != 0) {
            rc = unsafe(r, raw, "more than one top folder");
            goto out;
        } else if (!slash && !*is_dir) {
            rc = unsafe(r, raw, "file outside the bag's folder");
            goto out;
        }
    }
    if (*is_dir) {
        rc = add_dirs(r, name, 1);
        goto out;
    }
    if (archive_entry_size_is_set(e) && archive_entry_size(e) < 0) {
        rc = unsafe(r, raw, "negative size");
        goto out;
    }
    if (archive_entry_size_is_set(e) && (uint64_t)archive_entry_size(e) > r->lim->max_bytes - r->total) {
        rc = unsafe(r, raw, "declared size over the limit");
        goto out;
    }
    if (r->lim->disk_bytes && archive_entry_size_is_set(e) &&
        (uint64_t)archive_entry_size(e) > r->lim->disk_bytes - (r->total < r->lim->disk_bytes ?
                                                                 r->total : r->lim->disk_bytes)) {
        rc = no_space(r, raw);
        goto out;
    }
    if ((added = shelf__strset_add(&r->names, name, NULL)) <= 0) {
        rc = added < 0 ? shelf__seterr(r->err, SHELF_ENOMEM, "out of memory") : unsafe(r, raw, "duplicate name");
        goto out;
    }
    if ((added = shelf__strset_add(&r->folded, name, &found)) <= 0) {
        char why2[200];

        if (added < 0) {
            rc = shelf__seterr(r->err, SHELF_ENOMEM, "out of memory");
            goto out;
        }
        snprintf(why2, sizeof why2, "collides with '%.80s' where case does not count", found);
        rc = unsafe(r, raw, why2);
        goto out;
    }
    if (shelf__strset_has(&r->dirs, name)) {
        rc = unsafe(r, raw, "a file and a folder of the same name");
        goto out;
    }
    if (shelf__strset_add(&r->files, name, NULL) < 0) {
        rc = shelf__seterr(r->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    rc = add_dirs(r, name, 0);
out:
    if (rc == SHELF_OK)
        *namep = name;
    else
        free(name);
    return rc;
}

/* Open stage/rel for writing, making its folders (names checked already). */
static int stage_open(reader *r, const char *stage, const char *rel, char **abs, int *fd)
{
    char *path = shelf__path_join(stage, rel), *slash;
    int e;

    *fd = -1;
    *abs = NULL;
    if (!path)
        return shelf__seterr(r->err, SHELF_ENOMEM, "out of memory");
    slash = strrchr(path, '/');
    *slash = '\0';
    e = shelf__mkdirs(path, 0700);
    *slash = '/';
    if (e) {
        free(path);
        return shelf__seterr_errno(r->err, e, "cannot create a staging folder for '%s'", rel);
    }
    if ((*fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0) {
        e = errno;
        free(path);
        return shelf__seterr_errno(r->err, e, "cannot stage '%s'", rel);
    }
    *abs = path;
    return SHELF_OK;
}

/* Read one regular file's data: hash, keep (tag file) or stage (payload). */
static int read_file(reader *r, struct archive *a, struct archive_entry *e, const char *name,
                     const char *stage)
{
    /* check_entry set the base before it accepted the first entry. */
    const char *rel = r->bag->base && name ? name + strlen(r->bag->base) + 1 : "";
    int payload = strncmp(rel, "data/", 5) == 0;
    int64_t declared = archive_entry_size_is_set(e) ? archive_entry_size(e) : -1;
    shelf__bag_file *f;
    shelf__hash2 *h = NULL;
    shelf__buf text = SHELF__BUF_INIT;
    char *staged = NULL;
    uint64_t got = 0;
    int fd = -1, rc = SHELF_OK, e2;

    if (!payload && declared > (int64_t)r->lim->max_tag)
        return unsafe(r, name, "tag file larger than 64 MiB");
    if (!(h = shelf__hash2_new()))
        return shelf__seterr(r->err, SHELF_ENOMEM, "out of memory");
    if (payload && stage && (rc = stage_open(r, stage, rel, &staged, &fd)) != SHELF_OK)
        goto out;
    for (;;) {
        la_ssize_t n = archive_read_data(a, r->buf, READ_CHUNK);
        int64_t packed;

        if (n == 0)
            break;
        if (n < 0) {
            /* Damage: stop reading, keep what was read for the report. */
            r->bag->truncated = 1;
            free(r->bag->truncated_msg);
            r->bag->truncated_msg = shelf__asprintf("reading stopped in '%s': %s", rel,
                                                    archive_error_string(a) ? archive_error_string(a) : "damaged");
            rc = SHELF_DONE;
            goto out;
        }
        got += (uint64_t)n;
        r->total += (uint64_t)n;
        if (declared >= 0 && got > (uint64_t)declared) {
            rc = unsafe(r, name, "more data than its header declares");
            goto out;
        }
        if (r->total > r->lim->max_bytes) {
            rc = unsafe(r, name, "unpacks to more bytes than the limit");
            goto out;
        }
        if (r->lim->disk_bytes && r->total > r->lim->disk_bytes) {
            rc = no_space(r, name);
            goto out;
        }
        packed = archive_filter_bytes(a, -1);
        if (r->total > r->lim->ratio_after && packed > 0 &&
            (double)r->total > r->lim->max_ratio * (double)packed) {
            rc = unsafe(r, name, "unpacks to over the allowed ratio of its packed size (zip bomb)");
            goto out;
        }
        shelf__hash2_update(h, r->buf, (size_t)n);
        if (!payload) {
            if (got > r->lim->max_tag) {
                rc = unsafe(r, name, "tag file larger than 64 MiB");
                goto out;
            }
            if (shelf__buf_add(&text, r->buf, (size_t)n) != SHELF_OK) {
                rc = shelf__seterr(r->err, SHELF_ENOMEM, "out of memory");
                goto out;
            }
        }
        if (fd >= 0 && (e2 = shelf__write_all(fd, r->buf, (size_t)n)) != 0) {
            rc = shelf__seterr_errno(r->err, e2, "cannot write '%s'", staged);
            goto out;
        }
    }
    if (fd >= 0) {
        e2 = close(fd);
        fd = -1;
        if (e2) {
            rc = shelf__seterr_errno(r->err, errno, "cannot write '%s'", staged);
            goto out;
        }
    }
    if (r->bag->nfiles == r->bag->cap) {
        size_t ncap = r->bag->cap ? r->bag->cap * 2 : 64;
        shelf__bag_file *nf = shelf__realloc(r->bag->files, ncap * sizeof *nf);

        if (!nf) {
            rc = shelf__seterr(r->err, SHELF_ENOMEM, "out of memory");
            goto out;
        }
        r->bag->files = nf;
        r->bag->cap = ncap;
    }
    f = &r->bag->files[r->bag->nfiles];
    memset(f, 0, sizeof *f);
    if (!(f->path = shelf__strdup(rel))) {
        rc = shelf__seterr(r->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    f->size = got;
    shelf__hash2_final(h, f->sha256, f->sha512);
    if (!payload) {
        if (!text.buf && shelf__buf_add(&text, "", 0) != SHELF_OK) {
            free(f->path);
            rc = shelf__seterr(r->err, SHELF_ENOMEM, "out of memory");
            goto out;
        }
        f->text = shelf__buf_detach(&text);
    } else {
        r->bag->payload_bytes += got;
        r->bag->payload_files++;
    }
    f->staged = staged;
    staged = NULL;
    r->bag->nfiles++;
out:
    if (fd >= 0)
        close(fd);
    if (staged) {
        unlink(staged);
        free(staged);
    }
    shelf__buf_release(&text);
    shelf__hash2_free(h);
    return rc;
}

int shelf__bag_read(const char *path, const void *data, size_t n, const shelf__bag_limits *lim,
                    const char *stage, shelf__bag_progress_cb progress, void *ud,
                    shelf__bag *bag, shelf__err *err)
{
    struct archive *a = NULL;
    struct archive_entry *e;
    reader r;
    double last = 0;
    int rc = SHELF_OK, ar;
    locale_t old_ctype = shelf__utf8_ctype_enter();

    memset(bag, 0, sizeof *bag);
    memset(&r, 0, sizeof r);
    r.lim = lim;
    r.bag = bag;
    r.err = err;
    r.folded.fold = 1;
    r.dirs.fold = 1;
    r.files.fold = 1;
    if (!(r.buf = shelf__malloc(READ_CHUNK)) || !(a = archive_read_new())) {
        rc = shelf__seterr(err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    archive_read_support_format_tar(a);
    archive_read_support_format_zip(a);
    /* Built-in decoders only: a missing one must not start a program. */
    archive_read_support_filter_zstd(a);
    archive_read_support_filter_gzip(a);
    archive_read_support_filter_xz(a);
    archive_read_support_filter_bzip2(a);
    ar = path ? archive_read_open_filename(a, path, (size_t)1 << 16)
              : archive_read_open_memory(a, data, n);
    if (ar != ARCHIVE_OK) {
        int en = archive_errno(a);

        if (path && (en == ENOENT || en == EACCES))
            rc = shelf__seterr_errno(err, en, "cannot open '%s'", path);
        else
            rc = shelf__seterr(err, SHELF_EFORMAT, "cannot read '%s': %s", path ? path : "archive",
                               archive_error_string(a) ? archive_error_string(a) : "not an archive");
        goto out;
    }
    for (;;) {
        char *name = NULL;
        int is_dir = 0;

        ar = archive_read_next_header(a, &e);
        if (ar == ARCHIVE_EOF)
            break;
        if (ar < ARCHIVE_WARN) {
            if (r.entries == 0) {
                rc = shelf__seterr(err, SHELF_EFORMAT, "cannot read '%s': %s", path ? path : "archive",
                                   archive_error_string(a) ? archive_error_string(a) : "not an archive");
                goto out;
            }
            bag->truncated = 1;
            free(bag->truncated_msg);
            bag->truncated_msg = shelf__asprintf("reading stopped after %llu entries: %s",
                                                 (unsigned long long)r.entries,
                                                 archive_error_string(a) ? archive_error_string(a) : "damaged");
            break;
        }
        if ((rc = check_entry(&r, e, &name, &is_dir)) != SHELF_OK)
            goto out;
        if (!is_dir) {
            rc = read_file(&r, a, e, name, stage);
            if (rc == SHELF_DONE) {
                free(name);
                rc = SHELF_OK;
                break;
            }
        }
        free(name);
        if (rc != SHELF_OK)
            goto out;
        if (progress && shelf__monotonic() - last > 0.1) {
            last = shelf__monotonic();
            if (progress(ud, bag->nfiles, r.total, NULL)) {
                rc = shelf__seterr(err, SHELF_ECANCELED, "canceled");
                goto out;
            }
        }
    }
    if (!bag->base) {
        rc = shelf__seterr(err, SHELF_EFORMAT, "'%s' is empty: not a bag", path ? path : "archive");
        goto out;
    }
    if (bag->truncated && !bag->truncated_msg) {
        rc = shelf__seterr(err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
out:
    if (a)
        archive_read_free(a);
    shelf__strset_release(&r.names);
    shelf__strset_release(&r.folded);
    shelf__strset_release(&r.dirs);
    shelf__strset_release(&r.files);
    free(r.buf);
    shelf__utf8_ctype_leave(old_ctype);
    return rc;
}

/* ---- the BagIt check ---------------------------------------------------------- */

typedef struct mcheck {
    shelf__bag *bag;
    const char *manifest;       /* its name, for messages */
    size_t hash_len;
    unsigned bit;               /* payload: which manifest lists a file */
    int tag;                    /* a tag manifest */
    int rc;
} mcheck;

static int on_line(void *ud, const char *path, const uint8_t *hash)
{
    mcheck *m = ud;
    shelf__bag_file *f;
    const uint8_t *have;

    if (!m->tag && strncmp(path, "data/", 5) != 0)
        return add_problem(m->bag, SHELF_ARCHIVE_CORRUPT, path, "%s lists a file outside data/", m->manifest);
    if (m->tag && !strncmp(path, "data/", 5))
        return add_problem(m->bag, SHELF_ARCHIVE_CORRUPT, path, "%s lists a payload file", m->manifest);
    if (!(f = shelf__bag_find(m->bag, path)))
        return add_problem(m->bag, SHELF_ARCHIVE_MISSING, path, "listed in %s, not in the archive",
                           m->manifest);
    have = m->hash_len == SHELF_HASH_BYTES ? f->sha256 : f->sha512;
    if (!m->tag)
        f->listed |= (int)m->bit;
    if (memcmp(have, hash, m->hash_len) != 0)
        return add_problem(m->bag, SHELF_ARCHIVE_CORRUPT, path, "does not match its checksum in %s",
                           m->manifest);
    return SHELF_OK;
}

static int check_manifest(shelf__bag *bag, shelf__bag_file *mf, size_t hash_len, unsigned bit,
                          int tag, shelf__err *err)
{
    mcheck m = { bag, mf->path, hash_len, bit, tag, 0 };
    shelf__err perr = { 0, "" };
    int rc;

    rc = shelf__bag_manifest_parse(mf->text, (size_t)mf->size, hash_len, on_line, &m, &perr);
    if (rc == SHELF_EFORMAT)
        return add_problem(bag, SHELF_ARCHIVE_CORRUPT, mf->path, "%s", perr.msg);
    if (rc != SHELF_OK)
        return shelf__seterr(err, rc, "out of memory");
    return SHELF_OK;
}
/* Payload-Oxum "OCTETS.STREAMS": two decimal numbers and nothing else. */
static int parse_oxum(const char *v, unsigned long long *octets, unsigned long long *streams)
{
    char *end;

    errno = 0;
    if (!isdigit((unsigned char)*v))
        return -1;
    *octets = strtoull(v, &end, 10);
    if (*end != '.' || !isdigit((unsigned char)end[1]))
        return -1;
    *streams = strtoull(end + 1, &end, 10);
    return errno || *end ? -1 : 0;
}


int shelf__bag_check(shelf__bag *bag, shelf__err *err)
{
    static const struct { const char *alg; size_t len; } algs[] = {
        { "sha256", SHELF_HASH_BYTES }, { "sha512", SHELF__SHA512_BYTES }
    };
    shelf__bag_file *bt, *info, *mf;
    unsigned mask = 0;
    char name[64], *v = NULL;
    size_t i, k;
    int rc = SHELF_OK;

    if (!(bt = shelf__bag_find(bag, "bagit.txt"))) {
        if (bag->truncated)
            return shelf__seterr(err, SHELF_ECORRUPT, "damaged archive: %s", bag->truncated_msg);
        return shelf__seterr(err, SHELF_EFORMAT, "no bagit.txt in '%s': not a BagIt bag", bag->base);
    }
    if (shelf__bag_info_get(bt->text, (size_t)bt->size, "BagIt-Version", &v) != SHELF_OK)
        return shelf__seterr(err, SHELF_ENOMEM, "out of memory");
    if (!v || (strcmp(v, "1.0") != 0 && strcmp(v, "0.97") != 0)) {
        rc = shelf__seterr(err, SHELF_EFORMAT, "bagit.txt: BagIt version '%s' is not 1.0 or 0.97",
                           v ? v : "(none)");
        free(v);
        return rc;
    }
    free(v);
    if (shelf__bag_find(bag, "fetch.txt"))
        return shelf__seterr(err, SHELF_EFORMAT, "fetch.txt: bags that fetch files from elsewhere are not supported");
    if (bag->truncated &&
        (rc = add_problem(bag, SHELF_ARCHIVE_CORRUPT, bag->base, "%s", bag->truncated_msg)) != SHELF_OK)
        return shelf__seterr(err, rc, "out of memory");
    for (k = 0; k < 2; k++) {
        snprintf(name, sizeof name, "manifest-%s.txt", algs[k].alg);
        if (!(mf = shelf__bag_find(bag, name)))
            continue;
        mask |= 1u << k;
        if ((rc = check_manifest(bag, mf, algs[k].len, 1u << k, 0, err)) != SHELF_OK)
            return rc;
    }
    if (!mask) {
        /* bagit.txt but no manifest: damage (a tar cut short by zeroed
         * blocks ends cleanly), unless the reader says more. */
        if (bag->truncated || bag->nfiles > 1) {
            if ((rc = add_problem(bag, SHELF_ARCHIVE_MISSING, "manifest-sha256.txt",
                                  "lost with the end of the archive: payload cannot be checked")) != SHELF_OK)
                return shelf__seterr(err, rc, "out of memory");
            return shelf__seterr(err, SHELF_ECORRUPT, "damaged archive: %s",
                                 bag->truncated ? bag->truncated_msg : "its manifests are missing");
        }
        return shelf__seterr(err, SHELF_EFORMAT, "'%s' has no manifest-sha256.txt or manifest-sha512.txt",
                             bag->base);
    }
    for (i = 0; i < bag->nfiles; i++) {
        shelf__bag_file *f = &bag->files[i];

        if (!strncmp(f->path, "data/", 5) && (unsigned)f->listed != mask &&
            (rc = add_problem(bag, SHELF_ARCHIVE_UNLISTED, f->path,
                              f->listed ? "missing from one of the manifests" : "in no manifest")) != SHELF_OK)
            return shelf__seterr(err, rc, "out of memory");
    }
    if ((info = shelf__bag_find(bag, "bag-info.txt")) != NULL &&
        shelf__bag_info_get(info->text, (size_t)info->size, "Payload-Oxum", &v) != SHELF_OK)
        return shelf__seterr(err, SHELF_ENOMEM, "out of memory");
    if (info && v) {
        unsigned long long octets = 0, streams = 0;

        if (parse_oxum(v, &octets, &streams) != 0 ||
            octets != bag->payload_bytes || streams != bag->payload_files)
            rc = add_problem(bag, SHELF_ARCHIVE_UNLISTED, "bag-info.txt",
                             "Payload-Oxum %s, the payload has %llu.%llu", v,
                             (unsigned long long)bag->payload_bytes,
                             (unsigned long long)bag->payload_files);
        free(v);
        if (rc != SHELF_OK)
            return shelf__seterr(err, rc, "out of memory");
    }
    for (k = 0; k < 2; k++) {
        snprintf(name, sizeof name, "tagmanifest-%s.txt", algs[k].alg);
        if ((mf = shelf__bag_find(bag, name)) != NULL &&
            (rc = check_manifest(bag, mf, algs[k].len, 0, 1, err)) != SHELF_OK)
            return rc;
    }
    if (bag->nproblems)
        return shelf__seterr(err, SHELF_ECORRUPT, "'%s' is damaged: %zu problem%s", bag->base,
                             bag->nproblems, bag->nproblems == 1 ? "" : "s");
    return SHELF_OK;
}

int shelf__bag_signature(shelf__bag *bag, shelf_signature *sig, shelf__err *err)
{
    shelf__bag_file *f = shelf__bag_find(bag, SHELF__SIG_FILE), *tm;

    memset(sig, 0, sizeof *sig);
    sig->size = sizeof *sig;
    if (!f)
        return SHELF_OK;
    if (!f->text)
        return shelf__seterr(err, SHELF_EFORMAT, "%s: not a regular file", SHELF__SIG_FILE);
    if (!(tm = shelf__bag_find(bag, "tagmanifest-sha256.txt")) || !tm->text)
        return shelf__seterr(err, SHELF_EFORMAT, "'%s' is signed but has no tagmanifest-sha256.txt",
                             bag->base);
    return shelf__sig_check(err, f->text, (size_t)f->size, "tagmanifest-sha256.txt", tm->text,
                            (size_t)tm->size, sig);
}
