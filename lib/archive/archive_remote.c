/*
 * archive_remote.c: archives on a remote target (include/shelf/archive.h,
 * shelf_archive_upload/_download).  An archive and its PAR2 files are
 * whole files under archives/ in the target, sent with the backend's
 * save_fd (multipart on S3, streamed on WebDAV) and fetched in ranges, so
 * neither side holds a whole archive in memory.  Export, verify and
 * import themselves stay local: the CLI exports into a temporary folder
 * and uploads, or downloads into one and verifies there.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "../common/common_int.h"
#include "../remote/remote_int.h"
#include "archive_int.h"
#include "shelf/shelf.h"

#define ARCHIVE_DIR "archives"
/* Downloads go in ranges of this many bytes. */
#define RANGE_BYTES (8u << 20)

/* 1 when file is name itself, name.par2 or name.vol*.par2. */
static int belongs(const char *file, const char *name)
{
    size_t n = strlen(name), f = strlen(file);

    if (strncmp(file, name, n) != 0)
        return 0;
    if (file[n] == '\0')
        return 1;
    if (f < n + 5 || strcmp(file + f - 5, ".par2") != 0)
        return 0;
    return !strcmp(file + n, ".par2") || !strncmp(file + n, ".vol", 4);
}

/*
 * A PAR2 volume's "+" (NAME.vol003+04.par2) is not allowed in names in a
 * repository-style target, so it travels as "-" and comes back as "+":
 * only in the suffix after NAME, which is digits, "." and that one sign.
 * file: a local name (to_remote 1) or a remote one; out: the other.
 */
static char *vol_name(const char *file, const char *name, int to_remote)
{
    char *out = shelf__strdup(file), *p;
    size_t n = strlen(name);

    if (!out || strncmp(file, name, n) != 0 || strncmp(file + n, ".vol", 4) != 0)
        return out;
    for (p = out + n + 4; *p; p++)
        if (*p == (to_remote ? '+' : '-'))
            *p = to_remote ? '-' : '+';
    return out;
}

static int open_be(const char *target, const shelf_transfer_opts *o, int create,
                   shelf__backend **be, shelf__err *err)
{
    shelf_transfer_opts oo;
    shelf__be_opts bo;
    int rc;

    if ((rc = shelf__opts_check(err, &oo, sizeof oo, o, sizeof oo, "shelf_transfer_opts")) !=
        SHELF_OK)
        return rc;
    memset(&bo, 0, sizeof bo);
    bo.create = create;
    bo.ca_file = oo.ca_file;
    bo.limit_up = oo.limit_upload;
    bo.limit_down = oo.limit_download;
    bo.connections = oo.connections;
    return shelf__be_open_target(target, &bo, be, err);
}

static int name_check(const char *name, shelf__err *err)
{
    char *full = shelf__asprintf(ARCHIVE_DIR "/%s", name);
    int ok = full && !strchr(name, '/') && shelf__be_name_ok(full);

    if (!full)
        return shelf__seterr(err, SHELF_ENOMEM, "out of memory");
    shelf_free(full);
    if (!ok)
        return shelf__seterr(err, SHELF_EINVAL, "cannot use '%s' as a remote archive name: use "
                             "letters, digits, '.', '_' and '-' only", name);
    return SHELF_OK;
}

/* Send file dir/file (a part of archive base) as archives/file, as mode
 * says of a file of that name there (SHELF__UPLOAD_). */
static int upload_one(shelf__backend *be, const char *dir, const char *file, const char *base, int mode,
                      shelf__err *err)
{
    char *path = shelf__path_join(dir, file), *rfile = vol_name(file, base, 1), *name = NULL;
    struct stat sb;
    int rc = SHELF_OK, fd = -1;

    if (!path || !rfile || !(name = shelf__asprintf(ARCHIVE_DIR "/%s", rfile))) {
        rc = shelf__seterr(err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &sb) != 0) {
        rc = shelf__seterr_errno(err, errno, "cannot open '%s'", path);
        goto out;
    }
    if (mode != SHELF__UPLOAD_CREATE) {
        uint64_t there = 0;
        int src = shelf__be_stat(be, name, &there);

        if (src == SHELF_OK && mode == SHELF__UPLOAD_RESUME && there == (uint64_t)sb.st_size)
            goto out;       /* sent whole before */
        if (src == SHELF_OK && (rc = shelf__be_remove(be, name)) != SHELF_OK) {
            shelf__seterr(err, rc, "cannot replace '%s' in %s: %s", file, be->location, be->err.msg);
            goto out;
        }
    }
    if ((rc = shelf__be_save_fd(be, name, fd, (uint64_t)sb.st_size)) != SHELF_OK)
        shelf__seterr(err, rc, "cannot upload '%s' to %s: %s", file, be->location, be->err.msg);
out:
    if (fd >= 0)
        close(fd);
    shelf_free(path);
    shelf_free(rfile);
    shelf_free(name);
    return rc;
}

int shelf_archive_upload(const char *path, const char *target, const shelf_transfer_opts *o,
                         unsigned *nfiles, char **errmsg)
{
    shelf__err err = { 0, "" };
    int rc = shelf__archive_send(path, target, o, SHELF__UPLOAD_CREATE, nfiles, &err);

    if (rc != SHELF_OK && errmsg)
        *errmsg = shelf__strdup(err.msg);
    return rc;
}

int shelf__archive_send(const char *path, const char *target, const shelf_transfer_opts *o, int mode,
                        unsigned *nfiles, shelf__err *e)
{
    shelf__err err = { 0, "" };
    shelf__backend *be = NULL;
    char *dir = NULL;
    const char *base, *slash;
    struct dirent *de;
    DIR *dh = NULL;
    unsigned n = 0;
    int rc;

    if (nfiles)
        *nfiles = 0;
    if (!path || !target) {
        rc = shelf__seterr(&err, SHELF_EINVAL, "no archive or target given");
        goto out;
    }
    slash = strrchr(path, '/');
    base = slash ? slash + 1 : path;
    if ((rc = name_check(base, &err)) != SHELF_OK)
        goto out;
    if (!(dir = slash ? shelf__strndup(path, slash == path ? 1 : (size_t)(slash - path))
                      : shelf__strdup("."))) {
        rc = shelf__seterr(&err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    if (!(dh = opendir(dir))) {
        rc = shelf__seterr_errno(&err, errno, "cannot list '%s'", dir);
        goto out;
    }
    if ((rc = open_be(target, o, 1, &be, &err)) != SHELF_OK)
        goto out;
    /* The archive first, its parity after: a run cut short leaves an
     * archive without parity, never parity without its archive. */
    if ((rc = upload_one(be, dir, base, base, mode, &err)) != SHELF_OK)
        goto out;
    n++;
    while ((errno = 0, de = readdir(dh)) != NULL) {
        if (!strcmp(de->d_name, base) || !belongs(de->d_name, base))
            continue;
        if ((rc = upload_one(be, dir, de->d_name, base, mode, &err)) != SHELF_OK)
            goto out;
        n++;
    }
    if (errno)
        rc = shelf__seterr_errno(&err, errno, "cannot list '%s'", dir);
out:
    if (dh)
        closedir(dh);
    shelf__be_close(be);
    shelf_free(dir);
    if (nfiles)
        *nfiles = n;
    if (rc != SHELF_OK)
        *e = err;
    return rc;
}

typedef struct found {
    const char *name;
    char **files;
    uint64_t *sizes;
    size_t n, cap;
} found;

static int collect(void *ud, const char *name, uint64_t size)
{
    found *f = ud;
    const char *file = name + strlen(ARCHIVE_DIR "/");

    if (strchr(file, '/') || !belongs(file, f->name))
        return 0;
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 8;
        char **v = shelf__realloc(f->files, cap * sizeof *v);
        uint64_t *s;

        if (!v)
            return SHELF_ENOMEM;
        f->files = v;
        if (!(s = shelf__realloc(f->sizes, cap * sizeof *s)))
            return SHELF_ENOMEM;
        f->sizes = s;
        f->cap = cap;
    }
    if (!(f->files[f->n] = shelf__strdup(file)))
        return SHELF_ENOMEM;
    f->sizes[f->n++] = size;
    return 0;
}

/* Fetch archives/file (size bytes; a part of archive base) into dir
 * through a temp file. */
static int download_one(shelf__backend *be, const char *dir, const char *file, const char *base,
                        uint64_t size, shelf__err *err)
{
    char *local = vol_name(file, base, 0), *path = local ? shelf__path_join(dir, local) : NULL;
    char *tmp = NULL, *name = NULL;
    shelf__buf b = SHELF__BUF_INIT;
    uint64_t off = 0;
    int rc = SHELF_OK, fd = -1, e;

    if (!path || !(tmp = shelf__asprintf("%s.part-XXXXXX", path)) ||
        !(name = shelf__asprintf(ARCHIVE_DIR "/%s", file))) {
        rc = shelf__seterr(err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    if ((fd = mkstemp(tmp)) < 0) {
        rc = shelf__seterr_errno(err, errno, "cannot write in '%s'", dir);
        tmp[0] = '\0';
        goto out;
    }
    while (off < size) {
        uint64_t len = size - off < RANGE_BYTES ? size - off : RANGE_BYTES;

        if ((rc = shelf__be_load(be, name, off, len, &b)) != SHELF_OK) {
            shelf__seterr(err, rc, "cannot download '%s' from %s: %s", file, be->location,
                          be->err.msg);
            goto out;
        }
        if ((e = shelf__write_all(fd, b.buf, b.len)) != 0) {
            rc = shelf__seterr_errno(err, e, "cannot write '%s'", path);
            goto out;
        }
        off += len;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        fd = -1;
        rc = shelf__seterr_errno(err, errno, "cannot write '%s'", path);
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        rc = shelf__seterr_errno(err, errno, "cannot rename '%s' to '%s'", tmp, path);
        goto out;
    }
    tmp[0] = '\0';
out:
    if (fd >= 0)
        close(fd);
    if (tmp && tmp[0])
        unlink(tmp);
    shelf__buf_release(&b);
    shelf_free(name);
    shelf_free(tmp);
    shelf_free(path);
    shelf_free(local);
    return rc;
}

int shelf_archive_download(const char *target, const char *name, const char *dir,
                           const shelf_transfer_opts *o, unsigned *nfiles, char **errmsg)
{
    shelf__err err = { 0, "" };
    shelf__backend *be = NULL;
    found f;
    size_t i;
    int rc, have = 0;

    memset(&f, 0, sizeof f);
    f.name = name;
    if (nfiles)
        *nfiles = 0;
    if (errmsg)
        *errmsg = NULL;
    if (!target || !name || !dir) {
        rc = shelf__seterr(&err, SHELF_EINVAL, "no target, archive or folder given");
        goto out;
    }
    if ((rc = name_check(name, &err)) != SHELF_OK || (rc = open_be(target, o, 0, &be, &err)) != SHELF_OK)
        goto out;
    if ((rc = shelf__be_list(be, ARCHIVE_DIR, collect, &f)) != SHELF_OK) {
        if (rc == SHELF_ENOMEM)
            shelf__seterr(&err, rc, "out of memory");
        else
            shelf__seterr(&err, rc, "cannot list %s: %s", be->location, be->err.msg);
        goto out;
    }
    for (i = 0; i < f.n; i++)
        have |= !strcmp(f.files[i], name);
    if (!have) {
        rc = shelf__seterr(&err, SHELF_ENOTFOUND, "no archive '%s' in %s", name, be->location);
        goto out;
    }
    for (i = 0; i < f.n; i++) {
        if ((rc = download_one(be, dir, f.files[i], name, f.sizes[i], &err)) != SHELF_OK)
            goto out;
        if (nfiles)
            (*nfiles)++;
    }
out:
    for (i = 0; i < f.n; i++)
        shelf_free(f.files[i]);
    shelf_free(f.files);
    shelf_free(f.sizes);
    shelf__be_close(be);
    if (rc != SHELF_OK && errmsg)
        *errmsg = shelf__strdup(err.msg);
    return rc;
}
