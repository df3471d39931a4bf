#pragma once
// Pieces that several projection kinds share (private to synapses/).
#include <cstddef>
#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <vector>

#include "lmusim/synapses/kind.hpp"

namespace lmusim::kinds_common {

// Spike delivery through lowered weight columns. Lowered layout, per tap: the targets in blocks
// of kColumnBlock (the last one narrower), and within a block one contiguous slice of the block's
// width per source neuron, sources ascending: the weight from source j to target t of tap k is at
// column_index(ns, nt, k, j, t). A block of one tap is one contiguous array (ns x width), so a
// cache tile of whole blocks is read front to back however sparse the spikes.
constexpr std::size_t kColumnBlock = tile_granularity;
inline std::size_t column_index(std::size_t ns, std::size_t nt, std::size_t tap, std::size_t j, std::size_t t) {
    const std::size_t blk = t / kColumnBlock, first = blk * kColumnBlock, width = std::min(kColumnBlock, nt - first);
    return tap * ns * nt + first * ns + j * width + (t - first);
}

// in[t] += w(j, t) for every spike j (ascending), t in [b, e), through the lowered layout above:
// block by block, register-blocked (the block's targets are held in vector registers while every
// spike's slice is added, then stored once). Each element still receives in[t] + w(j0, t) +
// w(j1, t) + ... in spike order, bit for bit what one add per spike gives.
void add_spike_columns(float* __restrict in, const float* __restrict wt, std::size_t ns, std::size_t nt,
                       std::span<const index_t> spikes, std::size_t b, std::size_t e) noexcept;

inline void add_columns(const projection&, const std::vector<float>& lowered, std::uint32_t tap,
                        std::span<const index_t> spikes, std::size_t ns, std::size_t b, std::size_t e, std::size_t nt,
                        float* __restrict in) {
    add_spike_columns(in, lowered.data() + std::size_t{tap} * ns * nt, ns, nt, spikes, b, e);
}

// Cache tiling (projection_kind::tile_bytes): lowered weight bytes per target, over all taps, for
// kinds whose spikes read one column of n_target weights per source and tap.
inline std::size_t column_bytes(const projection& p, std::size_t ns, std::size_t) {
    return sizeof(float) * ns * std::max<std::uint32_t>(p.kernel, 1);
}

// Real input: in[b, e) += W[b:e, :] x for row-major weights W [n_target x n_source] (Eigen GEMV).
void add_rows_times(const float* w, const float* x, std::size_t ns, std::size_t b, std::size_t e, float* in);

// Compressed weights: `w` holds rows of `per_row` weights, one row per output channel (weight i
// belongs to channel i / per_row).
weight_channels rows_of(std::vector<float>& w, std::size_t per_row);

inline std::uint64_t spikes_times_targets(const projection&, std::span<const index_t> spikes, std::size_t, std::size_t nt) {
    return spikes.size() * nt;
}

inline std::uint64_t one_per_spike(const projection&, std::span<const index_t> spikes, std::size_t, std::size_t) {
    return spikes.size();
}

// One spatial axis of a 2-D window (conv2d, sum_pool2d). Output position o reads input position
// o*stride - pad_before + k*dilation at kernel offset k < kernel; positions outside [0, in) are
// zero padding. Validation (check_geometry) bounds every value by 2^31, so nothing below overflows.
struct window_axis {
    std::uint64_t in = 1, kernel = 1, stride = 1, pad_before = 0, pad_after = 0, dilation = 1;

    // floor((in + pad_before + pad_after - dilation*(kernel-1) - 1) / stride) + 1, or 0 when the
    // dilated kernel does not fit the padded input.
    std::uint64_t out() const noexcept {
        const std::uint64_t span = dilation * (kernel - 1) + 1, padded = in + pad_before + pad_after;
        return padded < span ? 0 : (padded - span) / stride + 1;
    }
    // The input position output o reads at offset k, or -1 where that is padding.
    std::int64_t input_at(std::uint64_t o, std::uint64_t k) const noexcept {
        const auto i = static_cast<std::int64_t>(o * stride + k * dilation) - static_cast<std::int64_t>(pad_before);
        return i >= 0 && i < static_cast<std::int64_t>(in) ? i : -1;
    }
    // Calls f(o, k) for every output o whose window reads input i, at offset k (k ascending).
    template <class F> void outputs_reading(std::uint64_t i, F&& f) const {
        const std::uint64_t n = out();
        for (std::uint64_t k = 0; k < kernel; ++k) {
            const auto at = static_cast<std::int64_t>(i + pad_before) - static_cast<std::int64_t>(k * dilation);
            if (at < 0) break;  // larger offsets reach further back
            const auto u = static_cast<std::uint64_t>(at);
            if (u % stride == 0 && u / stride < n) f(u / stride, k);
        }
    }
    // How many (output, offset) pairs read input i.
    std::uint64_t fan_out(std::uint64_t i) const {
        std::uint64_t n = 0;
        outputs_reading(i, [&](std::uint64_t, std::uint64_t) { ++n; });
        return n;
    }
    // (output, offset) pairs that read inside the input, i.e. the sum of fan_out over all inputs.
    std::uint64_t reads() const noexcept {
        std::uint64_t n = 0;
        for (std::uint64_t o = 0, e = out(); o < e; ++o)
            for (std::uint64_t k = 0; k < kernel; ++k) n += input_at(o, k) >= 0;
        return n;
    }
};

// a * b, or UINT64_MAX if that overflows (for comparing products of file values with sizes).
std::uint64_t product(std::initializer_list<std::uint64_t> factors) noexcept;

// The geometry array of a windowed kind (conv2d, sum_pool2d): exactly names.size() values, each
// <= 2^31, and >= 1 except the paddings (names beginning "pad_"). Throws network_error naming the
// projection, the value and what was expected.
void check_geometry(const projection& p, const projection_context& c, const char* kind,
                    std::initializer_list<const char*> names);

}  // namespace lmusim::kinds_common
