// simulation: network-parallel runs (docs/distributed.md): the spike exchange between ranks and
// the gathering of a partitioned population's state for checkpoints.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <numeric>

#include "lmusim/core/error.hpp"
#include "lmusim/core/strings.hpp"
#include "lmusim/sim/simulation.hpp"

namespace lmusim {

void byte_reader::take(void* out, std::size_t n) {
    if (n > b_.size() - pos_) throw internal_error(cat("message of ", b_.size(), " bytes read past its end"));
    if (n) std::memcpy(out, b_.data() + pos_, n);
    pos_ += n;
}

phase_times simulation::phases() const noexcept {
    phase_times p = phases_;
    const double T = static_cast<double>(std::max<std::size_t>(threads_, 1));
    p.update = std::accumulate(update_s_.begin(), update_s_.end(), 0.0) / T;
    p.deliver = std::accumulate(deliver_s_.begin(), deliver_s_.end(), 0.0) / T;
    return p;
}

// Message of one rank: per node (in the order given), per step, per stream: the spike count and
// the spikes (ascending, this rank's neurons only); then per node and stream the membrane updates
// made since the last exchange. Every rank rebuilds each list by joining the ranks' parts in rank
// order: owned ranges are contiguous and in rank order, so the result is ascending, exactly the
// list one process would have made. A dry run replays its own part for the other ranks, each
// shifted onto that rank's neurons.
void simulation::exchange(std::span<const std::size_t> nodes, std::uint64_t from, std::uint64_t to) {
    const auto t0 = std::chrono::steady_clock::now();
    const std::size_t S = ctx_.streams;
    communicator& comm = *ctx_.comm;
    byte_writer w;
    for (std::size_t i : nodes) {
        const node_state& ns = nodes_[i];
        for (std::uint64_t t = from; t < to; ++t)
            for (std::size_t s = 0; s < S; ++s) {
                const std::vector<index_t>& h = ns.spike_history[(t % ns.depth) * S + s];
                w.put<std::uint32_t>(static_cast<std::uint32_t>(h.size()));
                const auto* p = reinterpret_cast<const std::byte*>(h.data());
                w.bytes().insert(w.bytes().end(), p, p + h.size() * sizeof(index_t));
            }
        for (std::size_t s = 0; s < S; ++s) w.put<std::uint64_t>(ns.pop->own_ops(s).membrane - ns.membrane_shared[s]);
    }
    std::vector<std::size_t> sizes;
    const std::vector<std::byte> all = comm.allgatherv(w.bytes(), sizes);
    const int R = comm.size();
    if (sizes.size() != static_cast<std::size_t>(R))
        throw internal_error(cat("exchange: ", sizes.size(), " contributions from ", R, " ranks"));
    phases_.bytes_sent += w.bytes().size();
    phases_.bytes_received += all.size();
    ++phases_.exchanges;

    std::vector<byte_reader> readers;
    std::size_t offset = 0;
    for (std::size_t sz : sizes) {
        readers.emplace_back(std::span<const std::byte>(all).subspan(offset, sz));
        offset += sz;
    }
    const bool dry = comm.dry_run();
    const int me = comm.rank();
    std::vector<index_t> part;
    for (std::size_t i : nodes) {
        node_state& ns = nodes_[i];
        const std::size_t n = net_.nodes[i].size;
        for (std::uint64_t t = from; t < to; ++t)
            for (std::size_t s = 0; s < S; ++s) {
                std::vector<index_t>& h = ns.spike_history[(t % ns.depth) * S + s];
                h.clear();
                for (int r = 0; r < R; ++r) {
                    byte_reader& rd = readers[static_cast<std::size_t>(r)];
                    const auto k = rd.get<std::uint32_t>();
                    part.resize(k);
                    rd.get_array(part.data(), k);
                    if (dry && r != me) {  // replay: this rank's spikes moved onto rank r's neurons
                        const owned_range there = owned_by(n, r, R);
                        for (index_t id : part) {
                            const std::size_t moved = id - ns.own.begin + there.begin;
                            if (moved < there.end) h.push_back(static_cast<index_t>(moved));
                        }
                    } else {
                        h.insert(h.end(), part.begin(), part.end());
                    }
                }
                std::uint64_t* counts = ns.counts.data() + s * n;
                for (index_t id : h) ++counts[id];
            }
        for (std::size_t s = 0; s < S; ++s) {
            std::uint64_t others = 0;
            for (int r = 0; r < R; ++r) {
                const auto d = readers[static_cast<std::size_t>(r)].get<std::uint64_t>();
                if (r != me) others += d;
            }
            ns.pop->merge_membrane_updates(s, others);
            ns.membrane_shared[s] = ns.pop->own_ops(s).membrane;
        }
    }
    phases_.exchange += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// A partitioned population's state arrays of shape [streams, size] hold this rank's neurons only:
// every rank contributes its columns and all receive the whole arrays, as one process has them.
void simulation::gather_state(state_store& out, std::size_t i, const std::string& prefix) const {
    const node_state& ns = nodes_[i];
    const std::size_t n = net_.nodes[i].size, S = ctx_.streams;
    const int R = ctx_.comm->size();
    std::vector<std::string> keys;
    for (const auto& [key, e] : out.entries())
        if (key.compare(0, prefix.size(), prefix) == 0 && e.shape == state_store::shape_t{S, n}) keys.push_back(key);
    for (const std::string& key : keys) {
        const state_store::entry& e = out.entries().at(key);
        std::visit(
            [&](const auto& v) {
                using T = typename std::decay_t<decltype(v)>::value_type;
                byte_writer w;
                for (std::size_t s = 0; s < S; ++s) {
                    const auto* p = reinterpret_cast<const std::byte*>(v.data() + s * n + ns.own.begin);
                    w.bytes().insert(w.bytes().end(), p, p + (ns.own.end - ns.own.begin) * sizeof(T));
                }
                std::vector<std::size_t> sizes;
                const std::vector<std::byte> all = ctx_.comm->allgatherv(w.bytes(), sizes);
                std::vector<T> merged(S * n);
                std::size_t off = 0;
                for (int r = 0; r < R; ++r) {
                    const owned_range o = owned_by(n, r, R);
                    const std::size_t m = o.end - o.begin;
                    if (sizes[static_cast<std::size_t>(r)] != S * m * sizeof(T))
                        throw internal_error(cat("state of '", key, "': rank ", r, " sent ", sizes[static_cast<std::size_t>(r)], " bytes"));
                    for (std::size_t s = 0; s < S; ++s, off += m * sizeof(T))
                        std::memcpy(merged.data() + s * n + o.begin, all.data() + off, m * sizeof(T));
                }
                out.put<T>(key, std::move(merged), {S, n});
            },
            e.data);
    }
}

}  // namespace lmusim

namespace lmusim {

void dry_run_communicator::send(int, std::span<const std::byte>) {
    throw error("a dry run has no other ranks to send to (it is for network-parallel simulations)");
}
void dry_run_communicator::abort(int code) noexcept { std::_Exit(code); }
std::vector<std::byte> dry_run_communicator::recv(int) {
    throw error("a dry run has no other ranks to receive from (it is for network-parallel simulations)");
}

}  // namespace lmusim
