/*
 * audiogen.h: writes small audio files for tests with libsndfile, so no
 * test needs outside data.  The content is a sine with a little seeded
 * noise: different seeds give different bytes, the same spec gives the
 * same bytes for WAV, AIFF and FLAC (not for OGG, whose stream serial
 * number libsndfile draws at random).
 */
#ifndef SHELF_TEST_AUDIOGEN_H
#define SHELF_TEST_AUDIOGEN_H

#include <stdint.h>

typedef struct tg_spec {
    int format;                 /* SF_FORMAT_WAV | SF_FORMAT_PCM_16, ... */
    int rate, channels;
    int64_t frames;
    int root_key;               /* MIDI note; -1 none */
    int64_t loop_start, loop_end; /* frames, end exclusive; -1 none */
    int loop_mode;              /* 0 none, 1 forward, 2 backward, 3 alternating */
    double acid_tempo;          /* beats per minute; 0 none; WAV only */
    int acid_beats;
    double freq;                /* sine frequency in Hz; 0 means 440 */
    unsigned seed;              /* varies the content */
    /* Strings the file carries (RIFF INFO, Vorbis comments); NULL none. */
    const char *title, *artist, *comment, *genre;
} tg_spec;

/* A spec with no root key, loop or acid data, for tg_write(). */
#define TG_SPEC_INIT(fmt, r, ch, n)                                          \
    { (fmt), (r), (ch), (n), -1, -1, -1, 0, 0.0, 0, 0.0, 0u, NULL, NULL, NULL, NULL }

/*
 * Write the file at path as s describes.  Returns 0, or -1 after printing
 * why to stderr.
 *
 * Root key and loop go into the instrument chunks: WAV 'smpl' through
 * SFC_SET_INSTRUMENT, AIFF 'MARK' and 'INST' appended by hand (libsndfile
 * 1.2.0 does not write them); other formats cannot carry them and ignore
 * them.  A loop needs loop_mode != 0 and 0 <= loop_start < loop_end <=
 * frames; loop_end is exclusive, as in SF_INSTRUMENT (WAV stores end - 1).
 * With a loop but no root key the instrument says note 60, as those chunks
 * have no "none".  AIFF has no backward loop (tg_write fails) and stores an
 * alternating loop as forward/backward, which libsndfile reads back as
 * forward.
 *
 * acid_tempo > 0 appends an ACIDized 'acid' chunk to a WAV file (looping,
 * 4/4, acid_beats beats, root note when root_key >= 0), which libsndfile
 * reports through SFC_GET_LOOP_INFO; other formats ignore it.
 */
int tg_write(const char *path, const tg_spec *s);

/* tg_write() of a plain sine: no root key, loop or acid data. */
int tg_write_simple(const char *path, int format, int rate, int channels,
                    int64_t frames, unsigned seed);

/*
 * 1 when the installed libsndfile can write format (for instance
 * SF_FORMAT_OGG | SF_FORMAT_OPUS), 0 when not.  Opus writes only at 8000,
 * 12000, 16000, 24000 and 48000 Hz.
 */
int tg_can_write(int format);

#endif /* SHELF_TEST_AUDIOGEN_H */
