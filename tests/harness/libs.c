/*
 * libs.c: libraries for tests (libs.h).
 */
#include "test.h"
#include "libs.h"

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
