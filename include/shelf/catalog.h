/*
 * catalog.h: samples in the catalog, their user metadata (tags, ratings,
 * favourites), listing and search.  Included by shelf.h.
 *
 * Every item has a stable integer id that never changes and is never reused,
 * whatever happens to its file: user metadata is keyed by id, not by path.
 */
#ifndef SHELF_CATALOG_H
#define SHELF_CATALOG_H

/* Loop modes, as in the sampler instrument chunk. */
enum {
    SHELF_LOOP_NONE = 0,
    SHELF_LOOP_FORWARD = 1,
    SHELF_LOOP_BACKWARD = 2,
    SHELF_LOOP_ALTERNATING = 3
};

/* shelf_sample.missing: the file is not here because a project archive
 * freed it (archive.h, shelf_project_archive); its bytes are in that
 * archive on its target until shelf_project_unarchive brings them back. */
#define SHELF_SAMPLE_ARCHIVED 2

/*
 * One sample as the catalog knows it.  Strings and the struct are borrowed
 * from the cursor or owned by the caller, as the function that filled it
 * says.  Unknown numbers are 0 (root_key and loop bounds: -1).
 */
typedef struct shelf_sample {
    int64_t id;              /* stable id */
    const char *name;        /* display name: file name without extension */
    const char *root;        /* folder the path is relative to (absolute) */
    const char *relpath;     /* path under root; for a managed sample, where it came from */
    const char *blob;        /* SHA-256 hex of the managed copy, or NULL */
    const char *sha256;      /* SHA-256 hex of the file's bytes */
    uint64_t size;           /* bytes */
    int64_t mtime_ns;        /* file modification time, ns since the epoch */
    const char *format;      /* container: "WAV", "AIFF", "FLAC", "OGG", ... */
    const char *subtype;     /* encoding: "PCM_16", "FLOAT", "VORBIS", ... */
    int rate;                /* frames per second */
    int channels;
    int64_t frames;
    double duration;         /* seconds */
    int bits;                /* bits per sample; 0 for lossy encodings */
    int root_key;            /* MIDI note 0..127, -1 unknown */
    int64_t loop_start;      /* frames, -1 when no loop */
    int64_t loop_end;
    int loop_mode;           /* SHELF_LOOP_... */
    double tempo;            /* beats per minute, 0 unknown */
    int beats;               /* 0 unknown */
    const char *category;    /* "kick", "snare", "pad", ...; NULL unknown */
    int64_t created;         /* when catalogued, unix seconds */
    int64_t last_used;       /* unix seconds, 0 never */
    int missing;             /* 1 when the file was not found on the last scan;
                                SHELF_SAMPLE_ARCHIVED: freed here by a project
                                archive (archive.h, shelf_project_archive) */
    int rating;              /* 0..5 */
    int favourite;           /* 0 or 1 */
    const char *tags;        /* space-separated tag names, "" when none */
    /* What the file says about itself (RIFF INFO, BWF, Vorbis comments) or
     * the kit it belongs to says about it; NULL when unknown. */
    const char *title;
    const char *author;      /* artist, or the kit's author */
    const char *comment;
    const char *genre;
    const char *kit;         /* Hydrogen drum kit name */
    const char *instrument;  /* the kit's instrument that plays it */
} shelf_sample;

/* A cursor over samples (listing or search).  Free with shelf_cursor_free. */
typedef struct shelf_cursor shelf_cursor;

/*
 * Step the cursor.  Returns SHELF_ROW and points *row at a struct that is
 * borrowed until the next step or free, SHELF_DONE at the end, or a
 * negative code (the message is on the library handle).
 */
SHELF_API int shelf_cursor_next(shelf_cursor *cur, const shelf_sample **row);
SHELF_API void shelf_cursor_free(shelf_cursor *cur);

/*
 * Sort keys for listing and search.  SHELF_SORT_DEFAULT is relevance for a
 * search with words, name for a search without, and id for a listing.
 */
enum {
    SHELF_SORT_DEFAULT = 0, SHELF_SORT_ID, SHELF_SORT_NAME, SHELF_SORT_PATH, SHELF_SORT_SIZE,
    SHELF_SORT_DURATION, SHELF_SORT_RATE, SHELF_SORT_KEY, SHELF_SORT_TEMPO,
    SHELF_SORT_ADDED, SHELF_SORT_USED, SHELF_SORT_RATING, SHELF_SORT_RELEVANCE
};

/* Options for listing.  Zero-initialise, then set size = sizeof. */
typedef struct shelf_list_opts {
    size_t size;
    int sort;                /* SHELF_SORT_... */
    int descending;
    int64_t limit;           /* 0: no limit */
    int64_t offset;
    int only_missing;        /* 1: only missing samples (not archived ones) */
    int only_favourites;     /* 1: only favourites */
} shelf_list_opts;

/* List samples.  opts may be NULL (by id, all).  *out is owned. */
SHELF_API int shelf_catalog_list(shelf_library *lib, const shelf_list_opts *opts,
                                 shelf_cursor **out);

/*
 * shelf_search (shelf/search.h) is the search API.  These two are thin
 * wrappers over it, kept for embedders that search plain words: text is
 * split into words (runs of letters and digits; punctuation and query
 * syntax are separators, so "tag:kick" is the two words "tag" and "kick"),
 * and every word must match, as a prefix, a word of the name, the path, a
 * tag or the category, or a synonym of it ("kic hyd" finds
 * "hydrogen/GMkit/Kick_Hard.wav").  Ranked as shelf_search ranks.  An empty
 * text matches nothing.  limit <= 0: all.  *out is owned.
 */
SHELF_API int shelf_catalog_search(shelf_library *lib, const char *text,
                                   int64_t limit, int64_t offset, shelf_cursor **out);

/* The exact number of samples shelf_catalog_search would return without
 * limit (shelf_search's total with count_limit -1). */
SHELF_API int shelf_catalog_search_count(shelf_library *lib, const char *text,
                                         int64_t *count);

/* Fetch one sample by id into a cursor positioned on it, or SHELF_ENOTFOUND. */
SHELF_API int shelf_catalog_get(shelf_library *lib, int64_t id, shelf_cursor **out,
                                const shelf_sample **row);

/*
 * Find the id of the sample at path (any path naming the file: relative,
 * absolute, through symlinks) or SHELF_ENOTFOUND.
 */
SHELF_API int shelf_catalog_find_path(shelf_library *lib, const char *path, int64_t *id);

/*
 * The file a sample's bytes are read from: its managed copy in the store
 * (DIR/objects/...) when it has one, else root/relpath.  s is a row from
 * this library (a cursor's or shelf_catalog_get's).  The file need not
 * exist (s->missing says what the last scan found).  *out is owned (free
 * with shelf_free), NULL on failure.  Errors: SHELF_EINVAL (a row with
 * neither a copy nor a root, or a malformed copy name), SHELF_ENOMEM.
 */
SHELF_API int shelf_catalog_path(shelf_library *lib, const shelf_sample *s, char **out);

/*
 * The waveform overview of sample id: n buckets (SHELF_PEAKS_MIN to
 * SHELF_PEAKS_MAX) of its frames, lo[i] and hi[i] the least and greatest
 * value over every channel in bucket i (-1..1).  Decoded with libsndfile
 * once, then read from the library's cache (cache/peaks/, by the bytes'
 * SHA-256 and n; doc/formats.md, "Peaks cache"), so a sample whose file is
 * gone or archived still has them once they were made.  *cached (may be
 * NULL) is 1 when they came from the cache.  Errors: SHELF_ENOTFOUND (no
 * such sample, or its file is gone and nothing is cached), SHELF_EFORMAT
 * (libsndfile cannot decode it), SHELF_EINVAL, SHELF_EIO, SHELF_ENOMEM.
 */
#define SHELF_PEAKS_MIN 16
#define SHELF_PEAKS_MAX 4000
SHELF_API int shelf_sample_peaks(shelf_library *lib, int64_t id, int n, float *lo, float *hi, int *cached);

/* The name of MIDI note key as the catalog and the query language write it
 * (C4 = 60: "C#3", "A-1"), in buf; "-" when key is not 0..127. */
SHELF_API const char *shelf_note_name(int key, char buf[8]);

/* Count samples: all, and those marked missing.  Either may be NULL. */
SHELF_API int shelf_catalog_count(shelf_library *lib, int64_t *total, int64_t *missing);

/*
 * Tags.  A tag is 1..64 bytes of UTF-8 without spaces or control characters,
 * compared without case.  Adding a tag the item has, or removing one it has
 * not, is not an error.  SHELF_ENOTFOUND when there is no such sample.
 */
SHELF_API int shelf_tag_add(shelf_library *lib, int64_t id, const char *tag);
SHELF_API int shelf_tag_remove(shelf_library *lib, int64_t id, const char *tag);

/* Set a rating 0..5 (0 clears it). */
SHELF_API int shelf_rate(shelf_library *lib, int64_t id, int rating);

/* Mark (on = 1) or unmark (on = 0) a favourite. */
SHELF_API int shelf_favourite(shelf_library *lib, int64_t id, int on);

/* Record that a sample was auditioned or loaded now (sets last_used). */
SHELF_API int shelf_touch(shelf_library *lib, int64_t id);

/*
 * Remove a sample from the catalog with its tags, rating and favourite.
 * A referenced file is left alone; a managed blob that no other row uses is
 * deleted, when the exclusive lock can be had at once (else gc deletes it
 * later).  SHELF_ENOTFOUND when there is no such sample; SHELF_EINUSE
 * when patches or projects use it (see shelf_refs), unless flags has
 * SHELF_REMOVE_FORCE (their documents keep the reference by hash).
 */
#define SHELF_REMOVE_FORCE 0x1
SHELF_API int shelf_catalog_remove(shelf_library *lib, int64_t id, int flags);

#endif /* SHELF_CATALOG_H */
