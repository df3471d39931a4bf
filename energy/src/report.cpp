#include "lmusim/energy/report.hpp"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "lmusim/core/error.hpp"
#include "lmusim/core/strings.hpp"

namespace lmusim {

std::vector<energy_model> energy_presets() {
    const std::string horowitz = "M. Horowitz, 'Computing's energy problem', ISSCC 2014, 45 nm";
    return {
        {"horowitz45-fp32", horowitz + " fp32: MAC = mult 3.7 + add 0.9 pJ, AC = add 0.9 pJ; element-wise op = add", 4.6, 0.9, 0.9},
        {"horowitz45-fp16", horowitz + " fp16: MAC = 1.1 + 0.4 pJ, AC = 0.4 pJ; element-wise op = add", 1.5, 0.4, 0.4},
        {"horowitz45-int8", horowitz + " int8: MAC = 0.2 + 0.03 pJ, AC = 0.03 pJ; element-wise op = add", 0.23, 0.03, 0.03},
    };
}

energy_model find_energy_model(const std::string& name) {
    for (const energy_model& m : energy_presets())
        if (m.name == name) return m;
    const bool looks_like_file = name.size() > 5 && name.substr(name.size() - 5) == ".json";
    if (!looks_like_file && !std::filesystem::exists(name)) {
        std::string names;
        for (const energy_model& m : energy_presets()) names += (names.empty() ? "" : ", ") + m.name;
        throw error(cat("unknown energy model '", name, "': expected one of ", names, " or a JSON file"));
    }
    std::ifstream in(name);
    if (!in) throw file_error(cat("cannot open energy model '", name, "'"));
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
        throw file_error(cat(name, ": not valid JSON: ", e.what()));
    }
    if (!j.is_object()) throw file_error(cat(name, ": expected a JSON object"));
    energy_model m;
    m.name = j.value("name", std::filesystem::path(name).stem().string());
    m.source = j.value("source", std::string("user file ") + name);
    auto number = [&](const char* key, bool required) {
        if (!j.contains(key)) {
            if (required) throw file_error(cat(name, ": missing key '", key, "' (picojoules per operation)"));
            return 0.0;
        }
        if (!j[key].is_number()) throw file_error(cat(name, ": key '", key, "' must be a number (picojoules), got ", j[key].dump()));
        const double v = j[key].get<double>();
        if (!(v >= 0) || !std::isfinite(v)) throw file_error(cat(name, ": key '", key, "' = ", v, ", expected a finite value >= 0"));
        return v;
    };
    m.mac_pj = number("mac_pj", true);
    m.ac_pj = number("ac_pj", true);
    m.elementwise_pj = number("elementwise_pj", false);
    for (auto it = j.begin(); it != j.end(); ++it)
        if (it.key() != "name" && it.key() != "source" && it.key() != "mac_pj" && it.key() != "ac_pj" &&
            it.key() != "elementwise_pj")
            throw file_error(cat(name, ": unknown key '", it.key(), "' (expected name, source, mac_pj, ac_pj, elementwise_pj)"));
    return m;
}

namespace {

std::string pj_text(double pj) {
    char buf[32];
    if (pj >= 1e6) std::snprintf(buf, sizeof buf, "%.3f uJ", pj * 1e-6);
    else if (pj >= 1e3) std::snprintf(buf, sizeof buf, "%.3f nJ", pj * 1e-3);
    else std::snprintf(buf, sizeof buf, "%.3f pJ", pj);
    return buf;
}

std::string count_text(double v) {
    char buf[32];
    if (v >= 1e9) std::snprintf(buf, sizeof buf, "%.3fG", v * 1e-9);
    else if (v >= 1e6) std::snprintf(buf, sizeof buf, "%.3fM", v * 1e-6);
    else if (v >= 1e3) std::snprintf(buf, sizeof buf, "%.2fk", v * 1e-3);
    else std::snprintf(buf, sizeof buf, "%.0f", v);
    return buf;
}

}  // namespace

energy_report make_report(const activity& a, const energy_model& model, bool include_elementwise) {
    energy_report r;
    r.file = a.file;
    r.format = a.format;
    r.network = a.network;
    r.clips = a.clips;
    r.frames = a.frames;
    r.populations = a.populations;
    r.model = model;
    r.include_elementwise = include_elementwise;
    std::map<std::string, double> rate_of;
    for (const report_population& p : a.populations) rate_of[p.name] = p.rate;
    constexpr std::size_t EV = op_field("events"), SO = op_field("sops"), MA = op_field("macs"), DE = op_field("dense"),
                          EL = op_field("elementwise");
    const double e_mac = model.mac_pj, e_ac = model.ac_pj, e_el = include_elementwise ? model.elementwise_pj : 0.0;
    auto finish = [&](report_row& row) {
        row.snn_pj = e_mac * row.macs + e_ac * row.sops + e_el * row.elementwise;
        row.ann_pj = e_mac * row.dense + e_el * row.elementwise;
        r.snn_pj += row.snn_pj;
        r.ann_pj += row.ann_pj;
        r.sops += row.sops;
        r.macs += row.macs;
        r.dense += row.dense;
        r.elementwise += row.elementwise;
    };
    for (const activity::projection_row& p : a.projections) {
        const auto& o = p.ops;
        report_row row{p.name, "projection", p.source, p.target, o[EV], o[SO], o[MA], o[DE], o[EL]};
        const auto it = rate_of.find(p.source);
        row.source_rate = it == rate_of.end() ? -1.0 : it->second;
        finish(row);
        r.rows.push_back(row);
    }
    for (const activity::node_row& n : a.nodes) {
        const auto& o = n.ops;
        if (o[MA] == 0 && o[SO] == 0 && o[DE] == 0 && o[EL] == 0) continue;
        report_row row{n.name, n.kind, "", "", 0, o[SO], o[MA], o[DE], o[EL]};
        finish(row);
        r.rows.push_back(row);
    }
    // NeuroBench (docs/energy.md): per sample, from the counts of every projection and node.
    neurobench_figures& nb = r.neurobench;
    nb.footprint = a.footprint_bytes;
    nb.connection_sparsity = a.connection_weights > 0 ? a.connection_zeros / a.connection_weights : -1.0;
    double spikes = 0, neuron_steps = 0;
    for (const report_population& p : a.populations)
        if (p.neurons) {
            spikes += p.spikes;
            neuron_steps += static_cast<double>(p.size) * static_cast<double>(a.frames);
        }
    nb.activation_sparsity = neuron_steps > 0 ? 1.0 - spikes / neuron_steps : 0.0;
    constexpr std::size_t ACS = op_field("effective_acs"), MACS = op_field("effective_macs"), MEM = op_field("membrane");
    for (const auto& p : a.projections) {
        nb.effective_acs += p.ops[ACS];
        nb.effective_macs += p.ops[MACS];
        nb.dense += p.ops[DE];
    }
    for (const auto& n : a.nodes) {
        nb.effective_acs += n.ops[ACS];
        nb.effective_macs += n.ops[MACS];
        nb.dense += n.ops[DE];
        nb.membrane_updates += n.ops[MEM];
    }
    r.snn_formula = cat("E_SNN = ", e_mac, " pJ x MACs + ", e_ac, " pJ x SOPs",
                        include_elementwise ? cat(" + ", e_el, " pJ x element-wise ops") : std::string(" (element-wise ops excluded)"));
    r.ann_formula = cat("E_ANN = ", e_mac, " pJ x dense-equivalent MACs",
                        include_elementwise ? cat(" + ", e_el, " pJ x element-wise ops") : std::string(" (element-wise ops excluded)"));
    return r;
}

std::string report_json(const energy_report& r) {
    nlohmann::ordered_json j;
    j["file"] = r.file;
    j["format"] = r.format;
    j["network"] = r.network;
    j["clips"] = r.clips;
    j["frames_per_clip"] = r.frames;
    j["energy_model"] = {{"name", r.model.name}, {"source", r.model.source}, {"mac_pj", r.model.mac_pj},
                         {"ac_pj", r.model.ac_pj}, {"elementwise_pj", r.model.elementwise_pj}};
    j["include_elementwise"] = r.include_elementwise;
    j["formula"] = {{"snn", r.snn_formula}, {"ann", r.ann_formula}, {"per", "clip (mean over clips)"}};
    for (const auto& p : r.populations)
        j["populations"].push_back({{"name", p.name}, {"size", p.size}, {"spikes_per_clip", p.spikes}, {"firing_rate", p.rate}});
    for (const auto& row : r.rows) {
        nlohmann::ordered_json o = {{"name", row.name}, {"kind", row.kind}};
        if (row.kind == "projection") {
            o["source"] = row.source;
            o["target"] = row.target;
            o["source_firing_rate"] = row.source_rate < 0 ? nlohmann::ordered_json() : nlohmann::ordered_json(row.source_rate);
            o["events"] = row.events;
        }
        o["sops"] = row.sops;
        o["macs"] = row.macs;
        o["dense_macs"] = row.dense;
        o["elementwise"] = row.elementwise;
        o["snn_pj"] = row.snn_pj;
        o["ann_pj"] = row.ann_pj;
        j["layers"].push_back(o);
    }
    const neurobench_figures& nb = r.neurobench;
    nlohmann::ordered_json n;
    n["Footprint"] = nb.footprint < 0 ? nlohmann::ordered_json() : nlohmann::ordered_json(nb.footprint);
    n["ConnectionSparsity"] = nb.connection_sparsity < 0 ? nlohmann::ordered_json() : nlohmann::ordered_json(nb.connection_sparsity);
    n["ActivationSparsity"] = nb.activation_sparsity;
    n["MembraneUpdates"] = nb.membrane_updates;
    n["SynapticOperations"] = {{"Effective_MACs", nb.effective_macs}, {"Effective_ACs", nb.effective_acs}, {"Dense", nb.dense}};
    j["neurobench"] = n;
    j["total"] = {{"sops", r.sops},          {"macs", r.macs},     {"dense_macs", r.dense}, {"elementwise", r.elementwise},
                  {"snn_pj", r.snn_pj},      {"ann_pj", r.ann_pj}, {"ann_over_snn", r.snn_pj > 0 ? r.ann_pj / r.snn_pj : 0.0}};
    if (r.hardware) {
        const hardware_report& h = *r.hardware;
        const hardware_profile& p = h.profile;
        nlohmann::ordered_json o;
        o["profile"] = {{"name", p.name},
                        {"source", p.source},
                        {"sop_pj", p.sop_pj},
                        {"neuron_update_pj", p.neuron_update_pj},
                        {"spike_pj", p.spike_pj},
                        {"mac_pj", p.mac_pj < 0 ? nlohmann::ordered_json() : nlohmann::ordered_json(p.mac_pj)},
                        {"weight_byte_pj", p.weight_byte_pj},
                        {"weight_bits", p.weight_bits ? nlohmann::ordered_json(p.weight_bits) : nlohmann::ordered_json()},
                        {"weights", p.weights.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(p.weights)}};
        o["mac_price_pj"] = h.mac_price_pj;
        o["weight_bits"] = h.weight_bits;
        o["weight_bits_from"] = h.weight_bits_from;
        o["formula"] = h.formula;
        auto row_json = [](const hardware_row& row) {
            nlohmann::ordered_json x = {{"name", row.name}, {"kind", row.kind}};
            x["counts"] = {{"sops", row.sops},
                           {"macs", row.macs},
                           {"neuron_updates", row.neuron_updates},
                           {"spikes", row.spikes},
                           {"weight_bytes", row.weight_bytes}};
            x["energy_pj"] = {{"sops", row.sop_pj},     {"macs", row.mac_pj},      {"neuron_updates", row.neuron_pj},
                              {"spikes", row.spike_pj}, {"memory", row.memory_pj}, {"total", row.total_pj}};
            return x;
        };
        o["layers"] = nlohmann::ordered_json::array();
        for (const hardware_row& row : h.rows) o["layers"].push_back(row_json(row));
        nlohmann::ordered_json t = row_json(h.total);
        t.erase("name");
        t.erase("kind");
        o["total"] = t;
        j["hardware"] = o;
    }
    return j.dump(2);
}

std::string report_table(const energy_report& r) {
    std::string out;
    char line[512];
    out += cat("report for ", r.file, " (", r.format, ", network ", r.network, "): ", r.clips, " clip(s) of ", r.frames,
               " frames/steps; figures per clip (mean)\n");
    out += cat("energy model ", r.model.name, ": MAC ", r.model.mac_pj, " pJ, AC ", r.model.ac_pj, " pJ, element-wise ",
               r.model.elementwise_pj, " pJ  [", r.model.source, "]\n\n");
    std::snprintf(line, sizeof line, "%-34s %8s %10s\n", "population", "neurons", "rate");
    out += line;
    for (const auto& p : r.populations) {
        std::snprintf(line, sizeof line, "%-34s %8llu %9.2f%%\n", p.name.c_str(), static_cast<unsigned long long>(p.size), 100 * p.rate);
        out += line;
    }
    out += "\n";
    std::snprintf(line, sizeof line, "%-34s %7s %10s %10s %10s %10s %12s %12s %7s\n", "layer", "in rate", "SOPs", "MACs",
                  "dense", "elem", "E_SNN", "E_ANN", "ANN/SNN");
    out += line;
    for (const auto& row : r.rows) {
        // Pure routing (identity on real values) and, when excluded, element-wise-only rows.
        if (row.sops == 0 && row.macs == 0 && row.dense == 0 && (row.elementwise == 0 || !r.include_elementwise)) continue;
        char rate[16] = "   -";
        if (row.source_rate >= 0) std::snprintf(rate, sizeof rate, "%6.2f%%", 100 * row.source_rate);
        const double ratio = row.snn_pj > 0 ? row.ann_pj / row.snn_pj : 0.0;
        std::snprintf(line, sizeof line, "%-34s %7s %10s %10s %10s %10s %12s %12s %7.2f\n", row.name.c_str(), rate,
                      count_text(row.sops).c_str(), count_text(row.macs).c_str(), count_text(row.dense).c_str(),
                      count_text(row.elementwise).c_str(), pj_text(row.snn_pj).c_str(), pj_text(row.ann_pj).c_str(), ratio);
        out += line;
    }
    std::snprintf(line, sizeof line, "%-34s %7s %10s %10s %10s %10s %12s %12s %7.2f\n", "TOTAL", "", count_text(r.sops).c_str(),
                  count_text(r.macs).c_str(), count_text(r.dense).c_str(), count_text(r.elementwise).c_str(),
                  pj_text(r.snn_pj).c_str(), pj_text(r.ann_pj).c_str(), r.snn_pj > 0 ? r.ann_pj / r.snn_pj : 0.0);
    out += line;
    out += cat("\n", r.snn_formula, "\n", r.ann_formula, "\n");
    if (!r.include_elementwise)
        out += cat("element-wise ops (affines, residual adds, biases, neuron updates): ", count_text(r.elementwise),
                   " per clip, not in the energy (--include-elementwise adds them to both sides)\n");
    const neurobench_figures& nb = r.neurobench;
    out += cat("\nNeuroBench (per sample; docs/energy.md): Footprint ",
               nb.footprint < 0 ? std::string("n/a") : cat(static_cast<std::uint64_t>(nb.footprint), " B"),
               ", ConnectionSparsity ", nb.connection_sparsity < 0 ? std::string("n/a") : cat(nb.connection_sparsity),
               ", ActivationSparsity ", nb.activation_sparsity, ", MembraneUpdates ", count_text(nb.membrane_updates),
               ",\n  SynapticOperations: Effective_MACs ", count_text(nb.effective_macs), ", Effective_ACs ",
               count_text(nb.effective_acs), ", Dense ", count_text(nb.dense), "\n");
    out += "SOPs: accumulates triggered by spikes (taps inside the clip only); MACs: real-valued input;\n"
           "dense: the same layer in an ANN; the LMU memory's impulse mode counts one H column per earlier\n"
           "input spike per frame as SOPs. Memory traffic is not modelled (docs/energy.md).\n";
    if (r.hardware) {
        const hardware_report& h = *r.hardware;
        out += cat("\nhardware profile ", h.profile.name, " [", h.profile.source, "]\n");
        std::snprintf(line, sizeof line, "%-34s %10s %10s %10s %10s %11s %11s %11s %11s %11s %11s\n", "layer", "SOPs", "MACs",
                      "updates", "spikes", "E_SOP", "E_MAC", "E_neuron", "E_spike", "E_memory", "E_total");
        out += line;
        auto print_row = [&](const hardware_row& row) {
            std::snprintf(line, sizeof line, "%-34s %10s %10s %10s %10s %11s %11s %11s %11s %11s %11s\n", row.name.c_str(),
                          count_text(row.sops).c_str(), count_text(row.macs).c_str(), count_text(row.neuron_updates).c_str(),
                          count_text(row.spikes).c_str(), pj_text(row.sop_pj).c_str(), pj_text(row.mac_pj).c_str(),
                          pj_text(row.neuron_pj).c_str(), pj_text(row.spike_pj).c_str(), pj_text(row.memory_pj).c_str(),
                          pj_text(row.total_pj).c_str());
            out += line;
        };
        for (const hardware_row& row : h.rows) print_row(row);
        print_row(h.total);
        out += cat(h.formula, "\nneuron updates: neurons x frames (steps) of every population of neurons; spikes: those "
                              "they emit;\nweight bytes: ",
                   count_text(h.total.weight_bytes), " per clip. Element-wise ops (affines, residual adds) are not priced.\n");
    }
    return out;
}

}  // namespace lmusim
