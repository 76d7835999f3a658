/*
 * replay.c: a main() that runs a fuzz target over a saved corpus, so every
 * input the fuzzer ever kept is a regression test under any compiler (zstd's
 * regression driver, SQLite's fuzzcheck).  Linked with one fuzz_<target>.c.
 *
 *   fuzz_<target>_replay FILE|DIR...
 *
 * Each FILE, and each regular file directly inside each DIR (names starting
 * with '.' skipped, in byte order of name), is read whole into a buffer of
 * exactly its size and passed once to LLVMFuzzerTestOneInput.  The name of
 * each input goes to stderr before it runs, so the last line names the input
 * when a target aborts or a sanitizer stops the program.  Exits 0 after
 * "replayed N inputs", 1 when an input cannot be read or there is none.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "fuzz_target.h"

/* Read the regular file path and run the target over it; 0 or -1. */
static int replay_file(const char *path)
{
    struct stat sb;
    uint8_t *data = NULL;
    size_t size, got = 0;
    ssize_t n;
    int fd, rc = -1;

    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        fprintf(stderr, "replay: cannot open '%s': %s\n", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &sb) != 0) {
        fprintf(stderr, "replay: cannot stat '%s': %s\n", path, strerror(errno));
        goto out;
    }
    size = (size_t)sb.st_size;
    /* Exactly size bytes, so a sanitizer sees a read past the end. */
    if (!(data = malloc(size ? size : 1))) {
        fprintf(stderr, "replay: out of memory for '%s'\n", path);
        goto out;
    }
    while (got < size) {
        if ((n = read(fd, data + got, size - got)) < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "replay: cannot read '%s': %s\n", path, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    fprintf(stderr, "running %s (%zu bytes)\n", path, got);
    LLVMFuzzerTestOneInput(data, got);
    rc = 0;
out:
    free(data);
    close(fd);
    return rc;
}

static int skip_hidden(const struct dirent *d)
{
    return d->d_name[0] != '.';
}

/* Byte order, not the locale's, so every machine replays in one order. */
static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

/* Replay the regular files directly inside dir; adds to *count; 0 or -1. */
static int replay_dir(const char *dir, long *count)
{
    struct dirent **names = NULL;
    struct stat sb;
    char path[4096];
    int i, n, rc = 0;

    if ((n = scandir(dir, &names, skip_hidden, by_name)) < 0) {
        fprintf(stderr, "replay: cannot read folder '%s': %s\n", dir, strerror(errno));
        return -1;
    }
    for (i = 0; i < n; i++) {
        if (rc == 0) {
            if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name) >= sizeof path) {
                fprintf(stderr, "replay: path too long in '%s'\n", dir);
                rc = -1;
            } else if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) {
                if ((rc = replay_file(path)) == 0)
                    (*count)++;
            }
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    struct stat sb;
    long count = 0;
    int i;

    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
        return 2;
    }
    for (i = 1; i < argc; i++) {
        if (stat(argv[i], &sb) != 0) {
            fprintf(stderr, "replay: cannot stat '%s': %s\n", argv[i], strerror(errno));
            return 1;
        }
        if (S_ISDIR(sb.st_mode) ? replay_dir(argv[i], &count) != 0
                                : replay_file(argv[i]) != 0)
            return 1;
        if (!S_ISDIR(sb.st_mode))
            count++;
    }
    if (count == 0) {
        fprintf(stderr, "replay: no inputs found\n");
        return 1;
    }
    printf("replayed %ld inputs\n", count);
    return 0;
}
