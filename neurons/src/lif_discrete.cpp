#include <algorithm>
#include <cmath>

#include "lmusim/neurons/lif.hpp"

namespace lmusim {

discrete_lif::discrete_lif(const discrete_lif_params& p, std::size_t size, std::size_t streams)
    : population(size, streams, {size}), p_(p), v_(size * streams, p.v_reset) {
    int exp = 0;
    const float mant = std::frexp(p.tau, &exp);
    tau_pow2_ = (mant == 0.5f);
    inv_tau_ = 1.0f / p.tau;
}

void discrete_lif::reset() {
    std::fill(v_.begin(), v_.end(), p_.v_reset);
    clear_inputs();
}

void discrete_lif::update_range(std::size_t stream, std::size_t begin, std::size_t end, std::uint64_t,
                                std::vector<index_t>& spikes, float*) {
    float* x = input(0, stream);
    float* v = v_.data() + stream * size();
    const float vr = p_.v_reset, th = p_.v_threshold, tau = p_.tau, inv_tau = inv_tau_;
    apply_affine(p_.affine, x, begin, end);
    // spikingjelly: h = v + (x - (v - v_reset)) / tau; spike if h >= v_threshold; hard reset.
    for (std::size_t i = begin; i < end; ++i) {
        const float d = x[i] - (v[i] - vr);
        const float h = v[i] + (tau_pow2_ ? d * inv_tau : d / tau);
        const bool s = h >= th;
        v[i] = s ? vr : h;
        x[i] = 0.0f;
        if (s) spikes.push_back(static_cast<index_t>(i));
    }
}

void discrete_lif::save_state(state_store& out, const std::string& prefix) const {
    population::save_state(out, prefix);
    out.put<float>(prefix + "v", std::span<const float>(v_), {streams(), size()});
}

void discrete_lif::load_state(const state_store& in, const std::string& prefix) {
    population::load_state(in, prefix);
    const auto& v = in.get<float>(prefix + "v", {streams(), size()});
    std::copy(v.begin(), v.end(), v_.begin());
}

}  // namespace lmusim
