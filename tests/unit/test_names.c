/*
 * test_names.c: unit tests of the escaping of file names as text
 * (lib/common/name.c, include/shelf/names.h): what is escaped and what is
 * not, round trips of every byte, the flags, and what unescape refuses.
 */
#include <jansson.h>
#include "test.h"
#include "common/common_int.h"

static char *esc(const char *s, int flags)
{
    char *e = shelf_name_escape(s, flags);

    ASSERT(e != NULL);
    return e;
}

/* escape(s) is want, unescape(want) is s again, and jansson takes it. */
static void round_trip(const char *s, int flags, const char *want)
{
    char *e = esc(s, flags), *back = NULL;
    json_t *j;

    ASSERT_EQ_STR(e, want);
    ASSERT_EQ_INT(shelf_name_needs_escape(s, flags), strcmp(s, want) != 0);
    ASSERT_OK(shelf_name_unescape(e, &back));
    ASSERT_EQ_STR(back, s);
    ASSERT((j = json_string(e)) != NULL);
    json_decref(j);
    shelf_free(back);
    shelf_free(e);
}

TEST(utf8_names_are_their_own_text)
{
    round_trip("", 0, "");
    round_trip("kick.wav", 0, "kick.wav");
    round_trip("café/naïve.wav", 0, "café/naïve.wav");
    round_trip("鼓 キック.wav", 0, "鼓 キック.wav");
    round_trip("\xf0\x9f\xa5\x81 emoji.wav", 0, "\xf0\x9f\xa5\x81 emoji.wav");
    round_trip("it's \"quoted\" back\\slash.wav", 0, "it's \"quoted\" back\\slash.wav");
    round_trip("new\nline\ttab.wav", 0, "new\nline\ttab.wav");
    /* A '%' that no two hex digits follow stays. */
    round_trip("100% wet.wav", 0, "100% wet.wav");
    round_trip("50%", 0, "50%");
    round_trip("%G1 %4", 0, "%G1 %4");
}

TEST(invalid_bytes_become_percent_hex)
{
    round_trip("bad\xff\xfe.wav", 0, "bad%FF%FE.wav");
    round_trip("latin1 caf\xe9.wav", 0, "latin1 caf%E9.wav");
    round_trip("\x80", 0, "%80");
    /* Overlong, surrogate, above U+10FFFF, truncated: byte by byte. */
    round_trip("\xc0\xaf", 0, "%C0%AF");
    round_trip("\xed\xa0\x80", 0, "%ED%A0%80");
    round_trip("\xf4\x90\x80\x80", 0, "%F4%90%80%80");
    round_trip("\xe2\x82", 0, "%E2%82");
    round_trip("\xe2\x82x", 0, "%E2%82x");
}

TEST(percent_before_hex_is_escaped)
{
    round_trip("my%20kick.wav", 0, "my%2520kick.wav");
    round_trip("%25", 0, "%2525");
    round_trip("%ff", 0, "%25ff");
    /* '%' then an escaped byte: the '%' stays (no two hex digits follow it). */
    round_trip("%\xff", 0, "%%FF");
    round_trip("%A\xff", 0, "%A%FF");
    round_trip("%%41", 0, "%%2541");
}

TEST(flags)
{
    round_trip("new\nline\x7f.wav", SHELF_NAME_CONTROL, "new%0Aline%7F.wav");
    round_trip("a\\b\r", SHELF_NAME_BACKSLASH, "a%5Cb\r");
    round_trip("a\\b\r\xff", SHELF_NAME_BACKSLASH | SHELF_NAME_CONTROL, "a%5Cb%0D%FF");
}

TEST(every_byte_round_trips)
{
    char s[1024], *e, *back;
    int i, k, n;

    /* Every byte value 1..255 after every other, with every flag. */
    for (k = 0; k < 4; k++) {
        for (i = 1; i < 256; i++) {
            n = 0;
            s[n++] = (char)i;
            s[n++] = '%';
            s[n++] = (char)(i ^ 0x5a ? i ^ 0x5a : 1);
            s[n++] = 'a';
            s[n++] = '0';
            s[n++] = (char)(256 - i);
            s[n] = '\0';
            ASSERT((e = shelf_name_escape(s, k)) != NULL);
            ASSERT_OK(shelf_name_unescape(e, &back));
            ASSERT_EQ_STR(back, s);
            shelf_free(e);
            shelf_free(back);
        }
    }
}

TEST(unescape_refuses_nul)
{
    char *out = (char *)"x";

    ASSERT_RC(SHELF_EINVAL, shelf_name_unescape("a%00b", &out));
    ASSERT(out == NULL);
    ASSERT_OK(shelf_name_unescape("a%0", &out));
    ASSERT_EQ_STR(out, "a%0");
    shelf_free(out);
    ASSERT_OK(shelf_name_unescape("%e9t%C3%A9", &out));
    ASSERT_EQ_STR(out, "\xe9t\xc3\xa9");
    shelf_free(out);
}

TEST(alloc_failure)
{
    shelf__alloc_fail_after(1);
    ASSERT(shelf_name_escape("bad\xff", 0) == NULL);
    shelf__alloc_fail_after(0);
}

int main(int argc, char **argv)
{
    static const test_case tests[] = {
        TEST_ENTRY(utf8_names_are_their_own_text),
        TEST_ENTRY(invalid_bytes_become_percent_hex),
        TEST_ENTRY(percent_before_hex_is_escaped),
        TEST_ENTRY(flags),
        TEST_ENTRY(every_byte_round_trips),
        TEST_ENTRY(unescape_refuses_nul),
        TEST_ENTRY(alloc_failure),
        TEST_END
    };

    return test_run(argc, argv, tests);
}
