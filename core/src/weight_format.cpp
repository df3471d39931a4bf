#include "lmusim/core/weight_format.hpp"

#include <bit>
#include <cmath>
#include <vector>

#include "lmusim/core/error.hpp"
#include "lmusim/core/strings.hpp"

namespace lmusim {

std::string_view to_string(weight_format f) noexcept {
    switch (f) {
        case weight_format::fp32: return "fp32";
        case weight_format::bf16: return "bf16";
        case weight_format::int8: return "int8";
    }
    return "?";
}

weight_format weight_format_from_string(std::string_view name) {
    for (weight_format f : {weight_format::fp32, weight_format::bf16, weight_format::int8})
        if (name == to_string(f)) return f;
    throw error(cat("weights '", name, "': expected fp32, bf16 or int8"));
}

unsigned weight_bits(weight_format f) noexcept {
    switch (f) {
        case weight_format::fp32: return 32;
        case weight_format::bf16: return 16;
        case weight_format::int8: return 8;
    }
    return 32;
}

float round_to_bf16(float x) {
    if (std::isnan(x)) return x;
    std::uint32_t u = std::bit_cast<std::uint32_t>(x);
    u += 0x7FFFu + ((u >> 16) & 1u);  // ties to even on the kept lowest bit
    u &= 0xFFFF0000u;
    const float r = std::bit_cast<float>(u);
    if (std::isinf(r) && !std::isinf(x)) throw error(cat("weight ", x, " overflows bfloat16"));
    return r;
}

void int8_scales(std::span<const float> w, std::span<const std::uint32_t> channel, std::size_t channels,
                 std::span<float> scale) {
    if (channel.size() != w.size() || scale.size() != channels)
        throw internal_error(cat("int8_scales: ", w.size(), " weights, ", channel.size(), " channel indices, ", scale.size(),
                                 " scales for ", channels, " channels"));
    std::vector<float> max_abs(channels, 0.0f);
    for (std::size_t i = 0; i < w.size(); ++i) {
        if (channel[i] >= channels) throw internal_error(cat("int8_scales: channel ", channel[i], " >= ", channels));
        max_abs[channel[i]] = std::max(max_abs[channel[i]], std::fabs(w[i]));
    }
    for (std::size_t c = 0; c < channels; ++c) scale[c] = max_abs[c] / 127.0f;
}

void compress_weights(std::span<float> w, std::span<const std::uint32_t> channel, std::size_t channels, weight_format f) {
    switch (f) {
        case weight_format::fp32: return;
        case weight_format::bf16:
            for (float& x : w) x = round_to_bf16(x);
            return;
        case weight_format::int8: {
            std::vector<float> scale(channels);
            int8_scales(w, channel, channels, scale);
            for (std::size_t i = 0; i < w.size(); ++i) {
                const float s = scale[channel[i]];
                if (s == 0.0f) continue;  // an all-zero channel (or a subnormal maximum) stays as it is
                // nearbyint in the default rounding mode: ties to even (torch.round, numpy.round).
                const float q = std::nearbyint(w[i] / s);
                w[i] = std::fmax(-127.0f, std::fmin(127.0f, q)) * s;
            }
            return;
        }
    }
}

}  // namespace lmusim
