// conv1d: weights[target][source][k], a cross-correlation along time (frames) with zero padding
// (k-1)/2, k odd: frame t of the target sees source frames t-(k-1)/2 .. t+(k-1)/2, so the
// projection adds (k-1)/2 frames of latency. Tap k reads the source's history at lag
// (taps - 1 - k). Lowered per tap: columns per source neuron for spikes, rows per target for real
// input (one GEMV per tap). Counted per active tap as dense.
#include "lmusim/core/check.hpp"
#include "lmusim/core/strings.hpp"
#include "lmusim/synapses/kind.hpp"
#include "../kinds_common.hpp"

namespace lmusim {
namespace {

void validate(const projection& p, const projection_context& c) {
    const std::size_t ns = c.n_source, nt = c.n_target;
    if (p.kernel == 0 || p.kernel % 2 == 0)
        check::fail(cat(c.label, ": conv1d kernel ", p.kernel, ", expected an odd number of taps"));
    if (p.weights.size() != nt * ns * p.kernel)
        check::fail(cat(c.label, ": ", p.weights.size(), " conv1d weights, expected ", nt, " x ", ns, " x ", p.kernel, " = ",
                        nt * ns * p.kernel, " (target x source x kernel)"));
    if (p.delay != 0) check::fail(cat(c.label, ": conv1d projections take no delay (got ", p.delay, ")"));
    check::finite(c.label, "weight", p.weights);
}

std::size_t synapses(const projection& p, std::size_t ns, std::size_t nt) { return ns * nt * p.kernel; }
std::uint32_t taps(const projection& p) { return p.kernel; }
std::uint32_t latency(const projection& p) { return (p.kernel - 1) / 2; }

std::vector<projection_array> arrays(projection& p, std::size_t ns, std::size_t nt) {
    return {{"weights", &p.weights, {nt, ns, any_extent}}};
}

// The file stores the kernel as the weights' last extent.
void after_read(projection& p, std::size_t ns, std::size_t nt) {
    p.kernel = ns * nt == 0 ? 0 : static_cast<std::uint32_t>(p.weights.size() / (ns * nt));
}

void prepare(const projection& p, const projection_context& c, std::vector<float>& wt) {
    const std::size_t ns = c.n_source, nt = c.n_target, K = p.kernel;
    wt.resize(K * ns * nt);
    for (std::size_t t = 0; t < nt; ++t)
        for (std::size_t j = 0; j < ns; ++j)
            for (std::size_t k = 0; k < K; ++k) {
                const float w = p.weights[(t * ns + j) * K + k];
                if (c.spiking_source)
                    wt[kinds_common::column_index(ns, nt, k, j, t)] = w;
                else
                    wt[(k * nt + t) * ns + j] = w;
            }
}

void deliver_values(const projection&, const std::vector<float>& wt, std::uint32_t tap, const float* x, std::size_t ns,
                    std::size_t b, std::size_t e, std::size_t nt, float* in) {
    kinds_common::add_rows_times(wt.data() + std::size_t{tap} * nt * ns, x, ns, b, e, in);
}

std::uint64_t macs(const projection&, std::size_t ns, std::size_t nt) { return nt * ns; }

void nonzero_fanout(const projection& p, std::size_t ns, std::size_t nt, std::vector<std::uint32_t>& out) {
    const std::size_t K = p.kernel;
    out.assign(K * ns, 0);
    for (std::size_t t = 0; t < nt; ++t)
        for (std::size_t j = 0; j < ns; ++j)
            for (std::size_t k = 0; k < K; ++k) out[k * ns + j] += p.weights[(t * ns + j) * K + k] != 0.0f;
}

// Compressed weights: one output channel per target (weights[target][source][k]).
weight_channels synaptic_weights(projection& p, std::size_t ns, std::size_t) {
    return kinds_common::rows_of(p.weights, ns * p.kernel);
}

}  // namespace

extern const projection_kind conv1d_projection_kind{
    .id = connectivity::conv1d,
    .name = "conv1d",
    .validate = validate,
    .synapses = synapses,
    .parameters = synapses,
    .taps = taps,
    .latency = latency,
    .arrays = arrays,
    .after_read = after_read,
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
