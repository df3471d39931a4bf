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
#include "lmusim/sim/communicator.hpp"
#include "lmusim/sim/simulation.hpp"

namespace lmusim {

// Everything one finished batch of clips yields (what the clip output file stores), collected
// from the simulation by run_clips and handed to the sink; a plain value, so a rank of a
// clip-parallel run can send it to rank 0 (pack/unpack).
struct batch_result {
    std::size_t first = 0, clips = 0;  // clips [first, first + clips)
    std::size_t frames = 0, classes = 0;
    std::vector<float> frame_logits;  // [clips][frames][classes]
    std::vector<std::vector<std::uint64_t>> spike_counts;  // per spiking node: [clips][size]
    std::vector<op_counts> ops;       // [clips][projections]
    std::vector<op_counts> node_ops;  // [clips][nodes]
    std::vector<std::vector<std::uint64_t>> per_frame;  // per spiking node: [clips][frames] (collect_per_frame)
    std::vector<std::string> value_nodes;               // run_clips_options::value_nodes
    std::vector<std::vector<float>> values;             // per value node: [clips][frames][size]
    struct spike_list {
        std::vector<double> t;             // ms: frame x dt
        std::vector<std::uint64_t> id;     // neuron
        std::vector<std::uint32_t> clip;   // clip index (first + stream)
    };
    std::vector<spike_list> spikes;  // per spiking node (collect_spikes), in step order

    const float* logits(std::size_t clip) const { return frame_logits.data() + (clip * frames + frames - 1) * classes; }
    std::vector<std::byte> pack() const;
    static batch_result unpack(std::span<const std::byte> bytes);
};

// Fills a batch_result from a simulation step by step (it is a recorder: the values of
// `value_nodes`, and per-frame spike counts and every spike when asked) and, at the end of the
// batch, with the per-clip counts. run_clips uses one; so does the keyword spotter (sim/spotter.hpp).
class batch_collector final : public recorder {
public:
    batch_collector(const network& net, std::vector<std::string> value_nodes, bool spikes, bool per_frame,
                    std::size_t frames, std::size_t classes);
    // Before a batch: clips [first, first + clips) on a simulation of `streams` streams.
    void start(std::size_t first, std::size_t clips, std::size_t streams);
    void begin(const simulation&, std::uint64_t) override {}
    void record_step(const simulation& sim) override;
    void end(const simulation&) override {}
    // After the batch: its frame outputs (as clip_runner returns them) and per-clip counts.
    batch_result finish(const simulation& sim, const std::vector<frame_output>& out);

private:
    const network& net_;
    std::vector<std::string> value_nodes_;
    bool spikes_, per_frame_;
    std::size_t frames_, classes_, streams_ = 1;
    std::vector<std::size_t> spiking_, value_idx_;
    batch_result b_;
};

// Receives a clip run's results: write_batch() for every finished batch, in clip order, and
// close() at the end (complete = every clip ran).
class clip_sink {
public:
    virtual ~clip_sink() = default;
    virtual void write_batch(const batch_result& batch) = 0;
    virtual void close(bool complete) = 0;
};

// Makes the sink once the runner exists: (the simulation, frames per clip, output width).
using clip_sink_factory = std::function<std::unique_ptr<clip_sink>(const simulation&, std::size_t, std::size_t)>;

// Clip-parallel runs (docs/distributed.md): batch b of `batch` clips belongs to rank b mod R.
inline int clip_owner(std::size_t clip, std::size_t batch, int ranks) noexcept {
    return static_cast<int>((clip / batch) % static_cast<std::size_t>(ranks));
}

struct run_clips_options {
    std::string input_node;    // the node fed with frames (model_file::input_node)
    std::string output_node;   // the node whose values are the per-frame result (model_file::output_node)
    // More value nodes whose values at every frame are collected (clips_result::node_values; NIR
    // graphs: every Output node).
    std::vector<std::string> value_nodes{};
    bool collect_spikes = false;     // batch_result::spikes (every spike, for the output file)
    bool collect_per_frame = false;  // batch_result::per_frame
    std::size_t batch = 16;    // clips run side by side (streams)
    std::size_t threads = 0;   // 0 = what oneTBB allows
    // Cache tiling of batched spike delivery (context::tile_bytes; 0: off). Results never depend on it.
    std::size_t tile_bytes = context{}.tile_bytes;
    bool stream = false;       // push frames one at a time instead of whole clips
    clip_sink_factory sink{};  // where finished batches go (io/clip_writer.hpp: the clip output file); none if empty
    bool collect = true;  // keep every clip's results in memory (false: memory stays flat; use on_batch)
    std::function<void(std::size_t, std::size_t)> progress{};  // (clips done, clips)
    // Checked between batches (clip boundaries): true stops the run; the output file keeps every
    // finished clip and is closed with /status/complete = 0.
    std::function<bool()> should_stop{};
    // After each batch, in clip order.
    std::function<void(const batch_result&)> on_batch{};
    // Clip-parallel runs: the ranks share the batches (batch b on rank b mod R, each with its own
    // threads); rank 0 receives them in clip order and alone calls the sink, on_batch and progress
    // and returns the results, exactly those of one process (other ranks return clips_done only).
    communicator* comm = nullptr;
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
