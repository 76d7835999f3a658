/*
 * fuzz_notes.c: fuzz target for the two parsers of outside input in the
 * streaming engine: note scripts (shelf_notes_parse) and the WAV header
 * reader of the direct read path (shelf__wav_parse).  Every input goes
 * through both.  A parsed script must keep its documented shape (notes in
 * time order, sample numbers in range, fields in their ranges, loops and
 * their modes as the loop statement allows them); a failure
 * must be SHELF_EFORMAT or SHELF_ENOMEM with a one-line message; a WAV
 * header that parses must describe a data chunk inside the input's bounds
 * as declared.  Broken invariants abort().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz_target.h"
#include "stream/stream_int.h"

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "fuzz_notes: %s:%d: invariant failed: %s\n",     \
                    __FILE__, __LINE__, #cond);                              \
            abort();                                                         \
        }                                                                    \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    shelf_notes *n = NULL;
    shelf__wavinfo wi;
    char *msg = NULL;
    size_t i;
    int rc;

    rc = shelf_notes_parse((const char *)data, size, &n, &msg);
    if (rc != SHELF_OK) {
        CHECK(rc == SHELF_EFORMAT || rc == SHELF_ENOMEM);
        CHECK(n == NULL);
        CHECK(msg != NULL && msg[0] && !strchr(msg, '\n'));
    } else {
        CHECK(msg == NULL);
        CHECK(n->rate >= 1000 && n->rate <= 768000);
        CHECK(n->frames >= 0);
        for (i = 0; i < n->nsamples; i++)
            CHECK(n->samples[i][0] != '\0' && strlen(n->samples[i]) <= size);
        for (i = 0; i < n->nnotes; i++) {
            const shelf_note *t = &n->notes[i];
            CHECK(t->sample >= 0 && (size_t)t->sample < n->nsamples);
            CHECK(t->at >= 0 && t->offset >= 0);
            CHECK(t->pitch >= 1.0 / 16 && t->pitch <= 16);
            CHECK(t->gain >= 0 && t->release >= 1);
            CHECK(i == 0 || n->notes[i - 1].at <= t->at);
        }
        /* Loops: none, the file's, or START < END; a crossfade only on a
         * forward loop; an alternating loop of at least 2 frames. */
        for (i = 0; i < n->nsamples; i++) {
            const int64_t *lp = &n->loops[3 * i];
            int m = n->loop_modes[i];
            CHECK(m >= 0 && m <= SHELF_LOOP_ALTERNATING);
            CHECK((lp[0] == 0 && lp[1] == 0 && m == 0) || (lp[0] == -1 && lp[1] == -1) ||
                  (lp[0] >= 0 && lp[0] < lp[1]));
            CHECK(lp[2] >= 0 && (lp[2] == 0 || m <= SHELF_LOOP_FORWARD));
            CHECK(lp[1] < 0 || lp[2] <= lp[0]);
            CHECK(m != SHELF_LOOP_ALTERNATING || lp[1] < 0 || lp[1] - lp[0] >= 2);
        }
        /* Each note needs at least "note 0 0" and a line end. */
        CHECK(n->nnotes <= size / 8 + 1);
    }
    free(msg);
    shelf_notes_free(n);

    if (shelf__wav_parse(data, size, &wi) == SHELF_OK) {
        CHECK(wi.enc >= SHELF__PCM16 && wi.enc <= SHELF__FLOAT32);
        CHECK(wi.channels >= 1 && wi.channels <= 64);
        CHECK(wi.rate >= 1000 && wi.rate <= 768000);
        CHECK(wi.data_off >= 20 && wi.data_off <= size);
    }
    return 0;
}
