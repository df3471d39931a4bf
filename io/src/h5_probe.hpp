#pragma once
// The probe's reading side (docs/hardening.md): reads every object and attribute of an HDF5 file,
// in a process that may crash or hang doing so. Shared by the helper program lmusim-h5probe
// (io/tools/h5probe.cpp) and the fork-based fallback of h5::probe_in_child (io/src/h5.cpp); it
// uses nothing but the HDF5 C API.

namespace lmusim::h5 {

// In the probing process: restores the default action of the crash signals and SIGALRM, unblocks
// every signal, arms alarm(limit_s), reads the whole file at `path` with HDF5's error printing
// off, and ends the process with _exit(0) (files HDF5 cannot open are the loader's to report).
// A crash ends it with the signal, a hang with SIGALRM.
[[noreturn]] void probe_process(const char* path, unsigned limit_s) noexcept;

}  // namespace lmusim::h5
