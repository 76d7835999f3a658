/*
 * sfz_opcodes.c: the SFZ opcodes the exporter may write: those of
 * sfzformat.com/misc/all_opcodes (SFZ v1 and v2, ARIA, Cakewalk and
 * LinuxSampler extensions; tests/data/sfz-opcodes.txt is the list as
 * documented, and test_formats checks this table against it).  Names are
 * kept with every number (the N, NN, X, Y of the documentation) written
 * as '#', sorted in byte order for bsearch.
 */
#include <stdlib.h>
#include <string.h>
#include "formats_int.h"

static const char *const opcodes[] = {
    "amp_keycenter", "amp_keytrack", "amp_random", "amp_velcurve_#", "amp_veltrack",
    "ampeg_attack", "ampeg_attack_shape", "ampeg_attackcc#", "ampeg_decay",
    "ampeg_decay_curvecc#", "ampeg_decay_shape", "ampeg_decay_zero", "ampeg_decaycc#",
    "ampeg_delay", "ampeg_delaycc#", "ampeg_dynamic", "ampeg_hold", "ampeg_hold_curvecc#",
    "ampeg_holdcc#", "ampeg_release", "ampeg_release_shape", "ampeg_release_zero",
    "ampeg_releasecc#", "ampeg_start", "ampeg_startcc#", "ampeg_sustain",
    "ampeg_sustain_curvecc#", "ampeg_sustaincc#", "ampeg_vel#attack", "ampeg_vel#decay",
    "ampeg_vel#delay", "ampeg_vel#hold", "ampeg_vel#release", "ampeg_vel#sustain",
    "amplfo_delay", "amplfo_depth", "amplfo_depthcc#", "amplfo_depthchanaft",
    "amplfo_depthpolyaft", "amplfo_fade", "amplfo_freq", "amplfo_freqcc#",
    "amplfo_freqchanaft", "amplfo_freqpolyaft", "amplitude", "amplitude_curvecc#",
    "amplitude_oncc#", "amplitude_smoothcc#", "bend_down", "bend_smooth", "bend_step",
    "bend_stepdown", "bend_stepup", "bend_up", "bus", "count", "curve_index", "cutoff",
    "cutoff#", "cutoff#_curvecc#", "cutoff#_oncc#", "cutoff#_smoothcc#", "cutoff#_stepcc#",
    "cutoff_cc#", "cutoff_chanaft", "cutoff_curvecc#", "cutoff_polyaft", "cutoff_smoothcc#",
    "cutoff_stepcc#", "default_path", "delay", "delay_beats", "delay_cc#", "delay_random",
    "delay_samples", "delay_samples_oncc#", "direction", "effect#", "eg#_amplitude",
    "eg#_amplitude_oncc#", "eg#_bitred", "eg#_bitred_oncc#", "eg#_curve#", "eg#_cutoff",
    "eg#_cutoff#", "eg#_cutoff#_oncc#", "eg#_cutoff_oncc#", "eg#_decim", "eg#_decim_oncc#",
    "eg#_depth_lfo#", "eg#_depthadd_lfo#", "eg#_driveshape", "eg#_driveshape_oncc#",
    "eg#_eq#bw", "eg#_eq#bw_oncc#", "eg#_eq#freq", "eg#_eq#freq_oncc#", "eg#_eq#gain",
    "eg#_eq#gain_oncc#", "eg#_freq_lfo#", "eg#_level#", "eg#_level#_oncc#", "eg#_loop",
    "eg#_loop_count", "eg#_noiselevel", "eg#_noiselevel_oncc#", "eg#_noisestep",
    "eg#_noisestep_oncc#", "eg#_noisetone", "eg#_noisetone_oncc#", "eg#_pan", "eg#_pan_curve",
    "eg#_pan_curvecc#", "eg#_pan_oncc#", "eg#_pitch", "eg#_pitch_oncc#", "eg#_points",
    "eg#_rectify", "eg#_rectify_oncc#", "eg#_resonance", "eg#_resonance#",
    "eg#_resonance#_oncc#", "eg#_resonance_oncc#", "eg#_ringmod", "eg#_ringmod_oncc#",
    "eg#_shape#", "eg#_sustain", "eg#_time#", "eg#_time#_oncc#", "eg#_volume",
    "eg#_volume_oncc#", "eg#_width", "eg#_width_oncc#", "end", "eq#_bw", "eq#_bwcc#",
    "eq#_dynamic", "eq#_freq", "eq#_freqcc#", "eq#_gain", "eq#_gaincc#", "eq#_type",
    "eq#_vel#freq", "eq#_vel#gain", "fil#_gain", "fil#_keycenter", "fil#_keytrack",
    "fil#_type", "fil#_veltrack", "fil_gain", "fil_keycenter", "fil_keytrack", "fil_random",
    "fil_type", "fil_veltrack", "fileg_attack", "fileg_attack_oncc#", "fileg_attack_shape",
    "fileg_decay", "fileg_decay_oncc#", "fileg_decay_shape", "fileg_decay_zero", "fileg_delay",
    "fileg_delay_oncc#", "fileg_depth", "fileg_depth_oncc#", "fileg_dynamic", "fileg_hold",
    "fileg_hold_oncc#", "fileg_release", "fileg_release_oncc#", "fileg_release_shape",
    "fileg_release_zero", "fileg_start", "fileg_start_oncc#", "fileg_sustain",
    "fileg_sustain_oncc#", "fileg_vel#attack", "fileg_vel#decay", "fileg_vel#delay",
    "fileg_vel#depth", "fileg_vel#hold", "fileg_vel#release", "fileg_vel#sustain",
    "fillfo_delay", "fillfo_depth", "fillfo_depthcc#", "fillfo_depthchanaft",
    "fillfo_depthpolyaft", "fillfo_fade", "fillfo_freq", "fillfo_freqcc#",
    "fillfo_freqchanaft", "fillfo_freqpolyaft", "gain_cc#", "global_amplitude", "global_label",
    "global_volume", "group", "group_amplitude", "group_label", "group_volume", "hibend",
    "hibpm", "hicc#", "hichan", "hichanaft", "hihdcc#", "hikey", "hipolyaft", "hiprog",
    "hirand", "hitimer", "hivel", "image", "key", "label_cc#", "lfo#_amplitude",
    "lfo#_amplitude_oncc#", "lfo#_amplitude_smoothcc#", "lfo#_amplitude_stepcc#",
    "lfo#_bitred", "lfo#_bitred_oncc#", "lfo#_bitred_smoothcc#", "lfo#_bitred_stepcc#",
    "lfo#_count", "lfo#_cutoff", "lfo#_cutoff#", "lfo#_cutoff#_oncc#",
    "lfo#_cutoff#_smoothcc#", "lfo#_cutoff#_stepcc#", "lfo#_cutoff_oncc#",
    "lfo#_cutoff_smoothcc#", "lfo#_cutoff_stepcc#", "lfo#_decim", "lfo#_decim_oncc#",
    "lfo#_decim_smoothcc#", "lfo#_decim_stepcc#", "lfo#_delay", "lfo#_delay_oncc#",
    "lfo#_depth_lfo#", "lfo#_depthadd_lfo#", "lfo#_drive", "lfo#_drive_oncc#",
    "lfo#_drive_smoothcc#", "lfo#_drive_stepcc#", "lfo#_eq#bw", "lfo#_eq#bw_oncc#",
    "lfo#_eq#bw_smoothcc#", "lfo#_eq#bw_stepcc#", "lfo#_eq#freq", "lfo#_eq#freq_oncc#",
    "lfo#_eq#freq_smoothcc#", "lfo#_eq#freq_stepcc#", "lfo#_eq#gain", "lfo#_eq#gain_oncc#",
    "lfo#_eq#gain_smoothcc#", "lfo#_eq#gain_stepcc#", "lfo#_fade", "lfo#_fade_oncc#",
    "lfo#_freq", "lfo#_freq_lfo#", "lfo#_freq_lfo#_oncc#", "lfo#_freq_oncc#",
    "lfo#_freq_smoothcc#", "lfo#_freq_stepcc#", "lfo#_noiselevel", "lfo#_noiselevel_oncc#",
    "lfo#_noiselevel_smoothcc#", "lfo#_noiselevel_stepcc#", "lfo#_noisestep",
    "lfo#_noisestep_oncc#", "lfo#_noisestep_smoothcc#", "lfo#_noisestep_stepcc#",
    "lfo#_noisetone", "lfo#_noisetone_oncc#", "lfo#_noisetone_smoothcc#",
    "lfo#_noisetone_stepcc#", "lfo#_offset", "lfo#_pan", "lfo#_pan_oncc#",
    "lfo#_pan_smoothcc#", "lfo#_pan_stepcc#", "lfo#_phase", "lfo#_phase_oncc#", "lfo#_pitch",
    "lfo#_pitch_curvecc#", "lfo#_pitch_oncc#", "lfo#_pitch_smoothcc#", "lfo#_pitch_stepcc#",
    "lfo#_ratio", "lfo#_resonance", "lfo#_resonance#", "lfo#_resonance#_oncc#",
    "lfo#_resonance#_smoothcc#", "lfo#_resonance#_stepcc#", "lfo#_resonance_oncc#",
    "lfo#_resonance_smoothcc#", "lfo#_resonance_stepcc#", "lfo#_scale", "lfo#_smooth",
    "lfo#_smooth_oncc#", "lfo#_step#", "lfo#_step#_oncc#", "lfo#_steps", "lfo#_volume",
    "lfo#_volume_oncc#", "lfo#_volume_smoothcc#", "lfo#_volume_stepcc#", "lfo#_wave",
    "lfo#_wave#", "lfo#_wave_oncc#", "lfo#_width", "lfo#_width_oncc#", "lfo#_width_smoothcc#",
    "lfo#_width_stepcc#", "load_end", "load_mode", "load_start", "lobend", "lobpm", "locc#",
    "lochan", "lochanaft", "lohdcc#", "lokey", "loop_count", "loop_crossfade", "loop_end",
    "loop_mode", "loop_start", "loop_type", "lopolyaft", "loprog", "lorand", "lotimer",
    "lovel", "master_amplitude", "master_label", "master_volume", "md#", "noise_filter",
    "noise_level", "noise_level_oncc#", "noise_level_smoothcc#", "noise_step",
    "noise_step_oncc#", "noise_stereo", "noise_tone", "noise_tone_oncc#", "note_offset",
    "note_polyphony", "note_selfmask", "octave_offset", "off_by", "off_curve", "off_mode",
    "off_shape", "off_time", "offset", "offset_cc#", "offset_random", "on_hicc#", "on_locc#",
    "oscillator", "oscillator_detune", "oscillator_detune_oncc#", "oscillator_mod_depth",
    "oscillator_mod_depth_oncc#", "oscillator_mod_smoothcc#", "oscillator_mode",
    "oscillator_multi", "oscillator_phase", "oscillator_quality", "oscillator_table_size",
    "output", "pan", "pan_curvecc#", "pan_keycenter", "pan_keytrack", "pan_law", "pan_oncc#",
    "pan_smoothcc#", "pan_stepcc#", "pan_veltrack", "param_offset", "phase", "pitch",
    "pitch_curvecc#", "pitch_keycenter", "pitch_keytrack", "pitch_oncc#", "pitch_random",
    "pitch_smoothcc#", "pitch_stepcc#", "pitch_veltrack", "pitcheg_attack",
    "pitcheg_attack_oncc#", "pitcheg_attack_shape", "pitcheg_decay", "pitcheg_decay_oncc#",
    "pitcheg_decay_shape", "pitcheg_decay_zero", "pitcheg_delay", "pitcheg_delay_oncc#",
    "pitcheg_depth", "pitcheg_depth_oncc#", "pitcheg_dynamic", "pitcheg_hold",
    "pitcheg_hold_oncc#", "pitcheg_release", "pitcheg_release_oncc#", "pitcheg_release_shape",
    "pitcheg_release_zero", "pitcheg_start", "pitcheg_start_oncc#", "pitcheg_sustain",
    "pitcheg_sustain_oncc#", "pitcheg_vel#attack", "pitcheg_vel#decay", "pitcheg_vel#delay",
    "pitcheg_vel#depth", "pitcheg_vel#hold", "pitcheg_vel#release", "pitcheg_vel#sustain",
    "pitchlfo_delay", "pitchlfo_depth", "pitchlfo_depthcc#", "pitchlfo_depthchanaft",
    "pitchlfo_depthpolyaft", "pitchlfo_fade", "pitchlfo_freq", "pitchlfo_freqcc#",
    "pitchlfo_freqchanaft", "pitchlfo_freqpolyaft", "polyphony", "polyphony_group", "position",
    "region_label", "resonance", "resonance#", "resonance#_curvecc#", "resonance#_oncc#",
    "resonance#_smoothcc#", "resonance#_stepcc#", "resonance_curvecc#", "resonance_oncc#",
    "resonance_smoothcc#", "resonance_stepcc#", "reverse_hicc#", "reverse_locc#", "rt_dead",
    "rt_decay", "sample", "sample_quality", "script", "seq_length", "seq_position", "set_cc#",
    "set_hdcc#", "sostenuto_cc", "sostenuto_lo", "sostenuto_sw", "start_hicc#", "start_locc#",
    "stop_beats", "stop_hicc#", "stop_locc#", "sustain_cc", "sustain_lo", "sustain_sw",
    "sw_default", "sw_down", "sw_hikey", "sw_hilast", "sw_label", "sw_last", "sw_lokey",
    "sw_lolast", "sw_note_offset", "sw_octave_offset", "sw_previous", "sw_up", "sw_vel",
    "sync_beats", "sync_offset", "transpose", "trigger", "tune", "type", "v#", "var#_curvecc#",
    "var#_mod", "var#_oncc#", "var#_target", "vendor_specific", "volume", "volume_curvecc#",
    "volume_smoothcc#", "volume_stepcc#", "waveguide", "width", "width_curvecc#",
    "width_oncc#", "width_smoothcc#", "width_stepcc#", "xf_cccurve", "xf_keycurve",
    "xf_velcurve", "xfin_hicc#", "xfin_hikey", "xfin_hivel", "xfin_locc#", "xfin_lokey",
    "xfin_lovel", "xfout_hicc#", "xfout_hikey", "xfout_hivel", "xfout_locc#", "xfout_lokey",
    "xfout_lovel",
};

static int cmp(const void *key, const void *elem)
{
    return strcmp(key, *(const char *const *)elem);
}

/* name with each run of digits (and, for the documented forms, of capital
 * letters) as one '#'; 0 when it does not fit. */
static int normalise(const char *name, char *out, size_t size)
{
    size_t n = 0;

    while (*name) {
        if (n + 2 > size)
            return 0;
        if ((*name >= '0' && *name <= '9') || (*name >= 'A' && *name <= 'Z')) {
            while ((*name >= '0' && *name <= '9') || (*name >= 'A' && *name <= 'Z'))
                name++;
            out[n++] = '#';
        } else {
            out[n++] = *name++;
        }
    }
    out[n] = '\0';
    return 1;
}

static int listed(const char *norm)
{
    return bsearch(norm, opcodes, sizeof opcodes / sizeof opcodes[0], sizeof opcodes[0], cmp) !=
           NULL;
}

int shelf__sfz_is_opcode(const char *name)
{
    static const char *const mods[] = { "_oncc#", "_curvecc#", "_smoothcc#", "_stepcc#", "cc#" };
    char norm[128];
    size_t n, k, m;

    if (!normalise(name, norm, sizeof norm))
        return 0;
    if (listed(norm))
        return 1;
    /* A modulation of a listed opcode (sfzformat.com/modulations). */
    n = strlen(norm);
    for (k = 0; k < sizeof mods / sizeof mods[0]; k++) {
        m = strlen(mods[k]);
        if (n > m && strcmp(norm + n - m, mods[k]) == 0) {
            norm[n - m] = '\0';
            if (listed(norm))
                return 1;
            norm[n - m] = mods[k][0];
        }
    }
    return 0;
}

size_t shelf__sfz_opcode_count(void)
{
    return sizeof opcodes / sizeof opcodes[0];
}
