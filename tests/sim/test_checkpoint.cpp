// Checkpoint and restore in memory (state_store): a run split at step k, with the second part in a
// fresh simulation, equals the straight run spike for spike, count for count (docs/checkpoint.md).
#include <catch2/catch.hpp>

#include "checkpoint_networks.hpp"
#include "lmusim/sim/clip_runner.hpp"
#include "lmusim/sim/memory_recorder.hpp"
#include "lmusim/sim/simulation.hpp"

using namespace lmusim;
using namespace lmusim::testing;

namespace {

struct totals {
    std::vector<std::uint64_t> counts, updates;
    std::vector<op_counts> ops, node_ops;
    friend bool operator==(const totals&, const totals&) = default;
};

totals totals_of(const simulation& sim) {
    totals t;
    for (std::size_t i = 0; i < sim.net().nodes.size(); ++i) {
        const auto c = sim.spike_counts(i);
        t.counts.insert(t.counts.end(), c.begin(), c.end());
        t.updates.push_back(sim.neuron_updates(i));
        for (std::size_t s = 0; s < sim.ctx().streams; ++s) t.node_ops.push_back(sim.node_ops(i, s));
    }
    for (std::size_t p = 0; p < sim.net().projections.size(); ++p)
        for (std::size_t s = 0; s < sim.ctx().streams; ++s) t.ops.push_back(sim.ops(p, s));
    return t;
}

std::vector<spike_event> all_spikes(const memory_recorder& rec, std::size_t nodes) {
    std::vector<spike_event> out;
    for (std::size_t i = 0; i < nodes; ++i) out.insert(out.end(), rec.spikes(i).begin(), rec.spikes(i).end());
    return out;
}

}  // namespace

TEST_CASE("CUBA with delays: run k steps, checkpoint, restore into a fresh simulation, continue", "[sim][checkpoint]") {
    const network net = delayed_cuba(1000);
    const std::uint64_t N = 700;
    for (std::size_t streams : {1u, 2u}) {
        const context one{.threads = 1, .streams = streams, .block_size = 4096};
        simulation straight(net, one);
        memory_recorder rs;
        straight.run(N, {.rec = &rs});
        const auto expected = all_spikes(rs, net.nodes.size());
        REQUIRE(expected.size() > 1000);

        for (std::uint64_t k : {std::uint64_t{1}, std::uint64_t{333}, N - 1}) {
            simulation first(net, one);
            memory_recorder r1;
            first.run(k, {.rec = &r1});
            state_store st;
            first.save_state(st);
            // Spikes of the last steps are still in flight on the 3- and 5-step delays.
            if (k == 333) {
                std::size_t recent = 0;
                for (const auto& e : r1.spikes(0)) recent += e.step + 5 >= k;
                REQUIRE(recent > 0);
            }
            // The second part on another thread count and block size.
            simulation second(net, {.threads = 2, .streams = streams, .block_size = 128});
            second.restore_state(st);
            REQUIRE(second.steps_done() == k);
            REQUIRE(totals_of(second) == totals_of(first));
            memory_recorder r2;
            second.run(N - k, {.rec = &r2});
            std::vector<spike_event> joined;
            for (std::size_t i = 0; i < net.nodes.size(); ++i) {
                joined.insert(joined.end(), r1.spikes(i).begin(), r1.spikes(i).end());
                joined.insert(joined.end(), r2.spikes(i).begin(), r2.spikes(i).end());
            }
            std::vector<spike_event> want;
            for (std::size_t i = 0; i < net.nodes.size(); ++i) want.insert(want.end(), rs.spikes(i).begin(), rs.spikes(i).end());
            INFO("streams " << streams << ", split at step " << k);
            REQUIRE(joined == want);
            REQUIRE(totals_of(second) == totals_of(straight));
            // Saving again gives the same state as the straight run at step N.
            state_store a, b;
            second.save_state(a);
            straight.save_state(b);
            REQUIRE(a.entries().size() == b.entries().size());
            for (const auto& [key, e] : a.entries()) {
                INFO(key);
                REQUIRE(e.shape == b.entries().at(key).shape);
                REQUIRE(e.data == b.entries().at(key).data);
            }
        }
    }
}

TEST_CASE("LMUFormer-like streaming: checkpoint mid-clip, restore into a fresh runner", "[sim][checkpoint][lmu]") {
    const std::size_t T = 16, S = 2;
    for (auto mode : {lmu_memory_params::mode::impulse, lmu_memory_params::mode::recurrence}) {
        const network net = small_lmuformer(mode);
        const auto x = small_features(T, S, 21);  // [frame][stream][4]
        const std::size_t frame = S * 4;
        auto spikes_of = [](const simulation& sim, std::vector<std::vector<index_t>>& out) {
            for (std::size_t i = 0; i < sim.net().nodes.size(); ++i)
                if (sim.net().nodes[i].spiking())
                    for (std::size_t s = 0; s < sim.ctx().streams; ++s) {
                        const auto sp = sim.spikes(i, s);
                        out.emplace_back(sp.begin(), sp.end());
                    }
        };
        clip_runner straight(net, {.threads = 1, .streams = S}, "input", "head");
        std::vector<std::vector<index_t>> want_spikes;
        step_recorder want_rec([&](const simulation& sim) { spikes_of(sim, want_spikes); });
        straight.set_recorder(&want_rec);
        straight.begin();
        auto want = straight.push(x);
        for (auto& f : straight.finish()) want.push_back(std::move(f));
        REQUIRE(want.size() == T);
        std::size_t fired = 0;
        for (const auto& v : want_spikes) fired += v.size();
        REQUIRE(fired > 20);

        for (std::size_t k : {std::size_t{1}, std::size_t{4}, std::size_t{9}}) {
            clip_runner first(net, {.threads = 1, .streams = S}, "input", "head");
            std::vector<std::vector<index_t>> got_spikes;
            step_recorder got_rec([&](const simulation& sim) { spikes_of(sim, got_spikes); });
            first.set_recorder(&got_rec);
            first.begin();
            auto got = first.push(std::span<const float>(x).first(k * frame));
            state_store st;
            first.save_state(st);
            clip_runner second(net, {.threads = 2, .streams = S}, "input", "head");
            second.set_recorder(&got_rec);
            second.restore_state(st);
            REQUIRE(second.frames_pushed() == k);
            for (auto& f : second.push(std::span<const float>(x).subspan(k * frame))) got.push_back(std::move(f));
            for (auto& f : second.finish()) got.push_back(std::move(f));
            INFO("mode " << (mode == lmu_memory_params::mode::impulse ? "impulse" : "recurrence") << ", split at frame " << k);
            REQUIRE(got.size() == want.size());
            for (std::size_t t = 0; t < want.size(); ++t) {
                REQUIRE(got[t].frame == want[t].frame);
                REQUIRE(got[t].values == want[t].values);  // bit-identical logits
            }
            REQUIRE(got_spikes == want_spikes);
            REQUIRE(totals_of(second.sim()) == totals_of(straight.sim()));
        }
    }
}

TEST_CASE("restore_state refuses state that does not fit and leaves the simulation reset", "[sim][checkpoint]") {
    const network net = delayed_cuba(300);
    simulation a(net, {.threads = 1});
    a.run(50);
    state_store st;
    a.save_state(st);

    SECTION("another stream count") {
        simulation b(net, {.threads = 1, .streams = 2});
        REQUIRE_THROWS_WITH(b.restore_state(st), Catch::Contains("sim/streams") && Catch::Contains("1 stream(s)"));
    }
    SECTION("a missing array") {
        state_store partial;
        for (const auto& [key, e] : st.entries())
            if (key != "nodes/neurons/g_exc") partial.insert(key, e);
        simulation b(net, {.threads = 1});
        b.run(5);
        REQUIRE_THROWS_AS(b.restore_state(partial), state_error);
        REQUIRE_THROWS_WITH(b.restore_state(partial), Catch::Contains("missing dataset 'nodes/neurons/g_exc'"));
        REQUIRE(b.steps_done() == 0);
    }
    SECTION("a wrong shape") {
        state_store bad;
        for (const auto& [key, e] : st.entries()) bad.insert(key, e);
        bad.put<float>("nodes/neurons/v", std::vector<float>(299, 0.0f), {1, 299});
        simulation b(net, {.threads = 1});
        REQUIRE_THROWS_WITH(b.restore_state(bad), Catch::Contains("nodes/neurons/v") && Catch::Contains("expected float32 [1, 300]") &&
                                                      Catch::Contains("found float32 [1, 299]"));
    }
    SECTION("a spike index out of range") {
        state_store bad;
        for (const auto& [key, e] : st.entries()) bad.insert(key, e);
        const auto& offsets = st.get<std::uint64_t>("nodes/neurons/history_offsets", {st.entries().at("nodes/neurons/history_offsets").shape[0]});
        std::vector<index_t> spikes(offsets.back(), 0);
        for (std::size_t k = 0; k + 1 < offsets.size(); ++k)
            for (std::uint64_t q = offsets[k]; q < offsets[k + 1]; ++q) spikes[q] = static_cast<index_t>(q - offsets[k]);
        REQUIRE(!spikes.empty());
        spikes.back() = 300;
        bad.put<index_t>("nodes/neurons/history_spikes", std::move(spikes), {offsets.back()});
        simulation b(net, {.threads = 1});
        REQUIRE_THROWS_WITH(b.restore_state(bad), Catch::Contains("history_spikes"));
    }
}
