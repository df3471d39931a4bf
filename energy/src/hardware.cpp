// Hardware profiles and the hardware report (docs/energy.md, "Hardware profiles").
#include "lmusim/energy/hardware.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "lmusim/core/error.hpp"
#include "lmusim/core/strings.hpp"
#include "lmusim/core/weight_format.hpp"
#include "lmusim/energy/report.hpp"

namespace lmusim {

std::vector<hardware_profile> hardware_profiles() {
    const std::string keras = "as tabulated by keras-spiking's ModelEnergy (nengo/keras-spiking, keras_spiking/model_energy.py)";
    const std::string degnan = cat("Degnan, Marr and Hasler, 'Assessing trends in performance per watt for signal processing "
                                   "applications', IEEE TVLSI 24(1), 2016, ", keras, "; every synaptic operation, MAC and neuron "
                                   "update counts as one MAC of the device");
    const std::string hoeppner = cat("Hoeppner et al., 'Dynamic power management for neuromorphic many-core systems', IEEE TCAS-I "
                                     "66(8), 2019 (arXiv:1903.08941), ", keras);
    const std::string horowitz = "M. Horowitz, 'Computing's energy problem', ISSCC 2014, 45 nm: fp32 add 0.9 pJ (SOP), "
                                 "mult + add 4.6 pJ (MAC; also one neuron update v = beta v + I)";
    // name, source, SOP, neuron update, spike, MAC (-1: as a SOP), per weight byte, weight bits, weights
    return {
        {"loihi",
         "Davies et al., 'Loihi: a neuromorphic manycore processor with on-chip learning', IEEE Micro 38(1), 2018, "
         "measured figures: synaptic spike op 23.6 pJ (minimum), active neuron update 81 pJ (inactive 52 pJ), spike "
         "within a tile 1.7 pJ + one tile hop 3.5 pJ (mean of 3.0 E-W and 4.0 N-S); 8-bit synaptic weights; no MAC unit",
         23.6, 81.0, 5.2, -1, 0, 8, "int8"},
        {"spinnaker", cat("SpiNNaker (ARM968 cores, 130 nm): ", hoeppner), 13.3e3, 26.0e3, 0, -1, 0, 0, ""},
        {"spinnaker2", cat("SpiNNaker 2 (22 nm FDSOI prototype): ", hoeppner), 450.0, 2.19e3, 0, -1, 0, 0, ""},
        {"truenorth",
         "Merolla et al., 'A million spiking-neuron integrated circuit with a scalable communication network and "
         "interface', Science 345(6197), 2014: 26 pJ per synaptic event, the whole chip's energy at its operating point "
         "divided by its synaptic events (neuron updates and routing are inside it)",
         26.0, 0, 0, -1, 0, 0, ""},
        {"cpu", cat("Intel i7-4960X: ", degnan), 8.6e3, 8.6e3, 0, 8.6e3, 0, 0, "fp32"},
        {"gpu", cat("Nvidia GTX Titan Black (large batches): ", degnan), 300.0, 300.0, 0, 300.0, 0, 0, "fp32"},
        {"arm", cat("ARM Cortex-A: ", degnan), 900.0, 900.0, 0, 900.0, 0, 0, "fp32"},
        {"horowitz45-sram", cat(horowitz, "; weights read from an 8 kB SRAM, 5 pJ per 32-bit read = 1.25 pJ per byte"), 0.9,
         4.6, 0, 4.6, 1.25, 0, ""},
        {"horowitz45-dram", cat(horowitz, "; weights read from DRAM, 640 pJ per 32-bit read = 160 pJ per byte"), 0.9, 4.6, 0,
         4.6, 160.0, 0, ""},
    };
}

hardware_profile find_hardware_profile(const std::string& name) {
    for (const hardware_profile& h : hardware_profiles())
        if (h.name == name) return h;
    const bool looks_like_file = name.size() > 5 && name.substr(name.size() - 5) == ".json";
    if (!looks_like_file && !std::filesystem::exists(name)) {
        std::string names;
        for (const hardware_profile& h : hardware_profiles()) names += (names.empty() ? "" : ", ") + h.name;
        throw error(cat("unknown hardware profile '", name, "': expected one of ", names, " or a JSON file"));
    }
    std::ifstream in(name);
    if (!in) throw file_error(cat("cannot open hardware profile '", name, "'"));
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
        throw file_error(cat(name, ": not valid JSON: ", e.what()));
    }
    if (!j.is_object()) throw file_error(cat(name, ": expected a JSON object {\"sop_pj\": ..., ...}"));
    static constexpr const char* keys[] = {"name",     "source",         "sop_pj",      "neuron_update_pj", "spike_pj",
                                           "mac_pj",   "weight_byte_pj", "weight_bits", "weights"};
    for (auto it = j.begin(); it != j.end(); ++it)
        if (std::find(std::begin(keys), std::end(keys), it.key()) == std::end(keys))
            throw file_error(cat(name, ": unknown key '", it.key(),
                                 "' (expected name, source, sop_pj, neuron_update_pj, spike_pj, mac_pj, weight_byte_pj, "
                                 "weight_bits, weights)"));
    auto text = [&](const char* key, const std::string& fallback) {
        if (!j.contains(key)) return fallback;
        if (!j[key].is_string()) throw file_error(cat(name, ": key '", key, "' must be a string, got ", j[key].dump()));
        return j[key].get<std::string>();
    };
    auto picojoules = [&](const char* key, bool required, double fallback) {
        if (!j.contains(key)) {
            if (required) throw file_error(cat(name, ": missing key '", key, "' (picojoules)"));
            return fallback;
        }
        if (!j[key].is_number()) throw file_error(cat(name, ": key '", key, "' must be a number (picojoules), got ", j[key].dump()));
        const double v = j[key].get<double>();
        if (!(v >= 0) || !std::isfinite(v)) throw file_error(cat(name, ": key '", key, "' = ", v, ", expected a finite value >= 0"));
        return v;
    };
    hardware_profile h;
    h.name = text("name", std::filesystem::path(name).stem().string());
    h.source = text("source", std::string("user file ") + name);
    h.sop_pj = picojoules("sop_pj", true, 0);
    h.neuron_update_pj = picojoules("neuron_update_pj", true, 0);
    h.spike_pj = picojoules("spike_pj", true, 0);
    h.mac_pj = picojoules("mac_pj", false, -1);
    h.weight_byte_pj = picojoules("weight_byte_pj", false, 0);
    if (j.contains("weight_bits")) {
        const auto& b = j["weight_bits"];
        if (!b.is_number_integer() || b.get<std::int64_t>() < 1 || b.get<std::int64_t>() > 64)
            throw file_error(cat(name, ": key 'weight_bits' = ", b.dump(), ", expected an integer 1 .. 64"));
        h.weight_bits = static_cast<unsigned>(b.get<std::int64_t>());
    }
    h.weights = text("weights", "");
    if (!h.weights.empty()) {
        try {
            (void)weight_format_from_string(h.weights);
        } catch (const error&) {
            throw file_error(cat(name, ": key 'weights' = '", h.weights, "', expected fp32, bf16 or int8"));
        }
    }
    return h;
}

namespace {

std::string figure(double pj) {
    char buf[32];
    if (pj >= 1e3) std::snprintf(buf, sizeof buf, "%g nJ", pj * 1e-3);
    else std::snprintf(buf, sizeof buf, "%g pJ", pj);
    return buf;
}

}  // namespace

std::string hardware_profile_list() {
    std::string out;
    for (const hardware_profile& h : hardware_profiles()) {
        out += cat(h.name, ": SOP ", figure(h.sop_pj), ", neuron update ", figure(h.neuron_update_pj), ", spike ",
                   figure(h.spike_pj), ", MAC ", h.mac_pj < 0 ? std::string("as a SOP") : figure(h.mac_pj), ", weight byte ",
                   figure(h.weight_byte_pj), h.weight_bits ? cat(", ", h.weight_bits, "-bit weights") : std::string(),
                   h.weights.empty() ? std::string() : cat(", weights ", h.weights), "\n    [", h.source, "]\n");
    }
    return out;
}

hardware_report make_hardware_report(const activity& a, const hardware_profile& profile) {
    hardware_report r;
    r.profile = profile;
    r.mac_price_pj = profile.mac_pj < 0 ? profile.sop_pj : profile.mac_pj;
    if (profile.weight_bits) {
        r.weight_bits = profile.weight_bits;
        r.weight_bits_from = "profile";
    } else {
        r.weight_bits = weight_bits(weight_format_from_string(a.weights.empty() ? "fp32" : a.weights));
        r.weight_bits_from = cat("run (", a.weights.empty() ? "fp32" : a.weights, ")");
    }
    const double bytes_per_weight = r.weight_bits / 8.0;
    std::map<std::string, const report_population*> population_of;
    for (const report_population& p : a.populations) population_of[p.name] = &p;
    constexpr std::size_t SO = op_field("sops"), MA = op_field("macs");
    r.total.name = "TOTAL";
    auto finish = [&](hardware_row& row) {
        row.weight_bytes = (row.sops + row.macs) * bytes_per_weight;
        row.sop_pj = profile.sop_pj * row.sops;
        row.mac_pj = r.mac_price_pj * row.macs;
        row.neuron_pj = profile.neuron_update_pj * row.neuron_updates;
        row.spike_pj = profile.spike_pj * row.spikes;
        row.memory_pj = profile.weight_byte_pj * row.weight_bytes;
        row.total_pj = row.sop_pj + row.mac_pj + row.neuron_pj + row.spike_pj + row.memory_pj;
        hardware_row& t = r.total;
        t.sops += row.sops;
        t.macs += row.macs;
        t.neuron_updates += row.neuron_updates;
        t.spikes += row.spikes;
        t.weight_bytes += row.weight_bytes;
        t.sop_pj += row.sop_pj;
        t.mac_pj += row.mac_pj;
        t.neuron_pj += row.neuron_pj;
        t.spike_pj += row.spike_pj;
        t.memory_pj += row.memory_pj;
        t.total_pj += row.total_pj;
        r.rows.push_back(row);
    };
    for (const activity::projection_row& p : a.projections) {
        hardware_row row;
        row.name = p.name;
        row.kind = "projection";
        row.sops = p.ops[SO];
        row.macs = p.ops[MA];
        finish(row);
    }
    for (const activity::node_row& n : a.nodes) {
        hardware_row row;
        row.name = n.name;
        row.kind = n.kind;
        row.sops = n.ops[SO];
        row.macs = n.ops[MA];
        const auto it = population_of.find(n.name);
        if (it != population_of.end() && it->second->neurons) {
            row.neuron_updates = it->second->neuron_updates;
            row.spikes = it->second->spikes;
        }
        if (row.sops == 0 && row.macs == 0 && row.neuron_updates == 0 && row.spikes == 0) continue;
        finish(row);
    }
    r.formula = cat("E_", profile.name, " = ", profile.sop_pj, " pJ x SOPs + ", r.mac_price_pj, " pJ x MACs",
                    profile.mac_pj < 0 ? " (priced as SOPs)" : "", " + ", profile.neuron_update_pj, " pJ x neuron updates + ",
                    profile.spike_pj, " pJ x spikes + ", profile.weight_byte_pj, " pJ x weight bytes (", r.weight_bits,
                    "-bit weights, from the ", r.weight_bits_from, "; one weight read per SOP and per MAC)");
    return r;
}

}  // namespace lmusim
