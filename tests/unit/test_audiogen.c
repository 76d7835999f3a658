/*
 * test_audiogen.c: proves the test audio generator.  Writes every format
 * the tests rely on with a root key, a loop and (WAV) acid data, then reads
 * the files back with libsndfile and checks what it reports.
 */
#include <math.h>
#include <sndfile.h>
#include "test.h"
#include "audiogen.h"

#define FRAMES 4801     /* odd, so 24-bit mono data needs a pad byte */

typedef struct fmt_case {
    const char *name, *ext;
    int format, rate, channels;
} fmt_case;

static const fmt_case formats[] = {
    { "wav-pcm16", "wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 44100, 2 },
    { "wav-pcm24", "wav", SF_FORMAT_WAV | SF_FORMAT_PCM_24, 48000, 1 },
    { "wav-float", "wav", SF_FORMAT_WAV | SF_FORMAT_FLOAT, 96000, 2 },
    { "aiff-pcm16", "aiff", SF_FORMAT_AIFF | SF_FORMAT_PCM_16, 44100, 1 },
    { "aiff-pcm24", "aiff", SF_FORMAT_AIFF | SF_FORMAT_PCM_24, 48000, 2 },
    { "flac-pcm16", "flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 44100, 2 },
    { "flac-pcm24", "flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_24, 96000, 1 },
    { "ogg-vorbis", "ogg", SF_FORMAT_OGG | SF_FORMAT_VORBIS, 44100, 2 },
    { "ogg-opus", "opus", SF_FORMAT_OGG | SF_FORMAT_OPUS, 48000, 2 },
};
#define NFORMATS (sizeof formats / sizeof formats[0])

static tg_spec full_spec(const fmt_case *f)
{
    tg_spec s = TG_SPEC_INIT(f->format, f->rate, f->channels, FRAMES);

    s.root_key = 60;
    s.loop_start = 100;
    s.loop_end = 2000;
    s.loop_mode = 1;
    if ((f->format & SF_FORMAT_TYPEMASK) == SF_FORMAT_WAV) {
        s.acid_tempo = 120.0;
        s.acid_beats = 8;
    }
    s.seed = 7;
    return s;
}

/* Open path for reading, failing the test when libsndfile cannot. */
static SNDFILE *open_read(const char *path, SF_INFO *info)
{
    SNDFILE *sf;

    memset(info, 0, sizeof *info);
    sf = sf_open(path, SFM_READ, info);
    if (!sf)
        test__fail(__FILE__, __LINE__, "cannot open '%s': %s", path, sf_strerror(NULL));
    return sf;
}

/* The largest absolute sample value of the whole file. */
static double file_peak(SNDFILE *sf, const SF_INFO *info)
{
    float buf[1024 * 2];
    sf_count_t n, i, want = 1024;
    double peak = 0;

    ASSERT(info->channels <= 2);
    while ((n = sf_readf_float(sf, buf, want)) > 0)
        for (i = 0; i < n * info->channels; i++)
            if (fabs(buf[i]) > peak)
                peak = fabs(buf[i]);
    return peak;
}

static void check_format(const fmt_case *f)
{
    int major = f->format & SF_FORMAT_TYPEMASK;
    tg_spec s = full_spec(f);
    char path[PATH_MAX];
    SF_INFO info;
    SNDFILE *sf;
    double peak;

    test_pathf(path, sizeof path, "%s/%s.%s", test_tmpdir(), f->name, f->ext);
    ASSERT_EQ_INT(tg_write(path, &s), 0);
    sf = open_read(path, &info);
    ASSERT_EQ_INT(info.format, f->format);
    ASSERT_EQ_INT(info.samplerate, f->rate);
    ASSERT_EQ_INT(info.channels, f->channels);
    ASSERT_EQ_INT(info.frames, FRAMES);

    if (major == SF_FORMAT_WAV || major == SF_FORMAT_AIFF) {
        SF_INSTRUMENT inst;

        memset(&inst, 0, sizeof inst);
        ASSERT_EQ_INT(sf_command(sf, SFC_GET_INSTRUMENT, &inst, sizeof inst), SF_TRUE);
        ASSERT_EQ_INT(inst.basenote, 60);
        ASSERT_EQ_INT(inst.loop_count, 1);
        ASSERT_EQ_INT(inst.loops[0].mode, SF_LOOP_FORWARD);
        ASSERT_EQ_INT(inst.loops[0].start, 100);
        ASSERT_EQ_INT(inst.loops[0].end, 2000);
    }
    if (major == SF_FORMAT_WAV) {
        SF_LOOP_INFO li;

        memset(&li, 0, sizeof li);
        ASSERT_EQ_INT(sf_command(sf, SFC_GET_LOOP_INFO, &li, sizeof li), SF_TRUE);
        ASSERT(fabs(li.bpm - 120.0) < 1e-3);
        ASSERT_EQ_INT(li.num_beats, 8);
        ASSERT_EQ_INT(li.root_key, 60);
        ASSERT_EQ_INT(li.loop_mode, SF_LOOP_FORWARD);
        ASSERT_EQ_INT(li.time_sig_num, 4);
        ASSERT_EQ_INT(li.time_sig_den, 4);
    }
    /* A 0.5 sine plus at most 0.01 of noise; lossy codecs overshoot a bit. */
    peak = file_peak(sf, &info);
    ASSERT(peak > 0.4 && peak < 0.6);
    sf_close(sf);
}

TEST(wav_pcm16) { check_format(&formats[0]); }
TEST(wav_pcm24) { check_format(&formats[1]); }
TEST(wav_float) { check_format(&formats[2]); }
TEST(aiff_pcm16) { check_format(&formats[3]); }
TEST(aiff_pcm24) { check_format(&formats[4]); }
TEST(flac_pcm16) { check_format(&formats[5]); }
TEST(flac_pcm24) { check_format(&formats[6]); }
TEST(ogg_vorbis) { check_format(&formats[7]); }

TEST(ogg_opus)
{
    /* libsndfile >= 1.0.29 (Debian 12 has 1.2.0) writes Opus. */
    ASSERT(tg_can_write(formats[8].format));
    check_format(&formats[8]);
}

/* Every format in the table but Opus must be writable. */
TEST(can_write)
{
    size_t i;

    for (i = 0; i < NFORMATS; i++)
        if ((formats[i].format & SF_FORMAT_SUBMASK) != SF_FORMAT_OPUS)
            ASSERT_EQ_INT(tg_can_write(formats[i].format), 1);
    ASSERT_EQ_INT(tg_can_write(SF_FORMAT_FLAC | SF_FORMAT_FLOAT), 0);
}

/* Backward and alternating loops survive the WAV 'smpl' chunk. */
TEST(wav_loop_modes)
{
    static const int want[] = { 0, SF_LOOP_FORWARD, SF_LOOP_BACKWARD, SF_LOOP_ALTERNATING };
    const char *dir = test_tmpdir();
    int mode;

    for (mode = 1; mode <= 3; mode++) {
        tg_spec s = TG_SPEC_INIT(SF_FORMAT_WAV | SF_FORMAT_PCM_16, 22050, 1, 3000);
        char path[PATH_MAX];
        SF_INSTRUMENT inst;
        SF_INFO info;
        SNDFILE *sf;

        s.loop_mode = mode;
        s.loop_start = 10;
        s.loop_end = 2999;
        test_pathf(path, sizeof path, "%s/loop%d.wav", dir, mode);
        ASSERT_EQ_INT(tg_write(path, &s), 0);
        sf = open_read(path, &info);
        memset(&inst, 0, sizeof inst);
        ASSERT_EQ_INT(sf_command(sf, SFC_GET_INSTRUMENT, &inst, sizeof inst), SF_TRUE);
        ASSERT_EQ_INT(inst.loop_count, 1);
        ASSERT_EQ_INT(inst.loops[0].mode, want[mode]);
        ASSERT_EQ_INT(inst.loops[0].start, 10);
        ASSERT_EQ_INT(inst.loops[0].end, 2999);
        sf_close(sf);
    }
}

/* Acid data without a root key: the flag stays clear, root_key reads -1. */
TEST(wav_acid_no_root)
{
    tg_spec s = TG_SPEC_INIT(SF_FORMAT_WAV | SF_FORMAT_PCM_16, 44100, 2, 1001);
    char path[PATH_MAX];
    SF_LOOP_INFO li;
    SF_INFO info;
    SNDFILE *sf;

    s.acid_tempo = 93.5;
    s.acid_beats = 16;
    test_pathf(path, sizeof path, "%s/acid.wav", test_tmpdir());
    ASSERT_EQ_INT(tg_write(path, &s), 0);
    sf = open_read(path, &info);
    ASSERT_EQ_INT(info.frames, 1001);
    memset(&li, 0, sizeof li);
    ASSERT_EQ_INT(sf_command(sf, SFC_GET_LOOP_INFO, &li, sizeof li), SF_TRUE);
    ASSERT(fabs(li.bpm - 93.5) < 1e-3);
    ASSERT_EQ_INT(li.num_beats, 16);
    ASSERT_EQ_INT(li.root_key, -1);
    sf_close(sf);
}

/* A plain file carries no instrument or loop info. */
TEST(simple_has_no_metadata)
{
    char path[PATH_MAX];
    SF_INSTRUMENT inst;
    SF_LOOP_INFO li;
    SF_INFO info;
    SNDFILE *sf;

    test_pathf(path, sizeof path, "%s/plain.wav", test_tmpdir());
    ASSERT_EQ_INT(tg_write_simple(path, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 8000, 1, 800, 1), 0);
    sf = open_read(path, &info);
    ASSERT_EQ_INT(info.frames, 800);
    ASSERT_EQ_INT(info.samplerate, 8000);
    ASSERT_EQ_INT(sf_command(sf, SFC_GET_INSTRUMENT, &inst, sizeof inst), SF_FALSE);
    ASSERT_EQ_INT(sf_command(sf, SFC_GET_LOOP_INFO, &li, sizeof li), SF_FALSE);
    sf_close(sf);
}

/* The same spec gives the same bytes; another seed gives other bytes. */
TEST(seed_varies_content)
{
    static const int fmts[] = { SF_FORMAT_WAV | SF_FORMAT_PCM_16,
                                SF_FORMAT_AIFF | SF_FORMAT_PCM_24,
                                SF_FORMAT_FLAC | SF_FORMAT_PCM_16 };
    const char *dir = test_tmpdir();
    size_t i;

    for (i = 0; i < sizeof fmts / sizeof fmts[0]; i++) {
        char a[PATH_MAX], b[PATH_MAX], c[PATH_MAX], *da, *db, *dc;
        size_t na, nb, nc;

        test_pathf(a, sizeof a, "%s/a%zu", dir, i);
        test_pathf(b, sizeof b, "%s/b%zu", dir, i);
        test_pathf(c, sizeof c, "%s/c%zu", dir, i);
        ASSERT_EQ_INT(tg_write_simple(a, fmts[i], 44100, 2, 5000, 1), 0);
        ASSERT_EQ_INT(tg_write_simple(b, fmts[i], 44100, 2, 5000, 1), 0);
        ASSERT_EQ_INT(tg_write_simple(c, fmts[i], 44100, 2, 5000, 2), 0);
        da = test_read_file(a, &na);
        db = test_read_file(b, &nb);
        dc = test_read_file(c, &nc);
        ASSERT_EQ_INT(na, nb);
        ASSERT(memcmp(da, db, na) == 0);
        ASSERT(na != nc || memcmp(da, dc, na) != 0);
        free(da);
        free(db);
        free(dc);
    }
}

/* Bad specs fail with -1 and leave no file. */
TEST(bad_spec)
{
    tg_spec s = TG_SPEC_INIT(SF_FORMAT_WAV | SF_FORMAT_PCM_16, 44100, 1, 1000);
    char path[PATH_MAX];

    test_pathf(path, sizeof path, "%s/bad.wav", test_tmpdir());
    s.loop_mode = 1;
    s.loop_start = 500;
    s.loop_end = 1001;          /* past the end */
    ASSERT_EQ_INT(tg_write(path, &s), -1);
    s.loop_end = 400;           /* before the start */
    ASSERT_EQ_INT(tg_write(path, &s), -1);
    s.loop_mode = 0;
    s.channels = 0;
    ASSERT_EQ_INT(tg_write(path, &s), -1);
    ASSERT(!test_exists(path));
    ASSERT_EQ_INT(tg_write_simple(path, SF_FORMAT_FLAC | SF_FORMAT_FLOAT, 44100, 1, 10, 0), -1);
    ASSERT(!test_exists(path));
    s = (tg_spec)TG_SPEC_INIT(SF_FORMAT_AIFF | SF_FORMAT_PCM_16, 44100, 1, 1000);
    s.loop_mode = 2;            /* AIFF has no backward loop */
    s.loop_start = 0;
    s.loop_end = 1000;
    ASSERT_EQ_INT(tg_write(path, &s), -1);
    ASSERT(!test_exists(path));
}

int main(int argc, char **argv)
{
    static const test_case tests[] = {
        TEST_ENTRY(wav_pcm16),
        TEST_ENTRY(wav_pcm24),
        TEST_ENTRY(wav_float),
        TEST_ENTRY(aiff_pcm16),
        TEST_ENTRY(aiff_pcm24),
        TEST_ENTRY(flac_pcm16),
        TEST_ENTRY(flac_pcm24),
        TEST_ENTRY(ogg_vorbis),
        TEST_ENTRY(ogg_opus),
        TEST_ENTRY(can_write),
        TEST_ENTRY(wav_loop_modes),
        TEST_ENTRY(wav_acid_no_root),
        TEST_ENTRY(simple_has_no_metadata),
        TEST_ENTRY(seed_varies_content),
        TEST_ENTRY(bad_spec),
        TEST_END
    };

    return test_run(argc, argv, tests);
}
