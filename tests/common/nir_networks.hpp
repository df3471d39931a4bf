#pragma once
// A network of every NIR kind (sim/ and io/ tests): real-valued frames through conv2d and an
// average pool, spikes through a sum pool and a grouped conv2d, every NIR node kind, a delayed
// spike projection, biases, per-neuron parameters, both discretizations and both resets.
#include <vector>

#include "checkpoint_networks.hpp"
#include "networks.hpp"

namespace lmusim::testing {

// conv2d geometry: [in_c, in_h, in_w, out_c, kh, kw, stride_h, stride_w, pad_top, pad_bottom,
// pad_left, pad_right, dil_h, dil_w, groups]
inline projection conv2d_proj(std::string name, std::string src, std::string tgt, std::vector<std::uint64_t> g,
                              unsigned seed, float lo = -1.0f, float hi = 1.0f) {
    const std::size_t nw = g[3] * (g[0] / g[14]) * g[4] * g[5];
    projection p = proj(std::move(name), std::move(src), std::move(tgt), connectivity::conv2d, uniform_vec(nw, seed, lo, hi));
    p.geometry = std::move(g);
    return p;
}

// sum_pool2d geometry: [channels, in_h, in_w, kh, kw, stride_h, stride_w, pad_top, pad_bottom,
// pad_left, pad_right]
inline projection pool_proj(std::string name, std::string src, std::string tgt, std::vector<std::uint64_t> g, float scale) {
    projection p = proj(std::move(name), std::move(src), std::move(tgt), connectivity::sum_pool2d, {scale});
    p.geometry = std::move(g);
    return p;
}

inline network nir_network() {
    network net;
    net.name = "nir_all";
    net.add(node{"img", 2 * 6 * 6, input_params{}});

    nir_cuba_lif_params cl;
    cl.tau_syn = {0.004f};
    {
        const std::vector<float> t = uniform_vec(4 * 36, 21, 0.005f, 0.02f);
        cl.tau_mem.assign(t.begin(), t.end());
    }
    cl.w_in = {1.5f};
    cl.v_threshold = {0.4f};
    cl.v_reset = {-0.1f};
    cl.discretization = nir_discretization::exact;
    net.add(node{"lif1", 4 * 36, cl});

    nir_if_params ifp;
    ifp.r = {0.5f};
    ifp.v_threshold = {1.0f};
    ifp.reset = nir_reset::subtract;
    net.add(node{"if1", 4 * 9, ifp});

    nir_lif_params lp;
    {
        const std::vector<float> t = uniform_vec(18, 22, 0.003f, 0.01f);
        lp.tau.assign(t.begin(), t.end());
    }
    lp.r = {2.0f};
    lp.v_leak = {0.05f};
    lp.v_threshold = {0.3f};
    lp.reset = nir_reset::subtract;
    net.add(node{"lif2", 18, lp});

    nir_li_params li;
    li.tau = {0.004f};
    li.v_leak = uniform_vec(8, 23, -0.1f, 0.1f);
    li.discretization = nir_discretization::exact;
    net.add(node{"li", 8, li});

    nir_integrator_params ip;
    ip.r = uniform_vec(8, 24, 0.1f, 0.5f);
    net.add(node{"integ", 8, ip});

    threshold_params tp;
    tp.threshold = uniform_vec(8, 25, 0.0f, 1.5f);
    net.add(node{"thr", 8, tp});

    nir_delay_params dp;
    dp.delay_steps = {0, 1, 2, 3, 5, 8, 1, 0};
    net.add(node{"dly", 8, dp});

    nir_cuba_li_params cli;
    cli.w_in = {0.5f, 1.0f, 1.5f, 2.0f, 0.5f, 1.0f, 1.5f, 2.0f};
    net.add(node{"cli", 8, cli});

    // img [2, 6, 6] -> conv 3x3 pad 1 -> [4, 6, 6]
    projection c1 = conv2d_proj("c1", "img", "lif1", {2, 6, 6, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1}, 31, -0.6f, 0.9f);
    c1.bias = uniform_vec(4 * 36, 32, -0.1f, 0.2f);
    net.connect(c1);
    // lif1 spikes [4, 6, 6] -> sum pool 2x2 stride 2 -> [4, 3, 3]
    net.connect(pool_proj("p1", "lif1", "if1", {4, 6, 6, 2, 2, 2, 2, 0, 0, 0, 0}, 1.0f));
    // if1 spikes [4, 3, 3] -> grouped conv 2x2, asymmetric padding, 2 groups -> [2, 3, 3]
    net.connect(conv2d_proj("c2", "if1", "lif2", {4, 3, 3, 2, 2, 2, 1, 1, 0, 1, 1, 0, 1, 1, 2}, 33, -0.5f, 1.5f));
    // img [2, 6, 6] -> average pool 3x3 stride 3 -> [2, 2, 2]
    net.connect(pool_proj("p2", "img", "li", {2, 6, 6, 3, 3, 3, 3, 0, 0, 0, 0}, 1.0f / 9.0f));
    net.connect(proj("li_integ", "li", "integ", connectivity::identity, {}));
    net.connect(proj("integ_thr", "integ", "thr", connectivity::identity, {}));
    net.connect(proj("thr_dly", "thr", "dly", connectivity::identity, {}, 1));
    net.connect(proj("dly_cli", "dly", "cli", connectivity::identity, {}));
    net.connect(proj("lif2_cli", "lif2", "cli", connectivity::dense, uniform_vec(8 * 18, 34, -0.3f, 0.5f)));
    return net;
}

// Frames [T][streams][72] for the network's input "img".
inline std::vector<float> nir_frames(std::size_t frames, std::size_t streams, unsigned seed) {
    return uniform_vec(frames * streams * 72, seed, -0.5f, 1.5f);
}

}  // namespace lmusim::testing
