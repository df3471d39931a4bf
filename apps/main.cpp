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
#include "lmusim/io/npy.hpp"
#include "lmusim/core/output_file.hpp"
#include "lmusim/sim/run_clips.hpp"
#include "lmusim/core/sha256.hpp"
#include "lmusim/sim/simulation.hpp"

namespace {

using lmusim::cat;

// The one piece of process-wide state: set by SIGINT/SIGTERM, read at step and clip boundaries
// (std::atomic<bool> is lock-free, so the handler may write it).
std::atomic<bool> stop_requested{false};

// The first signal asks the run to stop at the next boundary; a second one ends the process.
extern "C" void on_stop_signal(int) {
    if (stop_requested.exchange(true)) _exit(130);
}

void install_signal_handlers() {
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    // A file-size limit (ulimit -f) then makes writes fail with EFBIG, reported as an error,
    // instead of killing the process.
    signal(SIGXFSZ, SIG_IGN);
}

bool should_stop() { return stop_requested.load(); }

// `x` rounded to `decimals` places: the --json numbers keep the precision the text output had.
double rounded(double x, int decimals) {
    const double scale = std::pow(10.0, decimals);
    return std::isfinite(x) ? std::round(x * scale) / scale : x;
}

// One JSON object on one line of stdout (--json). Strings (names, paths) are escaped; invalid
// UTF-8 in a path is replaced rather than failing the run after its work is done.
void print_json(const nlohmann::ordered_json& j) {
    std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace).c_str());
}

// "1s", "250ms", "2.5 s" or a plain number of milliseconds -> milliseconds.
double parse_duration_ms(const std::string& text, const char* option = "--duration") {
    std::size_t used = 0;
    double value = 0;
    try {
        value = std::stod(text, &used);
    } catch (const std::exception&) {
        throw lmusim::error(cat(option, " '", text, "': expected a number with unit s or ms, e.g. 1s or 250ms"));
    }
    std::string unit = text.substr(used);
    unit.erase(0, unit.find_first_not_of(' '));
    if (!(value > 0)) throw lmusim::error(cat(option, " '", text, "': expected a positive duration"));
    if (unit.empty() || unit == "ms") return value;
    if (unit == "s") return value * 1e3;
    throw lmusim::error(cat(option, " '", text, "': unknown unit '", unit, "', expected s or ms"));
}

void add_overwrite_flag(CLI::App* app, bool& flag) {
    app->add_flag("--overwrite", flag,
                  "Replace output files that exist (never an input file); without it an existing output is an error");
}

struct run_settings {
    std::string duration = "1s";
    std::size_t threads = 0;
    std::string record;
    bool json = false;
    bool quiet = false;
    std::uint64_t chunk_steps = 1000;
    std::string checkpoint;        // write the run's state here (docs/checkpoint.md)
    std::string checkpoint_every;  // ... also every this much biological time
    std::string resume;            // continue from this checkpoint
    bool overwrite = false;        // replace existing output files (docs/hardening.md, "Outputs")
};

void add_run_options(CLI::App* app, run_settings& s) {
    app->add_option("--duration", s.duration,
                    "Biological time to simulate, e.g. 1s or 250ms; with --resume the total time of the run, counted from "
                    "step 0 (a resumed run continues up to it)")
        ->capture_default_str();
    app->add_option("--threads", s.threads, "Worker threads (0 = all available)")->capture_default_str();
    app->add_option("--record", s.record, "Write spikes, counts and ops to this HDF5 file");
    app->add_option("--chunk-steps", s.chunk_steps, "Steps per flushed recording chunk")->capture_default_str();
    app->add_flag("--json", s.json, "Print the result as one JSON object");
    app->add_flag("--quiet", s.quiet, "No progress output on stderr");
    app->add_option("--checkpoint", s.checkpoint,
                    "Network runs: save the complete state to this HDF5 file at the end, every --checkpoint-every, "
                    "and when SIGINT/SIGTERM stops the run (docs/checkpoint.md)");
    app->add_option("--checkpoint-every", s.checkpoint_every, "With --checkpoint: also save every this much biological time, e.g. 1s");
    app->add_option("--resume", s.resume,
                    "Network runs: continue from this checkpoint (same network and options) up to --duration in all");
    add_overwrite_flag(app, s.overwrite);
}

// Resuming from a checkpoint and saving into the same file is how a long run continues: that
// checkpoint is lmusim's own file, replaced without --overwrite (docs/checkpoint.md).
bool resumes_into_own_checkpoint(const run_settings& s) {
    return !s.resume.empty() && !s.checkpoint.empty() && lmusim::same_file(s.resume, s.checkpoint);
}

// Before any work: no output is an input or another output, and none exists unless --overwrite.
void guard_outputs(std::vector<std::string> outputs, std::vector<std::string> inputs, bool overwrite,
                   const std::string& own_checkpoint = "") {
    lmusim::check_outputs(outputs, inputs, lmusim::if_exists::replace);  // identity only
    std::erase(outputs, own_checkpoint);
    lmusim::check_outputs(outputs, {}, lmusim::overwrite_if(overwrite));
}

void guard_network_run(const run_settings& s, std::vector<std::string> inputs, std::vector<std::string> outputs) {
    const bool own = resumes_into_own_checkpoint(s);
    if (!own) inputs.push_back(s.resume);
    outputs.push_back(s.record);
    outputs.push_back(s.checkpoint);
    guard_outputs(std::move(outputs), std::move(inputs), s.overwrite, own ? s.checkpoint : "");
}

// `identity`: the SHA-256 that names the network (of its file, or of the generator's settings),
// stored in checkpoints so that --resume refuses another network's state.
int run_network(lmusim::network net, const run_settings& s, const std::map<std::string, std::string>& attrs,
                const std::string& identity) {
    const double duration_ms = parse_duration_ms(s.duration);
    const auto steps = static_cast<std::uint64_t>(duration_ms / net.dt + 0.5);
    if (!s.checkpoint_every.empty() && s.checkpoint.empty())
        throw lmusim::error("--checkpoint-every needs --checkpoint FILE");
    const std::uint64_t checkpoint_steps =
        s.checkpoint_every.empty()
            ? 0
            : std::max<std::uint64_t>(1, static_cast<std::uint64_t>(parse_duration_ms(s.checkpoint_every, "--checkpoint-every") / net.dt + 0.5));
    const lmusim::checkpoint_options ck_opt{.model_sha256 = identity, .attributes = attrs};
    lmusim::context ctx;
    ctx.threads = s.threads;
    std::optional<lmusim::h5_recorder> rec;
    if (!s.record.empty()) {
        lmusim::h5_recorder_options opt;
        opt.chunk_steps = s.chunk_steps;
        opt.attributes = attrs;
        opt.existing = lmusim::overwrite_if(s.overwrite);
        rec.emplace(s.record, opt);  // fails now if the path is not writable, exists, or is being written
    }
    // The checkpoint is claimed for the whole run: every save of this run replaces its own file.
    lmusim::output_file checkpoint_out;
    if (!s.checkpoint.empty())
        checkpoint_out = lmusim::output_file(s.checkpoint, lmusim::overwrite_if(s.overwrite || resumes_into_own_checkpoint(s)));
    const auto t0 = std::chrono::steady_clock::now();
    lmusim::simulation sim(std::move(net), ctx);
    if (!s.resume.empty()) {
        lmusim::load_checkpoint(sim, s.resume, ck_opt);
        if (!s.quiet && !s.json)
            std::fprintf(stderr, "  resumed from %s at step %llu (%g ms)\n", s.resume.c_str(),
                         static_cast<unsigned long long>(sim.steps_done()), sim.time_ms());
    }
    const std::uint64_t start = sim.steps_done();
    const std::uint64_t todo = steps > start ? steps - start : 0;
    const auto t1 = std::chrono::steady_clock::now();
    std::optional<lmusim::checkpoint_recorder> periodic;
    if (checkpoint_steps) periodic.emplace(checkpoint_out, checkpoint_steps, ck_opt);
    lmusim::recorder_chain recorders{rec ? &*rec : nullptr, periodic ? &*periodic : nullptr};
    lmusim::run_options ro;
    ro.rec = recorders.get();
    if (!s.quiet && !s.json && todo > 0) {
        ro.progress_every = std::max<std::uint64_t>(todo / 10, 1);
        ro.progress = [&](std::uint64_t done, std::uint64_t total) {
            std::fprintf(stderr, "\r  step %llu / %llu (%.0f%%)", static_cast<unsigned long long>(done),
                         static_cast<unsigned long long>(total), 100.0 * static_cast<double>(done) / static_cast<double>(total));
            if (done == total) std::fprintf(stderr, "\n");
        };
    }
    ro.should_stop = should_stop;
    const std::uint64_t taken = sim.run(todo, ro);
    const auto t2 = std::chrono::steady_clock::now();
    if (checkpoint_out) lmusim::save_checkpoint(sim, checkpoint_out, ck_opt);  // at the end, or where it stopped
    if (taken < todo) {
        std::fprintf(stderr, "lmusim: interrupted after %llu of %llu steps%s%s%s%s\n",
                     static_cast<unsigned long long>(start + taken), static_cast<unsigned long long>(steps),
                     s.record.empty() ? "" : "; the recording holds them: ", s.record.c_str(),
                     s.checkpoint.empty() ? "" : "; continue with --resume ", s.checkpoint.c_str());
        return 130;
    }
    const double build_s = std::chrono::duration<double>(t1 - t0).count();
    const double run_s = std::chrono::duration<double>(t2 - t1).count();
    const double run_ms = static_cast<double>(taken) * sim.net().dt;  // simulated in this process

    const lmusim::network& nw = sim.net();
    std::uint64_t spikes = 0, neurons = 0, sops = 0, macs = 0, events = 0;
    for (std::size_t i = 0; i < nw.nodes.size(); ++i)
        if (nw.nodes[i].spiking() && nw.nodes[i].input_ports() > 0) {  // neurons, not spike sources
            spikes += sim.total_spikes(i);
            neurons += nw.nodes[i].size;
        }
    for (std::size_t p = 0; p < nw.projections.size(); ++p) {
        const auto c = sim.ops(p);
        sops += c.sops;
        macs += c.macs;
        events += c.events;
    }
    const double rate = neurons ? static_cast<double>(spikes) / static_cast<double>(neurons) / (duration_ms * 1e-3) : 0.0;
    if (s.json) {
        nlohmann::ordered_json j;
        j["engine"] = "lmusim";
        j["network"] = nw.name;
        j["neurons"] = neurons;
        j["duration_ms"] = duration_ms;
        j["steps"] = steps;
        j["threads"] = sim.threads();
        j["spikes"] = spikes;
        j["rate_hz"] = rounded(rate, 4);
        j["events"] = events;
        j["sops"] = sops;
        j["macs"] = macs;
        j["build_s"] = rounded(build_s, 6);
        j["run_s"] = rounded(run_s, 6);
        j["record"] = s.record;
        j["start_step"] = start;
        j["checkpoint"] = s.checkpoint;
        print_json(j);
    } else {
        std::printf("network      %s: %llu neurons, %zu projections, dt %g ms\n", nw.name.c_str(),
                    static_cast<unsigned long long>(neurons), nw.projections.size(), nw.dt);
        std::printf("simulated    %g ms (%llu steps) on %zu thread(s)\n", duration_ms, static_cast<unsigned long long>(steps),
                    sim.threads());
        std::printf("spikes       %llu\n", static_cast<unsigned long long>(spikes));
        std::printf("mean rate    %.3f Hz\n", rate);
        for (std::size_t p = 0; p < nw.projections.size(); ++p) {
            const auto c = sim.ops(p);
            std::printf("projection   %-12s events %llu  SOPs %llu  MACs %llu\n", nw.projections[p].name.c_str(),
                        static_cast<unsigned long long>(c.events), static_cast<unsigned long long>(c.sops),
                        static_cast<unsigned long long>(c.macs));
        }
        std::printf("SOPs total   %llu\n", static_cast<unsigned long long>(sops));
        if (start > 0) std::printf("resumed      at step %llu from %s\n", static_cast<unsigned long long>(start), s.resume.c_str());
        std::printf("time         build %.3f s, run %.3f s (real-time factor %.4f)\n", build_s, run_s,
                    run_ms > 0 ? run_s / (run_ms * 1e-3) : 0.0);
        if (!s.record.empty()) std::printf("recording    %s\n", s.record.c_str());
        if (!s.checkpoint.empty()) std::printf("checkpoint   %s\n", s.checkpoint.c_str());
    }
    return 0;
}

struct model_settings {
    std::vector<std::string> inputs;
    double chunk_ms = 10.0;
    std::string output;
    bool stream = false;
    bool record_spikes = false;
    bool per_frame_counts = false;
    std::size_t batch = 16;
    std::string memory_mode;
};

int run_model(const std::string& path, const run_settings& rs, const model_settings& ms) {
    lmusim::model_file m = lmusim::load_model(path);
    if (!ms.memory_mode.empty()) {
        try {
            lmusim::set_memory_mode(m.net, lmusim::memory_mode_from_string(ms.memory_mode));
        } catch (const lmusim::error& e) {
            throw lmusim::error(cat("--memory-mode: ", e.what()));
        }
    }
    const bool audio = ms.inputs.front().size() > 4 && ms.inputs.front().substr(ms.inputs.front().size() - 4) == ".wav";
    lmusim::npy_array x;
    std::vector<std::vector<float>> waves;
    const lmusim::fbank fb(m.frontend);
    std::size_t clips = 0, frames = 0;
    if (audio) {
        for (const std::string& in : ms.inputs) {
            lmusim::wav_audio w = lmusim::read_wav(in);
            if (w.sample_rate != fb.options().sample_rate)
                throw lmusim::error(cat(in, ": sample rate ", w.sample_rate, " Hz, expected ", fb.options().sample_rate,
                                        " Hz (resample: sox in.wav -r 16000 out.wav)"));
            if (w.samples.size() < fb.options().frame_length)
                throw lmusim::error(cat(in, ": ", w.samples.size(), " samples, shorter than one 25 ms frame"));
            waves.push_back(std::move(w.samples));
        }
        clips = waves.size();
        frames = fb.options().target_frames;
    } else {
        if (ms.inputs.size() != 1) throw lmusim::error("--input: one .npy file, or one or more .wav files");
        x = lmusim::read_npy(ms.inputs.front());
        const std::string& in = ms.inputs.front();
        const std::size_t width = m.net.find_node(m.input_node).size;
        clips = 1;
        if (x.shape.size() == 2) {
            frames = x.shape[0];
        } else if (x.shape.size() == 3) {
            clips = x.shape[0];
            frames = x.shape[1];
        } else {
            throw lmusim::error(cat(in, ": features of rank ", x.shape.size(), ", expected [frames, ", width,
                                    "] or [clips, frames, ", width, "]"));
        }
        if (x.shape.back() != width)
            throw lmusim::error(cat(in, ": features have ", x.shape.back(), " channels, expected ", width));
        if (frames == 0 || clips == 0) throw lmusim::error(cat(in, ": empty input (", clips, " clips of ", frames, " frames)"));
    }

    lmusim::run_clips_options opt;
    opt.batch = ms.batch;
    opt.threads = rs.threads;
    opt.stream = ms.stream;
    opt.input_node = m.input_node;
    opt.output_node = m.output_node;
    std::string input_list;
    for (const auto& in : ms.inputs) input_list += (input_list.empty() ? "" : " ") + in;
    if (!ms.output.empty()) {
        lmusim::clip_writer_options wo;
        wo.spikes = ms.record_spikes;
        wo.per_frame_counts = ms.per_frame_counts;
        wo.class_names = m.class_names;
        wo.attributes = {{"model_file", path},        {"model_sha256", lmusim::sha256_file(path)},
                         {"input_file", input_list},  {"threads", std::to_string(rs.threads)},
                         {"batch", std::to_string(ms.batch)}, {"mode", ms.stream ? "stream" : "clip"}};
        wo.existing = lmusim::overwrite_if(rs.overwrite);
        opt.sink = lmusim::clip_output(ms.output, std::move(wo));
    }
    opt.collect = false;  // results go to the output file and the screen batch by batch: memory stays flat
    opt.should_stop = should_stop;
    if (!rs.quiet && !rs.json && clips > ms.batch)
        opt.progress = [](std::size_t done, std::size_t total) { std::fprintf(stderr, "  %zu / %zu clips\n", done, total); };
    auto label = [&](std::size_t k) { return k < m.class_names.size() ? m.class_names[k] : std::to_string(k); };
    std::uint64_t sops = 0, macs = 0;
    opt.on_batch = [&](std::size_t first, std::size_t n, const std::vector<float>& logits, const lmusim::simulation& sim) {
        const std::size_t C = logits.size() / n;
        for (std::size_t s = 0; s < n; ++s) {
            for (std::size_t p = 0; p < sim.net().projections.size(); ++p) sops += sim.ops(p, s).sops, macs += sim.ops(p, s).macs;
            for (std::size_t i = 0; i < sim.net().nodes.size(); ++i) sops += sim.node_ops(i, s).sops, macs += sim.node_ops(i, s).macs;
            const float* z = logits.data() + s * C;
            const auto best = static_cast<std::size_t>(std::max_element(z, z + C) - z);
            // one line per clip for the first kShownClips; the output file holds every prediction
            constexpr std::size_t kShownClips = 20;
            if (!rs.json && first + s < kShownClips)
                std::printf("clip %zu: %s (class %zu, logit %.4f)\n", first + s, label(best).c_str(), best, z[best]);
            else if (!rs.json && first + s == kShownClips)
                std::printf("... %zu more clip(s)%s\n", clips - kShownClips,
                            ms.output.empty() ? " (--output FILE keeps every prediction)" : ", every prediction in the output file");
        }
    };
    if (!rs.json)
        std::printf("model %s: %zu clip(s) of %zu frames, batch %zu, %s\n", path.c_str(), clips, frames,
                    audio && ms.stream ? 1 : std::min(clips, ms.batch),
                    ms.stream ? (audio ? "streaming audio in chunks" : "streaming frame by frame") : "whole clips");
    if (audio && ms.stream) opt.batch = 1;  // true audio streaming runs one clip at a time
    const auto chunk = static_cast<std::size_t>(std::max(1.0, ms.chunk_ms * 1e-3 * fb.options().sample_rate));
    const lmusim::clips_result r =
        audio ? lmusim::run_audio(m.net, waves, fb, chunk, opt) : lmusim::run_clips(m.net, x.data, clips, frames, opt);

    if (r.clips_done < clips) {
        std::fprintf(stderr, "lmusim: interrupted after %zu of %zu clips%s%s\n", r.clips_done, clips,
                     ms.output.empty() ? "" : "; the output file holds them: ", ms.output.c_str());
        return 130;
    }
    const std::size_t batch = std::min(clips, opt.batch);
    const double steps = static_cast<double>(((clips + batch - 1) / batch) * (frames + r.latency));
    const double us_per_step = r.seconds * 1e6 / steps;
    if (rs.json) {
        nlohmann::ordered_json j;
        j["clips"] = clips;
        j["frames"] = frames;
        j["batch"] = batch;
        j["sops"] = sops;
        j["macs"] = macs;
        j["seconds"] = rounded(r.seconds, 6);
        j["us_per_step"] = rounded(us_per_step, 3);
        print_json(j);
        return 0;
    }
    std::printf("output for frame t after input frame t+%u\n", r.latency);
    std::printf("per clip: %.0f SOPs, %.0f MACs (mean)\n", static_cast<double>(sops) / static_cast<double>(clips),
                static_cast<double>(macs) / static_cast<double>(clips));
    std::printf("time: %.3f s (%.1f us per step of %zu stream(s))\n", r.seconds, us_per_step, batch);
    if (!ms.output.empty()) std::printf("output: %s (lmusim report %s)\n", ms.output.c_str(), ms.output.c_str());
    return 0;
}

int features(const std::string& in, const std::string& out, bool overwrite) {
    guard_outputs({out}, {in}, overwrite);
    const lmusim::fbank fb;
    const lmusim::wav_audio w = lmusim::read_wav(in);
    if (w.sample_rate != fb.options().sample_rate)
        throw lmusim::error(cat(in, ": sample rate ", w.sample_rate, " Hz, expected ", fb.options().sample_rate,
                                " Hz (resample: sox in.wav -r 16000 out.wav)"));
    if (w.samples.size() < fb.options().frame_length)
        throw lmusim::error(cat(in, ": ", w.samples.size(), " samples, shorter than one 25 ms frame"));
    const auto f = fb.features(w.samples);
    const std::size_t B = fb.options().mel_bins, T = f.size() / B;
    std::printf("%s: %zu samples (%.3f s) -> %zu audio frames, padded/cut to %zu frames x %zu mel bins\n", in.c_str(),
                w.samples.size(), static_cast<double>(w.samples.size()) / w.sample_rate, fb.frames_for(w.samples.size()), T, B);
    if (!out.empty()) {
        lmusim::write_npy(out, {T, B}, f.data(), lmusim::overwrite_if(overwrite));
        std::printf("features: %s\n", out.c_str());
    }
    return 0;
}

// The interpreter that runs the plot helper: $LMUSIM_PYTHON, else Debian's /usr/bin/python3
// (where matplotlib is installed), else python3 from PATH.
std::string plot_python() {
    if (const char* p = std::getenv("LMUSIM_PYTHON"); p && *p) return p;
    if (::access("/usr/bin/python3", X_OK) == 0) return "/usr/bin/python3";
    return "python3";
}

// PYTHONPATH for the plot helper: the package of this build tree first while that tree exists
// (running from build/), else "" (keep the environment: an installed package is found as usual).
std::string plot_pythonpath() {
    std::error_code ec;
    if (!std::filesystem::is_directory(std::filesystem::path(LMUSIM_BUILD_PYTHON_DIR) / "lmusim", ec)) return "";
    std::string pythonpath = LMUSIM_BUILD_PYTHON_DIR;
    if (const char* old = std::getenv("PYTHONPATH"); old && *old) pythonpath += std::string(":") + old;
    return pythonpath;
}

// `lmusim report`: energy and activity from a recording or clip output, as a table or JSON; the
// plot is drawn by the Python helper lmusim.plot (matplotlib) from the JSON report.
int report(const std::string& path, const std::string& model_name, bool json, bool elementwise, const std::string& plot,
           bool overwrite) {
    if (!plot.empty()) guard_outputs({plot}, {path, model_name}, overwrite);
    const lmusim::energy_model model = lmusim::find_energy_model(model_name);
    const lmusim::energy_report r = lmusim::make_report(path, model, elementwise);
    const std::string text = lmusim::report_json(r);
    if (json)
        std::printf("%s\n", text.c_str());
    else
        std::printf("%s", lmusim::report_table(r).c_str());
    if (plot.empty()) return 0;
    // The report for the helper goes to a private temporary file, never next to the user's files.
    const char* tmpdir = std::getenv("TMPDIR");
    std::string json_path = cat(tmpdir && *tmpdir ? tmpdir : "/tmp", "/lmusim-report-XXXXXX.json");
    {
        const int fd = mkstemps(json_path.data(), 5);
        if (fd < 0) throw lmusim::file_error(cat("cannot create a temporary file '", json_path, "': ", std::strerror(errno)));
        const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
        ::close(fd);
        if (!ok) throw lmusim::file_error(cat("cannot write '", json_path, "'"));
    }
    const std::string python = plot_python();
    const std::string pythonpath = plot_pythonpath();
    // A pipe closed on exec tells the parent whether the interpreter started (errno if not).
    int exec_pipe[2];
    if (::pipe2(exec_pipe, O_CLOEXEC) < 0) throw lmusim::error(cat("--plot: cannot create a pipe: ", std::strerror(errno)));
    std::fflush(nullptr);
    const pid_t pid = fork();
    if (pid < 0) {
        const int err = errno;
        ::close(exec_pipe[0]);
        ::close(exec_pipe[1]);
        throw lmusim::error(cat("--plot: cannot start the Python helper: ", std::strerror(err)));
    }
    if (pid == 0) {
        ::close(exec_pipe[0]);
        if (!pythonpath.empty()) setenv("PYTHONPATH", pythonpath.c_str(), 1);
        setenv("MPLBACKEND", "Agg", 0);
        // The helper claims the PNG itself (lmusim/_outputs.py: the same lock and rename as here).
        const char* args[] = {python.c_str(), "-m", "lmusim.plot", json_path.c_str(), path.c_str(), plot.c_str(),
                              overwrite ? "--overwrite" : "--no-overwrite", nullptr};
        execvp(python.c_str(), const_cast<char* const*>(args));
        const int err = errno;
        [[maybe_unused]] const ssize_t n = ::write(exec_pipe[1], &err, sizeof err);
        _exit(127);
    }
    ::close(exec_pipe[1]);
    int exec_errno = 0;
    ssize_t got = 0;
    while ((got = ::read(exec_pipe[0], &exec_errno, sizeof exec_errno)) < 0 && errno == EINTR) {
    }
    const bool exec_failed = got == static_cast<ssize_t>(sizeof exec_errno);
    ::close(exec_pipe[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (exec_failed)
        throw lmusim::error(cat("--plot: cannot run the Python interpreter '", python, "': ", std::strerror(exec_errno),
                                " (set LMUSIM_PYTHON to a python3 with matplotlib and the lmusim package); the report is in ",
                                json_path));
    if (WIFEXITED(status) && WEXITSTATUS(status) == 2) {
        std::remove(json_path.c_str());  // the helper refused the output and said why, in one line
        return 2;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        throw lmusim::error(cat("--plot: the Python helper (", python, " -m lmusim.plot, needs matplotlib and the lmusim package",
                                pythonpath.empty() ? "" : cat(" from ", LMUSIM_BUILD_PYTHON_DIR),
                                "; LMUSIM_PYTHON selects the interpreter) failed (its message is above); the report is in ",
                                json_path));
    std::remove(json_path.c_str());
    if (!json) std::printf("plot: %s\n", plot.c_str());
    return 0;
}

int info(const std::string& path) {
    const lmusim::network net = lmusim::load_network(path);
    std::printf("network '%s' (dt %g ms)\n", net.name.c_str(), net.dt);
    std::size_t synapses = 0;
    std::printf("%zu nodes:\n", net.nodes.size());
    for (const auto& n : net.nodes)
        std::printf("  %-32s %-16s %zu\n", n.name.c_str(), std::string(n.kind()).c_str(), n.size);
    std::printf("%zu projections:\n", net.projections.size());
    for (const auto& p : net.projections) {
        const std::size_t syn = p.synapse_count(net.find_node(p.source).size, net.find_node(p.target).port_size(p.port));
        synapses += syn;
        std::printf("  %-20s %s -> %s  %s, delay %u, port %u, %zu synapses\n", p.name.c_str(), p.source.c_str(),
                    p.target.c_str(), std::string(lmusim::to_string(p.kind)).c_str(), p.delay, p.port, syn);
    }
    std::printf("%zu synapses in all\n", synapses);
    std::printf("%zu trainable parameters\n", net.parameter_count());
    const auto lat = net.latencies();
    std::printf("latency: output after +%u frames\n", *std::max_element(lat.begin(), lat.end()));
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
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
    cuba->add_option("--save-network", save_path, "Also save the network description to this HDF5 file");
    add_run_options(cuba, cuba_run);

    run_settings file_run;
    model_settings model_run;
    std::string net_path;
    auto* run = app.add_subcommand("run", "Run a network or model saved in HDF5 (a model with --input features)");
    run->add_option("network", net_path, "Network or model file (HDF5)")->required();
    add_run_options(run, file_run);
    run->add_option("--input", model_run.inputs,
                    "Features .npy [frames, mel] or [clips, frames, mel], or 16 kHz mono WAV files (one clip each)");
    run->add_option("--chunk-ms", model_run.chunk_ms, "With --stream and WAV input: audio pushed per chunk [ms]")->capture_default_str();
    run->add_option("--output", model_run.output, "Write logits, per-frame logits, spike and op counts to this HDF5 file");
    run->add_flag("--stream", model_run.stream, "Feed the frames one at a time (true streaming)");
    run->add_flag("--record-spikes", model_run.record_spikes, "With --output: also write every spike (SONATA layout)");
    run->add_flag("--per-frame-counts", model_run.per_frame_counts, "With --output: spikes per population per frame");
    run->add_option("--batch", model_run.batch, "Clips run side by side")->capture_default_str();
    run->add_option("--memory-mode", model_run.memory_mode, "LMU memory: impulse (exact) or recurrence (A m + B u)");

    std::string feat_in, feat_out;
    auto* feat = app.add_subcommand("features", "Log-mel features of a WAV file (the model's front-end), printed or saved as .npy");
    feat->add_option("wav", feat_in, "16 kHz mono WAV (PCM16 or float32)")->required();
    feat->add_option("npy", feat_out, "Write the features [128 frames, 128 mel] here");
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
    bool report_overwrite = false;
    add_overwrite_flag(rep, report_overwrite);

    std::string info_path;
    auto* inf = app.add_subcommand("info", "Describe a network file");
    inf->add_option("network", info_path, "Network file (HDF5)")->required();

    CLI11_PARSE(app, argc, argv);
    if (*cuba || *run) install_signal_handlers();  // other commands end at once on Ctrl-C
    try {
        if (*cuba) {
            guard_network_run(cuba_run, {}, {save_path});
            lmusim::network net = lmusim::make_cuba(cp);
            if (!save_path.empty()) lmusim::save_network(net, save_path, lmusim::overwrite_if(cuba_run.overwrite));
            const std::string identity = lmusim::sha256(cat("cuba neurons ", cp.neurons, " fan_in ", cp.fan_in, " seed ", cp.seed));
            return run_network(std::move(net), cuba_run,
                               {{"command", "cuba"}, {"seed", std::to_string(cp.seed)}, {"neurons", std::to_string(cp.neurons)}},
                               identity);
        }
        if (*run && !model_run.inputs.empty()) {
            if (!file_run.checkpoint.empty() || !file_run.resume.empty())
                throw lmusim::error("--checkpoint and --resume are for network runs; a model stream checkpoints from Python "
                                    "(Stream.save_state, docs/checkpoint.md)");
            std::vector<std::string> inputs = model_run.inputs;
            inputs.push_back(net_path);
            guard_outputs({model_run.output}, inputs, file_run.overwrite);
            return run_model(net_path, file_run, model_run);
        }
        if (*feat) return features(feat_in, feat_out, feat_overwrite);
        if (*run) guard_network_run(file_run, {net_path}, {});
        if (*run)
            return run_network(lmusim::load_network(net_path), file_run, {{"command", "run"}, {"network_file", net_path}},
                               lmusim::sha256_file(net_path));
        if (*inf) return info(info_path);
        if (*rep) {
            if (list_models) {
                for (const auto& m : lmusim::energy_presets())
                    std::printf("%-18s MAC %.2f pJ, AC %.2f pJ, element-wise %.2f pJ  [%s]\n", m.name.c_str(), m.mac_pj, m.ac_pj,
                                m.elementwise_pj, m.source.c_str());
                return 0;
            }
            if (report_path.empty()) throw lmusim::error("report: a recording or clip output file is required");
            return report(report_path, energy_name, report_json, report_elementwise, plot_path, report_overwrite);
        }
    } catch (const lmusim::error& e) {
        std::fprintf(stderr, "lmusim: error: %s\n", e.what());
        // _Exit: after a failed write (disk full) HDF5's own exit handler can crash on the file it
        // could not close; everything lmusim wrote before the failure is already flushed.
        std::fflush(stdout);
        std::_Exit(2);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "lmusim: internal error: %s\n", e.what());
        std::fflush(stdout);
        std::_Exit(3);
    }
    return 0;
}
