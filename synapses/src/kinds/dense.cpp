// dense: weights[target * n_source + source], every pair connected. A spike adds its source's
// weight column (lowered: kinds_common's blocked column layout); real input is one GEMV (Eigen).
// Counted per active frame: spikes x n_target SOPs, or n_target x n_source MACs; dense-equivalent
// n_target x n_source.
#include "lmusim/core/check.hpp"
#include "lmusim/core/strings.hpp"
#include "lmusim/synapses/kind.hpp"
#include "../kinds_common.hpp"

namespace lmusim {
namespace {

void validate(const projection& p, const projection_context& c) {
    const std::size_t ns = c.n_source, nt = c.n_target;
    if (p.weights.size() != ns * nt)
        check::fail(cat(c.label, ": ", p.weights.size(), " dense weights, expected ", nt, " x ", ns, " = ", nt * ns,
                        " (target x source)"));
    check::finite(c.label, "weight", p.weights);
}

std::size_t synapses(const projection&, std::size_t ns, std::size_t nt) { return ns * nt; }

std::vector<projection_array> arrays(projection& p, std::size_t ns, std::size_t nt) {
    return {{"weights", &p.weights, {nt, ns}}};
}

void prepare(const projection& p, const projection_context& c, std::vector<float>& wt) {
    if (!c.spiking_source) return;  // real input reads the weights as stored
    const std::size_t ns = c.n_source, nt = c.n_target;
    wt.resize(ns * nt);
    for (std::size_t t = 0; t < nt; ++t)
        for (std::size_t j = 0; j < ns; ++j) wt[kinds_common::column_index(ns, nt, 0, j, t)] = p.weights[t * ns + j];
}

void deliver_values(const projection& p, const std::vector<float>&, std::uint32_t, const float* x, std::size_t ns,
                    std::size_t b, std::size_t e, std::size_t, float* in) {
    kinds_common::add_rows_times(p.weights.data(), x, ns, b, e, in);
}

std::uint64_t macs(const projection&, std::size_t ns, std::size_t nt) { return nt * ns; }

void nonzero_fanout(const projection& p, std::size_t ns, std::size_t nt, std::vector<std::uint32_t>& out) {
    out.assign(ns, 0);
    for (std::size_t t = 0; t < nt; ++t)
        for (std::size_t j = 0; j < ns; ++j) out[j] += p.weights[t * ns + j] != 0.0f;
}

// Compressed weights: one output channel per target (a row of weights[target * n_source + source]).
weight_channels synaptic_weights(projection& p, std::size_t ns, std::size_t) { return kinds_common::rows_of(p.weights, ns); }

}  // namespace

extern const projection_kind dense_projection_kind{
    .id = connectivity::dense,
    .name = "dense",
    .validate = validate,
    .synapses = synapses,
    .parameters = synapses,
    .arrays = arrays,
    .prepare = prepare,
    .deliver_spikes = kinds_common::add_columns,
    .tile_bytes = kinds_common::column_bytes,
    .deliver_values = deliver_values,
    .sops = kinds_common::spikes_times_targets,
    .macs = macs,
    .dense = macs,
    .nonzero_fanout = nonzero_fanout,
    .synaptic_weights = synaptic_weights,
};

}  // namespace lmusim
