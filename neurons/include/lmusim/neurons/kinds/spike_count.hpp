#pragma once
// Counts what arrives: values = the sum of every input since the clip began (for spikes through
// an identity projection: the spike count so far). The L2MU's output is the spike count of its
// output population per class. Real-valued, one input port; counted: nothing of its own.
#include <algorithm>

#include "lmusim/neurons/kind.hpp"
#include "lmusim/neurons/population.hpp"

namespace lmusim {

struct spike_count_params {
    static constexpr std::string_view name = "spike_count";
    static constexpr bool spiking = false;
    static constexpr bool frame_input = false;

    std::size_t input_ports() const { return 1; }
    std::size_t port_size(std::size_t, std::size_t size) const { return size; }
    void validate(const node_context&) const {}
    template <class V> void fields(V&) {}
    std::size_t parameters(std::size_t) const { return 0; }
    std::size_t elementwise_per_step(std::size_t, std::size_t) const { return 0; }
};

class spike_counter final : public population {
public:
    spike_counter(std::size_t size, std::size_t streams) : population(size, streams, {size}), sum_(size * streams, 0.0f) {}
    bool spiking() const noexcept override { return false; }
    void reset() override {
        std::fill(sum_.begin(), sum_.end(), 0.0f);
        clear_inputs();
    }
    void update_range(std::size_t stream, std::size_t begin, std::size_t end, std::uint64_t, std::vector<index_t>&,
                      float* values) override {
        float* x = input(0, stream);
        float* sum = sum_.data() + stream * size();
        for (std::size_t i = begin; i < end; ++i) {
            sum[i] += x[i];
            values[i] = sum[i];
            x[i] = 0.0f;
        }
    }
    void save_state(state_store& out, const std::string& prefix) const override {
        population::save_state(out, prefix);
        out.put<float>(prefix + "sum", std::span<const float>(sum_), {streams(), size()});
    }
    void load_state(const state_store& in, const std::string& prefix) override {
        population::load_state(in, prefix);
        const auto& s = in.get<float>(prefix + "sum", {streams(), size()});
        std::copy(s.begin(), s.end(), sum_.begin());
    }

private:
    std::vector<float> sum_;  // [stream][value]
};

inline std::unique_ptr<population> make_population(const spike_count_params&, const population_args& a) {
    return std::make_unique<spike_counter>(a.size, a.streams);
}

}  // namespace lmusim
