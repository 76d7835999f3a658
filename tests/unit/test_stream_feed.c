/*
 * test_stream_feed.c: the storage side measured alone (doc/streaming.md,
 * "The stress test"): shelf_stream_feed copies every voice's data out of
 * its ring and runs no interpolation or mix (feed_frames counted,
 * mix_frames zero; the mixed run the other way round), the worst-case
 * script gives each voice its own sample and a seeded random start (no
 * read shared, starts the same for the same seed), and a feed-only run on
 * a medium whose reads come late reports its underruns (so a capacity
 * figure can fail).  Short runs (a few seconds), nothing timed.
 */
#include <sndfile.h>
#include <sys/stat.h>
#include "test.h"
#include "audiogen.h"

#define NFILES 4

/* NFILES WAVs of `seconds`, 24-bit stereo 48 kHz, under names a sampler's
 * library may hold (spaces, accents, CJK, emoji, a newline). */
static void make_files(const char *dir, double seconds, char paths[NFILES][PATH_MAX],
                       const char *pp[NFILES])
{
    static const char *const names[NFILES] = { "kick é.wav", "スネア.wav", "hat 🥁.wav",
                                               "tom\nlow.wav" };
    int i;

    for (i = 0; i < NFILES; i++) {
        tg_spec s = TG_SPEC_INIT(SF_FORMAT_WAV | SF_FORMAT_PCM_24, 48000, 2,
                                 (int64_t)(seconds * 48000));
        s.seed = (unsigned)i + 1;
        s.freq = 110.0 * (i + 1);
        ASSERT_EQ_INT(tg_write(test_pathf(paths[i], PATH_MAX, "%s/%s", dir, names[i]), &s), 0);
        pp[i] = paths[i];
    }
}

/* The engine's defaults. */
static shelf_stream_opts engine_opts(void)
{
    shelf_stream_opts eo;

    memset(&eo, 0, sizeof eo);
    eo.size = sizeof eo;
    return eo;
}

static shelf_stress_opts worst_opts(int voices, double duration, int feed_only)
{
    shelf_stress_opts so;

    memset(&so, 0, sizeof so);
    so.size = sizeof so;
    so.voices = voices;
    so.duration = duration;
    so.cold = 1;
    so.seed = 7;
    so.script = SHELF_STRESS_WORST;
    so.preroll = 0.5;
    so.feed_only = feed_only;
    return so;
}

/* frames is every voice's 128 frames in each of the run's blocks, give or
 * take a block at each end. */
static int near_blocks(const shelf_stress_result *r, uint64_t frames)
{
    int64_t want = (int64_t)r->stats.blocks * 128 * NFILES, d = (int64_t)frames - want;

    return d >= -2 * 128 * NFILES && d <= 2 * 128 * NFILES;
}

/* The feed-only path ran: frames copied out, none interpolated; each voice
 * its own sample (no merged read); the same run mixed interpolates and
 * copies nothing; the starts are seeded. */
TEST(feed_only_copies_and_does_not_mix)
{
    char paths[NFILES][PATH_MAX];
    const char *pp[NFILES];
    shelf_stream_opts eo = engine_opts();
    shelf_stress_opts so = worst_opts(NFILES, 2, 1);
    shelf_stress_result *r = NULL, *m = NULL;
    char *msg = NULL;
    size_t i, j;

    make_files(test_tmpdir(), 4, paths, pp);
    eo.head_ms = 100;
    ASSERT_OKM(msg, shelf_stress_run(pp, NFILES, &eo, &so, &r, &msg));
    /* Two measured seconds of four voices at pitch 1, copied. */
    ASSERT(r->nrows >= 2 && r->nrows <= 3);
    ASSERT(r->stats.blocks > 48000 / 128);
    ASSERT(r->stats.feed_frames > 0);
    ASSERT_EQ_INT(r->stats.mix_frames, 0);
    /* Each block copied its 128 frames of every voice, or counted them as
     * missing (within a block at each end: the counters are read while
     * the callback runs). */
    ASSERT(near_blocks(r, r->stats.feed_frames + r->stats.underrun_frames));
    /* Each voice its own sample: no read served two of them. */
    ASSERT_EQ_INT(r->stats.merged, 0);
    ASSERT(r->stats.reads > 0);
    ASSERT_EQ_INT(r->noffsets, NFILES);
    for (i = 0; i < NFILES; i++) {
        ASSERT(r->offsets[i] >= 0 && r->offsets[i] <= (int64_t)(4 - 3) * 48000);
        for (j = 0; j < i; j++)
            ASSERT(r->offsets[i] != r->offsets[j]);
    }
    /* The voices played the whole measured run: started in the pre-roll. */
    ASSERT_EQ_INT(r->stats.voices_started, 0);
    ASSERT_EQ_INT(r->preroll.voices_started, NFILES);
    ASSERT_EQ_INT(r->stats.chunks_lost, 0);

    so.feed_only = 0;
    ASSERT_OKM(msg, shelf_stress_run(pp, NFILES, &eo, &so, &m, &msg));
    ASSERT_EQ_INT(m->stats.feed_frames, 0);
    ASSERT(near_blocks(m, m->stats.mix_frames));
    for (i = 0; i < NFILES; i++)
        ASSERT_EQ_INT(m->offsets[i], r->offsets[i]);   /* same seed, same starts */
    shelf_stress_free(r);
    shelf_stress_free(m);
}

/* Half the reads held back a second while a ring holds under 400 ms: the
 * feed-only run must see its voices run dry and say so (the worst-case
 * script drops no voice, so each keeps running dry). */
TEST(feed_only_reports_underruns)
{
    char paths[NFILES][PATH_MAX];
    const char *pp[NFILES];
    shelf_stream_opts eo = engine_opts();
    shelf_stress_opts so = worst_opts(2, 2, 1);
    shelf_stress_result *r = NULL;
    char *msg = NULL;

    make_files(test_tmpdir(), 4, paths, pp);
    eo.chunk_bytes = 32768;      /* 5,461 frames: 124 ms a chunk, 3 in a ring */
    eo.head_ms = 50;
    eo.fault_delay_rate = 0.5;
    eo.fault_delay_ms = 1000;
    eo.fault_seed = 7;
    ASSERT_OKM(msg, shelf_stress_run(pp, NFILES, &eo, &so, &r, &msg));
    ASSERT(r->stats.feed_frames > 0);
    ASSERT_EQ_INT(r->stats.mix_frames, 0);
    ASSERT(r->stats.underruns > 0);
    ASSERT_EQ_INT(r->stats.voices_dropped, 0);
    ASSERT(r->stats.underrun_frames > 0);
    ASSERT(!r->clean);
    /* The random starts were not read in time either. */
    ASSERT(r->preroll.not_ready > 0);
    shelf_stress_free(r);
}

/* The worst case needs a sample per voice, each long enough for the run:
 * refused in one line otherwise. */
TEST(worst_case_refusals)
{
    char paths[NFILES][PATH_MAX];
    const char *pp[NFILES];
    shelf_stream_opts eo = engine_opts();
    shelf_stress_opts so = worst_opts(NFILES + 1, 2, 1);
    shelf_stress_result *r = NULL;
    char *msg = NULL;

    make_files(test_tmpdir(), 2, paths, pp);
    ASSERT_EQ_INT(shelf_stress_run(pp, NFILES, &eo, &so, &r, &msg), SHELF_EINVAL);
    ASSERT(r == NULL && msg && strstr(msg, "a sample per voice: 4 for 5 voices"));
    shelf_free(msg);
    msg = NULL;
    so.voices = 2;               /* 2 s files, 0.5 + 2 + 0.5 s wanted */
    ASSERT_EQ_INT(shelf_stress_run(pp, NFILES, &eo, &so, &r, &msg), SHELF_EINVAL);
    ASSERT(r == NULL && msg && strstr(msg, "kick é.wav' lasts 2.0 s") && !strchr(msg, '\n'));
    shelf_free(msg);
}

int main(int argc, char **argv)
{
    static const test_case tests[] = {
        TEST_ENTRY(feed_only_copies_and_does_not_mix), TEST_ENTRY(feed_only_reports_underruns),
        TEST_ENTRY(worst_case_refusals), TEST_END
    };
    return test_run(argc, argv, tests);
}
