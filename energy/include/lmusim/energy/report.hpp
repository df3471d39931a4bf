#pragma once
// Energy is policy: it is computed after the run from the counts, never by re-running
// (docs/design.md §7). An energy_model gives picojoules per operation; make_report() is a pure
// function from the activity of a run (counts per layer, firing rates; io/activity_file.hpp reads
// it from a recording or clip output) and an energy model to a report. Formulas and sources:
// docs/energy.md.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lmusim/core/op_counts.hpp"
#include "lmusim/energy/hardware.hpp"

namespace lmusim {

struct energy_model {
    std::string name;
    std::string source;           // where the figures come from
    double mac_pj = 0;            // per multiply-accumulate (real-valued input)
    double ac_pj = 0;             // per accumulate (spike-triggered synaptic operation)
    double elementwise_pj = 0;    // per element-wise operation (affines, adds, neuron updates)
};

// Named presets (Horowitz, ISSCC 2014, 45 nm): horowitz45-fp32, horowitz45-fp16, horowitz45-int8.
std::vector<energy_model> energy_presets();
// A preset by name, or a JSON file {"name", "source", "mac_pj", "ac_pj", "elementwise_pj"}
// (a path ending in .json or naming an existing file). Errors name the file and the key.
energy_model find_energy_model(const std::string& name_or_path);

struct report_row {
    std::string name;
    std::string kind;  // "projection" or the node kind
    std::string source, target;
    double events = 0, sops = 0, macs = 0, dense = 0, elementwise = 0;  // per clip (mean)
    double source_rate = -1;  // firing rate of the spiking source (fraction of neuron-steps), -1 if real
    double snn_pj = 0, ann_pj = 0;
};

struct report_population {
    std::string name;
    std::uint64_t size = 0;
    double spikes = 0;  // per clip (mean)
    double rate = 0;    // fraction of neuron-steps that spiked
    bool neurons = true;  // a layer of neurons (false: a spike source or spiking input)
    double neuron_updates = 0;  // per clip (mean): neurons x steps updated (0 for sources and inputs)
};

// NeuroBench's figures under their own names, per sample (clip): docs/energy.md, "NeuroBench".
struct neurobench_figures {
    double footprint = -1;            // Footprint [bytes], -1 if the file does not say
    double connection_sparsity = -1;  // ConnectionSparsity, -1 if the file does not say
    double activation_sparsity = 0;   // ActivationSparsity
    double membrane_updates = 0;      // MembraneUpdates
    double effective_macs = 0, effective_acs = 0, dense = 0;  // SynapticOperations
};

struct energy_report {
    std::string file, format, network;
    std::uint64_t clips = 0, frames = 0;  // frames (or steps) per clip
    energy_model model;
    bool include_elementwise = false;
    std::vector<report_population> populations;
    std::vector<report_row> rows;  // projections, then nodes with own work or element-wise ops
    neurobench_figures neurobench;
    double snn_pj = 0, ann_pj = 0, sops = 0, macs = 0, dense = 0, elementwise = 0;
    std::string snn_formula, ann_formula;
    std::optional<hardware_report> hardware;  // with a hardware profile (lmusim report --hardware)
};

// What a run did, per clip (mean over clips): the input of an energy report.
struct activity {
    // Op counts in op_count_fields' order (means over clips).
    using op_means = std::array<double, op_count_fields.size()>;
    struct projection_row {
        std::string name, source, target;
        op_means ops{};
    };
    struct node_row {
        std::string name, kind;
        op_means ops{};  // the node's own work (events 0)
    };
    std::string file, format, network;
    std::uint64_t clips = 0, frames = 0;  // frames (or steps) per clip
    std::string weights = "fp32";  // the run's weight format (root attribute `weights`; absent: fp32)
    std::vector<report_population> populations;
    // The network's static figures (graph/stats.hpp), -1 when the file predates them.
    double footprint_bytes = -1, connection_zeros = -1, connection_weights = -1;
    std::vector<projection_row> projections;
    std::vector<node_row> nodes;
};

// The index of a field in op_count_fields (and so in activity::op_means).
constexpr std::size_t op_field(std::string_view name) {
    for (std::size_t k = 0; k < op_count_fields.size(); ++k)
        if (name == op_count_fields[k].name) return k;
    return op_count_fields.size();
}

energy_report make_report(const activity& a, const energy_model& model, bool include_elementwise);
// The run's counts priced with a hardware profile, per layer and term (docs/energy.md):
//   E = sop_pj x SOPs + mac_pj x MACs + neuron_update_pj x neuron updates + spike_pj x spikes
//       + weight_byte_pj x weight bytes,   weight bytes = (SOPs + MACs) x weight bits / 8.
hardware_report make_hardware_report(const activity& a, const hardware_profile& profile);
std::string report_json(const energy_report& r);
std::string report_table(const energy_report& r);

}  // namespace lmusim
