// Replays the fuzz regression cases (tests/fuzz/regressions/<reader>/*) through the readers in the
// ordinary build: each must end in success or lmusim::error, never a crash. Run by ctest.
#include <filesystem>
#include <iostream>
#include <string>

#include "lmusim/core/error.hpp"
#include "lmusim/frontend/audio.hpp"
#include "lmusim/io/model_file.hpp"
#include "lmusim/io/nir.hpp"
#include "lmusim/io/npy.hpp"

int main(int argc, char** argv) {
    if (argc != 2) {
        std::cerr << "usage: fuzz_replay DIR\n";
        return 2;
    }
    int cases = 0;
    for (const auto& reader : {"model", "wav", "npy", "nir"}) {
        const std::filesystem::path dir = std::filesystem::path(argv[1]) / reader;
        if (!std::filesystem::exists(dir)) continue;
        for (const auto& entry : std::filesystem::directory_iterator(dir)) {
            const std::string path = entry.path().string();
            try {
                if (std::string(reader) == "model") (void)lmusim::load_model(path);
                else if (std::string(reader) == "wav") (void)lmusim::read_wav(path);
                else if (std::string(reader) == "nir") (void)lmusim::load_nir(path, lmusim::nir_options{.dt = 1e-4});
                else (void)lmusim::read_npy(path);
            } catch (const lmusim::error&) {
            }
            ++cases;
        }
    }
    std::cout << cases << " passed, 0 failed\n";
    return 0;
}
