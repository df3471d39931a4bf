#pragma once
// The population interface: what every node kind's implementation provides to the simulation.
// Kinds live in neurons/include/lmusim/neurons/kinds/ (neurons/kind.hpp says what a kind is).
//
// State is structure-of-arrays, neurons x streams: stream s of a size-n population occupies
// [s*n, (s+1)*n) of every state array, so independent streams (clips) run side by side.
#include <algorithm>
#include <cstddef>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "lmusim/core/affine.hpp"
#include "lmusim/core/op_counts.hpp"
#include "lmusim/core/state.hpp"
#include "lmusim/core/types.hpp"

namespace lmusim {

class population {
public:
    // One input port of `size` values per stream for each entry of port_sizes.
    population(std::size_t size, std::size_t streams, std::vector<std::size_t> port_sizes);
    virtual ~population() = default;
    population(const population&) = delete;
    population& operator=(const population&) = delete;

    std::size_t size() const noexcept { return size_; }
    std::size_t streams() const noexcept { return streams_; }
    std::size_t ports() const noexcept { return port_sizes_.size(); }
    std::size_t port_size(std::size_t port) const noexcept { return port_sizes_[port]; }
    virtual bool spiking() const noexcept = 0;
    // Whether update_range may be called on parts of the population (false: whole streams only).
    virtual bool splittable() const noexcept { return true; }

    // The input buffer of one port and stream (port_size(port) floats). The simulation adds
    // delivered weights into it; update_range() consumes and clears it.
    float* input(std::size_t port, std::size_t stream) noexcept {
        return port_base_[port] + stream * port_sizes_[port];
    }

    // Work a node does itself (not through projections), per stream since reset: the LMU
    // memory's and the readout's products (sops = accumulates triggered by events, macs, dense).
    // Includes the membrane updates counted by add_membrane_updates().
    op_counts own_ops(std::size_t stream) const noexcept {
        op_counts c = own_[stream];
        c.membrane = membrane_[stream].load(std::memory_order_relaxed);
        return c;
    }

    // Network-parallel runs: membrane updates that other ranks made on their share of this
    // population (sim/simulation.cpp, exchange), so that every rank holds the total.
    void merge_membrane_updates(std::size_t stream, std::uint64_t n) noexcept { add_membrane_updates(stream, n); }

    // Back to the initial state (and clears the input buffers).
    virtual void reset() = 0;

    // Run-time state for checkpoints (docs/checkpoint.md). save_state() adds this population's
    // state to `out` under keys beginning with `prefix` (e.g. "nodes/x1/"); load_state() reads it
    // back and throws state_error if an array is missing, mis-shaped or out of range. The base
    // class handles the input buffers of unbound ports and own_ops(); a kind with state of its own
    // overrides both and calls the base. Scratch buffers are not state.
    virtual void save_state(state_store& out, const std::string& prefix) const;
    virtual void load_state(const state_store& in, const std::string& prefix);

    // Advance neurons [begin, end) of one stream by one step; `frame` counts the steps this node
    // has been active in the current clip (0 first). Spiking populations append the
    // indices of the neurons that fired, ascending, to `spikes`; real-valued ones write their
    // output for [begin, end) into `values` (the stream's row of size()).
    // Touches only state in [begin, end) of that stream, so disjoint ranges may run in parallel.
    virtual void update_range(std::size_t stream, std::size_t begin, std::size_t end, std::uint64_t frame,
                              std::vector<index_t>& spikes, float* values) = 0;

protected:
    void clear_inputs();
    // Makes input port `port` write straight into the population's own [stream][value] state
    // array (e.g. a synaptic current that input adds to), instead of a separate buffer.
    void bind_port(std::size_t port, float* base) noexcept {
        port_base_[port] = base;
        bound_[port] = 1;
    }
    void clear_own_ops();
    // NeuroBench's membrane updates: a kind with a membrane calls this once per update_range with
    // the neurons of [begin, end) whose membrane changed (all of them on a clip's first frame).
    // Safe from parallel ranges of one stream (a relaxed atomic add; the total is exact).
    void add_membrane_updates(std::size_t stream, std::uint64_t n) noexcept {
        membrane_[stream].fetch_add(n, std::memory_order_relaxed);
    }
    std::vector<op_counts> own_;  // per stream

private:
    std::size_t size_, streams_;
    std::vector<std::size_t> port_sizes_;
    std::vector<float> input_;      // [port][stream][value]
    std::vector<float*> port_base_;  // per port: into input_, or a bound state array
    std::vector<std::uint8_t> bound_;  // per port: 1 if bound to a state array (saved by the owner)
    std::unique_ptr<std::atomic<std::uint64_t>[]> membrane_;  // per stream
};

// Appends b + k for every k < n with fired[k] != 0 to `spikes` (ascending), skipping eight
// silent neurons at a time.
inline void collect_spikes(const std::uint8_t* fired, std::size_t n, std::size_t b, std::vector<index_t>& spikes) {
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        std::uint64_t word;
        std::memcpy(&word, fired + i, 8);
        if (word == 0) continue;
        for (std::size_t k = i; k < i + 8; ++k)
            if (fired[k]) spikes.push_back(static_cast<index_t>(b + k));
    }
    for (; i < n; ++i)
        if (fired[i]) spikes.push_back(static_cast<index_t>(b + i));
}

// How many of flags[0, n) are set. Kernels write 0/1 flags (e.g. "the membrane moved") and count
// them here, so that the kernel's own loop stays free of reductions and vectorises.
inline std::uint64_t count_set(const std::uint8_t* __restrict flags, std::size_t n) noexcept {
    std::uint32_t total = 0;
    for (std::size_t i = 0; i < n; ++i) total += flags[i];
    return total;
}

// Runs a step kernel over [begin, end) in chunks whose fired/moved flags stay in L1:
// kernel(first, n, fired, moved) updates neurons [first, first + n) and writes their flags; the
// moved flags are counted and the fired ones appended to `spikes` (ascending). Returns the count.
template <class Kernel>
std::uint64_t update_in_chunks(std::size_t begin, std::size_t end, std::vector<index_t>& spikes, Kernel&& kernel) {
    constexpr std::size_t chunk = 512;
    alignas(64) std::uint8_t fired[chunk];
    alignas(64) std::uint8_t moved[chunk];
    std::uint64_t changed = 0;
    for (std::size_t b = begin; b < end; b += chunk) {
        const std::size_t n = std::min(chunk, end - b);
        kernel(b, n, fired, moved);
        changed += count_set(moved, n);
        collect_spikes(fired, n, b, spikes);
    }
    return changed;
}

}  // namespace lmusim
