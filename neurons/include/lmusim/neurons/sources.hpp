#pragma once
// Populations without inputs: spike sources and real-valued input frames.
#include "lmusim/neurons/population.hpp"

namespace lmusim {

class spike_source final : public population {
public:
    spike_source(const spike_source_params& p, double dt, std::size_t size, std::size_t streams);
    bool spiking() const noexcept override { return true; }
    void reset() override {}
    // Arrays: the same trains in every stream. Poisson: stream s draws its own trains.
    void update_range(std::size_t stream, std::size_t begin, std::size_t end, std::uint64_t step,
                      std::vector<index_t>& spikes, float* values) override;

private:
    spike_source_params::mode kind_;
    // arrays, lowered: spikes grouped by step (CSR over steps), neurons ascending within a step
    std::vector<std::uint64_t> step_keys_;
    std::vector<std::uint64_t> step_ptr_;
    std::vector<index_t> step_neurons_;
    // poisson, lowered: per-neuron probability per step
    std::vector<double> prob_;
    std::uint64_t seed_;
};

// Real-valued frames. The simulation writes frame t of each stream into input(0, stream) before
// the update of step t; the update copies it to the output and clears the buffer.
class input_frames final : public population {
public:
    input_frames(std::size_t size, std::size_t streams) : population(size, streams, {size}) {}
    bool spiking() const noexcept override { return false; }
    void reset() override { clear_inputs(); }
    void update_range(std::size_t stream, std::size_t begin, std::size_t end, std::uint64_t step,
                      std::vector<index_t>& spikes, float* values) override;
};

}  // namespace lmusim
