/*
 * open.c: open what a user typed where a repository goes: a named remote
 * (remotes.c resolves it to its URL and settings) or a URL or folder
 * (target.c).  Kept apart from target.c because remotes.c opens URLs.
 */
#include <string.h>
#include "creds_int.h"

int shelf__be_open_target(const char *name_or_url, const shelf__be_opts *o,
                          shelf__backend **out, shelf__err *err)
{
    shelf__be_opts eff;
    shelf__remote r;
    int rc;

    *out = NULL;
    memset(&eff, 0, sizeof eff);
    if (o)
        eff = *o;
    memset(&r, 0, sizeof r);
    if ((rc = shelf__remote_resolve(name_or_url, &r, err)) != SHELF_OK)
        return rc;
    if (r.name) {
        if (!eff.ca_file)
            eff.ca_file = r.ca_file;
        if (!eff.region)
            eff.region = r.region;
        if (!eff.budget)
            eff.budget = r.budget;
        eff.remote = r.name;
    }
    rc = shelf__be_open(r.url, &eff, out, err);
    shelf__remote_release(&r);
    return rc;
}
