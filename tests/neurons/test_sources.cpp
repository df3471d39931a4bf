#include <catch2/catch.hpp>

#include <cmath>

#include "lmusim/neurons/node_kinds.hpp"

using namespace lmusim;

TEST_CASE("array spike source emits exactly its spikes, in any range split", "[neurons][source]") {
    spike_source_params p;
    p.steps = {3, 1, 3, 3};
    p.neurons = {4, 2, 0, 9};
    spike_source src(p, 0.1, 10, 2);
    std::vector<index_t> out;
    src.update_range(0, 0, 10, 3, out, nullptr);
    REQUIRE(out == std::vector<index_t>{0, 4, 9});
    out.clear();
    src.update_range(1, 0, 5, 3, out, nullptr);
    src.update_range(1, 5, 10, 3, out, nullptr);
    REQUIRE(out == std::vector<index_t>{0, 4, 9});
    out.clear();
    src.update_range(0, 0, 10, 2, out, nullptr);
    REQUIRE(out.empty());
}

TEST_CASE("Poisson source: rate and reproducibility", "[neurons][source]") {
    spike_source_params p;
    p.kind = spike_source_params::mode::poisson;
    p.rate_hz = {50.0};
    p.seed = 7;
    const double dt = 1.0;  // ms: probability 0.05 per step
    spike_source a(p, dt, 1000, 2), b(p, dt, 1000, 2);
    std::uint64_t total = 0;
    std::vector<index_t> sa, sb, s1;
    bool streams_differ = false;
    for (std::uint64_t t = 0; t < 200; ++t) {
        sa.clear();
        sb.clear();
        s1.clear();
        a.update_range(0, 0, 1000, t, sa, nullptr);
        b.update_range(0, 0, 500, t, sb, nullptr);
        b.update_range(0, 500, 1000, t, sb, nullptr);
        a.update_range(1, 0, 1000, t, s1, nullptr);
        REQUIRE(sa == sb);
        streams_differ = streams_differ || sa != s1;
        total += sa.size();
    }
    REQUIRE(streams_differ);
    const double mean = 0.05 * 1000 * 200, sd = std::sqrt(mean * 0.95);
    REQUIRE(std::abs(static_cast<double>(total) - mean) < 6 * sd);
}
