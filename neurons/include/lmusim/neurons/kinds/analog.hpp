#pragma once
// A real-valued accumulator (the residual stream): output = affine(sum of this step's inputs).
// Counted: the adds of its inputs (n per input beyond the first) and the affine's ops.
#include "lmusim/neurons/kind.hpp"
#include "lmusim/neurons/population.hpp"

namespace lmusim {

struct analog_params {
    static constexpr std::string_view name = "analog";
    static constexpr bool spiking = false;
    static constexpr bool frame_input = false;

    input_affine affine;

    std::size_t input_ports() const { return 1; }
    std::size_t port_size(std::size_t, std::size_t size) const { return size; }
    void validate(const node_context& c) const;
    template <class V> void fields(V& v) { v.affine("", affine); }
    std::size_t parameters(std::size_t size) const { return affine.parameters(size); }
    std::size_t elementwise_per_step(std::size_t size, std::size_t inputs) const {
        return size * (inputs > 1 ? inputs - 1 : 0) + affine.ops(size);
    }
};

class analog final : public population {
public:
    analog(const analog_params& p, std::size_t size, std::size_t streams) : population(size, streams, {size}), p_(p) {}
    bool spiking() const noexcept override { return false; }
    void reset() override { clear_inputs(); }
    void update_range(std::size_t stream, std::size_t begin, std::size_t end, std::uint64_t frame,
                      std::vector<index_t>& spikes, float* values) override;

private:
    analog_params p_;
};

std::unique_ptr<population> make_population(const analog_params& p, const population_args& a);

}  // namespace lmusim
