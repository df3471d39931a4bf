// Guarded outputs: an output is never an input, existing files are replaced only when asked, and
// one path has one writer at a time (docs/hardening.md, "Outputs").
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "lmusim/graph/cuba.hpp"
#include "lmusim/core/error.hpp"
#include "lmusim/io/network_file.hpp"
#include "lmusim/io/npy.hpp"
#include "lmusim/core/output_file.hpp"
#include "scratch.hpp"

using namespace lmusim;
using namespace lmusim::testing;
using Catch::Matchers::Contains;

namespace {

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

std::string put(const std::string& name, const std::string& bytes) {
    const std::string path = fresh_tmp(name);
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
}

}  // namespace

TEST_CASE("check_outputs refuses an output that is an input, however it is spelled", "[io][outputs]") {
    const std::string in = put("out_in.bin", "precious");
    const std::string dir = std::filesystem::path(in).parent_path().string();
    const std::string link = fresh_tmp("out_in_symlink.bin"), hard = fresh_tmp("out_in_hardlink.bin");
    std::filesystem::create_symlink(in, link);
    std::filesystem::create_hard_link(in, hard);
    const std::string dotted = dir + "/./no_such_subdir/../out_in.bin";
    for (const std::string& out : {in, link, hard, dotted}) {
        INFO(out);
        for (const if_exists mode : {if_exists::fail, if_exists::replace})
            REQUIRE_THROWS_WITH(check_outputs({out}, {in}, mode),
                                Contains("output '" + out + "' is the input '" + in + "'") && Contains("same file"));
    }
    // The partial and lock files of an output are the output too.
    const std::string stem = fresh_tmp("out_stem.h5");
    const std::string partial_input = put("out_stem.h5.partial", "someone's file");
    REQUIRE_THROWS_WITH(check_outputs({stem}, {partial_input}, if_exists::replace), Contains("is the input"));
    REQUIRE(slurp(in) == "precious");
    REQUIRE(slurp(partial_input) == "someone's file");
}

TEST_CASE("check_outputs refuses duplicate outputs, directories and existing files", "[io][outputs]") {
    const std::string a = fresh_tmp("out_a.h5");
    const std::string a2 = std::filesystem::path(a).parent_path().string() + "/../tmp/out_a.h5";
    REQUIRE_THROWS_WITH(check_outputs({a, a2}, {}, if_exists::replace), Contains("two outputs are the same file"));
    REQUIRE_NOTHROW(check_outputs({a, fresh_tmp("out_b.h5"), ""}, {""}, if_exists::fail));
    REQUIRE_THROWS_WITH(check_outputs({std::string(LMUSIM_TEST_TMP)}, {}, if_exists::replace), Contains("is a directory"));
    const std::string existing = put("out_existing.h5", "old");
    REQUIRE_THROWS_WITH(check_outputs({existing}, {}, if_exists::fail),
                        Contains("'" + existing + "' exists") && Contains("--overwrite"));
    REQUIRE_NOTHROW(check_outputs({existing}, {}, if_exists::replace));
    // A dangling symbolic link exists too.
    const std::string dangling = fresh_tmp("out_dangling.h5");
    std::filesystem::create_symlink(tmp("no_such_target.h5"), dangling);
    REQUIRE_THROWS_WITH(check_outputs({dangling}, {}, if_exists::fail), Contains("exists"));
}

TEST_CASE("an output_file claim: one writer per path, the file appears only on commit", "[io][outputs]") {
    const std::string path = put("claim.bin", "old");
    REQUIRE_THROWS_WITH(output_file(path, if_exists::fail), Contains("exists") && Contains("--overwrite"));
    {
        output_file first(path, if_exists::replace);
        REQUIRE(std::filesystem::exists(path + ".lock"));
        // A second claim (another object, another descriptor) is refused while the first is held.
        REQUIRE_THROWS_WITH(output_file(path, if_exists::replace),
                            Contains("being written by another lmusim writer") && Contains(path + ".lock"));
        std::ofstream(first.partial(), std::ios::binary) << "new";
        REQUIRE(slurp(path) == "old");  // nothing at PATH until the commit
        first.commit();
        REQUIRE(slurp(path) == "new");
        REQUIRE(!std::filesystem::exists(path + ".partial"));
        // The claim is still held after a commit (a rolling checkpoint writes again).
        REQUIRE_THROWS_AS(output_file(path, if_exists::replace), file_error);
        std::ofstream(first.partial(), std::ios::binary) << "newer";
        first.discard();
        REQUIRE(slurp(path) == "new");
        REQUIRE(!std::filesystem::exists(path + ".partial"));
    }
    REQUIRE(!std::filesystem::exists(path + ".lock"));  // released and removed
    output_file again(path, if_exists::replace);      // free again
    output_file moved = std::move(again);
    REQUIRE(moved);
    REQUIRE_FALSE(again);  // NOLINT(bugprone-use-after-move): a moved-from claim holds nothing
    REQUIRE_THROWS_AS(output_file(path, if_exists::replace), file_error);
}

TEST_CASE("a stale lock file or partial file from a killed writer", "[io][outputs]") {
    const std::string path = fresh_tmp("stale.h5");
    std::ofstream(path + ".lock") << "";  // left by a killed process: not locked
    { output_file out(path, if_exists::fail); }
    REQUIRE(!std::filesystem::exists(path + ".lock"));
    std::ofstream(path + ".partial") << "flushed data of a killed recording";
    REQUIRE_THROWS_WITH(output_file(path, if_exists::fail, output_file::leftover::data),
                        Contains(path + ".partial") && Contains("interrupted write"));
    REQUIRE(slurp(path + ".partial") == "flushed data of a killed recording");
    REQUIRE_NOTHROW(output_file(path, if_exists::replace, output_file::leftover::data));
    REQUIRE_NOTHROW(output_file(path, if_exists::fail, output_file::leftover::garbage));
}

TEST_CASE("whole-file writers refuse existing files and replace them only when asked", "[io][outputs]") {
    const std::string npy = put("claim.npy", "old");
    const float data[4] = {1, 2, 3, 4};
    REQUIRE_THROWS_WITH(write_npy(npy, {2, 2}, data), Contains("exists"));
    REQUIRE(slurp(npy) == "old");
    write_npy(npy, {2, 2}, data, if_exists::replace);
    REQUIRE(slurp(npy).substr(0, 6) == "\x93NUMPY");
    REQUIRE(!std::filesystem::exists(npy + ".partial"));

    const std::string net = fresh_tmp("claim_net.h5");
    save_network(make_cuba({.neurons = 100}), net);
    const std::string before = slurp(net);
    REQUIRE_THROWS_WITH(save_network(make_cuba({.neurons = 100}), net), Contains("exists"));
    {
        output_file busy(net, if_exists::replace);  // another writer at work
        REQUIRE_THROWS_WITH(save_network(make_cuba({.neurons = 100}), net, if_exists::replace), Contains("another lmusim writer"));
    }
    REQUIRE(slurp(net) == before);
    save_network(make_cuba({.neurons = 100}), net, if_exists::replace);
    REQUIRE(!std::filesystem::exists(net + ".partial"));
}
