#pragma once
// Audio in: WAV files and the Kaldi-compatible log-mel filterbank of the Spiking LMUFormer's input
// pipeline (docs/lmuformer.md §1.2; torchaudio.compliance.kaldi.fbank with the upstream arguments), whole
// clips and streaming in chunks of any size.
#include <array>
#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "lmusim/core/output_file.hpp"

namespace lmusim {

struct wav_audio {
    std::uint32_t sample_rate = 0;
    std::vector<float> samples;  // mono, in [-1, 1): PCM16 / 32768, or float32 as stored
};

// Reads a mono PCM16 or float32 WAV (WAVE_FORMAT_PCM, _IEEE_FLOAT or _EXTENSIBLE). Anything else
// (other sample formats, several channels, truncated data, a malformed header) is an
// lmusim::file_error naming the file and the problem.
wav_audio read_wav(const std::string& path);
// Writes a mono PCM16 WAV (samples clipped to [-1, 1)), whole or not at all (output_file); an
// existing file is replaced only with if_exists::replace.
void write_wav(const std::string& path, const std::vector<float>& samples, std::uint32_t sample_rate,
               if_exists existing = if_exists::fail);

// Per-channel energy normalisation (PCEN; Wang et al. 2017, docs/frontend.md): per mel bin, a
// smoother M[t] = (1 - smooth) M[t-1] + smooth E[t] of the energy E = exp(log-mel), started at the
// clip's first frame (M[0] = E[0]), and P = (E / (eps + M)^alpha + delta)^root - delta^root.
// It divides out the level and the slowly varying background, per band.
struct pcen_options {
    bool enabled = false;
    double smooth = 0.025;  // per 10 ms frame: a time constant of about 0.4 s
    double alpha = 0.98;    // gain normalisation exponent
    double delta = 2.0;     // bias
    double root = 0.5;      // compression exponent
    double eps = 1e-6;      // floor of the smoothed energy
};

// The parameters by name: a model file's /meta attributes pcen_<name>, Python's pcen dict keys.
inline constexpr std::array<std::pair<const char*, double pcen_options::*>, 5> pcen_parameters{{
    {"smooth", &pcen_options::smooth},
    {"alpha", &pcen_options::alpha},
    {"delta", &pcen_options::delta},
    {"root", &pcen_options::root},
    {"eps", &pcen_options::eps},
}};

struct fbank_options {
    std::uint32_t sample_rate = 16000;  // [Hz]; other rates are rejected (resample with sox first)
    std::size_t frame_length = 400;     // samples (25 ms)
    std::size_t frame_shift = 160;      // samples (10 ms)
    std::size_t fft_size = 512;         // frame zero-padded to the next power of two
    std::size_t mel_bins = 128;
    double low_freq = 20.0;             // [Hz]
    double high_freq = 0.0;             // [Hz]; <= 0 means Nyquist + high_freq
    double preemphasis = 0.97;
    float feature_mean = -6.845978f;    // normalisation x = (fbank - mean) / std2 (of the PCEN output with pcen)
    float feature_std2 = 11.1309052f;   // twice the dataset std (AST convention)
    std::size_t target_frames = 128;    // pad (zero log-mel rows) or cut to this; 0 = as many as the audio gives
    pcen_options pcen;                  // off: the features are the normalised log-mel energies
};

// Validates fbank_options' PCEN and normalisation values; the error names `where` (a file, an option).
void check_frontend(const fbank_options& o, const std::string& where);

// Log-mel rows -> normalised feature rows, one frame after the other: the normalisation, after
// PCEN when it is on (which keeps a smoother per mel bin, so rows must come in time order; a
// fresh normaliser starts a new clip). pad() is the value of padding cells: a zero log-mel cell,
// or a zero PCEN output, normalised.
class feature_normaliser {
public:
    explicit feature_normaliser(const fbank_options& o);
    void row(float* row);  // in place
    float pad() const noexcept;

private:
    const fbank_options* o_;
    double offset_ = 0;           // PCEN's delta^root
    std::vector<double> smooth_;  // PCEN's M per bin; empty before the first row
};

// The log-mel filterbank, computed per 25 ms frame exactly as Kaldi/torchaudio do: per-frame DC
// removal, pre-emphasis (first sample its own predecessor), symmetric Hann window, zero padding
// to 512, power spectrum, 128 HTK-mel triangles from 20 Hz to Nyquist (Nyquist bin weight 0),
// log with floor 1.1920929e-07; then PCEN if enabled, and the normalisation.
class fbank {
public:
    explicit fbank(fbank_options options = {});
    const fbank_options& options() const noexcept { return opt_; }

    // log-mel energies of one frame of frame_length samples (not normalised).
    void log_mel(const float* frame, float* out) const;
    // A whole clip: frames, pad or cut to target_frames, normalise. Returns [frames][mel_bins].
    // Upstream also subtracts the clip mean first; the per-frame DC removal makes that a no-op
    // up to rounding, so it is skipped, which keeps whole clips and streaming bit-identical.
    std::vector<float> features(std::span<const float> samples) const;
    std::size_t frames_for(std::size_t samples) const noexcept;  // before padding / cutting

private:
    fbank_options opt_;
    std::vector<double> window_;
    std::vector<double> cos_, sin_;                 // FFT twiddles
    std::vector<std::size_t> bitrev_;
    std::vector<std::vector<std::pair<std::size_t, double>>> mel_;  // per bin: (fft bin, weight)
};

// Streaming front-end: push samples in chunks of any size; every completed 25 ms frame comes out
// as a normalised feature row as soon as its last sample arrives. finish() pads with the
// normalised padding value up to target_frames (if set). The rows equal fbank::features of
// the whole clip exactly. With normalise = false the rows are the raw log-mel energies (for a
// caller that cuts the stream into clips and normalises each with a feature_normaliser).
class fbank_stream {
public:
    explicit fbank_stream(const fbank& fb, bool normalise = true)
        : fb_(fb), norm_(fb.options()), normalise_(normalise) {}
    // Returns the new feature rows, [n][mel_bins].
    std::vector<float> push(std::span<const float> samples);
    std::vector<float> finish();
    std::size_t frames_emitted() const noexcept { return emitted_; }

private:
    const fbank& fb_;
    feature_normaliser norm_;
    bool normalise_;
    std::vector<float> pending_;  // samples not yet consumed by a frame
    std::size_t emitted_ = 0;
};

}  // namespace lmusim
