// block_diagonal: one weight block W [bt x bs] repeated along the diagonal R times: source neuron
// r*bs + c feeds target neurons r*bt + t with weight W[t, c] (r < R). The L2MU's memory: A
// (bs = bt = order) applied to each memory row, B (bs = 1, bt = order) from each encoder neuron.
// The file stores the block once, [bt, bs]; R follows from the sizes. Counted like dense, per
// block: spikes x bt SOPs, or R x bt x bs MACs; dense-equivalent R x bt x bs. The block is a fixed
// matrix (the LMU's A and B are buffers, not trained): no trainable parameters.
#include <cmath>

#include "lmusim/core/check.hpp"
#include "lmusim/core/strings.hpp"
#include "lmusim/synapses/kind.hpp"
#include "../kinds_common.hpp"

namespace lmusim {
namespace {

// The block shape implied by the sizes and the weight count: R = sqrt(ns * nt / |W|).
struct blocks {
    std::size_t repeats = 0, rows = 0, cols = 0;  // R, bt, bs
    bool valid = false;
};

blocks shape_of(std::size_t weights, std::size_t ns, std::size_t nt) {
    blocks s;
    if (weights == 0 || ns == 0 || nt == 0) return s;
    const double r = std::sqrt(static_cast<double>(ns) * static_cast<double>(nt) / static_cast<double>(weights));
    s.repeats = static_cast<std::size_t>(std::llround(r));
    if (s.repeats == 0 || ns % s.repeats || nt % s.repeats) return s;
    s.cols = ns / s.repeats;
    s.rows = nt / s.repeats;
    s.valid = s.rows * s.cols == weights;
    return s;
}

void validate(const projection& p, const projection_context& c) {
    const blocks s = shape_of(p.weights.size(), c.n_source, c.n_target);
    if (!s.valid)
        check::fail(cat(c.label, ": ", p.weights.size(), " block_diagonal weights do not tile source ", c.n_source,
                        " x target ", c.n_target, " (expected a block [bt, bs] with source = R x bs, target = R x bt)"));
    check::finite(c.label, "weight", p.weights);
}

std::size_t fixed(const projection&, std::size_t, std::size_t) { return 0; }

std::vector<projection_array> arrays(projection& p, std::size_t ns, std::size_t nt) {
    const blocks s = shape_of(p.weights.size(), ns, nt);
    if (s.valid) return {{"weights", &p.weights, {s.rows, s.cols}}};
    return {{"weights", &p.weights, {any_extent, any_extent}}};  // reading: validate() checks the tiling
}

// Lowered: the block transposed, one contiguous column of bt weights per block column c.
void prepare(const projection& p, const projection_context& c, std::vector<float>& wt) {
    const blocks s = shape_of(p.weights.size(), c.n_source, c.n_target);
    wt.resize(s.rows * s.cols);
    for (std::size_t t = 0; t < s.rows; ++t)
        for (std::size_t k = 0; k < s.cols; ++k) wt[k * s.rows + t] = p.weights[t * s.cols + k];
}

void deliver_spikes(const projection& p, const std::vector<float>& wt, std::uint32_t, std::span<const index_t> spikes,
                    std::size_t ns, std::size_t b, std::size_t e, std::size_t nt, float* __restrict in) {
    const blocks s = shape_of(p.weights.size(), ns, nt);
    for (index_t j : spikes) {
        const std::size_t r = j / s.cols, k = j % s.cols;
        const float* col = wt.data() + k * s.rows;
        const std::size_t first = r * s.rows;
        for (std::size_t t = 0; t < s.rows; ++t)
            if (first + t >= b && first + t < e) in[first + t] += col[t];
    }
}

void deliver_values(const projection& p, const std::vector<float>&, std::uint32_t, const float* x, std::size_t ns,
                    std::size_t b, std::size_t e, std::size_t nt, float* in) {
    const blocks s = shape_of(p.weights.size(), ns, nt);
    for (std::size_t i = b; i < e; ++i) {
        const std::size_t r = i / s.rows, t = i % s.rows;
        float acc = 0.0f;
        for (std::size_t k = 0; k < s.cols; ++k) acc += p.weights[t * s.cols + k] * x[r * s.cols + k];
        in[i] += acc;
    }
}

std::uint64_t sops(const projection& p, std::span<const index_t> spikes, std::size_t ns, std::size_t nt) {
    return spikes.size() * shape_of(p.weights.size(), ns, nt).rows;
}

void nonzero_fanout(const projection& p, std::size_t ns, std::size_t nt, std::vector<std::uint32_t>& out) {
    const blocks s = shape_of(p.weights.size(), ns, nt);
    out.assign(ns, 0);
    for (std::size_t j = 0; j < ns; ++j)
        for (std::size_t t = 0; t < s.rows; ++t) out[j] += p.weights[t * s.cols + j % s.cols] != 0.0f;
}

std::uint64_t all_products(const projection& p, std::size_t ns, std::size_t nt) {
    const blocks s = shape_of(p.weights.size(), ns, nt);
    return s.repeats * s.rows * s.cols;
}

// Compressed weights: one output channel per row t of the block (shared by its R repeats, as the
// block is stored once). The L2MU's A and B are synapses on a chip like any other.
weight_channels synaptic_weights(projection& p, std::size_t ns, std::size_t nt) {
    return kinds_common::rows_of(p.weights, shape_of(p.weights.size(), ns, nt).cols);
}

}  // namespace

extern const projection_kind block_diagonal_projection_kind{
    .id = connectivity::block_diagonal,
    .name = "block_diagonal",
    .validate = validate,
    .synapses = all_products,
    .parameters = fixed,
    .arrays = arrays,
    .prepare = prepare,
    .deliver_spikes = deliver_spikes,
    .deliver_values = deliver_values,
    .sops = sops,
    .macs = all_products,
    .dense = all_products,
    .nonzero_fanout = nonzero_fanout,
    .synaptic_weights = synaptic_weights,
};

}  // namespace lmusim
