#pragma once
// Runs a model on many clips in batches (whole-clip or streaming), collecting logits, per-frame
// logits, spike counts and op counts per clip, and handing every finished batch to a clip_sink
// (io/clip_writer.hpp writes the clip output file). The one implementation behind
// `lmusim run MODEL --input` and the Python `Model.run`.
#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "lmusim/graph/network.hpp"
#include "lmusim/sim/clip_runner.hpp"
#include "lmusim/sim/simulation.hpp"

namespace lmusim {

// Receives a clip run's results: record_step() after every step (it is a recorder), then
// write_batch() for every finished batch and close() at the end (complete = every clip ran).
class clip_sink : public recorder {
public:
    // `outputs`: the output node's values for every frame of the batch; `clips` may be fewer than
    // the streams (a short last batch). Per-clip counts are read from the simulation.
    virtual void write_batch(const simulation& sim, const std::vector<frame_output>& outputs, std::size_t clips) = 0;
    virtual void close(bool complete) = 0;
};

// Makes the sink once the runner exists: (the simulation, frames per clip, output width).
using clip_sink_factory = std::function<std::unique_ptr<clip_sink>(const simulation&, std::size_t, std::size_t)>;

struct run_clips_options {
    std::string input_node;    // the node fed with frames (model_file::input_node)
    std::string output_node;   // the node whose values are the per-frame result (model_file::output_node)
    // More value nodes whose values at every frame are collected (clips_result::node_values; NIR
    // graphs: every Output node).
    std::vector<std::string> value_nodes{};
    std::size_t batch = 16;    // clips run side by side (streams)
    std::size_t threads = 0;   // 0 = what oneTBB allows
    bool stream = false;       // push frames one at a time instead of whole clips
    clip_sink_factory sink{};  // where finished batches go (io/clip_writer.hpp: the clip output file); none if empty
    bool collect = true;  // keep every clip's results in memory (false: memory stays flat; use on_batch)
    std::function<void(std::size_t, std::size_t)> progress{};  // (clips done, clips)
    // Checked between batches (clip boundaries): true stops the run; the output file keeps every
    // finished clip and is closed with /status/complete = 0.
    std::function<bool()> should_stop{};
    // After each batch: (first clip, clips in the batch, final logits [clips][classes], the
    // simulation whose per-stream counts describe the batch's clips).
    std::function<void(std::size_t, std::size_t, const std::vector<float>&, const simulation&)> on_batch{};
};

struct clips_result {
    std::size_t clips = 0, frames = 0, classes = 0;
    std::vector<float> logits;        // [clips][classes]
    std::vector<float> frame_logits;  // [clips][frames][classes]
    std::vector<std::string> populations;                 // spiking nodes
    std::vector<std::vector<std::uint64_t>> spike_counts;  // per population: [clips][size]
    std::vector<std::string> projections;
    std::vector<op_counts> ops;        // [clips][projections]
    std::vector<std::string> nodes;     // every node
    std::vector<op_counts> node_ops;    // [clips][nodes]: own products and element-wise work
    std::vector<std::vector<float>> node_values;  // per options.value_nodes entry: [clips][frames][size]
    std::uint32_t latency = 0;          // frames of look-ahead
    std::size_t clips_done = 0;         // < clips when should_stop ended the run early
    double seconds = 0;                 // wall time of the runs
};

// features: [clips][frames][input width] float32, C order. Throws lmusim::error on bad input.
clips_result run_clips(const network& net, std::span<const float> features, std::size_t clips, std::size_t frames,
                       const run_clips_options& options);

class fbank;
// Audio clips (at the front-end's sample rate) through the log-mel front-end into the model.
// Whole clips: features per clip, then run_clips. options.stream: true streaming, one clip at a
// time, audio pushed in chunks of `chunk_samples`, each feature frame entering the model as soon
// as its last sample arrives; the results equal the whole-clip ones exactly.
clips_result run_audio(const network& net, const std::vector<std::vector<float>>& audio, const fbank& fb,
                       std::size_t chunk_samples, const run_clips_options& options);

}  // namespace lmusim
