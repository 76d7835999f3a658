/*
 * discover.c: finding paired devices on the local network without an
 * address (doc/sync.md, "Discovery"; packet in doc/formats.md, "Discovery
 * announcement").  A listening device broadcasts a small UDP datagram
 * (its id, name and TCP port) on every IPv4 interface that has a
 * broadcast address, every few seconds, as Syncthing's local discovery
 * does; a device that wants to reach it listens for one.  mDNS would need
 * avahi and a D-Bus daemon, which a stage rig may not run.
 *
 * Nothing here is trusted: an announcement only says where to try, and the
 * TLS handshake that follows pins the id (peer.c), so a forged one costs a
 * failed connection and nothing else.  fuzz/fuzz_discovery.c feeds the
 * parser.
 */
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>
#include "sync_int.h"

#define MAGIC "SHLFDSC1"
#define MAGIC_LEN 8
#define PACKET_MAX 1400

struct shelf_announcer {
    pthread_t thread;
    int fd, port, udp_port, interval_ms;
    int pipe[2];                /* written to stop the thread */
    char packet[PACKET_MAX];
    size_t len;
    int sent;                   /* datagrams sent (for tests) */
};

int shelf_discovery_port(void)
{
    const char *e = getenv("SHELF_DISCOVERY_PORT");
    long v = e && *e ? strtol(e, NULL, 10) : 0;

    return v > 0 && v < 65536 ? (int)v : SHELF_DISCOVERY_PORT;
}

int shelf__disc_parse(const void *data, size_t n, shelf_announce *out)
{
    json_t *root = NULL, *dev, *name, *port;
    shelf__err e = { 0, "" };
    unsigned char sha[32];
    char canon[SHELF_DEVICE_ID_LEN + 1];
    int rc = SHELF_EFORMAT;

    memset(out, 0, sizeof *out);
    out->size = sizeof *out;
    if (n <= MAGIC_LEN || n > PACKET_MAX || memcmp(data, MAGIC, MAGIC_LEN) != 0)
        return SHELF_EFORMAT;
    if (shelf__json_parse(&e, SHELF_EFORMAT, "a discovery packet", (const char *)data + MAGIC_LEN,
                          n - MAGIC_LEN, 0, &root) != SHELF_OK)
        return e.rc == SHELF_ENOMEM ? SHELF_ENOMEM : SHELF_EFORMAT;
    dev = json_object_get(root, "device");
    name = json_object_get(root, "name");
    port = json_object_get(root, "port");
    if (json_is_string(dev) && shelf_device_id_parse(json_string_value(dev), sha) == SHELF_OK &&
        (shelf_device_id_format(sha, canon), !strcmp(canon, json_string_value(dev))) &&
        json_is_string(name) && json_string_length(name) <= SHELF_DEVICE_NAME_MAX &&
        strlen(json_string_value(name)) == json_string_length(name) && json_is_integer(port) &&
        json_integer_value(port) > 0 && json_integer_value(port) < 65536) {
        memcpy(out->id, canon, sizeof out->id);
        snprintf(out->name, sizeof out->name, "%s", json_string_value(name));
        out->port = (int)json_integer_value(port);
        rc = SHELF_OK;
    }
    json_decref(root);
    return rc;
}

/* One datagram to every IPv4 broadcast address of the host's interfaces
 * that are up; how many were sent. */
static int broadcast(shelf_announcer *a)
{
    struct ifaddrs *ifs = NULL, *i;
    int n = 0;

    if (getifaddrs(&ifs) != 0)
        return 0;
    for (i = ifs; i; i = i->ifa_next) {
        struct sockaddr_in to;

        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || !(i->ifa_flags & IFF_UP) ||
            !(i->ifa_flags & IFF_BROADCAST) || !i->ifa_broadaddr)
            continue;
        memcpy(&to, i->ifa_broadaddr, sizeof to);
        to.sin_port = htons((uint16_t)a->udp_port);
        if (sendto(a->fd, a->packet, a->len, 0, (struct sockaddr *)&to, sizeof to) == (ssize_t)a->len)
            n++;
    }
    freeifaddrs(ifs);
    return n;
}

static void *announce_loop(void *arg)
{
    shelf_announcer *a = arg;
    struct pollfd p = { a->pipe[0], POLLIN, 0 };

    for (;;) {
        a->sent += broadcast(a);
        if (poll(&p, 1, a->interval_ms) != 0)
            break;      /* asked to stop (or poll failed: stop too) */
    }
    return NULL;
}

int shelf_sync_announce_start(shelf_library *lib, int port, int interval_ms, shelf_announcer **out)
{
    shelf_device_info me = { .size = sizeof me };
    shelf_announcer *a;
    json_t *o;
    char *text;
    int one = 1, rc;

    *out = NULL;
    if (!lib)
        return SHELF_EINVAL;
    if (port <= 0 || port > 65535)
        return shelf__seterr(&lib->err, SHELF_EINVAL, "invalid port %d to announce", port);
    if ((rc = shelf_device_self(lib, &me)) != SHELF_OK)
        return rc;
    if (!(a = shelf__calloc(1, sizeof *a)))
        return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    a->port = port;
    a->udp_port = shelf_discovery_port();
    a->interval_ms = interval_ms > 0 ? interval_ms : 5000;
    a->fd = a->pipe[0] = a->pipe[1] = -1;
    o = json_pack("{s:s, s:s, s:i}", "device", me.id, "name", me.name, "port", port);
    text = o ? shelf__json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!text || strlen(text) + MAGIC_LEN > PACKET_MAX) {
        shelf_free(text);
        shelf_free(a);
        return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    }
    memcpy(a->packet, MAGIC, MAGIC_LEN);
    memcpy(a->packet + MAGIC_LEN, text, strlen(text));
    a->len = MAGIC_LEN + strlen(text);
    shelf_free(text);
    if ((a->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0 ||
        setsockopt(a->fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof one) != 0 ||
        pipe2(a->pipe, O_CLOEXEC) != 0) {
        rc = shelf__seterr_errno(&lib->err, errno, "cannot announce this device on the network");
        goto fail;
    }
    if ((errno = pthread_create(&a->thread, NULL, announce_loop, a)) != 0) {
        rc = shelf__seterr_errno(&lib->err, errno, "cannot start the announcer");
        goto fail;
    }
    *out = a;
    return SHELF_OK;
fail:
    if (a->fd >= 0)
        close(a->fd);
    if (a->pipe[0] >= 0) {
        close(a->pipe[0]);
        close(a->pipe[1]);
    }
    shelf_free(a);
    return rc;
}

int shelf_sync_announce_stop(shelf_announcer *a)
{
    int sent;

    if (!a)
        return 0;
    (void)!write(a->pipe[1], "x", 1);
    pthread_join(a->thread, NULL);
    close(a->pipe[0]);
    close(a->pipe[1]);
    close(a->fd);
    sent = a->sent;
    shelf_free(a);
    return sent;
}

int shelf_sync_discover(int timeout_ms, int (*fn)(void *ud, const shelf_announce *a), void *ud,
                        char **errmsg)
{
    struct sockaddr_in me, from;
    double end = shelf__monotonic() + timeout_ms / 1000.0;
    int fd, one = 1, rc = SHELF_OK;

    if (errmsg)
        *errmsg = NULL;
    memset(&from, 0, sizeof from);
    memset(&me, 0, sizeof me);
    me.sin_family = AF_INET;
    me.sin_port = htons((uint16_t)shelf_discovery_port());
    me.sin_addr.s_addr = htonl(INADDR_ANY);
    /* several processes may listen at once (SO_REUSEADDR on a broadcast
     * port gives each of them every datagram) */
    if ((fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, (struct sockaddr *)&me, sizeof me) != 0) {
        int e = errno;

        if (fd >= 0)
            close(fd);
        if (errmsg)
            *errmsg = shelf__asprintf("cannot listen for devices on UDP port %d: %s",
                                      shelf_discovery_port(), strerror(e));
        return SHELF_EIO;
    }
    for (;;) {
        struct pollfd p = { fd, POLLIN, 0 };
        double left = end - shelf__monotonic();
        char buf[PACKET_MAX + 1], host[INET_ADDRSTRLEN];
        socklen_t fl = sizeof from;
        shelf_announce a;
        ssize_t n;

        if (left <= 0)
            break;
        if (poll(&p, 1, (int)(left * 1000) + 1) <= 0)
            continue;
        if ((n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl)) <= 0 ||
            from.sin_family != AF_INET || shelf__disc_parse(buf, (size_t)n, &a) != SHELF_OK ||
            !inet_ntop(AF_INET, &from.sin_addr, host, sizeof host))
            continue;       /* not ours, or not readable: not an error */
        snprintf(a.address, sizeof a.address, "%s:%d", host, a.port);
        if ((rc = fn(ud, &a)) != 0)
            break;
    }
    close(fd);
    return rc;
}
