#include "lmusim/neurons/kinds/spike_source.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>

#include "lmusim/core/check.hpp"
#include "lmusim/core/random.hpp"
#include "lmusim/core/strings.hpp"

namespace lmusim {

void spike_source_params::validate(const node_context& c) const {
    if (kind == mode::arrays) {
        if (steps.size() != neurons.size())
            check::fail(cat(c.label, ": ", steps.size(), " spike steps but ", neurons.size(), " spike neurons; expected equal lengths"));
        std::set<std::pair<std::uint64_t, index_t>> seen;
        for (std::size_t i = 0; i < neurons.size(); ++i) {
            if (neurons[i] >= c.size) check::fail(cat(c.label, ": spike ", i, " names neuron ", neurons[i], ", expected < ", c.size));
            if (!seen.emplace(steps[i], neurons[i]).second)
                check::fail(cat(c.label, ": spike ", i, " (neuron ", neurons[i], ", step ", steps[i], ") is a duplicate"));
        }
    } else {
        if (rate_hz.size() != 1 && rate_hz.size() != c.size)
            check::fail(cat(c.label, ": rate_hz has ", rate_hz.size(), " values, expected 1 or ", c.size));
        for (std::size_t i = 0; i < rate_hz.size(); ++i) {
            const double prob = rate_hz[i] * c.dt * 1e-3;
            if (!(rate_hz[i] >= 0) || !std::isfinite(rate_hz[i]) || prob > 1.0)
                check::fail(cat(c.label, ": rate_hz[", i, "] = ", rate_hz[i], ", expected 0 <= rate <= 1/dt = ", 1e3 / c.dt, " Hz"));
        }
    }
}

std::unique_ptr<population> make_population(const spike_source_params& p, const population_args& a) {
    return std::make_unique<spike_source>(p, a.dt, a.size, a.streams);
}

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

}  // namespace lmusim
