#pragma once
// What a run produced, for tests that compare runs which must agree bit for bit (thread counts,
// tiles, groups, block sizes).
#include <vector>

#include "lmusim/sim/memory_recorder.hpp"
#include "lmusim/sim/simulation.hpp"

namespace lmusim::testing {

struct run_outcome {
    std::vector<spike_event> spikes;    // every spiking node's recorded spikes, node by node
    std::vector<std::uint64_t> counts;  // spike counts, node by node, [stream][neuron]
    std::vector<op_counts> ops;         // per projection, then stream
    friend bool operator==(const run_outcome&, const run_outcome&) = default;
};

inline run_outcome collect_outcome(const simulation& sim, const memory_recorder& rec) {
    run_outcome o;
    const network& net = sim.net();
    for (std::size_t i = 0; i < net.nodes.size(); ++i) {
        if (net.nodes[i].spiking()) o.spikes.insert(o.spikes.end(), rec.spikes(i).begin(), rec.spikes(i).end());
        const auto c = sim.spike_counts(i);
        o.counts.insert(o.counts.end(), c.begin(), c.end());
    }
    for (std::size_t p = 0; p < net.projections.size(); ++p)
        for (std::size_t s = 0; s < sim.ctx().streams; ++s) o.ops.push_back(sim.ops(p, s));
    return o;
}

}  // namespace lmusim::testing
