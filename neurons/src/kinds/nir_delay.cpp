#include "lmusim/neurons/kinds/nir_delay.hpp"

#include <algorithm>

#include "lmusim/core/check.hpp"
#include "lmusim/core/strings.hpp"

namespace lmusim {

void nir_delay_params::validate(const node_context& c) const {
    if (delay_steps.size() != 1 && delay_steps.size() != c.size)
        check::fail(cat(c.label, ": delay_steps has ", delay_steps.size(), " values, expected 1 (the population) or ", c.size,
                        " (one per neuron)"));
    for (std::size_t i = 0; i < delay_steps.size(); ++i)
        if (delay_steps[i] > max_delay_steps)
            check::fail(cat(c.label, ": delay_steps[", i, "] = ", delay_steps[i], ", expected <= ", max_delay_steps));
}

std::unique_ptr<population> make_population(const nir_delay_params& p, const population_args& a) {
    return std::make_unique<nir_delay>(p, a.size, a.streams);
}

nir_delay::nir_delay(const nir_delay_params& p, std::size_t size, std::size_t streams)
    : population(size, streams, {size}),
      delay_(p.delay_steps.size() == 1 ? std::vector<std::uint64_t>(size, p.delay_steps[0]) : p.delay_steps),
      depth_(delay_.empty() ? 1 : static_cast<std::size_t>(*std::max_element(delay_.begin(), delay_.end())) + 1),
      ring_(streams * depth_ * size, 0.0f) {}

void nir_delay::reset() {
    std::fill(ring_.begin(), ring_.end(), 0.0f);
    clear_inputs();
    clear_own_ops();
}

// Writes this step's input into slot frame mod depth, then reads each neuron's slot d_i steps back
// (the same slot for d_i = 0). Frames before the clip's start read 0 whatever the ring holds.
void nir_delay::update_range(std::size_t stream, std::size_t begin, std::size_t end, std::uint64_t frame,
                             std::vector<index_t>&, float* values) {
    const std::size_t n = size();
    float* x = input(0, stream);
    float* ring = ring_.data() + stream * depth_ * n;
    float* now = ring + (frame % depth_) * n;
    for (std::size_t i = begin; i < end; ++i) {
        now[i] = x[i];
        x[i] = 0.0f;
    }
    for (std::size_t i = begin; i < end; ++i) {
        const std::uint64_t d = delay_[i];
        values[i] = frame >= d ? ring[((frame - d) % depth_) * n + i] : 0.0f;
    }
}

void nir_delay::save_state(state_store& out, const std::string& prefix) const {
    population::save_state(out, prefix);
    out.put<float>(prefix + "ring", std::span<const float>(ring_), {streams(), depth_, size()});
}

void nir_delay::load_state(const state_store& in, const std::string& prefix) {
    population::load_state(in, prefix);
    const auto& r = in.get<float>(prefix + "ring", {streams(), depth_, size()});
    std::copy(r.begin(), r.end(), ring_.begin());
}

}  // namespace lmusim
