#pragma once
// Spike frames supplied by the caller at run time (e.g. the Braille taxel events of the L2MU), one
// per step, like `input` but spiking: a neuron spikes in a step where its frame value is not 0
// (run_clips checks that values are 0 or 1). Projections from it are event-driven and counted as
// synaptic operations. Counted: nothing of its own.
#include "lmusim/neurons/kind.hpp"
#include "lmusim/neurons/population.hpp"

namespace lmusim {

struct spike_input_params {
    static constexpr std::string_view name = "spike_input";
    static constexpr bool spiking = true;
    static constexpr bool frame_input = true;

    std::size_t input_ports() const { return 0; }
    std::size_t port_size(std::size_t, std::size_t size) const { return size; }
    void validate(const node_context&) const {}
    template <class V> void fields(V&) {}
    std::size_t parameters(std::size_t) const { return 0; }
    std::size_t elementwise_per_step(std::size_t, std::size_t) const { return 0; }
};

class spike_frames final : public population {
public:
    spike_frames(std::size_t size, std::size_t streams) : population(size, streams, {size}) {}
    bool spiking() const noexcept override { return true; }
    void reset() override { clear_inputs(); }
    void update_range(std::size_t stream, std::size_t begin, std::size_t end, std::uint64_t,
                      std::vector<index_t>& spikes, float*) override {
        float* x = input(0, stream);
        for (std::size_t i = begin; i < end; ++i) {
            if (x[i] != 0.0f) spikes.push_back(static_cast<index_t>(i));
            x[i] = 0.0f;
        }
    }
};

inline std::unique_ptr<population> make_population(const spike_input_params&, const population_args& a) {
    return std::make_unique<spike_frames>(a.size, a.streams);
}

}  // namespace lmusim
