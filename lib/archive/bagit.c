/*
 * bagit.c: the text side of BagIt (RFC 8493): manifest lines with
 * percent-encoded paths, bag-info labels, the safety check of a name that
 * comes from an archive, a small string set for duplicate and case
 * collision checks, and SHA-256 + SHA-512 over one stream (OpenSSL).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include "archive_int.h"

/* ---- manifests -------------------------------------------------------------- */

int shelf__bag_manifest_line(shelf__buf *b, const uint8_t *hash, size_t n, const char *path)
{
    char hex[2 * SHELF__SHA512_BYTES + 1];
    const char *p;
    int rc;

    shelf__hex(hash, n, hex);
    if ((rc = shelf__buf_add(b, hex, 2 * n)) != SHELF_OK || (rc = shelf__buf_add(b, " ", 1)) != SHELF_OK)
        return rc;
    for (p = path; *p; p++) {
        if (*p == '\r')
            rc = shelf__buf_adds(b, "%0D");
        else if (*p == '\n')
            rc = shelf__buf_adds(b, "%0A");
        else if (*p == '%')
            rc = shelf__buf_adds(b, "%25");
        else
            rc = shelf__buf_add(b, p, 1);
        if (rc != SHELF_OK)
            return rc;
    }
    return shelf__buf_add(b, "\n", 1);
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int shelf__bag_manifest_parse(const char *text, size_t len, size_t hash_len,
                              shelf__bag_line_cb cb, void *ud, shelf__err *err)
{
    const char *p = text, *end = text + len;
    uint8_t hash[SHELF__SHA512_BYTES];
    size_t lineno = 0, i;
    char *path = NULL;
    int rc = SHELF_OK;

    if (hash_len > sizeof hash)
        return shelf__seterr(err, SHELF_EINVAL, "hash too long");
    while (p < end && rc == SHELF_OK) {
        const char *eol = memchr(p, '\n', (size_t)(end - p)), *q, *name;
        size_t n, k;
        const char *why;

        if (!eol)
            eol = end;
        lineno++;
        n = (size_t)(eol - p);
        if (n > 0 && p[n - 1] == '\r')
            n--;
        if (n == 0) {
            p = eol + 1;
            continue;
        }
        /* "<hex> <whitespace> <path>" */
        for (q = p; q < p + n && *q != ' ' && *q != '\t'; q++)
            ;
        if ((size_t)(q - p) != 2 * hash_len) {
            rc = shelf__seterr(err, SHELF_EFORMAT, "manifest line %zu: a checksum of %zu hex digits expected",
                               lineno, 2 * hash_len);
            break;
        }
        for (i = 0; i < hash_len; i++) {
            int hi = hexval((unsigned char)p[2 * i]), lo = hexval((unsigned char)p[2 * i + 1]);

            if (hi < 0 || lo < 0)
                break;
            hash[i] = (uint8_t)(hi << 4 | lo);
        }
        if (i < hash_len) {
            rc = shelf__seterr(err, SHELF_EFORMAT, "manifest line %zu: bad hex digit", lineno);
            break;
        }
        while (q < p + n && (*q == ' ' || *q == '\t'))
            q++;
        name = q;
        if (name == p + n) {
            rc = shelf__seterr(err, SHELF_EFORMAT, "manifest line %zu: no file name", lineno);
            break;
        }
        if (!(path = shelf__malloc((size_t)(p + n - name) + 1))) {
            rc = shelf__seterr(err, SHELF_ENOMEM, "out of memory");
            break;
        }
        /* Percent-decoding of %0D %0A %25 (any %XX is accepted). */
        for (k = 0, q = name; q < p + n; q++) {
            int hi = *q == '%' && (size_t)(p + n - q) >= 3 ? hexval((unsigned char)q[1]) : -1;
            int lo = hi >= 0 ? hexval((unsigned char)q[2]) : -1;

            if (hi >= 0 && lo >= 0) {
                path[k++] = (char)(hi << 4 | lo);
                q += 2;
            } else {
                path[k++] = *q;
            }
        }
        path[k] = '\0';
        if (strlen(path) != k || (why = shelf__bag_name_unsafe(path)) != NULL) {
            rc = shelf__seterr(err, SHELF_EFORMAT, "manifest line %zu: unsafe file name: %s", lineno,
                               strlen(path) != k ? "NUL byte" : why);
            break;
        }
        rc = cb(ud, path, hash);
        free(path);
        path = NULL;
        p = eol + 1;
    }
    free(path);
    return rc;
}

int shelf__bag_info_get(const char *text, size_t len, const char *label, char **out)
{
    size_t ll = strlen(label);
    const char *p = text, *end = text + len;

    *out = NULL;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));

        if (!eol)
            eol = end;
        if ((size_t)(eol - p) > ll && !strncasecmp(p, label, ll) && p[ll] == ':') {
            const char *v = p + ll + 1, *e = eol;

            while (v < e && (*v == ' ' || *v == '\t'))
                v++;
            while (e > v && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
                e--;
            *out = shelf__strndup(v, (size_t)(e - v));
            return *out ? SHELF_OK : SHELF_ENOMEM;
        }
        p = eol + 1;
    }
    return SHELF_OK;
}

const char *shelf__bag_name_unsafe(const char *path)
{
    const char *p = path, *c;
    size_t n = strlen(path);

    if (n == 0)
        return "empty name";
    if (n > 4096)
        return "name longer than 4096 bytes";
    if (path[0] == '/')
        return "absolute path";
    if (n >= 2 && path[1] == ':' && isalpha((unsigned char)path[0]))
        return "drive letter";
    for (c = path; *c; c++) {
        if (*c == '\\')
            return "backslash in name";
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            return "control character in name";
    }
    while (*p) {
        const char *e = strchr(p, '/');
        size_t k = e ? (size_t)(e - p) : strlen(p);

        if (k == 0)
            return "empty path component";
        if (k == 1 && p[0] == '.')
            return "'.' component";
        if (k == 2 && p[0] == '.' && p[1] == '.')
            return "'..' component";
        if (k > 255)
            return "component longer than 255 bytes";
        if (!e)
            break;
        p = e + 1;
        if (!*p)
            return "empty path component";
    }
    return NULL;
}

/* ---- string set ---------------------------------------------------------------- */

static uint64_t str_hash(const char *s, int fold)
{
    uint64_t h = 1469598103934665603ull;

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (fold && c >= 'A' && c <= 'Z')
            c = (unsigned char)(c + 32);
        h = (h ^ c) * 1099511628211ull;
    }
    return h;
}

static int str_eq(const char *a, const char *b, int fold)
{
    return fold ? !strcasecmp(a, b) : !strcmp(a, b);
}

static char **strset_slot(char **slot, size_t cap, const char *str, int fold)
{
    size_t i = (size_t)str_hash(str, fold) & (cap - 1);

    while (slot[i] && !str_eq(slot[i], str, fold))
        i = (i + 1) & (cap - 1);
    return &slot[i];
}

int shelf__strset_add(shelf__strset *s, const char *str, const char **found)
{
    char **at;

    if (found)
        *found = NULL;
    if ((s->n + 1) * 2 > s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 64, i;
        char **ns = shelf__calloc(ncap, sizeof *ns);

        if (!ns)
            return SHELF_ENOMEM;
        for (i = 0; i < s->cap; i++)
            if (s->slot[i])
                *strset_slot(ns, ncap, s->slot[i], s->fold) = s->slot[i];
        free(s->slot);
        s->slot = ns;
        s->cap = ncap;
    }
    at = strset_slot(s->slot, s->cap, str, s->fold);
    if (*at) {
        if (found)
            *found = *at;
        return 0;
    }
    if (!(*at = shelf__strdup(str)))
        return SHELF_ENOMEM;
    s->n++;
    return 1;
}

int shelf__strset_has(const shelf__strset *s, const char *str)
{
    return s->cap && *strset_slot(s->slot, s->cap, str, s->fold) != NULL;
}

void shelf__strset_release(shelf__strset *s)
{
    size_t i;

    for (i = 0; i < s->cap; i++)
        free(s->slot[i]);
    free(s->slot);
    s->slot = NULL;
    s->cap = s->n = 0;
}

/* ---- two hashes ---------------------------------------------------------------- */

struct shelf__hash2 {
    EVP_MD_CTX *a, *b;
};

shelf__hash2 *shelf__hash2_new(void)
{
    shelf__hash2 *h = shelf__calloc(1, sizeof *h);

    if (!h)
        return NULL;
    if (!(h->a = EVP_MD_CTX_new()) || !(h->b = EVP_MD_CTX_new()) ||
        EVP_DigestInit_ex(h->a, EVP_sha256(), NULL) != 1 ||
        EVP_DigestInit_ex(h->b, EVP_sha512(), NULL) != 1) {
        shelf__hash2_free(h);
        return NULL;
    }
    return h;
}

void shelf__hash2_update(shelf__hash2 *h, const void *data, size_t n)
{
    EVP_DigestUpdate(h->a, data, n);
    EVP_DigestUpdate(h->b, data, n);
}

void shelf__hash2_final(shelf__hash2 *h, uint8_t sha256[SHELF_HASH_BYTES],
                        uint8_t sha512[SHELF__SHA512_BYTES])
{
    EVP_DigestFinal_ex(h->a, sha256, NULL);
    EVP_DigestFinal_ex(h->b, sha512, NULL);
}

void shelf__hash2_free(shelf__hash2 *h)
{
    if (!h)
        return;
    EVP_MD_CTX_free(h->a);
    EVP_MD_CTX_free(h->b);
    free(h);
}
