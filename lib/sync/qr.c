/*
 * qr.c: QR codes of short texts (device ids, invitations) through
 * libqrencode, as terminal text (half blocks) or as a PNG drawn with cairo
 * (include/shelf/sync.h, shelf_qr_render).
 */
#include <string.h>
#include <cairo.h>
#include <qrencode.h>
#include "sync_int.h"

#define QR_TEXT_MAX 1024
#define QUIET 2             /* modules of light border around the code (text) */
#define PNG_QUIET 4         /* the standard's quiet zone (PNG) */
#define PNG_SCALE 8         /* pixels per module */

static int qr_dark(const QRcode *q, int x, int y)
{
    if (x < 0 || y < 0 || x >= q->width || y >= q->width)
        return 0;
    return q->data[y * q->width + x] & 1;
}

/*
 * Two rows of modules per line of text.  A terminal's colours are unknown,
 * so the code is drawn as light on the default background: a full block
 * for two light modules, a space for two dark, half blocks for mixed.
 * Scanners read both polarities; the quiet zone is light blocks.
 */
static int qr_text(const QRcode *q, shelf__buf *b)
{
    static const char *const cell[4] = { "\xe2\x96\x88", "\xe2\x96\x80", "\xe2\x96\x84", " " };
    int x, y, rc = SHELF_OK;

    for (y = -QUIET; y < q->width + QUIET && rc == SHELF_OK; y += 2) {
        for (x = -QUIET; x < q->width + QUIET && rc == SHELF_OK; x++)
            rc = shelf__buf_adds(b, cell[qr_dark(q, x, y) * 2 + qr_dark(q, x, y + 1)]);
        if (rc == SHELF_OK)
            rc = shelf__buf_add(b, "\n", 1);
    }
    return rc;
}

static cairo_status_t png_write(void *closure, const unsigned char *data, unsigned int n)
{
    return shelf__buf_add(closure, data, n) == SHELF_OK ? CAIRO_STATUS_SUCCESS
                                                         : CAIRO_STATUS_NO_MEMORY;
}

static int qr_png(const QRcode *q, shelf__buf *b)
{
    int side = (q->width + 2 * PNG_QUIET) * PNG_SCALE, x, y;
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, side, side);
    cairo_t *cr = cairo_create(s);
    cairo_status_t st;

    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_set_source_rgb(cr, 0, 0, 0);
    for (y = 0; y < q->width; y++)
        for (x = 0; x < q->width; x++)
            if (qr_dark(q, x, y))
                cairo_rectangle(cr, (x + PNG_QUIET) * PNG_SCALE, (y + PNG_QUIET) * PNG_SCALE,
                                PNG_SCALE, PNG_SCALE);
    cairo_fill(cr);
    st = cairo_status(cr);
    if (st == CAIRO_STATUS_SUCCESS)
        st = cairo_surface_write_to_png_stream(s, png_write, b);
    cairo_destroy(cr);
    cairo_surface_destroy(s);
    return st == CAIRO_STATUS_SUCCESS ? SHELF_OK : SHELF_ENOMEM;
}

int shelf_qr_render(const char *text, int format, unsigned char **out, size_t *len, char **errmsg)
{
    shelf__buf b = SHELF__BUF_INIT;
    QRcode *q;
    int rc;

    if (errmsg)
        *errmsg = NULL;
    if (out)
        *out = NULL;
    if (len)
        *len = 0;
    if (!text || !out || !len || (format != SHELF_QR_TEXT && format != SHELF_QR_PNG) ||
        strlen(text) > QR_TEXT_MAX) {
        if (errmsg)
            *errmsg = shelf__strdup(!text || !out || !len ? "invalid QR request: no text or output"
                                    : strlen(text) > QR_TEXT_MAX ? "cannot make a QR code: text longer "
                                                                   "than 1024 bytes"
                                                                 : "invalid QR format");
        return SHELF_EINVAL;
    }
    /* 8-bit mode: the text's bytes as they are (UTF-8), level M. */
    q = QRcode_encodeData((int)strlen(text), (const unsigned char *)text, 0, QR_ECLEVEL_M);
    if (!q) {
        if (errmsg)
            *errmsg = shelf__strdup("cannot make a QR code: out of memory");
        return SHELF_ENOMEM;
    }
    rc = format == SHELF_QR_TEXT ? qr_text(q, &b) : qr_png(q, &b);
    QRcode_free(q);
    if (rc != SHELF_OK) {
        shelf__buf_release(&b);
        if (errmsg)
            *errmsg = shelf__strdup("cannot make a QR code: out of memory");
        return rc;
    }
    *len = b.len;
    *out = (unsigned char *)shelf__buf_detach(&b);
    return SHELF_OK;
}
