/*
 * creds_int.h: where credentials for a network target come from (seed
 * §3.7: stored securely, never hard-coded).  Never in plaintext in the
 * library, its config, the catalog, a backup, a log, a process's arguments,
 * or its environment after start.  Sources, in order:
 *   1. the standard environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 *      AWS_SESSION_TOKEN, AWS_REGION / AWS_DEFAULT_REGION; AWS_PROFILE with
 *      ~/.aws/credentials and ~/.aws/config read as awscli reads them;
 *      SHELF_WEBDAV_USER / SHELF_WEBDAV_PASSWORD for WebDAV.  Read once,
 *      then removed from the environment (shelf__creds_scrub_env).
 *   2. the desktop keyring through libsecret, when a Secret Service runs;
 *   3. shelf's own credential file, encrypted with a key derived from a
 *      passphrase (mode 0600).
 * The threat model is in doc/design.md ("Credentials").
 */
#ifndef SHELF_REMOTE_CREDS_INT_H
#define SHELF_REMOTE_CREDS_INT_H

#include "remote_int.h"

/* Credentials for target t; name is the named remote it came from (or
 * NULL).  SHELF_ENOTFOUND with a one-line hint when no source has any. */
int shelf__creds_find(const shelf__target *t, const char *name, shelf__creds *out,
                      shelf__err *err);

/* Take the credential variables out of the environment (called once at
 * start by the program, after they were read). */
void shelf__creds_scrub_env(void);

#endif /* SHELF_REMOTE_CREDS_INT_H */
