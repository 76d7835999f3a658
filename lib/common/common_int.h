/*
 * common_int.h: helpers shared by every module of libshelf: errors,
 * allocation, hashing, paths, time.  Nothing here knows about the catalog.
 */
#ifndef SHELF_COMMON_INT_H
#define SHELF_COMMON_INT_H

#include <jansson.h>
#include <locale.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include "shelf/shelf.h"

/* The message of the last failure, kept on every handle. */
typedef struct shelf__err {
    int rc;
    char msg[1024];
} shelf__err;

/* Set e to rc with a printf-style message; returns rc. */
int shelf__seterr(shelf__err *e, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Same, appending ": <strerror(errno_value)>", with rc chosen from errno. */
int shelf__seterr_errno(shelf__err *e, int errno_value, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/*
 * Same, from the last error of SQLite connection db, appending ": <reason>".
 * A full disk (SQLITE_FULL, or an SQLITE_IOERR whose errno is ENOSPC or
 * EDQUOT) reads ": cannot write 'path': no space left on device", another
 * I/O error with an errno ": cannot access 'path': <errno>", so every command
 * names the file and the cause rather than SQLite's "disk I/O error"; a file
 * SQLite cannot open ": <errno>" (fmt names it).  rc: SHELF_EBUSY,
 * SHELF_ENOMEM, SHELF_EPERM, SHELF_EIO or SHELF_EDB.
 */
struct sqlite3;
int shelf__seterr_sqlite(shelf__err *e, struct sqlite3 *db, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/*
 * The one rule for public option structs that start with "size_t size"
 * (the caller's sizeof): copy the caller's struct src (NULL: defaults,
 * all zero) into dst, a struct of this version (known bytes), so the code
 * reads dst's fields without asking which ones the caller had.  A size
 * below min (the size of the struct's first published version) is
 * SHELF_EINVAL; fields the caller's older struct lacks are zero; a size
 * above known (a newer caller) is accepted only when every byte this
 * version does not know is zero, so no option is ever dropped in silence
 * (Linux's copy_struct_from_user).  dst->size becomes known.  what names
 * the struct in e's message.  SHELF_OK or SHELF_EINVAL.
 */
int shelf__opts_check(shelf__err *e, void *dst, size_t known, const void *src, size_t min,
                      const char *what);
/*
 * The one rule for public structs the library fills that start with
 * "size_t size" (set by the caller to its sizeof): copy the first
 * min(size, known) bytes of src, this version's struct of known bytes, into
 * dst, and set dst->size to that count.  Bytes of a newer caller's struct
 * past known stay as the caller left them; a size below sizeof(size_t)
 * (not set), or a NULL dst (not wanted), writes nothing.  Returns the
 * count written.
 */
size_t shelf__out_fill(void *dst, const void *src, size_t known);
/* Map an errno value to a SHELF_E code. */
int shelf__errno_rc(int errno_value);
/* A short lowercase description of errno_value ("permission denied"). */
const char *shelf__errno_str(int errno_value);

/*
 * Allocation.  Every allocation of the library goes through these, so tests
 * can fail the Nth one (shelf__alloc_fail_after).
 */
void *shelf__malloc(size_t n);
void *shelf__calloc(size_t n, size_t size);
void *shelf__realloc(void *p, size_t n);
char *shelf__strdup(const char *s);
char *shelf__strndup(const char *s, size_t n);
char *shelf__asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Make the Nth allocation from now fail (0 disables).  For tests only. */
void shelf__alloc_fail_after(long n);
/* Once per process: jansson, SQLite and libxml2 allocate through the hook
 * above (SQLite only if the process has not initialised it yet). */
void shelf__global_init(void);
/* Allocations that failed in this thread so far.  Compare before and after
 * a call into a library that reports a failed allocation as something else
 * (jansson's parser says "invalid token"): a change means out of memory. */
unsigned long shelf__alloc_failures(void);
/*
 * json_loadb that trusts nothing parsed while an allocation failed: jansson's
 * lexer drops a character when it cannot grow its buffer ("volume" becomes
 * "volme") and calls a failed allocation a syntax error.  NULL with *nomem
 * set when out of memory; NULL with *nomem 0 and e filled when malformed.
 */
json_t *shelf__json_loadb(const char *text, size_t n, size_t flags, json_error_t *e, int *nomem);
/*
 * The one way the library parses JSON: text[0..n) (NULL reads as "") with
 * jansson flags into *out (owned: json_decref), through shelf__json_loadb.
 * SHELF_OK; SHELF_ENOMEM ("out of memory") when an allocation failed
 * anywhere in the parse; else bad (SHELF_ECORRUPT for the library's own
 * data, SHELF_EFORMAT or SHELF_EINVAL for outside input) with "invalid JSON
 * in WHAT: line L: TEXT".  *out is NULL on failure; e may be NULL.
 */
int shelf__json_parse(shelf__err *e, int bad, const char *what, const char *text, size_t n,
                      size_t flags, json_t **out);
/* The same for the file path (json_load_file); the message names path.
 * A file that cannot be opened: "cannot read 'PATH': <errno>", its code
 * from errno (SHELF_ENOTFOUND when missing). */
int shelf__json_parse_file(shelf__err *e, int bad, const char *path, size_t flags, json_t **out);
/*
 * json_dumps that trusts nothing written while an allocation failed: jansson
 * can drop part of a key and go on ("chunker" written as ""), so its result
 * is not enough.  Owned text (free()), or NULL: out of memory.
 */
char *shelf__json_dumps(const json_t *v, size_t flags);
/*
 * jansson's json_unpack allocates (it keeps the keys it saw), and a failed
 * allocation is -1 like a value of the wrong type: use json_unpack_ex with
 * a json_error_t and tell them apart with this (1: out of memory).
 */
#define SHELF__JSON_NOMEM(jerr) (json_error_code(jerr) == json_error_out_of_memory)

/* A growable byte buffer (git's strbuf).  buf is always NUL-terminated. */
typedef struct shelf__buf {
    char *buf;
    size_t len, cap;
} shelf__buf;
#define SHELF__BUF_INIT { NULL, 0, 0 }
int shelf__buf_grow(shelf__buf *b, size_t extra);
int shelf__buf_add(shelf__buf *b, const void *data, size_t n);
int shelf__buf_adds(shelf__buf *b, const char *s);
int shelf__buf_addf(shelf__buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void shelf__buf_reset(shelf__buf *b);
void shelf__buf_release(shelf__buf *b);
/* Hand the string to the caller (owned) and reset b. */
char *shelf__buf_detach(shelf__buf *b);

/* SHA-256. */
#define SHELF_HASH_BYTES 32
#define SHELF_HASH_HEX (2 * SHELF_HASH_BYTES + 1)
typedef struct shelf__sha256 shelf__sha256;
shelf__sha256 *shelf__sha256_new(void);
void shelf__sha256_update(shelf__sha256 *h, const void *data, size_t n);
void shelf__sha256_final(shelf__sha256 *h, uint8_t out[SHELF_HASH_BYTES]);
void shelf__sha256_free(shelf__sha256 *h);
void shelf__sha256_mem(const void *data, size_t n, uint8_t out[SHELF_HASH_BYTES]);
void shelf__hex(const uint8_t *bytes, size_t n, char *out);
int shelf__is_hash_hex(const char *s);
/* 1 when s is exactly n lowercase hex digits (a library id: 32). */
int shelf__is_hex(const char *s, size_t n);

/*
 * Hash an open file from its current offset to its end with a caller buffer;
 * *size receives the bytes read.  Returns 0 or an errno value.
 */
int shelf__sha256_fd(int fd, void *buf, size_t bufsize,
                     uint8_t out[SHELF_HASH_BYTES], uint64_t *size);
/* The SHA-256 of the file at path as 64 lowercase hex digits (and its size,
 * may be NULL), read sequentially with the caller's buffer.  Returns 0 or
 * an errno value (ENOENT: no such file). */
int shelf__sha256_path(const char *path, void *buf, size_t bufsize, char hex[SHELF_HASH_HEX],
                       uint64_t *size);

/* Paths. */
/* Join a and b with one '/'; owned result or NULL. */
char *shelf__path_join(const char *a, const char *b);
/* Absolute, normalised path with symlinks resolved for the parts that exist. */
char *shelf__path_abs(const char *p);
/* If path is dir or inside dir, return the part after "dir/" ("" for dir). */
const char *shelf__path_under(const char *path, const char *dir);
/* 1 when rel is a relative path of plain names: no empty, "." or ".."
 * part, no leading or trailing '/'. */
int shelf__path_rel_ok(const char *rel);
/* mkdir -p of dir, which must be base or inside it, following no symbolic
 * link below base (base itself may be one): 0 or an errno value (ELOOP: a
 * part is a link; ENOTDIR: a part is a file; EXDEV: dir is not inside
 * base; EINVAL: a "." or ".." part). */
int shelf__mkdirs_beneath(const char *base, const char *dir, unsigned mode);
/* Last component without extension, owned. */
char *shelf__path_stem(const char *path);
/* Lowercase extension without the dot into buf ("" when none). */
void shelf__path_ext(const char *path, char *buf, size_t size);
/* mkdir -p; returns 0 or an errno value. */
int shelf__mkdirs(const char *path, unsigned mode);
/* fsync a directory by path; returns 0 or an errno value. */
int shelf__fsync_dir(const char *path);

/*
 * Names as text (name.c; the public shelf_name_escape is the same):
 * append the escaped form of name to b.  SHELF_OK or SHELF_ENOMEM.
 */
int shelf__name_escape_buf(shelf__buf *b, const char *name, int flags);
/* Length of the valid UTF-8 sequence at s (1 for ASCII), 0 when invalid. */
size_t shelf__utf8_seq(const unsigned char *s);
/*
 * libarchive converts names through the locale's character set, and in
 * the C locale it cannot write or read a name outside ASCII (a pax writer
 * even crashes).  Around a whole libarchive session (new to free), enter
 * makes the calling thread's LC_CTYPE UTF-8 (uselocale, C.UTF-8) unless it
 * is already; leave restores it.  Pass leave what enter returned.
 */
locale_t shelf__utf8_ctype_enter(void);
void shelf__utf8_ctype_leave(locale_t old);

/*
 * Cryptographic primitives (crypto.c, on OpenSSL).  Sealed data is
 * nonce (12 random bytes) || AES-256-GCM ciphertext || tag (16 bytes).
 */
#define SHELF__KEY_BYTES 32
#define SHELF__NONCE_BYTES 12
#define SHELF__TAG_BYTES 16
#define SHELF__SEAL_OVERHEAD (SHELF__NONCE_BYTES + SHELF__TAG_BYTES)
/* Random bytes (OpenSSL RAND_bytes): SHELF_OK or SHELF_EIO. */
int shelf__random(void *buf, size_t n);
/* Seal (enc 1) or open (enc 0) in[0..n) with key, appending to out, using
 * the caller's EVP_CIPHER_CTX cipher (reused across calls by one thread).
 * Opening fails with SHELF_ECORRUPT when the data was changed or the key
 * is wrong. */
int shelf__gcm(void *cipher, const uint8_t key[SHELF__KEY_BYTES], int enc,
               const uint8_t *in, size_t n, shelf__buf *out);
/* The same with a context of their own; open replaces out's contents. */
int shelf__aead_seal(const uint8_t key[SHELF__KEY_BYTES], const void *in, size_t n,
                     shelf__buf *out);
int shelf__aead_open(const uint8_t key[SHELF__KEY_BYTES], const void *in, size_t n,
                     shelf__buf *out);
/* scrypt (N = 2^log2n, r = 8, p = 1) of password and salt into key:
 * SHELF_OK or SHELF_ENOMEM. */
#define SHELF__SCRYPT_R 8
#define SHELF__SCRYPT_P 1
int shelf__scrypt(const char *password, const uint8_t *salt, size_t saltlen, int log2n,
                  uint8_t key[SHELF__KEY_BYTES]);
/* Lowercase hex s (exactly 2n digits) into out[0..n): SHELF_OK or
 * SHELF_EFORMAT. */
int shelf__unhex(const char *s, uint8_t *out, size_t n);

/*
 * Detached Ed25519 signatures (sign.c; doc/formats.md, "Archive
 * signature").  A signer is a private key with the identity it signs as:
 * a device (its certificate, PEM, and id) or a key of shelf_keys_new
 * (name only).  The struct is filled by whoever loads the key (lib/sync's
 * keys.c); lib/archive and lib/patch only sign with it.
 */
struct evp_pkey_st;
struct shelf_signer {
    struct evp_pkey_st *key;    /* Ed25519 private key (owned) */
    char *cert;                 /* device certificate, PEM, or NULL (owned) */
    char *device;               /* device id, or NULL (owned) */
    char *name;                 /* owned */
};
#define SHELF__SIG_FILE "shelf-signature.json"
#define SHELF__SIG_MAX (64u << 10)   /* the largest signature file read */
/* Ed25519 over data[0..n) into sig, or check sig: 1 when done / matching. */
int shelf__ed25519_sign(struct evp_pkey_st *key, const void *data, size_t n, uint8_t sig[64]);
int shelf__ed25519_verify(struct evp_pkey_st *key, const void *data, size_t n, const uint8_t sig[64]);
/* The public key of key as text (base64 of 32 bytes): SHELF_OK or SHELF_EINVAL. */
int shelf__key_text(struct evp_pkey_st *key, char out[SHELF_KEY_TEXT_LEN + 1]);
/* The Ed25519 public key of text (as above), owned, or NULL. */
struct evp_pkey_st *shelf__key_of_text(const char *text);
/* The signature file of s over data[0..n), which is the file signed (its
 * name in the bag, or of the history), as JSON text in out. */
int shelf__sig_make(shelf__err *e, const shelf_signer *s, const char *signed_name, const void *data,
                    size_t n, shelf__buf *out);
/*
 * Read the signature file text[0..len) (outside input) and check it over
 * data[0..n), the file signed_name.  Fills sig (state VALID, key, device,
 * name, cert_sha256; trust UNKNOWN).  SHELF_EFORMAT when the file is not a
 * signature file shelf reads, or it signs another file; SHELF_ECORRUPT
 * with sig->state BAD when the signature does not match; SHELF_ENOMEM.
 */
int shelf__sig_check(shelf__err *e, const char *text, size_t len, const char *signed_name,
                     const void *data, size_t n, shelf_signature *sig);
/*
 * Read a public key file text[0..n) (outside input; doc/formats.md,
 * "Archive signature"): its key (checked: base64 of an Ed25519 key),
 * name and device ("" when absent) into the buffers.  SHELF_EFORMAT with
 * a one-line message when it is not one, SHELF_ENOMEM.
 */
int shelf__pubkey_parse(shelf__err *e, const char *text, size_t n, char key[SHELF_KEY_TEXT_LEN + 1],
                        char name[SHELF_SIGNER_NAME_MAX + 1], char device[SHELF_SIGNER_ID_MAX + 1]);

/* Time. */
int64_t shelf__now(void);          /* unix seconds */
double shelf__monotonic(void);     /* seconds from an arbitrary origin */
/* The schedules' clock (clock.c): Unix seconds from $SHELF_TEST_CLOCK's
 * file when it names one that holds a number (tests), else the wall
 * clock.  shelf__clock_test sets *now and returns 1 only in the first
 * case (a backup then dates its snapshot by it, so retention is tested). */
int64_t shelf__clock_now(void);
int shelf__clock_test(int64_t *now);

/*
 * Outside XML (xml.c): parse data[0..n) with libxml2, no network, no DTD,
 * no entity substitution, any <!ENTITY> refused; name is the document's
 * URL for libxml2.  SHELF_OK with *doc (free with xmlFreeDoc);
 * SHELF_EFORMAT with e telling why (entity_line > 0: an entity declaration
 * there; else line (0 unknown) and msg, one lowercase line, when failed);
 * SHELF_ENOMEM.
 */
typedef struct shelf__xml_error {
    int failed;         /* an error of level XML_ERR_ERROR or worse was seen */
    int nomem;          /* one of them was an allocation failure */
    int line;           /* line of the first error, 0 unknown */
    int entity_line;    /* > 0: an entity declaration stopped the parse here */
    char msg[200];      /* the first error's message */
} shelf__xml_error;
struct _xmlDoc;
int shelf__xml_read(const void *data, size_t n, const char *name, struct _xmlDoc **doc,
                    shelf__xml_error *e);

/*
 * Files (file.c).  write(2) until all n bytes are written, retrying on
 * EINTR: 0 or an errno value.
 */
int shelf__write_all(int fd, const void *data, size_t n);
/*
 * rm -r of path without following symbolic links (a link is removed, not
 * what it points to); a missing path is not an error.  0 or the errno
 * value of the first failure (the walk goes on past it).
 */
int shelf__rmtree(const char *path);
/*
 * Make the temporary file tmp, written through fd, the file final: fsync
 * fd, close it, rename tmp over final, fsync final's folder.  fd is closed
 * and tmp removed whatever happens; on failure e says which step failed on
 * which file.  SHELF_OK or the failure's code.
 */
int shelf__commit_temp(shelf__err *e, int fd, const char *tmp, const char *final);
/*
 * Replace the file path with data[0..n) (mode for a new file) as one
 * step: a temporary file beside it ("NAME.tmp-PID-N", removed on
 * failure), written, synced and renamed over path by shelf__commit_temp.
 * A reader sees the old file or the new one, never a part.
 */
int shelf__write_file_atomic(shelf__err *e, const char *path, const void *data, size_t n,
                             unsigned mode);
/* Read the whole file path into out (replaced): SHELF_OK; SHELF_ENOTFOUND
 * when it is not there; SHELF_EINVAL when it is not a regular file or is
 * longer than max bytes; SHELF_EIO (e names the file and the step). */
int shelf__read_file(shelf__err *e, const char *path, size_t max, shelf__buf *out);
/*
 * Run locks (a run of a schedule, an archive of a project): an exclusive
 * flock on dir/name, dir made when missing.  shelf__run_lock returns the
 * fd (>= 0; the lock goes with it), -1 when another process or handle
 * holds it (e untouched), -2 on another failure (e says what).
 * shelf__run_locked: 1 when a process holds dir/name now.
 */
int shelf__run_lock(shelf__err *e, const char *dir, const char *name);
int shelf__run_locked(const char *dir, const char *name);

/* Little-endian integers in byte buffers (on-disk and wire layouts). */
static inline void shelf__put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void shelf__put_le32(uint8_t *p, uint32_t v)
{
    shelf__put_le16(p, (uint16_t)v);
    shelf__put_le16(p + 2, (uint16_t)(v >> 16));
}
static inline void shelf__put_le64(uint8_t *p, uint64_t v)
{
    shelf__put_le32(p, (uint32_t)v);
    shelf__put_le32(p + 4, (uint32_t)(v >> 32));
}
static inline uint16_t shelf__get_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}
static inline uint32_t shelf__get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t shelf__get_le64(const uint8_t *p)
{
    return (uint64_t)shelf__get_le32(p) | (uint64_t)shelf__get_le32(p + 4) << 32;
}

/*
 * A pool of worker threads (pool.c), the one every module uses.  A job is
 * fn(arg, item, worker) for item 0..n-1: the items of one job run in any
 * order on any worker (worker is 0..threads-1, so a caller can keep one
 * context per worker), and jobs start in the order they were submitted.
 * submit returns the job's ticket; wait(ticket) returns when that job's
 * items have all run; wait_all when every job submitted has.  A pool of
 * fewer than 1 thread, or one whose threads could not start, runs each job
 * in the caller inside submit (worker 0).  fn runs on a pool thread.
 */
typedef void (*shelf__pool_fn)(void *arg, size_t item, int worker);
typedef struct shelf__pool shelf__pool;
/* Start up to threads workers (0: one per CPU, at most 16) with room for
 * queue jobs in flight (submit waits for room).  NULL: out of memory. */
shelf__pool *shelf__pool_new(int threads, int queue);
/* The number of workers (1 when jobs run in the caller). */
int shelf__pool_threads(const shelf__pool *p);
uint64_t shelf__pool_submit(shelf__pool *p, shelf__pool_fn fn, void *arg, size_t n);
void shelf__pool_wait(shelf__pool *p, uint64_t ticket);
/* 1 when job ticket has finished (does not wait). */
int shelf__pool_done(shelf__pool *p, uint64_t ticket);
void shelf__pool_wait_all(shelf__pool *p);
/* Wait for every job, stop the workers and free p (NULL is fine). */
void shelf__pool_free(shelf__pool *p);

#endif /* SHELF_COMMON_INT_H */
