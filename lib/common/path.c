/*
 * path.c: path arithmetic, directory creation and durability, and time.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "common_int.h"

char *shelf__path_join(const char *a, const char *b)
{
    size_t la = strlen(a);

    if (!*b)
        return shelf__strdup(a);
    if (la && a[la - 1] == '/')
        return shelf__asprintf("%s%s", a, b);
    return shelf__asprintf("%s/%s", a, b);
}

/* Collapse "//", "/./" and "/../" in an absolute path, in place. */
static void normalise(char *p)
{
    char *out = p, *in = p;

    while (*in) {
        while (*in == '/')
            in++;
        if (!*in)
            break;
        if (in[0] == '.' && (in[1] == '/' || !in[1])) {
            in += 1;
            continue;
        }
        if (in[0] == '.' && in[1] == '.' && (in[2] == '/' || !in[2])) {
            in += 2;
            while (out > p && *--out != '/')
                ;
            continue;
        }
        *out++ = '/';
        while (*in && *in != '/')
            *out++ = *in++;
    }
    if (out == p)
        *out++ = '/';
    *out = '\0';
}

char *shelf__path_abs(const char *p)
{
    char *abs, *real, cwd[PATH_MAX];

    if ((real = realpath(p, NULL)) != NULL) {
        abs = shelf__strdup(real);
        free(real);
        return abs;
    }
    if (p[0] == '/')
        abs = shelf__strdup(p);
    else if (getcwd(cwd, sizeof cwd))
        abs = shelf__path_join(cwd, p);
    else
        return NULL;
    if (abs)
        normalise(abs);
    return abs;
}

const char *shelf__path_under(const char *path, const char *dir)
{
    size_t n = strlen(dir);

    while (n > 1 && dir[n - 1] == '/')
        n--;
    if (n == 1 && dir[0] == '/')
        return path[0] == '/' ? path + 1 : NULL;
    if (strncmp(path, dir, n) != 0)
        return NULL;
    if (path[n] == '\0')
        return path + n;
    if (path[n] == '/')
        return path + n + 1;
    return NULL;
}

int shelf__path_rel_ok(const char *rel)
{
    const char *p = rel;

    if (!rel || !*rel || *rel == '/')
        return 0;
    while (*p) {
        size_t n = strcspn(p, "/");

        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return 0;
        p += n;
        if (*p == '/' && !*++p)
            return 0;   /* a trailing '/' */
    }
    return 1;
}

int shelf__mkdirs_beneath(const char *base, const char *dir, unsigned mode)
{
    const char *rel = shelf__path_under(dir, base), *p;
    int fd, err = 0;

    if (!rel)
        return EXDEV;
    while (*rel == '/')
        rel++;
    if (*rel && !shelf__path_rel_ok(rel))
        return EINVAL;
    if ((fd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return errno;
    for (p = rel; *p && !err;) {
        size_t n = strcspn(p, "/");
        char part[NAME_MAX + 1];
        int sub;

        if (n > NAME_MAX) {
            err = ENAMETOOLONG;
            break;
        }
        memcpy(part, p, n);
        part[n] = '\0';
        p += n + (p[n] == '/');
        sub = openat(fd, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0 && errno == ENOENT) {
            if (mkdirat(fd, part, (mode_t)mode) != 0 && errno != EEXIST)
                err = errno;
            else
                sub = openat(fd, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        }
        if (sub < 0 && !err) {
            struct stat sb;

            /* O_NOFOLLOW on a link fails with ELOOP, or ENOTDIR with O_DIRECTORY. */
            err = fstatat(fd, part, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(sb.st_mode) ? ELOOP : errno;
        }
        close(fd);
        fd = sub;
    }
    if (fd >= 0)
        close(fd);
    return err;
}

char *shelf__path_stem(const char *path)
{
    const char *base = strrchr(path, '/'), *dot;

    base = base ? base + 1 : path;
    dot = strrchr(base, '.');
    if (!dot || dot == base)
        return shelf__strdup(base);
    return shelf__strndup(base, (size_t)(dot - base));
}

void shelf__path_ext(const char *path, char *buf, size_t size)
{
    const char *base = strrchr(path, '/'), *dot;
    size_t i = 0;

    base = base ? base + 1 : path;
    dot = strrchr(base, '.');
    if (dot && dot != base)
        for (dot++; *dot && i + 1 < size; dot++)
            buf[i++] = (*dot >= 'A' && *dot <= 'Z') ? (char)(*dot + 32) : *dot;
    if (size)
        buf[i < size ? i : size - 1] = '\0';
}

int shelf__mkdirs(const char *path, unsigned mode)
{
    char *p = shelf__strdup(path), *s;
    int err = 0;

    if (!p)
        return ENOMEM;
    if (!*p) {
        shelf_free(p);
        return ENOENT;
    }
    for (s = p + 1; ; s++) {
        if (*s == '/' || *s == '\0') {
            char c = *s;

            *s = '\0';
            if (mkdir(p, (mode_t)mode) != 0) {
                struct stat sb;

                if (errno != EEXIST || stat(p, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
                    err = errno == EEXIST ? ENOTDIR : errno;
                    break;
                }
            }
            *s = c;
            if (!c)
                break;
        }
    }
    shelf_free(p);
    return err;
}

int shelf__fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), err = 0;

    if (fd < 0)
        return errno;
    if (fsync(fd) != 0 && errno != EINVAL)
        err = errno;
    close(fd);
    return err;
}

int64_t shelf__now(void)
{
    return (int64_t)time(NULL);
}

double shelf__monotonic(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
