#include "lmusim/neurons/kinds/leaky.hpp"

#include <algorithm>
#include <cmath>

#include "lmusim/core/check.hpp"
#include "lmusim/core/strings.hpp"

namespace lmusim {

void check_per_population_or_neuron(const node_context& c, const char* what, const std::vector<float>& values) {
    if (values.size() != 1 && values.size() != c.size)
        check::fail(cat(c.label, ": ", what, " has ", values.size(), " values, expected 1 (the population) or ", c.size,
                        " (one per neuron)"));
    check::finite(c.label, what, values);
}

void leaky_params::validate(const node_context& c) const {
    check_per_population_or_neuron(c, "beta", beta);
    check_per_population_or_neuron(c, "threshold", threshold);
}

std::unique_ptr<population> make_population(const leaky_params& p, const population_args& a) {
    return std::make_unique<leaky>(p, a.size, a.streams);
}

namespace {

std::vector<float> per_neuron(const std::vector<float>& v, std::size_t n) {
    return v.size() == 1 ? std::vector<float>(n, v[0]) : v;
}

// One step over a chunk, branch-free (vectorises): the same float operations in the same order
// as snnTorch's, per neuron.
template <leaky_reset R>
void step(std::size_t n, float* __restrict x, float* __restrict mem, const float* __restrict beta,
          const float* __restrict thr, std::uint8_t* __restrict fired, std::uint8_t* __restrict moved) {
    for (std::size_t i = 0; i < n; ++i) {
        const float m = mem[i];
        const bool was_above = m > thr[i];
        float next;
        if constexpr (R == leaky_reset::subtract)
            next = (beta[i] * m + x[i]) - (was_above ? thr[i] : 0.0f);
        else if constexpr (R == leaky_reset::zero)
            next = beta[i] * (was_above ? 0.0f : m) + x[i];
        else
            next = beta[i] * m + x[i];
        moved[i] = static_cast<std::uint8_t>(next != m);
        mem[i] = next;
        x[i] = 0.0f;
        fired[i] = static_cast<std::uint8_t>(next > thr[i]);
    }
}

}  // namespace

leaky::leaky(const leaky_params& p, std::size_t size, std::size_t streams)
    : population(size, streams, {size}), reset_(p.reset), beta_(per_neuron(p.beta, size)),
      threshold_(per_neuron(p.threshold, size)), mem_(size * streams, 0.0f), fired_(size * streams),
      moved_(size * streams) {
    for (float& b : beta_) b = std::clamp(b, 0.0f, 1.0f);
}

void leaky::reset() {
    std::fill(mem_.begin(), mem_.end(), 0.0f);
    clear_inputs();
    clear_own_ops();
}

void leaky::update_range(std::size_t stream, std::size_t begin, std::size_t end, std::uint64_t frame,
                         std::vector<index_t>& spikes, float*) {
    float* x = input(0, stream) + begin;
    float* mem = mem_.data() + stream * size() + begin;
    std::uint8_t* fired = fired_.data() + stream * size() + begin;
    const std::size_t n = end - begin;
    const float* beta = beta_.data() + begin;
    const float* thr = threshold_.data() + begin;
    std::uint8_t* moved = moved_.data() + stream * size() + begin;
    switch (reset_) {
        case leaky_reset::subtract: step<leaky_reset::subtract>(n, x, mem, beta, thr, fired, moved); break;
        case leaky_reset::zero: step<leaky_reset::zero>(n, x, mem, beta, thr, fired, moved); break;
        case leaky_reset::none: step<leaky_reset::none>(n, x, mem, beta, thr, fired, moved); break;
    }
    add_membrane_updates(stream, frame == 0 ? n : count_set(moved, n));  // NeuroBench counts every neuron on the first step
    collect_spikes(fired, n, begin, spikes);
}

void leaky::save_state(state_store& out, const std::string& prefix) const {
    population::save_state(out, prefix);
    out.put<float>(prefix + "mem", std::span<const float>(mem_), {streams(), size()});
}

void leaky::load_state(const state_store& in, const std::string& prefix) {
    population::load_state(in, prefix);
    const auto& m = in.get<float>(prefix + "mem", {streams(), size()});
    std::copy(m.begin(), m.end(), mem_.begin());
}

}  // namespace lmusim
