/*
 * bench_par2.c: the PAR2 parity benchmark (a program, not a test; ctest
 * never runs it).  It writes a file of incompressible bytes (1 GB by
 * default), then times, in the same run: our streaming encoder (the file
 * read in 1 MiB chunks and fed to it, files written) with every CPU and
 * with one thread, `par2 create -r10` (par2cmdline) on the same file, our
 * verify of our set, and checks that `par2 verify` accepts our set.  Before
 * that it measures the raw multiply-accumulate speed of each GF(2^16)
 * kernel the CPU runs.  Prints a table; with --markdown also a block for
 * doc/benchmarks.md.  Its scratch folder is removed at the end.
 *
 * libshelf has no public PAR2 API yet (the archive export will be its
 * face), so this program is built with lib/archive/par2_int.h and
 * gf16_int.h force-included by bench/CMakeLists.txt: it times the very
 * entry points the export will call.
 *
 *   bench_par2 [--size MB] [--redundancy PCT] [--dir DIR] [--no-par2]
 *              [--kernels-only] [--markdown]
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
/*
 * Internal headers, unlike every other bench program: this one measures
 * each GF16 kernel and the PAR2 encoder with a chosen kernel, and libshelf
 * has no public API for either (the export's --parity is the public face).
 */
#include "archive/gf16_int.h"
#include "archive/par2_int.h"
#include "bench_util.h"

#define MB 1e6
#define CHUNK ((size_t)1 << 20)

static double now(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Raw kernel speed: 32 sources of 8 KiB (in L2) into one destination. */
static double kernel_gbps(const shelf__gf16_kernel *k)
{
    enum { NSRC = 32, LEN = 8192 };
    static uint8_t src[NSRC][LEN], dst[LEN];
    const uint8_t *srcs[NSRC];
    shelf__gf16_coef coef[NSRC];
    double t0, t, bytes = 0;
    int i, j;

    for (i = 0; i < NSRC; i++) {
        for (j = 0; j < LEN; j++)
            src[i][j] = (uint8_t)bench_mix64((uint64_t)i * LEN + (uint64_t)j);
        srcs[i] = src[i];
        shelf__gf16_coef_init(&coef[i], (uint16_t)bench_mix64(1000 + (uint64_t)i));
    }
    t0 = now();
    do {
        for (i = 0; i < 16; i++)
            k->muladd(dst, srcs, coef, NSRC, 0, LEN);
        bytes += 16.0 * NSRC * LEN;
        t = now() - t0;
    } while (t < 0.5);
    return bytes / t / 1e9;
}

static int write_random(const char *path, uint64_t size)
{
    uint64_t *buf = malloc(CHUNK), done = 0, x = 0x1234;
    FILE *f = fopen(path, "wb");
    size_t i;
    int rc = 0;

    if (!buf || !f) {
        fprintf(stderr, "%s: cannot create '%s'\n", bench_name, path);
        rc = -1;
        goto out;
    }
    while (done < size) {
        size_t n = size - done < CHUNK ? (size_t)(size - done) : CHUNK;
        for (i = 0; i < CHUNK / 8; i++)
            buf[i] = bench_mix64(x++);
        if (fwrite(buf, 1, n, f) != n) {
            fprintf(stderr, "%s: cannot write '%s'\n", bench_name, path);
            rc = -1;
            goto out;
        }
        done += n;
    }
out:
    if (f && fclose(f))
        rc = -1;
    free(buf);
    return rc;
}

/* Encode path (recorded as name) into base.*.par2; seconds, or -1. */
static double encode(const char *path, const char *name, const char *base, uint64_t size,
                     const shelf__par2_params *pr, uint64_t *slice, uint32_t *nrec)
{
    shelf__par2_enc *enc = NULL;
    shelf__err err = { 0, "" };
    uint8_t *buf = malloc(CHUNK);
    int fd = open(path, O_RDONLY);
    double t0 = now(), t = -1;
    ssize_t n;

    if (!buf || fd < 0)
        goto out;
    if (shelf__par2_enc_new(name, size, pr, &enc, &err))
        goto fail;
    while ((n = read(fd, buf, CHUNK)) > 0)
        if (shelf__par2_enc_update(enc, buf, (size_t)n, &err))
            goto fail;
    if (shelf__par2_enc_finish(enc, base, &err))
        goto fail;
    t = now() - t0;
    *slice = shelf__par2_enc_slice_size(enc);
    *nrec = shelf__par2_enc_nrecovery(enc);
    goto out;
fail:
    fprintf(stderr, "%s: %s\n", bench_name, err.msg);
out:
    shelf__par2_enc_free(enc);
    if (fd >= 0)
        close(fd);
    free(buf);
    return t;
}

/* Run a shell command in dir; seconds, or -1 when it fails. */
static double timed_sh(const char *dir, const char *cmd)
{
    char line[PATH_MAX + 512];
    double t0 = now();
    int st;

    snprintf(line, sizeof line, "cd '%s' && %s", dir, cmd);
    st = system(line);
    if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return -1;
    return now() - t0;
}

static void usage(void)
{
    fprintf(stderr, "usage: %s [--size MB] [--redundancy PCT] [--dir DIR] [--no-par2] "
                    "[--kernels-only] [--markdown]\n", bench_name);
    exit(2);
}

int main(int argc, char **argv)
{
    const shelf__gf16_kernel *ks;
    size_t nk, i;
    uint64_t size_mb = 1024, pct = 10, size, slice = 0;
    uint32_t nrec = 0;
    const char *dir_arg = NULL;
    int markdown = 0, no_par2 = 0, kernels_only = 0, rc = 1;
    char dir[PATH_MAX], data[PATH_MAX], base[PATH_MAX], machine[512], cmd[256], date[32];
    double gbps[8], t_ours = -1, t_one = -1, t_par2 = -1, t_verify = -1;
    struct statvfs vfs;
    shelf__par2_params pr;
    shelf__par2_report rep;
    shelf__err err = { 0, "" };
    time_t now_s = time(NULL);

    bench_name = "bench_par2";
    setvbuf(stdout, NULL, _IOLBF, 0);   /* progress shows when piped */
    for (i = 1; i < (size_t)argc; i++) {
        if (!strcmp(argv[i], "--size") && i + 1 < (size_t)argc) {
            if (bench_parse_u64(argv[++i], 1, 1000000, &size_mb))
                usage();
        } else if (!strcmp(argv[i], "--redundancy") && i + 1 < (size_t)argc) {
            if (bench_parse_u64(argv[++i], 1, 100, &pct))
                usage();
        } else if (!strcmp(argv[i], "--dir") && i + 1 < (size_t)argc) {
            dir_arg = argv[++i];
        } else if (!strcmp(argv[i], "--no-par2")) {
            no_par2 = 1;
        } else if (!strcmp(argv[i], "--kernels-only")) {
            kernels_only = 1;
        } else if (!strcmp(argv[i], "--markdown")) {
            markdown = 1;
        } else {
            usage();
        }
    }

    nk = shelf__gf16_kernels(&ks);
    printf("GF(2^16) multiply-accumulate, 32 sources x 8 KiB into one (GB/s of source):\n");
    for (i = 0; i < nk && i < 8; i++) {
        gbps[i] = kernel_gbps(&ks[i]);
        printf("  %-12s %7.2f GB/s\n", ks[i].name, gbps[i]);
    }
    if (kernels_only)
        return 0;

    if (!dir_arg) {
        const char *t = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/bench-par2-%ld", t && *t ? t : "/tmp", (long)getpid());
    } else {
        snprintf(dir, sizeof dir, "%s/bench-par2-%ld", dir_arg, (long)getpid());
    }
    if (bench_mkdir_p(dir))
        return 1;
    /* The data, our set and par2cmdline's set: about 1.25 x the size. */
    if (statvfs(dir, &vfs) == 0) {
        uint64_t avail = (uint64_t)vfs.f_bavail * vfs.f_frsize / 1000000;
        if (avail < size_mb * 5 / 4 + 64) {
            uint64_t fit = avail > 100 ? (avail - 64) * 4 / 5 : 16;
            fprintf(stderr, "%s: only %" PRIu64 " MB free in %s: %" PRIu64 " MB instead of %" PRIu64 "\n",
                    bench_name, avail, dir, fit, size_mb);
            size_mb = fit;
        }
    }
    size = size_mb * 1000000;
    if (bench_join_path(data, sizeof data, dir, "data.bin") ||
        bench_join_path(base, sizeof base, dir, "ours"))
        goto out;
    printf("writing %" PRIu64 " MB of incompressible data to %s\n", size_mb, data);
    if (write_random(data, size))
        goto out;

    memset(&pr, 0, sizeof pr);
    pr.redundancy = (double)pct;
    /* Warm the page cache, as par2cmdline will find it. */
    t_ours = encode(data, "data.bin", base, size, &pr, &slice, &nrec);
    t_ours = encode(data, "data.bin", base, size, &pr, &slice, &nrec);
    if (t_ours < 0)
        goto out;
    printf("shelf encode (%d threads): %.2f s, %.1f MB/s  (%" PRIu64 "-byte slices, %u recovery)\n",
           (int)sysconf(_SC_NPROCESSORS_ONLN), t_ours, (double)size / MB / t_ours, slice, nrec);
    pr.threads = 1;
    t_one = encode(data, "data.bin", base, size, &pr, &slice, &nrec);
    printf("shelf encode (1 thread):  %.2f s, %.1f MB/s\n", t_one, (double)size / MB / t_one);

    {
        char set[PATH_MAX];
        double t0 = now();
        int v;

        if (bench_join_path(set, sizeof set, dir, "ours.par2"))
            goto out;
        v = shelf__par2_verify(set, NULL, &rep, &err);
        t_verify = now() - t0;
        shelf__par2_report_release(&rep);
        if (v) {
            fprintf(stderr, "%s: our verify failed: %s\n", bench_name, err.msg);
            goto out;
        }
        printf("shelf verify:            %.2f s, %.1f MB/s\n", t_verify, (double)size / MB / t_verify);
    }
    if (!no_par2) {
        if (timed_sh(dir, "par2 verify -q -q ours.par2 >/dev/null") < 0) {
            fprintf(stderr, "%s: par2 verify rejects our set\n", bench_name);
            goto out;
        }
        printf("par2 verify accepts our set\n");
        snprintf(cmd, sizeof cmd, "par2 create -q -q -r%" PRIu64 " theirs.par2 data.bin >/dev/null", pct);
        t_par2 = timed_sh(dir, cmd);
        if (t_par2 < 0) {
            fprintf(stderr, "%s: par2 create failed (is par2 installed?)\n", bench_name);
            goto out;
        }
        printf("par2 create -r%" PRIu64 ":          %.2f s, %.1f MB/s\n", pct, t_par2,
               (double)size / MB / t_par2);
        printf("ratio: shelf is %.1fx faster\n", t_par2 / t_ours);
    }
    rc = 0;
    if (markdown) {
        strftime(date, sizeof date, "%Y-%m-%d", gmtime(&now_s));
        bench_machine_desc(dir, machine, sizeof machine);
        printf("\nMachine: %s\n\n", machine);
        printf("| Kernel | GB/s |\n|---|--:|\n");
        for (i = 0; i < nk && i < 8; i++)
            printf("| %s | %.2f |\n", ks[i].name, gbps[i]);
        printf("\n| Date (UTC) | MB | Redundancy | Slice | Recovery slices | shelf s (MB/s) | "
               "shelf 1 thread s | shelf verify s | par2 create s (MB/s) | Ratio |\n"
               "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
        printf("| %s | %" PRIu64 " | %" PRIu64 "%% | %" PRIu64 " | %u | %.2f (%.0f) | %.2f | %.2f | ",
               date, size_mb, pct, slice, nrec, t_ours, (double)size / MB / t_ours, t_one, t_verify);
        if (t_par2 > 0)
            printf("%.2f (%.1f) | **%.1fx** |\n", t_par2, (double)size / MB / t_par2, t_par2 / t_ours);
        else
            printf("- | - |\n");
    }
out:
    bench_rm_rf(dir);
    return rc;
}
