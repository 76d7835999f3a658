/*
 * test_schedule.c: unit tests of schedules (lib/service): the spec parser
 * (what it takes, and the column and message of what it refuses), the
 * next-due arithmetic in local time (daylight saving included), and the
 * run rules on a real catalog: a missed run runs once, a paused schedule
 * is never due, a run never overlaps itself, a run left without an end
 * is recorded as interrupted and runs again, the log keeps 100 runs.
 */
#include <sqlite3.h>
#include <time.h>
#include "test.h"
#include "service/service_int.h"

/* 2025-12-06 05:46:40 UTC, a Saturday. */
#define T0 1765000000

static void zone(const char *tz)
{
    setenv("TZ", tz, 1);
    tzset();
}

static int64_t utc(int y, int mo, int d, int h, int mi)
{
    struct tm tm;

    memset(&tm, 0, sizeof tm);
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    return (int64_t)timegm(&tm);
}

static int64_t next_of(const char *spec, int64_t after)
{
    int64_t next = 0, period = 0;
    char *err = NULL;
    int col = 0, rc = shelf_schedule_spec(spec, after, &next, &period, &col, &err);

    if (rc != SHELF_OK)
        fprintf(stderr, "spec '%s': %s\n", spec, err ? err : "?");
    ASSERT_OK(rc);
    ASSERT(err == NULL);
    ASSERT(period > 0);
    return next;
}

/* The column and message of a refused spec. */
static void refused(const char *spec, int want_col, const char *want_words)
{
    char *err = NULL;
    int col = 0;

    ASSERT_RC(SHELF_EINVAL, shelf_schedule_spec(spec, T0, NULL, NULL, &col, &err));
    ASSERT(err != NULL);
    if (col != want_col || !strstr(err, want_words))
        fprintf(stderr, "spec '%s': column %d, '%s'\n", spec, col, err);
    ASSERT_EQ_INT(col, want_col);
    ASSERT(strstr(err, want_words) != NULL);
    ASSERT(strchr(err, '\n') == NULL);
    shelf_free(err);
}

TEST(spec_parser_takes_every_form)
{
    shelf__spec s;
    char msg[200];
    int col;

    zone("UTC");
    ASSERT_OK(shelf__spec_parse("daily", &s, &col, msg, sizeof msg));
    ASSERT_EQ_INT(s.unit, SHELF__SPEC_DAILY);
    ASSERT_EQ_INT(s.hour, 3);
    ASSERT_OK(shelf__spec_parse("  Weekly  friday 7:05 ", &s, &col, msg, sizeof msg));
    ASSERT_EQ_INT(s.unit, SHELF__SPEC_WEEKLY);
    ASSERT_EQ_INT(s.wday, 5);
    ASSERT_EQ_INT(s.hour, 7);
    ASSERT_EQ_INT(s.minute, 5);
    ASSERT_OK(shelf__spec_parse("monthly 28 23:59", &s, &col, msg, sizeof msg));
    ASSERT_EQ_INT(s.mday, 28);
    ASSERT_OK(shelf__spec_parse("monthly 00:30", &s, &col, msg, sizeof msg));
    ASSERT_EQ_INT(s.mday, 1);
    ASSERT_EQ_INT(s.minute, 30);
    ASSERT_OK(shelf__spec_parse("every 90m", &s, &col, msg, sizeof msg));
    ASSERT_EQ_INT(s.every, 5400);
    ASSERT_OK(shelf__spec_parse("every 2d", &s, &col, msg, sizeof msg));
    ASSERT_EQ_INT(shelf__spec_period(&s), 2 * 86400);
    ASSERT_OK(shelf__spec_parse("hourly", &s, &col, msg, sizeof msg));
    ASSERT_EQ_INT(shelf__spec_period(&s), 3600);
}

TEST(spec_parser_says_where_and_what)
{
    refused("", 1, "expected hourly, daily");
    refused("dayly 03:00", 1, "not 'dayly'");
    refused("daily 25:00", 7, "expected a time HH:MM");
    refused("daily 3:7", 7, "not '3:7'");
    refused("weekly funday", 8, "expected a day");
    refused("monthly 31", 9, "1 .. 28");
    refused("every", 6, "after 'every'");
    refused("every 6x", 7, "not '6x'");
    refused("every 0h", 7, "from 1m to 52w");
    refused("every 53w", 7, "from 1m to 52w");
    refused("hourly 03:00", 8, "unexpected '03:00'");
    refused("daily 03:00 now", 13, "unexpected 'now'");
}

TEST(next_due_in_utc)
{
    zone("UTC");
    ASSERT_EQ_INT(next_of("daily 03:00", T0), utc(2025, 12, 7, 3, 0));
    ASSERT_EQ_INT(next_of("daily 06:00", T0), utc(2025, 12, 6, 6, 0));
    /* strictly after: a run at 03:00 is next due the day after */
    ASSERT_EQ_INT(next_of("daily 03:00", utc(2025, 12, 7, 3, 0)), utc(2025, 12, 8, 3, 0));
    ASSERT_EQ_INT(next_of("hourly", T0), utc(2025, 12, 6, 6, 0));
    ASSERT_EQ_INT(next_of("weekly mon 05:00", T0), utc(2025, 12, 8, 5, 0));
    ASSERT_EQ_INT(next_of("weekly sat 06:00", T0), utc(2025, 12, 6, 6, 0));
    ASSERT_EQ_INT(next_of("weekly sat 05:00", T0), utc(2025, 12, 13, 5, 0));
    ASSERT_EQ_INT(next_of("monthly", T0), utc(2026, 1, 1, 3, 0));
    ASSERT_EQ_INT(next_of("monthly 28 12:00", utc(2025, 12, 28, 12, 0)), utc(2026, 1, 28, 12, 0));
    ASSERT_EQ_INT(next_of("every 6h", T0), T0 + 6 * 3600);
}

TEST(next_due_keeps_the_local_hour_across_daylight_saving)
{
    zone("Europe/Berlin");
    /* 2026-03-29: clocks go from 02:00 to 03:00 (CET to CEST). */
    ASSERT_EQ_INT(next_of("daily 03:00", utc(2026, 3, 28, 3, 0)), utc(2026, 3, 29, 1, 0));
    ASSERT_EQ_INT(next_of("daily 03:00", utc(2026, 3, 29, 1, 0)), utc(2026, 3, 30, 1, 0));
    /* 2026-10-25: back from 03:00 to 02:00. */
    ASSERT_EQ_INT(next_of("daily 03:00", utc(2026, 10, 24, 1, 0)), utc(2026, 10, 25, 2, 0));
    zone("UTC");
}

/* ---- the run rules, on a real catalog ---- */

static shelf_library *open_lib(const char *dir)
{
    shelf_library *lib = NULL;
    char *msg = NULL;

    ASSERT_OKM(msg, shelf_library_open(dir, SHELF_OPEN_CREATE, &lib, &msg));
    return lib;
}

static int grab(void *ud, const shelf_schedule_info *s)
{
    *(shelf_schedule_info *)ud = *s;
    ((shelf_schedule_info *)ud)->name = NULL;   /* borrowed: not kept */
    ((shelf_schedule_info *)ud)->last_state = s->last_state && !strcmp(s->last_state, "interrupted") ?
        "interrupted" : s->last_state && !strcmp(s->last_state, "failed") ? "failed" : NULL;
    return 0;
}

static int count_runs(void *ud, const shelf_schedule_run_info *r)
{
    (void)r;
    (*(int *)ud)++;
    return 0;
}

TEST(missed_runs_run_once_and_paused_is_never_due)
{
    const char *dir = test_tmpdir();
    shelf_library *lib = open_lib(dir);
    shelf_schedule_info s;
    int64_t id, when;
    int n, runs = 0;

    zone("UTC");
    /* A check of a repository that is not there: each run fails quickly,
     * and a failed run is a run all the same. */
    ASSERT_OKL(lib, shelf_schedule_add(lib, "c", "check", "every 1h", "/nonexistent/repo", NULL, T0,
                                       &id, NULL));
    ASSERT_OKL(lib, shelf_schedule_next(lib, T0, &when));
    ASSERT_EQ_INT(when, T0 + 3600);
    ASSERT_OKL(lib, shelf_schedule_run_due(lib, T0 + 60, NULL, &n));
    ASSERT_EQ_INT(n, 0);
    /* Off for ten hours: ten periods missed, one run. */
    ASSERT(shelf_schedule_run_due(lib, T0 + 36000, NULL, &n) != SHELF_OK);
    ASSERT_EQ_INT(n, 1);
    ASSERT_OKL(lib, shelf_schedule_run_due(lib, T0 + 36000, NULL, &n));
    ASSERT_EQ_INT(n, 0);
    ASSERT_OKL(lib, shelf_schedule_list(lib, T0 + 36000, grab, &s));
    ASSERT_EQ_INT(s.last_run, T0 + 36000);
    ASSERT_EQ_STR(s.last_state, "failed");
    ASSERT_EQ_INT(s.last_status, SHELF_ENOTFOUND);
    ASSERT_EQ_INT(s.next_due, T0 + 36000 + 3600);
    ASSERT_EQ_INT(s.period, 3600);
    ASSERT_EQ_INT(s.last_ok, 0);
    /* Paused: kept, never due, not in the daemon's next time. */
    ASSERT_OKL(lib, shelf_schedule_pause(lib, "c", 1));
    ASSERT_OKL(lib, shelf_schedule_run_due(lib, T0 + 900000, NULL, &n));
    ASSERT_EQ_INT(n, 0);
    ASSERT_OKL(lib, shelf_schedule_next(lib, T0 + 900000, &when));
    ASSERT_EQ_INT(when, 0);
    ASSERT_OKL(lib, shelf_schedule_pause(lib, "c", 0));
    ASSERT(shelf_schedule_run_due(lib, T0 + 900000, NULL, &n) != SHELF_OK);
    ASSERT_EQ_INT(n, 1);
    ASSERT_OKL(lib, shelf_schedule_log(lib, "c", 0, count_runs, &runs));
    ASSERT_EQ_INT(runs, 2);
    ASSERT_RC(SHELF_ENOTFOUND, shelf_schedule_pause(lib, "nope", 1));
    ASSERT_RC(SHELF_EEXIST, shelf_schedule_add(lib, "c", "check", "daily", "/x", NULL, T0, NULL, NULL));
    shelf_library_close(lib);
}

typedef struct overlap_ctx {
    const char *dir;
    int tried, second;
} overlap_ctx;

/* While the run is running: a second handle (another process would do
 * the same) tries to run it too. */
static int overlap_on_run(void *ud, const shelf_schedule_run_info *r)
{
    overlap_ctx *o = ud;
    shelf_library *other;

    if (strcmp(r->state, "running") != 0 || o->tried)
        return 0;
    o->tried = 1;
    other = open_lib(o->dir);
    o->second = shelf_schedule_run(other, "c", T0 + 10, NULL);
    ASSERT(strstr(shelf_errmsg(other), "is running already") != NULL);
    shelf_library_close(other);
    return 0;
}

TEST(a_run_never_overlaps_itself)
{
    const char *dir = test_tmpdir();
    shelf_library *lib = open_lib(dir);
    shelf_schedule_run_opts o;
    overlap_ctx ctx = { dir, 0, 0 };

    ASSERT_OKL(lib, shelf_schedule_add(lib, "c", "check", "daily", "/nonexistent/repo", NULL, T0,
                                       NULL, NULL));
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.on_run = overlap_on_run;
    o.ud = &ctx;
    ASSERT_RC(SHELF_ENOTFOUND, shelf_schedule_run(lib, "c", T0, &o));
    ASSERT_EQ_INT(ctx.tried, 1);
    ASSERT_RC(SHELF_EBUSY, ctx.second);
    shelf_library_close(lib);
}

/* While "a" runs, another handle runs "b", which the same run --due
 * found due too: it must not run twice. */
static int ran_meanwhile(void *ud, const shelf_schedule_run_info *r)
{
    overlap_ctx *o = ud;
    shelf_library *other;

    if (strcmp(r->state, "running") != 0 || strcmp(r->schedule, "a") != 0)
        return 0;
    other = open_lib(o->dir);
    o->second = shelf_schedule_run(other, "b", T0 + 7200, NULL);
    shelf_library_close(other);
    return 0;
}

TEST(run_due_skips_what_another_process_ran_meanwhile)
{
    const char *dir = test_tmpdir();
    shelf_library *lib = open_lib(dir);
    shelf_schedule_run_opts o;
    overlap_ctx ctx = { dir, 0, 0 };
    int n, runs = 0;

    ASSERT_OKL(lib, shelf_schedule_add(lib, "a", "check", "every 1h", "/nonexistent/repo", NULL, T0,
                                       NULL, NULL));
    ASSERT_OKL(lib, shelf_schedule_add(lib, "b", "check", "every 1h", "/nonexistent/repo", NULL, T0,
                                       NULL, NULL));
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.on_run = ran_meanwhile;
    o.ud = &ctx;
    ASSERT_RC(SHELF_ENOTFOUND, shelf_schedule_run_due(lib, T0 + 7200, &o, &n));
    ASSERT_RC(SHELF_ENOTFOUND, ctx.second);     /* b ran (and failed) in the other handle */
    ASSERT_EQ_INT(n, 1);                        /* only a here */
    ASSERT_OKL(lib, shelf_schedule_log(lib, "b", 0, count_runs, &runs));
    ASSERT_EQ_INT(runs, 1);
    shelf_library_close(lib);
}

TEST(a_killed_run_is_interrupted_and_due_again)
{
    const char *dir = test_tmpdir();
    shelf_library *lib = open_lib(dir);
    shelf_schedule_info s;
    char db[PATH_MAX], *sql;
    sqlite3 *h;
    int64_t id;
    int n;

    ASSERT_OKL(lib, shelf_schedule_add(lib, "c", "check", "daily 03:00", "/nonexistent/repo", NULL,
                                       T0, &id, NULL));
    /* What kill -9 leaves: a row with no end, and no lock held. */
    test_pathf(db, sizeof db, "%s/shelf.db", dir);
    ASSERT(sqlite3_open(db, &h) == SQLITE_OK);
    sql = sqlite3_mprintf("INSERT INTO schedule_runs(schedule, started, status, pid) "
                          "VALUES(%lld, %lld, 'running', 1)", (long long)id, (long long)T0 + 100);
    ASSERT(sqlite3_exec(h, sql, NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_free(sql);
    sqlite3_close(h);
    ASSERT_OKL(lib, shelf_schedule_list(lib, T0 + 200, grab, &s));
    ASSERT_EQ_INT(s.running, 0);
    ASSERT_EQ_STR(s.last_state, "interrupted");
    ASSERT_EQ_INT(s.next_due, T0 + 100);     /* due at once, not tomorrow at 03:00 */
    ASSERT(shelf_schedule_run_due(lib, T0 + 200, NULL, &n) != SHELF_OK);
    ASSERT_EQ_INT(n, 1);
    ASSERT(sqlite3_open(db, &h) == SQLITE_OK);
    {
        sqlite3_stmt *st;

        ASSERT(sqlite3_prepare_v2(h, "SELECT status, ended FROM schedule_runs ORDER BY id", -1, &st,
                                  NULL) == SQLITE_OK);
        ASSERT(sqlite3_step(st) == SQLITE_ROW);
        ASSERT_EQ_STR((const char *)sqlite3_column_text(st, 0), "interrupted");
        ASSERT_EQ_INT(sqlite3_column_int64(st, 1), T0 + 200);
        ASSERT(sqlite3_step(st) == SQLITE_ROW);
        ASSERT_EQ_STR((const char *)sqlite3_column_text(st, 0), "failed");
        sqlite3_finalize(st);
    }
    sqlite3_close(h);
    shelf_library_close(lib);
}

TEST(the_log_keeps_the_last_100_runs)
{
    const char *dir = test_tmpdir();
    shelf_library *lib = open_lib(dir);
    int i, runs = 0;

    ASSERT_OKL(lib, shelf_schedule_add(lib, "c", "check", "hourly", "/nonexistent/repo", NULL, T0,
                                       NULL, NULL));
    for (i = 0; i < 105; i++)
        ASSERT_RC(SHELF_ENOTFOUND, shelf_schedule_run(lib, "c", T0 + i, NULL));
    ASSERT_OKL(lib, shelf_schedule_log(lib, NULL, 0, count_runs, &runs));
    ASSERT_EQ_INT(runs, 100);
    runs = 0;
    ASSERT_OKL(lib, shelf_schedule_log(lib, "c", 7, count_runs, &runs));
    ASSERT_EQ_INT(runs, 7);
    ASSERT_OKL(lib, shelf_schedule_remove(lib, "c"));
    runs = 0;
    ASSERT_OKL(lib, shelf_schedule_log(lib, NULL, 0, count_runs, &runs));
    ASSERT_EQ_INT(runs, 0);
    ASSERT_RC(SHELF_ENOTFOUND, shelf_schedule_remove(lib, "c"));
    shelf_library_close(lib);
}

TEST(add_refuses_what_cannot_run)
{
    const char *dir = test_tmpdir();
    shelf_library *lib = open_lib(dir);
    char *err = NULL;

    ASSERT_RC(SHELF_EINVAL, shelf_schedule_add(lib, NULL, "archive", "daily", "/x", "{\"parity\": 101}", T0,
                                               NULL, &err));
    ASSERT(strstr(err, "'parity' must be a percentage") != NULL);
    shelf_free(err);
    ASSERT_RC(SHELF_EINVAL, shelf_schedule_add(lib, NULL, "archive", "daily", "/x", "{\"keep_local\": 1}", T0,
                                               NULL, &err));
    ASSERT(strstr(err, "'keep_local' of an archive schedule must be true or false") != NULL);
    shelf_free(err);
    ASSERT_RC(SHELF_EINVAL, shelf_schedule_add(lib, NULL, "backup", "daily", "/x", "{\"keep_dayly\": 3}",
                                               T0, NULL, &err));
    ASSERT(strstr(err, "no option 'keep_dayly'") != NULL);
    shelf_free(err);
    ASSERT_RC(SHELF_EINVAL, shelf_schedule_add(lib, NULL, "backup", "daily", "/x",
                                               "{\"strategy\": \"sometimes\"}", T0, NULL, &err));
    shelf_free(err);
    ASSERT_RC(SHELF_EINVAL, shelf_schedule_add(lib, NULL, "copy", "daily", "/x", NULL, T0, NULL, &err));
    ASSERT(strstr(err, "option 'to'") != NULL);
    shelf_free(err);
    ASSERT_RC(SHELF_EINVAL, shelf_schedule_add(lib, NULL, "backup", "daily 3", "/x", NULL, T0, NULL, &err));
    ASSERT(strstr(err, "column 7") != NULL);
    shelf_free(err);
    ASSERT_RC(SHELF_EINVAL, shelf_schedule_add(lib, "-x", "backup", "daily", "/x", NULL, T0, NULL, NULL));
    shelf_library_close(lib);
}

int main(int argc, char **argv)
{
    static const test_case tests[] = {
        TEST_ENTRY(spec_parser_takes_every_form),
        TEST_ENTRY(spec_parser_says_where_and_what),
        TEST_ENTRY(next_due_in_utc),
        TEST_ENTRY(next_due_keeps_the_local_hour_across_daylight_saving),
        TEST_ENTRY(missed_runs_run_once_and_paused_is_never_due),
        TEST_ENTRY(a_run_never_overlaps_itself),
        TEST_ENTRY(run_due_skips_what_another_process_ran_meanwhile),
        TEST_ENTRY(a_killed_run_is_interrupted_and_due_again),
        TEST_ENTRY(the_log_keeps_the_last_100_runs),
        TEST_ENTRY(add_refuses_what_cannot_run),
        TEST_END
    };
    return test_run(argc, argv, tests);
}
