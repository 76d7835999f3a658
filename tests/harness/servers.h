/*
 * servers.h: start a test server that prints "ready PORT ..." on its first
 * line of standard output, and stop it again (TERM, then wait), for the
 * unit tests that run a server of their own on 127.0.0.1.
 */
#ifndef SHELF_TEST_SERVERS_H
#define SHELF_TEST_SERVERS_H

#include <stddef.h>
#include <sys/types.h>

/* Run argv (argv[0] looked up in PATH) with its standard output on a pipe,
 * env ("NAME=VALUE", or NULL) added to its environment and its standard
 * error on /dev/null when quiet; the child gets SIGTERM when this process
 * dies.  Reads its first line (at most timeout seconds) into line.
 * Returns PORT from "ready PORT ..." with the child's pid in *pid, or 0
 * when it printed no such line (the child is then stopped, *pid is -1 and
 * line holds what it printed). */
int test_server_start(char *const argv[], const char *env, int quiet, double timeout,
                      pid_t *pid, char *line, size_t size);

/* TERM the server of test_server_start and wait for it; *pid becomes -1.
 * Nothing when *pid is not above 0. */
void test_server_stop(pid_t *pid);

#endif
