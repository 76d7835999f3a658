/*
 * libs.h: libraries for tests (libs.c): open one, failing the test with
 * shelf's own message when it cannot be opened; one with samples.
 */
#ifndef SHELF_TEST_LIBS_H
#define SHELF_TEST_LIBS_H

#include "shelf/shelf.h"

/* shelf_library_open(dir, flags), or the test fails with its message. */
#define test_lib_open(dir, flags) test__lib_open(__FILE__, __LINE__, (dir), (flags))
shelf_library *test__lib_open(const char *file, int line, const char *dir, int flags);

/* A library at DIR/NAME with the samples of DIR/src imported: three short
 * sine waves ("kick é.wav", "snare 🥁.wav", "hat \xff.wav", the last a name
 * that is not UTF-8), written once per DIR.  Each call is another device. */
shelf_library *test_device_at(const char *dir, const char *name);

#endif /* SHELF_TEST_LIBS_H */
