// libFuzzer targets for the readers of untrusted files: model/network files (HDF5), WAV and .npy.
// Build: scripts/fuzz.sh (clang -fsanitize=fuzzer,address,undefined). Each input is written to a
// temporary file and read; lmusim::error is the expected outcome for garbage, anything else
// (a crash, a sanitizer report, another exception) is a finding. LMUSIM_FUZZ_TARGET selects
// the reader: model, wav (read_wav, and the incremental decoder of `--input -` in pieces whose
// size the first byte picks), npy or nir (a NIR graph read and lowered onto lmusim's kinds).
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>
#include <cstdio>
#include <string>

#include "lmusim/core/error.hpp"
#include "lmusim/frontend/audio.hpp"
#include "lmusim/frontend/wav_stream.hpp"
#include "lmusim/io/model_file.hpp"
#include "lmusim/io/nir.hpp"
#include "lmusim/io/npy.hpp"

namespace {

std::string write_temp(const std::uint8_t* data, std::size_t size, const char* suffix) {
    std::string path = "/tmp/lmusim_fuzz_" + std::to_string(::getpid()) + suffix;
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) return {};
    std::fwrite(data, 1, size, f);
    std::fclose(f);
    return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
#if defined(LMUSIM_FUZZ_MODEL)
    const std::string path = write_temp(data, size, ".h5");
    try {
        (void)lmusim::load_model(path);
    } catch (const lmusim::error&) {
    }
#elif defined(LMUSIM_FUZZ_NIR)
    const std::string path = write_temp(data, size, ".nir");
    try {
        lmusim::nir_options o;
        o.dt = 1e-4;
        (void)lmusim::load_nir(path, o);
    } catch (const lmusim::error&) {
    }
#elif defined(LMUSIM_FUZZ_WAV)
    const std::string path = write_temp(data, size, ".wav");
    try {
        const lmusim::wav_audio w = lmusim::read_wav(path);
        if (w.sample_rate == 16000 && w.samples.size() < 16000 * 4) (void)lmusim::fbank().features(w.samples);
    } catch (const lmusim::error&) {
    }
    for (const bool raw : {false, true}) {
        try {
            lmusim::wav_stream_decoder d("fuzz input", 16000, raw);
            std::vector<float> out;
            const std::size_t piece = size ? 1 + data[0] % 64 : 1;
            for (std::size_t i = 0; i < size; i += piece)
                d.push(std::span<const std::uint8_t>(data + i, std::min(piece, size - i)), out);
            d.finish();
        } catch (const lmusim::error&) {
        }
    }
#else
    const std::string path = write_temp(data, size, ".npy");
    try {
        (void)lmusim::read_npy(path);
    } catch (const lmusim::error&) {
    }
#endif
    std::remove(path.c_str());
    return 0;
}
