#include "lmusim/neurons/kinds/continuous_lif.hpp"

#include <algorithm>
#include <cmath>

#include "lmusim/core/check.hpp"
#include "lmusim/core/strings.hpp"

namespace lmusim {

void continuous_lif_params::validate(const node_context& c) const {
    check::positive(c.label, "tau_m [ms]", tau_m);
    check::positive(c.label, "tau_exc [ms]", tau_exc);
    check::positive(c.label, "tau_inh [ms]", tau_inh);
    for (auto [what, v] : {std::pair{"v_rest", v_rest}, {"i_offset", i_offset}, {"v_threshold", v_threshold}, {"v_reset", v_reset}})
        check::finite(c.label, what, v);
    if (!(t_ref >= 0) || !std::isfinite(t_ref))
        check::fail(cat(c.label, ": t_ref = ", t_ref, " ms, expected a finite value >= 0"));
    if (!v_init.empty() && v_init.size() != c.size)
        check::fail(cat(c.label, ": v_init has ", v_init.size(), " values, expected ", c.size, " (one per neuron) or none"));
    check::finite(c.label, "v_init", v_init);
}

std::unique_ptr<population> make_population(const continuous_lif_params& p, const population_args& a) {
    return std::make_unique<continuous_lif>(p, a.dt, a.size, a.streams);
}

namespace {

// Response of v at time dt to a unit synaptic current of time constant tau_s decaying from 0,
// for tau_m dv/dt = -v + g, dg/dt = -g / tau_s (the exact solution of the linear system).
double coupling(double dt, double tau_m, double tau_s) {
    if (std::abs(tau_s - tau_m) < 1e-12 * tau_m) return dt / tau_m * std::exp(-dt / tau_m);
    return tau_s / (tau_s - tau_m) * (std::exp(-dt / tau_s) - std::exp(-dt / tau_m));
}

// The step kernel, a free function over restrict pointers so that it vectorises (branch-free:
// SSE4.1/AVX2 with -fno-trapping-math). Adds this step's input to the currents, integrates v
// exactly unless refractory, decays the currents, thresholds and resets.
void integrate(std::size_t begin, std::size_t end, float* __restrict v, float* __restrict ge, float* __restrict gi,
               std::int32_t* __restrict ref, std::uint8_t* __restrict fired, std::uint8_t* __restrict moved,
               const continuous_lif::propagators b) {
    for (std::size_t i = begin; i < end; ++i) {
        const float e = ge[i];  // this step's input is already added (ports 0, 1 are bound to ge, gi)
        const float g = gi[i];
        const std::int32_t r = ref[i];
        const float vi = b.v_inf + (v[i] - b.v_inf) * b.p_mm + e * b.p_me + g * b.p_mi;
        const float vn = r == 0 ? vi : v[i];
        const bool s = (r == 0) & (vn > b.v_threshold);
        const float next = s ? b.v_reset : vn;
        moved[i] = static_cast<std::uint8_t>(next != v[i]);  // NeuroBench's membrane updates
        v[i] = next;
        ref[i] = s ? b.ref_steps : r - (r > 0);
        ge[i] = e * b.p_ee;
        gi[i] = g * b.p_ii;
        fired[i] = static_cast<std::uint8_t>(s);
    }
}

}  // namespace

continuous_lif::continuous_lif(const continuous_lif_params& p, double dt, std::size_t size, std::size_t streams)
    : population(size, streams, {size, size}), p_(p), v_(size * streams), ge_(size * streams), gi_(size * streams),
      ref_(size * streams) {
    b_.p_mm = static_cast<float>(std::exp(-dt / p.tau_m));
    b_.p_ee = static_cast<float>(std::exp(-dt / p.tau_exc));
    b_.p_ii = static_cast<float>(std::exp(-dt / p.tau_inh));
    b_.p_me = static_cast<float>(coupling(dt, p.tau_m, p.tau_exc));
    b_.p_mi = static_cast<float>(coupling(dt, p.tau_m, p.tau_inh));
    b_.v_inf = static_cast<float>(p.v_rest + p.i_offset);
    b_.v_threshold = static_cast<float>(p.v_threshold);
    b_.v_reset = static_cast<float>(p.v_reset);
    // Brian2: a neuron that spiked at step n integrates again at step n + round(t_ref/dt).
    b_.ref_steps = std::max<std::int32_t>(static_cast<std::int32_t>(std::llround(p.t_ref / dt)) - 1, 0);
    // Input adds straight into the synaptic currents (Brian2's `ge += w`): no separate buffer.
    bind_port(0, ge_.data());
    bind_port(1, gi_.data());
    reset();
}

void continuous_lif::reset() {
    for (std::size_t s = 0; s < streams(); ++s)
        for (std::size_t i = 0; i < size(); ++i)
            v_[s * size() + i] = p_.v_init.empty() ? static_cast<float>(p_.v_rest) : p_.v_init[i];
    std::fill(ge_.begin(), ge_.end(), 0.0f);
    std::fill(gi_.begin(), gi_.end(), 0.0f);
    std::fill(ref_.begin(), ref_.end(), 0);
    clear_inputs();
    clear_own_ops();
}

void continuous_lif::update_range(std::size_t stream, std::size_t begin, std::size_t end, std::uint64_t frame,
                                  std::vector<index_t>& spikes, float*) {
    const std::size_t off = stream * size();
    const std::uint64_t changed = update_in_chunks(begin, end, spikes, [&](std::size_t b, std::size_t n, std::uint8_t* fired,
                                                                          std::uint8_t* moved) {
        integrate(0, n, v_.data() + off + b, ge_.data() + off + b, gi_.data() + off + b, ref_.data() + off + b, fired, moved,
                  b_);
    });
    add_membrane_updates(stream, frame == 0 ? end - begin : changed);
}

void continuous_lif::save_state(state_store& out, const std::string& prefix) const {
    population::save_state(out, prefix);
    const state_store::shape_t shape{streams(), size()};
    out.put<float>(prefix + "v", std::span<const float>(v_), shape);
    out.put<float>(prefix + "g_exc", std::span<const float>(ge_), shape);
    out.put<float>(prefix + "g_inh", std::span<const float>(gi_), shape);
    out.put<std::int32_t>(prefix + "refractory", std::span<const std::int32_t>(ref_), shape);
}

void continuous_lif::load_state(const state_store& in, const std::string& prefix) {
    population::load_state(in, prefix);
    const state_store::shape_t shape{streams(), size()};
    const auto& ref = in.get<std::int32_t>(prefix + "refractory", shape);
    for (std::size_t k = 0; k < ref.size(); ++k)
        if (ref[k] < 0 || ref[k] > b_.ref_steps)
            throw state_error(cat("dataset '", prefix, "refractory'[", k, "] = ", ref[k], ", expected 0 .. ", b_.ref_steps));
    // Ports 0 and 1 write straight into ge_ and gi_: copy in place, never reallocate.
    const auto& v = in.get<float>(prefix + "v", shape);
    const auto& ge = in.get<float>(prefix + "g_exc", shape);
    const auto& gi = in.get<float>(prefix + "g_inh", shape);
    std::copy(v.begin(), v.end(), v_.begin());
    std::copy(ge.begin(), ge.end(), ge_.begin());
    std::copy(gi.begin(), gi.end(), gi_.begin());
    std::copy(ref.begin(), ref.end(), ref_.begin());
}

}  // namespace lmusim
