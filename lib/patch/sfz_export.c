/*
 * sfz_export.c: writes a patch document as an SFZ file with its samples
 * copied into "<stem> samples/" next to it.
 *
 * The .sfz has one opcode per line, so values may hold spaces.  Sample
 * file names are made unique (ignoring case, for file systems that do)
 * and safe: characters that SFZ reads as syntax or that name no file
 * ('/', '\', '=', '<', '>', '$', '#', '"', control characters, a leading
 * '.') become '_'.  Text values get the same treatment for '<', '>', '$',
 * '=' and the comment openers ("//", slash-star), and line breaks become spaces, so the file reads
 * back as written.
 *
 * Only real SFZ opcodes are written (the list of sfzformat.com, kept in
 * sfz_opcodes.c), in SFZ units: an imported SFZ's params are opcodes
 * already; Hydrogen's gain x instrument volume (linear) becomes volume in
 * dB, pitch (semitones) tune in cents, pan_L/pan_R (0..1) or pan (-1..1)
 * pan -100..100, muteGroup g (0 and up) group and off_by g + 1; Decent
 * Sampler's volume (linear or "NdB") volume in dB, tuning tune in cents,
 * attack/decay/release ampeg_* (s), sustain and ampVelTrack (0..1)
 * ampeg_sustain and amp_veltrack in %, start/end offset/end; LMMS's amp
 * (%) volume in dB and reversed direction=reverse.  Everything else is
 * left out.  Opcodes that every zone has with one value (and the patch's
 * own params that are opcodes) go to <global>; those all zones of a group
 * (zone.group, written as group_label) share go to its <group>; the rest
 * to each <region> with key, root, vel, rr, loop and name (region_label).
 * Groups come in the order of their first zone, zones in id order within
 * them.  params/control, curves, effects and midi of an imported SFZ
 * become their headers.  Real numbers are written with a decimal point, so
 * they read back as reals, integers as integers.  A patch without zones (a
 * synthesizer) and a file name not ending in .sfz are refused.
 *
 * The .sfz's folder is made when needed.  Nothing shows until everything
 * is written: the samples go into a hidden
 * temporary folder and the text into a hidden temporary file, both synced,
 * then the folder is renamed into place (an older one moved aside and
 * removed afterwards) and the file after it.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include "formats_int.h"

typedef struct copy {
    const char *src;    /* borrowed from the document */
    char *name;         /* file name inside the samples folder */
} copy;

typedef struct exporter {
    shelf__err *err;
    shelf__buf out;
    copy *copies;
    size_t ncopies, cap;
    const char *sfz_name;
} exporter;

static int nomem(exporter *x)
{
    return shelf__seterr(x->err, SHELF_ENOMEM, "out of memory");
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');

    return s ? s + 1 : path;
}

/* A file name safe in SFZ and on disk, owned. */
static char *safe_name(const char *s)
{
    size_t n = strlen(s), i;
    char *d;

    if (n > 200)
        n = 200;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '.'))
        n--;
    if (!n)
        return shelf__strdup("sample");
    if (!(d = shelf__strndup(s, n)))
        return NULL;
    /* Do not end inside a UTF-8 sequence after the cut. */
    if (strlen(s) > 200) {
        while (n && ((unsigned char)d[n - 1] & 0xc0) == 0x80)
            n--;
        if (n && ((unsigned char)d[n - 1] & 0xc0) == 0xc0)
            n--;
        d[n] = '\0';
    }
    for (i = 0; d[i]; i++)
        if ((unsigned char)d[i] < ' ' || strchr("/\\=<>$#\"*?:|", d[i]))
            d[i] = '_';
    if (d[0] == '.' || d[0] == ' ')
        d[0] = '_';
    return d;
}

/* Append text made safe as an SFZ value. */
static int add_value_text(exporter *x, const char *s)
{
    size_t i;
    char c;

    for (i = 0; s[i]; i++) {
        c = s[i];
        if (c == '\n' || c == '\r' || c == '\t')
            c = ' ';
        else if (c == '<')
            c = '(';
        else if (c == '>')
            c = ')';
        else if (c == '$' || c == '=')
            c = '_';
        else if (c == '/' && (s[i + 1] == '/' || s[i + 1] == '*'))
            c = '_';
        if (shelf__buf_add(&x->out, &c, 1) != SHELF_OK)
            return nomem(x);
    }
    return SHELF_OK;
}

/* The shortest text that reads back as d, with a decimal point. */
static int add_real(exporter *x, double d)
{
    char num[40];
    int prec;

    for (prec = 1; prec <= 17; prec++) {
        snprintf(num, sizeof num, "%.*g", prec, d);
        if (strtod(num, NULL) == d)
            break;
    }
    if (!strpbrk(num, ".e"))
        return shelf__buf_addf(&x->out, "%s.0", num) == SHELF_OK ? SHELF_OK : nomem(x);
    return shelf__buf_adds(&x->out, num) == SHELF_OK ? SHELF_OK : nomem(x);
}

static int is_opcode_name(const char *k)
{
    size_t i;

    if (!*k)
        return 0;
    for (i = 0; k[i]; i++)
        if (!((k[i] >= 'a' && k[i] <= 'z') || (k[i] >= 'A' && k[i] <= 'Z') ||
              (k[i] >= '0' && k[i] <= '9') || k[i] == '_'))
            return 0;
    return 1;
}

/* "key=value\n" for a scalar; other values are left out (returns 0). */
static int add_opcode(exporter *x, const char *key, const json_t *v)
{
    size_t mark = x->out.len;
    int rc = SHELF_OK;

    if (!is_opcode_name(key) || !shelf__sfz_is_opcode(key))
        return SHELF_OK;
    if (json_is_string(v) && json_string_length(v) == 0)
        return SHELF_OK;
    if (!json_is_string(v) && !json_is_number(v) && !json_is_boolean(v))
        return SHELF_OK;
    if (shelf__buf_addf(&x->out, "%s=", key) != SHELF_OK)
        return nomem(x);
    if (json_is_integer(v))
        rc = shelf__buf_addf(&x->out, "%lld", (long long)json_integer_value(v)) == SHELF_OK
                 ? SHELF_OK : nomem(x);
    else if (json_is_real(v))
        rc = add_real(x, json_real_value(v));
    else if (json_is_boolean(v))
        rc = shelf__buf_adds(&x->out, json_is_true(v) ? "1" : "0") == SHELF_OK ? SHELF_OK
                                                                             : nomem(x);
    else
        rc = add_value_text(x, json_string_value(v));
    if (rc == SHELF_OK && x->out.buf[x->out.len - 1] == '=') {
        /* Nothing left of the value: leave the opcode out. */
        x->out.len = mark;
        x->out.buf[mark] = '\0';
        return SHELF_OK;
    }
    if (rc == SHELF_OK && shelf__buf_add(&x->out, "\n", 1) != SHELF_OK)
        rc = nomem(x);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The keys of obj in byte order (owned array of borrowed keys). */
static const char **sorted_keys(const json_t *obj, size_t *n)
{
    const char **keys, *k;
    json_t *v;
    size_t i = 0;

    *n = json_object_size(obj);
    if (!(keys = shelf__calloc(*n ? *n : 1, sizeof *keys)))
        return NULL;
    json_object_foreach((json_t *)obj, k, v)
        keys[i++] = k;
    qsort(keys, *n, sizeof *keys, cmp_str);
    return keys;
}

/* Every scalar of obj as an opcode, in key order, except the names in skip. */
static int add_group(exporter *x, const json_t *obj, const char *const *skip)
{
    const char **keys;
    size_t n, i, k;
    int rc = SHELF_OK;

    if (!json_is_object(obj))
        return SHELF_OK;
    if (!(keys = sorted_keys(obj, &n)))
        return nomem(x);
    for (i = 0; i < n && rc == SHELF_OK; i++) {
        for (k = 0; skip && skip[k] && strcmp(skip[k], keys[i]) != 0; k++)
            ;
        if (skip && skip[k])
            continue;
        rc = add_opcode(x, keys[i], json_object_get(obj, keys[i]));
    }
    free(keys);
    return rc;
}

/* The name in the samples folder for the file src (copied once). */
static const char *copy_name(exporter *x, const char *src)
{
    char *name = NULL, *stem, *dot, *cand;
    size_t i;
    int k;
    copy *nc;

    for (i = 0; i < x->ncopies; i++)
        if (strcmp(x->copies[i].src, src) == 0)
            return x->copies[i].name;
    if (!(name = safe_name(base_name(src))))
        return NULL;
    for (k = 2;; k++) {
        for (i = 0; i < x->ncopies && strcasecmp(x->copies[i].name, name) != 0; i++)
            ;
        if (i == x->ncopies)
            break;
        /* Taken: "name-2.ext", "name-3.ext"... */
        if (!(stem = safe_name(base_name(src)))) {
            free(name);
            return NULL;
        }
        dot = strrchr(stem, '.');
        if (dot && dot != stem)
            *dot = '\0';
        cand = dot && dot != stem ? shelf__asprintf("%s-%d.%s", stem, k, dot + 1)
                                  : shelf__asprintf("%s-%d", stem, k);
        free(stem);
        free(name);
        if (!(name = cand))
            return NULL;
    }
    if (x->ncopies == x->cap) {
        size_t cap = x->cap ? 2 * x->cap : 32;

        if (!(nc = shelf__realloc(x->copies, cap * sizeof *nc))) {
            free(name);
            return NULL;
        }
        x->copies = nc;
        x->cap = cap;
    }
    x->copies[x->ncopies].src = src;
    x->copies[x->ncopies].name = name;
    return x->copies[x->ncopies++].name;
}

/* ---- parameters in SFZ opcodes and units ----------------------------------- */

/* Opcodes written from a zone member (when the zone has it), not params. */
static const struct {
    const char *opcode, *member;
} structural[] = {
    { "sample", "sample" },      { "key", "key" },           { "lokey", "key" },
    { "hikey", "key" },          { "pitch_keycenter", "root" }, { "lovel", "vel" },
    { "hivel", "vel" },          { "seq_position", "rr" },   { "loop_mode", "loop" },
    { "loop_start", "loop" },    { "loop_end", "loop" },     { "region_label", "name" },
    { "group_label", "group" },
};

static int is_structural(const json_t *zone, const char *k)
{
    size_t i;

    for (i = 0; i < sizeof structural / sizeof structural[0]; i++)
        if (strcmp(structural[i].opcode, k) == 0)
            return !zone || json_object_get(zone, structural[i].member) != NULL ||
                   !strcmp(k, "sample") || !strcmp(k, "group_label");
    return 0;
}

static int put_real(json_t *o, const char *k, double v)
{
    if (!isfinite(v))
        return 0;
    return json_object_set_new(o, k, json_real(v));
}

static int put_int(json_t *o, const char *k, double v)
{
    if (!isfinite(v) || fabs(v) > 1e15)
        return 0;
    return json_object_set_new(o, k, json_integer((json_int_t)llround(v)));
}

/* A linear gain as decibels (silence as -144 dB, SFZ's floor). */
static double to_db(double g)
{
    return g > 0 ? 20.0 * log10(g) : -144.0;
}

/* A number, or text such as "-3dB" or "0.5" read as one; 0 when neither. */
static int number_of(const json_t *v, double *out, int *is_db)
{
    const char *s;
    char *end;

    *is_db = 0;
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return isfinite(*out);
    }
    if (!json_is_string(v))
        return 0;
    s = json_string_value(v);
    *out = strtod(s, &end);
    if (end == s || !isfinite(*out))
        return 0;
    while (*end == ' ')
        end++;
    if (strcasecmp(end, "db") == 0)
        *is_db = 1;
    else if (*end)
        return 0;
    return 1;
}

/*
 * A zone's parameters as SFZ opcodes in SFZ units (owned object): what an
 * importer of another format keeps in its own terms is converted (see the
 * file's opening comment); anything that is not an SFZ opcode is left out.
 */
static json_t *zone_opcodes(const char *format, const json_t *zone, const json_t *params)
{
    json_t *o = json_object(), *v;
    const char *k;
    double d, g = 1, l = -1, r = -1;
    int db, has_gain = 0, rc = 0;

    if (!o)
        return NULL;
    if (!json_is_object(params))
        return o;
    json_object_foreach((json_t *)params, k, v) {
        if (!json_is_string(v) && !json_is_number(v) && !json_is_boolean(v))
            continue;
        if (format && strcmp(format, "hydrogen") == 0) {
            /* Linear gains, semitones, pans 0..1 (L/R) or -1..1. */
            if ((!strcmp(k, "gain") || !strcmp(k, "volume")) && number_of(v, &d, &db))
                g *= d, has_gain = 1;
            else if (!strcmp(k, "pitch") && number_of(v, &d, &db))
                rc |= put_int(o, "tune", d * 100);
            else if (!strcmp(k, "pan_L") && number_of(v, &d, &db))
                l = d;
            else if (!strcmp(k, "pan_R") && number_of(v, &d, &db))
                r = d;
            else if (!strcmp(k, "pan") && number_of(v, &d, &db))
                rc |= put_real(o, "pan", fmax(-100, fmin(100, d * 100)));
            else if (!strcmp(k, "muteGroup") && number_of(v, &d, &db) && d >= 0) {
                rc |= put_int(o, "group", d + 1);
                rc |= put_int(o, "off_by", d + 1);
            }
            continue;
        }
        if (format && strcmp(format, "decentsampler") == 0) {
            /* Linear or "dB" volume, semitones, seconds, levels 0..1. */
            if (!strcmp(k, "volume") && number_of(v, &d, &db))
                rc |= put_real(o, "volume", db ? d : to_db(d));
            else if (!strcmp(k, "pan") && number_of(v, &d, &db))
                rc |= put_real(o, "pan", fmax(-100, fmin(100, d)));
            else if (!strcmp(k, "tuning") && number_of(v, &d, &db))
                rc |= put_int(o, "tune", d * 100);
            else if (!strcmp(k, "attack") || !strcmp(k, "decay") || !strcmp(k, "release")) {
                char name[32];

                snprintf(name, sizeof name, "ampeg_%s", k);
                if (number_of(v, &d, &db))
                    rc |= put_real(o, name, d);
            } else if (!strcmp(k, "sustain") && number_of(v, &d, &db))
                rc |= put_real(o, "ampeg_sustain", d * 100);
            else if (!strcmp(k, "ampVelTrack") && number_of(v, &d, &db))
                rc |= put_real(o, "amp_veltrack", d * 100);
            else if (!strcmp(k, "start") && number_of(v, &d, &db))
                rc |= put_int(o, "offset", d);
            else if (!strcmp(k, "end") && number_of(v, &d, &db))
                rc |= put_int(o, "end", d);
            else if (!strcmp(k, "trigger") && json_is_string(v))
                rc |= json_object_set(o, "trigger", v);
            continue;
        }
        if (format && strcmp(format, "lmms") == 0) {
            /* amp in percent (100 = as recorded); reversed="1". */
            if (!strcmp(k, "amp") && number_of(v, &d, &db))
                rc |= put_real(o, "volume", to_db(d / 100));
            else if (!strcmp(k, "reversed") && number_of(v, &d, &db) && d != 0)
                rc |= json_object_set_new(o, "direction", json_string("reverse"));
            continue;
        }
        /* SFZ (or a shelf document): the names are opcodes already. */
        if (!is_structural(zone, k) && is_opcode_name(k) && shelf__sfz_is_opcode(k))
            rc |= json_object_set(o, k, v);
    }
    if (has_gain)
        rc |= put_real(o, "volume", fmax(-144, to_db(g)));
    if (l >= 0 && r >= 0)
        rc |= put_real(o, "pan", fmax(-100, fmin(100, (r - l) * 100)));
    if (rc) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* The opcodes with the same value in every object of objs[0..n) (owned). */
static json_t *common_opcodes(json_t *const *objs, size_t n)
{
    json_t *c, *v;
    const char *k;
    void *tmp;
    size_t i;

    if (!n)
        return json_object();
    if (!(c = json_copy(objs[0])))
        return NULL;
    for (i = 1; i < n && json_object_size(c); i++)
        json_object_foreach_safe(c, tmp, k, v)
            if (!json_equal(v, json_object_get(objs[i], k)))
                json_object_del(c, k);
    return c;
}

static int add_zone(exporter *x, const char *id, const json_t *z, const char *folder,
                    const json_t *conv, const json_t *inherited)
{
    const json_t *s = json_object_get(z, "sample"), *v, *loop;
    const char *path, *name;
    struct stat sb;
    int rc;

    path = json_string_value(json_object_get(s, "path"));
    if (!path || !*path)
        return shelf__seterr(x->err, SHELF_EINVAL, "cannot export zone %s: its sample has no path",
                             id);
    if (shelf__buf_adds(&x->out, "\n<region>\n") != SHELF_OK)
        return nomem(x);
    if (path[0] == '*') {
        /* A built-in generator of the SFZ player. */
        if (shelf__buf_addf(&x->out, "sample=%s\n", path) != SHELF_OK)
            return nomem(x);
    } else if (path[0] != '/') {
        /* Relative: the caller placed the sample already (export-media
         * writes "../SHARD/FILE"); referred to as it is, not copied. */
        if (shelf__buf_addf(&x->out, "sample=%s\n", path) != SHELF_OK)
            return nomem(x);
    } else {
        if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
            return shelf__seterr(x->err, SHELF_ENOTFOUND,
                                 "cannot export zone %s: sample '%s' not found", id, path);
        if (!(name = copy_name(x, path)))
            return nomem(x);
        if (shelf__buf_addf(&x->out, "sample=%s/%s\n", folder, name) != SHELF_OK)
            return nomem(x);
    }
    if ((v = json_object_get(z, "key")) && json_array_size(v) == 2) {
        if (shelf__buf_addf(&x->out, "lokey=%lld\nhikey=%lld\n",
                            (long long)json_integer_value(json_array_get(v, 0)),
                            (long long)json_integer_value(json_array_get(v, 1))) != SHELF_OK)
            return nomem(x);
    }
    if (json_is_integer(v = json_object_get(z, "root"))) {
        if (shelf__buf_addf(&x->out, "pitch_keycenter=%lld\n", (long long)json_integer_value(v)) !=
            SHELF_OK)
            return nomem(x);
    }
    if ((v = json_object_get(z, "vel")) && json_array_size(v) == 2) {
        if (shelf__buf_addf(&x->out, "lovel=%lld\nhivel=%lld\n",
                            (long long)json_integer_value(json_array_get(v, 0)),
                            (long long)json_integer_value(json_array_get(v, 1))) != SHELF_OK)
            return nomem(x);
    }
    if (json_is_integer(v = json_object_get(z, "rr"))) {
        if (shelf__buf_addf(&x->out, "seq_position=%lld\n", (long long)json_integer_value(v)) !=
            SHELF_OK)
            return nomem(x);
    }
    if (json_is_object(loop = json_object_get(z, "loop"))) {
        if ((rc = add_opcode(x, "loop_mode", json_object_get(loop, "mode"))) != SHELF_OK ||
            (rc = add_opcode(x, "loop_start", json_object_get(loop, "start"))) != SHELF_OK ||
            (rc = add_opcode(x, "loop_end", json_object_get(loop, "end"))) != SHELF_OK)
            return rc;
    }
    if (json_is_string(v = json_object_get(z, "name")) && json_string_length(v)) {
        if ((rc = add_opcode(x, "region_label", v)) != SHELF_OK)
            return rc;
    }
    /* The opcodes its <group> and <global> do not give it already. */
    {
        const char **keys;
        size_t nk, i;

        if (!(keys = sorted_keys(conv, &nk)))
            return nomem(x);
        for (i = 0, rc = SHELF_OK; i < nk && rc == SHELF_OK; i++) {
            v = json_object_get(conv, keys[i]);
            if (!json_equal(v, json_object_get(inherited, keys[i])))
                rc = add_opcode(x, keys[i], v);
        }
        free(keys);
    }
    return rc;
}

/*
 * Every zone under <global> and <group> headers: the opcodes all zones
 * share (and the patch's own params that are opcodes) go to <global>,
 * those all zones of a group (zone.group, as group_label) share to its
 * <group>, the rest to each <region>.  Groups come in the order of their
 * first zone; zones in id order within them.
 */
static int add_zones(exporter *x, const json_t *doc, const json_t *zones, const char **ids,
                     size_t nids, const char *folder)
{
    const char *format = json_string_value(json_object_get(json_object_get(doc, "source"), "format"));
    json_t **convs = NULL, *global = NULL, *patch = NULL, *groups = NULL, *order = NULL,
           *members, *gc = NULL, *inherited = NULL, *v, *label;
    json_t **sub = NULL;
    const char *k;
    size_t i, j, n;
    int rc = SHELF_OK;

    if (!(convs = shelf__calloc(nids ? nids : 1, sizeof(json_t *))) ||
        !(sub = shelf__calloc(nids ? nids : 1, sizeof(json_t *))))
        goto nomem;
    for (i = 0; i < nids; i++)
        if (!(convs[i] = zone_opcodes(format, json_object_get(zones, ids[i]),
                                      json_object_get(json_object_get(zones, ids[i]), "params"))))
            goto nomem;
    if (!(global = common_opcodes(convs, nids)) ||
        !(patch = zone_opcodes(format, NULL, json_object_get(doc, "params"))))
        goto nomem;
    json_object_foreach(patch, k, v)
        if (!json_object_get(global, k) && json_object_set(global, k, v) != 0)
            goto nomem;
    if (json_object_size(global)) {
        if (shelf__buf_adds(&x->out, "\n<global>\n") != SHELF_OK)
            goto nomem;
        if ((rc = add_group(x, global, NULL)) != SHELF_OK)
            goto out;
    }

    /* Zones by group label, in the order of first appearance. */
    if (!(groups = json_object()) || !(order = json_array()))
        goto nomem;
    for (i = 0; i < nids; i++) {
        v = json_object_get(json_object_get(zones, ids[i]), "group");
        k = json_is_string(v) ? json_string_value(v) : "";
        if (!(members = json_object_get(groups, k))) {
            if (!(members = json_array()) || json_object_set_new(groups, k, members) != 0 ||
                json_array_append_new(order, json_string(k)) != 0)
                goto nomem;
        }
        if (json_array_append_new(members, json_integer((json_int_t)i)) != 0)
            goto nomem;
    }
    json_array_foreach(order, j, label) {
        members = json_object_get(groups, json_string_value(label));
        n = json_array_size(members);
        for (i = 0; i < n; i++)
            sub[i] = convs[json_integer_value(json_array_get(members, i))];
        json_decref(gc);
        json_decref(inherited);
        inherited = NULL;
        if (!(gc = common_opcodes(sub, n)))
            goto nomem;
        {
            void *tmp;

            json_object_foreach_safe(gc, tmp, k, v)
                if (json_equal(v, json_object_get(global, k)))
                    json_object_del(gc, k);
        }
        if (!(inherited = json_copy(global)) || json_object_update(inherited, gc) != 0)
            goto nomem;
        if (shelf__buf_adds(&x->out, "\n<group>\n") != SHELF_OK)
            goto nomem;
        if (json_string_length(label) && (rc = add_opcode(x, "group_label", label)) != SHELF_OK)
            goto out;
        if ((rc = add_group(x, gc, NULL)) != SHELF_OK)
            goto out;
        for (i = 0; i < n; i++) {
            size_t z = (size_t)json_integer_value(json_array_get(members, i));

            if ((rc = add_zone(x, ids[z], json_object_get(zones, ids[z]), folder, convs[z],
                               inherited)) != SHELF_OK)
                goto out;
        }
    }
    goto out;
nomem:
    rc = nomem(x);
out:
    for (i = 0; convs && i < nids; i++)
        json_decref(convs[i]);
    free(convs);
    free(sub);
    json_decref(global);
    json_decref(patch);
    json_decref(groups);
    json_decref(order);
    json_decref(gc);
    json_decref(inherited);
    return rc;
}

/* Headers from the params of an imported SFZ. */
static int add_sections(exporter *x, const json_t *params)
{
    const json_t *v, *m;
    size_t i;
    int rc;

    if (json_is_object(v = json_object_get(params, "control")) && json_object_size(v)) {
        if (shelf__buf_adds(&x->out, "<control>\n") != SHELF_OK)
            return nomem(x);
        if ((rc = add_group(x, v, NULL)) != SHELF_OK)
            return rc;
    }
    if (json_is_array(v = json_object_get(params, "curves")))
        json_array_foreach((json_t *)v, i, m) {
            if (shelf__buf_adds(&x->out, "<curve>\n") != SHELF_OK)
                return nomem(x);
            if ((rc = add_group(x, m, NULL)) != SHELF_OK)
                return rc;
        }
    if (json_is_array(v = json_object_get(params, "effects")))
        json_array_foreach((json_t *)v, i, m) {
            if (shelf__buf_adds(&x->out, "<effect>\n") != SHELF_OK)
                return nomem(x);
            if ((rc = add_group(x, m, NULL)) != SHELF_OK)
                return rc;
        }
    if (json_is_object(v = json_object_get(params, "midi")) && json_object_size(v)) {
        if (shelf__buf_adds(&x->out, "<midi>\n") != SHELF_OK)
            return nomem(x);
        if ((rc = add_group(x, v, NULL)) != SHELF_OK)
            return rc;
    }
    return SHELF_OK;
}

/* A line of comment with text that cannot end the comment early. */
static int add_comment(exporter *x, const char *label, const char *text)
{
    size_t i;

    if (!text || !*text)
        return SHELF_OK;
    if (shelf__buf_addf(&x->out, "// %s", label) != SHELF_OK)
        return nomem(x);
    for (i = 0; text[i] && i < 2000; i++) {
        char c = (unsigned char)text[i] < ' ' ? ' ' : text[i];

        if (shelf__buf_add(&x->out, &c, 1) != SHELF_OK)
            return nomem(x);
    }
    return shelf__buf_add(&x->out, "\n", 1) == SHELF_OK ? SHELF_OK : nomem(x);
}

/* Copy src to the new file dst and sync it; 0 or an errno value. */
static int copy_file(const char *src, const char *dst)
{
    char buf[65536];
    int in, out, e = 0;
    ssize_t r;

    if ((in = open(src, O_RDONLY | O_CLOEXEC)) < 0)
        return errno;
    if ((out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) < 0) {
        e = errno;
        close(in);
        return e;
    }
    for (;;) {
        r = read(in, buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            e = errno;
            break;
        }
        if (r == 0)
            break;
        if ((e = shelf__write_all(out, buf, (size_t)r)) != 0)
            break;
    }
    if (!e && fsync(out) != 0)
        e = errno;
    if (close(out) != 0 && !e)
        e = errno;
    close(in);
    return e;
}

int shelf__patch_export_sfz(const json_t *doc, const char *sfz_path, shelf__err *err)
{
    static unsigned counter;
    shelf__err local;
    exporter x;
    const json_t *zones, *params;
    const char **ids = NULL, *sfz_base;
    char *dir = NULL, *stem = NULL, *folder = NULL, *final_dir = NULL, *tmp_dir = NULL,
         *old_dir = NULL, *tmp_sfz = NULL, *src = NULL, *dst = NULL, *slash;
    size_t nids = 0, i;
    int rc = SHELF_OK, e, fd = -1, moved_old = 0, placed = 0;
    unsigned tag;
    struct stat sb;

    if (!err)
        err = &local;
    memset(&x, 0, sizeof x);
    x.err = err;
    if (!json_is_object(doc) || !json_object_get(doc, "shelf_patch"))
        return shelf__seterr(err, SHELF_EINVAL, "cannot export to '%s': not a patch", sfz_path);
    zones = json_object_get(doc, "zones");
    params = json_object_get(doc, "params");
    sfz_base = base_name(sfz_path);
    if (!*sfz_base)
        return shelf__seterr(err, SHELF_EINVAL, "cannot export to '%s': no file name", sfz_path);
    if (strlen(sfz_base) < 5 || strcasecmp(sfz_base + strlen(sfz_base) - 4, ".sfz") != 0)
        return shelf__seterr(err, SHELF_EINVAL, "cannot export to '%s': an SFZ file name ends in .sfz",
                             sfz_path);
    /* A synthesizer plays no samples: an SFZ of it would be empty. */
    if (!json_object_size(zones))
        return shelf__seterr(err, SHELF_EFORMAT,
                             "cannot export '%s' as SFZ: it has no sample zones (a synthesizer patch)",
                             json_is_string(json_object_get(doc, "name"))
                                 ? json_string_value(json_object_get(doc, "name")) : "?");
    tag = __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED);

    /* Names: DIR/STEM.sfz and DIR/STEM samples/. */
    if (!(dir = shelf__strdup(sfz_path)))
        goto nomem;
    if ((slash = strrchr(dir, '/')) == NULL) {
        free(dir);
        dir = shelf__strdup(".");
    } else if (slash == dir) {
        slash[1] = '\0';
    } else {
        *slash = '\0';
    }
    if (!dir || !(stem = shelf__path_stem(sfz_base)))
        goto nomem;
    if (!(src = safe_name(stem)) || !(folder = shelf__asprintf("%s samples", src)))
        goto nomem;
    free(src);
    src = NULL;
    if (!(final_dir = shelf__path_join(dir, folder)))
        goto nomem;
    tmp_dir = shelf__asprintf("%s/.%s.tmp-%ld-%u", dir, folder, (long)getpid(), tag);
    old_dir = shelf__asprintf("%s/.%s.old-%ld-%u", dir, folder, (long)getpid(), tag);
    tmp_sfz = shelf__asprintf("%s/.%s.tmp-%ld-%u", dir, sfz_base, (long)getpid(), tag);
    if (!tmp_dir || !old_dir || !tmp_sfz)
        goto nomem;

    /* The text. */
    if (shelf__buf_adds(&x.out, "// Exported by shelf\n") != SHELF_OK)
        goto nomem;
    if ((rc = add_comment(&x, "name: ", json_string_value(json_object_get(doc, "name")))) != SHELF_OK ||
        (rc = add_comment(&x, "author: ", json_string_value(json_object_get(doc, "author")))) != SHELF_OK ||
        (rc = add_comment(&x, "category: ", json_string_value(json_object_get(doc, "category")))) != SHELF_OK ||
        (rc = add_sections(&x, params)) != SHELF_OK)
        goto out;
    if (zones && !json_is_object(zones)) {
        rc = shelf__seterr(err, SHELF_EINVAL, "cannot export to '%s': zones is not an object",
                           sfz_path);
        goto out;
    }
    if (zones && !(ids = sorted_keys(zones, &nids)))
        goto nomem;
    for (i = 0; i < nids; i++) {
        if (!json_is_object(json_object_get(zones, ids[i]))) {
            rc = shelf__seterr(err, SHELF_EINVAL, "cannot export zone %s: not an object", ids[i]);
            goto out;
        }
    }
    if ((rc = add_zones(&x, doc, zones, ids, nids, folder)) != SHELF_OK)
        goto out;

    if ((e = shelf__mkdirs(dir, 0755)) != 0) {
        rc = shelf__seterr_errno(err, e, "cannot create '%s'", dir);
        goto out;
    }

    /* The samples, into the temporary folder. */
    if (x.ncopies) {
        if (mkdir(tmp_dir, 0755) != 0) {
            rc = shelf__seterr_errno(err, errno, "cannot create '%s'", tmp_dir);
            goto out;
        }
        for (i = 0; i < x.ncopies; i++) {
            free(dst);
            if (!(dst = shelf__path_join(tmp_dir, x.copies[i].name)))
                goto nomem;
            if ((e = copy_file(x.copies[i].src, dst)) != 0) {
                rc = shelf__seterr_errno(err, e, "cannot copy '%s'", x.copies[i].src);
                goto out;
            }
        }
        if ((e = shelf__fsync_dir(tmp_dir)) != 0) {
            rc = shelf__seterr_errno(err, e, "cannot sync '%s'", tmp_dir);
            goto out;
        }
    }

    /* The .sfz, into its temporary file. */
    if ((fd = open(tmp_sfz, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) < 0) {
        rc = shelf__seterr_errno(err, errno, "cannot create '%s'", tmp_sfz);
        goto out;
    }
    if ((e = shelf__write_all(fd, x.out.buf, x.out.len)) == 0 && fsync(fd) != 0)
        e = errno;
    if (close(fd) != 0 && !e)
        e = errno;
    fd = -1;
    if (e) {
        rc = shelf__seterr_errno(err, e, "cannot write '%s'", tmp_sfz);
        goto out;
    }

    /* Into place: the folder first, then the file that refers to it. */
    if (x.ncopies) {
        if (lstat(final_dir, &sb) == 0) {
            if (rename(final_dir, old_dir) != 0) {
                rc = shelf__seterr_errno(err, errno, "cannot replace '%s'", final_dir);
                goto out;
            }
            moved_old = 1;
        }
        if (rename(tmp_dir, final_dir) != 0) {
            rc = shelf__seterr_errno(err, errno, "cannot create '%s'", final_dir);
            goto out;
        }
        placed = 1;
    }
    if (rename(tmp_sfz, sfz_path) != 0) {
        rc = shelf__seterr_errno(err, errno, "cannot write '%s'", sfz_path);
        goto out;
    }
    if (moved_old) {
        (void)shelf__rmtree(old_dir);
        moved_old = 0;
    }
    placed = 0;
    shelf__fsync_dir(dir);
    goto out;
nomem:
    rc = nomem(&x);
out:
    if (fd >= 0)
        close(fd);
    if (rc != SHELF_OK) {
        /* Put back what was there. */
        if (placed && rename(final_dir, tmp_dir) != 0)
            (void)shelf__rmtree(final_dir);
        if (moved_old)
            (void)rename(old_dir, final_dir);   /* best effort: the error is rc's */
        if (tmp_dir)
            (void)shelf__rmtree(tmp_dir);
        if (tmp_sfz)
            unlink(tmp_sfz);
    }
    for (i = 0; i < x.ncopies; i++)
        free(x.copies[i].name);
    free(x.copies);
    shelf__buf_release(&x.out);
    free(ids);
    free(dir);
    free(stem);
    free(folder);
    free(final_dir);
    free(tmp_dir);
    free(old_dir);
    free(tmp_sfz);
    free(src);
    free(dst);
    return rc;
}
