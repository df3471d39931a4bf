#pragma once
// Writes the results of clip runs (lmusim run MODEL --input ... --output OUT.h5): logits,
// per-frame logits, spike counts per population and op counts per projection for every clip,
// appended batch by batch to PATH.partial and flushed, so a run that stops early keeps every
// finished batch; close() renames it to PATH (a killed run leaves PATH.partial, and whatever was
// at PATH before stays untouched).
// Layout: docs/output_format.md.
#include <memory>
#include <string>
#include <vector>

#include "lmusim/core/output_file.hpp"
#include "lmusim/sim/clip_runner.hpp"
#include "lmusim/sim/run_clips.hpp"

namespace lmusim {

struct clip_writer_options {
    bool spikes = false;            // also write every spike (SONATA layout, stream_ids = clip index)
    bool per_frame_counts = false;  // also write spikes per population per frame [clips, frames]
    std::vector<std::string> class_names{};
    // Value nodes whose output at every frame is written to /outputs/<node> [clips, frames, size]
    // (NIR graphs: every Output node).
    std::vector<std::string> node_outputs{};
    std::vector<std::pair<std::string, std::string>> attributes{};
    if_exists existing = if_exists::fail;  // when PATH (or a killed run's PATH.partial) exists
};

// A clip_sink (sim/run_clips.hpp): write_batch() appends a finished batch (run_clips collects
// what the options ask for: set run_clips_options::collect_spikes, collect_per_frame and
// value_nodes to match spikes, per_frame_counts and node_outputs).
class clip_writer final : public clip_sink {
public:
    // Claims the path and creates PATH.partial now, so an unwritable path, an existing file (unless
    // options.existing is replace) or another writer of the path fails before the run.
    clip_writer(std::string path, const simulation& sim, std::size_t frames, std::size_t classes,
                clip_writer_options options = {});
    ~clip_writer() override;
    clip_writer(const clip_writer&) = delete;
    clip_writer& operator=(const clip_writer&) = delete;

    // Appends one finished batch (the batches must come in clip order).
    void write_batch(const batch_result& batch) override;
    // Marks the file complete (unless the run was cut short), closes it and renames it to PATH.
    void close(bool complete = true) override;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

// A sink factory for run_clips_options::sink that writes the clip output file at `path`.
clip_sink_factory clip_output(std::string path, clip_writer_options options);

}  // namespace lmusim
