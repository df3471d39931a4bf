#pragma once
// NIR's current-based leaky integrator (nir.CubaLI): nir_cuba_lif's current and membrane update
// without spikes, real-valued; its output is v after the update. Per neuron and step, float32:
//   a = w_in * x;  c = a - I;  I = I + ks * c
//   a = r * I;  c = (v_leak - v) + a;  v = v + km * c
// (nir_cuba_lif.hpp). Every parameter holds one value for the population or one per neuron; I and
// v start at 0. Counted: two element-wise updates per neuron and step; membrane updates: the
// neurons whose v changed (every neuron on a clip's first step).
#include "lmusim/neurons/kind.hpp"
#include "lmusim/neurons/kinds/nir_lif.hpp"
#include "lmusim/neurons/population.hpp"

namespace lmusim {

struct nir_cuba_li_params {
    static constexpr std::string_view name = "nir_cuba_li";
    static constexpr bool spiking = false;
    static constexpr bool frame_input = false;

    std::vector<double> tau_syn{0.005};  // [s], > 0; 1 or size values
    std::vector<double> tau_mem{0.01};   // [s], > 0; 1 or size values
    std::vector<float> r{1.0f};          // 1 or size values
    std::vector<float> v_leak{0.0f};     // 1 or size values
    std::vector<float> w_in{1.0f};       // 1 or size values
    double dt = 1e-3;                    // [s], > 0
    nir_discretization discretization = nir_discretization::euler;

    std::size_t input_ports() const { return 1; }
    std::size_t port_size(std::size_t, std::size_t size) const { return size; }
    void validate(const node_context& c) const;
    template <class V> void fields(V& v) {
        v.array("tau_syn", tau_syn, {any_extent});
        v.array("tau_mem", tau_mem, {any_extent});
        v.array("r", r, {any_extent});
        v.array("v_leak", v_leak, {any_extent});
        v.array("w_in", w_in, {any_extent});
        v.attr("dt", dt);
        v.choice("discretization", discretization, nir_discretization_names);
    }
    std::size_t parameters(std::size_t) const {
        return tau_syn.size() + tau_mem.size() + r.size() + v_leak.size() + w_in.size();
    }
    std::size_t elementwise_per_step(std::size_t size, std::size_t) const { return 2 * size; }
};

class nir_cuba_li final : public population {
public:
    nir_cuba_li(const nir_cuba_li_params& p, std::size_t size, std::size_t streams);
    bool spiking() const noexcept override { return false; }
    void reset() override;
    void update_range(std::size_t stream, std::size_t begin, std::size_t end, std::uint64_t frame,
                      std::vector<index_t>& spikes, float* values) override;
    void save_state(state_store& out, const std::string& prefix) const override;
    void load_state(const state_store& in, const std::string& prefix) override;

    std::span<const float> v(std::size_t stream) const { return {v_.data() + stream * size(), size()}; }
    std::span<const float> current(std::size_t stream) const { return {i_.data() + stream * size(), size()}; }

private:
    std::vector<float> ks_, km_, r_, v_leak_, w_in_;  // lowered: per neuron
    std::vector<float> i_, v_;                       // [stream][neuron]
    std::vector<std::uint8_t> moved_;                // scratch flags
};

std::unique_ptr<population> make_population(const nir_cuba_li_params& p, const population_args& a);

}  // namespace lmusim
