#include "lmusim/sim/memory_recorder.hpp"

namespace lmusim {

void memory_recorder::begin(const simulation& sim, std::uint64_t) { spikes_.resize(sim.net().nodes.size()); }

void memory_recorder::record_step(const simulation& sim) {
    const std::uint64_t step = sim.steps_done() - 1;
    for (std::size_t i = 0; i < spikes_.size(); ++i) {
        if (!sim.net().nodes[i].spiking()) continue;
        for (std::size_t s = 0; s < sim.ctx().streams; ++s)
            for (index_t k : sim.spikes(i, s)) spikes_[i].push_back({step, static_cast<std::uint32_t>(s), k});
    }
}

}  // namespace lmusim
