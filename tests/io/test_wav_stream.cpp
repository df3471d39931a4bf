// The incremental WAV / raw PCM16 decoder of `lmusim run MODEL --input - --stream`
// (frontend/wav_stream.hpp): the samples equal read_wav()'s however the bytes are split, and a
// header that is not 16 kHz mono PCM16 (or float32) is refused with what was found and expected.
#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "lmusim/core/error.hpp"
#include "lmusim/frontend/audio.hpp"
#include "lmusim/frontend/wav_stream.hpp"
#include "scratch.hpp"

using namespace lmusim;
using namespace lmusim::testing;
using Catch::Matchers::Contains;

namespace {

using bytes = std::vector<unsigned char>;

void put16(bytes& b, std::uint16_t v) {
    b.push_back(static_cast<unsigned char>(v & 0xff));
    b.push_back(static_cast<unsigned char>(v >> 8));
}
void put32(bytes& b, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) b.push_back(static_cast<unsigned char>((v >> (8 * i)) & 0xff));
}
void put_id(bytes& b, const char* id) {
    for (int i = 0; i < 4; ++i) b.push_back(static_cast<unsigned char>(id[i]));
}

struct wav_spec {
    std::uint16_t format = 1, channels = 1, bits = 16;
    std::uint32_t rate = 16000;
    bool extensible = false;     // WAVE_FORMAT_EXTENSIBLE with `format` as the sub-format
    bool list_chunk = false;     // an odd-sized LIST chunk (with its pad byte) before the data
    std::int64_t data_size = -1;  // declared data size; -1: the true one
};

// A WAV file's bytes holding `payload` as its data.
bytes make_wav(const bytes& payload, const wav_spec& s = {}) {
    bytes b;
    put_id(b, "RIFF");
    put32(b, 0);  // patched below
    put_id(b, "WAVE");
    put_id(b, "fmt ");
    put32(b, s.extensible ? 40 : 16);
    put16(b, s.extensible ? 0xFFFE : s.format);
    put16(b, s.channels);
    put32(b, s.rate);
    put32(b, s.rate * s.channels * s.bits / 8);
    put16(b, static_cast<std::uint16_t>(s.channels * s.bits / 8));
    put16(b, s.bits);
    if (s.extensible) {
        put16(b, 22);
        put16(b, s.bits);
        put32(b, 4);  // channel mask
        put16(b, s.format);
        const unsigned char guid_tail[14] = {0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71};
        b.insert(b.end(), guid_tail, guid_tail + 14);
    }
    if (s.list_chunk) {
        put_id(b, "LIST");
        put32(b, 5);
        b.insert(b.end(), {'I', 'N', 'F', 'O', 'x', 0});  // 5 bytes + pad
    }
    put_id(b, "data");
    put32(b, s.data_size < 0 ? static_cast<std::uint32_t>(payload.size()) : static_cast<std::uint32_t>(s.data_size));
    b.insert(b.end(), payload.begin(), payload.end());
    const auto riff = static_cast<std::uint32_t>(b.size() - 8);
    for (int i = 0; i < 4; ++i) b[4 + i] = static_cast<unsigned char>((riff >> (8 * i)) & 0xff);
    return b;
}

bytes pcm16(std::size_t n, unsigned seed = 1) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> d(-32768, 32767);
    bytes b;
    for (std::size_t i = 0; i < n; ++i) put16(b, static_cast<std::uint16_t>(static_cast<std::int16_t>(d(rng))));
    return b;
}

bytes float32(std::size_t n, unsigned seed = 2) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> d(-1.0f, 1.0f);
    bytes b;
    for (std::size_t i = 0; i < n; ++i) {
        const float v = d(rng);
        std::uint32_t w;
        std::memcpy(&w, &v, 4);
        put32(b, w);
    }
    return b;
}

// Decodes `b` in pieces of the sizes in `sizes`, cycled; returns the samples.
std::vector<float> decode(const bytes& b, const std::vector<std::size_t>& sizes, bool raw = false) {
    wav_stream_decoder d("test stream", 16000, raw);
    std::vector<float> out;
    std::size_t pos = 0, k = 0;
    while (pos < b.size()) {
        const std::size_t n = std::min(sizes[k++ % sizes.size()], b.size() - pos);
        d.push(std::span<const unsigned char>(b.data() + pos, n), out);
        pos += n;
    }
    d.finish();
    REQUIRE(d.samples() == out.size());
    return out;
}

std::vector<float> read_back(const bytes& b, const std::string& name) {
    const std::string path = fresh_tmp(name);
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
    return read_wav(path).samples;
}

std::string error_of(const bytes& b, bool raw = false) {
    try {
        decode(b, {3}, raw);
    } catch (const file_error& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("wav_stream: any split of a PCM16 WAV gives read_wav's samples", "[wav_stream]") {
    const bytes wav = make_wav(pcm16(3001), wav_spec{.list_chunk = true});
    const std::vector<float> expected = read_back(wav, "stream_pcm16.wav");
    REQUIRE(expected.size() == 3001);
    for (std::size_t n : {1, 2, 3, 7, 43, 44, 45, 160, 4096}) REQUIRE(decode(wav, {n}) == expected);
    REQUIRE(decode(wav, {1, 7, 2, 160, 5, 4096, 3}) == expected);
    std::mt19937 rng(7);
    std::uniform_int_distribution<std::size_t> d(1, 300);
    std::vector<std::size_t> sizes(50);
    for (auto& s : sizes) s = d(rng);
    REQUIRE(decode(wav, sizes) == expected);
}

TEST_CASE("wav_stream: float32 and WAVE_FORMAT_EXTENSIBLE are read as read_wav reads them", "[wav_stream]") {
    const bytes f = make_wav(float32(777), wav_spec{.format = 3, .bits = 32});
    REQUIRE(decode(f, {5}) == read_back(f, "stream_f32.wav"));
    const bytes x = make_wav(pcm16(500), wav_spec{.extensible = true});
    REQUIRE(decode(x, {1}) == read_back(x, "stream_ext.wav"));
}

TEST_CASE("wav_stream: raw PCM16 and unknown data sizes read to the end of the input", "[wav_stream]") {
    const bytes payload = pcm16(1000, 3);
    const std::vector<float> expected = read_back(make_wav(payload), "stream_raw.wav");
    REQUIRE(decode(payload, {1}, true) == expected);
    REQUIRE(decode(payload, {7}, true) == expected);
    REQUIRE(decode(bytes{}, {1}, true).empty());  // raw input may be empty
    for (std::uint32_t unknown : {0u, 0x7FFFF000u, 0x7FFFFFFFu, 0xFFFFFFFFu})
        REQUIRE(decode(make_wav(payload, wav_spec{.data_size = unknown}), {160}) == expected);
}

TEST_CASE("wav_stream: bytes after a complete data chunk are ignored", "[wav_stream]") {
    bytes wav = make_wav(pcm16(100));
    const std::vector<float> expected = read_back(wav, "stream_trailer.wav");
    wav.insert(wav.end(), {'L', 'I', 'S', 'T', 2, 0, 0, 0, 'a', 'b', 'c'});
    wav_stream_decoder d("s", 16000);
    std::vector<float> out;
    d.push(std::span<const unsigned char>(wav.data(), 44 + 200), out);
    REQUIRE(d.data_complete());
    d.push(std::span<const unsigned char>(wav.data() + 244, wav.size() - 244), out);
    d.finish();
    REQUIRE(out == expected);
}

TEST_CASE("wav_stream: headers of other audio say what they hold and what is expected", "[wav_stream]") {
    const bytes p = pcm16(10);
    std::string e = error_of(make_wav(p, wav_spec{.rate = 44100}));
    REQUIRE_THAT(e, Contains("test stream") && Contains("44100 Hz") && Contains("expected 16000 Hz"));
    e = error_of(make_wav(p, wav_spec{.channels = 2}));
    REQUIRE_THAT(e, Contains("2 channels") && Contains("mono"));
    e = error_of(make_wav(p, wav_spec{.bits = 24}));
    REQUIRE_THAT(e, Contains("PCM 24-bit") && Contains("PCM 16-bit"));
    e = error_of(make_wav(p, wav_spec{.bits = 8}));
    REQUIRE_THAT(e, Contains("PCM 8-bit"));
    e = error_of(make_wav(p, wav_spec{.format = 3, .bits = 64}));
    REQUIRE_THAT(e, Contains("float 64-bit"));
    e = error_of(make_wav(p, wav_spec{.format = 6, .bits = 8}));
    REQUIRE_THAT(e, Contains("sample format code 6"));
    e = error_of(p);  // headerless
    REQUIRE_THAT(e, Contains("not a WAV stream") && Contains("--raw"));
    bytes avi = make_wav(p);
    std::memcpy(avi.data() + 8, "AVI ", 4);
    REQUIRE_THAT(error_of(avi), Contains("'AVI '") && Contains("expected 'WAVE'"));
}

TEST_CASE("wav_stream: truncated input is an error at the end", "[wav_stream]") {
    const bytes wav = make_wav(pcm16(100));
    REQUIRE_THAT(error_of(bytes(wav.begin(), wav.begin() + 30)), Contains("truncated") && Contains("inside the WAV header"));
    REQUIRE_THAT(error_of(bytes(wav.begin(), wav.end() - 10)), Contains("declares 200 bytes") && Contains("after 190"));
    REQUIRE_THAT(error_of(bytes{}), Contains("no input"));
    REQUIRE(error_of(pcm16(5), true).empty());
    REQUIRE_THAT(error_of(bytes(11, 0), true), Contains("inside a sample"));
    // the samples before the end still came out
    wav_stream_decoder d("s", 16000);
    std::vector<float> out;
    d.push(std::span<const unsigned char>(wav.data(), wav.size() - 11), out);
    REQUIRE(out.size() == 94);
    REQUIRE_THROWS_AS(d.finish(), file_error);
    bytes no_fmt;
    put_id(no_fmt, "RIFF");
    put32(no_fmt, 100);
    put_id(no_fmt, "WAVE");
    put_id(no_fmt, "data");
    put32(no_fmt, 4);
    REQUIRE_THAT(error_of(no_fmt), Contains("before the fmt chunk"));
}
