/*
 * hash.c: SHA-256 through OpenSSL's EVP interface, which uses the CPU's SHA
 * extensions where it has them.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <openssl/evp.h>
#include "common_int.h"

struct shelf__sha256 {
    EVP_MD_CTX *ctx;
};

shelf__sha256 *shelf__sha256_new(void)
{
    shelf__sha256 *h = shelf__malloc(sizeof *h);

    if (!h)
        return NULL;
    if (!(h->ctx = EVP_MD_CTX_new()) || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(h->ctx);
        shelf_free(h);
        return NULL;
    }
    return h;
}

void shelf__sha256_update(shelf__sha256 *h, const void *data, size_t n)
{
    EVP_DigestUpdate(h->ctx, data, n);
}

void shelf__sha256_final(shelf__sha256 *h, uint8_t out[SHELF_HASH_BYTES])
{
    unsigned int len = SHELF_HASH_BYTES;

    EVP_DigestFinal_ex(h->ctx, out, &len);
    EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL);   /* ready for reuse */
}

void shelf__sha256_free(shelf__sha256 *h)
{
    if (!h)
        return;
    EVP_MD_CTX_free(h->ctx);
    shelf_free(h);
}

void shelf__sha256_mem(const void *data, size_t n, uint8_t out[SHELF_HASH_BYTES])
{
    unsigned int len = SHELF_HASH_BYTES;

    EVP_Digest(data, n, out, &len, EVP_sha256(), NULL);
}

int shelf__sha256_fd(int fd, void *buf, size_t bufsize,
                     uint8_t out[SHELF_HASH_BYTES], uint64_t *size)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int len = SHELF_HASH_BYTES;
    uint64_t total = 0;
    ssize_t n;
    int err = 0;

    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        return ENOMEM;
    }
    for (;;) {
        n = read(fd, buf, bufsize);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            err = errno;
            break;
        }
        if (n == 0)
            break;
        EVP_DigestUpdate(ctx, buf, (size_t)n);
        total += (uint64_t)n;
    }
    if (!err)
        EVP_DigestFinal_ex(ctx, out, &len);
    EVP_MD_CTX_free(ctx);
    if (size)
        *size = total;
    return err;
}

void shelf__hex(const uint8_t *bytes, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * n] = '\0';
}

int shelf__is_hex(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return s[i] == '\0';
}

int shelf__is_hash_hex(const char *s)
{
    return shelf__is_hex(s, 2 * SHELF_HASH_BYTES);
}

int shelf__sha256_path(const char *path, void *buf, size_t bufsize, char hex[SHELF_HASH_HEX],
                       uint64_t *size)
{
    uint8_t h[SHELF_HASH_BYTES];
    int fd, e;

    if (!path)
        return EINVAL;
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return errno;
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    e = shelf__sha256_fd(fd, buf, bufsize, h, size);
    close(fd);
    if (!e)
        shelf__hex(h, sizeof h, hex);
    return e;
}
