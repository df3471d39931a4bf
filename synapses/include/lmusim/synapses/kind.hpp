#pragma once
// What a projection (connectivity) kind is. A kind lives in one file, synapses/src/kinds/<kind>.cpp,
// which defines its `projection_kind` entry: validation, sizes, the file layout of its weights,
// lowering, delivery of spikes and of real values, and what it counts, side by side. The kind is
// registered in synapses/src/kinds.cpp (a declaration and a list entry) and by its enum value in
// projection.hpp;
// docs/architecture.md, "Adding a kind".
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "lmusim/core/fields.hpp"
#include "lmusim/core/weight_format.hpp"
#include "lmusim/synapses/projection.hpp"

namespace lmusim {

// What validation and lowering know about a projection's ends.
struct projection_context {
    std::string label;        // "projection '<name>'", for messages
    std::size_t n_source;     // source neurons
    std::size_t n_target;     // values in the target's input port
    bool spiking_source;      // the source emits spikes (else real values)
};

// One stored array of a kind (io/ reads and writes them; shape entries may be any_extent).
struct projection_array {
    const char* name;
    std::variant<std::vector<float>*, std::vector<std::uint64_t>*, std::vector<index_t>*> data;
    std::vector<std::size_t> shape;
};

// Defaults for what most kinds do not need (used by projection_kind's member initialisers).
namespace projection_defaults {
inline std::uint32_t one_tap(const projection&) { return 1; }
inline std::uint32_t no_latency(const projection&) { return 0; }
inline void nothing_to_derive(projection&, std::size_t, std::size_t) {}
inline void nothing_to_prepare(const projection&, const projection_context&, std::vector<float>&) {}
inline bool keep_all_targets(projection&, std::size_t, std::size_t, std::size_t, std::size_t) { return false; }
inline weight_channels no_weights(projection&, std::size_t, std::size_t) { return {}; }
inline std::size_t not_tiled(const projection&, std::size_t, std::size_t) { return 0; }
}  // namespace projection_defaults

// Cache tiles of spike delivery are whole multiples of this many targets (the block of the
// lowered column layout, synapses/src/kinds_common.hpp).
inline constexpr std::size_t tile_granularity = 128;

// A kind's entry. Members without a default must be given (a kind that leaves one out is caught
// by projection_kinds(), which checks every entry when the registry is first used).
struct projection_kind {
    connectivity id;
    const char* name;
    // Throws network_error naming the projection and the bad value.
    void (*validate)(const projection&, const projection_context&);
    // Synapses stored (the trainable weights, for `lmusim info` and parameter counts).
    std::size_t (*synapses)(const projection&, std::size_t n_source, std::size_t n_target);
    // Trainable parameters of the weights, as PyTorch counts them (routing has none).
    std::size_t (*parameters)(const projection&, std::size_t n_source, std::size_t n_target);
    std::uint32_t (*taps)(const projection&) = projection_defaults::one_tap;         // 1, or the conv1d kernel
    std::uint32_t (*latency)(const projection&) = projection_defaults::no_latency;  // frames of look-ahead
    // The arrays a network file stores for this kind, pointing into `p`.
    std::vector<projection_array> (*arrays)(projection& p, std::size_t n_source, std::size_t n_target);
    // After reading the arrays: derive what the file does not store (e.g. the kernel from the shape).
    void (*after_read)(projection& p, std::size_t n_source, std::size_t n_target) = projection_defaults::nothing_to_derive;
    // Lowered weights for delivery (e.g. transposed columns for spikes); may stay empty.
    void (*prepare)(const projection&, const projection_context&, std::vector<float>& lowered) =
        projection_defaults::nothing_to_prepare;
    // Network-parallel runs (docs/distributed.md): drop the synapses onto targets outside [b, e)
    // from this rank's copy `p` (delivery then only sees the rank's own synapses; counts still come
    // from the whole projection). Returns false when the kind keeps everything.
    bool (*restrict_targets)(projection& p, std::size_t n_source, std::size_t n_target, std::size_t b, std::size_t e) =
        projection_defaults::keep_all_targets;
    // Adds tap `tap`'s contribution of the spikes (ascending source indices) to in[b, e).
    void (*deliver_spikes)(const projection&, const std::vector<float>& lowered, std::uint32_t tap,
                           std::span<const index_t> spikes, std::size_t n_source, std::size_t b, std::size_t e,
                           std::size_t n_target, float* in);
    // Cache tiling of batched spike delivery (docs/design.md, "Tiled delivery"): the bytes of
    // lowered weights that spikes of every source would read per target neuron, over all taps,
    // for kinds whose delivery into a target range [b, e) costs in proportion to e - b (dense and
    // conv1d columns). 0 (the default): delivered whole (sparse rows would binary-search every
    // tile; conv2d's shared kernels and block_diagonal's one block stay in cache anyway).
    std::size_t (*tile_bytes)(const projection&, std::size_t n_source, std::size_t n_target) = projection_defaults::not_tiled;
    // Adds tap `tap`'s contribution of the real values x[0, n_source) to in[b, e).
    void (*deliver_values)(const projection&, const std::vector<float>& lowered, std::uint32_t tap, const float* x,
                           std::size_t n_source, std::size_t b, std::size_t e, std::size_t n_target, float* in);
    // Counts of one active tap: accumulates triggered by these spikes (SOPs), MACs on real input,
    // and what a dense (ANN) layer of the same shape would do (MACs).
    std::uint64_t (*sops)(const projection&, std::span<const index_t> spikes, std::size_t n_source, std::size_t n_target);
    std::uint64_t (*macs)(const projection&, std::size_t n_source, std::size_t n_target);
    std::uint64_t (*dense)(const projection&, std::size_t n_source, std::size_t n_target);
    // Per tap and source neuron, [taps][n_source]: how many of its weights are not zero (the
    // effective synaptic operations one nonzero input of that neuron costs, as NeuroBench counts).
    void (*nonzero_fanout)(const projection&, std::size_t n_source, std::size_t n_target, std::vector<std::uint32_t>& out);
    // The stored synaptic weights and their output channels (what --weights bf16|int8 rounds);
    // routing kinds (identity, sum_pool2d) have none.
    weight_channels (*synaptic_weights)(projection& p, std::size_t n_source, std::size_t n_target) =
        projection_defaults::no_weights;
};

// The registered kind of a connectivity value (synapses/src/kinds.cpp).
const projection_kind& kind_of(connectivity c);
// Every registered kind, in enum order.
std::span<const projection_kind* const> projection_kinds();

}  // namespace lmusim
