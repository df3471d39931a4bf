#pragma once
// A linear state-space memory (the LMU): m[t] = A m[t-1] + B u[t], m[-1] = 0, real-valued.
// impulse mode: for t < L (H's columns), m[t] = sum_{j<=t} H[:, t-j] u[j] accumulated in double
// (bit-exact with an FFT convolution of the same H); the recurrence afterwards.
// Counted (own ops): impulse mode, M SOPs per nonzero input so far; recurrence, M x M MACs plus M
// SOPs per nonzero input; either way M x M + M x D dense-equivalent MACs per frame.
#include "lmusim/neurons/kind.hpp"
#include "lmusim/neurons/population.hpp"

namespace lmusim {

struct lmu_memory_params {
    static constexpr std::string_view name = "lmu_memory";
    static constexpr bool spiking = false;
    static constexpr bool frame_input = false;

    enum class mode : std::uint8_t { impulse, recurrence };
    mode kind = mode::impulse;
    std::size_t input_size = 1;
    std::vector<float> a;  // [M x M] row-major
    std::vector<float> b;  // [M x input_size] row-major
    std::vector<float> h;  // [M x L] row-major, H[:, k] = A^k B (input_size 1 only); may be empty
    std::size_t h_columns() const noexcept { return h.empty() ? 0 : h.size() / (b.size() / input_size); }

    std::size_t input_ports() const { return 1; }
    std::size_t port_size(std::size_t, std::size_t) const { return input_size; }
    void validate(const node_context& c) const;
    template <class V> void fields(V& v) {
        v.count("input_size", input_size);
        v.choice("mode", kind, choices<mode>{{"impulse", mode::impulse}, {"recurrence", mode::recurrence}});
        v.array("A", a, {v.size(), v.size()});
        v.array("B", b, {v.size(), input_size});
        v.array("H", h, {v.size(), any_extent}, presence::optional);
    }
    std::size_t parameters(std::size_t) const { return 0; }  // A, B, H are buffers, not trained
    std::size_t elementwise_per_step(std::size_t, std::size_t) const { return 0; }
};

// Every LMU memory of a network in the given mode (the CLI's and Python's --memory-mode).
template <class Network> void set_memory_mode(Network& net, lmu_memory_params::mode m) {
    for (auto& nd : net.nodes)
        if (auto* p = std::get_if<lmu_memory_params>(&nd.params)) p->kind = m;
}
// "impulse" or "recurrence"; anything else is an lmusim::error naming the value.
lmu_memory_params::mode memory_mode_from_string(std::string_view name);

class lmu_memory final : public population {
public:
    lmu_memory(const lmu_memory_params& p, std::size_t size, std::size_t streams);
    bool spiking() const noexcept override { return false; }
    bool splittable() const noexcept override { return false; }
    void reset() override;
    void update_range(std::size_t stream, std::size_t begin, std::size_t end, std::uint64_t frame,
                      std::vector<index_t>& spikes, float* values) override;
    void save_state(state_store& out, const std::string& prefix) const override;
    void load_state(const state_store& in, const std::string& prefix) override;

private:
    lmu_memory_params p_;
    std::size_t h_cols_;
    std::vector<float> m_;  // [stream][M]
    // impulse mode: the nonzero inputs so far, per stream: (frame, value)
    std::vector<std::vector<std::pair<std::uint64_t, float>>> events_;
    std::vector<double> acc_;  // [stream][M] scratch
    std::vector<float> next_;  // [stream][M] scratch
};

std::unique_ptr<population> make_population(const lmu_memory_params& p, const population_args& a);

}  // namespace lmusim
