/*
 * libs.h: libraries for tests (libs.c): open one, failing the test with
 * shelf's own message when it cannot be opened.
 */
#ifndef SHELF_TEST_LIBS_H
#define SHELF_TEST_LIBS_H

#include "shelf/shelf.h"

/* shelf_library_open(dir, flags), or the test fails with its message. */
#define test_lib_open(dir, flags) test__lib_open(__FILE__, __LINE__, (dir), (flags))
shelf_library *test__lib_open(const char *file, int line, const char *dir, int flags);

#endif /* SHELF_TEST_LIBS_H */
