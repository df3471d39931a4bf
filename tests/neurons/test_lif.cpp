#include <catch2/catch.hpp>

#include <cmath>

#include "lmusim/neurons/node_kinds.hpp"

using namespace lmusim;

namespace {

// Steps (0-based) at which a discrete LIF fires under constant input x, run for n steps.
std::vector<std::uint64_t> discrete_spike_steps(discrete_lif& lif, float x, std::uint64_t n) {
    std::vector<std::uint64_t> out;
    std::vector<index_t> spikes;
    for (std::uint64_t t = 0; t < n; ++t) {
        lif.input(0, 0)[0] = x;
        spikes.clear();
        lif.update_range(0, 0, 1, t, spikes, nullptr);
        if (!spikes.empty()) out.push_back(t);
    }
    return out;
}

}  // namespace

TEST_CASE("discrete LIF: first spike under constant input matches the closed form", "[neurons][lif]") {
    // From v = 0: h_t = x (1 - (1 - 1/tau)^(t+1)); the first spike is the smallest t with h_t >= theta.
    struct c {
        float tau, theta, x;
    };
    for (const c k : {c{2, 1, 1.5f}, c{2, 1, 1.1f}, c{2, 0.5f, 0.6f}, c{4, 1, 1.3f}, c{3, 1, 2.5f}, c{2, 1, 3.0f}}) {
        discrete_lif_params p;
        p.tau = k.tau;
        p.v_threshold = k.theta;
        discrete_lif lif(p, 1, 1);
        std::uint64_t expected = 0;
        while (k.x * (1.0 - std::pow(1.0 - 1.0 / k.tau, expected + 1.0)) < k.theta) ++expected;
        const auto steps = discrete_spike_steps(lif, k.x, 200);
        INFO("tau " << k.tau << " theta " << k.theta << " x " << k.x);
        REQUIRE(!steps.empty());
        REQUIRE(steps[0] == expected);
        // Hard reset: the train is periodic with period expected + 1.
        for (std::size_t i = 1; i < steps.size(); ++i) REQUIRE(steps[i] - steps[i - 1] == expected + 1);
    }
}

TEST_CASE("discrete LIF: threshold is inclusive and the reset is hard", "[neurons][lif]") {
    discrete_lif_params p;  // tau 2, theta 1
    discrete_lif lif(p, 2, 1);
    std::vector<index_t> spikes;
    lif.input(0, 0)[0] = 2.0f;  // h = 0 + (2 - 0) / 2 = 1.0 exactly: fires (>=)
    lif.input(0, 0)[1] = 1.5f;  // h = 0.75: does not fire
    lif.update_range(0, 0, 2, 0, spikes, nullptr);
    REQUIRE(spikes == std::vector<index_t>{0});
    REQUIRE(lif.v(0)[0] == 0.0f);
    REQUIRE(lif.v(0)[1] == 0.75f);
    // Inputs were consumed.
    REQUIRE(lif.input(0, 0)[0] == 0.0f);
    spikes.clear();
    lif.input(0, 0)[1] = -0.25f;  // h = 0.75 + (-0.25 - 0.75) / 2 = 0.25
    lif.update_range(0, 0, 2, 1, spikes, nullptr);
    REQUIRE(spikes.empty());
    REQUIRE(lif.v(0)[1] == 0.25f);
    // Non-zero v_reset: h = v + (x - (v - v_reset)) / tau, reset to v_reset.
    discrete_lif_params q;
    q.v_reset = -1.0f;
    discrete_lif l2(q, 1, 1);
    REQUIRE(l2.v(0)[0] == -1.0f);
    l2.input(0, 0)[0] = 3.0f;  // h = -1 + (3 - 0) / 2 = 0.5
    spikes.clear();
    l2.update_range(0, 0, 1, 0, spikes, nullptr);
    REQUIRE(l2.v(0)[0] == 0.5f);
    l2.input(0, 0)[0] = 3.0f;  // h = 0.5 + (3 - 1.5) / 2 = 1.25: fires, v = -1
    l2.update_range(0, 0, 1, 1, spikes, nullptr);
    REQUIRE(spikes == std::vector<index_t>{0});
    REQUIRE(l2.v(0)[0] == -1.0f);
}

TEST_CASE("discrete LIF: the BatchNorm input affine", "[neurons][lif]") {
    const std::vector<float> mean{0.5f, -1.0f}, var{4.0f, 0.25f}, gamma{2.0f, 1.0f}, beta{0.1f, 0.0f};
    const input_affine a = input_affine::batch_norm(mean, var, gamma, beta, 1e-5f);
    REQUIRE(a.kind == input_affine::form::fused);
    const float invstd0 = 1.0f / std::sqrt(4.0f + 1e-5f);
    REQUIRE(a.scale[0] == invstd0 * 2.0f);
    REQUIRE(a.shift[0] == std::fma(-0.5f, invstd0 * 2.0f, 0.1f));
    discrete_lif_params p;
    p.affine = a;
    discrete_lif lif(p, 2, 1);
    std::vector<index_t> spikes;
    // Neuron 0: y = fma(2.5, scale, shift) = (2.5 - 0.5) / 2 * 2 + 0.1 ~= 2.1: fires from rest.
    // Neuron 1: y = (x + 1) / 0.5 = 0.8 for x = -0.6: h = 0.4, no spike.
    lif.input(0, 0)[0] = 2.5f;
    lif.input(0, 0)[1] = -0.6f;
    lif.update_range(0, 0, 2, 0, spikes, nullptr);
    REQUIRE(spikes == std::vector<index_t>{0});
    const float y1 = std::fma(-0.6f, a.scale[1], a.shift[1]);
    REQUIRE(lif.v(0)[1] == 0.5f * y1);
    // Unfused form: ((x - mean) * invstd) * gamma + beta, each step rounded.
    const input_affine u = input_affine::batch_norm(mean, var, gamma, beta, 1e-5f, input_affine::form::unfused);
    discrete_lif_params q;
    q.affine = u;
    discrete_lif l2(q, 2, 1);
    l2.input(0, 0)[1] = -0.6f;
    spikes.clear();
    l2.update_range(0, 0, 2, 0, spikes, nullptr);
    const float yu = ((-0.6f - (-1.0f)) * u.invstd[1]) * 1.0f + 0.0f;
    REQUIRE(l2.v(0)[1] == 0.5f * yu);
}

namespace {

continuous_lif_params cuba_neuron() { return continuous_lif_params{}; }

std::vector<std::uint64_t> continuous_spike_steps(continuous_lif& lif, std::uint64_t n) {
    std::vector<std::uint64_t> out;
    std::vector<index_t> spikes;
    for (std::uint64_t t = 0; t < n; ++t) {
        spikes.clear();
        lif.update_range(0, 0, 1, t, spikes, nullptr);
        if (!spikes.empty()) out.push_back(t);
    }
    return out;
}

}  // namespace

TEST_CASE("continuous LIF: first spike under constant drive matches the closed form", "[neurons][lif]") {
    // v(t) = v_inf + (v0 - v_inf) exp(-t / tau_m) crosses theta at t* = tau_m ln((v0 - v_inf)/(theta - v_inf)).
    // Exact integration: after step k (0-based) v = v(t = (k+1) dt); first spike at the first k with
    // (k+1) dt > t*.
    for (double v0 : {-60.0, -55.0, -52.3}) {
        continuous_lif_params p = cuba_neuron();  // v_inf = -49 mV > theta = -50 mV
        p.v_init = {static_cast<float>(v0)};
        const double dt = 0.1;
        continuous_lif lif(p, dt, 1, 1);
        const double t_star = p.tau_m * std::log((v0 - p.v_rest) / (p.v_threshold - p.v_rest));
        const auto expected = static_cast<std::uint64_t>(std::floor(t_star / dt));  // (k+1) dt > t*
        INFO("v0 " << v0 << " t* " << t_star);
        REQUIRE(std::abs(t_star / dt - std::round(t_star / dt)) > 0.01);  // not on a step boundary
        const auto steps = continuous_spike_steps(lif, 2000);
        REQUIRE(!steps.empty());
        REQUIRE(steps[0] == expected);
    }
}

TEST_CASE("continuous LIF: refractory period and periodic firing", "[neurons][lif]") {
    continuous_lif_params p = cuba_neuron();
    p.v_init = {-50.5f};
    const double dt = 0.1;
    continuous_lif lif(p, dt, 1, 1);
    REQUIRE(lif.lowered().ref_steps == 49);  // held for steps n+1 .. n+49; integrates again at n+50
    const auto steps = continuous_spike_steps(lif, 20000);
    REQUIRE(steps.size() >= 3);
    // From reset: 50 steps refractory (49 held + the spike step), then climb from -60 mV:
    // t* = 20 ln(11) = 47.958 ms -> 480 steps of integration; period = 49 + 480 + 1 = 530 steps.
    const double t_climb = p.tau_m * std::log((p.v_reset - p.v_rest) / (p.v_threshold - p.v_rest));
    const auto climb = static_cast<std::uint64_t>(std::floor(t_climb / dt)) + 1;
    for (std::size_t i = 1; i < steps.size(); ++i) REQUIRE(steps[i] - steps[i - 1] == 49 + climb);
    // During the refractory period v stays exactly at v_reset.
    continuous_lif l2(p, dt, 1, 1);
    std::vector<index_t> spikes;
    std::uint64_t t = 0;
    for (; t < 1000; ++t) {
        spikes.clear();
        l2.update_range(0, 0, 1, t, spikes, nullptr);
        if (!spikes.empty()) break;
    }
    for (int k = 0; k < 49; ++k) {
        l2.update_range(0, 0, 1, ++t, spikes, nullptr);
        REQUIRE(l2.v(0)[0] == -60.0f);
    }
    l2.update_range(0, 0, 1, ++t, spikes, nullptr);
    REQUIRE(l2.v(0)[0] > -60.0f);
}

TEST_CASE("continuous LIF: a synaptic input follows the exact PSP", "[neurons][lif]") {
    // At rest (v = v_inf) a weight w on port 0 at step 0 gives
    // v(k dt) - v_inf = w tau_e / (tau_e - tau_m) (exp(-k dt / tau_e) - exp(-k dt / tau_m)).
    continuous_lif_params p = cuba_neuron();
    p.v_rest = 0.0;  // below threshold, and near 0 so float32 round-off stays ~1e-7
    p.v_threshold = 10.0;
    const double dt = 0.1, w = 2.0;
    for (std::uint32_t port : {0u, 1u}) {
        continuous_lif lif(p, dt, 1, 1);
        const double tau_s = port == 0 ? p.tau_exc : p.tau_inh;
        lif.input(port, 0)[0] = static_cast<float>(w);
        std::vector<index_t> spikes;
        for (int k = 1; k <= 300; ++k) {
            lif.update_range(0, 0, 1, static_cast<std::uint64_t>(k - 1), spikes, nullptr);
            const double t = k * dt;
            const double expected = w * tau_s / (tau_s - p.tau_m) * (std::exp(-t / tau_s) - std::exp(-t / p.tau_m));
            REQUIRE(lif.v(0)[0] == Approx(expected).margin(1e-6));
        }
        REQUIRE(spikes.empty());
    }
}
