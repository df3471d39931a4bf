#include "lmusim/neurons/kinds/nir_if.hpp"

#include <algorithm>

#include "nir_common.hpp"

namespace lmusim {

void nir_if_params::validate(const node_context& c) const {
    check_per_population_or_neuron(c, "r", r);
    check_per_population_or_neuron(c, "v_threshold", v_threshold);
    check_per_population_or_neuron(c, "v_reset", v_reset);
}

std::unique_ptr<population> make_population(const nir_if_params& p, const population_args& a) {
    return std::make_unique<nir_if>(p, a.size, a.streams);
}

nir_if::nir_if(const nir_if_params& p, std::size_t size, std::size_t streams)
    : population(size, streams, {size}), reset_(p.reset), r_(nir::per_neuron(p.r, size)),
      threshold_(nir::per_neuron(p.v_threshold, size)), v_reset_(nir::per_neuron(p.v_reset, size)),
      v_(size * streams, 0.0f), fired_(size * streams), moved_(size * streams) {}

void nir_if::reset() {
    std::fill(v_.begin(), v_.end(), 0.0f);
    clear_inputs();
    clear_own_ops();
}

void nir_if::update_range(std::size_t stream, std::size_t begin, std::size_t end, std::uint64_t frame,
                          std::vector<index_t>& spikes, float*) {
    const std::size_t off = stream * size() + begin, n = end - begin;
    const float* r = r_.data() + begin;
    std::uint8_t *fired = fired_.data() + off, *moved = moved_.data() + off;
    nir::with_reset(reset_, [&](auto R) {
        nir::spiking_update<decltype(R)::value>(n, input(0, stream) + begin, v_.data() + off, threshold_.data() + begin,
                                                v_reset_.data() + begin, fired, moved,
                                                [=](std::size_t i, float v, float xi) { return nir::integrate(v, xi, r[i]); });
    });
    add_membrane_updates(stream, frame == 0 ? n : count_set(moved, n));
    collect_spikes(fired, n, begin, spikes);
}

void nir_if::save_state(state_store& out, const std::string& prefix) const {
    population::save_state(out, prefix);
    out.put<float>(prefix + "v", std::span<const float>(v_), {streams(), size()});
}

void nir_if::load_state(const state_store& in, const std::string& prefix) {
    population::load_state(in, prefix);
    const auto& v = in.get<float>(prefix + "v", {streams(), size()});
    std::copy(v.begin(), v.end(), v_.begin());
}

}  // namespace lmusim
