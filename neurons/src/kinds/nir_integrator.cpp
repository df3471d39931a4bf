#include "lmusim/neurons/kinds/nir_integrator.hpp"

#include <algorithm>

#include "nir_common.hpp"

namespace lmusim {

void nir_integrator_params::validate(const node_context& c) const { check_per_population_or_neuron(c, "r", r); }

std::unique_ptr<population> make_population(const nir_integrator_params& p, const population_args& a) {
    return std::make_unique<nir_integrator>(p, a.size, a.streams);
}

nir_integrator::nir_integrator(const nir_integrator_params& p, std::size_t size, std::size_t streams)
    : population(size, streams, {size}), r_(nir::per_neuron(p.r, size)), v_(size * streams, 0.0f),
      moved_(size * streams) {}

void nir_integrator::reset() {
    std::fill(v_.begin(), v_.end(), 0.0f);
    clear_inputs();
    clear_own_ops();
}

void nir_integrator::update_range(std::size_t stream, std::size_t begin, std::size_t end, std::uint64_t frame,
                                  std::vector<index_t>&, float* values) {
    const std::size_t off = stream * size() + begin, n = end - begin;
    const float* r = r_.data() + begin;
    std::uint8_t* moved = moved_.data() + off;
    nir::value_update(n, input(0, stream) + begin, v_.data() + off, values + begin, moved,
                      [=](std::size_t i, float v, float xi) { return nir::integrate(v, xi, r[i]); });
    add_membrane_updates(stream, frame == 0 ? n : count_set(moved, n));
}

void nir_integrator::save_state(state_store& out, const std::string& prefix) const {
    population::save_state(out, prefix);
    out.put<float>(prefix + "v", std::span<const float>(v_), {streams(), size()});
}

void nir_integrator::load_state(const state_store& in, const std::string& prefix) {
    population::load_state(in, prefix);
    const auto& v = in.get<float>(prefix + "v", {streams(), size()});
    std::copy(v.begin(), v.end(), v_.begin());
}

}  // namespace lmusim
