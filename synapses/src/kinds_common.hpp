#pragma once
// Pieces that several projection kinds share (private to synapses/).
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "lmusim/synapses/kind.hpp"

namespace lmusim::kinds_common {

// Spike delivery through lowered weight columns: lowered holds, per tap, one contiguous column of
// n_target weights per source neuron; every spike adds its column to in[b, e).
// in[b, e) += col[b, e): one spike's column. Kept out of line so that the compiler vectorises
// this contiguous loop rather than the loop over spikes (which it would turn into gathers).
void add_column(float* __restrict in, const float* __restrict col, std::size_t b, std::size_t e) noexcept;

inline void add_columns(const projection&, const std::vector<float>& lowered, std::uint32_t tap,
                        std::span<const index_t> spikes, std::size_t ns, std::size_t b, std::size_t e, std::size_t nt,
                        float* __restrict in) {
    const float* wt = lowered.data() + std::size_t{tap} * ns * nt;
    for (index_t j : spikes) add_column(in, wt + std::size_t{j} * nt, b, e);
}

// Real input: in[b, e) += W[b:e, :] x for row-major weights W [n_target x n_source] (Eigen GEMV).
void add_rows_times(const float* w, const float* x, std::size_t ns, std::size_t b, std::size_t e, float* in);

inline std::uint64_t spikes_times_targets(const projection&, std::span<const index_t> spikes, std::size_t, std::size_t nt) {
    return spikes.size() * nt;
}

inline std::uint64_t one_per_spike(const projection&, std::span<const index_t> spikes, std::size_t, std::size_t) {
    return spikes.size();
}

}  // namespace lmusim::kinds_common
