// The NIR kinds in files: a network of all of them survives save -> load field for field (every
// field a kind describes, visited generically) and runs identically; a checkpoint file of it
// continues the run exactly.
#include <catch2/catch.hpp>

#include <hdf5.h>

#include <sstream>
#include <string>

#include "nir_networks.hpp"
#include "scratch.hpp"
#include "lmusim/core/error.hpp"
#include "lmusim/core/strings.hpp"
#include "lmusim/io/checkpoint.hpp"
#include "lmusim/io/network_file.hpp"
#include "lmusim/sim/memory_recorder.hpp"

using namespace lmusim;
using namespace lmusim::testing;
using Catch::Matchers::Contains;

namespace {

// Writes every field a kind describes (core/fields.hpp) as text, exactly (hex floats).
struct field_text {
    std::size_t n;
    std::ostringstream out;
    std::size_t size() const { return n; }
    template <class T> void put(const T& v) {
        if constexpr (std::is_floating_point_v<T>) out << std::hexfloat << v << ' ';
        else out << +v << ' ';
    }
    template <class T> void attr(const char* name, T& v) {
        out << name << '=';
        put(v);
    }
    void count(const char* name, std::size_t& v) { out << name << '=' << v << ' '; }
    template <class E> void choice(const char* name, E& v, choices<E>) { out << name << '=' << int(v) << ' '; }
    template <class T> void array(const char* name, std::vector<T>& d, const std::vector<std::size_t>&, presence = presence::required) {
        out << name << "=[";
        for (const T& x : d) put(x);
        out << "] ";
    }
    void affine(const char*, input_affine& a) { out << "affine=" << int(a.kind) << ' '; }
};

std::string describe(const network& net) {
    std::string all;
    for (const node& nd : net.nodes) {
        field_text t{nd.size, {}};
        std::visit([&](const auto& p) { const_cast<std::decay_t<decltype(p)>&>(p).fields(t); }, nd.params);
        all += cat(nd.name, ' ', nd.kind(), ' ', nd.size, ": ", t.out.str(), '\n');
    }
    for (const projection& p : net.projections) {
        field_text t{0, {}};
        std::vector<std::uint64_t> g = p.geometry;
        std::vector<float> w = p.weights, b = p.bias;
        t.array("geometry", g, {});
        t.array("weights", w, {});
        t.array("bias", b, {});
        all += cat(p.name, ' ', to_string(p.kind), ' ', p.source, "->", p.target, " delay ", p.delay, ": ", t.out.str(), '\n');
    }
    return all;
}

std::vector<spike_event> run_all(const network& net, std::uint64_t T, std::vector<std::vector<float>>* values = nullptr) {
    simulation sim(net, {.threads = 1});
    sim.push_frames("img", nir_frames(T, 1, 5));
    memory_recorder rec;
    for (std::uint64_t t = 0; t < T; ++t) {
        sim.run(1, {.rec = &rec});
        if (values)
            for (std::size_t i = 0; i < net.nodes.size(); ++i)
                if (!net.nodes[i].spiking()) values->emplace_back(sim.values(i).begin(), sim.values(i).end());
    }
    std::vector<spike_event> out;
    for (std::size_t i = 0; i < net.nodes.size(); ++i) out.insert(out.end(), rec.spikes(i).begin(), rec.spikes(i).end());
    return out;
}

}  // namespace

TEST_CASE("NIR kinds: a network file round-trips every field and runs identically", "[io][network][nir]") {
    const network a = nir_network();
    const std::string path = fresh_tmp("nir_all.h5");
    save_network(a, path);
    const network b = load_network(path);
    const std::string da = describe(a), db = describe(b);
    REQUIRE(da == db);
    // The description covers the new kinds' fields (so the comparison above means something).
    for (const char* field : {"nir_cuba_lif 144: tau_syn=[", "tau_mem=[", "w_in=[", "dt=", "discretization=1", "reset=1",
                              "nir_delay 8: delay_steps=[0 1 2 3 5 8 1 0 ]", "threshold 8: threshold=[",
                              "nir_integrator 8: r=[", "conv2d img->lif1 delay 0: geometry=[2 6 6 4 3 3 1 1 1 1 1 1 1 1 1 ]",
                              "sum_pool2d lif1->if1 delay 0: geometry=[4 6 6 2 2 2 2 0 0 0 0 ]"})
        REQUIRE_THAT(da, Contains(field));
    std::vector<std::vector<float>> va, vb;
    const auto sa = run_all(a, 40, &va), sb = run_all(b, 40, &vb);
    REQUIRE(sa == sb);
    REQUIRE(va == vb);
    REQUIRE(!sa.empty());
}

TEST_CASE("NIR kinds: what the file stores, and clear errors for a bad geometry or choice", "[io][network][nir]") {
    const std::string path = fresh_tmp("nir_layout.h5");
    save_network(nir_network(), path);
    hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    auto dims = [&](const char* name) {
        hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
        hid_t s = H5Dget_space(ds);
        std::vector<hsize_t> d(static_cast<std::size_t>(H5Sget_simple_extent_ndims(s)));
        H5Sget_simple_extent_dims(s, d.data(), nullptr);
        hid_t t = H5Dget_type(ds);
        const bool u64 = H5Tget_class(t) == H5T_INTEGER && H5Tget_size(t) == 8 && H5Tget_sign(t) == H5T_SGN_NONE;
        H5Tclose(t);
        H5Sclose(s);
        H5Dclose(ds);
        return std::pair{d, u64};
    };
    REQUIRE(dims("/projections/c1/weights").first == std::vector<hsize_t>{4, 2, 3, 3});
    REQUIRE(dims("/projections/c2/weights").first == std::vector<hsize_t>{2, 2, 2, 2});
    REQUIRE(dims("/projections/c1/geometry") == std::pair{std::vector<hsize_t>{15}, true});
    REQUIRE(dims("/projections/p1/geometry") == std::pair{std::vector<hsize_t>{11}, true});
    REQUIRE(dims("/projections/p1/weights").first == std::vector<hsize_t>{1});
    REQUIRE(dims("/nodes/dly/delay_steps") == std::pair{std::vector<hsize_t>{8}, true});
    REQUIRE(dims("/nodes/lif2/tau").first == std::vector<hsize_t>{18});
    REQUIRE(dims("/nodes/lif2/r").first == std::vector<hsize_t>{1});
    // A geometry of the wrong length is named by the reader.
    H5Ldelete(f, "/projections/p1/geometry", H5P_DEFAULT);
    const hsize_t d[1] = {10};
    hid_t s = H5Screate_simple(1, d, nullptr);
    hid_t ds = H5Dcreate2(f, "/projections/p1/geometry", H5T_NATIVE_UINT64, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dclose(ds);
    H5Sclose(s);
    H5Fclose(f);
    REQUIRE_THROWS_WITH(load_network(path), Contains("/projections/p1/geometry") && Contains("shape [10], expected [11]"));
    // A choice outside its names.
    save_network(nir_network(), path, if_exists::replace);
    f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t g = H5Gopen2(f, "/nodes/lif2", H5P_DEFAULT);
    H5Adelete(g, "discretization");
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, 3);
    hid_t sc = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(g, "discretization", t, sc, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, t, "rk4");
    H5Aclose(a);
    H5Sclose(sc);
    H5Tclose(t);
    H5Gclose(g);
    H5Fclose(f);
    REQUIRE_THROWS_WITH(load_network(path), Contains("/nodes/lif2") && Contains("discretization = 'rk4', expected euler or exact"));
}

TEST_CASE("NIR kinds: a checkpoint file continues the run exactly", "[io][checkpoint][nir]") {
    const network net = nir_network();
    const std::uint64_t T = 45, k = 17;
    const auto frames = nir_frames(T, 2, 9);
    auto values_of = [&](const simulation& sim) {
        std::vector<float> v;
        for (std::size_t i = 0; i < net.nodes.size(); ++i)
            if (!net.nodes[i].spiking())
                for (std::size_t st = 0; st < 2; ++st) v.insert(v.end(), sim.values(i, st).begin(), sim.values(i, st).end());
        return v;
    };
    simulation straight(net, {.threads = 1, .streams = 2});
    straight.push_frames("img", frames);
    memory_recorder rs;
    std::vector<std::vector<float>> want;
    for (std::uint64_t t = 0; t < T; ++t) {
        straight.run(1, {.rec = &rs});
        want.push_back(values_of(straight));
    }
    const std::string path = fresh_tmp("ck_nir.h5");
    std::vector<std::vector<float>> got;
    memory_recorder r1, r2;
    {
        simulation first(net, {.threads = 2, .streams = 2, .block_size = 8});
        first.push_frames("img", frames);
        for (std::uint64_t t = 0; t < k; ++t) {
            first.run(1, {.rec = &r1});
            got.push_back(values_of(first));
        }
        save_checkpoint(first, path);
    }
    simulation second(net, {.threads = 1, .streams = 2});
    load_checkpoint(second, path);
    for (std::uint64_t t = k; t < T; ++t) {
        second.run(1, {.rec = &r2});
        got.push_back(values_of(second));
    }
    REQUIRE(got == want);
    for (std::size_t i = 0; i < net.nodes.size(); ++i) {
        std::vector<spike_event> joined = r1.spikes(i);
        joined.insert(joined.end(), r2.spikes(i).begin(), r2.spikes(i).end());
        INFO(net.nodes[i].name);
        REQUIRE(joined == rs.spikes(i));
        for (std::size_t st = 0; st < 2; ++st) REQUIRE(second.node_ops(i, st) == straight.node_ops(i, st));
    }
    for (std::size_t p = 0; p < net.projections.size(); ++p) REQUIRE(second.ops(p) == straight.ops(p));
}
