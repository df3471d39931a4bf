// lmusim models: load a model file, run clips (whole or streaming), stream frame by frame.
#include <filesystem>
#include <map>
#include <optional>

#include <pybind11/stl/filesystem.h>

#include "common.hpp"
#include "lmusim/io/checkpoint.hpp"
#include "lmusim/io/clip_writer.hpp"
#include "lmusim/io/activity_file.hpp"
#include "lmusim/io/model_file.hpp"
#include "lmusim/io/nir.hpp"
#include "lmusim/core/strings.hpp"
#include "lmusim/graph/weights.hpp"
#include "lmusim/sim/run_clips.hpp"
#include "lmusim/sim/clip_runner.hpp"

namespace lmusim::py_bindings {
namespace {

py::dict ops_dict(const std::vector<std::string>& names, const std::vector<op_counts>& ops, std::size_t clips) {
    py::dict d;
    const std::size_t P = names.size();
    for (std::size_t p = 0; p < P; ++p)
        d[py::str(names[p])] = ops_to_dict(clips, [&](std::size_t c) -> const op_counts& { return ops[c * P + p]; });
    return d;
}

// A streaming session over a clip_runner (one clip per stream).
class py_stream {
public:
    py_stream(const model_file& mf, std::size_t streams, std::size_t threads)
        : runner_(mf.net, context{.threads = threads, .streams = streams}, mf.input_node, mf.output_node) {
        runner_.begin();
    }
    // frames: [n][streams][width]; returns (frame indices [k], values [k][streams][classes]).
    py::tuple push(carray<float> frames) {
        std::vector<frame_output> out;
        {
            py::gil_scoped_release release;
            out = runner_.push(as_span(frames));
        }
        return pack(out);
    }
    py::tuple flush() {
        std::vector<frame_output> out;
        {
            py::gil_scoped_release release;
            out = runner_.finish();
        }
        return pack(out);
    }
    void restart() { runner_.begin(); }
    void save_state(const std::filesystem::path& path, const std::string& model_sha256, bool overwrite) const {
        py::gil_scoped_release release;
        save_checkpoint(runner_, path.string(), {.model_sha256 = model_sha256, .existing = overwrite_if(overwrite)});
    }
    std::uint64_t load_state(const std::filesystem::path& path, const std::string& model_sha256) {
        py::gil_scoped_release release;
        load_checkpoint(runner_, path.string(), {.model_sha256 = model_sha256});
        return runner_.frames_pushed();
    }
    std::size_t streams() const { return runner_.streams(); }
    std::size_t width() const { return runner_.input_width(); }
    std::uint32_t latency() const { return runner_.latency(); }
    std::uint64_t frames_pushed() const { return runner_.frames_pushed(); }
    py::dict spike_counts() const {
        py::dict d;
        const simulation& sim = runner_.sim();
        for (std::size_t i = 0; i < sim.net().nodes.size(); ++i)
            if (sim.net().nodes[i].spiking()) {
                const auto c = sim.spike_counts(i);
                d[py::str(sim.net().nodes[i].name)] =
                    to_numpy(c.data(), {static_cast<py::ssize_t>(streams()), static_cast<py::ssize_t>(sim.net().nodes[i].size)});
            }
        return d;
    }

private:
    py::tuple pack(const std::vector<frame_output>& out) const {
        const std::size_t C = runner_.output_width(), S = streams();
        py::array_t<std::int64_t> idx(static_cast<py::ssize_t>(out.size()));
        py::array_t<float> vals({static_cast<py::ssize_t>(out.size()), static_cast<py::ssize_t>(S), static_cast<py::ssize_t>(C)});
        float* v = vals.mutable_data();
        for (std::size_t k = 0; k < out.size(); ++k) {
            idx.mutable_at(k) = static_cast<std::int64_t>(out[k].frame);
            std::copy(out[k].values.begin(), out[k].values.end(), v + k * S * C);
        }
        return py::make_tuple(idx, vals);
    }
    clip_runner runner_;
};

}  // namespace

void register_model(py::module_& m) {
    py::class_<model_file>(m, "ModelFile", "A model file: the network and its metadata.")
        .def_readonly("network", &model_file::net)
        .def_readonly("model", &model_file::model)
        .def_readonly("class_names", &model_file::class_names)
        .def_readonly("input_node", &model_file::input_node)
        .def_readonly("output_node", &model_file::output_node)
        .def_property_readonly("feature_mean", [](const model_file& mf) { return mf.frontend.feature_mean; })
        .def_property_readonly("feature_std2", [](const model_file& mf) { return mf.frontend.feature_std2; })
        .def_property_readonly("pcen",
                               [](const model_file& mf) -> std::optional<std::map<std::string, double>> {
                                   const pcen_options& p = mf.frontend.pcen;
                                   if (!p.enabled) return std::nullopt;
                                   std::map<std::string, double> out;
                                   for (const auto& [name, member] : pcen_parameters) out[name] = p.*member;
                                   return out;
                               })
        .def("set_memory_mode",
             [](model_file& mf, const std::string& mode) { set_memory_mode(mf.net, memory_mode_from_string(mode)); })
        .def("set_weights", [](model_file& mf, const std::string& format) { compress_weights(mf.net, weight_format_from_string(format)); },
             py::arg("format"), "Round the synaptic weights to fp32 (unchanged), bf16 or int8 (docs/weights.md)")
        .def_property_readonly("weights", [](const model_file& mf) { return std::string(to_string(mf.net.weights)); });
    m.def("load_model", &load_model, py::arg("path"));

    m.def("run_clips",
          [](const model_file& mf, carray<float> features, std::size_t clips, std::size_t frames, std::size_t batch,
             std::size_t threads, bool stream, const std::string& output, bool record_spikes, bool per_frame_counts,
             bool overwrite, const std::vector<std::string>& value_nodes) {
              run_clips_options opt;
              opt.batch = batch;
              opt.threads = threads;
              opt.stream = stream;
              opt.input_node = mf.input_node;
              opt.output_node = mf.output_node;
              opt.value_nodes = value_nodes;
              opt.collect_spikes = record_spikes && !output.empty();
              opt.collect_per_frame = per_frame_counts && !output.empty();
              if (!output.empty()) {
                  clip_writer_options wo{.spikes = record_spikes,
                                         .per_frame_counts = per_frame_counts,
                                         .class_names = mf.class_names,
                                         .node_outputs = value_nodes,
                                         .attributes = {{"source", "python"},
                                                        {"mode", stream ? "stream" : "clip"},
                                                        {"weights", std::string(to_string(mf.net.weights))}},
                                         .existing = overwrite_if(overwrite)};
                  opt.sink = clip_output(output, std::move(wo));
              }
              clips_result r;
              {
                  py::gil_scoped_release release;
                  r = run_clips(mf.net, as_span(features), clips, frames, opt);
              }
              py::dict d;
              const auto S = static_cast<py::ssize_t>(clips), T = static_cast<py::ssize_t>(frames),
                         C = static_cast<py::ssize_t>(r.classes);
              d["logits"] = to_numpy(r.logits.data(), {S, C});
              d["frame_logits"] = to_numpy(r.frame_logits.data(), {S, T, C});
              py::dict counts;
              for (std::size_t k = 0; k < r.populations.size(); ++k)
                  counts[py::str(r.populations[k])] =
                      to_numpy(r.spike_counts[k].data(), {S, static_cast<py::ssize_t>(r.spike_counts[k].size() / clips)});
              d["spike_counts"] = counts;
              d["ops"] = ops_dict(r.projections, r.ops, clips);
              d["node_ops"] = ops_dict(r.nodes, r.node_ops, clips);
              d["latency"] = r.latency;
              d["seconds"] = r.seconds;
              py::dict values;
              for (std::size_t k = 0; k < value_nodes.size(); ++k) {
                  const auto size = static_cast<py::ssize_t>(mf.net.find_node(value_nodes[k]).size);
                  values[py::str(value_nodes[k])] = to_numpy(r.node_values[k].data(), {S, T, size});
              }
              d["node_values"] = values;
              return d;
          },
          py::arg("model"), py::arg("features"), py::arg("clips"), py::arg("frames"), py::arg("batch") = 16,
          py::arg("threads") = 0, py::arg("stream") = false, py::arg("output") = "", py::arg("record_spikes") = false,
          py::arg("per_frame_counts") = false, py::arg("overwrite") = false,
          py::arg("value_nodes") = std::vector<std::string>{});

    m.def("load_nir",
          [](const std::string& path, double dt, const std::string& discretization, const std::string& reset,
             bool spike_input, const std::string& readout) {
              nir_options o;
              o.dt = dt;
              o.spike_input = spike_input;
              if (readout != "sum" && readout != "last") throw error(cat("readout '", readout, "', expected sum or last"));
              o.readout_sum = readout == "sum";
              o.discretization = nir_discretization_from_string(discretization);
              o.reset = nir_reset_from_string(reset);
              nir_model g = load_nir(path, o);
              if (g.inputs.size() != 1)
                  throw error(cat(path, ": ", g.inputs.size(), " Input nodes; lmusim runs graphs with exactly one"));
              model_file mf;
              mf.model = "nir";
              mf.input_node = g.inputs[0];
              mf.output_node = g.logits;
              mf.net = std::move(g.net);
              py::dict d;
              d["file"] = std::move(mf);
              d["version"] = g.version;
              d["inputs"] = g.inputs;
              d["outputs"] = g.outputs;
              d["input_shape"] = g.input_shapes[0];
              d["notes"] = g.notes;
              py::list entries;
              for (const auto& e : g.entries) entries.append(py::make_tuple(e.name, e.type, e.shape, e.lowered));
              d["nodes"] = entries;
              py::list edges;
              for (const auto& [e, back] : g.edges) edges.append(py::make_tuple(e.first, e.second, back));
              d["edges"] = edges;
              return d;
          },
          py::arg("path"), py::arg("dt"), py::arg("discretization") = "euler", py::arg("reset") = "zero",
          py::arg("spike_input") = false, py::arg("readout") = "sum");
    m.def("is_nir_file", &is_nir_file, py::arg("path"));

    m.def("report_json",
          [](const std::string& path, const std::string& model_name, bool include_elementwise, const std::string& hardware) {
              const energy_model model = find_energy_model(model_name);
              std::optional<hardware_profile> profile;
              if (!hardware.empty()) profile = find_hardware_profile(hardware);
              const activity a = read_activity(path);
              energy_report r = make_report(a, model, include_elementwise);
              if (profile) r.hardware = make_hardware_report(a, *profile);
              return report_json(r);
          },
          py::arg("path"), py::arg("energy_model") = "horowitz45-fp32", py::arg("include_elementwise") = false,
          py::arg("hardware") = "");
    m.def("hardware_profiles", [] {
        py::list out;
        for (const hardware_profile& h : hardware_profiles()) {
            py::dict d;
            d["name"] = h.name;
            d["source"] = h.source;
            d["sop_pj"] = h.sop_pj;
            d["neuron_update_pj"] = h.neuron_update_pj;
            d["spike_pj"] = h.spike_pj;
            d["mac_pj"] = h.mac_pj < 0 ? py::object(py::none()) : py::object(py::float_(h.mac_pj));
            d["weight_byte_pj"] = h.weight_byte_pj;
            d["weight_bits"] = h.weight_bits ? py::object(py::int_(h.weight_bits)) : py::object(py::none());
            d["weights"] = h.weights.empty() ? py::object(py::none()) : py::object(py::str(h.weights));
            out.append(d);
        }
        return out;
    });
    m.def("energy_presets", [] {
        py::list out;
        for (const energy_model& e : energy_presets()) {
            py::dict d;
            d["name"] = e.name;
            d["source"] = e.source;
            d["mac_pj"] = e.mac_pj;
            d["ac_pj"] = e.ac_pj;
            d["elementwise_pj"] = e.elementwise_pj;
            out.append(d);
        }
        return out;
    });

    py::class_<py_stream>(m, "Stream", "Frame-by-frame streaming with persistent state.")
        .def(py::init([](const model_file& mf, std::size_t streams, std::size_t threads) {
                 return std::make_unique<py_stream>(mf, streams, threads);
             }),
             py::arg("model"), py::arg("streams") = 1, py::arg("threads") = 0)
        .def("push", &py_stream::push, py::arg("frames"))
        .def("flush", &py_stream::flush)
        .def("restart", &py_stream::restart)
        .def("save_state", &py_stream::save_state, py::arg("path"), py::arg("model_sha256") = "", py::arg("overwrite") = false)
        .def("load_state", &py_stream::load_state, py::arg("path"), py::arg("model_sha256") = "")
        .def("spike_counts", &py_stream::spike_counts)
        .def_property_readonly("streams", &py_stream::streams)
        .def_property_readonly("width", &py_stream::width)
        .def_property_readonly("latency", &py_stream::latency)
        .def_property_readonly("frames_pushed", &py_stream::frames_pushed);
}

}  // namespace lmusim::py_bindings
