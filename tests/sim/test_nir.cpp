// The NIR kinds in the engine: a network of all of them runs identically on any thread count and
// block size, continues exactly from a checkpoint, and counts its operations as documented.
#include <catch2/catch.hpp>

#include "lmusim/core/error.hpp"
#include "lmusim/graph/stats.hpp"
#include "lmusim/sim/memory_recorder.hpp"
#include "lmusim/sim/simulation.hpp"
#include "nir_networks.hpp"

using namespace lmusim;
using namespace lmusim::testing;
using Catch::Matchers::Contains;

namespace {

// Every node's output per step: spikes (via the recorder) and values, plus the final counts.
struct outcome {
    std::vector<spike_event> spikes;
    std::vector<std::vector<float>> values;  // [step][node values of every stream, concatenated]
    std::vector<op_counts> ops, node_ops;
    friend bool operator==(const outcome&, const outcome&) = default;
};

void run_into(simulation& sim, std::uint64_t steps, outcome& o, memory_recorder& rec) {
    const network& net = sim.net();
    for (std::uint64_t t = 0; t < steps; ++t) {
        sim.run(1, {.rec = &rec});
        std::vector<float> row;
        for (std::size_t i = 0; i < net.nodes.size(); ++i)
            if (!net.nodes[i].spiking())
                for (std::size_t s = 0; s < sim.ctx().streams; ++s) {
                    const auto v = sim.values(i, s);
                    row.insert(row.end(), v.begin(), v.end());
                }
        o.values.push_back(std::move(row));
    }
}

void finish(const simulation& sim, const std::vector<memory_recorder*>& recs, outcome& o) {
    const network& net = sim.net();
    for (std::size_t i = 0; i < net.nodes.size(); ++i) {
        for (const memory_recorder* r : recs) o.spikes.insert(o.spikes.end(), r->spikes(i).begin(), r->spikes(i).end());
        for (std::size_t s = 0; s < sim.ctx().streams; ++s) o.node_ops.push_back(sim.node_ops(i, s));
    }
    for (std::size_t p = 0; p < net.projections.size(); ++p)
        for (std::size_t s = 0; s < sim.ctx().streams; ++s) o.ops.push_back(sim.ops(p, s));
}

outcome straight(const network& net, const context& ctx, std::uint64_t steps, const std::vector<float>& frames) {
    simulation sim(net, ctx);
    sim.push_frames("img", frames);
    outcome o;
    memory_recorder rec;
    run_into(sim, steps, o, rec);
    finish(sim, {&rec}, o);
    return o;
}

}  // namespace

TEST_CASE("NIR network: identical on any thread count and block size, every spiking node fires", "[sim][nir]") {
    const network net = nir_network();
    const std::uint64_t T = 60;
    for (std::size_t streams : {1u, 2u}) {
        const auto frames = nir_frames(T, streams, 41);
        const outcome a = straight(net, {.threads = 1, .streams = streams, .block_size = 4096}, T, frames);
        const outcome b = straight(net, {.threads = 2, .streams = streams, .block_size = 5}, T, frames);
        REQUIRE(a == b);
        simulation sim(net, {.threads = 1, .streams = streams});
        sim.push_frames("img", frames);
        sim.run(T);
        for (std::size_t i = 0; i < net.nodes.size(); ++i)
            if (net.nodes[i].spiking()) {
                INFO(net.nodes[i].name);
                REQUIRE(sim.total_spikes(i) > 0);
            }
    }
}

TEST_CASE("NIR network: run k steps, checkpoint, restore into a fresh simulation, continue", "[sim][nir][checkpoint]") {
    const network net = nir_network();
    const std::uint64_t T = 50;
    for (std::size_t streams : {1u, 2u}) {
        const auto frames = nir_frames(T, streams, 43);
        const outcome want = straight(net, {.threads = 1, .streams = streams}, T, frames);
        for (std::uint64_t k : {std::uint64_t{1}, std::uint64_t{7}, std::uint64_t{31}}) {
            INFO("streams " << streams << ", split at " << k);
            outcome got;
            simulation first(net, {.threads = 1, .streams = streams});
            first.push_frames("img", frames);
            memory_recorder r1, r2;
            run_into(first, k, got, r1);
            state_store st;
            first.save_state(st);
            REQUIRE(st.contains("nodes/dly/ring"));
            REQUIRE(st.contains("nodes/lif1/i_syn"));
            simulation second(net, {.threads = 2, .streams = streams, .block_size = 7});
            second.restore_state(st);
            run_into(second, T - k, got, r2);
            // Spikes in node order: interleave the two recorders per node.
            for (std::size_t i = 0; i < net.nodes.size(); ++i) {
                got.spikes.insert(got.spikes.end(), r1.spikes(i).begin(), r1.spikes(i).end());
                got.spikes.insert(got.spikes.end(), r2.spikes(i).begin(), r2.spikes(i).end());
                for (std::size_t s = 0; s < streams; ++s) got.node_ops.push_back(second.node_ops(i, s));
            }
            for (std::size_t p = 0; p < net.projections.size(); ++p)
                for (std::size_t s = 0; s < streams; ++s) got.ops.push_back(second.ops(p, s));
            REQUIRE(got.values == want.values);
            REQUIRE(got.spikes == want.spikes);
            REQUIRE(got.ops == want.ops);
            REQUIRE(got.node_ops == want.node_ops);
        }
    }
}

TEST_CASE("conv2d and sum_pool2d in the engine: hand-computed values and op counts", "[sim][nir][ops]") {
    // in [1, 3, 3] spikes: pixel 0 at step 0, pixels 1 and 4 at step 1.
    // conv2d 2x2, stride 1, no padding, 1 -> 1 channel: out [1, 2, 2]; W = [[1, 2], [3, 0]].
    // sum_pool2d 2x2 stride 1 (scale 0.5): out [1, 2, 2].
    network net;
    net.add(source("in", 9, {0, 1, 1}, {0, 1, 4}));
    net.add(node{"conv", 4, nir_integrator_params{}});
    net.add(node{"pool", 4, nir_integrator_params{}});
    projection c = proj("c", "in", "conv", connectivity::conv2d, {1, 2, 3, 0});
    c.geometry = {1, 3, 3, 1, 2, 2, 1, 1, 0, 0, 0, 0, 1, 1, 1};
    net.connect(c);
    projection p = proj("p", "in", "pool", connectivity::sum_pool2d, {0.5f});
    p.geometry = {1, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0};
    net.connect(p);
    simulation sim(net);
    sim.run(1);
    // Step 0, pixel (0, 0): reaches output (0, 0) only, through W[0, 0] = 1.
    REQUIRE(std::vector<float>(sim.values(1).begin(), sim.values(1).end()) == std::vector<float>{1, 0, 0, 0});
    REQUIRE(std::vector<float>(sim.values(2).begin(), sim.values(2).end()) == std::vector<float>{0.5f, 0, 0, 0});
    sim.run(1);
    // Step 1: pixel (1, 1) reaches (0,0) via W[1,1] = 0, (0,1) via W[1,0] = 3, (1,0) via W[0,1] = 2,
    // (1,1) via W[0,0] = 1; pixel (0, 1) reaches (0,0) via W[0,1] = 2 and (0,1) via W[0,0] = 1.
    // The integrator adds them to step 0's values.
    REQUIRE(std::vector<float>(sim.values(1).begin(), sim.values(1).end()) == std::vector<float>{3, 4, 2, 1});
    REQUIRE(std::vector<float>(sim.values(2).begin(), sim.values(2).end()) == std::vector<float>{1.5f, 1.0f, 0.5f, 0.5f});
    // conv: events 3; sops 1 + 4 + 2 = 7; dense 2 steps x (1 x 2 x 2 x 1 x 2 x 2 = 16) = 32;
    // effective ACs: nonzero-weight targets: pixel 0 -> 1, pixel 4 -> 3, pixel 1 -> 2: 6.
    REQUIRE(sim.ops(0) == op_counts{3, 7, 0, 32, 0, 6, 0, 0});
    // pool: sops = the same reach, 7; dense 2 x 16 = 32; no effective operations (routing).
    REQUIRE(sim.ops(1) == op_counts{3, 7, 0, 32, 0, 0, 0, 0});
    REQUIRE(net.parameter_count() == 4 + 1 + 1 + 0);  // conv weights; the integrators' r; the pool none
    REQUIRE(kind_of(connectivity::conv2d).synapses(c, 9, 4) == 16);
    REQUIRE(kind_of(connectivity::sum_pool2d).synapses(p, 9, 4) == 16);
    // NeuroBench's connection sparsity: the conv's weights (one zero of four); the pool's scale is
    // routing, not a synaptic weight. The footprint holds both geometries (uint64).
    const static_metrics m = static_metrics_of(net);
    REQUIRE(m.connection_total == 4);
    REQUIRE(m.connection_zeros == 1);
    // conv weights and geometry, pool scale and geometry, the integrators' r, the source's arrays
    REQUIRE(m.footprint_bytes == 4 * 4 + 15 * 8 + 1 * 4 + 11 * 8 + 2 * 4 + 3 * 8 + 3 * 4);
}

TEST_CASE("conv2d from real values: MACs are the full convolution, padding included", "[sim][nir][ops]") {
    // in [1, 2, 2] frames, conv 3x3 pad 1 -> [1, 2, 2]: MACs 1 x 2 x 2 x 1 x 3 x 3 = 36 per step;
    // each of the 4 inputs reaches all 4 outputs with a nonzero weight: 16 effective per nonzero input.
    network net;
    net.add(node{"in", 4, input_params{}});
    net.add(node{"out", 4, nir_integrator_params{}});
    projection c = proj("c", "in", "out", connectivity::conv2d, std::vector<float>(9, 0.5f));
    c.geometry = {1, 2, 2, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    net.connect(c);
    simulation sim(net);
    sim.push_frames("in", std::vector<float>{1, 0, 0, -1, 0.5f, 0.5f, 0.5f, 0.5f});
    sim.run(2);
    REQUIRE(sim.ops(0).macs == 72);
    REQUIRE(sim.ops(0).dense == 72);
    REQUIRE(sim.ops(0).effective_acs == 2 * 4);   // step 0: two nonzero inputs, binary (1, -1)
    REQUIRE(sim.ops(0).effective_macs == 4 * 4);  // step 1: four nonzero inputs of 0.5
    // Every output sees the whole 2x2 image: step 0 0.5 x (1 - 1) = 0, step 1 0.5 x 2 = 1; accumulated.
    REQUIRE(std::vector<float>(sim.values(1).begin(), sim.values(1).end()) == std::vector<float>{1, 1, 1, 1});
}

TEST_CASE("validation: geometry on a kind that does not store it", "[sim][nir]") {
    network net;
    net.add(node{"a", 2, input_params{}});
    net.add(node{"b", 2, nir_li_params{}});
    projection d = proj("d", "a", "b", connectivity::dense, {1, 0, 0, 1});
    d.geometry = {1, 2};
    net.connect(d);
    REQUIRE_THROWS_WITH(net.validate(), Contains("projection 'd': geometry has 2 values, but a dense projection stores none"));
}
