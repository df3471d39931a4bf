// `lmusim run MODEL.h5 --input - --stream` (and `--input LONG.wav --stream --spot`): keyword
// spotting in a live or long audio stream, read as it arrives (docs/spotting.md).
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "lmusim/core/error.hpp"
#include "lmusim/core/sha256.hpp"
#include "lmusim/core/strings.hpp"
#include "lmusim/frontend/wav_stream.hpp"
#include "lmusim/io/clip_writer.hpp"
#include "lmusim/io/model_file.hpp"
#include "lmusim/io/nir.hpp"
#include "lmusim/neurons/kinds/lmu_memory.hpp"
#include "lmusim/sim/spotter.hpp"

#include "cli.hpp"

namespace lmusim::cli {

using lmusim::cat;

namespace {

// An open file descriptor, closed on scope exit (standard input is left open).
class input_fd {
public:
    explicit input_fd(const std::string& path) {
        if (path == "-") {
            fd_ = STDIN_FILENO;
            return;
        }
        fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd_ < 0) throw lmusim::file_error(cat("cannot open '", path, "': ", std::strerror(errno)));
        owned_ = true;
    }
    ~input_fd() {
        if (owned_) ::close(fd_);
    }
    input_fd(const input_fd&) = delete;
    input_fd& operator=(const input_fd&) = delete;
    int get() const noexcept { return fd_; }

private:
    int fd_ = -1;
    bool owned_ = false;
};

void print_detection(const lmusim::detection& d, const std::vector<std::string>& names, bool json) {
    const std::string word = d.keyword < names.size() ? names[d.keyword] : std::to_string(d.keyword);
    if (json) {
        nlohmann::ordered_json j;
        j["time"] = rounded(d.time_s, 3);
        j["keyword"] = word;
        j["class"] = d.keyword;
        j["confidence"] = rounded(d.confidence, 4);
        print_json(j);
    } else {
        std::printf("%9.3f s  %-10s %.4f\n", d.time_s, word.c_str(), d.confidence);
    }
    std::fflush(stdout);
}

}  // namespace

bool spots_keywords(const model_settings& ms) {
    return ms.spot || std::find(ms.inputs.begin(), ms.inputs.end(), "-") != ms.inputs.end();
}

int run_spot(const std::string& path, const run_settings& rs, const model_settings& ms) {
    if (ms.inputs.size() != 1)
        throw lmusim::error(cat("--input: keyword spotting reads one stream (- for standard input, or one file with --spot); got ",
                                ms.inputs.size()));
    const std::string& in = ms.inputs.front();
    const bool from_stdin = in == "-";
    const std::string name = from_stdin ? std::string("standard input") : in;
    if (!ms.stream)
        throw lmusim::error(cat(from_stdin ? "--input - (standard input)" : "--spot",
                                " streams the audio as it arrives: add --stream"));
    if (lmusim::is_nir_file(path))
        throw lmusim::error(cat(path, " is a NIR graph: keyword spotting needs an lmusim model file with an audio front-end"));
    guard_outputs({ms.output}, from_stdin ? std::vector<std::string>{path} : std::vector<std::string>{path, in}, rs.overwrite);

    lmusim::model_file m = lmusim::load_model(path);
    if (!ms.memory_mode.empty()) {
        try {
            lmusim::set_memory_mode(m.net, lmusim::memory_mode_from_string(ms.memory_mode));
        } catch (const lmusim::error& e) {
            throw lmusim::error(cat("--memory-mode: ", e.what()));
        }
    }
    const auto weight_attrs = apply_weights(m.net, rs);  // --weights / --hardware (docs/weights.md)
    lmusim::spot_options so;
    so.input_node = m.input_node;
    so.output_node = m.output_node;
    so.threads = rs.threads == 0 ? 1 : rs.threads;  // one window at a time: one thread is plenty
    so.threshold = ms.threshold;
    so.release = ms.release < 0 ? std::min(so.release, ms.threshold) : ms.release;  // the default, never above --threshold
    so.hop_s = parse_time_s(ms.hop, "--hop", false, true);
    so.refractory_s = parse_time_s(ms.refractory, "--refractory", false, true);
    lmusim::keyword_spotter spotter(m.net, m.frontend, so);
    const std::uint32_t rate = spotter.sample_rate();
    const double hop_s = static_cast<double>(spotter.hop_samples()) / rate;

    lmusim::clip_sink_factory sink;
    if (!ms.output.empty()) {
        lmusim::clip_writer_options wo;
        wo.spikes = ms.record_spikes;
        wo.per_frame_counts = ms.per_frame_counts;
        wo.class_names = m.class_names;
        wo.attributes = {{"model_file", path},
                         {"model_sha256", lmusim::sha256_file(path)},
                         {"input_file", in},
                         {"threads", std::to_string(so.threads)},
                         {"batch", "1"},
                         {"mode", "spot"},
                         {"input_format", ms.raw ? "raw PCM16" : "WAV"},
                         {"spot_window_s", cat(so.window_s)},
                         {"spot_hop_samples", std::to_string(spotter.hop_samples())},
                         {"spot_threshold", cat(so.threshold)},
                         {"spot_release", cat(so.release)},
                         {"spot_smooth_windows", std::to_string(spotter.smooth_windows())},
                         {"spot_refractory_windows", std::to_string(spotter.refractory_windows())}};
        for (const auto& a : weight_attrs) wo.attributes.push_back(a);
        wo.existing = lmusim::overwrite_if(rs.overwrite);
        sink = lmusim::clip_output(ms.output, std::move(wo));
    }
    const bool talk = !rs.quiet && !rs.json;
    if (talk)
        std::fprintf(stderr,
                     "lmusim: spotting keywords in %s with %s: %.3g s windows every %.0f ms, threshold %.2f (release %.2f), "
                     "refractory %.0f ms; lines are time (the word's start), keyword, confidence\n",
                     name.c_str(), path.c_str(), so.window_s, hop_s * 1e3, so.threshold, so.release, so.refractory_s * 1e3);

    lmusim::wav_stream_decoder decoder(name, rate, ms.raw);
    const input_fd fd(in);
    // Read what is there, up to about --chunk-ms of audio at a time (the results do not depend on
    // it). An odd size: samples split across reads are the ordinary case, not a corner case.
    const auto chunk = static_cast<std::size_t>(std::max(1.0, std::round(ms.chunk_ms * 1e-3 * rate)) * 2 + 1);
    std::vector<unsigned char> buf(chunk);
    std::vector<float> samples;
    std::size_t found = 0;
    bool attached = false, interrupted = false;
    auto show = [&](const std::vector<lmusim::detection>& ds) {
        for (const auto& d : ds) print_detection(d, m.class_names, rs.json);
        found += ds.size();
    };
    std::string truncated;
    try {
        while (!decoder.data_complete()) {
            if (should_stop()) {
                interrupted = true;
                break;
            }
            const ssize_t n = ::read(fd.get(), buf.data(), buf.size());
            if (n < 0) {
                if (errno == EINTR) continue;
                throw lmusim::file_error(cat(name, ": read error: ", std::strerror(errno)));
            }
            if (n == 0) break;  // end of input
            samples.clear();
            decoder.push(std::span<const unsigned char>(buf.data(), static_cast<std::size_t>(n)), samples);
            if (!attached && decoder.header_complete()) {  // the output appears only for a valid stream
                spotter.attach_output(sink, ms.record_spikes, ms.per_frame_counts);
                attached = true;
            }
            if (!samples.empty()) show(spotter.push(samples));
        }
        if (!interrupted) decoder.finish();
    } catch (const lmusim::file_error& e) {
        // Bad data after the header (a truncated stream, a non-finite sample): what arrived before
        // is reported and kept; then the error. A bad header has no output yet.
        if (!attached) throw;
        truncated = e.what();
    }
    if (!attached) {
        spotter.attach_output(sink, ms.record_spikes, ms.per_frame_counts);  // a header without audio (or an interrupted header): an empty output
        attached = true;
    }
    show(spotter.finish());
    spotter.close_output(!interrupted && truncated.empty());
    if (!truncated.empty()) throw lmusim::file_error(truncated);
    const double seconds = static_cast<double>(spotter.samples()) / rate;
    if (talk)
        std::fprintf(stderr, "lmusim: %zu detection(s) in %.2f s of audio (%llu windows)%s%s\n", found, seconds,
                     static_cast<unsigned long long>(spotter.windows()), ms.output.empty() ? "" : "; output: ", ms.output.c_str());
    if (interrupted) {
        if (!rs.quiet) std::fprintf(stderr, "lmusim: interrupted\n");
        return 130;
    }
    return 0;
}

}  // namespace lmusim::cli
