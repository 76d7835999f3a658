/*
 * sync_int.h: the sync module's internals (lib/sync): device identity
 * (identity.c) and QR codes (qr.c).  Above remote, patch and backup in the
 * layers (doc/design.md); nothing below includes this file.
 */
#ifndef SHELF_SYNC_INT_H
#define SHELF_SYNC_INT_H

#include <openssl/x509.h>
#include "shelf/sync.h"
#include "../common/common_int.h"
#include "../catalog/catalog_int.h"

/* The device id of a certificate: SHA-256 of its DER bytes, formatted.
 * SHELF_OK or SHELF_ENOMEM. */
int shelf__device_id_of_x509(X509 *x, char out[SHELF_DEVICE_ID_LEN + 1]);

/* SHELF_OK when name is a device name (1 to SHELF_DEVICE_NAME_MAX bytes of
 * UTF-8 without control characters), else SHELF_EINVAL set on lib. */
int shelf__device_name_check(shelf_library *lib, const char *name);

#endif /* SHELF_SYNC_INT_H */
