#include "lmusim/neurons/kinds/nir_cuba_lif.hpp"

#include <algorithm>

#include "nir_common.hpp"

namespace lmusim {

void nir_cuba_lif_params::validate(const node_context& c) const {
    nir::check_dt(c, dt);
    nir::check_time_constant(c, "tau_syn", tau_syn, dt, discretization);
    nir::check_time_constant(c, "tau_mem", tau_mem, dt, discretization);
    check_per_population_or_neuron(c, "r", r);
    check_per_population_or_neuron(c, "v_leak", v_leak);
    check_per_population_or_neuron(c, "v_threshold", v_threshold);
    check_per_population_or_neuron(c, "v_reset", v_reset);
    check_per_population_or_neuron(c, "w_in", w_in);
}

std::unique_ptr<population> make_population(const nir_cuba_lif_params& p, const population_args& a) {
    return std::make_unique<nir_cuba_lif>(p, a.size, a.streams);
}

nir_cuba_lif::nir_cuba_lif(const nir_cuba_lif_params& p, std::size_t size, std::size_t streams)
    : population(size, streams, {size}), reset_(p.reset), ks_(nir::step_factors(p.dt, p.tau_syn, size, p.discretization)),
      km_(nir::step_factors(p.dt, p.tau_mem, size, p.discretization)), r_(nir::per_neuron(p.r, size)),
      v_leak_(nir::per_neuron(p.v_leak, size)), threshold_(nir::per_neuron(p.v_threshold, size)),
      v_reset_(nir::per_neuron(p.v_reset, size)), w_in_(nir::per_neuron(p.w_in, size)), i_(size * streams, 0.0f),
      v_(size * streams, 0.0f), fired_(size * streams), moved_(size * streams) {}

void nir_cuba_lif::reset() {
    std::fill(i_.begin(), i_.end(), 0.0f);
    std::fill(v_.begin(), v_.end(), 0.0f);
    clear_inputs();
    clear_own_ops();
}

void nir_cuba_lif::update_range(std::size_t stream, std::size_t begin, std::size_t end, std::uint64_t frame,
                                std::vector<index_t>& spikes, float*) {
    const std::size_t off = stream * size() + begin, n = end - begin;
    float* x = input(0, stream) + begin;
    const float *k = km_.data() + begin, *r = r_.data() + begin, *leak = v_leak_.data() + begin;
    std::uint8_t *fired = fired_.data() + off, *moved = moved_.data() + off;
    nir::cuba_currents(n, x, i_.data() + off, w_in_.data() + begin, ks_.data() + begin);  // x := the new I
    nir::with_reset(reset_, [&](auto R) {
        nir::spiking_update<decltype(R)::value>(
            n, x, v_.data() + off, threshold_.data() + begin, v_reset_.data() + begin, fired, moved,
            [=](std::size_t i, float v, float cur) { return nir::lif_charge(v, cur, r[i], leak[i], k[i]); });
    });
    add_membrane_updates(stream, frame == 0 ? n : count_set(moved, n));
    collect_spikes(fired, n, begin, spikes);
}

void nir_cuba_lif::save_state(state_store& out, const std::string& prefix) const {
    population::save_state(out, prefix);
    out.put<float>(prefix + "i_syn", std::span<const float>(i_), {streams(), size()});
    out.put<float>(prefix + "v", std::span<const float>(v_), {streams(), size()});
}

void nir_cuba_lif::load_state(const state_store& in, const std::string& prefix) {
    population::load_state(in, prefix);
    const auto& i = in.get<float>(prefix + "i_syn", {streams(), size()});
    const auto& v = in.get<float>(prefix + "v", {streams(), size()});
    std::copy(i.begin(), i.end(), i_.begin());
    std::copy(v.begin(), v.end(), v_.begin());
}

}  // namespace lmusim
