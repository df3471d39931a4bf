#pragma once
// Real-valued frames supplied by the caller at run time (e.g. audio features), one per step: the
// simulation writes frame t of each stream into the input buffer before the update of step t
// (simulation::push_frames); the update copies it to the output and clears the buffer.
// Counted: nothing.
#include "lmusim/neurons/kind.hpp"
#include "lmusim/neurons/population.hpp"

namespace lmusim {

struct input_params {
    static constexpr std::string_view name = "input";
    static constexpr bool spiking = false;
    static constexpr bool frame_input = true;

    std::size_t input_ports() const { return 0; }
    std::size_t port_size(std::size_t, std::size_t size) const { return size; }
    void validate(const node_context&) const {}
    template <class V> void fields(V&) {}
    std::size_t parameters(std::size_t) const { return 0; }
    std::size_t elementwise_per_step(std::size_t, std::size_t) const { return 0; }
};

class input_frames final : public population {
public:
    input_frames(std::size_t size, std::size_t streams) : population(size, streams, {size}) {}
    bool spiking() const noexcept override { return false; }
    void reset() override { clear_inputs(); }
    void update_range(std::size_t stream, std::size_t begin, std::size_t end, std::uint64_t step,
                      std::vector<index_t>& spikes, float* values) override;
};

std::unique_ptr<population> make_population(const input_params& p, const population_args& a);

}  // namespace lmusim
