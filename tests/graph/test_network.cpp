#include <catch2/catch.hpp>

#include "lmusim/core/error.hpp"
#include "lmusim/graph/network.hpp"
#include "networks.hpp"

using namespace lmusim;
using namespace lmusim::testing;
using Catch::Matchers::Contains;

namespace {

network two_layer() {
    network net;
    net.add(source("in", 3, {0}, {0}));
    net.add(dlif("out", 2));
    net.connect(proj("w", "in", "out", connectivity::dense, std::vector<float>(6, 0.5f)));
    return net;
}

}  // namespace

TEST_CASE("a valid network validates", "[graph]") { REQUIRE_NOTHROW(two_layer().validate()); }

TEST_CASE("validate names the culprit and the bad value", "[graph]") {
    auto expect = [](network net, const std::string& a, const std::string& b) {
        REQUIRE_THROWS_MATCHES(net.validate(), network_error, Catch::Matchers::Predicate<network_error>([&](const network_error& e) {
                                   const std::string m = e.what();
                                   return m.find(a) != std::string::npos && m.find(b) != std::string::npos;
                               }, "message names " + a + " and " + b));
    };
    {
        network n = two_layer();
        n.projections[0].weights.resize(5);
        expect(n, "projection 'w'", "5 dense weights, expected 2 x 3 = 6");
    }
    {
        network n = two_layer();
        n.nodes[1].size = 0;
        expect(n, "node 'out'", "size 0");
    }
    {
        network n = two_layer();
        n.nodes[1].name = "in";
        expect(n, "node 'in'", "already exists");
    }
    {
        network n = two_layer();
        n.nodes[0].name = "a/b";
        n.projections[0].source = "a/b";
        expect(n, "'a/b'", "contains '/'");
    }
    {
        network n = two_layer();
        n.projections[0].target = "nowhere";
        expect(n, "projection 'w'", "target node 'nowhere' does not exist");
    }
    {
        network n = two_layer();
        n.projections[0].source = "out";
        n.projections[0].target = "in";
        expect(n, "projection 'w'", "spike_source node, which takes no input");
    }
    {
        network n = two_layer();
        n.projections[0].port = 3;
        expect(n, "projection 'w'", "port 3");
    }
    {
        network n = two_layer();
        n.projections[0].weights[4] = std::numeric_limits<float>::quiet_NaN();
        expect(n, "projection 'w'", "weight[4]");
    }
    {
        network n = two_layer();
        std::get<discrete_lif_params>(n.nodes[1].params).tau = 0.5f;
        expect(n, "node 'out'", "tau = 0.5");
    }
    {
        network n = two_layer();
        auto& p = std::get<discrete_lif_params>(n.nodes[1].params);
        p.affine = input_affine::scale_shift({1.0f}, {0.0f, 0.0f});
        expect(n, "node 'out'", "affine scale has 1 values, expected 2");
    }
    {
        network n = two_layer();
        std::get<spike_source_params>(n.nodes[0].params).neurons[0] = 7;
        expect(n, "node 'in'", "neuron 7, expected < 3");
    }
    {
        network n = two_layer();
        n.dt = -1;
        expect(n, "dt = -1", "expected a finite value > 0");
    }
    {
        network n = two_layer();
        n.nodes[1].size = max_population_size + 1;
        expect(n, "node 'out'", "exceeds the maximum");
    }
}

TEST_CASE("validate checks CSR structure", "[graph]") {
    network n;
    n.add(source("in", 2, {}, {}));
    n.add(dlif("out", 3));
    projection p = proj("s", "in", "out", connectivity::sparse, {});
    p.sparse.indptr = {0, 2, 3};
    p.sparse.indices = {0, 2, 1};
    p.sparse.weights = {1, 1, 1};
    n.connect(p);
    REQUIRE_NOTHROW(n.validate());
    n.projections[0].sparse.indices = {2, 0, 1};
    REQUIRE_THROWS_WITH(n.validate(), Contains("projection 's'") && Contains("row 0") && Contains("not strictly ascending"));
    n.projections[0].sparse.indices = {0, 5, 1};
    REQUIRE_THROWS_WITH(n.validate(), Contains("row 0 targets neuron 5, expected < 3"));
    n.projections[0].sparse.indices = {0, 2, 1};
    n.projections[0].sparse.indptr = {0, 9, 3};  // found by fuzzing: a row past the end
    REQUIRE_THROWS_WITH(n.validate(), Contains("indptr[1] = 9 exceeds the synapse count 3"));
    n.projections[0].sparse.indptr = {0, 2};
    REQUIRE_THROWS_WITH(n.validate(), Contains("indptr has 2 entries, expected source size + 1 = 3"));
}

TEST_CASE("zero-delay cycles are rejected, delayed ones accepted", "[graph]") {
    network n;
    n.add(dlif("a", 2));
    n.add(dlif("b", 2));
    n.connect(proj("ab", "a", "b", connectivity::one_to_one, {1, 1}));
    n.connect(proj("ba", "b", "a", connectivity::one_to_one, {1, 1}));
    REQUIRE_THROWS_WITH(n.validate(), Contains("cycle") && Contains("'a'") && Contains("'b'"));
    n.projections[1].delay = 1;
    REQUIRE_NOTHROW(n.validate());
    n.connect(proj("aa", "a", "a", connectivity::one_to_one, {1, 1}));
    REQUIRE_THROWS_WITH(n.validate(), Contains("projection 'aa'") && Contains("to itself"));
}

TEST_CASE("topological order follows zero-delay edges, declaration order otherwise", "[graph]") {
    network n;
    n.add(dlif("c", 1));
    n.add(dlif("b", 1));
    n.add(source("a", 1, {}, {}));
    n.connect(proj("bc", "b", "c", connectivity::dense, {1}));
    n.connect(proj("ab", "a", "b", connectivity::dense, {1}));
    REQUIRE(n.topological_order() == std::vector<std::size_t>{2, 1, 0});
}
