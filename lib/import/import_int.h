/*
 * import_int.h: the catalog import inside the library.  The public
 * shelf_import (lib/patch/versions.c) runs it and then links documents up
 * again with the samples that came back; import stays below patch and never
 * calls it.
 */
#ifndef SHELF_IMPORT_INT_H
#define SHELF_IMPORT_INT_H

#include "shelf/shelf.h"

/*
 * shelf_import (include/shelf/import.h) without what lies above the
 * catalog.  When after is not NULL and the import committed at least one
 * new or changed row (stats->imported), after(lib) runs once on the calling
 * thread, still under the import's library lock and before the last
 * progress callback, also when the import was cancelled; its error is the
 * import's result when the import itself succeeded.  stats is never NULL:
 * shelf_import passes a full struct of its own and copies it out
 * (shelf__out_fill).
 */
int shelf__import_run(shelf_library *lib, const char *const *paths, size_t npaths,
                      const shelf_import_opts *opts, shelf_import_stats *stats,
                      int (*after)(shelf_library *lib));

/*
 * Mark missing the samples at or under each of paths (absolute; a file or
 * a folder inside a root) whose files are gone now, as an import of their
 * folder would, without walking anything: for the watcher (lib/service),
 * which knows what was deleted or moved away.  A row whose file is there,
 * a managed row (its copy is the sample), a path in no root and a root
 * folder that is not there (an unmounted volume hides nothing) are left
 * alone.  One transaction; opts->on_file hears SHELF_FILE_MISSING for each
 * row after the commit and stats->missing counts them (stats is never
 * NULL).  Holds the shared library lock while it runs.
 */
int shelf__import_gone(shelf_library *lib, const char *const *paths, size_t npaths,
                       const shelf_import_opts *opts, shelf_import_stats *stats);

#endif /* SHELF_IMPORT_INT_H */
