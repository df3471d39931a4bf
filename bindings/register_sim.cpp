// lmusim.Simulation: run a network, read spikes, counts and ops as NumPy arrays.
#include <filesystem>
#include <optional>

#include <pybind11/stl/filesystem.h>

#include "common.hpp"
#include "lmusim/io/checkpoint.hpp"
#include "lmusim/io/h5_recorder.hpp"
#include "lmusim/sim/memory_recorder.hpp"

namespace lmusim::py_bindings {
namespace {

// A simulation plus the in-memory spike record of its runs since the last reset.
class py_simulation {
public:
    py_simulation(network net, std::size_t threads, std::size_t streams, std::size_t block_size)
        : sim_(std::move(net), context{threads, streams, block_size}) {}

    void run(std::uint64_t steps, bool record, const std::optional<std::string>& record_file, std::uint64_t chunk_steps,
             bool overwrite) {
        std::optional<h5_recorder> file;
        if (record_file)
            file.emplace(*record_file, h5_recorder_options{.chunk_steps = chunk_steps, .existing = overwrite_if(overwrite)});
        if (record && !mem_) mem_.emplace();
        recorder_chain both{record ? &*mem_ : nullptr, file ? &*file : nullptr};
        py::gil_scoped_release release;
        sim_.run(steps, {.rec = both.get()});
    }

    void reset() {
        sim_.reset();
        mem_.reset();
    }

    py::tuple spikes(const std::string& name) const {
        const std::size_t i = sim_.net().node_index(name);
        if (!sim_.net().nodes[i].spiking()) throw error("node '" + name + "' is real-valued; it has no spikes");
        if (!mem_) throw error("no spikes were recorded: call run(steps, record=True)");
        const auto& ev = mem_->spikes(i);
        py::array_t<std::int64_t> steps(static_cast<py::ssize_t>(ev.size()));
        py::array_t<std::int64_t> ids(static_cast<py::ssize_t>(ev.size()));
        py::array_t<std::int64_t> streams(static_cast<py::ssize_t>(ev.size()));
        auto s = steps.mutable_unchecked<1>();
        auto d = ids.mutable_unchecked<1>();
        auto c = streams.mutable_unchecked<1>();
        for (std::size_t k = 0; k < ev.size(); ++k) {
            s(static_cast<py::ssize_t>(k)) = static_cast<std::int64_t>(ev[k].step);
            d(static_cast<py::ssize_t>(k)) = ev[k].neuron;
            c(static_cast<py::ssize_t>(k)) = ev[k].stream;
        }
        return py::make_tuple(steps, ids, streams);
    }

    py::array_t<std::uint64_t> spike_counts(const std::string& name) const {
        const std::size_t i = sim_.net().node_index(name);
        const auto c = sim_.spike_counts(i);
        return to_numpy(c.data(), {static_cast<py::ssize_t>(sim_.ctx().streams),
                                   static_cast<py::ssize_t>(sim_.net().nodes[i].size)});
    }

    py::dict ops(const std::string& name) const {
        const std::size_t p = sim_.net().projection_index(name);
        return ops_to_dict(sim_.ctx().streams, [&](std::size_t s) -> const op_counts& { return sim_.ops(p, s); });
    }

    void push_frames(const std::string& node, carray<float> frames) { sim_.push_frames(node, as_span(frames)); }

    // Checkpoints (docs/checkpoint.md). The in-memory spike record is not part of the state:
    // loading clears it.
    void save_state(const std::filesystem::path& path, const std::string& model_sha256, bool overwrite) const {
        py::gil_scoped_release release;
        save_checkpoint(sim_, path.string(), {.model_sha256 = model_sha256, .existing = overwrite_if(overwrite)});
    }
    std::uint64_t load_state(const std::filesystem::path& path, const std::string& model_sha256) {
        mem_.reset();
        py::gil_scoped_release release;
        return load_checkpoint(sim_, path.string(), {.model_sha256 = model_sha256}).steps_done;
    }

    const simulation& sim() const { return sim_; }

private:
    simulation sim_;
    std::optional<memory_recorder> mem_;
};

}  // namespace

void register_sim(py::module_& m) {
    py::class_<py_simulation>(m, "Simulation", "The run-time state of a network.")
        .def(py::init<network, std::size_t, std::size_t, std::size_t>(), py::arg("network"), py::arg("threads") = 0,
             py::arg("streams") = 1, py::arg("block_size") = 4096)
        .def("run", &py_simulation::run, py::arg("steps"), py::arg("record") = false, py::arg("record_file") = py::none(),
             py::arg("chunk_steps") = 1000, py::arg("overwrite") = false)
        .def("reset", &py_simulation::reset)
        .def("spikes", &py_simulation::spikes, py::arg("node"))
        .def("spike_counts", &py_simulation::spike_counts, py::arg("node"))
        .def("ops", &py_simulation::ops, py::arg("projection"))
        .def("push_frames", &py_simulation::push_frames, py::arg("node"), py::arg("frames"))
        .def("save_state", &py_simulation::save_state, py::arg("path"), py::arg("model_sha256") = "", py::arg("overwrite") = false,
             "Write the complete run-time state to an HDF5 checkpoint (docs/checkpoint.md).")
        .def("load_state", &py_simulation::load_state, py::arg("path"), py::arg("model_sha256") = "",
             "Restore a checkpoint of the same network and stream count; returns the step it continues from.")
        .def_property_readonly("steps_done", [](const py_simulation& s) { return s.sim().steps_done(); })
        .def_property_readonly("threads", [](const py_simulation& s) { return s.sim().threads(); })
        .def_property_readonly("streams", [](const py_simulation& s) { return s.sim().ctx().streams; })
        .def_property_readonly("time_ms", [](const py_simulation& s) { return s.sim().time_ms(); });
}

}  // namespace lmusim::py_bindings
