// Checkpoint files (docs/checkpoint.md): a round trip through HDF5 continues a run exactly, and
// every file that does not fit is a file_error naming the file, the dataset and the shapes.
#include <catch2/catch.hpp>

#include <hdf5.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "checkpoint_networks.hpp"
#include "scratch.hpp"
#include "lmusim/core/error.hpp"
#include "lmusim/io/checkpoint.hpp"
#include "lmusim/sim/memory_recorder.hpp"

using namespace lmusim;
using namespace lmusim::testing;
using Catch::Matchers::Contains;

namespace {


// Edits a checkpoint in place with the HDF5 C API (deleting or replacing one dataset).
void edit(const std::string& path, const std::string& key, const std::vector<hsize_t>* new_shape) {
    const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    REQUIRE(f >= 0);
    REQUIRE(H5Ldelete(f, key.c_str(), H5P_DEFAULT) >= 0);
    if (new_shape) {
        const hid_t space = H5Screate_simple(static_cast<int>(new_shape->size()), new_shape->data(), nullptr);
        const hid_t ds = H5Dcreate2(f, key.c_str(), H5T_NATIVE_FLOAT, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        REQUIRE(ds >= 0);
        H5Dclose(ds);
        H5Sclose(space);
    }
    H5Fclose(f);
}

}  // namespace

TEST_CASE("a checkpoint file continues a delayed CUBA run exactly, on any thread count", "[io][checkpoint]") {
    const network net = delayed_cuba(800);
    const std::uint64_t N = 600, k = 257;
    simulation straight(net, {.threads = 1});
    memory_recorder rs;
    straight.run(N, {.rec = &rs});

    const std::string path = fresh_tmp("ck_cuba.h5");
    std::vector<spike_event> joined;
    {
        simulation first(net, {.threads = 2, .block_size = 64});
        memory_recorder r1;
        first.run(k, {.rec = &r1});
        save_checkpoint(first, path, {.model_sha256 = "abc"});
        joined = r1.spikes(0);
    }
    REQUIRE(!std::filesystem::exists(path + ".partial"));
    simulation second(net, {.threads = 1});
    const checkpoint_info info = load_checkpoint(second, path, {.model_sha256 = "abc"});
    REQUIRE(info.kind == "simulation");
    REQUIRE(info.steps_done == k);
    REQUIRE(info.model_sha256 == "abc");
    memory_recorder r2;
    second.run(N - k, {.rec = &r2});
    joined.insert(joined.end(), r2.spikes(0).begin(), r2.spikes(0).end());
    REQUIRE(joined == rs.spikes(0));
    for (std::size_t i = 0; i < net.nodes.size(); ++i) {
        REQUIRE(std::vector<std::uint64_t>(second.spike_counts(i).begin(), second.spike_counts(i).end()) ==
                std::vector<std::uint64_t>(straight.spike_counts(i).begin(), straight.spike_counts(i).end()));
        REQUIRE(second.neuron_updates(i) == straight.neuron_updates(i));
        REQUIRE(second.node_ops(i) == straight.node_ops(i));
    }
    for (std::size_t p = 0; p < net.projections.size(); ++p) REQUIRE(second.ops(p) == straight.ops(p));
}

TEST_CASE("a streaming checkpoint file continues an LMUFormer-like clip exactly", "[io][checkpoint][lmu]") {
    for (auto mode : {lmu_memory_params::mode::impulse, lmu_memory_params::mode::recurrence}) {
        const network net = small_lmuformer(mode);
        const std::size_t T = 14, k = 5;
        const auto x = small_features(T, 1, 33);
        clip_runner straight(net, {.threads = 1}, "input", "head");
        straight.begin();
        auto want = straight.push(x);
        for (auto& f : straight.finish()) want.push_back(std::move(f));

        const std::string path = fresh_tmp("ck_stream.h5");
        std::vector<frame_output> got;
        {
            clip_runner first(net, {.threads = 1}, "input", "head");
            first.begin();
            got = first.push(std::span<const float>(x).first(k * 4));
            save_checkpoint(first, path);
        }
        clip_runner second(net, {.threads = 2}, "input", "head");
        REQUIRE(load_checkpoint(second, path).kind == "stream");
        for (auto& f : second.push(std::span<const float>(x).subspan(k * 4))) got.push_back(std::move(f));
        for (auto& f : second.finish()) got.push_back(std::move(f));
        REQUIRE(got.size() == want.size());
        for (std::size_t t = 0; t < want.size(); ++t) REQUIRE(got[t].values == want[t].values);
        for (std::size_t i = 0; i < net.nodes.size(); ++i) REQUIRE(second.sim().node_ops(i) == straight.sim().node_ops(i));
    }
}

TEST_CASE("checkpoints that do not fit are file_errors naming the file, dataset and shapes", "[io][checkpoint]") {
    const network net = delayed_cuba(300);
    const std::string path = fresh_tmp("ck_bad.h5");
    {
        simulation sim(net, {.threads = 1});
        sim.run(40);
        save_checkpoint(sim, path, {.model_sha256 = "aaa"});
    }
    SECTION("another network") {
        simulation other(delayed_cuba(301), {.threads = 1});
        REQUIRE_THROWS_AS(load_checkpoint(other, path), file_error);
        REQUIRE_THROWS_WITH(load_checkpoint(other, path), Contains(path) && Contains("different network") &&
                                                              Contains("neurons continuous_lif 300") &&
                                                              Contains("neurons continuous_lif 301"));
        network fewer = delayed_cuba(300);
        fewer.projections.pop_back();
        simulation third(fewer, {.threads = 1});
        REQUIRE_THROWS_WITH(load_checkpoint(third, path), Contains("fingerprint/projections") && Contains("shape [3], expected [2]"));
        simulation lmu(small_lmuformer(lmu_memory_params::mode::impulse), {.threads = 1});
        REQUIRE_THROWS_AS(load_checkpoint(lmu, path), file_error);
    }
    SECTION("another stream count or model") {
        simulation two(net, {.threads = 1, .streams = 2});
        REQUIRE_THROWS_WITH(load_checkpoint(two, path), Contains(path) && Contains("1 stream(s), this simulation runs 2"));
        simulation sim(net, {.threads = 1});
        REQUIRE_THROWS_WITH(load_checkpoint(sim, path, {.model_sha256 = "bbb"}), Contains("sha256 aaa"));
    }
    SECTION("a missing dataset") {
        edit(path, "nodes/neurons/refractory", nullptr);
        simulation sim(net, {.threads = 1});
        sim.run(3);
        REQUIRE_THROWS_AS(load_checkpoint(sim, path), file_error);
        REQUIRE_THROWS_WITH(load_checkpoint(sim, path), Contains(path) && Contains("missing dataset 'nodes/neurons/refractory'"));
        REQUIRE(sim.steps_done() == 3);  // refused before anything was touched
    }
    SECTION("a wrong-shaped dataset") {
        const std::vector<hsize_t> shape{1, 299};
        edit(path, "nodes/neurons/v", &shape);
        simulation sim(net, {.threads = 1});
        REQUIRE_THROWS_WITH(load_checkpoint(sim, path), Contains(path) && Contains("'nodes/neurons/v' has shape [1, 299]") &&
                                                            Contains("expected [1, 300]"));
    }
    SECTION("a wrong dtype") {
        const std::vector<hsize_t> shape{1, 300};
        edit(path, "nodes/neurons/refractory", &shape);  // float32 where int32 is expected
        simulation sim(net, {.threads = 1});
        REQUIRE_THROWS_WITH(load_checkpoint(sim, path), Contains("nodes/neurons/refractory") && Contains("expected int32"));
    }
    SECTION("a truncated file") {
        const auto size = std::filesystem::file_size(path);
        for (auto keep : {size / 2, std::uintmax_t{100}}) {
            std::filesystem::copy_file(path, path + ".cut", std::filesystem::copy_options::overwrite_existing);
            std::filesystem::resize_file(path + ".cut", keep);
            simulation sim(net, {.threads = 1});
            REQUIRE_THROWS_AS(load_checkpoint(sim, path + ".cut"), file_error);
            REQUIRE_THROWS_WITH(load_checkpoint(sim, path + ".cut"), Contains(path + ".cut"));
        }
    }
    SECTION("not a checkpoint") {
        REQUIRE_THROWS_WITH(load_checkpoint(*std::make_unique<simulation>(net, context{.threads = 1}), tmp("missing.h5")),
                            Contains("missing.h5"));
    }
}

TEST_CASE("a failed save leaves no file behind and keeps an older checkpoint", "[io][checkpoint]") {
    simulation sim(delayed_cuba(200), {.threads = 1});
    sim.run(10);
    REQUIRE_THROWS_AS(save_checkpoint(sim, tmp("no_such_dir/ck.h5")), file_error);
    REQUIRE(!std::filesystem::exists(tmp("no_such_dir")));
    const std::string path = fresh_tmp("ck_keep.h5");
    save_checkpoint(sim, path);
    sim.run(10);
    REQUIRE_THROWS_WITH(save_checkpoint(sim, path), Contains(path) && Contains("exists") && Contains("--overwrite"));
    {
        simulation kept(delayed_cuba(200), {.threads = 1});
        REQUIRE(load_checkpoint(kept, path).steps_done == 10);  // the refused save changed nothing
    }
    save_checkpoint(sim, path, {.existing = if_exists::replace});  // replaces it whole
    REQUIRE(!std::filesystem::exists(path + ".partial"));
    REQUIRE(!std::filesystem::exists(path + ".lock"));
    simulation again(delayed_cuba(200), {.threads = 1});
    REQUIRE(load_checkpoint(again, path).steps_done == 20);
}
