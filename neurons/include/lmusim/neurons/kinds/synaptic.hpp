#pragma once
// snnTorch's Synaptic neuron (current-based LIF; the L2MU's CuBa variant), with the correct
// equations (not snnTorch 0.8.0-0.9.1's explicit-state bug) and the delayed reset:
//   reset = (mem of the previous step > threshold)
//   syn   = clamp(alpha, 0, 1) * syn + I
//   mem   = clamp(beta, 0, 1) * mem + syn - reset * threshold   (reset "subtract", the default)
//           new - reset * new, new = clamp(beta, 0, 1) * mem + syn  (reset "zero", as snnTorch 0.9.1;
//                                                                    syn is not reset)
//           clamp(beta, 0, 1) * mem + syn                       (reset "none")
//   spike = mem > threshold
// alpha, beta and threshold hold one value for the population or one per neuron; syn and mem
// start at 0. Counted: one element-wise update per neuron and step.
#include "lmusim/neurons/kind.hpp"
#include "lmusim/neurons/kinds/leaky.hpp"
#include "lmusim/neurons/population.hpp"

namespace lmusim {

struct synaptic_params {
    static constexpr std::string_view name = "synaptic";
    static constexpr bool spiking = true;
    static constexpr bool frame_input = false;

    std::vector<float> alpha{0.9f};      // synaptic decay, clamped to [0, 1]; 1 or size values
    std::vector<float> beta{0.9f};       // membrane decay, clamped to [0, 1]; 1 or size values
    std::vector<float> threshold{1.0f};  // 1 or size values
    leaky_reset reset = leaky_reset::subtract;

    std::size_t input_ports() const { return 1; }
    std::size_t port_size(std::size_t, std::size_t size) const { return size; }
    void validate(const node_context& c) const;
    template <class V> void fields(V& v) {
        v.array("alpha", alpha, {any_extent});
        v.array("beta", beta, {any_extent});
        v.array("threshold", threshold, {any_extent});
        v.choice("reset", reset, leaky_reset_names);
    }
    std::size_t parameters(std::size_t) const { return alpha.size() + beta.size() + threshold.size(); }
    std::size_t elementwise_per_step(std::size_t size, std::size_t) const { return size; }
};

class synaptic final : public population {
public:
    synaptic(const synaptic_params& p, std::size_t size, std::size_t streams);
    bool spiking() const noexcept override { return true; }
    void reset() override;
    void update_range(std::size_t stream, std::size_t begin, std::size_t end, std::uint64_t step,
                      std::vector<index_t>& spikes, float* values) override;
    void save_state(state_store& out, const std::string& prefix) const override;
    void load_state(const state_store& in, const std::string& prefix) override;

private:
    leaky_reset reset_;
    std::vector<float> alpha_, beta_, threshold_;  // lowered: per neuron, decays clamped
    std::vector<float> syn_, mem_;                 // [stream][neuron]
    std::vector<std::uint8_t> fired_, moved_;      // scratch flags
};

std::unique_ptr<population> make_population(const synaptic_params& p, const population_args& a);

}  // namespace lmusim
