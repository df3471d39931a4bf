#pragma once
// Discrete-time LIF with spikingjelly's semantics (decay_input = true, hard reset):
//   x = affine(sum of inputs this step)
//   h = v + (x - (v - v_reset)) / tau
//   spike if h >= v_threshold;  v = spike ? v_reset : h
// One input port. v starts at v_reset. Counted: one element-wise update per neuron and step,
// plus the affine's.
#include "lmusim/neurons/kind.hpp"
#include "lmusim/neurons/population.hpp"

namespace lmusim {

struct discrete_lif_params {
    static constexpr std::string_view name = "discrete_lif";
    static constexpr bool spiking = true;
    static constexpr bool frame_input = false;

    float tau = 2.0f;          // membrane time constant [steps], > 1 for a leak
    float v_threshold = 1.0f;  // firing threshold (>=)
    float v_reset = 0.0f;      // hard-reset value and initial v
    input_affine affine;       // optional per-neuron input affine (BatchNorm)

    std::size_t input_ports() const { return 1; }
    std::size_t port_size(std::size_t, std::size_t size) const { return size; }
    void validate(const node_context& c) const;
    template <class V> void fields(V& v) {
        v.attr("tau", tau);
        v.attr("v_threshold", v_threshold);
        v.attr("v_reset", v_reset);
        v.affine("", affine);
    }
    std::size_t parameters(std::size_t size) const { return affine.parameters(size); }
    std::size_t elementwise_per_step(std::size_t size, std::size_t) const { return size + affine.ops(size); }
};

class discrete_lif final : public population {
public:
    discrete_lif(const discrete_lif_params& p, std::size_t size, std::size_t streams);
    bool spiking() const noexcept override { return true; }
    void reset() override;
    void update_range(std::size_t stream, std::size_t begin, std::size_t end, std::uint64_t step,
                      std::vector<index_t>& spikes, float* values) override;
    void save_state(state_store& out, const std::string& prefix) const override;
    void load_state(const state_store& in, const std::string& prefix) override;

    std::span<const float> v(std::size_t stream) const { return {v_.data() + stream * size(), size()}; }
    std::span<float> v(std::size_t stream) { return {v_.data() + stream * size(), size()}; }

private:
    discrete_lif_params p_;  // parameters (P_)
    float inv_tau_;          // lowered: 1/tau, used when tau is a power of two (then x/tau == x*inv_tau)
    bool tau_pow2_;
    std::vector<float> v_;   // state (S_): membrane, [stream][neuron]
};

std::unique_ptr<population> make_population(const discrete_lif_params& p, const population_args& a);

}  // namespace lmusim
