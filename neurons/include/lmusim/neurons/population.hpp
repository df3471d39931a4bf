#pragma once
// One population interface for every node kind, and one factory from kind to implementation
// (ARCHITECTURE.md §4.2: a new neuron kind is one case and one file).
//
// State is structure-of-arrays, neurons x streams: stream s of a size-n population occupies
// [s*n, (s+1)*n) of every state array, so independent streams (clips) run side by side.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "lmusim/graph/network.hpp"

namespace lmusim {

class population {
public:
    population(std::size_t size, std::size_t streams, std::size_t ports);
    virtual ~population() = default;
    population(const population&) = delete;
    population& operator=(const population&) = delete;

    std::size_t size() const noexcept { return size_; }
    std::size_t streams() const noexcept { return streams_; }
    std::size_t ports() const noexcept { return ports_; }
    virtual bool spiking() const noexcept = 0;

    // The input buffer of one port and stream (size() floats). The simulation adds delivered
    // weights into it; update_range() consumes and clears it.
    float* input(std::size_t port, std::size_t stream) noexcept {
        return input_.data() + (port * streams_ + stream) * size_;
    }

    // Back to the initial state (and clears the input buffers).
    virtual void reset() = 0;

    // Advance neurons [begin, end) of one stream by one step. Spiking populations append the
    // indices of the neurons that fired, ascending, to `spikes`; real-valued ones write their
    // output for [begin, end) into `values` (the stream's row of size()).
    // Touches only state in [begin, end) of that stream, so disjoint ranges may run in parallel.
    virtual void update_range(std::size_t stream, std::size_t begin, std::size_t end, std::uint64_t step,
                              std::vector<index_t>& spikes, float* values) = 0;

protected:
    void clear_inputs();

private:
    std::size_t size_, streams_, ports_;
    std::vector<float> input_;  // [port][stream][neuron]
};

// Builds the implementation of a validated node for a step of dt milliseconds.
std::unique_ptr<population> make_population(const node& n, double dt, std::size_t streams);

}  // namespace lmusim
