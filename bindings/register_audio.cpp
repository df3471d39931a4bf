// Audio front-end: WAV reading and the Kaldi-compatible log-mel filterbank (io/audio.hpp).
#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "common.hpp"
#include "lmusim/core/strings.hpp"
#include "lmusim/frontend/audio.hpp"

namespace lmusim::py_bindings {

namespace {

using pcen_dict = std::optional<std::map<std::string, double>>;

fbank_options options_for(std::uint32_t sample_rate, std::size_t target_frames, std::optional<float> mean = {},
                          std::optional<float> std2 = {}, const pcen_dict& pcen = {}) {
    fbank_options o;
    if (mean) o.feature_mean = *mean;
    if (std2) o.feature_std2 = *std2;
    if (pcen) {
        o.pcen.enabled = true;
        for (const auto& [k, v] : *pcen) {
            const auto it = std::find_if(pcen_parameters.begin(), pcen_parameters.end(), [&](const auto& p) { return k == p.first; });
            if (it == pcen_parameters.end()) throw error(cat("audio: pcen key '", k, "': expected smooth, alpha, delta, root or eps"));
            o.pcen.*(it->second) = v;
        }
    }
    check_frontend(o, "audio");
    if (sample_rate != o.sample_rate)
        throw error(cat("audio: sample rate ", sample_rate, " Hz, expected ", o.sample_rate,
                        " Hz (resample first, e.g. sox in.wav -r 16000 out.wav)"));
    o.sample_rate = sample_rate;
    o.target_frames = target_frames;
    return o;
}

py::array_t<float> rows(const std::vector<float>& data, std::size_t width) {
    return to_numpy(data.data(), {static_cast<py::ssize_t>(data.size() / width), static_cast<py::ssize_t>(width)});
}

// Owns the filterbank that the streaming front-end refers to.
class py_fbank_stream {
public:
    py_fbank_stream(std::uint32_t sample_rate, std::size_t target_frames, std::optional<float> mean, std::optional<float> std2,
                    const pcen_dict& pcen)
        : fb_(std::make_unique<fbank>(options_for(sample_rate, target_frames, mean, std2, pcen))), st_(*fb_) {}
    py::array_t<float> push(const carray<float>& samples) {
        std::vector<float> out;
        {
            py::gil_scoped_release release;
            out = st_.push(as_span(samples));
        }
        return rows(out, fb_->options().mel_bins);
    }
    py::array_t<float> finish() { return rows(st_.finish(), fb_->options().mel_bins); }
    std::size_t frames_emitted() const noexcept { return st_.frames_emitted(); }

private:
    std::unique_ptr<fbank> fb_;
    fbank_stream st_;
};

}  // namespace

void register_audio(py::module_& m) {
    m.def(
        "read_wav",
        [](const std::string& path) {
            wav_audio a = read_wav(path);
            return py::make_tuple(to_numpy(a.samples.data(), {static_cast<py::ssize_t>(a.samples.size())}),
                                  a.sample_rate);
        },
        py::arg("path"), "Mono PCM16 or float32 WAV -> (samples float32 in [-1, 1), sample rate).");
    m.def(
        "fbank_features",
        [](const carray<float>& samples, std::uint32_t sample_rate, std::size_t target_frames, std::optional<float> mean,
           std::optional<float> std2, const pcen_dict& pcen) {
            if (samples.ndim() != 1)
                throw error(cat("audio: expected a 1-D array of samples, got ", samples.ndim(), " dimensions"));
            const fbank fb(options_for(sample_rate, target_frames, mean, std2, pcen));
            std::vector<float> out;
            {
                py::gil_scoped_release release;
                out = fb.features(as_span(samples));
            }
            return rows(out, fb.options().mel_bins);
        },
        py::arg("samples"), py::arg("sample_rate") = 16000, py::arg("target_frames") = 128,
        py::arg("feature_mean") = py::none(), py::arg("feature_std2") = py::none(), py::arg("pcen") = py::none(),
        "Normalised log-mel (or PCEN, docs/frontend.md) features [frames, 128] of one clip (docs/lmuformer.md §1.2).");
    py::class_<py_fbank_stream>(m, "FbankStream", "Streaming log-mel front-end: audio chunks in, feature rows out.")
        .def(py::init<std::uint32_t, std::size_t, std::optional<float>, std::optional<float>, const pcen_dict&>(),
             py::arg("sample_rate") = 16000, py::arg("target_frames") = 128, py::arg("feature_mean") = py::none(),
             py::arg("feature_std2") = py::none(), py::arg("pcen") = py::none())
        .def("push", &py_fbank_stream::push, py::arg("samples"))
        .def("finish", &py_fbank_stream::finish)
        .def_property_readonly("frames_emitted", &py_fbank_stream::frames_emitted);
}

}  // namespace lmusim::py_bindings
