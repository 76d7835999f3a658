/*
 * par2_int.h: PAR2 recovery files (Parity Volume Set Specification 2.0)
 * that stock par2cmdline verifies and repairs with: a streaming encoder
 * (the archive writer feeds it the bytes it writes, in one pass), and
 * verify and repair of a set, whoever wrote it.
 *
 * What is written for a data file NAME (the name recorded in the set) and an
 * output base OUT (see doc/formats.md, "PAR2 recovery files"):
 *
 *   OUT.par2                 main, file description, input file slice
 *                            checksum (MD5 + CRC32 per slice) and creator
 *                            packets; no recovery data
 *   OUT.vol000+001.par2 ...  recovery slice packets in files of 1, 2, 4, 8
 *                            ... slices (par2cmdline's names: first
 *                            exponent + count), each with a copy of the
 *                            main, file description, checksum and creator
 *                            packets
 *
 * The data file is found next to the .par2 files under NAME, as
 * par2cmdline expects: `par2 verify OUT.par2` in that folder checks it.
 */
#ifndef SHELF_PAR2_INT_H
#define SHELF_PAR2_INT_H

#include <stddef.h>
#include <stdint.h>
#include "../common/common_int.h"

#define SHELF__PAR2_MAX_SLICES 32768u       /* input slices, by the spec */
#define SHELF__PAR2_MAX_RECOVERY 65535u     /* distinct exponents 0..65534 */
#define SHELF__PAR2_DEFAULT_SLICES 2000u    /* par2cmdline's default block count */

/* ---- encoding ---------------------------------------------------------------- */

typedef struct shelf__par2_params {
    double redundancy;      /* percent of the input slices (10 = 10%); used when
                               nrecovery is 0; at least one slice when > 0 */
    uint32_t nrecovery;     /* exact number of recovery slices (0: from redundancy) */
    uint64_t slice_size;    /* a multiple of 4; 0: about 2000 slices for the
                               expected size, as par2cmdline chooses */
    int threads;            /* worker threads; 0: one per online CPU (at most 8) */
    int sync;               /* fsync the files before renaming them into place */
    const char *kernel;     /* GF(2^16) kernel by name (gf16_int.h); NULL: the fastest */
    const char *data;       /* verify, repair: the data file to check (a renamed or copied
                               archive) instead of the one of the recorded name beside the
                               .par2; it stands for the set's file of its first-16-KiB MD5,
                               else for the set's only file */
} shelf__par2_params;

typedef struct shelf__par2_enc shelf__par2_enc;

/*
 * Start encoding one file, recorded in the set as name (a relative name:
 * the data file must sit at OUT's folder/name for par2cmdline to find it).
 * expected_size fixes the slice size (when params->slice_size is 0) and the
 * number of recovery slices; the bytes fed may differ from it as long as
 * they fit in SHELF__PAR2_MAX_SLICES slices.  params may be NULL (10%).
 *
 * Memory: the recovery data (nrecovery x slice size) plus up to 64 MiB of
 * input buffers.  Errors: SHELF_EINVAL (bad name or parameters), SHELF_ENOMEM.
 * On failure *out is NULL.  An encoder is used by one thread at a time; it
 * runs its own worker threads.
 */
int shelf__par2_enc_new(const char *name, uint64_t expected_size,
                        const shelf__par2_params *params, shelf__par2_enc **out,
                        shelf__err *err);

/* Feed the next n bytes of the file (any chunking).  Errors: SHELF_EINVAL
 * (more than SHELF__PAR2_MAX_SLICES slices), SHELF_ENOMEM. */
int shelf__par2_enc_update(shelf__par2_enc *enc, const void *data, size_t n, shelf__err *err);

/*
 * End the input and write out_base.par2 and the out_base.volA+B.par2 files
 * (each written under a temporary name in the same folder, then renamed).
 * Errors: SHELF_EIO and the errno mapped codes, SHELF_ENOMEM.  The encoder
 * can only be freed afterwards, whatever the result.
 */
int shelf__par2_enc_finish(shelf__par2_enc *enc, const char *out_base, shelf__err *err);

/* The slice size and recovery count chosen (valid after _new). */
uint64_t shelf__par2_enc_slice_size(const shelf__par2_enc *enc);
uint32_t shelf__par2_enc_nrecovery(const shelf__par2_enc *enc);

/* Free an encoder (NULL is ignored); stops its threads. */
void shelf__par2_enc_free(shelf__par2_enc *enc);

/* ---- the packets of a set, as read ------------------------------------------ */

/* A file of the recovery set. */
typedef struct shelf__par2_file {
    uint8_t id[16];
    uint8_t md5[16];            /* of the whole file */
    uint8_t md5_16k[16];        /* of its first 16 KiB */
    uint64_t size;
    char *name;                 /* as recorded, trailing NULs dropped (owned) */
    uint8_t *ifsc;              /* nslices x (MD5[16] + CRC32[4] little-endian);
                                   NULL when no checksum packet was found */
    uint32_t nslices;           /* ceil(size / slice size) */
    uint32_t first;             /* index of its first slice in the set */
    int have_desc;              /* a file description packet was found */
} shelf__par2_file;

/* Where one recovery slice's data lies. */
typedef struct shelf__par2_rslice {
    uint32_t exponent;
    uint32_t source;            /* index into the set's sources (files read) */
    uint64_t offset;            /* of the slice data in that file */
} shelf__par2_rslice;

typedef struct shelf__par2_set shelf__par2_set;

struct shelf__par2_set {
    /* Filled by shelf__par2_set_resolve: */
    uint8_t set_id[16];
    uint64_t slice_size;
    uint32_t nfiles;            /* files of the recovery set, in main packet order */
    shelf__par2_file *files;
    uint32_t nslices;           /* input slices of all files */
    uint32_t nrecovery;         /* distinct usable recovery slices */
    shelf__par2_rslice *rec;    /* sorted by exponent */
    char *creator;              /* the first creator packet's text, or NULL */
    /* Counts while scanning: */
    uint32_t packets_ok;        /* packets whose MD5 matched */
    uint32_t packets_bad;       /* packet headers whose packet was damaged, skipped */
    uint32_t packets_unknown;   /* valid packets of types not used here */
    uint32_t nsources;
    void *priv;                 /* packets kept while scanning */
};

int shelf__par2_set_new(shelf__par2_set **out);
void shelf__par2_set_free(shelf__par2_set *set);

/*
 * Add the packets found in a buffer (one .par2 file held in memory) as
 * source number set->nsources (then incremented).  Damaged packets are
 * skipped and counted; the search for the next packet resumes at the next
 * "PAR2\0PKT".  Errors: SHELF_ENOMEM only.
 */
int shelf__par2_set_scan_mem(shelf__par2_set *set, const void *data, size_t n);

/*
 * Choose the recovery set (the one of the first intact main packet) and
 * check that its packets agree: every file of the recovery set described,
 * at most SHELF__PAR2_MAX_SLICES slices, checksum packets of the right
 * length, recovery slices of the slice size.  Errors: SHELF_EFORMAT (no
 * main packet, a file without description, too many slices, an unsafe
 * name: absolute, "..", empty component, NUL), SHELF_ENOMEM.
 */
int shelf__par2_set_resolve(shelf__par2_set *set, shelf__err *err);

/* ---- verify and repair -------------------------------------------------------- */

/* What verify found for one file of the set. */
typedef struct shelf__par2_file_report {
    char *name;                 /* as recorded in the set (owned) */
    char *path;                 /* where it was looked for (owned) */
    uint64_t size;              /* size recorded in the set */
    uint64_t found_size;        /* size on disk (0 when missing) */
    int missing;                /* no such file */
    int intact;                 /* exactly the recorded bytes */
    uint32_t first, nslices;    /* its slices in the set */
    uint32_t nbad;              /* damaged or missing slices */
    uint32_t *bad;              /* their indices within the file, ascending (owned) */
} shelf__par2_file_report;

typedef struct shelf__par2_report {
    uint64_t slice_size;
    uint32_t nfiles;
    shelf__par2_file_report *files;
    uint32_t nslices;           /* input slices in the set */
    uint32_t bad_slices;        /* damaged or missing, all files */
    uint32_t nrecovery;         /* usable recovery slices found */
    uint32_t packets_bad;       /* damaged packets skipped */
    int damaged;                /* some file is not exactly as recorded */
    int repairable;             /* bad_slices <= nrecovery */
    int repaired;               /* set by shelf__par2_repair */
    int by_content;             /* params->data matched a file of the set by its
                                   first-16-KiB MD5 (the PAR2 file id's content part) */
} shelf__par2_report;

/* Release what a report owns (the struct itself is the caller's). */
void shelf__par2_report_release(shelf__par2_report *rep);

/*
 * Verify the data files of the set that par2_path (any .par2 file of it)
 * belongs to: every OUT*.par2 file beside it is read (OUT is par2_path
 * without ".par2" and a ".volA+B" or ".volA-B"), damaged packets skipped,
 * and each data file is checked slice by slice against the MD5 and CRC32
 * recorded for it.  rep (may be NULL) receives, for each file, exactly
 * which slices are damaged or missing, which with the slice size gives the
 * byte ranges: slice i covers [i * slice_size, min((i + 1) * slice_size,
 * size)).  A file longer than recorded is damaged but has no bad slice
 * (repair cuts it).
 *
 * Returns SHELF_OK when every file is intact, SHELF_ECORRUPT when one is
 * not (the message says how many slices are bad and whether repair can
 * fix them), SHELF_EFORMAT (no usable set), SHELF_ENOTFOUND (no such par2
 * file), SHELF_EIO, SHELF_ENOMEM.  rep is filled whenever the set could be
 * read; release it with shelf__par2_report_release in every case.
 */
int shelf__par2_verify(const char *par2_path, const shelf__par2_params *params,
                       shelf__par2_report *rep, shelf__err *err);

/*
 * Verify, then rebuild the damaged and missing slices from the recovery
 * slices (Gaussian elimination over GF(2^16) on the rows of the missing
 * slices), write each damaged file whole under a temporary name, check its
 * MD5 against the file description and rename it over the damaged one.
 * Returns SHELF_OK when the files are intact (already, or now: rep->
 * repaired), SHELF_ECORRUPT when there are fewer recovery slices than
 * damaged ones (nothing is written), and verify's other errors.  params
 * may be NULL.
 */
int shelf__par2_repair(const char *par2_path, const shelf__par2_params *params,
                       shelf__par2_report *rep, shelf__err *err);

/*
 * Does the set of the .par2 file par2_path (only that file is read, not
 * its volumes) describe the file data by content: a file of the set with
 * data's first-16-KiB MD5, or of its size with most of 32 slices spread
 * over it matching their checksums?  *match 1 or 0.  Errors: SHELF_EFORMAT
 * (no usable set in it), SHELF_EIO and the errno mapped codes, SHELF_ENOMEM.
 */
int shelf__par2_describes(const char *par2_path, const char *data, int *match, shelf__err *err);

#endif /* SHELF_PAR2_INT_H */
