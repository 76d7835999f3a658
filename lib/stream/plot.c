/*
 * plot.c: the stress test's graph (cairo, PNG): six panels over time with
 * a shared time axis: voices playing and dropped; underruns, not-ready
 * starts and read errors; the lowest ring fill; read latency percentiles
 * (log scale); disk busy fraction; megabytes read per second.
 */
#include <cairo.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "stream_int.h"

#define W 1200
#define PANEL_H 200
#define TOP 50
#define LEFT 90
#define RIGHT 30
#define GAP 30
#define NPANELS 6

typedef struct series {
    const char *name;
    double r, g, b;
    int bars;                /* counts per second: drawn as bars */
} series;

typedef double (*getter)(const shelf_stress_row *row, int which);

static double get_voices(const shelf_stress_row *w, int i)
{
    return i == 0 ? w->voices : (double)w->dropped;
}

static double get_faults(const shelf_stress_row *w, int i)
{
    return i == 0 ? (double)w->underruns : i == 1 ? (double)w->not_ready : (double)w->read_errors;
}

static double get_fill(const shelf_stress_row *w, int i)
{
    (void)i;
    return w->min_fill_pct;
}

static double get_lat(const shelf_stress_row *w, int i)
{
    double v = i == 0 ? w->lat_p50_us : i == 1 ? w->lat_p99_us : i == 2 ? w->lat_p999_us : w->lat_max_us;
    return v / 1000.0;
}

static double get_busy(const shelf_stress_row *w, int i)
{
    (void)i;
    return w->busy * 100.0;
}

static double get_mb(const shelf_stress_row *w, int i)
{
    (void)i;
    return w->mb_per_s;
}

static void text(cairo_t *cr, double x, double y, const char *s, double size)
{
    cairo_set_font_size(cr, size);
    cairo_move_to(cr, x, y);
    cairo_show_text(cr, s);
}

static void panel(cairo_t *cr, const shelf_stress_result *r, int idx, const char *title,
                  const series *ser, int nser, getter get, int logy, double fixed_max)
{
    double y0 = TOP + idx * (PANEL_H + GAP), x0 = LEFT, pw = W - LEFT - RIGHT, ph = PANEL_H;
    double tmax = r->nrows ? r->rows[r->nrows - 1].t : 1, vmax = fixed_max, vmin = 0;
    double lmin = 0, lmax = 1;
    size_t i;
    int s;
    char buf[64];

    if (tmax <= 0)
        tmax = 1;
    if (vmax <= 0) {
        for (i = 0; i < r->nrows; i++)
            for (s = 0; s < nser; s++)
                if (get(&r->rows[i], s) > vmax)
                    vmax = get(&r->rows[i], s);
        if (vmax <= 0)
            vmax = 1;
        vmax *= 1.1;
    }
    if (logy) {
        vmin = 0.01;         /* 10 us, in ms */
        if (vmax < 1)
            vmax = 1;
        lmin = log10(vmin);
        lmax = log10(vmax);
    }
    /* Frame, grid and labels. */
    cairo_set_source_rgb(cr, 0.97, 0.97, 0.97);
    cairo_rectangle(cr, x0, y0, pw, ph);
    cairo_fill(cr);
    cairo_set_source_rgb(cr, 0.85, 0.85, 0.85);
    cairo_set_line_width(cr, 1);
    for (i = 0; i <= 4; i++) {
        double y = y0 + ph - ph * (double)i / 4;
        double v = logy ? pow(10, lmin + (lmax - lmin) * (double)i / 4) : vmax * (double)i / 4;
        cairo_set_source_rgb(cr, 0.85, 0.85, 0.85);
        cairo_move_to(cr, x0, y);
        cairo_line_to(cr, x0 + pw, y);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        snprintf(buf, sizeof buf, v >= 100 ? "%.0f" : v >= 1 ? "%.1f" : "%.2f", v);
        text(cr, 10, y + 4, buf, 11);
    }
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    text(cr, x0, y0 - 8, title, 13);
    for (s = 0; s < nser; s++) {
        double lx = x0 + pw - 150 * (nser - s);
        cairo_set_source_rgb(cr, ser[s].r, ser[s].g, ser[s].b);
        cairo_rectangle(cr, lx, y0 - 18, 12, 10);
        cairo_fill(cr);
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
        text(cr, lx + 16, y0 - 8, ser[s].name, 11);
    }
    if (idx == NPANELS - 1) {
        for (i = 0; i <= 10; i++) {
            double x = x0 + pw * (double)i / 10;
            snprintf(buf, sizeof buf, tmax < 20 ? "%.1f s" : "%.0f s", tmax * (double)i / 10);
            text(cr, x - 10, y0 + ph + 16, buf, 11);
        }
    }
    /* Data. */
    cairo_save(cr);
    cairo_rectangle(cr, x0, y0, pw, ph);
    cairo_clip(cr);
    for (s = 0; s < nser; s++) {
        int first = 1;
        cairo_set_source_rgb(cr, ser[s].r, ser[s].g, ser[s].b);
        cairo_set_line_width(cr, 1.8);
        for (i = 0; i < r->nrows; i++) {
            double v = get(&r->rows[i], s), x = x0 + pw * r->rows[i].t / tmax, y;
            if (logy)
                y = y0 + ph - ph * (log10(v > vmin ? v : vmin) - lmin) / (lmax - lmin);
            else
                y = y0 + ph - ph * v / vmax;
            if (ser[s].bars) {
                double bw = pw / (double)(r->nrows + 1) / nser;
                if (v > 0) {
                    cairo_rectangle(cr, x - bw * (nser - s), y, bw, y0 + ph - y);
                    cairo_fill(cr);
                }
                continue;
            }
            if (first)
                cairo_move_to(cr, x, y);
            else
                cairo_line_to(cr, x, y);
            first = 0;
        }
        if (!ser[s].bars)
            cairo_stroke(cr);
    }
    cairo_restore(cr);
}

int shelf_stress_plot(const shelf_stress_result *r, const char *title, const char *path)
{
    static const series voices[] = { { "voices", 0.1, 0.4, 0.8, 0 }, { "dropped/s", 0.85, 0.1, 0.1, 1 } };
    static const series faults[] = { { "underruns/s", 0.85, 0.1, 0.1, 1 },
                                     { "not ready/s", 0.9, 0.6, 0.0, 1 },
                                     { "read errors/s", 0.5, 0.0, 0.6, 1 } };
    static const series fill[] = { { "min fill %", 0.1, 0.6, 0.3, 0 } };
    static const series lat[] = { { "p50", 0.1, 0.4, 0.8, 0 }, { "p99", 0.9, 0.6, 0.0, 0 },
                                  { "p99.9", 0.85, 0.1, 0.1, 0 }, { "max", 0.3, 0.3, 0.3, 0 } };
    static const series busy[] = { { "disk busy %", 0.5, 0.0, 0.6, 0 } };
    static const series mb[] = { { "MB/s read", 0.1, 0.5, 0.5, 0 } };
    cairo_surface_t *sf;
    cairo_t *cr;
    int h = TOP + NPANELS * (PANEL_H + GAP) + 10, rc = SHELF_OK;
    char head[256];

    sf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, W, h);
    cr = cairo_create(sf);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_source_rgb(cr, 0, 0, 0);
    snprintf(head, sizeof head, "%s%s%llu underruns, %llu read errors, %llu dropped%s",
             title ? title : "", title ? ": " : "", (unsigned long long)r->stats.underruns,
             (unsigned long long)r->stats.read_errors, (unsigned long long)r->stats.voices_dropped,
             r->clean ? " (clean)" : "");
    text(cr, LEFT, 24, head, 15);
    panel(cr, r, 0, "voices", voices, 2, get_voices, 0, 0);
    panel(cr, r, 1, "faults per second", faults, 3, get_faults, 0, 0);
    panel(cr, r, 2, "lowest ring fill (%)", fill, 1, get_fill, 0, 100);
    panel(cr, r, 3, "read latency (ms, log)", lat, 4, get_lat, 1, 0);
    panel(cr, r, 4, "disk busy (%)", busy, 1, get_busy, 0, 100);
    panel(cr, r, 5, "read bandwidth (MB/s)", mb, 1, get_mb, 0, 0);
    cairo_destroy(cr);
    cairo_surface_flush(sf);
    if (cairo_surface_write_to_png(sf, path) != CAIRO_STATUS_SUCCESS)
        rc = SHELF_EIO;
    cairo_surface_destroy(sf);
    return rc;
}
