/*
 * sfz.c: the SFZ importer (https://sfzformat.com).  Reads headers <control>
 * <global> <master> <group> <region> <curve> <effect> <midi>, opcodes
 * key=value (a value may hold spaces: it ends where the next "opcode=" or
 * "<header>" begins), // and block comments, #define $NAME value with $NAME
 * expansion, #include "file" (relative to the including file, nested at
 * most SHELF__PF_MAX_INCLUDE_DEPTH deep, cycles refused; only regular files
 * inside the folder tree of the imported file: an absolute path, or one
 * that leaves that tree through ".." or a symbolic link, is refused before
 * anything is opened, so no other file's text can show in a message) and
 * default_path,
 * note_offset, octave_offset in <control>.
 *
 * Each <region> with a sample becomes a zone after inheritance (global ->
 * master -> group -> region; a <global> clears master and group, a
 * <master> clears group): lokey/hikey/key (numbers or note names, c4 = 60)
 * -> key, pitch_keycenter -> root, lovel/hivel -> vel (lovel defaults to
 * 1, as in SFZ), seq_position -> rr, loop_mode/loop_start/loop_end (and the
 * loopmode/loopstart/loopend spellings) -> loop, region_label -> name,
 * group_label -> group, and every other opcode -> zone params (numbers as
 * numbers).  Sample paths are relative to the top file's folder with
 * default_path in front.  A few common opcodes get units and ranges in
 * "types".  <control> opcodes other than default_path and the offsets go
 * to params/control, curves to params/curves, effects to params/effects,
 * <midi> to params/midi.  The patch is named after the file.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "formats_int.h"

enum { H_NONE, H_CONTROL, H_GLOBAL, H_MASTER, H_GROUP, H_REGION, H_CURVE, H_EFFECT, H_MIDI };
enum { L_GLOBAL, L_MASTER, L_GROUP, L_REGION, L_COUNT };

static const struct {
    const char *name;
    int id;
} headers[] = {
    { "control", H_CONTROL }, { "global", H_GLOBAL }, { "master", H_MASTER },
    { "group", H_GROUP },     { "region", H_REGION }, { "curve", H_CURVE },
    { "effect", H_EFFECT },   { "midi", H_MIDI },
};

/* Units and ranges of common opcodes, for doc.types (at most 16: sfz.types). */
static const struct {
    const char *opcode, *type, *unit;
    double min, max;
    int has_max;
} known_types[] = {
    { "volume", "number", "dB", -144, 6, 1 },
    { "pan", "number", "%", -100, 100, 1 },
    { "width", "number", "%", -100, 100, 1 },
    { "position", "number", "%", -100, 100, 1 },
    { "amp_veltrack", "number", "%", -100, 100, 1 },
    { "tune", "number", "cents", -9600, 9600, 1 },
    { "transpose", "integer", "semitones", -127, 127, 1 },
    { "cutoff", "number", "Hz", 0, 0, 0 },
    { "resonance", "number", "dB", 0, 40, 1 },
    { "offset", "integer", "frames", 0, 0, 0 },
    { "ampeg_delay", "number", "s", 0, 100, 1 },
    { "ampeg_attack", "number", "s", 0, 100, 1 },
    { "ampeg_hold", "number", "s", 0, 100, 1 },
    { "ampeg_decay", "number", "s", 0, 100, 1 },
    { "ampeg_sustain", "number", "%", 0, 100, 1 },
    { "ampeg_release", "number", "s", 0, 100, 1 },
};

_Static_assert(sizeof known_types / sizeof known_types[0] <= 16, "sfz.types holds 16");

typedef struct sfz_def {
    char *name;     /* without the $ */
    char *value;
} sfz_def;

typedef struct sfz {
    shelf__pf_ctx *cx;
    json_t *doc;
    json_t *level[L_COUNT];
    json_t *control, *curves, *effects, *midi;
    json_t *target;             /* object receiving opcodes of curve/effect/midi/control */
    int cur;                    /* H_... of the header we are in */
    char rfile[256];            /* where the current <region> began */
    int rline;
    char *default_path;
    long long note_offset, octave_offset;
    sfz_def *defs;
    size_t ndefs, capdefs;
    char *stack[SHELF__PF_MAX_INCLUDE_DEPTH + 1];   /* files being read */
    char *tree;                 /* the imported file's folder: includes stay under it */
    int depth;
    size_t total;               /* bytes read, includes too */
    size_t expanded;            /* bytes made by $ expansion */
    long skipped;               /* regions without a sample */
    shelf__buf exp;             /* the line after expansion */
    json_t *types[16];          /* made once per opcode of known_types, shared by zones */
} sfz;

__attribute__((format(printf, 4, 5)))
static int fail(sfz *s, const char *file, int line, const char *fmt, ...)
{
    char msg[768];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return shelf__seterr(s->cx->err, SHELF_EFORMAT, "%s:%d: %s", file, line, msg);
}

static int nomem(sfz *s)
{
    return shelf__seterr(s->cx->err, SHELF_ENOMEM, "out of memory");
}

static const char *base_name(const char *path)
{
    const char *b = strrchr(path, '/');

    return b ? b + 1 : path;
}

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

static int is_opchar(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

/* A note: a MIDI number or a name such as c4, C#4, eb-1 (c4 = 60). */
static int note_value(const char *v, long long *out)
{
    static const int semis[7] = { 9, 11, 0, 2, 4, 5, 7 };    /* a b c d e f g */
    const char *p = v;
    long long oct;
    int n;

    if (shelf__pf_int(v, out) == 0)
        return 0;
    if (!*p || tolower((unsigned char)*p) < 'a' || tolower((unsigned char)*p) > 'g')
        return -1;
    n = semis[tolower((unsigned char)*p) - 'a'];
    p++;
    if (*p == '#')
        n++, p++;
    else if (*p == 'b' && (p[1] == '-' || isdigit((unsigned char)p[1])))
        n--, p++;
    if (shelf__pf_int(p, &oct) != 0 || *p == '+' || oct < -1 || oct > 9)
        return -1;
    *out = (oct + 1) * 12 + n;
    return 0;
}

/* ---- opcodes ------------------------------------------------------------- */

static int set(sfz *s, json_t *obj, const char *key, json_t *v)
{
    if (!v || json_object_set_new(obj, key, v) != 0)
        return nomem(s);
    return SHELF_OK;
}

/* A key opcode: a note shifted by note_offset and octave_offset; -1 is
 * allowed for lokey/hikey (regions played only by controllers). */
static int key_value(sfz *s, const char *file, int line, const char *key, const char *val,
                     long long *out)
{
    long long n;

    if (note_value(val, &n) != 0)
        return fail(s, file, line, "bad note '%.64s' for %s", val, key);
    if (n >= 0)
        n += s->note_offset + 12 * s->octave_offset;
    if (n < -1 || n > 127 || (n == -1 && strcmp(key, "pitch_keycenter") == 0))
        return fail(s, file, line, "note %.64s for %s is out of range", val, key);
    *out = n;
    return SHELF_OK;
}

static int int_value(sfz *s, const char *file, int line, const char *key, const char *val,
                     long long min, long long max, long long *out)
{
    if (shelf__pf_int(val, out) != 0)
        return fail(s, file, line, "bad number '%.64s' for %s", val, key);
    if (*out < min || *out > max)
        return fail(s, file, line, "%s=%lld is out of range (%lld to %lld)", key, *out, min, max);
    return SHELF_OK;
}

/* An opcode inside <global>, <master>, <group> or <region>. */
static int level_opcode(sfz *s, json_t *obj, const char *file, int line, const char *key,
                        const char *val)
{
    static const char *const modes[] = { "no_loop", "one_shot", "loop_continuous",
                                         "loop_sustain", NULL };
    long long n;
    int rc, i;

    if (strcmp(key, "loopmode") == 0)
        key = "loop_mode";
    else if (strcmp(key, "loopstart") == 0)
        key = "loop_start";
    else if (strcmp(key, "loopend") == 0)
        key = "loop_end";

    if (strcmp(key, "key") == 0) {
        if ((rc = key_value(s, file, line, key, val, &n)) != SHELF_OK)
            return rc;
        if (n < 0)
            return fail(s, file, line, "note %.64s for key is out of range", val);
        if ((rc = set(s, obj, "lokey", json_integer(n))) != SHELF_OK ||
            (rc = set(s, obj, "hikey", json_integer(n))) != SHELF_OK)
            return rc;
        return set(s, obj, "pitch_keycenter", json_integer(n));
    }
    if (strcmp(key, "lokey") == 0 || strcmp(key, "hikey") == 0 ||
        (strcmp(key, "pitch_keycenter") == 0 && strcmp(val, "sample") != 0)) {
        if ((rc = key_value(s, file, line, key, val, &n)) != SHELF_OK)
            return rc;
        return set(s, obj, key, json_integer(n));
    }
    if (strcmp(key, "lovel") == 0 || strcmp(key, "hivel") == 0) {
        if ((rc = int_value(s, file, line, key, val, 0, 127, &n)) != SHELF_OK)
            return rc;
        return set(s, obj, key, json_integer(n));
    }
    if (strcmp(key, "seq_position") == 0) {
        if ((rc = int_value(s, file, line, key, val, 1, 1000000, &n)) != SHELF_OK)
            return rc;
        return set(s, obj, key, json_integer(n));
    }
    if (strcmp(key, "loop_start") == 0 || strcmp(key, "loop_end") == 0) {
        if ((rc = int_value(s, file, line, key, val, 0, (long long)1 << 53, &n)) != SHELF_OK)
            return rc;
        return set(s, obj, key, json_integer(n));
    }
    if (strcmp(key, "loop_mode") == 0) {
        for (i = 0; modes[i] && strcmp(modes[i], val) != 0; i++)
            ;
        if (!modes[i])
            return fail(s, file, line, "unknown loop_mode '%.64s'", val);
        return set(s, obj, key, json_string(modes[i]));
    }
    /* Names stay text even when they look like numbers.  A sample is a
     * file name: its bytes, as text (shelf_name_escape), not Latin-1. */
    if (strcmp(key, "sample") == 0) {
        char *text = shelf_name_escape(val, 0);
        json_t *j = text ? json_string(text) : NULL;

        free(text);
        return set(s, obj, key, j);
    }
    if (strstr(key, "label"))
        return set(s, obj, key, shelf__pf_string(val, strlen(val)));
    return set(s, obj, key, shelf__pf_value(val));
}

static int opcode(sfz *s, const char *file, int line, const char *key, const char *val)
{
    long long n;
    size_t i;
    int rc;

    switch (s->cur) {
    case H_NONE:
        return fail(s, file, line, "opcode '%.64s' before any header", key);
    case H_CONTROL:
        if (strcmp(key, "default_path") == 0) {
            free(s->default_path);
            if (!(s->default_path = shelf__strdup(val)))
                return nomem(s);
            for (i = 0; s->default_path[i]; i++)
                if (s->default_path[i] == '\\')
                    s->default_path[i] = '/';
            return SHELF_OK;
        }
        if (strcmp(key, "note_offset") == 0 || strcmp(key, "octave_offset") == 0) {
            if ((rc = int_value(s, file, line, key, val, -127, 127, &n)) != SHELF_OK)
                return rc;
            if (key[0] == 'n')
                s->note_offset = n;
            else
                s->octave_offset = n;
            return SHELF_OK;
        }
        return set(s, s->target, key,
                   strstr(key, "label") ? shelf__pf_string(val, strlen(val)) : shelf__pf_value(val));
    case H_CURVE:
    case H_EFFECT:
    case H_MIDI:
        return set(s, s->target, key, shelf__pf_value(val));
    case H_GLOBAL:
        return level_opcode(s, s->level[L_GLOBAL], file, line, key, val);
    case H_MASTER:
        return level_opcode(s, s->level[L_MASTER], file, line, key, val);
    case H_GROUP:
        return level_opcode(s, s->level[L_GROUP], file, line, key, val);
    default:
        return level_opcode(s, s->level[L_REGION], file, line, key, val);
    }
}

/* ---- regions -> zones ------------------------------------------------------ */

static json_int_t take_int(json_t *merged, const char *key, json_int_t dflt, int *found)
{
    json_t *v = json_object_get(merged, key);

    if (!json_is_integer(v))
        return dflt;
    *found = 1;
    return json_integer_value(v);
}

static int add_types(sfz *s, json_t *params)
{
    json_t *types = json_object_get(s->doc, "types"), *t, *v;
    char path[160];
    size_t i;

    for (i = 0; i < sizeof known_types / sizeof known_types[0]; i++) {
        v = json_object_get(params, known_types[i].opcode);
        if (!json_is_number(v))
            continue;
        if (!types) {
            if (!(types = json_object()) || json_object_set_new(s->doc, "types", types) != 0)
                return nomem(s);
        }
        snprintf(path, sizeof path, "zones/z%04d/params/%s", s->cx->zones, known_types[i].opcode);
        /* One object per opcode, referred to by every zone (never changed
         * in place: the document is dumped, not edited, after the parse). */
        if (!(t = s->types[i]))
            t = s->types[i] =
                known_types[i].has_max
                    ? json_pack("{s:s, s:s, s:f, s:f}", "type", known_types[i].type, "unit",
                                known_types[i].unit, "min", known_types[i].min, "max",
                                known_types[i].max)
                    : json_pack("{s:s, s:s, s:f}", "type", known_types[i].type, "unit",
                                known_types[i].unit, "min", known_types[i].min);
        if (!t || json_object_set(types, path, t) != 0)
            return nomem(s);
    }
    return SHELF_OK;
}

/* The region just ended becomes a zone (when it has a sample). */
static int finish_region(sfz *s)
{
    json_t *merged = json_object(), *zone = NULL, *v, *loop;
    json_int_t lo, hi, a, b;
    char *path = NULL;
    const char *sample;
    int rc = SHELF_OK, i, has, has2;

    if (!merged)
        return nomem(s);
    for (i = 0; i < L_COUNT; i++)
        if (json_object_update(merged, s->level[i]) != 0)
            goto nomem;
    v = json_object_get(merged, "sample");
    if (!json_is_string(v)) {
        s->skipped++;
        goto out;
    }
    if (!(zone = json_object()))
        goto nomem;
    sample = json_string_value(v);
    if (sample[0] == '*') {
        /* A built-in generator (*sine, *noise...): no file to refer to. */
        if (json_object_set_new(zone, "sample", json_pack("{s:s, s:b}", "path", sample,
                                                          "missing", 1)) != 0)
            goto nomem;
    } else {
        char *raw = NULL;

        if (shelf_name_unescape(sample, &raw) == SHELF_ENOMEM)
            goto nomem;
        path = shelf__asprintf("%s%s", s->default_path ? s->default_path : "", raw ? raw : sample);
        free(raw);
        if (!path)
            goto nomem;
        if ((rc = shelf__pf_zone_sample(s->cx, zone, path, NULL, NULL)) != SHELF_OK)
            goto out;
    }
    json_object_del(merged, "sample");

    has = 0;
    lo = take_int(merged, "lokey", 0, &has);
    hi = take_int(merged, "hikey", 127, &has);
    if (has && lo >= 0 && hi >= 0) {
        if (lo > hi) {
            rc = fail(s, s->rfile, s->rline, "lokey %lld is above hikey %lld", (long long)lo,
                      (long long)hi);
            goto out;
        }
        if (json_object_set_new(zone, "key", shelf__pf_range(lo, hi)) != 0)
            goto nomem;
        json_object_del(merged, "lokey");
        json_object_del(merged, "hikey");
    }
    v = json_object_get(merged, "pitch_keycenter");
    if (json_is_integer(v)) {
        if (json_object_set(zone, "root", v) != 0)
            goto nomem;
        json_object_del(merged, "pitch_keycenter");
    }
    has = 0;
    lo = take_int(merged, "lovel", 1, &has);
    hi = take_int(merged, "hivel", 127, &has);
    if (has) {
        if (lo > hi) {
            rc = fail(s, s->rfile, s->rline, "lovel %lld is above hivel %lld", (long long)lo,
                      (long long)hi);
            goto out;
        }
        if (json_object_set_new(zone, "vel", shelf__pf_range(lo, hi)) != 0)
            goto nomem;
        json_object_del(merged, "lovel");
        json_object_del(merged, "hivel");
    }
    v = json_object_get(merged, "seq_position");
    if (json_is_integer(v)) {
        if (json_object_set(zone, "rr", v) != 0)
            goto nomem;
        json_object_del(merged, "seq_position");
    }
    has = has2 = 0;
    a = take_int(merged, "loop_start", 0, &has);
    b = take_int(merged, "loop_end", 0, &has2);
    v = json_object_get(merged, "loop_mode");
    if (has || has2 || v) {
        if (has && has2 && a > b) {
            rc = fail(s, s->rfile, s->rline, "loop_start %lld is after loop_end %lld",
                      (long long)a, (long long)b);
            goto out;
        }
        if (!(loop = json_object()))
            goto nomem;
        if ((v && json_object_set(loop, "mode", v) != 0) ||
            (has && json_object_set_new(loop, "start", json_integer(a)) != 0) ||
            (has2 && json_object_set_new(loop, "end", json_integer(b)) != 0)) {
            json_decref(loop);
            goto nomem;
        }
        if (json_object_set_new(zone, "loop", loop) != 0)
            goto nomem;
        json_object_del(merged, "loop_mode");
        json_object_del(merged, "loop_start");
        json_object_del(merged, "loop_end");
    }
    v = json_object_get(merged, "region_label");
    if (json_is_string(v) && json_string_length(v)) {
        /* Through set_text: names have a length limit. */
        if (shelf__pf_set_text(zone, "name", json_string_value(v)) != SHELF_OK)
            goto nomem;
        json_object_del(merged, "region_label");
    }
    v = json_object_get(merged, "group_label");
    if (json_is_string(v) && json_string_length(v)) {
        if (shelf__pf_set_text(zone, "group", json_string_value(v)) != SHELF_OK)
            goto nomem;
        json_object_del(merged, "group_label");
    }
    if (json_object_size(merged) && json_object_set(zone, "params", merged) != 0)
        goto nomem;
    rc = shelf__pf_add_zone(s->cx, s->doc, zone);
    zone = NULL;
    if (rc == SHELF_OK && json_object_size(merged))
        rc = add_types(s, merged);
    goto out;
nomem:
    rc = nomem(s);
out:
    free(path);
    json_decref(zone);
    json_decref(merged);
    return rc;
}

/* ---- headers --------------------------------------------------------------- */

/* Append a new object to *arr (made when NULL); the object is borrowed. */
static json_t *append_obj(sfz *s, json_t **arr)
{
    json_t *o;

    if (!*arr && !(*arr = json_array()))
        return NULL;
    if (!(o = json_object()) || json_array_append_new(*arr, o) != 0)
        return NULL;
    (void)s;
    return o;
}

static int header(sfz *s, const char *file, int line, int id)
{
    int rc, i, from = L_COUNT;

    if (s->cur == H_REGION && (rc = finish_region(s)) != SHELF_OK)
        return rc;
    s->cur = id;
    s->target = NULL;
    switch (id) {
    case H_CONTROL:
        if (!s->control && !(s->control = json_object()))
            return nomem(s);
        s->target = s->control;
        break;
    case H_GLOBAL: from = L_GLOBAL; break;
    case H_MASTER: from = L_MASTER; break;
    case H_GROUP: from = L_GROUP; break;
    case H_REGION:
        from = L_REGION;
        snprintf(s->rfile, sizeof s->rfile, "%s", file);
        s->rline = line;
        break;
    case H_CURVE:
        if (!(s->target = append_obj(s, &s->curves)))
            return nomem(s);
        break;
    case H_EFFECT:
        if (!(s->target = append_obj(s, &s->effects)))
            return nomem(s);
        break;
    case H_MIDI:
        if (!s->midi && !(s->midi = json_object()))
            return nomem(s);
        s->target = s->midi;
        break;
    }
    for (i = from; i < L_COUNT; i++)
        json_object_clear(s->level[i]);
    return SHELF_OK;
}

/* ---- lines ----------------------------------------------------------------- */

/* The definition whose name is ident[0..n), or else the longest that is a
 * prefix of it; *len receives its length. */
static const sfz_def *lookup(const sfz *s, const char *ident, size_t n, size_t *len)
{
    const sfz_def *best = NULL;
    size_t i, l;

    for (i = 0; i < s->ndefs; i++) {
        l = strlen(s->defs[i].name);
        if (l <= n && memcmp(s->defs[i].name, ident, l) == 0 && (!best || l > *len)) {
            best = &s->defs[i];
            *len = l;
        }
    }
    return best;
}

/* Replace $NAME in line by its definition into s->exp. */
static int expand(sfz *s, const char *file, int lineno, const char *line)
{
    const char *p = line, *d;
    const sfz_def *def;
    size_t n, len = 0;

    shelf__buf_reset(&s->exp);
    if (shelf__buf_add(&s->exp, "", 0) != SHELF_OK)
        return nomem(s);
    while ((d = strchr(p, '$')) != NULL) {
        if (shelf__buf_add(&s->exp, p, (size_t)(d - p)) != SHELF_OK)
            return nomem(s);
        for (n = 0; is_opchar(d[1 + n]); n++)
            ;
        if (n == 0) {
            if (shelf__buf_add(&s->exp, "$", 1) != SHELF_OK)
                return nomem(s);
            p = d + 1;
            continue;
        }
        if (!(def = lookup(s, d + 1, n, &len)))
            return fail(s, file, lineno, "undefined variable $%.*s", (int)(n > 64 ? 64 : n), d + 1);
        if (shelf__buf_adds(&s->exp, def->value) != SHELF_OK)
            return nomem(s);
        s->expanded += strlen(def->value);
        if (s->expanded > SHELF__PF_MAX_BYTES)
            return fail(s, file, lineno, "more than %zu MiB of text after #define expansion",
                        SHELF__PF_MAX_BYTES >> 20);
        p = d + 1 + len;
    }
    if (shelf__buf_adds(&s->exp, p) != SHELF_OK)
        return nomem(s);
    return SHELF_OK;
}

static int define(sfz *s, const char *file, int line, const char *p)
{
    const char *name, *val;
    size_t n, vn, i;
    char *nm = NULL, *v = NULL;
    sfz_def *nd;
    int rc;

    while (is_ws(*p))
        p++;
    if (*p != '$')
        return fail(s, file, line, "#define needs a $NAME and a value");
    name = ++p;
    for (n = 0; is_opchar(name[n]); n++)
        ;
    if (!n || (name[n] && !is_ws(name[n])))
        return fail(s, file, line, "#define needs a $NAME and a value");
    for (val = name + n; is_ws(*val); val++)
        ;
    for (vn = strlen(val); vn && is_ws(val[vn - 1]); vn--)
        ;
    if (!vn)
        return fail(s, file, line, "#define $%.*s has no value", (int)(n > 64 ? 64 : n), name);
    /* The value is expanded now, with the definitions made so far. */
    if (!(v = shelf__strndup(val, vn)))
        return nomem(s);
    if ((rc = expand(s, file, line, v)) != SHELF_OK)
        goto out;
    free(v);
    v = shelf__buf_detach(&s->exp);
    if (!v || !(nm = shelf__strndup(name, n))) {
        rc = nomem(s);
        goto out;
    }
    for (i = 0; i < s->ndefs; i++) {
        if (strcmp(s->defs[i].name, nm) == 0) {
            free(s->defs[i].value);
            s->defs[i].value = v;
            v = NULL;
            rc = SHELF_OK;
            goto out;
        }
    }
    if (s->ndefs == s->capdefs) {
        size_t cap = s->capdefs ? 2 * s->capdefs : 16;

        if (!(nd = shelf__realloc(s->defs, cap * sizeof *nd))) {
            rc = nomem(s);
            goto out;
        }
        s->defs = nd;
        s->capdefs = cap;
    }
    s->defs[s->ndefs].name = nm;
    s->defs[s->ndefs].value = v;
    s->ndefs++;
    nm = v = NULL;
    rc = SHELF_OK;
out:
    free(nm);
    free(v);
    return rc;
}

static int parse_text(sfz *s, const char *text, size_t n, const char *file, const char *dir);

static int include(sfz *s, const char *file, int line, const char *dir, const char *p)
{
    char *spec = NULL, *joined = NULL, *abs = NULL, *data = NULL, *idir = NULL, *slash;
    const char *q;
    size_t len, i;
    shelf__err sub;
    int rc, k;

    if ((rc = expand(s, file, line, p)) != SHELF_OK)
        return rc;
    p = s->exp.buf;
    while (is_ws(*p))
        p++;
    if (*p == '"') {
        if (!(q = strchr(p + 1, '"')))
            return fail(s, file, line, "#include needs a \"file\"");
        p++;
        len = (size_t)(q - p);
    } else {
        for (len = strlen(p); len && is_ws(p[len - 1]); len--)
            ;
    }
    if (!len)
        return fail(s, file, line, "#include needs a \"file\"");
    if (!dir)
        return fail(s, file, line, "#include is not allowed here");
    if (s->depth >= SHELF__PF_MAX_INCLUDE_DEPTH)
        return fail(s, file, line, "#include nested more than %d deep",
                    SHELF__PF_MAX_INCLUDE_DEPTH);
    if (!(spec = shelf__strndup(p, len)))
        return nomem(s);
    for (i = 0; spec[i]; i++)
        if (spec[i] == '\\')
            spec[i] = '/';
    if (spec[0] == '/') {
        rc = fail(s, file, line, "cannot include '%.200s': an absolute path", spec);
        goto out;
    }
    if (!(joined = shelf__path_join(dir, spec)) || !(abs = shelf__path_abs(joined))) {
        rc = nomem(s);
        goto out;
    }
    if (!s->tree || !shelf__path_under(abs, s->tree)) {
        rc = fail(s, file, line, "cannot include '%.200s': outside the folder of %s", spec,
                  base_name(s->cx->name));
        goto out;
    }
    for (k = 0; k < s->depth; k++) {
        if (s->stack[k] && strcmp(s->stack[k], abs) == 0) {
            rc = fail(s, file, line, "#include of '%.200s' makes a cycle", spec);
            goto out;
        }
    }
    memset(&sub, 0, sizeof sub);
    if ((rc = shelf__pf_read_file(abs, SHELF__PF_MAX_BYTES - s->total, &data, &len, &sub)) !=
        SHELF_OK) {
        if (rc == SHELF_ENOMEM)
            rc = nomem(s);
        else if (rc == SHELF_EFORMAT && strstr(sub.msg, "too large"))
            rc = fail(s, file, line, "cannot include '%.200s': more than %zu MiB in all", spec,
                      SHELF__PF_MAX_BYTES >> 20);
        else
            rc = fail(s, file, line, "cannot include '%.200s': %s", spec,
                      strrchr(sub.msg, ':') ? strrchr(sub.msg, ':') + 2 : sub.msg);
        goto out;
    }
    s->total += len;
    if (!(idir = shelf__strdup(abs))) {
        rc = nomem(s);
        goto out;
    }
    slash = strrchr(idir, '/');
    if (slash == idir)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    s->stack[s->depth++] = abs;
    rc = parse_text(s, data, len, base_name(abs), idir);
    s->stack[--s->depth] = NULL;
out:
    free(idir);
    free(data);
    free(abs);
    free(joined);
    free(spec);
    return rc;
}

/* Headers and opcodes of one line (after expansion), NUL-terminated. */
static int tokens(sfz *s, const char *file, int line, char *l)
{
    size_t p = 0, k, q, r, t, e, i;
    char saved;
    int rc;

    for (;;) {
        while (is_ws(l[p]))
            p++;
        if (!l[p])
            return SHELF_OK;
        if (l[p] == '<') {
            for (q = p + 1; l[q] && l[q] != '>' && l[q] != '<'; q++)
                ;
            if (l[q] != '>')
                return fail(s, file, line, "unterminated header <%.*s", (int)(q - p - 1 > 64 ? 64 : q - p - 1), l + p + 1);
            for (i = 0; i < sizeof headers / sizeof headers[0]; i++)
                if (strlen(headers[i].name) == q - p - 1 &&
                    strncasecmp(headers[i].name, l + p + 1, q - p - 1) == 0)
                    break;
            if (i == sizeof headers / sizeof headers[0])
                return fail(s, file, line, "unknown header <%.*s>", (int)(q - p - 1 > 64 ? 64 : q - p - 1),
                            l + p + 1);
            if ((rc = header(s, file, line, headers[i].id)) != SHELF_OK)
                return rc;
            p = q + 1;
            continue;
        }
        if (!is_opchar(l[p])) {
            if ((unsigned char)l[p] > ' ' && (unsigned char)l[p] < 0x7f)
                return fail(s, file, line, "unexpected '%c'", l[p]);
            return fail(s, file, line, "unexpected byte 0x%02x", (unsigned char)l[p]);
        }
        for (k = p; is_opchar(l[p]); p++)
            ;
        if (l[p] != '=')
            return fail(s, file, line, "opcode '%.*s' without value", (int)(p - k > 64 ? 64 : p - k), l + k);
        l[p++] = '\0';
        /* White space after '=' is not part of the value, nor is what
         * starts the next opcode or header. */
        for (r = p; is_ws(l[r]); r++)
            ;
        for (t = r; is_opchar(l[t]); t++)
            ;
        if (r > p && (l[r] == '<' || (t > r && l[t] == '=')))
            return fail(s, file, line, "opcode '%.64s' without value", l + k);
        p = r;
        /* The value runs to the end of the line, a '<', or white space
         * followed by the next "opcode=". */
        for (q = p; l[q] && l[q] != '<'; q++) {
            if (!is_ws(l[q]))
                continue;
            for (r = q; is_ws(l[r]); r++)
                ;
            for (t = r; is_opchar(l[t]); t++)
                ;
            if (l[r] == '<' || (t > r && l[t] == '=')) {
                q = r;
                break;
            }
            q = r - 1;
        }
        for (e = q; e > p && is_ws(l[e - 1]); e--)
            ;
        if (e == p)
            return fail(s, file, line, "opcode '%.64s' without value", l + k);
        saved = l[e];
        l[e] = '\0';
        rc = opcode(s, file, line, l + k, l + p);
        l[e] = saved;
        if (rc != SHELF_OK)
            return rc;
        p = q;
    }
}

/* Blank out comments in place (newlines kept, so lines keep their numbers). */
static int strip_comments(sfz *s, const char *file, char *t, size_t n)
{
    size_t i = 0, j;
    int line = 1, start;

    while (i < n) {
        if (t[i] == '\n') {
            line++;
            i++;
        } else if (t[i] == '\0') {
            return fail(s, file, line, "NUL byte in the text (not an SFZ file)");
        } else if (t[i] == '/' && i + 1 < n && t[i + 1] == '/') {
            for (; i < n && t[i] != '\n'; i++)
                t[i] = ' ';
        } else if (t[i] == '/' && i + 1 < n && t[i + 1] == '*') {
            start = line;
            t[i] = t[i + 1] = ' ';
            for (j = i + 2; j + 1 < n && !(t[j] == '*' && t[j + 1] == '/'); j++) {
                if (t[j] == '\n')
                    line++;
                else
                    t[j] = ' ';
            }
            if (j + 1 >= n)
                return fail(s, file, start, "unterminated comment");
            t[j] = t[j + 1] = ' ';
            i = j + 2;
        } else {
            i++;
        }
    }
    return SHELF_OK;
}

static int parse_text(sfz *s, const char *text, size_t n, const char *file, const char *dir)
{
    char *t = shelf__malloc(n + 1), *l, *e, *p;
    int rc = SHELF_OK, line = 0;

    if (!t)
        return nomem(s);
    memcpy(t, text, n);
    t[n] = '\0';
    /* A UTF-8 byte order mark. */
    l = t;
    if (n >= 3 && memcmp(t, "\xef\xbb\xbf", 3) == 0)
        l[0] = l[1] = l[2] = ' ';
    if ((rc = strip_comments(s, file, t, n)) != SHELF_OK)
        goto out;
    for (l = t; l < t + n; l = e + 1) {
        line++;
        if (!(e = memchr(l, '\n', (size_t)(t + n - l))))
            e = t + n;
        *e = '\0';
        for (p = l; is_ws(*p); p++)
            ;
        if (strncmp(p, "#define", 7) == 0 && (!p[7] || is_ws(p[7])))
            rc = define(s, file, line, p + 7);
        else if (strncmp(p, "#include", 8) == 0 && (!p[8] || is_ws(p[8]) || p[8] == '"'))
            rc = include(s, file, line, dir, p + 8);
        else if (!*p)
            rc = SHELF_OK;
        else if (!strchr(p, '$'))
            rc = tokens(s, file, line, p);
        else if ((rc = expand(s, file, line, p)) == SHELF_OK)
            rc = tokens(s, file, line, s->exp.buf);
        if (rc != SHELF_OK)
            goto out;
    }
out:
    free(t);
    return rc;
}

/* ---- the document ---------------------------------------------------------- */

static int finish(sfz *s)
{
    json_t *params = NULL;
    int rc;

    if (s->cur == H_REGION && (rc = finish_region(s)) != SHELF_OK)
        return rc;
    s->cur = H_NONE;
    if ((s->control && json_object_size(s->control)) || s->curves || s->effects ||
        (s->midi && json_object_size(s->midi))) {
        if (!(params = json_object()) || json_object_set_new(s->doc, "params", params) != 0)
            return nomem(s);
        if ((s->control && json_object_size(s->control) &&
             json_object_set(params, "control", s->control) != 0) ||
            (s->curves && json_object_set(params, "curves", s->curves) != 0) ||
            (s->effects && json_object_set(params, "effects", s->effects) != 0) ||
            (s->midi && json_object_size(s->midi) && json_object_set(params, "midi", s->midi) != 0))
            return nomem(s);
    }
    if (s->skipped &&
        json_object_set_new(json_object_get(s->doc, "source"), "regions_without_sample",
                            json_integer(s->skipped)) != 0)
        return nomem(s);
    return shelf__pf_set_name(s->cx, s->doc, NULL);
}

int shelf__sfz_parse(shelf__pf_ctx *cx, const char *text, size_t n, json_t **out)
{
    sfz s;
    char *root = NULL;
    size_t i;
    int rc;

    *out = NULL;
    if (n == 0)
        return shelf__seterr(cx->err, SHELF_EFORMAT, "%s: empty file", cx->name);
    memset(&s, 0, sizeof s);
    s.cx = cx;
    s.total = n;
    for (i = 0; i < L_COUNT; i++)
        if (!(s.level[i] = json_object())) {
            rc = nomem(&s);
            goto out;
        }
    if ((rc = shelf__pf_new_doc(cx, SHELF__PF_SFZ, &s.doc)) != SHELF_OK)
        goto out;
    /* The top file is on the include stack, so including it is a cycle. */
    if (cx->dir) {
        char *j = shelf__path_join(cx->dir, base_name(cx->name));

        root = j ? shelf__path_abs(j) : NULL;
        free(j);
        if (!root || !(s.tree = shelf__path_abs(cx->dir))) {
            rc = nomem(&s);
            goto out;
        }
        s.stack[s.depth++] = root;
    }
    if ((rc = parse_text(&s, text, n, base_name(cx->name), cx->dir)) != SHELF_OK ||
        (rc = finish(&s)) != SHELF_OK)
        goto out;
    *out = s.doc;
    s.doc = NULL;
out:
    json_decref(s.doc);
    for (i = 0; i < L_COUNT; i++)
        json_decref(s.level[i]);
    json_decref(s.control);
    json_decref(s.curves);
    json_decref(s.effects);
    json_decref(s.midi);
    for (i = 0; i < s.ndefs; i++) {
        free(s.defs[i].name);
        free(s.defs[i].value);
    }
    free(s.defs);
    free(s.default_path);
    free(root);
    free(s.tree);
    for (i = 0; i < sizeof s.types / sizeof s.types[0]; i++)
        json_decref(s.types[i]);
    shelf__buf_release(&s.exp);
    return rc;
}
