#include "lmusim/neurons/kinds/lmu_memory.hpp"

#include <algorithm>

#include <Eigen/Core>

#include "lmusim/core/check.hpp"
#include "lmusim/core/error.hpp"
#include "lmusim/core/strings.hpp"

namespace lmusim {

using row_major = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

void lmu_memory_params::validate(const node_context& c) const {
    const std::size_t m = c.size;
    if (input_size == 0) check::fail(cat(c.label, ": input_size 0, expected >= 1"));
    if (a.size() != m * m) check::fail(cat(c.label, ": A has ", a.size(), " values, expected ", m, " x ", m));
    if (b.size() != m * input_size) check::fail(cat(c.label, ": B has ", b.size(), " values, expected ", m, " x ", input_size));
    if (!h.empty() && (input_size != 1 || h.size() % m != 0))
        check::fail(cat(c.label, ": H has ", h.size(), " values, expected ", m, " x L columns (input_size 1)"));
    if (kind == mode::impulse && h.empty() && input_size != 1) check::fail(cat(c.label, ": impulse mode needs input_size 1"));
    check::finite(c.label, "A", a);
    check::finite(c.label, "B", b);
    check::finite(c.label, "H", h);
}

lmu_memory_params::mode memory_mode_from_string(std::string_view name) {
    if (name == "impulse") return lmu_memory_params::mode::impulse;
    if (name == "recurrence") return lmu_memory_params::mode::recurrence;
    throw error(cat("memory mode '", name, "', expected impulse or recurrence"));
}

std::unique_ptr<population> make_population(const lmu_memory_params& p, const population_args& a) {
    return std::make_unique<lmu_memory>(p, a.size, a.streams);
}

lmu_memory::lmu_memory(const lmu_memory_params& p, std::size_t size, std::size_t streams)
    : population(size, streams, {p.input_size}), p_(p), h_cols_(p.h_columns()), m_(size * streams, 0.0f),
      events_(streams), acc_(size * streams, 0.0), next_(size * streams, 0.0f) {}

void lmu_memory::reset() {
    std::fill(m_.begin(), m_.end(), 0.0f);
    for (auto& e : events_) e.clear();
    clear_inputs();
    clear_own_ops();
}

void lmu_memory::update_range(std::size_t stream, std::size_t, std::size_t, std::uint64_t frame,
                              std::vector<index_t>&, float* values) {
    const std::size_t M = size(), D = p_.input_size;
    float* u = input(0, stream);
    float* m = m_.data() + stream * M;
    const auto Mi = static_cast<Eigen::Index>(M);
    if (p_.kind == lmu_memory_params::mode::impulse && frame < h_cols_) {
        // m[t] = sum over nonzero inputs j <= t of H[:, t - j] u[j], in double, rounded once.
        if (u[0] != 0.0f) events_[stream].emplace_back(frame, u[0]);
        double* acc = acc_.data() + stream * M;
        std::fill(acc, acc + M, 0.0);
        const float* h = p_.h.data();
        for (const auto& [j, uj] : events_[stream]) {
            if (j > frame) break;  // only after restoring a checkpoint that does not fit the step
            const std::size_t col = frame - j;
            for (std::size_t r = 0; r < M; ++r) acc[r] += static_cast<double>(h[r * h_cols_ + col]) * uj;
        }
        for (std::size_t r = 0; r < M; ++r) m[r] = static_cast<float>(acc[r]);
        own_[stream].sops += events_[stream].size() * M;
        own_[stream].dense += M * M + M * D;
    } else {
        // m[t] = A m[t-1] + B u[t] (float32, Eigen).
        Eigen::Map<const row_major> A(p_.a.data(), Mi, Mi);
        Eigen::Map<const row_major> B(p_.b.data(), Mi, static_cast<Eigen::Index>(D));
        Eigen::Map<Eigen::VectorXf> mv(m, Mi);
        Eigen::Map<const Eigen::VectorXf> uv(u, static_cast<Eigen::Index>(D));
        Eigen::Map<Eigen::VectorXf> next(next_.data() + stream * M, Mi);
        next.noalias() = A * mv;
        own_[stream].macs += M * M;
        own_[stream].dense += M * M + M * D;
        for (std::size_t d = 0; d < D; ++d)
            if (u[d] != 0.0f) {
                next += B.col(static_cast<Eigen::Index>(d)) * u[d];
                own_[stream].sops += M;
            }
        mv = next;
    }
    std::copy(m, m + M, values);
    std::fill(u, u + D, 0.0f);
}

// State: m [streams, M]; in impulse mode also the nonzero inputs so far, per stream, as CSR
// (events_offsets [streams + 1], events_frame and events_value [total]).
void lmu_memory::save_state(state_store& out, const std::string& prefix) const {
    population::save_state(out, prefix);
    const std::size_t S = streams();
    out.put<float>(prefix + "m", std::span<const float>(m_), {S, size()});
    std::vector<std::uint64_t> offsets{0}, frames;
    std::vector<float> values;
    for (const auto& ev : events_) {
        for (const auto& [f, v] : ev) {
            frames.push_back(f);
            values.push_back(v);
        }
        offsets.push_back(frames.size());
    }
    const std::size_t total = frames.size();
    out.put<std::uint64_t>(prefix + "events_offsets", std::move(offsets), {S + 1});
    out.put<std::uint64_t>(prefix + "events_frame", std::move(frames), {total});
    out.put<float>(prefix + "events_value", std::move(values), {total});
}

void lmu_memory::load_state(const state_store& in, const std::string& prefix) {
    population::load_state(in, prefix);
    const std::size_t S = streams();
    const auto& m = in.get<float>(prefix + "m", {S, size()});
    const auto& offsets = in.get<std::uint64_t>(prefix + "events_offsets", {S + 1});
    const std::uint64_t total = offsets[S];
    const auto& frames = in.get<std::uint64_t>(prefix + "events_frame", {total});
    const auto& values = in.get<float>(prefix + "events_value", {total});
    if (offsets[0] != 0)
        throw state_error(cat("dataset '", prefix, "events_offsets'[0] = ", offsets[0], ", expected 0"));
    std::vector<std::vector<std::pair<std::uint64_t, float>>> events(S);
    for (std::size_t s = 0; s < S; ++s) {
        if (offsets[s + 1] < offsets[s])
            throw state_error(cat("dataset '", prefix, "events_offsets' decreases at ", s + 1));
        for (std::uint64_t k = offsets[s]; k < offsets[s + 1]; ++k) {
            // An input at frame j is used while the frame is below the impulse response's length.
            if (frames[k] >= h_cols_ || (k > offsets[s] && frames[k] <= frames[k - 1]))
                throw state_error(cat("dataset '", prefix, "events_frame'[", k, "] = ", frames[k],
                                      ", expected increasing frames below ", h_cols_));
            events[s].emplace_back(frames[k], values[k]);
        }
    }
    std::copy(m.begin(), m.end(), m_.begin());
    events_ = std::move(events);
}

}  // namespace lmusim
