#pragma once
// Runs a network that maps input frames to per-frame outputs (the Spiking LMUFormer): whole clips
// and true frame-by-frame streaming over the same step loop, so the two give identical spikes and
// outputs. One stream per clip of a batch.
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "lmusim/sim/simulation.hpp"

namespace lmusim {

// The output node's values for one frame of every stream: values[stream * width + k].
struct frame_output {
    std::uint64_t frame = 0;
    std::vector<float> values;
};

class clip_runner {
public:
    // `input` is the input node (frames in), `output` the node whose values are the per-frame
    // result (the readout). Throws lmusim::error if they are missing or of the wrong kind.
    clip_runner(network net, context ctx, std::string input, std::string output);

    std::size_t streams() const noexcept { return sim_.ctx().streams; }
    std::size_t input_width() const noexcept { return in_width_; }
    std::size_t output_width() const noexcept { return out_width_; }
    // Frames of look-ahead: the output for frame t is ready after input frame t + latency().
    std::uint32_t latency() const noexcept { return sim_.latency(out_); }

    // Streaming. begin() starts a new clip in every stream (resets all state and counts). push()
    // takes n frames laid out [frame][stream][input_width] and returns the outputs that became
    // ready, in frame order. finish() ends the clip: the remaining frames are computed with the
    // convolutions' zero padding and returned.
    void begin();
    std::vector<frame_output> push(std::span<const float> frames);
    std::vector<frame_output> finish();
    std::uint64_t frames_pushed() const noexcept { return pushed_; }

    // Checkpoints of a streaming session (docs/checkpoint.md): the simulation's state plus
    // "runner/frames_pushed" and "runner/finished". Restoring needs a runner over the same
    // network, stream count and input/output nodes; then push() continues the clip exactly.
    void save_state(state_store& out) const;
    void restore_state(const state_store& in);

    // Whole clips: features [stream][frame][input_width] (the NumPy [clips, frames, mel] layout),
    // the same frame count in every stream. Returns all frames' outputs.
    std::vector<frame_output> run(std::span<const float> features, std::size_t frames);

    // Receives record_step() after every step the runner takes (sim/recorder.hpp); nullptr: none.
    void set_recorder(recorder* r) noexcept { rec_ = r; }
    const simulation& sim() const noexcept { return sim_; }
    simulation& sim() noexcept { return sim_; }

private:
    void step(std::vector<frame_output>& out);

    simulation sim_;
    std::string input_;
    std::size_t out_ = 0;
    std::size_t in_width_ = 0, out_width_ = 0;
    std::uint64_t pushed_ = 0;
    bool finished_ = false;
    recorder* rec_ = nullptr;
};

}  // namespace lmusim
