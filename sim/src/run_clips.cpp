#include "lmusim/sim/run_clips.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>

#include "lmusim/core/error.hpp"
#include "lmusim/core/strings.hpp"
#include "lmusim/sim/clip_runner.hpp"
#include "lmusim/sim/recorder.hpp"
#include "lmusim/frontend/audio.hpp"

namespace lmusim {

namespace {

// Produces the frame outputs of clips [first, first + n) on a runner of `batch` streams.
using batch_producer = std::function<std::vector<frame_output>(clip_runner&, std::size_t first, std::size_t n)>;

clips_result run_batches(const network& net, std::size_t clips, std::size_t frames, std::size_t batch,
                         const run_clips_options& opt, const batch_producer& produce) {
    clip_runner runner(net, context{.threads = opt.threads, .streams = batch}, opt.input_node, opt.output_node);
    const std::size_t C = runner.output_width();
    const network& nw = runner.sim().net();
    clips_result r;
    r.clips = clips;
    r.frames = frames;
    r.classes = C;
    r.latency = runner.latency();
    const std::size_t kept = opt.collect ? clips : 0;
    r.logits.resize(kept * C);
    r.frame_logits.resize(kept * frames * C);
    std::vector<std::size_t> spiking;
    for (std::size_t i = 0; i < nw.nodes.size(); ++i) {
        if (nw.nodes[i].spiking()) {
            spiking.push_back(i);
            r.populations.push_back(nw.nodes[i].name);
            r.spike_counts.emplace_back(kept * nw.nodes[i].size);
        }
        r.nodes.push_back(nw.nodes[i].name);
    }
    for (const projection& p : nw.projections) r.projections.push_back(p.name);
    const std::size_t P = r.projections.size(), N = r.nodes.size();
    r.ops.resize(kept * P);
    r.node_ops.resize(kept * N);

    // Value nodes collected frame by frame (their values at the frame each one just processed).
    std::vector<std::size_t> value_idx;
    for (const std::string& name : opt.value_nodes) {
        const std::size_t i = nw.node_index(name);
        if (nw.nodes[i].spiking()) throw error(cat("node '", name, "' emits spikes; only value nodes can be collected"));
        value_idx.push_back(i);
        r.node_values.emplace_back(kept * frames * nw.nodes[i].size);
    }
    std::size_t batch_first = 0;
    step_recorder values_rec([&](const simulation& sim) {
        for (std::size_t k = 0; k < value_idx.size() && opt.collect; ++k) {
            const std::size_t i = value_idx[k], size = nw.nodes[i].size;
            if (!sim.was_active(i) || sim.last_frame(i) >= frames) continue;
            for (std::size_t s = 0; s < batch && batch_first + s < clips; ++s) {
                const auto v = sim.values(i, s);
                std::copy(v.begin(), v.end(), r.node_values[k].begin() +
                                                  static_cast<std::ptrdiff_t>(((batch_first + s) * frames + sim.last_frame(i)) * size));
            }
        }
    });
    std::unique_ptr<clip_sink> writer;
    if (opt.sink) writer = opt.sink(runner.sim(), frames, C);
    recorder_chain chain{writer.get(), value_idx.empty() ? nullptr : &values_rec};
    runner.set_recorder(chain.get());
    const auto t0 = std::chrono::steady_clock::now();
    for (std::size_t first = 0; first < clips; first += batch) {
        if (first > 0 && opt.should_stop && opt.should_stop()) break;
        const std::size_t n = std::min(batch, clips - first);
        batch_first = first;
        std::vector<frame_output> out = produce(runner, first, n);
        if (out.size() != frames) throw internal_error(cat("run_clips: ", out.size(), " frame outputs, expected ", frames));
        const simulation& sim = runner.sim();
        if (opt.on_batch) {
            std::vector<float> last(n * C);
            for (std::size_t s = 0; s < n; ++s) std::copy_n(out[frames - 1].values.data() + s * C, C, last.data() + s * C);
            opt.on_batch(first, n, last, sim);
        }
        for (std::size_t s = 0; s < n && opt.collect; ++s) {
            const std::size_t clip = first + s;
            for (std::size_t t = 0; t < frames; ++t)
                std::copy_n(out[t].values.data() + s * C, C, r.frame_logits.data() + (clip * frames + t) * C);
            std::copy_n(out[frames - 1].values.data() + s * C, C, r.logits.data() + clip * C);
            for (std::size_t k = 0; k < spiking.size(); ++k) {
                const std::size_t size = nw.nodes[spiking[k]].size;
                const auto c = sim.spike_counts(spiking[k]);
                std::copy_n(c.data() + s * size, size, r.spike_counts[k].data() + clip * size);
            }
            for (std::size_t p = 0; p < P; ++p) r.ops[clip * P + p] = sim.ops(p, s);
            for (std::size_t k = 0; k < N; ++k) r.node_ops[clip * N + k] = sim.node_ops(k, s);
        }
        if (writer) writer->write_batch(sim, out, n);
        r.clips_done = first + n;
        if (opt.progress) opt.progress(first + n, clips);
    }
    if (writer) writer->close(r.clips_done == clips);
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return r;
}

}  // namespace

clips_result run_clips(const network& net, std::span<const float> features, std::size_t clips, std::size_t frames,
                       const run_clips_options& opt) {
    if (clips == 0 || frames == 0) throw error(cat("empty input (", clips, " clips of ", frames, " frames)"));
    if (opt.batch == 0) throw error("batch 0, expected at least 1");
    const std::size_t width = net.find_node(opt.input_node).size;
    if (features.size() != clips * frames * width)
        throw error(cat(features.size(), " feature values, expected ", clips, " clips x ", frames, " frames x ", width, " = ",
                        clips * frames * width));
    const bool spikes_in = net.find_node(opt.input_node).spiking();
    for (std::size_t i = 0; i < features.size(); ++i) {
        if (!std::isfinite(features[i]))
            throw error(cat("feature value ", features[i], " at clip ", i / (frames * width), ", frame ", (i / width) % frames,
                            ", channel ", i % width, " is not finite"));
        if (spikes_in && features[i] != 0.0f && features[i] != 1.0f)
            throw error(cat("input value ", features[i], " at clip ", i / (frames * width), ", step ", (i / width) % frames,
                            ", channel ", i % width, ": the model's input node '", opt.input_node,
                            "' takes spikes (0 or 1); convert the model with --input values for real-valued input"));
    }
    const std::size_t batch = std::min(clips, opt.batch);
    std::vector<float> feat(batch * frames * width), frame(batch * width);
    return run_batches(net, clips, frames, batch, opt, [&](clip_runner& runner, std::size_t first, std::size_t n) {
        std::fill(feat.begin(), feat.end(), 0.0f);  // a short last batch is padded with silent clips
        std::copy_n(features.data() + first * frames * width, n * frames * width, feat.data());
        if (!opt.stream) return runner.run(feat, frames);
        std::vector<frame_output> out;
        runner.begin();
        for (std::size_t f = 0; f < frames; ++f) {
            for (std::size_t s = 0; s < batch; ++s)
                std::copy_n(feat.data() + (s * frames + f) * width, width, frame.data() + s * width);
            auto ready = runner.push(frame);
            out.insert(out.end(), std::make_move_iterator(ready.begin()), std::make_move_iterator(ready.end()));
        }
        auto rest = runner.finish();
        out.insert(out.end(), std::make_move_iterator(rest.begin()), std::make_move_iterator(rest.end()));
        return out;
    });
}

clips_result run_audio(const network& net, const std::vector<std::vector<float>>& audio, const fbank& fb,
                       std::size_t chunk_samples, const run_clips_options& opt) {
    const std::size_t frames = fb.options().target_frames;
    if (frames == 0) throw error("run_audio: the front-end needs a fixed target_frames");
    if (audio.empty()) throw error("run_audio: no audio clips");
    if (!opt.stream) {
        std::vector<float> features;
        for (const auto& a : audio) {
            const auto f = fb.features(a);
            features.insert(features.end(), f.begin(), f.end());
        }
        return run_clips(net, features, audio.size(), frames, opt);
    }
    if (chunk_samples == 0) throw error("run_audio: chunk of 0 samples");
    // True streaming: audio in chunks -> feature frames as they complete -> model, one clip at a time.
    return run_batches(net, audio.size(), frames, 1, opt, [&](clip_runner& runner, std::size_t first, std::size_t) {
        const std::vector<float>& a = audio[first];
        fbank_stream fs(fb);
        runner.begin();
        std::vector<frame_output> out;
        auto feed = [&](const std::vector<float>& rows) {
            if (rows.empty()) return;
            auto ready = runner.push(rows);
            out.insert(out.end(), std::make_move_iterator(ready.begin()), std::make_move_iterator(ready.end()));
        };
        for (std::size_t i = 0; i < a.size(); i += chunk_samples)
            feed(fs.push(std::span<const float>(a).subspan(i, std::min(chunk_samples, a.size() - i))));
        feed(fs.finish());
        auto rest = runner.finish();
        out.insert(out.end(), std::make_move_iterator(rest.begin()), std::make_move_iterator(rest.end()));
        return out;
    });
}

}  // namespace lmusim
