/*
 * fuzz_probe.c: fuzz target for what the importer parses of an outside
 * file: the audio probe (libsndfile over virtual I/O, then shelf's reading
 * of its instrument and loop chunks) and the guesses made from the file's
 * name (category, tempo, audio extension).  The input is the whole file;
 * its first 4 KiB, up to the first NUL, also serve as the relative path.
 * Every invariant the catalog relies on is checked with abort().
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz_target.h"
#include "media/media_int.h"

#define NAME_MAX_BYTES 4096

/* Report a broken invariant and abort, so the fuzzer keeps the input. */
#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "fuzz_probe: %s:%d: invariant failed: %s\n",     \
                    __FILE__, __LINE__, #cond);                              \
            abort();                                                         \
        }                                                                    \
    } while (0)

/* 1 when s[0..size) holds a NUL, that is, s is a terminated string. */
static int terminated(const char *s, size_t size)
{
    return memchr(s, '\0', size) != NULL;
}

static void check_probe(const uint8_t *data, size_t size)
{
    shelf__probe pr;
    char reason[256];
    int rc;

    /* Not all NULs, so a probe that forgets to terminate is caught. */
    memset(reason, 'x', sizeof reason);
    rc = shelf__probe_mem(data, size, &pr, reason, sizeof reason);
    if (rc != SHELF_OK) {
        /* The one documented failure, with a one-line reason. */
        CHECK(rc == SHELF_EFORMAT);
        CHECK(terminated(reason, sizeof reason));
        CHECK(reason[0] != '\0');
        CHECK(strchr(reason, '\n') == NULL);
        return;
    }
    CHECK(terminated(pr.format, sizeof pr.format) && pr.format[0]);
    CHECK(terminated(pr.subtype, sizeof pr.subtype) && pr.subtype[0]);
    CHECK(pr.rate > 0);
    CHECK(pr.channels > 0);
    CHECK(pr.bits >= 0 && pr.bits <= 64);
    CHECK(pr.frames > 0);
    CHECK(isfinite(pr.duration) && pr.duration > 0);
    CHECK(pr.root_key >= -1 && pr.root_key <= 127);
    if (pr.loop_start == -1 || pr.loop_end == -1) {
        CHECK(pr.loop_start == -1 && pr.loop_end == -1);
        CHECK(pr.loop_mode == SHELF_LOOP_NONE);
    } else {
        CHECK(pr.loop_start >= 0 && pr.loop_start <= pr.loop_end);
        CHECK(pr.loop_mode >= SHELF_LOOP_FORWARD && pr.loop_mode <= SHELF_LOOP_ALTERNATING);
    }
    CHECK(isfinite(pr.tempo) && pr.tempo >= 0 && pr.tempo < 1000);
    CHECK(pr.beats >= 0);
}

static void check_name(const uint8_t *data, size_t size)
{
    static char name[NAME_MAX_BYTES + 1];
    size_t n = size < NAME_MAX_BYTES ? size : NAME_MAX_BYTES;
    const char *cat, *c;
    double tempo;
    int audio;

    if (n)
        memcpy(name, data, n);
    name[n] = '\0';

    /* A static, non-empty, lowercase word, or none. */
    if ((cat = shelf__guess_category(name)) != NULL) {
        CHECK(cat[0] != '\0');
        for (c = cat; *c; c++)
            CHECK(*c >= 'a' && *c <= 'z');
    }

    /* A whole number of beats per minute in the range names use, or 0. */
    tempo = shelf__tempo_from_name(name);
    CHECK(tempo == 0 || (tempo >= 40 && tempo <= 300));
    CHECK(tempo == (double)(int)tempo);

    audio = shelf__is_audio_ext(name);
    CHECK(audio == 0 || audio == 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_probe(data, size);
    check_name(data, size);
    return 0;
}
