/*
 * media_int.h: probing audio with libsndfile: container, encoding, rate,
 * channels, length, bit depth, root key and loop (instrument chunk), tempo
 * and beats (loop info / acid chunk), and a category guessed from names.
 */
#ifndef SHELF_MEDIA_INT_H
#define SHELF_MEDIA_INT_H

#include "../common/common_int.h"

/* What a probe finds.  Fixed-size so the import loop does not allocate. */
typedef struct shelf__probe {
    char format[16];        /* "WAV", "AIFF", "FLAC", "OGG", "MP3", ... */
    char subtype[16];       /* "PCM_16", "PCM_24", "FLOAT", "VORBIS", ... */
    int rate, channels, bits;
    int64_t frames;
    double duration;
    int root_key;           /* -1 unknown */
    int64_t loop_start, loop_end;   /* -1 when no loop */
    int loop_mode;
    double tempo;           /* 0 unknown */
    int beats;
    /* Text the file carries (RIFF LIST/INFO, BWF bext, Vorbis comments,
     * ID3 where libsndfile reads them); "" when absent. */
    char title[128];
    char author[128];       /* artist, else BWF originator */
    char comment[256];      /* comment, else BWF description */
    char genre[64];
} shelf__probe;

/*
 * Probe an audio file held in memory (the whole file).  On failure returns
 * SHELF_EFORMAT and writes a one-line reason ("not an audio file",
 * "truncated", ...) into reason.
 */
int shelf__probe_mem(const void *data, size_t n, shelf__probe *out,
                     char *reason, size_t reason_size);

/* Probe a file by path (libsndfile reads what it needs). */
int shelf__probe_path(const char *path, shelf__probe *out, char *reason, size_t reason_size);

/*
 * Guess a category from a relative path ("Drums/Kick_01.wav" -> "kick") by
 * whole words of the path, the file name first.  Returns a static string
 * or NULL.
 */
const char *shelf__guess_category(const char *relpath);

/* Tempo written in a name ("Loop 120bpm", "break_95_BPM"), 0 when none. */
double shelf__tempo_from_name(const char *name);

/*
 * Hash the decoded audio of a file: every frame read as 32-bit integers
 * (little-endian), so a WAV, an AIFF and a FLAC of the same PCM give the
 * same hash.  SHELF_EFORMAT with reason when it cannot be decoded.
 */
int shelf__audio_hash(const char *path, char hex[SHELF_HASH_HEX], char *reason, size_t reason_size);

/* 1 when the lowercase extension ext is one shelf walks into. */
int shelf__is_audio_ext(const char *ext);

#endif /* SHELF_MEDIA_INT_H */
