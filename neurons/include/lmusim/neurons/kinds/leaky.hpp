#pragma once
// snnTorch's Leaky neuron (the L2MU's populations), with its delayed reset:
//   reset = (mem of the previous step > threshold)
//   mem   = clamp(beta, 0, 1) * mem + I - reset * threshold     (reset "subtract", the default)
//           clamp(beta, 0, 1) * (reset ? 0 : mem) + I            (reset "zero")
//           clamp(beta, 0, 1) * mem + I                          (reset "none")
//   spike = mem > threshold                                      (strict)
// I is the sum of this step's inputs. beta and threshold hold one value for the population or one
// per neuron. mem starts at 0. Float32, each operation rounded as PyTorch does (no fused
// multiply-add). Counted: one element-wise update per neuron and step.
#include "lmusim/neurons/kind.hpp"
#include "lmusim/neurons/population.hpp"

namespace lmusim {

enum class leaky_reset : std::uint8_t { subtract, zero, none };
inline constexpr choices<leaky_reset> leaky_reset_names{
    {"subtract", leaky_reset::subtract}, {"zero", leaky_reset::zero}, {"none", leaky_reset::none}};

struct leaky_params {
    static constexpr std::string_view name = "leaky";
    static constexpr bool spiking = true;
    static constexpr bool frame_input = false;

    std::vector<float> beta{0.9f};       // decay, clamped to [0, 1] when used; 1 or size values
    std::vector<float> threshold{1.0f};  // 1 or size values
    leaky_reset reset = leaky_reset::subtract;

    std::size_t input_ports() const { return 1; }
    std::size_t port_size(std::size_t, std::size_t size) const { return size; }
    void validate(const node_context& c) const;
    template <class V> void fields(V& v) {
        v.array("beta", beta, {any_extent});
        v.array("threshold", threshold, {any_extent});
        v.choice("reset", reset, leaky_reset_names);
    }
    std::size_t parameters(std::size_t) const { return beta.size() + threshold.size(); }
    std::size_t elementwise_per_step(std::size_t size, std::size_t) const { return size; }
};

// Checks that `values` holds 1 or n finite values (shared with the synaptic kind).
void check_per_population_or_neuron(const node_context& c, const char* what, const std::vector<float>& values);

class leaky final : public population {
public:
    leaky(const leaky_params& p, std::size_t size, std::size_t streams);
    bool spiking() const noexcept override { return true; }
    void reset() override;
    void update_range(std::size_t stream, std::size_t begin, std::size_t end, std::uint64_t step,
                      std::vector<index_t>& spikes, float* values) override;
    void save_state(state_store& out, const std::string& prefix) const override;
    void load_state(const state_store& in, const std::string& prefix) override;

    std::span<const float> mem(std::size_t stream) const { return {mem_.data() + stream * size(), size()}; }

private:
    leaky_reset reset_;
    std::vector<float> beta_, threshold_;  // lowered: per neuron, beta clamped
    std::vector<float> mem_;               // [stream][neuron]
    std::vector<std::uint8_t> fired_, moved_;  // scratch flags
};

std::unique_ptr<population> make_population(const leaky_params& p, const population_args& a);

}  // namespace lmusim
