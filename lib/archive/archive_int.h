/*
 * archive_int.h: the pieces of lib/archive shared between its files: BagIt
 * text (bagit.c: manifest lines, percent-encoding, bag-info, name checks,
 * a string set) and the reader of archives from strangers (archive_read.c:
 * one pass through libarchive that refuses unsafe entries, hashes every
 * file, optionally unpacks the payload into a staging folder, then checks
 * the manifests).  The reader works from a file or from memory (the fuzz
 * target).
 */
#ifndef SHELF_ARCHIVE_INT_H
#define SHELF_ARCHIVE_INT_H

#include <stddef.h>
#include <stdint.h>
#include "../common/common_int.h"
#include "par2_int.h"

#define SHELF__SHA512_BYTES 64

/* ---- export_all.c (shelf export-all) -------------------------------------- */

/* Where the extra members go: text(name, text) and file(name, src) take
 * name and text (freed on failure too; NULL ones are out of memory); src
 * is copied.  tables counts the tables written. */
typedef struct shelf__export_sink {
    int (*text)(void *ud, char *name, char *text);
    int (*file)(void *ud, char *name, const char *src);
    void *ud;
    uint64_t tables;
} shelf__export_sink;
/* The catalog copied (a consistent copy, secrets out) to *copy, a temp file
 * the caller removes; its tables as CSV and JSON, the settings and the
 * README, handed to k. */
int shelf__export_all(shelf_library *lib, shelf__export_sink *k, char **copy);

/* ---- bagit.c ------------------------------------------------------------ */

/* Append "<hex> <path>\n" with path percent-encoded as RFC 8493 asks
 * (CR, LF and % as %0D %0A %25). */
int shelf__bag_manifest_line(shelf__buf *b, const uint8_t *hash, size_t n, const char *path);

/*
 * Parse one manifest of hashes of hash_len bytes.  For each line cb gets the
 * decoded path and the hash bytes; a non-zero return stops and is returned.
 * SHELF_EFORMAT with a one-line message for a malformed line (bad hex,
 * wrong length, no path, an unsafe path).
 */
typedef int (*shelf__bag_line_cb)(void *ud, const char *path, const uint8_t *hash);
int shelf__bag_manifest_parse(const char *text, size_t len, size_t hash_len,
                              shelf__bag_line_cb cb, void *ud, shelf__err *err);

/* The value of label in bag-info.txt text (first occurrence, trimmed) in
 * *out, owned, or NULL when absent: SHELF_OK, or SHELF_ENOMEM (so a lack
 * of memory does not read as a missing label). */
int shelf__bag_info_get(const char *text, size_t len, const char *label, char **out);

/*
 * Check a path inside an archive as a stranger wrote it.  Returns NULL when
 * it is a safe relative name (no leading '/', no "." or ".." or empty
 * component, no backslash, no control character, at most 4096 bytes and
 * 255 per component), else a static reason.
 */
const char *shelf__bag_name_unsafe(const char *path);

/* A set of strings (open addressing); with fold, compared without ASCII case. */
typedef struct shelf__strset {
    char **slot;
    size_t cap, n;
    int fold;
} shelf__strset;
/* Add s (copied): 1 when added, 0 when already there (*found: the stored
 * string, borrowed), SHELF_ENOMEM. */
int shelf__strset_add(shelf__strset *s, const char *str, const char **found);
int shelf__strset_has(const shelf__strset *s, const char *str);
void shelf__strset_release(shelf__strset *s);

/* Hash two algorithms at once (OpenSSL EVP). */
typedef struct shelf__hash2 shelf__hash2;
shelf__hash2 *shelf__hash2_new(void);
void shelf__hash2_update(shelf__hash2 *h, const void *data, size_t n);
void shelf__hash2_final(shelf__hash2 *h, uint8_t sha256[SHELF_HASH_BYTES],
                        uint8_t sha512[SHELF__SHA512_BYTES]);
void shelf__hash2_free(shelf__hash2 *h);

/* ---- archive_read.c -------------------------------------------------------- */

typedef struct shelf__bag_limits {
    uint64_t max_bytes;         /* total unpacked */
    uint64_t max_files;
    double max_ratio;
    uint64_t ratio_after;       /* bytes unpacked before the ratio counts */
    size_t max_tag;             /* largest tag file kept in memory */
    uint64_t disk_bytes;        /* staging: room on the disk for the payload (0: unchecked);
                                   more is "no space left on device", not unsafe */
    const char *disk_path;      /* that disk's folder (messages) */
} shelf__bag_limits;

/* Fill l from the public limits (NULL: the defaults). */
void shelf__bag_limits_init(shelf__bag_limits *l, const void *pub_limits);

typedef struct shelf__bag_file {
    char *path;                 /* relative to the bag's base: "data/...", "bagit.txt" */
    uint64_t size;
    uint8_t sha256[SHELF_HASH_BYTES];
    uint8_t sha512[SHELF__SHA512_BYTES];
    char *text;                 /* tag files (outside data/): the bytes, NUL-terminated */
    char *staged;               /* payload unpacked: its absolute path (owned) */
    int listed;                 /* seen in a payload manifest (check) */
} shelf__bag_file;

/* A problem found by shelf__bag_check (kind: SHELF_ARCHIVE_MISSING ...). */
typedef struct shelf__bag_problem {
    int kind;
    char *path;
    char *detail;
} shelf__bag_problem;

typedef struct shelf__bag {
    char *base;                 /* the single top folder's name */
    shelf__bag_file *files;
    size_t nfiles, cap;
    uint64_t payload_bytes, payload_files;
    shelf__bag_problem *problems;
    size_t nproblems, pcap;
    int truncated;              /* reading stopped at damage (message in err) */
    char *truncated_msg;
} shelf__bag;

void shelf__bag_release(shelf__bag *bag);
/* The file at path (relative to the base), or NULL. */
shelf__bag_file *shelf__bag_find(shelf__bag *bag, const char *path);

typedef int (*shelf__bag_progress_cb)(void *ud, uint64_t files, uint64_t bytes, const char *cur);

/*
 * Read an archive from a file (path) or from memory (data, n; path NULL):
 * every entry's name and type checked, every file hashed; with stage (a
 * private folder the caller made) the payload is written under it as
 * stage/<path>.  Unsafe entries and limit breaches fail at once with
 * SHELF_EFORMAT ("unsafe archive: ..."); damage that stops the reading
 * (truncation, a broken compressed stream) sets bag->truncated and returns
 * SHELF_OK with what was read, so the check can say what is lost.
 */
int shelf__bag_read(const char *path, const void *data, size_t n, const shelf__bag_limits *lim,
                    const char *stage, shelf__bag_progress_cb progress, void *ud,
                    shelf__bag *bag, shelf__err *err);

/*
 * Check what was read: bagit.txt, every manifest-<alg>.txt (sha256, sha512)
 * against the files, files in no manifest, Payload-Oxum, tag manifests.
 * Problems are appended to bag->problems.  Returns SHELF_OK when intact,
 * SHELF_ECORRUPT when there are problems, SHELF_EFORMAT when it is no bag
 * (no bagit.txt, no usable manifest, a fetch.txt), SHELF_ENOMEM.
 */
int shelf__bag_check(shelf__bag *bag, shelf__err *err);

/*
 * The bag's signature (doc/formats.md, "Archive signature") into sig:
 * state NONE when it has no shelf-signature.json; else what
 * shelf__sig_check says of it over tagmanifest-sha256.txt (SHELF_EFORMAT
 * for a signed bag without that manifest).
 */
int shelf__bag_signature(shelf__bag *bag, shelf_signature *sig, shelf__err *err);

/* ---- archive.c ------------------------------------------------------------- */

/*
 * Verify the PAR2 set of an archive, with the file at path as its data file
 * whatever name the set recorded: path.par2 when its set describes this
 * file (by content, by name, or with a slice of it intact), else a set
 * beside it that describes it by content (size and first-16-KiB MD5).
 * When there is one: *found 1, rep filled (release it in every case) and
 * *used (may be NULL) the .par2 file (owned).  Returns what
 * shelf__par2_verify returns, or SHELF_OK when there is no set.
 */
int shelf__archive_parity(const char *path, shelf__par2_report *rep, int *found, char **used, shelf__err *err);

/*
 * Parse an export-media index (DIR/index, doc/formats.md) held in memory;
 * *entries receives the number of entries read.  SHELF_EFORMAT with a
 * one-line reason for anything that is not a valid index.  For the fuzzer.
 */
int shelf__media_index_parse(const void *data, size_t n, size_t *entries, shelf__err *err);

/* One line of an export-media index. */
typedef struct shelf__media_entry {
    char *path;                 /* SHARD/FILE, relative to the folder */
    char sha256[SHELF_HASH_HEX];
    uint64_t size;
    int64_t id;                 /* the sample it was */
} shelf__media_entry;
/* The entries of dir/index (checked as parse does): SHELF_ENOTFOUND when
 * there is none, SHELF_EFORMAT; free with shelf__media_entries_free. */
int shelf__media_index_load(shelf_library *lib, const char *dir, shelf__media_entry **out, size_t *n);
void shelf__media_entries_free(shelf__media_entry *v, size_t n);

/* ---- archive_remote.c ------------------------------------------------------- */

/* What shelf__archive_send does with a file of the same name in the target. */
enum {
    SHELF__UPLOAD_CREATE = 0,   /* fail with SHELF_EEXIST (shelf_archive_upload) */
    SHELF__UPLOAD_RESUME = 1,   /* keep it when it has the size of ours, else replace it */
    SHELF__UPLOAD_REPLACE = 2   /* replace it */
};
/* shelf_archive_upload with a mode; the message on failure in *e. */
int shelf__archive_send(const char *path, const char *target, const shelf_transfer_opts *o, int mode,
                        unsigned *nfiles, shelf__err *e);

/* ---- project.c ------------------------------------------------------------- */

/* DIR/project-archive/: a run's folder ID/ and lock ID.lock per project. */
#define SHELF__PARCHIVE_DIR "project-archive"
/* 1 when a process archives or brings back project now (its lock is held). */
int shelf__project_archive_running(shelf_library *lib, int64_t project);

#endif /* SHELF_ARCHIVE_INT_H */
