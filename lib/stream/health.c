/*
 * health.c: the engine's health.  shelf_stream_get_health keeps a rolling
 * window of readings of the engine's counters (the last minute) on the
 * control thread; shelf_stream_health_publish writes them for the rest of
 * shelf as DIR/stream/health.json, with the samples that underran most and
 * suggestions drawn from the measured figures; shelf_stream_health_read
 * reads that file back (its parser, shelf__health_parse, is fuzzed).
 * Formats in doc/formats.md ("stream/health.json"); doc/streaming.md,
 * "Monitoring", says how the suggestions are worked out.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>
#include "stream_int.h"
#include "../catalog/catalog_int.h"

#define HL_SLOTS 64            /* readings kept: more than a minute at one a second */
#define HL_WINDOW 60.0         /* seconds of the recent figures */
#define HEALTH_VERSION 1
#define HEALTH_DIR "stream"
#define HEALTH_NAME "health.json"
#define HEALTH_MAX (1 << 20)   /* bytes of a health file read back */
#define TOP_SAMPLES 8          /* samples listed, and suggested for pinning */
#define MARGIN 0.8             /* of a measured capacity that is planned on */

enum { C_UNDERRUNS, C_NOT_READY, C_DROPPED, C_READ_ERRORS, C_LOST, C_FAILOVERS, C_READS,
       C_BYTES, C_BUSY_NS, C_VOICE_FRAMES, C_SWITCHES, C_RETURNS, C_MIRROR_DOWN,
       C_MIRROR_RETURNS, C_MIRROR_FALLBACKS, NCOUNT };

/* One reading: counters since the start, and marks since the previous one. */
typedef struct hl_slot {
    double t;                  /* monotonic seconds */
    uint64_t c[NCOUNT];
    int voices;                /* playing at the reading */
    int peak;                  /* the most at once since the previous reading */
    uint32_t fill;             /* lowest ring fill since then, 0.1 % */
    uint64_t lat_max_ns;       /* slowest read since then */
    uint64_t hist[SHELF__LAT_BUCKETS];
} hl_slot;

struct shelf__health {
    hl_slot slot[HL_SLOTS];    /* a ring: newest at [newest], n in use */
    hl_slot zero;              /* the engine's start */
    int newest, n;
    /* For publishing. */
    int64_t started;           /* Unix seconds of the engine's start */
    int64_t since;             /* start of the current run of troubled minutes */
    int nmeta;                 /* entries of ids and frags */
    int64_t *ids;              /* per sample: catalog id; 0 not asked; -1 none */
    int32_t *frags;            /* per sample: fragments; 0 not asked; -1 unknown */
};

static double mono_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void shelf__health_free(struct shelf__health *h)
{
    if (!h)
        return;
    free(h->ids);
    free(h->frags);
    free(h);
}

/* The i-th reading back from the newest (i < n). */
static hl_slot *slot_back(struct shelf__health *h, int i)
{
    return &h->slot[(h->newest - i + 2 * HL_SLOTS) % HL_SLOTS];
}

/* Counters now into r (marks since the previous reading folded in). */
static void take(shelf_stream *s, hl_slot *r, double now, int merge)
{
    uint32_t fill = atomic_exchange(&s->hl_fill_milli, 100000);
    uint64_t lat_max = atomic_exchange(&s->hl_lat_max_ns, 0);
    int peak = (int)atomic_exchange(&s->hl_peak_active, 0), i;

    r->t = now;
    r->c[C_UNDERRUNS] = atomic_load(&s->c_underruns);
    r->c[C_NOT_READY] = atomic_load(&s->c_not_ready);
    r->c[C_DROPPED] = atomic_load(&s->c_dropped);
    r->c[C_READ_ERRORS] = atomic_load(&s->c_read_errors);
    r->c[C_LOST] = atomic_load(&s->c_lost);
    r->c[C_FAILOVERS] = atomic_load(&s->c_failovers);
    r->c[C_READS] = atomic_load(&s->c_reads);
    r->c[C_BYTES] = atomic_load(&s->c_bytes);
    r->c[C_BUSY_NS] = atomic_load(&s->c_busy_ns);
    r->c[C_VOICE_FRAMES] = atomic_load(&s->c_voice_frames);
    r->c[C_SWITCHES] = atomic_load(&s->c_switches);
    r->c[C_RETURNS] = atomic_load(&s->c_returns);
    r->c[C_MIRROR_DOWN] = atomic_load(&s->c_mirror_down);
    r->c[C_MIRROR_RETURNS] = atomic_load(&s->c_mirror_returns);
    r->c[C_MIRROR_FALLBACKS] = atomic_load(&s->c_mirror_fallbacks);
    for (i = 0; i < SHELF__LAT_BUCKETS; i++)
        r->hist[i] = atomic_load_explicit(&s->lat_hist[i], memory_order_relaxed);
    r->voices = (int)atomic_load(&s->c_active);
    if (peak < r->voices)
        peak = r->voices;
    if (merge) {
        r->fill = fill < r->fill ? fill : r->fill;
        r->lat_max_ns = lat_max > r->lat_max_ns ? lat_max : r->lat_max_ns;
        r->peak = peak > r->peak ? peak : r->peak;
    } else {
        r->fill = fill;
        r->lat_max_ns = lat_max;
        r->peak = peak;
    }
}

int shelf_stream_get_health(shelf_stream *s, shelf_stream_health *out)
{
    struct shelf__health *h = s->hl;
    shelf_stream_health hh;
    const hl_slot *cur, *base = NULL;
    uint64_t hist[SHELF__LAT_BUCKETS], nlat = 0;
    uint32_t fill = 100000;
    double now = mono_now(), ring_ms = 0;
    int i, nbase, nsamples;

    if (!h) {
        if (!(h = shelf__calloc(1, sizeof *h)))
            return shelf__seterr(&s->err, SHELF_ENOMEM, "out of memory");
        h->zero.t = s->t_start;
        h->zero.fill = 100000;
        h->newest = HL_SLOTS - 1;
        s->hl = h;
    }
    /* A reading less than a second after the newest merges into it, so the
     * slots span over a minute however often the caller asks. */
    if (h->n > 0 && now - slot_back(h, 0)->t < 1.0) {
        take(s, slot_back(h, 0), now, 1);
    } else {
        h->newest = (h->newest + 1) % HL_SLOTS;
        take(s, &h->slot[h->newest], now, 0);
        if (h->n < HL_SLOTS)
            h->n++;
    }
    cur = slot_back(h, 0);
    /* The window starts at the newest reading a minute old or older, else
     * at the engine's start. */
    for (nbase = 1; nbase < h->n; nbase++) {
        if (slot_back(h, nbase)->t <= now - HL_WINDOW) {
            base = slot_back(h, nbase);
            break;
        }
    }
    if (!base)
        base = nbase == HL_SLOTS ? slot_back(h, HL_SLOTS - 1) : &h->zero;
    memset(&hh, 0, sizeof hh);
    hh.uptime = now - s->t_start;
    hh.window = cur->t - base->t;
    hh.underruns = cur->c[C_UNDERRUNS];
    hh.not_ready = cur->c[C_NOT_READY];
    hh.voices_dropped = cur->c[C_DROPPED];
    hh.read_errors = cur->c[C_READ_ERRORS];
    hh.chunks_lost = cur->c[C_LOST];
    hh.failovers = cur->c[C_FAILOVERS];
    hh.reads = cur->c[C_READS];
    hh.bytes_read = cur->c[C_BYTES];
    hh.recent_underruns = cur->c[C_UNDERRUNS] - base->c[C_UNDERRUNS];
    hh.recent_not_ready = cur->c[C_NOT_READY] - base->c[C_NOT_READY];
    hh.recent_dropped = cur->c[C_DROPPED] - base->c[C_DROPPED];
    hh.recent_read_errors = cur->c[C_READ_ERRORS] - base->c[C_READ_ERRORS];
    hh.recent_chunks_lost = cur->c[C_LOST] - base->c[C_LOST];
    hh.recent_failovers = cur->c[C_FAILOVERS] - base->c[C_FAILOVERS];
    hh.recent_reads = cur->c[C_READS] - base->c[C_READS];
    hh.failover_switches = cur->c[C_SWITCHES];
    hh.failover_returns = cur->c[C_RETURNS];
    hh.mirror_down = cur->c[C_MIRROR_DOWN];
    hh.mirror_returns = cur->c[C_MIRROR_RETURNS];
    hh.mirror_fallbacks = cur->c[C_MIRROR_FALLBACKS];
    hh.recent_switches = cur->c[C_SWITCHES] - base->c[C_SWITCHES];
    hh.recent_mirror_down = cur->c[C_MIRROR_DOWN] - base->c[C_MIRROR_DOWN];
    for (i = 0; i < SHELF__LAT_BUCKETS; i++) {
        hist[i] = cur->hist[i] - base->hist[i];
        nlat += hist[i];
    }
    /* The readings after the base hold the marks of the window. */
    for (i = 0; i < h->n && slot_back(h, i) != base; i++) {
        const hl_slot *r = slot_back(h, i);

        if (r->fill < fill)
            fill = r->fill;
        if ((double)r->lat_max_ns / 1000.0 > hh.lat_max_us)
            hh.lat_max_us = (double)r->lat_max_ns / 1000.0;
        if (r->peak > hh.voices_peak)
            hh.voices_peak = r->peak;
    }
    hh.min_fill_pct = fill > 1000 ? 100.0 : fill / 10.0;
    hh.lat_p50_us = shelf__lat_percentile(hist, nlat, 0.50);
    hh.lat_p99_us = shelf__lat_percentile(hist, nlat, 0.99);
    /* A percentile is its bucket's upper edge: never above the slowest. */
    if (hh.lat_max_us > 0 && hh.lat_p99_us > hh.lat_max_us)
        hh.lat_p99_us = hh.lat_max_us;
    if (hh.lat_max_us > 0 && hh.lat_p50_us > hh.lat_max_us)
        hh.lat_p50_us = hh.lat_max_us;
    if (hh.window > 0) {
        hh.underruns_per_min = (double)hh.recent_underruns * 60.0 / hh.window;
        hh.mb_per_s = (double)(cur->c[C_BYTES] - base->c[C_BYTES]) / hh.window / 1e6;
        hh.busy = (double)(cur->c[C_BUSY_NS] - base->c[C_BUSY_NS]) * 1e-9 / hh.window;
        if (hh.busy > 1)
            hh.busy = 1;
        /* Voices the audio thread rendered, frame by frame. */
        hh.voices_avg = (double)(cur->c[C_VOICE_FRAMES] - base->c[C_VOICE_FRAMES]) / s->o.rate / hh.window;
    }
    hh.voices = cur->voices;
    nsamples = atomic_load_explicit(&s->nsamples, memory_order_acquire);
    for (i = 0; i < nsamples; i++) {
        const shelf__sample *sm = &s->samples[i];
        double ms;

        if (sm->head_chunks >= sm->nchunks || sm->rate <= 0)
            continue;   /* all in RAM: it never streams */
        ms = (double)s->o.ring_chunks * sm->chunk_frames * 1000.0 / sm->rate;
        if (ring_ms == 0 || ms < ring_ms)
            ring_ms = ms;
    }
    hh.ring_ms = ring_ms;
    hh.cache_bytes = atomic_load(&s->cache.bytes);
    hh.cache_pinned_bytes = atomic_load(&s->cache.pinned_bytes);
    hh.cache_budget = s->cache.budget;
    shelf__out_fill(out, &hh, sizeof hh);
    return SHELF_OK;
}

/* ---- publishing ---------------------------------------------------------------- */

/* A value rounded for people reading the file (3 decimals). */
static json_t *real3(double v)
{
    return json_real(isfinite(v) ? round(v * 1000.0) / 1000.0 : 0.0);
}

static json_t *uint_j(uint64_t v)
{
    return json_integer(v > (uint64_t)INT64_MAX ? INT64_MAX : (json_int_t)v);
}

/* The samples of the engine that underran, worst first: their numbers
 * into top[0..TOP_SAMPLES); how many. */
static int worst_samples(shelf_stream *s, int *top)
{
    int nsamples = atomic_load_explicit(&s->nsamples, memory_order_acquire), n = 0, i, j;
    uint64_t count[TOP_SAMPLES];

    for (i = 0; i < nsamples; i++) {
        uint64_t u = atomic_load_explicit(&s->samples[i].underruns, memory_order_relaxed);

        if (u == 0 || (n == TOP_SAMPLES && u <= count[n - 1]))
            continue;
        j = n < TOP_SAMPLES ? n++ : TOP_SAMPLES - 1;
        for (; j > 0 && count[j - 1] < u; j--) {
            count[j] = count[j - 1];
            top[j] = top[j - 1];
        }
        count[j] = u;
        top[j] = i;
    }
    return n;
}

/* Catalog id and fragments of sample i, each found once per engine. */
static void sample_meta(shelf_stream *s, shelf_library *lib, int i, int frag)
{
    struct shelf__health *h = s->hl;

    if (h->ids[i] == 0) {
        int64_t id = 0;

        h->ids[i] = shelf_catalog_find_path(lib, s->samples[i].path, &id) == SHELF_OK && id > 0 ? id : -1;
    }
    if (frag && h->frags[i] == 0) {
        shelf_frag_info fi;
        char *msg = NULL;

        h->frags[i] = shelf_frag_file(s->samples[i].path, &fi, &msg) == SHELF_OK && fi.supported
                      ? (int32_t)(fi.fragments > INT32_MAX ? INT32_MAX : fi.fragments) : -1;
        free(msg);
    }
}

static int add_suggestion(json_t *arr, const char *kind, const char *text, const char *action)
{
    return json_array_append_new(arr, json_pack("{s:s, s:s, s:s}", "kind", kind, "text", text,
                                                "action", action));
}

/* "3 7 12": the catalog ids of top[0..n) (those with frag_min fragments
 * or more, when frag_min; else those not pinned yet), into buf; how many. */
static int ids_list(const shelf__health_sample *top, int n, int frag_min, char *buf, size_t size)
{
    size_t len = 0;
    int i, k = 0;

    buf[0] = '\0';
    for (i = 0; i < n; i++) {
        int w;

        if (top[i].id <= 0 || (frag_min ? top[i].fragments < frag_min : top[i].pinned))
            continue;
        w = snprintf(buf + len, size - len, "%s%lld", k ? " " : "", (long long)top[i].id);
        if (w < 0 || (size_t)w >= size - len)
            break;
        len += (size_t)w;
        k++;
    }
    return k;
}

int shelf__health_held(const shelf_stream_health *hh)
{
    int held;

    /* voices_avg voices kept the medium busy `busy` of the time: at full
     * use it would feed voices_avg / busy, of which MARGIN is planned on. */
    if (!(hh->busy >= 0.5) || !(hh->voices_avg > 0))
        return 0;
    held = (int)floor(MARGIN * hh->voices_avg / hh->busy);
    return held < 1 ? 1 : held;
}

int shelf__health_suggest(const shelf_stream_health *hh, const shelf__health_sample *top, int ntop,
                          json_t *arr)
{
    char text[512], action[512], ids[256];
    double per_voice = hh->voices_avg > 0 ? hh->mb_per_s / hh->voices_avg : 0;
    double ram = 0, need_mb;
    int i, k, held = shelf__health_held(hh), latency_bound, rc = 0, npin = 0, nfrag = 0;
    uint64_t frags = 0;
    json_t *medium;

    latency_bound = hh->ring_ms > 0 && hh->lat_p99_us / 1000.0 > hh->ring_ms / 2;
    /* The medium it would take: the peak's throughput with a margin, reads
     * within half a ring. */
    need_mb = per_voice * (hh->voices_peak > 0 ? hh->voices_peak : 1) / MARGIN;
    snprintf(text, sizeof text,
             "reads took %.1f ms (p99; the slowest %.1f ms) and a voice's ring holds %.1f ms of audio; "
             "%d voices read %.2f MB/s (%.1f%% busy)",
             hh->lat_p99_us / 1000.0, hh->lat_max_us / 1000.0, hh->ring_ms, hh->voices_peak,
             hh->mb_per_s, hh->busy * 100.0);
    if (hh->ring_ms > 0 && need_mb > 0)
        snprintf(action, sizeof action, "a faster medium: %.1f MB/s or more with reads under %.0f ms (p99)",
                 need_mb, hh->ring_ms / 2);
    else
        snprintf(action, sizeof action, "a faster medium (reads under %.0f ms, p99)",
                 hh->ring_ms > 0 ? hh->ring_ms / 2 : 10.0);
    if (!(medium = json_pack("{s:s, s:s, s:s}", "kind", "medium", "text", text, "action", action)))
        return -1;
    if (latency_bound && json_array_append(arr, medium) != 0)
        rc = -1;
    if (held && held < hh->voices_peak) {
        snprintf(text, sizeof text,
                 "the medium was busy %.0f%% of the last %.0f s reading %.2f MB/s for %.1f voices on average "
                 "(%d at most): it holds about %d",
                 hh->busy * 100.0, hh->window, hh->mb_per_s, hh->voices_avg, hh->voices_peak, held);
        snprintf(action, sizeof action,
                 "play at most %d voices from this medium (check: shelf stream stress --voices %d)", held, held);
        rc |= add_suggestion(arr, "polyphony", text, action);
    }
    /* Pins: the worst samples not pinned yet, whole in RAM. */
    for (i = 0; i < ntop; i++) {
        if (top[i].pinned)
            continue;
        ram += (double)top[i].ram;
        npin++;
    }
    if (npin) {
        int over = (double)hh->cache_pinned_bytes + ram > (double)hh->cache_budget;

        snprintf(text, sizeof text,
                 "%d sample%s underran most; pinned, %s play%s from RAM: %.1f MB decoded "
                 "(cache budget %.0f MB, %.1f MB pinned%s)",
                 npin, npin == 1 ? "" : "s", npin == 1 ? "it" : "they", npin == 1 ? "s" : "",
                 ram / 1e6, (double)hh->cache_budget / 1e6, (double)hh->cache_pinned_bytes / 1e6,
                 over ? "; raise the budget" : "");
        k = ids_list(top, ntop, 0, ids, sizeof ids);
        if (k)
            snprintf(action, sizeof action, "shelf cache pin %s (%.1f MB of RAM)", ids, ram / 1e6);
        else
            snprintf(action, sizeof action, "pin the samples listed (%.1f MB of RAM)", ram / 1e6);
        rc |= add_suggestion(arr, "pin", text, action);
    }
    /* Fragmented files among them: a seek per fragment. */
    for (i = 0; i < ntop; i++) {
        if (top[i].fragments >= 2) {
            nfrag++;
            frags += (uint64_t)top[i].fragments;
        }
    }
    if (nfrag) {
        snprintf(text, sizeof text,
                 "%d of the samples that underran %s fragmented (%llu fragments in all): each one costs a seek",
                 nfrag, nfrag == 1 ? "is" : "are", (unsigned long long)frags);
        k = ids_list(top, ntop, 2, ids, sizeof ids);
        snprintf(action, sizeof action, "shelf store optimize %s", k ? ids : "(the samples listed)");
        rc |= add_suggestion(arr, "defragment", text, action);
    }
    if (!latency_bound && json_array_append(arr, medium) != 0)
        rc = -1;
    json_decref(medium);
    return rc ? -1 : 0;
}

/* The document of a reading. */
static json_t *health_doc(shelf_stream *s, shelf_library *lib, const shelf_stream_health *hh,
                          int ended, int64_t now)
{
    struct shelf__health *h = s->hl;
    json_t *doc = NULL, *totals, *recent, *engine, *cache, *samples, *sugg;
    char host[256];
    int top[TOP_SAMPLES], ntop, i, trouble, bad = 0;

    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = '\0';
    trouble = hh->recent_underruns > 0 || hh->recent_dropped > 0;
    ntop = worst_samples(s, top);
    for (i = 0; i < ntop; i++)
        sample_meta(s, lib, top[i], trouble);
    totals = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
                       "underruns", uint_j(hh->underruns),
                       "not_ready", uint_j(hh->not_ready), "voices_dropped", uint_j(hh->voices_dropped),
                       "read_errors", uint_j(hh->read_errors), "chunks_lost", uint_j(hh->chunks_lost),
                       "failovers", uint_j(hh->failovers), "reads", uint_j(hh->reads),
                       "bytes_read", uint_j(hh->bytes_read),
                       "failover_switches", uint_j(hh->failover_switches),
                       "failover_returns", uint_j(hh->failover_returns),
                       "mirror_down", uint_j(hh->mirror_down),
                       "mirror_returns", uint_j(hh->mirror_returns),
                       "mirror_fallbacks", uint_j(hh->mirror_fallbacks));
    recent = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o,"
                       " s:i, s:o, s:i, s:o, s:o}",
                       "seconds", real3(hh->window), "underruns", uint_j(hh->recent_underruns),
                       "underruns_per_min", real3(hh->underruns_per_min),
                       "not_ready", uint_j(hh->recent_not_ready),
                       "voices_dropped", uint_j(hh->recent_dropped),
                       "read_errors", uint_j(hh->recent_read_errors),
                       "chunks_lost", uint_j(hh->recent_chunks_lost),
                       "failovers", uint_j(hh->recent_failovers), "reads", uint_j(hh->recent_reads),
                       "min_fill_pct", real3(hh->min_fill_pct), "lat_p50_us", real3(hh->lat_p50_us),
                       "lat_p99_us", real3(hh->lat_p99_us), "lat_max_us", real3(hh->lat_max_us),
                       "mb_per_s", real3(hh->mb_per_s), "busy", real3(hh->busy),
                       "voices", hh->voices, "voices_avg", real3(hh->voices_avg),
                       "voices_peak", hh->voices_peak,
                       "failover_switches", uint_j(hh->recent_switches),
                       "mirror_down", uint_j(hh->recent_mirror_down));
    engine = json_pack("{s:o, s:i, s:i, s:i, s:I, s:o}", "uptime", real3(hh->uptime), "rate", s->o.rate,
                       "max_voices", s->o.max_voices, "ring_chunks", s->o.ring_chunks,
                       "chunk_bytes", (json_int_t)s->o.chunk_bytes, "ring_ms", real3(hh->ring_ms));
    cache = json_pack("{s:o, s:o, s:o}", "bytes", uint_j(hh->cache_bytes), "pinned_bytes",
                      uint_j(hh->cache_pinned_bytes), "budget", uint_j(hh->cache_budget));
    samples = json_array();
    sugg = json_array();
    for (i = 0; samples && i < ntop; i++) {
        const shelf__sample *sm = &s->samples[top[i]];
        json_t *o = json_pack("{s:s, s:o, s:o, s:o, s:o, s:b}", "path", sm->path,
                              "id", h->ids[top[i]] > 0 ? json_integer(h->ids[top[i]]) : json_null(),
                              "underruns", uint_j(atomic_load(&sm->underruns)),
                              "ram_bytes", uint_j((uint64_t)sm->frames * (uint64_t)sm->channels * sizeof(float)),
                              "fragments", h->frags[top[i]] > 0 ? json_integer(h->frags[top[i]]) : json_null(),
                              "pinned", sm->pinned);
        bad |= !o || json_array_append_new(samples, o) != 0;
    }
    if (trouble && sugg) {
        shelf__health_sample facts[TOP_SAMPLES];

        for (i = 0; i < ntop; i++) {
            const shelf__sample *sm = &s->samples[top[i]];

            facts[i].id = h->ids[top[i]];
            facts[i].pinned = sm->pinned;
            facts[i].ram = (uint64_t)sm->frames * (uint64_t)sm->channels * sizeof(float);
            facts[i].fragments = h->frags[top[i]];
        }
        bad |= shelf__health_suggest(hh, facts, ntop, sugg) != 0;
    }
    if (!bad && totals && recent && engine && cache && samples && sugg)
        doc = json_pack("{s:i, s:s, s:I, s:s, s:I, s:I, s:I, s:O, s:O, s:O, s:O, s:O, s:O}",
                        "version", HEALTH_VERSION, "state", ended ? "ended" : "running",
                        "pid", (json_int_t)getpid(), "host", host, "started", (json_int_t)h->started,
                        "updated", (json_int_t)now, "underruns_since", (json_int_t)h->since,
                        "engine", engine, "totals", totals, "last_minute", recent, "cache", cache,
                        "samples", samples, "suggestions", sugg);
    json_decref(totals);
    json_decref(recent);
    json_decref(engine);
    json_decref(cache);
    json_decref(samples);
    json_decref(sugg);
    return doc;
}

/* Replace path with text: a temporary file beside it, renamed over it.
 * Not synced: the file is rewritten a second later, and an fsync a second
 * would compete with the engine's reads when the library is on the
 * sample medium. */
static int write_replace(shelf_library *lib, const char *path, const char *text)
{
    char *tmp = shelf__asprintf("%s.tmp-%ld", path, (long)getpid());
    int fd = -1, rc = SHELF_OK, en;

    if (!tmp)
        return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666)) < 0) {
        rc = shelf__seterr_errno(&lib->err, errno, "cannot write '%s'", tmp);
        goto out;
    }
    if ((en = shelf__write_all(fd, text, strlen(text))) != 0) {
        rc = shelf__seterr_errno(&lib->err, en, "cannot write '%s'", tmp);
        goto out;
    }
    en = close(fd) != 0 ? errno : 0;
    fd = -1;
    if (en || rename(tmp, path) != 0) {
        rc = shelf__seterr_errno(&lib->err, en ? en : errno, "cannot write '%s'", path);
        goto out;
    }
out:
    if (fd >= 0)
        close(fd);
    if (rc != SHELF_OK)
        unlink(tmp);
    free(tmp);
    return rc;
}

int shelf_stream_health_publish(shelf_stream *s, shelf_library *lib, int ended)
{
    shelf_stream_health hh;
    struct shelf__health *h;
    json_t *doc = NULL;
    char *dir = NULL, *path = NULL, *text = NULL;
    int64_t now = shelf_clock_now();
    int rc;

    if (!s || !lib)
        return SHELF_EINVAL;
    memset(&hh, 0, sizeof hh);
    hh.size = sizeof hh;
    if ((rc = shelf_stream_get_health(s, &hh)) != SHELF_OK)
        return shelf__seterr(&lib->err, rc, "out of memory");
    h = s->hl;
    if (h->nmeta < s->o.max_samples) {
        free(h->ids);
        free(h->frags);
        h->ids = shelf__calloc((size_t)s->o.max_samples, sizeof *h->ids);
        h->frags = shelf__calloc((size_t)s->o.max_samples, sizeof *h->frags);
        h->nmeta = h->ids && h->frags ? s->o.max_samples : 0;
        if (!h->nmeta)
            return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    }
    if (!h->started)
        h->started = now - (int64_t)hh.uptime;
    if (hh.recent_underruns > 0 || hh.recent_dropped > 0) {
        if (!h->since)
            h->since = now;
    } else {
        h->since = 0;
    }
    rc = SHELF_ENOMEM;
    if (!(dir = shelf__asprintf("%s/" HEALTH_DIR, shelf_library_path(lib))) ||
        !(path = shelf__asprintf("%s/" HEALTH_NAME, dir)) ||
        !(doc = health_doc(s, lib, &hh, ended, now)) ||
        !(text = shelf__json_dumps(doc, JSON_INDENT(2) | JSON_REAL_PRECISION(12)))) {
        (void)shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        rc = shelf__seterr_errno(&lib->err, errno, "cannot create '%s'", dir);
        goto out;
    }
    rc = write_replace(lib, path, text);
out:
    free(text);
    free(path);
    free(dir);
    json_decref(doc);
    return rc;
}

/* ---- reading back ---------------------------------------------------------------- */

/* A report and what it owns; the public part first. */
typedef struct report_box {
    shelf_stream_report r;
    shelf_stream_suggestion *sugg;
    size_t nsugg;
    char *host, *json;
} report_box;

void shelf_stream_report_free(shelf_stream_report *r)
{
    report_box *b = (report_box *)r;
    size_t i;

    if (!b)
        return;
    for (i = 0; i < b->nsugg; i++) {
        free((char *)b->sugg[i].kind);
        free((char *)b->sugg[i].text);
        free((char *)b->sugg[i].action);
    }
    free(b->sugg);
    free(b->host);
    free(b->json);
    free(b);
}

typedef struct parse {
    shelf__err *e;
    int rc;
} parse;

/* The first failure is the one reported. */
static void bad(parse *p, const char *fmt, const char *what) __attribute__((format(printf, 2, 0)));
static void bad(parse *p, const char *fmt, const char *what)
{
    if (p->rc == SHELF_OK)
        p->rc = shelf__seterr(p->e, SHELF_EFORMAT, fmt, what);
}

/* A non-negative integer member key of o. */
static uint64_t get_u(parse *p, const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        bad(p, "not a health file: '%s' is not a count", key);
        return 0;
    }
    return (uint64_t)json_integer_value(v);
}

/* A count added to the format later: 0 when absent (a file written
 * before it), else as get_u. */
static uint64_t get_u_added(parse *p, const json_t *o, const char *key)
{
    return json_object_get(o, key) ? get_u(p, o, key) : 0;
}

static double get_d(parse *p, const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    double d = json_number_value(v);

    if (!json_is_number(v) || !isfinite(d) || d < 0 || d > 1e15) {
        bad(p, "not a health file: '%s' is not a figure", key);
        return 0;
    }
    return d;
}

static int clamp_int(uint64_t v)
{
    return v > INT_MAX ? INT_MAX : (int)v;
}

/* A one-line string (no control characters), copied; NULL: bad. */
static char *get_s(parse *p, const json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    char *copy;
    size_t i;

    if (!v) {
        bad(p, "not a health file: '%s' is not a string", key);
        return NULL;
    }
    for (i = 0; v[i]; i++) {
        if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f) {
            bad(p, "not a health file: '%s' is not one line", key);
            return NULL;
        }
    }
    if (!(copy = shelf__strdup(v)) && p->rc == SHELF_OK)
        p->rc = shelf__seterr(p->e, SHELF_ENOMEM, "out of memory");
    return copy;
}

int shelf__health_parse(const char *text, size_t n, shelf_stream_report **out, shelf__err *e)
{
    parse p = { e, SHELF_OK };
    json_t *doc = NULL, *ver, *t, *m, *g, *c, *arr, *v;
    report_box *b = NULL;
    shelf_stream_health *hh;
    const char *state;
    size_t i;
    int rc;

    *out = NULL;
    if ((rc = shelf__json_parse(e, SHELF_EFORMAT, "health file", text, n, JSON_REJECT_DUPLICATES, &doc)) !=
        SHELF_OK)
        return rc;
    ver = json_object_get(doc, "version");
    if (json_is_integer(ver) && json_integer_value(ver) > HEALTH_VERSION) {
        rc = shelf__seterr(e, SHELF_EVERSION, "health file of version %lld (this shelf reads %d)",
                           (long long)json_integer_value(ver), HEALTH_VERSION);
        goto out;
    }
    if (!json_is_object(doc) || !json_is_integer(ver) || json_integer_value(ver) != HEALTH_VERSION) {
        rc = shelf__seterr(e, SHELF_EFORMAT, "not a health file of version %d", HEALTH_VERSION);
        goto out;
    }
    if (!(b = shelf__calloc(1, sizeof *b))) {
        rc = shelf__seterr(e, SHELF_ENOMEM, "out of memory");
        goto out;
    }
    b->r.size = sizeof b->r;
    hh = &b->r.health;
    hh->size = sizeof *hh;
    state = json_string_value(json_object_get(doc, "state"));
    if (!state || (strcmp(state, "running") != 0 && strcmp(state, "ended") != 0))
        bad(&p, "not a health file: '%s' is not running or ended", "state");
    b->r.state = state && !strcmp(state, "ended") ? SHELF_STREAM_ENDED : SHELF_STREAM_LIVE;
    v = json_object_get(doc, "pid");
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > INT_MAX)
        bad(&p, "not a health file: '%s' is not a process id", "pid");
    b->r.pid = (long)json_integer_value(v);
    b->r.host = b->host = get_s(&p, doc, "host");
    b->r.started = (int64_t)get_u(&p, doc, "started");
    b->r.updated = (int64_t)get_u(&p, doc, "updated");
    b->r.underruns_since = (int64_t)get_u(&p, doc, "underruns_since");
    t = json_object_get(doc, "totals");
    m = json_object_get(doc, "last_minute");
    g = json_object_get(doc, "engine");
    c = json_object_get(doc, "cache");
    arr = json_object_get(doc, "suggestions");
    if (!json_is_object(t) || !json_is_object(m) || !json_is_object(g) || !json_is_object(c) ||
        !json_is_array(arr)) {
        bad(&p, "not a health file: %s are missing", "totals, last_minute, engine, cache or suggestions");
        goto done;
    }
    hh->uptime = get_d(&p, g, "uptime");
    hh->ring_ms = get_d(&p, g, "ring_ms");
    hh->underruns = get_u(&p, t, "underruns");
    hh->not_ready = get_u(&p, t, "not_ready");
    hh->voices_dropped = get_u(&p, t, "voices_dropped");
    hh->read_errors = get_u(&p, t, "read_errors");
    hh->chunks_lost = get_u(&p, t, "chunks_lost");
    hh->failovers = get_u(&p, t, "failovers");
    hh->reads = get_u(&p, t, "reads");
    hh->bytes_read = get_u(&p, t, "bytes_read");
    hh->window = get_d(&p, m, "seconds");
    hh->recent_underruns = get_u(&p, m, "underruns");
    hh->underruns_per_min = get_d(&p, m, "underruns_per_min");
    hh->recent_not_ready = get_u(&p, m, "not_ready");
    hh->recent_dropped = get_u(&p, m, "voices_dropped");
    hh->recent_read_errors = get_u(&p, m, "read_errors");
    hh->recent_chunks_lost = get_u(&p, m, "chunks_lost");
    hh->recent_failovers = get_u(&p, m, "failovers");
    hh->recent_reads = get_u(&p, m, "reads");
    hh->min_fill_pct = get_d(&p, m, "min_fill_pct");
    hh->lat_p50_us = get_d(&p, m, "lat_p50_us");
    hh->lat_p99_us = get_d(&p, m, "lat_p99_us");
    hh->lat_max_us = get_d(&p, m, "lat_max_us");
    hh->mb_per_s = get_d(&p, m, "mb_per_s");
    hh->busy = get_d(&p, m, "busy");
    hh->voices_avg = get_d(&p, m, "voices_avg");
    hh->voices = clamp_int(get_u(&p, m, "voices"));
    hh->voices_peak = clamp_int(get_u(&p, m, "voices_peak"));
    hh->cache_bytes = get_u(&p, c, "bytes");
    hh->cache_pinned_bytes = get_u(&p, c, "pinned_bytes");
    hh->cache_budget = get_u(&p, c, "budget");
    hh->failover_switches = get_u_added(&p, t, "failover_switches");
    hh->failover_returns = get_u_added(&p, t, "failover_returns");
    hh->mirror_down = get_u_added(&p, t, "mirror_down");
    hh->mirror_returns = get_u_added(&p, t, "mirror_returns");
    hh->mirror_fallbacks = get_u_added(&p, t, "mirror_fallbacks");
    hh->recent_switches = get_u_added(&p, m, "failover_switches");
    hh->recent_mirror_down = get_u_added(&p, m, "mirror_down");
    if (p.rc != SHELF_OK)
        goto done;
    if (json_array_size(arr) > 0 &&
        !(b->sugg = shelf__calloc(json_array_size(arr), sizeof *b->sugg))) {
        p.rc = shelf__seterr(e, SHELF_ENOMEM, "out of memory");
        goto done;
    }
    json_array_foreach(arr, i, v) {
        shelf_stream_suggestion *sg = &b->sugg[b->nsugg];

        if (!json_is_object(v)) {
            bad(&p, "not a health file: %s", "a suggestion is not an object");
            break;
        }
        b->nsugg++;
        sg->kind = get_s(&p, v, "kind");
        sg->text = get_s(&p, v, "text");
        sg->action = get_s(&p, v, "action");
        if (p.rc != SHELF_OK)
            break;
    }
    b->r.suggestions = b->sugg;
    b->r.nsuggestions = b->nsugg;
    if (p.rc == SHELF_OK) {
        if (!(b->json = shelf__malloc(n + 1))) {
            p.rc = shelf__seterr(e, SHELF_ENOMEM, "out of memory");
        } else {
            if (n)
                memcpy(b->json, text, n);
            b->json[n] = '\0';
            b->r.json = b->json;
        }
    }
done:
    rc = p.rc;
    if (rc == SHELF_OK) {
        *out = &b->r;
        b = NULL;
    }
out:
    shelf_stream_report_free(b ? &b->r : NULL);
    json_decref(doc);
    return rc;
}

/* Whether pid runs on this host (a process of another user counts). */
static int pid_alive(long pid)
{
    return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

int shelf_stream_health_read(shelf_library *lib, int64_t now, shelf_stream_report **out)
{
    shelf__buf text = SHELF__BUF_INIT;
    shelf__err e = { 0, "" };
    shelf_stream_report *r = NULL;
    char *path, host[256];
    int rc;

    if (!out)
        return lib ? shelf__seterr(&lib->err, SHELF_EINVAL, "invalid health read: no output") : SHELF_EINVAL;
    *out = NULL;
    if (!lib)
        return SHELF_EINVAL;
    if (!(path = shelf__asprintf("%s/" HEALTH_DIR "/" HEALTH_NAME, shelf_library_path(lib))))
        return shelf__seterr(&lib->err, SHELF_ENOMEM, "out of memory");
    rc = shelf__read_file(&lib->err, path, HEALTH_MAX, &text);
    if (rc == SHELF_ENOTFOUND) {
        rc = shelf__seterr(&lib->err, rc, "no streaming engine has run on this library (no '%s')", path);
        goto out;
    }
    if (rc != SHELF_OK)
        goto out;
    if ((rc = shelf__health_parse(text.buf, text.len, &r, &e)) != SHELF_OK) {
        rc = shelf__seterr(&lib->err, rc, "cannot read '%s': %s", path, e.msg);
        goto out;
    }
    if (r->state != SHELF_STREAM_ENDED) {
        if (gethostname(host, sizeof host) != 0)
            host[0] = '\0';
        host[sizeof host - 1] = '\0';
        if (now - r->updated > SHELF_STREAM_STALE_S || r->updated - now > SHELF_STREAM_STALE_S ||
            (!strcmp(host, r->host) && !pid_alive(r->pid)))
            r->state = SHELF_STREAM_STALE;
    }
    *out = r;
out:
    shelf__buf_release(&text);
    free(path);
    return rc;
}
