#pragma once
// A spike source: explicit spike trains, or independent Poisson trains with a seed. No inputs.
// Arrays: the same trains in every stream. Poisson: stream s draws its own trains, counter-based
// (the draw for (stream, neuron, step) is a pure function of the seed), so results never depend
// on the thread count. Counted: nothing of its own (its spikes are counted where delivered).
#include "lmusim/neurons/kind.hpp"
#include "lmusim/neurons/population.hpp"

namespace lmusim {

struct spike_source_params {
    static constexpr std::string_view name = "spike_source";
    static constexpr bool spiking = true;
    static constexpr bool frame_input = false;

    enum class mode : std::uint8_t { arrays, poisson };
    mode kind = mode::arrays;
    // arrays: spike i is neuron `neurons[i]` at step `steps[i]` (any order; duplicates rejected).
    std::vector<std::uint64_t> steps;
    std::vector<index_t> neurons;
    // poisson: neuron j spikes in a step with probability rate_hz[j] * dt (one value = all neurons).
    std::vector<double> rate_hz;
    std::uint64_t seed = 0;

    std::size_t input_ports() const { return 0; }
    std::size_t port_size(std::size_t, std::size_t size) const { return size; }
    void validate(const node_context& c) const;
    template <class V> void fields(V& v) {
        v.choice("mode", kind, choices<mode>{{"arrays", mode::arrays}, {"poisson", mode::poisson}});
        if (kind == mode::arrays) {
            v.array("steps", steps, {any_extent});
            v.array("neurons", neurons, {any_extent});
        } else {
            v.array("rate_hz", rate_hz, {any_extent});
            v.attr("seed", seed);
        }
    }
    std::size_t parameters(std::size_t) const { return 0; }
    std::size_t elementwise_per_step(std::size_t, std::size_t) const { return 0; }
};

class spike_source final : public population {
public:
    spike_source(const spike_source_params& p, double dt, std::size_t size, std::size_t streams);
    bool spiking() const noexcept override { return true; }
    void reset() override {}
    void update_range(std::size_t stream, std::size_t begin, std::size_t end, std::uint64_t step,
                      std::vector<index_t>& spikes, float* values) override;

private:
    spike_source_params::mode kind_;
    // arrays, lowered: spikes grouped by step (CSR over steps), neurons ascending within a step
    std::vector<std::uint64_t> step_keys_;
    std::vector<std::uint64_t> step_ptr_;
    std::vector<index_t> step_neurons_;
    // poisson, lowered: per-neuron probability per step
    std::vector<double> prob_;
    std::uint64_t seed_;
};

std::unique_ptr<population> make_population(const spike_source_params& p, const population_args& a);

}  // namespace lmusim
