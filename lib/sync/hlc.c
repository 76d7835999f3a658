/*
 * hlc.c: hybrid logical clocks (Kulkarni, Demirbas et al., "Logical
 * Physical Clocks", 2014) for the change log (doc/sync.md, "Clock"): one
 * 64-bit number, 48 bits of milliseconds since the Unix epoch over 16 bits
 * of logical counter, that never goes back on one device even when its
 * wall clock does, and that orders a received change after the one that
 * caused it.  Pure functions over a caller's state; no locking.
 */
#include "sync_int.h"

#define LOGICAL_BITS 16
#define LOGICAL_MAX ((1u << LOGICAL_BITS) - 1)

uint64_t shelf__hlc_pack(uint64_t ms, unsigned logical)
{
    return (ms << LOGICAL_BITS) | (logical & LOGICAL_MAX);
}

uint64_t shelf__hlc_ms(uint64_t t)
{
    return t >> LOGICAL_BITS;
}

/* The next time after last, given the wall clock: the wall clock when it
 * is ahead, else last's time with the counter stepped (into the next
 * millisecond when the counter is full). */
static uint64_t advance(uint64_t last, uint64_t wall_ms)
{
    uint64_t ms = shelf__hlc_ms(last);

    if (wall_ms > ms)
        return shelf__hlc_pack(wall_ms, 0);
    return last + 1;    /* a full counter carries into the milliseconds */
}

uint64_t shelf__hlc_send(shelf__hlc *c, uint64_t wall_ms)
{
    c->last = advance(c->last, wall_ms);
    return c->last;
}

int shelf__hlc_recv(shelf__hlc *c, uint64_t remote, uint64_t wall_ms, uint64_t max_skew_ms,
                    uint64_t *out)
{
    uint64_t next;

    if (shelf__hlc_ms(remote) > wall_ms + max_skew_ms)
        return SHELF_EINVAL;
    next = advance(c->last, wall_ms);
    if (remote >= next)
        next = remote + 1;
    c->last = next;
    if (out)
        *out = next;
    return SHELF_OK;
}
