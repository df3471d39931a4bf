// `lmusim cuba` and `lmusim run NETWORK.h5`: a network run with recording and checkpoints.
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

#include "cli.hpp"

namespace lmusim::cli {

using lmusim::cat;

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

}  // namespace lmusim::cli
