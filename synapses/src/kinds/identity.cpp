// identity: source i to target i with weight 1 (sizes must match): routing of real values or
// spikes, no weights stored or trained. Counted: one SOP per spike; no MACs and no
// dense-equivalent work (the add is counted at the target node).
#include <algorithm>

#include "lmusim/core/check.hpp"
#include "lmusim/core/strings.hpp"
#include "lmusim/synapses/kind.hpp"
#include "../kinds_common.hpp"

namespace lmusim {
namespace {

void validate(const projection& p, const projection_context& c) {
    const std::size_t ns = c.n_source, nt = c.n_target;
    if (ns != nt) check::fail(cat(c.label, ": identity needs equal sizes, source has ", ns, " and target ", nt));
    if (!p.weights.empty()) check::fail(cat(c.label, ": identity takes no weights, got ", p.weights.size()));
}

std::size_t synapses(const projection&, std::size_t ns, std::size_t) { return ns; }
std::size_t no_parameters(const projection&, std::size_t, std::size_t) { return 0; }

std::vector<projection_array> arrays(projection&, std::size_t, std::size_t) { return {}; }

void deliver_spikes(const projection&, const std::vector<float>&, std::uint32_t, std::span<const index_t> spikes,
                    std::size_t, std::size_t b, std::size_t e, std::size_t, float* in) {
    const auto first = std::lower_bound(spikes.begin(), spikes.end(), static_cast<index_t>(b));
    for (auto it = first; it != spikes.end() && *it < e; ++it) in[*it] += 1.0f;
}

void deliver_values(const projection&, const std::vector<float>&, std::uint32_t, const float* x, std::size_t,
                    std::size_t b, std::size_t e, std::size_t, float* in) {
    for (std::size_t t = b; t < e; ++t) in[t] += x[t];
}

std::uint64_t none(const projection&, std::size_t, std::size_t) { return 0; }

// Routing is no synaptic layer: no effective operations.
void no_fanout(const projection&, std::size_t ns, std::size_t, std::vector<std::uint32_t>& out) { out.assign(ns, 0); }

}  // namespace

extern const projection_kind identity_projection_kind{
    .id = connectivity::identity,
    .name = "identity",
    .validate = validate,
    .synapses = synapses,
    .parameters = no_parameters,
    .arrays = arrays,
    .deliver_spikes = deliver_spikes,
    .deliver_values = deliver_values,
    .sops = kinds_common::one_per_spike,
    .macs = none,
    .dense = none,
    .nonzero_fanout = no_fanout,
};

}  // namespace lmusim
