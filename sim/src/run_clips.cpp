#include "lmusim/sim/run_clips.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>

#include "lmusim/core/error.hpp"
#include "lmusim/core/strings.hpp"
#include "lmusim/sim/clip_runner.hpp"
#include "lmusim/sim/communicator.hpp"
#include "lmusim/sim/recorder.hpp"
#include "lmusim/frontend/audio.hpp"

namespace lmusim {

batch_collector::batch_collector(const network& net, std::vector<std::string> value_nodes, bool spikes, bool per_frame,
                                 std::size_t frames, std::size_t classes)
    : net_(net), value_nodes_(std::move(value_nodes)), spikes_(spikes), per_frame_(per_frame), frames_(frames),
      classes_(classes) {
    for (std::size_t i = 0; i < net.nodes.size(); ++i)
        if (net.nodes[i].spiking()) spiking_.push_back(i);
    for (const std::string& name : value_nodes_) {
        const std::size_t i = net.node_index(name);
        if (net.nodes[i].spiking()) throw error(cat("node '", name, "' emits spikes; only value nodes can be collected"));
        value_idx_.push_back(i);
    }
}

void batch_collector::start(std::size_t first, std::size_t clips, std::size_t streams) {
    b_ = batch_result{};
    b_.first = first;
    b_.clips = clips;
    b_.frames = frames_;
    b_.classes = classes_;
    streams_ = streams;
    b_.value_nodes = value_nodes_;
    for (std::size_t i : value_idx_) b_.values.emplace_back(streams * frames_ * net_.nodes[i].size, 0.0f);
    if (per_frame_) b_.per_frame.assign(spiking_.size(), std::vector<std::uint64_t>(streams * frames_, 0));
    if (spikes_) b_.spikes.assign(spiking_.size(), {});
}

void batch_collector::record_step(const simulation& sim) {
    for (std::size_t k = 0; k < value_idx_.size(); ++k) {
        const std::size_t i = value_idx_[k], n = net_.nodes[i].size;
        if (!sim.was_active(i) || sim.last_frame(i) >= frames_) continue;
        for (std::size_t s = 0; s < streams_; ++s) {
            const auto v = sim.values(i, s);
            std::copy(v.begin(), v.end(), b_.values[k].begin() + static_cast<std::ptrdiff_t>((s * frames_ + sim.last_frame(i)) * n));
        }
    }
    for (std::size_t k = 0; k < spiking_.size() && (per_frame_ || spikes_); ++k) {
        const std::size_t i = spiking_[k];
        if (!sim.was_active(i)) continue;
        const std::uint64_t f = sim.last_frame(i);
        const double t = static_cast<double>(f) * net_.dt;
        for (std::size_t s = 0; s < streams_ && s < b_.clips; ++s) {
            const auto spk = sim.spikes(i, s);
            if (per_frame_ && f < frames_) b_.per_frame[k][s * frames_ + f] += spk.size();
            if (!spikes_) continue;
            batch_result::spike_list& l = b_.spikes[k];
            for (index_t id : spk) {
                l.t.push_back(t);
                l.id.push_back(id);
                l.clip.push_back(static_cast<std::uint32_t>(b_.first + s));
            }
        }
    }
}

batch_result batch_collector::finish(const simulation& sim, const std::vector<frame_output>& out) {
    const std::size_t n = b_.clips, C = classes_, T = frames_;
    if (out.size() != T) throw internal_error(cat("run_clips: ", out.size(), " frame outputs, expected ", T));
    b_.frame_logits.resize(n * T * C);
    for (std::size_t t = 0; t < T; ++t)
        for (std::size_t s = 0; s < n; ++s) std::copy_n(out[t].values.data() + s * C, C, b_.frame_logits.data() + (s * T + t) * C);
    for (std::size_t i : spiking_) {
        const std::size_t size = net_.nodes[i].size;
        const auto c = sim.spike_counts(i);
        b_.spike_counts.emplace_back(c.begin(), c.begin() + static_cast<std::ptrdiff_t>(n * size));
    }
    const std::size_t P = net_.projections.size(), N = net_.nodes.size();
    b_.ops.resize(n * P);
    b_.node_ops.resize(n * N);
    for (std::size_t s = 0; s < n; ++s) {
        for (std::size_t p = 0; p < P; ++p) b_.ops[s * P + p] = sim.ops(p, s);
        for (std::size_t k = 0; k < N; ++k) b_.node_ops[s * N + k] = sim.node_ops(k, s);
    }
    // Drop what padding streams of a short last batch produced.
    for (std::size_t k = 0; k < value_idx_.size(); ++k) b_.values[k].resize(n * T * net_.nodes[value_idx_[k]].size);
    for (auto& pf : b_.per_frame) pf.resize(n * T);
    return std::move(b_);
}

namespace {

// Produces the frame outputs of clips [first, first + n) on a runner of `batch` streams.
using batch_producer = std::function<std::vector<frame_output>(clip_runner&, std::size_t first, std::size_t n)>;

clips_result run_batches(const network& net, std::size_t clips, std::size_t frames, std::size_t batch,
                         const run_clips_options& opt, const batch_producer& produce) {
    clip_runner runner(net, context{.threads = opt.threads, .streams = batch, .tile_bytes = opt.tile_bytes}, opt.input_node, opt.output_node);
    const std::size_t C = runner.output_width();
    const network& nw = runner.sim().net();
    const int R = opt.comm ? opt.comm->size() : 1, me = opt.comm ? opt.comm->rank() : 0;
    if (opt.comm && opt.comm->dry_run()) throw error("a dry run is for network-parallel simulations, not for clips");
    clips_result r;
    r.clips = clips;
    r.frames = frames;
    r.classes = C;
    r.latency = runner.latency();
    const std::size_t kept = opt.collect && me == 0 ? clips : 0;
    r.logits.resize(kept * C);
    r.frame_logits.resize(kept * frames * C);
    for (std::size_t i = 0; i < nw.nodes.size(); ++i) {
        if (nw.nodes[i].spiking()) {
            r.populations.push_back(nw.nodes[i].name);
            r.spike_counts.emplace_back(kept * nw.nodes[i].size);
        }
        r.nodes.push_back(nw.nodes[i].name);
    }
    for (const projection& p : nw.projections) r.projections.push_back(p.name);
    const std::size_t P = r.projections.size(), N = r.nodes.size();
    r.ops.resize(kept * P);
    r.node_ops.resize(kept * N);
    for (const std::string& name : opt.value_nodes) r.node_values.emplace_back(kept * frames * nw.find_node(name).size);

    batch_collector collect(nw, opt.value_nodes, opt.collect_spikes, opt.collect_per_frame, frames, C);
    std::unique_ptr<clip_sink> writer;
    if (opt.sink && me == 0) writer = opt.sink(runner.sim(), frames, C);
    runner.set_recorder(&collect);

    // Rank 0 takes the batches in clip order: its own as it runs them, the others' as they arrive.
    auto take = [&](const batch_result& b) {
        if (opt.on_batch) opt.on_batch(b);
        for (std::size_t s = 0; s < b.clips && opt.collect; ++s) {
            const std::size_t clip = b.first + s;
            std::copy_n(b.frame_logits.data() + s * frames * C, frames * C, r.frame_logits.data() + clip * frames * C);
            std::copy_n(b.logits(s), C, r.logits.data() + clip * C);
            for (std::size_t k = 0; k < b.spike_counts.size(); ++k) {
                const std::size_t size = b.spike_counts[k].size() / b.clips;
                std::copy_n(b.spike_counts[k].data() + s * size, size, r.spike_counts[k].data() + clip * size);
            }
            std::copy_n(b.ops.data() + s * P, P, r.ops.data() + clip * P);
            std::copy_n(b.node_ops.data() + s * N, N, r.node_ops.data() + clip * N);
            for (std::size_t k = 0; k < b.values.size(); ++k) {
                const std::size_t per_clip = b.values[k].size() / b.clips;
                std::copy_n(b.values[k].data() + s * per_clip, per_clip, r.node_values[k].data() + clip * per_clip);
            }
        }
        if (writer) writer->write_batch(b);
        r.clips_done = b.first + b.clips;
        if (opt.progress) opt.progress(b.first + b.clips, clips);
    };
    const auto t0 = std::chrono::steady_clock::now();
    for (std::size_t first = 0, b = 0; first < clips; first += batch, ++b) {
        const int owner = static_cast<int>(b % static_cast<std::size_t>(R));
        if (me == 0 && first > 0 && opt.should_stop && opt.should_stop()) break;
        if (owner == me) {
            const std::size_t n = std::min(batch, clips - first);
            collect.start(first, n, batch);
            std::vector<frame_output> out = produce(runner, first, n);
            batch_result res = collect.finish(runner.sim(), out);
            if (me == 0)
                take(res);
            else
                opt.comm->send(0, res.pack());
        } else if (me == 0) {
            take(batch_result::unpack(opt.comm->recv(owner)));
        }
    }
    if (me != 0) r.clips_done = clips;
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

std::vector<std::byte> batch_result::pack() const {
    byte_writer w;
    for (std::size_t v : {first, clips, frames, classes}) w.put<std::uint64_t>(v);
    w.put_span<float>(frame_logits);
    w.put<std::uint64_t>(spike_counts.size());
    for (const auto& c : spike_counts) w.put_span<std::uint64_t>(c);
    w.put_span<op_counts>(ops);
    w.put_span<op_counts>(node_ops);
    w.put<std::uint64_t>(per_frame.size());
    for (const auto& c : per_frame) w.put_span<std::uint64_t>(c);
    w.put<std::uint64_t>(value_nodes.size());
    for (std::size_t k = 0; k < value_nodes.size(); ++k) {
        w.put_span<char>(value_nodes[k]);
        w.put_span<float>(values[k]);
    }
    w.put<std::uint64_t>(spikes.size());
    for (const auto& l : spikes) {
        w.put_span<double>(l.t);
        w.put_span<std::uint64_t>(l.id);
        w.put_span<std::uint32_t>(l.clip);
    }
    return std::move(w.bytes());
}

batch_result batch_result::unpack(std::span<const std::byte> bytes) {
    byte_reader rd(bytes);
    batch_result b;
    b.first = rd.get<std::uint64_t>();
    b.clips = rd.get<std::uint64_t>();
    b.frames = rd.get<std::uint64_t>();
    b.classes = rd.get<std::uint64_t>();
    b.frame_logits = rd.get_vector<float>();
    b.spike_counts.resize(rd.get<std::uint64_t>());
    for (auto& c : b.spike_counts) c = rd.get_vector<std::uint64_t>();
    b.ops = rd.get_vector<op_counts>();
    b.node_ops = rd.get_vector<op_counts>();
    b.per_frame.resize(rd.get<std::uint64_t>());
    for (auto& c : b.per_frame) c = rd.get_vector<std::uint64_t>();
    const auto nv = rd.get<std::uint64_t>();
    for (std::uint64_t k = 0; k < nv; ++k) {
        const auto name = rd.get_vector<char>();
        b.value_nodes.emplace_back(name.begin(), name.end());
        b.values.push_back(rd.get_vector<float>());
    }
    b.spikes.resize(rd.get<std::uint64_t>());
    for (auto& l : b.spikes) {
        l.t = rd.get_vector<double>();
        l.id = rd.get_vector<std::uint64_t>();
        l.clip = rd.get_vector<std::uint32_t>();
    }
    if (!rd.done() || b.frame_logits.size() != b.clips * b.frames * b.classes)
        throw internal_error("a batch message from another rank is malformed");
    return b;
}

}  // namespace lmusim
