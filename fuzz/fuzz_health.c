/*
 * fuzz_health.c: fuzz target for the reader of the streaming engine's
 * health file (shelf__health_parse, lib/stream/health.c): the input is a
 * whole DIR/stream/health.json as anyone may have written it into a
 * library folder.  Invariants: the answer is OK, EFORMAT, EVERSION or
 * ENOMEM; a report has a pid, a host, figures that are finite and not
 * negative, suggestions with one-line kind, text and action, and the text
 * it was read from; a failure has one line of message and no report.
 */
#include <math.h>
#include <string.h>
#include "fuzz_target.h"
#include "stream/stream_int.h"

#define CHECK(cond) FUZZ_CHECK("fuzz_health", cond)

static int one_line(const char *s)
{
    return s && !strchr(s, '\n') && !strchr(s, '\r');
}

static int figure(double d)
{
    return isfinite(d) && d >= 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    shelf__err err = { 0, "" };
    shelf_stream_report *r = NULL;
    const shelf_stream_health *h;
    size_t i;
    int rc = shelf__health_parse((const char *)data, size, &r, &err);

    CHECK(rc == SHELF_OK || rc == SHELF_EFORMAT || rc == SHELF_EVERSION || rc == SHELF_ENOMEM);
    if (rc != SHELF_OK) {
        CHECK(r == NULL);
        CHECK(err.msg[0] != '\0' && !strchr(err.msg, '\n'));
        return 0;
    }
    CHECK(r != NULL && r->size == sizeof *r);
    CHECK(r->state == SHELF_STREAM_LIVE || r->state == SHELF_STREAM_ENDED);
    CHECK(r->pid > 0 && one_line(r->host));
    CHECK(r->started >= 0 && r->updated >= 0 && r->underruns_since >= 0);
    h = &r->health;
    CHECK(h->size == sizeof *h);
    CHECK(figure(h->uptime) && figure(h->window) && figure(h->underruns_per_min) &&
          figure(h->min_fill_pct) && figure(h->lat_p50_us) && figure(h->lat_p99_us) &&
          figure(h->lat_max_us) && figure(h->mb_per_s) && figure(h->busy) &&
          figure(h->voices_avg) && figure(h->ring_ms));
    CHECK(h->voices >= 0 && h->voices_peak >= 0);
    CHECK(r->nsuggestions == 0 || r->suggestions != NULL);
    for (i = 0; i < r->nsuggestions; i++)
        CHECK(one_line(r->suggestions[i].kind) && one_line(r->suggestions[i].text) &&
              one_line(r->suggestions[i].action));
    CHECK(r->json != NULL && strlen(r->json) <= size);
    shelf_stream_report_free(r);
    return 0;
}
