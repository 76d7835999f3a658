/*
 * remote.h: named remotes and their credentials.  A named remote is a
 * target (s3:, webdav:, rclone:, a folder) with its settings, kept under a
 * NAME in $XDG_CONFIG_HOME/shelf/remotes.json (never a secret there) and
 * usable anywhere a repository target goes.  Its secret is kept in the
 * desktop keyring or in shelf's encrypted credential file
 * (doc/formats.md, "Remotes file" and "Credential file"; doc/design.md,
 * "Credentials", for the threat model).
 *
 * These calls read and write files of the user's configuration, not of a
 * library; they may be called from any thread, one call at a time.
 * Errors come back as a message in *msg (owned, free with shelf_free; NULL
 * when msg is NULL or out of memory).
 */
#ifndef SHELF_REMOTE_H
#define SHELF_REMOTE_H

#include "shelf/shelf.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Once at the start of a program, before any thread: copy the credential
 * variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
 * AWS_REGION, AWS_DEFAULT_REGION, AWS_PROFILE, AWS_SHARED_CREDENTIALS_FILE,
 * AWS_CONFIG_FILE, SHELF_WEBDAV_USER, SHELF_WEBDAV_PASSWORD,
 * SHELF_CREDENTIALS_PASSWORD) into the library's memory and remove them
 * from the environment (their bytes overwritten), so child processes and
 * /proc/PID/environ never see them.
 */
SHELF_API void shelf_remote_take_env(void);

/* How the library asks for a secret it needs (a passphrase, a key that is
 * in no variable): fn returns a string from malloc (the library wipes and
 * frees it) or NULL when nobody can answer; echo is 0 for secrets.  Called
 * on the thread that needs it.  NULL (the default): never asked. */
SHELF_API void shelf_remote_set_prompt(char *(*fn)(void *ud, const char *prompt, int echo),
                                       void *ud);

/* Where a remote's secret is kept. */
enum {
    SHELF_SECRET_AUTO = 0,      /* add: the keyring when one runs, else the file */
    SHELF_SECRET_KEYRING = 1,   /* the desktop keyring (libsecret) */
    SHELF_SECRET_FILE = 2,      /* $XDG_CONFIG_HOME/shelf/credentials, encrypted */
    SHELF_SECRET_NONE = 3       /* none needed (folders, rclone) */
};

typedef struct shelf_remote_opts {
    size_t size;                /* sizeof(shelf_remote_opts) */
    const char *ca_file;        /* https: trust this PEM CA bundle; NULL: the system's */
    const char *region;         /* s3: NULL: from the credentials */
    uint64_t budget;            /* bytes the user means to keep there; 0: none */
    int store;                  /* SHELF_SECRET_AUTO/KEYRING/FILE */
} shelf_remote_opts;

/*
 * Add the remote name (letters, digits, '-', '_', '.'; at most 64 bytes,
 * not starting with '.' or '-') for url (s3:http[s]://..., webdav:http[s]://...,
 * rclone:REMOTE:PATH, dir:PATH or a folder, kept as an absolute path).  s3 and webdav
 * remotes need a secret: taken from the environment (AWS_ACCESS_KEY_ID +
 * AWS_SECRET_ACCESS_KEY, SHELF_WEBDAV_USER + SHELF_WEBDAV_PASSWORD) or
 * asked through the prompt, and stored where o->store says.  A URL with a
 * user or password in it is refused.  Errors: SHELF_EINVAL (name, URL or
 * option), SHELF_EEXIST (the name is taken), SHELF_EAUTH (no secret given,
 * wrong passphrase), SHELF_EPERM (credential file readable by others),
 * SHELF_EIO (also when the keyring did not answer in 5 s), SHELF_ENOMEM.
 */
SHELF_API int shelf_remote_add(const char *name, const char *url, const shelf_remote_opts *o,
                               char **msg);

/* One remote as listed: every string owned by the list. */
typedef struct shelf_remote_info {
    char *name;
    char *url;
    char *ca_file;              /* NULL: none */
    char *region;               /* NULL: none */
    uint64_t budget;            /* 0: none */
    int store;                  /* SHELF_SECRET_KEYRING/FILE/NONE */
} shelf_remote_info;

/* Every remote, sorted by name: *list (owned, shelf_remote_list_free) and
 * *n.  No remotes file is an empty list.  SHELF_EFORMAT, SHELF_EVERSION. */
SHELF_API int shelf_remote_list(shelf_remote_info **list, size_t *n, char **msg);
SHELF_API void shelf_remote_list_free(shelf_remote_info *list, size_t n);

/* Remove the remote name and its stored secret.  SHELF_ENOTFOUND. */
SHELF_API int shelf_remote_rm(const char *name, char **msg);

/* The words of "Terms and privacy" for a target: what the provider sees,
 * its known limits, and a warning when space is short (NULL when none or
 * unknown).  Owned strings, free with shelf_free. */
typedef struct shelf_remote_terms {
    char *kind;                 /* "s3", "webdav", "rclone", "dir" */
    char *visible;              /* what the provider can see */
    char *limits;               /* known limits */
    char *warning;              /* NULL: none */
    uint64_t used, avail;       /* UINT64_MAX: unknown */
    uint64_t budget;            /* 0: none */
    char *space_error;          /* why the space is unknown when the backend could
                                   not be asked; NULL otherwise */
} shelf_remote_terms;
/* The terms of name_or_url; space is asked of the backend when check_space
 * (a network call).  Errors: SHELF_EINVAL (not a target), SHELF_ENOMEM. */
SHELF_API int shelf_remote_terms_get(const char *name_or_url, int check_space,
                                     shelf_remote_terms *t, char **msg);
SHELF_API void shelf_remote_terms_release(shelf_remote_terms *t);

/* Open name_or_url and save, stat, load, list and remove a probe file
 * ("shelf-probe/<random>"); *ms gets the time it took.  The probe is
 * removed whatever happens.  Errors: those of opening and of the backend. */
SHELF_API int shelf_remote_test(const char *name_or_url, double *ms, char **msg);

#ifdef __cplusplus
}
#endif

#endif /* SHELF_REMOTE_H */
