#include "lmusim/neurons/kinds/discrete_lif.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "lmusim/core/check.hpp"
#include "lmusim/core/strings.hpp"

namespace lmusim {

void discrete_lif_params::validate(const node_context& c) const {
    check::positive(c.label, "tau", tau);
    if (tau < 1.0f) check::fail(cat(c.label, ": tau = ", tau, " steps, expected >= 1"));
    check::finite(c.label, "v_threshold", v_threshold);
    check::finite(c.label, "v_reset", v_reset);
    check::affine(c.label, affine, c.size);
}

std::unique_ptr<population> make_population(const discrete_lif_params& p, const population_args& a) {
    return std::make_unique<discrete_lif>(p, a.size, a.streams);
}

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
    clear_own_ops();
}

namespace {

// The step kernel over one chunk, a free function over restrict pointers and branch-free so that
// it vectorises (as continuous_lif's): the same float operations in the same order per neuron as
// the scalar form, so results are bit-identical. spikingjelly: h = v + (x - (v - v_reset)) / tau;
// spike if h >= v_threshold; hard reset. Divides by tau unless 1/tau is exact (tau a power of 2).
// moved[i]: whether the membrane changed (NeuroBench's membrane updates).
template <bool pow2>
void charge_fire(std::size_t n, float* __restrict x, float* __restrict v, std::uint8_t* __restrict fired,
                 std::uint8_t* __restrict moved, float vr, float th, float tau, float inv_tau) {
    for (std::size_t i = 0; i < n; ++i) {
        const float d = x[i] - (v[i] - vr);
        const float h = v[i] + (pow2 ? d * inv_tau : d / tau);
        const bool s = h >= th;
        const float next = s ? vr : h;
        moved[i] = static_cast<std::uint8_t>(next != v[i]);
        v[i] = next;
        x[i] = 0.0f;
        fired[i] = static_cast<std::uint8_t>(s);
    }
}

}  // namespace

void discrete_lif::update_range(std::size_t stream, std::size_t begin, std::size_t end, std::uint64_t frame,
                                std::vector<index_t>& spikes, float*) {
    float* x = input(0, stream);
    float* v = v_.data() + stream * size();
    const float vr = p_.v_reset, th = p_.v_threshold, tau = p_.tau, inv_tau = inv_tau_;
    apply_affine(p_.affine, x, begin, end);
    const std::uint64_t changed = update_in_chunks(begin, end, spikes, [&](std::size_t b, std::size_t n, std::uint8_t* fired,
                                                                          std::uint8_t* moved) {
        if (tau_pow2_)
            charge_fire<true>(n, x + b, v + b, fired, moved, vr, th, tau, inv_tau);
        else
            charge_fire<false>(n, x + b, v + b, fired, moved, vr, th, tau, inv_tau);
    });
    add_membrane_updates(stream, frame == 0 ? end - begin : changed);
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
