#include <catch2/catch.hpp>

#include <cmath>

#include "lmusim/graph/connectivity.hpp"
#include "lmusim/graph/cuba.hpp"
#include "lmusim/core/error.hpp"

using namespace lmusim;
using Catch::Matchers::Contains;

TEST_CASE("csr_from_pairs groups by source and sorts targets", "[graph]") {
    const std::vector<index_t> src{1, 0, 1, 0}, tgt{3, 2, 0, 1};
    const std::vector<float> w{1, 2, 3, 4};
    const csr c = csr_from_pairs(3, src, tgt, w);
    REQUIRE(c.indptr == std::vector<std::uint64_t>{0, 2, 4, 4});
    REQUIRE(c.indices == std::vector<index_t>{1, 2, 0, 3});
    REQUIRE(c.weights == std::vector<float>{4, 2, 3, 1});
    const std::vector<index_t> dup_src{0, 0}, dup_tgt{1, 1};
    const std::vector<float> dup_w{1, 1};
    REQUIRE_THROWS_WITH(csr_from_pairs(1, dup_src, dup_tgt, dup_w), Contains("row 0 connects to target 1 twice"));
}

TEST_CASE("fixed_probability is reproducible and has the right density", "[graph]") {
    const std::size_t n = 2000;
    const double p = 0.05;
    const csr a = fixed_probability(n, n, p, 0.5f, 42);
    const csr b = fixed_probability(n, n, p, 0.5f, 42);
    const csr c = fixed_probability(n, n, p, 0.5f, 43);
    REQUIRE(a.indices == b.indices);
    REQUIRE(a.indptr == b.indptr);
    REQUIRE(a.indices != c.indices);
    // Binomial(n^2, p): mean 200000, sd ~436; allow 6 sd.
    const double mean = p * n * n, sd = std::sqrt(mean * (1 - p));
    REQUIRE(std::abs(static_cast<double>(a.nnz()) - mean) < 6 * sd);
    for (std::size_t r = 0; r < n; ++r)
        for (std::uint64_t k = a.indptr[r] + 1; k < a.indptr[r + 1]; ++k) REQUIRE(a.indices[k] > a.indices[k - 1]);
    // Every target column is hit at about the same rate (no bias towards low indices).
    std::vector<std::size_t> hits(n, 0);
    for (index_t t : a.indices) ++hits[t];
    std::size_t low = 0, high = 0;
    for (std::size_t t = 0; t < n; ++t) (t < n / 2 ? low : high) += hits[t];
    REQUIRE(std::abs(static_cast<double>(low) - static_cast<double>(high)) < 6 * std::sqrt(mean));
}

TEST_CASE("fixed_probability honours the source range and self-connections", "[graph]") {
    const csr c = fixed_probability(100, 100, 1.0, 1.0f, 1, 10, 20, false);
    for (std::size_t r = 0; r < 100; ++r) {
        const std::size_t len = c.indptr[r + 1] - c.indptr[r];
        REQUIRE(len == (r >= 10 && r < 20 ? 99u : 0u));
    }
    REQUIRE_THROWS_WITH(fixed_probability(10, 10, 1.5, 1.0f, 1), Contains("p = 1.5"));
}

TEST_CASE("the CUBA network matches Brian2's definition", "[graph][cuba]") {
    const network net = make_cuba({});
    REQUIRE_NOTHROW(net.validate());
    REQUIRE(net.nodes.size() == 1);
    REQUIRE(net.nodes[0].size == 4000);
    const auto& lif = std::get<continuous_lif_params>(net.nodes[0].params);
    REQUIRE(lif.tau_m == 20.0);
    REQUIRE(lif.tau_exc == 5.0);
    REQUIRE(lif.tau_inh == 10.0);
    REQUIRE(lif.v_threshold == -50.0);
    REQUIRE(lif.v_reset == -60.0);
    REQUIRE(lif.v_rest == -49.0);
    REQUIRE(lif.t_ref == 5.0);
    for (float v : lif.v_init) REQUIRE((v >= -60.0f && v <= -50.0f));
    const projection& exc = net.projections[0];
    const projection& inh = net.projections[1];
    REQUIRE(exc.sparse.weights[0] == Approx(1.62f));
    REQUIRE(inh.sparse.weights[0] == -9.0f);
    REQUIRE(exc.delay == 1);
    REQUIRE(exc.port == 0);
    REQUIRE(inh.port == 1);
    // Only excitatory sources (0..3199) in exc, only inhibitory ones in inh.
    REQUIRE(exc.sparse.indptr[3200] == exc.sparse.indptr[4000]);
    REQUIRE(inh.sparse.indptr[3200] == 0);
    // p = 0.02: about 256000 + 64000 synapses (6 sd bounds).
    REQUIRE(std::abs(static_cast<double>(exc.sparse.nnz()) - 256000.0) < 6 * std::sqrt(256000.0));
    REQUIRE(std::abs(static_cast<double>(inh.sparse.nnz()) - 64000.0) < 6 * std::sqrt(64000.0));
}
