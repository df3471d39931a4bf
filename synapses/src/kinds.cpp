// The registered projection kinds, in the order of the connectivity enum (checked at start-up of
// every lookup). To add a kind: its file under synapses/src/kinds/, its enum value in
// projection.hpp, and one line in each list below.
#include <array>

#include "lmusim/core/error.hpp"
#include "lmusim/core/strings.hpp"
#include "lmusim/synapses/kind.hpp"

namespace lmusim {

extern const projection_kind dense_projection_kind, sparse_projection_kind, one_to_one_projection_kind,
    conv1d_projection_kind, identity_projection_kind, block_diagonal_projection_kind, conv2d_projection_kind,
    sum_pool2d_projection_kind;

namespace {

const std::array<const projection_kind*, 8> registered{
    &dense_projection_kind,
    &sparse_projection_kind,
    &one_to_one_projection_kind,
    &conv1d_projection_kind,
    &identity_projection_kind,
    &block_diagonal_projection_kind,
    &conv2d_projection_kind,
    &sum_pool2d_projection_kind,
};

}  // namespace

namespace {

// Every entry complete and in enum order: checked once, at the first use of the registry.
bool check_registry() {
    for (std::size_t i = 0; i < registered.size(); ++i) {
        const projection_kind& k = *registered[i];
        if (static_cast<std::size_t>(k.id) != i || !k.name || !k.validate || !k.synapses || !k.parameters || !k.taps ||
            !k.latency || !k.arrays || !k.after_read || !k.prepare || !k.deliver_spikes || !k.deliver_values || !k.sops ||
            !k.macs || !k.dense || !k.nonzero_fanout || !k.synaptic_weights)
            throw internal_error(cat("projection kind ", i, " (", k.name ? k.name : "?",
                                     ") is incomplete or out of enum order (synapses/src/kinds.cpp)"));
    }
    return true;
}

}  // namespace

std::span<const projection_kind* const> projection_kinds() {
    static const bool checked = check_registry();  // immutable after the first call
    (void)checked;
    return registered;
}

const projection_kind& kind_of(connectivity c) {
    const auto kinds = projection_kinds();
    const auto i = static_cast<std::size_t>(c);
    if (i >= kinds.size()) throw internal_error(cat("connectivity ", i, " is not a registered projection kind"));
    return *kinds[i];
}

std::string_view to_string(connectivity c) noexcept {
    const auto i = static_cast<std::size_t>(c);
    return i < registered.size() ? registered[i]->name : "?";
}

connectivity connectivity_from_string(std::string_view s) {
    std::string known;
    for (const projection_kind* k : registered) {
        if (k->name == s) return k->id;
        known += cat(known.empty() ? "" : ", ", k->name);
    }
    throw error(cat("unknown connectivity '", s, "', expected one of ", known));
}

std::uint32_t projection::latency() const noexcept { return kind_of(kind).latency(*this); }

std::size_t projection::synapse_count(std::size_t n_source, std::size_t n_target) const noexcept {
    return kind_of(kind).synapses(*this, n_source, n_target);
}

}  // namespace lmusim
