#!/bin/sh
# make_corpus.sh: write the seed inputs of fuzz/corpus/probe and
# fuzz/corpus/path.  Seeds are tiny (a few hundred frames at 8 kHz) so the
# corpus stays small; inputs the fuzzer found are added by hand (README.md)
# and are never touched here.  Uses python3 (in scripts/install-deps) for the
# hand-made chunks and sndfile-convert (sndfile-programs, install-deps
# --tools) for the codecs.  Run from anywhere; rerunning rewrites the seeds.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
probe="$here/corpus/probe"
path="$here/corpus/path"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
mkdir -p "$probe" "$path"

command -v sndfile-convert >/dev/null || {
    echo "make_corpus.sh: sndfile-convert not found (scripts/install-deps --tools)" >&2
    exit 1
}

# ---- Hand-made files: valid ones with metadata chunks, and broken ones. ----
python3 - "$probe" "$tmp" <<'PYEOF'
import math, os, random, struct, sys

probe, tmp = sys.argv[1], sys.argv[2]
RATE, FRAMES = 8000, 256

def pcm16(frames=FRAMES, channels=1, big=False):
    fmt = ">h" if big else "<h"
    out = bytearray()
    for i in range(frames):
        v = int(12000 * math.sin(2 * math.pi * 440 * i / RATE))
        for _ in range(channels):
            out += struct.pack(fmt, v)
    return bytes(out)

def chunk(tag, body, big=False):
    pad = b"\0" if len(body) % 2 else b""
    return tag + struct.pack(">I" if big else "<I", len(body)) + body + pad

def wav(chunks, riff_size=None):
    body = b"WAVE" + b"".join(chunks)
    size = len(body) if riff_size is None else riff_size
    return b"RIFF" + struct.pack("<I", size) + body

def fmt_chunk(channels=1, bits=16, tag=1, rate=RATE):
    align = channels * bits // 8
    return chunk(b"fmt ", struct.pack("<HHIIHH", tag, channels, rate,
                                      rate * align, align, bits))

def smpl_chunk(note, loops):
    body = struct.pack("<9I", 0, 0, 1000000000 // RATE, note, 0, 0, 0, len(loops), 0)
    for i, (mode, start, end) in enumerate(loops):
        body += struct.pack("<6I", i, mode, start, end, 0, 0)
    return chunk(b"smpl", body)

def acid_chunk(root, beats, tempo, flags=0x02):
    return chunk(b"acid", struct.pack("<IHHfIHHf", flags, root, 0x8000, 0.0,
                                      beats, 4, 4, tempo))

def ext80(x):
    # IEEE 754 80-bit extended, as AIFF stores the sample rate.
    e = int(math.floor(math.log2(x)))
    return struct.pack(">HQ", e + 16383, int(x * 2 ** (63 - e)))

def aiff(chunks):
    body = b"AIFF" + b"".join(chunks)
    return b"FORM" + struct.pack(">I", len(body)) + body

def comm(frames=FRAMES, channels=1, bits=16):
    return chunk(b"COMM", struct.pack(">hIh", channels, frames, bits) + ext80(RATE), True)

def ssnd(data):
    return chunk(b"SSND", struct.pack(">II", 0, 0) + data, True)

def mark(markers):
    body = struct.pack(">H", len(markers))
    for mid, pos, name in markers:
        ps = bytes([len(name)]) + name
        if len(ps) % 2:
            ps += b"\0"
        body += struct.pack(">HI", mid, pos) + ps
    return chunk(b"MARK", body, True)

def inst(base, sustain, release=(0, 0, 0)):
    return chunk(b"INST", struct.pack(">bbbbbbhhhhhhh", base, 0, 0, 127, 1, 127, 0,
                                      *sustain, *release), True)

def put(name, data):
    with open(os.path.join(probe, name), "wb") as f:
        f.write(data)

data = pcm16()
base = wav([fmt_chunk(), chunk(b"data", data)])
put("wav_pcm16_mono.wav", base)
with open(os.path.join(tmp, "base.wav"), "wb") as f:
    f.write(base)
with open(os.path.join(tmp, "stereo.wav"), "wb") as f:
    f.write(wav([fmt_chunk(channels=2), chunk(b"data", pcm16(channels=2))]))

# Root key and a forward loop (smpl), tempo and beats (acid).
put("wav_smpl_root_loop.wav",
    wav([fmt_chunk(), smpl_chunk(60, [(0, 16, 200)]), chunk(b"data", data)]))
put("wav_acid_tempo.wav",
    wav([fmt_chunk(), acid_chunk(57, 4, 120.0), chunk(b"data", data)]))
put("wav_smpl_acid.wav",
    wav([fmt_chunk(), smpl_chunk(48, [(1, 0, 128), (2, 32, 64)]),
         acid_chunk(48, 8, 95.5), chunk(b"data", data)]))
# Edge cases the probe must survive: a loop past the audio, a note > 127.
put("wav_smpl_loop_past_end.wav",
    wav([fmt_chunk(), smpl_chunk(200, [(0, 100, 1 << 30)]), chunk(b"data", data)]))
put("wav_list_info.wav",
    wav([fmt_chunk(), chunk(b"LIST", b"INFO" + chunk(b"INAM", b"Kick 01\0")
                                      + chunk(b"ISFT", b"shelf\0")),
         chunk(b"data", data)]))

# AIFF with markers and an instrument chunk whose sustain loop uses them.
adata = pcm16(big=True)
put("aiff_inst_mark.aif",
    aiff([comm(), mark([(1, 16, b"start"), (2, 200, b"end")]),
          inst(62, (1, 1, 2)), ssnd(adata)]))

# Broken files.
put("empty.bin", b"")
put("wav_truncated_header.wav", base[:22])
put("wav_data_size_too_big.wav",
    wav([fmt_chunk(), struct.pack("<4sI", b"data", 1 << 20) + data]))
put("wav_truncated_data.wav", base[:len(base) // 2])
put("riff_garbage_fmt.wav",
    wav([chunk(b"fmt ", bytes(random.Random(7).randrange(256) for _ in range(16))),
         chunk(b"data", data[:64])]))
put("wav_zero_channels.wav", wav([fmt_chunk(channels=0), chunk(b"data", data[:64])]))
put("wav_no_data_chunk.wav", wav([fmt_chunk()]))
put("aiff_truncated_ssnd.aif", aiff([comm(), ssnd(adata)])[:120])
put("random_bytes.bin", bytes(random.Random(1).randrange(256) for _ in range(512)))
put("text_not_audio.txt", b"This is not an audio file.\nJust some text.\n")
# Inputs that are also names: the target reads its input as a path too.
put("name_kick_120bpm.txt", b"Drums/Kick_01 120bpm.wav")
put("name_break_bpm_after.txt", b"Loops/Breaks/AmenBreak_BPM_95.WAV")
PYEOF

# ---- Codecs and containers, converted from the 16-bit WAV. ----
conv() { sndfile-convert "$@" >/dev/null; }
conv -pcm24 "$tmp/stereo.wav" "$probe/wav_pcm24_stereo.wav"
conv -float32 "$tmp/base.wav" "$probe/wav_float_mono.wav"
conv -pcmu8 "$tmp/base.wav" "$probe/wav_u8_mono.wav"
conv -ima-adpcm "$tmp/base.wav" "$probe/wav_ima_adpcm.wav"
conv -ms-adpcm "$tmp/base.wav" "$probe/wav_ms_adpcm.wav"
conv -pcm16 "$tmp/stereo.wav" "$tmp/x.wavex" && mv "$tmp/x.wavex" "$probe/wavex_pcm16_stereo.wav"
conv -pcm16 "$tmp/base.wav" "$probe/rf64_pcm16.rf64"
conv -pcm16 "$tmp/base.wav" "$probe/aiff_pcm16.aif"
conv -pcm16 "$tmp/base.wav" "$probe/flac_pcm16.flac"
conv -vorbis "$tmp/base.wav" "$probe/ogg_vorbis.ogg"
conv -pcm16 "$tmp/base.wav" "$probe/au_pcm16.au"
conv -ulaw "$tmp/base.wav" "$probe/au_ulaw.au"
conv -pcm16 "$tmp/base.wav" "$probe/caf_pcm16.caf"
conv -alac16 "$tmp/base.wav" "$probe/caf_alac16.caf"
conv -pcm16 "$tmp/base.wav" "$probe/w64_pcm16.w64"
head -c 60 "$probe/flac_pcm16.flac" >"$probe/flac_truncated.flac"
head -c 200 "$probe/ogg_vorbis.ogg" >"$probe/ogg_truncated.ogg"

# ---- Path seeds: "path" or "path\0dir" (see fuzz_path.c). ----
p() { printf "$2" >"$path/$1"; }
p plain_relative       'Drums/Kick_01 120bpm.wav'
p under_dir            '/home/me/Samples/Drums/kick.wav\0/home/me/Samples'
p under_dir_slash      '/home/me/Samples/Drums/kick.wav\0/home/me/Samples/'
p equal_to_dir         '/home/me/Samples\0/home/me/Samples'
p prefix_not_dir       '/home/me/SamplesOld/a.wav\0/home/me/Samples'
p root_dir             '/a.wav\0/'
p dotdot               '../../etc/passwd\0..'
p double_slashes       '//a//b//c.WAV\0//a//'
p utf8_names           'Échantillons/Caisse claire ☃ 90 BPM.flac\0Échantillons'
p dotfile_no_ext       '/x/.hidden\0/x'
p trailing_dot         'loops/groove.\0loops'
p many_dots            'a.b.c/d.tar.GZ\0a.b.c'
p empty_both           '\0'
p no_dir_long_ext      'Pads/Warm Pad C3.aiffc-backup'
