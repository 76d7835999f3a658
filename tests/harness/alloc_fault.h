/*
 * alloc_fault.h: the out-of-memory loops' one helper, for the unit tests
 * that run an operation with shelf__alloc_fail_after(n) for n = 1, 2, ...
 * Needs lib/ on the include path (the unit tests have it).
 */
#ifndef SHELF_ALLOC_FAULT_H
#define SHELF_ALLOC_FAULT_H

#include "common/common_int.h"

/*
 * Call right after the operation, before shelf__alloc_fail_after(0): 1 when
 * the injected failure was used up (the nth allocation happened), 0 when
 * the operation made fewer than n allocations, so the loop is done.
 */
static inline int fault_hit(long n)
{
    for (long i = 0; i < n; i++) {
        void *p = shelf__malloc(1);

        if (!p)
            return 0;
        shelf_free(p);
    }
    return 1;
}

#endif /* SHELF_ALLOC_FAULT_H */
