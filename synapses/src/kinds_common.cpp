#include "kinds_common.hpp"

#include <string>
#include <string_view>

#include <Eigen/Core>

#include "lmusim/core/check.hpp"
#include "lmusim/core/strings.hpp"
#include "lmusim/core/types.hpp"

namespace lmusim::kinds_common {

namespace {
// Vectors of kLanes floats (one AVX-512 register, two AVX ones, four SSE ones: GCC's and Clang's
// generic vectors lower to whatever the target has), unaligned and allowed to alias float.
constexpr std::size_t kLanes = 16;
typedef float lanes __attribute__((vector_size(kLanes * sizeof(float)), aligned(alignof(float)), may_alias));

// R vectors of targets from in + t; spike j's slice starts at w + j * stride.
template <std::size_t R>
inline void add_lanes(float* __restrict in, const float* __restrict w, std::size_t stride, std::span<const index_t> spikes) noexcept {
    lanes acc[R];
#pragma GCC unroll 16
    for (std::size_t r = 0; r < R; ++r) acc[r] = *reinterpret_cast<const lanes*>(in + r * kLanes);
    for (index_t j : spikes) {
        const float* col = w + std::size_t{j} * stride;
#pragma GCC unroll 16
        for (std::size_t r = 0; r < R; ++r) acc[r] += *reinterpret_cast<const lanes*>(col + r * kLanes);
    }
#pragma GCC unroll 16
    for (std::size_t r = 0; r < R; ++r) *reinterpret_cast<lanes*>(in + r * kLanes) = acc[r];
}
}  // namespace

void add_spike_columns(float* __restrict in, const float* __restrict wt, std::size_t ns, std::size_t nt,
                       std::span<const index_t> spikes, std::size_t b, std::size_t e) noexcept {
    if (spikes.empty() || b >= e) return;
    static_assert(kColumnBlock % kLanes == 0);
    for (std::size_t first = b / kColumnBlock * kColumnBlock; first < e; first += kColumnBlock) {
        const std::size_t width = std::min(kColumnBlock, nt - first);
        const float* block = wt + first * ns;  // [ns][width]
        std::size_t t = std::max(b, first);
        const std::size_t end = std::min(e, first + width);
        if (t == first && end == first + kColumnBlock) {
            add_lanes<kColumnBlock / kLanes>(in + t, block, width, spikes);
            continue;
        }
        for (; t + kLanes <= end; t += kLanes) add_lanes<1>(in + t, block + (t - first), width, spikes);
        for (; t < end; ++t) {
            float acc = in[t];
            for (index_t j : spikes) acc += block[std::size_t{j} * width + (t - first)];
            in[t] = acc;
        }
    }
}

void add_rows_times(const float* w, const float* x, std::size_t ns, std::size_t b, std::size_t e, float* in) {
    using row_major = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    const auto rows = static_cast<Eigen::Index>(e - b), cols = static_cast<Eigen::Index>(ns);
    Eigen::Map<const row_major> wm(w + b * ns, rows, cols);
    Eigen::Map<const Eigen::VectorXf> xv(x, cols);
    Eigen::Map<Eigen::VectorXf> out(in + b, rows);
    out.noalias() += wm * xv;
}

weight_channels rows_of(std::vector<float>& w, std::size_t per_row) {
    weight_channels out;
    if (per_row == 0 || w.empty()) return out;
    out.weights = w;
    out.channels = w.size() / per_row;
    out.channel.resize(w.size());
    for (std::size_t i = 0; i < w.size(); ++i) out.channel[i] = static_cast<std::uint32_t>(i / per_row);
    return out;
}

std::uint64_t product(std::initializer_list<std::uint64_t> factors) noexcept {
    std::uint64_t p = 1;
    for (std::uint64_t f : factors)
        if (__builtin_mul_overflow(p, f, &p)) return UINT64_MAX;
    return p;
}

void check_geometry(const projection& p, const projection_context& c, const char* kind,
                    std::initializer_list<const char*> names) {
    if (p.geometry.size() != names.size()) {
        std::string list;
        for (const char* n : names) list += cat(list.empty() ? "" : ", ", n);
        check::fail(cat(c.label, ": ", kind, " geometry has ", p.geometry.size(), " values, expected ", names.size(), " [",
                        list, "]"));
    }
    std::size_t i = 0;
    for (const char* n : names) {
        const std::uint64_t v = p.geometry[i++];
        if (v > max_population_size)
            check::fail(cat(c.label, ": ", kind, " geometry ", n, " = ", v, ", expected <= ", max_population_size));
        if (v == 0 && std::string_view(n).substr(0, 4) != "pad_")
            check::fail(cat(c.label, ": ", kind, " geometry ", n, " = 0, expected >= 1"));
    }
}

}  // namespace lmusim::kinds_common
