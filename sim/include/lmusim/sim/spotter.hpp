#pragma once
// Keyword spotting in a long or endless audio stream with a model trained on 1 s clips (the
// Spiking LMUFormer, the L2MU): sliding windows of 1 s, one starting every hop, each run as a clip
// of its own (exactly what `lmusim run MODEL --input that_second.wav --stream` computes), and a
// detector that turns the windows' class probabilities into one detection per spoken word
// (docs/spotting.md).
//
// The audio is pushed in chunks of any size as it arrives; the log-mel front-end runs
// incrementally over the whole stream (fbank_stream), and window k, the audio
// [k hop, k hop + 1 s), runs as soon as its last feature frame is complete, so the results do not
// depend on how the audio was chunked.
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "lmusim/frontend/audio.hpp"
#include "lmusim/graph/network.hpp"
#include "lmusim/sim/clip_runner.hpp"
#include "lmusim/sim/run_clips.hpp"

namespace lmusim {

struct spot_options {
    std::string input_node;   // the model's input and output (readout) nodes
    std::string output_node;
    std::size_t threads = 1;
    double window_s = 1.0;     // audio per window (what the model was trained on)
    double hop_s = 0.05;       // between window starts; a multiple of the front-end's frame shift
    double threshold = 0.85;   // on the smoothed confidence, in (0, 1]
    double release = 0.7;      // an open detection goes on while its keyword's confidence is >= this, in (0, threshold]
    double smooth_s = 0.1;     // the confidence is averaged over the windows starting within this
    double refractory_s = 0.3;  // a detection ends after this long without a confident window
};

struct detection {
    double time_s = 0;        // the word's estimated start: see keyword_detector
    std::size_t keyword = 0;  // class index
    double confidence = 0;    // the highest smoothed confidence over the detection
    std::uint64_t first_window = 0, last_window = 0;  // the confident windows' range
};

// Windows' class probabilities in, detections out; no model inside (a pure function of the
// sequence). Window k's smoothed confidence is the mean of the probabilities of windows
// max(0, k - smooth + 1) .. k; its top class c is detected when that confidence is >= threshold.
// A detection of c, once started, also counts the windows whose top class is c with a confidence
// >= release (hysteresis: release <= threshold). Counted windows of the same class at most
// `refractory` windows apart form one detection; it is reported once `refractory` more windows
// passed without one (or at finish()), with
//   time = start of the last counted window's averaged windows' centre
//        = (max(0, last - smooth + 1) + last) / 2 * hop_s,
// which is where the word begins: the last window that still recognises a word is the one that
// starts at its onset (it may do so with less confidence than the windows that hold the whole
// word with some audio before it: hence the lower release threshold).
class keyword_detector {
public:
    keyword_detector(std::size_t classes, double threshold, double release, std::size_t smooth_windows,
                     std::size_t refractory_windows, std::uint64_t hop_samples, std::uint32_t sample_rate);
    // The next window's probabilities (classes values); returns the detections that ended.
    std::vector<detection> push(std::span<const double> probabilities);
    // The stream ended: every detection still open, in time order.
    std::vector<detection> finish();
    std::uint64_t windows() const noexcept { return window_; }

private:
    struct open_detection {
        std::uint64_t first = 0, last = 0;
        double peak = 0;
    };
    detection close(std::size_t keyword, const open_detection& d) const;

    std::size_t classes_;
    double threshold_, release_;
    std::size_t smooth_, refractory_;
    std::uint64_t hop_samples_;
    std::uint32_t rate_;
    std::vector<std::vector<double>> recent_;  // the last `smooth` windows' probabilities
    std::vector<std::optional<open_detection>> open_;  // per class
    std::uint64_t window_ = 0;
};

// Softmax of logits in double precision (max subtracted first).
std::vector<double> softmax(std::span<const float> logits);

class keyword_spotter {
public:
    // `frontend`: the model's front-end options (model_file::frontend). Throws lmusim::error on
    // options that do not fit the front-end (a hop that is not a whole number of frames, ...).
    keyword_spotter(const network& net, const fbank_options& frontend, const spot_options& options);
    keyword_spotter(const keyword_spotter&) = delete;
    keyword_spotter& operator=(const keyword_spotter&) = delete;

    // Samples at the front-end's rate, any number; runs every window they complete and returns
    // the detections that ended.
    std::vector<detection> push(std::span<const float> samples);
    // The audio ended: returns the remaining detections. A stream shorter than one window runs
    // as one window with what it has (padded as a short clip is), if it holds a whole frame.
    std::vector<detection> finish();
    // Where every window's results go, as one clip each (io/clip_writer.hpp: the clip output
    // file), with every spike and per-frame spike counts when asked (as the sink's options say);
    // before the first window runs.
    void attach_output(const clip_sink_factory& sink, bool spikes = false, bool per_frame = false);
    // Closes the output sink, if any (complete = the whole stream was processed).
    void close_output(bool complete);

    std::uint64_t windows() const noexcept { return windows_; }
    std::uint64_t samples() const noexcept { return samples_; }
    std::uint32_t sample_rate() const noexcept { return fb_.options().sample_rate; }
    std::uint64_t hop_samples() const noexcept { return hop_frames_ * fb_.options().frame_shift; }
    std::size_t window_frames() const noexcept { return window_frames_; }  // feature frames of audio per window
    std::size_t clip_frames() const noexcept { return clip_frames_; }      // ... and with the padding
    std::size_t smooth_windows() const noexcept { return smooth_; }
    std::size_t refractory_windows() const noexcept { return refractory_; }
    std::size_t classes() const noexcept { return runner_.output_width(); }
    // The last window's final logits (empty before the first window).
    const std::vector<float>& last_logits() const noexcept { return last_logits_; }

private:
    std::vector<detection> run_window(std::size_t audio_frames);

    fbank fb_;          // the model's front-end, target_frames 0: the whole stream
    fbank_stream fs_;   // refers to fb_
    clip_runner runner_;
    std::unique_ptr<clip_sink> sink_;
    std::unique_ptr<batch_collector> collector_;
    std::size_t window_frames_ = 0, clip_frames_ = 0, hop_frames_ = 0, smooth_ = 1, refractory_ = 0;
    float pad_ = 0;                 // a padding cell's value, normalised (feature_normaliser::pad)
    std::vector<float> rows_;       // log-mel rows (not normalised) from frame rows_first_ on
    std::uint64_t rows_first_ = 0;  // frame index of rows_' first row
    std::uint64_t windows_ = 0, samples_ = 0;
    std::vector<float> last_logits_;
    keyword_detector detector_;
    bool closed_ = false;
};

}  // namespace lmusim
