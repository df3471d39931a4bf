#pragma once
// Checkpoints: the complete run-time state of a simulation or streaming session in an HDF5 file,
// so that a run can stop and later continue with identical results (layout and guarantees:
// docs/checkpoint.md).
#include <cstdint>
#include <map>
#include <string>

#include "lmusim/core/output_file.hpp"
#include "lmusim/sim/clip_runner.hpp"
#include "lmusim/sim/simulation.hpp"

namespace lmusim {

inline constexpr int checkpoint_format_version = 1;

struct checkpoint_options {
    // SHA-256 of the network or model file the simulation was built from, "" if unknown. Stored
    // when saving; when loading, a checkpoint that names a different one is refused.
    std::string model_sha256{};
    std::map<std::string, std::string> attributes{};  // extra root attributes (saving only)
    if_exists existing = if_exists::fail;               // saving to a path that exists (docs/hardening.md)
};

struct checkpoint_info {
    std::string kind;          // "simulation" or "stream"
    std::uint64_t steps_done = 0;
    std::string model_sha256;  // "" if it was not known when saving
    std::string created;       // ISO 8601 UTC
};

// Writes the state to `path` under a temporary name (`path`.partial), flushed and synced, then
// renamed: an interrupted or failed save never leaves a half-written checkpoint at `path`. An
// existing file is replaced only with options.existing = if_exists::replace; another writer of
// the same path at the same time is refused (output_file).
void save_checkpoint(const simulation& sim, const std::string& path, const checkpoint_options& options = {});
void save_checkpoint(const clip_runner& runner, const std::string& path, const checkpoint_options& options = {});
// The same through a claim held by the caller, e.g. for the whole of a run that saves every
// so often into its own checkpoint (options.existing is then not consulted).
void save_checkpoint(const simulation& sim, output_file& out, const checkpoint_options& options = {});
void save_checkpoint(const clip_runner& runner, output_file& out, const checkpoint_options& options = {});

// Restores the state saved in `path`. The simulation (runner) must be built from the same network
// with the same stream count; the thread count may differ. A checkpoint of another network
// (node names, kinds, sizes, projections, dt), another stream count or model, or with a missing,
// mis-typed or mis-shaped dataset is an lmusim::file_error naming the file, the dataset and what
// was expected and found; the simulation is then left reset to its initial state.
checkpoint_info load_checkpoint(simulation& sim, const std::string& path, const checkpoint_options& options = {});

// A recorder (sim/recorder.hpp) that saves the run's state into `out` every `every` steps of
// the simulation's step counter (at step boundaries, where the state is complete); chain it with
// the run's other recorders (recorder_chain).
class checkpoint_recorder final : public recorder {
public:
    checkpoint_recorder(output_file& out, std::uint64_t every, checkpoint_options options)
        : out_(out), every_(every), opt_(std::move(options)) {}
    void begin(const simulation&, std::uint64_t) override {}
    void record_step(const simulation& sim) override {
        if (every_ && sim.steps_done() % every_ == 0) save_checkpoint(sim, out_, opt_);
    }
    void end(const simulation&) override {}

private:
    output_file& out_;
    std::uint64_t every_;
    checkpoint_options opt_;
};
checkpoint_info load_checkpoint(clip_runner& runner, const std::string& path, const checkpoint_options& options = {});

}  // namespace lmusim
