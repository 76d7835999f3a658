/*
 * stress.c: the streaming stress test.  A timer thread plays the audio
 * callback, paced by clock_nanosleep on absolute deadlines (SCHED_FIFO when
 * the system allows it), and follows a seeded note script that holds the
 * wanted polyphony: each lane plays a random sample for a random time,
 * releases it and starts the next.  The calling thread samples the engine's
 * counters once a second into rows (the CSV and the plot), and a ramp
 * looks for the highest polyphony that plays clean.  The worst-case script
 * gives every voice its own sample and a random start, and feed-only runs
 * consume with shelf_stream_feed (no mix): the storage side's capacity.
 */
#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "stream_int.h"

#define RELEASE_FRAMES 256

typedef struct lane {
    int voice;
    int64_t end;             /* output frame of its release */
} lane;

typedef struct stress {
    shelf_stream *s;
    const shelf_stress_opts *so;
    int nsamples;
    int64_t *frames;         /* per sample */
    int *rates;
    lane *lanes;
    int64_t *offsets;        /* SHELF_STRESS_WORST: voice i's start in sample i */
    uint64_t rng;
    _Atomic int stop;
    _Atomic uint64_t cb_max_ns, late;
    _Atomic uint64_t cb_sum_ns, cb_n; /* callbacks' time, for their mean */
    _Atomic uint64_t cpu_ns;  /* the thread's CPU time in its callbacks */
    _Atomic uint64_t late_cpu; /* late callbacks whose CPU time passed the period */
    int rt;
    float *buf;
} stress;

static uint64_t rnd(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* The note script, one block at a time (runs on the timer thread). */
static void lanes_step(stress *st, int64_t t)
{
    const shelf_stress_opts *so = st->so;
    int i;

    for (i = 0; i < so->voices; i++) {
        lane *l = &st->lanes[i];
        int smp;
        int64_t len;

        if (t < l->end)
            continue;
        if (so->script == SHELF_STRESS_WORST) {
            /* One note held for the whole run (the sample is long enough). */
            l->voice = shelf_stream_voice_start(st->s, i, st->offsets[i], 1.0, 1.0f / 16.0f,
                                                (int)(rnd(&st->rng) % 4));
            l->end = INT64_MAX;
            continue;
        }
        if (l->voice >= 0)
            shelf_stream_voice_release(st->s, l->voice, RELEASE_FRAMES);
        smp = (int)(rnd(&st->rng) % (uint64_t)st->nsamples);
        /* 2 to 8 seconds, never past the sample's end. */
        len = (int64_t)(2 + rnd(&st->rng) % 7) * st->s->o.rate;
        if (len > st->frames[smp] * st->s->o.rate / st->rates[smp])
            len = st->frames[smp] * st->s->o.rate / st->rates[smp];
        if (len < (int64_t)so->block)
            len = so->block;
        l->voice = shelf_stream_voice_start(st->s, smp, 0, 1.0, 1.0f / 16.0f,
                                            (int)(rnd(&st->rng) % 4));
        l->end = t + len;
    }
}

static int64_t ts_ns(const struct timespec *ts)
{
    return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

static void *timer_main(void *arg)
{
    stress *st = arg;
    const shelf_stress_opts *so = st->so;
    int64_t period = (int64_t)so->block * 1000000000 / st->s->o.rate, t = 0, next_ns;
    struct timespec next, now, c0, c1;
    struct sched_param sp;
    uint64_t spread = (uint64_t)(so->script == SHELF_STRESS_WORST ? so->preroll / 2 * st->s->o.rate
                                                                   : st->s->o.rate / 2);
    int i;

    pthread_setname_np(pthread_self(), "shelf-audio");
    if (spread < 1)
        spread = 1;
    memset(&sp, 0, sizeof sp);
    sp.sched_priority = sched_get_priority_min(SCHED_FIFO) + 10;
    st->rt = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp) == 0;
    clock_gettime(CLOCK_MONOTONIC, &next);
    next_ns = ts_ns(&next);
    /* Lanes start spread over the first half second (of the pre-roll),
     * not all at once. */
    for (i = 0; i < so->voices; i++)
        st->lanes[i].end = (int64_t)(rnd(&st->rng) % spread);
    while (!atomic_load(&st->stop)) {
        int64_t t0, t1, cb, cpu;

        next_ns += period;
        next.tv_sec = (time_t)(next_ns / 1000000000);
        next.tv_nsec = (long)(next_ns % 1000000000);
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
            ;
        clock_gettime(CLOCK_MONOTONIC, &now);
        t0 = ts_ns(&now);
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
        lanes_step(st, t);
        if (so->feed_only)
            shelf_stream_feed(st->s, so->block);
        else
            shelf_stream_render(st->s, so->block, st->buf);
        t += so->block;
        clock_gettime(CLOCK_MONOTONIC, &now);
        t1 = ts_ns(&now);
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
        cpu = ts_ns(&c1) - ts_ns(&c0);
        atomic_fetch_add_explicit(&st->cpu_ns, (uint64_t)cpu, memory_order_relaxed);
        cb = t1 - t0;
        atomic_fetch_add_explicit(&st->cb_sum_ns, (uint64_t)cb, memory_order_relaxed);
        atomic_fetch_add_explicit(&st->cb_n, 1, memory_order_relaxed);
        if ((uint64_t)cb > atomic_load_explicit(&st->cb_max_ns, memory_order_relaxed))
            atomic_store_explicit(&st->cb_max_ns, (uint64_t)cb, memory_order_relaxed);
        /* Finished after the deadline of this block's successor: late.
         * Far behind, a player starts again from now and the blocks
         * between are lost.  A feed-only run catches up instead, a block
         * at a time without sleeping: its voices keep the real-time rate
         * through a stall of this thread that is not the storage side's
         * (a VM host's: a real-time thread here wakes 5-20 ms late a few
         * times a second, doc/benchmarks.md), and one that cannot keep
         * up ends with fewer blocks played than due. */
        if (t1 > next_ns + period) {
            atomic_fetch_add_explicit(&st->late, 1, memory_order_relaxed);
            /* Its own work took more than a period of CPU: the engine's
             * (or the note script's).  Else the thread started late or
             * was held off its core: the machine's. */
            if (cpu > period)
                atomic_fetch_add_explicit(&st->late_cpu, 1, memory_order_relaxed);
            if (t1 > next_ns + 8 * period && !so->feed_only)
                next_ns = t1;   /* far behind: start again from now */
        }
    }
    return NULL;
}

void shelf_stress_free(shelf_stress_result *r)
{
    if (!r)
        return;
    free(r->rows);
    free(r->offsets);
    free(r);
}

/* The counts of t over the measured run: minus those of the pre-roll p
 * (all zero without one); the gauges (active voices, cache bytes) stay. */
static void measured_only(shelf_stream_stats *t, const shelf_stream_stats *p)
{
#define SUB(f) t->f -= p->f
    SUB(blocks), SUB(voices_started), SUB(not_ready), SUB(underruns), SUB(underrun_frames);
    SUB(read_errors), SUB(chunks_lost), SUB(voices_dropped), SUB(latency_spikes), SUB(reads);
    SUB(bytes_read), SUB(merged), SUB(cache_hits), SUB(cache_misses), SUB(cache_evictions);
    SUB(busy_seconds), SUB(reads_uring), SUB(reads_fixed), SUB(reads_direct), SUB(loop_wraps);
    SUB(loop_ram);
    SUB(failovers), SUB(failover_switches), SUB(failover_returns), SUB(failover_hedged);
    SUB(failover_probes), SUB(mix_frames), SUB(feed_frames), SUB(mix_run_frames), SUB(mix_simd_frames);
    SUB(mirror_down), SUB(mirror_returns), SUB(mirror_fallbacks);  /* loop_ram_bytes is a level */
    SUB(sched_cpu_seconds);
#undef SUB
}

int shelf_stress_run(const char *const *paths, size_t npaths, const shelf_stream_opts *eo,
                     const shelf_stress_opts *sopt, shelf_stress_result **out, char **errmsg)
{
    shelf_stress_opts so;
    shelf_stream_opts o;
    shelf__err e = { 0, "" };
    stress st;
    shelf_stress_result *res = NULL;
    shelf_stream_stats prev, cur;
    shelf_stream_interval iv;
    pthread_t timer;
    int started = 0, rc = SHELF_OK, id;
    size_t i, cap = 0;
    uint64_t late_total = 0;
    char msg[512] = "";
    double t_start, t_prev;
    struct timespec ts;

    *out = NULL;
    if (errmsg)
        *errmsg = NULL;
    memset(&st, 0, sizeof st);
    if ((rc = shelf__opts_check(&e, &so, sizeof so, sopt, sizeof so, "shelf_stress_opts")) != SHELF_OK ||
        (rc = shelf__opts_check(&e, &o, sizeof o, eo, sizeof o, "shelf_stream_opts")) != SHELF_OK) {
        if (errmsg)
            *errmsg = shelf__strdup(e.msg);
        return rc;
    }
    if (!so.voices) so.voices = 64;
    if (!(so.duration > 0)) so.duration = 10;
    if (!so.block) so.block = 128;
    if (!so.seed) so.seed = 1;
    if (so.script == SHELF_STRESS_WORST && !(so.preroll > 0)) so.preroll = 1;
    if (npaths == 0 || so.voices < 1 || so.voices > 8000 || so.block > 8192 ||
        so.script < SHELF_STRESS_LANES || so.script > SHELF_STRESS_WORST) {
        snprintf(msg, sizeof msg, npaths == 0 ? "no sample files to play"
                                              : "voices, block size or script out of range");
        rc = SHELF_EINVAL;
        goto out;
    }
    if (so.script == SHELF_STRESS_WORST && npaths < (size_t)so.voices) {
        snprintf(msg, sizeof msg, "the worst-case script needs a sample per voice: %zu for %d voices",
                 npaths, so.voices);
        rc = SHELF_EINVAL;
        goto out;
    }
    if (so.script != SHELF_STRESS_WORST)
        so.preroll = 0;
    /* Every worst-case voice starts past its head, waiting on its first
     * read: the scheduler would take each for a voice running dry and drop
     * another.  Without dropping, a voice the disk cannot feed underruns,
     * which a clean run does not allow either.  Not SHELF_STREAM_OFFLINE,
     * which used to be set here: the scheduler then walked every voice
     * every pass, an engine no player runs. */
    if (so.script == SHELF_STRESS_WORST)
        o.flags |= SHELF_STREAM_NO_DROP;
    if ((size_t)o.max_samples < npaths + so.npins)
        o.max_samples = (int)(npaths + so.npins);
    /* Room for every lane plus the voices still in their release. */
    if (o.max_voices < 2 * so.voices + 16)
        o.max_voices = 2 * so.voices + 16;
    st.so = &so;
    st.rng = so.seed * 0x9e3779b97f4a7c15ull | 1;
    if (!(res = shelf__calloc(1, sizeof *res)) ||
        !(st.lanes = shelf__calloc((size_t)so.voices, sizeof *st.lanes)) ||
        !(st.frames = shelf__calloc(npaths, sizeof *st.frames)) ||
        !(st.rates = shelf__calloc(npaths, sizeof *st.rates)) ||
        (so.script == SHELF_STRESS_WORST &&
         !(res->offsets = shelf__calloc((size_t)so.voices, sizeof *res->offsets))) ||
        !(st.buf = shelf__calloc((size_t)so.block * 2, sizeof *st.buf))) {
        rc = SHELF_ENOMEM;
        goto out;
    }
    if ((rc = shelf_stream_new(&o, &st.s, errmsg)) != SHELF_OK)
        goto out;
    for (i = 0; i < npaths; i++) {
        shelf_stream_sample_info si;
        if ((rc = shelf_stream_add(st.s, paths[i], &id)) != SHELF_OK ||
            (so.mirrors && so.mirrors[i] &&
             (rc = shelf_stream_add_mirror(st.s, id, so.mirrors[i])) != SHELF_OK)) {
            snprintf(msg, sizeof msg, "%s", shelf_stream_errmsg(st.s));
            goto out;
        }
        shelf_stream_sample(st.s, id, &si);
        st.frames[i] = si.frames;
        st.rates[i] = si.rate;
    }
    st.nsamples = (int)npaths;
    if (so.script == SHELF_STRESS_WORST) {
        /* Seeded random starts, each leaving its sample room for the run. */
        for (i = 0; i < (size_t)so.voices; i++) {
            int64_t need = (int64_t)ceil((so.preroll + so.duration + 0.5) * st.rates[i]);
            if (st.frames[i] < need) {
                snprintf(msg, sizeof msg,
                         "'%s' lasts %.1f s: the worst-case script plays each sample for %.1f s",
                         paths[i], (double)st.frames[i] / st.rates[i], (double)need / st.rates[i]);
                rc = SHELF_EINVAL;
                goto out;
            }
            res->offsets[i] = (int64_t)(rnd(&st.rng) % (uint64_t)(st.frames[i] - need + 1));
        }
        res->noffsets = (size_t)so.voices;
        st.offsets = res->offsets;
    }
    if (so.cold)
        shelf_stream_drop_caches(st.s);
    for (i = 0; i < so.npins; i++) {
        size_t j;
        for (j = 0; j < npaths && strcmp(paths[j], so.pins[i]) != 0; j++)
            ;
        if (j == npaths && (rc = shelf_stream_add(st.s, so.pins[i], &id)) != SHELF_OK) {
            snprintf(msg, sizeof msg, "%s", shelf_stream_errmsg(st.s));
            goto out;
        }
        if ((rc = shelf_stream_pin(st.s, j < npaths ? (int)j : id)) != SHELF_OK) {
            snprintf(msg, sizeof msg, "%s", shelf_stream_errmsg(st.s));
            goto out;
        }
    }
    if (!so.no_reserve) {
        /* A full ring and its read for every voice, faulted in before
         * the clock starts, as a rig reserves its RAM when it loads a
         * set.  Not the cache's budget too: chunks played are let go
         * within a fraction of a second in real time (a 6,000-voice run
         * cut 80% of this into slots), and reads past it take new
         * memory. */
        uint64_t bytes = 0, most = 0;
        for (i = 0; i < npaths; i++) {
            uint64_t b = shelf_stream_ring_bytes(st.s, (int)i);
            if (so.script == SHELF_STRESS_WORST && i < (size_t)so.voices)
                bytes += b;
            most = b > most ? b : most;
        }
        if (so.script != SHELF_STRESS_WORST)
            bytes = most * (uint64_t)so.voices;
        if ((rc = shelf_stream_reserve(st.s, bytes)) != SHELF_OK) {
            snprintf(msg, sizeof msg, "%s", shelf_stream_errmsg(st.s));
            goto out;
        }
    }
    for (i = 0; i < (size_t)so.voices; i++)
        st.lanes[i].voice = -1;
    memset(&prev, 0, sizeof prev);
    prev.size = sizeof prev;
    shelf_stream_get_stats(st.s, &prev);
    shelf_stream_take_interval(st.s, &iv);
    clock_gettime(CLOCK_MONOTONIC, &ts);
    t_start = t_prev = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
    if (pthread_create(&timer, NULL, timer_main, &st) != 0) {
        rc = SHELF_EIO;
        snprintf(msg, sizeof msg, "cannot start the timer thread");
        goto out;
    }
    started = 1;
    if (so.preroll > 0) {
        /* The voices start; the measured run begins once they have. */
        double until = t_start + so.preroll;
        ts.tv_sec = (time_t)until;
        ts.tv_nsec = (long)((until - (double)ts.tv_sec) * 1e9);
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
            ;
        res->preroll.size = sizeof res->preroll;
        shelf_stream_get_stats(st.s, &res->preroll);
        prev = res->preroll;
        shelf_stream_take_interval(st.s, &iv);
        atomic_store(&st.cb_max_ns, 0);
        atomic_store(&st.late, 0);
        atomic_store(&st.cb_sum_ns, 0);
        atomic_store(&st.cb_n, 0);
        atomic_store(&st.cpu_ns, 0);
        atomic_store(&st.late_cpu, 0);
        t_start = t_prev = until;
    }
    for (;;) {
        double t, dt, next = t_start + (double)(res->nrows + 1);
        shelf_stress_row *row;
        int failing;

        /* The primary's timed fault, second by second. */
        failing = so.fail_at > 0 && (double)res->nrows >= so.fail_at - 1e-9 &&
                  (so.fail_until <= 0 || (double)res->nrows < so.fail_until - 1e-9);
        atomic_store(&st.s->fault_slow_ms, so.fail_slow_ms);
        atomic_store(&st.s->fault_primary,
                     !failing ? 0 : so.fail_slow_ms ? SHELF__FAULT_SLOW : SHELF__FAULT_FAIL);

        ts.tv_sec = (time_t)next;
        ts.tv_nsec = (long)((next - (double)ts.tv_sec) * 1e9);
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
            ;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        t = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
        dt = t - t_prev;
        t_prev = t;
        cur.size = sizeof cur;
        shelf_stream_get_stats(st.s, &cur);
        shelf_stream_take_interval(st.s, &iv);
        if (res->nrows == cap) {
            size_t ncap = cap ? 2 * cap : 64;
            shelf_stress_row *grown = shelf__realloc(res->rows, ncap * sizeof *grown);
            if (!grown) {
                rc = SHELF_ENOMEM;
                break;
            }
            res->rows = grown;
            cap = ncap;
        }
        row = &res->rows[res->nrows++];
        memset(row, 0, sizeof *row);
        row->t = t - t_start;
        row->voices = (int)cur.voices_active;
        row->underruns = cur.underruns - prev.underruns;
        row->not_ready = cur.not_ready - prev.not_ready;
        row->read_errors = cur.read_errors - prev.read_errors;
        row->chunks_lost = cur.chunks_lost - prev.chunks_lost;
        row->dropped = cur.voices_dropped - prev.voices_dropped;
        row->spikes = cur.latency_spikes - prev.latency_spikes;
        row->reads = cur.reads - prev.reads;
        row->cache_hits = cur.cache_hits - prev.cache_hits;
        row->cache_misses = cur.cache_misses - prev.cache_misses;
        row->min_fill_pct = iv.min_fill_pct;
        row->lat_p50_us = iv.lat_p50_us;
        row->lat_p99_us = iv.lat_p99_us;
        row->lat_p999_us = iv.lat_p999_us;
        row->lat_max_us = iv.lat_max_us;
        row->busy = dt > 0 ? (cur.busy_seconds - prev.busy_seconds) / dt : 0;
        if (row->busy > 1)
            row->busy = 1;
        row->mb_per_s = dt > 0 ? (double)(cur.bytes_read - prev.bytes_read) / dt / 1e6 : 0;
        row->cb_max_us = (double)atomic_exchange(&st.cb_max_ns, 0) / 1000.0;
        row->late = atomic_exchange(&st.late, 0);
        row->failovers = cur.failovers - prev.failovers;
        row->primary_failing = failing;
        late_total += row->late;
        prev = cur;
        if (row->t >= so.duration - 0.01 || (so.stop && *so.stop))
            break;
        if (so.tick)
            so.tick(so.tick_ud, st.s, 0);
    }
out:
    if (started) {
        atomic_store(&st.stop, 1);
        pthread_join(timer, NULL);
        if (so.tick)
            so.tick(so.tick_ud, st.s, 1);
    }
    if (st.s && res) {
        res->stats.size = sizeof res->stats;
        shelf_stream_get_stats(st.s, &res->stats);
        res->rt = st.rt;
        if (atomic_load(&st.cb_n))
            res->cb_avg_us = (double)atomic_load(&st.cb_sum_ns) / 1000.0 / (double)atomic_load(&st.cb_n);
        res->late = late_total + atomic_load(&st.late);
        res->late_cpu = atomic_load(&st.late_cpu);
        if (atomic_load(&st.cb_n))
            res->audio_cpu_pct = 100.0 * (double)atomic_load(&st.cpu_ns) /
                                 ((double)atomic_load(&st.cb_n) * 1e9 * so.block / st.s->o.rate);
        measured_only(&res->stats, &res->preroll);
        if (so.duration > 0)
            res->sched_cpu_pct = 100.0 * res->stats.sched_cpu_seconds / so.duration;
        res->blocks_due = (uint64_t)(so.duration * st.s->o.rate / so.block);
        /* A feed-only run's late callbacks are not judged (nothing a
         * listener hears is mixed late), but the blocks they skipped are:
         * voices that did not move asked nothing of the disk. */
        /* underrun_frames: a voice still waiting for its start when the
         * pre-roll ends misses frames with no new underrun counted. */
        res->clean = res->stats.underruns == 0 && res->stats.not_ready == 0 &&
                     res->stats.underrun_frames == 0 &&
                     res->stats.read_errors == 0 && res->stats.chunks_lost == 0 &&
                     res->stats.voices_dropped == 0 &&
                     (res->late == 0 ||
                      (so.feed_only && (double)res->stats.blocks >= 0.98 * (double)res->blocks_due));
    }
    shelf_stream_free(st.s);
    free(st.lanes);
    free(st.frames);
    free(st.rates);
    free(st.buf);
    if (rc != SHELF_OK) {
        if (errmsg && !*errmsg)
            *errmsg = shelf__strdup(msg[0] ? msg : shelf_strerror(rc));
        shelf_stress_free(res);
        return rc;
    }
    *out = res;
    return SHELF_OK;
}

int shelf_stress_write_csv(const shelf_stress_result *r, const char *path)
{
    FILE *f = fopen(path, "w");
    size_t i;
    int bad;

    if (!f)
        return shelf__errno_rc(errno);
    fprintf(f, "t,voices,underruns,not_ready,read_errors,chunks_lost,dropped,spikes,reads,"
               "cache_hits,cache_misses,min_fill_pct,lat_p50_us,lat_p99_us,lat_p999_us,"
               "lat_max_us,disk_busy,mb_per_s,callback_max_us,late_callbacks,failovers,"
               "primary_failing\n");
    for (i = 0; i < r->nrows; i++) {
        const shelf_stress_row *w = &r->rows[i];
        fprintf(f, "%.3f,%d,%llu,%llu,%llu,%llu,%llu,%llu,%llu,%llu,%llu,%.1f,%.1f,%.1f,%.1f,"
                   "%.1f,%.3f,%.2f,%.1f,%llu,%llu,%d\n",
                w->t, w->voices, (unsigned long long)w->underruns,
                (unsigned long long)w->not_ready, (unsigned long long)w->read_errors,
                (unsigned long long)w->chunks_lost, (unsigned long long)w->dropped,
                (unsigned long long)w->spikes, (unsigned long long)w->reads,
                (unsigned long long)w->cache_hits, (unsigned long long)w->cache_misses,
                w->min_fill_pct, w->lat_p50_us, w->lat_p99_us, w->lat_p999_us, w->lat_max_us,
                w->busy, w->mb_per_s, w->cb_max_us, (unsigned long long)w->late,
                (unsigned long long)w->failovers, w->primary_failing);
    }
    bad = ferror(f);
    if (fclose(f) != 0 || bad)
        return SHELF_EIO;
    return SHELF_OK;
}

int shelf_stress_ramp(const char *const *paths, size_t npaths, const shelf_stream_opts *eo,
                      const shelf_stress_opts *so, int max_voices, int *best,
                      shelf_stress_step_cb cb, void *ud, char **errmsg)
{
    shelf_stress_opts o;
    shelf__err e = { 0, "" };
    int lo = 0, hi = max_voices + 1, v, rc;

    *best = 0;
    if (errmsg)
        *errmsg = NULL;
    if ((rc = shelf__opts_check(&e, &o, sizeof o, so, sizeof o, "shelf_stress_opts")) != SHELF_OK) {
        if (errmsg)
            *errmsg = shelf__strdup(e.msg);
        return rc;
    }
    v = o.voices > 0 ? o.voices : 16;
    if (max_voices < 1 || max_voices > 8000)
        return SHELF_EINVAL;
    if (v > max_voices)
        v = max_voices;
    /* Double while clean, then halve the gap down to 1/32 of the answer. */
    while (v > lo && v < hi) {
        shelf_stress_result *r = NULL;
        int clean;

        o.voices = v;
        if ((rc = shelf_stress_run(paths, npaths, eo, &o, &r, errmsg)) != SHELF_OK)
            return rc;
        clean = r->clean && !(o.stop && *o.stop);
        if (cb)
            cb(ud, v, r);
        shelf_stress_free(r);
        if (o.stop && *o.stop)
            return SHELF_ECANCELED;
        if (clean)
            lo = v;
        else
            hi = v;
        if (hi > max_voices)
            v = 2 * lo > max_voices ? max_voices : 2 * lo;
        else
            v = lo + (hi - lo) / 2;
        if (hi <= max_voices && hi - lo <= (lo / 32 > 1 ? lo / 32 : 1))
            break;
    }
    *best = lo;
    return SHELF_OK;
}
