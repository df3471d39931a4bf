#pragma once
// Hardware profiles (docs/energy.md, "Hardware profiles"): what a chip pays per synaptic event,
// per neuron update, per emitted spike, per multiply-accumulate and per weight byte read, each
// preset with its source. A hardware report prices a run's counts with a profile, per layer and
// term; like the energy models it is computed from the stored counts, never by re-running.
#include <string>
#include <vector>

namespace lmusim {

struct hardware_profile {
    std::string name;
    std::string source;           // where the figures come from
    double sop_pj = 0;            // per synaptic operation (one spike reaching one synapse)
    double neuron_update_pj = 0;  // per neuron per step
    double spike_pj = 0;          // per spike a neuron emits (routing)
    double mac_pj = -1;           // per multiply-accumulate on real values; < 0: priced as a synaptic operation
    double weight_byte_pj = 0;    // per byte of weight read: one weight per SOP and per MAC
    unsigned weight_bits = 0;     // bits of a weight on the chip; 0: those of the run (fp32 32, bf16 16, int8 8)
    std::string weights;          // the weight format the chip holds (lmusim run --hardware); empty: not stated
};

// The presets: loihi, spinnaker, spinnaker2, truenorth, cpu, gpu, arm, horowitz45-sram,
// horowitz45-dram (docs/energy.md lists them with their sources).
std::vector<hardware_profile> hardware_profiles();
// A preset by name, or a JSON file (a path ending in .json or naming an existing file):
//   {"name", "source", "sop_pj", "neuron_update_pj", "spike_pj", "mac_pj", "weight_byte_pj",
//    "weight_bits", "weights"}; the three first energies are required. Errors (file_error) name
// the file and the key: missing, wrong type, negative or not finite, unknown.
hardware_profile find_hardware_profile(const std::string& name_or_path);
// One line per preset: name, the figures and the source (lmusim report --list-hardware).
std::string hardware_profile_list();

// One layer's counts (per clip) and what each costs [pJ].
struct hardware_row {
    std::string name;
    std::string kind;  // "projection" or the node kind
    double sops = 0, macs = 0, neuron_updates = 0, spikes = 0, weight_bytes = 0;
    double sop_pj = 0, mac_pj = 0, neuron_pj = 0, spike_pj = 0, memory_pj = 0, total_pj = 0;
};

struct hardware_report {
    hardware_profile profile;
    double mac_price_pj = 0;       // what one MAC costs (the profile's mac_pj, or its sop_pj)
    unsigned weight_bits = 32;     // bits per weight read
    std::string weight_bits_from;  // "profile" or "run (<format>)"
    std::vector<hardware_row> rows;  // projections, then nodes with work, neurons or spikes
    hardware_row total;
    std::string formula;
};

}  // namespace lmusim
