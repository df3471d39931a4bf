// sparse: CSR by source row (indptr, indices = targets ascending within a row, weights). A spike
// costs its row's length; a block of targets [b, e) binary-searches its part of the row. Real
// input visits every synapse. Counted: row lengths as SOPs, or nnz MACs; dense-equivalent nnz.
#include <algorithm>

#include "lmusim/core/check.hpp"
#include "lmusim/core/strings.hpp"
#include "lmusim/synapses/kind.hpp"
#include "../kinds_common.hpp"

namespace lmusim {
namespace {

void validate(const projection& p, const projection_context& c) {
    const std::size_t ns = c.n_source, nt = c.n_target;
    const std::string& label = c.label;
    const csr& m = p.sparse;
    if (m.indptr.size() != ns + 1)
        check::fail(cat(label, ": CSR indptr has ", m.indptr.size(), " entries, expected source size + 1 = ", ns + 1));
    if (m.indptr.front() != 0) check::fail(cat(label, ": CSR indptr[0] = ", m.indptr.front(), ", expected 0"));
    if (m.indptr.back() != m.indices.size())
        check::fail(cat(label, ": CSR indptr[", ns, "] = ", m.indptr.back(), ", expected the synapse count ", m.indices.size()));
    if (m.weights.size() != m.indices.size())
        check::fail(cat(label, ": CSR has ", m.indices.size(), " indices but ", m.weights.size(), " weights"));
    for (std::size_t r = 0; r < ns; ++r) {
        if (m.indptr[r + 1] < m.indptr[r])
            check::fail(cat(label, ": CSR indptr decreases at row ", r, " (", m.indptr[r], " -> ", m.indptr[r + 1], ")"));
        if (m.indptr[r + 1] > m.indices.size())
            check::fail(cat(label, ": CSR indptr[", r + 1, "] = ", m.indptr[r + 1], " exceeds the synapse count ", m.indices.size()));
        for (std::uint64_t k = m.indptr[r]; k < m.indptr[r + 1]; ++k) {
            if (m.indices[k] >= nt) check::fail(cat(label, ": CSR row ", r, " targets neuron ", m.indices[k], ", expected < ", nt));
            if (k > m.indptr[r] && m.indices[k] <= m.indices[k - 1])
                check::fail(cat(label, ": CSR row ", r, " targets are not strictly ascending at synapse ", k));
        }
    }
    check::finite(label, "weight", m.weights);
}

std::size_t synapses(const projection& p, std::size_t, std::size_t) { return p.sparse.nnz(); }

std::vector<projection_array> arrays(projection& p, std::size_t ns, std::size_t) {
    return {{"indptr", &p.sparse.indptr, {ns + 1}},
            {"indices", &p.sparse.indices, {any_extent}},
            {"weights", &p.sparse.weights, {any_extent}}};
}

void deliver_spikes(const projection& p, const std::vector<float>&, std::uint32_t, std::span<const index_t> spikes,
                    std::size_t, std::size_t b, std::size_t e, std::size_t nt, float* __restrict in) {
    const csr& c = p.sparse;
    const bool whole = b == 0 && e == nt;
    for (index_t j : spikes) {
        const index_t* first = c.indices.data() + c.indptr[j];
        const index_t* last = c.indices.data() + c.indptr[j + 1];
        if (!whole) {
            first = std::lower_bound(first, last, static_cast<index_t>(b));
            last = std::lower_bound(first, last, static_cast<index_t>(e));
        }
        const float* w = c.weights.data() + (first - c.indices.data());
        for (const index_t* q = first; q != last; ++q, ++w) in[*q] += *w;
    }
}

void deliver_values(const projection& p, const std::vector<float>&, std::uint32_t, const float* x, std::size_t ns,
                    std::size_t b, std::size_t e, std::size_t, float* in) {
    const csr& c = p.sparse;
    for (std::size_t j = 0; j < ns; ++j)
        for (std::uint64_t q = c.indptr[j]; q < c.indptr[j + 1]; ++q)
            if (c.indices[q] >= b && c.indices[q] < e) in[c.indices[q]] += c.weights[q] * x[j];
}

bool restrict_targets(projection& p, std::size_t ns, std::size_t, std::size_t b, std::size_t e) {
    csr& c = p.sparse;
    csr local;
    local.indptr.assign(ns + 1, 0);
    for (std::size_t j = 0; j < ns; ++j) {
        for (std::uint64_t q = c.indptr[j]; q < c.indptr[j + 1]; ++q)
            if (c.indices[q] >= b && c.indices[q] < e) {
                local.indices.push_back(c.indices[q]);
                local.weights.push_back(c.weights[q]);
            }
        local.indptr[j + 1] = local.indices.size();
    }
    c = std::move(local);
    return true;
}

std::uint64_t sops(const projection& p, std::span<const index_t> spikes, std::size_t, std::size_t) {
    std::uint64_t n = 0;
    for (index_t j : spikes) n += p.sparse.indptr[j + 1] - p.sparse.indptr[j];
    return n;
}

std::uint64_t nnz(const projection& p, std::size_t, std::size_t) { return p.sparse.nnz(); }

void nonzero_fanout(const projection& p, std::size_t ns, std::size_t, std::vector<std::uint32_t>& out) {
    out.assign(ns, 0);
    for (std::size_t j = 0; j < ns; ++j)
        for (std::uint64_t q = p.sparse.indptr[j]; q < p.sparse.indptr[j + 1]; ++q) out[j] += p.sparse.weights[q] != 0.0f;
}

// Compressed weights: the output channel of a synapse is its target neuron.
weight_channels synaptic_weights(projection& p, std::size_t, std::size_t nt) {
    weight_channels out;
    out.weights = p.sparse.weights;
    out.channels = nt;
    out.channel.assign(p.sparse.indices.begin(), p.sparse.indices.end());
    return out;
}

}  // namespace

extern const projection_kind sparse_projection_kind{
    .id = connectivity::sparse,
    .name = "sparse",
    .validate = validate,
    .synapses = synapses,
    .parameters = synapses,
    .arrays = arrays,
    .restrict_targets = restrict_targets,
    .deliver_spikes = deliver_spikes,
    .deliver_values = deliver_values,
    .sops = sops,
    .macs = nnz,
    .dense = nnz,
    .nonzero_fanout = nonzero_fanout,
    .synaptic_weights = synaptic_weights,
};

}  // namespace lmusim
