#include "lmusim/neurons/population.hpp"

#include <algorithm>
#include <cstring>

#include "lmusim/core/error.hpp"
#include "lmusim/core/strings.hpp"

namespace lmusim {

population::population(std::size_t size, std::size_t streams, std::vector<std::size_t> port_sizes)
    : own_(streams), size_(size), streams_(streams), port_sizes_(std::move(port_sizes)) {
    if (streams == 0) throw error("a population needs at least one stream");
    std::size_t total = 0;
    for (std::size_t p : port_sizes_) total += p * streams;
    input_.assign(total, 0.0f);
    std::size_t offset = 0;
    for (std::size_t p : port_sizes_) {
        port_base_.push_back(input_.data() + offset);
        offset += p * streams;
    }
    bound_.assign(port_sizes_.size(), 0);
    membrane_ = std::make_unique<std::atomic<std::uint64_t>[]>(streams);
}

void population::save_state(state_store& out, const std::string& prefix) const {
    for (std::size_t p = 0; p < port_sizes_.size(); ++p)
        if (!bound_[p])
            out.put<float>(cat(prefix, "input", p), std::span<const float>(port_base_[p], port_sizes_[p] * streams_),
                           {streams_, port_sizes_[p]});
    out.put_ops(prefix + "own_ops", own_);
    std::vector<std::uint64_t> membrane(streams_);
    for (std::size_t s = 0; s < streams_; ++s) membrane[s] = membrane_[s].load(std::memory_order_relaxed);
    out.put<std::uint64_t>(prefix + "membrane_updates", std::move(membrane), {streams_});
}

void population::load_state(const state_store& in, const std::string& prefix) {
    for (std::size_t p = 0; p < port_sizes_.size(); ++p)
        if (!bound_[p]) {
            const auto& v = in.get<float>(cat(prefix, "input", p), {streams_, port_sizes_[p]});
            std::copy(v.begin(), v.end(), port_base_[p]);
        }
    own_ = in.get_ops(prefix + "own_ops", streams_);
    const bool has_membrane = in.contains(prefix + "membrane_updates");  // absent in older checkpoints
    for (std::size_t s = 0; s < streams_; ++s)
        membrane_[s].store(has_membrane ? in.get<std::uint64_t>(prefix + "membrane_updates", {streams_})[s] : 0,
                           std::memory_order_relaxed);
}

void population::clear_inputs() { std::fill(input_.begin(), input_.end(), 0.0f); }

void population::clear_own_ops() {
    std::fill(own_.begin(), own_.end(), op_counts{});
    for (std::size_t s = 0; s < streams_; ++s) membrane_[s].store(0, std::memory_order_relaxed);
}


}  // namespace lmusim
