/*
 * words.h: the word lists and the fixed query list of bench_search.c.
 * Names in the synthetic catalog are built from these words (instruments,
 * character, genre, pack vendors and styles, producer names, tags); the
 * query list is what a user types into a sample browser, one final text
 * per sequence, replayed as every prefix.  Included once, by bench_search.c.
 * Changing a list changes the catalog: bump GEN_VERSION there.
 */
#ifndef SHELF_BENCH_WORDS_H
#define SHELF_BENCH_WORDS_H

/* An instrument: the word in names, its one-shot folder and how common it is. */
typedef struct bench_instr {
    const char *word;           /* lowercase; also the category */
    const char *display;        /* as written in names */
    const char *folder;         /* folder under "One Shots/" (loops: see below) */
    int weight;                 /* relative frequency */
    int tonal;                  /* 1: usually has a root key */
    int drum;                   /* 1: short, often mono */
    int loop;                   /* 1: a loop (tempo, beats, Loops/<bpm> BPM/) */
} bench_instr;

static const bench_instr bench_instruments[] = {
    { "kick", "Kick", "Kicks", 8, 0, 1, 0 },
    { "snare", "Snare", "Snares", 7, 0, 1, 0 },
    { "hat", "Hat", "Hats", 8, 0, 1, 0 },
    { "clap", "Clap", "Claps", 4, 0, 1, 0 },
    { "tom", "Tom", "Toms", 3, 0, 1, 0 },
    { "ride", "Ride", "Cymbals", 2, 0, 1, 0 },
    { "crash", "Crash", "Cymbals", 2, 0, 1, 0 },
    { "perc", "Perc", "Percussion", 6, 0, 1, 0 },
    { "shaker", "Shaker", "Percussion", 2, 0, 1, 0 },
    { "bass", "Bass", "Bass", 6, 1, 0, 0 },
    { "sub", "Sub", "Bass", 2, 1, 0, 0 },
    { "pad", "Pad", "Synths", 4, 1, 0, 0 },
    { "lead", "Lead", "Synths", 4, 1, 0, 0 },
    { "pluck", "Pluck", "Synths", 3, 1, 0, 0 },
    { "keys", "Keys", "Keys", 3, 1, 0, 0 },
    { "piano", "Piano", "Keys", 2, 1, 0, 0 },
    { "organ", "Organ", "Keys", 1, 1, 0, 0 },
    { "strings", "Strings", "Orchestral", 2, 1, 0, 0 },
    { "brass", "Brass", "Orchestral", 1, 1, 0, 0 },
    { "vox", "Vox", "Vocals", 4, 1, 0, 0 },
    { "choir", "Choir", "Vocals", 1, 1, 0, 0 },
    { "fx", "FX", "FX", 5, 0, 0, 0 },
    { "riser", "Riser", "FX", 2, 0, 0, 0 },
    { "impact", "Impact", "FX", 2, 0, 0, 0 },
    { "loop", "Loop", "Loops", 10, 0, 0, 1 },
    { "break", "Break", "Loops", 3, 0, 0, 1 },
    { "groove", "Groove", "Loops", 3, 0, 0, 1 },
};

static const char *const bench_characters[] = {
    "Deep", "Punchy", "Dirty", "Warm", "Bright", "Dark", "Analog", "Vintage",
    "Crunchy", "Soft", "Hard", "Tight", "Fat", "Wide", "Lofi", "Dusty"
};

/* A genre and the tempo range of its loops. */
typedef struct bench_genre {
    const char *display;
    int bpm_lo, bpm_hi;
} bench_genre;

static const bench_genre bench_genres[] = {
    { "House", 120, 126 }, { "Techno", 125, 140 }, { "DnB", 170, 175 },
    { "Trap", 130, 150 },  { "HipHop", 80, 95 },   { "Ambient", 70, 110 },
    { "Dubstep", 140, 140 }, { "Garage", 130, 135 }, { "Disco", 110, 122 },
    { "Funk", 95, 115 }
};

/* Pack names: vendor + style + "Vol n"; 16 x 20 x 4 = 1280 distinct. */
static const char *const bench_vendors[] = {
    "Vengeance", "Analogue Alley", "Basement Tapes", "Circuit Audio", "Drumforge",
    "Echo Valley", "Fathom Sounds", "Groove Mill", "Hollow Tone", "Ironwood Audio",
    "Junction Samples", "Kinetic Waves", "Lunar Labs", "Mono Culture",
    "Night Shift Audio", "Orbit Sounds"
};

static const char *const bench_styles[] = {
    "Essential House", "Deep Techno", "Dark DnB", "Trap Bangers", "Lofi HipHop",
    "Ambient Textures", "Dubstep Weapons", "UK Garage", "Disco Edits", "Funk Breaks",
    "Analog Drums", "Vintage Keys", "Cinematic FX", "Vocal Chops", "Modular Bass",
    "Minimal Tech", "Future Pop", "Tape Machines", "Festival EDM", "Organic Percussion"
};

#define BENCH_VOLUMES 4

/* Made-up producer names for the author field. */
static const char *const bench_authors[] = {
    "Mara Quist", "DJ Halden", "Tobias Wren", "Lena Voss", "Rico Alvarez", "Sam Okafor",
    "Jun Takeda", "Nadia Brandt", "Theo Marsh", "Ivy Kowalski", "Omar Haddad",
    "Priya Nair", "Felix Dorn", "Greta Lind", "Marcus Bell", "Ana Costa", "Yuki Mori",
    "Hugo Blanc", "Zara Quinn", "Elio Ferri"
};

/* 40 tags. */
static const char *const bench_tags[] = {
    "dark", "bright", "punchy", "warm", "loop", "oneshot", "vintage", "analog",
    "digital", "acoustic", "processed", "dry", "wet", "reverb", "distorted", "clean",
    "layered", "foley", "vinyl", "tape", "tonal", "short", "long", "mono",
    "stereo", "house", "techno", "dnb", "trap", "hiphop", "ambient", "808",
    "909", "sidechain", "lofi", "cinematic", "organic", "glitch", "minimal", "heavy"
};

static const char *const bench_notes[] = {
    "C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"
};

/* Kinds of query, for the breakdown in the report. */
enum {
    QK_WORD,        /* one word: instrument, character, genre, tag, number */
    QK_FOLDER,      /* words of pack and folder names, authors */
    QK_MULTI,       /* several words */
    QK_NOMATCH,     /* words that match nothing */
    QK_FILTER,      /* field:value filters, with or without words */
    QK_NEGATED,     /* -word */
    QK_OR,          /* OR, parentheses */
    QK_PHRASE,      /* "a phrase" */
    QK_SYNONYM,     /* a synonym of a word in names */
    QK_COUNT
};

static const char *const bench_kind_names[QK_COUNT] = {
    "one word", "pack/folder/author", "several words", "no match", "filtered",
    "negated", "OR", "phrase", "synonym"
};

typedef struct bench_query {
    int kind;
    const char *text;           /* as typed in full; every prefix is replayed */
} bench_query;

/* The fixed list.  Lowercase, as people type into a search box. */
static const bench_query bench_queries[] = {
    /* One word: the instruments. */
    { QK_WORD, "kick" }, { QK_WORD, "snare" }, { QK_WORD, "hat" }, { QK_WORD, "clap" },
    { QK_WORD, "tom" }, { QK_WORD, "ride" }, { QK_WORD, "crash" }, { QK_WORD, "perc" },
    { QK_WORD, "shaker" }, { QK_WORD, "bass" }, { QK_WORD, "sub" }, { QK_WORD, "pad" },
    { QK_WORD, "lead" }, { QK_WORD, "pluck" }, { QK_WORD, "keys" }, { QK_WORD, "piano" },
    { QK_WORD, "organ" }, { QK_WORD, "strings" }, { QK_WORD, "brass" }, { QK_WORD, "vox" },
    { QK_WORD, "choir" }, { QK_WORD, "fx" }, { QK_WORD, "riser" }, { QK_WORD, "impact" },
    { QK_WORD, "loop" }, { QK_WORD, "break" }, { QK_WORD, "groove" },
    /* Character words. */
    { QK_WORD, "deep" }, { QK_WORD, "punchy" }, { QK_WORD, "dirty" }, { QK_WORD, "warm" },
    { QK_WORD, "bright" }, { QK_WORD, "dark" }, { QK_WORD, "analog" }, { QK_WORD, "vintage" },
    { QK_WORD, "crunchy" }, { QK_WORD, "soft" }, { QK_WORD, "hard" }, { QK_WORD, "tight" },
    { QK_WORD, "fat" }, { QK_WORD, "wide" }, { QK_WORD, "lofi" }, { QK_WORD, "dusty" },
    /* Genres. */
    { QK_WORD, "house" }, { QK_WORD, "techno" }, { QK_WORD, "dnb" }, { QK_WORD, "trap" },
    { QK_WORD, "hiphop" }, { QK_WORD, "ambient" }, { QK_WORD, "dubstep" },
    { QK_WORD, "garage" }, { QK_WORD, "disco" }, { QK_WORD, "funk" },
    /* Tags, numbers and notes as words. */
    { QK_WORD, "oneshot" }, { QK_WORD, "sidechain" }, { QK_WORD, "808" }, { QK_WORD, "909" },
    { QK_WORD, "cinematic" }, { QK_WORD, "foley" }, { QK_WORD, "glitch" },
    { QK_WORD, "distorted" }, { QK_WORD, "124" }, { QK_WORD, "174" }, { QK_WORD, "03" },
    { QK_WORD, "c3" }, { QK_WORD, "a2" }, { QK_WORD, "bpm" },

    /* Pack, folder and producer names. */
    { QK_FOLDER, "vengeance" }, { QK_FOLDER, "essential" }, { QK_FOLDER, "one shots" },
    { QK_FOLDER, "kicks" }, { QK_FOLDER, "snares" }, { QK_FOLDER, "cymbals" },
    { QK_FOLDER, "percussion" }, { QK_FOLDER, "synths" }, { QK_FOLDER, "orchestral" },
    { QK_FOLDER, "vocals" }, { QK_FOLDER, "loops" }, { QK_FOLDER, "samples" },
    { QK_FOLDER, "vol 2" }, { QK_FOLDER, "basement tapes" }, { QK_FOLDER, "drumforge" },
    { QK_FOLDER, "lunar labs" }, { QK_FOLDER, "night shift" }, { QK_FOLDER, "analogue alley" },
    { QK_FOLDER, "circuit audio" }, { QK_FOLDER, "uk garage" }, { QK_FOLDER, "festival edm" },
    { QK_FOLDER, "mara quist" }, { QK_FOLDER, "halden" }, { QK_FOLDER, "takeda" },
    { QK_FOLDER, "home user" },

    /* Several words. */
    { QK_MULTI, "kick deep" }, { QK_MULTI, "deep kick" }, { QK_MULTI, "punchy kick" },
    { QK_MULTI, "kick 909" }, { QK_MULTI, "dirty snare" }, { QK_MULTI, "tight snare" },
    { QK_MULTI, "snare house" }, { QK_MULTI, "hat tight" }, { QK_MULTI, "clap wide" },
    { QK_MULTI, "tom fat" }, { QK_MULTI, "ride bright" }, { QK_MULTI, "crash dark" },
    { QK_MULTI, "perc lofi" }, { QK_MULTI, "shaker soft" }, { QK_MULTI, "bass sub" },
    { QK_MULTI, "sub bass deep" }, { QK_MULTI, "analog pad warm" },
    { QK_MULTI, "analog pad warm c3" }, { QK_MULTI, "lead bright" },
    { QK_MULTI, "pluck crunchy" }, { QK_MULTI, "keys vintage" }, { QK_MULTI, "piano soft c4" },
    { QK_MULTI, "organ vintage" }, { QK_MULTI, "strings wide" }, { QK_MULTI, "brass hard" },
    { QK_MULTI, "vox dark" }, { QK_MULTI, "choir ambient" }, { QK_MULTI, "fx riser" },
    { QK_MULTI, "riser techno" }, { QK_MULTI, "impact cinematic" },
    { QK_MULTI, "techno loop dark" }, { QK_MULTI, "house loop 124" },
    { QK_MULTI, "dnb break 174" }, { QK_MULTI, "funk break dusty" },
    { QK_MULTI, "hiphop groove lofi" }, { QK_MULTI, "trap hat" }, { QK_MULTI, "dubstep bass" },
    { QK_MULTI, "garage shaker" }, { QK_MULTI, "disco strings" },
    { QK_MULTI, "ambient pad wide" }, { QK_MULTI, "vengeance kick" },
    { QK_MULTI, "essential house kick" }, { QK_MULTI, "one shots kicks deep" },
    { QK_MULTI, "loops 128 bpm" }, { QK_MULTI, "deep house" }, { QK_MULTI, "dark techno" },
    { QK_MULTI, "lofi hiphop" }, { QK_MULTI, "warm analog bass" },
    { QK_MULTI, "vintage piano c3" }, { QK_MULTI, "kick snare" },
    { QK_MULTI, "hard kick techno" }, { QK_MULTI, "kick deep 03" },

    /* Words that match nothing. */
    { QK_NOMATCH, "zzyzx" }, { QK_NOMATCH, "qwerty" }, { QK_NOMATCH, "xylophone" },
    { QK_NOMATCH, "kazoo" }, { QK_NOMATCH, "bagpipe" }, { QK_NOMATCH, "theremin" },
    { QK_NOMATCH, "didgeridoo" }, { QK_NOMATCH, "glockenspiel" }, { QK_NOMATCH, "cowbell" },
    { QK_NOMATCH, "kick zzyzx" }, { QK_NOMATCH, "pad qwerty" }, { QK_NOMATCH, "deep banjo" },

    /* Filters, alone and with words. */
    { QK_FILTER, "kick tag:dark" }, { QK_FILTER, "pad bpm:120..128" },
    { QK_FILTER, "snare rating:>=4" }, { QK_FILTER, "hat -tag:loop" },
    { QK_FILTER, "cat:bass len:<2s" }, { QK_FILTER, "fav:yes pad" },
    { QK_FILTER, "vox added:-30d.." }, { QK_FILTER, "format:flac kick" },
    { QK_FILTER, "key:C3 piano" }, { QK_FILTER, "tag:punchy" }, { QK_FILTER, "tag:analog kick" },
    { QK_FILTER, "loop bpm:170..175" }, { QK_FILTER, "loop bpm:124" }, { QK_FILTER, "rating:5" },
    { QK_FILTER, "rating:>=3 snare" }, { QK_FILTER, "fav:yes" }, { QK_FILTER, "used:-7d.." },
    { QK_FILTER, "missing:yes" }, { QK_FILTER, "format:wav" }, { QK_FILTER, "format:ogg pad" },
    { QK_FILTER, "rate:96000" }, { QK_FILTER, "ch:1 kick" }, { QK_FILTER, "ch:2 pad" },
    { QK_FILTER, "len:>10s" }, { QK_FILTER, "len:<0.5s hat" }, { QK_FILTER, "cat:kick deep" },
    { QK_FILTER, "cat:fx riser" }, { QK_FILTER, "author:mara" },
    { QK_FILTER, "key:A2 bass" }, { QK_FILTER, "tag:dark tag:techno" },
    { QK_FILTER, "tag:lofi -tag:vinyl" }, { QK_FILTER, "bpm:85..95 break" },
    { QK_FILTER, "added:-365d.. kick" }, { QK_FILTER, "rating:>=4 fav:yes" },
    { QK_FILTER, "cat:pad key:C3" }, { QK_FILTER, "cat:vox -tag:wet" },
    { QK_FILTER, "format:aiff" }, { QK_FILTER, "len:1s..3s pad" },
    { QK_FILTER, "bpm:>=170 loop" }, { QK_FILTER, "deep cat:bass" },
    { QK_FILTER, "loop:yes techno" }, { QK_FILTER, "bits:24 snare" },

    /* Negation. */
    { QK_NEGATED, "kick -deep" }, { QK_NEGATED, "pad -dark" }, { QK_NEGATED, "loop -house" },
    { QK_NEGATED, "snare -tight -dirty" }, { QK_NEGATED, "bass -sub" },
    { QK_NEGATED, "vox -choir" }, { QK_NEGATED, "hat -open" }, { QK_NEGATED, "fx -riser" },

    /* OR and parentheses. */
    { QK_OR, "kick OR snare" }, { QK_OR, "pad OR strings" }, { QK_OR, "clap OR snare tight" },
    { QK_OR, "riser OR impact" }, { QK_OR, "(kick OR snare) deep" },
    { QK_OR, "dnb OR jungle" },

    /* Phrases. */
    { QK_PHRASE, "\"deep kick\"" }, { QK_PHRASE, "\"analog pad\"" },
    { QK_PHRASE, "\"house loop\"" }, { QK_PHRASE, "\"kick 03\"" }, { QK_PHRASE, "\"vol 2\"" },
    { QK_PHRASE, "\"techno loop dark\"" },

    /* Synonyms of words in names. */
    { QK_SYNONYM, "bd" }, { QK_SYNONYM, "sd" }, { QK_SYNONYM, "hh" }, { QK_SYNONYM, "hihat" },
    { QK_SYNONYM, "snr" }, { QK_SYNONYM, "vocal" }, { QK_SYNONYM, "sfx" },
    { QK_SYNONYM, "bassdrum" },
};

#endif /* SHELF_BENCH_WORDS_H */
