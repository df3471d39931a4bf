#include "kinds_common.hpp"

#include <string>
#include <string_view>

#include <Eigen/Core>

#include "lmusim/core/check.hpp"
#include "lmusim/core/strings.hpp"
#include "lmusim/core/types.hpp"

namespace lmusim::kinds_common {

void add_column(float* __restrict in, const float* __restrict col, std::size_t b, std::size_t e) noexcept {
    for (std::size_t t = b; t < e; ++t) in[t] += col[t];
}

void add_rows_times(const float* w, const float* x, std::size_t ns, std::size_t b, std::size_t e, float* in) {
    using row_major = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    const auto rows = static_cast<Eigen::Index>(e - b), cols = static_cast<Eigen::Index>(ns);
    Eigen::Map<const row_major> wm(w + b * ns, rows, cols);
    Eigen::Map<const Eigen::VectorXf> xv(x, cols);
    Eigen::Map<Eigen::VectorXf> out(in + b, rows);
    out.noalias() += wm * xv;
}

weight_channels rows_of(std::vector<float>& w, std::size_t per_row) {
    weight_channels out;
    if (per_row == 0 || w.empty()) return out;
    out.weights = w;
    out.channels = w.size() / per_row;
    out.channel.resize(w.size());
    for (std::size_t i = 0; i < w.size(); ++i) out.channel[i] = static_cast<std::uint32_t>(i / per_row);
    return out;
}

std::uint64_t product(std::initializer_list<std::uint64_t> factors) noexcept {
    std::uint64_t p = 1;
    for (std::uint64_t f : factors)
        if (__builtin_mul_overflow(p, f, &p)) return UINT64_MAX;
    return p;
}

void check_geometry(const projection& p, const projection_context& c, const char* kind,
                    std::initializer_list<const char*> names) {
    if (p.geometry.size() != names.size()) {
        std::string list;
        for (const char* n : names) list += cat(list.empty() ? "" : ", ", n);
        check::fail(cat(c.label, ": ", kind, " geometry has ", p.geometry.size(), " values, expected ", names.size(), " [",
                        list, "]"));
    }
    std::size_t i = 0;
    for (const char* n : names) {
        const std::uint64_t v = p.geometry[i++];
        if (v > max_population_size)
            check::fail(cat(c.label, ": ", kind, " geometry ", n, " = ", v, ", expected <= ", max_population_size));
        if (v == 0 && std::string_view(n).substr(0, 4) != "pad_")
            check::fail(cat(c.label, ": ", kind, " geometry ", n, " = 0, expected >= 1"));
    }
}

}  // namespace lmusim::kinds_common
