#include "h5_probe.hpp"

#include <hdf5.h>
#include <signal.h>
#include <unistd.h>

#include <vector>

namespace lmusim::h5 {
namespace {

// Reads a dataset or attribute whole into scratch memory (the process exits afterwards, so
// nothing is freed). Absurd sizes are skipped: the loader refuses them with a message.
void probe_read(hid_t obj, bool attribute) {
    const hid_t type = attribute ? H5Aget_type(obj) : H5Dget_type(obj);
    const hid_t space = attribute ? H5Aget_space(obj) : H5Dget_space(obj);
    if (type < 0 || space < 0) return;
    const hssize_t n = H5Sget_simple_extent_npoints(space);
    const size_t size = H5Tget_size(type);
    if (n <= 0 || size == 0 || static_cast<double>(n) * static_cast<double>(size) > 256.0 * (1 << 20)) return;
    std::vector<char> buf(static_cast<std::size_t>(n) * size);
    if (attribute)
        H5Aread(obj, type, buf.data());
    else
        H5Dread(obj, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data());
}

herr_t probe_attr(hid_t loc, const char* name, const H5A_info_t*, void*) {
    const hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a >= 0) probe_read(a, true);
    return 0;
}

herr_t probe_link(hid_t group, const char* name, const H5L_info_t*, void*) {
    const hid_t o = H5Oopen(group, name, H5P_DEFAULT);
    if (o < 0) return 0;
    hsize_t idx = 0;
    H5Aiterate2(o, H5_INDEX_NAME, H5_ITER_NATIVE, &idx, probe_attr, nullptr);
    if (H5Iget_type(o) == H5I_DATASET) probe_read(o, false);
    return 0;
}

}  // namespace

void probe_process(const char* path, unsigned limit_s) noexcept {
    // The process may crash by design: default signal dispositions (a fuzzer's or a sanitizer's
    // handlers must not report the crash as the caller's). SIGALRM too: under libFuzzer an
    // inherited handler ignored the alarm below, and a looping probe outlived its parent
    // (docs/hardening.md).
    for (int sig : {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL, SIGALRM}) ::signal(sig, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::alarm(limit_s);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    const hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f >= 0) {
        hsize_t idx = 0;
        H5Aiterate2(f, H5_INDEX_NAME, H5_ITER_NATIVE, &idx, probe_attr, nullptr);
        H5Lvisit(f, H5_INDEX_NAME, H5_ITER_NATIVE, probe_link, nullptr);
    }
    ::_exit(0);
}

}  // namespace lmusim::h5
