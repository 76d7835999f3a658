/*
 * bench_util.h: helpers the benchmarks share (bench_util.c).
 */
#ifndef SHELF_BENCH_UTIL_H
#define SHELF_BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* The program's name, for messages ("bench_import"). */
extern const char *bench_name;

/* A 64-bit mixer (splitmix64's finaliser): deterministic pseudo-randomness. */
uint64_t bench_mix64(uint64_t x);
/* a + "/" + b into out; 0, or -1 with a message when it does not fit. */
int bench_join_path(char *out, size_t size, const char *a, const char *b);
/* mkdir -p; 0, or -1 with a message. */
int bench_mkdir_p(const char *path);
/* rm -rf; a path that does not exist is not an error. */
void bench_rm_rf(const char *path);
/* "CPU model, N CPUs, M GiB, file system of dir" into out. */
void bench_machine_desc(const char *dir, char *out, size_t size);
/* A whole number in min..max; 0, or -1. */
int bench_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

#endif /* SHELF_BENCH_UTIL_H */
