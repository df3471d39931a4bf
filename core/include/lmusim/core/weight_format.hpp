#pragma once
// Compressed weights (docs/weights.md): the numbers a chip can hold for a synaptic weight. The
// stored weights are rounded to the values the format represents and kept as floats
// (dequantised), so delivery and counting stay exactly as they are; fp32 changes nothing.
//   bf16  round to nearest, ties to even, of the float's upper 16 bits;
//   int8  symmetric, one scale per output channel: s = max|w| / 127 over the channel,
//         w -> q s with q = round-half-even(w / s), |q| <= 127 (all in float32).
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace lmusim {

enum class weight_format : std::uint8_t { fp32, bf16, int8 };

std::string_view to_string(weight_format) noexcept;
// "fp32", "bf16" or "int8"; anything else is an lmusim::error naming the value.
weight_format weight_format_from_string(std::string_view name);
// Bits of one stored weight (32, 16, 8).
unsigned weight_bits(weight_format) noexcept;

// x rounded to the nearest bfloat16 (ties to even), as a float. Throws if x is finite and the
// rounding overflows.
float round_to_bf16(float x);

// A layer's synaptic weights as stored, each with its output channel: the target neuron (or output
// feature map) whose row the weight belongs to, in [0, channels). int8 takes one scale per channel.
// Projection kinds (synapses/kind.hpp) and node kinds with weights of their own provide it.
struct weight_channels {
    std::span<float> weights;            // into the layer: empty for routing
    std::vector<std::uint32_t> channel;  // one per weight
    std::size_t channels = 0;
};

// Rounds `w` in place to format `f`. channel[i] in [0, channels) is the output channel of w[i]
// (int8 takes one scale per channel; the other formats ignore it). A channel whose weights are
// all zero stays zero.
void compress_weights(std::span<float> w, std::span<const std::uint32_t> channel, std::size_t channels, weight_format f);
inline void compress_weights(const weight_channels& wc, weight_format f) {
    compress_weights(wc.weights, wc.channel, wc.channels, f);
}

// The int8 scale of every channel: max |w| / 127 (0 for an all-zero channel).
void int8_scales(std::span<const float> w, std::span<const std::uint32_t> channel, std::size_t channels,
                 std::span<float> scale);

}  // namespace lmusim
