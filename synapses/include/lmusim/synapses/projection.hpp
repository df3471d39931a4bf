#pragma once
// A projection: the edge from a source node to a target node's input port, with its weights. The
// description is plain data (this header); what each connectivity kind does with it, from
// validation to delivery and counting, lives in the kind's own file (synapses/kind.hpp).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lmusim/core/affine.hpp"
#include "lmusim/core/types.hpp"

namespace lmusim {

// Connectivity kinds (GeNN synapseMatrixType style: when to use each).
enum class connectivity : std::uint8_t {
    dense,       // weights[target * n_source + source]: every pair connected. Use when most pairs
                 // carry a weight (the LMUFormer's linear layers).
    sparse,      // CSR by source row (indptr, indices = targets, weights). Use for random or
                 // structured sparse networks (CUBA); a spike costs its row length.
    one_to_one,  // weights[i]: source i -> target i (sizes must match).
    conv1d,      // weights[target][source][k]: cross-correlation along time (frames), zero padding
                 // (k-1)/2, k odd; adds (k-1)/2 frames of latency. The LMUFormer's convolutions.
    identity,    // source i -> target i with weight 1: routing of real values or spikes.
    block_diagonal,  // one block [bt x bs] repeated along the diagonal (the L2MU's memory A and B).
    conv2d,      // a 2-D convolution over channels-first images (PyTorch Conv2d semantics: stride, zero
                 // padding, dilation, groups); layout in `geometry`, weights [out_c, in_c/groups, kh, kw].
                 // NIR's Conv2d (and Conv1d as height 1).
    sum_pool2d,  // scale x the sum over each 2-D window (NIR's SumPool2d, AvgPool2d); layout in
                 // `geometry`, weights = [scale]. Routing: no trained parameters.
};

std::string_view to_string(connectivity) noexcept;
connectivity connectivity_from_string(std::string_view);  // throws lmusim::error

// Compressed sparse rows, one row per source neuron.
struct csr {
    std::vector<std::uint64_t> indptr;  // n_source + 1 offsets, indptr[0] = 0
    std::vector<index_t> indices;       // target neuron of each synapse, ascending within a row
    std::vector<float> weights;         // one per synapse

    std::size_t rows() const noexcept { return indptr.empty() ? 0 : indptr.size() - 1; }
    std::size_t nnz() const noexcept { return indices.size(); }
};

struct projection {
    std::string name;
    std::string source;  // node name
    std::string target;  // node name
    connectivity kind = connectivity::dense;
    std::uint32_t delay = 0;  // [steps]; 0 = same step (source updated first); cycles need >= 1
    std::uint32_t port = 0;   // the target's input port
    std::vector<float> weights;  // dense: [n_target x n_source] row-major; one_to_one: [n];
                                 // conv1d: [n_target x n_source x kernel] row-major
    csr sparse;                  // sparse only
    std::uint32_t kernel = 0;    // conv1d only: taps (odd)
    // conv2d and sum_pool2d only: the image layout, stored in network files as the uint64 array
    // `geometry` (synapses/src/kinds/conv2d.cpp and sum_pool2d.cpp list the values):
    //   conv2d     [in_c, in_h, in_w, out_c, kh, kw, stride_h, stride_w, pad_top, pad_bottom,
    //               pad_left, pad_right, dil_h, dil_w, groups]
    //   sum_pool2d [channels, in_h, in_w, kh, kw, stride_h, stride_w, pad_top, pad_bottom,
    //               pad_left, pad_right]
    // Empty for every other kind.
    std::vector<std::uint64_t> geometry;
    std::vector<float> bias;     // optional [target port size], added once per active frame
    input_affine post_affine;    // optional, applied to (W x + bias) before it reaches the target
    // How the projection's terms meet the target's other inputs: false (default) adds them straight
    // into the target's running sum; true sums this projection alone from 0, adds its bias, then
    // adds the result (PyTorch's `linear(x) + linear(y)`: the L2MU's converter sets it).
    bool sum_separately = false;

    std::uint32_t latency() const noexcept;  // frames of look-ahead (conv1d: (kernel - 1) / 2)
    std::size_t synapse_count(std::size_t n_source, std::size_t n_target) const noexcept;
};

}  // namespace lmusim
