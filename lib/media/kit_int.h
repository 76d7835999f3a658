/*
 * kit_int.h: reading Hydrogen drum kits (drumkit.xml), so the samples of a
 * kit can be found by the kit's name, author and instrument names.
 */
#ifndef SHELF_KIT_INT_H
#define SHELF_KIT_INT_H

#include "../common/common_int.h"

/* Documents larger than this are refused (real kits are under 64 KiB). */
#define SHELF__KIT_MAX_BYTES ((size_t)16 << 20)

/* What a drumkit.xml says about the whole kit.  Strings are UTF-8. */
typedef struct shelf__kit {
    char *name;      /* <drumkit_info><name>, trimmed; "" when absent, never NULL */
    char *author;    /* <author>, trimmed; NULL when absent or empty */
    char *license;   /* <license> (or the spelling <licence>); NULL likewise */
} shelf__kit;

/*
 * Called once for each non-empty <filename> of an instrument, in document
 * order, on the thread that called shelf__kit_parse and only after the whole
 * document has been read (so a failed parse never calls it).  file is the
 * element's text exactly as written, untrimmed: in the kits Hydrogen writes,
 * a name relative to the kit's folder ("Kick-0.wav", "VP Kick 1.flac"), but
 * nothing stops a hand-made kit from holding an absolute path or "../".  The
 * same file may be reported more than once (used by several layers or
 * instruments).  instrument is the instrument's <name>, trimmed ("" when it
 * has none).  kit, instrument and file are borrowed for the call only.
 */
typedef void (*shelf__kit_file_cb)(void *ud, const shelf__kit *kit, const char *instrument,
                                   const char *file);

/*
 * Parse a drumkit.xml held in memory (xml[0..n)) and call cb (when not NULL)
 * for each sample file of the kit.  Both layouts are read: <filename>
 * directly in <instrument> (Hydrogen before 0.9.4), and inside <layer>,
 * alone or in <instrumentComponent> (later).  Elements are matched by local
 * name, so a default namespace (xmlns="http://www.hydrogen-music.org/
 * drumkit") changes nothing.
 *
 * For safety the document must not declare entities (no DTD is ever loaded,
 * nothing is fetched from the network or the file system) and must be at
 * most SHELF__KIT_MAX_BYTES.
 *
 * Returns SHELF_OK; SHELF_EFORMAT with a one-line reason in reason ("not a
 * Hydrogen drumkit: root element is 'x'", "drumkit.xml: XML error at line 3:
 * ...", "drumkit.xml: entity declarations are not allowed (line 2)"); or
 * SHELF_ENOMEM.  reason (may be NULL) is set to "" on success.  Safe to call
 * from several threads at once.
 */
int shelf__kit_parse(const void *xml, size_t n, shelf__kit_file_cb cb, void *ud,
                     char *reason, size_t reason_size);

#endif /* SHELF_KIT_INT_H */
