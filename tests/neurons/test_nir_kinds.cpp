// The NIR node kinds (nir_lif, nir_li, nir_cuba_lif, nir_cuba_li, nir_if, nir_integrator,
// threshold, nir_delay) against hand-computed traces (dyadic values: every float operation is
// exact), closed forms, and a straightforward float32 loop written here on random parameters and
// inputs (bit-identical: the kinds promise that order of operations).
#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <vector>

#include "lmusim/neurons/node_kinds.hpp"

using namespace lmusim;
using Catch::Matchers::Contains;

namespace {

// A run of a population: per step the spikes (spiking kinds) or the values (real-valued kinds),
// and the state v after each step (when the kind exposes it).
struct trace {
    std::vector<std::vector<index_t>> spikes;
    std::vector<std::vector<float>> values, v;
};

// Drives `pop` (one stream) with inputs[t][i] for every step, updating [0, split) and [split, n)
// separately when split is given (results must not depend on it).
template <class Pop>
trace drive(Pop& pop, const std::vector<std::vector<float>>& inputs, std::size_t split = 0) {
    trace out;
    const std::size_t n = pop.size();
    for (std::size_t t = 0; t < inputs.size(); ++t) {
        for (std::size_t i = 0; i < n; ++i) pop.input(0, 0)[i] = inputs[t][i];
        std::vector<index_t> spikes;
        std::vector<float> values(n, -1.0f);
        if (split > 0 && split < n) {
            pop.update_range(0, 0, split, t, spikes, values.data());
            pop.update_range(0, split, n, t, spikes, values.data());
        } else {
            pop.update_range(0, 0, n, t, spikes, values.data());
        }
        out.spikes.push_back(spikes);
        out.values.push_back(values);
        if constexpr (requires { pop.v(0); }) out.v.emplace_back(pop.v(0).begin(), pop.v(0).end());
        for (std::size_t i = 0; i < n; ++i) REQUIRE(pop.input(0, 0)[i] == 0.0f);  // the input is consumed
    }
    return out;
}

std::vector<std::vector<float>> constant(std::size_t steps, std::size_t n, float x) {
    return std::vector<std::vector<float>>(steps, std::vector<float>(n, x));
}

std::vector<float> column(const std::vector<std::vector<float>>& rows, std::size_t i) {
    std::vector<float> out;
    for (const auto& r : rows) out.push_back(r[i]);
    return out;
}

std::vector<std::uint64_t> steps_with(const std::vector<std::vector<index_t>>& spikes, index_t i) {
    std::vector<std::uint64_t> out;
    for (std::size_t t = 0; t < spikes.size(); ++t)
        for (index_t s : spikes[t])
            if (s == i) out.push_back(t);
    return out;
}

const node_context ctx3{"node 'n'", 3, 1.0};

}  // namespace

// ----------------------------------------------------------------------------------------------
// nir_lif

TEST_CASE("nir_lif: hand-computed trace, both resets", "[neurons][nir]") {
    nir_lif_params p;
    p.dt = 0.25;
    p.tau = {1.0f};  // euler k = 0.25
    p.r = {0.5f};
    p.v_leak = {0.25f};
    p.v_threshold = {1.0f};
    p.v_reset = {-0.5f};
    // x = 3: a = 1.5. t0: c = 0.25 + 1.5 = 1.75, v = 0.4375; t1: c = 1.3125, v = 0.765625;
    // t2: c = 0.984375, v = 1.01171875 > 1: spike.
    {
        nir_lif pop(p, 1, 1);
        const trace tr = drive(pop, constant(6, 1, 3.0f));
        REQUIRE(column(tr.v, 0) == std::vector<float>{0.4375f, 0.765625f, -0.5f, 0.0625f, 0.484375f, 0.80078125f});
        REQUIRE(steps_with(tr.spikes, 0) == std::vector<std::uint64_t>{2});
    }
    p.reset = nir_reset::subtract;
    {
        nir_lif pop(p, 1, 1);
        const trace tr = drive(pop, constant(6, 1, 3.0f));
        REQUIRE(column(tr.v, 0) ==
                std::vector<float>{0.4375f, 0.765625f, 0.01171875f, 0.4462890625f, 0.772216796875f, 0.01666259765625f});
        REQUIRE(steps_with(tr.spikes, 0) == std::vector<std::uint64_t>{2, 5});
    }
}

TEST_CASE("nir_lif: the threshold is strict", "[neurons][nir]") {
    nir_lif_params p;
    p.dt = 1.0;
    p.tau = {1.0f};  // k = 1: v = v_leak + r x in one step
    p.v_threshold = {1.0f};
    nir_lif pop(p, 1, 1);
    const trace tr = drive(pop, {{1.0f}, {1.0f}, {1.5f}});
    REQUIRE(column(tr.v, 0) == std::vector<float>{1.0f, 1.0f, 0.0f});
    REQUIRE(steps_with(tr.spikes, 0) == std::vector<std::uint64_t>{2});
}

TEST_CASE("nir_lif: constant input follows the closed forms until the first spike", "[neurons][nir]") {
    const double dt = 1e-3, tau = 0.02;
    const float r = 1.5f, v_leak = -0.2f, x = 1.0f, thr = 1.0f;
    const double v_inf = double(v_leak) + double(r) * double(x);  // 1.3 > thr: it fires
    for (nir_discretization d : {nir_discretization::euler, nir_discretization::exact}) {
        nir_lif_params p;
        p.dt = dt;
        p.tau = {static_cast<float>(tau)};
        p.r = {r};
        p.v_leak = {v_leak};
        p.v_threshold = {thr};
        p.discretization = d;
        nir_lif pop(p, 1, 1);
        const trace tr = drive(pop, constant(200, 1, x));
        // euler: v_n = v_inf + (1 - dt/tau)^n (0 - v_inf); exact: v_n = v_inf - exp(-n dt/tau) v_inf
        const double tau_f = double(static_cast<float>(tau));
        std::uint64_t first = 0;
        while (true) {
            const double n = double(first + 1);
            const double decay = d == nir_discretization::euler ? std::pow(1.0 - dt / tau_f, n) : std::exp(-n * dt / tau_f);
            const double v = v_inf - decay * v_inf;
            INFO("discretization " << int(d) << ", step " << first);
            if (v > thr) break;
            REQUIRE(tr.v[first][0] == Approx(v).epsilon(1e-5));
            REQUIRE(tr.spikes[first].empty());
            ++first;
        }
        REQUIRE(first > 20);  // dozens of steps compared
        REQUIRE(steps_with(tr.spikes, 0).at(0) == first);
        REQUIRE(pop.step_factor()[0] ==
                static_cast<float>(d == nir_discretization::euler ? dt / tau_f : -std::expm1(-dt / tau_f)));
    }
}

TEST_CASE("nir_lif: random parameters and inputs equal a plain float32 loop, bit for bit", "[neurons][nir]") {
    const std::size_t n = 37, T = 300;
    std::mt19937 rng(11);
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    for (nir_discretization d : {nir_discretization::euler, nir_discretization::exact})
        for (nir_reset rs : {nir_reset::zero, nir_reset::subtract}) {
            nir_lif_params p;
            p.dt = 1e-3;
            p.discretization = d;
            p.reset = rs;
            p.tau.clear();
            p.r.clear();
            p.v_leak.clear();
            p.v_threshold.clear();
            for (std::size_t i = 0; i < n; ++i) {
                p.tau.push_back(0.002f + 0.05f * u(rng));
                p.r.push_back(0.5f + 2.0f * u(rng));
                p.v_leak.push_back(-0.3f + 0.6f * u(rng));
                p.v_threshold.push_back(0.5f + u(rng));
            }
            p.v_reset = {-0.125f};  // one value for the population
            p.validate({"node 'n'", n, 1.0});
            std::vector<std::vector<float>> xs(T, std::vector<float>(n));
            for (auto& row : xs)
                for (float& x : row) x = 3.0f * u(rng) - 1.0f;

            nir_lif pop(p, n, 1);
            const trace tr = drive(pop, xs, n / 3);
            // The reference: every neuron, every step, in the documented order.
            std::vector<float> v(n, 0.0f);
            for (std::size_t t = 0; t < T; ++t) {
                std::vector<index_t> want_spikes;
                for (std::size_t i = 0; i < n; ++i) {
                    const double ratio = p.dt / double(p.tau[i]);
                    const float k = static_cast<float>(d == nir_discretization::euler ? ratio : -std::expm1(-ratio));
                    const float a = p.r[i] * xs[t][i];
                    const float c = (p.v_leak[i] - v[i]) + a;
                    v[i] = v[i] + k * c;
                    if (v[i] > p.v_threshold[i]) {
                        want_spikes.push_back(static_cast<index_t>(i));
                        v[i] = rs == nir_reset::zero ? p.v_reset[0] : v[i] - p.v_threshold[i];
                    }
                }
                INFO("step " << t);
                REQUIRE(tr.v[t] == v);
                REQUIRE(tr.spikes[t] == want_spikes);
            }
            std::size_t total = 0;
            for (const auto& s : tr.spikes) total += s.size();
            REQUIRE(total > 100);
        }
}

TEST_CASE("nir_lif: validation names the field, counts", "[neurons][nir]") {
    nir_lif_params p;
    REQUIRE_NOTHROW(p.validate(ctx3));
    p.tau = {0.01f, 0.02f};
    REQUIRE_THROWS_WITH(p.validate(ctx3), Contains("node 'n': tau has 2 values, expected 1 (the population) or 3"));
    p.tau = {0.01f, -0.02f, 0.01f};
    REQUIRE_THROWS_WITH(p.validate(ctx3), Contains("tau[1] = -0.02, expected > 0"));
    p.tau = {0.01f};
    p.v_reset = {0.0f, 1.0f};
    REQUIRE_THROWS_WITH(p.validate(ctx3), Contains("v_reset has 2 values"));
    p.v_reset = {0.0f};
    p.r = {INFINITY};
    REQUIRE_THROWS_WITH(p.validate(ctx3), Contains("r[0] = inf is not finite"));
    p.r = {1.0f};
    p.dt = 0.0;
    REQUIRE_THROWS_WITH(p.validate(ctx3), Contains("dt = 0, expected a finite value > 0"));
    p.dt = 1.0;
    p.tau = {1e-44f};
    REQUIRE_THROWS_WITH(p.validate(ctx3), Contains("beyond float32"));
    p.tau = {0.01f, 0.01f, 0.01f};
    REQUIRE(p.parameters(3) == 3 + 1 + 1 + 1 + 1);
    REQUIRE(p.elementwise_per_step(3, 2) == 3);
}

TEST_CASE("nir kinds: membrane updates count the neurons whose v changed", "[neurons][nir]") {
    nir_if_params p;
    p.v_threshold = {10.0f};
    nir_if pop(p, 4, 1);
    // Step 0 counts every neuron; then only neurons with nonzero input move.
    drive(pop, {{0, 0, 0, 0}, {1, 0, 2, 0}, {0, 0, 0, 0}, {0, 1, 0, 0}});
    REQUIRE(pop.own_ops(0).membrane == 4 + 2 + 0 + 1);
    pop.reset();
    REQUIRE(pop.own_ops(0).membrane == 0);
}

// ----------------------------------------------------------------------------------------------
// nir_li

TEST_CASE("nir_li: outputs v after the update, per-neuron parameters, exact discretization", "[neurons][nir]") {
    nir_li_params p;
    p.dt = 0.5;
    p.tau = {1.0f, 0.5f};  // euler k = 0.5 and 1
    p.r = {2.0f, 1.0f};
    p.v_leak = {0.0f, 0.25f};
    nir_li pop(p, 2, 1);
    // Neuron 0: x = 1: v = 0 + 0.5*(0 - 0 + 2) = 1, then 1 + 0.5*(-1 + 2) = 1.5, then 1.75.
    // Neuron 1 (k = 1): v = 0.25 + x = 1.25 every step.
    const trace tr = drive(pop, constant(3, 2, 1.0f));
    REQUIRE(column(tr.values, 0) == std::vector<float>{1.0f, 1.5f, 1.75f});
    REQUIRE(column(tr.values, 1) == std::vector<float>{1.25f, 1.25f, 1.25f});
    REQUIRE(tr.v == tr.values);
    REQUIRE(p.parameters(2) == 6);

    nir_li_params e;
    e.dt = 1e-3;
    e.tau = {0.01f};
    e.discretization = nir_discretization::exact;
    nir_li ex(e, 1, 1);
    const trace te = drive(ex, constant(50, 1, 2.0f));
    for (std::size_t t = 0; t < 50; ++t)
        REQUIRE(te.values[t][0] == Approx(2.0 * (1.0 - std::exp(-double(t + 1) * 1e-3 / double(0.01f)))).epsilon(1e-5));
}

// ----------------------------------------------------------------------------------------------
// nir_cuba_lif, nir_cuba_li

TEST_CASE("nir_cuba_lif: the membrane reads the current updated in the same step", "[neurons][nir]") {
    nir_cuba_lif_params p;
    p.dt = 0.5;
    p.tau_syn = {1.0f};  // ks = 0.5
    p.tau_mem = {1.0f};  // km = 0.5
    p.w_in = {2.0f};
    p.r = {1.0f};
    p.v_leak = {0.0f};
    p.v_threshold = {0.5f};
    p.v_reset = {-1.0f};
    nir_cuba_lif pop(p, 1, 1);
    // x = 0.5 at step 0 only. I: 0 + 0.5*(1 - 0) = 0.5, then 0.5 + 0.5*(0 - 0.5) = 0.25, 0.125.
    // v (from the new I): 0.5*(0 + 0.5) = 0.25; 0.25 + 0.5*(-0.25 + 0.25) = 0.25; 0.25 + 0.5*(-0.125) = 0.1875.
    // (With the previous step's I, v would be 0 after step 0.)
    std::vector<float> cur;
    trace tr;
    for (const float x : {0.5f, 0.0f, 0.0f}) {
        const trace one = drive(pop, {{x}});
        tr.v.push_back(one.v[0]);
        cur.push_back(pop.current(0)[0]);
        REQUIRE(one.spikes[0].empty());
    }
    REQUIRE(cur == std::vector<float>{0.5f, 0.25f, 0.125f});
    REQUIRE(column(tr.v, 0) == std::vector<float>{0.25f, 0.25f, 0.1875f});
}

TEST_CASE("nir_cuba_lif: resets touch v only, random case equals a plain float32 loop", "[neurons][nir]") {
    const std::size_t n = 29, T = 400;
    std::mt19937 rng(5);
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    for (nir_discretization d : {nir_discretization::euler, nir_discretization::exact})
        for (nir_reset rs : {nir_reset::zero, nir_reset::subtract}) {
            nir_cuba_lif_params p;
            p.dt = 1e-3;
            p.discretization = d;
            p.reset = rs;
            p.tau_syn.clear();
            p.tau_mem.clear();
            p.w_in.clear();
            p.v_reset.clear();
            for (std::size_t i = 0; i < n; ++i) {
                p.tau_syn.push_back(0.002f + 0.01f * u(rng));
                p.tau_mem.push_back(0.005f + 0.03f * u(rng));
                p.w_in.push_back(0.5f + 3.0f * u(rng));
                p.v_reset.push_back(-0.25f * u(rng));
            }
            p.r = {1.25f};
            p.v_leak = {0.0625f};
            p.v_threshold = {0.75f};
            p.validate({"node 'n'", n, 1.0});
            std::vector<std::vector<float>> xs(T, std::vector<float>(n));
            for (auto& row : xs)
                for (float& x : row) x = 2.0f * u(rng) - 0.5f;
            nir_cuba_lif pop(p, n, 1);
            const trace tr = drive(pop, xs, 10);
            auto factor = [&](float tau) {
                const double ratio = p.dt / double(tau);
                return static_cast<float>(d == nir_discretization::euler ? ratio : -std::expm1(-ratio));
            };
            std::vector<float> cur(n, 0.0f), v(n, 0.0f);
            std::size_t total = 0;
            for (std::size_t t = 0; t < T; ++t) {
                std::vector<index_t> want;
                for (std::size_t i = 0; i < n; ++i) {
                    const float a = p.w_in[i] * xs[t][i];
                    const float c = a - cur[i];
                    cur[i] = cur[i] + factor(p.tau_syn[i]) * c;
                    const float a2 = p.r[0] * cur[i];
                    const float c2 = (p.v_leak[0] - v[i]) + a2;
                    v[i] = v[i] + factor(p.tau_mem[i]) * c2;
                    if (v[i] > p.v_threshold[0]) {
                        want.push_back(static_cast<index_t>(i));
                        v[i] = rs == nir_reset::zero ? p.v_reset[i] : v[i] - p.v_threshold[0];
                    }
                }
                INFO("step " << t);
                REQUIRE(tr.v[t] == v);
                REQUIRE(tr.spikes[t] == want);
                total += want.size();
            }
            REQUIRE(std::vector<float>(pop.current(0).begin(), pop.current(0).end()) == cur);  // never reset
            REQUIRE(total > 100);
        }
}

TEST_CASE("nir_cuba_li: current then membrane, real-valued output", "[neurons][nir]") {
    nir_cuba_li_params p;
    p.dt = 0.5;
    p.tau_syn = {1.0f};
    p.tau_mem = {0.5f};  // km = 1: v = v_leak + r I
    p.w_in = {2.0f};
    p.r = {0.5f};
    p.v_leak = {0.125f};
    nir_cuba_li pop(p, 1, 1);
    // I: 0.5*(2*1) = 1, then 1 + 0.5*(2 - 1) = 1.5, 1.75; v = 0.125 + 0.5 I.
    const trace tr = drive(pop, constant(3, 1, 1.0f));
    REQUIRE(column(tr.values, 0) == std::vector<float>{0.625f, 0.875f, 1.0f});
    REQUIRE(p.elementwise_per_step(4, 1) == 8);
    REQUIRE(p.parameters(4) == 5);
    p.tau_mem = {0.0f};
    REQUIRE_THROWS_WITH(p.validate({"node 'c'", 1, 1.0}), Contains("node 'c': tau_mem[0] = 0, expected > 0"));
}

// ----------------------------------------------------------------------------------------------
// nir_if, nir_integrator, threshold

TEST_CASE("nir_if: v + r x, strict threshold, both resets", "[neurons][nir]") {
    nir_if_params p;
    p.r = {0.5f};
    p.v_threshold = {1.0f};
    p.v_reset = {0.25f};
    {
        nir_if pop(p, 1, 1);
        // x = 1: 0.5, 1.0 (= threshold: no spike), 1.5 (spike) -> 0.25, 0.75, 1.25 (spike) -> 0.25
        const trace tr = drive(pop, constant(6, 1, 1.0f));
        REQUIRE(column(tr.v, 0) == std::vector<float>{0.5f, 1.0f, 0.25f, 0.75f, 0.25f, 0.75f});
        REQUIRE(steps_with(tr.spikes, 0) == std::vector<std::uint64_t>{2, 4});
    }
    p.reset = nir_reset::subtract;
    {
        nir_if pop(p, 1, 1);
        // 0.5, 1.0, 1.5 -> 0.5, 1.0, 1.5 -> 0.5
        const trace tr = drive(pop, constant(6, 1, 1.0f));
        REQUIRE(column(tr.v, 0) == std::vector<float>{0.5f, 1.0f, 0.5f, 1.0f, 0.5f, 1.0f});
        REQUIRE(steps_with(tr.spikes, 0) == std::vector<std::uint64_t>{2, 4});
    }
}

TEST_CASE("nir_integrator: v + r x, per neuron", "[neurons][nir]") {
    nir_integrator_params p;
    p.r = {1.0f, -0.5f};
    nir_integrator pop(p, 2, 1);
    const trace tr = drive(pop, {{1.0f, 1.0f}, {0.5f, 2.0f}, {-2.0f, 0.0f}});
    REQUIRE(column(tr.values, 0) == std::vector<float>{1.0f, 1.5f, -0.5f});
    REQUIRE(column(tr.values, 1) == std::vector<float>{-0.5f, -1.5f, -1.5f});
    REQUIRE(p.parameters(2) == 2);
    p.r = {1.0f, 2.0f, 3.0f};
    REQUIRE_THROWS_WITH(p.validate({"node 'i'", 2, 1.0}), Contains("r has 3 values"));
}

TEST_CASE("threshold: spike where x > threshold (strict), stateless", "[neurons][nir]") {
    threshold_params p;
    p.threshold = {0.5f, 0.0f, -1.0f};
    threshold_gate pop(p, 3, 1);
    const trace tr = drive(pop, {{0.5f, 0.0f, -1.0f},                                     // all equal: none
                                 {0.50000006f, 1e-30f, -0.99999994f},                     // just above: all
                                 {0.25f, -1.0f, -0.5f},                                   // only neuron 2
                                 {0.5f, 0.0f, -1.0f}});                                   // no memory
    REQUIRE(tr.spikes == std::vector<std::vector<index_t>>{{}, {0, 1, 2}, {2}, {}});
    REQUIRE(p.elementwise_per_step(3, 1) == 3);
    REQUIRE(pop.own_ops(0).membrane == 0);
    p.threshold = {0.0f, 1.0f};
    REQUIRE_THROWS_WITH(p.validate(ctx3), Contains("threshold has 2 values"));
}

// ----------------------------------------------------------------------------------------------
// nir_delay

TEST_CASE("nir_delay: output(t) = x(t - d), zero before the start, d = 0 passes through", "[neurons][nir]") {
    nir_delay_params p;
    p.delay_steps = {0, 1, 3};
    nir_delay pop(p, 3, 1);
    REQUIRE(pop.depth() == 4);
    std::vector<std::vector<float>> xs;
    for (std::size_t t = 0; t < 12; ++t)
        xs.push_back({float(t + 1), float(10 * (t + 1)), float(100 * (t + 1))});
    const trace tr = drive(pop, xs, 1);
    for (std::size_t t = 0; t < 12; ++t) {
        INFO("step " << t);
        REQUIRE(tr.values[t][0] == xs[t][0]);
        REQUIRE(tr.values[t][1] == (t >= 1 ? xs[t - 1][1] : 0.0f));
        REQUIRE(tr.values[t][2] == (t >= 3 ? xs[t - 3][2] : 0.0f));
    }
    REQUIRE(p.parameters(3) == 0);
    REQUIRE(p.elementwise_per_step(3, 1) == 0);
}

TEST_CASE("nir_delay: a restored ring buffer continues exactly, validation", "[neurons][nir]") {
    nir_delay_params p;
    p.delay_steps = {5};
    nir_delay a(p, 2, 2), b(p, 2, 2);
    std::vector<float> out(2);
    std::vector<index_t> none;
    for (std::uint64_t t = 0; t < 7; ++t)
        for (std::size_t s = 0; s < 2; ++s) {
            a.input(0, s)[0] = float(t + 1) + float(s);
            a.input(0, s)[1] = -float(t + 1);
            a.update_range(s, 0, 2, t, none, out.data());
        }
    state_store st;
    a.save_state(st, "nodes/d/");
    REQUIRE(st.contains("nodes/d/ring"));
    b.load_state(st, "nodes/d/");
    for (std::uint64_t t = 7; t < 14; ++t)
        for (std::size_t s = 0; s < 2; ++s) {
            std::vector<float> oa(2), ob(2);
            for (nir_delay* pop : {&a, &b}) {
                pop->input(0, s)[0] = float(t + 1) + float(s);
                pop->input(0, s)[1] = -float(t + 1);
            }
            a.update_range(s, 0, 2, t, none, oa.data());
            b.update_range(s, 0, 2, t, none, ob.data());
            REQUIRE(oa == ob);
            REQUIRE(ob[0] == float(t - 5 + 1) + float(s));
        }
    p.delay_steps = {1, 2};
    REQUIRE_THROWS_WITH(p.validate(ctx3), Contains("delay_steps has 2 values, expected 1 (the population) or 3"));
    p.delay_steps = {1, 2, 2'000'000};
    REQUIRE_THROWS_WITH(p.validate(ctx3), Contains("delay_steps[2] = 2000000, expected <= 1000000"));
}

// ----------------------------------------------------------------------------------------------
// every kind: registered, state saved and restored, reset

TEST_CASE("nir kinds: registered by name, save_state/load_state continue exactly, reset clears", "[neurons][nir]") {
    for (std::string_view kind : {"nir_lif", "nir_li", "nir_cuba_lif", "nir_cuba_li", "nir_if", "nir_integrator",
                                  "threshold", "nir_delay"}) {
        INFO(kind);
        node_params params = default_node_params(kind);
        REQUIRE(kind_name(params) == kind);
        std::visit([&](auto& p) {
            using P = std::decay_t<decltype(p)>;
            REQUIRE_FALSE(P::frame_input);
            if constexpr (requires { p.delay_steps; }) p.delay_steps = {2};
            if constexpr (requires { p.v_threshold; }) p.v_threshold = {0.75f};
            REQUIRE(p.input_ports() == 1);
            REQUIRE(p.port_size(0, 5) == 5);
            p.validate({"node 'k'", 5, 1.0});
            const auto a = make_population(p, {5, 2, 1.0});
            const auto b = make_population(p, {5, 2, 1.0});
            std::mt19937 rng(3);
            std::uniform_real_distribution<float> u(-0.5f, 2.0f);
            std::vector<float> xs(60 * 2 * 5);
            for (float& x : xs) x = u(rng);
            auto step = [&](population& pop, std::uint64_t t, std::size_t s, std::vector<index_t>& spk, std::vector<float>& val) {
                for (std::size_t i = 0; i < 5; ++i) pop.input(0, s)[i] = xs[(t * 2 + s) * 5 + i];
                spk.clear();
                pop.update_range(s, 0, 5, t, spk, val.data());
            };
            std::vector<index_t> sa, sb;
            std::vector<float> va(5), vb(5);
            std::size_t fired = 0;
            for (std::uint64_t t = 0; t < 30; ++t)
                for (std::size_t s = 0; s < 2; ++s) step(*a, t, s, sa, va);
            state_store st;
            a->save_state(st, "n/");
            b->load_state(st, "n/");
            for (std::uint64_t t = 30; t < 60; ++t)
                for (std::size_t s = 0; s < 2; ++s) {
                    step(*a, t, s, sa, va);
                    step(*b, t, s, sb, vb);
                    REQUIRE(sa == sb);
                    REQUIRE(va == vb);
                    fired += sa.size();
                }
            if (P::spiking) REQUIRE(fired > 0);
            REQUIRE(b->own_ops(1) == a->own_ops(1));
            // After reset, the first steps equal a fresh population's.
            a->reset();
            const auto fresh = make_population(p, {5, 2, 1.0});
            for (std::uint64_t t = 0; t < 5; ++t) {
                step(*a, t, 0, sa, va);
                step(*fresh, t, 0, sb, vb);
                REQUIRE(sa == sb);
                REQUIRE(va == vb);
            }
        }, params);
    }
}
