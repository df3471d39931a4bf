#include <algorithm>
#include <numeric>

#include "lmusim/graph/random.hpp"
#include "lmusim/neurons/sources.hpp"

namespace lmusim {

spike_source::spike_source(const spike_source_params& p, double dt, std::size_t size, std::size_t streams)
    : population(size, streams, {}), kind_(p.kind), seed_(p.seed) {
    if (kind_ == spike_source_params::mode::arrays) {
        std::vector<std::size_t> order(p.steps.size());
        std::iota(order.begin(), order.end(), 0);
        std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
            return p.steps[a] != p.steps[b] ? p.steps[a] < p.steps[b] : p.neurons[a] < p.neurons[b];
        });
        for (std::size_t k : order) {
            if (step_keys_.empty() || step_keys_.back() != p.steps[k]) {
                step_keys_.push_back(p.steps[k]);
                step_ptr_.push_back(step_neurons_.size());
            }
            step_neurons_.push_back(p.neurons[k]);
        }
        step_ptr_.push_back(step_neurons_.size());
    } else {
        prob_.resize(size);
        for (std::size_t i = 0; i < size; ++i)
            prob_[i] = (p.rate_hz.size() == 1 ? p.rate_hz[0] : p.rate_hz[i]) * dt * 1e-3;
    }
}

void spike_source::update_range(std::size_t stream, std::size_t begin, std::size_t end, std::uint64_t step,
                                std::vector<index_t>& spikes, float*) {
    if (kind_ == spike_source_params::mode::arrays) {
        const auto it = std::lower_bound(step_keys_.begin(), step_keys_.end(), step);
        if (it == step_keys_.end() || *it != step) return;
        const std::size_t k = static_cast<std::size_t>(it - step_keys_.begin());
        const auto first = step_neurons_.begin() + static_cast<std::ptrdiff_t>(step_ptr_[k]);
        const auto last = step_neurons_.begin() + static_cast<std::ptrdiff_t>(step_ptr_[k + 1]);
        for (auto n = std::lower_bound(first, last, static_cast<index_t>(begin)); n != last && *n < end; ++n)
            spikes.push_back(*n);
    } else {
        // Counter-based: the draw for (stream, neuron, step) never depends on the thread count.
        for (std::size_t i = begin; i < end; ++i)
            if (random::uniform(seed_, stream, i, step) < prob_[i]) spikes.push_back(static_cast<index_t>(i));
    }
}

void input_frames::update_range(std::size_t stream, std::size_t begin, std::size_t end, std::uint64_t,
                                std::vector<index_t>&, float* values) {
    float* x = input(0, stream);
    std::copy(x + begin, x + end, values + begin);
    std::fill(x + begin, x + end, 0.0f);
}

}  // namespace lmusim
