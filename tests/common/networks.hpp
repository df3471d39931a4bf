#pragma once
// Canned networks for tests (ARCHITECTURE.md §4.9).
#include <vector>

#include "lmusim/graph/network.hpp"

namespace lmusim::testing {

// A spike source of `n` neurons firing exactly the given (step, neuron) pairs.
inline node source(std::string name, std::size_t n, std::vector<std::uint64_t> steps, std::vector<index_t> neurons) {
    spike_source_params p;
    p.kind = spike_source_params::mode::arrays;
    p.steps = std::move(steps);
    p.neurons = std::move(neurons);
    return node{std::move(name), n, p};
}

// A discrete LIF population with tau 2, threshold 1 (spikingjelly defaults).
inline node dlif(std::string name, std::size_t n, float threshold = 1.0f, float tau = 2.0f) {
    discrete_lif_params p;
    p.tau = tau;
    p.v_threshold = threshold;
    return node{std::move(name), n, p};
}

inline projection proj(std::string name, std::string src, std::string tgt, connectivity kind, std::vector<float> w,
                       std::uint32_t delay = 0) {
    projection p;
    p.name = std::move(name);
    p.source = std::move(src);
    p.target = std::move(tgt);
    p.kind = kind;
    p.weights = std::move(w);
    p.delay = delay;
    return p;
}

}  // namespace lmusim::testing
