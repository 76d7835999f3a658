/*
 * error.c: result codes, their names, and the per-handle error message.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sqlite3.h>
#include "common_int.h"

const char *shelf_strerror(int rc)
{
    switch (rc) {
    case SHELF_OK: return "ok";
    case SHELF_ROW: return "row ready";
    case SHELF_DONE: return "done";
    case SHELF_ENOMEM: return "out of memory";
    case SHELF_EIO: return "input/output error";
    case SHELF_EINVAL: return "invalid argument";
    case SHELF_ENOTFOUND: return "not found";
    case SHELF_EEXIST: return "already exists";
    case SHELF_EBUSY: return "library is busy";
    case SHELF_ECORRUPT: return "data is corrupt";
    case SHELF_EFORMAT: return "unsupported or invalid format";
    case SHELF_EDB: return "catalog database error";
    case SHELF_EVERSION: return "written by a newer version of shelf";
    case SHELF_EPERM: return "permission denied";
    case SHELF_ECANCELED: return "canceled";
    case SHELF_EINUSE: return "still in use";
    case SHELF_ECONFLICT: return "unresolved conflicts";
    case SHELF_EAUTH: return "wrong or missing password";
    }
    return "unknown error";
}

const char *shelf_version(void)
{
    return SHELF_VERSION_STRING;
}

int shelf__errno_rc(int e)
{
    switch (e) {
    case ENOMEM: return SHELF_ENOMEM;
    case ENOENT: case ENOTDIR: return SHELF_ENOTFOUND;
    case EEXIST: return SHELF_EEXIST;
    case EACCES: case EPERM: case EROFS: return SHELF_EPERM;
    case EINVAL: case ENAMETOOLONG: return SHELF_EINVAL;
    case EWOULDBLOCK: return SHELF_EBUSY;
    }
    return SHELF_EIO;
}

const char *shelf__errno_str(int e)
{
    /* Messages for people are lowercase (git style); strerror is not. */
    switch (e) {
    case ENOENT: return "no such file or directory";
    case EACCES: case EPERM: return "permission denied";
    case ENOTDIR: return "not a directory";
    case EISDIR: return "is a directory";
    case ENOSPC: return "no space left on device";
    case EROFS: return "read-only file system";
    case EEXIST: return "file exists";
    case EIO: return "input/output error";
    case ENOMEM: return "out of memory";
    case ENAMETOOLONG: return "file name too long";
    case ELOOP: return "too many levels of symbolic links";
    case EDQUOT: return "disk quota exceeded";
    }
    return strerror(e);
}

static int vset(shelf__err *e, int rc, const char *suffix, const char *fmt, va_list ap)
{
    int n;

    if (!e)
        return rc;
    e->rc = rc;
    n = vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    if (n < 0)
        e->msg[0] = '\0';
    else if (suffix && (size_t)n < sizeof e->msg)
        snprintf(e->msg + n, sizeof e->msg - (size_t)n, ": %s", suffix);
    /* Messages are one line, whatever names they quote. */
    for (n = 0; e->msg[n]; n++)
        if ((unsigned char)e->msg[n] < ' ')
            e->msg[n] = ' ';
    return rc;
}

int shelf__seterr(shelf__err *e, int rc, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    rc = vset(e, rc, NULL, fmt, ap);
    va_end(ap);
    return rc;
}

int shelf__seterr_errno(shelf__err *e, int errno_value, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = vset(e, shelf__errno_rc(errno_value), shelf__errno_str(errno_value), fmt, ap);
    va_end(ap);
    return rc;
}

int shelf__seterr_sqlite(shelf__err *e, sqlite3 *db, const char *path, const char *fmt, ...)
{
    char reason[512];
    va_list ap;
    int code = db ? sqlite3_errcode(db) & 0xff : SQLITE_NOMEM, sys = db ? sqlite3_system_errno(db) : 0;
    int rc = SHELF_EDB;

    /* SQLITE_IOERR_NOMEM is an allocation failure, not an I/O error. */
    if (db && sqlite3_extended_errcode(db) == SQLITE_IOERR_NOMEM)
        code = SQLITE_NOMEM;
    if (code == SQLITE_FULL && sys != EDQUOT)
        sys = ENOSPC;
    if (code == SQLITE_CANTOPEN && sys > 0) {
        /* The caller's context names the file it could not open. */
        snprintf(reason, sizeof reason, "%s", shelf__errno_str(sys));
        rc = SHELF_EIO;
    } else if ((code == SQLITE_FULL || code == SQLITE_IOERR) && sys > 0 && path) {
        /* What the system said, and about which file. */
        snprintf(reason, sizeof reason, "cannot %s '%s': %s",
                 sys == ENOSPC || sys == EDQUOT ? "write" : "access", path, shelf__errno_str(sys));
        rc = shelf__errno_rc(sys);
    } else {
        snprintf(reason, sizeof reason, "%s", db ? sqlite3_errmsg(db) : "out of memory");
        if (code == SQLITE_BUSY || code == SQLITE_LOCKED)
            rc = SHELF_EBUSY;
        else if (code == SQLITE_NOMEM)
            rc = SHELF_ENOMEM;
        else if (code == SQLITE_READONLY || code == SQLITE_PERM)
            rc = SHELF_EPERM;
        else if (code == SQLITE_CANTOPEN || code == SQLITE_IOERR || code == SQLITE_FULL)
            rc = SHELF_EIO;
    }
    va_start(ap, fmt);
    rc = vset(e, rc, reason, fmt, ap);
    va_end(ap);
    return rc;
}

int shelf__opts_check(shelf__err *e, void *dst, size_t known, const void *src, size_t min,
                      const char *what)
{
    const unsigned char *p = src;
    size_t given, i;

    memset(dst, 0, known);
    if (src) {
        memcpy(&given, src, sizeof given);
        if (given < min || given < sizeof given)
            return shelf__seterr(e, SHELF_EINVAL, "invalid %s: size %zu is smaller than %zu", what, given,
                                 min);
        for (i = known; i < given; i++)
            if (p[i] != 0)
                return shelf__seterr(e, SHELF_EINVAL, "invalid %s: size %zu sets options this version "
                                     "of shelf does not know (it knows %zu bytes)", what, given, known);
        memcpy(dst, src, given < known ? given : known);
    }
    memcpy(dst, &known, sizeof known);
    return SHELF_OK;
}

size_t shelf__out_fill(void *dst, const void *src, size_t known)
{
    size_t given, n;

    if (!dst)
        return 0;
    memcpy(&given, dst, sizeof given);
    if (given < sizeof given)
        return 0;
    n = given < known ? given : known;
    memcpy(dst, src, n);
    memcpy(dst, &n, sizeof n);
    return n;
}
