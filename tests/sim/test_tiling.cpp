// Tiled spike delivery (docs/design.md, "Tiled delivery"): batches deliver spikes tile by tile of
// target neurons for a group of streams; the blocked column layout and the register-blocked adds
// must give, bit for bit, what one add per spike in ascending order gives, for any tile size,
// stream grouping, block size and thread count.
#include <catch2/catch.hpp>

#include <bit>
#include <random>

#include "checkpoint_networks.hpp"
#include "lmusim/sim/memory_recorder.hpp"
#include "lmusim/sim/simulation.hpp"
#include "networks.hpp"
#include "outcome.hpp"

using namespace lmusim;
using namespace lmusim::testing;

namespace {

// Sizes straddle the 128-target blocks (300 = 2 x 128 + 44, 133, 260); weights and inputs are
// unconditioned random floats, so any change of summation order changes some spike.
network tiled_net() {
    network net;
    net.name = "tiled";
    net.add(node{"input", 40, input_params{}});
    net.add(dlif("a", 300, 0.5f));
    net.add(dlif("b", 133, 0.4f));
    net.add(dlif("c", 260, 0.3f));
    net.add(node{"x", 133, analog_params{}});
    projection embed = proj("embed", "input", "a", connectivity::conv1d, uniform_vec(300 * 40 * 3, 1, -0.6f, 0.8f));
    embed.kernel = 3;
    net.connect(embed);
    projection ab = proj("ab", "a", "b", connectivity::dense, uniform_vec(133 * 300, 2, -0.25f, 0.3f));
    ab.bias = uniform_vec(133, 3, -0.2f, 0.2f);
    net.connect(ab);
    projection ac = proj("ac", "a", "c", connectivity::conv1d, uniform_vec(260 * 300 * 3, 4, -0.2f, 0.25f));
    ac.kernel = 3;
    net.connect(ac);
    projection bc = proj("bc", "b", "c", connectivity::dense, uniform_vec(260 * 133, 5, -0.3f, 0.3f), 2);
    bc.sum_separately = true;
    bc.bias = uniform_vec(260, 6, -0.1f, 0.1f);
    net.connect(bc);
    net.connect(proj("cb", "c", "b", connectivity::dense, uniform_vec(133 * 260, 7, -0.3f, 0.3f), 1));
    net.connect(proj("cx", "c", "x", connectivity::dense, uniform_vec(133 * 260, 8, -1.0f, 1.0f)));
    net.connect(proj("bx", "b", "x", connectivity::dense, uniform_vec(133 * 133, 9, -1.0f, 1.0f)));
    return net;
}

struct outcome {
    run_outcome run;
    std::vector<std::uint32_t> values;  // bit patterns of "x" for every stream at every step
    friend bool operator==(const outcome&, const outcome&) = default;
};

outcome run(const network& net, context ctx, std::size_t frames, const std::vector<float>& x) {
    simulation sim(net, ctx);
    memory_recorder rec;
    sim.push_frames("input", x);
    sim.end_clip(frames);
    outcome o;
    const std::size_t xi = net.node_index("x");
    for (std::uint64_t k = 0, n = frames + sim.max_latency(); k < n; ++k) {
        sim.run(1, {.rec = &rec});
        for (std::size_t s = 0; s < ctx.streams; ++s)
            for (float v : sim.values(xi, s)) o.values.push_back(std::bit_cast<std::uint32_t>(v));
    }
    o.run = collect_outcome(sim, rec);
    return o;
}

}  // namespace

TEST_CASE("tiled delivery equals per-stream delivery for any tile, group, block and thread count", "[sim][tiling]") {
    const network net = tiled_net();
    const std::size_t S = 7, T = 24;
    const std::vector<float> x = uniform_vec(T * S * 40, 11, -1.0f, 2.0f);
    // Reference: no tiling, one stream per work item, one thread.
    const outcome want = run(net, {.threads = 1, .streams = S, .stream_group = 1, .tile_bytes = 0}, T, x);
    REQUIRE(want.run.spikes.size() > 2000);
    for (const context& c : {context{.threads = 1, .streams = S},
                             context{.threads = 2, .streams = S},
                             context{.threads = 1, .streams = S, .stream_group = 7, .tile_bytes = 1},
                             context{.threads = 2, .streams = S, .stream_group = 3, .tile_bytes = 1},
                             context{.threads = 2, .streams = S, .stream_group = 2, .tile_bytes = 200000},
                             context{.threads = 2, .streams = S, .block_size = 50, .stream_group = 4, .tile_bytes = 1},
                             context{.threads = 1, .streams = S, .block_size = 77, .stream_group = 5, .tile_bytes = 1}}) {
        INFO("threads " << c.threads << ", group " << c.stream_group << ", tile bytes " << c.tile_bytes << ", block "
                        << c.block_size);
        REQUIRE(run(net, c, T, x) == want);
    }
}

TEST_CASE("the blocked column layout adds each spike's weight in ascending order, bit for bit", "[sim][tiling]") {
    // A spike source -> dense -> analog: x[t] = (((0 + w[t][j0]) + w[t][j1]) + ...) for the spikes
    // j0 < j1 < ... of one step, computed here one add at a time, for sizes around the block width.
    for (std::size_t nt : {1u, 15u, 16u, 17u, 127u, 128u, 129u, 300u}) {
        const std::size_t ns = 301;
        std::mt19937 rng(static_cast<unsigned>(nt));
        std::vector<index_t> fired;
        for (index_t j = 0; j < ns; ++j)
            if (rng() % 3 == 0) fired.push_back(j);
        network net;
        net.name = "blocked";
        net.add(source("src", ns, std::vector<std::uint64_t>(fired.size(), 0), fired));
        net.add(node{"x", nt, analog_params{}});
        const std::vector<float> w = uniform_vec(nt * ns, static_cast<unsigned>(100 + nt), -3.0f, 3.0f);
        net.connect(proj("w", "src", "x", connectivity::dense, w));
        for (std::size_t streams : {1u, 3u}) {
            simulation sim(net, {.threads = 1, .streams = streams, .stream_group = streams, .tile_bytes = 1});
            sim.run(1);
            for (std::size_t s = 0; s < streams; ++s) {
                const auto got = sim.values(net.node_index("x"), s);
                for (std::size_t t = 0; t < nt; ++t) {
                    float want = 0.0f;
                    for (index_t j : fired) want += w[t * ns + j];
                    INFO("n_target " << nt << ", target " << t);
                    REQUIRE(std::bit_cast<std::uint32_t>(got[t]) == std::bit_cast<std::uint32_t>(want));
                }
            }
        }
    }
}
