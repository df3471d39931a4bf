#include "lmusim/neurons/node_kinds.hpp"

#include "lmusim/core/error.hpp"
#include "lmusim/core/strings.hpp"

namespace lmusim {
namespace {

template <class... P> node_params from_name(std::string_view name, node_kind_list<P...>*) {
    node_params out;
    const bool found = ((name == P::name ? (out = P{}, true) : false) || ...);
    if (!found) {
        std::string known;
        for (std::string_view k : registered_node_kind_names()) known += cat(known.empty() ? "" : ", ", k);
        throw error(cat("unknown node kind '", name, "', expected one of ", known));
    }
    return out;
}

template <class... P> std::vector<std::string_view> names_of(node_kind_list<P...>*) { return {P::name...}; }

}  // namespace

node_params default_node_params(std::string_view name) { return from_name(name, static_cast<node_kinds*>(nullptr)); }

std::vector<std::string_view> registered_node_kind_names() { return names_of(static_cast<node_kinds*>(nullptr)); }

std::string_view kind_name(const node_params& p) noexcept {
    return std::visit([](const auto& k) { return std::string_view(std::decay_t<decltype(k)>::name); }, p);
}

}  // namespace lmusim
