#pragma once
// NIR's threshold (nir.Threshold): a stateless spike generator, spike where x > threshold
// (strict; x is the sum of this step's inputs). threshold holds one value for the population or
// one per neuron. Counted: one element-wise update (the comparison) per neuron and step; no
// membrane, so no membrane updates.
#include "lmusim/neurons/kind.hpp"
#include "lmusim/neurons/population.hpp"

namespace lmusim {

struct threshold_params {
    static constexpr std::string_view name = "threshold";
    static constexpr bool spiking = true;
    static constexpr bool frame_input = false;

    std::vector<float> threshold{0.0f};  // 1 or size values

    std::size_t input_ports() const { return 1; }
    std::size_t port_size(std::size_t, std::size_t size) const { return size; }
    void validate(const node_context& c) const;
    template <class V> void fields(V& v) { v.array("threshold", threshold, {any_extent}); }
    std::size_t parameters(std::size_t) const { return threshold.size(); }
    std::size_t elementwise_per_step(std::size_t size, std::size_t) const { return size; }
};

class threshold_gate final : public population {
public:
    threshold_gate(const threshold_params& p, std::size_t size, std::size_t streams);
    bool spiking() const noexcept override { return true; }
    void reset() override { clear_inputs(); }
    void update_range(std::size_t stream, std::size_t begin, std::size_t end, std::uint64_t frame,
                      std::vector<index_t>& spikes, float* values) override;

private:
    std::vector<float> threshold_;      // lowered: per neuron
    std::vector<std::uint8_t> fired_;   // scratch flags, [stream][neuron]
};

std::unique_ptr<population> make_population(const threshold_params& p, const population_args& a);

}  // namespace lmusim
