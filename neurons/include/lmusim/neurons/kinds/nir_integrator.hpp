#pragma once
// NIR's integrator (nir.I: dv/dt = r x, one step per input), real-valued; its output is v after
// the update. Per neuron and step, in float32: v = v + r * x (x: the sum of this step's inputs).
// r holds one value for the population or one per neuron; v starts at 0. Counted: one
// element-wise update per neuron and step; membrane updates: the neurons whose v changed (every
// neuron on a clip's first step).
#include "lmusim/neurons/kind.hpp"
#include "lmusim/neurons/population.hpp"

namespace lmusim {

struct nir_integrator_params {
    static constexpr std::string_view name = "nir_integrator";
    static constexpr bool spiking = false;
    static constexpr bool frame_input = false;

    std::vector<float> r{1.0f};  // 1 or size values

    std::size_t input_ports() const { return 1; }
    std::size_t port_size(std::size_t, std::size_t size) const { return size; }
    void validate(const node_context& c) const;
    template <class V> void fields(V& v) { v.array("r", r, {any_extent}); }
    std::size_t parameters(std::size_t) const { return r.size(); }
    std::size_t elementwise_per_step(std::size_t size, std::size_t) const { return size; }
};

class nir_integrator final : public population {
public:
    nir_integrator(const nir_integrator_params& p, std::size_t size, std::size_t streams);
    bool spiking() const noexcept override { return false; }
    void reset() override;
    void update_range(std::size_t stream, std::size_t begin, std::size_t end, std::uint64_t frame,
                      std::vector<index_t>& spikes, float* values) override;
    void save_state(state_store& out, const std::string& prefix) const override;
    void load_state(const state_store& in, const std::string& prefix) override;

    std::span<const float> v(std::size_t stream) const { return {v_.data() + stream * size(), size()}; }

private:
    std::vector<float> r_;             // lowered: per neuron
    std::vector<float> v_;             // [stream][neuron]
    std::vector<std::uint8_t> moved_;  // scratch flags
};

std::unique_ptr<population> make_population(const nir_integrator_params& p, const population_args& a);

}  // namespace lmusim
