/*
 * bench_archive.c: the archive export benchmark (a program, not a test;
 * ctest never runs it).  It writes a sample library of WAV files of random
 * 16-bit stereo PCM (1 GB by default, files of 4 to 16 MB), imports it with
 * shelf_import, then times, in the same run and on the same (page-cached)
 * files:
 *
 *   - shelf_archive_export --all to a pax tar with 10% PAR2 parity (one
 *     pass: read, SHA-256 + SHA-512, tar, parity), and the same export
 *     without parity (the difference is what parity costs inside the
 *     export);
 *   - what a user runs otherwise: `tar -cf`, `sha256sum` over the files,
 *     `par2 create -r10` on the tar (par2cmdline), each timed.
 *
 * It prints the end-to-end ratio (pipeline time / shelf time) and parity
 * MB/s of both; with --markdown also a row for doc/benchmarks.md.  Its
 * scratch folder is removed at the end unless --keep.
 *
 *   bench_archive [--size MB] [--dir DIR] [--keep] [--markdown]
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shelf/shelf.h"
#include "bench_util.h"

#define MB 1e6
#define CHUNK ((size_t)1 << 20)

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void le16(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static void le32(unsigned char *p, uint32_t v)
{
    le16(p, v & 0xffff);
    le16(p + 2, v >> 16);
}

/* A canonical 44-byte WAV header and data bytes of random PCM. */
static int write_wav(const char *path, uint64_t data_bytes, uint64_t seed)
{
    unsigned char hdr[44];
    uint64_t *buf = malloc(CHUNK), done = 0, x = seed;
    int fd = -1, rc = -1;

    if (!buf)
        return -1;
    data_bytes &= ~(uint64_t)3;
    memcpy(hdr, "RIFF", 4);
    le32(hdr + 4, (uint32_t)(36 + data_bytes));
    memcpy(hdr + 8, "WAVEfmt ", 8);
    le32(hdr + 16, 16);
    le16(hdr + 20, 1);          /* PCM */
    le16(hdr + 22, 2);          /* stereo */
    le32(hdr + 24, 44100);
    le32(hdr + 28, 44100 * 4);
    le16(hdr + 32, 4);
    le16(hdr + 34, 16);
    memcpy(hdr + 36, "data", 4);
    le32(hdr + 40, (uint32_t)data_bytes);
    if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0 || write(fd, hdr, sizeof hdr) != (ssize_t)sizeof hdr)
        goto out;
    while (done < data_bytes) {
        size_t n = data_bytes - done < CHUNK ? (size_t)(data_bytes - done) : CHUNK, i;

        for (i = 0; i < CHUNK / 8; i++)
            buf[i] = bench_mix64(x++);
        if (write(fd, buf, n) != (ssize_t)n)
            goto out;
        done += n;
    }
    rc = 0;
out:
    if (rc)
        fprintf(stderr, "%s: cannot write '%s': %s\n", bench_name, path, strerror(errno));
    if (fd >= 0 && close(fd) != 0)
        rc = -1;
    free(buf);
    return rc;
}

/* Run a shell command; seconds, or -1 when it fails. */
static double timed_sh(const char *cmd)
{
    double t0 = now();
    int st = system(cmd);

    if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "%s: failed: %s\n", bench_name, cmd);
        return -1;
    }
    return now() - t0;
}

static uint64_t file_size(const char *path)
{
    struct stat sb;

    return stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
}

static double export_once(shelf_library *lib, const char *out, double parity,
                          shelf_archive_export_stats *st)
{
    shelf_archive_export_opts o;
    double t0;
    int rc;

    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.format = SHELF_ARCHIVE_TAR;
    o.all = 1;
    o.parity = parity;
    t0 = now();
    if ((rc = shelf_archive_export(lib, out, &o, st)) != SHELF_OK) {
        fprintf(stderr, "%s: export failed: %s\n", bench_name, shelf_errmsg(lib));
        return -1;
    }
    return now() - t0;
}

static void usage(void)
{
    fprintf(stderr, "usage: %s [--size MB] [--dir DIR] [--keep] [--markdown]\n", bench_name);
    exit(2);
}

int main(int argc, char **argv)
{
    uint64_t size_mb = 1024, total = 0, nfiles = 0;
    const char *dir_arg = NULL;
    int markdown = 0, keep = 0, rc = 1, i;
    char dir[PATH_MAX], wav[PATH_MAX], libdir[PATH_MAX], out[PATH_MAX], path[PATH_MAX + 64];
    char cmd[4 * PATH_MAX], machine[512], date[32];
    double t_import, t_shelf = -1, t_noparity = -1, t_tar, t_sha, t_par2, t_pipe, par_ours;
    uint64_t tar_bytes, ours_par2 = 0, pipe_par2 = 0;
    shelf_archive_export_stats st = { .size = sizeof st }, st0 = { .size = sizeof st0 };
    shelf_library *lib = NULL;
    shelf_import_opts io;
    shelf_import_stats is = { .size = sizeof is };
    struct statvfs vfs;
    char *msg = NULL;
    const char *paths[1];
    time_t now_s = time(NULL);

    bench_name = "bench_archive";
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--size") && i + 1 < argc) {
            if (bench_parse_u64(argv[++i], 16, 1000000, &size_mb))
                usage();
        } else if (!strcmp(argv[i], "--dir") && i + 1 < argc) {
            dir_arg = argv[++i];
        } else if (!strcmp(argv[i], "--keep")) {
            keep = 1;
        } else if (!strcmp(argv[i], "--markdown")) {
            markdown = 1;
        } else {
            usage();
        }
    }
    if (!dir_arg) {
        const char *t = getenv("TMPDIR");
        dir_arg = t && *t ? t : "/tmp";
    }
    snprintf(dir, sizeof dir, "%s/bench-archive-%ld", dir_arg, (long)getpid());
    if (bench_mkdir_p(dir) || bench_join_path(wav, sizeof wav, dir, "wav") ||
        bench_join_path(libdir, sizeof libdir, dir, "lib") || bench_join_path(out, sizeof out, dir, "out") ||
        bench_mkdir_p(wav) || bench_mkdir_p(out))
        return 1;
    /* The samples, one archive at a time with its parity: about 2.3 x. */
    if (statvfs(dir, &vfs) == 0) {
        uint64_t avail = (uint64_t)vfs.f_bavail * vfs.f_frsize / 1000000;

        if (avail < size_mb * 23 / 10 + 256) {
            uint64_t fit = avail > 512 ? (avail - 256) * 10 / 23 : 16;

            fprintf(stderr, "%s: only %" PRIu64 " MB free in %s: %" PRIu64 " MB instead of %" PRIu64 "\n",
                    bench_name, avail, dir, fit, size_mb);
            size_mb = fit;
        }
    }
    printf("writing %" PRIu64 " MB of WAV files (random 16-bit stereo PCM) to %s\n", size_mb, wav);
    while (total < size_mb * 1000000) {
        uint64_t left = size_mb * 1000000 - total;
        uint64_t n = 4000000 + bench_mix64(nfiles * 7919 + 1) % 12000000;

        if (n > left)
            n = left < 4096 ? 4096 : left;
        snprintf(path, sizeof path, "%s/take_%04" PRIu64 ".wav", wav, nfiles);
        if (write_wav(path, n, bench_mix64(nfiles + 42)))
            goto out;
        total += file_size(path);
        nfiles++;
    }
    printf("%" PRIu64 " files, %.1f MB\n", nfiles, (double)total / MB);

    if (shelf_library_open(libdir, SHELF_OPEN_CREATE, &lib, &msg) != SHELF_OK) {
        fprintf(stderr, "%s: cannot open the library: %s\n", bench_name, msg ? msg : "?");
        shelf_free(msg);
        goto out;
    }
    memset(&io, 0, sizeof io);
    io.size = sizeof io;
    paths[0] = wav;
    t_import = now();
    if (shelf_import(lib, paths, 1, &io, &is) != SHELF_OK || is.failed) {
        fprintf(stderr, "%s: import failed: %s\n", bench_name, shelf_errmsg(lib));
        goto out;
    }
    t_import = now() - t_import;
    printf("import: %.1f s (the files are now in the page cache)\n", t_import);

    /* shelf: one pass with parity; then without, for what parity costs. */
    snprintf(path, sizeof path, "%s/shelf.tar", out);
    if ((t_shelf = export_once(lib, path, 10, &st)) < 0)
        goto out;
    snprintf(cmd, sizeof cmd, "du -cb '%s'/shelf.tar*.par2 | tail -1 | cut -f1 > '%s/ps'", out, out);
    if (system(cmd) == 0) {
        FILE *f;

        snprintf(path, sizeof path, "%s/ps", out);
        if ((f = fopen(path, "r"))) {
            if (fscanf(f, "%" SCNu64, &ours_par2) != 1)
                ours_par2 = 0;
            fclose(f);
        }
    }
    printf("shelf archive export --all --parity 10%%: %.2f s (%.1f MB/s of archive; %u recovery slices of %" PRIu64
           " bytes, %.1f MB of parity)\n", t_shelf, (double)st.archive_bytes / MB / t_shelf, st.parity_slices,
           st.slice_size, (double)ours_par2 / MB);
    snprintf(cmd, sizeof cmd, "rm -f '%s'/shelf.tar*", out);
    if (system(cmd) != 0)
        goto out;
    snprintf(path, sizeof path, "%s/shelf0.tar", out);
    if ((t_noparity = export_once(lib, path, 0, &st0)) < 0)
        goto out;
    unlink(path);
    par_ours = t_shelf > t_noparity ? (double)st.archive_bytes / MB / (t_shelf - t_noparity) : 0;
    printf("shelf archive export --all (no parity):  %.2f s; parity adds %.2f s (%.0f MB/s of archive)\n",
           t_noparity, t_shelf - t_noparity, par_ours);

    /* What a user runs otherwise, on the same files. */
    snprintf(cmd, sizeof cmd, "tar -cf '%s/pipe.tar' -C '%s' .", out, wav);
    if ((t_tar = timed_sh(cmd)) < 0)
        goto out;
    snprintf(path, sizeof path, "%s/pipe.tar", out);
    tar_bytes = file_size(path);
    snprintf(cmd, sizeof cmd, "cd '%s' && sha256sum -- *.wav > '%s/pipe.sha256'", wav, out);
    if ((t_sha = timed_sh(cmd)) < 0)
        goto out;
    snprintf(cmd, sizeof cmd, "par2 create -q -q -r10 '%s/pipe.tar.par2' '%s/pipe.tar' > /dev/null", out, out);
    if ((t_par2 = timed_sh(cmd)) < 0)
        goto out;
    snprintf(cmd, sizeof cmd, "du -cb '%s'/pipe.tar*.par2 | tail -1 | cut -f1 > '%s/ps'", out, out);
    if (system(cmd) == 0) {
        FILE *f;

        snprintf(path, sizeof path, "%s/ps", out);
        if ((f = fopen(path, "r"))) {
            if (fscanf(f, "%" SCNu64, &pipe_par2) != 1)
                pipe_par2 = 0;
            fclose(f);
        }
    }
    t_pipe = t_tar + t_sha + t_par2;
    printf("tar -cf:             %.2f s\n", t_tar);
    printf("sha256sum:           %.2f s\n", t_sha);
    printf("par2 create -r10:    %.2f s (%.1f MB/s of tar; %.1f MB of parity)\n", t_par2,
           (double)tar_bytes / MB / t_par2, (double)pipe_par2 / MB);
    printf("pipeline total:      %.2f s\n", t_pipe);
    printf("end to end: shelf %.2f s vs pipeline %.2f s: %.2fx\n", t_shelf, t_pipe, t_pipe / t_shelf);
    printf("parity encoding: shelf %.0f MB/s (inside the export) vs par2cmdline %.1f MB/s: %.1fx\n",
           par_ours, (double)tar_bytes / MB / t_par2,
           par_ours > 0 ? par_ours / ((double)tar_bytes / MB / t_par2) : 0);

    if (markdown) {
        bench_machine_desc(dir, machine, sizeof machine);
        strftime(date, sizeof date, "%Y-%m-%d", gmtime(&now_s));
        printf("\nMachine: %s\n\n", machine);
        printf("| Date (UTC) | Files | MB | shelf export + 10%% parity s | no parity s | tar s | sha256sum s "
               "| par2 create s | pipeline s | Ratio | parity MB/s shelf / par2 |\n");
        printf("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
        printf("| %s | %" PRIu64 " | %.0f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2fx | %.0f / %.1f |\n", date,
               nfiles, (double)total / MB, t_shelf, t_noparity, t_tar, t_sha, t_par2, t_pipe, t_pipe / t_shelf,
               par_ours, (double)tar_bytes / MB / t_par2);
    }
    rc = 0;
out:
    shelf_library_close(lib);
    if (!keep)
        bench_rm_rf(dir);
    else
        printf("kept %s\n", dir);
    return rc;
}
