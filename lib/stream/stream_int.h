/*
 * stream_int.h: internals of the streaming engine (lib/stream): the
 * lock-free SPSC ring, sample files and their chunk decoding, the chunk
 * cache, voices, the I/O layer (io_uring or worker preads, fault
 * injection) and the engine handle that ties them together.
 *
 * Data model.  A sample is cut into chunks of chunk_frames frames; chunk k
 * is one aligned read of the file, decoded to interleaved float32 at the
 * sample's own rate and channel count.  The first head_chunks chunks stay in
 * RAM while the sample is added.  Every other chunk lives in the cache while
 * a voice ring, a pin or the LRU keeps it.  A voice's ring carries pointers
 * to cache chunks (refcounted), so voices playing the same region share one
 * read and one buffer.
 */
#ifndef SHELF_STREAM_INT_H
#define SHELF_STREAM_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sndfile.h>
#include "../common/common_int.h"

/* ---- SPSC ring (power-of-two capacity, fixed-size items) ---------------- */

/*
 * One producer thread calls push, one consumer thread calls peek/pop.  The
 * producer publishes an item with a release store of head after writing it;
 * the consumer acquires head before reading it, and releases tail after it
 * is done with the item, which the producer acquires before reusing a slot.
 */
typedef struct shelf__ring {
    _Atomic uint32_t head;   /* next slot the producer writes */
    char pad1[60];
    _Atomic uint32_t tail;   /* next slot the consumer reads */
    char pad2[60];
    uint32_t mask, item;     /* capacity - 1, item bytes */
    unsigned char *buf;
} shelf__ring;

int shelf__ring_init(shelf__ring *r, uint32_t capacity, uint32_t item);
void shelf__ring_release(shelf__ring *r);
/* Producer: copy item in; 0 on success, -1 when full. */
int shelf__ring_push(shelf__ring *r, const void *item);
/* Consumer: items ready to read. */
uint32_t shelf__ring_count(shelf__ring *r);
/* Consumer: pointer to the i-th ready item (i < count), or NULL. */
void *shelf__ring_peek(shelf__ring *r, uint32_t i);
/* Consumer: drop the oldest item (count must be > 0). */
void shelf__ring_pop(shelf__ring *r);
/* Producer side: free slots. */
uint32_t shelf__ring_space(shelf__ring *r);

/* ---- sample files -------------------------------------------------------- */

enum { SHELF__PCM16 = 1, SHELF__PCM24, SHELF__PCM32, SHELF__FLOAT32 };

/* What a WAV header says, for the direct path. */
typedef struct shelf__wavinfo {
    int enc;                 /* SHELF__PCM16 ... or 0 when not directly readable */
    int rate, channels;
    uint64_t data_off, data_len;
} shelf__wavinfo;

/*
 * Parse a RIFF/WAVE header from the first n bytes of a file (fmt chunk, data
 * chunk).  Returns SHELF_OK and fills wi when the file is PCM 16/24/32-bit
 * or float32 (also WAVE_FORMAT_EXTENSIBLE), SHELF_EFORMAT otherwise.
 * Outside input: never reads past n (fuzzed).
 */
int shelf__wav_parse(const unsigned char *p, size_t n, shelf__wavinfo *wi);

/* Convert n frames of raw PCM to float (the direct decode path). */
void shelf__pcm_to_float(int enc, const unsigned char *in, size_t samples, float *out);

struct io_uring;
typedef struct shelf__chunk shelf__chunk;

/* The media a read goes to. */
enum { SHELF__PRIMARY = 0, SHELF__MIRROR = 1 };

/*
 * The open files of one copy of a sample: the primary or its mirror.  A
 * primary that failed and came back (reopened by path, identity checked)
 * gets a new one; the old one is closed once no read uses it.  refs (the
 * sample's own reference and one per read using it) and the list link are
 * under the cache lock.  The descriptors are atomic because the scheduler
 * gives up O_DIRECT (fd_direct = -1) while workers read.
 */
typedef struct shelf__fh {
    _Atomic int fd;          /* buffered */
    _Atomic int fd_direct;   /* O_DIRECT, or -1 */
    SNDFILE *sf;             /* decode path; guarded by sf_lock */
    pthread_mutex_t sf_lock;
    int refs;
    struct shelf__fh *next;  /* the engine's list of open handles */
} shelf__fh;

typedef struct shelf__sample {
    char *path;
    shelf__fh *pfh;          /* the primary's files; replaced by the
                                scheduler under the cache lock */
    int direct;              /* 1: raw PCM path; 0: libsndfile decode */
    shelf__wavinfo wi;
    int rate, channels;
    int64_t frames;
    uint32_t bpf;            /* bytes per frame on disk (direct path) */
    uint32_t chunk_frames;
    int64_t nchunks;
    uint32_t head_chunks;
    shelf__chunk **head;     /* head_chunks pointers, immutable once added */
    /* Loop [loop_start, loop_end) (loop_end 0: none), set before voices
     * play it, and its RAM copy: chunks loop_k0 .. loop_k0 + loop_nk - 1,
     * held like the head.  A forward loop holds its start (from the
     * crossfade's lead-in, loop_start - loop_xfade), so a wrap never waits
     * on the disk; a backward or alternating one holds the whole loop (a
     * backward one's crossfade too, up to loop_end + loop_xfade), so a
     * voice never reads backward, unless it is longer than loop_ram_max:
     * then (loop_walk) its walk streams, and RAM holds its turns: loopc
     * its top (from loop_end - 1 down, and a backward crossfade's frames
     * after the end), loopb an alternating loop's bottom (chunks loopb_k0
     * .. loopb_k0 + loopb_nk - 1). */
    int64_t loop_start, loop_end;
    int loop_mode;           /* SHELF_LOOP_FORWARD, _BACKWARD, _ALTERNATING */
    uint32_t loop_xfade;     /* crossfade frames: before loop_end (forward),
                                after loop_start (backward) */
    int64_t loop_k0;
    uint32_t loop_nk;
    shelf__chunk **loopc;
    int loop_walk;
    int64_t loopb_k0;
    uint32_t loopb_nk;
    shelf__chunk **loopb;
    int pinned;
    _Atomic uint64_t underruns; /* of its voices (audio thread adds) */
    /* Failover (doc/streaming.md, "Failover and hot swap").  The mirror
     * is the same file on a second medium, set once by the control
     * thread (release store) and read by the scheduler. */
    char *mpath;
    shelf__fh *_Atomic mfh;
    /* The primary's identity when added: a file reopened after a hot
     * swap must have the same size and modification time. */
    uint64_t id_size;
    int64_t id_mtime_ns;
    /* Scheduler only: the primary failed (reads go to the mirror, when
     * there is one) and is tried again at recheck_at by a probe. */
    int down, probing;
    double recheck_at;
    /* The same for the mirror: its modification time when added (its size
     * is the primary's), and, scheduler only, down (its reads failed: the
     * primary is read instead) until a probe at mrecheck_at reopens it. */
    int64_t m_id_mtime_ns;
    int mdown, mprobing;
    double mrecheck_at;
} shelf__sample;

/* ---- chunk cache --------------------------------------------------------- */

enum { SHELF__CH_LOADING = 1, SHELF__CH_READY, SHELF__CH_FAILED };

struct shelf__chunk {
    int sample;
    int64_t k;
    _Atomic int refs;        /* rings, heads and pins holding it; the audio
                                thread only decrements */
    int state;               /* SHELF__CH_...; under the cache lock */
    int attempts;            /* failed read attempts so far */
    int reads;               /* reads of it in flight (a hedged one has two);
                                never evicted while any is */
    int pinned;
    uint32_t frames;
    float *data;             /* frames * channels floats */
    size_t bytes;            /* counted against the budget */
    shelf__chunk *hnext;     /* hash chain */
    shelf__chunk *lprev, *lnext; /* LRU list of READY chunks, most recent first */
};

#define SHELF__SPARES 64

/* The reserve's slots: SHELF__SLOT bytes times their class (1 ..
 * SHELF__NCLASS - 1); a larger buffer comes from malloc. */
#define SHELF__SLOT ((size_t)64 << 10)
#define SHELF__NCLASS 65

typedef struct shelf__cache {
    pthread_mutex_t lock;
    shelf__chunk **table;
    size_t nbuckets, nchunks;
    shelf__chunk *lru_head, *lru_tail;
    uint64_t budget;
    _Atomic uint64_t bytes, pinned_bytes;
    _Atomic uint64_t hits, misses, evictions;
    /* The decoded buffers of chunks removed, kept for the next reads
     * (under spare_lock, taken inside lock or alone): a fresh buffer for
     * each read made the decode fault in a page every 4 KiB it wrote. */
    pthread_mutex_t spare_lock;
    float *spare[SHELF__SPARES];
    size_t spare_bytes[SHELF__SPARES];
    int nspare;
    _Atomic uint64_t spare_reuses;
    /* The reserve (shelf_stream_reserve), under spare_lock: one mapping
     * faulted in ahead, cut into slots as reads ask; a slot let go goes on
     * its class's free list (linked through its first bytes). */
    char *res;
    size_t res_size, res_used;
    void *res_free[SHELF__NCLASS];
    _Atomic uint64_t fresh;  /* buffers malloc'd: no slot or spare fitted */
} shelf__cache;

int shelf__cache_init(shelf__cache *c, uint64_t budget);
void shelf__cache_release(shelf__cache *c);
/* Under c->lock. */
shelf__chunk *shelf__cache_find(shelf__cache *c, int sample, int64_t k);
shelf__chunk *shelf__cache_insert(shelf__cache *c, int sample, int64_t k);
void shelf__cache_ready(shelf__cache *c, shelf__chunk *ch, float *data, uint32_t frames,
                        size_t bytes);
void shelf__cache_touch(shelf__cache *c, shelf__chunk *ch);
void shelf__cache_remove(shelf__cache *c, shelf__chunk *ch);
/* Decoded buffers, any thread, with or without c->lock.  take: a buffer
 * of at least bytes (a slot of the reserve, a spare of exactly bytes, else
 * a new one), or NULL when out of memory; give it back with put, with the
 * same bytes (p may be NULL). */
float *shelf__cache_buf_take(shelf__cache *c, size_t bytes);
void shelf__cache_buf_put(shelf__cache *c, float *p, size_t bytes);
/* Map and fault in bytes of slots (control thread, once). */
int shelf__cache_reserve(shelf__cache *c, uint64_t bytes);
/* What a buffer of bytes takes of the reserve: whole slots. */
size_t shelf__cache_slot_bytes(size_t bytes);
/* Evict unreferenced, unpinned chunks, least recent first, down to budget. */
void shelf__cache_trim(shelf__cache *c, uint64_t budget);
/* The same, looking at a sixteenth of the chunks and 64 more at most (the
 * scheduler, after a pass); chunks in use it passes move to the front.
 * 0 when it is still over budget with nothing evicted: every chunk it
 * looked at was in use. */
int shelf__cache_trim_step(shelf__cache *c, uint64_t budget);

/* ---- voices -------------------------------------------------------------- */

enum { SHELF__V_FREE = 0, SHELF__V_ACTIVE, SHELF__V_STOPPING };

/* One item of a voice's ring: chunk k of loop lap `lap`, or a gap (data
 * NULL) after a failed read.  Items are in play order: (lap, k) ascending.
 * In a streamed backward or alternating loop (loop_walk) lap numbers the
 * segments of the walk after its first turn, and a segment walked down
 * keys its chunks -k; a voice that leaves such a walk (a release) plays
 * on forward in a lap of its own, marked SHELF__LAP_FWD. */
typedef struct shelf__ringitem {
    int64_t k;
    uint64_t lap;
    shelf__chunk *ch;        /* NULL: lost, play silence */
    const float *data;       /* ch->data: the audio thread reads the frames
                                without a load of the chunk first */
} shelf__ringitem;

#define SHELF__LAP_FWD (1ull << 62)

#define SHELF__FEED_FLOATS 8192 /* shelf_stream_feed's copy buffer (32 KiB) */

#define SHELF__FADE 32       /* frames of the underrun fade in and out */

typedef struct shelf__voice {
    /* Set by the audio thread before it publishes state ACTIVE. */
    _Atomic int state;
    uint32_t gen;
    int sample;
    int priority;
    float gain;
    uint64_t step;           /* source frames per output frame, 32.32 */
    uint64_t seq;            /* start order */
    int64_t start_chunk;
    int loops;               /* the voice plays the sample's loop while held */
    /* Published by the audio thread, read by the scheduler. */
    _Atomic uint64_t pos;    /* source position, 32.32 */
    _Atomic int releasing;
    _Atomic uint64_t lap;    /* loop wraps so far (stored after pos) */
    _Atomic float level;
    /* Set by the scheduler: fade out quickly (the disk fell behind). */
    _Atomic int drop;
    /* Audio thread only. */
    uint32_t rel_total, rel_left; /* release ramp */
    int held;                /* 1 until the release (note off) */
    /* A held voice in a backward or alternating loop, once it has turned
     * at the loop's end: it walks the loop in segments of seg_frames
     * (backward: the loop's length, from end - 1 down to start then the
     * jump to end - 1; alternating: length - 1, between the turning
     * frames), cyc frames (32.32) into the current one, which runs down
     * from end - 1 (up = 0) or up from start (up = 1).  pos then says
     * where it is, for the scheduler. */
    int turned, up;
    uint64_t cyc;
    int dropping;
    int starved;             /* 1 while data is missing */
    int played_any;          /* a frame was played: a miss is an underrun */
    uint32_t fade_in;        /* frames left of the fade in after a gap */
    uint32_t fade_out;       /* frames left of the fade out at a gap */
    float last[2];           /* last output frame before a gap */
    /* Scheduler only. */
    uint32_t io_gen;         /* gen the scheduler has set up */
    int io_active;
    int64_t next_chunk;      /* next chunk to push to the ring ... */
    uint64_t next_lap;       /* ... of this loop lap */
    int fails;               /* consecutive lost chunks */
    /* Chunk pointers: producer the scheduler, consumer the audio thread. */
    shelf__ring ring;
} shelf__voice;

/* ---- I/O ----------------------------------------------------------------- */

/* A kernel of the mix (mix.c, shelf__mix_run_c). */
typedef uint64_t (*shelf__mix_fn)(const float *cbase, int64_t cstart, int ch, uint64_t pos, uint64_t step,
                                  float g, uint32_t m, float *out, float *last);

typedef struct shelf__req {
    int sample;
    int64_t k;
    shelf__chunk *ch;        /* NULL for a probe */
    int attempt;
    int medium;              /* SHELF__PRIMARY or SHELF__MIRROR */
    shelf__fh *fh;           /* the files read (a reference) */
    int probe;               /* reopen the medium (primary or mirror) by
                                path and read chunk 0 */
    int fell_back;           /* a failed mirror read sent to the primary once */
    shelf__fh *newfh;        /* a probe's reopened files (owned) */
    double delay_s;          /* injected delay of the completion */
    int has_voice;           /* voice (at voice_gen) asked for the chunk */
    int voice;
    uint32_t voice_gen;
    /* Failover (scheduler only): a primary read still in flight at
     * t_deadline is sent to the mirror too (hedged); t_failed is when the
     * read the mirror stands in for was submitted to the primary. */
    double dry, t_deadline, t_failed;
    int hedged;
    struct shelf__req *wprev, *wnext; /* the scheduler's watched reads */
    double t_submit, t_due;  /* t_due: completion held until (fault delay) */
    int injected_error, injected_delay;
    int res;                 /* 0 or an errno value */
    float *data;             /* decoded result (owned until handed over) */
    size_t databytes;        /* what data was taken for (buf_put) */
    uint32_t frames;
    unsigned char *buf;      /* aligned read buffer (direct path) */
    int raw_slot;            /* buf is the pool's buffer raw_slot - 1; 0:
                                its own allocation (io.c, raw_take) */
    size_t buflen, bufcap, lead; /* lead: bytes before the first frame */
    int used_direct;         /* the bytes came through O_DIRECT */
    int via_uring;           /* ... and through io_uring */
    int fixed;               /* ... into a buffer registered with it */
    int raw;                 /* read, not decoded yet (the scheduler
                                decodes it after sending refills) */
    struct shelf__req *next;
} shelf__req;

/* Latency histogram: 16 buckets per octave from 1 us. */
#define SHELF__LAT_BUCKETS (16 * 26)

/* ---- the engine ---------------------------------------------------------- */

struct shelf_stream {
    shelf_stream_opts o;
    shelf__err err;
    uint32_t align;          /* read alignment (filesystem block size) */
    double measured_lat;     /* seconds, from the first add */

    shelf__sample *samples;
    _Atomic int nsamples;

    shelf__voice *voices;
    int nvoices;
    /* Audio thread only: playing voices in start order. */
    int *order;
    /* The scheduler's work arrays, allocated with the engine (so a lack of
     * memory fails shelf_stream_new, not the running scheduler). */
    void *sched_wants;
    struct shelf__chunk **sched_failed;
    int64_t *sched_req_k;
    int norder;
    uint64_t next_seq;
    /* shelf_stream_feed copies ring data here (audio thread only); a
     * looping voice fed renders here in blocks of half of it. */
    float feed_buf[SHELF__FEED_FLOATS];
    /* The mix's kernel (mix.c), chosen at shelf_stream_new: a vector one
     * unless it is shelf__mix_run_c. */
    shelf__mix_fn mix_run;

    shelf__cache cache;

    /* Scheduler. */
    pthread_t sched;
    int sched_started;
    _Atomic int quit;
    pthread_mutex_t wlock;   /* wakeups and offline waits */
    pthread_cond_t wcond;    /* the scheduler waits here */
    pthread_cond_t rcond;    /* wait_ready waits here */
    _Atomic uint64_t pass;   /* scheduler passes done */

    /* I/O. */
    _Atomic int uring_ok;    /* reads go to the ring; 0 when there is
                                none, or it was given up (uring_err) */
    struct io_uring *uring;
    int uring_err;           /* errno of the io_uring_submit that gave the
                                ring up (scheduler; logged once) */
    int uring_err_told;
    _Atomic int fault_submit; /* tests: io_uring_submit "fails" with this
                                errno (io.c, shelf__io_flush) */
    int inflight;            /* scheduler only */
    int ndown;               /* samples whose primary is down (scheduler) */
    shelf__req *watch;       /* primary reads with a mirror (scheduler) */
    shelf__fh *fhs;          /* every open shelf__fh (cache lock) */
    /* Lines for o.log, written under the cache lock, sent after it. */
    char logq[8][320];
    int nlogq, nlogq_more;   /* lines queued; lines past the queue */
    /* Timed fault of the primary (tests, the stress test): 0 none,
     * SHELF__FAULT_FAIL every primary read and probe fails (EIO),
     * SHELF__FAULT_SLOW each is delayed by fault_slow_ms. */
    _Atomic int fault_primary;
    _Atomic uint32_t fault_slow_ms;
    /* The same for the mirrors (tests): SHELF__FAULT_FAIL fails every
     * mirror read and probe. */
    _Atomic int fault_mirror;
    int uring_inflight;      /* reads in the ring, sent or not
                                (io_uring_sq_ready: those not sent) */
    shelf__req *delayed;     /* completions held by fault delay */
    pthread_t *workers;
    int nworkers;
    pthread_mutex_t qlock;
    pthread_cond_t qcond;
    /* The direct path's read buffers (io.c, raw_take): one mapping made at
     * the first read, faulted in then, its buffers reused until the
     * engine ends; registered with the ring when the system lets it
     * (raw_fixed: reads then go out as READ_FIXED). */
    pthread_mutex_t raw_lock;
    unsigned char *raw_pool;
    size_t raw_size, raw_map;   /* one buffer's bytes; the mapping's */
    int *raw_free, raw_nfree;   /* the buffers not taken */
    int raw_made;               /* the pool was tried (raw_lock) */
    int raw_tried, raw_fixed;   /* registration tried, done (scheduler) */
    shelf__req *jobs, *jobs_tail, *done;
    double busy_since;

    /* Counters (atomics, read by any thread). */
    _Atomic uint64_t c_blocks, c_started, c_active, c_not_ready, c_underruns,
        c_underrun_frames, c_read_errors, c_lost, c_dropped, c_spikes, c_reads,
        c_bytes, c_merged, c_busy_ns, c_reads_uring, c_reads_direct, c_loop_wraps,
        c_loop_ram, c_failovers, c_switches, c_returns, c_hedged, c_probes,
        c_failover_ns, c_failover_max_ns, c_failover_timed, c_mirror_down, c_mirror_returns,
        c_mirror_fallbacks, c_backlog_reads, c_delivered, c_reads_fixed;
    _Atomic uint64_t c_loop_ram_bytes; /* decoded bytes the loops' RAM copies hold */
    _Atomic uint64_t c_voice_frames; /* output frames rendered, summed over voices */
    _Atomic uint64_t c_mix_frames;   /* output frames interpolated (render_voice) */
    _Atomic uint64_t c_mix_run_frames; /* of them, mixed in runs (mix_run) */
    _Atomic uint64_t c_feed_frames;  /* source frames shelf_stream_feed copied out */
    _Atomic uint64_t c_inflight_max; /* most reads in flight at once (scheduler writes) */
    _Atomic uint64_t c_uring_submits; /* io_uring_submit calls that sent reads */
    /* Reads by latency since the start (never reset: each reader keeps
     * its own marks), and the slowest read since take_interval. */
    _Atomic uint64_t lat_hist[SHELF__LAT_BUCKETS];
    _Atomic uint64_t lat_max_ns;
    _Atomic uint32_t min_fill_milli; /* lowest ring fill, 0.1 % units */
    int direct_used;
    uint64_t iv_hist[SHELF__LAT_BUCKETS]; /* lat_hist at the last take_interval */
    /* The same marks for the health readings (health.c), reset by each. */
    _Atomic uint64_t hl_lat_max_ns, hl_peak_active;
    _Atomic uint32_t hl_fill_milli;
    double t_start;          /* monotonic seconds at shelf_stream_new */
    struct shelf__health *hl;/* the health window; control thread */
};

enum { SHELF__FAULT_FAIL = 1, SHELF__FAULT_SLOW = 2 };

/* io.c */
/* Open path as a copy of sm (O_DIRECT too for the direct path, libsndfile
 * otherwise) with refs 1, not yet in the engine's list; an errno value on
 * failure (ESTALE: another file).  identity 1 + SHELF__PRIMARY (or
 * SHELF__MIRROR): the file must have sm's size and that copy's mtime as
 * when it was added; 0: no check. */
int shelf__fh_open(shelf_stream *s, const shelf__sample *sm, const char *path, int identity,
                   shelf__fh **out);
/* Close and free fh (refs no longer matter). */
void shelf__fh_close(shelf__fh *fh);
/* Drop a reference; closed and unlisted at 0.  Under the cache lock. */
void shelf__fh_unref(shelf_stream *s, shelf__fh *fh);
int shelf__io_start(shelf_stream *s);
void shelf__io_stop(shelf_stream *s);
/* Queue a read of chunk k of sample (the chunk is LOADING); an io_uring
 * read goes out at the next shelf__io_flush.  Scheduler. */
void shelf__io_submit(shelf_stream *s, shelf__req *r);
/* Send the io_uring reads queued since the last flush, in one system
 * call.  Scheduler. */
void shelf__io_flush(shelf_stream *s);
/* Collect completions; wait up to timeout seconds when none. Scheduler. */
shelf__req *shelf__io_reap(shelf_stream *s, double timeout);
/* Read and decode chunk k of a sample on the calling thread; data owned. */
int shelf__chunk_read_sync(shelf_stream *s, shelf__sample *sm, int64_t k, float **data,
                           uint32_t *frames, int *errno_out);
/* Decode a finished direct read. */
int shelf__req_decode(shelf_stream *s, shelf__req *r);
void shelf__req_free(shelf_stream *s, shelf__req *r);
/* Fault injection decision: 1 with probability rate for (seed, a, b, c, salt). */
int shelf__stream_fault(uint64_t seed, double rate, uint64_t a, uint64_t b, uint64_t c, uint64_t salt);
double shelf__lat_percentile(const uint64_t *hist, uint64_t n, double q);

/* mix.c */
/*
 * m frames of a voice whose frames [cstart, ...) are at cbase (ch
 * channels), from pos (32.32) by step, times g, added to out (stereo); the
 * last frame's values into last.  Every frame of the run and the one after
 * it are in the chunk.  Returns the position after.  Every kernel gives
 * the same bits.
 */
uint64_t shelf__mix_run_c(const float *cbase, int64_t cstart, int ch, uint64_t pos, uint64_t step, float g,
                          uint32_t m, float *out, float *last);
/* The fastest kernel this processor runs: a vector one unless !allow_simd
 * or the processor has none (then shelf__mix_run_c). */
shelf__mix_fn shelf__mix_pick(int allow_simd);

/* engine.c */
void shelf__lat_record(shelf_stream *s, double seconds);
/* 1 (the default): runs of frames in one chunk are mixed by a loop of
 * their own; 0: every frame through the general loop (tests). */
extern int shelf__stream_mix_runs;
/* Put the first m of n seconds-until-dry figures in the order the
 * scheduler sends reads (cmp_want) first; the rest follow in no order
 * (wants_first; tests). */
void shelf__stream_order_dry(double *dry, size_t n, size_t m);

/* health.c */
void shelf__health_free(struct shelf__health *h);
/* What the health suggestions know of a sample that underran. */
typedef struct shelf__health_sample {
    int64_t id;              /* catalog id; <= 0: not in the catalog */
    uint64_t ram;            /* decoded bytes: frames x channels x 4 */
    int pinned;
    int32_t fragments;       /* FIEMAP fragments; <= 0 not known */
} shelf__health_sample;
/* The polyphony the medium holds by the window's figures (0: they do not
 * say: busy under half the time, or no voice played). */
int shelf__health_held(const shelf_stream_health *hh);
/* Append to arr the suggestions for figures hh with the worst samples
 * top[0..ntop) (doc/streaming.md, "Suggestions"); 0, or -1 out of memory. */
int shelf__health_suggest(const shelf_stream_health *hh, const shelf__health_sample *top, int ntop,
                          json_t *arr);
/*
 * Parse a health file (DIR/stream/health.json) of text[0..n) into a
 * report (owned: shelf_stream_report_free) with state SHELF_STREAM_ENDED
 * when it says ended, else SHELF_STREAM_LIVE (the caller judges age and
 * pid).  SHELF_EFORMAT, SHELF_EVERSION or SHELF_ENOMEM with a one-line
 * message in e.  Outside input: fuzzed (fuzz_health).
 */
int shelf__health_parse(const char *text, size_t n, shelf_stream_report **out, shelf__err *e);

#endif /* SHELF_STREAM_INT_H */
