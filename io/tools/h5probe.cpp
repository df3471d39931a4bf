// lmusim-h5probe FILE [SECONDS]: reads every object and attribute of the HDF5 file FILE and exits
// 0, unless the HDF5 library crashes (the signal ends it) or loops (SIGALRM after SECONDS,
// default 10). lmusim's loaders run it before reading files from others (h5::probe_in_child,
// docs/hardening.md): a separate program, started with posix_spawn, so that probing never runs
// in a forked copy of a multithreaded process. Exit status 64: wrong arguments.
#include <cstdio>
#include <cstdlib>

#include "../src/h5_probe.hpp"

int main(int argc, char** argv) {
    unsigned limit_s = 10;
    if (argc == 3) {
        char* end = nullptr;
        const unsigned long v = std::strtoul(argv[2], &end, 10);
        if (end == argv[2] || *end != '\0' || v == 0 || v > 86400) {
            std::fprintf(stderr, "lmusim-h5probe: SECONDS '%s': expected a whole number from 1 to 86400\n", argv[2]);
            return 64;
        }
        limit_s = static_cast<unsigned>(v);
    }
    if (argc != 2 && argc != 3) {
        std::fprintf(stderr, "usage: lmusim-h5probe FILE [SECONDS]\n");
        return 64;
    }
    lmusim::h5::probe_process(argv[1], limit_s);
}
