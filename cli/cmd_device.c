/*
 * cmd_device.c: this library as a device (shelf device id|name): its id as
 * text, as a QR code on the terminal and as a PNG file; and the devices it
 * is paired with (shelf device add|ls|rename|rm).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "shelf/sync.h"
#include "cli.h"

/* Write data to path through a temporary file beside it, so a reader never
 * sees a part of it. */
static int write_file(const char *path, const unsigned char *data, size_t n, int mode)
{
    size_t len = strlen(path) + 32, done = 0;
    char *tmp = malloc(len);
    int fd, e = 0;

    if (!tmp)
        return ENOMEM;
    snprintf(tmp, len, "%s.tmp-%ld", path, (long)getpid());
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)) < 0) {
        e = errno;
        free(tmp);
        return e;
    }
    while (done < n && !e) {
        ssize_t w = write(fd, data + done, n - done);

        if (w < 0 && errno != EINTR)
            e = errno;
        else if (w > 0)
            done += (size_t)w;
    }
    if (!e && fsync(fd) != 0)
        e = errno;
    if (close(fd) != 0 && !e)
        e = errno;
    if (!e && rename(tmp, path) != 0)
        e = errno;
    if (e)
        (void)unlink(tmp);
    free(tmp);
    return e;
}

static int qr_out(const char *id, int format, const char *png)
{
    unsigned char *data = NULL;
    size_t n = 0;
    char *msg = NULL;
    int rc = shelf_qr_render(id, format, &data, &n, &msg), e;

    if (rc != SHELF_OK) {
        cli_error("%s", msg ? msg : shelf_strerror(rc));
        shelf_free(msg);
        return cli_exit_for(rc);
    }
    if (format == SHELF_QR_TEXT) {
        fwrite(data, 1, n, stdout);
    } else if ((e = write_file(png, data, n, 0666)) != 0) {
        cli_error("cannot write '%s': %s", png, cli_errno_text(e));
        shelf_free(data);
        return EXIT_FAIL;
    }
    shelf_free(data);
    return EXIT_OK;
}

static int device_id(const cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "png", required_argument, NULL, 'p' }, { "qr", no_argument, NULL, 'q' },
        { "no-qr", no_argument, NULL, 'n' }, { NULL, 0, NULL, 0 }
    };
    shelf_device_info d = { .size = sizeof d };
    shelf_library *lib;
    const char *png = NULL;
    int ch, qr = -1, rc, ex;

    FOR_OPTS(ch, argc, argv, "", longopts) {
        switch (ch) {
        case 'p': png = optarg; break;
        case 'q': qr = 1; break;
        case 'n': qr = 0; break;
        default: return EXIT_USAGE;
        }
    }
    if (optind != argc) {
        cli_error("usage: shelf device id [--png FILE] [--qr|--no-qr]");
        return EXIT_USAGE;
    }
    if ((ex = cli_open(c, 0, &lib)) != EXIT_OK)
        return ex;
    rc = shelf_device_self(lib, &d);
    if (rc != SHELF_OK) {
        ex = cli_fail(lib, rc);
        shelf_library_close(lib);
        return ex;
    }
    shelf_library_close(lib);
    if (png && (ex = qr_out(d.id, SHELF_QR_PNG, png)) != EXIT_OK)
        return ex;
    if (c->json) {
        json_t *o = json_pack("{s:s, s:s, s:I, s:s}", "id", d.id, "name", d.name, "created",
                              (json_int_t)d.created, "key_type", d.key_type);

        if (o && png)
            cli_json_check(json_object_set_new(o, "png", tool_json_name(png)));
        cli_print_json(o);
        return EXIT_OK;
    }
    printf("%s\n", d.id);
    if (!c->quiet)
        printf("name: %s\n", d.name);
    /* The QR code by default only on a terminal: a pipe gets the id alone. */
    if (qr == 1 || (qr == -1 && !c->quiet && isatty(STDOUT_FILENO)))
        return qr_out(d.id, SHELF_QR_TEXT, NULL);
    return EXIT_OK;
}

static int device_name(const cli *c, int argc, char **argv)
{
    shelf_device_info d = { .size = sizeof d };
    shelf_library *lib;
    int rc, ex;

    if (argc > 2) {
        cli_error("usage: shelf device name [NEW-NAME]");
        return EXIT_USAGE;
    }
    if ((ex = cli_open(c, 0, &lib)) != EXIT_OK)
        return ex;
    rc = argc == 2 ? shelf_device_rename(lib, argv[1]) : SHELF_OK;
    if (rc == SHELF_OK)
        rc = shelf_device_self(lib, &d);
    ex = rc == SHELF_OK ? EXIT_OK : cli_fail(lib, rc);
    shelf_library_close(lib);
    if (ex != EXIT_OK)
        return ex;
    if (c->json)
        cli_print_json(json_pack("{s:s, s:s}", "id", d.id, "name", d.name));
    else
        printf("%s\n", d.name);
    return EXIT_OK;
}

static json_t *peer_json(const shelf_peer *p)
{
    json_t *o = json_pack("{s:s, s:s, s:I}", "id", p->id, "name", p->name, "added", (json_int_t)p->added);

    if (o) {
        cli_json_check(json_object_set_new(o, "revoked", p->revoked ? json_integer(p->revoked) : json_null()));
        cli_json_check(json_object_set_new(o, "last_seen",
                                           p->last_seen ? json_integer(p->last_seen) : json_null()));
        cli_json_check(json_object_set_new(o, "address",
                                           *p->address ? json_string(p->address) : json_null()));
        cli_json_check(json_object_set_new(o, "library",
                                           *p->library ? json_string(p->library) : json_null()));
    }
    return o;
}

static int list_one(void *ud, const shelf_peer *p)
{
    json_t *arr = ud;

    if (arr) {
        cli_json_check(json_array_append_new(arr, peer_json(p)));
        return 0;
    }
    printf("%s  %s%s\n", p->id, p->name, p->revoked ? "  (removed)" : "");
    return 0;
}

static int device_ls(const cli *c, int argc, char **argv)
{
    static const struct option longopts[] = { { "all", no_argument, NULL, 'a' }, { NULL, 0, NULL, 0 } };
    shelf_library *lib;
    json_t *arr = NULL;
    int ch, all = 0, rc, ex;

    FOR_OPTS(ch, argc, argv, "", longopts) {
        switch (ch) {
        case 'a': all = 1; break;
        default: return EXIT_USAGE;
        }
    }
    if (optind != argc) {
        cli_error("usage: shelf device ls [--all]");
        return EXIT_USAGE;
    }
    if ((ex = cli_open(c, 0, &lib)) != EXIT_OK)
        return ex;
    if (c->json && !(arr = json_array())) {
        shelf_library_close(lib);
        cli_error("out of memory");
        return EXIT_FAIL;
    }
    rc = shelf_device_list(lib, all, list_one, arr);
    ex = rc == SHELF_OK ? EXIT_OK : cli_fail(lib, rc);
    shelf_library_close(lib);
    if (arr && ex == EXIT_OK)
        cli_print_json(arr);
    else
        json_decref(arr);
    return ex;
}

/* device add ID [--name N], device rm ID, device rename ID NAME */
static int device_change(const cli *c, int argc, char **argv)
{
    static const struct option longopts[] = { { "name", required_argument, NULL, 'n' },
                                              { NULL, 0, NULL, 0 } };
    const char *verb = argv[0], *name = NULL;
    int add = !strcmp(verb, "add"), rename = !strcmp(verb, "rename"), ch, rc, ex;
    char id[SHELF_DEVICE_ID_LEN + 1];
    unsigned char sha[32];
    shelf_library *lib;
    int64_t gen0 = 0, gen1 = 0;

    FOR_OPTS(ch, argc, argv, "", add ? longopts : longopts + 1) {
        switch (ch) {
        case 'n': name = optarg; break;
        default: return EXIT_USAGE;
        }
    }
    if (argc - optind != (rename ? 2 : 1)) {
        cli_error("usage: shelf device %s", add ? "add ID [--name NAME]" : rename ? "rename ID NAME" : "rm ID");
        return EXIT_USAGE;
    }
    if ((ex = cli_open(c, 0, &lib)) != EXIT_OK)
        return ex;
    if (add)
        rc = shelf_device_add(lib, argv[optind], name);
    else if (rename)
        rc = shelf_device_peer_rename(lib, argv[optind], argv[optind + 1]);
    else if ((rc = shelf_sync_keygen(lib, &gen0)) == SHELF_OK &&
             (rc = shelf_device_remove(lib, argv[optind])) == SHELF_OK)
        rc = shelf_sync_keygen(lib, &gen1);
    ex = rc == SHELF_OK ? EXIT_OK : cli_fail(lib, rc);
    shelf_library_close(lib);
    if (ex != EXIT_OK || shelf_device_id_parse(argv[optind], sha) != SHELF_OK)
        return ex;
    shelf_device_id_format(sha, id);
    if (c->json) {
        json_t *o = json_pack("{s:s, s:s}", "action", verb, "id", id);

        if (o && gen1 > gen0)
            cli_json_check(json_object_set_new(o, "keygen", json_integer(gen1)));
        cli_print_json(o);
    } else if (!c->quiet) {
        printf("%s %s\n", add ? "paired with" : rename ? "renamed" : "removed", id);
        if (gen1 > gen0)
            printf("library key rotated to generation %lld\n", (long long)gen1);
    }
    return ex;
}

/* "90", "90s", "15m", "24h", "7d" in seconds; -1 when it is not one. */
static int64_t duration(const char *s)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || end == s || v <= 0 || v > 366LL * 86400)
        return -1;
    if (!*end || !strcmp(end, "s"))
        return v;
    if (!strcmp(end, "m"))
        return v * 60;
    if (!strcmp(end, "h"))
        return v * 3600;
    if (!strcmp(end, "d") && v <= 366)
        return v * 86400;
    return -1;
}

static int device_invite(const cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "name", required_argument, NULL, 'n' }, { "expires", required_argument, NULL, 'e' },
        { "address", required_argument, NULL, 'a' }, { "png", required_argument, NULL, 'p' },
        { "out", required_argument, NULL, 'o' }, { "qr", no_argument, NULL, 'q' },
        { "no-qr", no_argument, NULL, 'N' }, { NULL, 0, NULL, 0 }
    };
    shelf_invite_opts o = { .size = sizeof o };
    const char *addrs[8], *png = NULL, *out = NULL;
    shelf_library *lib;
    char *text = NULL, *line;
    int ch, qr = -1, rc, ex, e;

    FOR_OPTS(ch, argc, argv, "", longopts) {
        switch (ch) {
        case 'n': o.name = optarg; break;
        case 'e':
            if ((o.expires = duration(optarg)) < 0) {
                cli_error("invalid duration '%s' (like 90s, 15m, 24h, 7d)", optarg);
                return EXIT_USAGE;
            }
            break;
        case 'a':
            if (o.naddresses == 8) {
                cli_error("at most 8 addresses");
                return EXIT_USAGE;
            }
            addrs[o.naddresses++] = optarg;
            break;
        case 'p': png = optarg; break;
        case 'o': out = optarg; break;
        case 'q': qr = 1; break;
        case 'N': qr = 0; break;
        default: return EXIT_USAGE;
        }
    }
    if (optind != argc) {
        cli_error("usage: shelf device invite [--name NAME] [--expires DURATION] "
                  "[--address HOST:PORT]... [--png FILE] [--out FILE]");
        return EXIT_USAGE;
    }
    o.addresses = o.naddresses ? addrs : NULL;
    if ((ex = cli_open(c, 0, &lib)) != EXIT_OK)
        return ex;
    rc = shelf_device_invite(lib, &o, &text);
    ex = rc == SHELF_OK ? EXIT_OK : cli_fail(lib, rc);
    shelf_library_close(lib);
    if (ex != EXIT_OK)
        return ex;
    if (out) {
        if (!(line = malloc(strlen(text) + 2))) {
            shelf_free(text);
            cli_error("out of memory");
            return EXIT_FAIL;
        }
        snprintf(line, strlen(text) + 2, "%s\n", text);
        e = write_file(out, (const unsigned char *)line, strlen(line), 0600);
        free(line);
        if (e) {
            cli_error("cannot write '%s': %s", out, cli_errno_text(e));
            shelf_free(text);
            return EXIT_FAIL;
        }
    }
    if (png && (ex = qr_out(text, SHELF_QR_PNG, png)) != EXIT_OK) {
        shelf_free(text);
        return ex;
    }
    if (c->json) {
        json_t *j = json_pack("{s:s}", "invitation", text);

        if (j && out)
            cli_json_check(json_object_set_new(j, "out", tool_json_name(out)));
        if (j && png)
            cli_json_check(json_object_set_new(j, "png", tool_json_name(png)));
        cli_print_json(j);
        shelf_free(text);
        return EXIT_OK;
    }
    printf("%s\n", text);
    if (qr == 1 || (qr == -1 && !c->quiet && isatty(STDOUT_FILENO)))
        ex = qr_out(text, SHELF_QR_TEXT, NULL);
    shelf_free(text);
    return ex;
}

/* The invitation's text: the argument, or the file it names. */
static char *invite_text(const char *arg)
{
    char buf[8200];
    size_t n;
    FILE *f;

    if (!strncmp(arg, "shelf-invite:", 13) || !(f = fopen(arg, "rb")))
        return strdup(arg);
    n = fread(buf, 1, sizeof buf - 1, f);
    (void)fclose(f);   /* read-only: nothing to lose */
    buf[n] = '\0';
    return strdup(buf);
}

static int device_accept(const cli *c, int argc, char **argv)
{
    static const struct option longopts[] = { { "name", required_argument, NULL, 'n' },
                                              { NULL, 0, NULL, 0 } };
    shelf_accept_opts o = { .size = sizeof o };
    shelf_accept_result r = { .size = sizeof r };
    shelf_library *lib;
    char *text;
    int ch, rc, ex;

    FOR_OPTS(ch, argc, argv, "", longopts) {
        switch (ch) {
        case 'n': o.name = optarg; break;
        default: return EXIT_USAGE;
        }
    }
    if (argc - optind != 1) {
        cli_error("usage: shelf device accept INVITATION|FILE [--name NAME]");
        return EXIT_USAGE;
    }
    if (!(text = invite_text(argv[optind]))) {
        cli_error("out of memory");
        return EXIT_FAIL;
    }
    if ((ex = cli_open(c, 0, &lib)) != EXIT_OK) {
        free(text);
        return ex;
    }
    rc = shelf_device_accept(lib, text, &o, &r);
    free(text);
    ex = rc == SHELF_OK ? EXIT_OK : cli_fail(lib, rc);
    shelf_library_close(lib);
    if (ex != EXIT_OK)
        return ex;
    if (c->json) {
        json_t *j = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I}", "id", r.id, "name",
                              r.name, "address", r.address, "keygen",
                              (json_int_t)r.keygen, "sent", (json_int_t)r.sync.sent, "received",
                              (json_int_t)r.sync.received);

        cli_print_json(j);
    } else if (!c->quiet) {
        printf("paired with %s (%s) at %s\n", r.name, r.id, r.address);
        printf("library key generation %lld; synced: %lld sent, %lld received\n",
               (long long)r.keygen, (long long)r.sync.sent, (long long)r.sync.received);
    }
    return EXIT_OK;
}

int cmd_device(const cli *c, int argc, char **argv)
{
    if (argc < 2) {
        cli_error("usage: shelf device id|name|add|ls|rename|rm|invite|accept ...");
        return EXIT_USAGE;
    }
    if (!strcmp(argv[1], "id"))
        return device_id(c, argc - 1, argv + 1);
    if (!strcmp(argv[1], "name"))
        return device_name(c, argc - 1, argv + 1);
    if (!strcmp(argv[1], "invite"))
        return device_invite(c, argc - 1, argv + 1);
    if (!strcmp(argv[1], "accept"))
        return device_accept(c, argc - 1, argv + 1);
    if (!strcmp(argv[1], "ls"))
        return device_ls(c, argc - 1, argv + 1);
    if (!strcmp(argv[1], "add") || !strcmp(argv[1], "rm") || !strcmp(argv[1], "rename"))
        return device_change(c, argc - 1, argv + 1);
    cli_error("unknown device command '%s' (id, name, add, ls, rename, rm, invite, accept)", argv[1]);
    return EXIT_USAGE;
}
