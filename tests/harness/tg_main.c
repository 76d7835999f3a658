/*
 * tg_main.c: `shelf-tg`, the audio generator of the test harness as a
 * command, for the end-to-end tests written in shell.
 *
 *   shelf-tg [options] FILE...
 *     --format wav16|wav24|float|aiff|flac|ogg|opus|mp3   (default wav16)
 *     --rate N --channels N --frames N --seed N
 *     --root-key N --loop START:END --tempo BPM --beats N
 *     --title T --artist A --comment C --genre G
 *
 * Each FILE gets the next seed, so files differ.  Exits 0, or 1 on failure.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sndfile.h>
#include "audiogen.h"

static long num(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);

    if (*end) {
        fprintf(stderr, "shelf-tg: invalid number '%s'\n", s);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "format", required_argument, NULL, 'f' }, { "rate", required_argument, NULL, 'r' },
        { "channels", required_argument, NULL, 'c' }, { "frames", required_argument, NULL, 'n' },
        { "seed", required_argument, NULL, 's' }, { "root-key", required_argument, NULL, 'k' },
        { "loop", required_argument, NULL, 'l' }, { "tempo", required_argument, NULL, 't' },
        { "beats", required_argument, NULL, 'b' }, { "title", required_argument, NULL, 'T' },
        { "artist", required_argument, NULL, 'A' }, { "comment", required_argument, NULL, 'M' },
        { "genre", required_argument, NULL, 'G' }, { NULL, 0, NULL, 0 }
    };
    tg_spec s = TG_SPEC_INIT(SF_FORMAT_WAV | SF_FORMAT_PCM_16, 44100, 1, 4410);
    int ch, i;

    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'f':
            if (!strcmp(optarg, "wav16")) s.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
            else if (!strcmp(optarg, "wav24")) s.format = SF_FORMAT_WAV | SF_FORMAT_PCM_24;
            else if (!strcmp(optarg, "float")) s.format = SF_FORMAT_WAV | SF_FORMAT_FLOAT;
            else if (!strcmp(optarg, "aiff")) s.format = SF_FORMAT_AIFF | SF_FORMAT_PCM_16;
            else if (!strcmp(optarg, "flac")) s.format = SF_FORMAT_FLAC | SF_FORMAT_PCM_16;
            else if (!strcmp(optarg, "ogg")) s.format = SF_FORMAT_OGG | SF_FORMAT_VORBIS;
            else if (!strcmp(optarg, "opus")) s.format = SF_FORMAT_OGG | SF_FORMAT_OPUS;
            else if (!strcmp(optarg, "mp3")) s.format = SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III;
            else {
                fprintf(stderr, "shelf-tg: unknown format '%s'\n", optarg);
                return 2;
            }
            break;
        case 'r': s.rate = (int)num(optarg); break;
        case 'c': s.channels = (int)num(optarg); break;
        case 'n': s.frames = num(optarg); break;
        case 's': s.seed = (unsigned)num(optarg); break;
        case 'k': s.root_key = (int)num(optarg); break;
        case 'l': {
            char *colon = strchr(optarg, ':');

            if (!colon) {
                fprintf(stderr, "shelf-tg: --loop START:END\n");
                return 2;
            }
            *colon = '\0';
            s.loop_start = num(optarg);
            s.loop_end = num(colon + 1);
            s.loop_mode = 1;
            break;
        }
        case 't': s.acid_tempo = (double)num(optarg); break;
        case 'b': s.acid_beats = (int)num(optarg); break;
        case 'T': s.title = optarg; break;
        case 'A': s.artist = optarg; break;
        case 'M': s.comment = optarg; break;
        case 'G': s.genre = optarg; break;
        default: return 2;
        }
    }
    for (i = optind; i < argc; i++, s.seed++)
        if (tg_write(argv[i], &s) != 0)
            return 1;
    return 0;
}
