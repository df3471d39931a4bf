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
int run_network(lmusim::network net, const run_settings& s, const std::map<std::string, std::string>& given_attrs,
                const std::string& given_identity) {
    // Compressed weights (docs/weights.md) are part of what the run is: recorded, and in the
    // identity that checkpoints carry (a resumed run must round the same way).
    std::map<std::string, std::string> attrs = given_attrs;
    for (const auto& [k, v] : apply_weights(net, s)) attrs[k] = v;
    const std::string identity = net.weights == lmusim::weight_format::fp32
                                     ? given_identity
                                     : lmusim::sha256(cat(given_identity, " weights ", to_string(net.weights)));
    const double duration_ms = parse_duration_ms(s.duration);
    const auto steps = static_cast<std::uint64_t>(duration_ms / net.dt + 0.5);
    if (!s.checkpoint_every.empty() && s.checkpoint.empty())
        throw lmusim::error("--checkpoint-every needs --checkpoint FILE");
    const std::uint64_t checkpoint_steps =
        s.checkpoint_every.empty()
            ? 0
            : std::max<std::uint64_t>(1, static_cast<std::uint64_t>(parse_duration_ms(s.checkpoint_every, "--checkpoint-every") / net.dt + 0.5));
    const lmusim::checkpoint_options ck_opt{.model_sha256 = identity, .attributes = attrs};
    // Network-parallel (docs/distributed.md): every rank builds the same network and simulates its
    // share; rank 0 alone writes the recording and checkpoints and prints.
    std::optional<lmusim::dry_run_communicator> dry;
    lmusim::communicator* comm = s.comm;
    if (s.dry_run_ranks > 1) {
        if (comm && comm->size() > 1) throw lmusim::error("--dry-run-ranks runs one process standing in for many: not under mpirun");
        if (!s.record.empty() || !s.checkpoint.empty() || !s.resume.empty())
            throw lmusim::error("--dry-run-ranks measures the exchange; it takes no --record, --checkpoint or --resume");
        comm = &dry.emplace(s.dry_run_ranks);
    }
    const bool root = !comm || comm->rank() == 0;
    const bool quiet = s.quiet || !root;
    lmusim::context ctx;
    ctx.threads = s.threads;
    ctx.comm = comm;
    ctx.exchange_every_step = !s.record.empty() || !s.checkpoint.empty();
    std::optional<lmusim::h5_recorder> rec;
    if (!s.record.empty() && root) {
        lmusim::h5_recorder_options opt;
        opt.chunk_steps = s.chunk_steps;
        opt.attributes = attrs;
        opt.existing = lmusim::overwrite_if(s.overwrite);
        rec.emplace(s.record, opt);  // fails now if the path is not writable, exists, or is being written
    }
    // The checkpoint is claimed for the whole run: every save of this run replaces its own file.
    lmusim::output_file checkpoint_out;
    if (!s.checkpoint.empty() && root)
        checkpoint_out = lmusim::output_file(s.checkpoint, lmusim::overwrite_if(s.overwrite || resumes_into_own_checkpoint(s)));
    const auto t0 = std::chrono::steady_clock::now();
    lmusim::simulation sim(std::move(net), ctx);
    if (!s.resume.empty()) {
        lmusim::load_checkpoint(sim, s.resume, ck_opt);
        if (!quiet && !s.json)
            std::fprintf(stderr, "  resumed from %s at step %llu (%g ms)\n", s.resume.c_str(),
                         static_cast<unsigned long long>(sim.steps_done()), sim.time_ms());
    }
    const std::uint64_t start = sim.steps_done();
    const std::uint64_t todo = steps > start ? steps - start : 0;
    const auto t1 = std::chrono::steady_clock::now();
    std::optional<lmusim::checkpoint_recorder> periodic;
    if (checkpoint_steps && root) periodic.emplace(checkpoint_out, checkpoint_steps, ck_opt);
    // The other ranks take part in every checkpoint's gathering of the state (it is collective).
    lmusim::step_recorder share_state([&](const lmusim::simulation& sm) {
        if (sm.steps_done() % checkpoint_steps == 0) {
            lmusim::state_store discard;
            sm.save_state(discard);
        }
    });
    lmusim::recorder_chain recorders{rec ? &*rec : nullptr, periodic ? &*periodic : nullptr,
                                     checkpoint_steps && !root ? &share_state : nullptr};
    lmusim::run_options ro;
    ro.rec = recorders.get();
    if (!quiet && !s.json && todo > 0) {
        ro.progress_every = std::max<std::uint64_t>(todo / 10, 1);
        ro.progress = [&](std::uint64_t done, std::uint64_t total) {
            std::fprintf(stderr, "\r  step %llu / %llu (%.0f%%)", static_cast<unsigned long long>(done),
                         static_cast<unsigned long long>(total), 100.0 * static_cast<double>(done) / static_cast<double>(total));
            if (done == total) std::fprintf(stderr, "\n");
        };
    }
    // Every rank must stop at the same step: a stop request on any rank stops all.
    if (comm && comm->size() > 1 && !comm->dry_run())
        ro.should_stop = [comm] { return comm->any(should_stop()); };
    else
        ro.should_stop = should_stop;
    const std::uint64_t taken = sim.run(todo, ro);
    const auto t2 = std::chrono::steady_clock::now();
    if (checkpoint_out) lmusim::save_checkpoint(sim, checkpoint_out, ck_opt);  // at the end, or where it stopped
    else if (!s.checkpoint.empty()) {
        lmusim::state_store discard;
        sim.save_state(discard);
    }
    // The slowest rank's phase times (beNNch reports the maximum over ranks).
    lmusim::phase_times ph = sim.phases();
    int ranks = 1;
    if (comm && comm->size() > 1) {
        ranks = comm->size();
        if (!comm->dry_run()) {
            const double mine[4] = {ph.update, ph.deliver, ph.exchange, ph.io};
            std::vector<std::size_t> sizes;
            const auto all = comm->allgatherv(std::as_bytes(std::span<const double>(mine)), sizes);
            std::vector<double> v(all.size() / sizeof(double));
            std::memcpy(v.data(), all.data(), all.size());
            for (std::size_t r = 0; r + 3 < v.size(); r += 4) {
                ph.update = std::max(ph.update, v[r]);
                ph.deliver = std::max(ph.deliver, v[r + 1]);
                ph.exchange = std::max(ph.exchange, v[r + 2]);
                ph.io = std::max(ph.io, v[r + 3]);
            }
        }
    }
    if (!root) return taken < todo ? 130 : 0;
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
        if (comm) {
            j["ranks"] = ranks;
            j["dry_run"] = comm->dry_run();
            j["epoch_steps"] = sim.exchange_epoch();
            j["update_s"] = rounded(ph.update, 6);
            j["deliver_s"] = rounded(ph.deliver, 6);
            j["exchange_s"] = rounded(ph.exchange, 6);
            j["io_s"] = rounded(ph.io, 6);
            j["exchanges"] = ph.exchanges;
            j["bytes_sent"] = ph.bytes_sent;
            j["bytes_received"] = ph.bytes_received;
        }
        j["record"] = s.record;
        j["start_step"] = start;
        j["checkpoint"] = s.checkpoint;
        print_json(j);
    } else {
        std::printf("network      %s: %llu neurons, %zu projections, dt %g ms\n", nw.name.c_str(),
                    static_cast<unsigned long long>(neurons), nw.projections.size(), nw.dt);
        if (comm)
            std::printf("simulated    %g ms (%llu steps) on %d %srank(s) x %zu thread(s), spikes exchanged every %llu step(s)\n",
                        duration_ms, static_cast<unsigned long long>(steps), ranks, comm->dry_run() ? "(dry-run) " : "",
                        sim.threads(), static_cast<unsigned long long>(sim.exchange_epoch()));
        else
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
        if (comm)
            std::printf("phases       update %.3f s, delivery %.3f s, exchange %.3f s, recording %.3f s (%llu exchanges, "
                        "%llu bytes sent)\n",
                        ph.update, ph.deliver, ph.exchange, ph.io, static_cast<unsigned long long>(ph.exchanges),
                        static_cast<unsigned long long>(ph.bytes_sent));
        if (!s.record.empty()) std::printf("recording    %s\n", s.record.c_str());
        if (!s.checkpoint.empty()) std::printf("checkpoint   %s\n", s.checkpoint.c_str());
    }
    return 0;
}

}  // namespace lmusim::cli
