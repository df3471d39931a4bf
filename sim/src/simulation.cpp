#include "lmusim/sim/simulation.hpp"

#include <algorithm>
#include <chrono>
#include <numeric>

#include <unistd.h>

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include "lmusim/core/error.hpp"
#include "lmusim/core/strings.hpp"

namespace lmusim {

struct simulation::arena_holder {
    tbb::task_arena arena;
    explicit arena_holder(int n) : arena(n) {}
};

simulation::simulation(network net, context ctx) : net_(std::move(net)), ctx_(ctx) {
    net_.validate();
    if (ctx_.streams == 0) throw error("context: streams = 0, expected at least 1");
    if (ctx_.block_size == 0) throw error("context: block_size = 0, expected at least 1");
    const int max_threads = tbb::this_task_arena::max_concurrency();
    threads_ = ctx_.threads == 0 ? static_cast<std::size_t>(max_threads) : ctx_.threads;
    arena_ = std::make_unique<arena_holder>(static_cast<int>(threads_));
    order_ = net_.topological_order();

    latency_ = net_.latencies();
    const std::size_t S = ctx_.streams;
    {
        // Refuse before allocating what this machine cannot hold: about 48 bytes of state, buffers
        // and counts per neuron and stream, plus a transposed copy of spike-driven weights.
        double bytes = 0;
        for (const node& nd : net_.nodes) bytes += 48.0 * static_cast<double>(nd.size) * static_cast<double>(S);
        for (const projection& p : net_.projections) bytes += 4.0 * static_cast<double>(p.weights.size());
        const double ram = static_cast<double>(sysconf(_SC_PHYS_PAGES)) * static_cast<double>(sysconf(_SC_PAGE_SIZE));
        if (ram > 0 && bytes > ram)
            throw error(cat("network '", net_.name, "' with ", S, " stream(s) needs about ", bytes / 1e9,
                            " GB of state, more than this machine's ", ram / 1e9, " GB"));
    }
    nodes_.resize(net_.nodes.size());
    projs_.resize(net_.projections.size());
    for (std::size_t p = 0; p < net_.projections.size(); ++p) {
        const projection& pr = net_.projections[p];
        proj_state& ps = projs_[p];
        ps.kind = &kind_of(pr.kind);
        ps.source = net_.node_index(pr.source);
        ps.target = net_.node_index(pr.target);
        ps.n_source = net_.nodes[ps.source].size;
        ps.n_target = net_.nodes[ps.target].port_size(pr.port);
        ps.counts.assign(S, op_counts{});
        ps.taps = ps.kind->taps(pr);
        // Lag of tap k is lag + (taps - 1 - k): alignment to the target's latency plus any delay.
        ps.lag = pr.delay + (pr.delay == 0 ? latency_[ps.target] - latency_[ps.source] - pr.latency() : 0);
        node_state& src = nodes_[ps.source];
        src.depth = std::max<std::size_t>(src.depth, std::size_t{ps.lag} + ps.taps);
        nodes_[ps.target].incoming.push_back(p);
        ps.kind->prepare(pr, projection_context{"", ps.n_source, ps.n_target, net_.nodes[ps.source].spiking()}, ps.wt);
        ps.kind->nonzero_fanout(pr, ps.n_source, ps.n_target, ps.nz);
        ps.any_nz = std::any_of(ps.nz.begin(), ps.nz.end(), [](std::uint32_t v) { return v != 0; });
        // A tile of targets whose weight slices (all sources and taps) take about ctx.tile_bytes:
        // they stay in the core's L2 while the work item's streams add their spikes.
        const std::size_t per_target = ps.kind->tile_bytes(pr, ps.n_source, ps.n_target);
        if (per_target > 0 && ctx_.tile_bytes > 0 && net_.nodes[ps.source].spiking())
            ps.tile = std::max<std::size_t>(tile_granularity, ctx_.tile_bytes / per_target / tile_granularity * tile_granularity);
    }
    for (std::size_t i = 0; i < net_.nodes.size(); ++i) {
        const node& nd = net_.nodes[i];
        node_state& ns = nodes_[i];
        ns.pop = std::visit([&](const auto& p) { return make_population(p, population_args{nd.size, S, net_.dt}); }, nd.params);
        ns.spiking = nd.spiking();
        if (ns.spiking)
            ns.spike_history.assign(ns.depth * S, {});
        else
            ns.value_history.assign(ns.depth * S * nd.size, 0.0f);
        ns.counts.assign(S * nd.size, 0);
        ns.elementwise.assign(S, 0);
        ns.elementwise_per_step = nd.elementwise_per_step(ns.incoming.size());
        // With one thread a stream is one block (splitting would only add work); results never
        // depend on the split.
        // At most 4 blocks per thread: every block scans all incoming spikes, so more blocks only
        // add work. Network-parallel: a spiking population that can be split is shared out among
        // the ranks (docs/distributed.md, "Placement") and blocks cover this rank's neurons;
        // everything else runs whole on every rank.
        ns.partitioned = ctx_.comm && ctx_.comm->size() > 1 && ns.spiking && ns.pop->splittable();
        ns.own = ns.partitioned ? owned_by(nd.size, ctx_.comm->rank(), ctx_.comm->size()) : owned_range{0, nd.size};
        const std::size_t m = ns.own.end - ns.own.begin;
        const bool split = ns.pop->splittable() && threads_ > 1;
        const std::size_t bs = std::max<std::size_t>(1, split ? std::max(ctx_.block_size, (m + 4 * threads_ - 1) / (4 * threads_)) : m);
        ns.blocks = (m + bs - 1) / bs;
        ns.block_size = bs;
        // Streams are grouped: one item per group and block, about one group per thread (measured:
        // more, smaller groups re-read more weight tiles and balanced no better; benchmarks/README.md).
        const std::size_t want = threads_;
        ns.group_size = ctx_.stream_group ? std::min(ctx_.stream_group, S) : std::max<std::size_t>(1, S / std::max<std::size_t>(1, want / std::max<std::size_t>(1, ns.blocks)));
        ns.groups = (S + ns.group_size - 1) / ns.group_size;
        ns.block_spikes.assign(S * ns.blocks, {});
    }
    setup_partition();
    std::size_t widest = 1;
    for (const node& nd : net_.nodes) {
        widest = std::max(widest, nd.size);
        for (std::size_t port = 0; port < nd.input_ports(); ++port) widest = std::max(widest, nd.port_size(port));
    }
    scratch_.assign(std::max<std::size_t>(threads_, 1), std::vector<float>(widest));
    deliver_s_.assign(scratch_.size(), 0.0);
    update_s_.assign(scratch_.size(), 0.0);
}

// The exchange schedule (docs/distributed.md, "Exchange"): a partitioned node with a zero-lag
// outgoing projection sends its spikes right after its update; the others send once per epoch of
// D steps, D the smallest lag of their outgoing projections (or 1 when every step is wanted).
// Spikes of step t are then needed no earlier than step t + D, when they have arrived.
void simulation::setup_partition() {
    epoch_ = 1;
    epoch_nodes_.clear();
    if (!ctx_.comm || ctx_.comm->size() < 2) return;
    // Synapses live with their targets: a rank keeps (for delivery) only those onto its neurons.
    for (std::size_t p = 0; p < projs_.size(); ++p) {
        proj_state& ps = projs_[p];
        const node_state& tgt = nodes_[ps.target];
        if (!tgt.partitioned || ps.n_target != net_.nodes[ps.target].size) continue;
        auto local = std::make_unique<projection>(net_.projections[p]);
        if (ps.kind->restrict_targets(*local, ps.n_source, ps.n_target, tgt.own.begin, tgt.own.end)) ps.local = std::move(local);
    }
    std::vector<std::uint64_t> min_lag(nodes_.size(), UINT64_MAX);
    for (const proj_state& ps : projs_) min_lag[ps.source] = std::min<std::uint64_t>(min_lag[ps.source], ps.lag);
    std::uint64_t D = UINT64_MAX;
    for (std::size_t i = 0; i < nodes_.size(); ++i)
        if (nodes_[i].partitioned && min_lag[i] != UINT64_MAX && min_lag[i] > 0) D = std::min(D, min_lag[i]);
    if (D == UINT64_MAX || ctx_.exchange_every_step) D = 1;
    epoch_ = D;
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
        node_state& ns = nodes_[i];
        if (!ns.partitioned) continue;
        // A node whose history ring is shorter than the epoch (one without outgoing projections)
        // would overwrite unsent spikes: it sends at once, too.
        ns.immediate = min_lag[i] == 0 || ns.depth < D;
        if (!ns.immediate) epoch_nodes_.push_back(i);
        ns.membrane_shared.assign(ctx_.streams, 0);
    }
}

simulation::~simulation() = default;

void simulation::reset() {
    step_ = 0;
    exchanged_until_ = 0;
    clip_frames_ = UINT64_MAX;
    for (node_state& ns : nodes_) {
        std::fill(ns.membrane_shared.begin(), ns.membrane_shared.end(), 0);
        ns.pop->reset();
        for (auto& h : ns.spike_history) h.clear();
        std::fill(ns.value_history.begin(), ns.value_history.end(), 0.0f);
        std::fill(ns.counts.begin(), ns.counts.end(), 0);
        std::fill(ns.elementwise.begin(), ns.elementwise.end(), 0);
        ns.updates = 0;
        ns.queued.clear();
    }
    for (proj_state& ps : projs_) std::fill(ps.counts.begin(), ps.counts.end(), op_counts{});
}

void simulation::push_frames(std::string_view input_node, std::span<const float> frames) {
    const std::size_t i = net_.node_index(input_node);
    const node& nd = net_.nodes[i];
    if (!nd.frame_input())
        throw error(cat("push_frames: node '", nd.name, "' is a ", nd.kind(), " node, not an input node"));
    const std::size_t frame = nd.size * ctx_.streams;
    if (frames.size() % frame != 0)
        throw error(cat("push_frames: node '", nd.name, "': ", frames.size(), " values is not a whole number of frames of ",
                        ctx_.streams, " streams x ", nd.size, " = ", frame));
    for (std::size_t f = 0; f < frames.size(); f += frame)
        nodes_[i].queued.emplace_back(frames.begin() + static_cast<std::ptrdiff_t>(f),
                                      frames.begin() + static_cast<std::ptrdiff_t>(f + frame));
}

std::size_t simulation::queued_frames(std::string_view input_node) const {
    return nodes_[net_.node_index(input_node)].queued.size();
}

void simulation::end_clip(std::uint64_t frames) {
    if (frames == 0) throw error("end_clip: a clip needs at least one frame");
    if (step_ > frames + max_latency())
        throw error(cat("end_clip(", frames, "): ", step_, " steps were already taken, past that clip's end"));
    clip_frames_ = frames;
}

std::uint32_t simulation::max_latency() const noexcept {
    return latency_.empty() ? 0 : *std::max_element(latency_.begin(), latency_.end());
}

std::uint64_t simulation::steps_to_drain() const noexcept {
    if (clip_frames_ == UINT64_MAX) return 0;
    const std::uint64_t last = clip_frames_ + max_latency();
    return last > step_ ? last - step_ : 0;
}

bool simulation::active_at(std::size_t node, std::uint64_t step) const noexcept {
    const std::uint32_t L = latency_[node];
    return step >= L && step - L < clip_frames_;
}

bool simulation::was_active(std::size_t node) const noexcept { return step_ > 0 && active_at(node, step_ - 1); }

op_counts simulation::node_ops(std::size_t node, std::size_t stream) const {
    op_counts c = nodes_.at(node).pop->own_ops(stream);
    c.elementwise += nodes_[node].elementwise[stream];
    return c;
}

op_counts simulation::node_ops(std::size_t node) const {
    op_counts total;
    for (std::size_t s = 0; s < ctx_.streams; ++s) total += node_ops(node, s);
    return total;
}

std::span<const index_t> simulation::spikes(std::size_t node, std::size_t stream) const {
    const node_state& ns = nodes_.at(node);
    if (!ns.spiking) throw error(cat("node '", net_.nodes[node].name, "' is real-valued; it has no spikes"));
    if (step_ == 0) return {};
    const std::size_t slot = (step_ - 1) % ns.depth;
    return ns.spike_history[slot * ctx_.streams + stream];
}

std::span<const float> simulation::values(std::size_t node, std::size_t stream) const {
    const node_state& ns = nodes_.at(node);
    if (ns.spiking) throw error(cat("node '", net_.nodes[node].name, "' is spiking; it has no real values"));
    const std::size_t n = net_.nodes[node].size;
    const std::size_t slot = step_ == 0 ? 0 : (step_ - 1) % ns.depth;
    return {ns.value_history.data() + (slot * ctx_.streams + stream) * n, n};
}

std::uint64_t simulation::total_spikes(std::size_t node) const {
    const auto& c = nodes_.at(node).counts;
    return std::accumulate(c.begin(), c.end(), std::uint64_t{0});
}

op_counts simulation::ops(std::size_t projection) const {
    op_counts total;
    for (const op_counts& c : projs_.at(projection).counts) total += c;
    return total;
}

std::uint64_t simulation::run(std::uint64_t steps, const run_options& options) {
    if (options.rec) options.rec->begin(*this, steps);
    std::uint64_t k = 0;
    for (; k < steps; ++k) {
        if (options.should_stop && options.stop_every && k % options.stop_every == 0 && k > 0 && options.should_stop()) break;
        step_once();
        if (options.rec && ctx_.comm) {
            const auto t0 = std::chrono::steady_clock::now();
            options.rec->record_step(*this);
            phases_.io += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        } else if (options.rec) {
            options.rec->record_step(*this);
        }
        if (options.progress && options.progress_every && (k + 1) % options.progress_every == 0 && k + 1 < steps)
            options.progress(k + 1, steps);
    }
    if (!epoch_nodes_.empty() && step_ > exchanged_until_) exchange(epoch_nodes_, exchanged_until_, step_);
    exchanged_until_ = step_;
    if (options.progress) options.progress(k, steps);
    if (options.rec) options.rec->end(*this);
    return k;
}

// Step schedule (docs/semantics.md, "The step schedule"; docs/design.md §4). For step t, for each
// node in topological order of the zero-delay projections:
//   1. deliver: each incoming projection adds what its source emitted at step t - lag (the delay,
//      or the latency alignment; per tap for conv1d) (spikes:
//      the weight columns of the neurons that fired; real values: a dense product) into this
//      node's input buffers, and its ops are counted;
//   2. update: the node advances one step (LIF: charge, fire, reset), writing its spikes or values
//      into history slot t, from where outgoing projections read them (this step for zero delay,
//      step t + d for delay d: the history is the delay ring buffer);
//   3. count: per-neuron spike counts and neuron updates.
// Then the recorder reads the step. Work items are (stream, block of neurons); each writes only
// its own neurons, sums every neuron's input in the same order (projections in declaration order,
// spikes ascending), and spike lists are joined in block order, so results are bit-identical for
// any thread count.
void simulation::step_once() {
    for (std::size_t i : order_) step_node(i);
    ++step_;
    if (step_ - exchanged_until_ >= epoch_) {
        if (!epoch_nodes_.empty()) exchange(epoch_nodes_, exchanged_until_, step_);
        exchanged_until_ = step_;
    }
}

void simulation::step_node(std::size_t i) {
    node_state& ns = nodes_[i];
    const std::size_t n = net_.nodes[i].size;
    const std::size_t S = ctx_.streams;
    const std::size_t blocks = ns.blocks;
    const std::size_t slot = step_ % ns.depth;

    if (!active_at(i, step_)) {
        // Outside its clip window a node neither updates nor emits (zero padding for convolutions).
        if (ns.spiking)
            for (std::size_t s = 0; s < S; ++s) ns.spike_history[slot * S + s].clear();
        else
            std::fill_n(ns.value_history.data() + slot * S * n, S * n, 0.0f);
        return;
    }
    const std::uint64_t frame = step_ - latency_[i];

    if (net_.nodes[i].frame_input() && !ns.queued.empty()) {
        const std::vector<float>& f = ns.queued.front();
        for (std::size_t s = 0; s < S; ++s) std::copy_n(f.data() + s * n, n, ns.pop->input(0, s));
        ns.queued.pop_front();
    }

    const bool timed = ctx_.comm != nullptr;
    // Work item (group g, block blk): streams [s0, s1), targets [b, e). Delivery runs projection by
    // projection (declaration order) and, for a tiled projection, tile by tile of targets, each
    // tile for every stream of the group: an element's sum is still bias, then its taps and
    // spikes in order, whatever the tiles and groups.
    auto work = [&](std::size_t item) {
        const std::size_t g = item / blocks, blk = item % blocks;
        const std::size_t s0 = g * ns.group_size, s1 = std::min(S, s0 + ns.group_size);
        const std::size_t b = ns.own.begin + blk * ns.block_size, e = std::min(ns.own.end, b + ns.block_size);
        const int w0 = tbb::this_task_arena::current_thread_index();
        const std::size_t w = w0 >= 0 && static_cast<std::size_t>(w0) < scratch_.size() ? static_cast<std::size_t>(w0) : 0;
        float* scratch = scratch_[w].data();
        const auto t0 = timed ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
        for (std::size_t p : ns.incoming) {
            // Splittable nodes take input in their own index range; the others (memory, readout)
            // have input ports of another size and always run whole.
            const std::size_t rb = ns.pop->splittable() ? b : 0;
            const std::size_t re = ns.pop->splittable() ? e : ns.pop->port_size(net_.projections[p].port);
            const std::size_t tile = projs_[p].tile && s1 - s0 > 1 ? projs_[p].tile : re - rb;
            for (std::size_t tb = rb; tb < re; tb += tile)
                for (std::size_t s = s0; s < s1; ++s) deliver(p, s, tb, std::min(re, tb + tile), scratch);
            if (blk == 0)
                for (std::size_t s = s0; s < s1; ++s) count_ops(p, s);
        }
        const auto t1 = timed ? std::chrono::steady_clock::now() : t0;
        for (std::size_t s = s0; s < s1; ++s) {
            std::vector<index_t>& out = ns.block_spikes[s * blocks + blk];
            out.clear();
            float* values = ns.spiking ? nullptr : ns.value_history.data() + (slot * S + s) * n;
            ns.pop->update_range(s, b, e, frame, out, values);
            if (!ns.partitioned) {  // a partitioned node's spikes are counted when every rank has them
                std::uint64_t* counts = ns.counts.data() + s * n;
                for (index_t k : out) ++counts[k];
            }
        }
        if (timed) {
            const auto t2 = std::chrono::steady_clock::now();
            deliver_s_[w] += std::chrono::duration<double>(t1 - t0).count();
            update_s_[w] += std::chrono::duration<double>(t2 - t1).count();
        }
    };
    const std::size_t items = ns.groups * blocks;
    if (items == 1 || threads_ == 1) {
        for (std::size_t item = 0; item < items; ++item) work(item);
    } else {
        arena_->arena.execute([&] {
            tbb::parallel_for(tbb::blocked_range<std::size_t>(0, items, 1), [&](const tbb::blocked_range<std::size_t>& r) {
                for (std::size_t item = r.begin(); item != r.end(); ++item) work(item);
            });
        });
    }
    if (blocks == 0)  // this rank owns none of the node's neurons: the counts still need the step
        for (std::size_t s = 0; s < S; ++s)
            for (std::size_t p : ns.incoming) count_ops(p, s);
    ns.updates += static_cast<std::uint64_t>(n) * S;
    for (std::size_t s = 0; s < S; ++s) ns.elementwise[s] += ns.elementwise_per_step;
    if (ns.spiking) {
        for (std::size_t s = 0; s < S; ++s) {
            std::vector<index_t>& h = ns.spike_history[slot * S + s];
            if (blocks == 1) {
                h.swap(ns.block_spikes[s]);
            } else {
                h.clear();
                for (std::size_t blk = 0; blk < blocks; ++blk) {
                    const auto& part = ns.block_spikes[s * blocks + blk];
                    h.insert(h.end(), part.begin(), part.end());
                }
            }
        }
        if (ns.immediate) exchange(std::span<const std::size_t>(&i, 1), step_, step_ + 1);
    }
}

// Adds projection p's input for the target range [b, e) of stream s into the target's port, via
// `scratch` when a post-affine must see the projection's output alone.
void simulation::deliver(std::size_t p, std::size_t s, std::size_t b, std::size_t e, float* scratch) {
    const projection& pr = net_.projections[p];
    float* in = nodes_[projs_[p].target].pop->input(pr.port, s);
    if (pr.post_affine.empty() && !pr.sum_separately) {
        if (!pr.bias.empty())
            for (std::size_t t = b; t < e; ++t) in[t] += pr.bias[t];
        add_projection(p, s, b, e, in);
        return;
    }
    float* out = scratch - b;  // out[t] for t in [b, e)
    if (pr.sum_separately) {  // (sum of this projection's terms) + bias, as PyTorch's linear()
        std::fill(out + b, out + e, 0.0f);
        add_projection(p, s, b, e, out);
        if (!pr.bias.empty())
            for (std::size_t t = b; t < e; ++t) out[t] += pr.bias[t];
    } else {
        if (pr.bias.empty())
            std::fill(out + b, out + e, 0.0f);
        else
            std::copy(pr.bias.begin() + static_cast<std::ptrdiff_t>(b), pr.bias.begin() + static_cast<std::ptrdiff_t>(e), out + b);
        add_projection(p, s, b, e, out);
    }
    apply_affine(pr.post_affine, out, b, e);
    for (std::size_t t = b; t < e; ++t) in[t] += out[t];
}

void simulation::add_projection(std::size_t p, std::size_t s, std::size_t b, std::size_t e, float* in) {
    const proj_state& ps = projs_[p];
    const projection& pr = ps.local ? *ps.local : net_.projections[p];
    const node_state& src = nodes_[ps.source];
    const std::size_t S = ctx_.streams;
    for (std::uint32_t k = 0; k < ps.taps; ++k) {
        const std::uint64_t lag = ps.lag + (ps.taps - 1 - k);
        if (step_ < lag) continue;  // before the source started
        const std::size_t slot = (step_ - lag) % src.depth;
        if (src.spiking)
            ps.kind->deliver_spikes(pr, ps.wt, k, src.spike_history[slot * S + s], ps.n_source, b, e, ps.n_target, in);
        else
            ps.kind->deliver_values(pr, ps.wt, k, src.value_history.data() + (slot * S + s) * ps.n_source, ps.n_source, b, e,
                                    ps.n_target, in);
    }
}

void simulation::count_ops(std::size_t p, std::size_t s) {
    const projection& pr = net_.projections[p];
    proj_state& ps = projs_[p];
    const node_state& src = nodes_[ps.source];
    const std::size_t nt = ps.n_target, ns = ps.n_source;
    op_counts& c = ps.counts[s];
    // Per frame of the (active) target: its bias and post-affine.
    c.elementwise += (pr.bias.empty() ? 0 : nt) + pr.post_affine.ops(nt);
    for (std::uint32_t k = 0; k < ps.taps; ++k) {
        const std::uint64_t lag = ps.lag + (ps.taps - 1 - k);
        if (step_ < lag || !active_at(ps.source, step_ - lag)) continue;  // taps outside the clip do nothing
        // The same layer in a dense (ANN) network: every weight of this tap, spikes or not.
        c.dense += ps.kind->dense(pr, ns, nt);
        const std::uint32_t* nz = ps.nz.data() + std::size_t{k} * ns;
        const std::size_t slot = (step_ - lag) % src.depth;
        if (src.spiking) {
            const std::vector<index_t>& spk = src.spike_history[slot * ctx_.streams + s];
            c.events += spk.size();
            c.sops += ps.kind->sops(pr, spk, ns, nt);
            if (ps.any_nz)
                for (index_t j : spk) c.effective_acs += nz[j];
        } else if (ps.any_nz) {
            // NeuroBench: a step's input of only 0, 1 and -1 is binary (accumulates), else multiplies.
            const float* x = src.value_history.data() + (slot * ctx_.streams + s) * ns;
            std::uint64_t effective = 0;
            bool binary = true;
            for (std::size_t j = 0; j < ns; ++j) {
                if (x[j] == 0.0f) continue;
                effective += nz[j];
                binary = binary && (x[j] == 1.0f || x[j] == -1.0f);
            }
            (binary ? c.effective_acs : c.effective_macs) += effective;
        }
        if (!src.spiking) c.macs += ps.kind->macs(pr, ns, nt);
    }
}

}  // namespace lmusim
