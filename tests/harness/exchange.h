/*
 * exchange.h: change-log records moved between two libraries of one
 * process, as a peer session moves them (exchange.c; tests of lib/sync).
 * Needs lib/ on the include path, as every unit test has it.
 */
#ifndef SHELF_TEST_EXCHANGE_H
#define SHELF_TEST_EXCHANGE_H

#include "shelf/sync.h"
#include "sync/sync_int.h"

/* Owned copies of records, as a transport carries them. */
typedef struct test_batch {
    shelf__change *c;
    size_t n, cap;
    size_t bytes;               /* of their items, fields and values */
} test_batch;

/* This library's device id into id, or the test fails. */
void test_device_id(shelf_library *lib, char id[SHELF_DEVICE_ID_LEN + 1]);
/* What from holds that to lacks, by to's version vector, into *b. */
void test_batch_for(shelf_library *to, shelf_library *from, test_batch *b);
void test_batch_free(test_batch *b);
/* One exchange from -> to (shelf__merge_apply; *st, may be NULL, says
 * what it did): how many records moved. */
size_t test_exchange(shelf_library *to, shelf_library *from, shelf__merge_stats *st);

#endif /* SHELF_TEST_EXCHANGE_H */
