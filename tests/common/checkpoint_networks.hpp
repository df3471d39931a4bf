#pragma once
// Canned networks for the checkpoint tests (sim/ and io/): state in every kind of population and
// events in flight on delayed projections.
#include <random>

#include "lmusim/graph/connectivity.hpp"
#include "lmusim/graph/cuba.hpp"
#include "networks.hpp"

namespace lmusim::testing {

inline std::vector<float> uniform_vec(std::size_t n, unsigned seed, float lo = -1.0f, float hi = 1.0f) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> u(lo, hi);
    std::vector<float> v(n);
    for (float& x : v) x = u(rng);
    return v;
}

// CUBA (continuous LIF with refractory period and synaptic currents) with delays of 3 and 5 steps
// and a Poisson drive on a 2-step delay, so that spikes are in flight at every step boundary.
inline network delayed_cuba(std::size_t n = 1000) {
    network net = driven_cuba(n, {.size = 300, .rate_hz = 25.0, .seed = 5, .p = 0.03, .w = 0.6f, .conn_seed = 17, .delay = 2});
    for (projection& p : net.projections)
        if (p.name != "drive_exc") p.delay = p.name == "exc" ? 3 : 5;
    return net;
}

// A small LMUFormer-like frame network: input -> conv1d (look-ahead) -> LIF -> dense -> u LIF ->
// LMU memory (impulse response for the first 6 frames, then the recurrence; or the recurrence
// throughout) -> m LIF -> readout, a residual analog node, and a delayed feedback projection.
inline network small_lmuformer(lmu_memory_params::mode mode) {
    const std::size_t C = 4, N = 8, M = 5, K = 3;
    network net;
    net.name = "small_lmuformer";
    net.add(node{"input", C, input_params{}});
    net.add(dlif("a", N, 0.6f));
    net.add(dlif("u", 1, 0.5f));
    lmu_memory_params mp;
    mp.kind = mode;
    mp.a = uniform_vec(M * M, 3, -0.35f, 0.35f);
    mp.b = uniform_vec(M, 4);
    const std::size_t L = 6;
    mp.h.assign(M * L, 0.0f);
    std::vector<float> col = mp.b;
    for (std::size_t k = 0; k < L; ++k) {
        for (std::size_t r = 0; r < M; ++r) mp.h[r * L + k] = col[r];
        std::vector<float> next(M, 0.0f);
        for (std::size_t r = 0; r < M; ++r)
            for (std::size_t c = 0; c < M; ++c) next[r] += mp.a[r * M + c] * col[c];
        col = next;
    }
    net.add(node{"memory", M, mp});
    net.add(dlif("m", M, 0.3f));
    analog_params ap;
    net.add(node{"x", N, ap});
    readout_params rp;
    rp.input_size = M;
    rp.weight = uniform_vec(3 * M, 9);
    rp.bias = uniform_vec(3, 10);
    net.add(node{"head", 3, rp});

    projection conv = proj("embed", "input", "a", connectivity::conv1d, uniform_vec(N * C * K, 1, -1.5f, 1.5f));
    conv.kernel = K;
    net.connect(conv);
    net.connect(proj("w_u", "a", "u", connectivity::dense, uniform_vec(N, 2, 0.0f, 1.0f)));
    net.connect(proj("u_mem", "u", "memory", connectivity::identity, {}));
    net.connect(proj("mem_m", "memory", "m", connectivity::identity, {}));
    net.connect(proj("m_head", "m", "head", connectivity::identity, {}));
    net.connect(proj("res_a", "a", "x", connectivity::identity, {}));
    net.connect(proj("res_m", "m", "x", connectivity::dense, uniform_vec(N * M, 6)));
    net.connect(proj("feedback", "m", "a", connectivity::dense, uniform_vec(N * M, 7, -0.5f, 0.5f), 2));
    return net;
}

// Frames [T][streams][4] of smooth random features.
inline std::vector<float> small_features(std::size_t frames, std::size_t streams, unsigned seed) {
    return uniform_vec(frames * streams * 4, seed, -1.0f, 2.0f);
}

}  // namespace lmusim::testing
