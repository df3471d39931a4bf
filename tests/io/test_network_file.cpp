#include <catch2/catch.hpp>

#include <hdf5.h>

#include <cstdio>
#include <fstream>
#include <limits>
#include <string>

#include "scratch.hpp"
#include "lmusim/graph/cuba.hpp"
#include "lmusim/core/error.hpp"
#include "lmusim/io/network_file.hpp"
#include "networks.hpp"

using namespace lmusim;
using namespace lmusim::testing;
using Catch::Matchers::Contains;

namespace {


network mixed() {
    network net = make_cuba({.neurons = 200});
    net.name = "mixed";
    discrete_lif_params d;
    d.tau = 3.0f;
    d.v_threshold = 0.5f;
    d.affine = input_affine::batch_norm({0.1f, 0.2f}, {1.0f, 2.0f}, {1.0f, 0.5f}, {0.0f, 0.3f});
    net.add(node{"dl", 2, d});
    discrete_lif_params u;
    u.affine = input_affine::batch_norm({0.1f, 0.2f}, {1.0f, 2.0f}, {1.0f, 0.5f}, {0.0f, 0.3f}, 1e-5f,
                                        input_affine::form::unfused);
    net.add(node{"ul", 2, u});
    spike_source_params ps;
    ps.kind = spike_source_params::mode::poisson;
    ps.rate_hz = {5.0, 10.0};
    ps.seed = 9;
    net.add(node{"poisson", 2, ps});
    net.add(source("arr", 3, {1, 2}, {2, 0}));
    net.add(node{"feat", 4, input_params{}});
    net.connect(proj("a_dl", "arr", "dl", connectivity::dense, {1, 2, 3, 4, 5, 6}, 2));
    net.connect(proj("p_ul", "poisson", "ul", connectivity::one_to_one, {0.5f, -0.5f}));
    net.connect(proj("f_dl", "feat", "dl", connectivity::dense, {1, 2, 3, 4, 5, 6, 7, 8}));
    return net;
}

}  // namespace

TEST_CASE("save and load a network: every field round-trips", "[io][network]") {
    const network a = mixed();
    const std::string path = fresh_tmp("mixed.h5");
    save_network(a, path);
    const network b = load_network(path);
    REQUIRE(b.name == a.name);
    REQUIRE(b.dt == a.dt);
    REQUIRE(b.nodes.size() == a.nodes.size());
    for (std::size_t i = 0; i < a.nodes.size(); ++i) {
        REQUIRE(b.nodes[i].name == a.nodes[i].name);
        REQUIRE(b.nodes[i].size == a.nodes[i].size);
        REQUIRE(b.nodes[i].kind() == a.nodes[i].kind());
    }
    const auto& ca = std::get<continuous_lif_params>(a.nodes[0].params);
    const auto& cb = std::get<continuous_lif_params>(b.nodes[0].params);
    REQUIRE(cb.v_init == ca.v_init);
    REQUIRE(cb.tau_m == ca.tau_m);
    REQUIRE(cb.t_ref == ca.t_ref);
    const auto& da = std::get<discrete_lif_params>(a.nodes[1].params);
    const auto& db = std::get<discrete_lif_params>(b.nodes[1].params);
    REQUIRE(db.tau == da.tau);
    REQUIRE(db.affine.scale == da.affine.scale);
    REQUIRE(db.affine.shift == da.affine.shift);
    const auto& ua = std::get<discrete_lif_params>(a.nodes[2].params);
    const auto& ub = std::get<discrete_lif_params>(b.nodes[2].params);
    REQUIRE(ub.affine.kind == input_affine::form::unfused);
    REQUIRE(ub.affine.invstd == ua.affine.invstd);
    REQUIRE(ub.affine.beta == ua.affine.beta);
    REQUIRE(std::get<spike_source_params>(b.nodes[3].params).rate_hz == std::vector<double>{5.0, 10.0});
    REQUIRE(std::get<spike_source_params>(b.nodes[3].params).seed == 9);
    REQUIRE(std::get<spike_source_params>(b.nodes[4].params).neurons == std::vector<index_t>{2, 0});
    REQUIRE(b.projections.size() == a.projections.size());
    for (std::size_t p = 0; p < a.projections.size(); ++p) {
        REQUIRE(b.projections[p].name == a.projections[p].name);
        REQUIRE(b.projections[p].kind == a.projections[p].kind);
        REQUIRE(b.projections[p].delay == a.projections[p].delay);
        REQUIRE(b.projections[p].port == a.projections[p].port);
        REQUIRE(b.projections[p].weights == a.projections[p].weights);
        REQUIRE(b.projections[p].sparse.indptr == a.projections[p].sparse.indptr);
        REQUIRE(b.projections[p].sparse.indices == a.projections[p].sparse.indices);
        REQUIRE(b.projections[p].sparse.weights == a.projections[p].sparse.weights);
    }
}

TEST_CASE("loading reports what is wrong, naming the file and the object", "[io][network]") {
    const std::string path = fresh_tmp("broken.h5");
    save_network(mixed(), path);
    auto edit = [&](auto&& f) {
        hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
        f(file);
        H5Fclose(file);
    };
    SECTION("wrong shape") {
        edit([](hid_t f) {
            H5Ldelete(f, "/projections/a_dl/weights", H5P_DEFAULT);
            const hsize_t d[2] = {3, 2};
            hid_t s = H5Screate_simple(2, d, nullptr);
            hid_t ds = H5Dcreate2(f, "/projections/a_dl/weights", H5T_NATIVE_FLOAT, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
            H5Dclose(ds);
            H5Sclose(s);
        });
        REQUIRE_THROWS_WITH(load_network(path), Contains(path) && Contains("/projections/a_dl/weights") &&
                                                    Contains("shape [3, 2], expected [2, 3]"));
    }
    SECTION("wrong dtype") {
        edit([](hid_t f) {
            H5Ldelete(f, "/nodes/dl/affine_scale", H5P_DEFAULT);
            const hsize_t d[1] = {2};
            hid_t s = H5Screate_simple(1, d, nullptr);
            hid_t ds = H5Dcreate2(f, "/nodes/dl/affine_scale", H5T_NATIVE_INT32, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
            H5Dclose(ds);
            H5Sclose(s);
        });
        REQUIRE_THROWS_WITH(load_network(path), Contains("/nodes/dl/affine_scale") && Contains("dtype int32, expected float32"));
    }
    SECTION("missing dataset") {
        edit([](hid_t f) { H5Ldelete(f, "/projections/exc/indptr", H5P_DEFAULT); });
        REQUIRE_THROWS_WITH(load_network(path), Contains("missing dataset '/projections/exc/indptr'"));
    }
    SECTION("missing attribute") {
        edit([](hid_t f) { H5Adelete_by_name(f, "/nodes/neurons", "tau_m", H5P_DEFAULT); });
        REQUIRE_THROWS_WITH(load_network(path), Contains("'/nodes/neurons' lacks attribute 'tau_m'"));
    }
    SECTION("unknown kind") {
        edit([](hid_t f) {
            hid_t g = H5Gopen2(f, "/nodes/dl", H5P_DEFAULT);
            H5Adelete(g, "kind");
            hid_t t = H5Tcopy(H5T_C_S1);
            H5Tset_size(t, 5);
            hid_t s = H5Screate(H5S_SCALAR);
            hid_t a = H5Acreate2(g, "kind", t, s, H5P_DEFAULT, H5P_DEFAULT);
            H5Awrite(a, t, "izhik");
            H5Aclose(a);
            H5Sclose(s);
            H5Tclose(t);
            H5Gclose(g);
        });
        REQUIRE_THROWS_WITH(load_network(path), Contains("/nodes/dl") && Contains("unknown node kind 'izhik'"));
    }
    SECTION("an invalid network inside a well-formed file") {
        edit([](hid_t f) {
            hid_t ds = H5Dopen2(f, "/projections/p_ul/weights", H5P_DEFAULT);
            const float w[2] = {0.5f, std::numeric_limits<float>::infinity()};
            H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, w);
            H5Dclose(ds);
        });
        REQUIRE_THROWS_AS(load_network(path), network_error);
        REQUIRE_THROWS_WITH(load_network(path), Contains(path) && Contains("projection 'p_ul'") && Contains("weight[1]"));
    }
}

TEST_CASE("missing, non-HDF5 and truncated files are clear errors", "[io][network]") {
    REQUIRE_THROWS_WITH(load_network(tmp("does_not_exist.h5")), Contains("does_not_exist.h5") && Contains("No such file"));
    const std::string text = tmp("text.h5");
    std::ofstream(text) << "not hdf5";
    REQUIRE_THROWS_WITH(load_network(text), Contains("is not an HDF5 file"));
    const std::string full = fresh_tmp("full.h5"), cut = fresh_tmp("cut.h5");
    save_network(make_cuba({.neurons = 300}), full);
    std::ifstream in(full, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), {});
    std::ofstream(cut, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
    REQUIRE_THROWS_AS(load_network(cut), file_error);
}

TEST_CASE("saving to an unwritable place fails and leaves nothing behind", "[io][network]") {
    REQUIRE_THROWS_WITH(save_network(mixed(), tmp("no_such_dir/x.h5")), Contains("cannot create") && Contains("no_such_dir"));
}
