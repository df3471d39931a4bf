#include "lmusim/neurons/population.hpp"

#include <algorithm>
#include <cmath>

#include "lmusim/graph/error.hpp"
#include "lmusim/graph/strings.hpp"
#include "lmusim/neurons/lif.hpp"
#include "lmusim/neurons/real_nodes.hpp"
#include "lmusim/neurons/sources.hpp"

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
}

void population::save_state(state_store& out, const std::string& prefix) const {
    for (std::size_t p = 0; p < port_sizes_.size(); ++p)
        if (!bound_[p])
            out.put<float>(cat(prefix, "input", p), std::span<const float>(port_base_[p], port_sizes_[p] * streams_),
                           {streams_, port_sizes_[p]});
    std::vector<std::uint64_t> ops;
    ops.reserve(streams_ * 5);
    for (const op_counts& c : own_) ops.insert(ops.end(), {c.events, c.sops, c.macs, c.dense, c.elementwise});
    out.put<std::uint64_t>(prefix + "own_ops", std::move(ops), {streams_, 5});
}

void population::load_state(const state_store& in, const std::string& prefix) {
    for (std::size_t p = 0; p < port_sizes_.size(); ++p)
        if (!bound_[p]) {
            const auto& v = in.get<float>(cat(prefix, "input", p), {streams_, port_sizes_[p]});
            std::copy(v.begin(), v.end(), port_base_[p]);
        }
    const auto& ops = in.get<std::uint64_t>(prefix + "own_ops", {streams_, 5});
    for (std::size_t s = 0; s < streams_; ++s) {
        const std::uint64_t* o = ops.data() + s * 5;
        own_[s] = op_counts{o[0], o[1], o[2], o[3], o[4]};
    }
}

void population::clear_inputs() { std::fill(input_.begin(), input_.end(), 0.0f); }

void population::clear_own_ops() { std::fill(own_.begin(), own_.end(), op_counts{}); }

void apply_affine(const input_affine& a, float* x, std::size_t begin, std::size_t end) noexcept {
    switch (a.kind) {
        case input_affine::form::none: break;
        case input_affine::form::fused:
            for (std::size_t i = begin; i < end; ++i) x[i] = std::fma(x[i], a.scale[i], a.shift[i]);
            break;
        case input_affine::form::unfused:
            for (std::size_t i = begin; i < end; ++i) x[i] = ((x[i] - a.mean[i]) * a.invstd[i]) * a.gamma[i] + a.beta[i];
            break;
    }
}

std::unique_ptr<population> make_population(const node& n, double dt, std::size_t streams) {
    switch (n.kind()) {
        case node_kind::discrete_lif:
            return std::make_unique<discrete_lif>(std::get<discrete_lif_params>(n.params), n.size, streams);
        case node_kind::continuous_lif:
            return std::make_unique<continuous_lif>(std::get<continuous_lif_params>(n.params), dt, n.size, streams);
        case node_kind::spike_source:
            return std::make_unique<spike_source>(std::get<spike_source_params>(n.params), dt, n.size, streams);
        case node_kind::input:
            return std::make_unique<input_frames>(n.size, streams);
        case node_kind::analog:
            return std::make_unique<analog>(std::get<analog_params>(n.params), n.size, streams);
        case node_kind::lmu_memory:
            return std::make_unique<lmu_memory>(std::get<lmu_memory_params>(n.params), n.size, streams);
        case node_kind::readout:
            return std::make_unique<readout>(std::get<readout_params>(n.params), n.size, streams);
    }
    throw internal_error("make_population: unhandled node kind");
}

}  // namespace lmusim
