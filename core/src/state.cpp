#include "lmusim/core/state.hpp"

#include "lmusim/core/strings.hpp"

namespace lmusim {

const char* state_store::dtype_name(const data_t& d) {
    return std::visit([](const auto& v) { return dtype_name<typename std::decay_t<decltype(v)>::value_type>(); }, d);
}

std::string state_store::shape_text(const shape_t& s, bool free_first) {
    std::string out = "[";
    for (std::size_t i = 0; i < s.size(); ++i) {
        out += i ? ", " : "";
        out += i == 0 && free_first ? std::string("n") : std::to_string(s[i]);
    }
    return out + "]";
}

void state_store::insert(const std::string& key, entry e) {
    check_count(key, std::visit([](const auto& v) { return v.size(); }, e.data), e.shape);
    entries_[key] = std::move(e);
}

const state_store::entry& state_store::find(const std::string& key) const {
    const auto it = entries_.find(key);
    if (it == entries_.end()) throw state_error(cat("missing dataset '", key, "'"));
    return it->second;
}

void state_store::check_count(const std::string& key, std::size_t count, const shape_t& shape) {
    std::size_t n = 1;
    for (std::size_t d : shape) n *= d;
    if (n != count)
        throw state_error(cat("state '", key, "': ", count, " values do not fill shape ", shape_text(shape)));
}

std::string state_store::mismatch(const std::string& key, const char* dtype, const shape_t& shape, const entry& found,
                                  bool free_first) {
    return cat("dataset '", key, "': expected ", dtype, " ", shape_text(shape, free_first), ", found ", dtype_name(found.data),
               " ", shape_text(found.shape));
}

void state_store::put_ops(const std::string& key, const std::vector<op_counts>& counts) {
    std::vector<std::uint64_t> flat;
    flat.reserve(counts.size() * op_count_fields.size());
    for (const op_counts& c : counts)
        for (const op_count_field& f : op_count_fields) flat.push_back(c.*f.member);
    put<std::uint64_t>(key, std::move(flat), {counts.size(), op_count_fields.size()});
}

std::vector<op_counts> state_store::get_ops(const std::string& key, std::size_t streams) const {
    // Checkpoints written before the later fields existed hold the first op_count_fields_v1.
    const entry& e = find(key);
    const std::size_t F = e.shape.size() == 2 && e.shape[1] == op_count_fields_v1 ? op_count_fields_v1 : op_count_fields.size();
    const auto& flat = get<std::uint64_t>(key, {streams, F});
    std::vector<op_counts> counts(streams);
    for (std::size_t s = 0; s < streams; ++s)
        for (std::size_t k = 0; k < F; ++k) counts[s].*op_count_fields[k].member = flat[s * F + k];
    return counts;
}

}  // namespace lmusim
