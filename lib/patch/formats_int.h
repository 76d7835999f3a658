/*
 * formats_int.h: the patch importers (SFZ, Hydrogen drumkit.xml,
 * ZynAddSubFX/Yoshimi .xiz, LMMS .xpf, Decent Sampler .dspreset) that turn
 * the files musicians already own into patch documents (format 1 of
 * doc/documents.md), and the SFZ exporter.  The first part is the API the
 * rest of the library calls; the second, the helpers the format files
 * (lib/patch/sfz.c, sfz_export.c, xmlpatch.c, fmt_*.c) share.
 *
 * Mappings worth knowing (details in each file's opening comment):
 *  - SFZ: region opcodes after inheritance (global -> master -> group ->
 *    region); lokey/hikey/key -> key, pitch_keycenter -> root, lovel/hivel
 *    -> vel, seq_position -> rr, loop_* -> loop, region_label -> zone name,
 *    group_label -> zone group, the rest -> zone params.  Built-in
 *    generators (sample=*sine) become zones whose sample path is "*sine"
 *    and is marked missing.
 *  - Hydrogen: one zone per layer; instrument i (0-based, in list order)
 *    plays MIDI note 36 + i (General MIDI drums start at 36, bass drum).
 *  - LMMS: the root note is LMMS's basenote + 12 (LMMS counts from C0).
 */
#ifndef SHELF_FORMATS_INT_H
#define SHELF_FORMATS_INT_H

#include <jansson.h>
#include "../common/common_int.h"

enum { SHELF__PF_UNKNOWN = 0, SHELF__PF_SFZ, SHELF__PF_HYDROGEN, SHELF__PF_ZYN, SHELF__PF_LMMS,
       SHELF__PF_DSPRESET };

/* Files (and the sum of an SFZ file and its includes, and gunzipped .xiz
 * data) larger than this are refused. */
#define SHELF__PF_MAX_BYTES ((size_t)64 << 20)
/* At most this many zones in one patch. */
#define SHELF__PF_MAX_ZONES 1000000
/* Nesting of SFZ #include files. */
#define SHELF__PF_MAX_INCLUDE_DEPTH 16
/* Nesting of parameter groups made from XML elements (the document's own
 * limit is 32 levels in all). */
#define SHELF__PF_MAX_XML_DEPTH 28

/* Format from the file name (.sfz, drumkit.xml, .xiz, .xpf, .dspreset),
 * else SHELF__PF_UNKNOWN.  Case-insensitive. */
int shelf__patch_format_of(const char *path);

/* The format's short name as used in source.format: "sfz", "hydrogen",
 * "zyn", "lmms", "decentsampler"; NULL for an unknown format. */
const char *shelf__patch_format_name(int format);

/*
 * Parse the file at path (format 0 = guess from the name) into a new patch
 * document (*out, owned: json_decref), format 1 of doc/documents.md, with
 * "source".  Zone sample paths are made absolute and normalised (against
 * the file's folder, SFZ default_path, LMMS factory sample folders...).
 * When a referenced sample file does not exist the zone keeps the path as
 * resolved best-effort and gets "missing": true inside "sample".
 * Errors: SHELF_EFORMAT for malformed input, with err->msg "FILE:LINE:
 * reason" (line where known, e.g. "piano.sfz:12: unknown header
 * <regoin>"); SHELF_ENOTFOUND/SHELF_EIO/SHELF_EPERM for unreadable files
 * ("cannot read 'FILE': no such file or directory"); SHELF_EINVAL for an
 * unknown format; SHELF_ENOMEM.  *out is NULL on failure.  Thread-safe.
 */
int shelf__patch_parse(const char *path, int format, json_t **out, shelf__err *err);

/*
 * The same from memory; name is used in messages and source.file; dir is
 * the folder that relative paths and SFZ #include resolve against, or NULL
 * to refuse #include (fuzzing): relative sample paths then stay relative
 * and are marked missing, and nothing is looked up on disk.
 */
int shelf__patch_parse_mem(const void *data, size_t n, int format, const char *name,
                           const char *dir, json_t **out, shelf__err *err);

/*
 * Write doc as an SFZ file at sfz_path, copying every zone's sample
 * (zone.sample.path, an absolute path of an existing file, as its bytes:
 * the caller resolved it, so not the text a stored document holds; a relative path
 * is written as it is and nothing is copied) into the folder
 * "<stem> samples" next to it (names made unique and safe for SFZ) and
 * referring to it by relative path.  Everything is written to temporary
 * names and renamed into place (an older folder of the same name is
 * replaced), so a failure leaves no partial .sfz.  Zones are written in
 * the order of their ids; key, root, vel, rr, loop, name (region_label),
 * group (group_label) and the zone params that are SFZ opcodes (after
 * conversion to SFZ units, see sfz_export.c) become opcodes, shared ones
 * under <global> and <group>; params "control" of an imported SFZ becomes
 * <control>.
 * Errors: SHELF_EINVAL (not a patch, a zone without a usable sample path,
 * a name not ending in .sfz), SHELF_EFORMAT (no zones: a synthesizer),
 * SHELF_ENOTFOUND (a sample is missing), SHELF_EIO/SHELF_EPERM, SHELF_ENOMEM.
 */
int shelf__patch_export_sfz(const json_t *doc, const char *sfz_path, shelf__err *err);

/* Whether name is an SFZ opcode of sfzformat.com (with any numbers, and
 * the _onccN, _curveccN, _smoothccN, _stepccN, ccN modulations of one);
 * the list is in sfz_opcodes.c. */
int shelf__sfz_is_opcode(const char *name);
/* The number of entries of that list (for its test). */
size_t shelf__sfz_opcode_count(void);

/* ---- Shared by the format files --------------------------------------- */

/* One parse: where relative paths go and what errors say. */
typedef struct shelf__pf_ctx {
    const char *name;   /* file name for messages and source.file */
    const char *dir;    /* folder of the file, or NULL (see parse_mem) */
    shelf__err *err;
    int zones;          /* zones made so far */
    int line_offset;    /* lines skipped before the text given to the XML parser */
    json_t *dirs;       /* folder as written -> with symbolic links resolved (a cache) */
    json_t *files;      /* sample path as joined -> [resolved, is a file] (a cache) */
} shelf__pf_ctx;

/* Read a whole file (at most max bytes) into *data (owned, NUL-terminated). */
int shelf__pf_read_file(const char *path, size_t max, char **data, size_t *n, shelf__err *err);

/* A new patch document with shelf_patch 1 and source {format, file}. */
int shelf__pf_new_doc(const shelf__pf_ctx *cx, int format, json_t **out);

/* Set doc.name to name, or the stem of cx->name when name is NULL or empty
 * (then "untitled"). */
int shelf__pf_set_name(const shelf__pf_ctx *cx, json_t *doc, const char *name);

/* Set doc[key] to the string s (Latin-1 turned into UTF-8 when s is not
 * UTF-8; cut at 65536 bytes); nothing when s is NULL or empty. */
int shelf__pf_set_text(json_t *obj, const char *key, const char *s);

/* A JSON string of s[0..n) (Latin-1 when not UTF-8); NULL on no memory. */
json_t *shelf__pf_string(const char *s, size_t n);

/* s as an integer (whole text a decimal integer that fits), a real
 * (strtod, finite), a string otherwise. */
json_t *shelf__pf_value(const char *s);

/* Parse a whole decimal integer; 0 on success. */
int shelf__pf_int(const char *s, long long *out);

/* Add the zone z (stolen) to doc.zones with the next id (z0001, ...). */
int shelf__pf_add_zone(shelf__pf_ctx *cx, json_t *doc, json_t *z);

/*
 * Set zone.sample from a path as written in the file: '\' becomes '/', a
 * relative path is joined to base (the folder it is relative to, NULL for
 * cx->dir) and normalised; "missing": true when no regular file is there.
 * With more_bases (NULL-terminated, may be NULL), a relative path is tried
 * against base and then each of them; the first that exists wins, else base.
 */
int shelf__pf_zone_sample(shelf__pf_ctx *cx, json_t *zone, const char *path, const char *base,
                          const char *const *more_bases);

/* A [lo, hi] array. */
json_t *shelf__pf_range(long long lo, long long hi);

/* Inflate gzip data (or return a copy when it is not gzip) of at most max
 * bytes into *out (owned, NUL-terminated). */
int shelf__pf_gunzip(const shelf__pf_ctx *cx, const void *in, size_t n, size_t max, char **out,
                     size_t *outn);

/* The parsers of each format (cx->name/dir/err set; *out a new patch). */
int shelf__sfz_parse(shelf__pf_ctx *cx, const char *text, size_t n, json_t **out);
int shelf__xml_patch_parse(shelf__pf_ctx *cx, int format, const char *data, size_t n,
                           json_t **out);

#endif /* SHELF_FORMATS_INT_H */
