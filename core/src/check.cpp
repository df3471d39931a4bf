#include "lmusim/core/check.hpp"

#include <cmath>

#include "lmusim/core/error.hpp"
#include "lmusim/core/strings.hpp"

namespace lmusim::check {

void fail(const std::string& what) { throw network_error(what); }

void finite(const std::string& label, const char* what, const std::vector<float>& v) {
    for (std::size_t i = 0; i < v.size(); ++i)
        if (!std::isfinite(v[i])) fail(cat(label, ": ", what, "[", i, "] = ", v[i], " is not finite"));
}

void finite(const std::string& label, const char* what, double v) {
    if (!std::isfinite(v)) fail(cat(label, ": ", what, " = ", v, " is not finite"));
}

void positive(const std::string& label, const char* what, double v) {
    if (!(v > 0) || !std::isfinite(v)) fail(cat(label, ": ", what, " = ", v, ", expected a finite value > 0"));
}

void affine(const std::string& label, const input_affine& a, std::size_t n) {
    auto size_ok = [&](const char* what, const std::vector<float>& v) {
        if (v.size() != n)
            fail(cat(label, ": affine ", what, " has ", v.size(), " values, expected ", n, " (one per neuron)"));
        finite(label, cat("affine ", what).c_str(), v);
    };
    switch (a.kind) {
        case input_affine::form::none: break;
        case input_affine::form::fused:
            size_ok("scale", a.scale);
            size_ok("shift", a.shift);
            break;
        case input_affine::form::unfused:
            size_ok("mean", a.mean);
            size_ok("invstd", a.invstd);
            size_ok("gamma", a.gamma);
            size_ok("beta", a.beta);
            break;
    }
}

}  // namespace lmusim::check
