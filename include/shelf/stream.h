/*
 * stream.h: the direct-from-disk streaming engine (a sampler's voices play
 * sample files larger than RAM), its RAM cache of decoded audio, note
 * scripts and their offline render, the streaming stress test, and the
 * storage tools that keep sample files contiguous (fragmentation report and
 * optimisation).  Included by shelf.h.  See doc/streaming.md.
 *
 * Threads.  An engine has three kinds of threads:
 *  - the audio thread: one caller-owned thread that calls the functions
 *    marked AUDIO THREAD (voice start/release/stop/render).  They never
 *    block, allocate, lock, log or do I/O; they read lock-free
 *    single-producer/single-consumer rings.
 *  - the engine's own threads (a scheduler and a few I/O workers), started
 *    by shelf_stream_new and joined by shelf_stream_free.
 *  - any other thread ("control"): every other function.  Control calls are
 *    serialised by the caller (one control thread at a time) but may run
 *    while the audio thread plays.
 */
#ifndef SHELF_STREAM_H
#define SHELF_STREAM_H

typedef struct shelf_stream shelf_stream;

/* Flags for shelf_stream_opts.flags. */
#define SHELF_STREAM_RAM       0x01 /* load every sample whole: no streaming */
#define SHELF_STREAM_NO_DIRECT 0x02 /* never use O_DIRECT (buffered reads) */
#define SHELF_STREAM_NO_URING  0x04 /* never use io_uring (worker preads) */
#define SHELF_STREAM_OFFLINE   0x08 /* no voice dropping: rendering waits */
#define SHELF_STREAM_NO_DROP   0x10 /* real time, but no voice is ever dropped:
                                       a voice the disk cannot feed underruns
                                       (benchmarks that must see every miss) */
#define SHELF_STREAM_NO_FIXED  0x20 /* io_uring reads into plain buffers, not
                                       buffers registered with the ring (a
                                       comparison; see reads_fixed) */
#define SHELF_STREAM_NO_SIMD   0x40 /* the mix in plain C, not the processor's
                                       vector instructions (a comparison: the
                                       output is the same bit for bit; see
                                       mix_simd_frames) */

/*
 * Engine options.  Zero-initialise, set size = sizeof, change what you
 * need; 0 means the default given here.
 */
typedef struct shelf_stream_opts {
    size_t size;
    int rate;                /* output frames per second: 48000 */
    int max_voices;          /* voice slots: 256 (at most 16384) */
    int max_samples;         /* samples that can be added: 4096 */
    uint32_t chunk_bytes;    /* bytes of file per read: 131072 (64-256 KiB
                                is sensible); rounded to the block size */
    uint32_t head_ms;        /* preloaded head of each sample in ms at the
                                sample's rate; 0: sized from read latency
                                measured on the first sample (>= 1 chunk) */
    int ring_chunks;         /* chunks a voice's ring holds: 3 (2..64) */
    int queue_depth;         /* reads in flight at most: 32 */
    int io_threads;          /* worker threads (pread, FLAC/OGG decode): 2 */
    uint64_t cache_bytes;    /* RAM cache budget of decoded audio: 256 MiB */
    int flags;               /* SHELF_STREAM_... */
    uint32_t spike_ms;       /* a read slower than this is a latency spike: 50 */
    int retries;             /* attempts after a failed read: 2 (-1: none) */
    /* Fault injection, in the engine's own I/O layer (no root needed).
     * Decisions are a hash of (seed, sample, chunk, attempt), so a run is
     * repeatable whatever the timing. */
    double fault_error_rate; /* fraction of read attempts that fail (EIO) */
    double fault_delay_rate; /* fraction of reads delayed by fault_delay_ms */
    uint32_t fault_delay_ms;
    uint64_t fault_seed;
    /* Added with failover (fields only ever come at the end). */
    int fault_medium;        /* the reads the faults above hit: 0 all,
                                SHELF_STREAM_PRIMARY the primary's,
                                SHELF_STREAM_MIRROR the mirror's */
    uint32_t failover_ms;    /* a read of a mirrored sample still in flight
                                on the primary after this long (or half the
                                time until its voice runs dry, if sooner, at
                                least 5 ms; offline: this alone) is sent to
                                the mirror too: 100 */
    uint32_t recheck_ms;     /* a failed primary is tried again (reopened by
                                path, identity checked, one read that must
                                take under failover_ms) this often: 500 */
    /* Called with one line (borrowed for the call) when a sample's reads
     * switch to its mirror or its primary comes back, on the engine's
     * scheduler thread: keep it short (no blocking I/O beyond a log
     * line).  May be NULL. */
    void (*log)(void *ud, const char *line);
    void *log_ud;
    /* Added with mirrored renders (fields only ever come at the end).
     * shelf_notes_render only: mirrors[i], when the array and it are not
     * NULL, is the mirror of the script's sample i, given to the engine
     * with shelf_stream_add_mirror (a render then fails over to it as a
     * live engine does).  Borrowed for the call.  shelf_stream_new and
     * shelf_stress_run ignore it (a stress run's mirrors are in
     * shelf_stress_opts). */
    const char *const *mirrors;
    /* Most decoded bytes (frames x channels x 4) of one backward or
     * alternating loop, with a backward loop's crossfade, held whole in
     * RAM (shelf_stream_set_loop_opts); a longer one streams its walk and
     * holds only its turns.  0 is SHELF_STREAM_LOOP_RAM_MAX (16 MiB), or
     * cache_bytes when that is less.  At most cache_bytes: a loop held in
     * RAM is part of the cache and never evicted while it is set
     * (shelf_stream_stats.loop_ram_bytes says what loops hold). */
    uint64_t loop_ram_max;
} shelf_stream_opts;

/* Media, for shelf_stream_opts.fault_medium. */
#define SHELF_STREAM_PRIMARY 1
#define SHELF_STREAM_MIRROR  2

/*
 * Create an engine and start its threads.  *out is owned: free with
 * shelf_stream_free.  On failure *out is NULL and errmsg, when not NULL,
 * receives an owned message (free with shelf_free).
 * Errors: SHELF_EINVAL (an option out of range), SHELF_ENOMEM, SHELF_EIO.
 */
SHELF_API int shelf_stream_new(const shelf_stream_opts *opts, shelf_stream **out,
                               char **errmsg);

/* Stop the threads and free everything.  The audio thread must have
 * stopped calling.  NULL is ignored. */
SHELF_API void shelf_stream_free(shelf_stream *s);

/* The message of the last failure of a control call (borrowed). */
SHELF_API const char *shelf_stream_errmsg(const shelf_stream *s);

/*
 * Add the sample file at path (WAV PCM 16/24/32-bit and float are read
 * directly, with aligned reads; FLAC, OGG, AIFF and anything else
 * libsndfile reads are decoded by libsndfile on the I/O threads) and
 * preload its head.  *id receives the sample's number (0, 1, ...).
 * Control thread.  Errors: SHELF_ENOTFOUND, SHELF_EFORMAT, SHELF_EIO,
 * SHELF_ENOMEM, SHELF_EINVAL (too many samples).
 */
SHELF_API int shelf_stream_add(shelf_stream *s, const char *path, int *id);

/*
 * Give sample id a mirror: the same file on a second medium (another
 * card, stick or disk).  A read that fails on the primary, or is still in
 * flight at its deadline (shelf_stream_opts.failover_ms), is read from the
 * mirror, in time for the voice; the sample's reads then go to the mirror
 * until a probe every recheck_ms finds the primary back (reopened by path,
 * the same size and modification time, a read that succeeds in time).
 * A primary that disappears (unmounted, pulled) and comes back at the
 * same path is taken up again the same way, mirror or not.  The mirror
 * must have the primary's size and its first 64 KiB (header and first
 * audio); it is opened now and stays open.  A mirror that fails a read is
 * taken out the same way: its reads go to the primary (one more try of
 * the primary, down or not, before a chunk is lost), and a probe every
 * recheck_ms reopens it by path (its size and modification time when
 * added, a read of its first chunk), so a re-plugged mirror is taken up
 * again (shelf_stream_stats mirror_down, mirror_returns,
 * mirror_fallbacks).  Control thread, before
 * voices play the sample; one mirror per sample.  Errors:
 * SHELF_ENOTFOUND (no sample id), SHELF_EINVAL (not a copy: the message
 * says why), SHELF_EEXIST (it has a mirror), SHELF_EIO, SHELF_ENOMEM.
 */
SHELF_API int shelf_stream_add_mirror(shelf_stream *s, int id, const char *path);

/* Facts about an added sample.  Control thread. */
typedef struct shelf_stream_sample_info {
    int rate, channels;
    int64_t frames;
    int direct;              /* 1: raw PCM reads; 0: libsndfile decode */
    uint32_t chunk_frames;   /* frames per chunk (one read) */
    uint32_t head_chunks;    /* chunks preloaded */
} shelf_stream_sample_info;
SHELF_API int shelf_stream_sample(const shelf_stream *s, int id,
                                  shelf_stream_sample_info *out);

/*
 * Pin a sample: decode it whole into the cache (on the calling thread) and
 * never evict it; unpin makes it evictable again.  Control thread.
 */
SHELF_API int shelf_stream_pin(shelf_stream *s, int id);
SHELF_API int shelf_stream_unpin(shelf_stream *s, int id);

/*
 * Drop the RAM cache (every chunk no voice, head or pin holds) and ask the
 * kernel to drop its page cache of the sample files (POSIX_FADV_DONTNEED),
 * so the next reads come from the device.  Control thread.
 */
SHELF_API void shelf_stream_drop_caches(shelf_stream *s);

/*
 * Reserve bytes of RAM for decoded chunks, mapped and faulted in now, on
 * the calling thread (the kernel zeroes every page, and a write to each
 * maps it: about 1.2 s a GiB on the VM of doc/benchmarks.md, much less
 * on bare metal).  Reads decode into it from then on, and a chunk
 * the cache lets go gives its buffer back to it, so a play that fills
 * many rings at once does not wait on the kernel for every 4 KiB page it
 * writes the first time.  Once it is used up, reads take new memory as
 * without it.  It is not locked (mlock) and is given back only by
 * shelf_stream_free.  Once per engine, before playing: SHELF_EINVAL for a
 * second one or 0 bytes, SHELF_ENOMEM when the system refuses it.
 * Control thread.
 */
SHELF_API int shelf_stream_reserve(shelf_stream *s, uint64_t bytes);

/* The reserve a voice of sample id holds at once: its full ring and the
 * read that refills it, ring_chunks + 1 buffers, each a chunk's decoded
 * frames rounded up to 64 KiB; 0 for no such sample.  A chunk played
 * keeps its buffer until the scheduler's trim lets it go (the trim goes
 * round every chunk in 16 steps, a fraction of a second in real time; an
 * offline render can outrun it): past the reserve, reads take new
 * memory.  Control thread. */
SHELF_API uint64_t shelf_stream_ring_bytes(const shelf_stream *s, int id);

/*
 * Give sample id a forward loop over frames [start, end) (end exclusive,
 * as libsndfile's SF_INSTRUMENT and the catalog store it) and keep the
 * loop's start in RAM (as long as the head, at least a chunk), so a voice
 * wrapping from end to start never waits on the disk.  Voices started
 * after this call at an offset before end play the loop while held; a
 * release leaves the loop and plays on towards the end of the sample
 * through the release fade (SFZ loop_sustain).  crossfade > 0: over the
 * last crossfade frames before end, the voice fades linearly from the
 * loop's end into the frames before start (which lead into start, so the
 * wrap is smooth); at most start and end - start frames (SFZ's
 * loop_crossfade in seconds times the sample's rate).  start = end = 0 removes
 * the loop.  Control thread, while no voice plays the sample.
 * Errors: SHELF_ENOTFOUND, SHELF_EINVAL, SHELF_EIO, SHELF_ENOMEM.
 * The same as shelf_stream_set_loop_opts with mode SHELF_LOOP_FORWARD.
 */
SHELF_API int shelf_stream_set_loop(shelf_stream *s, int id, int64_t start, int64_t end,
                                    uint32_t crossfade);

/*
 * A sample's loop for shelf_stream_set_loop_opts.  Zero-initialise, set
 * size = sizeof (the rule of shelf.h, "Structs with a size").
 */
typedef struct shelf_stream_loop_opts {
    size_t size;
    int64_t start, end;      /* frames [start, end); 0, 0: no loop */
    uint32_t crossfade;      /* frames; forward and backward loops */
    int mode;                /* SHELF_LOOP_FORWARD (0 too), SHELF_LOOP_BACKWARD,
                                SHELF_LOOP_ALTERNATING (catalog.h) */
} shelf_stream_loop_opts;

/* Most decoded audio (frames x channels x 4 bytes of float) of a backward
 * or alternating loop held whole in RAM by default, a backward loop's
 * crossfade frames included: 16 MiB, that is 2 Mi stereo frames (43 s at
 * 48 kHz).  shelf_stream_opts.loop_ram_max sets another bound, up to the
 * cache budget; a longer loop streams. */
#define SHELF_STREAM_LOOP_RAM_MAX ((uint64_t)16 << 20)

/*
 * Give sample id a loop that plays in lo->mode (doc/streaming.md, "Loop
 * modes"; frame by frame at pitch 1, for a loop [s, e)):
 *  - SHELF_LOOP_FORWARD: as shelf_stream_set_loop: ... e-2, e-1, s, s+1 ...
 *  - SHELF_LOOP_BACKWARD (WAV smpl type 2, SFZ loop_type=backward): the
 *    voice plays forward into the loop up to e-1, turns there and plays
 *    the loop reversed, again and again: ... e-2, e-1, e-2 ... s+1, s,
 *    e-1, e-2 ... s, e-1 ...
 *  - SHELF_LOOP_ALTERNATING (type 1, ping-pong, SFZ loop_type=alternate):
 *    forward to e-1, back to s, forward again; a turning frame plays once:
 *    ... e-2, e-1, e-2 ... s+1, s, s+1 ... e-1, e-2 ...  It needs at least
 *    2 frames.
 * Backward and alternating loops of at most shelf_stream_opts.loop_ram_max
 * bytes (SHELF_STREAM_LOOP_RAM_MAX unless set) keep the whole loop in RAM
 * (decoded chunks, held like the head), so a held voice reads nothing once
 * it is in the loop.  A longer one streams: RAM holds its turns (the top,
 * and an alternating loop's bottom, each as long as a forward loop's
 * start) and the voice's walk is read ahead in its order, down the disk
 * on a descending lap.  A backward loop's crossfade of F frames mirrors a forward one's:
 * over the last F frames of play before
 * its jump (s+F-1 down to s) the loop fades linearly into the F frames
 * after its end walked down (frame i mixes with i + e - s, with weight
 * (s + F - 1 - i) / F), which lead into e-1, so the jump is smooth; F at
 * most e - s and the frames after e, which are held in RAM with the loop.
 * An alternating loop takes none (SHELF_EINVAL): its turns join
 * neighbouring frames.  A release leaves any loop
 * where the voice is and plays forward from there towards the sample's
 * end (a voice moving backward turns round at its current position).
 * start = end = 0 removes the loop.  lo NULL is SHELF_EINVAL.  Control
 * thread, while no voice plays the sample.  Errors: SHELF_ENOTFOUND,
 * SHELF_EINVAL, SHELF_EIO, SHELF_ENOMEM.
 */
SHELF_API int shelf_stream_set_loop_opts(shelf_stream *s, int id,
                                         const shelf_stream_loop_opts *lo);

/*
 * AUDIO THREAD.  Start a voice of sample id at frame offset, pitch as a
 * playback speed ratio (1.0 plays at the sample's own rate converted to
 * the engine rate; linear interpolation, deterministic), gain, and a
 * priority (higher is kept longer when the disk cannot keep up).  Returns
 * a voice id (>= 0) at once, or SHELF_EBUSY when no slot is free,
 * SHELF_EINVAL for a bad sample or argument.
 */
SHELF_API int shelf_stream_voice_start(shelf_stream *s, int id, int64_t offset,
                                       double pitch, float gain, int priority);

/* AUDIO THREAD.  Release (note off): fade out over release_frames output
 * frames, then end; a looping voice leaves its loop and plays on forward
 * from where it is towards the sample's end meanwhile.  release_frames SHELF_STREAM_PLAY_OUT: no
 * fade, the voice plays on to the sample's end (a later release with
 * frames still fades it).  A finished or unknown voice is ignored. */
#define SHELF_STREAM_PLAY_OUT 0xffffffffu
SHELF_API void shelf_stream_voice_release(shelf_stream *s, int voice,
                                          uint32_t release_frames);

/*
 * AUDIO THREAD.  Add frames of the voice to out (stereo interleaved float,
 * 2 * frames values).  Returns 1 while the voice plays, 0 once it ended.
 * Use either this per voice or shelf_stream_render for all, not both.
 */
SHELF_API int shelf_stream_voice_render(shelf_stream *s, int voice, uint32_t frames,
                                        float *out);

/*
 * AUDIO THREAD.  Write frames of the mix of every voice to out (stereo
 * interleaved float, overwritten).  Voices are summed in the order they
 * started, so a render is deterministic.  Returns the number of voices
 * playing after the block.
 */
SHELF_API int shelf_stream_render(shelf_stream *s, uint32_t frames, float *out);

/*
 * AUDIO THREAD.  The storage side alone, for capacity measurements: use
 * instead of shelf_stream_render.  Every voice moves on frames output
 * frames as shelf_stream_render would move it (positions, releases,
 * drops, ring pops, and underruns / not-ready starts when its data is
 * missing, counted the same way), but its source frames are only copied
 * (memcpy) out of its head, ring or loop RAM into a buffer of the engine:
 * no interpolation, gain, fade or mix, and no output.  At pitch p a voice
 * copies p x frames frames.  A voice that plays a loop is rendered (its
 * walk is the mix's) into that buffer.  Counted in feed_frames (copied)
 * and mix_frames (rendered) of the stats.  Returns the number of voices
 * playing after the block.
 */
SHELF_API int shelf_stream_feed(shelf_stream *s, uint32_t frames);

/*
 * Wait until every playing voice has the data for its next frames output
 * frames (or a read for it has finally failed) and every ended voice's slot
 * is free again.  For offline rendering: called between blocks on the
 * audio thread, which it blocks.  Returns SHELF_OK, or SHELF_EIO when the
 * engine stopped.
 */
SHELF_API int shelf_stream_wait_ready(shelf_stream *s, uint32_t frames);

/* Counters since the engine started.  Any thread (atomics). */
typedef struct shelf_stream_stats {
    size_t size;             /* set to sizeof before the call */
    uint64_t blocks;         /* render calls */
    uint64_t voices_started, voices_active;
    uint64_t not_ready;      /* voices whose data was not there at note start */
    uint64_t underruns;      /* mid-stream: a voice ran out of data */
    uint64_t underrun_frames;/* frames played as silence for that */
    uint64_t read_errors;    /* failed read attempts (each one counted) */
    uint64_t chunks_lost;    /* chunks that failed every retry (silence) */
    uint64_t voices_dropped; /* faded out because the disk fell behind or
                                reads kept failing */
    uint64_t latency_spikes; /* reads slower than spike_ms */
    uint64_t reads, bytes_read, merged; /* merged: a read shared by voices */
    uint64_t cache_hits, cache_misses, cache_evictions;
    uint64_t cache_bytes, cache_pinned_bytes, cache_budget;
    double busy_seconds;     /* time with at least one read in flight */
    int uring, direct;       /* 1 when io_uring / O_DIRECT are in use */
    uint64_t reads_uring;    /* successful reads that went through io_uring */
    uint64_t reads_direct;   /* successful reads done with O_DIRECT */
    uint64_t loop_wraps;     /* times a held voice came round its loop: a
                                forward loop's wrap from end to start, a
                                backward loop's turn at its end and each jump
                                from its start back to its end, each turn of
                                an alternating loop */
    uint64_t loop_ram;       /* chunk look-ups served by a loop's RAM copy
                                (a forward loop's start, a whole backward or
                                alternating loop) */
    uint64_t failovers;      /* chunk reads a mirror served because the
                                primary failed, was late or was down */
    uint64_t failover_switches; /* times a sample's reads moved to its mirror
                                (its primary failed or lost a race) */
    uint64_t failover_returns;/* times a failed primary came back (a probe
                                reopened it) and reads returned to it */
    uint64_t failover_hedged;/* primary reads also sent to the mirror because
                                they missed their deadline */
    uint64_t failover_probes;/* probes of failed primaries and mirrors
                                (not in reads) */
    double failover_avg_us, failover_max_us; /* from the submit of the
                                primary read that failed or was late to the
                                mirror's copy being ready */
    /* Failover of the mirror itself (added later; fields only ever come
     * at the end). */
    uint64_t mirror_down;    /* times a sample's mirror failed a read and its
                                reads went to the primary instead */
    uint64_t mirror_returns; /* times a failed mirror came back (a probe
                                reopened it: size, mtime, first chunk) */
    uint64_t mirror_fallbacks;/* chunk reads a failing mirror handed back
                                to the primary (down too) that it served */
    uint64_t loop_ram_bytes; /* bytes the loops' RAM copies hold now
                                (forward loops' starts, whole backward and
                                alternating loops), counted as cache_bytes
                                counts them (decoded audio and each chunk's
                                record), and part of it */
    /* Added with the feed-only consumer (fields only ever come at the end). */
    uint64_t mix_frames;     /* output frames voices were interpolated and
                                mixed for (shelf_stream_render, _voice_render;
                                a looping voice under shelf_stream_feed) */
    uint64_t feed_frames;    /* source frames shelf_stream_feed copied out of
                                heads, rings and loop RAM */
    uint64_t mix_run_frames; /* of mix_frames, those mixed in runs: frames
                                of one chunk with no loop turn, crossfade,
                                release or fade on the way, by a loop that
                                checks none of these (the same arithmetic:
                                renders are bit-identical either way) */
    uint64_t inflight_max;   /* most reads in flight at once: queue_depth at
                                most, but for failover's retries and hedges */
    uint64_t uring_submits;  /* io_uring_submit calls that sent reads: one
                                a scheduler pass, whatever it queued */
    uint64_t buffers_reused; /* reads decoded into the buffer of a chunk the
                                cache let go (up to 64 kept), not a new one */
    uint64_t reads_early;    /* reads sent as others completed, before those
                                were decoded, from the wants the last walk
                                over the voices had no place for */
    /* Added with the reserve (fields only ever come at the end). */
    uint64_t buffers_fresh;  /* reads (and loads) decoded into memory newly
                                allocated: no slot of the reserve or kept
                                buffer fitted; the kernel zeroes each new
                                page on the decode's first write to it */
    uint64_t reserve_bytes;  /* RAM reserved for decoded chunks
                                (shelf_stream_reserve); 0: none */
    uint64_t reserve_used;   /* of it, bytes cut into buffers so far (each
                                stays the reserve's, reused once let go) */
    uint64_t chunks_delivered; /* chunks read that went into the ring of the
                                voice that asked as the read completed, not
                                at the scheduler's next walk over the voices */
    /* Added with the read buffers kept (fields only ever come at the end). */
    uint64_t reads_fixed;    /* io_uring reads into the engine's read buffers
                                registered with the ring (READ_FIXED: the
                                kernel pins no page per read) */
    double sched_cpu_seconds; /* CPU time the scheduler thread has used */
    /* Added with the vector mix (fields only ever come at the end). */
    uint64_t mix_simd_frames; /* of mix_run_frames, those mixed by the
                                vector kernel (AVX2 where the processor has
                                it; 0 with SHELF_STREAM_NO_SIMD) */
} shelf_stream_stats;
SHELF_API void shelf_stream_get_stats(const shelf_stream *s, shelf_stream_stats *out);

/*
 * What happened since the previous call (the first call: since start):
 * read latency percentiles in microseconds (from a log histogram, 1/16
 * octave resolution) and the lowest ring fill of any streaming voice in
 * percent (100 when none streamed).  Any one thread.
 */
typedef struct shelf_stream_interval {
    uint64_t reads;
    double lat_p50_us, lat_p99_us, lat_p999_us, lat_max_us;
    double min_fill_pct;
} shelf_stream_interval;
SHELF_API void shelf_stream_take_interval(shelf_stream *s, shelf_stream_interval *out);

/*
 * The engine's health: can the medium keep up?  Totals since the engine
 * started, and the "recent" figures over a rolling window of the last
 * minute (shorter while the engine is younger; longer when the previous
 * readings are further apart than that).  The window is kept from the
 * readings themselves: call shelf_stream_get_health about once a second
 * (more often is merged into the current second) for a minute that is a
 * minute.  Independent of shelf_stream_take_interval (each keeps its own
 * marks).  Control thread; the first call allocates the window (about
 * 220 KB).  SHELF_OK, or SHELF_ENOMEM (then nothing is filled).
 */
typedef struct shelf_stream_health {
    size_t size;             /* set to sizeof before the call */
    double uptime;           /* seconds since shelf_stream_new */
    double window;           /* seconds the recent figures cover */
    /* Since the engine started (as in shelf_stream_stats). */
    uint64_t underruns, not_ready, voices_dropped, read_errors, chunks_lost, failovers;
    uint64_t reads, bytes_read;
    /* Over the window. */
    uint64_t recent_underruns, recent_not_ready, recent_dropped, recent_read_errors,
        recent_chunks_lost, recent_failovers, recent_reads;
    double underruns_per_min;/* recent_underruns per 60 s of window */
    double min_fill_pct;     /* lowest ring fill of any streaming voice, in
                                percent (100 when none streamed) */
    double lat_p50_us, lat_p99_us, lat_max_us; /* read latency (0: no reads) */
    double mb_per_s;         /* bytes read per second, in 10^6 */
    double busy;             /* fraction of the window with a read in flight */
    double voices_avg;       /* voices playing, on average (frames rendered) */
    int voices;              /* playing now */
    int voices_peak;         /* the most that played at once */
    /* What the figures are measured against. */
    double ring_ms;          /* audio a full voice ring holds at pitch 1, the
                                least over the samples added (0: none) */
    uint64_t cache_bytes, cache_pinned_bytes, cache_budget;
    /* Added with the mirrors' own failover (fields only ever come at the
     * end); as in shelf_stream_stats, since the engine started. */
    uint64_t failover_switches, failover_returns, mirror_down, mirror_returns,
        mirror_fallbacks;
    uint64_t recent_switches, recent_mirror_down; /* over the window */
} shelf_stream_health;
SHELF_API int shelf_stream_get_health(shelf_stream *s, shelf_stream_health *out);

/*
 * Publish the engine's health for the rest of shelf: write
 * DIR/stream/health.json of lib (format in doc/formats.md, "stream/
 * health.json") with this process's pid, the time (shelf_clock_now), the
 * figures of shelf_stream_get_health, the samples that underran most, and,
 * when the engine could not keep up in the last minute, suggestions from
 * the measured figures (the polyphony this medium holds, the samples to
 * pin and the RAM they need, the fragmented files to rewrite, a faster
 * medium).  Call it about once a second while the engine plays, and once
 * with ended = 1 before shelf_stream_free (the file stays, marked ended).
 * The file is replaced in one step (temporary file and rename, not synced:
 * it is rewritten a second later).  `shelf stream monitor`, shelf_alerts
 * ("stream-underruns") and shelf_stream_health_read read it.  Control
 * thread (it reads the catalog and the samples' extents: never the audio
 * thread).  Errors (shelf_errmsg(lib) says which file): SHELF_EIO,
 * SHELF_EPERM (the folder cannot be written), SHELF_ENOMEM.
 */
SHELF_API int shelf_stream_health_publish(shelf_stream *s, shelf_library *lib, int ended);

/* A reading of a health file is live, stale or ended. */
enum {
    SHELF_STREAM_LIVE = 1,   /* running, written within SHELF_STREAM_STALE_S
                                seconds, and its pid is alive (when the
                                file was written on this host) */
    SHELF_STREAM_STALE = 2,  /* says running, but older than that, or its
                                process is gone (killed, crashed) */
    SHELF_STREAM_ENDED = 3   /* the engine ended and said so */
};
#define SHELF_STREAM_STALE_S 10

/* One change that would let the medium keep up (borrowed from the report). */
typedef struct shelf_stream_suggestion {
    const char *kind;        /* "polyphony", "pin", "defragment", "medium" */
    const char *text;        /* one line: the measured figures behind it */
    const char *action;      /* one line: the change (a command where one
                                exists: `shelf cache pin ID...`) */
} shelf_stream_suggestion;

/* A health file as read back.  Pointers are owned by the report. */
typedef struct shelf_stream_report {
    size_t size;             /* sizeof(shelf_stream_report) */
    int state;               /* SHELF_STREAM_LIVE, _STALE or _ENDED */
    long pid;                /* the process that ran the engine */
    const char *host;        /* its host name */
    int64_t started, updated;/* Unix seconds */
    int64_t underruns_since; /* start of the current run of minutes with
                                underruns (Unix seconds); 0: none */
    shelf_stream_health health;
    size_t nsuggestions;
    const shelf_stream_suggestion *suggestions;
    const char *json;        /* the file as read, one JSON object */
} shelf_stream_report;

/*
 * Read DIR/stream/health.json at time now (Unix seconds; shelf_clock_now()
 * for the present) into *out (owned: free with shelf_stream_report_free).
 * Errors: SHELF_ENOTFOUND (no engine published here), SHELF_EFORMAT (not a
 * health file), SHELF_EVERSION (a newer one), SHELF_EIO, SHELF_ENOMEM;
 * *out is NULL then and shelf_errmsg(lib) says why.  Any thread with its
 * own handle.
 */
SHELF_API int shelf_stream_health_read(shelf_library *lib, int64_t now, shelf_stream_report **out);
SHELF_API void shelf_stream_report_free(shelf_stream_report *r);

/*
 * Note scripts (format in doc/streaming.md): a text file of samples and
 * timed notes.  shelf_notes_parse reads one from memory; sample paths are
 * kept as written (the caller resolves them).  *out is owned: free with
 * shelf_notes_free.  On SHELF_EFORMAT, errmsg (when not NULL) receives an
 * owned one-line message with the line number.
 */
typedef struct shelf_note {
    int64_t at;              /* output frame of note on */
    int sample;              /* index into the script's samples */
    int64_t offset;          /* start frame in the sample */
    double pitch;
    float gain;
    int64_t length;          /* output frames until release; -1: whole sample */
    uint32_t release;        /* release frames; SHELF_STREAM_PLAY_OUT: none,
                                the sample plays out (script: release=0) */
    int priority;
} shelf_note;
typedef struct shelf_notes {
    int rate;                /* output rate */
    int64_t frames;          /* output length */
    size_t nsamples, nnotes; /* notes sorted by time (stable) */
    char **samples;          /* as written in the script */
    shelf_note *notes;
    /* Each sample's loop, 3 * nsamples values: start, end (end
     * exclusive; 0, 0: none; -1, -1: the loop the file carries, read at
     * render), crossfade frames.  Notes on a looped sample loop until
     * their release (len). */
    int64_t *loops;
    /* Each loop's mode, nsamples values: SHELF_LOOP_FORWARD,
     * SHELF_LOOP_BACKWARD, SHELF_LOOP_ALTERNATING, or 0: forward, or for a
     * file's own loop the mode the file says.  Added after loops: fields
     * are only ever added at the end, so make a shelf_notes with
     * shelf_notes_parse (a caller's own struct of an older version lacks
     * this field). */
    int *loop_modes;
} shelf_notes;
SHELF_API int shelf_notes_parse(const char *text, size_t len, shelf_notes **out,
                                char **errmsg);
SHELF_API void shelf_notes_free(shelf_notes *n);

/*
 * Render a script offline through the engine, stereo float, into *pcm
 * (owned, 2 * frames floats; free with shelf_free).  paths[i] is the file
 * of the script's sample i.  With SHELF_STREAM_RAM in opts the samples are
 * loaded whole, else they stream from disk and the render waits for reads
 * between blocks (SHELF_STREAM_OFFLINE is implied); both give the same
 * bits.  opts->mirrors (optional) gives samples their mirrors: a read
 * the primary fails or delays past failover_ms is read from the mirror,
 * and the render keeps the same bits.  stats (optional) receives the
 * engine's counters.  Errors: those of shelf_stream_new, shelf_stream_add,
 * shelf_stream_add_mirror (a mirror that is not a copy: SHELF_EINVAL) and
 * shelf_stream_set_loop_opts, with a one-line message in *errmsg.
 */
SHELF_API int shelf_notes_render(const shelf_notes *n, const char *const *paths,
                                 const shelf_stream_opts *opts, uint32_t block,
                                 float **pcm, int64_t *frames,
                                 shelf_stream_stats *stats, char **errmsg);

/*
 * Stress test: play a seeded note script against the files with the audio
 * callback paced by a real-time timer thread, and report per second.
 */
typedef struct shelf_stress_opts {
    size_t size;
    int voices;              /* polyphony to hold: 64 */
    double duration;         /* seconds: 10 */
    uint32_t block;          /* frames per callback: 128 */
    uint64_t seed;           /* note script seed: 1 */
    int cold;                /* drop RAM and page caches first */
    const char *const *pins; /* files to pin (may be NULL) */
    size_t npins;
    volatile int *stop;      /* set to non-zero to stop early; may be NULL */
    /* Called on the calling thread once a second, after the second's row,
     * with the running engine (borrowed for the call), and once more with
     * last = 1 when the run ends (e.g. to publish the engine's health:
     * shelf_stream_health_publish).  May be NULL. */
    void (*tick)(void *ud, shelf_stream *s, int last);
    void *tick_ud;
    /* Failover (added later; fields only ever come at the end). */
    const char *const *mirrors; /* mirrors[i]: the mirror of paths[i]
                                (shelf_stream_add_mirror), or NULL; the
                                array may be NULL */
    double fail_at;          /* from this second of the run (> 0) the
                                primary fails: every read and probe of it
                                (EIO), through the engine's fault layer */
    double fail_until;       /* ... until this second (0: to the end) */
    uint32_t fail_slow_ms;   /* instead of failing, each primary read
                                then takes this much longer */
    /* Capacity (added later; fields only ever come at the end). */
    int feed_only;           /* 1: the callback calls shelf_stream_feed (copy
                                the voices' data out, no interpolation or
                                mix) instead of shelf_stream_render: the
                                storage side alone; late callbacks are then
                                counted but do not make a run unclean */
    int script;              /* SHELF_STRESS_LANES (0) or SHELF_STRESS_WORST */
    double preroll;          /* SHELF_STRESS_WORST: seconds before the
                                measured run in which the voices start: 1 */
    /* Added with the reserve (fields only ever come at the end). */
    int no_reserve;          /* 1: play without a reserve; else the run
                                first reserves (shelf_stream_reserve) the
                                ring bytes (shelf_stream_ring_bytes) of
                                every voice it holds: of the voices' own
                                samples (WORST), or the largest of the
                                files' (LANES) */
} shelf_stress_opts;

/*
 * Note scripts of the stress test.  LANES: voices lanes, each playing a
 * random sample from its start for 2-8 s, then the next.  WORST (no two
 * voices share a read): voice i plays sample i (npaths >= voices; the same
 * file given twice is two samples, never sharing a chunk) from a seeded
 * random start frame (shelf_stress_result.offsets), one note held for the
 * whole run; the voices start spread over the first half of the pre-roll,
 * and the run is measured (rows, clean) from its end.  Every sample must
 * hold its voice's start plus pre-roll plus duration (SHELF_EINVAL).  The
 * engine drops no voice in it (SHELF_STREAM_NO_DROP is set): every start
 * waits on a read, which the scheduler would take for a voice running dry;
 * a voice the disk cannot feed underruns instead, and the run is not clean.
 * It is otherwise the real-time engine (SHELF_STREAM_OFFLINE, used until
 * 2026-12-06, also made the scheduler walk every voice every pass).
 */
#define SHELF_STRESS_LANES 0
#define SHELF_STRESS_WORST 1

/* One second of a stress run (one CSV row). */
typedef struct shelf_stress_row {
    double t;                /* end of the second, from the start */
    int voices;              /* voices playing at the end of it */
    uint64_t underruns, not_ready, read_errors, chunks_lost, dropped, spikes;
    uint64_t reads, cache_hits, cache_misses;
    double min_fill_pct;
    double lat_p50_us, lat_p99_us, lat_p999_us, lat_max_us;
    double busy;             /* fraction of the second with reads in flight */
    double mb_per_s;         /* bytes read */
    double cb_max_us;        /* slowest audio callback */
    uint64_t late;           /* callbacks that missed their deadline */
    uint64_t failovers;      /* chunk reads a mirror served */
    int primary_failing;     /* 1 when fail_at..fail_until covered the second */
} shelf_stress_row;

typedef struct shelf_stress_result {
    size_t nrows;
    shelf_stress_row *rows;  /* owned by the result */
    shelf_stream_stats stats;/* totals at the end (with a pre-roll, the
                                counts are the measured run's: minus those
                                of preroll below) */
    int rt;                  /* 1 when the timer thread got SCHED_FIFO */
    int clean;               /* no underrun, not-ready, frame missed (a voice
                                not ready at the pre-roll's end misses frames
                                with no new underrun), error, loss, drop or late
                                callback (a late callback is an xrun: the device
                                would have played a gap; a feed-only run judges
                                98% of blocks_due played instead) */
    uint64_t late;           /* audio callbacks that missed their deadline */
    /* Added with the worst-case script. */
    shelf_stream_stats preroll; /* the counters at the end of the pre-roll
                                (zero without one; its not_ready: voices
                                whose random start was not read in time) */
    int64_t *offsets;        /* SHELF_STRESS_WORST: voice i's start frame in
                                sample i (owned by the result); else NULL */
    size_t noffsets;
    double cb_avg_us;        /* the mean audio callback (render or feed):
                                against the block's period, the share of a
                                core the callback takes */
    /* Added when feed-only runs were found clean on blocks they skipped. */
    uint64_t blocks_due;     /* the measured run's blocks in real time
                                (duration x rate / block); stats.blocks says
                                how many were played: a callback that falls
                                more than 8 blocks behind skips the rest, and
                                its voices ask that much less of the disk.  A
                                feed-only run is clean only with 98% of them
                                played (one that renders, with no late
                                callback, plays them all) */
    /* Added with the read buffers kept. */
    double sched_cpu_pct;    /* the scheduler thread's CPU time over the
                                measured run, in % of one core */
    double audio_cpu_pct;    /* the audio (timer) thread's, callbacks and
                                note script: against its periods, % of one
                                core (cb_avg_us is wall time, which counts
                                time the thread was held off its core) */
    uint64_t late_cpu;       /* of the late callbacks, those whose own CPU
                                time passed the block's period (the mix's or
                                the feed's work); the others started late or
                                were held off their core (the machine's) */
} shelf_stress_result;

/* Run a stress test with engine options eo over the files.  *out is owned:
 * free with shelf_stress_free. */
SHELF_API int shelf_stress_run(const char *const *paths, size_t npaths,
                               const shelf_stream_opts *eo, const shelf_stress_opts *so,
                               shelf_stress_result **out, char **errmsg);
SHELF_API void shelf_stress_free(shelf_stress_result *r);

/*
 * Find the highest polyphony that plays clean for so->duration seconds:
 * start at so->voices (16 when 0), double while clean (up to max_voices),
 * then bisect to within 1/32.  cb (may be NULL) sees each step's result
 * on the calling thread, between steps (borrowed for the call).  *best is 0 when even the first step failed.
 */
typedef void (*shelf_stress_step_cb)(void *ud, int voices, const shelf_stress_result *r);
SHELF_API int shelf_stress_ramp(const char *const *paths, size_t npaths,
                                const shelf_stream_opts *eo, const shelf_stress_opts *so,
                                int max_voices, int *best, shelf_stress_step_cb cb, void *ud,
                                char **errmsg);

/* Write the rows as CSV (columns in doc/streaming.md). */
SHELF_API int shelf_stress_write_csv(const shelf_stress_result *r, const char *path);

/* Draw the rows as a PNG (cairo): six panels over time.  title may be NULL. */
SHELF_API int shelf_stress_plot(const shelf_stress_result *r, const char *title,
                                const char *path);

/*
 * Storage: fragmentation of a file (FIEMAP extents) and rewriting it
 * contiguously.
 */
typedef struct shelf_frag_info {
    uint64_t size;           /* bytes */
    uint32_t extents;        /* extents as the filesystem reports them */
    uint32_t fragments;      /* runs of physically contiguous extents */
    uint64_t block_size;     /* the filesystem's block size */
    int supported;           /* 0 when the filesystem has no FIEMAP */
} shelf_frag_info;

/* Report fragmentation of the file at path.  errmsg as above. */
SHELF_API int shelf_frag_file(const char *path, shelf_frag_info *out, char **errmsg);

/*
 * Rewrite the file at path contiguously: check free space (statvfs), create
 * a temporary file beside it, fallocate its size, copy, fsync, give it the
 * original mode and times (mtime_ns is kept, so the catalog sees no change),
 * rename it over the original atomically, fsync the folder.  after
 * (optional) receives the new layout.  Errors: SHELF_EIO, SHELF_ENOTFOUND,
 * SHELF_EPERM, SHELF_ENOMEM, SHELF_EBUSY (not enough free space).
 */
SHELF_API int shelf_frag_optimize(const char *path, shelf_frag_info *after, char **errmsg);

/*
 * Cache pins: the samples of a library that a performance keeps whole in
 * an engine's RAM cache (shelf_stream_pin), stored in DIR/cache-pins
 * (format in doc/formats.md).  Control thread; on failure shelf_errmsg(lib)
 * says why.
 *
 * shelf_cache_pins_get: the pinned sample ids, each once, in the order they
 * were pinned, into *ids (owned, free with shelf_free; never NULL on
 * SHELF_OK) and *n; no file is an empty list.  Ids of samples removed since
 * are kept (shelf_catalog_get tells).  SHELF_EFORMAT on a damaged file,
 * SHELF_EVERSION on a newer one.
 *
 * shelf_cache_pins_set: on=1 pins ids[0..n) (each must be a sample of the
 * catalog, else SHELF_ENOTFOUND and nothing changes); on=0 unpins them (any
 * id, pinned or not).  The file is replaced in one step (a reader sees the
 * old list or the new one).  SHELF_EPERM on a read-only library.
 */
SHELF_API int shelf_cache_pins_get(shelf_library *lib, int64_t **ids, size_t *n);
SHELF_API int shelf_cache_pins_set(shelf_library *lib, const int64_t *ids, size_t n, int on);

#endif /* SHELF_STREAM_H */
