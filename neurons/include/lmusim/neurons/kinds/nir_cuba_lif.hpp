#pragma once
// NIR's current-based LIF (nir.CubaLIF: tau_syn dI/dt = -I + w_in x, tau_mem dv/dt =
// (v_leak - v) + r I), stepped with its own dt. Per neuron and step, in float32, without fused
// multiply-adds, in exactly this order:
//   a = w_in * x;  c = a - I;  I = I + ks * c                       (the synaptic current)
//   a = r * I;  c = (v_leak - v) + a;  v = v + km * c               (I: the current just updated)
//   spike = v > v_threshold (strict); reset ("zero" or "subtract") as nir_lif, on v only
// ks from tau_syn, km from tau_mem, each as nir_lif's k (nir_lif.hpp). Every parameter holds one
// value for the population or one per neuron; I and v start at 0. Counted: two element-wise
// updates per neuron and step (current and membrane); membrane updates: the neurons whose v
// changed (every neuron on a clip's first step).
#include "lmusim/neurons/kind.hpp"
#include "lmusim/neurons/kinds/nir_lif.hpp"
#include "lmusim/neurons/population.hpp"

namespace lmusim {

struct nir_cuba_lif_params {
    static constexpr std::string_view name = "nir_cuba_lif";
    static constexpr bool spiking = true;
    static constexpr bool frame_input = false;

    std::vector<double> tau_syn{0.005};   // synaptic time constant [s], > 0; 1 or size values
    std::vector<double> tau_mem{0.01};    // membrane time constant [s], > 0; 1 or size values
    std::vector<float> r{1.0f};           // 1 or size values
    std::vector<float> v_leak{0.0f};      // 1 or size values
    std::vector<float> v_threshold{1.0f}; // 1 or size values
    std::vector<float> v_reset{0.0f};     // 1 or size values
    std::vector<float> w_in{1.0f};        // input weight of the current; 1 or size values
    double dt = 1e-3;                     // [s], > 0
    nir_discretization discretization = nir_discretization::euler;
    nir_reset reset = nir_reset::zero;

    std::size_t input_ports() const { return 1; }
    std::size_t port_size(std::size_t, std::size_t size) const { return size; }
    void validate(const node_context& c) const;
    template <class V> void fields(V& v) {
        v.array("tau_syn", tau_syn, {any_extent});
        v.array("tau_mem", tau_mem, {any_extent});
        v.array("r", r, {any_extent});
        v.array("v_leak", v_leak, {any_extent});
        v.array("v_threshold", v_threshold, {any_extent});
        v.array("v_reset", v_reset, {any_extent});
        v.array("w_in", w_in, {any_extent});
        v.attr("dt", dt);
        v.choice("discretization", discretization, nir_discretization_names);
        v.choice("reset", reset, nir_reset_names);
    }
    std::size_t parameters(std::size_t) const {
        return tau_syn.size() + tau_mem.size() + r.size() + v_leak.size() + v_threshold.size() + v_reset.size() +
               w_in.size();
    }
    std::size_t elementwise_per_step(std::size_t size, std::size_t) const { return 2 * size; }
};

class nir_cuba_lif final : public population {
public:
    nir_cuba_lif(const nir_cuba_lif_params& p, std::size_t size, std::size_t streams);
    bool spiking() const noexcept override { return true; }
    void reset() override;
    void update_range(std::size_t stream, std::size_t begin, std::size_t end, std::uint64_t frame,
                      std::vector<index_t>& spikes, float* values) override;
    void save_state(state_store& out, const std::string& prefix) const override;
    void load_state(const state_store& in, const std::string& prefix) override;

    std::span<const float> v(std::size_t stream) const { return {v_.data() + stream * size(), size()}; }
    std::span<const float> current(std::size_t stream) const { return {i_.data() + stream * size(), size()}; }

private:
    nir_reset reset_;
    std::vector<float> ks_, km_, r_, v_leak_, threshold_, v_reset_, w_in_;  // lowered: per neuron
    std::vector<float> i_, v_;                                             // [stream][neuron]
    std::vector<std::uint8_t> fired_, moved_;                              // scratch flags
};

std::unique_ptr<population> make_population(const nir_cuba_lif_params& p, const population_args& a);

}  // namespace lmusim
