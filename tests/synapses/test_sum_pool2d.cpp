// sum_pool2d against a naive pooling loop written here, for real values (bit-identical: the kind
// documents its summation order) and spikes, over several geometries; counts and validation.
#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <vector>

#include "lmusim/core/error.hpp"
#include "lmusim/synapses/kind.hpp"

using namespace lmusim;
using Catch::Matchers::Contains;

namespace {

struct geo {
    std::int64_t c, in_h, in_w, kh, kw, sh, sw, pt, pb, pl, pr;
    std::int64_t out_h() const { return (in_h + pt + pb - kh) / sh + 1; }
    std::int64_t out_w() const { return (in_w + pl + pr - kw) / sw + 1; }
    std::size_t ns() const { return std::size_t(c * in_h * in_w); }
    std::size_t nt() const { return std::size_t(c * out_h() * out_w()); }
    std::vector<std::uint64_t> array() const {
        std::vector<std::uint64_t> out;
        for (std::int64_t v : {c, in_h, in_w, kh, kw, sh, sw, pt, pb, pl, pr}) out.push_back(std::uint64_t(v));
        return out;
    }
};

// f(t, j) for every target t and every source j in its window (not padding), (ky, kx) ascending.
template <class F> void each_connection(const geo& g, F&& f) {
    const std::int64_t oh = g.out_h(), ow = g.out_w();
    for (std::int64_t ch = 0; ch < g.c; ++ch)
        for (std::int64_t oy = 0; oy < oh; ++oy)
            for (std::int64_t ox = 0; ox < ow; ++ox)
                for (std::int64_t ky = 0; ky < g.kh; ++ky)
                    for (std::int64_t kx = 0; kx < g.kw; ++kx) {
                        const std::int64_t iy = oy * g.sh - g.pt + ky, ix = ox * g.sw - g.pl + kx;
                        if (iy < 0 || iy >= g.in_h || ix < 0 || ix >= g.in_w) continue;
                        f(std::size_t((ch * oh + oy) * ow + ox), std::size_t((ch * g.in_h + iy) * g.in_w + ix));
                    }
}

projection make(const geo& g, float scale, std::string name = "p") {
    projection p;
    p.name = std::move(name);
    p.kind = connectivity::sum_pool2d;
    p.weights = {scale};
    p.geometry = g.array();
    return p;
}

std::vector<float> random_vec(std::size_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    std::vector<float> v(n);
    for (float& x : v) x = u(rng);
    return v;
}

const std::vector<std::pair<geo, float>> geometries{
    // c in_h in_w kh kw sh sw pt pb pl pr; scale
    {{2, 6, 6, 2, 2, 2, 2, 0, 0, 0, 0}, 1.0f},         // SumPool2d 2x2 / 2
    {{3, 7, 7, 3, 3, 2, 2, 1, 1, 1, 1}, 1.0f / 9.0f},  // AvgPool2d 3x3 / 2, padding 1
    {{1, 5, 8, 3, 2, 1, 3, 0, 2, 1, 0}, 0.5f},         // asymmetric padding, stride (1, 3)
    {{2, 6, 5, 2, 4, 1, 1, 1, 0, 2, 1}, 1.0f},         // even kernel, stride 1
    {{4, 1, 16, 1, 3, 1, 2, 0, 0, 1, 1}, 1.0f / 3.0f}, // 1-D
};

}  // namespace

TEST_CASE("sum_pool2d: real values and spikes equal the naive loops bit for bit", "[synapses][pool]") {
    const projection_kind& k = kind_of(connectivity::sum_pool2d);
    unsigned seed = 1;
    for (const auto& [g, scale] : geometries) {
        INFO("geometry " << seed);
        const projection p = make(g, scale);
        const projection_context c{"projection 'p'", g.ns(), g.nt(), false};
        REQUIRE_NOTHROW(k.validate(p, c));
        const std::vector<float> x = random_vec(g.ns(), seed), base = random_vec(g.nt(), seed + 10), none;
        std::vector<float> sum(g.nt(), 0.0f);
        std::size_t pairs = 0;
        each_connection(g, [&](std::size_t t, std::size_t j) {
            sum[t] += x[j];
            ++pairs;
        });
        std::vector<float> want = base;
        for (std::size_t t = 0; t < g.nt(); ++t) want[t] += scale * sum[t];
        std::vector<float> whole = base, parts = base;
        k.deliver_values(p, none, 0, x.data(), g.ns(), 0, g.nt(), g.nt(), whole.data());
        const std::size_t a = g.nt() / 3, b = g.nt() - 2;
        for (auto [lo, hi] : {std::pair{b, g.nt()}, std::pair{std::size_t{0}, a}, std::pair{a, b}})
            k.deliver_values(p, none, 0, x.data(), g.ns(), lo, hi, g.nt(), parts.data());
        REQUIRE(whole == want);
        REQUIRE(parts == want);

        REQUIRE(k.synapses(p, g.ns(), g.nt()) == pairs);
        REQUIRE(k.parameters(p, g.ns(), g.nt()) == 0);
        REQUIRE(k.macs(p, g.ns(), g.nt()) == g.nt() * std::size_t(g.kh * g.kw));
        REQUIRE(k.dense(p, g.ns(), g.nt()) == g.nt() * std::size_t(g.kh * g.kw));
        std::vector<std::uint32_t> nz;
        k.nonzero_fanout(p, g.ns(), g.nt(), nz);
        REQUIRE(nz == std::vector<std::uint32_t>(g.ns(), 0));

        // Spikes: each adds scale to every target whose window holds it, spikes ascending.
        std::vector<index_t> spikes;
        std::mt19937 rng(seed);
        for (std::size_t j = 0; j < g.ns(); ++j)
            if (rng() % 2) spikes.push_back(index_t(j));
        std::vector<std::uint8_t> spiking(g.ns(), 0);
        for (index_t j : spikes) spiking[j] = 1;
        std::vector<std::vector<std::size_t>> sources(g.nt());
        each_connection(g, [&](std::size_t t, std::size_t j) { sources[t].push_back(j); });
        want = base;
        std::uint64_t sops = 0;
        for (std::size_t t = 0; t < g.nt(); ++t) {
            std::sort(sources[t].begin(), sources[t].end());
            for (std::size_t j : sources[t])
                if (spiking[j]) {
                    want[t] += scale;
                    ++sops;
                }
        }
        REQUIRE(k.sops(p, spikes, g.ns(), g.nt()) == sops);
        whole = base;
        parts = base;
        k.deliver_spikes(p, none, 0, spikes, g.ns(), 0, g.nt(), g.nt(), whole.data());
        for (auto [lo, hi] : {std::pair{b, g.nt()}, std::pair{std::size_t{0}, a}, std::pair{a, b}})
            k.deliver_spikes(p, none, 0, spikes, g.ns(), lo, hi, g.nt(), parts.data());
        REQUIRE(whole == want);
        REQUIRE(parts == want);
        ++seed;
    }
}

TEST_CASE("sum_pool2d: hand-computed average pool and counts", "[synapses][pool]") {
    // [1, 4, 4] = 0..15, 2x2 stride 2, scale 0.25: (0+1+4+5)/4 = 2.5, (2+3+6+7)/4 = 4.5, 10.5, 12.5
    const projection_kind& k = kind_of(connectivity::sum_pool2d);
    const geo g{1, 4, 4, 2, 2, 2, 2, 0, 0, 0, 0};
    const projection p = make(g, 0.25f);
    std::vector<float> x(16), out(4, 0.0f), none;
    for (std::size_t i = 0; i < 16; ++i) x[i] = float(i);
    k.deliver_values(p, none, 0, x.data(), 16, 0, 4, 4, out.data());
    REQUIRE(out == std::vector<float>{2.5f, 4.5f, 10.5f, 12.5f});
    REQUIRE(k.sops(p, std::vector<index_t>{5, 6}, 16, 4) == 2);  // non-overlapping windows: one target each
    REQUIRE(k.macs(p, 16, 4) == 16);
    // 3x3 stride 1 padding 1 on [1, 3, 3]: the centre is in all 9 windows, a corner in 4.
    const geo q{1, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1};
    const projection pq = make(q, 1.0f);
    REQUIRE(k.sops(pq, std::vector<index_t>{0}, 9, 9) == 4);
    REQUIRE(k.sops(pq, std::vector<index_t>{4}, 9, 9) == 9);
    REQUIRE(k.synapses(pq, 9, 9) == 49);  // per axis 3 outputs x 3 offsets, 7 inside: 7 x 7
    REQUIRE(k.macs(pq, 9, 9) == 81);
}

TEST_CASE("sum_pool2d: validation", "[synapses][pool]") {
    const projection_kind& k = kind_of(connectivity::sum_pool2d);
    const geo g{2, 6, 6, 2, 2, 2, 2, 0, 0, 0, 0};
    const projection_context c{"projection 'p'", g.ns(), g.nt(), true};
    projection p = make(g, 1.0f);
    REQUIRE_NOTHROW(k.validate(p, c));
    p.weights = {1.0f, 1.0f};
    REQUIRE_THROWS_WITH(k.validate(p, c), Contains("projection 'p': 2 sum_pool2d weights, expected 1 (the scale)"));
    p = make(g, 1.0f);
    p.geometry[3] = 7;
    REQUIRE_THROWS_WITH(k.validate(p, c), Contains("sum_pool2d kernel height kh = 7 exceeds in_h + pad_top + pad_bottom = 6"));
    p = make(g, 1.0f);
    p.geometry[0] = 3;
    REQUIRE_THROWS_WITH(k.validate(p, c), Contains("the source has 72 neurons, expected channels x in_h x in_w = 3 x 6 x 6 = 108"));
    p = make(g, 1.0f);
    p.geometry[5] = 1;
    REQUIRE_THROWS_WITH(k.validate(p, c),
                        Contains("the target port has 18 values, expected channels x out_h x out_w = 2 x 5 x 3 = 30"));
    p.geometry = {2, 6, 6};
    REQUIRE_THROWS_WITH(k.validate(p, c), Contains("sum_pool2d geometry has 3 values, expected 11 [channels, in_h, in_w, kh, kw"));
}
