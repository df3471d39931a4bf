#include "lmusim/frontend/audio.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <numbers>

#include "lmusim/core/error.hpp"
#include "lmusim/core/strings.hpp"

namespace lmusim {
namespace {

std::uint32_t u32(const unsigned char* p) { return p[0] | (p[1] << 8) | (p[2] << 16) | (std::uint32_t{p[3]} << 24); }
std::uint16_t u16(const unsigned char* p) { return static_cast<std::uint16_t>(p[0] | (p[1] << 8)); }

double mel_scale(double f) { return 1127.0 * std::log(1.0 + f / 700.0); }

}  // namespace

wav_audio read_wav(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw file_error(cat("cannot open '", path, "': ", std::strerror(errno)));
    std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)), {});
    if (bytes.size() < 12 || std::memcmp(bytes.data(), "RIFF", 4) != 0 || std::memcmp(bytes.data() + 8, "WAVE", 4) != 0)
        throw file_error(cat(path, ": not a WAV file (no RIFF/WAVE header)"));
    std::uint16_t format = 0, channels = 0, bits = 0;
    std::uint32_t rate = 0;
    bool have_fmt = false;
    std::size_t pos = 12;
    while (pos + 8 <= bytes.size()) {
        const std::string id(reinterpret_cast<const char*>(bytes.data() + pos), 4);
        const std::uint32_t size = u32(bytes.data() + pos + 4);
        const std::size_t body = pos + 8;
        if (id == "fmt ") {
            if (size < 16 || body + size > bytes.size()) throw file_error(cat(path, ": truncated fmt chunk"));
            format = u16(bytes.data() + body);
            channels = u16(bytes.data() + body + 2);
            rate = u32(bytes.data() + body + 4);
            bits = u16(bytes.data() + body + 14);
            if (format == 0xFFFE && size >= 40) format = u16(bytes.data() + body + 24);  // WAVE_FORMAT_EXTENSIBLE
            have_fmt = true;
        } else if (id == "data") {
            if (!have_fmt) throw file_error(cat(path, ": data chunk before the fmt chunk"));
            if (channels != 1) throw file_error(cat(path, ": ", channels, " channels, expected mono (sox in.wav -c 1 out.wav)"));
            const bool pcm16 = format == 1 && bits == 16, f32 = format == 3 && bits == 32;
            if (!pcm16 && !f32)
                throw file_error(cat(path, ": sample format ", format == 1 ? "PCM" : format == 3 ? "float" : "code " + std::to_string(format),
                                     " with ", bits, " bits is not supported; expected PCM16 or float32"));
            if (body + size > bytes.size())
                throw file_error(cat(path, ": truncated: the data chunk declares ", size, " bytes, the file holds ", bytes.size() - body));
            wav_audio w;
            w.sample_rate = rate;
            const std::size_t n = size / (bits / 8);
            w.samples.resize(n);
            for (std::size_t i = 0; i < n; ++i) {
                const unsigned char* p = bytes.data() + body + i * (bits / 8);
                if (pcm16) {
                    w.samples[i] = static_cast<float>(static_cast<std::int16_t>(u16(p))) / 32768.0f;
                } else {
                    std::uint32_t b = u32(p);
                    float v;
                    std::memcpy(&v, &b, 4);
                    if (!std::isfinite(v)) throw file_error(cat(path, ": sample ", i, " is not finite"));
                    w.samples[i] = v;
                }
            }
            return w;
        }
        pos = body + size + (size & 1);
    }
    throw file_error(cat(path, have_fmt ? ": no data chunk" : ": no fmt chunk"));
}

void write_wav(const std::string& path, const std::vector<float>& samples, std::uint32_t rate, if_exists existing) {
    std::string bytes;
    auto put32 = [&](std::uint32_t v) { for (int i = 0; i < 4; ++i) bytes.push_back(static_cast<char>((v >> (8 * i)) & 0xff)); };
    auto put16 = [&](std::uint16_t v) { bytes.push_back(static_cast<char>(v & 0xff)); bytes.push_back(static_cast<char>(v >> 8)); };
    const auto data = static_cast<std::uint32_t>(samples.size() * 2);
    bytes += "RIFF";
    put32(36 + data);
    bytes += "WAVEfmt ";
    put32(16);
    put16(1);
    put16(1);
    put32(rate);
    put32(rate * 2);
    put16(2);
    put16(16);
    bytes += "data";
    put32(data);
    for (float s : samples) put16(static_cast<std::uint16_t>(static_cast<std::int16_t>(std::clamp(std::lround(s * 32768.0f), -32768L, 32767L))));
    output_file out(path, existing);
    write_file_atomically(out, bytes, "WAV file");
}

fbank::fbank(fbank_options o) : opt_(o) {
    check_frontend(opt_, "front-end options");
    const std::size_t N = opt_.fft_size, L = opt_.frame_length;
    if (N == 0 || (N & (N - 1)) != 0 || N < L) throw error(cat("fbank: fft_size ", N, " must be a power of two >= frame_length ", L));
    // Symmetric Hann window: 0.5 - 0.5 cos(2 pi n / (L - 1)).
    window_.resize(L);
    for (std::size_t n = 0; n < L; ++n) window_[n] = 0.5 - 0.5 * std::cos(2.0 * std::numbers::pi * static_cast<double>(n) / static_cast<double>(L - 1));
    cos_.resize(N / 2);
    sin_.resize(N / 2);
    for (std::size_t k = 0; k < N / 2; ++k) {
        cos_[k] = std::cos(2.0 * std::numbers::pi * static_cast<double>(k) / static_cast<double>(N));
        sin_[k] = -std::sin(2.0 * std::numbers::pi * static_cast<double>(k) / static_cast<double>(N));
    }
    bitrev_.resize(N);
    std::size_t bits = 0;
    while ((std::size_t{1} << bits) < N) ++bits;
    for (std::size_t i = 0; i < N; ++i) {
        std::size_t r = 0;
        for (std::size_t b = 0; b < bits; ++b) r |= ((i >> b) & 1) << (bits - 1 - b);
        bitrev_[i] = r;
    }
    // HTK mel triangles between low_freq and high_freq, on the FFT bins below Nyquist.
    const double nyquist = 0.5 * opt_.sample_rate;
    const double high = opt_.high_freq <= 0 ? nyquist + opt_.high_freq : opt_.high_freq;
    const double mel_low = mel_scale(opt_.low_freq), mel_high = mel_scale(high);
    const double delta = (mel_high - mel_low) / static_cast<double>(opt_.mel_bins + 1);
    const double bin_width = static_cast<double>(opt_.sample_rate) / static_cast<double>(N);
    mel_.resize(opt_.mel_bins);
    for (std::size_t m = 0; m < opt_.mel_bins; ++m) {
        const double left = mel_low + static_cast<double>(m) * delta, center = left + delta, right = center + delta;
        for (std::size_t k = 0; k < N / 2; ++k) {
            const double mel = mel_scale(bin_width * static_cast<double>(k));
            const double w = std::max(0.0, std::min((mel - left) / (center - left), (right - mel) / (right - center)));
            if (w > 0) mel_[m].emplace_back(k, w);
        }
    }
}

std::size_t fbank::frames_for(std::size_t samples) const noexcept {
    return samples < opt_.frame_length ? 0 : 1 + (samples - opt_.frame_length) / opt_.frame_shift;
}

void fbank::log_mel(const float* frame, float* out) const {
    const std::size_t N = opt_.fft_size, L = opt_.frame_length;
    double mean = 0;
    for (std::size_t n = 0; n < L; ++n) mean += frame[n];
    mean /= static_cast<double>(L);
    std::vector<double> re(N, 0.0), im(N, 0.0), x(L);
    for (std::size_t n = 0; n < L; ++n) x[n] = frame[n] - mean;
    // Pre-emphasis; the first sample is its own predecessor.
    for (std::size_t n = L; n-- > 0;) x[n] -= opt_.preemphasis * x[n == 0 ? 0 : n - 1];
    for (std::size_t n = 0; n < L; ++n) re[bitrev_[n]] = x[n] * window_[n];
    // Iterative radix-2 FFT (the tail beyond L is zero padding).
    for (std::size_t len = 2; len <= N; len <<= 1) {
        const std::size_t half = len / 2, step = N / len;
        for (std::size_t s = 0; s < N; s += len)
            for (std::size_t k = 0; k < half; ++k) {
                const double wr = cos_[k * step], wi = sin_[k * step];
                const std::size_t a = s + k, b = a + half;
                const double tr = re[b] * wr - im[b] * wi, ti = re[b] * wi + im[b] * wr;
                re[b] = re[a] - tr;
                im[b] = im[a] - ti;
                re[a] += tr;
                im[a] += ti;
            }
    }
    for (std::size_t m = 0; m < opt_.mel_bins; ++m) {
        double e = 0;
        for (const auto& [k, w] : mel_[m]) e += w * (re[k] * re[k] + im[k] * im[k]);
        out[m] = static_cast<float>(std::log(std::max(e, 1.1920928955078125e-07)));
    }
}

void check_frontend(const fbank_options& o, const std::string& where) {
    if (!std::isfinite(o.feature_mean)) throw error(cat(where, ": feature_mean = ", o.feature_mean, ": expected a finite number"));
    if (!(o.feature_std2 > 0) || !std::isfinite(o.feature_std2))
        throw error(cat(where, ": feature_std2 = ", o.feature_std2, ": expected a finite number > 0"));
    if (!o.pcen.enabled) return;
    const pcen_options& p = o.pcen;
    auto bad = [&](const char* name, double v, const char* expected) {
        throw error(cat(where, ": pcen_", name, " = ", v, ": expected ", expected));
    };
    if (!(p.smooth > 0 && p.smooth <= 1)) bad("smooth", p.smooth, "a number in (0, 1]");
    if (!(p.alpha >= 0 && p.alpha <= 1)) bad("alpha", p.alpha, "a number in [0, 1]");
    if (!(p.delta >= 0) || !std::isfinite(p.delta)) bad("delta", p.delta, "a finite number >= 0");
    if (!(p.root > 0 && p.root <= 1)) bad("root", p.root, "a number in (0, 1]");
    if (!(p.eps > 0) || !std::isfinite(p.eps)) bad("eps", p.eps, "a finite number > 0");
}

feature_normaliser::feature_normaliser(const fbank_options& o)
    : o_(&o), offset_(o.pcen.enabled ? std::pow(o.pcen.delta, o.pcen.root) : 0.0) {}

float feature_normaliser::pad() const noexcept { return (0.0f - o_->feature_mean) / o_->feature_std2; }

void feature_normaliser::row(float* row) {
    const std::size_t B = o_->mel_bins;
    if (o_->pcen.enabled) {
        const pcen_options& p = o_->pcen;
        const bool first = smooth_.empty();
        if (first) smooth_.resize(B);
        for (std::size_t m = 0; m < B; ++m) {
            const double e = std::exp(static_cast<double>(row[m]));
            double& s = smooth_[m];
            s = first ? e : (1.0 - p.smooth) * s + p.smooth * e;
            row[m] = static_cast<float>(std::pow(e / std::pow(p.eps + s, p.alpha) + p.delta, p.root) - offset_);
        }
    }
    for (std::size_t m = 0; m < B; ++m) row[m] = (row[m] - o_->feature_mean) / o_->feature_std2;
}

std::vector<float> fbank::features(std::span<const float> samples) const {
    const std::size_t B = opt_.mel_bins;
    const std::size_t have = frames_for(samples.size());
    const std::size_t frames = opt_.target_frames ? opt_.target_frames : have;
    feature_normaliser norm(opt_);
    std::vector<float> out(frames * B, norm.pad());
    for (std::size_t f = 0; f < std::min(have, frames); ++f) {
        float* row = out.data() + f * B;
        log_mel(samples.data() + f * opt_.frame_shift, row);
        norm.row(row);
    }
    return out;
}

std::vector<float> fbank_stream::push(std::span<const float> samples) {
    const fbank_options& o = fb_.options();
    pending_.insert(pending_.end(), samples.begin(), samples.end());
    std::vector<float> out;
    std::size_t start = 0;
    while (pending_.size() - start >= o.frame_length && (o.target_frames == 0 || emitted_ < o.target_frames)) {
        const std::size_t row = out.size();
        out.resize(row + o.mel_bins);
        fb_.log_mel(pending_.data() + start, out.data() + row);
        if (normalise_) norm_.row(out.data() + row);
        start += o.frame_shift;
        ++emitted_;
    }
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(start));
    return out;
}

std::vector<float> fbank_stream::finish() {
    const fbank_options& o = fb_.options();
    std::vector<float> out;
    const float pad = normalise_ ? norm_.pad() : 0.0f;
    while (o.target_frames && emitted_ < o.target_frames) {
        out.insert(out.end(), o.mel_bins, pad);
        ++emitted_;
    }
    pending_.clear();
    return out;
}

}  // namespace lmusim
