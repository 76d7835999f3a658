/*
 * spec.c: when a schedule runs.  Parses the spec people type ("daily
 * 03:00", "every 6h") and does the calendar arithmetic of its next time,
 * in local time.  Pure functions (the clock is the caller's), so the
 * unit tests try them in seconds.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include "service_int.h"

#define DAY_SECONDS 86400

static const char *const wdays[7] = { "sun", "mon", "tue", "wed", "thu", "fri", "sat" };
static const char *const wdays_long[7] = { "sunday", "monday", "tuesday", "wednesday",
                                           "thursday", "friday", "saturday" };

/* The next word of text at *pos: its start and length (0 at the end). */
static size_t word(const char *text, size_t *pos, size_t *start)
{
    size_t i = *pos, n = 0;

    while (text[i] == ' ' || text[i] == '\t')
        i++;
    *start = i;
    while (text[i + n] && text[i + n] != ' ' && text[i + n] != '\t')
        n++;
    *pos = i + n;
    return n;
}

static int bad(size_t at, int *column, char *msg, size_t msgsize, const char *fmt, const char *w,
               size_t n)
{
    char what[64];

    snprintf(what, sizeof what, "%.*s", (int)(n < 40 ? n : 40), w);
    *column = (int)at + 1;
    snprintf(msg, msgsize, fmt, what);
    return SHELF_EINVAL;
}

/* "HH:MM" (H or HH) into s; 0 when w is one. */
static int parse_time(const char *w, size_t n, shelf__spec *s)
{
    size_t colon;

    for (colon = 0; colon < n && w[colon] != ':'; colon++)
        if (!isdigit((unsigned char)w[colon]))
            return -1;
    if (colon == 0 || colon > 2 || n - colon != 3 || !isdigit((unsigned char)w[colon + 1]) ||
        !isdigit((unsigned char)w[colon + 2]))
        return -1;
    s->hour = (int)strtol(w, NULL, 10);
    s->minute = (w[colon + 1] - '0') * 10 + (w[colon + 2] - '0');
    return s->hour < 24 && s->minute < 60 ? 0 : -1;
}

static int parse_wday(const char *w, size_t n)
{
    int i;

    for (i = 0; i < 7; i++)
        if ((n == 3 && !strncasecmp(w, wdays[i], 3)) ||
            (n == strlen(wdays_long[i]) && !strncasecmp(w, wdays_long[i], n)))
            return i;
    return -1;
}

/* "every N(m|h|d|w)" */
static int parse_every(const char *w, size_t n, shelf__spec *s)
{
    int64_t v = 0, unit;
    size_t i;

    for (i = 0; i < n && isdigit((unsigned char)w[i]); i++)
        if ((v = v * 10 + (w[i] - '0')) > 100000)
            return -1;
    if (i == 0 || i + 1 != n)
        return -1;
    switch (tolower((unsigned char)w[i])) {
    case 'm': unit = 60; break;
    case 'h': unit = 3600; break;
    case 'd': unit = DAY_SECONDS; break;
    case 'w': unit = 7 * DAY_SECONDS; break;
    default: return -1;
    }
    s->every = v * unit;
    return s->every >= 60 && s->every <= 52 * 7 * DAY_SECONDS ? 0 : -1;
}

int shelf__spec_parse(const char *text, shelf__spec *s, int *column, char *msg, size_t msgsize)
{
    size_t pos = 0, at, n;
    const char *w;

    memset(s, 0, sizeof *s);
    s->hour = 3;
    s->mday = 1;
    *column = 0;
    msg[0] = '\0';
    n = word(text, &pos, &at);
    w = text + at;
    if (n == 6 && !strncasecmp(w, "hourly", n)) {
        s->unit = SHELF__SPEC_HOURLY;
        s->hour = 0;
    } else if (n == 5 && !strncasecmp(w, "daily", n)) {
        s->unit = SHELF__SPEC_DAILY;
    } else if (n == 6 && !strncasecmp(w, "weekly", n)) {
        s->unit = SHELF__SPEC_WEEKLY;
    } else if (n == 7 && !strncasecmp(w, "monthly", n)) {
        s->unit = SHELF__SPEC_MONTHLY;
    } else if (n == 5 && !strncasecmp(w, "every", n)) {
        s->unit = SHELF__SPEC_EVERY;
        n = word(text, &pos, &at);
        if (n == 0 || parse_every(text + at, n, s) != 0)
            return bad(at, column, msg, msgsize, "expected a period from 1m to 52w after 'every' "
                       "(N and m, h, d or w: '6h'), not '%s'", text + at, n);
    } else {
        return bad(at, column, msg, msgsize, n ? "expected hourly, daily, weekly, monthly or every, "
                   "not '%s'" : "expected hourly, daily, weekly, monthly or every%s", w, n);
    }
    n = word(text, &pos, &at);
    w = text + at;
    if (n && s->unit == SHELF__SPEC_WEEKLY && !memchr(w, ':', n)) {
        if ((s->wday = parse_wday(w, n)) < 0)
            return bad(at, column, msg, msgsize, "expected a day (mon .. sun) or a time (HH:MM), "
                       "not '%s'", w, n);
        n = word(text, &pos, &at);
        w = text + at;
    } else if (n && s->unit == SHELF__SPEC_MONTHLY && !memchr(w, ':', n)) {
        char *end;
        long d = strtol(w, &end, 10);

        if (!isdigit((unsigned char)*w) || end != w + n || d < 1 || d > 28)
            return bad(at, column, msg, msgsize, "expected a day of the month (1 .. 28) or a time "
                       "(HH:MM), not '%s'", w, n);
        s->mday = (int)d;
        n = word(text, &pos, &at);
        w = text + at;
    }
    if (n && (s->unit == SHELF__SPEC_DAILY || s->unit == SHELF__SPEC_WEEKLY ||
              s->unit == SHELF__SPEC_MONTHLY)) {
        if (parse_time(w, n, s) != 0)
            return bad(at, column, msg, msgsize, "expected a time HH:MM (00:00 .. 23:59), not '%s'",
                       w, n);
        n = word(text, &pos, &at);
        w = text + at;
    }
    if (n)
        return bad(at, column, msg, msgsize, "unexpected '%s' at the end", w, n);
    return SHELF_OK;
}

/* Local time t as a struct tm; back with mktime (the daylight-saving flag
 * left to it, so 03:00 stays 03:00 across a change). */
static int64_t local_make(struct tm *tm)
{
    tm->tm_isdst = -1;
    return (int64_t)mktime(tm);
}

int64_t shelf__spec_next(const shelf__spec *s, int64_t after)
{
    time_t t = (time_t)after;
    struct tm tm, base;
    int64_t c;
    int i;

    if (s->unit == SHELF__SPEC_EVERY)
        return after + s->every;
    localtime_r(&t, &base);
    /* The candidate in the current hour, day, week or month, then step
     * forward until it is after "after" (two steps at most, more only
     * across a daylight-saving gap). */
    for (i = 0; i < 8; i++) {
        tm = base;
        tm.tm_sec = 0;
        switch (s->unit) {
        case SHELF__SPEC_HOURLY:
            tm.tm_min = 0;
            tm.tm_hour += i;
            break;
        case SHELF__SPEC_DAILY:
            tm.tm_min = s->minute;
            tm.tm_hour = s->hour;
            tm.tm_mday += i;
            break;
        case SHELF__SPEC_WEEKLY:
            tm.tm_min = s->minute;
            tm.tm_hour = s->hour;
            tm.tm_mday += (s->wday - base.tm_wday + 7) % 7 + 7 * i;
            break;
        default:
            tm.tm_min = s->minute;
            tm.tm_hour = s->hour;
            tm.tm_mday = s->mday;
            tm.tm_mon += i;
            break;
        }
        if ((c = local_make(&tm)) > after)
            return c;
    }
    return after + shelf__spec_period(s);
}

int64_t shelf__spec_period(const shelf__spec *s)
{
    switch (s->unit) {
    case SHELF__SPEC_HOURLY: return 3600;
    case SHELF__SPEC_DAILY: return DAY_SECONDS;
    case SHELF__SPEC_WEEKLY: return 7 * DAY_SECONDS;
    case SHELF__SPEC_MONTHLY: return 31 * DAY_SECONDS;
    default: return s->every;
    }
}

int shelf_schedule_spec(const char *spec, int64_t after, int64_t *next, int64_t *period,
                        int *column, char **err)
{
    shelf__spec s;
    char msg[256];
    int col, rc;

    if (next)
        *next = 0;
    if (period)
        *period = 0;
    if (column)
        *column = 0;
    if (err)
        *err = NULL;
    if (!spec) {
        col = 1;
        snprintf(msg, sizeof msg, "no spec given");
        rc = SHELF_EINVAL;
    } else {
        rc = shelf__spec_parse(spec, &s, &col, msg, sizeof msg);
    }
    if (rc != SHELF_OK) {
        if (column)
            *column = col;
        if (err)
            *err = shelf__asprintf("bad schedule '%s' at column %d: %s", spec ? spec : "", col, msg);
        return rc;
    }
    if (next)
        *next = shelf__spec_next(&s, after);
    if (period)
        *period = shelf__spec_period(&s);
    return SHELF_OK;
}
