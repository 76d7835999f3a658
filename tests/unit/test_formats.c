/*
 * test_formats.c: unit tests of the patch importers and the SFZ exporter
 * (lib/patch/formats_int.h).  Every fixture is written by the test into a
 * temporary folder: SFZ (#define, #include and a cycle, default_path,
 * values with spaces, comments, note names, inheritance, error messages
 * with their line numbers), Hydrogen (three layouts, velocity layers),
 * ZynAddSubFX (gzip and plain, exact reals, the "1.0f" declaration),
 * LMMS (new and old layouts, sample folders), Decent Sampler
 * (inheritance, loops, effects); empty, binary, truncated-gzip and
 * gzip-bomb inputs; round trips through the SFZ exporter (zones equal,
 * copied samples byte-identical); and allocation failures.  Every parsed
 * document must also pass the document checker (shelf__doc_check).
 */
#include <math.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <zlib.h>
#include "test.h"
#include "alloc_fault.h"
#include "patch/formats_int.h"
#include "patch/patch_int.h"

/* ---- helpers ----------------------------------------------------------------- */

/* Write text to dir/rel, making the folders on the way. */
static void put(const char *dir, const char *rel, const char *text)
{
    char path[4096], *slash;

    test_pathf(path, sizeof path, "%s/%s", dir, rel);
    slash = strrchr(path, '/');
    *slash = '\0';
    ASSERT_EQ_INT(shelf__mkdirs(path, 0755), 0);
    *slash = '/';
    test_write_file(path, text, strlen(text));
}

/* The value at a '/'-separated path (object keys, array indexes), or NULL. */
static json_t *jget(json_t *v, const char *path)
{
    char seg[256];
    const char *p = path, *e;

    while (v && *p) {
        e = strchr(p, '/');
        if (!e)
            e = p + strlen(p);
        snprintf(seg, sizeof seg, "%.*s", (int)(e - p), p);
        if (json_is_array(v))
            v = json_array_get(v, strtoul(seg, NULL, 10));
        else
            v = json_object_get(v, seg);
        p = *e ? e + 1 : e;
    }
    return v;
}

/* The value at path as an integer, real or string; the test fails when it
 * is absent or of another type. */
static json_t *jtyped(const char *file, int line, json_t *doc, const char *path, json_type type)
{
    json_t *v = jget(doc, path);
    char *s;

    if (!v || json_typeof(v) != type) {
        s = v ? json_dumps(v, JSON_ENCODE_ANY) : NULL;
        test__fail(file, line, "%s: expected a %s, found %s", path,
                   type == JSON_INTEGER ? "integer" : type == JSON_REAL ? "real" : "string",
                   s ? s : "nothing");
    }
    return v;
}
#define JINT(doc, path) json_integer_value(jtyped(__FILE__, __LINE__, doc, path, JSON_INTEGER))
#define JREAL(doc, path) json_real_value(jtyped(__FILE__, __LINE__, doc, path, JSON_REAL))
#define JSTR(doc, path) json_string_value(jtyped(__FILE__, __LINE__, doc, path, JSON_STRING))
#define JNONE(doc, path) ASSERT(jget(doc, path) == NULL)

/* Fail unless doc passes the document checker (on a copy). */
static void check_doc(const json_t *doc)
{
    json_t *c = json_deep_copy(doc);
    shelf__err err;

    memset(&err, 0, sizeof err);
    ASSERT(c != NULL);
    ASSERT_OKM(err.msg, shelf__doc_check(c, SHELF_DOC_PATCH, &err));
    json_decref(c);
}

/* Parse dir/rel; fail unless it works; the document is checked. */
static json_t *parse_ok(const char *dir, const char *rel)
{
    char path[4096];
    shelf__err err;
    json_t *doc = NULL;

    memset(&err, 0, sizeof err);
    test_pathf(path, sizeof path, "%s/%s", dir, rel);
    ASSERT_OKM(err.msg, shelf__patch_parse(path, 0, &doc, &err));
    ASSERT(doc != NULL);
    check_doc(doc);
    return doc;
}

/* Parse text as file name in dir; return the code, message in msg. */
static int parse_text(const char *dir, const char *name, const char *text, char msg[1024])
{
    shelf__err err;
    json_t *doc = NULL;
    int rc;

    put(dir, name, text);
    memset(&err, 0, sizeof err);
    rc = shelf__patch_parse_mem(text, strlen(text), 0, name, dir, &doc, &err);
    snprintf(msg, 1024, "%s", rc ? err.msg : "");
    if (rc == SHELF_OK)
        check_doc(doc);
    else
        ASSERT(doc == NULL);
    json_decref(doc);
    return rc;
}

/* Fail unless parsing text (as name) fails with SHELF_EFORMAT and msg. */
#define ASSERT_SFZ_ERROR(dir, text, expected)                                 \
    do {                                                                      \
        char m_[1024];                                                        \
        ASSERT_RC(SHELF_EFORMAT, parse_text(dir, "bad.sfz", text, m_));       \
        ASSERT_EQ_STR(m_, expected);                                          \
    } while (0)

/* A small distinct file standing for a sample. */
static void sample(const char *dir, const char *rel)
{
    char text[256];

    snprintf(text, sizeof text, "RIFF fake sample %s", rel);
    put(dir, rel, text);
}

static char *pathf(const char *dir, const char *rel)
{
    static char bufs[8][4096];
    static int i;

    i = (i + 1) % 8;
    return test_pathf(bufs[i], sizeof bufs[i], "%s/%s", dir, rel);
}

/* gzip data with zlib into a malloc'd buffer. */
static unsigned char *gzip(const void *data, size_t n, size_t *out_n)
{
    z_stream zs;
    unsigned char *out;
    size_t cap = n + n / 10 + 1024;

    memset(&zs, 0, sizeof zs);
    ASSERT_EQ_INT(deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    out = malloc(cap);
    ASSERT(out != NULL);
    zs.next_in = (Bytef *)(uintptr_t)data;
    zs.avail_in = (uInt)n;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    ASSERT_EQ_INT(deflate(&zs, Z_FINISH), Z_STREAM_END);
    *out_n = zs.total_out;
    deflateEnd(&zs);
    return out;
}

/* ---- names ------------------------------------------------------------------- */

TEST(format_names)
{
    ASSERT_EQ_INT(shelf__patch_format_of("/a/Piano.SFZ"), SHELF__PF_SFZ);
    ASSERT_EQ_INT(shelf__patch_format_of("kits/x/drumkit.xml"), SHELF__PF_HYDROGEN);
    ASSERT_EQ_INT(shelf__patch_format_of("other.xml"), SHELF__PF_UNKNOWN);
    ASSERT_EQ_INT(shelf__patch_format_of("Bank/0001-Pad.xiz"), SHELF__PF_ZYN);
    ASSERT_EQ_INT(shelf__patch_format_of("Lead.xpf"), SHELF__PF_LMMS);
    ASSERT_EQ_INT(shelf__patch_format_of("Kit.dspreset"), SHELF__PF_DSPRESET);
    ASSERT_EQ_INT(shelf__patch_format_of("noext"), SHELF__PF_UNKNOWN);
    ASSERT_EQ_STR(shelf__patch_format_name(SHELF__PF_SFZ), "sfz");
    ASSERT_EQ_STR(shelf__patch_format_name(SHELF__PF_HYDROGEN), "hydrogen");
    ASSERT_EQ_STR(shelf__patch_format_name(SHELF__PF_ZYN), "zyn");
    ASSERT_EQ_STR(shelf__patch_format_name(SHELF__PF_LMMS), "lmms");
    ASSERT_EQ_STR(shelf__patch_format_name(SHELF__PF_DSPRESET), "decentsampler");
    ASSERT(shelf__patch_format_name(SHELF__PF_UNKNOWN) == NULL);
}

TEST(unreadable)
{
    const char *dir = test_tmpdir();
    shelf__err err;
    json_t *doc = (json_t *)1;
    char expect[4200];

    memset(&err, 0, sizeof err);
    ASSERT_RC(SHELF_ENOTFOUND, shelf__patch_parse(pathf(dir, "none.sfz"), 0, &doc, &err));
    ASSERT(doc == NULL);
    snprintf(expect, sizeof expect, "cannot read '%s': no such file or directory",
             pathf(dir, "none.sfz"));
    ASSERT_EQ_STR(err.msg, expect);
    ASSERT_RC(SHELF_EINVAL, shelf__patch_parse(pathf(dir, "x.txt"), 0, &doc, &err));
    ASSERT_EQ_STR(err.msg, "x.txt: not a patch format shelf reads");
}

/* ---- SFZ --------------------------------------------------------------------- */

static const char piano_sfz[] =
    "// A piano, to test the parser\n"                                   /* 1 */
    "/* block comment\n"                                                  /* 2 */
    "   <region> sample=not-a-region.wav across lines */\n"               /* 3 */
    "<control> default_path=Samples\\Piano\\ set_cc1=64 label_cc1=Mod 7\n" /* 4 */
    "#define $VOL -6\n"                                                   /* 5 */
    "#define $NAME soft layer\n"                                          /* 6 */
    "<global> volume=$VOL ampeg_release=0.5 // trailing comment\n"        /* 7 */
    "<master> tune=12\n"                                                  /* 8 */
    "<group> lovel=1 hivel=64 group_label=$NAME fil_type=lpf_2p\n"        /* 9 */
    "<region> sample=Piano C4.wav lokey=c#4 hikey=62 pitch_keycenter=c4\n" /* 10 */
    "  loopstart=100 loopend=2000 loop_mode=loop_continuous seq_position=2\n" /* 11 */
    "<region> sample=sub/Piano D4.wav key=62 region_label=D four cutoff=1200.5 volume=-3\n"
    "<group> hivel=127\n"                                                 /* 13 */
    "<region> sample=missing.wav key=eb3 pan=-20\n"                       /* 14 */
    "<region> lokey=10\n"                                                 /* 15: no sample */
    "<region> sample=*sine key=70\n";                                     /* 16 */

static void write_piano(const char *dir)
{
    sample(dir, "Samples/Piano/Piano C4.wav");
    sample(dir, "Samples/Piano/sub/Piano D4.wav");
    put(dir, "piano.sfz", piano_sfz);
}

TEST(sfz_parse)
{
    const char *dir = test_tmpdir();
    json_t *doc;

    write_piano(dir);
    doc = parse_ok(dir, "piano.sfz");
    ASSERT_EQ_STR(JSTR(doc, "name"), "piano");
    ASSERT_EQ_INT(JINT(doc, "shelf_patch"), 1);
    ASSERT_EQ_STR(JSTR(doc, "source/format"), "sfz");
    ASSERT_EQ_STR(JSTR(doc, "source/file"), "piano.sfz");
    ASSERT_EQ_INT(JINT(doc, "source/regions_without_sample"), 1);
    ASSERT_EQ_INT(json_object_size(jget(doc, "zones")), 4);

    /* Region 1: inheritance, values with spaces, note names, loop aliases. */
    ASSERT_EQ_STR(JSTR(doc, "zones/z0001/sample/path"), pathf(dir, "Samples/Piano/Piano C4.wav"));
    JNONE(doc, "zones/z0001/sample/missing");
    ASSERT_EQ_INT(JINT(doc, "zones/z0001/key/0"), 61);
    ASSERT_EQ_INT(JINT(doc, "zones/z0001/key/1"), 62);
    ASSERT_EQ_INT(JINT(doc, "zones/z0001/root"), 60);
    ASSERT_EQ_INT(JINT(doc, "zones/z0001/vel/0"), 1);
    ASSERT_EQ_INT(JINT(doc, "zones/z0001/vel/1"), 64);
    ASSERT_EQ_INT(JINT(doc, "zones/z0001/rr"), 2);
    ASSERT_EQ_STR(JSTR(doc, "zones/z0001/loop/mode"), "loop_continuous");
    ASSERT_EQ_INT(JINT(doc, "zones/z0001/loop/start"), 100);
    ASSERT_EQ_INT(JINT(doc, "zones/z0001/loop/end"), 2000);
    ASSERT_EQ_STR(JSTR(doc, "zones/z0001/group"), "soft layer");
    ASSERT_EQ_INT(JINT(doc, "zones/z0001/params/volume"), -6);
    ASSERT(JREAL(doc, "zones/z0001/params/ampeg_release") == 0.5);
    ASSERT_EQ_INT(JINT(doc, "zones/z0001/params/tune"), 12);
    ASSERT_EQ_STR(JSTR(doc, "zones/z0001/params/fil_type"), "lpf_2p");
    ASSERT_EQ_INT(json_object_size(jget(doc, "zones/z0001/params")), 4);

    /* Region 2: key= sets the range and the root; the region overrides. */
    ASSERT_EQ_STR(JSTR(doc, "zones/z0002/sample/path"),
                  pathf(dir, "Samples/Piano/sub/Piano D4.wav"));
    ASSERT_EQ_INT(JINT(doc, "zones/z0002/key/0"), 62);
    ASSERT_EQ_INT(JINT(doc, "zones/z0002/key/1"), 62);
    ASSERT_EQ_INT(JINT(doc, "zones/z0002/root"), 62);
    ASSERT_EQ_STR(JSTR(doc, "zones/z0002/name"), "D four");
    ASSERT(JREAL(doc, "zones/z0002/params/cutoff") == 1200.5);
    ASSERT_EQ_INT(JINT(doc, "zones/z0002/params/volume"), -3);
    JNONE(doc, "zones/z0002/rr");
    JNONE(doc, "zones/z0002/loop");

    /* Region 3: a new <group> drops the old group's opcodes. */
    ASSERT_EQ_STR(JSTR(doc, "zones/z0003/sample/path"), pathf(dir, "Samples/Piano/missing.wav"));
    ASSERT(json_is_true(jget(doc, "zones/z0003/sample/missing")));
    ASSERT_EQ_INT(JINT(doc, "zones/z0003/key/0"), 51);
    ASSERT_EQ_INT(JINT(doc, "zones/z0003/vel/0"), 1);
    ASSERT_EQ_INT(JINT(doc, "zones/z0003/vel/1"), 127);
    JNONE(doc, "zones/z0003/group");
    JNONE(doc, "zones/z0003/params/fil_type");
    ASSERT_EQ_INT(JINT(doc, "zones/z0003/params/pan"), -20);

    /* A built-in generator. */
    ASSERT_EQ_STR(JSTR(doc, "zones/z0004/sample/path"), "*sine");
    ASSERT(json_is_true(jget(doc, "zones/z0004/sample/missing")));

    /* <control> goes to params; default_path does not. */
    ASSERT_EQ_INT(JINT(doc, "params/control/set_cc1"), 64);
    ASSERT_EQ_STR(JSTR(doc, "params/control/label_cc1"), "Mod 7");
    JNONE(doc, "params/control/default_path");
    json_decref(doc);
}

TEST(sfz_types)
{
    const char *dir = test_tmpdir();
    json_t *doc, *types, *t;

    write_piano(dir);
    doc = parse_ok(dir, "piano.sfz");
    types = json_object_get(doc, "types");
    ASSERT(types != NULL);
    t = json_object_get(types, "zones/z0001/params/volume");
    ASSERT_EQ_STR(JSTR(t, "unit"), "dB");
    ASSERT(JREAL(t, "min") == -144 && JREAL(t, "max") == 6);
    t = json_object_get(types, "zones/z0003/params/pan");
    ASSERT_EQ_STR(JSTR(t, "type"), "number");
    ASSERT(JREAL(t, "min") == -100 && JREAL(t, "max") == 100);
    t = json_object_get(types, "zones/z0002/params/cutoff");
    ASSERT_EQ_STR(JSTR(t, "unit"), "Hz");
    t = json_object_get(types, "zones/z0001/params/tune");
    ASSERT_EQ_STR(JSTR(t, "unit"), "cents");
    t = json_object_get(types, "zones/z0001/params/ampeg_release");
    ASSERT_EQ_STR(JSTR(t, "unit"), "s");
    /* Only opcodes a zone has. */
    ASSERT(json_object_get(types, "zones/z0003/params/cutoff") == NULL);
    ASSERT(json_object_get(types, "zones/z0001/params/fil_type") == NULL);
    json_decref(doc);
}

TEST(sfz_include)
{
    const char *dir = test_tmpdir();
    char msg[1024];
    json_t *doc;

    sample(dir, "a.wav");
    sample(dir, "b.wav");
    put(dir, "main.sfz",
        "#define $KEY 40\n"
        "<control>\n"
        "#include \"inc/common.sfz\"\n"
        "<region> sample=b.wav key=$KEY\n");
    /* Relative to the including file; sample paths to the top file. */
    put(dir, "inc/common.sfz", "#define $LO 30\n#include \"more.sfz\"\n");
    put(dir, "inc/more.sfz", "<group> volume=-2\n<region> sample=a.wav lokey=$LO hikey=$KEY\n");
    doc = parse_ok(dir, "main.sfz");
    ASSERT_EQ_INT(json_object_size(jget(doc, "zones")), 2);
    ASSERT_EQ_STR(JSTR(doc, "zones/z0001/sample/path"), pathf(dir, "a.wav"));
    ASSERT_EQ_INT(JINT(doc, "zones/z0001/key/0"), 30);
    ASSERT_EQ_INT(JINT(doc, "zones/z0001/key/1"), 40);
    ASSERT_EQ_INT(JINT(doc, "zones/z0001/params/volume"), -2);
    ASSERT_EQ_INT(JINT(doc, "zones/z0002/key/0"), 40);
    ASSERT_EQ_INT(JINT(doc, "zones/z0002/params/volume"), -2);
    json_decref(doc);

    /* A cycle, through a second file, reported where it closes. */
    put(dir, "inc/loop1.sfz", "<group>\n\n#include \"loop2.sfz\"\n");
    put(dir, "inc/loop2.sfz", "// two\n#include \"../inc/loop1.sfz\"\n");
    ASSERT_RC(SHELF_EFORMAT, parse_text(dir, "cyc.sfz", "#include \"inc/loop1.sfz\"\n", msg));
    ASSERT_EQ_STR(msg, "loop2.sfz:2: #include of '../inc/loop1.sfz' makes a cycle");
    /* Including itself. */
    ASSERT_RC(SHELF_EFORMAT, parse_text(dir, "self.sfz", "<control>\n#include \"self.sfz\"\n", msg));
    ASSERT_EQ_STR(msg, "self.sfz:2: #include of 'self.sfz' makes a cycle");
    /* A missing file. */
    ASSERT_RC(SHELF_EFORMAT, parse_text(dir, "miss.sfz", "\n\n#include \"nope.sfz\"\n", msg));
    ASSERT_EQ_STR(msg, "miss.sfz:3: cannot include 'nope.sfz': no such file or directory");
    /* Without a folder (fuzzing), #include is refused. */
    {
        shelf__err err;
        static const char t[] = "<region> sample=x.wav\n#include \"a.sfz\"\n";

        memset(&err, 0, sizeof err);
        ASSERT_RC(SHELF_EFORMAT, shelf__patch_parse_mem(t, sizeof t - 1, SHELF__PF_SFZ, "m.sfz",
                                                        NULL, &doc, &err));
        ASSERT_EQ_STR(err.msg, "m.sfz:2: #include is not allowed here");
    }
}

/*
 * #include stays inside the folder tree of the imported file and reads
 * only regular files.  Regression test, fixed (lib/patch/sfz.c, include;
 * fmt_common.c, shelf__pf_read_file): an absolute path or ".." opened any
 * file, and a parse error then quoted its first line ("#include
 * \"/etc/passwd\"" printed "root:x:0:0..."); a FIFO blocked forever.
 */
TEST(sfz_include_confined)
{
    char dir[4096], top[4096], msg[1024], link[4096];
    shelf__err err;
    json_t *doc = NULL;

    test_pathf(top, sizeof top, "%s/conf", test_tmpdir());
    test_pathf(dir, sizeof dir, "%s/lib", top);
    sample(dir, "a.wav");
    /* Outside the tree, a file whose text would show in a parse error. */
    put(top, "secret.sfz", "<region> SECRET-TEXT\n");
    /* ".." that stays inside the tree is fine. */
    put(dir, "sub/common.sfz", "#include \"../more.sfz\"\n");
    put(dir, "more.sfz", "<region> sample=a.wav key=60\n");
    ASSERT_OKM(msg, parse_text(dir, "ok.sfz", "#include \"sub/common.sfz\"\n", msg));

    ASSERT_RC(SHELF_EFORMAT, parse_text(dir, "abs.sfz", "\n#include \"/etc/passwd\"\n", msg));
    ASSERT_EQ_STR(msg, "abs.sfz:2: cannot include '/etc/passwd': an absolute path");
    ASSERT_RC(SHELF_EFORMAT, parse_text(dir, "up.sfz", "#include \"../secret.sfz\"\n", msg));
    ASSERT_EQ_STR(msg, "up.sfz:1: cannot include '../secret.sfz': outside the folder of up.sfz");
    /* From an included file too, and with backslashes. */
    put(dir, "sub/up2.sfz", "#include \"..\\..\\secret.sfz\"\n");
    ASSERT_RC(SHELF_EFORMAT, parse_text(dir, "up2.sfz", "#include \"sub/up2.sfz\"\n", msg));
    ASSERT_EQ_STR(msg, "up2.sfz:1: cannot include '../../secret.sfz': outside the folder of up2.sfz");
    /* A symbolic link inside the tree to a file outside it. */
    test_pathf(link, sizeof link, "%s/link.sfz", dir);
    ASSERT_EQ_INT(symlink("../secret.sfz", link), 0);
    ASSERT_RC(SHELF_EFORMAT, parse_text(dir, "ln.sfz", "#include \"link.sfz\"\n", msg));
    ASSERT_EQ_STR(msg, "ln.sfz:1: cannot include 'link.sfz': outside the folder of ln.sfz");
    ASSERT(strstr(msg, "SECRET") == NULL);

    /* A FIFO, included or imported itself, is refused without waiting
     * for a writer (the alarm fails the test if it blocks). */
    test_pathf(link, sizeof link, "%s/fifo.sfz", dir);
    ASSERT_EQ_INT(mkfifo(link, 0644), 0);
    alarm(20);
    ASSERT_RC(SHELF_EFORMAT, parse_text(dir, "ff.sfz", "#include \"fifo.sfz\"\n", msg));
    ASSERT_EQ_STR(msg, "ff.sfz:1: cannot include 'fifo.sfz': not a regular file");
    memset(&err, 0, sizeof err);
    ASSERT_RC(SHELF_EFORMAT, shelf__patch_parse(link, 0, &doc, &err));
    ASSERT(strstr(err.msg, "not a regular file") != NULL);
    ASSERT(doc == NULL);
    /* A character device (made when allowed: CI runs as root). */
    test_pathf(link, sizeof link, "%s/zero.sfz", dir);
    if (mknod(link, S_IFCHR | 0644, makedev(1, 5)) == 0) {
        ASSERT_RC(SHELF_EFORMAT, parse_text(dir, "dev.sfz", "#include \"zero.sfz\"\n", msg));
        ASSERT_EQ_STR(msg, "dev.sfz:1: cannot include 'zero.sfz': not a regular file");
    }
    alarm(0);
}

TEST(sfz_errors)
{
    const char *dir = test_tmpdir();

    ASSERT_SFZ_ERROR(dir, "<control>\n\n<regoin> sample=a.wav\n", "bad.sfz:3: unknown header <regoin>");
    ASSERT_SFZ_ERROR(dir, "<group>\n<region sample=a.wav\n", "bad.sfz:2: unterminated header <region sample=a.wav");
    ASSERT_SFZ_ERROR(dir, "<region>\nsample=a.wav lokey=\n", "bad.sfz:2: opcode 'lokey' without value");
    ASSERT_SFZ_ERROR(dir, "<region> sample=a.wav\nvolume\n", "bad.sfz:2: opcode 'volume' without value");
    ASSERT_SFZ_ERROR(dir, "<region> sample=a.wav lokey= hikey=5\n", "bad.sfz:1: opcode 'lokey' without value");
    ASSERT_SFZ_ERROR(dir, "<region> sample=  <group>\n", "bad.sfz:1: opcode 'sample' without value");
    ASSERT_SFZ_ERROR(dir, "<region> sample=a.wav\n\n\nlovel=soft\n", "bad.sfz:4: bad number 'soft' for lovel");
    ASSERT_SFZ_ERROR(dir, "<region> sample=a.wav hivel=128\n", "bad.sfz:1: hivel=128 is out of range (0 to 127)");
    ASSERT_SFZ_ERROR(dir, "<region> sample=a.wav lokey=h4\n", "bad.sfz:1: bad note 'h4' for lokey");
    ASSERT_SFZ_ERROR(dir, "<region> sample=a.wav key=g10\n", "bad.sfz:1: bad note 'g10' for key");
    ASSERT_SFZ_ERROR(dir, "<region> sample=a.wav loop_start=1.5\n", "bad.sfz:1: bad number '1.5' for loop_start");
    ASSERT_SFZ_ERROR(dir, "<region> sample=a.wav\nloopmode=forever\n", "bad.sfz:2: unknown loop_mode 'forever'");
    ASSERT_SFZ_ERROR(dir, "#define $A 1\n<region> sample=a.wav key=$B\n", "bad.sfz:2: undefined variable $B");
    ASSERT_SFZ_ERROR(dir, "<region>\n/* open\n\n", "bad.sfz:2: unterminated comment");
    ASSERT_SFZ_ERROR(dir, "\nvolume=3\n", "bad.sfz:2: opcode 'volume' before any header");
    ASSERT_SFZ_ERROR(dir, "<region> sample=a.wav\n  lokey=70 hikey=60\n<region> sample=b.wav\n",
                     "bad.sfz:1: lokey 70 is above hikey 60");
    ASSERT_SFZ_ERROR(dir, "<region> sample=a.wav loop_start=10 loop_end=5\n",
                     "bad.sfz:1: loop_start 10 is after loop_end 5");
    ASSERT_SFZ_ERROR(dir, "<region> sample=a.wav seq_position=0\n",
                     "bad.sfz:1: seq_position=0 is out of range (1 to 1000000)");
    ASSERT_SFZ_ERROR(dir, "#define X 1\n", "bad.sfz:1: #define needs a $NAME and a value");
    ASSERT_SFZ_ERROR(dir, "#define $X\n", "bad.sfz:1: #define $X has no value");
    ASSERT_SFZ_ERROR(dir, "<region> ~x=1\n", "bad.sfz:1: unexpected '~'");
}

TEST(sfz_values)
{
    const char *dir = test_tmpdir();
    char msg[1024];
    json_t *doc;

    /* A value ends at "<header>" and at "opcode="; '=' inside a value
     * stays; note_offset and octave_offset shift notes; CRLF lines. */
    put(dir, "v.sfz",
        "<control> note_offset=1 octave_offset=-1\r\n"
        "<region> sample=My=Sample 1.wav lokey=c5 hikey=85<region> sample=two.wav\r\n"
        "<region>sample=\\abs\\three.wav amp_label=12 pitch_keycenter=sample\n");
    doc = parse_ok(dir, "v.sfz");
    ASSERT_EQ_STR(JSTR(doc, "zones/z0001/sample/path"), pathf(dir, "My=Sample 1.wav"));
    ASSERT_EQ_INT(JINT(doc, "zones/z0001/key/0"), 61);     /* c5 = 72, + 1 - 12 */
    ASSERT_EQ_INT(JINT(doc, "zones/z0001/key/1"), 74);
    JNONE(doc, "zones/z0001/root");
    ASSERT_EQ_STR(JSTR(doc, "zones/z0002/sample/path"), pathf(dir, "two.wav"));
    ASSERT_EQ_STR(JSTR(doc, "zones/z0003/sample/path"), "/abs/three.wav");
    ASSERT(json_is_true(jget(doc, "zones/z0003/sample/missing")));
    /* Labels stay text; pitch_keycenter=sample stays a param. */
    ASSERT_EQ_STR(JSTR(doc, "zones/z0003/params/amp_label"), "12");
    ASSERT_EQ_STR(JSTR(doc, "zones/z0003/params/pitch_keycenter"), "sample");
    json_decref(doc);
    /* Names longer than a document allows are cut (at a character). */
    {
        size_t n = 70000, i;
        char *big = malloc(n + 64);

        ASSERT(big != NULL);
        i = (size_t)snprintf(big, 64, "<region> sample=a.wav region_label=");
        for (; i < n; i += 2)
            memcpy(big + i, "\xc3\xa9", 2);
        big[i] = '\0';
        put(dir, "long.sfz", big);
        free(big);
        doc = parse_ok(dir, "long.sfz");
        ASSERT_EQ_INT(strlen(JSTR(doc, "zones/z0001/name")), 32768);
        json_decref(doc);
    }
    /* The offsets apply to what follows them. */
    ASSERT_RC(SHELF_EFORMAT, parse_text(dir, "o.sfz", "<control> octave_offset=-6\n<region> sample=a key=c1\n", msg));
    ASSERT_EQ_STR(msg, "o.sfz:2: note c1 for key is out of range");
}

TEST(sfz_case_fallback)
{
    const char *dir = test_tmpdir();
    json_t *doc;

    /* Made on a system that ignores case. */
    sample(dir, "Samples/Kick.WAV");
    put(dir, "k.sfz", "<region> sample=samples\\kick.wav\n");
    doc = parse_ok(dir, "k.sfz");
    ASSERT_EQ_STR(JSTR(doc, "zones/z0001/sample/path"), pathf(dir, "Samples/Kick.WAV"));
    JNONE(doc, "zones/z0001/sample/missing");
    json_decref(doc);
}

/* ---- Hydrogen ---------------------------------------------------------------- */

static const char h2_kit[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<drumkit_info xmlns=\"http://www.hydrogen-music.org/drumkit\">\n"
    " <name>Test Kit</name>\n"
    " <author>Someone</author>\n"
    " <info>A kit &amp; its tests</info>\n"
    " <license>CC0</license>\n"
    " <instrumentList>\n"
    "  <instrument><id>0</id><name>Kick</name><volume>0.8</volume><pan_L>1</pan_L>\n"
    "   <pan_R>0.5</pan_R><muteGroup>-1</muteGroup>\n"
    "   <instrumentComponent><component_id>0</component_id>\n"
    "    <layer><filename>kick soft.wav</filename><min>0</min><max>0.5</max>\n"
    "     <gain>1.5</gain><pitch>0</pitch></layer>\n"
    "    <layer><filename>kick hard.wav</filename><min>0.5</min><max>1</max>\n"
    "     <gain>1</gain><pitch>-1.5</pitch></layer>\n"
    "   </instrumentComponent>\n"
    "  </instrument>\n"
    "  <instrument><id>1</id><name>Snare</name><volume>1</volume>\n"
    "   <layer><filename>snare.wav</filename><min>0</min><max>1</max><gain>1</gain><pitch>0</pitch></layer>\n"
    "  </instrument>\n"
    "  <instrument><id>2</id><filename>sub/hat.flac</filename><name>Hat</name></instrument>\n"
    "  <instrument><id>3</id><name>Empty</name></instrument>\n"
    "  <instrument><id>4</id><name>Gone</name><layer><filename>gone.wav</filename></layer></instrument>\n"
    " </instrumentList>\n"
    "</drumkit_info>\n";

static void write_h2(const char *dir)
{
    sample(dir, "kit/kick soft.wav");
    sample(dir, "kit/kick hard.wav");
    sample(dir, "kit/snare.wav");
    sample(dir, "kit/sub/hat.flac");
    put(dir, "kit/drumkit.xml", h2_kit);
}

TEST(hydrogen_parse)
{
    const char *dir = test_tmpdir();
    json_t *doc;

    write_h2(dir);
    doc = parse_ok(dir, "kit/drumkit.xml");
    ASSERT_EQ_STR(JSTR(doc, "name"), "Test Kit");
    ASSERT_EQ_STR(JSTR(doc, "author"), "Someone");
    ASSERT_EQ_STR(JSTR(doc, "comment"), "A kit & its tests");
    ASSERT_EQ_STR(JSTR(doc, "params/license"), "CC0");
    ASSERT_EQ_STR(JSTR(doc, "source/format"), "hydrogen");
    ASSERT_EQ_INT(json_object_size(jget(doc, "zones")), 5);

    ASSERT_EQ_STR(JSTR(doc, "zones/z0001/sample/path"), pathf(dir, "kit/kick soft.wav"));
    ASSERT_EQ_STR(JSTR(doc, "zones/z0001/name"), "Kick");
    ASSERT_EQ_INT(JINT(doc, "zones/z0001/key/0"), 36);
    ASSERT_EQ_INT(JINT(doc, "zones/z0001/key/1"), 36);
    ASSERT_EQ_INT(JINT(doc, "zones/z0001/root"), 36);
    ASSERT_EQ_INT(JINT(doc, "zones/z0001/vel/0"), 0);
    ASSERT_EQ_INT(JINT(doc, "zones/z0001/vel/1"), 63);
    ASSERT(JREAL(doc, "zones/z0001/params/gain") == 1.5);
    ASSERT_EQ_INT(JINT(doc, "zones/z0001/params/pitch"), 0);
    ASSERT(JREAL(doc, "zones/z0001/params/volume") == 0.8);
    ASSERT_EQ_INT(JINT(doc, "zones/z0001/params/pan_L"), 1);
    ASSERT(JREAL(doc, "zones/z0001/params/pan_R") == 0.5);
    ASSERT_EQ_INT(JINT(doc, "zones/z0001/params/muteGroup"), -1);
    ASSERT_EQ_INT(JINT(doc, "zones/z0002/vel/0"), 64);
    ASSERT_EQ_INT(JINT(doc, "zones/z0002/vel/1"), 127);
    ASSERT(JREAL(doc, "zones/z0002/params/pitch") == -1.5);

    ASSERT_EQ_STR(JSTR(doc, "zones/z0003/name"), "Snare");
    ASSERT_EQ_INT(JINT(doc, "zones/z0003/key/0"), 37);
    ASSERT_EQ_INT(JINT(doc, "zones/z0003/vel/0"), 0);
    ASSERT_EQ_INT(JINT(doc, "zones/z0003/vel/1"), 127);
    /* The oldest layout: <filename> in the instrument. */
    ASSERT_EQ_STR(JSTR(doc, "zones/z0004/sample/path"), pathf(dir, "kit/sub/hat.flac"));
    ASSERT_EQ_INT(JINT(doc, "zones/z0004/key/0"), 38);
    /* An instrument without samples takes its note all the same. */
    ASSERT_EQ_INT(JINT(doc, "zones/z0005/key/0"), 40);
    ASSERT(json_is_true(jget(doc, "zones/z0005/sample/missing")));
    json_decref(doc);
}

TEST(xml_errors)
{
    const char *dir = test_tmpdir();
    char msg[1024];

    ASSERT_RC(SHELF_EFORMAT, parse_text(dir, "drumkit.xml",
                                        "<drumkit_info>\n<name>x</name>\n<oops></drumkit_info>\n", msg));
    ASSERT(strncmp(msg, "drumkit.xml:3: ", 15) == 0);
    ASSERT(strchr(msg, '\n') == NULL);
    ASSERT_RC(SHELF_EFORMAT, parse_text(dir, "drumkit.xml",
                                        "<?xml version=\"1.0\"?>\n<!DOCTYPE d [\n<!ENTITY a \"b\">\n]>\n"
                                        "<drumkit_info><name>&a;</name></drumkit_info>\n", msg));
    ASSERT_EQ_STR(msg, "drumkit.xml:3: entity declarations are not allowed");
    ASSERT_RC(SHELF_EFORMAT, parse_text(dir, "drumkit.xml", "<song/>\n", msg));
    ASSERT_EQ_STR(msg, "drumkit.xml:1: not a Hydrogen drumkit: root element is 'song'");
    ASSERT_RC(SHELF_EFORMAT, parse_text(dir, "x.xpf", "\n<lmms-project><head/></lmms-project>", msg));
    ASSERT_EQ_STR(msg, "x.xpf:2: no <instrumenttracksettings> in this preset");
    ASSERT_RC(SHELF_EFORMAT, parse_text(dir, "x.dspreset", "<DecentSampler><groups><group>\n"
                                        "<sample path=\"a.wav\" loNote=\"low\"/></group></groups></DecentSampler>", msg));
    ASSERT_EQ_STR(msg, "x.dspreset:2: bad number 'low' for loNote");
    ASSERT_RC(SHELF_EFORMAT, parse_text(dir, "x.dspreset", "<DecentSampler><groups><group>\n\n"
                                        "<sample loNote=\"1\"/></group></groups></DecentSampler>", msg));
    ASSERT_EQ_STR(msg, "x.dspreset:3: <sample> without a path");
}

/* Empty and binary files of every format fail cleanly. */
TEST(empty_and_binary)
{
    static const char *const names[] = { "e.sfz", "drumkit.xml", "e.xiz", "e.xpf", "e.dspreset" };
    const char *dir = test_tmpdir();
    unsigned char bin[4096];
    shelf__err err;
    json_t *doc;
    size_t i, k;
    unsigned seed = 12345;

    for (k = 0; k < sizeof bin; k++) {
        seed = seed * 1103515245u + 12345u;
        bin[k] = (unsigned char)(seed >> 16);
    }
    bin[0] = 0x00;      /* not gzip, not text */
    for (i = 0; i < sizeof names / sizeof names[0]; i++) {
        char expect[256];

        test_write_file(pathf(dir, names[i]), "", 0);
        memset(&err, 0, sizeof err);
        ASSERT_RC(SHELF_EFORMAT, shelf__patch_parse(pathf(dir, names[i]), 0, &doc, &err));
        ASSERT(doc == NULL);
        snprintf(expect, sizeof expect, "%s: empty file", names[i]);
        ASSERT_EQ_STR(err.msg, expect);
    }
    for (i = 0; i < sizeof names / sizeof names[0]; i++) {
        test_write_file(pathf(dir, names[i]), bin, sizeof bin);
        memset(&err, 0, sizeof err);
        ASSERT_RC(SHELF_EFORMAT, shelf__patch_parse(pathf(dir, names[i]), 0, &doc, &err));
        ASSERT(doc == NULL);
        ASSERT(strncmp(err.msg, names[i], strlen(names[i])) == 0);
        ASSERT(strchr(err.msg, '\n') == NULL);
    }
}

/* ---- ZynAddSubFX ------------------------------------------------------------- */

static const char zyn_xml[] =
    "\n<?xml version=\"1.0f\" encoding=\"UTF-8\"?>\n"
    "<!DOCTYPE ZynAddSubFX-data>\n"
    "<ZynAddSubFX-data version-major=\"3\" version-minor=\"0\" version-revision=\"6\" "
    "ZynAddSubFX-author=\"Nasca Octavian Paul\">\n"
    "<INFORMATION><par_bool name=\"PADsynth_used\" value=\"yes\"/></INFORMATION>\n"
    "<INSTRUMENT>\n"
    "<INFO><string name=\"name\">Soft Pad</string><string name=\"author\">Me</string>\n"
    "<string name=\"comments\">line one\nline two</string><par name=\"type\" value=\"12\"/></INFO>\n"
    "<INSTRUMENT_KIT><par name=\"kit_mode\" value=\"0\"/><par_bool name=\"drum_mode\" value=\"no\"/>\n"
    "<INSTRUMENT_KIT_ITEM id=\"0\"><par_bool name=\"enabled\" value=\"yes\"/>\n"
    "<string name=\"name\">Layer &amp; one</string>\n"
    "<ADD_SYNTH_PARAMETERS><AMPLITUDE_PARAMETERS><par name=\"volume\" value=\"90\"/>\n"
    "<par_real name=\"freq\" value=\"0.629921\"/>\n"
    "<par_real name=\"exact\" value=\"1.4162\" exact_value=\"0x3FB54600\"/>\n"
    "</AMPLITUDE_PARAMETERS>\n"
    "<VOICE id=\"0\"><par name=\"detune\" value=\"8192\"/></VOICE>\n"
    "<VOICE id=\"1\"><par name=\"detune\" value=\"100\"/></VOICE>\n"
    "</ADD_SYNTH_PARAMETERS></INSTRUMENT_KIT_ITEM>\n"
    "<INSTRUMENT_KIT_ITEM id=\"1\"><par_bool name=\"enabled\" value=\"no\"/></INSTRUMENT_KIT_ITEM>\n"
    "</INSTRUMENT_KIT>\n"
    "<INSTRUMENT_EFFECTS><par name=\"x\" value=\"1\"/><X><par name=\"y\" value=\"2\"/></X></INSTRUMENT_EFFECTS>\n"
    "</INSTRUMENT>\n"
    "</ZynAddSubFX-data>\n";

static void check_zyn(json_t *doc)
{
    float f;
    uint32_t bits = 0x3FB54600;

    memcpy(&f, &bits, sizeof f);
    ASSERT_EQ_STR(JSTR(doc, "name"), "Soft Pad");
    ASSERT_EQ_STR(JSTR(doc, "author"), "Me");
    ASSERT_EQ_STR(JSTR(doc, "comment"), "line one\nline two");
    ASSERT_EQ_STR(JSTR(doc, "category"), "Synth Pad");
    ASSERT_EQ_STR(JSTR(doc, "source/format"), "zyn");
    ASSERT_EQ_STR(JSTR(doc, "source/creator"), "ZynAddSubFX");
    ASSERT_EQ_STR(JSTR(doc, "source/version"), "3.0.6");
    ASSERT(json_is_true(jget(doc, "source/padsynth_used")));
    ASSERT_EQ_INT(JINT(doc, "params/instrument_kit/kit_mode"), 0);
    ASSERT(json_is_false(jget(doc, "params/instrument_kit/drum_mode")));
    ASSERT(json_is_true(jget(doc, "params/instrument_kit/instrument_kit_item/0/enabled")));
    ASSERT_EQ_STR(JSTR(doc, "params/instrument_kit/instrument_kit_item/0/name"), "Layer & one");
    ASSERT_EQ_INT(JINT(doc, "params/instrument_kit/instrument_kit_item/0/add_synth_parameters/"
                            "amplitude_parameters/volume"), 90);
    ASSERT(JREAL(doc, "params/instrument_kit/instrument_kit_item/0/add_synth_parameters/"
                      "amplitude_parameters/freq") == 0.629921);
    /* exact_value wins over the rounded decimal. */
    ASSERT(JREAL(doc, "params/instrument_kit/instrument_kit_item/0/add_synth_parameters/"
                      "amplitude_parameters/exact") == (double)f);
    ASSERT((double)f != 1.4162);
    ASSERT_EQ_INT(JINT(doc, "params/instrument_kit/instrument_kit_item/0/add_synth_parameters/"
                            "voice/1/detune"), 100);
    ASSERT(json_is_false(jget(doc, "params/instrument_kit/instrument_kit_item/1/enabled")));
    /* A value and a group of the same name keep both. */
    ASSERT_EQ_INT(JINT(doc, "params/instrument_effects/x_value"), 1);
    ASSERT_EQ_INT(JINT(doc, "params/instrument_effects/x/y"), 2);
    JNONE(doc, "params/info");
    JNONE(doc, "zones");
}

TEST(zyn_parse)
{
    const char *dir = test_tmpdir();
    unsigned char *gz;
    size_t n;
    json_t *doc, *doc2;
    char *a, *b;

    gz = gzip(zyn_xml, sizeof zyn_xml - 1, &n);
    test_write_file(pathf(dir, "0001-Soft Pad.xiz"), gz, n);
    free(gz);
    put(dir, "plain.xiz", zyn_xml);
    doc = parse_ok(dir, "0001-Soft Pad.xiz");
    doc2 = parse_ok(dir, "plain.xiz");
    /* Deterministic, and the same whether compressed or not. */
    json_object_del(doc2, "source");
    json_object_del(doc, "source");
    a = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    b = json_dumps(doc2, JSON_COMPACT | JSON_SORT_KEYS);
    ASSERT_EQ_STR(a, b);
    free(a);
    free(b);
    json_decref(doc2);
    json_decref(doc);
    doc = parse_ok(dir, "plain.xiz");
    check_zyn(doc);
    json_decref(doc);
}

TEST(zyn_bad_gzip)
{
    const char *dir = test_tmpdir();
    unsigned char *gz, zeros[65536];
    size_t n, total = 0;
    shelf__err err;
    json_t *doc;
    z_stream zs;
    unsigned char *out;
    size_t cap = 1 << 20;

    /* Truncated. */
    gz = gzip(zyn_xml, sizeof zyn_xml - 1, &n);
    test_write_file(pathf(dir, "t.xiz"), gz, n / 2);
    free(gz);
    memset(&err, 0, sizeof err);
    ASSERT_RC(SHELF_EFORMAT, shelf__patch_parse(pathf(dir, "t.xiz"), 0, &doc, &err));
    ASSERT_EQ_STR(err.msg, "t.xiz: truncated gzip data");
    /* Corrupt. */
    gz = gzip(zyn_xml, sizeof zyn_xml - 1, &n);
    memset(gz + 12, 0xff, 8);
    test_write_file(pathf(dir, "c.xiz"), gz, n);
    free(gz);
    ASSERT_RC(SHELF_EFORMAT, shelf__patch_parse(pathf(dir, "c.xiz"), 0, &doc, &err));
    ASSERT(strncmp(err.msg, "c.xiz: corrupt gzip data", 24) == 0);

    /* A bomb: 65 MiB of zeros in about 65 KB. */
    memset(zeros, 0, sizeof zeros);
    memset(&zs, 0, sizeof zs);
    ASSERT_EQ_INT(deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    out = malloc(cap);
    ASSERT(out != NULL);
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    while (total < ((size_t)65 << 20)) {
        zs.next_in = zeros;
        zs.avail_in = sizeof zeros;
        ASSERT_EQ_INT(deflate(&zs, Z_NO_FLUSH), Z_OK);
        total += sizeof zeros;
    }
    ASSERT_EQ_INT(deflate(&zs, Z_FINISH), Z_STREAM_END);
    test_write_file(pathf(dir, "bomb.xiz"), out, zs.total_out);
    ASSERT(zs.total_out < 200000);
    deflateEnd(&zs);
    free(out);
    ASSERT_RC(SHELF_EFORMAT, shelf__patch_parse(pathf(dir, "bomb.xiz"), 0, &doc, &err));
    ASSERT_EQ_STR(err.msg, "bomb.xiz: decompresses to more than 64 MiB");
    ASSERT(doc == NULL);
}

/* ---- LMMS -------------------------------------------------------------------- */

TEST(lmms_parse)
{
    const char *dir = test_tmpdir();
    char home[4096];
    json_t *doc;

    sample(dir, "presets/samples/mine.wav");
    put(dir, "presets/afp.xpf",
        "<?xml version=\"1.0\"?>\n<!DOCTYPE lmms-project>\n"
        "<lmms-project version=\"1.0\" creator=\"LMMS\" type=\"instrumenttracksettings\">\n<head/>\n"
        "<instrumenttracksettings muted=\"0\" type=\"0\" name=\"My Bass\" solo=\"0\">\n"
        "<instrumenttrack pan=\"0\" pitch=\"0\" basenote=\"45\" vol=\"80\">\n"
        "<instrument name=\"audiofileprocessor\">\n"
        "<audiofileprocessor reversed=\"0\" looped=\"1\" eframe=\"0.5\" sframe=\"0\" amp=\"100\" src=\"samples/mine.wav\"/>\n"
        "</instrument>\n"
        "<eldata fres=\"0.5\" ftype=\"0\" fcut=\"14000\"><elvol att=\"0.1\"/></eldata>\n"
        "<chordcreator chord=\"0\"/>\n"
        "</instrumenttrack></instrumenttracksettings></lmms-project>\n");
    doc = parse_ok(dir, "presets/afp.xpf");
    ASSERT_EQ_STR(JSTR(doc, "name"), "My Bass");
    ASSERT_EQ_STR(JSTR(doc, "source/format"), "lmms");
    ASSERT_EQ_STR(JSTR(doc, "source/plugin"), "audiofileprocessor");
    ASSERT_EQ_STR(JSTR(doc, "params/instrument"), "audiofileprocessor");
    ASSERT_EQ_INT(JINT(doc, "params/track/vol"), 80);
    ASSERT_EQ_INT(JINT(doc, "params/track/muted"), 0);
    JNONE(doc, "params/track/name");
    ASSERT(JREAL(doc, "params/audiofileprocessor/eframe") == 0.5);
    ASSERT_EQ_STR(JSTR(doc, "params/audiofileprocessor/src"), "samples/mine.wav");
    ASSERT_EQ_INT(JINT(doc, "params/eldata/fcut"), 14000);
    ASSERT(JREAL(doc, "params/eldata/elvol/att") == 0.1);
    ASSERT_EQ_INT(JINT(doc, "params/chordcreator/chord"), 0);
    ASSERT_EQ_INT(json_object_size(jget(doc, "zones")), 1);
    ASSERT_EQ_STR(JSTR(doc, "zones/z0001/sample/path"), pathf(dir, "presets/samples/mine.wav"));
    ASSERT_EQ_INT(JINT(doc, "zones/z0001/root"), 57);
    ASSERT_EQ_STR(JSTR(doc, "zones/z0001/loop/mode"), "loop_continuous");
    ASSERT(JREAL(doc, "zones/z0001/params/eframe") == 0.5);
    JNONE(doc, "zones/z0001/params/src");
    json_decref(doc);

    /* The user's sample folder, when the preset's has no such file. */
    test_pathf(home, sizeof home, "%s/home", dir);
    sample(home, ".lmms/samples/drums/kick.ogg");
    setenv("HOME", home, 1);
    put(dir, "presets/old.xpf",
        "<?xml version=\"1.0\"?>\n<multimediaproject version=\"1.0\">\n"
        "<channelsettings><channeltrack baseoct=\"4\" basetone=\"9\" name=\"Old One\" vol=\"100\">\n"
        "<audiofileprocessor src=\"drums/kick.ogg\" looped=\"0\"/>\n"
        "<eldata fcut=\"1\"/><arpandchords arp=\"8\"/>\n"
        "</channeltrack></channelsettings></multimediaproject>\n");
    doc = parse_ok(dir, "presets/old.xpf");
    ASSERT_EQ_STR(JSTR(doc, "name"), "Old One");
    ASSERT_EQ_STR(JSTR(doc, "source/plugin"), "audiofileprocessor");
    ASSERT_EQ_STR(JSTR(doc, "zones/z0001/sample/path"), pathf(home, ".lmms/samples/drums/kick.ogg"));
    ASSERT_EQ_INT(JINT(doc, "zones/z0001/root"), 69);
    JNONE(doc, "zones/z0001/loop");
    ASSERT_EQ_INT(JINT(doc, "params/arpandchords/arp"), 8);
    json_decref(doc);

    /* A synthesiser: no zones. */
    put(dir, "presets/synth.xpf",
        "<lmms-project><instrumenttracksettings name=\"Lead\"><instrumenttrack>\n"
        "<instrument name=\"tripleoscillator\"><tripleoscillator vol0=\"200\" userwavefile0=\"x.wav\"/></instrument>\n"
        "</instrumenttrack></instrumenttracksettings></lmms-project>\n");
    doc = parse_ok(dir, "presets/synth.xpf");
    ASSERT_EQ_INT(JINT(doc, "params/tripleoscillator/vol0"), 200);
    ASSERT_EQ_STR(JSTR(doc, "params/instrument"), "tripleoscillator");
    JNONE(doc, "zones");
    json_decref(doc);
}

/* ---- Decent Sampler ---------------------------------------------------------- */

static const char ds_preset[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<DecentSampler minVersion=\"1.0.0\">\n"
    "  <ui width=\"812\" height=\"375\"><tab name=\"main\"/></ui>\n"
    "  <groups volume=\"-3dB\" ampVelTrack=\"0.8\" rootNote=\"60\">\n"
    "    <group name=\"Soft\" loVel=\"1\" hiVel=\"64\" tuning=\"0.5\">\n"
    "      <sample path=\"Samples/C4 soft.wav\" loNote=\"55\" hiNote=\"62\" seqPosition=\"1\"/>\n"
    "      <sample path=\"Samples\\C4 soft 2.wav\" loNote=\"55\" hiNote=\"62\" seqPosition=\"2\"\n"
    "              loopStart=\"10\" loopEnd=\"900\" loopEnabled=\"true\" volume=\"0.5\"/>\n"
    "    </group>\n"
    "    <group name=\"Hard\" loVel=\"65\" hiVel=\"127\">\n"
    "      <sample path=\"Samples/C5.wav\" rootNote=\"72\" loNote=\"63\" hiNote=\"127\" loopEnabled=\"false\"/>\n"
    "    </group>\n"
    "  </groups>\n"
    "  <effects>\n"
    "    <effect type=\"lowpass\" frequency=\"22000.0\"/>\n"
    "    <effect type=\"reverb\" wetLevel=\"0.5\"/>\n"
    "  </effects>\n"
    "</DecentSampler>\n";

static void write_ds(const char *dir)
{
    sample(dir, "inst/Samples/C4 soft.wav");
    sample(dir, "inst/Samples/C4 soft 2.wav");
    sample(dir, "inst/Samples/C5.wav");
    put(dir, "inst/Grand.dspreset", ds_preset);
}

TEST(dspreset_parse)
{
    const char *dir = test_tmpdir();
    json_t *doc;

    write_ds(dir);
    doc = parse_ok(dir, "inst/Grand.dspreset");
    ASSERT_EQ_STR(JSTR(doc, "name"), "Grand");
    ASSERT_EQ_STR(JSTR(doc, "source/format"), "decentsampler");
    ASSERT_EQ_INT(json_object_size(jget(doc, "zones")), 3);
    ASSERT_EQ_STR(JSTR(doc, "zones/z0001/sample/path"), pathf(dir, "inst/Samples/C4 soft.wav"));
    ASSERT_EQ_INT(JINT(doc, "zones/z0001/root"), 60);
    ASSERT_EQ_INT(JINT(doc, "zones/z0001/key/0"), 55);
    ASSERT_EQ_INT(JINT(doc, "zones/z0001/key/1"), 62);
    ASSERT_EQ_INT(JINT(doc, "zones/z0001/vel/0"), 1);
    ASSERT_EQ_INT(JINT(doc, "zones/z0001/vel/1"), 64);
    ASSERT_EQ_INT(JINT(doc, "zones/z0001/rr"), 1);
    ASSERT_EQ_STR(JSTR(doc, "zones/z0001/group"), "Soft");
    ASSERT_EQ_STR(JSTR(doc, "zones/z0001/params/volume"), "-3dB");
    ASSERT(JREAL(doc, "zones/z0001/params/ampVelTrack") == 0.8);
    ASSERT(JREAL(doc, "zones/z0001/params/tuning") == 0.5);
    JNONE(doc, "zones/z0001/loop");
    ASSERT_EQ_STR(JSTR(doc, "zones/z0002/sample/path"), pathf(dir, "inst/Samples/C4 soft 2.wav"));
    ASSERT_EQ_INT(JINT(doc, "zones/z0002/rr"), 2);
    ASSERT_EQ_STR(JSTR(doc, "zones/z0002/loop/mode"), "loop_continuous");
    ASSERT_EQ_INT(JINT(doc, "zones/z0002/loop/start"), 10);
    ASSERT_EQ_INT(JINT(doc, "zones/z0002/loop/end"), 900);
    ASSERT(JREAL(doc, "zones/z0002/params/volume") == 0.5);
    ASSERT_EQ_INT(JINT(doc, "zones/z0003/root"), 72);
    ASSERT_EQ_INT(JINT(doc, "zones/z0003/vel/0"), 65);
    ASSERT_EQ_STR(JSTR(doc, "zones/z0003/group"), "Hard");
    ASSERT_EQ_STR(JSTR(doc, "zones/z0003/loop/mode"), "no_loop");
    ASSERT_EQ_STR(JSTR(doc, "params/effects/0/type"), "lowpass");
    ASSERT(JREAL(doc, "params/effects/0/frequency") == 22000.0);
    ASSERT_EQ_STR(JSTR(doc, "params/effects/1/type"), "reverb");
    JNONE(doc, "params/ui");
    json_decref(doc);
}

/* ---- export ------------------------------------------------------------------ */

/* Fail unless zones a and b match member by member (sample paths aside). */
static void same_zones(json_t *a, json_t *b, int with_params)
{
    static const char *const members[] = { "key", "vel", "root", "rr", "loop", "name", "group",
                                           "params", NULL };
    json_t *za = jget(a, "zones"), *zb = jget(b, "zones");
    const char *id;
    json_t *z;
    size_t i;

    ASSERT_EQ_INT(json_object_size(za), json_object_size(zb));
    json_object_foreach(za, id, z) {
        json_t *y = json_object_get(zb, id);

        ASSERT(y != NULL);
        for (i = 0; members[i]; i++) {
            char *sa, *sb;

            if (!with_params && strcmp(members[i], "params") == 0)
                continue;
            sa = json_dumps(json_object_get(z, members[i]), JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
            sb = json_dumps(json_object_get(y, members[i]), JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
            if (!(sa == sb || (sa && sb && strcmp(sa, sb) == 0)))
                test__fail(__FILE__, __LINE__, "zone %s member %s: %s != %s", id, members[i],
                           sa ? sa : "(none)", sb ? sb : "(none)");
            free(sa);
            free(sb);
        }
    }
}

/* Fail unless every zone of b refers to a file with the bytes of a's. */
static void same_samples(json_t *a, json_t *b)
{
    json_t *za = jget(a, "zones"), *z;
    const char *id;

    json_object_foreach(za, id, z) {
        const char *pa = JSTR(z, "sample/path"), *pb;
        char *da, *db;
        size_t na, nb;

        pb = json_string_value(jget(json_object_get(jget(b, "zones"), id), "sample/path"));
        ASSERT(pb != NULL);
        if (pa[0] == '*') {
            ASSERT_EQ_STR(pa, pb);
            continue;
        }
        ASSERT(strcmp(pa, pb) != 0);
        da = test_read_file(pa, &na);
        db = test_read_file(pb, &nb);
        ASSERT_EQ_INT(na, nb);
        ASSERT(memcmp(da, db, na) == 0);
        free(da);
        free(db);
    }
}

TEST(export_sfz_roundtrip)
{
    const char *dir = test_tmpdir();
    shelf__err err;
    json_t *doc, *back, *z;
    char *text;

    sample(dir, "Samples/Piano/Piano C4.wav");
    sample(dir, "Samples/Piano/sub/Piano D4.wav");
    /* Two different files of the same name, a name that needs care. */
    sample(dir, "Samples/Piano/other/Piano C4.wav");
    put(dir, "piano.sfz",
        "<control> default_path=Samples/Piano/ set_cc7=100\n"
        "<curve> curve_index=7 v000=0 v127=1\n"
        "<effect> type=fverb reverb_size=40.5\n"
        "<global> volume=-6 ampeg_release=0.5\n"
        "<group> lovel=1 hivel=64 group_label=soft one\n"
        "<region> sample=Piano C4.wav lokey=c#4 hikey=62 pitch_keycenter=c4 loopstart=100\n"
        "  loopend=2000 loop_mode=loop_continuous seq_position=2 tune=1.0 xfin_lokey=-1\n"
        "<region> sample=sub/Piano D4.wav key=62 region_label=D four cutoff=1200.5\n"
        "<region> sample=other/Piano C4.wav key=40 lokey=-1 hikey=-1\n"
        "<region> sample=*noise\n");
    doc = parse_ok(dir, "piano.sfz");
    /* A real that is a whole number stays a real. */
    ASSERT(JREAL(doc, "zones/z0001/params/tune") == 1.0);
    /* lokey=-1: no key range, the opcodes stay params. */
    ASSERT_EQ_INT(JINT(doc, "zones/z0003/params/lokey"), -1);
    JNONE(doc, "zones/z0003/key");

    memset(&err, 0, sizeof err);
    ASSERT_OKM(err.msg, shelf__patch_export_sfz(doc, pathf(dir, "out/Piano Copy.sfz"), &err));
    ASSERT(test_exists(pathf(dir, "out/Piano Copy samples/Piano C4.wav")));
    ASSERT(test_exists(pathf(dir, "out/Piano Copy samples/Piano C4-2.wav")));
    ASSERT(test_exists(pathf(dir, "out/Piano Copy samples/Piano D4.wav")));
    text = test_read_file(pathf(dir, "out/Piano Copy.sfz"), NULL);
    ASSERT(strstr(text, "sample=Piano Copy samples/Piano C4.wav\n") != NULL);
    ASSERT(strstr(text, "<control>\nset_cc7=100\n") != NULL);
    free(text);
    back = parse_ok(dir, "out/Piano Copy.sfz");
    same_zones(doc, back, 1);
    same_samples(doc, back);
    /* The sections come back too. */
    ASSERT_EQ_INT(JINT(back, "params/control/set_cc7"), 100);
    ASSERT_EQ_INT(JINT(back, "params/curves/0/curve_index"), 7);
    /* reverb_size is no SFZ opcode (sfzformat.com): left out. */
    ASSERT_EQ_STR(JSTR(back, "params/effects/0/type"), "fverb");
    JNONE(back, "params/effects/0/reverb_size");
    ASSERT_EQ_STR(JSTR(back, "name"), "Piano Copy");
    json_decref(back);

    /* Export again over it: the folder is replaced, not merged. */
    test_write_file(pathf(dir, "out/Piano Copy samples/stale.wav"), "x", 1);
    z = jget(doc, "zones");
    json_object_del(z, "z0002");
    ASSERT_OKM(err.msg, shelf__patch_export_sfz(doc, pathf(dir, "out/Piano Copy.sfz"), &err));
    ASSERT(!test_exists(pathf(dir, "out/Piano Copy samples/stale.wav")));
    ASSERT(!test_exists(pathf(dir, "out/Piano Copy samples/Piano D4.wav")));
    back = parse_ok(dir, "out/Piano Copy.sfz");
    ASSERT_EQ_INT(json_object_size(jget(back, "zones")), 3);
    json_decref(back);
    json_decref(doc);
}

TEST(export_other_formats)
{
    const char *dir = test_tmpdir();
    shelf__err err;
    json_t *doc, *back;

    memset(&err, 0, sizeof err);
    write_h2(dir);
    doc = parse_ok(dir, "kit/drumkit.xml");
    /* Zone z0005's sample is missing: that cannot be exported. */
    ASSERT_RC(SHELF_ENOTFOUND, shelf__patch_export_sfz(doc, pathf(dir, "h2/kit.sfz"), &err));
    ASSERT(strstr(err.msg, "cannot export zone z0005: sample '") == err.msg);
    ASSERT(!test_exists(pathf(dir, "h2/kit.sfz")));
    ASSERT(!test_exists(pathf(dir, "h2/kit samples")));
    json_object_del(jget(doc, "zones"), "z0005");
    ASSERT_OKM(err.msg, shelf__patch_export_sfz(doc, pathf(dir, "h2/kit.sfz"), &err));
    back = parse_ok(dir, "h2/kit.sfz");
    same_zones(doc, back, 0);
    same_samples(doc, back);
    /* Hydrogen's values come back in SFZ opcodes and units: gain 1.5 x
     * instrument volume 0.8 as dB, pitch in cents, pan_L 1 / pan_R 0.5 as
     * pan -50; nothing of Hydrogen's own names. */
    ASSERT(fabs(JREAL(back, "zones/z0001/params/volume") - 20 * log10(1.2)) < 1e-12);
    ASSERT_EQ_INT(JINT(back, "zones/z0001/params/tune"), 0);
    ASSERT(JREAL(back, "zones/z0001/params/pan") == -50.0);
    ASSERT_EQ_INT(JINT(back, "zones/z0002/params/tune"), -150);
    JNONE(back, "zones/z0001/params/gain");
    JNONE(back, "zones/z0001/params/pan_L");
    JNONE(back, "zones/z0001/params/muteGroup");
    json_decref(back);
    json_decref(doc);

    write_ds(dir);
    doc = parse_ok(dir, "inst/Grand.dspreset");
    json_object_del(doc, "params");     /* DS effects are not SFZ effects */
    ASSERT_OKM(err.msg, shelf__patch_export_sfz(doc, pathf(dir, "ds/Grand.sfz"), &err));
    back = parse_ok(dir, "ds/Grand.sfz");
    same_zones(doc, back, 0);
    same_samples(doc, back);
    /* "-3dB", ampVelTrack 0.8 and tuning 0.5 semitones in SFZ terms. */
    ASSERT(JREAL(back, "zones/z0001/params/volume") == -3.0);
    ASSERT(JREAL(back, "zones/z0001/params/amp_veltrack") == 80.0);
    ASSERT_EQ_INT(JINT(back, "zones/z0001/params/tune"), 50);
    JNONE(back, "zones/z0001/params/tuning");
    json_decref(back);
    json_decref(doc);

    /* Not a patch. */
    doc = json_pack("{s:i}", "shelf_project", 1);
    ASSERT_RC(SHELF_EINVAL, shelf__patch_export_sfz(doc, pathf(dir, "x.sfz"), &err));
    json_decref(doc);
}

TEST(export_names)
{
    const char *dir = test_tmpdir();
    shelf__err err;
    json_t *doc, *back;
    char *text;

    memset(&err, 0, sizeof err);
    sample(dir, "src/odd $name=1.wav");
    sample(dir, "src/.hidden.wav");
    doc = json_pack("{s:i, s:s, s:{s:{s:{s:s}, s:s, s:{s:s, s:b, s:f}}, s:{s:{s:s}}}}",
                    "shelf_patch", 1, "name", "N",
                    "zones",
                    "z0001", "sample", "path", pathf(dir, "src/odd $name=1.wav"),
                    "name", "a // b <c> $d\nx=1",
                    "params", "sw_label", "  spaced  ", "polyphony", 1, "amplitude", 2.0,
                    "z0002", "sample", "path", pathf(dir, "src/.hidden.wav"));
    ASSERT(doc != NULL);
    ASSERT_OKM(err.msg, shelf__patch_export_sfz(doc, pathf(dir, "out/we$ird=.sfz"), &err));
    ASSERT(test_exists(pathf(dir, "out/we_ird_ samples/odd _name_1.wav")));
    ASSERT(test_exists(pathf(dir, "out/we_ird_ samples/_hidden.wav")));
    text = test_read_file(pathf(dir, "out/we$ird=.sfz"), NULL);
    ASSERT(strstr(text, "region_label=a _/ b (c) _d x_1\n") != NULL);
    free(text);
    back = parse_ok(dir, "out/we$ird=.sfz");
    ASSERT_EQ_STR(JSTR(back, "zones/z0001/name"), "a _/ b (c) _d x_1");
    ASSERT_EQ_STR(JSTR(back, "zones/z0001/params/sw_label"), "spaced");
    ASSERT_EQ_INT(JINT(back, "zones/z0001/params/polyphony"), 1);
    ASSERT(JREAL(back, "zones/z0001/params/amplitude") == 2.0);
    same_samples(doc, back);
    json_decref(back);
    json_decref(doc);
}

/* Every "name=" of an exported SFZ is an opcode of the documented list. */
static void only_opcodes(const char *text)
{
    const char *p = text, *e, *eq;
    char name[128];

    for (; *p; p = *e ? e + 1 : e) {
        e = strchr(p, '\n');
        if (!e)
            e = p + strlen(p);
        if (*p == '/' || *p == '<' || p == e)
            continue;
        eq = memchr(p, '=', (size_t)(e - p));
        ASSERT(eq != NULL);
        snprintf(name, sizeof name, "%.*s", (int)(eq - p), p);
        if (!shelf__sfz_is_opcode(name))
            test__fail(__FILE__, __LINE__, "'%s' is not an SFZ opcode", name);
    }
}

/*
 * The exporter's opcode table is the documented list in the tree
 * (tests/data/sfz-opcodes.txt, from sfzformat.com): every documented name,
 * with numbers in place of N, X, Y, is accepted, and the table has no
 * entry the list does not have.
 */
TEST(sfz_opcode_list)
{
    char path[4096], *text, *line, *next, name[128];
    size_t n = 0, i, k;

    test_pathf(path, sizeof path, "%s/sfz-opcodes.txt", SHELF_TEST_DATA);
    text = test_read_file(path, NULL);
    for (line = text; line && *line; line = next) {
        if ((next = strchr(line, '\n')) != NULL)
            *next++ = '\0';
        if (!*line || line[0] == '/')
            continue;
        for (i = k = 0; line[i] && k + 4 < sizeof name; i++) {
            if (line[i] >= 'A' && line[i] <= 'Z') {
                while (line[i + 1] >= 'A' && line[i + 1] <= 'Z')
                    i++;
                name[k++] = '1';
                name[k++] = '2';
            } else {
                name[k++] = line[i];
            }
        }
        name[k] = '\0';
        if (!shelf__sfz_is_opcode(name))
            test__fail(__FILE__, __LINE__, "documented opcode %s (%s) not accepted", line, name);
        n++;
    }
    free(text);
    ASSERT(n > 500);
    /* Two documented names can fold into one entry (cutoff2, cutoffN...). */
    ASSERT(shelf__sfz_opcode_count() <= n);
    ASSERT(shelf__sfz_opcode_count() > 500);
    /* Modulations, and names that are not opcodes. */
    ASSERT(shelf__sfz_is_opcode("volume_oncc7"));
    ASSERT(shelf__sfz_is_opcode("tune_curvecc1"));
    ASSERT(shelf__sfz_is_opcode("eq3_gaincc64"));
    ASSERT(!shelf__sfz_is_opcode("reverb_size"));
    ASSERT(!shelf__sfz_is_opcode("gain"));
    ASSERT(!shelf__sfz_is_opcode("muteGroup"));
    ASSERT(!shelf__sfz_is_opcode("volume_oncc"));
    ASSERT(!shelf__sfz_is_opcode(""));
}

/*
 * What an SFZ export writes.  Regression test, fixed
 * (lib/patch/sfz_export.c): every zone param became a region opcode,
 * whatever its name and units (Hydrogen's gain=1.5, muteGroup=-1,
 * Decent Sampler's tuning), shared values were repeated in every region,
 * a synthesizer patch was written as an SFZ with no regions, and any file
 * name was taken (kit.txt).
 */
TEST(export_sfz_headers_units)
{
    const char *dir = test_tmpdir();
    shelf__err err;
    json_t *doc, *back;
    char *text, *g1, *g2;

    memset(&err, 0, sizeof err);
    sample(dir, "hd/a.wav");
    sample(dir, "hd/b.wav");
    sample(dir, "hd/c.wav");
    put(dir, "hd/h.sfz",
        "<global> volume=-6 ampeg_release=0.5 my_own_thing=3\n"
        "<group> group_label=soft cutoff=800 lovel=1 hivel=64\n"
        "<region> sample=a.wav key=60 tune=10\n"
        "<region> sample=b.wav key=62 tune=-10\n"
        "<group> group_label=hard cutoff=4000 lovel=65 hivel=127\n"
        "<region> sample=c.wav key=60 volume=-3\n");
    doc = parse_ok(dir, "hd/h.sfz");
    ASSERT_OKM(err.msg, shelf__patch_export_sfz(doc, pathf(dir, "hd/out/h.sfz"), &err));
    text = test_read_file(pathf(dir, "hd/out/h.sfz"), NULL);
    only_opcodes(text);
    ASSERT(strstr(text, "my_own_thing") == NULL);
    /* Shared by all zones: <global>, once. */
    ASSERT(strstr(text, "\n<global>\nampeg_release=0.5\n") != NULL);
    ASSERT(strstr(strstr(text, "ampeg_release") + 1, "ampeg_release") == NULL);
    /* Shared by a group: its <group>, once. */
    g1 = strstr(text, "\n<group>\ngroup_label=soft\ncutoff=800\nvolume=-6\n");
    g2 = strstr(text, "\n<group>\ngroup_label=hard\ncutoff=4000\nvolume=-3\n");
    ASSERT(g1 != NULL && g2 != NULL && g1 < g2);
    ASSERT(strstr(text, "cutoff=800\n") == strstr(g1, "cutoff=800\n"));
    free(text);
    /* And back: the same zones and params. */
    back = parse_ok(dir, "hd/out/h.sfz");
    json_object_del(jget(doc, "zones/z0001/params"), "my_own_thing");
    json_object_del(jget(doc, "zones/z0002/params"), "my_own_thing");
    json_object_del(jget(doc, "zones/z0003/params"), "my_own_thing");
    same_zones(doc, back, 1);
    same_samples(doc, back);
    json_decref(back);

    /* Only .sfz file names. */
    ASSERT_RC(SHELF_EINVAL, shelf__patch_export_sfz(doc, pathf(dir, "hd/out/h.txt"), &err));
    ASSERT_EQ_STR(err.msg + strlen(err.msg) - strlen("an SFZ file name ends in .sfz"),
                  "an SFZ file name ends in .sfz");
    ASSERT(!test_exists(pathf(dir, "hd/out/h.txt")));
    ASSERT_OKM(err.msg, shelf__patch_export_sfz(doc, pathf(dir, "hd/out/UP.SFZ"), &err));
    json_decref(doc);

    /* A synthesizer: refused with one line, nothing written. */
    doc = json_pack("{s:i, s:s, s:{s:s}, s:{s:{s:i}}}", "shelf_patch", 1, "name", "Pad",
                    "source", "format", "zyn", "params", "amp", "volume", 90);
    ASSERT(doc != NULL);
    ASSERT_RC(SHELF_EFORMAT, shelf__patch_export_sfz(doc, pathf(dir, "hd/out/pad.sfz"), &err));
    ASSERT_EQ_STR(err.msg, "cannot export 'Pad' as SFZ: it has no sample zones (a synthesizer patch)");
    ASSERT(!test_exists(pathf(dir, "hd/out/pad.sfz")));
    json_decref(doc);
}

/* ---- allocation failures ----------------------------------------------------- */

TEST(alloc_failures)
{
    static const char *const files[] = { "piano.sfz", "kit/drumkit.xml", "inst/Grand.dspreset",
                                         "plain.xiz" };
    const char *dir = test_tmpdir();
    shelf__err err;
    json_t *doc, *want;
    size_t f;
    long n;
    int rc, failures, hit;

    write_piano(dir);
    write_h2(dir);
    write_ds(dir);
    put(dir, "plain.xiz", zyn_xml);
    /* libxml2 and jansson allocate through the hook too: some of their
     * failures are absorbed (a smaller buffer, a retry); the parse then
     * succeeds and must give the document of a clean run. */
    for (f = 0; f < sizeof files / sizeof files[0]; f++) {
        want = NULL;
        ASSERT_OKM(err.msg, shelf__patch_parse(pathf(dir, files[f]), 0, &want, &err));
        failures = 0;
        for (n = 1; n < 5000; n++) {
            shelf__alloc_fail_after(n);
            doc = NULL;
            rc = shelf__patch_parse(pathf(dir, files[f]), 0, &doc, &err);
            hit = fault_hit(n);
            shelf__alloc_fail_after(0);
            if (rc == SHELF_OK) {
                check_doc(doc);
                if (!json_equal(doc, want))
                    test__fail(__FILE__, __LINE__, "%s, allocation %ld: OK with another document",
                               files[f], n);
                json_decref(doc);
            } else {
                if (rc != SHELF_ENOMEM)
                    test__fail(__FILE__, __LINE__, "%s, allocation %ld: %s: %s", files[f], n,
                               shelf_strerror(rc), err.msg);
                ASSERT_EQ_STR(err.msg, "out of memory");
                ASSERT(doc == NULL);
                failures++;
            }
            if (!hit)
                break;
        }
        json_decref(want);
        printf("    %s: %ld allocation points, %d failed cleanly\n", files[f], n, failures);
        ASSERT(failures > 3);
        ASSERT(n < 5000);
    }
}

int main(int argc, char **argv)
{
    static const test_case tests[] = {
        TEST_ENTRY(format_names),   TEST_ENTRY(unreadable),       TEST_ENTRY(sfz_parse),
        TEST_ENTRY(sfz_types),      TEST_ENTRY(sfz_include),      TEST_ENTRY(sfz_opcode_list),      TEST_ENTRY(export_sfz_headers_units),      TEST_ENTRY(sfz_include_confined),      TEST_ENTRY(sfz_errors),
        TEST_ENTRY(sfz_values),     TEST_ENTRY(sfz_case_fallback), TEST_ENTRY(hydrogen_parse),
        TEST_ENTRY(xml_errors),     TEST_ENTRY(empty_and_binary), TEST_ENTRY(zyn_parse),
        TEST_ENTRY(zyn_bad_gzip),   TEST_ENTRY(lmms_parse),       TEST_ENTRY(dspreset_parse),
        TEST_ENTRY(export_sfz_roundtrip), TEST_ENTRY(export_other_formats),
        TEST_ENTRY(export_names),
        TEST_ENTRY(alloc_failures), TEST_END,
    };

    return test_run(argc, argv, tests);
}
