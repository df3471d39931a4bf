// Compressed weights (docs/weights.md): every synaptic weight rounded to what bf16 or int8 holds,
// counts unchanged, fp32 bit-identical.
#include <catch2/catch.hpp>

#include <bit>
#include <map>
#include <cmath>
#include <random>

#include "lmusim/core/error.hpp"
#include "lmusim/graph/weights.hpp"
#include "lmusim/neurons/node_kinds.hpp"
#include "lmusim/sim/clip_runner.hpp"
#include "lmusim/sim/simulation.hpp"
#include "checkpoint_networks.hpp"
#include "networks.hpp"

using namespace lmusim;
using namespace lmusim::testing;

namespace {

std::vector<float> random_weights(std::size_t n, unsigned seed) {
    std::mt19937 g(seed);
    std::normal_distribution<float> d(0.0f, 0.7f);
    std::vector<float> w(n);
    for (float& x : w) x = d(g);
    return w;
}

// A spike source of 12 neurons firing at random into one target per weighted projection kind.
network every_kind() {
    std::mt19937 g(5);
    std::vector<std::uint64_t> steps;
    std::vector<index_t> neurons;
    for (std::uint64_t s = 0; s < 40; ++s)
        for (index_t j = 0; j < 12; ++j)
            if (g() % 4 == 0) {
                steps.push_back(s);
                neurons.push_back(j);
            }
    network net;
    net.add(source("in", 12, steps, neurons));
    net.add(dlif("dense_t", 7, 2.0f));
    net.add(dlif("sparse_t", 9, 2.0f));
    net.add(dlif("one_t", 12, 2.0f));
    net.add(dlif("block_t", 15, 2.0f));  // 3 blocks of [5 x 4]
    net.add(node{"conv_t", 2 * 2 * 2, nir_integrator_params{}});  // conv2d [3, 2, 2] -> [2, 2, 2]
    net.connect(proj("dense", "in", "dense_t", connectivity::dense, random_weights(7 * 12, 1)));
    projection sp = proj("sparse", "in", "sparse_t", connectivity::sparse, {});
    for (index_t j = 0; j < 12; ++j) {
        sp.sparse.indptr.push_back(sp.sparse.indices.size());
        for (index_t t = 0; t < 9; ++t)
            if ((j * 7 + t * 3) % 4 != 0) sp.sparse.indices.push_back(t);
    }
    sp.sparse.indptr.push_back(sp.sparse.indices.size());
    sp.sparse.weights = random_weights(sp.sparse.indices.size(), 2);
    net.connect(sp);
    net.connect(proj("one", "in", "one_t", connectivity::one_to_one, random_weights(12, 3)));
    net.connect(proj("block", "in", "block_t", connectivity::block_diagonal, random_weights(5 * 4, 4)));
    projection c = proj("conv", "in", "conv_t", connectivity::conv2d, random_weights(2 * 3 * 2 * 2, 5));
    c.geometry = {3, 2, 2, 2, 2, 2, 1, 1, 1, 0, 1, 0, 1, 1, 1};
    net.connect(c);
    return net;
}

// Weight i of each projection of every_kind() and its output channel, worked out here from the
// layouts (not from the kinds' own tables).
std::vector<std::pair<float, std::uint32_t>> weights_and_channels(const projection& p) {
    std::vector<std::pair<float, std::uint32_t>> out;
    if (p.name == "sparse") {
        for (std::size_t i = 0; i < p.sparse.weights.size(); ++i) out.emplace_back(p.sparse.weights[i], p.sparse.indices[i]);
        return out;
    }
    const std::size_t per_row = p.name == "dense" ? 12 : p.name == "one" ? 1 : p.name == "block" ? 4 : 3 * 2 * 2;
    for (std::size_t i = 0; i < p.weights.size(); ++i) out.emplace_back(p.weights[i], static_cast<std::uint32_t>(i / per_row));
    return out;
}

std::vector<op_counts> run_counts(const network& net, std::vector<float>* values = nullptr) {
    simulation sim(net);
    sim.run(40);
    std::vector<op_counts> out;
    for (std::size_t p = 0; p < net.projections.size(); ++p) out.push_back(sim.ops(p));
    if (values)
        for (std::size_t i = 0; i < net.nodes.size(); ++i)
            if (!net.nodes[i].spiking())
                for (float v : sim.values(i)) values->push_back(v);
    return out;
}

}  // namespace

TEST_CASE("int8 weights: every weight is q x s with |q| <= 127, s = max|w| / 127 of its output channel", "[sim][weights]") {
    const network before = every_kind();
    network after = before;
    compress_weights(after, weight_format::int8);
    REQUIRE(after.weights == weight_format::int8);
    std::size_t checked = 0, changed = 0, at_127 = 0;
    for (std::size_t k = 0; k < before.projections.size(); ++k) {
        const auto w0 = weights_and_channels(before.projections[k]);
        const auto w1 = weights_and_channels(after.projections[k]);
        REQUIRE(w0.size() == w1.size());
        std::map<std::uint32_t, float> max_abs;
        for (const auto& [w, c] : w0) max_abs[c] = std::max(max_abs[c], std::fabs(w));
        for (std::size_t i = 0; i < w0.size(); ++i) {
            const float s = max_abs[w0[i].second] / 127.0f;
            const float q = std::nearbyint(w0[i].first / s);
            INFO(before.projections[k].name << " weight " << i);
            REQUIRE(std::fabs(q) <= 127.0f);
            REQUIRE(w1[i].first == q * s);
            REQUIRE(std::fabs(w1[i].first - w0[i].first) <= s * (0.5f + 1e-4f));  // float rounding at ties
            ++checked;
            changed += w1[i].first != w0[i].first;
            at_127 += std::fabs(q) == 127.0f;
        }
    }
    REQUIRE(checked == 7 * 12 + before.projections[1].sparse.nnz() + 12 + 20 + 24);
    REQUIRE(changed > checked / 2);  // the rounding did happen
    REQUIRE(at_127 >= 7 + 9 + 12 + 5 + 2);  // each channel's largest weight maps to +-127
    // Asking again changes nothing; another format of a compressed network is refused.
    network again = after;
    compress_weights(again, weight_format::int8);
    REQUIRE(again.projections[0].weights == after.projections[0].weights);
    REQUIRE_THROWS_AS(compress_weights(again, weight_format::bf16), error);
}

TEST_CASE("bf16 weights: round to nearest even of the upper 16 bits", "[sim][weights]") {
    REQUIRE(round_to_bf16(1.0f) == 1.0f);
    // 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: ties to even (1); 1 + 3 x 2^-8 rounds up to 1 + 2^-6.
    REQUIRE(round_to_bf16(1.0f + std::ldexp(1.0f, -8)) == 1.0f);
    REQUIRE(round_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)) == 1.0f + std::ldexp(1.0f, -6));
    REQUIRE(round_to_bf16(-1.0f - std::ldexp(1.0f, -8) - std::ldexp(1.0f, -20)) == -1.0f - std::ldexp(1.0f, -7));
    const network before = every_kind();
    network after = before;
    compress_weights(after, weight_format::bf16);
    for (std::size_t k = 0; k < before.projections.size(); ++k) {
        const auto w0 = weights_and_channels(before.projections[k]);
        const auto w1 = weights_and_channels(after.projections[k]);
        for (std::size_t i = 0; i < w0.size(); ++i) {
            const std::uint32_t b = std::bit_cast<std::uint32_t>(w1[i].first);
            REQUIRE((b & 0xFFFFu) == 0);
            // within half a bf16 unit in the last place of the original
            const float ulp = std::ldexp(1.0f, std::ilogb(w0[i].first) - 7);
            REQUIRE(std::fabs(w1[i].first - w0[i].first) <= 0.5f * ulp);
        }
    }
}

TEST_CASE("compressed weights change no count, and fp32 changes nothing at all", "[sim][weights]") {
    const network net = every_kind();
    std::vector<float> v32;
    const auto c32 = run_counts(net, &v32);
    network fp32 = net;
    compress_weights(fp32, weight_format::fp32);
    std::vector<float> v32b;
    REQUIRE(run_counts(fp32, &v32b) == c32);
    REQUIRE(v32b == v32);  // bit-identical
    for (weight_format f : {weight_format::bf16, weight_format::int8}) {
        network q = net;
        compress_weights(q, f);
        std::vector<float> vq;
        INFO(to_string(f));
        const auto cq = run_counts(q, &vq);
        REQUIRE(cq.size() == c32.size());
        std::uint64_t zeroed = 0;
        for (std::size_t p = 0; p < cq.size(); ++p) {
            INFO(net.projections[p].name);
            // same spikes in: the same events, SOPs, MACs, dense equivalents, element-wise ops
            REQUIRE(cq[p].events == c32[p].events);
            REQUIRE(cq[p].sops == c32[p].sops);
            REQUIRE(cq[p].macs == c32[p].macs);
            REQUIRE(cq[p].dense == c32[p].dense);
            REQUIRE(cq[p].elementwise == c32[p].elementwise);
            // NeuroBench's effective operations skip zero weights: int8 rounds |w| < s/2 to zero
            REQUIRE(cq[p].effective_acs <= c32[p].effective_acs);
            zeroed += c32[p].effective_acs - cq[p].effective_acs;
        }
        if (f == weight_format::bf16) REQUIRE(zeroed == 0);  // bf16 keeps every nonzero weight nonzero
        REQUIRE(vq.size() == v32.size());
        REQUIRE(vq != v32);  // the numerics did change
    }
    for (const auto& c : c32) REQUIRE(c.sops > 0);
}

TEST_CASE("compressed weights on an LMUFormer-like model: its readout and projections rounded, the LMU memory kept",
          "[sim][weights][lmu]") {
    const network net = small_lmuformer(lmu_memory_params::mode::impulse);
    network q = net;
    compress_weights(q, weight_format::int8);
    const auto& mem0 = std::get<lmu_memory_params>(net.find_node("memory").params);
    const auto& mem1 = std::get<lmu_memory_params>(q.find_node("memory").params);
    REQUIRE(mem1.a == mem0.a);
    REQUIRE(mem1.b == mem0.b);
    REQUIRE(mem1.h == mem0.h);
    const auto& r0 = std::get<readout_params>(net.find_node("head").params);
    const auto& r1 = std::get<readout_params>(q.find_node("head").params);
    REQUIRE(r1.bias == r0.bias);
    for (std::size_t c = 0; c < 3; ++c) {
        float m = 0;
        for (std::size_t i = 0; i < r0.input_size; ++i) m = std::max(m, std::fabs(r0.weight[c * r0.input_size + i]));
        for (std::size_t i = 0; i < r0.input_size; ++i)
            REQUIRE(r1.weight[c * r0.input_size + i] == std::nearbyint(r0.weight[c * r0.input_size + i] / (m / 127.0f)) * (m / 127.0f));
    }
    // The real-valued first layer (conv1d MACs) and every dense-equivalent count do not depend on
    // the weights; fp32 is bit-identical.
    const auto x = small_features(12, 1, 3);
    auto run = [&](const network& n, std::vector<op_counts>& ops) {
        clip_runner r(n, {.threads = 1, .streams = 1}, "input", "head");
        r.begin();
        auto out = r.push(x);
        for (auto& f : r.finish()) out.push_back(std::move(f));
        for (std::size_t p = 0; p < n.projections.size(); ++p) ops.push_back(r.sim().ops(p));
        std::vector<float> logits;
        for (const auto& f : out) logits.insert(logits.end(), f.values.begin(), f.values.end());
        return logits;
    };
    std::vector<op_counts> o32, o32b, o8;
    network same = net;
    compress_weights(same, weight_format::fp32);
    REQUIRE(run(net, o32) == run(same, o32b));
    REQUIRE(o32 == o32b);
    run(q, o8);
    const std::size_t embed = q.projection_index("embed");
    REQUIRE(o8[embed].macs == o32[embed].macs);
    for (std::size_t p = 0; p < o8.size(); ++p) REQUIRE(o8[p].dense == o32[p].dense);
}
