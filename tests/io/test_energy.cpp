#include <catch2/catch.hpp>

#include <fstream>
#include <nlohmann/json.hpp>

#include "scratch.hpp"
#include "lmusim/core/error.hpp"
#include "lmusim/io/activity_file.hpp"
#include "lmusim/io/h5_recorder.hpp"
#include "lmusim/core/sha256.hpp"
#include "networks.hpp"

using namespace lmusim;
using namespace lmusim::testing;
using Catch::Matchers::Contains;

namespace {


std::string write(const std::string& name, const std::string& text) {
    const std::string path = fresh_tmp(name);
    std::ofstream(path) << text;
    return path;
}

}  // namespace

TEST_CASE("energy presets carry Horowitz's 45 nm figures", "[io][energy]") {
    const energy_model fp32 = find_energy_model("horowitz45-fp32");
    REQUIRE(fp32.mac_pj == 4.6);
    REQUIRE(fp32.ac_pj == 0.9);
    REQUIRE(find_energy_model("horowitz45-fp16").mac_pj == 1.5);
    REQUIRE(find_energy_model("horowitz45-fp16").ac_pj == 0.4);
    REQUIRE(find_energy_model("horowitz45-int8").mac_pj == 0.23);
    REQUIRE(find_energy_model("horowitz45-int8").ac_pj == 0.03);
    REQUIRE_THROWS_WITH(find_energy_model("tsmc5"), Contains("unknown energy model 'tsmc5'") && Contains("horowitz45-fp32"));
}

TEST_CASE("energy models from JSON files, with errors naming the key", "[io][energy]") {
    const auto ok = write("e.json", R"({"name": "chip", "source": "datasheet", "mac_pj": 2, "ac_pj": 0.5, "elementwise_pj": 0.1})");
    const energy_model m = find_energy_model(ok);
    REQUIRE(m.name == "chip");
    REQUIRE(m.mac_pj == 2.0);
    REQUIRE(m.ac_pj == 0.5);
    REQUIRE(m.elementwise_pj == 0.1);
    REQUIRE_THROWS_WITH(find_energy_model(write("a.json", R"({"mac_pj": 2})")), Contains("a.json") && Contains("missing key 'ac_pj'"));
    REQUIRE_THROWS_WITH(find_energy_model(write("b.json", R"({"mac_pj": "2", "ac_pj": 1})")), Contains("'mac_pj' must be a number"));
    REQUIRE_THROWS_WITH(find_energy_model(write("c.json", R"({"mac_pj": -1, "ac_pj": 1})")), Contains("expected a finite value >= 0"));
    REQUIRE_THROWS_WITH(find_energy_model(write("d.json", R"({"mac_pj": 1, "ac_pj": 1, "mac": 3})")), Contains("unknown key 'mac'"));
    REQUIRE_THROWS_WITH(find_energy_model(write("f.json", "{mac_pj: 1")), Contains("not valid JSON"));
    REQUIRE_THROWS_AS(find_energy_model(tmp("missing.json")), file_error);
}

TEST_CASE("a report equals hand-computed energy on a tiny network", "[io][energy]") {
    // Source of 2 neurons fires 3 spikes (steps 0, 2, 2) into a dense 3x2 projection with bias;
    // run 4 steps. SOPs = 3 x 3 = 9; dense equivalent = 3 x 2 x 4 = 24; element-wise: bias 3 x 4
    // = 12 on the projection, LIF updates 3 x 4 = 12 on the node.
    network net;
    net.add(source("in", 2, {0, 2, 2}, {1, 0, 1}));
    net.add(dlif("out", 3, 100.0f));  // never fires
    projection p = proj("w", "in", "out", connectivity::dense, {1, 1, 1, 1, 1, 1});
    p.bias = {0.1f, 0.1f, 0.1f};
    net.connect(p);
    const std::string path = fresh_tmp("tiny_rec.h5");
    {
        simulation sim(net);
        h5_recorder rec(path);
        sim.run(4, {.rec = &rec});
    }
    const energy_model m{"test", "hand", 2.0, 0.5, 0.25};
    const energy_report a = make_report(path, m, false);
    REQUIRE(a.clips == 1);
    REQUIRE(a.frames == 4);
    REQUIRE(a.rows.at(0).name == "w");
    REQUIRE(a.rows[0].sops == 9);
    REQUIRE(a.rows[0].dense == 24);
    REQUIRE(a.rows[0].elementwise == 12);
    REQUIRE(a.rows[0].source_rate == Approx(3.0 / 8.0));
    REQUIRE(a.snn_pj == Approx(0.5 * 9));
    REQUIRE(a.ann_pj == Approx(2.0 * 24));
    const energy_report b = make_report(path, m, true);
    REQUIRE(b.snn_pj == Approx(0.5 * 9 + 0.25 * (12 + 12)));
    REQUIRE(b.ann_pj == Approx(2.0 * 24 + 0.25 * (12 + 12)));
    const auto j = nlohmann::json::parse(report_json(b));
    REQUIRE(j["total"]["sops"] == 9);
    REQUIRE(j["total"]["ann_over_snn"].get<double>() == Approx(b.ann_pj / b.snn_pj));
    REQUIRE(report_table(a).find("E_SNN = 2 pJ x MACs + 0.5 pJ x SOPs (element-wise ops excluded)") != std::string::npos);
}

TEST_CASE("sha256 matches FIPS 180-4 test vectors", "[io]") {
    REQUIRE(sha256("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    REQUIRE(sha256("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    REQUIRE(sha256(std::string(1000000, 'a')) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}
