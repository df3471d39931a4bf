#include "lmusim/neurons/kinds/synaptic.hpp"

#include <algorithm>

#include "lmusim/core/check.hpp"
#include "lmusim/core/strings.hpp"

namespace lmusim {

void synaptic_params::validate(const node_context& c) const {
    check_per_population_or_neuron(c, "alpha", alpha);
    check_per_population_or_neuron(c, "beta", beta);
    check_per_population_or_neuron(c, "threshold", threshold);
    if (reset == leaky_reset::zero)
        check::fail(cat(c.label, ": reset 'zero' is not supported by the synaptic kind, expected subtract or none"));
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

template <bool Subtract>
std::uint64_t step(std::size_t n, float* __restrict x, float* __restrict syn, float* __restrict mem, const float* __restrict alpha,
          const float* __restrict beta, const float* __restrict thr, std::uint8_t* __restrict fired) {
    std::uint64_t changed = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const float m = mem[i];
        const bool was_above = m > thr[i];
        const float s = alpha[i] * syn[i] + x[i];
        float next = beta[i] * m + s;
        if constexpr (Subtract) next = next - (was_above ? thr[i] : 0.0f);
        changed += next != m;
        syn[i] = s;
        mem[i] = next;
        x[i] = 0.0f;
        fired[i] = static_cast<std::uint8_t>(next > thr[i]);
    }
    return changed;
}

}  // namespace

synaptic::synaptic(const synaptic_params& p, std::size_t size, std::size_t streams)
    : population(size, streams, {size}), subtract_(p.reset == leaky_reset::subtract), alpha_(lowered(p.alpha, size, true)),
      beta_(lowered(p.beta, size, true)), threshold_(lowered(p.threshold, size, false)), syn_(size * streams, 0.0f),
      mem_(size * streams, 0.0f), fired_(size * streams) {}

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
    std::uint64_t changed = 0;
    if (subtract_)
        changed = step<true>(n, x, syn_.data() + off, mem_.data() + off, alpha_.data() + begin, beta_.data() + begin,
                   threshold_.data() + begin, fired_.data() + off);
    else
        changed = step<false>(n, x, syn_.data() + off, mem_.data() + off, alpha_.data() + begin, beta_.data() + begin,
                    threshold_.data() + begin, fired_.data() + off);
    add_membrane_updates(stream, frame == 0 ? n : changed);
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
