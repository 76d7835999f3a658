/*
 * test_kit.c: unit tests of the Hydrogen drum kit reader (lib/media/
 * kit_int.h): old and new layouts written inline, namespaces, UTF-8 and
 * other encodings, kits with nothing in them, malformed XML and wrong
 * roots, entity attacks (external files, exponential expansion), the size
 * limit, allocation failures, silence on stderr, and, when the Debian
 * package hydrogen-drumkits is installed, every real kit it ships.
 */
#include <dirent.h>
#include <fcntl.h>
#include <time.h>
#include "test.h"
#include "alloc_fault.h"
#include "media/kit_int.h"

#define MAX_CALLS 256
#define REAL_KITS "/usr/share/hydrogen/data/drumkits"

/* What the callback was given, copied. */
typedef struct calls {
    int n, total;
    char *kit_name, *author, *license;
    char *instrument[MAX_CALLS], *file[MAX_CALLS];
} calls;

static char *dup_or_null(const char *s)
{
    char *d;

    if (!s)
        return NULL;
    d = strdup(s);
    ASSERT(d != NULL);
    return d;
}

static void on_file(void *ud, const shelf__kit *kit, const char *instrument, const char *file)
{
    calls *c = ud;

    ASSERT(kit && kit->name && instrument && file);
    c->total++;
    if (!c->kit_name) {
        c->kit_name = dup_or_null(kit->name);
        c->author = dup_or_null(kit->author);
        c->license = dup_or_null(kit->license);
    } else {
        /* The same kit for every call. */
        ASSERT_EQ_STR(c->kit_name, kit->name);
    }
    if (c->n < MAX_CALLS) {
        c->instrument[c->n] = dup_or_null(instrument);
        c->file[c->n] = dup_or_null(file);
        c->n++;
    }
}

static void calls_release(calls *c)
{
    int i;

    for (i = 0; i < c->n; i++) {
        free(c->instrument[i]);
        free(c->file[i]);
    }
    free(c->kit_name);
    free(c->author);
    free(c->license);
    memset(c, 0, sizeof *c);
}

/* Parse the string xml into c (zeroed first); returns the code. */
static int parse(const char *xml, calls *c, char reason[256])
{
    memset(c, 0, sizeof *c);
    memset(reason, 'x', 256);
    return shelf__kit_parse(xml, strlen(xml), on_file, c, reason, 256);
}

/* Fail unless call i was (instrument, file). */
#define ASSERT_CALL(c, i, inst, f)                                            \
    do {                                                                      \
        ASSERT((i) < (c)->n);                                                 \
        ASSERT_EQ_STR((c)->instrument[i], inst);                              \
        ASSERT_EQ_STR((c)->file[i], f);                                       \
    } while (0)

/* Hydrogen before 0.9.4: <filename> directly in <instrument>, before its
 * <name>; the British <licence>; HTML escaped in <info>. */
static const char OLD_KIT[] =
    "<drumkit_info>\n"
    "    <name>  Old &amp; Gold  </name>\n"
    "    <author>A. Drummer &lt;a@example.org&gt;</author>\n"
    "    <info>&lt;p&gt;Recorded live&lt;/p&gt;</info>\n"
    "    <licence>GPL</licence>\n"
    "    <instrumentList>\n"
    "        <instrument>\n"
    "            <id>0</id>\n"
    "            <filename>kick_01.wav</filename>\n"
    "            <name>Kick</name>\n"
    "            <volume>1</volume>\n"
    "            <exclude />\n"
    "        </instrument>\n"
    "        <instrument>\n"
    "            <id>1</id>\n"
    "            <filename>Snare Hit 2.flac</filename>\n"
    "            <name>Snare</name>\n"
    "        </instrument>\n"
    "        <instrument>\n"
    "            <id>2</id>\n"
    "            <filename></filename>\n"
    "            <name>Empty slot</name>\n"
    "        </instrument>\n"
    "    </instrumentList>\n"
    "</drumkit_info>\n";

/* Hydrogen 1.x: a default namespace, <instrumentComponent>/<layer>, plus a
 * bare <layer> (0.9.x) and a CDATA section. */
static const char NEW_KIT[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<drumkit_info xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\""
    " xmlns=\"http://www.hydrogen-music.org/drumkit\">\n"
    " <name>New Kit</name>\n"
    " <author>Someone</author>\n"
    " <license>CC-BY 4.0</license>\n"
    " <componentList><drumkitComponent><id>0</id><name>Main</name>"
    "</drumkitComponent></componentList>\n"
    " <instrumentList>\n"
    "  <instrument>\n"
    "   <id>0</id>\n"
    "   <name>Kick</name>\n"
    "   <instrumentComponent>\n"
    "    <component_id>0</component_id>\n"
    "    <layer><filename>Kick-Soft.wav</filename><min>0</min><max>0.5</max></layer>\n"
    "    <layer><filename>Kick-Hard.wav</filename><min>0.5</min><max>1</max></layer>\n"
    "   </instrumentComponent>\n"
    "  </instrument>\n"
    "  <instrument>\n"
    "   <id>1</id>\n"
    "   <name>Hat</name>\n"
    "   <layer><filename><![CDATA[Hat <closed>.wav]]></filename></layer>\n"
    "  </instrument>\n"
    "  <instrument>\n"
    "   <id>2</id>\n"
    "   <layer><filename>  spaced.wav </filename></layer>\n"
    "  </instrument>\n"
    " </instrumentList>\n"
    "</drumkit_info>\n";

TEST(old_style_kit)
{
    char reason[256];
    calls c;

    ASSERT_OKM(reason, parse(OLD_KIT, &c, reason));
    ASSERT_EQ_STR(reason, "");
    ASSERT_EQ_INT(c.n, 2);          /* the empty <filename> is skipped */
    ASSERT_EQ_STR(c.kit_name, "Old & Gold");
    ASSERT_EQ_STR(c.author, "A. Drummer <a@example.org>");
    ASSERT_EQ_STR(c.license, "GPL");
    ASSERT_CALL(&c, 0, "Kick", "kick_01.wav");
    ASSERT_CALL(&c, 1, "Snare", "Snare Hit 2.flac");
    calls_release(&c);
}

TEST(new_style_kit_with_namespace)
{
    char reason[256];
    calls c;

    ASSERT_OKM(reason, parse(NEW_KIT, &c, reason));
    ASSERT_EQ_INT(c.n, 4);
    ASSERT_EQ_STR(c.kit_name, "New Kit");
    ASSERT_EQ_STR(c.author, "Someone");
    ASSERT_EQ_STR(c.license, "CC-BY 4.0");
    ASSERT_CALL(&c, 0, "Kick", "Kick-Soft.wav");
    ASSERT_CALL(&c, 1, "Kick", "Kick-Hard.wav");
    ASSERT_CALL(&c, 2, "Hat", "Hat <closed>.wav");
    /* No <name>: ""; the file name is kept exactly as written. */
    ASSERT_CALL(&c, 3, "", "  spaced.wav ");
    calls_release(&c);

    /* A prefixed namespace reads the same. */
    ASSERT_OKM(reason, parse("<h:drumkit_info xmlns:h=\"http://www.hydrogen-music.org/drumkit\">"
                             "<h:name>P</h:name><h:instrumentList><h:instrument>"
                             "<h:name>I</h:name><h:filename>f.wav</h:filename>"
                             "</h:instrument></h:instrumentList></h:drumkit_info>",
                             &c, reason));
    ASSERT_EQ_INT(c.n, 1);
    ASSERT_EQ_STR(c.kit_name, "P");
    ASSERT_CALL(&c, 0, "I", "f.wav");
    calls_release(&c);
}

TEST(utf8_and_other_encodings)
{
    static const char latin1[] =
        "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n"
        "<drumkit_info><name>Caf\xe9</name><instrumentList><instrument>"
        "<name>G\xfciro</name><filename>G\xfciro 1.wav</filename>"
        "</instrument></instrumentList></drumkit_info>\n";
    char reason[256];
    calls c;

    ASSERT_OKM(reason, parse("<drumkit_info><name>Ударные ドラム</name>"
                             "<author>Zoë Ĳsselmeer</author><instrumentList><instrument>"
                             "<name>Café Kick 🥁</name><filename>Café Kick/é 1.wav</filename>"
                             "</instrument></instrumentList></drumkit_info>",
                             &c, reason));
    ASSERT_EQ_STR(c.kit_name, "Ударные ドラム");
    ASSERT_EQ_STR(c.author, "Zoë Ĳsselmeer");
    ASSERT_CALL(&c, 0, "Café Kick 🥁", "Café Kick/é 1.wav");
    calls_release(&c);

    /* Whatever the document's encoding, strings come out as UTF-8. */
    ASSERT_OKM(reason, parse(latin1, &c, reason));
    ASSERT_EQ_STR(c.kit_name, "Café");
    ASSERT_CALL(&c, 0, "Güiro", "Güiro 1.wav");
    calls_release(&c);

    /* Bytes that are not UTF-8 in a UTF-8 document are an error. */
    ASSERT_RC(SHELF_EFORMAT, parse("<drumkit_info><name>\xff\xfe</name></drumkit_info>", &c,
                                   reason));
    ASSERT(strstr(reason, "drumkit.xml: XML error at line 1: ") == reason);
    ASSERT_EQ_INT(c.total, 0);
}

TEST(kit_without_instruments)
{
    char reason[256];
    calls c;

    ASSERT_OKM(reason, parse("<drumkit_info><name>Nothing</name></drumkit_info>", &c, reason));
    ASSERT_EQ_INT(c.total, 0);
    ASSERT_OKM(reason, parse("<drumkit_info><name>X</name><instrumentList/></drumkit_info>", &c,
                             reason));
    ASSERT_EQ_INT(c.total, 0);
    /* Not even a name: still a kit (the caller may use the folder name). */
    ASSERT_OKM(reason, parse("<drumkit_info/>", &c, reason));
    ASSERT_EQ_INT(c.total, 0);
    ASSERT_EQ_STR(reason, "");

    /* An empty author or license reads as absent; no name reads as "". */
    ASSERT_OKM(reason, parse("<drumkit_info><author> </author><license/><instrumentList>"
                             "<instrument><filename>a.wav</filename></instrument>"
                             "</instrumentList></drumkit_info>",
                             &c, reason));
    ASSERT_EQ_STR(c.kit_name, "");
    ASSERT_EQ_STR(c.author, NULL);
    ASSERT_EQ_STR(c.license, NULL);
    ASSERT_CALL(&c, 0, "", "a.wav");
    calls_release(&c);

    /* <filename> outside an instrument's own places is not a sample. */
    ASSERT_OKM(reason, parse("<drumkit_info><filename>x.wav</filename><instrumentList>"
                             "<filename>y.wav</filename><instrument><info><filename>z.wav"
                             "</filename></info></instrument></instrumentList></drumkit_info>",
                             &c, reason));
    ASSERT_EQ_INT(c.total, 0);

    /* A NULL callback and a NULL reason are allowed. */
    ASSERT_OK(shelf__kit_parse(NEW_KIT, strlen(NEW_KIT), NULL, NULL, NULL, 0));
}

TEST(malformed_xml)
{
    static const char *bad[] = {
        "<drumkit_info>\n<name>x</name>\n<instrumentList>\n</drumkit_info>\n",
        "<drumkit_info><name>x</nme></drumkit_info>",
        "<drumkit_info>",
        "hello",
        "<drumkit_info></drumkit_info><drumkit_info></drumkit_info>",
        "<drumkit_info a=1></drumkit_info>",
        "<drumkit_info><name>&nosuch;</name></drumkit_info>",
        "<drumkit_info><name>&#0;</name></drumkit_info>",
        "<?xml version=\"1.0\" encoding=\"no-such-encoding\"?><drumkit_info/>",
    };
    char reason[256];
    calls c;
    size_t i;

    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ASSERT_RC(SHELF_EFORMAT, parse(bad[i], &c, reason));
        ASSERT(strstr(reason, "drumkit.xml: ") == reason);
        ASSERT(strchr(reason, '\n') == NULL);
        ASSERT(reason[strlen(reason) - 1] != '.');
        /* A failed parse never calls back, even for the files before the error. */
        ASSERT_EQ_INT(c.total, 0);
    }

    /* The line of the first error: <instrumentList> on line 3 is closed by
     * </drumkit_info> on line 4. */
    ASSERT_RC(SHELF_EFORMAT,
              parse("<drumkit_info>\n<name>x</name>\n<instrumentList><instrument><filename>a.wav"
                    "</filename></instrument>\n</drumkit_info>\n",
                    &c, reason));
    ASSERT(strstr(reason, "drumkit.xml: XML error at line 4: ") == reason);
    ASSERT_EQ_INT(c.total, 0);

    ASSERT_RC(SHELF_EFORMAT, parse("", &c, reason));
    ASSERT_EQ_STR(reason, "drumkit.xml: empty file");
    ASSERT_RC(SHELF_EFORMAT, shelf__kit_parse(NULL, 0, on_file, &c, reason, sizeof reason));

    /* A short reason buffer is still terminated. */
    ASSERT_RC(SHELF_EFORMAT, shelf__kit_parse("<a", 2, on_file, &c, reason, 8));
    ASSERT_EQ_INT(strlen(reason), 7);
}

TEST(wrong_root_element)
{
    char reason[256];
    calls c;

    ASSERT_RC(SHELF_EFORMAT, parse("<song><name>x</name></song>", &c, reason));
    ASSERT_EQ_STR(reason, "not a Hydrogen drumkit: root element is 'song'");
    ASSERT_RC(SHELF_EFORMAT, parse("<?xml version=\"1.0\"?>\n<!-- a kit -->\n"
                                   "<x:drumkit xmlns:x=\"urn:x\"><name>y</name></x:drumkit>",
                                   &c, reason));
    ASSERT_EQ_STR(reason, "not a Hydrogen drumkit: root element is 'drumkit'");
    ASSERT_EQ_INT(c.total, 0);
}

/* A file whose content must never come out of the parser. */
static const char *secret_file(char path[PATH_MAX])
{
    test_pathf(path, PATH_MAX, "%s/secret.txt", test_tmpdir());
    test_write_file(path, "TOPSECRET", 9);
    return path;
}

/* Fail if the parse succeeded and leaked s into any string. */
static void assert_no_leak(int rc, const calls *c, const char *s)
{
    int i;

    ASSERT(rc == SHELF_OK || rc == SHELF_EFORMAT);
    if (rc != SHELF_OK)
        return;
    ASSERT(!c->kit_name || !strstr(c->kit_name, s));
    for (i = 0; i < c->n; i++)
        ASSERT(!strstr(c->instrument[i], s) && !strstr(c->file[i], s));
}

TEST(external_entities_are_not_read)
{
    char secret[PATH_MAX], dtd[PATH_MAX], xml[2048], reason[256];
    calls c;
    int rc;

    secret_file(secret);

    /* The brief's classic: an external general entity in the internal subset. */
    rc = parse("<?xml version=\"1.0\"?>\n"
               "<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>\n"
               "<drumkit_info><name>&e;</name><instrumentList><instrument><name>&e;</name>"
               "<filename>a.wav</filename></instrument></instrumentList></drumkit_info>",
               &c, reason);
    ASSERT_RC(SHELF_EFORMAT, rc);
    ASSERT_EQ_STR(reason, "drumkit.xml: entity declarations are not allowed (line 2)");
    ASSERT_EQ_INT(c.total, 0);

    /* The same with a file of ours, so the check does not rest on passwd. */
    test_pathf(xml, sizeof xml,
               "<!DOCTYPE drumkit_info [<!ENTITY e SYSTEM \"file://%s\">]>"
               "<drumkit_info><name>&e;</name><instrumentList><instrument><name>i</name>"
               "<filename>&e;.wav</filename></instrument></instrumentList></drumkit_info>",
               secret);
    rc = parse(xml, &c, reason);
    ASSERT_RC(SHELF_EFORMAT, rc);
    assert_no_leak(rc, &c, "TOPSECRET");
    calls_release(&c);

    /* Parameter entities, which pull text in through the DTD. */
    test_pathf(xml, sizeof xml,
               "<!DOCTYPE drumkit_info [<!ENTITY %% p SYSTEM \"file://%s\"> %%p;]>"
               "<drumkit_info><name>n</name></drumkit_info>",
               secret);
    rc = parse(xml, &c, reason);
    ASSERT_RC(SHELF_EFORMAT, rc);
    calls_release(&c);

    /* An external DTD that declares the entity: never loaded, so &e; is
     * undeclared; whatever the outcome, the secret stays out. */
    test_pathf(dtd, sizeof dtd, "%s.dtd", secret);
    test_pathf(xml, sizeof xml, "<!ENTITY e SYSTEM \"file://%s\">", secret);
    test_write_file(dtd, xml, strlen(xml));
    test_pathf(xml, sizeof xml,
               "<!DOCTYPE drumkit_info SYSTEM \"file://%s\">"
               "<drumkit_info><name>k&e;</name><instrumentList><instrument><name>i&e;</name>"
               "<filename>f&e;.wav</filename></instrument></instrumentList></drumkit_info>",
               dtd);
    rc = parse(xml, &c, reason);
    assert_no_leak(rc, &c, "TOPSECRET");
    calls_release(&c);

    /* XInclude is not processed. */
    test_pathf(xml, sizeof xml,
               "<drumkit_info xmlns:xi=\"http://www.w3.org/2001/XInclude\"><name>"
               "<xi:include href=\"file://%s\" parse=\"text\"/></name><instrumentList>"
               "<instrument><name>i</name><filename>a.wav</filename></instrument>"
               "</instrumentList></drumkit_info>",
               secret);
    rc = parse(xml, &c, reason);
    ASSERT_OKM(reason, rc);
    assert_no_leak(rc, &c, "TOPSECRET");
    ASSERT_EQ_STR(c.kit_name, "");
    calls_release(&c);
}

TEST(entity_expansion_is_bounded)
{
    static const char laughs[] =
        "<?xml version=\"1.0\"?>\n"
        "<!DOCTYPE drumkit_info [\n"
        " <!ENTITY lol \"lol\">\n"
        " <!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
        " <!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">\n"
        " <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n"
        " <!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">\n"
        " <!ENTITY lol5 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;\">\n"
        " <!ENTITY lol6 \"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;\">\n"
        " <!ENTITY lol7 \"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;\">\n"
        " <!ENTITY lol8 \"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;\">\n"
        " <!ENTITY lol9 \"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;\">\n"
        "]>\n"
        "<drumkit_info><name>&lol9;</name><instrumentList><instrument><name>&lol9;</name>"
        "<filename>&lol9;</filename></instrument></instrumentList></drumkit_info>\n";
    struct timespec t0, t1;
    char reason[256], *big;
    calls c;
    double secs;
    size_t i, n = 100000;
    int rc;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    rc = parse(laughs, &c, reason);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    ASSERT_RC(SHELF_EFORMAT, rc);
    ASSERT_EQ_STR(reason, "drumkit.xml: entity declarations are not allowed (line 3)");
    ASSERT_EQ_INT(c.total, 0);
    ASSERT(secs < 1.0);

    /* Quadratic blow-up: one 100 kB entity used 1000 times. */
    big = malloc(n + 20000);
    ASSERT(big != NULL);
    memcpy(big, "<!DOCTYPE drumkit_info [<!ENTITY a \"", 36);
    memset(big + 36, 'a', n);
    i = 36 + n;
    memcpy(big + i, "\">]><drumkit_info><name>", 24);
    i += 24;
    for (; i < n + 36 + 24 + 4 * 1000; i += 3)
        memcpy(big + i, "&a;", 3);
    memcpy(big + i, "</name></drumkit_info>", 23);
    rc = parse(big, &c, reason);
    ASSERT_RC(SHELF_EFORMAT, rc);
    ASSERT_EQ_INT(c.total, 0);
    free(big);
}

TEST(size_limit)
{
    size_t n = SHELF__KIT_MAX_BYTES + 1, i, chunk = (size_t)1 << 20;
    char reason[256], *xml = malloc(n);
    calls c;

    /* <drumkit_info>, then 1 MiB <info> elements (libxml2 refuses single
     * text nodes or runs of blanks over 10 MB), padded to exactly n. */
    ASSERT(xml != NULL);
    memset(xml, 'a', n);
    memcpy(xml, "<drumkit_info>", 14);
    for (i = 14; i + chunk < n; i += chunk) {
        memcpy(xml + i, "<info>", 6);
        memcpy(xml + i + chunk - 7, "</info>", 7);
    }
    memset(xml + i, ' ', n - i);
    memcpy(xml + n - 16, "</drumkit_info>", 15);
    memset(&c, 0, sizeof c);
    ASSERT_RC(SHELF_EFORMAT, shelf__kit_parse(xml, n, on_file, &c, reason, sizeof reason));
    ASSERT_EQ_STR(reason, "drumkit.xml: too large (16777217 bytes, the limit is 16 MiB)");
    /* One byte less is read (the last byte was a blank). */
    ASSERT_OKM(reason, shelf__kit_parse(xml, n - 1, on_file, &c, reason, sizeof reason));
    ASSERT_EQ_INT(c.total, 0);
    free(xml);
}

/* Every failed allocation (libxml2's too: it allocates through the hook)
 * gives SHELF_ENOMEM and no callback at all; a parse that succeeds reports
 * every file. */
TEST(alloc_failures)
{
    char reason[256];
    int n, rc, failed = 0, hit = 1;
    calls c;

    for (n = 1; n < 5000 && hit; n++) {
        memset(&c, 0, sizeof c);
        shelf__alloc_fail_after(n);
        rc = shelf__kit_parse(NEW_KIT, strlen(NEW_KIT), on_file, &c, reason, sizeof reason);
        hit = fault_hit(n);
        shelf__alloc_fail_after(0);
        if (rc == SHELF_OK) {
            ASSERT_EQ_INT(c.total, 4);
        } else {
            if (rc != SHELF_ENOMEM)
                test__fail(__FILE__, __LINE__, "allocation %d: %s: %s", n, shelf_strerror(rc),
                           reason);
            ASSERT_EQ_STR(reason, "out of memory");
            ASSERT_EQ_INT(c.total, 0);
            failed++;
        }
        calls_release(&c);
    }
    printf("    %d allocation points, %d failed cleanly\n", n - 1, failed);
    ASSERT(n < 5000);
    ASSERT(failed > 0);
}

/* libxml2 must not print anything, whatever the input. */
TEST(errors_are_not_printed)
{
    static const char *inputs[] = {
        "<drumkit_info><name>x</nme></drumkit_info>",
        "<drumkit_info><name>\xff\xfe</name></drumkit_info>",
        "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><drumkit_info><name>\x80</name>",
        "<?xml version=\"1.0\" encoding=\"UTF-16\"?><drumkit_info/>",
        "<?xml version=\"1.0\" encoding=\"no-such\"?><drumkit_info/>",
        "<!DOCTYPE d SYSTEM \"http://example.invalid/d.dtd\"><drumkit_info>&x;</drumkit_info>",
        "<drumkit_info xmlns:a=\"u\" a:b=\"1\" a:b=\"2\"/>",
        "<drumkit_info><b:c/></drumkit_info>",
        /* Conversion errors, which libxml2 raises without a parser context
         * (found by fuzz_kit). */
        "<?xml version=\"1. encoding=\"UTF8-\"n>0.5<\377m\226\222\n",
        "<?xml version=\"1.0\" encoding=\"ISO-2022-JP\"?><drumkit_info><name>\x1b$B\xff\xff"
        "</name></drumkit_info>",
        "<?xml version=\"1.0\" encoding=\"UTF8-\"?>\n<drumkit_info>m\x96\x92</drumkit_info>\n",
    };
    char path[PATH_MAX], reason[256], *out;
    size_t i, len;
    int fd, saved;
    calls c;

    test_pathf(path, sizeof path, "%s/stderr.txt", test_tmpdir());
    fflush(stderr);
    ASSERT((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) >= 0);
    ASSERT((saved = dup(2)) >= 0);
    ASSERT(dup2(fd, 2) == 2);
    for (i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        parse(inputs[i], &c, reason);
        calls_release(&c);
    }
    fflush(stderr);
    ASSERT(dup2(saved, 2) == 2);
    close(saved);
    close(fd);
    out = test_read_file(path, &len);
    if (len)
        fprintf(stderr, "printed:\n%s\n", out);
    ASSERT_EQ_INT(len, 0);
    free(out);
}

/* Every kit of Debian's hydrogen-drumkits, when installed: a name and at
 * least one file each, and every file relative to the kit's folder. */
TEST(real_kits)
{
    char path[PATH_MAX], reason[256], *xml;
    int kits = 0, files = 0, found = 0, i;
    struct dirent *de;
    size_t n;
    calls c;
    DIR *d;

    if (!(d = opendir(REAL_KITS))) {
        printf("    0 real kits checked (%s absent): inline kits only\n", REAL_KITS);
        return;
    }
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        test_pathf(path, sizeof path, "%s/%s/drumkit.xml", REAL_KITS, de->d_name);
        if (!test_exists(path))
            continue;
        xml = test_read_file(path, &n);
        memset(&c, 0, sizeof c);
        memset(reason, 0, sizeof reason);
        if (shelf__kit_parse(xml, n, on_file, &c, reason, sizeof reason) != SHELF_OK)
            test__fail(__FILE__, __LINE__, "%s: %s", path, reason);
        ASSERT(c.total >= 1);
        ASSERT(c.kit_name && c.kit_name[0]);
        for (i = 0; i < c.n; i++) {
            ASSERT(c.file[i][0] != '/');
            test_pathf(path, sizeof path, "%s/%s/%s", REAL_KITS, de->d_name, c.file[i]);
            found += test_exists(path);
        }
        files += c.total;
        kits++;
        calls_release(&c);
        free(xml);
    }
    closedir(d);
    printf("    %d real kits checked in %s: %d files, %d of them present\n", kits, REAL_KITS,
           files, found);
}

int main(int argc, char **argv)
{
    static const test_case tests[] = {
        TEST_ENTRY(old_style_kit),
        TEST_ENTRY(new_style_kit_with_namespace),
        TEST_ENTRY(utf8_and_other_encodings),
        TEST_ENTRY(kit_without_instruments),
        TEST_ENTRY(malformed_xml),
        TEST_ENTRY(wrong_root_element),
        TEST_ENTRY(external_entities_are_not_read),
        TEST_ENTRY(entity_expansion_is_bounded),
        TEST_ENTRY(size_limit),
        TEST_ENTRY(alloc_failures),
        TEST_ENTRY(errors_are_not_printed),
        TEST_ENTRY(real_kits),
        TEST_END
    };

    return test_run(argc, argv, tests);
}
