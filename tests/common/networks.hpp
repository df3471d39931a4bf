#pragma once
// Canned networks for tests (docs/design.md §9).
#include <vector>

#include "lmusim/graph/connectivity.hpp"
#include "lmusim/graph/cuba.hpp"
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

// The CUBA network of `n` neurons plus a Poisson drive "drive" -> "neurons" (fixed probability
// p, weight w, on a `delay`-step projection "drive_exc"), so several populations are exercised.
struct poisson_drive {
    std::size_t size = 500;
    double rate_hz = 20.0;
    std::uint64_t seed = 3;
    double p = 0.02;
    float w = 0.5f;
    std::uint64_t conn_seed = 11;
    std::uint32_t delay = 0;
};
inline network driven_cuba(std::size_t n, const poisson_drive& d = {}) {
    cuba_params cp;
    cp.neurons = n;
    network net = make_cuba(cp);
    spike_source_params ps;
    ps.kind = spike_source_params::mode::poisson;
    ps.rate_hz = {d.rate_hz};
    ps.seed = d.seed;
    net.add(node{"drive", d.size, ps});
    projection p;
    p.name = "drive_exc";
    p.source = "drive";
    p.target = "neurons";
    p.kind = connectivity::sparse;
    p.delay = d.delay;
    p.sparse = fixed_probability(d.size, n, d.p, d.w, d.conn_seed);
    net.connect(p);
    return net;
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
