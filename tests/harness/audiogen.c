/*
 * audiogen.c: the test audio generator (see audiogen.h).  libsndfile writes
 * the audio and the WAV 'smpl' chunk; the chunks that libsndfile reads but
 * does not write (WAV 'acid', AIFF 'MARK' and 'INST' in 1.2.0) are appended
 * here after it closes the file.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sndfile.h>
#include "audiogen.h"

#define BLOCK_FRAMES 1024
#define MAX_CHANNELS 16
#define ACID_BODY 24
#define MARK_NAME 8                         /* "beg loop", "end loop" */
#define MARK_ENTRY (2 + 4 + 1 + MARK_NAME + 1) /* pstring padded to even */
#define MARK_BODY (2 + 2 * MARK_ENTRY)
#define INST_BODY 20

static const double two_pi = 6.283185307179586;

/* xorshift32: small, deterministic noise for every platform. */
static uint32_t next_rand(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

static void put_le16(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)(v & 0xff);
    p[1] = (unsigned char)((v >> 8) & 0xff);
}

static void put_le32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v & 0xff);
    p[1] = (unsigned char)((v >> 8) & 0xff);
    p[2] = (unsigned char)((v >> 16) & 0xff);
    p[3] = (unsigned char)((v >> 24) & 0xff);
}

static void put_be16(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)((v >> 8) & 0xff);
    p[1] = (unsigned char)(v & 0xff);
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)((v >> 24) & 0xff);
    p[1] = (unsigned char)((v >> 16) & 0xff);
    p[2] = (unsigned char)((v >> 8) & 0xff);
    p[3] = (unsigned char)(v & 0xff);
}

static uint32_t float_bits(float f)
{
    uint32_t u;

    memcpy(&u, &f, sizeof u);
    return u;
}

static int has_loop(const tg_spec *s)
{
    return s->loop_mode != 0;
}

static int check_spec(const char *path, const tg_spec *s)
{
    if (s->rate <= 0 || s->channels < 1 || s->channels > MAX_CHANNELS || s->frames < 0) {
        fprintf(stderr, "tg_write: '%s': bad rate %d, channels %d or frames %lld\n",
                path, s->rate, s->channels, (long long)s->frames);
        return -1;
    }
    if (s->root_key < -1 || s->root_key > 127) {
        fprintf(stderr, "tg_write: '%s': bad root key %d\n", path, s->root_key);
        return -1;
    }
    if (has_loop(s) && (s->loop_mode < 1 || s->loop_mode > 3 || s->loop_start < 0 ||
                        s->loop_end <= s->loop_start || s->loop_end > s->frames ||
                        s->loop_end > (int64_t)UINT32_MAX)) {
        fprintf(stderr, "tg_write: '%s': bad loop mode %d or range %lld..%lld of %lld frames\n",
                path, s->loop_mode, (long long)s->loop_start, (long long)s->loop_end,
                (long long)s->frames);
        return -1;
    }
    if (has_loop(s) && s->loop_mode == 2 && (s->format & SF_FORMAT_TYPEMASK) == SF_FORMAT_AIFF) {
        fprintf(stderr, "tg_write: '%s': AIFF has no backward loop\n", path);
        return -1;
    }
    if (s->acid_tempo < 0 || s->acid_beats < 0) {
        fprintf(stderr, "tg_write: '%s': bad acid tempo %g or beats %d\n",
                path, s->acid_tempo, s->acid_beats);
        return -1;
    }
    return 0;
}

static int set_instrument(SNDFILE *sf, const char *path, const tg_spec *s)
{
    static const int modes[] = { SF_LOOP_NONE, SF_LOOP_FORWARD, SF_LOOP_BACKWARD,
                                 SF_LOOP_ALTERNATING };
    SF_INSTRUMENT inst;
    int i;

    memset(&inst, 0, sizeof inst);
    inst.gain = 1;
    inst.basenote = (char)(s->root_key >= 0 ? s->root_key : 60);
    inst.velocity_lo = 1;
    inst.velocity_hi = 127;
    inst.key_lo = 0;
    inst.key_hi = 127;
    for (i = 0; i < (int)(sizeof inst.loops / sizeof inst.loops[0]); i++)
        inst.loops[i].mode = SF_LOOP_NONE;
    if (has_loop(s)) {
        inst.loop_count = 1;
        inst.loops[0].mode = modes[s->loop_mode];
        inst.loops[0].start = (uint32_t)s->loop_start;
        inst.loops[0].end = (uint32_t)s->loop_end;
        inst.loops[0].count = 0;    /* endless */
    }
    if (sf_command(sf, SFC_SET_INSTRUMENT, &inst, sizeof inst) != SF_TRUE) {
        fprintf(stderr, "tg_write: '%s': cannot set instrument: %s\n", path, sf_strerror(sf));
        return -1;
    }
    return 0;
}

static int write_samples(SNDFILE *sf, const char *path, const tg_spec *s)
{
    float buf[BLOCK_FRAMES * MAX_CHANNELS];
    double freq = s->freq > 0 ? s->freq : 440.0;
    double phase0 = (double)(s->seed % 1000u) * (two_pi / 1000.0);
    uint32_t rnd = s->seed * 2654435761u + 1u;
    int64_t done = 0;

    if (!rnd)
        rnd = 1;
    while (done < s->frames) {
        int64_t left = s->frames - done;
        sf_count_t n = left < BLOCK_FRAMES ? (sf_count_t)left : BLOCK_FRAMES, i;
        int c;

        for (i = 0; i < n; i++) {
            double t = (double)(done + i) / s->rate;

            for (c = 0; c < s->channels; c++) {
                double noise = ((double)(next_rand(&rnd) >> 8) / 16777216.0 - 0.5) * 0.02;

                buf[i * s->channels + c] =
                    (float)(0.5 * sin(two_pi * freq * t + phase0 + 0.25 * c) + noise);
            }
        }
        if (sf_writef_float(sf, buf, n) != n) {
            fprintf(stderr, "tg_write: '%s': cannot write: %s\n", path, sf_strerror(sf));
            return -1;
        }
        done += n;
    }
    return 0;
}

/*
 * Append chunks (n bytes, already framed) to the closed file at path, whose
 * container header is magic ("RIFF", little endian size) or "FORM" (big
 * endian), and patch the container size at offset 4.
 */
static int append_chunks(const char *path, const char *magic, const void *chunks, size_t n)
{
    unsigned char head[4], size[4];
    int big = memcmp(magic, "FORM", 4) == 0;
    uint32_t total;
    long end;
    FILE *f = fopen(path, "r+b");

    if (!f) {
        perror(path);
        return -1;
    }
    if (fread(head, 1, sizeof head, f) != sizeof head || memcmp(head, magic, 4) != 0) {
        fprintf(stderr, "tg_write: '%s': not a %.4s file\n", path, magic);
        goto fail;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (end = ftell(f)) < 0)
        goto io;
    if (end & 1) {
        /* Chunks start on even offsets. */
        if (fputc(0, f) == EOF)
            goto io;
        end++;
    }
    if (fwrite(chunks, 1, n, f) != n)
        goto io;
    total = (uint32_t)((size_t)end + n - 8);
    if (big)
        put_be32(size, total);
    else
        put_le32(size, total);
    if (fseek(f, 4, SEEK_SET) != 0 || fwrite(size, 1, sizeof size, f) != sizeof size)
        goto io;
    if (fclose(f) != 0) {
        perror(path);
        return -1;
    }
    return 0;
io:
    perror(path);
fail:
    fclose(f);
    return -1;
}

/*
 * Append an 'acid' chunk to a WAV file.  Body layout (little endian, as
 * libsndfile's wav.c reads it): uint32 flags, uint16 root note, uint16
 * unknown, float unknown, uint32 beats, uint16 meter denominator, uint16
 * meter numerator, float tempo.
 */
static int append_acid(const char *path, const tg_spec *s)
{
    unsigned char chunk[8 + ACID_BODY], *b = chunk + 8;
    uint32_t flags = 0;

    /* Bit 0x01 (one-shot) stays clear: the file is a loop. */
    if (s->root_key >= 0)
        flags |= 0x02;
    memcpy(chunk, "acid", 4);
    put_le32(chunk + 4, ACID_BODY);
    put_le32(b + 0, flags);
    put_le16(b + 4, s->root_key >= 0 ? (unsigned)s->root_key : 0u);
    put_le16(b + 6, 0x8000);
    put_le32(b + 8, float_bits(0.0f));
    put_le32(b + 12, (uint32_t)s->acid_beats);
    put_le16(b + 16, 4);
    put_le16(b + 18, 4);
    put_le32(b + 20, float_bits((float)s->acid_tempo));
    return append_chunks(path, "RIFF", chunk, sizeof chunk);
}

/* One MARK entry: uint16 id, uint32 position, pascal string padded even. */
static unsigned char *put_marker(unsigned char *p, unsigned id, uint32_t pos,
                                 const char name[MARK_NAME])
{
    put_be16(p, id);
    put_be32(p + 2, pos);
    p[6] = MARK_NAME;
    memcpy(p + 7, name, MARK_NAME);
    p[7 + MARK_NAME] = 0;
    return p + MARK_ENTRY;
}

/*
 * Append 'MARK' and 'INST' chunks to an AIFF file (big endian).  INST:
 * int8 base note, detune, low note, high note, low velocity, high
 * velocity; int16 gain; sustain loop and release loop, each int16 play
 * mode (0 none, 1 forward, 2 forward/backward), begin marker, end marker.
 * Marker ids are positive, as the AIFF specification asks.
 */
static int append_aiff_instrument(const char *path, const tg_spec *s)
{
    unsigned char buf[8 + MARK_BODY + 8 + INST_BODY], *p = buf, *inst;
    int loop = has_loop(s);

    if (loop) {
        memcpy(p, "MARK", 4);
        put_be32(p + 4, MARK_BODY);
        put_be16(p + 8, 2);
        p = put_marker(p + 10, 1, (uint32_t)s->loop_start, "beg loop");
        p = put_marker(p, 2, (uint32_t)s->loop_end, "end loop");
    }
    inst = p;
    memcpy(inst, "INST", 4);
    put_be32(inst + 4, INST_BODY);
    p = inst + 8;
    p[0] = (unsigned char)(s->root_key >= 0 ? s->root_key : 60);
    p[1] = 0;           /* detune */
    p[2] = 0;           /* low note */
    p[3] = 127;         /* high note */
    p[4] = 1;           /* low velocity */
    p[5] = 127;         /* high velocity */
    put_be16(p + 6, 0); /* gain, dB */
    put_be16(p + 8, loop ? (s->loop_mode == 3 ? 2u : 1u) : 0u);
    put_be16(p + 10, loop ? 1u : 0u);
    put_be16(p + 12, loop ? 2u : 0u);
    put_be16(p + 14, 0);
    put_be16(p + 16, 0);
    put_be16(p + 18, 0);
    p += INST_BODY;
    return append_chunks(path, "FORM", buf, (size_t)(p - buf));
}

int tg_write(const char *path, const tg_spec *s)
{
    int major = s->format & SF_FORMAT_TYPEMASK;
    SF_INFO info;
    SNDFILE *sf;

    if (check_spec(path, s) != 0)
        return -1;
    memset(&info, 0, sizeof info);
    info.samplerate = s->rate;
    info.channels = s->channels;
    info.format = s->format;
    if (!sf_format_check(&info)) {
        fprintf(stderr, "tg_write: '%s': libsndfile cannot write format 0x%x with %d channels\n",
                path, (unsigned)s->format, s->channels);
        return -1;
    }
    if (!(sf = sf_open(path, SFM_WRITE, &info))) {
        fprintf(stderr, "tg_write: cannot create '%s': %s\n", path, sf_strerror(NULL));
        return -1;
    }
    /* The instrument must be set before the first write, which writes the
     * header. */
    if (major == SF_FORMAT_WAV && (s->root_key >= 0 || has_loop(s)) &&
        set_instrument(sf, path, s) != 0)
        goto fail;
    /* Strings (RIFF INFO, AIFF, Vorbis comments) also precede the audio. */
    if ((s->title && sf_set_string(sf, SF_STR_TITLE, s->title) != 0) ||
        (s->artist && sf_set_string(sf, SF_STR_ARTIST, s->artist) != 0) ||
        (s->comment && sf_set_string(sf, SF_STR_COMMENT, s->comment) != 0) ||
        (s->genre && sf_set_string(sf, SF_STR_GENRE, s->genre) != 0)) {
        fprintf(stderr, "tg_write: '%s': cannot set strings: %s\n", path, sf_strerror(sf));
        goto fail;
    }
    if (write_samples(sf, path, s) != 0)
        goto fail;
    if (sf_close(sf) != 0) {
        fprintf(stderr, "tg_write: cannot close '%s'\n", path);
        return -1;
    }
    if (major == SF_FORMAT_WAV && s->acid_tempo > 0 && append_acid(path, s) != 0)
        return -1;
    /* libsndfile 1.2.0 accepts SFC_SET_INSTRUMENT for AIFF but writes no
     * INST chunk, so the chunks are appended here. */
    if (major == SF_FORMAT_AIFF && (s->root_key >= 0 || has_loop(s)) &&
        append_aiff_instrument(path, s) != 0)
        return -1;
    return 0;
fail:
    sf_close(sf);
    remove(path);
    return -1;
}

int tg_write_simple(const char *path, int format, int rate, int channels,
                    int64_t frames, unsigned seed)
{
    tg_spec s = TG_SPEC_INIT(format, rate, channels, frames);

    s.seed = seed;
    return tg_write(path, &s);
}

int tg_can_write(int format)
{
    SF_INFO info;

    memset(&info, 0, sizeof info);
    info.samplerate = 48000;
    info.channels = 2;
    info.format = format;
    return sf_format_check(&info) ? 1 : 0;
}
