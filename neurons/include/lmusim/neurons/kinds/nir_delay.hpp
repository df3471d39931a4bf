#pragma once
// NIR's delay (nir.Delay) in whole steps, real-valued: output_i(t) = x_i(t - d_i), where x is the
// sum of the inputs of a step and t counts the node's steps in the clip; 0 before the clip's first
// d_i steps; d_i = 0 passes the input through. delay_steps holds one count for the population or
// one per neuron, each <= 1000000. State: a ring buffer of the last max(d) + 1 inputs per stream
// (checkpointed). Counted: nothing (a delay line moves values; no arithmetic, no membrane).
#include "lmusim/neurons/kind.hpp"
#include "lmusim/neurons/population.hpp"

namespace lmusim {

struct nir_delay_params {
    static constexpr std::string_view name = "nir_delay";
    static constexpr bool spiking = false;
    static constexpr bool frame_input = false;
    static constexpr std::uint64_t max_delay_steps = 1'000'000;

    std::vector<std::uint64_t> delay_steps{0};  // [steps]; 1 or size values

    std::size_t input_ports() const { return 1; }
    std::size_t port_size(std::size_t, std::size_t size) const { return size; }
    void validate(const node_context& c) const;
    template <class V> void fields(V& v) { v.array("delay_steps", delay_steps, {any_extent}); }
    std::size_t parameters(std::size_t) const { return 0; }
    std::size_t elementwise_per_step(std::size_t, std::size_t) const { return 0; }
};

class nir_delay final : public population {
public:
    nir_delay(const nir_delay_params& p, std::size_t size, std::size_t streams);
    bool spiking() const noexcept override { return false; }
    void reset() override;
    void update_range(std::size_t stream, std::size_t begin, std::size_t end, std::uint64_t frame,
                      std::vector<index_t>& spikes, float* values) override;
    void save_state(state_store& out, const std::string& prefix) const override;
    void load_state(const state_store& in, const std::string& prefix) override;

    std::size_t depth() const noexcept { return depth_; }

private:
    std::vector<std::uint64_t> delay_;  // lowered: per neuron
    std::size_t depth_;                 // ring slots: max delay + 1
    std::vector<float> ring_;           // [stream][slot][neuron]; slot = frame mod depth
};

std::unique_ptr<population> make_population(const nir_delay_params& p, const population_args& a);

}  // namespace lmusim
