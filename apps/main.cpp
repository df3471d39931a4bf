// The `lmusim` command-line program: a thin layer over the libraries.
//
//   lmusim cuba [--neurons N] [--duration 1s] [--seed S] [--threads T] [--record OUT.h5] [--json]
//   lmusim run NETWORK.h5 --duration 100ms [--threads T] [--record OUT.h5] [--json]
//              [--checkpoint CK.h5 [--checkpoint-every 1s]] [--resume CK.h5]
//   lmusim info NETWORK.h5
//   (every command that writes takes --overwrite; without it an existing output is an error)
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>

#include "lmusim/graph/cuba.hpp"
#include "lmusim/core/error.hpp"
#include "lmusim/core/strings.hpp"
#include "lmusim/frontend/audio.hpp"
#include "lmusim/io/checkpoint.hpp"
#include "lmusim/io/clip_writer.hpp"
#include "lmusim/io/activity_file.hpp"
#include "lmusim/io/h5_recorder.hpp"
#include "lmusim/io/model_file.hpp"
#include "lmusim/io/network_file.hpp"
#include "lmusim/io/nir.hpp"
#include "lmusim/io/npy.hpp"
#include "lmusim/core/output_file.hpp"
#include "lmusim/sim/run_clips.hpp"
#include "lmusim/core/sha256.hpp"
#include "lmusim/sim/simulation.hpp"
#include "lmusim/sim/spotter.hpp"

#include "lmusim/dist/mpi.hpp"

#include "cli.hpp"

namespace {

// One line naming the failure, then the end of the whole job: under mpirun a rank that fails
// takes every rank down with it (MPI_Abort) instead of leaving them waiting for it. The other
// ranks wait a moment first, so that a failure every rank sees is reported once, by rank 0.
[[noreturn]] void fail(lmusim::dist::mpi_session* mpi, int code, const char* kind, const char* what) {
    const bool many = mpi && mpi->size() > 1;
    if (many && mpi->rank() != 0) ::usleep(300 * 1000);
    if (many)
        std::fprintf(stderr, "lmusim: %s on rank %d of %d: %s\n", kind, mpi->rank(), mpi->size(), what);
    else
        std::fprintf(stderr, "lmusim: %s: %s\n", kind, what);
    // _Exit: after a failed write (disk full) HDF5's own exit handler can crash on the file it
    // could not close; everything lmusim wrote before the failure is already flushed.
    std::fflush(stdout);
    std::fflush(stderr);
    if (many) mpi->abort(code);
    std::_Exit(code);
}

}  // namespace

int main(int argc, char** argv) {
    std::unique_ptr<lmusim::dist::mpi_session> mpi;
    try {
        mpi = std::make_unique<lmusim::dist::mpi_session>(argc, argv);
    } catch (const std::exception& e) {
        fail(nullptr, 2, "error", e.what());
    }
    const bool root = mpi->rank() == 0;
    using namespace lmusim::cli;
    using lmusim::cat;
    CLI::App app{"lmusim: an event-driven simulator for spiking networks"};
    app.require_subcommand(1);
    app.set_version_flag("--version", std::string(LMUSIM_VERSION));

    run_settings cuba_run;
    lmusim::cuba_params cp;
    std::string save_path;
    auto* cuba = app.add_subcommand("cuba", "Run the Vogels-Abbott CUBA benchmark network (Brian2's examples/CUBA.py)");
    cuba->add_option("--neurons", cp.neurons, "Number of neurons (80% excitatory)")->capture_default_str();
    cuba->add_option("--fan-in", cp.fan_in, "Expected inputs per neuron; p = fan-in / neurons")->capture_default_str();
    cuba->add_option("--seed", cp.seed, "Seed for connectivity and initial potentials")->capture_default_str();
    cuba->add_option("--delay", cp.delay, "Synaptic delay in steps (1 = Brian2's CUBA)")->capture_default_str();
    cuba->add_option("--save-network", save_path, "Also save the network description to this HDF5 file");
    add_run_options(cuba, cuba_run);

    run_settings file_run;
    model_settings model_run;
    std::string net_path;
    auto* run = app.add_subcommand("run", "Run a network or model saved in HDF5 (a model with --input features)");
    run->add_option("network", net_path, "Network or model file (HDF5)")->required();
    add_run_options(run, file_run);
    run->add_option("--input", model_run.inputs,
                    "Features .npy [frames, mel] or [clips, frames, mel], or 16 kHz mono WAV files (one clip each), or - "
                    "(with --stream: spot keywords in audio from standard input, docs/spotting.md)");
    run->add_option("--chunk-ms", model_run.chunk_ms, "With --stream and WAV input: audio pushed per chunk [ms]")->capture_default_str();
    run->add_option("--output", model_run.output, "Write logits, per-frame logits, spike and op counts to this HDF5 file");
    run->add_flag("--stream", model_run.stream, "Feed the frames one at a time (true streaming)");
    run->add_flag("--record-spikes", model_run.record_spikes, "With --output: also write every spike (SONATA layout)");
    run->add_flag("--per-frame-counts", model_run.per_frame_counts, "With --output: spikes per population per frame");
    run->add_option("--batch", model_run.batch, "Clips run side by side")->capture_default_str();
    run->add_option("--tile-bytes", model_run.tile_bytes,
                    "Batches: weight bytes per cache tile of spike delivery, 0 = no tiling (speed only: results are "
                    "identical for any value)")
        ->capture_default_str();
    // Keyword spotting in a stream (apps/run_spot.cpp, docs/spotting.md)
    run->add_flag("--spot", model_run.spot,
                  "With --stream: spot keywords in one long audio file with sliding 1 s windows, as --input - does");
    run->add_flag("--raw", model_run.raw, "Keyword spotting: the audio is headerless 16-bit little-endian PCM (16 kHz mono)");
    run->add_option("--threshold", model_run.threshold, "Keyword spotting: report a keyword whose smoothed confidence reaches this")
        ->check(CLI::Range(0.0, 1.0))
        ->capture_default_str();
    run->add_option("--release", model_run.release,
                    cat("Keyword spotting: a detection, once started, goes on while its keyword's smoothed confidence is at least this "
                        "(default ", lmusim::spot_options{}.release, ", or --threshold if lower; at most --threshold)"))
        ->check(CLI::Range(0.0, 1.0));
    run->add_option("--hop", model_run.hop, "Keyword spotting: time between window starts (a multiple of 10 ms)")->capture_default_str();
    run->add_option("--refractory", model_run.refractory,
                    "Keyword spotting: a detection ends after this long without a confident window (one word, one line)")
        ->capture_default_str();
    run->add_option("--memory-mode", model_run.memory_mode, "LMU memory: impulse (exact) or recurrence (A m + B u)");
    run->add_option("--dt", model_run.dt, "NIR graphs: the step [s] (e.g. 1e-4); required for them");
    run->add_option("--nir-discretization", model_run.nir_discretization,
                    "NIR graphs: euler (dt/tau) or exact (1 - exp(-dt/tau))")
        ->check(CLI::IsMember({"euler", "exact"}))
        ->capture_default_str();
    run->add_option("--nir-reset", model_run.nir_reset, "NIR graphs: after a spike v <- v_reset (zero) or v - v_threshold (subtract)")
        ->check(CLI::IsMember({"zero", "subtract"}))
        ->capture_default_str();
    run->add_option("--nir-readout", model_run.nir_readout,
                    "NIR graphs: the logits are the first Output's values summed over the steps (sum: spike counts) or "
                    "at the last step (last)")
        ->check(CLI::IsMember({"sum", "last"}))
        ->capture_default_str();

    std::string feat_in, feat_out;
    auto* feat = app.add_subcommand("features", "Log-mel features of a WAV file (the model's front-end), printed or saved as .npy");
    feat->add_option("wav", feat_in, "16 kHz mono WAV (PCM16 or float32)")->required();
    feat->add_option("npy", feat_out, "Write the features [128 frames, 128 mel] here");
    std::string feat_model;
    feat->add_option("--model", feat_model, "Use this model file's front-end (its normalisation, PCEN if it has it); "
                                            "default: upstream's log-mel");
    bool feat_overwrite = false;
    add_overwrite_flag(feat, feat_overwrite);

    std::string report_path, energy_name = "horowitz45-fp32", plot_path;
    bool report_json = false, report_elementwise = false, list_models = false;
    auto* rep = app.add_subcommand("report", "Energy and activity per layer from a recording or clip output file");
    rep->add_option("file", report_path, "Recording (lmusim cuba/run --record) or clip output (lmusim run --output)");
    rep->add_option("--energy-model", energy_name, "Preset name or JSON file (see --list-energy-models)")->capture_default_str();
    rep->add_flag("--json", report_json, "Print the report as JSON");
    rep->add_flag("--include-elementwise", report_elementwise, "Count element-wise ops (affines, adds, neuron updates) in the energy");
    rep->add_option("--plot", plot_path, "Also draw firing rates, energy per layer and per-frame activity to this PNG");
    rep->add_flag("--list-energy-models", list_models, "List the energy presets and exit");
    std::string report_hardware;
    bool list_hardware = false;
    rep->add_option("--hardware", report_hardware,
                    "Also price the counts on a chip: a hardware profile (see --list-hardware) or a JSON file; energy per "
                    "layer split into SOPs, MACs, neuron updates, spikes and weight memory (docs/energy.md)");
    rep->add_flag("--list-hardware", list_hardware, "List the hardware profiles with their sources and exit");
    bool report_overwrite = false;
    add_overwrite_flag(rep, report_overwrite);

    std::string info_path;
    auto* inf = app.add_subcommand("info", "Describe a network, model or NIR file");
    inf->add_option("network", info_path, "Network, model (HDF5) or NIR graph file")->required();
    lmusim::nir_options info_nir;
    std::string info_disc = "euler", info_reset = "zero";
    inf->add_option("--dt", info_nir.dt, "NIR graphs: the step [s] the description assumes (default 1e-4)");
    inf->add_option("--nir-discretization", info_disc, "NIR graphs: euler or exact")->check(CLI::IsMember({"euler", "exact"}));
    inf->add_option("--nir-reset", info_reset, "NIR graphs: zero or subtract")->check(CLI::IsMember({"zero", "subtract"}));

    std::string export_in, export_out;
    bool export_lossy = false, export_overwrite = false;
    auto* exp = app.add_subcommand("export", "Write a network file as a NIR graph (docs/nir.md; through the Python helper)");
    exp->add_option("network", export_in, "lmusim network file (HDF5)")->required();
    exp->add_option("output", export_out, "NIR file to write")->required();
    exp->add_flag("--lossy", export_lossy, "Write what NIR cannot say anyway (subtractive resets, ...), listing what is lost");
    add_overwrite_flag(exp, export_overwrite);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int code = root ? app.exit(e) : (e.get_exit_code() == 0 ? 0 : 1);
        if (mpi->size() > 1 && code != 0) mpi->abort(code);
        return code;
    }
    cuba_run.comm = file_run.comm = mpi->world();
    if (*cuba || *run) install_signal_handlers();  // other commands end at once on Ctrl-C
    try {
        if (*run && !spots_keywords(model_run))
            for (const char* o : {"--raw", "--threshold", "--release", "--hop", "--refractory"})
                if (run->count(o) > 0)
                    throw lmusim::error(cat(o, " is for keyword spotting: --input - --stream or --input FILE --stream --spot "
                                               "(docs/spotting.md)"));
        if (*run && model_run.spot && model_run.inputs.empty())
            throw lmusim::error("--spot: give the audio file with --input FILE (or --input - for standard input)");
        if (*cuba) {
            if (root) guard_network_run(cuba_run, {}, {save_path});
            lmusim::network net = lmusim::make_cuba(cp);
            if (!save_path.empty() && root) lmusim::save_network(net, save_path, lmusim::overwrite_if(cuba_run.overwrite));
            const std::string identity = lmusim::sha256(cat("cuba neurons ", cp.neurons, " fan_in ", cp.fan_in, " seed ", cp.seed,
                                                            cp.delay == 1 ? std::string() : cat(" delay ", cp.delay)));
            return run_network(std::move(net), cuba_run,
                               {{"command", "cuba"}, {"seed", std::to_string(cp.seed)}, {"neurons", std::to_string(cp.neurons)}},
                               identity);
        }
        if (*run && !model_run.inputs.empty()) {
            if (!file_run.checkpoint.empty() || !file_run.resume.empty())
                throw lmusim::error("--checkpoint and --resume are for network runs; a model stream checkpoints from Python "
                                    "(Stream.save_state, docs/checkpoint.md)");
            if (spots_keywords(model_run)) return run_spot(net_path, file_run, model_run);  // apps/run_spot.cpp
            std::vector<std::string> inputs = model_run.inputs;
            inputs.push_back(net_path);
            if (root) guard_outputs({model_run.output}, inputs, file_run.overwrite);
            return run_model(net_path, file_run, model_run);
        }
        if (*feat) return features(feat_in, feat_out, feat_model, feat_overwrite);
        if (*run && lmusim::is_nir_file(net_path))
            throw lmusim::error(cat(net_path, ": a NIR graph runs on input data: lmusim run ", net_path,
                                    " --input X.npy --dt SECONDS [--output OUT.h5] (docs/nir.md)"));
        if (*run && root) guard_network_run(file_run, {net_path}, {});
        if (*run)
            return run_network(lmusim::load_network(net_path), file_run, {{"command", "run"}, {"network_file", net_path}},
                               lmusim::sha256_file(net_path));
        if (*exp) {
            guard_outputs({export_out}, {export_in}, export_overwrite);
            std::vector<std::string> args{"lmusim.nir_export", export_in, export_out};
            if (export_lossy) args.emplace_back("--lossy");
            if (export_overwrite) args.emplace_back("--overwrite");
            const helper_result h = run_python_helper(args);
            if (!h.started)
                throw lmusim::error(cat("export: cannot run the Python interpreter '", python_interpreter(), "': ",
                                        std::strerror(h.exec_errno), " (LMUSIM_PYTHON selects one with h5py and the lmusim package)"));
            if (WIFEXITED(h.status)) return WEXITSTATUS(h.status);
            throw lmusim::error("export: the Python helper (python3 -m lmusim.nir_export) was killed");
        }
        if (*inf && lmusim::is_nir_file(info_path)) {
            if (info_nir.dt == 0) info_nir.dt = 1e-4;
            info_nir.discretization = lmusim::nir_discretization_from_string(info_disc);
            info_nir.reset = lmusim::nir_reset_from_string(info_reset);
            return nir_info(info_path, info_nir);
        }
        if (*inf) return info(info_path);
        if (*rep) {
            if (list_models) {
                for (const auto& m : lmusim::energy_presets())
                    std::printf("%-18s MAC %.2f pJ, AC %.2f pJ, element-wise %.2f pJ  [%s]\n", m.name.c_str(), m.mac_pj, m.ac_pj,
                                m.elementwise_pj, m.source.c_str());
                return 0;
            }
            if (list_hardware) {
                std::printf("%s", lmusim::hardware_profile_list().c_str());
                return 0;
            }
            if (report_path.empty()) throw lmusim::error("report: a recording or clip output file is required");
            return report(report_path, energy_name, report_json, report_elementwise, plot_path, report_overwrite,
                          report_hardware);
        }
    } catch (const lmusim::error& e) {
        fail(mpi.get(), 2, "error", e.what());
    } catch (const std::bad_alloc&) {
        fail(mpi.get(), 3, "error", "out of memory");
    } catch (const std::exception& e) {
        fail(mpi.get(), 3, "internal error", e.what());
    }
    return 0;
}
