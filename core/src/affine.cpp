#include "lmusim/core/affine.hpp"

#include <cmath>

#include "lmusim/core/error.hpp"
#include "lmusim/core/strings.hpp"

namespace lmusim {

input_affine input_affine::batch_norm(const std::vector<float>& running_mean, const std::vector<float>& running_var,
                                      const std::vector<float>& gamma, const std::vector<float>& beta, float eps, form kind) {
    const std::size_t n = running_mean.size();
    if (running_var.size() != n || gamma.size() != n || beta.size() != n)
        throw error(cat("batch_norm: mean, var, gamma, beta have ", n, ", ", running_var.size(), ", ",
                        gamma.size(), ", ", beta.size(), " values; expected equal lengths"));
    input_affine a;
    a.kind = kind;
    std::vector<float> invstd(n);
    for (std::size_t i = 0; i < n; ++i) {
        if (!(running_var[i] + eps > 0.0f))
            throw error(cat("batch_norm: running_var[", i, "] + eps = ", running_var[i] + eps, ", expected > 0"));
        invstd[i] = 1.0f / std::sqrt(running_var[i] + eps);
    }
    if (kind == form::fused) {
        a.scale.resize(n);
        a.shift.resize(n);
        for (std::size_t i = 0; i < n; ++i) {
            a.scale[i] = invstd[i] * gamma[i];
            a.shift[i] = std::fma(-running_mean[i], a.scale[i], beta[i]);
        }
    } else if (kind == form::unfused) {
        a.mean = running_mean;
        a.invstd = std::move(invstd);
        a.gamma = gamma;
        a.beta = beta;
    }
    return a;
}

input_affine input_affine::scale_shift(std::vector<float> scale, std::vector<float> shift) {
    input_affine a;
    a.kind = form::fused;
    a.scale = std::move(scale);
    a.shift = std::move(shift);
    return a;
}

void apply_affine(const input_affine& a, float* x, std::size_t begin, std::size_t end) noexcept {
    switch (a.kind) {
        case input_affine::form::none: break;
        case input_affine::form::fused:
            for (std::size_t i = begin; i < end; ++i) x[i] = std::fma(x[i], a.scale[i], a.shift[i]);
            break;
        case input_affine::form::unfused:
            for (std::size_t i = begin; i < end; ++i) x[i] = ((x[i] - a.mean[i]) * a.invstd[i]) * a.gamma[i] + a.beta[i];
            break;
    }
}

}  // namespace lmusim
