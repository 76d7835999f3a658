/*
 * fuzz_target.h: the one entry point every fuzz_<target>.c defines.  libFuzzer
 * calls it with each generated input; replay.c calls it with each file of a
 * corpus, so the same code runs under the fuzzer (clang) and ctest (any
 * compiler).  A target reports a broken invariant with abort().
 */
#ifndef SHELF_FUZZ_TARGET_H
#define SHELF_FUZZ_TARGET_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Abort with the file, line and condition when an invariant breaks (the
 * fuzzer reports it as a crash); name is the target's, for the message. */
#define FUZZ_CHECK(name, cond)                                               \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "%s: %s:%d: invariant failed: %s\n", (name),     \
                    __FILE__, __LINE__, #cond);                              \
            abort();                                                         \
        }                                                                    \
    } while (0)

/* Run the target over data[0..size); returns 0 (libFuzzer reserves others). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif /* SHELF_FUZZ_TARGET_H */
