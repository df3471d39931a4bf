#pragma once
// NIR's integrate-and-fire neuron (nir.IF: dv/dt = r x, one step per input). Per neuron and step,
// in float32:
//   v = v + r * x
//   spike = v > v_threshold (strict); reset "zero": v = v_reset where spiking;
//                                      "subtract": v = v - v_threshold where spiking
// x is the sum of this step's inputs. r, v_threshold and v_reset hold one value for the
// population or one per neuron; v starts at 0. Counted: one element-wise update per neuron and
// step; membrane updates: the neurons whose v changed (every neuron on a clip's first step).
#include "lmusim/neurons/kind.hpp"
#include "lmusim/neurons/kinds/nir_lif.hpp"
#include "lmusim/neurons/population.hpp"

namespace lmusim {

struct nir_if_params {
    static constexpr std::string_view name = "nir_if";
    static constexpr bool spiking = true;
    static constexpr bool frame_input = false;

    std::vector<float> r{1.0f};            // 1 or size values
    std::vector<float> v_threshold{1.0f};  // 1 or size values
    std::vector<float> v_reset{0.0f};      // 1 or size values
    nir_reset reset = nir_reset::zero;

    std::size_t input_ports() const { return 1; }
    std::size_t port_size(std::size_t, std::size_t size) const { return size; }
    void validate(const node_context& c) const;
    template <class V> void fields(V& v) {
        v.array("r", r, {any_extent});
        v.array("v_threshold", v_threshold, {any_extent});
        v.array("v_reset", v_reset, {any_extent});
        v.choice("reset", reset, nir_reset_names);
    }
    std::size_t parameters(std::size_t) const { return r.size() + v_threshold.size() + v_reset.size(); }
    std::size_t elementwise_per_step(std::size_t size, std::size_t) const { return size; }
};

class nir_if final : public population {
public:
    nir_if(const nir_if_params& p, std::size_t size, std::size_t streams);
    bool spiking() const noexcept override { return true; }
    void reset() override;
    void update_range(std::size_t stream, std::size_t begin, std::size_t end, std::uint64_t frame,
                      std::vector<index_t>& spikes, float* values) override;
    void save_state(state_store& out, const std::string& prefix) const override;
    void load_state(const state_store& in, const std::string& prefix) override;

    std::span<const float> v(std::size_t stream) const { return {v_.data() + stream * size(), size()}; }

private:
    nir_reset reset_;
    std::vector<float> r_, threshold_, v_reset_;  // lowered: per neuron
    std::vector<float> v_;                        // [stream][neuron]
    std::vector<std::uint8_t> fired_, moved_;     // scratch flags
};

std::unique_ptr<population> make_population(const nir_if_params& p, const population_args& a);

}  // namespace lmusim
