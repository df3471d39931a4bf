#include "lmusim/sim/clip_runner.hpp"

#include <cmath>

#include "lmusim/core/error.hpp"
#include "lmusim/core/strings.hpp"

namespace lmusim {

clip_runner::clip_runner(network net, context ctx, std::string input, std::string output)
    : sim_(std::move(net), ctx), input_(std::move(input)) {
    const network& nw = sim_.net();
    const std::size_t in = nw.node_index(input_);
    if (!nw.nodes[in].frame_input())
        throw error(cat("node '", input_, "' is a ", nw.nodes[in].kind(), " node; the clip input must be an input node"));
    out_ = nw.node_index(output);
    if (nw.nodes[out_].spiking())
        throw error(cat("node '", output, "' is spiking; the clip output must be a real-valued node (readout or analog)"));
    in_width_ = nw.nodes[in].size;
    out_width_ = nw.nodes[out_].size;
}

void clip_runner::begin() {
    sim_.reset();
    pushed_ = 0;
    finished_ = false;
}

void clip_runner::step(std::vector<frame_output>& out) {
    sim_.run(1);
    if (rec_) rec_->record_step(sim_);
    if (sim_.was_active(out_)) {
        frame_output f;
        f.frame = sim_.last_frame(out_);
        f.values.resize(streams() * out_width_);
        for (std::size_t s = 0; s < streams(); ++s) {
            const auto v = sim_.values(out_, s);
            std::copy(v.begin(), v.end(), f.values.begin() + static_cast<std::ptrdiff_t>(s * out_width_));
        }
        out.push_back(std::move(f));
    }
}

void clip_runner::save_state(state_store& out) const {
    sim_.save_state(out);
    out.put_u64("runner/frames_pushed", pushed_);
    out.put_u64("runner/finished", finished_ ? 1 : 0);
}

void clip_runner::restore_state(const state_store& in) {
    sim_.restore_state(in);
    try {
        const std::uint64_t pushed = in.get_u64("runner/frames_pushed");
        const std::uint64_t finished = in.get_u64("runner/finished");
        if (finished > 1) throw state_error(cat("dataset 'runner/finished' = ", finished, ", expected 0 or 1"));
        pushed_ = pushed;
        finished_ = finished == 1;
    } catch (...) {
        begin();
        throw;
    }
}

std::vector<frame_output> clip_runner::push(std::span<const float> frames) {
    if (finished_) throw error("push: the clip was finished; call begin() to start a new one");
    const std::size_t frame_size = streams() * in_width_;
    if (frames.size() % frame_size != 0)
        throw error(cat("push: ", frames.size(), " values is not a whole number of frames of ", streams(), " streams x ",
                        in_width_, " features"));
    for (std::size_t i = 0; i < frames.size(); ++i)
        if (!std::isfinite(frames[i]))
            throw error(cat("push: feature value ", frames[i], " at frame ", pushed_ + i / frame_size, ", stream ",
                            (i % frame_size) / in_width_, ", channel ", i % in_width_, " is not finite"));
    std::vector<frame_output> out;
    const std::size_t n = frames.size() / frame_size;
    for (std::size_t f = 0; f < n; ++f) {
        sim_.push_frames(input_, frames.subspan(f * frame_size, frame_size));
        ++pushed_;
        step(out);
    }
    return out;
}

std::vector<frame_output> clip_runner::finish() {
    if (finished_) throw error("finish: the clip was already finished");
    if (pushed_ == 0) throw error("finish: no frames were pushed; a clip needs at least one frame");
    finished_ = true;
    sim_.end_clip(pushed_);
    std::vector<frame_output> out;
    while (sim_.steps_to_drain() > 0) step(out);
    return out;
}

std::vector<frame_output> clip_runner::run(std::span<const float> features, std::size_t frames) {
    const std::size_t S = streams();
    if (frames == 0) throw error("run: a clip needs at least one frame");
    if (features.size() != S * frames * in_width_)
        throw error(cat("run: ", features.size(), " feature values, expected ", S, " clips x ", frames, " frames x ", in_width_,
                        " = ", S * frames * in_width_));
    // [stream][frame][c] -> [frame][stream][c]
    std::vector<float> frame_major(features.size());
    for (std::size_t s = 0; s < S; ++s)
        for (std::size_t f = 0; f < frames; ++f)
            std::copy_n(features.data() + (s * frames + f) * in_width_, in_width_, frame_major.data() + (f * S + s) * in_width_);
    begin();
    std::vector<frame_output> out = push(frame_major);
    std::vector<frame_output> rest = finish();
    out.insert(out.end(), std::make_move_iterator(rest.begin()), std::make_move_iterator(rest.end()));
    return out;
}

}  // namespace lmusim
