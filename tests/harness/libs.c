/*
 * libs.c: libraries for tests (libs.h).
 */
#include <limits.h>
#include <sndfile.h>
#include <sys/stat.h>
#include "test.h"
#include "audiogen.h"
#include "libs.h"
#include "shelf/import.h"

shelf_library *test__lib_open(const char *file, int line, const char *dir, int flags)
{
    shelf_library *lib = NULL;
    char *msg = NULL;
    int rc = shelf_library_open(dir, flags, &lib, &msg);

    if (rc != SHELF_OK)
        test__fail(file, line, "cannot open the library '%s': %d (%s)", dir, rc, msg ? msg : "?");
    shelf_free(msg);
    return lib;
}

/* A library at DIR/NAME with the samples of DIR/src: three short sine
 * waves, one under a name that is not UTF-8, made once per DIR. */
shelf_library *test_device_at(const char *dir, const char *name)
{
    static const char *const names[] = { "kick é.wav", "snare 🥁.wav", "hat \xff.wav" };
    char src[PATH_MAX], p[PATH_MAX];
    const char *paths[1] = { src };
    shelf_library *lib;
    size_t i;

    test_pathf(src, sizeof src, "%s/src", dir);
    if (!test_exists(src)) {
        ASSERT(mkdir(src, 0777) == 0);
        for (i = 0; i < 3; i++) {
            test_pathf(p, sizeof p, "%s/%s", src, names[i]);
            ASSERT_EQ_INT(tg_write_simple(p, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 44100, 1, 441,
                                          (unsigned)i + 1), 0);
        }
    }
    test_pathf(p, sizeof p, "%s/%s", dir, name);
    lib = test_lib_open(p, SHELF_OPEN_CREATE);
    ASSERT_OKL(lib, shelf_import(lib, paths, 1, NULL, NULL));
    return lib;
}
