/*
 * probe.c: reads what an audio file says about itself through libsndfile
 * (no hand-written chunk parsing), plus category and tempo guessed from
 * names.  Files are probed from memory when the importer has read them
 * whole (one read serves hashing and probing), else by path.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sndfile.h>
#include "media_int.h"

typedef struct memfile {
    const unsigned char *data;
    sf_count_t size, pos;
} memfile;

static sf_count_t mem_len(void *ud)
{
    return ((memfile *)ud)->size;
}

static sf_count_t mem_seek(sf_count_t off, int whence, void *ud)
{
    memfile *m = ud;
    sf_count_t to;

    switch (whence) {
    case SEEK_SET: to = off; break;
    case SEEK_CUR: to = m->pos + off; break;
    case SEEK_END: to = m->size + off; break;
    default: return -1;
    }
    if (to < 0)
        return -1;
    m->pos = to;   /* past the end is allowed; reads there return 0 */
    return to;
}

static sf_count_t mem_read(void *ptr, sf_count_t count, void *ud)
{
    memfile *m = ud;
    sf_count_t n;

    if (count <= 0 || m->pos >= m->size)
        return 0;
    n = m->size - m->pos < count ? m->size - m->pos : count;
    memcpy(ptr, m->data + m->pos, (size_t)n);
    m->pos += n;
    return n;
}

static sf_count_t mem_write(const void *ptr, sf_count_t count, void *ud)
{
    (void)ptr, (void)count, (void)ud;
    return 0;
}

static sf_count_t mem_tell(void *ud)
{
    return ((memfile *)ud)->pos;
}

static const char *major_name(int major)
{
    switch (major) {
    case SF_FORMAT_WAV: return "WAV";
    case SF_FORMAT_WAVEX: return "WAV";
    case SF_FORMAT_AIFF: return "AIFF";
    case SF_FORMAT_AU: return "AU";
    case SF_FORMAT_W64: return "W64";
    case SF_FORMAT_RF64: return "RF64";
    case SF_FORMAT_FLAC: return "FLAC";
    case SF_FORMAT_CAF: return "CAF";
    case SF_FORMAT_OGG: return "OGG";
    case SF_FORMAT_MPEG: return "MP3";
    case SF_FORMAT_SD2: return "SD2";
    case SF_FORMAT_SVX: return "SVX";
    case SF_FORMAT_VOC: return "VOC";
    case SF_FORMAT_NIST: return "NIST";
    case SF_FORMAT_IRCAM: return "IRCAM";
    case SF_FORMAT_PAF: return "PAF";
    case SF_FORMAT_XI: return "XI";
    case SF_FORMAT_SDS: return "SDS";
    case SF_FORMAT_AVR: return "AVR";
    case SF_FORMAT_HTK: return "HTK";
    case SF_FORMAT_MAT4: return "MAT4";
    case SF_FORMAT_MAT5: return "MAT5";
    case SF_FORMAT_PVF: return "PVF";
    case SF_FORMAT_WVE: return "WVE";
    case SF_FORMAT_MPC2K: return "MPC2K";
    }
    return "OTHER";
}

/* The subtype's name and bits per sample (0 for lossy or adaptive codecs). */
static const char *subtype_name(int sub, int *bits)
{
    *bits = 0;
    switch (sub) {
    case SF_FORMAT_PCM_S8: *bits = 8; return "PCM_S8";
    case SF_FORMAT_PCM_U8: *bits = 8; return "PCM_U8";
    case SF_FORMAT_PCM_16: *bits = 16; return "PCM_16";
    case SF_FORMAT_PCM_24: *bits = 24; return "PCM_24";
    case SF_FORMAT_PCM_32: *bits = 32; return "PCM_32";
    case SF_FORMAT_FLOAT: *bits = 32; return "FLOAT";
    case SF_FORMAT_DOUBLE: *bits = 64; return "DOUBLE";
    case SF_FORMAT_ULAW: *bits = 8; return "ULAW";
    case SF_FORMAT_ALAW: *bits = 8; return "ALAW";
    case SF_FORMAT_IMA_ADPCM: return "IMA_ADPCM";
    case SF_FORMAT_MS_ADPCM: return "MS_ADPCM";
    case SF_FORMAT_GSM610: return "GSM610";
    case SF_FORMAT_VOX_ADPCM: return "VOX_ADPCM";
    case SF_FORMAT_DPCM_8: *bits = 8; return "DPCM_8";
    case SF_FORMAT_DPCM_16: *bits = 16; return "DPCM_16";
    case SF_FORMAT_DWVW_12: *bits = 12; return "DWVW_12";
    case SF_FORMAT_DWVW_16: *bits = 16; return "DWVW_16";
    case SF_FORMAT_DWVW_24: *bits = 24; return "DWVW_24";
    case SF_FORMAT_VORBIS: return "VORBIS";
    case SF_FORMAT_OPUS: return "OPUS";
    case SF_FORMAT_ALAC_16: *bits = 16; return "ALAC_16";
    case SF_FORMAT_ALAC_20: *bits = 20; return "ALAC_20";
    case SF_FORMAT_ALAC_24: *bits = 24; return "ALAC_24";
    case SF_FORMAT_ALAC_32: *bits = 32; return "ALAC_32";
    case SF_FORMAT_MPEG_LAYER_I: return "MPEG_I";
    case SF_FORMAT_MPEG_LAYER_II: return "MPEG_II";
    case SF_FORMAT_MPEG_LAYER_III: return "MPEG_III";
    }
    return "OTHER";
}

static void set_reason(char *reason, size_t size, const char *msg)
{
    size_t i, n;

    if (!reason || !size)
        return;
    /* libsndfile's messages are sentences; ours are lowercase lines. */
    snprintf(reason, size, "%s", msg);
    n = strlen(reason);
    while (n && (reason[n - 1] == '.' || reason[n - 1] == '\n'))
        reason[--n] = '\0';
    if (n && isupper((unsigned char)reason[0]) && !(n > 1 && isupper((unsigned char)reason[1])))
        reason[0] = (char)tolower((unsigned char)reason[0]);
    for (i = 0; i < n; i++)
        if (reason[i] == '\n')
            reason[i] = ' ';
}

/* Copy a libsndfile string: one line, trimmed, valid as text. */
static void copy_text(char *dst, size_t size, const char *src)
{
    size_t n = 0;

    while (src && (*src == ' ' || *src == '\t'))
        src++;
    for (; src && *src && n + 1 < size; src++)
        dst[n++] = (unsigned char)*src < ' ' ? ' ' : *src;
    while (n && dst[n - 1] == ' ')
        n--;
    /* never cut a UTF-8 sequence in two */
    if (n && ((unsigned char)dst[n - 1] & 0x80)) {
        size_t start = n - 1;

        while (start > 0 && ((unsigned char)dst[start] & 0xc0) == 0x80)
            start--;
        {
            unsigned char lead = (unsigned char)dst[start];
            size_t need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;

            if (n - start < need)
                n = start;
        }
    }
    dst[n] = '\0';
}

/* The strings a file carries, and BWF's description and originator. */
static void read_strings(SNDFILE *sf, shelf__probe *out)
{
    SF_BROADCAST_INFO bext;

    copy_text(out->title, sizeof out->title, sf_get_string(sf, SF_STR_TITLE));
    copy_text(out->author, sizeof out->author, sf_get_string(sf, SF_STR_ARTIST));
    copy_text(out->comment, sizeof out->comment, sf_get_string(sf, SF_STR_COMMENT));
    copy_text(out->genre, sizeof out->genre, sf_get_string(sf, SF_STR_GENRE));
    memset(&bext, 0, sizeof bext);
    if ((!out->comment[0] || !out->author[0]) &&
        sf_command(sf, SFC_GET_BROADCAST_INFO, &bext, sizeof bext) == SF_TRUE) {
        char tmp[257];

        if (!out->comment[0]) {
            memcpy(tmp, bext.description, sizeof bext.description);
            tmp[sizeof bext.description] = '\0';
            copy_text(out->comment, sizeof out->comment, tmp);
        }
        if (!out->author[0]) {
            memcpy(tmp, bext.originator, sizeof bext.originator);
            tmp[sizeof bext.originator] = '\0';
            copy_text(out->author, sizeof out->author, tmp);
        }
    }
}

/*
 * Whether the file's data chunk claims more bytes than the file holds.
 * libsndfile shortens such a chunk to what is there and reads the file as
 * a shorter sound; its log keeps what the header said ("data : 8820
 * (should be 4388)" for WAV, W64, RF64 and CAF, "SSND : ..." for AIFF),
 * which is read here rather than parsing the chunks a second time.  A
 * size of all ones is the "unknown length" of a file written as a stream,
 * not a truncation.
 */
static int data_truncated(SNDFILE *sf)
{
    char log[8192], *line, *next, *p, *end;
    unsigned long long said, has;

    log[0] = '\0';
    if (sf_command(sf, SFC_GET_LOG_INFO, log, sizeof log) <= 0)
        return 0;
    log[sizeof log - 1] = '\0';
    for (line = log; line && *line; line = next) {
        if ((next = strchr(line, '\n')) != NULL)
            *next++ = '\0';
        while (*line == ' ')
            line++;
        if (strncmp(line, "data :", 6) != 0 && strncmp(line, "SSND :", 6) != 0)
            continue;
        said = strtoull(line + 6, &end, 10);
        if (end == line + 6 || !(p = strstr(end, "(should be ")))
            continue;
        has = strtoull(p + 11, &end, 10);
        if (end == p + 11 || said == 0xffffffffull || said == ~0ull)
            continue;
        if (said > has)
            return 1;
    }
    return 0;
}

/* Fill out from an open SNDFILE; reject files that hold no audio. */
static int describe(SNDFILE *sf, const SF_INFO *info, shelf__probe *out,
                    char *reason, size_t reason_size)
{
    SF_INSTRUMENT inst;
    SF_LOOP_INFO loop;
    float tail[256 * 8];
    sf_count_t want;

    memset(out, 0, sizeof *out);
    snprintf(out->format, sizeof out->format, "%s", major_name(info->format & SF_FORMAT_TYPEMASK));
    snprintf(out->subtype, sizeof out->subtype, "%s",
             subtype_name(info->format & SF_FORMAT_SUBMASK, &out->bits));
    out->rate = info->samplerate;
    out->channels = info->channels;
    out->frames = info->frames;
    out->root_key = -1;
    out->loop_start = out->loop_end = -1;
    /* Beyond these no sampler plays the file: a damaged header. */
    if (info->samplerate < 1000 || info->samplerate > 1536000 || info->channels <= 0 ||
        info->channels > 64) {
        set_reason(reason, reason_size, "invalid rate or channel count");
        return SHELF_EFORMAT;
    }
    if (info->frames <= 0 || info->frames == SF_COUNT_MAX) {
        set_reason(reason, reason_size, "no audio frames (empty or truncated)");
        return SHELF_EFORMAT;
    }
    out->duration = (double)info->frames / info->samplerate;
    if (data_truncated(sf)) {
        set_reason(reason, reason_size, "truncated: the file ends before its audio data does");
        return SHELF_EFORMAT;
    }

    /* Decode the last frames: a compressed file whose stream ends before
     * its header says (a truncated FLAC or Ogg) fails here rather than on
     * stage.  A truncated PCM file was caught above. */
    if (info->channels <= 8 && info->seekable) {
        want = info->frames < 256 ? info->frames : 256;
        if (sf_seek(sf, info->frames - want, SEEK_SET) < 0 ||
            sf_readf_float(sf, tail, want) != want) {
            set_reason(reason, reason_size, "truncated: audio data ends early");
            return SHELF_EFORMAT;
        }
    }

    memset(&inst, 0, sizeof inst);
    if (sf_command(sf, SFC_GET_INSTRUMENT, &inst, sizeof inst) == SF_TRUE) {
        if (inst.basenote >= 0)
            out->root_key = inst.basenote;
        if (inst.loop_count > 0 && inst.loops[0].end > inst.loops[0].start) {
            out->loop_start = inst.loops[0].start;
            out->loop_end = inst.loops[0].end;
            switch (inst.loops[0].mode) {
            case SF_LOOP_FORWARD: out->loop_mode = SHELF_LOOP_FORWARD; break;
            case SF_LOOP_BACKWARD: out->loop_mode = SHELF_LOOP_BACKWARD; break;
            case SF_LOOP_ALTERNATING: out->loop_mode = SHELF_LOOP_ALTERNATING; break;
            default: out->loop_mode = SHELF_LOOP_FORWARD; break;
            }
            /* A loop outside the audio (a damaged or cut file) is no loop. */
            if (out->loop_end > out->frames) {
                out->loop_start = out->loop_end = -1;
                out->loop_mode = SHELF_LOOP_NONE;
            }
        }
    }
    memset(&loop, 0, sizeof loop);
    if (sf_command(sf, SFC_GET_LOOP_INFO, &loop, sizeof loop) == SF_TRUE) {
        if (loop.bpm > 0 && loop.bpm < 1000)
            out->tempo = loop.bpm;
        if (loop.num_beats > 0 && loop.num_beats < 100000)
            out->beats = loop.num_beats;
        if (out->root_key < 0 && loop.root_key > 0 && loop.root_key <= 127)
            out->root_key = loop.root_key;
    }
    read_strings(sf, out);
    return SHELF_OK;
}

/*
 * Why libsndfile could not open a file, for a musician: a WAV file whose
 * audio is in an encoding libsndfile cannot decode (Ogg Vorbis or MP3 inside
 * a WAV, as some old sample packs have) says so and what to do, found by
 * the format tag of its 'fmt ' chunk; anything else is libsndfile's message.
 */
static void open_failed(const unsigned char *p, size_t n, char *reason, size_t reason_size)
{
    size_t off = 12;
    unsigned tag = 0;
    const char *what = NULL;
    char msg[300];

    while (n >= 12 && !memcmp(p, "RIFF", 4) && !memcmp(p + 8, "WAVE", 4) && off + 10 <= n) {
        size_t len = (size_t)p[off + 4] | (size_t)p[off + 5] << 8 | (size_t)p[off + 6] << 16 |
                     (size_t)p[off + 7] << 24;

        if (!memcmp(p + off, "fmt ", 4)) {
            tag = (unsigned)p[off + 8] | (unsigned)p[off + 9] << 8;
            break;
        }
        if (len > n)
            break;
        off += 8 + len + (len & 1);
    }
    switch (tag) {
    case 0x674f: case 0x6750: case 0x6751: case 0x676f: case 0x6770: case 0x6771:
        what = "Ogg Vorbis";
        break;
    case 0x0050: case 0x0055: what = "MP3"; break;
    case 0x00ff: case 0x1610: case 0x4143: what = "AAC"; break;
    case 0x0160: case 0x0161: case 0x0162: case 0x0163: what = "Windows Media"; break;
    }
    if (what) {
        snprintf(msg, sizeof msg, "a WAV file whose audio is compressed as %s (format 0x%04x), "
                 "which shelf cannot play; convert it to a plain WAV or FLAC (ffmpeg, Audacity, "
                 "sox) and import that", what, tag);
        set_reason(reason, reason_size, msg);
    } else {
        set_reason(reason, reason_size, sf_strerror(NULL));
    }
}

int shelf__probe_mem(const void *data, size_t n, shelf__probe *out,
                     char *reason, size_t reason_size)
{
    SF_VIRTUAL_IO io = { mem_len, mem_seek, mem_read, mem_write, mem_tell };
    memfile m = { data, (sf_count_t)n, 0 };
    SF_INFO info;
    SNDFILE *sf;
    int rc;

    memset(out, 0, sizeof *out);
    if (n == 0) {
        set_reason(reason, reason_size, "empty file");
        return SHELF_EFORMAT;
    }
    memset(&info, 0, sizeof info);
    if (!(sf = sf_open_virtual(&io, SFM_READ, &info, &m))) {
        open_failed(data, n < 4096 ? n : 4096, reason, reason_size);
        return SHELF_EFORMAT;
    }
    rc = describe(sf, &info, out, reason, reason_size);
    sf_close(sf);
    return rc;
}

int shelf__probe_path(const char *path, shelf__probe *out, char *reason, size_t reason_size)
{
    struct stat sb;
    SF_INFO info;
    SNDFILE *sf;
    int rc;

    memset(out, 0, sizeof *out);
    memset(&info, 0, sizeof info);
    if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size == 0) {
        set_reason(reason, reason_size, "empty file");
        return SHELF_EFORMAT;
    }
    if (!(sf = sf_open(path, SFM_READ, &info))) {
        unsigned char head[4096];
        FILE *f = fopen(path, "rb");
        size_t n = f ? fread(head, 1, sizeof head, f) : 0;

        if (f)
            (void)fclose(f);        /* read only: nothing to lose */
        open_failed(head, n, reason, reason_size);
        return SHELF_EFORMAT;
    }
    rc = describe(sf, &info, out, reason, reason_size);
    sf_close(sf);
    return rc;
}

int shelf__audio_hash(const char *path, char hex[SHELF_HASH_HEX], char *reason, size_t reason_size)
{
    enum { CHUNK = 4096 };
    uint8_t h[SHELF_HASH_BYTES];
    shelf__sha256 *sha = NULL;
    int32_t *buf = NULL;
    uint8_t *le = NULL;
    SF_INFO info;
    SNDFILE *sf;
    sf_count_t n;
    int rc = SHELF_OK;

    memset(&info, 0, sizeof info);
    if (!(sf = sf_open(path, SFM_READ, &info))) {
        set_reason(reason, reason_size, sf_strerror(NULL));
        return SHELF_EFORMAT;
    }
    if (info.channels <= 0 || info.channels > 64 ||
        !(buf = shelf__malloc((size_t)CHUNK * (size_t)info.channels * sizeof *buf)) ||
        !(le = shelf__malloc((size_t)CHUNK * (size_t)info.channels * 4)) ||
        !(sha = shelf__sha256_new())) {
        set_reason(reason, reason_size, info.channels <= 0 || info.channels > 64
                                            ? "invalid channel count" : "out of memory");
        rc = info.channels <= 0 || info.channels > 64 ? SHELF_EFORMAT : SHELF_ENOMEM;
        goto out;
    }
    while ((n = sf_readf_int(sf, buf, CHUNK)) > 0) {
        size_t i, m = (size_t)n * (size_t)info.channels;

        for (i = 0; i < m; i++) {      /* the same bytes on any host */
            uint32_t v = (uint32_t)buf[i];

            le[4 * i] = (uint8_t)v;
            le[4 * i + 1] = (uint8_t)(v >> 8);
            le[4 * i + 2] = (uint8_t)(v >> 16);
            le[4 * i + 3] = (uint8_t)(v >> 24);
        }
        shelf__sha256_update(sha, le, 4 * m);
    }
    if (sf_error(sf) != SF_ERR_NO_ERROR) {
        set_reason(reason, reason_size, sf_strerror(sf));
        rc = SHELF_EFORMAT;
        goto out;
    }
    shelf__sha256_final(sha, h);
    shelf__hex(h, sizeof h, hex);
out:
    shelf__sha256_free(sha);
    shelf_free(buf);
    shelf_free(le);
    sf_close(sf);
    return rc;
}

int shelf__is_audio_ext(const char *ext)
{
    static const char *const exts[] = {
        "wav", "wave", "bwf", "aif", "aiff", "aifc", "flac", "ogg", "oga", "opus",
        "mp3", "caf", "w64", "rf64", "au", "snd", NULL
    };
    size_t i;

    for (i = 0; exts[i]; i++)
        if (!strcmp(ext, exts[i]))
            return 1;
    return 0;
}

/* Words that name a category; the first word of a path that is one wins. */
static const struct { const char *word, *category; } category_words[] = {
    { "kick", "kick" }, { "kicks", "kick" }, { "kik", "kick" }, { "bd", "kick" },
    { "bassdrum", "kick" }, { "kickdrum", "kick" },
    { "snare", "snare" }, { "snares", "snare" }, { "sd", "snare" }, { "snr", "snare" },
    { "rim", "snare" }, { "rimshot", "snare" }, { "sidestick", "snare" },
    { "clap", "clap" }, { "claps", "clap" }, { "handclap", "clap" },
    { "hat", "hihat" }, { "hats", "hihat" }, { "hihat", "hihat" }, { "hihats", "hihat" },
    { "hh", "hihat" }, { "chh", "hihat" }, { "ohh", "hihat" }, { "openhat", "hihat" },
    { "closedhat", "hihat" }, { "tom", "tom" }, { "toms", "tom" }, { "floortom", "tom" },
    { "crash", "cymbal" }, { "ride", "cymbal" }, { "cymbal", "cymbal" },
    { "cymbals", "cymbal" }, { "splash", "cymbal" }, { "china", "cymbal" },
    { "perc", "percussion" }, { "percussion", "percussion" }, { "shaker", "percussion" },
    { "tamb", "percussion" }, { "tambourine", "percussion" }, { "conga", "percussion" },
    { "bongo", "percussion" }, { "cowbell", "percussion" }, { "clave", "percussion" },
    { "claves", "percussion" }, { "woodblock", "percussion" }, { "triangle", "percussion" },
    { "bass", "bass" }, { "sub", "bass" }, { "808", "bass" },
    { "pad", "pad" }, { "pads", "pad" }, { "lead", "lead" }, { "leads", "lead" },
    { "pluck", "pluck" }, { "plucks", "pluck" },
    { "piano", "keys" }, { "keys", "keys" }, { "rhodes", "keys" }, { "organ", "keys" },
    { "epiano", "keys" }, { "harpsichord", "keys" },
    { "guitar", "guitar" }, { "gtr", "guitar" },
    { "strings", "strings" }, { "violin", "strings" }, { "cello", "strings" },
    { "viola", "strings" }, { "brass", "brass" }, { "trumpet", "brass" },
    { "horn", "brass" }, { "sax", "brass" }, { "trombone", "brass" },
    { "vox", "vocal" }, { "vocal", "vocal" }, { "vocals", "vocal" }, { "voice", "vocal" },
    { "choir", "vocal" }, { "fx", "fx" }, { "sfx", "fx" }, { "riser", "fx" },
    { "sweep", "fx" }, { "impact", "fx" }, { "noise", "fx" },
    { "loop", "loop" }, { "loops", "loop" }, { "break", "loop" }, { "breaks", "loop" },
    { "groove", "loop" },
};

static const char *category_of(const char *w, const char *next)
{
    size_t i;

    /* "bass drum" is a kick, not a bass. */
    if (!strcmp(w, "bass") && next && !strcmp(next, "drum"))
        return "kick";
    for (i = 0; i < sizeof category_words / sizeof category_words[0]; i++)
        if (!strcmp(w, category_words[i].word))
            return category_words[i].category;
    return NULL;
}

/* Scan the words of s[0..n) in order; return the first category found. */
static const char *scan_words(const char *s, size_t n)
{
    char w[2][32];
    size_t len = 0, i;
    int cur = 0, have_prev = 0;
    const char *c;

    /* Words are runs of letters, or runs of digits; case changes split
     * camelCase ("KickHard"). */
    for (i = 0; i <= n; i++) {
        unsigned char ch = i < n ? (unsigned char)s[i] : 0;
        int split = !isalnum(ch) ||
                    (len && isdigit(ch) != isdigit((unsigned char)w[cur][len - 1])) ||
                    (len && isupper(ch) && islower((unsigned char)s[i - 1]));

        if (split && len) {
            w[cur][len] = '\0';
            if (have_prev && (c = category_of(w[!cur], w[cur])) != NULL)
                return c;
            have_prev = 1;
            cur = !cur;
            len = 0;
        }
        if (isalnum(ch) && len + 1 < sizeof w[0])
            w[cur][len++] = (char)tolower(ch);
    }
    if (have_prev)
        return category_of(w[!cur], NULL);
    return NULL;
}

/* 1 when the words "bass" and "drum" follow each other in s[0..n). */
static int has_bass_drum(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i + 9 <= n; i++)
        if (!strncasecmp(s + i, "bass", 4) && (i == 0 || !isalpha((unsigned char)s[i - 1])) &&
            (s[i + 4] == ' ' || s[i + 4] == '_' || s[i + 4] == '-') &&
            !strncasecmp(s + i + 5, "drum", 4) &&
            (i + 9 == n || !isalpha((unsigned char)s[i + 9]) || s[i + 9] == 's'))
            return 1;
    return 0;
}

const char *shelf__guess_category(const char *relpath)
{
    const char *end = relpath + strlen(relpath), *slash, *c;

    /* The file name first, then its folders from the nearest up. */
    while (end > relpath) {
        slash = end;
        while (slash > relpath && slash[-1] != '/')
            slash--;
        /* "808 Bass Drum" is a kick, whatever word came first. */
        if (has_bass_drum(slash, (size_t)(end - slash)))
            return "kick";
        if ((c = scan_words(slash, (size_t)(end - slash))) != NULL)
            return c;
        end = slash > relpath ? slash - 1 : relpath;
    }
    return NULL;
}

double shelf__tempo_from_name(const char *name)
{
    const char *p;
    size_t i, n = strlen(name);

    for (i = 0; i + 3 <= n; i++) {
        if (strncasecmp(name + i, "bpm", 3) != 0)
            continue;
        /* digits before: "120bpm", "120 BPM", "120_bpm" */
        p = name + i;
        while (p > name && (p[-1] == ' ' || p[-1] == '_' || p[-1] == '-'))
            p--;
        if (p > name && isdigit((unsigned char)p[-1])) {
            const char *q = p;
            double v = 0;

            while (q > name && isdigit((unsigned char)q[-1]))
                q--;
            if (p - q > 3)
                continue;
            for (; q < p; q++)
                v = v * 10 + (*q - '0');
            if (v >= 40 && v <= 300)
                return v;
        }
        /* digits after: "bpm120", "BPM_95" */
        p = name + i + 3;
        while (*p == ' ' || *p == '_' || *p == '-')
            p++;
        if (isdigit((unsigned char)*p)) {
            double v = 0;
            int k = 0;

            for (; isdigit((unsigned char)*p) && k < 4; p++, k++)
                v = v * 10 + (*p - '0');
            if (k <= 3 && v >= 40 && v <= 300)
                return v;
        }
    }
    return 0;
}
