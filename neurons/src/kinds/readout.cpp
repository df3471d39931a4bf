#include "lmusim/neurons/kinds/readout.hpp"

#include <algorithm>

#include <Eigen/Core>

#include "lmusim/core/check.hpp"
#include "lmusim/core/strings.hpp"

namespace lmusim {

using row_major = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

void readout_params::validate(const node_context& c) const {
    if (input_size == 0) check::fail(cat(c.label, ": input_size 0, expected >= 1"));
    if (weight.size() != c.size * input_size)
        check::fail(cat(c.label, ": weight has ", weight.size(), " values, expected ", c.size, " x ", input_size));
    if (bias.size() != c.size) check::fail(cat(c.label, ": bias has ", bias.size(), " values, expected ", c.size));
    check::finite(c.label, "weight", weight);
    check::finite(c.label, "bias", bias);
}

weight_channels readout_params::synaptic_weights(std::size_t size) {
    weight_channels out;
    if (size == 0 || weight.size() != size * input_size) return out;  // validate() reports it
    out.weights = weight;
    out.channels = size;
    out.channel.resize(weight.size());
    for (std::size_t i = 0; i < weight.size(); ++i) out.channel[i] = static_cast<std::uint32_t>(i / input_size);
    return out;
}

std::unique_ptr<population> make_population(const readout_params& p, const population_args& a) {
    return std::make_unique<readout>(p, a.size, a.streams);
}

readout::readout(const readout_params& p, std::size_t size, std::size_t streams)
    : population(size, streams, {p.input_size}), p_(p), sum_(p.input_size * streams, 0.0), mean_(p.input_size * streams),
      nonzero_(p.input_size, 0) {
    for (std::size_t t = 0; t < size; ++t)
        for (std::size_t i = 0; i < p.input_size; ++i) nonzero_[i] += p.weight[t * p.input_size + i] != 0.0f;
}

void readout::reset() {
    std::fill(sum_.begin(), sum_.end(), 0.0);
    clear_inputs();
    clear_own_ops();
}

void readout::update_range(std::size_t stream, std::size_t, std::size_t, std::uint64_t frame,
                           std::vector<index_t>&, float* values) {
    const std::size_t n = p_.input_size;
    float* x = input(0, stream);
    double* sum = sum_.data() + stream * n;
    for (std::size_t i = 0; i < n; ++i) {
        if (x[i] != 0.0f) ++own_[stream].sops;
        sum[i] += x[i];
    }
    // y = W (sum / (t+1)) + b: the running mean is rounded to float32 as PyTorch's cumsum / n is.
    const float count = static_cast<float>(frame + 1);
    float* mean = mean_.data() + stream * n;
    for (std::size_t i = 0; i < n; ++i) mean[i] = static_cast<float>(sum[i]) / count;
    Eigen::Map<const row_major> W(p_.weight.data(), static_cast<Eigen::Index>(size()), static_cast<Eigen::Index>(n));
    Eigen::Map<const Eigen::VectorXf> mv(mean, static_cast<Eigen::Index>(n));
    Eigen::Map<const Eigen::VectorXf> b(p_.bias.data(), static_cast<Eigen::Index>(size()));
    Eigen::Map<Eigen::VectorXf> y(values, static_cast<Eigen::Index>(size()));
    y = W * mv + b;
    own_[stream].macs += size() * n;
    own_[stream].dense += size() * n;
    // NeuroBench's effective operations of the linear layer on the mean (binary input: ACs).
    std::uint64_t effective = 0;
    bool binary = true;
    for (std::size_t i = 0; i < n; ++i) {
        if (mean[i] == 0.0f) continue;
        effective += nonzero_[i];
        binary = binary && (mean[i] == 1.0f || mean[i] == -1.0f);
    }
    (binary ? own_[stream].effective_acs : own_[stream].effective_macs) += effective;
    std::fill(x, x + n, 0.0f);
}

void readout::save_state(state_store& out, const std::string& prefix) const {
    population::save_state(out, prefix);
    out.put<double>(prefix + "sum", std::span<const double>(sum_), {streams(), p_.input_size});
}

void readout::load_state(const state_store& in, const std::string& prefix) {
    population::load_state(in, prefix);
    const auto& sum = in.get<double>(prefix + "sum", {streams(), p_.input_size});
    std::copy(sum.begin(), sum.end(), sum_.begin());
}

}  // namespace lmusim
