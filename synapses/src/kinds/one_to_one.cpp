// one_to_one: weights[i] from source i to target i (sizes must match). Counted: one SOP per spike,
// or n MACs on real input; dense-equivalent n.
#include <algorithm>

#include "lmusim/core/check.hpp"
#include "lmusim/core/strings.hpp"
#include "lmusim/synapses/kind.hpp"
#include "../kinds_common.hpp"

namespace lmusim {
namespace {

void validate(const projection& p, const projection_context& c) {
    const std::size_t ns = c.n_source, nt = c.n_target;
    if (ns != nt) check::fail(cat(c.label, ": one_to_one needs equal sizes, source has ", ns, " and target ", nt));
    if (p.weights.size() != ns) check::fail(cat(c.label, ": ", p.weights.size(), " one_to_one weights, expected ", ns));
    check::finite(c.label, "weight", p.weights);
}

std::size_t synapses(const projection&, std::size_t ns, std::size_t) { return ns; }

std::vector<projection_array> arrays(projection& p, std::size_t, std::size_t nt) { return {{"weights", &p.weights, {nt}}}; }

void deliver_spikes(const projection& p, const std::vector<float>&, std::uint32_t, std::span<const index_t> spikes,
                    std::size_t, std::size_t b, std::size_t e, std::size_t, float* in) {
    const auto first = std::lower_bound(spikes.begin(), spikes.end(), static_cast<index_t>(b));
    for (auto it = first; it != spikes.end() && *it < e; ++it) in[*it] += p.weights[*it];
}

void deliver_values(const projection& p, const std::vector<float>&, std::uint32_t, const float* x, std::size_t,
                    std::size_t b, std::size_t e, std::size_t, float* in) {
    for (std::size_t t = b; t < e; ++t) in[t] += p.weights[t] * x[t];
}

std::uint64_t per_source(const projection&, std::size_t ns, std::size_t) { return ns; }

void nonzero_fanout(const projection& p, std::size_t ns, std::size_t, std::vector<std::uint32_t>& out) {
    out.assign(ns, 0);
    for (std::size_t j = 0; j < ns; ++j) out[j] = p.weights[j] != 0.0f;
}

// Compressed weights: each target has one weight, its own channel (int8 then keeps the value to
// within float rounding of q = +-127).
weight_channels synaptic_weights(projection& p, std::size_t, std::size_t) { return kinds_common::rows_of(p.weights, 1); }

}  // namespace

extern const projection_kind one_to_one_projection_kind{
    .id = connectivity::one_to_one,
    .name = "one_to_one",
    .validate = validate,
    .synapses = synapses,
    .parameters = synapses,
    .arrays = arrays,
    .deliver_spikes = deliver_spikes,
    .deliver_values = deliver_values,
    .sops = kinds_common::one_per_spike,
    .macs = per_source,
    .dense = per_source,
    .nonzero_fanout = nonzero_fanout,
    .synaptic_weights = synaptic_weights,
};

}  // namespace lmusim
