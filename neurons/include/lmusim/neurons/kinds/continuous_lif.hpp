#pragma once
// Continuous-time current-based LIF (the Vogels-Abbott CUBA neuron as Brian2 and NEST define it),
// integrated exactly with the step dt:
//   tau_m dv/dt = (v_rest + i_offset - v) + g_exc + g_inh       [mV]
//   dg_exc/dt = -g_exc / tau_exc,  dg_inh/dt = -g_inh / tau_inh   [mV]
// Input port 0 adds its weights to g_exc, port 1 to g_inh (weights in mV, sign as given).
// A spike is emitted when v > v_threshold (strict, as Brian2's 'v > Vt'); v is then set to v_reset
// and held there for t_ref (the currents keep decaying). Input that arrives at step n is added to
// the currents before the update of step n. Counted: one element-wise update per neuron and step.
#include "lmusim/neurons/kind.hpp"
#include "lmusim/neurons/population.hpp"

namespace lmusim {

struct continuous_lif_params {
    static constexpr std::string_view name = "continuous_lif";
    static constexpr bool spiking = true;
    static constexpr bool frame_input = false;

    double tau_m = 20.0;         // [ms]
    double tau_exc = 5.0;        // [ms] port 0
    double tau_inh = 10.0;       // [ms] port 1
    double v_rest = -49.0;       // [mV] leak reversal potential
    double i_offset = 0.0;       // [mV] constant drive (R * I), added to v_rest
    double v_threshold = -50.0;  // [mV]
    double v_reset = -60.0;      // [mV]
    double t_ref = 5.0;          // [ms] refractory period, rounded to whole steps
    std::vector<float> v_init;   // [mV] per neuron; empty: every neuron starts at v_rest

    std::size_t input_ports() const { return 2; }
    std::size_t port_size(std::size_t, std::size_t size) const { return size; }
    void validate(const node_context& c) const;
    template <class V> void fields(V& v) {
        v.attr("tau_m", tau_m);
        v.attr("tau_exc", tau_exc);
        v.attr("tau_inh", tau_inh);
        v.attr("v_rest", v_rest);
        v.attr("i_offset", i_offset);
        v.attr("v_threshold", v_threshold);
        v.attr("v_reset", v_reset);
        v.attr("t_ref", t_ref);
        v.array("v_init", v_init, {v.size()}, presence::optional);
    }
    std::size_t parameters(std::size_t) const { return 0; }
    std::size_t elementwise_per_step(std::size_t size, std::size_t) const { return size; }
};

class continuous_lif final : public population {
public:
    continuous_lif(const continuous_lif_params& p, double dt, std::size_t size, std::size_t streams);
    bool spiking() const noexcept override { return true; }
    void reset() override;
    void update_range(std::size_t stream, std::size_t begin, std::size_t end, std::uint64_t step,
                      std::vector<index_t>& spikes, float* values) override;
    void save_state(state_store& out, const std::string& prefix) const override;
    void load_state(const state_store& in, const std::string& prefix) override;

    std::span<const float> v(std::size_t stream) const { return {v_.data() + stream * size(), size()}; }
    std::span<float> v(std::size_t stream) { return {v_.data() + stream * size(), size()}; }
    std::span<float> g_exc(std::size_t stream) { return {ge_.data() + stream * size(), size()}; }
    std::span<float> g_inh(std::size_t stream) { return {gi_.data() + stream * size(), size()}; }
    std::span<std::int32_t> refractory(std::size_t stream) { return {ref_.data() + stream * size(), size()}; }

    // Lowered propagators (computed once in the constructor from dt, never in the step loop).
    struct propagators {
        float p_mm, p_me, p_mi, p_ee, p_ii;  // v <- v_inf + (v - v_inf) p_mm + ge p_me + gi p_mi
        float v_inf, v_threshold, v_reset;
        std::int32_t ref_steps;              // steps held at v_reset after a spike, excluding the spike step
    };
    const propagators& lowered() const noexcept { return b_; }

private:
    continuous_lif_params p_;
    propagators b_;
    std::vector<float> v_, ge_, gi_;
    std::vector<std::int32_t> ref_;
};

std::unique_ptr<population> make_population(const continuous_lif_params& p, const population_args& a);

}  // namespace lmusim
