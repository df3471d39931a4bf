#pragma once
// LIF populations: discrete-time (spikingjelly) and continuous-time current-based (CUBA).
#include "lmusim/neurons/population.hpp"

namespace lmusim {

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
    std::vector<std::uint8_t> fired_;  // scratch flags, [stream][neuron]
};

}  // namespace lmusim
