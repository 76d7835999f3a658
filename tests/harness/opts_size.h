/*
 * opts_size.h: the size rule of include/shelf/shelf.h, checked on one API.
 * base is an options struct of type T that makes CALL succeed; min is the
 * size of T's first published version.  CALL names the options as p_.
 *
 *   size below min                      -> SHELF_EINVAL
 *   size min (an older caller)          -> okrc (fields past min read as 0)
 *   size above sizeof(T), a byte set    -> SHELF_EINVAL
 *   size above sizeof(T), zero bytes    -> okrc
 *
 * okrc is SHELF_OK where the call can succeed in a unit test; a check of a
 * call that cannot (stress runs without samples) passes INT_MIN to skip the
 * two accepting cases and keeps the two refusals.
 */
#ifndef SHELF_TEST_OPTS_SIZE_H
#define SHELF_TEST_OPTS_SIZE_H

#include <limits.h>
#include <string.h>
#include "test.h"

#define TEST_OPTS_SIZE(T, base, min, okrc, CALL)                                   \
    do {                                                                           \
        union { T o; unsigned char b[sizeof(T) + 16]; } u_;                       \
        T *p_ = &u_.o;                                                             \
        int ok_ = (okrc);                                                          \
        memset(&u_, 0, sizeof u_);                                                 \
        u_.o = (base);                                                             \
        u_.o.size = (min) - 1;                                                     \
        ASSERT_RC(SHELF_EINVAL, (CALL));                                           \
        u_.o.size = sizeof(T) + 16;                                                \
        u_.b[sizeof(T) + 3] = 1;                                                   \
        ASSERT_RC(SHELF_EINVAL, (CALL));                                           \
        if (ok_ != INT_MIN) {                                                      \
            u_.b[sizeof(T) + 3] = 0;                                               \
            ASSERT_RC(ok_, (CALL));                                                \
            u_.o.size = (min);                                                     \
            ASSERT_RC(ok_, (CALL));                                                \
        }                                                                          \
    } while (0)

#endif /* SHELF_TEST_OPTS_SIZE_H */
