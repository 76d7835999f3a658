/*
 * script.c: note scripts (the text format in doc/streaming.md): the parser
 * (outside input, fuzzed by fuzz/fuzz_notes.c) and the offline render that
 * plays a script through the engine, either from fully RAM-loaded samples
 * or streamed from disk with waits between blocks (failing over to the
 * samples' mirrors when given); both give the same bits.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sndfile.h>
#include "stream_int.h"

#define MAX_NOTES 1000000
#define MAX_SAMPLES 4096
#define MAX_FRAMES ((int64_t)1 << 40)

/* ---- parsing -------------------------------------------------------------- */

typedef struct parser {
    const char *p, *end;
    int line;
    char msg[256];
} parser;

/* The next whitespace-separated word of a line into buf; 0 when none. */
static int word(const char **p, const char *end, char *buf, size_t size)
{
    size_t n = 0;

    while (*p < end && (**p == ' ' || **p == '\t'))
        (*p)++;
    if (*p >= end)
        return 0;
    while (*p < end && **p != ' ' && **p != '\t') {
        if (n + 1 < size)
            buf[n++] = **p;
        (*p)++;
    }
    buf[n] = 0;
    return 1;
}

static int parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    char *end;
    long long v;

    if (!*s)
        return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int parse_f(const char *s, double lo, double hi, double *out)
{
    char *end;
    double v;

    if (!*s)
        return -1;
    errno = 0;
    v = strtod(s, &end);
    if (errno || *end || !(v >= lo && v <= hi))
        return -1;
    *out = v;
    return 0;
}

/* Stable merge sort by start frame (qsort is not stable). */
static int sort_notes(shelf_note *notes, size_t n)
{
    shelf_note *buf;
    size_t w, lo, mid, hi, a, b, k;

    for (k = 1; k < n && notes[k].at >= notes[k - 1].at; k++)
        ;
    if (k == n)
        return SHELF_OK;
    if (!(buf = shelf__calloc(n, sizeof *buf)))
        return SHELF_ENOMEM;
    for (w = 1; w < n; w *= 2) {
        for (lo = 0; lo < n; lo += 2 * w) {
            mid = lo + w < n ? lo + w : n;
            hi = lo + 2 * w < n ? lo + 2 * w : n;
            for (a = lo, b = mid, k = lo; k < hi; k++)
                buf[k] = a < mid && (b >= hi || notes[a].at <= notes[b].at) ? notes[a++] : notes[b++];
        }
        memcpy(notes, buf, n * sizeof *notes);
    }
    free(buf);
    return SHELF_OK;
}

void shelf_notes_free(shelf_notes *n)
{
    size_t i;

    if (!n)
        return;
    for (i = 0; i < n->nsamples; i++)
        free(n->samples[i]);
    free(n->samples);
    free(n->notes);
    free(n->loops);
    free(n->loop_modes);
    free(n);
}

/* One "note" line after the keyword. */
static int parse_note(parser *ps, const char *p, const char *end, shelf_notes *n, shelf_note *note)
{
    char w[128];
    int64_t v;

    memset(note, 0, sizeof *note);
    note->pitch = 1.0;
    note->gain = 1.0f;
    note->length = -1;
    note->release = 64;
    if (!word(&p, end, w, sizeof w) || parse_i64(w, 0, MAX_FRAMES, &note->at)) {
        snprintf(ps->msg, sizeof ps->msg, "line %d: note needs a start frame", ps->line);
        return -1;
    }
    if (!word(&p, end, w, sizeof w) || parse_i64(w, 0, (int64_t)n->nsamples - 1, &v)) {
        snprintf(ps->msg, sizeof ps->msg, "line %d: note needs a sample number (0..%zu)",
                 ps->line, n->nsamples ? n->nsamples - 1 : 0);
        return -1;
    }
    note->sample = (int)v;
    while (word(&p, end, w, sizeof w)) {
        char *eq = strchr(w, '=');
        double d = 0;
        int bad = 0;

        if (!eq) {
            bad = 1;
        } else {
            *eq++ = 0;
            if (!strcmp(w, "offset"))
                bad = parse_i64(eq, 0, MAX_FRAMES, &note->offset);
            else if (!strcmp(w, "pitch"))
                bad = parse_f(eq, 1.0 / 16, 16, &note->pitch);
            else if (!strcmp(w, "gain")) {
                bad = parse_f(eq, 0, 16, &d);
                note->gain = (float)d;
            } else if (!strcmp(w, "len"))
                bad = parse_i64(eq, 0, MAX_FRAMES, &note->length);
            else if (!strcmp(w, "release")) {
                bad = parse_i64(eq, 0, 10000000, &v);
                note->release = v ? (uint32_t)v : SHELF_STREAM_PLAY_OUT;
            } else if (!strcmp(w, "prio")) {
                bad = parse_i64(eq, -1000000, 1000000, &v);
                note->priority = (int)v;
            } else
                bad = 1;
            if (bad)
                eq[-1] = '=';
        }
        if (bad) {
            snprintf(ps->msg, sizeof ps->msg, "line %d: bad note field '%.40s'", ps->line, w);
            return -1;
        }
    }
    return 0;
}

static const char *const mode_names[] = { "", "forward", "backward", "alternating" };

/* One "loop" line after the keyword: SAMPLE START END or SAMPLE file, then
 * mode= and xfade=, each at most once, in any order. */
static int parse_loop(parser *ps, const char *p, const char *end, shelf_notes *n)
{
    char v[64];
    int64_t sn = 0, ls = -1, le = -1, xf = 0;
    int own, mode = 0, have_mode = 0, have_xf = 0;

    if (!word(&p, end, v, sizeof v) || parse_i64(v, 0, (int64_t)n->nsamples - 1, &sn) ||
        !word(&p, end, v, sizeof v))
        goto bad;
    /* "loop SAMPLE file": the loop the file carries (its points are
     * checked against the crossfade, its mode read, when it renders) */
    if (!(own = !strcmp(v, "file")) &&
        (parse_i64(v, 0, MAX_FRAMES, &ls) || !word(&p, end, v, sizeof v) ||
         parse_i64(v, 1, MAX_FRAMES, &le) || le <= ls))
        goto bad;
    while (word(&p, end, v, sizeof v)) {
        if (!strncmp(v, "mode=", 5) && !have_mode) {
            have_mode = 1;
            for (mode = SHELF_LOOP_FORWARD; mode <= SHELF_LOOP_ALTERNATING; mode++)
                if (!strcmp(v + 5, mode_names[mode]))
                    break;
            if (mode > SHELF_LOOP_ALTERNATING) {
                snprintf(ps->msg, sizeof ps->msg,
                         "line %d: unknown loop mode '%.20s' (want forward, backward or alternating)",
                         ps->line, v + 5);
                return -1;
            }
        } else if (!strncmp(v, "xfade=", 6) && !have_xf) {
            have_xf = 1;
            if (parse_i64(v + 6, 0, own ? MAX_FRAMES : le - ls, &xf))
                goto bad;
        } else {
            goto bad;
        }
    }
    if (xf && mode == SHELF_LOOP_ALTERNATING) {
        snprintf(ps->msg, sizeof ps->msg,
                 "line %d: an alternating loop takes no crossfade (xfade needs mode=forward or "
                 "backward)", ps->line);
        return -1;
    }
    /* A forward loop's crossfade mixes in the F frames before START; a
     * backward one's the F frames after END (checked against the sample's
     * length when it renders). */
    if (!own && mode != SHELF_LOOP_BACKWARD && xf > ls)
        goto bad;
    if (!own && mode == SHELF_LOOP_ALTERNATING && le - ls < 2) {
        snprintf(ps->msg, sizeof ps->msg, "line %d: an alternating loop needs at least 2 frames",
                 ps->line);
        return -1;
    }
    n->loops[3 * sn] = own ? -1 : ls;
    n->loops[3 * sn + 1] = own ? -1 : le;
    n->loops[3 * sn + 2] = xf;
    n->loop_modes[sn] = mode;
    return 0;
bad:
    snprintf(ps->msg, sizeof ps->msg,
             "line %d: bad loop (want 'loop SAMPLE START END [mode=M] [xfade=F]' or 'loop SAMPLE "
             "file [mode=M] [xfade=F]', START < END, F <= END - START and, forward, <= START)",
             ps->line);
    return -1;
}

int shelf_notes_parse(const char *text, size_t len, shelf_notes **out, char **errmsg)
{
    parser ps = { text, text + len, 0, "" };
    shelf_notes *n = NULL;
    size_t cap_notes = 0;
    int rc = SHELF_EFORMAT, have_magic = 0;

    *out = NULL;
    if (errmsg)
        *errmsg = NULL;
    if (!(n = shelf__calloc(1, sizeof *n))) {
        rc = SHELF_ENOMEM;
        goto out;
    }
    n->rate = 48000;
    while (ps.p < ps.end) {
        const char *eol = memchr(ps.p, '\n', (size_t)(ps.end - ps.p));
        const char *p = ps.p, *end = eol ? eol : ps.end;
        char w[64];

        ps.p = eol ? eol + 1 : ps.end;
        ps.line++;
        if (end > p && end[-1] == '\r')
            end--;
        if (end > p && memchr(p, '\0', (size_t)(end - p))) {
            snprintf(ps.msg, sizeof ps.msg, "line %d: a NUL byte", ps.line);
            goto out;
        }
        if (!word(&p, end, w, sizeof w) || w[0] == '#')
            continue;
        if (!have_magic) {
            char v[16];
            if (strcmp(w, "shelf-notes") != 0 || !word(&p, end, v, sizeof v) || strcmp(v, "1") != 0) {
                snprintf(ps.msg, sizeof ps.msg, "line %d: not a note script (want 'shelf-notes 1')",
                         ps.line);
                goto out;
            }
            have_magic = 1;
        } else if (!strcmp(w, "rate") || !strcmp(w, "length")) {
            char v[32];
            int64_t x;
            int is_rate = w[0] == 'r';
            if (!word(&p, end, v, sizeof v) ||
                parse_i64(v, is_rate ? 1000 : 0, is_rate ? 768000 : MAX_FRAMES, &x) ||
                word(&p, end, w, sizeof w)) {
                snprintf(ps.msg, sizeof ps.msg, "line %d: bad %s", ps.line, is_rate ? "rate" : "length");
                goto out;
            }
            if (is_rate)
                n->rate = (int)x;
            else
                n->frames = x;
        } else if (!strcmp(w, "sample")) {
            char **grown;
            int64_t *lgrown;
            int *mgrown;
            while (p < end && (*p == ' ' || *p == '\t'))
                p++;
            while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
                end--;
            if (p == end || n->nsamples >= MAX_SAMPLES) {
                snprintf(ps.msg, sizeof ps.msg, "line %d: %s", ps.line,
                         p == end ? "sample needs a path" : "too many samples");
                goto out;
            }
            if (!(grown = shelf__realloc(n->samples, (n->nsamples + 1) * sizeof *grown))) {
                rc = SHELF_ENOMEM;
                goto out;
            }
            n->samples = grown;
            if (!(lgrown = shelf__realloc(n->loops, (n->nsamples + 1) * 3 * sizeof *lgrown))) {
                rc = SHELF_ENOMEM;
                goto out;
            }
            n->loops = lgrown;
            memset(&n->loops[3 * n->nsamples], 0, 3 * sizeof *n->loops);
            if (!(mgrown = shelf__realloc(n->loop_modes, (n->nsamples + 1) * sizeof *mgrown))) {
                rc = SHELF_ENOMEM;
                goto out;
            }
            n->loop_modes = mgrown;
            n->loop_modes[n->nsamples] = 0;
            if (!(n->samples[n->nsamples] = shelf__strndup(p, (size_t)(end - p)))) {
                rc = SHELF_ENOMEM;
                goto out;
            }
            n->nsamples++;
        } else if (!strcmp(w, "loop")) {
            if (parse_loop(&ps, p, end, n))
                goto out;
        } else if (!strcmp(w, "note")) {
            if (n->nnotes >= MAX_NOTES) {
                snprintf(ps.msg, sizeof ps.msg, "line %d: too many notes", ps.line);
                goto out;
            }
            if (n->nnotes == cap_notes) {
                size_t cap = cap_notes ? 2 * cap_notes : 64;
                shelf_note *grown = shelf__realloc(n->notes, cap * sizeof *grown);
                if (!grown) {
                    rc = SHELF_ENOMEM;
                    goto out;
                }
                n->notes = grown;
                cap_notes = cap;
            }
            if (parse_note(&ps, p, end, n, &n->notes[n->nnotes]))
                goto out;
            n->nnotes++;
        } else {
            snprintf(ps.msg, sizeof ps.msg, "line %d: unknown keyword '%.30s'", ps.line, w);
            goto out;
        }
    }
    if (!have_magic) {
        snprintf(ps.msg, sizeof ps.msg, "empty note script");
        goto out;
    }
    /* Notes in time order; notes at the same frame keep their line order. */
    if (n->nnotes > 1 && (rc = sort_notes(n->notes, n->nnotes)) != SHELF_OK)
        goto out;
    *out = n;
    return SHELF_OK;
out:
    if (errmsg)
        *errmsg = shelf__strdup(ps.msg[0] ? ps.msg : shelf_strerror(rc));
    shelf_notes_free(n);
    return rc;
}

/* ---- offline render -------------------------------------------------------- */

typedef struct playing {
    int voice;
    int64_t release_at;      /* output frame; -1: plays to its end */
    uint32_t release;
} playing;

/* The loop that the file of sample i carries (libsndfile's instrument
 * chunk: WAV smpl, AIFF MARK/INST; its end is exclusive) into lp[0..1] and
 * its mode (SHELF_LOOP_...; one libsndfile does not name is forward, as the
 * catalog records it) into *mode; SHELF_EFORMAT (msg said) when it has
 * none. */
static int file_loop(const char *path, size_t i, int64_t *lp, int *mode, char *msg, size_t msgsize)
{
    SF_INFO info;
    SF_INSTRUMENT inst;
    SNDFILE *sf;
    int got;

    memset(&info, 0, sizeof info);
    memset(&inst, 0, sizeof inst);
    if (!(sf = sf_open(path, SFM_READ, &info))) {
        snprintf(msg, msgsize, "cannot read the loop of sample %zu '%s': %s", i, path,
                 sf_strerror(NULL));
        return SHELF_EFORMAT;
    }
    got = sf_command(sf, SFC_GET_INSTRUMENT, &inst, sizeof inst) == SF_TRUE &&
          inst.loop_count > 0 && inst.loops[0].end > inst.loops[0].start &&
          (sf_count_t)inst.loops[0].end <= info.frames;
    sf_close(sf);
    if (!got) {
        snprintf(msg, msgsize, "sample %zu '%s' carries no loop ('loop %zu file')", i, path, i);
        return SHELF_EFORMAT;
    }
    lp[0] = inst.loops[0].start;
    lp[1] = inst.loops[0].end;
    *mode = inst.loops[0].mode == SF_LOOP_BACKWARD      ? SHELF_LOOP_BACKWARD
            : inst.loops[0].mode == SF_LOOP_ALTERNATING ? SHELF_LOOP_ALTERNATING
                                                        : SHELF_LOOP_FORWARD;
    return SHELF_OK;
}

int shelf_notes_render(const shelf_notes *n, const char *const *paths,
                       const shelf_stream_opts *opts, uint32_t block, float **pcm,
                       int64_t *frames_out, shelf_stream_stats *stats, char **errmsg)
{
    shelf_stream_opts o;
    shelf__err e = { 0, "" };
    shelf_stream *s = NULL;
    shelf_stream_sample_info *info = NULL;
    playing *pl = NULL;
    int64_t *lp = NULL;      /* the loops, the files' own read */
    int *lm = NULL;          /* their modes */
    float *out = NULL;
    size_t i, npl = 0, next = 0;
    int64_t frames = n->frames, t = 0;
    int rc, ram, id;
    char msg[512] = "";

    *pcm = NULL;
    *frames_out = 0;
    if (errmsg)
        *errmsg = NULL;
    if ((rc = shelf__opts_check(&e, &o, sizeof o, opts, sizeof o, "shelf_stream_opts")) != SHELF_OK) {
        if (errmsg)
            *errmsg = shelf__strdup(e.msg);
        return rc;
    }
    o.rate = n->rate;
    ram = (o.flags & SHELF_STREAM_RAM) != 0;
    if (!ram)
        o.flags |= SHELF_STREAM_OFFLINE;
    if ((size_t)o.max_voices < n->nnotes + 1)
        o.max_voices = n->nnotes + 1 > 16384 ? 16384 : (int)n->nnotes + 1;
    if (!block)
        block = 128;
    if ((rc = shelf_stream_new(&o, &s, errmsg)) != SHELF_OK)
        return rc;
    if (!(info = shelf__calloc(n->nsamples + 1, sizeof *info)) ||
        !(pl = shelf__calloc(n->nnotes + 1, sizeof *pl)) ||
        !(lp = shelf__calloc(3 * n->nsamples + 3, sizeof *lp)) ||
        !(lm = shelf__calloc(n->nsamples + 1, sizeof *lm))) {
        rc = SHELF_ENOMEM;
        goto out;
    }
    if (n->loops)
        memcpy(lp, n->loops, 3 * n->nsamples * sizeof *lp);
    if (n->loop_modes)
        memcpy(lm, n->loop_modes, n->nsamples * sizeof *lm);
    for (i = 0; i < n->nsamples; i++) {
        if ((rc = shelf_stream_add(s, paths[i], &id)) != SHELF_OK) {
            snprintf(msg, sizeof msg, "%s", shelf_stream_errmsg(s));
            goto out;
        }
        shelf_stream_sample(s, id, &info[i]);
        if (o.mirrors && o.mirrors[i] && (rc = shelf_stream_add_mirror(s, id, o.mirrors[i])) != SHELF_OK) {
            snprintf(msg, sizeof msg, "%s", shelf_stream_errmsg(s));
            goto out;
        }
        if (lp[3 * i + 1] < 0) {
            int fmode;
            if ((rc = file_loop(paths[i], i, &lp[3 * i], &fmode, msg, sizeof msg)) != SHELF_OK)
                goto out;
            /* The script's mode= says how it plays, else the file does. */
            if (!lm[i])
                lm[i] = fmode;
            if (lp[3 * i + 2] && lm[i] == SHELF_LOOP_ALTERNATING) {
                rc = SHELF_EINVAL;
                snprintf(msg, sizeof msg,
                         "sample %zu '%s': its loop plays alternating, which takes no crossfade "
                         "(xfade)", i, paths[i]);
                goto out;
            }
        }
        if (lp[3 * i + 1]) {
            shelf_stream_loop_opts lo;
            memset(&lo, 0, sizeof lo);
            lo.size = sizeof lo;
            lo.start = lp[3 * i];
            lo.end = lp[3 * i + 1];
            lo.crossfade = (uint32_t)lp[3 * i + 2];
            lo.mode = lm[i];
            if ((rc = shelf_stream_set_loop_opts(s, id, &lo)) != SHELF_OK) {
                snprintf(msg, sizeof msg, "%s", shelf_stream_errmsg(s));
                goto out;
            }
        }
    }
    for (i = 0; i < n->nnotes; i++) {
        const shelf_note *nt = &n->notes[i];
        if (nt->offset >= info[nt->sample].frames) {
            rc = SHELF_EINVAL;
            snprintf(msg, sizeof msg, "note %zu starts past the end of sample %d", i + 1, nt->sample);
            goto out;
        }
        if (nt->length < 0 && lp[3 * nt->sample + 1] > nt->offset) {
            rc = SHELF_EINVAL;
            snprintf(msg, sizeof msg, "note %zu plays the loop of sample %d: it needs a len",
                     i + 1, nt->sample);
            goto out;
        }
    }
    if (frames <= 0) {
        /* Until the last note has played out. */
        for (i = 0; i < n->nnotes; i++) {
            const shelf_note *nt = &n->notes[i];
            const shelf_stream_sample_info *si = &info[nt->sample];
            double src = (double)(si->frames - nt->offset) * o.rate / si->rate / nt->pitch;
            int64_t end = nt->at + (nt->length >= 0 ? nt->length + nt->release : (int64_t)ceil(src) + 1);
            if (nt->length >= 0 && nt->release == SHELF_STREAM_PLAY_OUT) {
                /* Played out from the release: at most from the loop's
                 * start (or the note's offset) to the sample's end. */
                int64_t from = lp[3 * nt->sample + 1] > nt->offset &&
                                       lp[3 * nt->sample] < nt->offset
                                   ? lp[3 * nt->sample]
                                   : nt->offset;
                src = (double)(si->frames - from) * o.rate / si->rate / nt->pitch;
                end = nt->at + nt->length + (int64_t)ceil(src) + 1;
            }
            if (end > frames)
                frames = end;
        }
    }
    if (frames > (int64_t)1 << 32) {
        rc = SHELF_EINVAL;
        snprintf(msg, sizeof msg, "render of %lld frames is too long", (long long)frames);
        goto out;
    }
    if (!(out = shelf__calloc((size_t)frames * 2 + 1, sizeof *out))) {
        rc = SHELF_ENOMEM;
        goto out;
    }
    while (t < frames) {
        int64_t until = t + block;
        size_t j, k;

        while (next < n->nnotes && n->notes[next].at <= t) {
            const shelf_note *nt = &n->notes[next++];
            int v = shelf_stream_voice_start(s, nt->sample, nt->offset, nt->pitch, nt->gain,
                                             nt->priority);
            if (v < 0) {
                rc = v;
                snprintf(msg, sizeof msg, "cannot start note %zu: %s", next, shelf_strerror(v));
                goto out;
            }
            pl[npl].voice = v;
            pl[npl].release_at = nt->length >= 0 ? nt->at + nt->length : -1;
            pl[npl].release = nt->release;
            npl++;
        }
        /* Events inside this block cut it, so each happens on its frame
         * (the release of a note started just now too). */
        if (next < n->nnotes && n->notes[next].at < until)
            until = n->notes[next].at;
        for (j = 0; j < npl; j++)
            if (pl[j].release_at > t && pl[j].release_at < until)
                until = pl[j].release_at;
        if (until > frames)
            until = frames;
        for (j = 0, k = 0; j < npl; j++) {
            if (pl[j].release_at >= 0 && pl[j].release_at <= t) {
                shelf_stream_voice_release(s, pl[j].voice, pl[j].release);
                continue;
            }
            pl[k++] = pl[j];
        }
        npl = k;
        if (!ram && (rc = shelf_stream_wait_ready(s, (uint32_t)(until - t))) != SHELF_OK)
            goto out;
        shelf_stream_render(s, (uint32_t)(until - t), out + 2 * t);
        t = until;
    }
    if (stats) {
        stats->size = sizeof *stats;
        shelf_stream_get_stats(s, stats);
    }
    *pcm = out;
    *frames_out = frames;
    out = NULL;
    rc = SHELF_OK;
out:
    if (rc != SHELF_OK && errmsg && !*errmsg)
        *errmsg = shelf__strdup(msg[0] ? msg : shelf_strerror(rc));
    free(out);
    free(pl);
    free(lp);
    free(lm);
    free(info);
    shelf_stream_free(s);
    return rc;
}
