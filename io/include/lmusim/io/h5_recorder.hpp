#pragma once
// Records a run to HDF5 (layout: docs/recording_format.md): spike counts per population and
// neuron, spike times in the SONATA layout, op counts per projection, run settings as attributes.
// Written in chunks with bounded memory to PATH.partial, flushed after every chunk, and renamed to
// PATH when the run ends (also when it was stopped early): a run that is killed leaves a readable
// PATH.partial holding every finished chunk, and whatever was at PATH before stays untouched.
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "lmusim/core/output_file.hpp"
#include "lmusim/sim/simulation.hpp"

namespace lmusim {

inline constexpr int recording_format_version = 1;

struct h5_recorder_options {
    std::uint64_t chunk_steps = 1000;            // flush to disk every this many steps
    std::size_t max_buffered_spikes = 1u << 20;  // ... or when this many spikes are buffered
    bool spike_times = true;                     // write /spikes/<population>/{timestamps,node_ids}
    std::map<std::string, std::string> attributes{};  // extra run settings, written as root attributes
    if_exists existing = if_exists::fail;             // when PATH (or a killed run's PATH.partial) exists
};

class h5_recorder final : public recorder {
public:
    // Claims the path and creates PATH.partial now, so an unwritable path, an existing file (unless
    // options.existing is replace) or another writer of the path fails before the run starts.
    explicit h5_recorder(std::string path, h5_recorder_options options = {});
    ~h5_recorder() override;
    h5_recorder(const h5_recorder&) = delete;
    h5_recorder& operator=(const h5_recorder&) = delete;

    void begin(const simulation& sim, std::uint64_t steps) override;
    void record_step(const simulation& sim) override;
    void end(const simulation& sim) override;

    const std::string& path() const noexcept;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace lmusim
