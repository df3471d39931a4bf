// The energy report is a pure function of a run's activity and an energy model.
#include <catch2/catch.hpp>

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
