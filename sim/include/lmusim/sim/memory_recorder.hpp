#pragma once
// Records every spike in memory as (step, stream, neuron) per node. For tests and small runs:
// memory grows with the spike count (use the HDF5 recorder in io/ for long runs).
#include <cstdint>
#include <vector>

#include "lmusim/sim/simulation.hpp"

namespace lmusim {

struct spike_event {
    std::uint64_t step;
    std::uint32_t stream;
    index_t neuron;
    friend bool operator==(const spike_event&, const spike_event&) = default;
};

class memory_recorder final : public recorder {
public:
    void begin(const simulation& sim, std::uint64_t steps) override;
    void record_step(const simulation& sim) override;
    void end(const simulation&) override {}

    // Spikes of node i in the order recorded (step, then stream, then neuron ascending).
    const std::vector<spike_event>& spikes(std::size_t node) const { return spikes_.at(node); }

private:
    std::vector<std::vector<spike_event>> spikes_;
};

}  // namespace lmusim
