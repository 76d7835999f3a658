/*
 * bench_backup.c: shelf backup beside restic and borg (Debian packages), same
 * data, same machine, one run.  Builds a sample library (default 2 GiB: WAV
 * and FLAC of tonal and noisy audio, 3000 SFZ presets), imports it into a
 * shelf library, then for each tool times
 *
 *   (a) the first backup,
 *   (b) a backup after rewriting 1% of the files and editing a metadata
 *       chunk (LIST/ICMT, same size) inside 10% of the WAVs,
 *   (c) a backup with nothing changed,
 *   (d) a full restore into an empty folder,
 *
 * and reports wall time, peak RSS (wait4) and repository size per tool, and
 * the ratios to shelf.  All three encrypt (shelf AES-256-GCM, restic
 * AES-256-CTR+Poly1305, borg repokey AES-CTR+HMAC) and compress (shelf zstd 3
 * when it pays, restic auto, borg lz4).  Page caches are dropped before each
 * step when /proc/sys/vm/drop_caches is writable.
 *
 * (a) and (d) run --runs times (default 2; (a) into a new repository each
 * time) and the best time counts.
 *
 *   bench_backup [--size GIB] [--dir DIR] [--runs N] [--keep] [--markdown]
 *                [--tools shelf,restic,borg] [--remote TOOL=BASE]...
 *
 * --remote TOOL=BASE puts TOOL's repositories on a server instead of a
 * local folder: BASE/r1, BASE/r2, ... (a new one for each run of (a)), e.g.
 * shelf=s3:http://127.0.0.1:8000/bench/shelf or
 * restic=s3:http://127.0.0.1:8000/bench/restic (credentials from the
 * environment); bench/bench_remote.sh runs it so.  The repository size of
 * such a tool is not measured ("-").
 *
 * --samples N measures instead how shelf's backup memory grows with the
 * number of samples: N tiny WAVs (256 frames each, all different) imported,
 * then a first backup and an unchanged one, shelf only; prints their time
 * and peak RSS.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <sndfile.h>
#include "bench_util.h"

#ifndef SHELF_BIN
#define SHELF_BIN "shelf"
#endif



#define PW "bench password"
#define RATE 44100

typedef struct result {
    double secs[4];
    long rss_kb[4];
    uint64_t repo_bytes;
    int ok;
} result;

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void drop_caches(void)
{
    int fd;

    sync();
    if ((fd = open("/proc/sys/vm/drop_caches", O_WRONLY)) >= 0) {
        if (write(fd, "3\n", 2) < 0)
            perror("drop_caches");
        close(fd);
    }
}

/* Run argv (in dir when not NULL), output to /dev/null; seconds and peak
 * RSS; -1 on failure. */
static double run(char *const argv[], const char *dir, long *rss_kb)
{
    struct rusage ru;
    double t0 = now();
    int status;
    pid_t pid = fork();

    if (pid < 0)
        return -1;
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);

        if (dir && chdir(dir) != 0)
            _exit(127);
        dup2(null, 1);
        if (!getenv("BENCH_VERBOSE"))
            dup2(null, 2);
        execvp(argv[0], argv);
        _exit(127);
    }
    if (wait4(pid, &status, 0, &ru) != pid)
        return -1;
    if (rss_kb)
        *rss_kb = ru.ru_maxrss;
    if (!WIFEXITED(status) || (WEXITSTATUS(status) != 0 && WEXITSTATUS(status) != 1)) {
        fprintf(stderr, "%s: '%s %s' failed (status %d)\n", bench_name, argv[0],
                argv[1] ? argv[1] : "", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        return -1;
    }
    /* borg exits 1 on warnings (e.g. a file changed while read). */
    return now() - t0;
}

static uint64_t du_total;

static int du_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)path;
    (void)ftw;
    if (flag == FTW_F)
        du_total += (uint64_t)sb->st_size;
    return 0;
}

static uint64_t du(const char *dir)
{
    du_total = 0;
    nftw(dir, du_one, 32, FTW_PHYS);
    return du_total;
}

/* ---- the data set ---- */

/* 16-bit stereo audio: decaying partials plus noise of amplitude noise. */
static void fill_audio(int16_t *buf, size_t frames, uint64_t seed, int noise)
{
    double f1 = 55.0 * (1 + (double)(bench_mix64(seed) % 40)), f2 = f1 * 1.5, ph = 0, ph2 = 0;
    uint64_t r = bench_mix64(seed ^ 0x9e37);
    size_t i;

    for (i = 0; i < frames; i++) {
        double env = 0.3 + 0.7 * ((double)((i * 7) % 44100) / 44100.0);
        double v = 9000.0 * env * (__builtin_sin(ph) + 0.5 * __builtin_sin(ph2));
        int k;

        ph += 2 * 3.141592653589793 * f1 / RATE;
        ph2 += 2 * 3.141592653589793 * f2 / RATE;
        for (k = 0; k < 2; k++) {
            long s;

            r ^= r << 13;
            r ^= r >> 7;
            r ^= r << 17;
            s = (long)v + (long)(r % (uint64_t)(2 * noise + 1)) - noise;
            buf[2 * i + (size_t)k] = (int16_t)(s > 32767 ? 32767 : s < -32768 ? -32768 : s);
        }
    }
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

#define LIST_OFF 44     /* where the 64-byte comment text starts */

/* A WAV with fmt, LIST/INFO/ICMT (64 bytes of text) and data chunks. */
static int write_wav(const char *path, size_t frames, uint64_t seed, int noise, const char *comment)
{
    uint8_t h[36 + 8 + 4 + 8 + 64 + 8];
    int16_t *pcm = malloc(frames * 4);
    uint32_t data = (uint32_t)(frames * 4);
    FILE *f;
    size_t n = 0;

    if (!pcm)
        return -1;
    fill_audio(pcm, frames, seed, noise);
    memcpy(h, "RIFF", 4);
    put32(h + 4, (uint32_t)(sizeof h - 8 + data));
    memcpy(h + 8, "WAVEfmt ", 8);
    put32(h + 16, 16);
    h[20] = 1; h[21] = 0; h[22] = 2; h[23] = 0;
    put32(h + 24, RATE);
    put32(h + 28, RATE * 4);
    h[32] = 4; h[33] = 0; h[34] = 16; h[35] = 0;
    n = 36;
    memcpy(h + n, "LIST", 4);
    put32(h + n + 4, 4 + 8 + 64);
    memcpy(h + n + 8, "INFOICMT", 8);
    put32(h + n + 16, 64);
    memset(h + n + 20, ' ', 64);
    memcpy(h + n + 20, comment, strlen(comment) < 64 ? strlen(comment) : 64);
    n += 84;
    memcpy(h + n, "data", 4);
    put32(h + n + 4, data);
    n += 8;
    if (!(f = fopen(path, "wb")) || fwrite(h, 1, n, f) != n || fwrite(pcm, 4, frames, f) != frames ||
        fclose(f) != 0) {
        fprintf(stderr, "%s: cannot write '%s': %s\n", bench_name, path, strerror(errno));
        free(pcm);
        return -1;
    }
    free(pcm);
    return 0;
}

static int write_flac(const char *path, size_t frames, uint64_t seed, int noise)
{
    SF_INFO info;
    SNDFILE *sf;
    int16_t *pcm = malloc(frames * 4);

    if (!pcm)
        return -1;
    memset(&info, 0, sizeof info);
    info.samplerate = RATE;
    info.channels = 2;
    info.format = SF_FORMAT_FLAC | SF_FORMAT_PCM_16;
    fill_audio(pcm, frames, seed, noise);
    if (!(sf = sf_open(path, SFM_WRITE, &info)) || sf_writef_short(sf, pcm, (sf_count_t)frames) != (sf_count_t)frames) {
        fprintf(stderr, "%s: cannot write '%s': %s\n", bench_name, path, sf_strerror(sf));
        free(pcm);
        if (sf)
            sf_close(sf);
        return -1;
    }
    sf_close(sf);
    free(pcm);
    return 0;
}

typedef struct dataset {
    char dir[4096];
    int nwav, nflac, npresets;
} dataset;

static int make_dataset(dataset *ds, uint64_t bytes)
{
    char p[4400], marker[4400];
    uint64_t done = 0, i = 0;
    double t0 = now();
    FILE *f;

    snprintf(marker, sizeof marker, "%s/.complete-%llu", ds->dir, (unsigned long long)bytes);
    snprintf(p, sizeof p, "%s/samples", ds->dir);
    if (access(marker, F_OK) == 0 && (f = fopen(marker, "r")) != NULL) {
        char line[128] = "", *e = line;
        int ok = fgets(line, sizeof line, f) != NULL;

        ds->nwav = (int)strtol(e, &e, 10);
        ds->nflac = (int)strtol(e, &e, 10);
        ds->npresets = (int)strtol(e, &e, 10);
        ok = ok && *e == '\n' && ds->nwav > 0;

        (void)fclose(f);    /* read only */
        if (ok)
            return 0;
    }
    bench_rm_rf(ds->dir);
    if (bench_mkdir_p(p) != 0)
        return -1;
    snprintf(p, sizeof p, "%s/presets", ds->dir);
    bench_mkdir_p(p);
    ds->nwav = ds->nflac = 0;
    fprintf(stderr, "%s: writing %.1f GiB of samples ...\n", bench_name, (double)bytes / (1 << 30));
    while (done < bytes) {
        uint64_t h = bench_mix64(++i);
        size_t frames = (size_t)(RATE / 2 + h % (RATE * 30));     /* 0.5 to 30 s */
        int noise = (h >> 20) % 2 ? 40 : 5000;                     /* tonal or noisy */

        if ((h >> 24) % 10 < 6) {
            snprintf(p, sizeof p, "%s/samples/w%05d.wav", ds->dir, ds->nwav++);
            if (write_wav(p, frames, i, noise, "original comment") != 0)
                return -1;
            done += frames * 4 + 128;
        } else {
            struct stat sb;

            snprintf(p, sizeof p, "%s/samples/f%05d.flac", ds->dir, ds->nflac++);
            if (write_flac(p, frames, i, noise) != 0 || stat(p, &sb) != 0)
                return -1;
            done += (uint64_t)sb.st_size;
        }
    }
    ds->npresets = 3000;
    for (i = 0; i < (uint64_t)ds->npresets; i++) {
        uint64_t h = bench_mix64(i + 77);
        int k;

        snprintf(p, sizeof p, "%s/presets/preset_%04d.sfz", ds->dir, (int)i);
        if (!(f = fopen(p, "w")))
            return -1;
        fprintf(f, "// preset %d\n<control> default_path=../samples/\n<global> ampeg_release=%.2f\n",
                (int)i, (double)(h % 100) / 50.0);
        for (k = 0; k < 12; k++)
            fprintf(f, "<region> sample=w%05d.wav lokey=%d hikey=%d pitch_keycenter=%d volume=-%d cutoff=%d\n",
                    (int)((h + (uint64_t)k * 31) % (uint64_t)ds->nwav), k * 10, k * 10 + 9, k * 10 + 4,
                    (int)((h >> 8) % 12), 200 + (int)((h >> 12) % 8000));
        if (fclose(f) != 0)
            return -1;
    }
    if ((f = fopen(marker, "w"))) {
        fprintf(f, "%d %d %d\n", ds->nwav, ds->nflac, ds->npresets);
        if (fclose(f) != 0)
            return -1;
    }
    fprintf(stderr, "%s: %d WAV, %d FLAC, %d presets in %.0f s\n", bench_name, ds->nwav, ds->nflac,
            ds->npresets, now() - t0);
    return 0;
}

/* (b): rewrite 1% of the files, edit the comment of 10% of the WAVs. */
static int change_dataset(const dataset *ds, int round)
{
    char p[4400], c[65];
    int i, nfiles = ds->nwav + ds->nflac;

    for (i = 0; i < nfiles / 100 + 1; i++) {
        int k = (int)(bench_mix64((uint64_t)i + 1000 * (uint64_t)round) % (uint64_t)ds->nwav);
        struct stat sb;

        snprintf(p, sizeof p, "%s/samples/w%05d.wav", ds->dir, k);
        if (stat(p, &sb) != 0 || write_wav(p, (size_t)(sb.st_size - 128) / 4, 999999 + (uint64_t)k, 3000,
                                           "rewritten") != 0)
            return -1;
    }
    for (i = 0; i < ds->nwav; i += 10) {
        int fd;

        snprintf(p, sizeof p, "%s/samples/w%05d.wav", ds->dir, i);
        snprintf(c, sizeof c, "%-64s", "edited comment, round 2");
        if ((fd = open(p, O_WRONLY)) < 0 || pwrite(fd, c, 64, 36 + 20) != 64) {
            if (fd >= 0)
                close(fd);
            return -1;
        }
        close(fd);
    }
    return 0;
}

/* ---- the tools ---- */

/* --remote: the base of each tool's repositories (NULL: a local folder),
 * and how many it has made, for BASE/r<n>. */
static const char *remote_base[3];
static int remote_made[3];

static int tool_index(const char *tool)
{
    return !strcmp(tool, "shelf") ? 0 : !strcmp(tool, "restic") ? 1 : 2;
}

typedef struct paths {
    char repo[4400], lib[4400], out[4400], samples[4400], presets[4400], arch[4500];
} paths;

static void paths_for(const char *tool, const dataset *ds, const char *work, int step, paths *p)
{
    if (remote_base[tool_index(tool)])
        snprintf(p->repo, sizeof p->repo, "%s/r%d", remote_base[tool_index(tool)],
                 remote_made[tool_index(tool)]);
    else
        snprintf(p->repo, sizeof p->repo, "%s/repo-%s", work, tool);
    snprintf(p->lib, sizeof p->lib, "%s/lib", work);
    snprintf(p->out, sizeof p->out, "%s/restore-%s", work, tool);
    snprintf(p->samples, sizeof p->samples, "%s/samples", ds->dir);
    snprintf(p->presets, sizeof p->presets, "%s/presets", ds->dir);
    snprintf(p->arch, sizeof p->arch, "%s::s%d", p->repo, step < 3 ? step : 2);
}

static int tool_init(const char *tool, const dataset *ds, const char *work)
{
    paths p;

    if (remote_base[tool_index(tool)])
        remote_made[tool_index(tool)]++;
    paths_for(tool, ds, work, 0, &p);
    if (!remote_base[tool_index(tool)])
        bench_rm_rf(p.repo);
    if (!strcmp(tool, "shelf")) {
        char *a[] = { SHELF_BIN, "-L", p.lib, "backup", "init", p.repo, NULL };
        return run(a, NULL, NULL) < 0 ? -1 : 0;
    } else if (!strcmp(tool, "restic")) {
        char *a[] = { "restic", "-r", p.repo, "init", NULL };
        return run(a, NULL, NULL) < 0 ? -1 : 0;
    } else {
        char *a[] = { "borg", "init", "-e", "repokey", p.repo, NULL };
        return run(a, NULL, NULL) < 0 ? -1 : 0;
    }
}

/* Steps 0-2 back up, 3 restores the last backup. */
static int tool_step(const char *tool, const dataset *ds, const char *work, int step, result *res)
{
    paths p;
    double t;

    paths_for(tool, ds, work, step, &p);
    bench_rm_rf(p.out);
    drop_caches();
    if (!strcmp(tool, "shelf")) {
        char *a[] = { SHELF_BIN, "-q", "-L", p.lib, "backup", p.repo, NULL };
        char *b[] = { SHELF_BIN, "-q", "-L", p.lib, "restore", p.repo, "latest", "--to", p.out, NULL };

        t = run(step < 3 ? a : b, NULL, &res->rss_kb[step]);
    } else if (!strcmp(tool, "restic")) {
        char *a[] = { "restic", "-q", "-r", p.repo, "backup", p.samples, p.presets, NULL };
        char *b[] = { "restic", "-q", "-r", p.repo, "restore", "latest", "--target", p.out, NULL };

        t = run(step < 3 ? a : b, NULL, &res->rss_kb[step]);
    } else {
        char *a[] = { "borg", "create", p.arch, p.samples, p.presets, NULL };
        char *b[] = { "borg", "extract", p.arch, NULL };

        if (step == 3)
            bench_mkdir_p(p.out);
        t = run(step < 3 ? a : b, step == 3 ? p.out : NULL, &res->rss_kb[step]);
    }
    if (t < 0)
        return -1;
    res->secs[step] = t;
    if (step == 3) {
        res->repo_bytes = remote_base[tool_index(tool)] ? 0 : du(p.repo);
        res->ok = 1;
        bench_rm_rf(p.out);
    }
    return 0;
}

/* --samples N: shelf only, N tiny WAVs, peak RSS of (a) and (c). */
static int scale_run(const char *work, uint64_t nsamples, int keep)
{
    char dir[4400], libdir[4400], repo[4400], p[4500], machine[512];
    double secs[2];
    long rss[2];
    uint64_t i;
    int step;

    snprintf(dir, sizeof dir, "%s/tiny-%llu", work, (unsigned long long)nsamples);
    snprintf(libdir, sizeof libdir, "%s/lib-%llu", work, (unsigned long long)nsamples);
    snprintf(repo, sizeof repo, "%s/repo-%llu", work, (unsigned long long)nsamples);
    bench_rm_rf(dir);
    bench_rm_rf(libdir);
    bench_rm_rf(repo);
    fprintf(stderr, "%s: writing %llu tiny WAVs ...\n", bench_name, (unsigned long long)nsamples);
    for (i = 0; i < nsamples; i++) {
        if (i % 1000 == 0) {
            snprintf(p, sizeof p, "%s/d%03llu", dir, (unsigned long long)(i / 1000));
            if (bench_mkdir_p(p) != 0)
                return 1;
        }
        snprintf(p, sizeof p, "%s/d%03llu/t%06llu.wav", dir, (unsigned long long)(i / 1000),
                 (unsigned long long)i);
        if (write_wav(p, 256, i + 1, 5000, "tiny") != 0)
            return 1;
    }
    {
        char *a[] = { SHELF_BIN, "-q", "-L", libdir, "import", dir, NULL };
        double t0 = now();

        if (run(a, NULL, NULL) < 0)
            return 1;
        fprintf(stderr, "%s: shelf import %.1f s\n", bench_name, now() - t0);
    }
    setenv("SHELF_PASSWORD", PW, 1);
    {
        char *a[] = { SHELF_BIN, "-L", libdir, "backup", "init", repo, NULL };

        if (run(a, NULL, NULL) < 0)
            return 1;
    }
    for (step = 0; step < 2; step++) {
        char *a[] = { SHELF_BIN, "-q", "-L", libdir, "backup", repo, NULL };

        drop_caches();
        if ((secs[step] = run(a, NULL, &rss[step])) < 0)
            return 1;
    }
    bench_machine_desc(work, machine, sizeof machine);
    printf("%s: --samples %llu: %s\n", bench_name, (unsigned long long)nsamples, machine);
    printf("| samples | (a) first | peak RSS (a) | (c) unchanged | peak RSS (c) |\n");
    printf("|---|---|---|---|---|\n");
    printf("| %llu | %.1f s | %ld MB | %.1f s | %ld MB |\n", (unsigned long long)nsamples, secs[0],
           rss[0] / 1024, secs[1], rss[1] / 1024);
    if (!keep) {
        bench_rm_rf(dir);
        bench_rm_rf(libdir);
        bench_rm_rf(repo);
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *tools[3] = { "shelf", "restic", "borg" };
    char work[3800] = "", machine[512], libdir[4400], p[4400];
    uint64_t gib = 2, nsamples = 0;
    int i, t, step, round, runs = 2, keep = 0, markdown = 0, ntools = 3;
    result res[3];
    dataset ds;
    double t0;

    bench_name = "bench_backup";
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--size") && i + 1 < argc) {
            if (bench_parse_u64(argv[++i], 1, 64, &gib) != 0)
                return 2;
        } else if (!strcmp(argv[i], "--samples") && i + 1 < argc) {
            if (bench_parse_u64(argv[++i], 1, 1000000, &nsamples) != 0)
                return 2;
        } else if (!strcmp(argv[i], "--dir") && i + 1 < argc) {
            snprintf(work, sizeof work, "%s", argv[++i]);
        } else if (!strcmp(argv[i], "--runs") && i + 1 < argc) {
            uint64_t v;

            if (bench_parse_u64(argv[++i], 1, 10, &v) != 0)
                return 2;
            runs = (int)v;
        } else if (!strcmp(argv[i], "--keep")) {
            keep = 1;
        } else if (!strcmp(argv[i], "--markdown")) {
            markdown = 1;
        } else if (!strcmp(argv[i], "--tools") && i + 1 < argc) {
            char *s = argv[++i];

            ntools = 0;
            while (*s && ntools < 3) {
                tools[ntools++] = s;
                s += strcspn(s, ",");
                if (*s)
                    *s++ = '\0';
            }
        } else if (!strcmp(argv[i], "--remote") && i + 1 < argc && strchr(argv[i + 1], '=')) {
            char *s = argv[++i], *eq = strchr(s, '=');

            *eq = '\0';
            remote_base[tool_index(s)] = eq + 1;
        } else {
            fprintf(stderr, "usage: %s [--size GIB] [--dir DIR] [--runs N] [--keep] [--markdown] "
                    "[--tools shelf,restic,borg] [--remote TOOL=BASE]... [--samples N]\n", bench_name);
            return 2;
        }
    }
    if (!*work)
        snprintf(work, sizeof work, "%s/shelf-bench-backup", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    bench_mkdir_p(work);
    if (nsamples)
        return scale_run(work, nsamples, keep);
    snprintf(ds.dir, sizeof ds.dir, "%s/data", work);
    if (make_dataset(&ds, gib << 30) != 0)
        return 1;
    /* the shelf library over the data set (not timed) */
    snprintf(libdir, sizeof libdir, "%s/lib", work);
    bench_rm_rf(libdir);
    {
        char samples[4400];
        char *a[] = { SHELF_BIN, "-q", "-L", libdir, "import", samples, NULL };

        snprintf(samples, sizeof samples, "%s/samples", ds.dir);
        t0 = now();
        if (run(a, NULL, NULL) < 0)
            return 1;
        fprintf(stderr, "%s: shelf import %.1f s\n", bench_name, now() - t0);
    }
    {
        /* presets as patches: shelf patch import FILE... in batches */
        char *a[520];
        char names[500][64];
        int k, n = 0;

        for (k = 0; k < ds.npresets; k++) {
            snprintf(names[n], sizeof names[n], "preset_%04d.sfz", k);
            a[4 + n] = names[n];
            n++;
            if (n == 500 || k == ds.npresets - 1) {
                a[0] = SHELF_BIN; a[1] = "-L"; a[2] = libdir; a[3] = "patch";
                memmove(a + 5, a + 4, (size_t)n * sizeof *a);
                a[4] = "import";
                a[5 + n] = NULL;
                snprintf(p, sizeof p, "%s/presets", ds.dir);
                if (run(a, p, NULL) < 0)
                    return 1;
                n = 0;
            }
        }
    }
    bench_machine_desc(work, machine, sizeof machine);
    memset(res, 0, sizeof res);
    setenv("RESTIC_PASSWORD", PW, 1);
    setenv("BORG_PASSPHRASE", PW, 1);
    setenv("SHELF_PASSWORD", PW, 1);
    setenv("BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK", "yes", 1);
    setenv("BORG_RELOCATED_REPO_ACCESS_IS_OK", "yes", 1);
    /* restic and borg are optional (scripts/install-deps --tools). */
    for (t = 0; t < ntools; t++) {
        char *v[] = { (char *)tools[t], "--version", NULL };

        if (strcmp(tools[t], "shelf") != 0 && run(v, NULL, NULL) < 0) {
            fprintf(stderr, "%s: %s is not installed: left out\n", bench_name, tools[t]);
            memmove(tools + t, tools + t + 1, (size_t)(ntools - t - 1) * sizeof *tools);
            ntools--;
            t--;
        }
    }
    for (t = 0; t < ntools; t++)
        if (tool_init(tools[t], &ds, work) != 0) {
            fprintf(stderr, "%s: %s init failed\n", bench_name, tools[t]);
            return 1;
        }
    /* Step by step, every tool on the same data. */
    for (step = 0; step < 4; step++) {
        if (step == 1 && change_dataset(&ds, 1) != 0) {
            fprintf(stderr, "%s: cannot change the data set\n", bench_name);
            return 1;
        }
        /* The order rotates from step to step, so no tool always runs
         * right after another one's writes. */
        /* (a) and (d) repeat (a: each time into a new repository); the
         * best time counts, as the disk of a shared machine varies. */
        for (round = 0; round < ((step == 0 || step == 3) ? runs : 1); round++) {
            for (i = 0; i < ntools; i++) {
                double prev;
                long prevrss;

                t = (i + step + round) % ntools;
                prev = res[t].secs[step];
                prevrss = res[t].rss_kb[step];
                if (step == 0 && round > 0 && tool_init(tools[t], &ds, work) != 0)
                    return 1;
                fprintf(stderr, "%s: %s step %c ...\n", bench_name, tools[t], 'a' + step);
                if (tool_step(tools[t], &ds, work, step, &res[t]) != 0) {
                    fprintf(stderr, "%s: %s failed\n", bench_name, tools[t]);
                    return 1;
                }
                if (round > 0 && prev < res[t].secs[step]) {
                    res[t].secs[step] = prev;
                    res[t].rss_kb[step] = prevrss > res[t].rss_kb[step] ? prevrss : res[t].rss_kb[step];
                }
            }
        }
    }
    printf("%s: %.1f GiB: %d WAV, %d FLAC, %d presets; %s\n", bench_name, (double)gib, ds.nwav, ds.nflac,
           ds.npresets, machine);
    printf("%-7s %10s %10s %10s %10s   %8s %8s %8s %8s   %10s\n", "tool", "a first", "b changed",
           "c same", "d restore", "RSS a", "RSS b", "RSS c", "RSS d", "repo");
    for (t = 0; t < ntools; t++) {
        if (!res[t].ok) {
            printf("%-7s failed\n", tools[t]);
            continue;
        }
        printf("%-7s %9.1fs %9.1fs %9.1fs %9.1fs   %7ldM %7ldM %7ldM %7ldM   ", tools[t],
               res[t].secs[0], res[t].secs[1], res[t].secs[2], res[t].secs[3], res[t].rss_kb[0] / 1024,
               res[t].rss_kb[1] / 1024, res[t].rss_kb[2] / 1024, res[t].rss_kb[3] / 1024);
        if (res[t].repo_bytes)
            printf("%9.0fM\n", (double)res[t].repo_bytes / 1048576.0);
        else
            printf("%10s\n", "-");
    }
    if (markdown && res[0].ok) {
        printf("\n| tool | (a) first | (b) 1%% changed | (c) unchanged | (d) restore | peak RSS (a/b/c/d) | repository |\n");
        printf("|---|---|---|---|---|---|---|\n");
        for (t = 0; t < ntools; t++) {
            if (!res[t].ok)
                continue;
            printf("| %s | %.1f s (%.2fx) | %.1f s (%.2fx) | %.1f s (%.2fx) | %.1f s (%.2fx) | %ld / %ld / %ld / %ld MB |",
                   tools[t], res[t].secs[0], res[t].secs[0] / res[0].secs[0], res[t].secs[1],
                   res[t].secs[1] / res[0].secs[1], res[t].secs[2], res[t].secs[2] / res[0].secs[2],
                   res[t].secs[3], res[t].secs[3] / res[0].secs[3], res[t].rss_kb[0] / 1024,
                   res[t].rss_kb[1] / 1024, res[t].rss_kb[2] / 1024, res[t].rss_kb[3] / 1024);
            if (res[t].repo_bytes && res[0].repo_bytes)
                printf(" %.0f MB (%.2fx) |\n", (double)res[t].repo_bytes / 1048576.0,
                       (double)res[t].repo_bytes / (double)res[0].repo_bytes);
            else
                printf(" - |\n");
        }
        printf("\nRatios are to shelf (above 1: shelf is faster or smaller).\n");
    }
    if (!keep)
        bench_rm_rf(work);
    return 0;
}
