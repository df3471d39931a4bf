// Network-parallel simulation (docs/distributed.md): the same spikes, counts and state for any
// number of ranks and threads, with in-process ranks (tests/common/thread_ranks.hpp); the MPI runs
// of the same are tests/python/test_mpi.py.
#include <catch2/catch.hpp>

#include <bit>

#include "checkpoint_networks.hpp"
#include "lmusim/sim/clip_runner.hpp"
#include "lmusim/sim/memory_recorder.hpp"
#include "lmusim/sim/simulation.hpp"
#include "networks.hpp"
#include "thread_ranks.hpp"

using namespace lmusim;
using namespace lmusim::testing;

namespace {

struct outcome {
    std::vector<spike_event> spikes;
    std::vector<std::uint64_t> counts;
    std::vector<op_counts> ops, node_ops;
    std::uint64_t epoch = 0;
    friend bool operator==(const outcome&, const outcome&) = default;
};

outcome collect(const simulation& sim, const memory_recorder* rec) {
    outcome o;
    const network& net = sim.net();
    for (std::size_t i = 0; i < net.nodes.size(); ++i) {
        if (rec && net.nodes[i].spiking()) o.spikes.insert(o.spikes.end(), rec->spikes(i).begin(), rec->spikes(i).end());
        const auto c = sim.spike_counts(i);
        o.counts.insert(o.counts.end(), c.begin(), c.end());
        for (std::size_t s = 0; s < sim.ctx().streams; ++s) o.node_ops.push_back(sim.node_ops(i, s));
    }
    for (std::size_t p = 0; p < net.projections.size(); ++p)
        for (std::size_t s = 0; s < sim.ctx().streams; ++s) o.ops.push_back(sim.ops(p, s));
    return o;
}

// Runs `net` for `steps` (in two calls, so an epoch may end mid-call) on R in-process ranks;
// returns every rank's outcome. With `record`, spikes are recorded every step.
std::vector<outcome> run_ranks(const network& net, int R, std::size_t threads, std::uint64_t steps, bool record,
                               std::size_t streams = 1) {
    std::vector<outcome> out(static_cast<std::size_t>(R));
    thread_ranks group(R);
    group.run([&](int r, communicator& comm) {
        simulation sim(net, {.threads = threads, .streams = streams, .block_size = 64, .comm = &comm, .exchange_every_step = record});
        memory_recorder rec;
        run_options ro;
        if (record) ro.rec = &rec;
        sim.run(steps / 3, ro);
        sim.run(steps - steps / 3, ro);
        outcome o = collect(sim, record ? &rec : nullptr);
        o.epoch = sim.exchange_epoch();
        out[static_cast<std::size_t>(r)] = std::move(o);
    });
    return out;
}

outcome run_alone(const network& net, std::size_t threads, std::uint64_t steps, bool record, std::size_t streams = 1) {
    simulation sim(net, {.threads = threads, .streams = streams, .block_size = 64});
    memory_recorder rec;
    run_options ro;
    if (record) ro.rec = &rec;
    sim.run(steps / 3, ro);
    sim.run(steps - steps / 3, ro);
    return collect(sim, record ? &rec : nullptr);
}

}  // namespace

TEST_CASE("network-parallel: CUBA with a zero-delay drive gives the same spikes for 1-4 ranks and 1-2 threads",
          "[sim][distributed]") {
    const network net = driven_cuba(900);  // the drive's projection has no delay: exchanged at once
    const outcome want = run_alone(net, 1, 1200, true);
    REQUIRE(want.spikes.size() > 500);
    for (int R : {1, 2, 3, 4})
        for (std::size_t threads : {std::size_t{1}, std::size_t{2}}) {
            INFO(R << " ranks x " << threads << " threads");
            const auto got = run_ranks(net, R, threads, 1200, true);
            for (outcome o : got) {
                REQUIRE(o.epoch == 1);
                o.epoch = 0;
                REQUIRE(o.spikes == want.spikes);
                REQUIRE(o.counts == want.counts);
                REQUIRE(o.ops == want.ops);
                REQUIRE(o.node_ops == want.node_ops);  // membrane updates summed over the ranks
            }
        }
}

TEST_CASE("network-parallel: delays make min-delay epochs; counts equal one process's", "[sim][distributed]") {
    const network net = delayed_cuba(700);  // delays 2 (drive), 3 (exc), 5 (inh)
    const outcome want = run_alone(net, 2, 1000, false);
    std::uint64_t total = 0;
    for (auto c : want.counts) total += c;
    REQUIRE(total > 300);
    for (int R : {2, 3}) {
        INFO(R << " ranks");
        for (outcome o : run_ranks(net, R, 1, 1000, false)) {
            REQUIRE(o.epoch == 2);  // the smallest delay
            o.epoch = 0;
            REQUIRE(o == want);
        }
    }
}

TEST_CASE("network-parallel: more ranks than neurons in a population", "[sim][distributed]") {
    network net;
    net.dt = 1.0;
    net.add(source("in", 3, {0, 1, 2, 2, 5}, {0, 1, 0, 2, 1}));
    net.add(dlif("a", 2, 0.5f));
    net.add(dlif("b", 5, 0.4f));
    net.connect(proj("in_a", "in", "a", connectivity::dense, uniform_vec(6, 1, 0.0f, 1.0f)));
    net.connect(proj("a_b", "a", "b", connectivity::dense, uniform_vec(10, 2, 0.0f, 1.0f), 1));
    net.connect(proj("b_a", "b", "a", connectivity::dense, uniform_vec(10, 3, -0.3f, 0.6f), 2));
    const outcome want = run_alone(net, 1, 20, true);
    REQUIRE(!want.spikes.empty());
    for (outcome o : run_ranks(net, 4, 1, 20, true)) {
        o.epoch = 0;
        REQUIRE(o == want);
    }
}

TEST_CASE("network-parallel: LMUFormer-like frames (whole memory and readout on every rank)", "[sim][distributed][lmu]") {
    const std::size_t T = 14, S = 2;
    const network net = small_lmuformer(lmu_memory_params::mode::impulse);
    const auto x = small_features(T, S, 5);
    auto go = [&](communicator* comm, std::size_t threads) {
        simulation sim(net, {.threads = threads, .streams = S, .comm = comm, .exchange_every_step = true});
        memory_recorder rec;
        sim.push_frames("input", x);
        sim.end_clip(T);
        sim.run(T + sim.max_latency(), {.rec = &rec});
        outcome o = collect(sim, &rec);
        const auto h = sim.values(net.node_index("head"), 1);
        for (float v : h) o.counts.push_back(static_cast<std::uint64_t>(std::bit_cast<std::uint32_t>(v)));
        return o;
    };
    const outcome want = go(nullptr, 1);
    REQUIRE(want.spikes.size() > 10);
    for (int R : {2, 3}) {
        std::vector<outcome> got(static_cast<std::size_t>(R));
        thread_ranks group(R);
        group.run([&](int r, communicator& c) { got[static_cast<std::size_t>(r)] = go(&c, 2); });
        for (const outcome& o : got) REQUIRE(o == want);
    }
}

TEST_CASE("network-parallel: a checkpoint is the same for any rank count and resumes on another", "[sim][distributed][checkpoint]") {
    const network net = delayed_cuba(600);
    const std::uint64_t k = 333, total = 900;
    simulation alone(net, {.threads = 1});
    alone.run(k);
    state_store want;
    alone.save_state(want);
    alone.run(total - k);
    const outcome want_end = collect(alone, nullptr);

    std::vector<state_store> saved(2);
    thread_ranks two(2);
    two.run([&](int r, communicator& c) {
        simulation sim(net, {.threads = 1, .comm = &c});
        sim.run(k);
        sim.save_state(saved[static_cast<std::size_t>(r)]);
    });
    for (const state_store& st : saved) {
        REQUIRE(st.entries().size() == want.entries().size());
        for (const auto& [key, e] : want.entries()) {
            INFO(key);
            REQUIRE(st.entries().count(key) == 1);
            REQUIRE(st.entries().at(key).shape == e.shape);
            REQUIRE(st.entries().at(key).data == e.data);
        }
    }
    // Resumed on three ranks (and on one), the run ends as the uninterrupted one did.
    std::vector<outcome> ends(3);
    thread_ranks three(3);
    three.run([&](int r, communicator& c) {
        simulation sim(net, {.threads = 2, .comm = &c});
        sim.restore_state(saved[0]);
        sim.run(total - k);
        ends[static_cast<std::size_t>(r)] = collect(sim, nullptr);
    });
    for (const outcome& o : ends) REQUIRE(o == want_end);
}

TEST_CASE("dry run: one process stands in for R ranks and replays their spikes", "[sim][distributed]") {
    const network net = driven_cuba(800);
    dry_run_communicator dry(4);
    simulation sim(net, {.threads = 1, .comm = &dry});
    REQUIRE(sim.partitioned(0));
    REQUIRE(sim.owned(0).begin == 0);
    REQUIRE(sim.owned(0).end == 200);
    sim.run(300);
    const phase_times ph = sim.phases();
    REQUIRE(ph.exchanges > 0);
    REQUIRE(ph.bytes_received == 4 * ph.bytes_sent);
    // Every spike of a replayed rank is this rank's, moved by a quarter of the population.
    const auto c = sim.spike_counts(0);
    for (std::size_t j = 0; j < 200; ++j)
        for (std::size_t r = 1; r < 4; ++r) REQUIRE(c[r * 200 + j] == c[j]);
}
