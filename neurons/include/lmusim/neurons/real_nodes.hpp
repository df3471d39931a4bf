#pragma once
// Real-valued nodes: the analog accumulator, the LMU memory and the readout.
#include "lmusim/neurons/population.hpp"

namespace lmusim {

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
};

}  // namespace lmusim
