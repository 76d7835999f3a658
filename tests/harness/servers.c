/*
 * servers.c: starting and stopping the unit tests' own servers (see
 * servers.h).
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "servers.h"

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int test_server_start(char *const argv[], const char *env, int quiet, double timeout,
                      pid_t *pid, char *line, size_t size)
{
    size_t got = 0;
    int fds[2], port = 0;
    double t0;

    *pid = -1;
    line[0] = '\0';
    if (pipe(fds) != 0)
        return 0;
    if ((*pid = fork()) < 0) {
        close(fds[0]);
        close(fds[1]);
        *pid = -1;
        return 0;
    }
    if (*pid == 0) {
        int devnull = open("/dev/null", O_RDWR);

        prctl(PR_SET_PDEATHSIG, SIGTERM);   /* never outlive the test */
        dup2(fds[1], 1);
        if (quiet && devnull >= 0)
            dup2(devnull, 2);
        close(fds[0]);
        if (env && putenv((char *)env) != 0)
            _exit(127);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(fds[1]);
    t0 = now();
    while (now() - t0 < timeout && got < size - 1) {
        struct pollfd p = { fds[0], POLLIN, 0 };

        if (poll(&p, 1, 1000) <= 0)
            continue;
        if (read(fds[0], line + got, 1) <= 0)
            break;
        if (line[got++] == '\n')
            break;
    }
    line[got] = '\0';
    close(fds[0]);
    if (strncmp(line, "ready ", 6) == 0)
        port = (int)strtol(line + 6, NULL, 10);
    if (port <= 0) {
        test_server_stop(pid);
        return 0;
    }
    return port;
}

void test_server_stop(pid_t *pid)
{
    int st;

    if (*pid <= 0)
        return;
    kill(*pid, SIGTERM);
    if (waitpid(*pid, &st, 0) < 0)
        perror("waitpid");
    *pid = -1;
}
