#pragma once
// Audio arriving as a byte stream (standard input, a pipe): a WAV header followed by its samples,
// or headerless PCM16, decoded incrementally from chunks of any size, so that the samples come out
// as soon as their bytes arrive. The samples equal read_wav()'s for the same bytes (PCM16 / 32768,
// float32 as stored).
#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace lmusim {

class wav_stream_decoder {
public:
    // What the stream must hold: mono audio at `sample_rate`, PCM16 (or float32 in a WAV).
    // `name` names the stream in messages ("standard input", a path). raw: no header, PCM16
    // little-endian at `sample_rate`.
    wav_stream_decoder(std::string name, std::uint32_t sample_rate, bool raw = false);

    // Decodes the next bytes and appends the samples they complete to `out`. Throws
    // lmusim::file_error on a header that is not a WAV header or describes other audio (the
    // message says what was found and what is expected), or on a non-finite float sample.
    // Bytes after the end of the data chunk are ignored (data_complete()).
    void push(std::span<const unsigned char> bytes, std::vector<float>& out);
    // The input ended. Throws lmusim::file_error if it ended inside the header, before the data
    // chunk's declared size (unless the size is unknown: 0 or >= 0x7FFFF000, what sox and arecord
    // write to a pipe) or inside a sample.
    void finish() const;

    bool header_complete() const noexcept { return state_ == state::data || state_ == state::done; }
    // The data chunk declared a size and all of it arrived: the audio is complete.
    bool data_complete() const noexcept { return state_ == state::done; }
    std::uint64_t samples() const noexcept { return samples_; }
    std::uint64_t bytes() const noexcept { return bytes_; }

    // Data sizes at or above this (or 0) mean "until the end of the input".
    static constexpr std::uint32_t unknown_size = 0x7FFFF000u;

private:
    enum class state { riff, chunk_header, fmt, skip, data, done };
    void check_format() const;
    void decode(const unsigned char* p, std::size_t n, std::vector<float>& out);

    std::string name_;
    std::uint32_t rate_expected_;
    state state_;
    std::vector<unsigned char> header_;  // bytes of the header part being read
    std::uint64_t bytes_ = 0;            // bytes pushed so far
    std::uint64_t need_ = 0;             // bytes still to read in the current state (skip, fmt, data)
    bool data_bounded_ = false;          // the data chunk declared its size
    std::uint64_t data_size_ = 0;
    std::uint16_t format_ = 0, channels_ = 0, bits_ = 0;
    std::uint32_t rate_ = 0;
    bool have_fmt_ = false;
    std::array<unsigned char, 4> partial_{};  // bytes of a sample split across pushes
    std::size_t partial_n_ = 0;
    std::uint64_t samples_ = 0;
};

}  // namespace lmusim
