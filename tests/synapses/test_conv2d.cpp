// conv2d against a naive convolution written here (PyTorch Conv2d semantics), for real values
// (bit-identical: the kind documents its summation order) and spikes, over many geometries;
// sizes, validation and op counts by hand.
#include <catch2/catch.hpp>

#include <random>
#include <vector>

#include "lmusim/core/error.hpp"
#include "lmusim/synapses/kind.hpp"

using namespace lmusim;
using Catch::Matchers::Contains;

namespace {

struct geo {
    std::int64_t in_c, in_h, in_w, out_c, kh, kw, sh, sw, pt, pb, pl, pr, dh, dw, groups;
    std::int64_t out_h() const { return (in_h + pt + pb - dh * (kh - 1) - 1) / sh + 1; }
    std::int64_t out_w() const { return (in_w + pl + pr - dw * (kw - 1) - 1) / sw + 1; }
    std::size_t ns() const { return std::size_t(in_c * in_h * in_w); }
    std::size_t nt() const { return std::size_t(out_c * out_h() * out_w()); }
    std::size_t nw() const { return std::size_t(out_c * (in_c / groups) * kh * kw); }
    std::vector<std::uint64_t> array() const {
        std::vector<std::uint64_t> out;
        for (std::int64_t v : {in_c, in_h, in_w, out_c, kh, kw, sh, sw, pt, pb, pl, pr, dh, dw, groups}) out.push_back(std::uint64_t(v));
        return out;
    }
};

std::vector<float> random_vec(std::size_t n, unsigned seed, float lo = -1.0f, float hi = 1.0f) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> u(lo, hi);
    std::vector<float> v(n);
    for (float& x : v) x = u(rng);
    return v;
}

// The convolution as PyTorch defines it, one (target, source) connection at a time: calls
// f(t, j, w) for every target t, source j within the image (not padding), and its weight w, with
// the input channel, ky and kx ascending for each target.
template <class F> void each_connection(const geo& g, const std::vector<float>& w, F&& f) {
    const std::int64_t icg = g.in_c / g.groups, ocg = g.out_c / g.groups, oh = g.out_h(), ow = g.out_w();
    for (std::int64_t oc = 0; oc < g.out_c; ++oc)
        for (std::int64_t oy = 0; oy < oh; ++oy)
            for (std::int64_t ox = 0; ox < ow; ++ox) {
                const std::size_t t = std::size_t((oc * oh + oy) * ow + ox);
                for (std::int64_t icl = 0; icl < icg; ++icl) {
                    const std::int64_t ic = (oc / ocg) * icg + icl;
                    for (std::int64_t ky = 0; ky < g.kh; ++ky)
                        for (std::int64_t kx = 0; kx < g.kw; ++kx) {
                            const std::int64_t iy = oy * g.sh - g.pt + ky * g.dh, ix = ox * g.sw - g.pl + kx * g.dw;
                            if (iy < 0 || iy >= g.in_h || ix < 0 || ix >= g.in_w) continue;
                            f(t, std::size_t((ic * g.in_h + iy) * g.in_w + ix), w[std::size_t(((oc * icg + icl) * g.kh + ky) * g.kw + kx)]);
                        }
                }
            }
}

projection make(const geo& g, std::vector<float> w, std::string name = "c") {
    projection p;
    p.name = std::move(name);
    p.kind = connectivity::conv2d;
    p.weights = std::move(w);
    p.geometry = g.array();
    return p;
}

const std::vector<geo> geometries{
    // in_c in_h in_w out_c kh kw sh sw pt pb pl pr dh dw groups
    {2, 5, 6, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},  // 3x3, "same" padding
    {2, 7, 8, 3, 3, 2, 2, 2, 0, 2, 1, 0, 1, 1, 1},  // stride 2, asymmetric padding
    {1, 9, 9, 2, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 1},  // dilation 2
    {4, 5, 5, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2},  // 2 groups
    {3, 6, 7, 2, 2, 4, 1, 3, 1, 0, 2, 1, 1, 1, 1},  // even kernels, stride (1, 3), asymmetric padding
    {3, 1, 20, 4, 1, 5, 1, 2, 0, 0, 2, 2, 1, 1, 1}, // 1-D: in_h = out_h = 1, kh = 1
    {3, 6, 6, 3, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 3},  // depthwise
    {4, 8, 7, 4, 3, 2, 2, 1, 0, 3, 2, 1, 2, 3, 2},  // stride, dilation, groups, asymmetric padding
    {2, 4, 4, 2, 4, 4, 1, 1, 0, 0, 0, 0, 1, 1, 1},  // kernel = image: one output position
};

}  // namespace

TEST_CASE("conv2d: real values equal the naive convolution bit for bit, on any target range", "[synapses][conv2d]") {
    const projection_kind& k = kind_of(connectivity::conv2d);
    unsigned seed = 1;
    for (const geo& g : geometries) {
        INFO("geometry " << seed);
        const projection p = make(g, random_vec(g.nw(), seed));
        const projection_context c{"projection 'c'", g.ns(), g.nt(), false};
        REQUIRE_NOTHROW(k.validate(p, c));
        std::vector<float> lowered;
        k.prepare(p, c, lowered);
        const std::vector<float> x = random_vec(g.ns(), seed + 100, -2.0f, 2.0f);
        const std::vector<float> base = random_vec(g.nt(), seed + 200);  // what other projections added
        // Naive: each target's dot product from 0 in (channel, ky, kx) order, then added.
        std::vector<float> dot(g.nt(), 0.0f);
        each_connection(g, p.weights, [&](std::size_t t, std::size_t j, float w) { dot[t] += w * x[j]; });
        std::vector<float> want = base;
        for (std::size_t t = 0; t < g.nt(); ++t) want[t] += dot[t];

        std::vector<float> whole = base, parts = base;
        k.deliver_values(p, lowered, 0, x.data(), g.ns(), 0, g.nt(), g.nt(), whole.data());
        const std::size_t a = g.nt() / 3, b = g.nt() / 3 * 2 + 1;
        for (auto [lo, hi] : {std::pair{b, g.nt()}, std::pair{std::size_t{0}, a}, std::pair{a, b}})
            k.deliver_values(p, lowered, 0, x.data(), g.ns(), lo, hi, g.nt(), parts.data());
        REQUIRE(whole == want);
        REQUIRE(parts == want);
        ++seed;
    }
}

TEST_CASE("conv2d: spikes add their weights to every target reached, counts of the naive connections",
          "[synapses][conv2d]") {
    const projection_kind& k = kind_of(connectivity::conv2d);
    unsigned seed = 50;
    for (const geo& g : geometries) {
        INFO("geometry " << seed);
        std::vector<float> w = random_vec(g.nw(), seed);
        for (std::size_t i = 0; i < w.size(); i += 5) w[i] = 0.0f;  // zeros: effective counts skip them
        const projection p = make(g, w);
        const projection_context c{"projection 'c'", g.ns(), g.nt(), true};
        REQUIRE_NOTHROW(k.validate(p, c));
        std::vector<float> lowered;
        k.prepare(p, c, lowered);
        // Dense connection matrix from the naive definition.
        std::vector<float> m(g.nt() * g.ns(), 0.0f);
        std::vector<std::uint8_t> reach(g.nt() * g.ns(), 0);
        std::size_t pairs = 0;
        each_connection(g, p.weights, [&](std::size_t t, std::size_t j, float wt) {
            REQUIRE(reach[t * g.ns() + j] == 0);  // one synapse per pair
            reach[t * g.ns() + j] = 1;
            m[t * g.ns() + j] = wt;
            ++pairs;
        });
        REQUIRE(k.synapses(p, g.ns(), g.nt()) == pairs);
        REQUIRE(k.parameters(p, g.ns(), g.nt()) == g.nw());
        const std::uint64_t full = std::uint64_t(g.out_c * g.out_h() * g.out_w() * (g.in_c / g.groups) * g.kh * g.kw);
        REQUIRE(k.macs(p, g.ns(), g.nt()) == full);
        REQUIRE(k.dense(p, g.ns(), g.nt()) == full);
        std::vector<std::uint32_t> nz;
        k.nonzero_fanout(p, g.ns(), g.nt(), nz);
        REQUIRE(nz.size() == g.ns());
        for (std::size_t j = 0; j < g.ns(); ++j) {
            std::uint32_t want = 0;
            for (std::size_t t = 0; t < g.nt(); ++t) want += reach[t * g.ns() + j] && m[t * g.ns() + j] != 0.0f;
            REQUIRE(nz[j] == want);
        }
        // Random spikes (ascending), about a third of the sources.
        std::mt19937 rng(seed);
        std::vector<index_t> spikes;
        for (std::size_t j = 0; j < g.ns(); ++j)
            if (rng() % 3 == 0) spikes.push_back(index_t(j));
        std::uint64_t sops = 0;
        const std::vector<float> base = random_vec(g.nt(), seed + 7);
        std::vector<float> want = base;
        for (index_t j : spikes)
            for (std::size_t t = 0; t < g.nt(); ++t)
                if (reach[t * g.ns() + j]) {
                    want[t] += m[t * g.ns() + j];
                    ++sops;
                }
        REQUIRE(k.sops(p, spikes, g.ns(), g.nt()) == sops);
        std::vector<float> whole = base, parts = base;
        k.deliver_spikes(p, lowered, 0, spikes, g.ns(), 0, g.nt(), g.nt(), whole.data());
        const std::size_t a = g.nt() / 4, b = g.nt() / 2 + 3 < g.nt() ? g.nt() / 2 + 3 : g.nt();
        for (auto [lo, hi] : {std::pair{std::size_t{0}, a}, std::pair{b, g.nt()}, std::pair{a, b}})
            k.deliver_spikes(p, lowered, 0, spikes, g.ns(), lo, hi, g.nt(), parts.data());
        REQUIRE(whole == want);
        REQUIRE(parts == want);
        ++seed;
    }
}

TEST_CASE("conv2d: hand-computed values and counts of a tiny case", "[synapses][conv2d]") {
    // in [1, 3, 3] = 1..9, W [1, 1, 2, 2] = [[1, 2], [3, 0]], stride 1, no padding: out [1, 2, 2].
    // out(0,0) = 1*1 + 2*2 + 3*4 + 0*5 = 17; (0,1) = 2 + 6 + 15 = 23; (1,0) = 4 + 10 + 21 = 35; (1,1) = 5 + 12 + 24 = 41
    const projection_kind& k = kind_of(connectivity::conv2d);
    const geo g{1, 3, 3, 1, 2, 2, 1, 1, 0, 0, 0, 0, 1, 1, 1};
    const projection p = make(g, {1, 2, 3, 0});
    const std::vector<float> x{1, 2, 3, 4, 5, 6, 7, 8, 9};
    std::vector<float> out(4, 0.0f), none;
    k.deliver_values(p, none, 0, x.data(), 9, 0, 4, 4, out.data());
    REQUIRE(out == std::vector<float>{17, 23, 35, 41});
    // Spikes of pixels 0 (corner: 1 target), 1 (edge: 2) and 4 (centre: 4): 7 SOPs.
    const std::vector<index_t> spikes{0, 1, 4};
    REQUIRE(k.sops(p, spikes, 9, 4) == 7);
    std::fill(out.begin(), out.end(), 0.0f);
    k.deliver_spikes(p, none, 0, spikes, 9, 0, 4, 4, out.data());
    // (0,0): W00 + W01 + W11 = 1 + 2 + 0; (0,1): W00 + W10 = 1 + 3; (1,0): W01 = 2; (1,1): W00 = 1
    REQUIRE(out == std::vector<float>{3, 4, 2, 1});
    REQUIRE(k.macs(p, 9, 4) == 16);  // 4 outputs x 4 weights
    REQUIRE(k.synapses(p, 9, 4) == 16);
    std::vector<std::uint32_t> nz;
    k.nonzero_fanout(p, 9, 4, nz);
    REQUIRE(nz == std::vector<std::uint32_t>{1, 2, 1, 2, 3, 1, 1, 1, 0});
    // With padding 1 and a 3x3 kernel on a 2x2 image every input reaches every output: 16 pairs,
    // but the full convolution counts 4 outputs x 9 weights = 36 MACs.
    const geo pg{1, 2, 2, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    const projection pp = make(pg, std::vector<float>(9, 1.0f));
    REQUIRE(k.synapses(pp, 4, 4) == 16);
    REQUIRE(k.macs(pp, 4, 4) == 36);
    REQUIRE(k.sops(pp, std::vector<index_t>{3}, 4, 4) == 4);
}

TEST_CASE("conv2d: validation names the projection, the value and what was expected", "[synapses][conv2d]") {
    const projection_kind& k = kind_of(connectivity::conv2d);
    const geo g{4, 5, 5, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2};
    const projection_context c{"projection 'c'", g.ns(), g.nt(), false};
    projection p = make(g, std::vector<float>(g.nw(), 0.5f));
    REQUIRE_NOTHROW(k.validate(p, c));
    auto with = [&](std::size_t i, std::uint64_t v) {
        projection q = p;
        q.geometry[i] = v;
        return q;
    };
    REQUIRE_THROWS_AS(k.validate(with(6, 0), c), network_error);
    REQUIRE_THROWS_WITH(k.validate(with(6, 0), c), Contains("projection 'c': conv2d geometry stride_h = 0, expected >= 1"));
    REQUIRE_THROWS_WITH(k.validate(with(14, 3), c), Contains("in_c = 4 is not a multiple of groups = 3"));
    REQUIRE_THROWS_WITH(k.validate(with(3, 5), c), Contains("out_c = 5 is not a multiple of groups = 2"));
    REQUIRE_THROWS_WITH(k.validate(with(1, 4), c),
                        Contains("the source has 100 neurons, expected in_c x in_h x in_w = 4 x 4 x 5 = 80"));
    REQUIRE_THROWS_WITH(k.validate(with(8, 0), c),
                        Contains("the target port has 150 values, expected out_c x out_h x out_w = 6 x 4 x 5 = 120"));
    REQUIRE_THROWS_WITH(k.validate(with(4, 9), c), Contains("kernel height kh = 9 with dil_h = 1 spans 9 rows, more than "
                                                            "in_h + pad_top + pad_bottom = 7"));
    REQUIRE_THROWS_WITH(k.validate(with(10, std::uint64_t{1} << 40), c), Contains("pad_left = 1099511627776, expected <="));
    projection short_geo = p;
    short_geo.geometry.pop_back();
    REQUIRE_THROWS_WITH(k.validate(short_geo, c), Contains("conv2d geometry has 14 values, expected 15 [in_c, in_h"));
    projection w = p;
    w.weights.pop_back();
    REQUIRE_THROWS_WITH(k.validate(w, c), Contains("107 conv2d weights, expected out_c x in_c/groups x kh x kw = 6 x 2 x 3 x 3 = 108"));
    w = p;
    w.weights[3] = NAN;
    REQUIRE_THROWS_WITH(k.validate(w, c), Contains("weight[3] = nan is not finite"));
}
