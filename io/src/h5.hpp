#pragma once
// A thin RAII layer over the HDF5 C API (private to io/). Every hid_t lives in an h5::handle that
// closes it; every failure becomes an lmusim::file_error naming the file and the object.
#include <hdf5.h>

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "lmusim/core/error.hpp"
#include "lmusim/core/output_file.hpp"
#include "lmusim/graph/network.hpp"

namespace lmusim::h5 {

class handle {
public:
    using closer = herr_t (*)(hid_t);
    handle() = default;
    handle(hid_t id, closer c) : id_(id), close_(c) {}
    handle(handle&& o) noexcept : id_(std::exchange(o.id_, H5I_INVALID_HID)), close_(o.close_) {}
    handle& operator=(handle&& o) noexcept {
        if (this != &o) {
            reset();
            id_ = std::exchange(o.id_, H5I_INVALID_HID);
            close_ = o.close_;
        }
        return *this;
    }
    handle(const handle&) = delete;
    handle& operator=(const handle&) = delete;
    ~handle() { reset(); }
    void reset() noexcept {
        if (id_ >= 0 && close_) {
            // Quietly: a close can fail after a failed write (disk full), and is then reported
            // by the write that failed.
            H5E_auto2_t func = nullptr;
            void* data = nullptr;
            H5Eget_auto2(H5E_DEFAULT, &func, &data);
            H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
            close_(id_);
            H5Eset_auto2(H5E_DEFAULT, func, data);
        }
        id_ = H5I_INVALID_HID;
    }
    hid_t id() const noexcept { return id_; }
    explicit operator bool() const noexcept { return id_ >= 0; }

private:
    hid_t id_ = H5I_INVALID_HID;
    closer close_ = nullptr;
};

// Turns off HDF5's automatic error printing for its lifetime (restores the previous handler).
class quiet {
public:
    quiet() {
        H5Eget_auto2(H5E_DEFAULT, &func_, &data_);
        H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    }
    ~quiet() { H5Eset_auto2(H5E_DEFAULT, func_, data_); }
    quiet(const quiet&) = delete;
    quiet& operator=(const quiet&) = delete;

private:
    H5E_auto2_t func_ = nullptr;
    void* data_ = nullptr;
};

// The current time as ISO 8601 UTC, for run attributes.
std::string utc_now();

// The innermost message on HDF5's error stack (for error texts), or "".
std::string last_error();

template <class T> hid_t native_type();
template <> inline hid_t native_type<float>() { return H5T_NATIVE_FLOAT; }
template <> inline hid_t native_type<double>() { return H5T_NATIVE_DOUBLE; }
template <> inline hid_t native_type<std::uint8_t>() { return H5T_NATIVE_UINT8; }
template <> inline hid_t native_type<std::uint32_t>() { return H5T_NATIVE_UINT32; }
template <> inline hid_t native_type<std::uint64_t>() { return H5T_NATIVE_UINT64; }
template <> inline hid_t native_type<std::int32_t>() { return H5T_NATIVE_INT32; }
template <> inline hid_t native_type<std::int64_t>() { return H5T_NATIVE_INT64; }
template <class T> const char* type_name();

// A file and the path used in messages.
struct file {
    handle h;
    std::string path;
};

file create_file(const std::string& path);             // truncates
// Flushes the file; on failure seals it (below) and throws file_error naming the file and why.
void flush(const file& f);
// The attributes every lmusim file starts with: format, format_version, lmusim_version.
void write_header(hid_t root, const std::string& format, std::int64_t version);
// Writes a complete file so that the claimed path never holds a partial one: `body` fills a new
// file at out.partial() (its root group's id is passed), which is then flushed, closed and
// committed (fsync'ed, renamed over the path, the directory synced). On any failure the partial
// file is removed and the error rethrown (an HDF5 failure as a file_error naming `what` and the path).
void write_atomically(output_file& out, const char* what, const std::function<void(hid_t root)>& body);
// After a failed write: points the file's descriptor at /dev/null, so nothing HDF5 writes later
// (closing flushes its caches) can touch the file on disk, which keeps its last flushed state.
void seal(const file& f) noexcept;
file open_file(const std::string& path, bool writable);  // throws file_error naming path
// Reads every object and attribute of the file in a child process first: the HDF5 library can
// crash on some corrupt files (bit flips in its heaps), and a crash there becomes a file_error
// here instead of taking the caller down. Used before loading files from others. The child runs
// the helper program lmusim-h5probe (posix_spawn; found next to the binary this library is linked
// into, in the build tree, on PATH, or at $LMUSIM_H5PROBE); without it, a fork of this process
// when it is single-threaded; else there is no probe (docs/hardening.md).
void probe_in_child(const std::string& path);

bool exists(hid_t loc, const std::string& name);
handle create_group(hid_t loc, const std::string& name);
handle open_group(const file& f, hid_t loc, const std::string& name, const std::string& where);

// Datasets (contiguous, or chunked+deflate when `compress`).
template <class T>
void write(hid_t loc, const std::string& name, std::span<const T> data, std::vector<hsize_t> dims = {},
           bool compress = false);
void write_strings(hid_t loc, const std::string& name, const std::vector<std::string>& values);
void write_scalar_u64(hid_t loc, const std::string& name, std::uint64_t value);

// Shape of a dataset; throws naming `where` if it is missing.
std::vector<hsize_t> shape(const file& f, hid_t loc, const std::string& name, const std::string& where);
// Reads a whole dataset checking dtype class/size against T and, if given, the shape.
template <class T>
std::vector<T> read(const file& f, hid_t loc, const std::string& name, const std::string& where,
                    const std::vector<hsize_t>* expected_dims = nullptr);
std::vector<std::string> read_strings(const file& f, hid_t loc, const std::string& name, const std::string& where);

// Any dataset of numbers or strings, whatever its dtype and rank (a scalar has dims {}): for files
// written by other programs (NIR). Integers, floats and h5py's booleans (an int8 enum) become
// doubles; fixed-length and variable-length strings become std::string. Other types throw naming
// `where` and the type.
struct any_dataset {
    std::vector<hsize_t> dims;
    bool text = false;
    std::vector<double> numbers;       // !text
    std::vector<std::string> strings;  // text
    std::size_t count() const noexcept { return text ? strings.size() : numbers.size(); }
};
any_dataset read_any(const file& f, hid_t loc, const std::string& name, const std::string& where);
// Is `name` in `loc` a group (false for datasets and absent names)?
bool is_group(hid_t loc, const std::string& name);
// Names of a group's members in HDF5's name order.
std::vector<std::string> members(hid_t group);

// Attributes (scalars and strings).
template <class T> void write_attr(hid_t obj, const std::string& name, T value);
template <class T> void write_attr_array(hid_t obj, const std::string& name, std::span<const T> values);
void write_attr(hid_t obj, const std::string& name, const std::string& value);
bool has_attr(hid_t obj, const std::string& name);
template <class T> T read_attr(const file& f, hid_t obj, const std::string& name, const std::string& where);
std::string read_attr_string(const file& f, hid_t obj, const std::string& name, const std::string& where);

// A dataset that grows along its first axis by appending rows of shape `trailing` (chunked,
// unlimited; trailing empty = one-dimensional).
class appender {
public:
    appender() = default;
    appender(hid_t loc, const std::string& name, hid_t mem_type, hsize_t chunk_rows, std::vector<hsize_t> trailing = {});
    void append(const void* data, hsize_t rows);
    // Writes this dataset's buffered chunks to disk; false if that failed.
    bool flush() noexcept { return H5Dflush(dset_.id()) >= 0; }
    hid_t id() const noexcept { return dset_.id(); }
    hsize_t rows() const noexcept { return rows_; }
    explicit operator bool() const noexcept { return static_cast<bool>(dset_); }

private:
    handle dset_;
    hid_t mem_type_ = H5I_INVALID_HID;
    std::vector<hsize_t> trailing_;
    hsize_t rows_ = 0;
};

void write_static_metrics(hid_t root, const network& net);  // NeuroBench's static figures (graph/stats.hpp)
std::vector<std::uint8_t> neuron_flags(const network& net);   // per spiking node: 1 if it has inputs

}  // namespace lmusim::h5
