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
 * NULL).  SHELF_ENOTFOUND with a one-line hint when no source has any.
 * Folders and rclone targets get none (SHELF_OK, all fields NULL).  For
 * s3: AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN), else
 * the profile AWS_PROFILE names, else the keyring (item remote=name, or
 * host=t->host without a name), else the credential file (by name), else
 * the "default" profile; region: AWS_REGION, AWS_DEFAULT_REGION, the
 * stored one, the profile's.  For webdav: SHELF_WEBDAV_USER and
 * SHELF_WEBDAV_PASSWORD, else the keyring, else the credential file.
 * out is cleared with shelf__creds_clear by the caller. */
int shelf__creds_find(const shelf__target *t, const char *name, shelf__creds *out,
                      shelf__err *err);

/* Take the credential variables out of the environment (called once at
 * start by the program, after they were read): each one set is copied
 * into memory of this file, its entry in environ overwritten with zeros
 * (name and value: /proc/PID/environ shows zeros) and unset.  The copies
 * are what shelf__creds_env returns from then on.  Thread-safe. */
void shelf__creds_scrub_env(void);
/* The variables, in shelf__creds_scrub_env's list. */
enum {
    SHELF__ENV_AWS_ACCESS_KEY_ID, SHELF__ENV_AWS_SECRET_ACCESS_KEY, SHELF__ENV_AWS_SESSION_TOKEN,
    SHELF__ENV_AWS_REGION, SHELF__ENV_AWS_DEFAULT_REGION, SHELF__ENV_AWS_PROFILE,
    SHELF__ENV_AWS_CREDENTIALS_FILE, SHELF__ENV_AWS_CONFIG_FILE, SHELF__ENV_WEBDAV_USER,
    SHELF__ENV_WEBDAV_PASSWORD, SHELF__ENV_CRED_PASSWORD, SHELF__ENV_COUNT
};
/* The value of variable which (SHELF__ENV_*): the copy taken by
 * shelf__creds_scrub_env, else the environment's; NULL when unset or
 * empty.  Owned: free with shelf__secret_free. */
char *shelf__creds_env(int which);
/* Wipe and forget the copies (tests). */
void shelf__creds_env_reset(void);
/* Wipe (OPENSSL_cleanse) and free a secret string; NULL is fine. */
void shelf__secret_free(char *s);

/* How the library asks the user for a secret (the program sets it; none:
 * never asked).  Returns an owned string (malloc; the library wipes and
 * frees it) or NULL when there is nobody to ask.  echo 0: a password.
 * Called on the thread that needs the secret. */
typedef char *(*shelf__prompt_fn)(void *ud, const char *prompt, int echo);
void shelf__creds_set_prompt(shelf__prompt_fn fn, void *ud);
char *shelf__creds_ask(const char *prompt, int echo);

/*
 * An AWS shared credentials (config 0) or config file (config 1) text[0..n)
 * read as awscli reads it (creds.c explains the syntax): out gets the
 * profile's aws_access_key_id, aws_secret_access_key, aws_session_token
 * and region (NULL when absent).  SHELF_ENOTFOUND when the file has no
 * such profile, SHELF_EFORMAT (err: the line) when awscli would refuse the
 * file, SHELF_ENOMEM.
 */
int shelf__awsini_find(const char *text, size_t n, int config, const char *profile,
                       shelf__creds *out, shelf__err *err);

/* The desktop keyring (libsecret, schema "org.shelf.Credentials" with the
 * attributes remote and host).  available: 1 when a Secret Service owns
 * its name on a session bus that is already running (no bus is started,
 * no service activated; at most ~1 s).  The other calls give up after 5 s
 * (SHELF_KEYRING_TIMEOUT_MS) with SHELF_EIO, "no answer (is it locked?)":
 * a locked keyring may wait for a prompt.  lookup: by name, else by host; SHELF_ENOTFOUND when no
 * item matches.  clear: SHELF_ENOTFOUND when there was none. */
int shelf__keyring_available(void);
int shelf__keyring_lookup(const char *name, const char *host, shelf__creds *out, shelf__err *err);
int shelf__keyring_store(const char *name, const char *host, const shelf__creds *c,
                         shelf__err *err);
int shelf__keyring_clear(const char *name, shelf__err *err);

/* shelf's credential file path (doc/formats.md, "Credential file"),
 * encrypted with a key derived from a passphrase (SHELF_CREDENTIALS_PASSWORD,
 * else asked through the prompt), mode 0600 (refused with SHELF_EPERM when
 * others may read it).  get: the secret stored for name (SHELF_ENOTFOUND,
 * SHELF_EAUTH for a wrong passphrase).  put: store c for name, replacing
 * what was there; c NULL removes name's. */
int shelf__credfile_get(const char *path, const char *name, shelf__creds *out, shelf__err *err);
int shelf__credfile_put(const char *path, const char *name, const shelf__creds *c,
                        shelf__err *err);

/* $XDG_CONFIG_HOME/shelf/leaf, else $HOME/.config/shelf/leaf; owned, NULL
 * when neither is set (or out of memory). */
char *shelf__config_file(const char *leaf);
/* The whole of the file path, at most max bytes, into b.  SHELF_ENOTFOUND
 * when absent; with private_only, SHELF_EPERM when the group or others
 * have any access or another user owns it. */
int shelf__read_small_file(const char *path, size_t max, int private_only, shelf__buf *b,
                           shelf__err *err);

/*
 * Named remotes (remotes.c; include/shelf/remote.h is their public face).
 * shelf__remote_resolve: name_or_url is "remote:NAME" (a remote, which
 * must exist), a NAME that remotes.json defines, or else a target as it
 * is: out->url is the URL to open and the rest are the remote's settings
 * (name NULL, no settings, for a plain URL).  A folder named like a remote
 * is reached as ./NAME.  SHELF_ENOTFOUND for "remote:NAME" not defined,
 * SHELF_EFORMAT/SHELF_EVERSION for an unreadable remotes file, SHELF_EINVAL
 * for an empty target.  Release out with shelf__remote_release.
 */
typedef struct shelf__remote {
    char *name;         /* NULL: name_or_url was a URL */
    char *url;
    char *ca_file;      /* NULL: none */
    char *region;       /* NULL: none */
    uint64_t budget;    /* bytes; 0: none */
    int store;          /* SHELF_SECRET_KEYRING/FILE/NONE (shelf/remote.h) */
} shelf__remote;
int shelf__remote_resolve(const char *name_or_url, shelf__remote *out, shelf__err *err);
void shelf__remote_release(shelf__remote *r);
/* 1 when s is a valid remote name. */
int shelf__remote_name_ok(const char *s);
/* "Terms and privacy" of url (backup init on a remote calls it): what the
 * provider sees, the known limits, and a space warning from be's space op
 * (be may be NULL; a folder's free space is asked of the OS) and budget. */
int shelf__remote_terms(const char *url, shelf__backend *be, uint64_t budget,
                        shelf_remote_terms *out, shelf__err *err);
/* The warning for used/avail (UINT64_MAX: unknown) and budget (0: none);
 * owned, NULL when none. */
char *shelf__remote_space_warning(uint64_t used, uint64_t avail, uint64_t budget);

#endif /* SHELF_REMOTE_CREDS_INT_H */
