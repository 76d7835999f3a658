/*
 * test_probe.c: unit tests of the audio probe (lib/media/media_int.h and
 * the public shelf_probe_file): files synthesized with known properties in
 * every format shelf reads, bad and truncated input, memory against path,
 * and the names shelf reads categories, tempos and extensions from.
 */
#include <math.h>
#include <sndfile.h>
#include "test.h"
#include "audiogen.h"
#include "media/media_int.h"

#define FRAMES 4801     /* odd, so 24-bit mono data needs a pad byte */

/* What a synthesized file must probe as. */
typedef struct want {
    const char *format, *subtype;
    int bits;
} want;

/* Write s to dir/name and return the path in path. */
static void write_file(char path[PATH_MAX], const char *dir, const char *name,
                       const tg_spec *s)
{
    test_pathf(path, PATH_MAX, "%s/%s", dir, name);
    ASSERT_EQ_INT(tg_write(path, s), 0);
}

/* Fail unless two probe results are the same in every field. */
static void assert_same(const shelf__probe *a, const shelf__probe *b)
{
    ASSERT_EQ_STR(a->format, b->format);
    ASSERT_EQ_STR(a->subtype, b->subtype);
    ASSERT_EQ_INT(a->rate, b->rate);
    ASSERT_EQ_INT(a->channels, b->channels);
    ASSERT_EQ_INT(a->bits, b->bits);
    ASSERT_EQ_INT(a->frames, b->frames);
    ASSERT(a->duration == b->duration);
    ASSERT_EQ_INT(a->root_key, b->root_key);
    ASSERT_EQ_INT(a->loop_start, b->loop_start);
    ASSERT_EQ_INT(a->loop_end, b->loop_end);
    ASSERT_EQ_INT(a->loop_mode, b->loop_mode);
    ASSERT(a->tempo == b->tempo);
    ASSERT_EQ_INT(a->beats, b->beats);
}

/*
 * Probe n bytes of data both from memory and from a file holding them
 * (written next to path as path + ".cut" when n is not the whole file),
 * check that both give the same code, reason and result, and return the
 * code with the result in *out and the reason in reason.
 */
static int probe_both(const char *path, const char *data, size_t n, shelf__probe *out,
                      char reason[256])
{
    char reason2[256], cut[PATH_MAX];
    shelf__probe p2;
    int rc, rc2;

    memset(reason, 'x', 256);
    reason[0] = '\0';
    reason2[0] = '\0';
    test_pathf(cut, sizeof cut, "%s.cut", path);
    test_write_file(cut, data, n);
    rc = shelf__probe_mem(data, n, out, reason, 256);
    rc2 = shelf__probe_path(cut, &p2, reason2, sizeof reason2);
    unlink(cut);
    ASSERT_RC(rc, rc2);
    ASSERT_EQ_STR(reason, reason2);
    if (rc == SHELF_OK) {
        ASSERT_EQ_STR(reason, "");
        assert_same(out, &p2);
    }
    return rc;
}

/* Probe the whole file at path both ways (see probe_both); must succeed. */
static void probe_ok(const char *path, shelf__probe *out)
{
    char reason[256], *data;
    size_t n;

    data = test_read_file(path, &n);
    ASSERT_OKM(reason, probe_both(path, data, n, out, reason));
    free(data);
}

/* A reason must be one line for people: not empty, no newline, no full stop. */
static void assert_reason_line(const char *reason)
{
    size_t n = strlen(reason);

    ASSERT(n > 0);
    ASSERT(strchr(reason, '\n') == NULL);
    ASSERT(strchr(reason, '\r') == NULL);
    ASSERT(reason[n - 1] != '.');
}

/* The basic fields every synthesized file must probe with. */
static void check_basic(const shelf__probe *p, const tg_spec *s, const want *w)
{
    ASSERT_EQ_STR(p->format, w->format);
    ASSERT_EQ_STR(p->subtype, w->subtype);
    ASSERT_EQ_INT(p->bits, w->bits);
    ASSERT_EQ_INT(p->rate, s->rate);
    ASSERT_EQ_INT(p->channels, s->channels);
    ASSERT_EQ_INT(p->frames, s->frames);
    ASSERT(fabs(p->duration - (double)s->frames / s->rate) < 1e-9);
}

/* No instrument or acid data. */
static void check_no_meta(const shelf__probe *p)
{
    ASSERT_EQ_INT(p->root_key, -1);
    ASSERT_EQ_INT(p->loop_start, -1);
    ASSERT_EQ_INT(p->loop_end, -1);
    ASSERT_EQ_INT(p->loop_mode, SHELF_LOOP_NONE);
    ASSERT(p->tempo == 0);
    ASSERT_EQ_INT(p->beats, 0);
}

/* Offset of the first byte of a RIFF file's 'data' chunk body, or fail. */
static size_t wav_data_offset(const unsigned char *d, size_t n)
{
    size_t off = 12;

    ASSERT(n >= 12 && memcmp(d, "RIFF", 4) == 0 && memcmp(d + 8, "WAVE", 4) == 0);
    while (off + 8 <= n) {
        size_t len = (size_t)d[off + 4] | (size_t)d[off + 5] << 8 | (size_t)d[off + 6] << 16 |
                     (size_t)d[off + 7] << 24;

        if (memcmp(d + off, "data", 4) == 0)
            return off + 8;
        off += 8 + len + (len & 1);
    }
    test__fail(__FILE__, __LINE__, "no data chunk");
}

/* ---- formats ---------------------------------------------------------------- */

TEST(wav_pcm16_full)
{
    tg_spec s = TG_SPEC_INIT(SF_FORMAT_WAV | SF_FORMAT_PCM_16, 44100, 2, FRAMES);
    const want w = { "WAV", "PCM_16", 16 };
    char path[PATH_MAX];
    shelf__probe p;

    s.root_key = 60;
    s.loop_start = 100;
    s.loop_end = 2000;
    s.loop_mode = 1;
    s.acid_tempo = 120.0;
    s.acid_beats = 8;
    s.seed = 1;
    write_file(path, test_tmpdir(), "full.wav", &s);
    probe_ok(path, &p);
    check_basic(&p, &s, &w);
    ASSERT_EQ_INT(p.root_key, 60);
    ASSERT_EQ_INT(p.loop_start, 100);
    ASSERT_EQ_INT(p.loop_end, 2000);
    ASSERT_EQ_INT(p.loop_mode, SHELF_LOOP_FORWARD);
    ASSERT(fabs(p.tempo - 120.0) < 1e-3);
    ASSERT_EQ_INT(p.beats, 8);
}

TEST(wav_pcm24)
{
    tg_spec s = TG_SPEC_INIT(SF_FORMAT_WAV | SF_FORMAT_PCM_24, 48000, 1, FRAMES);
    const want w = { "WAV", "PCM_24", 24 };
    char path[PATH_MAX];
    shelf__probe p;

    write_file(path, test_tmpdir(), "a.wav", &s);
    probe_ok(path, &p);
    check_basic(&p, &s, &w);
    check_no_meta(&p);
}

TEST(wav_float)
{
    tg_spec s = TG_SPEC_INIT(SF_FORMAT_WAV | SF_FORMAT_FLOAT, 96000, 2, FRAMES);
    const want w = { "WAV", "FLOAT", 32 };
    char path[PATH_MAX];
    shelf__probe p;

    s.root_key = 0;         /* the lowest note is a note, not "none" */
    write_file(path, test_tmpdir(), "a.wav", &s);
    probe_ok(path, &p);
    check_basic(&p, &s, &w);
    ASSERT_EQ_INT(p.root_key, 0);
    ASSERT_EQ_INT(p.loop_start, -1);
    ASSERT_EQ_INT(p.loop_end, -1);
    ASSERT_EQ_INT(p.loop_mode, SHELF_LOOP_NONE);
}

/* Every loop mode of the 'smpl' chunk comes through. */
TEST(wav_loop_modes)
{
    static const int modes[] = { SHELF_LOOP_NONE, SHELF_LOOP_FORWARD, SHELF_LOOP_BACKWARD,
                                 SHELF_LOOP_ALTERNATING };
    const char *dir = test_tmpdir();
    int mode;

    for (mode = 1; mode <= 3; mode++) {
        tg_spec s = TG_SPEC_INIT(SF_FORMAT_WAV | SF_FORMAT_PCM_16, 22050, 1, 3000);
        char path[PATH_MAX], name[32];
        shelf__probe p;

        s.root_key = 40 + mode;
        s.loop_mode = mode;
        s.loop_start = 10 * mode;
        s.loop_end = 2999;
        test_pathf(name, sizeof name, "loop%d.wav", mode);
        write_file(path, dir, name, &s);
        probe_ok(path, &p);
        ASSERT_EQ_INT(p.root_key, 40 + mode);
        ASSERT_EQ_INT(p.loop_start, 10 * mode);
        ASSERT_EQ_INT(p.loop_end, 2999);
        ASSERT_EQ_INT(p.loop_mode, modes[mode]);
        ASSERT(p.tempo == 0);
    }
}

/* Acid data without a root key or loop: tempo and beats, root key unknown. */
TEST(wav_acid_only)
{
    tg_spec s = TG_SPEC_INIT(SF_FORMAT_WAV | SF_FORMAT_PCM_16, 44100, 2, 1001);
    char path[PATH_MAX];
    shelf__probe p;

    s.acid_tempo = 93.5;
    s.acid_beats = 16;
    write_file(path, test_tmpdir(), "acid.wav", &s);
    probe_ok(path, &p);
    ASSERT_EQ_INT(p.frames, 1001);
    ASSERT(fabs(p.tempo - 93.5) < 1e-3);
    ASSERT_EQ_INT(p.beats, 16);
    ASSERT_EQ_INT(p.root_key, -1);
    ASSERT_EQ_INT(p.loop_start, -1);
    ASSERT_EQ_INT(p.loop_end, -1);
}

TEST(aiff_pcm16)
{
    tg_spec s = TG_SPEC_INIT(SF_FORMAT_AIFF | SF_FORMAT_PCM_16, 44100, 1, FRAMES);
    const want w = { "AIFF", "PCM_16", 16 };
    char path[PATH_MAX];
    shelf__probe p;

    s.root_key = 72;
    s.loop_start = 100;
    s.loop_end = 2000;
    s.loop_mode = 1;
    write_file(path, test_tmpdir(), "a.aiff", &s);
    probe_ok(path, &p);
    check_basic(&p, &s, &w);
    ASSERT_EQ_INT(p.root_key, 72);
    ASSERT_EQ_INT(p.loop_start, 100);
    ASSERT_EQ_INT(p.loop_end, 2000);
    ASSERT_EQ_INT(p.loop_mode, SHELF_LOOP_FORWARD);
    ASSERT(p.tempo == 0);
    ASSERT_EQ_INT(p.beats, 0);
}

/* AIFF stores alternating as forward/backward, which reads back as forward. */
TEST(aiff_pcm24_alternating)
{
    tg_spec s = TG_SPEC_INIT(SF_FORMAT_AIFF | SF_FORMAT_PCM_24, 48000, 2, FRAMES);
    const want w = { "AIFF", "PCM_24", 24 };
    char path[PATH_MAX];
    shelf__probe p;

    s.root_key = 64;
    s.loop_start = 10;
    s.loop_end = 4000;
    s.loop_mode = 3;
    write_file(path, test_tmpdir(), "a.aif", &s);
    probe_ok(path, &p);
    check_basic(&p, &s, &w);
    ASSERT_EQ_INT(p.root_key, 64);
    ASSERT_EQ_INT(p.loop_start, 10);
    ASSERT_EQ_INT(p.loop_end, 4000);
    ASSERT_EQ_INT(p.loop_mode, SHELF_LOOP_FORWARD);
}

TEST(aiff_plain)
{
    tg_spec s = TG_SPEC_INIT(SF_FORMAT_AIFF | SF_FORMAT_PCM_16, 22050, 2, 999);
    const want w = { "AIFF", "PCM_16", 16 };
    char path[PATH_MAX];
    shelf__probe p;

    write_file(path, test_tmpdir(), "plain.aiff", &s);
    probe_ok(path, &p);
    check_basic(&p, &s, &w);
    check_no_meta(&p);
}

TEST(flac_pcm16)
{
    tg_spec s = TG_SPEC_INIT(SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 44100, 2, FRAMES);
    const want w = { "FLAC", "PCM_16", 16 };
    char path[PATH_MAX];
    shelf__probe p;

    s.root_key = 60;        /* FLAC cannot carry it: ignored */
    s.loop_start = 1;
    s.loop_end = 100;
    s.loop_mode = 1;
    write_file(path, test_tmpdir(), "a.flac", &s);
    probe_ok(path, &p);
    check_basic(&p, &s, &w);
    check_no_meta(&p);
}

TEST(flac_pcm24)
{
    tg_spec s = TG_SPEC_INIT(SF_FORMAT_FLAC | SF_FORMAT_PCM_24, 96000, 1, FRAMES);
    const want w = { "FLAC", "PCM_24", 24 };
    char path[PATH_MAX];
    shelf__probe p;

    write_file(path, test_tmpdir(), "a.flac", &s);
    probe_ok(path, &p);
    check_basic(&p, &s, &w);
    check_no_meta(&p);
}

TEST(ogg_vorbis)
{
    tg_spec s = TG_SPEC_INIT(SF_FORMAT_OGG | SF_FORMAT_VORBIS, 44100, 2, FRAMES);
    const want w = { "OGG", "VORBIS", 0 };
    char path[PATH_MAX];
    shelf__probe p;

    write_file(path, test_tmpdir(), "a.ogg", &s);
    probe_ok(path, &p);
    check_basic(&p, &s, &w);
    check_no_meta(&p);
}

TEST(ogg_opus)
{
    tg_spec s = TG_SPEC_INIT(SF_FORMAT_OGG | SF_FORMAT_OPUS, 48000, 2, FRAMES);
    const want w = { "OGG", "OPUS", 0 };
    char path[PATH_MAX];
    shelf__probe p;

    /* libsndfile >= 1.0.29 (Debian 12 has 1.2.0) writes Opus. */
    ASSERT(tg_can_write(s.format));
    write_file(path, test_tmpdir(), "a.opus", &s);
    probe_ok(path, &p);
    check_basic(&p, &s, &w);
    check_no_meta(&p);
}

/* ---- bad input ---------------------------------------------------------------- */

TEST(empty_mem)
{
    char reason[64] = "unset";
    shelf__probe p;

    ASSERT_RC(SHELF_EFORMAT, shelf__probe_mem("", 0, &p, reason, sizeof reason));
    ASSERT_EQ_STR(reason, "empty file");
}

/*
 * An empty file by path must say the same as from memory.
 * Regression test, fixed: (lib/media/probe.c, shelf__probe_path): the path variant has no
 * zero-length check and passes libsndfile's "format not recognised" on.
 */
TEST(empty_path)
{
    char path[PATH_MAX], reason[64] = "unset", *why = NULL;
    shelf_sample s;
    shelf__probe p;

    test_pathf(path, sizeof path, "%s/empty.wav", test_tmpdir());
    test_write_file(path, "", 0);
    ASSERT_RC(SHELF_EFORMAT, shelf_probe_file(path, &s, &why));
    ASSERT(why != NULL);
    ASSERT_RC(SHELF_EFORMAT, shelf__probe_path(path, &p, reason, sizeof reason));
    ASSERT_EQ_STR(reason, "empty file");
    ASSERT_EQ_STR(why, "empty file");
    shelf_free(why);
}

TEST(random_bytes)
{
    char path[PATH_MAX], reason[256], data[4096];
    uint32_t x = 2463534242u;
    shelf__probe p;
    size_t i;

    for (i = 0; i < sizeof data; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        data[i] = (char)(x >> 24);
    }
    test_pathf(path, sizeof path, "%s/noise.wav", test_tmpdir());
    ASSERT_RC(SHELF_EFORMAT, probe_both(path, data, sizeof data, &p, reason));
    assert_reason_line(reason);
    /* A single byte, too. */
    ASSERT_RC(SHELF_EFORMAT, probe_both(path, data, 1, &p, reason));
    assert_reason_line(reason);
}

TEST(text_file)
{
    static const char text[] = "This is not audio.\nIt has two lines.\n";
    char path[PATH_MAX], reason[256];
    shelf__probe p;

    test_pathf(path, sizeof path, "%s/notes.wav", test_tmpdir());
    ASSERT_RC(SHELF_EFORMAT, probe_both(path, text, sizeof text - 1, &p, reason));
    assert_reason_line(reason);
}

/* A reason buffer too small for the message is filled and terminated. */
TEST(small_reason_buffer)
{
    char reason[8];
    shelf__probe p;

    memset(reason, 'x', sizeof reason);
    ASSERT_RC(SHELF_EFORMAT, shelf__probe_mem("garbage!", 8, &p, reason, sizeof reason));
    ASSERT(memchr(reason, '\0', sizeof reason) != NULL);
    ASSERT(strlen(reason) == sizeof reason - 1);
    /* No buffer at all is fine too. */
    ASSERT_RC(SHELF_EFORMAT, shelf__probe_mem("garbage!", 8, &p, NULL, 0));
}

/* A canonical 44-byte header that says it holds no audio. */
TEST(wav_header_only)
{
    static const unsigned char hdr[44] = {
        'R', 'I', 'F', 'F', 36, 0, 0, 0, 'W', 'A', 'V', 'E',
        'f', 'm', 't', ' ', 16, 0, 0, 0, 1, 0, 1, 0,             /* PCM, mono */
        0x44, 0xac, 0, 0, 0x88, 0x58, 0x01, 0, 2, 0, 16, 0,      /* 44100 Hz, 16 bits */
        'd', 'a', 't', 'a', 0, 0, 0, 0
    };
    char path[PATH_MAX], reason[256];
    shelf__probe p;

    test_pathf(path, sizeof path, "%s/header.wav", test_tmpdir());
    ASSERT_RC(SHELF_EFORMAT, probe_both(path, (const char *)hdr, sizeof hdr, &p, reason));
    assert_reason_line(reason);
}

/* Set a little-endian 32-bit size at d[off]. */
static void put_le32(char *d, size_t off, size_t v)
{
    d[off] = (char)(v & 0xff);
    d[off + 1] = (char)(v >> 8 & 0xff);
    d[off + 2] = (char)(v >> 16 & 0xff);
    d[off + 3] = (char)(v >> 24 & 0xff);
}

/*
 * A WAV cut to half its size: its data chunk claims more bytes than the
 * file holds.  Regression test, fixed (lib/media/probe.c, data_truncated):
 * libsndfile shortens the chunk to what is there, and the probe took the
 * file as a shorter sound, so a damaged sample was imported as a good one.
 * It must be refused as truncated, from memory and by path alike.
 */
TEST(wav_truncated_half)
{
    tg_spec s = TG_SPEC_INIT(SF_FORMAT_WAV | SF_FORMAT_PCM_16, 44100, 2, FRAMES);
    char path[PATH_MAX], reason[256], *data;
    size_t n, half, off;
    shelf__probe p;

    s.root_key = 60;
    s.loop_start = 100;
    s.loop_end = 2000;
    s.loop_mode = 1;
    s.acid_tempo = 120.0;
    s.acid_beats = 8;
    write_file(path, test_tmpdir(), "cut.wav", &s);
    data = test_read_file(path, &n);
    half = n / 2;
    off = wav_data_offset((const unsigned char *)data, n);
    ASSERT(off < half);
    ASSERT_RC(SHELF_EFORMAT, probe_both(path, data, half, &p, reason));
    assert_reason_line(reason);
    ASSERT(strstr(reason, "truncated") != NULL);
    /* One frame short is truncated too. */
    ASSERT_RC(SHELF_EFORMAT, probe_both(path, data, off + 4 * (FRAMES - 1), &p, reason));
    ASSERT(strstr(reason, "truncated") != NULL);
    free(data);
}

/* An AIFF whose SSND chunk runs past the end of the file. */
TEST(aiff_truncated_half)
{
    tg_spec s = TG_SPEC_INIT(SF_FORMAT_AIFF | SF_FORMAT_PCM_16, 44100, 2, FRAMES);
    char path[PATH_MAX], reason[256], *data;
    shelf__probe p;
    size_t n;

    write_file(path, test_tmpdir(), "cut.aiff", &s);
    data = test_read_file(path, &n);
    ASSERT_RC(SHELF_EFORMAT, probe_both(path, data, n / 2, &p, reason));
    assert_reason_line(reason);
    ASSERT(strstr(reason, "truncated") != NULL);
    free(data);
}

/*
 * A WAV written as a stream (data size 0xffffffff, "length unknown") is
 * not truncated: libsndfile reads the frames that are there.
 */
TEST(wav_stream_length_unknown)
{
    tg_spec s = TG_SPEC_INIT(SF_FORMAT_WAV | SF_FORMAT_PCM_16, 44100, 1, FRAMES);
    char path[PATH_MAX], reason[256], *data;
    shelf__probe p;
    size_t n, off;

    write_file(path, test_tmpdir(), "stream.wav", &s);
    data = test_read_file(path, &n);
    off = wav_data_offset((const unsigned char *)data, n);
    put_le32(data, off - 4, 0xffffffffu);
    put_le32(data, 4, 0xffffffffu);
    ASSERT_OKM(reason, probe_both(path, data, n, &p, reason));
    ASSERT_EQ_INT(p.frames, FRAMES);
    free(data);
}

/*
 * A short WAV (its chunks consistent) whose loop ends past its audio.
 * Regression test, fixed: (lib/media/probe.c, describe): the instrument loop is taken as the
 * chunk says, without checking it against frames, so the catalog records a
 * loop past the end of the sample.  A loop must lie within the audio or be
 * dropped (-1/-1, SHELF_LOOP_NONE).
 */
TEST(wav_truncated_loop_past_end)
{
    tg_spec s = TG_SPEC_INIT(SF_FORMAT_WAV | SF_FORMAT_PCM_16, 44100, 1, FRAMES);
    char path[PATH_MAX], reason[256], *data;
    shelf__probe p;
    size_t n, off;

    s.root_key = 60;
    s.loop_start = 100;
    s.loop_end = 4000;
    s.loop_mode = 1;
    write_file(path, test_tmpdir(), "short.wav", &s);
    data = test_read_file(path, &n);
    off = wav_data_offset((const unsigned char *)data, n);
    /* Cut after 1000 frames and say so in the data and RIFF sizes. */
    put_le32(data, off - 4, 2 * 1000);
    put_le32(data, 4, off + 2 * 1000 - 8);
    ASSERT_OKM(reason, probe_both(path, data, off + 2 * 1000, &p, reason));
    ASSERT_EQ_INT(p.frames, 1000);
    ASSERT_EQ_INT(p.root_key, 60);
    ASSERT(p.loop_end <= p.frames);
    ASSERT(p.loop_start < 0 || p.loop_start < p.loop_end);
    free(data);
}

/* A FLAC cut to half: STREAMINFO promises frames the file no longer has. */
TEST(flac_truncated_half)
{
    tg_spec s = TG_SPEC_INIT(SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 44100, 2, 48000);
    char path[PATH_MAX], reason[256], *data;
    shelf__probe p;
    size_t n;

    write_file(path, test_tmpdir(), "cut.flac", &s);
    data = test_read_file(path, &n);
    ASSERT_RC(SHELF_EFORMAT, probe_both(path, data, n / 2, &p, reason));
    assert_reason_line(reason);
    ASSERT(strstr(reason, "truncated") != NULL);
    free(data);
}

/* An Ogg Vorbis cut to half has no final granule: no length to trust. */
TEST(ogg_truncated_half)
{
    tg_spec s = TG_SPEC_INIT(SF_FORMAT_OGG | SF_FORMAT_VORBIS, 44100, 2, 48000);
    char path[PATH_MAX], reason[256], *data;
    shelf__probe p;
    size_t n;

    write_file(path, test_tmpdir(), "cut.ogg", &s);
    data = test_read_file(path, &n);
    ASSERT_RC(SHELF_EFORMAT, probe_both(path, data, n / 2, &p, reason));
    assert_reason_line(reason);
    ASSERT(strstr(reason, "truncated") != NULL);
    free(data);
}

/* ---- the public probe ---------------------------------------------------------- */

static void sha256_hex(const void *data, size_t n, char hex[SHELF_HASH_HEX])
{
    uint8_t h[SHELF_HASH_BYTES];

    shelf__sha256_mem(data, n, h);
    shelf__hex(h, sizeof h, hex);
}

TEST(probe_file_public)
{
    tg_spec s = TG_SPEC_INIT(SF_FORMAT_WAV | SF_FORMAT_PCM_24, 48000, 2, FRAMES);
    char dir[PATH_MAX], path[PATH_MAX], hex[SHELF_HASH_HEX], *data, *why = NULL;
    shelf_sample smp;
    shelf__probe p;
    struct stat sb;
    size_t n;

    test_pathf(dir, sizeof dir, "%s/Drums", test_tmpdir());
    ASSERT(mkdir(dir, 0777) == 0);
    s.root_key = 36;
    s.loop_start = 0;
    s.loop_end = FRAMES;
    s.loop_mode = 2;
    s.acid_tempo = 128.0;
    s.acid_beats = 4;
    write_file(path, dir, "Kick_01.wav", &s);
    probe_ok(path, &p);
    ASSERT_OK(shelf_probe_file(path, &smp, &why));
    ASSERT(why == NULL);
    data = test_read_file(path, &n);
    sha256_hex(data, n, hex);
    ASSERT(stat(path, &sb) == 0);

    ASSERT_EQ_INT(smp.id, 0);
    ASSERT_EQ_STR(smp.name, "Kick_01");
    ASSERT_EQ_STR(smp.relpath, path);
    ASSERT(smp.root == NULL);
    ASSERT(smp.blob == NULL);
    ASSERT_EQ_STR(smp.sha256, hex);
    ASSERT_EQ_INT(smp.size, n);
    ASSERT_EQ_INT(smp.mtime_ns, (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec);
    ASSERT_EQ_STR(smp.format, "WAV");
    ASSERT_EQ_STR(smp.subtype, "PCM_24");
    ASSERT_EQ_INT(smp.rate, 48000);
    ASSERT_EQ_INT(smp.channels, 2);
    ASSERT_EQ_INT(smp.frames, FRAMES);
    ASSERT(smp.duration == p.duration);
    ASSERT_EQ_INT(smp.bits, 24);
    ASSERT_EQ_INT(smp.root_key, 36);
    ASSERT_EQ_INT(smp.loop_start, 0);
    ASSERT_EQ_INT(smp.loop_end, FRAMES);
    ASSERT_EQ_INT(smp.loop_mode, SHELF_LOOP_BACKWARD);
    ASSERT(fabs(smp.tempo - 128.0) < 1e-3);
    ASSERT_EQ_INT(smp.beats, 4);
    ASSERT_EQ_STR(smp.category, "kick");
    ASSERT_EQ_STR(smp.tags, "");
    ASSERT_EQ_INT(smp.rating, 0);
    ASSERT_EQ_INT(smp.favourite, 0);
    ASSERT_EQ_INT(smp.missing, 0);
    shelf_sample_release(&smp);
    ASSERT(smp.name == NULL && smp.format == NULL && smp.sha256 == NULL);
    shelf_sample_release(&smp);     /* twice is harmless */
    shelf_sample_release(NULL);
    free(data);
}

/* Without acid data the tempo comes from the name; the category from it too. */
TEST(probe_file_tempo_from_name)
{
    tg_spec s = TG_SPEC_INIT(SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 44100, 2, FRAMES);
    char path[PATH_MAX], *why = NULL;
    shelf_sample smp;

    write_file(path, test_tmpdir(), "Break 95bpm.flac", &s);
    ASSERT_OK(shelf_probe_file(path, &smp, &why));
    ASSERT_EQ_STR(smp.name, "Break 95bpm");
    ASSERT(smp.tempo == 95);
    ASSERT_EQ_INT(smp.beats, 0);
    ASSERT_EQ_STR(smp.category, "loop");
    ASSERT_EQ_STR(smp.format, "FLAC");
    shelf_sample_release(&smp);
}

TEST(probe_file_errors)
{
    char path[PATH_MAX], *why = NULL;
    const char *dir = test_tmpdir();
    shelf_sample smp;

    /* No such file. */
    test_pathf(path, sizeof path, "%s/none.wav", dir);
    memset(&smp, 0xff, sizeof smp);
    ASSERT_RC(SHELF_ENOTFOUND, shelf_probe_file(path, &smp, &why));
    ASSERT(why != NULL);
    assert_reason_line(why);
    ASSERT(strstr(why, "none.wav") != NULL);
    ASSERT(smp.name == NULL && smp.format == NULL && smp.frames == 0);
    shelf_free(why);

    /* Not audio: EFORMAT with an owned reason, outputs cleared. */
    test_pathf(path, sizeof path, "%s/notes.wav", dir);
    test_write_file(path, "just some text\n", 15);
    memset(&smp, 0xff, sizeof smp);
    why = NULL;
    ASSERT_RC(SHELF_EFORMAT, shelf_probe_file(path, &smp, &why));
    ASSERT(why != NULL);
    assert_reason_line(why);
    ASSERT(smp.name == NULL && smp.format == NULL && smp.frames == 0);
    shelf_free(why);

    /* reason may be NULL. */
    ASSERT_RC(SHELF_EFORMAT, shelf_probe_file(path, &smp, NULL));
}

/* ---- names -------------------------------------------------------------------- */

TEST(guess_category)
{
    ASSERT_EQ_STR(shelf__guess_category("Drums/Kick_01.wav"), "kick");
    ASSERT_EQ_STR(shelf__guess_category("GMkit/Snare_Hard.flac"), "snare");
    ASSERT_EQ_STR(shelf__guess_category("HiHat_Open.wav"), "hihat");
    ASSERT_EQ_STR(shelf__guess_category("Pads/Warm.wav"), "pad");
    ASSERT_EQ_STR(shelf__guess_category("KickHard.wav"), "kick");
    ASSERT_EQ_STR(shelf__guess_category("random.wav"), NULL);
    ASSERT_EQ_STR(shelf__guess_category(""), NULL);
    /* The file name wins over its folders. */
    ASSERT_EQ_STR(shelf__guess_category("Pads/Snare 3.wav"), "snare");
    /* The nearest folder wins over those above it. */
    ASSERT_EQ_STR(shelf__guess_category("Drums/Kicks/Hard/01.wav"), "kick");
    ASSERT_EQ_STR(shelf__guess_category("Bass/Leads/x.wav"), "lead");
    /* Whole words only: "kickstart" and "shattered" name nothing. */
    ASSERT_EQ_STR(shelf__guess_category("kickstart.wav"), NULL);
    ASSERT_EQ_STR(shelf__guess_category("shattered.wav"), NULL);
    /* Digits split words; case does not matter. */
    ASSERT_EQ_STR(shelf__guess_category("CLAP02.wav"), "clap");
    ASSERT_EQ_STR(shelf__guess_category("deep bass.wav"), "bass");
    ASSERT_EQ_STR(shelf__guess_category("Bass Drum 1.wav"), "kick");
}

/*
 * "808 Bass Drum" is a kick: the two words "bass drum" name it.
 * Regression test, fixed: (lib/media/probe.c, scan_words/category_of): the first word that
 * names a category wins, and "808" (mapped to "bass") comes before
 * "bass drum", so this returns "bass".
 */
TEST(guess_category_bass_drum)
{
    ASSERT_EQ_STR(shelf__guess_category("808 Bass Drum.wav"), "kick");
}

TEST(tempo_from_name)
{
    ASSERT(shelf__tempo_from_name("Loop 120bpm") == 120);
    ASSERT(shelf__tempo_from_name("break_95_BPM") == 95);
    ASSERT(shelf__tempo_from_name("bpm128 groove") == 128);
    ASSERT(shelf__tempo_from_name("track 2024") == 0);
    ASSERT(shelf__tempo_from_name("1000bpm") == 0);
    ASSERT(shelf__tempo_from_name("Loop 120 BPM") == 120);
    ASSERT(shelf__tempo_from_name("Loop-140-bpm") == 140);
    ASSERT(shelf__tempo_from_name("BPM_95 drums") == 95);
    ASSERT(shelf__tempo_from_name("bpm") == 0);
    ASSERT(shelf__tempo_from_name("") == 0);
    ASSERT(shelf__tempo_from_name("no tempo here") == 0);
    /* Out of the range 40..300. */
    ASSERT(shelf__tempo_from_name("20bpm") == 0);
    ASSERT(shelf__tempo_from_name("400bpm") == 0);
    ASSERT(shelf__tempo_from_name("bpm1200") == 0);
}

TEST(is_audio_ext)
{
    static const char *const yes[] = { "wav", "wave", "aif", "aiff", "aifc", "flac",
                                       "ogg", "oga", "opus", "mp3", "caf", "w64" };
    static const char *const no[] = { "", "txt", "mid", "wavx", "wa", "pdf", "sfz" };
    size_t i;

    for (i = 0; i < sizeof yes / sizeof yes[0]; i++)
        ASSERT_EQ_INT(shelf__is_audio_ext(yes[i]), 1);
    for (i = 0; i < sizeof no / sizeof no[0]; i++)
        ASSERT_EQ_INT(shelf__is_audio_ext(no[i]), 0);
}

int main(int argc, char **argv)
{
    static const test_case tests[] = {
        TEST_ENTRY(wav_pcm16_full),
        TEST_ENTRY(wav_pcm24),
        TEST_ENTRY(wav_float),
        TEST_ENTRY(wav_loop_modes),
        TEST_ENTRY(wav_acid_only),
        TEST_ENTRY(aiff_pcm16),
        TEST_ENTRY(aiff_pcm24_alternating),
        TEST_ENTRY(aiff_plain),
        TEST_ENTRY(flac_pcm16),
        TEST_ENTRY(flac_pcm24),
        TEST_ENTRY(ogg_vorbis),
        TEST_ENTRY(ogg_opus),
        TEST_ENTRY(empty_mem),
        TEST_ENTRY(empty_path),
        TEST_ENTRY(random_bytes),
        TEST_ENTRY(text_file),
        TEST_ENTRY(small_reason_buffer),
        TEST_ENTRY(wav_header_only),
        TEST_ENTRY(wav_truncated_half),
        TEST_ENTRY(wav_truncated_loop_past_end),
        TEST_ENTRY(aiff_truncated_half),
        TEST_ENTRY(wav_stream_length_unknown),
        TEST_ENTRY(flac_truncated_half),
        TEST_ENTRY(ogg_truncated_half),
        TEST_ENTRY(probe_file_public),
        TEST_ENTRY(probe_file_tempo_from_name),
        TEST_ENTRY(probe_file_errors),
        TEST_ENTRY(guess_category),
        TEST_ENTRY(guess_category_bass_drum),
        TEST_ENTRY(tempo_from_name),
        TEST_ENTRY(is_audio_ext),
        TEST_END
    };

    return test_run(argc, argv, tests);
}
