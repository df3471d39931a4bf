#include "h5_probe.hpp"

#include <hdf5.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
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
    // Again converted to the memory types the loaders ask for (variable-length strings go through
    // the global heap; numbers through HDF5's conversions): other code paths of the library.
    hid_t mem = -1;
    if (H5Tget_class(type) == H5T_STRING && H5Tis_variable_str(type) > 0) {
        mem = H5Tcopy(H5T_C_S1);
        H5Tset_size(mem, H5T_VARIABLE);
    } else if (H5Tget_class(type) == H5T_INTEGER || H5Tget_class(type) == H5T_FLOAT) {
        mem = H5Tcopy(H5T_NATIVE_DOUBLE);
    }
    if (mem < 0) return;
    std::vector<char> conv(static_cast<std::size_t>(n) * std::max<std::size_t>(H5Tget_size(mem), sizeof(double)));
    if (attribute)
        H5Aread(obj, mem, conv.data());
    else
        H5Dread(obj, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, conv.data());
}

herr_t probe_attr(hid_t loc, const char* name, const H5A_info_t*, void*) {
    const hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a >= 0) probe_read(a, true);
    return 0;
}

// Looks up names no file has: HDF5 then decodes every attribute and link message on the lookup
// path the loader's H5Aexists / H5Lexists calls take, which differs from iterating them (a
// corrupt attribute message that iteration passed made H5Aexists read freed memory).
void probe_lookups(hid_t o) {
    H5Aexists(o, "\x01lmusim-probe");
    if (H5Iget_type(o) == H5I_GROUP || H5Iget_type(o) == H5I_FILE) H5Lexists(o, "\x01lmusim-probe", H5P_DEFAULT);
}

// The names lmusim's loaders look up by name (network and model files, NIR graphs). A corrupt
// link table can stop iteration (so H5Lvisit never reaches an object) while a lookup by name
// still finds it: the probe reads these too, following groups a few levels deep.
constexpr const char* kKnownNames[] = {"version", "node", "type", "nodes", "edges", "metadata", "meta",
                                       "projections", "status", "ops", "spike_counts", "spikes", "state"};

void probe_known(hid_t g, int depth) {
    if (depth > 6) return;
    for (const char* name : kKnownNames) {
        if (H5Lexists(g, name, H5P_DEFAULT) <= 0) continue;
        const hid_t o = H5Oopen(g, name, H5P_DEFAULT);
        if (o < 0) continue;
        probe_lookups(o);
        if (H5Iget_type(o) == H5I_DATASET) probe_read(o, false);
        if (H5Iget_type(o) == H5I_GROUP) probe_known(o, depth + 1);
    }
}

herr_t probe_link(hid_t group, const char* name, const H5L_info_t*, void*) {
    const hid_t o = H5Oopen(group, name, H5P_DEFAULT);
    if (o < 0) return 0;
    hsize_t idx = 0;
    probe_lookups(o);
    H5Aiterate2(o, H5_INDEX_NAME, H5_ITER_NATIVE, &idx, probe_attr, nullptr);
    probe_lookups(o);
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
    // No free lists: memory HDF5 releases goes back to malloc at once, so a sanitizer-built probe
    // sees the library touching freed memory (with free lists the block stays HDF5's and the read
    // goes unnoticed, while in the loading process the block may by then belong to someone else).
    H5set_free_list_limits(0, 0, 0, 0, 0, 0);
    const hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f >= 0) {
        hsize_t idx = 0;
        probe_lookups(f);
        H5Aiterate2(f, H5_INDEX_NAME, H5_ITER_NATIVE, &idx, probe_attr, nullptr);
        probe_lookups(f);
        H5Lvisit(f, H5_INDEX_NAME, H5_ITER_NATIVE, probe_link, nullptr);
        probe_known(f, 0);
    }
    ::_exit(0);
}

}  // namespace lmusim::h5
