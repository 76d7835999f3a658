/*
 * audio.c: a sample's sound for the browser: its bytes for an <audio>
 * element (the file itself, streamed from its descriptor, when Chromium
 * plays its format; else decoded by libsndfile into a WAV in an unlinked
 * temp file, built once per request), with byte ranges and ETags; and its
 * peaks for a waveform (shelf_sample_peaks: made once, then cached).  Files are found only through the catalog
 * (shelf_catalog_path), never from anything a request names.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sndfile.h>
#include "serve_int.h"

#define BLOCK_SAMPLES 65536     /* samples (frames x channels) read at a time */
#define PEAKS_DEFAULT 400

/* The Content-Type of a format Chromium plays as it is, or NULL. */
static const char *native_type(const shelf_sample *s)
{
    static const char *const wav[] = { "PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", NULL };
    const char *f = s->format ? s->format : "", *sub = s->subtype ? s->subtype : "";
    int i;

    if (!strcmp(f, "WAV")) {
        for (i = 0; wav[i]; i++)
            if (!strcmp(sub, wav[i]))
                return "audio/wav";
        return NULL;
    }
    if (!strcmp(f, "FLAC"))
        return "audio/flac";
    if (!strcmp(f, "OGG") && (!strcmp(sub, "VORBIS") || !strcmp(sub, "OPUS")))
        return "audio/ogg";
    if (!strcmp(f, "MP3"))
        return "audio/mpeg";
    return NULL;
}

/* Open the sample's file; answers 404 (missing) or 500 and returns -1. */
static int open_sample(serve_req *r, const shelf_sample *s, struct stat *st)
{
    char *path = NULL, *text;
    int rc, fd, e;

    if ((rc = shelf_catalog_path(r->srv->lib, s, &path)) != SHELF_OK)
        return serve_lib_error(r, rc), -1;
    /* O_NONBLOCK: a FIFO put where a sample was must not hang the server
     * (regular files ignore it; the S_ISREG check refuses the rest) */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    e = errno;
    if (fd >= 0 && (fstat(fd, st) != 0 || !S_ISREG(st->st_mode))) {
        close(fd);
        fd = -1;
        e = ENOENT;
    }
    if (fd < 0) {
        text = serve_text(path);
        if (e == ENOENT || e == ENOTDIR)
            serve_error(r, MHD_HTTP_NOT_FOUND, "file missing: %s", text ? text : "?");
        else
            serve_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot open %s: %s", text ? text : "?", strerror(e));
        shelf_free(text);
    }
    shelf_free(path);
    return fd;
}

static int add_headers(struct MHD_Response *resp, const char *type, const char *etag, const char *range)
{
    return MHD_add_response_header(resp, "Accept-Ranges", "bytes") == MHD_YES &&
           MHD_add_response_header(resp, "ETag", etag) == MHD_YES &&
           (!type || MHD_add_response_header(resp, "Content-Type", type) == MHD_YES) &&
           (!range || MHD_add_response_header(resp, "Content-Range", range) == MHD_YES);
}

/* Send size bytes of fd (owned: closed here or by MHD) as type, with
 * If-None-Match and Range honoured. */
static enum MHD_Result send_fd(serve_req *r, int fd, uint64_t size, const char *type, const char *etag)
{
    const char *inm = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
    const char *range = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_RANGE);
    const char *ifr = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_RANGE);
    struct MHD_Response *resp;
    char cr[96];
    uint64_t from, len;
    int part;
    unsigned status;

    if (serve_etag_match(inm, etag)) {
        close(fd);
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        if (resp && !add_headers(resp, NULL, etag, NULL)) {
            MHD_destroy_response(resp);
            resp = NULL;
        }
        return serve_queue(r, MHD_HTTP_NOT_MODIFIED, resp, 1);
    }
    /* If-Range with another validator: the whole body, as RFC 9110 asks */
    part = ifr && strcmp(ifr, etag) != 0 ? 0 : serve_parse_range(range, size, &from, &len);
    if (part < 0) {
        close(fd);
        snprintf(cr, sizeof cr, "bytes */%llu", (unsigned long long)size);
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        if (resp && !add_headers(resp, NULL, etag, cr)) {
            MHD_destroy_response(resp);
            resp = NULL;
        }
        return serve_queue(r, MHD_HTTP_RANGE_NOT_SATISFIABLE, resp, 1);
    }
    if (part == 0) {
        from = 0;
        len = size;
        status = MHD_HTTP_OK;
    } else {
        snprintf(cr, sizeof cr, "bytes %llu-%llu/%llu", (unsigned long long)from,
                 (unsigned long long)(from + len - 1), (unsigned long long)size);
        status = MHD_HTTP_PARTIAL_CONTENT;
    }
    if (!(resp = MHD_create_response_from_fd_at_offset64(len, fd, from))) {
        close(fd);
        return serve_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot send the file");
    }
    if (!add_headers(resp, type, etag, part ? cr : NULL)) {
        MHD_destroy_response(resp);
        return MHD_NO;
    }
    return serve_queue(r, status, resp, 1);
}

/* Decode the open file src (owned) into a WAV in an unlinked temp file:
 * 16-bit PCM, or float for float sources.  Returns its descriptor and
 * *size, or -1 after answering. */
static int decode_wav(serve_req *r, const shelf_sample *s, int src, uint64_t *size)
{
    const char *tmp = getenv("TMPDIR");
    int flt = s->subtype && (!strcmp(s->subtype, "FLOAT") || !strcmp(s->subtype, "DOUBLE"));
    char path[4096];
    SF_INFO in, out;
    SNDFILE *a = NULL, *b = NULL;
    float *buf = NULL;
    struct stat st;
    sf_count_t block, got;
    int fd = -1, ok = 0;

    memset(&in, 0, sizeof in);
    if (!(a = sf_open_fd(src, SFM_READ, &in, 1))) {
        serve_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot decode sample %lld: %s", (long long)s->id,
                    sf_strerror(NULL));
        return -1;
    }
    snprintf(path, sizeof path, "%s/shelf-serve-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if ((fd = mkstemp(path)) < 0) {
        serve_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot make a temp file: %s", strerror(errno));
        goto out;
    }
    unlink(path);
    memset(&out, 0, sizeof out);
    out.samplerate = in.samplerate;
    out.channels = in.channels;
    out.format = SF_FORMAT_WAV | (flt ? SF_FORMAT_FLOAT : SF_FORMAT_PCM_16);
    block = in.channels > 0 && in.channels < BLOCK_SAMPLES ? BLOCK_SAMPLES / in.channels : 1;
    if (!(b = sf_open_fd(fd, SFM_WRITE, &out, 0)) ||
        !(buf = malloc((size_t)block * (size_t)(in.channels > 0 ? in.channels : 1) * sizeof *buf))) {
        serve_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot decode sample %lld: %s", (long long)s->id,
                    b ? "out of memory" : sf_strerror(NULL));
        goto out;
    }
    /* float in and out: libsndfile scales and, for 16-bit, clips */
    sf_command(b, SFC_SET_CLIPPING, NULL, SF_TRUE);
    while ((got = sf_readf_float(a, buf, block)) > 0)
        if (sf_writef_float(b, buf, got) != got) {
            serve_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot write the decoded sample: %s", sf_strerror(b));
            goto out;
        }
    ok = sf_close(b) == 0 && fstat(fd, &st) == 0;
    b = NULL;
    if (!ok)
        serve_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot write the decoded sample");
    else
        *size = (uint64_t)st.st_size;
out:
    free(buf);
    if (b)
        sf_close(b);
    sf_close(a);
    if (!ok && fd >= 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

enum MHD_Result serve_audio(serve_req *r, const shelf_sample *s)
{
    const char *type = native_type(s);
    char etag[96];
    struct stat st;
    uint64_t size;
    int fd;

    if ((fd = open_sample(r, s, &st)) < 0)
        return MHD_YES;
    if (type) {
        /* The catalog's hash names these bytes while the file is the one it
         * read; a file changed since has a validator of its own. */
        if ((uint64_t)st.st_size == s->size &&
            (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec == s->mtime_ns && s->sha256)
            snprintf(etag, sizeof etag, "\"%.64s\"", s->sha256);
        else
            snprintf(etag, sizeof etag, "\"%llx-%llx\"", (unsigned long long)st.st_size,
                     (unsigned long long)st.st_mtim.tv_sec);
        return send_fd(r, fd, (uint64_t)st.st_size, type, etag);
    }
    if ((fd = decode_wav(r, s, fd, &size)) < 0)
        return MHD_YES;
    snprintf(etag, sizeof etag, "\"%.64s-wav%s\"", s->sha256 ? s->sha256 : "",
             s->subtype && (!strcmp(s->subtype, "FLOAT") || !strcmp(s->subtype, "DOUBLE")) ? "f" : "16");
    return send_fd(r, fd, size, "audio/wav", etag);
}

enum MHD_Result serve_peaks(serve_req *r, const shelf_sample *s)
{
    const char *narg = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "n");
    float *lo = NULL, *hi = NULL;
    json_t *peaks = NULL, *v = NULL;
    int64_t n = PEAKS_DEFAULT, i;
    int bad = 0, rc, cached = 0;

    if (narg && serve_parse_int(narg, INT64_MIN, INT64_MAX, &n))
        return serve_error(r, MHD_HTTP_BAD_REQUEST, "n: a whole number (%d to %d)", SHELF_PEAKS_MIN,
                           SHELF_PEAKS_MAX);
    n = n < SHELF_PEAKS_MIN ? SHELF_PEAKS_MIN : n > SHELF_PEAKS_MAX ? SHELF_PEAKS_MAX : n;
    lo = calloc((size_t)n, sizeof *lo);
    hi = calloc((size_t)n, sizeof *hi);
    if (!lo || !hi)
        goto out;
    /* made once, then from the library's cache (by the bytes' hash) */
    if ((rc = shelf_sample_peaks(r->srv->lib, s->id, (int)n, lo, hi, &cached)) != SHELF_OK) {
        free(lo);
        free(hi);
        if (rc == SHELF_ENOTFOUND)
            return serve_error(r, MHD_HTTP_NOT_FOUND, "%s", shelf_errmsg(r->srv->lib));
        if (rc == SHELF_EFORMAT)
            return serve_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot decode sample %lld: %s",
                               (long long)s->id, shelf_errmsg(r->srv->lib));
        return serve_lib_error(r, rc);
    }
    if (!(peaks = json_array()))
        goto out;
    for (i = 0; i < n; i++)
        bad |= json_array_append_new(peaks, json_pack("[f, f]", (double)lo[i], (double)hi[i]));
    if (!bad)
        v = json_pack("{s:I, s:O, s:b}", "n", (json_int_t)n, "peaks", peaks, "cached", cached);
out:
    json_decref(peaks);
    free(lo);
    free(hi);
    return serve_json(r, MHD_HTTP_OK, v, 4);
}
