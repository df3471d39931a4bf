// conv2d: a 2-D convolution over channels-first images with PyTorch's Conv2d semantics
// (cross-correlation, zero padding, stride, dilation, groups). NIR's Conv2d; a 1-D convolution
// (NIR's Conv1d) is the case in_h = 1, kh = 1 (then out_h = 1 with no vertical padding).
//
// geometry (uint64) = [in_c, in_h, in_w, out_c, kh, kw, stride_h, stride_w, pad_top, pad_bottom,
//                      pad_left, pad_right, dil_h, dil_w, groups]
// weights = [out_c, in_c/groups, kh, kw] row-major (PyTorch's Conv2d.weight). Source neuron
// (c, y, x) is c*in_h*in_w + y*in_w + x (C order), target (o, y, x) likewise with
// out = floor((in + pad_a + pad_b - dil*(k-1) - 1) / stride) + 1 per axis. The bias is the
// projection's `bias`, one value per target element.
//
// Real input: each target element's dot product is summed sequentially in float32 from 0.0f over
// (input channel of its group, ky, kx) ascending, skipping padding positions (their terms are zero),
// and then added to the target's input (in[t] += sum), so the result is bit-identical with any loop
// that sums in that order. Spikes: each spike (ascending) adds its weight to every target it
// reaches. Neither path depends on how the target range is split.
//
// Counted: sops = the (spike, target) synapses reached, (out_c/groups) x the output positions whose
// window holds the spike's position; macs and dense = the full convolution,
// out_c x out_h x out_w x (in_c/groups) x kh x kw, padding positions included (as ANN counters
// report a Conv2d); NeuroBench's effective operations count only targets reached with a nonzero
// weight (padding excluded). synapses = the (source, target) pairs connected; parameters = the
// weights.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "lmusim/core/check.hpp"
#include "lmusim/core/strings.hpp"
#include "lmusim/synapses/kind.hpp"
#include "../kinds_common.hpp"

namespace lmusim {
namespace {

using kinds_common::window_axis;

// The geometry decoded (valid only after validate()).
struct conv {
    std::uint64_t in_c, out_c, groups, icg, ocg;  // icg, ocg: input and output channels per group
    window_axis h, w;
    std::uint64_t out_h, out_w;

    explicit conv(const std::vector<std::uint64_t>& g)
        : in_c(g[0]), out_c(g[3]), groups(g[14]), icg(g[0] / g[14]), ocg(g[3] / g[14]),
          h{g[1], g[4], g[6], g[8], g[9], g[12]}, w{g[2], g[5], g[7], g[10], g[11], g[13]}, out_h(h.out()),
          out_w(w.out()) {}
    std::uint64_t plane_in() const { return h.in * w.in; }
    std::uint64_t plane_out() const { return out_h * out_w; }
    std::uint64_t kernel() const { return h.kernel * w.kernel; }
    std::uint64_t full() const { return kinds_common::product({out_c, out_h, out_w, icg, h.kernel, w.kernel}); }
};

void validate(const projection& p, const projection_context& c) {
    kinds_common::check_geometry(p, c, "conv2d",
                                 {"in_c", "in_h", "in_w", "out_c", "kh", "kw", "stride_h", "stride_w", "pad_top",
                                  "pad_bottom", "pad_left", "pad_right", "dil_h", "dil_w", "groups"});
    const auto& g = p.geometry;
    if (g[0] % g[14])
        check::fail(cat(c.label, ": conv2d geometry in_c = ", g[0], " is not a multiple of groups = ", g[14]));
    if (g[3] % g[14])
        check::fail(cat(c.label, ": conv2d geometry out_c = ", g[3], " is not a multiple of groups = ", g[14]));
    const conv v(g);
    if (v.out_h == 0)
        check::fail(cat(c.label, ": conv2d kernel height kh = ", g[4], " with dil_h = ", g[12], " spans ",
                        g[12] * (g[4] - 1) + 1, " rows, more than in_h + pad_top + pad_bottom = ", g[1] + g[8] + g[9]));
    if (v.out_w == 0)
        check::fail(cat(c.label, ": conv2d kernel width kw = ", g[5], " with dil_w = ", g[13], " spans ",
                        g[13] * (g[5] - 1) + 1, " columns, more than in_w + pad_left + pad_right = ", g[2] + g[10] + g[11]));
    const std::uint64_t ns = kinds_common::product({v.in_c, v.h.in, v.w.in});
    if (ns != c.n_source)
        check::fail(cat(c.label, ": the source has ", c.n_source, " neurons, expected in_c x in_h x in_w = ", v.in_c, " x ",
                        v.h.in, " x ", v.w.in, " = ", ns));
    const std::uint64_t nt = kinds_common::product({v.out_c, v.out_h, v.out_w});
    if (nt != c.n_target)
        check::fail(cat(c.label, ": the target port has ", c.n_target, " values, expected out_c x out_h x out_w = ", v.out_c,
                        " x ", v.out_h, " x ", v.out_w, " = ", nt));
    const std::uint64_t nw = kinds_common::product({v.out_c, v.icg, v.h.kernel, v.w.kernel});
    if (p.weights.size() != nw)
        check::fail(cat(c.label, ": ", p.weights.size(), " conv2d weights, expected out_c x in_c/groups x kh x kw = ", v.out_c,
                        " x ", v.icg, " x ", v.h.kernel, " x ", v.w.kernel, " = ", nw));
    check::finite(c.label, "weight", p.weights);
}

// The (source, target) pairs connected: every input channel feeds out_c/groups output channels
// through the (output, offset) pairs of each axis that land inside the image.
std::size_t synapses(const projection& p, std::size_t, std::size_t) {
    const conv v(p.geometry);
    return v.in_c * v.ocg * v.h.reads() * v.w.reads();
}

std::size_t stored(const projection& p, std::size_t, std::size_t) { return p.weights.size(); }

std::vector<projection_array> arrays(projection& p, std::size_t, std::size_t) {
    const auto& g = p.geometry;
    std::vector<std::size_t> shape{any_extent, any_extent, any_extent, any_extent};  // reading: validate() checks the count
    if (g.size() == 15 && g[14] != 0) shape = {g[3], g[0] / g[14], g[4], g[5]};
    return {{"geometry", &p.geometry, {15}}, {"weights", &p.weights, shape}};
}

void deliver_spikes(const projection& p, const std::vector<float>&, std::uint32_t, std::span<const index_t> spikes,
                    std::size_t, std::size_t b, std::size_t e, std::size_t, float* __restrict in) {
    const conv v(p.geometry);
    const std::uint64_t pin = v.plane_in(), pout = v.plane_out(), K = v.kernel();
    std::vector<std::uint64_t> rows, cols;  // per spike: output offset and weight offset of each axis pair
    for (index_t j : spikes) {
        const std::uint64_t ic = j / pin, y = j % pin / v.w.in, x = j % v.w.in;
        const std::uint64_t g = ic / v.icg, icl = ic % v.icg;
        rows.clear();
        cols.clear();
        v.h.outputs_reading(y, [&](std::uint64_t oy, std::uint64_t ky) {
            rows.push_back(oy * v.out_w);
            rows.push_back(ky * v.w.kernel);
        });
        v.w.outputs_reading(x, [&](std::uint64_t ox, std::uint64_t kx) {
            cols.push_back(ox);
            cols.push_back(kx);
        });
        // Output channels of the spike's group whose plane meets [b, e).
        const std::uint64_t first = std::max(g * v.ocg, b / pout), last = std::min((g + 1) * v.ocg, (e + pout - 1) / pout);
        for (std::uint64_t oc = first; oc < last; ++oc) {
            const float* wk = p.weights.data() + (oc * v.icg + icl) * K;
            const std::uint64_t base = oc * pout;
            for (std::size_t r = 0; r < rows.size(); r += 2)
                for (std::size_t q = 0; q < cols.size(); q += 2) {
                    const std::uint64_t t = base + rows[r] + cols[q];
                    if (t >= b && t < e) in[t] += wk[rows[r + 1] + cols[q + 1]];
                }
        }
    }
}

void deliver_values(const projection& p, const std::vector<float>&, std::uint32_t, const float* x, std::size_t,
                    std::size_t b, std::size_t e, std::size_t, float* in) {
    const conv v(p.geometry);
    const std::uint64_t pin = v.plane_in(), pout = v.plane_out(), kh = v.h.kernel, kw = v.w.kernel;
    for (std::size_t t = b; t < e; ++t) {
        const std::uint64_t oc = t / pout, oy = t % pout / v.out_w, ox = t % v.out_w;
        const float* wk = p.weights.data() + oc * v.icg * kh * kw;
        const float* xg = x + (oc / v.ocg) * v.icg * pin;  // the first input channel of the group
        float acc = 0.0f;
        for (std::uint64_t icl = 0; icl < v.icg; ++icl)
            for (std::uint64_t ky = 0; ky < kh; ++ky) {
                const std::int64_t iy = v.h.input_at(oy, ky);
                if (iy < 0) continue;
                const float* xrow = xg + icl * pin + static_cast<std::uint64_t>(iy) * v.w.in;
                const float* wrow = wk + (icl * kh + ky) * kw;
                for (std::uint64_t kx = 0; kx < kw; ++kx) {
                    const std::int64_t ix = v.w.input_at(ox, kx);
                    if (ix >= 0) acc += wrow[kx] * xrow[ix];
                }
            }
        in[t] += acc;
    }
}

std::uint64_t sops(const projection& p, std::span<const index_t> spikes, std::size_t, std::size_t) {
    const conv v(p.geometry);
    const std::uint64_t pin = v.plane_in();
    std::uint64_t n = 0;
    for (index_t j : spikes) n += v.h.fan_out(j % pin / v.w.in) * v.w.fan_out(j % v.w.in);
    return n * v.ocg;
}

std::uint64_t full(const projection& p, std::size_t, std::size_t) { return conv(p.geometry).full(); }

// Per source: the targets it reaches through a nonzero weight.
void nonzero_fanout(const projection& p, std::size_t ns, std::size_t, std::vector<std::uint32_t>& out) {
    const conv v(p.geometry);
    const std::uint64_t pin = v.plane_in(), K = v.kernel();
    out.assign(ns, 0);
    for (std::uint64_t j = 0; j < ns; ++j) {
        const std::uint64_t ic = j / pin, y = j % pin / v.w.in, x = j % v.w.in;
        const std::uint64_t g = ic / v.icg, icl = ic % v.icg;
        std::uint64_t n = 0;
        for (std::uint64_t oc = g * v.ocg; oc < (g + 1) * v.ocg; ++oc) {
            const float* wk = p.weights.data() + (oc * v.icg + icl) * K;
            v.h.outputs_reading(y, [&](std::uint64_t, std::uint64_t ky) {
                v.w.outputs_reading(x, [&](std::uint64_t, std::uint64_t kx) { n += wk[ky * v.w.kernel + kx] != 0.0f; });
            });
        }
        out[j] = static_cast<std::uint32_t>(std::min<std::uint64_t>(n, UINT32_MAX));
    }
}

// Compressed weights: one output channel per output feature map oc (weights [out_c, in_c/groups,
// kh, kw]): an int8 scale per filter, as per-channel quantisation of a Conv2d does.
weight_channels synaptic_weights(projection& p, std::size_t, std::size_t) {
    const conv v(p.geometry);
    return kinds_common::rows_of(p.weights, static_cast<std::size_t>(v.icg * v.h.kernel * v.w.kernel));
}

}  // namespace

extern const projection_kind conv2d_projection_kind{
    .id = connectivity::conv2d,
    .name = "conv2d",
    .validate = validate,
    .synapses = synapses,
    .parameters = stored,
    .arrays = arrays,
    .deliver_spikes = deliver_spikes,
    .deliver_values = deliver_values,
    .sops = sops,
    .macs = full,
    .dense = full,
    .nonzero_fanout = nonzero_fanout,
    .synaptic_weights = synaptic_weights,
};

}  // namespace lmusim
