#include "h5.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <filesystem>
#include <cstring>
#include <vector>
#include <memory>
#include <optional>
#include <string_view>
#include <thread>

#include "h5_probe.hpp"
#include "lmusim/graph/stats.hpp"
#include "lmusim/core/strings.hpp"

namespace lmusim::h5 {
namespace {

herr_t walk_cb(unsigned, const H5E_error2_t* e, void* data) {
    auto* out = static_cast<std::string*>(data);
    if (out->empty() && e && e->desc) *out = e->desc;
    return 0;
}

[[noreturn]] void fail(const std::string& what) {
    const std::string detail = last_error();
    throw file_error(detail.empty() ? what : cat(what, " (HDF5: ", detail, ")"));
}

template <class T> bool type_matches(hid_t type) {
    const H5T_class_t cls = H5Tget_class(type);
    const size_t size = H5Tget_size(type);
    if constexpr (std::is_floating_point_v<T>) return cls == H5T_FLOAT && size == sizeof(T);
    else {
        if (cls != H5T_INTEGER || size != sizeof(T)) return false;
        return (H5Tget_sign(type) == H5T_SGN_NONE) == std::is_unsigned_v<T>;
    }
}

std::string describe_type(hid_t type) {
    const H5T_class_t cls = H5Tget_class(type);
    const size_t bits = H5Tget_size(type) * 8;
    switch (cls) {
        case H5T_FLOAT: return cat("float", bits);
        case H5T_INTEGER: return cat(H5Tget_sign(type) == H5T_SGN_NONE ? "uint" : "int", bits);
        case H5T_STRING: return "string";
        case H5T_COMPOUND: return "compound";
        case H5T_ENUM: return "enum";
        default: return "an unsupported type";
    }
}

std::string dims_text(const std::vector<hsize_t>& d) {
    std::string s = "[";
    for (std::size_t i = 0; i < d.size(); ++i) s += cat(i ? ", " : "", d[i]);
    return s + "]";
}

handle vlen_string_type() {
    handle t(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(t.id(), H5T_VARIABLE);
    H5Tset_cset(t.id(), H5T_CSET_UTF8);
    return t;
}

}  // namespace

template <> const char* type_name<float>() { return "float32"; }
template <> const char* type_name<double>() { return "float64"; }
template <> const char* type_name<std::uint8_t>() { return "uint8"; }
template <> const char* type_name<std::uint32_t>() { return "uint32"; }
template <> const char* type_name<std::uint64_t>() { return "uint64"; }
template <> const char* type_name<std::int32_t>() { return "int32"; }
template <> const char* type_name<std::int64_t>() { return "int64"; }

std::string utc_now() {
    const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

std::string last_error() {
    std::string msg;
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, walk_cb, &msg);
    return msg;
}

file create_file(const std::string& path) {
    hid_t id = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (id < 0) fail(cat("cannot create '", path, "': check that the directory exists and is writable"));
    return file{handle(id, H5Fclose), path};
}

void seal(const file& f) noexcept {
    void* handle = nullptr;
    if (H5Fget_vfd_handle(f.h.id(), H5P_DEFAULT, &handle) < 0 || !handle) return;
    const int fd = *static_cast<int*>(handle);
    const int null_fd = ::open("/dev/null", O_RDWR);
    if (null_fd < 0) return;
    ::dup2(null_fd, fd);
    ::close(null_fd);
}

void flush(const file& f) {
    if (H5Fflush(f.h.id(), H5F_SCOPE_GLOBAL) < 0) {
        seal(f);
        std::string why = last_error();
        if (errno == EFBIG || why.find("errno = 27") != std::string::npos) why = "file too large (disk full or a file-size limit)";
        else if (errno == ENOSPC || why.find("errno = 28") != std::string::npos) why = "no space left on the device";
        throw file_error(cat("cannot write '", f.path, "': ", why.empty() ? "write failed" : why));
    }
}

void write_header(hid_t root, const std::string& format, std::int64_t version) {
    write_attr(root, "format", format);
    write_attr(root, "format_version", version);
    write_attr(root, "lmusim_version", std::string(LMUSIM_VERSION));
}

void write_atomically(output_file& out, const char* what, const std::function<void(hid_t root)>& body) {
    try {
        file f = create_file(out.partial());
        body(f.h.id());
        flush(f);
    } catch (const file_error& e) {
        out.discard();
        throw file_error(cat("cannot write ", what, " '", out.path(), "': ", e.what()));
    } catch (...) {
        out.discard();
        throw;
    }
    out.commit();
}

file open_file(const std::string& path, bool writable) {
    const htri_t is = H5Fis_hdf5(path.c_str());
    if (is <= 0) {
        FILE* probe = std::fopen(path.c_str(), "rb");
        if (!probe) throw file_error(cat("cannot open '", path, "': ", std::strerror(errno)));
        std::fclose(probe);
        throw file_error(cat("'", path, "' is not an HDF5 file (or it is truncated or corrupt)"));
    }
    hid_t id = H5Fopen(path.c_str(), writable ? H5F_ACC_RDWR : H5F_ACC_RDONLY, H5P_DEFAULT);
    if (id < 0) fail(cat("cannot open '", path, "' as HDF5 (truncated or corrupt?)"));
    return file{handle(id, H5Fclose), path};
}

bool exists(hid_t loc, const std::string& name) { return H5Lexists(loc, name.c_str(), H5P_DEFAULT) > 0; }

handle create_group(hid_t loc, const std::string& name) {
    hid_t id = H5Gcreate2(loc, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (id < 0) fail(cat("cannot create group '", name, "'"));
    return handle(id, H5Gclose);
}

handle open_group(const file& f, hid_t loc, const std::string& name, const std::string& where) {
    if (!exists(loc, name)) throw file_error(cat(f.path, ": missing group '", where, "'"));
    hid_t id = H5Gopen2(loc, name.c_str(), H5P_DEFAULT);
    if (id < 0) fail(cat(f.path, ": cannot open group '", where, "'"));
    return handle(id, H5Gclose);
}

template <class T>
void write(hid_t loc, const std::string& name, std::span<const T> data, std::vector<hsize_t> dims, bool compress) {
    if (dims.empty()) dims = {static_cast<hsize_t>(data.size())};
    handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose);
    handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
    if (compress && !data.empty()) {
        std::vector<hsize_t> chunk(dims);
        hsize_t total = sizeof(T);
        for (hsize_t d : chunk) total *= d;
        // Chunks of at most ~1 MiB: shrink the leading dimension.
        while (total > (1u << 20) && chunk[0] > 1) {
            total /= chunk[0];
            chunk[0] = (chunk[0] + 1) / 2;
            total *= chunk[0];
        }
        H5Pset_chunk(dcpl.id(), static_cast<int>(chunk.size()), chunk.data());
        H5Pset_deflate(dcpl.id(), 4);
    }
    handle ds(H5Dcreate2(loc, name.c_str(), native_type<T>(), space.id(), H5P_DEFAULT, dcpl.id(), H5P_DEFAULT), H5Dclose);
    if (!ds) fail(cat("cannot create dataset '", name, "'"));
    if (!data.empty() && H5Dwrite(ds.id(), native_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data()) < 0)
        fail(cat("cannot write dataset '", name, "'"));
}

void write_scalar_u64(hid_t loc, const std::string& name, std::uint64_t value) {
    handle ds;
    if (exists(loc, name)) {
        ds = handle(H5Dopen2(loc, name.c_str(), H5P_DEFAULT), H5Dclose);
    } else {
        handle space(H5Screate(H5S_SCALAR), H5Sclose);
        ds = handle(H5Dcreate2(loc, name.c_str(), H5T_NATIVE_UINT64, space.id(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                    H5Dclose);
    }
    if (!ds || H5Dwrite(ds.id(), H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, &value) < 0)
        fail(cat("cannot write dataset '", name, "'"));
}

void write_strings(hid_t loc, const std::string& name, const std::vector<std::string>& values) {
    handle type = vlen_string_type();
    const hsize_t n = values.size();
    handle space(H5Screate_simple(1, &n, nullptr), H5Sclose);
    handle ds(H5Dcreate2(loc, name.c_str(), type.id(), space.id(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
    if (!ds) fail(cat("cannot create dataset '", name, "'"));
    std::vector<const char*> ptrs;
    for (const auto& v : values) ptrs.push_back(v.c_str());
    if (n && H5Dwrite(ds.id(), type.id(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()) < 0)
        fail(cat("cannot write dataset '", name, "'"));
}

std::vector<hsize_t> shape(const file& f, hid_t loc, const std::string& name, const std::string& where) {
    if (!exists(loc, name)) throw file_error(cat(f.path, ": missing dataset '", where, "'"));
    handle ds(H5Dopen2(loc, name.c_str(), H5P_DEFAULT), H5Dclose);
    if (!ds) fail(cat(f.path, ": '", where, "' is not a dataset"));
    handle space(H5Dget_space(ds.id()), H5Sclose);
    const int rank = H5Sget_simple_extent_ndims(space.id());
    if (rank < 0) fail(cat(f.path, ": cannot read the shape of '", where, "'"));
    std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
    H5Sget_simple_extent_dims(space.id(), dims.data(), nullptr);
    return dims;
}

template <class T>
std::vector<T> read(const file& f, hid_t loc, const std::string& name, const std::string& where,
                    const std::vector<hsize_t>* expected) {
    const std::vector<hsize_t> dims = shape(f, loc, name, where);
    if (expected && dims != *expected)
        throw file_error(cat(f.path, ": dataset '", where, "' has shape ", dims_text(dims), ", expected ", dims_text(*expected)));
    handle ds(H5Dopen2(loc, name.c_str(), H5P_DEFAULT), H5Dclose);
    handle type(H5Dget_type(ds.id()), H5Tclose);
    if (!type_matches<T>(type.id()))
        throw file_error(cat(f.path, ": dataset '", where, "' has dtype ", describe_type(type.id()), ", expected ", type_name<T>()));
    hsize_t count = 1;
    for (hsize_t d : dims) {
        if (d != 0 && count > (hsize_t{1} << 40) / d)
            throw file_error(cat(f.path, ": dataset '", where, "' has absurd shape ", dims_text(dims)));
        count *= d;
    }
    std::vector<T> out(count);
    if (count && H5Dread(ds.id(), native_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) < 0)
        fail(cat(f.path, ": cannot read dataset '", where, "' (truncated or corrupt?)"));
    return out;
}

std::vector<std::string> read_strings(const file& f, hid_t loc, const std::string& name, const std::string& where) {
    const std::vector<hsize_t> dims = shape(f, loc, name, where);
    if (dims.size() != 1) throw file_error(cat(f.path, ": dataset '", where, "' should be one-dimensional"));
    handle ds(H5Dopen2(loc, name.c_str(), H5P_DEFAULT), H5Dclose);
    handle type(H5Dget_type(ds.id()), H5Tclose);
    if (H5Tget_class(type.id()) != H5T_STRING)
        throw file_error(cat(f.path, ": dataset '", where, "' has dtype ", describe_type(type.id()), ", expected strings"));
    std::vector<std::string> out(dims[0]);
    if (H5Tis_variable_str(type.id()) > 0) {
        handle mt = vlen_string_type();
        std::vector<char*> ptrs(dims[0], nullptr);
        if (dims[0] && H5Dread(ds.id(), mt.id(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()) < 0)
            fail(cat(f.path, ": cannot read '", where, "'"));
        for (std::size_t i = 0; i < ptrs.size(); ++i) {
            out[i] = ptrs[i] ? ptrs[i] : "";
            H5free_memory(ptrs[i]);
        }
    } else {
        const std::size_t len = H5Tget_size(type.id());
        std::vector<char> buf(len * dims[0] + 1, '\0');
        if (dims[0] && H5Dread(ds.id(), type.id(), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()) < 0)
            fail(cat(f.path, ": cannot read '", where, "'"));
        for (std::size_t i = 0; i < dims[0]; ++i) out[i] = std::string(buf.data() + i * len, strnlen(buf.data() + i * len, len));
    }
    return out;
}

any_dataset read_any(const file& f, hid_t loc, const std::string& name, const std::string& where) {
    any_dataset out;
    out.dims = shape(f, loc, name, where);
    hsize_t count = 1;
    for (hsize_t d : out.dims) {
        if (d != 0 && count > (hsize_t{1} << 27) / d)  // 2^27 values: 1 GiB as doubles
            throw file_error(cat(f.path, ": dataset '", where, "' has shape ", dims_text(out.dims),
                                 ", more than 134,217,728 values"));
        count *= d;
    }
    handle ds(H5Dopen2(loc, name.c_str(), H5P_DEFAULT), H5Dclose);
    handle type(H5Dget_type(ds.id()), H5Tclose);
    const H5T_class_t cls = H5Tget_class(type.id());
    if (cls == H5T_STRING) {
        out.text = true;
        out.strings.resize(count);
        if (count == 0) return out;
        if (H5Tis_variable_str(type.id()) > 0) {
            handle mt = vlen_string_type();
            std::vector<char*> ptrs(count, nullptr);
            if (H5Dread(ds.id(), mt.id(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()) < 0)
                fail(cat(f.path, ": cannot read dataset '", where, "' (truncated or corrupt?)"));
            for (std::size_t i = 0; i < count; ++i) {
                out.strings[i] = ptrs[i] ? ptrs[i] : "";
                H5free_memory(ptrs[i]);
            }
        } else {
            const std::size_t len = H5Tget_size(type.id());
            std::vector<char> buf(len * count + 1, '\0');
            if (H5Dread(ds.id(), type.id(), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()) < 0)
                fail(cat(f.path, ": cannot read dataset '", where, "' (truncated or corrupt?)"));
            for (std::size_t i = 0; i < count; ++i)
                out.strings[i] = std::string(buf.data() + i * len, strnlen(buf.data() + i * len, len));
        }
        return out;
    }
    hid_t mem = H5T_NATIVE_DOUBLE;
    handle base;
    if (cls == H5T_ENUM) {  // h5py's bool: an int8 enum; read its integer values
        base = handle(H5Tget_super(type.id()), H5Tclose);
        if (H5Tget_class(base.id()) != H5T_INTEGER)
            throw file_error(cat(f.path, ": dataset '", where, "' has dtype ", describe_type(type.id()), ", expected numbers"));
    } else if (cls != H5T_INTEGER && cls != H5T_FLOAT) {
        throw file_error(cat(f.path, ": dataset '", where, "' has dtype ", describe_type(type.id()),
                             ", expected numbers or strings"));
    }
    out.numbers.resize(count);
    if (count == 0) return out;
    if (cls == H5T_ENUM) {
        std::vector<std::int64_t> raw(count);
        if (H5Dread(ds.id(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw.data()) < 0) {
            // HDF5 cannot convert an enum to an integer directly: read its base type's bytes.
            const std::size_t size = H5Tget_size(base.id());
            std::vector<unsigned char> bytes(size * count);
            if (H5Dread(ds.id(), type.id(), H5S_ALL, H5S_ALL, H5P_DEFAULT, bytes.data()) < 0)
                fail(cat(f.path, ": cannot read dataset '", where, "' (truncated or corrupt?)"));
            for (std::size_t i = 0; i < count; ++i) {
                std::int64_t v = 0;
                for (std::size_t b = 0; b < size && b < 8; ++b) v |= std::int64_t{bytes[i * size + b]} << (8 * b);
                raw[i] = v;
            }
        }
        for (std::size_t i = 0; i < count; ++i) out.numbers[i] = static_cast<double>(raw[i]);
        return out;
    }
    if (H5Dread(ds.id(), mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.numbers.data()) < 0)
        fail(cat(f.path, ": cannot read dataset '", where, "' (truncated or corrupt?)"));
    return out;
}

bool is_group(hid_t loc, const std::string& name) {
    if (!exists(loc, name)) return false;
    handle obj(H5Oopen(loc, name.c_str(), H5P_DEFAULT), H5Oclose);
    return obj && H5Iget_type(obj.id()) == H5I_GROUP;
}

std::vector<std::string> members(hid_t group) {
    std::vector<std::string> names;
    H5Literate(group, H5_INDEX_NAME, H5_ITER_INC, nullptr,
               [](hid_t, const char* name, const H5L_info_t*, void* data) -> herr_t {
                   static_cast<std::vector<std::string>*>(data)->emplace_back(name);
                   return 0;
               },
               &names);
    return names;
}

template <class T> void write_attr(hid_t obj, const std::string& name, T value) {
    handle space(H5Screate(H5S_SCALAR), H5Sclose);
    if (H5Aexists(obj, name.c_str()) > 0) H5Adelete(obj, name.c_str());
    handle a(H5Acreate2(obj, name.c_str(), native_type<T>(), space.id(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
    if (!a || H5Awrite(a.id(), native_type<T>(), &value) < 0) fail(cat("cannot write attribute '", name, "'"));
}

template <class T> void write_attr_array(hid_t obj, const std::string& name, std::span<const T> values) {
    const hsize_t n = values.size();
    handle space(H5Screate_simple(1, &n, nullptr), H5Sclose);
    if (H5Aexists(obj, name.c_str()) > 0) H5Adelete(obj, name.c_str());
    handle a(H5Acreate2(obj, name.c_str(), native_type<T>(), space.id(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
    if (!a || H5Awrite(a.id(), native_type<T>(), values.data()) < 0) fail(cat("cannot write attribute '", name, "'"));
}

void write_attr(hid_t obj, const std::string& name, const std::string& value) {
    handle type = vlen_string_type();
    handle space(H5Screate(H5S_SCALAR), H5Sclose);
    if (H5Aexists(obj, name.c_str()) > 0) H5Adelete(obj, name.c_str());
    handle a(H5Acreate2(obj, name.c_str(), type.id(), space.id(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
    const char* p = value.c_str();
    if (!a || H5Awrite(a.id(), type.id(), &p) < 0) fail(cat("cannot write attribute '", name, "'"));
}

bool has_attr(hid_t obj, const std::string& name) { return H5Aexists(obj, name.c_str()) > 0; }

template <class T> T read_attr(const file& f, hid_t obj, const std::string& name, const std::string& where) {
    if (!has_attr(obj, name)) throw file_error(cat(f.path, ": '", where, "' lacks attribute '", name, "'"));
    handle a(H5Aopen(obj, name.c_str(), H5P_DEFAULT), H5Aclose);
    handle space(H5Aget_space(a.id()), H5Sclose);
    handle type(H5Aget_type(a.id()), H5Tclose);
    const H5T_class_t cls = H5Tget_class(type.id());
    const bool numeric_ok = std::is_floating_point_v<T> ? (cls == H5T_FLOAT || cls == H5T_INTEGER) : cls == H5T_INTEGER;
    if (!numeric_ok || H5Sget_simple_extent_npoints(space.id()) != 1)
        throw file_error(cat(f.path, ": attribute '", name, "' of '", where, "' has type ", describe_type(type.id()),
                             ", expected a scalar ", type_name<T>()));
    T value{};
    if (H5Aread(a.id(), native_type<T>(), &value) < 0) fail(cat(f.path, ": cannot read attribute '", name, "' of '", where, "'"));
    return value;
}

std::string read_attr_string(const file& f, hid_t obj, const std::string& name, const std::string& where) {
    if (!has_attr(obj, name)) throw file_error(cat(f.path, ": '", where, "' lacks attribute '", name, "'"));
    handle a(H5Aopen(obj, name.c_str(), H5P_DEFAULT), H5Aclose);
    handle type(H5Aget_type(a.id()), H5Tclose);
    if (H5Tget_class(type.id()) != H5T_STRING)
        throw file_error(cat(f.path, ": attribute '", name, "' of '", where, "' has type ", describe_type(type.id()),
                             ", expected a string"));
    if (H5Tis_variable_str(type.id()) > 0) {
        handle mt = vlen_string_type();
        char* p = nullptr;
        if (H5Aread(a.id(), mt.id(), &p) < 0) fail(cat(f.path, ": cannot read attribute '", name, "'"));
        std::string s = p ? p : "";
        H5free_memory(p);
        return s;
    }
    const std::size_t len = H5Tget_size(type.id());
    std::string s(len, '\0');
    if (H5Aread(a.id(), type.id(), s.data()) < 0) fail(cat(f.path, ": cannot read attribute '", name, "'"));
    s.resize(strnlen(s.data(), len));
    return s;
}

appender::appender(hid_t loc, const std::string& name, hid_t mem_type, hsize_t chunk_rows, std::vector<hsize_t> trailing)
    : mem_type_(mem_type), trailing_(std::move(trailing)) {
    std::vector<hsize_t> dims{0}, maxdims{H5S_UNLIMITED}, chunk{chunk_rows};
    for (hsize_t d : trailing_) {
        dims.push_back(d);
        maxdims.push_back(d);
        chunk.push_back(d);
    }
    handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), maxdims.data()), H5Sclose);
    handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
    H5Pset_chunk(dcpl.id(), static_cast<int>(chunk.size()), chunk.data());
    dset_ = handle(H5Dcreate2(loc, name.c_str(), mem_type, space.id(), H5P_DEFAULT, dcpl.id(), H5P_DEFAULT), H5Dclose);
    if (!dset_) fail(cat("cannot create dataset '", name, "'"));
}

void appender::append(const void* data, hsize_t rows) {
    if (rows == 0) return;
    std::vector<hsize_t> size{rows_ + rows}, start{rows_}, count{rows};
    for (hsize_t d : trailing_) {
        size.push_back(d);
        start.push_back(0);
        count.push_back(d);
    }
    if (H5Dset_extent(dset_.id(), size.data()) < 0) fail("cannot extend a dataset");
    handle fspace(H5Dget_space(dset_.id()), H5Sclose);
    H5Sselect_hyperslab(fspace.id(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr);
    handle mspace(H5Screate_simple(static_cast<int>(count.size()), count.data(), nullptr), H5Sclose);
    if (H5Dwrite(dset_.id(), mem_type_, mspace.id(), fspace.id(), H5P_DEFAULT, data) < 0) fail("cannot append to a dataset");
    rows_ += rows;
}

#define LMUSIM_H5_INSTANTIATE(T)                                                                              \
    template void write<T>(hid_t, const std::string&, std::span<const T>, std::vector<hsize_t>, bool);       \
    template std::vector<T> read<T>(const file&, hid_t, const std::string&, const std::string&,              \
                                    const std::vector<hsize_t>*);                                             \
    template void write_attr<T>(hid_t, const std::string&, T);                                               \
    template void write_attr_array<T>(hid_t, const std::string&, std::span<const T>);                        \
    template T read_attr<T>(const file&, hid_t, const std::string&, const std::string&);
LMUSIM_H5_INSTANTIATE(float)
LMUSIM_H5_INSTANTIATE(double)
LMUSIM_H5_INSTANTIATE(std::uint8_t)
LMUSIM_H5_INSTANTIATE(std::uint32_t)
LMUSIM_H5_INSTANTIATE(std::uint64_t)
LMUSIM_H5_INSTANTIATE(std::int32_t)
LMUSIM_H5_INSTANTIATE(std::int64_t)
#undef LMUSIM_H5_INSTANTIATE

void write_static_metrics(hid_t root, const network& net) {
    const static_metrics sm = static_metrics_of(net);
    write_attr(root, "footprint_bytes", std::uint64_t{sm.footprint_bytes});
    write_attr(root, "connection_zeros", std::uint64_t{sm.connection_zeros});
    write_attr(root, "connection_weights", std::uint64_t{sm.connection_total});
}

std::vector<std::uint8_t> neuron_flags(const network& net) {
    std::vector<std::uint8_t> out;
    for (const node& nd : net.nodes)
        if (nd.spiking()) out.push_back(nd.input_ports() > 0 ? 1 : 0);
    return out;
}

}  // namespace lmusim::h5
