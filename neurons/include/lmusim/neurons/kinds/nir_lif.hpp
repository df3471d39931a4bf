#pragma once
// NIR's leaky integrate-and-fire neuron (nir.LIF: tau dv/dt = (v_leak - v) + r x), stepped with
// its own dt. Per neuron and step, in float32, without fused multiply-adds, in exactly this order
// (the NIR reader's numpy reference compares spike for spike):
//   a = r * x;  c = (v_leak - v) + a;  v = v + k * c
//   spike = v > v_threshold (strict)
//   reset "zero": v = v_reset where spiking;  "subtract": v = v - v_threshold where spiking
// x is the sum of this step's inputs. k is computed in float64 from dt and tau and rounded to
// float32 once: "euler" k = dt / tau, "exact" k = -expm1(-dt / tau). tau, r, v_leak, v_threshold
// and v_reset hold one value for the population or one per neuron; v starts at 0.
// Counted: one element-wise update per neuron and step; NeuroBench's membrane updates are the
// neurons whose v changed (every neuron on a clip's first step). The arithmetic is shared with
// the other NIR kinds (neurons/src/kinds/nir_common.hpp).
#include "lmusim/neurons/kind.hpp"
#include "lmusim/neurons/population.hpp"

namespace lmusim {

// How a NIR kind turns its time constants into a per-step factor (see above).
enum class nir_discretization : std::uint8_t { euler, exact };
inline constexpr choices<nir_discretization> nir_discretization_names{{"euler", nir_discretization::euler},
                                                                      {"exact", nir_discretization::exact}};

// What a spiking NIR kind does to v where it spiked.
enum class nir_reset : std::uint8_t { zero, subtract };
inline constexpr choices<nir_reset> nir_reset_names{{"zero", nir_reset::zero}, {"subtract", nir_reset::subtract}};

struct nir_lif_params {
    static constexpr std::string_view name = "nir_lif";
    static constexpr bool spiking = true;
    static constexpr bool frame_input = false;

    std::vector<double> tau{0.01};        // membrane time constant [s], > 0; 1 or size values
    std::vector<float> r{1.0f};           // input resistance; 1 or size values
    std::vector<float> v_leak{0.0f};      // leak potential; 1 or size values
    std::vector<float> v_threshold{1.0f}; // 1 or size values
    std::vector<float> v_reset{0.0f};     // the potential after a spike (reset "zero"); 1 or size values
    double dt = 1e-3;                     // the kind's step [s], > 0 (independent of the network's dt_ms)
    nir_discretization discretization = nir_discretization::euler;
    nir_reset reset = nir_reset::zero;

    std::size_t input_ports() const { return 1; }
    std::size_t port_size(std::size_t, std::size_t size) const { return size; }
    void validate(const node_context& c) const;
    template <class V> void fields(V& v) {
        v.array("tau", tau, {any_extent});
        v.array("r", r, {any_extent});
        v.array("v_leak", v_leak, {any_extent});
        v.array("v_threshold", v_threshold, {any_extent});
        v.array("v_reset", v_reset, {any_extent});
        v.attr("dt", dt);
        v.choice("discretization", discretization, nir_discretization_names);
        v.choice("reset", reset, nir_reset_names);
    }
    std::size_t parameters(std::size_t) const {
        return tau.size() + r.size() + v_leak.size() + v_threshold.size() + v_reset.size();
    }
    std::size_t elementwise_per_step(std::size_t size, std::size_t) const { return size; }
};

class nir_lif final : public population {
public:
    nir_lif(const nir_lif_params& p, std::size_t size, std::size_t streams);
    bool spiking() const noexcept override { return true; }
    void reset() override;
    void update_range(std::size_t stream, std::size_t begin, std::size_t end, std::uint64_t frame,
                      std::vector<index_t>& spikes, float* values) override;
    void save_state(state_store& out, const std::string& prefix) const override;
    void load_state(const state_store& in, const std::string& prefix) override;

    std::span<const float> v(std::size_t stream) const { return {v_.data() + stream * size(), size()}; }
    // The lowered per-step factor k of each neuron.
    std::span<const float> step_factor() const { return k_; }

private:
    nir_reset reset_;
    std::vector<float> k_, r_, v_leak_, threshold_, v_reset_;  // lowered: per neuron
    std::vector<float> v_;                                     // [stream][neuron]
    std::vector<std::uint8_t> fired_, moved_;                  // scratch flags
};

std::unique_ptr<population> make_population(const nir_lif_params& p, const population_args& a);

}  // namespace lmusim
