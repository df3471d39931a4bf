#include <catch2/catch.hpp>

#include "lmusim/core/error.hpp"
#include "lmusim/graph/connectivity.hpp"
#include "lmusim/neurons/node_kinds.hpp"
#include "lmusim/sim/memory_recorder.hpp"
#include "lmusim/sim/simulation.hpp"
#include "networks.hpp"

using namespace lmusim;
using namespace lmusim::testing;

namespace {

std::vector<std::uint64_t> steps_of(const std::vector<spike_event>& ev, index_t neuron) {
    std::vector<std::uint64_t> out;
    for (const auto& e : ev)
        if (e.neuron == neuron) out.push_back(e.step);
    return out;
}

}  // namespace

TEST_CASE("delays land on the right step", "[sim][delay]") {
    for (std::uint32_t d : {0u, 1u, 2u, 7u}) {
        network net;
        net.add(source("in", 1, {5, 9}, {0, 0}));
        net.add(dlif("out", 1));
        // Weight 2: from rest h = 1 = theta, so each input spike fires the target in its step.
        net.connect(proj("w", "in", "out", connectivity::dense, {2.0f}, d));
        simulation sim(net);
        memory_recorder rec;
        sim.run(30, {.rec = &rec});
        INFO("delay " << d);
        REQUIRE(steps_of(rec.spikes(1), 0) == std::vector<std::uint64_t>{5 + d, 9 + d});
    }
}

TEST_CASE("delays longer than the run never deliver; reset clears in-flight spikes", "[sim][delay]") {
    network net;
    net.add(source("in", 1, {2}, {0}));
    net.add(dlif("out", 1));
    net.connect(proj("w", "in", "out", connectivity::dense, {2.0f}, 4));
    simulation sim(net);
    sim.run(4);  // spike at step 2 is in flight (due at step 6)
    sim.reset();
    memory_recorder rec;
    sim.run(5, {.rec = &rec});  // steps 0..4 again: the old spike must not arrive at step 2
    REQUIRE(rec.spikes(1).empty());
    REQUIRE(sim.total_spikes(0) == 1);
}

TEST_CASE("zero-delay chains run in topological order within one step", "[sim]") {
    network net;
    net.add(dlif("c", 1));  // declared first, updated last
    net.add(dlif("b", 1));
    net.add(source("a", 1, {3}, {0}));
    net.connect(proj("bc", "b", "c", connectivity::dense, {2.0f}));
    net.connect(proj("ab", "a", "b", connectivity::dense, {2.0f}));
    simulation sim(net);
    memory_recorder rec;
    sim.run(6, {.rec = &rec});
    REQUIRE(steps_of(rec.spikes(0), 0) == std::vector<std::uint64_t>{3});
    REQUIRE(steps_of(rec.spikes(1), 0) == std::vector<std::uint64_t>{3});
}

TEST_CASE("SOP counts equal hand-computed values", "[sim][ops]") {
    // Source of 3 neurons: neuron 0 fires at steps 0, 1; neuron 2 at step 1; neuron 1 never.
    network net;
    net.add(source("in", 3, {0, 1, 1}, {0, 0, 2}));
    net.add(dlif("dense_t", 4));
    net.add(dlif("sparse_t", 5));
    net.add(dlif("one_t", 3));
    net.connect(proj("dense", "in", "dense_t", connectivity::dense, std::vector<float>(12, 0.1f)));
    projection sp = proj("sparse", "in", "sparse_t", connectivity::sparse, {});
    sp.sparse.indptr = {0, 2, 5, 5};  // row 0: 2 targets, row 1: 3, row 2: 0
    sp.sparse.indices = {1, 3, 0, 2, 4};
    sp.sparse.weights = {0.1f, 0.1f, 0.1f, 0.1f, 0.1f};
    net.connect(sp);
    net.connect(proj("one", "in", "one_t", connectivity::one_to_one, {0.1f, 0.1f, 0.1f}, 1));
    simulation sim(net);
    sim.run(10);
    // 3 spikes in all. Dense: 3 x 4 = 12. Sparse: row 0 twice (2 + 2) + row 2 once (0) = 4.
    // One-to-one: 1 per spike, all delivered (delay 1 < 10 steps) = 3.
    // Dense equivalent (an ANN of the same shape, every step the source is there): dense
    // 4 x 3 x 10 steps = 120, sparse 5 synapses x 10 = 50, one-to-one 3 x 9 steps (delay 1) = 27.
    // NeuroBench's effective ACs: every weight is nonzero, so they equal the SOPs.
    REQUIRE(sim.ops(0) == op_counts{3, 12, 0, 120, 0, 12, 0, 0});
    REQUIRE(sim.ops(1) == op_counts{3, 4, 0, 50, 0, 4, 0, 0});
    REQUIRE(sim.ops(2) == op_counts{3, 3, 0, 27, 0, 3, 0, 0});
    REQUIRE(sim.total_spikes(0) == 3);
    REQUIRE(sim.neuron_updates(1) == 4 * 10);
    // Element-wise work of a LIF without affine: one update per neuron and step.
    REQUIRE(sim.node_ops(1).elementwise == 4 * 10);
    REQUIRE(sim.node_ops(0).elementwise == 0);
    // A spike still in flight at the end is not yet counted.
    simulation s2(net);
    s2.run(2);  // steps 0, 1: the delay-1 projection has delivered only step 0's spike
    REQUIRE(s2.ops(2) == op_counts{1, 1, 0, 3, 0, 1, 0, 0});
}

TEST_CASE("dense projections from real-valued input count MACs and compute W x", "[sim][ops]") {
    network net;
    net.add(node{"x", 2, input_params{}});
    net.add(dlif("y", 3));
    // W = [[1, 2], [0, 1], [-1, 0]] (target x source)
    net.connect(proj("w", "x", "y", connectivity::dense, {1, 2, 0, 1, -1, 0}));
    simulation sim(net);
    const std::vector<float> frames{1.0f, 0.5f, 4.0f, 1.0f};  // two frames of 2 values
    sim.push_frames("x", frames);
    sim.run(1);
    // Step 0: W x = [2, 0.5, -1] -> h = x/2 = [1, 0.25, -0.5]: neuron 0 fires (>= 1).
    REQUIRE(std::vector<index_t>(sim.spikes(1).begin(), sim.spikes(1).end()) == std::vector<index_t>{0});
    const auto v = static_cast<const discrete_lif&>(sim.pop(1)).v(0);
    REQUIRE(v[1] == 0.25f);
    REQUIRE(v[2] == -0.5f);
    sim.run(2);  // frame 2 [4, 1] then no more frames (zero input)
    REQUIRE(sim.ops(0).macs == 3 * 2 * 3);
    REQUIRE_THROWS_AS(sim.push_frames("x", std::vector<float>{1.0f}), error);
    REQUIRE_THROWS_AS(sim.push_frames("y", std::vector<float>{1.0f, 2.0f}), error);
}
