#include "lmusim/frontend/wav_stream.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>

#include "lmusim/core/error.hpp"
#include "lmusim/core/strings.hpp"

namespace lmusim {
namespace {

std::uint32_t u32(const unsigned char* p) { return p[0] | (p[1] << 8) | (p[2] << 16) | (std::uint32_t{p[3]} << 24); }
std::uint16_t u16(const unsigned char* p) { return static_cast<std::uint16_t>(p[0] | (p[1] << 8)); }

// Four bytes as text, with anything unprintable as '.', for messages.
std::string fourcc(const unsigned char* p) {
    std::string s;
    for (int i = 0; i < 4; ++i) s.push_back(p[i] >= 0x20 && p[i] < 0x7f ? static_cast<char>(p[i]) : '.');
    return s;
}

// Four bytes in hex, e.g. "52 49 46 46".
std::string hex4(const unsigned char* p) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string s;
    for (int i = 0; i < 4; ++i) {
        if (i) s.push_back(' ');
        s.push_back(digits[p[i] >> 4]);
        s.push_back(digits[p[i] & 15]);
    }
    return s;
}

constexpr std::size_t kMaxFmt = 1024;  // a fmt chunk is 16 to 40 bytes; more is not a header

}  // namespace

wav_stream_decoder::wav_stream_decoder(std::string name, std::uint32_t sample_rate, bool raw)
    : name_(std::move(name)), rate_expected_(sample_rate), state_(raw ? state::data : state::riff) {
    if (raw) {
        format_ = 1;
        bits_ = 16;
        channels_ = 1;
        rate_ = sample_rate;
        have_fmt_ = true;
    }
}

void wav_stream_decoder::check_format() const {
    const bool pcm16 = format_ == 1 && bits_ == 16, f32 = format_ == 3 && bits_ == 32;
    if (rate_ == rate_expected_ && channels_ == 1 && (pcm16 || f32)) return;
    const std::string kind = format_ == 1   ? cat("PCM ", bits_, "-bit")
                             : format_ == 3 ? cat("float ", bits_, "-bit")
                                            : cat("sample format code ", format_, " (", bits_, "-bit)");
    throw file_error(cat(name_, ": the WAV header says ", rate_, " Hz, ", channels_ == 1 ? std::string("mono") : cat(channels_, " channels"),
                         ", ", kind, "; expected ", rate_expected_, " Hz, mono, PCM 16-bit (or float 32-bit) (convert: sox IN -r ",
                         rate_expected_, " -c 1 -b 16 -t wav -)"));
}

void wav_stream_decoder::decode(const unsigned char* p, std::size_t n, std::vector<float>& out) {
    const std::size_t b = bits_ == 16 ? 2 : 4;  // check_format() admits PCM16 and float32 only
    auto one = [&](const unsigned char* s) {
        float v;
        if (b == 2) {
            v = static_cast<float>(static_cast<std::int16_t>(u16(s))) / 32768.0f;
        } else {
            const std::uint32_t w = u32(s);
            std::memcpy(&v, &w, 4);
            if (!std::isfinite(v)) throw file_error(cat(name_, ": sample ", samples_, " is not finite"));
        }
        out.push_back(v);
        ++samples_;
    };
    std::size_t i = 0;
    if (partial_n_ > 0) {
        while (partial_n_ < b && i < n) partial_.at(partial_n_++) = p[i++];
        if (partial_n_ < b) return;
        one(partial_.data());
        partial_n_ = 0;
    }
    out.reserve(out.size() + (n - i) / b);
    for (; i + b <= n; i += b) one(p + i);
    while (i < n) partial_.at(partial_n_++) = p[i++];  // fewer than b bytes
}

void wav_stream_decoder::push(std::span<const unsigned char> bytes, std::vector<float>& out) {
    std::size_t pos = 0;
    const std::size_t n = bytes.size();
    // Moves up to `want` - header_.size() bytes into header_; true when it holds `want`.
    auto gather = [&](std::size_t want) {
        const std::size_t take = std::min(want - header_.size(), n - pos);
        header_.insert(header_.end(), bytes.begin() + static_cast<std::ptrdiff_t>(pos),
                       bytes.begin() + static_cast<std::ptrdiff_t>(pos + take));
        pos += take;
        bytes_ += take;
        return header_.size() == want;
    };
    while (pos < n) {
        switch (state_) {
            case state::riff: {
                const bool whole = gather(12);
                if (header_.size() >= 4 && std::memcmp(header_.data(), "RIFF", 4) != 0)
                    throw file_error(cat(name_, ": not a WAV stream: it starts with bytes ", hex4(header_.data()), " ('",
                                         fourcc(header_.data()), "'), not 'RIFF' (headerless 16-bit PCM needs --raw)"));
                if (!whole) break;
                if (std::memcmp(header_.data() + 8, "WAVE", 4) != 0)
                    throw file_error(cat(name_, ": not a WAV stream: a RIFF file of type '", fourcc(header_.data() + 8),
                                         "', expected 'WAVE'"));
                header_.clear();
                state_ = state::chunk_header;
                break;
            }
            case state::chunk_header: {
                if (!gather(8)) break;
                const std::string id(reinterpret_cast<const char*>(header_.data()), 4);
                const std::uint32_t size = u32(header_.data() + 4);
                header_.clear();
                if (id == "fmt ") {
                    if (size < 16 || size > kMaxFmt)
                        throw file_error(cat(name_, ": malformed WAV header: a fmt chunk of ", size, " bytes, expected 16 to ", kMaxFmt));
                    need_ = size + (size & 1);
                    state_ = state::fmt;
                } else if (id == "data") {
                    if (!have_fmt_) throw file_error(cat(name_, ": malformed WAV header: the data chunk comes before the fmt chunk"));
                    data_bounded_ = size != 0 && size < unknown_size;
                    data_size_ = size;
                    need_ = size;
                    state_ = state::data;
                } else {
                    need_ = std::uint64_t{size} + (size & 1);
                    state_ = need_ ? state::skip : state::chunk_header;
                }
                break;
            }
            case state::fmt: {
                if (!gather(static_cast<std::size_t>(need_))) break;
                const unsigned char* b = header_.data();
                format_ = u16(b);
                channels_ = u16(b + 2);
                rate_ = u32(b + 4);
                bits_ = u16(b + 14);
                if (format_ == 0xFFFE && need_ >= 40) format_ = u16(b + 24);  // WAVE_FORMAT_EXTENSIBLE: the sub-format
                have_fmt_ = true;
                header_.clear();
                check_format();
                state_ = state::chunk_header;
                break;
            }
            case state::skip: {
                const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(need_, n - pos));
                pos += take;
                bytes_ += take;
                need_ -= take;
                if (need_ == 0) state_ = state::chunk_header;
                break;
            }
            case state::data: {
                const std::size_t take =
                    data_bounded_ ? static_cast<std::size_t>(std::min<std::uint64_t>(need_, n - pos)) : n - pos;
                decode(bytes.data() + pos, take, out);
                pos += take;
                bytes_ += take;
                if (data_bounded_) {
                    need_ -= take;
                    if (need_ == 0) {
                        partial_n_ = 0;  // as read_wav: a declared size that is not whole samples drops the rest
                        state_ = state::done;
                    }
                }
                break;
            }
            case state::done:
                bytes_ += n - pos;
                pos = n;
                break;
        }
    }
}

void wav_stream_decoder::finish() const {
    switch (state_) {
        case state::riff:
        case state::chunk_header:
        case state::fmt:
        case state::skip:
            if (bytes_ == 0)
                throw file_error(cat(name_, ": no input: expected a WAV header (or headerless 16-bit PCM with --raw)"));
            throw file_error(cat(name_, ": truncated: the input ended after ", bytes_, " bytes, inside the WAV header (",
                                 have_fmt_ ? "no data chunk" : "no fmt chunk", " yet)"));
        case state::data:
            if (data_bounded_ && need_ > 0)
                throw file_error(cat(name_, ": truncated: the WAV data chunk declares ", data_size_, " bytes, the input ended after ",
                                     data_size_ - need_));
            if (partial_n_ > 0)
                throw file_error(cat(name_, ": truncated: the input ended inside a sample (", partial_n_, " of ", bits_ / 8,
                                     " bytes, after ", samples_, " whole samples)"));
            return;
        case state::done:
            return;
    }
}

}  // namespace lmusim
