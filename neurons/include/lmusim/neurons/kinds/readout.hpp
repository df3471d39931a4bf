#pragma once
// Running mean of the input over the frames so far, then linear: y = W (sum x) / (t+1) + b.
// Counted (own ops): one SOP per nonzero input value, size x input_size MACs (and as many
// dense-equivalent MACs) per frame.
#include "lmusim/core/weight_format.hpp"
#include "lmusim/neurons/kind.hpp"
#include "lmusim/neurons/population.hpp"

namespace lmusim {

struct readout_params {
    static constexpr std::string_view name = "readout";
    static constexpr bool spiking = false;
    static constexpr bool frame_input = false;

    std::size_t input_size = 0;
    std::vector<float> weight;  // [size x input_size] row-major
    std::vector<float> bias;    // [size]

    std::size_t input_ports() const { return 1; }
    std::size_t port_size(std::size_t, std::size_t) const { return input_size; }
    void validate(const node_context& c) const;
    template <class V> void fields(V& v) {
        v.count("input_size", input_size);
        v.array("weight", weight, {v.size(), input_size});
        v.array("bias", bias, {v.size()});
    }
    std::size_t parameters(std::size_t) const { return weight.size() + bias.size(); }
    std::size_t elementwise_per_step(std::size_t, std::size_t) const { return 0; }
    // Compressed weights (docs/weights.md): the linear layer's weights, one output channel per row.
    weight_channels synaptic_weights(std::size_t size);
};

class readout final : public population {
public:
    readout(const readout_params& p, std::size_t size, std::size_t streams);
    bool spiking() const noexcept override { return false; }
    bool splittable() const noexcept override { return false; }
    void reset() override;
    void update_range(std::size_t stream, std::size_t begin, std::size_t end, std::uint64_t frame,
                      std::vector<index_t>& spikes, float* values) override;
    void save_state(state_store& out, const std::string& prefix) const override;
    void load_state(const state_store& in, const std::string& prefix) override;

private:
    readout_params p_;
    std::vector<double> sum_;   // [stream][input_size] running sum of the input (exact for spikes)
    std::vector<float> mean_;   // [stream][input_size] scratch
    std::vector<std::uint32_t> nonzero_;  // per input: nonzero weights of its column
};

std::unique_ptr<population> make_population(const readout_params& p, const population_args& a);

}  // namespace lmusim
