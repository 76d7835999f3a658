/*
 * faultproxy.c: a TCP proxy for tests that puts network faults between a
 * client and a real server on 127.0.0.1 (built as shelf-faultproxy; in
 * tests/CMakeLists.txt, $<TARGET_FILE:shelf-faultproxy>).
 *
 *   shelf-faultproxy [OPTIONS] TARGET_PORT
 *
 * It listens on 127.0.0.1 on a free port, prints "ready PORT" on stdout
 * (then nothing more) and forwards every connection to 127.0.0.1:TARGET_PORT,
 * one thread per connection.  Faults apply to the bytes of one connection
 * (counted from 0 in each direction); by default to the server's reply
 * stream ("down"), with --up to the client's request stream:
 *
 *   --cut N          close both sides once N bytes have passed
 *   --stall N:MS     after N bytes, forward nothing for MS milliseconds
 *   --flip N         invert byte N (xor 0xff)
 *   --refuse K       accept and at once close the first K connections
 *   --times M        apply cut/stall/flip to the first M forwarded
 *                    connections only (default: all)
 *   --up             faults on the request stream instead of the reply
 *   --control FILE   read the options above from FILE (one line, same
 *                    syntax) at each new connection, when FILE exists;
 *                    they replace the command line's, so a test can change
 *                    the faults while the proxy runs (write a new file and
 *                    rename it over FILE)
 *   --log FILE       append "conn N" for every accepted connection and
 *                    "fault N cut|stall|flip|refuse" when one fires
 *
 * Example (the first reply is cut after 300 bytes, the rest pass):
 *   shelf-faultproxy --cut 300 --times 1 8080
 * The proxy runs until killed (a test kills it when it ends).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct faults {
    long long cut, stall_at, flip;  /* -1: off */
    long stall_ms;
    long refuse, times;             /* times -1: all */
    int up;
} faults;

typedef struct conn {
    int cfd;
    long id;
    int faulty;
    faults f;
} conn;

static int target_port;
static const char *control_path, *log_path;
static faults cmdline = { -1, -1, -1, 0, 0, -1, 0 };
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static void logf_(const char *fmt, long id, const char *what)
{
    FILE *f;

    if (!log_path)
        return;
    pthread_mutex_lock(&log_lock);
    if ((f = fopen(log_path, "a")) != NULL) {
        fprintf(f, fmt, id, what);
        fclose(f);
    }
    pthread_mutex_unlock(&log_lock);
}

static int num(const char *s, long long *out)
{
    char *end;

    errno = 0;
    *out = strtoll(s, &end, 10);
    return s[0] && !*end && !errno && *out >= 0 ? 0 : -1;
}

/* Parse options into f from argv[*i]; 1 when argv[*i] was one, 0 when it
 * is not an option, -1 when malformed. */
static int parse_opt(int argc, char **argv, int *i, faults *f)
{
    const char *o = argv[*i];
    long long v;

    if (strcmp(o, "--up") == 0)
        return f->up = 1;
    if (strcmp(o, "--cut") && strcmp(o, "--stall") && strcmp(o, "--flip") &&
        strcmp(o, "--refuse") && strcmp(o, "--times"))
        return 0;
    if (*i + 1 >= argc)
        return -1;
    (*i)++;
    if (strcmp(o, "--stall") == 0) {
        char *colon = strchr(argv[*i], ':');
        long long ms;

        if (!colon)
            return -1;
        *colon = '\0';
        if (num(argv[*i], &v) || num(colon + 1, &ms))
            return -1;
        f->stall_at = v;
        f->stall_ms = (long)ms;
        return 1;
    }
    if (num(argv[*i], &v))
        return -1;
    if (strcmp(o, "--cut") == 0)
        f->cut = v;
    else if (strcmp(o, "--flip") == 0)
        f->flip = v;
    else if (strcmp(o, "--refuse") == 0)
        f->refuse = (long)v;
    else
        f->times = (long)v;
    return 1;
}

/* The faults for a new connection: the control file's when it exists. */
static faults current_faults(void)
{
    faults f = { -1, -1, -1, 0, 0, -1, 0 };
    char line[512], *argv[32], *save = NULL, *tok;
    int argc = 1, i;
    FILE *fp;

    if (!control_path || !(fp = fopen(control_path, "r")))
        return cmdline;
    if (!fgets(line, sizeof line, fp)) {
        fclose(fp);
        return f;
    }
    fclose(fp);
    argv[0] = (char *)"control";
    for (tok = strtok_r(line, " \t\r\n", &save); tok && argc < 31;
         tok = strtok_r(NULL, " \t\r\n", &save))
        argv[argc++] = tok;
    for (i = 1; i < argc; i++)
        if (parse_opt(argc, argv, &i, &f) <= 0)
            fprintf(stderr, "faultproxy: bad control option '%s'\n", argv[i]);
    return f;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Forward n bytes of one direction, applying the faults when faulty.
 * -1: the connection is to be closed. */
static int forward(conn *c, int to, char *buf, size_t n, long long *off, int faulty)
{
    const faults *f = &c->f;
    long long o = *off;
    size_t k;

    if (faulty && f->flip >= o && f->flip < o + (long long)n) {
        buf[f->flip - o] ^= (char)0xff;
        logf_("fault %ld %s\n", c->id, "flip");
    }
    if (faulty && f->stall_at >= o && f->stall_at < o + (long long)n) {
        k = (size_t)(f->stall_at - o);
        if (faulty && f->cut >= 0 && f->cut < f->stall_at)
            k = (size_t)(f->cut - o);
        if (send_all(to, buf, k))
            return -1;
        logf_("fault %ld %s\n", c->id, "stall");
        sleep_ms(f->stall_ms);
        buf += k;
        n -= k;
        o += (long long)k;
    }
    if (faulty && f->cut >= 0 && f->cut < o + (long long)n) {
        k = f->cut > o ? (size_t)(f->cut - o) : 0;
        (void)send_all(to, buf, k);
        logf_("fault %ld %s\n", c->id, "cut");
        return -1;
    }
    if (send_all(to, buf, n))
        return -1;
    *off = o + (long long)n;
    return 0;
}

static void *run_conn(void *arg)
{
    conn *c = arg;
    struct sockaddr_in sa;
    int sfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    long long up_off = 0, down_off = 0;
    char buf[16384];

    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)target_port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (sfd < 0 || connect(sfd, (struct sockaddr *)&sa, sizeof sa) != 0)
        goto out;
    for (;;) {
        struct pollfd p[2] = { { c->cfd, POLLIN, 0 }, { sfd, POLLIN, 0 } };
        ssize_t r;

        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[0].revents) {
            r = recv(c->cfd, buf, sizeof buf, 0);
            if (r <= 0 || forward(c, sfd, buf, (size_t)r, &up_off, c->faulty && c->f.up))
                break;
        }
        if (p[1].revents) {
            r = recv(sfd, buf, sizeof buf, 0);
            if (r <= 0 || forward(c, c->cfd, buf, (size_t)r, &down_off, c->faulty && !c->f.up))
                break;
        }
    }
out:
    if (sfd >= 0)
        close(sfd);
    close(c->cfd);
    free(c);
    return NULL;
}

static int usage(void)
{
    fprintf(stderr, "usage: shelf-faultproxy [--cut N] [--stall N:MS] [--flip N] [--refuse K]\n"
                    "       [--times M] [--up] [--control FILE] [--log FILE] TARGET_PORT\n");
    return 2;
}

int main(int argc, char **argv)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    int lfd, i, one = 1;
    long long v;
    long accepted = 0, forwarded = 0;

    signal(SIGPIPE, SIG_IGN);
    for (i = 1; i < argc - 1; i++) {
        int r = parse_opt(argc, argv, &i, &cmdline);

        if (r < 0)
            return usage();
        if (r)
            continue;
        if (strcmp(argv[i], "--control") == 0 && i + 2 < argc)
            control_path = argv[++i];
        else if (strcmp(argv[i], "--log") == 0 && i + 2 < argc)
            log_path = argv[++i];
        else
            return usage();
    }
    if (i != argc - 1 || num(argv[i], &v) || v < 1 || v > 65535)
        return usage();
    target_port = (int)v;
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(lfd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(lfd, 64) != 0 ||
        getsockname(lfd, (struct sockaddr *)&sa, &sl) != 0) {
        perror("faultproxy: cannot listen");
        return 1;
    }
    printf("ready %d\n", ntohs(sa.sin_port));
    fflush(stdout);
    for (;;) {
        int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        faults f;
        conn *c;
        pthread_t t;

        if (cfd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            perror("faultproxy: accept");
            return 1;
        }
        accepted++;
        logf_("conn %ld%s\n", accepted, "");
        f = current_faults();
        if (accepted <= f.refuse) {
            struct linger lg = { 1, 0 };    /* close with a reset */

            logf_("fault %ld %s\n", accepted, "refuse");
            (void)setsockopt(cfd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
            close(cfd);
            continue;
        }
        forwarded++;
        if (!(c = calloc(1, sizeof *c))) {
            close(cfd);
            continue;
        }
        c->cfd = cfd;
        c->id = accepted;
        c->f = f;
        c->faulty = f.times < 0 || forwarded <= f.times;
        if (pthread_create(&t, NULL, run_conn, c) != 0) {
            close(cfd);
            free(c);
            continue;
        }
        pthread_detach(t);
    }
}
