#include "lmusim/neurons/kinds/threshold.hpp"

#include "nir_common.hpp"

namespace lmusim {

void threshold_params::validate(const node_context& c) const { check_per_population_or_neuron(c, "threshold", threshold); }

std::unique_ptr<population> make_population(const threshold_params& p, const population_args& a) {
    return std::make_unique<threshold_gate>(p, a.size, a.streams);
}

threshold_gate::threshold_gate(const threshold_params& p, std::size_t size, std::size_t streams)
    : population(size, streams, {size}), threshold_(nir::per_neuron(p.threshold, size)), fired_(size * streams) {}

void threshold_gate::update_range(std::size_t stream, std::size_t begin, std::size_t end, std::uint64_t,
                                  std::vector<index_t>& spikes, float*) {
    const std::size_t n = end - begin;
    float* __restrict x = input(0, stream) + begin;
    const float* __restrict thr = threshold_.data() + begin;
    std::uint8_t* __restrict fired = fired_.data() + stream * size() + begin;
    for (std::size_t i = 0; i < n; ++i) {
        fired[i] = static_cast<std::uint8_t>(x[i] > thr[i]);
        x[i] = 0.0f;
    }
    collect_spikes(fired, n, begin, spikes);
}

}  // namespace lmusim
