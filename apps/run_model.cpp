// `lmusim run MODEL.h5 --input ...` (clips: features or audio, whole or streaming) and `lmusim features`.
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

#include "cli.hpp"

namespace lmusim::cli {

using lmusim::cat;

namespace {

// A model file, or a NIR graph lowered onto lmusim kinds (docs/nir.md).
struct loaded_model {
    lmusim::model_file m;
    std::vector<std::size_t> input_shape;    // per frame
    std::vector<std::string> node_outputs;  // NIR: every Output node, written to /outputs
    bool nir = false;
};

loaded_model load_any_model(const std::string& path, const model_settings& ms, bool spike_input = false, bool notes = true) {
    loaded_model l;
    l.nir = lmusim::is_nir_file(path);
    if (!l.nir) {
        if (ms.dt != 0) throw lmusim::error(cat("--dt is for NIR graphs; ", path, " is an lmusim model file (its step is stored)"));
        l.m = lmusim::load_model(path);
        l.input_shape = {l.m.net.find_node(l.m.input_node).size};
        return l;
    }
    lmusim::nir_options o;
    if (ms.dt == 0)
        throw lmusim::error(cat(path, " is a NIR graph: its neurons are continuous-time, give the step with --dt SECONDS "
                                "(e.g. --dt 1e-4; docs/nir.md)"));
    o.dt = ms.dt;
    o.discretization = lmusim::nir_discretization_from_string(ms.nir_discretization);
    o.reset = lmusim::nir_reset_from_string(ms.nir_reset);
    o.spike_input = spike_input;
    o.readout_sum = ms.nir_readout == "sum";
    lmusim::nir_model g = lmusim::load_nir(path, o);
    if (g.inputs.size() != 1) {
        std::string names;
        for (const auto& n : g.inputs) names += cat(names.empty() ? "" : ", ", "'", n, "'");
        throw lmusim::error(cat(path, ": ", g.inputs.size(), " Input nodes (", names, "); lmusim run feeds one"));
    }
    if (!spike_input && notes)
        for (const std::string& note : g.notes) std::fprintf(stderr, "lmusim: note: %s\n", note.c_str());
    l.m.net = std::move(g.net);
    l.m.model = "nir";
    l.m.input_node = g.inputs[0];
    l.m.output_node = g.logits;
    l.input_shape = g.input_shapes[0];
    l.node_outputs = g.outputs;
    return l;
}

std::string shape_text(const std::vector<std::size_t>& s) {
    std::string t;
    for (std::size_t d : s) t += cat(t.empty() ? "" : ", ", d);
    return t;
}

}  // namespace

int run_model(const std::string& path, const run_settings& rs, const model_settings& ms) {
    // Clip-parallel under mpirun (docs/distributed.md): batch b runs on rank b mod R; rank 0
    // gathers the results in clip order, writes the output file and prints.
    const int ranks = rs.comm ? rs.comm->size() : 1, rank = rs.comm ? rs.comm->rank() : 0;
    const bool root = rank == 0;
    if (rs.dry_run_ranks > 1) throw lmusim::error("--dry-run-ranks is for network runs (lmusim cuba, lmusim run NETWORK.h5)");
    loaded_model lm = load_any_model(path, ms, false, root);
    lmusim::model_file& m = lm.m;
    if (!ms.memory_mode.empty()) {
        try {
            lmusim::set_memory_mode(m.net, lmusim::memory_mode_from_string(ms.memory_mode));
        } catch (const lmusim::error& e) {
            throw lmusim::error(cat("--memory-mode: ", e.what()));
        }
    }
    const auto weight_attrs = apply_weights(m.net, rs);
    std::vector<std::int64_t> labels;  // from a dataset file, -1 where unknown
    std::size_t correct = 0, labelled = 0;
    const bool audio = ms.inputs.front().size() > 4 && ms.inputs.front().substr(ms.inputs.front().size() - 4) == ".wav";
    lmusim::npy_array x;
    std::vector<std::vector<float>> waves;
    const lmusim::fbank fb(m.frontend);
    std::size_t clips = 0, frames = 0;
    if (audio && lm.nir) throw lmusim::error(cat(path, " is a NIR graph: give its input as --input X.npy [clips, steps, ",
                                                 shape_text(lm.input_shape), "] (or .pt)"));
    if (audio) {
        // Each rank reads the clips it runs (a batch of one clip when streaming audio).
        const std::size_t audio_batch = ms.stream ? 1 : std::min(ms.inputs.size(), ms.batch);
        for (std::size_t k = 0; k < ms.inputs.size(); ++k) {
            const std::string& in = ms.inputs[k];
            if (ranks > 1 && lmusim::clip_owner(k, audio_batch, ranks) != rank) {
                waves.emplace_back();
                continue;
            }
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
        if (ms.inputs.size() != 1) throw lmusim::error("--input: one .npy or .pt file, or one or more .wav files");
        const std::string& in0 = ms.inputs.front();
        if (in0.size() > 3 && in0.substr(in0.size() - 3) == ".pt") {
            // A pickled TensorDataset: read by the Python helper with lmusim's safe loader (nothing in
            // the file is run) into a private temporary directory.
            const char* tmpdir = std::getenv("TMPDIR");
            std::string dir = cat(tmpdir && *tmpdir ? tmpdir : "/tmp", "/lmusim-data-XXXXXX");
            if (!::mkdtemp(dir.data())) throw lmusim::file_error(cat("cannot create a temporary directory: ", std::strerror(errno)));
            const std::string xs = dir + "/x.npy", ys = dir + "/y.npy";
            const helper_result h = run_python_helper({"lmusim.dataset", in0, xs, ys});
            auto cleanup = [&] {
                std::remove(xs.c_str());
                std::remove(ys.c_str());
                ::rmdir(dir.c_str());
            };
            if (!h.started || !WIFEXITED(h.status) || WEXITSTATUS(h.status) != 0) {
                cleanup();
                if (h.started && WIFEXITED(h.status) && WEXITSTATUS(h.status) == 2) std::_Exit(2);  // it said why, in one line
                throw lmusim::error(cat(in0, ": the Python helper (", python_interpreter(),
                                        " -m lmusim.dataset, needs torch and the lmusim package; LMUSIM_PYTHON selects the "
                                        "interpreter) could not read it"));
            }
            x = lmusim::read_npy(xs);
            const lmusim::npy_array y = lmusim::read_npy(ys);
            for (float v : y.data) labels.push_back(static_cast<std::int64_t>(v));
            cleanup();
        } else {
            x = lmusim::read_npy(in0);
        }
        const std::string& in = ms.inputs.front();
        // [frames, *shape] or [clips, frames, *shape]; the frame's values flattened in C order. A
        // shape with leading 1s (NIR files write (1, 1, 12) for 12 inputs) may be given without them.
        if (lm.input_shape.size() > 1 && lm.input_shape.front() == 1) {
            std::vector<std::size_t> stripped = lm.input_shape;
            while (stripped.size() > 1 && stripped.front() == 1) stripped.erase(stripped.begin());
            const std::size_t rs = stripped.size();
            const bool full = x.shape.size() >= lm.input_shape.size() + 1 &&
                              std::equal(lm.input_shape.begin(), lm.input_shape.end(), x.shape.end() - static_cast<std::ptrdiff_t>(lm.input_shape.size()));
            if (!full && x.shape.size() >= rs + 1 && std::equal(stripped.begin(), stripped.end(), x.shape.end() - static_cast<std::ptrdiff_t>(rs)))
                lm.input_shape = stripped;
        }
        const std::size_t r = lm.input_shape.size();
        const std::string shp = shape_text(lm.input_shape);
        clips = 1;
        if (x.shape.size() == r + 1) {
            frames = x.shape[0];
        } else if (x.shape.size() == r + 2) {
            clips = x.shape[0];
            frames = x.shape[1];
        } else {
            throw lmusim::error(cat(in, ": input of rank ", x.shape.size(), ", expected [frames, ", shp, "] or [clips, frames, ",
                                    shp, "]"));
        }
        if (r == 1 && x.shape.back() != lm.input_shape[0])
            throw lmusim::error(cat(in, ": features have ", x.shape.back(), " channels, expected ", lm.input_shape[0]));
        if (!std::equal(lm.input_shape.begin(), lm.input_shape.end(), x.shape.end() - static_cast<std::ptrdiff_t>(r)))
            throw lmusim::error(cat(in, ": input of shape [", shape_text(x.shape), "], expected [", clips > 1 || x.shape.size() == r + 2 ? "clips, " : "",
                                    "frames, ", shp, "] (", r == 1 ? "channels" : "the Input node's shape", ")"));
        if (frames == 0 || clips == 0) throw lmusim::error(cat(in, ": empty input (", clips, " clips of ", frames, " frames)"));
    }

    if (lm.nir && std::all_of(x.data.begin(), x.data.end(), [](float v) { return v == 0.0f || v == 1.0f; })) {
        // Binary data: the Input node emits spikes, delivered event-driven (docs/nir.md, section 5).
        lm = load_any_model(path, ms, true, root);
    }

    lmusim::run_clips_options opt;
    opt.batch = ms.batch;
    opt.threads = rs.threads;
    opt.tile_bytes = ms.tile_bytes;
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
        wo.node_outputs = lm.node_outputs;
        wo.attributes = {{"model_file", path},        {"model_sha256", lmusim::sha256_file(path)},
                         {"input_file", input_list},  {"threads", std::to_string(rs.threads)},
                         {"batch", std::to_string(ms.batch)}, {"mode", ms.stream ? "stream" : "clip"}};
        if (lm.nir) {
            wo.attributes.emplace_back("nir_dt_s", cat(ms.dt));
            wo.attributes.emplace_back("nir_discretization", ms.nir_discretization);
            wo.attributes.emplace_back("nir_reset", ms.nir_reset);
            wo.attributes.emplace_back("nir_readout", ms.nir_readout);
        }
        if (ranks > 1) wo.attributes.emplace_back("ranks", std::to_string(ranks));
        for (const auto& a : weight_attrs) wo.attributes.push_back(a);
        wo.existing = lmusim::overwrite_if(rs.overwrite);
        opt.sink = lmusim::clip_output(ms.output, std::move(wo));
    }
    opt.collect_spikes = ms.record_spikes;
    opt.collect_per_frame = ms.per_frame_counts;
    opt.value_nodes = lm.node_outputs;
    opt.comm = ranks > 1 ? rs.comm : nullptr;
    opt.collect = false;  // results go to the output file and the screen batch by batch: memory stays flat
    opt.should_stop = should_stop;
    if (!rs.quiet && !rs.json && clips > ms.batch && root)
        opt.progress = [](std::size_t done, std::size_t total) { std::fprintf(stderr, "  %zu / %zu clips\n", done, total); };
    auto label = [&](std::size_t k) { return k < m.class_names.size() ? m.class_names[k] : std::to_string(k); };
    std::uint64_t sops = 0, macs = 0;
    opt.on_batch = [&](const lmusim::batch_result& b) {
        const std::size_t C = b.classes, first = b.first, n = b.clips;
        for (const auto& c : b.ops) sops += c.sops, macs += c.macs;
        for (const auto& c : b.node_ops) sops += c.sops, macs += c.macs;
        for (std::size_t s = 0; s < n; ++s) {
            const float* z = b.logits(s);
            const auto best = static_cast<std::size_t>(std::max_element(z, z + C) - z);  // the first maximum
            if (first + s < labels.size() && labels[first + s] >= 0) {
                ++labelled;
                correct += static_cast<std::int64_t>(best) == labels[first + s];
            }
            // one line per clip for the first kShownClips; the output file holds every prediction
            constexpr std::size_t kShownClips = 20;
            if (!rs.json && first + s < kShownClips)
                std::printf("clip %zu: %s (class %zu, logit %.4f)\n", first + s, label(best).c_str(), best, z[best]);
            else if (!rs.json && first + s == kShownClips)
                std::printf("... %zu more clip(s)%s\n", clips - kShownClips,
                            ms.output.empty() ? " (--output FILE keeps every prediction)" : ", every prediction in the output file");
        }
    };
    if (!rs.json && root)
        std::printf("model %s: %zu clip(s) of %zu frames, batch %zu, %s%s\n", path.c_str(), clips, frames,
                    audio && ms.stream ? 1 : std::min(clips, ms.batch),
                    ms.stream ? (audio ? "streaming audio in chunks" : "streaming frame by frame") : "whole clips",
                    ranks > 1 ? cat(", ", ranks, " ranks").c_str() : "");
    if (audio && ms.stream) opt.batch = 1;  // true audio streaming runs one clip at a time
    const auto chunk = static_cast<std::size_t>(std::max(1.0, ms.chunk_ms * 1e-3 * fb.options().sample_rate));
    const lmusim::clips_result r =
        audio ? lmusim::run_audio(m.net, waves, fb, chunk, opt) : lmusim::run_clips(m.net, x.data, clips, frames, opt);

    if (!root) return 0;
    if (r.clips_done < clips) {
        std::fprintf(stderr, "lmusim: interrupted after %zu of %zu clips%s%s\n", r.clips_done, clips,
                     ms.output.empty() ? "" : "; the output file holds them: ", ms.output.c_str());
        // The other ranks may be waiting to hand over a batch: end the whole job.
        if (ranks > 1) rs.comm->abort(130);
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
        if (ranks > 1) j["ranks"] = ranks;
        if (labelled) j["accuracy"] = rounded(static_cast<double>(correct) / static_cast<double>(labelled), 6);
        print_json(j);
        return 0;
    }
    std::printf("output for frame t after input frame t+%u\n", r.latency);
    std::printf("per clip: %.0f SOPs, %.0f MACs (mean)\n", static_cast<double>(sops) / static_cast<double>(clips),
                static_cast<double>(macs) / static_cast<double>(clips));
    std::printf("time: %.3f s (%.1f us per step of %zu stream(s))\n", r.seconds, us_per_step, batch);
    if (labelled)
        std::printf("accuracy: %.2f %% (%zu of %zu clips)\n", 100.0 * static_cast<double>(correct) / static_cast<double>(labelled),
                    correct, labelled);
    if (!ms.output.empty()) std::printf("output: %s (lmusim report %s)\n", ms.output.c_str(), ms.output.c_str());
    return 0;
}

int features(const std::string& in, const std::string& out, const std::string& model, bool overwrite) {
    guard_outputs({out}, model.empty() ? std::vector<std::string>{in} : std::vector<std::string>{in, model}, overwrite);
    const lmusim::fbank fb(model.empty() ? lmusim::fbank_options{} : lmusim::load_model(model).frontend);
    const lmusim::wav_audio w = lmusim::read_wav(in);
    if (w.sample_rate != fb.options().sample_rate)
        throw lmusim::error(cat(in, ": sample rate ", w.sample_rate, " Hz, expected ", fb.options().sample_rate,
                                " Hz (resample: sox in.wav -r 16000 out.wav)"));
    if (w.samples.size() < fb.options().frame_length)
        throw lmusim::error(cat(in, ": ", w.samples.size(), " samples, shorter than one 25 ms frame"));
    const auto f = fb.features(w.samples);
    const std::size_t B = fb.options().mel_bins, T = f.size() / B;
    std::printf("%s: %zu samples (%.3f s) -> %zu audio frames, padded/cut to %zu frames x %zu %s bins\n", in.c_str(),
                w.samples.size(), static_cast<double>(w.samples.size()) / w.sample_rate, fb.frames_for(w.samples.size()), T, B,
                fb.options().pcen.enabled ? "PCEN mel" : "mel");
    if (!out.empty()) {
        lmusim::write_npy(out, {T, B}, f.data(), lmusim::overwrite_if(overwrite));
        std::printf("features: %s\n", out.c_str());
    }
    return 0;
}

}  // namespace lmusim::cli
