// sum_pool2d: scale x the sum over each 2-D window of every channel (channels-first images, zero
// padding, stride, no dilation). NIR's SumPool2d (scale 1) and AvgPool2d (scale 1/(kh*kw), the
// padding counted in the divisor, as PyTorch's count_include_pad).
//
// geometry (uint64) = [channels, in_h, in_w, kh, kw, stride_h, stride_w, pad_top, pad_bottom,
//                      pad_left, pad_right]
// weights = [scale] (exactly one value). Source (c, y, x) is c*in_h*in_w + y*in_w + x, target
// (c, y, x) likewise with out = floor((in + pad_a + pad_b - k) / stride) + 1 per axis.
//
// Real input: each target's window is summed sequentially in float32 from 0.0f over (ky, kx)
// ascending, skipping padding, then multiplied by scale and added: in[t] += scale * sum (so an
// average is sum * float32(1/(kh*kw)), which may differ from PyTorch's sum / (kh*kw) in the last
// bit). Spikes: each spike (ascending) adds scale to every target whose window holds it.
//
// Routing: parameters = 0. synapses = the (source, target) pairs connected. Counted: sops = the
// (spike, target) pairs reached; macs and dense = channels x out_h x out_w x kh x kw (padding
// included); no effective operations (NeuroBench counts none for pooling).
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
struct pool {
    std::uint64_t channels;
    window_axis h, w;
    std::uint64_t out_h, out_w;

    explicit pool(const std::vector<std::uint64_t>& g)
        : channels(g[0]), h{g[1], g[3], g[5], g[7], g[8], 1}, w{g[2], g[4], g[6], g[9], g[10], 1}, out_h(h.out()),
          out_w(w.out()) {}
    std::uint64_t plane_in() const { return h.in * w.in; }
    std::uint64_t plane_out() const { return out_h * out_w; }
};

void validate(const projection& p, const projection_context& c) {
    kinds_common::check_geometry(p, c, "sum_pool2d",
                                 {"channels", "in_h", "in_w", "kh", "kw", "stride_h", "stride_w", "pad_top", "pad_bottom",
                                  "pad_left", "pad_right"});
    const auto& g = p.geometry;
    const pool v(g);
    if (v.out_h == 0)
        check::fail(cat(c.label, ": sum_pool2d kernel height kh = ", g[3], " exceeds in_h + pad_top + pad_bottom = ",
                        g[1] + g[7] + g[8]));
    if (v.out_w == 0)
        check::fail(cat(c.label, ": sum_pool2d kernel width kw = ", g[4], " exceeds in_w + pad_left + pad_right = ",
                        g[2] + g[9] + g[10]));
    const std::uint64_t ns = kinds_common::product({v.channels, v.h.in, v.w.in});
    if (ns != c.n_source)
        check::fail(cat(c.label, ": the source has ", c.n_source, " neurons, expected channels x in_h x in_w = ", v.channels,
                        " x ", v.h.in, " x ", v.w.in, " = ", ns));
    const std::uint64_t nt = kinds_common::product({v.channels, v.out_h, v.out_w});
    if (nt != c.n_target)
        check::fail(cat(c.label, ": the target port has ", c.n_target, " values, expected channels x out_h x out_w = ",
                        v.channels, " x ", v.out_h, " x ", v.out_w, " = ", nt));
    if (p.weights.size() != 1)
        check::fail(cat(c.label, ": ", p.weights.size(), " sum_pool2d weights, expected 1 (the scale)"));
    check::finite(c.label, "weight", p.weights);
}

std::size_t synapses(const projection& p, std::size_t, std::size_t) {
    const pool v(p.geometry);
    return v.channels * v.h.reads() * v.w.reads();
}

std::size_t no_parameters(const projection&, std::size_t, std::size_t) { return 0; }

std::vector<projection_array> arrays(projection& p, std::size_t, std::size_t) {
    return {{"geometry", &p.geometry, {11}}, {"weights", &p.weights, {1}}};
}

void deliver_spikes(const projection& p, const std::vector<float>&, std::uint32_t, std::span<const index_t> spikes,
                    std::size_t, std::size_t b, std::size_t e, std::size_t, float* __restrict in) {
    const pool v(p.geometry);
    const std::uint64_t pin = v.plane_in(), pout = v.plane_out();
    const float scale = p.weights[0];
    for (index_t j : spikes) {
        const std::uint64_t ch = j / pin, y = j % pin / v.w.in, x = j % v.w.in;
        const std::uint64_t base = ch * pout;
        if (base >= e || base + pout <= b) continue;
        v.h.outputs_reading(y, [&](std::uint64_t oy, std::uint64_t) {
            v.w.outputs_reading(x, [&](std::uint64_t ox, std::uint64_t) {
                const std::uint64_t t = base + oy * v.out_w + ox;
                if (t >= b && t < e) in[t] += scale;
            });
        });
    }
}

void deliver_values(const projection& p, const std::vector<float>&, std::uint32_t, const float* x, std::size_t,
                    std::size_t b, std::size_t e, std::size_t, float* in) {
    const pool v(p.geometry);
    const std::uint64_t pin = v.plane_in(), pout = v.plane_out();
    const float scale = p.weights[0];
    for (std::size_t t = b; t < e; ++t) {
        const std::uint64_t ch = t / pout, oy = t % pout / v.out_w, ox = t % v.out_w;
        const float* xc = x + ch * pin;
        float acc = 0.0f;
        for (std::uint64_t ky = 0; ky < v.h.kernel; ++ky) {
            const std::int64_t iy = v.h.input_at(oy, ky);
            if (iy < 0) continue;
            for (std::uint64_t kx = 0; kx < v.w.kernel; ++kx) {
                const std::int64_t ix = v.w.input_at(ox, kx);
                if (ix >= 0) acc += xc[static_cast<std::uint64_t>(iy) * v.w.in + static_cast<std::uint64_t>(ix)];
            }
        }
        in[t] += scale * acc;
    }
}

std::uint64_t sops(const projection& p, std::span<const index_t> spikes, std::size_t, std::size_t) {
    const pool v(p.geometry);
    const std::uint64_t pin = v.plane_in();
    std::uint64_t n = 0;
    for (index_t j : spikes) n += v.h.fan_out(j % pin / v.w.in) * v.w.fan_out(j % v.w.in);
    return n;
}

std::uint64_t windows(const projection& p, std::size_t, std::size_t) {
    const pool v(p.geometry);
    return kinds_common::product({v.channels, v.out_h, v.out_w, v.h.kernel, v.w.kernel});
}

// Routing is no synaptic layer: no effective operations.
void no_fanout(const projection&, std::size_t ns, std::size_t, std::vector<std::uint32_t>& out) { out.assign(ns, 0); }

}  // namespace

extern const projection_kind sum_pool2d_projection_kind{
    .id = connectivity::sum_pool2d,
    .name = "sum_pool2d",
    .validate = validate,
    .synapses = synapses,
    .parameters = no_parameters,
    .arrays = arrays,
    .deliver_spikes = deliver_spikes,
    .deliver_values = deliver_values,
    .sops = sops,
    .macs = windows,
    .dense = windows,
    .nonzero_fanout = no_fanout,
};

}  // namespace lmusim
