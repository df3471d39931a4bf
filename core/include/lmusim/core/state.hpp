#pragma once
// A neutral container for run-time state: named, typed, shaped arrays (no HDF5 here). Populations
// and the simulation write their state into it (checkpoint) and read it back (restore); io/ moves
// it to and from a file (docs/checkpoint.md). Keys are '/'-separated paths such as
// "nodes/x1/v"; every array is C order with an explicit shape.
#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "lmusim/core/error.hpp"
#include "lmusim/core/op_counts.hpp"

namespace lmusim {

// Restoring state that does not fit the simulation (a missing key, a wrong shape or dtype, an
// out-of-range value). io/ rethrows it as a file_error naming the file.
class state_error : public error {
public:
    using error::error;
};

class state_store {
public:
    using shape_t = std::vector<std::size_t>;
    using data_t = std::variant<std::vector<float>, std::vector<double>, std::vector<std::int32_t>, std::vector<std::uint32_t>,
                                std::vector<std::uint64_t>>;
    struct entry {
        shape_t shape;
        data_t data;
    };

    // Stores a copy; the product of `shape` must equal data.size().
    template <class T> void put(const std::string& key, std::span<const T> data, shape_t shape) {
        check_count(key, data.size(), shape);
        entries_[key] = entry{std::move(shape), std::vector<T>(data.begin(), data.end())};
    }
    template <class T> void put(const std::string& key, std::vector<T> data, shape_t shape) {
        check_count(key, data.size(), shape);
        entries_[key] = entry{std::move(shape), std::move(data)};
    }
    void put_u64(const std::string& key, std::uint64_t value) { put<std::uint64_t>(key, std::vector<std::uint64_t>{value}, {1}); }

    // The array under `key`, which must exist with dtype T and exactly `shape`; otherwise a
    // state_error naming the key and the expected and found dtype and shape.
    template <class T> const std::vector<T>& get(const std::string& key, const shape_t& shape) const {
        const entry& e = find(key);
        const auto* v = std::get_if<std::vector<T>>(&e.data);
        if (!v) throw state_error(mismatch(key, dtype_name<T>(), shape, e));
        if (e.shape != shape) throw state_error(mismatch(key, dtype_name<T>(), shape, e));
        return *v;
    }
    // The same with only the trailing dimensions fixed (the first one is returned in `rows`).
    template <class T> const std::vector<T>& get_rows(const std::string& key, const shape_t& trailing, std::size_t& rows) const {
        const entry& e = find(key);
        shape_t expected{e.shape.empty() ? 0 : e.shape[0]};
        expected.insert(expected.end(), trailing.begin(), trailing.end());
        const auto* v = std::get_if<std::vector<T>>(&e.data);
        if (!v || e.shape != expected) {
            shape_t shown{0};  // printed as "n"
            shown.insert(shown.end(), trailing.begin(), trailing.end());
            throw state_error(mismatch(key, dtype_name<T>(), shown, e, true));
        }
        rows = expected[0];
        return *v;
    }
    std::uint64_t get_u64(const std::string& key) const { return get<std::uint64_t>(key, {1})[0]; }
    // Per-stream op counts as a uint64 array [streams, fields] in op_count_fields' order.
    void put_ops(const std::string& key, const std::vector<op_counts>& counts);
    std::vector<op_counts> get_ops(const std::string& key, std::size_t streams) const;

    bool contains(const std::string& key) const { return entries_.count(key) != 0; }
    const std::map<std::string, entry>& entries() const noexcept { return entries_; }
    // Direct insertion (for readers): no checks beyond the element count.
    void insert(const std::string& key, entry e);

    template <class T> static const char* dtype_name();
    static const char* dtype_name(const data_t& d);
    static std::string shape_text(const shape_t& s, bool free_first = false);

private:
    const entry& find(const std::string& key) const;
    static void check_count(const std::string& key, std::size_t count, const shape_t& shape);
    static std::string mismatch(const std::string& key, const char* dtype, const shape_t& shape, const entry& found,
                                bool free_first = false);
    std::map<std::string, entry> entries_;
};

template <> inline const char* state_store::dtype_name<float>() { return "float32"; }
template <> inline const char* state_store::dtype_name<double>() { return "float64"; }
template <> inline const char* state_store::dtype_name<std::int32_t>() { return "int32"; }
template <> inline const char* state_store::dtype_name<std::uint32_t>() { return "uint32"; }
template <> inline const char* state_store::dtype_name<std::uint64_t>() { return "uint64"; }

}  // namespace lmusim
