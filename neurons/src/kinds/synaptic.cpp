#include "lmusim/neurons/kinds/synaptic.hpp"

#include <algorithm>

#include "lmusim/core/check.hpp"
#include "lmusim/core/strings.hpp"

namespace lmusim {

void synaptic_params::validate(const node_context& c) const {
    check_per_population_or_neuron(c, "alpha", alpha);
    check_per_population_or_neuron(c, "beta", beta);
    check_per_population_or_neuron(c, "threshold", threshold);
}

std::unique_ptr<population> make_population(const synaptic_params& p, const population_args& a) {
    return std::make_unique<synaptic>(p, a.size, a.streams);
}

namespace {

std::vector<float> lowered(const std::vector<float>& v, std::size_t n, bool clamp01) {
    std::vector<float> out = v.size() == 1 ? std::vector<float>(n, v[0]) : v;
    if (clamp01)
        for (float& x : out) x = std::clamp(x, 0.0f, 1.0f);
    return out;
}

template <leaky_reset R>
void step(std::size_t n, float* __restrict x, float* __restrict syn, float* __restrict mem, const float* __restrict alpha,
          const float* __restrict beta, const float* __restrict thr, std::uint8_t* __restrict fired,
          std::uint8_t* __restrict moved) {
    for (std::size_t i = 0; i < n; ++i) {
        const float m = mem[i];
        const bool was_above = m > thr[i];
        const float s = alpha[i] * syn[i] + x[i];
        float next = beta[i] * m + s;
        if constexpr (R == leaky_reset::subtract) next = next - (was_above ? thr[i] : 0.0f);
        if constexpr (R == leaky_reset::zero) next = next - (was_above ? next : 0.0f);  // 0 after a reset
        moved[i] = static_cast<std::uint8_t>(next != m);
        syn[i] = s;
        mem[i] = next;
        x[i] = 0.0f;
        fired[i] = static_cast<std::uint8_t>(next > thr[i]);
    }
}

}  // namespace

synaptic::synaptic(const synaptic_params& p, std::size_t size, std::size_t streams)
    : population(size, streams, {size}), reset_(p.reset), alpha_(lowered(p.alpha, size, true)),
      beta_(lowered(p.beta, size, true)), threshold_(lowered(p.threshold, size, false)), syn_(size * streams, 0.0f),
      mem_(size * streams, 0.0f), fired_(size * streams), moved_(size * streams) {}

void synaptic::reset() {
    std::fill(syn_.begin(), syn_.end(), 0.0f);
    std::fill(mem_.begin(), mem_.end(), 0.0f);
    clear_inputs();
    clear_own_ops();
}

void synaptic::update_range(std::size_t stream, std::size_t begin, std::size_t end, std::uint64_t frame,
                            std::vector<index_t>& spikes, float*) {
    const std::size_t off = stream * size() + begin, n = end - begin;
    float* x = input(0, stream) + begin;
    float *syn = syn_.data() + off, *mem = mem_.data() + off;
    const float *a = alpha_.data() + begin, *b = beta_.data() + begin, *thr = threshold_.data() + begin;
    std::uint8_t* fired = fired_.data() + off;
    std::uint8_t* moved = moved_.data() + off;
    switch (reset_) {
        case leaky_reset::subtract: step<leaky_reset::subtract>(n, x, syn, mem, a, b, thr, fired, moved); break;
        case leaky_reset::zero: step<leaky_reset::zero>(n, x, syn, mem, a, b, thr, fired, moved); break;
        case leaky_reset::none: step<leaky_reset::none>(n, x, syn, mem, a, b, thr, fired, moved); break;
    }
    add_membrane_updates(stream, frame == 0 ? n : count_set(moved, n));
    collect_spikes(fired_.data() + off, n, begin, spikes);
}

void synaptic::save_state(state_store& out, const std::string& prefix) const {
    population::save_state(out, prefix);
    out.put<float>(prefix + "syn", std::span<const float>(syn_), {streams(), size()});
    out.put<float>(prefix + "mem", std::span<const float>(mem_), {streams(), size()});
}

void synaptic::load_state(const state_store& in, const std::string& prefix) {
    population::load_state(in, prefix);
    const auto& s = in.get<float>(prefix + "syn", {streams(), size()});
    const auto& m = in.get<float>(prefix + "mem", {streams(), size()});
    std::copy(s.begin(), s.end(), syn_.begin());
    std::copy(m.begin(), m.end(), mem_.begin());
}

}  // namespace lmusim
