#include "lmusim/neurons/kinds/nir_cuba_li.hpp"

#include <algorithm>

#include "nir_common.hpp"

namespace lmusim {

void nir_cuba_li_params::validate(const node_context& c) const {
    nir::check_dt(c, dt);
    nir::check_time_constant(c, "tau_syn", tau_syn, dt, discretization);
    nir::check_time_constant(c, "tau_mem", tau_mem, dt, discretization);
    check_per_population_or_neuron(c, "r", r);
    check_per_population_or_neuron(c, "v_leak", v_leak);
    check_per_population_or_neuron(c, "w_in", w_in);
}

std::unique_ptr<population> make_population(const nir_cuba_li_params& p, const population_args& a) {
    return std::make_unique<nir_cuba_li>(p, a.size, a.streams);
}

nir_cuba_li::nir_cuba_li(const nir_cuba_li_params& p, std::size_t size, std::size_t streams)
    : population(size, streams, {size}), ks_(nir::step_factors(p.dt, p.tau_syn, size, p.discretization)),
      km_(nir::step_factors(p.dt, p.tau_mem, size, p.discretization)), r_(nir::per_neuron(p.r, size)),
      v_leak_(nir::per_neuron(p.v_leak, size)), w_in_(nir::per_neuron(p.w_in, size)), i_(size * streams, 0.0f),
      v_(size * streams, 0.0f), moved_(size * streams) {}

void nir_cuba_li::reset() {
    std::fill(i_.begin(), i_.end(), 0.0f);
    std::fill(v_.begin(), v_.end(), 0.0f);
    clear_inputs();
    clear_own_ops();
}

void nir_cuba_li::update_range(std::size_t stream, std::size_t begin, std::size_t end, std::uint64_t frame,
                               std::vector<index_t>&, float* values) {
    const std::size_t off = stream * size() + begin, n = end - begin;
    float* x = input(0, stream) + begin;
    const float *k = km_.data() + begin, *r = r_.data() + begin, *leak = v_leak_.data() + begin;
    std::uint8_t* moved = moved_.data() + off;
    nir::cuba_currents(n, x, i_.data() + off, w_in_.data() + begin, ks_.data() + begin);  // x := the new I
    nir::value_update(n, x, v_.data() + off, values + begin, moved,
                      [=](std::size_t i, float v, float cur) { return nir::lif_charge(v, cur, r[i], leak[i], k[i]); });
    add_membrane_updates(stream, frame == 0 ? n : count_set(moved, n));
}

void nir_cuba_li::save_state(state_store& out, const std::string& prefix) const {
    population::save_state(out, prefix);
    out.put<float>(prefix + "i_syn", std::span<const float>(i_), {streams(), size()});
    out.put<float>(prefix + "v", std::span<const float>(v_), {streams(), size()});
}

void nir_cuba_li::load_state(const state_store& in, const std::string& prefix) {
    population::load_state(in, prefix);
    const auto& i = in.get<float>(prefix + "i_syn", {streams(), size()});
    const auto& v = in.get<float>(prefix + "v", {streams(), size()});
    std::copy(i.begin(), i.end(), i_.begin());
    std::copy(v.begin(), v.end(), v_.begin());
}

}  // namespace lmusim
