// The energy report is a pure function of a run's activity and an energy model.
#include <catch2/catch.hpp>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "lmusim/core/error.hpp"
#include "lmusim/core/strings.hpp"
#include "lmusim/energy/report.hpp"

using namespace lmusim;

TEST_CASE("an energy report from hand-made activity follows the stated formula", "[energy]") {
    activity a;
    a.file = "hand-made";
    a.format = "lmusim-clips";
    a.network = "tiny";
    a.clips = 2;
    a.frames = 10;
    a.populations = {{"lif", 4, 6.0, 0.15}};
    activity::projection_row from_spikes{"w1", "lif", "out", {}};
    from_spikes.ops[op_field("events")] = 6;
    from_spikes.ops[op_field("sops")] = 18;
    from_spikes.ops[op_field("dense")] = 120;
    activity::projection_row from_reals{"w0", "in", "lif", {}};
    from_reals.ops[op_field("macs")] = 160;
    from_reals.ops[op_field("dense")] = 160;
    from_reals.ops[op_field("elementwise")] = 40;
    a.projections = {from_reals, from_spikes};
    activity::node_row memory{"mem", "lmu_memory", {}};
    memory.ops[op_field("sops")] = 8;
    memory.ops[op_field("dense")] = 12;
    activity::node_row idle{"route", "analog", {}};  // no work of its own: no row
    a.nodes = {memory, idle};

    const energy_model m{"unit", "test", 2.0, 0.5, 0.25};
    const energy_report r = make_report(a, m, false);
    REQUIRE(r.rows.size() == 3);
    REQUIRE(r.rows[0].name == "w0");
    REQUIRE(r.rows[0].snn_pj == 2.0 * 160);
    REQUIRE(r.rows[0].source_rate == -1.0);  // a real-valued source
    REQUIRE(r.rows[1].snn_pj == 0.5 * 18);
    REQUIRE(r.rows[1].ann_pj == 2.0 * 120);
    REQUIRE(r.rows[1].source_rate == 0.15);
    REQUIRE(r.rows[2].name == "mem");
    REQUIRE(r.sops == 18 + 8);
    REQUIRE(r.macs == 160);
    REQUIRE(r.dense == 160 + 120 + 12);
    REQUIRE(r.snn_pj == 2.0 * 160 + 0.5 * (18 + 8));
    REQUIRE(r.ann_pj == 2.0 * (160 + 120 + 12));

    const energy_report with = make_report(a, m, true);
    REQUIRE(with.snn_pj == r.snn_pj + 0.25 * 40);
    REQUIRE(with.ann_pj == r.ann_pj + 0.25 * 40);
    REQUIRE(report_json(r).find("\"ann_over_snn\"") != std::string::npos);
}

namespace {

// The activity of test 1 with neuron updates: "lif" (4 neurons, 10 frames) and a spike source.
activity hardware_activity(const std::string& weights) {
    activity a;
    a.file = "hand-made";
    a.format = "lmusim-clips";
    a.network = "tiny";
    a.clips = 2;
    a.frames = 10;
    a.weights = weights;
    report_population lif{"lif", 4, 6.0, 0.15};
    lif.neuron_updates = 40;
    report_population in{"in", 3, 5.0, 5.0 / 30};
    in.neurons = false;  // a spike source: no neuron updates, its spikes not priced
    a.populations = {in, lif};
    activity::projection_row from_spikes{"w1", "lif", "out", {}};
    from_spikes.ops[op_field("events")] = 6;
    from_spikes.ops[op_field("sops")] = 18;
    activity::projection_row from_reals{"w0", "in", "lif", {}};
    from_reals.ops[op_field("macs")] = 160;
    a.projections = {from_reals, from_spikes};
    activity::node_row lif_node{"lif", "discrete_lif", {}};
    lif_node.ops[op_field("elementwise")] = 40;
    activity::node_row memory{"mem", "lmu_memory", {}};
    memory.ops[op_field("sops")] = 8;
    memory.ops[op_field("macs")] = 2;
    activity::node_row source{"in", "spike_source", {}};
    a.nodes = {source, lif_node, memory};
    return a;
}

std::string temp_json(const std::string& name, const std::string& text) {
    const auto path = std::filesystem::temp_directory_path() / cat("lmusim-test-", ::getpid(), "-", name, ".json");
    std::ofstream(path) << text;
    return path.string();
}

}  // namespace

TEST_CASE("a hardware report prices SOPs, MACs, neuron updates, spikes and weight bytes per layer", "[energy][hardware]") {
    const hardware_profile chip{"chip", "test", 2.0, 3.0, 5.0, 7.0, 0.5, 0, ""};
    const hardware_report r = make_hardware_report(hardware_activity("int8"), chip);
    REQUIRE(r.weight_bits == 8);  // from the run (int8)
    REQUIRE(r.weight_bits_from == "run (int8)");
    REQUIRE(r.rows.size() == 4);  // w0, w1, lif, mem (the source has no priced work)
    const hardware_row& w0 = r.rows[0];
    REQUIRE(w0.name == "w0");
    REQUIRE(w0.mac_pj == 7.0 * 160);
    REQUIRE(w0.sop_pj == 0);
    REQUIRE(w0.weight_bytes == 160);
    REQUIRE(w0.memory_pj == 0.5 * 160);
    REQUIRE(w0.total_pj == 7.0 * 160 + 0.5 * 160);
    const hardware_row& w1 = r.rows[1];
    REQUIRE(w1.sop_pj == 2.0 * 18);
    REQUIRE(w1.memory_pj == 0.5 * 18);
    REQUIRE(w1.neuron_pj == 0);
    const hardware_row& lif = r.rows[2];
    REQUIRE(lif.name == "lif");
    REQUIRE(lif.neuron_updates == 40);
    REQUIRE(lif.spikes == 6);
    REQUIRE(lif.neuron_pj == 3.0 * 40);
    REQUIRE(lif.spike_pj == 5.0 * 6);
    REQUIRE(lif.total_pj == 3.0 * 40 + 5.0 * 6);
    const hardware_row& mem = r.rows[3];
    REQUIRE(mem.total_pj == 2.0 * 8 + 7.0 * 2 + 0.5 * (8 + 2));
    REQUIRE(r.total.total_pj == w0.total_pj + w1.total_pj + lif.total_pj + mem.total_pj);
    REQUIRE(r.total.total_pj == 2.0 * 26 + 7.0 * 162 + 3.0 * 40 + 5.0 * 6 + 0.5 * 188);

    // No MAC price: MACs cost a SOP. Weight bits of the profile override the run's; fp32 runs read 4 bytes.
    const hardware_profile no_mac{"no-mac", "test", 2.0, 3.0, 5.0, -1, 1.0, 16, ""};
    const hardware_report n = make_hardware_report(hardware_activity("fp32"), no_mac);
    REQUIRE(n.mac_price_pj == 2.0);
    REQUIRE(n.rows[0].mac_pj == 2.0 * 160);
    REQUIRE(n.rows[0].weight_bytes == 160 * 2);
    REQUIRE(n.formula.find("priced as SOPs") != std::string::npos);
    const hardware_profile bytes_of_run{"run", "test", 0, 0, 0, -1, 1.0, 0, ""};
    REQUIRE(make_hardware_report(hardware_activity("fp32"), bytes_of_run).total.memory_pj == 4.0 * 188);
    REQUIRE(make_hardware_report(hardware_activity("bf16"), bytes_of_run).total.memory_pj == 2.0 * 188);

    // The energy report carries it in its table and JSON; without it, neither changes.
    const energy_model m{"unit", "test", 2.0, 0.5, 0.25};
    energy_report e = make_report(hardware_activity("int8"), m, false);
    const std::string plain_json = report_json(e), plain_table = report_table(e);
    REQUIRE(plain_json.find("\"hardware\"") == std::string::npos);
    e.hardware = r;
    REQUIRE(report_json(e).substr(0, plain_json.size() - 2) == plain_json.substr(0, plain_json.size() - 2));
    REQUIRE(report_json(e).find("\"neuron_updates\": 120.0") != std::string::npos);
    REQUIRE(report_table(e).substr(0, plain_table.size()) == plain_table);
    REQUIRE(report_table(e).find("hardware profile chip") != std::string::npos);
}

TEST_CASE("hardware presets: the published figures and a source each", "[energy][hardware]") {
    const hardware_profile loihi = find_hardware_profile("loihi");
    REQUIRE(loihi.sop_pj == 23.6);
    REQUIRE(loihi.neuron_update_pj == 81.0);
    REQUIRE(loihi.weights == "int8");
    REQUIRE(find_hardware_profile("spinnaker2").sop_pj == 450.0);
    REQUIRE(find_hardware_profile("truenorth").sop_pj == 26.0);
    REQUIRE(find_hardware_profile("cpu").mac_pj == 8.6e3);
    for (const hardware_profile& h : hardware_profiles()) {
        INFO(h.name);
        REQUIRE(h.source.size() > 20);
        REQUIRE(hardware_profile_list().find(h.name + ": SOP ") != std::string::npos);
    }
    REQUIRE_THROWS_WITH(find_hardware_profile("loihi3"), Catch::Contains("unknown hardware profile 'loihi3'"));
}

TEST_CASE("hardware profile files: errors name the file and the key", "[energy][hardware]") {
    const std::string good = temp_json("good", R"({"name": "mine", "source": "datasheet", "sop_pj": 1.5,
        "neuron_update_pj": 2, "spike_pj": 0, "weight_byte_pj": 0.25, "weight_bits": 4, "weights": "int8"})");
    const hardware_profile h = find_hardware_profile(good);
    REQUIRE(h.name == "mine");
    REQUIRE(h.sop_pj == 1.5);
    REQUIRE(h.mac_pj == -1);
    REQUIRE(h.weight_bits == 4);
    std::filesystem::remove(good);
    const std::vector<std::pair<std::string, std::string>> bad = {
        {R"({"neuron_update_pj": 1, "spike_pj": 1})", "missing key 'sop_pj'"},
        {R"({"sop_pj": 1, "spike_pj": 1})", "missing key 'neuron_update_pj'"},
        {R"({"sop_pj": 1, "neuron_update_pj": 1})", "missing key 'spike_pj'"},
        {R"({"sop_pj": -1, "neuron_update_pj": 1, "spike_pj": 1})", "key 'sop_pj' = -1, expected a finite value >= 0"},
        {R"({"sop_pj": 1, "neuron_update_pj": "81", "spike_pj": 1})", "key 'neuron_update_pj' must be a number"},
        {R"({"sop_pj": 1, "neuron_update_pj": 1, "spike_pj": 1, "mac_pj": -0.5})", "key 'mac_pj' = -0.5"},
        {R"({"sop_pj": 1, "neuron_update_pj": 1, "spike_pj": 1, "weight_bits": 8.5})", "key 'weight_bits' = 8.5"},
        {R"({"sop_pj": 1, "neuron_update_pj": 1, "spike_pj": 1, "weights": "int4"})", "key 'weights' = 'int4'"},
        {R"({"sop_pj": 1, "neuron_update_pj": 1, "spike_pj": 1, "source": 3})", "key 'source' must be a string"},
        {R"({"sop_pj": 1, "neuron_update_pj": 1, "spike_pj": 1, "sop": 2})", "unknown key 'sop'"},
        {R"([1, 2])", "expected a JSON object"},
        {R"({"sop_pj": 1,)", "not valid JSON"},
    };
    for (std::size_t i = 0; i < bad.size(); ++i) {
        const std::string path = temp_json(cat("bad", i), bad[i].first);
        INFO(bad[i].first);
        REQUIRE_THROWS_AS(find_hardware_profile(path), file_error);
        REQUIRE_THROWS_WITH(find_hardware_profile(path), Catch::Contains(path) && Catch::Contains(bad[i].second));
        std::filesystem::remove(path);
    }
}
