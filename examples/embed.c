/*
 * embed.c: how firmware or an app embeds libshelf.  Opens (or creates) a
 * library, imports a folder, and searches it with shelf_search (the query
 * language of doc/query.md), through the public API only.
 *
 *   embed LIBRARY_DIR SAMPLE_FOLDER QUERY
 *
 * Exits 0 when the search found at least one sample, 1 when it found none,
 * 2 on errors.  The test suite builds and runs it.
 */
#include <stdio.h>
#include <shelf/shelf.h>

int main(int argc, char **argv)
{
    shelf_import_opts opts = { sizeof opts, 0, 0, NULL, NULL, NULL };
    shelf_import_stats st = { .size = sizeof st };
    shelf_search_opts so = { sizeof so, SHELF_SORT_DEFAULT, 0, 10, 0, 0 };
    shelf_library *lib;
    shelf_cursor *cur;
    const shelf_sample *s;
    const char *paths[1];
    char *msg;
    int64_t total = 0;
    int rc, exact = 0, found = 0;

    if (argc != 4) {
        fprintf(stderr, "usage: embed LIBRARY_DIR SAMPLE_FOLDER QUERY\n");
        return 2;
    }
    if ((rc = shelf_library_open(argv[1], SHELF_OPEN_CREATE, &lib, &msg)) != SHELF_OK) {
        fprintf(stderr, "embed: %s\n", msg ? msg : shelf_strerror(rc));
        shelf_free(msg);
        return 2;
    }
    paths[0] = argv[2];
    if (shelf_import(lib, paths, 1, &opts, &st) != SHELF_OK) {
        fprintf(stderr, "embed: %s\n", shelf_errmsg(lib));
        shelf_library_close(lib);
        return 2;
    }
    printf("imported %llu, unchanged %llu, failed %llu\n", (unsigned long long)st.imported,
           (unsigned long long)st.unchanged, (unsigned long long)st.failed);
    if (shelf_search(lib, argv[3], &so, &cur, &total, &exact) != SHELF_OK) {
        fprintf(stderr, "embed: %s\n", shelf_errmsg(lib));
        shelf_library_close(lib);
        return 2;
    }
    while ((rc = shelf_cursor_next(cur, &s)) == SHELF_ROW) {
        printf("%lld %s %d Hz %.2f s\n", (long long)s->id, s->relpath, s->rate, s->duration);
        found++;
    }
    shelf_cursor_free(cur);
    if (rc == SHELF_DONE)
        printf("%lld%s found\n", (long long)total, exact ? "" : "+");
    if (rc != SHELF_DONE)
        fprintf(stderr, "embed: %s\n", shelf_errmsg(lib));
    shelf_library_close(lib);
    return rc != SHELF_DONE ? 2 : found ? 0 : 1;
}
