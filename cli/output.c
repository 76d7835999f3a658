/*
 * output.c: how the program shows samples (lines, long form, JSON), sizes,
 * note names, and the progress line on a terminal.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"

const char *cli_bytes(uint64_t n, char buf[32])
{
    static const char *const units[] = { "B", "kB", "MB", "GB", "TB" };
    double v = (double)n;
    int u = 0;

    while (v >= 1000 && u < 4) {
        v /= 1000;
        u++;
    }
    if (u == 0)
        snprintf(buf, 32, "%llu B", (unsigned long long)n);
    else
        snprintf(buf, 32, "%.1f %s", v, units[u]);
    return buf;
}

json_t *cli_json_parse(const char *text)
{
    return json_loads(text, JSON_DECODE_ANY, NULL);
}

char *cli_name_text(const char *s)
{
    return shelf_name_escape(s ? s : "", SHELF_NAME_CONTROL);
}

void cli_sample_line(FILE *f, const shelf_sample *s)
{
    char note[8], stars[6] = "-----";
    char *name = cli_name_text(s->name), *rel = cli_name_text(s->relpath);
    int i;

    for (i = 0; i < s->rating && i < 5; i++)
        stars[i] = '*';
    fprintf(f, "%7lld  %-4s %7.2fs %6d %dch %-4s %s %s%s  %s%s", (long long)s->id,
            s->format ? s->format : "?", s->duration, s->rate, s->channels,
            shelf_note_name(s->root_key, note), stars, s->favourite ? "(fav) " : "", name ? name : "?",
            rel ? rel : "?", s->missing == SHELF_SAMPLE_ARCHIVED ? "  [archived]" : s->missing ? "  [missing]" : "");
    shelf_free(name);
    shelf_free(rel);
    if (s->tags && *s->tags)
        fprintf(f, "  [%s]", s->tags);
    fputc('\n', f);
}

void cli_sample_long(FILE *f, const shelf_sample *s)
{
    char note[8], size[32], when[64];
    char *name = cli_name_text(s->name), *root = cli_name_text(s->root), *rel = cli_name_text(s->relpath);
    time_t t;

    fprintf(f, "id:        %lld\n", (long long)s->id);
    fprintf(f, "name:      %s\n", name ? name : "?");
    if (s->root)
        fprintf(f, "path:      %s/%s\n", root ? root : "?", rel ? rel : "?");
    shelf_free(name);
    shelf_free(root);
    shelf_free(rel);
    if (s->blob)
        fprintf(f, "blob:      %s (managed copy)\n", s->blob);
    fprintf(f, "sha256:    %s\n", s->sha256 ? s->sha256 : "-");
    fprintf(f, "size:      %s (%llu bytes)\n", cli_bytes(s->size, size), (unsigned long long)s->size);
    fprintf(f, "format:    %s %s\n", s->format ? s->format : "?", s->subtype ? s->subtype : "");
    fprintf(f, "audio:     %d Hz, %d channel%s, ", s->rate, s->channels, s->channels == 1 ? "" : "s");
    if (s->bits)
        fprintf(f, "%d bit, ", s->bits);
    fprintf(f, "%lld frames, %.3f s\n", (long long)s->frames, s->duration);
    fprintf(f, "root key:  %s", shelf_note_name(s->root_key, note));
    if (s->root_key >= 0)
        fprintf(f, " (MIDI %d)", s->root_key);
    fputc('\n', f);
    if (s->loop_start >= 0)
        fprintf(f, "loop:      %lld..%lld %s\n", (long long)s->loop_start, (long long)s->loop_end,
                tool_loop_mode_name(s->loop_mode));
    else
        fprintf(f, "loop:      none\n");
    if (s->tempo > 0)
        fprintf(f, "tempo:     %.2f bpm\n", s->tempo);
    if (s->beats)
        fprintf(f, "beats:     %d\n", s->beats);
    fprintf(f, "category:  %s\n", s->category ? s->category : "-");
    if (s->title)
        fprintf(f, "title:     %s\n", s->title);
    if (s->author)
        fprintf(f, "author:    %s\n", s->author);
    if (s->comment)
        fprintf(f, "comment:   %s\n", s->comment);
    if (s->genre)
        fprintf(f, "genre:     %s\n", s->genre);
    if (s->kit)
        fprintf(f, "kit:       %s%s%s\n", s->kit, s->instrument ? ", instrument " : "",
                s->instrument ? s->instrument : "");
    fprintf(f, "tags:      %s\n", s->tags && *s->tags ? s->tags : "-");
    fprintf(f, "rating:    %d/5\n", s->rating);
    fprintf(f, "favourite: %s\n", s->favourite ? "yes" : "no");
    t = (time_t)s->created;
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", localtime(&t));
    fprintf(f, "added:     %s\n", when);
    if (s->last_used) {
        t = (time_t)s->last_used;
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", localtime(&t));
        fprintf(f, "last used: %s\n", when);
    }
    if (s->missing == SHELF_SAMPLE_ARCHIVED)
        fprintf(f, "archived:  yes (freed here; in its project's archive: shelf project unarchive)\n");
    else if (s->missing)
        fprintf(f, "missing:   yes (not found on the last scan)\n");
}

const char *cli_errno_text(int e)
{
    static char text[128];

    snprintf(text, sizeof text, "%s", strerror(e));
    if (text[0] >= 'A' && text[0] <= 'Z' && (text[1] < 'A' || text[1] > 'Z'))
        text[0] = (char)(text[0] - 'A' + 'a');     /* "I/O error" stays */
    return text;
}

static int json_failed;    /* a set or append failed: the output has holes */

void cli_json_check(int r)
{
    if (r != 0)
        json_failed = 1;
}

void cli_print_json(json_t *v)
{
    if (!v || json_failed) {
        json_decref(v);
        /* not cli_error: output.c stays below main.c (scripts/graph) */
        fputs("shelf: cannot print the JSON output: out of memory\n", stderr);
        exit(EXIT_FAIL);
    }
    json_dumpf(v, stdout, JSON_INDENT(2));
    fputc('\n', stdout);
    json_decref(v);
}

double cli_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void cli_progress_start(cli_progress *p, const cli *c)
{
    struct winsize ws;

    p->active = c->tty;
    p->start = cli_now();
    p->width = 80;
    if (p->active && ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
        p->width = ws.ws_col;
}

void cli_progress_draw(cli_progress *p, const char *what, uint64_t done, uint64_t total,
                       uint64_t bytes_done, uint64_t bytes_total)
{
    double el = cli_now() - p->start, frac, rate, mbs, eta = -1;
    char line[256], bar[41];
    int barw = 24, fill, n;

    if (!p->active)
        return;
    frac = bytes_total ? (double)bytes_done / (double)bytes_total
                       : total ? (double)done / (double)total : 0;
    if (frac > 1)
        frac = 1;
    rate = el > 0 ? (double)done / el : 0;
    mbs = el > 0 ? (double)bytes_done / el / 1e6 : 0;
    if (frac > 0.01 && el > 0.5)
        eta = el / frac - el;
    fill = (int)(frac * barw);
    memset(bar, '#', (size_t)fill);
    memset(bar + fill, '.', (size_t)(barw - fill));
    bar[barw] = '\0';
    n = snprintf(line, sizeof line, "%s [%s] %llu/%llu files  %.0f files/s  %.1f MB/s", what, bar,
                 (unsigned long long)done, (unsigned long long)total, rate, mbs);
    if (eta >= 0 && n > 0 && (size_t)n < sizeof line)
        snprintf(line + n, sizeof line - (size_t)n, "  ETA %d:%02d", (int)eta / 60, (int)eta % 60);
    fprintf(stderr, "\r%-*.*s", p->width - 1, p->width - 1, line);
    (void)fflush(stderr);   /* a progress line that does not show is not an error */
}

void cli_progress_end(cli_progress *p)
{
    if (p->active)
        fprintf(stderr, "\r%*s\r", p->width - 1, "");
    p->active = 0;
}

void cli_show_column(const char *text, int pos)
{
    size_t n = strlen(text), from = 0, len, col = pos > 0 ? (size_t)pos - 1 : 0;

    /* a long query shows 60 bytes before the mistake and 20 after */
    if (col > 60)
        from = col - 60;
    while (from > 0 && ((unsigned char)text[from] & 0xc0) == 0x80)
        from--;                     /* not inside a UTF-8 character */
    len = n - from > col - from + 20 ? col - from + 20 : n - from;
    while (from + len < n && ((unsigned char)text[from + len] & 0xc0) == 0x80)
        len++;
    fprintf(stderr, "  %s%.*s%s\n  %*s^\n", from ? "..." : "", (int)len, text + from,
            from + len < n ? "..." : "", (int)(col - from + (from ? 3 : 0)), "");
}

/* A remote's terms (cli.h): `remote add`, `remote terms` and `backup init`
 * on a remote print them the same way. */
json_t *cli_terms_json(const shelf_remote_terms *t)
{
    json_t *o = json_pack("{s:s, s:s, s:s}", "kind", t->kind, "visible", t->visible, "limits",
                          t->limits);

    if (!o)
        return NULL;
    cli_json_check(json_object_set_new(o, "warning", t->warning ? json_string(t->warning)
                                                                : json_null()));
    if (t->avail != UINT64_MAX)
        cli_json_check(json_object_set_new(o, "avail", json_integer((json_int_t)t->avail)));
    if (t->used != UINT64_MAX)
        cli_json_check(json_object_set_new(o, "used", json_integer((json_int_t)t->used)));
    if (t->budget)
        cli_json_check(json_object_set_new(o, "budget", json_integer((json_int_t)t->budget)));
    if (t->space_error)
        cli_json_check(json_object_set_new(o, "space_error", json_string(t->space_error)));
    return o;
}

void cli_terms_text(FILE *f, const shelf_remote_terms *t)
{
    fprintf(f, "what the provider can see: %s\n", t->visible);
    fprintf(f, "known limits: %s\n", t->limits);
    if (t->warning)
        fprintf(f, "%s\n", t->warning);
    if (t->space_error)
        fprintf(f, "space: unknown (%s)\n", t->space_error);
}

/* Read a whole file (or stdin for "-") into a NUL-terminated string. */
char *cli_read_all(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    char *buf = NULL, *p;
    size_t n = 0, cap = 0, r;

    if (!f)
        return NULL;
    for (;;) {
        if (cap - n < 65536) {
            cap = cap ? 2 * cap : 65536;
            if (cap > (64u << 20) || !(p = realloc(buf, cap + 1))) {
                free(buf);
                buf = NULL;
                errno = EFBIG;
                break;
            }
            buf = p;
        }
        r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
    }
    if (buf && ferror(f)) {
        free(buf);
        buf = NULL;
    }
    if (f != stdin)
        (void)fclose(f);    /* read only */
    if (buf) {
        buf[n] = '\0';
        if (len)
            *len = n;
    }
    return buf;
}

int cli_mkdirs(const char *path)
{
    char buf[PATH_MAX], *p;

    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, 0777) != 0 && errno != EEXIST ? -1 : 0;
}

const char *cli_file_action(int status)
{
    switch (status) {
    case SHELF_FILE_IMPORTED: return "imported";
    case SHELF_FILE_UPDATED: return "updated";
    case SHELF_FILE_MOVED: return "moved";
    case SHELF_FILE_MISSING: return "missing";
    case SHELF_FILE_DIFFERS: return "differs";
    case SHELF_FILE_FAILED: return "failed";
    default: return "unchanged";
    }
}
