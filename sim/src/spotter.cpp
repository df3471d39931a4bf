#include "lmusim/sim/spotter.hpp"

#include <algorithm>
#include <cmath>

#include "lmusim/core/error.hpp"
#include "lmusim/core/strings.hpp"

namespace lmusim {

std::vector<double> softmax(std::span<const float> logits) {
    std::vector<double> p(logits.size());
    if (logits.empty()) return p;
    const double m = *std::max_element(logits.begin(), logits.end());
    double sum = 0;
    for (std::size_t i = 0; i < logits.size(); ++i) sum += p[i] = std::exp(static_cast<double>(logits[i]) - m);
    for (double& v : p) v /= sum;
    return p;
}

keyword_detector::keyword_detector(std::size_t classes, double threshold, double release, std::size_t smooth_windows,
                                   std::size_t refractory_windows, std::uint64_t hop_samples, std::uint32_t sample_rate)
    : classes_(classes),
      threshold_(threshold),
      release_(release),
      smooth_(smooth_windows),
      refractory_(refractory_windows),
      hop_samples_(hop_samples),
      rate_(sample_rate),
      open_(classes) {
    if (classes == 0) throw error("keyword detector: no classes");
    if (!(threshold > 0 && threshold <= 1)) throw error(cat("--threshold ", threshold, ": expected a confidence in (0, 1]"));
    if (!(release > 0 && release <= threshold))
        throw error(cat("--release ", release, ": expected a confidence in (0, --threshold ", threshold, "]"));
    if (smooth_windows == 0) throw error("keyword detector: smoothing over 0 windows");
    if (hop_samples == 0 || sample_rate == 0) throw error("keyword detector: a hop of 0 samples");
}

detection keyword_detector::close(std::size_t keyword, const open_detection& d) const {
    detection r;
    r.keyword = keyword;
    r.confidence = d.peak;
    r.first_window = d.first;
    r.last_window = d.last;
    const std::uint64_t a = d.last + 1 >= smooth_ ? d.last + 1 - smooth_ : 0;  // the averaged windows: a .. last
    r.time_s = static_cast<double>(a + d.last) * static_cast<double>(hop_samples_) / (2.0 * rate_);
    return r;
}

std::vector<detection> keyword_detector::push(std::span<const double> p) {
    if (p.size() != classes_) throw internal_error(cat("keyword detector: ", p.size(), " probabilities, expected ", classes_));
    if (recent_.size() == smooth_) recent_.erase(recent_.begin());
    recent_.emplace_back(p.begin(), p.end());
    std::vector<double> q(classes_, 0.0);
    for (const auto& r : recent_)
        for (std::size_t c = 0; c < classes_; ++c) q[c] += r[c];
    for (double& v : q) v /= static_cast<double>(recent_.size());
    const auto best = static_cast<std::size_t>(std::max_element(q.begin(), q.end()) - q.begin());  // the first maximum
    const std::uint64_t k = window_++;
    auto& d = open_[best];
    if (q[best] >= threshold_ || (d && q[best] >= release_)) {
        if (d) {
            d->last = k;
            d->peak = std::max(d->peak, q[best]);
        } else {
            d = open_detection{k, k, q[best]};
        }
    }
    std::vector<detection> ended;
    for (std::size_t c = 0; c < classes_; ++c)
        if (open_[c] && k - open_[c]->last > refractory_) {
            ended.push_back(close(c, *open_[c]));
            open_[c].reset();
        }
    std::sort(ended.begin(), ended.end(), [](const detection& x, const detection& y) {
        return x.last_window != y.last_window ? x.last_window < y.last_window : x.keyword < y.keyword;
    });
    return ended;
}

std::vector<detection> keyword_detector::finish() {
    std::vector<detection> ended;
    for (std::size_t c = 0; c < classes_; ++c)
        if (open_[c]) {
            ended.push_back(close(c, *open_[c]));
            open_[c].reset();
        }
    std::sort(ended.begin(), ended.end(), [](const detection& x, const detection& y) {
        return x.last_window != y.last_window ? x.last_window < y.last_window : x.keyword < y.keyword;
    });
    return ended;
}

namespace {

fbank_options whole_stream(fbank_options o) {
    o.target_frames = 0;
    return o;
}

// A duration in seconds as a whole number of front-end frame shifts, or an error naming `what`.
std::size_t in_frames(double seconds, const fbank_options& o, const char* what) {
    const double shift = static_cast<double>(o.frame_shift) / o.sample_rate;
    const double n = seconds / shift;
    if (!(seconds > 0) || !std::isfinite(n) || std::abs(n - std::round(n)) > 1e-6 || std::round(n) < 1)
        throw error(cat(what, " ", seconds * 1e3, " ms: expected a positive multiple of the front-end's frame shift (",
                        shift * 1e3, " ms)"));
    return static_cast<std::size_t>(std::round(n));
}

}  // namespace

keyword_spotter::keyword_spotter(const network& net, const fbank_options& frontend, const spot_options& o)
    : fb_(whole_stream(frontend)),
      fs_(fb_, false),
      runner_(net, context{.threads = o.threads, .streams = 1}, o.input_node, o.output_node),
      detector_(runner_.output_width(), o.threshold, o.release, 1, 0, 1, 1) {
    const fbank_options& f = fb_.options();
    if (runner_.input_width() != f.mel_bins)
        throw error(cat("keyword spotting: the model's input node '", o.input_node, "' takes ", runner_.input_width(),
                        " values per frame, the front-end gives ", f.mel_bins, " mel bins"));
    if (!(o.window_s > 0) || !std::isfinite(o.window_s)) throw error(cat("spotting window of ", o.window_s, " s"));
    const auto window_samples = static_cast<std::size_t>(std::llround(o.window_s * f.sample_rate));
    window_frames_ = fb_.frames_for(window_samples);
    if (window_frames_ == 0) throw error(cat("spotting window of ", o.window_s, " s: shorter than one frame"));
    clip_frames_ = frontend.target_frames ? frontend.target_frames : window_frames_;
    window_frames_ = std::min(window_frames_, clip_frames_);
    hop_frames_ = in_frames(o.hop_s, f, "--hop");
    if (hop_frames_ > window_frames_)
        throw error(cat("--hop ", o.hop_s * 1e3, " ms: longer than the ", o.window_s * 1e3, " ms window; windows would leave gaps"));
    if (!(o.smooth_s >= 0) || !std::isfinite(o.smooth_s)) throw error(cat("smoothing of ", o.smooth_s, " s"));
    smooth_ = std::max<std::size_t>(1, static_cast<std::size_t>(std::llround(o.smooth_s / o.hop_s)));
    if (!(o.refractory_s >= 0) || !std::isfinite(o.refractory_s))
        throw error(cat("--refractory ", o.refractory_s, ": expected a duration >= 0"));
    refractory_ = static_cast<std::size_t>(std::floor(o.refractory_s / o.hop_s + 1e-9));
    detector_ = keyword_detector(runner_.output_width(), o.threshold, o.release, smooth_, refractory_, hop_samples(), f.sample_rate);
    pad_ = feature_normaliser(f).pad();  // as fbank::features and fbank_stream::finish pad
}

void keyword_spotter::attach_output(const clip_sink_factory& sink, bool spikes, bool per_frame) {
    if (windows_ > 0 || sink_) throw internal_error("keyword spotter: attach_output after the first window");
    if (!sink) return;
    sink_ = sink(runner_.sim(), clip_frames_, runner_.output_width());
    collector_ = std::make_unique<batch_collector>(runner_.sim().net(), std::vector<std::string>{}, spikes, per_frame, clip_frames_,
                                                   runner_.output_width());
    runner_.set_recorder(collector_.get());
}

std::vector<detection> keyword_spotter::run_window(std::size_t audio_frames) {
    const std::size_t B = fb_.options().mel_bins;
    const std::uint64_t start = windows_ * hop_frames_;
    std::vector<float> clip(clip_frames_ * B, pad_);
    const auto from = static_cast<std::ptrdiff_t>((start - rows_first_) * B);
    std::copy_n(rows_.begin() + from, audio_frames * B, clip.begin());
    // Each window is a clip of its own: its normalisation (and PCEN's smoother) starts at its first frame.
    feature_normaliser norm(fb_.options());
    for (std::size_t f = 0; f < audio_frames; ++f) norm.row(clip.data() + f * B);
    if (collector_) collector_->start(windows_, 1, 1);
    runner_.begin();
    std::vector<frame_output> out = runner_.push(clip);
    std::vector<frame_output> rest = runner_.finish();
    out.insert(out.end(), std::make_move_iterator(rest.begin()), std::make_move_iterator(rest.end()));
    if (out.size() != clip_frames_) throw internal_error(cat("keyword spotter: ", out.size(), " frame outputs, expected ", clip_frames_));
    if (sink_) sink_->write_batch(collector_->finish(runner_.sim(), out));
    last_logits_ = std::move(out.back().values);
    ++windows_;
    return detector_.push(softmax(last_logits_));
}

std::vector<detection> keyword_spotter::push(std::span<const float> samples) {
    if (closed_) throw error("keyword spotter: the stream was finished");
    samples_ += samples.size();
    const std::vector<float> rows = fs_.push(samples);
    rows_.insert(rows_.end(), rows.begin(), rows.end());
    const std::size_t B = fb_.options().mel_bins;
    std::vector<detection> ended;
    while (true) {
        const std::uint64_t start = windows_ * hop_frames_;
        if (rows_first_ + rows_.size() / B < start + window_frames_) break;
        auto d = run_window(window_frames_);
        ended.insert(ended.end(), d.begin(), d.end());
        // The rows before the next window's start are no longer needed.
        const std::uint64_t keep_from = windows_ * hop_frames_;
        const auto drop = static_cast<std::ptrdiff_t>((keep_from - rows_first_) * B);
        rows_.erase(rows_.begin(), rows_.begin() + drop);
        rows_first_ = keep_from;
    }
    return ended;
}

std::vector<detection> keyword_spotter::finish() {
    if (closed_) throw error("keyword spotter: the stream was already finished");
    closed_ = true;
    std::vector<detection> ended;
    const std::size_t B = fb_.options().mel_bins;
    if (windows_ == 0 && !rows_.empty()) ended = run_window(rows_.size() / B);  // shorter than one window
    auto rest = detector_.finish();
    ended.insert(ended.end(), rest.begin(), rest.end());
    return ended;
}

void keyword_spotter::close_output(bool complete) {
    if (sink_) {
        sink_->close(complete);
        sink_.reset();
        runner_.set_recorder(nullptr);
    }
}

}  // namespace lmusim
