/*
 * setlist.h: set lists for a gig (doc/streaming.md, "Set lists").  Included
 * by shelf.h.
 *
 * A set list is an ordered list of projects and patches.  Mirroring it
 * copies everything it needs (the samples of its items, the patches as
 * SFZ) to one or more media, FAT-safe, each file checked against the
 * catalog's SHA-256, with an index; checking says, per medium, what is
 * there and intact; pinning it puts its samples in the RAM cache's pins
 * in the set's order.  All functions run on the calling thread.
 */
#ifndef SHELF_SETLIST_H
#define SHELF_SETLIST_H

/* One item of a set list; strings borrowed for the callback. */
typedef struct shelf_setlist_item {
    size_t size;                /* sizeof, set by the library (shelf.h) */
    int position;               /* 1, 2, ... in the set's order */
    int kind;                   /* SHELF_DOC_PATCH or SHELF_DOC_PROJECT */
    int64_t id;
    const char *name;           /* the item's name */
    int64_t samples;            /* samples it uses (a project: through its patches too) */
} shelf_setlist_item;
typedef int (*shelf_setlist_item_cb)(void *ud, const shelf_setlist_item *it);

/* A set list as listings show it; borrowed for the callback. */
typedef struct shelf_setlist_info {
    size_t size;
    int64_t id;
    const char *name;
    int64_t created;            /* unix seconds */
    int64_t items;
} shelf_setlist_info;
typedef int (*shelf_setlist_info_cb)(void *ud, const shelf_setlist_info *s);

/* A new, empty set list (names are unique without case; SHELF_EEXIST). */
SHELF_API int shelf_setlist_new(shelf_library *lib, const char *name, int64_t *id);
/* Remove a set list (its items; nothing they name).  SHELF_ENOTFOUND. */
SHELF_API int shelf_setlist_remove(shelf_library *lib, const char *name);
/* Add an item at position at (1-based; 0: at the end); the items from
 * there on move down one.  An item may come twice (an encore).
 * SHELF_ENOTFOUND for no such set list or item, SHELF_EINVAL for a kind
 * that is not a patch or a project or a position past the end + 1. */
SHELF_API int shelf_setlist_add(shelf_library *lib, const char *name, int kind, int64_t item, int at);
/* Drop the item at position (1-based); those after it move up. */
SHELF_API int shelf_setlist_drop(shelf_library *lib, const char *name, int position);
SHELF_API int shelf_setlist_list(shelf_library *lib, shelf_setlist_info_cb cb, void *ud);
SHELF_API int shelf_setlist_items(shelf_library *lib, const char *name, shelf_setlist_item_cb cb, void *ud);
/* The samples the set list needs, each once, in the set's order (an
 * item's own samples first, then its patches' in their order); *ids owned
 * (shelf_free). */
SHELF_API int shelf_setlist_samples(shelf_library *lib, const char *name, int64_t **ids, size_t *n);

typedef struct shelf_setlist_mirror_stats {
    size_t size;                /* set to sizeof before the call (shelf.h) */
    uint64_t samples;           /* files the medium holds for the set */
    uint64_t written, unchanged, removed;
    uint64_t bytes_written;
    uint64_t patches;           /* patches written as SFZ */
    double seconds;
} shelf_setlist_mirror_stats;

/*
 * Mirror the set list to the medium folder dir: everything goes under
 * dir/NAME/ (NAME the set list's name made FAT-safe), written as
 * shelf_media_export writes a card (FAT-safe names, balanced shard
 * folders, every byte checked against the catalog, dir/NAME/index, the
 * patches as SFZ in dir/NAME/PATCHES/), then dir/NAME/setlist.json (the
 * order, each item's files; doc/formats.md, "Set list on a medium") in one
 * step.  A later mirror writes only what changed.  Errors: those of
 * shelf_media_export; SHELF_ENOTFOUND also for a sample of the set that
 * is missing or archived (the message names it).  progress may be NULL.
 */
SHELF_API int shelf_setlist_mirror(shelf_library *lib, const char *name, const char *dir, int fat,
                                   shelf_archive_progress_cb progress, void *ud,
                                   shelf_setlist_mirror_stats *st);

/* What a check found on one medium. */
typedef struct shelf_setlist_check_stats {
    size_t size;                /* set to sizeof before the call (shelf.h) */
    uint64_t needed;            /* samples the set list needs now */
    uint64_t intact;            /* on the medium with the catalog's bytes */
    uint64_t missing;           /* not on it (or listed, but the file is gone) */
    uint64_t corrupt;           /* on it, but its bytes differ from the index */
    uint64_t stale;             /* on it as mirrored, but the catalog's sample has
                                   changed since (mirror again) */
    uint64_t bytes;             /* bytes read */
    int order;                  /* 1: setlist.json lists the set's current order */
} shelf_setlist_check_stats;
/* Called once per sample that is not intact: problem "missing", "corrupt"
 * or "stale", the sample's id and name, and its path on the medium (NULL
 * when missing). */
typedef void (*shelf_setlist_problem_cb)(void *ud, const char *problem, int64_t id, const char *name,
                                         const char *path);
/*
 * Check the mirror of the set list on the medium folder dir (read only:
 * works on a card mounted read-only): every sample the set list needs
 * now must be in dir/NAME/index with the catalog's SHA-256, and its file
 * must hash to it.  Returns SHELF_OK when every one is intact,
 * SHELF_ECORRUPT when some are not (each told to cb and counted in st),
 * SHELF_ENOTFOUND when dir holds no mirror of it, SHELF_EFORMAT for an
 * index that is not one.
 */
SHELF_API int shelf_setlist_check(shelf_library *lib, const char *name, const char *dir,
                                  shelf_setlist_problem_cb cb, void *ud, shelf_setlist_check_stats *st);
/* Pin (on 1) or unpin the set list's samples in the RAM cache
 * (shelf_cache_pins_set), in the set's order.  *n (may be NULL) counts them. */
SHELF_API int shelf_setlist_pin(shelf_library *lib, const char *name, int on, size_t *n);

#endif /* SHELF_SETLIST_H */
