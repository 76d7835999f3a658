/*
 * bench_util.c: helpers the benchmarks share: paths, folders, a
 * deterministic mixer, number parsing and a description of the machine.
 * Messages start with bench_name.
 */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>
#include "bench_util.h"

const char *bench_name = "bench";

/* splitmix64's finaliser: every random choice of sample i derives from i. */
uint64_t bench_mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15u;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
    return x ^ (x >> 31);
}

/* Write "a/b" into out; returns 0, or -1 (with a message) if it does not fit. */
int bench_join_path(char *out, size_t size, const char *a, const char *b)
{
    int n = snprintf(out, size, "%s/%s", a, b);

    if (n < 0 || (size_t)n >= size) {
        fprintf(stderr, "%s: path too long: '%s/%s'\n", bench_name, a, b);
        return -1;
    }
    return 0;
}

/* mkdir -p; returns 0 or -1 with a message. */
int bench_mkdir_p(const char *path)
{
    char tmp[PATH_MAX];
    int n = snprintf(tmp, sizeof tmp, "%s", path);

    if (n < 0 || (size_t)n >= sizeof tmp) {
        fprintf(stderr, "%s: path too long: '%s'\n", bench_name, path);
        return -1;
    }
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
            goto fail;
        *p = '/';
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
        goto fail;
    return 0;
fail:
    fprintf(stderr, "%s: cannot create '%s': %s\n", bench_name, tmp, strerror(errno));
    return -1;
}

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)type;
    (void)ftw;
    if (remove(path) != 0 && errno != ENOENT)
        fprintf(stderr, "%s: cannot remove '%s': %s\n", bench_name, path, strerror(errno));
    return 0;
}

/* rm -rf; a folder that does not exist is not an error. */
void bench_rm_rf(const char *path)
{
    struct stat st;

    if (lstat(path, &st) != 0)
        return;
    nftw(path, rm_entry, 32, FTW_DEPTH | FTW_PHYS);
}

void bench_machine_desc(const char *dir, char *out, size_t size)
{
    char line[512], model[256] = "unknown cpu";
    unsigned long long mem_kb = 0;
    const char *fs = "unknown fs";
    struct statfs sfs;
    FILE *f;

    if ((f = fopen("/proc/cpuinfo", "r")) != NULL) {
        while (fgets(line, sizeof line, f)) {
            char *colon;

            if (strncmp(line, "model name", 10) != 0 || !(colon = strchr(line, ':')))
                continue;
            colon++;
            while (*colon == ' ' || *colon == '\t')
                colon++;
            colon[strcspn(colon, "\n")] = '\0';
            snprintf(model, sizeof model, "%s", colon);
            break;
        }
        fclose(f);
    }
    if ((f = fopen("/proc/meminfo", "r")) != NULL) {
        while (fgets(line, sizeof line, f))
            if (strncmp(line, "MemTotal:", 9) == 0) {
                mem_kb = strtoull(line + 9, NULL, 10);
                break;
            }
        fclose(f);
    }
    if (statfs(dir, &sfs) == 0) {
        switch ((unsigned long)sfs.f_type) {
        case 0xEF53: fs = "ext4"; break;
        case 0x01021994: fs = "tmpfs"; break;
        case 0x58465342: fs = "xfs"; break;
        case 0x9123683E: fs = "btrfs"; break;
        case 0x794C7630: fs = "overlayfs"; break;
        case 0x2FC12FC1: fs = "zfs"; break;
        case 0x65735546: fs = "fuse"; break;
        default: fs = "other fs"; break;
        }
    }
    snprintf(out, size, "%s, %ld CPUs, %.1f GiB, %s", model, sysconf(_SC_NPROCESSORS_ONLN),
             (double)mem_kb / (1024.0 * 1024.0), fs);
}

int bench_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end = NULL;
    unsigned long long v;

    if (!s || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

