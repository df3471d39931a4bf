// snnTorch-style Leaky and Synaptic populations against hand-computed traces (dyadic values, so
// every float operation is exact) and against the recurrences iterated in double.
#include <catch2/catch.hpp>

#include <vector>

#include "lmusim/neurons/node_kinds.hpp"

using namespace lmusim;

namespace {

// One neuron (index `k` of a population) under constant input `x` for n steps: the membranes
// after each step and the steps with a spike.
template <class Pop>
std::pair<std::vector<float>, std::vector<std::uint64_t>> drive(Pop& pop, std::size_t k, float x, std::uint64_t n) {
    std::vector<float> mem;
    std::vector<std::uint64_t> fired;
    std::vector<index_t> spikes;
    for (std::uint64_t t = 0; t < n; ++t) {
        for (std::size_t i = 0; i < pop.size(); ++i) pop.input(0, 0)[i] = x;
        spikes.clear();
        pop.update_range(0, 0, pop.size(), t, spikes, nullptr);
        for (index_t s : spikes)
            if (s == k) fired.push_back(t);
        if constexpr (requires { pop.mem(0); }) mem.push_back(pop.mem(0)[k]);
    }
    return {mem, fired};
}

// The Leaky recurrence in double: reset from the previous membrane, then spike on the new one.
std::vector<std::uint64_t> leaky_reference(double beta, double thr, double x, leaky_reset r, std::uint64_t n) {
    std::vector<std::uint64_t> out;
    double m = 0;
    for (std::uint64_t t = 0; t < n; ++t) {
        const bool reset = m > thr;
        if (r == leaky_reset::subtract) m = beta * m + x - (reset ? thr : 0);
        else if (r == leaky_reset::zero) m = beta * (reset ? 0 : m) + x;
        else m = beta * m + x;
        if (m > thr) out.push_back(t);
    }
    return out;
}

}  // namespace

TEST_CASE("leaky: subtractive delayed reset, hand-computed trace", "[neurons][leaky]") {
    leaky_params p;
    p.beta = {0.5f};
    p.threshold = {1.0f};
    leaky pop(p, 1, 1);
    const auto [mem, fired] = drive(pop, 0, 0.75f, 6);
    // 0.75; 0.5*0.75+0.75 = 1.125 (spike); 0.5625+0.75-1 = 0.3125; 0.90625; 1.203125 (spike); 0.3515625
    REQUIRE(mem == std::vector<float>{0.75f, 1.125f, 0.3125f, 0.90625f, 1.203125f, 0.3515625f});
    REQUIRE(fired == std::vector<std::uint64_t>{1, 4});
}

TEST_CASE("leaky: the three resets follow their recurrences; per-neuron beta and threshold", "[neurons][leaky]") {
    for (leaky_reset r : {leaky_reset::subtract, leaky_reset::zero, leaky_reset::none}) {
        leaky_params p;
        p.beta = {0.5f, 0.75f, 1.5f};  // 1.5 is clamped to 1
        p.threshold = {1.0f, 2.0f, 4.0f};
        p.reset = r;
        leaky pop(p, 3, 1);
        std::vector<std::vector<std::uint64_t>> got(3);
        std::vector<index_t> spikes;
        for (std::uint64_t t = 0; t < 64; ++t) {
            for (std::size_t i = 0; i < 3; ++i) pop.input(0, 0)[i] = 0.625f;
            spikes.clear();
            pop.update_range(0, 0, 3, t, spikes, nullptr);
            for (index_t s : spikes) got[s].push_back(t);
        }
        INFO("reset " << static_cast<int>(r));
        REQUIRE(got[0] == leaky_reference(0.5, 1.0, 0.625, r, 64));
        REQUIRE(got[1] == leaky_reference(0.75, 2.0, 0.625, r, 64));
        REQUIRE(got[2] == leaky_reference(1.0, 4.0, 0.625, r, 64));
        REQUIRE(!got[2].empty());
    }
}

TEST_CASE("leaky: the reset acts one step late (snnTorch's reset_delay)", "[neurons][leaky]") {
    leaky_params p;
    p.beta = {0.0f};
    p.threshold = {0.5f};
    leaky pop(p, 1, 1);
    // beta 0: mem = x - reset*theta. x = 1 every step: t0 1 (spike), t1 1 - 0.5 = 0.5 (no spike:
    // strict), t2 1 (reset came from 0.5 > 0.5 = false), ...
    const auto [mem, fired] = drive(pop, 0, 1.0f, 4);
    REQUIRE(mem == std::vector<float>{1.0f, 0.5f, 1.0f, 0.5f});
    REQUIRE(fired == std::vector<std::uint64_t>{0, 2});
}

TEST_CASE("synaptic: current then membrane, hand-computed trace", "[neurons][synaptic]") {
    synaptic_params p;
    p.alpha = {0.5f};
    p.beta = {0.5f};
    p.threshold = {1.0f};
    synaptic pop(p, 1, 1);
    // syn: 0.5, 0.75, 0.875, 0.9375; mem: 0.5, 1.0 (not > 1), 1.375 (spike), 0.6875+0.9375-1 = 0.625
    const auto [mem, fired] = drive(pop, 0, 0.5f, 4);
    REQUIRE(fired == std::vector<std::uint64_t>{2});
    synaptic_params q = p;
    q.reset = leaky_reset::none;
    synaptic free(q, 1, 1);
    const auto [mem2, fired2] = drive(free, 0, 0.5f, 5);
    REQUIRE(fired2 == std::vector<std::uint64_t>{2, 3, 4});  // 1.375, 1.6250, 1.7500
}

TEST_CASE("snnTorch kinds: parameter counts and validation", "[neurons][leaky]") {
    leaky_params p;
    p.beta = {0.5f, 0.5f};
    REQUIRE_THROWS_WITH(p.validate({"node 'u'", 3, 1.0}), Catch::Matchers::Contains("beta has 2 values, expected 1"));
    p.beta = {0.5f};
    REQUIRE_NOTHROW(p.validate({"node 'u'", 3, 1.0}));
    REQUIRE(p.parameters(3) == 2);
    synaptic_params s;
    s.alpha = {0.5f, 0.5f};
    REQUIRE_THROWS_WITH(s.validate({"node 's'", 3, 1.0}), Catch::Matchers::Contains("alpha has 2 values"));
}
