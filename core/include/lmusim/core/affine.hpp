#pragma once
// A per-neuron affine applied to a summed input, used to carry an eval-mode BatchNorm without
// folding it into weights. Two rounding forms, matching PyTorch's CPU kernels (docs/numerics.md).
#include <cstddef>
#include <cstdint>
#include <vector>

namespace lmusim {

struct input_affine {
    enum class form : std::uint8_t {
        none,     // y = x
        fused,    // y = fma(x, scale, shift)                (BN on a contiguous input)
        unfused,  // y = ((x - mean) * invstd) * gamma + beta (BN on a non-contiguous input)
    };
    form kind = form::none;
    std::vector<float> scale, shift;               // fused
    std::vector<float> mean, invstd, gamma, beta;  // unfused

    // Eval-mode BatchNorm1d from its parameters and running statistics, computed in float32 as
    // PyTorch does: invstd = 1 / sqrt(var + eps); fused: scale = gamma * invstd,
    // shift = fma(-mean, scale, beta).
    static input_affine batch_norm(const std::vector<float>& running_mean,
                                   const std::vector<float>& running_var,
                                   const std::vector<float>& gamma, const std::vector<float>& beta,
                                   float eps = 1e-5f, form kind = form::fused);
    // y = x * scale + shift (fused form).
    static input_affine scale_shift(std::vector<float> scale, std::vector<float> shift);

    bool empty() const noexcept { return kind == form::none; }
    // Element-wise operations per step on n values: n unless empty.
    std::size_t ops(std::size_t n) const noexcept { return empty() ? 0 : n; }
    // Trainable parameters (a BatchNorm's weight and bias): 2 per value unless empty.
    std::size_t parameters(std::size_t n) const noexcept { return empty() ? 0 : 2 * n; }
};

// Applies the affine in place to x[begin, end) (docs/semantics.md).
void apply_affine(const input_affine& a, float* x, std::size_t begin, std::size_t end) noexcept;

}  // namespace lmusim
