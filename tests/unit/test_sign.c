/*
 * test_sign.c: signatures (lib/common/sign.c) and keys (lib/sync/keys.c):
 * a signature matches its bytes and no others (every byte of the data
 * flipped in turn), a changed signature or key is refused, a file for
 * another role is refused; the trust class of a signer (this device, a
 * paired device, a trusted key, a revoked one, unknown); key names.
 */
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include "test.h"
#include "libs.h"
#include "shelf/shelf.h"

#define new_lib(dir) test_lib_open((dir), SHELF_OPEN_CREATE)

static const char data[] = "0123456789abcdef 0123456789abcdef bagit.txt\n";

/* sig with the character at the first occurrence of key's value changed. */
static void change_after(char *sig, const char *key, int delta)
{
    char *p = strstr(sig, key);

    ASSERT(p != NULL);
    p += strlen(key);
    *p = (char)(*p == 'A' ? 'B' : 'A' + delta);
}

TEST(signature_matches_its_bytes_only)
{
    const char *dir = test_tmpdir();
    shelf_library *lib = new_lib(dir);
    shelf_signature s = { .size = sizeof s };
    shelf_device_info self = { .size = sizeof self };
    shelf_signer *signer = NULL;
    char *sig = NULL, *msg = NULL, buf[sizeof data];
    size_t i;

    ASSERT_OKL(lib, shelf_signer_device(lib, &signer));
    ASSERT_OKL(lib, shelf_device_self(lib, &self));
    ASSERT_OK(shelf_sign_bytes(signer, "tagmanifest-sha256.txt", data, sizeof data - 1, &sig, &msg));
    ASSERT_OK(shelf_signature_check(sig, strlen(sig), "tagmanifest-sha256.txt", data, sizeof data - 1, &s, &msg));
    ASSERT_EQ_INT(s.state, SHELF_SIGNATURE_VALID);
    ASSERT_EQ_INT(strlen(s.key), SHELF_KEY_TEXT_LEN);
    ASSERT_EQ_STR(s.device, self.id);
    ASSERT_EQ_STR(s.name, self.name);
    ASSERT_EQ_INT(s.trust, SHELF_TRUST_UNKNOWN);
    ASSERT_OKL(lib, shelf_keys_classify(lib, &s));
    ASSERT_EQ_INT(s.trust, SHELF_TRUST_SELF);
    for (i = 0; i < sizeof data - 1; i++) {
        memcpy(buf, data, sizeof data);
        buf[i] ^= 0x20;
        ASSERT_RC(SHELF_ECORRUPT, shelf_signature_check(sig, strlen(sig), "tagmanifest-sha256.txt", buf,
                                                        sizeof data - 1, &s, &msg));
        ASSERT_EQ_INT(s.state, SHELF_SIGNATURE_BAD);
        ASSERT(strstr(msg, "does not match") != NULL);
        shelf_free(msg);
        msg = NULL;
    }
    ASSERT_RC(SHELF_ECORRUPT, shelf_signature_check(sig, strlen(sig), "tagmanifest-sha256.txt", data,
                                                    sizeof data - 2, &s, &msg));
    shelf_free(msg);
    ASSERT_RC(SHELF_EFORMAT, shelf_signature_check(sig, strlen(sig), SHELF_SIGNED_HISTORY, data,
                                                   sizeof data - 1, &s, &msg));
    ASSERT(strstr(msg, "signs 'tagmanifest-sha256.txt'") != NULL);
    shelf_free(msg);
    change_after(sig, "\"signature\": \"", 0);
    ASSERT_RC(SHELF_ECORRUPT, shelf_signature_check(sig, strlen(sig), "tagmanifest-sha256.txt", data,
                                                    sizeof data - 1, &s, &msg));
    shelf_free(msg);
    shelf_free(sig);
    /* another key than the certificate's: refused as malformed */
    ASSERT_OK(shelf_sign_bytes(signer, "x", data, 3, &sig, &msg));
    change_after(sig, "\"key\": \"", 1);
    ASSERT_RC(SHELF_EFORMAT, shelf_signature_check(sig, strlen(sig), "x", data, 3, &s, &msg));
    shelf_free(msg);
    shelf_free(sig);
    shelf_signer_free(signer);
    shelf_library_close(lib);
}

typedef struct found {
    int device, own, trusted, revoked;
} found;

static int on_key(void *ud, const shelf_signkey_info *k)
{
    found *f = ud;

    ASSERT_EQ_INT(strlen(k->key), SHELF_KEY_TEXT_LEN);
    f->device += k->kind == SHELF_KEY_DEVICE;
    f->own += k->kind == SHELF_KEY_OWN;
    f->trusted += k->kind == SHELF_KEY_TRUSTED && !k->revoked;
    f->revoked += k->kind == SHELF_KEY_TRUSTED && k->revoked;
    return SHELF_OK;
}

TEST(trust_classes)
{
    const char *a = test_tmpdir();
    char b[4200], path[4300], *pub = NULL, *sig = NULL, *msg = NULL;
    shelf_library *la = new_lib(a), *lb;
    shelf_signer *dev = NULL, *pack = NULL;
    shelf_signature s = { .size = sizeof s };
    shelf_device_info ia = { .size = sizeof ia };
    struct stat st;
    found f = { 0, 0, 0, 0 };

    test_pathf(b, sizeof b, "%s/other", a);
    lb = new_lib(b);
    ASSERT_OKL(la, shelf_device_self(la, &ia));
    ASSERT_OKL(la, shelf_signer_device(la, &dev));
    ASSERT_OKL(la, shelf_keys_new(la, "Pack 🎹", NULL, &pub));
    ASSERT(stat(test_pathf(path, sizeof path, "%s/keys/Pack 🎹.key", a), &st) == 0);
    ASSERT_EQ_INT(st.st_mode & 0777, 0600);
    ASSERT_RC(SHELF_EEXIST, shelf_keys_new(la, "Pack 🎹", NULL, NULL));
    ASSERT_RC(SHELF_EINVAL, shelf_keys_new(la, "a/b", NULL, NULL));
    ASSERT_RC(SHELF_EINVAL, shelf_keys_new(la, "", NULL, NULL));
    ASSERT_RC(SHELF_EINVAL, shelf_keys_new(la, "bell\a", NULL, NULL));
    ASSERT_OKL(la, shelf_signer_key(la, "Pack 🎹", &pack));

    /* the device's signature: unknown to b, then paired */
    ASSERT_OK(shelf_sign_bytes(dev, "r", data, 5, &sig, &msg));
    ASSERT_OK(shelf_signature_check(sig, strlen(sig), "r", data, 5, &s, &msg));
    ASSERT_OKL(lb, shelf_keys_classify(lb, &s));
    ASSERT_EQ_INT(s.trust, SHELF_TRUST_UNKNOWN);
    ASSERT_OKL(lb, shelf_device_add(lb, ia.id, "studio"));
    ASSERT_OKL(lb, shelf_keys_classify(lb, &s));
    ASSERT_EQ_INT(s.trust, SHELF_TRUST_PAIRED);
    ASSERT_EQ_STR(s.device, ia.id);
    ASSERT_OKL(lb, shelf_device_remove(lb, ia.id));
    ASSERT_OKL(lb, shelf_keys_classify(lb, &s));
    ASSERT_EQ_INT(s.trust, SHELF_TRUST_REVOKED);
    shelf_free(sig);

    /* the pack key's: unknown, trusted, revoked, trusted again */
    ASSERT_OK(shelf_sign_bytes(pack, "r", data, 5, &sig, &msg));
    ASSERT_OK(shelf_signature_check(sig, strlen(sig), "r", data, 5, &s, &msg));
    ASSERT_EQ_STR(s.device, "");
    ASSERT_EQ_STR(s.name, "Pack 🎹");
    ASSERT_OKL(lb, shelf_keys_classify(lb, &s));
    ASSERT_EQ_INT(s.trust, SHELF_TRUST_UNKNOWN);
    ASSERT_OKL(lb, shelf_keys_trust(lb, pub, strlen(pub), NULL));
    ASSERT_OKL(lb, shelf_keys_classify(lb, &s));
    ASSERT_EQ_INT(s.trust, SHELF_TRUST_USER);
    ASSERT_OKL(lb, shelf_keys_revoke(lb, "Pack 🎹"));
    ASSERT_OKL(lb, shelf_keys_classify(lb, &s));
    ASSERT_EQ_INT(s.trust, SHELF_TRUST_REVOKED);
    ASSERT_OKL(lb, shelf_keys_ls(lb, on_key, &f));
    ASSERT_EQ_INT(f.device, 1);
    ASSERT_EQ_INT(f.trusted, 0);
    ASSERT_EQ_INT(f.revoked, 1);
    ASSERT_OKL(lb, shelf_keys_trust(lb, pub, strlen(pub), "renamed"));
    ASSERT_OKL(lb, shelf_keys_classify(lb, &s));
    ASSERT_EQ_INT(s.trust, SHELF_TRUST_USER);
    ASSERT_RC(SHELF_ENOTFOUND, shelf_keys_revoke(lb, "nobody"));
    ASSERT_RC(SHELF_EFORMAT, shelf_keys_trust(lb, "{}", 2, NULL));
    memset(&f, 0, sizeof f);
    ASSERT_OKL(la, shelf_keys_ls(la, on_key, &f));
    ASSERT_EQ_INT(f.own, 1);
    shelf_free(sig);
    shelf_free(pub);
    shelf_signer_free(dev);
    shelf_signer_free(pack);
    shelf_library_close(lb);
    shelf_library_close(la);
}

int main(int argc, char **argv)
{
    static const test_case tests[] = {
        TEST_ENTRY(signature_matches_its_bytes_only),
        TEST_ENTRY(trust_classes),
        TEST_END
    };

    return test_run(argc, argv, tests);
}
