// simulation: saving and restoring the complete run-time state (checkpoints, docs/checkpoint.md).
#include "lmusim/core/error.hpp"
#include "lmusim/core/strings.hpp"
#include "lmusim/sim/simulation.hpp"

namespace lmusim {

// Checkpoint layout (docs/checkpoint.md): "sim/step", "sim/clip_frames", "sim/streams"; per node
// "nodes/<name>/" + the population's own keys, the history ring ("history_offsets" +
// "history_spikes" as CSR over [slot][stream] for spiking nodes, "history_values"
// [slot][stream][neuron] otherwise), "spike_counts", "neuron_updates", "elementwise" and, for
// input nodes, "queued" [frames][stream][value]; per projection "projections/<name>/ops".
// Network-parallel runs: save_state is collective (every rank calls it) and returns on every rank
// the state one process would have, so a checkpoint resumes with any rank count.
void simulation::save_state(state_store& out) const {
    const std::size_t S = ctx_.streams;
    out.put_u64("sim/step", step_);
    out.put_u64("sim/clip_frames", clip_frames_);
    out.put_u64("sim/streams", S);
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
        const node& nd = net_.nodes[i];
        const node_state& ns = nodes_[i];
        const std::string prefix = "nodes/" + nd.name + "/";
        ns.pop->save_state(out, prefix);
        if (ns.partitioned && !ctx_.comm->dry_run()) gather_state(out, i, prefix);
        if (ns.spiking) {
            std::vector<std::uint64_t> offsets{0};
            std::vector<index_t> spikes;
            for (const auto& h : ns.spike_history) {
                spikes.insert(spikes.end(), h.begin(), h.end());
                offsets.push_back(spikes.size());
            }
            const std::size_t total = spikes.size();
            out.put<std::uint64_t>(prefix + "history_offsets", std::move(offsets), {ns.depth * S + 1});
            out.put<index_t>(prefix + "history_spikes", std::move(spikes), {total});
        } else {
            out.put<float>(prefix + "history_values", std::span<const float>(ns.value_history), {ns.depth, S, nd.size});
        }
        out.put<std::uint64_t>(prefix + "spike_counts", std::span<const std::uint64_t>(ns.counts), {S, nd.size});
        out.put_u64(prefix + "neuron_updates", ns.updates);
        out.put<std::uint64_t>(prefix + "elementwise", std::span<const std::uint64_t>(ns.elementwise), {S});
        if (nd.frame_input()) {
            std::vector<float> queued;
            for (const auto& f : ns.queued) queued.insert(queued.end(), f.begin(), f.end());
            out.put<float>(prefix + "queued", std::move(queued), {ns.queued.size(), S, nd.size});
        }
    }
    for (std::size_t p = 0; p < projs_.size(); ++p) out.put_ops("projections/" + net_.projections[p].name + "/ops", projs_[p].counts);
}

void simulation::restore_state(const state_store& in) {
    const std::size_t S = ctx_.streams;
    reset();
    try {
        const std::uint64_t streams = in.get_u64("sim/streams");
        if (streams != S)
            throw state_error(cat("dataset 'sim/streams': the checkpoint holds ", streams, " stream(s), this simulation runs ", S));
        const std::uint64_t clip_frames = in.get_u64("sim/clip_frames");
        if (clip_frames == 0) throw state_error("dataset 'sim/clip_frames' = 0, expected at least 1");
        step_ = in.get_u64("sim/step");
        clip_frames_ = clip_frames;
        for (std::size_t i = 0; i < nodes_.size(); ++i) {
            const node& nd = net_.nodes[i];
            node_state& ns = nodes_[i];
            const std::string prefix = "nodes/" + nd.name + "/";
            ns.pop->load_state(in, prefix);
            if (ns.spiking) {
                const auto& offsets = in.get<std::uint64_t>(prefix + "history_offsets", {ns.depth * S + 1});
                const auto& spikes = in.get<index_t>(prefix + "history_spikes", {offsets.back()});
                if (offsets[0] != 0) throw state_error(cat("dataset '", prefix, "history_offsets'[0] = ", offsets[0], ", expected 0"));
                for (std::size_t k = 0; k < ns.spike_history.size(); ++k) {
                    if (offsets[k + 1] < offsets[k])
                        throw state_error(cat("dataset '", prefix, "history_offsets' decreases at ", k + 1));
                    for (std::uint64_t q = offsets[k]; q < offsets[k + 1]; ++q)
                        if (spikes[q] >= nd.size || (q > offsets[k] && spikes[q] <= spikes[q - 1]))
                            throw state_error(cat("dataset '", prefix, "history_spikes'[", q, "] = ", spikes[q],
                                                  ", expected ascending neuron indices below ", nd.size));
                    ns.spike_history[k].assign(spikes.begin() + static_cast<std::ptrdiff_t>(offsets[k]),
                                               spikes.begin() + static_cast<std::ptrdiff_t>(offsets[k + 1]));
                }
            } else {
                ns.value_history = in.get<float>(prefix + "history_values", {ns.depth, S, nd.size});
            }
            ns.counts = in.get<std::uint64_t>(prefix + "spike_counts", {S, nd.size});
            ns.updates = in.get_u64(prefix + "neuron_updates");
            ns.elementwise = in.get<std::uint64_t>(prefix + "elementwise", {S});
            if (nd.frame_input()) {
                std::size_t frames = 0;
                const auto& queued = in.get_rows<float>(prefix + "queued", {S, nd.size}, frames);
                const std::size_t frame = S * nd.size;
                for (std::size_t f = 0; f < frames; ++f)
                    ns.queued.emplace_back(queued.begin() + static_cast<std::ptrdiff_t>(f * frame),
                                           queued.begin() + static_cast<std::ptrdiff_t>((f + 1) * frame));
            }
        }
        for (std::size_t p = 0; p < projs_.size(); ++p)
            projs_[p].counts = in.get_ops("projections/" + net_.projections[p].name + "/ops", S);
        // Every rank now holds the whole state (a checkpoint is the same for any rank count).
        exchanged_until_ = step_;
        for (node_state& ns : nodes_)
            for (std::size_t s = 0; s < ns.membrane_shared.size(); ++s) ns.membrane_shared[s] = ns.pop->own_ops(s).membrane;
    } catch (...) {
        reset();
        throw;
    }
}

}  // namespace lmusim
