#include <catch2/catch.hpp>

#include "lmusim/graph/cuba.hpp"
#include "lmusim/graph/connectivity.hpp"
#include "lmusim/neurons/node_kinds.hpp"
#include "lmusim/sim/memory_recorder.hpp"
#include "lmusim/sim/simulation.hpp"
#include "networks.hpp"
#include "outcome.hpp"

using namespace lmusim;
using lmusim::testing::collect_outcome;
using lmusim::testing::driven_cuba;
using lmusim::testing::run_outcome;

namespace {

using outcome = run_outcome;

outcome run(const network& net, context ctx, std::uint64_t steps) {
    simulation sim(net, ctx);
    memory_recorder rec;
    sim.run(steps, {.rec = &rec});
    return collect_outcome(sim, rec);
}

}  // namespace

TEST_CASE("1 and 2 threads give identical spike trains and counts", "[sim][determinism]") {
    const network net = driven_cuba(3000);
    context one{.threads = 1, .streams = 1, .block_size = 256};
    context two{.threads = 2, .streams = 1, .block_size = 256};
    const outcome a = run(net, one, 3000);
    const outcome b = run(net, two, 3000);
    REQUIRE(a.spikes.size() > 1000);
    REQUIRE(a.spikes == b.spikes);
    REQUIRE(a.counts == b.counts);
    REQUIRE(a.ops == b.ops);
    // Block size only changes the work split, never the result.
    const outcome c = run(net, context{.threads = 2, .streams = 1, .block_size = 4096}, 3000);
    REQUIRE(a.spikes == c.spikes);
}

TEST_CASE("streams run independently and identically across thread counts", "[sim][determinism]") {
    const network net = driven_cuba(1000);
    const outcome a = run(net, {.threads = 1, .streams = 3, .block_size = 300}, 1500);
    const outcome b = run(net, {.threads = 2, .streams = 3, .block_size = 300}, 1500);
    REQUIRE(a.spikes == b.spikes);
    REQUIRE(a.ops == b.ops);
    // Each stream has its own Poisson draws, so the streams differ.
    std::vector<std::vector<spike_event>> per(3);
    for (const auto& e : a.spikes) per[e.stream].push_back({e.step, 0, e.neuron});
    REQUIRE(per[0] != per[1]);
    // Stream 0 of a 3-stream run equals a 1-stream run.
    const outcome single = run(net, {.threads = 2, .streams = 1, .block_size = 300}, 1500);
    REQUIRE(per[0] == single.spikes);
}

TEST_CASE("reset() reproduces the run exactly", "[sim]") {
    const network net = driven_cuba(800);
    simulation sim(net);
    memory_recorder r1, r2;
    sim.run(800, {.rec = &r1});
    const auto ops1 = sim.ops(0);
    sim.reset();
    sim.run(800, {.rec = &r2});
    REQUIRE(r1.spikes(0) == r2.spikes(0));
    REQUIRE(sim.ops(0) == ops1);
}

TEST_CASE("CUBA fires in Brian2's range", "[sim][cuba]") {
    // Brian2 2.5.1 measured 5.3-5.7 Hz per seed; across seeds lmusim's 10 s rates spread
    // 5.1-6.3 Hz (docs/cuba.md), so a 2 s run of one seed is checked against a wider band and the
    // mean over seeds against Brian's.
    double sum = 0;
    for (std::uint64_t seed : {2, 3, 4}) {
        cuba_params cp;
        cp.seed = seed;
        simulation sim(make_cuba(cp));
        sim.run(20000);  // 2 s
        const double rate = static_cast<double>(sim.total_spikes(0)) / 4000.0 / 2.0;
        INFO("seed " << seed << " rate " << rate);
        REQUIRE(rate > 4.5);
        REQUIRE(rate < 6.5);
        sum += rate;
    }
    REQUIRE(sum / 3 > 5.3);
    REQUIRE(sum / 3 < 5.8);
}
